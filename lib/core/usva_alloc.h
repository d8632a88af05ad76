/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Heap allocation for control structures, and the fail-nth hook.
 *
 * All usva control-path allocations go through usva_malloc() and friends so
 * that (1) tests can make the n-th allocation or fail point of a scenario
 * fail (fail-nth, as the kernel's fault-injection and iommufd selftests do)
 * and (2) the number of live allocations can be read back to prove that
 * every error path unwinds completely. Fast paths never allocate.
 */
#ifndef USVA_ALLOC_H
#define USVA_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Allocate @p size bytes (uninitialised); NULL on failure or injection. */
void *usva_malloc(size_t size);
/** Allocate @p size zeroed bytes; NULL on failure or injection. */
void *usva_zmalloc(size_t size);
/** Allocate @p size zeroed bytes aligned to @p align (power of two). */
void *usva_zmalloc_aligned(size_t size, size_t align);
/** Free what usva_malloc() and friends returned; NULL is a no-op. */
void usva_free(void *p);
/** Live allocations made through this file (for leak checks in tests). */
int64_t usva_alloc_outstanding(void);

/* ---- fail-nth ---------------------------------------------------------- */

/** Non-zero while fail-nth is armed (read on every fail point). */
extern int usva_failnth_armed;

/**
 * Arm fail-nth: the @p nth fail point reached from now on fails (1-based),
 * and only that one. 0 disarms. Resets the hit counter.
 * Thread-safe; intended for single-scenario tests.
 */
void usva_failnth_set(uint32_t nth);
/** Fail points passed since the last usva_failnth_set(). */
uint32_t usva_failnth_hits(void);
/** True once the armed fail point has fired. */
bool usva_failnth_fired(void);

/** Slow part of usva_fail_point(); counts and decides. */
bool usva_failnth_check(const char *site);

/**
 * A fail point: true if this call must fail. Every allocation is one; a
 * library adds others before calls that can fail (backend calls, mmap).
 * Costs one predictable branch when fail-nth is not armed.
 */
static inline bool
usva_fail_point(const char *site)
{
	if (likely(!__atomic_load_n(&usva_failnth_armed, __ATOMIC_RELAXED)))
		return false;
	return usva_failnth_check(site);
}

#ifdef __cplusplus
}
#endif

#endif /* USVA_ALLOC_H */
