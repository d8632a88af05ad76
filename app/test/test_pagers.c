/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mirror and file pagers, unit cases: the pager ops are called directly,
 * as the fault service calls them (fault() on a slot, flush() after a
 * burst), on a real usva_as and an emu IOMMU. Effects are checked through
 * usva_as_lookup(), stage 2 (usva_iommu_s2_map/unmap as probes), the emu
 * device's DMA and the pagers' counters. The service's side (groups,
 * responses) is test_fault.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_launch.h>
#include <rte_lcore.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"
#include "usva_pasid.h"
#include "usva_struct.h"
#include "test.h"
#include "app_clock.h"

#define SZ_4K	UINT64_C(0x1000)
#define SZ_1M	UINT64_C(0x100000)
#define SZ_2M	UINT64_C(0x200000)
#define SZ_1G	UINT64_C(0x40000000)
#define ACC_R	USVA_ACCESS_READ
#define ACC_RW	(USVA_ACCESS_READ | USVA_ACCESS_WRITE)
#define P_RWU	(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)
#define P_RU	(USVA_PROT_READ | USVA_PROT_USER)

#define TEST_ASSERT_EQ_GOTO(a, b, fmt, ...)				\
	TEST_ASSERT_GOTO((int64_t)(a) == (int64_t)(b), out, "%" PRId64	\
			 " != %" PRId64 ": " fmt, (int64_t)(a), (int64_t)(b), \
			 ##__VA_ARGS__)

/* Where the file pager's range lies (stage 1 only; no process memory). */
#define FILE_VA	(UINT64_C(0x100000000000))


static int
emu_open(const char *params, struct usva_iommu **out)
{
	struct usva_iommu_config c = {
		.size = sizeof(c), .backend = "emu", .params = params,
	};

	*out = NULL;
	return usva_iommu_open(&c, out);
}

static int
as_new(struct usva_as **out)
{
	struct usva_as_config c = {
		.size = sizeof(c), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};

	*out = NULL;
	return usva_as_create(&c, out);
}

/* Ask @p p for the page at @p addr as the fault service would. */
static int
pfault(struct usva_pager *p, struct usva_as *as, uint64_t addr, uint32_t perm,
       unsigned int slot)
{
	struct usva_pager_fault f = {
		.as = as, .addr = addr, .perm = perm, .pasid = 1, .slot = slot,
		/* No service behind it: usva_fault_complete() finds no such
		 * group and drops the completion. */
		.tok = { { 0, 0 } },
	};

	return p->ops->fault(p, &f);
}

static uint64_t
pool_in_use(struct usva_page_pool *pool)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(pool, &st);
	return st.in_use;
}

/* @p len bytes of address space, 2 MiB aligned, PROT_NONE. */
static uint8_t *
reserve(uint64_t len)
{
	uint8_t *p = mmap(NULL, len + SZ_2M, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = RTE_ALIGN_CEIL((uintptr_t)p, SZ_2M);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((uint8_t *)a + len, (uintptr_t)p + SZ_2M - a);
	return (uint8_t *)a;
}

/* Anonymous RW memory at @p at (inside a reservation). */
static int
map_rw(uint8_t *at, uint64_t len)
{
	void *p = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return p == at ? 0 : -errno;
}

static bool
resident(const void *page)
{
	unsigned char v = 0;

	return mincore((void *)(uintptr_t)page, SZ_4K, &v) == 0 && (v & 1);
}

static void
fill_pattern(uint8_t *p, uint64_t len, uint64_t seed)
{
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t v = (seed + i) * UINT64_C(0x9e3779b97f4a7c15);

		memcpy(p + i, &v, RTE_MIN((uint64_t)8, len - i));
	}
}

static struct usva_pager_mirror_stats
mstats(struct usva_pager *p)
{
	struct usva_pager_mirror_stats st;

	memset(&st, 0xff, sizeof(st));
	usva_pager_mirror_stats(p, &st);
	return st;
}

static struct usva_pager_file_stats
fstats(struct usva_pager *p)
{
	struct usva_pager_file_stats st;

	memset(&st, 0xff, sizeof(st));
	usva_pager_file_stats(p, &st);
	return st;
}

static int
mirror_new(struct usva_iommu *iommu, const void *base, uint64_t len,
	   struct usva_pager **out)
{
	struct usva_pager_mirror_config c = {
		.size = sizeof(c), .iommu = iommu,
		.base = (uint64_t)(uintptr_t)base, .len = len,
	};

	*out = NULL;
	return usva_pager_mirror_create(&c, out);
}

/* A device and a PASID whose domain is @p as: the device's view. */
struct dev_view {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	struct usva_domain *dom;
	uint32_t pasid;
	bool attached;
};

static int
view_open(struct dev_view *v, struct usva_iommu *iommu, struct usva_as *as)
{
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "pager-test", .pasid_width = 20,
	};
	struct usva_domain_config dom = { .size = sizeof(dom), .as = as };
	int rc;

	memset(v, 0, sizeof(*v));
	v->iommu = iommu;
	rc = usva_iommu_dev_open(iommu, &dc, &v->dev);
	if (rc == 0)
		rc = usva_pasid_owner_create(usva_iommu_pasids(iommu), 0,
					     &v->owner);
	if (rc == 0)
		rc = usva_pasid_alloc(v->owner, &v->pasid);
	if (rc == 0)
		rc = usva_domain_create(iommu, &dom, &v->dom);
	if (rc == 0)
		rc = usva_iommu_attach(v->dev, v->pasid, v->dom);
	if (rc == 0)
		v->attached = true;
	return rc;
}

static void
view_close(struct dev_view *v)
{
	if (v->attached)
		usva_iommu_detach(v->dev, v->pasid);
	if (v->dom != NULL)
		usva_domain_destroy(v->dom);
	if (v->pasid != 0)
		usva_pasid_free(v->owner, v->pasid);
	if (v->owner != NULL)
		usva_pasid_owner_destroy(v->owner);
	usva_iommu_dev_close(v->dev);
	memset(v, 0, sizeof(*v));
}

/* ==== mirror ================================================================ */

USVA_TEST(fast, pager_mirror_config)
{
	struct {
		struct usva_pager_mirror_config c;
		uint8_t tail[8];
	} big;
	struct usva_pager_mirror_config m;
	struct usva_pager_mirror_stats st;
	struct usva_pager *p = NULL;
	uint8_t *buf = NULL;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	buf = reserve(SZ_2M);
	TEST_ASSERT(buf != NULL, "reserve");
#define M_RESET() do {							\
		memset(&m, 0, sizeof(m));				\
		m.size = sizeof(m);					\
		m.base = (uint64_t)(uintptr_t)buf;			\
		m.len = SZ_2M;						\
	} while (0)
