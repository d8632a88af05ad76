/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOMMU layer (lib/iommu) through the emu backend: size-versioned config
 * structs, capabilities, IOVA apertures, stage-2 map/unmap, devices,
 * domains, attach/replace/detach and their errors, teardown ordering,
 * invalidation entries refused before anything runs, the event ring, and
 * fail-nth unwinding of every control-path call.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_debug.h>
#include <rte_pause.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "usva_struct.h"
#include "test.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)

#define RWU	(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)
#define S2_RW	(USVA_S2_READ | USVA_S2_WRITE)

/* x86 interrupt (MSI) window every VT-d flavoured instance reserves. */
#define MSI_START	UINT64_C(0xfee00000)
#define MSI_LAST	UINT64_C(0xfeefffff)

#define P_VTD	"flavour=vtd,aw=48"
#define P_SMMU	"flavour=smmuv3,aw=48"

/* A stage-1 VA the fixtures map (to a data page of their own). */
#define VA0	UINT64_C(0x10000000)

static uint64_t
pool_in_use(void)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(usva_page_pool_default(), &st);
	return st.in_use;
}

static uint32_t
pasids_attached(struct usva_iommu *iommu)
{
	struct usva_pasid_space_stats st;

	usva_pasid_space_stats(usva_iommu_pasids(iommu), &st);
	return st.attached;
}

static int
iommu_new(const char *params, uint32_t flags, struct usva_iommu **out)
{
	struct usva_iommu_config c = {
		.size = sizeof(c),
		.flags = flags,
		.backend = "emu",
		.params = params,
	};

	*out = NULL;
	return usva_iommu_open(&c, out);
}

static int
dev_new(struct usva_iommu *iommu, uint32_t flags, uint32_t pasid_width,
	const char *name, struct usva_iommu_dev **out)
{
	struct usva_dev_config c = {
		.size = sizeof(c),
		.flags = flags,
		.name = name,
		.pasid_width = pasid_width,
	};

	*out = NULL;
	return usva_iommu_dev_open(iommu, &c, out);
}

static int
as_new(uint32_t format, uint32_t va_bits, struct usva_as **out)
{
	struct usva_as_config c = {
		.size = sizeof(c),
		.format = format,
		.va_bits = va_bits,
	};

	*out = NULL;
	return usva_as_create(&c, out);
}

static int
dom_new(struct usva_iommu *iommu, struct usva_as *as, struct usva_domain **out)
{
	struct usva_domain_config c = { .size = sizeof(c), .as = as };

	*out = NULL;
	return usva_domain_create(iommu, &c, out);
}

/* Page-aligned, touched memory, every byte @fill. */
static uint8_t *
pages_alloc(uint64_t pages, int fill)
{
	uint8_t *p = aligned_alloc(SZ_4K, pages * SZ_4K);

	if (p != NULL)
		memset(p, fill, pages * SZ_4K);
	return p;
}

static uint32_t
flavour_format(const char *params)
{
	return strstr(params, "smmuv3") ? USVA_PGFMT_ARM_LPAE_4K :
					  USVA_PGFMT_X86_FS;
}

/*
 * A fixture: an instance, a PRI device of PASID width 20, an owner with two
 * PASIDs, two address spaces (each mapping VA0 to its own stage-2 mapped
 * data page, 0x11 and 0x22 bytes) and a domain on each. Nothing attached.
 */
struct fx {
	struct usva_iommu *iommu;
	struct usva_pasid_owner *owner;
	struct usva_iommu_dev *dev;
	uint32_t pasid[2];
	struct usva_as *as[2];
	struct usva_domain *dom[2];
	uint8_t *buf[2];
	bool mapped[2];
};

static void
fx_close(struct fx *f)
{
	usva_iommu_dev_close(f->dev);
	for (int i = 0; i < 2; i++) {
		if (f->dom[i] != NULL)
			usva_domain_destroy(f->dom[i]);
		usva_as_destroy(f->as[i]);
		if (f->mapped[i])
			usva_iommu_s2_unmap(f->iommu, (uint64_t)(uintptr_t)f->buf[i],
					    SZ_4K, NULL);
		free(f->buf[i]);
	}
	usva_pasid_owner_destroy(f->owner);
	usva_iommu_close(f->iommu);
	memset(f, 0, sizeof(*f));
}

static int
fx_open(struct fx *f, const char *params, uint32_t dev_flags)
{
	uint32_t fmt = flavour_format(params);

	memset(f, 0, sizeof(*f));
	TEST_ASSERT_OK_GOTO(iommu_new(params, 0, &f->iommu));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(usva_iommu_pasids(f->iommu),
						    0, &f->owner));
	TEST_ASSERT_OK_GOTO(dev_new(f->iommu, dev_flags, 20, "fx", &f->dev));
	for (int i = 0; i < 2; i++) {
		f->buf[i] = pages_alloc(1, 0x11 * (i + 1));
		TEST_ASSERT_GOTO(f->buf[i] != NULL, out, "no memory");
		TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(f->iommu,
				(uint64_t)(uintptr_t)f->buf[i], f->buf[i],
				SZ_4K, S2_RW));
		f->mapped[i] = true;
		TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f->owner, &f->pasid[i]));
		TEST_ASSERT_OK_GOTO(as_new(fmt, 48, &f->as[i]));
		TEST_ASSERT_OK_GOTO(usva_as_map(f->as[i], VA0,
				(uint64_t)(uintptr_t)f->buf[i], SZ_4K, RWU, 0));
		TEST_ASSERT_OK_GOTO(dom_new(f->iommu, f->as[i], &f->dom[i]));
	}
	return TEST_SUCCESS;
out:
	fx_close(f);
	return TEST_FAILED;
}

#define FX_OPEN(f, params, flags)					\
	TEST_ASSERT(fx_open(f, params, flags) == TEST_SUCCESS, "fixture %s", params)

/* Translate VA0 for a read; 0 and the first byte of the page, or -errno. */
static int
fx_peek(struct fx *f, uint32_t pasid, uint8_t *byte)
{
	struct usva_emu_xlate x;
	int rc;

	memset(&x, 0, sizeof(x));
	rc = usva_emu_translate(f->dev, pasid, VA0, USVA_ACCESS_READ, &x);
	if (rc == 0)
		*byte = *(uint8_t *)x.host;
	return rc;
}

static void
events_drain(struct usva_iommu *iommu)
{
	struct usva_iommu_event ev[32];

	while (usva_iommu_events_read(iommu, ev, RTE_DIM(ev)) > 0)
		;
}

/* ---- size-versioned config structs ------------------------------------ */

/*
 * The size rows every size-versioned config goes through. @valid is a
 * valid struct of @size bytes; @min the end of its mandatory fields.
 * @call makes the object from a struct and destroys it again on success.
 * At the minimum size the optional fields hold garbage: they must not be
 * read. Nothing may leak from any row.
 */
typedef int (*cfg_call_fn)(void *ctx, const void *cfg);

#define TAIL 16

static int
size_rows(const char *what, const void *valid, size_t size, size_t min,
	  cfg_call_fn call, void *ctx)
{
	static const struct {
		const char *name;
		int kind;	/* 0: abs, 1: min+delta, 2: size+delta */
		int delta;
		int tail_byte;	/* offset from size of a non-zero tail byte, -1 */
		int garbage;	/* fill bytes past the claimed size with 0xa5 */
		int err;
	} rows[] = {
		{ "size 0", 0, 0, -1, 0, EINVAL },
		{ "size 4", 0, 4, -1, 0, EINVAL },
		{ "minimum - 1", 1, -1, -1, 0, EINVAL },
		{ "minimum, garbage past it", 1, 0, -1, 1, 0 },
		{ "exact", 2, 0, -1, 0, 0 },
		{ "exact + 8, zero tail", 2, 8, -1, 0, 0 },
		{ "exact + 8, tail byte 7 set", 2, 8, 7, 0, E2BIG },
		{ "exact + 1, tail byte set", 2, 1, 0, 0, E2BIG },
		{ "exact + 16, tail byte 15 set", 2, 16, 15, 0, E2BIG },
	};
	uint8_t buf[512 + TAIL] __rte_aligned(8);

	RTE_VERIFY(size <= 512);
	for (unsigned int r = 0; r < RTE_DIM(rows); r++) {
		int64_t live = usva_alloc_outstanding();
		uint32_t claim;
		int rc;

		memset(buf, 0, sizeof(buf));
		memcpy(buf, valid, size);
		claim = rows[r].kind == 0 ? (uint32_t)rows[r].delta :
			rows[r].kind == 1 ? (uint32_t)(min + rows[r].delta) :
			(uint32_t)(size + rows[r].delta);
		if (rows[r].garbage)
			memset(buf + claim, 0xa5, size + TAIL - claim);
		if (rows[r].tail_byte >= 0)
			buf[size + rows[r].tail_byte] = 1;
		memcpy(buf, &claim, sizeof(claim));
		rc = call(ctx, buf);
		TEST_ASSERT(rc == -rows[r].err, "%s, %s (size %u): returned %d, "
			    "expected %d", what, rows[r].name, claim, rc,
			    -rows[r].err);
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live,
			       "%s, %s: allocations leaked", what, rows[r].name);
	}
	return TEST_SUCCESS;
}

static int
call_open(void *ctx, const void *cfg)
{
	struct usva_iommu *iommu = NULL;
	int rc = usva_iommu_open(cfg, &iommu);

	RTE_SET_USED(ctx);
	if (rc == 0) {
		if (iommu == NULL)
			return -EFAULT;
		rc = usva_iommu_close(iommu);
		if (rc != 0)
			return -ENOTRECOVERABLE;
	} else if (iommu != NULL) {
		return -ENOTRECOVERABLE;	/* failed but handed out */
	}
	return rc;
}

