/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SVA DMA devices (usva_dma.h) on the emu-dma engine: configuration and
 * state checks, every opcode with its data verified, both fault modes
 * (block-on-fault through the fault service and its pagers, partial
 * completion with software fix-up), completion records, ring limits and
 * wrap, descriptor errors, fences, PASID teardown under in-flight work,
 * many PASIDs on one device, stop with queued work.
 *
 * The fast cases drive everything from the test thread: one engine
 * iteration (usva_emu_dma_poll), one fault-service iteration
 * (usva_fault_service_poll), repeated a bounded number of times. The
 * stress case runs the engine on the worker lcore while the test thread
 * polls the fault service (one busy poller per core).
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_service.h>

#include "usva_as.h"
#include "usva_dma.h"
#include "usva_emu.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "usva_struct.h"
#include "test.h"
#include "app_clock.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)
#define U64(p)	((uint64_t)(uintptr_t)(p))
#define PG(a)	((a) & ~(SZ_4K - 1))

/* Where anon-pager ranges lie (stage 1 only; no process memory there). */
#define ANON_BASE	(4 * SZ_1G)
/* Engine + service rounds a fast case may spend waiting for one thing. */
#define MAX_ROUNDS	20000
#define NPAS_MAX	8
#define DMA_NAME	"dma-test"

static_assert(sizeof(struct usva_dma_cr) == 32, "completion record size");

#define TEST_ASSERT_EQ_GOTO(a, b, fmt, ...)				\
	TEST_ASSERT_GOTO((int64_t)(a) == (int64_t)(b), out, "%" PRId64	\
			 " != %" PRId64 ": " fmt, (int64_t)(a), (int64_t)(b), \
			 ##__VA_ARGS__)

#define FX_OK(expr)							\
	TEST_ASSERT_GOTO((expr) == TEST_SUCCESS, out, "set-up")

static unsigned int
worker_lcore(void)
{
	return rte_get_next_lcore(-1, 1, 0);
}

/* ---- fixture: one emu IOMMU, one device, PASIDs with their AS ----------- */

enum pager_kind { PG_MIRROR, PG_ANON, PG_NONE };

struct fx_opts {
	uint32_t dev_flags;	/* USVA_DEV_F_*; default PRI | ATS */
	bool no_pri;		/* device without PRI */
	unsigned int npas;	/* PASIDs; 0: 1 */
	uint64_t arena_len;	/* malloc'd, mirrored; 0: 1 MiB */
	enum pager_kind pager;
	/* engine */
	uint32_t max_inflight;
	uint64_t max_len;
	uint32_t fault_retries;
	/* channel 0 */
	uint16_t nb_desc;	/* 0: 64 */
	uint16_t fault_mode;
	bool no_dma;		/* no engine at all */
	bool service;		/* engine as an EAL service component */
};

struct fx_pas {
	uint32_t pasid;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_handler *h;
};

struct fx {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	struct usva_fault_service *svc;
	struct usva_pager *pager;
	struct usva_page_pool *pool;
	unsigned int npas;
	struct fx_pas p[NPAS_MAX];
	uint8_t *arena;
	uint64_t arena_len;
	int16_t dma;
	bool dma_made;
	bool started;
	bool launched;		/* runs on the worker lcore ... */
	bool on_service;	/* ... or as a service there */
	unsigned int svc_lcore;	/* (not an enabled lcore while so) */
	uint64_t max_len;
};

static int
fx_pas_open(struct fx *f, struct fx_pas *p)
{
	struct usva_as_config acfg = {
		.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config dcfg = { .size = sizeof(dcfg) };

	TEST_ASSERT_OK(usva_pasid_alloc(f->owner, &p->pasid));
	TEST_ASSERT_OK(usva_as_create(&acfg, &p->as));
	dcfg.as = p->as;
	TEST_ASSERT_OK(usva_domain_create(f->iommu, &dcfg, &p->dom));
	TEST_ASSERT_OK(usva_iommu_attach(f->dev, p->pasid, p->dom));
	p->attached = true;
	return TEST_SUCCESS;
}

static int
fx_register(struct fx *f, struct fx_pas *p)
{
	struct usva_fault_handler_config hcfg = {
		.size = sizeof(hcfg), .dev = f->dev, .as = p->as,
		.pager = f->pager, .pasid = p->pasid,
	};

	TEST_ASSERT_OK(usva_fault_register(f->svc, &hcfg, &p->h));
	return TEST_SUCCESS;
}

static int
fx_pager(struct fx *f, enum pager_kind kind)
{
	struct usva_pager_mirror_config m = {
		.size = sizeof(m), .iommu = f->iommu, .base = U64(f->arena),
		.len = f->arena_len,
	};
	struct usva_page_pool_config pc = {
		.size = sizeof(pc), .page_shift = 12, .nr_pages = 256,
		.numa_node = -1,
	};
	struct usva_pager_anon_config a = {
		.size = sizeof(a), .base = ANON_BASE, .len = 256 * SZ_4K,
		.iommu = f->iommu,
	};

	if (kind == PG_MIRROR) {
		TEST_ASSERT_OK(usva_pager_mirror_create(&m, &f->pager));
	} else if (kind == PG_ANON) {
		TEST_ASSERT_OK(usva_page_pool_create(&pc, &f->pool));
		a.pool = f->pool;
		TEST_ASSERT_OK(usva_pager_anon_create(&a, &f->pager));
	}
	return TEST_SUCCESS;
}

static int
fx_iommu(struct fx *f, const struct fx_opts *o)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .backend = "emu",
		.params = "flavour=vtd,prq_depth=256",
	};
	struct usva_dev_config dcfg = {
		.size = sizeof(dcfg), .name = "dma-dev", .pasid_width = 20,
		.flags = o->no_pri ? 0 : (o->dev_flags ? o->dev_flags :
					  USVA_DEV_F_PRI | USVA_DEV_F_ATS),
	};
	struct usva_fault_config scfg = {
		.size = sizeof(scfg), .nr_lcores = 1,
		.lcores = { worker_lcore() },
	};

	TEST_ASSERT_OK(usva_iommu_open(&icfg, &f->iommu));
	TEST_ASSERT_OK(usva_iommu_dev_open(f->iommu, &dcfg, &f->dev));
	TEST_ASSERT_OK(usva_pasid_owner_create(usva_iommu_pasids(f->iommu), 0,
					       &f->owner));
	TEST_ASSERT_OK(usva_fault_service_create(&scfg, &f->svc));
	TEST_ASSERT_OK(usva_fault_service_add_iommu(f->svc, f->iommu));
	return TEST_SUCCESS;
}

/* An engine on the fixture's device; channel 0 set up and started. */
static int
fx_dma(struct fx *f, const struct fx_opts *o)
{
	struct usva_emu_dma_config ec = {
		.size = sizeof(ec), .name = DMA_NAME, .dev = f->dev,
		.max_inflight = o->max_inflight, .max_len = o->max_len,
		.fault_retries = o->fault_retries,
		.flags = o->service ? USVA_EMU_DMA_F_SERVICE : 0,
	};
	struct usva_dma_conf dc = { .size = sizeof(dc), .nb_vchans = 1 };
	struct usva_dma_vchan_conf vc = {
		.size = sizeof(vc), .nb_desc = o->nb_desc ? o->nb_desc : 64,
		.fault_mode = o->fault_mode, .pasid = f->p[0].pasid,
	};

	TEST_ASSERT_OK(usva_emu_dma_create(&ec, &f->dma));
	f->dma_made = true;
	f->max_len = o->max_len ? o->max_len : SZ_1G;
	TEST_ASSERT_OK(usva_dma_configure(f->dma, &dc));
	TEST_ASSERT_OK(usva_dma_vchan_setup(f->dma, 0, &vc));
	TEST_ASSERT_OK(usva_dma_start(f->dma));
	f->started = true;
	return TEST_SUCCESS;
}

static int
fx_open(struct fx *f, const struct fx_opts *o)
{
	memset(f, 0, sizeof(*f));
	f->dma = -1;
	if (worker_lcore() >= RTE_MAX_LCORE)
		return TEST_SKIPPED;
	f->npas = o->npas ? o->npas : 1;
	f->arena_len = o->arena_len ? o->arena_len : 256 * SZ_4K;
	f->arena = aligned_alloc(SZ_4K, f->arena_len);
	TEST_ASSERT(f->arena != NULL, "aligned_alloc");
	memset(f->arena, 0, f->arena_len);
	if (fx_iommu(f, o) != TEST_SUCCESS)
		return TEST_FAILED;
	if (fx_pager(f, o->pager) != TEST_SUCCESS)
		return TEST_FAILED;
	for (unsigned int i = 0; i < f->npas; i++) {
		if (fx_pas_open(f, &f->p[i]) != TEST_SUCCESS)
			return TEST_FAILED;
		if (f->pager != NULL && fx_register(f, &f->p[i]) != TEST_SUCCESS)
			return TEST_FAILED;
	}
	if (!o->no_dma && fx_dma(f, o) != TEST_SUCCESS)
		return TEST_FAILED;
	return TEST_SUCCESS;
}

static int service_end(struct fx *f);

static int
fx_close_dma(struct fx *f)
{
	int bad = 0;

	if (f->on_service && service_end(f) != 0)
		bad |= 1;
	if (f->launched && usva_emu_dma_halt(f->dma) != 0)
		bad |= 1;
	if (f->started && usva_dma_stop(f->dma) != 0)
		bad |= 2;
	if (f->dma_made && usva_dma_close(f->dma) != 0)
		bad |= 4;
	f->launched = f->started = f->dma_made = false;
	return bad;
}

/* Tear down as an application would; every step must succeed. */
static int
fx_close(struct fx *f)
{
	int bad = fx_close_dma(f);

	for (unsigned int i = 0; i < f->npas; i++)
		usva_fault_unregister(f->p[i].h);
	usva_fault_service_destroy(f->svc);
	for (unsigned int i = 0; i < f->npas; i++) {
		struct fx_pas *p = &f->p[i];

		if (p->attached && usva_iommu_detach(f->dev, p->pasid) != 0)
			bad |= 8;
		if (p->dom != NULL && usva_domain_destroy(p->dom) != 0)
			bad |= 16;
		usva_as_destroy(p->as);
		if (p->pasid != 0 && usva_pasid_free(f->owner, p->pasid) != 0)
			bad |= 32;
	}
	if (f->pager != NULL && usva_pager_destroy(f->pager) != 0)
		bad |= 64;
	usva_page_pool_destroy(f->pool);
	if (f->owner != NULL && usva_pasid_owner_destroy(f->owner) != 0)
		bad |= 128;
	usva_iommu_dev_close(f->dev);
	if (f->iommu != NULL && usva_iommu_close(f->iommu) != 0)
		bad |= 256;
	free(f->arena);
	if (bad)
		printf("    teardown problems 0x%x (1 halt, 2 stop, 4 close, "
		       "8 detach, 16 domain, 32 pasid, 64 pager, 128 owner, "
		       "256 iommu)\n", bad);
	memset(f, 0, sizeof(*f));
	TEST_ASSERT(bad == 0, "teardown");
	return TEST_SUCCESS;
}

/* Open with @p o; skip without a worker lcore; jump to out on failure. */
#define FX_OPEN(f, o)							\
	do {								\
		int rc_ = fx_open(f, o);				\
		if (rc_ == TEST_SKIPPED) {				\
			fx_close(f);					\
			TEST_SKIP("needs a worker lcore (run with -l 0-1)"); \
		}							\
		TEST_ASSERT_GOTO(rc_ == TEST_SUCCESS, out, "fixture");	\
	} while (0)

/* ---- driving the engine ------------------------------------------------- */

/* One round: an engine iteration (unless launched), a service iteration. */
static int
fx_step(struct fx *f)
{
	int n = 0, rc;

	if (!f->launched && !f->on_service) {
		rc = usva_emu_dma_poll(f->dma);
		if (rc > 0)
			n += rc;
	}
	rc = usva_fault_service_poll(f->svc, 0);
	if (rc > 0)
		n += rc;
	return n;
}

/* Only the engine: page requests stay unanswered. */
static void
engine_rounds(struct fx *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		usva_emu_dma_poll(f->dma);
}

/*
 * Reap @p want completions of channel 0 into @p cpl, stepping the engine
 * and the service; give up after MAX_ROUNDS idle-or-not rounds.
 * @return completions reaped.
 */
static unsigned int
reap(struct fx *f, struct usva_dma_cpl *cpl, unsigned int want)
{
	unsigned int got = 0;
	uint16_t last;

	for (unsigned int r = 0; r < MAX_ROUNDS && got < want; r++) {
		uint16_t nb = (uint16_t)RTE_MIN(want - got, 256u);

		got += usva_dma_completed_status(f->dma, 0, nb, &last, cpl + got);
		if (got < want)
			fx_step(f);
	}
	return got;
}

/* Nothing more completes: a few rounds reap nothing. */
static bool
quiet(struct fx *f)
{
	struct usva_dma_cpl c;
	uint16_t last;

	for (unsigned int r = 0; r < 64; r++) {
		fx_step(f);
		if (usva_dma_completed_status(f->dma, 0, 1, &last, &c) != 0)
			return false;
	}
	return true;
}

#define REAP(f, cpl, n)							\
	TEST_ASSERT_EQ_GOTO(reap(f, cpl, n), n, "completions")

/* Enqueue with the doorbell. @return the ring index or -errno. */
static int
enq(struct fx *f, struct usva_dma_op op)
{
	op.flags |= USVA_DMA_OP_F_SUBMIT;
	return usva_dma_enqueue(f->dma, 0, &op);
}

static struct usva_dma_op
op_copy(uint8_t opcode, const void *src, const void *dst, uint64_t len)
{
	struct usva_dma_op op = {
		.opcode = opcode, .src = U64(src), .dst = U64(dst), .len = len,
	};

	return op;
}

static struct usva_dma_op
op_pat(uint8_t opcode, const void *addr, uint64_t len, uint64_t pattern)
{
	struct usva_dma_op op = {
		.opcode = opcode, .len = len, .pattern = pattern,
	};

	if (opcode == USVA_DMA_OP_FILL)
		op.dst = U64(addr);
	else
		op.src = U64(addr);
	return op;
}

/* Run @p op alone to completion; *@p c gets its completion. */
static int
run_one(struct fx *f, struct usva_dma_op op, struct usva_dma_cpl *c)
{
	int idx = enq(f, op);

	TEST_ASSERT(idx >= 0, "enqueue: %d", idx);
	TEST_ASSERT_EQ(reap(f, c, 1), 1, "completion of op %u", op.opcode);
	TEST_ASSERT_EQ(c->ring_idx, idx, "ring index");
	TEST_ASSERT_EQ(c->opcode, op.opcode, "opcode");
	return TEST_SUCCESS;
}

