/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Page-table formats: bit-exact encodings against constants worked out by
 * hand from the architecture specifications, decode round trips, reserved
 * encodings, geometry, address checks, hardware-managed bits, and a
 * random-value sweep of decode.
 */
#include <errno.h>

#include "usva_as.h"
#include "usva_pgtable_driver.h"
#include "test.h"

#define R USVA_PROT_READ
#define W USVA_PROT_WRITE
#define X USVA_PROT_EXEC
#define U USVA_PROT_USER

#define HW_A USVA_PTE_HW_ACCESSED
#define HW_D USVA_PTE_HW_DIRTY

#define SZ_4K  UINT64_C(0x1000)
#define SZ_2M  UINT64_C(0x200000)
#define SZ_1G  UINT64_C(0x40000000)

static const struct usva_pgtable_fmt_ops *
x86_ops(void)
{
	return usva_pgtable_fmt_find(USVA_PGFMT_X86_FS);
}

static const struct usva_pgtable_fmt_ops *
arm_ops(void)
{
	return usva_pgtable_fmt_find(USVA_PGFMT_ARM_LPAE_4K);
}

/* Expect make_leaf(oa, level, prot) == want. */
#define CHECK_LEAF(ops, oa, level, prot, want)				\
	do {								\
		uint64_t got__ = (ops)->make_leaf((oa), (level), (prot)); \
		TEST_ASSERT(got__ == (uint64_t)(want),			\
			    "%s leaf oa 0x%" PRIx64 " L%u prot 0x%x: "	\
			    "0x%016" PRIx64 " != 0x%016" PRIx64,	\
			    (ops)->name, (uint64_t)(oa), (unsigned)(level), \
			    (unsigned)(prot), got__, (uint64_t)(want));	\
	} while (0)

/* Expect decode(pte, level) to give type; addr/prot/hw for TABLE, LEAF. */
#define CHECK_DECODE(ops, pte, level, want_type, want_addr, want_prot,	\
		     want_hw)						\
	do {								\
		struct usva_pte_info i__;				\
		memset(&i__, 0xa5, sizeof(i__));			\
		(ops)->decode((pte), (level), &i__);			\
		TEST_ASSERT(i__.type == (want_type),			\
			    "%s decode 0x%016" PRIx64 " L%u: type %d, want %d", \
			    (ops)->name, (uint64_t)(pte), (unsigned)(level), \
			    (int)i__.type, (int)(want_type));		\
		if ((want_type) == USVA_PTE_TABLE ||			\
		    (want_type) == USVA_PTE_LEAF) {			\
			TEST_ASSERT(i__.addr == (uint64_t)(want_addr),	\
				    "%s decode 0x%016" PRIx64 " L%u: addr " \
				    "0x%" PRIx64 ", want 0x%" PRIx64,	\
				    (ops)->name, (uint64_t)(pte),	\
				    (unsigned)(level), i__.addr,	\
				    (uint64_t)(want_addr));		\
			TEST_ASSERT(i__.prot == (uint32_t)(want_prot),	\
				    "%s decode 0x%016" PRIx64 " L%u: prot " \
				    "0x%x, want 0x%x", (ops)->name,	\
				    (uint64_t)(pte), (unsigned)(level),	\
				    i__.prot, (unsigned)(want_prot));	\
			TEST_ASSERT(i__.hw == (uint32_t)(want_hw),	\
				    "%s decode 0x%016" PRIx64 " L%u: hw " \
				    "0x%x, want 0x%x", (ops)->name,	\
				    (uint64_t)(pte), (unsigned)(level),	\
				    i__.hw, (unsigned)(want_hw));	\
		}							\
	} while (0)

/* Expect decode(pte, level) to give want_type; fields not compared. */
#define CHECK_TYPE(ops, pte, level, want_type)				\
	do {								\
		struct usva_pte_info i__;				\
		(ops)->decode((pte), (level), &i__);			\
		TEST_ASSERT(i__.type == (want_type),			\
			    "%s decode 0x%016" PRIx64 " L%u: type %d, want %d", \
			    (ops)->name, (uint64_t)(pte), (unsigned)(level), \
			    (int)i__.type, (int)(want_type));		\
	} while (0)

USVA_TEST(fast, pgtable_fmt_registered)
{
	const struct usva_pgtable_fmt_ops *x = x86_ops(), *a = arm_ops();

	TEST_ASSERT(x != NULL, "x86 first-stage format not registered");
	TEST_ASSERT(a != NULL, "ARM LPAE format not registered");
	TEST_ASSERT(strcmp(x->name, "x86-fs") == 0, "name %s", x->name);
	TEST_ASSERT(strcmp(a->name, "arm-lpae-4k") == 0, "name %s", a->name);
	TEST_ASSERT_EQ(x->format, USVA_PGFMT_X86_FS, "x86 format id");
	TEST_ASSERT_EQ(a->format, USVA_PGFMT_ARM_LPAE_4K, "ARM format id");
	TEST_ASSERT_EQ(x->prot_mask, R | W | X | U, "x86 prot_mask");
	TEST_ASSERT_EQ(a->prot_mask, R | W | X | U, "ARM prot_mask");
	/* A second registration of the same format is refused. */
	TEST_ASSERT_ERR(usva_pgtable_fmt_register(x), EEXIST);
	TEST_ASSERT_ERR(usva_pgtable_fmt_register(a), EEXIST);
	TEST_ASSERT(usva_pgtable_fmt_find(0) == NULL, "format 0 found");
	return TEST_SUCCESS;
}

