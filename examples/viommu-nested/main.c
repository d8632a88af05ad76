/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-viommu-nested: a guest owning stage 1 through a virtual IOMMU, the
 * host owning stage 2, on the emu IOMMU.
 *
 *   usva-viommu-nested [EAL options] [-- --flavour vtd|smmuv3|both]
 *
 * For each flavour (both by default) the guest builds its own stage-1
 * tables and PASID table in its RAM (guest physical addresses are IOVAs
 * of the host's stage 2), the host attaches them (VT-d: a nested domain
 * per PASID; SMMUv3: the whole CD table), and then, with a trace of each
 * step:
 *   1. the device writes a buffer the guest mapped up front;
 *   2. the device writes a buffer the guest maps on demand: each page
 *      faults (VT-d: PRI page request; SMMUv3: stall), the host injects
 *      the fault into the guest, the guest maps a page and answers, the
 *      host passes the answer back, the device goes on;
 *   3. the guest checks the data through its own tables;
 *   4. the guest moves pages to new frames and invalidates; its commands
 *      are trapped and passed down as an invalidation batch, one of whose
 *      entries fails (an injected error): the guest sees per-command
 *      status, and resubmits from the command that failed;
 *   5. the device reads the moved buffer and must see the new frames;
 *   6. unrecoverable faults (a page outside guest RAM, a retired PASID)
 *      are reported to the guest.
 * The emu IOMMU runs with its strict checker: a translation used after
 * the guest changed its tables without invalidating is counted.
 *
 * Everything runs on the main lcore, step by step (the device, the host,
 * the guest). Exit status 0 when every check passed; otherwise 1, after a
 * line "usva-viommu-nested: FAILED: ...".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>

#include "usva.h"
#include "usva_emu.h"
#include "viommu.h"

#define MAX_STEPS	100000u

static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "usva-viommu-nested: FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint8_t pattern_w(uint64_t off) { return (uint8_t)(off * 3 + 1); }
static uint8_t pattern_b(uint64_t off) { return (uint8_t)(off * 5 + 7); }

/* What the device must read back from buffer A after the move. */
static uint8_t
pattern_moved(uint64_t off)
{
	uint64_t page = off / PAGE_4K;

	return page < MOVE_PAGES ? (uint8_t)(0xb0 + page) : pattern_w(off);
}

/* Run the device until its DMA ends, the host and guest in between. */
static void
run_task(struct host *h, struct guest *g, struct dtask *t)
{
	for (uint32_t i = 0; i < MAX_STEPS; i++) {
		if (t->st == DT_DONE || t->st == DT_FAILED)
			return;
		device_step(h, t);
		host_poll_faults(h, g);
		guest_handle_faults(g);
		host_pass_responses(h, g);
	}
	t->st = DT_FAILED;
}

static struct dtask
task(uint32_t pasid, uint64_t va, uint64_t len, uint8_t *buf, bool write)
{
	return (struct dtask){ .pasid = pasid, .va = va, .len = len,
			       .buf = buf, .write = write, .st = DT_RUN };
}

/* Steps 1-3: DMA into both buffers, verified by the guest. */
static int
step_dma(struct host *h, struct guest *g, uint8_t *buf)
{
	const char *what = h->fl == FL_VTD ? "page requests" : "stalls";
	uint64_t inj = h->faults_injected, res = h->responses_passed;
	struct dtask t;

	for (uint64_t i = 0; i < A_PAGES * PAGE_4K; i++)
		buf[i] = pattern_w(i);
	t = task(PASID_A, GVA_A, A_PAGES * PAGE_4K, buf, true);
	run_task(h, g, &t);
	printf("[device] DMA write %u KiB to PASID %u at 0x%" PRIx64 ": %s, %"
	       PRIu64 " faults\n", A_PAGES * 4, PASID_A, GVA_A,
	       t.st == DT_DONE ? "done" : "FAILED", t.faults);
	if (t.st != DT_DONE || t.faults != 0)
		return -EIO;
	for (uint64_t i = 0; i < B_PAGES * PAGE_4K; i++)
		buf[i] = pattern_b(i);
	t = task(PASID_B, GVA_B, B_PAGES * PAGE_4K, buf, true);
	run_task(h, g, &t);
	printf("[device] DMA write %u KiB to PASID %u at 0x%" PRIx64 ": %s "
	       "after %" PRIu64 " %s\n", B_PAGES * 4, PASID_B, GVA_B,
	       t.st == DT_DONE ? "done" : "FAILED", t.faults, what);
	printf("[host  ]   %" PRIu64 " faults injected into the guest, %" PRIu64
	       " answers passed back (%s)\n", h->faults_injected - inj,
	       h->responses_passed - res, h->fl == FL_VTD ?
	       "page group responses" : "CMD_RESUME");
	printf("[guest ]   %" PRIu64 " faults handled: %" PRIu64 " pages "
	       "mapped on demand, %" PRIu64 " resumed, %" PRIu64
	       " terminated\n", g->faults_handled, g->pages_mapped,
	       g->resumes, g->terminates);
	if (t.st != DT_DONE || t.faults != B_PAGES)
		return -EIO;
	if (guest_verify(g, PASID_A, GVA_A, A_PAGES, pattern_w) != 0 ||
	    guest_verify(g, PASID_B, GVA_B, B_PAGES, pattern_b) != 0) {
		fail("the guest does not find the device's data");
		return -EILSEQ;
	}
	printf("[guest ] verified %u KiB the device wrote, through its own "
	       "stage-1 tables: OK\n", (A_PAGES + B_PAGES) * 4);
	return 0;
}

