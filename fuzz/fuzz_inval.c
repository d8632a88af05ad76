/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_inval: invalidation batches (usva_inval.h) from arbitrary entries,
 * with failures injected into the emu invalidation queue
 * (usva_emu_inval_fail_nth), checked for what they report and for what
 * they do.
 *
 * Set-up (once): an emu instance (vtd, roomy IOTLB and device TLBs, so
 * that stale entries stay cached), devices d0 (PRI, ATS), d1 (PRI), d2
 * (ATS); PASIDs p0, p1 and p2 (never attached); raw-root domains D0 and
 * D1 over x86 tables this harness writes, and D2 (never attached);
 * attachments (d0,p0,D0) (d1,p0,D0) (d2,p1,D0) (d0,p1,D1) (d2,p0,D1). A
 * second instance with a device and a domain, for entries naming objects
 * of another instance. Each domain maps NP pages at VA_BASE, to version A
 * or version B of its data pages.
 *
 * Per input: every attachment is flushed, the leaves point at version A
 * and every page is translated by every attachment (the IOTLB and device
 * TLBs now hold A), then the leaves move to version B without any
 * invalidation: a cached translation still says A until an invalidation
 * removes it. A batch is created with the input's flags, capacity and
 * widening, the input's failure is armed, and the commands run; the batch
 * is destroyed at the end.
 *
 * Invariants:
 *  - add: the index (entries added before), -EINVAL exactly when the
 *    entry breaks a rule of usva_inval_batch_add() (the harness's own
 *    reading of them), -ENOSPC exactly when the batch is full;
 *  - submit: the count is the number of entries whose status is DONE;
 *    *err is 0 exactly when all are; every failed entry has this submit's
 *    error; without coalescing the statuses are DONE..., then the failed
 *    entry, then NOT_ATTEMPTED... (done entries form a prefix);
 *  - usva_iommu_invalidate(): the same prefix, and its count;
 *  - what DONE means: once DONE entries have removed a page from the
 *    IOTLB (and, for an ATS device, from its device TLB) of an
 *    attachment, that attachment translates the page to version B.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>

#include "usva_as.h"
#include "usva_emu.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_pasid.h"
#include "fuzz_harness.h"

#define PG		UINT64_C(4096)
#define NP		32u		/* pages each domain maps */
#define VA_BASE		UINT64_C(0x10000000)
#define NDOM		3
#define NDEV		3
#define NATT		5
#define MAXE		64		/* entries a batch may hold */
#define TAB_PAGES	8		/* D0: 0..3, D1: 4..7 */
#define DATA_PAGES	(4 * NP)	/* D0 A, D0 B, D1 A, D1 B */

/* USVA_INVAL_F_ASID (SMMUv3 PASID tables): an ASID entry needs a device
 * with a PASID table, which no device here has: always refused. */
#ifdef USVA_INVAL_F_ASID
#define F_ASID		USVA_INVAL_F_ASID
#else
#define F_ASID		0u
#endif

#define C_IOTLB		USVA_INVAL_IOTLB
#define C_DEVTLB	USVA_INVAL_DEVTLB
#define C_PC		USVA_INVAL_PASID_CACHE

static const struct { unsigned int d, p, dom; } atts[NATT] = {
	{ 0, 0, 0 }, { 1, 0, 0 }, { 2, 1, 0 }, { 0, 1, 1 }, { 2, 0, 1 },
};
static const uint32_t dev_flags[NDEV] = {
	USVA_DEV_F_PRI | USVA_DEV_F_ATS, USVA_DEV_F_PRI, USVA_DEV_F_ATS,
};

static struct {
	struct usva_iommu *iommu, *other;
	struct usva_iommu_dev *dev[NDEV], *odev;
	struct usva_domain *dom[NDOM], *odom;
	struct usva_pasid_owner *owner, *oowner;
	uint32_t pasid[3], opasid;
	uint8_t *tab;		/* TAB_PAGES, IOVA = VA */
	uint8_t *data;		/* DATA_PAGES, IOVA = VA */
	/* per input */
	struct usva_inval_batch *b;
	uint32_t cap;
	bool no_coalesce;
	struct usva_inval_entry e[MAXE];	/* as added */
	uint32_t ne;
	bool counted[MAXE];			/* DONE, in the coverage */
	uint8_t cov[NATT][NP];			/* caches flushed since B */
} iv;