#define M_BAD(err) TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(&m, &p), err)
	M_RESET();
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(NULL, &p), EFAULT);
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(&m, NULL), EINVAL);
	m.size = USVA_OFFSETOFEND(struct usva_pager_mirror_config, len) - 1;
	M_BAD(EINVAL);
	M_RESET();
	m.flags = 1;
	M_BAD(EOPNOTSUPP);
	M_RESET();
	m.reserved[1] = 1;
	M_BAD(EINVAL);
	M_RESET();
	m.len = 0;
	M_BAD(EINVAL);
	M_RESET();
	m.base += 0x800;
	M_BAD(EINVAL);
	M_RESET();
	m.len = SZ_4K + 1;
	M_BAD(EINVAL);
	M_RESET();
	m.base = UINT64_MAX - SZ_4K + 1;
	m.len = 2 * SZ_4K;
	M_BAD(EINVAL);			/* wraps */
	M_RESET();
	m.base = (UINT64_C(1) << 57) - SZ_4K;
	m.len = 2 * SZ_4K;
	M_BAD(EINVAL);			/* beyond any user address */
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.c.base = (uint64_t)(uintptr_t)buf;
	big.c.len = SZ_2M;
	big.tail[7] = 1;
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_create(&big.c, &p), E2BIG);
	big.tail[7] = 0;
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_create(&big.c, &p));
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;

	/* Mandatory fields only; no IOMMU; the whole user space. */
	M_RESET();
	m.size = USVA_OFFSETOFEND(struct usva_pager_mirror_config, len);
	m.base = 0;
	m.len = UINT64_C(1) << 47;
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_create(&m, &p));
	TEST_ASSERT_GOTO(p->base == 0 && p->len == m.len && p->page_size == SZ_4K,
			 out, "pager geometry");
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_stats(p, &st));
	TEST_ASSERT_GOTO(st.vmas > 0 && st.rereads == 1, out,
			 "%" PRIu64 " mappings, %" PRIu64 " reads", st.vmas,
			 st.rereads);
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_refresh(p));
	TEST_ASSERT_EQ_GOTO(mstats(p).rereads, 2, "refresh re-reads");
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_stats(p, NULL), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_refresh(NULL), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_stats(NULL, &st), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_pager_file_stats(p, NULL), EINVAL);
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	munmap(buf, SZ_2M);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
#undef M_RESET
#undef M_BAD
	return ret;
}

/* Stage-1 translation of @p va: IOVA = VA and exactly @p prot. */
static int
expect_mirror(struct usva_as *as, const uint8_t *va, uint32_t prot)
{
	struct usva_as_xlate x;

	TEST_ASSERT_OK(usva_as_lookup(as, (uint64_t)(uintptr_t)va, &x));
	TEST_ASSERT_EQ(x.oa, (uint64_t)(uintptr_t)va, "IOVA = VA");
	TEST_ASSERT_EQ(x.prot, prot, "prot of %p", (const void *)va);
	/* (A table whose 512 entries are all mapped alike becomes a 2 MiB
	 * leaf: the AS's business, stage 2 covers the whole chunk then.) */
	return TEST_SUCCESS;
}

#define EXPECT_MIRROR(as, va, prot)					\
	TEST_ASSERT_GOTO(expect_mirror(as, va, prot) == TEST_SUCCESS, out, \
			 "mirror entry")

/*
 * An 8 MiB range, 2 MiB aligned:
 *   [0, 4M) RW, first 16 pages written; [4M, 5M) read-only, written;
 *   [5M, 6M) PROT_NONE; [6M, 7M) not mapped; [7M, 8M) RW, untouched.
 */
USVA_TEST(fast, pager_mirror_map)
{
	struct usva_iommu *iommu = NULL;
	struct usva_pager_mirror_stats st;
	struct usva_emu_dma_fault df;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	struct dev_view v = { 0 };
	uint8_t *r = NULL, tmp[64];
	uint64_t b, unmapped = 0;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	r = reserve(8 * SZ_1M);
	TEST_ASSERT(r != NULL, "reserve");
	b = (uint64_t)(uintptr_t)r;
	TEST_ASSERT_OK_GOTO(map_rw(r, 5 * SZ_1M));
	TEST_ASSERT_OK_GOTO(map_rw(r + 7 * SZ_1M, SZ_1M));
	fill_pattern(r, 16 * SZ_4K, 1);
	fill_pattern(r + 4 * SZ_1M, SZ_1M, 2);
	TEST_ASSERT_GOTO(mprotect(r + 4 * SZ_1M, SZ_1M, PROT_READ) == 0, out,
			 "mprotect");
	TEST_ASSERT_GOTO(munmap(r + 6 * SZ_1M, SZ_1M) == 0, out, "munmap");

	TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(mirror_new(iommu, r, 8 * SZ_1M, &p));
	TEST_ASSERT_EQ_GOTO(mstats(p).vmas, 4, "RW, RO, none, RW");

	/* A read fault maps VA -> VA with the mapping's protection, and
	 * stage 2 for the 2 MiB chunk in one call. */
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + SZ_4K, ACC_R, 0), USVA_PAGER_DONE,
			    "read fault");
	EXPECT_MIRROR(as, r + SZ_4K, P_RWU);
	st = mstats(p);
	TEST_ASSERT_GOTO(st.s2_maps == 1 && st.s2_bytes == SZ_2M && st.mapped == 1,
			 out, "s2 %" PRIu64 " maps %" PRIu64 " bytes", st.s2_maps,
			 st.s2_bytes);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, b + SZ_2M - SZ_4K,
					       r + SZ_2M - SZ_4K, SZ_4K,
					       USVA_S2_READ), EEXIST);
	/* Same chunk: no more stage-2 calls; again: already mapped. */
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + 5 * SZ_4K, ACC_RW, 0),
			    USVA_PAGER_DONE, "write fault");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + SZ_4K, ACC_R, 1), USVA_PAGER_DONE,
			    "fault on a mapped page");
	st = mstats(p);
	TEST_ASSERT_GOTO(st.s2_maps == 1 && st.mapped == 2 &&
			 st.already_mapped == 1 && st.faults == 3, out,
			 "s2_maps %" PRIu64 " mapped %" PRIu64 " already %" PRIu64,
			 st.s2_maps, st.mapped, st.already_mapped);
	/* Next chunk. */
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + SZ_2M + 3 * SZ_4K, ACC_R, 0),
			    USVA_PAGER_DONE, "second chunk");
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_maps, 2, "stage-2 maps");

	/* Read-only mapping: a write fault is refused, a read maps RO;
	 * stage 2 covers the RO mapping's part of the chunk only. */
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + 4 * SZ_1M, ACC_RW, 0), EACCES);
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + 4 * SZ_1M + 2 * SZ_4K, ACC_R, 0),
			    USVA_PAGER_DONE, "read fault, RO");
	EXPECT_MIRROR(as, r + 4 * SZ_1M + 2 * SZ_4K, P_RU);
	st = mstats(p);
	TEST_ASSERT_GOTO(st.s2_maps == 3 && st.s2_bytes == 5 * SZ_1M &&
			 st.prot_denied == 1, out, "s2 %" PRIu64 " bytes, %"
			 PRIu64 " denied", st.s2_bytes, st.prot_denied);
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + 4 * SZ_1M + 3 * SZ_4K, ACC_RW, 0),
			     EACCES);
	/* PROT_NONE, then a hole. */
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + 5 * SZ_1M + SZ_4K, ACC_R, 0),
			     EACCES);
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + 6 * SZ_1M + 2 * SZ_4K, ACC_R, 0),
			     EFAULT);
	TEST_ASSERT_GOTO(usva_as_lookup(as, b + 6 * SZ_1M + 2 * SZ_4K,
					&(struct usva_as_xlate){ 0 }) == -ENOENT,
			 out, "hole mapped");
	st = mstats(p);
	TEST_ASSERT_GOTO(st.prot_denied == 3 && st.no_mapping == 1, out,
			 "denied %" PRIu64 ", not mapped %" PRIu64,
			 st.prot_denied, st.no_mapping);

	/* Never touched: populated by the fault (the device must find the
	 * process's page, not nothing). */
	TEST_ASSERT_GOTO(!resident(r + 7 * SZ_1M + 4 * SZ_4K), out,
			 "resident before the fault");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + 7 * SZ_1M + 4 * SZ_4K, ACC_RW, 0),
			    USVA_PAGER_DONE, "fault on untouched memory");
	TEST_ASSERT_GOTO(resident(r + 7 * SZ_1M + 4 * SZ_4K), out,
			 "not populated");
	EXPECT_MIRROR(as, r + 7 * SZ_1M + 4 * SZ_4K, P_RWU);

	/* The device's view: the process's bytes, both ways. */
	TEST_ASSERT_OK_GOTO(view_open(&v, iommu, as));
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_read(v.dev, v.pasid, b + SZ_4K + 8, tmp,
					      sizeof(tmp), &df), sizeof(tmp),
			    "DMA read");
	TEST_ASSERT_GOTO(memcmp(tmp, r + SZ_4K + 8, sizeof(tmp)) == 0, out,
			 "device reads other bytes");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_write(v.dev, v.pasid, b + 5 * SZ_4K,
					       "mirror", 6, &df), 6, "DMA write");
	TEST_ASSERT_GOTO(memcmp(r + 5 * SZ_4K, "mirror", 6) == 0, out,
			 "the process does not see the device's write");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_read(v.dev, v.pasid,
					      b + 4 * SZ_1M + 2 * SZ_4K, tmp,
					      sizeof(tmp), &df), sizeof(tmp),
			    "DMA read of the RO page");
	TEST_ASSERT_GOTO(memcmp(tmp, r + 4 * SZ_1M + 2 * SZ_4K, sizeof(tmp)) == 0,
			 out, "RO page bytes");
	TEST_ASSERT_EQ_GOTO(usva_emu_dma_write(v.dev, v.pasid,
					       b + 4 * SZ_1M + 2 * SZ_4K, "x", 1,
					       &df), 0, "DMA write to RO");
	TEST_ASSERT_EQ_GOTO(df.reason, USVA_EMU_S1_PERM, "write to RO: reason");
	view_close(&v);

	/* Destroy gives stage 2 back: nothing left in the range. */
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, b, 8 * SZ_1M, &unmapped),
			     ENOENT);
	usva_as_destroy(as);
	as = NULL;
	TEST_ASSERT_OK_GOTO(usva_iommu_close(iommu));
	iommu = NULL;
	ret = TEST_SUCCESS;
