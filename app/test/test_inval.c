/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Invalidation batches (usva_inval.h) and the address-space integration:
 * config checks, which cache has which granule, bad input refused at add
 * time with nothing submitted, coalescing (adjacent, overlapping,
 * duplicates, per PASID and caches, widening at the threshold, a domain's
 * range per attachment), partial failure at every position of batches of
 * 1, 2, 3, odd and full size with retry, statuses of merged entries,
 * per-domain submission (a recording backend shaped as iommufd), unmap and
 * protect invalidating through the AS (strict checker), table pages held
 * until their invalidation completed, and a two-lcore unmap stress run
 * under device DMA.
 *
 * Two recording backends are registered here besides emu: "inval-rec"
 * takes whole arrays, as emu does; "inval-dom" takes one domain per call
 * and at most two entries (USVA_IOMMU_INVAL_PER_DOMAIN), as iommufd would.
 * They keep the entries they were given, so coalescing is checked entry by
 * entry; emu cases check what the caches really lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_driver.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "test.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)
#define VA0	UINT64_C(0x10000000)
#define PG(n)	((uint64_t)(n) * SZ_4K)
#define IOVA(p)	((uint64_t)(uintptr_t)(p))

#define RWU	(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)
#define RU	(USVA_PROT_READ | USVA_PROT_USER)
#define S2_RW	(USVA_S2_READ | USVA_S2_WRITE)

#define IOTLB	USVA_INVAL_IOTLB
#define DEVTLB	USVA_INVAL_DEVTLB
#define PCACHE	USVA_INVAL_PASID_CACHE
#define LEAF	USVA_INVAL_F_LEAF

#define CHK(cond, ...)		TEST_ASSERT_GOTO(cond, out, __VA_ARGS__)
#define CHK_OK(expr)		TEST_ASSERT_OK_GOTO(expr)
#define CHK_ERR(expr, err)	TEST_ASSERT_ERR_GOTO(expr, err)

/* ---- recording backends ------------------------------------------------- */

#define REC_MAX_ENTRIES	256
#define REC_MAX_CALLS	64

static struct rec {
	uint32_t calls;
	uint32_t nent;
	struct usva_inval_entry ent[REC_MAX_ENTRIES];
	uint32_t call_first[REC_MAX_CALLS];
	uint32_t call_n[REC_MAX_CALLS];
	uint32_t fail_at;	/* entry number (1-based, over all calls); 0: none */
	int fail_err;
} rec;

static void
rec_reset(void)
{
	memset(&rec, 0, sizeof(rec));
}

static int
rec_open(struct usva_iommu *iommu, const char *params)
{
	RTE_SET_USED(params);
	iommu->caps.size = sizeof(iommu->caps);
	iommu->caps.flags = USVA_IOMMU_CAP_NESTING | USVA_IOMMU_CAP_PASID |
			    USVA_IOMMU_CAP_ATS;
	iommu->caps.pasid_width = 20;
	iommu->caps.s1_formats = 1u << USVA_PGFMT_X86_FS;
	iommu->caps.s1_page_sizes = USVA_PGSIZE_4K | USVA_PGSIZE_2M;
	iommu->caps.s1_va_bits_max = 48;
	iommu->caps.iova_bits = 48;
	iommu->caps.inval_granules = USVA_INVAL_GRAN_DOMAIN |
				     USVA_INVAL_GRAN_PASID | USVA_INVAL_GRAN_ADDR;
	iommu->nr_ranges = 1;
	iommu->ranges[0].start = 0;
	iommu->ranges[0].last = (UINT64_C(1) << 48) - 1;
	return 0;
}

static void
rec_close(struct usva_iommu *iommu)
{
	RTE_SET_USED(iommu);
}

static int
rec_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va, uint64_t len,
	   uint32_t prot)
{
	RTE_SET_USED(iommu);
	RTE_SET_USED(iova);
	RTE_SET_USED(va);
	RTE_SET_USED(len);
	RTE_SET_USED(prot);
	return 0;
}

static int
rec_s2_unmap(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
	     uint64_t *unmapped)
{
	RTE_SET_USED(iommu);
	RTE_SET_USED(iova);
	*unmapped = len;
	return 0;
}

static int
rec_dev_open(struct usva_iommu_dev *dev, const struct usva_dev_config *cfg)
{
	dev->info.flags = cfg->flags;
	dev->info.pasid_width = cfg->pasid_width ? cfg->pasid_width : 20;
	return 0;
}

static void
rec_dev_close(struct usva_iommu_dev *dev)
{
	RTE_SET_USED(dev);
}

static int
rec_domain_init(struct usva_domain *dom)
{
	RTE_SET_USED(dom);
	return 0;
}

static void
rec_domain_fini(struct usva_domain *dom)
{
	RTE_SET_USED(dom);
}

static int
rec_attach(struct usva_iommu_dev *dev, uint32_t pasid, struct usva_domain *dom,
	   struct usva_domain *old)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(pasid);
	RTE_SET_USED(dom);
	RTE_SET_USED(old);
	return 0;
}

static void
rec_detach(struct usva_iommu_dev *dev, uint32_t pasid, struct usva_domain *dom)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(pasid);
	RTE_SET_USED(dom);
}

static int
rec_invalidate(struct usva_iommu *iommu, const struct usva_inval_entry *e,
	       uint32_t n, int32_t *status)
{
	uint32_t i;

	RTE_SET_USED(iommu);
	if (rec.calls < REC_MAX_CALLS) {
		rec.call_first[rec.calls] = rec.nent;
		rec.call_n[rec.calls] = n;
	}
	rec.calls++;
	for (i = 0; i < n; i++) {
		if (rec.nent < REC_MAX_ENTRIES)
			rec.ent[rec.nent] = e[i];
		if (++rec.nent == rec.fail_at) {
			status[i] = rec.fail_err;
			break;
		}
		status[i] = USVA_INVAL_DONE;
	}
	for (uint32_t k = i + 1; k < n; k++)
		status[k] = USVA_INVAL_NOT_ATTEMPTED;
	return (int)i;
}

static const struct usva_iommu_ops rec_ops = {
	.name = "inval-rec",
	.open = rec_open, .close = rec_close,
	.s2_map = rec_s2_map, .s2_unmap = rec_s2_unmap,
	.dev_open = rec_dev_open, .dev_close = rec_dev_close,
	.domain_init = rec_domain_init, .domain_fini = rec_domain_fini,
	.attach = rec_attach, .detach = rec_detach,
	.invalidate = rec_invalidate,
};

static const struct usva_iommu_ops rec_dom_ops = {
	.name = "inval-dom",
	.inval_flags = USVA_IOMMU_INVAL_PER_DOMAIN,
	.inval_max_entries = 2,
	.open = rec_open, .close = rec_close,
	.s2_map = rec_s2_map, .s2_unmap = rec_s2_unmap,
	.dev_open = rec_dev_open, .dev_close = rec_dev_close,
	.domain_init = rec_domain_init, .domain_fini = rec_domain_fini,
	.attach = rec_attach, .detach = rec_detach,
	.invalidate = rec_invalidate,
};

USVA_IOMMU_BACKEND_REGISTER(rec_ops)
USVA_IOMMU_BACKEND_REGISTER(rec_dom_ops)

/* ---- fixture ------------------------------------------------------------------ */

/*
 * One instance; dev[0] has ATS, dev[1] has not. Domain dom[0] (AS as[0]) is
 * attached at (dev[0], pasid[0]) and (dev[1], pasid[2]); dom[1] (as[1]) at
 * (dev[0], pasid[1]); pasid[3] is allocated and attached nowhere. Each AS
 * maps NPG pages at VA0 onto buf (stage 2: IOVA = VA).
 */
#define NPG	8

struct ix {
	struct usva_iommu *iommu;
	struct usva_pasid_owner *owner;
	struct usva_iommu_dev *dev[2];
	struct usva_as *as[2];
	struct usva_domain *dom[2];
	uint32_t pasid[4];
	uint8_t *buf;
	bool s2;
	uint64_t pool_before;
};

static uint64_t
pool_in_use(struct usva_page_pool *pool)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(pool ? pool : usva_page_pool_default(), &st);
	return st.in_use;
}

static void
ix_close(struct ix *x)
{
	for (int i = 0; i < 2; i++)
		usva_iommu_dev_close(x->dev[i]);
	for (int i = 0; i < 2; i++) {
		usva_domain_destroy(x->dom[i]);
		usva_as_destroy(x->as[i]);
	}
	if (x->s2)
		usva_iommu_s2_unmap(x->iommu, IOVA(x->buf), PG(NPG), NULL);
	if (x->buf != NULL)
		munmap(x->buf, PG(NPG));
	usva_pasid_owner_destroy(x->owner);
	usva_iommu_close(x->iommu);
	memset(x, 0, sizeof(*x));
}

static int
ix_dev(struct ix *x, int i, uint32_t flags)
{
	struct usva_dev_config c = {
		.size = sizeof(c), .flags = flags, .name = "inval",
		.pasid_width = 20,
	};

	return usva_iommu_dev_open(x->iommu, &c, &x->dev[i]);
}

static int
ix_domain(struct ix *x, int i)
{
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	int rc = usva_as_create(&ac, &x->as[i]);

	if (rc == 0)
		rc = usva_as_map(x->as[i], VA0, IOVA(x->buf), PG(NPG), RWU,
				 USVA_MAP_F_MAX_4K);
	dc.as = x->as[i];
	return rc ? rc : usva_domain_create(x->iommu, &dc, &x->dom[i]);
}

