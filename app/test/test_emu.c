/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The emu nested IOMMU as a device sees it (usva_emu.h): translation
 * through both stage-1 formats and stage 2 (page sizes, permissions,
 * address edges, accessed/dirty bits, reserved encodings, stage-2 misses),
 * cache semantics (stale until invalidated, not-present never cached, what
 * each invalidation granule removes, eviction), PCIe PRI (request fields,
 * groups, overflow, stale responses, FAILURE, capacity, detach), a
 * PASID-isolation property test, injected invalidation failures, a
 * two-lcore remap/invalidate stress run under the strict checker, and the
 * translation rate.
 *
 * Conventions: stage-2 IOVA = process VA of the buffer; stage-1 VAs are
 * chosen by each case. Every case builds its own instance (struct env) and
 * tears it down with env_fini(), which also checks that the table pool got
 * every page back.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva_as.h"
#include "usva_emu.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "test.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_1M	UINT64_C(0x100000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)

#define PR	USVA_PROT_READ
#define PW	USVA_PROT_WRITE
#define PX	USVA_PROT_EXEC
#define PU	USVA_PROT_USER
#define RWU	(PR | PW | PU)

#define AR	USVA_ACCESS_READ
#define AW	USVA_ACCESS_WRITE
#define AX	USVA_ACCESS_EXEC
#define AP	USVA_ACCESS_PRIV

#define S2_RW	(USVA_S2_READ | USVA_S2_WRITE)

/* The small IOTLB most cases run with, and a roomy one for cases that
 * count exactly what an invalidation removed. */
#define P_VTD		"flavour=vtd,iotlb_sets=4,iotlb_ways=2"
#define P_SMMU		"flavour=smmuv3,iotlb_sets=4,iotlb_ways=2"
#define P_VTD_BIG	"flavour=vtd,iotlb_sets=64,iotlb_ways=8"
#define P_SMMU_BIG	"flavour=smmuv3,iotlb_sets=64,iotlb_ways=8"

static const char *const flavours[] = { P_VTD, P_SMMU };
static const char *const flavours_big[] = { P_VTD_BIG, P_SMMU_BIG };

/* A stage-1 VA most cases map at (2 MiB aligned). */
#define VA0	UINT64_C(0x10000000)

#define IOVA(p)	((uint64_t)(uintptr_t)(p))

#define CHK(cond, ...)		TEST_ASSERT_GOTO(cond, out, __VA_ARGS__)
#define CHK_OK(expr)		TEST_ASSERT_OK_GOTO(expr)
#define CHK_ERR(expr, err)	TEST_ASSERT_ERR_GOTO(expr, err)

/* ---- the test environment ------------------------------------------------- */

#define ENV_DEVS	4
#define ENV_CTX		8
#define ENV_MEM		16
#define ENV_S2		16

/* One PASID with its address space and domain (raw domains: no AS). */
struct ectx {
	uint32_t pasid;
	struct usva_as *as;
	struct usva_domain *dom;
};

struct env {
	struct usva_iommu *iommu;
	uint16_t id;		/* fast-path instance id */
	uint32_t fmt;		/* enum usva_pgfmt of the flavour */
	bool smmu;
	int evfd;
	struct usva_pasid_owner *owner;
	unsigned int ndev, nctx, nmem, ns2;
	struct usva_iommu_dev *dev[ENV_DEVS];
	uint32_t dev_id[ENV_DEVS];
	struct ectx c[ENV_CTX];
	struct { void *base; size_t len; } mem[ENV_MEM];
	struct { uint64_t iova, len; } s2[ENV_S2];
	uint64_t pool_before;
	/* Invalidations of edits a case wants to leave stale for a while
	 * (unmap_held(), protect_held()); submitted by env_fini(). */
	struct usva_inval_batch *held;
};

static uint64_t
pool_in_use(void)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(usva_page_pool_default(), &st);
	return st.in_use;
}

static int
env_open(struct env *e, const char *params, uint32_t flags)
{
	struct usva_iommu_config c = {
		.size = sizeof(c),
		.flags = flags,
		.backend = "emu",
		.params = params,
	};
	int rc;

	memset(e, 0, sizeof(*e));
	e->evfd = -1;
	e->pool_before = pool_in_use();
	e->smmu = strstr(params, "smmuv3") != NULL;
	e->fmt = e->smmu ? USVA_PGFMT_ARM_LPAE_4K : USVA_PGFMT_X86_FS;
	rc = usva_iommu_open(&c, &e->iommu);
	if (rc)
		return rc;
	e->id = usva_iommu_id(e->iommu);
	e->evfd = usva_iommu_event_fd(e->iommu);
	return usva_pasid_owner_create(usva_iommu_pasids(e->iommu), 0,
				       &e->owner);
}

/* Tear everything down; a case that passed fails if anything is left. */
static int
env_fini(struct env *e, int ret)
{
	int dom_rc = 0, close_rc = 0, held_rc = 0;
	uint64_t in_use;

	if (e->held != NULL) {
		usva_inval_batch_submit(e->held, &held_rc);
		if (usva_inval_batch_destroy(e->held) != 0 && held_rc == 0)
			held_rc = -EBUSY;
	}
	for (unsigned int i = 0; i < e->ndev; i++)
		usva_iommu_dev_close(e->dev[i]);
	for (unsigned int i = 0; i < e->nctx; i++) {
		if (e->c[i].dom != NULL && usva_domain_destroy(e->c[i].dom))
			dom_rc = -EBUSY;
		usva_as_destroy(e->c[i].as);
	}
	for (unsigned int i = 0; i < e->ns2; i++)
		usva_iommu_s2_unmap(e->iommu, e->s2[i].iova, e->s2[i].len, NULL);
	for (unsigned int i = 0; i < e->nmem; i++)
		munmap(e->mem[i].base, e->mem[i].len);
	usva_pasid_owner_destroy(e->owner);
	if (e->iommu != NULL)
		close_rc = usva_iommu_close(e->iommu);
	in_use = pool_in_use();
	if (ret != TEST_SUCCESS)
		return ret;
	TEST_ASSERT(dom_rc == 0 && close_rc == 0 && held_rc == 0,
		    "teardown: domain %d, close %d, held batch %d", dom_rc,
		    close_rc, held_rc);
	TEST_ASSERT(in_use == e->pool_before, "table pool: %" PRIu64
		    " pages in use, %" PRIu64 " before", in_use, e->pool_before);
	return ret;
}

/* Open a device (PASID width 20); returns its index or -errno. */
static int
env_dev(struct env *e, uint32_t flags, uint32_t pri_capacity)
{
	struct usva_dev_config c = {
		.size = sizeof(c),
		.flags = flags,
		.name = "emu-test",
		.pasid_width = 20,
		.pri_capacity = pri_capacity,
	};
	struct usva_dev_info info = { .size = sizeof(info) };
	unsigned int i = e->ndev;
	int rc;

	if (i >= ENV_DEVS)
		return -ENOSPC;
	rc = usva_iommu_dev_open(e->iommu, &c, &e->dev[i]);
	if (rc)
		return rc;
	e->ndev++;
	rc = usva_iommu_dev_info(e->dev[i], &info);
	if (rc)
		return rc;
	e->dev_id[i] = info.id;
	return (int)i;
}

/* A PASID, an address space of the flavour's format and a domain on it;
 * returns its index or -errno. */
static int
env_ctx(struct env *e, uint32_t va_bits)
{
	struct usva_as_config ac = {
		.size = sizeof(ac),
		.format = e->fmt,
		.va_bits = va_bits,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	unsigned int i = e->nctx;
	struct ectx *c = &e->c[i];
	int rc;

	if (i >= ENV_CTX)
		return -ENOSPC;
	e->nctx++;
	rc = usva_pasid_alloc(e->owner, &c->pasid);
	if (rc)
		return rc;
	rc = usva_as_create(&ac, &c->as);
	if (rc)
		return rc;
	dc.as = c->as;
	rc = usva_domain_create(e->iommu, &dc, &c->dom);
	return rc ? rc : (int)i;
}

/* A PASID and a domain over raw tables at stage-1 root IOVA @root. */
static int
env_ctx_raw(struct env *e, uint64_t root, uint32_t va_bits)
{
	struct usva_domain_config dc = {
		.size = sizeof(dc),
		.s1_root = root,
		.format = e->fmt,
		.va_bits = va_bits,
	};
	unsigned int i = e->nctx;
	struct ectx *c = &e->c[i];
	int rc;

	if (i >= ENV_CTX)
		return -ENOSPC;
	e->nctx++;
	rc = usva_pasid_alloc(e->owner, &c->pasid);
	if (rc)
		return rc;
	rc = usva_domain_create(e->iommu, &dc, &c->dom);
	return rc ? rc : (int)i;
}

static int
env_attach(struct env *e, int d, int c)
{
	return usva_iommu_attach(e->dev[d], e->c[c].pasid, e->c[c].dom);
}

/*
 * Page-aligned anonymous memory, aligned to @align. @touch: every byte set
 * to @fill; otherwise reserved only (MAP_NORESERVE), for regions far
 * larger than what a case reads.
 */
static uint8_t *
env_mem(struct env *e, uint64_t len, uint64_t align, int fill, bool touch)
{
	size_t maplen = len + (align > SZ_4K ? align : 0);
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (touch ? 0 : MAP_NORESERVE);
	void *p;
	uintptr_t a;

	if (e->nmem >= ENV_MEM)
		return NULL;
	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	e->mem[e->nmem].base = p;
	e->mem[e->nmem].len = maplen;
	e->nmem++;
	a = RTE_ALIGN_CEIL((uintptr_t)p, (uintptr_t)align);
	if (touch)
		memset((void *)a, fill, len);
	return (uint8_t *)a;
}

/* Stage-2 map @p at IOVA = VA. */
static int
env_s2(struct env *e, void *p, uint64_t len, uint32_t prot)
{
	int rc;

	if (e->ns2 >= ENV_S2)
		return -ENOSPC;
	rc = usva_iommu_s2_map(e->iommu, IOVA(p), p, len, prot);
	if (rc == 0) {
		e->s2[e->ns2].iova = IOVA(p);
		e->s2[e->ns2].len = len;
		e->ns2++;
	}
	return rc;
}

static int
env_s2_unmap(struct env *e, void *p)
{
	for (unsigned int i = 0; i < e->ns2; i++) {
		uint64_t unmapped = 0;
		int rc;

		if (e->s2[i].iova != IOVA(p))
			continue;
		rc = usva_iommu_s2_unmap(e->iommu, e->s2[i].iova, e->s2[i].len,
					 &unmapped);
		if (rc)
			return rc;
		e->s2[i] = e->s2[--e->ns2];
		return unmapped ? 0 : -EIO;
	}
	return -ENOENT;
}

/*
 * Unmap or protect in context @p c with the invalidation queued into
 * e->held rather than made: the IOMMU keeps what it cached until the case
 * invalidates it itself (or env_fini() submits the batch).
 */
static int
env_held(struct env *e)
{
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };

	return e->held ? 0 : usva_inval_batch_create(e->iommu, &bc, &e->held);
}

static int
unmap_held(struct env *e, int c, uint64_t va, uint64_t len, uint64_t *unmapped)
{
	int rc = env_held(e);

	return rc ? rc : usva_as_unmap_batch(e->c[c].as, va, len, unmapped,
					     e->held);
}

static int
protect_held(struct env *e, int c, uint64_t va, uint64_t len, uint32_t prot)
{
	int rc = env_held(e);

	return rc ? rc : usva_as_protect_batch(e->c[c].as, va, len, prot,
					       e->held);
}

/* Take every queued event and clear the eventfd. */
static void
events_drain(struct env *e)
{
	struct usva_iommu_event ev[32];
	uint64_t v;

	while (usva_iommu_events_read(e->iommu, ev, RTE_DIM(ev)) > 0)
		;
	if (e->evfd >= 0 && read(e->evfd, &v, sizeof(v)) < 0)
		v = 0;
}

/* Drain the events; return how many there were, and how many of @type. */
static unsigned int
events_count(struct env *e, uint32_t type, unsigned int *of_type)
{
	struct usva_iommu_event ev[32];
	unsigned int n = 0, t = 0;
	int k;

	while ((k = usva_iommu_events_read(e->iommu, ev, RTE_DIM(ev))) > 0) {
		for (int i = 0; i < k; i++)
			t += ev[i].type == type;
		n += (unsigned int)k;
	}
	if (of_type != NULL)
		*of_type = t;
	return n;
}

static int
xl(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t va, uint32_t access,
   struct usva_emu_xlate *x)
{
	memset(x, 0, sizeof(*x));
	x->reason = UINT32_MAX;
	return usva_emu_translate(dev, pasid, va, access, x);
}

static struct usva_iommu_stats
stats_of(struct env *e)
{
	struct usva_iommu_stats st;

	memset(&st, 0, sizeof(st));
	usva_iommu_stats(e->iommu, &st);
	return st;
}

/* One invalidation entry; 0 when it ran, else the call's result or
 * status. */
static int
inval1(struct env *e, const struct usva_inval_entry *en)
{
	int32_t st = 99;
	int rc = usva_iommu_invalidate(e->iommu, en, 1, &st);

	if (rc < 0)
		return rc;
	if (rc != 1 || st != USVA_INVAL_DONE)
		return st < 0 ? st : -EPROTO;
	return 0;
}

static int
inv_addr(struct env *e, int d, uint32_t pasid, uint64_t va, uint64_t npages,
	 uint32_t caches)
{
	struct usva_inval_entry en = {
		.granule = USVA_INVAL_ADDR, .caches = caches, .pasid = pasid,
		.dev = e->dev[d], .addr = va, .npages = npages,
	};

	return inval1(e, &en);
}

static int
inv_pasid(struct env *e, int d, uint32_t pasid, uint32_t caches, uint32_t flags)
{
	struct usva_inval_entry en = {
		.granule = USVA_INVAL_PASID, .caches = caches, .flags = flags,
		.pasid = pasid, .dev = e->dev[d],
	};

	return inval1(e, &en);
}

static int
inv_domain(struct env *e, struct usva_domain *dom)
{
	struct usva_inval_entry en = {
		.granule = USVA_INVAL_DOMAIN, .caches = USVA_INVAL_IOTLB,
		.dom = dom,
	};

	return inval1(e, &en);
}

/*
 * The stage-1 entries a hardware walk of @va reads, top level first, from
 * the raw table in memory (the formats of doc/page-table-formats.md; pool
 * pages have IOVA = VA). Returns how many were filled; *@leaf_level is the
 * level of the last one when it is a leaf, else 0.
 */
static unsigned int
raw_walk(const struct usva_as *as, uint64_t va, uint64_t **ent,
	 unsigned int *leaf_level)
{
	bool arm = usva_as_format(as) == USVA_PGFMT_ARM_LPAE_4K;
	uint64_t mask = arm ? UINT64_C(0x0000fffffffff000) :
			      UINT64_C(0x000ffffffffff000);
	uint64_t table = usva_as_root(as);
	unsigned int level = usva_as_levels(as), n = 0;

	*leaf_level = 0;
	for (;;) {
		uint64_t *p = (uint64_t *)(uintptr_t)table +
			      ((va >> (12 + 9 * (level - 1))) & 511);
		uint64_t v = __atomic_load_n(p, __ATOMIC_RELAXED);
		bool leaf;

		ent[n++] = p;
		if (!(v & 1))
			return n;
		leaf = level == 1 ||
		       (arm ? (v & 3) == 1 : (level <= 3 && (v & 0x80)));
		if (leaf) {
			*leaf_level = level;
			return n;
		}
		table = v & mask;
		level--;
	}
}

#define X86_A	(UINT64_C(1) << 5)
#define X86_D	(UINT64_C(1) << 6)
#define X86_PS	(UINT64_C(1) << 7)
#define ARM_AF	(UINT64_C(1) << 10)
#define ARM_PXN	(UINT64_C(1) << 53)
#define ARM_UXN	(UINT64_C(1) << 54)

/* ---- translation: page sizes ---------------------------------------------- */

