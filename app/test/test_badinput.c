/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bad input, table-driven, for every public call that takes a struct (and
 * the ID- and flag-taking calls around them): the generic rows of
 * test_rows.h for each size-versioned config, field rows with out-of-range
 * and invalid enum values, and IDs and handles that are 0, UINT32_MAX,
 * freed, of the wrong kind or of another context. Each row gets its
 * documented errno and changes nothing: usva allocations, pool pages, DMA
 * devices, mempools, file descriptors and the counters of the objects the
 * call was given are compared before and after.
 *
 * Every case prints how many bad inputs it tried ("bad inputs tried: N");
 * doc/reliability.md has the totals.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_service.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_dma.h"
#include "usva_emu.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "usva_struct.h"
#include "test.h"
#include "test_rows.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_1G	UINT64_C(0x40000000)
#define U64(p)	((uint64_t)(uintptr_t)(p))

/* ==== the row engine (test_rows.h) ======================================= */

static unsigned int rows_tried_total;
static unsigned int rows_valid_total;

void
rows_count(unsigned int n)
{
	rows_tried_total += n;
}

void
rows_count_valid(unsigned int n)
{
	rows_valid_total += n;
}

unsigned int
rows_valid(void)
{
	return rows_valid_total;
}

unsigned int
rows_total(void)
{
	return rows_tried_total;
}

static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
mempool_one(struct rte_mempool *mp, void *arg)
{
	RTE_SET_USED(mp);
	(*(unsigned int *)arg)++;
}

void
rows_world_take(struct rows_world *w, rows_snap_fn snap, void *ctx)
{
	struct usva_page_pool_stats ps;

	memset(w, 0, sizeof(*w));
	w->allocs = usva_alloc_outstanding();
	usva_page_pool_stats(usva_page_pool_default(), &ps);
	w->pool_in_use = ps.in_use;
	w->pool_capacity = ps.capacity;
	w->dma_count = usva_dma_count();
	rte_mempool_walk(mempool_one, &w->mempools);
	w->fds = fd_count();
	if (snap != NULL)
		snap(ctx, w->extra);
}

bool
rows_world_same(const struct rows_world *a, const struct rows_world *b,
		char *why, size_t len)
{
	if (a->allocs != b->allocs) {
		snprintf(why, len, "%" PRId64 " usva allocations leaked",
			 b->allocs - a->allocs);
		return false;
	}
	if (a->pool_in_use != b->pool_in_use ||
	    a->pool_capacity != b->pool_capacity) {
		snprintf(why, len, "default pool in_use %" PRIu64 " -> %" PRIu64,
			 a->pool_in_use, b->pool_in_use);
		return false;
	}
	if (a->dma_count != b->dma_count) {
		snprintf(why, len, "DMA devices %u -> %u", a->dma_count,
			 b->dma_count);
		return false;
	}
	if (a->mempools != b->mempools) {
		snprintf(why, len, "mempools %u -> %u", a->mempools, b->mempools);
		return false;
	}
	if (a->fds != b->fds) {
		snprintf(why, len, "open fds %d -> %d", a->fds, b->fds);
		return false;
	}
	for (unsigned int i = 0; i < ROWS_EXTRA; i++) {
		if (a->extra[i] != b->extra[i]) {
			snprintf(why, len, "counter %u changed: %" PRIu64 " -> %"
				 PRIu64, i, a->extra[i], b->extra[i]);
			return false;
		}
	}
	return true;
}

/* Large enough for USVA_STRUCT_MAX_SIZE and then some. */
static uint8_t rowbuf[USVA_STRUCT_MAX_SIZE + 256] __rte_aligned(64);

static int
row_run(const struct rows_cfg *c, const char *name, const void *cfg,
	bool null_out, int err)
{
	struct rows_world w0, w1;
	char why[160];
	int rc;

	rows_world_take(&w0, c->snap, c->ctx);
	rc = c->call(c->ctx, cfg, null_out);
	rows_world_take(&w1, c->snap, c->ctx);
	if (err == 0)
		rows_count_valid(1);
	else
		rows_count(1);
	TEST_ASSERT(rc == -err, "%s, %s: returned %d (%s), expected %d",
		    c->what, name, rc, strerror(rc < 0 ? -rc : 0), -err);
	TEST_ASSERT(rows_world_same(&w0, &w1, why, sizeof(why)), "%s, %s: %s",
		    c->what, name, why);
	return TEST_SUCCESS;
}

int
rows_one(const struct rows_cfg *c, const char *name, const void *cfg, int err)
{
	return row_run(c, name, cfg, false, err);
}

/* rowbuf = the valid struct, zero after it, claiming @p claim bytes. */
static void
buf_valid(const struct rows_cfg *c, uint32_t claim)
{
	memset(rowbuf, 0, sizeof(rowbuf));
	memcpy(rowbuf, c->valid, c->size);
	memcpy(rowbuf, &claim, sizeof(claim));
}

#define ROW(name_, err_)						\
	TEST_ASSERT(row_run(c, (name_), rowbuf, false, (err_)) ==	\
		    TEST_SUCCESS, "row")

int
rows_config(const struct rows_cfg *c)
{
	uint32_t flags;
	char name[96];

	RTE_VERIFY(c->size + 16 <= USVA_STRUCT_MAX_SIZE && c->min >= 8 &&
		   c->min <= c->size);
	/* Sizes. */
	buf_valid(c, 0);
	ROW("size 0", EINVAL);
	buf_valid(c, 4);
	ROW("size 4 (the size field alone)", EINVAL);
	buf_valid(c, (uint32_t)c->min - 1);
	ROW("minimum - 1", EINVAL);
	buf_valid(c, (uint32_t)c->min);
	memset(rowbuf + c->min, 0, c->size - c->min);
	ROW("minimum, zero past it", 0);
	buf_valid(c, (uint32_t)c->min);
	memset(rowbuf + c->min, 0xa5, c->size + 64 - c->min);
	ROW("minimum, garbage past it (must not be read)", 0);
	buf_valid(c, (uint32_t)c->size);
	ROW("exact", 0);
	buf_valid(c, (uint32_t)c->size + 1);
	ROW("exact + 1, zero tail", 0);
	buf_valid(c, (uint32_t)c->size + 1);
	rowbuf[c->size] = 0x01;
	ROW("exact + 1, non-zero tail", E2BIG);
	buf_valid(c, (uint32_t)c->size + 8);
	rowbuf[c->size + 7] = 0x80;
	ROW("exact + 8, last tail byte non-zero", E2BIG);
	buf_valid(c, USVA_STRUCT_MAX_SIZE);
	ROW("USVA_STRUCT_MAX_SIZE, zero tail", 0);
	buf_valid(c, USVA_STRUCT_MAX_SIZE);
	rowbuf[USVA_STRUCT_MAX_SIZE - 1] = 0xff;
	ROW("USVA_STRUCT_MAX_SIZE, last byte non-zero", E2BIG);
	buf_valid(c, USVA_STRUCT_MAX_SIZE + 1);
	ROW("USVA_STRUCT_MAX_SIZE + 1 (huge)", EINVAL);
	buf_valid(c, UINT32_MAX);
	ROW("UINT32_MAX (huge)", EINVAL);
	/* NULL pointers. */
	TEST_ASSERT(row_run(c, "NULL config", NULL, false, EFAULT) ==
		    TEST_SUCCESS, "row");
	if (!c->no_out)
		TEST_ASSERT(row_run(c, "NULL output pointer", c->valid, true,
				    EINVAL) == TEST_SUCCESS, "row");
	/* Every flag bit this version does not define. */
	for (unsigned int b = 0; b < 32; b++) {
		if (c->known_flags & (1u << b))
			continue;
		buf_valid(c, (uint32_t)c->size);
		memcpy(&flags, rowbuf + 4, sizeof(flags));
		flags |= 1u << b;
		memcpy(rowbuf + 4, &flags, sizeof(flags));
		snprintf(name, sizeof(name), "undefined flag bit %u", b);
		ROW(name, EOPNOTSUPP);
	}
	/* Each reserved field: its first and its last byte. */
	for (unsigned int r = 0; r < c->nr_reserved; r++) {
		const struct rows_field *f = &c->reserved[r];

		buf_valid(c, (uint32_t)c->size);
		rowbuf[f->off] = 0x01;
		snprintf(name, sizeof(name), "reserved %s, first byte", f->name);
		ROW(name, EINVAL);
		if (f->len == 1)
			continue;
		buf_valid(c, (uint32_t)c->size);
		rowbuf[f->off + f->len - 1] = 0x80;
		snprintf(name, sizeof(name), "reserved %s, last byte", f->name);
		ROW(name, EINVAL);
	}
	return TEST_SUCCESS;
}

int
rows_values(const struct rows_cfg *c, const struct rows_val *v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint8_t b1 = (uint8_t)v[i].value;
		uint16_t b2 = (uint16_t)v[i].value;
		uint32_t b4 = (uint32_t)v[i].value;
		uint64_t b8 = v[i].value;
		const void *src = v[i].width == 1 ? (const void *)&b1 :
				  v[i].width == 2 ? (const void *)&b2 :
				  v[i].width == 4 ? (const void *)&b4 :
						    (const void *)&b8;

		RTE_VERIFY(v[i].width == 1 || v[i].width == 2 ||
			   v[i].width == 4 || v[i].width == 8);
		buf_valid(c, (uint32_t)c->size);
		memcpy(rowbuf + v[i].off, src, v[i].width);
		ROW(v[i].name, v[i].err);
	}
	return TEST_SUCCESS;
}

#undef ROW

/* ==== helpers ============================================================= */