static int
ix_open(struct ix *x, const char *backend, const char *params, uint32_t flags)
{
	struct usva_iommu_config c = {
		.size = sizeof(c), .flags = flags, .backend = backend,
		.params = params,
	};

	memset(x, 0, sizeof(*x));
	x->pool_before = pool_in_use(NULL);
	TEST_ASSERT_OK_GOTO(usva_iommu_open(&c, &x->iommu));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(usva_iommu_pasids(x->iommu),
						    0, &x->owner));
	for (int i = 0; i < 4; i++)
		TEST_ASSERT_OK_GOTO(usva_pasid_alloc(x->owner, &x->pasid[i]));
	TEST_ASSERT_OK_GOTO(ix_dev(x, 0, USVA_DEV_F_ATS));
	TEST_ASSERT_OK_GOTO(ix_dev(x, 1, 0));
	x->buf = mmap(NULL, PG(NPG), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT_GOTO(x->buf != MAP_FAILED, out, "mmap");
	for (int i = 0; i < NPG; i++)
		memset(x->buf + PG(i), 0x40 + i, SZ_4K);
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(x->iommu, IOVA(x->buf), x->buf,
					      PG(NPG), S2_RW));
	x->s2 = true;
	TEST_ASSERT_OK_GOTO(ix_domain(x, 0));
	TEST_ASSERT_OK_GOTO(ix_domain(x, 1));
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(x->dev[0], x->pasid[0], x->dom[0]));
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(x->dev[0], x->pasid[1], x->dom[1]));
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(x->dev[1], x->pasid[2], x->dom[0]));
	return TEST_SUCCESS;
out:
	if (x->buf == MAP_FAILED)
		x->buf = NULL;
	ix_close(x);
	return TEST_FAILED;
}

/* Close, and check every table page went back to the default pool. */
static int
ix_fini(struct ix *x, int ret)
{
	uint64_t before = x->pool_before;

	ix_close(x);
	if (ret != TEST_SUCCESS)
		return ret;
	TEST_ASSERT(pool_in_use(NULL) == before, "table pool: %" PRIu64
		    " pages in use, %" PRIu64 " before", pool_in_use(NULL),
		    before);
	return ret;
}

#define IX_OPEN(x, backend, params, flags)				\
	TEST_ASSERT(ix_open(x, backend, params, flags) == TEST_SUCCESS,	\
		    "fixture %s %s", backend, params ? params : "")

static struct usva_inval_batch *
batch_new(struct usva_iommu *iommu, uint32_t flags, uint32_t capacity,
	  uint64_t widen)
{
	struct usva_inval_batch_config c = {
		.size = sizeof(c), .flags = flags, .capacity = capacity,
		.widen_pages = widen,
	};
	struct usva_inval_batch *b = NULL;

	return usva_inval_batch_create(iommu, &c, &b) == 0 ? b : NULL;
}

/* Entry builders. */
static struct usva_inval_entry
e_addr(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr,
       uint64_t npages, uint32_t caches, uint32_t flags)
{
	return (struct usva_inval_entry){
		.granule = USVA_INVAL_ADDR, .caches = caches, .flags = flags,
		.pasid = pasid, .dev = dev, .addr = addr, .npages = npages,
	};
}

static struct usva_inval_entry
e_dom_addr(struct usva_domain *dom, uint64_t addr, uint64_t npages,
	   uint32_t caches, uint32_t flags)
{
	return (struct usva_inval_entry){
		.granule = USVA_INVAL_ADDR, .caches = caches, .flags = flags,
		.dom = dom, .addr = addr, .npages = npages,
	};
}

static struct usva_inval_entry
e_pasid(struct usva_iommu_dev *dev, uint32_t pasid, uint32_t caches)
{
	return (struct usva_inval_entry){
		.granule = USVA_INVAL_PASID, .caches = caches, .pasid = pasid,
		.dev = dev,
	};
}

static struct usva_inval_entry
e_domain(struct usva_domain *dom, uint32_t caches)
{
	return (struct usva_inval_entry){
		.granule = USVA_INVAL_DOMAIN, .caches = caches, .dom = dom,
	};
}

static int
add(struct usva_inval_batch *b, struct usva_inval_entry e)
{
	return usva_inval_batch_add(b, &e);
}

static struct usva_inval_batch_stats
bstats(const struct usva_inval_batch *b)
{
	struct usva_inval_batch_stats st;

	usva_inval_batch_stats(b, &st);
	return st;
}

static struct usva_iommu_stats
istats(const struct usva_iommu *iommu)
{
	struct usva_iommu_stats st;

	usva_iommu_stats(iommu, &st);
	return st;
}

/* Submit; 0 if every entry is done, else the error. */
static int
submit_all(struct usva_inval_batch *b)
{
	int err = 0;
	int rc = usva_inval_batch_submit(b, &err);

	if (rc < 0)
		return rc;
	if (err)
		return err;
	return (uint32_t)rc == usva_inval_batch_count(b) ? 0 : -EPROTO;
}

/* ---- configuration ------------------------------------------------------- */

USVA_TEST(fast, inval_batch_config)
{
	struct {
		struct usva_inval_batch_config c;
		uint8_t tail[8];
	} big;
	struct usva_inval_batch_config c;
	struct usva_inval_batch *b = NULL;
	struct ix x;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "inval-rec", NULL, 0);
#define C_RESET() do {							\
		memset(&c, 0, sizeof(c));				\
		c.size = sizeof(c);					\
	} while (0)
	C_RESET();
	CHK_ERR(usva_inval_batch_create(NULL, &c, &b), EINVAL);
	CHK_ERR(usva_inval_batch_create(x.iommu, &c, NULL), EINVAL);
	CHK_ERR(usva_inval_batch_create(x.iommu, NULL, &b), EFAULT);
	c.size = 8;
	CHK_ERR(usva_inval_batch_create(x.iommu, &c, &b), EINVAL);
	C_RESET();
	c.flags = 1u << 5;
	CHK_ERR(usva_inval_batch_create(x.iommu, &c, &b), EOPNOTSUPP);
	C_RESET();
	c.capacity = USVA_INVAL_BATCH_MAX_CAPACITY + 1;
	CHK_ERR(usva_inval_batch_create(x.iommu, &c, &b), EINVAL);
	C_RESET();
	c.reserved0 = 1;
	CHK_ERR(usva_inval_batch_create(x.iommu, &c, &b), EINVAL);
	C_RESET();
	c.reserved[1] = 1;
	CHK_ERR(usva_inval_batch_create(x.iommu, &c, &b), EINVAL);
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.tail[3] = 1;
	CHK_ERR(usva_inval_batch_create(x.iommu, &big.c, &b), E2BIG);
	CHK(b == NULL, "failed create handed out a batch");
	big.tail[3] = 0;
	CHK_OK(usva_inval_batch_create(x.iommu, &big.c, &b));
	CHK(usva_inval_batch_iommu(b) == x.iommu, "instance");
	/* Default capacity. */
	for (uint32_t i = 0; i < USVA_INVAL_BATCH_DEFAULT_CAPACITY; i++)
		CHK(add(b, e_pasid(x.dev[0], x.pasid[0], IOTLB)) == (int)i,
		    "index of entry %u", i);
	CHK_ERR(add(b, e_pasid(x.dev[0], x.pasid[0], IOTLB)), ENOSPC);
	CHK(usva_inval_batch_count(b) == USVA_INVAL_BATCH_DEFAULT_CAPACITY,
	    "count %u", usva_inval_batch_count(b));
	CHK_OK(usva_inval_batch_destroy(b));
	b = NULL;
	/* The shortest struct a caller may pass: up to capacity. */
	C_RESET();
	c.size = offsetof(struct usva_inval_batch_config, capacity) +
		 sizeof(uint32_t);
	c.capacity = 3;
	CHK_OK(usva_inval_batch_create(x.iommu, &c, &b));
	CHK_OK(usva_inval_batch_destroy(b));
	b = NULL;
	CHK(usva_inval_batch_destroy(NULL) == 0, "destroy(NULL)");
	CHK_ERR(usva_inval_batch_reset(NULL), EINVAL);
	CHK_ERR(usva_inval_batch_submit(NULL, NULL), EINVAL);
	ret = TEST_SUCCESS;
#undef C_RESET
out:
	usva_inval_batch_destroy(b);
	return ix_fini(&x, ret);
}

/* ---- each cache and granule ---------------------------------------------------- */

/*
 * Every granule with every non-empty set of caches: the table of
 * usva_inval.h, nothing else. Accepted entries then run (emu).
 */
USVA_TEST(fast, inval_batch_granules)
{
	static const struct {
		const char *name;
		uint32_t ok;	/* bit c set: caches set c accepted */
	} rows[] = {
		/* caches sets 1..7: I, D, I|D, P, I|P, D|P, I|D|P */
		{ "DOMAIN", 1u << IOTLB },
		{ "PASID", 0xfeu },
		{ "ADDR (device, PASID)", (1u << IOTLB) | (1u << DEVTLB) |
					  (1u << (IOTLB | DEVTLB)) },
		{ "ADDR (domain)", (1u << IOTLB) | (1u << DEVTLB) |
				   (1u << (IOTLB | DEVTLB)) },
	};
	struct usva_inval_batch *b = NULL;
	struct ix x;
	int32_t st[64];
	uint32_t accepted = 0;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	b = batch_new(x.iommu, USVA_INVAL_BATCH_F_NO_COALESCE, 64, 0);
	CHK(b != NULL, "batch");
	for (unsigned int r = 0; r < RTE_DIM(rows); r++) {
		for (uint32_t caches = 1; caches <= 7; caches++) {
			struct usva_inval_entry e;
			bool ok = rows[r].ok & (1u << caches);
			int rc;

			switch (r) {
			case 0: e = e_domain(x.dom[0], caches); break;
			case 1: e = e_pasid(x.dev[0], x.pasid[0], caches); break;
			case 2: e = e_addr(x.dev[0], x.pasid[0], VA0, 1, caches, 0);
				break;
			default: e = e_dom_addr(x.dom[0], VA0, 1, caches, 0); break;
			}
			rc = usva_inval_batch_add(b, &e);
			CHK(ok ? rc == (int)accepted : rc == -EINVAL,
			    "%s, caches 0x%x: %d, expected %s", rows[r].name,
			    caches, rc, ok ? "accepted" : "-EINVAL");
			accepted += ok;
		}
	}
	CHK(usva_inval_batch_count(b) == accepted, "count %u, accepted %u",
	    usva_inval_batch_count(b), accepted);
	CHK_OK(submit_all(b));
	CHK(usva_inval_batch_status(b, 0, accepted, st) == (int)accepted,
	    "status");
	for (uint32_t i = 0; i < accepted; i++)
		CHK(st[i] == USVA_INVAL_DONE, "entry %u: %d", i, st[i]);
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	return ix_fini(&x, ret);
}