USVA_TEST(fast, iommu_config_open)
{
	static const struct {
		const char *what;
		uint32_t flags;
		const char *backend;
		const char *params;
		int reserved;	/* index to set, -1 none */
		int err;
	} rows[] = {
		{ "defaults", 0, "emu", NULL, -1, 0 },
		{ "empty params", 0, "emu", "", -1, 0 },
		{ "vtd", 0, "emu", "flavour=vtd", -1, 0 },
		{ "smmuv3", 0, "emu", "flavour=smmuv3", -1, 0 },
		{ "strict", USVA_IOMMU_F_STRICT, "emu", P_VTD, -1, 0 },
		{ "every key", 0, "emu", "flavour=vtd,aw=48,iotlb_sets=8,"
		  "iotlb_ways=2,devtlb_entries=16,pasid_cache_entries=8,"
		  "prq_depth=64,event_depth=64,pasid_width=16,inval_wait_ns=0,"
		  "ats_inval_ns=0", -1, 0 },
		{ "modelled invalidation latency", 0, "emu",
		  "inval_wait_ns=500,ats_inval_ns=1000000", -1, 0 },
		{ "invalidation latency beyond 1 ms", 0, "emu",
		  "inval_wait_ns=1000001", -1, EINVAL },
		{ "unknown flag 1", 1u << 1, "emu", NULL, -1, EOPNOTSUPP },
		{ "unknown flag 31", 1u << 31, "emu", NULL, -1, EOPNOTSUPP },
		{ "reserved[0]", 0, "emu", NULL, 0, EINVAL },
		{ "reserved[3]", 0, "emu", NULL, 3, EINVAL },
		{ "no backend", 0, NULL, NULL, -1, EINVAL },
		{ "unknown backend", 0, "nope", NULL, -1, ENODEV },
		{ "backend names are exact", 0, "EMU", NULL, -1, ENODEV },
		{ "unknown key", 0, "emu", "flavour=vtd,foo=1", -1, EINVAL },
		{ "unknown flavour", 0, "emu", "flavour=bogus", -1, EINVAL },
		{ "key without value", 0, "emu", "flavour", -1, EINVAL },
		{ "empty value", 0, "emu", "iotlb_sets=", -1, EINVAL },
		{ "not a number", 0, "emu", "iotlb_sets=abc", -1, EINVAL },
		{ "trailing junk", 0, "emu", "iotlb_sets=4x", -1, EINVAL },
		{ "negative", 0, "emu", "iotlb_sets=-1", -1, EINVAL },
		{ "aw beyond 64 bits", 0, "emu", "aw=65", -1, EINVAL },
		{ "PASID width beyond PCIe", 0, "emu", "pasid_width=21", -1, EINVAL },
	};
	struct usva_iommu_config c;
	struct usva_iommu *iommu;

	for (unsigned int r = 0; r < RTE_DIM(rows); r++) {
		int64_t live = usva_alloc_outstanding();
		int rc;

		memset(&c, 0, sizeof(c));
		c.size = sizeof(c);
		c.flags = rows[r].flags;
		c.backend = rows[r].backend;
		c.params = rows[r].params;
		if (rows[r].reserved >= 0)
			c.reserved[rows[r].reserved] = 1;
		rc = call_open(NULL, &c);
		TEST_ASSERT(rc == -rows[r].err, "%s: returned %d, expected %d",
			    rows[r].what, rc, -rows[r].err);
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live,
			       "%s: allocations leaked", rows[r].what);
	}

	/* Size rows; at the minimum size params holds an invalid string and
	 * pasids a wild pointer, neither of which may be looked at. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.backend = "emu";
	c.params = P_VTD;
	TEST_ASSERT(size_rows("usva_iommu_config", &c, sizeof(c),
			      USVA_OFFSETOFEND(struct usva_iommu_config, backend),
			      call_open, NULL) == TEST_SUCCESS, "size rows");
	{
		struct usva_iommu_config m;

		memset(&m, 0, sizeof(m));
		m.size = USVA_OFFSETOFEND(struct usva_iommu_config, backend);
		m.backend = "emu";
		m.params = "foo=bar";
		m.pasids = (struct usva_pasid_space *)(uintptr_t)0x8;
		m.reserved[0] = 7;
		TEST_ASSERT_OK(call_open(NULL, &m));
	}

	/* NULL arguments. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.backend = "emu";
	TEST_ASSERT_ERR(usva_iommu_open(&c, NULL), EINVAL);
	iommu = NULL;
	{
		int rc = usva_iommu_open(NULL, &iommu);

		/* The header names -EINVAL for a bad config; usva_struct.h's
		 * loader says -EFAULT for a NULL one. Either, and nothing out. */
		TEST_ASSERT(rc == -EINVAL || rc == -EFAULT, "NULL config: %d", rc);
		TEST_ASSERT(iommu == NULL, "NULL config handed out an instance");
	}
	TEST_ASSERT_EQ(usva_iommu_close(NULL), 0, "close(NULL)");
	return TEST_SUCCESS;
}

USVA_TEST(fast, iommu_open_limit)
{
	struct usva_iommu *inst[USVA_IOMMU_MAX + 1];
	bool seen[USVA_IOMMU_MAX];
	unsigned int n = 0;
	int64_t live = usva_alloc_outstanding();
	int rc = 0, ret = TEST_FAILED;

	memset(seen, 0, sizeof(seen));
	memset(inst, 0, sizeof(inst));
	while (n <= USVA_IOMMU_MAX) {
		rc = iommu_new("flavour=vtd,pasid_width=4", 0, &inst[n]);
		if (rc != 0)
			break;
		TEST_ASSERT_GOTO(usva_iommu_id(inst[n]) < USVA_IOMMU_MAX, out,
				 "id %u", usva_iommu_id(inst[n]));
		TEST_ASSERT_GOTO(!seen[usva_iommu_id(inst[n])], out,
				 "id %u handed out twice", usva_iommu_id(inst[n]));
		seen[usva_iommu_id(inst[n])] = true;
		TEST_ASSERT_GOTO(strcmp(usva_iommu_backend(inst[n]), "emu") == 0,
				 out, "backend %s", usva_iommu_backend(inst[n]));
		TEST_ASSERT_GOTO(usva_iommu_pasids(inst[n]) != NULL, out,
				 "no PASID space of its own");
		n++;
	}
	TEST_ASSERT_GOTO(rc == -ENOSPC, out, "open %u: %d, expected -ENOSPC", n, rc);
	TEST_ASSERT_GOTO(n == USVA_IOMMU_MAX, out, "only %u instances", n);
	TEST_ASSERT_GOTO(inst[n] == NULL, out, "failed open handed one out");
	/* One closed: its slot is usable again. */
	TEST_ASSERT_OK_GOTO(usva_iommu_close(inst[0]));
	inst[0] = NULL;
	TEST_ASSERT_OK_GOTO(iommu_new("flavour=vtd,pasid_width=4", 0, &inst[0]));
	ret = TEST_SUCCESS;
out:
	for (unsigned int i = 0; i <= USVA_IOMMU_MAX; i++)
		usva_iommu_close(inst[i]);
	TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "leaked");
	return ret;
}

/* ---- capabilities ------------------------------------------------------ */

static int
caps_check_one(const char *params, uint32_t fmt, uint32_t other_fmt)
{
	struct usva_iommu *iommu;
	struct usva_iommu_caps caps;
	struct {
		struct usva_iommu_caps c;
		uint8_t tail[TAIL];
	} big;
	uint8_t raw[sizeof(caps)];
	size_t part = USVA_OFFSETOFEND(struct usva_iommu_caps, s1_page_sizes);
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(iommu_new(params, 0, &iommu));
	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	TEST_ASSERT_OK_GOTO(usva_iommu_caps(iommu, &caps));
	TEST_ASSERT_GOTO((caps.flags & (USVA_IOMMU_CAP_NESTING | USVA_IOMMU_CAP_PRI |
					USVA_IOMMU_CAP_ATS | USVA_IOMMU_CAP_PASID)) ==
			 (USVA_IOMMU_CAP_NESTING | USVA_IOMMU_CAP_PRI |
			  USVA_IOMMU_CAP_ATS | USVA_IOMMU_CAP_PASID), out,
			 "%s: flags 0x%x", params, caps.flags);
	TEST_ASSERT_GOTO(caps.s1_formats & (1u << fmt), out,
			 "%s: formats 0x%x lack %u", params, caps.s1_formats, fmt);
	TEST_ASSERT_GOTO(!(caps.s1_formats & (1u << other_fmt)), out,
			 "%s: formats 0x%x include %u", params, caps.s1_formats,
			 other_fmt);
	TEST_ASSERT_GOTO(caps.s1_page_sizes & USVA_PGSIZE_4K, out,
			 "%s: page sizes 0x%" PRIx64, params, caps.s1_page_sizes);
	TEST_ASSERT_GOTO(caps.s1_va_bits_max >= 48, out, "%s: va bits %u",
			 params, caps.s1_va_bits_max);
	TEST_ASSERT_GOTO(caps.iova_bits == 48, out, "%s: iova bits %u (aw=48)",
			 params, caps.iova_bits);
	TEST_ASSERT_GOTO(caps.pasid_width >= 1 && caps.pasid_width <= 20, out,
			 "%s: PASID width %u", params, caps.pasid_width);
	TEST_ASSERT_GOTO(caps.max_page_requests > 0, out, "%s: no page requests",
			 params);
	TEST_ASSERT_GOTO(caps.inval_granules == (USVA_INVAL_GRAN_DOMAIN |
						 USVA_INVAL_GRAN_PASID |
						 USVA_INVAL_GRAN_ADDR), out,
			 "%s: granules 0x%x", params, caps.inval_granules);
	TEST_ASSERT_GOTO(usva_pasid_space_width(usva_iommu_pasids(iommu)) ==
			 caps.pasid_width, out, "own PASID space of width %u, "
			 "caps say %u", usva_pasid_space_width(usva_iommu_pasids(iommu)),
			 caps.pasid_width);

	/* Sizes: too small fails; a partial struct is filled up to its size
	 * and not a byte further; a larger one is fine. */
	memset(raw, 0xa5, sizeof(raw));
	((struct usva_iommu_caps *)raw)->size = 0;
	TEST_ASSERT_ERR_GOTO(usva_iommu_caps(iommu, (void *)raw), EINVAL);
	((struct usva_iommu_caps *)raw)->size = 4;
	TEST_ASSERT_ERR_GOTO(usva_iommu_caps(iommu, (void *)raw), EINVAL);
	memset(raw, 0xa5, sizeof(raw));
	((struct usva_iommu_caps *)raw)->size = (uint32_t)part;
	TEST_ASSERT_OK_GOTO(usva_iommu_caps(iommu, (void *)raw));
	TEST_ASSERT_GOTO(memcmp(raw + 4, (uint8_t *)&caps + 4, part - 4) == 0,
			 out, "partial caps differ from full ones");
	for (size_t i = part; i < sizeof(raw); i++)
		TEST_ASSERT_GOTO(raw[i] == 0xa5, out, "byte %zu past size %zu "
				 "written", i, part);
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	TEST_ASSERT_OK_GOTO(usva_iommu_caps(iommu, &big.c));
	TEST_ASSERT_GOTO(memcmp((uint8_t *)&big.c + 4, (uint8_t *)&caps + 4,
				sizeof(caps) - 4) == 0, out, "large caps differ");
	ret = TEST_SUCCESS;
out:
	usva_iommu_close(iommu);
	return ret;
}