/* Run @p op; it must succeed with @p bytes done. */
static int
run_ok(struct fx *f, struct usva_dma_op op, uint64_t bytes)
{
	struct usva_dma_cpl c;

	TEST_ASSERT(run_one(f, op, &c) == TEST_SUCCESS, "run");
	TEST_ASSERT(c.status == USVA_DMA_STATUS_SUCCESS, "op %u: status %s "
		    "(fault at 0x%" PRIx64 ")", op.opcode,
		    usva_dma_status_str(c.status), c.fault_addr);
	TEST_ASSERT_EQ(c.bytes, bytes, "bytes of op %u", op.opcode);
	return TEST_SUCCESS;
}

#define RUN_OK(f, op, bytes)						\
	TEST_ASSERT_GOTO(run_ok(f, op, bytes) == TEST_SUCCESS, out, "op")

/* Fault in [addr, addr + len) for writing (a PREFETCH op). */
static int
prefault(struct fx *f, const void *addr, uint64_t len)
{
	struct usva_dma_op op = op_copy(USVA_DMA_OP_PREFETCH, addr, NULL, len);
	struct usva_dma_cpl c;

	op.flags = USVA_DMA_OP_F_WRITE_FETCH;
	TEST_ASSERT(run_one(f, op, &c) == TEST_SUCCESS, "prefetch");
	TEST_ASSERT_EQ(c.status, USVA_DMA_STATUS_SUCCESS, "prefetch status");
	return TEST_SUCCESS;
}

#define PREFAULT(f, a, l)						\
	TEST_ASSERT_GOTO(prefault(f, a, l) == TEST_SUCCESS, out, "prefault")

static struct usva_dma_stats
dstats(struct fx *f)
{
	struct usva_dma_stats st;

	memset(&st, 0xff, sizeof(st));
	usva_dma_stats_get(f->dma, 0, &st);
	return st;
}

static bool
as_mapped(struct usva_as *as, uint64_t va)
{
	struct usva_as_xlate x;

	return usva_as_lookup(as, va, &x) == 0;
}

/* Pages of [va, va + len) mapped in @p as. */
static unsigned int
as_count(struct usva_as *as, uint64_t va, uint64_t len)
{
	unsigned int n = 0;

	for (uint64_t a = PG(va); a < va + len; a += SZ_4K)
		n += as_mapped(as, a);
	return n;
}

static void
fill_rand(uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t v = usva_test_rand();

		memcpy(p + i, &v, RTE_MIN((uint64_t)8, len - i));
	}
}

/* First offset where @p a and @p b differ, or @p len. */
static uint64_t
diff_at(const uint8_t *a, const uint8_t *b, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return i;
	return len;
}

#define SAME(a, b, len, what)						\
	do {								\
		uint64_t d_ = diff_at(a, b, len);			\
		TEST_ASSERT_GOTO(d_ == (len), out, "%s differs at %" PRIu64 \
				 " of %" PRIu64, what, d_, (uint64_t)(len)); \
	} while (0)

/* CRC32C (Castagnoli, reflected), zlib convention: seed 0 starts a CRC,
 * a CRC seeds its continuation; CRC32C("123456789") = 0xE3069283. */
static uint32_t
crc32c_sw(uint32_t crc, const uint8_t *p, uint64_t len)
{
	crc = ~crc;
	for (uint64_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (UINT32_C(0x82F63B78) & -(crc & 1));
	}
	return ~crc;
}

static uint8_t
pat_byte(uint64_t pattern, uint64_t i)
{
	return (uint8_t)(pattern >> (8 * (i % 8)));
}

/* ==== configuration ====================================================== */

static void
ecfg_reset(struct usva_emu_dma_config *c, struct usva_iommu_dev *dev)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->name = DMA_NAME;
	c->dev = dev;
}

#define ECFG_BAD(stmt, err)						\
	do {								\
		ecfg_reset(&c, dev);					\
		stmt;							\
		TEST_ASSERT_ERR_GOTO(usva_emu_dma_create(&c, &id), err); \
	} while (0)

/* A NULL config: -EFAULT, as every size-versioned config of usva. */
#define NULL_REFUSED(expr)						\
	do {								\
		int64_t rc__ = (int64_t)(expr);				\
		TEST_ASSERT_GOTO(rc__ == -EFAULT, out,			\
				 "returned %" PRId64, rc__);		\
	} while (0)

/* Every bad field of usva_emu_dma_config, one at a time. */
static int
create_bad_fields(struct usva_iommu_dev *dev)
{
	struct {
		struct usva_emu_dma_config c;
		uint8_t tail[8];
	} big;
	struct usva_emu_dma_config c;
	int16_t id = -1;

	ECFG_BAD(c.size = USVA_OFFSETOFEND(struct usva_emu_dma_config, dev) - 1,
		 EINVAL);
	ECFG_BAD(c.size = 0, EINVAL);
	ECFG_BAD(c.flags = 1u << 7, EOPNOTSUPP);
	ECFG_BAD(c.flags = 1u << 31, EOPNOTSUPP);
	ECFG_BAD(c.reserved0 = 1, EINVAL);
	ECFG_BAD(c.reserved[1] = 1, EINVAL);
	ECFG_BAD(c.name = NULL, EINVAL);
	ECFG_BAD(c.name = "", EINVAL);
	ECFG_BAD(c.name = "a-name-that-is-longer-than-thirty-one-chars", EINVAL);
	ECFG_BAD(c.dev = NULL, EINVAL);
	ECFG_BAD(c.max_vchans = USVA_DMA_MAX_VCHANS + 1, EINVAL);
	ECFG_BAD(c.max_desc = 32, EINVAL);
	ECFG_BAD(c.max_desc = 96, EINVAL);
	ECFG_BAD(c.max_desc = 65535, EINVAL);
	ECFG_BAD(c.max_inflight = 17, EINVAL);
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.c.name = DMA_NAME;
	big.c.dev = dev;
	big.tail[5] = 1;
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_create(&big.c, &id), E2BIG);
	ecfg_reset(&c, dev);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_create(&c, NULL), EINVAL);
	NULL_REFUSED(usva_emu_dma_create(NULL, &id));
	TEST_ASSERT_EQ(id, -1, "dev_id written on failure");
	return TEST_SUCCESS;
out:
	return TEST_FAILED;
}

/* The limits themselves are accepted; a service when asked. */
static int
create_at_limits(struct usva_iommu_dev *dev)
{
	struct usva_emu_dma_config c;
	struct usva_dma_info info;
	int16_t id = -1;
	int rc;

	ecfg_reset(&c, dev);
	c.name = DMA_NAME "-2";
	c.flags = USVA_EMU_DMA_F_SERVICE;
	c.max_vchans = USVA_DMA_MAX_VCHANS;
	c.max_desc = 32768;
	c.max_inflight = 16;
	TEST_ASSERT_OK(usva_emu_dma_create(&c, &id));
	rc = usva_emu_dma_service_id(id);
	if (rc >= 0)
		rc = usva_dma_info_get(id, &info);
	usva_dma_close(id);
	TEST_ASSERT_OK(rc);
	TEST_ASSERT(info.max_vchans == USVA_DMA_MAX_VCHANS &&
		    info.max_desc == 32768, "limits %u %u", info.max_vchans,
		    info.max_desc);
	return TEST_SUCCESS;
}

USVA_TEST(fast, dma_create_config)
{
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "second", .pasid_width = 20,
		.flags = USVA_DEV_F_PRI,
	};
	struct fx_opts o = { .no_dma = true };
	struct usva_iommu_dev *dev2 = NULL;
	struct usva_emu_dma_config c;
	struct usva_dma_info info;
	uint16_t count0 = usva_dma_count();
	int16_t id = -1, id2 = -1;
	struct fx f;
	int ret = TEST_FAILED, rc;

	FX_OPEN(&f, &o);
	TEST_ASSERT_GOTO(create_bad_fields(f.dev) == TEST_SUCCESS, out, "bad fields");
	TEST_ASSERT_EQ_GOTO(usva_dma_count(), count0, "failed creates registered");
	TEST_ASSERT_ERR_GOTO(usva_dma_get_dev_id_by_name(DMA_NAME), ENODEV);

	/* Mandatory fields only: the documented defaults. */
	ecfg_reset(&c, f.dev);
	c.size = USVA_OFFSETOFEND(struct usva_emu_dma_config, dev);
	TEST_ASSERT_OK_GOTO(usva_emu_dma_create(&c, &id));
	TEST_ASSERT_EQ_GOTO(usva_dma_count(), count0 + 1, "count");
	TEST_ASSERT_EQ_GOTO(usva_dma_get_dev_id_by_name(DMA_NAME), id, "by name");
	TEST_ASSERT_GOTO(usva_dma_is_valid(id), out, "valid");
	TEST_ASSERT_OK_GOTO(usva_dma_info_get(id, &info));
	TEST_ASSERT_GOTO(strcmp(info.name, DMA_NAME) == 0, out, "name %s",
			 info.name);
	TEST_ASSERT_EQ_GOTO(info.max_vchans, 4, "default max_vchans");
	TEST_ASSERT_EQ_GOTO(info.max_desc, 4096, "default max_desc");
	TEST_ASSERT_EQ_GOTO(info.max_len, SZ_1G, "default max_len");
	TEST_ASSERT_EQ_GOTO(info.nb_vchans, 0, "nb_vchans before configure");
	TEST_ASSERT_EQ_GOTO(info.pasid_width, 20, "device PASID width");
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_service_id(id), EINVAL);
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(id), 0, "parked");
	/* The name is taken (on another device); a bad id is no engine. */
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(f.iommu, &dc, &dev2));
	ecfg_reset(&c, dev2);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_create(&c, &id2), EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_poll(USVA_DMA_MAX_DEVS), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_poll(-1), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_halt(id), EALREADY);

	/* One engine per device. */
	ecfg_reset(&c, f.dev);
	c.name = DMA_NAME "-3";
	rc = usva_emu_dma_create(&c, &id2);
	TEST_ASSERT_GOTO(rc == -EBUSY, out,
			 "second engine on a device: %d", rc);
	TEST_ASSERT_GOTO(create_at_limits(dev2) == TEST_SUCCESS, out, "limits");
	TEST_ASSERT_OK_GOTO(usva_dma_close(id));
	id = -1;
	TEST_ASSERT_EQ_GOTO(usva_dma_count(), count0, "count after close");
	ret = TEST_SUCCESS;
out:
	if (id2 >= 0)
		usva_dma_close(id2);
	if (id >= 0)
		usva_dma_close(id);
	usva_iommu_dev_close(dev2);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* USVA_DMA_MAX_DEVS at once, then -ENOSPC; each on a device of its own. */
USVA_TEST(fast, dma_create_limit)
{
	struct usva_iommu_dev *devs[USVA_DMA_MAX_DEVS] = { NULL };
	int16_t ids[USVA_DMA_MAX_DEVS];
	struct fx_opts o = { .no_dma = true };
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "lim", .pasid_width = 20,
		.flags = USVA_DEV_F_PRI,
	};
	struct usva_emu_dma_config c;
	unsigned int made = 0, want;
	char name[USVA_DMA_NAME_LEN];
	int16_t extra = -1;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	want = USVA_DMA_MAX_DEVS - usva_dma_count();
	for (unsigned int n = 0; n < want; n++) {
		TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(f.iommu, &dc, &devs[n]));
		ecfg_reset(&c, devs[n]);
		snprintf(name, sizeof(name), "dma-lim-%u", n);
		c.name = name;
		TEST_ASSERT_OK_GOTO(usva_emu_dma_create(&c, &ids[n]));
		made = n + 1;
	}
	ecfg_reset(&c, f.dev);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_create(&c, &extra), ENOSPC);
	TEST_ASSERT_EQ_GOTO(usva_dma_count(), USVA_DMA_MAX_DEVS, "count");
	ret = TEST_SUCCESS;
out:
	for (unsigned int i = 0; i < made; i++)
		usva_dma_close(ids[i]);
	for (unsigned int i = 0; i < USVA_DMA_MAX_DEVS; i++)
		usva_iommu_dev_close(devs[i]);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* A created, unconfigured engine on the fixture's device. */
static int
fx_engine(struct fx *f, uint16_t max_desc)
{
	struct usva_emu_dma_config c;

	ecfg_reset(&c, f->dev);
	c.max_desc = max_desc;
	TEST_ASSERT_OK(usva_emu_dma_create(&c, &f->dma));
	f->dma_made = true;
	return TEST_SUCCESS;
}

static struct usva_dma_conf
dconf(uint16_t nb_vchans)
{
	struct usva_dma_conf c = { .size = sizeof(c), .nb_vchans = nb_vchans };

	return c;
}

static uint16_t
nb_vchans_now(int16_t id)
{
	struct usva_dma_info info;

	memset(&info, 0xff, sizeof(info));
	usva_dma_info_get(id, &info);
	return info.nb_vchans;
}

#define CONF_BAD(stmt, err)						\
	do {								\
		c = dconf(1);						\
		stmt;							\
		TEST_ASSERT_ERR_GOTO(usva_dma_configure(id, &c), err);	\
	} while (0)

static int
configure_bad_fields(int16_t id, uint16_t max_vchans)
{
	struct {
		struct usva_dma_conf c;
		uint8_t tail[8];
	} big;
	struct usva_dma_conf c = dconf(1);

	TEST_ASSERT_ERR_GOTO(usva_dma_configure(USVA_DMA_MAX_DEVS, &c), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_configure(-1, &c), EINVAL);
	NULL_REFUSED(usva_dma_configure(id, NULL));
	CONF_BAD(c.nb_vchans = 0, EINVAL);
	CONF_BAD(c.nb_vchans = max_vchans + 1, EINVAL);
	CONF_BAD(c.flags = 1, EOPNOTSUPP);
	CONF_BAD(c.reserved0 = 1, EINVAL);
	CONF_BAD(c.reserved1 = 1, EINVAL);
	CONF_BAD(c.reserved[1] = 1, EINVAL);
	CONF_BAD(c.size = USVA_OFFSETOFEND(struct usva_dma_conf, reserved1) - 1,
		 EINVAL);
	memset(&big, 0, sizeof(big));
	big.c = dconf(1);
	big.c.size = sizeof(big);
	big.tail[0] = 1;
	TEST_ASSERT_ERR_GOTO(usva_dma_configure(id, &big.c), E2BIG);
	TEST_ASSERT_EQ(nb_vchans_now(id), 0, "a refused configure configured");
	return TEST_SUCCESS;
out:
	return TEST_FAILED;
}

