/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Address spaces: argument checks, page sizes, split and merge, the bits in
 * memory, a differential test against a flat reference map, fail-nth, two
 * lcores at once, and the map/unmap rate.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <rte_launch.h>
#include <rte_lcore.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_page_pool.h"
#include "usva_struct.h"
#include "test.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)
#define RW	(USVA_PROT_READ | USVA_PROT_WRITE)
#define RWU	(RW | USVA_PROT_USER)

static const struct {
	uint32_t format;
	uint32_t va_bits;
	const char *name;
} formats[] = {
	{ USVA_PGFMT_X86_FS, 48, "x86-fs/48" },
	{ USVA_PGFMT_X86_FS, 57, "x86-fs/57" },
	{ USVA_PGFMT_ARM_LPAE_4K, 48, "arm-lpae/48" },
	{ USVA_PGFMT_ARM_LPAE_4K, 39, "arm-lpae/39" },
};

static int
as_new(uint32_t format, uint32_t va_bits, uint32_t granule_shift,
       struct usva_as **as)
{
	struct usva_as_config cfg = {
		.size = sizeof(cfg),
		.format = format,
		.va_bits = va_bits,
		.granule_shift = granule_shift,
	};

	return usva_as_create(&cfg, as);
}

static uint64_t
pool_in_use(void)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(usva_page_pool_default(), &st);
	return st.in_use;
}

/* ---- configuration ------------------------------------------------------ */

USVA_TEST(fast, as_config_checks)
{
	struct {
		struct usva_as_config cfg;
		uint8_t tail[16];
	} big;
	struct usva_as_config cfg;
	struct usva_as *as = NULL;
	uint64_t in_use = pool_in_use();

#define CFG_RESET() do {						\
		memset(&cfg, 0, sizeof(cfg));				\
		cfg.size = sizeof(cfg);					\
		cfg.format = USVA_PGFMT_X86_FS;				\
		cfg.va_bits = 48;					\
	} while (0)

	CFG_RESET();
	TEST_ASSERT_ERR(usva_as_create(NULL, &as), EFAULT);
	TEST_ASSERT_ERR(usva_as_create(&cfg, NULL), EINVAL);
	cfg.size = USVA_OFFSETOFEND(struct usva_as_config, va_bits) - 1;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.flags = 1;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EOPNOTSUPP);
	CFG_RESET();
	cfg.reserved0 = 1;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.reserved[1] = 1;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.format = 99;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.va_bits = 39;	/* x86 first stage is 4- or 5-level only */
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.format = USVA_PGFMT_ARM_LPAE_4K;
	cfg.va_bits = 49;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.page_sizes = USVA_PGSIZE_2M;	/* 4 KiB is required */
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.page_sizes = USVA_PGSIZE_4K | (UINT64_C(1) << 16);
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.granule_shift = 11;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	CFG_RESET();
	cfg.granule_shift = 49;
	TEST_ASSERT_ERR(usva_as_create(&cfg, &as), EINVAL);
	TEST_ASSERT_EQ(pool_in_use(), in_use, "a failed create kept pages");

	/* A newer caller's larger struct: fine with a zero tail... */
	memset(&big, 0, sizeof(big));
	big.cfg.size = sizeof(big);
	big.cfg.format = USVA_PGFMT_X86_FS;
	big.cfg.va_bits = 48;
	TEST_ASSERT_OK(usva_as_create(&big.cfg, &as));
	usva_as_destroy(as);
	/* ...and -E2BIG with anything in it. */
	big.tail[9] = 1;
	TEST_ASSERT_ERR(usva_as_create(&big.cfg, &as), E2BIG);
	/* An older caller's struct, mandatory fields only. */
	CFG_RESET();
	cfg.size = USVA_OFFSETOFEND(struct usva_as_config, va_bits);
	TEST_ASSERT_OK(usva_as_create(&cfg, &as));
	TEST_ASSERT_EQ(usva_as_levels(as), 4, "levels");
	TEST_ASSERT_EQ(usva_as_va_bits(as), 48, "va_bits");
	TEST_ASSERT_EQ(usva_as_format(as), USVA_PGFMT_X86_FS, "format");
	usva_as_destroy(as);
	usva_as_destroy(NULL);
	TEST_ASSERT_EQ(pool_in_use(), in_use, "destroy kept pages");
#undef CFG_RESET
	return TEST_SUCCESS;
}

/* ---- bad input on map/unmap/protect ----------------------------------- */

