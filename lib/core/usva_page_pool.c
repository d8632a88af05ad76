/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Page pools.
 *
 * Layout. A pool owns one anonymous private mapping, aligned to its page
 * size (and to 2 MiB once it spans 2 MiB, so transparent huge pages can back
 * it), bound to a NUMA node and written once at creation, so pages are
 * present before anyone allocates them. rte_mempool objects carry a header
 * in front of them and so cannot themselves be aligned pages; the mempool
 * holds small page descriptors instead, one per page, and desc_of_page[]
 * maps a page back to its descriptor in O(1) on free.
 *
 * Page life cycle:
 *
 *   free (mempool: ring + per-lcore caches) --alloc--> handed out
 *   handed out --free(zeroed)--> free
 *   handed out --free(dirty)--> dirty ring --refill / inline zero--> free
 *
 * Ownership. A descriptor, and the page it names, belong to exactly one
 * party at a time: the mempool, the dirty ring, or the thread holding it.
 * Hand-offs go through rte_ring enqueue (store-release of the ring's tail)
 * and dequeue (load-acquire of it), or through a per-lcore mempool cache
 * that only its own lcore touches. So whatever the previous holder wrote,
 * the page's zeroes included, is visible to the next one without further
 * barriers, and descriptor fields need no atomics of their own.
 */
#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "usva_alloc.h"
#include "usva_log.h"
#include "usva_page_pool.h"
#include "usva_struct.h"

#define PP_SHIFT_4K		12
#define PP_SHIFT_2M		21
#define PP_4K			(UINT64_C(1) << PP_SHIFT_4K)
#define PP_HUGE_SIZE		(UINT64_C(1) << PP_SHIFT_2M)
/* Largest pool: 64 GiB, i.e. 2^24 4 KiB pages or 2^15 2 MiB pages. */
#define PP_MAX_BYTES_SHIFT	36
/* Dirty pages zeroed per ring operation in refill. */
#define PP_BURST		32u
/* Largest NUMA node number accepted (as the --usva-numa-node option). */
#define PP_MAX_NODE		1023

/* Descriptor flag: the page is handed out (catches double frees). */
#define PP_DESC_OUT		UINT32_C(1)

/*
 * One per page, the object type of the mempool. Cache-line sized by the
 * mempool (no RTE_MEMPOOL_F_NO_CACHE_ALIGN), so holders of different pages
 * never share a line when they update priv. priv and flags belong to the
 * page's current holder (see the ownership note on top); flags is accessed
 * with relaxed atomics all the same, so that a caller's racing double free
 * is a detectable race rather than undefined behaviour.
 */
struct pp_desc {
	void *va;		/* the page; read-only after creation */
	uint64_t priv;		/* the holder's word, zeroed on alloc */
	uint32_t flags;		/* PP_DESC_* */
};

enum pp_ctr {
	PP_CTR_ALLOCS,
	PP_CTR_ALLOC_FAILS,
	PP_CTR_ZEROED_INLINE,
	PP_CTR_MAX
};

/*
 * Per-lcore counters, one cache line per slot so lcores never write a
 * shared line. Slot i is written only by the thread of lcore i (EAL lcores
 * and registered non-EAL threads have unique ids), so a relaxed load and
 * store suffice; the last slot is shared by unregistered threads and is
 * updated with atomic adds. Readers sum all slots with relaxed loads.
 */
struct pp_lcore_ctr {
	uint64_t v[PP_CTR_MAX];
} __rte_cache_aligned;

#define PP_CTR_SLOT_SHARED	RTE_MAX_LCORE

struct usva_page_pool {
	/* Set in usva_page_pool_create(), read-only until destroy: no lock. */
	uintptr_t base;			/* first page */
	size_t len;			/* nr_pages << page_shift */
	uint64_t page_size;
	uint32_t page_shift;
	uint32_t nr_pages;
	struct rte_mempool *mp;		/* free zeroed pages (MP/MC) */
	struct rte_ring *dirty;		/* pages to re-zero (MP/MC) */
	struct pp_desc **desc_of_page;	/* page index -> descriptor */
	int node;			/* NUMA node of the pages, or -1 */
	uint64_t setup_ns;
	char name[RTE_MEMPOOL_NAMESIZE];

	/* See struct pp_lcore_ctr for who writes which slot. */
	struct pp_lcore_ctr ctr[RTE_MAX_LCORE + 1];
};

/* Sequence for generated names; atomic, ordering irrelevant. */
static uint32_t pp_name_seq;

/* ---- hot-path helpers ------------------------------------------------ */

static inline void
pp_count_lcore(struct usva_page_pool *pool, unsigned int lcore, enum pp_ctr c,
	       uint64_t n)
{
	uint64_t *v;

	if (likely(lcore < RTE_MAX_LCORE)) {
		v = &pool->ctr[lcore].v[c];
		/* Single writer: relaxed load/store, no locked RMW needed;
		 * atomic only so that readers never see a torn value. */
		__atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + n,
				 __ATOMIC_RELAXED);
	} else {
		/* Shared by non-EAL threads; a pure counter, relaxed. */
		__atomic_fetch_add(&pool->ctr[PP_CTR_SLOT_SHARED].v[c], n,
				   __ATOMIC_RELAXED);
	}
}