/* ---- bad input ------------------------------------------------------------------ */

/*
 * Refused at add time with -EINVAL and nothing added: the batch's count
 * and counters, and the backend's, do not move; a submit after them sends
 * only the valid entry.
 */
USVA_TEST(fast, inval_batch_bad_input)
{
	struct usva_inval_batch *b = NULL;
	struct usva_inval_batch_stats b0, b1;
	struct usva_iommu_stats s0, s1;
	struct ix x, y;
	bool y_open = false;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	CHK(ix_open(&y, "emu", "flavour=vtd", 0) == TEST_SUCCESS, "second");
	y_open = true;
	b = batch_new(x.iommu, 0, 16, 0);
	CHK(b != NULL, "batch");
	CHK(add(b, e_addr(x.dev[0], x.pasid[0], VA0, 1, IOTLB, 0)) == 0, "valid");
	b0 = bstats(b);
	s0 = istats(x.iommu);
#define BAD(what, expr) do {						\
		int rc__ = (expr);					\
		CHK(rc__ == -EINVAL, "%s: %d", what, rc__);		\
		CHK(usva_inval_batch_count(b) == 1, "%s: added", what);	\
	} while (0)
	BAD("zero pages", add(b, e_addr(x.dev[0], x.pasid[0], VA0, 0, IOTLB, 0)));
	BAD("unaligned", add(b, e_addr(x.dev[0], x.pasid[0], VA0 + 8, 1, IOTLB,
				       0)));
	BAD("wraps", add(b, e_addr(x.dev[0], x.pasid[0],
				   UINT64_C(0xfffffffffffff000), 2, IOTLB, 0)));
	BAD("2^52 + 1 pages", add(b, e_addr(x.dev[0], x.pasid[0], 0,
					    (UINT64_C(1) << 52) + 1, IOTLB, 0)));
	BAD("domain range wraps", add(b, e_dom_addr(x.dom[0], PG(1),
						    UINT64_C(1) << 52, IOTLB, 0)));
	BAD("no caches", add(b, e_addr(x.dev[0], x.pasid[0], VA0, 1, 0, 0)));
	BAD("unknown cache", add(b, e_addr(x.dev[0], x.pasid[0], VA0, 1,
					   IOTLB | (1u << 3), 0)));
	BAD("unknown flag", add(b, e_addr(x.dev[0], x.pasid[0], VA0, 1, IOTLB,
					  1u << 1)));
	BAD("granule 0", add(b, (struct usva_inval_entry){ .granule = 0,
		.caches = IOTLB, .dev = x.dev[0], .pasid = x.pasid[0] }));
	BAD("granule 4", add(b, (struct usva_inval_entry){ .granule = 4,
		.caches = IOTLB, .dev = x.dev[0], .pasid = x.pasid[0] }));
	BAD("PASID not attached", add(b, e_addr(x.dev[0], x.pasid[3], VA0, 1,
						IOTLB, 0)));
	BAD("PASID not attached (PASID granule)",
	    add(b, e_pasid(x.dev[1], x.pasid[0], IOTLB)));
	BAD("PASID attached to another domain",
	    add(b, (struct usva_inval_entry){ .granule = USVA_INVAL_ADDR,
		.caches = IOTLB, .dev = x.dev[0], .pasid = x.pasid[0],
		.dom = x.dom[1], .addr = VA0, .npages = 1 }));
	BAD("no device", add(b, e_pasid(NULL, x.pasid[0], IOTLB)));
	BAD("no domain", add(b, e_domain(NULL, IOTLB)));
	BAD("device of another instance",
	    add(b, e_addr(y.dev[0], y.pasid[0], VA0, 1, IOTLB, 0)));
	BAD("domain of another instance", add(b, e_domain(y.dom[0], IOTLB)));
	BAD("domain range of another instance",
	    add(b, e_dom_addr(y.dom[0], VA0, 1, IOTLB, 0)));
	BAD("DOMAIN with DEVTLB", add(b, e_domain(x.dom[0], IOTLB | DEVTLB)));
	BAD("ADDR with PASID cache", add(b, e_addr(x.dev[0], x.pasid[0], VA0,
						   1, PCACHE, 0)));
	CHK_ERR(usva_inval_batch_add(NULL, &(struct usva_inval_entry){ 0 }),
		EINVAL);
	CHK_ERR(usva_inval_batch_add(b, NULL), EINVAL);
#undef BAD
	b1 = bstats(b);
	s1 = istats(x.iommu);
	CHK(memcmp(&b0, &b1, sizeof(b0)) == 0, "batch counters moved");
	CHK(s1.inval_calls == s0.inval_calls && s1.inval_entries ==
	    s0.inval_entries, "backend ran something");
	CHK_OK(submit_all(b));
	b1 = bstats(b);
	CHK(b1.added == 1 && b1.entries_sent == 1 && b1.backend_calls == 1,
	    "added %" PRIu64 " sent %" PRIu64 " calls %" PRIu64, b1.added,
	    b1.entries_sent, b1.backend_calls);
	CHK_ERR(usva_inval_batch_status(b, 1, 1, (int32_t[1]){ 0 }), EINVAL);
	CHK_ERR(usva_inval_batch_status(b, 0, 2, (int32_t[2]){ 0 }), EINVAL);
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	if (y_open)
		ix_close(&y);
	return ix_fini(&x, ret);
}

/* ---- coalescing -------------------------------------------------------------------- */

/* Recorded entry @p i is ADDR [addr, addr + npages) of (dev, pasid). */
static bool
rec_is_addr(uint32_t i, struct usva_iommu_dev *dev, uint32_t pasid,
	    uint64_t addr, uint64_t npages, uint32_t caches, uint32_t flags)
{
	const struct usva_inval_entry *e = &rec.ent[i];

	return i < rec.nent && e->granule == USVA_INVAL_ADDR && e->dev == dev &&
	       e->pasid == pasid && e->addr == addr && e->npages == npages &&
	       e->caches == caches && e->flags == flags;
}

static void
rec_print(void)
{
	for (uint32_t i = 0; i < rec.nent && i < REC_MAX_ENTRIES; i++) {
		const struct usva_inval_entry *e = &rec.ent[i];

		printf("    sent %u: granule %u caches 0x%x flags 0x%x dev %p "
		       "PASID %u dom %p 0x%" PRIx64 " + %" PRIu64 "\n", i,
		       e->granule, e->caches, e->flags, (void *)e->dev, e->pasid,
		       (void *)e->dom, e->addr, e->npages);
	}
}

/* Submit @p b into an empty record; @return entries sent, or -1. */
static int
rec_submit(struct usva_inval_batch *b)
{
	rec_reset();
	if (submit_all(b) != 0)
		return -1;
	return (int)rec.nent;
}

#define REC_EXPECT(b, n) do {						\
		int sent__ = rec_submit(b);				\
		if (sent__ != (n))					\
			rec_print();					\
		CHK(sent__ == (n), "sent %d, expected %d", sent__, (n)); \
	} while (0)

