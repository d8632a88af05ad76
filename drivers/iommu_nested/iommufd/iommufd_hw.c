/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: pure helpers. Decoding what the kernel reports (VT-d
 * and SMMUv3 registers, PCIe capabilities, IOVA ranges) and translating
 * between usva's fault and invalidation types and the kernel's. Nothing
 * here makes a system call, so the tests check all of it on any machine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usva_as.h"
#include "usva_build_config.h"
#include "iommufd_internal.h"

/* ---- VT-d ---------------------------------------------------------------- */

/* Capability register (VT-d spec 11.4.2). */
#define VTD_CAP_MGAW(c)		((uint32_t)(((c) >> 16) & 0x3f) + 1)
#define VTD_CAP_FL1GP(c)	(((c) >> 56) & 1)
#define VTD_CAP_FL5LP(c)	(((c) >> 60) & 1)
/* Extended capability register (11.4.3). */
#define VTD_ECAP_DT(e)		(((e) >> 2) & 1)	/* device TLBs (ATS) */
#define VTD_ECAP_NEST(e)	(((e) >> 26) & 1)
#define VTD_ECAP_PRS(e)		(((e) >> 29) & 1)	/* page requests */
#define VTD_ECAP_SRS(e)		(((e) >> 31) & 1)	/* supervisor requests */
#define VTD_ECAP_PSS(e)		((uint32_t)(((e) >> 35) & 0x1f))
#define VTD_ECAP_PASID(e)	(((e) >> 40) & 1)
#define VTD_ECAP_SMTS(e)	(((e) >> 43) & 1)	/* scalable mode */
#define VTD_ECAP_SLTS(e)	(((e) >> 46) & 1)	/* second stage */
#define VTD_ECAP_FLTS(e)	(((e) >> 47) & 1)	/* first stage */

void
iommufd_caps_vtd(uint64_t cap, uint64_t ecap, struct iommufd_hw_caps *c)
{
	bool fs = VTD_ECAP_SMTS(ecap) && VTD_ECAP_FLTS(ecap);

	memset(c, 0, sizeof(*c));
	c->name = "VT-d";
	/* Nesting is first stage over second stage in scalable mode. */
	c->nesting = fs && VTD_ECAP_SLTS(ecap) && VTD_ECAP_NEST(ecap);
	c->pri = VTD_ECAP_PRS(ecap) != 0;
	c->ats = VTD_ECAP_DT(ecap) != 0;
	c->supervisor = VTD_ECAP_SRS(ecap) != 0;
	if (VTD_ECAP_PASID(ecap) && VTD_ECAP_SMTS(ecap))
		c->pasid_width = RTE_MIN(VTD_ECAP_PSS(ecap) + 1,
					 (uint32_t)USVA_MAX_PASID_WIDTH);
	if (fs) {
		c->s1_formats = 1u << USVA_PGFMT_X86_FS;
		c->s1_page_sizes = USVA_PGSIZE_4K | USVA_PGSIZE_2M;
		if (VTD_CAP_FL1GP(cap))
			c->s1_page_sizes |= USVA_PGSIZE_1G;
		c->s1_va_bits_max = VTD_CAP_FL5LP(cap) ? 57 : 48;
	}
	c->iova_bits = VTD_CAP_MGAW(cap);
}

/* ---- SMMUv3 -------------------------------------------------------------- */

/* ID registers (SMMUv3 spec 6.3.1-6.3.6). */
#define SMMU_IDR0_S2P		(1u << 0)
#define SMMU_IDR0_S1P		(1u << 1)
#define SMMU_IDR0_ATS		(1u << 10)
#define SMMU_IDR0_PRI		(1u << 16)
#define SMMU_IDR0_STALL(i)	(((i) >> 24) & 3)	/* 1: no stall */
#define SMMU_IDR1_SSIDSIZE(i)	(((i) >> 6) & 0x1f)
#define SMMU_IDR5_OAS(i)	((i) & 7)
#define SMMU_IDR5_GRAN4K	(1u << 4)

/* OAS encodings 0..6 -> address bits. */
static const uint8_t smmu_oas_bits[8] = { 32, 36, 40, 42, 44, 48, 52, 48 };