static struct usva_dma_vchan_conf
vconf(uint16_t nb_desc, uint16_t mode, uint32_t pasid)
{
	struct usva_dma_vchan_conf c = {
		.size = sizeof(c), .nb_desc = nb_desc, .fault_mode = mode,
		.pasid = pasid,
	};

	return c;
}

#define VC_BAD(stmt, err)						\
	do {								\
		v = vconf(64, USVA_DMA_FAULT_BLOCK, pasid);		\
		stmt;							\
		TEST_ASSERT_ERR_GOTO(usva_dma_vchan_setup(id, 0, &v), err); \
	} while (0)

static int
vchan_bad_fields(int16_t id, uint32_t pasid)
{
	struct {
		struct usva_dma_vchan_conf c;
		uint8_t tail[8];
	} big;
	struct usva_dma_vchan_conf v = vconf(64, USVA_DMA_FAULT_BLOCK, pasid);
	struct usva_dma_info info;

	TEST_ASSERT_OK(usva_dma_info_get(id, &info));
	TEST_ASSERT_ERR_GOTO(usva_dma_vchan_setup(-1, 0, &v), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_vchan_setup(id, info.nb_vchans, &v),
			     EINVAL);
	NULL_REFUSED(usva_dma_vchan_setup(id, 0, NULL));
	VC_BAD(v.nb_desc = 0, EINVAL);
	VC_BAD(v.nb_desc = 96, EINVAL);
	VC_BAD(v.nb_desc = info.max_desc * 2, EINVAL);
	if (info.min_desc > 1)
		VC_BAD(v.nb_desc = info.min_desc / 2, EINVAL);
	VC_BAD(v.fault_mode = 2, EINVAL);
	VC_BAD(v.fault_mode = 0xffff, EINVAL);
	VC_BAD(v.flags = 1, EOPNOTSUPP);
	VC_BAD(v.pasid = UINT32_C(1) << info.pasid_width, EINVAL);
	VC_BAD(v.reserved[0] = 1, EINVAL);
	VC_BAD(v.size = USVA_OFFSETOFEND(struct usva_dma_vchan_conf, pasid) - 1,
	       EINVAL);
	memset(&big, 0, sizeof(big));
	big.c = vconf(64, USVA_DMA_FAULT_BLOCK, pasid);
	big.c.size = sizeof(big);
	big.tail[3] = 1;
	TEST_ASSERT_ERR_GOTO(usva_dma_vchan_setup(id, 0, &big.c), E2BIG);
	return TEST_SUCCESS;
out:
	return TEST_FAILED;
}

USVA_TEST(fast, dma_configure_errors)
{
	struct fx_opts o = { .no_dma = true };
	struct usva_dma_vchan_conf v;
	struct usva_dma_conf c;
	struct usva_dma_info info;
	int16_t id;
	uint32_t pasid;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	FX_OK(fx_engine(&f, 1024));
	id = f.dma;
	pasid = f.p[0].pasid;
	TEST_ASSERT_OK_GOTO(usva_dma_info_get(id, &info));
	TEST_ASSERT_GOTO(info.min_desc >= 1 && info.min_desc <= 64 &&
			 info.max_desc == 1024, out, "ring bounds %u..%u",
			 info.min_desc, info.max_desc);
	/* Before configure: no channel to set up, nothing to start. */
	v = vconf(64, USVA_DMA_FAULT_BLOCK, pasid);
	TEST_ASSERT_ERR_GOTO(usva_dma_vchan_setup(id, 0, &v), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_start(id), EINVAL);
	TEST_ASSERT_GOTO(configure_bad_fields(id, info.max_vchans) ==
			 TEST_SUCCESS, out, "configure fields");
	c = dconf(2);
	c.size = USVA_OFFSETOFEND(struct usva_dma_conf, reserved1);
	TEST_ASSERT_OK_GOTO(usva_dma_configure(id, &c));
	TEST_ASSERT_EQ_GOTO(nb_vchans_now(id), 2, "nb_vchans");
	TEST_ASSERT_GOTO(vchan_bad_fields(id, pasid) == TEST_SUCCESS, out,
			 "vchan fields");
	/* Channel 1 not set up (its refused set-ups changed nothing). */
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(id, 0, &v));
	TEST_ASSERT_ERR_GOTO(usva_dma_start(id), EINVAL);
	v = vconf(info.max_desc, USVA_DMA_FAULT_PARTIAL, 0);
	v.size = USVA_OFFSETOFEND(struct usva_dma_vchan_conf, pasid);
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(id, 1, &v));
	/* Configuring again drops the channels. */
	c = dconf(2);
	TEST_ASSERT_OK_GOTO(usva_dma_configure(id, &c));
	TEST_ASSERT_ERR_GOTO(usva_dma_start(id), EINVAL);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

static int
started_refusals(int16_t id, uint32_t pasid)
{
	struct usva_dma_vchan_conf v = vconf(64, USVA_DMA_FAULT_BLOCK, pasid);
	struct usva_dma_conf c = dconf(1);

	TEST_ASSERT_ERR(usva_dma_start(id), EALREADY);
	TEST_ASSERT_ERR(usva_dma_configure(id, &c), EBUSY);
	TEST_ASSERT_ERR(usva_dma_vchan_setup(id, 0, &v), EBUSY);
	TEST_ASSERT_ERR(usva_dma_close(id), EBUSY);
	TEST_ASSERT_EQ(nb_vchans_now(id), 1, "nb_vchans while started");
	return TEST_SUCCESS;
}

static int
stats_dump_checks(int16_t id)
{
	struct usva_dma_stats st;
	FILE *null = fopen("/dev/null", "w");
	int rc_dump, rc_bad;

	TEST_ASSERT(null != NULL, "/dev/null");
	rc_dump = usva_dma_dump(id, null);
	rc_bad = usva_dma_dump(USVA_DMA_MAX_DEVS, null);
	fclose(null);
	TEST_ASSERT_EQ(rc_dump, 0, "dump");
	TEST_ASSERT_EQ(rc_bad, -EINVAL, "dump of a bad id");
	TEST_ASSERT_OK(usva_dma_stats_get(id, 0, &st));
	TEST_ASSERT_OK(usva_dma_stats_get(id, USVA_DMA_ALL_VCHAN, &st));
	TEST_ASSERT_ERR(usva_dma_stats_get(id, 1, &st), EINVAL);
	TEST_ASSERT_ERR(usva_dma_stats_get(id, 0, NULL), EINVAL);
	TEST_ASSERT_ERR(usva_dma_stats_get(-1, 0, &st), EINVAL);
	return TEST_SUCCESS;
}

USVA_TEST(fast, dma_lifecycle)
{
	struct fx_opts o = { .no_dma = true };
	struct usva_dma_vchan_conf v;
	struct usva_dma_conf c = dconf(1);
	struct usva_dma_info info;
	int16_t id;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	FX_OK(fx_engine(&f, 0));
	id = f.dma;
	TEST_ASSERT_ERR_GOTO(usva_dma_stop(id), EALREADY);
	TEST_ASSERT_OK_GOTO(usva_dma_configure(id, &c));
	v = vconf(64, USVA_DMA_FAULT_BLOCK, f.p[0].pasid);
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(id, 0, &v));
	TEST_ASSERT_OK_GOTO(usva_dma_start(id));
	f.started = true;
	TEST_ASSERT_GOTO(started_refusals(id, f.p[0].pasid) == TEST_SUCCESS,
			 out, "refusals while started");
	TEST_ASSERT_EQ_GOTO(usva_dma_burst_capacity(id, 0), 64, "capacity");
	TEST_ASSERT_GOTO(stats_dump_checks(id) == TEST_SUCCESS, out, "stats");
	TEST_ASSERT_OK_GOTO(usva_dma_stop(id));
	f.started = false;
	TEST_ASSERT_ERR_GOTO(usva_dma_stop(id), EALREADY);
	/* Stopped: set up again and restart; then close. */
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(id, 0, &v));
	TEST_ASSERT_OK_GOTO(usva_dma_start(id));
	f.started = true;
	TEST_ASSERT_OK_GOTO(usva_dma_stop(id));
	f.started = false;
	TEST_ASSERT_OK_GOTO(usva_dma_close(id));
	f.dma_made = false;
	TEST_ASSERT_GOTO(!usva_dma_is_valid(id), out, "valid after close");
	TEST_ASSERT_ERR_GOTO(usva_dma_get_dev_id_by_name(DMA_NAME), ENODEV);
	TEST_ASSERT_ERR_GOTO(usva_dma_info_get(id, &info), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_close(id), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_start(id), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_emu_dma_poll(id), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_info_get(0, NULL), EINVAL);
	TEST_ASSERT_GOTO(!usva_dma_is_valid(-1) &&
			 !usva_dma_is_valid(USVA_DMA_MAX_DEVS), out, "bad ids");
	TEST_ASSERT_GOTO(strcmp(usva_dma_status_str(USVA_DMA_STATUS_SUCCESS),
				"SUCCESS") == 0 &&
			 strcmp(usva_dma_status_str(USVA_DMA_STATUS_PAGE_FAULT),
				"PAGE_FAULT") == 0 &&
			 usva_dma_status_str(999) != NULL, out, "status names");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

#define CAPA_OPS (USVA_DMA_CAPA_OP_COPY | USVA_DMA_CAPA_OP_MEMMOVE |	\
		  USVA_DMA_CAPA_OP_FILL | USVA_DMA_CAPA_OP_COMPARE |	\
		  USVA_DMA_CAPA_OP_COMPARE_PATTERN |			\
		  USVA_DMA_CAPA_OP_CRC32C | USVA_DMA_CAPA_OP_PREFETCH)
#define CAPA_ALWAYS (USVA_DMA_CAPA_SVA | USVA_DMA_CAPA_PARTIAL |	\
		     USVA_DMA_CAPA_COMPLETION_RECORD | USVA_DMA_CAPA_FENCE | \
		     CAPA_OPS)

/* BLOCK_ON_FAULT only on a device with PRI; a block channel needs it. */
USVA_TEST(fast, dma_capabilities)
{
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "no-pri", .pasid_width = 20,
	};
	struct fx_opts o = { .no_dma = true };
	struct usva_iommu_dev *nopri = NULL;
	struct usva_emu_dma_config ec;
	struct usva_dma_vchan_conf v;
	struct usva_dma_conf c = dconf(1);
	struct usva_dma_info info;
	int16_t id2 = -1;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	FX_OK(fx_engine(&f, 0));
	TEST_ASSERT_OK_GOTO(usva_dma_info_get(f.dma, &info));
	TEST_ASSERT_GOTO((info.capa & CAPA_ALWAYS) == CAPA_ALWAYS, out,
			 "capa 0x%" PRIx64, info.capa);
	TEST_ASSERT_GOTO(info.capa & USVA_DMA_CAPA_BLOCK_ON_FAULT, out,
			 "PRI device without BLOCK_ON_FAULT");

	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(f.iommu, &dc, &nopri));
	ecfg_reset(&ec, nopri);
	ec.name = DMA_NAME "-nopri";
	TEST_ASSERT_OK_GOTO(usva_emu_dma_create(&ec, &id2));
	TEST_ASSERT_OK_GOTO(usva_dma_info_get(id2, &info));
	TEST_ASSERT_GOTO((info.capa & CAPA_ALWAYS) == CAPA_ALWAYS, out,
			 "capa 0x%" PRIx64, info.capa);
	TEST_ASSERT_GOTO(!(info.capa & USVA_DMA_CAPA_BLOCK_ON_FAULT), out,
			 "BLOCK_ON_FAULT without PRI");
	TEST_ASSERT_OK_GOTO(usva_dma_configure(id2, &c));
	v = vconf(64, USVA_DMA_FAULT_BLOCK, f.p[0].pasid);
	TEST_ASSERT_ERR_GOTO(usva_dma_vchan_setup(id2, 0, &v), EOPNOTSUPP);
	TEST_ASSERT_ERR_GOTO(usva_dma_start(id2), EINVAL);
	v.fault_mode = USVA_DMA_FAULT_PARTIAL;
	TEST_ASSERT_OK_GOTO(usva_dma_vchan_setup(id2, 0, &v));
	TEST_ASSERT_OK_GOTO(usva_dma_start(id2));
	TEST_ASSERT_OK_GOTO(usva_dma_stop(id2));
	ret = TEST_SUCCESS;
out:
	if (id2 >= 0)
		usva_dma_close(id2);
	usva_iommu_dev_close(nopri);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== operations ========================================================== */

#define PAT	UINT64_C(0x0123456789abcdef)

/* Page @p i of the fixture's arena. */
static uint8_t *
apg(struct fx *f, unsigned int i)
{
	return f->arena + (uint64_t)i * SZ_4K;
}

