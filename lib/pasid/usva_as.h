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
 */
#ifndef USVA_AS_H
#define USVA_AS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_as;
struct usva_page_pool;

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
#define USVA_PGSIZE_4K	(UINT64_C(1) << 12)
#define USVA_PGSIZE_2M	(UINT64_C(1) << 21)
#define USVA_PGSIZE_1G	(UINT64_C(1) << 30)
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
 *         express, unknown flags), -ERANGE (beyond va_bits), -EOVERFLOW
 *         (va + len or oa + len wraps), -EEXIST (part of the range is
 *         mapped; nothing changed), -ENOMEM (no table page; nothing changed).
 */
int usva_as_map(struct usva_as *as, uint64_t va, uint64_t oa, uint64_t len,
		uint32_t prot, uint32_t flags);

/**
 * Unmap [va, va + len). Holes are skipped. A huge leaf that straddles an
 * end is split first, so only the range goes.
 *
 * @param unmapped  If not NULL, receives the bytes that were mapped.
 * @return 0; -EINVAL/-ERANGE/-EOVERFLOW (as map), -ENOMEM (a split needed a
 *         table page; nothing unmapped).
 */
int usva_as_unmap(struct usva_as *as, uint64_t va, uint64_t len,
		  uint64_t *unmapped);

/**
 * Change the protection of every leaf in [va, va + len), which must be
 * fully mapped; straddling huge leaves are split first.
 *
 * @return 0; -EINVAL/-ERANGE/-EOVERFLOW (as map), -ENOENT (a hole in the
 *         range; nothing changed), -ENOMEM (split failed; nothing changed).
 */
int usva_as_protect(struct usva_as *as, uint64_t va, uint64_t len,
		    uint32_t prot);

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
	uint64_t table_pages;	/**< table pages held, root included */
	uint64_t mapped_bytes;	/**< bytes mapped now */
	uint64_t maps;		/**< successful map calls */
	uint64_t unmaps;	/**< successful unmap calls */
	uint64_t splits;	/**< huge leaves split */
	uint64_t merges;	/**< tables folded into huge leaves */
	uint64_t cas_lost;	/**< table installs lost to another lcore */
};

/** Snapshot the counters. */
void usva_as_stats(const struct usva_as *as, struct usva_as_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* USVA_AS_H */