/* One bad call outside the struct rows: the errno, and nothing changed. */
#define BAD(snap_, ctx_, expr, err)					\
	do {								\
		struct rows_world w0__, w1__;				\
		char why__[160];					\
		int64_t rc__;						\
									\
		rows_world_take(&w0__, (snap_), (ctx_));		\
		rc__ = (int64_t)(expr);					\
		rows_world_take(&w1__, (snap_), (ctx_));		\
		rows_count(1);						\
		TEST_ASSERT_GOTO(rc__ == -(err), out, "%s: returned %"	\
				 PRId64 ", expected %d", #expr, rc__,	\
				 -(err));				\
		TEST_ASSERT_GOTO(rows_world_same(&w0__, &w1__, why__,	\
						 sizeof(why__)), out,	\
				 "%s: %s", #expr, why__);		\
	} while (0)

#define EQ_GOTO(a, b)							\
	TEST_ASSERT_GOTO((int64_t)(a) == (int64_t)(b), out, "%s: %" PRId64 \
			 ", expected %" PRId64, #a, (int64_t)(a), (int64_t)(b))

#define RUN_ROWS(expr)							\
	TEST_ASSERT_GOTO((expr) == TEST_SUCCESS, out, "rows")

#define CASE_BEGIN()							\
	unsigned int tried0__ = rows_total(), valid0__ = rows_valid()
#define CASE_END()							\
	printf("    bad inputs tried: %u (and %u valid rows)\n",	\
	       rows_total() - tried0__, rows_valid() - valid0__)

static unsigned int
worker_lcore(void)
{
	return rte_get_next_lcore(-1, 1, 0);
}

/* ==== page pools ========================================================= */

static int
call_pool(void *ctx, const void *cfg, bool null_out)
{
	struct usva_page_pool *p = NULL;
	int rc;

	RTE_SET_USED(ctx);
	rc = usva_page_pool_create(cfg, null_out ? NULL : &p);
	if (rc == 0) {
		if (p == NULL)
			return -ENOTRECOVERABLE;
		usva_page_pool_destroy(p);
	} else if (p != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, badinput_page_pool)
{
	static const struct usva_page_pool_config valid = {
		.size = sizeof(valid), .page_shift = 12, .nr_pages = 8,
		.numa_node = -1,
	};
	static const char long_name[] =
		"bi-a-mempool-name-longer-than-rte-mempool-namesize";
	const struct rows_cfg c = {
		.what = "usva_page_pool_config", .valid = &valid,
		.size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_page_pool_config, nr_pages),
		.known_flags = 0,
		.reserved = { ROWS_FIELD(struct usva_page_pool_config, reserved) },
		.nr_reserved = 1, .call = call_pool,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_page_pool_config, page_shift, 0, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, page_shift, 11, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, page_shift, 13, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, page_shift, 20, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, page_shift, 22, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, page_shift, 30, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, page_shift, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, nr_pages, 0, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, nr_pages, (1u << 24) + 1, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, nr_pages, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, numa_node, -2, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, numa_node, 1024, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, numa_node, INT32_MAX, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, numa_node, INT32_MIN, EINVAL),
		ROWS_VAL(struct usva_page_pool_config, name, U64(""), EINVAL),
		ROWS_VAL(struct usva_page_pool_config, name, U64(long_name), EINVAL),
		ROWS_VAL(struct usva_page_pool_config, name, U64("bi_pool_dup"), EEXIST),
		/* Clamped, not refused. */
		ROWS_VAL(struct usva_page_pool_config, cache_size, UINT32_MAX, 0),
	};
	struct usva_page_pool_config dc = valid;
	struct usva_page_pool *dup = NULL;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	dc.name = "bi_pool_dup";
	TEST_ASSERT_OK(usva_page_pool_create(&dc, &dup));
	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	ret = TEST_SUCCESS;
out:
	usva_page_pool_destroy(dup);
	CASE_END();
	return ret;
}

/* ==== PASID spaces and PASIDs ============================================ */

static int
call_space(void *ctx, const void *cfg, bool null_out)
{
	struct usva_pasid_space *sp = NULL;
	int rc;

	RTE_SET_USED(ctx);
	rc = usva_pasid_space_create(cfg, null_out ? NULL : &sp);
	if (rc == 0) {
		if (sp == NULL)
			return -ENOTRECOVERABLE;
		if (usva_pasid_space_destroy(sp) != 0)
			return -ENOTRECOVERABLE;
	} else if (sp != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

struct pasid_ctx {
	struct usva_pasid_space *sp, *sp2;
	struct usva_pasid_owner *own, *own_b, *own2;
};

static void
snap_pasid(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct pasid_ctx *p = arg;
	struct usva_pasid_space_stats st;

	usva_pasid_space_stats(p->sp, &st);
	x[0] = st.allocated;
	x[1] = st.attached;
	x[2] = usva_pasid_owner_count(p->own);
	x[3] = usva_pasid_owner_count(p->own_b);
	usva_pasid_space_stats(p->sp2, &st);
	x[4] = st.allocated;
	x[5] = st.attached;
}

USVA_TEST(fast, badinput_pasid)
{
	static const struct usva_pasid_space_config valid = {
		.size = sizeof(valid), .width = 8,
	};
	const struct rows_cfg c = {
		.what = "usva_pasid_space_config", .valid = &valid,
		.size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_pasid_space_config, width),
		.reserved = { ROWS_FIELD(struct usva_pasid_space_config,
					 reserved_must_be_zero) },
		.nr_reserved = 1, .call = call_space,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_pasid_space_config, width, 0, EINVAL),
		ROWS_VAL(struct usva_pasid_space_config, width,
			 USVA_MAX_PASID_WIDTH + 1, EINVAL),
		ROWS_VAL(struct usva_pasid_space_config, width, 32, EINVAL),
		ROWS_VAL(struct usva_pasid_space_config, width, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_pasid_space_config, nr_reserved,
			 USVA_PASID_MAX_RESERVED + 1, EINVAL),
		ROWS_VAL(struct usva_pasid_space_config, nr_reserved, UINT32_MAX,
			 EINVAL),
		/* Ranges announced, no array. */
		ROWS_VAL(struct usva_pasid_space_config, nr_reserved, 1, EINVAL),
	};
	static const struct usva_pasid_range bad_ranges[][1] = {
		{ { 5, 4 } },			/* first > last */
		{ { 1, 256 } },			/* beyond width 8 */
		{ { 0, UINT32_MAX } },
		{ { UINT32_MAX, UINT32_MAX } },
	};
	struct usva_pasid_space_config rc_cfg;
	struct usva_pasid_space_config sc = { .size = sizeof(sc), .width = 8 };
	struct usva_pasid_range res = { 10, 19 };
	struct pasid_ctx p = { 0 };
	uint32_t mine, freed, other, in2;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	for (unsigned int i = 0; i < RTE_DIM(bad_ranges); i++) {
		rc_cfg = valid;
		rc_cfg.nr_reserved = 1;
		rc_cfg.reserved = bad_ranges[i];
		RUN_ROWS(rows_one(&c, "bad reserved range", &rc_cfg, EINVAL));
	}

	/* IDs: 0, UINT32_MAX, beyond the width, reserved, freed, of another
	 * owner, of another space; NULL handles. */
	sc.nr_reserved = 1;
	sc.reserved = &res;
	TEST_ASSERT_OK_GOTO(usva_pasid_space_create(&sc, &p.sp));
	sc.nr_reserved = 0;
	TEST_ASSERT_OK_GOTO(usva_pasid_space_create(&sc, &p.sp2));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(p.sp, 0, &p.own));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(p.sp, 0, &p.own_b));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(p.sp2, 0, &p.own2));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(p.own, 30));
	mine = 30;
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(p.own_b, 31));
	other = 31;
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(p.own, 32));
	TEST_ASSERT_OK_GOTO(usva_pasid_free(p.own, 32));
	freed = 32;
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(p.own2, 40));
	in2 = 40;	/* allocated in sp2 only */
	TEST_ASSERT_OK_GOTO(usva_pasid_attach_get(p.sp, mine));

	BAD(snap_pasid, &p, usva_pasid_alloc_at(p.own, 0), EPERM);
	BAD(snap_pasid, &p, usva_pasid_alloc_at(p.own, 15), EPERM);
	BAD(snap_pasid, &p, usva_pasid_alloc_at(p.own, 256), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_alloc_at(p.own, UINT32_MAX), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_alloc_at(p.own, mine), EEXIST);
	BAD(snap_pasid, &p, usva_pasid_alloc_at(p.own, other), EEXIST);
	BAD(snap_pasid, &p, usva_pasid_alloc_at(NULL, 50), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_alloc(NULL, &mine), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_alloc(p.own, NULL), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, 0), EPERM);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, 12), EPERM);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, 256), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, UINT32_MAX), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, freed), ENOENT);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, other), EACCES);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, in2), ENOENT);
	BAD(snap_pasid, &p, usva_pasid_free(p.own2, mine), ENOENT);
	BAD(snap_pasid, &p, usva_pasid_free(p.own, mine), EBUSY);
	BAD(snap_pasid, &p, usva_pasid_free(NULL, mine), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_attach_get(p.sp, 0), EPERM);
	BAD(snap_pasid, &p, usva_pasid_attach_get(p.sp, 19), EPERM);
	BAD(snap_pasid, &p, usva_pasid_attach_get(p.sp, 256), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_attach_get(p.sp, UINT32_MAX), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_attach_get(p.sp, freed), ENOENT);
	BAD(snap_pasid, &p, usva_pasid_attach_get(p.sp, in2), ENOENT);
	BAD(snap_pasid, &p, usva_pasid_attach_get(NULL, mine), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_attach_put(p.sp, 0), EPERM);
	BAD(snap_pasid, &p, usva_pasid_attach_put(p.sp, UINT32_MAX), ERANGE);
	BAD(snap_pasid, &p, usva_pasid_attach_put(p.sp, freed), ENOENT);
	BAD(snap_pasid, &p, usva_pasid_attach_put(p.sp, other), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_attach_put(p.sp2, in2), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_attach_put(NULL, mine), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_owner_destroy(p.own), EBUSY);
	BAD(snap_pasid, &p, usva_pasid_space_destroy(p.sp), EBUSY);
	BAD(snap_pasid, &p, usva_pasid_owner_create(NULL, 0, &p.own_b), EINVAL);
	BAD(snap_pasid, &p, usva_pasid_owner_create(p.sp, 0, NULL), EINVAL);
	rows_count(2);
	EQ_GOTO(usva_pasid_generation(p.sp, UINT32_MAX), 0);
	EQ_GOTO(usva_pasid_generation(p.sp, freed), 0);
	TEST_ASSERT_OK_GOTO(usva_pasid_attach_put(p.sp, mine));
	ret = TEST_SUCCESS;
out:
	usva_pasid_space_destroy(p.sp);
	usva_pasid_space_destroy(p.sp2);
	CASE_END();
	return ret;
}

/* ==== address spaces ====================================================== */

static int
call_as(void *ctx, const void *cfg, bool null_out)
{
	struct usva_as *as = NULL;
	int rc;

	RTE_SET_USED(ctx);
	rc = usva_as_create(cfg, null_out ? NULL : &as);
	if (rc == 0) {
		if (as == NULL)
			return -ENOTRECOVERABLE;
		usva_as_destroy(as);
	} else if (as != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

static void
snap_as(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct usva_as_stats st;

	usva_as_stats(arg, &st);
	x[0] = st.table_pages;
	x[1] = st.mapped_bytes;
	x[2] = st.maps;
	x[3] = st.unmaps;
	x[4] = st.splits;
	x[5] = st.merges;
	x[6] = st.held_pages;
	x[7] = st.inval_flushes;
}

USVA_TEST(fast, badinput_as)
{
	static struct usva_as_config valid = {
		.size = sizeof(valid), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	const struct rows_cfg c = {
		.what = "usva_as_config", .valid = &valid, .size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_as_config, va_bits),
		.reserved = { ROWS_FIELD(struct usva_as_config, reserved0),
			      ROWS_FIELD(struct usva_as_config, reserved) },
		.nr_reserved = 2, .call = call_as,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_as_config, format, 0, EINVAL),
		ROWS_VAL(struct usva_as_config, format, 3, EINVAL),
		ROWS_VAL(struct usva_as_config, format, 255, EINVAL),
		ROWS_VAL(struct usva_as_config, format, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 0, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 39, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 47, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 49, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 56, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 58, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, 64, EINVAL),
		ROWS_VAL(struct usva_as_config, va_bits, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_as_config, page_sizes, USVA_PGSIZE_2M, EINVAL),
		ROWS_VAL(struct usva_as_config, page_sizes, UINT64_C(1) << 13, EINVAL),
		ROWS_VAL(struct usva_as_config, page_sizes,
			 USVA_PGSIZE_4K | (UINT64_C(1) << 39), EINVAL),
		ROWS_VAL(struct usva_as_config, page_sizes, UINT64_MAX, EINVAL),
		ROWS_VAL(struct usva_as_config, granule_shift, 11, EINVAL),
		ROWS_VAL(struct usva_as_config, granule_shift, 49, EINVAL),
		ROWS_VAL(struct usva_as_config, granule_shift, UINT32_MAX, EINVAL),
	};
	struct usva_page_pool_config pc2m = {
		.size = sizeof(pc2m), .page_shift = 21, .nr_pages = 1,
		.numa_node = -1,
	};
	struct usva_page_pool *pool2m = NULL;
	struct usva_as_config ac;
	struct usva_as *as = NULL;
	struct usva_as_xlate xl;
	const uint64_t va = UINT64_C(0x40000000), oa = UINT64_C(0x80000000);
	const uint32_t rw = USVA_PROT_READ | USVA_PROT_WRITE;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	/* Widths of the other format; a table pool of 2 MiB pages. */
	ac = valid;
	ac.format = USVA_PGFMT_ARM_LPAE_4K;
	ac.va_bits = 24;
	RUN_ROWS(rows_one(&c, "ARM va_bits 24", &ac, EINVAL));
	ac.va_bits = 49;
	RUN_ROWS(rows_one(&c, "ARM va_bits 49", &ac, EINVAL));
	ac.va_bits = 57;
	RUN_ROWS(rows_one(&c, "ARM va_bits 57", &ac, EINVAL));
	TEST_ASSERT_OK_GOTO(usva_page_pool_create(&pc2m, &pool2m));
	ac = valid;
	ac.table_pool = pool2m;
	RUN_ROWS(rows_one(&c, "table pool of 2 MiB pages", &ac, EINVAL));

	/* Calls on an address space: addresses, prot and flags bits. */
	TEST_ASSERT_OK_GOTO(usva_as_create(&valid, &as));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, va, oa, 4 * SZ_4K, rw, 0));
	/* Tables above a concurrency granule outlive their last leaf (by
	 * design, usva_as.h): make the one below va exist first, so that a
	 * map refused with -EEXIST across va is seen to change nothing. */
	TEST_ASSERT_OK_GOTO(usva_as_map(as, va - SZ_4K, oa, SZ_4K, rw, 0));
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, va - SZ_4K, SZ_4K, NULL));
	BAD(snap_as, as, usva_as_map(as, va + 0x10000 + 1, oa, SZ_4K, rw, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa + 1, SZ_4K, rw, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, 0, rw, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, SZ_4K + 1, rw, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, UINT64_C(1) << 47, oa, SZ_4K, rw, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, UINT64_C(1) << 48, oa, SZ_4K, rw, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, UINT64_MAX & ~(SZ_4K - 1), oa, 2 * SZ_4K,
				     rw, 0), EOVERFLOW);
	BAD(snap_as, as, usva_as_map(as, va + 0x10000, UINT64_MAX & ~(SZ_4K - 1),
				     2 * SZ_4K, rw, 0), EOVERFLOW);
	BAD(snap_as, as, usva_as_map(as, va, oa, SZ_4K, rw, 0), EEXIST);
	BAD(snap_as, as, usva_as_map(as, va - SZ_4K, oa, 2 * SZ_4K, rw, 0), EEXIST);
	BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, SZ_4K, 0, 0), EINVAL);
	BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, SZ_4K,
				     USVA_PROT_WRITE, 0), EINVAL);
	for (unsigned int b = 4; b < 32; b++) {
		BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, SZ_4K,
					     rw | (1u << b), 0), EINVAL);
		BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, 4 * SZ_4K,
					     rw | (1u << b), 0), EINVAL);
		BAD(snap_as, as, usva_as_protect(as, va, SZ_4K, rw | (1u << b)),
		    EINVAL);
	}
	for (unsigned int b = 2; b < 32; b++) {
		BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, SZ_4K, rw,
					     1u << b), EINVAL);
		BAD(snap_as, as, usva_as_map(as, va + 0x10000, oa, 4 * SZ_4K, rw,
					     1u << b), EINVAL);
	}
	BAD(snap_as, as, usva_as_unmap(as, va + 1, SZ_4K, NULL), EINVAL);
	BAD(snap_as, as, usva_as_unmap(as, va, 0, NULL), EINVAL);
	BAD(snap_as, as, usva_as_unmap(as, UINT64_C(1) << 48, SZ_4K, NULL), EINVAL);
	BAD(snap_as, as, usva_as_unmap(as, UINT64_MAX & ~(SZ_4K - 1), 2 * SZ_4K,
				       NULL), EOVERFLOW);
	BAD(snap_as, as, usva_as_protect(as, va, 8 * SZ_4K, rw), ENOENT);
	BAD(snap_as, as, usva_as_protect(as, va, SZ_4K, USVA_PROT_WRITE), EINVAL);
	BAD(snap_as, as, usva_as_protect(as, va, SZ_4K, 0), EINVAL);
	BAD(snap_as, as, usva_as_protect(as, va + 1, SZ_4K, rw), EINVAL);
	BAD(snap_as, as, usva_as_lookup(as, va + 0x10000, &xl), ENOENT);
	BAD(snap_as, as, usva_as_lookup(as, UINT64_C(1) << 48, &xl), EINVAL);
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, va, 4 * SZ_4K, NULL));
	ret = TEST_SUCCESS;