/*
 * x86: P=0x1 RW=0x2 US=0x4 A=0x20 D=0x40 PS=0x80 XD=1<<63.
 */
USVA_TEST(fast, pgtable_fmt_x86_encode)
{
	const struct usva_pgtable_fmt_ops *o = x86_ops();

	TEST_ASSERT(o != NULL, "not registered");

	/* Tables: P|RW|US, everything allowed. */
	TEST_ASSERT_EQ(o->make_table(0x7000), 0x7007, "table");
	TEST_ASSERT(o->make_table(UINT64_C(0x000ffffffffff000)) ==
		    UINT64_C(0x000ffffffffff007), "table at top of HAW");

	/* 4 KiB leaves (level 1): no PS; XD unless EXEC. */
	CHECK_LEAF(o, 0x5000, 1, R | W | U, UINT64_C(0x8000000000005007));
	CHECK_LEAF(o, 0x5000, 1, R, UINT64_C(0x8000000000005001));
	CHECK_LEAF(o, 0x5000, 1, R | W, UINT64_C(0x8000000000005003));
	CHECK_LEAF(o, 0x5000, 1, R | U, UINT64_C(0x8000000000005005));
	CHECK_LEAF(o, 0x1000, 1, R | X, UINT64_C(0x0000000000001001));
	CHECK_LEAF(o, 0x1000, 1, R | X | U, UINT64_C(0x0000000000001005));
	CHECK_LEAF(o, UINT64_C(0x123456789000), 1, R | W | X | U,
		   UINT64_C(0x0000123456789007));
	CHECK_LEAF(o, UINT64_C(0x000ffffffffff000), 1, R | W | X | U,
		   UINT64_C(0x000ffffffffff007));
	CHECK_LEAF(o, UINT64_C(0x000ffffffffff000), 1, R,
		   UINT64_C(0x800ffffffffff001));

	/* 2 MiB leaves (level 2): PS. */
	CHECK_LEAF(o, 0x40200000, 2, R | W, UINT64_C(0x8000000040200083));
	CHECK_LEAF(o, 0x200000, 2, R | W | X | U, UINT64_C(0x0000000000200087));
	CHECK_LEAF(o, 0x200000, 2, R, UINT64_C(0x8000000000200081));
	CHECK_LEAF(o, UINT64_C(0x000fffffffe00000), 2, R | X,
		   UINT64_C(0x000fffffffe00081));

	/* 1 GiB leaves (level 3): PS. */
	CHECK_LEAF(o, 0x80000000, 3, R | X | U, UINT64_C(0x0000000080000085));
	CHECK_LEAF(o, 0xc0000000, 3, R, UINT64_C(0x80000000c0000081));
	CHECK_LEAF(o, 0x40000000, 3, R | W | U, UINT64_C(0x8000000040000087));
	CHECK_LEAF(o, UINT64_C(0x000fffffc0000000), 3, R | W | X | U,
		   UINT64_C(0x000fffffc0000087));

	/* No leaf exists at level 4 or 5: not present. */
	TEST_ASSERT_EQ(o->make_leaf(0, 4, R), 0, "leaf at level 4");
	TEST_ASSERT_EQ(o->make_leaf(0, 5, R), 0, "leaf at level 5");
	TEST_ASSERT_EQ(o->make_leaf(0, 0, R), 0, "leaf at level 0");
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_x86_decode)
{
	const struct usva_pgtable_fmt_ops *o = x86_ops();
	unsigned int l;

	TEST_ASSERT(o != NULL, "not registered");

	/* Tables at every level; prot from RW/US/XD, A reported, D ignored. */
	for (l = 2; l <= 5; l++) {
		CHECK_DECODE(o, 0x7007, l, USVA_PTE_TABLE, 0x7000, R | W | X | U, 0);
		CHECK_DECODE(o, 0x7027, l, USVA_PTE_TABLE, 0x7000, R | W | X | U, HW_A);
		CHECK_DECODE(o, 0x7047, l, USVA_PTE_TABLE, 0x7000, R | W | X | U, 0);
		CHECK_DECODE(o, UINT64_C(0x8000000000007005), l, USVA_PTE_TABLE,
			     0x7000, R | U, 0);
		CHECK_DECODE(o, 0x7003, l, USVA_PTE_TABLE, 0x7000, R | W | X, 0);
		CHECK_DECODE(o, 0x7001, l, USVA_PTE_TABLE, 0x7000, R | X, 0);
		/* Ignored bits 8..11 and 52..62. */
		CHECK_DECODE(o, UINT64_C(0x7ff0000000007f07), l, USVA_PTE_TABLE,
			     0x7000, R | W | X | U, 0);
		CHECK_DECODE(o, UINT64_C(0x000ffffffffff007), l, USVA_PTE_TABLE,
			     UINT64_C(0x000ffffffffff000), R | W | X | U, 0);
	}

	/* 4 KiB leaves: bit 7 is PAT, bit 8 G, both fine. */
	CHECK_DECODE(o, UINT64_C(0x8000000000005007), 1, USVA_PTE_LEAF, 0x5000,
		     R | W | U, 0);
	CHECK_DECODE(o, UINT64_C(0x8000000000005067), 1, USVA_PTE_LEAF, 0x5000,
		     R | W | U, HW_A | HW_D);
	CHECK_DECODE(o, UINT64_C(0x8000000000005021), 1, USVA_PTE_LEAF, 0x5000,
		     R, HW_A);
	CHECK_DECODE(o, UINT64_C(0x0000000000005187), 1, USVA_PTE_LEAF, 0x5000,
		     R | W | X | U, 0);
	CHECK_DECODE(o, UINT64_C(0x7ff0000000005001), 1, USVA_PTE_LEAF, 0x5000,
		     R | X, 0);

	/* 2 MiB and 1 GiB leaves; bit 12 is PAT. */
	CHECK_DECODE(o, UINT64_C(0x8000000040200083), 2, USVA_PTE_LEAF,
		     0x40200000, R | W, 0);
	CHECK_DECODE(o, UINT64_C(0x80000000402010e3), 2, USVA_PTE_LEAF,
		     0x40200000, R | W, HW_A | HW_D);
	CHECK_DECODE(o, UINT64_C(0x0000000080000085), 3, USVA_PTE_LEAF,
		     0x80000000, R | X | U, 0);
	CHECK_DECODE(o, UINT64_C(0x00000000800010a5), 3, USVA_PTE_LEAF,
		     0x80000000, R | X | U, HW_A);
	CHECK_DECODE(o, UINT64_C(0x000fffffc0000087), 3, USVA_PTE_LEAF,
		     UINT64_C(0x000fffffc0000000), R | W | X | U, 0);

	/* Not present: everything else is ignored. */
	for (l = 0; l <= 6; l++) {
		CHECK_TYPE(o, 0, l, USVA_PTE_NONE);
		CHECK_TYPE(o, UINT64_C(0xfffffffffffffffe), l, USVA_PTE_NONE);
	}
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_x86_bad)
{
	const struct usva_pgtable_fmt_ops *o = x86_ops();
	/* Reserved between PAT (bit 12) and the address, by hand. */
	const uint64_t rsvd_2m = UINT64_C(0x00000000001fe000);	/* 20:13 */
	const uint64_t rsvd_1g = UINT64_C(0x000000003fffe000);	/* 29:13 */
	unsigned int b;

	TEST_ASSERT(o != NULL, "not registered");

	/* PS is reserved at levels 4 and 5. */
	CHECK_TYPE(o, 0x7087, 4, USVA_PTE_BAD);
	CHECK_TYPE(o, 0x7087, 5, USVA_PTE_BAD);
	CHECK_TYPE(o, UINT64_C(0x8000000040000087), 4, USVA_PTE_BAD);
	CHECK_TYPE(o, UINT64_C(0x8000000040000087), 5, USVA_PTE_BAD);

	/* Reserved low address bits of large leaves. */
	CHECK_TYPE(o, UINT64_C(0x0000000000202087), 2, USVA_PTE_BAD);	/* 13 */
	CHECK_TYPE(o, UINT64_C(0x0000000000300087), 2, USVA_PTE_BAD);	/* 20 */
	CHECK_TYPE(o, UINT64_C(0x0000000040002087), 3, USVA_PTE_BAD);	/* 13 */
	CHECK_TYPE(o, UINT64_C(0x0000000040200087), 3, USVA_PTE_BAD);	/* 21 */
	CHECK_TYPE(o, UINT64_C(0x0000000060000087), 3, USVA_PTE_BAD);	/* 29 */

	/* Levels outside 1..5. */
	CHECK_TYPE(o, 0x7007, 0, USVA_PTE_BAD);
	CHECK_TYPE(o, 0x7007, 6, USVA_PTE_BAD);

	/* Every single bit flipped on a valid large leaf: BAD exactly on the
	 * reserved bits (bit 0 makes it not present, bit 7 a table). */
	for (b = 1; b < 64; b++) {
		uint64_t bit = UINT64_C(1) << b;
		uint64_t l2 = UINT64_C(0x0000000000200083) ^ bit;
		uint64_t l3 = UINT64_C(0x0000000040000083) ^ bit;

		if (b == 7)
			continue;
		CHECK_TYPE(o, l2, 2, (rsvd_2m & bit) ? USVA_PTE_BAD :
			   USVA_PTE_LEAF);
		/* l3 base has bit 30; flipping it clears the address. */
		CHECK_TYPE(o, l3, 3, (rsvd_1g & bit) ? USVA_PTE_BAD :
			   USVA_PTE_LEAF);
		/* 4 KiB leaves and tables have no reserved bit (HAW 52). */
		CHECK_TYPE(o, UINT64_C(0x5001) ^ bit, 1, USVA_PTE_LEAF);
		CHECK_TYPE(o, UINT64_C(0x7001) ^ bit, 4, USVA_PTE_TABLE);
		CHECK_TYPE(o, UINT64_C(0x7001) ^ bit, 3, USVA_PTE_TABLE);
	}
	return TEST_SUCCESS;
}

