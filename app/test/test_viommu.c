/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Nested vIOMMU: the two ways a stage-1 owner (a guest) hands its tables
 * to the IOMMU, on the emu backend.
 *
 *  - per PASID (the VT-d way): one raw stage-1 domain attached per PASID;
 *  - whole PASID table (the SMMUv3 way): usva_iommu_attach_pasid_table()
 *    with a context-descriptor table in guest memory, walked by the model
 *    through stage 2 (linear and 2-level), CDs cached by PASID and
 *    translations tagged by ASID.
 *
 * Cases: config validation rows (size, version, format, tail, reserved,
 * config, format fields, base alignment), attach rules, CD-table walk
 * edges (PASID beyond S1CDMax, invalid or illegal CD, 2-level with a
 * missing leaf table, table outside stage 2), the STE modes (abort, bypass,
 * S1DSS), replace and detach, CD-cache and ASID invalidation, guest
 * invalidation batches with a partial failure, and the stall model
 * (resume, terminate, capacity, detach, and through the fault service).
 *
 * Conventions: the guest's RAM (CD tables) is mapped in stage 2 at
 * GPA_BASE; stage-1 tables are usva_as tables (pool IOVA = VA) whose root a
 * CD's TTB0 names; data pages are mapped at IOVA = VA.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "test.h"

#define SZ_4K		UINT64_C(0x1000)
#define SZ_64K		UINT64_C(0x10000)
#define GPA_BASE	UINT64_C(0x40000000)	/* guest RAM in stage 2 */
#define GMEM_SIZE	(UINT64_C(1) << 20)
#define DATA_PAGES	16u
#define VA0		UINT64_C(0x10000000)	/* stage-1 VAs of the data */

#define P_SMMU		"flavour=smmuv3,iotlb_sets=64,iotlb_ways=8"
#define P_VTD		"flavour=vtd,iotlb_sets=64,iotlb_ways=8"

#define RWU		(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)
#define S2_RW		(USVA_S2_READ | USVA_S2_WRITE)
#define IOVA(p)		((uint64_t)(uintptr_t)(p))

#define CHK(cond, ...)		TEST_ASSERT_GOTO(cond, out, __VA_ARGS__)
#define CHK_OK(expr)		TEST_ASSERT_OK_GOTO(expr)
#define CHK_ERR(expr, err)	TEST_ASSERT_ERR_GOTO(expr, err)

/* ---- the environment ------------------------------------------------------ */

#define V_DEVS	4
#define V_AS	4

struct venv {
	struct usva_iommu *iommu;
	uint16_t id;
	unsigned int ndev, nas;
	struct usva_iommu_dev *dev[V_DEVS];
	struct usva_as *as[V_AS];
	uint8_t *gmem;		/* guest RAM: GPA_BASE.. in stage 2 */
	uint8_t *data;		/* DATA_PAGES pages, IOVA = VA */
	bool gmem_mapped, data_mapped, pool_mapped;
	uint64_t pool_before;
};

static uint64_t
pool_in_use(void)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(usva_page_pool_default(), &st);
	return st.in_use;
}

static void *
map_anon(uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int
venv_open(struct venv *e, const char *params)
{
	struct usva_iommu_config c = {
		.size = sizeof(c), .backend = "emu", .params = params,
	};

	memset(e, 0, sizeof(*e));
	e->pool_before = pool_in_use();
	TEST_ASSERT_OK(usva_iommu_open(&c, &e->iommu));
	e->id = usva_iommu_id(e->iommu);
	e->gmem = map_anon(GMEM_SIZE);
	e->data = map_anon(DATA_PAGES * SZ_4K);
	TEST_ASSERT(e->gmem != NULL && e->data != NULL, "mmap");
	TEST_ASSERT_OK(usva_iommu_s2_map(e->iommu, GPA_BASE, e->gmem,
					 GMEM_SIZE, S2_RW));
	e->gmem_mapped = true;
	TEST_ASSERT_OK(usva_iommu_s2_map(e->iommu, IOVA(e->data), e->data,
					 DATA_PAGES * SZ_4K, S2_RW));
	e->data_mapped = true;
	TEST_ASSERT_OK(usva_iommu_map_pool(e->iommu, usva_page_pool_default()));
	e->pool_mapped = true;
	for (uint32_t i = 0; i < DATA_PAGES * SZ_4K; i++)
		e->data[i] = (uint8_t)(i / SZ_4K * 16 + 1);
	return TEST_SUCCESS;
}

static int
venv_fini(struct venv *e, int ret)
{
	int close_rc = 0;
	uint64_t in_use;

	for (unsigned int i = 0; i < e->ndev; i++)
		usva_iommu_dev_close(e->dev[i]);
	for (unsigned int i = 0; i < e->nas; i++)
		usva_as_destroy(e->as[i]);
	if (e->pool_mapped)
		usva_iommu_unmap_pool(e->iommu, usva_page_pool_default());
	if (e->data_mapped)
		usva_iommu_s2_unmap(e->iommu, IOVA(e->data), DATA_PAGES * SZ_4K,
				    NULL);
	if (e->gmem_mapped)
		usva_iommu_s2_unmap(e->iommu, GPA_BASE, GMEM_SIZE, NULL);
	if (e->gmem != NULL)
		munmap(e->gmem, GMEM_SIZE);
	if (e->data != NULL)
		munmap(e->data, DATA_PAGES * SZ_4K);
	if (e->iommu != NULL)
		close_rc = usva_iommu_close(e->iommu);
	in_use = pool_in_use();
	if (ret != TEST_SUCCESS)
		return ret;
	TEST_ASSERT(close_rc == 0, "close %d", close_rc);
	TEST_ASSERT(in_use == e->pool_before, "table pool: %" PRIu64
		    " pages in use, %" PRIu64 " before", in_use,
		    e->pool_before);
	return ret;
}

/* Open a device; its index, or -errno. */
static int
venv_dev(struct venv *e, uint32_t flags, uint32_t width, uint32_t cap)
{
	struct usva_dev_config c = {
		.size = sizeof(c), .flags = flags, .name = "viommu-dev",
		.pasid_width = width, .pri_capacity = cap,
	};
	int rc;

	if (e->ndev == V_DEVS)
		return -ENOSPC;
	rc = usva_iommu_dev_open(e->iommu, &c, &e->dev[e->ndev]);
	return rc ? rc : (int)e->ndev++;
}

/* An ARM stage-1 address space mapping data page i at VA0 + i * 4 KiB for
 * the pages in @p mask; its index, or -errno. */
static int
venv_as(struct venv *e, uint32_t va_bits, uint32_t mask)
{
	struct usva_as_config c = {
		.size = sizeof(c), .format = USVA_PGFMT_ARM_LPAE_4K,
		.va_bits = va_bits,
	};
	struct usva_as *as;
	int rc;

	if (e->nas == V_AS)
		return -ENOSPC;
	rc = usva_as_create(&c, &as);
	if (rc)
		return rc;
	e->as[e->nas] = as;
	for (uint32_t i = 0; i < DATA_PAGES; i++) {
		if (!(mask & (1u << i)))
			continue;
		rc = usva_as_map(as, VA0 + i * SZ_4K,
				 IOVA(e->data + i * SZ_4K), SZ_4K, RWU, 0);
		if (rc)
			return rc;
	}
	return (int)e->nas++;
}

static uint8_t *
gptr(struct venv *e, uint64_t gpa)
{
	return e->gmem + (gpa - GPA_BASE);
}

/* A CD word 0 as a guest driver writes it: valid, VMSAv8-64, 4 KiB
 * granule, TTB1 unused, faults recorded and aborted, plus @p extra. */
static uint64_t
cd0(uint32_t va_bits, uint16_t asid, uint64_t extra)
{
	return (64 - va_bits) | USVA_EMU_CD0_EPD1 | USVA_EMU_CD0_V |
	       USVA_EMU_CD0_IPS_48 | USVA_EMU_CD0_AA64 | USVA_EMU_CD0_R |
	       USVA_EMU_CD0_A | USVA_EMU_CD0_ASET |
	       ((uint64_t)asid << USVA_EMU_CD0_ASID_SHIFT) | extra;
}

/* Write the CD at @p cd_gpa: word 1 (TTB0) first, word 0 (V) last. */
static void
cd_write(struct venv *e, uint64_t cd_gpa, uint64_t w0, uint64_t ttb0)
{
	uint64_t *cd = (uint64_t *)(void *)gptr(e, cd_gpa);

	memset(cd + 1, 0, USVA_EMU_CD_SIZE - sizeof(uint64_t));
	cd[1] = ttb0 & USVA_EMU_CD1_TTB0_MASK;
	__atomic_store_n(&cd[0], w0, __ATOMIC_RELEASE);
}

static void
l1_write(struct venv *e, uint64_t l1_gpa, uint64_t l2_gpa, bool valid)
{
	uint64_t *l1 = (uint64_t *)(void *)gptr(e, l1_gpa);

	__atomic_store_n(l1, (l2_gpa & USVA_EMU_L1CD_L2PTR_MASK) |
			 (valid ? USVA_EMU_L1CD_V : 0), __ATOMIC_RELEASE);
}

static struct usva_pasid_table_config
ptab(uint64_t base, uint8_t bits, uint8_t s1fmt, uint8_t s1dss, uint8_t mode)
{
	struct usva_pasid_table_config c = {
		.size = sizeof(c),
		.version = USVA_PASID_TABLE_VERSION_1,
		.base = base,
		.pasid_bits = bits,
		.format = USVA_PASID_TABLE_FMT_SMMUV3,
		.config = mode,
		.vendor.smmuv3 = {
			.version = USVA_PASID_TABLE_SMMUV3_VERSION_1,
			.s1fmt = s1fmt,
			.s1dss = s1dss,
		},
	};

	return c;
}

static int
attach_linear(struct venv *e, int d, uint64_t base, uint8_t bits)
{
	struct usva_pasid_table_config c = ptab(base, bits,
		USVA_SMMUV3_S1FMT_LINEAR, USVA_SMMUV3_S1DSS_TERMINATE,
		USVA_PASID_TABLE_TRANSLATE);

	return usva_iommu_attach_pasid_table(e->dev[d], &c);
}

/* Take every queued event; @return how many (up to @p n kept). */
static int
events_take(struct venv *e, struct usva_iommu_event *ev, unsigned int n)
{
	struct usva_iommu_event tmp[16];
	int got, total = 0;

	do {
		got = usva_iommu_events_read(e->iommu, tmp, RTE_DIM(tmp));
		for (int i = 0; i < got; i++, total++)
			if ((unsigned int)total < n)
				ev[total] = tmp[i];
	} while (got > 0);
	return total;
}

/* Exactly one event, of @p type at @p addr (UINT64_MAX: any). */
static int
event_one(struct venv *e, uint32_t type, uint64_t addr)
{
	struct usva_iommu_event ev[4];
	int n = events_take(e, ev, RTE_DIM(ev));

	TEST_ASSERT(n == 1, "%d events, expected one of type %u", n, type);
	TEST_ASSERT(ev[0].type == type, "event type %u, expected %u",
		    ev[0].type, type);
	TEST_ASSERT(addr == UINT64_MAX || ev[0].addr == addr,
		    "event addr 0x%" PRIx64 ", expected 0x%" PRIx64,
		    ev[0].addr, addr);
	return TEST_SUCCESS;
}

static int
no_event(struct venv *e)
{
	struct usva_iommu_event ev[1];

	TEST_ASSERT_EQ(events_take(e, ev, 1), 0, "no event expected");
	return TEST_SUCCESS;
}

/* Translate a user read of VA0 + page * 4 KiB + 8 through (d, pasid): 0 and
 * the data page's byte, or the error. */
static int
xl_page(struct venv *e, int d, uint32_t pasid, uint32_t page,
	struct usva_emu_xlate *x)
{
	int rc = usva_emu_translate(e->dev[d], pasid, VA0 + page * SZ_4K + 8,
				    USVA_ACCESS_READ, x);

	if (rc == 0 && x->host != e->data + page * SZ_4K + 8)
		return -EXDEV;	/* translated to the wrong place */
	return rc;
}

/* The page of @p as translates through (d, pasid) to data page @p page. */
static int
expect_page(struct venv *e, int d, uint32_t pasid, uint32_t page)
{
	struct usva_emu_xlate x;
	int rc = xl_page(e, d, pasid, page, &x);

	TEST_ASSERT(rc == 0, "PASID %u page %u: %d (reason %u)", pasid, page,
		    rc, x.reason);
	return TEST_SUCCESS;
}

/* (d, pasid) faults on @p page: -EIO with @p reason and one event of
 * @p ev_type (0: none). */
static int
expect_fault(struct venv *e, int d, uint32_t pasid, uint32_t page,
	     uint32_t reason, uint32_t ev_type, uint64_t ev_addr)
{
	struct usva_emu_xlate x;
	int rc = xl_page(e, d, pasid, page, &x);

	TEST_ASSERT(rc == -EIO && x.reason == reason, "PASID %u page %u: %d "
		    "reason %u, expected -EIO reason %u", pasid, page, rc,
		    x.reason, reason);
	if (ev_type == 0)
		return no_event(e);
	return event_one(e, ev_type, ev_addr);
}

/* ---- config validation --------------------------------------------------------- */

#define OFF(f)	offsetof(struct usva_pasid_table_config, f)
#define SIZEOF	((uint32_t)sizeof(struct usva_pasid_table_config))
#define MINSZ	((uint32_t)OFF(vendor))
#define V3END	((uint32_t)(OFF(vendor.smmuv3) + \
			    sizeof(struct usva_pasid_table_smmuv3)))