static int
bad_input_one(uint32_t format, uint32_t va_bits)
{
	struct usva_as *as;
	struct usva_as_xlate x;
	uint64_t top = UINT64_C(1) << va_bits;
	uint64_t unmapped;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(as_new(format, va_bits, 0, &as));
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1001, 0, SZ_4K, RW, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0x10, SZ_4K, RW, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0, 0x800, RW, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0, 0, RW, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0, SZ_4K, 0, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0, SZ_4K,
					 USVA_PROT_WRITE, 0), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0, SZ_4K, RW | 0x100, 0),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, 0, SZ_4K, RW, 0x80), EINVAL);
	/* va + len wraps; oa + len wraps */
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, UINT64_MAX - 0xfff, 0, 2 * SZ_4K,
					 RW, 0), EOVERFLOW);
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x1000, UINT64_MAX - 0xfff,
					 2 * SZ_4K, RW, 0), EOVERFLOW);
	if (format == USVA_PGFMT_X86_FS) {
		/* non-canonical, and a range across the canonical hole */
		TEST_ASSERT_ERR_GOTO(usva_as_map(as, top / 2, 0, SZ_4K, RW, 0),
				     EINVAL);
		TEST_ASSERT_ERR_GOTO(usva_as_map(as, top / 2 - SZ_4K, 0,
						 2 * SZ_4K, RW, 0), EINVAL);
		TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, top / 2, &x), EINVAL);
	} else {
		TEST_ASSERT_ERR_GOTO(usva_as_map(as, top, 0, SZ_4K, RW, 0),
				     ERANGE);
		TEST_ASSERT_ERR_GOTO(usva_as_map(as, top - SZ_4K, 0, 2 * SZ_4K,
						 RW, 0), ERANGE);
		TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, top, &x), ERANGE);
	}
	/* The last page below the width (top of the lower half) works. */
	TEST_ASSERT_OK_GOTO(usva_as_map(as, (format == USVA_PGFMT_X86_FS ?
					     top / 2 : top) - SZ_4K,
					0x7000, SZ_4K, RW, 0));
	/* Overlap: -EEXIST and nothing changed, with the overlap last. */
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0x400000, 0x400000, SZ_4K, RW, 0));
	TEST_ASSERT_ERR_GOTO(usva_as_map(as, 0x200000, 0x800000, 3 * SZ_2M,
					 RW, 0), EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, 0x200000, &x), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, 0x3ff000, &x), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, 0x401000, &x), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_as_lookup(as, 0x400000, &x));
	TEST_ASSERT_GOTO(x.oa == 0x400000, out, "oa 0x%" PRIx64, x.oa);
	/* Protect across a hole: -ENOENT and nothing changed. */
	TEST_ASSERT_ERR_GOTO(usva_as_protect(as, 0x400000, 2 * SZ_4K,
					     USVA_PROT_READ), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_as_lookup(as, 0x400000, &x));
	TEST_ASSERT_GOTO(x.prot == RW, out, "prot 0x%x", x.prot);
	TEST_ASSERT_ERR_GOTO(usva_as_protect(as, 0x400000, SZ_4K, 0x10),
			     EINVAL);
	/* Unmap over holes is fine and reports what was mapped. */
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, 0, SZ_1G, &unmapped));
	TEST_ASSERT_GOTO(unmapped == SZ_4K, out, "unmapped 0x%" PRIx64, unmapped);
	TEST_ASSERT_ERR_GOTO(usva_as_unmap(as, 0x1000, 0, NULL), EINVAL);
	ret = TEST_SUCCESS;
out:
	usva_as_destroy(as);
	return ret;
}

USVA_TEST(fast, as_bad_input)
{
	for (unsigned int i = 0; i < RTE_DIM(formats); i++)
		if (bad_input_one(formats[i].format, formats[i].va_bits) !=
		    TEST_SUCCESS) {
			printf("    format %s\n", formats[i].name);
			return TEST_FAILED;
		}
	return TEST_SUCCESS;
}

/* ---- page sizes, splitting and merging ---------------------------------- */

static int
expect_xlate(struct usva_as *as, uint64_t va, uint64_t oa, uint32_t level,
	     uint32_t prot)
{
	struct usva_as_xlate x;
	int rc = usva_as_lookup(as, va, &x);

	TEST_ASSERT(rc == 0, "va 0x%" PRIx64 " not mapped (%d)", va, rc);
	TEST_ASSERT(x.oa == oa && x.level == level && x.prot == prot,
		    "va 0x%" PRIx64 ": oa 0x%" PRIx64 " level %u prot 0x%x, "
		    "expected 0x%" PRIx64 " %u 0x%x", va, x.oa, x.level, x.prot,
		    oa, level, prot);
	return TEST_SUCCESS;
}

#define EXPECT_XLATE(as, va, oa, level, prot)				\
	TEST_ASSERT_GOTO(expect_xlate(as, va, oa, level, prot) == TEST_SUCCESS, \
			 out, "translation")

