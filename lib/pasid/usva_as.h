/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Address spaces (usva_as): stage-1 page tables that usva owns.
 *
 * A usva_as is one stage-1 translation: a page table in a hardware format
 * (x86-64 first-stage as VT-d walks it, or ARM VMSAv8-64 4 KiB granule as an
 * SMMUv3 context descriptor points at it), built in memory from a page
 * pool, whose root a nested IOMMU domain is given. Entries hold IOVAs
 * (stage-2 input addresses); pool pages have IOVA = VA.
 *
 * Concurrency. Calls on one usva_as may run on several lcores at once when
 * their ranges lie in different granules (aligned blocks of
 * 2^granule_shift bytes, 2 MiB by default): intermediate tables are
 * installed by compare-and-swap (the loser gives its page back) and every
 * leaf is written by the one caller that owns its granule — the fault
 * service's shard owner. usva_as_lookup() may run concurrently with
 * anything. Table pages that become empty are freed, and huge leaves are
 * formed from full tables, only where the table lies inside one granule.
 *
 * Invalidation. While nested domains are made from an address space, unmap
 * and protect (when it takes a right away) invalidate what the IOMMU may
 * have cached of the range — the IOTLB of every (device, PASID) the domains
 * are attached at, and the device TLB of ATS devices — either before they
 * return or, with the _batch forms, by queueing into the caller's
 * invalidation batch (usva_inval.h). Table pages they unlink go back to the
 * pool only after that invalidation completed. Map and permission upgrades
 * need none (see usva_as_protect()). doc/invalidation.md has the model.
 */
#ifndef USVA_AS_H
#define USVA_AS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_as;
struct usva_page_pool;
struct usva_inval_batch;

/** Stage-1 table formats. */
enum usva_pgfmt {
	USVA_PGFMT_X86_FS = 1,		/**< x86-64 first stage, 4/5 level */
	USVA_PGFMT_ARM_LPAE_4K = 2,	/**< ARM VMSAv8-64, 4 KiB granule */
};

/** @name Protection bits
 * A mapping is always readable; READ must be set.
 * @{ */
#define USVA_PROT_READ	(1u << 0)
#define USVA_PROT_WRITE	(1u << 1)
#define USVA_PROT_EXEC	(1u << 2)
#define USVA_PROT_USER	(1u << 3)	/**< unprivileged access allowed */
#define USVA_PROT_ALL	(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_EXEC | \
			 USVA_PROT_USER)
/** @} */

/** @name Page sizes (bit = size)
 * @{ */
#define USVA_PGSIZE_4K	(UINT64_C(1) << 12)	/**< 4 KiB */
#define USVA_PGSIZE_2M	(UINT64_C(1) << 21)	/**< 2 MiB */
#define USVA_PGSIZE_1G	(UINT64_C(1) << 30)	/**< 1 GiB */
/** @} */

