/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Page requests and page responses (fast-path tier).
 *
 * A backend queues the page requests (PCIe PRI) its devices raise; the
 * fault service polls them in bursts and answers in bursts. These calls are
 * static inline over a per-instance function table, as rte_dmadev's are:
 * no argument checks unless built with debug_checks.
 *
 * Semantics (PCIe PRI, as the IOMMU drivers model it): requests with the
 * same (device, PASID, group index) are one page request group; the group
 * is answered once, after its request with USVA_PREQ_F_LAST, by one
 * response echoing the group's private data. SUCCESS makes the device retry
 * its translation; INVALID ends the access with an error; FAILURE also
 * makes the device stop issuing page requests until software re-enables
 * PRI. A response that matches no outstanding group is dropped and counted.
 *
 * Stall model (SMMUv3): a stalled transaction arrives on the same queue as
 * a request with USVA_PREQ_F_STALL whose grpid is its stall tag; it is
 * answered like a group of one, the code choosing retry or terminate.
 */
#ifndef USVA_IOMMU_FAULT_H
#define USVA_IOMMU_FAULT_H

#include <errno.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>

#include "usva_build_config.h"
#include "usva_iommu.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name usva_page_req.flags
 * @{ */
#define USVA_PREQ_F_LAST	(1u << 0)	/**< last request of its group */
#define USVA_PREQ_F_PASID	(1u << 1)	/**< carries a PASID */
#define USVA_PREQ_F_PRIV_DATA	(1u << 2)	/**< carries private data */
/**
 * A stalled transaction (SMMUv3 stall model, USVA_DEV_F_STALL), not a PCIe
 * page request: @p grpid holds its stall tag (STAG), it is always LAST
 * (a group of one), and it carries no private data. Its response is a
 * resume (CMD_RESUME): SUCCESS retries the transaction, INVALID and
 * FAILURE terminate it (abort). A response need not echo the flag: the
 * device's model decides (a device stalls or uses PRI, not both).
 */
#define USVA_PREQ_F_STALL	(1u << 3)
/** @} */

/** One page request, as polled. */
struct usva_page_req {
	uint64_t addr;		/**< page-aligned address (stage-1 VA) */
	uint64_t private_data[2]; /**< to echo in the group's response */
	uint64_t ts;		/**< TSC when the IOMMU queued it */
	uint32_t dev_id;	/**< usva_dev_info.id */
	uint32_t pasid;	/**< PASID of the request */
	uint32_t grpid;		/**< page request group index, or the stall
				 *   tag (USVA_PREQ_F_STALL) */
	uint32_t cookie;	/**< backend's tag for the response */
	uint16_t perm;		/**< USVA_ACCESS_* requested */
	uint16_t flags;		/**< USVA_PREQ_F_* */
	uint32_t reserved;	/**< 0 */
};

/** Response codes (PCIe PRG response codes). */
enum usva_page_resp_code {
	USVA_PAGE_RESP_SUCCESS = 0,	/**< retry the translation */
	USVA_PAGE_RESP_INVALID = 1,	/**< end the access with an error */
	USVA_PAGE_RESP_FAILURE = 0xf,	/**< end it and disable PRI */
};

/** One page group response. */
struct usva_page_resp {
	uint32_t dev_id;	/**< from the request */
	uint32_t pasid;	/**< from the request */
	uint32_t grpid;	/**< from the request */
	uint32_t cookie;	/**< from the group's last request */
	uint16_t code;		/**< enum usva_page_resp_code */
	uint16_t flags;		/**< USVA_PREQ_F_PASID / _PRIV_DATA echoed */
	uint32_t reserved;	/**< must be 0 */
	uint64_t private_data[2];	/**< the group's, echoed */
};

/** @cond INTERNAL */
/** Per-instance fast-path table, filled by the backend at open. */
struct usva_iommu_fp_ops {
	void *ctx;
	uint16_t (*prq_poll)(void *ctx, struct usva_page_req *reqs,
			     uint16_t n);
	uint16_t (*page_respond)(void *ctx, const struct usva_page_resp *resp,
				 uint16_t n);
	int (*prq_arm)(void *ctx);	/* NULL: no page-request interrupt */
} __rte_cache_aligned;

extern struct usva_iommu_fp_ops usva_iommu_fp[USVA_IOMMU_MAX];
/** @endcond */

/**
 * Take up to @p n page requests from instance @p id's queue.
 * Thread safety: one poller per instance at a time (the fault service
 * assigns each queue to one lcore).
 * @return the number taken.
 */
static inline uint16_t
usva_iommu_prq_poll(uint16_t id, struct usva_page_req *reqs, uint16_t n)
{
	struct usva_iommu_fp_ops *fp = &usva_iommu_fp[id];

#if USVA_DEBUG_CHECKS
	if (id >= USVA_IOMMU_MAX || fp->prq_poll == NULL || reqs == NULL)
		return 0;
#endif
	return fp->prq_poll(fp->ctx, reqs, n);
}

/**
 * Send up to @p n page responses. Each is validated against the
 * outstanding groups; unmatched ones are dropped and counted, and still
 * count as consumed. Thread-safe.
 * @return the number consumed (n unless the backend's response path is
 *         full; resend the rest).
 */
static inline uint16_t
usva_iommu_page_respond(uint16_t id, const struct usva_page_resp *resp,
			uint16_t n)
{
	struct usva_iommu_fp_ops *fp = &usva_iommu_fp[id];

#if USVA_DEBUG_CHECKS
	if (id >= USVA_IOMMU_MAX || fp->page_respond == NULL || resp == NULL)
		return 0;
#endif
	return fp->page_respond(fp->ctx, resp, n);
}

/**
 * Arm instance @p id's page-request interrupt before sleeping on its
 * usva_iommu_prq_fd(): the next request queued writes the eventfd once.
 * Call it from the queue's one poller, then check the result: requests
 * that arrived before arming are not signalled.
 * @return 0 armed (sleep); 1 requests are queued (poll, do not sleep);
 *         -ENOTSUP the backend has no page-request interrupt.
 */
static inline int
usva_iommu_prq_arm(uint16_t id)
{
	struct usva_iommu_fp_ops *fp = &usva_iommu_fp[id];

	if (fp->prq_arm == NULL)
		return -ENOTSUP;
	return fp->prq_arm(fp->ctx);
}

#ifdef __cplusplus
}
#endif

#endif /* USVA_IOMMU_FAULT_H */
