/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_walker: the emu IOMMU's stage-1 walker (emu_xlate.c) on arbitrary
 * table memory, both formats, checked against a reference walker written
 * here from the format descriptions (doc/page-table-formats.md, the
 * comments of drivers/iommu_nested/pgtable/).
 *
 * Memory. Stage 2 of each instance (vtd and smmuv3 flavours) maps, at
 * fixed IOVAs so that inputs can name them:
 *   T_IOVA + [0, 16) pages   table pages 0..15, read-write
 *   T_IOVA + [16, 18) pages  table pages 16..17, read-only in stage 2 (a
 *                            walk that must set an accessed/dirty bit
 *                            there takes a stage-2 fault)
 *   T_IOVA + [18, 512) pages nothing (stage-2 faults)
 *   D_IOVA, 2 MiB            data, read-write (2 MiB aligned: blocks fit)
 * T_IOVA is 1 GiB aligned, so a 1 GiB leaf at T_IOVA covers all of it.
 *
 * Input (any bytes; missing ones read as zero):
 *   u8  cfg    bit 0: smmuv3 flavour (else vtd); bit 1: other va_bits
 *              (vtd 57; smmuv3 25 + vbits % 24; else 48); bits 2-3:
 *              device(s) translating: 0 the PRI device, 1 the ATS device
 *              without PRI, 2-3 both; bit 4: also a DMA read at the
 *              first address
 *   u8  vbits
 *   u8  root   table page of the root: page_iova(root)
 *   u8  nx     1 + (nx & 7) translations
 *   nx * { u64 va; u8 access (USVA_ACCESS_*, other bits ignored) }
 *   records until the end: { u8 op; u16 slot; u64 value }: table page
 *     (op & 31) % 18, entry slot & 511 := value; with op bit 5 the
 *     value's address bits 12..51 are replaced by page_iova(value >> 12)
 *     (a pointer the harness can resolve: to a table page, the hole or
 *     the data).
 *
 * Per input: the pages are rewritten, a raw-root domain (root, format,
 * va_bits) is created and attached at the PASID of both devices, each
 * address translated twice (the second may come from the IOTLB or device
 * TLB), then the domain detached and destroyed (which flushes every
 * cache of it): nothing carries over to the next input.
 *
 * Checked for every translation: the return code and reason are what the
 * reference walk says (loops, reserved bits, pointers outside stage 2:
 * faults, never a crash or a hang); a translation gives the host address,
 * length and permissions of the reference; recoverable faults are -EFAULT
 * only for the PRI device; every -EIO raised one event; the strict checker
 * saw no stale use.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>

#include "usva_as.h"
#include "usva_emu.h"
#include "usva_iommu.h"
#include "usva_pasid.h"
#include "fuzz_harness.h"

#define PG		UINT64_C(4096)
#define T_IOVA		UINT64_C(0x40000000)
#define D_IOVA		(T_IOVA + UINT64_C(0x200000))
#define D_LEN		UINT64_C(0x200000)
#define NPAGES_RW	16u
#define NPAGES		18u	/* table pages the input writes */
#define MAX_X		8u

#define AR	USVA_ACCESS_READ
#define AW	USVA_ACCESS_WRITE
#define AX	USVA_ACCESS_EXEC
#define AP	USVA_ACCESS_PRIV
#define ACC_MASK (AR | AW | AX | AP)

struct wk_inst {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev[2];	/* 0: PRI; 1: ATS, no PRI */
	struct usva_pasid_owner *owner;
	uint32_t pasid;
	bool arm;
};

static struct {
	uint8_t *tab;		/* NPAGES pages */
	uint8_t *data;		/* D_LEN, 2 MiB aligned */
	void *data_map;
	size_t data_maplen;
	struct wk_inst in[2];
} wk;

/* ---- stage 2 as the harness knows it ------------------------------------ */

struct wk_s2 {
	uint64_t iova, len;
	uint8_t *host;
	uint32_t prot;
};

