/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_api: a command stream over the public API -- map, unmap, protect
 * (plain and batched), attach, detach, page faults served by the fault
 * service, synchronisation, injected allocation and invalidation failures
 * -- checked after every command against a reference model kept here: a
 * sorted list of extents va -> (oa, prot).
 *
 * Set-up (once): both emu flavours (vtd with the x86 format, smmuv3 with
 * ARM's), each in strict mode (the emu checks every cached translation it
 * serves against the tables) with a PRI+ATS device and a PRI device, a
 * PASID, and a 2 GiB stage-2 window at OA_BASE (reserved memory, never
 * touched) for output addresses. Per input, on the flavour the input
 * picks: an address space (48-bit, the page sizes the input picks), a
 * domain made from it attached at the PASID of both devices, a fault
 * service (polled here) with a callback pager serving both devices; all
 * torn down at the end, where every table page must be back in its pool.
 *
 * After every command, at probe addresses (the command's range edges and
 * every extent's, and what the input names):
 *  - usva_as_lookup() gives the model's output address and protection,
 *    or -ENOENT where the model has nothing; the leaf it reports lies
 *    whole inside one model extent (same protection, linear output);
 *  - both devices translate the address as the model says: the host
 *    address of the output, its protection, a write fault where the model
 *    has no write right, a recoverable not-present fault where nothing is
 *    mapped -- unless an invalidation failed since the last successful
 *    usva_as_sync() (then the IOMMU may hold stale translations, as
 *    documented); and the strict checker saw no stale use;
 *  - return codes are the model's: argument errors in the documented
 *    order (an output address beyond the format's size is -ERANGE, not a
 *    mapping of the truncated address), -EEXIST exactly on overlap, -ENOENT exactly on a hole;
 *    -ENOMEM only with an allocation failure injected or the table pool
 *    empty, and then nothing changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "fuzz_harness.h"

#define PG		UINT64_C(0x1000)
#define SZ_2M		UINT64_C(0x200000)
#define SZ_1G		UINT64_C(0x40000000)
#define VA_BASE		UINT64_C(0x40000000)
#define OA_BASE		UINT64_C(0x200000000000)
#define OA_LEN		(2 * SZ_1G)
#define MAXEXT		512
#define MAXPROBE	96

#define AR	USVA_ACCESS_READ
#define AW	USVA_ACCESS_WRITE
#define AP	USVA_ACCESS_PRIV

struct ext {
	uint64_t va, last, oa;	/* [va, last], inclusive */
	uint32_t prot;
};

struct api_inst {
	struct usva_iommu *iommu;
	uint16_t id;
	struct usva_iommu_dev *dev[2];
	struct usva_pasid_owner *owner;
	uint32_t pasid;
	bool arm;
};

static struct {
	struct api_inst in[2];
	void *oa_map;
	size_t oa_maplen;
	uint8_t *oa_host;	/* host memory behind OA_BASE */
	struct usva_pager *pager;
	/* per input */
	struct api_inst *cur;
	struct usva_as *as;
	struct usva_domain *dom;
	struct usva_fault_service *svc;
	struct usva_fault_handler *h[2];
	bool attached[2];
	bool stale_ok;		/* an invalidation failed since the last sync */
	bool nomem_ok;		/* allocation failure injected for this call */
	uint64_t stale_seen;	/* the strict checker's count at the last check */
	uint32_t grp;
	/* the model */
	struct ext m[MAXEXT];
	unsigned int n;
	uint64_t probe[MAXPROBE];
	unsigned int np;
} ap;

/* ---- the model ----------------------------------------------------------- */

static int
m_find(uint64_t va)
{
	for (unsigned int i = 0; i < ap.n; i++)
		if (va >= ap.m[i].va && va <= ap.m[i].last)
			return (int)i;
	return -1;
}

static bool
m_overlaps(uint64_t va, uint64_t last)
{
	for (unsigned int i = 0; i < ap.n; i++)
		if (ap.m[i].va <= last && ap.m[i].last >= va)
			return true;
	return false;
}

/* Bytes of [va, last] the model maps. */
static uint64_t
m_bytes(uint64_t va, uint64_t last)
{
	uint64_t b = 0;

	for (unsigned int i = 0; i < ap.n; i++) {
		uint64_t s = RTE_MAX(va, ap.m[i].va), e = RTE_MIN(last, ap.m[i].last);

		if (s <= e)
			b += e - s + 1;
	}
	return b;
}

static bool
m_covered(uint64_t va, uint64_t last)
{
	return m_bytes(va, last) == last - va + 1;
}

static int
ext_cmp(const void *a, const void *b)
{
	const struct ext *x = a, *y = b;

	return x->va < y->va ? -1 : x->va > y->va;
}

/* Sort, and join neighbours that are one linear mapping. */
static void
m_normalize(void)
{
	unsigned int j = 0;

	qsort(ap.m, ap.n, sizeof(ap.m[0]), ext_cmp);
	for (unsigned int i = 0; i < ap.n; i++) {
		struct ext *p = j ? &ap.m[j - 1] : NULL;

		if (p != NULL && p->last + 1 == ap.m[i].va && p->last != UINT64_MAX &&
		    p->prot == ap.m[i].prot &&
		    p->oa + (p->last - p->va) + 1 == ap.m[i].oa)
			p->last = ap.m[i].last;
		else
			ap.m[j++] = ap.m[i];
	}
	ap.n = j;
}

static void
m_insert(uint64_t va, uint64_t last, uint64_t oa, uint32_t prot)
{
	ap.m[ap.n++] = (struct ext){ va, last, oa, prot };
	m_normalize();
}

/* Cut [va, last] out of the model; with @p prot != 0 put it back with
 * that protection. */
static void
m_cut(uint64_t va, uint64_t last, uint32_t prot)
{
	struct ext out[MAXEXT + 4], mid[MAXEXT];
	unsigned int n = 0, nm = 0;

	for (unsigned int i = 0; i < ap.n; i++) {
		struct ext e = ap.m[i];

		if (e.last < va || e.va > last) {
			out[n++] = e;
			continue;
		}
		if (e.va < va)
			out[n++] = (struct ext){ e.va, va - 1, e.oa, e.prot };
		if (e.last > last)
			out[n++] = (struct ext){ last + 1, e.last,
						 e.oa + (last + 1 - e.va), e.prot };
		mid[nm++] = (struct ext){ RTE_MAX(e.va, va), RTE_MIN(e.last, last),
					  e.oa + (RTE_MAX(e.va, va) - e.va), prot };
	}
	if (prot != 0)
		for (unsigned int i = 0; i < nm; i++)
			out[n++] = mid[i];
	memcpy(ap.m, out, n * sizeof(out[0]));
	ap.n = n;
	m_normalize();
}

/* ---- argument rules, as documented in usva_as.h ---------------------------- */

static int
check_va(uint64_t va)
{
	if (ap.cur->arm)
		return (va >> 48) == 0 ? 0 : -ERANGE;
	/* x86, 48 bits: canonical */
	return ((va >> 47) == 0 || (va >> 47) == 0x1ffff) ? 0 : -EINVAL;
}

static int
rule_range(uint64_t va, uint64_t len)
{
	uint64_t last = va + (len - 1);
	int rc;

	if (len == 0 || ((va | len) & (PG - 1)))
		return -EINVAL;
	if (last < va)
		return -EOVERFLOW;
	rc = check_va(va);
	if (rc == 0)
		rc = check_va(last);
	if (rc == 0 && va < (UINT64_C(1) << 47) && last >= (UINT64_C(1) << 47))
		rc = check_va(UINT64_C(1) << 47);
	return rc;
}

static int
rule_prot(uint32_t prot)
{
	return (prot & USVA_PROT_READ) && !(prot & ~USVA_PROT_ALL) ? 0 : -EINVAL;
}

/* ---- probes --------------------------------------------------------------------- */

static void
probe_add(uint64_t va)
{
	if (ap.np < MAXPROBE)
		ap.probe[ap.np++] = va;
}

static void
probe_range(uint64_t va, uint64_t last)
{
	probe_add(va - PG);
	probe_add(va);
	probe_add(va + PG);
	probe_add(last & ~(PG - 1));
	probe_add(last + 1);
	probe_add(va + ((last - va) / 2 & ~(PG - 1)) + 0x123);
}

static bool
oa_in_window(uint64_t oa)
{
	return oa - OA_BASE < OA_LEN;
}

/* One probe: the software lookup and both devices' translations. */
static int
probe_one(uint64_t va)
{
	struct usva_as_xlate x;
	int i = m_find(va), rc;
	uint64_t oa = 0;
	uint32_t prot = 0;

	if (i >= 0) {
		oa = ap.m[i].oa + (va - ap.m[i].va);
		prot = ap.m[i].prot;
	}
	memset(&x, 0, sizeof(x));
	rc = usva_as_lookup(ap.as, va, &x);
	if (i < 0) {
		FZ_CHECK(rc == -ENOENT || (rc < 0 && check_va(va) != 0),
			 "lookup 0x%" PRIx64 ": %d (oa 0x%" PRIx64 "), the model "
			 "has nothing there", va, rc, x.oa);
	} else {
		uint64_t bs, be;

		FZ_CHECK(rc == 0 && x.oa == oa && x.prot == prot,
			 "lookup 0x%" PRIx64 ": %d oa 0x%" PRIx64 " prot 0x%x, "
			 "model oa 0x%" PRIx64 " prot 0x%x", va, rc, x.oa,
			 x.prot, oa, prot);
		FZ_CHECK(x.page_size == PG || x.page_size == SZ_2M ||
			 x.page_size == SZ_1G, "page size 0x%" PRIx64,
			 x.page_size);
		bs = va & ~(x.page_size - 1);
		be = bs + (x.page_size - 1);
		/* The leaf is one linear mapping of one protection. */
		FZ_CHECK(bs >= ap.m[i].va && be <= ap.m[i].last,
			 "lookup 0x%" PRIx64 ": a 0x%" PRIx64 " leaf, the model "
			 "maps [0x%" PRIx64 ", 0x%" PRIx64 "] alike", va,
			 x.page_size, ap.m[i].va, ap.m[i].last);
	}
	if (ap.stale_ok || check_va(va) != 0)
		return 0;
	for (unsigned int d = 0; d < 2; d++) {
		struct usva_emu_xlate t;

		if (!ap.attached[d])
			continue;
		memset(&t, 0, sizeof(t));
		rc = usva_emu_translate(ap.cur->dev[d], ap.cur->pasid, va,
					AR | AP, &t);
		if (i < 0) {
			FZ_CHECK(rc == -EFAULT && t.reason == USVA_EMU_S1_NOT_PRESENT,
				 "dev %u reads 0x%" PRIx64 ": rc %d reason %u host %p,"
				 " the model has nothing there", d, va, rc,
				 t.reason, t.host);
			continue;
		}
		if (!oa_in_window(oa)) {
			FZ_CHECK(rc == -EIO && t.reason == USVA_EMU_S2_FAULT,
				 "dev %u reads 0x%" PRIx64 " (output 0x%" PRIx64
				 " outside stage 2): rc %d reason %u", d, va, oa,
				 rc, t.reason);
			continue;
		}
		/* A cached translation may carry fewer rights than the
		 * tables now give (upgrades are not invalidated), never
		 * more. */
		FZ_CHECK(rc == 0 && t.host == ap.oa_host + (oa - OA_BASE) &&
			 (t.prot & USVA_PROT_READ) && !(t.prot & ~prot),
			 "dev %u reads 0x%" PRIx64 ": rc %d reason %u host %p prot "
			 "0x%x, model %p prot 0x%x", d, va, rc, t.reason, t.host,
			 t.prot, (void *)(ap.oa_host + (oa - OA_BASE)), prot);
		/* An access the cached rights lack walks again: an upgrade
		 * is seen at once, a downgrade was invalidated. */
		rc = usva_emu_translate(ap.cur->dev[d], ap.cur->pasid, va,
					AR | USVA_ACCESS_EXEC |
					((prot & USVA_PROT_USER) ? 0 : AP), &t);
		if (prot & USVA_PROT_EXEC)
			FZ_CHECK(rc == 0, "dev %u executes 0x%" PRIx64 " (prot "
				 "0x%x): rc %d reason %u", d, va, prot, rc,
				 t.reason);
		else
			FZ_CHECK(rc == -EFAULT && t.reason == USVA_EMU_S1_PERM,
				 "dev %u executes 0x%" PRIx64 " (prot 0x%x, no "
				 "exec): rc %d reason %u", d, va, prot, rc,
				 t.reason);
		rc = usva_emu_translate(ap.cur->dev[d], ap.cur->pasid, va,
					AW | AP, &t);
		if (prot & USVA_PROT_WRITE)
			FZ_CHECK(rc == 0 && t.host == ap.oa_host + (oa - OA_BASE),
				 "dev %u writes 0x%" PRIx64 ": rc %d reason %u",
				 d, va, rc, t.reason);
		else
			FZ_CHECK(rc == -EFAULT && t.reason == USVA_EMU_S1_PERM,
				 "dev %u writes read-only 0x%" PRIx64 ": rc %d "
				 "reason %u", d, va, rc, t.reason);
	}
	return 0;
}

static int
check_all(const char *after)
{
	struct usva_iommu_stats s1;
	struct usva_iommu_event ev[16];
	uint64_t s0 = ap.stale_seen;

	for (unsigned int i = 0; i < ap.n && ap.np < MAXPROBE; i++) {
		probe_add(ap.m[i].va);
		probe_add(ap.m[i].last & ~(PG - 1));
		probe_add(ap.m[i].last + 1);
	}
	for (unsigned int i = 0; i < ap.np; i++)
		if (probe_one(ap.probe[i]) != 0) {
			fprintf(stderr, "fuzz_api: after %s\n", after);
			return -1;
		}
	ap.np = 0;
	/* Only the probes translate: what the strict checker counted since
	 * the last check is theirs (or the stale window's). */
	usva_iommu_stats(ap.cur->iommu, &s1);
	ap.stale_seen = s1.stale_uses;
	FZ_CHECK(ap.stale_ok || s1.stale_uses == s0,
		 "after %s: %" PRIu64 " stale translations used", after,
		 s1.stale_uses - s0);
	while (usva_iommu_events_read(ap.cur->iommu, ev, RTE_DIM(ev)) > 0)
		;
	return 0;
}

/* ---- the pager ------------------------------------------------------------------ */

/* A page nobody mapped: 4 KiB, read-write-user, at an output the address
 * decides; recorded in the model. */
static int
api_pager_cb(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
	     struct usva_fault_token tok)
{
	int i = m_find(addr), rc;
	uint64_t oa;

	(void)arg;
	(void)tok;
	if (i >= 0)	/* mapped, without the right asked */
		return -EACCES;
	if (ap.n >= MAXEXT - 4)
		return -ENOSPC;
	oa = OA_BASE + ((addr - VA_BASE) & (OA_LEN - 1) & ~(PG - 1));
	rc = usva_as_map(as, addr & ~(PG - 1), oa, PG,
			 USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER, 0);
	if (rc == 0)
		m_insert(addr & ~(PG - 1), (addr & ~(PG - 1)) + PG - 1, oa,
			 USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER);
	(void)perm;
	return rc == 0 ? USVA_PAGER_DONE : rc;
}

/* ---- commands ------------------------------------------------------------------------ */

/* An address: u8 sel, u16 idx (see the input format in api_run()). */
static uint64_t
read_addr(struct fz *f, uint64_t base)
{
	uint8_t sel = fz_u8(f);
	uint16_t idx = fz_u16(f);
	uint64_t a;

	switch (sel & 3) {
	case 0: a = base + idx * PG; break;
	case 1: a = base + (idx & 2047) * SZ_2M; break;
	case 2: a = base + (idx & 1) * SZ_1G; break;
	default: return fz_u64(f);
	}
	if (sel & 4)
		a += PG;
	if (sel & 8)
		a -= PG;
	if (sel & 16)
		a += 0x10;
	return a;
}

static uint64_t
read_len(struct fz *f)
{
	uint8_t sel = fz_u8(f);
	uint16_t n = fz_u16(f);
	uint64_t l;

	switch (sel & 3) {
	case 0: l = (1 + n % 64) * PG; break;
	case 1: l = (1 + n % 4) * SZ_2M; break;
	case 2: l = SZ_1G; break;
	default: return fz_u64(f);
	}
	if (sel & 4)
		l += PG;
	if (sel & 8)
		l -= PG;
	if (sel & 16)
		l += 1;
	return l;
}

static uint32_t
read_prot(struct fz *f)
{
	uint8_t p = fz_u8(f);

	return (p & 0x80) ? p & 0x7f : (p & 0xf) | USVA_PROT_READ;
}

/* Arm an allocation failure (@p nth, 0: none) for the next call only. */
static void
failnth_arm(uint32_t nth)
{
	ap.nomem_ok = nth != 0;
	usva_failnth_set(nth);
}

static void
failnth_disarm(void)
{
	usva_failnth_set(0);
}

/* Could a call needing up to @p need table pages find them? (Capacity
 * less what is handed out: free and dirty pages both count.) */
static bool
pool_short(uint64_t need)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(usva_as_table_pool(ap.as), &st);
	return st.in_use + need + 8 >= st.capacity;
}

