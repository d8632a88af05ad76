/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * PASID allocator.
 *
 * A PASID space covers [0, 2^width) with width up to USVA_MAX_PASID_WIDTH
 * (PCIe allows 20). PASID 0 is always reserved (RID_PASID: DMA without a
 * PASID uses it); more ranges may be reserved at creation. PASIDs are handed
 * to owners (an application, a process, a tenant), each with a quota.
 *
 * Each allocated PASID carries a generation number, bumped each time it is
 * allocated, so a response or event from an earlier life of a reused PASID
 * can be told apart; and an attach count, held by every (device, domain)
 * attachment, so that freeing an attached PASID fails with -EBUSY.
 *
 * Thread safety: every call is thread-safe. alloc/free/attach take no lock:
 * they work by atomic operations on a bitmap and on a per-PASID state word,
 * and each lcore starts its search for a free PASID at its own cursor, so
 * lcores allocating at once rarely touch the same cache line.
 */
#ifndef USVA_PASID_H
#define USVA_PASID_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_pasid_space;
struct usva_pasid_owner;

/** The PASID a device uses for requests without a PASID prefix. */
#define USVA_PASID_RID 0u

/** A range of PASIDs, [first, last]. */
struct usva_pasid_range {
	uint32_t first;
	uint32_t last;
};

/** Maximum reserved ranges per space. */
#define USVA_PASID_MAX_RESERVED 8

/** PASID space parameters (size-versioned). */
struct usva_pasid_space_config {
	uint32_t size;		/**< sizeof(struct usva_pasid_space_config) */
	uint32_t flags;		/**< none defined yet; must be 0 */
	uint32_t width;		/**< bits, 1..USVA_MAX_PASID_WIDTH */
	uint32_t nr_reserved;	/**< entries in @p reserved, <= USVA_PASID_MAX_RESERVED */
	const struct usva_pasid_range *reserved; /**< besides PASID 0 */
	uint64_t reserved_must_be_zero[2];	/**< must be 0 */
};

/**
 * Create a PASID space.
 * @return 0 and *@p out; -EINVAL (width 0 or above the build limit, a
 *         reserved range beyond the space or with first > last, too many
 *         ranges, non-zero reserved field), -EOPNOTSUPP (unknown flags),
 *         -E2BIG, -ENOMEM.
 */
int usva_pasid_space_create(const struct usva_pasid_space_config *cfg,
			    struct usva_pasid_space **out);

/**
 * Destroy a space and its owners.
 * @return 0; -EBUSY if a PASID is still attached (nothing is destroyed).
 *         NULL is a no-op returning 0.
 */
int usva_pasid_space_destroy(struct usva_pasid_space *sp);

/** Width of the space in bits. */
uint32_t usva_pasid_space_width(const struct usva_pasid_space *sp);

/**
 * Create an owner with a quota of PASIDs (0: no limit but the space).
 * @return 0 and *@p out; -ENOMEM.
 */
int usva_pasid_owner_create(struct usva_pasid_space *sp, uint32_t quota,
			    struct usva_pasid_owner **out);

/**
 * Destroy an owner, freeing its PASIDs.
 * @return 0; -EBUSY if one of them is attached (nothing freed).
 */
int usva_pasid_owner_destroy(struct usva_pasid_owner *owner);

/** PASIDs the owner holds now. */
uint32_t usva_pasid_owner_count(const struct usva_pasid_owner *owner);

/**
 * Allocate any free PASID for @p owner.
 * @return 0 and *@p pasid; -EDQUOT (owner at quota), -ENOSPC (space full),
 *         -EINVAL (NULL argument).
 */
int usva_pasid_alloc(struct usva_pasid_owner *owner, uint32_t *pasid);

/**
 * Allocate a given PASID for @p owner (for a guest that chose its own).
 * @return 0; -EPERM (0 or reserved), -ERANGE (>= 2^width), -EEXIST (in
 *         use), -EDQUOT (owner at quota).
 */
int usva_pasid_alloc_at(struct usva_pasid_owner *owner, uint32_t pasid);

/**
 * Free a PASID.
 * @return 0; -EPERM (0 or reserved), -ERANGE (>= 2^width), -ENOENT (not
 *         allocated: double free), -EACCES (allocated by another owner),
 *         -EBUSY (still attached).
 */
int usva_pasid_free(struct usva_pasid_owner *owner, uint32_t pasid);

/**
 * Generation of a PASID: bumped each time it is allocated. A caller that
 * saved it can tell a reused PASID from the one it knew.
 * @return the generation (>= 1) if allocated; 0 if not allocated or out of
 *         range.
 */
uint32_t usva_pasid_generation(const struct usva_pasid_space *sp,
			       uint32_t pasid);

/**
 * Take an attach reference (one per device/domain attachment), for the
 * IOMMU layer. Fails if the PASID is not allocated.
 * @return 0; -ENOENT (not allocated), -ERANGE, -EPERM (0 or reserved),
 *         -EOVERFLOW (attach count at its limit).
 */
int usva_pasid_attach_get(struct usva_pasid_space *sp, uint32_t pasid);

/**
 * Drop an attach reference.
 * @return 0; -ENOENT (not allocated), -EINVAL (not attached), -ERANGE.
 */
int usva_pasid_attach_put(struct usva_pasid_space *sp, uint32_t pasid);

/** Counters of a space. */
struct usva_pasid_space_stats {
	uint32_t width;
	uint32_t allocated;	/**< PASIDs allocated now */
	uint32_t attached;	/**< of those, with attach count > 0 */
	uint32_t reserved;	/**< reserved PASIDs, including 0 */
};

/** Snapshot the counters (O(2^width / 64) for attached). */
void usva_pasid_space_stats(const struct usva_pasid_space *sp,
			    struct usva_pasid_space_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* USVA_PASID_H */
