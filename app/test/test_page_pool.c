/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Page pools: allocation properties, dirty pages and their re-zeroing (off
 * the hot path and inline), bulk all-or-nothing, 2 MiB pools, counters,
 * config validation, two lcores at once, fail-nth over create, and a perf
 * case.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "usva_alloc.h"
#include "usva_page_pool.h"
#include "usva_struct.h"
#include "test.h"

#define SZ_4K	4096ul
#define SZ_2M	(2ul << 20)

/* Assert a call's return code, jumping to the case's `out` label. */
#define PP_ASSERT_OK_OUT(expr)						\
	do {								\
		int rc__ = (expr);					\
		TEST_ASSERT_GOTO(rc__ == 0, out, "returned %d (%s)",	\
				 rc__, strerror(-rc__));		\
	} while (0)

#define PP_ASSERT_ERR_OUT(expr, err)					\
	do {								\
		int rc__ = (expr);					\
		TEST_ASSERT_GOTO(rc__ == -(err), out,			\
				 "returned %d, expected -%s", rc__, #err); \
	} while (0)

static int
pool_new(struct usva_page_pool **pool, uint32_t shift, uint32_t nr_pages,
	 uint32_t cache, const char *name)
{
	struct usva_page_pool_config cfg = {
		.size = sizeof(cfg),
		.page_shift = shift,
		.nr_pages = nr_pages,
		.numa_node = -1,
		.cache_size = cache,
		.name = name,
	};

	return usva_page_pool_create(&cfg, pool);
}

static bool
mem_is(const void *p, size_t len, uint8_t byte)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != byte)
			return false;
	return true;
}

static bool
aligned(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

static void
free_pages(struct usva_page_pool *pool, void **pages, unsigned int n,
	   bool zeroed)
{
	for (unsigned int i = 0; i < n; i++)
		usva_page_free(pool, pages[i], zeroed);
}

/*
 * Check what every allocated page must be: aligned, inside the pool, all
 * zero, its private word zero. Then dirty it and its word, so that a later
 * allocation that hands it out unzeroed is caught.
 */
static int
check_fresh_page(struct usva_page_pool *pool, void *pg)
{
	uint64_t psz = usva_page_pool_page_size(pool);
	uint64_t *priv;

	TEST_ASSERT(pg != NULL, "no page");
	TEST_ASSERT(aligned(pg, psz), "page %p not aligned to %" PRIu64,
		    pg, psz);
	TEST_ASSERT(usva_page_pool_contains(pool, pg), "page %p outside", pg);
	TEST_ASSERT(usva_page_pool_contains(pool, (char *)pg + psz - 1),
		    "end of page %p outside", pg);
	TEST_ASSERT(mem_is(pg, psz, 0), "page %p not zero", pg);
	priv = usva_page_priv(pool, pg);
	TEST_ASSERT(priv != NULL && *priv == 0, "priv of %p not zero", pg);
	memset(pg, 0xa5, psz);
	*priv = 0xfeedfacecafef00dull;
	return TEST_SUCCESS;
}

/* ---- basics ------------------------------------------------------------ */

USVA_TEST(fast, page_pool_create_destroy)
{
	struct usva_page_pool *pool = NULL, *anon1 = NULL, *anon2 = NULL;
	struct usva_page_pool_stats st;
	struct usva_page_pool *def = usva_page_pool_default();
	void *pg;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 12, 16, 4, "pp_t_create"));
	TEST_ASSERT_GOTO(pool != NULL, out, "no pool");
	TEST_ASSERT_GOTO(rte_mempool_lookup("pp_t_create") != NULL, out,
			 "the pool's name is not taken");
	TEST_ASSERT_GOTO(usva_page_pool_page_size(pool) == SZ_4K, out,
			 "page size");
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.capacity == 16 && st.free == 16 && st.dirty == 0 &&
			 st.in_use == 0 && st.allocs == 0 &&
			 st.alloc_fails == 0 && st.zeroed_inline == 0, out,
			 "fresh stats %" PRIu64 "/%" PRIu64 "/%" PRIu64,
			 st.capacity, st.free, st.in_use);
	TEST_ASSERT_GOTO(st.setup_ns > 0, out, "setup time not recorded");
	usva_page_pool_destroy(pool);
	pool = NULL;
	TEST_ASSERT(rte_mempool_lookup("pp_t_create") == NULL,
		    "name still taken after destroy");

	/* Generated names are unique. */
	PP_ASSERT_OK_OUT(pool_new(&anon1, 12, 1, 0, NULL));
	PP_ASSERT_OK_OUT(pool_new(&anon2, 12, 1, 0, NULL));
	TEST_ASSERT_GOTO(anon1 != NULL && anon2 != NULL && anon1 != anon2,
			 out, "generated names");

	/* The default pool from usva_init() is a working 4 KiB pool. */
	TEST_ASSERT_GOTO(def != NULL, out, "no default pool");
	TEST_ASSERT_GOTO(usva_page_pool_page_size(def) == SZ_4K, out,
			 "default page size");
	pg = usva_page_alloc(def);
	TEST_ASSERT_GOTO(pg != NULL && usva_page_pool_contains(def, pg) &&
			 mem_is(pg, SZ_4K, 0), out, "default pool page");
	usva_page_free(def, pg, true);

	usva_page_pool_destroy(NULL);
	ret = TEST_SUCCESS;
out:
	usva_page_pool_destroy(anon2);
	usva_page_pool_destroy(anon1);
	usva_page_pool_destroy(pool);
	return ret;
}