USVA_TEST(fast, inval_coalesce_rules)
{
	struct usva_inval_batch *b = NULL, *nc = NULL;
	struct usva_iommu_dev *d0;
	uint64_t merged;
	uint32_t p0, p1;
	struct ix x;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "inval-rec", NULL, 0);
	d0 = x.dev[0];
	p0 = x.pasid[0];
	p1 = x.pasid[1];
	b = batch_new(x.iommu, 0, 64, USVA_INVAL_BATCH_NO_WIDEN);
	nc = batch_new(x.iommu, USVA_INVAL_BATCH_F_NO_COALESCE, 64, 0);
	CHK(b && nc, "batches");

	/* Adjacent: one entry; the second merged as it was added. */
	CHK_OK(add(b, e_addr(d0, p0, VA0, 2, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(2), 3, IOTLB, LEAF)));
	CHK(bstats(b).merged_on_add == 1, "merged on add");
	REC_EXPECT(b, 1);
	CHK(rec_is_addr(0, d0, p0, VA0, 5, IOTLB, LEAF), "adjacent");
	CHK_OK(usva_inval_batch_reset(b));

	/* Adjacent the other way round, overlapping, contained. */
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(4), 4, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p0, VA0, 4, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(2), 4, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(1), 1, IOTLB, LEAF)));
	REC_EXPECT(b, 1);
	CHK(rec_is_addr(0, d0, p0, VA0, 8, IOTLB, LEAF), "overlapping");
	CHK_OK(usva_inval_batch_reset(b));

	/* Duplicates, of every granule. */
	for (int i = 0; i < 3; i++) {
		CHK_OK(add(b, e_addr(d0, p0, VA0, 1, IOTLB, 0)));
		CHK_OK(add(b, e_pasid(d0, p1, IOTLB | PCACHE)));
		CHK_OK(add(b, e_domain(x.dom[0], IOTLB)));
	}
	REC_EXPECT(b, 3);
	CHK(rec_is_addr(0, d0, p0, VA0, 1, IOTLB, 0), "duplicate range");
	CHK(rec.ent[1].granule == USVA_INVAL_PASID && rec.ent[1].pasid == p1,
	    "duplicate PASID flush");
	CHK(rec.ent[2].granule == USVA_INVAL_DOMAIN &&
	    rec.ent[2].dom == x.dom[0], "duplicate domain flush");
	CHK_OK(usva_inval_batch_reset(b));

	/* Not merged: other PASID, other caches, a gap. Sent in the order
	 * added. */
	CHK_OK(add(b, e_addr(d0, p0, VA0, 1, IOTLB, 0)));
	CHK_OK(add(b, e_addr(d0, p1, VA0 + PG(1), 1, IOTLB, 0)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(1), 1, IOTLB | DEVTLB, 0)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(3), 1, IOTLB, 0)));
	REC_EXPECT(b, 4);
	CHK(rec_is_addr(0, d0, p0, VA0, 1, IOTLB, 0) &&
	    rec_is_addr(1, d0, p1, VA0 + PG(1), 1, IOTLB, 0) &&
	    rec_is_addr(2, d0, p0, VA0 + PG(1), 1, IOTLB | DEVTLB, 0) &&
	    rec_is_addr(3, d0, p0, VA0 + PG(3), 1, IOTLB, 0), "kept apart");
	CHK_OK(usva_inval_batch_reset(b));

	/* Merged at submit across other entries; leaf-only only if all
	 * parts were; ordered by the first entry of each. */
	merged = bstats(b).merged_on_add;
	CHK_OK(add(b, e_addr(d0, p1, VA0, 1, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(1), 1, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p1, VA0 + PG(1), 2, IOTLB, 0)));
	CHK_OK(add(b, e_addr(d0, p0, VA0, 1, IOTLB, LEAF)));
	CHK(bstats(b).merged_on_add == merged, "merged on add");
	REC_EXPECT(b, 2);
	CHK(rec_is_addr(0, d0, p1, VA0, 3, IOTLB, 0) &&
	    rec_is_addr(1, d0, p0, VA0, 2, IOTLB, LEAF), "merged at submit");
	CHK_OK(usva_inval_batch_reset(b));

	/* A PASID-wide flush takes in the ranges of its PASID and caches. */
	CHK_OK(add(b, e_addr(d0, p0, VA0, 1, IOTLB, LEAF)));
	CHK_OK(add(b, e_pasid(d0, p0, IOTLB)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(9), 1, IOTLB, LEAF)));
	CHK_OK(add(b, e_addr(d0, p0, VA0, 1, DEVTLB, 0)));
	REC_EXPECT(b, 2);
	CHK(rec.ent[0].granule == USVA_INVAL_PASID && rec.ent[0].caches == IOTLB &&
	    rec.ent[0].flags == 0, "PASID-wide");
	CHK(rec_is_addr(1, d0, p0, VA0, 1, DEVTLB, 0), "other caches kept");
	CHK_OK(usva_inval_batch_reset(b));

	/* A domain's range, once per attachment; the device TLB only on
	 * the ATS device. */
	CHK_OK(add(b, e_dom_addr(x.dom[0], VA0, 2, IOTLB | DEVTLB, LEAF)));
	CHK_OK(add(b, e_dom_addr(x.dom[0], VA0 + PG(2), 2, IOTLB | DEVTLB, LEAF)));
	REC_EXPECT(b, 2);
	CHK(rec.ent[0].dom == x.dom[0] && rec.ent[1].dom == x.dom[0],
	    "domain named");
	CHK(rec_is_addr(0, x.dev[0], p0, VA0, 4, IOTLB | DEVTLB, LEAF) &&
	    rec_is_addr(1, x.dev[1], x.pasid[2], VA0, 4, IOTLB, LEAF),
	    "per attachment");
	CHK_OK(usva_inval_batch_reset(b));

	/* Without coalescing everything goes as added. */
	CHK_OK(add(nc, e_addr(d0, p0, VA0, 2, IOTLB, 0)));
	CHK_OK(add(nc, e_addr(d0, p0, VA0 + PG(2), 2, IOTLB, 0)));
	CHK_OK(add(nc, e_addr(d0, p0, VA0 + PG(2), 2, IOTLB, 0)));
	CHK_OK(add(nc, e_addr(d0, p0, 0, UINT64_C(1) << 30, IOTLB, 0)));
	REC_EXPECT(nc, 4);
	CHK(rec_is_addr(3, d0, p0, 0, UINT64_C(1) << 30, IOTLB, 0),
	    "no widening without coalescing");
	CHK(bstats(nc).merged_on_add == 0 && bstats(nc).widened == 0,
	    "no-coalesce merged");
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	usva_inval_batch_destroy(nc);
	return ix_fini(&x, ret);
}

/* Widening: a merged range of more than widen_pages pages is PASID-wide. */
USVA_TEST(fast, inval_coalesce_widen)
{
	struct usva_inval_batch *b = NULL;
	struct usva_iommu_dev *d0;
	uint32_t p0;
	struct ix x;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "inval-rec", NULL, 0);
	d0 = x.dev[0];
	p0 = x.pasid[0];
	b = batch_new(x.iommu, 0, 64, 16);
	CHK(b != NULL, "batch");

	CHK_OK(add(b, e_addr(d0, p0, VA0, 16, IOTLB | DEVTLB, LEAF)));
	REC_EXPECT(b, 1);
	CHK(rec_is_addr(0, d0, p0, VA0, 16, IOTLB | DEVTLB, LEAF), "at the "
	    "threshold: a range");
	CHK(bstats(b).widened == 0, "widened");
	CHK_OK(usva_inval_batch_reset(b));

	CHK_OK(add(b, e_addr(d0, p0, VA0, 17, IOTLB | DEVTLB, LEAF)));
	REC_EXPECT(b, 1);
	CHK(rec.ent[0].granule == USVA_INVAL_PASID && rec.ent[0].dev == d0 &&
	    rec.ent[0].pasid == p0 && rec.ent[0].caches == (IOTLB | DEVTLB) &&
	    rec.ent[0].flags == 0, "past it: PASID-wide, not leaf-only");
	CHK(bstats(b).widened == 1, "widened %" PRIu64, bstats(b).widened);
	CHK_OK(usva_inval_batch_reset(b));

	/* Two ranges that only together pass it, merged at submit around
	 * an entry of another PASID, which stays as it is. */
	CHK_OK(add(b, e_addr(d0, p0, VA0, 9, IOTLB, 0)));
	CHK_OK(add(b, e_addr(d0, x.pasid[1], VA0, 100, IOTLB, 0)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(9), 8, IOTLB, 0)));
	CHK_OK(add(b, e_addr(d0, p0, VA0 + PG(100), 1, IOTLB, 0)));
	REC_EXPECT(b, 2);
	CHK(rec.ent[0].granule == USVA_INVAL_PASID && rec.ent[0].pasid == p0,
	    "merged past the threshold: PASID-wide");
	CHK(rec.ent[1].granule == USVA_INVAL_PASID &&
	    rec.ent[1].pasid == x.pasid[1], "100 pages of the other PASID");
	CHK_OK(usva_inval_batch_reset(b));

	/* A domain's long range: PASID-wide at each attachment. */
	CHK_OK(add(b, e_dom_addr(x.dom[0], VA0, 1000, IOTLB | DEVTLB, LEAF)));
	REC_EXPECT(b, 2);
	CHK(rec.ent[0].granule == USVA_INVAL_PASID && rec.ent[0].dev == d0 &&
	    rec.ent[0].caches == (IOTLB | DEVTLB) &&
	    rec.ent[1].granule == USVA_INVAL_PASID &&
	    rec.ent[1].dev == x.dev[1] && rec.ent[1].caches == IOTLB,
	    "domain range widened per attachment");
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	return ix_fini(&x, ret);
}

/*
 * Widening as the caches see it (emu): a translation far outside the
 * range survives a range invalidation and goes with a widened one.
 */
USVA_TEST(fast, inval_widen_emu)
{
	struct usva_inval_batch *b = NULL;
	struct usva_emu_xlate xl;
	struct ix x;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd,iotlb_sets=64,iotlb_ways=8", 0);
	b = batch_new(x.iommu, 0, 8, 4);
	CHK(b != NULL, "batch");
	for (int round = 0; round < 2; round++) {
		uint64_t n = round ? 5 : 4;

		CHK_OK(usva_emu_translate(x.dev[1], x.pasid[2], VA0 + PG(7),
					  USVA_ACCESS_READ, &xl));
		CHK_OK(usva_emu_translate(x.dev[1], x.pasid[2], VA0 + PG(7),
					  USVA_ACCESS_READ, &xl));
		CHK(xl.cached, "round %d: not cached", round);
		CHK_OK(add(b, e_addr(x.dev[1], x.pasid[2], VA0, n, IOTLB, 0)));
		CHK_OK(submit_all(b));
		CHK_OK(usva_emu_translate(x.dev[1], x.pasid[2], VA0 + PG(7),
					  USVA_ACCESS_READ, &xl));
		CHK(xl.cached == (round == 0), "%" PRIu64 " pages: page 7 %s",
		    n, xl.cached ? "still cached" : "flushed");
		CHK_OK(usva_inval_batch_reset(b));
	}
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	return ix_fini(&x, ret);
}

/* ---- per-domain submission ------------------------------------------------------- */

/*
 * A backend that takes one domain per call (and two entries at most), as
 * iommufd's IOMMU_HWPT_INVALIDATE: entries grouped by domain in the order
 * of their first entry, a domain's range passed once (the backend fans out
 * to its attachments), a device's entry with its attached domain, a failure
 * stops the calls of the domains after it.
 */
