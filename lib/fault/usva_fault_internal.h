/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal to lib/fault: the fault service's objects and the small inline
 * helpers its files share. Not installed.
 *
 * Who runs what (doc/fault-service.md has the long form):
 *
 *  - a slot is one fault lcore's share of the service: the queues it polls,
 *    the shards it owns, its group table, its rings and its counters. A slot
 *    runs on a dedicated EAL lcore, as an EAL service, or from
 *    usva_fault_service_poll(); one thread at a time.
 *  - the control path (create, add_iommu, register, unregister, destroy,
 *    stats) runs on application threads and takes svc->ctl.
 *
 * Ownership of shared fields is written next to each one as "W: who".
 */
#ifndef USVA_FAULT_INTERNAL_H
#define USVA_FAULT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <rte_common.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "usva_as.h"
#include "usva_build_config.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_log.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"

/** Log type usva.fault (registered in usva_fault.c). */
extern int usva_logtype_fault;

/* ---- limits --------------------------------------------------------------- */

#define FAULT_MAX_SERVICES	16	/* live services (token registry) */
#define FAULT_DEV_SLOTS		256	/* devices with handlers, per IOMMU */
#define FAULT_CHUNK_SHIFT	10	/* PASIDs per second-level chunk: 1024 */
#define FAULT_CHUNK_SIZE	(1u << FAULT_CHUNK_SHIFT)
#define FAULT_NR_CHUNKS							\
	(USVA_MAX_PASID_WIDTH > FAULT_CHUNK_SHIFT ?			\
	 1u << (USVA_MAX_PASID_WIDTH - FAULT_CHUNK_SHIFT) : 1u)
#define FAULT_PASID_LIMIT	(UINT64_C(1) << USVA_MAX_PASID_WIDTH)
#define FAULT_DOOMED		32	/* overflowed groups remembered per slot */
#define FAULT_MAX_BURST		1024
#define FAULT_DEFAULT_GROUPS	4096
#define FAULT_MAX_GROUPS	(1u << 20)
#define FAULT_DEFAULT_SHIFT	21
#define FAULT_MAX_PAGERS	64	/* distinct pagers with a flush op */
#define FAULT_HOMES		16384	/* address spaces placed, per service */
#define FAULT_HOME_PROBES	32	/* ... looked for on this many entries */

/* ---- group state word ------------------------------------------------------ */
/*
 * One 64-bit word per group record, changed only by compare-and-swap (or by
 * a plain atomic store where the writer is the only party allowed to touch
 * the record in that phase, as marked):
 *
 *   bits 0-2   phase
 *   bit  3     LAST seen (the request with USVA_PREQ_F_LAST was polled)
 *   bits 4-5   worst page result so far: 0 SUCCESS, 1 INVALID, 2 FAILURE
 *   bits 8-23  pages in flight (resolving, forwarded or asynchronous)
 *   bits 32-63 generation: bumped each time the record starts a new group,
 *              never 0 for a live group; tokens and forwarded requests
 *              carry it, so anything from an earlier group is recognised.
 *
 * Phases:
 *   EMPTY   never used since the last clean-up: ends a lookup probe.
 *   FREE    tombstone: reusable, a probe goes on past it.
 *   OPEN    a group waiting for pages or for its LAST request.
 *   CLOSING claimed by the one thread that will answer it; it reads the
 *           record, queues the response, then stores FREE (the table's
 *           slot) or DONE (anyone else).
 *   DONE    answered by a thread other than the table's slot; the slot
 *           turns it into FREE when it meets it (so only the slot counts
 *           its open groups, without a shared counter).
 *
 * Only the table's slot moves a record out of EMPTY/FREE/DONE, so record
 * fields are written by one thread, and read by an answerer only after it
 * won the CLOSING claim (acquire), which follows the slot's release store.
 *
 * The transition that brings (pending == 0 && LAST) is the claim: it sets
 * CLOSING in the same CAS, so exactly one thread answers a group.
 */