/** Address-space parameters (size-versioned). */
struct usva_as_config {
	uint32_t size;		/**< sizeof(struct usva_as_config) */
	uint32_t flags;		/**< none defined yet; must be 0 */
	uint32_t format;	/**< enum usva_pgfmt */
	uint32_t va_bits;	/**< x86: 48 or 57; ARM: 25..48 */
	/* end of mandatory fields */
	uint64_t page_sizes;	/**< leaf sizes allowed (USVA_PGSIZE_*); 0: all */
	struct usva_page_pool *table_pool; /**< NULL: the default pool */
	uint32_t granule_shift;	/**< concurrency granule; 0: 21 (2 MiB) */
	uint32_t reserved0;	/**< must be 0 */
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create an address space with an empty root table.
 * @return 0 and *@p out; -EINVAL (bad size, format not registered, va_bits
 *         the format cannot do, page sizes it lacks, granule_shift not in
 *         [12, va_bits], reserved field), -EOPNOTSUPP (flags), -E2BIG,
 *         -ENOMEM (no memory or no table page).
 */
int usva_as_create(const struct usva_as_config *cfg, struct usva_as **out);

/**
 * Destroy an address space, returning every table page to its pool.
 * NULL is a no-op. Not thread-safe against other calls on @p as.
 */
void usva_as_destroy(struct usva_as *as);

/** @name usva_as_map() flags
 * @{ */
#define USVA_MAP_F_MAX_4K	(1u << 0)	/**< 4 KiB leaves only */
#define USVA_MAP_F_MAX_2M	(1u << 1)	/**< no 1 GiB leaves */
/** @} */

/**
 * Map [va, va + len) to [oa, oa + len) with @p prot, using the largest
 * leaves that alignment, length, the AS's page sizes and @p flags allow.
 * The range must be unmapped: all or nothing.
 *
 * @return 0; -EINVAL (va, oa or len not 4 KiB aligned, len 0, non-canonical
 *         va, prot without READ or with unknown bits, prot the format cannot
 *         express, unknown flags), -ERANGE (beyond va_bits, or an output
 *         beyond what the format addresses: 52 bits x86, 48 bits ARM),
 *         -EOVERFLOW (va + len or oa + len wraps), -EEXIST (part of the
 *         range is mapped; nothing changed), -ENOMEM (no table page;
 *         nothing changed).
 */
int usva_as_map(struct usva_as *as, uint64_t va, uint64_t oa, uint64_t len,
		uint32_t prot, uint32_t flags);

/**
 * Unmap [va, va + len). Holes are skipped. A huge leaf that straddles an
 * end is split first, so only the range goes. When domains are made from
 * @p as, the IOMMU caches of the range are invalidated before the call
 * returns (usva_as_unmap_batch() with a NULL batch).
 *
 * @param unmapped  If not NULL, receives the bytes that were mapped.
 * @return 0; -EINVAL/-ERANGE/-EOVERFLOW (as map), -ENOMEM (a split needed a
 *         table page; nothing unmapped); the -errno of a failed
 *         invalidation (-EIO, ...): the range IS unmapped (*@p unmapped
 *         says how much) but the IOMMU may still hold translations of it;
 *         the table pages it freed stay held until usva_as_sync() or a
 *         later unmap/protect completes the invalidation.
 */
int usva_as_unmap(struct usva_as *as, uint64_t va, uint64_t len,
		  uint64_t *unmapped);

/**
 * Unmap as usva_as_unmap(), queueing the invalidation into @p batch.
 *
 * @param batch  NULL: invalidate before returning, as usva_as_unmap().
 *               Else a batch of the IOMMU instance every domain of @p as
 *               belongs to: one entry per domain is added (address range,
 *               IOTLB and device TLB, leaf-only unless a table page was
 *               freed), and the freed table pages are handed to the batch,
 *               which gives them back to the pool once every entry added
 *               so far is done. Until usva_inval_batch_submit() succeeds
 *               the device may still use what was unmapped. Nothing is
 *               queued if nothing was mapped in the range, or if no domain
 *               is made from @p as (nothing can cache it).
 * @return as usva_as_unmap(); with a batch also -EXDEV (a domain of @p as
 *         is on another instance than @p batch) and -ENOSPC (the batch
 *         lacks room for one entry per domain): nothing unmapped. Not
 *         thread-safe against other users of @p batch.
 */
int usva_as_unmap_batch(struct usva_as *as, uint64_t va, uint64_t len,
			uint64_t *unmapped, struct usva_inval_batch *batch);

/**
 * Change the protection of every leaf in [va, va + len), which must be
 * fully mapped; straddling huge leaves are split first.
 *
 * A change that takes a right away from any leaf (READ is always kept:
 * WRITE, EXEC or USER removed) invalidates the range as usva_as_unmap()
 * does. One that only adds rights invalidates nothing: the IOMMUs usva
 * drives (VT-d first stage and the emu model, both flavours) never cache a
 * not-present entry and never answer an access from a cached entry that
 * does not allow it — they walk again — so the new right is found without
 * a flush. (An IOMMU that may cache permission-faulting entries, as the
 * ARM architecture allows, would need upgrades invalidated too.) Tables
 * folded into a huge leaf by the change are invalidated (non-leaf) before
 * their pages are reused.
 *
 * @return 0; -EINVAL/-ERANGE/-EOVERFLOW (as map), -ENOENT (a hole in the
 *         range; nothing changed), -ENOMEM (split failed; nothing changed);
 *         the -errno of a failed invalidation, as usva_as_unmap() (the new
 *         protection is in place).
 */
int usva_as_protect(struct usva_as *as, uint64_t va, uint64_t len,
		    uint32_t prot);

/**
 * usva_as_protect() queueing into @p batch (NULL: invalidate before
 * returning). Batch rules and extra errors as usva_as_unmap_batch().
 */
int usva_as_protect_batch(struct usva_as *as, uint64_t va, uint64_t len,
			  uint32_t prot, struct usva_inval_batch *batch);

/**
 * Complete what earlier calls left pending: the invalidation of a failed
 * unmap or protect, and of tables usva_as_map() folded into huge leaves
 * (which it leaves to the next flush rather than invalidate on the map
 * path). Then give back the table pages that waited for it.
 * @return 0 (also when nothing was pending, or no domain is made from
 *         @p as); the -errno of a failed invalidation (still pending).
 */
int usva_as_sync(struct usva_as *as);

/** Result of usva_as_lookup(). */
struct usva_as_xlate {
	uint64_t oa;		/**< output address of @p va itself */
	uint64_t page_size;	/**< size of the leaf that maps it */
	uint32_t prot;		/**< USVA_PROT_* */
	uint32_t level;		/**< 1: 4 KiB leaf, 2: 2 MiB, 3: 1 GiB */
};

/**
 * Translate @p va through the table, as software.
 * @return 0; -ENOENT (not mapped), -EINVAL/-ERANGE (bad address).
 */
int usva_as_lookup(const struct usva_as *as, uint64_t va,
		   struct usva_as_xlate *out);

/** IOVA of the root table (what a nested domain is given). */
uint64_t usva_as_root(const struct usva_as *as);
/** Format of the AS (enum usva_pgfmt). */
uint32_t usva_as_format(const struct usva_as *as);
/** Levels of the table (x86 4 or 5; ARM 2..4). */
uint32_t usva_as_levels(const struct usva_as *as);
/** va_bits the AS was created with. */
uint32_t usva_as_va_bits(const struct usva_as *as);

/** The page pool the AS takes its table pages from. */
struct usva_page_pool *usva_as_table_pool(const struct usva_as *as);

/** Counters of an address space. */
struct usva_as_stats {
	uint64_t table_pages;	/**< table pages in the tree, root included */
	uint64_t mapped_bytes;	/**< bytes mapped now */
	uint64_t maps;		/**< successful map calls */
	uint64_t unmaps;	/**< successful unmap calls */
	uint64_t splits;	/**< huge leaves split */
	uint64_t merges;	/**< tables folded into huge leaves */
	uint64_t cas_lost;	/**< table installs lost to another lcore */
	uint64_t held_pages;	/**< unlinked table pages the AS holds until
				 *   an invalidation covers them (now) */
	uint64_t inval_flushes;	/**< flushes made before an unmap, protect
				 *   or usva_as_sync() returned */
	uint64_t inval_failures; /**< of which failed */
};

/** Snapshot the counters. */
void usva_as_stats(const struct usva_as *as, struct usva_as_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* USVA_AS_H */