/* One row: patch up to two fields of a valid config (little endian), set
 * its size, expect an error. */
struct cfg_patch {
	uint32_t off;
	uint32_t len;		/* 0: none */
	uint64_t val;
};

struct cfg_row {
	const char *what;
	uint32_t size;		/* 0: sizeof */
	struct cfg_patch p[2];
	int err;		/* 0 or a positive errno */
};

static const struct cfg_row cfg_rows[] = {
	{ "valid", 0, { { 0 } }, 0 },
	{ "size 0", 4, { { 0 } }, EINVAL },
	{ "size below mandatory", MINSZ - 1, { { 0 } }, EINVAL },
	{ "mandatory only: short of smmuv3", MINSZ, { { 0 } }, EINVAL },
	{ "one byte short of smmuv3", V3END - 1, { { 0 } }, EINVAL },
	{ "size above the sanity bound", 8192, { { 0 } }, EINVAL },
	{ "version 0", 0, { { OFF(version), 4, 0 } }, EINVAL },
	{ "version 2", 0, { { OFF(version), 4, 2 } }, EINVAL },
	{ "format 0", 0, { { OFF(format), 1, 0 } }, EOPNOTSUPP },
	{ "format 2", 0, { { OFF(format), 1, 2 } }, EOPNOTSUPP },
	{ "larger size, zero tail", SIZEOF + 16, { { 0 } }, 0 },
	{ "larger size, non-zero tail", SIZEOF + 16,
	  { { SIZEOF + 8, 1, 1 } }, E2BIG },
	{ "reserved byte", 0, { { OFF(reserved) + 4, 1, 1 } }, EINVAL },
	{ "config 0", 0, { { OFF(config), 1, 0 } }, EINVAL },
	{ "config 4", 0, { { OFF(config), 1, 4 } }, EINVAL },
	{ "smmuv3 version 0", 0, { { OFF(vendor.smmuv3.version), 4, 0 } },
	  EINVAL },
	{ "smmuv3 version 2", 0, { { OFF(vendor.smmuv3.version), 4, 2 } },
	  EINVAL },
	{ "smmuv3 flags", 0, { { OFF(vendor.smmuv3.flags), 4, 1 } },
	  EOPNOTSUPP },
	{ "smmuv3 reserved", 0, { { OFF(vendor.smmuv3.reserved) + 5, 1, 1 } },
	  EINVAL },
	{ "s1fmt 3", 0, { { OFF(vendor.smmuv3.s1fmt), 1, 3 } }, EINVAL },
	{ "s1dss 3", 0, { { OFF(vendor.smmuv3.s1dss), 1, 3 } }, EINVAL },
	{ "pasid_bits beyond the device's 8", 0,
	  { { OFF(pasid_bits), 1, 9 } }, EINVAL },
	{ "pasid_bits 21", 0, { { OFF(pasid_bits), 1, 21 } }, EINVAL },
	{ "linear base not aligned to the table (16 KiB)", 0,
	  { { OFF(base), 8, GPA_BASE + 512 } }, EINVAL },
	{ "one CD: 64-byte aligned is enough", 0,
	  { { OFF(base), 8, GPA_BASE + 64 }, { OFF(pasid_bits), 1, 0 } }, 0 },
	{ "2-level: L1 of 4 entries aligned to 64 bytes", 0,
	  { { OFF(base), 8, GPA_BASE + 64 },
	    { OFF(vendor.smmuv3.s1fmt), 1, 1 } }, 0 },
	{ "2-level 4K, 8 bits: L1 of 4 entries, base + 32", 0,
	  { { OFF(base), 8, GPA_BASE + 32 },
	    { OFF(vendor.smmuv3.s1fmt), 1, 1 } }, EINVAL },
	{ "base beyond the IOVA width", 0,
	  { { OFF(base), 8, UINT64_C(1) << 48 } }, EINVAL },
	{ "bypass: the base is not used", 0,
	  { { OFF(base), 8, GPA_BASE + 8 }, { OFF(config), 1, 2 } }, 0 },
	{ "abort", 0, { { OFF(config), 1, 3 } }, 0 },
	/* The order of the checks. */
	{ "size before version", MINSZ - 1, { { OFF(version), 4, 9 } },
	  EINVAL },
	{ "version before format", 0,
	  { { OFF(version), 4, 9 }, { OFF(format), 1, 9 } }, EINVAL },
	{ "format before its size", MINSZ, { { OFF(format), 1, 9 } },
	  EOPNOTSUPP },
	{ "format before the tail", SIZEOF + 8,
	  { { OFF(format), 1, 9 }, { SIZEOF, 1, 1 } }, EOPNOTSUPP },
	{ "tail before values", SIZEOF + 8,
	  { { OFF(config), 1, 9 }, { SIZEOF, 1, 1 } }, E2BIG },
	{ "reserved before config", 0,
	  { { OFF(reserved), 1, 1 }, { OFF(config), 1, 9 } }, EINVAL },
	{ "smmuv3 version before flags", 0,
	  { { OFF(vendor.smmuv3.version), 4, 9 },
	    { OFF(vendor.smmuv3.flags), 4, 1 } }, EINVAL },
};

static void
cfg_patch(uint8_t *buf, const struct cfg_patch *p)
{
	for (uint32_t i = 0; i < p->len; i++)
		buf[p->off + i] = (uint8_t)(p->val >> (8 * i));
}

