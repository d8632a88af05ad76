/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration-space parser: the header, the standard capability list
 * and the PCI Express extended list, over a byte array.
 *
 * The bytes come from a device (through VFIO or sysfs), so nothing in them
 * is trusted: every pointer is checked against the space it must lie in
 * and against the bytes given before anything at it is read, and each list
 * keeps a bitmap of the dwords it has visited, so a list that loops ends
 * at the first revisit. A list ends at its first fault and the fault is
 * reported; what was found before it stays filled in.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include <rte_common.h>

#include "usva_vfio_internal.h"

/* Bytes of a standard capability that we read: id, next, a 16-bit field. */
#define STD_CAP_HDR	2u
#define STD_CAP_FIELDS	4u
#define EXT_CAP_HDR	4u

static uint16_t
rd16(const uint8_t *c, size_t off)
{
	return (uint16_t)(c[off] | c[off + 1] << 8);
}

static uint32_t
rd32(const uint8_t *c, size_t off)
{
	return (uint32_t)c[off] | (uint32_t)c[off + 1] << 8 |
	       (uint32_t)c[off + 2] << 16 | (uint32_t)c[off + 3] << 24;
}

/* One bit per dword of the 4 KiB space. */
struct visited {
	uint64_t w[PCI_CFG_SPACE_EXP_SIZE / 4 / 64];
};

/* Mark @p pos visited; false if it already was (the list loops). */
static bool
visit(struct visited *v, unsigned int pos)
{
	unsigned int dw = pos / 4;
	uint64_t bit = UINT64_C(1) << (dw % 64);

	if (v->w[dw / 64] & bit)
		return false;
	v->w[dw / 64] |= bit;
	return true;
}

static void
std_cap(const uint8_t *cfg, size_t lim, unsigned int pos,
	struct usva_pci_caps *caps)
{
	uint8_t id = cfg[pos];
	uint16_t flags;

	if (id != PCI_CAP_ID_EXP && id != PCI_CAP_ID_MSI &&
	    id != PCI_CAP_ID_MSIX)
		return;
	/* pos <= 0xfc, so the fields always end inside the 256 bytes. */
	if (pos + STD_CAP_FIELDS > lim) {
		caps->errors |= USVA_PCI_CAPERR_STD_TRUNC;
		return;
	}
	flags = rd16(cfg, pos + 2);
	if (id == PCI_CAP_ID_EXP && caps->pcie_off == 0) {
		caps->pcie_off = pos;
		caps->flags |= USVA_PCI_CAP_PCIE;
	} else if (id == PCI_CAP_ID_MSI && caps->msi_off == 0) {
		unsigned int mmc = (flags & PCI_MSI_FLAGS_QMASK) >> 1;

		caps->msi_off = pos;
		caps->flags |= USVA_PCI_CAP_MSI;
		/* 6 and 7 are reserved encodings: at most 32 vectors. */
		caps->msi_vectors = (uint8_t)(1u << RTE_MIN(mmc, 5u));
	} else if (id == PCI_CAP_ID_MSIX && caps->msix_off == 0) {
		caps->msix_off = pos;
		caps->flags |= USVA_PCI_CAP_MSIX;
		caps->msix_vectors = (flags & PCI_MSIX_FLAGS_QSIZE) + 1;
	}
}