out:
	view_close(&v);
	if (p != NULL)
		usva_pager_destroy(p);
	usva_as_destroy(as);
	usva_iommu_close(iommu);
	munmap(r, 8 * SZ_1M);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* The cache follows mmap/mprotect/munmap: refresh, the slow path, and a
 * stale entry that populate catches. */
USVA_TEST(fast, pager_mirror_refresh)
{
	struct usva_iommu *iommu = NULL;
	struct usva_pager_mirror_stats st;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *r = NULL;
	uint64_t b, rereads;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	r = reserve(4 * SZ_1M);
	TEST_ASSERT(r != NULL, "reserve");
	b = (uint64_t)(uintptr_t)r;
	TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(mirror_new(iommu, r, 4 * SZ_1M, &p));
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b, ACC_R, 0), EACCES);

	/* mprotect after create: refresh, then it maps. */
	TEST_ASSERT_GOTO(mprotect(r, SZ_2M, PROT_READ | PROT_WRITE) == 0, out,
			 "mprotect");
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_refresh(p));
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b, ACC_RW, 0), USVA_PAGER_DONE,
			    "after refresh");
	EXPECT_MIRROR(as, r, P_RWU);

	/* Without refresh: the fault's slow path re-reads (past 10 ms). */
	TEST_ASSERT_GOTO(mprotect(r + SZ_2M, SZ_4K, PROT_READ) == 0, out,
			 "mprotect");
	rereads = mstats(p).rereads;
	usleep(20000);
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + SZ_2M, ACC_R, 0), USVA_PAGER_DONE,
			    "slow path");
	EXPECT_MIRROR(as, r + SZ_2M, P_RU);
	TEST_ASSERT_EQ_GOTO(mstats(p).rereads, rereads + 1, "slow-path re-read");
	/* Within 10 ms of it, a fault on a gap does not re-read. */
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + SZ_2M + SZ_1M, ACC_R, 0), EACCES);
	st = mstats(p);
	TEST_ASSERT_GOTO(st.rereads <= rereads + 2, out, "re-reads %" PRIu64,
			 st.rereads);

	/* munmap of memory the cache still holds: populate finds nothing,
	 * the fault fails -EFAULT and nothing is mapped. */
	TEST_ASSERT_GOTO(mprotect(r + 3 * SZ_1M, 2 * SZ_4K,
				  PROT_READ | PROT_WRITE) == 0, out, "mprotect");
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_refresh(p));
	TEST_ASSERT_GOTO(munmap(r + 3 * SZ_1M + SZ_4K, SZ_4K) == 0, out, "munmap");
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + 3 * SZ_1M + SZ_4K, ACC_R, 0),
			     EFAULT);
	TEST_ASSERT_EQ_GOTO(mstats(p).populate_errors, 1, "populate errors");
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_refresh(p));
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + 3 * SZ_1M, ACC_RW, 0),
			    USVA_PAGER_DONE, "after munmap and refresh");
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + 3 * SZ_1M + SZ_4K, ACC_R, 0),
			     EFAULT);

	/* A write to a page whose stage 2 went read-only (the process made
	 * it writable after the fault) is refused: stage 2 keeps its prot. */
	TEST_ASSERT_GOTO(mprotect(r + SZ_2M, SZ_4K, PROT_READ | PROT_WRITE) == 0,
			 out, "mprotect");
	TEST_ASSERT_OK_GOTO(usva_pager_mirror_refresh(p));
	TEST_ASSERT_OK_GOTO(usva_as_unmap(as, b + SZ_2M, SZ_4K, NULL));
	TEST_ASSERT_ERR_GOTO(pfault(p, as, b + SZ_2M, ACC_RW, 0), EACCES);
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_readonly, 1, "s2_readonly");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + SZ_2M, ACC_R, 0), USVA_PAGER_DONE,
			    "read of the same page");
	EXPECT_MIRROR(as, r + SZ_2M, P_RU);

	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, b, 4 * SZ_1M, NULL),
			     ENOENT);
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	usva_as_destroy(as);
	if (usva_iommu_close(iommu) != 0)
		ret = TEST_FAILED;
	munmap(r, 4 * SZ_1M);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* IOVA = VA outside the apertures (a 39-bit IOMMU), or in the MSI window:
 * refused, counted, nothing mapped. */
