/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service, functional cases: each pager (anon 4 KiB and 2 MiB,
 * mirror, file, callback sync/async/error), page-request groups, and every
 * bad case of the lifecycle (no handler, out of range, unregister with
 * pending groups, stale completions, timeout, queue flood, PASID detach
 * and reuse, unrecoverable events), plus the validation of every config.
 *
 * Most cases drive the service synchronously from the test thread with
 * usva_fault_service_poll() (deterministic); the emu device side raises
 * page requests and reads its responses. Every case checks that each page
 * request group got exactly one response.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"
#include "usva_pasid.h"
#include "usva_struct.h"
#include "test.h"
#include "app_clock.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)
#define RW	(USVA_ACCESS_READ | USVA_ACCESS_WRITE)

/* Where the anon, file and callback cases put their ranges. */
#define ANON_BASE	(4 * SZ_1G)
#define FILE_BASE	(8 * SZ_1G)
#define CB_BASE		(12 * SZ_1G)

/* Private data a request of (pasid, grpid) carries; the response echoes it. */
#define PD0(grpid)	(UINT64_C(0xfeed000000000000) | (grpid))
#define PD1(pasid)	(UINT64_C(0x00c0ffee00000000) | (pasid))

#define MAX_RESP 64


static unsigned int
worker_lcore(void)
{
	return rte_get_next_lcore(-1, 1, 0);
}

static uint64_t
pool_in_use(struct usva_page_pool *pool)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(pool, &st);
	return st.in_use;
}

/* ---- fixture: one emu IOMMU, one PRI device, one PASID, one AS ---------- */

struct cb_ctx;
static void cb_release(struct cb_ctx *c);

struct fx {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	uint32_t pasid;
	uint32_t dev_id;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_service *svc;
	bool started;
	struct usva_fault_handler *h;
	struct usva_pager *pager;
	struct usva_page_pool *pool;	/* a data pool of the case's own */
	struct usva_page_pool *mapped_pool; /* mapped into stage 2 by the case */
	struct cb_ctx *cb;		/* callback pager state, if any */
	uint64_t def_in_use;		/* default pool pages before set-up */
};

static int
fx_open(struct fx *f, const char *params, uint32_t pri_capacity)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .backend = "emu", .params = params,
	};
	struct usva_dev_config dcfg = {
		.size = sizeof(dcfg), .flags = USVA_DEV_F_PRI, .name = "fault-dev",
		.pasid_width = 20, .pri_capacity = pri_capacity,
	};
	struct usva_as_config acfg = {
		.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_dev_info info = { .size = sizeof(info) };

	memset(f, 0, sizeof(*f));
	f->def_in_use = pool_in_use(usva_page_pool_default());
	TEST_ASSERT_OK(usva_iommu_open(&icfg, &f->iommu));
	TEST_ASSERT_OK(usva_iommu_dev_open(f->iommu, &dcfg, &f->dev));
	TEST_ASSERT_OK(usva_iommu_dev_info(f->dev, &info));
	f->dev_id = info.id;
	TEST_ASSERT_OK(usva_pasid_owner_create(usva_iommu_pasids(f->iommu), 0,
					       &f->owner));
	TEST_ASSERT_OK(usva_pasid_alloc(f->owner, &f->pasid));
	TEST_ASSERT_OK(usva_as_create(&acfg, &f->as));
	TEST_ASSERT_OK(usva_domain_create(f->iommu, &(struct usva_domain_config){
			.size = sizeof(struct usva_domain_config), .as = f->as },
			&f->dom));
	TEST_ASSERT_OK(usva_iommu_attach(f->dev, f->pasid, f->dom));
	f->attached = true;
	return TEST_SUCCESS;
}

/* A service on the worker lcore, not started: the case polls it. */
static int
fx_service(struct fx *f, uint32_t timeout_us, uint32_t max_groups)
{
	struct usva_fault_config cfg = {
		.size = sizeof(cfg), .nr_lcores = 1, .lcores = { worker_lcore() },
		.timeout_us = timeout_us, .max_groups = max_groups,
	};

	TEST_ASSERT_OK(usva_fault_service_create(&cfg, &f->svc));
	TEST_ASSERT_OK(usva_fault_service_add_iommu(f->svc, f->iommu));
	return TEST_SUCCESS;
}

static int
fx_register(struct fx *f, struct usva_pager *pager)
{
	struct usva_fault_handler_config hcfg = {
		.size = sizeof(hcfg), .dev = f->dev, .as = f->as,
		.pager = pager, .pasid = f->pasid,
	};

	TEST_ASSERT_OK(usva_fault_register(f->svc, &hcfg, &f->h));
	return TEST_SUCCESS;
}

/* A 4 KiB data pool of the case's own, so its counters are exact. */
static int
fx_pool(struct fx *f, uint32_t shift, uint32_t nr_pages)
{
	struct usva_page_pool_config cfg = {
		.size = sizeof(cfg), .page_shift = shift, .nr_pages = nr_pages,
		.numa_node = -1,
	};

	TEST_ASSERT_OK(usva_page_pool_create(&cfg, &f->pool));
	return TEST_SUCCESS;
}

static int
fx_anon(struct fx *f, uint64_t base, uint64_t len)
{
	struct usva_pager_anon_config cfg = {
		.size = sizeof(cfg), .pool = f->pool, .base = base, .len = len,
		.iommu = f->iommu,
	};

	TEST_ASSERT_OK(usva_pager_anon_create(&cfg, &f->pager));
	return TEST_SUCCESS;
}

/*
 * Tear down in the order an application would: handler, service, PASID
 * attachment, domain, AS, pager, PASID, device, IOMMU. Checks that nothing
 * was left in the pools.
 */
static int
fx_close(struct fx *f)
{
	int bad = 0;

	if (f->started && usva_fault_service_stop(f->svc) != 0)
		bad |= 1;
	usva_fault_unregister(f->h);
	usva_fault_service_destroy(f->svc);
	if (f->attached && usva_iommu_detach(f->dev, f->pasid) != 0)
		bad |= 2;
	if (f->dom != NULL && usva_domain_destroy(f->dom) != 0)
		bad |= 4;
	usva_as_destroy(f->as);
	if (f->pager != NULL && usva_pager_destroy(f->pager) != 0)
		bad |= 8;
	if (f->cb != NULL)
		cb_release(f->cb);
	if (f->mapped_pool != NULL)
		usva_iommu_unmap_pool(f->iommu, f->mapped_pool);
	if (f->pasid != 0 && usva_pasid_free(f->owner, f->pasid) != 0)
		bad |= 16;
	if (f->owner != NULL && usva_pasid_owner_destroy(f->owner) != 0)
		bad |= 32;
	usva_iommu_dev_close(f->dev);
	if (f->iommu != NULL && usva_iommu_close(f->iommu) != 0)
		bad |= 64;
	if (f->pool != NULL) {
		if (pool_in_use(f->pool) != 0)
			bad |= 128;
		usva_page_pool_destroy(f->pool);
	}
	if (pool_in_use(usva_page_pool_default()) != f->def_in_use)
		bad |= 256;
	if (bad)
		printf("    teardown problems 0x%x (1 stop, 2 detach, 4 domain, "
		       "8 pager, 16 pasid, 32 owner, 64 iommu, 128 data pool "
		       "pages left, 256 default pool pages left)\n", bad);
	memset(f, 0, sizeof(*f));
	TEST_ASSERT(bad == 0, "teardown");
	return TEST_SUCCESS;
}

/*
 * Give back the pages a pager left mapped in [base, base + len) (pagers
 * whose pages become the address space's: unmap, then free to the pool).
 * @return pages given back.
 */
static unsigned int
fx_reclaim(struct fx *f, uint64_t base, uint64_t len,
	   struct usva_page_pool *pool)
{
	unsigned int n = 0;

	for (uint64_t va = base; va < base + len;) {
		struct usva_as_xlate x;
		uint64_t psz = usva_page_pool_page_size(pool);

		if (usva_as_lookup(f->as, va, &x) == 0 &&
		    usva_page_pool_contains(pool, (void *)(uintptr_t)x.oa)) {
			uint64_t start = va & ~(x.page_size - 1);
			uint64_t page = x.oa & ~(psz - 1);

			if (usva_as_unmap(f->as, start, x.page_size, NULL) == 0) {
				usva_page_free(pool, (void *)(uintptr_t)page,
					       false);
				n++;
			}
			va = start + x.page_size;
			continue;
		}
		va += SZ_4K;
	}
	return n;
}

#define FX_OK(expr)							\
	TEST_ASSERT_GOTO((expr) == TEST_SUCCESS, out, "set-up")

/* ---- device side ------------------------------------------------------- */

static int
raise_pasid(struct fx *f, uint32_t pasid, uint64_t addr, uint32_t grpid,
	    uint16_t perm, bool last)
{
	struct usva_emu_prq_desc d = {
		.addr = addr,
		.private_data = { PD0(grpid), PD1(pasid) },
		.pasid = pasid,
		.grpid = grpid,
		.perm = perm,
		.flags = USVA_PREQ_F_PRIV_DATA | (last ? USVA_PREQ_F_LAST : 0),
	};

	return usva_emu_page_request(f->dev, &d);
}

static int
fx_raise(struct fx *f, uint64_t addr, uint32_t grpid, uint16_t perm, bool last)
{
	return raise_pasid(f, f->pasid, addr, grpid, perm, last);
}

#define RAISE(f, addr, grpid, perm, last)				\
	TEST_ASSERT_EQ_GOTO(fx_raise(f, addr, grpid, perm, last), 0, "raise")