USVA_TEST(fast, iommu_caps)
{
	struct usva_iommu *iommu;
	struct usva_iommu_caps caps = { .size = sizeof(caps) };

	TEST_ASSERT(caps_check_one(P_VTD, USVA_PGFMT_X86_FS,
				   USVA_PGFMT_ARM_LPAE_4K) == TEST_SUCCESS, "vtd");
	TEST_ASSERT(caps_check_one(P_SMMU, USVA_PGFMT_ARM_LPAE_4K,
				   USVA_PGFMT_X86_FS) == TEST_SUCCESS, "smmuv3");
	/* Parameters show through. */
	TEST_ASSERT_OK(iommu_new("flavour=vtd,aw=39,pasid_width=8", 0, &iommu));
	TEST_ASSERT_OK(usva_iommu_caps(iommu, &caps));
	usva_iommu_close(iommu);
	TEST_ASSERT_EQ(caps.iova_bits, 39, "aw");
	TEST_ASSERT_EQ(caps.pasid_width, 8, "pasid_width");
	return TEST_SUCCESS;
}

/* ---- IOVA apertures ---------------------------------------------------- */

static int
ranges_check_one(const char *params, bool msi)
{
	struct usva_iommu *iommu;
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	struct usva_iova_range r[16];
	uint32_t nr = RTE_DIM(r), need;
	uint64_t top;
	bool below = false, above = false;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(iommu_new(params, 0, &iommu));
	TEST_ASSERT_OK_GOTO(usva_iommu_caps(iommu, &caps));
	top = caps.iova_bits >= 64 ? UINT64_MAX :
	      (UINT64_C(1) << caps.iova_bits) - 1;
	TEST_ASSERT_OK_GOTO(usva_iommu_iova_ranges(iommu, r, &nr));
	TEST_ASSERT_GOTO(nr >= 1 && nr <= RTE_DIM(r), out, "%u ranges", nr);
	for (uint32_t i = 0; i < nr; i++) {
		TEST_ASSERT_GOTO(r[i].start <= r[i].last && r[i].last <= top, out,
				 "range %u: 0x%" PRIx64 "-0x%" PRIx64, i,
				 r[i].start, r[i].last);
		TEST_ASSERT_GOTO(i == 0 || r[i].start > r[i - 1].last + 1, out,
				 "range %u not sorted, or touches %u", i, i - 1);
		if (msi) {
			TEST_ASSERT_GOTO(r[i].last < MSI_START ||
					 r[i].start > MSI_LAST, out,
					 "range %u overlaps the MSI window", i);
			below |= r[i].last == MSI_START - 1;
			above |= r[i].start == MSI_LAST + 1;
		}
	}
	if (msi)
		TEST_ASSERT_GOTO(below && above, out, "the MSI window should split "
				 "an aperture exactly (below %d above %d)",
				 below, above);
	TEST_ASSERT_GOTO(r[nr - 1].last == top, out, "last aperture ends at "
			 "0x%" PRIx64 ", not 2^%u-1", r[nr - 1].last,
			 caps.iova_bits);

	/* Too little room: -EMSGSIZE and the count. */
	need = nr;
	nr = need - 1;
	if (need > 1) {
		TEST_ASSERT_ERR_GOTO(usva_iommu_iova_ranges(iommu, r, &nr),
				     EMSGSIZE);
		TEST_ASSERT_GOTO(nr == need, out, "told %u, there are %u", nr,
				 need);
	}
	nr = 0;
	TEST_ASSERT_ERR_GOTO(usva_iommu_iova_ranges(iommu, NULL, &nr), EMSGSIZE);
	TEST_ASSERT_GOTO(nr == need, out, "told %u, there are %u", nr, need);
	nr = need;
	TEST_ASSERT_OK_GOTO(usva_iommu_iova_ranges(iommu, r, &nr));
	TEST_ASSERT_GOTO(nr == need, out, "exact room: %u", nr);
	ret = TEST_SUCCESS;
out:
	usva_iommu_close(iommu);
	return ret;
}

USVA_TEST(fast, iommu_iova_ranges)
{
	TEST_ASSERT(ranges_check_one(P_VTD, true) == TEST_SUCCESS, "vtd");
	TEST_ASSERT(ranges_check_one("flavour=vtd,aw=39", true) == TEST_SUCCESS,
		    "vtd aw=39");
	TEST_ASSERT(ranges_check_one(P_SMMU, false) == TEST_SUCCESS, "smmuv3");
	return TEST_SUCCESS;
}

/* ---- stage 2 ----------------------------------------------------------- */

USVA_TEST(fast, iommu_s2_map_errors)
{
	struct usva_iommu *iommu;
	uint8_t *buf = pages_alloc(4, 0);
	uint64_t iova = (uint64_t)(uintptr_t)buf, got;
	int64_t live;
	int ret = TEST_FAILED;

	TEST_ASSERT(buf != NULL, "no memory");
	TEST_ASSERT_OK_GOTO(iommu_new(P_VTD, 0, &iommu));
	live = usva_alloc_outstanding();
	/* alignment, emptiness, prot */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova + 1, buf, SZ_4K, S2_RW),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf + 8, SZ_4K, S2_RW),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf, SZ_4K + 1, S2_RW),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf, 0, S2_RW), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf, SZ_4K, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf, SZ_4K,
					       S2_RW | (1u << 5)), EINVAL);
	/* the MSI window, inside and straddling either edge */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, MSI_START, buf, SZ_4K,
					       S2_RW), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, MSI_LAST + 1 - SZ_4K, buf,
					       SZ_4K, S2_RW), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, MSI_START - SZ_4K, buf,
					       2 * SZ_4K, S2_RW), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, MSI_LAST + 1 - SZ_4K, buf,
					       2 * SZ_4K, S2_RW), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, MSI_START - SZ_4K, buf,
					       4 * SZ_4K, S2_RW), EINVAL);
	/* outside every aperture (aw=48) */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, UINT64_C(1) << 48, buf,
					       SZ_4K, S2_RW), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, (UINT64_C(1) << 48) - SZ_4K,
					       buf, 2 * SZ_4K, S2_RW), EINVAL);
	/* wrapping IOVA or VA */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, UINT64_MAX - 0xfff, buf,
					       2 * SZ_4K, S2_RW), EOVERFLOW);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova,
					       (void *)(uintptr_t)(UINT64_MAX - 0xfff),
					       2 * SZ_4K, S2_RW), EOVERFLOW);
	TEST_ASSERT_GOTO(usva_alloc_outstanding() == live, out, "failures leaked");
	/* None of that mapped anything. */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, 4 * SZ_4K, NULL),
			     ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, MSI_START - SZ_2M,
						 4 * SZ_2M, NULL), ENOENT);

	/* Right next to the window is fine, on both sides. */
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, MSI_START - SZ_4K, buf,
					      SZ_4K, S2_RW));
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, MSI_LAST + 1, buf + SZ_4K,
					      SZ_4K, USVA_S2_READ));
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_unmap(iommu, MSI_START - SZ_2M,
						4 * SZ_2M, &got));
	TEST_ASSERT_GOTO(got == 2 * SZ_4K, out, "unmapped 0x%" PRIx64, got);

	/* Overlaps: -EEXIST, and the failed call mapped nothing. */
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, iova + SZ_4K, buf + SZ_4K,
					      2 * SZ_4K, S2_RW));
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova + SZ_4K, buf + SZ_4K,
					       2 * SZ_4K, S2_RW), EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf, 2 * SZ_4K, S2_RW),
			     EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova + 2 * SZ_4K,
					       buf + 2 * SZ_4K, 2 * SZ_4K, S2_RW),
			     EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova, buf, 4 * SZ_4K, S2_RW),
			     EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, SZ_4K, NULL), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova + 3 * SZ_4K, SZ_4K,
						 NULL), ENOENT);
	/* The same memory at another IOVA is not an overlap. */
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, SZ_1G, buf + SZ_4K, SZ_4K,
					      USVA_S2_READ));
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_unmap(iommu, 0, 2 * SZ_1G, &got));
	TEST_ASSERT_GOTO(got == SZ_4K, out, "unmapped 0x%" PRIx64, got);
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_unmap(iommu, iova, 4 * SZ_4K, &got));
	TEST_ASSERT_GOTO(got == 2 * SZ_4K, out, "unmapped 0x%" PRIx64, got);
	TEST_ASSERT_GOTO(usva_alloc_outstanding() == live, out, "mappings leaked");
	ret = TEST_SUCCESS;
