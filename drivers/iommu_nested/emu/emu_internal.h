/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend internals: the software model of a nesting IOMMU with PRI.
 *
 * One `struct emu` per opened instance (iommu->priv), one `struct emu_dev`
 * per device (dev->priv), one `struct emu_domain` per nested domain
 * (dom->priv). doc/emu-model.md describes what is modelled; this header
 * says who may touch what.
 *
 * Concurrency in one paragraph. Translations, page requests, page
 * responses and the PRQ poll run on any lcore at once and take no
 * instance-wide lock. Data that control calls replace while the fast path
 * reads it (the stage-2 table, the device table, domains, the PASID table)
 * is read inside a reader section (emu_rcu_enter/exit): a per-lcore
 * counter, odd while inside. A writer publishes the new version with a
 * release store and then waits in emu_rcu_synchronize() until every lcore
 * that was inside has left, before freeing the old one. Caches (IOTLB,
 * device TLB, PASID cache) are seqcount-protected for readers and take a
 * small lock (per set, per device) for fills and invalidations. Every
 * invalidation first bumps emu->xlate_gen; a fill is only made if the
 * generation it sampled before reading any table is still current, checked
 * under the same lock the invalidation takes, so a walk that raced with an
 * invalidation can never leave a stale entry behind it.
 */
#ifndef EMU_INTERNAL_H
#define EMU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_rwlock.h>
#include <rte_spinlock.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_iommu_driver.h"
#include "usva_log.h"
#include "usva_pgtable_driver.h"

/* ---- logging ------------------------------------------------------------ */

extern int usva_logtype_iommu_emu;

