/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * IOMMU cache invalidation entries and their submission.
 *
 * An entry names what to forget: which cache (IOTLB, device TLB, PASID
 * cache), at which granule (a domain, a PASID, or an address range of a
 * PASID), and whether only leaf entries changed. Backends execute arrays of
 * entries in order and stop at the first that fails: entries before it are
 * done, it has an error, the rest are not attempted.
 */
#ifndef USVA_INVAL_H
#define USVA_INVAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_iommu;
struct usva_iommu_dev;
struct usva_domain;

/** @name Caches (usva_inval_entry.caches)
 * @{ */
#define USVA_INVAL_IOTLB	(1u << 0)	/**< IOTLB and paging-structure caches */
#define USVA_INVAL_DEVTLB	(1u << 1)	/**< ATS device TLB */
#define USVA_INVAL_PASID_CACHE	(1u << 2)	/**< PASID-table entry cache */
/** @} */

/** Granule of an entry. */
enum usva_inval_granule {
	USVA_INVAL_DOMAIN = 1,	/**< all of @p dom (IOTLB only) */
	USVA_INVAL_PASID,	/**< all of (dev, pasid) */
	USVA_INVAL_ADDR,	/**< [addr, addr + npages * 4 KiB) of (dev, pasid) */
};

/** @name usva_inval_entry.flags
 * @{ */
#define USVA_INVAL_F_LEAF	(1u << 0)	/**< only leaves changed: keep
						 *   paging-structure caches */
/** @} */

/** One invalidation. */
struct usva_inval_entry {
	uint32_t granule;	/**< enum usva_inval_granule */
	uint32_t caches;	/**< USVA_INVAL_* */
	uint32_t flags;		/**< USVA_INVAL_F_* */
	uint32_t pasid;
	struct usva_domain *dom;	/**< granule DOMAIN; may be set for others */
	struct usva_iommu_dev *dev;	/**< granule PASID / ADDR */
	uint64_t addr;		/**< granule ADDR: 4 KiB aligned */
	uint64_t npages;	/**< granule ADDR: >= 1 */
};

/** Per-entry status after submission (dmadev style). */
enum usva_inval_status {
	USVA_INVAL_DONE = 0,		/**< executed */
	USVA_INVAL_NOT_ATTEMPTED = 1,	/**< after a failing entry */
	/* any negative value: -errno of the failing entry */
};

/**
 * Execute @p n entries in order, in as few backend calls as it allows.
 *
 * @param status  If not NULL, @p n slots: USVA_INVAL_DONE,
 *                USVA_INVAL_NOT_ATTEMPTED, or the -errno of the entry that
 *                failed (-EIO for an ITE-like device timeout, -EINVAL for an
 *                ICE-like bad entry, ...).
 * @return the number of entries done (all n on success), or -errno when
 *         the entries are refused before any is executed (-EINVAL, with a
 *         log line naming the entry and the cause). A return below @p n
 *         means entry [return] failed and the rest were not attempted:
 *         resubmitting entries [return, n) after handling the cause is
 *         correct (invalidation is idempotent).
 */
int usva_iommu_invalidate(struct usva_iommu *iommu,
			  const struct usva_inval_entry *e, uint32_t n,
			  int32_t *status);

#ifdef __cplusplus
}
#endif

#endif /* USVA_INVAL_H */
