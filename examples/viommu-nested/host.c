/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host: a virtual IOMMU on top of usva. The guest's stage 1 runs on
 * the (emulated) hardware nested over the host's stage 2; the host only
 * passes things between the two:
 *
 *   guest writes                       host calls
 *   ------------------------------     ---------------------------------------
 *   VT-d PASID entry + PC invalidation usva_domain_create (raw root) +
 *                                      usva_iommu_attach / replace / detach
 *   SMMUv3 STE (S1ContextPtr, ...)     usva_iommu_attach_pasid_table
 *   invalidation commands + sync       usva_inval_batch_add / _submit, the
 *                                      per-entry status back per command
 *   page responses / CMD_RESUME        usva_iommu_page_respond
 *
 *   the IOMMU reports                  the guest sees
 *   ------------------------------     ---------------------------------------
 *   page requests / stall records      injected faults (its PRQ / event queue)
 *   unrecoverable events               fault records
 *
 * A fault is injected with the IDs the guest must answer with (group index
 * or stall tag); the host keeps the backend's cookie for the response.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_common.h>

#include "usva_as.h"
#include "usva_emu.h"
#include "usva_iommu_fault.h"
#include "usva_pasid.h"
#include "viommu.h"

#define PTE_ADDR	UINT64_C(0x000ffffffffff000)
#define SMMU_SSID_BITS	8u

static const char *const cmd_names[] = {
	[GC_SYNC] = "sync",
	[GC_VTD_PC_INV] = "PASID-cache inv",
	[GC_VTD_P_IOTLB] = "PASID-IOTLB inv",
	[GC_VTD_DEVTLB] = "device-TLB inv",
	[GC_SMMU_CFGI_CD] = "CMD_CFGI_CD",
	[GC_SMMU_TLBI_NH_ASID] = "CMD_TLBI_NH_ASID",
	[GC_SMMU_TLBI_NH_VA] = "CMD_TLBI_NH_VA",
};

/* ---- set-up ------------------------------------------------------------------ */

static int
open_device(struct host *h)
{
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "viommu-dev",
		/* A PCIe function with PRI and ATS behind VT-d; a platform
		 * device that stalls behind the SMMU. */
		.flags = h->fl == FL_VTD ? USVA_DEV_F_PRI | USVA_DEV_F_ATS :
					   USVA_DEV_F_STALL,
		.pasid_width = h->fl == FL_VTD ? 20 : SMMU_SSID_BITS,
		.pri_capacity = 8,
	};
	struct usva_dev_info info = { .size = sizeof(info) };
	int rc;

	rc = usva_iommu_dev_open(h->iommu, &dc, &h->dev);
	if (rc == 0)
		rc = usva_iommu_dev_info(h->dev, &info);
	h->dev_id = info.id;
	return rc;
}

int
host_open(struct host *h, enum flavour fl)
{
	struct usva_iommu_config ic = {
		.size = sizeof(ic), .backend = "emu",
		/* The strict checker: a translation the guest forgot to
		 * invalidate is counted (stale_uses). */
		.flags = USVA_IOMMU_F_STRICT,
		.params = fl == FL_VTD ? "flavour=vtd" : "flavour=smmuv3",
	};
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	int rc;

	memset(h, 0, sizeof(*h));
	h->fl = fl;
	rc = usva_iommu_open(&ic, &h->iommu);
	if (rc)
		return rc;
	h->id = usva_iommu_id(h->iommu);
	rc = open_device(h);
	if (rc)
		return rc;
	h->ram = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->ram == MAP_FAILED) {
		h->ram = NULL;
		return -ENOMEM;
	}
	/* Guest RAM is stage 2: GPA -> the process memory backing it. */
	rc = usva_iommu_s2_map(h->iommu, GUEST_RAM_GPA, h->ram, GUEST_RAM_SIZE,
			       USVA_S2_READ | USVA_S2_WRITE);
	if (rc)
		return rc;
	h->ram_mapped = true;
	rc = usva_pasid_owner_create(usva_iommu_pasids(h->iommu), 0, &h->owner);
	if (rc)
		return rc;
	printf("[host  ] emu %s instance %u, device %u (%s), guest RAM %" PRIu64
	       " MiB at GPA 0x%" PRIx64 " mapped in stage 2\n",
	       fl == FL_VTD ? "vtd" : "smmuv3", h->id, h->dev_id,
	       fl == FL_VTD ? "PRI, ATS" : "stall", GUEST_RAM_SIZE >> 20,
	       GUEST_RAM_GPA);
	return usva_inval_batch_create(h->iommu, &bc, &h->batch);
}