/* Table pages a map of [va, last] may need at most. */
static uint64_t
map_need(uint64_t va, uint64_t last)
{
	return ((last >> 21) - (va >> 21) + 1) + ((last >> 30) - (va >> 30) + 1) +
	       ((last >> 39) - (va >> 39) + 1) + 2;
}

static int
cmd_map(struct fz *f, uint32_t nth)
{
	uint64_t va = read_addr(f, VA_BASE), len = read_len(f);
	uint64_t oa = read_addr(f, OA_BASE), last;
	uint32_t prot = read_prot(f);
	uint8_t fl = fz_u8(f);
	uint32_t flags = (fl & 0x80) ? fl : fl & 3;
	int rc, exp;

	/* Time, not coverage: a range that can only take 4 KiB leaves (the
	 * output not 2 MiB-congruent with the input, or MAX_4K) is cut to
	 * 32 MiB, 8192 leaves; bigger ones only repeat the same code. */
	if (len > 16 * SZ_2M && !(len & (PG - 1)) &&
	    (((va ^ oa) & (SZ_2M - 1)) || (flags & USVA_MAP_F_MAX_4K)))
		len = 16 * SZ_2M;
	last = va + (len - 1);

	exp = (flags & ~(USVA_MAP_F_MAX_4K | USVA_MAP_F_MAX_2M)) ? -EINVAL :
	      rule_range(va, len);
	if (exp == 0 && (oa & (PG - 1)))
		exp = -EINVAL;
	if (exp == 0 && oa + (len - 1) < oa)
		exp = -EOVERFLOW;
	/* Output beyond the format's 52 (x86) or 48 (ARM) bits. */
	if (exp == 0 && (oa + (len - 1)) >> (ap.cur->arm ? 48 : 52))
		exp = -ERANGE;
	if (exp == 0)
		exp = rule_prot(prot);
	if (exp == 0 && m_overlaps(va, last))
		exp = -EEXIST;
	if (exp == 0 && ap.n >= MAXEXT - 4)
		return 0;	/* the model is full: not this one */
	failnth_arm(nth);
	rc = usva_as_map(ap.as, va, oa, len, prot, flags);
	failnth_disarm();
	if (fz_verbose) {
		struct usva_page_pool_stats st;

		usva_page_pool_stats(usva_as_table_pool(ap.as), &st);
		fprintf(stderr, "api: map 0x%" PRIx64 "+0x%" PRIx64 " -> 0x%"
			PRIx64 " prot 0x%x flags 0x%x: %d (model %d; table "
			"pool %" PRIu64 " of %" PRIu64 " in use, %" PRIu64
			" free; fail point %u)\n", va, len, oa, prot, flags,
			rc, exp, st.in_use, st.capacity, st.free, nth);
	}
	/* No table page: possible wherever the walk goes, before it finds
	 * an overlap too; argument errors come first. */
	if ((exp == 0 || exp == -EEXIST) && rc == -ENOMEM)
		FZ_CHECK(ap.nomem_ok || pool_short(map_need(va, last)),
			 "map: -ENOMEM with no "
			 "failure injected and the pool not short");
	else
		FZ_CHECK(rc == exp, "map 0x%" PRIx64 " + 0x%" PRIx64 " -> 0x%"
			 PRIx64 " prot 0x%x flags 0x%x: %d, the model says %d",
			 va, len, oa, prot, flags, rc, exp);
	if (rc == 0)
		m_insert(va, last, oa, prot);
	if (exp == 0 || exp == -EEXIST)
		probe_range(va, last);
	return check_all("map");
}