out:
	usva_as_destroy(as);
	usva_page_pool_destroy(pool2m);
	CASE_END();
	return ret;
}

/* ==== IOMMU instances, devices, domains ================================== */

static int
call_iommu_open(void *ctx, const void *cfg, bool null_out)
{
	struct usva_iommu *iommu = NULL;
	int rc;

	RTE_SET_USED(ctx);
	rc = usva_iommu_open(cfg, null_out ? NULL : &iommu);
	if (rc == 0) {
		if (iommu == NULL)
			return -ENOTRECOVERABLE;
		if (usva_iommu_close(iommu) != 0)
			return -ENOTRECOVERABLE;
	} else if (iommu != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, badinput_iommu_open)
{
	static const struct usva_iommu_config valid = {
		.size = sizeof(valid), .backend = "emu",
		.params = "flavour=vtd,pasid_width=8",
	};
	const struct rows_cfg c = {
		.what = "usva_iommu_config", .valid = &valid, .size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_iommu_config, backend),
		.known_flags = USVA_IOMMU_F_STRICT,
		.reserved = { ROWS_FIELD(struct usva_iommu_config, reserved) },
		.nr_reserved = 1, .call = call_iommu_open,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_iommu_config, backend, 0, EINVAL),
		ROWS_VAL(struct usva_iommu_config, backend, U64(""), ENODEV),
		ROWS_VAL(struct usva_iommu_config, backend, U64("nope"), ENODEV),
		ROWS_VAL(struct usva_iommu_config, backend, U64("emu "), ENODEV),
		ROWS_VAL(struct usva_iommu_config, params, U64("bogus=1"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params, U64("flavour=x86"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params, U64("flavour"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params, U64("aw=65"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params, U64("aw=-1"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params, U64("pasid_width=21"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params,
			 U64("pasid_width=4294967296"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params,
			 U64("iotlb_sets=18446744073709551616"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params, U64("prq_depth=x"), EINVAL),
		ROWS_VAL(struct usva_iommu_config, params,
			 U64("inval_wait_ns=1000001"), EINVAL),
		/* rte_kvargs skips empty items: tolerated. */
		ROWS_VAL(struct usva_iommu_config, params, U64(",,"), 0),
		ROWS_VAL(struct usva_iommu_config, params, U64("=1"), EINVAL),
		/* A known flag is accepted. */
		ROWS_VAL(struct usva_iommu_config, flags, USVA_IOMMU_F_STRICT, 0),
	};
	int ret = TEST_FAILED;
	CASE_BEGIN();

	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	ret = TEST_SUCCESS;
out:
	CASE_END();
	return ret;
}

/*
 * Fixture: two emu instances (x = vtd, y = smmuv3), each with an owner,
 * a PRI+ATS device of 20 PASID bits and an address space of its format
 * with a domain; pasid[0] of x attached at (dev, pasid) to dom; pasid[1]
 * allocated, attached nowhere; ypasid attached on y. dev0 on x has no
 * PASID support.
 */
struct bix {
	struct usva_iommu *x, *y;
	struct usva_pasid_owner *xo, *yo;
	struct usva_iommu_dev *dev, *dev0, *ydev;
	struct usva_as *as, *yas, *arm_as;
	struct usva_domain *dom, *dom_b, *ydom;
	uint32_t pasid[2], ypasid;
	bool attached, yattached;
};

static void
snap_bix(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct bix *b = arg;
	struct usva_iommu_stats st;
	struct usva_pasid_space_stats ps;
	struct usva_dev_info di = { .size = sizeof(di) };

	usva_iommu_stats(b->x, &st);
	x[0] = st.inval_calls;
	x[1] = st.inval_entries;
	x[2] = st.page_requests;
	x[3] = st.events;
	usva_pasid_space_stats(usva_iommu_pasids(b->x), &ps);
	x[4] = ps.allocated;
	x[5] = ps.attached;
	usva_pasid_space_stats(usva_iommu_pasids(b->y), &ps);
	x[6] = ps.allocated;
	x[7] = ps.attached;
	if (usva_iommu_dev_info(b->dev, &di) == 0)
		x[8] = di.attached;
	usva_iommu_stats(b->y, &st);
	x[9] = st.inval_calls;
	x[10] = usva_emu_outstanding_groups(b->x);
	x[11] = st.page_requests;
}

static void
bix_close(struct bix *b)
{
	if (b->attached)
		usva_iommu_detach(b->dev, b->pasid[0]);
	if (b->yattached)
		usva_iommu_detach(b->ydev, b->ypasid);
	usva_iommu_dev_close(b->dev);
	usva_iommu_dev_close(b->dev0);
	usva_iommu_dev_close(b->ydev);
	usva_domain_destroy(b->dom);
	usva_domain_destroy(b->dom_b);
	usva_domain_destroy(b->ydom);
	usva_as_destroy(b->as);
	usva_as_destroy(b->yas);
	usva_as_destroy(b->arm_as);
	usva_pasid_owner_destroy(b->xo);
	usva_pasid_owner_destroy(b->yo);
	usva_iommu_close(b->x);
	usva_iommu_close(b->y);
	memset(b, 0, sizeof(*b));
}

static int
bix_open(struct bix *b)
{
	struct usva_iommu_config ic = { .size = sizeof(ic), .backend = "emu" };
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "bi-dev", .pasid_width = 20,
		.flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS,
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config domc = { .size = sizeof(domc) };

	memset(b, 0, sizeof(*b));
	ic.params = "flavour=vtd,aw=48,pasid_width=10,prq_depth=64";
	TEST_ASSERT_OK_GOTO(usva_iommu_open(&ic, &b->x));
	ic.params = "flavour=smmuv3,aw=48,pasid_width=10,prq_depth=64";
	TEST_ASSERT_OK_GOTO(usva_iommu_open(&ic, &b->y));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(usva_iommu_pasids(b->x), 0,
						    &b->xo));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(usva_iommu_pasids(b->y), 0,
						    &b->yo));
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(b->x, &dc, &b->dev));
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(b->y, &dc, &b->ydev));
	dc.flags = 0;
	dc.pasid_width = 0;
	dc.name = "bi-dev0";
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(b->x, &dc, &b->dev0));
	TEST_ASSERT_OK_GOTO(usva_as_create(&ac, &b->as));
	ac.format = USVA_PGFMT_ARM_LPAE_4K;
	TEST_ASSERT_OK_GOTO(usva_as_create(&ac, &b->yas));
	TEST_ASSERT_OK_GOTO(usva_as_create(&ac, &b->arm_as));
	domc.as = b->as;
	TEST_ASSERT_OK_GOTO(usva_domain_create(b->x, &domc, &b->dom));
	TEST_ASSERT_OK_GOTO(usva_domain_create(b->x, &domc, &b->dom_b));
	domc.as = b->yas;
	TEST_ASSERT_OK_GOTO(usva_domain_create(b->y, &domc, &b->ydom));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(b->xo, &b->pasid[0]));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(b->xo, &b->pasid[1]));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(b->yo, &b->ypasid));
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(b->dev, b->pasid[0], b->dom));
	b->attached = true;
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(b->ydev, b->ypasid, b->ydom));
	b->yattached = true;
	return TEST_SUCCESS;
out:
	bix_close(b);
	return TEST_FAILED;
}

#define BIX_OPEN(b) TEST_ASSERT(bix_open(b) == TEST_SUCCESS, "fixture")

/* A PASID number allocated in y's space and free in x's. */
static int
bix_foreign_pasid(struct bix *b, uint32_t *out)
{
	for (uint32_t p = 100; p < 1000; p++) {
		if (usva_pasid_generation(usva_iommu_pasids(b->x), p) != 0)
			continue;
		if (usva_pasid_alloc_at(b->yo, p) == 0) {
			*out = p;
			return 0;
		}
	}
	return -ENOSPC;
}

#ifdef USVA_DEV_F_STALL
#define DEV_FLAGS_KNOWN (USVA_DEV_F_PRI | USVA_DEV_F_ATS | USVA_DEV_F_PASID_EXEC | \
			 USVA_DEV_F_PASID_PRIV | USVA_DEV_F_STALL)
#else
#define DEV_FLAGS_KNOWN (USVA_DEV_F_PRI | USVA_DEV_F_ATS | USVA_DEV_F_PASID_EXEC | \
			 USVA_DEV_F_PASID_PRIV)
#endif

struct dev_ctx {
	struct bix *b;
	struct usva_iommu *iommu;
};

static int
call_dev_open(void *arg, const void *cfg, bool null_out)
{
	struct dev_ctx *d = arg;
	struct usva_iommu_dev *dev = NULL;
	int rc;

	rc = usva_iommu_dev_open(d->iommu, cfg, null_out ? NULL : &dev);
	if (rc == 0) {
		if (dev == NULL)
			return -ENOTRECOVERABLE;
		usva_iommu_dev_close(dev);
	} else if (dev != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

static void
snap_dev_ctx(void *arg, uint64_t x[ROWS_EXTRA])
{
	snap_bix(((struct dev_ctx *)arg)->b, x);
}

USVA_TEST(fast, badinput_iommu_dev)
{
	static const struct usva_dev_config valid = {
		.size = sizeof(valid), .name = "bi-open",
		.flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS | USVA_DEV_F_PASID_EXEC |
			 USVA_DEV_F_PASID_PRIV,
		.pasid_width = 20, .pri_capacity = 64,
	};
	struct bix b;
	struct dev_ctx d = { &b, NULL };
	const struct rows_cfg c = {
		.what = "usva_dev_config", .valid = &valid, .size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_dev_config, name),
		.known_flags = DEV_FLAGS_KNOWN,
		.reserved = { ROWS_FIELD(struct usva_dev_config, reserved) },
		.nr_reserved = 1, .call = call_dev_open, .snap = snap_dev_ctx,
		.ctx = &d,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_dev_config, name, 0, EINVAL),
		ROWS_VAL(struct usva_dev_config, pasid_width, 21, EINVAL),
		ROWS_VAL(struct usva_dev_config, pasid_width, 32, EINVAL),
		ROWS_VAL(struct usva_dev_config, pasid_width, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_dev_config, pri_capacity, 65537, EINVAL),
		ROWS_VAL(struct usva_dev_config, pri_capacity, UINT32_MAX, EINVAL),
	};
	struct usva_dev_info di;
	struct usva_iommu_caps caps;
	struct usva_iommu_dev *tmpd = NULL;
	struct usva_iova_range rg[1];
	uint32_t nr;
	uint8_t *page = NULL;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	d.iommu = b.x;
	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	d.iommu = b.y;
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	BAD(snap_bix, &b, usva_iommu_dev_open(NULL, &valid, &tmpd), EINVAL);

	/* Out-structs with a size: below their first fields. */
	for (uint32_t sz = 0; sz < USVA_OFFSETOFEND(struct usva_iommu_caps, flags);
	     sz += 4) {
		caps.size = sz;
		BAD(snap_bix, &b, usva_iommu_caps(b.x, &caps), EINVAL);
	}
	BAD(snap_bix, &b, usva_iommu_caps(b.x, NULL), EINVAL);
	for (uint32_t sz = 0;
	     sz < USVA_OFFSETOFEND(struct usva_dev_info, pasid_width); sz += 4) {
		di.size = sz;
		BAD(snap_bix, &b, usva_iommu_dev_info(b.dev, &di), EINVAL);
	}
	BAD(snap_bix, &b, usva_iommu_dev_info(b.dev, NULL), EINVAL);
	BAD(snap_bix, &b, usva_iommu_dev_info(NULL, &di), EINVAL);
	/* Fields past the size are not written. */
	memset(&caps, 0xa5, sizeof(caps));
	caps.size = USVA_OFFSETOFEND(struct usva_iommu_caps, flags);
	rows_count(1);
	TEST_ASSERT_OK_GOTO(usva_iommu_caps(b.x, &caps));
	EQ_GOTO(caps.pasid_width, 0xa5a5a5a5u);
	memset(&di, 0xa5, sizeof(di));
	di.size = USVA_OFFSETOFEND(struct usva_dev_info, pasid_width);
	rows_count(1);
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(b.dev, &di));
	EQ_GOTO(di.pri_capacity, 0xa5a5a5a5u);
	nr = 0;
	BAD(snap_bix, &b, usva_iommu_iova_ranges(b.x, rg, &nr), EMSGSIZE);
	TEST_ASSERT_GOTO(nr >= 1, out, "nr %u", nr);

	/* Stage 2: prot bits, alignment, wrap, the MSI window. */
	page = aligned_alloc(SZ_4K, SZ_4K);
	TEST_ASSERT_GOTO(page != NULL, out, "no memory");
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, U64(page), page, SZ_4K, 0), EINVAL);
	for (unsigned int bit = 2; bit < 32; bit++)
		BAD(snap_bix, &b, usva_iommu_s2_map(b.x, U64(page), page, SZ_4K,
				USVA_S2_READ | (1u << bit)), EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, U64(page) + 1, page, SZ_4K,
					    USVA_S2_READ), EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, U64(page), page + 1, SZ_4K,
					    USVA_S2_READ), EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, U64(page), page, 0,
					    USVA_S2_READ), EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, UINT64_MAX & ~(SZ_4K - 1), page,
					    2 * SZ_4K, USVA_S2_READ), EOVERFLOW);
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, UINT64_C(0xfee00000), page,
					    SZ_4K, USVA_S2_READ), EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_map(b.x, UINT64_C(1) << 48, page,
					    SZ_4K, USVA_S2_READ), EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_unmap(b.x, U64(page), SZ_4K, NULL), ENOENT);
	BAD(snap_bix, &b, usva_iommu_s2_unmap(b.x, U64(page) + 1, SZ_4K, NULL),
	    EINVAL);
	BAD(snap_bix, &b, usva_iommu_s2_unmap(b.x, U64(page), 0, NULL), EINVAL);
	BAD(snap_bix, &b, usva_iommu_map_pool(NULL, usva_page_pool_default()),
	    EINVAL);
	BAD(snap_bix, &b, usva_iommu_map_pool(b.x, NULL), EINVAL);
	/* Close with objects: -EBUSY, nothing closed. */
	BAD(snap_bix, &b, usva_iommu_close(b.x), EBUSY);
	ret = TEST_SUCCESS;
