/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Invalidation batches: entries checked when added, coalesced, submitted in
 * as few backend calls as the backend allows, with a status per entry as
 * added.
 *
 * Three levels of entries:
 *  - added entries, what the caller added (b->run_of[] maps each to a run);
 *  - runs: added entries merged as they come (an entry that extends,
 *    overlaps or repeats the previous run joins it). A run is the unit of
 *    status: every added entry of a run shares its fate;
 *  - at submit, the runs that are not done are merged further into groups
 *    (same target and caches: ranges joined, repeats dropped, long ranges
 *    widened) and each group becomes one or more backend entries (a
 *    domain's range, one per attachment of the domain, unless the backend
 *    takes per-domain entries).
 * After the backend calls, a group's status is that of its backend entries
 * (an error wins, then "not attempted"), a run's that of its group, an
 * added entry's that of its run.
 *
 * Table pages handed over by address-space edits wait in chains tagged
 * with the last run that existed when they came; a chain goes back to its
 * pool once every run up to its tag is done (b->done_prefix).
 *
 * A batch is used by one thread at a time; nothing here is locked except
 * the instance's attachment lists, read at submit (iommu->lock, then each
 * dev->lock), and iommu->lock is held across the backend calls so that no
 * device or attachment named by an expanded entry goes away under them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rte_debug.h>

#include "usva_alloc.h"
#include "usva_inval_internal.h"
#include "usva_log.h"
#include "usva_struct.h"

#define PAGE_SHIFT_4K	12
#define PAGE_MASK_4K	UINT64_C(0xfff)
#define INVAL_CACHES	(USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB | \
			 USVA_INVAL_PASID_CACHE)
/* Largest npages an ADDR entry may have: the whole 64-bit space. */
#define MAX_NPAGES	(UINT64_C(1) << (64 - PAGE_SHIFT_4K))
/* Scratch preallocated at create; more is allocated when a submit needs it. */
#define SCRATCH_MIN	16u
#define SCRATCH_PREALLOC 4096u

enum run_kind {
	RUN_RANGE = 0,	/* [first, last] of a target */
	RUN_PASID,	/* all of (dev, PASID), or of each attachment of dom */
	RUN_DOMAIN,	/* granule DOMAIN of dom */
};

/* A run, or at submit a group: one target, caches and range. */
struct inval_run {
	struct usva_domain *dom;	/* dev == NULL: the target */
	struct usva_iommu_dev *dev;	/* (dev, pasid) target */
	uint64_t first;			/* RUN_RANGE: inclusive bytes */
	uint64_t last;
	uint32_t pasid;
	uint8_t kind;			/* enum run_kind */
	uint8_t caches;			/* USVA_INVAL_* */
	uint8_t flags;			/* USVA_INVAL_F_LEAF */
	uint8_t widened;		/* group: a range made PASID-wide */
	int32_t status;			/* enum usva_inval_status or -errno */
	uint32_t n;			/* run: added entries; group: lowest run */
};

/* Table pages waiting for runs [0, tag] to be done. */
struct inval_chain {
	struct usva_as_pages pages;
	uint32_t tag;
};

/* Submit scratch, grown on demand (control path). */
struct inval_scratch {
	uint32_t cap_p;			/* pending runs / groups */
	uint32_t *pend;			/* run index of each pending run */
	uint32_t *grp_of;		/* its group */
	uint32_t *order;		/* groups by lowest run */
	uint32_t *rank;			/* inverse of order */
	struct inval_run *groups;
	struct inval_run *groups2;
	uint32_t cap_e;			/* backend entries */
	struct usva_inval_entry *be;
	uint32_t *bgrp;			/* group of each backend entry */
	int32_t *bst;			/* status of each backend entry */
};

struct usva_inval_batch {
	struct usva_iommu *iommu;	/* immutable */
	uint32_t flags;			/* immutable: USVA_INVAL_BATCH_F_* */
	uint32_t capacity;		/* immutable */
	uint64_t widen_pages;		/* immutable */
	uint32_t nadded;
	uint32_t nruns;
	uint32_t ndone_added;		/* added entries whose run is done */
	uint32_t done_prefix;		/* runs [0, done_prefix) are done */
	uint32_t chain_head;		/* chains [chain_head, nchains) live */
	uint32_t nchains;
	uint32_t *run_of;		/* [capacity] */
	struct inval_run *runs;		/* [capacity] */
	struct inval_chain *chains;	/* [capacity + 1] */
	struct inval_scratch sc;
	struct usva_inval_batch_stats st;
};

/* ---- create / destroy --------------------------------------------------- */

static int
batch_config_load(const struct usva_inval_batch_config *ucfg,
		  struct usva_inval_batch_config *cfg)
{
	int rc = USVA_CONFIG_LOAD(cfg, ucfg, capacity, reserved,
				  USVA_INVAL_BATCH_F_NO_COALESCE);