USVA_TEST(fast, pager_mirror_aperture)
{
	struct usva_iommu *iommu = NULL;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *r = NULL, *msi = MAP_FAILED;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	r = reserve(SZ_2M);
	TEST_ASSERT(r != NULL, "reserve");
	TEST_ASSERT_OK_GOTO(map_rw(r, SZ_2M));
	TEST_ASSERT_GOTO((uintptr_t)r >= (UINT64_C(1) << 39), out,
			 "mmap placed memory below 2^39");
	TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd,aw=39", &iommu));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(mirror_new(iommu, r, SZ_2M, &p));
	TEST_ASSERT_ERR_GOTO(pfault(p, as, (uint64_t)(uintptr_t)r, ACC_R, 0),
			     EINVAL);
	TEST_ASSERT_ERR_GOTO(pfault(p, as, (uint64_t)(uintptr_t)r, ACC_R, 0),
			     EINVAL);
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_refused, 2, "refused");
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_maps, 0, "stage-2 maps");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	usva_iommu_close(iommu);
	iommu = NULL;

	/* The x86 MSI window, if this process can map there. */
	msi = mmap((void *)(uintptr_t)0xfee00000u, SZ_4K, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (msi != MAP_FAILED && msi != (void *)(uintptr_t)0xfee00000u) {
		munmap(msi, SZ_4K);
		msi = MAP_FAILED;
	}
	if (msi != MAP_FAILED) {
		TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
		TEST_ASSERT_OK_GOTO(mirror_new(iommu, msi, SZ_4K, &p));
		TEST_ASSERT_ERR_GOTO(pfault(p, as, 0xfee00000u, ACC_RW, 0),
				     EINVAL);
		TEST_ASSERT_EQ_GOTO(mstats(p).s2_refused, 1, "refused");
		TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
		p = NULL;
	}
	TEST_ASSERT_GOTO(usva_as_lookup(as, (uint64_t)(uintptr_t)r,
					&(struct usva_as_xlate){ 0 }) == -ENOENT,
			 out, "mapped");
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	usva_as_destroy(as);
	usva_iommu_close(iommu);
	munmap(r, SZ_2M);
	if (msi != MAP_FAILED)
		munmap(msi, SZ_4K);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* A page someone else mapped in stage 2 is used, not taken over. */
USVA_TEST(fast, pager_mirror_foreign_s2)
{
	struct usva_iommu *iommu = NULL;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *r = NULL;
	uint64_t b, done = 0;
	bool foreign = false;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	r = reserve(SZ_2M);
	TEST_ASSERT(r != NULL, "reserve");
	b = (uint64_t)(uintptr_t)r;
	TEST_ASSERT_OK_GOTO(map_rw(r, 4 * SZ_4K));
	TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_map(iommu, b + SZ_4K, r + SZ_4K, SZ_4K,
					      USVA_S2_READ | USVA_S2_WRITE));
	foreign = true;
	TEST_ASSERT_OK_GOTO(mirror_new(iommu, r, SZ_2M, &p));
	/* The extent [0, 4 pages) overlaps the foreign page: the pager maps
	 * the faulting page alone. */
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b, ACC_RW, 0), USVA_PAGER_DONE, "page 0");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + SZ_4K, ACC_RW, 0), USVA_PAGER_DONE,
			    "foreign page");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, b + 2 * SZ_4K, ACC_RW, 0),
			    USVA_PAGER_DONE, "page 2");
	EXPECT_MIRROR(as, r + SZ_4K, P_RWU);
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_foreign, 1, "foreign pages");
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_bytes, 3 * SZ_4K, "own stage 2");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	/* Ours went, the other one stayed. */
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, b, SZ_4K, NULL), ENOENT);
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, b + 2 * SZ_4K, 2 * SZ_4K,
						 NULL), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_iommu_s2_unmap(iommu, b + SZ_4K, SZ_4K, &done));
	foreign = false;
	TEST_ASSERT_EQ_GOTO(done, SZ_4K, "foreign mapping");
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	if (foreign)
		usva_iommu_s2_unmap(iommu, b + SZ_4K, SZ_4K, NULL);
	usva_as_destroy(as);
	usva_iommu_close(iommu);
	munmap(r, SZ_2M);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* Without an IOMMU the pager still populates and maps stage 1. */
USVA_TEST(fast, pager_mirror_no_iommu)
{
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *r = NULL;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	r = reserve(SZ_2M);
	TEST_ASSERT(r != NULL, "reserve");
	TEST_ASSERT_OK_GOTO(map_rw(r, SZ_2M));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(mirror_new(NULL, r, SZ_2M, &p));
	TEST_ASSERT_EQ_GOTO(pfault(p, as, (uint64_t)(uintptr_t)r + 9 * SZ_4K,
				   ACC_R, 3), USVA_PAGER_DONE, "fault");
	TEST_ASSERT_GOTO(resident(r + 9 * SZ_4K), out, "not populated");
	EXPECT_MIRROR(as, r + 9 * SZ_4K, P_RWU);
	TEST_ASSERT_EQ_GOTO(mstats(p).s2_maps, 0, "stage-2 maps");
	TEST_ASSERT_ERR_GOTO(pfault(p, as, (uint64_t)(uintptr_t)r, ACC_R,
				    USVA_FAULT_MAX_LCORES), EINVAL);
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	usva_as_destroy(as);
	munmap(r, SZ_2M);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

struct two_lcores {
	struct usva_pager *p;
	struct usva_as *as;
	uint64_t base;
	unsigned int pages;
	unsigned int slot;
	bool reverse;
	unsigned int errors;
};

static int
two_lcores_run(void *arg)
{
	struct two_lcores *t = arg;

	for (unsigned int i = 0; i < t->pages; i++) {
		unsigned int pg = t->reverse ? t->pages - 1 - i : i;

		if (pfault(t->p, t->as, t->base + pg * SZ_4K, ACC_RW, t->slot) !=
		    USVA_PAGER_DONE)
			t->errors++;
	}
	return 0;
}

/* Two fault lcores, two address spaces, one pager: every chunk is mapped
 * in stage 2 once, every page in both address spaces. */
USVA_TEST(fast, pager_mirror_two_lcores)
{
	enum { LEN = 16 * 1024 * 1024 };
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	struct usva_iommu *iommu = NULL;
	struct usva_pager_mirror_stats st;
	struct two_lcores t[2];
	struct usva_pager *p = NULL;
	struct usva_as *as[2] = { NULL, NULL };
	uint8_t *r = NULL;
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	if (worker >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	r = reserve(LEN);
	TEST_ASSERT(r != NULL, "reserve");
	TEST_ASSERT_OK_GOTO(map_rw(r, LEN));
	TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
	TEST_ASSERT_OK_GOTO(as_new(&as[0]));
	TEST_ASSERT_OK_GOTO(as_new(&as[1]));
	TEST_ASSERT_OK_GOTO(mirror_new(iommu, r, LEN, &p));
	for (int i = 0; i < 2; i++)
		t[i] = (struct two_lcores){
			.p = p, .as = as[i], .base = (uint64_t)(uintptr_t)r,
			.pages = LEN / SZ_4K, .slot = i, .reverse = i == 1,
		};
	TEST_ASSERT_OK_GOTO(rte_eal_remote_launch(two_lcores_run, &t[1], worker));
	two_lcores_run(&t[0]);
	rte_eal_wait_lcore(worker);
	TEST_ASSERT_GOTO(t[0].errors == 0 && t[1].errors == 0, out,
			 "errors %u %u", t[0].errors, t[1].errors);
	st = mstats(p);
	TEST_ASSERT_GOTO(st.s2_maps == LEN / SZ_2M && st.s2_bytes == LEN &&
			 st.mapped == 2 * (LEN / SZ_4K) && st.s2_foreign == 0,
			 out, "s2 %" PRIu64 " maps, %" PRIu64 " bytes, %" PRIu64
			 " mapped, %" PRIu64 " foreign", st.s2_maps,
			 st.s2_bytes, st.mapped, st.s2_foreign);
	for (uint64_t off = 0; off < LEN; off += 97 * SZ_4K) {
		EXPECT_MIRROR(as[0], r + off, P_RWU);
		EXPECT_MIRROR(as[1], r + off, P_RWU);
	}
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, (uint64_t)(uintptr_t)r,
						 LEN, NULL), ENOENT);
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	usva_as_destroy(as[0]);
	usva_as_destroy(as[1]);
	usva_iommu_close(iommu);
	munmap(r, LEN);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* Every allocation and fail point of create, fault and destroy. The
 * IOMMU is opened afresh each time: its own stage-2 bookkeeping is not the
 * pager's to count. */
USVA_TEST(fast, pager_mirror_failnth)
{
	struct usva_iommu *iommu = NULL;
	struct usva_as *as = NULL;
	uint8_t *r = NULL;
	int64_t live;
	uint32_t n;
	int ret = TEST_FAILED;

	r = reserve(SZ_2M);
	TEST_ASSERT(r != NULL, "reserve");
	TEST_ASSERT_OK_GOTO(map_rw(r, SZ_2M));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	live = usva_alloc_outstanding();
	for (n = 1; n < 200; n++) {
		struct usva_pager *p = NULL;
		bool fired;
		int rc;

		TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
		usva_failnth_set(n);
		rc = mirror_new(iommu, r, SZ_2M, &p);
		if (rc == 0) {
			rc = pfault(p, as, (uint64_t)(uintptr_t)r, ACC_RW, 0);
			TEST_ASSERT_GOTO(rc == USVA_PAGER_DONE || rc == -ENOMEM,
					 out, "n=%u: fault %d", n, rc);
			usva_pager_destroy(p);
		} else {
			TEST_ASSERT_GOTO(rc == -ENOMEM, out, "n=%u: create %d", n,
					 rc);
			TEST_ASSERT_GOTO(p == NULL, out, "n=%u: *out set", n);
		}
		fired = usva_failnth_fired();
		usva_failnth_set(0);
		usva_as_unmap(as, (uint64_t)(uintptr_t)r, SZ_2M, NULL);
		TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu,
				(uint64_t)(uintptr_t)r, SZ_2M, NULL), ENOENT);
		TEST_ASSERT_OK_GOTO(usva_iommu_close(iommu));
		iommu = NULL;
		TEST_ASSERT_EQ_GOTO(usva_alloc_outstanding(), live, "n=%u", n);
		if (!fired)
			break;
	}
	TEST_ASSERT_GOTO(n > 5 && n < 200, out, "%u fail points", n);
	ret = TEST_SUCCESS;