/* A batch of its own for an unmap or protect, submitted at once. */
static int
batch_run(struct usva_inval_batch *b)
{
	int err = 0, rc;

	rc = usva_inval_batch_submit(b, &err);
	FZ_CHECK(rc >= 0, "batch submit: %d", rc);
	if (err != 0) {
		/* The device may use what was unmapped until it succeeds. */
		ap.stale_ok = true;
		usva_emu_inval_fail_nth(ap.cur->iommu, 0, 0);
		rc = usva_inval_batch_submit(b, &err);
		FZ_CHECK(rc == (int)usva_inval_batch_count(b) && err == 0,
			 "batch resubmit: %d of %u, err %d", rc,
			 usva_inval_batch_count(b), err);
	}
	rc = usva_inval_batch_destroy(b);
	FZ_CHECK(rc == 0, "batch destroy: %d", rc);
	return 0;
}

static int
cmd_unmap(struct fz *f, uint32_t nth, bool batched)
{
	uint64_t va = read_addr(f, VA_BASE), len = read_len(f);
	uint64_t last = va + (len - 1), unmapped = 12345, want;
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	struct usva_inval_batch *b = NULL;
	int rc, exp = rule_range(va, len);

	if (exp == 0 && ap.n >= MAXEXT - 4)
		return 0;
	want = exp == 0 ? m_bytes(va, last) : 0;
	if (batched) {
		rc = usva_inval_batch_create(ap.cur->iommu, &bc, &b);
		FZ_CHECK(rc == 0, "batch create: %d", rc);
	}
	failnth_arm(nth);
	rc = batched ? usva_as_unmap_batch(ap.as, va, len, &unmapped, b) :
		       usva_as_unmap(ap.as, va, len, &unmapped);
	failnth_disarm();
	if (fz_verbose)
		fprintf(stderr, "api: unmap%s 0x%" PRIx64 "+0x%" PRIx64
			": %d, 0x%" PRIx64 " bytes (model %d, 0x%" PRIx64 ")\n",
			batched ? "_batch" : "", va, len, rc, unmapped, exp, want);
	if (exp == 0 && rc == -ENOMEM) {
		FZ_CHECK(ap.nomem_ok || pool_short(8), "unmap: -ENOMEM with no "
			 "failure injected and the pool not short");
	} else if (exp == 0 && rc < 0 && !batched) {
		/* The invalidation failed: unmapped all the same. */
		FZ_CHECK(rc == -EIO && unmapped == want, "unmap 0x%" PRIx64
			 " + 0x%" PRIx64 ": %d, 0x%" PRIx64 " bytes", va, len,
			 rc, unmapped);
		ap.stale_ok = true;
	} else {
		FZ_CHECK(rc == exp, "unmap 0x%" PRIx64 " + 0x%" PRIx64 ": %d, "
			 "the model says %d", va, len, rc, exp);
	}
	if (rc == 0 || (exp == 0 && rc == -EIO)) {
		FZ_CHECK(unmapped == want, "unmap 0x%" PRIx64 " + 0x%" PRIx64
			 ": 0x%" PRIx64 " bytes unmapped, the model had 0x%"
			 PRIx64, va, len, unmapped, want);
		m_cut(va, last, 0);
	}
	if (b != NULL)
		FZ_TRY(batch_run(b));
	if (exp == 0)
		probe_range(va, last);
	return check_all(batched ? "unmap_batch" : "unmap");
}