USVA_TEST(fast, dma_op_copy)
{
	static const struct { uint32_t soff, doff; uint64_t len; } t[] = {
		{ 13, 4001, 3 * SZ_4K + 77 },	/* unaligned, four pages */
		{ 0, 0, SZ_4K },		/* one aligned page */
		{ 4095, 1, 1 },			/* one byte */
		{ 100, 200, 64 * SZ_4K },	/* long */
	};
	struct fx_opts o = { 0 };
	struct usva_dma_stats st;
	uint64_t total = 0;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	fill_rand(apg(&f, 0), 100 * SZ_4K);
	for (unsigned int i = 0; i < RTE_DIM(t); i++) {
		uint8_t *src = apg(&f, 0) + t[i].soff;
		uint8_t *dst = apg(&f, 120) + t[i].doff;

		memset(apg(&f, 120), 0, 136 * SZ_4K);
		RUN_OK(&f, op_copy(USVA_DMA_OP_COPY, src, dst, t[i].len),
		       t[i].len);
		SAME(dst, src, t[i].len, "copy");
		TEST_ASSERT_GOTO(dst[-1] == 0 && dst[t[i].len] == 0, out,
				 "copy %u wrote outside its destination", i);
		total += t[i].len;
	}
	st = dstats(&f);
	TEST_ASSERT_EQ_GOTO(st.submitted, RTE_DIM(t), "submitted");
	TEST_ASSERT_EQ_GOTO(st.completed, RTE_DIM(t), "completed");
	TEST_ASSERT_EQ_GOTO(st.errors, 0, "errors");
	TEST_ASSERT_GOTO(st.bytes >= total, out, "bytes %" PRIu64, st.bytes);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* MEMMOVE of [base + soff, + len) to base + doff, checked against memmove()
 * on a copy of the region. */
static int
memmove_one(struct fx *f, uint8_t *base, uint8_t *ref, uint64_t region,
	    uint64_t soff, uint64_t doff, uint64_t len)
{
	struct usva_dma_op op = op_copy(USVA_DMA_OP_MEMMOVE, base + soff,
					base + doff, len);

	fill_rand(base, region);
	memcpy(ref, base, region);
	memmove(ref + doff, ref + soff, len);
	TEST_ASSERT(run_ok(f, op, len) == TEST_SUCCESS, "memmove");
	TEST_ASSERT_EQ(diff_at(base, ref, region), region,
		       "memmove %" PRIu64 " -> %" PRIu64 " (%" PRIu64 " bytes)",
		       soff, doff, len);
	return TEST_SUCCESS;
}

USVA_TEST(fast, dma_op_memmove)
{
	static const struct { uint64_t soff, doff, len; } t[] = {
		{ 5000, 5100, 2 * SZ_4K + 333 },	/* forward overlap */
		{ 5000, 4923, 2 * SZ_4K + 1000 },	/* backward overlap */
		{ 3, 4, 5 * SZ_4K },			/* by one byte, up */
		{ 4, 3, 5 * SZ_4K },			/* by one byte, down */
		{ 10, 3 * SZ_4K + 11, 3 * SZ_4K },	/* touching */
		{ 0, 8 * SZ_4K, 3 * SZ_4K + 5 },	/* apart */
	};
	const uint64_t region = 16 * SZ_4K;
	struct fx_opts o = { 0 };
	uint8_t *ref = malloc(region);
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	TEST_ASSERT_GOTO(ref != NULL, out, "malloc");
	for (unsigned int i = 0; i < RTE_DIM(t); i++)
		TEST_ASSERT_GOTO(memmove_one(&f, apg(&f, 1), ref, region,
					     t[i].soff, t[i].doff, t[i].len) ==
				 TEST_SUCCESS, out, "case %u", i);
	ret = TEST_SUCCESS;
out:
	free(ref);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, dma_op_fill)
{
	static const uint64_t lens[] = { 1, 7, 8, 13, SZ_4K + 5,
					 3 * SZ_4K + 3 };
	struct fx_opts o = { 0 };
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	for (unsigned int i = 0; i < RTE_DIM(lens); i++) {
		uint8_t *dst = apg(&f, 10 * i) + 4093 - i;
		uint64_t bad = lens[i];

		RUN_OK(&f, op_pat(USVA_DMA_OP_FILL, dst, lens[i], PAT), lens[i]);
		for (uint64_t k = 0; k < lens[i] && bad == lens[i]; k++)
			if (dst[k] != pat_byte(PAT, k))
				bad = k;
		TEST_ASSERT_GOTO(bad == lens[i], out, "fill of %" PRIu64
				 " bytes at %p: byte %" PRIu64 " is 0x%02x",
				 lens[i], (void *)dst, bad, dst[bad]);
		TEST_ASSERT_GOTO(dst[-1] == 0 && dst[lens[i]] == 0, out,
				 "fill %u wrote outside", i);
	}
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* Run a COMPARE(-PATTERN) and check result and bytes. */
static int
cmp_expect(struct fx *f, struct usva_dma_op op, uint64_t result,
	   uint64_t bytes)
{
	struct usva_dma_cpl c;

	TEST_ASSERT(run_one(f, op, &c) == TEST_SUCCESS, "run");
	TEST_ASSERT_EQ(c.status, USVA_DMA_STATUS_SUCCESS, "compare status");
	TEST_ASSERT_EQ(c.result, result, "compare result");
	TEST_ASSERT_EQ(c.bytes, bytes, "bytes before the difference");
	return TEST_SUCCESS;
}

#define CMP(f, op, res, bytes)						\
	TEST_ASSERT_GOTO(cmp_expect(f, op, res, bytes) == TEST_SUCCESS, out, \
			 "compare")

USVA_TEST(fast, dma_op_compare)
{
	const uint64_t len = 2 * SZ_4K + 17;
	struct fx_opts o = { 0 };
	uint8_t *a, *b, *p;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	a = apg(&f, 0) + 9;
	b = apg(&f, 8) + 4000;
	p = apg(&f, 16) + 3;
	fill_rand(a, len);
	memcpy(b, a, len);
	CMP(&f, op_copy(USVA_DMA_OP_COMPARE, a, b, len), 0, len);
	b[5000] ^= 0x10;
	CMP(&f, op_copy(USVA_DMA_OP_COMPARE, a, b, len), 1, 5000);
	b[len - 1] ^= 1;
	CMP(&f, op_copy(USVA_DMA_OP_COMPARE, a, b, 5000), 0, 5000);
	b[0] ^= 1;
	CMP(&f, op_copy(USVA_DMA_OP_COMPARE, a, b, len), 1, 0);
	TEST_ASSERT_GOTO(a[0] != b[0] && a[5000] != b[5000], out,
			 "compare wrote");
	/* Pattern, phased from the operation's first byte. */
	for (uint64_t k = 0; k < len; k++)
		p[k] = pat_byte(PAT, k);
	CMP(&f, op_pat(USVA_DMA_OP_COMPARE_PATTERN, p, len, PAT), 0, len);
	CMP(&f, op_pat(USVA_DMA_OP_COMPARE_PATTERN, p + 1, 9, PAT), 1, 0);
	p[777] ^= 0x80;
	CMP(&f, op_pat(USVA_DMA_OP_COMPARE_PATTERN, p, len, PAT), 1, 777);
	CMP(&f, op_pat(USVA_DMA_OP_COMPARE_PATTERN, p, 777, PAT), 0, 777);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* CRC32C of [p, p + len) from @p seed must be @p want. */
static int
crc_expect(struct fx *f, const uint8_t *p, uint64_t len, uint32_t seed,
	   uint32_t want)
{
	struct usva_dma_op op = op_pat(USVA_DMA_OP_CRC32C, p, len, seed);
	struct usva_dma_cpl c;

	op.pattern |= UINT64_C(0xdead) << 32;	/* only the low 32 bits */
	TEST_ASSERT(run_one(f, op, &c) == TEST_SUCCESS, "run");
	TEST_ASSERT_EQ(c.status, USVA_DMA_STATUS_SUCCESS, "crc status");
	TEST_ASSERT(c.result == want, "CRC32C of %" PRIu64 " bytes seed 0x%x: "
		    "0x%" PRIx64 ", expected 0x%x", len, seed, c.result, want);
	TEST_ASSERT_EQ(c.bytes, len, "bytes");
	return TEST_SUCCESS;
}

#define CRC(f, p, len, seed, want)					\
	TEST_ASSERT_GOTO(crc_expect(f, p, len, seed, want) == TEST_SUCCESS, \
			 out, "crc")

USVA_TEST(fast, dma_op_crc32c)
{
	const uint64_t len = 5 * SZ_4K + 1234;
	struct fx_opts o = { 0 };
	uint8_t *p;
	uint32_t c1;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	TEST_ASSERT_EQ_GOTO(crc32c_sw(0, (const uint8_t *)"123456789", 9),
			    0xE3069283, "reference CRC");
	p = apg(&f, 1) + 4090;		/* crosses a page */
	memcpy(p, "123456789", 9);
	CRC(&f, p, 9, 0, 0xE3069283);
	/* Chaining: a CRC seeds its continuation. */
	c1 = crc32c_sw(0, p, 4);
	CRC(&f, p, 4, 0, c1);
	CRC(&f, p + 4, 5, c1, 0xE3069283);
	/* Multi-page, unaligned, random. */
	p = apg(&f, 4) + 77;
	fill_rand(p, len);
	CRC(&f, p, len, 0, crc32c_sw(0, p, len));
	CRC(&f, p, len, 0x12345678, crc32c_sw(0x12345678, p, len));
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, dma_op_nop_prefetch)
{
	struct fx_opts o = { 0 };
	struct usva_dma_op op;
	struct usva_dma_cpl c;
	struct usva_as_xlate x;
	struct usva_as *as;
	uint64_t pr0;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	as = f.p[0].as;
	/* NOP: completes, touches nothing (its addresses are never used). */
	op = op_copy(USVA_DMA_OP_NOP, apg(&f, 3), apg(&f, 4), 16);
	TEST_ASSERT_GOTO(run_one(&f, op, &c) == TEST_SUCCESS, out, "nop");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_SUCCESS, "nop status");
	TEST_ASSERT_EQ_GOTO(as_count(as, U64(f.arena), f.arena_len), 0,
			    "a NOP mapped pages");
	TEST_ASSERT_EQ_GOTO(dstats(&f).page_requests, 0, "page requests");
	/* PREFETCH: five pages (offset 100, four pages long). */
	op = op_copy(USVA_DMA_OP_PREFETCH, apg(&f, 20) + 100, NULL, 4 * SZ_4K);
	TEST_ASSERT_GOTO(run_one(&f, op, &c) == TEST_SUCCESS, out, "prefetch");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_SUCCESS, "status");
	TEST_ASSERT_EQ_GOTO(as_count(as, U64(apg(&f, 19)), 7 * SZ_4K), 5,
			    "pages mapped by the prefetch");
	pr0 = dstats(&f).page_requests;
	TEST_ASSERT_GOTO(pr0 >= 1, out, "page requests %" PRIu64, pr0);
	TEST_ASSERT_GOTO(memcmp(apg(&f, 20), apg(&f, 30), SZ_4K) == 0, out,
			 "prefetch changed data");
	/* For writing. */
	op = op_copy(USVA_DMA_OP_PREFETCH, apg(&f, 40), NULL, 2 * SZ_4K);
	op.flags = USVA_DMA_OP_F_WRITE_FETCH;
	TEST_ASSERT_GOTO(run_one(&f, op, &c) == TEST_SUCCESS, out, "prefetch");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_SUCCESS, "status");
	TEST_ASSERT_OK_GOTO(usva_as_lookup(as, U64(apg(&f, 41)), &x));
	TEST_ASSERT_GOTO(x.prot & USVA_PROT_WRITE, out, "not writable");
	/* Prefetching mapped pages again raises nothing. */
	op = op_copy(USVA_DMA_OP_PREFETCH, apg(&f, 20), NULL, 2 * SZ_4K);
	pr0 = dstats(&f).page_requests;
	TEST_ASSERT_GOTO(run_one(&f, op, &c) == TEST_SUCCESS, out, "prefetch");
	TEST_ASSERT_EQ_GOTO(dstats(&f).page_requests, pr0, "page requests");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== fault modes ========================================================== */

/* Block-on-fault over malloc'd memory that nothing has mapped yet. */
USVA_TEST(fast, dma_fault_block_mirror)
{
	const uint64_t len = 16 * SZ_4K + 999;
	struct fx_opts o = { 0 };
	struct usva_pager_mirror_stats ms;
	struct usva_dma_stats st;
	uint8_t *src, *dst;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	src = apg(&f, 2) + 77;
	dst = apg(&f, 40) + 3;
	fill_rand(src, len);
	TEST_ASSERT_EQ_GOTO(as_count(f.p[0].as, U64(f.arena), f.arena_len), 0,
			    "mapped before any DMA");
	RUN_OK(&f, op_copy(USVA_DMA_OP_COPY, src, dst, len), len);
	SAME(dst, src, len, "copy through faults");
	st = dstats(&f);
	TEST_ASSERT_GOTO(st.page_requests >= 2, out, "page requests %" PRIu64,
			 st.page_requests);
	TEST_ASSERT_GOTO(st.fault_retries >= 1, out, "retries %" PRIu64,
			 st.fault_retries);
	TEST_ASSERT_EQ_GOTO(st.page_faults, 0, "page_faults");
	TEST_ASSERT_EQ_GOTO(st.errors, 0, "errors");
	TEST_ASSERT_EQ_GOTO(as_count(f.p[0].as, U64(src), len), 17,
			    "source pages mapped");
	TEST_ASSERT_EQ_GOTO(as_count(f.p[0].as, U64(dst), len), 17,
			    "destination pages mapped");
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_stats(f.pager, &ms));
	TEST_ASSERT_GOTO(ms.mapped >= 2 && ms.s2_maps >= 1, out,
			 "mirror mapped %" PRIu64 " s2_maps %" PRIu64, ms.mapped,
			 ms.s2_maps);
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(f.dma), 0, "parked");
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 0,
			    "outstanding groups");
	/* Again over the same pages: no new page request. */
	memset(dst, 0, len);
	RUN_OK(&f, op_copy(USVA_DMA_OP_COPY, src, dst, len), len);
	SAME(dst, src, len, "copy over mapped pages");
	TEST_ASSERT_EQ_GOTO(dstats(&f).page_requests, st.page_requests,
			    "page requests for mapped pages");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* The host address of @p va through @p as (anon pages are pool pages, and
 * a pool page's IOVA is its address). */
static uint8_t *
host_of(struct usva_as *as, uint64_t va)
{
	struct usva_as_xlate x;

	if (usva_as_lookup(as, va, &x) != 0)
		return NULL;
	return (uint8_t *)(uintptr_t)x.oa;
}

/* Block-on-fault into zero-filled anonymous pages. */
USVA_TEST(fast, dma_fault_block_anon)
{
	const uint64_t len = 3 * SZ_4K;
	struct fx_opts o = { .pager = PG_ANON };
	uint64_t a = ANON_BASE + 100, b = ANON_BASE + 20 * SZ_4K + 5;
	struct usva_as *as;
	uint8_t *h;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	as = f.p[0].as;
	/* A fresh page reads as zeroes. */
	CMP(&f, op_pat(USVA_DMA_OP_COMPARE_PATTERN,
		       (void *)(uintptr_t)(ANON_BASE + 50 * SZ_4K), SZ_4K, 0),
	    0, SZ_4K);
	TEST_ASSERT_GOTO(as_mapped(as, ANON_BASE + 50 * SZ_4K), out,
			 "page not mapped after the fault");
	RUN_OK(&f, op_pat(USVA_DMA_OP_FILL, (void *)(uintptr_t)a, len, PAT),
	       len);
	CMP(&f, op_pat(USVA_DMA_OP_COMPARE_PATTERN, (void *)(uintptr_t)a, len,
		       PAT), 0, len);
	h = host_of(as, ANON_BASE + SZ_4K);
	TEST_ASSERT_GOTO(h != NULL, out, "lookup");
	/* Byte k of the fill sits at ANON_BASE + 100 + k. */
	TEST_ASSERT_GOTO(h[0] == pat_byte(PAT, SZ_4K - 100) &&
			 h[1] == pat_byte(PAT, SZ_4K - 99), out,
			 "pool page content");
	RUN_OK(&f, op_copy(USVA_DMA_OP_COPY, (void *)(uintptr_t)a,
			   (void *)(uintptr_t)b, len), len);
	CMP(&f, op_copy(USVA_DMA_OP_COMPARE, (void *)(uintptr_t)a,
			(void *)(uintptr_t)b, len), 0, len);
	TEST_ASSERT_GOTO(dstats(&f).page_requests >= 7, out, "page requests");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* An INVALID response ends the operation PAGE_FAULT; later ones run. */
USVA_TEST(fast, dma_fault_invalid)
{
	struct fx_opts o = { 0 };
	struct usva_fault_stats fs;
	struct usva_dma_cpl c;
	uint8_t *end, *src, *dst;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	end = f.arena + f.arena_len;	/* outside the pager's range */
	src = end - 100;
	dst = apg(&f, 10);
	fill_rand(apg(&f, 0), 4 * SZ_4K);
	memcpy(src, apg(&f, 0), 100);
	/* A read running off the range. */
	TEST_ASSERT_GOTO(run_one(&f, op_copy(USVA_DMA_OP_COPY, src, dst, 200),
				 &c) == TEST_SUCCESS, out, "run");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	TEST_ASSERT_GOTO(PG(c.fault_addr) == U64(end), out, "fault at 0x%"
			 PRIx64 ", range ends at %p", c.fault_addr, (void *)end);
	TEST_ASSERT_GOTO(!(c.flags & USVA_DMA_CPL_F_FAULT_WRITE), out,
			 "a read reported as a write");
	TEST_ASSERT_GOTO(c.bytes <= 100, out, "bytes %" PRIu64, c.bytes);
	SAME(dst, src, c.bytes, "bytes reported done");
	/* A write outside the range. */
	TEST_ASSERT_GOTO(run_one(&f, op_copy(USVA_DMA_OP_COPY, apg(&f, 0),
					     (void *)(uintptr_t)ANON_BASE, 64),
				 &c) == TEST_SUCCESS, out, "run");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	TEST_ASSERT_EQ_GOTO(c.fault_addr, ANON_BASE, "fault address");
	TEST_ASSERT_GOTO(c.flags & USVA_DMA_CPL_F_FAULT_WRITE, out,
			 "a write reported as a read");
	TEST_ASSERT_EQ_GOTO(c.bytes, 0, "bytes");
	/* Later operations run. */
	RUN_OK(&f, op_copy(USVA_DMA_OP_COPY, apg(&f, 0), apg(&f, 20), 4 * SZ_4K),
	       4 * SZ_4K);
	SAME(apg(&f, 20), apg(&f, 0), 4 * SZ_4K, "copy after faults");
	TEST_ASSERT_EQ_GOTO(dstats(&f).page_faults, 2, "page_faults");
	TEST_ASSERT_EQ_GOTO(dstats(&f).errors, 2, "errors");
	TEST_ASSERT_OK_GOTO(usva_fault_stats(f.svc, -1, &fs));
	TEST_ASSERT_GOTO(fs.resp_invalid >= 2 && fs.out_of_range >= 2, out,
			 "invalid %" PRIu64 " out of range %" PRIu64,
			 fs.resp_invalid, fs.out_of_range);
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 0, "groups");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- partial completion ------------------------------------------------- */

static uint64_t
pattern_rot(uint64_t pattern, uint64_t skip)
{
	unsigned int r = (unsigned int)(skip % 8) * 8;

	return r == 0 ? pattern : (pattern >> r) | (pattern << (64 - r));
}

/* The rest of @p op after @p c->bytes, as usva_dma_resubmit_fault()
 * enqueues it ("the remainder of op, from cpl->bytes on"): what the
 * application passes as the operation when the remainder faults too. */
static struct usva_dma_op
remainder_of(struct usva_dma_op op, const struct usva_dma_cpl *c)
{
	op.src += c->bytes;
	op.dst += c->bytes;
	op.len -= c->bytes;
	if (op.opcode == USVA_DMA_OP_FILL ||
	    op.opcode == USVA_DMA_OP_COMPARE_PATTERN)
		op.pattern = pattern_rot(op.pattern, c->bytes);
	else if (op.opcode == USVA_DMA_OP_CRC32C)
		op.pattern = (uint32_t)c->result;
	op.flags |= USVA_DMA_OP_F_FENCE;
	return op;
}

static bool
op_writes(uint8_t opcode)
{
	return opcode == USVA_DMA_OP_COPY || opcode == USVA_DMA_OP_MEMMOVE ||
	       opcode == USVA_DMA_OP_FILL;
}

/* A PAGE_FAULT of a forward operation @p op names the first byte not
 * done: a write at dst + bytes, a read at src + bytes (or dst + bytes, the
 * second source of COMPARE), page-granular. */
static int
fault_consistent(const struct usva_dma_op *op, const struct usva_dma_cpl *c)
{
	uint64_t fp = PG(c->fault_addr);
	bool w = c->flags & USVA_DMA_CPL_F_FAULT_WRITE;

	TEST_ASSERT(c->bytes < op->len, "bytes %" PRIu64 " of %" PRIu64,
		    c->bytes, op->len);
	if (w) {
		TEST_ASSERT(op_writes(op->opcode), "write fault of op %u",
			    op->opcode);
		TEST_ASSERT(fp == PG(op->dst + c->bytes), "write fault at 0x%"
			    PRIx64 ", dst 0x%" PRIx64 " + %" PRIu64,
			    c->fault_addr, op->dst, c->bytes);
	} else {
		TEST_ASSERT(fp == PG(op->src + c->bytes) ||
			    (op->opcode == USVA_DMA_OP_COMPARE &&
			     fp == PG(op->dst + c->bytes)),
			    "read fault at 0x%" PRIx64 ", src 0x%" PRIx64
			    " + %" PRIu64, c->fault_addr, op->src, c->bytes);
	}
	return TEST_SUCCESS;
}

/* Partial results of an operation run with fix-ups. */
struct partial_run {
	struct usva_dma_cpl last;	/* the final completion */
	unsigned int faults;		/* fix-ups made */
	uint64_t bytes;			/* sum of the bytes of every part */
};

/* Resubmit after @p c: *@p op becomes the remainder, *@p next gets its
 * completion. */
static int
resubmit_step_any(struct fx *f, struct usva_dma_op *op,
		  const struct usva_dma_cpl *c, struct usva_dma_cpl *next)
{
	const struct usva_dma_op before = *op;
	struct usva_dma_cpl two[2];
	int idx;

	idx = usva_dma_resubmit_fault(f->dma, 0, op, c);
	TEST_ASSERT(idx >= 0, "resubmit: %d", idx);
	if (!(before.opcode == USVA_DMA_OP_MEMMOVE && c->result == 1)) {
		struct usva_dma_op want = remainder_of(before, c);

		TEST_ASSERT(memcmp(op, &want, sizeof(want)) == 0,
			    "the op handed back is not the remainder");
	} else {
		TEST_ASSERT(op->src == before.src && op->dst == before.dst &&
			    op->len == before.len - c->bytes,
			    "backward memmove: only shortened");
	}
	TEST_ASSERT_OK(usva_dma_submit(f->dma, 0));
	TEST_ASSERT_EQ(reap(f, two, 2), 2, "prefetch and remainder");
	TEST_ASSERT(two[0].opcode == USVA_DMA_OP_PREFETCH &&
		    two[0].status == USVA_DMA_STATUS_SUCCESS, "prefetch: op %u "
		    "status %s", two[0].opcode, usva_dma_status_str(two[0].status));
	TEST_ASSERT_EQ(two[0].ring_idx, (uint16_t)(idx - 1), "prefetch index");
	TEST_ASSERT_EQ(two[1].ring_idx, idx, "remainder index");
	TEST_ASSERT_EQ(two[1].opcode, op->opcode, "remainder opcode");
	*next = two[1];
	return TEST_SUCCESS;
}

/* As resubmit_step_any(), for a forward operation: checks the report. */
static int
resubmit_step(struct fx *f, struct usva_dma_op *op,
	      const struct usva_dma_cpl *c, struct usva_dma_cpl *next)
{
	TEST_ASSERT(fault_consistent(op, c) == TEST_SUCCESS, "fault report");
	return resubmit_step_any(f, op, c, next);
}

/* Run @p op on a partial-mode channel, fixing up each fault. */
static int
run_partial(struct fx *f, struct usva_dma_op op, struct partial_run *pr)
{
	struct usva_dma_cpl c;

	memset(pr, 0, sizeof(*pr));
	TEST_ASSERT(run_one(f, op, &c) == TEST_SUCCESS, "run");
	while (c.status == USVA_DMA_STATUS_PAGE_FAULT) {
		struct usva_dma_cpl next;

		TEST_ASSERT(pr->faults < 64, "fault %u", pr->faults);
		TEST_ASSERT(resubmit_step(f, &op, &c, &next) == TEST_SUCCESS,
			    "fix-up %u", pr->faults);
		pr->bytes += c.bytes;
		c = next;
		pr->faults++;
	}
	pr->bytes += c.bytes;
	pr->last = c;
	return TEST_SUCCESS;
}

#define RUN_PARTIAL(f, op, pr)						\
	TEST_ASSERT_GOTO(run_partial(f, op, pr) == TEST_SUCCESS, out,	\
			 "partial run")

static int
partial_copy_fill(struct fx *f)
{
	const uint64_t len = 8 * SZ_4K + 500;
	uint8_t *src = apg(f, 0) + 100, *dst = apg(f, 64) + 3000;
	struct usva_dma_cpl c;
	struct partial_run pr;

	fill_rand(src, len);
	/* The first fault: nothing done, the source's first page. */
	TEST_ASSERT(run_one(f, op_copy(USVA_DMA_OP_COPY, src, dst, len), &c) ==
		    TEST_SUCCESS, "run");
	TEST_ASSERT_EQ(c.status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	TEST_ASSERT(fault_consistent(&(struct usva_dma_op){
			.opcode = USVA_DMA_OP_COPY, .src = U64(src),
			.dst = U64(dst), .len = len }, &c) == TEST_SUCCESS,
		    "first fault");
	TEST_ASSERT(run_partial(f, op_copy(USVA_DMA_OP_COPY, src, dst, len),
				&pr) == TEST_SUCCESS, "copy");
	TEST_ASSERT_EQ(pr.last.status, USVA_DMA_STATUS_SUCCESS, "copy status");
	TEST_ASSERT(pr.faults >= 2, "faults %u", pr.faults);
	TEST_ASSERT_EQ(pr.bytes, len, "bytes of all parts");
	TEST_ASSERT_EQ(diff_at(src, dst, len), len, "copied data");
	/* FILL: the pattern's phase survives every remainder. */
	dst = apg(f, 100) + 4091;
	TEST_ASSERT(run_partial(f, op_pat(USVA_DMA_OP_FILL, dst, 3 * SZ_4K + 13,
					  PAT), &pr) == TEST_SUCCESS, "fill");
	TEST_ASSERT_EQ(pr.last.status, USVA_DMA_STATUS_SUCCESS, "fill status");
	TEST_ASSERT(pr.faults >= 2, "faults %u", pr.faults);
	for (uint64_t k = 0; k < 3 * SZ_4K + 13; k++)
		TEST_ASSERT(dst[k] == pat_byte(PAT, k), "fill byte %" PRIu64, k);
	return TEST_SUCCESS;
}

static int
partial_crc_compare(struct fx *f)
{
	const uint64_t len = 3 * SZ_4K + 77;
	uint8_t *p = apg(f, 120) + 33, *q = apg(f, 130) + 1000;
	struct partial_run pr;
	struct usva_dma_cpl c;

	fill_rand(p, len);
	memcpy(q, p, len);
	q[2 * SZ_4K + 100] ^= 4;
	/* CRC: each remainder is seeded with the CRC so far. */
	TEST_ASSERT(run_partial(f, op_pat(USVA_DMA_OP_CRC32C, p, len, 0), &pr) ==
		    TEST_SUCCESS, "crc");
	TEST_ASSERT_EQ(pr.last.status, USVA_DMA_STATUS_SUCCESS, "crc status");
	TEST_ASSERT(pr.faults >= 1, "faults %u", pr.faults);
	TEST_ASSERT(run_one(f, op_pat(USVA_DMA_OP_CRC32C, p, len, 0), &c) ==
		    TEST_SUCCESS, "crc of mapped pages");
	TEST_ASSERT_EQ(c.status, USVA_DMA_STATUS_SUCCESS, "status");
	TEST_ASSERT(pr.last.result == c.result, "CRC in parts 0x%" PRIx64
		    ", in one go 0x%" PRIx64, pr.last.result, c.result);
	/* COMPARE: bytes of the parts add up to the difference. */
	TEST_ASSERT(run_partial(f, op_copy(USVA_DMA_OP_COMPARE, p, q, len),
				&pr) == TEST_SUCCESS, "compare");
	TEST_ASSERT_EQ(pr.last.status, USVA_DMA_STATUS_SUCCESS, "status");
	TEST_ASSERT_EQ(pr.last.result, 1, "compare result");
	TEST_ASSERT_EQ(pr.bytes, 2 * SZ_4K + 100, "bytes before the difference");
	return TEST_SUCCESS;
}

/*
 * A MEMMOVE whose destination overlaps above its source runs from the end:
 * a fault in its head leaves the head to do. One fault, fixed up with the
 * operation as first enqueued (the documented use).
 */
static int
partial_memmove_backward(struct fx *f)
{
	const uint64_t region = 4 * SZ_4K, len = 2 * SZ_4K + 300;
	uint8_t *base = apg(f, 140), *ref = malloc(region);
	struct usva_dma_op op = op_copy(USVA_DMA_OP_MEMMOVE, base + 100,
					base + 5100, len);
	struct usva_dma_cpl c, next;
	uint64_t d;

	TEST_ASSERT(ref != NULL, "malloc");
	fill_rand(base, region);
	memcpy(ref, base, region);
	memmove(ref + 5100, ref + 100, len);
	/* Everything but the source's head page is mapped. */
	if (prefault(f, base + SZ_4K, 3 * SZ_4K) != TEST_SUCCESS ||
	    run_one(f, op, &c) != TEST_SUCCESS) {
		free(ref);
		TEST_ASSERT(false, "run");
	}
	if (c.status == USVA_DMA_STATUS_PAGE_FAULT &&
	    resubmit_step_any(f, &op, &c, &next) != TEST_SUCCESS)
		c.status = UINT16_MAX;
	d = diff_at(base, ref, region);
	free(ref);
	TEST_ASSERT_EQ(c.status == USVA_DMA_STATUS_PAGE_FAULT ? next.status :
		       UINT16_MAX, USVA_DMA_STATUS_SUCCESS,
		       "backward memmove: first %s, remainder",
		       usva_dma_status_str(c.status));
	TEST_ASSERT(PG(c.fault_addr) == U64(base) && c.bytes > 0, "fault at 0x%"
		    PRIx64 " after %" PRIu64 " bytes", c.fault_addr, c.bytes);
	TEST_ASSERT_EQ(d, region, "memmove data differs at offset");
	return TEST_SUCCESS;
}

/* Partial completion: PAGE_FAULT with where, fixed up and resubmitted. */
USVA_TEST(fast, dma_fault_partial)
{
	struct fx_opts o = { .fault_mode = USVA_DMA_FAULT_PARTIAL };
	struct usva_dma_stats st;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	TEST_ASSERT_GOTO(partial_copy_fill(&f) == TEST_SUCCESS, out, "copy/fill");
	TEST_ASSERT_GOTO(partial_crc_compare(&f) == TEST_SUCCESS, out,
			 "crc/compare");
	st = dstats(&f);
	TEST_ASSERT_GOTO(st.page_faults >= 6 && st.page_faults == st.errors, out,
			 "page_faults %" PRIu64 " errors %" PRIu64,
			 st.page_faults, st.errors);
	/* Only the fix-ups' prefetches raise page requests, one page each. */
	TEST_ASSERT_GOTO(st.page_requests >= 6 &&
			 st.page_requests <= st.page_faults, out,
			 "page_requests %" PRIu64, st.page_requests);
	TEST_ASSERT_GOTO(partial_memmove_backward(&f) == TEST_SUCCESS, out,
			 "memmove");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(f.dma), 0, "parked");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* usva_dma_resubmit_fault() refusals. */
USVA_TEST(fast, dma_resubmit_errors)
{
	struct fx_opts o = { .fault_mode = USVA_DMA_FAULT_PARTIAL };
	struct usva_dma_op op, keep, nop = { .opcode = USVA_DMA_OP_NOP, .len = 8 };
	struct usva_dma_cpl c, bad, all[64];
	unsigned int n = 0;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	op = op_copy(USVA_DMA_OP_COPY, apg(&f, 0), apg(&f, 10), 2 * SZ_4K);
	keep = op;
	TEST_ASSERT_GOTO(run_one(&f, op, &c) == TEST_SUCCESS, out, "run");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	bad = c;
	bad.status = USVA_DMA_STATUS_SUCCESS;
	TEST_ASSERT_ERR_GOTO(usva_dma_resubmit_fault(f.dma, 0, &op, &bad), EINVAL);
	bad = c;
	bad.opcode = USVA_DMA_OP_FILL;
	TEST_ASSERT_ERR_GOTO(usva_dma_resubmit_fault(f.dma, 0, &op, &bad), EINVAL);
	bad = c;
	bad.bytes = op.len + 1;
	TEST_ASSERT_ERR_GOTO(usva_dma_resubmit_fault(f.dma, 0, &op, &bad), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_resubmit_fault(f.dma, 1, &op, &c), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_dma_resubmit_fault(-1, 0, &op, &c), EINVAL);
	/* Room for one entry only: nothing is enqueued. */
	while (usva_dma_burst_capacity(f.dma, 0) > 1) {
		TEST_ASSERT_OK_GOTO(usva_dma_enqueue(f.dma, 0, &nop));
		n++;
	}
	TEST_ASSERT_ERR_GOTO(usva_dma_resubmit_fault(f.dma, 0, &op, &c), ENOSPC);
	TEST_ASSERT_GOTO(memcmp(&op, &keep, sizeof(op)) == 0, out,
			 "a refused resubmit changed the op");
	TEST_ASSERT_EQ_GOTO(usva_dma_burst_capacity(f.dma, 0), 1, "capacity");
	TEST_ASSERT_OK_GOTO(usva_dma_submit(f.dma, 0));
	REAP(&f, all, n);
	for (unsigned int i = 0; i < n; i++)
		TEST_ASSERT_EQ_GOTO(all[i].opcode, USVA_DMA_OP_NOP, "op %u", i);
	/* Now it fits. */
	TEST_ASSERT_GOTO(resubmit_step(&f, &op, &c, &bad) == TEST_SUCCESS, out,
			 "resubmit");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- completion records ------------------------------------------------- */

static uint8_t
cr_status(const struct usva_dma_cr *cr)
{
	return __atomic_load_n(&cr->status, __ATOMIC_ACQUIRE);
}

/* Run @p op with a completion record at @p cr. */
static int
run_cr(struct fx *f, struct usva_dma_op op, struct usva_dma_cr *cr,
       struct usva_dma_cpl *c)
{
	op.flags |= USVA_DMA_OP_F_COMPLETION_RECORD;
	op.cr_addr = U64(cr);
	return run_one(f, op, c);
}

#define RUN_CR(f, op, cr, c)						\
	TEST_ASSERT_GOTO(run_cr(f, op, cr, c) == TEST_SUCCESS, out, "run")

/* The record matches the ring's completion. */
static int
cr_matches(const struct usva_dma_cr *cr, const struct usva_dma_cpl *c)
{
	TEST_ASSERT(cr_status(cr) == (USVA_DMA_CR_DONE | c->status),
		    "record status 0x%x, ring %s", cr->status,
		    usva_dma_status_str(c->status));
	TEST_ASSERT_EQ(cr->bytes, c->bytes, "record bytes");
	TEST_ASSERT_EQ(cr->result, c->result, "record result");
	TEST_ASSERT_EQ(cr->fault_addr, c->fault_addr, "record fault_addr");
	TEST_ASSERT_EQ(cr->flags & USVA_DMA_CPL_F_FAULT_WRITE,
		       c->flags & USVA_DMA_CPL_F_FAULT_WRITE, "record flags");
	TEST_ASSERT(!(c->flags & USVA_DMA_CPL_F_CR_LOST), "CR_LOST");
	return TEST_SUCCESS;
}

#define CR_MATCHES(cr, c)						\
	TEST_ASSERT_GOTO(cr_matches(cr, c) == TEST_SUCCESS, out, "record")

/* Block mode: records written, also where their page must fault in. */
USVA_TEST(fast, dma_cr_block)
{
	struct fx_opts o = { 0 };
	struct usva_dma_op bad = { .opcode = 99, .len = 8 };
	struct usva_dma_cr *cr;
	struct usva_dma_cpl c;
	uint8_t *a, *b;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	cr = (struct usva_dma_cr *)(void *)apg(&f, 200);	/* not mapped */
	a = apg(&f, 0) + 5;
	b = apg(&f, 4) + 11;
	fill_rand(a, 3 * SZ_4K);
	TEST_ASSERT_GOTO(!as_mapped(f.p[0].as, U64(cr)), out, "record mapped");
	RUN_CR(&f, op_copy(USVA_DMA_OP_COPY, a, b, 3 * SZ_4K), &cr[0], &c);
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_SUCCESS, "status");
	CR_MATCHES(&cr[0], &c);
	TEST_ASSERT_EQ_GOTO(cr[0].bytes, 3 * SZ_4K, "bytes");
	SAME(b, a, 3 * SZ_4K, "copy");
	b[1000] ^= 1;
	RUN_CR(&f, op_copy(USVA_DMA_OP_COMPARE, a, b, 3 * SZ_4K), &cr[1], &c);
	CR_MATCHES(&cr[1], &c);
	TEST_ASSERT_GOTO(cr[1].result == 1 && cr[1].bytes == 1000, out,
			 "compare record");
	RUN_CR(&f, op_pat(USVA_DMA_OP_CRC32C, a, 3 * SZ_4K, 0), &cr[2], &c);
	CR_MATCHES(&cr[2], &c);
	TEST_ASSERT_GOTO(cr[2].result != 0, out, "crc record");
	/* An operation that fails still gets its record. */
	RUN_CR(&f, bad, &cr[3], &c);
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_INVALID_OPCODE, "status");
	CR_MATCHES(&cr[3], &c);
	/* A record on a page outside the pager's range cannot be written. */
	RUN_CR(&f, op_copy(USVA_DMA_OP_COPY, a, b, 64),
	       (struct usva_dma_cr *)(uintptr_t)ANON_BASE, &c);
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_SUCCESS, "status");
	TEST_ASSERT_GOTO(c.flags & USVA_DMA_CPL_F_CR_LOST, out,
			 "record lost but not said (flags 0x%x)", c.flags);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* Partial mode: a record whose page faults is lost (the ring says so); a
 * faulting operation's record says where. */
USVA_TEST(fast, dma_cr_partial)
{
	struct fx_opts o = { .fault_mode = USVA_DMA_FAULT_PARTIAL };
	struct usva_dma_cr *cr;
	struct usva_dma_cpl c;
	uint8_t *a, *b;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	cr = (struct usva_dma_cr *)(void *)apg(&f, 200);
	a = apg(&f, 0);
	b = apg(&f, 4);
	fill_rand(a, 2 * SZ_4K);
	PREFAULT(&f, a, 4 * SZ_4K + 2 * SZ_4K);
	RUN_CR(&f, op_copy(USVA_DMA_OP_COPY, a, b, 2 * SZ_4K), &cr[0], &c);
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_SUCCESS, "status");
	TEST_ASSERT_GOTO(c.flags & USVA_DMA_CPL_F_CR_LOST, out,
			 "record page not mapped, CR_LOST not set (0x%x)",
			 c.flags);
	TEST_ASSERT_EQ_GOTO(cr_status(&cr[0]), 0, "record written");
	SAME(b, a, 2 * SZ_4K, "copy");
	TEST_ASSERT_GOTO(!as_mapped(f.p[0].as, U64(cr)), out,
			 "partial mode faulted the record's page in");
	PREFAULT(&f, cr, SZ_4K);
	RUN_CR(&f, op_pat(USVA_DMA_OP_FILL, b, 100, PAT), &cr[1], &c);
	CR_MATCHES(&cr[1], &c);
	TEST_ASSERT_EQ_GOTO(cr[1].bytes, 100, "bytes");
	/* A fault: the record has the fault address and the write bit. */
	RUN_CR(&f, op_copy(USVA_DMA_OP_COPY, a, apg(&f, 50) + 4000, 200),
	       &cr[2], &c);
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	TEST_ASSERT_GOTO(c.flags & USVA_DMA_CPL_F_FAULT_WRITE, out, "write");
	TEST_ASSERT_EQ_GOTO(c.fault_addr, U64(apg(&f, 50) + 4000), "address");
	CR_MATCHES(&cr[2], &c);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- ring ---------------------------------------------------------------- */

/* Reap @p want successes with usva_dma_completed(); *@p last gets the last
 * index. @return reaped, stopping at an error. */
static unsigned int
reap_ok(struct fx *f, unsigned int want, uint16_t *last)
{
	unsigned int got = 0;
	bool err = false;

	for (unsigned int r = 0; r < MAX_ROUNDS && got < want && !err; r++) {
		got += usva_dma_completed(f->dma, 0,
					  (uint16_t)RTE_MIN(want - got, 1024u),
					  last, &err);
		if (got < want)
			fx_step(f);
	}
	return got;
}

/* Exactly nb_desc entries; nothing runs before the doorbell. */
USVA_TEST(fast, dma_ring_full)
{
	struct fx_opts o = { .nb_desc = 64 };
	uint8_t *src, *dst;
	uint16_t last = 0;
	bool err = false;
	int idx, first = -1;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	src = apg(&f, 0);
	dst = apg(&f, 8);
	fill_rand(src, 64 * 64);
	PREFAULT(&f, src, 16 * SZ_4K);
	TEST_ASSERT_EQ_GOTO(usva_dma_burst_capacity(f.dma, 0), 64, "capacity");
	for (unsigned int i = 0; i < 64; i++) {
		struct usva_dma_op op = op_copy(USVA_DMA_OP_COPY, src + 64 * i,
						dst + 64 * i, 64);

		idx = usva_dma_enqueue(f.dma, 0, &op);
		TEST_ASSERT_GOTO(idx >= 0, out, "enqueue %u: %d", i, idx);
		if (first < 0)
			first = idx;
		TEST_ASSERT_EQ_GOTO(idx, (uint16_t)(first + i), "ring index");
		TEST_ASSERT_EQ_GOTO(usva_dma_burst_capacity(f.dma, 0), 63 - i,
				    "capacity");
	}
	TEST_ASSERT_ERR_GOTO(usva_dma_copy(f.dma, 0, U64(src), U64(dst), 8, 0),
			     ENOSPC);
	engine_rounds(&f, 50);
	TEST_ASSERT_EQ_GOTO(usva_dma_completed(f.dma, 0, 64, &last, &err), 0,
			    "completed before the doorbell");
	TEST_ASSERT_GOTO(dst[0] == 0, out, "ran before the doorbell");
	TEST_ASSERT_OK_GOTO(usva_dma_submit(f.dma, 0));
	TEST_ASSERT_EQ_GOTO(reap_ok(&f, 64, &last), 64, "reaped");
	TEST_ASSERT_EQ_GOTO(last, (uint16_t)(first + 63), "last index");
	SAME(dst, src, 64 * 64, "copies");
	TEST_ASSERT_EQ_GOTO(usva_dma_burst_capacity(f.dma, 0), 64, "capacity");
	/* And again. */
	for (unsigned int i = 0; i < 64; i++)
		TEST_ASSERT_GOTO(usva_dma_copy(f.dma, 0, U64(src), U64(dst) + 8192,
					       64, 0) >= 0, out, "enqueue %u", i);
	TEST_ASSERT_EQ_GOTO(usva_dma_burst_capacity(f.dma, 0), 0, "capacity");
	TEST_ASSERT_OK_GOTO(usva_dma_submit(f.dma, 0));
	TEST_ASSERT_EQ_GOTO(reap_ok(&f, 64, &last), 64, "reaped");
	TEST_ASSERT_EQ_GOTO(last, (uint16_t)(first + 127), "last index");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* Ring indexes wrap past 65535; small copies among NOPs stay right. */
USVA_TEST(fast, dma_ring_wrap)
{
	const unsigned int total = 70000, burst = 64;
	struct fx_opts o = { .nb_desc = 64 };
	struct usva_dma_op nop = { .opcode = USVA_DMA_OP_NOP, .len = 8 };
	unsigned int done = 0, copies = 0;
	uint16_t next, last = 0;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	fill_rand(apg(&f, 0), 2 * SZ_4K);
	PREFAULT(&f, apg(&f, 0), 8 * SZ_4K);
	next = (uint16_t)(usva_dma_enqueue(f.dma, 0, &nop));
	TEST_ASSERT_OK_GOTO(usva_dma_submit(f.dma, 0));
	TEST_ASSERT_EQ_GOTO(reap_ok(&f, 1, &last), 1, "first");
	next++;
	while (done < total) {
		for (unsigned int i = 0; i < burst; i++) {
			uint64_t k = (done + i) % 4096;
			struct usva_dma_op op = (done + i) % 1000 == 7 ?
				op_copy(USVA_DMA_OP_COPY, apg(&f, 0) + k,
					apg(&f, 4) + k, 1) : nop;
			int idx = usva_dma_enqueue(f.dma, 0, &op);

			TEST_ASSERT_EQ_GOTO(idx, next, "ring index at op %u",
					    done + i);
			next++;
			copies += op.opcode == USVA_DMA_OP_COPY;
		}
		TEST_ASSERT_OK_GOTO(usva_dma_submit(f.dma, 0));
		TEST_ASSERT_EQ_GOTO(reap_ok(&f, burst, &last), burst, "reaped");
		TEST_ASSERT_EQ_GOTO(last, (uint16_t)(next - 1), "last index");
		done += burst;
	}
	TEST_ASSERT_GOTO(copies >= 60, out, "copies %u", copies);
	for (unsigned int i = 7; i < total; i += 1000)
		TEST_ASSERT_GOTO(apg(&f, 4)[i % 4096] == apg(&f, 0)[i % 4096], out,
				 "copy at op %u", i);
	TEST_ASSERT_GOTO(dstats(&f).completed >= total, out, "completed");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- descriptor errors ----------------------------------------------------- */

struct bad_op {
	struct usva_dma_op op;
	uint16_t status;
};

static unsigned int
bad_ops(struct fx *f, uint32_t unattached, struct bad_op *b)
{
	uint8_t *a = apg(f, 0);
	unsigned int n = 0;

#define BAD_OP(o_, st_) do { b[n].op = o_; b[n].status = st_; n++; } while (0)
	BAD_OP(op_copy(99, a, a + SZ_4K, 8), USVA_DMA_STATUS_INVALID_OPCODE);
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + SZ_4K, 0),
	       USVA_DMA_STATUS_INVALID_LENGTH);
	BAD_OP(op_pat(USVA_DMA_OP_FILL, a, 0, 0), USVA_DMA_STATUS_INVALID_LENGTH);
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + SZ_4K, f->max_len + 1),
	       USVA_DMA_STATUS_INVALID_LENGTH);
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + 10, 100),
	       USVA_DMA_STATUS_INVALID_OVERLAP);
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a + 10, a, 100),
	       USVA_DMA_STATUS_INVALID_OVERLAP);
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + SZ_4K, 8),
	       USVA_DMA_STATUS_INVALID_FLAGS);
	b[n - 1].op.flags = 1u << 12;
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + SZ_4K, 8),
	       USVA_DMA_STATUS_INVALID_FLAGS);
	b[n - 1].op.flags = USVA_DMA_OP_F_COMPLETION_RECORD;
	b[n - 1].op.cr_addr = U64(a + 2 * SZ_4K + 8);
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + SZ_4K, 8),
	       USVA_DMA_STATUS_PASID_INVALID);
	b[n - 1].op.flags = USVA_DMA_OP_F_PASID;
	b[n - 1].op.pasid = unattached;
	BAD_OP(op_copy(USVA_DMA_OP_COPY, a, a + SZ_4K, 8),
	       USVA_DMA_STATUS_PASID_INVALID);
	b[n - 1].op.flags = USVA_DMA_OP_F_PASID;
	b[n - 1].op.pasid = UINT32_C(1) << 20;