out:
	free(page);
	usva_iommu_dev_close(tmpd);
	bix_close(&b);
	CASE_END();
	return ret;
}

struct dom_ctx {
	struct bix *b;
	struct usva_iommu *iommu;
};

static int
call_domain(void *arg, const void *cfg, bool null_out)
{
	struct dom_ctx *d = arg;
	struct usva_domain *dom = NULL;
	int rc;

	rc = usva_domain_create(d->iommu, cfg, null_out ? NULL : &dom);
	if (rc == 0) {
		if (dom == NULL)
			return -ENOTRECOVERABLE;
		if (usva_domain_destroy(dom) != 0)
			return -ENOTRECOVERABLE;
	} else if (dom != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, badinput_domain)
{
	static struct usva_domain_config valid = { .size = sizeof(valid) };
	struct bix b;
	struct dom_ctx d = { &b, NULL };
	const struct rows_cfg c = {
		.what = "usva_domain_config", .valid = &valid, .size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_domain_config, as),
		.reserved = { ROWS_FIELD(struct usva_domain_config, reserved) },
		.nr_reserved = 1, .call = call_domain, .snap = snap_dev_ctx,
		.ctx = &d,
	};
	const struct rows_val v[] = {
		/* Neither an AS nor a raw root; both. */
		ROWS_VAL(struct usva_domain_config, as, 0, EINVAL),
		ROWS_VAL(struct usva_domain_config, s1_root, 0x1000, EINVAL),
		ROWS_VAL(struct usva_domain_config, format, USVA_PGFMT_X86_FS, EINVAL),
		ROWS_VAL(struct usva_domain_config, va_bits, 48, EINVAL),
	};
	/* Raw roots (a guest's tables): format and width checks. */
	static const struct { const char *name; uint64_t root; uint32_t fmt, bits;
			      int err; } raw[] = {
		{ "raw, valid", 0x1000, USVA_PGFMT_X86_FS, 48, 0 },
		{ "raw, root unaligned", 0x1001, USVA_PGFMT_X86_FS, 48, EINVAL },
		{ "raw, format 0", 0x1000, 0, 48, EOPNOTSUPP },
		{ "raw, format 3", 0x1000, 3, 48, EOPNOTSUPP },
		{ "raw, format 31", 0x1000, 31, 48, EOPNOTSUPP },
		{ "raw, format 32", 0x1000, 32, 48, EOPNOTSUPP },
		{ "raw, format UINT32_MAX", 0x1000, UINT32_MAX, 48, EOPNOTSUPP },
		{ "raw, ARM format on VT-d", 0x1000, USVA_PGFMT_ARM_LPAE_4K, 48,
		  EOPNOTSUPP },
		{ "raw, va_bits 0", 0x1000, USVA_PGFMT_X86_FS, 0, EOPNOTSUPP },
		{ "raw, va_bits 58", 0x1000, USVA_PGFMT_X86_FS, 58, EOPNOTSUPP },
		{ "raw, va_bits UINT32_MAX", 0x1000, USVA_PGFMT_X86_FS, UINT32_MAX,
		  EOPNOTSUPP },
	};
	struct usva_domain_config dc;
	struct usva_domain *tmpdom = NULL;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	d.iommu = b.x;
	valid.as = b.as;
	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	for (unsigned int i = 0; i < RTE_DIM(raw); i++) {
		memset(&dc, 0, sizeof(dc));
		dc.size = sizeof(dc);
		dc.s1_root = raw[i].root;
		dc.format = raw[i].fmt;
		dc.va_bits = raw[i].bits;
		RUN_ROWS(rows_one(&c, raw[i].name, &dc, raw[i].err));
	}
	/* An AS of a format the instance does not walk. */
	dc = valid;
	dc.as = b.arm_as;
	RUN_ROWS(rows_one(&c, "ARM AS on a VT-d instance", &dc, EOPNOTSUPP));
	d.iommu = b.y;
	dc.as = b.as;
	RUN_ROWS(rows_one(&c, "x86 AS on an SMMUv3 instance", &dc, EOPNOTSUPP));
	BAD(snap_bix, &b, usva_domain_create(NULL, &valid, &tmpdom), EINVAL);
	/* Destroy while attached: -EBUSY, still attached. */
	BAD(snap_bix, &b, usva_domain_destroy(b.dom), EBUSY);
	ret = TEST_SUCCESS;
out:
	valid.as = NULL;
	usva_domain_destroy(tmpdom);
	bix_close(&b);
	CASE_END();
	return ret;
}

/* Attach, replace, detach: PASIDs and domains of every wrong kind. */
USVA_TEST(fast, badinput_attach)
{
	struct bix b;
	uint32_t foreign = 0, freed = 0, never;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	TEST_ASSERT_OK_GOTO(bix_foreign_pasid(&b, &foreign));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(b.xo, &freed));
	TEST_ASSERT_OK_GOTO(usva_pasid_free(b.xo, freed));
	never = freed + 1;
	while (usva_pasid_generation(usva_iommu_pasids(b.x), never) != 0 ||
	       never == foreign)
		never++;

	/* attach */
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, 0, b.dom_b), EINVAL);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, UINT32_MAX, b.dom_b), ERANGE);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, 1u << 10, b.dom_b), ERANGE);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, 1u << 20, b.dom_b), ERANGE);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, freed, b.dom_b), ENOENT);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, never, b.dom_b), ENOENT);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, foreign, b.dom_b), ENOENT);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, b.pasid[0], b.dom_b), EBUSY);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, b.pasid[1], b.ydom), EINVAL);
	BAD(snap_bix, &b, usva_iommu_attach(b.ydev, b.pasid[1], b.dom), EINVAL);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev, b.pasid[1], NULL), EINVAL);
	BAD(snap_bix, &b, usva_iommu_attach(NULL, b.pasid[1], b.dom), EINVAL);
	BAD(snap_bix, &b, usva_iommu_attach(b.dev0, b.pasid[1], b.dom), EOPNOTSUPP);
	/* replace */
	BAD(snap_bix, &b, usva_iommu_replace(b.dev, b.pasid[1], b.dom_b), ENOENT);
	BAD(snap_bix, &b, usva_iommu_replace(b.dev, freed, b.dom_b), ENOENT);
	BAD(snap_bix, &b, usva_iommu_replace(b.dev, 0, b.dom_b), EINVAL);
	BAD(snap_bix, &b, usva_iommu_replace(b.dev, UINT32_MAX, b.dom_b), ERANGE);
	BAD(snap_bix, &b, usva_iommu_replace(b.dev, b.pasid[0], b.ydom), EINVAL);
	BAD(snap_bix, &b, usva_iommu_replace(b.dev, b.pasid[0], NULL), EINVAL);
	BAD(snap_bix, &b, usva_iommu_replace(NULL, b.pasid[0], b.dom_b), EINVAL);
	/* detach */
	BAD(snap_bix, &b, usva_iommu_detach(b.dev, b.pasid[1]), ENOENT);
	BAD(snap_bix, &b, usva_iommu_detach(b.dev, freed), ENOENT);
	BAD(snap_bix, &b, usva_iommu_detach(b.dev, foreign), ENOENT);
	BAD(snap_bix, &b, usva_iommu_detach(b.dev, 0), ENOENT);
	BAD(snap_bix, &b, usva_iommu_detach(b.dev, UINT32_MAX), ERANGE);
	BAD(snap_bix, &b, usva_iommu_detach(b.dev, 1u << 20), ERANGE);
	BAD(snap_bix, &b, usva_iommu_detach(b.ydev, b.pasid[0] == b.ypasid ?
					    b.pasid[1] : b.pasid[0]), ENOENT);
	BAD(snap_bix, &b, usva_iommu_detach(NULL, b.pasid[0]), EINVAL);
	BAD(snap_bix, &b, usva_pasid_free(b.xo, b.pasid[0]), EBUSY);
	BAD(snap_bix, &b, usva_pasid_owner_destroy(b.xo), EBUSY);
	ret = TEST_SUCCESS;
out:
	bix_close(&b);
	CASE_END();
	return ret;
}

/* ==== invalidation: batches and entries ================================== */

struct batch_ctx {
	struct bix *b;
	struct usva_iommu *iommu;
};

static int
call_batch(void *arg, const void *cfg, bool null_out)
{
	struct batch_ctx *d = arg;
	struct usva_inval_batch *bt = NULL;
	int rc;

	rc = usva_inval_batch_create(d->iommu, cfg, null_out ? NULL : &bt);
	if (rc == 0) {
		if (bt == NULL)
			return -ENOTRECOVERABLE;
		if (usva_inval_batch_destroy(bt) != 0)
			return -ENOTRECOVERABLE;
	} else if (bt != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, badinput_inval_batch)
{
	static const struct usva_inval_batch_config valid = {
		.size = sizeof(valid), .capacity = 4,
	};
	struct bix b;
	struct batch_ctx d = { &b, NULL };
	const struct rows_cfg c = {
		.what = "usva_inval_batch_config", .valid = &valid,
		.size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_inval_batch_config, capacity),
		.known_flags = USVA_INVAL_BATCH_F_NO_COALESCE,
		.reserved = { ROWS_FIELD(struct usva_inval_batch_config, reserved0),
			      ROWS_FIELD(struct usva_inval_batch_config, reserved) },
		.nr_reserved = 2, .call = call_batch, .snap = snap_dev_ctx,
		.ctx = &d,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_inval_batch_config, capacity,
			 USVA_INVAL_BATCH_MAX_CAPACITY + 1, EINVAL),
		ROWS_VAL(struct usva_inval_batch_config, capacity, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_inval_batch_config, widen_pages, UINT64_MAX, 0),
		ROWS_VAL(struct usva_inval_batch_config, flags,
			 USVA_INVAL_BATCH_F_NO_COALESCE, 0),
	};
	struct usva_inval_batch *tmp = NULL;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	d.iommu = b.x;
	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	BAD(snap_bix, &b, usva_inval_batch_create(NULL, &valid, &tmp), EINVAL);
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(tmp);
	bix_close(&b);
	CASE_END();
	return ret;
}

struct ent_ctx {
	struct bix *b;
	struct usva_inval_batch *bt;
};

static void
snap_ent(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct ent_ctx *e = arg;
	struct usva_inval_batch_stats st;

	snap_bix(e->b, x);
	usva_inval_batch_stats(e->bt, &st);
	x[10] = usva_inval_batch_count(e->bt);
	x[11] = st.added + st.submits;
}

/* A valid ADDR entry at (dev, pasid[0]). */
static struct usva_inval_entry
ent_base(const struct bix *b)
{
	struct usva_inval_entry e = {
		.granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
		.pasid = b->pasid[0], .dev = b->dev, .addr = 0x10000000,
		.npages = 1,
	};

	return e;
}

/* Entry @p e must be refused by batch add and by usva_iommu_invalidate()
 * (placed between two valid entries: nothing may run). */
static int
ent_refused(struct ent_ctx *x, const struct usva_inval_entry *e,
	    bool batch_only)
{
	struct usva_inval_entry arr[3];
	int32_t st[3];

	arr[0] = ent_base(x->b);
	arr[1] = *e;
	arr[2] = ent_base(x->b);
	BAD(snap_ent, x, usva_inval_batch_add(x->bt, e), EINVAL);
	if (!batch_only) {
		BAD(snap_ent, x, usva_iommu_invalidate(x->b->x, e, 1, NULL), EINVAL);
		BAD(snap_ent, x, usva_iommu_invalidate(x->b->x, arr, 3, st), EINVAL);
	}
	return TEST_SUCCESS;
out:
	printf("    entry: granule %u caches 0x%x flags 0x%x pasid %u addr 0x%"
	       PRIx64 " npages %" PRIu64 " dev %p dom %p\n", e->granule,
	       e->caches, e->flags, e->pasid, e->addr, e->npages,
	       (void *)e->dev, (void *)e->dom);
	return TEST_FAILED;
}