#define EXH_PAGES 64

/* Every page is good and distinct; exhaustion fails and is counted. */
USVA_TEST(fast, page_pool_alloc_exhaust)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *pages[EXH_PAGES];
	bool seen[EXH_PAGES] = { false };
	unsigned int n = 0;
	int ret = TEST_FAILED;
	void *base = NULL;

	TEST_ASSERT_OK(pool_new(&pool, 12, EXH_PAGES, 16, NULL));
	for (n = 0; n < EXH_PAGES; n++) {
		pages[n] = usva_page_alloc(pool);
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) ==
				 TEST_SUCCESS, out, "page %u", n);
		if (base == NULL || pages[n] < base)
			base = pages[n];
	}
	/* Distinct pages: the lowest one is the base; index by offset. */
	for (unsigned int i = 0; i < n; i++) {
		size_t idx = ((uintptr_t)pages[i] - (uintptr_t)base) / SZ_4K;

		TEST_ASSERT_GOTO(idx < EXH_PAGES && !seen[idx], out,
				 "page %p handed out twice or out of range",
				 pages[i]);
		seen[idx] = true;
	}
	TEST_ASSERT_GOTO(usva_page_alloc(pool) == NULL, out,
			 "allocation from an empty pool");
	TEST_ASSERT_GOTO(usva_page_alloc(pool) == NULL, out,
			 "allocation from an empty pool");
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.allocs == EXH_PAGES && st.alloc_fails == 2 &&
			 st.free == 0 && st.in_use == EXH_PAGES, out,
			 "stats after exhaustion: allocs %" PRIu64 " fails %"
			 PRIu64, st.allocs, st.alloc_fails);

	/* A page given back zeroed (and its word left set) is allocatable
	 * again, zero, with a zero word. */
	memset(pages[n - 1], 0, SZ_4K);
	usva_page_free(pool, pages[--n], true);
	pages[n] = usva_page_alloc(pool);
	TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) == TEST_SUCCESS,
			 out, "refilled page");
	n++;

	TEST_ASSERT_GOTO(!usva_page_pool_contains(pool, &st), out,
			 "a stack address is in the pool");
	TEST_ASSERT_GOTO(!usva_page_pool_contains(pool, NULL), out,
			 "NULL is in the pool");
	TEST_ASSERT_GOTO(!usva_page_pool_contains(pool,
			 (char *)base + EXH_PAGES * SZ_4K), out,
			 "the end of the pool is in it");

	free_pages(pool, pages, n, false);
	n = 0;
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.in_use == 0 && st.dirty == EXH_PAGES, out,
			 "after free: in_use %" PRIu64 " dirty %" PRIu64,
			 st.in_use, st.dirty);
	ret = TEST_SUCCESS;
out:
	free_pages(pool, pages, n, false);
	usva_page_pool_destroy(pool);
	return ret;
}

#define DIRTY_PAGES 8

/* Dirty pages come back zero after refill, with a zero word. */
USVA_TEST(fast, page_pool_dirty_refill)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *pages[DIRTY_PAGES];
	unsigned int n;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 12, DIRTY_PAGES, 0, NULL));
	for (n = 0; n < DIRTY_PAGES; n++) {
		pages[n] = usva_page_alloc(pool);
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) ==
				 TEST_SUCCESS, out, "page %u", n);
	}
	free_pages(pool, pages, n, false);
	n = 0;
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.dirty == DIRTY_PAGES && st.free == 0 &&
			 st.in_use == 0, out, "dirty %" PRIu64, st.dirty);
	TEST_ASSERT_GOTO(usva_page_pool_refill(pool, 3) == 3, out,
			 "refill(3)");
	TEST_ASSERT_GOTO(usva_page_pool_refill(pool, UINT_MAX) ==
			 DIRTY_PAGES - 3, out, "refill(all)");
	TEST_ASSERT_GOTO(usva_page_pool_refill(pool, UINT_MAX) == 0, out,
			 "refill of nothing");
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.dirty == 0 && st.free == DIRTY_PAGES, out,
			 "free %" PRIu64 " after refill", st.free);
	for (n = 0; n < DIRTY_PAGES; n++) {
		pages[n] = usva_page_alloc(pool);
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) ==
				 TEST_SUCCESS, out, "page %u after refill", n);
	}
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.zeroed_inline == 0, out,
			 "refilled pages were zeroed inline");
	ret = TEST_SUCCESS;
out:
	free_pages(pool, pages, n, false);
	usva_page_pool_destroy(pool);
	return ret;
}

/* With no zeroed page left, allocation zeroes a dirty one inline. */
USVA_TEST(fast, page_pool_dirty_inline)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *pages[DIRTY_PAGES];
	void *dirty;
	unsigned int n;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 12, DIRTY_PAGES, 4, NULL));
	for (n = 0; n < DIRTY_PAGES; n++) {
		pages[n] = usva_page_alloc(pool);
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) ==
				 TEST_SUCCESS, out, "page %u", n);
	}
	/* One page back dirty: the only one the single path can find. */
	dirty = pages[--n];
	usva_page_free(pool, dirty, false);
	pages[n] = usva_page_alloc(pool);
	TEST_ASSERT_GOTO(pages[n] == dirty, out, "not the dirty page");
	TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) == TEST_SUCCESS,
			 out, "inline-zeroed page");
	n++;
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.zeroed_inline == 1 && st.dirty == 0, out,
			 "zeroed_inline %" PRIu64, st.zeroed_inline);

	/* The bulk path too: three back dirty, three taken at once. */
	n -= 3;
	free_pages(pool, &pages[n], 3, false);
	PP_ASSERT_OK_OUT(usva_page_alloc_bulk(pool, &pages[n], 3));
	for (unsigned int i = n; i < n + 3; i++)
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[i]) ==
				 TEST_SUCCESS, out, "bulk page %u", i);
	n += 3;
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.zeroed_inline == 4 && st.in_use == DIRTY_PAGES,
			 out, "zeroed_inline %" PRIu64, st.zeroed_inline);
	TEST_ASSERT_GOTO(usva_page_alloc(pool) == NULL, out, "empty pool");
	ret = TEST_SUCCESS;