void
host_close(struct host *h)
{
	usva_inval_batch_destroy(h->batch);
	if (h->dev != NULL) {
		for (uint32_t p = 0; p < RTE_DIM(h->dom); p++)
			if (h->dom[p] != NULL)
				usva_iommu_detach(h->dev, p);
		usva_iommu_dev_close(h->dev);	/* and its PASID table */
	}
	for (uint32_t p = 0; p < RTE_DIM(h->dom); p++)
		usva_domain_destroy(h->dom[p]);
	usva_pasid_owner_destroy(h->owner);
	if (h->ram_mapped)
		usva_iommu_s2_unmap(h->iommu, GUEST_RAM_GPA, GUEST_RAM_SIZE,
				    NULL);
	if (h->ram != NULL)
		munmap(h->ram, GUEST_RAM_SIZE);
	usva_iommu_close(h->iommu);
}

/* ---- configuration the guest writes ------------------------------------------- */

/*
 * The guest pointed its device at its PASID table (VT-d: the context
 * entry's PASID-table pointer, kept to read entries from; SMMUv3: the STE,
 * handed to the IOMMU whole).
 */
int
host_ste_write(struct host *h, struct guest *g)
{
	struct usva_pasid_table_config c = {
		.size = sizeof(c),
		.version = USVA_PASID_TABLE_VERSION_1,
		.base = g->pasid_table,
		.pasid_bits = SMMU_SSID_BITS,
		.format = USVA_PASID_TABLE_FMT_SMMUV3,
		.config = USVA_PASID_TABLE_TRANSLATE,
		.vendor.smmuv3 = {
			.version = USVA_PASID_TABLE_SMMUV3_VERSION_1,
			.s1fmt = USVA_SMMUV3_S1FMT_2LVL_4K,
			.s1dss = USVA_SMMUV3_S1DSS_TERMINATE,
		},
	};
	int rc;

	h->traps++;
	if (h->fl == FL_VTD) {
		printf("[host  ] trapped context entry: PASID table at GPA "
		       "0x%" PRIx64 " (bound per PASID on PASID-cache "
		       "invalidation)\n", g->pasid_table);
		return 0;
	}
	rc = usva_iommu_attach_pasid_table(h->dev, &c);
	printf("[host  ] trapped STE write: attach_pasid_table {base 0x%" PRIx64
	       ", %u SSID bits, S1Fmt 2-level 4K, S1DSS terminate, translate}:"
	       " %s\n", c.base, c.pasid_bits, rc ? strerror(-rc) : "ok");
	return rc;
}

