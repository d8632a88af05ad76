/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Page-table format driver interface (driver tier).
 *
 * A format driver (drivers/iommu_nested/pgtable) describes how one hardware
 * table format encodes entries; lib/pasid walks and edits tables through
 * these ops, and the emu IOMMU walks them as hardware would, with the same
 * code. Formats register from a constructor (USVA_PGTABLE_FMT_REGISTER), as
 * DPDK drivers do; lib/pasid never includes a driver header.
 *
 * Levels are numbered from the leaf: level 1 holds 4 KiB leaves, level 2
 * maps 2 MiB per entry, level 3 1 GiB, level 4 512 GiB, level 5 256 TiB.
 * Every level of both formats indexes 9 bits of the address (the top level
 * may use fewer): entry size 8 bytes, table size 4 KiB.
 */
#ifndef USVA_PGTABLE_DRIVER_H
#define USVA_PGTABLE_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "usva_as.h"

#ifdef __cplusplus
extern "C" {
#endif

#define USVA_PT_ENTRIES		512u	/**< entries per table page */
#define USVA_PT_MAX_LEVELS	5u	/**< most table levels (x86 5-level) */

/** Address bits translated below @p level (12, 21, 30, 39, 48). */
static inline unsigned int
usva_pt_level_shift(unsigned int level)
{
	return 12 + 9 * (level - 1);
}

/** What an entry is. */
enum usva_pte_type {
	USVA_PTE_NONE = 0,	/**< not present */
	USVA_PTE_TABLE,		/**< points at a next-level table */
	USVA_PTE_LEAF,		/**< maps a page or block */
	USVA_PTE_BAD,		/**< present, but reserved bits or an encoding
				 *   the level forbids: hardware faults */
};

/** @name Hardware-managed bits reported by decode
 * @{ */
#define USVA_PTE_HW_ACCESSED	(1u << 0)	/**< the walker sets the accessed bit */
#define USVA_PTE_HW_DIRTY	(1u << 1)	/**< the walker sets the dirty bit */
/** @} */

/** A decoded entry. */
struct usva_pte_info {
	enum usva_pte_type type;	/**< what the entry is */
	uint32_t prot;	/**< leaf: its USVA_PROT_*; table: the most it allows
			 *   below it (hierarchical permission) */
	uint32_t hw;	/**< USVA_PTE_HW_* bits set in the entry */
	uint64_t addr;	/**< table: its IOVA; leaf: output address of the
			 *   page or block (aligned to its size) */
};

/** Shape of a table for one va_bits. */
struct usva_pgtable_geometry {
	uint32_t va_bits;	/**< input address bits */
	uint32_t levels;	/**< top level number (root table's level) */
	uint32_t leaf_levels;	/**< bit L set: leaves allowed at level L */
};

/** A table format: how entries are encoded. All ops are pure functions. */
struct usva_pgtable_fmt_ops {
	const char *name;	/**< "x86-fs", "arm-lpae-4k" */
	uint32_t format;	/**< enum usva_pgfmt */
	uint32_t prot_mask;	/**< USVA_PROT_* bits the format can express */

	/**
	 * Shape of a table translating @p va_bits.
	 * @return 0, or -EINVAL if the format has no such width.
	 */
	int (*geometry)(uint32_t va_bits, struct usva_pgtable_geometry *g);

	/**
	 * Is @p va translatable?
	 * @return 0; -EINVAL (non-canonical); -ERANGE (beyond va_bits).
	 */
	int (*check_va)(const struct usva_pgtable_geometry *g, uint64_t va);

	/** Entry pointing at the table at @p table_iova (4 KiB aligned). */
	uint64_t (*make_table)(uint64_t table_iova);

	/**
	 * Leaf entry at @p level mapping @p oa (aligned to the level's size)
	 * with @p prot (READ set, within prot_mask). Hardware-managed bits
	 * (accessed, dirty) start clear where hardware manages them.
	 */
	uint64_t (*make_leaf)(uint64_t oa, unsigned int level, uint32_t prot);

	/** Decode an entry found at @p level. */
	void (*decode)(uint64_t pte, unsigned int level,
		       struct usva_pte_info *info);

	/**
	 * The entry as hardware leaves it after using it for an access
	 * (@p write: a write through a leaf): accessed and dirty bits set
	 * where the format has hardware management. Unchanged otherwise.
	 */
	uint64_t (*hw_update)(uint64_t pte, unsigned int level, bool is_leaf,
			      bool write);
};

/**
 * Register a format. Called from constructors.
 * @return 0; -EEXIST (format already registered); -EINVAL (incomplete ops).
 */
int usva_pgtable_fmt_register(const struct usva_pgtable_fmt_ops *ops);

/** The ops of a registered format, or NULL. */
const struct usva_pgtable_fmt_ops *usva_pgtable_fmt_find(uint32_t format);

/** Register @p ops at load time. */
#define USVA_PGTABLE_FMT_REGISTER(ops)					\
	RTE_INIT(usva_pgtable_fmt_init_##ops)				\
	{								\
		usva_pgtable_fmt_register(&(ops));			\
	}

#ifdef __cplusplus
}
#endif

#endif /* USVA_PGTABLE_DRIVER_H */