static int
page_sizes_one(uint32_t format, uint32_t va_bits)
{
	struct usva_as *as;
	struct usva_as_stats st;
	uint64_t base = 4 * SZ_1G;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(as_new(format, va_bits, 30, &as));
	/* 4K + 2M-4K + 1G + 2M + 4K: leaves of each size in one call. */
	TEST_ASSERT_OK_GOTO(usva_as_map(as, base - SZ_2M + SZ_4K,
					8 * SZ_1G - SZ_2M + SZ_4K,
					SZ_2M - SZ_4K + SZ_1G + SZ_2M + SZ_4K,
					RW, 0));
	EXPECT_XLATE(as, base - SZ_2M + SZ_4K, 8 * SZ_1G - SZ_2M + SZ_4K, 1, RW);
	EXPECT_XLATE(as, base - SZ_4K, 8 * SZ_1G - SZ_4K, 1, RW);
	EXPECT_XLATE(as, base + 0x12345, 8 * SZ_1G + 0x12345, 3, RW);
	EXPECT_XLATE(as, base + SZ_1G + 0x1000, 9 * SZ_1G + 0x1000, 2, RW);
	EXPECT_XLATE(as, base + SZ_1G + SZ_2M, 9 * SZ_1G + SZ_2M, 1, RW);
	/* Flags cap the leaf size. */
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 16 * SZ_1G, 0, SZ_1G, RW,
					USVA_MAP_F_MAX_2M));
	EXPECT_XLATE(as, 16 * SZ_1G + SZ_2M * 3, SZ_2M * 3, 2, RW);
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 20 * SZ_1G, 0, SZ_2M, RW,
					USVA_MAP_F_MAX_4K));
	EXPECT_XLATE(as, 20 * SZ_1G + 0x5000, 0x5000, 1, RW);

	/* Unmap one 4K page inside the 1G leaf: split 1G -> 2M -> 4K. */
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, base + SZ_2M + 5 * SZ_4K, SZ_4K,
					  NULL));
	EXPECT_XLATE(as, base + SZ_2M + 4 * SZ_4K,
		     8 * SZ_1G + SZ_2M + 4 * SZ_4K, 1, RW);
	EXPECT_XLATE(as, base + SZ_2M + 6 * SZ_4K,
		     8 * SZ_1G + SZ_2M + 6 * SZ_4K, 1, RW);
	EXPECT_XLATE(as, base + 7 * SZ_2M, 8 * SZ_1G + 7 * SZ_2M, 2, RW);
	TEST_ASSERT_GOTO(usva_as_map(as, base + SZ_2M + 4 * SZ_4K, 0, SZ_4K,
				     RW, 0) == -EEXIST, out, "remap");
	usva_as_stats(as, &st);
	TEST_ASSERT_GOTO(st.splits == 2, out, "splits %" PRIu64, st.splits);

	/* Protect a 4K page in a 2M leaf: that leaf splits too. */
	TEST_ASSERT_OK_GOTO(usva_as_protect(as, base + 9 * SZ_2M, SZ_4K,
					    USVA_PROT_READ));
	EXPECT_XLATE(as, base + 9 * SZ_2M, 8 * SZ_1G + 9 * SZ_2M, 1,
		     USVA_PROT_READ);
	EXPECT_XLATE(as, base + 9 * SZ_2M + SZ_4K,
		     8 * SZ_1G + 9 * SZ_2M + SZ_4K, 1, RW);

	/* Put it all back: full, contiguous, uniform tables fold up again,
	 * to 2M leaves and (granule 1G) to the 1G leaf. */
	TEST_ASSERT_OK_GOTO(usva_as_protect(as, base + 9 * SZ_2M, SZ_4K, RW));
	EXPECT_XLATE(as, base + 9 * SZ_2M + SZ_4K,
		     8 * SZ_1G + 9 * SZ_2M + SZ_4K, 2, RW);
	TEST_ASSERT_OK_GOTO(usva_as_map(as, base + SZ_2M + 5 * SZ_4K,
					8 * SZ_1G + SZ_2M + 5 * SZ_4K, SZ_4K,
					RW, 0));
	EXPECT_XLATE(as, base + SZ_2M + 5 * SZ_4K,
		     8 * SZ_1G + SZ_2M + 5 * SZ_4K, 3, RW);
	usva_as_stats(as, &st);
	TEST_ASSERT_GOTO(st.merges == 3, out, "merges %" PRIu64, st.merges);
	ret = TEST_SUCCESS;
out:
	usva_as_destroy(as);
	return ret;
}

USVA_TEST(fast, as_page_sizes_split_merge)
{
	uint64_t in_use = pool_in_use();

	for (unsigned int i = 0; i < RTE_DIM(formats); i++)
		if (page_sizes_one(formats[i].format, formats[i].va_bits) !=
		    TEST_SUCCESS) {
			printf("    format %s\n", formats[i].name);
			return TEST_FAILED;
		}
	TEST_ASSERT_EQ(pool_in_use(), in_use, "table pages leaked");
	return TEST_SUCCESS;
}