out:
	usva_iommu_close(iommu);
	free(buf);
	return ret;
}

USVA_TEST(fast, iommu_s2_unmap_errors)
{
	struct usva_iommu *iommu;
	uint8_t *buf = pages_alloc(8, 0);
	uint64_t iova = (uint64_t)(uintptr_t)buf, got = 12345;
	int ret = TEST_FAILED;

	TEST_ASSERT(buf != NULL, "no memory");
	TEST_ASSERT_OK_GOTO(iommu_new(P_VTD, 0, &iommu));
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, 8 * SZ_4K, &got),
			     ENOENT);
	/* two mappings: [1, 4) and [5, 7) pages */
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, iova + SZ_4K, buf + SZ_4K,
					      3 * SZ_4K, S2_RW));
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, iova + 5 * SZ_4K,
					      buf + 5 * SZ_4K, 2 * SZ_4K, S2_RW));
	/* unaligned, empty */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova + 1, SZ_4K, NULL),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, SZ_4K + 5, NULL),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, 0, NULL), EINVAL);
	/* straddling: inside one mapping, across its start, across its end,
	 * a range that holds one whole mapping and part of another */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova + 2 * SZ_4K, SZ_4K,
						 NULL), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, 2 * SZ_4K, NULL),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova + 3 * SZ_4K,
						 2 * SZ_4K, NULL), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, 6 * SZ_4K, NULL),
			     EINVAL);
	/* ...and none of them removed anything */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova + SZ_4K, buf + SZ_4K,
					       SZ_4K, S2_RW), EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, iova + 6 * SZ_4K,
					       buf + 6 * SZ_4K, SZ_4K, S2_RW),
			     EEXIST);
	/* a hole only */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova + 4 * SZ_4K, SZ_4K,
						 NULL), ENOENT);
	/* both whole, with holes around */
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_unmap(iommu, iova, 8 * SZ_4K, &got));
	TEST_ASSERT_GOTO(got == 5 * SZ_4K, out, "unmapped 0x%" PRIx64, got);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, iova, 8 * SZ_4K, NULL),
			     ENOENT);
	ret = TEST_SUCCESS;
out:
	usva_iommu_close(iommu);
	free(buf);
	return ret;
}

/* ---- devices ----------------------------------------------------------- */

struct dev_ctx {
	struct usva_iommu *iommu;
};

static int
call_dev_open(void *ctx, const void *cfg)
{
	struct dev_ctx *c = ctx;
	struct usva_iommu_dev *dev = NULL;
	int rc = usva_iommu_dev_open(c->iommu, cfg, &dev);

	if (rc == 0) {
		if (dev == NULL)
			return -EFAULT;
		usva_iommu_dev_close(dev);
	} else if (dev != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, iommu_config_dev)
{
	static const struct {
		const char *what;
		uint32_t flags;
		uint32_t pasid_width;
		int reserved;
		int err;
	} rows[] = {
		{ "plain", 0, 0, -1, 0 },
		{ "PRI", USVA_DEV_F_PRI, 20, -1, 0 },
		{ "PRI+ATS+EXEC+PRIV", USVA_DEV_F_PRI | USVA_DEV_F_ATS |
		  USVA_DEV_F_PASID_EXEC | USVA_DEV_F_PASID_PRIV, 20, -1, 0 },
		{ "unknown flag 4", 1u << 4, 20, -1, EOPNOTSUPP },
		{ "unknown flag 31", 1u << 31, 20, -1, EOPNOTSUPP },
		{ "reserved[0]", 0, 20, 0, EINVAL },
		{ "reserved[1]", 0, 20, 1, EINVAL },
		{ "PASID width beyond PCIe", 0, 32, -1, EINVAL },
	};
	struct dev_ctx ctx;
	struct usva_dev_config c;
	struct usva_iommu_dev *dev = NULL, *dev2 = NULL;
	struct usva_dev_info info;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(iommu_new(P_VTD, 0, &ctx.iommu));
	for (unsigned int r = 0; r < RTE_DIM(rows); r++) {
		int64_t live = usva_alloc_outstanding();
		int rc;

		memset(&c, 0, sizeof(c));
		c.size = sizeof(c);
		c.flags = rows[r].flags;
		c.name = "dev";
		c.pasid_width = rows[r].pasid_width;
		if (rows[r].reserved >= 0)
			c.reserved[rows[r].reserved] = 1;
		rc = call_dev_open(&ctx, &c);
		TEST_ASSERT_GOTO(rc == -rows[r].err, out, "%s: returned %d, "
				 "expected %d", rows[r].what, rc, -rows[r].err);
		TEST_ASSERT_GOTO(usva_alloc_outstanding() == live, out,
				 "%s: leaked", rows[r].what);
	}
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = USVA_DEV_F_PRI;
	c.name = "dev";
	c.pasid_width = 20;
	TEST_ASSERT_GOTO(size_rows("usva_dev_config", &c, sizeof(c),
				   USVA_OFFSETOFEND(struct usva_dev_config, name),
				   call_dev_open, &ctx) == TEST_SUCCESS, out,
			 "size rows");
	TEST_ASSERT_ERR_GOTO(usva_iommu_dev_open(ctx.iommu, &c, NULL), EINVAL);

	/* What a device reports, and defaults of the optional fields. */
	c.flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS;
	c.pasid_width = 12;
	c.pri_capacity = 0;
	c.name = "first device";
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(ctx.iommu, &c, &dev));
	c.size = USVA_OFFSETOFEND(struct usva_dev_config, name);
	c.flags = 0;
	c.name = "second";
	c.pasid_width = 9;	/* not passed: reads as 0 */
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_open(ctx.iommu, &c, &dev2));
	memset(&info, 0xa5, sizeof(info));
	info.size = sizeof(info);
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(dev, &info));
	TEST_ASSERT_GOTO(info.flags == (USVA_DEV_F_PRI | USVA_DEV_F_ATS), out,
			 "flags 0x%x", info.flags);
	TEST_ASSERT_GOTO(info.pasid_width == 12, out, "width %u", info.pasid_width);
	TEST_ASSERT_GOTO(info.pri_capacity == 32, out, "pri_capacity %u, "
			 "default is 32", info.pri_capacity);
	TEST_ASSERT_GOTO(info.attached == 0, out, "attached %u", info.attached);
	TEST_ASSERT_GOTO(strcmp(info.name, "first device") == 0, out, "name %.64s",
			 info.name);
	{
		uint32_t id1 = info.id;

		info.size = sizeof(info);
		TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(dev2, &info));
		TEST_ASSERT_GOTO(info.id != id1, out, "two devices, id %u", id1);
		TEST_ASSERT_GOTO(info.pasid_width == 0 && info.flags == 0, out,
				 "short config: width %u flags 0x%x",
				 info.pasid_width, info.flags);
	}
	/* dev_info sizes */
	{
		uint8_t raw[sizeof(info) + TAIL];
		size_t part = USVA_OFFSETOFEND(struct usva_dev_info, pasid_width);
		struct usva_dev_info full = { .size = sizeof(full) };

		TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(dev, &full));
		memset(raw, 0xa5, sizeof(raw));
		((struct usva_dev_info *)raw)->size = 0;
		TEST_ASSERT_ERR_GOTO(usva_iommu_dev_info(dev, (void *)raw), EINVAL);
		((struct usva_dev_info *)raw)->size = 3;
		TEST_ASSERT_ERR_GOTO(usva_iommu_dev_info(dev, (void *)raw), EINVAL);
		memset(raw, 0xa5, sizeof(raw));
		((struct usva_dev_info *)raw)->size = (uint32_t)part;
		TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(dev, (void *)raw));
		TEST_ASSERT_GOTO(memcmp(raw + 4, (uint8_t *)&full + 4, part - 4) == 0,
				 out, "partial info differs");
		for (size_t i = part; i < sizeof(raw); i++)
			TEST_ASSERT_GOTO(raw[i] == 0xa5, out, "info byte %zu past "
					 "size %zu written", i, part);
		memset(raw, 0, sizeof(raw));
		((struct usva_dev_info *)raw)->size = sizeof(raw);
		TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(dev, (void *)raw));
		TEST_ASSERT_GOTO(memcmp(raw + 4, (uint8_t *)&full + 4,
					sizeof(full) - 4) == 0, out,
				 "larger info differs");
	}
	usva_iommu_dev_close(NULL);
	ret = TEST_SUCCESS;
out:
	usva_iommu_dev_close(dev2);
	usva_iommu_dev_close(dev);
	TEST_ASSERT_OK(usva_iommu_close(ctx.iommu));
	return ret;
}

