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
 *
 * Two ways to submit: usva_iommu_invalidate() runs an array as given; an
 * invalidation batch (usva_inval_batch_*) collects entries, coalesces them
 * and submits them in as few backend calls as the backend allows, with a
 * status per entry as added. Address-space edits queue into batches too
 * (usva_as_unmap_batch()). doc/invalidation.md describes the model.
 *
 * Which cache has which granule (anything else is -EINVAL):
 *
 * | granule | IOTLB | DEVTLB | PASID_CACHE |
 * |---------|-------|--------|-------------|
 * | DOMAIN  | yes   | no     | no          |
 * | PASID   | yes   | yes    | yes         |
 * | ADDR    | yes   | yes    | no          |
 *
 * A device with a whole PASID table attached (SMMUv3 nesting) has no
 * domain: its entries name (device, PASID) with @p dom NULL, for any PASID
 * the table covers. The PASID cache is its CD cache (CMD_CFGI_CD); the
 * IOTLB is tagged by the CD's ASID, so an IOTLB entry by PASID removes the
 * translations of the ASID that PASID's CD holds now (all of the device's
 * table if the CD cannot be read), and USVA_INVAL_F_ASID names an ASID
 * directly. doc/backends.md maps the SMMUv3 commands.
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
/**
 * @p pasid holds an SMMUv3 ASID (the tag of a context descriptor), not a
 * PASID: the entry names the IOTLB translations made through CDs with
 * that ASID in @p dev's PASID table (usva_iommu_attach_pasid_table()),
 * whatever PASID they came through — the guest's CMD_TLBI_NH_ASID
 * (granule PASID) and CMD_TLBI_NH_VA (granule ADDR). IOTLB only, on a
 * device with a PASID table; ASID < 65536 or USVA_INVAL_ASID_ALL.
 */
#define USVA_INVAL_F_ASID	(1u << 1)
/** @} */

/** With USVA_INVAL_F_ASID: every ASID of the device's table
 *  (CMD_TLBI_NH_ALL, or CMD_TLBI_NH_VAA with granule ADDR). */
#define USVA_INVAL_ASID_ALL	UINT32_MAX

/**
 * One invalidation.
 *
 * In a batch (usva_inval_batch_add()) an ADDR entry may name a domain
 * instead of a device: @p dom set, @p dev NULL. It stands for the range in
 * every (device, PASID) the domain is attached at when the batch is
 * submitted, the device TLB only for ATS devices — what an address space
 * queues for its domains, and what iommufd's per-domain invalidation takes.
 */