static int
wk_s2_find(uint64_t iova, struct wk_s2 *m)
{
	if (iova >= T_IOVA && iova < T_IOVA + NPAGES_RW * PG) {
		*m = (struct wk_s2){ T_IOVA, NPAGES_RW * PG, wk.tab,
				     USVA_S2_READ | USVA_S2_WRITE };
		return 0;
	}
	if (iova >= T_IOVA + NPAGES_RW * PG && iova < T_IOVA + NPAGES * PG) {
		*m = (struct wk_s2){ T_IOVA + NPAGES_RW * PG,
				     (NPAGES - NPAGES_RW) * PG,
				     wk.tab + NPAGES_RW * PG, USVA_S2_READ };
		return 0;
	}
	if (iova >= D_IOVA && iova < D_IOVA + D_LEN) {
		*m = (struct wk_s2){ D_IOVA, D_LEN, wk.data,
				     USVA_S2_READ | USVA_S2_WRITE };
		return 0;
	}
	return -1;
}

/* IOVA an input names with a 5-bit page number. */
static uint64_t
page_iova(uint32_t t)
{
	t &= 31;
	if (t < 24)
		return T_IOVA + t * PG;		/* 18..23: the hole */
	return D_IOVA + (t - 24) * PG;
}

/* ---- reference walker ------------------------------------------------------ */

#define BITS(hi, lo)	((~UINT64_C(0) >> (63 - (hi))) & (~UINT64_C(0) << (lo)))

enum { T_NONE, T_TABLE, T_LEAF, T_BAD };

struct ref_pte {
	int type;
	uint32_t prot;
	uint64_t addr;
	bool af;	/* accessed flag set (ARM: AF; x86: always after use) */
};

static unsigned int
lvl_shift(unsigned int level)
{
	return 12 + 9 * (level - 1);
}

/* x86-64 first stage (IA-32e paging), HAW 52. */
static void
ref_x86(uint64_t pte, unsigned int level, struct ref_pte *r)
{
	uint32_t prot = USVA_PROT_READ;

	memset(r, 0, sizeof(*r));
	if (!(pte & 1))
		return;
	if (pte & (1u << 1))
		prot |= USVA_PROT_WRITE;
	if (pte & (1u << 2))
		prot |= USVA_PROT_USER;
	if (!(pte >> 63))
		prot |= USVA_PROT_EXEC;
	r->prot = prot;
	r->af = true;
	if (level == 1 || ((level == 2 || level == 3) && (pte & 0x80))) {
		/* PAT is bit 12 of a large leaf; 13 .. shift-1 reserved. */
		if (level > 1 && (pte & BITS(lvl_shift(level) - 1, 13))) {
			r->type = T_BAD;
			return;
		}
		r->type = T_LEAF;
		r->addr = pte & BITS(51, lvl_shift(level));
		return;
	}
	if (pte & 0x80) {		/* PS in a PML4E / PML5E */
		r->type = T_BAD;
		return;
	}
	r->type = T_TABLE;
	r->addr = pte & BITS(51, 12);
}

/* ARM VMSAv8-64 stage 1, 4 KiB granule, 48-bit OA. */
static void
ref_arm(uint64_t pte, unsigned int level, struct ref_pte *r)
{
	uint64_t type = pte & 3;

	memset(r, 0, sizeof(*r));
	if (!(pte & 1))
		return;
	if (type == 3 && level > 1) {
		if (pte & BITS(50, 48)) {
			r->type = T_BAD;
			return;
		}
		r->type = T_TABLE;
		r->addr = pte & BITS(47, 12);
		r->prot = USVA_PROT_ALL;
		if (pte & (UINT64_C(1) << 62))		/* APTable[1] */
			r->prot &= ~USVA_PROT_WRITE;
		if (pte & (UINT64_C(1) << 61))		/* APTable[0] */
			r->prot &= ~USVA_PROT_USER;
		if (pte & (UINT64_C(3) << 59))		/* PXN/UXNTable */
			r->prot &= ~USVA_PROT_EXEC;
		r->af = true;
		return;
	}
	if (type == 1 && (level == 1 || level == 4)) {
		r->type = T_BAD;
		return;
	}
	if (pte & (BITS(49, 48) |
		   (level > 1 ? BITS(lvl_shift(level) - 1, 12) : 0))) {
		r->type = T_BAD;
		return;
	}
	r->type = T_LEAF;
	r->addr = pte & BITS(47, lvl_shift(level));
	r->prot = USVA_PROT_READ;
	if (!(pte & (1u << 7)))				/* AP[2] */
		r->prot |= USVA_PROT_WRITE;
	if (pte & (1u << 6)) {				/* AP[1]: EL0 */
		r->prot |= USVA_PROT_USER;
		if (!(pte & (UINT64_C(1) << 54)))	/* UXN */
			r->prot |= USVA_PROT_EXEC;
	} else if (!(pte & (UINT64_C(1) << 53))) {	/* PXN */
		r->prot |= USVA_PROT_EXEC;
	}
	r->af = (pte & (1u << 10)) != 0;
}

