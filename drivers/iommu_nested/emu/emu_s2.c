/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: stage 2, the IOAS (IOVA -> process memory).
 *
 * The IOAS is a sorted array of non-overlapping mappings, replaced whole
 * (copy on write) by s2_map and read lock-free by walkers inside a reader
 * section. Ordering: the new array is filled, then published with a release
 * store; walkers load it with acquire once per walk. The old array is freed
 * after emu_rcu_synchronize().
 *
 * s2_unmap never fails for lack of memory: it publishes a copy without the
 * range (NULL when the IOAS becomes empty) and also marks the mappings
 * dead in the old array, which walkers still holding it treat as absent;
 * if no memory for the copy, the dead marks alone do it and the next
 * s2_map drops them. Then it bumps the invalidation generation, flushes
 * every IOTLB and device TLB entry (the kernel's nested-parent flush: it
 * cannot tell which stage-1 translations went through the range), and
 * waits for a grace period, so no DMA that may still use the range is in
 * flight when it returns.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "emu_internal.h"

static size_t
s2_tab_size(uint32_t n)
{
	return sizeof(struct emu_s2_tab) + n * sizeof(struct emu_s2_map);
}

static inline uint64_t
s2_last(const struct emu_s2_map *m)
{
	return m->iova + (m->len - 1);
}

int
emu_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va, uint64_t len,
	   uint32_t prot)
{
	struct emu *e = emu_of(iommu);
	uint64_t last = iova + (len - 1);
	struct emu_s2_tab *old, *nt;
	uint32_t n, i, j = 0;
	bool placed = false;

	rte_spinlock_lock(&e->s2_lock);
	old = e->s2;
	n = old ? old->n : 0;
	for (i = 0; i < n; i++) {
		const struct emu_s2_map *m = &old->m[i];

		if (!m->dead && m->iova <= last && s2_last(m) >= iova) {
			rte_spinlock_unlock(&e->s2_lock);
			EMU_LOG(DEBUG, "s2_map 0x%" PRIx64 "-0x%" PRIx64
				" overlaps 0x%" PRIx64 "-0x%" PRIx64,
				iova, last, m->iova, s2_last(m));
			return -EEXIST;
		}
	}
	nt = usva_zmalloc(s2_tab_size(n + 1));
	if (nt == NULL) {
		rte_spinlock_unlock(&e->s2_lock);
		return -ENOMEM;
	}
	/* Copy the live mappings in order, the new one in its place. Only
	 * the s2_lock holder writes @dead, so plain reads are exact here. */
	for (i = 0; i < n; i++) {
		if (old->m[i].dead)
			continue;
		if (!placed && old->m[i].iova > iova) {
			nt->m[j++] = (struct emu_s2_map){ iova, len,
				(uint64_t)(uintptr_t)va, prot, 0 };
			placed = true;
		}
		nt->m[j++] = old->m[i];
	}
	if (!placed)
		nt->m[j++] = (struct emu_s2_map){ iova, len,
			(uint64_t)(uintptr_t)va, prot, 0 };
	nt->n = j;
	/* Release: the array's contents before its pointer. A new mapping
	 * needs no invalidation: stage-2 faults are never cached. */
	__atomic_store_n(&e->s2, nt, __ATOMIC_RELEASE);
	rte_spinlock_unlock(&e->s2_lock);
	emu_rcu_synchronize(e);
	usva_free(old);
	return 0;
}

/*
 * @t without the live mappings inside [iova, last] (and without dead
 * ones): NULL if nothing is left, @t itself if no memory for a copy — the
 * caller then only marks them dead, so unmapping never fails.
 */
static struct emu_s2_tab *
s2_compact(struct emu_s2_tab *t, uint64_t iova, uint64_t last)
{
	struct emu_s2_tab *nt;
	uint32_t i, j = 0, keep = 0;

	for (i = 0; i < t->n; i++)
		if (!t->m[i].dead &&
		    (t->m[i].iova > last || s2_last(&t->m[i]) < iova))
			keep++;
	if (keep == 0)
		return NULL;
	nt = usva_zmalloc(s2_tab_size(keep));
	if (nt == NULL)
		return t;
	for (i = 0; i < t->n; i++)
		if (!t->m[i].dead &&
		    (t->m[i].iova > last || s2_last(&t->m[i]) < iova))
			nt->m[j++] = t->m[i];
	nt->n = j;
	return nt;
}

int
emu_s2_unmap(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
	     uint64_t *unmapped)
{
	struct emu *e = emu_of(iommu);
	uint64_t last = iova + (len - 1), bytes = 0;
	struct emu_s2_tab *t, *nt;
	uint32_t n, i;

	*unmapped = 0;
	rte_spinlock_lock(&e->s2_lock);
	t = e->s2;
	n = t ? t->n : 0;
	/* First pass: whole mappings only, as IOMMU_IOAS_UNMAP. */
	for (i = 0; i < n; i++) {
		const struct emu_s2_map *m = &t->m[i];

		if (m->dead || m->iova > last || s2_last(m) < iova)
			continue;
		if (m->iova < iova || s2_last(m) > last) {
			rte_spinlock_unlock(&e->s2_lock);
			EMU_LOG(ERR, "s2_unmap 0x%" PRIx64 "-0x%" PRIx64
				": mapping 0x%" PRIx64 "-0x%" PRIx64
				" straddles an end", iova, last, m->iova,
				s2_last(m));
			return -EINVAL;
		}
		bytes += m->len;
	}
	if (bytes == 0) {
		rte_spinlock_unlock(&e->s2_lock);
		return -ENOENT;
	}
	emu_inval_begin(e);
	nt = s2_compact(t, iova, last);
	for (i = 0; i < n; i++) {
		struct emu_s2_map *m = &t->m[i];

		if (!m->dead && m->iova >= iova && s2_last(m) <= last)
			/* Relaxed: ordered before the flush by the release
			 * in emu_gen_bump() below. */
			__atomic_store_n(&m->dead, 1, __ATOMIC_RELAXED);
	}
	if (nt != t)
		/* Release: the copy's contents before its pointer. */
		__atomic_store_n(&e->s2, nt, __ATOMIC_RELEASE);
	rte_spinlock_unlock(&e->s2_lock);
	emu_gen_bump(e);
	emu_flush_all_tlbs(e);
	emu_inval_end(e);
	/* DMA inside a reader section that may have used the range (a
	 * cache hit before the flush, a walk before the dead mark) ends
	 * before we return: the caller may unmap the memory then. */
	emu_rcu_synchronize(e);
	if (nt != t)
		usva_free(t);
	*unmapped = bytes;
	return 0;
}

void
emu_s2_fini(struct emu *e)
{
	usva_free(e->s2);
	e->s2 = NULL;
}