	if (rc == 0)
		rc = usva_check_reserved(&cfg->reserved0, sizeof(cfg->reserved0),
					 "usva_inval_batch_config.reserved0");
	if (rc == 0 && cfg->capacity > USVA_INVAL_BATCH_MAX_CAPACITY) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_create: capacity %u above "
			 "%u", cfg->capacity, USVA_INVAL_BATCH_MAX_CAPACITY);
		rc = -EINVAL;
	}
	if (cfg->capacity == 0)
		cfg->capacity = USVA_INVAL_BATCH_DEFAULT_CAPACITY;
	if (cfg->widen_pages == 0)
		cfg->widen_pages = USVA_INVAL_BATCH_DEFAULT_WIDEN;
	return rc;
}

static void
scratch_free_p(struct inval_scratch *sc)
{
	usva_free(sc->pend);	/* one block: the index arrays, groups */
	sc->pend = NULL;
	sc->cap_p = 0;
}

static void
scratch_free_e(struct inval_scratch *sc)
{
	usva_free(sc->be);	/* one block: be, bgrp, bst */
	sc->be = NULL;
	sc->cap_e = 0;
}

/* Room for @p n pending runs (and as many groups). */
static int
scratch_need_p(struct inval_scratch *sc, uint32_t n)
{
	size_t idx, grp;
	uint8_t *p;
	uint32_t cap;

	if (n <= sc->cap_p)
		return 0;
	cap = RTE_MAX(n, RTE_MAX(2 * sc->cap_p, SCRATCH_MIN));
	idx = RTE_ALIGN_CEIL(4 * sizeof(uint32_t) * cap, 8);
	grp = sizeof(struct inval_run) * cap;
	p = usva_malloc(idx + 2 * grp);
	if (p == NULL)
		return -ENOMEM;
	scratch_free_p(sc);
	sc->pend = (uint32_t *)p;
	sc->grp_of = sc->pend + cap;
	sc->order = sc->grp_of + cap;
	sc->rank = sc->order + cap;
	sc->groups = (struct inval_run *)(p + idx);
	sc->groups2 = sc->groups + cap;
	sc->cap_p = cap;
	return 0;
}

/* Room for @p n backend entries. */
static int
scratch_need_e(struct inval_scratch *sc, uint32_t n)
{
	struct usva_inval_entry *be;
	uint32_t cap;

	if (n <= sc->cap_e)
		return 0;
	cap = RTE_MAX(n, RTE_MAX(2 * sc->cap_e, SCRATCH_MIN));
	be = usva_malloc(cap * (sizeof(*be) + 2 * sizeof(uint32_t)));
	if (be == NULL)
		return -ENOMEM;
	if (sc->cap_e)
		memcpy(be, sc->be, sc->cap_e * sizeof(*be));
	/* bgrp moves with the entries already emitted; bst is written by
	 * the backend after the last emission. */
	if (sc->cap_e)
		memcpy(be + cap, sc->bgrp, sc->cap_e * sizeof(uint32_t));
	scratch_free_e(sc);
	sc->be = be;
	sc->bgrp = (uint32_t *)(be + cap);
	sc->bst = (int32_t *)(sc->bgrp + cap);
	sc->cap_e = cap;
	return 0;
}

int
usva_inval_batch_create(struct usva_iommu *iommu,
			const struct usva_inval_batch_config *ucfg,
			struct usva_inval_batch **out)
{
	struct usva_inval_batch_config cfg;
	struct usva_inval_batch *b;
	size_t off_run_of, off_runs, off_chains, size;
	uint32_t pre;
	int rc;

	if (iommu == NULL || out == NULL) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_create: no %s",
			 iommu ? "output pointer" : "IOMMU instance");
		return -EINVAL;
	}
	rc = batch_config_load(ucfg, &cfg);
	if (rc)
		return rc;
	/* One block: the batch, then run_of[], runs[], chains[]. */
	off_run_of = RTE_ALIGN_CEIL(sizeof(*b), 8);
	off_runs = RTE_ALIGN_CEIL(off_run_of + cfg.capacity * sizeof(uint32_t), 8);
	off_chains = off_runs + cfg.capacity * sizeof(struct inval_run);
	size = off_chains + (cfg.capacity + 1) * sizeof(struct inval_chain);
	b = usva_zmalloc_aligned(size, RTE_CACHE_LINE_SIZE);
	if (b == NULL)
		return -ENOMEM;
	b->iommu = iommu;
	b->flags = cfg.flags;
	b->capacity = cfg.capacity;
	b->widen_pages = cfg.widen_pages;
	b->run_of = (uint32_t *)((uint8_t *)b + off_run_of);
	b->runs = (struct inval_run *)((uint8_t *)b + off_runs);
	b->chains = (struct inval_chain *)((uint8_t *)b + off_chains);
	pre = RTE_MIN(cfg.capacity, SCRATCH_PREALLOC);
	rc = scratch_need_p(&b->sc, pre);
	if (rc == 0)
		rc = scratch_need_e(&b->sc, RTE_MAX(pre, SCRATCH_MIN));
	if (rc) {
		scratch_free_p(&b->sc);
		usva_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int
usva_inval_batch_destroy(struct usva_inval_batch *b)
{
	if (b == NULL)
		return 0;
	if (b->chain_head < b->nchains) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_destroy: %" PRIu64 " table "
			 "pages wait for entries that are not done",
			 b->st.pages_held);
		return -EBUSY;
	}
	scratch_free_p(&b->sc);
	scratch_free_e(&b->sc);
	usva_free(b);
	return 0;
}