USVA_TEST(fast, as_granule_limits_merge)
{
	struct usva_as *as;
	struct usva_as_stats st;
	int ret = TEST_FAILED;

	/* Granule 2M: a 4K table folds into a 2M leaf, never to 1G. */
	TEST_ASSERT_OK(as_new(USVA_PGFMT_X86_FS, 48, 0, &as));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, SZ_1G, 0, SZ_1G - SZ_4K, RW, 0));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 2 * SZ_1G - SZ_4K, SZ_1G - SZ_4K,
					SZ_4K, RW, 0));
	EXPECT_XLATE(as, 2 * SZ_1G - SZ_4K, SZ_1G - SZ_4K, 2, RW);
	EXPECT_XLATE(as, SZ_1G, 0, 2, RW);
	usva_as_stats(as, &st);
	TEST_ASSERT_GOTO(st.merges == 1, out, "merges %" PRIu64, st.merges);
	/* Granule 4K: nothing is private, nothing folds or is freed. */
	usva_as_destroy(as);
	TEST_ASSERT_OK(as_new(USVA_PGFMT_X86_FS, 48, 12, &as));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0, 0, SZ_2M, RW, USVA_MAP_F_MAX_4K));
	EXPECT_XLATE(as, 0x3000, 0x3000, 1, RW);
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, 0, SZ_2M, NULL));
	usva_as_stats(as, &st);
	TEST_ASSERT_GOTO(st.table_pages == 4, out, "tables %" PRIu64,
			 st.table_pages);
	ret = TEST_SUCCESS;
out:
	usva_as_destroy(as);
	return ret;
}

/* ---- the bits in memory ----------------------------------------------- */

static uint64_t *
next_table(uint64_t entry)
{
	return (uint64_t *)(uintptr_t)(entry & UINT64_C(0x000ffffffffff000));
}

USVA_TEST(fast, as_bits_in_memory)
{
	struct usva_as *as;
	uint64_t *l4, *l3, *l2, *l1;
	int ret = TEST_FAILED;

	/*
	 * x86 first stage: tables are P|RW|US; a 4K leaf R|W|U, not
	 * executable, sets XD; a 2M leaf R|X supervisor sets PS only;
	 * accessed and dirty start clear.
	 */
	TEST_ASSERT_OK(as_new(USVA_PGFMT_X86_FS, 48, 0, &as));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0x40201000, 0x12345000, SZ_4K,
					RWU, 0));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0x40400000, 0x80000000, SZ_2M,
					USVA_PROT_READ | USVA_PROT_EXEC, 0));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0x80000000, 0x40000000, SZ_1G,
					USVA_PROT_ALL, 0));
	l4 = (uint64_t *)(uintptr_t)usva_as_root(as);
	TEST_ASSERT_GOTO((l4[0] & 0xfff) == 0x7, out, "l4[0] 0x%" PRIx64, l4[0]);
	l3 = next_table(l4[0]);
	TEST_ASSERT_GOTO((l3[1] & 0xfff) == 0x7, out, "l3[1] 0x%" PRIx64, l3[1]);
	TEST_ASSERT_GOTO(l3[2] == UINT64_C(0x40000087), out,
			 "1G leaf 0x%" PRIx64, l3[2]);
	l2 = next_table(l3[1]);
	TEST_ASSERT_GOTO((l2[1] & 0xfff) == 0x7, out, "l2[1] 0x%" PRIx64, l2[1]);
	TEST_ASSERT_GOTO(l2[2] == UINT64_C(0x80000081), out,
			 "2M leaf 0x%" PRIx64, l2[2]);
	l1 = next_table(l2[1]);
	TEST_ASSERT_GOTO(l1[1] == UINT64_C(0x8000000012345007), out,
			 "4K leaf 0x%" PRIx64, l1[1]);
	for (unsigned int i = 0; i < 512; i++)
		TEST_ASSERT_GOTO(i == 1 || l1[i] == 0, out, "l1[%u] 0x%" PRIx64,
				 i, l1[i]);
	usva_as_destroy(as);

	/*
	 * ARM VMSAv8-64: tables 0b11; a page is 0b11 with AttrIndx 0,
	 * AP[2:1], SH inner, AF and nG set, PXN/UXN for no execute; a block
	 * is 0b01; executable supervisor-only sets UXN only.
	 */
	TEST_ASSERT_OK(as_new(USVA_PGFMT_ARM_LPAE_4K, 48, 0, &as));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0x40201000, 0x12345000, SZ_4K,
					RWU, 0));
	TEST_ASSERT_OK_GOTO(usva_as_map(as, 0x40400000, 0x80000000, SZ_2M,
					USVA_PROT_READ | USVA_PROT_EXEC, 0));
	l4 = (uint64_t *)(uintptr_t)usva_as_root(as);
	TEST_ASSERT_GOTO((l4[0] & 0xfff) == 0x3, out, "L0[0] 0x%" PRIx64, l4[0]);
	l3 = next_table(l4[0]);
	l2 = next_table(l3[1]);
	TEST_ASSERT_GOTO(l2[2] == UINT64_C(0x0040000080000f81), out,
			 "2M block 0x%" PRIx64, l2[2]);
	l1 = next_table(l2[1]);
	TEST_ASSERT_GOTO(l1[1] == UINT64_C(0x0060000012345f43), out,
			 "4K page 0x%" PRIx64, l1[1]);
	ret = TEST_SUCCESS;
