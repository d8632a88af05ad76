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
 * lcores allocating at once rarely touch the same cache line. Owner create
 * and destroy take a per-space spinlock (slow path). As for any object,
 * destroying a space or an owner must not race with other calls that use
 * that space or owner.
 *
 * Errors log one line naming the cause (usva.pasid); those a tight loop or
 * a guest can trigger (-ENOSPC, -EDQUOT, -EEXIST) are rate-limited.
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
	uint32_t first;	/**< first PASID */
	uint32_t last;	/**< last PASID (inclusive) */
};

/** Maximum reserved ranges per space. */
#define USVA_PASID_MAX_RESERVED 8

/**
 * PASID space parameters (size-versioned, see usva_struct.h). Mandatory
 * fields: @p size, @p flags and @p width; a caller may pass a size that
 * ends right after @p width.
 */
struct usva_pasid_space_config {
	uint32_t size;		/**< sizeof(struct usva_pasid_space_config) */
	uint32_t flags;		/**< none defined yet; must be 0 */
	uint32_t width;		/**< bits, 1..USVA_MAX_PASID_WIDTH */
	uint32_t nr_reserved;	/**< entries in @p reserved, <= USVA_PASID_MAX_RESERVED */
	/** Ranges reserved besides PASID 0, inside the space; they may
	 *  overlap. Read during usva_pasid_space_create() only. */
	const struct usva_pasid_range *reserved;
	uint64_t reserved_must_be_zero[2];	/**< must be 0 */
};

/**
 * Create a PASID space. Memory: 8 bytes of state per PASID (8 MiB for
 * width 20) plus one bit.
 * @return 0 and *@p out; -EINVAL (width 0 or above the build limit, a
 *         reserved range beyond the space or with first > last, too many
 *         ranges, ranges announced with a NULL array, non-zero reserved
 *         field, size below the end of @p width, NULL @p out),
 *         -EOPNOTSUPP (unknown flags), -E2BIG (non-zero bytes past the
 *         struct this version knows), -EFAULT (NULL @p cfg), -ENOMEM.
 */
int usva_pasid_space_create(const struct usva_pasid_space_config *cfg,
			    struct usva_pasid_space **out);

/**
 * Destroy a space and its owners (their handles become invalid); PASIDs
 * still allocated are released with it.
 * @return 0; -EBUSY if a PASID is still attached (nothing is destroyed).
 *         NULL is a no-op returning 0.
 */
int usva_pasid_space_destroy(struct usva_pasid_space *sp);

/** Width of the space in bits. */
uint32_t usva_pasid_space_width(const struct usva_pasid_space *sp);

/**
 * Create an owner with a quota of PASIDs (0: no limit but the space).
 * @return 0 and *@p out; -EINVAL (NULL argument), -ENOSPC (65536 owners
 *         already), -ENOMEM.
 */
int usva_pasid_owner_create(struct usva_pasid_space *sp, uint32_t quota,
			    struct usva_pasid_owner **out);

/**
 * Destroy an owner, freeing its PASIDs.
 *
 * An attach_get racing with the destroy on one of the owner's PASIDs
 * either wins (the destroy fails with -EBUSY) or fails with -ENOENT.
 * @return 0; -EBUSY if one of them is attached (nothing freed).
 *         NULL is a no-op returning 0.
 */
int usva_pasid_owner_destroy(struct usva_pasid_owner *owner);

/**
 * PASIDs the owner holds now (an alloc in flight on another thread may be
 * counted a moment before it returns, or a failed one a moment after).
 */
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
 *         use), -EDQUOT (owner at quota), -EINVAL (NULL owner).
 */
int usva_pasid_alloc_at(struct usva_pasid_owner *owner, uint32_t pasid);

/**
 * Free a PASID. Its generation is kept, to be bumped by its next
 * allocation.
 * @return 0; -EPERM (0 or reserved), -ERANGE (>= 2^width), -ENOENT (not
 *         allocated: double free), -EACCES (allocated by another owner),
 *         -EBUSY (still attached), -EINVAL (NULL owner).
 */
int usva_pasid_free(struct usva_pasid_owner *owner, uint32_t pasid);

/**
 * Generation of a PASID: bumped each time it is allocated (a 32-bit
 * counter that skips 0 when it wraps). A caller that saved it can tell a
 * reused PASID from the one it knew.
 * @return the generation (>= 1) if allocated; 0 if not allocated or out of
 *         range.
 */
uint32_t usva_pasid_generation(const struct usva_pasid_space *sp,
			       uint32_t pasid);

/**
 * Take an attach reference (one per device/domain attachment), for the
 * IOMMU layer. Fails if the PASID is not allocated. While a reference is
 * held the PASID cannot be freed, so its generation does not change.
 * @return 0; -ENOENT (not allocated, or its owner is being destroyed),
 *         -ERANGE, -EPERM (0 or reserved), -EOVERFLOW (attach count at its
 *         limit, 8191), -EINVAL (NULL space).
 */
int usva_pasid_attach_get(struct usva_pasid_space *sp, uint32_t pasid);

/**
 * Drop an attach reference.
 * @return 0; -ENOENT (not allocated), -EINVAL (not attached, or NULL
 *         space), -ERANGE, -EPERM (0 or reserved).
 */
int usva_pasid_attach_put(struct usva_pasid_space *sp, uint32_t pasid);

/** Counters of a space. */
struct usva_pasid_space_stats {
	uint32_t width;	/**< PASID bits of the space */
	uint32_t allocated;	/**< PASIDs allocated now */
	uint32_t attached;	/**< of those, with attach count > 0 */
	uint32_t reserved;	/**< reserved PASIDs, including 0 */
};

/**
 * Snapshot the counters: a scan of O(2^width / 64 + allocated), not
 * atomic with respect to concurrent calls. NULL @p sp gives zeros.
 */
void usva_pasid_space_stats(const struct usva_pasid_space *sp,
			    struct usva_pasid_space_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* USVA_PASID_H */