out:
	free_pages(pool, pages, n, false);
	usva_page_pool_destroy(pool);
	return ret;
}

#define BULK_PAGES 32

/* Bulk allocation is all or nothing. */
USVA_TEST(fast, page_pool_bulk)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *pages[BULK_PAGES + 1];
	unsigned int n = 0;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 12, BULK_PAGES, 8, NULL));
	PP_ASSERT_OK_OUT(usva_page_alloc_bulk(pool, pages, 0));
	PP_ASSERT_OK_OUT(usva_page_alloc_bulk(pool, pages, 20));
	n = 20;
	PP_ASSERT_ERR_OUT(usva_page_alloc_bulk(pool, &pages[n], 13),
			      ENOMEM);
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.in_use == 20 && st.free == BULK_PAGES - 20 &&
			 st.alloc_fails == 1, out,
			 "a failed bulk took pages: in_use %" PRIu64,
			 st.in_use);
	PP_ASSERT_OK_OUT(usva_page_alloc_bulk(pool, &pages[n], 12));
	n += 12;
	PP_ASSERT_ERR_OUT(usva_page_alloc_bulk(pool, &pages[n], 1),
			      ENOMEM);
	for (unsigned int i = 0; i < n; i++) {
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[i]) ==
				 TEST_SUCCESS, out, "bulk page %u", i);
		for (unsigned int j = 0; j < i; j++)
			TEST_ASSERT_GOTO(pages[i] != pages[j], out,
					 "page %p twice", pages[i]);
	}
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.allocs == BULK_PAGES && st.alloc_fails == 2 &&
			 st.in_use == BULK_PAGES, out, "allocs %" PRIu64,
			 st.allocs);

	/* More than the pool has fails cleanly too, from a full pool. */
	free_pages(pool, pages, n, false);
	n = 0;
	PP_ASSERT_ERR_OUT(usva_page_alloc_bulk(pool, pages,
						   BULK_PAGES + 1), ENOMEM);
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.in_use == 0 && st.free + st.dirty == BULK_PAGES,
			 out, "in_use %" PRIu64, st.in_use);
	ret = TEST_SUCCESS;
out:
	free_pages(pool, pages, n, false);
	usva_page_pool_destroy(pool);
	return ret;
}

#define HUGE_PAGES 4

USVA_TEST(fast, page_pool_2m)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *pages[HUGE_PAGES];
	unsigned int n = 0;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 21, HUGE_PAGES, 0, "pp_t_2m"));
	TEST_ASSERT_GOTO(usva_page_pool_page_size(pool) == SZ_2M, out,
			 "page size");
	for (n = 0; n < HUGE_PAGES; n++) {
		pages[n] = usva_page_alloc(pool);
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[n]) ==
				 TEST_SUCCESS, out, "2 MiB page %u", n);
	}
	TEST_ASSERT_GOTO(usva_page_alloc(pool) == NULL, out, "fifth page");
	/* The word covers the whole page, any address inside it. */
	TEST_ASSERT_GOTO(usva_page_priv(pool, (char *)pages[0] + SZ_2M - 1) ==
			 usva_page_priv(pool, pages[0]), out, "priv lookup");
	free_pages(pool, pages, n, false);
	n = 0;
	TEST_ASSERT_GOTO(usva_page_pool_refill(pool, UINT_MAX) == HUGE_PAGES,
			 out, "refill");
	PP_ASSERT_OK_OUT(usva_page_alloc_bulk(pool, pages, HUGE_PAGES));
	n = HUGE_PAGES;
	for (unsigned int i = 0; i < n; i++)
		TEST_ASSERT_GOTO(check_fresh_page(pool, pages[i]) ==
				 TEST_SUCCESS, out, "refilled 2 MiB page %u",
				 i);
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.capacity == HUGE_PAGES && st.in_use == HUGE_PAGES,
			 out, "stats");
	ret = TEST_SUCCESS;
out:
	free_pages(pool, pages, n, false);
	usva_page_pool_destroy(pool);
	return ret;
}