static int
cmd_protect(struct fz *f, uint32_t nth, bool batched)
{
	uint64_t va = read_addr(f, VA_BASE), len = read_len(f);
	uint64_t last = va + (len - 1);
	uint32_t prot = read_prot(f);
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	struct usva_inval_batch *b = NULL;
	int rc, exp = rule_range(va, len);

	if (exp == 0)
		exp = rule_prot(prot);
	if (exp == 0 && !m_covered(va, last))
		exp = -ENOENT;
	if (exp == 0 && ap.n >= MAXEXT - 4)
		return 0;
	if (batched) {
		rc = usva_inval_batch_create(ap.cur->iommu, &bc, &b);
		FZ_CHECK(rc == 0, "batch create: %d", rc);
	}
	failnth_arm(nth);
	rc = batched ? usva_as_protect_batch(ap.as, va, len, prot, b) :
		       usva_as_protect(ap.as, va, len, prot);
	failnth_disarm();
	if (fz_verbose)
		fprintf(stderr, "api: protect%s 0x%" PRIx64 "+0x%" PRIx64
			" 0x%x: %d (model %d)\n", batched ? "_batch" : "", va,
			len, prot, rc, exp);
	if ((exp == 0 || exp == -ENOENT) && rc == -ENOMEM) {
		FZ_CHECK(ap.nomem_ok || pool_short(8), "protect: -ENOMEM with "
			 "no failure injected and the pool not short");
	} else if (exp == 0 && rc == -EIO && !batched) {
		ap.stale_ok = true;	/* in place, not invalidated */
	} else {
		FZ_CHECK(rc == exp, "protect 0x%" PRIx64 " + 0x%" PRIx64
			 " 0x%x: %d, the model says %d", va, len, prot, rc, exp);
	}
	if (rc == 0 || (exp == 0 && rc == -EIO))
		m_cut(va, last, prot);
	if (b != NULL)
		FZ_TRY(batch_run(b));
	if (exp == 0 || exp == -ENOENT)
		probe_range(va, last);
	return check_all(batched ? "protect_batch" : "protect");
}

