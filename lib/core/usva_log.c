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

	*suppressed = 0;
	if (hz == 0 || now - rl->window_start >= hz) {
		*suppressed = rl->suppressed;
		rl->window_start = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < RATELIMIT_BURST) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