#define TEST_ASSERT_EQ_GOTO(a, b, fmt, ...)				\
	TEST_ASSERT_GOTO((int64_t)(a) == (int64_t)(b), out, "%" PRId64	\
			 " != %" PRId64 ": " fmt, (int64_t)(a), (int64_t)(b), \
			 ##__VA_ARGS__)

/* One service iteration from the test thread (the service is not started). */
static int
fx_poll(struct fx *f)
{
	return f->started ? 0 : usva_fault_service_poll(f->svc, 0);
}

/*
 * Poll the service and gather the device's responses until @p want have
 * arrived or @p ms passed; then poll a few more times so that a response
 * too many shows up too. @return the number gathered.
 */
static unsigned int
collect(struct fx *f, struct usva_emu_prg_resp *r, unsigned int max,
	unsigned int want, unsigned int ms)
{
	uint64_t end = app_now_ns() + (uint64_t)ms * 1000000u;
	unsigned int got = 0;
	int n;

	for (;;) {
		if (f->svc != NULL)
			fx_poll(f);
		n = usva_emu_dev_responses(f->dev, r + got, max - got);
		if (n > 0)
			got += n;
		if (got >= want || got >= max || app_now_ns() > end)
			break;
		if (n <= 0)
			rte_delay_us_sleep(20);
	}
	for (int i = 0; i < 8 && got < max; i++) {
		if (f->svc != NULL)
			fx_poll(f);
		n = usva_emu_dev_responses(f->dev, r + got, max - got);
		if (n > 0)
			got += n;
	}
	return got;
}

/* Responses taken without polling the service. */
static unsigned int
take(struct fx *f, struct usva_emu_prg_resp *r, unsigned int max)
{
	int n = usva_emu_dev_responses(f->dev, r, max);

	return n > 0 ? (unsigned int)n : 0;
}

/* Exactly one response for (pasid, grpid) among @p r, with @p code and the
 * group's private data echoed. */
static int
expect_resp(const struct usva_emu_prg_resp *r, unsigned int n, uint32_t pasid,
	    uint32_t grpid, uint16_t code)
{
	const struct usva_emu_prg_resp *hit = NULL;
	unsigned int count = 0;

	for (unsigned int i = 0; i < n; i++)
		if (r[i].pasid == pasid && r[i].grpid == grpid) {
			hit = &r[i];
			count++;
		}
	TEST_ASSERT(count == 1, "group (pasid %u, grpid %u): %u responses",
		    pasid, grpid, count);
	TEST_ASSERT(hit->code == code, "group %u: code %u, expected %u", grpid,
		    hit->code, code);
	TEST_ASSERT(hit->flags & USVA_PREQ_F_PRIV_DATA,
		    "group %u: private data flag not echoed (flags 0x%x)",
		    grpid, hit->flags);
	TEST_ASSERT(hit->private_data[0] == PD0(grpid) &&
		    hit->private_data[1] == PD1(pasid),
		    "group %u: private data 0x%" PRIx64 " 0x%" PRIx64, grpid,
		    hit->private_data[0], hit->private_data[1]);
	return TEST_SUCCESS;
}

#define EXPECT_RESP(r, n, pasid, grpid, code)				\
	TEST_ASSERT_GOTO(expect_resp(r, n, pasid, grpid, code) ==	\
			 TEST_SUCCESS, out, "response")

/* The page at @p addr translates for @p access and reads @p expect
 * (@p len bytes; NULL: zeroes). */
static int
expect_page(struct fx *f, uint64_t addr, uint32_t access, const void *expect,
	    uint64_t len)
{
	struct usva_emu_xlate x;
	struct usva_emu_dma_fault df;
	uint8_t *buf = malloc(len);
	int64_t n;
	int rc;

	TEST_ASSERT(buf != NULL, "malloc");
	rc = usva_emu_translate(f->dev, f->pasid, addr, access, &x);
	if (rc != 0) {
		free(buf);
		TEST_ASSERT(rc == 0, "0x%" PRIx64 " does not translate (%d, "
			    "reason %u)", addr, rc, x.reason);
	}
	n = usva_emu_dma_read(f->dev, f->pasid, addr, buf, len, &df);
	if (n != (int64_t)len) {
		free(buf);
		TEST_ASSERT(n == (int64_t)len, "DMA read of 0x%" PRIx64
			    " stopped at 0x%" PRIx64 " (reason %u)", addr,
			    df.addr, df.reason);
	}
	for (uint64_t i = 0; i < len; i++) {
		uint8_t want = expect ? ((const uint8_t *)expect)[i] : 0;

		if (buf[i] != want) {
			uint8_t got = buf[i];

			free(buf);
			TEST_ASSERT(got == want, "0x%" PRIx64 "+0x%" PRIx64
				    ": 0x%02x, expected 0x%02x", addr, i, got,
				    want);
		}
	}
	free(buf);
	return TEST_SUCCESS;
}

#define EXPECT_PAGE(f, addr, access, expect, len)			\
	TEST_ASSERT_GOTO(expect_page(f, addr, access, expect, len) ==	\
			 TEST_SUCCESS, out, "page content")

static bool
not_mapped(struct fx *f, uint64_t addr)
{
	struct usva_emu_xlate x;

	return usva_emu_translate(f->dev, f->pasid, addr, USVA_ACCESS_READ,
				  &x) == -EFAULT &&
	       x.reason == USVA_EMU_S1_NOT_PRESENT;
}

static struct usva_fault_stats
fx_stats(struct fx *f)
{
	struct usva_fault_stats st;

	memset(&st, 0xff, sizeof(st));
	if (usva_fault_stats(f->svc, -1, &st) != 0)
		memset(&st, 0xff, sizeof(st));
	return st;
}

/* ---- callback pager ----------------------------------------------------- */

enum cb_mode { CB_SYNC_MAP, CB_ASYNC, CB_ERROR };

#define CB_MAX 16

struct cb_ctx {
	enum cb_mode mode;
	struct usva_page_pool *pool;	/* where CB_SYNC_MAP and completers
					 * take pages (stage-2 mapped) */
	unsigned int calls;
	unsigned int bad_calls;		/* unaligned addr, wrong AS, ... */
	struct usva_as *as;
	struct usva_fault_token tok[CB_MAX];
	uint64_t addr[CB_MAX];
	uint32_t perm[CB_MAX];
	void *page[CB_MAX];
	unsigned int npages;
	uint8_t fill;
};

static int
cb_map(struct cb_ctx *c, struct usva_as *as, uint64_t addr)
{
	void *page;
	int rc;

	if (c->npages >= CB_MAX)
		return -ENOSPC;
	page = usva_page_alloc(c->pool);
	if (page == NULL)
		return -ENOMEM;
	memset(page, c->fill, SZ_4K);
	rc = usva_as_map(as, addr, (uint64_t)(uintptr_t)page, SZ_4K,
			 USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER, 0);
	if (rc != 0) {
		usva_page_free(c->pool, page, false);
		return rc;
	}
	c->page[c->npages++] = page;
	return 0;
}

static int
cb_fault(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
	 struct usva_fault_token tok)
{
	struct cb_ctx *c = arg;
	unsigned int i = c->calls++;

	if ((addr & (SZ_4K - 1)) != 0 || as != c->as)
		c->bad_calls++;
	if (i < CB_MAX) {
		c->tok[i] = tok;
		c->addr[i] = addr;
		c->perm[i] = perm;
	}
	switch (c->mode) {
	case CB_SYNC_MAP:
		return cb_map(c, as, addr) == 0 ? USVA_PAGER_DONE : -ENOMEM;
	case CB_ASYNC:
		return USVA_PAGER_PENDING;
	default:
		return -EFAULT;
	}
}

static int
fx_callback(struct fx *f, struct cb_ctx *c, enum cb_mode mode)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	c->pool = usva_page_pool_default();
	c->as = f->as;
	c->fill = 0xc5;
	TEST_ASSERT_OK(usva_iommu_map_pool(f->iommu, c->pool));
	f->mapped_pool = c->pool;
	f->cb = c;
	TEST_ASSERT_OK(usva_pager_callback_create(cb_fault, c, &f->pager));
	return TEST_SUCCESS;
}

/* At teardown, once the AS is gone: the callback's pages go back. */
static void
cb_release(struct cb_ctx *c)
{
	for (unsigned int i = 0; i < c->npages; i++)
		usva_page_free(c->pool, c->page[i], false);
	c->npages = 0;
}

/* ==== configuration ====================================================== */

static int
spin_worker(void *arg)
{
	bool *stop = arg;

	/* Acquire: pairs with the release that ends the spin. */
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE))
		rte_pause();
	return 0;
}

USVA_TEST(fast, fault_config_service)
{
	struct {
		struct usva_fault_config c;
		uint8_t tail[16];
	} big;
	struct usva_fault_config cfg;
	struct usva_fault_service *svc = NULL;
	unsigned int worker = worker_lcore();
	bool stop = false;
	int64_t live = usva_alloc_outstanding();
	int rc;

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
#define CFG_RESET() do {						\
		memset(&cfg, 0, sizeof(cfg));				\
		cfg.size = sizeof(cfg);					\
		cfg.nr_lcores = 1;					\
		cfg.lcores[0] = worker;					\
	} while (0)
#define CFG_BAD(err) TEST_ASSERT_ERR(usva_fault_service_create(&cfg, &svc), err)

	CFG_RESET();
	TEST_ASSERT_ERR(usva_fault_service_create(&cfg, NULL), EINVAL);
	cfg.size = USVA_OFFSETOFEND(struct usva_fault_config, lcores) - 1;
	CFG_BAD(EINVAL);
	cfg.size = 0;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.flags = 1u << 7;
	CFG_BAD(EOPNOTSUPP);
	CFG_RESET();
	cfg.reserved[0] = 1;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.reserved[1] = 1;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.nr_lcores = 0;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.nr_lcores = USVA_FAULT_MAX_LCORES + 1;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.nr_shards = 3;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.nr_shards = USVA_MAX_SHARDS * 2;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.shard_shift = 11;
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.lcores[0] = rte_get_main_lcore();
	CFG_BAD(EINVAL);
	CFG_RESET();
	cfg.lcores[0] = RTE_MAX_LCORE;
	CFG_BAD(EINVAL);
	/* an lcore the EAL did not enable */
	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++)
		if (!rte_lcore_is_enabled(l)) {
			CFG_RESET();
			cfg.lcores[0] = l;
			CFG_BAD(EINVAL);
			break;
		}
	/* the same lcore twice */
	CFG_RESET();
	cfg.nr_lcores = 2;
	cfg.lcores[1] = worker;
	CFG_BAD(EINVAL);
	TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "a failed create kept "
		       "allocations");

	/* Mandatory fields only, the exact size, a longer zero tail. */
	CFG_RESET();
	cfg.size = USVA_OFFSETOFEND(struct usva_fault_config, lcores);
	TEST_ASSERT_OK(usva_fault_service_create(&cfg, &svc));
	TEST_ASSERT_EQ(usva_fault_service_component(svc, 0), -1,
		       "dedicated mode has no component");
	usva_fault_service_destroy(svc);
	CFG_RESET();
	cfg.nr_shards = 1;
	cfg.shard_shift = 12;
	TEST_ASSERT_OK(usva_fault_service_create(&cfg, &svc));
	usva_fault_service_destroy(svc);
	CFG_RESET();
	cfg.nr_shards = USVA_MAX_SHARDS;
	cfg.flags = USVA_FAULT_F_GLOBAL_LOCK;
	TEST_ASSERT_OK(usva_fault_service_create(&cfg, &svc));
	usva_fault_service_destroy(svc);
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.c.nr_lcores = 1;
	big.c.lcores[0] = worker;
	TEST_ASSERT_OK(usva_fault_service_create(&big.c, &svc));
	usva_fault_service_destroy(svc);
	big.tail[5] = 1;
	TEST_ASSERT_ERR(usva_fault_service_create(&big.c, &svc), E2BIG);

	/* Service-core mode: lcores are ignored, one component per slot. */
	CFG_RESET();
	cfg.flags = USVA_FAULT_F_SERVICE_CORES;
	cfg.nr_lcores = 2;
	cfg.lcores[0] = rte_get_main_lcore();
	cfg.lcores[1] = rte_get_main_lcore();
	TEST_ASSERT_OK(usva_fault_service_create(&cfg, &svc));
	rc = (usva_fault_service_component(svc, 0) >= 0 &&
	      usva_fault_service_component(svc, 1) >= 0 &&
	      usva_fault_service_component(svc, 0) !=
	      usva_fault_service_component(svc, 1));
	usva_fault_service_destroy(svc);
	TEST_ASSERT(rc, "service-core mode: one component per slot");
	usva_fault_service_destroy(NULL);

	/* An lcore that is busy: -EBUSY. */
	TEST_ASSERT_OK(rte_eal_remote_launch(spin_worker, (void *)&stop, worker));
	CFG_RESET();
	rc = usva_fault_service_create(&cfg, &svc);
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(worker);
	if (rc == 0)
		usva_fault_service_destroy(svc);
	TEST_ASSERT(rc == -EBUSY, "busy lcore: %d, expected -EBUSY", rc);
	TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
#undef CFG_BAD
#undef CFG_RESET
	return TEST_SUCCESS;
}

USVA_TEST(fast, fault_config_handler)
{
	struct {
		struct usva_fault_handler_config c;
		uint8_t tail[16];
	} big;
	struct usva_fault_handler_config cfg;
	struct usva_fault_handler *h = NULL, *h2 = NULL;
	struct fx f;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
#define H_RESET() do {							\
		memset(&cfg, 0, sizeof(cfg));				\
		cfg.size = sizeof(cfg);					\
		cfg.dev = f.dev;					\
		cfg.as = f.as;						\
		cfg.pager = f.pager;					\
		cfg.pasid = f.pasid;					\
	} while (0)