USVA_TEST(fast, viommu_ptab_config_rows)
{
	struct usva_pasid_table_config base = ptab(GPA_BASE, 8,
		USVA_SMMUV3_S1FMT_LINEAR, USVA_SMMUV3_S1DSS_TERMINATE,
		USVA_PASID_TABLE_TRANSLATE);
	uint8_t buf[256] __rte_aligned(8);
	struct venv e;
	int ret = TEST_FAILED, d, rc;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, 0, 8, 0);
	CHK(d >= 0, "device: %d", d);
	for (unsigned int i = 0; i < RTE_DIM(cfg_rows); i++) {
		const struct cfg_row *r = &cfg_rows[i];
		uint32_t size = r->size ? r->size : SIZEOF;

		memset(buf, 0, sizeof(buf));
		memcpy(buf, &base, sizeof(base));
		for (unsigned int k = 0; k < RTE_DIM(r->p); k++)
			cfg_patch(buf, &r->p[k]);
		memcpy(buf, &size, sizeof(size));
		rc = usva_iommu_attach_pasid_table(e.dev[d],
			(const struct usva_pasid_table_config *)(void *)buf);
		CHK(rc == -r->err, "row %u (%s): %d, expected %d", i, r->what,
		    rc, -r->err);
		if (rc == 0)
			CHK_OK(usva_iommu_detach_pasid_table(e.dev[d]));
	}
	CHK_ERR(usva_iommu_attach_pasid_table(e.dev[d], NULL), EFAULT);
	CHK_ERR(usva_iommu_attach_pasid_table(NULL, &base), EINVAL);
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/* What excludes what, and who can. */
USVA_TEST(fast, viommu_ptab_attach_rules)
{
	struct usva_pasid_table_config c = ptab(GPA_BASE, 4,
		USVA_SMMUV3_S1FMT_LINEAR, USVA_SMMUV3_S1DSS_TERMINATE,
		USVA_PASID_TABLE_TRANSLATE), got;
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	struct usva_domain_config dc = {
		.size = sizeof(dc), .format = USVA_PGFMT_ARM_LPAE_4K,
		.va_bits = 48,
	};
	struct usva_pasid_owner *owner = NULL;
	struct usva_domain *dom = NULL;
	struct venv e, v;
	uint32_t pasid = 0;
	int ret = TEST_FAILED, d, d2;

	memset(&v, 0, sizeof(v));
	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	CHK_OK(usva_iommu_caps(e.iommu, &caps));
	CHK((caps.flags & (USVA_IOMMU_CAP_PASID_TABLE |
			   USVA_IOMMU_CAP_STALL)) ==
	    (USVA_IOMMU_CAP_PASID_TABLE | USVA_IOMMU_CAP_STALL),
	    "smmuv3 caps 0x%x", caps.flags);
	CHK(venv_dev(&e, USVA_DEV_F_PRI | USVA_DEV_F_STALL, 8, 0) == -EINVAL,
	    "PRI and stall together");
	d = venv_dev(&e, 0, 8, 0);
	d2 = venv_dev(&e, 0, 8, 0);
	CHK(d >= 0 && d2 >= 0, "devices");
	CHK_ERR(usva_iommu_detach_pasid_table(e.dev[d]), ENOENT);
	CHK_ERR(usva_iommu_pasid_table_get(e.dev[d], &got), ENOENT);

	/* A per-PASID attachment excludes a table, and the reverse. */
	CHK_OK(usva_pasid_owner_create(usva_iommu_pasids(e.iommu), 0, &owner));
	CHK_OK(usva_pasid_alloc(owner, &pasid));
	dc.s1_root = GPA_BASE;
	CHK_OK(usva_domain_create(e.iommu, &dc, &dom));
	CHK_OK(usva_iommu_attach(e.dev[d2], pasid, dom));
	CHK_ERR(usva_iommu_attach_pasid_table(e.dev[d2], &c), EBUSY);
	CHK_OK(usva_iommu_detach(e.dev[d2], pasid));
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d2], &c));
	CHK_ERR(usva_iommu_attach(e.dev[d2], pasid, dom), EBUSY);

	/* Attach, get, replace, get; device close detaches it. */
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK_OK(usva_iommu_pasid_table_get(e.dev[d], &got));
	CHK(got.base == GPA_BASE && got.pasid_bits == 4 &&
	    got.size == sizeof(got), "get");
	c.base = GPA_BASE + SZ_64K;
	c.vendor.smmuv3.s1fmt = USVA_SMMUV3_S1FMT_2LVL_4K;
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK_OK(usva_iommu_pasid_table_get(e.dev[d], &got));
	CHK(got.base == GPA_BASE + SZ_64K &&
	    got.vendor.smmuv3.s1fmt == USVA_SMMUV3_S1FMT_2LVL_4K, "replaced");
	CHK_OK(usva_iommu_detach_pasid_table(e.dev[d]));
	CHK_ERR(usva_iommu_detach_pasid_table(e.dev[d]), ENOENT);
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));

	/* The VT-d flavour attaches per PASID only, and cannot stall. */
	TEST_ASSERT_OK(venv_open(&v, P_VTD));
	caps.size = sizeof(caps);
	CHK_OK(usva_iommu_caps(v.iommu, &caps));
	CHK(!(caps.flags & (USVA_IOMMU_CAP_PASID_TABLE | USVA_IOMMU_CAP_STALL)),
	    "vtd caps 0x%x", caps.flags);
	CHK(venv_dev(&v, USVA_DEV_F_STALL, 8, 0) == -EOPNOTSUPP, "vtd stall");
	d = venv_dev(&v, 0, 8, 0);
	CHK(d >= 0, "vtd device");
	CHK_ERR(usva_iommu_attach_pasid_table(v.dev[d], &c), EOPNOTSUPP);
	ret = TEST_SUCCESS;
out:
	if (v.iommu != NULL)
		ret = venv_fini(&v, ret);
	if (e.ndev > 1)
		usva_iommu_dev_close(e.dev[--e.ndev]);	/* before dom goes */
	usva_domain_destroy(dom);
	if (owner != NULL)
		usva_pasid_owner_destroy(owner);
	return venv_fini(&e, ret);
}

/* ---- the CD-table walk ------------------------------------------------------------ */

/*
 * A linear table of 16 CDs: good ones translate to their stage-1 table;
 * each kind of bad one is refused with the SMMU's event.
 */