static int
cmd_attach(unsigned int d, bool on)
{
	int rc;

	if (on == ap.attached[d])
		return 0;
	rc = on ? usva_iommu_attach(ap.cur->dev[d], ap.cur->pasid, ap.dom) :
		  usva_iommu_detach(ap.cur->dev[d], ap.cur->pasid);
	FZ_CHECK(rc == 0, "%s dev %u: %d", on ? "attach" : "detach", d, rc);
	ap.attached[d] = on;
	return check_all(on ? "attach" : "detach");
}

/* A page request at @p va, served by the service; exactly one response,
 * SUCCESS when the page is then mapped with the access. */
static int
cmd_fault(unsigned int d, uint64_t va, bool write)
{
	struct usva_emu_prq_desc desc = {
		.addr = va, .pasid = ap.cur->pasid,
		.grpid = ap.grp++ % 512, .perm = AR | (write ? AW : 0) | AP,
		.flags = USVA_PREQ_F_LAST,
	};
	struct usva_emu_prg_resp r[4];
	unsigned int got = 0;
	int rc, i;
	bool ok;

	if (ap.n >= MAXEXT - 4)
		return 0;
	rc = usva_emu_page_request(ap.cur->dev[d], &desc);
	if (!ap.attached[d]) {
		FZ_CHECK(rc == -EINVAL, "fault on a detached PASID: %d", rc);
		return 0;
	}
	FZ_CHECK(rc == 0, "page request: %d", rc);
	for (int k = 0; k < 16 && got == 0; k++) {
		rc = usva_fault_service_poll(ap.svc, 0);
		FZ_CHECK(rc >= 0, "poll: %d", rc);
		rc = usva_emu_dev_responses(ap.cur->dev[d], r, RTE_DIM(r));
		FZ_CHECK(rc >= 0 && rc <= 1, "%d responses to one request", rc);
		got += (unsigned int)rc;
	}
	FZ_CHECK(got == 1 && r[0].grpid == desc.grpid, "fault at 0x%" PRIx64
		 ": %u responses", va, got);
	i = m_find(va);
	ok = i >= 0 && (!write || (ap.m[i].prot & USVA_PROT_WRITE));
	if (fz_verbose)
		fprintf(stderr, "api: fault dev %u 0x%" PRIx64 " %s: code %u\n",
			d, va, write ? "write" : "read", r[0].code);
	FZ_CHECK(r[0].code == (ok ? USVA_PAGE_RESP_SUCCESS :
			       USVA_PAGE_RESP_INVALID),
		 "fault at 0x%" PRIx64 " (%s): code %u, the model has %s", va,
		 write ? "write" : "read", r[0].code,
		 i < 0 ? "nothing" : ok ? "it mapped" : "it read-only");
	probe_add(va & ~(PG - 1));
	return check_all("fault");
}