#define H_BAD(err) TEST_ASSERT_ERR_GOTO(usva_fault_register(f.svc, &cfg, &h), err)

	H_RESET();
	TEST_ASSERT_ERR_GOTO(usva_fault_register(f.svc, &cfg, NULL), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_fault_register(NULL, &cfg, &h), EINVAL);
	cfg.size = USVA_OFFSETOFEND(struct usva_fault_handler_config, pasid) - 1;
	H_BAD(EINVAL);
	H_RESET();
	cfg.flags = 1;
	H_BAD(EOPNOTSUPP);
	H_RESET();
	cfg.reserved[1] = 1;
	H_BAD(EINVAL);
	H_RESET();
	cfg.dev = NULL;
	H_BAD(EINVAL);
	H_RESET();
	cfg.as = NULL;
	H_BAD(EINVAL);
	H_RESET();
	cfg.pager = NULL;
	H_BAD(EINVAL);
	H_RESET();
	cfg.pasid = USVA_PASID_RID;
	H_BAD(EINVAL);
	memset(&big, 0, sizeof(big));
	big.c = (struct usva_fault_handler_config){ .size = sizeof(big),
		.dev = f.dev, .as = f.as, .pager = f.pager, .pasid = f.pasid };
	big.tail[0] = 1;
	TEST_ASSERT_ERR_GOTO(usva_fault_register(f.svc, &big.c, &h), E2BIG);

	/* Mandatory fields only; then a second one for (dev, pasid). */
	H_RESET();
	cfg.size = USVA_OFFSETOFEND(struct usva_fault_handler_config, pasid);
	TEST_ASSERT_OK_GOTO(usva_fault_register(f.svc, &cfg, &h));
	big.tail[0] = 0;
	TEST_ASSERT_ERR_GOTO(usva_fault_register(f.svc, &big.c, &h2), EEXIST);
	H_RESET();
	TEST_ASSERT_ERR_GOTO(usva_fault_register(f.svc, &cfg, &h2), EEXIST);
	/* The pager is in use. */
	TEST_ASSERT_ERR_GOTO(usva_pager_destroy(f.pager), EBUSY);
	usva_fault_unregister(h);
	h = NULL;
	/* A larger struct with a zero tail registers fine. */
	TEST_ASSERT_OK_GOTO(usva_fault_register(f.svc, &big.c, &h));
	TEST_ASSERT_ERR_GOTO(usva_pager_destroy(f.pager), EBUSY);
	usva_fault_unregister(h);
	h = NULL;
	usva_fault_unregister(NULL);
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(f.pager));
	f.pager = NULL;
	ret = TEST_SUCCESS;
out:
	usva_fault_unregister(h);
#undef H_RESET
#undef H_BAD
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

static int
cb_nop(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
       struct usva_fault_token tok)
{
	return -EFAULT;
}

USVA_TEST(fast, fault_config_pagers)
{
	struct {
		struct usva_pager_anon_config c;
		uint8_t tail[16];
	} abig;
	struct usva_pager_anon_config a;
	struct usva_pager_mirror_config m;
	struct usva_pager_file_config fc;
	struct usva_pager *p = NULL;
	struct usva_page_pool *pool2m = NULL;
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = 21, .nr_pages = 1,
		.numa_node = -1,
	};
	char path[] = "/tmp/usva-fault-cfg-XXXXXX";
	int fd = -1, wfd = -1, dfd = -1;
	int ret = TEST_FAILED;
	int64_t live = usva_alloc_outstanding();

	/* ---- anon ---- */
#define A_RESET() do {							\
		memset(&a, 0, sizeof(a));				\
		a.size = sizeof(a);					\
		a.base = ANON_BASE;					\
		a.len = 16 * SZ_4K;					\
	} while (0)
#define A_BAD(err) TEST_ASSERT_ERR_GOTO(usva_pager_anon_create(&a, &p), err)
	A_RESET();
	TEST_ASSERT_ERR_GOTO(usva_pager_anon_create(&a, NULL), EINVAL);
	a.size = USVA_OFFSETOFEND(struct usva_pager_anon_config, len) - 1;
	A_BAD(EINVAL);
	A_RESET();
	a.flags = 1;
	A_BAD(EOPNOTSUPP);
	A_RESET();
	a.reserved0 = 1;
	A_BAD(EINVAL);
	A_RESET();
	a.reserved[1] = 1;
	A_BAD(EINVAL);
	A_RESET();
	a.len = 0;
	A_BAD(EINVAL);
	A_RESET();
	a.base = ANON_BASE + 0x800;
	A_BAD(EINVAL);
	A_RESET();
	a.len = SZ_4K + 1;
	A_BAD(EINVAL);
	A_RESET();
	a.base = UINT64_MAX - SZ_4K + 1;
	a.len = 2 * SZ_4K;
	A_BAD(EINVAL);
	A_RESET();
	a.prot = USVA_PROT_WRITE;	/* without READ */
	A_BAD(EINVAL);
	A_RESET();
	a.prot = USVA_PROT_READ | 0x100;
	A_BAD(EINVAL);
	TEST_ASSERT_OK_GOTO(usva_page_pool_create(&pcfg, &pool2m));
	A_RESET();
	a.pool = pool2m;		/* 2 MiB pages: base and len 2 MiB aligned */
	A_BAD(EINVAL);
	a.len = SZ_2M;
	a.base = ANON_BASE + SZ_4K;
	A_BAD(EINVAL);
	a.base = ANON_BASE;
	TEST_ASSERT_OK_GOTO(usva_pager_anon_create(&a, &p));
	TEST_ASSERT_EQ_GOTO(p->page_size, SZ_2M, "2 MiB pager page size");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	A_RESET();
	a.size = USVA_OFFSETOFEND(struct usva_pager_anon_config, len);
	TEST_ASSERT_OK_GOTO(usva_pager_anon_create(&a, &p));
	TEST_ASSERT_GOTO(p->base == ANON_BASE && p->len == 16 * SZ_4K &&
			 p->page_size == SZ_4K, out, "pager geometry");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	memset(&abig, 0, sizeof(abig));
	abig.c.size = sizeof(abig);
	abig.c.base = ANON_BASE;
	abig.c.len = SZ_4K;
	TEST_ASSERT_OK_GOTO(usva_pager_anon_create(&abig.c, &p));
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	abig.tail[15] = 1;
	TEST_ASSERT_ERR_GOTO(usva_pager_anon_create(&abig.c, &p), E2BIG);

	/* ---- mirror ---- */
#define M_RESET() do {							\
		memset(&m, 0, sizeof(m));				\
		m.size = sizeof(m);					\
		m.base = 0x10000000;					\
		m.len = 16 * SZ_4K;					\
	} while (0)
#define M_BAD(err) TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(&m, &p), err)
	M_RESET();
	m.size = USVA_OFFSETOFEND(struct usva_pager_mirror_config, len) - 1;
	M_BAD(EINVAL);
	M_RESET();
	m.flags = 1;
	M_BAD(EOPNOTSUPP);
	M_RESET();
	m.reserved[0] = 1;
	M_BAD(EINVAL);
	M_RESET();
	m.len = 0;
	M_BAD(EINVAL);
	M_RESET();
	m.base = 0x10000010;
	M_BAD(EINVAL);
	M_RESET();
	m.len = 100;
	M_BAD(EINVAL);
	M_RESET();
	m.base = UINT64_C(1) << 57;
	M_BAD(EINVAL);
	M_RESET();
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(NULL, &p), EFAULT);
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(&m, NULL), EINVAL);

	/* ---- file ---- */
	fd = mkstemp(path);
	TEST_ASSERT_GOTO(fd >= 0, out, "mkstemp");
	wfd = open(path, O_WRONLY);
	TEST_ASSERT_GOTO(wfd >= 0, out, "open");
	unlink(path);
	TEST_ASSERT_GOTO(ftruncate(fd, 16 * SZ_4K) == 0, out, "ftruncate");
	dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
	TEST_ASSERT_GOTO(dfd >= 0, out, "open /tmp");
#define F_RESET() do {							\
		memset(&fc, 0, sizeof(fc));				\
		fc.size = sizeof(fc);					\
		fc.fd = fd;						\
		fc.base = FILE_BASE;					\
		fc.len = 16 * SZ_4K;					\
	} while (0)
#define F_BAD(err) TEST_ASSERT_ERR_GOTO(usva_pager_file_create(&fc, &p), err)
	F_RESET();
	fc.size = USVA_OFFSETOFEND(struct usva_pager_file_config, len) - 1;
	F_BAD(EINVAL);
	F_RESET();
	fc.flags = 1;
	F_BAD(EOPNOTSUPP);
	F_RESET();
	fc.reserved[1] = 1;
	F_BAD(EINVAL);
	F_RESET();
	fc.fd = -1;
	F_BAD(EBADF);
	F_RESET();
	fc.fd = wfd;			/* open for writing only */
	F_BAD(EBADF);
	F_RESET();
	fc.fd = dfd;			/* not a regular file */
	F_BAD(EINVAL);
	F_RESET();
	fc.queue_depth = 4097;
	F_BAD(EINVAL);
	F_RESET();
	fc.queue_depth = 64;
	fc.max_pending = 32;		/* below queue_depth */
	F_BAD(EINVAL);
	F_RESET();
	fc.max_pending = 65537;
	F_BAD(EINVAL);
	F_RESET();
	fc.pool = pool2m;		/* 2 MiB pages, 4 KiB aligned range */
	F_BAD(EINVAL);
	F_RESET();
	fc.base = UINT64_MAX - SZ_4K + 1;
	F_BAD(EINVAL);
	F_RESET();
	fc.len = 0;
	F_BAD(EINVAL);
	F_RESET();
	fc.base = FILE_BASE + 8;
	F_BAD(EINVAL);
	F_RESET();
	fc.file_offset = 100;
	F_BAD(EINVAL);
	F_RESET();
	fc.prot = USVA_PROT_WRITE;
	F_BAD(EINVAL);
	F_RESET();
	TEST_ASSERT_OK_GOTO(usva_pager_file_create(&fc, &p));
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;

	/* ---- callback ---- */
	TEST_ASSERT_ERR_GOTO(usva_pager_callback_create(NULL, NULL, &p), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_pager_callback_create(cb_nop, NULL, NULL),
			     EINVAL);
	TEST_ASSERT_OK_GOTO(usva_pager_callback_create(cb_nop, NULL, &p));
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	usva_page_pool_destroy(pool2m);
	if (fd >= 0)
		close(fd);
	if (wfd >= 0)
		close(wfd);
	if (dfd >= 0)
		close(dfd);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
#undef A_RESET
#undef A_BAD
#undef M_RESET
#undef M_BAD
#undef F_RESET
#undef F_BAD
	return ret;
}

/* ==== lifecycle of the service ========================================== */