USVA_TEST(fast, viommu_cd_linear)
{
	const uint64_t tab = GPA_BASE;
	struct venv e;
	int ret = TEST_FAILED, d, a1, a2, a39;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, 0, 8, 0);
	a1 = venv_as(&e, 48, 0x0003);		/* pages 0, 1 */
	a2 = venv_as(&e, 48, 0x000c);		/* pages 2, 3 */
	a39 = venv_as(&e, 39, 0x0010);		/* page 4, 3-level */
	CHK(d >= 0 && a1 >= 0 && a2 >= 0 && a39 >= 0, "set-up");
	cd_write(&e, tab + 1 * 64, cd0(48, 1, 0), usva_as_root(e.as[a1]));
	cd_write(&e, tab + 2 * 64, cd0(48, 2, 0), usva_as_root(e.as[a2]));
	cd_write(&e, tab + 3 * 64, cd0(48, 3, 0) & ~USVA_EMU_CD0_V,
		 usva_as_root(e.as[a1]));
	cd_write(&e, tab + 4 * 64, cd0(48, 4, UINT64_C(1) <<
				       USVA_EMU_CD0_TG0_SHIFT),
		 usva_as_root(e.as[a1]));		/* TG0 64 KiB */
	cd_write(&e, tab + 5 * 64, cd0(52, 5, 0), usva_as_root(e.as[a1]));
	cd_write(&e, tab + 6 * 64, cd0(48, 6, 0) & ~USVA_EMU_CD0_AA64,
		 usva_as_root(e.as[a1]));
	cd_write(&e, tab + 7 * 64, cd0(48, 7, USVA_EMU_CD0_EPD0),
		 usva_as_root(e.as[a1]));
	cd_write(&e, tab + 8 * 64, cd0(48, 8, USVA_EMU_CD0_S),
		 usva_as_root(e.as[a1]));		/* cannot stall */
	cd_write(&e, tab + 9 * 64, cd0(48, 9, USVA_EMU_CD0_HA),
		 usva_as_root(e.as[a1]));
	cd_write(&e, tab + 10 * 64, cd0(48, 10, 0) & ~USVA_EMU_CD0_A,
		 usva_as_root(e.as[a1]));
	cd_write(&e, tab + 11 * 64, cd0(39, 11, 0), usva_as_root(e.as[a39]));
	cd_write(&e, tab + 12 * 64, cd0(48, 12, 0) & ~USVA_EMU_CD0_R,
		 usva_as_root(e.as[a1]));
	cd_write(&e, tab + 13 * 64, cd0(48, 13, 0),
		 usva_as_root(e.as[a1]) | (UINT64_C(1) << 50)); /* > 48 bits */
	CHK_OK(attach_linear(&e, d, tab, 4));

	CHK(expect_page(&e, d, 1, 0) == TEST_SUCCESS, "PASID 1 page 0");
	CHK(expect_page(&e, d, 1, 1) == TEST_SUCCESS, "PASID 1 page 1");
	CHK(expect_page(&e, d, 2, 3) == TEST_SUCCESS, "PASID 2 page 3");
	CHK(expect_page(&e, d, 11, 4) == TEST_SUCCESS, "PASID 11, 39 bits");
	/* Unmapped in its own table: a translation fault, recorded. */
	CHK(expect_fault(&e, d, 2, 0, USVA_EMU_S1_NOT_PRESENT,
			 USVA_EVENT_S1_NOT_PRESENT, VA0 + 8) == TEST_SUCCESS,
	    "PASID 2 page 0");
	for (uint32_t p = 3; p <= 13; p++) {
		if (p == 7 || p == 11 || p == 12)
			continue;
		CHK(expect_fault(&e, d, p, 0, USVA_EMU_BAD_CD,
				 USVA_EVENT_BAD_CD, VA0 + 8) == TEST_SUCCESS,
		    "PASID %u: bad CD", p);
	}
	/* EPD0: valid, but no walk: every miss a translation fault. */
	CHK(expect_fault(&e, d, 7, 0, USVA_EMU_S1_NOT_PRESENT,
			 USVA_EVENT_S1_NOT_PRESENT, UINT64_MAX) == TEST_SUCCESS,
	    "EPD0");
	/* R = 0: the terminated translation fault is not recorded. */
	CHK(expect_fault(&e, d, 12, 2, USVA_EMU_S1_NOT_PRESENT, 0, 0) ==
	    TEST_SUCCESS, "R = 0");
	/* An unused slot (all zero): V = 0. Beyond S1CDMax: bad PASID. */
	CHK(expect_fault(&e, d, 14, 0, USVA_EMU_BAD_CD, USVA_EVENT_BAD_CD,
			 UINT64_MAX) == TEST_SUCCESS, "empty slot");
	CHK(expect_fault(&e, d, 16, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "PASID 16 beyond 4 bits");
	/* No PASID, S1DSS terminate: refused (F_STREAM_DISABLED). */
	CHK(expect_fault(&e, d, 0, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "no PASID");

	/* A table outside stage 2: the CD fetch faults at its IOVA. */
	CHK_OK(attach_linear(&e, d, GPA_BASE + GMEM_SIZE, 4));
	CHK(expect_fault(&e, d, 1, 0, USVA_EMU_S2_FAULT, USVA_EVENT_S2_FAULT,
			 GPA_BASE + GMEM_SIZE + 64) == TEST_SUCCESS,
	    "table outside stage 2");
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/* Two-level tables: 4 KiB leaves (split 6) and 64 KiB leaves (split 10). */
USVA_TEST(fast, viommu_cd_2level)
{
	const uint64_t l1 = GPA_BASE, l2a = GPA_BASE + SZ_64K,
		       l2b = GPA_BASE + 2 * SZ_64K, l2c = GPA_BASE + 4 * SZ_64K;
	struct usva_pasid_table_config c;
	struct venv e;
	int ret = TEST_FAILED, d, a;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, 0, 16, 0);
	a = venv_as(&e, 48, 0x00ff);
	CHK(d >= 0 && a >= 0, "set-up");

	/* 4 KiB leaves, 10 PASID bits: L1 of 16 descriptors. Leaf 0 and
	 * leaf 2 present, leaf 1 missing, leaf 3 outside stage 2. */
	l1_write(&e, l1 + 0 * 8, l2a, true);
	l1_write(&e, l1 + 1 * 8, l2b, false);
	l1_write(&e, l1 + 2 * 8, l2b, true);
	l1_write(&e, l1 + 3 * 8, GPA_BASE + GMEM_SIZE, true);
	cd_write(&e, l2a + 5 * 64, cd0(48, 5, 0), usva_as_root(e.as[a]));
	cd_write(&e, l2b + 3 * 64, cd0(48, 131, 0), usva_as_root(e.as[a]));
	c = ptab(l1, 10, USVA_SMMUV3_S1FMT_2LVL_4K,
		 USVA_SMMUV3_S1DSS_TERMINATE, USVA_PASID_TABLE_TRANSLATE);
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_page(&e, d, 5, 1) == TEST_SUCCESS, "PASID 5 (leaf 0)");
	CHK(expect_page(&e, d, 131, 2) == TEST_SUCCESS, "PASID 131 (leaf 2)");
	CHK(expect_fault(&e, d, 70, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "PASID 70: missing leaf table");
	CHK(expect_fault(&e, d, 6, 0, USVA_EMU_BAD_CD, USVA_EVENT_BAD_CD,
			 UINT64_MAX) == TEST_SUCCESS, "PASID 6: empty CD");
	CHK(expect_fault(&e, d, 3 * 64 + 1, 0, USVA_EMU_S2_FAULT,
			 USVA_EVENT_S2_FAULT, GPA_BASE + GMEM_SIZE + 64) ==
	    TEST_SUCCESS, "leaf table outside stage 2");
	CHK(expect_fault(&e, d, 1024, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "PASID 1024 beyond S1CDMax");

	/* S1CDMax <= split: L1 index 0 only; an L1 with V = 0 refuses all. */
	c.pasid_bits = 4;
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_page(&e, d, 5, 3) == TEST_SUCCESS, "4 bits: PASID 5");
	l1_write(&e, l1, l2a, false);
	c.pasid_bits = 5;	/* a replace forgets the cached CD */
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_fault(&e, d, 5, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "L1 descriptor invalid");

	/* 64 KiB leaves, 12 PASID bits: L1 of 4; PASID 1025 is leaf 1,
	 * index 1. L2Ptr bits below 64 KiB are taken as zero. */
	l1_write(&e, l1 + 8, l2c | SZ_4K, true);
	cd_write(&e, l2c + 1 * 64, cd0(48, 77, 0), usva_as_root(e.as[a]));
	c = ptab(l1, 12, USVA_SMMUV3_S1FMT_2LVL_64K,
		 USVA_SMMUV3_S1DSS_TERMINATE, USVA_PASID_TABLE_TRANSLATE);
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_page(&e, d, 1025, 4) == TEST_SUCCESS, "64K leaf");
	CHK(expect_fault(&e, d, 5, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "64K: leaf 0 missing");
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/* The STE modes: abort, bypass, and what DMA without a PASID does. */
USVA_TEST(fast, viommu_ste_modes)
{
	struct usva_pasid_table_config c;
	struct usva_emu_xlate x;
	struct venv e;
	int ret = TEST_FAILED, d, dp, a;
	uint64_t iova;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, 0, 8, 0);
	dp = venv_dev(&e, 0, 8, 0);		/* never gets a table */
	a = venv_as(&e, 48, 0x0001);
	CHK(d >= 0 && dp >= 0 && a >= 0, "set-up");
	cd_write(&e, GPA_BASE, cd0(48, 9, 0), usva_as_root(e.as[a]));
	cd_write(&e, GPA_BASE + 64, cd0(48, 1, 0), usva_as_root(e.as[a]));
	iova = IOVA(e.data) + 2 * SZ_4K + 8;

	/* Abort: everything refused, nothing recorded. */
	c = ptab(GPA_BASE, 4, 0, 0, USVA_PASID_TABLE_ABORT);
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_fault(&e, d, 1, 0, USVA_EMU_ABORTED, 0, 0) == TEST_SUCCESS,
	    "abort PASID 1");
	CHK(expect_fault(&e, d, 0, 0, USVA_EMU_ABORTED, 0, 0) == TEST_SUCCESS,
	    "abort no PASID");

	/* Bypass: without a PASID, stage 2 alone; with one, refused. */
	c.config = USVA_PASID_TABLE_BYPASS;
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK_OK(usva_emu_translate(e.dev[d], 0, iova, USVA_ACCESS_WRITE, &x));
	CHK(x.host == e.data + 2 * SZ_4K + 8 && !x.cached, "bypass: IOVA");
	CHK(expect_fault(&e, d, 1, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "bypass: PASID refused");
	CHK_ERR(usva_emu_translate(e.dev[d], 0, GPA_BASE + GMEM_SIZE,
				   USVA_ACCESS_READ, &x), EIO);
	CHK(x.reason == USVA_EMU_S2_FAULT &&
	    event_one(&e, USVA_EVENT_S2_FAULT, GPA_BASE + GMEM_SIZE) ==
	    TEST_SUCCESS, "bypass: stage-2 miss");

	/* Translate, S1DSS: bypass; SSID0 (CD 0); one CD (S1CDMax 0). */
	c = ptab(GPA_BASE, 4, 0, USVA_SMMUV3_S1DSS_BYPASS,
		 USVA_PASID_TABLE_TRANSLATE);
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK_OK(usva_emu_translate(e.dev[d], 0, iova, USVA_ACCESS_READ, &x));
	CHK(x.host == e.data + 2 * SZ_4K + 8, "S1DSS bypass");
	CHK(expect_page(&e, d, 1, 0) == TEST_SUCCESS, "PASID 1 translates");
	c.vendor.smmuv3.s1dss = USVA_SMMUV3_S1DSS_SSID0;
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_page(&e, d, 0, 0) == TEST_SUCCESS, "S1DSS SSID0: CD 0");
	c.pasid_bits = 0;
	c.vendor.smmuv3.s1dss = USVA_SMMUV3_S1DSS_TERMINATE;
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK(expect_page(&e, d, 0, 0) == TEST_SUCCESS, "one CD: no PASID");
	CHK(expect_fault(&e, d, 1, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "one CD: PASID refused");

	/* A device without a table: no PASID is still RID_PASID's. */
	CHK(expect_fault(&e, dp, 0, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "no table");
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/* Replace switches tables atomically and forgets the device's caches;
 * detach stops DMA; the device can then attach per PASID again. */
USVA_TEST(fast, viommu_ptab_replace_detach)
{
	struct usva_domain_config dc = { .size = sizeof(dc) };
	struct usva_pasid_owner *owner = NULL;
	struct usva_domain *dom = NULL;
	struct usva_emu_xlate x;
	struct venv e;
	uint32_t pasid = 0;
	int ret = TEST_FAILED, d, a1, a2;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, 0, 8, 0);
	a1 = venv_as(&e, 48, 0x0001);
	a2 = venv_as(&e, 48, 0x0001);
	CHK(d >= 0 && a1 >= 0 && a2 >= 0, "set-up");
	/* Same VA, same ASID, different tables: page 0 vs page 5. */
	CHK_OK(usva_as_unmap(e.as[a2], VA0, SZ_4K, NULL));
	CHK_OK(usva_as_map(e.as[a2], VA0, IOVA(e.data + 5 * SZ_4K), SZ_4K,
			   RWU, 0));
	cd_write(&e, GPA_BASE + 64, cd0(48, 3, 0), usva_as_root(e.as[a1]));
	cd_write(&e, GPA_BASE + 4096 + 64, cd0(48, 3, 0),
		 usva_as_root(e.as[a2]));
	CHK_OK(attach_linear(&e, d, GPA_BASE, 4));
	CHK(expect_page(&e, d, 1, 0) == TEST_SUCCESS, "table A");
	CHK_OK(usva_emu_translate(e.dev[d], 1, VA0, USVA_ACCESS_READ, &x));
	CHK(x.cached, "cached");
	CHK_OK(attach_linear(&e, d, GPA_BASE + 4096, 4));
	CHK_OK(usva_emu_translate(e.dev[d], 1, VA0, USVA_ACCESS_READ, &x));
	CHK(x.host == e.data + 5 * SZ_4K && !x.cached,
	    "after replace: table B, walked (new VMID)");
	CHK_OK(usva_iommu_detach_pasid_table(e.dev[d]));
	CHK(expect_fault(&e, d, 1, 0, USVA_EMU_BAD_PASID,
			 USVA_EVENT_BAD_PASID, UINT64_MAX) == TEST_SUCCESS,
	    "detached");

	CHK_OK(usva_pasid_owner_create(usva_iommu_pasids(e.iommu), 0, &owner));
	CHK_OK(usva_pasid_alloc(owner, &pasid));
	dc.as = e.as[a1];
	CHK_OK(usva_domain_create(e.iommu, &dc, &dom));
	CHK_OK(usva_iommu_attach(e.dev[d], pasid, dom));
	CHK(expect_page(&e, d, pasid, 0) == TEST_SUCCESS, "per PASID again");
	CHK_OK(usva_iommu_detach(e.dev[d], pasid));
	ret = TEST_SUCCESS;
out:
	usva_domain_destroy(dom);
	if (owner != NULL)
		usva_pasid_owner_destroy(owner);
	return venv_fini(&e, ret);
}

/*
 * Both models, one guest mapping: on each flavour a raw domain per PASID
 * (the VT-d way), and on smmuv3 also the whole CD table; the device sees
 * the same data through each.
 */
static int
both_models_one(const char *params, bool smmu)
{
	struct usva_as_config ac = {
		.size = sizeof(ac),
		.format = smmu ? USVA_PGFMT_ARM_LPAE_4K : USVA_PGFMT_X86_FS,
		.va_bits = 48,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	struct usva_pasid_owner *owner = NULL;
	struct usva_domain *dom = NULL;
	struct usva_as *as = NULL;
	struct venv e;
	uint32_t pasid = 0;
	int ret = TEST_FAILED, dv, ds = -1;

	TEST_ASSERT_OK(venv_open(&e, params));
	dv = venv_dev(&e, 0, 8, 0);
	if (smmu)
		ds = venv_dev(&e, 0, 8, 0);
	CHK(dv >= 0 && (!smmu || ds >= 0), "devices");
	CHK_OK(usva_as_create(&ac, &as));
	CHK_OK(usva_as_map(as, VA0 + 6 * SZ_4K, IOVA(e.data + 6 * SZ_4K),
			   SZ_4K, RWU, 0));
	/* Per PASID: the guest's root by IOVA, a raw domain. */
	CHK_OK(usva_pasid_owner_create(usva_iommu_pasids(e.iommu), 0, &owner));
	CHK_OK(usva_pasid_alloc(owner, &pasid));
	dc.s1_root = usva_as_root(as);
	dc.format = ac.format;
	dc.va_bits = 48;
	CHK_OK(usva_domain_create(e.iommu, &dc, &dom));
	CHK_OK(usva_iommu_attach(e.dev[dv], pasid, dom));
	CHK(expect_page(&e, dv, pasid, 6) == TEST_SUCCESS, "per PASID");
	if (smmu) {
		cd_write(&e, GPA_BASE + 2 * 64, cd0(48, 2, 0),
			 usva_as_root(as));
		CHK_OK(attach_linear(&e, ds, GPA_BASE, 2));
		CHK(expect_page(&e, ds, 2, 6) == TEST_SUCCESS, "whole table");
	}
	CHK_OK(usva_iommu_detach(e.dev[dv], pasid));
	ret = TEST_SUCCESS;
out:
	for (unsigned int i = 0; i < e.ndev; i++)
		usva_iommu_dev_close(e.dev[i]);
	e.ndev = 0;
	usva_domain_destroy(dom);
	usva_as_destroy(as);
	if (owner != NULL)
		usva_pasid_owner_destroy(owner);
	return venv_fini(&e, ret);
}

USVA_TEST(fast, viommu_both_models)
{
	TEST_ASSERT(both_models_one(P_VTD, false) == TEST_SUCCESS, "vtd");
	TEST_ASSERT(both_models_one(P_SMMU, true) == TEST_SUCCESS, "smmuv3");
	return TEST_SUCCESS;
}

/* ---- invalidation -------------------------------------------------------------- */

/* Translate @p va through (d, pasid): its data page, or -1; *@p cached. */
static int
xl_which(struct venv *e, int d, uint32_t pasid, uint64_t va, bool *cached)
{
	struct usva_emu_xlate x;

	if (usva_emu_translate(e->dev[d], pasid, va, USVA_ACCESS_READ, &x) != 0)
		return -1;
	*cached = x.cached;
	return (int)(((uint8_t *)x.host - e->data) / SZ_4K);
}

#define WHICH(pasid, va, page, was_cached)				\
	do {								\
		bool c__ = false;					\
		int p__ = xl_which(&e, d, (pasid), (va), &c__);		\
		CHK(p__ == (page) && c__ == (was_cached),		\
		    "PASID %u 0x%" PRIx64 ": page %d cached %d, "	\
		    "expected %d %d",					\
		    (pasid), (uint64_t)(va), p__, c__, (page),		\
		    (was_cached));					\
	} while (0)

static struct usva_inval_entry
ent(uint32_t granule, uint32_t caches, uint32_t flags,
    struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr)
{
	struct usva_inval_entry en = {
		.granule = granule, .caches = caches, .flags = flags,
		.dev = dev, .pasid = pasid, .addr = addr,
		.npages = granule == USVA_INVAL_ADDR ? 1 : 0,
	};

	return en;
}

static int
inval1(struct venv *e, struct usva_inval_entry en)
{
	return usva_iommu_invalidate(e->iommu, &en, 1, NULL);
}

/*
 * The CD cache is forgotten by PASID (CMD_CFGI_CD), translations by ASID
 * (CMD_TLBI_NH_ASID, _VA, _ALL): a CD edited without its CFGI stays in
 * use, an ASID's translations survive a CD change until their TLBI, two
 * PASIDs with one ASID share them.
 */
USVA_TEST(fast, viommu_inval_cd_cache_asid)
{
	struct usva_iommu_stats st0, st1;
	struct venv e;
	int ret = TEST_FAILED, d, da, a1, a2;
	struct usva_iommu_dev *dev;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, 0, 8, 0);
	da = venv_dev(&e, USVA_DEV_F_ATS, 8, 0);
	a1 = venv_as(&e, 48, 0x0003);		/* VA0 -> 0, VA0+4K -> 1 */
	a2 = venv_as(&e, 48, 0);
	CHK(d >= 0 && da >= 0 && a1 >= 0 && a2 >= 0, "set-up");
	dev = e.dev[d];
	CHK_OK(usva_as_map(e.as[a2], VA0, IOVA(e.data + 6 * SZ_4K), SZ_4K,
			   RWU, 0));
	CHK_OK(usva_as_map(e.as[a2], VA0 + SZ_4K, IOVA(e.data + 5 * SZ_4K),
			   SZ_4K, RWU, 0));
	cd_write(&e, GPA_BASE + 64, cd0(48, 1, 0), usva_as_root(e.as[a1]));
	CHK_OK(attach_linear(&e, d, GPA_BASE, 4));

	WHICH(1, VA0, 0, false);
	/* The guest points CD 1 at the other table, same ASID, no CFGI:
	 * the cached CD still walks the old table. */
	cd_write(&e, GPA_BASE + 64, cd0(48, 1, 0), usva_as_root(e.as[a2]));
	WHICH(1, VA0 + SZ_4K, 1, false);
	/* CMD_CFGI_CD: the CD goes; the ASID's translations stay. */
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_PASID_CACHE, 0,
			      dev, 1, 0)));
	WHICH(1, VA0 + SZ_4K, 1, true);
	/* CMD_TLBI_NH_ASID(1), and the device's ATC (CMD_ATC_INV). */
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB,
			      USVA_INVAL_F_ASID, dev, 1, 0)));
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_DEVTLB, 0, dev, 1,
			      0)));
	WHICH(1, VA0, 6, false);
	WHICH(1, VA0 + SZ_4K, 5, false);

	/* CD 2: the same ASID and table: PASID 2 hits PASID 1's entries. */
	cd_write(&e, GPA_BASE + 2 * 64, cd0(48, 1, 0), usva_as_root(e.as[a2]));
	WHICH(2, VA0, 6, true);
	/* CMD_TLBI_NH_VA(ASID 1, VA0), leaf. */
	CHK_OK(inval1(&e, ent(USVA_INVAL_ADDR, USVA_INVAL_IOTLB,
			      USVA_INVAL_F_ASID | USVA_INVAL_F_LEAF, dev, 1,
			      VA0)));
	WHICH(2, VA0, 6, false);
	WHICH(2, VA0 + SZ_4K, 5, true);
	/* CMD_TLBI_NH_VAA: every ASID, one address. */
	CHK_OK(inval1(&e, ent(USVA_INVAL_ADDR, USVA_INVAL_IOTLB,
			      USVA_INVAL_F_ASID, dev, USVA_INVAL_ASID_ALL,
			      VA0 + SZ_4K)));
	WHICH(2, VA0 + SZ_4K, 5, false);
	/* An IOTLB entry by PASID: the ASID its CD holds now (1), so PASID
	 * 1's entries go too. */
	WHICH(1, VA0, 6, true);
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB, 0, dev, 2,
			      0)));
	WHICH(1, VA0, 6, false);

	/* An ATS device: its TLB is per PASID (ATC_INV by SSID and
	 * address); an IOTLB invalidation leaves it alone. */
	CHK_OK(attach_linear(&e, da, GPA_BASE, 4));
	d = da;
	dev = e.dev[d];
	WHICH(1, VA0, 6, false);
	usva_iommu_stats(e.iommu, &st0);
	WHICH(1, VA0, 6, true);			/* device TLB hit */
	usva_iommu_stats(e.iommu, &st1);
	CHK(st1.devtlb_hits == st0.devtlb_hits + 1, "device TLB hit");
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB,
			      USVA_INVAL_F_ASID, dev, 1, 0)));
	WHICH(1, VA0, 6, true);			/* still the device TLB */
	usva_iommu_stats(e.iommu, &st0);
	CHK(st0.devtlb_hits == st1.devtlb_hits + 1, "device TLB kept");
	CHK_OK(inval1(&e, ent(USVA_INVAL_ADDR, USVA_INVAL_DEVTLB, 0, dev, 1,
			      VA0)));
	WHICH(1, VA0, 6, false);		/* walked: both flushed */
	WHICH(1, VA0, 6, true);
	usva_iommu_stats(e.iommu, &st1);
	CHK(st1.devtlb_hits == st0.devtlb_hits + 1, "device TLB refilled");
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/* Entries a table device refuses, through both submission paths. */
static int
inval_refused(struct venv *e, struct usva_inval_batch *b,
	      struct usva_inval_entry en, const char *what)
{
	TEST_ASSERT(usva_iommu_invalidate(e->iommu, &en, 1, NULL) == -EINVAL,
		    "invalidate: %s", what);
	TEST_ASSERT(usva_inval_batch_add(b, &en) == -EINVAL, "batch: %s",
		    what);
	return TEST_SUCCESS;
}

