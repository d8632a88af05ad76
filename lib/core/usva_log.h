/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * usva log types and logging macros.
 *
 * Every library and driver logs under its own DPDK log type (usva.core,
 * usva.pasid, usva.pool, usva.iommu.emu, ...), so `--log-level=usva.*:debug`
 * on the EAL command line controls all of them. Anything a device or a guest
 * can trigger is logged through USVA_LOG_RATELIMITED.
 */
#ifndef USVA_LOG_H
#define USVA_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <rte_log.h>

#ifdef __cplusplus
extern "C" {
#endif

extern int usva_logtype_core;	/**< log type usva.core */
extern int usva_logtype_pool;	/**< log type usva.pool */
extern int usva_logtype_pasid;	/**< log type usva.pasid */
extern int usva_logtype_as;	/**< log type usva.as */
extern int usva_logtype_iommu;	/**< log type usva.iommu */

/**
 * Log one line. @p type is the suffix of a usva_logtype_ variable
 * (core, pasid, ...); no trailing newline in @p fmt.
 */
#define USVA_LOG(level, type, fmt, ...)					\
	rte_log(RTE_LOG_##level, usva_logtype_##type,			\
		"usva." #type ": " fmt "\n", ##__VA_ARGS__)

/** Token bucket for rate-limited logging: a burst, then one per interval. */
struct usva_ratelimit {
	uint64_t window_start;	/**< TSC at the start of the window */
	uint32_t printed;	/**< lines printed in this window */
	uint32_t suppressed;	/**< lines dropped in this window */
};

/**
 * Decide whether a rate-limited line may print now: at most 10 lines per
 * second per call site. Reports the number suppressed when a window ends.
 * Racy by design: concurrent callers may print one extra line.
 */
bool usva_ratelimit_ok(struct usva_ratelimit *rl, uint32_t *suppressed);

/** Log a line that a device or guest can trigger, at most 10/s per site. */
#define USVA_LOG_RATELIMITED(level, type, fmt, ...)			\
	do {								\
		static struct usva_ratelimit usva_rl__;			\
		uint32_t usva_sup__;					\
		if (usva_ratelimit_ok(&usva_rl__, &usva_sup__)) {	\
			if (usva_sup__)					\
				USVA_LOG(level, type,			\
					 "%u similar lines suppressed",	\
					 usva_sup__);			\
			USVA_LOG(level, type, fmt, ##__VA_ARGS__);	\
		}							\
	} while (0)

#ifdef __cplusplus
}
#endif

#endif /* USVA_LOG_H */
