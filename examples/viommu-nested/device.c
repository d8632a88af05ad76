/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The device: DMA through the emu IOMMU (usva_emu.h, the device side),
 * one step at a time so that the guest and the host run in between.
 *
 * When a DMA faults on a page the device may get:
 *  - PCIe PRI (the VT-d device): it sends a page request (a group of one,
 *    LAST) and waits for the page group response;
 *  - stall (the SMMUv3 device): the IOMMU already holds the transaction
 *    and queued its fault record with a stall tag; the device waits for
 *    the resume of that tag.
 * SUCCESS: the DMA goes on from where it stopped; anything else ends it.
 * An unrecoverable fault ends it at once (the IOMMU raised an event).
 */
#include <errno.h>

#include <rte_common.h>

#include "usva_emu.h"
#include "usva_iommu_fault.h"
#include "viommu.h"

#define GRPID_MAX	512u	/* PRI group index: 9 bits */

static int64_t
dma(struct host *h, struct dtask *t, struct usva_emu_dma_fault *f)
{
	uint64_t n = t->len - t->done;

	return t->write ?
	       usva_emu_dma_write(h->dev, t->pasid, t->va + t->done,
				  t->buf + t->done, n, f) :
	       usva_emu_dma_read(h->dev, t->pasid, t->va + t->done,
				 t->buf + t->done, n, f);
}

/* After a short DMA: wait for a resume or a page, or give up. */
static void
on_fault(struct host *h, struct dtask *t, const struct usva_emu_dma_fault *f)
{
	struct usva_emu_prq_desc d = {
		.addr = f->addr, .pasid = t->pasid, .perm = (uint16_t)f->access,
		.flags = USVA_PREQ_F_LAST,
	};
	int rc;

	t->reason = f->reason;
	if (f->flags & USVA_EMU_DMA_F_STALLED) {
		t->wait_id = f->stag;
		t->st = DT_WAIT;
		t->faults++;
		return;
	}
	if (h->fl != FL_VTD || (f->reason != USVA_EMU_S1_NOT_PRESENT &&
				f->reason != USVA_EMU_S1_PERM)) {
		t->st = DT_FAILED;	/* unrecoverable: event raised */
		return;
	}
	d.grpid = t->next_grpid++ % GRPID_MAX;
	rc = usva_emu_page_request(h->dev, &d);
	/* 1: the queue overflowed and the IOMMU answered SUCCESS itself. */
	if (rc == 0 || rc == 1) {
		t->wait_id = d.grpid;
		t->st = DT_WAIT;
		t->faults++;
	} else {
		t->st = DT_FAILED;
	}
}

/* The response the device waits for, if it came. */
static void
on_wait(struct host *h, struct dtask *t)
{
	struct usva_emu_prg_resp r[8];
	int n = usva_emu_dev_responses(h->dev, r, RTE_DIM(r));

	for (int i = 0; i < n; i++) {
		if (r[i].grpid != t->wait_id || r[i].pasid != t->pasid)
			continue;
		t->st = r[i].code == USVA_PAGE_RESP_SUCCESS ? DT_RUN :
							      DT_FAILED;
	}
}

void
device_step(struct host *h, struct dtask *t)
{
	struct usva_emu_dma_fault f;
	int64_t n;

	if (t->st == DT_WAIT) {
		on_wait(h, t);
		return;
	}
	if (t->st != DT_RUN)
		return;
	n = dma(h, t, &f);
	if (n < 0) {
		t->st = DT_FAILED;
		return;
	}
	t->done += (uint64_t)n;
	if (t->done == t->len)
		t->st = DT_DONE;
	else
		on_fault(h, t, &f);
}