static int
xlate_sizes_one(const char *params)
{
	const uint64_t va4 = VA0 + 5 * SZ_4K, va2 = UINT64_C(0x80000000);
	const uint64_t va1 = UINT64_C(0x4000000000), vs = UINT64_C(0xc0000000);
	const uint64_t val = UINT64_C(0x0123456789abcdef);
	struct usva_iommu_stats s0, s1;
	struct usva_emu_dma_fault f;
	struct usva_emu_xlate x;
	struct usva_as_xlate lx;
	struct usva_iommu_dev *dev = NULL;
	struct usva_as *as = NULL;
	struct env e;
	uint8_t *b4, *b2, *b1, *bs;
	uint64_t got = 0;
	uint8_t rd[8];
	uint32_t pasid = 0;
	int d, c, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	dev = e.dev[d];
	pasid = e.c[c].pasid;
	as = e.c[c].as;

	/* 4 KiB leaf. */
	b4 = env_mem(&e, SZ_4K, SZ_4K, 0x44, true);
	CHK(b4 != NULL, "mmap");
	CHK_OK(env_s2(&e, b4, SZ_4K, S2_RW));
	CHK_OK(usva_as_map(as, va4, IOVA(b4), SZ_4K, RWU, 0));
	CHK_OK(usva_as_lookup(as, va4, &lx));
	CHK(lx.level == 1 && lx.page_size == SZ_4K, "4K: level %u", lx.level);
	CHK_OK(xl(dev, pasid, va4 + 0x123, AR, &x));
	CHK(x.host == b4 + 0x123 && x.len == SZ_4K - 0x123 && x.prot == RWU &&
	    !x.cached && x.reason == USVA_EMU_OK, "4K: host %p (buf %p) len 0x%"
	    PRIx64 " prot 0x%x cached %d", x.host, (void *)b4, x.len, x.prot,
	    x.cached);
	CHK_OK(xl(dev, pasid, va4 + 0xfff, AR, &x));
	CHK(x.cached && x.host == b4 + 0xfff && x.len == 1,
	    "4K last byte: cached %d len %" PRIu64, x.cached, x.len);

	/* 2 MiB leaf: one walk serves the whole block. */
	b2 = env_mem(&e, SZ_2M, SZ_2M, 0x22, true);
	CHK(b2 != NULL, "mmap 2M");
	CHK_OK(env_s2(&e, b2, SZ_2M, S2_RW));
	CHK_OK(usva_as_map(as, va2, IOVA(b2), SZ_2M, RWU, 0));
	CHK_OK(usva_as_lookup(as, va2, &lx));
	CHK(lx.level == 2 && lx.page_size == SZ_2M, "2M: level %u", lx.level);
	s0 = stats_of(&e);
	CHK_OK(xl(dev, pasid, va2 + 0x12345, AR, &x));
	CHK(x.host == b2 + 0x12345 && x.len == SZ_2M - 0x12345 && !x.cached &&
	    x.prot == RWU, "2M: host off 0x%tx len 0x%" PRIx64 " cached %d",
	    (uint8_t *)x.host - b2, x.len, x.cached);
	CHK_OK(xl(dev, pasid, va2 + 0x1ff000, AR, &x));
	CHK(x.cached && x.host == b2 + 0x1ff000 && x.len == SZ_4K,
	    "2M end: cached %d off 0x%tx len 0x%" PRIx64, x.cached,
	    (uint8_t *)x.host - b2, x.len);
	s1 = stats_of(&e);
	CHK(s1.walks == s0.walks + 1, "2M: %" PRIu64 " walks for one block",
	    s1.walks - s0.walks);
	CHK(usva_emu_dma_write(dev, pasid, va2 + 0x100008, &val, 8, &f) == 8,
	    "2M: DMA write");
	CHK(memcmp(b2 + 0x100008, &val, 8) == 0, "2M: DMA write landed elsewhere");

	/* 1 GiB leaf over a reserved (mostly untouched) 1 GiB region. */
	b1 = env_mem(&e, SZ_1G, SZ_1G, 0, false);
	CHK(b1 != NULL, "mmap 1G");
	CHK_OK(env_s2(&e, b1, SZ_1G, S2_RW));
	CHK_OK(usva_as_map(as, va1, IOVA(b1), SZ_1G, RWU, 0));
	CHK_OK(usva_as_lookup(as, va1, &lx));
	CHK(lx.level == 3 && lx.page_size == SZ_1G, "1G: level %u", lx.level);
	CHK_OK(xl(dev, pasid, va1 + 0x2345678, AR, &x));
	CHK(x.host == b1 + 0x2345678 && x.len == SZ_1G - 0x2345678 && !x.cached &&
	    x.prot == RWU, "1G: host off 0x%tx len 0x%" PRIx64 " cached %d",
	    (uint8_t *)x.host - b1, x.len, x.cached);
	CHK_OK(xl(dev, pasid, va1 + 0x30000000, AR, &x));
	CHK(x.cached && x.host == b1 + 0x30000000 &&
	    x.len == SZ_1G - 0x30000000, "1G: second address cached %d", x.cached);
	CHK_OK(xl(dev, pasid, va1 + SZ_1G - 8, AW, &x));
	CHK(x.host == b1 + SZ_1G - 8 && x.len == 8, "1G: last bytes len %" PRIu64,
	    x.len);
	CHK(usva_emu_dma_write(dev, pasid, va1 + 0x30000000, &val, 8, &f) == 8,
	    "1G: DMA write");
	CHK(memcmp(b1 + 0x30000000, &val, 8) == 0, "1G: DMA write landed elsewhere");
	CHK(usva_emu_dma_read(dev, pasid, va1 + 0x30000000, &got, 8, &f) == 8 &&
	    got == val, "1G: DMA read back 0x%" PRIx64, got);

	/* A 2 MiB leaf over two 1 MiB stage-2 mappings: a translation is
	 * contiguous only to the end of its stage-2 mapping. */
	bs = env_mem(&e, SZ_2M, SZ_2M, 0x55, true);
	CHK(bs != NULL, "mmap split");
	CHK_OK(env_s2(&e, bs, SZ_1M, S2_RW));
	CHK_OK(env_s2(&e, bs + SZ_1M, SZ_1M, S2_RW));
	CHK_OK(usva_as_map(as, vs, IOVA(bs), SZ_2M, RWU, 0));
	CHK_OK(xl(dev, pasid, vs + 0x100, AR, &x));
	CHK(x.host == bs + 0x100 && x.len == SZ_1M - 0x100,
	    "split: len 0x%" PRIx64 " (to the end of the first stage-2 mapping)",
	    x.len);
	CHK_OK(xl(dev, pasid, vs + SZ_1M + 0x10, AR, &x));
	CHK(x.host == bs + SZ_1M + 0x10 && x.len == SZ_1M - 0x10,
	    "split: second half off 0x%tx len 0x%" PRIx64,
	    (uint8_t *)x.host - bs, x.len);
	bs[SZ_1M - 4] = 0xa1;
	bs[SZ_1M + 3] = 0xa2;
	CHK(usva_emu_dma_read(dev, pasid, vs + SZ_1M - 4, rd, 8, &f) == 8 &&
	    rd[0] == 0xa1 && rd[7] == 0xa2, "split: DMA across the mappings");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_xlate_page_sizes)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours); i++)
		TEST_ASSERT(xlate_sizes_one(flavours[i]) == TEST_SUCCESS, "%s",
			    flavours[i]);
	return TEST_SUCCESS;
}

/* ---- translation: permissions --------------------------------------------- */

/*
 * Every prot (READ plus any of WRITE, EXEC, USER) against every access
 * (read, write, execute; user or privileged), on a PRI device (a denial is
 * recoverable: -EFAULT, no event) and on a device without PRI (-EIO and one
 * USVA_EVENT_S1_PERM). A privileged access may use a user page; a user
 * access to a supervisor page faults.
 *
 * ARM's privileged execution of a user page (PXN) is left to
 * emu_xlate_arm_exec_privilege.
 */
static int
xlate_perms_one(const char *params)
{
	static const uint32_t kinds[] = { AR, AW, AR | AX };
	struct usva_iommu_event ev[4];
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf;
	uint32_t prot[8];
	unsigned int allowed = 0, denied = 0;
	int dp, dn, c, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(dp = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(dn = env_dev(&e, 0, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, dp, c));
	CHK_OK(env_attach(&e, dn, c));
	buf = env_mem(&e, 8 * SZ_4K, SZ_4K, 0, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, 8 * SZ_4K, S2_RW));
	for (unsigned int i = 0; i < 8; i++) {
		prot[i] = PR | (i & 1 ? PW : 0) | (i & 2 ? PX : 0) | (i & 4 ? PU : 0);
		CHK_OK(usva_as_map(e.c[c].as, VA0 + i * SZ_4K,
				   IOVA(buf + i * SZ_4K), SZ_4K, prot[i], 0));
	}
	events_drain(&e);

	for (unsigned int i = 0; i < 8; i++)
	for (unsigned int k = 0; k < RTE_DIM(kinds); k++)
	for (unsigned int priv = 0; priv < 2; priv++)
	for (unsigned int which = 0; which < 2; which++) {
		uint32_t acc = kinds[k] | (priv ? AP : 0);
		uint64_t va = VA0 + i * SZ_4K + 0x10;
		int di = which ? dn : dp;
		bool ok;
		int rc, n;

		if (e.smmu && (acc & AX) && priv && (prot[i] & PU))
			continue;
		ok = (priv || (prot[i] & PU)) &&
		     (!(acc & AW) || (prot[i] & PW)) &&
		     (!(acc & AX) || (prot[i] & PX));
		rc = xl(e.dev[di], e.c[c].pasid, va, acc, &x);
		if (ok) {
			CHK(rc == 0 && x.reason == USVA_EMU_OK &&
			    x.host == buf + i * SZ_4K + 0x10 && x.prot == prot[i],
			    "prot 0x%x access 0x%x dev %d: rc %d reason %u prot 0x%x",
			    prot[i], acc, di, rc, x.reason, x.prot);
			allowed++;
			continue;
		}
		denied++;
		if (!which) {
			CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM &&
			    x.host == NULL, "PRI: prot 0x%x access 0x%x: rc %d reason %u",
			    prot[i], acc, rc, x.reason);
			n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
			CHK(n == 0, "PRI: recoverable fault raised %d events", n);
		} else {
			CHK(rc == -EIO && x.reason == USVA_EMU_S1_PERM,
			    "no PRI: prot 0x%x access 0x%x: rc %d reason %u",
			    prot[i], acc, rc, x.reason);
			n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
			CHK(n == 1 && ev[0].type == USVA_EVENT_S1_PERM &&
			    ev[0].dev_id == e.dev_id[dn] &&
			    ev[0].pasid == e.c[c].pasid && ev[0].access == acc &&
			    (ev[0].addr == va || ev[0].addr == (va & ~(SZ_4K - 1))),
			    "no PRI: %d events, type %u dev %u pasid %u access 0x%x "
			    "addr 0x%" PRIx64, n, n ? ev[0].type : 0,
			    n ? ev[0].dev_id : 0, n ? ev[0].pasid : 0,
			    n ? ev[0].access : 0, n ? ev[0].addr : 0);
		}
	}
	CHK(allowed > 0 && denied > 0, "allowed %u denied %u", allowed, denied);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_xlate_perms)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours); i++)
		TEST_ASSERT(xlate_perms_one(flavours[i]) == TEST_SUCCESS, "%s",
			    flavours[i]);
	return TEST_SUCCESS;
}

/*
 * ARM: execute permission belongs to the privilege the page is for
 * (doc/page-table-formats.md): a user page with EXEC has PXN = 1, UXN = 0,
 * so user code executes it and privileged code does not; a privileged page
 * with EXEC is the reverse. An SMMU applies PXN to privileged instruction
 * fetches, from a walk or from the IOTLB alike.
 */
USVA_TEST(fast, emu_xlate_arm_exec_privilege)
{
	const uint64_t pu = VA0, pp = VA0 + SZ_4K;
	struct usva_emu_xlate x;
	uint64_t *ent[5];
	unsigned int n, leaf;
	struct env e;
	uint8_t *buf;
	uint32_t pasid;
	int d, c, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, P_SMMU, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	buf = env_mem(&e, 2 * SZ_4K, SZ_4K, 0, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, 2 * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, pu, IOVA(buf), SZ_4K, PR | PX | PU, 0));
	CHK_OK(usva_as_map(e.c[c].as, pp, IOVA(buf + SZ_4K), SZ_4K, PR | PX, 0));
	n = raw_walk(e.c[c].as, pu, ent, &leaf);
	CHK(leaf == 1 && (*ent[n - 1] & ARM_PXN) && !(*ent[n - 1] & ARM_UXN),
	    "user EXEC page: leaf 0x%016" PRIx64, *ent[n - 1]);

	/* Privileged fetch from the user page: on a walk ... */
	rc = xl(e.dev[d], pasid, pu, AR | AX | AP, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM,
	    "privileged execute of a PXN user page (walk): rc %d reason %u", rc,
	    x.reason);
	CHK_OK(xl(e.dev[d], pasid, pu, AR | AX, &x));
	CHK_OK(xl(e.dev[d], pasid, pu, AR | AP, &x));
	/* ... and with the translation in the IOTLB. */
	rc = xl(e.dev[d], pasid, pu, AR | AX | AP, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM,
	    "privileged execute of a PXN user page (cached): rc %d reason %u "
	    "cached %d", rc, x.reason, x.cached);

	/* The privileged EXEC page: privileged fetch yes, user nothing. */
	CHK_OK(xl(e.dev[d], pasid, pp, AR | AX | AP, &x));
	rc = xl(e.dev[d], pasid, pp, AR | AX, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM,
	    "user execute of a privileged page: rc %d reason %u", rc, x.reason);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* ---- translation: address edges -------------------------------------------- */

struct edge_row {
	const char *params;
	uint32_t va_bits;
	uint64_t good[3];	/* mappable pages; good[0] is the top page */
	uint64_t bad[4];	/* addresses the format rejects */
};

static const struct edge_row edge_rows[] = {
	{ P_VTD, 48,
	  { UINT64_C(0x00007ffffffff000), UINT64_C(0xffff800000000000),
	    UINT64_C(0xffffffff80000000) },
	  { UINT64_C(0x0000800000000000), UINT64_C(0xffff7ffffffff000),
	    UINT64_C(0x8000000000000000), UINT64_C(0x00fffffffffff000) } },
	{ P_VTD, 57,
	  { UINT64_C(0x00fffffffffff000), UINT64_C(0xff00000000000000),
	    UINT64_C(0x0000800000000000) },
	  { UINT64_C(0x0100000000000000), UINT64_C(0xfefffffffffff000),
	    UINT64_C(0x8000000000000000), UINT64_C(0x7ffffffffffff000) } },
	{ P_SMMU, 48,
	  { UINT64_C(0x0000fffffffff000), UINT64_C(0x1000),
	    UINT64_C(0x0000800000000000) },
	  { UINT64_C(0x0001000000000000), UINT64_C(0xffff000000000000),
	    UINT64_C(0xfffffffffffff000), UINT64_C(0x8000000000000000) } },
	{ P_SMMU, 39,
	  { UINT64_C(0x7ffffff000), UINT64_C(0x1000), UINT64_C(0x4000000000) },
	  { UINT64_C(0x8000000000), UINT64_C(0xffffffffff000000),
	    UINT64_C(0x0000fffffffff000), UINT64_C(0x0001000000000000) } },
};

/*
 * Addresses outside what the stage-1 format can express (x86 non-canonical,
 * ARM at or beyond 2^va_bits) are unrecoverable even for a PRI device: -EIO,
 * USVA_EMU_NON_CANONICAL, one event; a DMA stops exactly there.
 */
static int
edges_one(const struct edge_row *r)
{
	struct usva_iommu_event ev[4];
	struct usva_emu_dma_fault f;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf, tmp[2 * 4096];
	uint32_t pasid;
	int d, c, n, rc, ret = TEST_FAILED;
	int64_t got;

	CHK_OK(env_open(&e, r->params, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, r->va_bits));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	buf = env_mem(&e, 3 * SZ_4K, SZ_4K, 0x77, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, 3 * SZ_4K, S2_RW));
	for (unsigned int i = 0; i < RTE_DIM(r->good); i++) {
		CHK_OK(usva_as_map(e.c[c].as, r->good[i], IOVA(buf + i * SZ_4K),
				   SZ_4K, RWU, 0));
		CHK_OK(xl(e.dev[d], pasid, r->good[i] + 0xfff, AR, &x));
		CHK(x.host == buf + i * SZ_4K + 0xfff && x.len == 1,
		    "0x%" PRIx64 ": len %" PRIu64, r->good[i], x.len);
	}
	events_drain(&e);
	for (unsigned int i = 0; i < RTE_DIM(r->bad); i++) {
		uint64_t va = r->bad[i];

		rc = xl(e.dev[d], pasid, va, AR, &x);
		CHK(rc == -EIO && x.reason == USVA_EMU_NON_CANONICAL,
		    "0x%" PRIx64 ": rc %d reason %u", va, rc, x.reason);
		n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
		CHK(n == 1 && ev[0].pasid == pasid && ev[0].addr == va &&
		    ev[0].dev_id == e.dev_id[d] &&
		    ev[0].type == USVA_EVENT_NON_CANONICAL,
		    "0x%" PRIx64 ": %d events (type %u addr 0x%" PRIx64 ")", va, n,
		    n ? ev[0].type : 0, n ? ev[0].addr : 0);
		got = usva_emu_dma_write(e.dev[d], pasid, va, tmp, 16, &f);
		CHK(got == 0 && f.reason == USVA_EMU_NON_CANONICAL && f.addr == va,
		    "0x%" PRIx64 ": DMA write %" PRId64 " reason %u", va, got,
		    f.reason);
		events_drain(&e);
	}
	/* A DMA that runs off the top of the translatable range. */
	got = usva_emu_dma_read(e.dev[d], pasid, r->good[0], tmp, sizeof(tmp), &f);
	CHK(got == 4096 && f.reason == USVA_EMU_NON_CANONICAL &&
	    f.addr == r->good[0] + SZ_4K && tmp[0] == 0x77 && tmp[4095] == 0x77,
	    "DMA off the top: %" PRId64 " bytes, reason %u addr 0x%" PRIx64, got,
	    f.reason, f.addr);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_xlate_addr_edges)
{
	for (unsigned int i = 0; i < RTE_DIM(edge_rows); i++)
		TEST_ASSERT(edges_one(&edge_rows[i]) == TEST_SUCCESS, "%s, %u bits",
			    edge_rows[i].params, edge_rows[i].va_bits);
	return TEST_SUCCESS;
}

/* ---- translation: accessed / dirty ------------------------------------------- */

/* x86: a read sets A on every entry of the walk, a write also D on the
 * leaf; a denied access changes nothing; a cached dirty entry writes
 * without walking, so software that clears D must invalidate. */
static int
ad_x86(void)
{
	const uint64_t va_ro = VA0 + SZ_4K, va2 = UINT64_C(0x80000000);
	uint64_t *ent[5], *ent_ro[5], *ent2[5];
	unsigned int n, n_ro, n2, leaf;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf, *b2;
	uint32_t pasid;
	int d, c, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, P_VTD, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	buf = env_mem(&e, 2 * SZ_4K, SZ_4K, 0, true);
	b2 = env_mem(&e, SZ_2M, SZ_2M, 0, true);
	CHK(buf != NULL && b2 != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, 2 * SZ_4K, S2_RW));
	CHK_OK(env_s2(&e, b2, SZ_2M, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU, 0));
	CHK_OK(usva_as_map(e.c[c].as, va_ro, IOVA(buf + SZ_4K), SZ_4K, PR | PU, 0));
	CHK_OK(usva_as_map(e.c[c].as, va2, IOVA(b2), SZ_2M, RWU, 0));

	n = raw_walk(e.c[c].as, VA0, ent, &leaf);
	CHK(n == 4 && leaf == 1, "walk: %u entries, leaf level %u", n, leaf);
	n_ro = raw_walk(e.c[c].as, va_ro, ent_ro, &leaf);
	CHK(n_ro == 4 && leaf == 1, "walk ro");
	for (unsigned int i = 0; i < n; i++)
		CHK(!(*ent[i] & (X86_A | X86_D)), "entry %u set before use: 0x%016"
		    PRIx64, i, *ent[i]);

	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	for (unsigned int i = 0; i < n; i++)
		CHK(*ent[i] & X86_A, "read: A not set at level %u: 0x%016" PRIx64,
		    4 - i, *ent[i]);
	CHK(!(*ent[3] & X86_D), "read set D: 0x%016" PRIx64, *ent[3]);

	/* A denied write leaves its leaf alone. */
	{
		uint64_t before = *ent_ro[3];

		rc = xl(e.dev[d], pasid, va_ro, AW, &x);
		CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM,
		    "write to read-only: rc %d", rc);
		CHK(*ent_ro[3] == before, "denied write changed the leaf: 0x%016"
		    PRIx64 " -> 0x%016" PRIx64, before, *ent_ro[3]);
	}

	/* The first write walks again (the cached entry is clean) and sets D. */
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(!x.cached, "a write used a clean cached entry");
	CHK(*ent[3] & X86_D, "write: D not set: 0x%016" PRIx64, *ent[3]);
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(x.cached, "second write not cached");

	/* Software clears D without invalidating: the dirty IOTLB entry keeps
	 * serving writes and D stays clear, as on hardware. */
	__atomic_fetch_and(ent[3], ~X86_D, __ATOMIC_SEQ_CST);
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(x.cached && !(*ent[3] & X86_D), "write after clearing D: cached %d "
	    "leaf 0x%016" PRIx64, x.cached, *ent[3]);
	CHK_OK(inv_addr(&e, d, pasid, VA0, 1, USVA_INVAL_IOTLB));
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(!x.cached && (*ent[3] & X86_D), "write after invalidation: cached %d "
	    "leaf 0x%016" PRIx64, x.cached, *ent[3]);

	/* 2 MiB leaf: A on the three entries, D on the PDE. */
	n2 = raw_walk(e.c[c].as, va2, ent2, &leaf);
	CHK(n2 == 3 && leaf == 2, "2M walk: %u entries, leaf level %u", n2, leaf);
	CHK(!(*ent2[2] & (X86_A | X86_D)), "2M leaf used before: 0x%016" PRIx64,
	    *ent2[2]);
	CHK_OK(xl(e.dev[d], pasid, va2 + 0x1000, AR, &x));
	for (unsigned int i = 0; i < n2; i++)
		CHK(*ent2[i] & X86_A, "2M read: A not set at level %u", 4 - i);
	CHK(!(*ent2[2] & X86_D), "2M read set D");
	CHK_OK(xl(e.dev[d], pasid, va2 + 0x1ff000, AW, &x));
	CHK(*ent2[2] & X86_D, "2M write: D not set: 0x%016" PRIx64, *ent2[2]);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* ARM without HA/HD: walks change no entry; a leaf found with AF = 0 is an
 * access-flag fault (recoverable, as not present) until software sets AF,
 * which needs no invalidation. */
