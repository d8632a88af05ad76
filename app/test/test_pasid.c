/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PASID allocator tests: exhaustion and refill, edges and errnos, quota and
 * owner destroy, config validation, fail-nth, concurrent alloc/free on two
 * lcores with an owner-pattern check, and alloc/free rates.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva.h"
#include "usva_alloc.h"
#include "usva_pasid.h"
#include "test.h"

static int
space_new(uint32_t width, const struct usva_pasid_range *res, uint32_t nr_res,
	  struct usva_pasid_space **sp)
{
	struct usva_pasid_space_config cfg = {
		.size = sizeof(cfg),
		.width = width,
		.nr_reserved = nr_res,
		.reserved = res,
	};

	return usva_pasid_space_create(&cfg, sp);
}

static bool
in_ranges(uint32_t p, const struct usva_pasid_range *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (p >= r[i].first && p <= r[i].last)
			return true;
	return false;
}

/*
 * Allocate until the space is full; check each PASID is new and not
 * reserved, and that the failure is -ENOSPC. @return count, or -1.
 */
static int
fill(struct usva_pasid_owner *o, uint32_t width, uint8_t *seen,
     const struct usva_pasid_range *res, uint32_t nr_res)
{
	uint32_t p;
	int n = 0, rc;

	while ((rc = usva_pasid_alloc(o, &p)) == 0) {
		if (p == 0 || p >= (1u << width) || seen[p] ||
		    in_ranges(p, res, nr_res)) {
			printf("    bad PASID %u (seen %d)\n", p,
			       p < (1u << width) ? seen[p] : -1);
			return -1;
		}
		seen[p] = 1;
		n++;
	}
	if (rc != -ENOSPC) {
		printf("    alloc failed with %d, expected -ENOSPC\n", rc);
		return -1;
	}
	return n;
}

/* Exhaust a width-8 space, free some, refill exactly those. */
USVA_TEST(fast, pasid_exhaust_refill)
{
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *o;
	struct usva_pasid_space_stats st;
	uint8_t seen[256] = { 0 };
	uint32_t p;
	int n;

	TEST_ASSERT_OK(space_new(8, NULL, 0, &sp));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &o));
	n = fill(o, 8, seen, NULL, 0);
	TEST_ASSERT_EQ(n, 255, "allocatable PASIDs in width 8");
	TEST_ASSERT_EQ(usva_pasid_owner_count(o), 255, "owner count");
	usva_pasid_space_stats(sp, &st);
	TEST_ASSERT(st.width == 8 && st.allocated == 255 && st.reserved == 1 &&
		    st.attached == 0, "stats %u/%u/%u/%u", st.width,
		    st.allocated, st.reserved, st.attached);
	TEST_ASSERT_ERR(usva_pasid_alloc(o, &p), ENOSPC);

	/* Free every third PASID; exactly those come back. */
	for (p = 1; p < 256; p += 3) {
		TEST_ASSERT_OK(usva_pasid_free(o, p));
		seen[p] = 0;
	}
	n = fill(o, 8, seen, NULL, 0);
	TEST_ASSERT_EQ(n, 85, "refilled PASIDs");
	for (p = 1; p < 256; p++)
		TEST_ASSERT(seen[p], "PASID %u not handed out", p);
	for (p = 1; p < 256; p++)
		TEST_ASSERT_OK(usva_pasid_free(o, p));
	TEST_ASSERT_EQ(usva_pasid_owner_count(o), 0, "owner count after free");
	usva_pasid_space_stats(sp, &st);
	TEST_ASSERT_EQ(st.allocated, 0, "allocated after free");
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}

/* Reserved ranges (overlapping, touching the top) reduce what is left. */
USVA_TEST(fast, pasid_exhaust_reserved)
{
	static const struct usva_pasid_range res[] = {
		{ 10, 19 }, { 15, 30 }, { 250, 255 }, { 64, 64 },
	};
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *o;
	struct usva_pasid_space_stats st;
	uint8_t seen[256] = { 0 };
	/* 0, 10..30, 64, 250..255 */
	const uint32_t nr_reserved = 1 + 21 + 1 + 6;
	int n;

	TEST_ASSERT_OK(space_new(8, res, RTE_DIM(res), &sp));
	usva_pasid_space_stats(sp, &st);
	TEST_ASSERT_EQ(st.reserved, nr_reserved, "reserved count");
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &o));
	n = fill(o, 8, seen, res, RTE_DIM(res));
	TEST_ASSERT_EQ(n, 256 - nr_reserved, "allocatable with reserved ranges");
	TEST_ASSERT_OK(usva_pasid_owner_destroy(o));
	usva_pasid_space_stats(sp, &st);
	TEST_ASSERT_EQ(st.allocated, 0, "allocated after owner destroy");
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}

