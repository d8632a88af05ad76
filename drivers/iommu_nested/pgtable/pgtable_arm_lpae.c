/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ARM VMSAv8-64 stage-1 page-table format, 4 KiB granule, 48-bit output
 * addresses: the table an SMMUv3 context descriptor's TTB0 points at, with
 * T0SZ = 64 - va_bits. Only the TTBR0 (low) half of the input range exists.
 *
 * Levels are numbered from the leaf (see usva_pgtable_driver.h), ARM's
 * lookup levels from the root:
 *   our level 4 = ARM level 0   table only (a block is a reserved encoding)
 *   our level 3 = ARM level 1   table, or 1 GiB block
 *   our level 2 = ARM level 2   table, or 2 MiB block
 *   our level 1 = ARM level 3   4 KiB page (0b01 is a reserved encoding)
 *
 * bits[1:0]: x0 invalid; 11 table (levels 2..4) or page (level 1); 01 block.
 *
 * Table descriptor:
 *   47:12 next-level table address; 50:48 RES0; 58:51 and 11:2 ignored;
 *   59 PXNTable, 60 UXNTable, 62:61 APTable, 63 NSTable (ignored for a
 *   non-secure stream). usva writes none of the attribute bits.
 *
 * Page / block descriptor:
 *    4:2 AttrIndx (MAIR index; 0 = normal write-back memory)
 *      5 NS (ignored for a non-secure stream)
 *    7:6 AP[2:1]: AP[2] = read-only, AP[1] = EL0 (unprivileged) access
 *    9:8 SH (0b11 inner shareable)
 *     10 AF access flag
 *     11 nG not global (tagged with the ASID)
 *  47:12 output address (block: 47:21 or 47:30, the bits below RES0)
 *  49:48 RES0
 *  50 GP, 51 DBM, 52 Contiguous, 55..58 software, 59..62 PBHA: not used
 *     53 PXN, 54 UXN
 *
 * Everything here is a pure function of its arguments.
 */
#include <errno.h>

#include "usva_pgtable_driver.h"

#define ARM_PTE_VALID		(UINT64_C(1) << 0)
#define ARM_PTE_TYPE_MASK	UINT64_C(3)
#define ARM_PTE_TYPE_BLOCK	UINT64_C(1)
#define ARM_PTE_TYPE_TABLE	UINT64_C(3)	/* and page, at level 1 */

#define ARM_PTE_ATTRINDX_SHIFT	2
#define ARM_PTE_ATTRINDX_NORMAL	UINT64_C(0)	/* MAIR attribute index */
#define ARM_PTE_AP_UNPRIV	(UINT64_C(1) << 6)	/* AP[1] */
#define ARM_PTE_AP_RDONLY	(UINT64_C(1) << 7)	/* AP[2] */
#define ARM_PTE_SH_IS		(UINT64_C(3) << 8)
#define ARM_PTE_AF		(UINT64_C(1) << 10)
#define ARM_PTE_NG		(UINT64_C(1) << 11)
#define ARM_PTE_PXN		(UINT64_C(1) << 53)
#define ARM_PTE_UXN		(UINT64_C(1) << 54)

#define ARM_TABLE_PXN		(UINT64_C(1) << 59)
#define ARM_TABLE_UXN		(UINT64_C(1) << 60)
#define ARM_TABLE_AP_NO_EL0	(UINT64_C(1) << 61)	/* APTable[0] */
#define ARM_TABLE_AP_RDONLY	(UINT64_C(1) << 62)	/* APTable[1] */

/** Output address size of the model. */
#define ARM_LPAE_OA_BITS	48
/** Address field: bits 12 .. 47. */
#define ARM_LPAE_ADDR_MASK	\
	(((UINT64_C(1) << ARM_LPAE_OA_BITS) - 1) & ~((UINT64_C(1) << 12) - 1))
/** RES0 above the address: 50:48 in table descriptors, 49:48 in leaves. */
#define ARM_TABLE_RES0_HI	(UINT64_C(7) << 48)
#define ARM_LEAF_RES0_HI	(UINT64_C(3) << 48)

#define ARM_VA_BITS_MIN		25
#define ARM_VA_BITS_MAX		48

/* Attributes common to every leaf usva writes. */
#define ARM_LEAF_ATTRS		\
	((ARM_PTE_ATTRINDX_NORMAL << ARM_PTE_ATTRINDX_SHIFT) | \
	 ARM_PTE_SH_IS | ARM_PTE_AF | ARM_PTE_NG)

static inline uint64_t
arm_leaf_addr_mask(unsigned int level)
{
	return ARM_LPAE_ADDR_MASK &
	       ~((UINT64_C(1) << usva_pt_level_shift(level)) - 1);
}

static int
arm_lpae_geometry(uint32_t va_bits, struct usva_pgtable_geometry *g)
{
	if (va_bits < ARM_VA_BITS_MIN || va_bits > ARM_VA_BITS_MAX)
		return -EINVAL;
	g->va_bits = va_bits;
	/* 9 bits per level above the 12-bit page offset, rounded up: the
	 * root table indexes what is left (start level 0, 1 or 2). */
	g->levels = (va_bits - 12 + 8) / 9;
	/* Pages at level 1, blocks at levels 2 and 3 where they exist. */
	g->leaf_levels = (1u << 1) | (1u << 2);
	if (g->levels >= 3)
		g->leaf_levels |= 1u << 3;
	return 0;
}

/* TTBR0 only: any address at or past 2^va_bits is outside the table. */
static int
arm_lpae_check_va(const struct usva_pgtable_geometry *g, uint64_t va)
{
	if (g->va_bits >= 64)
		return 0;
	return (va >> g->va_bits) == 0 ? 0 : -ERANGE;
}