/* Counters follow a scripted sequence exactly, and always add up. */
USVA_TEST(fast, page_pool_stats)
{
	static const struct {
		char op;		/* a: alloc, z: free zeroed, d: free
					 * dirty, r: refill 2 */
		uint64_t free, dirty, in_use, allocs, fails, inl;
	} script[] = {
		{ 'a', 3, 0, 1, 1, 0, 0 },
		{ 'a', 2, 0, 2, 2, 0, 0 },
		{ 'a', 1, 0, 3, 3, 0, 0 },
		{ 'a', 0, 0, 4, 4, 0, 0 },
		{ 'a', 0, 0, 4, 4, 1, 0 },
		{ 'd', 0, 1, 3, 4, 1, 0 },
		{ 'd', 0, 2, 2, 4, 1, 0 },
		{ 'a', 0, 1, 3, 5, 1, 1 },
		{ 'z', 1, 1, 2, 5, 1, 1 },
		{ 'd', 1, 2, 1, 5, 1, 1 },
		{ 'r', 3, 0, 1, 5, 1, 1 },
		{ 'a', 2, 0, 2, 6, 1, 1 },
	};
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *held[4];
	unsigned int n = 0;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 12, 4, 0, NULL));
	for (unsigned int i = 0; i < RTE_DIM(script); i++) {
		void *pg;

		switch (script[i].op) {
		case 'a':
			pg = usva_page_alloc(pool);
			if (pg != NULL)
				held[n++] = pg;
			break;
		case 'z':
			memset(held[--n], 0, SZ_4K);
			usva_page_free(pool, held[n], true);
			break;
		case 'd':
			memset(held[--n], 0x3c, 64);
			usva_page_free(pool, held[n], false);
			break;
		case 'r':
			usva_page_pool_refill(pool, 2);
			break;
		}
		usva_page_pool_stats(pool, &st);
		TEST_ASSERT_GOTO(st.capacity == 4 &&
				 st.free + st.dirty + st.in_use == 4, out,
				 "step %u: counts do not add up", i);
		TEST_ASSERT_GOTO(st.free == script[i].free &&
				 st.dirty == script[i].dirty &&
				 st.in_use == script[i].in_use &&
				 st.in_use == n &&
				 st.allocs == script[i].allocs &&
				 st.alloc_fails == script[i].fails &&
				 st.zeroed_inline == script[i].inl, out,
				 "step %u (%c): free %" PRIu64 " dirty %" PRIu64
				 " in_use %" PRIu64 " allocs %" PRIu64
				 " fails %" PRIu64 " inline %" PRIu64, i,
				 script[i].op, st.free, st.dirty, st.in_use,
				 st.allocs, st.alloc_fails, st.zeroed_inline);
	}
	ret = TEST_SUCCESS;
out:
	free_pages(pool, held, n, false);
	usva_page_pool_destroy(pool);
	return ret;
}

/* Frees of what is not a handed-out page are ignored, never corrupting. */
USVA_TEST(fast, page_pool_bad_free)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	void *a = NULL, *b = NULL, *c = NULL;
	uint64_t local;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(pool_new(&pool, 12, 4, 0, NULL));
	a = usva_page_alloc(pool);
	TEST_ASSERT_GOTO(a != NULL, out, "alloc");
	usva_page_free(pool, NULL, false);
	usva_page_free(pool, &local, false);
	usva_page_free(pool, (char *)a + 8, false);
	TEST_ASSERT_GOTO(usva_page_priv(pool, &local) == NULL, out,
			 "priv of a foreign address");
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.in_use == 1 && st.dirty == 0, out,
			 "a bad free changed the pool");

	usva_page_free(pool, a, false);
	usva_page_free(pool, a, false);		/* double free */
	usva_page_free(pool, a, true);		/* and again */
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.in_use == 0 && st.dirty == 1 && st.free == 3, out,
			 "double free: dirty %" PRIu64 " free %" PRIu64,
			 st.dirty, st.free);
	/* Five allocations: four distinct pages, then none. */
	a = usva_page_alloc(pool);
	b = usva_page_alloc(pool);
	c = usva_page_alloc(pool);
	TEST_ASSERT_GOTO(a && b && c && a != b && b != c && a != c, out,
			 "pages");
	{
		void *d = usva_page_alloc(pool);

		TEST_ASSERT_GOTO(d != NULL && d != a && d != b && d != c, out,
				 "fourth page");
		TEST_ASSERT_GOTO(usva_page_alloc(pool) == NULL, out,
				 "a fifth page from a pool of four");
		usva_page_free(pool, d, false);
	}
	ret = TEST_SUCCESS;
out:
	usva_page_free(pool, a, false);
	usva_page_free(pool, b, false);
	usva_page_free(pool, c, false);
	usva_page_pool_destroy(pool);
	return ret;
}

/* ---- configuration ----------------------------------------------------- */

/* A caller built against a later, larger version of the struct. */
struct cfg_later {
	struct usva_page_pool_config c;
	uint64_t tail[2];
};

#define CFG_MIN USVA_OFFSETOFEND(struct usva_page_pool_config, nr_pages)

