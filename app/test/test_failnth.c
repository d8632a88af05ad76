/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection over every setup and teardown scenario, in one place:
 * backend open, device open, address space create/map/destroy, PASID
 * alloc/attach/detach, fault service create/start/stop, handler register
 * (each pager), batch submit, emu-dma create/configure/vchan_setup/start,
 * and the teardown of a whole stack.
 *
 * Two kinds of injection: the fail-nth hook of lib/core (usva_failnth_set:
 * every usva allocation and every fail point before a backend or EAL call
 * that can fail: eventfds, mmap, mempools, io_uring, /proc reads, stage-2
 * maps, service registration, lcore launches), and failed invalidations of
 * the emu backend (usva_emu_inval_fail_nth, -EIO at the n-th entry).
 *
 * A scenario runs its prerequisites unarmed, then its body armed with
 * n = 1, 2, ... until a pass in which the injected failure did not fire.
 * At every n the body must fail with an -errno (or absorb the failure) and
 * unwind: the prerequisites' teardown then works, and the world is as it
 * was (usva allocations, pool pages, DMA devices, mempools, file
 * descriptors, EAL services, the worker lcore idle). Teardown calls that
 * return an error are retried once after it: a failed teardown call must
 * have changed nothing. Each sweep prints its failure points.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_service.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_dma.h"
#include "usva_emu.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "test.h"
#include "test_rows.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)
#define U64(p)	((uint64_t)(uintptr_t)(p))
#define RW	(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)
#define S2_RW	(USVA_S2_READ | USVA_S2_WRITE)

/* A body's verdict when an invariant broke (not an -errno). */
#define BROKEN	(-100000)
/* Passes a sweep may take before it is called endless. */
#define MAX_N	4000

static unsigned int points_total;
/* The n the sweep armed (for a body that re-arms after building). */
static uint32_t fn_armed_n;

static unsigned int
worker_lcore(void)
{
	return rte_get_next_lcore(-1, 1, 0);
}

/* ---- prerequisites -------------------------------------------------------- */

struct fn {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;	/* PRI | ATS, 20 PASID bits */
	struct usva_pasid_owner *owner;
	uint32_t pasid[2];
	struct usva_as *as;		/* maps VA0 -> arena */
	struct usva_domain *dom;
	bool attached;
	bool s2;
	struct usva_page_pool *pool;	/* the pagers' pool */
	struct usva_fault_service *svc;	/* service-core mode, not started */
	uint8_t *arena;			/* 64 KiB, stage-2 mapped */
	int fd;				/* 64 KiB file */
	char path[64];
};

#define VA0		UINT64_C(0x10000000)
#define ARENA_LEN	(16 * SZ_4K)

static void
snap_fn(void *arg, uint64_t x[ROWS_EXTRA])
{
	struct fn *f = arg;
	struct usva_page_pool_stats ps;
	struct usva_pasid_space_stats ss;
	struct usva_dev_info di = { .size = sizeof(di) };
	unsigned int w = worker_lcore();

	x[0] = rte_service_get_count();
	x[1] = w < RTE_MAX_LCORE ? (uint64_t)rte_eal_get_lcore_state(w) : 0;
	if (f == NULL)
		return;
	if (f->pool != NULL) {
		usva_page_pool_stats(f->pool, &ps);
		x[2] = ps.in_use;
	}
	if (f->iommu != NULL) {
		usva_pasid_space_stats(usva_iommu_pasids(f->iommu), &ss);
		x[3] = ss.allocated;
		x[4] = ss.attached;
		x[5] = usva_emu_outstanding_groups(f->iommu);
	}
	if (f->dev != NULL && usva_iommu_dev_info(f->dev, &di) == 0)
		x[6] = di.attached;
	if (f->owner != NULL)
		x[7] = usva_pasid_owner_count(f->owner);
}

static void
fn_close(struct fn *f)
{
	if (f->svc != NULL)
		usva_fault_service_destroy(f->svc);
	if (f->attached)
		usva_iommu_detach(f->dev, f->pasid[0]);
	usva_domain_destroy(f->dom);
	usva_as_destroy(f->as);
	usva_iommu_dev_close(f->dev);
	usva_pasid_owner_destroy(f->owner);
	if (f->s2)
		usva_iommu_s2_unmap(f->iommu, U64(f->arena), ARENA_LEN, NULL);
	usva_iommu_close(f->iommu);
	usva_page_pool_destroy(f->pool);
	if (f->fd >= 0)
		close(f->fd);
	free(f->arena);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* What the bodies need, made without injection. */
static int
fn_open(struct fn *f, bool with_svc)
{
	struct usva_iommu_config ic = {
		.size = sizeof(ic), .backend = "emu",
		.params = "flavour=vtd,aw=48,pasid_width=8,prq_depth=64",
	};
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "fn-dev", .pasid_width = 20,
		.flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS,
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config domc = { .size = sizeof(domc) };
	struct usva_page_pool_config pc = {
		.size = sizeof(pc), .page_shift = 12, .nr_pages = 64,
		.numa_node = -1,
	};
	struct usva_fault_config sc = {
		.size = sizeof(sc), .flags = USVA_FAULT_F_SERVICE_CORES,
		.nr_lcores = 1,
	};

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->arena = aligned_alloc(SZ_4K, ARENA_LEN);
	TEST_ASSERT_GOTO(f->arena != NULL, out, "no memory");
	memset(f->arena, 0x3c, ARENA_LEN);
	snprintf(f->path, sizeof(f->path), "/tmp/usva-failnth-XXXXXX");
	f->fd = mkstemp(f->path);
	TEST_ASSERT_GOTO(f->fd >= 0, out, "mkstemp");
	unlink(f->path);
	TEST_ASSERT_GOTO(ftruncate(f->fd, ARENA_LEN) == 0, out, "ftruncate");
	TEST_ASSERT_OK_GOTO(usva_page_pool_create(&pc, &f->pool));
	TEST_ASSERT_OK_GOTO(usva_iommu_open(&ic, &f->iommu));
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(f->iommu, U64(f->arena), f->arena,
					      ARENA_LEN, S2_RW));
	f->s2 = true;
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(f->iommu, &dc, &f->dev));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(usva_iommu_pasids(f->iommu),
						    0, &f->owner));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f->owner, &f->pasid[0]));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f->owner, &f->pasid[1]));
	TEST_ASSERT_OK_GOTO(usva_as_create(&ac, &f->as));
	TEST_ASSERT_OK_GOTO(usva_as_map(f->as, VA0, U64(f->arena), ARENA_LEN,
					RW, 0));
	domc.as = f->as;
	TEST_ASSERT_OK_GOTO(usva_domain_create(f->iommu, &domc, &f->dom));
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f->dev, f->pasid[0], f->dom));
	f->attached = true;
	if (with_svc) {
		TEST_ASSERT_OK_GOTO(usva_fault_service_create(&sc, &f->svc));
		TEST_ASSERT_OK_GOTO(usva_fault_service_add_iommu(f->svc, f->iommu));
	}
	return TEST_SUCCESS;