/* ---- domains ----------------------------------------------------------- */

struct dom_ctx {
	struct usva_iommu *iommu;
};

static int
call_dom_create(void *ctx, const void *cfg)
{
	struct dom_ctx *c = ctx;
	struct usva_domain *dom = NULL;
	int rc = usva_domain_create(c->iommu, cfg, &dom);

	if (rc == 0) {
		if (dom == NULL)
			return -EFAULT;
		if (usva_domain_destroy(dom) != 0)
			return -ENOTRECOVERABLE;
	} else if (dom != NULL) {
		return -ENOTRECOVERABLE;
	}
	return rc;
}

USVA_TEST(fast, iommu_config_domain)
{
	struct dom_ctx ctx = { NULL };
	struct usva_as *as = NULL, *as_arm = NULL, *as57 = NULL;
	struct usva_domain_config c;
	struct usva_domain *d1 = NULL, *d2 = NULL;
	struct usva_iommu *other = NULL;
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	uint8_t *tables = pages_alloc(1, 0);
	uint64_t root = (uint64_t)(uintptr_t)tables, in_use;
	int ret = TEST_FAILED;

	TEST_ASSERT(tables != NULL, "no memory");
	TEST_ASSERT_OK_GOTO(iommu_new(P_VTD, 0, &ctx.iommu));
	TEST_ASSERT_OK_GOTO(usva_iommu_caps(ctx.iommu, &caps));
	TEST_ASSERT_OK_GOTO(as_new(USVA_PGFMT_X86_FS, 48, &as));
	TEST_ASSERT_OK_GOTO(as_new(USVA_PGFMT_ARM_LPAE_4K, 48, &as_arm));
	TEST_ASSERT_OK_GOTO(as_new(USVA_PGFMT_X86_FS, 57, &as57));
	in_use = pool_in_use();

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.as = as;
	TEST_ASSERT_GOTO(size_rows("usva_domain_config", &c, sizeof(c),
				   USVA_OFFSETOFEND(struct usva_domain_config, as),
				   call_dom_create, &ctx) == TEST_SUCCESS, out,
			 "size rows");
#define DOM_ROW(what, err, ...) do {					\
		int64_t live__ = usva_alloc_outstanding();		\
		memset(&c, 0, sizeof(c));				\
		c.size = sizeof(c);					\
		__VA_ARGS__;						\
		int rc__ = call_dom_create(&ctx, &c);			\
		TEST_ASSERT_GOTO(rc__ == -(err), out, "%s: returned %d, "	\
				 "expected %d", what, rc__, -(err));	\
		TEST_ASSERT_GOTO(usva_alloc_outstanding() == live__, out, \
				 "%s: leaked", what);			\
	} while (0)
	DOM_ROW("from an AS", 0, c.as = as);
	DOM_ROW("unknown flag", EOPNOTSUPP, c.as = as; c.flags = 1);
	DOM_ROW("reserved[0]", EINVAL, c.as = as; c.reserved[0] = 1);
	DOM_ROW("reserved[1]", EINVAL, c.as = as; c.reserved[1] = 1);
	DOM_ROW("neither AS nor raw", EINVAL, (void)0);
	DOM_ROW("AS and raw root", EINVAL, c.as = as; c.s1_root = root;
		c.format = USVA_PGFMT_X86_FS; c.va_bits = 48);
	DOM_ROW("AS and raw format", EINVAL, c.as = as;
		c.format = USVA_PGFMT_X86_FS);
	DOM_ROW("AS of the other flavour's format", EOPNOTSUPP, c.as = as_arm);
	DOM_ROW("raw", 0, c.s1_root = root; c.format = USVA_PGFMT_X86_FS;
		c.va_bits = 48);
	DOM_ROW("raw, unaligned root", EINVAL, c.s1_root = root + 8;
		c.format = USVA_PGFMT_X86_FS; c.va_bits = 48);
	DOM_ROW("raw, other flavour's format", EOPNOTSUPP, c.s1_root = root;
		c.format = USVA_PGFMT_ARM_LPAE_4K; c.va_bits = 48);
	DOM_ROW("raw, width the format lacks", EOPNOTSUPP, c.s1_root = root;
		c.format = USVA_PGFMT_X86_FS; c.va_bits = 39);
	DOM_ROW("raw, unknown format", EOPNOTSUPP, c.s1_root = root;
		c.format = 77; c.va_bits = 48);
	if (caps.s1_va_bits_max >= 57)
		DOM_ROW("5-level AS", 0, c.as = as57);
	else
		DOM_ROW("5-level AS beyond caps", EOPNOTSUPP, c.as = as57);
#undef DOM_ROW
	TEST_ASSERT_GOTO(pool_in_use() == in_use, out, "table pages leaked");
	TEST_ASSERT_ERR_GOTO(usva_domain_create(ctx.iommu, &c, NULL), EINVAL);

	/* Ids are distinct; the AS is remembered; raw domains have none. */
	TEST_ASSERT_OK_GOTO(dom_new(ctx.iommu, as, &d1));
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.s1_root = root;
	c.format = USVA_PGFMT_X86_FS;
	c.va_bits = 48;
	TEST_ASSERT_OK_GOTO(usva_domain_create(ctx.iommu, &c, &d2));
	TEST_ASSERT_GOTO(usva_domain_id(d1) != usva_domain_id(d2), out,
			 "two domains, id %u", usva_domain_id(d1));
	TEST_ASSERT_GOTO(usva_domain_as(d1) == as && usva_domain_as(d2) == NULL,
			 out, "domain AS");
	/* While domains exist the instance cannot close. */
	TEST_ASSERT_ERR_GOTO(usva_iommu_close(ctx.iommu), EBUSY);
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(d2));
	d2 = NULL;
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(d1));
	d1 = NULL;
	TEST_ASSERT_EQ(usva_domain_destroy(NULL), 0, "destroy(NULL)");

	/* The smmuv3 flavour takes the ARM format and refuses x86. */
	TEST_ASSERT_OK_GOTO(iommu_new(P_SMMU, 0, &other));
	TEST_ASSERT_OK_GOTO(dom_new(other, as_arm, &d1));
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(d1));
	d1 = NULL;
	TEST_ASSERT_ERR_GOTO(dom_new(other, as, &d1), EOPNOTSUPP);
	TEST_ASSERT_GOTO(d1 == NULL, out, "failed create handed out a domain");
	ret = TEST_SUCCESS;
out:
	usva_domain_destroy(d1);
	usva_domain_destroy(d2);
	usva_iommu_close(other);
	usva_iommu_close(ctx.iommu);
	usva_as_destroy(as);
	usva_as_destroy(as_arm);
	usva_as_destroy(as57);
	free(tables);
	return ret;
}

/* Two domains over ASes of one table pool: destroying one must leave the
 * pool mapped in stage 2 for the other. */
USVA_TEST(fast, iommu_domain_pool_map_shared)
{
	struct fx f;
	uint8_t b = 0;
	int ret = TEST_FAILED;

	FX_OPEN(&f, P_VTD, USVA_DEV_F_PRI);
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, f.pasid[1], f.dom[1]));
	TEST_ASSERT_OK_GOTO(fx_peek(&f, f.pasid[1], &b));
	TEST_ASSERT_GOTO(b == 0x22, out, "read 0x%x", b);
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(f.dom[0]));
	f.dom[0] = NULL;
	/* Fresh walk (new page, new table page) after the other domain went. */
	TEST_ASSERT_OK_GOTO(usva_as_map(f.as[1], VA0 + SZ_1G,
					(uint64_t)(uintptr_t)f.buf[1], SZ_4K,
					RWU, 0));
	{
		struct usva_emu_xlate x;
		int rc = usva_emu_translate(f.dev, f.pasid[1], VA0 + SZ_1G,
					    USVA_ACCESS_READ, &x);

		TEST_ASSERT_GOTO(rc == 0 && x.host == f.buf[1], out,
				 "walk after the other domain was destroyed: %d "
				 "(reason %u)", rc, x.reason);
	}
	ret = TEST_SUCCESS;
out:
	fx_close(&f);
	return ret;
}

/* ---- attach, replace, detach ------------------------------------------- */

