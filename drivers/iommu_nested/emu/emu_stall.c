/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: the SMMUv3 stall model, the alternative to PCIe PRI.
 *
 * A device opened with USVA_DEV_F_STALL does not ask for pages: when one of
 * its transactions takes a stage-1 translation fault (not present, access
 * flag, permission) in a context that stalls (CD.S = 1 in a guest's CD
 * table; always for a per-PASID domain, as the kernel sets CD.S for a
 * master that can stall), the SMMU holds the transaction and records a
 * fault event with STALL = 1 and a stall tag (STAG). Software fixes the
 * tables and sends CMD_RESUME with the tag: retry, or terminate (abort).
 *
 * The model reuses the PRI machinery, so the fault service serves both
 * alike: a stalled transaction is a page request group of one, LAST, with
 * USVA_PREQ_F_STALL, its group index the stall tag, on the same queue. The
 * tag is the group slot's index, unique among the device's stalls (a
 * stall buffer entry, as hardware numbers them): the device's
 * pri_capacity is its stall capacity. A response to the device is a
 * resume: SUCCESS retries, INVALID and FAILURE terminate (no PRI to
 * disable). Validation as for PRI: the tag must be outstanding, the cookie
 * that of its record, the PASID of the same life; detach terminates the
 * PASID's stalls (INVALID), a PASID-table detach all of the device's.
 *
 * The device sees its translation return -EAGAIN with the tag and waits for
 * the resume on its response ring (usva_emu_dev_responses()). A full stall
 * capacity or queue terminates the transaction at once (-EIO) and counts an
 * overflow, since a stall that cannot be recorded cannot be resumed.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <rte_cycles.h>

#include "emu_internal.h"

#define GRP_NONE	UINT32_MAX

/* The PASID entry page-request groups of (ed, pasid) hang on. */
static struct emu_pasid_ent *
stall_ent(struct emu_dev *ed, uint32_t pasid)
{
	return emu_cdtab_attached(ed) ? &ed->cdt_ent : emu_pasid_ent(ed, pasid);
}

static void
stall_elem(struct emu_dev *ed, const struct emu_group *g, uint32_t slot,
	   uint64_t va, uint32_t access, struct emu_prq_elem *el)
{
	memset(el, 0, sizeof(*el));
	el->req.addr = va & ~(EMU_PAGE_SIZE - 1);
	el->req.ts = rte_rdtsc();
	el->req.dev_id = ed->id;
	el->req.pasid = g->pasid;
	el->req.grpid = slot;
	el->req.cookie = g->last_cookie;
	el->req.perm = (uint16_t)(access & EMU_ACCESS_MASK);
	el->req.flags = USVA_PREQ_F_LAST | USVA_PREQ_F_STALL |
			(g->pasid != 0 ? USVA_PREQ_F_PASID : 0);
	el->gslot = slot;
	el->gseq = ed->grp_seq[slot];
}

/*
 * Record the stall of (pasid, va) and queue it. @return 0 and *@p stag;
 * -ENOENT (the PASID was detached meanwhile), -EBUSY (stall capacity),
 * -ENOSPC (queue full).
 */
static int
stall_queue(struct emu_dev *ed, uint32_t pasid, uint64_t va, uint32_t access,
	    uint16_t *stag)
{
	struct emu_pasid_ent *ent = stall_ent(ed, pasid);
	struct emu_prq_elem el;
	struct emu_group *g;
	uint32_t slot;

	if (ent == NULL || ed->groups == NULL)
		return -ENOENT;
	rte_spinlock_lock(&ed->grp_lock);
	/* Under the lock detach takes to answer groups: a stall recorded
	 * after it cleared the entry would never be answered. Acquire:
	 * pairs with attach's release; gen is read after dom. */
	if (__atomic_load_n(&ent->dom, __ATOMIC_ACQUIRE) == NULL) {
		rte_spinlock_unlock(&ed->grp_lock);
		return -ENOENT;
	}
	slot = ed->free_head;
	if (slot == GRP_NONE || __atomic_load_n(&ed->outstanding,
			__ATOMIC_RELAXED) >= ed->pri_capacity) {
		rte_spinlock_unlock(&ed->grp_lock);
		return -EBUSY;
	}
	g = emu_grp_alloc(ed, ent, pasid, slot,
			  __atomic_load_n(&ent->gen, __ATOMIC_RELAXED));
	g->nreq = 1;
	g->flags = USVA_PREQ_F_STALL;
	g->state = EMU_GRP_COMPLETE;
	g->last_cookie = ++ed->next_cookie;
	stall_elem(ed, g, slot, va, access, &el);
	/* Relaxed: a count (see usva_emu_page_request()); before the
	 * enqueue, as the device's consumption may follow it at once. */
	__atomic_fetch_add(&ed->outstanding, 1, __ATOMIC_RELAXED);
	if (rte_ring_mp_enqueue_elem(ed->emu->prq, &el, sizeof(el)) != 0) {
		__atomic_fetch_sub(&ed->outstanding, 1, __ATOMIC_RELAXED);
		emu_grp_drop(ed, g);
		rte_spinlock_unlock(&ed->grp_lock);
		return -ENOSPC;
	}
	rte_spinlock_unlock(&ed->grp_lock);
	*stag = (uint16_t)slot;
	return 0;
}

int
emu_stall_fault(struct emu_dev *ed, uint32_t pasid, uint64_t va,
		uint32_t access, uint32_t reason, struct usva_emu_xlate *x)
{
	struct emu *e = ed->emu;
	uint16_t stag = 0;
	int rc;

	x->host = NULL;
	x->len = 0;
	x->reason = reason;
	x->prot = 0;
	x->cached = false;
	rc = stall_queue(ed, pasid, va, access, &stag);
	x->stag = stag;
	if (rc == 0) {
		emu_stat_inc(e, EMU_ST_PAGE_REQUESTS);
		emu_prq_signal(e);
		return -EAGAIN;
	}
	if (rc != -ENOENT) {
		emu_stat_inc(e, EMU_ST_PRQ_OVERFLOW);
		emu_prq_overflow_event(e, ed, pasid, access, va, true);
	}
	return -EIO;
}

const char *
emu_stall_resume(struct emu_dev *ed, const struct usva_page_resp *r)
{
	struct emu_group *g;
	uint32_t *link;

	if (unlikely(r->grpid >= ed->pri_capacity))
		return "stall tag out of range";
	g = emu_grp_find_link(ed, r->pasid, r->grpid, &link);
	if (unlikely(g == NULL || !(g->flags & USVA_PREQ_F_STALL) ||
		     g->state != EMU_GRP_COMPLETE))
		return "no stalled transaction with that tag";
	if (unlikely(g->last_cookie != r->cookie))
		return "cookie of another stall";
	/* Relaxed: as for page request groups (respond_one()). */
	if (unlikely(__atomic_load_n(&g->ent->gen, __ATOMIC_RELAXED) !=
		     g->pasid_gen))
		return "stall of an earlier PASID life";
	/* CMD_RESUME: retry on SUCCESS, terminate otherwise. */
	emu_grp_answer_link(ed, g, link, r->code);
	return NULL;
}