static inline void
pp_count(struct usva_page_pool *pool, enum pp_ctr c, uint64_t n)
{
	pp_count_lcore(pool, rte_lcore_id(), c, n);
}

/*
 * Descriptor of the page containing @p p, or NULL if @p p is outside the
 * pool. The unsigned subtraction also rejects addresses below the base.
 */
static inline struct pp_desc *
pp_desc_of(const struct usva_page_pool *pool, const void *p)
{
	uintptr_t off = (uintptr_t)p - pool->base;

	if (unlikely(off >= pool->len))
		return NULL;
	return pool->desc_of_page[off >> pool->page_shift];
}

static inline void *
pp_hand_out(struct pp_desc *d)
{
	d->priv = 0;
	__atomic_store_n(&d->flags, PP_DESC_OUT, __ATOMIC_RELAXED);
	return d->va;
}

static inline void
pp_zero(const struct usva_page_pool *pool, struct pp_desc *d)
{
	memset(d->va, 0, pool->page_size);
}

/* Take one dirty page and zero it here, for an allocator that found none. */
static __rte_noinline struct pp_desc *
pp_take_dirty(struct usva_page_pool *pool)
{
	void *obj;

	if (rte_ring_dequeue(pool->dirty, &obj) != 0)
		return NULL;
	pp_zero(pool, obj);
	pp_count(pool, PP_CTR_ZEROED_INLINE, 1);
	return obj;
}

/*
 * Zero up to @p max dirty pages and return them to the free pages. They go
 * to the mempool's common ring, not to this lcore's cache, so that a
 * service lcore refilling for others does not hoard what it zeroed.
 * The ring enqueue publishes the zeroes (see the ownership note on top).
 */
static unsigned int
pp_zero_dirty(struct usva_page_pool *pool, unsigned int max)
{
	void *objs[PP_BURST];
	unsigned int done = 0, n, i;

	while (done < max) {
		n = rte_ring_dequeue_burst(pool->dirty, objs,
					   RTE_MIN(max - done, PP_BURST), NULL);
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			pp_zero(pool, objs[i]);
		rte_mempool_generic_put(pool->mp, objs, n, NULL);
		done += n;
	}
	return done;
}

/* ---- fast path --------------------------------------------------------- */

/* usva_page_alloc() past this lcore's cache: the mempool's common pool,
 * else a dirty page zeroed here. */
static __rte_noinline void *
pp_alloc_slow(struct usva_page_pool *pool, unsigned int lcore,
	      struct rte_mempool_cache *cache)
{
	void *obj;

	if (unlikely(rte_mempool_generic_get(pool->mp, &obj, 1, cache) != 0)) {
		obj = pp_take_dirty(pool);
		if (obj == NULL) {
			pp_count_lcore(pool, lcore, PP_CTR_ALLOC_FAILS, 1);
			return NULL;
		}
	}
	pp_count_lcore(pool, lcore, PP_CTR_ALLOCS, 1);
	return pp_hand_out(obj);
}