int
usva_inval_batch_reset(struct usva_inval_batch *b)
{
	if (b == NULL)
		return -EINVAL;
	if (b->chain_head < b->nchains) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_reset: %" PRIu64 " table "
			 "pages wait for entries that are not done",
			 b->st.pages_held);
		return -EBUSY;
	}
	b->nadded = b->nruns = 0;
	b->ndone_added = b->done_prefix = 0;
	b->chain_head = b->nchains = 0;
	return 0;
}

/* ---- add ----------------------------------------------------------------- */

static const char *
dom_problem(const struct usva_inval_batch *b, const struct usva_domain *dom)
{
	if (dom == NULL)
		return "no domain";
	if (dom->iommu != b->iommu)
		return "domain of another IOMMU instance";
	return NULL;
}

/* (dev, pasid) must be attached, to e->dom if that is set too; or be
 * covered by the device's PASID table. */
static const char *
dev_problem(const struct usva_inval_batch *b, const struct usva_inval_entry *e)
{
	struct usva_iommu_dev *dev = e->dev;
	const struct usva_attach *a;
	const char *why = "PASID not attached on the device";

	if (dev == NULL)
		return "no device";
	if (dev->iommu != b->iommu)
		return "device of another IOMMU instance";
	if (usva_pasid_table_inval_check(dev, e, &why))
		return why;
	why = "PASID not attached on the device";
	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH(a, &dev->attached, next) {
		if (a->pasid != e->pasid)
			continue;
		why = e->dom != NULL && a->dom != e->dom ?
		      "PASID attached to another domain than the entry's" : NULL;
		break;
	}
	pthread_mutex_unlock(&dev->lock);
	return why;
}

static const char *
range_problem(const struct usva_inval_entry *e)
{
	if (e->npages == 0)
		return "zero pages";
	if (e->addr & PAGE_MASK_4K)
		return "address not 4 KiB aligned";
	if (e->npages > MAX_NPAGES ||
	    e->addr + ((e->npages << PAGE_SHIFT_4K) - 1) < e->addr)
		return "address + pages wraps";
	return NULL;
}

/* Why @p e cannot be added, or NULL. */
static const char *
entry_problem(const struct usva_inval_batch *b, const struct usva_inval_entry *e)
{
	const char *why;

	if (e->caches == 0 || (e->caches & ~INVAL_CACHES))
		return "no or unknown caches";
	if (e->flags & ~(USVA_INVAL_F_LEAF | USVA_INVAL_F_ASID))
		return "unknown flags";
	if ((e->flags & USVA_INVAL_F_ASID) &&
	    (e->granule == USVA_INVAL_DOMAIN || e->dev == NULL))
		return "ASID entries name a device";
	switch (e->granule) {
	case USVA_INVAL_DOMAIN:
		if (e->caches & USVA_INVAL_DEVTLB)
			return "the device TLB has no domain granule";
		if (e->caches & USVA_INVAL_PASID_CACHE)
			return "the PASID cache has no domain granule";
		return dom_problem(b, e->dom);
	case USVA_INVAL_ADDR:
		if (e->caches & USVA_INVAL_PASID_CACHE)
			return "the PASID cache has no address granule";
		why = range_problem(e);
		if (why != NULL)
			return why;
		if (e->dev == NULL)	/* a domain's range */
			return dom_problem(b, e->dom);
		return dev_problem(b, e);
	case USVA_INVAL_PASID:
		return dev_problem(b, e);
	default:
		return "unknown granule";
	}
}

static void
run_from_entry(const struct usva_inval_entry *e, struct inval_run *r)
{
	r->dev = e->granule == USVA_INVAL_DOMAIN ? NULL : e->dev;
	r->dom = r->dev == NULL ? e->dom : NULL;
	r->pasid = r->dev != NULL ? e->pasid : 0;
	r->caches = (uint8_t)e->caches;
	r->flags = (uint8_t)e->flags;
	r->widened = 0;
	r->status = USVA_INVAL_NOT_ATTEMPTED;
	r->n = 0;
	if (e->granule == USVA_INVAL_ADDR) {
		r->kind = RUN_RANGE;
		r->first = e->addr;
		r->last = e->addr + ((e->npages << PAGE_SHIFT_4K) - 1);
	} else {
		r->kind = e->granule == USVA_INVAL_DOMAIN ? RUN_DOMAIN : RUN_PASID;
		r->first = r->last = 0;
	}
}