#define GS_EMPTY	0u
#define GS_FREE		1u
#define GS_OPEN		2u
#define GS_CLOSING	3u
#define GS_DONE		4u
#define GS_PHASE_MASK	UINT64_C(0x7)
#define GS_LAST		(UINT64_C(1) << 3)
#define GS_WORST_SHIFT	4
#define GS_WORST_MASK	(UINT64_C(0x3) << GS_WORST_SHIFT)
#define GS_PEND_SHIFT	8
#define GS_PEND_ONE	(UINT64_C(1) << GS_PEND_SHIFT)
#define GS_PEND_MAX	UINT64_C(0xffff)
#define GS_PEND_MASK	(GS_PEND_MAX << GS_PEND_SHIFT)
#define GS_GEN_SHIFT	32

/* Page / group results as ranks, worst wins. */
#define RANK_SUCCESS	0u
#define RANK_INVALID	1u
#define RANK_FAILURE	2u
/* What resolve() returns besides a rank. */
#define RES_PENDING	3u

static inline uint32_t gs_phase(uint64_t s) { return (uint32_t)(s & GS_PHASE_MASK); }
static inline uint32_t gs_gen(uint64_t s) { return (uint32_t)(s >> GS_GEN_SHIFT); }
static inline uint32_t gs_pending(uint64_t s)
{
	return (uint32_t)((s & GS_PEND_MASK) >> GS_PEND_SHIFT);
}
static inline uint32_t gs_worst(uint64_t s)
{
	return (uint32_t)((s & GS_WORST_MASK) >> GS_WORST_SHIFT);
}
static inline uint64_t gs_make(uint32_t gen, uint32_t phase)
{
	return ((uint64_t)gen << GS_GEN_SHIFT) | phase;
}
static inline uint64_t gs_with_worst(uint64_t s, uint32_t rank)
{
	if (rank > gs_worst(s))
		s = (s & ~GS_WORST_MASK) | ((uint64_t)rank << GS_WORST_SHIFT);
	return s;
}
/* Next generation of a record: never 0 (0 means "no group" in tokens). */
static inline uint32_t gen_next(uint32_t g) { return g + 1 == 0 ? 1 : g + 1; }

static inline uint16_t
rank_to_code(uint32_t rank)
{
	return rank == RANK_SUCCESS ? USVA_PAGE_RESP_SUCCESS :
	       rank == RANK_INVALID ? USVA_PAGE_RESP_INVALID :
				      USVA_PAGE_RESP_FAILURE;
}

/*
 * A group record: one cache line. Key and response fields are written by
 * the table's slot only (W: table slot) before the release store or CAS
 * that makes them matter; answerers read them after their CLOSING claim.
 */
struct fault_group {
	uint64_t state;		/* W: CAS by anyone, see above */
	uint32_t dev_id;	/* key; W: table slot, at insert */
	uint32_t pasid;		/* key */
	uint32_t grpid;		/* key */
	uint8_t iommu;		/* key: usva_iommu id */
	uint8_t pad0;
	uint16_t resp_flags;	/* W: table slot, at insert and at LAST */
	uint32_t cookie;	/* latest request's; the LAST's once seen */
	uint32_t hgen;		/* handler generation; W: table slot, insert */
	uint64_t priv[2];	/* latest request's private data */
	uint64_t ts;		/* first request's TSC (latency) */
	uint64_t deadline;	/* TSC after which the group times out */
};
_Static_assert(sizeof(struct fault_group) == 64, "group record is a line");

/* ---- forwarded requests and completions ------------------------------------ */