static int
ad_arm(void)
{
	const uint64_t va_af = VA0 + SZ_4K;
	uint64_t *ent[5], snap[5], saved;
	unsigned int n, leaf;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf;
	uint32_t pasid;
	int d, c, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, P_SMMU, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	buf = env_mem(&e, 2 * SZ_4K, SZ_4K, 0, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, 2 * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU | PX, 0));
	CHK_OK(usva_as_map(e.c[c].as, va_af, IOVA(buf + SZ_4K), SZ_4K, RWU, 0));
	n = raw_walk(e.c[c].as, VA0, ent, &leaf);
	CHK(n == 4 && leaf == 1, "walk: %u entries, leaf %u", n, leaf);
	for (unsigned int i = 0; i < n; i++)
		snap[i] = *ent[i];
	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK_OK(xl(e.dev[d], pasid, VA0, AR | AX, &x));
	CHK_OK(inv_addr(&e, d, pasid, VA0, 1, USVA_INVAL_IOTLB));
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	for (unsigned int i = 0; i < n; i++)
		CHK(*ent[i] == snap[i], "level %u entry changed by a walk: 0x%016"
		    PRIx64 " -> 0x%016" PRIx64, 4 - i, snap[i], *ent[i]);

	n = raw_walk(e.c[c].as, va_af, ent, &leaf);
	CHK(leaf == 1 && (*ent[n - 1] & ARM_AF), "AF not set by usva: 0x%016"
	    PRIx64, *ent[n - 1]);
	saved = *ent[n - 1];
	__atomic_store_n(ent[n - 1], saved & ~ARM_AF, __ATOMIC_SEQ_CST);
	rc = xl(e.dev[d], pasid, va_af, AR, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_NOT_PRESENT,
	    "AF = 0: rc %d reason %u", rc, x.reason);
	CHK(*ent[n - 1] == (saved & ~ARM_AF), "the model set AF (no HA)");
	__atomic_store_n(ent[n - 1], saved, __ATOMIC_SEQ_CST);
	CHK_OK(xl(e.dev[d], pasid, va_af, AR, &x));
	CHK(x.host == buf + SZ_4K, "after AF set: host");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_xlate_ad_bits)
{
	TEST_ASSERT(ad_x86() == TEST_SUCCESS, "x86 first stage");
	TEST_ASSERT(ad_arm() == TEST_SUCCESS, "ARM LPAE");
	return TEST_SUCCESS;
}

/* ---- translation: reserved encodings ------------------------------------------ */

/*
 * Entries hardware rejects (doc/page-table-formats.md, BAD): an
 * unrecoverable fault (-EIO, USVA_EMU_S1_BAD_ENTRY, one event) even for a
 * PRI device; the fault is not cached: restoring the entry needs no
 * invalidation.
 */
struct bad_row {
	uint64_t va;
	unsigned int level;	/* of the entry to corrupt (usva levels) */
	uint64_t len;		/* mapping at @va */
	uint64_t set, clear;	/* bits to set and clear */
};

static int
bad_one(const char *params, const struct bad_row *rows, unsigned int nrows)
{
	struct usva_iommu_event ev[4];
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *b2;
	uint32_t pasid;
	int d, c, rc, n, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	b2 = env_mem(&e, SZ_2M, SZ_2M, 0x31, true);
	CHK(b2 != NULL, "mmap");
	CHK_OK(env_s2(&e, b2, SZ_2M, S2_RW));
	for (unsigned int i = 0; i < nrows; i++) {
		const struct bad_row *r = &rows[i];
		uint64_t *ent[5], saved;
		unsigned int cnt, leaf, top = usva_as_levels(e.c[c].as);

		CHK_OK(usva_as_map(e.c[c].as, r->va, IOVA(b2), r->len, RWU, 0));
		cnt = raw_walk(e.c[c].as, r->va, ent, &leaf);
		CHK(top - r->level < cnt, "row %u: no entry at level %u", i, r->level);
		saved = *ent[top - r->level];
		__atomic_store_n(ent[top - r->level], (saved | r->set) & ~r->clear,
				 __ATOMIC_SEQ_CST);
		events_drain(&e);
		rc = xl(e.dev[d], pasid, r->va + 0x80, AR, &x);
		n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
		__atomic_store_n(ent[top - r->level], saved, __ATOMIC_SEQ_CST);
		CHK(rc == -EIO && x.reason == USVA_EMU_S1_BAD_ENTRY,
		    "row %u (level %u, 0x%016" PRIx64 "): rc %d reason %u", i,
		    r->level, (saved | r->set) & ~r->clear, rc, x.reason);
		CHK(n == 1 && ev[0].type == USVA_EVENT_S1_BAD_ENTRY &&
		    ev[0].pasid == pasid, "row %u: %d events, type %u", i, n,
		    n ? ev[0].type : 0);
		CHK_OK(xl(e.dev[d], pasid, r->va + 0x80, AR, &x));
		CHK(x.host == b2 + 0x80, "row %u: after restore", i);
		CHK_OK(usva_as_unmap(e.c[c].as, r->va, r->len, NULL));
		CHK_OK(inv_pasid(&e, d, pasid, USVA_INVAL_IOTLB, 0));
	}
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_xlate_bad_entry)
{
	static const struct bad_row x86[] = {
		/* PS at level 4 */
		{ UINT64_C(0x8000000000), 4, SZ_4K, X86_PS, 0 },
		/* a 2 MiB leaf with bit 14 (reserved, 20:13) */
		{ UINT64_C(0x80000000), 2, SZ_2M, UINT64_C(1) << 14, 0 },
	};
	static const struct bad_row arm[] = {
		/* a table entry with RES0 bit 48 */
		{ UINT64_C(0x8000000000), 4, SZ_4K, UINT64_C(1) << 48, 0 },
		/* a page with bit 49 (output address beyond 48 bits) */
		{ UINT64_C(0x8000000000), 1, SZ_4K, UINT64_C(1) << 49, 0 },
		/* "01" (block) at level 1 */
		{ UINT64_C(0x8000000000), 1, SZ_4K, 0, 2 },
		/* a 2 MiB block with bit 12 set */
		{ UINT64_C(0x80000000), 2, SZ_2M, UINT64_C(1) << 12, 0 },
	};

	TEST_ASSERT(bad_one(P_VTD, x86, RTE_DIM(x86)) == TEST_SUCCESS, "vtd");
	TEST_ASSERT(bad_one(P_SMMU, arm, RTE_DIM(arm)) == TEST_SUCCESS, "smmuv3");
	return TEST_SUCCESS;
}

/* ---- translation: stage-2 misses ------------------------------------------------- */

/*
 * A stage-1 leaf whose output is outside stage 2 (or lacks the stage-2
 * right) is an unrecoverable fault for every device: -EIO, USVA_EMU_S2_FAULT,
 * an event on the ring and the eventfd, and no byte of the memory behind
 * that IOVA touched. A stage-1 table outside stage 2 likewise. Stage-2
 * unmap invalidates what was cached through it.
 */
static int
s2_miss_one(const char *params)
{
	const uint64_t va_c = VA0, va_r = VA0 + SZ_4K, va_d = VA0 + 2 * SZ_4K;
	const uint64_t va_c2 = VA0 + 3 * SZ_4K;
	struct usva_iommu_event ev[4];
	struct usva_emu_dma_fault f;
	struct usva_emu_xlate x;
	struct pollfd pfd;
	struct env e;
	uint8_t *canary, *ro, *dbuf, ref[4096], tmp[256];
	uint32_t pasid;
	int d, c, craw, rc, n, ret = TEST_FAILED;
	int64_t got;

	CHK_OK(env_open(&e, params, 0));
	CHK(e.evfd >= 0, "event fd %d", e.evfd);
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	canary = env_mem(&e, SZ_4K, SZ_4K, 0xc3, true);
	ro = env_mem(&e, SZ_4K, SZ_4K, 0x5e, true);
	dbuf = env_mem(&e, SZ_4K, SZ_4K, 0x3d, true);
	CHK(canary && ro && dbuf, "mmap");
	memset(ref, 0xc3, sizeof(ref));
	CHK_OK(env_s2(&e, ro, SZ_4K, USVA_S2_READ));
	CHK_OK(env_s2(&e, dbuf, SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, va_c, IOVA(canary), SZ_4K, RWU, 0));
	CHK_OK(usva_as_map(e.c[c].as, va_r, IOVA(ro), SZ_4K, RWU, 0));
	CHK_OK(usva_as_map(e.c[c].as, va_d, IOVA(dbuf), SZ_4K, RWU, 0));
	CHK_OK(usva_as_map(e.c[c].as, va_c2, IOVA(canary), SZ_4K, RWU, 0));
	events_drain(&e);
	pfd = (struct pollfd){ .fd = e.evfd, .events = POLLIN };
	CHK(poll(&pfd, 1, 0) == 0, "event fd readable before any fault");

	rc = xl(e.dev[d], pasid, va_c + 0x10, AR, &x);
	CHK(rc == -EIO && x.reason == USVA_EMU_S2_FAULT && x.host == NULL,
	    "leaf outside stage 2: rc %d reason %u", rc, x.reason);
	pfd.revents = 0;
	CHK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN),
	    "event fd not readable after a stage-2 fault");
	n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
	CHK(n == 1 && ev[0].type == USVA_EVENT_S2_FAULT &&
	    ev[0].dev_id == e.dev_id[d] && ev[0].pasid == pasid &&
	    ev[0].access == AR &&
	    (ev[0].addr == IOVA(canary) + 0x10 || ev[0].addr == va_c + 0x10),
	    "%d events: type %u dev %u pasid %u access 0x%x addr 0x%" PRIx64, n,
	    n ? ev[0].type : 0, n ? ev[0].dev_id : 0, n ? ev[0].pasid : 0,
	    n ? ev[0].access : 0, n ? ev[0].addr : 0);
	events_drain(&e);

	memset(tmp, 0, sizeof(tmp));
	got = usva_emu_dma_write(e.dev[d], pasid, va_c, tmp, 64, &f);
	CHK(got == 0 && f.reason == USVA_EMU_S2_FAULT && f.addr == va_c &&
	    (f.access & AW), "DMA write outside stage 2: %" PRId64 " reason %u",
	    got, f.reason);
	got = usva_emu_dma_read(e.dev[d], pasid, va_c, tmp, 64, &f);
	CHK(got == 0 && f.reason == USVA_EMU_S2_FAULT, "DMA read: %" PRId64, got);
	got = usva_emu_dma_compare(e.dev[d], pasid, va_c, ref, 64, &f);
	CHK(got == 0 && f.reason == USVA_EMU_S2_FAULT, "DMA compare: %" PRId64,
	    got);
	CHK(memcmp(canary, ref, SZ_4K) == 0, "memory outside stage 2 changed");
	CHK(events_count(&e, USVA_EVENT_S2_FAULT, (unsigned int *)&n) == 3 &&
	    n == 3, "three DMAs, %d stage-2 events", n);

	/* A DMA that runs from a good page into one outside stage 2. */
	memset(tmp, 0x99, sizeof(tmp));
	got = usva_emu_dma_write(e.dev[d], pasid, va_d + 4000, tmp, 200, &f);
	CHK(got == 96 && f.reason == USVA_EMU_S2_FAULT && f.addr == va_d + 4096,
	    "DMA across into outside stage 2: %" PRId64 " reason %u", got,
	    f.reason);
	CHK(dbuf[3999] == 0x3d && dbuf[4000] == 0x99 && dbuf[4095] == 0x99,
	    "the good part");
	CHK(memcmp(canary, ref, SZ_4K) == 0, "memory outside stage 2 changed");
	events_drain(&e);

	/* Stage 2 read-only. */
	CHK_OK(xl(e.dev[d], pasid, va_r, AR, &x));
	CHK(x.host == ro && x.prot == (PR | PU), "stage-2 read-only: prot 0x%x",
	    x.prot);
	rc = xl(e.dev[d], pasid, va_r, AW, &x);
	CHK(rc == -EIO && x.reason == USVA_EMU_S2_FAULT,
	    "write through stage-2 read-only: rc %d reason %u", rc, x.reason);
	got = usva_emu_dma_write(e.dev[d], pasid, va_r, tmp, 32, &f);
	CHK(got == 0 && ro[0] == 0x5e && ro[31] == 0x5e,
	    "DMA write through stage-2 read-only: %" PRId64, got);
	CHK(events_count(&e, USVA_EVENT_S2_FAULT, (unsigned int *)&n) == 2 &&
	    n == 2, "stage-2 write faults: %d events", n);

	/* Stage-2 unmap takes cached translations through it away. */
	CHK_OK(xl(e.dev[d], pasid, va_d, AR, &x));
	CHK_OK(xl(e.dev[d], pasid, va_d, AR, &x));
	CHK(x.cached, "not cached");
	CHK_OK(env_s2_unmap(&e, dbuf));
	rc = xl(e.dev[d], pasid, va_d, AR, &x);
	CHK(rc == -EIO && x.reason == USVA_EMU_S2_FAULT,
	    "after stage-2 unmap: rc %d reason %u cached %d", rc, x.reason,
	    x.cached);
	CHK_OK(env_s2(&e, dbuf, SZ_4K, S2_RW));
	CHK_OK(xl(e.dev[d], pasid, va_d, AR, &x));
	CHK(x.host == dbuf, "stage-2 map again (no invalidation needed)");
	events_drain(&e);

	/* A stage-1 root outside stage 2: the first table read faults, and
	 * the event names the table entry's IOVA. */
	CHK_OK(craw = env_ctx_raw(&e, IOVA(canary), 48));
	CHK_OK(env_attach(&e, d, craw));
	rc = xl(e.dev[d], e.c[craw].pasid, va_c, AR, &x);
	CHK(rc == -EIO && x.reason == USVA_EMU_S2_FAULT,
	    "root outside stage 2: rc %d reason %u", rc, x.reason);
	n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
	CHK(n == 1 && ev[0].type == USVA_EVENT_S2_FAULT &&
	    ev[0].pasid == e.c[craw].pasid &&
	    ((ev[0].addr >= IOVA(canary) && ev[0].addr < IOVA(canary) + SZ_4K) ||
	     ev[0].addr == va_c), "root outside stage 2: %d events, addr 0x%"
	    PRIx64, n, n ? ev[0].addr : 0);
	CHK(memcmp(canary, ref, SZ_4K) == 0, "table outside stage 2 changed");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_xlate_s2_miss)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours); i++)
		TEST_ASSERT(s2_miss_one(flavours[i]) == TEST_SUCCESS, "%s",
			    flavours[i]);
	return TEST_SUCCESS;
}

/* ---- caches: stale until invalidated ------------------------------------------ */

/*
 * Unmap, remap and downgrade with their invalidation held back in a batch
 * (unmap_held(), protect_held()): the IOTLB keeps serving the old
 * translation (x.cached), DMA included, as hardware does; in strict
 * mode each such use counts in stats.stale_uses and raises one
 * USVA_EVENT_STALE_XLATE, otherwise neither. The right invalidation ends it.
 */
static int
stale_one(const char *params, bool strict)
{
	struct usva_iommu_stats s0, s1;
	struct usva_iommu_event ev[8];
	struct usva_emu_dma_fault f;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf, tmp[8];
	uint64_t unmapped = 0, stale0;
	uint32_t pasid, exp;
	unsigned int nst;
	int d, c, n, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, strict ? USVA_IOMMU_F_STRICT : 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	buf = env_mem(&e, 2 * SZ_4K, SZ_4K, 0x11, true);
	CHK(buf != NULL, "mmap");
	memset(buf + SZ_4K, 0x22, SZ_4K);
	CHK_OK(env_s2(&e, buf, 2 * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU, 0));
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(!x.cached && x.host == buf, "first translation cached %d", x.cached);
	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	CHK(x.cached, "second translation not cached");
	events_drain(&e);
	s0 = stats_of(&e);
	stale0 = s0.stale_uses;
	CHK(stale0 == 0, "stale uses before any change: %" PRIu64, stale0);
	exp = 0;

	/* Unmapped (invalidation held back): still served. */
	CHK_OK(unmap_held(&e, c, VA0, SZ_4K, &unmapped));
	CHK(unmapped == SZ_4K, "unmapped %" PRIu64, unmapped);
	CHK_OK(xl(e.dev[d], pasid, VA0 + 8, AR, &x));
	CHK(x.cached && x.host == buf + 8, "after unmap: cached %d host off %td",
	    x.cached, (uint8_t *)x.host - buf);
	exp += strict;
	s1 = stats_of(&e);
	CHK(s1.stale_uses == exp, "stale_uses %" PRIu64 ", expected %u",
	    s1.stale_uses, exp);
	n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
	if (strict)
		CHK(n == 1 && ev[0].type == USVA_EVENT_STALE_XLATE &&
		    ev[0].pasid == pasid && ev[0].dev_id == e.dev_id[d] &&
		    (ev[0].addr == VA0 + 8 || ev[0].addr == VA0),
		    "strict: %d events, type %u addr 0x%" PRIx64, n,
		    n ? ev[0].type : 0, n ? ev[0].addr : 0);
	else
		CHK(n == 0, "non-strict: %d events", n);
	CHK(usva_emu_dma_read(e.dev[d], pasid, VA0, tmp, 8, &f) == 8 &&
	    tmp[0] == 0x11 && tmp[7] == 0x11, "stale DMA read");
	exp += strict;

	/* Remapped elsewhere: still the old page. */
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf + SZ_4K), SZ_4K, RWU, 0));
	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	CHK(x.cached && x.host == buf, "after remap: cached %d host off %td",
	    x.cached, (uint8_t *)x.host - buf);
	exp += strict;
	CHK_OK(inv_addr(&e, d, pasid, VA0, 1, USVA_INVAL_IOTLB));
	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	CHK(!x.cached && x.host == buf + SZ_4K, "after invalidation: cached %d "
	    "host off %td", x.cached, (uint8_t *)x.host - buf);
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(x.cached, "write not cached");
	s1 = stats_of(&e);
	CHK(s1.stale_uses == exp, "stale_uses %" PRIu64 ", expected %u",
	    s1.stale_uses, exp);

	/* Downgraded to read-only (invalidation held back): writes still
	 * go through. */
	CHK_OK(protect_held(&e, c, VA0, SZ_4K, PR | PU));
	CHK_OK(xl(e.dev[d], pasid, VA0, AW, &x));
	CHK(x.cached && x.host == buf + SZ_4K && (x.prot & PW),
	    "after protect: cached %d prot 0x%x", x.cached, x.prot);
	exp += strict;
	memset(tmp, 0x33, sizeof(tmp));
	CHK(usva_emu_dma_write(e.dev[d], pasid, VA0, tmp, 4, &f) == 4 &&
	    buf[SZ_4K] == 0x33, "stale DMA write");
	exp += strict;
	CHK_OK(inv_addr(&e, d, pasid, VA0, 1, USVA_INVAL_IOTLB));
	rc = xl(e.dev[d], pasid, VA0, AW, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM,
	    "write after protect + invalidation: rc %d reason %u", rc, x.reason);
	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	CHK(!x.cached && x.prot == (PR | PU), "read: cached %d prot 0x%x",
	    x.cached, x.prot);

	CHK_OK(usva_as_unmap(e.c[c].as, VA0, SZ_4K, NULL));
	CHK_OK(inv_addr(&e, d, pasid, VA0, 1, USVA_INVAL_IOTLB));
	rc = xl(e.dev[d], pasid, VA0, AR, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_NOT_PRESENT,
	    "after unmap + invalidation: rc %d reason %u", rc, x.reason);

	s1 = stats_of(&e);
	CHK(s1.stale_uses == exp, "stale_uses %" PRIu64 ", expected %u",
	    s1.stale_uses, exp);
	events_count(&e, USVA_EVENT_STALE_XLATE, &nst);
	CHK(nst == (strict ? exp - 1 : 0), "%u stale events, expected %u", nst,
	    strict ? exp - 1 : 0);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_cache_stale_until_inval)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours); i++)
		for (int strict = 0; strict < 2; strict++)
			TEST_ASSERT(stale_one(flavours[i], strict) == TEST_SUCCESS,
				    "%s, strict %d", flavours[i], strict);
	return TEST_SUCCESS;
}