out:
	usva_failnth_set(0);
	usva_as_destroy(as);
	usva_iommu_close(iommu);
	munmap(r, SZ_2M);
	return ret;
}

/* ==== file ================================================================== */

/* A temporary file of @p size bytes of pattern @p seed; unlinked. */
static int
temp_file(uint64_t size, uint64_t seed, uint8_t **data)
{
	char path[] = "/tmp/usva-pager-XXXXXX";
	uint8_t *d = malloc(size);
	int fd;

	if (d == NULL)
		return -ENOMEM;
	fill_pattern(d, size, seed);
	fd = mkstemp(path);
	if (fd < 0) {
		free(d);
		return -errno;
	}
	unlink(path);
	if (write(fd, d, size) != (ssize_t)size) {
		close(fd);
		free(d);
		return -EIO;
	}
	*data = d;
	return fd;
}

/* A 4 KiB data pool of the case's own, so that its counts are exact (the
 * address space's tables come from the default pool). */
static int
pool_new(uint32_t pages, struct usva_page_pool **out)
{
	struct usva_page_pool_config c = {
		.size = sizeof(c), .page_shift = 12, .nr_pages = pages,
		.numa_node = -1,
	};

	*out = NULL;
	return usva_page_pool_create(&c, out);
}

static int
file_new(int fd, struct usva_page_pool *pool, uint32_t depth,
	 uint32_t max_pending, uint64_t base, uint64_t len, uint64_t off,
	 uint32_t prot, struct usva_pager **out)
{
	struct usva_pager_file_config c = {
		.size = sizeof(c), .fd = fd, .queue_depth = depth,
		.base = base, .len = len, .file_offset = off, .prot = prot,
		.pool = pool, .max_pending = max_pending,
	};

	*out = NULL;
	return usva_pager_file_create(&c, out);
}

/* Flush every slot until @p want pages are answered and nothing is left
 * in flight, or 5 s passed. @return the stats at the end. */
static struct usva_pager_file_stats
file_drain(struct usva_pager *p, uint64_t want)
{
	uint64_t end = app_now_ns() + UINT64_C(5000000000);
	struct usva_pager_file_stats st;

	for (;;) {
		for (unsigned int slot = 0; slot < USVA_FAULT_MAX_LCORES; slot++)
			p->ops->flush(p, slot);
		st = fstats(p);
		if ((st.completed + st.already_mapped + st.read_errors +
		     st.map_errors >= want && st.in_flight == 0 &&
		     st.waiting == 0) || app_now_ns() > end)
			return st;
		usleep(100);
	}
}

/* Unmap [base, base + len) of @p as and give @p pool's pages back (the
 * file pager's pages are the address space's once mapped).
 * @return pages given back. */
static unsigned int
reclaim(struct usva_as *as, struct usva_page_pool *pool, uint64_t base,
	uint64_t len)
{
	unsigned int n = 0;

	for (uint64_t va = base; va < base + len; va += SZ_4K) {
		struct usva_as_xlate x;

		if (usva_as_lookup(as, va, &x) != 0)
			continue;
		if (usva_as_unmap(as, va, SZ_4K, NULL) == 0 &&
		    usva_page_pool_contains(pool, (void *)(uintptr_t)x.oa)) {
			usva_page_free(pool, (void *)(uintptr_t)x.oa, false);
			n++;
		}
	}
	return n;
}

/* Common end of a file case: pages given back, pool empty and gone. */
#define FILE_CASE_END(as, pool, base, len)				\
	do {								\
		if ((as) != NULL)					\
			reclaim(as, pool, base, len);			\
		usva_as_destroy(as);					\
		if ((pool) != NULL && pool_in_use(pool) != 0 &&		\
		    ret == TEST_SUCCESS) {				\
			printf("    %" PRIu64 " pool pages left\n",	\
			       pool_in_use(pool));			\
			ret = TEST_FAILED;				\
		}							\
		usva_page_pool_destroy(pool);				\
	} while (0)