static bool
ref_perm_ok(bool arm, uint32_t eff, uint32_t access)
{
	if (!(eff & USVA_PROT_READ))
		return false;
	if (!(access & AP) && !(eff & USVA_PROT_USER))
		return false;
	if ((access & AW) && !(eff & USVA_PROT_WRITE))
		return false;
	if ((access & AX) && !(eff & USVA_PROT_EXEC))
		return false;
	/* SMMU: a user page is never executable at EL1 (usva writes PXN). */
	if (arm && (access & AX) && (access & AP) && (eff & USVA_PROT_USER))
		return false;
	return true;
}

struct ref_out {
	uint32_t reason;
	uint8_t *host;
	uint64_t len;
	uint32_t prot;
};

static void
ref_walk(bool arm, uint32_t va_bits, uint64_t root, uint64_t va,
	 uint32_t access, struct ref_out *o)
{
	unsigned int level = arm ? (va_bits - 12 + 8) / 9 : va_bits == 48 ? 4 : 5;
	bool write = (access & AW) != 0;
	uint32_t eff = USVA_PROT_ALL;
	uint64_t table = root;

	memset(o, 0, sizeof(*o));
	access &= ACC_MASK;
	if (arm ? (va >> va_bits) != 0 :
	    ((va >> (va_bits - 1)) != 0 &&
	     (va >> (va_bits - 1)) != (~UINT64_C(0) >> (va_bits - 1)))) {
		o->reason = USVA_EMU_NON_CANONICAL;
		return;
	}
	for (;;) {
		uint64_t pte_iova = table + ((va >> lvl_shift(level)) & 511) * 8;
		uint64_t pte, nw, oa, size, leaf_last, m_last;
		struct ref_pte r;
		struct wk_s2 m;

		if (wk_s2_find(pte_iova, &m) != 0) {
			o->reason = USVA_EMU_S2_FAULT;
			return;
		}
		memcpy(&pte, m.host + (pte_iova - m.iova), sizeof(pte));
		if (arm)
			ref_arm(pte, level, &r);
		else
			ref_x86(pte, level, &r);
		if (r.type == T_NONE) {
			o->reason = USVA_EMU_S1_NOT_PRESENT;
			return;
		}
		if (r.type == T_BAD || (r.type == T_LEAF && level > 3) ||
		    (r.type == T_TABLE && level == 1)) {
			o->reason = USVA_EMU_S1_BAD_ENTRY;
			return;
		}
		/* What the walker writes back: x86 sets A (and D on a write
		 * through a leaf); the ARM model manages no flags. */
		nw = arm ? pte : pte | 0x20 |
		     (r.type == T_LEAF && write ? 0x40 : 0);
		if (r.type == T_LEAF) {
			if (!r.af) {	/* access-flag fault */
				o->reason = USVA_EMU_S1_NOT_PRESENT;
				return;
			}
			if (!ref_perm_ok(arm, eff & r.prot, access)) {
				o->reason = USVA_EMU_S1_PERM;
				return;
			}
		}
		if (nw != pte && !(m.prot & USVA_S2_WRITE)) {
			o->reason = USVA_EMU_S2_FAULT;
			return;
		}
		eff &= r.prot;
		if (r.type == T_TABLE) {
			table = r.addr;
			level--;
			continue;
		}
		size = UINT64_C(1) << lvl_shift(level);
		oa = r.addr + (va & (size - 1));
		if (wk_s2_find(oa, &m) != 0 ||
		    !(m.prot & (write ? USVA_S2_WRITE : USVA_S2_READ))) {
			o->reason = USVA_EMU_S2_FAULT;
			return;
		}
		o->reason = USVA_EMU_OK;
		o->host = m.host + (oa - m.iova);
		leaf_last = (va & ~(size - 1)) + (size - 1);
		m_last = m.iova + (m.len - 1);
		o->len = RTE_MIN(leaf_last, va + (m_last - oa)) - va + 1;
		o->prot = eff;
		if (!(m.prot & USVA_S2_WRITE))
			o->prot &= ~USVA_PROT_WRITE;
		return;
	}
}

/* ---- set-up ------------------------------------------------------------------ */