out:
	usva_as_destroy(as);
	return ret;
}

/* ---- differential test against a flat reference ----------------------- */

#define REF_UNMAPPED UINT64_MAX

struct ref_map {
	uint64_t base;		/* VA of page 0 of the window */
	uint64_t pages;
	uint64_t *oa;		/* per 4K page, REF_UNMAPPED if none */
	uint8_t *prot;
	uint64_t mapped;
};

static bool
ref_any_mapped(const struct ref_map *r, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		if (r->oa[p] != REF_UNMAPPED)
			return true;
	return false;
}

static bool
ref_all_mapped(const struct ref_map *r, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		if (r->oa[p] == REF_UNMAPPED)
			return false;
	return true;
}

static int
ref_check_range(struct usva_as *as, const struct ref_map *r, uint64_t first,
		uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++) {
		struct usva_as_xlate x;
		uint64_t va = r->base + p * SZ_4K;
		int rc = usva_as_lookup(as, va, &x);

		if (r->oa[p] == REF_UNMAPPED) {
			TEST_ASSERT(rc == -ENOENT, "va 0x%" PRIx64
				    " mapped (rc %d), reference says not", va, rc);
			continue;
		}
		TEST_ASSERT(rc == 0, "va 0x%" PRIx64 " unmapped (rc %d), "
			    "reference says 0x%" PRIx64, va, rc, r->oa[p]);
		TEST_ASSERT(x.oa == r->oa[p] && x.prot == r->prot[p],
			    "va 0x%" PRIx64 ": 0x%" PRIx64 "/0x%x, reference "
			    "0x%" PRIx64 "/0x%x", va, x.oa, x.prot, r->oa[p],
			    r->prot[p]);
	}
	return TEST_SUCCESS;
}

/* A random range of the window, aligned to a random leaf size. */
static void
rand_range(const struct ref_map *r, uint64_t *first, uint64_t *n)
{
	static const uint64_t units[] = { 1, 1, 1, 512, 512, 262144 };
	uint64_t unit = units[usva_test_rand() % RTE_DIM(units)];
	uint64_t max_units = r->pages / unit;
	uint64_t start = usva_test_rand() % max_units;
	uint64_t len = 1 + usva_test_rand() % RTE_MIN(max_units - start,
						     (uint64_t)(unit == 1 ? 700 : 3));

	*first = start * unit;
	*n = len * unit;
	/* Sometimes shift by a few pages so huge leaves get split. */
	if (unit > 1 && usva_test_rand() % 4 == 0) {
		uint64_t shift = usva_test_rand() % 3;

		if (*first + *n + shift <= r->pages)
			*first += shift;
	}
}

static uint32_t
rand_prot(void)
{
	return USVA_PROT_READ | ((uint32_t)usva_test_rand() &
				 (USVA_PROT_WRITE | USVA_PROT_EXEC | USVA_PROT_USER));
}

static int
ref_step(struct usva_as *as, struct ref_map *r, unsigned int step)
{
	uint64_t first, n, va, got;
	uint32_t prot = rand_prot();
	int op = (int)(usva_test_rand() % 10);
	int rc;

	rand_range(r, &first, &n);
	va = r->base + first * SZ_4K;
	if (op < 5) {
		/* map; output address keeps the range's huge alignment often */
		uint64_t oa = (usva_test_rand() % 64) * SZ_1G +
			      (usva_test_rand() % 2 ? 0 : first * SZ_4K % SZ_1G);
		bool clash = ref_any_mapped(r, first, n);

		rc = usva_as_map(as, va, oa, n * SZ_4K, prot, 0);
		TEST_ASSERT(rc == (clash ? -EEXIST : 0), "step %u map 0x%" PRIx64
			    "+0x%" PRIx64 ": rc %d, clash %d", step, va,
			    n * SZ_4K, rc, clash);
		if (rc == 0) {
			for (uint64_t p = 0; p < n; p++) {
				r->oa[first + p] = oa + p * SZ_4K;
				r->prot[first + p] = (uint8_t)prot;
			}
			r->mapped += n;
		}
	} else if (op < 8) {
		uint64_t expect = 0;

		for (uint64_t p = first; p < first + n; p++) {
			if (r->oa[p] != REF_UNMAPPED)
				expect++;
			r->oa[p] = REF_UNMAPPED;
		}
		rc = usva_as_unmap(as, va, n * SZ_4K, &got);
		TEST_ASSERT(rc == 0 && got == expect * SZ_4K, "step %u unmap: rc %d, "
			    "0x%" PRIx64 " bytes, expected 0x%" PRIx64, step, rc,
			    got, expect * SZ_4K);
		r->mapped -= expect;
	} else {
		bool full = ref_all_mapped(r, first, n);

		rc = usva_as_protect(as, va, n * SZ_4K, prot);
		TEST_ASSERT(rc == (full ? 0 : -ENOENT), "step %u protect: rc %d",
			    step, rc);
		if (rc == 0)
			for (uint64_t p = first; p < first + n; p++)
				r->prot[p] = (uint8_t)prot;
	}
	/* Check the edited range with a page of margin on each side. */
	first = first ? first - 1 : 0;
	n = RTE_MIN(n + 2, r->pages - first);
	return ref_check_range(as, r, first, n);
}