#undef BAD_OP
	return n;
}

/* Each bad descriptor ends with its status; the good ones around run. */
USVA_TEST(fast, dma_desc_errors)
{
	struct fx_opts o = { .max_len = 64 * SZ_4K };
	struct usva_dma_cpl c[16];
	struct bad_op b[16];
	uint32_t unattached = 0;
	uint16_t last;
	bool err = false;
	unsigned int n;
	uint8_t *a;
	struct fx f;
	int ret = TEST_FAILED, first;

	FX_OPEN(&f, &o);
	a = apg(&f, 0);
	fill_rand(a, 64);
	PREFAULT(&f, a, 4 * SZ_4K);
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f.owner, &unattached));
	n = bad_ops(&f, unattached, b);
	first = enq(&f, op_copy(USVA_DMA_OP_COPY, a, a + 3 * SZ_4K, 64));
	TEST_ASSERT_GOTO(first >= 0, out, "enqueue");
	for (unsigned int i = 0; i < n; i++)
		TEST_ASSERT_GOTO(usva_dma_enqueue(f.dma, 0, &b[i].op) >= 0, out,
				 "enqueue bad op %u", i);
	TEST_ASSERT_GOTO(enq(&f, op_copy(USVA_DMA_OP_COPY, a, a + 3 * SZ_4K + 64,
					 64)) >= 0, out, "enqueue");
	/* completed() stops before the first error and says so. */
	for (unsigned int r = 0; r < MAX_ROUNDS && !err; r++) {
		TEST_ASSERT_GOTO(usva_dma_completed(f.dma, 0, 16, &last, &err) <= 1,
				 out, "reaped past an error");
		fx_step(&f);
	}
	TEST_ASSERT_GOTO(err && last == first, out, "has_error %d last %u", err,
			 last);
	REAP(&f, c, n + 1);
	for (unsigned int i = 0; i < n; i++)
		TEST_ASSERT_GOTO(c[i].status == b[i].status &&
				 c[i].ring_idx == (uint16_t)(first + 1 + i), out,
				 "bad op %u: %s, expected %s", i,
				 usva_dma_status_str(c[i].status),
				 usva_dma_status_str(b[i].status));
	TEST_ASSERT_EQ_GOTO(c[n].status, USVA_DMA_STATUS_SUCCESS, "last op");
	SAME(a + 3 * SZ_4K, a, 64, "first copy");
	SAME(a + 3 * SZ_4K + 64, a, 64, "last copy");
	TEST_ASSERT_GOTO(cr_status((void *)(a + 2 * SZ_4K + 8)) == 0, out,
			 "misaligned record written");
	TEST_ASSERT_EQ_GOTO(dstats(&f).errors, n, "errors");
	ret = TEST_SUCCESS;