/*
 * A guest's invalidation commands, trapped and passed down 1:1 as a
 * batch, with an injected failure (an ATC_INV timeout, CERROR_ATC): the
 * entries before it are done, it has the error, the rest are not
 * attempted; resubmitting completes the rest.
 */
USVA_TEST(fast, viommu_inval_guest_batch_partial)
{
	struct usva_inval_batch_config bc = {
		.size = sizeof(bc), .flags = USVA_INVAL_BATCH_F_NO_COALESCE,
	};
	struct usva_inval_batch *b = NULL, *bm = NULL;
	struct usva_domain *dom = NULL;
	struct usva_domain_config dc = {
		.size = sizeof(dc), .format = USVA_PGFMT_ARM_LPAE_4K,
		.va_bits = 48, .s1_root = GPA_BASE,
	};
	struct usva_inval_batch_stats bst;
	struct usva_inval_entry g[6];
	int32_t status[6];
	struct venv e;
	int ret = TEST_FAILED, d, dn, a1, a2, rc, err = 0;
	struct usva_iommu_dev *dev;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, USVA_DEV_F_ATS, 8, 0);
	dn = venv_dev(&e, 0, 8, 0);		/* no table */
	a1 = venv_as(&e, 48, 0x0001);
	a2 = venv_as(&e, 48, 0);
	CHK(d >= 0 && dn >= 0 && a1 >= 0 && a2 >= 0, "set-up");
	dev = e.dev[d];
	CHK_OK(usva_as_map(e.as[a2], VA0, IOVA(e.data + 7 * SZ_4K), SZ_4K,
			   RWU, 0));
	for (uint32_t p = 1; p <= 3; p++)
		cd_write(&e, GPA_BASE + p * 64, cd0(48, (uint16_t)p, 0),
			 usva_as_root(e.as[a1]));
	CHK_OK(attach_linear(&e, d, GPA_BASE, 4));
	CHK_OK(usva_inval_batch_create(e.iommu, &bc, &b));
	CHK_OK(usva_domain_create(e.iommu, &dc, &dom));

	/* What a table device refuses. */
	CHK(inval_refused(&e, b, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB,
		USVA_INVAL_F_ASID, e.dev[dn], 1, 0), "ASID on a device "
		"without a table") == TEST_SUCCESS, "no table");
	CHK(inval_refused(&e, b, ent(USVA_INVAL_PASID, USVA_INVAL_DEVTLB,
		USVA_INVAL_F_ASID, dev, 1, 0), "ASID with the device TLB") ==
	    TEST_SUCCESS, "ASID devtlb");
	CHK(inval_refused(&e, b, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB,
		USVA_INVAL_F_ASID, dev, 0x10000, 0), "17-bit ASID") ==
	    TEST_SUCCESS, "ASID width");
	CHK(inval_refused(&e, b, ent(USVA_INVAL_PASID, USVA_INVAL_PASID_CACHE,
		0, dev, 16, 0), "PASID beyond the table") == TEST_SUCCESS,
	    "PASID 16");
	g[0] = ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB, 0, dev, 1, 0);
	g[0].dom = dom;
	CHK(inval_refused(&e, b, g[0], "a domain on a table device") ==
	    TEST_SUCCESS, "domain");
	g[0] = ent(USVA_INVAL_DOMAIN, USVA_INVAL_IOTLB, USVA_INVAL_F_ASID,
		   NULL, 1, 0);
	g[0].dom = dom;
	CHK(inval_refused(&e, b, g[0], "ASID by domain") == TEST_SUCCESS,
	    "ASID domain");
	CHK(inval_refused(&e, b, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB,
		1u << 2, dev, 1, 0), "unknown flag") == TEST_SUCCESS, "flag");
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB,
			      USVA_INVAL_F_ASID, dev, USVA_INVAL_ASID_ALL, 0)));

	/* The guest moves PASIDs 1 and 2 to the other table and sends its
	 * commands; the ATC invalidation of PASID 2 times out. */
	WHICH(1, VA0, 0, false);
	WHICH(2, VA0, 0, false);
	cd_write(&e, GPA_BASE + 1 * 64, cd0(48, 1, 0), usva_as_root(e.as[a2]));
	cd_write(&e, GPA_BASE + 2 * 64, cd0(48, 2, 0), usva_as_root(e.as[a2]));
	g[0] = ent(USVA_INVAL_PASID, USVA_INVAL_PASID_CACHE, 0, dev, 1, 0);
	g[1] = ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB, USVA_INVAL_F_ASID, dev,
		   1, 0);
	g[2] = ent(USVA_INVAL_ADDR, USVA_INVAL_DEVTLB, 0, dev, 2, VA0);
	g[3] = ent(USVA_INVAL_PASID, USVA_INVAL_PASID_CACHE, 0, dev, 2, 0);
	g[4] = ent(USVA_INVAL_ADDR, USVA_INVAL_IOTLB,
		   USVA_INVAL_F_ASID | USVA_INVAL_F_LEAF, dev, 2, VA0);
	g[5] = ent(USVA_INVAL_PASID, USVA_INVAL_DEVTLB, 0, dev, 1, 0);
	for (unsigned int i = 0; i < RTE_DIM(g); i++)
		CHK(usva_inval_batch_add(b, &g[i]) == (int)i, "add %u", i);
	CHK_OK(usva_emu_inval_fail_nth(e.iommu, 3, -EIO));
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 2 && err == -EIO, "submit: %d done, err %d", rc, err);
	CHK_OK(usva_inval_batch_status(b, 0, RTE_DIM(g), status));
	CHK(status[0] == USVA_INVAL_DONE && status[1] == USVA_INVAL_DONE &&
	    status[2] == -EIO && status[3] == USVA_INVAL_NOT_ATTEMPTED &&
	    status[4] == USVA_INVAL_NOT_ATTEMPTED &&
	    status[5] == USVA_INVAL_NOT_ATTEMPTED, "statuses %d %d %d %d %d %d",
	    status[0], status[1], status[2], status[3], status[4], status[5]);
	/* Done: PASID 1 walks its new table (the ATC too keeps PASID 1's
	 * entry: its ATC_INV is entry 5). Not done: PASID 2 still the old. */
	WHICH(2, VA0, 0, true);
	CHK_OK(inval1(&e, ent(USVA_INVAL_PASID, USVA_INVAL_DEVTLB, 0, dev, 1,
			      0)));
	WHICH(1, VA0, 7, false);
	/* The vIOMMU reports the error, the guest retries: only what is not
	 * done is sent again. */
	rc = usva_inval_batch_submit(b, &err);
	CHK(rc == 6 && err == 0, "resubmit: %d done, err %d", rc, err);
	usva_inval_batch_stats(b, &bst);
	CHK(bst.last_sent == 4 && bst.failures == 1, "sent %" PRIu64
	    " on resubmit, %" PRIu64 " failures", bst.last_sent, bst.failures);
	WHICH(2, VA0, 7, false);

	/* Coalescing never merges an ASID entry with the PASID entry of the
	 * same number; repeats of either do merge. */
	bc.flags = 0;
	CHK_OK(usva_inval_batch_create(e.iommu, &bc, &bm));
	g[0] = ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB, USVA_INVAL_F_ASID, dev,
		   3, 0);
	g[1] = ent(USVA_INVAL_PASID, USVA_INVAL_IOTLB, 0, dev, 3, 0);
	for (unsigned int i = 0; i < 4; i++)
		CHK(usva_inval_batch_add(bm, &g[i & 1]) >= 0, "add");
	CHK(usva_inval_batch_submit(bm, &err) == 4 && err == 0, "submit");
	usva_inval_batch_stats(bm, &bst);
	CHK(bst.entries_sent == 2, "%" PRIu64 " entries sent, expected 2",
	    bst.entries_sent);
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(bm);
	usva_inval_batch_destroy(b);
	usva_domain_destroy(dom);
	return venv_fini(&e, ret);
}