USVA_TEST(fast, fault_lifecycle)
{
	struct usva_fault_stats st;
	struct usva_emu_prg_resp r[MAX_RESP];
	struct fx f;
	char *text = NULL;
	size_t text_len = 0;
	FILE *mf;
	uint64_t end;
	unsigned int n = 0;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));
	TEST_ASSERT_ERR_GOTO(usva_fault_service_add_iommu(f.svc, f.iommu),
			     EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_fault_service_poll(f.svc, 1), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_fault_service_stop(f.svc), EALREADY);
	TEST_ASSERT_ERR_GOTO(usva_fault_stats(f.svc, 1, &st), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_fault_shard_stats(f.svc, USVA_MAX_SHARDS, &st),
			     EINVAL);
	TEST_ASSERT_EQ_GOTO(usva_fault_service_poll(f.svc, 0), 0, "idle poll");

	/* Started on the worker: it answers by itself. */
	TEST_ASSERT_OK_GOTO(usva_fault_service_start(f.svc));
	f.started = true;
	TEST_ASSERT_ERR_GOTO(usva_fault_service_start(f.svc), EALREADY);
	TEST_ASSERT_ERR_GOTO(usva_fault_service_poll(f.svc, 0), EBUSY);
	TEST_ASSERT_ERR_GOTO(usva_fault_service_add_iommu(f.svc, f.iommu),
			     EBUSY);
	RAISE(&f, ANON_BASE, 1, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 2000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses from the started service");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_SUCCESS);
	EXPECT_PAGE(&f, ANON_BASE, RW, NULL, SZ_4K);
	TEST_ASSERT_OK_GOTO(usva_fault_service_stop(f.svc));
	f.started = false;
	TEST_ASSERT_ERR_GOTO(usva_fault_service_stop(f.svc), EALREADY);

	/* Stopped: requests wait until polled or restarted. */
	RAISE(&f, ANON_BASE + SZ_4K, 2, RW, true);
	rte_delay_us_sleep(2000);
	TEST_ASSERT_EQ_GOTO(take(&f, r, MAX_RESP), 0, "answered while stopped");
	TEST_ASSERT_OK_GOTO(usva_fault_service_start(f.svc));
	f.started = true;
	n = collect(&f, r, MAX_RESP, 1, 2000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses after a restart");
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_SUCCESS);
	TEST_ASSERT_OK_GOTO(usva_fault_service_stop(f.svc));
	f.started = false;

	/* Counters, per lcore and per shard, and the dump. */
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.requests, 2, "requests");
	TEST_ASSERT_EQ_GOTO(st.groups, 2, "groups");
	TEST_ASSERT_EQ_GOTO(st.resp_success, 2, "resp_success");
	{
		struct usva_fault_stats s0, sh;
		uint64_t shard_req = 0, hist = 0;

		TEST_ASSERT_OK_GOTO(usva_fault_stats(f.svc, 0, &s0));
		TEST_ASSERT_EQ_GOTO(s0.requests, 2, "slot 0 requests");
		for (unsigned int i = 0;
		     usva_fault_shard_stats(f.svc, i, &sh) == 0; i++)
			shard_req += sh.requests;
		TEST_ASSERT_EQ_GOTO(shard_req, 2, "requests summed over shards");
		for (unsigned int i = 0; i < USVA_FAULT_LAT_BUCKETS; i++)
			hist += st.lat_hist[i];
		TEST_ASSERT_EQ_GOTO(hist, 2, "latency samples (one per group)");
		TEST_ASSERT_GOTO(usva_fault_lat_percentile(&st, 50) > 0 &&
				 usva_fault_lat_percentile(&st, 50) <=
				 usva_fault_lat_percentile(&st, 99), out,
				 "percentiles");
	}
	mf = open_memstream(&text, &text_len);
	TEST_ASSERT_GOTO(mf != NULL, out, "open_memstream");
	usva_fault_dump(f.svc, mf);
	fclose(mf);
	TEST_ASSERT_GOTO(text_len > 0, out, "dump printed nothing");

	/* Destroy while running with a handler left: stops and unregisters. */
	TEST_ASSERT_OK_GOTO(usva_fault_service_start(f.svc));
	end = app_now_ns() + 1000000;
	while (app_now_ns() < end)
		rte_pause();
	usva_fault_service_destroy(f.svc);
	f.svc = NULL;
	f.h = NULL;
	TEST_ASSERT_EQ_GOTO(rte_eal_get_lcore_state(worker_lcore()), WAIT,
			    "worker lcore back to WAIT");
	ret = TEST_SUCCESS;
out:
	free(text);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/*
 * The emu PRQ interrupt: arming an empty queue lets the poller sleep, a
 * request then makes the eventfd readable once, and arming with requests
 * queued says "poll instead". Then a service in interrupt mode, asleep on
 * it, answers requests that arrive while it sleeps.
 */
USVA_TEST(fast, fault_interrupt_mode)
{
	struct usva_fault_config cfg = {
		.size = sizeof(cfg), .flags = USVA_FAULT_F_INTERRUPT,
		.nr_lcores = 1, .lcores = { worker_lcore() },
	};
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_page_req req;
	struct usva_page_resp resp;
	struct usva_iommu_stats ist;
	struct pollfd pfd;
	uint16_t id;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	id = usva_iommu_id(f.iommu);
	pfd.fd = usva_iommu_prq_fd(f.iommu);
	pfd.events = POLLIN;
	TEST_ASSERT_GOTO(pfd.fd >= 0, out, "emu has a PRQ eventfd");
	TEST_ASSERT_EQ_GOTO(usva_iommu_prq_arm(id), 0, "empty queue: armed");
	TEST_ASSERT_EQ_GOTO(poll(&pfd, 1, 0), 0, "no interrupt yet");
	RAISE(&f, ANON_BASE, 1, RW, true);
	TEST_ASSERT_EQ_GOTO(poll(&pfd, 1, 0), 1, "interrupt on the request");
	TEST_ASSERT_EQ_GOTO(usva_iommu_prq_arm(id), 1, "queued: poll, not sleep");
	TEST_ASSERT_EQ_GOTO(usva_iommu_prq_poll(id, &req, 1), 1, "the request");
	resp = (struct usva_page_resp){ .dev_id = req.dev_id,
		.pasid = req.pasid, .grpid = req.grpid, .cookie = req.cookie,
		.code = USVA_PAGE_RESP_INVALID, .flags = USVA_PREQ_F_PASID };
	TEST_ASSERT_EQ_GOTO(usva_iommu_page_respond(id, &resp, 1), 1, "respond");
	TEST_ASSERT_EQ_GOTO(usva_emu_dev_responses(f.dev, r, MAX_RESP), 1,
			    "one response");
	usva_iommu_stats(f.iommu, &ist);
	TEST_ASSERT_EQ_GOTO(ist.prq_irqs, 1, "one interrupt raised");
	/* Not armed: a request raises nothing (no syscall while busy). */
	RAISE(&f, ANON_BASE + SZ_4K, 9, RW, true);
	usva_iommu_stats(f.iommu, &ist);
	TEST_ASSERT_EQ_GOTO(ist.prq_irqs, 1, "no interrupt while not armed");
	TEST_ASSERT_EQ_GOTO(usva_iommu_prq_poll(id, &req, 1), 1, "the request");
	resp.grpid = req.grpid;
	resp.cookie = req.cookie;
	TEST_ASSERT_EQ_GOTO(usva_iommu_page_respond(id, &resp, 1), 1, "respond");
	TEST_ASSERT_EQ_GOTO(usva_emu_dev_responses(f.dev, r, MAX_RESP), 1,
			    "one response");

	TEST_ASSERT_OK_GOTO(usva_fault_service_create(&cfg, &f.svc));
	TEST_ASSERT_OK_GOTO(usva_fault_service_add_iommu(f.svc, f.iommu));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));
	TEST_ASSERT_OK_GOTO(usva_fault_service_start(f.svc));
	f.started = true;
	for (unsigned int i = 0; i < 4; i++) {
		/* Long enough for the slot to spin out and sleep. */
		rte_delay_us_sleep(20000);
		RAISE(&f, ANON_BASE + i * SZ_4K, 2 + i, RW, true);
		n = collect(&f, r, MAX_RESP, 1, 2000);
		TEST_ASSERT_EQ_GOTO(n, 1, "answered while the service slept");
		EXPECT_RESP(r, n, f.pasid, 2 + i, USVA_PAGE_RESP_SUCCESS);
	}
	/* The sleeping slot was woken by the interrupt, not by a back-off.
	 * (A request landing in the few nanoseconds between the 1 ms tick
	 * and re-arming is polled without one, so not all four need one.) */
	usva_iommu_stats(f.iommu, &ist);
	TEST_ASSERT_GOTO(ist.prq_irqs >= 1 + 2, out, "%" PRIu64 " interrupts: "
			 "the slot did not sleep armed", ist.prq_irqs);
	TEST_ASSERT_OK_GOTO(usva_fault_service_stop(f.svc));
	f.started = false;
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== pagers ============================================================== */

USVA_TEST(fast, fault_anon_4k)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct usva_as_xlate ax;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_pool(&f, 12, 64));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	/* Not mapped before; a request for an address inside the page. */
	TEST_ASSERT_GOTO(not_mapped(&f, ANON_BASE + 3 * SZ_4K), out,
			 "mapped before the fault");
	RAISE(&f, ANON_BASE + 3 * SZ_4K + 0x123, 7, RW, true);
	TEST_ASSERT_EQ_GOTO(take(&f, r, MAX_RESP), 0, "answered before a poll");
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 7, USVA_PAGE_RESP_SUCCESS);
	EXPECT_PAGE(&f, ANON_BASE + 3 * SZ_4K, RW, NULL, SZ_4K);
	TEST_ASSERT_OK_GOTO(usva_as_lookup(f.as, ANON_BASE + 3 * SZ_4K, &ax));
	TEST_ASSERT_GOTO(ax.page_size == SZ_4K && usva_page_pool_contains(
			 f.pool, (void *)(uintptr_t)ax.oa), out,
			 "leaf: size 0x%" PRIx64 " oa 0x%" PRIx64, ax.page_size,
			 ax.oa);
	TEST_ASSERT_GOTO(ax.prot & USVA_PROT_WRITE, out, "default prot RW");
	/* Only that page. */
	TEST_ASSERT_GOTO(not_mapped(&f, ANON_BASE + 2 * SZ_4K) &&
			 not_mapped(&f, ANON_BASE + 4 * SZ_4K), out,
			 "neighbours mapped");
	TEST_ASSERT_EQ_GOTO(pool_in_use(f.pool), 1, "data pages in use");
	/* The device writes; the page keeps it (it is the pool's page). */
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_write(f.dev, f.pasid,
			    ANON_BASE + 3 * SZ_4K + 8, "device", 6, NULL), 6,
			    "DMA write");
	TEST_ASSERT_GOTO(memcmp((char *)(uintptr_t)ax.oa + 8, "device", 6) == 0,
			 out, "write not in the pool page");

	/* Every page of the range, one group each. */
	for (uint32_t i = 0; i < 16; i++)
		if (i != 3)
			RAISE(&f, ANON_BASE + i * SZ_4K, 100 + i, RW, true);
	n = collect(&f, r, MAX_RESP, 15, 1000);
	TEST_ASSERT_EQ_GOTO(n, 15, "responses");
	for (uint32_t i = 0; i < 16; i++) {
		if (i == 3)
			continue;
		EXPECT_RESP(r, n, f.pasid, 100 + i, USVA_PAGE_RESP_SUCCESS);
		EXPECT_PAGE(&f, ANON_BASE + i * SZ_4K, RW, NULL, SZ_4K);
	}
	TEST_ASSERT_EQ_GOTO(pool_in_use(f.pool), 16, "data pages in use");
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.requests, 16, "requests");
	TEST_ASSERT_EQ_GOTO(st.groups, 16, "groups");
	TEST_ASSERT_EQ_GOTO(st.resp_success, 16, "resp_success");
	TEST_ASSERT_EQ_GOTO(st.resp_invalid + st.resp_failure, 0, "errors");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_anon_2m)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_emu_xlate x;
	struct usva_as_xlate ax;
	uint64_t base = 64 * SZ_1G;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_pool(&f, 21, 2));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, base, 4 * SZ_2M));
	TEST_ASSERT_EQ_GOTO(f.pager->page_size, SZ_2M, "pager page size");
	FX_OK(fx_register(&f, f.pager));

	/* A 4 KiB request in the middle of the first 2 MiB page. */
	RAISE(&f, base + 0x12345, 1, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_SUCCESS);
	TEST_ASSERT_OK_GOTO(usva_as_lookup(f.as, base + 0x1ff000, &ax));
	TEST_ASSERT_GOTO(ax.page_size == SZ_2M && ax.level == 2, out,
			 "leaf size 0x%" PRIx64 " level %u", ax.page_size,
			 ax.level);
	TEST_ASSERT_OK_GOTO(usva_emu_translate(f.dev, f.pasid, base, RW, &x));
	TEST_ASSERT_GOTO(x.len == SZ_2M, out, "contiguous 0x%" PRIx64, x.len);
	EXPECT_PAGE(&f, base, RW, NULL, SZ_2M);
	TEST_ASSERT_GOTO(not_mapped(&f, base + SZ_2M), out, "next 2 MiB mapped");
	/* Two requests of one group in the second 2 MiB page. */
	RAISE(&f, base + SZ_2M + 5 * SZ_4K, 2, RW, false);
	RAISE(&f, base + SZ_2M + 9 * SZ_4K, 2, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_SUCCESS);
	EXPECT_PAGE(&f, base + SZ_2M, RW, NULL, SZ_2M);
	TEST_ASSERT_EQ_GOTO(pool_in_use(f.pool), 2, "2 MiB pages in use");
	/* The pool is empty now: a third page cannot be had -> INVALID. */
	RAISE(&f, base + 2 * SZ_2M, 3, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_GOTO(fx_stats(&f).pager_errors >= 1, out, "pager_errors");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

static void
fill_pattern(uint8_t *p, uint64_t len, uint32_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 7 + seed) ^ (i >> 12) ^ (seed >> 8));
}