static int
differential_one(uint32_t format, uint32_t va_bits, uint64_t base,
		 unsigned int steps)
{
	struct ref_map r = { .base = base, .pages = 2 * SZ_1G / SZ_4K };
	struct usva_as *as = NULL;
	struct usva_as_stats st;
	int ret = TEST_FAILED;

	r.oa = malloc(r.pages * sizeof(*r.oa));
	r.prot = calloc(r.pages, 1);
	TEST_ASSERT_GOTO(r.oa != NULL && r.prot != NULL, out, "no memory");
	for (uint64_t p = 0; p < r.pages; p++)
		r.oa[p] = REF_UNMAPPED;
	TEST_ASSERT_OK_GOTO(as_new(format, va_bits, 0, &as));
	for (unsigned int s = 0; s < steps; s++) {
		TEST_ASSERT_GOTO(ref_step(as, &r, s) == TEST_SUCCESS, out,
				 "step %u (%s, base 0x%" PRIx64 ")", s,
				 format == USVA_PGFMT_X86_FS ? "x86" : "arm", base);
		if (s % 100 == 99)
			TEST_ASSERT_GOTO(ref_check_range(as, &r, 0, r.pages) ==
					 TEST_SUCCESS, out, "full check at %u", s);
	}
	usva_as_stats(as, &st);
	TEST_ASSERT_GOTO(st.mapped_bytes == r.mapped * SZ_4K, out,
			 "stats say 0x%" PRIx64 " mapped, reference 0x%" PRIx64,
			 st.mapped_bytes, r.mapped * SZ_4K);
	/* Empty it: private tables go back, the rest is the upper levels. */
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, base, 2 * SZ_1G, NULL));
	usva_as_stats(as, &st);
	TEST_ASSERT_GOTO(st.mapped_bytes == 0 && st.table_pages <= 1 + 1 + 2 + 2,
			 out, "after unmap: 0x%" PRIx64 " bytes, %" PRIu64 " tables",
			 st.mapped_bytes, st.table_pages);
	ret = TEST_SUCCESS;
out:
	usva_as_destroy(as);
	free(r.oa);
	free(r.prot);
	return ret;
}

static int
differential(unsigned int steps)
{
	static const struct {
		uint32_t format, va_bits;
		uint64_t base;
	} runs[] = {
		/* straddles a 512 GiB boundary (top-level entry) */
		{ USVA_PGFMT_X86_FS, 48, (UINT64_C(1) << 39) - SZ_1G },
		/* the last 2 GiB of the upper half: the range ends at 2^64 */
		{ USVA_PGFMT_X86_FS, 48, UINT64_C(0xffffffff80000000) },
		{ USVA_PGFMT_X86_FS, 57, (UINT64_C(1) << 56) - 2 * SZ_1G },
		{ USVA_PGFMT_ARM_LPAE_4K, 48, (UINT64_C(1) << 48) - 2 * SZ_1G },
		{ USVA_PGFMT_ARM_LPAE_4K, 39, SZ_1G * 7 },
	};
	uint64_t in_use = pool_in_use();

	for (unsigned int i = 0; i < RTE_DIM(runs); i++)
		TEST_ASSERT(differential_one(runs[i].format, runs[i].va_bits,
					     runs[i].base, steps) == TEST_SUCCESS,
			    "run %u", i);
	TEST_ASSERT_EQ(pool_in_use(), in_use, "table pages leaked");
	return TEST_SUCCESS;
}

USVA_TEST(fast, as_differential)
{
	return differential(400);
}

USVA_TEST(stress, as_differential_long)
{
	return differential(5000);
}

/* ---- fail-nth: every allocation failure unwinds ------------------------ */

