/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal to lib/fault's pagers: shared log type and small helpers.
 * Not installed.
 */
#ifndef USVA_PAGER_INTERNAL_H
#define USVA_PAGER_INTERNAL_H

#include <stdint.h>

#include "usva_log.h"

/** Log type usva.pager (registered in usva_pager_mirror.c). */
extern int usva_logtype_pager;

/* Per-slot counters are written only by their slot's fault lcore (or under
 * the pager's slow-path lock); readers on other threads take relaxed
 * snapshots, so a counter is bumped with a relaxed load and store (no
 * locked instruction) and never tears. */
#define PAGER_STAT_INC(p)	PAGER_STAT_ADD(p, 1)
#define PAGER_STAT_ADD(p, v)						\
	__atomic_store_n(&(p), __atomic_load_n(&(p), __ATOMIC_RELAXED) + (v), \
			 __ATOMIC_RELAXED)
#define PAGER_STAT_READ(p)	__atomic_load_n(&(p), __ATOMIC_RELAXED)

#endif /* USVA_PAGER_INTERNAL_H */