USVA_TEST(fast, iommu_attach_errors)
{
	struct fx f, g;
	struct usva_iommu_dev *nopasid = NULL, *narrow = NULL;
	struct usva_dev_info info = { .size = sizeof(info) };
	uint32_t unalloc, small, p16 = 16;
	uint32_t width;
	int ret = TEST_FAILED;

	FX_OPEN(&f, "flavour=vtd,aw=48,pasid_width=10", USVA_DEV_F_PRI);
	if (fx_open(&g, P_VTD, USVA_DEV_F_PRI) != TEST_SUCCESS) {
		fx_close(&f);
		TEST_ASSERT(0, "second fixture");
	}
	width = usva_pasid_space_width(usva_iommu_pasids(f.iommu));
	TEST_ASSERT_GOTO(width == 10, out, "space width %u", width);
	TEST_ASSERT_OK_GOTO(dev_new(f.iommu, USVA_DEV_F_PRI, 0, "no-pasid",
				    &nopasid));
	TEST_ASSERT_OK_GOTO(dev_new(f.iommu, USVA_DEV_F_PRI, 4, "narrow", &narrow));
	/* a PASID number that is free in the space, and one below 16 */
	for (unalloc = 1; unalloc < (1u << width); unalloc++)
		if (usva_pasid_generation(usva_iommu_pasids(f.iommu), unalloc) == 0 &&
		    unalloc != p16)
			break;
	for (small = 1; small < 16; small++)
		if (small != f.pasid[0] && small != f.pasid[1] &&
		    small != unalloc && usva_pasid_alloc_at(f.owner, small) == 0)
			break;
	TEST_ASSERT_GOTO(small < 16, out, "no PASID below 16");
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(f.owner, p16));

	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, 0, f.dom[0]), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, unalloc, f.dom[0]), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, 1u << width, f.dom[0]),
			     ERANGE);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, 1u << 20, f.dom[0]),
			     ERANGE);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, UINT32_MAX, f.dom[0]),
			     ERANGE);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(nopasid, f.pasid[0], f.dom[0]),
			     EOPNOTSUPP);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(narrow, p16, f.dom[0]), ERANGE);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, f.pasid[0], g.dom[0]),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(g.dev, g.pasid[0], f.dom[0]),
			     EINVAL);
	/* None of it attached anything or took a PASID reference. */
	TEST_ASSERT_GOTO(pasids_attached(f.iommu) == 0, out, "%u attached",
			 pasids_attached(f.iommu));
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(f.dev, &info));
	TEST_ASSERT_GOTO(info.attached == 0, out, "dev attached %u", info.attached);
	TEST_ASSERT_ERR_GOTO(usva_iommu_detach(f.dev, f.pasid[0]), ENOENT);

	/* Attach; a second attach there is -EBUSY, whichever domain. */
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, f.pasid[0], f.dom[0]));
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, f.pasid[0], f.dom[0]), EBUSY);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, f.pasid[0], f.dom[1]), EBUSY);
	/* One domain may serve several PASIDs and devices. */
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, f.pasid[1], f.dom[0]));
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(narrow, small, f.dom[0]));
	info.size = sizeof(info);
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(f.dev, &info));
	TEST_ASSERT_GOTO(info.attached == 2, out, "dev attached %u", info.attached);
	TEST_ASSERT_GOTO(pasids_attached(f.iommu) == 3, out, "%u PASIDs attached",
			 pasids_attached(f.iommu));

	/* Busy things. */
	TEST_ASSERT_ERR_GOTO(usva_domain_destroy(f.dom[0]), EBUSY);
	TEST_ASSERT_ERR_GOTO(usva_pasid_free(f.owner, f.pasid[0]), EBUSY);
	TEST_ASSERT_ERR_GOTO(usva_pasid_owner_destroy(f.owner), EBUSY);
	TEST_ASSERT_ERR_GOTO(usva_iommu_close(f.iommu), EBUSY);
	{
		uint8_t b = 0;

		TEST_ASSERT_OK_GOTO(fx_peek(&f, f.pasid[0], &b));
		TEST_ASSERT_GOTO(b == 0x11, out, "after the refused calls: 0x%x", b);
	}

	/* replace: errors as attach, and -ENOENT where nothing is attached */
	TEST_ASSERT_ERR_GOTO(usva_iommu_replace(f.dev, 0, f.dom[1]), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_replace(f.dev, 1u << width, f.dom[1]),
			     ERANGE);
	TEST_ASSERT_ERR_GOTO(usva_iommu_replace(f.dev, p16, f.dom[1]), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_iommu_replace(f.dev, f.pasid[0], g.dom[1]),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_iommu_replace(nopasid, f.pasid[0], f.dom[1]),
			     EOPNOTSUPP);

	/* detach */
	TEST_ASSERT_ERR_GOTO(usva_iommu_detach(f.dev, p16), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_iommu_detach(f.dev, 1u << 20), ERANGE);
	TEST_ASSERT_ERR_GOTO(usva_iommu_detach(narrow, p16), ERANGE);
	TEST_ASSERT_OK_GOTO(usva_iommu_detach(f.dev, f.pasid[1]));
	TEST_ASSERT_ERR_GOTO(usva_iommu_detach(f.dev, f.pasid[1]), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_pasid_free(f.owner, f.pasid[1]));
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(f.dev, f.pasid[1], f.dom[1]), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(f.owner, f.pasid[1]));

	/* Closing a device detaches all it has. */
	usva_iommu_dev_close(narrow);
	narrow = NULL;
	TEST_ASSERT_GOTO(pasids_attached(f.iommu) == 1, out, "%u PASIDs attached "
			 "after closing a device", pasids_attached(f.iommu));
	usva_iommu_dev_close(f.dev);
	f.dev = NULL;
	TEST_ASSERT_GOTO(pasids_attached(f.iommu) == 0, out, "%u PASIDs attached "
			 "after closing all devices", pasids_attached(f.iommu));
	TEST_ASSERT_OK_GOTO(usva_pasid_free(f.owner, f.pasid[0]));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc_at(f.owner, f.pasid[0]));
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(f.dom[0]));
	f.dom[0] = NULL;
	/* Only a device without attachments left: still busy. */
	TEST_ASSERT_ERR_GOTO(usva_iommu_close(f.iommu), EBUSY);
	ret = TEST_SUCCESS;
out:
	usva_iommu_dev_close(nopasid);
	usva_iommu_dev_close(narrow);
	fx_close(&f);
	fx_close(&g);
	return ret;
}

/* replace switches the translation; references stay balanced. */
static int
replace_one(const char *params)
{
	struct fx f;
	struct usva_emu_xlate x;
	uint8_t b = 0;
	int ret = TEST_FAILED;

	FX_OPEN(&f, params, USVA_DEV_F_PRI | USVA_DEV_F_ATS);
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, f.pasid[0], f.dom[0]));
	/* warm every cache with the old domain */
	for (int i = 0; i < 3; i++)
		TEST_ASSERT_OK_GOTO(fx_peek(&f, f.pasid[0], &b));
	TEST_ASSERT_GOTO(b == 0x11, out, "old domain: 0x%x", b);
	TEST_ASSERT_OK_GOTO(usva_iommu_replace(f.dev, f.pasid[0], f.dom[1]));
	TEST_ASSERT_OK_GOTO(fx_peek(&f, f.pasid[0], &b));
	TEST_ASSERT_GOTO(b == 0x22, out, "after replace: 0x%x (old domain still "
			 "used)", b);
	TEST_ASSERT_GOTO(pasids_attached(f.iommu) == 1, out, "%u attached",
			 pasids_attached(f.iommu));
	/* The old domain is free now; the new one is busy. */
	TEST_ASSERT_ERR_GOTO(usva_domain_destroy(f.dom[1]), EBUSY);
	TEST_ASSERT_OK_GOTO(usva_iommu_replace(f.dev, f.pasid[0], f.dom[0]));
	TEST_ASSERT_OK_GOTO(fx_peek(&f, f.pasid[0], &b));
	TEST_ASSERT_GOTO(b == 0x11, out, "after replacing back: 0x%x", b);
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(f.dom[1]));
	f.dom[1] = NULL;
	/* Replace by the domain already there: harmless. */
	TEST_ASSERT_OK_GOTO(usva_iommu_replace(f.dev, f.pasid[0], f.dom[0]));
	TEST_ASSERT_OK_GOTO(fx_peek(&f, f.pasid[0], &b));
	TEST_ASSERT_GOTO(b == 0x11, out, "after replace by itself: 0x%x", b);
	TEST_ASSERT_OK_GOTO(usva_iommu_detach(f.dev, f.pasid[0]));
	TEST_ASSERT_ERR_GOTO(usva_emu_translate(f.dev, f.pasid[0], VA0,
						USVA_ACCESS_READ, &x), EIO);
	TEST_ASSERT_GOTO(x.reason == USVA_EMU_BAD_PASID, out, "reason %u", x.reason);
	TEST_ASSERT_GOTO(pasids_attached(f.iommu) == 0, out, "%u attached",
			 pasids_attached(f.iommu));
	ret = TEST_SUCCESS;
out:
	fx_close(&f);
	return ret;
}

USVA_TEST(fast, iommu_replace_switches)
{
	TEST_ASSERT(replace_one(P_VTD) == TEST_SUCCESS, "vtd");
	TEST_ASSERT(replace_one(P_SMMU) == TEST_SUCCESS, "smmuv3");
	return TEST_SUCCESS;
}

struct replace_worker {
	struct fx *f;
	volatile bool stop;
	uint64_t old_seen, new_seen, bad;
	int last_rc;
	uint32_t last_reason;
};

static int
replace_worker_fn(void *p)
{
	struct replace_worker *w = p;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct usva_emu_xlate x;
		int rc = usva_emu_translate(w->f->dev, w->f->pasid[0], VA0,
					    USVA_ACCESS_READ, &x);

		if (rc == 0 && x.host == w->f->buf[0]) {
			w->old_seen++;
		} else if (rc == 0 && x.host == w->f->buf[1]) {
			w->new_seen++;
		} else {
			w->bad++;
			w->last_rc = rc;
			w->last_reason = x.reason;
		}
	}
	return 0;
}

/* A DMA racing replace sees the old domain or the new, never none. */
USVA_TEST(fast, iommu_replace_atomic)
{
	struct fx f;
	struct replace_worker w;
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	int ret = TEST_FAILED;

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	FX_OPEN(&f, P_VTD, USVA_DEV_F_PRI);
	memset(&w, 0, sizeof(w));
	w.f = &f;
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, f.pasid[0], f.dom[0]));
	rte_eal_remote_launch(replace_worker_fn, &w, worker);
	for (unsigned int i = 0; i < 20000; i++) {
		int rc = usva_iommu_replace(f.dev, f.pasid[0], f.dom[(i + 1) & 1]);

		if (rc != 0) {
			__atomic_store_n(&w.stop, true, __ATOMIC_RELEASE);
			rte_eal_wait_lcore(worker);
			TEST_ASSERT_GOTO(0, out, "replace %u: %d", i, rc);
		}
	}
	__atomic_store_n(&w.stop, true, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(worker);
	printf("    %" PRIu64 " translations saw the old domain, %" PRIu64
	       " the new\n", w.old_seen, w.new_seen);
	TEST_ASSERT_GOTO(w.bad == 0, out, "%" PRIu64 " translations saw no domain "
			 "(last %d, reason %u)", w.bad, w.last_rc, w.last_reason);
	TEST_ASSERT_GOTO(w.old_seen + w.new_seen > 0, out, "worker did nothing");
	ret = TEST_SUCCESS;
out:
	fx_close(&f);
	return ret;
}

