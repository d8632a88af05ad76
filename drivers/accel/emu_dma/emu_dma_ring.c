/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu-dma: the descriptor rings of the channels.
 *
 * A ring has nb_desc slots; indices are running uint16_t counters (as
 * rte_dmadev's ring_idx) and slot = index & mask. The application writes
 * an operation into desc[slot] and moves its private `tail`; submit
 * publishes `tail` as `sub_tail` (release). The engine fetches from
 * `fetched` up to `sub_tail` (acquire), writes each operation's completion
 * into cpl[slot] when it ends, and publishes `done` (release), the first
 * index not finished, so completions are reported in ring order. The
 * application reaps from `reaped` up to `done` (acquire) and may then
 * reuse the slots: the engine read their descriptors before it finished
 * them, and writes their completions only after it fetches them again.
 * Enqueue fails -ENOSPC when nb_desc slots lie between `reaped` and `tail`.
 */
#include <errno.h>
#include <string.h>

#include <rte_branch_prediction.h>

#include "emu_dma_internal.h"

/* ---- application side ------------------------------------------------------- */

static inline struct edma_chan *
chan_of(void *ctx, uint16_t vchan)
{
	struct emu_dma *ed = ctx;

	if (unlikely(vchan >= ed->nb_vchans))
		return NULL;
	return ed->ch[vchan];
}

int
emu_dma_enqueue(void *ctx, uint16_t vchan, const struct usva_dma_op *op)
{
	struct edma_chan *ch = chan_of(ctx, vchan);
	uint16_t idx;

	if (unlikely(ch == NULL || op == NULL))
		return -EINVAL;
	idx = ch->tail;
	if (unlikely((uint16_t)(idx - ch->reaped) >= ch->nb_desc))
		return -ENOSPC;
	ch->desc[idx & ch->mask] = *op;
	ch->tail = idx + 1;
	if (op->flags & USVA_DMA_OP_F_SUBMIT)
		/* Release: the descriptors before the index the engine
		 * acquires. */
		__atomic_store_n(&ch->sub_tail, ch->tail, __ATOMIC_RELEASE);
	return idx;
}

int
emu_dma_submit(void *ctx, uint16_t vchan)
{
	struct edma_chan *ch = chan_of(ctx, vchan);

	if (unlikely(ch == NULL))
		return -EINVAL;
	/* Release: as in emu_dma_enqueue(). */
	__atomic_store_n(&ch->sub_tail, ch->tail, __ATOMIC_RELEASE);
	return 0;
}

/* Completions ready to reap, at most @p nb. */
static inline uint16_t
ready(struct edma_chan *ch, uint16_t nb)
{
	/* Acquire: pairs with the engine's release of done; the cpl slots
	 * below it are written. */
	uint16_t n = __atomic_load_n(&ch->done, __ATOMIC_ACQUIRE) - ch->reaped;

	return RTE_MIN(n, nb);
}

uint16_t
emu_dma_completed(void *ctx, uint16_t vchan, uint16_t nb, uint16_t *last_idx,
		  bool *has_error)
{
	struct edma_chan *ch = chan_of(ctx, vchan);
	uint16_t n, i;
	bool err = false;

	if (unlikely(ch == NULL)) {
		if (has_error != NULL)
			*has_error = false;
		return 0;
	}
	n = ready(ch, nb);
	for (i = 0; i < n; i++) {
		if (ch->cpl[(uint16_t)(ch->reaped + i) & ch->mask].status !=
		    USVA_DMA_STATUS_SUCCESS) {
			err = true;
			break;
		}
	}
	ch->reaped += i;
	if (last_idx != NULL)
		*last_idx = ch->reaped - 1;
	if (has_error != NULL)
		*has_error = err;
	return i;
}

uint16_t
emu_dma_completed_status(void *ctx, uint16_t vchan, uint16_t nb,
			 uint16_t *last_idx, struct usva_dma_cpl *cpl)
{
	struct edma_chan *ch = chan_of(ctx, vchan);
	uint16_t n;

	if (unlikely(ch == NULL || cpl == NULL))
		return 0;
	n = ready(ch, nb);
	for (uint16_t i = 0; i < n; i++)
		cpl[i] = ch->cpl[(uint16_t)(ch->reaped + i) & ch->mask];
	ch->reaped += n;
	if (last_idx != NULL)
		*last_idx = ch->reaped - 1;
	return n;
}

uint16_t
emu_dma_burst_capacity(void *ctx, uint16_t vchan)
{
	struct edma_chan *ch = chan_of(ctx, vchan);

	if (unlikely(ch == NULL))
		return 0;
	return ch->nb_desc - (uint16_t)(ch->tail - ch->reaped);
}

/* ---- set-up (control path) --------------------------------------------------- */

struct edma_chan *
emu_dma_chan_alloc(struct emu_dma *ed, const struct usva_dma_vchan_conf *c)
{
	struct edma_chan *ch;

	ch = usva_zmalloc_aligned(sizeof(*ch), RTE_CACHE_LINE_SIZE);
	if (ch == NULL)
		return NULL;
	ch->desc = usva_zmalloc_aligned(sizeof(*ch->desc) * c->nb_desc,
					RTE_CACHE_LINE_SIZE);
	if (ch->desc == NULL)
		goto fail_desc;
	ch->cpl = usva_zmalloc_aligned(sizeof(*ch->cpl) * c->nb_desc,
				       RTE_CACHE_LINE_SIZE);
	if (ch->cpl == NULL)
		goto fail_cpl;
	ch->fin = usva_zmalloc(c->nb_desc);
	if (ch->fin == NULL)
		goto fail_fin;
	ch->jobs = usva_zmalloc(sizeof(*ch->jobs) * ed->max_inflight);
	if (ch->jobs == NULL)
		goto fail_jobs;
	ch->nb_desc = c->nb_desc;
	ch->mask = c->nb_desc - 1;
	ch->fault_mode = c->fault_mode;
	ch->pasid = c->pasid;
	ch->njobs = ed->max_inflight;
	ch->ed = ed;
	for (uint32_t i = 0; i < ch->njobs; i++) {
		ch->jobs[i].ch = ch;
		ch->jobs[i].grpid = EDMA_GRP_NONE;
	}
	return ch;

fail_jobs:
	usva_free(ch->fin);
fail_fin:
	usva_free(ch->cpl);
fail_cpl:
	usva_free(ch->desc);
fail_desc:
	usva_free(ch);
	return NULL;
}

void
emu_dma_chan_free(struct edma_chan *ch)
{
	if (ch == NULL)
		return;
	usva_free(ch->jobs);
	usva_free(ch->fin);
	usva_free(ch->cpl);
	usva_free(ch->desc);
	usva_free(ch);
}

/* A fresh ring: indices from 0 (start). eng_lock held, channel idle. */
void
emu_dma_chan_reset(struct edma_chan *ch)
{
	ch->tail = 0;
	ch->reaped = 0;
	ch->fetched = 0;
	ch->done_priv = 0;
	/* Relaxed: the device is not started; start's return orders these
	 * before the application's first call. */
	__atomic_store_n(&ch->sub_tail, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ch->done, 0, __ATOMIC_RELAXED);
	memset(ch->fin, 0, ch->nb_desc);
	ch->stopping = 0;
	ch->live = 1;
}

/* ---- engine side (eng_lock) --------------------------------------------------- */

/* Move done over the finished operations and publish it. */
void
emu_dma_chan_publish(struct edma_chan *ch)
{
	uint16_t d = ch->done_priv;

	while (d != ch->fetched && ch->fin[d & ch->mask]) {
		ch->fin[d & ch->mask] = 0;
		d++;
	}
	if (d == ch->done_priv)
		return;
	ch->done_priv = d;
	/* Release: the cpl slots below d are written before the
	 * application can read them. */
	__atomic_store_n(&ch->done, d, __ATOMIC_RELEASE);
}

/* Stop: end what was submitted and not fetched NOT_ATTEMPTED. */
uint32_t
emu_dma_chan_drop_queued(struct edma_chan *ch)
{
	/* Acquire: pairs with submit's release; the descriptors are there. */
	uint16_t tail = __atomic_load_n(&ch->sub_tail, __ATOMIC_ACQUIRE);
	uint32_t n = 0;

	for (; ch->fetched != tail; ch->fetched++, n++) {
		uint16_t s = ch->fetched & ch->mask;
		struct usva_dma_cpl *c = &ch->cpl[s];

		memset(c, 0, sizeof(*c));
		c->status = USVA_DMA_STATUS_NOT_ATTEMPTED;
		c->ring_idx = ch->fetched;
		c->opcode = ch->desc[s].opcode;
		ch->fin[s] = 1;
	}
	edma_stat_add(&ch->st.submitted, n);
	edma_stat_add(&ch->st.completed, n);
	edma_stat_add(&ch->st.errors, n);
	return n;
}