static int
fx_mirror(struct fx *f, uint64_t base, uint64_t len)
{
	struct usva_pager_mirror_config cfg = {
		.size = sizeof(cfg), .iommu = f->iommu, .base = base, .len = len,
	};

	TEST_ASSERT_OK(usva_pager_mirror_create(&cfg, &f->pager));
	return TEST_SUCCESS;
}

USVA_TEST(fast, fault_mirror)
{
	enum { NPAGES = 8 };
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_emu_dma_fault df;
	uint8_t *buf = NULL, *hole = MAP_FAILED;
	uint64_t b;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&f, 0, sizeof(f));
	buf = aligned_alloc(SZ_4K, NPAGES * SZ_4K);
	TEST_ASSERT_GOTO(buf != NULL, out, "aligned_alloc");
	fill_pattern(buf, NPAGES * SZ_4K, 0x31);
	b = (uint64_t)(uintptr_t)buf;
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_mirror(&f, b, NPAGES * SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	/* The device reads the process's bytes at the same VA. */
	for (uint32_t i = 0; i < NPAGES; i++)
		RAISE(&f, b + i * SZ_4K, i, i & 1 ? USVA_ACCESS_READ : RW, true);
	n = collect(&f, r, MAX_RESP, NPAGES, 1000);
	TEST_ASSERT_EQ_GOTO(n, NPAGES, "responses");
	for (uint32_t i = 0; i < NPAGES; i++) {
		EXPECT_RESP(r, n, f.pasid, i, USVA_PAGE_RESP_SUCCESS);
		EXPECT_PAGE(&f, b + i * SZ_4K, USVA_ACCESS_READ,
			    buf + i * SZ_4K, SZ_4K);
	}
	/* Shared, not copied: the CPU's writes are seen by the device, the
	 * device's by the CPU. */
	memcpy(buf + 2 * SZ_4K + 100, "from the cpu", 12);
	EXPECT_PAGE(&f, b + 2 * SZ_4K, USVA_ACCESS_READ, buf + 2 * SZ_4K, SZ_4K);
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_write(f.dev, f.pasid, b + 4 * SZ_4K + 7,
					       "from the device", 15, &df), 15,
			    "DMA write to a mirrored page");
	TEST_ASSERT_GOTO(memcmp(buf + 4 * SZ_4K + 7, "from the device", 15) == 0,
			 out, "the process does not see the device's write");
	/* A page outside the range. */
	RAISE(&f, b + NPAGES * SZ_4K, 20, USVA_ACCESS_READ, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 20, USVA_PAGE_RESP_INVALID);
	usva_fault_unregister(f.h);
	f.h = NULL;
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(f.pager));
	f.pager = NULL;

	/* A range with a hole the process has not mapped: INVALID. */
	hole = mmap(NULL, 2 * SZ_4K, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT_GOTO(hole != MAP_FAILED, out, "mmap");
	memset(hole, 0x77, SZ_4K);
	TEST_ASSERT_GOTO(munmap(hole + SZ_4K, SZ_4K) == 0, out, "munmap");
	FX_OK(fx_mirror(&f, (uint64_t)(uintptr_t)hole, 2 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));
	RAISE(&f, (uint64_t)(uintptr_t)hole, 30, RW, true);
	RAISE(&f, (uint64_t)(uintptr_t)hole + SZ_4K, 31, USVA_ACCESS_READ, true);
	n = collect(&f, r, MAX_RESP, 2, 1000);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses");
	EXPECT_RESP(r, n, f.pasid, 30, USVA_PAGE_RESP_SUCCESS);
	EXPECT_RESP(r, n, f.pasid, 31, USVA_PAGE_RESP_INVALID);
	EXPECT_PAGE(&f, (uint64_t)(uintptr_t)hole, USVA_ACCESS_READ, hole, SZ_4K);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	if (hole != MAP_FAILED)
		munmap(hole, SZ_4K);
	free(buf);
	return ret;
}

USVA_TEST(fast, fault_mirror_readonly)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_emu_xlate x;
	uint8_t *ro = MAP_FAILED;
	uint8_t expect[SZ_4K];
	uint64_t b;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&f, 0, sizeof(f));
	ro = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT_GOTO(ro != MAP_FAILED, out, "mmap");
	memset(ro, 0x5a, SZ_4K);
	memset(expect, 0x5a, SZ_4K);
	TEST_ASSERT_GOTO(mprotect(ro, SZ_4K, PROT_READ) == 0, out, "mprotect");
	b = (uint64_t)(uintptr_t)ro;
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_mirror(&f, b, SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	/* A write fault on a read-only process page: INVALID. */
	RAISE(&f, b, 1, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	/* A read fault maps it read-only. */
	RAISE(&f, b, 2, USVA_ACCESS_READ, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_SUCCESS);
	EXPECT_PAGE(&f, b, USVA_ACCESS_READ, expect, SZ_4K);
	TEST_ASSERT_EQ_GOTO(usva_emu_translate(f.dev, f.pasid, b,
					       USVA_ACCESS_WRITE, &x), -EFAULT,
			    "writable after a read fault on a read-only page");
	TEST_ASSERT_EQ_GOTO(x.reason, USVA_EMU_S1_PERM, "reason");
	/* A write fault now finds the page present but read-only: still
	 * INVALID (SUCCESS would make the device retry forever). */
	RAISE(&f, b, 3, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_GOTO(ro[0] == 0x5a, out, "process page changed");
	{
		struct usva_pager_mirror_stats ms;

		TEST_ASSERT_OK_GOTO(usva_pager_mirror_stats(f.pager, &ms));
		TEST_ASSERT_GOTO(ms.prot_denied + ms.s2_readonly >= 1, out,
				 "write refusals not counted");
		TEST_ASSERT_EQ_GOTO(ms.mapped, 1, "pages mapped");
	}
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	if (ro != MAP_FAILED)
		munmap(ro, SZ_4K);
	return ret;
}

USVA_TEST(fast, fault_file)
{
	enum { NPAGES = 64, PER_GROUP = 4 };
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_pager_file_config cfg;
	struct usva_pager *p2 = NULL;
	struct usva_fault_stats st;
	char path[] = "/tmp/usva-fault-file-XXXXXX";
	uint8_t *data = NULL;
	int fd = -1;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&f, 0, sizeof(f));
	data = malloc(NPAGES * SZ_4K);
	TEST_ASSERT_GOTO(data != NULL, out, "malloc");
	fill_pattern(data, NPAGES * SZ_4K, 0x99);
	fd = mkstemp(path);
	TEST_ASSERT_GOTO(fd >= 0, out, "mkstemp");
	unlink(path);
	TEST_ASSERT_GOTO(write(fd, data, NPAGES * SZ_4K) ==
			 (ssize_t)(NPAGES * SZ_4K), out, "write");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=256", 128));
	FX_OK(fx_service(&f, 0, 0));
	/* A small ring: more reads in flight than it holds. */
	cfg = (struct usva_pager_file_config){
		.size = sizeof(cfg), .fd = fd, .queue_depth = 8,
		.base = FILE_BASE, .len = NPAGES * SZ_4K, .iommu = f.iommu,
	};
	TEST_ASSERT_OK_GOTO(usva_pager_file_create(&cfg, &f.pager));
	FX_OK(fx_register(&f, f.pager));

	for (uint32_t i = 0; i < NPAGES; i++)
		RAISE(&f, FILE_BASE + i * SZ_4K, i / PER_GROUP, RW,
		      i % PER_GROUP == PER_GROUP - 1);
	n = collect(&f, r, MAX_RESP, NPAGES / PER_GROUP, 5000);
	TEST_ASSERT_EQ_GOTO(n, NPAGES / PER_GROUP, "responses");
	for (uint32_t g = 0; g < NPAGES / PER_GROUP; g++)
		EXPECT_RESP(r, n, f.pasid, g, USVA_PAGE_RESP_SUCCESS);
	for (uint32_t i = 0; i < NPAGES; i++)
		EXPECT_PAGE(&f, FILE_BASE + i * SZ_4K, RW, data + i * SZ_4K,
			    SZ_4K);
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.pending_async, NPAGES, "pages read asynchronously");
	{
		struct usva_pager_file_stats fs;

		TEST_ASSERT_OK_GOTO(usva_pager_file_stats(f.pager, &fs));
		TEST_ASSERT_EQ_GOTO(fs.completed, NPAGES, "pages read");
		TEST_ASSERT_GOTO(fs.max_in_flight > 1 && fs.max_in_flight <= 8,
				 out, "reads in flight at once: %" PRIu64,
				 fs.max_in_flight);
		TEST_ASSERT_EQ_GOTO(fs.read_errors, 0, "read errors");
	}
	TEST_ASSERT_EQ_GOTO(st.resp_success, NPAGES / PER_GROUP, "resp_success");
	/* A page is the pager's copy, not the file's page cache: the device
	 * writing it leaves the file alone. */
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_write(f.dev, f.pasid, FILE_BASE, "xyz",
					       3, NULL), 3, "DMA write");
	{
		char c[3];

		TEST_ASSERT_GOTO(pread(fd, c, 3, 0) == 3 &&
				 memcmp(c, data, 3) == 0, out, "file changed");
	}
	usva_fault_unregister(f.h);
	f.h = NULL;

	/* file_offset: the VA base maps a later part of the file. */
	cfg.base = FILE_BASE + SZ_1G;
	cfg.len = 8 * SZ_4K;
	cfg.file_offset = 40 * SZ_4K;
	TEST_ASSERT_OK_GOTO(usva_pager_file_create(&cfg, &p2));
	TEST_ASSERT_OK_GOTO(usva_fault_register(f.svc,
		&(struct usva_fault_handler_config){
			.size = sizeof(struct usva_fault_handler_config),
			.dev = f.dev, .as = f.as, .pager = p2,
			.pasid = f.pasid }, &f.h));
	RAISE(&f, cfg.base + 3 * SZ_4K, 40, USVA_ACCESS_READ, true);
	RAISE(&f, cfg.base + 8 * SZ_4K, 41, USVA_ACCESS_READ, true);
	n = collect(&f, r, MAX_RESP, 2, 5000);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses");
	EXPECT_RESP(r, n, f.pasid, 40, USVA_PAGE_RESP_SUCCESS);
	EXPECT_RESP(r, n, f.pasid, 41, USVA_PAGE_RESP_INVALID);
	EXPECT_PAGE(&f, cfg.base + 3 * SZ_4K, USVA_ACCESS_READ,
		    data + 43 * SZ_4K, SZ_4K);
	usva_fault_unregister(f.h);
	f.h = NULL;
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p2));
	p2 = NULL;
	ret = TEST_SUCCESS;
out:
	usva_fault_unregister(f.h);
	f.h = NULL;
	/* The file pager's pages are the AS's now: give them back. */
	if (f.as != NULL) {
		fx_reclaim(&f, FILE_BASE, NPAGES * SZ_4K,
			   usva_page_pool_default());
		fx_reclaim(&f, FILE_BASE + SZ_1G, 8 * SZ_4K,
			   usva_page_pool_default());
	}
	if (p2 != NULL)
		usva_pager_destroy(p2);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	if (fd >= 0)
		close(fd);
	free(data);
	return ret;
}

USVA_TEST(fast, fault_callback_sync)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	uint8_t expect[SZ_4K];
	struct cb_ctx c;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_callback(&f, &c, CB_SYNC_MAP));
	FX_OK(fx_register(&f, f.pager));

	RAISE(&f, CB_BASE + 0x5123, 9, USVA_ACCESS_READ, false);
	RAISE(&f, CB_BASE + 0x9000, 9, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 9, USVA_PAGE_RESP_SUCCESS);
	TEST_ASSERT_EQ_GOTO(c.calls, 2, "callback calls");
	TEST_ASSERT_EQ_GOTO(c.bad_calls, 0, "callback arguments");
	TEST_ASSERT_GOTO(c.addr[0] == CB_BASE + 0x5000 &&
			 c.addr[1] == CB_BASE + 0x9000, out,
			 "addresses 0x%" PRIx64 " 0x%" PRIx64, c.addr[0],
			 c.addr[1]);
	TEST_ASSERT_GOTO((c.perm[0] & RW) == USVA_ACCESS_READ &&
			 (c.perm[1] & RW) == RW, out, "perm 0x%x 0x%x",
			 c.perm[0], c.perm[1]);
	memset(expect, c.fill, sizeof(expect));
	EXPECT_PAGE(&f, CB_BASE + 0x5000, RW, expect, SZ_4K);
	EXPECT_PAGE(&f, CB_BASE + 0x9000, RW, expect, SZ_4K);
	/* Present now: no second call. */
	RAISE(&f, CB_BASE + 0x5000, 10, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 10, USVA_PAGE_RESP_SUCCESS);
	TEST_ASSERT_EQ_GOTO(c.calls, 2, "callback called for a present page");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* Completer on another lcore: map what the callback left pending, then
 * complete it. */