/* An external PASID space: used for attach checks, left alone at close. */
USVA_TEST(fast, iommu_external_pasid_space)
{
	struct usva_pasid_space_config sc = { .size = sizeof(sc), .width = 8 };
	struct usva_pasid_space *sp = NULL;
	struct usva_pasid_owner *own = NULL;
	struct usva_iommu_config c = {
		.size = sizeof(c), .backend = "emu", .params = P_VTD,
	};
	struct usva_iommu *iommu = NULL;
	struct usva_iommu_dev *dev = NULL;
	struct usva_as *as = NULL;
	struct usva_domain *dom = NULL;
	uint32_t pasid;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(usva_pasid_space_create(&sc, &sp));
	TEST_ASSERT_OK_GOTO(usva_pasid_owner_create(sp, 0, &own));
	c.pasids = sp;
	TEST_ASSERT_OK_GOTO(usva_iommu_open(&c, &iommu));
	TEST_ASSERT_GOTO(usva_iommu_pasids(iommu) == sp, out, "not our space");
	TEST_ASSERT_OK_GOTO(dev_new(iommu, USVA_DEV_F_PRI, 20, "d", &dev));
	TEST_ASSERT_OK_GOTO(as_new(USVA_PGFMT_X86_FS, 48, &as));
	TEST_ASSERT_OK_GOTO(dom_new(iommu, as, &dom));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(own, &pasid));
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(dev, pasid + 1 < 256 ? pasid + 1 : 1,
					       dom), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(dev, pasid, dom));
	TEST_ASSERT_ERR_GOTO(usva_pasid_space_destroy(sp), EBUSY);
	TEST_ASSERT_ERR_GOTO(usva_iommu_attach(dev, 300, dom), ERANGE);
	usva_iommu_dev_close(dev);
	dev = NULL;
	TEST_ASSERT_OK_GOTO(usva_domain_destroy(dom));
	dom = NULL;
	TEST_ASSERT_OK_GOTO(usva_iommu_close(iommu));
	iommu = NULL;
	/* The space outlived the instance and still works. */
	TEST_ASSERT_OK_GOTO(usva_pasid_free(own, pasid));
	ret = TEST_SUCCESS;
out:
	usva_iommu_dev_close(dev);
	usva_domain_destroy(dom);
	usva_iommu_close(iommu);
	usva_as_destroy(as);
	usva_pasid_owner_destroy(own);
	usva_pasid_space_destroy(sp);
	return ret;
}

/* ---- invalidation entries refused before anything runs ---------------- */

USVA_TEST(fast, iommu_inval_refused)
{
	struct fx f, g;
	struct usva_iommu_stats st0, st1;
	struct usva_emu_xlate x;
	struct usva_inval_entry e[3], good;
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	struct usva_inval_batch *held = NULL;
	int32_t status[3];
	uint32_t idle;
	int ret = TEST_FAILED;

	FX_OPEN(&f, P_VTD, USVA_DEV_F_PRI);
	if (fx_open(&g, P_VTD, USVA_DEV_F_PRI) != TEST_SUCCESS) {
		fx_close(&f);
		TEST_ASSERT(0, "second fixture");
	}
	TEST_ASSERT_OK_GOTO(usva_iommu_attach(f.dev, f.pasid[0], f.dom[0]));
	TEST_ASSERT_OK_GOTO(usva_pasid_alloc(f.owner, &idle));
	/* A stale translation: cached, then unmapped, its invalidation
	 * held in a batch submitted only at the end. */
	TEST_ASSERT_OK_GOTO(usva_inval_batch_create(f.iommu, &bc, &held));
	TEST_ASSERT_OK_GOTO(usva_emu_translate(f.dev, f.pasid[0], VA0,
					       USVA_ACCESS_READ, &x));
	TEST_ASSERT_OK_GOTO(usva_as_unmap_batch(f.as[0], VA0, SZ_4K, NULL, held));
	TEST_ASSERT_OK_GOTO(usva_emu_translate(f.dev, f.pasid[0], VA0,
					       USVA_ACCESS_READ, &x));
	TEST_ASSERT_GOTO(x.cached && x.host == f.buf[0], out, "not stale-cached");

	good = (struct usva_inval_entry){
		.granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
		.pasid = f.pasid[0], .dev = f.dev, .addr = VA0, .npages = 1,
	};
	usva_iommu_stats(f.iommu, &st0);
#define BAD_ENTRY(what, ...) do {					\
		e[0] = good;						\
		e[1] = good;						\
		e[2] = good;						\
		{ struct usva_inval_entry *b = &e[1]; __VA_ARGS__; }	\
		status[0] = status[1] = status[2] = 99;			\
		int rc__ = usva_iommu_invalidate(f.iommu, e, 3, status); \
		TEST_ASSERT_GOTO(rc__ == -EINVAL, out, "%s: returned %d", \
				 what, rc__);				\
		rc__ = usva_emu_translate(f.dev, f.pasid[0], VA0,	\
					  USVA_ACCESS_READ, &x);	\
		TEST_ASSERT_GOTO(rc__ == 0 && x.cached, out, "%s: the valid " \
				 "entry before it ran (rc %d)", what, rc__); \
	} while (0)
	BAD_ENTRY("ADDR, 0 pages", b->npages = 0);
	BAD_ENTRY("ADDR, unaligned", b->addr = VA0 + 8);
	BAD_ENTRY("ADDR, wraps", b->addr = UINT64_C(0xfffffffffffff000);
		  b->npages = 2);
	BAD_ENTRY("granule 0", b->granule = 0);
	BAD_ENTRY("granule 4", b->granule = 4);
	BAD_ENTRY("no caches", b->caches = 0);
	BAD_ENTRY("unknown cache bit", b->caches |= 1u << 3);
	BAD_ENTRY("unknown flag", b->flags = 1u << 4);
	BAD_ENTRY("DOMAIN with DEVTLB", b->granule = USVA_INVAL_DOMAIN;
		  b->dom = f.dom[0]; b->caches = USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB);
	BAD_ENTRY("DOMAIN with PASID cache", b->granule = USVA_INVAL_DOMAIN;
		  b->dom = f.dom[0]; b->caches = USVA_INVAL_PASID_CACHE);
	BAD_ENTRY("DOMAIN without a domain", b->granule = USVA_INVAL_DOMAIN;
		  b->dom = NULL);
	BAD_ENTRY("DOMAIN of another instance", b->granule = USVA_INVAL_DOMAIN;
		  b->dom = g.dom[0]);
	BAD_ENTRY("ADDR with PASID cache", b->caches = USVA_INVAL_PASID_CACHE);
	BAD_ENTRY("ADDR, PASID not attached", b->pasid = idle);
	BAD_ENTRY("ADDR, PASID beyond width", b->pasid = 1u << 20);
	BAD_ENTRY("ADDR, PASID 0", b->pasid = 0);
	BAD_ENTRY("ADDR, no device", b->dev = NULL);
	BAD_ENTRY("ADDR, device of another instance", b->dev = g.dev);
	BAD_ENTRY("PASID, not attached", b->granule = USVA_INVAL_PASID;
		  b->pasid = idle);
	BAD_ENTRY("PASID, no device", b->granule = USVA_INVAL_PASID;
		  b->dev = NULL);
#undef BAD_ENTRY
	TEST_ASSERT_ERR_GOTO(usva_iommu_invalidate(f.iommu, NULL, 1, NULL), EINVAL);
	TEST_ASSERT_GOTO(usva_iommu_invalidate(f.iommu, e, 0, NULL) == 0, out,
			 "n = 0");
	usva_iommu_stats(f.iommu, &st1);
	TEST_ASSERT_GOTO(st1.inval_entries == st0.inval_entries, out,
			 "%" PRIu64 " entries executed by refused calls",
			 st1.inval_entries - st0.inval_entries);
	TEST_ASSERT_OK_GOTO(usva_emu_translate(f.dev, f.pasid[0], VA0,
					       USVA_ACCESS_READ, &x));
	TEST_ASSERT_GOTO(x.cached, out, "refused calls invalidated");

	/* Every valid form runs. */
	e[0] = good;
	e[1] = (struct usva_inval_entry){ .granule = USVA_INVAL_PASID,
		.caches = USVA_INVAL_IOTLB | USVA_INVAL_PASID_CACHE,
		.pasid = f.pasid[0], .dev = f.dev };
	e[2] = (struct usva_inval_entry){ .granule = USVA_INVAL_DOMAIN,
		.caches = USVA_INVAL_IOTLB, .flags = USVA_INVAL_F_LEAF,
		.dom = f.dom[0] };
	status[0] = status[1] = status[2] = 99;
	TEST_ASSERT_GOTO(usva_iommu_invalidate(f.iommu, e, 3, status) == 3, out,
			 "valid batch");
	TEST_ASSERT_GOTO(status[0] == USVA_INVAL_DONE && status[1] == USVA_INVAL_DONE &&
			 status[2] == USVA_INVAL_DONE, out, "status %d %d %d",
			 status[0], status[1], status[2]);
	usva_iommu_stats(f.iommu, &st1);
	TEST_ASSERT_GOTO(st1.inval_entries == st0.inval_entries + 3, out,
			 "inval_entries +%" PRIu64, st1.inval_entries - st0.inval_entries);
	TEST_ASSERT_GOTO(st1.inval_calls > st0.inval_calls, out, "inval_calls");
	TEST_ASSERT_ERR_GOTO(usva_emu_translate(f.dev, f.pasid[0], VA0,
						USVA_ACCESS_READ, &x), EFAULT);
	TEST_ASSERT_GOTO(x.reason == USVA_EMU_S1_NOT_PRESENT, out, "reason %u",
			 x.reason);
	ret = TEST_SUCCESS;