/* ---- the stall model -------------------------------------------------------------- */

/* Poll exactly one request; its copy in *@p q. */
static int
poll_one(struct venv *e, struct usva_page_req *q)
{
	struct usva_page_req r[4];
	uint16_t n = usva_iommu_prq_poll(e->id, r, RTE_DIM(r));

	TEST_ASSERT(n == 1, "%u requests polled, expected 1", n);
	*q = r[0];
	return TEST_SUCCESS;
}

/* Answer @p q with @p code (and @p cookie_delta added to its cookie). */
static void
resume(struct venv *e, const struct usva_page_req *q, uint16_t code,
       uint32_t cookie_delta)
{
	struct usva_page_resp r = {
		.dev_id = q->dev_id, .pasid = q->pasid, .grpid = q->grpid,
		.cookie = q->cookie + cookie_delta, .code = code,
		.flags = q->flags & (USVA_PREQ_F_PASID | USVA_PREQ_F_STALL),
	};

	usva_iommu_page_respond(e->id, &r, 1);
}

/* The device takes one response: a resume of @p stag with @p code. */
static int
dev_resumed(struct venv *e, int d, uint16_t stag, uint16_t code,
	    uint16_t flags)
{
	struct usva_emu_prg_resp r[4];
	int n = usva_emu_dev_responses(e->dev[d], r, RTE_DIM(r));

	TEST_ASSERT(n == 1, "%d responses, expected 1", n);
	TEST_ASSERT(r[0].grpid == stag && r[0].code == code &&
		    r[0].flags == flags, "response tag %u code %u flags 0x%x,"
		    " expected %u %u 0x%x", r[0].grpid, r[0].code, r[0].flags,
		    stag, code, flags);
	return TEST_SUCCESS;
}

#define SF	(USVA_PREQ_F_STALL | USVA_PREQ_F_PASID)

/*
 * A stalled transaction is resumed (retry) or terminated by its response;
 * stale and malformed resumes are dropped; a full stall capacity
 * terminates at once; detach terminates what is stalled; a context
 * without CD.S terminates with an event.
 */