USVA_TEST(fast, pager_file_config)
{
	struct {
		struct usva_pager_file_config c;
		uint8_t tail[8];
	} big;
	struct usva_pager_file_config fc;
	struct usva_pager_file_stats st;
	struct usva_pager *p = NULL;
	uint8_t *data = NULL;
	int fd = -1, closed_fd = -1, path_fd = -1, pipefd[2] = { -1, -1 };
	int64_t live = usva_alloc_outstanding();
	int ret = TEST_FAILED;

	fd = temp_file(4 * SZ_4K, 7, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	closed_fd = dup(fd);
	close(closed_fd);
	path_fd = open("/tmp", O_PATH);
	TEST_ASSERT_GOTO(pipe(pipefd) == 0 && path_fd >= 0, out, "pipe, O_PATH");
#define F_RESET() do {							\
		memset(&fc, 0, sizeof(fc));				\
		fc.size = sizeof(fc);					\
		fc.fd = fd;						\
		fc.base = FILE_VA;					\
		fc.len = 16 * SZ_4K;					\
	} while (0)
#define F_BAD(err) TEST_ASSERT_ERR_GOTO(usva_pager_file_create(&fc, &p), err)
	F_RESET();
	TEST_ASSERT_ERR_GOTO(usva_pager_file_create(NULL, &p), EFAULT);
	TEST_ASSERT_ERR_GOTO(usva_pager_file_create(&fc, NULL), EINVAL);
	fc.size = USVA_OFFSETOFEND(struct usva_pager_file_config, file_offset) - 1;
	F_BAD(EINVAL);
	F_RESET();
	fc.fd = closed_fd;
	F_BAD(EBADF);
	F_RESET();
	fc.fd = path_fd;
	F_BAD(EBADF);
	F_RESET();
	fc.fd = pipefd[0];
	F_BAD(EINVAL);
	F_RESET();
	fc.prot = USVA_PROT_READ | 0x100;
	F_BAD(EINVAL);
	F_RESET();
	fc.queue_depth = 8;
	fc.max_pending = 7;
	F_BAD(EINVAL);
	F_RESET();
	fc.file_offset = INT64_MAX - SZ_4K + 1;
	F_BAD(EINVAL);			/* the file range passes 2^63 */
	F_RESET();
	fc.reserved[0] = 1;
	F_BAD(EINVAL);
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.c.fd = fd;
	big.c.base = FILE_VA;
	big.c.len = SZ_4K;
	big.tail[0] = 1;
	TEST_ASSERT_ERR_GOTO(usva_pager_file_create(&big.c, &p), E2BIG);
	/* Mandatory fields only: defaults for the rest. */
	F_RESET();
	fc.size = USVA_OFFSETOFEND(struct usva_pager_file_config, file_offset);
	fc.queue_depth = 1;
	TEST_ASSERT_OK_GOTO(usva_pager_file_create(&fc, &p));
	TEST_ASSERT_GOTO(p->base == FILE_VA && p->len == 16 * SZ_4K &&
			 p->page_size == SZ_4K, out, "pager geometry");
	TEST_ASSERT_OK_GOTO(usva_pager_file_stats(p, &st));
	TEST_ASSERT_EQ_GOTO(st.faults, 0, "faults");
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_stats(p, NULL), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_pager_mirror_refresh(p), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_pager_file_stats(NULL, &st), EINVAL);
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	close(fd);
	if (path_fd >= 0)
		close(path_fd);
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	free(data);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
#undef F_RESET
#undef F_BAD
	return ret;
}

/* The page at file offset @p foff, for a file of @p fsize bytes: the
 * file's bytes, then zeroes. */
static bool
file_page_ok(const uint8_t *page, const uint8_t *data, uint64_t fsize,
	     uint64_t foff)
{
	for (uint64_t i = 0; i < SZ_4K; i++) {
		uint8_t want = foff + i < fsize ? data[foff + i] : 0;

		if (page[i] != want)
			return false;
	}
	return true;
}

/* Pages at several offsets, the end-of-file page, pages past the end,
 * file_offset, a read-only pager. */
USVA_TEST(fast, pager_file_read)
{
	static const unsigned int pages[] = { 0, 3, 8, 9, 12, 15 };
	const uint64_t fsize = 10 * SZ_4K + 100;
	struct usva_pager_file_stats st;
	struct usva_page_pool *pool = NULL;
	struct usva_pager *p = NULL, *ro = NULL;
	struct usva_as_xlate x;
	struct usva_as *as = NULL;
	uint8_t *data = NULL;
	int64_t live = usva_alloc_outstanding();
	int fd, ret = TEST_FAILED;

	fd = temp_file(fsize, 11, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	TEST_ASSERT_OK_GOTO(pool_new(32, &pool));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	/* VA FILE_VA is file offset 4 KiB. */
	TEST_ASSERT_OK_GOTO(file_new(fd, pool, 0, 0, FILE_VA, 16 * SZ_4K, SZ_4K,
				     0, &p));
	for (unsigned int i = 0; i < RTE_DIM(pages); i++)
		TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + pages[i] * SZ_4K,
					   ACC_RW, 2), USVA_PAGER_PENDING,
				    "page %u", pages[i]);
	/* Nothing mapped before flush reaps the reads. */
	TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, FILE_VA, &x), ENOENT);
	TEST_ASSERT_EQ_GOTO(fstats(p).in_flight, RTE_DIM(pages), "in flight");
	TEST_ASSERT_EQ_GOTO(pool_in_use(pool), RTE_DIM(pages), "pages taken");
	st = file_drain(p, RTE_DIM(pages));
	TEST_ASSERT_EQ_GOTO(st.completed, RTE_DIM(pages), "completed");
	/* Page 9 ends 100 bytes in (a short read, then end of file); 12
	 * and 15 lie past the end. */
	TEST_ASSERT_GOTO(st.read_errors == 0 && st.map_errors == 0 &&
			 st.eof_pages == 3 && st.short_reads == 1 &&
			 st.in_flight == 0 && st.waiting == 0, out,
			 "errors %" PRIu64 "/%" PRIu64 " eof %" PRIu64 " short %"
			 PRIu64, st.read_errors, st.map_errors, st.eof_pages,
			 st.short_reads);
	for (unsigned int i = 0; i < RTE_DIM(pages); i++) {
		uint64_t va = FILE_VA + pages[i] * SZ_4K;

		TEST_ASSERT_OK_GOTO(usva_as_lookup(as, va, &x));
		TEST_ASSERT_GOTO(x.prot == P_RWU && x.page_size == SZ_4K &&
				 usva_page_pool_contains(pool,
						(void *)(uintptr_t)x.oa), out,
				 "page %u entry", pages[i]);
		TEST_ASSERT_GOTO(file_page_ok((const uint8_t *)(uintptr_t)x.oa,
					      data, fsize,
					      (pages[i] + 1) * SZ_4K), out,
				 "page %u bytes", pages[i]);
	}
	/* A fault on a page mapped meanwhile: the new page goes back. */
	TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA, ACC_R, 2), USVA_PAGER_PENDING,
			    "mapped page");
	st = file_drain(p, RTE_DIM(pages) + 1);
	TEST_ASSERT_EQ_GOTO(st.already_mapped, 1, "already mapped");
	TEST_ASSERT_EQ_GOTO(pool_in_use(pool), RTE_DIM(pages), "page given back");
	/* Outside the range, bad slot. */
	TEST_ASSERT_ERR_GOTO(pfault(p, as, FILE_VA + 16 * SZ_4K, ACC_R, 2), EFAULT);
	TEST_ASSERT_ERR_GOTO(pfault(p, as, FILE_VA, ACC_R, USVA_FAULT_MAX_LCORES),
			     EINVAL);
	TEST_ASSERT_EQ_GOTO(p->ops->flush(p, USVA_FAULT_MAX_LCORES), 0, "bad slot");

	/* A read-only pager: writes refused, reads mapped read-only. */
	TEST_ASSERT_OK_GOTO(file_new(fd, pool, 4, 0, FILE_VA + SZ_1G, 4 * SZ_4K, 0,
				     P_RU, &ro));
	TEST_ASSERT_ERR_GOTO(pfault(ro, as, FILE_VA + SZ_1G, ACC_RW, 0), EACCES);
	TEST_ASSERT_EQ_GOTO(pfault(ro, as, FILE_VA + SZ_1G, ACC_R, 0),
			    USVA_PAGER_PENDING, "read");
	st = file_drain(ro, 1);
	TEST_ASSERT_GOTO(st.completed == 1 && st.prot_denied == 1, out,
			 "read-only pager");
	TEST_ASSERT_OK_GOTO(usva_as_lookup(as, FILE_VA + SZ_1G, &x));
	TEST_ASSERT_EQ_GOTO(x.prot, P_RU, "read-only entry");
	TEST_ASSERT_GOTO(memcmp((void *)(uintptr_t)x.oa, data, SZ_4K) == 0, out,
			 "bytes at offset 0");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(ro));
	ro = NULL;
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_EQ_GOTO(reclaim(as, pool, FILE_VA, 16 * SZ_4K), RTE_DIM(pages),
			    "pages");
	TEST_ASSERT_EQ_GOTO(reclaim(as, pool, FILE_VA + SZ_1G, 4 * SZ_4K), 1,
			    "pages");
	ret = TEST_SUCCESS;