static int
wk_inst_open(struct wk_inst *in, bool arm)
{
	struct usva_iommu_config ic = {
		.size = sizeof(ic), .flags = USVA_IOMMU_F_STRICT,
		.backend = "emu",
		/* Small caches: evictions and refills are part of it. */
		.params = arm ? "flavour=smmuv3,iotlb_sets=4,iotlb_ways=2,"
				"devtlb_entries=4,pasid_cache_entries=2" :
				"flavour=vtd,iotlb_sets=4,iotlb_ways=2,"
				"devtlb_entries=4,pasid_cache_entries=2",
	};
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "fuzz-walker", .pasid_width = 20,
	};
	int rc;

	in->arm = arm;
	rc = usva_iommu_open(&ic, &in->iommu);
	if (rc)
		return rc;
	dc.flags = USVA_DEV_F_PRI;
	rc = usva_iommu_dev_open(in->iommu, &dc, &in->dev[0]);
	if (rc)
		return rc;
	dc.flags = USVA_DEV_F_ATS;
	rc = usva_iommu_dev_open(in->iommu, &dc, &in->dev[1]);
	if (rc)
		return rc;
	rc = usva_iommu_s2_map(in->iommu, T_IOVA, wk.tab, NPAGES_RW * PG,
			       USVA_S2_READ | USVA_S2_WRITE);
	if (rc == 0)
		rc = usva_iommu_s2_map(in->iommu, T_IOVA + NPAGES_RW * PG,
				       wk.tab + NPAGES_RW * PG,
				       (NPAGES - NPAGES_RW) * PG, USVA_S2_READ);
	if (rc == 0)
		rc = usva_iommu_s2_map(in->iommu, D_IOVA, wk.data, D_LEN,
				       USVA_S2_READ | USVA_S2_WRITE);
	if (rc)
		return rc;
	rc = usva_pasid_owner_create(usva_iommu_pasids(in->iommu), 0,
				     &in->owner);
	if (rc == 0)
		rc = usva_pasid_alloc(in->owner, &in->pasid);
	if (rc)
		return rc;
	/* Attach once, so that the devices' PASID-table chunks (kept until
	 * they close) exist before the first input counts allocations. */
	{
		struct usva_domain_config c = {
			.size = sizeof(c), .s1_root = T_IOVA, .va_bits = 48,
			.format = arm ? USVA_PGFMT_ARM_LPAE_4K :
					USVA_PGFMT_X86_FS,
		};
		struct usva_domain *dom;

		rc = usva_domain_create(in->iommu, &c, &dom);
		if (rc)
			return rc;
		for (unsigned int d = 0; d < 2 && rc == 0; d++)
			rc = usva_iommu_attach(in->dev[d], in->pasid, dom);
		for (unsigned int d = 0; d < 2; d++)
			usva_iommu_detach(in->dev[d], in->pasid);
		usva_domain_destroy(dom);
	}
	return rc;
}

static void
wk_teardown(void)
{
	for (unsigned int i = 0; i < 2; i++) {
		struct wk_inst *in = &wk.in[i];

		usva_iommu_dev_close(in->dev[0]);
		usva_iommu_dev_close(in->dev[1]);
		if (in->owner != NULL) {
			if (in->pasid != 0)
				usva_pasid_free(in->owner, in->pasid);
			usva_pasid_owner_destroy(in->owner);
		}
		if (in->iommu != NULL) {
			usva_iommu_s2_unmap(in->iommu, T_IOVA, NPAGES * PG, NULL);
			usva_iommu_s2_unmap(in->iommu, D_IOVA, D_LEN, NULL);
			usva_iommu_close(in->iommu);
		}
	}
	if (wk.tab != NULL)
		munmap(wk.tab, NPAGES * PG);
	if (wk.data_map != NULL)
		munmap(wk.data_map, wk.data_maplen);
	memset(&wk, 0, sizeof(wk));
}

static int
wk_setup(void)
{
	void *p;
	int rc;

	memset(&wk, 0, sizeof(wk));
	p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	wk.tab = p;
	/* Never written by the harness: reserve only. */
	wk.data_maplen = 2 * D_LEN;
	p = mmap(NULL, wk.data_maplen, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		wk_teardown();
		return -ENOMEM;
	}
	wk.data_map = p;
	wk.data = (uint8_t *)RTE_ALIGN_CEIL((uintptr_t)p, (uintptr_t)D_LEN);
	for (unsigned int i = 0; i < 2; i++) {
		rc = wk_inst_open(&wk.in[i], i == 1);
		if (rc) {
			wk_teardown();
			return rc;
		}
	}
	return 0;
}