static int
failnth_scenario(uint32_t format)
{
	struct usva_as *as = NULL;
	struct usva_as_xlate x;
	int rc;

	rc = as_new(format, 48, 0, &as);
	if (rc)
		return rc == -ENOMEM ? 1 : TEST_FAILED;
	/* Each call either succeeds or fails with nothing changed. */
	rc = usva_as_map(as, SZ_1G, 0, SZ_1G + 3 * SZ_2M + 5 * SZ_4K, RW, 0);
	if (rc == -ENOMEM) {
		TEST_ASSERT(usva_as_lookup(as, SZ_1G, &x) == -ENOENT,
			    "failed map left a mapping");
		TEST_ASSERT(usva_as_lookup(as, 2 * SZ_1G + 3 * SZ_2M, &x) == -ENOENT,
			    "failed map left a mapping");
		goto done;
	}
	TEST_ASSERT(rc == 0, "map: %d", rc);
	rc = usva_as_unmap(as, SZ_1G + SZ_2M + SZ_4K, SZ_4K, NULL);
	if (rc == -ENOMEM) {
		TEST_ASSERT(usva_as_lookup(as, SZ_1G + SZ_2M + SZ_4K, &x) == 0 &&
			    x.oa == SZ_2M + SZ_4K, "failed unmap changed the map");
		goto done;
	}
	TEST_ASSERT(rc == 0, "unmap: %d", rc);
	rc = usva_as_protect(as, SZ_1G + 5 * SZ_2M, SZ_4K, USVA_PROT_READ);
	if (rc == -ENOMEM) {
		TEST_ASSERT(usva_as_lookup(as, SZ_1G + 5 * SZ_2M, &x) == 0 &&
			    x.prot == RW, "failed protect changed the map");
		goto done;
	}
	TEST_ASSERT(rc == 0, "protect: %d", rc);
	TEST_ASSERT(usva_as_lookup(as, SZ_1G + SZ_2M + SZ_4K, &x) == -ENOENT,
		    "unmapped page still there");
	usva_as_destroy(as);
	return TEST_SUCCESS;
done:
	usva_as_destroy(as);
	return 1;	/* failed cleanly */
}

USVA_TEST(fast, as_failnth_sweep)
{
	uint64_t in_use = pool_in_use();
	int64_t live = usva_alloc_outstanding();

	for (unsigned int f = 0; f < 2; f++) {
		uint32_t format = f ? USVA_PGFMT_ARM_LPAE_4K : USVA_PGFMT_X86_FS;
		unsigned int n, failed = 0;
		int rc;

		for (n = 1; n < 1000; n++) {
			usva_failnth_set(n);
			rc = failnth_scenario(format);
			bool fired = usva_failnth_fired();

			usva_failnth_set(0);
			TEST_ASSERT(rc != TEST_FAILED, "fail-nth %u: scenario broke", n);
			TEST_ASSERT_EQ(pool_in_use(), in_use,
				       "fail-nth %u: table pages leaked", n);
			TEST_ASSERT_EQ(usva_alloc_outstanding(), live,
				       "fail-nth %u: allocations leaked", n);
			if (!fired) {
				TEST_ASSERT(rc == TEST_SUCCESS,
					    "fail-nth %u: unfired but failed", n);
				break;
			}
			TEST_ASSERT(rc == 1, "fail-nth %u fired but the scenario "
				    "reported success", n);
			failed++;
		}
		printf("    %s: %u failure points, each unwound\n",
		       f ? "arm" : "x86", failed);
		TEST_ASSERT(failed >= 6, "only %u failure points", failed);
	}
	return TEST_SUCCESS;
}

/* ---- two lcores on one address space ---------------------------------- */

struct conc_arg {
	struct usva_as *as;
	uint64_t base;		/* this lcore's granules start here */
	unsigned int rounds;
	int result;
	uint64_t ops;
};

/*
 * Each lcore owns every other 2 MiB granule of a shared 1 GiB, so both
 * install the same upper tables and share each level-2 table.
 */
static int
conc_worker(void *p)
{
	struct conc_arg *a = p;

	a->result = TEST_FAILED;
	for (unsigned int r = 0; r < a->rounds; r++) {
		for (uint64_t g = 0; g < 256; g++) {
			uint64_t va = a->base + g * 2 * SZ_2M;

			for (uint64_t off = 0; off < SZ_2M; off += 64 * SZ_4K) {
				if (usva_as_map(a->as, va + off, va + off + r * SZ_4K,
						SZ_4K, RW, 0) != 0)
					return -1;
				a->ops++;
			}
		}
		for (uint64_t g = 0; g < 256; g++) {
			uint64_t va = a->base + g * 2 * SZ_2M;
			struct usva_as_xlate x;

			for (uint64_t off = 0; off < SZ_2M; off += 64 * SZ_4K) {
				if (usva_as_lookup(a->as, va + off, &x) != 0 ||
				    x.oa != va + off + r * SZ_4K)
					return -1;
			}
			if (usva_as_unmap(a->as, va, SZ_2M, NULL) != 0)
				return -1;
		}
	}
	a->result = TEST_SUCCESS;
	return 0;
}