out:
	fn_close(f);
	return TEST_FAILED;
}

/* ---- the sweep ------------------------------------------------------------ */

typedef int (*fn_body)(struct fn *f);

/*
 * A teardown call inside a body: if injection made it fail, it must have
 * changed nothing, so the same call again (the injected failure fires only
 * once) must succeed. Records the first error in `first`.
 */
#define TD(expr)							\
	do {								\
		int td__ = (expr);					\
		if (td__ < 0) {						\
			if (!usva_failnth_fired()) {			\
				printf("    %s: %d without injection\n",	\
				       #expr, td__);			\
				return BROKEN;				\
			}						\
			if (first == 0)					\
				first = td__;				\
			td__ = (expr);					\
			if (td__ < 0) {					\
				printf("    %s: retry after a failure: %d\n", \
				       #expr, td__);			\
				return BROKEN;				\
			}						\
		}							\
	} while (0)

/* A setup step: on failure jump to the unwinding at @p label. */
#define STEP(label, expr)						\
	do {								\
		rc = (expr);						\
		if (rc < 0) {						\
			if (!usva_failnth_fired()) {			\
				printf("    %s: %d without injection\n",	\
				       #expr, rc);			\
				return BROKEN;				\
			}						\
			goto label;					\
		}							\
	} while (0)

/* Unwinding must not fail. */
#define MUST(expr)							\
	do {								\
		int m__ = (expr);					\
		if (m__ != 0) {						\
			printf("    unwinding: %s: %d\n", #expr, m__);	\
			return BROKEN;					\
		}							\
	} while (0)

struct sweep_res {
	unsigned int points;	/* n at which the body failed cleanly */
	unsigned int absorbed;	/* n at which it fired and the body still
				 * succeeded (a fallback) */
	unsigned int hits;	/* fail points in the clean pass */
};

static int
sweep(const char *name, fn_body body, bool with_svc, struct sweep_res *res)
{
	struct rows_world w0, w1;
	struct fn f;
	char why[160];
	int rc;

	memset(res, 0, sizeof(*res));
	rows_world_take(&w0, snap_fn, NULL);
	for (uint32_t n = 1; n <= MAX_N; n++) {
		bool fired;
		uint32_t hits;

		TEST_ASSERT(fn_open(&f, with_svc) == TEST_SUCCESS, "%s: fixture",
			    name);
		fn_armed_n = n;
		usva_failnth_set(n);
		rc = body(&f);
		fired = usva_failnth_fired();
		hits = usva_failnth_hits();
		usva_failnth_set(0);
		fn_close(&f);
		rows_world_take(&w1, snap_fn, NULL);
		TEST_ASSERT(rc != BROKEN, "%s, fail-nth %u: broke", name, n);
		TEST_ASSERT(rc <= 0 && rc > -4096, "%s, fail-nth %u: returned %d",
			    name, n, rc);
		TEST_ASSERT(rows_world_same(&w0, &w1, why, sizeof(why)),
			    "%s, fail-nth %u: %s", name, n, why);
		if (!fired) {
			TEST_ASSERT(rc == 0, "%s, fail-nth %u: %d without "
				    "injection", name, n, rc);
			res->hits = hits;
			break;
		}
		TEST_ASSERT(n < MAX_N, "%s: no clean pass in %u", name, MAX_N);
		if (rc < 0) {
			res->points++;
		} else {
			res->absorbed++;
			if (getenv("USVA_FAILNTH_VERBOSE") != NULL)
				printf("    %s: fail point %u absorbed\n", name, n);
		}
	}
	points_total += res->points + res->absorbed;
	printf("    %-40s %4u failure points swept (%u failed cleanly, %u "
	       "absorbed)\n", name, res->points + res->absorbed, res->points,
	       res->absorbed);
	return TEST_SUCCESS;
}

#define SWEEP(name, body, svc, min)					\
	do {								\
		struct sweep_res r__;					\
		TEST_ASSERT(sweep((name), (body), (svc), &r__) ==	\
			    TEST_SUCCESS, "sweep %s", (name));		\
		TEST_ASSERT(r__.points + r__.absorbed >= (min),		\
			    "%s: only %u failure points", (name),	\
			    r__.points + r__.absorbed);			\
		total__ += r__.points + r__.absorbed;			\
	} while (0)

#define CASE_BEGIN() unsigned int total__ = 0
#define CASE_END(what)							\
	printf("    %s: %u failure points swept in all\n", (what), total__)

/* ---- bodies: setup and teardown scenarios --------------------------------- */

/* A page pool: create, take and give back a page, destroy. */
static int
body_pool(struct fn *f)
{
	struct usva_page_pool_config pc = {
		.size = sizeof(pc), .page_shift = 12, .nr_pages = 32,
		.numa_node = -1, .cache_size = 8, .name = "fn_pool",
	};
	struct usva_page_pool *p = NULL;
	void *pg;
	int rc;

	RTE_SET_USED(f);
	rc = usva_page_pool_create(&pc, &p);
	if (rc < 0)
		return p == NULL ? rc : BROKEN;
	pg = usva_page_alloc(p);
	if (pg == NULL) {
		rc = -ENOMEM;
		if (!usva_failnth_fired())
			rc = BROKEN;
	} else {
		usva_page_free(p, pg, false);
	}
	usva_page_pool_destroy(p);
	return rc;
}

static int
body_open_params(const char *params, uint32_t flags, struct fn *f)
{
	struct usva_iommu_config c = {
		.size = sizeof(c), .flags = flags, .backend = "emu",
		.params = params,
	};
	struct usva_iommu *i = NULL;
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	struct usva_iova_range rg[8];
	uint32_t nr = RTE_DIM(rg);
	uint8_t *buf = f->arena;
	int rc, first = 0;

	rc = usva_iommu_open(&c, &i);
	if (rc < 0)
		return i == NULL ? rc : BROKEN;
	STEP(close, usva_iommu_caps(i, &caps));
	STEP(close, usva_iommu_iova_ranges(i, rg, &nr));
	STEP(close, usva_iommu_event_fd(i));
	STEP(close, usva_iommu_s2_map(i, U64(buf), buf, SZ_4K, S2_RW));
	STEP(unmap0, usva_iommu_s2_map(i, U64(buf) + 2 * SZ_4K, buf + 2 * SZ_4K,
				      2 * SZ_4K, S2_RW));
	TD(usva_iommu_s2_unmap(i, U64(buf) + 2 * SZ_4K, 2 * SZ_4K, NULL));
unmap0:
	if (rc < 0) {
		MUST(usva_iommu_s2_unmap(i, U64(buf), SZ_4K, NULL));
	} else {
		TD(usva_iommu_s2_unmap(i, U64(buf), SZ_4K, NULL));
		rc = 0;
	}
close:
	MUST(usva_iommu_close(i));
	return rc < 0 ? rc : first;
}

static int
body_open_vtd(struct fn *f)
{
	return body_open_params("flavour=vtd,pasid_width=8", USVA_IOMMU_F_STRICT,
				f);
}

static int
body_open_smmu(struct fn *f)
{
	return body_open_params("flavour=smmuv3,pasid_width=8,prq_depth=32", 0, f);
}

/* A backend with a PASID space of the caller's. */
static int
body_open_ext_space(struct fn *f)
{
	struct usva_pasid_space_config sc = { .size = sizeof(sc), .width = 6 };
	struct usva_iommu_config c = {
		.size = sizeof(c), .backend = "emu", .params = "pasid_width=6",
	};
	struct usva_pasid_space *sp = NULL;
	struct usva_iommu *i = NULL;
	int rc;

	RTE_SET_USED(f);
	rc = usva_pasid_space_create(&sc, &sp);
	if (rc < 0)
		return rc;
	c.pasids = sp;
	rc = usva_iommu_open(&c, &i);
	if (rc == 0)
		MUST(usva_iommu_close(i));
	MUST(usva_pasid_space_destroy(sp));
	return rc;
}

/* Devices: PRI + ATS + PASID, and one without PASID or PRI. */
static int
body_dev(struct fn *f)
{
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "fn-dev2", .pasid_width = 16,
		.flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS | USVA_DEV_F_PASID_EXEC,
		.pri_capacity = 16,
	};
	struct usva_dev_info di = { .size = sizeof(di) };
	struct usva_iommu_dev *d1 = NULL, *d2 = NULL;
	int rc;

	STEP(out, usva_iommu_dev_open(f->iommu, &dc, &d1));
	STEP(out, usva_iommu_dev_info(d1, &di));
	dc.flags = 0;
	dc.pasid_width = 0;
	STEP(out, usva_iommu_dev_open(f->iommu, &dc, &d2));
	rc = 0;
out:
	usva_iommu_dev_close(d2);
	usva_iommu_dev_close(d1);
	return rc;
}

/*
 * An address space: create; map 4 KiB pages, a 2 MiB leaf and a range
 * crossing tables; protect (splitting the 2 MiB leaf); unmap part of it
 * (a split), then all; destroy. The pool's pages are checked by the sweep.
 */
static int
body_as(struct fn *f)
{
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
		.table_pool = f->pool,
	};
	struct usva_as_stats st;
	struct usva_as *as = NULL;
	const uint64_t oa = UINT64_C(0x80000000);
	uint64_t un;
	int rc, first = 0;

	rc = usva_as_create(&ac, &as);
	if (rc < 0)
		return as == NULL ? rc : BROKEN;
	STEP(out, usva_as_map(as, SZ_1G, oa, 3 * SZ_4K, RW, 0));
	STEP(out, usva_as_map(as, SZ_1G + SZ_2M, oa, SZ_2M, RW, 0));
	STEP(out, usva_as_map(as, 2 * SZ_1G - SZ_4K, oa, 2 * SZ_4K, RW, 0));
	STEP(out, usva_as_protect(as, SZ_1G + SZ_2M, SZ_4K, USVA_PROT_READ));
	STEP(out, usva_as_unmap(as, SZ_1G + SZ_2M + SZ_4K, SZ_4K, &un));
	/* Everything mapped goes, in one call. */
	TD(usva_as_unmap(as, SZ_1G, SZ_1G + SZ_4K, &un));
	usva_as_stats(as, &st);
	if (st.mapped_bytes != 0) {
		printf("    %" PRIu64 " bytes still mapped\n", st.mapped_bytes);
		usva_as_destroy(as);
		return BROKEN;
	}
	rc = 0;
out:
	/* A refused step changed nothing: what is mapped is what the steps
	 * before it mapped; destroy frees it all. */
	usva_as_destroy(as);
	return rc < 0 ? rc : first;
}

/*
 * PASIDs: an owner, two PASIDs, two domains of the AS; attach, replace,
 * detach; free; destroy. Each failed step leaves the attachment as it
 * was (the sweep compares the counts).
 */
static int
body_pasid(struct fn *f)
{
	struct usva_domain_config domc = { .size = sizeof(domc), .as = f->as };
	struct usva_pasid_owner *own = NULL;
	struct usva_domain *d1 = NULL, *d2 = NULL;
	uint32_t p1 = 0, p2 = 0;
	bool att1 = false, att2 = false;
	int rc, first = 0;

	STEP(out, usva_pasid_owner_create(usva_iommu_pasids(f->iommu), 4, &own));
	STEP(out, usva_pasid_alloc(own, &p1));
	STEP(out, usva_pasid_alloc(own, &p2));
	STEP(out, usva_domain_create(f->iommu, &domc, &d1));
	STEP(out, usva_domain_create(f->iommu, &domc, &d2));
	STEP(out, usva_iommu_attach(f->dev, p1, d1));
	att1 = true;
	STEP(out, usva_iommu_attach(f->dev, p2, d1));
	att2 = true;
	STEP(out, usva_iommu_replace(f->dev, p1, d2));
	TD(usva_iommu_detach(f->dev, p1));
	att1 = false;
	TD(usva_iommu_detach(f->dev, p2));
	att2 = false;
	TD(usva_pasid_free(own, p1));
	p1 = 0;
	rc = 0;
out:
	if (att1)
		MUST(usva_iommu_detach(f->dev, p1));
	if (att2)
		MUST(usva_iommu_detach(f->dev, p2));
	MUST(usva_domain_destroy(d2));
	MUST(usva_domain_destroy(d1));
	if (own != NULL)
		MUST(usva_pasid_owner_destroy(own));
	return rc < 0 ? rc : first;
}

/* The fault service in service-core mode: create, add, start, stop. */
static int
body_svc_service_cores(struct fn *f)
{
	struct usva_fault_config sc = {
		.size = sizeof(sc), .flags = USVA_FAULT_F_SERVICE_CORES,
		.nr_lcores = 2, .nr_shards = 4,
	};
	struct usva_fault_service *svc = NULL;
	int rc, first = 0;

	rc = usva_fault_service_create(&sc, &svc);
	if (rc < 0)
		return svc == NULL ? rc : BROKEN;
	STEP(out, usva_fault_service_add_iommu(svc, f->iommu));
	STEP(out, usva_fault_service_start(svc));
	TD(usva_fault_service_stop(svc));
	rc = 0;
out:
	usva_fault_service_destroy(svc);
	return rc < 0 ? rc : first;
}

/* The fault service on the worker lcore, in both idle modes. */
static int
body_svc_lcore_mode(struct fn *f, uint32_t flags)
{
	struct usva_fault_config sc = {
		.size = sizeof(sc), .flags = flags, .nr_lcores = 1,
		.lcores = { worker_lcore() },
	};
	struct usva_fault_service *svc = NULL;
	int rc, first = 0;

	rc = usva_fault_service_create(&sc, &svc);
	if (rc < 0)
		return svc == NULL ? rc : BROKEN;
	STEP(out, usva_fault_service_add_iommu(svc, f->iommu));
	STEP(out, usva_fault_service_start(svc));
	TD(usva_fault_service_stop(svc));
	/* Started again after a stop. */
	STEP(out, usva_fault_service_start(svc));
	TD(usva_fault_service_stop(svc));
	rc = 0;
out:
	usva_fault_service_destroy(svc);
	return rc < 0 ? rc : first;
}

static int
body_svc_lcore(struct fn *f)
{
	return body_svc_lcore_mode(f, 0);
}

static int
body_svc_lcore_irq(struct fn *f)
{
	return body_svc_lcore_mode(f, USVA_FAULT_F_INTERRUPT);
}

static int
cb_nop(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
       struct usva_fault_token tok)
{
	RTE_SET_USED(arg);
	RTE_SET_USED(as);
	RTE_SET_USED(addr);
	RTE_SET_USED(perm);
	RTE_SET_USED(tok);
	return -EFAULT;
}

/* Register @p pg at (dev, pasid[0]) and unregister; destroy it. */
static int
register_one(struct fn *f, struct usva_pager *pg)
{
	struct usva_fault_handler_config hc = {
		.size = sizeof(hc), .dev = f->dev, .as = f->as, .pager = pg,
		.pasid = f->pasid[0], .prefetch_pages = 2,
	};
	struct usva_fault_handler *h = NULL;
	int rc;

	rc = usva_fault_register(f->svc, &hc, &h);
	if (rc < 0 && (h != NULL || !usva_failnth_fired()))
		return BROKEN;
	usva_fault_unregister(h);
	MUST(usva_pager_destroy(pg));
	return rc;
}

static int
body_reg_anon(struct fn *f)
{
	struct usva_pager_anon_config ac = {
		.size = sizeof(ac), .pool = f->pool, .base = 4 * SZ_1G,
		.len = 16 * SZ_4K, .iommu = f->iommu,
	};
	struct usva_pager *pg = NULL;
	int rc;

	rc = usva_pager_anon_create(&ac, &pg);
	if (rc < 0)
		return pg == NULL ? rc : BROKEN;
	return register_one(f, pg);
}

static int
body_reg_mirror(struct fn *f)
{
	struct usva_pager_mirror_config mc = {
		.size = sizeof(mc), .iommu = f->iommu, .base = U64(f->arena),
		.len = ARENA_LEN,
	};
	struct usva_pager *pg = NULL;
	int rc;

	rc = usva_pager_mirror_create(&mc, &pg);
	if (rc < 0)
		return pg == NULL ? rc : BROKEN;
	return register_one(f, pg);
}

static int
body_reg_file(struct fn *f)
{
	struct usva_pager_file_config fc = {
		.size = sizeof(fc), .fd = f->fd, .queue_depth = 4,
		.base = 8 * SZ_1G, .len = ARENA_LEN, .pool = f->pool,
		.iommu = f->iommu,
	};
	struct usva_pager *pg = NULL;
	int rc;

	rc = usva_pager_file_create(&fc, &pg);
	if (rc < 0)
		return pg == NULL ? rc : BROKEN;
	return register_one(f, pg);
}

static int
body_reg_callback(struct fn *f)
{
	struct usva_pager *pg = NULL;
	int rc;

	rc = usva_pager_callback_create(cb_nop, NULL, &pg);
	if (rc < 0)
		return pg == NULL ? rc : BROKEN;
	return register_one(f, pg);
}

/*
 * Batch submit: a batch; entries of each granule and a domain range;
 * submit; an unmap and a protect queued into it (table pages held until
 * the submit); reset; destroy.
 */
static int
body_batch(struct fn *f)
{
	struct usva_inval_batch_config bc = { .size = sizeof(bc), .capacity = 16 };
	struct usva_inval_entry e[] = {
		{ .granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB |
		  USVA_INVAL_DEVTLB, .pasid = f->pasid[0], .dev = f->dev,
		  .addr = VA0, .npages = 2 },
		{ .granule = USVA_INVAL_PASID, .caches = USVA_INVAL_PASID_CACHE,
		  .pasid = f->pasid[0], .dev = f->dev },
		{ .granule = USVA_INVAL_DOMAIN, .caches = USVA_INVAL_IOTLB,
		  .dom = f->dom },
		{ .granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
		  .dom = f->dom, .addr = VA0 + 8 * SZ_4K, .npages = 1 },
	};
	struct usva_inval_batch *b = NULL;
	uint64_t un;
	int rc, err, first = 0;

	rc = usva_inval_batch_create(f->iommu, &bc, &b);
	if (rc < 0)
		return b == NULL ? rc : BROKEN;
	for (unsigned int i = 0; i < RTE_DIM(e); i++)
		STEP(out, usva_inval_batch_add(b, &e[i]));
	TD(usva_inval_batch_submit(b, &err));
	/* Through the address space: an unmap that frees a table page and
	 * a protect that takes WRITE away, both into the batch. */
	STEP(out, usva_as_unmap_batch(f->as, VA0, ARENA_LEN, &un, b));
	STEP(remap, usva_as_map(f->as, VA0, U64(f->arena), ARENA_LEN, RW, 0));
	STEP(out, usva_as_protect_batch(f->as, VA0, SZ_4K, USVA_PROT_READ, b));
	TD(usva_inval_batch_submit(b, &err));
	TD(usva_inval_batch_reset(b));
	rc = 0;
	goto out;
remap:
	MUST(usva_as_map(f->as, VA0, U64(f->arena), ARENA_LEN, RW, 0));
out:
	/* Whatever is queued (table pages included) is completed by a
	 * submit that no injection can fail any more. */
	if (usva_inval_batch_count(b) != 0 &&
	    usva_inval_batch_submit(b, &err) < 0) {
		printf("    final submit: %d\n", err);
		return BROKEN;
	}
	MUST(usva_inval_batch_destroy(b));
	return rc < 0 ? rc : first;
}

/*
 * emu-dma: create (with a service component, or launched on the worker),
 * configure two channels, set them up, start, stop, close.
 */
static int
body_dma_mode(struct fn *f, bool service, bool launch)
{
	struct usva_emu_dma_config ec = {
		.size = sizeof(ec), .name = "fn-dma", .dev = f->dev,
		.flags = service ? USVA_EMU_DMA_F_SERVICE : 0, .max_vchans = 2,
		.max_desc = 256,
	};
	struct usva_dma_conf conf = { .size = sizeof(conf), .nb_vchans = 2 };
	struct usva_dma_vchan_conf vc = {
		.size = sizeof(vc), .nb_desc = 64,
		.fault_mode = USVA_DMA_FAULT_BLOCK, .pasid = f->pasid[0],
	};
	bool started = false, launched = false;
	int16_t id = -1;
	int rc, first = 0;

	rc = usva_emu_dma_create(&ec, &id);
	if (rc < 0)
		return id == -1 ? rc : BROKEN;
	STEP(out, usva_dma_configure(id, &conf));
	STEP(out, usva_dma_vchan_setup(id, 0, &vc));
	vc.fault_mode = USVA_DMA_FAULT_PARTIAL;
	vc.nb_desc = 256;
	STEP(out, usva_dma_vchan_setup(id, 1, &vc));
	STEP(out, usva_dma_start(id));
	started = true;
	if (launch) {
		STEP(out, usva_emu_dma_launch(id, worker_lcore()));
		launched = true;
		TD(usva_emu_dma_halt(id));
		launched = false;
	}
	TD(usva_dma_stop(id));
	started = false;
	rc = 0;
out:
	if (launched)
		MUST(usva_emu_dma_halt(id));
	if (started)
		MUST(usva_dma_stop(id));
	MUST(usva_dma_close(id));
	return rc < 0 ? rc : first;
}

static int
body_dma(struct fn *f)
{
	return body_dma_mode(f, false, false);
}

static int
body_dma_service(struct fn *f)
{
	return body_dma_mode(f, true, false);
}

static int
body_dma_launch(struct fn *f)
{
	return body_dma_mode(f, false, true);
}

/*
 * A whole stack torn down under injection: an emu-dma engine started, a
 * handler with an anon pager, a second PASID attached with a 2 MiB leaf
 * mapped, a batch holding entries; then everything undone in order.
 */
static int
body_teardown(struct fn *f)
{
	struct usva_emu_dma_config ec = {
		.size = sizeof(ec), .name = "fn-td", .dev = f->dev,
	};
	struct usva_dma_conf conf = { .size = sizeof(conf), .nb_vchans = 1 };
	struct usva_dma_vchan_conf vc = {
		.size = sizeof(vc), .nb_desc = 64,
		.fault_mode = USVA_DMA_FAULT_BLOCK, .pasid = f->pasid[0],
	};
	struct usva_pager_anon_config pc = {
		.size = sizeof(pc), .pool = f->pool, .base = 4 * SZ_1G,
		.len = 16 * SZ_4K, .iommu = f->iommu,
	};
	struct usva_fault_handler_config hc = {
		.size = sizeof(hc), .dev = f->dev, .as = f->as,
		.pasid = f->pasid[0],
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
		.table_pool = f->pool,
	};
	struct usva_domain_config domc = { .size = sizeof(domc) };
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	struct usva_inval_entry e = {
		.granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
		.pasid = f->pasid[0], .dev = f->dev, .addr = VA0, .npages = 4,
	};
	struct usva_fault_handler *h = NULL;
	struct usva_pager *pg = NULL;
	struct usva_inval_batch *b = NULL;
	struct usva_as *as = NULL;
	struct usva_domain *dom = NULL;
	int16_t id = -1;
	uint64_t un;
	int err, first = 0;

	/* Built unarmed: this scenario sweeps the teardown alone. */
	usva_failnth_set(0);
	if (usva_emu_dma_create(&ec, &id) != 0 ||
	    usva_dma_configure(id, &conf) != 0 ||
	    usva_dma_vchan_setup(id, 0, &vc) != 0 || usva_dma_start(id) != 0 ||
	    usva_pager_anon_create(&pc, &pg) != 0)
		return BROKEN;
	hc.pager = pg;
	domc.as = NULL;
	if (usva_fault_register(f->svc, &hc, &h) != 0 ||
	    usva_as_create(&ac, &as) != 0 ||
	    usva_as_map(as, SZ_1G, UINT64_C(0x80000000), SZ_2M, RW, 0) != 0 ||
	    usva_as_map(as, SZ_1G + SZ_2M, UINT64_C(0x80000000), SZ_4K, RW, 0) != 0)
		return BROKEN;
	domc.as = as;
	if (usva_domain_create(f->iommu, &domc, &dom) != 0 ||
	    usva_iommu_attach(f->dev, f->pasid[1], dom) != 0 ||
	    usva_inval_batch_create(f->iommu, &bc, &b) != 0 ||
	    usva_inval_batch_add(b, &e) < 0)
		return BROKEN;
	/* Armed from here: the caller's n counts teardown fail points. */
	usva_failnth_set(fn_armed_n);

	TD(usva_dma_stop(id));
	TD(usva_dma_close(id));
	usva_fault_unregister(h);
	TD(usva_pager_destroy(pg));
	/* Half of the 2 MiB leaf (a split), then the rest, into the batch. */
	TD(usva_as_unmap_batch(as, SZ_1G, SZ_4K, &un, b));
	TD(usva_as_unmap(as, SZ_1G, SZ_2M + SZ_4K, &un));
	TD(usva_inval_batch_submit(b, &err));
	TD(usva_inval_batch_destroy(b));
	TD(usva_iommu_detach(f->dev, f->pasid[1]));
	TD(usva_domain_destroy(dom));
	usva_as_destroy(as);
	TD(usva_iommu_detach(f->dev, f->pasid[0]));
	f->attached = false;
	TD(usva_domain_destroy(f->dom));
	f->dom = NULL;
	usva_iommu_dev_close(f->dev);
	f->dev = NULL;
	TD(usva_pasid_owner_destroy(f->owner));
	f->owner = NULL;
	TD(usva_iommu_s2_unmap(f->iommu, U64(f->arena), ARENA_LEN, NULL));
	f->s2 = false;
	usva_fault_service_destroy(f->svc);
	f->svc = NULL;
	TD(usva_iommu_close(f->iommu));
	f->iommu = NULL;
	usva_as_destroy(f->as);
	f->as = NULL;
	return first;
}

/* ---- backend invalidation failures ---------------------------------------- */

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("    " __VA_ARGS__);			\
			printf("\n");					\
			return BROKEN;					\
		}							\
	} while (0)