/* VT-d: (re)bind PASID @p pasid from the guest's PASID entry. */
static int
vtd_pasid_bind(struct host *h, struct guest *g, uint32_t pasid)
{
	const uint64_t *pt = guest_gpa_ptr(g, g->pasid_table);
	struct usva_domain_config dc = {
		.size = sizeof(dc), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	uint64_t ent = __atomic_load_n(&pt[pasid], __ATOMIC_ACQUIRE);
	struct usva_domain *old = h->dom[pasid];
	int rc;

	h->traps++;
	if (!(ent & 1)) {		/* not present: unbind */
		if (old == NULL)
			return 0;
		rc = usva_iommu_detach(h->dev, pasid);
		usva_domain_destroy(old);
		h->dom[pasid] = NULL;
		usva_pasid_free(h->owner, pasid);
		printf("[host  ]   PASID %u: entry cleared: detached\n", pasid);
		return rc;
	}
	dc.s1_root = ent & PTE_ADDR;
	rc = usva_domain_create(h->iommu, &dc, &h->dom[pasid]);
	if (rc)
		return rc;
	if (old != NULL) {
		rc = usva_iommu_replace(h->dev, pasid, h->dom[pasid]);
		usva_domain_destroy(rc ? h->dom[pasid] : old);
		if (rc)
			h->dom[pasid] = old;
		return rc;
	}
	rc = usva_pasid_alloc_at(h->owner, pasid);	/* the guest's choice */
	if (rc == 0)
		rc = usva_iommu_attach(h->dev, pasid, h->dom[pasid]);
	printf("[host  ]   PASID %u: root GPA 0x%" PRIx64 " -> nested domain "
	       "%u attached: %s\n", pasid, dc.s1_root,
	       usva_domain_id(h->dom[pasid]), rc ? strerror(-rc) : "ok");
	return rc;
}

/* ---- invalidation commands ------------------------------------------------------ */

/* The usva entry of a guest command. @return 1 (an entry), 0 (none). */
static int
cmd_entry(struct host *h, const struct gcmd *c, struct usva_inval_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->dev = h->dev;
	e->flags = c->leaf ? USVA_INVAL_F_LEAF : 0;
	e->npages = 1;
	e->addr = c->addr;
	switch (c->type) {
	case GC_VTD_P_IOTLB:
		e->granule = USVA_INVAL_ADDR;
		e->caches = USVA_INVAL_IOTLB;
		e->pasid = c->pasid;
		return 1;
	case GC_VTD_DEVTLB:
		e->granule = USVA_INVAL_ADDR;
		e->caches = USVA_INVAL_DEVTLB;
		e->pasid = c->pasid;
		return 1;
	case GC_SMMU_CFGI_CD:
		e->granule = USVA_INVAL_PASID;
		e->caches = USVA_INVAL_PASID_CACHE;
		e->pasid = c->pasid;
		return 1;
	case GC_SMMU_TLBI_NH_ASID:
		e->granule = USVA_INVAL_PASID;
		e->caches = USVA_INVAL_IOTLB;
		e->flags |= USVA_INVAL_F_ASID;
		e->pasid = c->asid;
		return 1;
	case GC_SMMU_TLBI_NH_VA:
		e->granule = USVA_INVAL_ADDR;
		e->caches = USVA_INVAL_IOTLB;
		e->flags |= USVA_INVAL_F_ASID;
		e->pasid = c->asid;
		return 1;
	default:
		return 0;
	}
}

/*
 * A sync: submit what the commands since the last one added, and write
 * each command's status. @return 0, or the first error (the queue stops at
 * the first command not done).
 */
static int
sync_batch(struct host *h, struct guest *g, const uint32_t *cmd_of,
	   uint32_t n)
{
	struct usva_inval_batch_stats st;
	int32_t status[QUEUE_LEN];
	int err = 0, done;

	if (n == 0)
		return 0;
	if (h->inject_fail_at != 0) {
		usva_emu_inval_fail_nth(h->iommu, h->inject_fail_at, -EIO);
		h->inject_fail_at = 0;
	}
	done = usva_inval_batch_submit(h->batch, &err);
	usva_inval_batch_status(h->batch, 0, n, status);
	usva_inval_batch_stats(h->batch, &st);
	h->batches++;
	h->batch_entries += st.last_sent;
	printf("[host  ]   %u command%s -> one batch: %" PRIu64 " invalidation "
	       "entr%s sent, %d of %u commands done%s\n", n, n == 1 ? "" : "s",
	       st.last_sent, st.last_sent == 1 ? "y" : "ies",
	       done < 0 ? 0 : done, n, err ? " (an entry failed)" : "");
	for (uint32_t i = 0; i < n; i++)
		g->cq[cmd_of[i]].status = status[i] == USVA_INVAL_DONE ? 0 :
			status[i] == USVA_INVAL_NOT_ATTEMPTED ? 1 : status[i];
	if (err)
		h->batch_errors++;
	return done < 0 ? done : err;
}

/* The first command of [from, to) not done, or @p to. */
static uint32_t
first_not_done(const struct guest *g, uint32_t from, uint32_t to)
{
	while (from < to && g->cq[from].status == 0)
		from++;
	return from;
}

/*
 * The guest rang the doorbell: run its commands from the queue head. A
 * sync submits the batch; an error stops the queue at the first command
 * not done (the head stays there, as both VT-d's and the SMMU's queues do)
 * and is reported to the guest.
 */
int
host_doorbell(struct host *h, struct guest *g)
{
	uint32_t cmd_of[QUEUE_LEN], n = 0, i, start = g->cq_head;
	struct usva_inval_entry e;
	int rc = 0;

	usva_inval_batch_reset(h->batch);
	for (i = g->cq_head; i < g->cq_tail && rc == 0; i++) {
		struct gcmd *c = &g->cq[i];

		h->traps++;
		if (c->type == GC_SYNC) {
			rc = sync_batch(h, g, cmd_of, n);
			c->status = rc;
			n = 0;
			usva_inval_batch_reset(h->batch);
			if (rc == 0)
				g->cq_head = i + 1;
		} else if (c->type == GC_VTD_PC_INV) {
			c->status = vtd_pasid_bind(h, g, c->pasid);
			rc = c->status;
		} else if (cmd_entry(h, c, &e)) {
			rc = usva_inval_batch_add(h->batch, &e);
			if (rc >= 0) {
				cmd_of[n++] = i;
				rc = 0;
			}
			c->status = rc;
		}
	}
	if (rc != 0) {
		g->cq_head = first_not_done(g, start, g->cq_tail);
		printf("[host  ]   queue stopped at command %u (%s): %s\n",
		       g->cq_head, cmd_names[g->cq[g->cq_head].type],
		       strerror(-g->cq[g->cq_head].status));
		return rc;
	}
	g->cq_head = g->cq_tail = 0;	/* all done: an empty queue */
	return 0;
}

/* ---- faults ------------------------------------------------------------------------ */

static struct pending *
pending_slot(struct host *h)
{
	for (uint32_t i = 0; i < QUEUE_LEN; i++)
		if (!h->pend[i].used)
			return &h->pend[i];
	return NULL;
}

/* Faults the device raised: injected into the guest. */
void
host_poll_faults(struct host *h, struct guest *g)
{
	struct usva_page_req q[16];
	uint16_t n = usva_iommu_prq_poll(h->id, q, RTE_DIM(q));

	for (uint16_t i = 0; i < n; i++) {
		struct pending *p = pending_slot(h);
		bool stall = (q[i].flags & USVA_PREQ_F_STALL) != 0;

		if (p == NULL || g->fq_n == QUEUE_LEN)
			continue;	/* never in this example */
		*p = (struct pending){ .used = true, .stall = stall,
			.pasid = q[i].pasid, .id = q[i].grpid,
			.cookie = q[i].cookie };
		g->fq[g->fq_n++] = (struct gfault){ .pasid = q[i].pasid,
			.id = q[i].grpid, .addr = q[i].addr,
			.perm = q[i].perm, .stall = stall };
		h->faults_injected++;
	}
}

/* The guest's answers, passed back as responses to the device. */
void
host_pass_responses(struct host *h, struct guest *g)
{
	for (uint32_t i = 0; i < g->rq_n; i++) {
		const struct gresp *r = &g->rq[i];

		for (uint32_t k = 0; k < QUEUE_LEN; k++) {
			struct pending *p = &h->pend[k];
			struct usva_page_resp resp;

			if (!p->used || p->pasid != r->pasid ||
			    p->id != r->id || p->stall != r->stall)
				continue;
			resp = (struct usva_page_resp){ .dev_id = h->dev_id,
				.pasid = p->pasid, .grpid = p->id,
				.cookie = p->cookie, .code = r->code,
				.flags = (p->pasid ? USVA_PREQ_F_PASID : 0) |
					 (p->stall ? USVA_PREQ_F_STALL : 0) };
			usva_iommu_page_respond(h->id, &resp, 1);
			p->used = false;
			h->responses_passed++;
			break;
		}
	}
	g->rq_n = 0;
}

/* Unrecoverable faults: reported to the guest. */
void
host_poll_events(struct host *h, struct guest *g)
{
	struct usva_iommu_event ev[8];
	int n;

	while ((n = usva_iommu_events_read(h->iommu, ev, RTE_DIM(ev))) > 0) {
		for (int i = 0; i < n && g->ev_n < QUEUE_LEN; i++) {
			g->evq[g->ev_n++] = (struct gevent){ .type = ev[i].type,
				.pasid = ev[i].pasid, .addr = ev[i].addr };
			h->events_reported++;
		}
	}
}
