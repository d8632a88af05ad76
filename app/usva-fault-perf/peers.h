/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a user would otherwise reach for to page memory on demand, measured
 * on the same machine in the same run as the fault service:
 *
 *  - the kernel's own first-touch fault rate on anonymous memory (a write
 *    to each 4 KiB page of a fresh private mapping);
 *  - userfaultfd: a handler thread resolving missing-page faults of a
 *    registered range with UFFDIO_COPY (a page of data) or UFFDIO_ZEROPAGE,
 *    while another thread touches the range.
 */
#ifndef USVA_FAULT_PERF_PEERS_H
#define USVA_FAULT_PERF_PEERS_H

#include <stdbool.h>
#include <stdint.h>

/** Peer measurement, or why there is none. */
struct peer_result {
	bool ran;		/* false: skipped, see why */
	char why[96];
	uint64_t faults;	/* faults resolved while timed */
	uint64_t ns;		/* timed part */
	uint64_t setup_ns;	/* mapping, registration: not timed */
	uint64_t lat_p50_ns;	/* userfaultfd: fault to wake-up, as the */
	uint64_t lat_p99_ns;	/* touching thread sees it */
	uint64_t lat_max_ns;
};

enum uffd_fill { UFFD_FILL_COPY, UFFD_FILL_ZERO, UFFD_FILL_MIXED };

/* First touch of @p pages fresh anonymous 4 KiB pages. */
int peer_first_touch(uint64_t pages, struct peer_result *r);

/* userfaultfd over @p pages pages, resolved as @p fill says (MIXED:
 * alternate COPY and ZEROPAGE). Skips with a reason where userfaultfd is
 * not available (kernel, seccomp, vm.unprivileged_userfaultfd). */
int peer_userfaultfd(uint64_t pages, enum uffd_fill fill,
		     struct peer_result *r);

#endif /* USVA_FAULT_PERF_PEERS_H */