/* Keep the first error: the body's verdict. */
#define FIRST(e_) do { if (first == 0 && (e_) < 0) first = (e_); } while (0)

/*
 * Every path that invalidates, each recovering from a failed entry as its
 * header says: a batch submit (partial, statuses, retry), an entry array
 * (resubmit the rest), unmap and protect (done, invalidation pending until
 * usva_as_sync()), unmap into a batch (submit again).
 */
static int
body_inval(struct fn *f)
{
	struct usva_inval_batch_config bc = { .size = sizeof(bc), .capacity = 8 };
	struct usva_inval_entry e[] = {
		{ .granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB |
		  USVA_INVAL_DEVTLB, .pasid = f->pasid[0], .dev = f->dev,
		  .addr = VA0, .npages = 1 },
		{ .granule = USVA_INVAL_PASID, .caches = USVA_INVAL_PASID_CACHE,
		  .pasid = f->pasid[0], .dev = f->dev },
		{ .granule = USVA_INVAL_DOMAIN, .caches = USVA_INVAL_IOTLB,
		  .dom = f->dom },
	};
	struct usva_inval_batch *b = NULL;
	struct usva_as_xlate xl;
	struct usva_as_stats st;
	int32_t status[3];
	uint64_t un;
	int rc, err, first = 0, k;

	/* A batch of three granules, not coalescible. */
	CHECK(usva_inval_batch_create(f->iommu, &bc, &b) == 0, "batch");
	for (unsigned int i = 0; i < RTE_DIM(e); i++)
		CHECK(usva_inval_batch_add(b, &e[i]) == (int)i, "add %u", i);
	rc = usva_inval_batch_submit(b, &err);
	CHECK(rc >= 0 && rc <= 3, "submit %d", rc);
	if (rc < 3) {
		CHECK(err == -EIO, "submit: err %d", err);
		CHECK(usva_inval_batch_status(b, 0, 3, status) == 3, "status");
		for (int i = 0; i < 3; i++)
			CHECK(status[i] == (i < rc ? USVA_INVAL_DONE :
					     i == rc ? -EIO :
					     USVA_INVAL_NOT_ATTEMPTED),
			      "entry %d status %d after %d done", i, status[i], rc);
		FIRST(err);
		rc = usva_inval_batch_submit(b, &err);
		CHECK(rc == 3 && err == 0, "retry: %d, err %d", rc, err);
	}
	CHECK(usva_inval_batch_reset(b) == 0, "reset");
	/* An array: the rest resubmitted after the failing entry. */
	k = usva_iommu_invalidate(f->iommu, e, 3, status);
	CHECK(k >= 0 && k <= 3, "invalidate %d", k);
	if (k < 3) {
		CHECK(status[k] == -EIO, "array: status %d", status[k]);
		for (int i = k + 1; i < 3; i++)
			CHECK(status[i] == USVA_INVAL_NOT_ATTEMPTED, "array: "
			      "entry %d ran after a failure", i);
		FIRST(status[k]);
		CHECK(usva_iommu_invalidate(f->iommu, e + k, 3 - k, NULL) ==
		      3 - k, "array: resubmit");
	}
	/* Unmap: done even when its invalidation failed; sync completes. */
	rc = usva_as_unmap(f->as, VA0, 2 * SZ_4K, &un);
	CHECK(rc == 0 || rc == -EIO, "unmap %d", rc);
	CHECK(un == 2 * SZ_4K, "unmap: %" PRIu64 " bytes", un);
	CHECK(usva_as_lookup(f->as, VA0, &xl) == -ENOENT, "still mapped");
	if (rc < 0) {
		FIRST(rc);
		CHECK(usva_as_sync(f->as) == 0, "sync");
	}
	CHECK(usva_as_map(f->as, VA0, U64(f->arena), 2 * SZ_4K, RW, 0) == 0,
	      "remap");
	/* Protect taking WRITE away. */
	rc = usva_as_protect(f->as, VA0, SZ_4K, USVA_PROT_READ);
	CHECK(rc == 0 || rc == -EIO, "protect %d", rc);
	CHECK(usva_as_lookup(f->as, VA0, &xl) == 0 &&
	      !(xl.prot & USVA_PROT_WRITE), "protect not in place");
	if (rc < 0) {
		FIRST(rc);
		CHECK(usva_as_sync(f->as) == 0, "sync");
	}
	CHECK(usva_as_protect(f->as, VA0, SZ_4K, RW) == 0, "upgrade");
	/* The whole range into a batch: the table page is held by it. */
	CHECK(usva_as_unmap_batch(f->as, VA0, ARENA_LEN, &un, b) == 0,
	      "unmap_batch");
	rc = usva_inval_batch_submit(b, &err);
	if (err != 0) {
		CHECK(err == -EIO, "submit: err %d", err);
		FIRST(err);
		CHECK(usva_inval_batch_destroy(b) == -EBUSY,
		      "destroyed while holding pages");
		rc = usva_inval_batch_submit(b, &err);
		CHECK(err == 0, "retry: %d", err);
	}
	CHECK(rc == (int)usva_inval_batch_count(b), "submit %d", rc);
	CHECK(usva_inval_batch_destroy(b) == 0, "destroy");
	usva_as_stats(f->as, &st);
	CHECK(st.held_pages == 0, "%" PRIu64 " table pages held", st.held_pages);
	CHECK(usva_as_map(f->as, VA0, U64(f->arena), ARENA_LEN, RW, 0) == 0,
	      "remap");
	return first;
}

