/* SPDX-License-Identifier: BSD-3-Clause */
#include <rte_cycles.h>

#include "usva_log.h"

RTE_LOG_REGISTER(usva_logtype_core, usva.core, INFO);
RTE_LOG_REGISTER(usva_logtype_pool, usva.pool, INFO);
RTE_LOG_REGISTER(usva_logtype_pasid, usva.pasid, INFO);
RTE_LOG_REGISTER(usva_logtype_as, usva.as, INFO);

#define RATELIMIT_BURST 10

bool
usva_ratelimit_ok(struct usva_ratelimit *rl, uint32_t *suppressed)
{
	uint64_t now = rte_get_tsc_cycles();
	uint64_t hz = rte_get_tsc_hz();

	/*
	 * Relaxed atomics on every field: call sites are shared by all
	 * lcores, and the counts are approximate by design (racing callers
	 * may print an extra line or miscount the suppressed ones), but no
	 * access may be a data race.
	 */
	*suppressed = 0;
	if (hz == 0 ||
	    now - __atomic_load_n(&rl->window_start, __ATOMIC_RELAXED) >= hz) {
		*suppressed = __atomic_exchange_n(&rl->suppressed, 0,
						  __ATOMIC_RELAXED);
		__atomic_store_n(&rl->window_start, now, __ATOMIC_RELAXED);
		__atomic_store_n(&rl->printed, 0, __ATOMIC_RELAXED);
	}
	if (__atomic_load_n(&rl->printed, __ATOMIC_RELAXED) < RATELIMIT_BURST) {
		__atomic_fetch_add(&rl->printed, 1, __ATOMIC_RELAXED);
		return true;
	}
	__atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return false;
}