static int
complete_worker(void *arg)
{
	struct cb_ctx *c = arg;

	for (unsigned int i = 0; i < c->calls && i < CB_MAX; i++) {
		if (cb_map(c, c->as, c->addr[i]) != 0)
			return -1;
		if (usva_fault_complete(c->tok[i], 0) != 0)
			return -2;
	}
	return 0;
}

USVA_TEST(fast, fault_callback_async)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	uint8_t expect[SZ_4K];
	struct usva_fault_stats st;
	struct cb_ctx c;
	struct fx f;
	unsigned int n, worker = worker_lcore();
	int ret = TEST_FAILED;

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_callback(&f, &c, CB_ASYNC));
	FX_OK(fx_register(&f, f.pager));

	RAISE(&f, CB_BASE, 3, RW, false);
	RAISE(&f, CB_BASE + SZ_4K, 3, RW, false);
	RAISE(&f, CB_BASE + 2 * SZ_4K, 3, RW, true);
	RAISE(&f, CB_BASE + 3 * SZ_4K, 4, RW, true);
	n = collect(&f, r, MAX_RESP, 0, 0);
	TEST_ASSERT_EQ_GOTO(n, 0, "answered while pending");
	TEST_ASSERT_EQ_GOTO(c.calls, 4, "callback calls");
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.pending_async, 4, "pending_async");
	/* The worker lcore maps and completes. */
	TEST_ASSERT_OK_GOTO(rte_eal_remote_launch(complete_worker, &c, worker));
	TEST_ASSERT_EQ_GOTO(rte_eal_wait_lcore(worker), 0, "completer");
	n = collect(&f, r, MAX_RESP, 2, 1000);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_SUCCESS);
	EXPECT_RESP(r, n, f.pasid, 4, USVA_PAGE_RESP_SUCCESS);
	memset(expect, c.fill, sizeof(expect));
	for (uint32_t i = 0; i < 4; i++)
		EXPECT_PAGE(&f, CB_BASE + i * SZ_4K, RW, expect, SZ_4K);
	/* A second completion of the same token: the group is gone. */
	TEST_ASSERT_ERR_GOTO(usva_fault_complete(c.tok[3], 0), ESTALE);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "extra response");
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).stale_completions, 1,
			    "stale_completions");

	/* An async failure: the group is INVALID, and a success of another
	 * page of the same group does not change that. */
	c.calls = 0;
	RAISE(&f, CB_BASE + 8 * SZ_4K, 5, RW, false);
	RAISE(&f, CB_BASE + 9 * SZ_4K, 5, RW, true);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early response");
	TEST_ASSERT_EQ_GOTO(c.calls, 2, "callback calls");
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[0], -EIO));
	TEST_ASSERT_OK_GOTO(cb_map(&c, f.as, c.addr[1]));
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[1], 0));
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 5, USVA_PAGE_RESP_INVALID);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_callback_error)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct cb_ctx c;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_callback(&f, &c, CB_ERROR));
	FX_OK(fx_register(&f, f.pager));
	RAISE(&f, CB_BASE, 1, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_GOTO(not_mapped(&f, CB_BASE), out, "mapped after an error");
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.pager_errors, 1, "pager_errors");
	TEST_ASSERT_EQ_GOTO(st.resp_invalid, 1, "resp_invalid");
	/* The device is not cut off (INVALID, not FAILURE). */
	TEST_ASSERT_GOTO(usva_emu_dev_pri_enabled(f.dev), out, "PRI disabled");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== groups ============================================================= */

USVA_TEST(fast, fault_group_three)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 64 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	/* Page by page, polled in between: no response before the last. */
	RAISE(&f, ANON_BASE + 10 * SZ_4K, 42, RW, false);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "after the 1st");
	RAISE(&f, ANON_BASE + 20 * SZ_4K, 42, USVA_ACCESS_READ, false);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "after the 2nd");
	RAISE(&f, ANON_BASE + 30 * SZ_4K, 42, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 42, USVA_PAGE_RESP_SUCCESS);
	for (int i = 1; i <= 3; i++)
		EXPECT_PAGE(&f, ANON_BASE + i * 10 * SZ_4K, USVA_ACCESS_READ,
			    NULL, SZ_4K);
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).groups, 1, "groups");
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).requests, 3, "requests");
	/* The same index again is a new group. */
	RAISE(&f, ANON_BASE + 40 * SZ_4K, 42, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 42, USVA_PAGE_RESP_SUCCESS);
	/* All in one burst. */
	RAISE(&f, ANON_BASE + 50 * SZ_4K, 43, RW, false);
	RAISE(&f, ANON_BASE + 51 * SZ_4K, 43, RW, false);
	RAISE(&f, ANON_BASE + 52 * SZ_4K, 43, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 43, USVA_PAGE_RESP_SUCCESS);
	for (int i = 50; i <= 52; i++)
		EXPECT_PAGE(&f, ANON_BASE + i * SZ_4K, RW, NULL, SZ_4K);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_group_worst_code)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	/* The middle page is out of range: one INVALID for the group. */
	RAISE(&f, ANON_BASE, 6, RW, false);
	RAISE(&f, ANON_BASE + 16 * SZ_4K, 6, RW, false);
	RAISE(&f, ANON_BASE + SZ_4K, 6, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 6, USVA_PAGE_RESP_INVALID);
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.out_of_range, 1, "out_of_range");
	TEST_ASSERT_EQ_GOTO(st.groups, 1, "groups");
	TEST_ASSERT_EQ_GOTO(st.resp_invalid, 1, "resp_invalid");
	TEST_ASSERT_EQ_GOTO(st.resp_success, 0, "resp_success");
	/* The bad page first, the last page good: still INVALID. */
	RAISE(&f, ANON_BASE - SZ_4K, 7, RW, false);
	RAISE(&f, ANON_BASE + 2 * SZ_4K, 7, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 7, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).out_of_range, 2, "out_of_range");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_group_interleaved)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	/* A and B interleave; B ends first; A has a bad page. */
	RAISE(&f, ANON_BASE, 100, RW, false);		/* A */
	RAISE(&f, ANON_BASE + SZ_4K, 200, RW, false);	/* B */
	RAISE(&f, ANON_BASE + 99 * SZ_4K, 100, RW, false); /* A, bad */
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	RAISE(&f, ANON_BASE + 2 * SZ_4K, 200, RW, true);	/* B last */
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 200, USVA_PAGE_RESP_SUCCESS);
	RAISE(&f, ANON_BASE + 3 * SZ_4K, 100, RW, true);	/* A last */
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 100, USVA_PAGE_RESP_INVALID);
	/* Same group index on two PASIDs is two groups. */
	{
		uint32_t p2 = 0;
		struct usva_pasid_owner *o = f.owner;

		TEST_ASSERT_OK_GOTO(usva_pasid_alloc(o, &p2));
		TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, p2, f.dom));
		/* p2 has no handler: INVALID; f.pasid's group SUCCESS. */
		TEST_ASSERT_EQ_GOTO(raise_pasid(&f, p2, ANON_BASE + 5 * SZ_4K,
						300, RW, false), 0, "raise");
		RAISE(&f, ANON_BASE + 6 * SZ_4K, 300, RW, false);
		TEST_ASSERT_EQ_GOTO(raise_pasid(&f, p2, ANON_BASE + 7 * SZ_4K,
						300, RW, true), 0, "raise");
		RAISE(&f, ANON_BASE + 8 * SZ_4K, 300, RW, true);
		n = collect(&f, r, MAX_RESP, 2, 1000);
		usva_iommu_detach(f.dev, p2);
		usva_pasid_free(o, p2);
		TEST_ASSERT_EQ_GOTO(n, 2, "responses");
		EXPECT_RESP(r, n, f.pasid, 300, USVA_PAGE_RESP_SUCCESS);
		EXPECT_RESP(r, n, p2, 300, USVA_PAGE_RESP_INVALID);
	}
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_already_present)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct fx f;
	uint8_t expect[SZ_4K];
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_pool(&f, 12, 16));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));

	RAISE(&f, ANON_BASE, 1, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_SUCCESS);
	memset(expect, 0, sizeof(expect));
	memcpy(expect, "keep me", 7);
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_write(f.dev, f.pasid, ANON_BASE,
					       "keep me", 7, NULL), 7, "write");
	/* The same page again (a race lost to another group, say). */
	RAISE(&f, ANON_BASE, 2, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_SUCCESS);
	EXPECT_PAGE(&f, ANON_BASE, RW, expect, SZ_4K);
	/* Twice in one group, and a group of a present and a new page. */
	RAISE(&f, ANON_BASE + SZ_4K, 3, RW, false);
	RAISE(&f, ANON_BASE + SZ_4K, 3, RW, true);
	RAISE(&f, ANON_BASE, 4, RW, false);
	RAISE(&f, ANON_BASE + 2 * SZ_4K, 4, RW, true);
	n = collect(&f, r, MAX_RESP, 2, 1000);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_SUCCESS);
	EXPECT_RESP(r, n, f.pasid, 4, USVA_PAGE_RESP_SUCCESS);
	EXPECT_PAGE(&f, ANON_BASE, RW, expect, SZ_4K);
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.already_present, 3, "already_present");
	TEST_ASSERT_EQ_GOTO(pool_in_use(f.pool), 3, "pages taken");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_group_slots_full)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct cb_ctx c;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 2));
	FX_OK(fx_callback(&f, &c, CB_ASYNC));
	FX_OK(fx_register(&f, f.pager));
	/* Two groups hold the two slots; the third has none: INVALID now. */
	RAISE(&f, CB_BASE, 1, RW, true);
	RAISE(&f, CB_BASE + SZ_4K, 2, RW, true);
	RAISE(&f, CB_BASE + 2 * SZ_4K, 3, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).group_overflow, 1, "group_overflow");
	TEST_ASSERT_EQ_GOTO(c.calls, 2, "callback calls");
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[0], -EIO));
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[1], -EIO));
	n = collect(&f, r, MAX_RESP, 2, 1000);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_INVALID);
	/* Slots free again. */
	c.mode = CB_ERROR;
	RAISE(&f, CB_BASE + 3 * SZ_4K, 4, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 4, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).group_overflow, 1, "group_overflow");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== bad cases ========================================================== */