/* ---- caches: not-present is never cached --------------------------------------- */

/*
 * Faults are not cached: mapping a hole (stage 1 or stage 2) or granting a
 * right needs no invalidation. Run under the strict checker, which must
 * not see a stale use anywhere here.
 */
static int
np_one(const char *params)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf, *nos2;
	uint32_t pasid;
	unsigned int nst;
	int d, c, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, USVA_IOMMU_F_STRICT));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	pasid = e.c[c].pasid;
	buf = env_mem(&e, 4 * SZ_4K, SZ_4K, 0x12, true);
	nos2 = env_mem(&e, SZ_4K, SZ_4K, 0x34, true);
	CHK(buf && nos2, "mmap");
	CHK_OK(env_s2(&e, buf, 4 * SZ_4K, S2_RW));
	s0 = stats_of(&e);

	/* Empty table. */
	rc = xl(e.dev[d], pasid, VA0, AR, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_NOT_PRESENT,
	    "hole: rc %d reason %u", rc, x.reason);
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU, 0));
	CHK_OK(xl(e.dev[d], pasid, VA0, AR, &x));
	CHK(!x.cached && x.host == buf, "mapped hole: cached %d", x.cached);

	/* A hole between two pages of one leaf table. */
	CHK_OK(usva_as_map(e.c[c].as, VA0 + 2 * SZ_4K, IOVA(buf + 2 * SZ_4K),
			   SZ_4K, RWU, 0));
	CHK_OK(xl(e.dev[d], pasid, VA0 + 2 * SZ_4K, AR, &x));
	rc = xl(e.dev[d], pasid, VA0 + SZ_4K, AW, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_NOT_PRESENT,
	    "inner hole: rc %d reason %u", rc, x.reason);
	CHK_OK(usva_as_map(e.c[c].as, VA0 + SZ_4K, IOVA(buf + SZ_4K), SZ_4K,
			   RWU, 0));
	CHK_OK(xl(e.dev[d], pasid, VA0 + SZ_4K, AW, &x));
	CHK(!x.cached && x.host == buf + SZ_4K, "inner hole mapped");

	/* A right granted: read-only, then writable. */
	CHK_OK(usva_as_map(e.c[c].as, VA0 + 3 * SZ_4K, IOVA(buf + 3 * SZ_4K),
			   SZ_4K, PR | PU, 0));
	CHK_OK(xl(e.dev[d], pasid, VA0 + 3 * SZ_4K, AR, &x));
	CHK_OK(xl(e.dev[d], pasid, VA0 + 3 * SZ_4K, AR, &x));
	CHK(x.cached && x.prot == (PR | PU), "read-only cached");
	rc = xl(e.dev[d], pasid, VA0 + 3 * SZ_4K, AW, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_PERM, "write: rc %d", rc);
	CHK_OK(usva_as_protect(e.c[c].as, VA0 + 3 * SZ_4K, SZ_4K, RWU));
	CHK_OK(xl(e.dev[d], pasid, VA0 + 3 * SZ_4K, AW, &x));
	CHK(x.host == buf + 3 * SZ_4K && (x.prot & PW),
	    "upgrade without invalidation: prot 0x%x", x.prot);
	CHK_OK(xl(e.dev[d], pasid, VA0 + 3 * SZ_4K, AR, &x));

	/* Stage 2: a hole, then mapped. */
	CHK_OK(usva_as_map(e.c[c].as, VA0 + 4 * SZ_4K, IOVA(nos2), SZ_4K, RWU, 0));
	rc = xl(e.dev[d], pasid, VA0 + 4 * SZ_4K, AR, &x);
	CHK(rc == -EIO && x.reason == USVA_EMU_S2_FAULT, "stage-2 hole: rc %d", rc);
	CHK_OK(env_s2(&e, nos2, SZ_4K, S2_RW));
	CHK_OK(xl(e.dev[d], pasid, VA0 + 4 * SZ_4K, AR, &x));
	CHK(x.host == nos2 && !x.cached, "stage-2 hole mapped");

	s1 = stats_of(&e);
	CHK(s1.inval_calls == s0.inval_calls && s1.inval_entries == s0.inval_entries,
	    "invalidations ran");
	CHK(s1.stale_uses == 0, "strict: %" PRIu64 " stale uses", s1.stale_uses);
	events_count(&e, USVA_EVENT_STALE_XLATE, &nst);
	CHK(nst == 0, "strict: %u stale events", nst);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_cache_not_present_uncached)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours); i++)
		TEST_ASSERT(np_one(flavours[i]) == TEST_SUCCESS, "%s", flavours[i]);
	return TEST_SUCCESS;
}

/* ---- caches: invalidation granules ---------------------------------------------- */

/*
 * Bit i set if page VA0 + i * 4 KiB of @pasid translates from a cache.
 * Each probe refills, so call it only to look, after the invalidation.
 * -1 on a translation error.
 */
static int64_t
cached_mask(struct env *e, int d, uint32_t pasid, uint64_t base,
	    unsigned int pages)
{
	struct usva_emu_xlate x;
	int64_t m = 0;

	for (unsigned int i = 0; i < pages; i++) {
		if (xl(e->dev[d], pasid, base + i * SZ_4K, AR, &x) != 0)
			return -1;
		if (x.cached)
			m |= INT64_C(1) << i;
	}
	return m;
}

/* Translate every page twice so that each is cached. */
static bool
fill_pages(struct env *e, int d, uint32_t pasid, uint64_t base,
	   unsigned int pages)
{
	return cached_mask(e, d, pasid, base, pages) >= 0 &&
	       cached_mask(e, d, pasid, base, pages) ==
	       (int64_t)((UINT64_C(1) << pages) - 1);
}

/*
 * ADDR: the pages inside go, neighbours and the other PASID's pages with
 * the same addresses stay; a 4 KiB invalidation inside a cached 2 MiB
 * block removes the block, one just outside does not.
 */
static int
gaddr_one(const char *params)
{
	const uint64_t va2 = UINT64_C(0x40000000);
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *ba, *bb, *b2;
	int64_t m;
	uint32_t pa, pb;
	int d, ca, cb, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(ca = env_ctx(&e, 48));
	CHK_OK(cb = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, ca));
	CHK_OK(env_attach(&e, d, cb));
	pa = e.c[ca].pasid;
	pb = e.c[cb].pasid;
	ba = env_mem(&e, 16 * SZ_4K, SZ_4K, 0xaa, true);
	bb = env_mem(&e, 16 * SZ_4K, SZ_4K, 0xbb, true);
	b2 = env_mem(&e, SZ_2M, SZ_2M, 0x22, true);
	CHK(ba && bb && b2, "mmap");
	CHK_OK(env_s2(&e, ba, 16 * SZ_4K, S2_RW));
	CHK_OK(env_s2(&e, bb, 16 * SZ_4K, S2_RW));
	CHK_OK(env_s2(&e, b2, SZ_2M, S2_RW));
	CHK_OK(usva_as_map(e.c[ca].as, VA0, IOVA(ba), 16 * SZ_4K, RWU,
			   USVA_MAP_F_MAX_4K));
	CHK_OK(usva_as_map(e.c[cb].as, VA0, IOVA(bb), 16 * SZ_4K, RWU,
			   USVA_MAP_F_MAX_4K));
	CHK(fill_pages(&e, d, pa, VA0, 16) && fill_pages(&e, d, pb, VA0, 16),
	    "fill");

	CHK_OK(inv_addr(&e, d, pa, VA0 + 5 * SZ_4K, 3, USVA_INVAL_IOTLB));
	m = cached_mask(&e, d, pb, VA0, 16);
	CHK(m == 0xffff, "other PASID: cached mask 0x%" PRIx64, m);
	m = cached_mask(&e, d, pa, VA0, 16);
	CHK(m == (0xffff & ~(0x7 << 5)), "ADDR 5..7: cached mask 0x%" PRIx64
	    ", expected 0x%x", m, 0xffff & ~(0x7 << 5));

	/* First and last page of the range, a one-page range. */
	CHK(fill_pages(&e, d, pa, VA0, 16), "refill");
	CHK_OK(inv_addr(&e, d, pa, VA0, 1, USVA_INVAL_IOTLB));
	CHK_OK(inv_addr(&e, d, pa, VA0 + 15 * SZ_4K, 1, USVA_INVAL_IOTLB));
	m = cached_mask(&e, d, pa, VA0, 16);
	CHK(m == 0x7ffe, "ADDR 0 and 15: cached mask 0x%" PRIx64, m);

	/* 2 MiB block. */
	CHK_OK(usva_as_map(e.c[ca].as, va2, IOVA(b2), SZ_2M, RWU, 0));
	CHK_OK(usva_as_map(e.c[cb].as, va2, IOVA(b2), SZ_2M, RWU, 0));
	CHK_OK(xl(e.dev[d], pa, va2, AR, &x));
	CHK_OK(xl(e.dev[d], pb, va2, AR, &x));
	CHK_OK(xl(e.dev[d], pa, va2 + SZ_1M, AR, &x));
	CHK(x.cached, "2M: block not cached");
	CHK_OK(inv_addr(&e, d, pa, va2 - SZ_4K, 1, USVA_INVAL_IOTLB));
	CHK_OK(inv_addr(&e, d, pa, va2 + SZ_2M, 1, USVA_INVAL_IOTLB));
	CHK_OK(inv_addr(&e, d, pb, va2 + 0x150000, 1, USVA_INVAL_IOTLB));
	CHK_OK(xl(e.dev[d], pa, va2 + 0x10, AR, &x));
	CHK(x.cached, "2M: removed by a neighbour's or another PASID's "
	    "invalidation");
	CHK_OK(inv_addr(&e, d, pa, va2 + 0x150000, 1, USVA_INVAL_IOTLB));
	CHK_OK(xl(e.dev[d], pa, va2 + 0x10, AR, &x));
	CHK(!x.cached && x.host == b2 + 0x10, "2M: a 4K invalidation inside "
	    "the block left it");
	CHK_OK(xl(e.dev[d], pa, va2 + 0x1f0000, AR, &x));
	CHK(x.cached, "2M: refilled block not cached");
	CHK_OK(inv_addr(&e, d, pa, va2 + SZ_2M - SZ_4K, 2, USVA_INVAL_IOTLB));
	CHK_OK(xl(e.dev[d], pa, va2, AR, &x));
	CHK(!x.cached, "2M: a range overlapping the block's last page left it");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_cache_granule_addr)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours_big); i++)
		TEST_ASSERT(gaddr_one(flavours_big[i]) == TEST_SUCCESS, "%s",
			    flavours_big[i]);
	return TEST_SUCCESS;
}

/*
 * PASID: only that PASID's entries (another PASID on the same domain
 * keeps its own); DOMAIN: every PASID of that domain, none of another
 * domain; PASID cache only: the IOTLB stays.
 */
static int
gpd_one(const char *params)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *bx, *by;
	uint32_t p0, p1, p2;
	int64_t m0, m1, m2;
	int d, cx, cy, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(cx = env_ctx(&e, 48));
	CHK_OK(cy = env_ctx(&e, 48));
	CHK_OK(usva_pasid_alloc(e.owner, &p1));
	p0 = e.c[cx].pasid;
	p2 = e.c[cy].pasid;
	CHK_OK(env_attach(&e, d, cx));
	CHK_OK(usva_iommu_attach(e.dev[d], p1, e.c[cx].dom));
	CHK_OK(env_attach(&e, d, cy));
	bx = env_mem(&e, 4 * SZ_4K, SZ_4K, 0x5a, true);
	by = env_mem(&e, 4 * SZ_4K, SZ_4K, 0x6b, true);
	CHK(bx && by, "mmap");
	CHK_OK(env_s2(&e, bx, 4 * SZ_4K, S2_RW));
	CHK_OK(env_s2(&e, by, 4 * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[cx].as, VA0, IOVA(bx), 4 * SZ_4K, RWU, 0));
	CHK_OK(usva_as_map(e.c[cy].as, VA0, IOVA(by), 4 * SZ_4K, RWU, 0));

#define FILL_ALL() CHK(fill_pages(&e, d, p0, VA0, 4) &&			\
		       fill_pages(&e, d, p1, VA0, 4) &&			\
		       fill_pages(&e, d, p2, VA0, 4), "fill")
#define MASKS(a, b, c) do {						\
		m0 = cached_mask(&e, d, p0, VA0, 4);			\
		m1 = cached_mask(&e, d, p1, VA0, 4);			\
		m2 = cached_mask(&e, d, p2, VA0, 4);			\
		CHK(m0 == (a) && m1 == (b) && m2 == (c),		\
		    "cached masks 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 \
		    ", expected 0x%x 0x%x 0x%x", m0, m1, m2, a, b, c);	\
	} while (0)
	/* The probe order matters: look at what must stay first, since
	 * each probe refills. */
	FILL_ALL();
	CHK_OK(inv_pasid(&e, d, p0, USVA_INVAL_IOTLB, 0));
	m1 = cached_mask(&e, d, p1, VA0, 4);
	m2 = cached_mask(&e, d, p2, VA0, 4);
	m0 = cached_mask(&e, d, p0, VA0, 4);
	CHK(m0 == 0 && m1 == 0xf && m2 == 0xf, "PASID p0: masks 0x%" PRIx64
	    " 0x%" PRIx64 " 0x%" PRIx64, m0, m1, m2);

	FILL_ALL();
	CHK_OK(inv_pasid(&e, d, p1, USVA_INVAL_IOTLB, USVA_INVAL_F_LEAF));
	m0 = cached_mask(&e, d, p0, VA0, 4);
	m2 = cached_mask(&e, d, p2, VA0, 4);
	m1 = cached_mask(&e, d, p1, VA0, 4);
	CHK(m0 == 0xf && m1 == 0 && m2 == 0xf, "PASID p1, leaf: masks 0x%"
	    PRIx64 " 0x%" PRIx64 " 0x%" PRIx64, m0, m1, m2);

	FILL_ALL();
	CHK_OK(inv_domain(&e, e.c[cx].dom));
	m2 = cached_mask(&e, d, p2, VA0, 4);
	m0 = cached_mask(&e, d, p0, VA0, 4);
	m1 = cached_mask(&e, d, p1, VA0, 4);
	CHK(m0 == 0 && m1 == 0 && m2 == 0xf, "DOMAIN X: masks 0x%" PRIx64
	    " 0x%" PRIx64 " 0x%" PRIx64, m0, m1, m2);

	FILL_ALL();
	CHK_OK(inv_domain(&e, e.c[cy].dom));
	MASKS(0xf, 0xf, 0);

	/* PASID cache only: the IOTLB keeps the translations; the next
	 * lookup of the PASID entry misses, the one after hits. */
	FILL_ALL();
	CHK_OK(inv_pasid(&e, d, p0, USVA_INVAL_PASID_CACHE, 0));
	s0 = stats_of(&e);
	CHK_OK(xl(e.dev[d], p0, VA0, AR, &x));
	CHK(x.cached, "PASID-cache invalidation removed IOTLB entries");
	s1 = stats_of(&e);
	CHK(s1.pasid_cache_hits == s0.pasid_cache_hits,
	    "PASID cache hit after its invalidation");
	CHK_OK(xl(e.dev[d], p0, VA0, AR, &x));
	s0 = stats_of(&e);
	CHK(s0.pasid_cache_hits == s1.pasid_cache_hits + 1,
	    "PASID cache not refilled");
	MASKS(0xf, 0xf, 0xf);
#undef FILL_ALL
#undef MASKS
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_cache_granule_pasid_domain)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours_big); i++)
		TEST_ASSERT(gpd_one(flavours_big[i]) == TEST_SUCCESS, "%s",
			    flavours_big[i]);
	return TEST_SUCCESS;
}

/*
 * Device TLB: only an ATS device has one. It serves what the IOTLB lost,
 * the IOTLB serves what it lost, and only both invalidations end a stale
 * translation (unmaps hold their own invalidation back: unmap_held()). On a device without ATS the DEVTLB cache is accepted and
 * removes nothing.
 */
