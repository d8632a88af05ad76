/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu-dma: translation faults. Page requests, group indexes, parking,
 * retries, and the routing of page responses. Everything here runs under
 * the device's eng_lock.
 *
 * Group indexes. PRI gives a function 512 group indexes; the engine hands
 * them out per device (whatever the PASID), one per parked operation, so a
 * response is routed by its index alone. An index is taken when a fault
 * needs a request and given back when its response arrives; an operation
 * that ends without its response (stop's timeout) leaves its index
 * orphaned until the response comes, so that a late response never meets
 * an operation that did not ask.
 *
 * Requests (usva_emu_page_request):
 *  0   queued: the operation parks until the response;
 *  1   the PRQ was full and the IOMMU answered SUCCESS itself: the response
 *      is already on its way, the operation parks on it like on any other
 *      (that retry does not count against fault_retries);
 *  -EBUSY  the device is at its PRI capacity: raise it again next iteration;
 *  -EPERM  PRI disabled (a FAILURE response) or absent: PAGE_FAULT;
 *  other   (the PASID went away) PASID_INVALID.
 * A page that still faults after fault_retries SUCCESS responses in a row
 * ends its operation PAGE_FAULT.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "emu_dma_internal.h"

/* ---- group indexes ----------------------------------------------------------- */

void
emu_dma_grp_init(struct emu_dma *ed)
{
	ed->grp_nfree = EDMA_NGRP;
	for (uint32_t i = 0; i < EDMA_NGRP; i++)
		ed->grp_free[i] = (uint16_t)(EDMA_NGRP - 1 - i);
}

static int
grp_get(struct emu_dma *ed, struct edma_job *j)
{
	uint16_t g;

	if (ed->grp_nfree == 0)
		return -ENOSPC;
	g = ed->grp_free[--ed->grp_nfree];
	ed->grp_used[g] = 1;
	ed->grp_job[g] = j;
	j->grpid = g;
	return 0;
}

static void
grp_put(struct emu_dma *ed, uint16_t g)
{
	ed->grp_used[g] = 0;
	ed->grp_job[g] = NULL;
	ed->grp_free[ed->grp_nfree++] = g;
}

/* @p j ends while it holds an index: free it, or orphan it if a response
 * is still due. */
void
emu_dma_orphan(struct edma_job *j)
{
	struct emu_dma *ed = j->ch->ed;

	if (j->grpid == EDMA_GRP_NONE)
		return;
	if (j->state == EDMA_JOB_PARKED) {
		ed->grp_job[j->grpid] = NULL;
		edma_parked_add(ed, -1);
	} else {
		grp_put(ed, j->grpid);	/* never requested */
	}
	j->grpid = EDMA_GRP_NONE;
}

/* ---- requests ------------------------------------------------------------------- */

/* Raise (again) the page request of @p j's pending fault. @return 1 if it
 * ended. */
unsigned int
emu_dma_request(struct edma_job *j)
{
	struct emu_dma *ed = j->ch->ed;
	struct usva_emu_prq_desc d;
	int rc;

	if (j->grpid == EDMA_GRP_NONE && grp_get(ed, j) != 0) {
		j->state = EDMA_JOB_REQ;	/* all 512 in use: later */
		return 0;
	}
	memset(&d, 0, sizeof(d));
	d.addr = j->f_addr;
	d.pasid = j->pasid;
	d.grpid = j->grpid;
	d.perm = (uint16_t)j->f_access;
	d.flags = USVA_PREQ_F_LAST;
	rc = usva_emu_page_request(ed->iodev, &d);
	if (rc == 0 || rc == 1) {
		j->ovf = (uint8_t)rc;
		j->state = EDMA_JOB_PARKED;
		edma_parked_add(ed, 1);
		edma_stat_add(&j->ch->st.page_requests, 1);
		return 0;
	}
	if (rc == -EBUSY) {
		j->state = EDMA_JOB_REQ;
		return 0;
	}
	grp_put(ed, j->grpid);
	j->grpid = EDMA_GRP_NONE;
	return emu_dma_job_fail(j, rc == -EPERM ? USVA_DMA_STATUS_PAGE_FAULT :
				USVA_DMA_STATUS_PASID_INVALID);
}

/* A recoverable fault of @p j at j->f_addr / j->f_access. @return 1 if
 * it ended. */
unsigned int
emu_dma_fault(struct edma_job *j)
{
	struct emu_dma *ed = j->ch->ed;
	uint64_t key = (((j->f_addr >> EDMA_PAGE_SHIFT) << 4) |
			(j->f_access & 0xf)) + 1;
	bool block = j->ch->fault_mode == USVA_DMA_FAULT_BLOCK ||
		     j->opcode == USVA_DMA_OP_PREFETCH;

	if (!block || ed->forcing)
		return emu_dma_job_fail(j, USVA_DMA_STATUS_PAGE_FAULT);
	if (key != j->fpage) {
		j->fpage = key;
		j->succ = 0;
	} else if (j->succ >= ed->fault_retries) {
		EDMA_LOG_RL(DEBUG, "dev %d: PASID %u 0x%" PRIx64 " still "
			    "faults after %u retries", ed->dev_id, j->pasid,
			    j->f_addr, j->succ);
		return emu_dma_job_fail(j, USVA_DMA_STATUS_PAGE_FAULT);
	}
	return emu_dma_request(j);
}

/* ---- responses ------------------------------------------------------------------- */

static void
resp_one(struct emu_dma *ed, const struct usva_emu_prg_resp *r)
{
	struct edma_job *j;

	if (r->grpid >= EDMA_NGRP || !ed->grp_used[r->grpid]) {
		EDMA_LOG_RL(WARNING, "dev %d: response to group %u, not ours",
			    ed->dev_id, r->grpid);
		return;
	}
	j = ed->grp_job[r->grpid];
	grp_put(ed, (uint16_t)r->grpid);
	if (j == NULL)
		return;		/* orphaned: its operation ended already */
	j->grpid = EDMA_GRP_NONE;
	if (j->state != EDMA_JOB_PARKED) {
		EDMA_LOG_RL(ERR, "dev %d: group %u answered while not parked",
			    ed->dev_id, r->grpid);
		return;
	}
	edma_parked_add(ed, -1);
	if (r->code == USVA_PAGE_RESP_SUCCESS) {
		if (!j->ovf)
			j->succ++;
		edma_stat_add(&j->ch->st.fault_retries, 1);
		j->state = EDMA_JOB_RUN;
		return;
	}
	emu_dma_job_fail(j, USVA_DMA_STATUS_PAGE_FAULT);
}

/* Take and route every response waiting. @return how many. */
unsigned int
emu_dma_responses(struct emu_dma *ed)
{
	unsigned int total = 0;
	int n;

	do {
		n = usva_emu_dev_responses(ed->iodev, ed->resp,
					   EDMA_RESP_BURST);
		for (int i = 0; i < n; i++)
			resp_one(ed, &ed->resp[i]);
		if (n > 0)
			total += (unsigned int)n;
	} while (n == (int)EDMA_RESP_BURST);
	return total;
}