out:
	if (ro != NULL)
		usva_pager_destroy(ro);
	if (p != NULL)
		usva_pager_destroy(p);
	if (as != NULL)
		reclaim(as, pool, FILE_VA + SZ_1G, 4 * SZ_4K);
	FILE_CASE_END(as, pool, FILE_VA, 16 * SZ_4K);
	close(fd);
	free(data);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* queue_depth 8, 64 faults at once: 8 in flight, the rest wait their
 * turn, all complete with the right bytes. */
USVA_TEST(fast, pager_file_many)
{
	enum { N = 64, DEPTH = 8 };
	struct usva_pager_file_stats st;
	struct usva_page_pool *pool = NULL;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *data = NULL;
	int64_t live = usva_alloc_outstanding();
	int fd, ret = TEST_FAILED;

	fd = temp_file(N * SZ_4K, 21, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	TEST_ASSERT_OK_GOTO(pool_new(2 * N, &pool));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(file_new(fd, pool, DEPTH, 0, FILE_VA, N * SZ_4K, 0, 0,
				     &p));
	for (unsigned int i = 0; i < N; i++)
		TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + i * SZ_4K, ACC_R, 1),
				    USVA_PAGER_PENDING, "page %u", i);
	st = fstats(p);
	TEST_ASSERT_GOTO(st.in_flight == DEPTH && st.waiting == N - DEPTH, out,
			 "%" PRIu64 " in flight, %" PRIu64 " waiting",
			 st.in_flight, st.waiting);
	st = file_drain(p, N);
	TEST_ASSERT_EQ_GOTO(st.completed, N, "completed");
	TEST_ASSERT_EQ_GOTO(st.max_in_flight, DEPTH, "most in flight");
	TEST_ASSERT_EQ_GOTO(st.reads, N, "reads");
	TEST_ASSERT_GOTO(st.submits >= N / DEPTH && st.submits <= N, out,
			 "%" PRIu64 " submits", st.submits);
	for (unsigned int i = 0; i < N; i++) {
		struct usva_as_xlate x;

		TEST_ASSERT_OK_GOTO(usva_as_lookup(as, FILE_VA + i * SZ_4K, &x));
		TEST_ASSERT_GOTO(memcmp((void *)(uintptr_t)x.oa, data + i * SZ_4K,
					SZ_4K) == 0, out, "page %u bytes", i);
	}
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_EQ_GOTO(reclaim(as, pool, FILE_VA, N * SZ_4K), N, "pages");
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	FILE_CASE_END(as, pool, FILE_VA, N * SZ_4K);
	close(fd);
	free(data);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* max_pending requests per slot, then -EBUSY (no page taken); other
 * slots unaffected; room again after completions. */
USVA_TEST(fast, pager_file_busy)
{
	struct usva_pager_file_stats st;
	struct usva_page_pool *pool = NULL;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *data = NULL;
	int64_t live = usva_alloc_outstanding();
	int fd, ret = TEST_FAILED;

	fd = temp_file(8 * SZ_4K, 5, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	TEST_ASSERT_OK_GOTO(pool_new(16, &pool));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(file_new(fd, pool, 2, 4, FILE_VA, 8 * SZ_4K, 0, 0, &p));
	for (unsigned int i = 0; i < 4; i++)
		TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + i * SZ_4K, ACC_R, 0),
				    USVA_PAGER_PENDING, "page %u", i);
	TEST_ASSERT_ERR_GOTO(pfault(p, as, FILE_VA + 4 * SZ_4K, ACC_R, 0), EBUSY);
	TEST_ASSERT_EQ_GOTO(pool_in_use(pool), 4, "pages taken");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + 5 * SZ_4K, ACC_R, 1),
			    USVA_PAGER_PENDING, "other slot");
	st = file_drain(p, 5);
	TEST_ASSERT_GOTO(st.completed == 5 && st.busy == 1, out,
			 "completed %" PRIu64 ", busy %" PRIu64, st.completed,
			 st.busy);
	TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + 4 * SZ_4K, ACC_R, 0),
			    USVA_PAGER_PENDING, "after the completions");
	st = file_drain(p, 6);
	TEST_ASSERT_EQ_GOTO(st.completed, 6, "completed");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_EQ_GOTO(reclaim(as, pool, FILE_VA, 8 * SZ_4K), 6, "pages");
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	FILE_CASE_END(as, pool, FILE_VA, 8 * SZ_4K);
	close(fd);
	free(data);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/*
 * Read errors complete -EIO and give the page back. /proc/self/mem is a
 * file whose offsets are this process's addresses: a readable address
 * reads its bytes; the page of a memfd mapping past the memfd's end
 * cannot be read (EIO).
 */
USVA_TEST(fast, pager_file_eio)
{
	struct usva_pager_file_stats st;
	struct usva_page_pool *pool = NULL;
	struct usva_pager *p = NULL;
	struct usva_as_xlate x;
	struct usva_as *as = NULL;
	uint8_t *mem = MAP_FAILED;
	int64_t live = usva_alloc_outstanding();
	int fd, mfd = -1, ret = TEST_FAILED;

	fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		TEST_SKIP("no /proc/self/mem");
	mfd = memfd_create("usva-pager-eio", MFD_CLOEXEC);
	TEST_ASSERT_GOTO(mfd >= 0 && ftruncate(mfd, SZ_4K) == 0, out, "memfd");
	mem = mmap(NULL, 2 * SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	TEST_ASSERT_GOTO(mem != MAP_FAILED, out, "mmap");
	fill_pattern(mem, SZ_4K, 3);
	TEST_ASSERT_OK_GOTO(pool_new(8, &pool));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(file_new(fd, pool, 4, 0, FILE_VA, 2 * SZ_4K,
				     (uint64_t)(uintptr_t)mem, 0, &p));
	TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA, ACC_R, 0), USVA_PAGER_PENDING,
			    "readable offset");
	TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + SZ_4K, ACC_R, 0),
			    USVA_PAGER_PENDING, "unreadable offset");
	st = file_drain(p, 2);
	TEST_ASSERT_GOTO(st.completed == 1 && st.read_errors == 1, out,
			 "completed %" PRIu64 ", read errors %" PRIu64,
			 st.completed, st.read_errors);
	TEST_ASSERT_OK_GOTO(usva_as_lookup(as, FILE_VA, &x));
	TEST_ASSERT_GOTO(memcmp((void *)(uintptr_t)x.oa, mem, SZ_4K) == 0, out,
			 "bytes");
	TEST_ASSERT_ERR_GOTO(usva_as_lookup(as, FILE_VA + SZ_4K, &x), ENOENT);
	TEST_ASSERT_EQ_GOTO(pool_in_use(pool), 1, "failed page given back");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_EQ_GOTO(reclaim(as, pool, FILE_VA, 2 * SZ_4K), 1, "pages");
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	FILE_CASE_END(as, pool, FILE_VA, 2 * SZ_4K);
	if (mem != MAP_FAILED)
		munmap(mem, 2 * SZ_4K);
	if (mfd >= 0)
		close(mfd);
	close(fd);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* Destroy with reads prepared, submitted and waiting, on two slots:
 * every page comes back. */