/*
 * A request forwarded from the slot that polled it to the slot that owns
 * its shard: 48 bytes through an MP/SC rte_ring. Two forms:
 *  - solo: a group of one request (LAST, no group open for its key), the
 *    common case. It carries everything needed to answer it, so the owner
 *    answers it itself and no group record is shared between the slots
 *    (it opens one in its own table only if the pager goes asynchronous).
 *  - grp: a request of a group open in the poller's table (gidx, ggen);
 *    the owner reports its page result there.
 * Packing: the page address's low 12 bits hold perm, flags, iommu and the
 * form; the PASID word holds the shard above the PASID's 20 bits.
 */
#define FWD_PERM_MASK	UINT64_C(0xf)		/* USVA_ACCESS_* */
#define FWD_FLAG_SHIFT	4			/* USVA_PREQ_F_* (3 bits) */
#define FWD_FLAG_MASK	UINT64_C(0x7)
#define FWD_IOMMU_SHIFT	7			/* usva_iommu id (4 bits) */
#define FWD_IOMMU_MASK	UINT64_C(0xf)
#define FWD_SOLO	(UINT64_C(1) << 11)
#define FWD_ADDR_MASK	(~UINT64_C(0xfff))
#define FWD_PASID_BITS	20
#define FWD_PASID_MASK	((1u << FWD_PASID_BITS) - 1)

_Static_assert(USVA_IOMMU_MAX <= 16, "iommu id fits 4 bits");
_Static_assert(USVA_MAX_SHARDS <= 4096, "shard fits 12 bits");
_Static_assert(USVA_MAX_PASID_WIDTH <= FWD_PASID_BITS, "PASID fits 20 bits");
_Static_assert((USVA_PREQ_F_LAST | USVA_PREQ_F_PASID | USVA_PREQ_F_PRIV_DATA)
	       <= FWD_FLAG_MASK, "request flags fit 3 bits");

struct fault_fwd {
	uint64_t addr;		/* page address | perm, flags, iommu, SOLO */
	uint64_t ts;		/* request TSC */
	uint32_t dev_id;
	uint32_t pasid_shard;	/* pasid | shard << 20 */
	union {
		struct {
			uint32_t grpid;
			uint32_t cookie;
			uint64_t priv[2];
		} solo;
		struct {
			uint32_t hgen;	/* handler generation the poller saw */
			uint32_t gidx;	/* record in the poller's table */
			uint32_t ggen;	/* its generation */
			uint32_t pslot;	/* the poller: owner of the table */
			uint64_t pad;
		} grp;
	};
};
_Static_assert(sizeof(struct fault_fwd) == 48, "forwarded element size");

/* An asynchronous completion (usva_fault_complete), to the resolving slot. */
struct fault_comp {
	uint64_t tok[2];
	int32_t result;
	uint32_t pad;
};
_Static_assert(sizeof(struct fault_comp) % 4 == 0, "ring element size");

/*
 * Token layout (struct usva_fault_token):
 *   v[0] bits 0-7   service registry index
 *        bits 8-11  slot owning the group table (the poller)
 *        bits 12-15 slot that resolved the page (gets the completion)
 *        bits 16-31 shard
 *        bits 32-63 service instance number (never 0)
 *   v[1] bits 0-31  group record index
 *        bits 32-63 group generation; 0: no group (prefetch), ignored
 */
static inline struct usva_fault_token
tok_make(uint32_t reg, uint32_t inst, uint32_t pslot, uint32_t rslot,
	 uint32_t shard, uint32_t gidx, uint32_t ggen)
{
	struct usva_fault_token t;

	t.v[0] = reg | (pslot << 8) | (rslot << 12) | ((uint64_t)shard << 16) |
		 ((uint64_t)inst << 32);
	t.v[1] = gidx | ((uint64_t)ggen << 32);
	return t;
}
#define TOK_REG(t)	((uint32_t)((t)[0] & 0xff))
#define TOK_PSLOT(t)	((uint32_t)(((t)[0] >> 8) & 0xf))
#define TOK_RSLOT(t)	((uint32_t)(((t)[0] >> 12) & 0xf))
#define TOK_SHARD(t)	((uint32_t)(((t)[0] >> 16) & 0xffff))
#define TOK_INST(t)	((uint32_t)((t)[0] >> 32))
#define TOK_GIDX(t)	((uint32_t)(t)[1])
#define TOK_GGEN(t)	((uint32_t)((t)[1] >> 32))