#define EMU_LOG(level, fmt, ...)					\
	rte_log(RTE_LOG_##level, usva_logtype_iommu_emu,		\
		"usva.iommu.emu: " fmt "\n", ##__VA_ARGS__)

/* For anything a device (or software answering it) can trigger. */
#define EMU_LOG_RL(level, fmt, ...)					\
	do {								\
		static struct usva_ratelimit emu_rl__;			\
		uint32_t emu_sup__;					\
		if (usva_ratelimit_ok(&emu_rl__, &emu_sup__)) {		\
			if (emu_sup__)					\
				EMU_LOG(level, "%u similar lines "	\
					"suppressed", emu_sup__);	\
			EMU_LOG(level, fmt, ##__VA_ARGS__);		\
		}							\
	} while (0)

/* ---- limits and defaults -------------------------------------------------- */

#define EMU_PAGE_SHIFT		12
#define EMU_PAGE_SIZE		(UINT64_C(1) << EMU_PAGE_SHIFT)
#define EMU_GRPID_MAX		512u	/* PRI page request group index: 9 bits */
#define EMU_PRI_CAPACITY_DEF	32u
#define EMU_PRI_CAPACITY_MAX	65536u
#define EMU_PASID_CHUNK_BITS	10	/* PASID table: 1024 entries per chunk */
#define EMU_PASID_CHUNK		(1u << EMU_PASID_CHUNK_BITS)
#define EMU_POLL_BURST		32u
#define EMU_MAX_LEAF_LEVEL	3	/* 1 GiB */
#define EMU_ACCESS_MASK		(USVA_ACCESS_READ | USVA_ACCESS_WRITE | \
				 USVA_ACCESS_EXEC | USVA_ACCESS_PRIV)

enum emu_flavour {
	EMU_FLAVOUR_VTD = 0,
	EMU_FLAVOUR_SMMUV3,
};

/* Parsed open() parameters; immutable after open. */
struct emu_params {
	uint32_t flavour;
	uint32_t aw;
	uint32_t iotlb_sets;
	uint32_t iotlb_ways;
	uint32_t devtlb_entries;
	uint32_t pasid_cache_entries;
	uint32_t prq_depth;
	uint32_t event_depth;
	uint32_t pasid_width;
	/* Modelled completion latency of one invalidation call: the wait
	 * descriptor (VT-d) or CMD_SYNC (SMMUv3) round trip, and the ATS
	 * invalidate request/completion round trip added when the call
	 * names a device TLB. See emu_inval.c. */
	uint32_t inval_wait_ns;
	uint32_t ats_inval_ns;
};

/* ---- per-lcore counters ---------------------------------------------------- */

enum emu_stat {
	EMU_ST_TRANSLATIONS,
	EMU_ST_IOTLB_HITS,
	EMU_ST_IOTLB_MISSES,
	EMU_ST_DEVTLB_HITS,
	EMU_ST_PASID_CACHE_HITS,
	EMU_ST_WALKS,
	EMU_ST_PAGE_REQUESTS,
	EMU_ST_PRQ_OVERFLOW,
	EMU_ST_RESPONSES,
	EMU_ST_RESPONSES_DROPPED,
	EMU_ST_EVENTS,
	EMU_ST_EVENTS_LOST,
	EMU_ST_INVAL_ENTRIES,
	EMU_ST_INVAL_CALLS,
	EMU_ST_STALE_USES,
	EMU_ST_PRQ_IRQS,
	EMU_ST_NR
};

/* Slot RTE_MAX_LCORE is shared by threads without an lcore id. */
struct emu_lcore_stats {
	uint64_t c[EMU_ST_NR];	/* owner lcore writes; anyone reads (relaxed) */
} __rte_cache_aligned;

/* ---- reader sections ------------------------------------------------------- */

struct emu_rcu_slot {
	uint64_t ctr;		/* written by its lcore only; odd while inside */
	uint32_t depth;		/* its lcore's only: sections open, nested */
} __rte_cache_aligned;

/* ---- stage 2 ---------------------------------------------------------------- */

/* One IOAS mapping. Immutable once published, except @dead. */
struct emu_s2_map {
	uint64_t iova;
	uint64_t len;
	uint64_t va;		/* process address of @iova */
	uint32_t prot;		/* USVA_S2_* */
	uint32_t dead;		/* atomic: set by s2_unmap, before the flush */
};

/* Sorted, non-overlapping; replaced whole (copy on write) by s2_map. */
struct emu_s2_tab {
	uint32_t n;
	uint32_t pad;
	struct emu_s2_map m[];
};

/* ---- translation caches ------------------------------------------------------- */

#define EMU_TLBE_CLEAN	(1u << 0)	/* a write must walk (to set dirty) */

/*
 * One cached translation: a block of 4 KiB, 2 MiB or 1 GiB of input
 * addresses, tagged by (domain id, PASID, input page, size). The device TLB
 * uses the same entry with domain id 0. Fields are written under the set's
 * lock inside a seqcount write section and read with relaxed atomics.
 */
struct emu_tlbe {
	uint64_t vpn;		/* tag: input address >> level shift */
	uint64_t id;		/* tag: did << 32 | pasid */
	uint64_t host;		/* process address of the block's first byte */
	uint64_t va_last;	/* last input address contiguous with this
				 * block (end of the leaf and of the stage-2
				 * mapping) */
	uint64_t oa;		/* stage-1 output (IOVA) of the block */
	uint8_t level;		/* tag: 1..3; 0: invalid */
	uint8_t s1prot;		/* USVA_PROT_*: effective over the walk */
	uint8_t s2prot;		/* USVA_S2_* of the output's mapping */
	uint8_t flags;		/* EMU_TLBE_* */
	uint32_t pad;
};

struct emu_tlb_set {
	uint32_t seq;		/* seqcount: odd while written; lock held */
	rte_spinlock_t lock;	/* fills and invalidations of this set */
	uint32_t victim;	/* lock: next way to replace (round robin) */
	uint32_t pad;
	struct emu_tlbe e[];	/* ways */
};

/* A set-associative TLB: the IOTLB, or one device TLB. */
struct emu_tlb {
	uint32_t nsets;		/* immutable; power of two */
	uint32_t ways;		/* immutable */
	uint32_t set_bits;	/* immutable: log2(nsets) */
	uint32_t stride;	/* immutable: bytes per set */
	uint32_t levels_seen;	/* atomic, sticky: bit L if a level-L entry
				 * was ever filled (skips useless probes) */
	uint32_t pad;
	uint8_t *mem;		/* immutable */
};

/* What an invalidation removes from a TLB. */
#define EMU_K_DID	(1u << 0)
#define EMU_K_PASID	(1u << 1)
#define EMU_K_RANGE	(1u << 2)

struct emu_tlb_key {
	uint32_t match;		/* EMU_K_*; 0: everything */
	uint32_t did;
	uint32_t pasid;
	uint32_t pad;
	uint64_t first;		/* EMU_K_RANGE: inclusive input range */
	uint64_t last;
};

/* emu_pce.flags: how the context's stage-1 faults behave. */
#define EMU_PCE_STALL		(1u << 0)	/* stall (CD.S, stall device) */
#define EMU_PCE_EPD0		(1u << 1)	/* no walk: a miss is a
						 * translation fault (CD.EPD0) */
#define EMU_PCE_AFFD		(1u << 2)	/* AF = 0 is no fault (CD.AFFD) */
#define EMU_PCE_NO_RECORD	(1u << 3)	/* terminated faults raise no
						 * event (CD.R = 0) */

/*
 * A PASID-cache entry: the PASID-table entry as the walker needs it; for a
 * device with a whole PASID table, the decoded context descriptor (the
 * model's CD cache).
 */
struct emu_pce {
	uint32_t seq;		/* seqcount; emu_dev.pc_lock held to write */
	uint32_t valid;
	uint32_t pasid;
	uint32_t did;		/* IOTLB tag: domain id, or the table's VMID */
	uint64_t root;		/* stage-1 root IOVA */
	const struct usva_pgtable_fmt_ops *fmt;
	struct usva_pgtable_geometry geo;
	uint32_t tag;		/* IOTLB tag: the PASID, or the CD's ASID */
	uint32_t flags;		/* EMU_PCE_* */
	uint32_t pad;
};

/* ---- domains, devices ------------------------------------------------------------ */

/* dom->priv. Immutable after domain_init. */
struct emu_domain {
	const struct usva_pgtable_fmt_ops *fmt;
	struct usva_pgtable_geometry geo;
};

/*
 * A whole PASID table attached to a device (SMMUv3 STE stage-1 fields).
 * Immutable once published in emu_dev.cdtab; replaced whole, freed after a
 * grace period.
 */
struct emu_cdtab {
	uint64_t base;		/* S1ContextPtr: table IOVA */
	uint32_t config;	/* enum usva_pasid_table_mode */
	uint32_t cdmax;		/* S1CDMax: PASID bits */
	uint32_t split;		/* 0: linear; else L2 index bits (6, 10) */
	uint32_t s1dss;		/* enum usva_smmuv3_s1dss */
	uint32_t vmid;		/* IOTLB domain-id tag of its translations */
	uint32_t pad;
};

/* IOTLB domain ids of PASID tables: fresh per attach, above every domain
 * id lib/iommu hands out (they count up from 1). */
#define EMU_VMID_BASE		UINT32_C(0x80000000)

/* Internal outcome of finding a context: stage 1 bypassed, use stage 2. */
#define EMU_XLATE_S1_BYPASS	0x100u

/* One PASID-table entry. */
struct emu_pasid_ent {
	struct usva_domain *dom; /* atomic; dev->lock to write: one store
				  * for attach, replace and detach */
	uint32_t gen;		/* atomic; dev->lock: bumped by each attach of
				 * an empty entry (a new life of the PASID) */
	uint32_t pad;
};

/* ---- PRQ and response ring elements ------------------------------------------------ */

struct emu_prq_elem {
	struct usva_page_req req;
	uint32_t gslot;		/* group slot in the device */
	uint32_t gseq;		/* its seq when queued: stale if it moved */
};

struct emu_resp_elem {
	struct usva_emu_prg_resp r;
	uint32_t nreq;		/* credits the device gets back */
	uint32_t pad;
};

enum emu_grp_state {
	EMU_GRP_FREE = 0,
	EMU_GRP_OPEN,		/* requests seen, not the last one */
	EMU_GRP_COMPLETE,	/* last request seen; waits for a response */
};

/* An outstanding page request group. All fields: emu_dev.grp_lock. One
 * cache line. */
struct emu_group {
	uint32_t state;		/* enum emu_grp_state */
	uint32_t pasid;
	uint32_t grpid;
	uint32_t pasid_gen;	/* emu_pasid_ent.gen when the group opened */
	uint32_t nreq;		/* requests in the group */
	uint32_t last_cookie;	/* cookie of the last request */
	uint32_t flags;		/* USVA_PREQ_F_PRIV_DATA if @priv is valid;
				 * USVA_PREQ_F_STALL: a stalled transaction
				 * (its group index is its stall tag) */
	uint32_t next;		/* bucket chain or free list; UINT32_MAX: end */
	uint32_t pad[2];
	/* The PASID-table entry of (device, PASID): chunks live as long as
	 * the device, so responses check the generation without a lookup. */
	struct emu_pasid_ent *ent;
	uint64_t priv[2];	/* private data to echo */
};
_Static_assert(sizeof(struct emu_group) == 64, "a group is one cache line");

/*
 * The device's response ring: single producer (every producer holds the
 * device's grp_lock), single consumer (the device,
 * usva_emu_dev_responses()). Never full: it holds at most the device's
 * outstanding requests (credits), which pri_capacity bounds.
 */
struct emu_resp_ring {
	uint32_t mask;			/* immutable: slots - 1 */
	uint32_t cap;			/* immutable: pri_capacity */
	uint32_t prod __rte_cache_aligned;	/* grp_lock; release */
	uint32_t cons __rte_cache_aligned;	/* the consumer; release */
	struct emu_resp_elem e[] __rte_cache_aligned;
};

/* dev->priv. */
struct emu_dev {
	struct usva_iommu_dev *dev;	/* immutable */
	struct emu *emu;		/* immutable */
	uint32_t id;			/* immutable: dev->info.id */
	uint32_t flags;			/* immutable: USVA_DEV_F_* */
	uint32_t pasid_width;		/* immutable */
	uint32_t pri_capacity;		/* immutable */

	/* PASID table: a directory of lazily allocated chunks. */
	struct emu_pasid_ent **pasid_dir; /* immutable pointer; slots atomic,
					   * written under dev->lock */
	uint32_t dir_entries;		/* immutable */

	/* Whole PASID table (emu_cdtab.c): set instead of PASID entries. */
	struct emu_cdtab *cdtab;	/* atomic; dev->lock to replace; read
					 * inside a reader section */
	uint32_t cdt_bits;		/* atomic: its cdmax, for page requests
					 * (outside reader sections) */
	/* Stands for every PASID of the table in page-request groups: dom
	 * non-NULL while a table is attached, gen bumped by each attach
	 * after a detach (a new life). */
	struct emu_pasid_ent cdt_ent;

	/* PASID cache: direct mapped by PASID. */
	rte_spinlock_t pc_lock;		/* fills and invalidations */
	uint32_t pc_mask;		/* immutable */
	struct emu_pce *pc;		/* immutable pointer */

	/* ATS device TLB; mem == NULL without ATS. */
	struct emu_tlb devtlb;

	/* PRI. */
	uint32_t pri_enabled;		/* atomic; written under grp_lock */
	uint32_t outstanding;		/* atomic: requests whose group the
					 * device has not seen answered yet
					 * (incremented under grp_lock,
					 * decremented by the consumer) */
	rte_spinlock_t grp_lock;	/* the group table below */
	uint32_t ngroups;		/* grp_lock; read atomically */
	uint32_t free_head;		/* grp_lock */
	uint32_t next_cookie;		/* grp_lock */
	struct emu_group *groups;	/* immutable pointer: pri_capacity */
	/* Sequence number of each group slot, bumped (release) each time the
	 * slot is freed; prq_poll reads it without the lock. Apart from the
	 * groups so that the poller never reads the line the answerer of the
	 * group writes (they may be different lcores). */
	uint32_t *grp_seq;		/* immutable pointer: pri_capacity */
	/* Group lookup: chains hashed by (PASID, group index), about one
	 * group per bucket (buckets >= pri_capacity). */
	uint32_t *grp_head;		/* immutable pointer; grp_lock */
	uint32_t grp_hshift;		/* immutable: 64 - log2(buckets) */
	struct emu_resp_ring *resp;	/* see struct emu_resp_ring */
};

/* Device lookup by id for the fast path (responses, poll). */
struct emu_devtab {
	uint32_t n;
	uint32_t pad;
	struct {
		uint32_t id;
		struct emu_dev *ed;
	} e[];			/* sorted by id */
};

/* ---- the instance -------------------------------------------------------------------- */

struct emu {
	struct usva_iommu *iommu;	/* immutable */
	struct emu_params p;		/* immutable */
	const struct usva_pgtable_fmt_ops *fmt;	/* immutable: flavour's */
	bool strict;			/* immutable: USVA_IOMMU_F_STRICT */
	/* immutable: a privileged fetch from a USER page faults (smmuv3:
	 * execute belongs to the page's privilege, PXN on user pages). */
	bool user_pxn;

	/* Reader sections. */
	struct emu_rcu_slot *rcu;	/* immutable pointer: RTE_MAX_LCORE */
	rte_rwlock_t rcu_foreign;	/* readers without an lcore id hold
					 * it shared; writers cycle it */

	/* Bumped (release) by every invalidation before it flushes. */
	uint64_t xlate_gen;		/* atomic */
	uint32_t next_vmid;		/* atomic: PASID-table VMIDs handed out */
	/* Control-side changes (invalidation, attach, s2_unmap) running:
	 * the strict checker does not report uses that overlap one. */
	uint32_t inval_active;		/* atomic */

	/* Stage 2. */
	rte_spinlock_t s2_lock;		/* serialises s2_map/s2_unmap */
	struct emu_s2_tab *s2;		/* atomic; s2_lock to replace */

	/* Devices. */
	rte_spinlock_t devs_lock;	/* serialises devtab updates */
	struct emu_devtab *devtab;	/* atomic; devs_lock to replace */

	struct emu_tlb iotlb;		/* sets lock themselves */

	/* Page requests. */
	struct rte_ring *prq;		/* MP (devices) / SC (prq_poll) */
	int prq_fd;			/* immutable: page-request interrupt */
	uint32_t prq_armed;		/* atomic: the poller sleeps on prq_fd */
	uint64_t prq_ovf_event_tsc;	/* atomic: last overflow event */

	/* Unrecoverable events. */
	struct rte_ring *events;	/* MP / MC */
	int event_fd;			/* immutable */

	/* Invalidation queue (one per instance, as hardware has). */
	rte_spinlock_t inval_lock;	/* the fields below; one batch at once */
	uint32_t inval_fail_nth;	/* inval_lock: 0 disarmed */
	int32_t inval_fail_err;		/* inval_lock */
	uint32_t inval_count;		/* inval_lock: entries since armed */

	struct emu_lcore_stats *stats;	/* immutable pointer: MAX_LCORE + 1 */
};

extern const struct usva_iommu_ops emu_ops;

/* ---- small helpers ----------------------------------------------------------------------- */

static inline struct emu *
emu_of(const struct usva_iommu *iommu)
{
	return iommu->priv;
}

/* The emu part of @dev, or NULL if @dev is not an emu device. */
static inline struct emu_dev *
emu_dev_get(struct usva_iommu_dev *dev)
{
	if (unlikely(dev == NULL || dev->iommu == NULL ||
		     dev->iommu->ops != &emu_ops))
		return NULL;
	return dev->priv;
}

static inline uint64_t
emu_level_size(unsigned int level)
{
	return UINT64_C(1) << usva_pt_level_shift(level);
}

/* TLB tag of (domain id, PASID); device TLBs use domain id 0. */
static inline uint64_t
emu_tlb_id(uint32_t did, uint32_t pasid)
{
	return (uint64_t)did << 32 | pasid;
}

static inline void
emu_stat_add(struct emu *e, enum emu_stat idx, uint64_t v)
{
	unsigned int id = rte_lcore_id();

	if (likely(id < RTE_MAX_LCORE)) {
		uint64_t *c = &e->stats[id].c[idx];

		/* Single writer (this lcore): no locked RMW needed; the
		 * atomic store keeps the summing reader's load whole. */
		__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v,
				 __ATOMIC_RELAXED);
	} else {
		/* Shared by every thread without an lcore id. */
		__atomic_fetch_add(&e->stats[RTE_MAX_LCORE].c[idx], v,
				   __ATOMIC_RELAXED);
	}
}