USVA_TEST(fast, page_pool_config)
{
	static char long_name[RTE_MEMPOOL_NAMESIZE + 1];
	static char max_name[RTE_MEMPOOL_NAMESIZE];
	const struct {
		const char *what;
		int64_t size;		/* -1: sizeof(struct cfg_later) */
		uint32_t flags, shift, nr;
		int32_t node;
		uint32_t cache;
		const char *name;
		uint64_t reserved, tail;
		int err;
	} t[] = {
		{ "size 0", 0, 0, 12, 1, -1, 0, NULL, 0, 0, EINVAL },
		{ "size below nr_pages", CFG_MIN - 1, 0, 12, 1, -1, 0, NULL, 0,
		  0, EINVAL },
		{ "size at nr_pages", CFG_MIN, 0, 12, 1, -1, 0, NULL, 0, 0, 0 },
		{ "fields past size unread", CFG_MIN, 0, 12, 1, 4096, 0,
		  long_name, 1, 0, 0 },
		{ "this version", sizeof(struct usva_page_pool_config), 0, 12,
		  1, -1, 0, NULL, 0, 0, 0 },
		{ "larger, zero tail", -1, 0, 12, 1, -1, 0, NULL, 0, 0, 0 },
		{ "larger, non-zero tail", -1, 0, 12, 1, -1, 0, NULL, 0, 1,
		  E2BIG },
		{ "unknown flag", -1, 1, 12, 1, -1, 0, NULL, 0, 0, EOPNOTSUPP },
		{ "unknown high flag", -1, 1u << 31, 12, 1, -1, 0, NULL, 0, 0,
		  EOPNOTSUPP },
		{ "reserved", -1, 0, 12, 1, -1, 0, NULL, 1, 0, EINVAL },
		{ "page_shift 0", -1, 0, 0, 1, -1, 0, NULL, 0, 0, EINVAL },
		{ "page_shift 13", -1, 0, 13, 1, -1, 0, NULL, 0, 0, EINVAL },
		{ "page_shift 20", -1, 0, 20, 1, -1, 0, NULL, 0, 0, EINVAL },
		{ "page_shift 30", -1, 0, 30, 1, -1, 0, NULL, 0, 0, EINVAL },
		{ "nr_pages 0", -1, 0, 12, 0, -1, 0, NULL, 0, 0, EINVAL },
		{ "nr_pages 2^24 + 1", -1, 0, 12, (1u << 24) + 1, -1, 0, NULL,
		  0, 0, EINVAL },
		{ "2 MiB nr_pages 2^15 + 1", -1, 0, 21, (1u << 15) + 1, -1, 0,
		  NULL, 0, 0, EINVAL },
		{ "numa_node -2", -1, 0, 12, 1, -2, 0, NULL, 0, 0, EINVAL },
		{ "numa_node 4096", -1, 0, 12, 1, 4096, 0, NULL, 0, 0, EINVAL },
		{ "numa_node 0", -1, 0, 12, 1, 0, 0, NULL, 0, 0, 0 },
		{ "empty name", -1, 0, 12, 1, -1, 0, "", 0, 0, EINVAL },
		{ "name too long", -1, 0, 12, 1, -1, 0, long_name, 0, 0,
		  EINVAL },
		{ "longest name", -1, 0, 12, 1, -1, 0, max_name, 0, 0, 0 },
		{ "cache above DPDK's max", -1, 0, 12, 4096, -1, 100000, NULL,
		  0, 0, 0 },
		{ "cache above the pool", -1, 0, 12, 2, -1, 64, NULL, 0, 0, 0 },
		{ "duplicate name", -1, 0, 12, 1, -1, 0, "usva_default", 0, 0,
		  EEXIST },
	};
	struct usva_page_pool *pool;

	memset(long_name, 'n', sizeof(long_name) - 1);
	memset(max_name, 'm', sizeof(max_name) - 1);
	for (unsigned int i = 0; i < RTE_DIM(t); i++) {
		struct cfg_later w;
		int rc;

		memset(&w, 0, sizeof(w));
		w.c = (struct usva_page_pool_config){
			.size = t[i].size < 0 ? sizeof(w) :
				(uint32_t)t[i].size,
			.flags = t[i].flags,
			.page_shift = t[i].shift,
			.nr_pages = t[i].nr,
			.numa_node = t[i].node,
			.cache_size = t[i].cache,
			.name = t[i].name,
			.reserved = { 0, t[i].reserved },
		};
		w.tail[1] = t[i].tail;
		pool = (void *)&w;	/* must be overwritten */
		rc = usva_page_pool_create(&w.c, &pool);
		if (rc == 0) {
			void *pg = usva_page_alloc(pool);

			usva_page_free(pool, pg, false);
			usva_page_pool_destroy(pool);
			TEST_ASSERT(pg != NULL, "%s: pool gives no page",
				    t[i].what);
		} else {
			TEST_ASSERT(pool == NULL, "%s: *out not cleared",
				    t[i].what);
		}
		TEST_ASSERT(rc == -t[i].err, "%s: returned %d, expected %d",
			    t[i].what, rc, -t[i].err);
	}
	/* A duplicate of a pool made here, not only of the default. */
	{
		struct usva_page_pool *a = NULL, *b = NULL;
		int rc1 = pool_new(&a, 12, 1, 0, "pp_t_dup");
		int rc2 = pool_new(&b, 21, 1, 0, "pp_t_dup");

		usva_page_pool_destroy(b);
		usva_page_pool_destroy(a);
		TEST_ASSERT(rc1 == 0 && rc2 == -EEXIST && b == NULL,
			    "duplicate: %d %d", rc1, rc2);
	}
	TEST_ASSERT_ERR(usva_page_pool_create(NULL, &pool), EFAULT);
	{
		struct usva_page_pool_config cfg = {
			.size = sizeof(cfg), .page_shift = 12, .nr_pages = 1,
		};

		TEST_ASSERT_ERR(usva_page_pool_create(&cfg, NULL), EINVAL);
	}
	return TEST_SUCCESS;
}

/* ---- two lcores -------------------------------------------------------- */

#define CONC_PAGES	96
#define CONC_HOLD	48
#define CONC_ITERS	200000
#define CONC_MAGIC	0x57a3b00000000000ull

struct conc_arg {
	struct usva_page_pool *pool;
	uint64_t rng;
	uint64_t allocs, fails;
	unsigned int got;		/* final phase: pages taken */
	void *pages[CONC_PAGES];	/* final phase */
	char err[160];
};

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* The stamp an lcore writes into the pages it holds: lcore and serial. */
static uint64_t
conc_stamp(uint64_t serial)
{
	return CONC_MAGIC | (uint64_t)rte_lcore_id() << 32 | serial;
}