/* Same target: an ASID entry (USVA_INVAL_F_ASID) never merges with a
 * PASID entry of the same number. */
static inline bool
same_target(const struct inval_run *a, const struct inval_run *b)
{
	return a->dev == b->dev && a->dom == b->dom && a->pasid == b->pasid &&
	       a->caches == b->caches &&
	       ((a->flags ^ b->flags) & USVA_INVAL_F_ASID) == 0;
}

/* [a] and [b] overlap or touch (inclusive ends, no overflow). */
static inline bool
ranges_join(uint64_t a_first, uint64_t a_last, uint64_t b_first,
	    uint64_t b_last)
{
	return (a_last == UINT64_MAX || b_first <= a_last + 1) &&
	       (b_last == UINT64_MAX || a_first <= b_last + 1);
}

/*
 * Merge @p n into @p r if it extends, overlaps or repeats it. A merged
 * entry is leaf-only only if both were: invalidating paging-structure
 * caches too is never wrong.
 */
static bool
run_absorb(struct inval_run *r, const struct inval_run *n)
{
	if (r->status == USVA_INVAL_DONE || r->kind != n->kind ||
	    !same_target(r, n))
		return false;
	if (r->kind == RUN_RANGE) {
		if (!ranges_join(r->first, r->last, n->first, n->last))
			return false;
		r->first = RTE_MIN(r->first, n->first);
		r->last = RTE_MAX(r->last, n->last);
	}
	r->flags &= n->flags;
	r->status = USVA_INVAL_NOT_ATTEMPTED;	/* to be sent again */
	return true;
}

/* Append run @p n (checked, room left), merging it into the last one if
 * it may. @return its added index. */
static int
batch_push(struct usva_inval_batch *b, const struct inval_run *n)
{
	uint32_t r;

	if (!(b->flags & USVA_INVAL_BATCH_F_NO_COALESCE) && b->nruns > 0 &&
	    run_absorb(&b->runs[b->nruns - 1], n)) {
		r = b->nruns - 1;
		b->st.merged_on_add++;
	} else {
		r = b->nruns++;
		b->runs[r] = *n;
	}
	b->runs[r].n++;
	b->run_of[b->nadded] = r;
	b->st.added++;
	return (int)b->nadded++;
}

int
usva_inval_batch_add(struct usva_inval_batch *b, const struct usva_inval_entry *e)
{
	struct inval_run n;
	const char *why;

	if (b == NULL || e == NULL) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_add: no %s",
			 b ? "entry" : "batch");
		return -EINVAL;
	}
	why = entry_problem(b, e);
	if (why != NULL) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_add: entry %u (granule "
			 "%u, caches 0x%x, PASID %u, 0x%" PRIx64 " + %" PRIu64
			 " pages): %s", b->nadded, e->granule, e->caches,
			 e->pasid, e->addr, e->npages, why);
		return -EINVAL;
	}
	if (b->nadded == b->capacity) {
		USVA_LOG(DEBUG, iommu, "usva_inval_batch_add: batch full (%u "
			 "entries): submit and reset it", b->capacity);
		return -ENOSPC;
	}
	run_from_entry(e, &n);
	return batch_push(b, &n);
}

int
usva_inval_batch_add_dom_range(struct usva_inval_batch *b,
			       struct usva_domain *dom, uint64_t first,
			       uint64_t last, uint32_t caches, uint32_t flags)
{
	struct inval_run n = {
		.dom = dom, .first = first, .last = last, .kind = RUN_RANGE,
		.caches = (uint8_t)caches, .flags = (uint8_t)flags,
		.status = USVA_INVAL_NOT_ATTEMPTED,
	};

	if (b->nadded == b->capacity)
		return -ENOSPC;
	return batch_push(b, &n);
}

uint32_t
usva_inval_batch_room(const struct usva_inval_batch *b)
{
	return b->capacity - b->nadded;
}

void
usva_inval_batch_defer_pages(struct usva_inval_batch *b,
			     struct usva_as_pages *pages)
{
	uint32_t tag = b->nruns - 1;
	struct inval_chain *c;
	uint64_t n = pages->n;

	if (n == 0)
		return;
	c = b->nchains > b->chain_head ? &b->chains[b->nchains - 1] : NULL;
	if (c == NULL || c->pages.pool != pages->pool) {
		/* A new chain per run at most: runs <= capacity. */
		RTE_VERIFY(b->nchains <= b->capacity);
		c = &b->chains[b->nchains++];
		memset(c, 0, sizeof(*c));
		c->pages.pool = pages->pool;
	}
	usva_as_pages_splice(&c->pages, pages);
	c->tag = tag;
	b->st.pages_held += n;
}