/* ---- handlers ---------------------------------------------------------------- */

struct usva_fault_handler {
	/* Immutable while published. */
	struct usva_fault_service *svc;
	struct usva_iommu *iommu;
	struct usva_as *as;
	struct usva_pager *pager;
	struct usva_pasid_space *pasids;
	uint64_t base;		/* pager range [base, base + len) */
	uint64_t len;
	uint64_t page_mask;	/* ~(pager page size - 1) */
	uint64_t page_size;
	uint32_t gen;		/* service-wide unique, never 0 */
	uint32_t pasid_gen;	/* usva_pasid_generation() at register; 0: n/a */
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t prefetch;
	uint16_t iommu_id;
	/* Placement of the address space (FAULT_HOME_*), cached from
	 * svc->homes by the slot that polls the handler's requests; 0: not
	 * looked up yet. W: slots (relaxed; every writer stores the same). */
	uint32_t home;
	TAILQ_ENTRY(usva_fault_handler) next;	/* W: svc->ctl */
} __rte_cache_aligned;

/* Handlers of one (IOMMU, device): a directory of PASID chunks. */
struct fault_hdev {
	uint32_t dev_id;	/* immutable */
	uint32_t nr;		/* handlers; W: svc->ctl */
	struct fault_hdev *retired_next;	/* W: svc->ctl */
	/* chunk[pasid >> 10][pasid & 1023]: published with release by
	 * register (svc->ctl), read with acquire by lookups. */
	struct usva_fault_handler **chunk[FAULT_NR_CHUNKS];
};

/* Pagers with a flush op, as fault lcores see them (RCU-replaced). */
struct fault_flushers {
	uint32_t n;
	struct usva_pager *p[FAULT_MAX_PAGERS];
};

/* ---- slots ------------------------------------------------------------------- */

struct fault_doomed {
	uint32_t dev_id;
	uint32_t pasid;
	uint32_t grpid;
	uint32_t iommu;
};

struct fault_slot_stats {
	struct usva_fault_stats st;	/* W: the slot's thread only */
} __rte_cache_aligned;

struct fault_slot {
	/* Set at create or while stopped (add_iommu); read by the slot. */
	struct usva_fault_service *svc;
	uint32_t idx;
	uint32_t lcore;			/* dedicated mode */
	int32_t service_id;		/* service-core mode, else -1 */
	uint16_t nr_queues;
	uint16_t queues[USVA_IOMMU_MAX];	/* iommu ids this slot polls */
	struct rte_ring *dispatch;	/* MP/SC: forwarded to this slot */
	struct rte_ring *comp;		/* MP/SC: completions for this slot */
	struct fault_group *groups;	/* this slot's group table */
	uint32_t gmask;			/* table size - 1 */
	int epfd;			/* interrupt mode, -1: none */
	bool prq_irq;			/* every queue has a PRQ interrupt */