void
iommufd_caps_smmuv3(const uint32_t idr[6], struct iommufd_hw_caps *c)
{
	memset(c, 0, sizeof(*c));
	c->name = "SMMUv3";
	/*
	 * Nested SMMUv3 is an STE (IOMMU_HWPT_DATA_ARM_SMMUV3) created on a
	 * vIOMMU, pointing at a context-descriptor table the user owns; this
	 * backend does not build CD tables yet, so it reports no nesting and
	 * no stage-1 formats (stage 2 and devices work).
	 */
	c->nesting = false;
	c->pri = (idr[0] & SMMU_IDR0_PRI) != 0;
	c->ats = (idr[0] & SMMU_IDR0_ATS) != 0;
	c->stall = SMMU_IDR0_STALL(idr[0]) != 1;
	c->supervisor = true;
	c->pasid_width = RTE_MIN((uint32_t)SMMU_IDR1_SSIDSIZE(idr[1]),
				 (uint32_t)USVA_MAX_PASID_WIDTH);
	c->iova_bits = smmu_oas_bits[SMMU_IDR5_OAS(idr[5])];
}

void
iommufd_caps_decode(const struct iommufd_hw_info *hw, struct iommufd_hw_caps *c)
{
	switch (hw->type) {
	case USVA_IOMMU_HW_INFO_TYPE_INTEL_VTD:
		iommufd_caps_vtd(hw->cap, hw->ecap, c);
		break;
	case USVA_IOMMU_HW_INFO_TYPE_ARM_SMMUV3:
		iommufd_caps_smmuv3(hw->idr, c);
		break;
	default:
		memset(c, 0, sizeof(*c));
		c->name = "unknown";
		break;
	}
}

/* ---- PCIe extended capabilities ------------------------------------------ */

#define PCI_CFG_CONV		0x100	/* conventional config space */
#define PCI_ECAP_ATS		0x0f
#define PCI_ECAP_PRI		0x13
#define PCI_ECAP_PASID		0x1b
#define PCI_PRI_CAPACITY	0x08	/* outstanding page request capacity */
#define PCI_PASID_CAP		0x04
#define PCI_PASID_CAP_EXEC	(1u << 1)
#define PCI_PASID_CAP_PRIV	(1u << 2)
#define PCI_PASID_CAP_WIDTH(v)	(((v) >> 8) & 0x1f)

static uint32_t
cfg_read32(const uint8_t *cfg, size_t off)
{
	return (uint32_t)cfg[off] | (uint32_t)cfg[off + 1] << 8 |
	       (uint32_t)cfg[off + 2] << 16 | (uint32_t)cfg[off + 3] << 24;
}

static void
pci_ecap_one(const uint8_t *cfg, size_t len, uint32_t off, uint32_t id,
	     struct iommufd_pci_caps *pc)
{
	uint32_t v;

	switch (id) {
	case PCI_ECAP_ATS:
		pc->ats = true;
		break;
	case PCI_ECAP_PRI:
		if (off + PCI_PRI_CAPACITY + 4 > len)
			break;
		pc->pri = true;
		pc->pri_capacity = cfg_read32(cfg, off + PCI_PRI_CAPACITY);
		break;
	case PCI_ECAP_PASID:
		if (off + PCI_PASID_CAP + 4 > len)
			break;
		v = cfg_read32(cfg, off + PCI_PASID_CAP) & 0xffff;
		pc->pasid_width = PCI_PASID_CAP_WIDTH(v);
		pc->pasid_exec = (v & PCI_PASID_CAP_EXEC) != 0;
		pc->pasid_priv = (v & PCI_PASID_CAP_PRIV) != 0;
		break;
	default:
		break;
	}
}

int
iommufd_pci_caps_parse(const uint8_t *cfg, size_t len,
		       struct iommufd_pci_caps *pc)
{
	uint32_t off = PCI_CFG_CONV;

	memset(pc, 0, sizeof(*pc));
	if (cfg == NULL || len < 64)
		return -EINVAL;
	/* Each header: id [15:0], version [19:16], next [31:20]. A chain
	 * that loops or leaves the extended space ends the walk. */
	for (unsigned int hops = 0; hops < (IOMMUFD_PCI_CFG_SIZE -
					    PCI_CFG_CONV) / 4; hops++) {
		uint32_t hdr, next;

		if (off < PCI_CFG_CONV || off + 4 > len)
			break;
		hdr = cfg_read32(cfg, off);
		if (hdr == 0 || hdr == UINT32_MAX)
			break;
		pci_ecap_one(cfg, len, off, hdr & 0xffff, pc);
		next = (hdr >> 20) & 0xffc;
		if (next == 0)
			break;
		off = next;
	}
	return 0;
}