static bool
conc_take(struct conc_arg *a, void **held, unsigned int *n, uint64_t serial)
{
	struct usva_page_pool *pool = a->pool;
	uint64_t *pg = usva_page_alloc(pool);
	uint64_t *priv;

	if (pg == NULL) {
		a->fails++;
		return true;
	}
	a->allocs++;
	priv = usva_page_priv(pool, pg);
	if (!mem_is(pg, SZ_4K, 0) || *priv != 0) {
		snprintf(a->err, sizeof(a->err),
			 "lcore %u got page %p not zero (word 0x%" PRIx64
			 ", priv 0x%" PRIx64 ")", rte_lcore_id(), (void *)pg,
			 pg[0], *priv);
		usva_page_free(pool, pg, false);
		return false;
	}
	pg[0] = pg[255] = pg[511] = *priv = conc_stamp(serial);
	held[(*n)++] = pg;
	return true;
}

static bool
conc_give(struct conc_arg *a, uint64_t *pg, bool zeroed)
{
	uint64_t want = pg[0];

	if ((want & ~0xffffffffull) != conc_stamp(0) || pg[255] != want ||
	    pg[511] != want || *usva_page_priv(a->pool, pg) != want) {
		snprintf(a->err, sizeof(a->err),
			 "lcore %u: page %p stamps %" PRIx64 " %" PRIx64
			 " %" PRIx64 ": handed out twice?", rte_lcore_id(),
			 (void *)pg, pg[0], pg[255], pg[511]);
		return false;
	}
	if (zeroed)
		pg[0] = pg[255] = pg[511] = 0;
	usva_page_free(a->pool, pg, zeroed);
	return true;
}

/* Random alloc/free on one lcore, checking every page it holds. */
static int
conc_worker(void *arg)
{
	struct conc_arg *a = arg;
	void *held[CONC_HOLD];
	unsigned int n = 0, i;
	bool ok = true;

	for (i = 0; i < CONC_ITERS && ok; i++) {
		uint64_t r = xorshift(&a->rng);

		if (n < CONC_HOLD && (n == 0 || (r & 1))) {
			ok = conc_take(a, held, &n, i);
		} else {
			unsigned int k = (r >> 8) % n;
			void *pg = held[k];

			held[k] = held[--n];
			ok = conc_give(a, pg, r & 2);
		}
		if ((i & 255) == 0)
			usva_page_pool_refill(a->pool, 16);
	}
	while (n > 0 && conc_give(a, held[n - 1], false))
		n--;
	free_pages(a->pool, held, n, false);
	return ok && n == 0 ? 0 : -1;
}

/* Final phase: take every page this lcore can reach. */
static int
conc_drain(void *arg)
{
	struct conc_arg *a = arg;

	while (a->got < CONC_PAGES &&
	       (a->pages[a->got] = usva_page_alloc(a->pool)) != NULL)
		a->got++;
	return 0;
}

USVA_TEST(fast, page_pool_two_lcores)
{
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	static struct conc_arg a[2];
	static bool seen[CONC_PAGES];
	struct usva_page_pool_stats st;
	struct usva_page_pool *pool;
	uintptr_t base = UINTPTR_MAX;
	int rc[2];
	int ret = TEST_FAILED;

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	TEST_ASSERT_OK(pool_new(&pool, 12, CONC_PAGES, 16, NULL));
	memset(a, 0, sizeof(a));
	for (int i = 0; i < 2; i++)
		a[i] = (struct conc_arg){ .pool = pool,
			.rng = usva_test_rand() | 1 };
	TEST_ASSERT_GOTO(rte_eal_remote_launch(conc_worker, &a[1], worker) ==
			 0, out, "cannot launch on lcore %u", worker);
	rc[0] = conc_worker(&a[0]);
	rc[1] = rte_eal_wait_lcore(worker);
	TEST_ASSERT_GOTO(rc[0] == 0, out, "main lcore: %s", a[0].err);
	TEST_ASSERT_GOTO(rc[1] == 0, out, "worker lcore: %s", a[1].err);

	usva_page_pool_refill(pool, UINT_MAX);
	usva_page_pool_stats(pool, &st);
	printf("    %" PRIu64 " allocations, %" PRIu64 " found none, %"
	       PRIu64 " zeroed inline\n", st.allocs, st.alloc_fails,
	       st.zeroed_inline);
	TEST_ASSERT_GOTO(st.allocs == a[0].allocs + a[1].allocs, out,
			 "allocs %" PRIu64 " counted, %" PRIu64 " made",
			 st.allocs, a[0].allocs + a[1].allocs);
	TEST_ASSERT_GOTO(st.alloc_fails == a[0].fails + a[1].fails, out,
			 "alloc_fails");
	TEST_ASSERT_GOTO(st.in_use == 0 && st.dirty == 0 &&
			 st.free == CONC_PAGES, out, "free %" PRIu64
			 " dirty %" PRIu64 " in_use %" PRIu64, st.free,
			 st.dirty, st.in_use);

	/* Every page is somewhere, once: in the common ring or one of the
	 * two lcore caches. Take all of them, from both lcores. */
	conc_drain(&a[0]);
	TEST_ASSERT_GOTO(rte_eal_remote_launch(conc_drain, &a[1], worker) ==
			 0, out, "cannot launch on lcore %u", worker);
	rte_eal_wait_lcore(worker);
	TEST_ASSERT_GOTO(a[0].got + a[1].got == CONC_PAGES, out,
			 "%u + %u pages reachable", a[0].got, a[1].got);
	for (int l = 0; l < 2; l++)
		for (unsigned int i = 0; i < a[l].got; i++)
			base = RTE_MIN(base, (uintptr_t)a[l].pages[i]);
	memset(seen, 0, sizeof(seen));
	for (int l = 0; l < 2; l++) {
		for (unsigned int i = 0; i < a[l].got; i++) {
			size_t idx = ((uintptr_t)a[l].pages[i] - base) / SZ_4K;

			TEST_ASSERT_GOTO(idx < CONC_PAGES && !seen[idx], out,
					 "page %p twice", a[l].pages[i]);
			TEST_ASSERT_GOTO(mem_is(a[l].pages[i], SZ_4K, 0), out,
					 "page %p not zero", a[l].pages[i]);
			seen[idx] = true;
		}
	}
	ret = TEST_SUCCESS;
out:
	for (int l = 0; l < 2; l++) {
		free_pages(pool, a[l].pages, a[l].got, true);
		a[l].got = 0;
	}
	usva_page_pool_destroy(pool);
	return ret;
}