static int
concurrent(unsigned int rounds)
{
	struct usva_as *as;
	struct conc_arg a[2];
	struct usva_as_stats st;
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	uint64_t in_use = pool_in_use();

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	TEST_ASSERT_OK(as_new(USVA_PGFMT_X86_FS, 48, 0, &as));
	for (int i = 0; i < 2; i++)
		a[i] = (struct conc_arg){ .as = as, .rounds = rounds,
			.base = 8 * SZ_1G + (uint64_t)i * SZ_2M };
	rte_eal_remote_launch(conc_worker, &a[1], worker);
	conc_worker(&a[0]);
	rte_eal_wait_lcore(worker);
	usva_as_stats(as, &st);
	usva_as_destroy(as);
	TEST_ASSERT(a[0].result == TEST_SUCCESS, "main lcore saw a bad map");
	TEST_ASSERT(a[1].result == TEST_SUCCESS, "worker saw a bad map");
	TEST_ASSERT_EQ(st.mapped_bytes, 0, "bytes left mapped");
	TEST_ASSERT_EQ(st.maps, a[0].ops + a[1].ops, "maps counted");
	TEST_ASSERT_EQ(pool_in_use(), in_use, "table pages leaked");
	printf("    %" PRIu64 " maps, %" PRIu64 " table installs lost to the "
	       "other lcore\n", st.maps, st.cas_lost);
	return TEST_SUCCESS;
}

USVA_TEST(fast, as_two_lcores)
{
	return concurrent(20);
}

USVA_TEST(stress, as_two_lcores_long)
{
	return concurrent(2000);
}

/* ---- perf: map and unmap rates, table overhead ------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

USVA_TEST(perf, as_map_rate)
{
	const uint64_t n = SZ_1G / SZ_4K;
	struct usva_as *as;
	struct usva_as_stats st;
	uint64_t base = 64 * SZ_1G;
	double t0, t_map, t_unmap, t_bulk;
	struct usva_page_pool_stats ps;

	usva_page_pool_stats(usva_page_pool_default(), &ps);
	if (ps.free < 600)
		TEST_SKIP("default pool has %" PRIu64 " free pages, needs 600 "
			  "(--usva-pool-pages)", ps.free);
	for (unsigned int f = 0; f < 2; f++) {
		uint32_t format = f ? USVA_PGFMT_ARM_LPAE_4K : USVA_PGFMT_X86_FS;
		const char *name = f ? "arm-lpae" : "x86-fs";

		TEST_ASSERT_OK(as_new(format, 48, 0, &as));
		t0 = now_s();
		for (uint64_t i = 0; i < n; i++)
			if (usva_as_map(as, base + i * SZ_4K, i * SZ_4K, SZ_4K,
					RW, USVA_MAP_F_MAX_4K) != 0)
				break;
		t_map = now_s() - t0;
		usva_as_stats(as, &st);
		TEST_ASSERT_GOTO(st.mapped_bytes == SZ_1G, out,
				 "mapped 0x%" PRIx64, st.mapped_bytes);
		printf("    %s: map 1 GiB as 262144 4K calls: %.2f M maps/s; "
		       "tables %" PRIu64 " pages = %.1f KiB (%.3f%% of 1 GiB)\n",
		       name, n / t_map / 1e6, st.table_pages,
		       st.table_pages * 4.0, st.table_pages * 4096.0 * 100 / SZ_1G);
		t0 = now_s();
		for (uint64_t i = 0; i < n; i++)
			usva_as_unmap(as, base + i * SZ_4K, SZ_4K, NULL);
		t_unmap = now_s() - t0;
		usva_as_stats(as, &st);
		TEST_ASSERT_GOTO(st.mapped_bytes == 0, out, "left mapped");
		t0 = now_s();
		TEST_ASSERT_OK_GOTO(usva_as_map(as, base, 0, SZ_1G, RW,
						USVA_MAP_F_MAX_4K));
		t_bulk = now_s() - t0;
		t0 = now_s();
		TEST_ASSERT_OK_GOTO(usva_as_unmap(as, base, SZ_1G, NULL));
		printf("    %s: unmap 262144 4K calls: %.2f M unmaps/s; one-call "
		       "map of 1 GiB in 4K leaves: %.2f M pages/s, unmap: %.2f M "
		       "pages/s\n", name, n / t_unmap / 1e6, n / t_bulk / 1e6,
		       n / (now_s() - t0) / 1e6);
		usva_as_destroy(as);
	}
	return TEST_SUCCESS;
out:
	usva_as_destroy(as);
	return TEST_FAILED;
}