static void
print_cmds(const struct guest *g, uint32_t from, uint32_t to)
{
	static const char *const names[] = {
		[GC_SYNC] = "sync", [GC_VTD_PC_INV] = "PC_INV",
		[GC_VTD_P_IOTLB] = "P_IOTLB", [GC_VTD_DEVTLB] = "DEVTLB",
		[GC_SMMU_CFGI_CD] = "CFGI_CD",
		[GC_SMMU_TLBI_NH_ASID] = "TLBI_NH_ASID",
		[GC_SMMU_TLBI_NH_VA] = "TLBI_NH_VA",
	};

	printf("[guest ]   commands:");
	for (uint32_t i = from; i < to; i++) {
		const struct gcmd *c = &g->cq[i];

		printf(" %s%s", names[c->type], c->status == 0 ? "=done" :
		       c->status == 1 ? "=not-run" : "=ERROR");
	}
	printf("\n");
}

/*
 * The guest sends its queued commands; an error stops the queue at the
 * command that failed, which the guest sends again (after an injected
 * error the hardware does it right).
 */
static int
guest_sync(struct host *h, struct guest *g, uint32_t fail_at)
{
	uint32_t tail = g->cq_tail;
	int rc;

	h->inject_fail_at = fail_at;
	rc = host_doorbell(h, g);
	if (rc == 0)
		return 0;
	print_cmds(g, 0, tail);
	printf("[guest ]   error at command %u: resubmits commands %u..%u\n",
	       g->cq_head, g->cq_head, tail - 1);
	g->cmds_retried += tail - g->cq_head;
	rc = host_doorbell(h, g);
	if (rc == 0)
		printf("[guest ]   queue drained: every command done\n");
	return rc;
}

/* Steps 4-5: the guest moves pages, the device must see the new ones. */
static int
step_move(struct host *h, struct guest *g, uint8_t *buf)
{
	struct dtask t;
	int rc;

	printf("[guest ] moves %u pages of PASID %u to new frames; "
	       "invalidates (%s)\n", MOVE_PAGES, PASID_A, h->fl == FL_VTD ?
	       "PASID-based IOTLB + device TLB, per page" :
	       "CMD_TLBI_NH_VA per page, leaf");
	rc = guest_move_pages(g);
	/* VT-d: the second entry (the device-TLB range) times out (ITE). */
	if (rc == 0)
		rc = guest_sync(h, g, h->fl == FL_VTD ? 2 : 0);
	if (rc)
		return rc;
	memset(buf, 0, A_PAGES * PAGE_4K);
	t = task(PASID_A, GVA_A, A_PAGES * PAGE_4K, buf, false);
	run_task(h, g, &t);
	for (uint64_t i = 0; t.st == DT_DONE && i < A_PAGES * PAGE_4K; i++)
		if (buf[i] != pattern_moved(i))
			t.st = DT_FAILED;
	printf("[device] DMA read %u KiB of PASID %u: %s\n", A_PAGES * 4,
	       PASID_A, t.st == DT_DONE ? "the moved pages' new data: OK" :
	       "FAILED (stale or missing data)");
	return t.st == DT_DONE ? 0 : -EILSEQ;
}

/* Step 6: unrecoverable faults, reported to the guest. */
static int
step_unrecoverable(struct host *h, struct guest *g, uint8_t *buf)
{
	struct dtask t = task(PASID_A, GVA_BAD, 64, buf, false);
	uint32_t want = h->fl == FL_VTD ? USVA_EMU_BAD_PASID : USVA_EMU_BAD_CD;
	int rc;

	run_task(h, g, &t);
	printf("[device] DMA read PASID %u at 0x%" PRIx64 " (GPA 0x%" PRIx64
	       "): %s\n", PASID_A, GVA_BAD, GPA_OUTSIDE,
	       t.st == DT_FAILED ? "terminated" : "UNEXPECTED");
	if (t.st != DT_FAILED || t.reason != USVA_EMU_S2_FAULT)
		return -EIO;
	host_poll_events(h, g);
	guest_print_events(g);

	printf("[guest ] retires PASID %u (%s)\n", PASID_B, h->fl == FL_VTD ?
	       "clears its PASID entry, PASID-cache invalidation" :
	       "clears CD.V, CMD_CFGI_CD + CMD_TLBI_NH_ASID");
	rc = guest_retire_pasid_b(g);
	/* SMMUv3: the second entry (TLBI_NH_ASID) fails once. */
	if (rc == 0)
		rc = guest_sync(h, g, h->fl == FL_VTD ? 0 : 2);
	if (rc)
		return rc;
	t = task(PASID_B, GVA_B, 64, buf, false);
	run_task(h, g, &t);
	printf("[device] DMA read PASID %u: %s\n", PASID_B,
	       t.st == DT_FAILED ? "terminated" : "UNEXPECTED");
	if (t.st != DT_FAILED || t.reason != want)
		return -EIO;
	host_poll_events(h, g);
	guest_print_events(g);
	return g->events_seen == 2 ? 0 : -EIO;
}