#define REFUSED(stmt, batch_only)					\
	do {								\
		e = ent_base(&b);					\
		stmt;							\
		TEST_ASSERT_GOTO(ent_refused(&x, &e, (batch_only)) ==	\
				 TEST_SUCCESS, out, "%s", #stmt);	\
	} while (0)

USVA_TEST(fast, badinput_inval_entry)
{
	struct usva_inval_batch_config bc = { .size = sizeof(bc), .capacity = 8 };
	struct usva_inval_entry e;
	struct bix b;
	struct ent_ctx x = { &b, NULL };
	struct usva_inval_batch *ybt = NULL;
	uint32_t foreign = 0, freed = 0;
	int32_t st;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	TEST_ASSERT_OK_GOTO(usva_inval_batch_create(b.x, &bc, &x.bt));
	TEST_ASSERT_OK_GOTO(usva_inval_batch_create(b.y, &bc, &ybt));
	TEST_ASSERT_OK_GOTO(bix_foreign_pasid(&b, &foreign));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(b.xo, &freed));
	TEST_ASSERT_OK_GOTO(usva_pasid_free(b.xo, freed));
	/* The base entry is valid. */
	e = ent_base(&b);
	TEST_ASSERT_OK_GOTO(usva_iommu_invalidate(b.x, &e, 1, NULL));

	/* Granules: undefined values. */
	REFUSED(e.granule = 0, false);
	REFUSED(e.granule = USVA_INVAL_ADDR + 1, false);
	REFUSED(e.granule = 255, false);
	REFUSED(e.granule = UINT32_MAX, false);
	/* Caches: none, and every undefined bit. */
	REFUSED(e.caches = 0, false);
	for (unsigned int bit = 3; bit < 32; bit++)
		REFUSED(e.caches = USVA_INVAL_IOTLB | (1u << bit), false);
	/* Flags: every undefined bit. */
	for (unsigned int bit = 1; bit < 32; bit++)
		REFUSED(e.flags = 1u << bit, false);
	/* Caches a granule does not have. */
	REFUSED((e.granule = USVA_INVAL_DOMAIN, e.dom = b.dom,
		 e.caches = USVA_INVAL_DEVTLB), false);
	REFUSED((e.granule = USVA_INVAL_DOMAIN, e.dom = b.dom,
		 e.caches = USVA_INVAL_PASID_CACHE), false);
	REFUSED(e.caches = USVA_INVAL_PASID_CACHE, false);
	REFUSED(e.caches = USVA_INVAL_IOTLB | USVA_INVAL_PASID_CACHE, false);
	/* Domain granule: no domain, another instance's. */
	REFUSED((e.granule = USVA_INVAL_DOMAIN, e.dom = NULL), false);
	REFUSED((e.granule = USVA_INVAL_DOMAIN, e.dom = b.ydom), false);
	/* Address ranges. */
	REFUSED(e.npages = 0, false);
	REFUSED(e.addr = 0x10000001, false);
	REFUSED(e.addr = 0x10000800, false);
	REFUSED((e.addr = UINT64_MAX & ~(SZ_4K - 1), e.npages = 2), false);
	REFUSED(e.npages = UINT64_MAX, false);
	REFUSED(e.npages = (UINT64_MAX >> 12) + 1, false);
	/* Targets: no device, another instance's, PASIDs of every wrong
	 * kind, for both granules that name one. */
	for (int g = USVA_INVAL_PASID; g <= USVA_INVAL_ADDR; g++) {
		REFUSED((e.granule = (uint32_t)g, e.dev = NULL), false);
		REFUSED((e.granule = (uint32_t)g, e.dev = b.ydev,
			 e.pasid = b.ypasid), false);
		REFUSED((e.granule = (uint32_t)g, e.pasid = 0), false);
		REFUSED((e.granule = (uint32_t)g, e.pasid = UINT32_MAX), false);
		REFUSED((e.granule = (uint32_t)g, e.pasid = b.pasid[1]), false);
		REFUSED((e.granule = (uint32_t)g, e.pasid = freed), false);
		REFUSED((e.granule = (uint32_t)g, e.pasid = foreign), false);
		REFUSED((e.granule = (uint32_t)g, e.dev = b.dev0), false);
	}
	/* In a batch: a domain and a device that disagree, a domain range of
	 * another instance. */
	REFUSED(e.dom = b.dom_b, true);
	REFUSED(e.dom = b.ydom, true);
	REFUSED((e.dom = b.ydom, e.dev = NULL), true);
	/* Entries of instance x into y's batch. */
	e = ent_base(&b);
	BAD(snap_ent, &x, usva_inval_batch_add(ybt, &e), EINVAL);
	e.granule = USVA_INVAL_DOMAIN;
	e.dom = b.dom;
	BAD(snap_ent, &x, usva_inval_batch_add(ybt, &e), EINVAL);
	BAD(snap_ent, &x, usva_inval_batch_add(NULL, &e), EINVAL);
	BAD(snap_ent, &x, usva_inval_batch_add(x.bt, NULL), EINVAL);
	BAD(snap_ent, &x, usva_iommu_invalidate(NULL, &e, 1, NULL), EINVAL);
	BAD(snap_ent, &x, usva_iommu_invalidate(b.x, NULL, 1, NULL), EINVAL);
	BAD(snap_ent, &x, usva_inval_batch_status(x.bt, 0, 1, &st), EINVAL);
	BAD(snap_ent, &x, usva_inval_batch_status(x.bt, 1, 0, &st), EINVAL);
	BAD(snap_ent, &x, usva_inval_batch_status(x.bt, UINT32_MAX, 1, &st), EINVAL);
	BAD(snap_ent, &x, usva_inval_batch_submit(NULL, NULL), EINVAL);
	/* Full: -ENOSPC after capacity entries. */
	e = ent_base(&b);
	for (unsigned int i = 0; i < bc.capacity; i++) {
		e.addr = 0x10000000 + i * 0x100000;
		TEST_ASSERT_OK_GOTO(usva_inval_batch_add(x.bt, &e));
	}
	e.addr = 0x20000000;
	BAD(snap_ent, &x, usva_inval_batch_add(x.bt, &e), ENOSPC);
	TEST_ASSERT_OK_GOTO(usva_inval_batch_reset(x.bt));
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(x.bt);
	usva_inval_batch_destroy(ybt);
	bix_close(&b);
	CASE_END();
	return ret;
}

#undef REFUSED

/* ==== fault service, handlers, pagers ===================================== */

static void
snap_services(void *arg, uint64_t x[ROWS_EXTRA])
{
	RTE_SET_USED(arg);
	x[0] = rte_service_get_count();
}

static int
call_service(void *ctx, const void *cfg, bool null_out)
{
	struct usva_fault_service *svc = NULL;
	int rc;

	RTE_SET_USED(ctx);
	rc = usva_fault_service_create(cfg, null_out ? NULL : &svc);
	if (rc == 0) {
		if (svc == NULL)
			return -ENOTRECOVERABLE;
		usva_fault_service_destroy(svc);
	} else if (svc != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, badinput_fault_service)
{
	static struct usva_fault_config valid = {
		.size = sizeof(valid), .nr_lcores = 1,
	};
	const struct rows_cfg c = {
		.what = "usva_fault_config", .valid = &valid, .size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_fault_config, lcores),
		.known_flags = USVA_FAULT_F_SERVICE_CORES | USVA_FAULT_F_INTERRUPT |
			       USVA_FAULT_F_GLOBAL_LOCK,
		.reserved = { ROWS_FIELD(struct usva_fault_config, reserved) },
		.nr_reserved = 1, .call = call_service, .snap = snap_services,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_fault_config, nr_lcores, 0, EINVAL),
		ROWS_VAL(struct usva_fault_config, nr_lcores,
			 USVA_FAULT_MAX_LCORES + 1, EINVAL),
		ROWS_VAL(struct usva_fault_config, nr_lcores, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, nr_shards, 3, EINVAL),
		ROWS_VAL(struct usva_fault_config, nr_shards, USVA_MAX_SHARDS * 2,
			 EINVAL),
		ROWS_VAL(struct usva_fault_config, nr_shards, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, nr_shards, 1u << 31, EINVAL),
		ROWS_VAL(struct usva_fault_config, shard_shift, 11, EINVAL),
		ROWS_VAL(struct usva_fault_config, shard_shift, 64, EINVAL),
		ROWS_VAL(struct usva_fault_config, shard_shift, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, burst, 1025, EINVAL),
		ROWS_VAL(struct usva_fault_config, burst, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, resp_batch, 1025, EINVAL),
		ROWS_VAL(struct usva_fault_config, resp_batch, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, max_groups, (1u << 20) + 1, EINVAL),
		ROWS_VAL(struct usva_fault_config, max_groups, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, flags, USVA_FAULT_F_SERVICE_CORES |
			 USVA_FAULT_F_INTERRUPT, EINVAL),
	};
	const struct rows_val vd[] = {	/* dedicated lcores */
		ROWS_VAL(struct usva_fault_config, lcores[0], 0, EINVAL),
		ROWS_VAL(struct usva_fault_config, lcores[0], RTE_MAX_LCORE, EINVAL),
		ROWS_VAL(struct usva_fault_config, lcores[0], UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_fault_config, lcores[0], RTE_MAX_LCORE - 1,
			 EINVAL),
	};
	unsigned int worker = worker_lcore();
	struct usva_fault_config cf;
	struct usva_fault_service *svc = NULL;
	struct usva_fault_stats st;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	if (worker >= RTE_MAX_LCORE) {
		/* Service-core mode needs no worker. */
		valid.flags = USVA_FAULT_F_SERVICE_CORES;
		valid.lcores[0] = 0;
	} else {
		valid.flags = 0;
		valid.lcores[0] = worker;
	}
	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	if (valid.flags == 0) {
		/* Main lcore 0 is the test's; RTE_MAX_LCORE - 1 is not enabled
		 * (the test runs with -l 0-1). */
		TEST_ASSERT_GOTO(rte_get_main_lcore() == 0, out, "main lcore");
		RUN_ROWS(rows_values(&c, vd, RTE_DIM(vd)));
		cf = valid;
		cf.nr_lcores = 2;
		cf.lcores[1] = worker;
		RUN_ROWS(rows_one(&c, "an lcore twice", &cf, EINVAL));
	}

	/* Slots, shards and state of a created service. */
	cf = valid;
	cf.nr_shards = 4;
	TEST_ASSERT_OK_GOTO(usva_fault_service_create(&cf, &svc));
	BAD(snap_services, NULL, usva_fault_service_poll(svc, 1), EINVAL);
	BAD(snap_services, NULL, usva_fault_service_poll(svc, UINT32_MAX), EINVAL);
	BAD(snap_services, NULL, usva_fault_stats(svc, 1, &st), EINVAL);
	BAD(snap_services, NULL, usva_fault_stats(svc, -2, &st), EINVAL);
	BAD(snap_services, NULL, usva_fault_stats(svc, INT32_MAX, &st), EINVAL);
	BAD(snap_services, NULL, usva_fault_shard_stats(svc, 4, &st), EINVAL);
	BAD(snap_services, NULL, usva_fault_shard_stats(svc, UINT32_MAX, &st),
	    EINVAL);
	BAD(snap_services, NULL, usva_fault_service_stop(svc), EALREADY);
	BAD(snap_services, NULL, usva_fault_service_add_iommu(svc, NULL), EINVAL);
	BAD(snap_services, NULL, usva_fault_service_add_iommu(NULL, NULL), EINVAL);
	BAD(snap_services, NULL, usva_fault_set_event_cb(NULL, NULL, NULL), EINVAL);
	rows_count(2);
	EQ_GOTO(usva_fault_service_component(svc, 1), -1);
	EQ_GOTO(usva_fault_service_component(svc, UINT32_MAX), -1);
	ret = TEST_SUCCESS;
out:
	usva_fault_service_destroy(svc);
	CASE_END();
	return ret;
}

/* A service in service-core mode (no lcore needed), the fixture, an anon
 * pager; handler rows register and unregister. */
struct reg_ctx {
	struct bix *b;
	struct usva_fault_service *svc;
	struct usva_pager *pager;
};

static void
snap_reg(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct reg_ctx *r = arg;
	struct usva_fault_stats st;

	snap_bix(r->b, x);
	if (usva_fault_stats(r->svc, -1, &st) == 0) {
		x[10] = st.requests + st.groups + st.no_handler;
		x[11] = st.unregister_flushed + st.stale_completions;
	}
}