/* Spaces smaller than one bitmap word, and the widest one. */
USVA_TEST(fast, pasid_widths)
{
	static const uint32_t widths[] = { 1, 2, 3, 5, 6, 7, 12 };
	static uint8_t seen[1u << 12];
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *o;
	const uint32_t max = (1u << USVA_MAX_PASID_WIDTH) - 1;
	uint32_t p;

	for (unsigned int i = 0; i < RTE_DIM(widths); i++) {
		memset(seen, 0, sizeof(seen));
		TEST_ASSERT_OK(space_new(widths[i], NULL, 0, &sp));
		TEST_ASSERT_EQ(usva_pasid_space_width(sp), widths[i], "width");
		TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &o));
		TEST_ASSERT_EQ(fill(o, widths[i], seen, NULL, 0),
			       (1 << widths[i]) - 1, "width %u", widths[i]);
		TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	}
	TEST_ASSERT_OK(space_new(USVA_MAX_PASID_WIDTH, NULL, 0, &sp));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &o));
	TEST_ASSERT_OK(usva_pasid_alloc_at(o, max));
	TEST_ASSERT_ERR(usva_pasid_alloc_at(o, max + 1), ERANGE);
	TEST_ASSERT_OK(usva_pasid_alloc(o, &p));
	TEST_ASSERT(p != 0 && p < max, "PASID %u", p);
	TEST_ASSERT_OK(usva_pasid_free(o, max));
	TEST_ASSERT_OK(usva_pasid_free(o, p));
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}

/* Every edge and errno of alloc_at/free/attach/generation. */
USVA_TEST(fast, pasid_edges)
{
	static const struct usva_pasid_range res[] = { { 100, 109 } };
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *a, *b;
	uint32_t p, gen, n;

	TEST_ASSERT_OK(space_new(8, res, RTE_DIM(res), &sp));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &a));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &b));

	/* 0, max, max + 1, reserved */
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, 0), EPERM);
	TEST_ASSERT_ERR(usva_pasid_free(a, 0), EPERM);
	TEST_ASSERT_ERR(usva_pasid_attach_get(sp, 0), EPERM);
	TEST_ASSERT_OK(usva_pasid_alloc_at(a, 255));
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, 255), EEXIST);
	TEST_ASSERT_ERR(usva_pasid_alloc_at(b, 255), EEXIST);
	TEST_ASSERT_OK(usva_pasid_free(a, 255));
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, 256), ERANGE);
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, UINT32_MAX), ERANGE);
	TEST_ASSERT_ERR(usva_pasid_free(a, 256), ERANGE);
	TEST_ASSERT_ERR(usva_pasid_attach_get(sp, 256), ERANGE);
	TEST_ASSERT_ERR(usva_pasid_attach_put(sp, 256), ERANGE);
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, 100), EPERM);
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, 109), EPERM);
	TEST_ASSERT_ERR(usva_pasid_free(a, 105), EPERM);
	TEST_ASSERT_ERR(usva_pasid_attach_get(sp, 105), EPERM);
	TEST_ASSERT_OK(usva_pasid_alloc_at(a, 99));
	TEST_ASSERT_OK(usva_pasid_alloc_at(a, 110));

	/* double free, other owner's, attached */
	TEST_ASSERT_OK(usva_pasid_free(a, 99));
	TEST_ASSERT_ERR(usva_pasid_free(a, 99), ENOENT);
	TEST_ASSERT_ERR(usva_pasid_free(b, 110), EACCES);
	TEST_ASSERT_OK(usva_pasid_attach_get(sp, 110));
	TEST_ASSERT_OK(usva_pasid_attach_get(sp, 110));
	TEST_ASSERT_ERR(usva_pasid_free(a, 110), EBUSY);
	TEST_ASSERT_OK(usva_pasid_attach_put(sp, 110));
	TEST_ASSERT_ERR(usva_pasid_free(a, 110), EBUSY);
	TEST_ASSERT_OK(usva_pasid_attach_put(sp, 110));
	TEST_ASSERT_ERR(usva_pasid_attach_put(sp, 110), EINVAL);
	TEST_ASSERT_OK(usva_pasid_free(a, 110));
	TEST_ASSERT_ERR(usva_pasid_attach_get(sp, 110), ENOENT);
	TEST_ASSERT_ERR(usva_pasid_attach_put(sp, 110), ENOENT);

	/* attach count limit */
	TEST_ASSERT_OK(usva_pasid_alloc_at(a, 111));
	for (n = 0; usva_pasid_attach_get(sp, 111) == 0; n++)
		;
	TEST_ASSERT_EQ(n, 8191, "attach references");
	TEST_ASSERT_ERR(usva_pasid_attach_get(sp, 111), EOVERFLOW);
	while (n-- > 0)
		TEST_ASSERT_OK(usva_pasid_attach_put(sp, 111));
	TEST_ASSERT_OK(usva_pasid_free(a, 111));

	/* generation: >= 1 while allocated, 0 when free, bumped on reuse */
	TEST_ASSERT_EQ(usva_pasid_generation(sp, 7), 0, "never allocated");
	TEST_ASSERT_OK(usva_pasid_alloc_at(b, 7));
	gen = usva_pasid_generation(sp, 7);
	TEST_ASSERT(gen >= 1, "generation %u", gen);
	TEST_ASSERT_OK(usva_pasid_free(b, 7));
	TEST_ASSERT_EQ(usva_pasid_generation(sp, 7), 0, "after free");
	TEST_ASSERT_OK(usva_pasid_alloc_at(a, 7));
	TEST_ASSERT_EQ(usva_pasid_generation(sp, 7), gen + 1, "after reuse");
	TEST_ASSERT_OK(usva_pasid_free(a, 7));
	TEST_ASSERT_EQ(usva_pasid_generation(sp, 0), 0, "PASID 0");
	TEST_ASSERT_EQ(usva_pasid_generation(sp, 105), 0, "reserved");
	TEST_ASSERT_EQ(usva_pasid_generation(sp, 256), 0, "out of range");

	/* NULL arguments */
	TEST_ASSERT_ERR(usva_pasid_alloc(NULL, &p), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_alloc(a, NULL), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_alloc_at(NULL, 1), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_free(NULL, 1), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_attach_get(NULL, 1), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_attach_put(NULL, 1), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_owner_create(NULL, 0, &a), EINVAL);
	TEST_ASSERT_ERR(usva_pasid_owner_create(sp, 0, NULL), EINVAL);
	TEST_ASSERT_OK(usva_pasid_owner_destroy(NULL));
	TEST_ASSERT_OK(usva_pasid_space_destroy(NULL));

	TEST_ASSERT_OK(usva_pasid_owner_destroy(a));
	TEST_ASSERT_OK(usva_pasid_owner_destroy(b));
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}