/* Leaf -> decode gives the same level type, address and prot; A/D clear. */
static int
roundtrip(const struct usva_pgtable_fmt_ops *o, uint64_t addr_limit,
	  uint32_t want_hw)
{
	unsigned int level, n;

	for (level = 1; level <= 3; level++) {
		uint64_t sz = UINT64_C(1) << usva_pt_level_shift(level);
		uint64_t oas[4] = { 0, sz, addr_limit - sz, 0 };

		for (n = 0; n < 32; n++) {
			uint64_t oa;
			uint32_t prot;

			oas[3] = usva_test_rand() % addr_limit & ~(sz - 1);
			oa = oas[n % 4];
			for (prot = 0; prot < 16; prot++) {
				struct usva_pte_info info;
				uint64_t pte;

				if (!(prot & R))
					continue;
				pte = o->make_leaf(oa, level, prot);
				memset(&info, 0x5a, sizeof(info));
				o->decode(pte, level, &info);
				TEST_ASSERT(info.type == USVA_PTE_LEAF,
					    "%s L%u oa 0x%" PRIx64 " prot 0x%x: "
					    "0x%016" PRIx64 " type %d", o->name,
					    level, oa, prot, pte, (int)info.type);
				TEST_ASSERT(info.addr == oa, "%s L%u addr 0x%"
					    PRIx64 " != 0x%" PRIx64, o->name,
					    level, info.addr, oa);
				TEST_ASSERT(info.prot == prot, "%s L%u prot 0x%x"
					    " != 0x%x", o->name, level,
					    info.prot, prot);
				TEST_ASSERT(info.hw == want_hw, "%s L%u hw 0x%x",
					    o->name, level, info.hw);
				/* Not a table, not present elsewhere. */
				if (level == 1) {
					o->decode(pte, 2, &info);
					TEST_ASSERT(info.type != USVA_PTE_LEAF ||
						    o->format == USVA_PGFMT_X86_FS,
						    "ARM page decoded as block");
				}
			}
		}
	}
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_roundtrip)
{
	const struct usva_pgtable_fmt_ops *x = x86_ops(), *a = arm_ops();
	uint64_t t;

	TEST_ASSERT(x != NULL && a != NULL, "formats not registered");
	/* x86 leaves start with A = D = 0; ARM with AF = 1. */
	TEST_ASSERT(roundtrip(x, UINT64_C(1) << 52, 0) == TEST_SUCCESS,
		    "x86 round trip");
	TEST_ASSERT(roundtrip(a, UINT64_C(1) << 48, HW_A) == TEST_SUCCESS,
		    "ARM round trip");

	/* Tables: every level that can hold one. */
	for (t = 0; t < 64; t++) {
		uint64_t iova = (usva_test_rand() & ~UINT64_C(0xfff));
		unsigned int l;

		for (l = 2; l <= 5; l++)
			CHECK_DECODE(x, x->make_table(iova & UINT64_C(0x000ffffffffff000)),
				     l, USVA_PTE_TABLE,
				     iova & UINT64_C(0x000ffffffffff000),
				     R | W | X | U, 0);
		for (l = 2; l <= 4; l++)
			CHECK_DECODE(a, a->make_table(iova & UINT64_C(0x0000fffffffff000)),
				     l, USVA_PTE_TABLE,
				     iova & UINT64_C(0x0000fffffffff000),
				     R | W | X | U, 0);
	}
	return TEST_SUCCESS;
}