/* Sweep @p body over every invalidation entry it executes. */
static int
sweep_inval(const char *name, fn_body body, unsigned int *points)
{
	struct usva_iommu_stats s0, s1;
	struct rows_world w0, w1;
	uint64_t clean = 0;
	char why[160];
	struct fn f;
	int rc;

	*points = 0;
	rows_world_take(&w0, snap_fn, NULL);
	/* A clean pass: how many entries the body executes. */
	TEST_ASSERT(fn_open(&f, false) == TEST_SUCCESS, "fixture");
	usva_iommu_stats(f.iommu, &s0);
	rc = body(&f);
	usva_iommu_stats(f.iommu, &s1);
	fn_close(&f);
	TEST_ASSERT(rc == 0, "%s: clean pass %d", name, rc);
	clean = s1.inval_entries - s0.inval_entries;
	for (uint32_t n = 1; n <= clean + 1; n++) {
		TEST_ASSERT(fn_open(&f, false) == TEST_SUCCESS, "fixture");
		TEST_ASSERT_OK(usva_emu_inval_fail_nth(f.iommu, n, -EIO));
		rc = body(&f);
		usva_emu_inval_fail_nth(f.iommu, 0, 0);
		fn_close(&f);
		rows_world_take(&w1, snap_fn, NULL);
		TEST_ASSERT(rc != BROKEN, "%s, entry %u fails: broke", name, n);
		TEST_ASSERT(rc == -EIO || (rc == 0 && n > clean), "%s, entry %u "
			    "fails: returned %d", name, n, rc);
		TEST_ASSERT(rows_world_same(&w0, &w1, why, sizeof(why)),
			    "%s, entry %u fails: %s", name, n, why);
		if (rc == -EIO)
			(*points)++;
	}
	points_total += *points;
	printf("    %-40s %4u failure points swept (invalidation entries)\n",
	       name, *points);
	return TEST_SUCCESS;
}