static inline void
emu_stat_inc(struct emu *e, enum emu_stat idx)
{
	emu_stat_add(e, idx, 1);
}

/*
 * Enter a reader section: until emu_rcu_exit(), nothing published with
 * emu_rcu_synchronize() (stage-2 tables, the device table, domains) that
 * this lcore can still reach is freed, and no s2_unmap() returns while a
 * DMA made inside the section may still touch the memory it unmapped.
 * On an lcore, sections nest (a device's DMA section around translations
 * that open their own); without an lcore id they must not. No lock a
 * writer holds while synchronising may be taken inside one.
 */
static inline void
emu_rcu_enter(struct emu *e)
{
	unsigned int id = rte_lcore_id();

	if (likely(id < RTE_MAX_LCORE)) {
		struct emu_rcu_slot *s = &e->rcu[id];

		if (s->depth++ != 0)
			return;		/* the outer section covers us */
		__atomic_store_n(&s->ctr,
				 __atomic_load_n(&s->ctr, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
		/*
		 * Store-load barrier: the odd count must be visible before
		 * this lcore loads any published pointer. Pairs with the
		 * fence in emu_rcu_synchronize() (Dekker): either the writer
		 * sees us inside, or we see its new pointer.
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	} else {
		rte_rwlock_read_lock(&e->rcu_foreign);
	}
}

static inline void
emu_rcu_exit(struct emu *e)
{
	unsigned int id = rte_lcore_id();

	if (likely(id < RTE_MAX_LCORE)) {
		struct emu_rcu_slot *s = &e->rcu[id];

		if (--s->depth != 0)
			return;
		/* Release: every read (and DMA copy) of the section is done
		 * before a writer can see the count even. */
		__atomic_store_n(&s->ctr,
				 __atomic_load_n(&s->ctr, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELEASE);
	} else {
		rte_rwlock_read_unlock(&e->rcu_foreign);
	}
}

/* Wait until every reader section open at the call has ended. */
void emu_rcu_synchronize(struct emu *e);

/*
 * Call @p fn for every device of @p e, inside a reader section, so a
 * device being closed is either seen whole or not at all.
 */
void emu_for_each_dev(struct emu *e, void (*fn)(struct emu_dev *ed, void *arg),
		      void *arg);
/* Page-request interrupt (emu_prq.c). */
int emu_prq_arm(void *ctx);
void emu_prq_signal(struct emu *e);
int emu_prq_fd(struct usva_iommu *iommu);

/* emu_for_each_dev() callback: PASID-cache entries of domain id *did. */
void emu_pc_inval_did_cb(struct emu_dev *ed, void *did);

/* Bump the invalidation generation; call before flushing any cache. */
static inline void
emu_gen_bump(struct emu *e)
{
	/* Release: a walker that reads the new value (acquire) also sees
	 * the table and PASID-entry stores made before this invalidation. */
	__atomic_fetch_add(&e->xlate_gen, 1, __ATOMIC_RELEASE);
}

/*
 * Bracket a control-side change of what caches may hold (invalidation,
 * PASID-entry change, stage-2 unmap): between the two, and for any
 * translation that started before the end, the strict checker keeps quiet
 * — the change in flight is what removes the stale entry. Sequentially
 * consistent: a checker that sees any effect of the change sees the count
 * or the generation move.
 */
static inline void
emu_inval_begin(struct emu *e)
{
	__atomic_fetch_add(&e->inval_active, 1, __ATOMIC_SEQ_CST);
	emu_gen_bump(e);
}

static inline void
emu_inval_end(struct emu *e)
{
	emu_gen_bump(e);
	__atomic_fetch_sub(&e->inval_active, 1, __ATOMIC_SEQ_CST);
}

/* PASID-table entry of @pasid, or NULL if its chunk was never allocated. */
static inline struct emu_pasid_ent *
emu_pasid_ent(const struct emu_dev *ed, uint32_t pasid)
{
	struct emu_pasid_ent *chunk;

	if (ed->pasid_dir == NULL || pasid >> ed->pasid_width)
		return NULL;
	/* Acquire: pairs with the release that published a zeroed chunk. */
	chunk = __atomic_load_n(&ed->pasid_dir[pasid >> EMU_PASID_CHUNK_BITS],
				__ATOMIC_ACQUIRE);
	return chunk ? &chunk[pasid & (EMU_PASID_CHUNK - 1)] : NULL;
}

/* Device by id; inside a reader section. NULL if none. */
struct emu_dev *emu_devtab_find(struct emu *e, uint32_t id);

/* ---- emu_main.c ----------------------------------------------------------------------------- */

void emu_event(struct emu *e, uint32_t type, uint32_t dev_id, uint32_t pasid,
	       uint32_t access, uint64_t addr);
struct rte_ring *emu_ring_create(const char *name, unsigned int esize,
				 unsigned int count, unsigned int flags);
int emu_devtab_insert(struct emu *e, struct emu_dev *ed);
void emu_devtab_remove(struct emu *e, struct emu_dev *ed);

/* ---- emu_s2.c -------------------------------------------------------------------------------- */

int emu_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va,
	       uint64_t len, uint32_t prot);
int emu_s2_unmap(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
		 uint64_t *unmapped);
void emu_s2_fini(struct emu *e);

/* Mapping holding @iova in @t, or NULL; inside a reader section. */
static inline const struct emu_s2_map *
emu_s2_find(const struct emu_s2_tab *t, uint64_t iova)
{
	uint32_t lo = 0, hi;

	if (t == NULL)
		return NULL;
	hi = t->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct emu_s2_map *m = &t->m[mid];

		if (iova < m->iova)
			hi = mid;
		else if (iova - m->iova >= m->len)
			lo = mid + 1;
		else
			return __atomic_load_n(&m->dead, __ATOMIC_RELAXED) ?
			       NULL : m;
	}
	return NULL;
}

/* ---- emu_cache.c --------------------------------------------------------------------------------- */

int emu_tlb_init(struct emu_tlb *tlb, uint32_t nsets, uint32_t ways);
void emu_tlb_fini(struct emu_tlb *tlb);
bool emu_tlb_lookup(const struct emu_tlb *tlb, uint32_t did, uint32_t pasid,
		    uint64_t va, struct emu_tlbe *out);
void emu_tlb_fill(struct emu *e, struct emu_tlb *tlb,
		  const struct emu_tlbe *n, uint64_t gen);
void emu_tlb_inval(struct emu_tlb *tlb, const struct emu_tlb_key *k);

bool emu_pc_lookup(struct emu_dev *ed, uint32_t pasid, struct emu_pce *out);
void emu_pc_fill(struct emu *e, struct emu_dev *ed, const struct emu_pce *n,
		 uint64_t gen);
/* Invalidate the entry of @pasid, or (all) every entry; or by domain. */
void emu_pc_inval(struct emu_dev *ed, uint32_t pasid, bool all);
void emu_pc_inval_did(struct emu_dev *ed, uint32_t did);

/* Flush (dev, pasid) everywhere, as a PASID teardown does. */
void emu_flush_pasid(struct emu_dev *ed, uint32_t pasid, uint32_t did);
/* Flush every IOTLB and device TLB entry (stage-2 change). */
void emu_flush_all_tlbs(struct emu *e);

/* ---- emu_dev.c ------------------------------------------------------------------------------------- */

int emu_dev_open(struct usva_iommu_dev *dev, const struct usva_dev_config *cfg);
void emu_dev_close(struct usva_iommu_dev *dev);
int emu_domain_init(struct usva_domain *dom);
void emu_domain_fini(struct usva_domain *dom);
int emu_attach(struct usva_iommu_dev *dev, uint32_t pasid,
	       struct usva_domain *dom, struct usva_domain *old);
void emu_detach(struct usva_iommu_dev *dev, uint32_t pasid,
		struct usva_domain *dom);
/* Fill @pce from the PASID table; inside a reader section. */
bool emu_pce_from_table(struct emu_dev *ed, uint32_t pasid,
			struct emu_pce *pce);
/*
 * The same, with why not: USVA_EMU_OK, EMU_XLATE_S1_BYPASS (a PASID table
 * says stage 2 only), or a fault reason (*@p fault_iova: the IOVA of a
 * stage-2 fault). Inside a reader section.
 */
uint32_t emu_pce_load(struct emu_dev *ed, uint32_t pasid, struct emu_pce *pce,
		      uint64_t *fault_iova);

/* ---- emu_prq.c -------------------------------------------------------------------------------------- */

int emu_prq_dev_init(struct emu_dev *ed);
void emu_prq_dev_fini(struct emu_dev *ed);
/* Answer every group of (ed, pasid) INVALID (detach). */
void emu_prq_detach(struct emu_dev *ed, uint32_t pasid);
/* Answer every group of the device INVALID (PASID-table detach). */
void emu_prq_detach_all(struct emu_dev *ed);
/* Groups, for the stall model (emu_stall.c); grp_lock held. */
struct emu_group *emu_grp_alloc(struct emu_dev *ed, struct emu_pasid_ent *ent,
				uint32_t pasid, uint32_t grpid, uint32_t gen);
struct emu_group *emu_grp_find_link(struct emu_dev *ed, uint32_t pasid,
				    uint32_t grpid, uint32_t **link);
void emu_grp_answer_link(struct emu_dev *ed, struct emu_group *g,
			 uint32_t *link, uint16_t code);
/* Free a group that was never delivered, without a response. */
void emu_grp_drop(struct emu_dev *ed, struct emu_group *g);
/* At most one PRQ_OVERFLOW event per millisecond per instance (@stall: a
 * stall that could not be recorded). */
void emu_prq_overflow_event(struct emu *e, struct emu_dev *ed, uint32_t pasid,
			    uint32_t perm, uint64_t addr, bool stall);
uint16_t emu_prq_poll(void *ctx, struct usva_page_req *reqs, uint16_t n);
uint16_t emu_page_respond(void *ctx, const struct usva_page_resp *resp,
			  uint16_t n);

/* ---- emu_inval.c ------------------------------------------------------------------------------------- */

int emu_invalidate(struct usva_iommu *iommu, const struct usva_inval_entry *e,
		   uint32_t n, int32_t *status);

/* ---- emu_cdtab.c: whole PASID tables (SMMUv3 CD tables) ---------------------------------------------- */

int emu_attach_pasid_table(struct usva_iommu_dev *dev,
			   const struct usva_pasid_table_config *cfg,
			   const struct usva_pasid_table_config *old);
void emu_detach_pasid_table(struct usva_iommu_dev *dev);
/* The context of @p pasid in table @p t, as emu_pce_load() says. Inside a
 * reader section. */
uint32_t emu_cdtab_pce(struct emu_dev *ed, const struct emu_cdtab *t,
		       uint32_t pasid, struct emu_pce *pce,
		       uint64_t *fault_iova);

/* What emu_cdtab_iotlb_key() made of an entry. */
enum emu_cdtab_key {
	EMU_CDTAB_KEY_NONE = 0,	/* not a table device: the caller's key */
	EMU_CDTAB_KEY_SET,	/* *k now names the table's translations */
	EMU_CDTAB_KEY_SKIP,	/* nothing of it can be cached: skip */
};
/*
 * The IOTLB key of an invalidation entry naming a device with a PASID
 * table: its VMID, and the ASID (USVA_INVAL_F_ASID: the entry's; else the
 * one the PASID's CD holds now; none: every ASID). Keeps EMU_K_RANGE.
 */
enum emu_cdtab_key emu_cdtab_iotlb_key(struct emu_dev *ed,
				       const struct usva_inval_entry *en,
				       struct emu_tlb_key *k);

/* True while @p ed has a PASID table (a relaxed peek, no reader section). */
static inline bool
emu_cdtab_attached(const struct emu_dev *ed)
{
	return __atomic_load_n(&ed->cdtab, __ATOMIC_RELAXED) != NULL;
}

/* ---- emu_stall.c: the stall model ------------------------------------------------------------------------ */

/*
 * A stage-1 fault (S1_NOT_PRESENT, S1_PERM) of a context that stalls:
 * hold the transaction, queue its fault record with a stall tag. Inside a
 * reader section. @return -EAGAIN (stalled: x->stag), or -EIO (no room:
 * terminated, overflow counted).
 */
int emu_stall_fault(struct emu_dev *ed, uint32_t pasid, uint64_t va,
		    uint32_t access, uint32_t reason, struct usva_emu_xlate *x);
/* A response to a stall device: resume or terminate. grp_lock held.
 * @return NULL, or why it is dropped. */
const char *emu_stall_resume(struct emu_dev *ed,
			     const struct usva_page_resp *r);

#endif /* EMU_INTERNAL_H */