/* ---- status --------------------------------------------------------------- */

int
usva_inval_batch_status(const struct usva_inval_batch *b, uint32_t first,
			uint32_t n, int32_t *status)
{
	if (b == NULL || (n > 0 && status == NULL) || first > b->nadded ||
	    n > b->nadded - first) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_status: entries %u + %u "
			 "beyond the %u added", first, n, b ? b->nadded : 0);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++)
		status[i] = b->runs[b->run_of[first + i]].status;
	return (int)n;
}

uint32_t
usva_inval_batch_count(const struct usva_inval_batch *b)
{
	return b->nadded;
}

struct usva_iommu *
usva_inval_batch_iommu(const struct usva_inval_batch *b)
{
	return b->iommu;
}

void
usva_inval_batch_stats(const struct usva_inval_batch *b,
		       struct usva_inval_batch_stats *st)
{
	*st = b->st;
}

/* ---- submit: runs to groups ------------------------------------------------ */

static int
run_class(const struct inval_run *r)
{
	return r->dev != NULL ? 0 : r->kind == RUN_DOMAIN ? 2 : 1;
}

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

/* Order for merging: by target and caches, whole-target runs first, then
 * by address. */
static int
run_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct inval_run *runs = ctx;
	const struct inval_run *a = &runs[*(const uint32_t *)pa];
	const struct inval_run *b = &runs[*(const uint32_t *)pb];
	int c;

	if ((c = CMP(run_class(a), run_class(b))) != 0 ||
	    (c = CMP((uintptr_t)a->dev, (uintptr_t)b->dev)) != 0 ||
	    (c = CMP((uintptr_t)a->dom, (uintptr_t)b->dom)) != 0 ||
	    (c = CMP(a->pasid, b->pasid)) != 0 ||
	    (c = CMP(a->flags & USVA_INVAL_F_ASID,
		     b->flags & USVA_INVAL_F_ASID)) != 0 ||
	    (c = CMP(a->caches, b->caches)) != 0 ||
	    (c = CMP(a->kind == RUN_RANGE, b->kind == RUN_RANGE)) != 0 ||
	    (c = CMP(a->first, b->first)) != 0)
		return c;
	return CMP(*(const uint32_t *)pa, *(const uint32_t *)pb);
}

static int
group_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct inval_run *g = ctx;

	return CMP(g[*(const uint32_t *)pa].n, g[*(const uint32_t *)pb].n);
}

/* A new group from run @p ri; pend[k] joins it. */
static uint32_t
group_open(struct usva_inval_batch *b, uint32_t *ng, uint32_t ri)
{
	struct inval_run *g = &b->sc.groups[*ng];

	*g = b->runs[ri];
	g->n = ri;
	g->widened = 0;
	return (*ng)++;
}

static void
group_join(struct usva_inval_batch *b, uint32_t gi, uint32_t ri)
{
	struct inval_run *g = &b->sc.groups[gi];
	const struct inval_run *r = &b->runs[ri];

	if (g->kind == RUN_RANGE) {
		g->first = RTE_MIN(g->first, r->first);
		g->last = RTE_MAX(g->last, r->last);
	}
	g->flags &= r->flags;
	g->n = RTE_MIN(g->n, ri);
}

/*
 * Merge the sorted pending runs pend[i, j) (one target and caches) into
 * groups. A whole-target run absorbs the lot; so does a merged range of
 * more than widen_pages pages, widened to the whole PASID.
 */
static void
merge_key(struct usva_inval_batch *b, uint32_t i, uint32_t j, uint32_t *ng)
{
	struct inval_scratch *sc = &b->sc;
	uint32_t g0 = *ng, gi = UINT32_MAX;
	bool whole = b->runs[sc->pend[i]].kind != RUN_RANGE;

	for (uint32_t k = i; k < j && !whole; k++) {
		const struct inval_run *r = &b->runs[sc->pend[k]];
		struct inval_run *g = gi != UINT32_MAX ? &sc->groups[gi] : NULL;

		if (g != NULL && ranges_join(g->first, g->last, r->first, r->last))
			group_join(b, gi, sc->pend[k]);
		else
			gi = group_open(b, ng, sc->pend[k]);
		sc->grp_of[k] = gi;
		g = &sc->groups[gi];
		if (((g->last - g->first) >> PAGE_SHIFT_4K) >= b->widen_pages)
			whole = true;
	}
	if (!whole)
		return;
	/* One group for the key: the whole PASID (or domain). */
	*ng = g0;
	gi = group_open(b, ng, sc->pend[i]);
	if (sc->groups[gi].kind == RUN_RANGE) {
		sc->groups[gi].kind = RUN_PASID;
		/* PASID- (or ASID-) wide: never leaf-only */
		sc->groups[gi].flags &= USVA_INVAL_F_ASID;
		sc->groups[gi].widened = 1;
	}
	for (uint32_t k = i; k < j; k++) {
		group_join(b, gi, sc->pend[k]);
		sc->grp_of[k] = gi;
	}
}