USVA_TEST(fast, viommu_stall_resume_terminate)
{
	struct usva_dev_info info = { .size = sizeof(info) };
	struct usva_iommu_stats st0, st1;
	struct usva_pasid_table_config c;
	struct usva_emu_dma_fault f;
	struct usva_emu_xlate x;
	struct usva_page_req q, qs[4];
	struct venv e;
	int ret = TEST_FAILED, d, dp, a;
	uint64_t buf = 0x1122334455667788;
	uint16_t stag;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, USVA_DEV_F_STALL, 8, 4);
	dp = venv_dev(&e, USVA_DEV_F_PRI, 8, 0);
	a = venv_as(&e, 48, 0x0001);
	CHK(d >= 0 && dp >= 0 && a >= 0, "set-up");
	cd_write(&e, GPA_BASE + 0 * 64, cd0(48, 9, USVA_EMU_CD0_S),
		 usva_as_root(e.as[a]));
	cd_write(&e, GPA_BASE + 1 * 64, cd0(48, 1, USVA_EMU_CD0_S),
		 usva_as_root(e.as[a]));
	cd_write(&e, GPA_BASE + 2 * 64, cd0(48, 2, 0), usva_as_root(e.as[a]));
	CHK_OK(attach_linear(&e, d, GPA_BASE, 4));

	/* Stall, record, map, resume: the retry translates. */
	CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + SZ_4K, USVA_ACCESS_WRITE,
				   &x), EAGAIN);
	CHK(x.reason == USVA_EMU_S1_NOT_PRESENT, "reason %u", x.reason);
	stag = x.stag;
	CHK(usva_emu_outstanding_groups(e.iommu) == 1, "one stall");
	CHK(poll_one(&e, &q) == TEST_SUCCESS, "poll");
	CHK(q.flags == (SF | USVA_PREQ_F_LAST) && q.grpid == stag &&
	    q.pasid == 1 && q.addr == VA0 + SZ_4K &&
	    (q.perm & USVA_ACCESS_WRITE), "record flags 0x%x tag %u/%u PASID "
	    "%u addr 0x%" PRIx64, q.flags, q.grpid, stag, q.pasid, q.addr);
	CHK_OK(usva_as_map(e.as[a], VA0 + SZ_4K, IOVA(e.data + SZ_4K), SZ_4K,
			   RWU, 0));
	resume(&e, &q, USVA_PAGE_RESP_SUCCESS, 0);
	CHK(dev_resumed(&e, d, stag, USVA_PAGE_RESP_SUCCESS, SF) ==
	    TEST_SUCCESS, "resumed");
	CHK(expect_page(&e, d, 1, 1) == TEST_SUCCESS, "retry");

	/* Terminate: INVALID, and FAILURE too (no PRI to disable). */
	CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + 2 * SZ_4K,
				   USVA_ACCESS_READ, &x), EAGAIN);
	CHK(poll_one(&e, &q) == TEST_SUCCESS, "poll 2");
	resume(&e, &q, USVA_PAGE_RESP_INVALID, 0);
	CHK(dev_resumed(&e, d, x.stag, USVA_PAGE_RESP_INVALID, SF) ==
	    TEST_SUCCESS, "terminated");
	CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + 2 * SZ_4K,
				   USVA_ACCESS_READ, &x), EAGAIN);
	CHK(poll_one(&e, &q) == TEST_SUCCESS, "poll 3");
	resume(&e, &q, USVA_PAGE_RESP_FAILURE, 0);
	CHK(dev_resumed(&e, d, x.stag, USVA_PAGE_RESP_FAILURE, SF) ==
	    TEST_SUCCESS, "terminated by FAILURE");

	/* Stale and malformed resumes are dropped; the right one works. */
	CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + 3 * SZ_4K,
				   USVA_ACCESS_READ, &x), EAGAIN);
	CHK(poll_one(&e, &q) == TEST_SUCCESS, "poll 4");
	usva_iommu_stats(e.iommu, &st0);
	resume(&e, &q, USVA_PAGE_RESP_SUCCESS, 1);	/* other cookie */
	qs[0] = q;
	qs[0].grpid = 99;				/* no such tag */
	resume(&e, &qs[0], USVA_PAGE_RESP_SUCCESS, 0);
	qs[0] = q;
	CHK_OK(usva_iommu_dev_info(e.dev[dp], &info));
	qs[0].dev_id = info.id;				/* a PRI device */
	resume(&e, &qs[0], USVA_PAGE_RESP_SUCCESS, 0);
	usva_iommu_stats(e.iommu, &st1);
	CHK(st1.responses_dropped == st0.responses_dropped + 3 &&
	    st1.responses == st0.responses, "3 dropped");
	CHK(events_take(&e, (struct usva_iommu_event[4]){ { 0 } }, 4) == 3,
	    "3 BAD_RESPONSE events");
	CHK(usva_emu_dev_responses(e.dev[d], (struct usva_emu_prg_resp[1]){
		{ 0 } }, 1) == 0, "nothing for the device yet");
	resume(&e, &q, USVA_PAGE_RESP_INVALID, 0);
	CHK(dev_resumed(&e, d, x.stag, USVA_PAGE_RESP_INVALID, SF) ==
	    TEST_SUCCESS, "right resume");

	/* A DMA stops on a stall and says where and with which tag. */
	CHK(usva_emu_dma_write(e.dev[d], 1, VA0 + 4 * SZ_4K, &buf, sizeof(buf),
			       &f) == 0, "DMA stalls at once");
	CHK((f.flags & USVA_EMU_DMA_F_STALLED) && f.addr == VA0 + 4 * SZ_4K &&
	    f.reason == USVA_EMU_S1_NOT_PRESENT, "DMA fault record");
	CHK(poll_one(&e, &q) == TEST_SUCCESS && q.grpid == f.stag, "DMA stall");
	CHK_OK(usva_as_map(e.as[a], VA0 + 4 * SZ_4K, IOVA(e.data + 4 * SZ_4K),
			   SZ_4K, RWU, 0));
	resume(&e, &q, USVA_PAGE_RESP_SUCCESS, 0);
	CHK(dev_resumed(&e, d, (uint16_t)f.stag, USVA_PAGE_RESP_SUCCESS, SF) ==
	    TEST_SUCCESS, "DMA resumed");
	CHK(usva_emu_dma_write(e.dev[d], 1, VA0 + 4 * SZ_4K, &buf, sizeof(buf),
			       &f) == sizeof(buf), "DMA retried");
	CHK(memcmp(e.data + 4 * SZ_4K, &buf, sizeof(buf)) == 0, "DMA data");

	/* A context without CD.S terminates, recorded. */
	CHK(expect_fault(&e, d, 2, 9, USVA_EMU_S1_NOT_PRESENT,
			 USVA_EVENT_S1_NOT_PRESENT, UINT64_MAX) == TEST_SUCCESS,
	    "CD.S = 0");

	/* Four stalls fill the capacity; the fifth is terminated. */
	usva_iommu_stats(e.iommu, &st0);
	for (uint32_t i = 0; i < 4; i++)
		CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + (8 + i) * SZ_4K,
					   USVA_ACCESS_READ, &x), EAGAIN);
	CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + 12 * SZ_4K,
				   USVA_ACCESS_READ, &x), EIO);
	usva_iommu_stats(e.iommu, &st1);
	CHK(st1.prq_overflow == st0.prq_overflow + 1 &&
	    event_one(&e, USVA_EVENT_PRQ_OVERFLOW, VA0 + 12 * SZ_4K) ==
	    TEST_SUCCESS, "overflow counted");
	CHK(usva_iommu_prq_poll(e.id, qs, RTE_DIM(qs)) == 4, "4 records");
	/* Detach: every stall of the device terminated. */
	CHK_OK(usva_iommu_detach_pasid_table(e.dev[d]));
	CHK(usva_emu_dev_responses(e.dev[d], (struct usva_emu_prg_resp[8]){
		{ 0 } }, 8) == 4, "4 terminated by detach");
	CHK(usva_emu_outstanding_groups(e.iommu) == 0, "none outstanding");

	/* DMA without a PASID (S1DSS SSID0) stalls without one too. */
	c = ptab(GPA_BASE, 4, 0, USVA_SMMUV3_S1DSS_SSID0,
		 USVA_PASID_TABLE_TRANSLATE);
	CHK_OK(usva_iommu_attach_pasid_table(e.dev[d], &c));
	CHK_ERR(usva_emu_translate(e.dev[d], 0, VA0 + 13 * SZ_4K,
				   USVA_ACCESS_READ, &x), EAGAIN);
	CHK(poll_one(&e, &q) == TEST_SUCCESS &&
	    q.flags == (USVA_PREQ_F_STALL | USVA_PREQ_F_LAST) && q.pasid == 0,
	    "no-PASID record flags 0x%x", q.flags);
	resume(&e, &q, USVA_PAGE_RESP_SUCCESS, 0);
	CHK(dev_resumed(&e, d, x.stag, USVA_PAGE_RESP_SUCCESS,
			USVA_PREQ_F_STALL) == TEST_SUCCESS, "no-PASID resume");
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/*
 * The same fault service serves stalls and page requests: a stall device
 * with a per-PASID address space (the kernel sets CD.S for it) faults, the
 * service resolves the page with an anon pager and resumes it.
 */