static void
parse_std(const uint8_t *cfg, size_t len, struct usva_pci_caps *caps)
{
	size_t lim = RTE_MIN(len, (size_t)PCI_CFG_SPACE_SIZE);
	struct visited seen = { { 0 } };
	unsigned int ptr_reg = PCI_CAPABILITY_LIST;
	unsigned int pos;

	if (len >= PCI_CFG_SPACE_SIZE)
		caps->flags |= USVA_PCI_CAP_STD;
	if (!(rd16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	if (caps->header_type == PCI_HEADER_TYPE_CARDBUS)
		ptr_reg = PCI_CB_CAPABILITY_LIST;
	/* The two low bits of every pointer are reserved: software masks them. */
	pos = cfg[ptr_reg] & ~3u;
	while (pos != 0) {
		if (pos < PCI_STD_HEADER_SIZEOF) {
			caps->errors |= USVA_PCI_CAPERR_STD_RANGE;
			return;
		}
		if (pos + STD_CAP_HDR > lim) {
			caps->errors |= USVA_PCI_CAPERR_STD_TRUNC;
			return;
		}
		if (!visit(&seen, pos)) {
			caps->errors |= USVA_PCI_CAPERR_STD_LOOP;
			return;
		}
		caps->nr_std++;
		std_cap(cfg, lim, pos, caps);
		pos = cfg[pos + 1] & ~3u;
	}
}

/* Bytes of an extended capability we read; 0 for the ones we skip. */
static unsigned int
ext_cap_need(uint16_t id)
{
	switch (id) {
	case PCI_EXT_CAP_ID_PASID:
		return PCI_EXT_CAP_PASID_SIZEOF;
	case PCI_EXT_CAP_ID_PRI:
		return PCI_EXT_CAP_PRI_SIZEOF;
	case PCI_EXT_CAP_ID_ATS:
		return PCI_EXT_CAP_ATS_SIZEOF;
	default:
		return 0;
	}
}

static void
ext_pasid(const uint8_t *cfg, unsigned int pos, struct usva_pci_caps *caps)
{
	uint16_t cap = rd16(cfg, pos + PCI_PASID_CAP);
	uint16_t ctrl = rd16(cfg, pos + PCI_PASID_CTRL);

	caps->pasid_off = pos;
	caps->flags |= USVA_PCI_CAP_PASID;
	/* Max PASID Width: bits 12:8 of the capability register. */
	caps->pasid_width = (cap >> 8) & 0x1f;
	if (cap & PCI_PASID_CAP_EXEC)
		caps->flags |= USVA_PCI_CAP_PASID_EXEC;
	if (cap & PCI_PASID_CAP_PRIV)
		caps->flags |= USVA_PCI_CAP_PASID_PRIV;
	if (ctrl & PCI_PASID_CTRL_ENABLE)
		caps->flags |= USVA_PCI_CAP_PASID_ON;
}

static void
ext_pri(const uint8_t *cfg, unsigned int pos, struct usva_pci_caps *caps)
{
	caps->pri_off = pos;
	caps->flags |= USVA_PCI_CAP_PRI;
	caps->pri_capacity = rd32(cfg, pos + PCI_PRI_MAX_REQ);
	if (rd16(cfg, pos + PCI_PRI_STATUS) & PCI_PRI_STATUS_PASID)
		caps->flags |= USVA_PCI_CAP_PRI_PASID;
	if (rd16(cfg, pos + PCI_PRI_CTRL) & PCI_PRI_CTRL_ENABLE)
		caps->flags |= USVA_PCI_CAP_PRI_ON;
}

static void
ext_ats(const uint8_t *cfg, unsigned int pos, struct usva_pci_caps *caps)
{
	uint16_t cap = rd16(cfg, pos + PCI_ATS_CAP);
	unsigned int qdep = PCI_ATS_CAP_QDEP(cap);

	caps->ats_off = pos;
	caps->flags |= USVA_PCI_CAP_ATS;
	/* A depth of 0 encodes the maximum, 32. */
	caps->ats_inval_depth = (uint8_t)(qdep ? qdep : PCI_ATS_MAX_QDEP);
	if (cap & PCI_ATS_CAP_PAGE_ALIGNED)
		caps->flags |= USVA_PCI_CAP_ATS_PAGE_ALIGNED;
	if (rd16(cfg, pos + PCI_ATS_CTRL) & PCI_ATS_CTRL_ENABLE)
		caps->flags |= USVA_PCI_CAP_ATS_ON;
}

static void
ext_cap(const uint8_t *cfg, size_t lim, unsigned int pos, uint16_t id,
	struct usva_pci_caps *caps)
{
	unsigned int need = ext_cap_need(id);

	if (need == 0)
		return;
	if (pos + need > PCI_CFG_SPACE_EXP_SIZE) {
		caps->errors |= USVA_PCI_CAPERR_EXT_RANGE;
		return;
	}
	if (pos + need > lim) {
		caps->errors |= USVA_PCI_CAPERR_EXT_TRUNC;
		return;
	}
	if (id == PCI_EXT_CAP_ID_PASID && caps->pasid_off == 0)
		ext_pasid(cfg, pos, caps);
	else if (id == PCI_EXT_CAP_ID_PRI && caps->pri_off == 0)
		ext_pri(cfg, pos, caps);
	else if (id == PCI_EXT_CAP_ID_ATS && caps->ats_off == 0)
		ext_ats(cfg, pos, caps);
}

static void
parse_ext(const uint8_t *cfg, size_t len, struct usva_pci_caps *caps)
{
	size_t lim = RTE_MIN(len, (size_t)PCI_CFG_SPACE_EXP_SIZE);
	struct visited seen = { { 0 } };
	unsigned int pos = PCI_CFG_SPACE_SIZE;
	uint32_t hdr;

	if (lim < PCI_CFG_SPACE_SIZE + EXT_CAP_HDR) {
		caps->errors |= USVA_PCI_CAPERR_EXT_TRUNC;
		return;
	}
	if (lim == PCI_CFG_SPACE_EXP_SIZE)
		caps->flags |= USVA_PCI_CAP_EXT;
	hdr = rd32(cfg, pos);
	/* 0: no extended capabilities; all ones: the space is not there. */
	if (hdr == 0 || hdr == UINT32_MAX)
		return;
	for (;;) {
		unsigned int next = PCI_EXT_CAP_NEXT(hdr);

		if (!visit(&seen, pos)) {
			caps->errors |= USVA_PCI_CAPERR_EXT_LOOP;
			return;
		}
		caps->nr_ext++;
		ext_cap(cfg, lim, pos, (uint16_t)PCI_EXT_CAP_ID(hdr), caps);
		if (next == 0)
			return;
		if (next < PCI_CFG_SPACE_SIZE) {
			caps->errors |= USVA_PCI_CAPERR_EXT_RANGE;
			return;
		}
		/* next <= 0xffc: a header there always fits the 4 KiB. */
		if (next + EXT_CAP_HDR > lim) {
			caps->errors |= USVA_PCI_CAPERR_EXT_TRUNC;
			return;
		}
		pos = next;
		hdr = rd32(cfg, pos);
	}
}

static const char *
caperr_str(uint32_t errors)
{
	if (errors & USVA_PCI_CAPERR_STD_LOOP)
		return "the standard capability list loops";
	if (errors & USVA_PCI_CAPERR_STD_RANGE)
		return "a standard capability pointer is out of range";
	if (errors & USVA_PCI_CAPERR_EXT_LOOP)
		return "the extended capability list loops";
	if (errors & USVA_PCI_CAPERR_EXT_RANGE)
		return "an extended capability pointer is out of range";
	if (errors & (USVA_PCI_CAPERR_STD_TRUNC | USVA_PCI_CAPERR_EXT_TRUNC))
		return "a capability list runs past the bytes read";
	return "malformed";
}

int
usva_vfio_parse_caps(const uint8_t *cfg, size_t len,
		     struct usva_pci_caps *caps)
{
	if (caps == NULL || cfg == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_parse_caps: NULL %s",
			 caps == NULL ? "caps" : "config space");
		return -EINVAL;
	}
	memset(caps, 0, sizeof(*caps));
	if (len < PCI_STD_HEADER_SIZEOF) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_parse_caps: %zu bytes, the header alone is %u",
			 len, PCI_STD_HEADER_SIZEOF);
		return -EINVAL;
	}
	caps->cfg_len = (uint32_t)RTE_MIN(len, (size_t)PCI_CFG_SPACE_EXP_SIZE);
	caps->vendor_id = rd16(cfg, PCI_VENDOR_ID);
	caps->device_id = rd16(cfg, PCI_DEVICE_ID);
	caps->class_code = rd32(cfg, PCI_CLASS_REVISION) >> 8;
	caps->header_type = cfg[PCI_HEADER_TYPE] & PCI_HEADER_TYPE_MASK;
	if (caps->vendor_id == 0xffff) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_parse_caps: vendor ID 0xffff: no function answers");
		return -ENODEV;
	}
	parse_std(cfg, len, caps);
	if (len > PCI_CFG_SPACE_SIZE)
		parse_ext(cfg, len, caps);
	if (caps->errors) {
		/* The bytes are the device's: rate-limit what it can make us say. */
		USVA_LOG_RATELIMITED(WARNING, vfio,
			"config space of %04x:%04x: %s (errors 0x%x): capabilities past it ignored",
			caps->vendor_id, caps->device_id,
			caperr_str(caps->errors), caps->errors);
		return -EBADMSG;
	}
	return 0;
}