static int
call_register(void *arg, const void *cfg, bool null_out)
{
	struct reg_ctx *r = arg;
	struct usva_fault_handler *h = NULL;
	int rc;

	rc = usva_fault_register(r->svc, cfg, null_out ? NULL : &h);
	if (rc == 0) {
		if (h == NULL)
			return -ENOTRECOVERABLE;
		usva_fault_unregister(h);
	} else if (h != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, badinput_fault_register)
{
	static struct usva_fault_handler_config valid = { .size = sizeof(valid) };
	struct usva_fault_config sc = {
		.size = sizeof(sc), .flags = USVA_FAULT_F_SERVICE_CORES,
		.nr_lcores = 1,
	};
	struct usva_pager_anon_config ac = {
		.size = sizeof(ac), .base = 4 * SZ_1G, .len = 16 * SZ_4K,
	};
	struct bix b;
	struct reg_ctx r = { &b, NULL, NULL };
	const struct rows_cfg c = {
		.what = "usva_fault_handler_config", .valid = &valid,
		.size = sizeof(valid),
		.min = USVA_OFFSETOFEND(struct usva_fault_handler_config, pasid),
		.reserved = { ROWS_FIELD(struct usva_fault_handler_config, reserved) },
		.nr_reserved = 1, .call = call_register, .snap = snap_reg, .ctx = &r,
	};
	const struct rows_val v[] = {
		ROWS_VAL(struct usva_fault_handler_config, dev, 0, EINVAL),
		ROWS_VAL(struct usva_fault_handler_config, as, 0, EINVAL),
		ROWS_VAL(struct usva_fault_handler_config, pager, 0, EINVAL),
		ROWS_VAL(struct usva_fault_handler_config, pasid, 0, EINVAL),
		ROWS_VAL(struct usva_fault_handler_config, pasid,
			 1u << USVA_MAX_PASID_WIDTH, EINVAL),
		ROWS_VAL(struct usva_fault_handler_config, pasid, UINT32_MAX, EINVAL),
	};
	struct usva_fault_handler *h = NULL, *tmp = NULL;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	TEST_ASSERT_OK_GOTO(usva_fault_service_create(&sc, &r.svc));
	TEST_ASSERT_OK_GOTO(usva_fault_service_add_iommu(r.svc, b.x));
	TEST_ASSERT_OK_GOTO(usva_pager_anon_create(&ac, &r.pager));
	valid.dev = b.dev;
	valid.as = b.as;
	valid.pager = r.pager;
	valid.pasid = b.pasid[0];
	RUN_ROWS(rows_config(&c));
	RUN_ROWS(rows_values(&c, v, RTE_DIM(v)));
	BAD(snap_reg, &r, usva_fault_register(NULL, &valid, &tmp), EINVAL);
	BAD(snap_reg, &r, usva_fault_service_add_iommu(r.svc, b.x), EEXIST);
	/* (dev, pasid) taken: -EEXIST; the pager in use: -EBUSY. */
	TEST_ASSERT_OK_GOTO(usva_fault_register(r.svc, &valid, &h));
	RUN_ROWS(rows_one(&c, "(dev, pasid) has a handler", &valid, EEXIST));
	BAD(snap_reg, &r, usva_pager_destroy(r.pager), EBUSY);
	ret = TEST_SUCCESS;
out:
	usva_fault_unregister(tmp);
	usva_fault_unregister(h);
	usva_fault_service_destroy(r.svc);
	usva_pager_destroy(r.pager);
	memset(&valid, 0, sizeof(valid));
	valid.size = sizeof(valid);
	bix_close(&b);
	CASE_END();
	return ret;
}

struct pager_ctx {
	struct bix *b;
	int kind;	/* 0 anon, 1 mirror, 2 file */
};

static int
call_pager(void *arg, const void *cfg, bool null_out)
{
	struct pager_ctx *p = arg;
	struct usva_pager *pg = NULL, **out = null_out ? NULL : &pg;
	int rc;

	rc = p->kind == 0 ? usva_pager_anon_create(cfg, out) :
	     p->kind == 1 ? usva_pager_mirror_create(cfg, out) :
			    usva_pager_file_create(cfg, out);
	if (rc == 0) {
		if (pg == NULL)
			return -ENOTRECOVERABLE;
		if (usva_pager_destroy(pg) != 0)
			return -ENOTRECOVERABLE;
	} else if (pg != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

static void
snap_pager(void *arg, uint64_t x[ROWS_EXTRA])
{
	snap_bix(((struct pager_ctx *)arg)->b, x);
}

static int
pager_cb_nop(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
	     struct usva_fault_token tok)
{
	RTE_SET_USED(arg);
	RTE_SET_USED(as);
	RTE_SET_USED(addr);
	RTE_SET_USED(perm);
	RTE_SET_USED(tok);
	return -EFAULT;
}

USVA_TEST(fast, badinput_pagers)
{
	static struct usva_pager_anon_config anon = {
		.size = sizeof(anon), .base = 4 * SZ_1G, .len = 16 * SZ_4K,
	};
	static struct usva_pager_mirror_config mir = {
		.size = sizeof(mir), .len = 16 * SZ_4K,
	};
	static struct usva_pager_file_config fil = {
		.size = sizeof(fil), .base = 8 * SZ_1G, .len = 16 * SZ_4K,
	};
	struct bix b;
	struct pager_ctx pa = { &b, 0 }, pm = { &b, 1 }, pf = { &b, 2 };
	const struct rows_cfg ca = {
		.what = "usva_pager_anon_config", .valid = &anon,
		.size = sizeof(anon),
		.min = USVA_OFFSETOFEND(struct usva_pager_anon_config, len),
		.reserved = { ROWS_FIELD(struct usva_pager_anon_config, reserved0),
			      ROWS_FIELD(struct usva_pager_anon_config, reserved) },
		.nr_reserved = 2, .call = call_pager, .snap = snap_pager, .ctx = &pa,
	};
	const struct rows_cfg cm = {
		.what = "usva_pager_mirror_config", .valid = &mir,
		.size = sizeof(mir),
		.min = USVA_OFFSETOFEND(struct usva_pager_mirror_config, len),
		.reserved = { ROWS_FIELD(struct usva_pager_mirror_config, reserved) },
		.nr_reserved = 1, .call = call_pager, .snap = snap_pager, .ctx = &pm,
	};
	const struct rows_cfg cf = {
		.what = "usva_pager_file_config", .valid = &fil,
		.size = sizeof(fil),
		.min = USVA_OFFSETOFEND(struct usva_pager_file_config, file_offset),
		.reserved = { ROWS_FIELD(struct usva_pager_file_config, reserved) },
		.nr_reserved = 1, .call = call_pager, .snap = snap_pager, .ctx = &pf,
	};
	const struct rows_val va[] = {
		ROWS_VAL(struct usva_pager_anon_config, len, 0, EINVAL),
		ROWS_VAL(struct usva_pager_anon_config, len, SZ_4K + 1, EINVAL),
		ROWS_VAL(struct usva_pager_anon_config, base, 4 * SZ_1G + 1, EINVAL),
		ROWS_VAL(struct usva_pager_anon_config, base,
			 UINT64_MAX & ~(SZ_4K - 1), EINVAL),
		ROWS_VAL(struct usva_pager_anon_config, len, UINT64_MAX & ~(SZ_4K - 1),
			 EINVAL),
		ROWS_VAL(struct usva_pager_anon_config, prot, USVA_PROT_WRITE, EINVAL),
	};
	const struct rows_val vm[] = {
		ROWS_VAL(struct usva_pager_mirror_config, len, 0, EINVAL),
		ROWS_VAL(struct usva_pager_mirror_config, len, SZ_4K + 1, EINVAL),
		ROWS_VAL(struct usva_pager_mirror_config, base, SZ_4K + 1, EINVAL),
		ROWS_VAL(struct usva_pager_mirror_config, base,
			 UINT64_MAX & ~(SZ_4K - 1), EINVAL),
		ROWS_VAL(struct usva_pager_mirror_config, base, UINT64_C(1) << 57,
			 EINVAL),
		ROWS_VAL(struct usva_pager_mirror_config, len,
			 UINT64_MAX & ~(SZ_4K - 1), EINVAL),
	};
	const struct rows_val vf[] = {
		ROWS_VAL(struct usva_pager_file_config, len, 0, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, len, SZ_4K + 1, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, base, 8 * SZ_1G + 1, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, file_offset, 1, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, file_offset,
			 (uint64_t)INT64_MAX & ~(SZ_4K - 1), EINVAL),
		ROWS_VAL(struct usva_pager_file_config, file_offset,
			 UINT64_MAX & ~(SZ_4K - 1), EINVAL),
		ROWS_VAL(struct usva_pager_file_config, base,
			 UINT64_MAX & ~(SZ_4K - 1), EINVAL),
		ROWS_VAL(struct usva_pager_file_config, queue_depth, 4097, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, queue_depth, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, max_pending, 1, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, max_pending, 65537, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, max_pending, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, prot, USVA_PROT_WRITE, EINVAL),
		ROWS_VAL(struct usva_pager_file_config, fd, -1, EBADF),
		ROWS_VAL(struct usva_pager_file_config, fd, INT32_MAX, EBADF),
		ROWS_VAL(struct usva_pager_file_config, fd, INT32_MIN, EBADF),
	};
	struct usva_pager_file_config fc;
	struct usva_pager_anon_config an;
	struct usva_pager *pg = NULL, *tmp = NULL;
	struct usva_pager_mirror_stats ms;
	struct usva_pager_file_stats fs;
	char path[] = "/tmp/usva-badinput-XXXXXX";
	uint8_t *arena = NULL;
	int fd = -1, wfd = -1, dfd = -1, ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	arena = aligned_alloc(SZ_4K, 16 * SZ_4K);
	TEST_ASSERT_GOTO(arena != NULL, out, "no memory");
	mir.base = U64(arena);
	fd = mkstemp(path);
	TEST_ASSERT_GOTO(fd >= 0, out, "mkstemp: %s", strerror(errno));
	TEST_ASSERT_GOTO(ftruncate(fd, 16 * SZ_4K) == 0, out, "ftruncate");
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unlink(path);
	TEST_ASSERT_GOTO(wfd >= 0 && dfd >= 0, out, "open");
	fil.fd = fd;

	/* anon, with and without stage 2; every undefined prot bit. */
	RUN_ROWS(rows_config(&ca));
	RUN_ROWS(rows_values(&ca, va, RTE_DIM(va)));
	for (unsigned int bit = 4; bit < 32; bit++) {
		an = anon;
		an.prot = USVA_PROT_READ | (1u << bit);
		RUN_ROWS(rows_one(&ca, "undefined prot bit", &an, EINVAL));
	}
	an = anon;
	an.iommu = b.x;
	RUN_ROWS(rows_one(&ca, "stage 2 mapped (valid)", &an, 0));
	/* mirror, with and without stage 2 */
	RUN_ROWS(rows_config(&cm));
	RUN_ROWS(rows_values(&cm, vm, RTE_DIM(vm)));
	mir.iommu = b.x;
	RUN_ROWS(rows_values(&cm, vm, RTE_DIM(vm)));
	mir.iommu = NULL;
	/* file */
	RUN_ROWS(rows_config(&cf));
	RUN_ROWS(rows_values(&cf, vf, RTE_DIM(vf)));
	for (unsigned int bit = 4; bit < 32; bit++) {
		fc = fil;
		fc.prot = USVA_PROT_READ | (1u << bit);
		RUN_ROWS(rows_one(&cf, "undefined prot bit", &fc, EINVAL));
	}
	fc = fil;
	fc.fd = wfd;
	RUN_ROWS(rows_one(&cf, "fd open write-only", &fc, EBADF));
	fc.fd = dfd;
	RUN_ROWS(rows_one(&cf, "fd of a directory", &fc, EINVAL));
	fc = fil;
	fc.iommu = b.x;
	RUN_ROWS(rows_one(&cf, "stage 2 mapped (valid)", &fc, 0));

	/* callback: NULL callback, NULL out. */
	BAD(snap_bix, &b, usva_pager_callback_create(NULL, NULL, &tmp), EINVAL);
	BAD(snap_bix, &b, usva_pager_callback_create(pager_cb_nop, NULL, NULL),
	    EINVAL);
	/* Calls for one kind of pager given another kind. */
	TEST_ASSERT_OK_GOTO(usva_pager_anon_create(&anon, &pg));
	BAD(snap_bix, &b, usva_pager_mirror_refresh(pg), EINVAL);
	BAD(snap_bix, &b, usva_pager_mirror_stats(pg, &ms), EINVAL);
	BAD(snap_bix, &b, usva_pager_file_stats(pg, &fs), EINVAL);
	BAD(snap_bix, &b, usva_pager_mirror_refresh(NULL), EINVAL);
	BAD(snap_bix, &b, usva_pager_mirror_stats(NULL, &ms), EINVAL);
	BAD(snap_bix, &b, usva_pager_file_stats(NULL, &fs), EINVAL);
	usva_pager_destroy(pg);
	pg = NULL;
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_create(&mir, &pg));
	BAD(snap_bix, &b, usva_pager_file_stats(pg, &fs), EINVAL);
	BAD(snap_bix, &b, usva_pager_mirror_stats(pg, NULL), EINVAL);
	usva_pager_destroy(pg);
	pg = NULL;
	TEST_ASSERT_OK_GOTO(usva_pager_file_create(&fil, &pg));
	BAD(snap_bix, &b, usva_pager_mirror_refresh(pg), EINVAL);
	BAD(snap_bix, &b, usva_pager_mirror_stats(pg, &ms), EINVAL);
	BAD(snap_bix, &b, usva_pager_file_stats(pg, NULL), EINVAL);
	ret = TEST_SUCCESS;
out:
	usva_pager_destroy(pg);
	usva_pager_destroy(tmp);
	if (fd >= 0)
		close(fd);
	if (wfd >= 0)
		close(wfd);
	if (dfd >= 0)
		close(dfd);
	free(arena);
	bix_close(&b);
	CASE_END();
	return ret;
}

/* ==== DMA devices and the emu-dma engine ================================= */

struct dma_ctx {
	struct bix *b;
	int16_t id;		/* engine on b->dev (PRI), 2 vchans max */
	int16_t id0;		/* engine on b->dev0 (no PRI, no PASID) */
	struct usva_iommu_dev *spare; /* emu device without an engine */
	uint16_t vchan;
	struct usva_dma_vchan_conf good;
};

static uint16_t
dma_nb_vchans(int16_t id)
{
	struct usva_dma_info info;

	return usva_dma_info_get(id, &info) == 0 ? info.nb_vchans : 0xffff;
}

static void
snap_dma(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct dma_ctx *d = arg;
	struct usva_dma_stats st;

	snap_bix(d->b, x);
	x[6] = dma_nb_vchans(d->id);
	x[7] = dma_nb_vchans(d->id0);
	/* Which channels are set up: stats_get says -EINVAL for the others. */
	x[9] = 0;
	for (uint16_t v = 0; v < 2; v++) {
		if (usva_dma_stats_get(d->id, v, &st) == 0)
			x[9] |= 1u << v;
		if (usva_dma_stats_get(d->id0, v, &st) == 0)
			x[9] |= 1u << (v + 4);
	}
	x[11] = (uint64_t)rte_service_get_count();
}

static int
call_configure(void *arg, const void *cfg, bool null_out)
{
	struct dma_ctx *d = arg;
	int rc;

	RTE_SET_USED(null_out);
	rc = usva_dma_configure(d->id, cfg);
	/* A configure drops the channels: set channel 0 up again. */
	if (rc == 0 && usva_dma_vchan_setup(d->id, 0, &d->good) != 0)
		return -ENOTRECOVERABLE;
	return rc;
}

static int
call_vchan(void *arg, const void *cfg, bool null_out)
{
	struct dma_ctx *d = arg;

	RTE_SET_USED(null_out);
	return usva_dma_vchan_setup(d->id, d->vchan, cfg);
}

static int
call_edma(void *arg, const void *cfg, bool null_out)
{
	int16_t id = -1;
	int rc;

	RTE_SET_USED(arg);
	rc = usva_emu_dma_create(cfg, null_out ? NULL : &id);
	if (rc == 0) {
		if (id < 0 || !usva_dma_is_valid(id))
			return -ENOTRECOVERABLE;
		if (usva_dma_close(id) != 0)
			return -ENOTRECOVERABLE;
	} else if (id != -1) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

static void
dma_close_all(struct dma_ctx *d)
{
	if (d->id >= 0) {
		usva_dma_stop(d->id);
		usva_dma_close(d->id);
	}
	if (d->id0 >= 0)
		usva_dma_close(d->id0);
	usva_iommu_dev_close(d->spare);
	d->spare = NULL;
	d->id = d->id0 = -1;
}

static int
dma_open_all(struct dma_ctx *d, struct bix *b)
{
	struct usva_emu_dma_config ec = {
		.size = sizeof(ec), .name = "bi-dma", .dev = b->dev,
		.max_vchans = 2, .max_desc = 1024,
	};
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "bi-spare", .pasid_width = 20,
		.flags = USVA_DEV_F_PRI,
	};
	struct usva_dma_conf conf = { .size = sizeof(conf), .nb_vchans = 1 };

	memset(d, 0, sizeof(*d));
	d->b = b;
	d->id = d->id0 = -1;
	d->good = (struct usva_dma_vchan_conf){ .size = sizeof(d->good),
		.nb_desc = 64, .fault_mode = USVA_DMA_FAULT_BLOCK,
		.pasid = b->pasid[0] };
	TEST_ASSERT_OK(usva_emu_dma_create(&ec, &d->id));
	ec.name = "bi-dma0";
	ec.dev = b->dev0;
	TEST_ASSERT_OK(usva_emu_dma_create(&ec, &d->id0));
	TEST_ASSERT_OK(usva_iommu_dev_open(b->x, &dc, &d->spare));
	TEST_ASSERT_OK(usva_dma_configure(d->id, &conf));
	TEST_ASSERT_OK(usva_dma_vchan_setup(d->id, 0, &d->good));
	TEST_ASSERT_OK(usva_dma_configure(d->id0, &conf));
	return TEST_SUCCESS;
}

USVA_TEST(fast, badinput_dma)
{
	static const struct usva_dma_conf vconf = {
		.size = sizeof(vconf), .nb_vchans = 1,
	};
	static struct usva_dma_vchan_conf vvc = { .size = sizeof(vvc),
		.nb_desc = 64, .fault_mode = USVA_DMA_FAULT_PARTIAL };
	static struct usva_emu_dma_config vec = { .size = sizeof(vec),
		.name = "bi-dma-new" };
	struct bix b;
	struct dma_ctx d = { .id = -1, .id0 = -1 };
	const struct rows_cfg cc = {
		.what = "usva_dma_conf", .valid = &vconf, .size = sizeof(vconf),
		.min = USVA_OFFSETOFEND(struct usva_dma_conf, reserved1),
		.reserved = { ROWS_FIELD(struct usva_dma_conf, reserved0),
			      ROWS_FIELD(struct usva_dma_conf, reserved1),
			      ROWS_FIELD(struct usva_dma_conf, reserved) },
		.nr_reserved = 3, .no_out = true, .call = call_configure,
		.snap = snap_dma, .ctx = &d,
	};
	const struct rows_cfg cv = {
		.what = "usva_dma_vchan_conf", .valid = &vvc, .size = sizeof(vvc),
		.min = USVA_OFFSETOFEND(struct usva_dma_vchan_conf, pasid),
		.reserved = { ROWS_FIELD(struct usva_dma_vchan_conf, reserved) },
		.nr_reserved = 1, .no_out = true, .call = call_vchan,
		.snap = snap_dma, .ctx = &d,
	};
	const struct rows_cfg ce = {
		.what = "usva_emu_dma_config", .valid = &vec, .size = sizeof(vec),
		.min = USVA_OFFSETOFEND(struct usva_emu_dma_config, dev),
		.known_flags = USVA_EMU_DMA_F_SERVICE,
		.reserved = { ROWS_FIELD(struct usva_emu_dma_config, reserved0),
			      ROWS_FIELD(struct usva_emu_dma_config, reserved) },
		.nr_reserved = 2, .call = call_edma, .snap = snap_dma, .ctx = &d,
	};
	const struct rows_val vc[] = {
		ROWS_VAL(struct usva_dma_conf, nb_vchans, 0, EINVAL),
		ROWS_VAL(struct usva_dma_conf, nb_vchans, 3, EINVAL),
		ROWS_VAL(struct usva_dma_conf, nb_vchans, USVA_DMA_MAX_VCHANS + 1,
			 EINVAL),
		ROWS_VAL(struct usva_dma_conf, nb_vchans, 0xffff, EINVAL),
	};
	const struct rows_val vv[] = {
		ROWS_VAL(struct usva_dma_vchan_conf, nb_desc, 0, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, nb_desc, 96, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, nb_desc, 2048, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, nb_desc, 0x8000, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, nb_desc, 0xffff, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, fault_mode, 2, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, fault_mode, 0xffff, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, pasid, 1u << 20, EINVAL),
		ROWS_VAL(struct usva_dma_vchan_conf, pasid, UINT32_MAX, EINVAL),
	};
	const struct rows_val ve[] = {
		ROWS_VAL(struct usva_emu_dma_config, name, 0, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, name, U64(""), EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, name,
			 U64("a-name-of-exactly-32-characters!"), EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, name, U64("bi-dma"), EEXIST),
		ROWS_VAL(struct usva_emu_dma_config, dev, 0, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_vchans,
			 USVA_DMA_MAX_VCHANS + 1, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_vchans, 0xffff, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_desc, 1, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_desc, 32, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_desc, 96, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_desc, 0xffff, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_inflight, 17, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, max_inflight, UINT32_MAX, EINVAL),
		ROWS_VAL(struct usva_emu_dma_config, flags, USVA_EMU_DMA_F_SERVICE, 0),
	};
	struct usva_iommu_config rc_cfg = { .size = sizeof(rc_cfg),
					    .backend = "inval-rec" };
	struct usva_dev_config rdc = { .size = sizeof(rdc), .name = "rec",
				       .pasid_width = 20 };
	struct usva_iommu *rec = NULL;
	struct usva_iommu_dev *rdev = NULL;
	struct usva_emu_dma_config ec;
	struct usva_dma_conf conf;
	struct usva_dma_vchan_conf vch;
	struct usva_dma_info info;
	struct usva_dma_stats st;
	struct usva_dma_op op = { .opcode = USVA_DMA_OP_NOP };
	struct usva_dma_cpl cpl = { .status = USVA_DMA_STATUS_PAGE_FAULT };
	int16_t closed = -1, unused = -1, tmp_id = -1;
	int16_t bad_ids[7];
	unsigned int nbad = 0;
	FILE *null = NULL;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	TEST_ASSERT_GOTO(dma_open_all(&d, &b) == TEST_SUCCESS, out, "fixture");
	vec.dev = d.spare;
	vvc.pasid = b.pasid[0];

	/* Config structs. */
	RUN_ROWS(rows_config(&cc));
	RUN_ROWS(rows_values(&cc, vc, RTE_DIM(vc)));
	conf = vconf;
	conf.nb_vchans = 2;
	TEST_ASSERT_OK_GOTO(usva_dma_configure(d.id, &conf));
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(d.id, 0, &d.good));
	/* Channel 1 set up: a refused set-up must leave it so. */
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(d.id, 1, &vvc));
	d.vchan = 1;
	RUN_ROWS(rows_config(&cv));
	RUN_ROWS(rows_values(&cv, vv, RTE_DIM(vv)));
	TEST_ASSERT_OK_GOTO(usva_dma_configure(d.id, &conf));
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(d.id, 0, &d.good));
	/* Channels beyond the configured ones; BLOCK without PRI. */
	BAD(snap_dma, &d, usva_dma_vchan_setup(d.id, 2, &vvc), EINVAL);
	BAD(snap_dma, &d, usva_dma_vchan_setup(d.id, USVA_DMA_MAX_VCHANS, &vvc),
	    EINVAL);
	BAD(snap_dma, &d, usva_dma_vchan_setup(d.id, 0xffff, &vvc), EINVAL);
	vch = vvc;
	vch.pasid = 0;
	vch.fault_mode = USVA_DMA_FAULT_BLOCK;
	BAD(snap_dma, &d, usva_dma_vchan_setup(d.id0, 0, &vch), EOPNOTSUPP);
	vch.fault_mode = USVA_DMA_FAULT_PARTIAL;
	vch.pasid = 1;
	BAD(snap_dma, &d, usva_dma_vchan_setup(d.id0, 0, &vch), EINVAL);
	/* Start with channel 1 not set up. */
	BAD(snap_dma, &d, usva_dma_start(d.id), EINVAL);
	BAD(snap_dma, &d, usva_dma_start(d.id0), EINVAL);
	BAD(snap_dma, &d, usva_dma_stop(d.id), EALREADY);

	/* emu-dma engines. */
	RUN_ROWS(rows_config(&ce));
	RUN_ROWS(rows_values(&ce, ve, RTE_DIM(ve)));
	ec = vec;
	ec.dev = b.dev;
	RUN_ROWS(rows_one(&ce, "device with an engine already", &ec, EBUSY));
	if (usva_iommu_open(&rc_cfg, &rec) == 0) {
		TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(rec, &rdc, &rdev));
		ec.dev = rdev;
		RUN_ROWS(rows_one(&ce, "device of another backend", &ec, EINVAL));
		BAD(snap_dma, &d, usva_emu_inval_fail_nth(rec, 1, -EIO), ENODEV);
		BAD(snap_dma, &d, usva_emu_dev_pri_enable(rdev), ENODEV);
		BAD(snap_dma, &d, usva_emu_dma_begin(rdev), ENODEV);
	}

	/* IDs: never registered, closed, out of range. */
	ec = vec;
	ec.name = "bi-dma-closed";
	TEST_ASSERT_OK_GOTO(usva_emu_dma_create(&ec, &closed));
	TEST_ASSERT_OK_GOTO(usva_dma_close(closed));
	for (int16_t i = 0; i < USVA_DMA_MAX_DEVS; i++)
		if (!usva_dma_is_valid(i) && i != closed) {
			unused = i;
			break;
		}
	bad_ids[nbad++] = closed;
	if (unused >= 0)
		bad_ids[nbad++] = unused;
	bad_ids[nbad++] = -1;
	bad_ids[nbad++] = INT16_MIN;
	bad_ids[nbad++] = USVA_DMA_MAX_DEVS;
	bad_ids[nbad++] = INT16_MAX;
	null = fopen("/dev/null", "w");
	TEST_ASSERT_GOTO(null != NULL, out, "/dev/null");
	for (unsigned int i = 0; i < nbad; i++) {
		int16_t id = bad_ids[i];

		rows_count(2);
		TEST_ASSERT_GOTO(!usva_dma_is_valid(id), out, "id %d valid", id);
		EQ_GOTO(usva_emu_dma_parked(id), 0);
		BAD(snap_dma, &d, usva_dma_configure(id, &vconf), EINVAL);
		BAD(snap_dma, &d, usva_dma_vchan_setup(id, 0, &vvc), EINVAL);
		BAD(snap_dma, &d, usva_dma_start(id), EINVAL);
		BAD(snap_dma, &d, usva_dma_stop(id), EINVAL);
		BAD(snap_dma, &d, usva_dma_close(id), EINVAL);
		BAD(snap_dma, &d, usva_dma_info_get(id, &info), EINVAL);
		BAD(snap_dma, &d, usva_dma_stats_get(id, 0, &st), EINVAL);
		BAD(snap_dma, &d, usva_dma_stats_get(id, USVA_DMA_ALL_VCHAN, &st),
		    EINVAL);
		BAD(snap_dma, &d, usva_dma_dump(id, null), EINVAL);
		BAD(snap_dma, &d, usva_dma_resubmit_fault(id, 0, &op, &cpl), EINVAL);
		BAD(snap_dma, &d, usva_emu_dma_service_id(id), EINVAL);
		BAD(snap_dma, &d, usva_emu_dma_launch(id, worker_lcore()), EINVAL);
		BAD(snap_dma, &d, usva_emu_dma_halt(id), EINVAL);
		BAD(snap_dma, &d, usva_emu_dma_poll(id), EINVAL);
		if (id >= 0 && id < USVA_DMA_MAX_DEVS) {
			/* The fast path of a slot without a started device. */
			BAD(snap_dma, &d, usva_dma_copy(id, 0, 0, 0, 8, 0), EINVAL);
			rows_count(1);
			EQ_GOTO(usva_dma_burst_capacity(id, 0), 0);
		}
	}
	BAD(snap_dma, &d, usva_dma_get_dev_id_by_name("nope"), ENODEV);
	BAD(snap_dma, &d, usva_dma_get_dev_id_by_name("bi-dma-closed"), ENODEV);
	BAD(snap_dma, &d, usva_dma_get_dev_id_by_name(""), ENODEV);
	/* Wrong kind: an engine without a service; channels, NULLs. */
	BAD(snap_dma, &d, usva_emu_dma_service_id(d.id), EINVAL);
	BAD(snap_dma, &d, usva_emu_dma_launch(d.id, rte_get_main_lcore()), EINVAL);
	BAD(snap_dma, &d, usva_emu_dma_launch(d.id, RTE_MAX_LCORE), EINVAL);
	BAD(snap_dma, &d, usva_emu_dma_launch(d.id, UINT32_MAX), EINVAL);
	BAD(snap_dma, &d, usva_emu_dma_halt(d.id), EALREADY);
	BAD(snap_dma, &d, usva_dma_info_get(d.id, NULL), EINVAL);
	BAD(snap_dma, &d, usva_dma_stats_get(d.id, 1, &st), EINVAL);
	BAD(snap_dma, &d, usva_dma_stats_get(d.id, 2, &st), EINVAL);
	BAD(snap_dma, &d, usva_dma_stats_get(d.id, 0xfffe, &st), EINVAL);
	BAD(snap_dma, &d, usva_dma_stats_get(d.id, 0, NULL), EINVAL);
	BAD(snap_dma, &d, usva_dma_dump(d.id, NULL), EINVAL);
	BAD(snap_dma, &d, usva_dma_resubmit_fault(d.id, 0, NULL, &cpl), EINVAL);
	BAD(snap_dma, &d, usva_dma_resubmit_fault(d.id, 0, &op, NULL), EINVAL);
	BAD(snap_dma, &d, usva_emu_dma_create(&vec, NULL), EINVAL);

	/* Started: control calls refused, nothing changed. */
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(d.id, 1, &vvc));
	TEST_ASSERT_OK_GOTO(usva_dma_start(d.id));
	BAD(snap_dma, &d, usva_dma_start(d.id), EALREADY);
	BAD(snap_dma, &d, usva_dma_configure(d.id, &vconf), EBUSY);
	BAD(snap_dma, &d, usva_dma_vchan_setup(d.id, 0, &vvc), EBUSY);
	BAD(snap_dma, &d, usva_dma_close(d.id), EBUSY);
	TEST_ASSERT_OK_GOTO(usva_dma_stop(d.id));
	BAD(snap_dma, &d, usva_dma_stop(d.id), EALREADY);
	ret = TEST_SUCCESS;