/* Renumber the groups in the order of their lowest run. */
static void
groups_order(struct usva_inval_batch *b, uint32_t np, uint32_t ng)
{
	struct inval_scratch *sc = &b->sc;

	if (ng <= 1)
		return;
	for (uint32_t g = 0; g < ng; g++)
		sc->order[g] = g;
	qsort_r(sc->order, ng, sizeof(uint32_t), group_cmp, sc->groups);
	for (uint32_t g = 0; g < ng; g++) {
		sc->groups2[g] = sc->groups[sc->order[g]];
		sc->rank[sc->order[g]] = g;
	}
	for (uint32_t k = 0; k < np; k++)
		sc->grp_of[k] = sc->rank[sc->grp_of[k]];
	memcpy(sc->groups, sc->groups2, ng * sizeof(*sc->groups));
}

/*
 * The runs that are not done, into groups: run sc->pend[k] belongs to
 * group sc->grp_of[k]; groups are numbered in the order of their lowest
 * run, which is the order they are sent in.
 * @return the number of groups; -ENOMEM.
 */
static int
build_groups(struct usva_inval_batch *b, uint32_t *np_out)
{
	struct inval_scratch *sc = &b->sc;
	uint32_t np = 0, ng = 0, i, j;

	for (uint32_t r = b->done_prefix; r < b->nruns; r++)
		np += b->runs[r].status != USVA_INVAL_DONE;
	if (scratch_need_p(sc, np))
		return -ENOMEM;
	np = 0;
	for (uint32_t r = b->done_prefix; r < b->nruns; r++)
		if (b->runs[r].status != USVA_INVAL_DONE)
			sc->pend[np++] = r;
	*np_out = np;
	if (b->flags & USVA_INVAL_BATCH_F_NO_COALESCE) {
		for (uint32_t k = 0; k < np; k++)
			sc->grp_of[k] = group_open(b, &ng, sc->pend[k]);
		return (int)ng;
	}
	if (np > 1)
		qsort_r(sc->pend, np, sizeof(uint32_t), run_cmp, b->runs);
	for (i = 0; i < np; i = j) {
		const struct inval_run *ri = &b->runs[sc->pend[i]];

		for (j = i + 1; j < np; j++) {
			const struct inval_run *rj = &b->runs[sc->pend[j]];

			if (run_class(ri) != run_class(rj) || !same_target(ri, rj))
				break;
		}
		merge_key(b, i, j, &ng);
	}
	groups_order(b, np, ng);
	return (int)ng;
}

/* ---- submit: groups to backend entries --------------------------------------- */

struct emit_ctx {
	struct usva_inval_batch *b;
	uint32_t n;		/* backend entries so far */
	bool per_domain;	/* USVA_IOMMU_INVAL_PER_DOMAIN */
};

static int
emit(struct emit_ctx *x, uint32_t gi, const struct usva_inval_entry *e)
{
	struct inval_scratch *sc = &x->b->sc;

	if (scratch_need_e(sc, x->n + 1))
		return -ENOMEM;
	sc->be[x->n] = *e;
	sc->bgrp[x->n] = gi;
	x->n++;
	return 0;
}

/* The backend entry of group @p g for (dev, pasid), of domain @p dom. */
static void
entry_of(const struct inval_run *g, struct usva_iommu_dev *dev, uint32_t pasid,
	 struct usva_domain *dom, struct usva_inval_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->caches = g->caches;
	e->flags = g->flags;
	e->pasid = pasid;
	e->dev = dev;
	e->dom = dom;
	switch (g->kind) {
	case RUN_RANGE:
		e->granule = USVA_INVAL_ADDR;
		e->addr = g->first;
		e->npages = ((g->last - g->first) >> PAGE_SHIFT_4K) + 1;
		break;
	case RUN_PASID:
		e->granule = USVA_INVAL_PASID;
		break;
	default:
		e->granule = USVA_INVAL_DOMAIN;
		break;
	}
}

/*
 * A domain's range or PASID-wide flush, once per (device, PASID) it is
 * attached at now; the device TLB only where there is one (ATS). Attached
 * nowhere: nothing is cached (detach flushes), nothing to send.
 * iommu->lock held.
 */