/* No APTable / XNTable / NSTable restriction: the leaf alone decides. */
static uint64_t
arm_lpae_make_table(uint64_t table_iova)
{
	return (table_iova & ARM_LPAE_ADDR_MASK) | ARM_PTE_TYPE_TABLE;
}

/*
 * Leaf permissions. AP[2] = !WRITE, AP[1] = USER. Execute permission
 * belongs to the privilege the page is for: a user page is executable by
 * EL0 only (PXN), a privileged one by EL1 only (UXN), and a page without
 * EXEC by nobody. AF is set here: the model has no hardware access-flag
 * management. Returns 0 (invalid) for a level that cannot hold a leaf.
 */
static uint64_t
arm_lpae_make_leaf(uint64_t oa, unsigned int level, uint32_t prot)
{
	uint64_t pte;

	if (level < 1 || level > 3)
		return 0;
	pte = (oa & arm_leaf_addr_mask(level)) | ARM_LEAF_ATTRS;
	pte |= level == 1 ? ARM_PTE_TYPE_TABLE : ARM_PTE_TYPE_BLOCK;
	if (!(prot & USVA_PROT_WRITE))
		pte |= ARM_PTE_AP_RDONLY;
	if (prot & USVA_PROT_USER)
		pte |= ARM_PTE_AP_UNPRIV;
	if (!(prot & USVA_PROT_EXEC))
		pte |= ARM_PTE_PXN | ARM_PTE_UXN;
	else if (prot & USVA_PROT_USER)
		pte |= ARM_PTE_PXN;
	else
		pte |= ARM_PTE_UXN;
	return pte;
}

/* Inverse of make_leaf's permission encoding; EXEC is reported when the
 * privilege the page is for (EL0 if AP[1], else EL1) may execute it. */
static inline uint32_t
arm_leaf_prot(uint64_t pte)
{
	uint32_t prot = USVA_PROT_READ;

	if (!(pte & ARM_PTE_AP_RDONLY))
		prot |= USVA_PROT_WRITE;
	if (pte & ARM_PTE_AP_UNPRIV) {
		prot |= USVA_PROT_USER;
		if (!(pte & ARM_PTE_UXN))
			prot |= USVA_PROT_EXEC;
	} else if (!(pte & ARM_PTE_PXN)) {
		prot |= USVA_PROT_EXEC;
	}
	return prot;
}

/* Hierarchical limits of a table descriptor. usva never sets them; they are
 * decoded so a walker never grants more than hardware would. A one-sided
 * XNTable (PXNTable or UXNTable alone) cannot be expressed as one prot
 * mask: it is taken to forbid execution below, erring on the side of a
 * fault. */
static inline uint32_t
arm_table_prot(uint64_t pte)
{
	uint32_t prot = USVA_PROT_ALL;

	if (pte & ARM_TABLE_AP_RDONLY)
		prot &= ~USVA_PROT_WRITE;
	if (pte & ARM_TABLE_AP_NO_EL0)
		prot &= ~USVA_PROT_USER;
	if (pte & (ARM_TABLE_PXN | ARM_TABLE_UXN))
		prot &= ~USVA_PROT_EXEC;
	return prot;
}

static void
arm_lpae_decode(uint64_t pte, unsigned int level, struct usva_pte_info *info)
{
	uint64_t type = pte & ARM_PTE_TYPE_MASK;

	info->type = USVA_PTE_NONE;
	info->prot = 0;
	info->hw = 0;
	info->addr = 0;

	/* Invalid: hardware ignores every other bit. */
	if (!(pte & ARM_PTE_VALID))
		return;
	if (level < 1 || level > 4) {
		info->type = USVA_PTE_BAD;
		return;
	}

	if (type == ARM_PTE_TYPE_TABLE && level > 1) {
		if (pte & ARM_TABLE_RES0_HI) {
			info->type = USVA_PTE_BAD;
			return;
		}
		info->type = USVA_PTE_TABLE;
		info->addr = pte & ARM_LPAE_ADDR_MASK;
		info->prot = arm_table_prot(pte);
		return;
	}

	/* Page at level 1, block at 2 or 3; anything else is reserved. */
	if (type == ARM_PTE_TYPE_BLOCK && (level == 1 || level == 4)) {
		info->type = USVA_PTE_BAD;
		return;
	}
	if (pte & (ARM_LEAF_RES0_HI |
		   (ARM_LPAE_ADDR_MASK & ~arm_leaf_addr_mask(level)))) {
		info->type = USVA_PTE_BAD;
		return;
	}
	info->type = USVA_PTE_LEAF;
	info->addr = pte & arm_leaf_addr_mask(level);
	info->prot = arm_leaf_prot(pte);
	if (pte & ARM_PTE_AF)
		info->hw |= USVA_PTE_HW_ACCESSED;
}

/* No hardware access-flag or dirty-state management in this model: an
 * entry is never written by the walker. */
static uint64_t
arm_lpae_hw_update(uint64_t pte, unsigned int level, bool is_leaf, bool write)
{
	return pte;
}

static const struct usva_pgtable_fmt_ops arm_lpae_ops = {
	.name = "arm-lpae-4k",
	.format = USVA_PGFMT_ARM_LPAE_4K,
	.prot_mask = USVA_PROT_ALL,
	.geometry = arm_lpae_geometry,
	.check_va = arm_lpae_check_va,
	.make_table = arm_lpae_make_table,
	.make_leaf = arm_lpae_make_leaf,
	.decode = arm_lpae_decode,
	.hw_update = arm_lpae_hw_update,
};

USVA_PGTABLE_FMT_REGISTER(arm_lpae_ops)