out:
	if (null != NULL)
		fclose(null);
	if (tmp_id >= 0)
		usva_dma_close(tmp_id);
	usva_iommu_dev_close(rdev);
	usva_iommu_close(rec);
	dma_close_all(&d);
	vec.dev = NULL;
	bix_close(&b);
	CASE_END();
	return ret;
}

/* ==== descriptors: what the device checks ================================= */

/* One bad operation: it must end at once with @p status, touching no
 * memory and raising no page request or translation. */
static int
op_refused(struct dma_ctx *d, const struct usva_dma_op *op, uint16_t status,
	   const uint8_t *canary, size_t clen)
{
	struct usva_iommu_stats s0, s1;
	struct usva_dma_cpl cpl;
	uint16_t last = 0, n = 0;
	int idx;

	usva_iommu_stats(d->b->x, &s0);
	idx = usva_dma_enqueue(d->id, 0, op);
	TEST_ASSERT(idx >= 0, "enqueue: %d", idx);
	TEST_ASSERT_OK(usva_dma_submit(d->id, 0));
	for (int i = 0; i < 1000 && n == 0; i++) {
		usva_emu_dma_poll(d->id);
		n = usva_dma_completed_status(d->id, 0, 1, &last, &cpl);
	}
	usva_iommu_stats(d->b->x, &s1);
	rows_count(1);
	TEST_ASSERT(n == 1, "no completion");
	TEST_ASSERT(last == (uint16_t)idx && cpl.ring_idx == (uint16_t)idx,
		    "index %u, expected %d", last, idx);
	TEST_ASSERT(cpl.status == status, "opcode %u flags 0x%x: status %s, "
		    "expected %s", op->opcode, op->flags,
		    usva_dma_status_str(cpl.status), usva_dma_status_str(status));
	TEST_ASSERT(cpl.bytes == 0, "%" PRIu64 " bytes done", cpl.bytes);
	TEST_ASSERT(s1.translations == s0.translations &&
		    s1.page_requests == s0.page_requests, "the device translated");
	for (size_t i = 0; i < clen; i++)
		if (canary[i] != 0x5a)
			TEST_ASSERT(false, "memory changed at %zu", i);
	return TEST_SUCCESS;
}