USVA_TEST(fast, inval_per_domain_calls)
{
	struct usva_inval_batch *b = NULL;
	struct usva_domain *d0, *d1;
	struct ix x;
	int32_t st[8];
	int err, rc, ret = TEST_FAILED;

	IX_OPEN(&x, "inval-dom", NULL, 0);
	d0 = x.dom[0];
	d1 = x.dom[1];
	b = batch_new(x.iommu, 0, 16, 64);
	CHK(b != NULL, "batch");
	CHK_OK(add(b, e_dom_addr(d0, VA0, 1, IOTLB | DEVTLB, LEAF)));	  /* A */
	CHK_OK(add(b, e_addr(x.dev[0], x.pasid[1], VA0, 1, IOTLB, 0)));  /* B */
	CHK_OK(add(b, e_dom_addr(d0, VA0 + PG(9), 1, IOTLB | DEVTLB, 0))); /* C */
	CHK_OK(add(b, e_dom_addr(d1, VA0 + PG(2), 1, IOTLB, 0)));	  /* D */
	CHK_OK(add(b, e_pasid(x.dev[1], x.pasid[2], IOTLB)));		  /* E */
	CHK_OK(add(b, e_dom_addr(d1, VA0, 1000, IOTLB | DEVTLB, 0)));	  /* F */
	REC_EXPECT(b, 6);
	/* d0: A, C, E in two calls of at most 2; then d1: B, D, F. */
	CHK(rec.calls == 4 && rec.call_n[0] == 2 && rec.call_n[1] == 1 &&
	    rec.call_n[2] == 2 && rec.call_n[3] == 1, "%u calls (%u %u %u %u)",
	    rec.calls, rec.call_n[0], rec.call_n[1], rec.call_n[2],
	    rec.call_n[3]);
	for (uint32_t c = 0; c < 4; c++)
		for (uint32_t i = 0; i < rec.call_n[c]; i++)
			CHK(rec.ent[rec.call_first[c] + i].dom == (c < 2 ? d0 : d1),
			    "call %u entry %u: another domain", c, i);
	CHK(rec.ent[0].granule == USVA_INVAL_ADDR && rec.ent[0].dev == NULL &&
	    rec.ent[0].addr == VA0 && rec.ent[0].caches == (IOTLB | DEVTLB),
	    "A: the domain's range, once");
	CHK(rec.ent[1].addr == VA0 + PG(9) && rec.ent[1].dev == NULL, "C");
	CHK(rec.ent[2].granule == USVA_INVAL_PASID && rec.ent[2].dev == x.dev[1],
	    "E: with its domain");
	CHK(rec.ent[3].dev == x.dev[0] && rec.ent[3].pasid == x.pasid[1], "B");
	CHK(rec.ent[4].dev == NULL && rec.ent[4].addr == VA0 + PG(2), "D");
	CHK(rec.ent[5].granule == USVA_INVAL_DOMAIN &&
	    rec.ent[5].caches == (IOTLB | DEVTLB), "F: widened to the domain");
	CHK_OK(usva_inval_batch_reset(b));

	/* The second call of d0 fails: d1's entries are not attempted. */
	CHK_OK(add(b, e_dom_addr(d0, VA0, 1, IOTLB, 0)));
	CHK_OK(add(b, e_dom_addr(d1, VA0, 1, IOTLB, 0)));
	CHK_OK(add(b, e_dom_addr(d0, VA0 + PG(3), 1, IOTLB, 0)));
	CHK_OK(add(b, e_dom_addr(d0, VA0 + PG(5), 1, IOTLB, 0)));
	rec_reset();
	rec.fail_at = 3;
	rec.fail_err = -ETIMEDOUT;
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 2 && err == -ETIMEDOUT, "submit %d, err %d", rc, err);
	CHK(rec.calls == 2, "%u calls after the failure", rec.calls);
	CHK(usva_inval_batch_status(b, 0, 4, st) == 4, "status");
	CHK(st[0] == USVA_INVAL_DONE && st[2] == USVA_INVAL_DONE &&
	    st[3] == -ETIMEDOUT && st[1] == USVA_INVAL_NOT_ATTEMPTED,
	    "status %d %d %d %d", st[0], st[1], st[2], st[3]);
	rec_reset();
	CHK(usva_inval_batch_submit(b, &err) == 4 && err == 0, "retry");
	/* Only the two not done, d1 first: its entry came first. */
	CHK(rec.nent == 2 && rec.calls == 2 && rec.ent[0].dom == d1 &&
	    rec.ent[1].dom == d0 && rec.ent[1].addr == VA0 + PG(5),
	    "retry sent %u in %u calls", rec.nent, rec.calls);

	/* A device entry whose PASID was detached since: nothing to send. */
	CHK_OK(usva_inval_batch_reset(b));
	CHK_OK(add(b, e_addr(x.dev[1], x.pasid[2], VA0, 1, IOTLB, 0)));
	CHK_OK(usva_iommu_detach(x.dev[1], x.pasid[2]));
	REC_EXPECT(b, 0);
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	return ix_fini(&x, ret);
}

/* ---- partial failure and retry --------------------------------------------------- */

/*
 * @p n entries that stay apart (one page every other page of one PASID,
 * plus one entry on the other device so that two caches are involved),
 * entry @p k failing with @p err: the first submit completes [0, k), k has
 * the error, the rest are not attempted; the second completes the rest;
 * a third sends nothing.
 */
static int
partial_one(struct ix *x, uint32_t n, uint32_t k, int err)
{
	struct usva_inval_batch *b = batch_new(x->iommu, 0, 16, 0);
	struct usva_inval_batch_stats b0, b1;
	struct usva_iommu_stats s0, s1;
	int32_t st[16];
	int rc, e2, ret = TEST_FAILED;

	CHK(b != NULL, "batch");
	for (uint32_t i = 0; i < n; i++) {
		struct usva_inval_entry e = i == n / 2 ?
			e_addr(x->dev[1], x->pasid[2], VA0 + PG(2 * i), 1,
			       IOTLB, 0) :
			e_addr(x->dev[0], x->pasid[0], VA0 + PG(2 * i), 1,
			       IOTLB | DEVTLB, LEAF);

		CHK(add(b, e) == (int)i, "add %u", i);
	}
	if (n == 16)
		CHK_ERR(add(b, e_pasid(x->dev[0], x->pasid[0], IOTLB)), ENOSPC);
	CHK_OK(usva_emu_inval_fail_nth(x->iommu, k + 1, err));
	s0 = istats(x->iommu);
	rc = usva_inval_batch_submit(b, &e2);
	s1 = istats(x->iommu);
	b0 = bstats(b);
	CHK(rc == (int)k && e2 == err, "n %u k %u: submit %d err %d", n, k, rc,
	    e2);
	CHK(b0.backend_calls == 1 && b0.entries_sent == n && b0.failures == 1,
	    "one call of %u: %" PRIu64 " calls, %" PRIu64 " sent", n,
	    b0.backend_calls, b0.entries_sent);
	CHK(s1.inval_entries - s0.inval_entries == k, "emu ran %" PRIu64,
	    s1.inval_entries - s0.inval_entries);
	CHK(usva_inval_batch_status(b, 0, n, st) == (int)n, "status");
	for (uint32_t i = 0; i < n; i++)
		CHK(st[i] == (i < k ? USVA_INVAL_DONE : i == k ? err :
			      USVA_INVAL_NOT_ATTEMPTED),
		    "n %u k %u: entry %u status %d", n, k, i, st[i]);

	/* Retry: only what is not done. */
	rc = usva_inval_batch_submit(b, &e2);
	b1 = bstats(b);
	s0 = istats(x->iommu);
	CHK(rc == (int)n && e2 == 0, "retry: %d err %d", rc, e2);
	CHK(b1.last_sent == n - k && b1.backend_calls == 2, "retry sent %"
	    PRIu64, b1.last_sent);
	CHK(s0.inval_entries - s1.inval_entries == n - k, "retry ran %" PRIu64,
	    s0.inval_entries - s1.inval_entries);
	CHK(usva_inval_batch_status(b, 0, n, st) == (int)n, "status");
	for (uint32_t i = 0; i < n; i++)
		CHK(st[i] == USVA_INVAL_DONE, "after retry: entry %u %d", i,
		    st[i]);
	/* Idempotent: nothing left to send. */
	CHK(usva_inval_batch_submit(b, &e2) == (int)n && e2 == 0, "again");
	s1 = istats(x->iommu);
	CHK(bstats(b).backend_calls == 2 && s1.inval_calls == s0.inval_calls,
	    "a done batch called the backend");
	ret = TEST_SUCCESS;
out:
	usva_emu_inval_fail_nth(x->iommu, 0, 0);
	usva_inval_batch_destroy(b);
	return ret;
}

USVA_TEST(fast, inval_partial_failure)
{
	static const uint32_t sizes[] = { 1, 2, 3, 5, 7, 16 };
	struct ix x;
	unsigned int runs = 0;
	int ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	for (unsigned int s = 0; s < RTE_DIM(sizes); s++) {
		uint32_t n = sizes[s];
		uint32_t pos[3] = { 0, n / 2, n - 1 };

		for (unsigned int p = 0; p < 3; p++) {
			if (p > 0 && pos[p] == pos[p - 1])
				continue;
			CHK(partial_one(&x, n, pos[p], p == 1 ? -EINVAL : -EIO) ==
			    TEST_SUCCESS, "size %u, failing entry %u", n, pos[p]);
			runs++;
		}
	}
	CHK(runs == 15, "%u combinations", runs);
	ret = TEST_SUCCESS;
out:
	return ix_fini(&x, ret);
}

/*
 * Added entries merged into one backend entry share its fate; an entry
 * expanded to several backend entries is done only when all are.
 */
USVA_TEST(fast, inval_merged_status)
{
	struct usva_inval_batch *b = NULL;
	struct ix x;
	int32_t st[4];
	int err, rc, ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	b = batch_new(x.iommu, 0, 8, 0);
	CHK(b != NULL, "batch");
	CHK_OK(add(b, e_addr(x.dev[0], x.pasid[0], VA0, 1, IOTLB, 0)));
	CHK_OK(add(b, e_addr(x.dev[0], x.pasid[0], VA0 + PG(1), 1, IOTLB, 0)));
	CHK_OK(add(b, e_addr(x.dev[0], x.pasid[1], VA0, 1, IOTLB, 0)));
	CHK_OK(usva_emu_inval_fail_nth(x.iommu, 1, -EIO));
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 0 && err == -EIO, "submit %d err %d", rc, err);
	CHK(usva_inval_batch_status(b, 0, 3, st) == 3, "status");
	CHK(st[0] == -EIO && st[1] == -EIO && st[2] == USVA_INVAL_NOT_ATTEMPTED,
	    "status %d %d %d", st[0], st[1], st[2]);
	CHK(submit_all(b) == 0, "retry");
	CHK_OK(usva_inval_batch_reset(b));

	/* dom[0] is attached twice: its range is two backend entries. */
	CHK_OK(add(b, e_dom_addr(x.dom[0], VA0, 1, IOTLB | DEVTLB, 0)));
	CHK_OK(add(b, e_addr(x.dev[0], x.pasid[1], VA0, 1, IOTLB, 0)));
	CHK_OK(usva_emu_inval_fail_nth(x.iommu, 2, -EIO));
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 0 && err == -EIO && bstats(b).last_sent == 3,
	    "submit %d err %d sent %" PRIu64, rc, err, bstats(b).last_sent);
	CHK(usva_inval_batch_status(b, 0, 2, st) == 2, "status");
	CHK(st[0] == -EIO && st[1] == USVA_INVAL_NOT_ATTEMPTED,
	    "half-done domain entry: %d, then %d", st[0], st[1]);
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 2 && err == 0 && bstats(b).last_sent == 3, "retry %d", rc);
	ret = TEST_SUCCESS;
