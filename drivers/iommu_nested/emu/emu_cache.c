/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: translation caches.
 *
 * TLBs (the IOTLB, and each ATS device's TLB) are set associative. An entry
 * is tagged by (domain id, PASID, input page number, size); a lookup probes
 * the 4 KiB, 2 MiB and 1 GiB tags of the address, each in the set its tag
 * hashes to. Replacement is round robin per set, after free ways.
 *
 * Locking: each set has a seqcount and a spinlock. Lookups are lock-free
 * (read the ways, retry if the seqcount moved); fills and invalidations
 * take the set's lock and bump the seqcount around their stores. A fill is
 * made only if emu->xlate_gen still has the value the translation sampled
 * before reading the PASID table and the page tables: every invalidation
 * bumps it (release) before taking any set lock, so under the lock either
 * the fill comes first and the invalidation removes it, or the fill sees
 * the new generation and gives up (the translation is still returned, it is
 * just not cached).
 *
 * The PASID cache is per device and direct mapped by PASID, with the same
 * seqcount scheme per entry and one lock per device for writers.
 */
#include <errno.h>
#include <string.h>

#include "emu_internal.h"

/* ---- seqcount ------------------------------------------------------------- */

static inline void
seq_write_begin(uint32_t *seq)
{
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
	/* Release fence: the odd count is visible before any entry store;
	 * a reader that sees a store also sees the odd count on re-check. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void
seq_write_end(uint32_t *seq)
{
	/* Release: the entry stores before the even count. */
	__atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

static inline uint32_t
seq_read_begin(const uint32_t *seq)
{
	uint32_t s;

	/* Acquire: the entry loads that follow see at least the stores of
	 * the write section that made this count even. */
	while ((s = __atomic_load_n(seq, __ATOMIC_ACQUIRE)) & 1)
		rte_pause();
	return s;
}

static inline bool
seq_read_retry(const uint32_t *seq, uint32_t s)
{
	/* Acquire fence: the entry loads are done before the re-check. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(seq, __ATOMIC_RELAXED) != s;
}

/* ---- TLB geometry ------------------------------------------------------------ */

int
emu_tlb_init(struct emu_tlb *tlb, uint32_t nsets, uint32_t ways)
{
	size_t stride = RTE_ALIGN_CEIL(sizeof(struct emu_tlb_set) +
				       ways * sizeof(struct emu_tlbe),
				       RTE_CACHE_LINE_SIZE);

	memset(tlb, 0, sizeof(*tlb));
	tlb->mem = usva_zmalloc_aligned(stride * nsets, RTE_CACHE_LINE_SIZE);
	if (tlb->mem == NULL)
		return -ENOMEM;
	tlb->nsets = nsets;
	tlb->ways = ways;
	tlb->set_bits = rte_log2_u32(nsets);
	tlb->stride = (uint32_t)stride;
	for (uint32_t i = 0; i < nsets; i++) {
		struct emu_tlb_set *s = (void *)(tlb->mem + (size_t)i * stride);

		rte_spinlock_init(&s->lock);
	}
	return 0;
}

void
emu_tlb_fini(struct emu_tlb *tlb)
{
	usva_free(tlb->mem);
	memset(tlb, 0, sizeof(*tlb));
}

static inline struct emu_tlb_set *
tlb_set(const struct emu_tlb *tlb, uint32_t i)
{
	return (struct emu_tlb_set *)(tlb->mem + (size_t)i * tlb->stride);
}

static inline struct emu_tlb_set *
tlb_set_of(const struct emu_tlb *tlb, uint64_t id, uint64_t vpn,
	   unsigned int level)
{
	uint64_t h = vpn * UINT64_C(0x9e3779b97f4a7c15);

	h ^= id * UINT64_C(0xc2b2ae3d27d4eb4f);
	h ^= level * UINT64_C(0x165667b19e3779f9);
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	if (tlb->set_bits == 0)
		return tlb_set(tlb, 0);
	return tlb_set(tlb, (uint32_t)(h >> (64 - tlb->set_bits)));
}

/* ---- TLB lookup and fill --------------------------------------------------------- */

static inline void
tlbe_load(const struct emu_tlbe *t, struct emu_tlbe *out)
{
	/* Relaxed loads: the seqcount re-check decides if they belong
	 * together. */
	out->vpn = __atomic_load_n(&t->vpn, __ATOMIC_RELAXED);
	out->id = __atomic_load_n(&t->id, __ATOMIC_RELAXED);
	out->host = __atomic_load_n(&t->host, __ATOMIC_RELAXED);
	out->va_last = __atomic_load_n(&t->va_last, __ATOMIC_RELAXED);
	out->oa = __atomic_load_n(&t->oa, __ATOMIC_RELAXED);
	out->level = __atomic_load_n(&t->level, __ATOMIC_RELAXED);
	out->s1prot = __atomic_load_n(&t->s1prot, __ATOMIC_RELAXED);
	out->s2prot = __atomic_load_n(&t->s2prot, __ATOMIC_RELAXED);
	out->flags = __atomic_load_n(&t->flags, __ATOMIC_RELAXED);
}

static inline void
tlbe_store(struct emu_tlbe *t, const struct emu_tlbe *n)
{
	/* Inside a seqcount write section (see seq_write_begin()). */
	__atomic_store_n(&t->vpn, n->vpn, __ATOMIC_RELAXED);
	__atomic_store_n(&t->id, n->id, __ATOMIC_RELAXED);
	__atomic_store_n(&t->host, n->host, __ATOMIC_RELAXED);
	__atomic_store_n(&t->va_last, n->va_last, __ATOMIC_RELAXED);
	__atomic_store_n(&t->oa, n->oa, __ATOMIC_RELAXED);
	__atomic_store_n(&t->s1prot, n->s1prot, __ATOMIC_RELAXED);
	__atomic_store_n(&t->s2prot, n->s2prot, __ATOMIC_RELAXED);
	__atomic_store_n(&t->flags, n->flags, __ATOMIC_RELAXED);
	__atomic_store_n(&t->level, n->level, __ATOMIC_RELAXED);
}

static bool
tlb_set_find(const struct emu_tlb_set *s, uint32_t ways, uint64_t id,
	     uint64_t vpn, unsigned int level, struct emu_tlbe *out)
{
	bool found;
	uint32_t seq;

	do {
		seq = seq_read_begin(&s->seq);
		found = false;
		for (uint32_t w = 0; w < ways; w++) {
			const struct emu_tlbe *t = &s->e[w];

			if (__atomic_load_n(&t->vpn, __ATOMIC_RELAXED) == vpn &&
			    __atomic_load_n(&t->id, __ATOMIC_RELAXED) == id &&
			    __atomic_load_n(&t->level, __ATOMIC_RELAXED) ==
			    level) {
				tlbe_load(t, out);
				found = true;
				break;
			}
		}
	} while (seq_read_retry(&s->seq, seq));
	return found;
}

bool
emu_tlb_lookup(const struct emu_tlb *tlb, uint32_t did, uint32_t pasid,
	       uint64_t va, struct emu_tlbe *out)
{
	uint32_t seen = __atomic_load_n(&tlb->levels_seen, __ATOMIC_RELAXED);
	uint64_t id = emu_tlb_id(did, pasid);

	/* Smallest first: a 4 KiB entry is the common case. A missed probe
	 * (a level filled concurrently) is only a miss, never wrong. */
	for (unsigned int level = 1; level <= EMU_MAX_LEAF_LEVEL; level++) {
		uint64_t vpn = va >> usva_pt_level_shift(level);

		if (!(seen & (1u << level)))
			continue;
		if (tlb_set_find(tlb_set_of(tlb, id, vpn, level), tlb->ways,
				 id, vpn, level, out))
			return true;
	}
	return false;
}

void
emu_tlb_fill(struct emu *e, struct emu_tlb *tlb, const struct emu_tlbe *n,
	     uint64_t gen)
{
	struct emu_tlb_set *s = tlb_set_of(tlb, n->id, n->vpn, n->level);
	uint32_t way = UINT32_MAX;

	rte_spinlock_lock(&s->lock);
	/*
	 * Relaxed is enough under the lock: an invalidation bumps the
	 * generation before it takes this lock, so if it held the lock
	 * before us its bump happens-before this load.
	 */
	if (__atomic_load_n(&e->xlate_gen, __ATOMIC_RELAXED) != gen) {
		rte_spinlock_unlock(&s->lock);
		return;
	}
	for (uint32_t w = 0; w < tlb->ways; w++) {
		const struct emu_tlbe *t = &s->e[w];

		if (t->level == n->level && t->vpn == n->vpn && t->id == n->id) {
			way = w;	/* refresh (e.g. after setting dirty) */
			break;
		}
		if (t->level == 0 && way == UINT32_MAX)
			way = w;
	}
	if (way == UINT32_MAX) {
		way = s->victim;
		s->victim = (way + 1) % tlb->ways;
	}
	seq_write_begin(&s->seq);
	tlbe_store(&s->e[way], n);
	seq_write_end(&s->seq);
	rte_spinlock_unlock(&s->lock);
	/* Relaxed: a hint; a lookup that misses the new bit only misses
	 * (and walks), it never returns a wrong entry. */
	if (!(__atomic_load_n(&tlb->levels_seen, __ATOMIC_RELAXED) &
	      (1u << n->level)))
		__atomic_fetch_or(&tlb->levels_seen, 1u << n->level,
				  __ATOMIC_RELAXED);
}

/* ---- TLB invalidation --------------------------------------------------------------- */

static bool
tlbe_matches(const struct emu_tlbe *t, const struct emu_tlb_key *k)
{
	uint64_t first, last;

	if (t->level == 0)
		return false;
	if ((k->match & EMU_K_DID) && (uint32_t)(t->id >> 32) != k->did)
		return false;
	if ((k->match & EMU_K_PASID) && (uint32_t)t->id != k->pasid)
		return false;
	if (k->match & EMU_K_RANGE) {
		/* Any overlap: a huge entry containing one address of the
		 * range goes. */
		first = t->vpn << usva_pt_level_shift(t->level);
		last = first + (emu_level_size(t->level) - 1);
		if (last < k->first || first > k->last)
			return false;
	}
	return true;
}

static void
tlb_set_inval(struct emu_tlb_set *s, uint32_t ways, const struct emu_tlb_key *k)
{
	bool writing = false;

	rte_spinlock_lock(&s->lock);
	for (uint32_t w = 0; w < ways; w++) {
		if (!tlbe_matches(&s->e[w], k))
			continue;
		/* Open the write section only when something goes, so
		 * readers of untouched sets never retry. */
		if (!writing) {
			seq_write_begin(&s->seq);
			writing = true;
		}
		__atomic_store_n(&s->e[w].level, 0, __ATOMIC_RELAXED);
	}
	if (writing)
		seq_write_end(&s->seq);
	rte_spinlock_unlock(&s->lock);
}

/* Range invalidation probing only the sets the range's tags hash to. */
static void
tlb_inval_targeted(struct emu_tlb *tlb, const struct emu_tlb_key *k)
{
	uint64_t id = emu_tlb_id(k->did, k->pasid);

	for (unsigned int level = 1; level <= EMU_MAX_LEAF_LEVEL; level++) {
		unsigned int shift = usva_pt_level_shift(level);
		uint64_t vpn = k->first >> shift, end = k->last >> shift;

		for (;; vpn++) {
			tlb_set_inval(tlb_set_of(tlb, id, vpn, level),
				      tlb->ways, k);
			if (vpn == end)
				break;
		}
	}
}

void
emu_tlb_inval(struct emu_tlb *tlb, const struct emu_tlb_key *k)
{
	const uint32_t exact = EMU_K_DID | EMU_K_PASID | EMU_K_RANGE;

	if (tlb->mem == NULL)
		return;
	/* A short range with a full tag touches fewer sets than a scan. */
	if ((k->match & exact) == exact &&
	    ((k->last - k->first) >> EMU_PAGE_SHIFT) < tlb->nsets) {
		tlb_inval_targeted(tlb, k);
		return;
	}
	for (uint32_t i = 0; i < tlb->nsets; i++)
		tlb_set_inval(tlb_set(tlb, i), tlb->ways, k);
}

/* ---- PASID cache ------------------------------------------------------------------------ */

bool
emu_pc_lookup(struct emu_dev *ed, uint32_t pasid, struct emu_pce *out)
{
	const struct emu_pce *p = &ed->pc[pasid & ed->pc_mask];
	uint32_t seq;
	bool hit;

	do {
		seq = seq_read_begin(&p->seq);
		hit = __atomic_load_n(&p->valid, __ATOMIC_RELAXED) &&
		      __atomic_load_n(&p->pasid, __ATOMIC_RELAXED) == pasid;
		if (hit) {
			out->did = __atomic_load_n(&p->did, __ATOMIC_RELAXED);
			out->root = __atomic_load_n(&p->root, __ATOMIC_RELAXED);
			out->fmt = __atomic_load_n(&p->fmt, __ATOMIC_RELAXED);
			out->geo.va_bits = __atomic_load_n(&p->geo.va_bits,
							   __ATOMIC_RELAXED);
			out->geo.levels = __atomic_load_n(&p->geo.levels,
							  __ATOMIC_RELAXED);
			out->geo.leaf_levels =
				__atomic_load_n(&p->geo.leaf_levels,
						__ATOMIC_RELAXED);
			out->tag = __atomic_load_n(&p->tag, __ATOMIC_RELAXED);
			out->flags = __atomic_load_n(&p->flags,
						     __ATOMIC_RELAXED);
		}
	} while (seq_read_retry(&p->seq, seq));
	if (hit) {
		out->pasid = pasid;
		out->valid = 1;
	}
	return hit;
}

static void
pce_store(struct emu_pce *p, const struct emu_pce *n)
{
	__atomic_store_n(&p->pasid, n->pasid, __ATOMIC_RELAXED);
	__atomic_store_n(&p->did, n->did, __ATOMIC_RELAXED);
	__atomic_store_n(&p->root, n->root, __ATOMIC_RELAXED);
	__atomic_store_n(&p->fmt, n->fmt, __ATOMIC_RELAXED);
	__atomic_store_n(&p->geo.va_bits, n->geo.va_bits, __ATOMIC_RELAXED);
	__atomic_store_n(&p->geo.levels, n->geo.levels, __ATOMIC_RELAXED);
	__atomic_store_n(&p->geo.leaf_levels, n->geo.leaf_levels,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&p->tag, n->tag, __ATOMIC_RELAXED);
	__atomic_store_n(&p->flags, n->flags, __ATOMIC_RELAXED);
	__atomic_store_n(&p->valid, 1, __ATOMIC_RELAXED);
}

void
emu_pc_fill(struct emu *e, struct emu_dev *ed, const struct emu_pce *n,
	    uint64_t gen)
{
	struct emu_pce *p = &ed->pc[n->pasid & ed->pc_mask];

	rte_spinlock_lock(&ed->pc_lock);
	/* As emu_tlb_fill(): attach/detach bump the generation before they
	 * take pc_lock to flush. */
	if (__atomic_load_n(&e->xlate_gen, __ATOMIC_RELAXED) == gen) {
		seq_write_begin(&p->seq);
		pce_store(p, n);
		seq_write_end(&p->seq);
	}
	rte_spinlock_unlock(&ed->pc_lock);
}

static void
pce_kill(struct emu_pce *p)
{
	seq_write_begin(&p->seq);
	__atomic_store_n(&p->valid, 0, __ATOMIC_RELAXED);
	seq_write_end(&p->seq);
}

void
emu_pc_inval(struct emu_dev *ed, uint32_t pasid, bool all)
{
	rte_spinlock_lock(&ed->pc_lock);
	for (uint32_t i = 0; i <= ed->pc_mask; i++) {
		struct emu_pce *p = &ed->pc[i];

		if (!all && (i != (pasid & ed->pc_mask) || p->pasid != pasid))
			continue;
		if (p->valid)
			pce_kill(p);
	}
	rte_spinlock_unlock(&ed->pc_lock);
}

void
emu_pc_inval_did(struct emu_dev *ed, uint32_t did)
{
	rte_spinlock_lock(&ed->pc_lock);
	for (uint32_t i = 0; i <= ed->pc_mask; i++)
		if (ed->pc[i].valid && ed->pc[i].did == did)
			pce_kill(&ed->pc[i]);
	rte_spinlock_unlock(&ed->pc_lock);
}

/* ---- composite flushes ---------------------------------------------------------------------- */

void
emu_flush_pasid(struct emu_dev *ed, uint32_t pasid, uint32_t did)
{
	struct emu_tlb_key k = {
		.match = EMU_K_DID | EMU_K_PASID,
		.did = did,
		.pasid = pasid,
	};

	emu_pc_inval(ed, pasid, false);
	emu_tlb_inval(&ed->emu->iotlb, &k);
	k.did = 0;	/* device TLB entries carry no domain id */
	emu_tlb_inval(&ed->devtlb, &k);
}

static void
devtlb_inval_all(struct emu_dev *ed, void *arg)
{
	const struct emu_tlb_key all = { .match = 0 };

	RTE_SET_USED(arg);
	emu_tlb_inval(&ed->devtlb, &all);
}

void
emu_flush_all_tlbs(struct emu *e)
{
	const struct emu_tlb_key all = { .match = 0 };

	emu_tlb_inval(&e->iotlb, &all);
	emu_for_each_dev(e, devtlb_inval_all, NULL);
}