/* ---- a thread that is not an lcore --------------------------------- */

#define THR_ROUNDS 100
#define THR_BATCH 8

struct thr_arg {
	struct usva_page_pool *pool;
	unsigned int lcore;
	uint64_t allocs;
	bool ok;
};

/* No lcore id: no mempool cache and the shared counter slot. */
static void *
thr_main(void *arg)
{
	struct thr_arg *a = arg;
	void *pages[THR_BATCH];

	a->lcore = rte_lcore_id();
	a->ok = true;
	for (unsigned int r = 0; r < THR_ROUNDS && a->ok; r++) {
		for (unsigned int i = 0; i < THR_BATCH; i++) {
			pages[i] = usva_page_alloc(a->pool);
			if (pages[i] == NULL || !mem_is(pages[i], SZ_4K, 0)) {
				a->ok = false;
				free_pages(a->pool, pages, i + !!pages[i],
					   false);
				return NULL;
			}
			a->allocs++;
			memset(pages[i], 0x77, 128);
		}
		free_pages(a->pool, pages, THR_BATCH, false);
		usva_page_pool_refill(a->pool, r & 1 ? THR_BATCH : 1);
	}
	return NULL;
}

USVA_TEST(fast, page_pool_non_eal_thread)
{
	struct thr_arg a = { .ok = false };
	struct usva_page_pool_stats st;
	pthread_t t;
	int rc;

	TEST_ASSERT_OK(pool_new(&a.pool, 12, 16, 8, NULL));
	rc = pthread_create(&t, NULL, thr_main, &a);
	if (rc == 0)
		pthread_join(t, NULL);
	usva_page_pool_refill(a.pool, UINT_MAX);
	usva_page_pool_stats(a.pool, &st);
	usva_page_pool_destroy(a.pool);
	TEST_ASSERT_EQ(rc, 0, "pthread_create");
	TEST_ASSERT(a.lcore == LCORE_ID_ANY, "thread has lcore id %u",
		    a.lcore);
	TEST_ASSERT(a.ok, "bad page on a non-EAL thread");
	TEST_ASSERT_EQ(st.allocs, a.allocs, "shared counter slot");
	TEST_ASSERT(st.in_use == 0 && st.free == 16, "in_use %" PRIu64,
		    st.in_use);
	return TEST_SUCCESS;
}

/* ---- fail-nth ------------------------------------------------------------ */

/* Virtual size of the process, to see a mapping left behind. */
static uint64_t
vm_size_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	uint64_t kb = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#define FAILNTH_PAGES 4096		/* 16 MiB: a leaked mapping shows */

USVA_TEST(fast, page_pool_failnth)
{
	int64_t live = usva_alloc_outstanding();
	uint64_t vm_before = vm_size_kb();
	struct usva_page_pool *pool = NULL;
	unsigned int failures = 0, n;
	bool created = false;

	for (n = 1; n <= 64 && !created; n++) {
		bool fired;
		int rc;

		usva_failnth_set(n);
		rc = pool_new(&pool, 12, FAILNTH_PAGES, 32, "pp_t_failnth");
		fired = usva_failnth_fired();
		usva_failnth_set(0);
		if (rc == 0) {
			void *pg = usva_page_alloc(pool);

			usva_page_free(pool, pg, true);
			usva_page_pool_destroy(pool);
			TEST_ASSERT(!fired, "n=%u: fired, yet created", n);
			TEST_ASSERT(pg != NULL, "n=%u: pool gives no page", n);
			created = true;
			continue;
		}
		failures++;
		TEST_ASSERT(fired, "n=%u: failed (%d) without injection", n,
			    rc);
		TEST_ASSERT_EQ(rc, -ENOMEM, "n=%u", n);
		TEST_ASSERT(pool == NULL, "n=%u: *out set", n);
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live,
			       "n=%u: leaked allocations", n);
		TEST_ASSERT(rte_mempool_lookup("pp_t_failnth") == NULL,
			    "n=%u: mempool left behind", n);
	}
	TEST_ASSERT(failures > 0 && created, "%u failures, created %d",
		    failures, created);
	/* A leaked region would be 16 MiB per failure past the mmap. */
	TEST_ASSERT(vm_size_kb() < vm_before + 8 * 1024,
		    "VmSize grew from %" PRIu64 " to %" PRIu64 " kB",
		    vm_before, vm_size_kb());
	printf("    create has %u fail points\n", failures);
	return TEST_SUCCESS;
}