	/* Working state: W: the slot's thread only. */
	uint64_t now;			/* TSC, refreshed per step */
	uint32_t open;			/* records not FREE/EMPTY */
	uint32_t scan_pos;		/* timeout and clean-up cursor */
	bool dirty;			/* table may hold non-EMPTY records */
	bool full_reclaim_done;		/* one full reclaim per iteration */
	bool explicit_poll;		/* usva_fault_service_poll() caller */
	uint32_t idle;			/* idle iterations in a row */
	uint64_t sleep_ns;		/* interrupt mode back-off */
	uint64_t next_event_tsc;
	uint64_t next_timeout_scan;	/* TSC of the next timeout pass */
	uint32_t clean_scanned;		/* records cleaned with none open */
	struct usva_page_req *reqs;	/* [burst] */
	struct fault_fwd *fwd_in;	/* [burst] dequeue buffer */
	struct fault_comp *comp_in;	/* [burst] */
	struct fault_fwd *fwd_out;	/* [nr_lcores][burst] staging */
	uint32_t *fwd_n;		/* [nr_lcores] */
	struct usva_page_resp *resp;	/* [resp_batch] */
	uint8_t *resp_iommu;		/* [resp_batch] */
	uint32_t resp_n;
	bool resp_mixed;		/* the batch holds several IOMMUs */
	/*
	 * Handler cache: the handler of the last (IOMMU, device, PASID)
	 * looked up, valid inside one iteration (the RCU read side) until
	 * the slot calls code that may unregister handlers (a pager other
	 * than the built-in anon, an event callback): hc_iommu UINT32_MAX
	 * then. hc_key: the request's dev_id and pasid words as one.
	 */
	uint32_t hc_iommu;
	uint64_t hc_key;
	struct usva_fault_handler *hc_h;
	/* Shard cache, for hc_h: the shard of granule sc_gran (page address
	 * >> shard_shift; UINT64_MAX: none) and whether this slot owns it.
	 * Voided with the handler cache. */
	uint64_t sc_gran;
	uint32_t sc_shard;
	bool sc_own;
	/*
	 * Counts of the fast path, batched: acc_n groups of one request
	 * answered SUCCESS at once in shard acc_shard (owned here), with
	 * latency bucket acc_lat (-1: no sample). Each is a request resolved
	 * and a group answered, for the slot and for the shard. Published
	 * (acc_flush) before any response reaches the backend, when the
	 * shard or bucket changes, and, in global-lock mode, before the
	 * lock is released.
	 */
	uint32_t acc_n;
	uint32_t acc_shard;
	int32_t acc_lat;
	uint32_t doomed_n;
	uint32_t doomed_head;
	struct fault_doomed doomed[FAULT_DOOMED];

	struct fault_slot_stats stats;
} __rte_cache_aligned;

/* Per-shard counters: W: the shard's owner slot (under the global lock in
 * USVA_FAULT_F_GLOBAL_LOCK mode). */
struct fault_shard {
	struct usva_fault_stats st;
} __rte_cache_aligned;

/* Service-level counters bumped by non-slot threads (unregister, completers):
 * atomic adds, relaxed (counters, no ordering). */
struct fault_ctl_stats {
	uint64_t groups;
	uint64_t resp_invalid;
	uint64_t unregister_flushed;
	uint64_t stale_completions;
} __rte_cache_aligned;

struct usva_fault_service {
	/* Immutable after create. */
	struct usva_fault_config cfg;	/* with defaults filled in */
	uint32_t reg;			/* registry index */
	uint32_t inst;			/* instance number (tokens) */
	uint32_t nr_slots;
	uint32_t shard_mask;
	uint32_t shard_shift;
	uint32_t burst;
	uint32_t resp_batch;
	uint32_t gcap;			/* group records per slot */
	uint64_t timeout_tsc;
	uint64_t event_period_tsc;
	uint64_t ns_mult;		/* ns = (tsc * ns_mult) >> 32 */
	bool global_lock;
	bool service_cores;
	bool interrupt;
	uint8_t owner[USVA_MAX_SHARDS];	/* shard -> slot: shard % nr_slots */
	uint16_t slot_shards[USVA_FAULT_MAX_LCORES];	/* shards a slot owns */
	/*
	 * Where each address space's faults are resolved, decided once per
	 * address space and never changed (see fault_home_of()): open
	 * addressing on the usva_as pointer, insert-only, each entry the
	 * pointer | its FAULT_HOME_* code. W: slots (CAS); R: slots.
	 */
	uint64_t *homes;		/* [FAULT_HOMES] */
	struct rte_rcu_qsbr *rcu;	/* readers: the slots */
	struct fault_slot *slots;	/* [nr_slots] */
	struct fault_shard *shards;	/* [nr_shards] */