out:
	if (held != NULL) {
		usva_inval_batch_submit(held, NULL);
		usva_inval_batch_destroy(held);
	}
	fx_close(&f);
	fx_close(&g);
	return ret;
}

/* ---- events ------------------------------------------------------------- */

USVA_TEST(fast, iommu_event_fd)
{
	struct fx f;
	struct usva_iommu_event ev[4];
	struct usva_emu_xlate x;
	struct usva_dev_info info = { .size = sizeof(info) };
	struct pollfd pfd;
	int fd, ret = TEST_FAILED;

	FX_OPEN(&f, P_VTD, USVA_DEV_F_PRI);
	fd = usva_iommu_event_fd(f.iommu);
	TEST_ASSERT_GOTO(fd >= 0, out, "event fd %d", fd);
	TEST_ASSERT_GOTO(usva_iommu_event_fd(f.iommu) == fd, out, "a second fd");
	events_drain(f.iommu);
	TEST_ASSERT_GOTO(usva_iommu_events_read(f.iommu, ev, RTE_DIM(ev)) == 0,
			 out, "empty ring");
	TEST_ASSERT_OK_GOTO(usva_iommu_dev_info(f.dev, &info));
	/* A DMA with a PASID nothing is attached to. */
	TEST_ASSERT_ERR_GOTO(usva_emu_translate(f.dev, f.pasid[1], VA0 + 0x123,
						USVA_ACCESS_WRITE, &x), EIO);
	TEST_ASSERT_GOTO(x.reason == USVA_EMU_BAD_PASID, out, "reason %u", x.reason);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	TEST_ASSERT_GOTO(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN), out,
			 "event fd not readable");
	TEST_ASSERT_GOTO(usva_iommu_events_read(f.iommu, ev, RTE_DIM(ev)) == 1, out,
			 "one event");
	TEST_ASSERT_GOTO(ev[0].type == USVA_EVENT_BAD_PASID, out, "type %u",
			 ev[0].type);
	TEST_ASSERT_GOTO(ev[0].dev_id == info.id && ev[0].pasid == f.pasid[1], out,
			 "dev %u pasid %u", ev[0].dev_id, ev[0].pasid);
	TEST_ASSERT_GOTO(ev[0].access & USVA_ACCESS_WRITE, out, "access 0x%x",
			 ev[0].access);
	TEST_ASSERT_GOTO(ev[0].addr == VA0 + 0x123 || ev[0].addr == VA0, out,
			 "addr 0x%" PRIx64, ev[0].addr);
	TEST_ASSERT_GOTO(usva_iommu_events_read(f.iommu, ev, RTE_DIM(ev)) == 0,
			 out, "taken twice");
	ret = TEST_SUCCESS;
out:
	fx_close(&f);
	return ret;
}

/* ---- fail-nth: every control-path failure unwinds ------------------------ */

/*
 * One pass through the control path. Returns TEST_SUCCESS, 1 when a call
 * failed cleanly (checked and torn down), or TEST_FAILED.
 */
static int
failnth_scenario(uint8_t *buf)
{
	struct usva_iommu *iommu = NULL;
	struct usva_pasid_owner *own = NULL;
	struct usva_iommu_dev *dev = NULL;
	struct usva_as *as = NULL;
	struct usva_domain *d0 = NULL, *d1 = NULL;
	struct usva_dev_info info = { .size = sizeof(info) };
	struct usva_inval_entry e;
	uint64_t iova = (uint64_t)(uintptr_t)buf;
	uint32_t pasid = 0;
	bool s2 = false, attached = false;
	int rc, result = TEST_SUCCESS;

#define STEP(call) do {							\
		rc = (call);						\
		if (rc < 0) {						\
			if (!usva_failnth_fired()) {			\
				printf("    %s: %d without injection\n", #call, rc); \
				result = TEST_FAILED;			\
			} else {					\
				result = 1;				\
			}						\
			goto teardown;					\
		}							\
	} while (0)

	STEP(iommu_new("flavour=vtd,aw=48,pasid_width=8", 0, &iommu));
	STEP(usva_iommu_s2_map(iommu, iova, buf, SZ_4K, S2_RW));
	s2 = true;
	STEP(usva_pasid_owner_create(usva_iommu_pasids(iommu), 0, &own));
	STEP(usva_pasid_alloc(own, &pasid));
	STEP(dev_new(iommu, USVA_DEV_F_PRI | USVA_DEV_F_ATS, 20, "fn", &dev));
	STEP(as_new(USVA_PGFMT_X86_FS, 48, &as));
	STEP(usva_as_map(as, VA0, iova, SZ_4K, RWU, 0));
	rc = dom_new(iommu, as, &d0);
	if (rc < 0) {
		if (d0 != NULL) {
			printf("    failed domain create handed one out\n");
			result = TEST_FAILED;
			d0 = NULL;
		}
		STEP(rc);
	}
	STEP(dom_new(iommu, as, &d1));
	rc = usva_iommu_attach(dev, pasid, d0);
	if (rc < 0) {
		if (pasids_attached(iommu) != 0 ||
		    usva_iommu_dev_info(dev, &info) != 0 || info.attached != 0) {
			printf("    failed attach left an attachment\n");
			result = TEST_FAILED;
			goto teardown;
		}
		STEP(rc);
	}
	attached = true;
	rc = usva_iommu_replace(dev, pasid, d1);
	if (rc < 0) {
		struct usva_emu_xlate x;

		/* Failed replace: the old domain still translates. */
		if (usva_emu_translate(dev, pasid, VA0, USVA_ACCESS_READ, &x) != 0 ||
		    x.host != buf || usva_domain_destroy(d1) != 0) {
			printf("    failed replace changed the attachment\n");
			result = TEST_FAILED;
			goto teardown;
		}
		d1 = NULL;
		STEP(rc);
	}
	e = (struct usva_inval_entry){ .granule = USVA_INVAL_PASID,
		.caches = USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB, .pasid = pasid,
		.dev = dev };
	STEP(usva_iommu_invalidate(iommu, &e, 1, NULL));
	STEP(usva_iommu_detach(dev, pasid));
	attached = false;
teardown:
	if (attached && usva_iommu_detach(dev, pasid) != 0) {
		printf("    detach failed in teardown\n");
		result = TEST_FAILED;
	}
	usva_iommu_dev_close(dev);
	if (usva_domain_destroy(d0) != 0 || usva_domain_destroy(d1) != 0) {
		printf("    domain destroy failed in teardown\n");
		result = TEST_FAILED;
	}
	usva_as_destroy(as);
	if (s2 && usva_iommu_s2_unmap(iommu, iova, SZ_4K, NULL) != 0) {
		printf("    s2 unmap failed in teardown\n");
		result = TEST_FAILED;
	}
	if (!s2 && iommu != NULL &&
	    usva_iommu_s2_unmap(iommu, iova, SZ_4K, NULL) != -ENOENT) {
		printf("    failed s2 map left a mapping\n");
		result = TEST_FAILED;
	}
	usva_pasid_owner_destroy(own);
	if (usva_iommu_close(iommu) != 0) {
		printf("    close failed in teardown: a phantom object\n");
		result = TEST_FAILED;
	}
#undef STEP
	return result;
}

USVA_TEST(fast, iommu_failnth_sweep)
{
	uint8_t *buf = pages_alloc(1, 0x5a);
	uint64_t in_use = pool_in_use();
	int64_t live = usva_alloc_outstanding();
	unsigned int n, failed = 0;
	int rc, ret = TEST_FAILED;

	TEST_ASSERT(buf != NULL, "no memory");
	for (n = 1; n < 2000; n++) {
		bool fired;

		usva_failnth_set(n);
		rc = failnth_scenario(buf);
		fired = usva_failnth_fired();
		usva_failnth_set(0);
		TEST_ASSERT_GOTO(rc != TEST_FAILED, out, "fail-nth %u: scenario "
				 "broke", n);
		TEST_ASSERT_GOTO(pool_in_use() == in_use, out, "fail-nth %u: "
				 "table pages leaked", n);
		TEST_ASSERT_GOTO(usva_alloc_outstanding() == live, out,
				 "fail-nth %u: %" PRId64 " allocations leaked", n,
				 usva_alloc_outstanding() - live);
		if (!fired) {
			TEST_ASSERT_GOTO(rc == TEST_SUCCESS, out, "fail-nth %u: "
					 "unfired but failed", n);
			break;
		}
		/* A failure the library absorbed (a fallback) is fine too. */
		if (rc == 1)
			failed++;
	}
	printf("    %u failure points, each unwound\n", failed);
	TEST_ASSERT_GOTO(failed >= 8, out, "only %u failure points", failed);
	ret = TEST_SUCCESS;
out:
	free(buf);
	return ret;
}