static int
devtlb_one(const char *params)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf;
	uint32_t p;
	int da, dn, c, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(da = env_dev(&e, USVA_DEV_F_PRI | USVA_DEV_F_ATS, 0));
	CHK_OK(dn = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, da, c));
	CHK_OK(env_attach(&e, dn, c));
	p = e.c[c].pasid;
	buf = env_mem(&e, 2 * SZ_4K, SZ_4K, 0x41, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, 2 * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU, 0));

	s0 = stats_of(&e);
	CHK_OK(xl(e.dev[da], p, VA0, AR, &x));
	CHK(!x.cached, "first");
	CHK_OK(xl(e.dev[da], p, VA0, AR, &x));
	s1 = stats_of(&e);
	CHK(x.cached && s1.devtlb_hits == s0.devtlb_hits + 1 &&
	    s1.iotlb_hits == s0.iotlb_hits, "ATS: second translation not from "
	    "the device TLB (devtlb +%" PRIu64 ", iotlb +%" PRIu64 ")",
	    s1.devtlb_hits - s0.devtlb_hits, s1.iotlb_hits - s0.iotlb_hits);

	/* Make the translation stale, then take it away cache by cache. */
	CHK_OK(unmap_held(&e, c, VA0, SZ_4K, NULL));
	CHK_OK(inv_addr(&e, da, p, VA0, 1, USVA_INVAL_IOTLB));
	s0 = stats_of(&e);
	CHK_OK(xl(e.dev[da], p, VA0, AR, &x));
	s1 = stats_of(&e);
	CHK(x.cached && x.host == buf && s1.devtlb_hits == s0.devtlb_hits + 1,
	    "IOTLB-only invalidation: the device TLB should still serve it "
	    "(cached %d)", x.cached);
	rc = xl(e.dev[dn], p, VA0, AR, &x);
	CHK(rc == -EFAULT, "non-ATS device after IOTLB invalidation: rc %d "
	    "cached %d", rc, x.cached);

	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU, 0));
	CHK_OK(xl(e.dev[dn], p, VA0, AR, &x));		/* IOTLB again */
	CHK_OK(unmap_held(&e, c, VA0, SZ_4K, NULL));
	CHK_OK(inv_addr(&e, da, p, VA0, 1, USVA_INVAL_DEVTLB));
	s0 = stats_of(&e);
	CHK_OK(xl(e.dev[da], p, VA0, AR, &x));
	s1 = stats_of(&e);
	CHK(x.cached && s1.iotlb_hits == s0.iotlb_hits + 1 &&
	    s1.devtlb_hits == s0.devtlb_hits, "DEVTLB-only invalidation: the "
	    "IOTLB should still serve it (cached %d)", x.cached);
	CHK_OK(inv_addr(&e, da, p, VA0, 1, USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB));
	rc = xl(e.dev[da], p, VA0, AR, &x);
	CHK(rc == -EFAULT && x.reason == USVA_EMU_S1_NOT_PRESENT,
	    "after both: rc %d cached %d", rc, x.cached);
	rc = xl(e.dev[dn], p, VA0, AR, &x);
	CHK(rc == -EFAULT, "non-ATS after both: rc %d", rc);

	/* PASID granule on the device TLB. */
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf + SZ_4K), SZ_4K, RWU, 0));
	CHK_OK(xl(e.dev[da], p, VA0, AR, &x));
	CHK_OK(unmap_held(&e, c, VA0, SZ_4K, NULL));
	CHK_OK(inv_pasid(&e, da, p, USVA_INVAL_IOTLB, 0));
	CHK_OK(xl(e.dev[da], p, VA0, AR, &x));
	CHK(x.cached && x.host == buf + SZ_4K, "PASID IOTLB-only: device TLB gone");
	CHK_OK(inv_pasid(&e, da, p, USVA_INVAL_DEVTLB, 0));
	rc = xl(e.dev[da], p, VA0, AR, &x);
	CHK(rc == -EFAULT, "PASID IOTLB then DEVTLB: rc %d", rc);

	/* No ATS: no device TLB hits, and DEVTLB removes nothing. */
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), SZ_4K, RWU, 0));
	s0 = stats_of(&e);
	CHK_OK(xl(e.dev[dn], p, VA0, AR, &x));
	CHK_OK(xl(e.dev[dn], p, VA0, AR, &x));
	CHK(x.cached, "non-ATS: not cached");
	CHK_OK(unmap_held(&e, c, VA0, SZ_4K, NULL));
	CHK_OK(inv_addr(&e, dn, p, VA0, 1, USVA_INVAL_DEVTLB));
	CHK_OK(xl(e.dev[dn], p, VA0, AR, &x));
	CHK(x.cached && x.host == buf, "non-ATS: DEVTLB invalidation removed the "
	    "IOTLB entry");
	s1 = stats_of(&e);
	CHK(s1.devtlb_hits == s0.devtlb_hits, "non-ATS device: %" PRIu64
	    " device TLB hits", s1.devtlb_hits - s0.devtlb_hits);
	CHK(s1.iotlb_hits == s0.iotlb_hits + 2, "non-ATS: iotlb hits +%" PRIu64,
	    s1.iotlb_hits - s0.iotlb_hits);
	CHK_OK(inv_addr(&e, dn, p, VA0, 1, USVA_INVAL_IOTLB));
	rc = xl(e.dev[dn], p, VA0, AR, &x);
	CHK(rc == -EFAULT, "non-ATS after IOTLB: rc %d", rc);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_cache_devtlb)
{
	for (unsigned int i = 0; i < RTE_DIM(flavours_big); i++)
		TEST_ASSERT(devtlb_one(flavours_big[i]) == TEST_SUCCESS, "%s",
			    flavours_big[i]);
	return TEST_SUCCESS;
}

/*
 * A tiny IOTLB (down to one entry) and device TLB evict all the time; every
 * translation must still be the right one, before and after remapping half
 * the pages (with invalidation), with the strict checker finding nothing.
 */
#define EV_PAGES 64

static int
evict_one(const char *params, uint32_t dev_flags)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_dma_fault f;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf, byte;
	uint32_t map[EV_PAGES], p;
	int d, c, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, USVA_IOMMU_F_STRICT));
	CHK_OK(d = env_dev(&e, dev_flags, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	p = e.c[c].pasid;
	buf = env_mem(&e, EV_PAGES * SZ_4K, SZ_4K, 0, true);
	CHK(buf != NULL, "mmap");
	for (unsigned int i = 0; i < EV_PAGES; i++)
		memset(buf + i * SZ_4K, (int)i, SZ_4K);
	CHK_OK(env_s2(&e, buf, EV_PAGES * SZ_4K, S2_RW));
	for (unsigned int i = 0; i < EV_PAGES; i++) {
		map[i] = (i * 37 + 11) % EV_PAGES;
		CHK_OK(usva_as_map(e.c[c].as, VA0 + i * SZ_4K,
				   IOVA(buf + map[i] * SZ_4K), SZ_4K, RWU, 0));
	}
	s0 = stats_of(&e);
	for (unsigned int it = 0; it < 4000; it++) {
		uint64_t r = usva_test_rand();
		unsigned int i = r % EV_PAGES;
		uint64_t off = (r >> 8) % SZ_4K;
		uint32_t acc = (r >> 20) & 1 ? AW : AR;

		if (it == 2000) {
			/* Remap the even pages, with invalidation. */
			for (unsigned int k = 0; k < EV_PAGES; k += 2) {
				CHK_OK(usva_as_unmap(e.c[c].as, VA0 + k * SZ_4K,
						     SZ_4K, NULL));
				CHK_OK(inv_addr(&e, d, p, VA0 + k * SZ_4K, 1,
						USVA_INVAL_IOTLB |
						USVA_INVAL_DEVTLB));
				map[k] = (map[k] + 5) % EV_PAGES;
				CHK_OK(usva_as_map(e.c[c].as, VA0 + k * SZ_4K,
						   IOVA(buf + map[k] * SZ_4K),
						   SZ_4K, RWU, 0));
			}
		}
		CHK_OK(xl(e.dev[d], p, VA0 + i * SZ_4K + off, acc, &x));
		CHK(x.host == buf + map[i] * SZ_4K + off &&
		    x.len == SZ_4K - off, "iteration %u page %u: host page %td, "
		    "expected %u", it, i, ((uint8_t *)x.host - buf) >> 12, map[i]);
		if (it % 7 == 0) {
			CHK(usva_emu_dma_read(e.dev[d], p, VA0 + i * SZ_4K + off,
					      &byte, 1, &f) == 1 &&
			    byte == map[i], "iteration %u: DMA read %u, expected %u",
			    it, byte, map[i]);
		}
	}
	s1 = stats_of(&e);
	CHK(s1.iotlb_misses - s0.iotlb_misses > 1000, "only %" PRIu64 " misses",
	    s1.iotlb_misses - s0.iotlb_misses);
	CHK(s1.stale_uses == 0, "strict: %" PRIu64 " stale uses", s1.stale_uses);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_cache_eviction)
{
	TEST_ASSERT(evict_one("flavour=vtd,iotlb_sets=1,iotlb_ways=1",
			      USVA_DEV_F_PRI) == TEST_SUCCESS, "vtd 1x1");
	TEST_ASSERT(evict_one(P_VTD, USVA_DEV_F_PRI) == TEST_SUCCESS, "vtd 4x2");
	TEST_ASSERT(evict_one("flavour=smmuv3,iotlb_sets=1,iotlb_ways=1,"
			      "devtlb_entries=1",
			      USVA_DEV_F_PRI | USVA_DEV_F_ATS) == TEST_SUCCESS,
		    "smmuv3 1x1, ATS with one device TLB entry");
	TEST_ASSERT(evict_one("flavour=smmuv3,iotlb_sets=4,iotlb_ways=2,"
			      "devtlb_entries=2",
			      USVA_DEV_F_PRI | USVA_DEV_F_ATS) == TEST_SUCCESS,
		    "smmuv3 4x2, ATS");
	return TEST_SUCCESS;
}

/* ---- PRI: page requests and responses ------------------------------------------- */

static int
prq_req(struct env *e, int d, uint32_t pasid, uint64_t addr, uint32_t grpid,
	uint16_t perm, uint16_t flags, uint64_t priv0, uint64_t priv1)
{
	struct usva_emu_prq_desc dsc = {
		.addr = addr,
		.private_data = { priv0, priv1 },
		.pasid = pasid,
		.grpid = grpid,
		.perm = perm,
		.flags = flags,
	};

	return usva_emu_page_request(e->dev[d], &dsc);
}

static uint16_t
prq_poll(struct env *e, struct usva_page_req *reqs, uint16_t n)
{
	return usva_iommu_prq_poll(e->id, reqs, n);
}

/* Answer @r (as polled) with @code, echoing what it carries. */
static uint16_t
prq_answer(struct env *e, const struct usva_page_req *r, uint16_t code)
{
	struct usva_page_resp resp = {
		.dev_id = r->dev_id,
		.pasid = r->pasid,
		.grpid = r->grpid,
		.cookie = r->cookie,
		.code = code,
		.flags = r->flags & (USVA_PREQ_F_PASID | USVA_PREQ_F_PRIV_DATA),
		.private_data = { r->private_data[0], r->private_data[1] },
	};

	return usva_iommu_page_respond(e->id, &resp, 1);
}

static uint16_t
prq_respond(struct env *e, uint32_t dev_id, uint32_t pasid, uint32_t grpid,
	    uint32_t cookie, uint16_t code)
{
	struct usva_page_resp resp = {
		.dev_id = dev_id, .pasid = pasid, .grpid = grpid,
		.cookie = cookie, .code = code, .flags = USVA_PREQ_F_PASID,
	};

	return usva_iommu_page_respond(e->id, &resp, 1);
}

static int
dev_resps(struct env *e, int d, struct usva_emu_prg_resp *out, unsigned int n)
{
	return usva_emu_dev_responses(e->dev[d], out, n);
}

/* An instance, a PRI device (capacity @cap) and @nctx attached PASIDs. */
static int
prq_env(struct env *e, const char *params, uint32_t cap, unsigned int nctx)
{
	int d, c;

	TEST_ASSERT_OK(env_open(e, params, 0));
	d = env_dev(e, USVA_DEV_F_PRI, cap);
	TEST_ASSERT(d == 0, "device: %d", d);
	for (unsigned int i = 0; i < nctx; i++) {
		c = env_ctx(e, 48);
		TEST_ASSERT(c == (int)i, "context: %d", c);
		TEST_ASSERT_OK(env_attach(e, d, c));
	}
	return TEST_SUCCESS;
}

#define PRQ_ENV(e, params, cap, nctx)					\
	CHK(prq_env(e, params, cap, nctx) == TEST_SUCCESS, "PRI set-up")

/* Every field of a polled request; one response, private data echoed. */
USVA_TEST(fast, emu_prq_request_fields)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[4];
	struct usva_page_req rq[8];
	struct env e;
	uint32_t p;
	uint64_t t0;
	int d2, n, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 0, 1);
	p = e.c[0].pasid;
	s0 = stats_of(&e);
	t0 = rte_rdtsc();
	CHK_OK(prq_req(&e, 0, p, VA0 + 0x1234, 7, AR | AW,
		       USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA, 0xdead, 0xbeef));
	CHK(usva_emu_outstanding_groups(e.iommu) == 1, "outstanding groups %u",
	    usva_emu_outstanding_groups(e.iommu));
	s1 = stats_of(&e);
	CHK(s1.page_requests == s0.page_requests + 1, "page_requests");
	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == 1, "polled %d", n);
	CHK(rq[0].addr == VA0 + 0x1000, "addr 0x%" PRIx64 " not page aligned",
	    rq[0].addr);
	CHK(rq[0].pasid == p && rq[0].grpid == 7 && rq[0].perm == (AR | AW) &&
	    rq[0].dev_id == e.dev_id[0], "pasid %u grpid %u perm 0x%x dev %u",
	    rq[0].pasid, rq[0].grpid, rq[0].perm, rq[0].dev_id);
	CHK((rq[0].flags & (USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA |
			    USVA_PREQ_F_PASID)) ==
	    (USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA | USVA_PREQ_F_PASID),
	    "flags 0x%x", rq[0].flags);
	CHK(rq[0].private_data[0] == 0xdead && rq[0].private_data[1] == 0xbeef,
	    "private data 0x%" PRIx64 " 0x%" PRIx64, rq[0].private_data[0],
	    rq[0].private_data[1]);
	CHK(rq[0].ts >= t0 && rq[0].ts <= rte_rdtsc(), "ts");
	CHK(prq_poll(&e, rq + 1, 4) == 0, "polled twice");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "a response before software "
	    "answered");

	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].pasid == p && rs[0].grpid == 7 &&
	    rs[0].code == USVA_PAGE_RESP_SUCCESS &&
	    (rs[0].flags & USVA_PREQ_F_PRIV_DATA) &&
	    rs[0].private_data[0] == 0xdead && rs[0].private_data[1] == 0xbeef,
	    "%d responses: pasid %u grpid %u code %u flags 0x%x priv 0x%" PRIx64,
	    n, n ? rs[0].pasid : 0, n ? rs[0].grpid : 0, n ? rs[0].code : 0,
	    n ? rs[0].flags : 0, n ? rs[0].private_data[0] : 0);
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "two responses");
	CHK(usva_emu_outstanding_groups(e.iommu) == 0, "group still outstanding");
	s0 = stats_of(&e);
	CHK(s0.responses == s1.responses + 1 &&
	    s0.responses_dropped == s1.responses_dropped, "response counters");

	/* Without PRIV_DATA nothing is echoed. */
	CHK_OK(prq_req(&e, 0, p, VA0, 8, AR, USVA_PREQ_F_LAST, 1, 2));
	CHK(prq_poll(&e, rq, 8) == 1 && !(rq[0].flags & USVA_PREQ_F_PRIV_DATA),
	    "no private data: flags 0x%x", rq[0].flags);
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_INVALID) == 1, "respond");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].code == USVA_PAGE_RESP_INVALID &&
	    !(rs[0].flags & USVA_PREQ_F_PRIV_DATA), "response flags 0x%x",
	    n ? rs[0].flags : 0);

	/* A second device: its dev_id in the request, the response to it. */
	CHK_OK(d2 = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(env_attach(&e, d2, 0));
	CHK_OK(prq_req(&e, d2, p, VA0, 7, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, 8) == 1 && rq[0].dev_id == e.dev_id[d2] &&
	    e.dev_id[d2] != e.dev_id[0], "second device: dev_id %u", rq[0].dev_id);
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "response to the wrong device");
	CHK(dev_resps(&e, d2, rs, RTE_DIM(rs)) == 1, "second device response");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* A group of several requests is answered once, with the last request's
 * cookie; groups are per (device, PASID, index). */
