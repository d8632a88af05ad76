/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Page pools: pre-zeroed, pre-faulted 4 KiB or 2 MiB pages.
 *
 * A pool owns one region of memory, placed on a NUMA node with libnuma,
 * touched once at creation so the hot path never takes a kernel page fault,
 * and split into pages. Free pages live in an rte_mempool of page
 * descriptors, so each lcore allocates from its own cache. A page handed out
 * is all zeroes. A page given back dirty goes to a dirty ring and is zeroed
 * again off the hot path (usva_page_pool_refill()); one given back known
 * zero goes straight back to the free pages.
 *
 * The IOVA of a pool page is its virtual address: usva maps pools into
 * stage 2 at IOVA = VA, the SVA convention, so page-table entries hold the
 * same number the CPU uses.
 */
#ifndef USVA_PAGE_POOL_H
#define USVA_PAGE_POOL_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_page_pool;

/**
 * Pool creation parameters (size-versioned, see usva_struct.h). The
 * mandatory fields end at nr_pages; a caller whose size stops before
 * numa_node gets -1 (local node), the other optional fields read as 0.
 */
struct usva_page_pool_config {
	uint32_t size;		/**< sizeof(struct usva_page_pool_config) */
	uint32_t flags;		/**< none defined yet; must be 0 */
	uint32_t page_shift;	/**< 12 (4 KiB) or 21 (2 MiB) */
	uint32_t nr_pages;	/**< capacity: 1 to 64 GiB worth of pages */
	int32_t numa_node;	/**< node to bind pages to; -1: prefer the
				 *   creating thread's node */
	uint32_t cache_size;	/**< per-lcore cache (descriptors); 0: none;
				 *   clamped to what rte_mempool accepts
				 *   (RTE_MEMPOOL_CACHE_MAX_SIZE, and about
				 *   2/3 of nr_pages) */
	const char *name;	/**< unique rte_mempool name, at most
				 *   RTE_MEMPOOL_NAMESIZE - 1 characters;
				 *   NULL: "usva_pp_<n>" is generated */
	uint64_t reserved[2];	/**< must be 0 */
};

/** Counters of a pool (a snapshot; exact when the pool is quiescent). */
struct usva_page_pool_stats {
	uint64_t capacity;	/**< pages in the pool */
	uint64_t free;		/**< zeroed and ready, including lcore caches */
	uint64_t dirty;		/**< given back dirty, awaiting zeroing */
	uint64_t in_use;	/**< handed out */
	uint64_t allocs;	/**< successful allocations */
	uint64_t alloc_fails;	/**< allocations that found no page */
	uint64_t zeroed_inline;	/**< dirty pages zeroed on an allocating path */
	uint64_t setup_ns;	/**< time spent creating and pre-faulting */
};

/**
 * Create a pool. Slow path: allocates and touches every page (the time it
 * took is in stats.setup_ns). The memory is aligned to the page size, and
 * to 2 MiB once the pool spans 2 MiB, with transparent huge pages asked
 * for (a 2 MiB page is one huge page when the kernel has one to give).
 * Thread-safe.
 *
 * @return 0 and *@p out; on failure *@p out is NULL (if @p out is not) and:
 *         -EFAULT (@p cfg NULL), -EINVAL (@p out NULL; bad size, shift,
 *         nr_pages, numa_node, name, reserved), -EOPNOTSUPP (unknown
 *         flags), -E2BIG (unknown non-zero tail), -EEXIST (name in use),
 *         -ENOMEM (out of memory, or fail-nth fired).
 */
int usva_page_pool_create(const struct usva_page_pool_config *cfg,
			  struct usva_page_pool **out);

/**
 * Destroy a pool. Pages still handed out are a caller bug: logged, and the
 * memory is released anyway. NULL is a no-op. Not thread-safe against any
 * other use of the pool.
 */
void usva_page_pool_destroy(struct usva_page_pool *pool);

/**
 * Take one zeroed page; its private word (usva_page_priv()) is zero. Hot
 * path: no syscall, no heap, no lock beyond the mempool's. Falls back to
 * zeroing a dirty page inline (counted) when no zeroed page is left. Pages
 * sitting in other lcores' caches are not reachable from this one, so an
 * allocation may fail while stats.free is not zero. Thread-safe.
 * @return the page, or NULL if the pool is empty (or fail-nth fired).
 */
void *usva_page_alloc(struct usva_page_pool *pool);

/**
 * Take @p n zeroed pages, all or none; like usva_page_alloc() otherwise
 * (dirty pages are zeroed inline when zeroed ones are short). Thread-safe.
 * @return 0 (also for @p n == 0), or -ENOMEM with nothing taken.
 */
int usva_page_alloc_bulk(struct usva_page_pool *pool, void **pages,
			 unsigned int n);

/**
 * Give a page back. @p zeroed promises it is all zero again (a page table
 * whose entries were all cleared); otherwise it is zeroed before reuse.
 * NULL is a no-op. A pointer that is not a page of the pool, or a page
 * not handed out (a double free), is logged (rate-limited) and ignored.
 * Thread-safe.
 */
void usva_page_free(struct usva_page_pool *pool, void *page, bool zeroed);

/**
 * Zero up to @p max dirty pages and make them allocatable. Meant for idle
 * loops and service lcores. Thread-safe.
 * @return pages made ready.
 */
unsigned int usva_page_pool_refill(struct usva_page_pool *pool,
				   unsigned int max);

/** True if @p p points into the pool's memory. */
bool usva_page_pool_contains(const struct usva_page_pool *pool,
			     const void *p);

/**
 * One 64-bit word of private data per page, for the owner of a page while
 * it is handed out (page tables count their valid entries here). Zero when
 * the page is allocated. @p page may be any address inside the page.
 * @return the word, or NULL if @p page is not in the pool.
 */
uint64_t *usva_page_priv(struct usva_page_pool *pool, const void *page);

/**
 * The pool's memory region: every page lies in [*base, *base + *len).
 * The IOMMU layer maps it into stage 2 (IOVA = VA) for table walks.
 */
void usva_page_pool_region(const struct usva_page_pool *pool, void **base,
			   uint64_t *len);

/** Page size of the pool in bytes. */
uint64_t usva_page_pool_page_size(const struct usva_page_pool *pool);

/** Snapshot the pool's counters. */
void usva_page_pool_stats(const struct usva_page_pool *pool,
			  struct usva_page_pool_stats *st);

/**
 * The default 4 KiB pool created by usva_init() (size from
 * --usva-pool-pages); NULL before usva_init() or after usva_cleanup().
 */
struct usva_page_pool *usva_page_pool_default(void);

#ifdef __cplusplus
}
#endif

#endif /* USVA_PAGE_POOL_H */