static int
summary(struct host *h, struct guest *g)
{
	struct usva_iommu_stats st;

	usva_iommu_stats(h->iommu, &st);
	printf("[count ] IOMMU: %" PRIu64 " translations, %" PRIu64 " walks, %"
	       PRIu64 " IOTLB hits, %" PRIu64 " device-TLB hits, %" PRIu64
	       " faults queued, %" PRIu64 " answers, %" PRIu64
	       " invalidation entries in %" PRIu64 " calls, %" PRIu64
	       " events, %" PRIu64 " stale uses\n", st.translations, st.walks,
	       st.iotlb_hits, st.devtlb_hits, st.page_requests, st.responses,
	       st.inval_entries, st.inval_calls, st.events, st.stale_uses);
	printf("[count ] host: %" PRIu64 " traps, %" PRIu64 " faults injected,"
	       " %" PRIu64 " answers passed, %" PRIu64 " batches (%" PRIu64
	       " entries, %" PRIu64 " with an error), %" PRIu64
	       " events reported\n", h->traps, h->faults_injected,
	       h->responses_passed, h->batches, h->batch_entries,
	       h->batch_errors, h->events_reported);
	printf("[count ] guest: %u table pages, %" PRIu64 " commands (%" PRIu64
	       " resubmitted), %" PRIu64 " faults handled, %" PRIu64
	       " events seen\n", g->table_pages, g->cmds_sent,
	       g->cmds_retried, g->faults_handled, g->events_seen);
	if (st.stale_uses != 0) {
		fail("%" PRIu64 " stale translations used", st.stale_uses);
		return -EIO;
	}
	return 0;
}

static int
run_flavour(enum flavour fl)
{
	static uint8_t buf[B_PAGES * PAGE_4K];
	struct guest g;
	struct host h;
	int rc;

	printf("usva-viommu-nested: flavour %s (%s)\n",
	       fl == FL_VTD ? "vtd" : "smmuv3", fl == FL_VTD ?
	       "stage 1 attached per PASID, PRI" :
	       "whole CD table attached, stall model");
	rc = host_open(&h, fl);
	if (rc == 0)
		rc = guest_init(&g, fl, h.ram);
	if (rc == 0)
		rc = guest_build(&g);
	if (rc == 0)
		rc = host_ste_write(&h, &g);
	if (rc == 0 && fl == FL_VTD)
		rc = guest_sync(&h, &g, 0);
	if (rc == 0)
		rc = step_dma(&h, &g, buf);
	if (rc == 0)
		rc = step_move(&h, &g, buf);
	if (rc == 0)
		rc = step_unrecoverable(&h, &g, buf);
	if (rc == 0)
		rc = summary(&h, &g);
	else
		fail("flavour %s: %s", fl == FL_VTD ? "vtd" : "smmuv3",
		     strerror(-rc));
	host_close(&h);
	return rc;
}

/* "--flavour vtd|smmuv3|both" after the EAL's options. */
static int
parse(int argc, char **argv, bool *vtd, bool *smmu)
{
	static const struct option opts[] = {
		{ "flavour", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*vtd = *smmu = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'f')
			return -EINVAL;
		*vtd = strcmp(optarg, "vtd") == 0 ||
		       strcmp(optarg, "both") == 0;
		*smmu = strcmp(optarg, "smmuv3") == 0 ||
			strcmp(optarg, "both") == 0;
		if (!*vtd && !*smmu)
			return -EINVAL;
	}
	return optind == argc ? 0 : -EINVAL;
}

int
main(int argc, char **argv)
{
	bool vtd, smmu;
	int rc;

	rc = usva_init(argc, argv);
	if (rc < 0) {
		fail("usva_init: %s", strerror(-rc));
		return 1;
	}
	argc -= rc;
	argv += rc;
	if (parse(argc, argv, &vtd, &smmu) != 0) {
		fail("usage: usva-viommu-nested [EAL options] [-- --flavour "
		     "vtd|smmuv3|both]");
		usva_cleanup();
		return 1;
	}
	printf("usva-viommu-nested: everything on main lcore %u\n",
	       rte_lcore_id());
	rc = 0;
	if (vtd)
		rc = run_flavour(FL_VTD);
	if (rc == 0 && smmu)
		rc = run_flavour(FL_SMMUV3);
	if (rc == 0)
		printf("usva-viommu-nested: OK\n");
	usva_cleanup();
	return rc == 0 ? 0 : 1;
}