USVA_TEST(fast, emu_prq_group_once)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[8];
	struct usva_page_req rq[8];
	struct env e;
	uint32_t p, q;
	int n, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 0, 2);
	p = e.c[0].pasid;
	q = e.c[1].pasid;
	s0 = stats_of(&e);
	CHK_OK(prq_req(&e, 0, p, VA0, 9, AR, 0, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0 + SZ_4K, 9, AR | AW, 0, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0 + 2 * SZ_4K, 9, AR,
		       USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA, 1, 2));
	CHK(usva_emu_outstanding_groups(e.iommu) == 1, "one group, %u counted",
	    usva_emu_outstanding_groups(e.iommu));
	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == 3, "polled %d", n);
	for (int i = 0; i < 3; i++)
		CHK(rq[i].grpid == 9 && rq[i].addr == VA0 + i * SZ_4K &&
		    !!(rq[i].flags & USVA_PREQ_F_LAST) == (i == 2),
		    "request %d: grpid %u addr 0x%" PRIx64 " flags 0x%x", i,
		    rq[i].grpid, rq[i].addr, rq[i].flags);
	CHK(rq[0].cookie != rq[2].cookie && rq[1].cookie != rq[2].cookie,
	    "cookies not distinct");
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0,
	    "answered with a non-last request's cookie");
	CHK(prq_answer(&e, &rq[2], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].grpid == 9 && rs[0].private_data[0] == 1 &&
	    rs[0].private_data[1] == 2, "group answered %d times", n);
	CHK(prq_answer(&e, &rq[2], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "group answered twice");

	/* An open group (no last request yet) cannot be answered. */
	CHK_OK(prq_req(&e, 0, p, VA0, 10, AR, 0, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "open group answered");
	CHK_OK(prq_req(&e, 0, p, VA0 + SZ_4K, 10, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 1, "closed group not answered");

	/* The same index on two PASIDs: two groups. */
	CHK_OK(prq_req(&e, 0, p, VA0, 11, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, q, VA0, 11, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(usva_emu_outstanding_groups(e.iommu) == 2, "two groups");
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 2, "poll");
	CHK(prq_answer(&e, &rq[1], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].pasid == q, "PASID q: %d responses", n);
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].pasid == p, "PASID p: %d responses", n);

	s1 = stats_of(&e);
	CHK(s1.responses - s0.responses == 4 &&
	    s1.responses_dropped - s0.responses_dropped == 3,
	    "responses +%" PRIu64 ", dropped +%" PRIu64,
	    s1.responses - s0.responses,
	    s1.responses_dropped - s0.responses_dropped);
	CHK(usva_emu_outstanding_groups(e.iommu) == 0, "groups left");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/*
 * A full queue: the request that does not fit returns 1, counts in
 * prq_overflow, raises USVA_EVENT_PRQ_OVERFLOW, and if it ends its group
 * the IOMMU answers SUCCESS itself (the device retries); a lost non-last
 * request is not answered. Nothing else is lost: every group gets exactly
 * one response.
 */
#define OVF_DEPTH 16

USVA_TEST(fast, emu_prq_overflow)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[64];
	struct usva_page_req rq[64];
	unsigned int seen[OVF_DEPTH + 2] = { 0 }, novf;
	struct env e;
	uint32_t p;
	int n, rc, ret = TEST_FAILED;

	PRQ_ENV(&e, "flavour=vtd,prq_depth=16", 64, 1);
	p = e.c[0].pasid;
	events_drain(&e);
	for (uint32_t g = 0; g < OVF_DEPTH; g++)
		CHK_OK(prq_req(&e, 0, p, VA0 + g * SZ_4K, g, AR,
			       USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA, g, ~g));
	s0 = stats_of(&e);
	rc = prq_req(&e, 0, p, VA0, OVF_DEPTH, AR,
		     USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA, 0x16, 0x61);
	CHK(rc == 1, "request into a full queue: %d", rc);
	s1 = stats_of(&e);
	CHK(s1.prq_overflow == s0.prq_overflow + 1 &&
	    s1.page_requests == s0.page_requests, "overflow +%" PRIu64
	    " requests +%" PRIu64, s1.prq_overflow - s0.prq_overflow,
	    s1.page_requests - s0.page_requests);
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].grpid == OVF_DEPTH &&
	    rs[0].code == USVA_PAGE_RESP_SUCCESS && rs[0].private_data[0] == 0x16,
	    "auto response: %d, grpid %u code %u", n, n ? rs[0].grpid : 0,
	    n ? rs[0].code : 0);
	seen[OVF_DEPTH]++;
	events_count(&e, USVA_EVENT_PRQ_OVERFLOW, &novf);
	CHK(novf == 1, "%u overflow events", novf);

	/* A lost request that is not its group's last: no response yet. */
	rc = prq_req(&e, 0, p, VA0, OVF_DEPTH + 1, AR, 0, 0, 0);
	CHK(rc == 1, "second overflow: %d", rc);
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "non-last request answered");
	CHK(usva_emu_outstanding_groups(e.iommu) == OVF_DEPTH + 1,
	    "outstanding groups %u", usva_emu_outstanding_groups(e.iommu));

	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == OVF_DEPTH, "polled %d of %d", n, OVF_DEPTH);
	for (int i = 0; i < n; i++)
		CHK(rq[i].grpid == (uint32_t)i && rq[i].private_data[0] == (uint64_t)i,
		    "request %d: grpid %u", i, rq[i].grpid);
	/* Room again: the group's last request gets through. */
	CHK_OK(prq_req(&e, 0, p, VA0 + SZ_4K, OVF_DEPTH + 1, AR,
		       USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq + n, 8) == 1 && rq[n].grpid == OVF_DEPTH + 1 &&
	    rq[n].addr == VA0 + SZ_4K, "last request of the half-lost group");
	n++;
	for (int i = 0; i < n; i++)
		CHK(prq_answer(&e, &rq[i], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == OVF_DEPTH + 1, "%d responses", n);
	for (int i = 0; i < n; i++) {
		CHK(rs[i].grpid < OVF_DEPTH + 2, "grpid %u", rs[i].grpid);
		seen[rs[i].grpid]++;
	}
	for (unsigned int g = 0; g < OVF_DEPTH + 2; g++)
		CHK(seen[g] == 1, "group %u answered %u times", g, seen[g]);
	CHK(usva_emu_outstanding_groups(e.iommu) == 0, "groups left");
	s1 = stats_of(&e);
	CHK(s1.responses_dropped == 0, "%" PRIu64 " responses dropped",
	    s1.responses_dropped);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/*
 * Responses that match no outstanding group are consumed, dropped and
 * counted (and reported), and reach no device: answered twice, unknown
 * index, wrong cookie, wrong PASID, unknown device, index out of range,
 * unknown code, after detach.
 */
USVA_TEST(fast, emu_prq_stale_responses)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[8];
	struct usva_page_resp batch[3];
	struct usva_page_req rq[8], r;
	struct env e;
	uint32_t p, q, dropped = 0, accepted = 0;
	unsigned int nbad;
	int n, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 0, 2);
	p = e.c[0].pasid;
	q = e.c[1].pasid;
	CHK_OK(prq_req(&e, 0, p, VA0, 3, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	r = rq[0];
	events_drain(&e);
	s0 = stats_of(&e);
#define DROP(what, ...) do {						\
		struct usva_page_req b__ = r;				\
		{ __VA_ARGS__; }					\
		CHK(prq_answer(&e, &b__, USVA_PAGE_RESP_SUCCESS) == 1,	\
		    "%s: not consumed", what);				\
		dropped++;						\
		CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0,		\
		    "%s: reached the device", what);			\
		s1 = stats_of(&e);					\
		CHK(s1.responses_dropped - s0.responses_dropped == dropped && \
		    s1.responses == s0.responses + accepted,		\
		    "%s: dropped %" PRIu64 " accepted %" PRIu64, what,	\
		    s1.responses_dropped - s0.responses_dropped,	\
		    s1.responses - s0.responses);			\
	} while (0)
	DROP("wrong cookie", b__.cookie++);
	DROP("wrong PASID", b__.pasid = q);
	DROP("unknown index", b__.grpid = 4);
	DROP("index out of range", b__.grpid = 600);
	DROP("unknown device", b__.dev_id += 100);
	CHK(usva_emu_outstanding_groups(e.iommu) == 1, "group gone");
	{
		struct usva_page_resp bad = {
			.dev_id = r.dev_id, .pasid = r.pasid, .grpid = r.grpid,
			.cookie = r.cookie, .code = 5,
		};

		CHK(usva_iommu_page_respond(e.id, &bad, 1) == 1, "bad code");
		dropped++;
		CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "bad code delivered");
	}
	CHK(prq_answer(&e, &r, USVA_PAGE_RESP_SUCCESS) == 1, "the right one");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 1, "the right one not delivered");
	accepted++;
	DROP("answered twice", (void)0);
	events_count(&e, USVA_EVENT_BAD_RESPONSE, &nbad);
	CHK(nbad == dropped, "%u BAD_RESPONSE events for %u drops", nbad, dropped);

	/* A batch mixing good and bad: all consumed, one accepted. */
	CHK_OK(prq_req(&e, 0, q, VA0, 5, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	for (int i = 0; i < 3; i++)
		batch[i] = (struct usva_page_resp){
			.dev_id = rq[0].dev_id, .pasid = rq[0].pasid,
			.grpid = rq[0].grpid, .cookie = rq[0].cookie,
			.code = USVA_PAGE_RESP_SUCCESS,
		};
	batch[0].grpid = 6;
	batch[2].cookie++;
	s0 = stats_of(&e);
	CHK(usva_iommu_page_respond(e.id, batch, 3) == 3, "batch not consumed");
	s1 = stats_of(&e);
	CHK(s1.responses == s0.responses + 1 &&
	    s1.responses_dropped == s0.responses_dropped + 2, "batch counters");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 1, "batch delivered");

	/* After detach: the IOMMU answered INVALID; software's answer is
	 * stale. */
	CHK_OK(prq_req(&e, 0, q, VA0, 5, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	CHK_OK(usva_iommu_detach(e.dev[0], q));
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].code == USVA_PAGE_RESP_INVALID && rs[0].pasid == q &&
	    rs[0].grpid == 5, "detach: %d responses", n);
	s0 = stats_of(&e);
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	s1 = stats_of(&e);
	CHK(s1.responses_dropped == s0.responses_dropped + 1 &&
	    s1.responses == s0.responses, "response after detach accepted");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "answered twice after detach");
#undef DROP
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/*
 * FAILURE: that group gets FAILURE, every other outstanding group of the
 * device INVALID (each exactly once, queued requests withdrawn), PRI is
 * off (-EPERM) until re-enabled; late answers are stale.
 */
USVA_TEST(fast, emu_prq_failure_disables)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[8];
	struct usva_page_req rq[8];
	unsigned int inval = 0, fail = 0;
	struct env e;
	uint32_t p, q;
	int n, rc, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 0, 2);
	p = e.c[0].pasid;
	q = e.c[1].pasid;
	CHK(usva_emu_dev_pri_enabled(e.dev[0]), "PRI off at open");
	CHK_OK(prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	CHK_OK(prq_req(&e, 0, p, VA0 + SZ_4K, 2, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, q, VA0, 3, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, q, VA0, 4, AR, 0, 0, 0));

	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_FAILURE) == 1, "respond");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 4, "%d responses after FAILURE, expected 4", n);
	for (int i = 0; i < n; i++) {
		if (rs[i].grpid == 1)
			fail += rs[i].code == USVA_PAGE_RESP_FAILURE;
		else
			inval += rs[i].code == USVA_PAGE_RESP_INVALID;
	}
	CHK(fail == 1 && inval == 3, "FAILURE %u, INVALID %u", fail, inval);
	CHK(!usva_emu_dev_pri_enabled(e.dev[0]), "PRI still enabled");
	CHK(usva_emu_outstanding_groups(e.iommu) == 0, "groups left");
	CHK(prq_poll(&e, rq + 1, 7) == 0, "requests of answered groups polled");

	s0 = stats_of(&e);
	rc = prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0);
	CHK(rc == -EPERM, "request with PRI disabled: %d", rc);
	s1 = stats_of(&e);
	CHK(s1.page_requests == s0.page_requests && prq_poll(&e, rq + 1, 7) == 0,
	    "a refused request was queued");
	CHK(prq_respond(&e, e.dev_id[0], p, 2, 0, USVA_PAGE_RESP_SUCCESS) == 1,
	    "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "late answer delivered");

	CHK_OK(usva_emu_dev_pri_enable(e.dev[0]));
	CHK(usva_emu_dev_pri_enabled(e.dev[0]), "PRI not re-enabled");
	CHK_OK(prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll after re-enable");
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].code == USVA_PAGE_RESP_SUCCESS, "after re-enable");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* pri_capacity bounds the requests a device has outstanding, until it
 * takes their responses; a refused request leaves no trace. */
USVA_TEST(fast, emu_prq_capacity)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[8];
	struct usva_page_req rq[8];
	struct usva_dev_info info = { .size = sizeof(info) };
	struct env e;
	uint32_t p;
	int n, rc, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 4, 1);
	p = e.c[0].pasid;
	CHK_OK(usva_iommu_dev_info(e.dev[0], &info));
	CHK(info.pri_capacity == 4, "pri_capacity %u", info.pri_capacity);
	CHK_OK(prq_req(&e, 0, p, VA0, 0, AR, 0, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0 + SZ_4K, 0, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0, 2, AR, USVA_PREQ_F_LAST, 0, 0));
	s0 = stats_of(&e);
	rc = prq_req(&e, 0, p, VA0, 3, AR, USVA_PREQ_F_LAST, 0, 0);
	CHK(rc == -EBUSY, "fifth request: %d", rc);
	rc = prq_req(&e, 0, p, VA0, 2, AR, USVA_PREQ_F_LAST, 0, 0);
	CHK(rc == -EBUSY, "fifth request into an existing group: %d", rc);
	s1 = stats_of(&e);
	CHK(s1.page_requests == s0.page_requests, "refused request counted");
	CHK(usva_emu_outstanding_groups(e.iommu) == 3, "groups %u",
	    usva_emu_outstanding_groups(e.iommu));
	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == 4, "polled %d", n);
	CHK(prq_answer(&e, &rq[1], USVA_PAGE_RESP_SUCCESS) == 1, "respond g0");
	CHK(prq_answer(&e, &rq[2], USVA_PAGE_RESP_SUCCESS) == 1, "respond g1");
	rc = prq_req(&e, 0, p, VA0, 3, AR, USVA_PREQ_F_LAST, 0, 0);
	CHK(rc == -EBUSY, "before the device took its responses: %d", rc);
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 2, "two responses");
	/* Three requests' worth of credit came back. */
	CHK_OK(prq_req(&e, 0, p, VA0, 3, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0, 4, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0, 5, AR, USVA_PREQ_F_LAST, 0, 0));
	rc = prq_req(&e, 0, p, VA0, 6, AR, USVA_PREQ_F_LAST, 0, 0);
	CHK(rc == -EBUSY, "at capacity again: %d", rc);
	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == 3, "polled %d", n);
	for (int i = 0; i < n; i++)
		CHK(prq_answer(&e, &rq[i], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	CHK(prq_respond(&e, e.dev_id[0], p, 2, 0, USVA_PAGE_RESP_SUCCESS) == 1,
	    "consumed");	/* wrong cookie: dropped */
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 3, "%d responses", n);
	CHK(usva_emu_outstanding_groups(e.iommu) == 1, "group 2 should remain");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/*
 * Detach answers every outstanding group of that PASID INVALID exactly
 * once (polled or still queued, complete or open) and no other PASID's;
 * its queued requests are withdrawn; a response from before a re-attach is
 * stale.
 */
USVA_TEST(fast, emu_prq_detach_answers)
{
	struct usva_emu_prg_resp rs[16];
	struct usva_page_req rq[16], old;
	unsigned int seen[4] = { 0 };
	struct env e;
	uint32_t p, q;
	int n, rc, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 0, 2);
	p = e.c[0].pasid;
	q = e.c[1].pasid;
	CHK_OK(prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	old = rq[0];
	CHK_OK(prq_req(&e, 0, p, VA0, 2, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0, 3, AR, 0, 0, 0));
	CHK_OK(prq_req(&e, 0, q, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(usva_emu_outstanding_groups(e.iommu) == 4, "groups %u",
	    usva_emu_outstanding_groups(e.iommu));

	CHK_OK(usva_iommu_detach(e.dev[0], p));
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 3, "%d responses after detach, expected 3", n);
	for (int i = 0; i < n; i++) {
		CHK(rs[i].pasid == p && rs[i].code == USVA_PAGE_RESP_INVALID &&
		    rs[i].grpid >= 1 && rs[i].grpid <= 3, "response %d: pasid %u "
		    "grpid %u code %u", i, rs[i].pasid, rs[i].grpid, rs[i].code);
		seen[rs[i].grpid]++;
	}
	CHK(seen[1] == 1 && seen[2] == 1 && seen[3] == 1, "groups answered "
	    "%u %u %u times", seen[1], seen[2], seen[3]);
	CHK(usva_emu_outstanding_groups(e.iommu) == 1, "groups %u",
	    usva_emu_outstanding_groups(e.iommu));
	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == 1 && rq[0].pasid == q, "after detach polled %d (first pasid %u)",
	    n, n ? rq[0].pasid : 0);
	CHK(prq_answer(&e, &old, USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "stale answer delivered");
	rc = prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0);
	CHK(rc == -EINVAL, "request on a detached PASID: %d", rc);
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "respond q");
	n = dev_resps(&e, 0, rs, RTE_DIM(rs));
	CHK(n == 1 && rs[0].pasid == q && rs[0].code == USVA_PAGE_RESP_SUCCESS,
	    "q's group");

	/* A new life of the PASID: the old answer still does not match. */
	CHK_OK(env_attach(&e, 0, 0));
	CHK_OK(prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0));
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 1, "poll");
	CHK(prq_answer(&e, &old, USVA_PAGE_RESP_SUCCESS) == 1, "consumed");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "old life's answer accepted");
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 1, "new life's answer");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* Requests the IOMMU refuses, with nothing queued or counted. */
USVA_TEST(fast, emu_prq_bad_requests)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_prg_resp rs[4];
	struct usva_page_req rq[8];
	struct env e;
	uint32_t p, idle;
	int dn, n, ret = TEST_FAILED;

	PRQ_ENV(&e, P_VTD, 0, 1);
	p = e.c[0].pasid;
	CHK_OK(dn = env_dev(&e, 0, 0));
	CHK_OK(env_attach(&e, dn, 0));
	CHK_OK(usva_pasid_alloc(e.owner, &idle));
	s0 = stats_of(&e);
	CHK_ERR(prq_req(&e, 0, p, VA0, 512, AR, USVA_PREQ_F_LAST, 0, 0), EINVAL);
	CHK_ERR(prq_req(&e, 0, p, VA0, UINT32_MAX, AR, USVA_PREQ_F_LAST, 0, 0),
		EINVAL);
	CHK_ERR(prq_req(&e, 0, p, VA0, 1, AR, USVA_PREQ_F_LAST | 0x80, 0, 0),
		EINVAL);
	CHK_ERR(prq_req(&e, 0, 0, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0), EINVAL);
	CHK_ERR(prq_req(&e, 0, 1u << 20, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0),
		EINVAL);
	CHK_ERR(prq_req(&e, 0, idle, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0), EINVAL);
	CHK_ERR(prq_req(&e, dn, p, VA0, 1, AR, USVA_PREQ_F_LAST, 0, 0), EPERM);
	CHK_ERR(usva_emu_page_request(e.dev[0], NULL), EINVAL);
	CHK(!usva_emu_dev_pri_enabled(e.dev[dn]), "PRI on a device without it");
	s1 = stats_of(&e);
	CHK(s1.page_requests == s0.page_requests &&
	    s1.prq_overflow == s0.prq_overflow, "refused requests counted");
	CHK(usva_emu_outstanding_groups(e.iommu) == 0, "refused requests "
	    "opened groups");
	CHK(prq_poll(&e, rq, RTE_DIM(rq)) == 0, "refused requests queued");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 0, "refused requests answered");
	CHK(usva_emu_dev_pri_enabled(e.dev[0]), "a refused request disabled PRI");

	/* The largest index is fine. */
	CHK_OK(prq_req(&e, 0, p, VA0, 511, AR, USVA_PREQ_F_LAST, 0, 0));
	n = prq_poll(&e, rq, RTE_DIM(rq));
	CHK(n == 1 && rq[0].grpid == 511, "grpid 511");
	CHK(prq_answer(&e, &rq[0], USVA_PAGE_RESP_SUCCESS) == 1, "respond");
	CHK(dev_resps(&e, 0, rs, RTE_DIM(rs)) == 1, "response");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* ---- isolation: a property test ----------------------------------------------- */

/*
 * PASIDs A and B each map the same window of VAs: B to its own buffer, A at
 * random (holes, random prot, its own stage-2 buffer, a stage-2 read-only
 * buffer, or a canary page outside stage 2). Random DMA by A, at random
 * addresses in and around the window, must do exactly what A's table
 * allows: the byte count, the fault reason and address, the stage-2 event;
 * bytes change only in A's writable pages, every read returns A's bytes,
 * and B's buffer, the read-only buffer and the canary never change. A's
 * table is rebuilt (with invalidation) every round, with B's translations
 * warm in the same IOTLB.
 */
#define ISO_WIN	32	/* window pages */
#define ISO_NA	16	/* A's buffer pages */
#define ISO_NB	16
#define ISO_NR	4	/* stage-2 read-only pages */
#define ISO_NC	4	/* canary pages (not in stage 2) */
#define ISO_VA0	(UINT64_C(0x20000000) - 16 * SZ_4K)	/* straddles 2 MiB */

enum { ISO_NONE, ISO_A, ISO_R, ISO_C };

struct iso_pte {
	uint8_t type;
	uint8_t idx;
	uint32_t prot;
};

static void
rand_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = usva_test_rand();

		memcpy(p + i, &r, RTE_MIN((size_t)8, n - i));
	}
}