static int
emit_attachments(struct emit_ctx *x, uint32_t gi, const struct inval_run *g)
{
	struct usva_iommu_dev *dev;
	struct usva_inval_entry e;
	struct usva_attach *a;
	int rc = 0;

	TAILQ_FOREACH(dev, &x->b->iommu->devs, next) {
		uint32_t caches = g->caches;

		if (!(dev->info.flags & USVA_DEV_F_ATS))
			caches &= ~USVA_INVAL_DEVTLB;
		if (caches == 0)
			continue;
		pthread_mutex_lock(&dev->lock);
		TAILQ_FOREACH(a, &dev->attached, next) {
			if (a->dom != g->dom)
				continue;
			entry_of(g, dev, a->pasid, g->dom, &e);
			e.caches = caches;
			rc = emit(x, gi, &e);
			if (rc)
				break;
		}
		pthread_mutex_unlock(&dev->lock);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Group @p gi for a backend that takes entries per nested domain: every
 * entry names its domain; a domain's entries are passed once (the backend
 * covers its attachments), a PASID-wide flush of a domain is its DOMAIN
 * granule. iommu->lock held.
 */
static int
emit_per_domain(struct emit_ctx *x, uint32_t gi, const struct inval_run *g)
{
	struct usva_inval_entry e;
	struct usva_domain *dom = g->dom;

	if (g->dev != NULL) {
		dom = usva_iommu_dev_attached(g->dev, g->pasid);
		if (dom == NULL)
			return 0;	/* detached since: flushed then */
	}
	entry_of(g, g->dev, g->pasid, dom, &e);
	if (g->dev == NULL && g->kind == RUN_PASID)
		e.granule = USVA_INVAL_DOMAIN;
	return emit(x, gi, &e);
}

static int
emit_group(struct emit_ctx *x, uint32_t gi)
{
	const struct inval_run *g = &x->b->sc.groups[gi];
	struct usva_inval_entry e;

	if (x->per_domain)
		return emit_per_domain(x, gi, g);
	if (g->dev == NULL && g->kind != RUN_DOMAIN)
		return emit_attachments(x, gi, g);
	entry_of(g, g->dev, g->pasid, g->dom, &e);
	return emit(x, gi, &e);
}

/* Entries of one domain first-come, the domains in order of first entry. */
static int
order_by_domain(struct emit_ctx *x)
{
	struct inval_scratch *sc = &x->b->sc;
	uint32_t n = x->n, done = 0;
	int rc;

	/* Emitted twice: [0, n) as built, then [n, 2n) grouped. */
	rc = scratch_need_e(sc, 2 * n);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		struct usva_domain *dom = sc->be[i].dom;

		if (dom == NULL)
			continue;	/* already moved */
		for (uint32_t k = i; k < n; k++) {
			if (sc->be[k].dom != dom)
				continue;
			sc->be[n + done] = sc->be[k];
			sc->bgrp[n + done] = sc->bgrp[k];
			sc->be[k].dom = NULL;
			done++;
		}
	}
	memmove(sc->be, sc->be + n, n * sizeof(*sc->be));
	memmove(sc->bgrp, sc->bgrp + n, n * sizeof(*sc->bgrp));
	return 0;
}

/* ---- submit: backend calls and statuses ------------------------------------- */

/*
 * Call the backend on [first, first + n) in chunks it accepts; stop at
 * the first failure. @return entries done.
 */
static uint32_t
call_backend(struct usva_inval_batch *b, uint32_t first, uint32_t n)
{
	const struct usva_iommu_ops *ops = b->iommu->ops;
	uint32_t max = ops->inval_max_entries ? ops->inval_max_entries : n;
	uint32_t done = 0;

	while (done < n) {
		uint32_t k = RTE_MIN(n - done, max);
		int rc;

		rc = ops->invalidate(b->iommu, &b->sc.be[first + done], k,
				     &b->sc.bst[first + done]);
		if (rc < 0)	/* refused as a whole: the first has the cause */
			b->sc.bst[first + done] = rc;
		b->st.backend_calls++;
		b->st.entries_sent += k;
		b->st.last_sent += k;
		done += rc > 0 ? (uint32_t)RTE_MIN((uint32_t)rc, k) : 0;
		if (rc < (int)k)
			break;
	}
	return done;
}

/* Run every backend entry: one call per domain when the backend wants
 * that, else all at once. @return the index of the first not done. */
static uint32_t
execute(struct emit_ctx *x)
{
	struct inval_scratch *sc = &x->b->sc;
	uint32_t i = 0, done;

	while (i < x->n) {
		uint32_t j = i + 1;

		if (x->per_domain)
			while (j < x->n && sc->be[j].dom == sc->be[i].dom)
				j++;
		else
			j = x->n;
		done = call_backend(x->b, i, j - i);
		if (done < j - i)
			return i + done;
		i = j;
	}
	return x->n;
}

/* A group no backend entry belongs to (yet), in statuses_up(). */
#define GROUP_NO_ENTRY	INT32_MAX

/*
 * Statuses back up: a group is done when all its entries are, has the
 * error of one that failed, else is not attempted; a group without
 * entries (a domain's range while the domain is attached nowhere) had
 * nothing to do: done, unless it comes after the group that failed, as
 * entries after a failure are never done. @return the first error, or 0.
 */