/* ---- perf ---------------------------------------------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define PERF_PAGES_4K	16384		/* 64 MiB */
#define PERF_PAGES_2M	16		/* 32 MiB */
#define PERF_PAIRS	(4u << 20)
#define PERF_BURST	32

/* Setup cost per page, and the alloc+free rate on one lcore. */
/*
 * Setup time is dominated by first touch, whose cost depends on whether
 * the memory was ever touched before (in a VM, by the host too): @p what
 * says which creation this is.
 */
static int
perf_setup(uint32_t shift, uint32_t nr, const char *what,
	   struct usva_page_pool **pool)
{
	struct usva_page_pool_stats st;

	TEST_ASSERT_OK(pool_new(pool, shift, nr, 256, NULL));
	usva_page_pool_stats(*pool, &st);
	printf("    setup, %s: %u x %lu KiB pages in %.1f ms, %.0f ns per "
	       "page (%.0f ns per 4 KiB)\n", what, nr, (1ul << shift) >> 10,
	       st.setup_ns / 1e6, (double)st.setup_ns / nr,
	       (double)st.setup_ns / ((double)nr * (1ul << (shift - 12))));
	return TEST_SUCCESS;
}

static int
perf_pairs(struct usva_page_pool *pool, const char *what)
{
	uint64_t misses = 0;
	double t0, dt;

	t0 = now_s();
	for (unsigned int i = 0; i < PERF_PAIRS; i++) {
		void *pg = usva_page_alloc(pool);

		if (unlikely(pg == NULL)) {
			misses++;
			continue;
		}
		usva_page_free(pool, pg, true);
	}
	dt = now_s() - t0;
	printf("    %s: %.1f M alloc+free pairs/s (%.1f ns per pair)\n",
	       what, PERF_PAIRS / dt / 1e6, dt * 1e9 / PERF_PAIRS);
	TEST_ASSERT_EQ(misses, 0, "allocations failed");
	return TEST_SUCCESS;
}

static int
perf_bulk_and_dirty(struct usva_page_pool *pool)
{
	void *pages[PERF_BURST];
	unsigned int rounds = PERF_PAIRS / PERF_BURST / 4, zeroed = 0;
	unsigned int misses = 0;
	double t0, dt;

	t0 = now_s();
	for (unsigned int i = 0; i < rounds * 4; i++) {
		if (unlikely(usva_page_alloc_bulk(pool, pages,
						  PERF_BURST) != 0)) {
			misses++;
			continue;
		}
		free_pages(pool, pages, PERF_BURST, true);
	}
	dt = now_s() - t0;
	printf("    bulk %u: %.1f M pages/s allocated and freed\n",
	       PERF_BURST, rounds * 4.0 * PERF_BURST / dt / 1e6);
	TEST_ASSERT_EQ(misses, 0, "bulk allocations failed");

	t0 = now_s();
	for (unsigned int i = 0; i < rounds; i++) {
		if (unlikely(usva_page_alloc_bulk(pool, pages,
						  PERF_BURST) != 0)) {
			misses++;
			continue;
		}
		free_pages(pool, pages, PERF_BURST, false);
		zeroed += usva_page_pool_refill(pool, PERF_BURST);
	}
	dt = now_s() - t0;
	TEST_ASSERT_EQ(misses, 0, "bulk allocations failed");
	TEST_ASSERT_EQ(zeroed, rounds * PERF_BURST, "refilled");
	printf("    dirty free + refill: %.2f M pages/s (%.0f ns per page)\n",
	       zeroed / dt / 1e6, dt * 1e9 / zeroed);
	return TEST_SUCCESS;
}

USVA_TEST(perf, page_pool_perf)
{
	struct usva_page_pool *pool = NULL, *nocache = NULL;
	struct usva_page_pool_stats st;
	int ret = TEST_FAILED;

	printf("    lcore %u\n", rte_lcore_id());
	TEST_ASSERT_GOTO(perf_setup(12, PERF_PAGES_4K, "first 4 KiB pool",
				    &pool) == TEST_SUCCESS, out, "4 KiB pool");
	usva_page_pool_destroy(pool);
	pool = NULL;
	TEST_ASSERT_GOTO(perf_setup(21, PERF_PAGES_2M, "2 MiB pool", &pool) ==
			 TEST_SUCCESS, out, "2 MiB pool");
	usva_page_pool_destroy(pool);
	pool = NULL;
	TEST_ASSERT_GOTO(perf_setup(12, PERF_PAGES_4K, "second 4 KiB pool",
				    &pool) == TEST_SUCCESS, out, "4 KiB pool");
	TEST_ASSERT_GOTO(perf_pairs(pool, "cache 256") == TEST_SUCCESS, out,
			 "pairs");
	TEST_ASSERT_GOTO(perf_bulk_and_dirty(pool) == TEST_SUCCESS, out,
			 "bulk");
	PP_ASSERT_OK_OUT(pool_new(&nocache, 12, 1024, 0, NULL));
	TEST_ASSERT_GOTO(perf_pairs(nocache, "no cache (common ring)") ==
			 TEST_SUCCESS, out, "pairs");
	usva_page_pool_stats(pool, &st);
	TEST_ASSERT_GOTO(st.in_use == 0 && st.alloc_fails == 0, out,
			 "in_use %" PRIu64, st.in_use);
	ret = TEST_SUCCESS;
out:
	usva_page_pool_destroy(nocache);
	usva_page_pool_destroy(pool);
	return ret;
}
