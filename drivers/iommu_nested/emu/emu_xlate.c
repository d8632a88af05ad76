/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: translation of device accesses, and DMA through it.
 *
 * Order, as an ATS device behind a nesting IOMMU: the device TLB (ATS
 * devices only), then the PASID cache (else the PASID table), the
 * stage-1 address check, the IOTLB, and on a miss a walk of the stage-1
 * table in memory with the format's ops, every table and the output
 * translated through stage 2. The walk sets accessed/dirty bits with a
 * compare-and-swap on the entry (as the format's hw_update says), checks
 * permissions, and the result fills the IOTLB (and device TLB). Faults are
 * never cached.
 *
 * A cached translation is used as it is until invalidated, except that a
 * hit which does not allow the access (a write through a read-only or
 * still-clean entry, user access to a supervisor entry, ...) is treated as
 * a miss and walks again, as hardware re-walks before reporting a
 * permission fault or to set the dirty bit: upgrades need no invalidation,
 * downgrades do.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "emu_internal.h"
#include "usva_mem.h"

/* One walk's result. */
struct emu_walk {
	uint32_t reason;	/* enum usva_emu_fault_reason */
	uint32_t s1prot;	/* USVA_PROT_*, effective over the walk */
	uint32_t s2prot;	/* USVA_S2_* of the output's mapping */
	uint32_t level;		/* size of the block cached: 1..3 */
	uint64_t fault_iova;	/* USVA_EMU_S2_FAULT: the IOVA that missed */
	uint64_t host;		/* process address of the block */
	uint64_t oa;		/* IOVA of the block */
	uint64_t va_last;	/* last input address contiguous with it */
	bool clean;		/* a write must walk again (dirty bit) */
};

/* ---- permission checks -------------------------------------------------------- */

static inline bool
s1_perm_ok(const struct emu *e, uint32_t eff, uint32_t access)
{
	if (!(eff & USVA_PROT_READ))
		return false;
	/* A supervisor request may use a user page; a user request needs
	 * USER on every level. */
	if (!(access & USVA_ACCESS_PRIV) && !(eff & USVA_PROT_USER))
		return false;
	if ((access & USVA_ACCESS_WRITE) && !(eff & USVA_PROT_WRITE))
		return false;
	if ((access & USVA_ACCESS_EXEC) && !(eff & USVA_PROT_EXEC))
		return false;
	/*
	 * ARM: EXEC is the page's own privilege's right (the format's prot
	 * cannot say more); a user page's is UXN, and usva writes PXN on it.
	 * So a privileged fetch from a user page faults, as on the SMMU.
	 */
	if (e->user_pxn && (access & USVA_ACCESS_EXEC) &&
	    (access & USVA_ACCESS_PRIV) && (eff & USVA_PROT_USER))
		return false;
	return true;
}

static inline bool
s2_perm_ok(uint32_t s2prot, uint32_t access)
{
	return (access & USVA_ACCESS_WRITE) ? (s2prot & USVA_S2_WRITE) != 0 :
	       (s2prot & USVA_S2_READ) != 0;
}

/* What a translation grants, both stages combined (USVA_PROT_*). */
static inline uint32_t
eff_prot(uint32_t s1prot, uint32_t s2prot)
{
	uint32_t p = s1prot;

	if (!(s2prot & USVA_S2_WRITE))
		p &= ~USVA_PROT_WRITE;
	if (!(s2prot & USVA_S2_READ))
		p &= ~(USVA_PROT_READ | USVA_PROT_EXEC);
	return p;
}

static inline bool
tlbe_allows(const struct emu *e, const struct emu_tlbe *t, uint32_t access)
{
	return s1_perm_ok(e, t->s1prot, access) &&
	       s2_perm_ok(t->s2prot, access) &&
	       !((access & USVA_ACCESS_WRITE) && (t->flags & EMU_TLBE_CLEAN));
}

static inline uint64_t
tlbe_host(const struct emu_tlbe *t, uint64_t va)
{
	return t->host + (va - (t->vpn << usva_pt_level_shift(t->level)));
}

/* ---- the walker --------------------------------------------------------------------- */

static inline uint32_t
walk_fault(struct emu_walk *w, uint32_t reason, uint64_t iova)
{
	w->reason = reason;
	w->fault_iova = iova;
	return reason;
}

/*
 * Cache the largest block of the leaf that the output's stage-2 mapping
 * holds whole (hardware caches the smaller of the two stages' sizes).
 */
static void
walk_block(struct emu_walk *w, const struct emu_s2_map *m, uint64_t va,
	   uint64_t oa, unsigned int level)
{
	uint64_t leaf_size = emu_level_size(level);
	uint64_t leaf_last = (va & ~(leaf_size - 1)) + (leaf_size - 1);
	uint64_t m_last = m->iova + (m->len - 1);
	uint64_t bs, ob;
	unsigned int l;

	for (l = level; l > 1; l--) {
		bs = emu_level_size(l);
		ob = oa & ~(bs - 1);
		if (ob >= m->iova && ob + (bs - 1) <= m_last)
			break;
	}
	bs = emu_level_size(l);
	ob = oa & ~(bs - 1);
	w->level = l;
	w->oa = ob;
	w->host = m->va + (ob - m->iova);
	w->va_last = RTE_MIN(leaf_last, va + (m_last - oa));
	w->s2prot = m->prot;
}

/*
 * Walk the stage-1 table of @pc for @va. Inside a reader section.
 * @peek: the strict checker's walk: no permission check, no A/D update
 * (it computes what hardware would see, and only reports).
 * @return w->reason.
 */
static uint32_t
emu_walk(struct emu *e, const struct emu_pce *pc, uint64_t va,
	 uint32_t access, bool peek, struct emu_walk *w)
{
	const struct usva_pgtable_fmt_ops *fmt = pc->fmt;
	/* Acquire: pairs with the release publishing the IOAS array. */
	const struct emu_s2_tab *s2 = __atomic_load_n(&e->s2, __ATOMIC_ACQUIRE);
	bool write = (access & USVA_ACCESS_WRITE) != 0;
	unsigned int level = pc->geo.levels;
	uint32_t eff = USVA_PROT_ALL;
	uint64_t table = pc->root;

	w->reason = USVA_EMU_OK;
	for (;;) {
		unsigned int idx = (va >> usva_pt_level_shift(level)) &
				   (USVA_PT_ENTRIES - 1);
		uint64_t pte_iova = table + idx * sizeof(uint64_t);
		const struct emu_s2_map *m = emu_s2_find(s2, pte_iova);
		struct usva_pte_info info, after;
		uint64_t *ptep, pte, nw, oa;
		bool leaf;

		/* The table is read through stage 2, as the IOMMU does. */
		if (m == NULL || !(m->prot & USVA_S2_READ))
			return walk_fault(w, USVA_EMU_S2_FAULT, pte_iova);
		ptep = (uint64_t *)(uintptr_t)(m->va + (pte_iova - m->iova));
		/* Acquire: pairs with the release (or CAS) that installed
		 * the entry, so the table it points to is seen zeroed. */
		pte = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
		fmt->decode(pte, level, &info);
		if (info.type == USVA_PTE_NONE)
			return walk_fault(w, USVA_EMU_S1_NOT_PRESENT, 0);
		leaf = info.type == USVA_PTE_LEAF;
		if (info.type == USVA_PTE_BAD ||
		    (leaf && level > EMU_MAX_LEAF_LEVEL) ||
		    (!leaf && level == 1))
			return walk_fault(w, USVA_EMU_S1_BAD_ENTRY, 0);
		nw = fmt->hw_update(pte, level, leaf, leaf && write);
		if (leaf) {
			/* A leaf hardware may not mark accessed (ARM without
			 * HA, AF = 0): an access-flag fault, which software
			 * resolves by setting AF — treated as not present.
			 * It takes priority over permission, as on ARM. */
			fmt->decode(nw, level, &after);
			if (!(after.hw & USVA_PTE_HW_ACCESSED) &&
			    !(pc->flags & EMU_PCE_AFFD))
				return walk_fault(w, USVA_EMU_S1_NOT_PRESENT, 0);
			if (!peek && !s1_perm_ok(e, eff & info.prot, access))
				return walk_fault(w, USVA_EMU_S1_PERM, 0);
		}
		if (!peek && nw != pte) {
			/* Hardware's A/D update is a locked RMW through
			 * stage 2: it needs stage-2 write permission. */
			if (!(m->prot & USVA_S2_WRITE))
				return walk_fault(w, USVA_EMU_S2_FAULT,
						  pte_iova);
			/* Relaxed: A/D bits publish nothing else. On a lost
			 * race (software changed the entry) read it again. */
			if (!__atomic_compare_exchange_n(ptep, &pte, nw, false,
							 __ATOMIC_RELAXED,
							 __ATOMIC_RELAXED))
				continue;
		}
		eff &= info.prot;
		if (!leaf) {
			table = info.addr;
			level--;
			continue;
		}
		oa = info.addr + (va & (emu_level_size(level) - 1));
		m = emu_s2_find(s2, oa);
		if (m == NULL || (!peek && !s2_perm_ok(m->prot, access)))
			return walk_fault(w, USVA_EMU_S2_FAULT, oa);
		w->s1prot = eff;
		walk_block(w, m, va, oa, level);
		w->clean = fmt->hw_update(nw, level, true, true) != nw;
		return USVA_EMU_OK;
	}
}

/* ---- translation ------------------------------------------------------------------------ */

/* @record: raise the event (a CD with R = 0 does not record its
 * terminated translation faults). */
static int
xlate_fault_rec(struct emu_dev *ed, uint32_t pasid, uint64_t va,
		uint32_t access, uint32_t reason, uint64_t ev_addr, bool record,
		struct usva_emu_xlate *x)
{
	static const uint32_t ev_type[] = {
		[USVA_EMU_S1_NOT_PRESENT] = USVA_EVENT_S1_NOT_PRESENT,
		[USVA_EMU_S1_PERM] = USVA_EVENT_S1_PERM,
		[USVA_EMU_S1_BAD_ENTRY] = USVA_EVENT_S1_BAD_ENTRY,
		[USVA_EMU_S2_FAULT] = USVA_EVENT_S2_FAULT,
		[USVA_EMU_BAD_PASID] = USVA_EVENT_BAD_PASID,
		/* No event type of its own: a malformed input address. */
		[USVA_EMU_NON_CANONICAL] = USVA_EVENT_NON_CANONICAL,
		[USVA_EMU_BAD_CD] = USVA_EVENT_BAD_CD,
		/* A PASID table in ABORT mode records nothing. */
		[USVA_EMU_ABORTED] = 0,
	};

	x->host = NULL;
	x->len = 0;
	x->reason = reason;
	x->prot = 0;
	x->cached = false;
	x->stag = 0;
	/* Recoverable only for a device that can ask (PRI capable). */
	if (reason <= USVA_EMU_S1_PERM && (ed->flags & USVA_DEV_F_PRI))
		return -EFAULT;
	if (!record || ev_type[reason] == 0)
		return -EIO;
	emu_event(ed->emu, ev_type[reason], ed->id, pasid, access, ev_addr);
	EMU_LOG_RL(DEBUG, "dev %u PASID %u: fault %u at 0x%" PRIx64
		   " (access 0x%x)", ed->id, pasid, reason, ev_addr, access);
	return -EIO;
}

static int
xlate_fault(struct emu_dev *ed, uint32_t pasid, uint64_t va, uint32_t access,
	    uint32_t reason, uint64_t ev_addr, struct usva_emu_xlate *x)
{
	return xlate_fault_rec(ed, pasid, va, access, reason, ev_addr, true,
			       x);
}

/*
 * A fault of the stage-1 walk of context @p pc: a recoverable one stalls
 * if the context says so (stall device, CD.S), else as xlate_fault(), not
 * recorded if the context says so (CD.R = 0).
 */
static int
xlate_s1_fault(struct emu_dev *ed, const struct emu_pce *pc, uint32_t pasid,
	       uint64_t va, uint32_t access, const struct emu_walk *w,
	       struct usva_emu_xlate *x)
{
	bool recoverable = w->reason <= USVA_EMU_S1_PERM;

	if (recoverable && (pc->flags & EMU_PCE_STALL) &&
	    (ed->flags & USVA_DEV_F_STALL))
		return emu_stall_fault(ed, pasid, va, access, w->reason, x);
	return xlate_fault_rec(ed, pasid, va, access, w->reason,
			       w->reason == USVA_EMU_S2_FAULT ?
			       w->fault_iova : va,
			       !(recoverable && (pc->flags & EMU_PCE_NO_RECORD)),
			       x);
}

/*
 * Stage 1 bypassed (a PASID table in BYPASS mode, or S1DSS bypass for DMA
 * without a PASID): @p iova goes through stage 2 alone. Not cached (the
 * model keeps no stage-2-only TLB entries). Inside a reader section.
 */
static int
xlate_s2_only(struct emu_dev *ed, uint32_t pasid, uint64_t iova,
	      uint32_t access, struct usva_emu_xlate *x)
{
	/* Acquire: pairs with the release publishing the IOAS array. */
	const struct emu_s2_tab *s2 = __atomic_load_n(&ed->emu->s2,
						      __ATOMIC_ACQUIRE);
	const struct emu_s2_map *m = emu_s2_find(s2, iova);

	if (m == NULL || !s2_perm_ok(m->prot, access))
		return xlate_fault(ed, pasid, iova, access, USVA_EMU_S2_FAULT,
				   iova, x);
	x->host = (void *)(uintptr_t)(m->va + (iova - m->iova));
	x->len = m->len - (iova - m->iova);
	x->reason = USVA_EMU_OK;
	x->prot = eff_prot(USVA_PROT_ALL, m->prot);
	x->cached = false;
	x->stag = 0;
	return 0;
}

static inline int
xlate_from_tlbe(const struct emu_tlbe *t, uint64_t va, bool cached,
		struct usva_emu_xlate *x)
{
	x->host = (void *)(uintptr_t)tlbe_host(t, va);
	x->len = t->va_last - va + 1;
	x->reason = USVA_EMU_OK;
	x->prot = eff_prot(t->s1prot, t->s2prot);
	x->cached = cached;
	x->stag = 0;
	return 0;
}

static void
tlbe_from_walk(struct emu_tlbe *t, const struct emu_walk *w, uint32_t did,
	       uint32_t pasid, uint64_t va)
{
	t->vpn = va >> usva_pt_level_shift(w->level);
	t->id = emu_tlb_id(did, pasid);
	t->host = w->host;
	t->va_last = w->va_last;
	t->oa = w->oa;
	t->level = (uint8_t)w->level;
	t->s1prot = (uint8_t)w->s1prot;
	t->s2prot = (uint8_t)w->s2prot;
	t->flags = w->clean ? EMU_TLBE_CLEAN : 0;
	t->pad = 0;
}

/*
 * Strict checker: compare what a cache served with what the tables say
 * now (re-walked without touching A/D bits). A difference is a stale use:
 * counted and reported; the stale translation is still served, as
 * hardware would. Rights the tables have gained are not stale. A use that
 * overlapped a control-side change (one is running, see emu_inval_begin(),
 * or the generation moved since @gen) is not reported: the change in
 * flight is what removes the stale entry.
 */
static void
emu_strict(struct emu_dev *ed, uint32_t pasid, uint64_t va, uint32_t access,
	   const struct emu_pce *pc, const struct emu_tlbe *t, bool in_rcu,
	   uint64_t gen)
{
	struct emu *e = ed->emu;
	struct emu_pce cur;
	struct emu_walk w;
	bool stale = false;

	if (!in_rcu)
		emu_rcu_enter(e);
	if (!emu_pce_from_table(ed, pasid, &cur)) {
		stale = true;
	} else if (pc != NULL && (pc->did != cur.did || pc->root != cur.root ||
				  pc->tag != cur.tag)) {
		stale = true;
	} else if (t != NULL) {
		if (cur.fmt->check_va(&cur.geo, va) != 0) {
			stale = true;
		} else {
			emu_walk(e, &cur, va, access, true, &w);
			stale = w.reason != USVA_EMU_OK ||
				w.host + (va & (emu_level_size(w.level) - 1)) !=
				tlbe_host(t, va) ||
				(eff_prot(t->s1prot, t->s2prot) &
				 ~eff_prot(w.s1prot, w.s2prot)) != 0;
		}
	}
	if (!in_rcu)
		emu_rcu_exit(e);
	/* Seq-cst: if the walk saw a change made by a control call, these
	 * see its emu_inval_begin() (see there). */
	if (!stale ||
	    __atomic_load_n(&e->inval_active, __ATOMIC_SEQ_CST) != 0 ||
	    __atomic_load_n(&e->xlate_gen, __ATOMIC_SEQ_CST) != gen)
		return;
	emu_stat_inc(e, EMU_ST_STALE_USES);
	emu_event(e, USVA_EVENT_STALE_XLATE, ed->id, pasid, access, va);
	EMU_LOG_RL(WARNING, "strict: dev %u PASID %u 0x%" PRIx64
		   ": stale cached translation used", ed->id, pasid, va);
}

/*
 * PASID cache, address check, IOTLB and walk, inside a reader section: the
 * PASID-table entry, the stage-1 root it names and the tables walked stay
 * valid until the section ends (detach and domain destruction drain it).
 */
static int
xlate_slow(struct emu_dev *ed, uint32_t pasid, uint64_t va, uint32_t access,
	   uint64_t gen, struct usva_emu_xlate *x)
{
	struct emu *e = ed->emu;
	struct emu_pce pc;
	struct emu_tlbe t;
	struct emu_walk w;
	uint64_t fault_iova = 0;
	uint32_t reason;
	bool pc_hit;

	pc_hit = emu_pc_lookup(ed, pasid, &pc);
	if (pc_hit) {
		emu_stat_inc(e, EMU_ST_PASID_CACHE_HITS);
	} else {
		reason = emu_pce_load(ed, pasid, &pc, &fault_iova);
		if (reason == EMU_XLATE_S1_BYPASS)
			return xlate_s2_only(ed, pasid, va, access, x);
		if (reason != USVA_EMU_OK)
			return xlate_fault(ed, pasid, va, access, reason,
					   reason == USVA_EMU_S2_FAULT ?
					   fault_iova : va, x);
		emu_pc_fill(e, ed, &pc, gen);
	}
	if (unlikely(pc.fmt->check_va(&pc.geo, va) != 0))
		return xlate_fault(ed, pasid, va, access,
				   USVA_EMU_NON_CANONICAL, va, x);

	if (emu_tlb_lookup(&e->iotlb, pc.did, pc.tag, va, &t) &&
	    tlbe_allows(e, &t, access)) {
		emu_stat_inc(e, EMU_ST_IOTLB_HITS);
		if (unlikely(e->strict))
			emu_strict(ed, pasid, va, access, pc_hit ? &pc : NULL,
				   &t, true, gen);
		if (ed->devtlb.mem != NULL) {
			/* ATS translation completion: the device caches it. */
			struct emu_tlbe d = t;

			d.id = emu_tlb_id(0, pasid);
			emu_tlb_fill(e, &ed->devtlb, &d, gen);
		}
		return xlate_from_tlbe(&t, va, true, x);
	}
	emu_stat_inc(e, EMU_ST_IOTLB_MISSES);
	if (unlikely(e->strict) && pc_hit)
		emu_strict(ed, pasid, va, access, &pc, NULL, true, gen);

	if (unlikely(pc.flags & EMU_PCE_EPD0)) {
		/* CD.EPD0: no walk through TTB0, a miss is a translation
		 * fault. */
		w.reason = USVA_EMU_S1_NOT_PRESENT;
		return xlate_s1_fault(ed, &pc, pasid, va, access, &w, x);
	}
	emu_stat_inc(e, EMU_ST_WALKS);
	if (emu_walk(e, &pc, va, access, false, &w) != USVA_EMU_OK)
		return xlate_s1_fault(ed, &pc, pasid, va, access, &w, x);
	tlbe_from_walk(&t, &w, pc.did, pc.tag, va);
	emu_tlb_fill(e, &e->iotlb, &t, gen);
	if (ed->devtlb.mem != NULL) {
		t.id = emu_tlb_id(0, pasid);
		emu_tlb_fill(e, &ed->devtlb, &t, gen);
	}
	return xlate_from_tlbe(&t, va, false, x);
}

/*
 * PASID-cache and IOTLB hit without a reader section: cache entries hold
 * values (domain id, root, process address), nothing a control call frees.
 * Anything short of a full hit goes to xlate_slow(), which starts over.
 */
static bool
xlate_fast(struct emu_dev *ed, uint32_t pasid, uint64_t va, uint32_t access,
	   uint64_t gen, struct usva_emu_xlate *x)
{
	struct emu *e = ed->emu;
	struct emu_pce pc;
	struct emu_tlbe t;

	if (!emu_pc_lookup(ed, pasid, &pc) ||
	    pc.fmt->check_va(&pc.geo, va) != 0 ||
	    !emu_tlb_lookup(&e->iotlb, pc.did, pc.tag, va, &t) ||
	    !tlbe_allows(e, &t, access))
		return false;
	emu_stat_inc(e, EMU_ST_PASID_CACHE_HITS);
	emu_stat_inc(e, EMU_ST_IOTLB_HITS);
	if (unlikely(e->strict))
		emu_strict(ed, pasid, va, access, &pc, &t, false, gen);
	if (ed->devtlb.mem != NULL) {
		struct emu_tlbe d = t;

		d.id = emu_tlb_id(0, pasid);
		emu_tlb_fill(e, &ed->devtlb, &d, gen);
	}
	xlate_from_tlbe(&t, va, true, x);
	return true;
}

/* @in_rcu: the caller (a DMA) is inside a reader section already. */
static int
emu_xlate(struct emu_dev *ed, uint32_t pasid, uint64_t va, uint32_t access,
	  struct usva_emu_xlate *x, bool in_rcu)
{
	struct emu *e = ed->emu;
	struct emu_tlbe t;
	uint64_t gen;
	int rc;

	emu_stat_inc(e, EMU_ST_TRANSLATIONS);
	access &= EMU_ACCESS_MASK;
	/* Acquire, before any cache or table read: fills made from what we
	 * read are refused if an invalidation began since (emu_tlb_fill()). */
	gen = __atomic_load_n(&e->xlate_gen, __ATOMIC_ACQUIRE);

	/* PASID 0 would be RID_PASID (stage 2 only): not attached here,
	 * unless a PASID table says what DMA without a PASID does. */
	if (unlikely((pasid == 0 && !emu_cdtab_attached(ed)) ||
		     pasid >> ed->pasid_width))
		return xlate_fault(ed, pasid, va, access, USVA_EMU_BAD_PASID,
				   va, x);

	if (ed->devtlb.mem != NULL &&
	    emu_tlb_lookup(&ed->devtlb, 0, pasid, va, &t) &&
	    tlbe_allows(e, &t, access)) {
		emu_stat_inc(e, EMU_ST_DEVTLB_HITS);
		if (unlikely(e->strict))
			emu_strict(ed, pasid, va, access, NULL, &t, in_rcu,
				   gen);
		return xlate_from_tlbe(&t, va, true, x);
	}
	if (in_rcu)
		return xlate_slow(ed, pasid, va, access, gen, x);
	if (xlate_fast(ed, pasid, va, access, gen, x))
		return 0;
	emu_rcu_enter(e);
	rc = xlate_slow(ed, pasid, va, access, gen, x);
	emu_rcu_exit(e);
	return rc;
}

int
usva_emu_translate(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr,
		   uint32_t access, struct usva_emu_xlate *x)
{
	struct emu_dev *ed = emu_dev_get(dev);

	if (ed == NULL)
		return -ENODEV;
	return emu_xlate(ed, pasid, addr, access, x, false);
}

/* ---- DMA ------------------------------------------------------------------------------------ */

int
usva_emu_dma_begin(struct usva_iommu_dev *dev)
{
	struct emu_dev *ed = emu_dev_get(dev);

	if (ed == NULL)
		return -ENODEV;
	/* Without an lcore id the section is a shared rwlock hold, which
	 * must not nest under the translations' own. */
	if (rte_lcore_id() >= RTE_MAX_LCORE)
		return -EPERM;
	emu_rcu_enter(ed->emu);
	return 0;
}

void
usva_emu_dma_end(struct usva_iommu_dev *dev)
{
	struct emu_dev *ed = emu_dev_get(dev);

	if (ed != NULL)
		emu_rcu_exit(ed->emu);
}

enum emu_dma_op {
	EMU_DMA_READ,
	EMU_DMA_WRITE,
	EMU_DMA_COMPARE,
};

/*
 * The whole DMA runs inside one reader section: an s2_unmap() of memory it
 * touches waits until it is over, as the kernel's unmap waits for the
 * IOTLB and device-TLB invalidation to complete.
 */
static int64_t
emu_dma(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr, void *buf,
	uint64_t len, enum emu_dma_op op, struct usva_emu_dma_fault *f)
{
	struct emu_dev *ed = emu_dev_get(dev);
	uint32_t access = op == EMU_DMA_WRITE ? USVA_ACCESS_WRITE :
			  USVA_ACCESS_READ;
	uint32_t reason = USVA_EMU_OK, flags = 0, stag = 0;
	struct usva_emu_xlate x;
	uint64_t done = 0;
	int rc;

	if (ed == NULL)
		return -ENODEV;
	emu_rcu_enter(ed->emu);
	while (done < len) {
		uint8_t *b = (uint8_t *)buf + done;
		uint64_t chunk, same;

		rc = emu_xlate(ed, pasid, addr + done, access, &x, true);
		if (rc != 0) {
			reason = x.reason;
			if (rc == -EAGAIN) {
				flags = USVA_EMU_DMA_F_STALLED;
				stag = x.stag;
			}
			break;
		}
		chunk = RTE_MIN(len - done, x.len);
		if (op == EMU_DMA_READ) {
			memcpy(b, x.host, chunk);
		} else if (op == EMU_DMA_WRITE) {
			memcpy(x.host, b, chunk);
		} else {
			same = usva_mem_same_prefix(x.host, b, chunk);
			if (same < chunk) {
				done += same;
				break;
			}
		}
		done += chunk;
	}
	emu_rcu_exit(ed->emu);
	if (f != NULL) {
		f->addr = addr + done;
		f->access = access;
		f->reason = reason;
		f->flags = flags;
		f->stag = stag;
	}
	return (int64_t)done;
}

int64_t
usva_emu_dma_read(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr,
		  void *buf, uint64_t len, struct usva_emu_dma_fault *f)
{
	return emu_dma(dev, pasid, addr, buf, len, EMU_DMA_READ, f);
}

int64_t
usva_emu_dma_write(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr,
		   const void *buf, uint64_t len, struct usva_emu_dma_fault *f)
{
	return emu_dma(dev, pasid, addr, (void *)(uintptr_t)buf, len,
		       EMU_DMA_WRITE, f);
}

int64_t
usva_emu_dma_compare(struct usva_iommu_dev *dev, uint32_t pasid, uint64_t addr,
		     const void *buf, uint64_t len,
		     struct usva_emu_dma_fault *f)
{
	return emu_dma(dev, pasid, addr, (void *)(uintptr_t)buf, len,
		       EMU_DMA_COMPARE, f);
}