/* Quota, and owner destroy: refused while attached, else frees all. */
USVA_TEST(fast, pasid_quota_owner_destroy)
{
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *a, *b;
	struct usva_pasid_space_stats st;
	uint32_t p[3], q;

	TEST_ASSERT_OK(space_new(8, NULL, 0, &sp));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 3, &a));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &b));
	for (int i = 0; i < 3; i++)
		TEST_ASSERT_OK(usva_pasid_alloc(a, &p[i]));
	TEST_ASSERT_ERR(usva_pasid_alloc(a, &q), EDQUOT);
	TEST_ASSERT_ERR(usva_pasid_alloc_at(a, 200), EDQUOT);
	TEST_ASSERT_EQ(usva_pasid_owner_count(a), 3, "count at quota");
	TEST_ASSERT_OK(usva_pasid_alloc(b, &q));	/* b is not limited */
	TEST_ASSERT_OK(usva_pasid_free(a, p[1]));
	TEST_ASSERT_OK(usva_pasid_alloc_at(a, 200));
	p[1] = 200;
	TEST_ASSERT_EQ(usva_pasid_owner_count(a), 3, "count refilled");

	/* Destroy refused while one is attached: nothing freed. */
	TEST_ASSERT_OK(usva_pasid_attach_get(sp, p[2]));
	TEST_ASSERT_ERR(usva_pasid_owner_destroy(a), EBUSY);
	TEST_ASSERT_EQ(usva_pasid_owner_count(a), 3, "nothing freed");
	for (int i = 0; i < 3; i++)
		TEST_ASSERT(usva_pasid_generation(sp, p[i]) != 0,
			    "PASID %u still allocated", p[i]);
	/* The rolled-back destroy left them attachable and freeable. */
	TEST_ASSERT_OK(usva_pasid_attach_get(sp, p[0]));
	TEST_ASSERT_OK(usva_pasid_attach_put(sp, p[0]));
	TEST_ASSERT_OK(usva_pasid_attach_put(sp, p[2]));

	TEST_ASSERT_OK(usva_pasid_owner_destroy(a));
	for (int i = 0; i < 3; i++)
		TEST_ASSERT_EQ(usva_pasid_generation(sp, p[i]), 0,
			       "PASID %u freed by owner destroy", p[i]);
	usva_pasid_space_stats(sp, &st);
	TEST_ASSERT_EQ(st.allocated, 1, "only b's PASID left");
	TEST_ASSERT_EQ(usva_pasid_generation(sp, q) != 0, 1, "b's PASID kept");
	/* The freed PASIDs are allocatable again. */
	for (int i = 0; i < 3; i++)
		TEST_ASSERT_OK(usva_pasid_alloc_at(b, p[i]));
	TEST_ASSERT_EQ(usva_pasid_owner_count(b), 4, "b's count");
	TEST_ASSERT_OK(usva_pasid_owner_destroy(b));
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}