void *
usva_page_alloc(struct usva_page_pool *pool)
{
	/* One lookup of the lcore id (a TLS access through the dynamic
	 * linker from a shared library) for the cache and the counter. */
	unsigned int lcore = rte_lcore_id();
	struct rte_mempool_cache *cache;
	void *obj;

	if (usva_fail_point("page_alloc"))
		return NULL;
	cache = rte_mempool_default_cache(pool->mp, lcore);
	/* The common case inline, without the frame the rest needs: this
	 * lcore's cache holds a page. */
	if (unlikely(cache == NULL || cache->len == 0))
		return pp_alloc_slow(pool, lcore, cache);
	if (unlikely(rte_mempool_generic_get(pool->mp, &obj, 1, cache) != 0))
		return pp_alloc_slow(pool, lcore, cache);
	pp_count_lcore(pool, lcore, PP_CTR_ALLOCS, 1);
	return pp_hand_out(obj);
}

int
usva_page_alloc_bulk(struct usva_page_pool *pool, void **pages,
		     unsigned int n)
{
	unsigned int i, zeroed;

	if (n == 0)
		return 0;
	if (usva_fail_point("page_alloc"))
		return -ENOMEM;
	/* The mempool fills pages[] with descriptors, all or none; they are
	 * then swapped for their pages in place. */
	if (unlikely(rte_mempool_get_bulk(pool->mp, pages, n) != 0)) {
		zeroed = pp_zero_dirty(pool, n);
		pp_count(pool, PP_CTR_ZEROED_INLINE, zeroed);
		if (zeroed == 0 ||
		    rte_mempool_get_bulk(pool->mp, pages, n) != 0) {
			pp_count(pool, PP_CTR_ALLOC_FAILS, 1);
			return -ENOMEM;
		}
	}
	for (i = 0; i < n; i++)
		pages[i] = pp_hand_out(pages[i]);
	pp_count(pool, PP_CTR_ALLOCS, n);
	return 0;
}

#ifdef USVA_DEBUG
/* Debug builds check the caller's promise that a page is zero. */
static void
pp_check_zeroed(struct usva_page_pool *pool, struct pp_desc *d)
{
	const uint64_t *w = d->va;

	for (size_t i = 0; i < pool->page_size / sizeof(*w); i++) {
		if (w[i] != 0) {
			USVA_LOG_RATELIMITED(ERR, pool,
				"%s: page %p freed as zeroed is not zero",
				pool->name, d->va);
			pp_zero(pool, d);
			return;
		}
	}
}
#else
static inline void
pp_check_zeroed(struct usva_page_pool *pool, struct pp_desc *d)
{
	RTE_SET_USED(pool);
	RTE_SET_USED(d);
}
#endif

void
usva_page_free(struct usva_page_pool *pool, void *page, bool zeroed)
{
	struct pp_desc *d;

	if (page == NULL)
		return;
	d = pp_desc_of(pool, page);
	if (unlikely(d == NULL || d->va != page)) {
		USVA_LOG_RATELIMITED(ERR, pool,
				     "%s: free of %p: not a page of the pool",
				     pool->name, page);
		return;
	}
	if (unlikely(!(__atomic_load_n(&d->flags, __ATOMIC_RELAXED) &
		       PP_DESC_OUT))) {
		USVA_LOG_RATELIMITED(ERR, pool,
				     "%s: double free of page %p ignored",
				     pool->name, page);
		return;
	}
	__atomic_store_n(&d->flags, 0, __ATOMIC_RELAXED);
	if (zeroed) {
		pp_check_zeroed(pool, d);
		rte_mempool_put(pool->mp, d);
		return;
	}
	/* Cannot be full: it holds at most every page of the pool. */
	if (unlikely(rte_ring_enqueue(pool->dirty, d) != 0)) {
		pp_zero(pool, d);
		rte_mempool_put(pool->mp, d);
	}
}

unsigned int
usva_page_pool_refill(struct usva_page_pool *pool, unsigned int max)
{
	return pp_zero_dirty(pool, max);
}

bool
usva_page_pool_contains(const struct usva_page_pool *pool, const void *p)
{
	return (uintptr_t)p - pool->base < pool->len;
}