/* What A's DMA of [va, va + len) must do. */
static uint64_t
iso_expect(const struct iso_pte *pte, uint64_t va, uint64_t len, bool write,
	   uint32_t *reason)
{
	uint64_t done = 0;

	*reason = USVA_EMU_OK;
	while (done < len) {
		uint64_t cur = va + done;
		const struct iso_pte *p;

		if (cur < ISO_VA0 || cur >= ISO_VA0 + ISO_WIN * SZ_4K) {
			*reason = USVA_EMU_S1_NOT_PRESENT;
			break;
		}
		p = &pte[(cur - ISO_VA0) >> 12];
		if (p->type == ISO_NONE) {
			*reason = USVA_EMU_S1_NOT_PRESENT;
			break;
		}
		if (!(p->prot & PU) || (write && !(p->prot & PW))) {
			*reason = USVA_EMU_S1_PERM;
			break;
		}
		if (p->type == ISO_C || (p->type == ISO_R && write)) {
			*reason = USVA_EMU_S2_FAULT;
			break;
		}
		done += RTE_MIN(len - done, SZ_4K - (cur & (SZ_4K - 1)));
	}
	return done;
}

static int
iso_one(const char *params, unsigned int rounds, unsigned int per_round)
{
	static struct iso_pte pte[ISO_WIN];
	struct usva_iommu_event ev[4];
	struct usva_emu_dma_fault f;
	struct usva_iommu_stats st;
	struct env e;
	uint8_t *ba, *bb, *br, *bc, *sa, *cb, *cr, *cc, *tmp, *chk;
	uint32_t pa, pb;
	unsigned int faults[8] = { 0 }, writes = 0, reads = 0;
	int d, ca, cbx, n, ret = TEST_FAILED;

	CHK_OK(env_open(&e, params, USVA_IOMMU_F_STRICT));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(ca = env_ctx(&e, 48));
	CHK_OK(cbx = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, ca));
	CHK_OK(env_attach(&e, d, cbx));
	pa = e.c[ca].pasid;
	pb = e.c[cbx].pasid;
	ba = env_mem(&e, ISO_NA * SZ_4K, SZ_4K, 0, true);
	bb = env_mem(&e, ISO_NB * SZ_4K, SZ_4K, 0, true);
	br = env_mem(&e, ISO_NR * SZ_4K, SZ_4K, 0, true);
	bc = env_mem(&e, ISO_NC * SZ_4K, SZ_4K, 0, true);
	/* Shadows (not in stage 2). */
	sa = env_mem(&e, ISO_NA * SZ_4K, SZ_4K, 0, true);
	cb = env_mem(&e, ISO_NB * SZ_4K, SZ_4K, 0, true);
	cr = env_mem(&e, ISO_NR * SZ_4K, SZ_4K, 0, true);
	cc = env_mem(&e, ISO_NC * SZ_4K, SZ_4K, 0, true);
	tmp = env_mem(&e, 4 * SZ_4K, SZ_4K, 0, true);
	chk = env_mem(&e, ISO_WIN * SZ_4K, SZ_4K, 0, true);
	CHK(ba && bb && br && bc && sa && cb && cr && cc && tmp && chk, "mmap");
	rand_fill(ba, ISO_NA * SZ_4K);
	rand_fill(bb, ISO_NB * SZ_4K);
	rand_fill(br, ISO_NR * SZ_4K);
	memset(bc, 0xcc, ISO_NC * SZ_4K);
	memcpy(sa, ba, ISO_NA * SZ_4K);
	memcpy(cb, bb, ISO_NB * SZ_4K);
	memcpy(cr, br, ISO_NR * SZ_4K);
	memcpy(cc, bc, ISO_NC * SZ_4K);
	CHK_OK(env_s2(&e, ba, ISO_NA * SZ_4K, S2_RW));
	CHK_OK(env_s2(&e, bb, ISO_NB * SZ_4K, S2_RW));
	CHK_OK(env_s2(&e, br, ISO_NR * SZ_4K, USVA_S2_READ));
	for (unsigned int i = 0; i < ISO_WIN; i++)
		CHK_OK(usva_as_map(e.c[cbx].as, ISO_VA0 + i * SZ_4K,
				   IOVA(bb + (i % ISO_NB) * SZ_4K), SZ_4K, RWU, 0));

	for (unsigned int round = 0; round < rounds; round++) {
		/* A's new table. */
		CHK_OK(usva_as_unmap(e.c[ca].as, ISO_VA0 - 4 * SZ_4K,
				     (ISO_WIN + 8) * SZ_4K, NULL));
		CHK_OK(inv_pasid(&e, d, pa, USVA_INVAL_IOTLB, 0));
		for (unsigned int i = 0; i < ISO_WIN; i++) {
			uint64_t r = usva_test_rand();
			unsigned int k = r % 100;
			struct iso_pte *p = &pte[i];
			uint8_t *target;

			p->type = k < 25 ? ISO_NONE : k < 75 ? ISO_A :
				  k < 88 ? ISO_R : ISO_C;
			p->prot = PR | ((r >> 8) & 1 ? PW : 0) |
				  ((r >> 9) & 3 ? PU : 0) | ((r >> 11) & 1 ? PX : 0);
			switch (p->type) {
			case ISO_A:
				p->idx = (r >> 16) % ISO_NA;
				target = ba + p->idx * SZ_4K;
				break;
			case ISO_R:
				p->idx = (r >> 16) % ISO_NR;
				target = br + p->idx * SZ_4K;
				break;
			case ISO_C:
				p->idx = (r >> 16) % ISO_NC;
				target = bc + p->idx * SZ_4K;
				break;
			default:
				continue;
			}
			CHK_OK(usva_as_map(e.c[ca].as, ISO_VA0 + i * SZ_4K,
					   IOVA(target), SZ_4K, p->prot, 0));
		}
		/* B warm in the IOTLB, and B's view intact. */
		CHK(usva_emu_dma_read(e.dev[d], pb, ISO_VA0, chk,
				      ISO_WIN * SZ_4K, &f) ==
		    (int64_t)(ISO_WIN * SZ_4K), "B's read: fault reason %u at 0x%"
		    PRIx64, f.reason, f.addr);
		for (unsigned int i = 0; i < ISO_WIN; i++)
			CHK(memcmp(chk + i * SZ_4K, cb + (i % ISO_NB) * SZ_4K,
				   SZ_4K) == 0, "round %u: B reads wrong bytes at "
			    "page %u", round, i);
		events_drain(&e);

		for (unsigned int it = 0; it < per_round; it++) {
			uint64_t r = usva_test_rand();
			uint64_t va = ISO_VA0 - 2 * SZ_4K +
				      r % ((ISO_WIN + 4) * SZ_4K);
			uint64_t len = 1 + (r >> 24) % (3 * SZ_4K);
			bool write = (r >> 40) & 1;
			uint32_t reason;
			uint64_t exp = iso_expect(pte, va, len, write, &reason);
			int64_t got;

			if (write) {
				rand_fill(tmp, len);
				got = usva_emu_dma_write(e.dev[d], pa, va, tmp, len, &f);
				writes++;
			} else {
				memset(tmp, 0x5c, len);
				got = usva_emu_dma_read(e.dev[d], pa, va, tmp, len, &f);
				reads++;
			}
			CHK(got == (int64_t)exp, "round %u it %u: %s 0x%" PRIx64
			    "+%" PRIu64 ": %" PRId64 " bytes, expected %" PRIu64
			    " (reason %u, expected %u)", round, it,
			    write ? "write" : "read", va, len, got, exp, f.reason,
			    reason);
			if (exp < len)
				CHK(f.reason == reason && f.addr == va + exp,
				    "round %u it %u: fault reason %u at 0x%" PRIx64
				    ", expected %u at 0x%" PRIx64, round, it, f.reason,
				    f.addr, reason, va + exp);
			faults[reason & 7] += exp < len;
			n = usva_iommu_events_read(e.iommu, ev, RTE_DIM(ev));
			if (exp < len && reason == USVA_EMU_S2_FAULT)
				CHK(n == 1 && ev[0].type == USVA_EVENT_S2_FAULT &&
				    ev[0].pasid == pa, "round %u it %u: %d events "
				    "for a stage-2 fault", round, it, n);
			else
				CHK(n == 0, "round %u it %u: %d events (type %u)",
				    round, it, n, n ? ev[0].type : 0);
			/* Apply to the model, or check what was read. */
			for (uint64_t done = 0; done < (uint64_t)got;) {
				uint64_t cur = va + done;
				uint64_t chunk = RTE_MIN((uint64_t)got - done,
							 SZ_4K - (cur & (SZ_4K - 1)));
				const struct iso_pte *p = &pte[(cur - ISO_VA0) >> 12];
				uint8_t *m = p->type == ISO_A ? sa : cr;

				m += p->idx * SZ_4K + (cur & (SZ_4K - 1));
				if (write)
					memcpy(m, tmp + done, chunk);
				else
					CHK(memcmp(m, tmp + done, chunk) == 0,
					    "round %u it %u: read of 0x%" PRIx64
					    " returned bytes that are not A's",
					    round, it, cur);
				done += chunk;
			}
			CHK(memcmp(ba, sa, ISO_NA * SZ_4K) == 0, "round %u it %u: "
			    "A's buffer differs from what A's table allows",
			    round, it);
			CHK(memcmp(bb, cb, ISO_NB * SZ_4K) == 0,
			    "round %u it %u: B's buffer changed", round, it);
			CHK(memcmp(br, cr, ISO_NR * SZ_4K) == 0,
			    "round %u it %u: stage-2 read-only buffer changed",
			    round, it);
			CHK(memcmp(bc, cc, ISO_NC * SZ_4K) == 0,
			    "round %u it %u: memory outside stage 2 changed",
			    round, it);
		}
	}
	st = stats_of(&e);
	CHK(st.stale_uses == 0, "strict: %" PRIu64 " stale uses", st.stale_uses);
	CHK(faults[USVA_EMU_S1_NOT_PRESENT] && faults[USVA_EMU_S1_PERM] &&
	    faults[USVA_EMU_S2_FAULT] && writes && reads,
	    "coverage: not present %u, perm %u, stage 2 %u, writes %u, reads %u",
	    faults[USVA_EMU_S1_NOT_PRESENT], faults[USVA_EMU_S1_PERM],
	    faults[USVA_EMU_S2_FAULT], writes, reads);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(fast, emu_isolation_random)
{
	TEST_ASSERT(iso_one(P_VTD, 8, 60) == TEST_SUCCESS, "vtd");
	TEST_ASSERT(iso_one(P_SMMU, 8, 60) == TEST_SUCCESS, "smmuv3");
	return TEST_SUCCESS;
}

/* ---- invalidation entry failures ------------------------------------------------- */

/*
 * An injected failure at entry k of a batch of n: the call returns k,
 * entries before it are DONE (their translations gone), entry k has the
 * errno and removed nothing, the rest are NOT_ATTEMPTED (still cached);
 * resubmitting [k, n) completes. A refused batch executes nothing and does
 * not move the injection counter.
 */
#define FN_PAGES 8

static void
fn_entries(struct env *e, int d, uint32_t pasid, struct usva_inval_entry *en,
	   unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		en[i] = (struct usva_inval_entry){
			.granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
			.pasid = pasid, .dev = e->dev[d],
			.addr = VA0 + (i % FN_PAGES) * SZ_4K, .npages = 1,
		};
}

USVA_TEST(fast, emu_inval_fail_nth)
{
	static const unsigned int sizes[] = { 1, 2, 3, 7 };
	struct usva_inval_entry en[70];
	struct usva_iommu_stats s0, s1;
	int32_t status[70];
	struct env e;
	uint8_t *buf;
	uint32_t p;
	int64_t m;
	int d, c, rc, ret = TEST_FAILED;

	CHK_OK(env_open(&e, P_VTD_BIG, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	p = e.c[c].pasid;
	buf = env_mem(&e, FN_PAGES * SZ_4K, SZ_4K, 0, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, FN_PAGES * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), FN_PAGES * SZ_4K, RWU, 0));
	CHK_ERR(usva_emu_inval_fail_nth(NULL, 1, -EIO), ENODEV);

	for (unsigned int si = 0; si < RTE_DIM(sizes); si++) {
		unsigned int n = sizes[si];
		unsigned int pos[3] = { 0, n / 2, n - 1 };

		for (unsigned int pi = 0; pi < 3; pi++) {
			unsigned int k = pos[pi];
			int err = (n == 7 && k == 3) ? EINVAL : EIO;

			if ((pi == 1 && k == pos[0]) ||
			    (pi == 2 && (k == pos[0] || k == pos[1])))
				continue;
			fn_entries(&e, d, p, en, n);
			CHK(fill_pages(&e, d, p, VA0, n), "fill");
			s0 = stats_of(&e);
			CHK_OK(usva_emu_inval_fail_nth(e.iommu, k + 1, -err));
			for (unsigned int i = 0; i < n; i++)
				status[i] = 99;
			rc = usva_iommu_invalidate(e.iommu, en, n, status);
			CHK(rc == (int)k, "n %u fail at %u: returned %d", n, k, rc);
			for (unsigned int i = 0; i < n; i++)
				CHK(status[i] == (i < k ? USVA_INVAL_DONE :
						  i == k ? -err :
						  USVA_INVAL_NOT_ATTEMPTED),
				    "n %u fail at %u: status[%u] = %d", n, k, i,
				    status[i]);
			s1 = stats_of(&e);
			CHK(s1.inval_entries == s0.inval_entries + k,
			    "n %u fail at %u: %" PRIu64 " entries executed", n, k,
			    s1.inval_entries - s0.inval_entries);
			m = cached_mask(&e, d, p, VA0, n);
			CHK(m == (int64_t)(((UINT64_C(1) << n) - 1) &
					   ~((UINT64_C(1) << k) - 1)),
			    "n %u fail at %u: cached mask 0x%" PRIx64, n, k, m);
			/* Resubmit the rest; the pages before k were
			 * refilled by the probe and stay. */
			for (unsigned int i = 0; i < n; i++)
				status[i] = 99;
			rc = usva_iommu_invalidate(e.iommu, en + k, n - k, status);
			CHK(rc == (int)(n - k), "n %u resubmit from %u: %d", n, k, rc);
			for (unsigned int i = 0; i < n - k; i++)
				CHK(status[i] == USVA_INVAL_DONE, "resubmit status[%u] "
				    "= %d", i, status[i]);
			m = cached_mask(&e, d, p, VA0, n);
			CHK(m == (int64_t)((UINT64_C(1) << k) - 1),
			    "n %u after resubmit from %u: cached mask 0x%" PRIx64,
			    n, k, m);
			s1 = stats_of(&e);
			CHK(s1.inval_entries == s0.inval_entries + n,
			    "n %u: %" PRIu64 " entries in all", n,
			    s1.inval_entries - s0.inval_entries);
		}
	}

	/* One shot: the next batch runs whole. */
	fn_entries(&e, d, p, en, 3);
	CHK(usva_iommu_invalidate(e.iommu, en, 3, status) == 3, "after firing");

	/* A refused batch runs nothing and leaves the counter armed. */
	CHK(fill_pages(&e, d, p, VA0, 3), "fill");
	CHK_OK(usva_emu_inval_fail_nth(e.iommu, 2, -EIO));
	fn_entries(&e, d, p, en, 3);
	en[1].npages = 0;
	s0 = stats_of(&e);
	CHK_ERR(usva_iommu_invalidate(e.iommu, en, 3, status), EINVAL);
	s1 = stats_of(&e);
	CHK(s1.inval_entries == s0.inval_entries, "refused batch executed %" PRIu64,
	    s1.inval_entries - s0.inval_entries);
	m = cached_mask(&e, d, p, VA0, 3);
	CHK(m == 0x7, "refused batch removed translations: 0x%" PRIx64, m);
	en[1].npages = 1;
	rc = usva_iommu_invalidate(e.iommu, en, 3, status);
	CHK(rc == 1 && status[0] == USVA_INVAL_DONE && status[1] == -EIO &&
	    status[2] == USVA_INVAL_NOT_ATTEMPTED, "armed count moved by a "
	    "refused batch: %d (%d %d %d)", rc, status[0], status[1], status[2]);

	/* Without status slots: the count alone, also past 64 entries. */
	CHK_OK(usva_emu_inval_fail_nth(e.iommu, 2, -EIO));
	CHK(usva_iommu_invalidate(e.iommu, en, 3, NULL) == 1, "no status, n 3");
	fn_entries(&e, d, p, en, 70);
	s0 = stats_of(&e);
	CHK_OK(usva_emu_inval_fail_nth(e.iommu, 66, -EIO));
	rc = usva_iommu_invalidate(e.iommu, en, 70, NULL);
	CHK(rc == 65, "no status, n 70, failing 66th: %d", rc);
	s1 = stats_of(&e);
	CHK(s1.inval_entries == s0.inval_entries + 65, "%" PRIu64 " executed",
	    s1.inval_entries - s0.inval_entries);
	/* Armed, then disarmed. */
	CHK_OK(usva_emu_inval_fail_nth(e.iommu, 1, -EIO));
	CHK_OK(usva_emu_inval_fail_nth(e.iommu, 0, 0));
	CHK(usva_iommu_invalidate(e.iommu, en, 70, NULL) == 70, "disarmed");
	CHK(usva_iommu_invalidate(e.iommu, en, 70, status) == 70, "disarmed, "
	    "with status");
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

/* ---- stress: remap and invalidate under DMA, two lcores ------------------------ */

/*
 * The worker lcore is the device: it translates and DMAs on several PASIDs,
 * but only through the slots (PASID, VA) it currently owns, as a driver's
 * device works only on buffers software handed it. It hands a slot back
 * after a random number of uses. The main lcore takes returned slots,
 * unmaps them, invalidates the address (IOTLB and device TLB, the device
 * being ATS), puts the data page in quarantine filled with a marker, and
 * maps the slot to the oldest quarantined page before handing it out
 * again. The strict checker runs throughout.
 *
 * Caught: a translation that survives its invalidation (the worker's next
 * DMA on the remapped slot lands in the old page: the worker sees its
 * bytes missing from the new page, the quarantine marker is overwritten,
 * and the checker counts a stale use), a fill racing an invalidation, a
 * DMA through the wrong PASID's tables.
 */
#define ST_CTX		4
#define ST_VAS		6
#define ST_SLOTS	(ST_CTX * ST_VAS)
#define ST_PAGES	64
#define ST_MARK		0xee

enum { SL_MAIN = 0, SL_LIVE, SL_RETURNED };

struct st_slot {
	uint32_t state;		/* atomic: SL_* */
	uint32_t ctx;
	uint64_t va;
	uint8_t *page;		/* main writes it before SL_LIVE (release);
				 * relaxed atomic: a revoked slot's worker
				 * may still read it */
	uint32_t uses;		/* worker */
	uint32_t budget;	/* main sets it with the page; relaxed atomic:
				 * a revoked slot's worker may still read it */
};

struct st_shared {
	struct env *e;
	int dev;
	struct st_slot slot[ST_SLOTS];
	uint32_t stop;		/* atomic */
	bool revoke;		/* main also takes slots the device holds */
	uint64_t rng;
	uint64_t ops, handbacks, errors, faults;
	char err[192];
};

static inline uint64_t
st_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static void
st_fail(struct st_shared *s, const char *what, const struct st_slot *sl,
	int64_t got, uint32_t reason)
{
	if (__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED) == 0)
		snprintf(s->err, sizeof(s->err), "%s: PASID %u VA 0x%" PRIx64
			 ": %" PRId64 " (reason %u)", what,
			 s->e->c[sl->ctx].pasid, sl->va, got, reason);
}