/*
 * ARM leaf attributes, by hand: SH inner (0x300) | AF (0x400) | nG (0x800)
 * = 0xf00; AP[1] EL0 = 0x40; AP[2] read-only = 0x80; PXN = 1<<53
 * (0x0020...), UXN = 1<<54 (0x0040...); page 0b11, block 0b01.
 */
USVA_TEST(fast, pgtable_fmt_arm_encode)
{
	const struct usva_pgtable_fmt_ops *o = arm_ops();

	TEST_ASSERT(o != NULL, "not registered");

	TEST_ASSERT_EQ(o->make_table(0x7000), 0x7003, "table");
	TEST_ASSERT(o->make_table(UINT64_C(0x0000fffffffff000)) ==
		    UINT64_C(0x0000fffffffff003), "table at top of OA");

	/* Pages (our level 1 = ARM level 3). */
	CHECK_LEAF(o, 0x5000, 1, R | U | X, UINT64_C(0x0020000000005fc3));
	CHECK_LEAF(o, 0x5000, 1, R, UINT64_C(0x0060000000005f83));
	CHECK_LEAF(o, 0x5000, 1, R | U, UINT64_C(0x0060000000005fc3));
	CHECK_LEAF(o, 0x5000, 1, R | W, UINT64_C(0x0060000000005f03));
	CHECK_LEAF(o, 0x5000, 1, R | W | U, UINT64_C(0x0060000000005f43));
	CHECK_LEAF(o, 0x5000, 1, R | X, UINT64_C(0x0040000000005f83));
	CHECK_LEAF(o, 0x5000, 1, R | W | X, UINT64_C(0x0040000000005f03));
	CHECK_LEAF(o, 0x5000, 1, R | W | X | U, UINT64_C(0x0020000000005f43));
	CHECK_LEAF(o, UINT64_C(0x0000fffffffff000), 1, R | W | X | U,
		   UINT64_C(0x0020fffffffffF43));

	/* 2 MiB blocks (our level 2 = ARM level 2). */
	CHECK_LEAF(o, 0x40200000, 2, R | W, UINT64_C(0x0060000040200f01));
	CHECK_LEAF(o, 0x40200000, 2, R | U | X, UINT64_C(0x0020000040200fc1));
	CHECK_LEAF(o, UINT64_C(0x0000ffffffe00000), 2, R | W | X,
		   UINT64_C(0x0040ffffffe00f01));

	/* 1 GiB blocks (our level 3 = ARM level 1). */
	CHECK_LEAF(o, 0xc0000000, 3, R | X, UINT64_C(0x00400000c0000f81));
	CHECK_LEAF(o, 0x40000000, 3, R | W | X | U, UINT64_C(0x0020000040000f41));
	CHECK_LEAF(o, 0x40000000, 3, R, UINT64_C(0x0060000040000f81));

	/* No block at ARM level 0 (our 4): not valid. */
	TEST_ASSERT_EQ(o->make_leaf(0, 4, R), 0, "leaf at level 4");
	TEST_ASSERT_EQ(o->make_leaf(0, 0, R), 0, "leaf at level 0");
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_arm_decode)
{
	const struct usva_pgtable_fmt_ops *o = arm_ops();
	unsigned int l;

	TEST_ASSERT(o != NULL, "not registered");

	for (l = 2; l <= 4; l++) {
		CHECK_DECODE(o, 0x7003, l, USVA_PTE_TABLE, 0x7000, R | W | X | U, 0);
		/* Ignored bits 11:2 and 58:51; NSTable ignored. */
		CHECK_DECODE(o, UINT64_C(0x87f8000000007ffb), l, USVA_PTE_TABLE,
			     0x7000, R | W | X | U, 0);
		/* APTable[1]: no write; APTable[0]: no EL0; XNTable. */
		CHECK_DECODE(o, UINT64_C(0x4000000000007003), l, USVA_PTE_TABLE,
			     0x7000, R | X | U, 0);
		CHECK_DECODE(o, UINT64_C(0x2000000000007003), l, USVA_PTE_TABLE,
			     0x7000, R | W | X, 0);
		CHECK_DECODE(o, UINT64_C(0x1000000000007003), l, USVA_PTE_TABLE,
			     0x7000, R | W | U, 0);
		CHECK_DECODE(o, UINT64_C(0x0800000000007003), l, USVA_PTE_TABLE,
			     0x7000, R | W | U, 0);
		CHECK_DECODE(o, UINT64_C(0x0000fffffffff003), l, USVA_PTE_TABLE,
			     UINT64_C(0x0000fffffffff000), R | W | X | U, 0);
	}

	/* Pages: AF reported as accessed; AF = 0 is a leaf not accessed. */
	CHECK_DECODE(o, UINT64_C(0x0020000000005fc3), 1, USVA_PTE_LEAF, 0x5000,
		     R | U | X, HW_A);
	CHECK_DECODE(o, UINT64_C(0x0020000000005bc3), 1, USVA_PTE_LEAF, 0x5000,
		     R | U | X, 0);
	CHECK_DECODE(o, UINT64_C(0x0060000000005b03), 1, USVA_PTE_LEAF, 0x5000,
		     R | W, 0);
	/* Execute belongs to the page's privilege: EL0 if AP[1], else EL1. */
	CHECK_DECODE(o, UINT64_C(0x0040000000005f43), 1, USVA_PTE_LEAF, 0x5000,
		     R | W | U, HW_A);		/* UXN only, user page */
	CHECK_DECODE(o, UINT64_C(0x0020000000005f03), 1, USVA_PTE_LEAF, 0x5000,
		     R | W, HW_A);		/* PXN only, privileged page */
	CHECK_DECODE(o, UINT64_C(0x0000000000005f43), 1, USVA_PTE_LEAF, 0x5000,
		     R | W | X | U, HW_A);	/* neither */
	CHECK_DECODE(o, UINT64_C(0x0000000000005f03), 1, USVA_PTE_LEAF, 0x5000,
		     R | W | X, HW_A);
	/* GP (50), DBM (51), contiguous (52), software and PBHA bits, AttrIndx,
	 * NS, SH: not reserved; DBM reports no dirty state (no HD). */
	CHECK_DECODE(o, UINT64_C(0xff9c000000005fff), 1, USVA_PTE_LEAF, 0x5000,
		     R | U | X, HW_A);

	/* Blocks. */
	CHECK_DECODE(o, UINT64_C(0x0060000040200f01), 2, USVA_PTE_LEAF,
		     0x40200000, R | W, HW_A);
	CHECK_DECODE(o, UINT64_C(0x00400000c0000f81), 3, USVA_PTE_LEAF,
		     0xc0000000, R | X, HW_A);
	CHECK_DECODE(o, UINT64_C(0x00400000c0000b81), 3, USVA_PTE_LEAF,
		     0xc0000000, R | X, 0);

	/* Invalid: bit 0 clear, whatever the rest. */
	for (l = 0; l <= 6; l++) {
		CHECK_TYPE(o, 0, l, USVA_PTE_NONE);
		CHECK_TYPE(o, 2, l, USVA_PTE_NONE);
		CHECK_TYPE(o, UINT64_C(0xfffffffffffffffe), l, USVA_PTE_NONE);
	}
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_arm_bad)
{
	const struct usva_pgtable_fmt_ops *o = arm_ops();
	/* By hand: RES0 in tables 50:48; in leaves 49:48 and, in blocks,
	 * the bits between 12 and the block size. */
	const uint64_t res0_table = UINT64_C(0x0007000000000000);
	const uint64_t res0_page = UINT64_C(0x0003000000000000);
	const uint64_t res0_2m = UINT64_C(0x00030000001ff000);
	const uint64_t res0_1g = UINT64_C(0x000300003ffff000);
	unsigned int b;

	TEST_ASSERT(o != NULL, "not registered");

	/* Reserved encodings: block at level 1 (ARM L3), at level 4 (L0). */
	CHECK_TYPE(o, UINT64_C(0x0060000000005f01), 1, USVA_PTE_BAD);
	CHECK_TYPE(o, UINT64_C(0x0060000000000f01), 4, USVA_PTE_BAD);
	CHECK_TYPE(o, 0x1, 1, USVA_PTE_BAD);
	CHECK_TYPE(o, 0x1, 4, USVA_PTE_BAD);
	/* Page encoding at level 2..4 is a table, not a page. */
	CHECK_TYPE(o, UINT64_C(0x0060000000205f03), 2, USVA_PTE_TABLE);
	/* Levels the format does not have. */
	CHECK_TYPE(o, 0x7003, 5, USVA_PTE_BAD);
	CHECK_TYPE(o, 0x7003, 0, USVA_PTE_BAD);
	CHECK_TYPE(o, 0x7003, 6, USVA_PTE_BAD);

	CHECK_TYPE(o, UINT64_C(0x0060000040201f01), 2, USVA_PTE_BAD);	/* 12 */
	CHECK_TYPE(o, UINT64_C(0x0060000040300f01), 2, USVA_PTE_BAD);	/* 20 */
	CHECK_TYPE(o, UINT64_C(0x00600000c0200f01), 3, USVA_PTE_BAD);	/* 21 */
	CHECK_TYPE(o, UINT64_C(0x00600000e0000f01), 3, USVA_PTE_BAD);	/* 29 */
	CHECK_TYPE(o, UINT64_C(0x0061000000005f03), 1, USVA_PTE_BAD);	/* 48 */
	CHECK_TYPE(o, UINT64_C(0x0062000000005f03), 1, USVA_PTE_BAD);	/* 49 */
	CHECK_TYPE(o, UINT64_C(0x0004000000007003), 3, USVA_PTE_BAD);	/* 50 */

	/* Every single bit flipped on a valid entry (bits 1:0 excluded:
	 * they are the type). */
	for (b = 2; b < 64; b++) {
		uint64_t bit = UINT64_C(1) << b;

		CHECK_TYPE(o, UINT64_C(0x7003) ^ bit, 4, (res0_table & bit) ?
			   USVA_PTE_BAD : USVA_PTE_TABLE);
		CHECK_TYPE(o, UINT64_C(0x7003) ^ bit, 2, (res0_table & bit) ?
			   USVA_PTE_BAD : USVA_PTE_TABLE);
		CHECK_TYPE(o, UINT64_C(0x0060000000005f03) ^ bit, 1,
			   (res0_page & bit) ? USVA_PTE_BAD : USVA_PTE_LEAF);
		CHECK_TYPE(o, UINT64_C(0x0060000000200f01) ^ bit, 2,
			   (res0_2m & bit) ? USVA_PTE_BAD : USVA_PTE_LEAF);
		CHECK_TYPE(o, UINT64_C(0x0060000040000f01) ^ bit, 3,
			   (res0_1g & bit) ? USVA_PTE_BAD : USVA_PTE_LEAF);
	}
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_geometry)
{
	const struct usva_pgtable_fmt_ops *x = x86_ops(), *a = arm_ops();
	struct usva_pgtable_geometry g;
	uint32_t vb;

	TEST_ASSERT(x != NULL && a != NULL, "formats not registered");

	for (vb = 0; vb <= 70; vb++) {
		memset(&g, 0, sizeof(g));
		if (vb == 48 || vb == 57) {
			TEST_ASSERT_OK(x->geometry(vb, &g));
			TEST_ASSERT_EQ(g.va_bits, vb, "x86 va_bits");
			TEST_ASSERT_EQ(g.levels, vb == 48 ? 4 : 5, "x86 levels");
			TEST_ASSERT_EQ(g.leaf_levels, 0xe, "x86 leaf levels");
		} else {
			TEST_ASSERT_ERR(x->geometry(vb, &g), EINVAL);
		}
	}

	/* ARM: start level 0 for 40..48, 1 for 31..39, 2 for 25..30. */
	for (vb = 0; vb <= 70; vb++) {
		memset(&g, 0, sizeof(g));
		if (vb < 25 || vb > 48) {
			TEST_ASSERT_ERR(a->geometry(vb, &g), EINVAL);
			continue;
		}
		TEST_ASSERT_OK(a->geometry(vb, &g));
		TEST_ASSERT_EQ(g.va_bits, vb, "ARM va_bits");
		TEST_ASSERT_EQ(g.levels, vb >= 40 ? 4 : vb >= 31 ? 3 : 2,
			       "ARM levels for va_bits %u", vb);
		TEST_ASSERT_EQ(g.leaf_levels, vb >= 31 ? 0xe : 0x6,
			       "ARM leaf levels for va_bits %u", vb);
	}
	/* The examples, spelled out. */
	TEST_ASSERT_OK(a->geometry(48, &g));
	TEST_ASSERT_EQ(g.levels, 4, "48");
	TEST_ASSERT_OK(a->geometry(39, &g));
	TEST_ASSERT_EQ(g.levels, 3, "39");
	TEST_ASSERT_OK(a->geometry(32, &g));
	TEST_ASSERT_EQ(g.levels, 3, "32");
	TEST_ASSERT_OK(a->geometry(30, &g));
	TEST_ASSERT_EQ(g.levels, 2, "30");
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_check_va)
{
	const struct usva_pgtable_fmt_ops *x = x86_ops(), *a = arm_ops();
	struct usva_pgtable_geometry g48, g57, g;
	uint32_t vb;

	TEST_ASSERT(x != NULL && a != NULL, "formats not registered");
	TEST_ASSERT_OK(x->geometry(48, &g48));
	TEST_ASSERT_OK(x->geometry(57, &g57));

	TEST_ASSERT_OK(x->check_va(&g48, 0));
	TEST_ASSERT_OK(x->check_va(&g48, UINT64_C(0x00007fffffffffff)));
	TEST_ASSERT_ERR(x->check_va(&g48, UINT64_C(0x0000800000000000)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g48, UINT64_C(0x0001000000000000)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g48, UINT64_C(0x7fffffffffffffff)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g48, UINT64_C(0x8000000000000000)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g48, UINT64_C(0xffff7fffffffffff)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g48, UINT64_C(0xfffe800000000000)), EINVAL);
	TEST_ASSERT_OK(x->check_va(&g48, UINT64_C(0xffff800000000000)));
	TEST_ASSERT_OK(x->check_va(&g48, UINT64_C(0xffffffffffffffff)));

	TEST_ASSERT_OK(x->check_va(&g57, 0));
	TEST_ASSERT_OK(x->check_va(&g57, UINT64_C(0x0000800000000000)));
	TEST_ASSERT_OK(x->check_va(&g57, UINT64_C(0x00ffffffffffffff)));
	TEST_ASSERT_ERR(x->check_va(&g57, UINT64_C(0x0100000000000000)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g57, UINT64_C(0x7fffffffffffffff)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g57, UINT64_C(0x8000000000000000)), EINVAL);
	TEST_ASSERT_ERR(x->check_va(&g57, UINT64_C(0xfeffffffffffffff)), EINVAL);
	TEST_ASSERT_OK(x->check_va(&g57, UINT64_C(0xff00000000000000)));
	TEST_ASSERT_OK(x->check_va(&g57, UINT64_C(0xffff800000000000)));
	TEST_ASSERT_OK(x->check_va(&g57, UINT64_C(0xffffffffffffffff)));

	for (vb = 25; vb <= 48; vb++) {
		uint64_t lim = UINT64_C(1) << vb;

		TEST_ASSERT_OK(a->geometry(vb, &g));
		TEST_ASSERT_OK(a->check_va(&g, 0));
		TEST_ASSERT_OK(a->check_va(&g, lim - 1));
		TEST_ASSERT_ERR(a->check_va(&g, lim), ERANGE);
		TEST_ASSERT_ERR(a->check_va(&g, lim | (lim - 1)), ERANGE);
		TEST_ASSERT_ERR(a->check_va(&g, UINT64_C(0xffff000000000000)),
				ERANGE);
		TEST_ASSERT_ERR(a->check_va(&g, UINT64_MAX), ERANGE);
	}
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_hw_update)
{
	const struct usva_pgtable_fmt_ops *x = x86_ops(), *a = arm_ops();
	unsigned int l, n;

	TEST_ASSERT(x != NULL && a != NULL, "formats not registered");

	/* x86 table: A only, read or write. */
	for (l = 2; l <= 5; l++) {
		TEST_ASSERT_EQ(x->hw_update(0x7007, l, false, false), 0x7027,
			       "table read L%u", l);
		TEST_ASSERT_EQ(x->hw_update(0x7007, l, false, true), 0x7027,
			       "table write L%u", l);
	}
	/* x86 leaves: A on read; A|D on write. */
	TEST_ASSERT(x->hw_update(UINT64_C(0x8000000000005007), 1, true, false) ==
		    UINT64_C(0x8000000000005027), "4K leaf read");
	TEST_ASSERT(x->hw_update(UINT64_C(0x8000000000005007), 1, true, true) ==
		    UINT64_C(0x8000000000005067), "4K leaf write");
	TEST_ASSERT(x->hw_update(UINT64_C(0x8000000040200083), 2, true, false) ==
		    UINT64_C(0x80000000402000a3), "2M leaf read");
	TEST_ASSERT(x->hw_update(UINT64_C(0x8000000040200083), 2, true, true) ==
		    UINT64_C(0x80000000402000e3), "2M leaf write");
	TEST_ASSERT(x->hw_update(UINT64_C(0x0000000080000087), 3, true, true) ==
		    UINT64_C(0x00000000800000e7), "1G leaf write");
	/* Already set: idempotent. */
	TEST_ASSERT(x->hw_update(UINT64_C(0x8000000000005067), 1, true, false) ==
		    UINT64_C(0x8000000000005067), "leaf with A|D");
	/* Not present: hardware writes nothing. */
	TEST_ASSERT_EQ(x->hw_update(0x5006, 1, true, true), 0x5006, "not present");
	/* And decode sees what was set. */
	CHECK_DECODE(x, x->hw_update(x->make_leaf(0x5000, 1, R | W), 1, true, true),
		     1, USVA_PTE_LEAF, 0x5000, R | W, HW_A | HW_D);
	CHECK_DECODE(x, x->hw_update(x->make_leaf(0x200000, 2, R), 2, true, false),
		     2, USVA_PTE_LEAF, 0x200000, R, HW_A);
	CHECK_DECODE(x, x->hw_update(x->make_table(0x7000), 4, false, true),
		     4, USVA_PTE_TABLE, 0x7000, R | W | X | U, HW_A);

	/* ARM: no hardware management; every entry comes back unchanged. */
	for (n = 0; n < 1000; n++) {
		uint64_t pte = usva_test_rand();

		for (l = 1; l <= 4; l++) {
			TEST_ASSERT(a->hw_update(pte, l, l == 1, n & 1) == pte,
				    "ARM hw_update changed 0x%016" PRIx64, pte);
			TEST_ASSERT(a->hw_update(pte, l, false, false) == pte,
				    "ARM hw_update changed 0x%016" PRIx64, pte);
		}
	}
	TEST_ASSERT(a->hw_update(UINT64_C(0x0060000000005b03), 1, true, true) ==
		    UINT64_C(0x0060000000005b03), "ARM AF=0 leaf");
	return TEST_SUCCESS;
}

