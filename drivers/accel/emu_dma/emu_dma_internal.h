/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu-dma internals. emu_dma_engine.c describes the engine model.
 *
 * Who touches what, in one paragraph. A device (`struct emu_dma`) has
 * channels; each channel has an application side (enqueue, submit, reap:
 * one thread per channel, as rte_dmadev) and an engine side. The engine
 * side of every channel, the group-index table and the counters are owned
 * by whoever holds the device's engine lock `eng_lock`: the service
 * callback, the launched lcore, usva_emu_dma_poll() or a control call
 * (start, stop, configure, close). It is taken once per iteration, never
 * per operation. The two sides meet at two indices: `sub_tail` (the
 * application releases, the engine acquires) and `done` (the engine
 * releases, the application acquires). Control calls come from lib/dma
 * under its lock and take `eng_lock` before they touch engine state.
 */
#ifndef EMU_DMA_INTERNAL_H
#define EMU_DMA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_spinlock.h>

#include "usva_alloc.h"
#include "usva_dma_driver.h"
#include "usva_emu.h"
#include "usva_emu_dma.h"
#include "usva_log.h"

/* ---- logging ------------------------------------------------------------------ */

extern int usva_logtype_dma_emu;

#define EDMA_LOG(level, fmt, ...)					\
	rte_log(RTE_LOG_##level, usva_logtype_dma_emu,			\
		"usva.dma.emu: " fmt "\n", ##__VA_ARGS__)

/* For anything an operation (or a page response) can trigger. */
#define EDMA_LOG_RL(level, fmt, ...)					\
	do {								\
		static struct usva_ratelimit edma_rl__;			\
		uint32_t edma_sup__;					\
		if (usva_ratelimit_ok(&edma_rl__, &edma_sup__)) {	\
			if (edma_sup__)					\
				EDMA_LOG(level, "%u similar lines "	\
					 "suppressed", edma_sup__);	\
			EDMA_LOG(level, fmt, ##__VA_ARGS__);		\
		}							\
	} while (0)

/* ---- limits and defaults ------------------------------------------------------- */

#define EDMA_PAGE_SHIFT		12
#define EDMA_PAGE_SIZE		(UINT64_C(1) << EDMA_PAGE_SHIFT)
#define EDMA_MIN_DESC		16u
#define EDMA_MAX_DESC_MIN	64u
#define EDMA_MAX_DESC_MAX	32768u
#define EDMA_MAX_DESC_DEF	4096u
#define EDMA_VCHANS_DEF		4u
#define EDMA_INFLIGHT_DEF	4u
#define EDMA_INFLIGHT_MAX	16u
#define EDMA_MAX_LEN_DEF	(UINT64_C(1) << 30)
#define EDMA_RETRIES_DEF	8u
#define EDMA_NGRP		512u	/* PRI group index: 9 bits */
#define EDMA_GRP_NONE		UINT16_MAX
#define EDMA_BUDGET		(64u * 1024)	/* bytes per op per iteration */
#define EDMA_XLATE_COST		1024u	/* budget a PREFETCH page costs */
#define EDMA_RESP_BURST		32u
#define EDMA_STOP_WAIT_MS	1000u	/* a parked op's wait at stop */
#define EDMA_CR_SIZE		32u

#define EDMA_OP_FLAGS	(USVA_DMA_OP_F_FENCE | USVA_DMA_OP_F_SUBMIT | \
			 USVA_DMA_OP_F_COMPLETION_RECORD | \
			 USVA_DMA_OP_F_WRITE_FETCH | USVA_DMA_OP_F_PASID)

/* ---- operations in flight ------------------------------------------------------- */

enum edma_job_state {
	EDMA_JOB_FREE = 0,
	EDMA_JOB_RUN,		/* has work: its data, or its record */
	EDMA_JOB_PARKED,	/* waits for the response of its group */
	EDMA_JOB_REQ,		/* must (re)raise its page request */
};

enum edma_phase {
	EDMA_PH_DATA = 0,	/* moving, filling, comparing, ... */
	EDMA_PH_CR,		/* data ended; its completion record is due */
};

/* Step results (emu_dma_ops.c). */
#define EDMA_STEP_MORE	0	/* budget spent; go on next iteration */
#define EDMA_STEP_END	1	/* data phase over; status in j->cpl */
#define EDMA_STEP_FAULT	2	/* recoverable fault at f_addr/f_access */

struct edma_chan;

/* One engine of a channel, and the operation it runs. All engine's. */
struct edma_job {
	struct edma_chan *ch;	/* immutable */
	uint8_t state;		/* enum edma_job_state */
	uint8_t phase;		/* enum edma_phase */
	uint8_t opcode;
	uint8_t backward;	/* MEMMOVE copying from the end */
	uint8_t ovf;		/* its request overflowed the PRQ */
	uint8_t write_cr;	/* a completion record is wanted and valid */
	uint16_t flags;		/* USVA_DMA_OP_F_* */
	uint16_t idx;		/* ring index */
	uint16_t grpid;		/* group index held, or EDMA_GRP_NONE */
	uint32_t pasid;
	uint32_t succ;		/* SUCCESS responses for page fpage */
	uint64_t src, dst, len, pattern, cr_addr;
	uint64_t done;		/* bytes done (from the end if backward) */
	uint32_t crc;		/* running CRC32C register (not inverted) */
	uint32_t f_access;	/* the pending fault: USVA_ACCESS_* */
	uint64_t f_addr;	/* ... and its address */
	uint64_t fpage;		/* page of the fault streak (+1; 0: none) */
	struct usva_dma_cpl cpl;	/* the completion being built */
};

/* ---- channels ---------------------------------------------------------------------- */

struct edma_chan {
	/* Application side: one thread per channel. */
	uint16_t tail;		/* next index to enqueue; app */
	uint16_t reaped;	/* next index to reap; app */
	uint16_t mask;		/* immutable: nb_desc - 1 */
	uint16_t nb_desc;	/* immutable */
	struct usva_dma_op *desc;	/* immutable; slots: app writes,
					 * engine reads after sub_tail */
	struct usva_dma_cpl *cpl;	/* immutable; slots: engine writes,
					 * app reads after done */

	/* Published by submit (release), read by the engine (acquire). */
	uint16_t sub_tail __rte_cache_aligned;

	/* Published by the engine (release), read by the app (acquire). */
	uint16_t done __rte_cache_aligned;

	/* Engine side: eng_lock. */
	uint16_t fetched __rte_cache_aligned;	/* next index to fetch */
	uint16_t done_priv;	/* first index not finished */
	uint8_t live;		/* started: fetch and run */
	uint8_t stopping;	/* stop: fetch nothing more */
	uint16_t fault_mode;	/* immutable: enum usva_dma_fault_mode */
	uint32_t pasid;		/* immutable: default PASID */
	uint32_t njobs;		/* immutable: max_inflight */
	uint32_t active;	/* jobs not FREE */
	uint8_t *fin;		/* immutable; per slot: finished, not done */
	struct edma_job *jobs;	/* immutable array of njobs */
	struct usva_dma_stats st;	/* engine writes (relaxed stores);
					 * anyone reads (relaxed loads) */
	struct emu_dma *ed;	/* immutable */
};

/* ---- devices ---------------------------------------------------------------------- */

struct emu_dma {
	/* Immutable after create. */
	struct usva_iommu_dev *iodev;
	int16_t dev_id;
	bool pri;
	uint32_t pasid_width;
	uint32_t max_inflight;
	uint32_t fault_retries;
	uint64_t max_len;
	bool has_service;
	uint32_t service_id;

	/* Control path (lib/dma's lock) and eng_lock to change; the
	 * engine reads them under eng_lock. */
	uint16_t nb_vchans;
	struct edma_chan *ch[USVA_DMA_MAX_VCHANS];

	/* The engine: whoever holds it runs iterations (see the top). */
	rte_spinlock_t eng_lock;
	uint32_t ctl_waiting;	/* control calls waiting for eng_lock;
				 * atomic (relaxed: a hint) */
	uint32_t launched;	/* an lcore runs the engine; control path
				 * writes, anyone reads (acquire) */
	uint32_t halt;		/* tell the lcore to return; atomic */
	unsigned int lcore;	/* control path */
	uint8_t forcing;	/* eng_lock: stop's wait is over, faults
				 * end at once */
	uint32_t parked;	/* eng_lock writes (relaxed); anyone reads */
	uint32_t work;		/* eng_lock: ops ended this iteration */

	/* Group indexes, eng_lock. An index is free, owned by a job, or
	 * orphaned (its job ended; the response is still due). */
	uint16_t grp_nfree;
	uint16_t grp_free[EDMA_NGRP];
	uint8_t grp_used[EDMA_NGRP];
	struct edma_job *grp_job[EDMA_NGRP];	/* NULL: orphaned */
	struct usva_emu_prg_resp resp[EDMA_RESP_BURST];
};

/* ---- counters: engine writes, anyone reads ---------------------------------------- */

static inline void
edma_stat_add(uint64_t *c, uint64_t n)
{
	/* Relaxed: a single writer (the eng_lock holder) and torn-free
	 * readers; nothing is ordered by a counter. */
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static inline void
edma_parked_add(struct emu_dma *ed, int n)
{
	/* Relaxed: as edma_stat_add(). */
	__atomic_store_n(&ed->parked, ed->parked + n, __ATOMIC_RELAXED);
}

/* ---- emu_dma_main.c ---------------------------------------------------------------- */

struct emu_dma *emu_dma_of(int16_t dev_id);
void emu_dma_eng_lock(struct emu_dma *ed);
void emu_dma_eng_unlock(struct emu_dma *ed);

/* ---- emu_dma_ring.c ------------------------------------------------------------------ */

int emu_dma_enqueue(void *ctx, uint16_t vchan, const struct usva_dma_op *op);
int emu_dma_submit(void *ctx, uint16_t vchan);
uint16_t emu_dma_completed(void *ctx, uint16_t vchan, uint16_t nb,
			   uint16_t *last_idx, bool *has_error);
uint16_t emu_dma_completed_status(void *ctx, uint16_t vchan, uint16_t nb,
				  uint16_t *last_idx, struct usva_dma_cpl *cpl);
uint16_t emu_dma_burst_capacity(void *ctx, uint16_t vchan);
struct edma_chan *emu_dma_chan_alloc(struct emu_dma *ed,
				     const struct usva_dma_vchan_conf *c);
void emu_dma_chan_free(struct edma_chan *ch);
void emu_dma_chan_reset(struct edma_chan *ch);
void emu_dma_chan_publish(struct edma_chan *ch);
uint32_t emu_dma_chan_drop_queued(struct edma_chan *ch);

/* ---- emu_dma_engine.c ---------------------------------------------------------------- */

int emu_dma_iterate(struct emu_dma *ed);
void emu_dma_stop_drain(struct emu_dma *ed);
unsigned int emu_dma_job_run(struct edma_job *j);
unsigned int emu_dma_job_fail(struct edma_job *j, uint16_t status);
void emu_dma_job_set_fault(struct edma_job *j, uint16_t status);

/* ---- emu_dma_ops.c ---------------------------------------------------------------------- */

int emu_dma_op_step(struct emu_dma *ed, struct edma_job *j);
/* Order the engine's streamed (non-temporal) writes before later stores. */
void emu_dma_wmb(void);
int emu_dma_cr_write(struct emu_dma *ed, struct edma_job *j);
uint32_t emu_dma_crc32c(uint32_t crc, const void *buf, uint64_t len);

/* ---- emu_dma_fault.c ------------------------------------------------------------------ */

void emu_dma_grp_init(struct emu_dma *ed);
unsigned int emu_dma_fault(struct edma_job *j);
unsigned int emu_dma_request(struct edma_job *j);
unsigned int emu_dma_responses(struct emu_dma *ed);
void emu_dma_orphan(struct edma_job *j);

#endif /* EMU_DMA_INTERNAL_H */