uint64_t *
usva_page_priv(struct usva_page_pool *pool, const void *page)
{
	struct pp_desc *d = pp_desc_of(pool, page);

	return likely(d != NULL) ? &d->priv : NULL;
}

uint64_t
usva_page_pool_page_size(const struct usva_page_pool *pool)
{
	return pool->page_size;
}

void
usva_page_pool_stats(const struct usva_page_pool *pool,
		     struct usva_page_pool_stats *st)
{
	uint64_t sum[PP_CTR_MAX] = { 0 };
	uint64_t used;

	for (unsigned int i = 0; i <= RTE_MAX_LCORE; i++)
		for (unsigned int c = 0; c < PP_CTR_MAX; c++)
			sum[c] += __atomic_load_n(&pool->ctr[i].v[c],
						  __ATOMIC_RELAXED);
	memset(st, 0, sizeof(*st));
	st->capacity = pool->nr_pages;
	st->free = rte_mempool_avail_count(pool->mp);
	st->dirty = rte_ring_count(pool->dirty);
	/* The two counts are read at different moments; never underflow. */
	used = st->free + st->dirty;
	st->in_use = used < st->capacity ? st->capacity - used : 0;
	st->allocs = sum[PP_CTR_ALLOCS];
	st->alloc_fails = sum[PP_CTR_ALLOC_FAILS];
	st->zeroed_inline = sum[PP_CTR_ZEROED_INLINE];
	st->setup_ns = pool->setup_ns;
}

/* ---- configuration ----------------------------------------------------- */

static int
pp_check_node(int32_t node)
{
	if (node == -1)
		return 0;
	if (node < -1 || node > PP_MAX_NODE) {
		USVA_LOG(ERR, pool, "numa_node %d is invalid", node);
		return -EINVAL;
	}
	if (numa_available() < 0) {
		/* Without NUMA support the machine is node 0. */
		if (node == 0)
			return 0;
	} else if (node <= numa_max_node() &&
		   numa_bitmask_isbitset(numa_all_nodes_ptr, node)) {
		return 0;
	}
	USVA_LOG(ERR, pool, "numa_node %d is not a node with memory", node);
	return -EINVAL;
}

static int
pp_check_name(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strnlen(name, RTE_MEMPOOL_NAMESIZE);
	if (len == 0 || len >= RTE_MEMPOOL_NAMESIZE) {
		USVA_LOG(ERR, pool, "name must be 1 to %zu characters",
			 (size_t)RTE_MEMPOOL_NAMESIZE - 1);
		return -EINVAL;
	}
	if (rte_mempool_lookup(name) != NULL) {
		USVA_LOG(ERR, pool, "name %s is already in use", name);
		return -EEXIST;
	}
	return 0;
}

static int
pp_check_geometry(uint32_t page_shift, uint32_t nr_pages)
{
	uint64_t max;

	if (page_shift != PP_SHIFT_4K && page_shift != PP_SHIFT_2M) {
		USVA_LOG(ERR, pool, "page_shift %u: must be %d or %d",
			 page_shift, PP_SHIFT_4K, PP_SHIFT_2M);
		return -EINVAL;
	}
	max = UINT64_C(1) << (PP_MAX_BYTES_SHIFT - page_shift);
	if (nr_pages == 0 || nr_pages > max) {
		USVA_LOG(ERR, pool, "nr_pages %u: must be 1 to %" PRIu64,
			 nr_pages, max);
		return -EINVAL;
	}
	return 0;
}

/*
 * Load and validate the caller's config into @p c. Mandatory fields end at
 * nr_pages; a caller too old to pass numa_node gets -1 (local), the others
 * read as zero (no cache, generated name).
 */
static int
pp_config_load(const struct usva_page_pool_config *cfg,
	       struct usva_page_pool_config *c)
{
	const size_t node_end =
		USVA_OFFSETOFEND(struct usva_page_pool_config, numa_node);
	int rc;