	/* The baseline's one lock (USVA_FAULT_F_GLOBAL_LOCK). */
	rte_spinlock_t glock __rte_cache_aligned;

	/* Control. */
	pthread_mutex_t ctl;		/* everything below */
	bool started;			/* W: ctl; R: poll (relaxed hint) */
	uint32_t stop;			/* W: ctl (release); R: slots (acquire) */
	uint32_t nr_iommus;
	struct usva_iommu *iommus[USVA_IOMMU_MAX];	/* by iommu id */
	TAILQ_HEAD(, usva_fault_handler) handlers;
	/* Event callback: W: ctl; R: slots (cb acquire, then arg). */
	usva_fault_event_cb_t event_cb;
	void *event_arg;
	/* Pagers to flush; RCU-replaced. W: ctl; R: slots (acquire). The
	 * list is one of fbuf[], the other is the spare the next update
	 * fills (after a grace period, nobody reads it). */
	struct fault_flushers *flushers;
	struct fault_flushers fbuf[2];
	/* Unregistered from a fault lcore (no grace period possible there):
	 * freed at the next unregister from elsewhere, or at destroy. */
	TAILQ_HEAD(, usva_fault_handler) retired;
	struct fault_hdev *retired_hdevs;

	struct fault_ctl_stats cstats;

	/* Handler lookup: [iommu id][dev slot], open addressing on dev_id.
	 * W: ctl (release); R: slots (acquire). */
	struct fault_hdev *hdevs[USVA_IOMMU_MAX][FAULT_DEV_SLOTS];
};

/* A removed device directory in hdevs[][]: probes go on past it. */
extern struct fault_hdev fault_hdev_tomb;

/* ---- hot-path helpers -------------------------------------------------------- */