/* ---- IOVA ranges --------------------------------------------------------- */

static int
range_cmp_start(const void *a, const void *b)
{
	const struct usva_iova_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t
range_len(const struct iommu_iova_range *r)
{
	return r->last - r->start;	/* length - 1: never overflows */
}

/* Index of the widest range in @p r not yet taken (there is one). */
static uint32_t
widest_left(const struct iommu_iova_range *r, uint32_t n, const bool *taken)
{
	uint32_t best = UINT32_MAX;

	for (uint32_t i = 0; i < n; i++)
		if (!taken[i] && (best == UINT32_MAX ||
				  range_len(&r[i]) > range_len(&r[best])))
			best = i;
	return best;
}

uint32_t
iommufd_ranges_fit(const struct iommu_iova_range *in, uint32_t n,
		   struct usva_iova_range *out, uint32_t max)
{
	bool taken[64] = { false };
	uint32_t k = 0;

	/* More than fit: keep the widest (the kernel reports a handful;
	 * 64 bounds the scan). Malformed ranges never count. */
	n = RTE_MIN(n, (uint32_t)RTE_DIM(taken));
	for (uint32_t i = 0; i < n; i++)
		taken[i] = in[i].last < in[i].start;
	for (uint32_t t = 0; t < n && k < max; t++) {
		uint32_t i = widest_left(in, n, taken);

		if (i == UINT32_MAX)
			break;
		taken[i] = true;
		out[k].start = in[i].start;
		out[k].last = in[i].last;
		k++;
	}
	qsort(out, k, sizeof(*out), range_cmp_start);
	return k;
}

/* The windows the kernel reserves for MSIs (x86, and the SMMU's
 * software MSI window on ARM). */
static const struct { uint64_t addr; } msi_windows[] = {
	{ 0xfee00000 }, { 0x08000000 },
};

uint32_t
iommufd_windows(const struct usva_iova_range *r, uint32_t n,
		struct usva_iova_window *w, uint32_t max)
{
	uint32_t k = 0;

	for (uint32_t i = 1; i < n && k < max; i++) {
		struct usva_iova_window *x = &w[k];

		if (r[i].start <= r[i - 1].last + 1)
			continue;	/* adjacent or overlapping */
		x->start = r[i - 1].last + 1;
		x->last = r[i].start - 1;
		snprintf(x->name, sizeof(x->name), "reserved");
		for (unsigned int j = 0; j < RTE_DIM(msi_windows); j++)
			if (msi_windows[j].addr >= x->start &&
			    msi_windows[j].addr <= x->last)
				snprintf(x->name, sizeof(x->name), "MSI");
		k++;
	}
	return k;
}

uint32_t
iommufd_bits(uint64_t last)
{
	return last == 0 ? 0 : 64 - (uint32_t)__builtin_clzll(last);
}

/* ---- page requests and responses ----------------------------------------- */

int
iommufd_resp_code(uint16_t code)
{
	switch (code) {
	case USVA_PAGE_RESP_SUCCESS:
		return IOMMUFD_PAGE_RESP_SUCCESS;
	case USVA_PAGE_RESP_INVALID:
	case USVA_PAGE_RESP_FAILURE:
		/* The kernel has no FAILURE: disabling PRI is its call. */
		return IOMMUFD_PAGE_RESP_INVALID;
	default:
		return -EINVAL;
	}
}

bool
iommufd_resp_encode(const struct usva_page_resp *r,
		    struct iommu_hwpt_page_response *out)
{
	int code = iommufd_resp_code(r->code);

	if (code < 0)
		return false;
	out->cookie = r->cookie;
	out->code = (uint32_t)code;
	return true;
}

void
iommufd_pgfault_to_req(const struct iommu_hwpt_pgfault *f, uint32_t dev_id,
		       uint64_t ts, struct usva_page_req *r)
{
	uint16_t perm = 0, flags = 0;

	if (f->perm & IOMMU_PGFAULT_PERM_READ)
		perm |= USVA_ACCESS_READ;
	if (f->perm & IOMMU_PGFAULT_PERM_WRITE)
		perm |= USVA_ACCESS_WRITE;
	if (f->perm & IOMMU_PGFAULT_PERM_EXEC)
		perm |= USVA_ACCESS_EXEC;
	if (f->perm & IOMMU_PGFAULT_PERM_PRIV)
		perm |= USVA_ACCESS_PRIV;
	if (f->flags & IOMMU_PGFAULT_FLAGS_PASID_VALID)
		flags |= USVA_PREQ_F_PASID;
	if (f->flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE)
		flags |= USVA_PREQ_F_LAST;
	memset(r, 0, sizeof(*r));
	r->addr = f->addr & ~((UINT64_C(1) << IOMMUFD_PAGE_SHIFT) - 1);
	r->ts = ts;
	r->dev_id = dev_id;
	r->pasid = (flags & USVA_PREQ_F_PASID) ? f->pasid : 0;
	r->grpid = f->grpid;
	/* The kernel keeps the group's private data and echoes it itself:
	 * the cookie is all a response needs. */
	r->cookie = f->cookie;
	r->perm = perm;
	r->flags = flags;
}

/* ---- invalidation -------------------------------------------------------- */

bool
iommufd_inval_encode(const struct usva_inval_entry *e,
		     struct iommu_hwpt_vtd_s1_invalidate *out)
{
	/* The device TLB goes with the IOTLB (the kernel flushes the ATS
	 * devices' TLBs with it); the PASID-entry cache is the kernel's,
	 * flushed when it writes the entry on attach. */
	if (!(e->caches & (USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB)))
		return false;
	memset(out, 0, sizeof(*out));
	if (e->granule == USVA_INVAL_ADDR) {
		out->addr = e->addr;
		out->npages = e->npages;
		if (e->flags & USVA_INVAL_F_LEAF)
			out->flags = IOMMU_VTD_INV_FLAGS_LEAF;
	} else {
		/* DOMAIN, PASID: everything the nested HWPT caches. */
		out->addr = 0;
		out->npages = UINT64_MAX;
	}
	return true;
}

uint32_t
iommufd_inval_status(uint32_t n, int rc, uint32_t entry_num, int32_t *status)
{
	uint32_t done;

	if (rc == 0)
		done = RTE_MIN(entry_num, n);
	else
		done = entry_num < n ? entry_num : 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i < done)
			status[i] = USVA_INVAL_DONE;
		else if (i == done)
			status[i] = rc < 0 ? rc : -EIO;
		else
			status[i] = USVA_INVAL_NOT_ATTEMPTED;
	}
	return done;
}

