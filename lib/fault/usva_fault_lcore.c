/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service hot path: one iteration of a slot.
 *
 *   completions  (MP/SC ring)  -> apply to their groups
 *   dispatch     (MP/SC ring)  -> resolve requests other slots forwarded
 *   poll queues  (prq_poll)    -> per request: handler, group, shard;
 *                                 resolve here if this slot owns the shard
 *                                 (or everything, under the global lock),
 *                                 else stage for the owner's dispatch ring
 *   forward staged requests, flush pagers, time out groups, deliver events
 *   send the response batch    (one page_respond call per batch)
 *
 * Single writer per shard: only the owner slot calls a pager for an
 * address of its shard, so PTE leaves of one granule are written by one
 * thread and no lock is taken (usva_as.h's concurrency rule), provided
 * shard_shift >= the AS's granule_shift (both 21 by default).
 *
 * Nothing here allocates, takes a lock other than the baseline's global
 * one, or makes a system call per fault: backend calls are per burst.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_pause.h>

#include "usva_as.h"
#include "usva_fault_internal.h"
#include "usva_pasid.h"

#define SCAN_BUSY		8	/* clean-up records per busy iteration */
#define SCAN_IDLE		64	/* ... per idle iteration */
#define FLUSH_SPINS		64	/* empty page_respond calls before giving up */
#define FLUSH_SPINS_MUST	(1u << 22)	/* ... when the batch must empty */
#define EVENTS_BURST		16
#define IDLE_SPINS		256	/* interrupt mode: idle iterations first */
#define SLEEP_MIN_NS		10000
#define SLEEP_MAX_NS		1000000

/* answer_success() copies (dev_id, pasid, grpid, cookie) in one go. */
_Static_assert(offsetof(struct usva_page_req, pasid) ==
	       offsetof(struct usva_page_req, dev_id) + 4 &&
	       offsetof(struct usva_page_req, grpid) ==
	       offsetof(struct usva_page_req, dev_id) + 8 &&
	       offsetof(struct usva_page_req, cookie) ==
	       offsetof(struct usva_page_req, dev_id) + 12 &&
	       offsetof(struct usva_page_resp, pasid) ==
	       offsetof(struct usva_page_resp, dev_id) + 4 &&
	       offsetof(struct usva_page_resp, grpid) ==
	       offsetof(struct usva_page_resp, dev_id) + 8 &&
	       offsetof(struct usva_page_resp, cookie) ==
	       offsetof(struct usva_page_resp, dev_id) + 12,
	       "request and response key layouts");

/* The handler cache is void: the slot is about to call code (another
 * pager, an event callback) that may unregister handlers. */
static inline void
hc_void(struct fault_slot *s)
{
	s->hc_iommu = UINT32_MAX;
	s->sc_gran = UINT64_MAX;
}

/* ---- responses ------------------------------------------------------------------ */

/* Log2 bucket of the latency from TSC @p ts to @p now, in ns; -1: no
 * sample (no timestamp, or a clock that went backwards). */
static inline int
lat_bucket(const struct usva_fault_service *svc, uint64_t ts, uint64_t now)
{
	uint64_t ns;
	int b;

	if (ts == 0 || ts > now)
		return -1;
	ns = (uint64_t)(((unsigned __int128)(now - ts) * svc->ns_mult) >> 32);
	b = ns == 0 ? 0 : 63 - __builtin_clzll(ns);
	return b < USVA_FAULT_LAT_BUCKETS ? b : USVA_FAULT_LAT_BUCKETS - 1;
}

static inline void
resp_count(struct usva_fault_stats *st, uint16_t code, int b)
{
	FSTAT_INC(st, groups);
	if (likely(code == USVA_PAGE_RESP_SUCCESS))
		FSTAT_INC(st, resp_success);
	else if (code == USVA_PAGE_RESP_INVALID)
		FSTAT_INC(st, resp_invalid);
	else
		FSTAT_INC(st, resp_failure);
	if (b >= 0)
		FSTAT_INC(st, lat_hist[b]);
}

/* Publish the fast path's batched counts (see fault_slot.acc_n). */
static void
acc_flush(struct fault_slot *s)
{
	struct usva_fault_stats *st = &s->stats.st;
	struct usva_fault_stats *ss;
	uint32_t n = s->acc_n;

	if (n == 0)
		return;
	ss = &s->svc->shards[s->acc_shard].st;
	FSTAT_ADD(st, groups, n);
	FSTAT_ADD(st, resp_success, n);
	FSTAT_ADD(ss, requests, n);
	FSTAT_ADD(ss, groups, n);
	FSTAT_ADD(ss, resp_success, n);
	if (s->acc_lat >= 0) {
		FSTAT_ADD(st, lat_hist[s->acc_lat], n);
		FSTAT_ADD(ss, lat_hist[s->acc_lat], n);
	}
	s->acc_n = 0;
}

static inline void
acc_add(struct fault_slot *s, uint32_t shard, int lat)
{
	if (unlikely(shard != s->acc_shard || lat != s->acc_lat)) {
		acc_flush(s);
		s->acc_shard = shard;
		s->acc_lat = lat;
	}
	s->acc_n++;
}

void
fault_slot_flush(struct fault_slot *s, bool must)
{
	uint32_t i = 0, j, k, spins = 0;
	uint16_t n;
	uint8_t id;

	/* Counters first: whoever sees a response sees it counted. */
	acc_flush(s);
	while (i < s->resp_n) {
		/* One call per run of responses to the same IOMMU. */
		id = s->resp_iommu[i];
		if (likely(!s->resp_mixed))
			j = s->resp_n;
		else
			for (j = i + 1; j < s->resp_n && s->resp_iommu[j] == id;
			     j++)
				;
		for (k = i; k < j; k += n) {
			n = usva_iommu_page_respond(id, &s->resp[k],
						    (uint16_t)(j - k));
			if (k + n == j)
				break;
			FSTAT_INC(&s->stats.st, resp_retries);
			if (n == 0 && ++spins > FLUSH_SPINS) {
				if (!must)
					goto keep;
				if (spins > FLUSH_SPINS_MUST) {
					/* A backend that takes nothing for
					 * seconds is broken: do not hang the
					 * lcore on it. */
					USVA_LOG_RATELIMITED(ERR, fault,
						"iommu %u takes no page responses: %u dropped",
						id, j - k);
					break;
				}
			}
			rte_pause();
		}
		i = j;
	}
	s->resp_n = 0;
	s->resp_mixed = false;
	return;
keep:
	/* Keep what the backend did not take, for the next flush. */
	memmove(&s->resp[0], &s->resp[k], (s->resp_n - k) * sizeof(s->resp[0]));
	memmove(&s->resp_iommu[0], &s->resp_iommu[k], s->resp_n - k);
	s->resp_n -= k;
	for (i = 1; i < s->resp_n && s->resp_iommu[i] == s->resp_iommu[0]; i++)
		;
	s->resp_mixed = i < s->resp_n;
}

/* Room for one response in the slot's batch: the next entry. */
static inline struct usva_page_resp *
resp_next(struct fault_slot *s)
{
	if (unlikely(s->resp_n == s->svc->resp_batch)) {
		fault_slot_flush(s, false);
		if (s->resp_n == s->svc->resp_batch)
			fault_slot_flush(s, true);
	}
	return &s->resp[s->resp_n];
}

/* Commit the entry resp_next() gave (filled by the caller): count it,
 * per slot and, when this slot owns @p shard (>= 0), per shard. */
static inline void
resp_commit(struct fault_slot *s, uint8_t iommu, uint64_t ts, int32_t shard)
{
	const struct usva_fault_service *svc = s->svc;
	uint16_t code = s->resp[s->resp_n].code;
	int b = lat_bucket(svc, ts, s->now);

	s->resp_iommu[s->resp_n] = iommu;
	s->resp_mixed |= iommu != s->resp_iommu[0];
	s->resp_n++;
	resp_count(&s->stats.st, code, b);
	if (shard >= 0)
		resp_count(&svc->shards[shard].st, code, b);
	if (s->resp_n == svc->resp_batch)
		fault_slot_flush(s, false);
}

void
fault_slot_respond(struct fault_slot *s, const struct usva_page_resp *r,
		   uint8_t iommu, uint64_t ts, int32_t shard)
{
	*resp_next(s) = *r;
	resp_commit(s, iommu, ts, shard);
}

/* Answer a group that never needed a record: straight from its request. */
static void
answer_req(struct fault_slot *s, const struct usva_page_req *q, uint8_t iommu,
	   uint32_t rank, int32_t shard)
{
	struct usva_page_resp *r = resp_next(s);

	r->dev_id = q->dev_id;
	r->pasid = q->pasid;
	r->grpid = q->grpid;
	r->cookie = q->cookie;
	r->code = rank_to_code(rank);
	r->flags = q->flags & (USVA_PREQ_F_PASID | USVA_PREQ_F_PRIV_DATA);
	r->reserved = 0;
	if (q->flags & USVA_PREQ_F_PRIV_DATA) {
		r->private_data[0] = q->private_data[0];
		r->private_data[1] = q->private_data[1];
	} else {
		r->private_data[0] = 0;
		r->private_data[1] = 0;
	}
	resp_commit(s, iommu, q->ts, shard);
}

/*
 * The fast path's answer: a group of one request resolved SUCCESS at once
 * in @p shard, owned here. As answer_req(), with batched counts.
 */
static inline void
answer_success(struct fault_slot *s, const struct usva_page_req *q,
	       uint8_t iommu, uint32_t shard)
{
	struct usva_page_resp *r = resp_next(s);
	uint64_t keep = -(uint64_t)((q->flags & USVA_PREQ_F_PRIV_DATA) != 0);

	/* dev_id, pasid, grpid, cookie: the same 16 bytes in both. */
	memcpy(&r->dev_id, &q->dev_id, 16);
	r->code = USVA_PAGE_RESP_SUCCESS;
	r->flags = q->flags & (USVA_PREQ_F_PASID | USVA_PREQ_F_PRIV_DATA);
	r->reserved = 0;
	r->private_data[0] = q->private_data[0] & keep;
	r->private_data[1] = q->private_data[1] & keep;
	s->resp_iommu[s->resp_n] = iommu;
	s->resp_mixed |= iommu != s->resp_iommu[0];
	acc_add(s, shard, lat_bucket(s->svc, q->ts, s->now));
	if (unlikely(++s->resp_n == s->svc->resp_batch))
		fault_slot_flush(s, false);
}

/* Answer a group this thread claimed (CLOSING, state @p st), then let the
 * record go: FREE if it is in our own table, DONE (for the table's slot to
 * reclaim) otherwise. */
static void
group_answer(struct fault_slot *s, struct fault_group *g, uint64_t st,
	     int32_t shard)
{
	struct usva_page_resp r;
	uint8_t iommu = g->iommu;
	uint64_t ts = g->ts;
	bool own = g >= s->groups && g <= s->groups + s->gmask;

	fault_group_resp(g, rank_to_code(gs_worst(st)), &r);
	/* Release: our reads of the record come before its reuse, which
	 * starts with the table slot's acquire load of FREE/DONE. */
	__atomic_store_n(&g->state, gs_make(gs_gen(st), own ? GS_FREE : GS_DONE),
			 __ATOMIC_RELEASE);
	if (own)
		s->open--;
	fault_slot_respond(s, &r, iommu, ts, shard);
}

/* Let go of a claimed group of our own table without answering it (it
 * never got its LAST). Release: as in group_answer(). */
static void
group_drop(struct fault_slot *s, struct fault_group *g, uint64_t st)
{
	__atomic_store_n(&g->state, gs_make(gs_gen(st), GS_FREE),
			 __ATOMIC_RELEASE);
	s->open--;
}

/* ---- group table: the slot's own operations --------------------------------- */

static inline uint32_t
group_hash(uint8_t iommu, uint32_t dev_id, uint32_t pasid, uint32_t grpid)
{
	uint64_t k = (((uint64_t)dev_id << 32) | pasid) *
		     UINT64_C(0x9e3779b97f4a7c15);

	k ^= (((uint64_t)grpid << 8) | iommu) * UINT64_C(0xc2b2ae3d27d4eb4f);
	return (uint32_t)(k >> 29);
}

static inline bool
group_key_eq(const struct fault_group *g, uint8_t iommu,
	     const struct usva_page_req *q)
{
	return g->grpid == q->grpid && g->pasid == q->pasid &&
	       g->dev_id == q->dev_id && g->iommu == iommu;
}

/* DONE -> FREE: only the table's slot does it, so a plain store suffices;
 * our acquire load of DONE ordered the answerer's reads before it. */
static inline void
group_reclaim(struct fault_slot *s, struct fault_group *g, uint64_t st)
{
	__atomic_store_n(&g->state, gs_make(gs_gen(st), GS_FREE),
			 __ATOMIC_RELAXED);
	s->open--;
}

/*
 * Find the OPEN group of @p q's key. *ins gets a record free for an insert
 * on the probe path (UINT32_MAX: none), *gen the found group's generation.
 */
static struct fault_group *
group_find(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	   uint32_t *ins, uint32_t *gen)
{
	uint32_t i = group_hash(iommu, q->dev_id, q->pasid, q->grpid) & s->gmask;
	uint32_t n, first = UINT32_MAX;
	struct fault_group *g;
	uint64_t st;

	for (n = 0; n <= s->gmask; n++, i = (i + 1) & s->gmask) {
		g = &s->groups[i];
		/* Acquire: pairs with the release that published or let go
		 * of the record. */
		st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
		switch (gs_phase(st)) {
		case GS_EMPTY:
			*ins = first == UINT32_MAX ? i : first;
			return NULL;
		case GS_DONE:
			group_reclaim(s, g, st);
			/* fall through */
		case GS_FREE:
			if (first == UINT32_MAX)
				first = i;
			break;
		case GS_OPEN:
			/* Not one that saw its LAST: a device reuses a group
			 * index only after the group's response, so a request
			 * with the key of such a record starts a new group
			 * (the IOMMU answered the old one itself, e.g. at a
			 * PASID detach, while a page of it was pending here;
			 * the old record's late answer is dropped as stale). */
			if (group_key_eq(g, iommu, q) && !(st & GS_LAST)) {
				*ins = i;
				*gen = gs_gen(st);
				return g;
			}
			break;
		default:	/* CLOSING: being answered, not ours to match */
			break;
		}
	}
	*ins = first;
	return NULL;
}

/* A free record for @p q's key when the lookup was skipped (no group
 * open): the first EMPTY/FREE/DONE on its probe path. */
static uint32_t
group_free_slot(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q)
{
	uint32_t i = group_hash(iommu, q->dev_id, q->pasid, q->grpid) & s->gmask;
	uint32_t n;
	uint64_t st;

	for (n = 0; n <= s->gmask; n++, i = (i + 1) & s->gmask) {
		/* Acquire: as in group_find(). */
		st = __atomic_load_n(&s->groups[i].state, __ATOMIC_ACQUIRE);
		switch (gs_phase(st)) {
		case GS_DONE:
			group_reclaim(s, &s->groups[i], st);
			/* fall through */
		case GS_EMPTY:
		case GS_FREE:
			return i;
		default:
			break;
		}
	}
	return UINT32_MAX;
}

/* Reclaim every DONE record, once per iteration at most, when the table
 * looks full. */
static void
groups_reclaim_all(struct fault_slot *s)
{
	uint32_t i;
	uint64_t st;

	if (s->full_reclaim_done)
		return;
	s->full_reclaim_done = true;
	for (i = 0; i <= s->gmask; i++) {
		/* Acquire: as in group_find(). */
		st = __atomic_load_n(&s->groups[i].state, __ATOMIC_ACQUIRE);
		if (gs_phase(st) == GS_DONE)
			group_reclaim(s, &s->groups[i], st);
	}
}

/* Room for one more group? max_groups bounds the groups open per slot. */
static inline bool
group_room(struct fault_slot *s)
{
	if (likely(s->open < s->svc->cfg.max_groups))
		return true;
	groups_reclaim_all(s);
	return s->open < s->svc->cfg.max_groups;
}

/* The generation record @p idx will get when published (FREE/EMPTY records
 * are only touched by their slot: it cannot change under us). */
static inline uint32_t
group_next_gen(struct fault_slot *s, uint32_t idx)
{
	return gen_next(gs_gen(__atomic_load_n(&s->groups[idx].state,
					       __ATOMIC_RELAXED)));
}

static inline void
group_write_resp_fields(struct fault_group *g, const struct usva_page_req *q)
{
	g->cookie = q->cookie;
	g->resp_flags = q->flags & (USVA_PREQ_F_PASID | USVA_PREQ_F_PRIV_DATA);
	if (q->flags & USVA_PREQ_F_PRIV_DATA) {
		g->priv[0] = q->private_data[0];
		g->priv[1] = q->private_data[1];
	} else {
		g->priv[0] = 0;
		g->priv[1] = 0;
	}
}

/*
 * The LAST request's cookie and private data go into the record before the
 * CAS that sets LAST (which releases them). Until LAST is set only this
 * slot, a timeout (this slot) or unregister (after its grace period, when
 * this slot no longer touches the group) may claim the group, so nobody
 * reads the fields while they are written. (A record that saw its LAST
 * takes no more requests: group_find() does not match it.)
 */
static inline void
group_last_fields(struct fault_group *g, const struct usva_page_req *q,
		  bool last)
{
	/* Relaxed: LAST is set only by this slot (the CAS that follows). */
	if (last && !(__atomic_load_n(&g->state, __ATOMIC_RELAXED) & GS_LAST))
		group_write_resp_fields(g, q);
}

/* Start a group in record @p idx with state bits @p bits (pending, LAST,
 * worst). @return its generation. */
static uint32_t
group_publish(struct fault_slot *s, uint32_t idx, uint8_t iommu,
	      const struct usva_page_req *q, uint32_t hgen, uint64_t bits)
{
	struct fault_group *g = &s->groups[idx];
	uint32_t gen = group_next_gen(s, idx);

	g->dev_id = q->dev_id;
	g->pasid = q->pasid;
	g->grpid = q->grpid;
	g->iommu = iommu;
	__atomic_store_n(&g->hgen, hgen, __ATOMIC_RELAXED);	/* R: flush walks */
	g->ts = q->ts;
	g->deadline = s->now + s->svc->timeout_tsc;
	group_write_resp_fields(g, q);
	/* Release: the fields above before the state that makes them live;
	 * answerers and completers acquire the state. */
	__atomic_store_n(&g->state, gs_make(gen, GS_OPEN) | bits,
			 __ATOMIC_RELEASE);
	s->open++;
	s->dirty = true;
	return gen;
}

/*
 * Update an OPEN group of generation @p gen: pending += @p delta, worst =
 * max(worst, @p rank), LAST |= @p last. The update that leaves pending 0
 * with LAST seen also claims it (CLOSING), in the same CAS.
 * @return 1 claimed (the caller answers, *@p out the claimed state), 0
 *         updated, -1 gone (answered already: timeout, unregister), -2 the
 *         pending count is at its limit (nothing changed).
 */
static inline int
group_update(struct fault_group *g, uint32_t gen, int delta, uint32_t rank,
	     bool last, uint64_t *out)
{
	/* Acquire: as the CAS's failure order below. */
	uint64_t old = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE), nw;

	do {
		if (gs_phase(old) != GS_OPEN || gs_gen(old) != gen)
			return -1;
		if (delta > 0 && gs_pending(old) == GS_PEND_MAX)
			return -2;
		if (delta < 0 && gs_pending(old) == 0)
			return -1;
		nw = old + (uint64_t)(int64_t)delta * GS_PEND_ONE;
		nw = gs_with_worst(nw, rank);
		if (last)
			nw |= GS_LAST;
		if (gs_pending(nw) == 0 && (nw & GS_LAST))
			nw = (nw & ~GS_PHASE_MASK) | GS_CLOSING;
		/* Acq_rel: release publishes what the caller wrote before
		 * (the LAST request's fields); acquire lets a claimant read
		 * what earlier updaters published. */
	} while (!__atomic_compare_exchange_n(&g->state, &old, nw, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	*out = nw;
	return gs_phase(nw) == GS_CLOSING ? 1 : 0;
}

/* ---- groups that found no record: "doomed" ---------------------------------- */
/*
 * A request that needs a record when none is free (max_groups open) cannot
 * be answered now unless it is its group's LAST (a response before the
 * LAST would end the group early on the device). So a non-LAST one is
 * remembered here, by key, and its LAST is answered INVALID at once; the
 * requests in between are dropped. FAULT_DOOMED keys per slot; past that
 * the oldest is forgotten (its LAST is then served as a new group).
 */
static bool
doomed_take(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	    bool last)
{
	struct fault_doomed *d;
	uint32_t i;

	for (i = 0; i < FAULT_DOOMED; i++) {
		d = &s->doomed[i];
		if (d->iommu == iommu && d->grpid == q->grpid &&
		    d->pasid == q->pasid && d->dev_id == q->dev_id) {
			if (last) {
				d->iommu = UINT32_MAX;
				s->doomed_n--;
			}
			return true;
		}
	}
	return false;
}

static void
doomed_add(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q)
{
	struct fault_doomed *d = NULL;
	uint32_t i;

	for (i = 0; i < FAULT_DOOMED && d == NULL; i++)
		if (s->doomed[i].iommu == UINT32_MAX)
			d = &s->doomed[i];
	if (d == NULL) {
		d = &s->doomed[s->doomed_head];	/* forget the oldest */
		s->doomed_head = (s->doomed_head + 1) % FAULT_DOOMED;
		s->doomed_n--;
	}
	d->iommu = iommu;
	d->dev_id = q->dev_id;
	d->pasid = q->pasid;
	d->grpid = q->grpid;
	s->doomed_n++;
}

/* No record for @p q: answer a LAST now, remember a non-LAST. */
static void
group_overflow(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	       bool last)
{
	FSTAT_INC(&s->stats.st, group_overflow);
	USVA_LOG_RATELIMITED(NOTICE, fault,
		"lcore slot %u: no group record free (max_groups %u): group %u of dev %u pasid %u answered INVALID",
		s->idx, s->svc->cfg.max_groups, q->grpid, q->dev_id, q->pasid);
	if (last)
		answer_req(s, q, iommu, RANK_INVALID, -1);
	else
		doomed_add(s, iommu, q);
}

/* ---- placement of address spaces ------------------------------------------- */

/*
 * Where @p h's address space is resolved (FAULT_HOME_*), decided the first
 * time a slot polls a request of it, for the service's life.
 *
 * Forwarding a request to another slot costs that slot's ring, a second
 * handler lookup, and a response that crosses cores. So when every slot
 * polls queues of its own (at least as many IOMMUs as slots), an address
 * space goes to the slot polling the first request seen for it: requests
 * of a queue are then resolved by the slot that polls them, and load
 * spreads over the slots with the queues. Otherwise (fewer queues than
 * slots, one slot, or global-lock mode) it spreads over all shards.
 *
 * svc->homes keeps the decision per usva_as, so every handler of an
 * address space, on any IOMMU, finds the same one (the single-writer rule
 * of usva_as.h holds whatever IOMMUs serve it). Entries are only ever
 * added (by CAS); an address space that finds no room within
 * FAULT_HOME_PROBES entries spreads, and always will (its entries never
 * free up). A destroyed address space's entry stays: one created at the
 * same address inherits its placement, consistently for all its handlers.
 */
static __rte_noinline uint32_t
home_lookup(struct fault_slot *s, struct usva_fault_handler *h)
{
	struct usva_fault_service *svc = s->svc;
	uint64_t as = (uint64_t)(uintptr_t)h->as, v;
	uint32_t want = FAULT_HOME_SPREAD, code = FAULT_HOME_SPREAD, i, n;

	/* Relaxed: nr_iommus changes only while no slot runs. */
	if (!svc->global_lock && svc->nr_slots > 1 &&
	    __atomic_load_n(&svc->nr_iommus, __ATOMIC_RELAXED) >= svc->nr_slots &&
	    svc->slot_shards[s->idx] != 0)
		want = 1 + s->idx;
	/* usva_as objects are cache-line aligned: the low bits carry the
	 * code. (Were one not, it would spread, for all its handlers.) */
	if ((as & FAULT_HOME_MASK) == 0) {
		i = (uint32_t)((as * UINT64_C(0x9e3779b97f4a7c15)) >> 40) &
		    (FAULT_HOMES - 1);
		for (n = 0; n < FAULT_HOME_PROBES; n++) {
			/* Acquire: pairs with the CAS that filled it. */
			v = __atomic_load_n(&svc->homes[i], __ATOMIC_ACQUIRE);
			if (v == 0) {
				/* The first slot to fill the entry decides;
				 * a loser reads the winner's value. */
				if (__atomic_compare_exchange_n(&svc->homes[i],
						&v, as | want, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
					code = want;
					break;
				}
			}
			if ((v & ~FAULT_HOME_MASK) == as) {
				code = (uint32_t)(v & FAULT_HOME_MASK);
				break;
			}
			i = (i + 1) & (FAULT_HOMES - 1);
		}
	}
	/* Relaxed: a cache of the table; every writer stores the same. */
	__atomic_store_n(&h->home, code, __ATOMIC_RELAXED);
	return code;
}

static inline uint32_t
handler_home(struct fault_slot *s, struct usva_fault_handler *h)
{
	/* Relaxed: see home_lookup(). */
	uint32_t home = __atomic_load_n(&h->home, __ATOMIC_RELAXED);

	return likely(home != 0) ? home : home_lookup(s, h);
}

/* ---- resolving one page ------------------------------------------------------ */

static inline bool
slot_owns(const struct fault_slot *s, uint32_t shard)
{
	return s->svc->global_lock || s->svc->owner[shard] == s->idx;
}

/* Map up to h->prefetch pages after @p page, best effort: only pages of
 * shards this slot owns, only while the pager resolves synchronously. */
static void
prefetch(struct fault_slot *s, struct usva_fault_handler *h, uint64_t page)
{
	const struct usva_fault_service *svc = s->svc;
	struct usva_pager_fault f;
	struct usva_as_xlate x;
	uint64_t a = page;
	uint32_t i;

	f.as = h->as;
	f.pasid = h->pasid;
	f.perm = USVA_ACCESS_READ;
	f.slot = s->idx;
	/* Generation 0: a completion of it is ignored. */
	f.tok = tok_make(svc->reg, svc->inst, s->idx, s->idx, 0, 0, 0);
	for (i = 0; i < h->prefetch; i++) {
		a += h->page_size;
		if (a - h->base >= h->len || a < page)
			break;
		if (!slot_owns(s, fault_shard_home(svc, handler_home(s, h),
						   h->pasid, a)))
			break;
		if (usva_as_lookup(h->as, a, &x) == 0)
			continue;
		f.addr = a;
		if (h->pager->ops != &fault_anon_ops)
			hc_void(s);
		if (h->pager->ops->fault(h->pager, &f) != USVA_PAGER_DONE)
			break;
	}
}

/*
 * Resolve one page on its shard's owner (or under the global lock).
 * @return RANK_SUCCESS, RANK_INVALID or RES_PENDING.
 */
static uint32_t
resolve(struct fault_slot *s, struct usva_fault_handler *h, uint64_t addr,
	uint32_t perm, uint32_t shard, struct usva_fault_token tok)
{
	struct usva_fault_stats *ss = &s->svc->shards[shard].st;
	struct usva_pager_fault f;
	struct usva_as_xlate x;
	int rc;

	FSTAT_INC(ss, requests);
	if (!h->pager->ops->checks_present &&
	    usva_as_lookup(h->as, addr, &x) == 0 &&
	    fault_prot_allows(x.prot, perm)) {
		FSTAT_INC(ss, already_present);
		FSTAT_INC(&s->stats.st, already_present);
		return RANK_SUCCESS;
	}
	f.as = h->as;
	f.addr = addr & h->page_mask;
	f.perm = perm;
	f.pasid = h->pasid;
	f.slot = s->idx;
	f.tok = tok;
	if (likely(h->pager->ops == &fault_anon_ops)) {
		rc = fault_anon_map(h->pager, h->as, f.addr, perm, s->idx);
	} else {
		hc_void(s);
		rc = h->pager->ops->fault(h->pager, &f);
	}
	if (likely(rc == USVA_PAGER_DONE)) {
		if (h->prefetch != 0)
			prefetch(s, h, f.addr);
		return RANK_SUCCESS;
	}
	if (rc == USVA_PAGER_PRESENT) {
		FSTAT_INC(ss, already_present);
		FSTAT_INC(&s->stats.st, already_present);
		return RANK_SUCCESS;
	}
	if (rc == USVA_PAGER_PENDING) {
		FSTAT_INC(ss, pending_async);
		FSTAT_INC(&s->stats.st, pending_async);
		return RES_PENDING;
	}
	FSTAT_INC(ss, pager_errors);
	FSTAT_INC(&s->stats.st, pager_errors);
	USVA_LOG_RATELIMITED(DEBUG, fault,
		"%s pager: pasid %u addr 0x%" PRIx64 " perm 0x%x: %d",
		h->pager->ops->name, h->pasid, addr, perm, rc);
	return RANK_INVALID;
}

/*
 * resolve() for the built-in anon pager (synchronous: no token, no record),
 * for a group of one request. The shard's `requests` count is left to the
 * caller. @return RANK_SUCCESS or RANK_INVALID.
 */
static inline uint32_t
resolve_anon(struct fault_slot *s, struct usva_fault_handler *h, uint64_t addr,
	     uint32_t perm, uint32_t shard)
{
	uint64_t page = addr & h->page_mask;
	int rc;

	rc = fault_anon_map(h->pager, h->as, page, perm, s->idx);
	if (likely(rc == USVA_PAGER_DONE)) {
		if (unlikely(h->prefetch != 0))
			prefetch(s, h, page);
		return RANK_SUCCESS;
	}
	if (rc == USVA_PAGER_PRESENT) {
		FSTAT_INC(&s->svc->shards[shard].st, already_present);
		FSTAT_INC(&s->stats.st, already_present);
		return RANK_SUCCESS;
	}
	FSTAT_INC(&s->svc->shards[shard].st, pager_errors);
	FSTAT_INC(&s->stats.st, pager_errors);
	USVA_LOG_RATELIMITED(DEBUG, fault,
		"anon pager: pasid %u addr 0x%" PRIx64 " perm 0x%x: %d",
		h->pasid, addr, perm, rc);
	return RANK_INVALID;
}

/* Page result @p rank for the group of record (@p g, @p gen). */
static inline void
page_done(struct fault_slot *s, struct fault_group *g, uint32_t gen,
	  uint32_t rank, int32_t shard)
{
	uint64_t st;
	int rc = group_update(g, gen, -1, rank, false, &st);

	if (rc == 1)
		group_answer(s, g, st, shard);
	else if (rc < 0)
		FSTAT_INC(&s->stats.st, stale_completions);
}

/* ---- completions and forwarded requests ------------------------------------ */

static void
comp_apply(struct fault_slot *s, const struct fault_comp *c)
{
	struct usva_fault_service *svc = s->svc;
	uint32_t shard = TOK_SHARD(c->tok);
	struct fault_group *g =
		&svc->slots[TOK_PSLOT(c->tok)].groups[TOK_GIDX(c->tok)];
	uint32_t rank = RANK_SUCCESS;

	if (c->result < 0) {
		rank = RANK_INVALID;
		FSTAT_INC(&svc->shards[shard].st, pager_errors);
		FSTAT_INC(&s->stats.st, pager_errors);
	}
	if (svc->global_lock)
		rte_spinlock_lock(&svc->glock);
	page_done(s, g, TOK_GGEN(c->tok), rank, (int32_t)shard);
	if (svc->global_lock)
		rte_spinlock_unlock(&svc->glock);
}

static unsigned int
comps_drain(struct fault_slot *s)
{
	unsigned int n, i;

	/* The dequeue acquires what the completer's enqueue released. */
	n = rte_ring_dequeue_burst_elem(s->comp, s->comp_in, sizeof(*s->comp_in),
					s->svc->burst, NULL);
	if (n == 0)
		return 0;
	s->now = rte_rdtsc();
	for (i = 0; i < n; i++)
		comp_apply(s, &s->comp_in[i]);
	return n;
}

/* Enqueue staged forwards. @return true if some are still waiting. */
static bool
fwd_flush(struct fault_slot *s)
{
	struct usva_fault_service *svc = s->svc;
	struct fault_fwd *base;
	uint32_t d, n, k;
	bool left = false;

	for (d = 0; d < svc->nr_slots; d++) {
		n = s->fwd_n[d];
		if (n == 0)
			continue;
		base = &s->fwd_out[d * svc->burst];
		/* The enqueue releases the elements and, before them, the
		 * group records they name. */
		k = rte_ring_enqueue_burst_elem(svc->slots[d].dispatch, base,
						sizeof(*base), n, NULL);
		if (k < n) {
			memmove(base, base + k, (n - k) * sizeof(*base));
			left = true;
		}
		s->fwd_n[d] = n - k;
	}
	return left;
}

/* ---- one request ------------------------------------------------------------ */

/* The handler for a request, or NULL (counted). */
static struct usva_fault_handler *
req_handler_lookup(struct fault_slot *s, uint8_t iommu,
		   const struct usva_page_req *q, uint64_t key)
{
	struct usva_fault_handler *h;

	h = fault_handler_lookup(s->svc, iommu, q->dev_id, q->pasid);
	if (likely(h != NULL) &&
	    likely(h->pasid_gen == 0 ||
		   usva_pasid_generation(h->pasids, q->pasid) == h->pasid_gen)) {
		s->hc_iommu = iommu;
		s->hc_key = key;
		s->hc_h = h;
		s->sc_gran = UINT64_MAX;
		return h;
	}
	FSTAT_INC(&s->stats.st, no_handler);
	USVA_LOG_RATELIMITED(DEBUG, fault,
		"no handler for iommu %u dev %u pasid %u%s", iommu, q->dev_id,
		q->pasid, h != NULL ? " (PASID reused since register)" : "");
	return NULL;
}

/* The same, through the slot's handler cache: requests come in runs of one
 * (device, PASID). */
static inline struct usva_fault_handler *
req_handler(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q)
{
	uint64_t key;

	memcpy(&key, &q->dev_id, sizeof(key));	/* dev_id and pasid */
	if (likely(key == s->hc_key && iommu == s->hc_iommu))
		return s->hc_h;
	return req_handler_lookup(s, iommu, q, key);
}

/*
 * A group of one request (LAST, no group open for its key), on the slot
 * owning its shard (or under the global lock): the common case. Resolved
 * at once, it is answered from the request and needs no record. A record
 * of this slot's table is reserved first all the same, and its future
 * generation handed to the pager in the token: it is published only if
 * the pager goes asynchronous. No record free: INVALID at once, no pager
 * call. The built-in anon pager never goes asynchronous: it is called
 * directly, with the room check only.
 */
static __rte_always_inline void
req_solo(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	 struct usva_fault_handler *h, uint32_t shard)
{
	struct usva_fault_service *svc = s->svc;
	uint32_t gidx, rank;

	if (likely(h->pager->ops == &fault_anon_ops)) {
		/* Never asynchronous: no record to reserve, only the same
		 * room check (a record is always free while there is room:
		 * the table has twice max_groups records). */
		if (unlikely(!group_room(s))) {
			group_overflow(s, iommu, q, true);
			return;
		}
		rank = resolve_anon(s, h, q->addr, q->perm, shard);
		if (likely(rank == RANK_SUCCESS)) {
			answer_success(s, q, iommu, shard);
		} else {
			FSTAT_INC(&svc->shards[shard].st, requests);
			answer_req(s, q, iommu, rank, (int32_t)shard);
		}
		return;
	}
	gidx = group_free_slot(s, iommu, q);
	if (gidx == UINT32_MAX || !group_room(s)) {
		group_overflow(s, iommu, q, true);
		return;
	}
	rank = resolve(s, h, q->addr, q->perm, shard,
		       tok_make(svc->reg, svc->inst, s->idx, s->idx, shard, gidx,
				group_next_gen(s, gidx)));
	if (likely(rank != RES_PENDING))
		answer_req(s, q, iommu, rank, (int32_t)shard);
	else
		group_publish(s, gidx, iommu, q, h->gen, GS_PEND_ONE | GS_LAST);
}

/* req_solo() for a request polled here: the baseline mode takes its one
 * lock around all resolution, including the bookkeeping that follows it
 * (and the batched counts, whose shard counters it serialises). */
static __rte_always_inline void
req_solo_locked(struct fault_slot *s, uint8_t iommu,
		const struct usva_page_req *q, struct usva_fault_handler *h,
		uint32_t shard)
{
	if (likely(!s->svc->global_lock)) {
		req_solo(s, iommu, q, h, shard);
		return;
	}
	rte_spinlock_lock(&s->svc->glock);
	req_solo(s, iommu, q, h, shard);
	acc_flush(s);
	rte_spinlock_unlock(&s->svc->glock);
}

/* A solo request forwarded by another slot: rebuilt, then as req_solo()
 * (the handler is looked up again: it may have gone meanwhile). */
static void
fwd_solo(struct fault_slot *s, const struct fault_fwd *e)
{
	uint8_t iommu = (uint8_t)((e->addr >> FWD_IOMMU_SHIFT) & FWD_IOMMU_MASK);
	struct usva_fault_handler *h;
	struct usva_page_req q;

	q.addr = e->addr & FWD_ADDR_MASK;
	q.private_data[0] = e->solo.priv[0];
	q.private_data[1] = e->solo.priv[1];
	q.ts = e->ts;
	q.dev_id = e->dev_id;
	q.pasid = e->pasid_shard & FWD_PASID_MASK;
	q.grpid = e->solo.grpid;
	q.cookie = e->solo.cookie;
	q.perm = (uint16_t)(e->addr & FWD_PERM_MASK);
	q.flags = (uint16_t)((e->addr >> FWD_FLAG_SHIFT) & FWD_FLAG_MASK);
	q.reserved = 0;
	h = req_handler(s, iommu, &q);
	if (h == NULL)
		answer_req(s, &q, iommu, RANK_INVALID, -1);
	else
		req_solo(s, iommu, &q, h, e->pasid_shard >> FWD_PASID_BITS);
}

/* A forwarded request of a group in the poller's table. */
static void
fwd_grp(struct fault_slot *s, const struct fault_fwd *e)
{
	struct usva_fault_service *svc = s->svc;
	struct fault_group *g = &svc->slots[e->grp.pslot].groups[e->grp.gidx];
	uint8_t iommu = (uint8_t)((e->addr >> FWD_IOMMU_SHIFT) & FWD_IOMMU_MASK);
	uint32_t pasid = e->pasid_shard & FWD_PASID_MASK;
	uint32_t shard = e->pasid_shard >> FWD_PASID_BITS;
	struct usva_fault_handler *h;
	uint32_t rank;
	uint64_t st;

	/* Acquire: the poller published the record before enqueueing. */
	st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
	if (gs_phase(st) != GS_OPEN || gs_gen(st) != e->grp.ggen) {
		/* Answered meanwhile (unregister, timeout): nothing to do. */
		FSTAT_INC(&s->stats.st, stale_completions);
		return;
	}
	h = fault_handler_lookup(svc, iommu, e->dev_id, pasid);
	if (h == NULL || h->gen != e->grp.hgen) {
		/* Unregistered since it was polled: the group is being
		 * flushed; the update below finds it gone (stale) or makes
		 * it INVALID. */
		rank = RANK_INVALID;
	} else {
		rank = resolve(s, h, e->addr & FWD_ADDR_MASK,
			       (uint32_t)(e->addr & FWD_PERM_MASK), shard,
			       tok_make(svc->reg, svc->inst, e->grp.pslot, s->idx,
					shard, e->grp.gidx, e->grp.ggen));
		if (rank == RES_PENDING)
			return;
	}
	page_done(s, g, e->grp.ggen, rank, (int32_t)shard);
}

static unsigned int
dispatch_drain(struct fault_slot *s)
{
	const struct fault_fwd *e;
	unsigned int n, i;

	/* The dequeue acquires what the poller's enqueue released. */
	n = rte_ring_dequeue_burst_elem(s->dispatch, s->fwd_in,
					sizeof(*s->fwd_in), s->svc->burst, NULL);
	if (n == 0)
		return 0;
	s->now = rte_rdtsc();
	for (i = 0; i < n; i++) {
		e = &s->fwd_in[i];
		if (e->addr & FWD_SOLO)
			fwd_solo(s, e);
		else
			fwd_grp(s, e);
	}
	return n;
}

/* Stage @p q for the owner of @p shard: as a solo request when @p gidx is
 * UINT32_MAX, else as a page of group record (@p gidx, @p ggen). */
static void
fwd_stage(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	  uint32_t shard, uint32_t hgen, uint32_t gidx, uint32_t ggen)
{
	struct usva_fault_service *svc = s->svc;
	uint32_t owner = svc->owner[shard];
	struct fault_fwd *e = &s->fwd_out[owner * svc->burst + s->fwd_n[owner]++];

	e->addr = (q->addr & FWD_ADDR_MASK) | (q->perm & FWD_PERM_MASK) |
		  ((uint64_t)(q->flags & FWD_FLAG_MASK) << FWD_FLAG_SHIFT) |
		  ((uint64_t)iommu << FWD_IOMMU_SHIFT);
	e->ts = q->ts;
	e->dev_id = q->dev_id;
	e->pasid_shard = q->pasid | (shard << FWD_PASID_BITS);
	if (gidx == UINT32_MAX) {
		e->addr |= FWD_SOLO;
		e->solo.grpid = q->grpid;
		e->solo.cookie = q->cookie;
		e->solo.priv[0] = q->private_data[0];
		e->solo.priv[1] = q->private_data[1];
	} else {
		e->grp.hgen = hgen;
		e->grp.gidx = gidx;
		e->grp.ggen = ggen;
		e->grp.pslot = s->idx;
		e->grp.pad = 0;
	}
}

/*
 * A group whose handler is gone (unregistered, or re-registered since).
 * Complete (LAST seen): answer it INVALID, as unregister would have.
 * Still missing its LAST: drop it unanswered; the request in hand (maybe
 * its LAST) is then served as a new group, so the device's group still
 * gets exactly one response, at its LAST.
 */
static void
group_kill(struct fault_slot *s, struct fault_group *g)
{
	uint64_t st;

	/* Acquire: the record as published (claim_any retries on change). */
	if (!fault_group_claim_any(g, __atomic_load_n(&g->state, __ATOMIC_ACQUIRE),
				   false, &st))
		return;
	if (st & GS_LAST) {
		FSTAT_INC(&s->stats.st, unregister_flushed);
		group_answer(s, g, st, -1);
	} else {
		group_drop(s, g, st);
	}
}

/*
 * A request of a group with a record (@p g open, or a new one in the
 * reserved record @p gidx when @p g is NULL: then not a LAST), resolved
 * here: this slot owns the shard, or the global lock mode.
 */
static void
req_local(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	  struct usva_fault_handler *h, struct fault_group *g, uint32_t gidx,
	  uint32_t ggen, uint32_t shard, bool in_range)
{
	struct usva_fault_service *svc = s->svc;
	bool last = q->flags & USVA_PREQ_F_LAST;
	uint32_t rank;
	uint64_t st;
	int rc;

	if (g != NULL) {
		group_last_fields(g, q, last);
		/* Count the page in first: then only this slot, a timeout or
		 * unregister can close the group while it resolves. */
		rc = group_update(g, ggen, 1, RANK_SUCCESS, last, &st);
		if (rc == -2) {
			/* Pending count full: this page INVALID. */
			rc = group_update(g, ggen, 0, RANK_INVALID, last, &st);
			if (rc == 1)
				group_answer(s, g, st, (int32_t)shard);
			return;
		}
		/* rc == -1 cannot happen: the handler is live in this
		 * iteration (see group_kill), so nobody else claims it. */
	}
	if (!in_range) {
		FSTAT_INC(&s->stats.st, out_of_range);
		rank = RANK_INVALID;
	} else {
		rank = resolve(s, h, q->addr, q->perm, shard,
			       tok_make(svc->reg, svc->inst, s->idx, s->idx,
					shard, gidx, ggen));
	}
	if (g != NULL) {
		if (rank != RES_PENDING)
			page_done(s, g, ggen, rank, (int32_t)shard);
	} else {
		group_publish(s, gidx, iommu, q, h->gen,
			      rank == RES_PENDING ? GS_PEND_ONE :
			      (uint64_t)rank << GS_WORST_SHIFT);
	}
}

/* A request of a group with a record, for another slot's shard. */
static void
req_forward(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	    struct usva_fault_handler *h, struct fault_group *g, uint32_t gidx,
	    uint32_t ggen, uint32_t shard)
{
	bool last = q->flags & USVA_PREQ_F_LAST;
	uint64_t st;
	int rc;

	if (g == NULL) {
		ggen = group_publish(s, gidx, iommu, q, h->gen, GS_PEND_ONE);
	} else {
		group_last_fields(g, q, last);
		rc = group_update(g, ggen, 1, RANK_SUCCESS, last, &st);
		if (rc == -2) {
			rc = group_update(g, ggen, 0, RANK_INVALID, last, &st);
			if (rc == 1)
				group_answer(s, g, st, -1);
			return;
		}
	}
	fwd_stage(s, iommu, q, shard, h->gen, gidx, ggen);
}

/* The shard a request's page belongs to. */
static inline uint32_t
req_shard(struct fault_slot *s, const struct usva_page_req *q,
	  struct usva_fault_handler *h)
{
	/* From the page address: a 2 MiB page is one shard's, whatever
	 * shard_shift is. */
	return fault_shard_home(s->svc, handler_home(s, h), q->pasid,
				q->addr & h->page_mask);
}

/* Every request, given its handler (@p h, NULL: none). */
static void
req_general(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q,
	    struct usva_fault_handler *h)
{
	bool last = q->flags & USVA_PREQ_F_LAST;
	bool gl = s->svc->global_lock;
	struct fault_group *g = NULL;
	uint32_t gidx = UINT32_MAX, ggen = 0, shard;
	bool in_range;

	if (s->open != 0) {
		g = group_find(s, iommu, q, &gidx, &ggen);
		if (g != NULL && (h == NULL || g->hgen != h->gen)) {
			group_kill(s, g);
			g = NULL;
		}
	}
	if (g == NULL) {
		if (unlikely(s->doomed_n != 0) && doomed_take(s, iommu, q, last)) {
			if (last)
				answer_req(s, q, iommu, RANK_INVALID, -1);
			return;
		}
		if (h == NULL) {
			/* A non-LAST one is dropped: its group's LAST, with
			 * no handler either, is answered INVALID. */
			if (last)
				answer_req(s, q, iommu, RANK_INVALID, -1);
			return;
		}
	}
	in_range = q->addr - h->base < h->len;
	if (g == NULL && last) {
		/* A group of one request. */
		if (!in_range) {
			FSTAT_INC(&s->stats.st, out_of_range);
			answer_req(s, q, iommu, RANK_INVALID, -1);
			return;
		}
		shard = req_shard(s, q, h);
		if (!slot_owns(s, shard)) {
			fwd_stage(s, iommu, q, shard, 0, UINT32_MAX, 0);
			return;
		}
		req_solo_locked(s, iommu, q, h, shard);
		return;
	}
	if (g == NULL) {
		/* The first request of a longer group: it needs a record. */
		gidx = group_free_slot(s, iommu, q);
		if (gidx == UINT32_MAX || !group_room(s)) {
			group_overflow(s, iommu, q, false);
			return;
		}
		ggen = group_next_gen(s, gidx);
	}
	shard = req_shard(s, q, h);
	if (!in_range || slot_owns(s, shard)) {
		if (gl)
			rte_spinlock_lock(&s->svc->glock);
		req_local(s, iommu, q, h, g, gidx, ggen, shard, in_range);
		if (gl)
			rte_spinlock_unlock(&s->svc->glock);
	} else {
		req_forward(s, iommu, q, h, g, gidx, ggen, shard);
	}
}

static inline void
req_one(struct fault_slot *s, uint8_t iommu, const struct usva_page_req *q)
{
	struct usva_fault_handler *h = req_handler(s, iommu, q);
	uint64_t gran;
	uint32_t shard;

	/* The common case first: a group of one request (LAST, and no group
	 * open or doomed that it could belong to), with a handler, in
	 * range. */
	if (unlikely(h == NULL || !(q->flags & USVA_PREQ_F_LAST) ||
		     (s->open | s->doomed_n) != 0 ||
		     q->addr - h->base >= h->len)) {
		req_general(s, iommu, q, h);
		return;
	}
	/* Requests come in runs of one granule: its shard is cached. */
	gran = (q->addr & h->page_mask) >> s->svc->shard_shift;
	if (unlikely(gran != s->sc_gran)) {
		s->sc_shard = req_shard(s, q, h);
		s->sc_own = slot_owns(s, s->sc_shard);
		s->sc_gran = gran;
	}
	shard = s->sc_shard;
	if (likely(s->sc_own))
		req_solo_locked(s, iommu, q, h, shard);
	else
		fwd_stage(s, iommu, q, shard, 0, UINT32_MAX, 0);
}

static unsigned int
queues_poll(struct fault_slot *s)
{
	struct usva_fault_service *svc = s->svc;
	unsigned int total = 0;
	uint16_t n, i, q, id;

	for (q = 0; q < s->nr_queues; q++) {
		id = s->queues[q];
		n = usva_iommu_prq_poll(id, s->reqs, (uint16_t)svc->burst);
		if (n == 0)
			continue;
		s->now = rte_rdtsc();
		FSTAT_ADD(&s->stats.st, requests, n);
		/* (s->reqs was just written by the backend: in cache.) */
		for (i = 0; i < n; i++)
			req_one(s, (uint8_t)id, &s->reqs[i]);
		total += n;
		/* Staging holds one burst per owner: send it before the
		 * next queue, and stop polling while an owner is full. */
		if (fwd_flush(s))
			break;
	}
	return total;
}

/* ---- timeouts, clean-up, pagers, events ---------------------------------- */

/* Answer INVALID every OPEN group of this slot's table past its deadline
 * (a full pass, every timeout/16 while groups are open). */
static void
groups_timeout(struct fault_slot *s)
{
	struct fault_group *g;
	uint64_t st, cl;
	uint32_t i;

	for (i = 0; i <= s->gmask; i++) {
		g = &s->groups[i];
		/* Acquire: the record's fields as published. */
		st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
		if (gs_phase(st) == GS_DONE) {
			group_reclaim(s, g, st);
			continue;
		}
		if (gs_phase(st) != GS_OPEN || s->now < g->deadline)
			continue;
		if (!fault_group_claim_any(g, st, false, &cl))
			continue;
		FSTAT_INC(&s->stats.st, timeouts);
		USVA_LOG_RATELIMITED(NOTICE, fault,
			"group %u of dev %u pasid %u timed out (%u pages pending%s)",
			g->grpid, g->dev_id, g->pasid, gs_pending(cl),
			(cl & GS_LAST) ? "" : ", no LAST: dropped");
		/* Without its LAST the device has not finished the group
		 * (or the IOMMU answered it, its LAST lost to a full
		 * queue): nothing to answer, the record just goes. */
		if (cl & GS_LAST)
			group_answer(s, g, cl, -1);
		else
			group_drop(s, g, cl);
	}
}

/* A few records per iteration: reclaim DONE, turn tombstones that end a
 * probe chain back into EMPTY (walking down, so chains collapse). */
static void
groups_clean(struct fault_slot *s, uint32_t budget)
{
	struct fault_group *g;
	uint64_t st, next;
	uint32_t i;

	while (budget-- != 0) {
		i = s->scan_pos;
		s->scan_pos = (i - 1) & s->gmask;
		g = &s->groups[i];
		/* Acquire: as in group_find(). */
		st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
		if (gs_phase(st) == GS_DONE) {
			group_reclaim(s, g, st);
			st = gs_make(gs_gen(st), GS_FREE);
		}
		if (gs_phase(st) != GS_FREE)
			continue;
		/* Relaxed: only this slot makes a record EMPTY or leaves
		 * EMPTY, so what we read cannot change under us. */
		next = __atomic_load_n(&s->groups[(i + 1) & s->gmask].state,
				       __ATOMIC_RELAXED);
		if (gs_phase(next) == GS_EMPTY)
			/* Only this slot writes FREE/EMPTY records. */
			__atomic_store_n(&g->state, gs_make(gs_gen(st), GS_EMPTY),
					 __ATOMIC_RELAXED);
	}
}

static void
groups_maintain(struct fault_slot *s, bool idle)
{
	const struct usva_fault_service *svc = s->svc;
	uint32_t budget;

	if (!s->dirty)
		return;
	/* Deadlines are publish time + timeout; a full pass every
	 * timeout/16 (while groups are open) answers each at most that
	 * late, without scanning the table on every iteration. */
	if (s->open != 0 && s->now >= s->next_timeout_scan) {
		s->next_timeout_scan = s->now + svc->timeout_tsc / 16 + 1;
		groups_timeout(s);
	}
	budget = idle ? SCAN_IDLE : SCAN_BUSY;
	groups_clean(s, budget);
	/* Two clean passes over a table with nothing open leave it EMPTY:
	 * stop scanning until the next publish. */
	if (s->open != 0) {
		s->clean_scanned = 0;
	} else {
		s->clean_scanned += budget;
		if (s->clean_scanned >= 2 * (s->gmask + 1)) {
			s->dirty = false;
			s->clean_scanned = 0;
		}
	}
}

static void
pagers_flush(struct fault_slot *s)
{
	struct usva_fault_service *svc = s->svc;
	struct fault_flushers *fl;
	uint32_t i;

	/* Acquire: pairs with the release that published the list; it stays
	 * allocated until this slot reports a quiescent state. */
	fl = __atomic_load_n(&svc->flushers, __ATOMIC_ACQUIRE);
	if (fl == NULL || fl->n == 0)
		return;
	hc_void(s);
	if (svc->global_lock)
		rte_spinlock_lock(&svc->glock);
	for (i = 0; i < fl->n; i++)
		fl->p[i]->ops->flush(fl->p[i], s->idx);
	if (svc->global_lock)
		rte_spinlock_unlock(&svc->glock);
}

static void
events_deliver(struct fault_slot *s)
{
	struct usva_fault_service *svc = s->svc;
	struct usva_iommu_event ev[EVENTS_BURST];
	struct usva_iommu *iommu;
	usva_fault_event_cb_t cb;
	uint16_t q;
	int n, i;

	if (s->nr_queues == 0)
		return;
	/* Acquire: pairs with usva_fault_set_event_cb()'s release, so the
	 * argument stored before is visible. No callback: the events stay
	 * for the application's own reader. */
	cb = __atomic_load_n(&svc->event_cb, __ATOMIC_ACQUIRE);
	if (cb == NULL)
		return;
	if (!s->explicit_poll && s->now < s->next_event_tsc)
		return;
	s->next_event_tsc = s->now + svc->event_period_tsc;
	hc_void(s);
	for (q = 0; q < s->nr_queues; q++) {
		iommu = svc->iommus[s->queues[q]];
		do {
			n = usva_iommu_events_read(iommu, ev, EVENTS_BURST);
			for (i = 0; i < n; i++)
				cb(svc->event_arg, iommu, &ev[i]);
			if (n > 0)
				FSTAT_ADD(&s->stats.st, events, (uint64_t)n);
		} while (n == EVENTS_BURST);
	}
}

unsigned int
fault_slot_iteration(struct fault_slot *s)
{
	unsigned int work = 0;

	s->now = rte_rdtsc();
	s->full_reclaim_done = false;
	hc_void(s);	/* handlers seen in an earlier iteration may be gone */
	work += comps_drain(s);
	work += dispatch_drain(s);
	/* Backpressure: while forwards wait for a full owner, poll nothing
	 * new (the device's queue holds the rest). */
	if (!fwd_flush(s))
		work += queues_poll(s);
	pagers_flush(s);
	work += comps_drain(s);
	s->now = rte_rdtsc();
	groups_maintain(s, work == 0);
	events_deliver(s);
	if (s->resp_n != 0)
		fault_slot_flush(s, false);
	return work;
}

/* Arm every queue's page-request interrupt. @return true if the slot may
 * sleep: nothing arrived before arming. */
static bool
prq_arm_all(struct fault_slot *s)
{
	for (uint32_t q = 0; q < s->nr_queues; q++)
		if (usva_iommu_prq_arm(s->queues[q]) != 0)
			return false;
	return true;
}

/* Interrupt mode, after an idle iteration: spin a while, then sleep. With
 * a page-request interrupt on every queue (the emu PRQ has one, as VT-d
 * does), arm them and sleep in epoll until a request, an unrecoverable
 * event or a 1 ms tick (group timeouts, async completions) wakes the slot. Otherwise sleep
 * with an increasing back-off (10 us .. 1 ms): page requests are then
 * noticed at the next wake-up, up to 1 ms of added latency at low rates. */
void
fault_slot_idle(struct fault_slot *s)
{
	struct usva_fault_service *svc = s->svc;
	struct epoll_event ev[4];
	struct timespec ts;

	if (!svc->interrupt || ++s->idle < IDLE_SPINS) {
		rte_pause();
		return;
	}
	if (s->prq_irq && s->epfd >= 0) {
		if (!prq_arm_all(s))
			return;
		rte_rcu_qsbr_thread_offline(svc->rcu, s->idx);
		epoll_wait(s->epfd, ev, RTE_DIM(ev), 1);
		rte_rcu_qsbr_thread_online(svc->rcu, s->idx);
		return;
	}
	s->sleep_ns = s->sleep_ns == 0 ? SLEEP_MIN_NS :
		      RTE_MIN(s->sleep_ns * 2, (uint64_t)SLEEP_MAX_NS);
	/* Offline while asleep: unregister need not wait for us. */
	rte_rcu_qsbr_thread_offline(svc->rcu, s->idx);
	if (s->sleep_ns == SLEEP_MAX_NS && s->epfd >= 0) {
		epoll_wait(s->epfd, ev, RTE_DIM(ev), 1);
	} else {
		ts.tv_sec = 0;
		ts.tv_nsec = (long)s->sleep_ns;
		nanosleep(&ts, NULL);
	}
	rte_rcu_qsbr_thread_online(svc->rcu, s->idx);
}

void
fault_slot_busy(struct fault_slot *s)
{
	s->idle = 0;
	s->sleep_ns = 0;
}