/* ---- one input ------------------------------------------------------------------ */

static uint32_t
ev_type_of(uint32_t reason)
{
	switch (reason) {
	case USVA_EMU_S1_NOT_PRESENT: return USVA_EVENT_S1_NOT_PRESENT;
	case USVA_EMU_S1_PERM: return USVA_EVENT_S1_PERM;
	case USVA_EMU_S1_BAD_ENTRY: return USVA_EVENT_S1_BAD_ENTRY;
	case USVA_EMU_S2_FAULT: return USVA_EVENT_S2_FAULT;
	case USVA_EMU_BAD_PASID: return USVA_EVENT_BAD_PASID;
	default: return USVA_EVENT_NON_CANONICAL;
	}
}

/* One translation of (@p va, @p access) by device @p d, checked. */
static int
wk_xlate(struct wk_inst *in, unsigned int d, uint32_t va_bits, uint64_t root,
	 uint64_t va, uint32_t access, unsigned int rep)
{
	struct usva_iommu_event ev[4];
	struct usva_emu_xlate x;
	struct ref_out ref;
	bool pri = d == 0;
	volatile uint8_t sink;
	int rc, exp_rc, n;

	ref_walk(in->arm, va_bits, root, va, access, &ref);
	memset(&x, 0xa5, sizeof(x));
	rc = usva_emu_translate(in->dev[d], in->pasid, va, access, &x);
	if (ref.reason == USVA_EMU_OK)
		exp_rc = 0;
	else if (ref.reason <= USVA_EMU_S1_PERM && pri)
		exp_rc = -EFAULT;
	else
		exp_rc = -EIO;
	if (fz_verbose)
		fprintf(stderr, "walker: %s dev %u va 0x%" PRIx64 " access 0x%x"
			" try %u: rc %d reason %u host %p len 0x%" PRIx64
			" prot 0x%x\n", in->arm ? "smmuv3" : "vtd", d, va,
			access, rep, rc, x.reason, rc == 0 ? x.host : NULL,
			rc == 0 ? x.len : 0, rc == 0 ? x.prot : 0);
	FZ_CHECK(rc == exp_rc && x.reason == ref.reason,
		 "%s dev %u (%s) va 0x%" PRIx64 " access 0x%x va_bits %u "
		 "root 0x%" PRIx64 " try %u: rc %d reason %u, reference rc %d "
		 "reason %u", in->arm ? "smmuv3" : "vtd", d,
		 pri ? "PRI" : "ATS", va, access, va_bits, root, rep, rc,
		 x.reason, exp_rc, ref.reason);
	if (rc == 0) {
		FZ_CHECK(x.host == ref.host && x.len == ref.len &&
			 x.prot == ref.prot,
			 "%s va 0x%" PRIx64 " access 0x%x try %u: host %p len "
			 "0x%" PRIx64 " prot 0x%x, reference %p 0x%" PRIx64
			 " 0x%x", in->arm ? "smmuv3" : "vtd", va, access, rep,
			 x.host, x.len, x.prot, (void *)ref.host, ref.len,
			 ref.prot);
		/* The bytes are there (ASan / a fault would say otherwise). */
		sink = ((volatile uint8_t *)x.host)[0];
		sink = ((volatile uint8_t *)x.host)[x.len - 1];
		(void)sink;
		return 0;
	}
	if (rc == -EIO) {
		n = usva_iommu_events_read(in->iommu, ev, RTE_DIM(ev));
		FZ_CHECK(n == 1 && ev[0].type == ev_type_of(ref.reason) &&
			 ev[0].pasid == in->pasid,
			 "va 0x%" PRIx64 ": -EIO reason %u: %d events, type %u",
			 va, ref.reason, n, n > 0 ? ev[0].type : 0);
	}
	FZ_CHECK(x.host == NULL && x.len == 0, "a fault with host %p len %"
		 PRIu64, x.host, x.len);
	return 0;
}