/* Space destroy refused while attached; owners go with the space. */
USVA_TEST(fast, pasid_space_destroy_busy)
{
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *o[20];
	struct usva_pasid_space_stats st;
	uint32_t p;

	TEST_ASSERT_OK(space_new(10, NULL, 0, &sp));
	/* More owners than the table's first size: it grows. */
	for (int i = 0; i < 20; i++) {
		TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &o[i]));
		TEST_ASSERT_OK(usva_pasid_alloc(o[i], &p));
	}
	TEST_ASSERT_OK(usva_pasid_attach_get(sp, p));
	usva_pasid_space_stats(sp, &st);
	TEST_ASSERT(st.allocated == 20 && st.attached == 1, "stats %u/%u",
		    st.allocated, st.attached);
	TEST_ASSERT_ERR(usva_pasid_space_destroy(sp), EBUSY);
	TEST_ASSERT_EQ(usva_pasid_generation(sp, p) != 0, 1, "still there");
	TEST_ASSERT_OK(usva_pasid_attach_put(sp, p));
	/* Free a slot in the middle and reuse it. */
	TEST_ASSERT_OK(usva_pasid_owner_destroy(o[5]));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &o[5]));
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}

/* ---- configuration --------------------------------------------------- */

enum cfg_size { SZ_FULL, SZ_MIN, SZ_BELOW_MIN, SZ_ZERO, SZ_BIG };

struct cfg_case {
	const char *what;
	enum cfg_size size;
	uint32_t flags;
	uint32_t width;
	uint32_t nr_reserved;
	const struct usva_pasid_range *reserved;
	uint64_t rsvd;		/* reserved_must_be_zero[1] */
	uint64_t tail;		/* first word past the struct, for SZ_BIG */
	int expect;		/* 0 or -errno */
};

static const struct usva_pasid_range r_ok[] = { { 1, 1 }, { 5, 255 } };
static const struct usva_pasid_range r_inverted[] = { { 9, 8 } };
static const struct usva_pasid_range r_beyond[] = { { 200, 256 } };
static const struct usva_pasid_range r_nine[USVA_PASID_MAX_RESERVED + 1];

static const struct cfg_case cfg_cases[] = {
	{ "full size", SZ_FULL, 0, 8, 0, NULL, 0, 0, 0 },
	{ "size ends at width", SZ_MIN, 0, 8, 0, NULL, 0, 0, 0 },
	{ "size below width", SZ_BELOW_MIN, 0, 8, 0, NULL, 0, 0, -EINVAL },
	{ "size 0", SZ_ZERO, 0, 8, 0, NULL, 0, 0, -EINVAL },
	{ "larger, zero tail", SZ_BIG, 0, 8, 0, NULL, 0, 0, 0 },
	{ "larger, non-zero tail", SZ_BIG, 0, 8, 0, NULL, 0, 1, -E2BIG },
	{ "unknown flag", SZ_FULL, 1, 8, 0, NULL, 0, 0, -EOPNOTSUPP },
	{ "high unknown flag", SZ_FULL, 0x80000000u, 8, 0, NULL, 0, 0, -EOPNOTSUPP },
	{ "reserved field", SZ_FULL, 0, 8, 0, NULL, 1, 0, -EINVAL },
	{ "width 0", SZ_FULL, 0, 0, 0, NULL, 0, 0, -EINVAL },
	{ "width above max", SZ_FULL, 0, USVA_MAX_PASID_WIDTH + 1, 0, NULL, 0, 0, -EINVAL },
	{ "width 32", SZ_FULL, 0, 32, 0, NULL, 0, 0, -EINVAL },
	{ "width 1", SZ_FULL, 0, 1, 0, NULL, 0, 0, 0 },
	{ "width max", SZ_FULL, 0, USVA_MAX_PASID_WIDTH, 0, NULL, 0, 0, 0 },
	{ "ranges ok", SZ_FULL, 0, 8, RTE_DIM(r_ok), r_ok, 0, 0, 0 },
	{ "range first > last", SZ_FULL, 0, 8, 1, r_inverted, 0, 0, -EINVAL },
	{ "range beyond space", SZ_FULL, 0, 8, 1, r_beyond, 0, 0, -EINVAL },
	{ "too many ranges", SZ_FULL, 0, 8, RTE_DIM(r_nine), r_nine, 0, 0, -EINVAL },
	{ "max ranges", SZ_FULL, 0, 8, USVA_PASID_MAX_RESERVED, r_nine, 0, 0, 0 },
	{ "ranges, NULL array", SZ_FULL, 0, 8, 1, NULL, 0, 0, -EINVAL },
};

