/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * x86-64 first-stage page-table format, as Intel VT-d scalable mode walks
 * it for first-stage (and nested) translation: the IA-32e 4-level and
 * 5-level paging format.
 *
 * Levels are numbered from the leaf (see usva_pgtable_driver.h):
 *   level 5  PML5E   table only (PS reserved)
 *   level 4  PML4E   table only (PS reserved)
 *   level 3  PDPTE   table, or 1 GiB leaf with PS=1
 *   level 2  PDE     table, or 2 MiB leaf with PS=1
 *   level 1  PTE     4 KiB leaf (bit 7 is PAT there, not PS)
 *
 * Entry bits:
 *    0 P      present
 *    1 R/W    writes allowed (AND over every level of the walk)
 *    2 U/S    user (unprivileged) access allowed (AND over the walk)
 *    3 PWT, 4 PCD  cache attributes (written 0: write-back)
 *    5 A      accessed, set by hardware on any use of the entry
 *    6 D      dirty, set by hardware on a write through a leaf; ignored
 *             in table entries
 *    7 PS     page size at levels 2 and 3; PAT at level 1; reserved at
 *             levels 4 and 5
 *    8 G      global (leaves); ignored in tables
 *    9..11    ignored
 *   12..51    address (large leaves: bit 12 is PAT, the address starts at
 *             bit 21 for 2 MiB and bit 30 for 1 GiB, the bits between are
 *             reserved)
 *   52..62    ignored (protection keys are not enabled)
 *   63 XD     execute disable (OR over the walk)
 *
 * The host address width (HAW) is taken at its architectural maximum, 52
 * bits, so no address bit below 52 is reserved. Everything here is a pure
 * function of its arguments.
 */
#include <errno.h>

#include "usva_pgtable_driver.h"

#define X86_PTE_P	(UINT64_C(1) << 0)
#define X86_PTE_RW	(UINT64_C(1) << 1)
#define X86_PTE_US	(UINT64_C(1) << 2)
#define X86_PTE_PWT	(UINT64_C(1) << 3)
#define X86_PTE_PCD	(UINT64_C(1) << 4)
#define X86_PTE_A	(UINT64_C(1) << 5)
#define X86_PTE_D	(UINT64_C(1) << 6)
#define X86_PTE_PS	(UINT64_C(1) << 7)
#define X86_PTE_G	(UINT64_C(1) << 8)
#define X86_PTE_PAT_LARGE (UINT64_C(1) << 12)
#define X86_PTE_XD	(UINT64_C(1) << 63)

/** Host address width assumed for the reserved-bit checks. */
#define X86_FS_HAW		52
/** Address field of an entry: bits 12 .. HAW-1. */
#define X86_FS_ADDR_MASK	\
	(((UINT64_C(1) << X86_FS_HAW) - 1) & ~((UINT64_C(1) << 12) - 1))

#define X86_FS_PROT_MASK	USVA_PROT_ALL

/* Address bits of a leaf at @level (1, 2 or 3). */
static inline uint64_t
x86_leaf_addr_mask(unsigned int level)
{
	return X86_FS_ADDR_MASK &
	       ~((UINT64_C(1) << usva_pt_level_shift(level)) - 1);
}

/* Bits that must be zero in a leaf at @level 2 or 3: between PAT (12) and
 * the start of the address. */
static inline uint64_t
x86_large_rsvd_mask(unsigned int level)
{
	return X86_FS_ADDR_MASK & ~x86_leaf_addr_mask(level) &
	       ~X86_PTE_PAT_LARGE;
}

/* usva prot expressed by the R/W, U/S and XD bits of an entry. */
static inline uint32_t
x86_prot_of(uint64_t pte)
{
	uint32_t prot = USVA_PROT_READ;

	if (pte & X86_PTE_RW)
		prot |= USVA_PROT_WRITE;
	if (pte & X86_PTE_US)
		prot |= USVA_PROT_USER;
	if (!(pte & X86_PTE_XD))
		prot |= USVA_PROT_EXEC;
	return prot;
}

static int
x86_fs_geometry(uint32_t va_bits, struct usva_pgtable_geometry *g)
{
	if (va_bits != 48 && va_bits != 57)
		return -EINVAL;
	g->va_bits = va_bits;
	g->levels = va_bits == 48 ? 4 : 5;
	g->leaf_levels = (1u << 1) | (1u << 2) | (1u << 3);
	return 0;
}