/*
 * Decode of random values: only the four types, NONE exactly when bit 0 is
 * clear, tables only above level 1, leaves only at 1..3, fields well
 * formed, and a leaf re-encodes to the same meaning.
 */
static int
fuzz_one(const struct usva_pgtable_fmt_ops *o, uint64_t pte, unsigned int level,
	 uint64_t addr_mask, uint32_t hw_mask)
{
	struct usva_pte_info info, again;
	uint64_t sz;

	memset(&info, 0x77, sizeof(info));
	o->decode(pte, level, &info);
	TEST_ASSERT(info.type == USVA_PTE_NONE || info.type == USVA_PTE_TABLE ||
		    info.type == USVA_PTE_LEAF || info.type == USVA_PTE_BAD,
		    "%s 0x%016" PRIx64 " L%u: type %d", o->name, pte, level,
		    (int)info.type);
	TEST_ASSERT((info.type == USVA_PTE_NONE) == !(pte & 1),
		    "%s 0x%016" PRIx64 " L%u: type %d", o->name, pte, level,
		    (int)info.type);
	if (info.type == USVA_PTE_NONE || info.type == USVA_PTE_BAD)
		return TEST_SUCCESS;
	TEST_ASSERT((info.prot & R) && !(info.prot & ~(R | W | X | U)),
		    "%s 0x%016" PRIx64 " L%u: prot 0x%x", o->name, pte, level,
		    info.prot);
	TEST_ASSERT(!(info.hw & ~hw_mask), "%s 0x%016" PRIx64 " L%u: hw 0x%x",
		    o->name, pte, level, info.hw);
	if (info.type == USVA_PTE_TABLE) {
		TEST_ASSERT(level >= 2 && level <= USVA_PT_MAX_LEVELS,
			    "%s table at L%u", o->name, level);
		TEST_ASSERT(!(info.addr & ~addr_mask), "%s table addr 0x%"
			    PRIx64, o->name, info.addr);
		TEST_ASSERT(info.addr == (pte & addr_mask), "%s table addr",
			    o->name);
		return TEST_SUCCESS;
	}
	TEST_ASSERT(level >= 1 && level <= 3, "%s leaf at L%u", o->name, level);
	sz = UINT64_C(1) << usva_pt_level_shift(level);
	TEST_ASSERT(!(info.addr & ~addr_mask) && !(info.addr & (sz - 1)),
		    "%s leaf addr 0x%" PRIx64 " L%u", o->name, info.addr, level);
	o->decode(o->make_leaf(info.addr, level, info.prot), level, &again);
	TEST_ASSERT(again.type == USVA_PTE_LEAF && again.addr == info.addr &&
		    again.prot == info.prot, "%s 0x%016" PRIx64 " L%u does not "
		    "re-encode", o->name, pte, level);
	return TEST_SUCCESS;
}