	rc = usva_struct_load(c, sizeof(*c), cfg,
			      USVA_OFFSETOFEND(struct usva_page_pool_config,
					       nr_pages),
			      "usva_page_pool_config");
	if (rc == 0 && c->size < node_end)
		c->numa_node = -1;
	if (rc == 0)
		rc = usva_check_flags(c->flags, 0, "usva_page_pool_config");
	if (rc == 0)
		rc = usva_check_reserved(c->reserved, sizeof(c->reserved),
					 "usva_page_pool_config");
	if (rc == 0)
		rc = pp_check_geometry(c->page_shift, c->nr_pages);
	if (rc == 0)
		rc = pp_check_node(c->numa_node);
	if (rc == 0)
		rc = pp_check_name(c->name);
	return rc;
}

/* Pick a generated name nobody uses yet ("usva_pp_<n>"). */
static void
pp_gen_name(char *buf, size_t size)
{
	do {
		uint32_t n = __atomic_fetch_add(&pp_name_seq, 1,
						__ATOMIC_RELAXED);
		snprintf(buf, size, "usva_pp_%u", n);
	} while (rte_mempool_lookup(buf) != NULL);
}

/*
 * DPDK accepts a cache only up to RTE_MEMPOOL_CACHE_MAX_SIZE and while its
 * flush threshold (1.5 x size) fits the pool; clamp rather than fail.
 */
static unsigned int
pp_cache_size(uint32_t want, uint32_t nr_pages)
{
	unsigned int c = RTE_MIN(want, (uint32_t)RTE_MEMPOOL_CACHE_MAX_SIZE);

	while (c > 0 && c * 3 / 2 > nr_pages)
		c--;
	return c;
}

/* ---- the memory region ------------------------------------------------- */

/*
 * Reserve an address range of pool->len bytes aligned to @p align: map
 * @p align more than needed when mmap's own 4 KiB alignment is not enough,
 * and give back the slack on both sides.
 */