USVA_TEST(fast, fault_no_handler)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	RAISE(&f, ANON_BASE, 1, RW, false);
	RAISE(&f, ANON_BASE + SZ_4K, 1, RW, true);
	RAISE(&f, ANON_BASE, 2, USVA_ACCESS_READ, true);
	n = collect(&f, r, MAX_RESP, 2, 1000);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_INVALID);
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.no_handler, 3, "no_handler (per request)");
	TEST_ASSERT_EQ_GOTO(st.groups, 2, "groups");
	TEST_ASSERT_EQ_GOTO(st.resp_invalid, 2, "resp_invalid");
	TEST_ASSERT_GOTO(not_mapped(&f, ANON_BASE), out, "mapped");
	/* A PASID allocated but not attached: the IOMMU does not queue its
	 * requests (nothing to answer). */
	{
		uint32_t other = 0;
		int rc;

		TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f.owner, &other));
		rc = raise_pasid(&f, other, ANON_BASE, 5, RW, true);
		usva_pasid_free(f.owner, other);
		TEST_ASSERT_EQ_GOTO(rc, -EINVAL, "request of an unattached PASID");
		TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0,
				    "answer for a request never queued");
	}
	/* A handler registered later serves the next request. */
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));
	RAISE(&f, ANON_BASE, 3, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_SUCCESS);
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).no_handler, 3, "no_handler");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_out_of_range)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, 16 * SZ_4K));
	FX_OK(fx_register(&f, f.pager));
	RAISE(&f, ANON_BASE - SZ_4K, 1, RW, true);		/* below */
	RAISE(&f, ANON_BASE + 16 * SZ_4K, 2, RW, true);	/* just past */
	RAISE(&f, ANON_BASE + 16 * SZ_4K - 1, 3, RW, true); /* last byte */
	RAISE(&f, 0x7ffffffff000, 4, RW, true);		/* far */
	n = collect(&f, r, MAX_RESP, 4, 1000);
	TEST_ASSERT_EQ_GOTO(n, 4, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_INVALID);
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_SUCCESS);
	EXPECT_RESP(r, n, f.pasid, 4, USVA_PAGE_RESP_INVALID);
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.out_of_range, 3, "out_of_range");
	TEST_ASSERT_EQ_GOTO(st.resp_invalid, 3, "resp_invalid");
	TEST_ASSERT_GOTO(not_mapped(&f, ANON_BASE - SZ_4K) &&
			 not_mapped(&f, ANON_BASE + 16 * SZ_4K), out,
			 "out-of-range pages mapped");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_unregister_pending)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct cb_ctx c;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_callback(&f, &c, CB_ASYNC));
	FX_OK(fx_register(&f, f.pager));
	/* Two complete groups pending, one group still missing its last. */
	RAISE(&f, CB_BASE, 1, RW, true);
	RAISE(&f, CB_BASE + SZ_4K, 2, RW, false);
	RAISE(&f, CB_BASE + 2 * SZ_4K, 2, RW, true);
	RAISE(&f, CB_BASE + 3 * SZ_4K, 3, RW, false);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	TEST_ASSERT_EQ_GOTO(c.calls, 4, "callback calls");
	/* Unregister answers the pending groups at once, without a poll. */
	usva_fault_unregister(f.h);
	f.h = NULL;
	n = take(&f, r, MAX_RESP);
	TEST_ASSERT_GOTO(n >= 2, out, "unregister left groups unanswered (%u)",
			 n);
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_INVALID);
	st = fx_stats(&f);
	TEST_ASSERT_GOTO(st.unregister_flushed >= 2, out,
			 "unregister_flushed %" PRIu64, st.unregister_flushed);
	/* Group 3 had no last request yet; its last comes now, with no
	 * handler: one INVALID in all for group 3. */
	RAISE(&f, CB_BASE + 4 * SZ_4K, 3, RW, true);
	n += collect(&f, r + n, MAX_RESP - n, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 3, "responses");
	EXPECT_RESP(r, n, f.pasid, 3, USVA_PAGE_RESP_INVALID);
	/* Completions arriving later are stale. */
	for (unsigned int i = 0; i < 4; i++)
		TEST_ASSERT_ERR_GOTO(usva_fault_complete(c.tok[i], 0), ESTALE);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "extra");
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.stale_completions, 4, "stale_completions");
	TEST_ASSERT_EQ_GOTO(st.resp_success, 0, "resp_success");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_reregister_stale)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_token old;
	struct cb_ctx c;
	struct fx f;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_callback(&f, &c, CB_ASYNC));
	FX_OK(fx_register(&f, f.pager));
	RAISE(&f, CB_BASE, 8, RW, true);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	old = c.tok[0];
	usva_fault_unregister(f.h);
	f.h = NULL;
	n = take(&f, r, MAX_RESP);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses at unregister");
	EXPECT_RESP(r, n, f.pasid, 8, USVA_PAGE_RESP_INVALID);

	/* A new life: same (dev, pasid), same group index, same page. */
	FX_OK(fx_register(&f, f.pager));
	RAISE(&f, CB_BASE, 8, RW, true);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	TEST_ASSERT_EQ_GOTO(c.calls, 2, "callback calls");
	TEST_ASSERT_GOTO(memcmp(&old, &c.tok[1], sizeof(old)) != 0, out,
			 "the new life reuses the old token");
	/* The old completion must not answer the new group. */
	TEST_ASSERT_OK_GOTO(cb_map(&c, f.as, CB_BASE));
	TEST_ASSERT_ERR_GOTO(usva_fault_complete(old, 0), ESTALE);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0,
			    "an old completion answered the new group");
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).stale_completions, 1,
			    "stale_completions");
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[1], 0));
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 8, USVA_PAGE_RESP_SUCCESS);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

USVA_TEST(fast, fault_timeout)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_fault_stats st;
	struct cb_ctx c;
	struct fx f;
	uint64_t t0, dt;
	unsigned int n;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 20000, 0));	/* 20 ms */
	FX_OK(fx_callback(&f, &c, CB_ASYNC));
	FX_OK(fx_register(&f, f.pager));
	t0 = app_now_ns();
	RAISE(&f, CB_BASE, 1, RW, false);
	RAISE(&f, CB_BASE + SZ_4K, 1, RW, true);
	n = collect(&f, r, MAX_RESP, 1, 2000);
	dt = app_now_ns() - t0;
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 1, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_GOTO(dt >= 20000000, out, "answered after %" PRIu64
			 " ns, before the timeout", dt);
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.timeouts, 1, "timeouts");
	/* The late completion is ignored. */
	TEST_ASSERT_ERR_GOTO(usva_fault_complete(c.tok[0], 0), ESTALE);
	TEST_ASSERT_ERR_GOTO(usva_fault_complete(c.tok[1], -EIO), ESTALE);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "extra");
	st = fx_stats(&f);
	TEST_ASSERT_EQ_GOTO(st.stale_completions, 2, "stale_completions");
	TEST_ASSERT_EQ_GOTO(st.groups, 1, "groups");
	/* A group completed in time is not timed out. */
	c.calls = 0;
	RAISE(&f, CB_BASE + 2 * SZ_4K, 2, RW, true);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	TEST_ASSERT_OK_GOTO(cb_map(&c, f.as, CB_BASE + 2 * SZ_4K));
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[0], 0));
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, f.pasid, 2, USVA_PAGE_RESP_SUCCESS);
	rte_delay_us_sleep(30000);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "extra");
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).timeouts, 1, "timeouts");
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/*
 * A flood: 1000 requests in groups of 4 into a 16-entry queue, polled only
 * now and then. Every group is answered exactly once, by the service or by
 * the IOMMU's automatic answer to a last request that found the queue full
 * (VT-d's auto-response, SUCCESS: the device retries); overflow is
 * counted; the service allocates nothing meanwhile and keeps answering.
 */
USVA_TEST(fast, fault_flood)
{
	enum { NREQ = 1000, PER_GROUP = 4, NGROUPS = NREQ / PER_GROUP };
	struct usva_emu_prg_resp *r = NULL;
	struct usva_iommu_stats is0, is;
	struct usva_fault_stats st;
	struct usva_page_pool_stats ps0, ps;
	uint8_t auto_answered[NGROUPS] = { 0 };
	uint16_t answers[NGROUPS] = { 0 };
	unsigned int overflow = 0, got = 0, bad = 0, dup = 0;
	int64_t live;
	uint64_t end;
	struct fx f;
	int rc, ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	r = calloc(2 * NGROUPS, sizeof(*r));
	TEST_ASSERT(r != NULL, "calloc");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=16", 4096));
	FX_OK(fx_pool(&f, 12, NREQ + 64));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, NREQ * SZ_4K));
	FX_OK(fx_register(&f, f.pager));
	usva_iommu_stats(f.iommu, &is0);
	usva_page_pool_stats(f.pool, &ps0);
	live = usva_alloc_outstanding();

	for (uint32_t i = 0; i < NREQ; i++) {
		uint32_t g = i / PER_GROUP;
		bool last = i % PER_GROUP == PER_GROUP - 1;

		rc = fx_raise(&f, ANON_BASE + i * SZ_4K, g, RW, last);
		TEST_ASSERT_GOTO(rc == 0 || rc == 1, out, "request %u: %d", i, rc);
		if (rc == 1) {
			overflow++;
			if (last)
				auto_answered[g] = 1;
		}
		if (i % 37 == 36)
			fx_poll(&f);
		if (i % 101 == 100) {
			int n = usva_emu_dev_responses(f.dev, r + got,
						       2 * NGROUPS - got);

			got += n > 0 ? n : 0;
		}
		if (i == NREQ / 2)
			TEST_ASSERT_EQ_GOTO(usva_alloc_outstanding(), live,
					    "allocations during the flood");
	}
	/* Drain. */
	end = app_now_ns() + 2000000000ull;
	for (;;) {
		int n;

		fx_poll(&f);
		n = usva_emu_dev_responses(f.dev, r + got, 2 * NGROUPS - got);
		got += n > 0 ? n : 0;
		if (usva_emu_outstanding_groups(f.iommu) == 0 &&
		    usva_fault_service_poll(f.svc, 0) == 0 && n <= 0)
			break;
		if (app_now_ns() > end)
			break;
	}
	got += collect(&f, r + got, 2 * NGROUPS - got, 0, 0);
	TEST_ASSERT_GOTO(overflow > 0, out, "the queue never overflowed");
	for (unsigned int i = 0; i < got; i++) {
		if (r[i].pasid != f.pasid || r[i].grpid >= NGROUPS) {
			bad++;
			continue;
		}
		answers[r[i].grpid]++;
		if (r[i].code != USVA_PAGE_RESP_SUCCESS ||
		    r[i].private_data[0] != PD0(r[i].grpid))
			bad++;
	}
	{
		unsigned int lost = 0, auto_n = 0;

		/* The IOMMU's automatic answers reach the device like the
		 * service's: exactly one response per group either way. */
		for (unsigned int g = 0; g < NGROUPS; g++) {
			auto_n += auto_answered[g];
			if (answers[g] == 0)
				lost++;
			if (answers[g] > 1)
				dup++;
		}
		printf("    %u requests overflowed, %u groups auto-answered, "
		       "%u responses\n", overflow, auto_n, got);
		TEST_ASSERT_EQ_GOTO(lost, 0, "groups without an answer");
		TEST_ASSERT_EQ_GOTO(dup, 0, "groups answered twice");
		TEST_ASSERT_EQ_GOTO(got, NGROUPS, "responses");
		TEST_ASSERT_EQ_GOTO(bad, 0, "bad responses");
		/*
		 * The service saw what was queued, less the earlier requests
		 * of groups whose last request overflowed (the IOMMU drops
		 * those once it has answered their group). A group of which
		 * the service had already polled some requests stays open in
		 * the service until it times out; its late answer is dropped
		 * by the IOMMU.
		 */
		st = fx_stats(&f);
		TEST_ASSERT_GOTO(st.requests <= NREQ - overflow, out,
				 "service saw %" PRIu64 " requests, %u queued",
				 st.requests, NREQ - overflow);
		TEST_ASSERT_GOTO(st.groups <= NGROUPS - auto_n, out,
				 "service answered %" PRIu64 " groups, %u left "
				 "to it", st.groups, NGROUPS - auto_n);
		TEST_ASSERT_EQ_GOTO(st.resp_invalid + st.resp_failure, 0,
				    "errors");
	}
	usva_iommu_stats(f.iommu, &is);
	TEST_ASSERT_EQ_GOTO(is.prq_overflow - is0.prq_overflow, overflow,
			    "overflow counted");
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 0,
			    "outstanding groups");
	TEST_ASSERT_EQ_GOTO(usva_alloc_outstanding(), live, "allocations grew");
	usva_page_pool_stats(f.pool, &ps);
	TEST_ASSERT_EQ_GOTO(ps.in_use - ps0.in_use, st.requests,
			    "one page per request that reached the service");
	/* The service still answers. */
	RAISE(&f, ANON_BASE, 400, RW, true);
	got = collect(&f, r, 2 * NGROUPS, 1, 1000);
	TEST_ASSERT_EQ_GOTO(got, 1, "responses after the flood");
	EXPECT_RESP(r, got, f.pasid, 400, USVA_PAGE_RESP_SUCCESS);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	free(r);
	return ret;
}