/* ---- the cases ------------------------------------------------------------ */

USVA_TEST(fast, failnth_setup)
{
	CASE_BEGIN();

	SWEEP("page pool create/destroy", body_pool, false, 3);
	SWEEP("backend open (emu vtd, strict)", body_open_vtd, false, 5);
	SWEEP("backend open (emu smmuv3)", body_open_smmu, false, 5);
	SWEEP("backend open (caller's PASID space)", body_open_ext_space,
	      false, 3);
	SWEEP("device open/close", body_dev, false, 3);
	SWEEP("AS create/map/protect/unmap/destroy", body_as, false, 3);
	SWEEP("PASID alloc/attach/replace/detach", body_pasid, false, 4);
	CASE_END("setup scenarios");
	return TEST_SUCCESS;
}

USVA_TEST(fast, failnth_fault)
{
	CASE_BEGIN();

	SWEEP("fault service (service cores)", body_svc_service_cores, false, 3);
	if (worker_lcore() < RTE_MAX_LCORE) {
		SWEEP("fault service (dedicated lcore)", body_svc_lcore, false, 3);
		SWEEP("fault service (lcore, interrupt)", body_svc_lcore_irq,
		      false, 3);
	} else {
		printf("    (no worker lcore: dedicated-lcore sweeps left out)\n");
	}
	SWEEP("handler register: anon pager", body_reg_anon, true, 3);
	SWEEP("handler register: mirror pager", body_reg_mirror, true, 3);
	SWEEP("handler register: file pager", body_reg_file, true, 3);
	SWEEP("handler register: callback pager", body_reg_callback, true, 2);
	CASE_END("fault scenarios");
	return TEST_SUCCESS;
}