USVA_TEST(fast, pgtable_fmt_decode_fuzz)
{
	const struct usva_pgtable_fmt_ops *x = x86_ops(), *a = arm_ops();
	unsigned int n, l;
	unsigned int seen[2][4] = { { 0 } };

	TEST_ASSERT(x != NULL && a != NULL, "formats not registered");
	for (n = 0; n < 100000; n++) {
		uint64_t pte = usva_test_rand();

		/* Bias half the values toward sane-looking entries so that
		 * leaves and tables come up often, not only BAD. */
		if (n & 1)
			pte &= usva_test_rand() | UINT64_C(0x8000000000000fff);
		for (l = 0; l <= 6; l++) {
			struct usva_pte_info i;

			TEST_ASSERT(fuzz_one(x, pte, l, UINT64_C(0x000ffffffffff000),
					     HW_A | HW_D) == TEST_SUCCESS, "x86");
			TEST_ASSERT(fuzz_one(a, pte & ~(UINT64_C(3) << 48), l,
					     UINT64_C(0x0000fffffffff000), HW_A) ==
				    TEST_SUCCESS, "ARM");
			x->decode(pte, l, &i);
			seen[0][i.type]++;
			a->decode(pte & ~(UINT64_C(7) << 48), l, &i);
			seen[1][i.type]++;
		}
	}
	/* The sweep reached every type in both formats. */
	for (n = 0; n < 2; n++)
		for (l = 0; l < 4; l++)
			TEST_ASSERT(seen[n][l] > 0, "format %u never decoded type %u",
				    n, l);
	return TEST_SUCCESS;
}