static int
pp_region_map(struct usva_page_pool *pool, size_t align)
{
	size_t span = pool->len + (align > PP_4K ? align : 0);
	uint8_t *raw, *base, *end;

	if (usva_fail_point("pool_mmap")) {
		raw = MAP_FAILED;
		errno = ENOMEM;
	} else {
		raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (raw == MAP_FAILED) {
		USVA_LOG(ERR, pool, "%s: mmap of %zu bytes: %s", pool->name,
			 span, strerror(errno));
		return -ENOMEM;
	}
	base = RTE_PTR_ALIGN_CEIL(raw, align);
	end = base + pool->len;
	if (base > raw)
		munmap(raw, base - raw);
	if (raw + span > end)
		munmap(end, raw + span - end);
	pool->base = (uintptr_t)base;
	return 0;
}

/*
 * Bind the range to its node before the first touch: a node the caller
 * asked for strictly (MPOL_BIND), the local node as a preference. Failure
 * to bind (a kernel or sandbox without mbind) leaves the pages usable and
 * is only logged.
 */
static void
pp_region_place(struct usva_page_pool *pool, int32_t want)
{
	unsigned long mask[(PP_MAX_NODE + 1) / (8 * sizeof(unsigned long))];
	int node = want, mode = MPOL_BIND;

	pool->node = -1;
	if (numa_available() < 0)
		return;
	if (node < 0) {
		node = numa_node_of_cpu(sched_getcpu());
		mode = MPOL_PREFERRED;
	}
	if (node < 0 || node > PP_MAX_NODE)
		return;
	memset(mask, 0, sizeof(mask));
	mask[node / (8 * sizeof(mask[0]))] |=
		1UL << (node % (8 * sizeof(mask[0])));
	/* maxnode is one more than the bits in mask (the kernel drops one). */
	if (mbind((void *)pool->base, pool->len, mode, mask,
		  8 * sizeof(mask) + 1, 0) != 0) {
		USVA_LOG(WARNING, pool, "%s: mbind to node %d: %s", pool->name,
			 node, strerror(errno));
		return;
	}
	pool->node = node;
}

/*
 * Advice, each best-effort: huge pages make the first touch one fault per
 * 2 MiB instead of 512 (and let 2 MiB pool pages be real huge pages);
 * DONTFORK keeps a fork() from turning the pages copy-on-write, after which
 * the next write would fault.
 */
static void
pp_region_advise(struct usva_page_pool *pool)
{
	void *base = (void *)pool->base;

	if (pool->len >= PP_HUGE_SIZE)
		(void)madvise(base, pool->len, MADV_HUGEPAGE);
	(void)madvise(base, pool->len, MADV_DONTFORK);
}

/*
 * Fault every page in now so the hot path never faults. One write of zero
 * per 4 KiB is enough: the kernel hands out anonymous memory zeroed, and a
 * full memset would zero it a second time (a quarter more setup time with
 * huge pages). It must be a write: a read would map the shared zero page,
 * and the first real write would still fault. mlock, best-effort within
 * RLIMIT_MEMLOCK, keeps the pages from being swapped out later.
 */
static void
pp_region_touch(struct usva_page_pool *pool)
{
	volatile uint8_t *p = (volatile uint8_t *)pool->base;

	for (size_t off = 0; off < pool->len; off += PP_4K)
		p[off] = 0;
	if (mlock((void *)pool->base, pool->len) != 0)
		USVA_LOG(DEBUG, pool,
			 "%s: pages not locked (%s): they may be swapped out",
			 pool->name, strerror(errno));
}

static int
pp_region_create(struct usva_page_pool *pool, int32_t want_node)
{
	size_t align = pool->page_size;
	int rc;

	if (pool->len >= PP_HUGE_SIZE)
		align = RTE_MAX(align, (size_t)PP_HUGE_SIZE);
	rc = pp_region_map(pool, align);
	if (rc)
		return rc;
	pp_region_place(pool, want_node);
	pp_region_advise(pool);
	pp_region_touch(pool);
	return 0;
}

static void
pp_region_destroy(struct usva_page_pool *pool)
{
	munmap((void *)pool->base, pool->len);
}

/* ---- descriptors and rings --------------------------------------------- */

static void
pp_desc_init(struct rte_mempool *mp, void *opaque, void *obj,
	     unsigned int idx)
{
	struct usva_page_pool *pool = opaque;
	struct pp_desc *d = obj;

	RTE_SET_USED(mp);
	d->va = (void *)(pool->base + ((uintptr_t)idx << pool->page_shift));
	d->priv = 0;
	d->flags = 0;
	pool->desc_of_page[idx] = d;
}

static struct rte_mempool *
pp_mempool_try(struct usva_page_pool *pool, unsigned int cache, int socket)
{
	return rte_mempool_create(pool->name, pool->nr_pages,
				  sizeof(struct pp_desc), cache, 0,
				  NULL, NULL, NULL, NULL, socket,
				  RTE_MEMPOOL_F_NO_IOVA_CONTIG);
}

/*
 * The descriptor mempool, on the pages' node when DPDK has memory there
 * (without hugepages it may have memory on one socket only), else anywhere.
 */
static int
pp_mempool_create(struct usva_page_pool *pool, uint32_t want_cache)
{
	unsigned int cache = pp_cache_size(want_cache, pool->nr_pages);
	int socket = pool->node >= 0 ? pool->node : SOCKET_ID_ANY;
	unsigned int n;

	if (cache != want_cache)
		USVA_LOG(DEBUG, pool, "%s: cache_size %u clamped to %u",
			 pool->name, want_cache, cache);
	if (usva_fail_point("pool_mempool")) {
		pool->mp = NULL;
		rte_errno = ENOMEM;
	} else {
		pool->mp = pp_mempool_try(pool, cache, socket);
		if (pool->mp == NULL && rte_errno == ENOMEM &&
		    socket != SOCKET_ID_ANY)
			pool->mp = pp_mempool_try(pool, cache, SOCKET_ID_ANY);
	}
	if (pool->mp == NULL) {
		int err = rte_errno == EEXIST ? EEXIST : ENOMEM;

		USVA_LOG(ERR, pool, "%s: rte_mempool_create: %s", pool->name,
			 rte_strerror(rte_errno));
		return -err;
	}
	/* Not yet published: nobody else can get a descriptor meanwhile. */
	n = rte_mempool_obj_iter(pool->mp, pp_desc_init, pool);
	RTE_VERIFY(n == pool->nr_pages);
	return 0;
}

/*
 * The dirty ring lives in usva-allocated memory rather than a named
 * memzone: it needs no name of its own, and fail-nth covers it.
 */
static int
pp_dirty_create(struct usva_page_pool *pool)
{
	ssize_t sz = rte_ring_get_memsize(rte_align32pow2(pool->nr_pages + 1));
	int rc;

	if (sz < 0)
		return -EINVAL;
	pool->dirty = usva_zmalloc_aligned(sz, RTE_CACHE_LINE_SIZE);
	if (pool->dirty == NULL) {
		USVA_LOG(ERR, pool, "%s: no memory for the dirty ring",
			 pool->name);
		return -ENOMEM;
	}
	/* Flags 0: multi-producer, multi-consumer. */
	rc = rte_ring_init(pool->dirty, pool->name, pool->nr_pages,
			   RING_F_EXACT_SZ);
	if (rc) {
		USVA_LOG(ERR, pool, "%s: rte_ring_init: %s", pool->name,
			 strerror(-rc));
		usva_free(pool->dirty);
		pool->dirty = NULL;
	}
	return rc;
}

/* ---- create / destroy -------------------------------------------------- */

static uint64_t
pp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
usva_page_pool_create(const struct usva_page_pool_config *cfg,
		      struct usva_page_pool **out)
{
	struct usva_page_pool_config c;
	struct usva_page_pool *pool;
	uint64_t t0 = pp_now_ns();
	int rc;

	if (out == NULL) {
		USVA_LOG(ERR, pool, "usva_page_pool_create: NULL out");
		return -EINVAL;
	}
	*out = NULL;
	rc = pp_config_load(cfg, &c);
	if (rc)
		return rc;

	pool = usva_zmalloc_aligned(sizeof(*pool), RTE_CACHE_LINE_SIZE);
	if (pool == NULL) {
		USVA_LOG(ERR, pool, "no memory for a page pool");
		return -ENOMEM;
	}
	if (c.name != NULL)
		snprintf(pool->name, sizeof(pool->name), "%s", c.name);
	else
		pp_gen_name(pool->name, sizeof(pool->name));
	pool->page_shift = c.page_shift;
	pool->page_size = UINT64_C(1) << c.page_shift;
	pool->nr_pages = c.nr_pages;
	pool->len = (size_t)c.nr_pages << c.page_shift;

	pool->desc_of_page = usva_malloc(sizeof(*pool->desc_of_page) *
					 c.nr_pages);
	if (pool->desc_of_page == NULL) {
		USVA_LOG(ERR, pool, "%s: no memory for the page index",
			 pool->name);
		rc = -ENOMEM;
		goto err_pool;
	}
	rc = pp_region_create(pool, c.numa_node);
	if (rc)
		goto err_index;
	rc = pp_mempool_create(pool, c.cache_size);
	if (rc)
		goto err_region;
	rc = pp_dirty_create(pool);
	if (rc)
		goto err_mempool;

	pool->setup_ns = pp_now_ns() - t0;
	USVA_LOG(DEBUG, pool,
		 "%s: %u pages of %" PRIu64 " bytes at %p, node %d, %" PRIu64
		 " ns", pool->name, pool->nr_pages, pool->page_size,
		 (void *)pool->base, pool->node, pool->setup_ns);
	*out = pool;
	return 0;

err_mempool:
	rte_mempool_free(pool->mp);
err_region:
	pp_region_destroy(pool);
err_index:
	usva_free(pool->desc_of_page);
err_pool:
	usva_free(pool);
	return rc;
}

void
usva_page_pool_destroy(struct usva_page_pool *pool)
{
	struct usva_page_pool_stats st;

	if (pool == NULL)
		return;
	usva_page_pool_stats(pool, &st);
	if (st.in_use != 0)
		USVA_LOG(WARNING, pool,
			 "%s: destroyed with %" PRIu64
			 " pages still handed out", pool->name, st.in_use);
	usva_free(pool->dirty);
	rte_mempool_free(pool->mp);
	pp_region_destroy(pool);
	usva_free(pool->desc_of_page);
	usva_free(pool);
}

void
usva_page_pool_region(const struct usva_page_pool *pool, void **base,
		      uint64_t *len)
{
	*base = (void *)pool->base;
	*len = pool->len;
}