/* Counter bump by the only writer; readers take relaxed snapshots. */
#define FSTAT_ADD(st, f, v)						\
	__atomic_store_n(&(st)->f, __atomic_load_n(&(st)->f,		\
			 __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define FSTAT_INC(st, f)	FSTAT_ADD(st, f, 1)

/*
 * Placement of an address space (struct usva_fault_handler.home):
 *  - FAULT_HOME_SPREAD: its shards are all the service's shards, hashed
 *    from (PASID, address), whatever slot polls its requests;
 *  - 1 + slot: only the shards that slot owns, so the slot that polls its
 *    requests (the one placed there) resolves them without forwarding.
 * Decided the first time a slot polls a request of the address space, for
 * the service's life: all its handlers, whatever their IOMMU, get the same
 * placement, so one slot writes a granule's leaves (usva_as.h).
 */
#define FAULT_HOME_SPREAD	0xfu
#define FAULT_HOME_MASK		UINT64_C(0xf)

/* The shard of page @p addr of PASID @p pasid in an address space placed
 * @p home (FAULT_HOME_SPREAD or 1 + slot). */
static inline uint32_t
fault_shard_home(const struct usva_fault_service *svc, uint32_t home,
		 uint32_t pasid, uint64_t addr)
{
	uint64_t h = ((addr >> svc->shard_shift) ^
		      ((uint64_t)pasid * UINT64_C(0x9e3779b97f4a7c15))) *
		     UINT64_C(0xff51afd7ed558ccd);
	uint32_t x = (uint32_t)(h >> 32), k;

	if (home == FAULT_HOME_SPREAD)
		return x & svc->shard_mask;
	/* The j-th shard of slot k is k + j * nr_slots (owner[] is
	 * shard % nr_slots); j from the hash, scaled to the slot's count. */
	k = home - 1;
	return k + svc->nr_slots *
		   (uint32_t)(((uint64_t)x * svc->slot_shards[k]) >> 32);
}

/*
 * (iommu, dev, pasid) -> handler, lock-free. The caller is inside its RCU
 * read side (a slot between quiescent reports), so what it finds stays
 * allocated until it reports. Acquire loads pair with the release stores
 * of usva_fault_register().
 */
static inline struct usva_fault_handler *
fault_handler_lookup(struct usva_fault_service *svc, uint16_t iommu,
		     uint32_t dev_id, uint32_t pasid)
{
	struct fault_hdev **tab = svc->hdevs[iommu];
	struct usva_fault_handler **chunk;
	struct fault_hdev *d = NULL;
	uint32_t i = dev_id & (FAULT_DEV_SLOTS - 1);
	uint32_t n;

	if (unlikely(pasid >= FAULT_PASID_LIMIT))
		return NULL;
	for (n = 0; n < FAULT_DEV_SLOTS; n++) {
		d = __atomic_load_n(&tab[i], __ATOMIC_ACQUIRE);
		if (d == NULL)
			return NULL;
		if (d != &fault_hdev_tomb && d->dev_id == dev_id)
			break;
		i = (i + 1) & (FAULT_DEV_SLOTS - 1);
	}
	if (unlikely(n == FAULT_DEV_SLOTS))
		return NULL;
	chunk = __atomic_load_n(&d->chunk[pasid >> FAULT_CHUNK_SHIFT],
				__ATOMIC_ACQUIRE);
	if (chunk == NULL)
		return NULL;
	return __atomic_load_n(&chunk[pasid & (FAULT_CHUNK_SIZE - 1)],
			       __ATOMIC_ACQUIRE);
}

/*
 * Claim an OPEN group whatever its pages (timeout, dead handler,
 * unregister, destroy), with code INVALID at least. @p old: its state as
 * last loaded. @p need_last: only a group whose LAST request was seen (a
 * group still missing its LAST is not answerable: the device has not
 * finished it). @return true if this thread claimed it (*@p out: the
 * CLOSING state).
 */
static inline bool
fault_group_claim_any(struct fault_group *g, uint64_t old, bool need_last,
		      uint64_t *out)
{
	uint64_t nw;

	while (gs_phase(old) == GS_OPEN && (!need_last || (old & GS_LAST))) {
		nw = gs_with_worst((old & ~GS_PHASE_MASK) | GS_CLOSING,
				   RANK_INVALID);
		/* Acquire on success: the record's fields as published by
		 * the table slot's release. */
		if (__atomic_compare_exchange_n(&g->state, &old, nw, false,
						__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
			*out = nw;
			return true;
		}
	}
	return false;
}

/* Does a leaf with USVA_PROT_* @p prot allow USVA_ACCESS_* @p perm? (A
 * leaf is always readable; an unprivileged access needs USER.) */
static inline bool
fault_prot_allows(uint32_t prot, uint32_t perm)
{
	if ((perm & USVA_ACCESS_WRITE) && !(prot & (1u << 1)))	/* WRITE */
		return false;
	if ((perm & USVA_ACCESS_EXEC) && !(prot & (1u << 2)))	/* EXEC */
		return false;
	if (!(perm & USVA_ACCESS_PRIV) && !(prot & (1u << 3)))	/* USER */
		return false;
	return true;
}

/* ---- the built-in anon pager (usva_pager_anon.c) ----------------------------- */
/*
 * Its fault is inlined into the fault lcores' loop (a direct call, no
 * token: it never goes asynchronous); the ops table is there for the rest.
 */

/* Per fault-lcore slot counters: W: that slot only (relaxed). */
struct anon_slot {
	uint64_t pages;		/* pages mapped */
	uint64_t raced;		/* found mapped: page given back */
} __rte_cache_aligned;

struct anon_priv {
	/* Immutable after create. */
	struct usva_page_pool *pool;
	struct usva_iommu *iommu;
	uint64_t page_size;
	uint64_t tag;
	uint32_t prot;
	struct anon_slot slot[USVA_FAULT_MAX_LCORES];
};

extern const struct usva_pager_ops fault_anon_ops;

/* fault_anon_map() when it found no page (@p page NULL) or the map failed
 * (@p rc). */
int fault_anon_miss(struct usva_pager *p, struct usva_as *as, uint64_t addr,
		    uint32_t perm, unsigned int slot, void *page, int rc);

/*
 * A zero page from the pool mapped at @p addr (aligned to the pool's page
 * size) in @p as, marked with the pager's tag. @return USVA_PAGER_DONE,
 * USVA_PAGER_PRESENT (mapped meanwhile, with the access asked) or -errno.
 */
static inline int
fault_anon_map(struct usva_pager *p, struct usva_as *as, uint64_t addr,
	       uint32_t perm, unsigned int slot)
{
	struct anon_priv *a = p->priv;
	void *page = usva_page_alloc(a->pool);
	uint64_t *w;
	int rc = 0;

	if (likely(page != NULL)) {
		rc = usva_as_map(as, addr, (uint64_t)(uintptr_t)page,
				 a->page_size, a->prot, 0);
		if (likely(rc == 0)) {
			w = usva_page_priv(a->pool, page);
			if (likely(w != NULL))
				*w = a->tag;
			FSTAT_INC(&a->slot[slot & (USVA_FAULT_MAX_LCORES - 1)],
				  pages);
			return USVA_PAGER_DONE;
		}
	}
	return fault_anon_miss(p, as, addr, perm, slot, page, rc);
}

/* Pager users (usva_pager.users): handlers count themselves in; destroy
 * sets the dying bit when none is left, after which no handler may. */
#define FAULT_PAGER_DYING	(1u << 31)
bool fault_pager_get(struct usva_pager *p);
void fault_pager_put(struct usva_pager *p);

/* ---- between the files ------------------------------------------------------- */

/* usva_fault_lcore.c: one iteration of a slot. @return work done. */
unsigned int fault_slot_iteration(struct fault_slot *s);
/* Idle back-off of interrupt mode (dedicated lcores). */
void fault_slot_idle(struct fault_slot *s);
/* Queue a response into the slot's batch (flushes when full). */
void fault_slot_respond(struct fault_slot *s, const struct usva_page_resp *r,
			uint8_t iommu, uint64_t ts, int32_t shard);
/* Send the slot's batch; @p must: keep trying until everything went. */
void fault_slot_flush(struct fault_slot *s, bool must);

/* Work done: leave interrupt mode's back-off. */
void fault_slot_busy(struct fault_slot *s);
/* True on a thread running one of @p svc's slots right now. */
bool fault_on_slot_thread(const struct usva_fault_service *svc);
uint32_t fault_tls_slot(void);
/* Wait until every slot left the iteration it was in (an RCU grace
 * period). From a slot's own thread, waits for the others only.
 * @return true if the caller's own slot may still hold references. */
bool fault_synchronize(struct usva_fault_service *svc);

/* usva_fault.c: the registry, for telemetry (get under the lock). */
void fault_registry_lock(void);
void fault_registry_unlock(void);
struct usva_fault_service *fault_registry_get(uint32_t idx);

/* usva_fault_group.c: slow-path walks. */
/* Answer INVALID every OPEN group of handler generation @p hgen (0: all)
 * whose LAST was seen, from a control thread; with @p hgen 0 (destroy)
 * also drop the groups still missing their LAST. @return groups answered. */
uint32_t fault_groups_flush(struct usva_fault_service *svc, uint32_t hgen);
/* Fill a response from a claimed record. */
void fault_group_resp(const struct fault_group *g, uint16_t code,
		      struct usva_page_resp *r);

/* usva_fault_handler.c */
void fault_handlers_destroy(struct usva_fault_service *svc);

/* usva_fault.c: registry of live services (tokens, telemetry). */
int fault_registry_add(struct usva_fault_service *svc);
void fault_registry_del(struct usva_fault_service *svc);

#endif /* USVA_FAULT_INTERNAL_H */