static int
wk_one(const uint8_t *data, size_t size)
{
	struct usva_iommu_stats st0, st1;
	struct usva_iommu_event ev[16];
	struct usva_domain *dom = NULL;
	struct usva_domain_config dc;
	struct wk_inst *in;
	uint64_t va[MAX_X], root;
	uint32_t acc[MAX_X], va_bits;
	unsigned int nx, dsel, i, d;
	uint8_t cfg, vb;
	struct fz f;
	int rc, ret = 0;

	fz_init(&f, data, size);
	cfg = fz_u8(&f);
	vb = fz_u8(&f);
	root = page_iova(fz_u8(&f));
	nx = 1 + (fz_u8(&f) & 7);
	in = &wk.in[cfg & 1];
	if (!in->arm)
		va_bits = (cfg & 2) ? 57 : 48;
	else
		va_bits = (cfg & 2) ? 25 + vb % 24 : 48;
	dsel = (cfg >> 2) & 3;
	for (i = 0; i < nx; i++) {
		va[i] = fz_u64(&f);
		acc[i] = fz_u8(&f);
	}
	memset(wk.tab, 0, NPAGES * PG);
	while (fz_left(&f) >= 3) {
		uint8_t op = fz_u8(&f);
		uint16_t slot = fz_u16(&f) & 511;
		uint64_t v = fz_u64(&f);

		if (op & 0x20)
			v = (v & ~BITS(51, 12)) | page_iova((uint32_t)(v >> 12));
		memcpy(wk.tab + ((op & 31) % NPAGES) * PG + slot * 8, &v,
		       sizeof(v));
	}

	while (usva_iommu_events_read(in->iommu, ev, RTE_DIM(ev)) > 0)
		;
	usva_iommu_stats(in->iommu, &st0);
	memset(&dc, 0, sizeof(dc));
	dc.size = sizeof(dc);
	dc.s1_root = root;
	dc.format = in->arm ? USVA_PGFMT_ARM_LPAE_4K : USVA_PGFMT_X86_FS;
	dc.va_bits = va_bits;
	rc = usva_domain_create(in->iommu, &dc, &dom);
	FZ_CHECK(rc == 0, "raw domain (root 0x%" PRIx64 ", va_bits %u): %d",
		 root, va_bits, rc);
	for (d = 0; d < 2 && ret == 0; d++) {
		rc = usva_iommu_attach(in->dev[d], in->pasid, dom);
		if (rc != 0) {
			fz_fail(__FILE__, __LINE__, "attach", "dev %u: %d", d, rc);
			ret = -1;
		}
	}
	for (i = 0; i < nx && ret == 0; i++)
		for (d = 0; d < 2 && ret == 0; d++) {
			if ((dsel == 0 && d != 0) || (dsel == 1 && d != 1))
				continue;
			for (unsigned int rep = 0; rep < 2 && ret == 0; rep++)
				ret = wk_xlate(in, d, va_bits, root, va[i],
					       acc[i], rep);
		}
	if (ret == 0 && (cfg & 0x10)) {
		/* A DMA from the first address: translation by translation
		 * through the walker, stopping at the first fault. */
		static uint8_t buf[3 * 4096];
		struct usva_emu_dma_fault fl;
		uint64_t len = 1 + (va[0] >> 52) % sizeof(buf);
		int64_t got;

		got = usva_emu_dma_read(in->dev[dsel == 1], in->pasid, va[0],
					buf, len, &fl);
		if (got < 0 || (uint64_t)got > len ||
		    ((uint64_t)got < len && fl.reason == USVA_EMU_OK)) {
			fz_fail(__FILE__, __LINE__, "dma read", "va 0x%" PRIx64
				" len %" PRIu64 ": %" PRId64 " reason %u",
				va[0], len, got, fl.reason);
			ret = -1;
		}
	}
	usva_iommu_stats(in->iommu, &st1);
	if (ret == 0 && st1.stale_uses != st0.stale_uses) {
		fz_fail(__FILE__, __LINE__, "stale_uses", "%" PRIu64
			" stale translations used", st1.stale_uses - st0.stale_uses);
		ret = -1;
	}
	for (d = 0; d < 2; d++)
		usva_iommu_detach(in->dev[d], in->pasid);
	rc = usva_domain_destroy(dom);
	FZ_CHECK(rc == 0, "domain destroy: %d", rc);
	while (usva_iommu_events_read(in->iommu, ev, RTE_DIM(ev)) > 0)
		;
	return ret;
}

const struct fz_harness fz_walker = {
	.name = "walker",
	.setup = wk_setup,
	.one = wk_one,
	.teardown = wk_teardown,
};