USVA_TEST(fast, fault_pasid_detach)
{
	struct usva_emu_prg_resp r[MAX_RESP];
	struct usva_iommu_stats is;
	struct usva_fault_token old;
	struct cb_ctx c;
	struct fx f;
	unsigned int n, calls;
	uint32_t pasid;
	int ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	memset(&c, 0, sizeof(c));
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_callback(&f, &c, CB_ASYNC));
	FX_OK(fx_register(&f, f.pager));
	pasid = f.pasid;
	/* Group 1 pending in the service; group 2 still in the queue. */
	RAISE(&f, CB_BASE, 1, RW, true);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	RAISE(&f, CB_BASE + SZ_4K, 2, RW, true);
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 2,
			    "outstanding groups");
	TEST_ASSERT_OK_GOTO(usva_iommu_detach(f.dev, pasid));
	f.attached = false;
	/* The backend answers both, without the service. */
	n = take(&f, r, MAX_RESP);
	TEST_ASSERT_EQ_GOTO(n, 2, "responses at detach");
	EXPECT_RESP(r, n, pasid, 1, USVA_PAGE_RESP_INVALID);
	EXPECT_RESP(r, n, pasid, 2, USVA_PAGE_RESP_INVALID);
	TEST_ASSERT_EQ_GOTO(usva_emu_outstanding_groups(f.iommu), 0,
			    "outstanding groups");
	/* The service's own answers come later and reach no one. */
	old = c.tok[0];
	usva_fault_complete(c.tok[0], -EIO);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "second answer");
	calls = c.calls;
	for (unsigned int i = 1; i < calls && i < CB_MAX; i++)
		usva_fault_complete(c.tok[i], -EIO);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "second answer");
	usva_fault_unregister(f.h);
	f.h = NULL;
	TEST_ASSERT_EQ_GOTO(take(&f, r, MAX_RESP), 0, "answer at unregister");
	usva_iommu_stats(f.iommu, &is);
	printf("    %" PRIu64 " late responses dropped by the IOMMU\n",
	       is.responses_dropped);

	/* The PASID is freed and allocated again: an old completion must not
	 * answer the new life's group of the same index. */
	TEST_ASSERT_OK_GOTO(usva_pasid_free(f.owner, pasid));
	f.pasid = 0;
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(f.owner, pasid));
	f.pasid = pasid;
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, pasid, f.dom));
	f.attached = true;
	FX_OK(fx_register(&f, f.pager));
	c.calls = 0;
	RAISE(&f, CB_BASE + 2 * SZ_4K, 1, RW, true);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0, "early");
	TEST_ASSERT_EQ_GOTO(c.calls, 1, "callback calls");
	TEST_ASSERT_ERR_GOTO(usva_fault_complete(old, -EIO), ESTALE);
	TEST_ASSERT_EQ_GOTO(collect(&f, r, MAX_RESP, 0, 0), 0,
			    "a completion of the PASID's earlier life answered "
			    "the new group");
	TEST_ASSERT_OK_GOTO(cb_map(&c, f.as, CB_BASE + 2 * SZ_4K));
	TEST_ASSERT_OK_GOTO(usva_fault_complete(c.tok[0], 0));
	n = collect(&f, r, MAX_RESP, 1, 1000);
	TEST_ASSERT_EQ_GOTO(n, 1, "responses");
	EXPECT_RESP(r, n, pasid, 1, USVA_PAGE_RESP_SUCCESS);
	ret = TEST_SUCCESS;
out:
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

struct ev_sink {
	unsigned int calls;
	struct usva_iommu *iommu;
	struct usva_iommu_event ev;
};

static void
ev_cb(void *arg, struct usva_iommu *iommu, const struct usva_iommu_event *ev)
{
	struct ev_sink *s = arg;

	if (s->calls++ == 0) {
		s->iommu = iommu;
		s->ev = *ev;
	}
}

USVA_TEST(fast, fault_event_unrecoverable)
{
	struct usva_emu_dma_fault df;
	struct ev_sink sink = { 0 };
	struct usva_iommu_event ev;
	struct fx f;
	struct pollfd pfd;
	uint32_t other = 0;
	uint8_t buf[64];
	int fd, ret = TEST_FAILED;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=64", 32));
	FX_OK(fx_service(&f, 0, 0));
	TEST_ASSERT_OK_GOTO(usva_fault_set_event_cb(f.svc, ev_cb, &sink));
	fd = usva_iommu_event_fd(f.iommu);
	TEST_ASSERT_GOTO(fd >= 0, out, "event fd %d", fd);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	TEST_ASSERT_EQ_GOTO(poll(&pfd, 1, 0), 0, "readable before any event");

	/* DMA with a PASID allocated but not attached. */
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f.owner, &other));
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_read(f.dev, other, ANON_BASE + 0x40,
					      buf, sizeof(buf), &df), 0,
			    "DMA with an unattached PASID");
	TEST_ASSERT_EQ_GOTO(df.reason, USVA_EMU_BAD_PASID, "reason");
	TEST_ASSERT_EQ_GOTO(poll(&pfd, 1, 0), 1, "event fd not readable");
	TEST_ASSERT_GOTO(pfd.revents & POLLIN, out, "revents 0x%x", pfd.revents);
	/* The service delivers it to the callback. */
	fx_poll(&f);
	fx_poll(&f);
	TEST_ASSERT_EQ_GOTO(sink.calls, 1, "event callback calls");
	TEST_ASSERT_GOTO(sink.iommu == f.iommu, out, "event iommu");
	TEST_ASSERT_EQ_GOTO(sink.ev.type, USVA_EVENT_BAD_PASID, "event type");
	TEST_ASSERT_EQ_GOTO(sink.ev.pasid, other, "event pasid");
	TEST_ASSERT_EQ_GOTO(sink.ev.dev_id, f.dev_id, "event dev_id");
	TEST_ASSERT_EQ_GOTO(sink.ev.addr, ANON_BASE + 0x40, "event addr");
	TEST_ASSERT_EQ_GOTO(fx_stats(&f).events, 1, "events");
	/* Taken by the service: not read twice. */
	TEST_ASSERT_EQ_GOTO(usva_iommu_events_read(f.iommu, &ev, 1), 0,
			    "event left in the ring");
	/* A device without PRI faulting on a missing page is one too. */
	{
		struct usva_iommu_dev *np = NULL;
		struct usva_dev_config dcfg = {
			.size = sizeof(dcfg), .name = "no-pri", .pasid_width = 20,
		};

		TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(f.iommu, &dcfg, &np));
		if (usva_iommu_attach(np, f.pasid, f.dom) == 0) {
			int64_t rd = usva_emu_dma_read(np, f.pasid, ANON_BASE,
						       buf, 8, &df);

			fx_poll(&f);
			usva_iommu_detach(np, f.pasid);
			usva_iommu_dev_close(np);
			TEST_ASSERT_EQ_GOTO(rd, 0, "read of a missing page");
			TEST_ASSERT_EQ_GOTO(sink.calls, 2, "event callback calls");
			TEST_ASSERT_EQ_GOTO(fx_stats(&f).events, 2, "events");
		} else {
			usva_iommu_dev_close(np);
		}
	}
	/* No callback: the application reads the ring itself. */
	TEST_ASSERT_OK_GOTO(usva_fault_set_event_cb(f.svc, NULL, NULL));
	ret = TEST_SUCCESS;
out:
	if (other != 0)
		usva_pasid_free(f.owner, other);
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	return ret;
}

/* ==== perf ================================================================= */

/*
 * Pre-filled queue, anon pager, 4 KiB pages, each request its own group:
 * the service's cost alone. Polled from the main lcore and run on the
 * worker lcore (dedicated); prints the rates. app/usva-fault-perf is the
 * full benchmark.
 */
static int
perf_round(bool dedicated, double *rate)
{
	enum { NPASID = 64, NREQ = NPASID * 512 };
	struct usva_emu_prg_resp *r = NULL;
	struct usva_domain *dom[NPASID] = { NULL };
	struct usva_as *as[NPASID] = { NULL };
	struct usva_fault_handler *h[NPASID] = { NULL };
	uint32_t pasid[NPASID] = { 0 };
	struct fx f;
	uint64_t t0, t1;
	unsigned int got = 0;
	int ret = TEST_FAILED;

	r = calloc(NREQ, sizeof(*r));
	TEST_ASSERT(r != NULL, "calloc");
	FX_OK(fx_open(&f, "flavour=vtd,prq_depth=32768", NREQ));
	FX_OK(fx_pool(&f, 12, NREQ + 64));
	FX_OK(fx_service(&f, 0, 0));
	FX_OK(fx_anon(&f, ANON_BASE, (uint64_t)NREQ * SZ_4K));
	for (unsigned int p = 0; p < NPASID; p++) {
		TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f.owner, &pasid[p]));
		TEST_ASSERT_OK_GOTO(usva_as_create(&(struct usva_as_config){
			.size = sizeof(struct usva_as_config),
			.format = USVA_PGFMT_X86_FS, .va_bits = 48 }, &as[p]));
		TEST_ASSERT_OK_GOTO(usva_domain_create(f.iommu,
			&(struct usva_domain_config){
			.size = sizeof(struct usva_domain_config), .as = as[p] },
			&dom[p]));
		TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, pasid[p], dom[p]));
		TEST_ASSERT_OK_GOTO(usva_fault_register(f.svc,
			&(struct usva_fault_handler_config){
			.size = sizeof(struct usva_fault_handler_config),
			.dev = f.dev, .as = as[p], .pager = f.pager,
			.pasid = pasid[p] }, &h[p]));
	}
	for (unsigned int p = 0; p < NPASID; p++)
		for (uint32_t j = 0; j < 512; j++)
			TEST_ASSERT_EQ_GOTO(raise_pasid(&f, pasid[p], ANON_BASE +
					    ((uint64_t)p * 512 + j) * SZ_4K, j,
					    RW, true), 0, "pre-fill");
	t0 = app_now_ns();
	if (dedicated) {
		TEST_ASSERT_OK_GOTO(usva_fault_service_start(f.svc));
		f.started = true;
		while (usva_emu_outstanding_groups(f.iommu) != 0 &&
		       app_now_ns() - t0 < 10000000000ull)
			rte_delay_us_sleep(10);
	} else {
		while (usva_emu_outstanding_groups(f.iommu) != 0 &&
		       app_now_ns() - t0 < 10000000000ull)
			usva_fault_service_poll(f.svc, 0);
	}
	t1 = app_now_ns();
	if (f.started) {
		usva_fault_service_stop(f.svc);
		f.started = false;
	}
	*rate = NREQ * 1e9 / (double)(t1 - t0);
	got = take(&f, r, NREQ);
	TEST_ASSERT_EQ_GOTO(got, NREQ, "responses");
	for (unsigned int i = 0; i < got; i++)
		TEST_ASSERT_GOTO(r[i].code == USVA_PAGE_RESP_SUCCESS, out,
				 "response %u: code %u", i, r[i].code);
	ret = TEST_SUCCESS;
out:
	for (unsigned int p = 0; p < NPASID; p++) {
		usva_fault_unregister(h[p]);
		if (pasid[p] != 0 && dom[p] != NULL)
			usva_iommu_detach(f.dev, pasid[p]);
		usva_domain_destroy(dom[p]);
		usva_as_destroy(as[p]);
		if (pasid[p] != 0)
			usva_pasid_free(f.owner, pasid[p]);
	}
	if (fx_close(&f) != TEST_SUCCESS)
		ret = TEST_FAILED;
	free(r);
	return ret;
}

USVA_TEST(perf, fault_rate_prefilled)
{
	double polled = 0, dedicated = 0;

	if (worker_lcore() >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	TEST_ASSERT(perf_round(false, &polled) == TEST_SUCCESS, "polled run");
	TEST_ASSERT(perf_round(true, &dedicated) == TEST_SUCCESS,
		    "dedicated run");
	printf("    32768 pre-filled faults, anon 4 KiB: %.2f M faults/s polled "
	       "from the main lcore, %.2f M faults/s on a dedicated lcore "
	       "(start included)\n",
	       polled / 1e6, dedicated / 1e6);
	return TEST_SUCCESS;
}
