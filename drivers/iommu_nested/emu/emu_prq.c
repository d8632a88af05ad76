/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: PCIe PRI. Page requests, the page-request queue (PRQ),
 * outstanding page request groups, and page group responses.
 *
 * Groups. Each device has a fixed table of pri_capacity group slots,
 * allocated at dev_open (a group holds at least one outstanding request,
 * so the device's capacity bounds its groups), chained in buckets hashed
 * by (PASID, group index) -- at least as many buckets as slots, so a
 * lookup meets about one group -- under the device's grp_lock: the hot
 * paths never allocate and never take an instance-wide lock.
 *
 * Queue. One bounded rte_ring per instance: multi-producer (devices),
 * single-consumer (prq_poll, which reads the elements in place). Each
 * element carries its group's slot and the slot's sequence number when
 * queued; prq_poll drops elements whose group was answered in the meantime
 * (detach, FAILURE, overflow), so software never sees a request it may not
 * answer.
 *
 * Responses. page_respond checks every response against the outstanding
 * group it names (state, cookie of the group's last request, PASID
 * generation), taking the device's grp_lock once per run of responses to
 * the same device.
 *
 * Credits. A request counts against the device's pri_capacity from
 * page_request until the device takes its group's response from its
 * response ring (usva_emu_dev_responses), as a PCIe function's outstanding
 * page request allocation. The response ring therefore never holds more
 * than pri_capacity responses and is sized so. It is a single-producer
 * ring (every producer holds grp_lock), single-consumer (the device).
 *
 * Every group gets exactly one response: from software (page_respond),
 * from the IOMMU on PRQ overflow (SUCCESS, VT-d's auto-response), or
 * INVALID when the PASID is detached or the device's PRI is disabled by a
 * FAILURE response.
 */
#include <errno.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>

#include "emu_internal.h"

#define GRP_NONE	UINT32_MAX
#define PREQ_DESC_FLAGS	(USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA)

/* ---- per-device set-up ------------------------------------------------------ */

static uint32_t
grp_bucket(const struct emu_dev *ed, uint32_t pasid, uint32_t grpid)
{
	/* (PASID, index) is a unique 29-bit key; Fibonacci hashing spreads
	 * consecutive keys over consecutive buckets. */
	uint64_t k = ((uint64_t)pasid << 9) | grpid;

	RTE_BUILD_BUG_ON(EMU_GRPID_MAX != 1u << 9);
	return (uint32_t)((k * UINT64_C(0x9e3779b97f4a7c15)) >> ed->grp_hshift);
}

int
emu_prq_dev_init(struct emu_dev *ed)
{
	uint32_t buckets, slots;
	size_t sz;

	ed->free_head = GRP_NONE;
	/* Stalled transactions are groups of one (emu_stall.c). */
	if (!(ed->flags & (USVA_DEV_F_PRI | USVA_DEV_F_STALL)))
		return 0;
	buckets = rte_align32pow2(RTE_MAX(ed->pri_capacity, 16u));
	ed->grp_hshift = 64 - rte_bsf32(buckets);
	ed->grp_head = usva_zmalloc(sizeof(*ed->grp_head) * buckets);
	ed->groups = usva_zmalloc_aligned(sizeof(*ed->groups) * ed->pri_capacity,
					  RTE_CACHE_LINE_SIZE);
	ed->grp_seq = usva_zmalloc_aligned(sizeof(*ed->grp_seq) * ed->pri_capacity,
					   RTE_CACHE_LINE_SIZE);
	slots = rte_align32pow2(ed->pri_capacity);
	sz = sizeof(*ed->resp) + sizeof(ed->resp->e[0]) * slots;
	ed->resp = usva_zmalloc_aligned(sz, RTE_CACHE_LINE_SIZE);
	if (ed->grp_head == NULL || ed->groups == NULL || ed->grp_seq == NULL ||
	    ed->resp == NULL) {
		emu_prq_dev_fini(ed);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < buckets; i++)
		ed->grp_head[i] = GRP_NONE;
	for (uint32_t i = ed->pri_capacity; i-- > 0;) {
		ed->groups[i].next = ed->free_head;
		ed->free_head = i;
	}
	ed->resp->mask = slots - 1;
	ed->resp->cap = ed->pri_capacity;
	ed->pri_enabled = 1;
	return 0;
}

void
emu_prq_dev_fini(struct emu_dev *ed)
{
	usva_free(ed->resp);
	ed->resp = NULL;
	usva_free(ed->groups);
	ed->groups = NULL;
	usva_free(ed->grp_seq);
	ed->grp_seq = NULL;
	usva_free(ed->grp_head);
	ed->grp_head = NULL;
}

/* ---- groups (grp_lock held) ---------------------------------------------------- */

/* The group of (PASID, index), or NULL; *@p link: the index that points at
 * it (for an unlink without a second walk). */
static inline struct emu_group *
grp_find_link(struct emu_dev *ed, uint32_t pasid, uint32_t grpid,
	      uint32_t **link)
{
	uint32_t *p = &ed->grp_head[grp_bucket(ed, pasid, grpid)];
	struct emu_group *g;

	for (; *p != GRP_NONE; p = &g->next) {
		g = &ed->groups[*p];
		if (g->pasid == pasid && g->grpid == grpid) {
			*link = p;
			return g;
		}
	}
	return NULL;
}

static inline struct emu_group *
grp_find(struct emu_dev *ed, uint32_t pasid, uint32_t grpid)
{
	uint32_t *link;

	return grp_find_link(ed, pasid, grpid, &link);
}

static struct emu_group *
grp_alloc(struct emu_dev *ed, struct emu_pasid_ent *ent, uint32_t pasid,
	  uint32_t grpid, uint32_t gen)
{
	uint32_t i = ed->free_head, b;
	struct emu_group *g;

	if (i == GRP_NONE)
		return NULL;
	g = &ed->groups[i];
	ed->free_head = g->next;
	g->state = EMU_GRP_OPEN;
	g->pasid = pasid;
	g->grpid = grpid;
	g->pasid_gen = gen;
	g->ent = ent;
	g->nreq = 0;
	g->last_cookie = 0;
	g->flags = 0;
	g->priv[0] = g->priv[1] = 0;
	b = grp_bucket(ed, pasid, grpid);
	g->next = ed->grp_head[b];
	ed->grp_head[b] = i;
	/* Relaxed: read without the lock only as a count. */
	__atomic_store_n(&ed->ngroups, ed->ngroups + 1, __ATOMIC_RELAXED);
	return g;
}

/* Free @p g, which @p link points at in its bucket chain. */
static inline void
grp_free_link(struct emu_dev *ed, struct emu_group *g, uint32_t *link)
{
	uint32_t i = *link;

	*link = g->next;
	g->state = EMU_GRP_FREE;
	/* Release: prq_poll compares queued elements' seq with this; a
	 * moved seq means the group they belonged to is gone. */
	__atomic_store_n(&ed->grp_seq[i], ed->grp_seq[i] + 1, __ATOMIC_RELEASE);
	g->next = ed->free_head;
	ed->free_head = i;
	__atomic_store_n(&ed->ngroups, ed->ngroups - 1, __ATOMIC_RELAXED);
}

/* Send the group's one response to the device, and free the group (which
 * @p link points at). */
static inline void
grp_answer_link(struct emu_dev *ed, struct emu_group *g, uint32_t *link,
		uint16_t code)
{
	struct emu_resp_ring *rr = ed->resp;
	uint32_t prod = rr->prod;
	struct emu_resp_elem *r;

	/* Acquire: the device is done reading the slots it gave back. */
	if (unlikely(prod - __atomic_load_n(&rr->cons, __ATOMIC_ACQUIRE) >=
		     rr->cap)) {
		/* Cannot happen: responses held <= credits <= capacity. Give
		 * the credits back so the device is not wedged. */
		EMU_LOG_RL(ERR, "dev %u: response ring full (bug)", ed->id);
		__atomic_fetch_sub(&ed->outstanding, g->nreq, __ATOMIC_RELAXED);
		grp_free_link(ed, g, link);
		return;
	}
	r = &rr->e[prod & rr->mask];
	r->r.pasid = g->pasid;
	r->r.grpid = g->grpid;
	r->r.code = code;
	/* A stall without a PASID (a PASID table's no-substream DMA) is
	 * the only group with PASID 0. */
	r->r.flags = (g->pasid != 0 ? USVA_PREQ_F_PASID : 0) |
		     (g->flags & (USVA_PREQ_F_PRIV_DATA | USVA_PREQ_F_STALL));
	r->r.reserved = 0;
	/* Zero unless a request carried private data (grp_alloc). */
	r->r.private_data[0] = g->priv[0];
	r->r.private_data[1] = g->priv[1];
	r->nreq = g->nreq;
	r->pad = 0;
	/* Release: the element before the index the device acquires. */
	__atomic_store_n(&rr->prod, prod + 1, __ATOMIC_RELEASE);
	grp_free_link(ed, g, link);
}

/* The same, for a group found without its link. */
static void
grp_answer(struct emu_dev *ed, struct emu_group *g, uint16_t code)
{
	uint32_t i = (uint32_t)(g - ed->groups);
	uint32_t *p = &ed->grp_head[grp_bucket(ed, g->pasid, g->grpid)];

	while (*p != i)
		p = &ed->groups[*p].next;
	grp_answer_link(ed, g, p, code);
}

/* Answer every group of the device (any PASID if @all) INVALID. */
static void
grp_answer_all(struct emu_dev *ed, uint32_t pasid, bool all)
{
	for (uint32_t i = 0; i < ed->pri_capacity; i++) {
		struct emu_group *g = &ed->groups[i];

		if (g->state != EMU_GRP_FREE && (all || g->pasid == pasid))
			grp_answer(ed, g, USVA_PAGE_RESP_INVALID);
	}
}

void
emu_prq_detach(struct emu_dev *ed, uint32_t pasid)
{
	if (ed->groups == NULL)
		return;
	rte_spinlock_lock(&ed->grp_lock);
	grp_answer_all(ed, pasid, false);
	rte_spinlock_unlock(&ed->grp_lock);
}

void
emu_prq_detach_all(struct emu_dev *ed)
{
	if (ed->groups == NULL)
		return;
	rte_spinlock_lock(&ed->grp_lock);
	grp_answer_all(ed, 0, true);
	rte_spinlock_unlock(&ed->grp_lock);
}

/* ---- groups for the stall model (grp_lock held) ------------------------------ */

struct emu_group *
emu_grp_alloc(struct emu_dev *ed, struct emu_pasid_ent *ent, uint32_t pasid,
	      uint32_t grpid, uint32_t gen)
{
	return grp_alloc(ed, ent, pasid, grpid, gen);
}

struct emu_group *
emu_grp_find_link(struct emu_dev *ed, uint32_t pasid, uint32_t grpid,
		  uint32_t **link)
{
	return grp_find_link(ed, pasid, grpid, link);
}

void
emu_grp_answer_link(struct emu_dev *ed, struct emu_group *g, uint32_t *link,
		    uint16_t code)
{
	grp_answer_link(ed, g, link, code);
}

void
emu_grp_drop(struct emu_dev *ed, struct emu_group *g)
{
	uint32_t i = (uint32_t)(g - ed->groups);
	uint32_t *p = &ed->grp_head[grp_bucket(ed, g->pasid, g->grpid)];

	while (*p != i)
		p = &ed->groups[*p].next;
	grp_free_link(ed, g, p);
}

/* ---- page requests (device side) -------------------------------------------------- */

/* At most one PRQ_OVERFLOW event per millisecond per instance. */
void
emu_prq_overflow_event(struct emu *e, struct emu_dev *ed, uint32_t pasid,
		       uint32_t perm, uint64_t addr, bool stall)
{
	uint64_t now = rte_rdtsc();
	uint64_t last = __atomic_load_n(&e->prq_ovf_event_tsc, __ATOMIC_RELAXED);

	if (last != 0 && now - last < rte_get_tsc_hz() / 1000)
		return;
	/* Relaxed: only decides which overflow reports. */
	if (!__atomic_compare_exchange_n(&e->prq_ovf_event_tsc, &last, now,
					 false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	emu_event(e, USVA_EVENT_PRQ_OVERFLOW, ed->id, pasid, perm, addr);
	if (stall)
		EMU_LOG_RL(WARNING, "dev %u: stall not recorded (PRQ or stall "
			   "capacity full): transaction terminated", ed->id);
	else
		EMU_LOG_RL(WARNING, "PRQ full (%u entries): page requests "
			   "lost", e->p.prq_depth);
}

/* The entry the groups of (ed, pasid) hang on: the PASID's, or the one
 * standing for every PASID of a whole PASID table; NULL: neither. */
static struct emu_pasid_ent *
page_request_ent(struct emu_dev *ed, uint32_t pasid)
{
	if (!emu_cdtab_attached(ed))
		return emu_pasid_ent(ed, pasid);
	return pasid >> __atomic_load_n(&ed->cdt_bits, __ATOMIC_RELAXED) ?
	       NULL : &ed->cdt_ent;
}

static int
page_request_check(struct emu_dev *ed, const struct usva_emu_prq_desc *d)
{
	if (!(ed->flags & USVA_DEV_F_PRI))
		return -EPERM;
	if (d->grpid >= EMU_GRPID_MAX || (d->flags & ~PREQ_DESC_FLAGS) ||
	    d->pasid == 0 || d->pasid >> ed->pasid_width)
		return -EINVAL;
	return 0;
}

int
usva_emu_page_request(struct usva_iommu_dev *dev,
		      const struct usva_emu_prq_desc *d)
{
	struct emu_dev *ed = emu_dev_get(dev);
	struct emu_pasid_ent *ent;
	struct emu_prq_elem el;
	struct emu_group *g;
	struct emu *e;
	bool last;
	int rc;

	if (ed == NULL)
		return -ENODEV;
	if (d == NULL)
		return -EINVAL;
	rc = page_request_check(ed, d);
	if (rc)
		return rc;
	e = ed->emu;
	ent = page_request_ent(ed, d->pasid);
	if (ent == NULL)
		return -EINVAL;

	rte_spinlock_lock(&ed->grp_lock);
	/* PRI state and attachment are checked under the lock that FAILURE
	 * and detach take to answer groups: no group slips past them. */
	if (!__atomic_load_n(&ed->pri_enabled, __ATOMIC_ACQUIRE)) {
		rc = -EPERM;
		goto unlock;
	}
	/* Acquire: pairs with attach's release; gen is read after dom. */
	if (__atomic_load_n(&ent->dom, __ATOMIC_ACQUIRE) == NULL) {
		rc = -EINVAL;
		goto unlock;
	}
	/* Relaxed: a stale (higher) count only refuses a request early;
	 * increments all happen under this lock. */
	if (__atomic_load_n(&ed->outstanding, __ATOMIC_RELAXED) >=
	    ed->pri_capacity) {
		rc = -EBUSY;
		goto unlock;
	}
	g = grp_find(ed, d->pasid, d->grpid);
	if (g != NULL && g->state != EMU_GRP_OPEN) {
		/* PRI forbids reusing an index still awaiting its response. */
		EMU_LOG_RL(DEBUG, "dev %u PASID %u: group %u reused while "
			   "outstanding", ed->id, d->pasid, d->grpid);
		rc = -EINVAL;
		goto unlock;
	}
	if (g == NULL) {
		/* Relaxed: ordered after the acquire of ent->dom above,
		 * and attach writes gen before that release. */
		g = grp_alloc(ed, ent, d->pasid, d->grpid,
			      __atomic_load_n(&ent->gen, __ATOMIC_RELAXED));
		if (g == NULL) {	/* groups <= credits: unreachable */
			rc = -EBUSY;
			goto unlock;
		}
	}
	g->nreq++;
	/* Relaxed: a count; the consumer's decrement needs no ordering
	 * with the group table (grp_lock orders that). */
	__atomic_fetch_add(&ed->outstanding, 1, __ATOMIC_RELAXED);
	last = (d->flags & USVA_PREQ_F_LAST) != 0;
	if (d->flags & USVA_PREQ_F_PRIV_DATA) {
		g->priv[0] = d->private_data[0];
		g->priv[1] = d->private_data[1];
		g->flags |= USVA_PREQ_F_PRIV_DATA;
	}
	memset(&el, 0, sizeof(el));
	el.req.addr = d->addr & ~(EMU_PAGE_SIZE - 1);
	if (d->flags & USVA_PREQ_F_PRIV_DATA) {
		el.req.private_data[0] = d->private_data[0];
		el.req.private_data[1] = d->private_data[1];
	}
	el.req.ts = rte_rdtsc();
	el.req.dev_id = ed->id;
	el.req.pasid = d->pasid;
	el.req.grpid = d->grpid;
	el.req.cookie = ++ed->next_cookie;
	el.req.perm = d->perm & EMU_ACCESS_MASK;
	el.req.flags = USVA_PREQ_F_PASID | (d->flags & PREQ_DESC_FLAGS);
	el.gslot = (uint32_t)(g - ed->groups);
	el.gseq = ed->grp_seq[el.gslot];
	if (last) {
		g->state = EMU_GRP_COMPLETE;
		g->last_cookie = el.req.cookie;
	}
	if (rte_ring_mp_enqueue_elem(e->prq, &el, sizeof(el)) == 0) {
		rte_spinlock_unlock(&ed->grp_lock);
		emu_stat_inc(e, EMU_ST_PAGE_REQUESTS);
		emu_prq_signal(e);
		return 0;
	}
	/* Queue full: the request is lost. A group's last request is
	 * answered SUCCESS by the IOMMU (VT-d), so the device retries and
	 * faults again; its earlier requests still queued are dropped. */
	if (last)
		grp_answer(ed, g, USVA_PAGE_RESP_SUCCESS);
	rte_spinlock_unlock(&ed->grp_lock);
	emu_stat_inc(e, EMU_ST_PRQ_OVERFLOW);
	emu_prq_overflow_event(e, ed, d->pasid, d->perm, d->addr, false);
	return 1;

unlock:
	rte_spinlock_unlock(&ed->grp_lock);
	return rc;
}

int
usva_emu_dev_responses(struct usva_iommu_dev *dev,
		       struct usva_emu_prg_resp *out, unsigned int n)
{
	struct emu_dev *ed = emu_dev_get(dev);
	struct emu_resp_ring *rr;
	uint32_t cons, avail, credits = 0;
	unsigned int k;

	if (ed == NULL)
		return -ENODEV;
	rr = ed->resp;
	if (rr == NULL)
		return 0;
	cons = rr->cons;	/* ours: one consumer per device */
	/* Acquire: pairs with the producer's release of prod. */
	avail = __atomic_load_n(&rr->prod, __ATOMIC_ACQUIRE) - cons;
	k = RTE_MIN(n, avail);
	for (unsigned int i = 0; i < k; i++) {
		const struct emu_resp_elem *e = &rr->e[(cons + i) & rr->mask];

		out[i] = e->r;
		credits += e->nreq;
	}
	/* Release: our reads of the slots before the producer reuses them. */
	__atomic_store_n(&rr->cons, cons + k, __ATOMIC_RELEASE);
	/* The device has its responses: its requests are no longer
	 * outstanding. Relaxed: a count, read under grp_lock. */
	if (credits != 0)
		__atomic_fetch_sub(&ed->outstanding, credits, __ATOMIC_RELAXED);
	return (int)k;
}

/* ---- PRQ poll (fast path) ---------------------------------------------------------- */

/* Still worth delivering: its group was not answered since it was queued.
 * Inside a reader section. */
static inline bool
prq_elem_live(struct emu *e, const struct emu_prq_elem *el,
	      struct emu_dev **cache)
{
	struct emu_dev *ed = *cache;

	if (unlikely(ed == NULL || ed->id != el->req.dev_id)) {
		ed = emu_devtab_find(e, el->req.dev_id);
		*cache = ed;
		if (ed == NULL)
			return false;
	}
	if (unlikely(ed->groups == NULL || el->gslot >= ed->pri_capacity))
		return false;
	/* Acquire: pairs with grp_free_link()'s release. A group answered just
	 * after this check makes software's response stale: dropped. */
	return __atomic_load_n(&ed->grp_seq[el->gslot], __ATOMIC_ACQUIRE) ==
	       el->gseq;
}

static inline uint16_t
prq_take(struct emu *e, const struct emu_prq_elem *el, unsigned int k,
	 struct usva_page_req *reqs, struct emu_dev **cache)
{
	uint16_t got = 0;

	for (unsigned int i = 0; i < k; i++)
		if (likely(prq_elem_live(e, &el[i], cache)))
			reqs[got++] = el[i].req;
	return got;
}

uint16_t
emu_prq_poll(void *ctx, struct usva_page_req *reqs, uint16_t n)
{
	struct emu *e = ctx;
	struct rte_ring_zc_data zcd;
	struct emu_dev *cache = NULL;
	unsigned int k, want;
	uint16_t got = 0;

	while (got < n) {
		/* In place: the elements stay in the ring until _finish. */
		want = (unsigned int)(n - got);
		k = rte_ring_dequeue_zc_burst_elem_start(e->prq,
				sizeof(struct emu_prq_elem), want, &zcd, NULL);
		if (k == 0)
			break;
		/* Devices are looked up (and may be closing) only when
		 * there is something to deliver: an idle poll costs just
		 * the ring check. */
		emu_rcu_enter(e);
		got += prq_take(e, zcd.ptr1, zcd.n1, reqs + got, &cache);
		if (k > zcd.n1)
			got += prq_take(e, zcd.ptr2, k - zcd.n1, reqs + got,
					&cache);
		emu_rcu_exit(e);
		cache = NULL;
		rte_ring_dequeue_zc_elem_finish(e->prq, k);
		if (k < want)
			break;
	}
	return got;
}

/* ---- page responses (fast path) -------------------------------------------------------- */

static void
respond_drop(struct emu *e, const struct usva_page_resp *r, const char *why)
{
	emu_stat_inc(e, EMU_ST_RESPONSES_DROPPED);
	EMU_LOG_RL(WARNING, "page response dev %u PASID %u group %u cookie %u "
		   "code %u dropped: %s", r->dev_id, r->pasid, r->grpid,
		   r->cookie, r->code, why);
	/* The event's address field carries the group index. */
	emu_event(e, USVA_EVENT_BAD_RESPONSE, r->dev_id, r->pasid, 0, r->grpid);
}

/*
 * Check @p r against the outstanding groups of @p ed and answer its group.
 * grp_lock held. @return NULL, or why it is dropped.
 */
static inline const char *
respond_one(struct emu_dev *ed, const struct usva_page_resp *r)
{
	struct emu_group *g;
	uint32_t *link;

	/* A stall device's responses are resumes (emu_stall.c). */
	if (unlikely(ed->flags & USVA_DEV_F_STALL))
		return emu_stall_resume(ed, r);
	if (unlikely(r->flags & USVA_PREQ_F_STALL))
		return "stall resume for a device that does not stall";
	if (unlikely(r->grpid >= EMU_GRPID_MAX))
		return "group index out of range";
	g = grp_find_link(ed, r->pasid, r->grpid, &link);
	if (unlikely(g == NULL || g->state != EMU_GRP_COMPLETE))
		return "no outstanding group";
	if (unlikely(g->last_cookie != r->cookie))
		return "cookie of another request";
	/* Relaxed: gen only moves under dev->lock on attach; a group of an
	 * earlier life was answered by detach before that. */
	if (unlikely(__atomic_load_n(&g->ent->gen, __ATOMIC_RELAXED) !=
		     g->pasid_gen))
		/* Detach answers its groups, so only a bug gets here. */
		return "group of an earlier PASID life";
	grp_answer_link(ed, g, link, r->code);
	if (unlikely(r->code == USVA_PAGE_RESP_FAILURE)) {
		/* PCIe: the function's PRI is disabled and its outstanding
		 * requests discarded. Discarded groups are answered INVALID
		 * so that each still gets exactly one response. Release:
		 * pairs with the acquire in usva_emu_page_request(). */
		__atomic_store_n(&ed->pri_enabled, 0, __ATOMIC_RELEASE);
		grp_answer_all(ed, 0, true);
	}
	return NULL;
}

uint16_t
emu_page_respond(void *ctx, const struct usva_page_resp *resp, uint16_t n)
{
	struct emu *e = ctx;
	struct emu_dev *ed = NULL;	/* device of the run; locked if set */
	const struct usva_page_resp *r;
	const char *why;
	uint16_t ok = 0;

	emu_rcu_enter(e);
	for (uint16_t i = 0; i < n; i++) {
		r = &resp[i];
		why = NULL;
		if (unlikely(r->code != USVA_PAGE_RESP_SUCCESS &&
			     r->code != USVA_PAGE_RESP_INVALID &&
			     r->code != USVA_PAGE_RESP_FAILURE)) {
			why = "unknown response code";
		} else if (ed == NULL || ed->id != r->dev_id) {
			/* A run of responses to one device takes its group
			 * lock once. */
			if (ed != NULL)
				rte_spinlock_unlock(&ed->grp_lock);
			ed = emu_devtab_find(e, r->dev_id);
			if (ed == NULL || ed->groups == NULL) {
				ed = NULL;
				why = "no such device with PRI";
			} else {
				rte_spinlock_lock(&ed->grp_lock);
			}
		}
		if (why == NULL)
			why = respond_one(ed, r);
		if (likely(why == NULL)) {
			ok++;
			continue;
		}
		/* Rare: report without holding the device's lock. */
		if (ed != NULL) {
			rte_spinlock_unlock(&ed->grp_lock);
			ed = NULL;
		}
		respond_drop(e, r, why);
	}
	if (ed != NULL)
		rte_spinlock_unlock(&ed->grp_lock);
	emu_rcu_exit(e);
	if (ok)
		emu_stat_add(e, EMU_ST_RESPONSES, ok);
	return n;
}

/* ---- page-request interrupt ----------------------------------------------------- */

/*
 * The poller arms, then looks at the queue; a device enqueues, then looks
 * at the arm flag. The full fences on both sides (Dekker) make sure one of
 * them sees the other: either the poller finds the request and does not
 * sleep, or the device finds the flag and writes the eventfd. The write is
 * the model's interrupt: one syscall per wake-up, none while the poller
 * is busy (not armed).
 */
void
emu_prq_signal(struct emu *e)
{
	uint64_t one = 1;
	ssize_t w;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->prq_armed, __ATOMIC_RELAXED) == 0 ||
	    __atomic_exchange_n(&e->prq_armed, 0, __ATOMIC_ACQ_REL) == 0)
		return;
	w = write(e->prq_fd, &one, sizeof(one));
	RTE_SET_USED(w);	/* EAGAIN: the counter is already non-zero */
	emu_stat_inc(e, EMU_ST_PRQ_IRQS);
}

int
emu_prq_arm(void *ctx)
{
	struct emu *e = ctx;
	uint64_t v;
	ssize_t r;

	/* Consume an old wake-up so the next one is a fresh edge. */
	r = read(e->prq_fd, &v, sizeof(v));
	RTE_SET_USED(r);
	__atomic_store_n(&e->prq_armed, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (rte_ring_count(e->prq) == 0)
		return 0;
	__atomic_store_n(&e->prq_armed, 0, __ATOMIC_RELAXED);
	return 1;
}

int
emu_prq_fd(struct usva_iommu *iommu)
{
	return emu_of(iommu)->prq_fd;
}