USVA_TEST(fast, pasid_config)
{
	struct {
		struct usva_pasid_space_config cfg;
		uint64_t tail[2];
	} big;
	const size_t min = offsetof(struct usva_pasid_space_config, width) +
			   sizeof(uint32_t);
	struct usva_pasid_space *sp = NULL;

	for (unsigned int i = 0; i < RTE_DIM(cfg_cases); i++) {
		const struct cfg_case *c = &cfg_cases[i];
		int rc;

		memset(&big, 0, sizeof(big));
		big.cfg.flags = c->flags;
		big.cfg.width = c->width;
		big.cfg.nr_reserved = c->nr_reserved;
		big.cfg.reserved = c->reserved;
		big.cfg.reserved_must_be_zero[1] = c->rsvd;
		big.tail[1] = c->tail;
		switch (c->size) {
		case SZ_FULL: big.cfg.size = sizeof(big.cfg); break;
		case SZ_MIN: big.cfg.size = min; break;
		case SZ_BELOW_MIN: big.cfg.size = min - 1; break;
		case SZ_ZERO: big.cfg.size = 0; break;
		case SZ_BIG: big.cfg.size = sizeof(big); break;
		}
		rc = usva_pasid_space_create(&big.cfg, &sp);
		TEST_ASSERT(rc == c->expect, "%s: returned %d, expected %d",
			    c->what, rc, c->expect);
		if (rc == 0)
			TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	}
	TEST_ASSERT_ERR(usva_pasid_space_create(NULL, &sp), EFAULT);
	TEST_ASSERT_ERR(usva_pasid_space_create(&big.cfg, NULL), EINVAL);
	return TEST_SUCCESS;
}

/* ---- fail-nth -------------------------------------------------------- */

/* Space, then more owners than the owner table's first size, and use. */
static int
failnth_scenario(void)
{
	static const struct usva_pasid_range res[] = { { 16, 31 } };
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *o;
	uint32_t p;
	int rc;

	rc = space_new(12, res, RTE_DIM(res), &sp);
	if (rc != 0)
		return rc;
	for (int i = 0; i < 10; i++) {
		rc = usva_pasid_owner_create(sp, 4, &o);
		if (rc != 0)
			break;
		rc = usva_pasid_alloc(o, &p);
		if (rc != 0)
			break;
	}
	usva_pasid_space_destroy(sp);
	return rc;
}

USVA_TEST(fast, pasid_failnth)
{
	int64_t live = usva_alloc_outstanding();
	uint32_t n;
	int rc;

	for (n = 1; n < 100; n++) {
		usva_failnth_set(n);
		rc = failnth_scenario();
		bool fired = usva_failnth_fired();

		usva_failnth_set(0);
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live,
			       "leak after failing point %u", n);
		if (!fired) {
			TEST_ASSERT_EQ(rc, 0, "run with no failure");
			break;
		}
		TEST_ASSERT_ERR(rc, ENOMEM);
	}
	/* At least: 3 for the space, 10 owners, 1 owner table (it also grows
	 * past its first size); n is one past the last failure point. */
	printf("    %u failure points\n", n - 1);
	TEST_ASSERT(n - 1 >= 3 + 10 + 1, "only %u failure points", n - 1);
	return TEST_SUCCESS;
}

/* ---- concurrency ------------------------------------------------------ */

#define CONC_WIDTH	10
#define CONC_MAX_HELD	700	/* two lcores together can fill the space */

struct conc_shared {
	struct usva_pasid_space *sp;
	uint32_t *pattern;	/* atomic; [pasid] = lcore id + 1 of holder */
	uint64_t deadline;	/* TSC */
	bool attach;		/* mix attach/detach and owner re-creation */
	bool stop;		/* atomic; set by an lcore that failed */
};

struct conc_lcore {
	struct conc_shared *sh;
	struct usva_pasid_owner *owner;
	uint32_t stamp;		/* lcore id + 1 */
	uint64_t rng;
	uint32_t held[CONC_MAX_HELD];
	uint32_t gen[CONC_MAX_HELD];
	uint32_t nr_held;
	uint64_t allocs, frees, full, exist, busy, cross, owner_cycles;
	char fail[160];
} __rte_cache_aligned;

static uint64_t
conc_rand(struct conc_lcore *l)
{
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 0x2545F4914F6CDD1DULL;
}

#define CONC_FAIL(l, ...)						\
	do {								\
		snprintf((l)->fail, sizeof((l)->fail), __VA_ARGS__);	\
		return -1;						\
	} while (0)