#define IOVA(p)	((uint64_t)(uintptr_t)(p))

/* ---- tables -------------------------------------------------------------- */

static uint64_t *
pt_slot(unsigned int dom, unsigned int level, unsigned int i)
{
	return (uint64_t *)(iv.tab + (dom * 4 + (4 - level)) * PG) + i;
}

static uint8_t *
data_page(unsigned int dom, bool b, unsigned int i)
{
	return iv.data + ((dom * 2 + b) * NP + i) * PG;
}

/* Leaves of D0 and D1 at version @p b. */
static void
tables_point(bool b)
{
	for (unsigned int d = 0; d < 2; d++)
		for (unsigned int i = 0; i < NP; i++)
			__atomic_store_n(pt_slot(d, 1, ((VA_BASE >> 12) & 511) + i),
					 IOVA(data_page(d, b, i)) | 0x7,
					 __ATOMIC_RELEASE);
}

static void
tables_build(void)
{
	memset(iv.tab, 0, TAB_PAGES * PG);
	for (unsigned int d = 0; d < 2; d++) {
		*pt_slot(d, 4, (VA_BASE >> 39) & 511) =
			IOVA(pt_slot(d, 3, 0)) | 0x7;
		*pt_slot(d, 3, (VA_BASE >> 30) & 511) =
			IOVA(pt_slot(d, 2, 0)) | 0x7;
		*pt_slot(d, 2, (VA_BASE >> 21) & 511) =
			IOVA(pt_slot(d, 1, 0)) | 0x7;
	}
	tables_point(false);
}

/* ---- set-up ----------------------------------------------------------------- */

static void
iv_teardown(void)
{
	usva_inval_batch_destroy(iv.b);
	for (unsigned int i = 0; i < NATT; i++)
		if (iv.dev[atts[i].d] != NULL)
			usva_iommu_detach(iv.dev[atts[i].d], iv.pasid[atts[i].p]);
	for (unsigned int i = 0; i < NDEV; i++)
		usva_iommu_dev_close(iv.dev[i]);
	usva_iommu_dev_close(iv.odev);
	for (unsigned int i = 0; i < NDOM; i++)
		usva_domain_destroy(iv.dom[i]);
	usva_domain_destroy(iv.odom);
	if (iv.owner != NULL) {
		for (unsigned int i = 0; i < 3; i++)
			if (iv.pasid[i])
				usva_pasid_free(iv.owner, iv.pasid[i]);
		usva_pasid_owner_destroy(iv.owner);
	}
	if (iv.oowner != NULL) {
		if (iv.opasid)
			usva_pasid_free(iv.oowner, iv.opasid);
		usva_pasid_owner_destroy(iv.oowner);
	}
	if (iv.iommu != NULL) {
		usva_iommu_s2_unmap(iv.iommu, IOVA(iv.tab), TAB_PAGES * PG, NULL);
		usva_iommu_s2_unmap(iv.iommu, IOVA(iv.data), DATA_PAGES * PG, NULL);
	}
	usva_iommu_close(iv.iommu);
	usva_iommu_close(iv.other);
	if (iv.tab != NULL)
		munmap(iv.tab, TAB_PAGES * PG);
	if (iv.data != NULL)
		munmap(iv.data, DATA_PAGES * PG);
	memset(&iv, 0, sizeof(iv));
}