out:
	usva_emu_inval_fail_nth(x.iommu, 0, 0);
	usva_inval_batch_destroy(b);
	return ix_fini(&x, ret);
}

/*
 * Every allocation of a batch fails in turn: create returns -ENOMEM and
 * leaves nothing; a submit whose domain entry expands past the scratch it
 * had (21 attachments) returns -ENOMEM with nothing submitted, and a retry
 * completes it.
 */
#define FN_PASIDS 20

USVA_TEST(fast, inval_batch_failnth)
{
	struct usva_inval_batch *b = NULL;
	uint32_t pasid[FN_PASIDS] = { 0 };
	struct usva_iommu_stats s0, s1;
	unsigned int fired = 0;
	struct ix x;
	int32_t st;
	int err, rc, ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	for (int i = 0; i < FN_PASIDS; i++) {
		CHK_OK(usva_pasid_alloc(x.owner, &pasid[i]));
		CHK_OK(usva_iommu_attach(x.dev[1], pasid[i], x.dom[1]));
	}
	for (uint32_t n = 1; n < 64; n++) {
		usva_failnth_set(n);
		b = batch_new(x.iommu, 0, 2, 0);
		if (b == NULL) {
			CHK(usva_failnth_fired(), "n=%u: create failed unasked", n);
			fired++;
			continue;
		}
		CHK_OK(add(b, e_dom_addr(x.dom[1], VA0, 1, IOTLB, 0)));
		s0 = istats(x.iommu);
		rc = usva_inval_batch_submit(b, &err);
		s1 = istats(x.iommu);
		if (rc < 0) {
			CHK(rc == -ENOMEM && usva_failnth_fired(), "n=%u: %d", n, rc);
			CHK(s1.inval_calls == s0.inval_calls, "n=%u: submitted "
			    "after -ENOMEM", n);
			CHK(usva_inval_batch_status(b, 0, 1, &st) == 1 &&
			    st == USVA_INVAL_NOT_ATTEMPTED, "n=%u: status %d", n,
			    st);
			usva_failnth_set(0);
			CHK(usva_inval_batch_submit(b, &err) == 1 && err == 0,
			    "n=%u: retry", n);
			fired++;
		} else {
			CHK(rc == 1 && err == 0, "n=%u: submit %d err %d", n, rc,
			    err);
			/* The fixture's attachment of dom[1] too. */
			CHK(s1.inval_entries - s0.inval_entries == FN_PASIDS + 1,
			    "n=%u: %" PRIu64 " entries", n,
			    s1.inval_entries - s0.inval_entries);
		}
		usva_failnth_set(0);
		CHK_OK(usva_inval_batch_destroy(b));
		b = NULL;
		if (!usva_failnth_fired() && rc >= 0)
			break;
	}
	CHK(fired >= 4, "only %u allocations failed", fired);
	ret = TEST_SUCCESS;
out:
	usva_failnth_set(0);
	usva_inval_batch_destroy(b);
	for (int i = 0; i < FN_PASIDS; i++)
		if (pasid[i] != 0)
			usva_iommu_detach(x.dev[1], pasid[i]);
	return ix_fini(&x, ret);
}

/* ---- address spaces ------------------------------------------------------------- */

/* Translate twice: the second is served from a cache. */
static int
warm(struct ix *x, int d, uint32_t pasid, uint64_t va, uint32_t access)
{
	struct usva_emu_xlate xl;
	int rc = usva_emu_translate(x->dev[d], pasid, va, access, &xl);

	if (rc == 0)
		rc = usva_emu_translate(x->dev[d], pasid, va, access, &xl);
	return rc ? rc : xl.cached ? 0 : -EPROTO;
}

static int
xlate(struct ix *x, int d, uint32_t pasid, uint64_t va, uint32_t access,
      struct usva_emu_xlate *xl)
{
	memset(xl, 0, sizeof(*xl));
	return usva_emu_translate(x->dev[d], pasid, va, access, xl);
}

/*
 * usva_as_unmap() and usva_as_protect() invalidate before returning: the
 * devices (one with a device TLB) fault right after, the strict checker
 * sees no stale use. Upgrades and holes invalidate nothing.
 */
USVA_TEST(fast, inval_as_unmap_protect)
{
	struct usva_iommu_stats s0, s1;
	struct usva_emu_xlate xl;
	struct usva_as_stats as;
	uint64_t unmapped;
	struct ix x;
	int rc, ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", USVA_IOMMU_F_STRICT);
	for (int i = 0; i < 4; i++) {
		CHK_OK(warm(&x, 0, x.pasid[0], VA0 + PG(i), USVA_ACCESS_WRITE));
		CHK_OK(warm(&x, 1, x.pasid[2], VA0 + PG(i), USVA_ACCESS_READ));
	}
	s0 = istats(x.iommu);
	CHK_OK(usva_as_unmap(x.as[0], VA0, PG(2), &unmapped));
	s1 = istats(x.iommu);
	CHK(unmapped == PG(2), "unmapped %" PRIu64, unmapped);
	CHK(s1.inval_calls == s0.inval_calls + 1 &&
	    s1.inval_entries == s0.inval_entries + 2,
	    "one call, one entry per attachment: %" PRIu64 " calls %" PRIu64
	    " entries", s1.inval_calls - s0.inval_calls,
	    s1.inval_entries - s0.inval_entries);
	for (int i = 0; i < 2; i++) {
		rc = xlate(&x, 0, x.pasid[0], VA0 + PG(i), USVA_ACCESS_READ, &xl);
		CHK(rc == -EIO && xl.reason == USVA_EMU_S1_NOT_PRESENT,
		    "ATS device, page %d: rc %d cached %d", i, rc, xl.cached);
		rc = xlate(&x, 1, x.pasid[2], VA0 + PG(i), USVA_ACCESS_READ, &xl);
		CHK(rc == -EIO, "page %d: rc %d cached %d", i, rc, xl.cached);
	}
	CHK_OK(xlate(&x, 0, x.pasid[0], VA0 + PG(2), USVA_ACCESS_READ, &xl));
	CHK(xl.cached, "page 2 lost too");
	usva_as_stats(x.as[0], &as);
	CHK(as.inval_flushes == 1 && as.inval_failures == 0 &&
	    as.held_pages == 0, "AS stats: %" PRIu64 " flushes",
	    as.inval_flushes);

	/* A hole, an upgrade: nothing to invalidate. */
	CHK_OK(usva_as_unmap(x.as[0], VA0, PG(2), &unmapped));
	CHK(unmapped == 0, "hole unmapped %" PRIu64, unmapped);
	CHK_OK(usva_as_protect(x.as[0], VA0 + PG(2), PG(2), RU));
	s0 = istats(x.iommu);
	CHK_OK(usva_as_protect(x.as[0], VA0 + PG(2), PG(2), RWU));
	s1 = istats(x.iommu);
	CHK(s1.inval_calls == s0.inval_calls, "upgrade invalidated");
	CHK_OK(warm(&x, 0, x.pasid[0], VA0 + PG(2), USVA_ACCESS_WRITE));

	/* A downgrade does. */
	CHK_OK(usva_as_protect(x.as[0], VA0 + PG(2), PG(2), RU));
	s0 = istats(x.iommu);
	CHK(s0.inval_calls == s1.inval_calls + 1, "downgrade: %" PRIu64 " calls",
	    s0.inval_calls - s1.inval_calls);
	rc = xlate(&x, 0, x.pasid[0], VA0 + PG(2), USVA_ACCESS_WRITE, &xl);
	CHK(rc == -EIO && xl.reason == USVA_EMU_S1_PERM,
	    "write after downgrade: rc %d reason %u", rc, xl.reason);
	s1 = istats(x.iommu);
	CHK(s1.stale_uses == 0, "strict: %" PRIu64 " stale uses", s1.stale_uses);
	ret = TEST_SUCCESS;
out:
	return ix_fini(&x, ret);
}

/*
 * With a caller's batch the device keeps its translation until the batch
 * is submitted; the freed table page waits in the batch. Refusals change
 * nothing: a batch of another instance (-EXDEV), a full batch (-ENOSPC).
 * A domain attached nowhere needs no backend call.
 */
