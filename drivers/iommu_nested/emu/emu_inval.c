/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: the invalidation queue.
 *
 * Entries run in order, one batch at a time per instance (hardware has one
 * invalidation queue). Each entry bumps the invalidation generation, then
 * removes what it names:
 *
 *  DOMAIN  IOTLB entries tagged with the domain id (and PASID-cache entries
 *          pointing at it, if asked).
 *  PASID   of (dev, PASID): IOTLB entries tagged (domain, PASID), device
 *          TLB entries of the PASID, the PASID-cache entry — per caches.
 *  ADDR    of (dev, PASID): IOTLB and device-TLB entries whose block
 *          overlaps [addr, addr + npages * 4 KiB), huge blocks included.
 *
 * The model keeps no paging-structure cache (every miss walks from the
 * root), so USVA_INVAL_F_LEAF changes nothing: leaf and non-leaf entries
 * remove the same translations.
 *
 * A call returns only after every translation and DMA in flight when it
 * ran has finished (emu_rcu_synchronize()), as an invalidation wait
 * descriptor completes after the walks and ATS requests before it.
 *
 * Hardware takes time to complete a call, however little it names: the
 * wait descriptor (VT-d) or CMD_SYNC (SMMUv3) makes a round trip through
 * the invalidation queue, and device-TLB entries an ATS invalidate request
 * and completion over the link. The model charges it per call, not per
 * entry (hardware pipelines the entries before the wait): a call returns no
 * earlier than inval_wait_ns after it began, plus ats_inval_ns if it named
 * a device TLB. Both are open() parameters, 0 by default (an instant
 * queue); the invalidation benchmark sets them to compare batching
 * strategies under a hardware-like cost. The caller polls, as a driver
 * polls the wait descriptor's status word: nothing sleeps.
 *
 * usva_emu_inval_fail_nth() makes the nth entry executed from then on fail
 * (once) with the given errno: it removes nothing, the entries after it are
 * not attempted, and the call returns how many were done.
 */
#include <errno.h>

#include <rte_cycles.h>

#include "emu_internal.h"

/* Domain id of (dev, pasid) now, or false if nothing is attached. */
static bool
inval_did(struct emu_dev *ed, const struct usva_inval_entry *en, uint32_t *did)
{
	struct emu_pce pce;
	bool ok;

	if (en->dom != NULL) {
		*did = en->dom->id;
		return true;
	}
	emu_rcu_enter(ed->emu);
	ok = emu_pce_from_table(ed, en->pasid, &pce);
	emu_rcu_exit(ed->emu);
	*did = pce.did;
	return ok;
}

static void
inval_domain(struct emu *e, const struct usva_inval_entry *en)
{
	struct emu_tlb_key k = { .match = EMU_K_DID, .did = en->dom->id };

	if (en->caches & USVA_INVAL_IOTLB)
		emu_tlb_inval(&e->iotlb, &k);
	if (!(en->caches & USVA_INVAL_PASID_CACHE))
		return;
	emu_for_each_dev(e, emu_pc_inval_did_cb, &en->dom->id);
}

/* PASID and ADDR granules. */
static void
inval_pasid(struct emu *e, const struct usva_inval_entry *en)
{
	struct emu_dev *ed = en->dev->priv;
	struct emu_tlb_key k = {
		.match = EMU_K_PASID,
		.pasid = en->pasid,
	};

	if (en->granule == USVA_INVAL_ADDR) {
		k.match |= EMU_K_RANGE;
		k.first = en->addr;
		k.last = en->addr + ((en->npages << EMU_PAGE_SHIFT) - 1);
	}
	if (en->caches & USVA_INVAL_IOTLB) {
		struct emu_tlb_key ki = k;

		/* A PASID table tags by (VMID, ASID) (emu_cdtab.c). Else,
		 * without a domain (nothing attached any more) every
		 * domain's entries of the PASID go: never fewer. */
		switch (emu_cdtab_iotlb_key(ed, en, &ki)) {
		case EMU_CDTAB_KEY_SKIP:
			break;
		case EMU_CDTAB_KEY_NONE:
			if (inval_did(ed, en, &ki.did))
				ki.match |= EMU_K_DID;
			/* fall through */
		default:
			emu_tlb_inval(&e->iotlb, &ki);
			break;
		}
	}
	if (en->caches & USVA_INVAL_DEVTLB) {
		k.match |= EMU_K_DID;
		k.did = 0;
		emu_tlb_inval(&ed->devtlb, &k);
	}
	if (en->caches & USVA_INVAL_PASID_CACHE)
		emu_pc_inval(ed, en->pasid, false);
}

/* Busy-wait until the modelled completion time of a call begun at @start. */
static void
inval_wait_completion(const struct emu *e, uint64_t start, bool devtlb)
{
	uint64_t ns = e->p.inval_wait_ns + (devtlb ? e->p.ats_inval_ns : 0);
	uint64_t end;

	if (ns == 0)
		return;
	end = start + ns * rte_get_tsc_hz() / 1000000000u;
	while (rte_get_tsc_cycles() < end)
		rte_pause();
}

/* True if the entry about to run is the injected failure. inval_lock. */
static bool
inval_inject(struct emu *e, int32_t *err)
{
	if (e->inval_fail_nth == 0)
		return false;
	if (++e->inval_count != e->inval_fail_nth)
		return false;
	*err = e->inval_fail_err;
	e->inval_fail_nth = 0;	/* one shot */
	return true;
}

int
emu_invalidate(struct usva_iommu *iommu, const struct usva_inval_entry *en,
	       uint32_t n, int32_t *status)
{
	struct emu *e = emu_of(iommu);
	uint64_t start = rte_get_tsc_cycles();
	uint32_t i, done = 0;
	bool devtlb = false;
	int32_t err;

	emu_stat_inc(e, EMU_ST_INVAL_CALLS);
	emu_inval_begin(e);
	rte_spinlock_lock(&e->inval_lock);
	for (i = 0; i < n; i++) {
		if (inval_inject(e, &err)) {
			if (status != NULL)
				status[i] = err;
			EMU_LOG(DEBUG, "invalidation entry %u: injected "
				"error %d", i, err);
			break;
		}
		emu_gen_bump(e);
		devtlb |= (en[i].caches & USVA_INVAL_DEVTLB) != 0;
		if (en[i].granule == USVA_INVAL_DOMAIN)
			inval_domain(e, &en[i]);
		else
			inval_pasid(e, &en[i]);
		if (status != NULL)
			status[i] = USVA_INVAL_DONE;
		done++;
	}
	rte_spinlock_unlock(&e->inval_lock);
	emu_inval_end(e);
	/* As an invalidation-wait descriptor: translations and DMA that
	 * began before these entries are over when the call returns, so
	 * software may reuse the table pages and memory they named. */
	if (done)
		emu_rcu_synchronize(e);
	inval_wait_completion(e, start, devtlb);
	for (i = done + 1; status != NULL && i < n; i++)
		status[i] = USVA_INVAL_NOT_ATTEMPTED;
	if (done)
		emu_stat_add(e, EMU_ST_INVAL_ENTRIES, done);
	return (int)done;
}