out:
	if (unattached != 0)
		usva_pasid_free(f.owner, unattached);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- fences ------------------------------------------------------------------ */

/* Engine rounds until [dst, + len) equals [src, + len); false after @p n. */
static bool
wait_copied(struct fx *f, const uint8_t *src, const uint8_t *dst,
	    uint64_t len, unsigned int n)
{
	for (unsigned int r = 0; r < n; r++) {
		if (memcmp(src, dst, len) == 0)
			return true;
		usva_emu_dma_poll(f->dma);
	}
	return memcmp(src, dst, len) == 0;
}

/*
 * A parked operation: a later one runs past it (another engine), a fenced
 * one waits; completions come in ring order.
 */
USVA_TEST(fast, dma_fence)
{
	struct fx_opts o = { .max_inflight = 4 };
	struct usva_dma_cpl c[3];
	uint8_t *a_src, *a_dst, *b_src, *b_dst, *c_dst;
	uint16_t last;
	int ia, ib, ic;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	a_src = apg(&f, 100);		/* not mapped */
	a_dst = apg(&f, 110);
	b_src = apg(&f, 0);
	b_dst = apg(&f, 2);
	c_dst = apg(&f, 4);
	fill_rand(a_src, SZ_4K);
	fill_rand(b_src, 2 * SZ_4K);
	PREFAULT(&f, b_src, 6 * SZ_4K);
	ia = enq(&f, op_copy(USVA_DMA_OP_COPY, a_src, a_dst, SZ_4K));
	engine_rounds(&f, 8);
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(f.dma), 1, "A parked");
	ib = enq(&f, op_copy(USVA_DMA_OP_COPY, b_src, b_dst, 2 * SZ_4K));
	TEST_ASSERT_GOTO(wait_copied(&f, b_src, b_dst, 2 * SZ_4K, 100), out,
			 "B did not run while A was parked");
	TEST_ASSERT_EQ_GOTO(usva_dma_completed_status(f.dma, 0, 3, &last, c), 0,
			    "B completed before A (ring order)");
	ic = enq(&f, (struct usva_dma_op){
		.opcode = USVA_DMA_OP_COPY, .flags = USVA_DMA_OP_F_FENCE,
		.src = U64(b_src), .dst = U64(c_dst), .len = 2 * SZ_4K });
	engine_rounds(&f, 100);
	TEST_ASSERT_GOTO(c_dst[0] == 0 && memcmp(c_dst, c_dst + 1, 2 * SZ_4K - 1)
			 == 0, out, "fenced C ran while A was parked");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(f.dma), 1, "A parked");
	/* Serve the fault: A, then B, then C. */
	REAP(&f, c, 3);
	TEST_ASSERT_GOTO(c[0].ring_idx == ia && c[1].ring_idx == ib &&
			 c[2].ring_idx == ic, out, "order %u %u %u",
			 c[0].ring_idx, c[1].ring_idx, c[2].ring_idx);
	for (unsigned int i = 0; i < 3; i++)
		TEST_ASSERT_EQ_GOTO(c[i].status, USVA_DMA_STATUS_SUCCESS, "op %u", i);
	SAME(a_dst, a_src, SZ_4K, "A");
	SAME(c_dst, b_src, 2 * SZ_4K, "C");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- PASID teardown with work in flight -------------------------------------- */