static int
iv_setup(void)
{
	struct usva_iommu_config ic = {
		.size = sizeof(ic), .backend = "emu",
		.params = "flavour=vtd,iotlb_sets=64,iotlb_ways=8,"
			  "devtlb_entries=256",
	};
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "fuzz-inval", .pasid_width = 20,
	};
	struct usva_domain_config domc = {
		.size = sizeof(domc), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	void *p;
	int rc;

	memset(&iv, 0, sizeof(iv));
	p = mmap(NULL, TAB_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	iv.tab = p;
	p = mmap(NULL, DATA_PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		iv_teardown();
		return -ENOMEM;
	}
	iv.data = p;
	rc = usva_iommu_open(&ic, &iv.iommu);
	if (rc == 0)
		rc = usva_iommu_open(&ic, &iv.other);
	if (rc == 0)
		rc = usva_iommu_s2_map(iv.iommu, IOVA(iv.tab), iv.tab,
				       TAB_PAGES * PG, USVA_S2_READ | USVA_S2_WRITE);
	if (rc == 0)
		rc = usva_iommu_s2_map(iv.iommu, IOVA(iv.data), iv.data,
				       DATA_PAGES * PG, USVA_S2_READ | USVA_S2_WRITE);
	for (unsigned int i = 0; i < NDEV && rc == 0; i++) {
		dc.flags = dev_flags[i];
		rc = usva_iommu_dev_open(iv.iommu, &dc, &iv.dev[i]);
	}
	if (rc == 0) {
		dc.flags = USVA_DEV_F_ATS;
		rc = usva_iommu_dev_open(iv.other, &dc, &iv.odev);
	}
	if (rc == 0)
		rc = usva_pasid_owner_create(usva_iommu_pasids(iv.iommu), 0,
					     &iv.owner);
	for (unsigned int i = 0; i < 3 && rc == 0; i++)
		rc = usva_pasid_alloc(iv.owner, &iv.pasid[i]);
	if (rc == 0)
		rc = usva_pasid_owner_create(usva_iommu_pasids(iv.other), 0,
					     &iv.oowner);
	if (rc == 0)
		rc = usva_pasid_alloc(iv.oowner, &iv.opasid);
	if (rc)
		goto err;
	tables_build();
	for (unsigned int i = 0; i < NDOM && rc == 0; i++) {
		domc.s1_root = IOVA(pt_slot(i == 1, 4, 0));
		rc = usva_domain_create(iv.iommu, &domc, &iv.dom[i]);
	}
	if (rc == 0)
		rc = usva_domain_create(iv.other, &domc, &iv.odom);
	for (unsigned int i = 0; i < NATT && rc == 0; i++)
		rc = usva_iommu_attach(iv.dev[atts[i].d], iv.pasid[atts[i].p],
				       iv.dom[atts[i].dom]);
	if (rc == 0)
		rc = usva_iommu_attach(iv.odev, iv.opasid, iv.odom);
	if (rc == 0)
		return 0;
err:
	iv_teardown();
	return rc;
}

/* ---- the harness's reading of the rules ------------------------------------- */

static int
att_of(const struct usva_iommu_dev *dev, uint32_t pasid)
{
	for (unsigned int i = 0; i < NATT; i++)
		if (iv.dev[atts[i].d] == dev && iv.pasid[atts[i].p] == pasid)
			return (int)i;
	return -1;
}

static bool
dev_ok(const struct usva_inval_entry *e)
{
	int a;

	if (e->dev == NULL || e->dev == iv.odev)
		return false;
	a = att_of(e->dev, e->pasid);
	if (a < 0)
		return false;
	return e->dom == NULL || e->dom == iv.dom[atts[a].dom];
}

static bool
dom_ok(const struct usva_domain *dom)
{
	return dom != NULL && dom != iv.odom;
}

/* [addr, addr + npages * 4 KiB) is a non-empty, aligned range that does
 * not wrap (it may end at 2^64). @p dev: usva_iommu_invalidate()'s bound,
 * which refuses npages = 2^52. */
static bool
range_ok(const struct usva_inval_entry *e, bool direct)
{
	unsigned __int128 end;

	if (e->npages == 0 || (e->addr & (PG - 1)))
		return false;
	if (direct && e->npages > (UINT64_MAX >> 12))
		return false;
	end = (unsigned __int128)e->addr + (unsigned __int128)e->npages * PG;
	return end <= ((unsigned __int128)1 << 64);
}

/* Acceptable to usva_inval_batch_add() (@p direct false) or to
 * usva_iommu_invalidate(). */
static bool
entry_ok(const struct usva_inval_entry *e, bool direct)
{
	if (e->caches == 0 || (e->caches & ~(C_IOTLB | C_DEVTLB | C_PC)) ||
	    (e->flags & ~(USVA_INVAL_F_LEAF | F_ASID)) || (e->flags & F_ASID))
		return false;
	switch (e->granule) {
	case USVA_INVAL_DOMAIN:
		return !(e->caches & (C_DEVTLB | C_PC)) && dom_ok(e->dom);
	case USVA_INVAL_ADDR:
		if ((e->caches & C_PC) || !range_ok(e, direct))
			return false;
		if (e->dev == NULL && !direct)
			return dom_ok(e->dom);
		/* usva_iommu_invalidate() ignores e->dom outside DOMAIN. */
		return direct ? e->dev != NULL && e->dev != iv.odev &&
				att_of(e->dev, e->pasid) >= 0 : dev_ok(e);
	case USVA_INVAL_PASID:
		if (direct)
			return e->dev != NULL && e->dev != iv.odev &&
			       att_of(e->dev, e->pasid) >= 0;
		return dev_ok(e);
	default:
		return false;
	}
}

/* ---- what a DONE entry removed ------------------------------------------------ */

static void
cover_att(unsigned int a, const struct usva_inval_entry *e, uint32_t caches)
{
	uint64_t first = 0, last = UINT64_MAX;

	if (e->granule == USVA_INVAL_ADDR) {
		first = e->addr;
		last = e->addr + (e->npages * PG - 1);
	}
	for (unsigned int i = 0; i < NP; i++) {
		uint64_t va = VA_BASE + i * PG;

		if (va >= first && va <= last)
			iv.cov[a][i] |= (uint8_t)caches;
	}
}

static void
cover(const struct usva_inval_entry *e)
{
	uint32_t caches = e->caches & (C_IOTLB | C_DEVTLB);

	if (e->granule == USVA_INVAL_DOMAIN ||
	    (e->granule == USVA_INVAL_ADDR && e->dev == NULL)) {
		for (unsigned int a = 0; a < NATT; a++)
			if (iv.dom[atts[a].dom] == e->dom)
				cover_att(a, e, e->granule == USVA_INVAL_DOMAIN ?
					  C_IOTLB : caches);
		return;
	}
	cover_att((unsigned int)att_of(e->dev, e->pasid), e, caches);
}

/* Every page whose caches were all flushed translates to version B. */
static int
check_effect(const char *what)
{
	for (unsigned int a = 0; a < NATT; a++) {
		unsigned int d = atts[a].d;
		uint8_t need = C_IOTLB | ((dev_flags[d] & USVA_DEV_F_ATS) ?
					  C_DEVTLB : 0);

		for (unsigned int i = 0; i < NP; i++) {
			struct usva_emu_xlate x;
			int rc;

			if ((iv.cov[a][i] & need) != need)
				continue;
			rc = usva_emu_translate(iv.dev[d], iv.pasid[atts[a].p],
						VA_BASE + i * PG,
						USVA_ACCESS_READ, &x);
			FZ_CHECK(rc == 0 && x.host == data_page(atts[a].dom, true, i),
				 "after %s: attachment %u (dev %u) page %u: rc %d, "
				 "%s (cached %d): flushed but still stale", what,
				 a, d, i, rc, rc != 0 ? "fault" :
				 x.host == data_page(atts[a].dom, false, i) ?
				 "version A" : "elsewhere", rc == 0 && x.cached);
		}
	}
	return 0;
}

/* ---- commands ------------------------------------------------------------------ */

static struct usva_iommu_dev *
pick_dev(unsigned int s)
{
	return s < NDEV ? iv.dev[s] : s == NDEV ? iv.odev : NULL;
}

static struct usva_domain *
pick_dom(unsigned int s)
{
	return s < NDOM ? iv.dom[s] : s == NDOM ? iv.odom : NULL;
}

static void
read_entry(struct fz *f, struct usva_inval_entry *e)
{
	static const uint32_t grans[3] = {
		USVA_INVAL_ADDR, USVA_INVAL_PASID, USVA_INVAL_DOMAIN,
	};
	uint8_t g = fz_u8(f), c = fz_u8(f), t = fz_u8(f), p = fz_u8(f);
	uint8_t a = fz_u8(f), n;

	memset(e, 0, sizeof(*e));
	e->granule = (g & 3) < 3 ? grans[g & 3] : g >> 2;
	e->caches = (c & 0x80) ? c & 0x7f : c & 7;
	e->flags = (c >> 3) & 7;	/* LEAF, then ASID or unknown ones */
	e->dev = pick_dev(t & 7);
	e->dom = pick_dom((t >> 3) & 7);
	e->pasid = (p & 3) < 3 ? iv.pasid[p & 3] : p >> 2;
	if (a & 0x80)
		e->addr = fz_u64(f);
	else
		e->addr = VA_BASE + (uint64_t)((a & 0x3f) - 8) * PG +
			  ((a & 0x40) ? 0x10 : 0);
	n = fz_u8(f);
	if (n & 0x80)
		e->npages = fz_u64(f);
	else
		e->npages = (n & 0x40) ? 0 : 1 + (n & 0x3f);
}

static int
iv_add(const struct usva_inval_entry *e)
{
	bool ok = entry_ok(e, false);
	int rc;

	if (iv.ne == MAXE && iv.cap > MAXE)
		return 0;	/* more than the harness tracks */
	rc = usva_inval_batch_add(iv.b, e);

	if (fz_verbose)
		fprintf(stderr, "inval: add gran %u caches 0x%x flags 0x%x dev "
			"%d dom %d pasid %u 0x%" PRIx64 "+%" PRIu64 ": %d "
			"(expected %s)\n", e->granule, e->caches, e->flags,
			e->dev ? 1 : 0, e->dom ? 1 : 0, e->pasid, e->addr,
			e->npages, rc, ok ? "ok" : "-EINVAL");
	if (!ok) {
		FZ_CHECK(rc == -EINVAL, "add of an entry breaking a rule "
			 "(granule %u caches 0x%x flags 0x%x pasid %u addr 0x%"
			 PRIx64 " npages %" PRIu64 "): %d", e->granule,
			 e->caches, e->flags, e->pasid, e->addr, e->npages, rc);
		return 0;
	}
	if (iv.ne == iv.cap) {
		FZ_CHECK(rc == -ENOSPC, "add to a full batch: %d", rc);
		return 0;
	}
	FZ_CHECK(rc == (int)iv.ne, "add (granule %u caches 0x%x flags 0x%x "
		 "pasid %u addr 0x%" PRIx64 " npages %" PRIu64 "): %d, "
		 "expected index %u", e->granule, e->caches, e->flags,
		 e->pasid, e->addr, e->npages, rc, iv.ne);
	FZ_CHECK(usva_inval_batch_count(iv.b) == iv.ne + 1, "count %u",
		 usva_inval_batch_count(iv.b));
	iv.e[iv.ne] = *e;
	iv.counted[iv.ne] = false;
	iv.ne++;
	return 0;
}

/* Statuses of everything added: consistent with @p ndone and @p err
 * (a submit's results when @p from_submit). */
static int
iv_statuses(int ndone, int err, bool from_submit)
{
	int32_t st[MAXE];
	int rc, done = 0, first_bad = -1;

	rc = usva_inval_batch_status(iv.b, 0, iv.ne, st);
	FZ_CHECK(rc == (int)iv.ne, "status of %u entries: %d", iv.ne, rc);
	for (uint32_t i = 0; i < iv.ne; i++) {
		FZ_CHECK(st[i] == USVA_INVAL_DONE ||
			 st[i] == USVA_INVAL_NOT_ATTEMPTED || st[i] < 0,
			 "entry %u: status %d", i, st[i]);
		if (st[i] == USVA_INVAL_DONE) {
			done++;
			if (!iv.counted[i]) {
				cover(&iv.e[i]);
				iv.counted[i] = true;
			}
		} else {
			FZ_CHECK(!iv.counted[i], "entry %u: DONE before, now "
				 "%d", i, st[i]);
			if (first_bad < 0)
				first_bad = (int)i;
		}
		if (from_submit && st[i] < 0)
			FZ_CHECK(st[i] == err, "entry %u: error %d, the "
				 "submit's is %d", i, st[i], err);
	}
	if (!from_submit)
		return 0;
	FZ_CHECK(ndone == done, "submit returned %d, %d entries DONE", ndone,
		 done);
	FZ_CHECK((err == 0) == (done == (int)iv.ne),
		 "submit: err %d with %d of %u entries done", err, done, iv.ne);
	if (iv.no_coalesce && first_bad >= 0) {
		/* Done entries form a prefix; at most the first that is not
		 * done has an error; the rest were not attempted. */
		for (uint32_t i = (uint32_t)first_bad; i < iv.ne; i++)
			FZ_CHECK(st[i] != USVA_INVAL_DONE &&
				 (i == (uint32_t)first_bad ||
				  st[i] == USVA_INVAL_NOT_ATTEMPTED),
				 "no coalescing: entry %u status %d after "
				 "entry %d's %d", i, st[i], first_bad,
				 st[first_bad]);
	}
	return 0;
}

static int
iv_submit(bool all)
{
	int err = 12345;
	int rc = usva_inval_batch_submit(iv.b, &err);

	if (fz_verbose)
		fprintf(stderr, "inval: submit %u entries: %d, err %d\n", iv.ne,
			rc, err);
	FZ_CHECK(rc >= 0 && rc <= (int)iv.ne && err <= 0,
		 "submit: %d, err %d (%u entries)", rc, err, iv.ne);
	FZ_TRY(iv_statuses(rc, err, true));
	FZ_CHECK(!all || (rc == (int)iv.ne && err == 0),
		 "submit without failures: %d of %u done, err %d", rc, iv.ne,
		 err);
	return check_effect("submit");
}

/* The last @p k entries added, straight to usva_iommu_invalidate(). */
static int
iv_direct(unsigned int k)
{
	int32_t st[MAXE];
	uint32_t n = RTE_MIN(k, iv.ne), first = iv.ne - n;
	bool ok = true;
	int rc;

	if (n == 0)
		return 0;
	for (uint32_t i = first; i < iv.ne; i++)
		ok &= entry_ok(&iv.e[i], true);
	for (uint32_t i = 0; i < n; i++)
		st[i] = 77;
	rc = usva_iommu_invalidate(iv.iommu, &iv.e[first], n, st);
	if (!ok) {
		FZ_CHECK(rc == -EINVAL, "direct invalidation of refused "
			 "entries: %d", rc);
		return 0;
	}
	FZ_CHECK(rc >= 0 && (uint32_t)rc <= n, "direct invalidation: %d", rc);
	for (uint32_t i = 0; i < n; i++) {
		FZ_CHECK(i < (uint32_t)rc ? st[i] == USVA_INVAL_DONE :
			 i == (uint32_t)rc ? st[i] < 0 :
			 st[i] == USVA_INVAL_NOT_ATTEMPTED,
			 "direct invalidation returned %d: entry %u status %d",
			 rc, i, st[i]);
		if (i < (uint32_t)rc)
			cover(&iv.e[first + i]);
	}
	return check_effect("usva_iommu_invalidate");
}

/* ---- one input -------------------------------------------------------------------- */

/* Flush everything of every attachment; all leaves at version A, cached
 * by every attachment; then version B behind the caches' back. */
static int
iv_prepare(void)
{
	usva_emu_inval_fail_nth(iv.iommu, 0, 0);
	tables_point(false);
	for (unsigned int a = 0; a < NATT; a++) {
		struct usva_inval_entry e = {
			.granule = USVA_INVAL_PASID,
			.caches = C_IOTLB | C_PC |
				  ((dev_flags[atts[a].d] & USVA_DEV_F_ATS) ?
				   C_DEVTLB : 0),
			.dev = iv.dev[atts[a].d], .pasid = iv.pasid[atts[a].p],
		};
		int32_t st;
		int rc = usva_iommu_invalidate(iv.iommu, &e, 1, &st);

		FZ_CHECK(rc == 1, "flush attachment %u: %d", a, rc);
	}
	for (unsigned int a = 0; a < NATT; a++)
		for (unsigned int i = 0; i < NP; i++) {
			struct usva_emu_xlate x;
			int rc = usva_emu_translate(iv.dev[atts[a].d],
						    iv.pasid[atts[a].p],
						    VA_BASE + i * PG,
						    USVA_ACCESS_READ, &x);

			FZ_CHECK(rc == 0 && x.host == data_page(atts[a].dom, false, i),
				 "attachment %u page %u: rc %d", a, i, rc);
		}
	tables_point(true);
	memset(iv.cov, 0, sizeof(iv.cov));
	return 0;
}

/*
 * Input: u8 cfg (bit 0: NO_COALESCE; bits 1-2: widen_pages default,
 * 1 + w % 16, NO_WIDEN, 1), u8 capacity (0: the default, 256, of which
 * this harness uses MAXE; else 1 + c % MAXE), u8 w, u8 fail (nth = fail &
 * 31, 0: none; bit 5: -EINVAL, else -EIO), then commands, u8 op:
 *   op & 7 < 4  ADD: u8 granule (& 3: ADDR, PASID, DOMAIN, raw >> 2),
 *               u8 caches (bit 7: raw & 0x7f, else & 7; flags = bits
 *               3-5: LEAF, ASID, an unknown one), u8 target (dev & 7: d0-d2, the
 *               other instance's, none; dom (>> 3) & 7: D0-D2, the other
 *               instance's, none), u8 pasid (& 3: p0-p2, raw >> 2),
 *               u8 addr (bit 7: u64 follows; else page (a & 63) - 8 of
 *               the window, bit 6: misaligned), u8 npages (bit 7: u64
 *               follows; bit 6: 0; else 1 + (n & 63))
 *   4  SUBMIT
 *   5  STATUS of entries [op >> 3 & 7, + u8 n) (range may be bad)
 *   6  op & 8: RESET; else re-arm the failure: nth = op >> 4
 *   7  the last 1 + (op >> 3 & 7) entries to usva_iommu_invalidate()
 */
static int
iv_run(struct fz *f)
{
	while (fz_more(f)) {
		uint8_t op = fz_u8(f);
		struct usva_inval_entry e;

		switch (op & 7) {
		case 0: case 1: case 2: case 3:
			read_entry(f, &e);
			FZ_TRY(iv_add(&e));
			break;
		case 4:
			FZ_TRY(iv_submit(false));
			break;
		case 5: {
			uint32_t first = (op >> 3) & 7, n = fz_u8(f) % 16;
			int32_t st[16];
			int rc = usva_inval_batch_status(iv.b, first, n, st);
			bool in = first <= iv.ne && n <= iv.ne - first;

			FZ_CHECK(in ? rc == (int)n : rc == -EINVAL,
				 "status [%u, +%u) of %u: %d", first, n, iv.ne, rc);
			FZ_TRY(iv_statuses(0, 0, false));
			break;
		}
		case 6:
			if (op & 8) {
				int rc = usva_inval_batch_reset(iv.b);

				FZ_CHECK(rc == 0 && usva_inval_batch_count(iv.b) == 0,
					 "reset: %d", rc);
				iv.ne = 0;
			} else {
				usva_emu_inval_fail_nth(iv.iommu, op >> 4,
							(op & 0x80) ? -EINVAL : -EIO);
			}
			break;
		default:
			FZ_TRY(iv_direct(1 + ((op >> 3) & 7)));
			break;
		}
	}
	return 0;
}

static int
iv_one(const uint8_t *data, size_t size)
{
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	uint8_t cfg, cap, w, fail;
	struct fz f;
	int rc, ret;

	fz_init(&f, data, size);
	cfg = fz_u8(&f);
	cap = fz_u8(&f);
	w = fz_u8(&f);
	fail = fz_u8(&f);
	iv.no_coalesce = cfg & 1;
	bc.flags = iv.no_coalesce ? USVA_INVAL_BATCH_F_NO_COALESCE : 0;
	switch ((cfg >> 1) & 3) {
	case 0: bc.widen_pages = 0; break;
	case 1: bc.widen_pages = 1 + w % 16; break;
	case 2: bc.widen_pages = USVA_INVAL_BATCH_NO_WIDEN; break;
	default: bc.widen_pages = 1; break;
	}
	bc.capacity = cap == 0 ? 0 : 1 + cap % MAXE;
	iv.cap = cap == 0 ? USVA_INVAL_BATCH_DEFAULT_CAPACITY : bc.capacity;
	iv.ne = 0;
	FZ_TRY(iv_prepare());
	rc = usva_inval_batch_create(iv.iommu, &bc, &iv.b);
	FZ_CHECK(rc == 0, "batch create: %d", rc);
	if (fail & 31)
		usva_emu_inval_fail_nth(iv.iommu, fail & 31,
					(fail & 32) ? -EINVAL : -EIO);
	ret = iv_run(&f);
	if (ret == 0)
		ret = iv_submit(false);
	usva_emu_inval_fail_nth(iv.iommu, 0, 0);
	if (ret == 0)
		ret = iv_submit(true);	/* nothing fails now: all done */
	rc = usva_inval_batch_destroy(iv.b);
	iv.b = NULL;
	FZ_CHECK(rc == 0, "batch destroy: %d", rc);
	return ret;
}

const struct fz_harness fz_inval = {
	.name = "inval",
	.setup = iv_setup,
	.one = iv_one,
	.teardown = iv_teardown,
};
