/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: PCIe PRI. Page requests, the page-request queue (PRQ),
 * outstanding page request groups, and page group responses.
 *
 * Groups. Each device has a fixed table of pri_capacity group slots,
 * allocated at dev_open (a group holds at least one outstanding request,
 * so the device's capacity bounds its groups), chained by group index for
 * lookup by (PASID, grpid), under the device's grp_lock: the hot paths
 * never allocate and never take an instance-wide lock.
 *
 * Queue. One bounded rte_ring per instance: multi-producer (devices),
 * single-consumer (prq_poll). Each element carries its group's slot and the
 * slot's sequence number when queued; prq_poll drops elements whose group
 * was answered in the meantime (detach, FAILURE, overflow), so software
 * never sees a request it may not answer.
 *
 * Credits. A request counts against the device's pri_capacity from
 * page_request until the device takes its group's response from its
 * response ring (usva_emu_dev_responses), as a PCIe function's outstanding
 * page request allocation. The response ring therefore never holds more
 * than pri_capacity responses and is sized so.
 *
 * Every group gets exactly one response: from software (page_respond),
 * from the IOMMU on PRQ overflow (SUCCESS, VT-d's auto-response), or
 * INVALID when the PASID is detached or the device's PRI is disabled by a
 * FAILURE response.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>

#include "emu_internal.h"

#define GRP_NONE	UINT32_MAX
#define PREQ_DESC_FLAGS	(USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA)

/* ---- per-device set-up ------------------------------------------------------ */

int
emu_prq_dev_init(struct emu_dev *ed)
{
	char name[RTE_RING_NAMESIZE];

	for (uint32_t i = 0; i < EMU_GRPID_MAX; i++)
		ed->grp_head[i] = GRP_NONE;
	ed->free_head = GRP_NONE;
	if (!(ed->flags & USVA_DEV_F_PRI))
		return 0;
	ed->groups = usva_zmalloc(sizeof(*ed->groups) * ed->pri_capacity);
	if (ed->groups == NULL)
		return -ENOMEM;
	for (uint32_t i = ed->pri_capacity; i-- > 0;) {
		ed->groups[i].next = ed->free_head;
		ed->free_head = i;
	}
	snprintf(name, sizeof(name), "usva_emu%u_rsp%u", ed->emu->iommu->id,
		 ed->id);
	ed->resp = emu_ring_create(name, sizeof(struct emu_resp_elem),
				   ed->pri_capacity, RING_F_SC_DEQ);
	if (ed->resp == NULL) {
		usva_free(ed->groups);
		ed->groups = NULL;
		return -ENOMEM;
	}
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
}

/* ---- groups (grp_lock held) ---------------------------------------------------- */

static struct emu_group *
grp_find(struct emu_dev *ed, uint32_t pasid, uint32_t grpid)
{
	for (uint32_t i = ed->grp_head[grpid]; i != GRP_NONE;
	     i = ed->groups[i].next)
		if (ed->groups[i].pasid == pasid)
			return &ed->groups[i];
	return NULL;
}

static struct emu_group *
grp_alloc(struct emu_dev *ed, uint32_t pasid, uint32_t grpid, uint32_t gen)
{
	uint32_t i = ed->free_head;
	struct emu_group *g;

	if (i == GRP_NONE)
		return NULL;
	g = &ed->groups[i];
	ed->free_head = g->next;
	g->state = EMU_GRP_OPEN;
	g->pasid = pasid;
	g->grpid = grpid;
	g->pasid_gen = gen;
	g->nreq = 0;
	g->last_cookie = 0;
	g->flags = 0;
	g->priv[0] = g->priv[1] = 0;
	g->next = ed->grp_head[grpid];
	ed->grp_head[grpid] = i;
	/* Relaxed: read without the lock only as a count. */
	__atomic_store_n(&ed->ngroups, ed->ngroups + 1, __ATOMIC_RELAXED);
	return g;
}

static void
grp_free(struct emu_dev *ed, struct emu_group *g)
{
	uint32_t i = (uint32_t)(g - ed->groups);
	uint32_t *p = &ed->grp_head[g->grpid];

	while (*p != i)
		p = &ed->groups[*p].next;
	*p = g->next;
	g->state = EMU_GRP_FREE;
	/* Release: prq_poll compares queued elements' seq with this; a
	 * moved seq means the group they belonged to is gone. */
	__atomic_store_n(&g->seq, g->seq + 1, __ATOMIC_RELEASE);
	g->next = ed->free_head;
	ed->free_head = i;
	__atomic_store_n(&ed->ngroups, ed->ngroups - 1, __ATOMIC_RELAXED);
}

/* Send the group's one response to the device, and free the group. */
static void
grp_answer(struct emu_dev *ed, struct emu_group *g, uint16_t code)
{
	struct emu_resp_elem r = {
		.r = {
			.pasid = g->pasid,
			.grpid = g->grpid,
			.code = code,
			.flags = USVA_PREQ_F_PASID |
				 (g->flags & USVA_PREQ_F_PRIV_DATA),
		},
		.nreq = g->nreq,
	};

	if (g->flags & USVA_PREQ_F_PRIV_DATA) {
		r.r.private_data[0] = g->priv[0];
		r.r.private_data[1] = g->priv[1];
	}
	if (rte_ring_mp_enqueue_elem(ed->resp, &r, sizeof(r)) != 0) {
		/* Cannot happen: responses held <= credits <= capacity. Give
		 * the credits back so the device is not wedged. */
		EMU_LOG_RL(ERR, "dev %u: response ring full (bug)", ed->id);
		__atomic_fetch_sub(&ed->outstanding, g->nreq, __ATOMIC_RELAXED);
	}
	grp_free(ed, g);
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

/* ---- page requests (device side) -------------------------------------------------- */

/* At most one PRQ_OVERFLOW event per millisecond per instance. */
static void
prq_overflow_event(struct emu *e, struct emu_dev *ed,
		   const struct usva_emu_prq_desc *d)
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
	emu_event(e, USVA_EVENT_PRQ_OVERFLOW, ed->id, d->pasid, d->perm,
		  d->addr);
	EMU_LOG_RL(WARNING, "PRQ full (%u entries): page requests lost",
		   e->p.prq_depth);
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
	ent = emu_pasid_ent(ed, d->pasid);
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
		g = grp_alloc(ed, d->pasid, d->grpid,
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
	el.gseq = g->seq;
	if (last) {
		g->state = EMU_GRP_COMPLETE;
		g->last_cookie = el.req.cookie;
	}
	if (rte_ring_mp_enqueue_elem(e->prq, &el, sizeof(el)) == 0) {
		rte_spinlock_unlock(&ed->grp_lock);
		emu_stat_inc(e, EMU_ST_PAGE_REQUESTS);
		return 0;
	}
	/* Queue full: the request is lost. A group's last request is
	 * answered SUCCESS by the IOMMU (VT-d), so the device retries and
	 * faults again; its earlier requests still queued are dropped. */
	if (last)
		grp_answer(ed, g, USVA_PAGE_RESP_SUCCESS);
	rte_spinlock_unlock(&ed->grp_lock);
	emu_stat_inc(e, EMU_ST_PRQ_OVERFLOW);
	prq_overflow_event(e, ed, d);
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
	struct emu_resp_elem buf[EMU_POLL_BURST];
	unsigned int got = 0;

	if (ed == NULL)
		return -ENODEV;
	if (ed->resp == NULL)
		return 0;
	while (got < n) {
		unsigned int want = RTE_MIN(n - got, EMU_POLL_BURST);
		unsigned int k = rte_ring_sc_dequeue_burst_elem(ed->resp, buf,
								sizeof(buf[0]),
								want, NULL);
		uint32_t credits = 0;

		for (unsigned int i = 0; i < k; i++) {
			out[got++] = buf[i].r;
			credits += buf[i].nreq;
		}
		/* The device has its responses: its requests are no longer
		 * outstanding. Relaxed: a count, read under grp_lock. */
		__atomic_fetch_sub(&ed->outstanding, credits, __ATOMIC_RELAXED);
		if (k < want)
			break;
	}
	return (int)got;
}

/* ---- PRQ poll (fast path) ---------------------------------------------------------- */

/* Still worth delivering: its group was not answered since it was queued. */
static bool
prq_elem_live(struct emu *e, const struct emu_prq_elem *el,
	      struct emu_dev **cache)
{
	struct emu_dev *ed = *cache;

	if (ed == NULL || ed->id != el->req.dev_id) {
		ed = emu_devtab_find(e, el->req.dev_id);
		*cache = ed;
	}
	if (ed == NULL || ed->groups == NULL || el->gslot >= ed->pri_capacity)
		return false;
	/* Acquire: pairs with grp_free()'s release. A group answered just
	 * after this check makes software's response stale: dropped. */
	return __atomic_load_n(&ed->groups[el->gslot].seq, __ATOMIC_ACQUIRE) ==
	       el->gseq;
}

uint16_t
emu_prq_poll(void *ctx, struct usva_page_req *reqs, uint16_t n)
{
	struct emu *e = ctx;
	struct emu_prq_elem buf[EMU_POLL_BURST];
	struct emu_dev *cache = NULL;
	uint16_t got = 0;

	while (got < n) {
		unsigned int want = RTE_MIN((unsigned int)(n - got),
					    EMU_POLL_BURST);
		unsigned int k = rte_ring_sc_dequeue_burst_elem(e->prq, buf,
								sizeof(buf[0]),
								want, NULL);

		if (k == 0)
			break;
		/* Devices are looked up (and may be closing) only when
		 * there is something to deliver: an idle poll costs just
		 * the ring check. */
		emu_rcu_enter(e);
		for (unsigned int i = 0; i < k; i++)
			if (prq_elem_live(e, &buf[i], &cache))
				reqs[got++] = buf[i].req;
		emu_rcu_exit(e);
		cache = NULL;
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

static const char *
respond_one(struct emu *e, const struct usva_page_resp *r)
{
	struct emu_pasid_ent *ent;
	struct emu_group *g;
	struct emu_dev *ed;

	if (r->code != USVA_PAGE_RESP_SUCCESS &&
	    r->code != USVA_PAGE_RESP_INVALID &&
	    r->code != USVA_PAGE_RESP_FAILURE)
		return "unknown response code";
	ed = emu_devtab_find(e, r->dev_id);
	if (ed == NULL || ed->groups == NULL)
		return "no such device with PRI";
	if (r->grpid >= EMU_GRPID_MAX)
		return "group index out of range";
	rte_spinlock_lock(&ed->grp_lock);
	g = grp_find(ed, r->pasid, r->grpid);
	if (g == NULL || g->state != EMU_GRP_COMPLETE) {
		rte_spinlock_unlock(&ed->grp_lock);
		return "no outstanding group";
	}
	if (g->last_cookie != r->cookie) {
		rte_spinlock_unlock(&ed->grp_lock);
		return "cookie of another request";
	}
	ent = emu_pasid_ent(ed, r->pasid);
	/* Relaxed: gen only moves under dev->lock on attach; a group of an
	 * earlier life was answered by detach before that. */
	if (ent == NULL || __atomic_load_n(&ent->gen, __ATOMIC_RELAXED) !=
	    g->pasid_gen) {
		/* Detach answers its groups, so only a bug gets here. */
		rte_spinlock_unlock(&ed->grp_lock);
		return "group of an earlier PASID life";
	}
	grp_answer(ed, g, r->code);
	if (r->code == USVA_PAGE_RESP_FAILURE) {
		/* PCIe: the function's PRI is disabled and its outstanding
		 * requests discarded. Discarded groups are answered INVALID
		 * so that each still gets exactly one response. Release:
		 * pairs with the acquire in usva_emu_page_request(). */
		__atomic_store_n(&ed->pri_enabled, 0, __ATOMIC_RELEASE);
		grp_answer_all(ed, 0, true);
	}
	rte_spinlock_unlock(&ed->grp_lock);
	return NULL;
}

uint16_t
emu_page_respond(void *ctx, const struct usva_page_resp *resp, uint16_t n)
{
	struct emu *e = ctx;
	uint16_t ok = 0;

	emu_rcu_enter(e);
	for (uint16_t i = 0; i < n; i++) {
		const char *why = respond_one(e, &resp[i]);

		if (why != NULL)
			respond_drop(e, &resp[i], why);
		else
			ok++;
	}
	emu_rcu_exit(e);
	if (ok)
		emu_stat_add(e, EMU_ST_RESPONSES, ok);
	return n;
}