static int
st_worker(void *arg)
{
	struct st_shared *s = arg;
	struct usva_iommu_dev *dev = s->e->dev[s->dev];
	static uint8_t tmp[4096];

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t r = st_rand(&s->rng);
		struct st_slot *sl = &s->slot[r % ST_SLOTS];
		struct usva_emu_dma_fault f;
		struct usva_emu_xlate x;
		uint32_t pasid, off, len;
		uint8_t b, *page;
		int64_t got;

		if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != SL_LIVE) {
			rte_pause();
			continue;
		}
		pasid = s->e->c[sl->ctx].pasid;
		page = __atomic_load_n(&sl->page, __ATOMIC_RELAXED);
		off = (uint32_t)((r >> 8) % SZ_4K);
		len = 1 + (uint32_t)((r >> 20) % 256);
		if (s->revoke || off + len > SZ_4K)
			len = (uint32_t)SZ_4K - off;
		b = (uint8_t)((r >> 40) & 0x7f);	/* never ST_MARK */
		if (s->revoke) {
			/* The slot may be taken away under this DMA: only
			 * the quarantine (main) can judge where it lands. */
			memset(tmp, b, len);
			got = usva_emu_dma_write(dev, pasid, sl->va + off, tmp,
						 len, &f);
			s->faults += got != len;
		} else switch ((r >> 32) % 3) {
		case 0:
			memset(tmp, b, len);
			got = usva_emu_dma_write(dev, pasid, sl->va + off, tmp, len,
						 &f);
			if (got != len)
				st_fail(s, "DMA write", sl, got, f.reason);
			else
				for (uint32_t i = 0; i < len; i++)
					if (page[off + i] != b) {
						st_fail(s, "DMA write missed its page",
							sl, i, 0);
						break;
					}
			break;
		case 1:
			got = usva_emu_dma_read(dev, pasid, sl->va + off, tmp, len,
						&f);
			if (got != len)
				st_fail(s, "DMA read", sl, got, f.reason);
			else if (memcmp(tmp, page + off, len) != 0)
				st_fail(s, "DMA read from another page", sl, got, 0);
			break;
		default:
			if (usva_emu_translate(dev, pasid, sl->va + off, AR, &x) != 0)
				st_fail(s, "translate", sl, -1, x.reason);
			else if (x.host != page + off)
				st_fail(s, "translated to another page", sl,
					(uint8_t *)x.host - page, 0);
			break;
		}
		s->ops++;
		if (++sl->uses >= __atomic_load_n(&sl->budget, __ATOMIC_RELAXED)) {
			uint32_t live = SL_LIVE;

			sl->uses = 0;
			s->handbacks++;
			__atomic_compare_exchange_n(&sl->state, &live, SL_RETURNED,
						    false, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
		}
	}
	return 0;
}

static bool
st_marked(const uint8_t *p)
{
	for (uint64_t i = 0; i < SZ_4K; i++)
		if (p[i] != ST_MARK)
			return false;
	return true;
}

static int
stress_one(const char *params, unsigned int worker, double seconds,
	   bool revoke)
{
	static struct st_shared s;
	uint8_t *q[ST_PAGES];
	unsigned int qh = 0, qn = 0, nst;
	uint64_t cycles = 0, revoked = 0, viol = 0, t_end, scans = 0;
	struct usva_iommu_stats st;
	struct env e;
	uint8_t *data;
	bool launched = false;
	int d, rc, ret = TEST_FAILED;
	char why[160] = "";

	memset(&s, 0, sizeof(s));
	CHK_OK(env_open(&e, params, revoke ? 0 : USVA_IOMMU_F_STRICT));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI | USVA_DEV_F_ATS, 0));
	for (unsigned int i = 0; i < ST_CTX; i++) {
		int c = env_ctx(&e, 48);

		CHK(c == (int)i, "context %d", c);
		CHK_OK(env_attach(&e, d, c));
	}
	data = env_mem(&e, ST_PAGES * SZ_4K, SZ_4K, ST_MARK, true);
	CHK(data != NULL, "mmap");
	CHK_OK(env_s2(&e, data, ST_PAGES * SZ_4K, S2_RW));
	s.e = &e;
	s.dev = d;
	s.revoke = revoke;
	s.rng = usva_test_rand() | 1;
	/* Slots 0..2 of a PASID share a leaf table; 3..5 each have their
	 * own, freed and rebuilt as they are unmapped and mapped. */
	for (unsigned int i = 0; i < ST_SLOTS; i++) {
		struct st_slot *sl = &s.slot[i];
		unsigned int j = i % ST_VAS;

		sl->ctx = i / ST_VAS;
		sl->va = VA0 + (j < 3 ? j * SZ_4K : j * SZ_2M);
		sl->page = data + i * SZ_4K;
		sl->budget = 1 + (uint32_t)(usva_test_rand() % 64);
		memset(sl->page, 0, SZ_4K);
		CHK_OK(usva_as_map(e.c[sl->ctx].as, sl->va, IOVA(sl->page), SZ_4K,
				   RWU, 0));
		sl->state = SL_LIVE;
	}
	for (unsigned int i = ST_SLOTS; i < ST_PAGES; i++)
		q[qn++] = data + i * SZ_4K;	/* marked at mmap */

	rc = rte_eal_remote_launch(st_worker, &s, worker);
	CHK(rc == 0, "launch: %d", rc);
	launched = true;
	t_end = rte_get_timer_cycles() + (uint64_t)(seconds * rte_get_timer_hz());
	while (rte_get_timer_cycles() < t_end && why[0] == '\0' &&
	       __atomic_load_n(&s.errors, __ATOMIC_RELAXED) == 0) {
		/* Revoke mode: one slot the device holds, taken from it. */
		unsigned int victim = revoke ?
			(unsigned int)(usva_test_rand() % ST_SLOTS) : ST_SLOTS;

		for (unsigned int i = 0; i < ST_SLOTS && why[0] == '\0'; i++) {
			struct st_slot *sl = &s.slot[i];
			struct usva_as *as = e.c[sl->ctx].as;
			uint32_t live = SL_LIVE;
			uint64_t unmapped = 0;
			uint8_t *np;

			if (i == victim &&
			    __atomic_compare_exchange_n(&sl->state, &live, SL_MAIN,
							false, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED)) {
				revoked++;
			} else if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) ==
				   SL_RETURNED) {
				/* Atomic: the worker polls the state. */
				__atomic_store_n(&sl->state, SL_MAIN,
						 __ATOMIC_RELAXED);
			} else {
				continue;
			}
			rc = usva_as_unmap(as, sl->va, SZ_4K, &unmapped);
			if (rc || unmapped != SZ_4K) {
				snprintf(why, sizeof(why), "unmap: %d", rc);
				break;
			}
			rc = inv_addr(&e, d, e.c[sl->ctx].pasid, sl->va, 1,
				      USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB);
			if (rc) {
				snprintf(why, sizeof(why), "invalidate: %d", rc);
				break;
			}
			/* From here no DMA may reach the old page. */
			memset(sl->page, ST_MARK, SZ_4K);
			q[(qh + qn++) % ST_PAGES] = sl->page;
			np = q[qh];
			qh = (qh + 1) % ST_PAGES;
			qn--;
			if (!st_marked(np))
				viol++;
			memset(np, (int)(cycles & 0x7f), SZ_4K);
			__atomic_store_n(&sl->page, np, __ATOMIC_RELAXED);
			__atomic_store_n(&sl->budget,
					 1 + (uint32_t)(usva_test_rand() % 64),
					 __ATOMIC_RELAXED);
			rc = usva_as_map(as, sl->va, IOVA(np), SZ_4K, RWU, 0);
			if (rc) {
				snprintf(why, sizeof(why), "map: %d", rc);
				break;
			}
			__atomic_store_n(&sl->state, SL_LIVE, __ATOMIC_RELEASE);
			cycles++;
		}
		/* Quarantined pages keep their marker. */
		if ((++scans & 63) == 0)
			for (unsigned int k = 0; k < qn; k++)
				viol += !st_marked(q[(qh + k) % ST_PAGES]);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(worker);
	launched = false;
	for (unsigned int k = 0; k < qn; k++)
		viol += !st_marked(q[(qh + k) % ST_PAGES]);
	st = stats_of(&e);
	events_count(&e, USVA_EVENT_STALE_XLATE, &nst);
	printf("    %s%s: %" PRIu64 " device operations (%" PRIu64 " faulted), %"
	       PRIu64 " remaps (%" PRIu64 " revoked), %" PRIu64 " translations, %"
	       PRIu64 " invalidation entries, %" PRIu64 " stale uses\n",
	       params, revoke ? ", revoking" : ", strict", s.ops, s.faults,
	       cycles, revoked, st.translations, st.inval_entries,
	       st.stale_uses);
	CHK(why[0] == '\0', "main lcore: %s", why);
	CHK(s.errors == 0, "device: %" PRIu64 " errors, first: %s", s.errors,
	    s.err);
	CHK(viol == 0, "%" PRIu64 " DMA writes landed in pages after their unmap "
	    "and invalidation", viol);
	if (!revoke)
		CHK(st.stale_uses == 0 && nst == 0 && s.faults == 0,
		    "strict: %" PRIu64 " stale uses, %u events, %" PRIu64
		    " faults", st.stale_uses, nst, s.faults);
	CHK(st.events == nst, "%" PRIu64 " unrecoverable faults",
	    st.events - nst);
	CHK(cycles >= 100 && s.ops >= 10000 && (!revoke || revoked >= 50),
	    "too little done: %" PRIu64 " remaps (%" PRIu64 " revoked), %"
	    PRIu64 " operations", cycles, revoked, s.ops);
	ret = TEST_SUCCESS;
out:
	if (launched) {
		__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
		rte_eal_wait_lcore(worker);
	}
	return env_fini(&e, ret);
}

/*
 * Strict: the device hands slots back before they are unmapped, as a
 * driver quiesces a buffer: no stale use may be reported. Revoking: slots
 * are also taken from under the device's DMA (no checker: uses between the
 * unmap and its invalidation are really stale); an invalidation that
 * returned must have waited for DMA in flight.
 */
USVA_TEST(stress, emu_stress_remap_inval)
{
	static const char *const params[] = {
		"flavour=vtd,iotlb_sets=4,iotlb_ways=2,devtlb_entries=4",
		"flavour=smmuv3,iotlb_sets=4,iotlb_ways=2,devtlb_entries=4",
	};
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	for (unsigned int i = 0; i < RTE_DIM(params); i++) {
		TEST_ASSERT(stress_one(params[i], worker, 1.0, false) ==
			    TEST_SUCCESS, "%s, strict", params[i]);
		TEST_ASSERT(stress_one(params[i], worker, 1.0, true) ==
			    TEST_SUCCESS, "%s, revoking", params[i]);
	}
	return TEST_SUCCESS;
}

/* ---- perf: translation rate ------------------------------------------------------- */

#define PF_PAGES 4096	/* 16 MiB of 4 KiB pages: 8x the default IOTLB */

static int
rate_one(const char *params)
{
	const uint64_t hz = rte_get_tsc_hz();
	struct usva_iommu_stats s0, s1;
	struct usva_emu_xlate x;
	struct env e;
	uint8_t *buf;
	uint64_t t0, t1, fails = 0, tx = 0;
	double warm, stride, inval, inval_all, hit_w, hit_s;
	uint32_t p;
	int d, c, ret = TEST_FAILED;
	const unsigned int nw = 2000000, ns = 1000000, ni = 200000;

	CHK_OK(env_open(&e, params, 0));
	CHK_OK(d = env_dev(&e, USVA_DEV_F_PRI, 0));
	CHK_OK(c = env_ctx(&e, 48));
	CHK_OK(env_attach(&e, d, c));
	p = e.c[c].pasid;
	buf = env_mem(&e, PF_PAGES * SZ_4K, SZ_2M, 0, true);
	CHK(buf != NULL, "mmap");
	CHK_OK(env_s2(&e, buf, PF_PAGES * SZ_4K, S2_RW));
	CHK_OK(usva_as_map(e.c[c].as, VA0, IOVA(buf), PF_PAGES * SZ_4K, RWU,
			   USVA_MAP_F_MAX_4K));

	/* Warm: the same four pages. */
	for (unsigned int i = 0; i < 4; i++)
		fails += xl(e.dev[d], p, VA0 + i * SZ_4K, AR, &x) != 0;
	s0 = stats_of(&e);
	t0 = rte_rdtsc();
	for (unsigned int i = 0; i < nw; i++)
		fails += usva_emu_translate(e.dev[d], p,
					    VA0 + (i & 3) * SZ_4K + 0x40, AR,
					    &x) != 0;
	t1 = rte_rdtsc();
	s1 = stats_of(&e);
	warm = (double)nw * hz / (double)(t1 - t0);
	hit_w = (double)(s1.iotlb_hits - s0.iotlb_hits) / nw;

	/* Cold: striding over 8x the IOTLB's capacity. */
	s0 = stats_of(&e);
	t0 = rte_rdtsc();
	for (unsigned int i = 0; i < ns; i++)
		fails += usva_emu_translate(e.dev[d], p,
					    VA0 + ((i * 97u) % PF_PAGES) * SZ_4K,
					    AR, &x) != 0;
	t1 = rte_rdtsc();
	s1 = stats_of(&e);
	stride = (double)ns * hz / (double)(t1 - t0);
	hit_s = (double)(s1.iotlb_hits - s0.iotlb_hits) / ns;

	/* Cold: each translation right after an invalidation of its page. */
	t0 = rte_rdtsc();
	for (unsigned int i = 0; i < ni; i++) {
		uint64_t va = VA0 + (i & 3) * SZ_4K;
		uint64_t a;

		fails += inv_addr(&e, d, p, va, 1, USVA_INVAL_IOTLB) != 0;
		a = rte_rdtsc();
		fails += usva_emu_translate(e.dev[d], p, va, AR, &x) != 0;
		tx += rte_rdtsc() - a;
		fails += x.cached;
	}
	t1 = rte_rdtsc();
	inval = (double)ni * hz / (double)tx;
	inval_all = (double)ni * hz / (double)(t1 - t0);

	printf("    %s, one lcore:\n"
	       "      warm IOTLB (4 pages)            %8.2f M translations/s "
	       "(%.1f%% IOTLB hits)\n"
	       "      cold, striding 16 MiB           %8.2f M translations/s "
	       "(%.1f%% IOTLB hits)\n"
	       "      cold, after an invalidation     %8.2f M translations/s "
	       "(%.2f M invalidate+translate/s)\n",
	       params, warm / 1e6, hit_w * 100, stride / 1e6, hit_s * 100,
	       inval / 1e6, inval_all / 1e6);
	CHK(fails == 0, "%" PRIu64 " translations failed", fails);
	CHK(hit_w > 0.99 && hit_s < 0.25, "hit ratios: warm %.3f, stride %.3f",
	    hit_w, hit_s);
	ret = TEST_SUCCESS;
out:
	return env_fini(&e, ret);
}

USVA_TEST(perf, emu_translate_rate)
{
	TEST_ASSERT(rate_one("flavour=vtd") == TEST_SUCCESS, "vtd");
	TEST_ASSERT(rate_one("flavour=smmuv3") == TEST_SUCCESS, "smmuv3");
	return TEST_SUCCESS;
}

/* ---- DMA sections ------------------------------------------------------------- */

struct section_run {
	struct usva_iommu_dev *dev;
	uint32_t inside;	/* worker: its section is open */
	uint32_t unmapping;	/* main: about to unmap */
	uint32_t ended;		/* worker: about to close the section */
	int begin_rc;
	int nested_rc;
};

/* Worker: open a section (nested once), hold it until the main lcore is
 * in its unmap and a while after, then say so and close it. */
static int
section_worker(void *arg)
{
	struct section_run *r = arg;
	uint64_t spin;

	r->begin_rc = usva_emu_dma_begin(r->dev);
	if (r->begin_rc)
		return 0;
	r->nested_rc = usva_emu_dma_begin(r->dev);
	if (r->nested_rc == 0)
		usva_emu_dma_end(r->dev);	/* the outer one stays open */
	/* Release: pairs with the main lcore's acquire. */
	__atomic_store_n(&r->inside, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->unmapping, __ATOMIC_ACQUIRE))
		rte_pause();
	/* Long enough that an unmap that did not wait would be back. */
	for (spin = 0; spin < 2000000; spin++)
		rte_pause();
	__atomic_store_n(&r->ended, 1, __ATOMIC_RELEASE);
	usva_emu_dma_end(r->dev);
	return 0;
}

static void *
section_foreign(void *arg)
{
	struct section_run *r = arg;

	r->begin_rc = usva_emu_dma_begin(r->dev);
	return NULL;
}

/*
 * A stage-2 unmap returns only after a DMA section open when it began has
 * closed (the host pointers a device copies through stay valid); sections
 * nest; a thread without an lcore id cannot open one.
 */
USVA_TEST(fast, emu_dma_section_holds_unmap)
{
	struct section_run r = { 0 };
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	struct env e;
	pthread_t th;
	uint8_t *mem;
	int d, ret = TEST_FAILED;
	bool launched = false;

	TEST_ASSERT(worker < RTE_MAX_LCORE, "needs a worker lcore");
	CHK_OK(env_open(&e, P_VTD, 0));
	d = env_dev(&e, 0, 0);
	CHK(d >= 0, "device: %d", d);
	r.dev = e.dev[d];
	mem = env_mem(&e, 16 * SZ_4K, SZ_4K, 0, true);
	CHK(mem != NULL, "mmap");
	CHK_OK(env_s2(&e, mem, 16 * SZ_4K, S2_RW));
	CHK_ERR(usva_emu_dma_begin(NULL), ENODEV);
	CHK(pthread_create(&th, NULL, section_foreign, &r) == 0, "thread");
	pthread_join(th, NULL);
	CHK(r.begin_rc == -EPERM, "begin without an lcore id: %d", r.begin_rc);
	CHK(rte_eal_remote_launch(section_worker, &r, worker) == 0, "launch");
	launched = true;
	while (!__atomic_load_n(&r.inside, __ATOMIC_ACQUIRE) &&
	       rte_eal_get_lcore_state(worker) != WAIT)
		rte_pause();
	CHK(r.begin_rc == 0 && r.nested_rc == 0, "begin %d, nested %d",
	    r.begin_rc, r.nested_rc);
	__atomic_store_n(&r.unmapping, 1, __ATOMIC_RELEASE);
	CHK_OK(env_s2_unmap(&e, mem));
	/* Acquire: pairs with the worker's release before it closed. */
	CHK(__atomic_load_n(&r.ended, __ATOMIC_ACQUIRE) == 1,
	    "the unmap returned while a DMA section was open");
	ret = TEST_SUCCESS;
out:
	if (launched) {
		__atomic_store_n(&r.unmapping, 1, __ATOMIC_RELEASE);
		rte_eal_wait_lcore(worker);
	}
	return env_fini(&e, ret);
}