/* Stamp a newly allocated PASID: no one else may hold it. */
static int
conc_got(struct conc_lcore *l, uint32_t p)
{
	uint32_t zero = 0;

	if (!__atomic_compare_exchange_n(&l->sh->pattern[p], &zero, l->stamp,
					 false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		CONC_FAIL(l, "PASID %u handed to lcore stamp %u while stamp %u holds it",
			  p, l->stamp, zero);
	l->gen[l->nr_held] = usva_pasid_generation(l->sh->sp, p);
	if (l->gen[l->nr_held] == 0)
		CONC_FAIL(l, "PASID %u allocated with generation 0", p);
	l->held[l->nr_held++] = p;
	l->allocs++;
	return 0;
}

/* Check a held PASID is still ours and unstamp it, before it is freed. */
static int
conc_unstamp(struct conc_lcore *l, uint32_t i)
{
	uint32_t p = l->held[i];
	uint32_t v = __atomic_exchange_n(&l->sh->pattern[p], 0, __ATOMIC_RELAXED);

	if (v != l->stamp)
		CONC_FAIL(l, "PASID %u held by stamp %u has stamp %u", p,
			  l->stamp, v);
	if (usva_pasid_generation(l->sh->sp, p) != l->gen[i])
		CONC_FAIL(l, "PASID %u changed generation %u -> %u while held",
			  p, l->gen[i], usva_pasid_generation(l->sh->sp, p));
	return 0;
}

static int
conc_restamp(struct conc_lcore *l, uint32_t i)
{
	uint32_t zero = 0;

	if (!__atomic_compare_exchange_n(&l->sh->pattern[l->held[i]], &zero,
					 l->stamp, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		CONC_FAIL(l, "PASID %u taken while its free was refused",
			  l->held[i]);
	return 0;
}

static int
conc_alloc(struct conc_lcore *l)
{
	const uint32_t nr = 1u << CONC_WIDTH;
	uint32_t p;
	int rc;

	if (conc_rand(l) & 1) {
		rc = usva_pasid_alloc(l->owner, &p);
	} else {
		p = 1 + conc_rand(l) % (nr - 1);
		rc = usva_pasid_alloc_at(l->owner, p);
	}
	if (rc == -ENOSPC) {
		l->full++;
		return 0;
	}
	if (rc == -EEXIST) {
		l->exist++;
		return 0;
	}
	if (rc != 0)
		CONC_FAIL(l, "alloc: %d", rc);
	return conc_got(l, p);
}

static int
conc_free(struct conc_lcore *l)
{
	uint32_t i = conc_rand(l) % l->nr_held;
	int rc;

	if (conc_unstamp(l, i) != 0)
		return -1;
	rc = usva_pasid_free(l->owner, l->held[i]);
	if (rc == -EBUSY && l->sh->attach) {
		/* The other lcore holds an attach reference on it. */
		l->busy++;
		return conc_restamp(l, i);
	}
	if (rc != 0)
		CONC_FAIL(l, "free %u: %d", l->held[i], rc);
	l->nr_held--;
	l->held[i] = l->held[l->nr_held];
	l->gen[i] = l->gen[l->nr_held];
	l->frees++;
	return 0;
}

/*
 * Attach any PASID (usually the other lcore's): while the reference is
 * held the PASID must stay allocated with the same generation.
 */
static int
conc_cross_attach(struct conc_lcore *l)
{
	uint32_t p = 1 + conc_rand(l) % ((1u << CONC_WIDTH) - 1);
	uint32_t gen;
	int rc;

	rc = usva_pasid_attach_get(l->sh->sp, p);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		CONC_FAIL(l, "attach_get %u: %d", p, rc);
	gen = usva_pasid_generation(l->sh->sp, p);
	for (int spin = conc_rand(l) % 64; spin > 0; spin--)
		rte_pause();
	if (gen == 0 || usva_pasid_generation(l->sh->sp, p) != gen)
		CONC_FAIL(l, "attached PASID %u: generation %u -> %u", p, gen,
			  usva_pasid_generation(l->sh->sp, p));
	rc = usva_pasid_attach_put(l->sh->sp, p);
	if (rc != 0)
		CONC_FAIL(l, "attach_put %u: %d", p, rc);
	l->cross++;
	return 0;
}

/*
 * Destroy the owner with its PASIDs held, racing the other lcore's
 * attaches: either all are freed or (-EBUSY) none.
 */
static int
conc_owner_cycle(struct conc_lcore *l)
{
	uint32_t count = usva_pasid_owner_count(l->owner);
	int rc;

	for (uint32_t i = 0; i < l->nr_held; i++)
		if (conc_unstamp(l, i) != 0)
			return -1;
	rc = usva_pasid_owner_destroy(l->owner);
	if (rc == -EBUSY) {
		l->busy++;
		if (usva_pasid_owner_count(l->owner) != count)
			CONC_FAIL(l, "owner destroy -EBUSY changed count %u -> %u",
				  count, usva_pasid_owner_count(l->owner));
		for (uint32_t i = 0; i < l->nr_held; i++)
			if (conc_restamp(l, i) != 0)
				return -1;
		return 0;
	}
	if (rc != 0)
		CONC_FAIL(l, "owner destroy: %d", rc);
	l->frees += l->nr_held;
	l->nr_held = 0;
	l->owner = NULL;
	rc = usva_pasid_owner_create(l->sh->sp, 0, &l->owner);
	if (rc != 0)
		CONC_FAIL(l, "owner create: %d", rc);
	l->owner_cycles++;
	return 0;
}

/*
 * Random walk: phases that lean towards alloc then towards free, so the
 * space is driven both to full and to nearly empty.
 */
static int
conc_worker(void *arg)
{
	struct conc_lcore *l = arg;
	uint64_t iter = 0;

	while (rte_get_timer_cycles() < l->sh->deadline &&
	       !__atomic_load_n(&l->sh->stop, __ATOMIC_RELAXED)) {
		/* Odd phases (of 1024 steps) favour alloc 7:1, even ones free. */
		bool grow = (iter++ >> 10) & 1;
		uint32_t r = conc_rand(l) % 8;
		int rc;

		if (l->sh->attach && r == 0 && (conc_rand(l) % 4) == 0)
			rc = conc_cross_attach(l);
		else if (l->sh->attach && (conc_rand(l) % 20000) == 0)
			rc = conc_owner_cycle(l);
		else if (l->nr_held < CONC_MAX_HELD &&
			 (l->nr_held == 0 || (grow ? r != 0 : r == 0)))
			rc = conc_alloc(l);
		else
			rc = conc_free(l);
		if (rc != 0) {
			__atomic_store_n(&l->sh->stop, true, __ATOMIC_RELAXED);
			return -1;
		}
	}
	return 0;
}

static int
conc_run(double seconds, bool attach)
{
	struct conc_shared sh = { .attach = attach };
	struct conc_lcore *l = NULL;
	struct usva_pasid_space_stats st;
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	int wrc, mrc;

	if (rte_lcore_count() < 2 || worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs 2 lcores (run with -l 0-1)");
	sh.pattern = calloc(1u << CONC_WIDTH, sizeof(*sh.pattern));
	l = aligned_alloc(RTE_CACHE_LINE_SIZE, 2 * sizeof(*l));
	TEST_ASSERT_GOTO(sh.pattern != NULL && l != NULL, err_mem, "no memory");
	memset(l, 0, 2 * sizeof(*l));
	TEST_ASSERT_GOTO(space_new(CONC_WIDTH, NULL, 0, &sh.sp) == 0, err_mem,
			 "space");
	for (int i = 0; i < 2; i++) {
		l[i].sh = &sh;
		l[i].stamp = (i == 0 ? rte_lcore_id() : worker) + 1;
		l[i].rng = usva_test_rand() | 1;
		TEST_ASSERT_GOTO(usva_pasid_owner_create(sh.sp, 0, &l[i].owner) == 0,
				 err_space, "owner");
	}
	sh.deadline = rte_get_timer_cycles() +
		      (uint64_t)(seconds * rte_get_timer_hz());
	TEST_ASSERT_GOTO(rte_eal_remote_launch(conc_worker, &l[1], worker) == 0,
			 err_space, "launch");
	mrc = conc_worker(&l[0]);
	wrc = rte_eal_wait_lcore(worker);
	for (int i = 0; i < 2; i++)
		printf("    lcore %u: %" PRIu64 " allocs, %" PRIu64 " frees, %"
		       PRIu64 " full, %" PRIu64 " in use, %" PRIu64 " busy, %"
		       PRIu64 " cross attaches, %" PRIu64 " owner cycles%s%s\n",
		       l[i].stamp - 1, l[i].allocs, l[i].frees, l[i].full,
		       l[i].exist, l[i].busy, l[i].cross, l[i].owner_cycles,
		       l[i].fail[0] ? ": " : "", l[i].fail);
	TEST_ASSERT_GOTO(mrc == 0 && wrc == 0, err_space, "a worker failed");

	/* Counts match what each lcore believes it holds. */
	usva_pasid_space_stats(sh.sp, &st);
	TEST_ASSERT_GOTO(st.allocated == l[0].nr_held + l[1].nr_held &&
			 st.attached == 0, err_space, "stats %u/%u, held %u + %u",
			 st.allocated, st.attached, l[0].nr_held, l[1].nr_held);
	for (int i = 0; i < 2; i++) {
		TEST_ASSERT_GOTO(usva_pasid_owner_count(l[i].owner) == l[i].nr_held,
				 err_space, "owner %d count %u, held %u", i,
				 usva_pasid_owner_count(l[i].owner), l[i].nr_held);
		TEST_ASSERT_GOTO(l[i].allocs - l[i].frees == l[i].nr_held,
				 err_space, "lcore %d: allocs - frees != held", i);
		TEST_ASSERT_GOTO(l[i].allocs > 0 && l[i].frees > 0, err_space,
				 "lcore %d did nothing", i);
		while (l[i].nr_held > 0)
			TEST_ASSERT_GOTO(conc_free(&l[i]) == 0, err_space,
					 "final free: %s", l[i].fail);
	}
	usva_pasid_space_stats(sh.sp, &st);
	TEST_ASSERT_GOTO(st.allocated == 0, err_space, "%u left", st.allocated);
	TEST_ASSERT_GOTO(usva_pasid_space_destroy(sh.sp) == 0, err_space,
			 "destroy");
	free(l);
	free(sh.pattern);
	return TEST_SUCCESS;

err_space:
	/* Nothing is attached once the worker has returned. */
	usva_pasid_space_destroy(sh.sp);
err_mem:
	free(l);
	free(sh.pattern);
	return TEST_FAILED;
}

/* Two lcores alloc/free at random; a PASID handed out twice is caught. */
USVA_TEST(fast, pasid_concurrent)
{
	return conc_run(0.4, false);
}

/* Longer, with cross-lcore attaches and owner destroy/create mixed in. */
USVA_TEST(stress, pasid_concurrent_attach)
{
	return conc_run(5.0, true);
}

/* ---- performance ------------------------------------------------------ */

#define PERF_WIDTH	USVA_MAX_PASID_WIDTH
#define PERF_HOLD	1024	/* PASIDs each lcore keeps allocated */

struct perf_arg {
	struct usva_pasid_owner *owner;
	double seconds;
	uint64_t pairs;
	int rc;
};

/*
 * Alloc+free pairs against a working set: each lcore holds PERF_HOLD
 * PASIDs and frees the oldest after each alloc, so the search really
 * scans the bitmap instead of re-taking the bit it just cleared.
 */
static int
perf_worker(void *arg)
{
	struct perf_arg *a = arg;
	uint32_t ring[PERF_HOLD];
	uint64_t end, n = 0;
	uint32_t head = 0;

	a->rc = 0;
	for (uint32_t i = 0; i < PERF_HOLD; i++)
		if ((a->rc = usva_pasid_alloc(a->owner, &ring[i])) != 0)
			return a->rc;
	end = rte_get_timer_cycles() + (uint64_t)(a->seconds * rte_get_timer_hz());
	do {
		for (int k = 0; k < 256; k++, n++) {
			a->rc |= usva_pasid_free(a->owner, ring[head]);
			a->rc |= usva_pasid_alloc(a->owner, &ring[head]);
			head = (head + 1) % PERF_HOLD;
		}
	} while (rte_get_timer_cycles() < end);
	for (uint32_t i = 0; i < PERF_HOLD; i++)
		a->rc |= usva_pasid_free(a->owner, ring[i]);
	a->pairs = n;
	return a->rc;
}

/* Run perf_worker on the main lcore and @p worker at once. */
static int
perf_pair(struct perf_arg a[2], unsigned int worker)
{
	int rc, wrc;

	rc = rte_eal_remote_launch(perf_worker, &a[1], worker);
	if (rc != 0)
		return rc;
	rc = perf_worker(&a[0]);
	wrc = rte_eal_wait_lcore(worker);
	return rc != 0 ? rc : wrc;
}

static void
perf_print(const char *what, const struct perf_arg a[2], double secs)
{
	printf("    %-34s %6.1f M pairs/s in all (%.1f + %.1f)\n", what,
	       (a[0].pairs + a[1].pairs) / secs / 1e6,
	       a[0].pairs / secs / 1e6, a[1].pairs / secs / 1e6);
}

/*
 * Alloc+free pairs per second, width 20, each lcore holding 1024: on one
 * lcore; on two lcores sharing a space; and, as the machine's own ceiling
 * for two lcores, on two lcores each with a space of its own (nothing
 * shared).
 */
USVA_TEST(perf, pasid_perf)
{
	const double secs = 0.5;
	struct usva_pasid_space *sp, *sp2;
	struct perf_arg a[2] = { { .seconds = secs }, { .seconds = secs } };
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);

	TEST_ASSERT_OK(space_new(PERF_WIDTH, NULL, 0, &sp));
	TEST_ASSERT_OK(space_new(PERF_WIDTH, NULL, 0, &sp2));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &a[0].owner));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp, 0, &a[1].owner));

	TEST_ASSERT_OK(perf_worker(&a[0]));
	printf("    width %u, %u PASIDs held per lcore, alloc+free pairs:\n",
	       PERF_WIDTH, PERF_HOLD);
	printf("    %-34s %6.1f M pairs/s\n", "1 lcore:", a[0].pairs / secs / 1e6);
	if (rte_lcore_count() < 2 || worker >= RTE_MAX_LCORE) {
		printf("    2 lcores: skipped (run with -l 0-1)\n");
		goto out;
	}
	TEST_ASSERT_OK(perf_pair(a, worker));
	perf_print("2 lcores, one space:", a, secs);
	TEST_ASSERT_OK(usva_pasid_owner_destroy(a[1].owner));
	TEST_ASSERT_OK(usva_pasid_owner_create(sp2, 0, &a[1].owner));
	TEST_ASSERT_OK(perf_pair(a, worker));
	perf_print("2 lcores, a space each (ceiling):", a, secs);
out:
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp2));
	TEST_ASSERT_OK(usva_pasid_space_destroy(sp));
	return TEST_SUCCESS;
}