/* Park two operations on faults (page requests raised, not served). */
static int
park_two(struct fx *f, int *idx)
{
	idx[0] = enq(f, op_copy(USVA_DMA_OP_COPY, apg(f, 0), apg(f, 100),
				SZ_4K));
	idx[1] = enq(f, op_copy(USVA_DMA_OP_COPY, apg(f, 10), apg(f, 110),
				SZ_4K));
	TEST_ASSERT(idx[0] >= 0 && idx[1] >= 0, "enqueue");
	engine_rounds(f, 16);
	TEST_ASSERT_EQ(usva_emu_dma_parked(f->dma), 2, "parked");
	TEST_ASSERT(usva_emu_outstanding_groups(f->iommu) >= 1,
		    "no outstanding page request");
	return TEST_SUCCESS;
}

/* Detach the PASID under parked and queued operations: each ends once,
 * with an error. */
USVA_TEST(fast, dma_pasid_detach)
{
	struct fx_opts o = { .max_inflight = 2 };
	struct usva_dma_cpl c[4];
	int idx[4];
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	fill_rand(apg(&f, 50), SZ_4K);
	PREFAULT(&f, apg(&f, 50), 2 * SZ_4K);
	TEST_ASSERT_GOTO(park_two(&f, idx) == TEST_SUCCESS, out, "park");
	/* Queued behind them, on mapped pages. */
	idx[2] = enq(&f, op_copy(USVA_DMA_OP_COPY, apg(&f, 50), apg(&f, 51), 64));
	TEST_ASSERT_OK_GOTO(usva_iommu_detach(f.dev, f.p[0].pasid));
	f.p[0].attached = false;
	idx[3] = enq(&f, op_copy(USVA_DMA_OP_COPY, apg(&f, 50), apg(&f, 51), 64));
	REAP(&f, c, 4);
	for (unsigned int i = 0; i < 4; i++) {
		TEST_ASSERT_EQ_GOTO(c[i].ring_idx, idx[i], "order");
		TEST_ASSERT_GOTO(c[i].status == USVA_DMA_STATUS_PAGE_FAULT ||
				 c[i].status == USVA_DMA_STATUS_PASID_INVALID,
				 out, "op %u after detach: %s", i,
				 usva_dma_status_str(c[i].status));
	}
	TEST_ASSERT_EQ_GOTO(c[3].status, USVA_DMA_STATUS_PASID_INVALID,
			    "op enqueued after detach");
	TEST_ASSERT_GOTO(apg(&f, 51)[0] == 0, out, "DMA after detach");
	TEST_ASSERT_GOTO(quiet(&f), out, "a completion too many");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(f.dma), 0, "parked");
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 0, "groups");
	TEST_ASSERT_EQ_GOTO(dstats(&f).errors, 4, "errors");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* Unregister the handler under parked operations: INVALID -> PAGE_FAULT;
 * registered again, the PASID works. */
USVA_TEST(fast, dma_handler_unregister)
{
	struct fx_opts o = { .max_inflight = 2 };
	struct usva_dma_cpl c[2];
	int idx[2];
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	fill_rand(apg(&f, 0), SZ_4K);
	TEST_ASSERT_GOTO(park_two(&f, idx) == TEST_SUCCESS, out, "park");
	usva_fault_unregister(f.p[0].h);
	f.p[0].h = NULL;
	REAP(&f, c, 2);
	for (unsigned int i = 0; i < 2; i++) {
		TEST_ASSERT_EQ_GOTO(c[i].ring_idx, idx[i], "order");
		TEST_ASSERT_EQ_GOTO(c[i].status, USVA_DMA_STATUS_PAGE_FAULT,
				    "op %u", i);
	}
	TEST_ASSERT_GOTO(quiet(&f), out, "a completion too many");
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 0, "groups");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_parked(f.dma), 0, "parked");
	FX_OK(fx_register(&f, &f.p[0]));
	RUN_OK(&f, op_copy(USVA_DMA_OP_COPY, apg(&f, 0), apg(&f, 100), SZ_4K),
	       SZ_4K);
	SAME(apg(&f, 100), apg(&f, 0), SZ_4K, "copy after re-registering");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- many PASIDs ------------------------------------------------------------- */

/* Eight PASIDs, each its own address space and handler (one mirror pager
 * serves them all); operations name their PASID. */