USVA_TEST(fast, pager_file_destroy_pending)
{
	struct usva_page_pool *pool = NULL;
	struct usva_pager *p = NULL;
	struct usva_as *as = NULL;
	uint8_t *data = NULL;
	int64_t live = usva_alloc_outstanding();
	int fd, ret = TEST_FAILED;

	fd = temp_file(32 * SZ_4K, 9, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	TEST_ASSERT_OK_GOTO(pool_new(32, &pool));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	TEST_ASSERT_OK_GOTO(file_new(fd, pool, 4, 0, FILE_VA, 32 * SZ_4K, 0, 0,
				     &p));
	for (unsigned int i = 0; i < 10; i++)
		TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + i * SZ_4K, ACC_R, 0),
				    USVA_PAGER_PENDING, "page %u", i);
	p->ops->flush(p, 0);
	for (unsigned int i = 10; i < 20; i++)
		TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + i * SZ_4K, ACC_R, 0),
				    USVA_PAGER_PENDING, "page %u", i);
	for (unsigned int i = 20; i < 24; i++)
		TEST_ASSERT_EQ_GOTO(pfault(p, as, FILE_VA + i * SZ_4K, ACC_R, 5),
				    USVA_PAGER_PENDING, "page %u", i);
	TEST_ASSERT_EQ_GOTO(pool_in_use(pool), 24, "pages taken");
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	FILE_CASE_END(as, pool, FILE_VA, 32 * SZ_4K);
	close(fd);
	free(data);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* With an IOMMU the pool is in stage 2 while the pager lives. */
USVA_TEST(fast, pager_file_pool_s2)
{
	struct usva_pager_file_config c;
	struct usva_iommu *iommu = NULL;
	struct usva_page_pool *pool = NULL;
	struct usva_pager *p = NULL;
	uint8_t *data = NULL;
	void *base;
	uint64_t len;
	int64_t live = usva_alloc_outstanding();
	int fd, ret = TEST_FAILED;

	fd = temp_file(4 * SZ_4K, 1, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	TEST_ASSERT_OK_GOTO(pool_new(16, &pool));
	usva_page_pool_region(pool, &base, &len);
	TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
	c = (struct usva_pager_file_config){
		.size = sizeof(c), .fd = fd, .base = FILE_VA, .len = 4 * SZ_4K,
		.pool = pool, .iommu = iommu,
	};
	TEST_ASSERT_OK_GOTO(usva_pager_file_create(&c, &p));
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_map(iommu, (uint64_t)(uintptr_t)base,
					       base, SZ_4K, USVA_S2_READ), EEXIST);
	TEST_ASSERT_ERR_GOTO(usva_iommu_close(iommu), EBUSY);
	TEST_ASSERT_OK_GOTO(usva_pager_destroy(p));
	p = NULL;
	TEST_ASSERT_ERR_GOTO(usva_iommu_s2_unmap(iommu, (uint64_t)(uintptr_t)base,
						 len, NULL), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_iommu_close(iommu));
	iommu = NULL;
	ret = TEST_SUCCESS;
out:
	if (p != NULL)
		usva_pager_destroy(p);
	usva_iommu_close(iommu);
	usva_page_pool_destroy(pool);
	close(fd);
	free(data);
	if (ret == TEST_SUCCESS)
		TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "allocations left");
	return ret;
}

/* Every allocation and fail point of create, fault, flush and destroy;
 * the IOMMU is opened afresh each time (its bookkeeping is not ours). */
USVA_TEST(fast, pager_file_failnth)
{
	struct usva_page_pool *pool = NULL;
	struct usva_iommu *iommu = NULL;
	struct usva_as *as = NULL;
	uint8_t *data = NULL;
	int64_t live;
	uint32_t n;
	int fd, ret = TEST_FAILED;

	fd = temp_file(4 * SZ_4K, 2, &data);
	TEST_ASSERT(fd >= 0, "temp file: %d", fd);
	TEST_ASSERT_OK_GOTO(pool_new(8, &pool));
	TEST_ASSERT_OK_GOTO(as_new(&as));
	live = usva_alloc_outstanding();
	for (n = 1; n < 200; n++) {
		struct usva_pager_file_config c = {
			.size = sizeof(c), .fd = fd, .base = FILE_VA,
			.len = 4 * SZ_4K, .queue_depth = 4, .pool = pool,
		};
		struct usva_pager *p = NULL;
		bool fired;
		int rc;

		TEST_ASSERT_OK_GOTO(emu_open("flavour=vtd", &iommu));
		c.iommu = iommu;
		usva_failnth_set(n);
		rc = usva_pager_file_create(&c, &p);
		if (rc == 0) {
			rc = pfault(p, as, FILE_VA, ACC_R, 0);
			TEST_ASSERT_GOTO(rc == USVA_PAGER_PENDING || rc == -ENOMEM,
					 out, "n=%u: fault %d", n, rc);
			file_drain(p, rc == USVA_PAGER_PENDING);
			usva_pager_destroy(p);
		} else {
			TEST_ASSERT_GOTO(rc == -ENOMEM, out, "n=%u: create %d", n,
					 rc);
			TEST_ASSERT_GOTO(p == NULL, out, "n=%u: *out set", n);
		}
		fired = usva_failnth_fired();
		usva_failnth_set(0);
		reclaim(as, pool, FILE_VA, 4 * SZ_4K);
		/* The pool left stage 2 with the pager: close succeeds. */
		TEST_ASSERT_OK_GOTO(usva_iommu_close(iommu));
		iommu = NULL;
		TEST_ASSERT_EQ_GOTO(usva_alloc_outstanding(), live, "n=%u", n);
		TEST_ASSERT_EQ_GOTO(pool_in_use(pool), 0, "n=%u: pages", n);
		if (!fired)
			break;
	}
	TEST_ASSERT_GOTO(n > 5 && n < 200, out, "%u fail points", n);
	ret = TEST_SUCCESS;
out:
	usva_failnth_set(0);
	usva_iommu_close(iommu);
	FILE_CASE_END(as, pool, FILE_VA, 4 * SZ_4K);
	close(fd);
	free(data);
	return ret;
}