/* Canonical: bits 63 .. va_bits-1 are copies of one another. */
static int
x86_fs_check_va(const struct usva_pgtable_geometry *g, uint64_t va)
{
	unsigned int sh;
	uint64_t top;

	if (g->va_bits < 13 || g->va_bits > 64)
		return -EINVAL;
	sh = g->va_bits - 1;
	top = va >> sh;		/* bits 63 .. va_bits-1, 65 - va_bits of them */
	if (top == 0 || top == (UINT64_MAX >> sh))
		return 0;
	return -EINVAL;
}

/* Tables grant everything: the leaf alone narrows permissions. */
static uint64_t
x86_fs_make_table(uint64_t table_iova)
{
	return (table_iova & X86_FS_ADDR_MASK) | X86_PTE_P | X86_PTE_RW |
	       X86_PTE_US;
}

/* A leaf with A = D = 0 (hardware sets them) and write-back caching
 * (PWT = PCD = PAT = 0). Returns 0 (not present) for a level that cannot
 * hold a leaf. */
static uint64_t
x86_fs_make_leaf(uint64_t oa, unsigned int level, uint32_t prot)
{
	uint64_t pte;

	if (level < 1 || level > 3)
		return 0;
	pte = (oa & x86_leaf_addr_mask(level)) | X86_PTE_P;
	if (level > 1)
		pte |= X86_PTE_PS;
	if (prot & USVA_PROT_WRITE)
		pte |= X86_PTE_RW;
	if (prot & USVA_PROT_USER)
		pte |= X86_PTE_US;
	if (!(prot & USVA_PROT_EXEC))
		pte |= X86_PTE_XD;
	return pte;
}

static void
x86_fs_decode(uint64_t pte, unsigned int level, struct usva_pte_info *info)
{
	info->type = USVA_PTE_NONE;
	info->prot = 0;
	info->hw = 0;
	info->addr = 0;

	/* Not present: hardware ignores every other bit. */
	if (!(pte & X86_PTE_P))
		return;
	if (level < 1 || level > USVA_PT_MAX_LEVELS) {
		info->type = USVA_PTE_BAD;
		return;
	}

	if (level == 1 || ((level == 2 || level == 3) && (pte & X86_PTE_PS))) {
		if (level > 1 && (pte & x86_large_rsvd_mask(level))) {
			info->type = USVA_PTE_BAD;
			return;
		}
		info->type = USVA_PTE_LEAF;
		info->addr = pte & x86_leaf_addr_mask(level);
		info->prot = x86_prot_of(pte);
		if (pte & X86_PTE_A)
			info->hw |= USVA_PTE_HW_ACCESSED;
		if (pte & X86_PTE_D)
			info->hw |= USVA_PTE_HW_DIRTY;
		return;
	}

	/* PS is reserved in PML4Es and PML5Es. */
	if (pte & X86_PTE_PS) {
		info->type = USVA_PTE_BAD;
		return;
	}
	info->type = USVA_PTE_TABLE;
	info->addr = pte & X86_FS_ADDR_MASK;
	info->prot = x86_prot_of(pte);
	if (pte & X86_PTE_A)
		info->hw |= USVA_PTE_HW_ACCESSED;
}

/* A is set on every entry the walk uses, D on a leaf written through. A
 * not-present entry is never written by hardware. */
static uint64_t
x86_fs_hw_update(uint64_t pte, unsigned int level, bool is_leaf, bool write)
{
	if (!(pte & X86_PTE_P))
		return pte;
	pte |= X86_PTE_A;
	if (is_leaf && write)
		pte |= X86_PTE_D;
	return pte;
}

static const struct usva_pgtable_fmt_ops x86_fs_ops = {
	.name = "x86-fs",
	.format = USVA_PGFMT_X86_FS,
	.prot_mask = X86_FS_PROT_MASK,
	.geometry = x86_fs_geometry,
	.check_va = x86_fs_check_va,
	.make_table = x86_fs_make_table,
	.make_leaf = x86_fs_make_leaf,
	.decode = x86_fs_decode,
	.hw_update = x86_fs_hw_update,
};

USVA_PGTABLE_FMT_REGISTER(x86_fs_ops)