static int
cmd_sync(void)
{
	int rc = usva_as_sync(ap.as);

	if (fz_verbose)
		fprintf(stderr, "api: sync: %d\n", rc);
	FZ_CHECK(rc == 0 || rc == -EIO, "sync: %d", rc);
	if (rc == 0)
		ap.stale_ok = false;
	return check_all("sync");
}

/*
 * Input: u8 cfg (bit 0: smmuv3 flavour; bits 1-2: page sizes all, 4K,
 * 4K+2M, 4K+1G), then commands, u8 op, the high nibble a:
 *   op & 15:
 *   0-2  MAP     addr va, len, addr oa, u8 prot, u8 flags (bit 7: raw);
 *                an allocation failure injected at the a-th fail point
 *                (0: none)
 *   3-4  UNMAP   addr, len; a & 8: batched; fail point a & 7
 *   5-6  PROTECT addr, len, u8 prot; a & 8: batched; fail point a & 7
 *   7    attach (a & 2: detach) device a & 1
 *   8-9  FAULT   device a & 1, write if a & 2, addr
 *   10   SYNC
 *   11   the a-th invalidation entry from now fails (-EIO; 0: none)
 *   12   probe addr
 *   else nothing
 * addr: u8 sel, u16 idx: sel & 3: page idx, 2 MiB idx & 2047, 1 GiB
 *       idx & 1 of the window, or a raw u64 follows; sel bit 2: + 4 KiB,
 *       bit 3: - 4 KiB, bit 4: + 0x10 (misaligned)
 * len:  u8 sel, u16 n: sel & 3: 1 + n % 64 pages, 1 + n % 4 2 MiB, 1 GiB,
 *       or a raw u64 follows; bits 2-4 as for addr (bit 4: + 1)
 * prot: bit 7: raw & 0x7f; else & 15 with READ
 */