static int
statuses_up(struct usva_inval_batch *b, const struct emit_ctx *x, uint32_t ok,
	    uint32_t np, uint32_t ng)
{
	struct inval_scratch *sc = &b->sc;
	uint32_t gfail = ok < x->n ? sc->bgrp[ok] : UINT32_MAX;
	int first_err = 0;

	for (uint32_t g = 0; g < ng; g++)
		sc->groups[g].status = GROUP_NO_ENTRY;
	for (uint32_t i = 0; i < x->n; i++) {
		int32_t s = i < ok ? USVA_INVAL_DONE :
			    i == ok ? sc->bst[i] : USVA_INVAL_NOT_ATTEMPTED;
		int32_t *gs = &sc->groups[sc->bgrp[i]].status;

		if (*gs == GROUP_NO_ENTRY)
			*gs = USVA_INVAL_DONE;
		if (i == ok && s >= 0)
			s = -EIO;	/* backend said not done, gave no cause */
		if (s < 0) {
			if (first_err == 0)
				first_err = s;
			if (*gs >= 0)
				*gs = s;
		} else if (s == USVA_INVAL_NOT_ATTEMPTED &&
			   *gs == USVA_INVAL_DONE) {
			*gs = s;
		}
	}
	for (uint32_t g = 0; g < ng; g++)
		if (sc->groups[g].status == GROUP_NO_ENTRY)
			sc->groups[g].status = g > gfail ?
					       USVA_INVAL_NOT_ATTEMPTED :
					       USVA_INVAL_DONE;
	for (uint32_t k = 0; k < np; k++) {
		struct inval_run *r = &b->runs[sc->pend[k]];

		r->status = sc->groups[sc->grp_of[k]].status;
		if (r->status == USVA_INVAL_DONE)
			b->ndone_added += r->n;
	}
	for (uint32_t g = 0; g < ng; g++)
		b->st.widened += sc->groups[g].widened &&
				 sc->groups[g].status == USVA_INVAL_DONE;
	return first_err;
}

/* Give back the chains whose runs are all done now. */
static void
chains_release(struct usva_inval_batch *b)
{
	while (b->done_prefix < b->nruns &&
	       b->runs[b->done_prefix].status == USVA_INVAL_DONE)
		b->done_prefix++;
	while (b->chain_head < b->nchains &&
	       b->chains[b->chain_head].tag < b->done_prefix) {
		struct inval_chain *c = &b->chains[b->chain_head++];

		b->st.pages_held -= c->pages.n;
		b->st.pages_released += c->pages.n;
		usva_as_pages_release(&c->pages);
	}
}

/* Groups to backend entries, then the calls. iommu->lock is held across
 * both: a device or attachment the entries name stays while they run. */
static int
expand_and_execute(struct usva_inval_batch *b, uint32_t ng, struct emit_ctx *x,
		   uint32_t *ok)
{
	struct usva_iommu *iommu = b->iommu;
	int rc = 0;

	pthread_mutex_lock(&iommu->lock);
	for (uint32_t g = 0; g < ng && rc == 0; g++)
		rc = emit_group(x, g);
	if (rc == 0 && x->per_domain)
		rc = order_by_domain(x);
	if (rc == 0)
		*ok = execute(x);
	pthread_mutex_unlock(&iommu->lock);
	return rc;
}

int
usva_inval_batch_submit(struct usva_inval_batch *b, int *err)
{
	struct emit_ctx x = { .b = b };
	uint32_t np = 0, ok = 0;
	int ng, rc, first_err;

	if (err != NULL)
		*err = 0;
	if (b == NULL) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_submit: no batch");
		return -EINVAL;
	}
	if (b->iommu->ops->invalidate == NULL) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_submit: %s cannot "
			 "invalidate", b->iommu->ops->name);
		return -EOPNOTSUPP;
	}
	b->st.submits++;
	b->st.last_sent = 0;
	ng = build_groups(b, &np);
	if (ng <= 0)
		return ng < 0 ? ng : (int)b->ndone_added;
	x.per_domain = b->iommu->ops->inval_flags & USVA_IOMMU_INVAL_PER_DOMAIN;
	rc = expand_and_execute(b, (uint32_t)ng, &x, &ok);
	if (rc) {
		USVA_LOG(ERR, iommu, "usva_inval_batch_submit: no memory for "
			 "%u backend entries: nothing submitted", x.n);
		return rc;
	}
	first_err = statuses_up(b, &x, ok, np, (uint32_t)ng);
	chains_release(b);
	if (first_err) {
		b->st.failures++;
		USVA_LOG_RATELIMITED(ERR, iommu, "usva_inval_batch_submit: "
			"backend entry %u of %u failed (%d): %u of %u added "
			"entries done", ok, x.n, first_err, b->ndone_added,
			b->nadded);
		if (err != NULL)
			*err = first_err;
	}
	return (int)b->ndone_added;
}