struct usva_inval_entry {
	uint32_t granule;	/**< enum usva_inval_granule */
	uint32_t caches;	/**< USVA_INVAL_* */
	uint32_t flags;		/**< USVA_INVAL_F_* */
	uint32_t pasid;	/**< PASID (PASID and ADDR granules), or an ASID with USVA_INVAL_F_ASID */
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

/* ---- batches ----------------------------------------------------------- */

/**
 * A batch of invalidations for one IOMMU instance. Not thread-safe: one
 * thread uses a batch at a time (several batches may be used at once).
 * A batch keeps pointers to the domains and devices its entries name:
 * submit or reset it before destroying a domain or closing a device.
 */
struct usva_inval_batch;

/** @name usva_inval_batch_config.flags
 * @{ */
/** Send entries as added: no merging, no duplicate removal, no widening
 *  (a baseline for measurements). */
#define USVA_INVAL_BATCH_F_NO_COALESCE	(1u << 0)
/** @} */

#define USVA_INVAL_BATCH_DEFAULT_CAPACITY 256u	/**< capacity 0 */
#define USVA_INVAL_BATCH_MAX_CAPACITY	(1u << 20)	/**< largest batch capacity, entries */
#define USVA_INVAL_BATCH_DEFAULT_WIDEN	512u	/**< widen_pages 0 (2 MiB) */
/** widen_pages: never widen a range to a PASID-wide flush. */
#define USVA_INVAL_BATCH_NO_WIDEN	UINT64_MAX

/** Batch parameters (size-versioned, usva_struct.h). */
struct usva_inval_batch_config {
	uint32_t size;		/**< sizeof(struct usva_inval_batch_config) */
	uint32_t flags;		/**< USVA_INVAL_BATCH_F_* */
	/** Entries that may be added before usva_inval_batch_reset(), at
	 *  most USVA_INVAL_BATCH_MAX_CAPACITY; 0: the default (256). */
	uint32_t capacity;
	/* end of mandatory fields */
	uint32_t reserved0;	/**< must be 0 */
	/**
	 * A merged address range of more pages than this is sent as a
	 * PASID-wide flush of the same caches (never leaf-only): one entry
	 * the hardware handles at once instead of a long range walk.
	 * 0: the default (512 pages, 2 MiB); USVA_INVAL_BATCH_NO_WIDEN.
	 */
	uint64_t widen_pages;
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create a batch bound to @p iommu.
 * @return 0 and *@p out; -EINVAL (NULL arguments, capacity too large,
 *         reserved field), -EOPNOTSUPP (unknown flags), -E2BIG, -ENOMEM.
 *         Each rejection logs one line. Thread-safe.
 */
int usva_inval_batch_create(struct usva_iommu *iommu,
			    const struct usva_inval_batch_config *cfg,
			    struct usva_inval_batch **out);

/**
 * Destroy a batch. Its entries are dropped, submitted or not.
 * @return 0 (NULL too); -EBUSY if it still holds table pages whose
 *         invalidation has not completed (nothing destroyed): submit until
 *         it succeeds — detaching the PASIDs concerned also completes it,
 *         as a detach flushes everything of a PASID.
 */
int usva_inval_batch_destroy(struct usva_inval_batch *b);

/**
 * Add one entry, checked now: nothing is added and -EINVAL returned, with
 * a log line naming the cause, for an unknown granule, no or unknown
 * caches or flags, a cache the granule does not have (table above: the
 * device TLB has no domain granule, the PASID cache no address granule),
 * zero pages, an unaligned address, an address + pages that wraps, a
 * missing target or one of another instance, a PASID not attached on the
 * device (or attached to another domain than @p e->dom when both are set).
 *
 * With coalescing, an entry that extends, overlaps or repeats the one added
 * just before it (same target, caches) is merged into it here; others are
 * merged at submit.
 *
 * @return the entry's index (0, 1, ... in the order added), used by
 *         usva_inval_batch_status(); -EINVAL as above; -ENOSPC if
 *         @p capacity entries were added since the last reset.
 */
int usva_inval_batch_add(struct usva_inval_batch *b,
			 const struct usva_inval_entry *e);

/**
 * Submit every entry that is not done: coalesced (unless the batch was
 * created with USVA_INVAL_BATCH_F_NO_COALESCE) and sent in as few backend
 * calls as the backend allows — the emu backend takes the whole batch in
 * one call; a backend that invalidates per nested domain (iommufd) gets one
 * call per domain. Entries are executed in order (coalesced entries ordered
 * by their first added entry) and execution stops at the first failure.
 *
 * An added entry is done when every backend entry covering it is done; it
 * has the error of a covering entry that failed; it is not attempted
 * otherwise. Entries after a failure are never done. Table pages handed to
 * the batch by address-space edits go back to their pool once every entry
 * added before them is done. Calling submit again retries only what is not
 * done: invalidation is idempotent, and a batch whose entries are all done
 * makes no backend call.
 *
 * @param err  If not NULL: 0 when every entry is done, else the -errno of
 *             the first entry that failed (-EIO for a device-TLB timeout,
 *             -EINVAL for an entry the hardware refused, ...), also logged.
 * @return the number of added entries done (all usva_inval_batch_count()
 *         of them on success, fewer after a failure); -EINVAL (NULL
 *         batch), -EOPNOTSUPP (the backend cannot invalidate) or -ENOMEM,
 *         with nothing submitted.
 */
int usva_inval_batch_submit(struct usva_inval_batch *b, int *err);

/**
 * Status of added entries [first, first + n): USVA_INVAL_DONE,
 * USVA_INVAL_NOT_ATTEMPTED (not submitted yet, or after a failure), or the
 * -errno of the failure that covers it.
 * @return @p n; -EINVAL (range beyond usva_inval_batch_count()).
 */
int usva_inval_batch_status(const struct usva_inval_batch *b, uint32_t first,
			    uint32_t n, int32_t *status);

/** Entries added since the last reset. */
uint32_t usva_inval_batch_count(const struct usva_inval_batch *b);

/** The instance the batch belongs to. */
struct usva_iommu *usva_inval_batch_iommu(const struct usva_inval_batch *b);

/**
 * Forget every entry (done or not) and start again with the full capacity.
 * @return 0; -EBUSY while table pages wait in the batch for entries that
 *         are not done (nothing forgotten).
 */
int usva_inval_batch_reset(struct usva_inval_batch *b);

/** Counters of a batch since it was created. */
struct usva_inval_batch_stats {
	uint64_t added;		/**< entries added */
	uint64_t merged_on_add;	/**< of which merged into the previous one */
	uint64_t submits;	/**< submit calls */
	uint64_t backend_calls;	/**< backend invalidate calls */
	uint64_t entries_sent;	/**< entries given to the backend */
	uint64_t last_sent;	/**< of which by the last submit */
	uint64_t widened;	/**< ranges sent as PASID-wide flushes */
	uint64_t failures;	/**< submits that ended with a failed entry */
	uint64_t pages_held;	/**< table pages waiting in the batch (now) */
	uint64_t pages_released; /**< table pages given back after their
				  *   invalidation completed */
};

/** Snapshot a batch's counters. */
void usva_inval_batch_stats(const struct usva_inval_batch *b,
			    struct usva_inval_batch_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* USVA_INVAL_H */