USVA_TEST(fast, failnth_inval)
{
	unsigned int p = 0;
	CASE_BEGIN();

	SWEEP("batch create/add/submit/reset/destroy", body_batch, false, 3);
	TEST_ASSERT(sweep_inval("invalidation entries fail (-EIO)", body_inval,
				&p) == TEST_SUCCESS, "inval sweep");
	TEST_ASSERT(p >= 5, "only %u invalidation failure points", p);
	total__ += p;
	CASE_END("invalidation scenarios");
	return TEST_SUCCESS;
}

USVA_TEST(fast, failnth_dma)
{
	CASE_BEGIN();

	SWEEP("emu-dma create/configure/setup/start", body_dma, false, 3);
	SWEEP("emu-dma with a service component", body_dma_service, false, 4);
	if (worker_lcore() < RTE_MAX_LCORE)
		SWEEP("emu-dma launched on a worker", body_dma_launch, false, 4);
	else
		printf("    (no worker lcore: the launch sweep left out)\n");
	CASE_END("emu-dma scenarios");
	return TEST_SUCCESS;
}

USVA_TEST(fast, failnth_teardown)
{
	CASE_BEGIN();

	SWEEP("teardown of a whole stack", body_teardown, true, 1);
	CASE_END("teardown scenarios");
	printf("    failure points swept so far in this run: %u\n", points_total);
	return TEST_SUCCESS;
}