/* ---- PCI addresses ------------------------------------------------------- */

/* Parse hex digits of [s, s + len); @return false on anything else. */
static bool
hex_field(const char *s, size_t len, size_t max_digits, uint32_t *v)
{
	uint32_t x = 0;

	if (len == 0 || len > max_digits)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		uint32_t d;

		if (ch >= '0' && ch <= '9')
			d = (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (uint32_t)(ch - 'A' + 10);
		else
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

int
iommufd_pci_addr_norm(const char *in, char out[IOMMUFD_PCI_ADDR_LEN])
{
	const char *c1, *c2, *dot;
	uint32_t dom = 0, bus, dev, fn;
	const char *b;

	if (in == NULL)
		return -EINVAL;
	dot = strrchr(in, '.');
	c2 = strrchr(in, ':');
	if (dot == NULL || c2 == NULL || dot < c2)
		return -EINVAL;
	c1 = c2 == in ? NULL : memrchr(in, ':', (size_t)(c2 - in));
	b = c1 ? c1 + 1 : in;
	if (c1 != NULL && !hex_field(in, (size_t)(c1 - in), 8, &dom))
		return -EINVAL;
	if (!hex_field(b, (size_t)(c2 - b), 2, &bus) ||
	    !hex_field(c2 + 1, (size_t)(dot - c2 - 1), 2, &dev) ||
	    !hex_field(dot + 1, strlen(dot + 1), 1, &fn) ||
	    dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, IOMMUFD_PCI_ADDR_LEN, "%04x:%02x:%02x.%x", dom, bus,
		 dev, fn);
	return 0;
}
