/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu-dma: the engine.
 *
 * The model (DSA-like). Each channel is a work queue: a ring of nb_desc
 * descriptors (emu_dma_ring.c) and max_inflight engines (jobs). One engine
 * iteration, run by whoever holds the device's eng_lock:
 *
 *  1. Takes the page responses addressed to the device (it is the device's
 *     one consumer) and routes them by group index to the operation parked
 *     on them: SUCCESS makes it retry, INVALID or FAILURE ends it
 *     PAGE_FAULT (emu_dma_fault.c).
 *  2. For each started channel, fetches submitted operations in ring order
 *     while an engine is free. An operation with USVA_DMA_OP_F_FENCE starts
 *     only once every earlier operation of the channel has completed; it
 *     holds back the ones after it (operations start in ring order).
 *  3. Runs each engine's operation for a budget of EDMA_BUDGET bytes, so
 *     a long one does not starve the others (emu_dma_ops.c); raises a page
 *     request and parks it on a recoverable fault (block-on-fault), or ends
 *     it PAGE_FAULT at once (partial completion). A parked operation holds
 *     its engine while later ones of its channel go on.
 *  4. Writes the completion record of each operation that ended (if it
 *     asked for one), its completion into the ring, and publishes `done`:
 *     the first index not finished, so completions are reported in ring
 *     order whatever order they ended in.
 *
 * Checks made when an operation is fetched end it with a status, never a
 * crash: unknown opcode; unknown flag, WRITE_FETCH on another opcode, or
 * a completion record not 32-byte aligned (INVALID_FLAGS, no record then);
 * a PASID beyond the device's width; length 0 or over max_len; COPY with
 * overlapping buffers. MEMMOVE with dst above an overlapping src copies
 * from the end; if it then ends PAGE_FAULT, `bytes` counts from the end
 * and `result` is 1 (as DSA's direction bit).
 *
 * Stop (emu_dma_stop_drain): nothing more is fetched; what was submitted
 * and not fetched ends NOT_ATTEMPTED; running operations finish; parked
 * ones wait for their response for up to EDMA_STOP_WAIT_MS, after which
 * every fault ends its operation at once (PAGE_FAULT, records lost) and a
 * response still due for a parked one is dropped when it comes.
 */
#include <string.h>

#include <rte_cycles.h>

#include "emu_dma_internal.h"

/* ---- ending an operation ---------------------------------------------------- */

static unsigned int
job_finish(struct edma_job *j)
{
	struct edma_chan *ch = j->ch;
	uint16_t s = j->idx & ch->mask;

	ch->cpl[s] = j->cpl;
	ch->fin[s] = 1;
	edma_stat_add(&ch->st.completed, 1);
	if (j->cpl.status != USVA_DMA_STATUS_SUCCESS)
		edma_stat_add(&ch->st.errors, 1);
	if (j->cpl.status == USVA_DMA_STATUS_PAGE_FAULT)
		edma_stat_add(&ch->st.page_faults, 1);
	j->state = EDMA_JOB_FREE;
	ch->active--;
	ch->ed->work++;
	return 1;
}

/* The data phase is over: write the record, if any, and finish. */
static unsigned int
job_complete(struct edma_job *j)
{
	int rc;

	j->phase = EDMA_PH_CR;
	if (j->write_cr) {
		rc = emu_dma_cr_write(j->ch->ed, j);
		if (rc == EDMA_STEP_FAULT)
			return emu_dma_fault(j);
		if (rc != 0)
			j->cpl.flags |= USVA_DMA_CPL_F_CR_LOST;
	}
	return job_finish(j);
}

/* Set @p j's completion for an error @p status at j->f_addr. */
void
emu_dma_job_set_fault(struct edma_job *j, uint16_t status)
{
	struct usva_dma_cpl *c = &j->cpl;

	c->status = status;
	c->bytes = j->done;
	c->fault_addr = j->f_addr;
	if (status == USVA_DMA_STATUS_PAGE_FAULT &&
	    (j->f_access & USVA_ACCESS_WRITE))
		c->flags |= USVA_DMA_CPL_F_FAULT_WRITE;
	if (j->opcode == USVA_DMA_OP_CRC32C)
		c->result = ~j->crc;	/* the CRC so far: the rest's seed */
	else if (j->backward)
		c->result = 1;		/* bytes count from the end */
	else
		c->result = 0;
}

/*
 * End @p j with @p status after a fault it cannot get past: in its data
 * phase, its completion says so (and its record is still written); in its
 * record phase, the record is lost.
 */
unsigned int
emu_dma_job_fail(struct edma_job *j, uint16_t status)
{
	j->state = EDMA_JOB_RUN;
	if (j->phase == EDMA_PH_DATA) {
		emu_dma_job_set_fault(j, status);
		return job_complete(j);
	}
	j->cpl.flags |= USVA_DMA_CPL_F_CR_LOST;
	return job_finish(j);
}

/* Run @p j for one budget. @return 1 if it ended. */
unsigned int
emu_dma_job_run(struct edma_job *j)
{
	int rc;

	if (j->phase == EDMA_PH_DATA) {
		rc = emu_dma_op_step(j->ch->ed, j);
		if (rc == EDMA_STEP_MORE)
			return 0;
		if (rc == EDMA_STEP_FAULT)
			return emu_dma_fault(j);
		if (j->cpl.status == USVA_DMA_STATUS_SUCCESS)
			j->cpl.bytes = j->done;
	}
	return job_complete(j);
}

/* ---- starting an operation -------------------------------------------------- */

static bool
overlap(uint64_t a, uint64_t b, uint64_t len)
{
	return (a > b ? a - b : b - a) < len;
}

/* @return the status that ends @p op at once, or SUCCESS. */
static uint16_t
op_check(const struct emu_dma *ed, const struct usva_dma_op *op,
	 uint32_t pasid)
{
	if (op->opcode > USVA_DMA_OP_PREFETCH)
		return USVA_DMA_STATUS_INVALID_OPCODE;
	if ((op->flags & ~EDMA_OP_FLAGS) || op->reserved0 != 0 ||
	    ((op->flags & USVA_DMA_OP_F_COMPLETION_RECORD) &&
	     (op->cr_addr & (EDMA_CR_SIZE - 1))) ||
	    ((op->flags & USVA_DMA_OP_F_WRITE_FETCH) &&
	     op->opcode != USVA_DMA_OP_PREFETCH))
		return USVA_DMA_STATUS_INVALID_FLAGS;
	if ((uint64_t)pasid >> ed->pasid_width != 0)
		return USVA_DMA_STATUS_PASID_INVALID;
	if (op->opcode == USVA_DMA_OP_NOP)
		return USVA_DMA_STATUS_SUCCESS;
	if (op->len == 0 || op->len > ed->max_len)
		return USVA_DMA_STATUS_INVALID_LENGTH;
	if (op->opcode == USVA_DMA_OP_COPY && overlap(op->src, op->dst, op->len))
		return USVA_DMA_STATUS_INVALID_OVERLAP;
	return USVA_DMA_STATUS_SUCCESS;
}

static void
job_init(struct edma_chan *ch, struct edma_job *j, const struct usva_dma_op *op,
	 uint16_t idx)
{
	uint16_t st;

	j->state = EDMA_JOB_RUN;
	j->phase = EDMA_PH_DATA;
	j->opcode = op->opcode;
	j->flags = op->flags;
	j->idx = idx;
	j->pasid = (op->flags & USVA_DMA_OP_F_PASID) ? op->pasid : ch->pasid;
	j->src = op->src;
	j->dst = op->dst;
	j->len = op->len;
	j->pattern = op->pattern;
	j->cr_addr = op->cr_addr;
	j->done = 0;
	j->crc = ~(uint32_t)op->pattern;
	j->succ = 0;
	j->fpage = 0;
	j->ovf = 0;
	j->grpid = EDMA_GRP_NONE;
	j->backward = op->opcode == USVA_DMA_OP_MEMMOVE && op->dst > op->src &&
		      op->dst - op->src < op->len;
	memset(&j->cpl, 0, sizeof(j->cpl));
	j->cpl.ring_idx = idx;
	j->cpl.opcode = op->opcode;
	st = op_check(ch->ed, op, j->pasid);
	j->write_cr = (op->flags & USVA_DMA_OP_F_COMPLETION_RECORD) &&
		      st != USVA_DMA_STATUS_INVALID_FLAGS &&
		      st != USVA_DMA_STATUS_PASID_INVALID;
	if (st != USVA_DMA_STATUS_SUCCESS) {
		j->cpl.status = st;
		j->phase = EDMA_PH_CR;
	}
	ch->active++;
}

static struct edma_job *
job_free_slot(struct edma_chan *ch)
{
	for (uint32_t i = 0; i < ch->njobs; i++)
		if (ch->jobs[i].state == EDMA_JOB_FREE)
			return &ch->jobs[i];
	return NULL;	/* unreachable: active < njobs */
}

static void
chan_fetch(struct edma_chan *ch)
{
	/* Acquire: pairs with submit's release; the descriptors below the
	 * tail are written. */
	uint16_t tail = __atomic_load_n(&ch->sub_tail, __ATOMIC_ACQUIRE);
	const struct usva_dma_op *op;
	uint64_t n = 0;

	while (ch->fetched != tail && ch->active < ch->njobs) {
		op = &ch->desc[ch->fetched & ch->mask];
		/* Fence: every earlier operation completed. */
		if ((op->flags & USVA_DMA_OP_F_FENCE) &&
		    ch->done_priv != ch->fetched)
			break;
		job_init(ch, job_free_slot(ch), op, ch->fetched);
		ch->fetched++;
		n++;
	}
	if (n)
		edma_stat_add(&ch->st.submitted, n);
}

/* ---- iterations --------------------------------------------------------------- */

static void
chan_iterate(struct edma_chan *ch)
{
	struct edma_job *j;

	if (!ch->stopping)
		chan_fetch(ch);
	for (uint32_t i = 0; i < ch->njobs && ch->active > 0; i++) {
		j = &ch->jobs[i];
		if (j->state == EDMA_JOB_RUN)
			emu_dma_job_run(j);
		else if (j->state == EDMA_JOB_REQ)
			emu_dma_request(j);
	}
	emu_dma_chan_publish(ch);
}

/* One iteration; eng_lock held. @return responses taken + ops ended. */
int
emu_dma_iterate(struct emu_dma *ed)
{
	unsigned int n;

	ed->work = 0;
	n = emu_dma_responses(ed);
	for (uint16_t v = 0; v < ed->nb_vchans; v++) {
		struct edma_chan *ch = ed->ch[v];

		if (ch != NULL && ch->live)
			chan_iterate(ch);
	}
	return (int)(n + ed->work);
}

/* ---- stop -------------------------------------------------------------------------- */

static uint32_t
active_jobs(const struct emu_dma *ed)
{
	uint32_t n = 0;

	for (uint16_t v = 0; v < ed->nb_vchans; v++)
		if (ed->ch[v] != NULL && ed->ch[v]->live)
			n += ed->ch[v]->active;
	return n;
}

/* Stop's wait is over: end every operation waiting for a response. */
static void
force_waiting(struct emu_dma *ed)
{
	ed->forcing = 1;
	for (uint16_t v = 0; v < ed->nb_vchans; v++) {
		struct edma_chan *ch = ed->ch[v];

		for (uint32_t i = 0; ch != NULL && ch->live && i < ch->njobs;
		     i++) {
			struct edma_job *j = &ch->jobs[i];

			if (j->state != EDMA_JOB_PARKED &&
			    j->state != EDMA_JOB_REQ)
				continue;
			emu_dma_orphan(j);
			emu_dma_job_fail(j, USVA_DMA_STATUS_PAGE_FAULT);
		}
	}
}

/* Stop every channel as usva_dma_stop() says; eng_lock held. */
void
emu_dma_stop_drain(struct emu_dma *ed)
{
	uint64_t hz = rte_get_timer_hz();
	uint64_t end = rte_get_timer_cycles() + hz * EDMA_STOP_WAIT_MS / 1000;

	for (uint16_t v = 0; v < ed->nb_vchans; v++) {
		struct edma_chan *ch = ed->ch[v];

		if (ch == NULL || !ch->live)
			continue;
		ch->stopping = 1;
		emu_dma_chan_drop_queued(ch);
	}
	while (active_jobs(ed) > 0) {
		if (!ed->forcing && rte_get_timer_cycles() > end)
			force_waiting(ed);
		if (emu_dma_iterate(ed) == 0)
			rte_delay_us_sleep(20);
	}
	ed->forcing = 0;
	for (uint16_t v = 0; v < ed->nb_vchans; v++) {
		struct edma_chan *ch = ed->ch[v];

		if (ch == NULL || !ch->live)
			continue;
		emu_dma_chan_publish(ch);
		ch->live = 0;
	}
}