static int
api_run(struct fz *f)
{
	while (fz_more(f)) {
		uint8_t op = fz_u8(f);
		unsigned int a = op >> 4;

		switch (op & 15) {
		case 0: case 1: case 2:
			FZ_TRY(cmd_map(f, a));
			break;
		case 3: case 4:
			FZ_TRY(cmd_unmap(f, a & 7, a & 8));
			break;
		case 5: case 6:
			FZ_TRY(cmd_protect(f, a & 7, a & 8));
			break;
		case 7:
			FZ_TRY(cmd_attach(a & 1, !(a & 2)));
			break;
		case 8: case 9:
			FZ_TRY(cmd_fault(a & 1, read_addr(f, VA_BASE), a & 2));
			break;
		case 10:
			FZ_TRY(cmd_sync());
			break;
		case 11:
			usva_emu_inval_fail_nth(ap.cur->iommu, a, -EIO);
			break;
		case 12:
			probe_add(read_addr(f, VA_BASE));
			FZ_TRY(check_all("probe"));
			break;
		default:
			break;
		}
	}
	return 0;
}

/* ---- per input ------------------------------------------------------------------------- */

static void
api_down(void)
{
	usva_failnth_set(0);
	if (ap.cur != NULL)
		usva_emu_inval_fail_nth(ap.cur->iommu, 0, 0);
	for (unsigned int d = 0; d < 2; d++) {
		usva_fault_unregister(ap.h[d]);
		ap.h[d] = NULL;
	}
	usva_fault_service_destroy(ap.svc);
	ap.svc = NULL;
	for (unsigned int d = 0; d < 2; d++)
		if (ap.attached[d]) {
			usva_iommu_detach(ap.cur->dev[d], ap.cur->pasid);
			ap.attached[d] = false;
		}
	usva_domain_destroy(ap.dom);
	ap.dom = NULL;
	usva_as_destroy(ap.as);
	ap.as = NULL;
	if (ap.cur != NULL) {
		struct usva_emu_prg_resp r[8];
		struct usva_iommu_event ev[16];

		for (unsigned int d = 0; d < 2; d++)
			while (usva_emu_dev_responses(ap.cur->dev[d], r, 8) > 0)
				;
		while (usva_iommu_events_read(ap.cur->iommu, ev, 16) > 0)
			;
	}
	ap.n = ap.np = 0;
	ap.stale_ok = ap.nomem_ok = false;
}

static int
api_up(uint8_t cfg)
{
	static const uint64_t sizes[4] = {
		0, USVA_PGSIZE_4K, USVA_PGSIZE_4K | USVA_PGSIZE_2M,
		USVA_PGSIZE_4K | USVA_PGSIZE_1G,
	};
	struct usva_as_config ac = { .size = sizeof(ac), .va_bits = 48 };
	struct usva_domain_config dc = { .size = sizeof(dc) };
	struct usva_fault_config sc = {
		.size = sizeof(sc), .flags = USVA_FAULT_F_SERVICE_CORES,
		.nr_lcores = 1, .max_groups = 16,
	};
	int rc;

	ap.cur = &ap.in[cfg & 1];
	ac.format = ap.cur->arm ? USVA_PGFMT_ARM_LPAE_4K : USVA_PGFMT_X86_FS;
	ac.page_sizes = sizes[(cfg >> 1) & 3];
	rc = usva_as_create(&ac, &ap.as);
	FZ_CHECK(rc == 0, "as create: %d", rc);
	dc.as = ap.as;
	rc = usva_domain_create(ap.cur->iommu, &dc, &ap.dom);
	FZ_CHECK(rc == 0, "domain create: %d", rc);
	for (unsigned int d = 0; d < 2; d++) {
		rc = usva_iommu_attach(ap.cur->dev[d], ap.cur->pasid, ap.dom);
		FZ_CHECK(rc == 0, "attach: %d", rc);
		ap.attached[d] = true;
	}
	{
		struct usva_iommu_stats st;

		usva_iommu_stats(ap.cur->iommu, &st);
		ap.stale_seen = st.stale_uses;
	}
	rc = usva_fault_service_create(&sc, &ap.svc);
	FZ_CHECK(rc == 0, "service create: %d", rc);
	rc = usva_fault_service_add_iommu(ap.svc, ap.cur->iommu);
	FZ_CHECK(rc == 0, "add iommu: %d", rc);
	for (unsigned int d = 0; d < 2; d++) {
		struct usva_fault_handler_config hc = {
			.size = sizeof(hc), .dev = ap.cur->dev[d], .as = ap.as,
			.pager = ap.pager, .pasid = ap.cur->pasid,
		};

		rc = usva_fault_register(ap.svc, &hc, &ap.h[d]);
		FZ_CHECK(rc == 0, "register: %d", rc);
	}
	return 0;
}