USVA_TEST(fast, viommu_stall_fault_service)
{
	struct usva_fault_config fc = {
		.size = sizeof(fc), .nr_lcores = 1,
		.lcores = { rte_get_next_lcore(-1, 1, 0) },
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_ARM_LPAE_4K,
		.va_bits = 48,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	struct usva_pager_anon_config pc = {
		.size = sizeof(pc), .base = VA0, .len = 16 * SZ_4K,
	};
	struct usva_fault_handler_config hc = { .size = sizeof(hc) };
	struct usva_fault_service *svc = NULL;
	struct usva_fault_handler *h = NULL;
	struct usva_pasid_owner *owner = NULL;
	struct usva_pager *pager = NULL;
	struct usva_domain *dom = NULL;
	struct usva_as *as = NULL;
	struct usva_fault_stats fst;
	struct usva_emu_xlate x;
	struct venv e;
	uint32_t pasid = 0;
	int ret = TEST_FAILED, d;
	uint64_t v = 0x5a5a5a5a;

	if (fc.lcores[0] >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore");
	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, USVA_DEV_F_STALL, 8, 8);
	CHK(d >= 0, "stall device");
	CHK_OK(usva_pasid_owner_create(usva_iommu_pasids(e.iommu), 0, &owner));
	CHK_OK(usva_pasid_alloc(owner, &pasid));
	CHK_OK(usva_as_create(&ac, &as));
	dc.as = as;
	CHK_OK(usva_domain_create(e.iommu, &dc, &dom));
	CHK_OK(usva_iommu_attach(e.dev[d], pasid, dom));
	pc.iommu = e.iommu;
	CHK_OK(usva_pager_anon_create(&pc, &pager));
	CHK_OK(usva_fault_service_create(&fc, &svc));
	CHK_OK(usva_fault_service_add_iommu(svc, e.iommu));
	hc.dev = e.dev[d];
	hc.as = as;
	hc.pager = pager;
	hc.pasid = pasid;
	CHK_OK(usva_fault_register(svc, &hc, &h));

	/* Stall, serve, resume, retry, write. */
	CHK_ERR(usva_emu_translate(e.dev[d], pasid, VA0 + 3 * SZ_4K,
				   USVA_ACCESS_WRITE, &x), EAGAIN);
	CHK(usva_fault_service_poll(svc, 0) >= 1, "served");
	CHK(dev_resumed(&e, d, x.stag, USVA_PAGE_RESP_SUCCESS, SF) ==
	    TEST_SUCCESS, "resumed by the service");
	CHK(usva_emu_dma_write(e.dev[d], pasid, VA0 + 3 * SZ_4K, &v, sizeof(v),
			       NULL) == sizeof(v), "retried write");
	/* Outside the pager's range: answered INVALID, terminated. */
	CHK_ERR(usva_emu_translate(e.dev[d], pasid, VA0 + 64 * SZ_4K,
				   USVA_ACCESS_READ, &x), EAGAIN);
	CHK(usva_fault_service_poll(svc, 0) >= 1, "served 2");
	CHK(dev_resumed(&e, d, x.stag, USVA_PAGE_RESP_INVALID, SF) ==
	    TEST_SUCCESS, "terminated by the service");
	CHK_OK(usva_fault_stats(svc, -1, &fst));
	CHK(fst.requests == 2 && fst.resp_success == 1 &&
	    fst.resp_invalid == 1, "service: %" PRIu64 " requests, %" PRIu64
	    " success, %" PRIu64 " invalid", fst.requests, fst.resp_success,
	    fst.resp_invalid);
	ret = TEST_SUCCESS;
out:
	usva_fault_unregister(h);
	usva_fault_service_destroy(svc);
	if (dom != NULL)
		usva_iommu_detach(e.dev[d], pasid);
	usva_domain_destroy(dom);
	usva_as_destroy(as);
	usva_pager_destroy(pager);
	if (owner != NULL)
		usva_pasid_owner_destroy(owner);
	return venv_fini(&e, ret);
}

/* A PCIe device (PRI) under a guest's CD table: page requests for the
 * PASIDs the table covers, answered as usual; a table detach answers
 * what is pending. */
USVA_TEST(fast, viommu_pri_on_table)
{
	struct usva_emu_prq_desc pd = {
		.addr = VA0 + SZ_4K, .pasid = 1, .grpid = 3,
		.perm = USVA_ACCESS_READ, .flags = USVA_PREQ_F_LAST,
	};
	struct usva_emu_xlate x;
	struct usva_page_req q;
	struct venv e;
	int ret = TEST_FAILED, d, a;

	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	d = venv_dev(&e, USVA_DEV_F_PRI, 8, 8);
	a = venv_as(&e, 48, 0x0001);
	CHK(d >= 0 && a >= 0, "set-up");
	cd_write(&e, GPA_BASE + 64, cd0(48, 1, 0), usva_as_root(e.as[a]));
	CHK_ERR(usva_emu_page_request(e.dev[d], &pd), EINVAL);	/* no table */
	CHK_OK(attach_linear(&e, d, GPA_BASE, 4));
	CHK_ERR(usva_emu_translate(e.dev[d], 1, VA0 + SZ_4K, USVA_ACCESS_READ,
				   &x), EFAULT);
	CHK_OK(usva_emu_page_request(e.dev[d], &pd));
	pd.pasid = 16;
	CHK_ERR(usva_emu_page_request(e.dev[d], &pd), EINVAL);
	CHK(poll_one(&e, &q) == TEST_SUCCESS && q.pasid == 1 &&
	    q.grpid == 3 && q.flags == (USVA_PREQ_F_LAST | USVA_PREQ_F_PASID),
	    "request");
	CHK_OK(usva_as_map(e.as[a], VA0 + SZ_4K, IOVA(e.data + SZ_4K), SZ_4K,
			   RWU, 0));
	resume(&e, &q, USVA_PAGE_RESP_SUCCESS, 0);
	CHK(dev_resumed(&e, d, 3, USVA_PAGE_RESP_SUCCESS, USVA_PREQ_F_PASID) ==
	    TEST_SUCCESS, "answered");
	CHK(expect_page(&e, d, 1, 1) == TEST_SUCCESS, "retry");
	pd.pasid = 1;
	pd.grpid = 4;
	CHK_OK(usva_emu_page_request(e.dev[d], &pd));
	CHK_OK(usva_iommu_detach_pasid_table(e.dev[d]));
	CHK(dev_resumed(&e, d, 4, USVA_PAGE_RESP_INVALID, USVA_PREQ_F_PASID) ==
	    TEST_SUCCESS, "answered by detach");
	CHK(usva_iommu_prq_poll(e.id, &q, 1) == 0, "queued request dropped");
	CHK_ERR(usva_emu_page_request(e.dev[d], &pd), EINVAL);
	ret = TEST_SUCCESS;
out:
	return venv_fini(&e, ret);
}

/*
 * Concurrently: the fault service running on the worker lcore resolves
 * the stalls of a device whose guest CD table (CD.S = 1) points at an
 * address space the service fills, while the main lcore's DMA stalls,
 * waits for each resume and goes on. Every byte must arrive.
 */
USVA_TEST(fast, viommu_stall_service_concurrent)
{
	const uint32_t pages = 128;
	struct usva_fault_config fc = {
		.size = sizeof(fc), .nr_lcores = 1,
		.lcores = { rte_get_next_lcore(-1, 1, 0) },
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_ARM_LPAE_4K,
		.va_bits = 48,
	};
	struct usva_pager_anon_config pc = {
		.size = sizeof(pc), .base = VA0, .len = pages * SZ_4K,
	};
	struct usva_fault_handler_config hc = { .size = sizeof(hc) };
	struct usva_fault_service *svc = NULL;
	struct usva_fault_handler *h = NULL;
	struct usva_pager *pager = NULL;
	struct usva_as *as = NULL;
	struct usva_emu_dma_fault f;
	uint8_t *buf = NULL, *back = NULL;
	uint64_t done = 0, stalls = 0, t_end;
	bool started = false;
	struct venv e;
	int ret = TEST_FAILED, d;

	if (fc.lcores[0] >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore");
	TEST_ASSERT_OK(venv_open(&e, P_SMMU));
	buf = malloc(pages * SZ_4K);
	back = malloc(pages * SZ_4K);
	d = venv_dev(&e, USVA_DEV_F_STALL, 8, 4);
	CHK(buf != NULL && back != NULL && d >= 0, "set-up");
	for (uint64_t i = 0; i < pages * SZ_4K; i++)
		buf[i] = (uint8_t)(i * 13 + (i >> 12));
	CHK_OK(usva_as_create(&ac, &as));
	cd_write(&e, GPA_BASE + 64, cd0(48, 1, USVA_EMU_CD0_S),
		 usva_as_root(as));
	CHK_OK(attach_linear(&e, d, GPA_BASE, 4));
	pc.iommu = e.iommu;
	CHK_OK(usva_pager_anon_create(&pc, &pager));
	CHK_OK(usva_fault_service_create(&fc, &svc));
	CHK_OK(usva_fault_service_add_iommu(svc, e.iommu));
	hc.dev = e.dev[d];
	hc.as = as;
	hc.pager = pager;
	hc.pasid = 1;
	CHK_OK(usva_fault_register(svc, &hc, &h));
	CHK_OK(usva_fault_service_start(svc));
	started = true;

	t_end = rte_get_timer_cycles() + 10 * rte_get_timer_hz();
	while (done < pages * SZ_4K && rte_get_timer_cycles() < t_end) {
		struct usva_emu_prg_resp r;
		int64_t n = usva_emu_dma_write(e.dev[d], 1, VA0 + done,
					       buf + done,
					       pages * SZ_4K - done, &f);

		CHK(n >= 0, "DMA: %" PRId64, n);
		done += (uint64_t)n;
		if (done == pages * SZ_4K)
			break;
		CHK(f.flags & USVA_EMU_DMA_F_STALLED, "not a stall: reason %u",
		    f.reason);
		stalls++;
		while (usva_emu_dev_responses(e.dev[d], &r, 1) == 0 &&
		       rte_get_timer_cycles() < t_end)
			rte_pause();
		CHK(r.grpid == f.stag && r.code == USVA_PAGE_RESP_SUCCESS,
		    "resume of tag %u: tag %u code %u", f.stag, r.grpid, r.code);
	}
	CHK(done == pages * SZ_4K, "%" PRIu64 " of %" PRIu64 " bytes",
	    done, pages * SZ_4K);
	CHK(stalls == pages, "%" PRIu64 " stalls, expected %u", stalls, pages);
	CHK(usva_emu_dma_read(e.dev[d], 1, VA0, back, pages * SZ_4K, &f) ==
	    (int64_t)(pages * SZ_4K), "read back");
	CHK(memcmp(buf, back, pages * SZ_4K) == 0, "data");
	ret = TEST_SUCCESS;
out:
	if (started)
		usva_fault_service_stop(svc);
	usva_fault_unregister(h);
	usva_fault_service_destroy(svc);
	if (e.ndev > 0)
		usva_iommu_detach_pasid_table(e.dev[d]);
	usva_as_destroy(as);	/* the anon pager's pages go back first */
	usva_pager_destroy(pager);
	free(buf);
	free(back);
	return venv_fini(&e, ret);
}