USVA_TEST(fast, inval_as_batch)
{
	struct usva_inval_batch *b = NULL, *full = NULL, *other = NULL;
	struct usva_iommu_stats s0, s1;
	struct usva_as_xlate ax;
	struct usva_emu_xlate xl;
	uint64_t in_use, unmapped;
	struct ix x, y;
	bool y_open = false;
	int rc, ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	CHK(ix_open(&y, "emu", "flavour=vtd", 0) == TEST_SUCCESS, "second");
	y_open = true;
	b = batch_new(x.iommu, 0, 8, 0);
	full = batch_new(x.iommu, 0, 1, 0);
	other = batch_new(y.iommu, 0, 8, 0);
	CHK(b && full && other, "batches");

	CHK_ERR(usva_as_unmap_batch(x.as[0], VA0, PG(NPG), NULL, other), EXDEV);
	CHK_OK(add(full, e_domain(x.dom[0], IOTLB)));
	CHK_ERR(usva_as_unmap_batch(x.as[0], VA0, PG(NPG), NULL, full), ENOSPC);
	CHK_ERR(usva_as_protect_batch(x.as[0], VA0, PG(NPG), RU, full), ENOSPC);
	CHK_OK(usva_as_lookup(x.as[0], VA0, &ax));
	CHK(ax.prot == RWU, "refused calls changed the tables");

	CHK_OK(warm(&x, 0, x.pasid[0], VA0, USVA_ACCESS_READ));
	in_use = pool_in_use(NULL);
	s0 = istats(x.iommu);
	CHK_OK(usva_as_unmap_batch(x.as[0], VA0, PG(NPG), &unmapped, b));
	CHK(unmapped == PG(NPG), "unmapped %" PRIu64, unmapped);
	CHK(usva_inval_batch_count(b) == 1, "one entry per domain: %u",
	    usva_inval_batch_count(b));
	CHK(bstats(b).pages_held == 1 && pool_in_use(NULL) == in_use,
	    "the emptied leaf table went back before its invalidation");
	CHK_OK(xlate(&x, 0, x.pasid[0], VA0, USVA_ACCESS_READ, &xl));
	CHK(xl.cached, "invalidated before the submit");
	s1 = istats(x.iommu);
	CHK(s1.inval_calls == s0.inval_calls, "the unmap called the backend");
	CHK_OK(submit_all(b));
	CHK(bstats(b).pages_held == 0 && bstats(b).pages_released == 1 &&
	    pool_in_use(NULL) == in_use - 1, "table page not given back");
	rc = xlate(&x, 0, x.pasid[0], VA0, USVA_ACCESS_READ, &xl);
	CHK(rc == -EIO, "after the submit: rc %d cached %d", rc, xl.cached);
	CHK_OK(usva_inval_batch_reset(b));

	/* Attached nowhere: the AS still tells the domain, which sends
	 * nothing. */
	CHK_OK(usva_iommu_detach(x.dev[0], x.pasid[1]));
	s0 = istats(x.iommu);
	CHK_OK(usva_as_unmap(x.as[1], VA0, PG(1), NULL));
	CHK_OK(usva_as_unmap_batch(x.as[1], VA0 + PG(1), PG(1), NULL, b));
	CHK_OK(submit_all(b));
	s1 = istats(x.iommu);
	CHK(s1.inval_calls == s0.inval_calls, "%" PRIu64 " calls for a domain "
	    "attached nowhere", s1.inval_calls - s0.inval_calls);
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	usva_inval_batch_destroy(full);
	usva_inval_batch_destroy(other);
	if (y_open)
		ix_close(&y);
	return ix_fini(&x, ret);
}

/* ---- table pages wait for their invalidation -------------------------------------- */

#define TP_PAGES 64

/* Every page the pool will hand out now; all given back. */
static unsigned int
pool_drain_count(struct usva_page_pool *pool)
{
	void *p[TP_PAGES];
	unsigned int n = 0;

	while (n < TP_PAGES && (p[n] = usva_page_alloc(pool)) != NULL)
		n++;
	for (unsigned int i = 0; i < n; i++)
		usva_page_free(pool, p[i], true);
	return n;
}

static uint64_t
held_of(struct usva_as *as)
{
	struct usva_as_stats st;

	usva_as_stats(as, &st);
	return st.held_pages;
}

/*
 * An AS on a private 64-page table pool: after an unmap whose invalidation
 * failed, the emptied leaf table is neither in the pool nor allocatable
 * until a flush succeeds (usva_as_sync(), a later unmap, a batch retry, a
 * detach); tables folded by a map wait for the next flush too.
 */
USVA_TEST(fast, inval_deferred_free)
{
	struct usva_page_pool_config pc = {
		.size = sizeof(pc), .page_shift = 12, .nr_pages = TP_PAGES,
		.numa_node = -1, .name = "inval_tp",
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	struct usva_page_pool *pool = NULL;
	struct usva_inval_batch *b = NULL;
	struct usva_domain *dom = NULL;
	struct usva_as *as = NULL;
	struct usva_emu_xlate xl;
	struct usva_as_stats ast;
	uint64_t unmapped, oa;
	struct ix x;
	int err, rc, ret = TEST_FAILED;

	IX_OPEN(&x, "emu", "flavour=vtd", 0);
	CHK_OK(usva_page_pool_create(&pc, &pool));
	ac.table_pool = pool;
	CHK_OK(usva_as_create(&ac, &as));
	dc.as = as;
	CHK_OK(usva_domain_create(x.iommu, &dc, &dom));
	CHK_OK(usva_iommu_attach(x.dev[0], x.pasid[3], dom));
	oa = IOVA(x.buf);

	/* Root, level 3, level 2 and the leaf table. */
	CHK_OK(usva_as_map(as, VA0, oa, SZ_4K, RWU, 0));
	CHK(pool_in_use(pool) == 4, "in use %" PRIu64, pool_in_use(pool));
	CHK_OK(warm(&x, 0, x.pasid[3], VA0, USVA_ACCESS_READ));
	CHK_OK(usva_emu_inval_fail_nth(x.iommu, 1, -EIO));
	rc = usva_as_unmap(as, VA0, SZ_4K, &unmapped);
	CHK(rc == -EIO && unmapped == SZ_4K, "unmap: %d, %" PRIu64, rc, unmapped);
	usva_as_stats(as, &ast);
	CHK(ast.held_pages == 1 && ast.inval_failures == 1 && ast.table_pages == 3,
	    "held %" PRIu64 " failures %" PRIu64 " tables %" PRIu64,
	    ast.held_pages, ast.inval_failures, ast.table_pages);
	CHK(pool_in_use(pool) == 4, "the leaf table went back: %" PRIu64,
	    pool_in_use(pool));
	CHK(pool_drain_count(pool) == TP_PAGES - 4, "allocatable");
	CHK_OK(xlate(&x, 0, x.pasid[3], VA0, USVA_ACCESS_READ, &xl));
	CHK(xl.cached, "the failed invalidation removed the translation");
	CHK_OK(usva_as_sync(as));
	CHK(held_of(as) == 0 && pool_in_use(pool) == 3, "after sync: held %"
	    PRIu64 ", in use %" PRIu64, held_of(as), pool_in_use(pool));
	CHK(xlate(&x, 0, x.pasid[3], VA0, USVA_ACCESS_READ, &xl) == -EIO,
	    "still translated after sync");
	CHK_OK(usva_as_sync(as));	/* nothing pending */

	/* Pending after a failure, completed by the next unmap. */
	CHK_OK(usva_as_map(as, VA0, oa, SZ_4K, RWU, 0));
	CHK_OK(usva_as_map(as, VA0 + SZ_2M, oa, SZ_4K, RWU, 0));
	CHK(pool_in_use(pool) == 5, "in use %" PRIu64, pool_in_use(pool));
	CHK_OK(usva_emu_inval_fail_nth(x.iommu, 1, -EIO));
	CHK_ERR(usva_as_unmap(as, VA0, SZ_4K, NULL), EIO);
	CHK(held_of(as) == 1 && pool_in_use(pool) == 5, "held");
	CHK_OK(usva_as_unmap(as, VA0 + SZ_2M, SZ_4K, NULL));
	CHK(held_of(as) == 0 && pool_in_use(pool) == 3, "the later unmap did "
	    "not complete it: held %" PRIu64, held_of(as));

	/* A caller's batch: held until a submit succeeds. */
	b = batch_new(x.iommu, 0, 8, 0);
	CHK(b != NULL, "batch");
	CHK_OK(usva_as_map(as, VA0, oa, SZ_4K, RWU, 0));
	CHK_OK(usva_as_unmap_batch(as, VA0, SZ_4K, NULL, b));
	CHK(pool_in_use(pool) == 4 && bstats(b).pages_held == 1, "batch holds");
	CHK_ERR(usva_inval_batch_reset(b), EBUSY);
	CHK_ERR(usva_inval_batch_destroy(b), EBUSY);
	CHK_OK(usva_emu_inval_fail_nth(x.iommu, 1, -EIO));
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 0 && err == -EIO, "submit %d err %d", rc, err);
	CHK(pool_in_use(pool) == 4 && pool_drain_count(pool) == TP_PAGES - 4,
	    "released after a failed submit");
	CHK_OK(submit_all(b));
	CHK(pool_in_use(pool) == 3 && bstats(b).pages_released == 1,
	    "not released after the retry");
	CHK_OK(usva_inval_batch_reset(b));

	/* Or by detaching: nothing left to flush. */
	CHK_OK(usva_as_map(as, VA0, oa, SZ_4K, RWU, 0));
	CHK_OK(usva_as_unmap_batch(as, VA0, SZ_4K, NULL, b));
	CHK_OK(usva_emu_inval_fail_nth(x.iommu, 1, -EIO));
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 0 && err == -EIO && pool_in_use(pool) == 4, "failed");
	CHK_OK(usva_iommu_detach(x.dev[0], x.pasid[3]));
	CHK_OK(submit_all(b));
	CHK(pool_in_use(pool) == 3, "not released after the detach");
	CHK_OK(usva_inval_batch_destroy(b));
	b = NULL;
	CHK_OK(usva_iommu_attach(x.dev[0], x.pasid[3], dom));

	/* A map that folds a full table into a 2 MiB leaf: the table waits
	 * for the next flush. */
	oa = RTE_ALIGN_CEIL(oa, SZ_2M);
	for (uint64_t i = 0; i < 512; i++)
		CHK_OK(usva_as_map(as, VA0 + PG(i), oa + PG(i), SZ_4K, RWU, 0));
	usva_as_stats(as, &ast);
	CHK(ast.merges == 1 && ast.held_pages == 1 && pool_in_use(pool) == 4,
	    "fold: merges %" PRIu64 " held %" PRIu64 " in use %" PRIu64,
	    ast.merges, ast.held_pages, pool_in_use(pool));
	CHK_OK(usva_as_sync(as));
	CHK(held_of(as) == 0 && pool_in_use(pool) == 3, "fold: after sync");
	CHK_OK(usva_as_unmap(as, VA0, SZ_2M, NULL));
	ret = TEST_SUCCESS;