USVA_TEST(fast, dma_many_pasids)
{
	enum { NP = 8, PER = 4, SLICE = 32 };	/* pages per PASID */
	struct fx_opts o = { .npas = NP, .max_inflight = 4 };
	struct usva_dma_cpl c[NP * PER];
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	fill_rand(f.arena, f.arena_len);
	for (unsigned int k = 0; k < PER; k++)
		for (unsigned int i = 0; i < NP; i++) {
			uint8_t *s = apg(&f, i * SLICE + k * 2) + i;
			struct usva_dma_op op = op_copy(USVA_DMA_OP_COPY, s,
				apg(&f, i * SLICE + 16 + k * 3) + 7,
				3000 + i * 100 + k);

			/* PASID 0 of the fixture is the channel's default. */
			if (i != 0 || k % 2) {
				op.flags = USVA_DMA_OP_F_PASID;
				op.pasid = f.p[i].pasid;
			}
			TEST_ASSERT_GOTO(enq(&f, op) >= 0, out, "enqueue");
		}
	REAP(&f, c, NP * PER);
	for (unsigned int n = 0; n < NP * PER; n++) {
		unsigned int k = n / NP, i = n % NP;

		TEST_ASSERT_EQ_GOTO(c[n].status, USVA_DMA_STATUS_SUCCESS,
				    "pasid %u op %u", i, k);
		SAME(apg(&f, i * SLICE + 16 + k * 3) + 7,
		     apg(&f, i * SLICE + k * 2) + i, 3000 + i * 100 + k, "copy");
	}
	/* Each address space holds its own slice only. */
	for (unsigned int i = 0; i < NP; i++)
		for (unsigned int j = 0; j < NP; j++) {
			unsigned int m = as_count(f.p[i].as,
						  U64(apg(&f, j * SLICE)),
						  SLICE * SZ_4K);

			TEST_ASSERT_GOTO(i == j ? m > 0 : m == 0, out,
					 "AS of PASID %u maps %u pages of "
					 "slice %u", i, m, j);
		}
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- stop ------------------------------------------------------------------------ */

/* Stop with one operation running (its response queued) and three
 * queued behind it: it finishes, they end NOT_ATTEMPTED, reaped after. */
static int
stop_running_and_queued(struct fx *f)
{
	struct usva_dma_cpl c[4];
	uint16_t last;
	int idx[4];

	fill_rand(apg(f, 0), SZ_4K);
	/* One fault only (the source): the destination is mapped. */
	TEST_ASSERT(prefault(f, apg(f, 1), SZ_4K) == TEST_SUCCESS, "prefault");
	idx[0] = enq(f, op_copy(USVA_DMA_OP_COPY, apg(f, 0), apg(f, 1), SZ_4K));
	engine_rounds(f, 8);
	TEST_ASSERT_EQ(usva_emu_dma_parked(f->dma), 1, "parked");
	for (unsigned int i = 1; i < 4; i++)
		idx[i] = enq(f, op_copy(USVA_DMA_OP_COPY, apg(f, 0),
					apg(f, 10 + i), 64));
	/* The service answers; the engine has not taken the response. */
	for (unsigned int r = 0; r < 4; r++)
		usva_fault_service_poll(f->svc, 0);
	TEST_ASSERT_OK(usva_dma_stop(f->dma));
	f->started = false;
	TEST_ASSERT(usva_dma_copy(f->dma, 0, U64(apg(f, 0)), U64(apg(f, 20)),
				  8, 0) < 0, "enqueue on a stopped device");
	TEST_ASSERT_EQ(usva_dma_completed_status(f->dma, 0, 4, &last, c), 4,
		       "completions reaped after stop");
	TEST_ASSERT(c[0].ring_idx == idx[0] &&
		    c[0].status == USVA_DMA_STATUS_SUCCESS, "running op: %s",
		    usva_dma_status_str(c[0].status));
	TEST_ASSERT_EQ(diff_at(apg(f, 1), apg(f, 0), SZ_4K), SZ_4K,
		       "running op's data");
	for (unsigned int i = 1; i < 4; i++) {
		TEST_ASSERT_EQ(c[i].ring_idx, idx[i], "order");
		TEST_ASSERT_EQ(c[i].status, USVA_DMA_STATUS_NOT_ATTEMPTED,
			       "queued op %u", i);
		TEST_ASSERT(apg(f, 10 + i)[0] == 0, "queued op ran");
	}
	TEST_ASSERT_EQ(usva_dma_completed_status(f->dma, 0, 4, &last, c), 0,
		       "a completion too many");
	TEST_ASSERT_EQ(usva_emu_dma_parked(f->dma), 0, "parked");
	return TEST_SUCCESS;
}

/* Restart; stop with an operation parked that no response will come for:
 * it ends PAGE_FAULT after the engine's wait. */
static int
stop_parked_unanswered(struct fx *f)
{
	struct usva_dma_cpl c[2];
	uint64_t t0;
	uint16_t last;
	int idx;

	TEST_ASSERT_OK(usva_dma_start(f->dma));
	f->started = true;
	idx = enq(f, op_copy(USVA_DMA_OP_COPY, apg(f, 30), apg(f, 31), 8));
	engine_rounds(f, 8);
	TEST_ASSERT_EQ(usva_emu_dma_parked(f->dma), 1, "parked");
	t0 = app_now_ns();
	TEST_ASSERT_OK(usva_dma_stop(f->dma));
	f->started = false;
	t0 = app_now_ns() - t0;
	TEST_ASSERT(t0 < UINT64_C(5000000000), "stop took %" PRIu64 " ms",
		    t0 / 1000000);
	TEST_ASSERT_EQ(usva_dma_completed_status(f->dma, 0, 2, &last, c), 1,
		       "completions after stop");
	TEST_ASSERT_EQ(c[0].ring_idx, idx, "index");
	TEST_ASSERT_EQ(c[0].status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	TEST_ASSERT_EQ(usva_dma_close(f->dma), 0, "close");
	f->dma_made = false;
	/* The late request is answered; nobody takes it. */
	for (unsigned int r = 0; r < 8; r++)
		usva_fault_service_poll(f->svc, 0);
	return TEST_SUCCESS;
}

/*
 * Stop: the operation running finishes (its response is due), the queued
 * ones end NOT_ATTEMPTED and can still be reaped; after a restart, a
 * parked operation no response will come for ends PAGE_FAULT.
 */
USVA_TEST(fast, dma_stop_queued)
{
	struct fx_opts o = { .max_inflight = 1 };
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	TEST_ASSERT_GOTO(stop_running_and_queued(&f) == TEST_SUCCESS, out,
			 "stop with queued work");
	TEST_ASSERT_GOTO(stop_parked_unanswered(&f) == TEST_SUCCESS, out,
			 "stop with a parked op");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ---- retries ---------------------------------------------------------------------- */

static unsigned int lying_calls;

/* Says the page is mapped without mapping it. */
static int
lying_pager(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
	    struct usva_fault_token tok)
{
	RTE_SET_USED(arg);
	RTE_SET_USED(as);
	RTE_SET_USED(addr);
	RTE_SET_USED(perm);
	RTE_SET_USED(tok);
	lying_calls++;
	return USVA_PAGER_DONE;
}

/* SUCCESS responses that resolve nothing: PAGE_FAULT after fault_retries. */
USVA_TEST(fast, dma_fault_retries)
{
	struct fx_opts o = { .pager = PG_NONE, .fault_retries = 3 };
	struct usva_dma_stats st;
	struct usva_dma_cpl c;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	lying_calls = 0;
	TEST_ASSERT_OK_GOTO(usva_pager_callback_create(lying_pager, NULL,
						       &f.pager));
	FX_OK(fx_register(&f, &f.p[0]));
	TEST_ASSERT_GOTO(run_one(&f, op_copy(USVA_DMA_OP_COPY, apg(&f, 0),
					     apg(&f, 1), 100), &c) ==
			 TEST_SUCCESS, out, "run");
	TEST_ASSERT_EQ_GOTO(c.status, USVA_DMA_STATUS_PAGE_FAULT, "status");
	TEST_ASSERT_EQ_GOTO(PG(c.fault_addr), U64(apg(&f, 0)), "fault address");
	st = dstats(&f);
	TEST_ASSERT_EQ_GOTO(st.fault_retries, 3, "retries");
	TEST_ASSERT_GOTO(st.page_requests >= 3 && st.page_requests <= 4, out,
			 "page requests %" PRIu64, st.page_requests);
	TEST_ASSERT_EQ_GOTO(lying_calls, st.page_requests, "pager calls");
	TEST_ASSERT_EQ_GOTO(st.page_faults, 1, "page_faults");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== stress ========================================================================= */

struct stress_op {
	uint64_t soff;
	uint32_t len;
};

/* Enqueue copy @p i of @p t (destination slot i) if there is room. */
static bool
stress_enqueue(struct fx *f, const struct stress_op *t, unsigned int i,
	       uint64_t half)
{
	struct usva_dma_op op = op_copy(USVA_DMA_OP_COPY, f->arena + t[i].soff,
					f->arena + half + (uint64_t)i * 2048,
					t[i].len);

	if (usva_dma_burst_capacity(f->dma, 0) == 0)
		return false;
	op.flags = USVA_DMA_OP_F_SUBMIT;
	return usva_dma_enqueue(f->dma, 0, &op) >= 0;
}

/* Run @p n copies with the engine launched; the test thread enqueues,
 * serves faults and reaps. @return copies completed SUCCESS. */
static unsigned int
stress_run(struct fx *f, const struct stress_op *t, unsigned int n,
	   uint64_t half, uint64_t deadline)
{
	struct usva_dma_cpl c[64];
	unsigned int sent = 0, reaped = 0, ok = 0;
	uint16_t last;

	while (reaped < n && app_now_ns() < deadline) {
		while (sent < n && stress_enqueue(f, t, sent, half))
			sent++;
		usva_fault_service_poll(f->svc, 0);
		uint16_t k = usva_dma_completed_status(f->dma, 0, 64, &last, c);

		for (uint16_t i = 0; i < k; i++)
			ok += c[i].status == USVA_DMA_STATUS_SUCCESS;
		reaped += k;
	}
	return ok;
}

/* The engine's service component on the worker lcore as a service lcore. */
static int
service_begin(struct fx *f)
{
	int32_t sid = usva_emu_dma_service_id(f->dma);
	unsigned int lc = worker_lcore();
	int rc;

	f->svc_lcore = lc;
	TEST_ASSERT(sid >= 0, "service id %d", sid);
	rc = rte_service_lcore_add(lc);
	TEST_ASSERT(rc == 0 || rc == -EALREADY, "service lcore: %d", rc);
	f->on_service = true;
	TEST_ASSERT_OK(rte_service_map_lcore_set((uint32_t)sid, lc, 1));
	TEST_ASSERT_OK(rte_service_runstate_set((uint32_t)sid, 1));
	TEST_ASSERT_OK(rte_service_lcore_start(lc));
	return TEST_SUCCESS;
}

/* Undo service_begin(): the worker lcore is an ordinary one again. */
static int
service_end(struct fx *f)
{
	int32_t sid = usva_emu_dma_service_id(f->dma);
	unsigned int lc = f->svc_lcore;
	uint64_t end = app_now_ns() + UINT64_C(1000000000);
	int bad = 0;

	f->on_service = false;
	if (sid < 0)
		return -EINVAL;
	rte_service_runstate_set((uint32_t)sid, 0);
	while (rte_service_may_be_active((uint32_t)sid) == 1 &&
	       app_now_ns() < end)
		rte_pause();
	bad |= (rte_service_lcore_stop(lc) != 0) << 0;
	bad |= (rte_service_map_lcore_set((uint32_t)sid, lc, 0) != 0) << 1;
	bad |= (rte_eal_wait_lcore(lc) < 0) << 2;
	bad |= (rte_service_lcore_del(lc) != 0) << 3;
	if (bad)
		printf("    service lcore teardown: 0x%x\n", bad);
	return bad ? -EIO : 0;
}

/* Thousands of copies through faults, the engine on the worker lcore
 * (launched, or as a service); the test thread serves the faults. */
static int
stress_copies(bool as_service)
{
	enum { N = 16384 };
	const uint64_t half = 32 * 1024 * 1024;
	struct fx_opts o = { .arena_len = 2 * half, .nb_desc = 256,
			     .max_inflight = 8, .service = as_service };
	struct stress_op *t = malloc(N * sizeof(*t));
	struct usva_dma_stats st;
	uint64_t t0;
	unsigned int ok;
	struct fx f;
	int ret = TEST_FAILED;

	FX_OPEN(&f, &o);
	TEST_ASSERT_GOTO(t != NULL, out, "malloc");
	fill_rand(f.arena, half);
	for (unsigned int i = 0; i < N; i++) {
		t[i].len = 1 + (uint32_t)(usva_test_rand() % 2048);
		t[i].soff = usva_test_rand() % (half - t[i].len);
	}
	if (as_service) {
		TEST_ASSERT_GOTO(service_begin(&f) == TEST_SUCCESS, out,
				 "service");
	} else {
		TEST_ASSERT_OK_GOTO(usva_emu_dma_launch(f.dma, worker_lcore()));
		f.launched = true;
		TEST_ASSERT_ERR_GOTO(usva_emu_dma_poll(f.dma), EBUSY);
		TEST_ASSERT_ERR_GOTO(usva_emu_dma_launch(f.dma, worker_lcore()),
				     EBUSY);
	}
	t0 = app_now_ns();
	ok = stress_run(&f, t, N, half, t0 + UINT64_C(10000000000));
	t0 = app_now_ns() - t0;
	if (as_service)
		TEST_ASSERT_OK_GOTO(service_end(&f));
	else
		TEST_ASSERT_OK_GOTO(usva_emu_dma_halt(f.dma));
	f.launched = false;
	TEST_ASSERT_EQ_GOTO(ok, N, "copies ended SUCCESS");
	for (unsigned int i = 0; i < N; i++)
		SAME(f.arena + half + (uint64_t)i * 2048, f.arena + t[i].soff,
		     t[i].len, "copy");
	st = dstats(&f);
	printf("    %u copies in %.1f ms: %" PRIu64 " page requests, %" PRIu64
	       " retries\n", N, t0 / 1e6, st.page_requests, st.fault_retries);
	TEST_ASSERT_GOTO(st.page_requests >= 8192, out, "page requests");
	TEST_ASSERT_EQ_GOTO(st.errors, 0, "errors");
	TEST_ASSERT_EQ_GOTO(st.completed, N, "completed");
	ret = TEST_SUCCESS;
out:
	free(t);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(stress, dma_stress_engine_lcore)
{
	return stress_copies(false);
}

USVA_TEST(stress, dma_stress_engine_service)
{
	return stress_copies(true);
}