#define OP_REFUSED(stmt, status)					\
	do {								\
		op = base;						\
		stmt;							\
		TEST_ASSERT_GOTO(op_refused(&d, &op, (status), canary,	\
					    sizeof(canary)) == TEST_SUCCESS, \
				 out, "%s", #stmt);			\
	} while (0)

USVA_TEST(fast, badinput_dma_ops)
{
	struct usva_dma_vchan_conf vc = { .size = sizeof(vc), .nb_desc = 64,
		.fault_mode = USVA_DMA_FAULT_PARTIAL };
	static uint8_t canary[2 * 4096] __rte_aligned(4096);
	struct usva_dma_op base, op;
	struct usva_dma_info info;
	struct bix b;
	struct dma_ctx d = { .id = -1, .id0 = -1 };
	static const uint8_t len_ops[] = {
		USVA_DMA_OP_COPY, USVA_DMA_OP_MEMMOVE, USVA_DMA_OP_FILL,
		USVA_DMA_OP_COMPARE, USVA_DMA_OP_COMPARE_PATTERN,
		USVA_DMA_OP_CRC32C, USVA_DMA_OP_PREFETCH,
	};
	int ret = TEST_FAILED;
	CASE_BEGIN();

	memset(canary, 0x5a, sizeof(canary));
	BIX_OPEN(&b);
	TEST_ASSERT_GOTO(dma_open_all(&d, &b) == TEST_SUCCESS, out, "fixture");
	vc.pasid = b.pasid[0];
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(d.id, 0, &vc));
	TEST_ASSERT_OK_GOTO(usva_dma_info_get(d.id, &info));
	TEST_ASSERT_OK_GOTO(usva_dma_start(d.id));
	memset(&base, 0, sizeof(base));
	base.opcode = USVA_DMA_OP_COPY;
	base.src = U64(canary);
	base.dst = U64(canary) + 4096;
	base.len = 64;

	for (unsigned int opc = USVA_DMA_OP_PREFETCH + 1; opc < 256; opc++)
		OP_REFUSED(op.opcode = (uint8_t)opc, USVA_DMA_STATUS_INVALID_OPCODE);
	for (unsigned int bit = 5; bit < 16; bit++)
		OP_REFUSED(op.flags = (uint16_t)(1u << bit),
			   USVA_DMA_STATUS_INVALID_FLAGS);
	OP_REFUSED(op.reserved0 = 1, USVA_DMA_STATUS_INVALID_FLAGS);
	OP_REFUSED(op.reserved0 = 0xff, USVA_DMA_STATUS_INVALID_FLAGS);
	OP_REFUSED((op.opcode = USVA_DMA_OP_NOP, op.reserved0 = 0x80),
		   USVA_DMA_STATUS_INVALID_FLAGS);
	OP_REFUSED(op.flags = USVA_DMA_OP_F_WRITE_FETCH,
		   USVA_DMA_STATUS_INVALID_FLAGS);
	OP_REFUSED((op.opcode = USVA_DMA_OP_NOP,
		    op.flags = USVA_DMA_OP_F_WRITE_FETCH),
		   USVA_DMA_STATUS_INVALID_FLAGS);
	for (uint64_t a = 1; a < 32; a += 5)
		OP_REFUSED((op.flags = USVA_DMA_OP_F_COMPLETION_RECORD,
			    op.cr_addr = U64(canary) + a),
			   USVA_DMA_STATUS_INVALID_FLAGS);
	OP_REFUSED((op.flags = USVA_DMA_OP_F_PASID, op.pasid = 1u << 20),
		   USVA_DMA_STATUS_PASID_INVALID);
	OP_REFUSED((op.flags = USVA_DMA_OP_F_PASID, op.pasid = UINT32_MAX),
		   USVA_DMA_STATUS_PASID_INVALID);
	for (unsigned int i = 0; i < RTE_DIM(len_ops); i++) {
		OP_REFUSED((op.opcode = len_ops[i], op.len = 0),
			   USVA_DMA_STATUS_INVALID_LENGTH);
		OP_REFUSED((op.opcode = len_ops[i], op.len = info.max_len + 1),
			   USVA_DMA_STATUS_INVALID_LENGTH);
		OP_REFUSED((op.opcode = len_ops[i], op.len = UINT64_MAX),
			   USVA_DMA_STATUS_INVALID_LENGTH);
	}
	OP_REFUSED(op.dst = op.src + 63, USVA_DMA_STATUS_INVALID_OVERLAP);
	OP_REFUSED(op.dst = op.src, USVA_DMA_STATUS_INVALID_OVERLAP);
	OP_REFUSED(op.src = op.dst + 1, USVA_DMA_STATUS_INVALID_OVERLAP);
	ret = TEST_SUCCESS;
out:
	dma_close_all(&d);
	bix_close(&b);
	CASE_END();
	return ret;
}

#undef OP_REFUSED

/* ==== page requests as a device raises them =============================== */

USVA_TEST(fast, badinput_page_request)
{
	struct usva_emu_prq_desc base, dsc;
	uint32_t freed = 0;
	struct bix b;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(b.xo, &freed));
	TEST_ASSERT_OK_GOTO(usva_pasid_free(b.xo, freed));
	memset(&base, 0, sizeof(base));
	base.addr = 0x10000000;
	base.pasid = b.pasid[0];
	base.grpid = 1;
	base.perm = USVA_ACCESS_READ;
	base.flags = USVA_PREQ_F_LAST;
#define PRQ_BAD(stmt, err)						\
	do {								\
		dsc = base;						\
		stmt;							\
		BAD(snap_bix, &b, usva_emu_page_request(b.dev, &dsc), err); \
	} while (0)
	PRQ_BAD(dsc.grpid = 512, EINVAL);
	PRQ_BAD(dsc.grpid = 0xffff, EINVAL);
	PRQ_BAD(dsc.grpid = UINT32_MAX, EINVAL);
	for (unsigned int bit = 0; bit < 16; bit++) {
		if ((1u << bit) & (USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA))
			continue;
		PRQ_BAD(dsc.flags |= (uint16_t)(1u << bit), EINVAL);
	}
	PRQ_BAD(dsc.pasid = 0, EINVAL);
	PRQ_BAD(dsc.pasid = 1u << 10, EINVAL);
	PRQ_BAD(dsc.pasid = 1u << 20, EINVAL);
	PRQ_BAD(dsc.pasid = UINT32_MAX, EINVAL);
	PRQ_BAD(dsc.pasid = b.pasid[1], EINVAL);
	PRQ_BAD(dsc.pasid = freed, EINVAL);
	BAD(snap_bix, &b, usva_emu_page_request(b.dev, NULL), EINVAL);
	BAD(snap_bix, &b, usva_emu_page_request(b.dev0, &base), EPERM);
	BAD(snap_bix, &b, usva_emu_page_request(NULL, &base), ENODEV);
#undef PRQ_BAD
	ret = TEST_SUCCESS;
out:
	bix_close(&b);
	CASE_END();
	return ret;
}

/* ==== page responses: each bad one dropped, counted, nothing answered ==== */

USVA_TEST(fast, badinput_page_response)
{
	struct usva_emu_prq_desc dsc;
	struct usva_page_req req;
	struct usva_page_resp good, r;
	struct usva_emu_prg_resp got[4];
	struct usva_iommu_stats s0, s1;
	struct usva_dev_info di = { .size = sizeof(di) }, di0 = { .size = sizeof(di0) };
	uint16_t id;
	uint32_t og;
	struct bix b;
	int ret = TEST_FAILED;
	CASE_BEGIN();

	BIX_OPEN(&b);
	id = usva_iommu_id(b.x);
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(b.dev, &di));
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(b.dev0, &di0));
	memset(&dsc, 0, sizeof(dsc));
	dsc.addr = 0x10000000;
	dsc.pasid = b.pasid[0];
	dsc.grpid = 7;
	dsc.perm = USVA_ACCESS_READ;
	dsc.flags = USVA_PREQ_F_LAST;
	TEST_ASSERT_OK_GOTO(usva_emu_page_request(b.dev, &dsc));
	TEST_ASSERT_GOTO(usva_iommu_prq_poll(id, &req, 1) == 1, out, "poll");
	og = usva_emu_outstanding_groups(b.x);
	memset(&good, 0, sizeof(good));
	good.dev_id = req.dev_id;
	good.pasid = req.pasid;
	good.grpid = req.grpid;
	good.cookie = req.cookie;
	good.code = USVA_PAGE_RESP_SUCCESS;
	good.flags = USVA_PREQ_F_PASID;
#define RESP_BAD(stmt)							\
	do {								\
		r = good;						\
		stmt;							\
		usva_iommu_stats(b.x, &s0);				\
		rows_count(1);						\
		TEST_ASSERT_GOTO(usva_iommu_page_respond(id, &r, 1) == 1, out, \
				 "%s: not consumed", #stmt);		\
		usva_iommu_stats(b.x, &s1);				\
		TEST_ASSERT_GOTO(s1.responses_dropped ==		\
				 s0.responses_dropped + 1 &&		\
				 s1.responses == s0.responses, out,	\
				 "%s: not dropped", #stmt);		\
		TEST_ASSERT_GOTO(usva_emu_outstanding_groups(b.x) == og, \
				 out, "%s: the group was answered", #stmt); \
		TEST_ASSERT_GOTO(usva_emu_dev_responses(b.dev, got, 4) == 0, \
				 out, "%s: the device got a response", #stmt); \
	} while (0)
	for (unsigned int code = 2; code < 0x10000; code++) {
		if (code == USVA_PAGE_RESP_FAILURE)
			continue;
		if (code > 32 && code != 0x7fff && code != 0x8000 &&
		    code != 0xffff)
			continue;
		RESP_BAD(r.code = (uint16_t)code);
	}
	RESP_BAD(r.dev_id = 0);
	RESP_BAD(r.dev_id = UINT32_MAX);
	RESP_BAD(r.dev_id = di0.id);
	RESP_BAD(r.pasid = 0);
	RESP_BAD(r.pasid = UINT32_MAX);
	RESP_BAD(r.pasid = b.pasid[1]);
	RESP_BAD(r.grpid = 512);
	RESP_BAD(r.grpid = UINT32_MAX);
	RESP_BAD(r.grpid = req.grpid + 1);
	RESP_BAD(r.cookie = req.cookie + 1);
	RESP_BAD(r.cookie = UINT32_MAX);
	/* The right one is taken, once. */
	TEST_ASSERT_GOTO(usva_iommu_page_respond(id, &good, 1) == 1, out, "good");
	TEST_ASSERT_GOTO(usva_emu_dev_responses(b.dev, got, 4) == 1, out,
			 "no response");
	og = usva_emu_outstanding_groups(b.x);
	RESP_BAD((void)0);	/* a second response to the same group */
#undef RESP_BAD
	ret = TEST_SUCCESS;
out:
	bix_close(&b);
	CASE_END();
	return ret;
}