out:
	usva_emu_inval_fail_nth(x.iommu, 0, 0);
	usva_inval_batch_destroy(b);
	if (dom != NULL) {
		usva_iommu_detach(x.dev[0], x.pasid[3]);
		usva_domain_destroy(dom);
	}
	usva_as_destroy(as);
	if (pool != NULL) {
		if (ret == TEST_SUCCESS && pool_in_use(pool) != 0)
			ret = TEST_FAILED;
		usva_page_pool_destroy(pool);
	}
	return ix_fini(&x, ret);
}

/* ---- stress: unmap under device DMA, two lcores ------------------------------------ */

/*
 * The worker lcore is an ATS device working on slots (a VA of one PASID,
 * each in its own 2 MiB so its leaf table is freed and rebuilt with every
 * remap) it owns, checking every DMA lands in the slot's current page; it
 * hands a slot back after a few uses. The main lcore unmaps returned slots
 * with nothing but usva_as_unmap() (or usva_as_unmap_batch() of several
 * slots and one submit), quarantines the old page, and maps the slot to
 * another page. Under the strict checker: no stale use, no DMA into a
 * quarantined page, no table page reused while cached (the device would
 * walk into a stranger's table and the checker or the page check trip).
 */
#define SS_SLOTS	8
#define SS_PAGES	32
#define SS_MARK		0xee

enum { SS_MAIN = 0, SS_LIVE, SS_RETURNED };

struct ss_slot {
	uint32_t state;		/* atomic: SS_* */
	uint64_t va;
	uint8_t *page;		/* main writes it before SS_LIVE (release) */
	uint32_t uses, budget;
};

struct ss_shared {
	struct ix *x;
	struct ss_slot slot[SS_SLOTS];
	uint32_t stop;		/* atomic */
	uint64_t rng, ops, errors;
	char err[160];
};

static uint64_t
ss_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545F4914F6CDD1D);
}

static int
ss_worker(void *arg)
{
	struct ss_shared *s = arg;
	static uint8_t tmp[SZ_4K];

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t r = ss_rand(&s->rng);
		struct ss_slot *sl = &s->slot[r % SS_SLOTS];
		uint32_t off = (uint32_t)((r >> 8) % 2048), len = 1 + (r >> 20) % 512;
		uint8_t v = (uint8_t)((r >> 40) & 0x7f);
		struct usva_emu_dma_fault f;
		int64_t got;

		if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != SS_LIVE) {
			rte_pause();
			continue;
		}
		memset(tmp, v, len);
		got = usva_emu_dma_write(s->x->dev[0], s->x->pasid[0],
					 sl->va + off, tmp, len, &f);
		if ((got != len || sl->page[off] != v ||
		     sl->page[off + len - 1] != v) &&
		    __atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED) == 0)
			snprintf(s->err, sizeof(s->err), "DMA at 0x%" PRIx64
				 ": %" PRId64 " of %u (reason %u), page %s",
				 sl->va + off, got, len, f.reason,
				 got == len ? "missed" : "-");
		s->ops++;
		if (++sl->uses >= sl->budget) {
			sl->uses = 0;
			__atomic_store_n(&sl->state, SS_RETURNED, __ATOMIC_RELEASE);
		}
	}
	return 0;
}

static bool
ss_marked(const uint8_t *p)
{
	for (uint64_t i = 0; i < SZ_4K; i++)
		if (p[i] != SS_MARK)
			return false;
	return true;
}

static int
stress_unmap_one(unsigned int worker, double seconds, bool batched)
{
	static struct ss_shared s;
	struct usva_inval_batch *b = NULL;
	struct ss_slot *done[SS_SLOTS];
	uint8_t *data = NULL, *q[SS_PAGES];
	uint64_t cycles = 0, viol = 0, t_end;
	unsigned int qh = 0, qn = 0, nd = 0;
	struct usva_iommu_stats st;
	struct usva_as_stats ast;
	bool launched = false;
	struct ix x;
	int rc, ret = TEST_FAILED;
	char why[128] = "";

	memset(&s, 0, sizeof(s));
	IX_OPEN(&x, "emu", "flavour=vtd", USVA_IOMMU_F_STRICT);
	data = mmap(NULL, PG(SS_PAGES), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHK(data != MAP_FAILED, "mmap");
	memset(data, SS_MARK, PG(SS_PAGES));
	CHK_OK(usva_iommu_s2_map(x.iommu, IOVA(data), data, PG(SS_PAGES), S2_RW));
	b = batch_new(x.iommu, 0, 16, 0);
	CHK(b != NULL, "batch");
	s.x = &x;
	s.rng = usva_test_rand() | 1;
	for (unsigned int i = 0; i < SS_SLOTS; i++) {
		struct ss_slot *sl = &s.slot[i];

		sl->va = VA0 + SZ_1G + i * SZ_2M;
		sl->page = data + PG(i);
		sl->budget = 1 + (uint32_t)(usva_test_rand() % 32);
		CHK_OK(usva_as_map(x.as[0], sl->va, IOVA(sl->page), SZ_4K, RWU, 0));
		sl->state = SS_LIVE;
	}
	for (unsigned int i = SS_SLOTS; i < SS_PAGES; i++)
		q[qn++] = data + PG(i);
	CHK(rte_eal_remote_launch(ss_worker, &s, worker) == 0, "launch");
	launched = true;
	t_end = rte_get_timer_cycles() + (uint64_t)(seconds * rte_get_timer_hz());
	while (rte_get_timer_cycles() < t_end && why[0] == '\0' &&
	       __atomic_load_n(&s.errors, __ATOMIC_RELAXED) == 0) {
		nd = 0;
		for (unsigned int i = 0; i < SS_SLOTS && why[0] == '\0'; i++) {
			struct ss_slot *sl = &s.slot[i];
			uint64_t unmapped = 0;

			if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) !=
			    SS_RETURNED)
				continue;
			/* Atomic: the worker polls the state. */
			__atomic_store_n(&sl->state, SS_MAIN, __ATOMIC_RELAXED);
			rc = batched ? usva_as_unmap_batch(x.as[0], sl->va, SZ_4K,
							   &unmapped, b) :
				       usva_as_unmap(x.as[0], sl->va, SZ_4K,
						     &unmapped);
			if (rc || unmapped != SZ_4K)
				snprintf(why, sizeof(why), "unmap: %d", rc);
			done[nd++] = sl;
		}
		if (batched && nd > 0 && why[0] == '\0') {
			rc = submit_all(b);
			if (rc == 0)
				rc = usva_inval_batch_reset(b);
			if (rc)
				snprintf(why, sizeof(why), "submit: %d", rc);
		}
		/* Invalidated: no DMA may reach the old pages any more. */
		for (unsigned int k = 0; k < nd && why[0] == '\0'; k++) {
			struct ss_slot *sl = done[k];
			uint8_t *np;

			memset(sl->page, SS_MARK, SZ_4K);
			q[(qh + qn++) % SS_PAGES] = sl->page;
			np = q[qh];
			qh = (qh + 1) % SS_PAGES;
			qn--;
			viol += !ss_marked(np);
			memset(np, 0, SZ_4K);
			sl->page = np;
			sl->budget = 1 + (uint32_t)(usva_test_rand() % 32);
			rc = usva_as_map(x.as[0], sl->va, IOVA(np), SZ_4K, RWU, 0);
			if (rc)
				snprintf(why, sizeof(why), "map: %d", rc);
			__atomic_store_n(&sl->state, SS_LIVE, __ATOMIC_RELEASE);
			cycles++;
		}
		for (unsigned int k = 0; k < qn; k++)
			viol += !ss_marked(q[(qh + k) % SS_PAGES]);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(worker);
	launched = false;
	st = istats(x.iommu);
	usva_as_stats(x.as[0], &ast);
	printf("    %s: %" PRIu64 " DMAs, %" PRIu64 " remaps, %" PRIu64
	       " invalidation calls, %" PRIu64 " stale uses\n",
	       batched ? "batched" : "usva_as_unmap", s.ops, cycles,
	       st.inval_calls, st.stale_uses);
	CHK(why[0] == '\0', "main lcore: %s", why);
	CHK(s.errors == 0, "device: %" PRIu64 " errors, first: %s", s.errors,
	    s.err);
	CHK(viol == 0, "%" PRIu64 " DMA writes into quarantined pages", viol);
	CHK(st.stale_uses == 0, "strict: %" PRIu64 " stale uses", st.stale_uses);
	CHK(ast.held_pages == 0 && ast.inval_failures == 0, "AS held %" PRIu64,
	    ast.held_pages);
	CHK(cycles >= 100 && s.ops >= 1000, "too little done: %" PRIu64
	    " remaps, %" PRIu64 " DMAs", cycles, s.ops);
	ret = TEST_SUCCESS;
out:
	if (launched) {
		__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
		rte_eal_wait_lcore(worker);
	}
	if (b != NULL) {
		submit_all(b);
		usva_inval_batch_destroy(b);
	}
	if (data != NULL && data != MAP_FAILED) {
		usva_as_unmap(x.as[0], VA0 + SZ_1G, SS_SLOTS * SZ_2M, NULL);
		usva_iommu_s2_unmap(x.iommu, IOVA(data), PG(SS_PAGES), NULL);
		munmap(data, PG(SS_PAGES));
	}
	return ix_fini(&x, ret);
}

USVA_TEST(stress, inval_stress_unmap_dma)
{
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	TEST_ASSERT(stress_unmap_one(worker, 1.5, false) == TEST_SUCCESS,
		    "usva_as_unmap");
	TEST_ASSERT(stress_unmap_one(worker, 1.5, true) == TEST_SUCCESS,
		    "usva_as_unmap_batch");
	return TEST_SUCCESS;
}
