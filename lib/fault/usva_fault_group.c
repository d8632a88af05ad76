/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service: group walks from control threads (unregister, destroy).
 *
 * A control thread never writes a record's fields and never moves a
 * record out of EMPTY/FREE/DONE: it only claims OPEN groups whose LAST was
 * seen with a CAS,
 * exactly like a fault lcore would, reads the claimed record, and leaves
 * it DONE for the table's slot to reclaim. So each group is answered once,
 * whichever of unregister, a timeout, a dead-handler check or its last page
 * gets there first.
 *
 * Responses go straight to the backend (usva_iommu_page_respond() is
 * thread-safe), in batches, one call per run of one IOMMU.
 */
#include <errno.h>
#include <inttypes.h>

#include <rte_pause.h>

#include "usva_fault_internal.h"

#define CTL_BATCH	64
#define CTL_SPINS	(1u << 20)	/* empty page_respond calls tolerated */

struct ctl_batch {
	uint32_t n;
	uint8_t iommu[CTL_BATCH];
	struct usva_page_resp r[CTL_BATCH];
};

void
fault_group_resp(const struct fault_group *g, uint16_t code,
		 struct usva_page_resp *r)
{
	r->dev_id = g->dev_id;
	r->pasid = g->pasid;
	r->grpid = g->grpid;
	r->cookie = g->cookie;
	r->code = code;
	r->flags = g->resp_flags;
	r->reserved = 0;
	r->private_data[0] = g->priv[0];
	r->private_data[1] = g->priv[1];
}

static void
ctl_flush(struct ctl_batch *b)
{
	uint32_t i = 0, j, k, spins = 0;
	uint16_t n;

	while (i < b->n) {
		for (j = i + 1; j < b->n && b->iommu[j] == b->iommu[i]; j++)
			;
		for (k = i; k < j; k += n) {
			n = usva_iommu_page_respond(b->iommu[i], &b->r[k],
						    (uint16_t)(j - k));
			if (n == 0 && ++spins > CTL_SPINS) {
				USVA_LOG(ERR, fault, "iommu %u takes no page responses: %u lost",
					 b->iommu[i], j - k);
				break;
			}
			if (k + n < j)
				rte_pause();
		}
		i = j;
	}
	b->n = 0;
}

uint32_t
fault_groups_flush(struct usva_fault_service *svc, uint32_t hgen)
{
	struct ctl_batch b = { .n = 0 };
	struct fault_group *g;
	struct fault_slot *s;
	uint64_t st, cl;
	uint32_t si, i, n = 0;

	for (si = 0; si < svc->nr_slots; si++) {
		s = &svc->slots[si];
		for (i = 0; i <= s->gmask; i++) {
			g = &s->groups[i];
			/* Acquire: pairs with the slot's release publish. */
			st = __atomic_load_n(&g->state, __ATOMIC_ACQUIRE);
			if (gs_phase(st) != GS_OPEN)
				continue;
			/* hgen may be rewritten if the record is reused under
			 * us; then the claim below fails on the generation. */
			if (hgen != 0 &&
			    __atomic_load_n(&g->hgen, __ATOMIC_RELAXED) != hgen)
				continue;
			/* A group without its LAST is not answered: at
			 * unregister it stays until its LAST comes (and the
			 * slot answers it INVALID then) or it times out; at
			 * destroy it goes with the table. */
			if (!fault_group_claim_any(g, st, true, &cl))
				continue;
			fault_group_resp(g, USVA_PAGE_RESP_INVALID, &b.r[b.n]);
			b.iommu[b.n++] = g->iommu;
			/* Release: our reads before the slot's reclaim. */
			__atomic_store_n(&g->state, gs_make(gs_gen(cl), GS_DONE),
					 __ATOMIC_RELEASE);
			n++;
			if (b.n == CTL_BATCH)
				ctl_flush(&b);
		}
	}
	ctl_flush(&b);
	if (n != 0) {
		/* Counters, no ordering: relaxed. */
		__atomic_fetch_add(&svc->cstats.groups, n, __ATOMIC_RELAXED);
		__atomic_fetch_add(&svc->cstats.resp_invalid, n, __ATOMIC_RELAXED);
	}
	return n;
}