static uint64_t
default_pool_in_use(void)
{
	struct usva_page_pool_stats st;

	usva_page_pool_stats(usva_page_pool_default(), &st);
	return st.in_use;
}

static int
api_one(const uint8_t *data, size_t size)
{
	uint64_t before = default_pool_in_use();
	struct fz f;
	int ret;

	fz_init(&f, data, size);
	ret = api_up(fz_u8(&f));
	if (ret == 0)
		ret = api_run(&f);
	if (ret == 0) {
		/* Whatever failed is completed now. */
		usva_emu_inval_fail_nth(ap.cur->iommu, 0, 0);
		ret = cmd_sync();
		if (ret == 0)
			FZ_CHECK(!ap.stale_ok, "sync failed with nothing "
				 "failing");
	}
	if (ret == 0 && ap.as != NULL) {
		/* Everything unmapped: the table pages of the mappings go
		 * back (those of tables spanning granules stay until the
		 * address space goes). */
		uint64_t unmapped = 0;
		int rc = usva_as_unmap(ap.as, 0, UINT64_C(1) << 47, &unmapped);

		FZ_CHECK(rc == 0 && unmapped == m_bytes(0, (UINT64_C(1) << 47) - 1),
			 "unmap all of the low half: %d, 0x%" PRIx64 " bytes", rc,
			 unmapped);
	}
	api_down();
	FZ_CHECK(ret != 0 || default_pool_in_use() == before,
		 "table pool: %" PRIu64 " pages in use after the input, %"
		 PRIu64 " before", default_pool_in_use(), before);
	return ret;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static void
api_teardown(void)
{
	api_down();
	usva_pager_destroy(ap.pager);
	for (unsigned int i = 0; i < 2; i++) {
		struct api_inst *in = &ap.in[i];

		usva_iommu_dev_close(in->dev[0]);
		usva_iommu_dev_close(in->dev[1]);
		if (in->owner != NULL) {
			if (in->pasid)
				usva_pasid_free(in->owner, in->pasid);
			usva_pasid_owner_destroy(in->owner);
		}
		if (in->iommu != NULL)
			usva_iommu_s2_unmap(in->iommu, OA_BASE, OA_LEN, NULL);
		usva_iommu_close(in->iommu);
	}
	if (ap.oa_map != NULL)
		munmap(ap.oa_map, ap.oa_maplen);
	memset(&ap, 0, sizeof(ap));
}

static int
api_setup(void)
{
	void *p;
	int rc = 0;

	memset(&ap, 0, sizeof(ap));
	ap.oa_maplen = OA_LEN + SZ_1G;
	p = mmap(NULL, ap.oa_maplen, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	ap.oa_map = p;
	ap.oa_host = (uint8_t *)RTE_ALIGN_CEIL((uintptr_t)p, (uintptr_t)SZ_1G);
	for (unsigned int i = 0; i < 2 && rc == 0; i++) {
		struct api_inst *in = &ap.in[i];
		struct usva_iommu_config ic = {
			.size = sizeof(ic), .flags = USVA_IOMMU_F_STRICT,
			.backend = "emu",
			.params = i ? "flavour=smmuv3,iotlb_sets=16,iotlb_ways=4,"
				      "devtlb_entries=16" :
				      "flavour=vtd,iotlb_sets=16,iotlb_ways=4,"
				      "devtlb_entries=16",
		};
		struct usva_dev_config dc = {
			.size = sizeof(dc), .name = "fuzz-api", .pasid_width = 20,
		};

		in->arm = i == 1;
		rc = usva_iommu_open(&ic, &in->iommu);
		if (rc)
			break;
		in->id = usva_iommu_id(in->iommu);
		dc.flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS;
		rc = usva_iommu_dev_open(in->iommu, &dc, &in->dev[0]);
		dc.flags = USVA_DEV_F_PRI;
		if (rc == 0)
			rc = usva_iommu_dev_open(in->iommu, &dc, &in->dev[1]);
		if (rc == 0)
			rc = usva_iommu_s2_map(in->iommu, OA_BASE, ap.oa_host,
					       OA_LEN, USVA_S2_READ | USVA_S2_WRITE);
		if (rc == 0)
			rc = usva_pasid_owner_create(usva_iommu_pasids(in->iommu),
						     0, &in->owner);
		if (rc == 0)
			rc = usva_pasid_alloc(in->owner, &in->pasid);
	}
	if (rc == 0)
		rc = usva_pager_callback_create(api_pager_cb, NULL, &ap.pager);
	/* Once per flavour: what the first use allocates for good (PASID
	 * tables of the devices) is then in place. */
	for (uint8_t cfg = 0; cfg < 2 && rc == 0; cfg++) {
		rc = api_up(cfg) == 0 ? 0 : -EIO;
		api_down();
	}
	if (rc)
		api_teardown();
	return rc;
}

const struct fz_harness fz_api = {
	.name = "api",
	.setup = api_setup,
	.one = api_one,
	.teardown = api_teardown,
};
