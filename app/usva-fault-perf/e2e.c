/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: end to end (--device emu-dma). A live emu-dma engine
 * fills (or copies) 4 KiB into fresh pages of an anon-paged sparse range,
 * block-on-fault: every operation's destination page faults once, the
 * engine raises a page request and parks the operation, the fault service
 * resolves the request (a zeroed pool page mapped in the PASID's address
 * space) and answers, the engine retries, moves the data and completes.
 *
 * Lcore layout (two cores are enough, -l 0-1; no two busy-pollers share a
 * core):
 *   main lcore    the application and the device: per engine, fills each
 *                 channel's ring, rings the doorbell, runs one engine
 *                 iteration (usva_emu_dma_poll), reaps completions; in
 *                 one loop;
 *   worker 1..    the fault service, dedicated (--lcores fault lcores).
 * The engine runs on the application's lcore rather than on a service
 * lcore of its own: on two cores that lcore would share a core with one
 * of the others, and both poll. The device side costs the main lcore what
 * a real device would not (it moves the bytes), so the faults/s here are a
 * floor for what the fault lcore could serve a device that runs by itself.
 *
 * Keeping operations in flight: each engine has --vchans channels of
 * --inflight engines (jobs) each, so up to vchans x inflight operations
 * wait on faults at once (the PRI group index space, 512 per device, and
 * the device's PRI capacity, set to 512, allow it). Each ring holds twice
 * the channel's in-flight operations: enough to refill as they complete,
 * few enough that an operation waits little in the ring before it runs.
 * The operations of an engine rotate over its --pasids PASIDs (each with
 * its address space and handler; the operation names its PASID), each
 * PASID's pages contiguous from the range's start.
 *
 * Fill is the default: the device writes each page whole, as the kernel
 * zeroes each page on a first touch, the peer it is set beside; a copy
 * (--op copy, from one source page per PASID, faulted in before the
 * clock) also translates and reads its source.
 *
 * --op-bytes N (default 4096) makes each operation move only N bytes at
 * the start of its page, which still faults the whole page in: the cost
 * of the data movement, which the emulated device pays on the main lcore
 * and a real one would not, then drops out of the figures.
 *
 * Figures: faults/s = operations (one fault each, checked) over the time
 * from the first enqueue to the last completion; request-to-response
 * latency from the service's histogram (warm-up excluded); operation
 * latency (enqueue to completion, TSC) from a histogram of our own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>

#include "usva.h"
#include "usva_as.h"
#include "usva_dma.h"
#include "usva_emu.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "app_clock.h"
#include "fault_perf.h"

#define E2E_MAX_DEVS	16
#define E2E_MAX_PASIDS	64		/* per engine */
#define E2E_PATTERN	UINT64_C(0x5a17c0defacefeed)
#define E2E_LIMIT_NS	(UINT64_C(60) * 1000000000)

/* One (device, PASID): its address space, handler and pages used. */
struct e2e_hnd {
	uint32_t pasid;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_handler *h;
	uint64_t next;		/* pages given to operations so far */
};

/* One channel as the application sees it. */
struct e2e_lane {
	uint16_t vchan;
	uint16_t mask;
	uint64_t *ts;		/* TSC at enqueue, by ring slot */
};

struct e2e_dev {
	struct usva_iommu_dev *iodev;
	int16_t dma;		/* -1: none */
	bool started;
	unsigned int nh;
	struct e2e_hnd h[E2E_MAX_PASIDS];
	unsigned int rr;	/* next PASID of an operation */
	struct e2e_lane lane[USVA_DMA_MAX_VCHANS];
};

struct e2e {
	struct opts o;
	struct usva_iommu *iommu;
	struct usva_pasid_owner *owner;
	struct usva_page_pool *data_pool, *table_pool;
	struct usva_pager *pager;
	struct usva_fault_service *svc;
	unsigned int ndev;
	struct e2e_dev d[E2E_MAX_DEVS];
	uint64_t src_va;	/* copy: the source page, in every PASID */
	uint64_t issued, done, errors;
	uint64_t op_hist[USVA_FAULT_LAT_BUCKETS];
	uint64_t tsc_hz;
	struct usva_fault_stats st0;	/* the service's, before the clock */
	uint64_t setup_ns, elapsed_ns, rq_wait_ns;
};

/* ---- set-up ------------------------------------------------------------------ */

static int
e2e_pools(struct e2e *e)
{
	uint64_t h = (uint64_t)e->ndev * e->o.pasids;
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = 12, .numa_node = -1,
		.cache_size = 256, .name = "fault_perf_e2e_data",
		.nr_pages = (uint32_t)(e->o.faults + h + 1024),
	};
	/* A leaf table per 512 pages of an address space, a partial one
	 * and the upper levels for each, slack. */
	struct usva_page_pool_config tcfg = {
		.size = sizeof(tcfg), .page_shift = 12, .numa_node = -1,
		.cache_size = 64, .name = "fault_perf_e2e_tables",
		.nr_pages = (uint32_t)(e->o.faults / GRPS + h * 8 + 256),
	};
	int rc;

	rc = usva_page_pool_create(&tcfg, &e->table_pool);
	if (rc == 0)
		rc = usva_page_pool_create(&pcfg, &e->data_pool);
	return rc;
}

static int
e2e_iommu(struct e2e *e)
{
	int rc;

	rc = usva_iommu_open(&(struct usva_iommu_config){
			.size = sizeof(struct usva_iommu_config),
			.backend = "emu",
			.params = "flavour=vtd,prq_depth=8192" }, &e->iommu);
	if (rc)
		return rc;
	rc = usva_pasid_owner_create(usva_iommu_pasids(e->iommu), 0,
				     &e->owner);
	if (rc)
		return rc;
	/* Every PASID's pages start at the range's start; the source page
	 * of the copies lies past the last page any of them can reach. */
	e->src_va = ANON_BASE + e->o.faults * SZ_4K;
	return usva_pager_anon_create(&(struct usva_pager_anon_config){
			.size = sizeof(struct usva_pager_anon_config),
			.pool = e->data_pool, .base = ANON_BASE,
			.len = (e->o.faults + 1) * SZ_4K, .iommu = e->iommu },
			&e->pager);
}

static int
e2e_handler(struct e2e *e, struct e2e_dev *d, struct e2e_hnd *h)
{
	struct usva_as_config acfg = {
		.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS,
		.va_bits = 48, .table_pool = e->table_pool,
	};
	int rc;

	rc = usva_pasid_alloc(e->owner, &h->pasid);
	if (rc == 0)
		rc = usva_as_create(&acfg, &h->as);
	if (rc == 0)
		rc = usva_domain_create(e->iommu, &(struct usva_domain_config){
				.size = sizeof(struct usva_domain_config),
				.as = h->as }, &h->dom);
	if (rc == 0)
		rc = usva_iommu_attach(d->iodev, h->pasid, h->dom);
	if (rc)
		return rc;
	h->attached = true;
	return usva_fault_register(e->svc, &(struct usva_fault_handler_config){
			.size = sizeof(struct usva_fault_handler_config),
			.dev = d->iodev, .as = h->as, .pager = e->pager,
			.pasid = h->pasid }, &h->h);
}

static uint16_t
ring_size(const struct usva_dma_info *info, unsigned int inflight)
{
	uint16_t n = 16;

	while (n < 2 * inflight)
		n <<= 1;
	return RTE_MIN(RTE_MAX(n, info->min_desc), info->max_desc);
}

static int
e2e_engine(struct e2e *e, unsigned int k)
{
	struct e2e_dev *d = &e->d[k];
	struct usva_dma_info info;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "fault-perf-dma%u", k);
	rc = usva_emu_dma_create(&(struct usva_emu_dma_config){
			.size = sizeof(struct usva_emu_dma_config),
			.name = name, .dev = d->iodev,
			.max_vchans = (uint16_t)e->o.vchans,
			.max_inflight = e->o.inflight }, &d->dma);
	if (rc == 0)
		rc = usva_dma_info_get(d->dma, &info);
	if (rc == 0)
		rc = usva_dma_configure(d->dma, &(struct usva_dma_conf){
				.size = sizeof(struct usva_dma_conf),
				.nb_vchans = (uint16_t)e->o.vchans });
	for (uint16_t v = 0; rc == 0 && v < e->o.vchans; v++) {
		struct e2e_lane *l = &d->lane[v];
		uint16_t nb = ring_size(&info, e->o.inflight);

		l->vchan = v;
		l->mask = (uint16_t)(nb - 1);
		l->ts = calloc(nb, sizeof(*l->ts));
		if (l->ts == NULL)
			return -ENOMEM;
		rc = usva_dma_vchan_setup(d->dma, v,
				&(struct usva_dma_vchan_conf){
				.size = sizeof(struct usva_dma_vchan_conf),
				.nb_desc = nb, .fault_mode = USVA_DMA_FAULT_BLOCK,
				.pasid = d->h[v % d->nh].pasid });
	}
	if (rc == 0)
		rc = usva_dma_start(d->dma);
	d->started = rc == 0;
	return rc;
}

static int
e2e_device(struct e2e *e, unsigned int k)
{
	struct e2e_dev *d = &e->d[k];
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "fault-perf-e2e%u", k);
	rc = usva_iommu_dev_open(e->iommu, &(struct usva_dev_config){
			.size = sizeof(struct usva_dev_config),
			.flags = USVA_DEV_F_PRI, .name = name,
			.pasid_width = 20, .pri_capacity = 512 }, &d->iodev);
	if (rc)
		return rc;
	d->nh = e->o.pasids;
	for (unsigned int p = 0; p < d->nh; p++) {
		rc = e2e_handler(e, d, &d->h[p]);
		if (rc)
			return rc;
	}
	return e2e_engine(e, k);
}

static int
e2e_service(struct e2e *e)
{
	struct usva_fault_config fcfg = {
		.size = sizeof(fcfg), .nr_lcores = e->o.lcores,
		.nr_shards = e->o.shards, .shard_shift = e->o.shard_shift,
		.burst = e->o.burst,
	};
	unsigned int w = rte_get_next_lcore(-1, 1, 0);

	if (e->o.lcores > rte_lcore_count() - 1) {
		fprintf(stderr, "usva-fault-perf: end to end needs %u worker "
			"lcore(s) for the fault service: give the EAL more "
			"lcores (-l)\n", e->o.lcores);
		return -EINVAL;
	}
	if (e->o.global)
		fcfg.flags |= USVA_FAULT_F_GLOBAL_LOCK;
	for (unsigned int s = 0; s < e->o.lcores; s++) {
		fcfg.lcores[s] = w;
		w = rte_get_next_lcore(w, 1, 0);
	}
	return usva_fault_service_create(&fcfg, &e->svc);
}

static int
e2e_setup(struct e2e *e)
{
	int rc;

	e->ndev = e->o.devices;
	e->tsc_hz = rte_get_tsc_hz();
	for (unsigned int k = 0; k < E2E_MAX_DEVS; k++)
		e->d[k].dma = -1;
	if (e->o.pasids > E2E_MAX_PASIDS)
		return -EINVAL;
	rc = e2e_service(e);
	if (rc == 0)
		rc = e2e_pools(e);
	if (rc == 0)
		rc = e2e_iommu(e);
	if (rc == 0)
		rc = usva_fault_service_add_iommu(e->svc, e->iommu);
	for (unsigned int k = 0; rc == 0 && k < e->ndev; k++)
		rc = e2e_device(e, k);
	if (rc == 0)
		rc = usva_fault_service_start(e->svc);
	return rc;
}

/* ---- warm-up: the copies' source page ------------------------------------------ */

/* Run engine @p d until channel 0 has completed one operation. */
static int
e2e_wait_one(struct e2e_dev *d)
{
	uint64_t deadline = app_now_ns() + 5000000000u;
	struct usva_dma_cpl cpl;
	uint16_t last;

	while (app_now_ns() < deadline) {
		usva_emu_dma_poll(d->dma);
		if (usva_dma_completed_status(d->dma, 0, 1, &last, &cpl) == 1)
			return cpl.status == USVA_DMA_STATUS_SUCCESS ? 0 : -EIO;
	}
	return -ETIMEDOUT;
}

/* Fault the source page in for every PASID (a PREFETCH), then give it a
 * pattern through the IOMMU's view, so that copies carry it. */
static int
e2e_warm(struct e2e *e)
{
	for (unsigned int k = 0; k < e->ndev; k++) {
		struct e2e_dev *d = &e->d[k];

		for (unsigned int p = 0; p < d->nh; p++) {
			struct usva_dma_op op = {
				.opcode = USVA_DMA_OP_PREFETCH,
				.flags = USVA_DMA_OP_F_PASID |
					 USVA_DMA_OP_F_SUBMIT,
				.pasid = d->h[p].pasid, .src = e->src_va,
				.len = SZ_4K,
			};
			struct usva_emu_xlate x;
			int rc = usva_dma_enqueue(d->dma, 0, &op);

			if (rc >= 0)
				rc = e2e_wait_one(d);
			if (rc == 0)
				rc = usva_emu_translate(d->iodev, d->h[p].pasid,
							e->src_va,
							USVA_ACCESS_READ, &x);
			if (rc)
				return rc;
			for (unsigned int i = 0; i < SZ_4K / 8; i++)
				((uint64_t *)x.host)[i] = E2E_PATTERN;
		}
	}
	return 0;
}

/* ---- the timed loop ------------------------------------------------------------- */

/* Fill the ring of @p l: each operation on a fresh page of the next
 * PASID. */
static void
lane_fill(struct e2e *e, struct e2e_dev *d, struct e2e_lane *l)
{
	uint16_t cap = usva_dma_burst_capacity(d->dma, l->vchan);
	uint64_t tsc = rte_rdtsc();
	unsigned int n = 0;

	for (; cap > 0 && e->issued < e->o.faults; cap--, n++) {
		struct e2e_hnd *h = &d->h[d->rr];
		struct usva_dma_op op = {
			.opcode = e->o.op == E2E_FILL ? USVA_DMA_OP_FILL :
				  USVA_DMA_OP_COPY,
			.flags = USVA_DMA_OP_F_PASID, .pasid = h->pasid,
			.src = e->src_va, .dst = ANON_BASE + h->next * SZ_4K,
			.len = e->o.op_bytes, .pattern = E2E_PATTERN,
		};
		int idx = usva_dma_enqueue(d->dma, l->vchan, &op);

		if (idx < 0)
			break;
		l->ts[(uint16_t)idx & l->mask] = tsc;
		h->next++;
		e->issued++;
		d->rr = d->rr + 1 == d->nh ? 0 : d->rr + 1;
	}
	if (n)
		usva_dma_submit(d->dma, l->vchan);
}

static void
op_lat(struct e2e *e, uint64_t tsc, uint64_t then)
{
	uint64_t ns = (tsc - then) * 1000000000u / e->tsc_hz;
	unsigned int b = ns ? 63u - (unsigned int)__builtin_clzll(ns) : 0;

	e->op_hist[RTE_MIN(b, USVA_FAULT_LAT_BUCKETS - 1u)]++;
}

/* An operation that did not succeed: count it, say what it was. */
static void
lane_error(struct e2e *e, struct e2e_dev *d, struct e2e_lane *l)
{
	struct usva_dma_cpl cpl;
	uint16_t last;

	if (usva_dma_completed_status(d->dma, l->vchan, 1, &last, &cpl) != 1)
		return;
	e->done++;
	if (e->errors++ < 5)
		fprintf(stderr, "usva-fault-perf: operation %u of channel %u "
			"ended %s at 0x%" PRIx64 "\n", last, l->vchan,
			usva_dma_status_str(cpl.status), cpl.fault_addr);
}

static void
lane_reap(struct e2e *e, struct e2e_dev *d, struct e2e_lane *l)
{
	uint16_t last = 0, n;
	bool err = false;
	uint64_t tsc;

	n = usva_dma_completed(d->dma, l->vchan, 64, &last, &err);
	if (n) {
		tsc = rte_rdtsc();
		for (uint16_t i = 0; i < n; i++)
			op_lat(e, tsc, l->ts[(uint16_t)(last - i) & l->mask]);
		e->done += n;
	}
	if (err)
		lane_error(e, d, l);
}

static int
e2e_loop(struct e2e *e)
{
	uint64_t deadline = app_now_ns() + E2E_LIMIT_NS;
	struct progress pg;
	uint64_t t0;

	e->rq_wait_ns = sched_wait_ns(true);
	perf_ctl_cmd("enable");
	t0 = app_now_ns();
	progress_start(&pg, "end to end", e->o.faults);
	for (unsigned int it = 0; e->done < e->o.faults; it++) {
		for (unsigned int k = 0; k < e->ndev; k++) {
			struct e2e_dev *d = &e->d[k];

			for (unsigned int v = 0; v < e->o.vchans; v++)
				lane_fill(e, d, &d->lane[v]);
			usva_emu_dma_poll(d->dma);
			for (unsigned int v = 0; v < e->o.vchans; v++)
				lane_reap(e, d, &d->lane[v]);
		}
		if ((it & 1023) == 0) {
			progress_tick(&pg, e->done);
			if (app_now_ns() > deadline)
				break;
		}
	}
	e->elapsed_ns = app_now_ns() - t0;
	perf_ctl_cmd("disable");
	e->rq_wait_ns = sched_wait_ns(true) - e->rq_wait_ns;
	if (e->done < e->o.faults) {
		fprintf(stderr, "usva-fault-perf: %" PRIu64 " of %" PRIu64
			" operations done after %" PRIu64 " s\n", e->done,
			e->o.faults, E2E_LIMIT_NS / 1000000000);
		return -ETIMEDOUT;
	}
	return 0;
}

/* ---- check, figures, report -------------------------------------------------- */

/* Every page an operation was given is mapped and holds the pattern. */
static uint64_t
e2e_check_pages(struct e2e *e)
{
	uint64_t bad = 0;

	for (unsigned int k = 0; k < e->ndev; k++) {
		struct e2e_dev *d = &e->d[k];

		for (unsigned int p = 0; p < d->nh; p++) {
			struct e2e_hnd *h = &d->h[p];

			for (uint64_t i = 0; i < h->next; i++) {
				uint64_t va = ANON_BASE + i * SZ_4K;
				struct usva_emu_xlate x;
				const uint64_t *w;

				if (usva_emu_translate(d->iodev, h->pasid, va,
						       USVA_ACCESS_READ, &x)) {
					if (bad++ < 5)
						fprintf(stderr, "PASID %u page "
							"0x%" PRIx64 " not "
							"mapped\n", h->pasid,
							va);
					continue;
				}
				w = x.host;
				if ((w[0] != E2E_PATTERN ||
				     w[e->o.op_bytes / 8 - 1] != E2E_PATTERN) &&
				    bad++ < 5)
					fprintf(stderr, "PASID %u page 0x%"
						PRIx64 ": 0x%" PRIx64 "\n",
						h->pasid, va, w[0]);
			}
		}
	}
	return bad;
}

/* The service's counters over the timed part only. */
static void
e2e_stats(struct e2e *e, struct usva_fault_stats *st)
{
	usva_fault_stats(e->svc, -1, st);
	st->requests -= e->st0.requests;
	st->groups -= e->st0.groups;
	st->resp_success -= e->st0.resp_success;
	for (int i = 0; i < USVA_FAULT_LAT_BUCKETS; i++)
		st->lat_hist[i] -= e->st0.lat_hist[i];
}

static uint64_t
e2e_check(struct e2e *e, const struct usva_fault_stats *st)
{
	uint64_t bad = e->errors;

	if (st->groups != e->o.faults || st->resp_success != e->o.faults) {
		fprintf(stderr, "usva-fault-perf: %" PRIu64 " faults answered "
			"(%" PRIu64 " SUCCESS) for %" PRIu64 " operations: "
			"not one fault each\n", st->groups, st->resp_success,
			e->o.faults);
		bad++;
	}
	if (e->o.verify)
		bad += e2e_check_pages(e);
	return bad;
}

static void
e2e_report(const struct e2e *e, const struct result *r)
{
	const struct opts *o = &e->o;

	if (o->json) {
		printf("{\"mode\": \"end-to-end\", \"faults_per_s\": %.0f, "
		       "\"gb_per_s\": %.3f, \"p50_ns\": %" PRIu64 ", \"p90_ns\": %"
		       PRIu64 ", \"p99_ns\": %" PRIu64 ", \"max_ns\": %" PRIu64
		       ", \"op_p50_ns\": %" PRIu64 ", \"op_p99_ns\": %" PRIu64
		       ", \"op_max_ns\": %" PRIu64 ", \"ops\": %" PRIu64
		       ", \"op\": \"%s\", \"op_bytes\": %u, \"devices\": %u, "
		       "\"vchans\": %u, "
		       "\"inflight\": %u, \"pasids\": %u, \"fault_lcores\": %u, "
		       "\"elapsed_ns\": %" PRIu64 ", \"rq_wait_ns\": %" PRIu64
		       ", \"ok\": %s}\n", r->fps, r->gbps, r->p50, r->p90,
		       r->p99, r->max, r->op_p50, r->op_p99, r->op_max, r->ops,
		       o->op == E2E_FILL ? "fill" : "copy", o->op_bytes, e->ndev,
		       o->vchans,
		       o->inflight, o->pasids, o->lcores, e->elapsed_ns,
		       e->rq_wait_ns, r->ok ? "true" : "false");
		return;
	}
	printf("usva-fault-perf: end to end, emu-dma engine (%s of %u bytes "
	       "per operation, block-on-fault), anon pager, 4 KiB pages\n",
	       o->op == E2E_FILL ? "fill" : "copy", o->op_bytes);
	printf("  layout      : main lcore %u: application and engine "
	       "(enqueue, usva_emu_dma_poll, reap); fault service dedicated "
	       "on %u worker lcore(s) from %u\n", rte_get_main_lcore(),
	       o->lcores, rte_get_next_lcore(-1, 1, 0));
	printf("  device      : %u engine(s) x %u channels x %u in flight, "
	       "%u PASIDs per engine, set-up %.3f s\n", e->ndev, o->vchans,
	       o->inflight, o->pasids, e->setup_ns / 1e9);
	printf("  faults      : %" PRIu64 " in %.3f ms (one per operation)\n",
	       r->faults, e->elapsed_ns / 1e6);
	printf("  throughput  : %.3f M faults/s, %.2f GB/s populated\n",
	       r->fps / 1e6, r->gbps);
	printf("  latency     : request to response p50 %" PRIu64 " ns, p90 %"
	       PRIu64 " ns, p99 %" PRIu64 " ns, max < %" PRIu64 " ns\n",
	       r->p50, r->p90, r->p99, r->max);
	printf("  operations  : enqueue to completion p50 %" PRIu64 " ns, "
	       "p99 %" PRIu64 " ns, max < %" PRIu64 " ns\n", r->op_p50,
	       r->op_p99, r->op_max);
	printf("  disturbance : threads waited %.3f ms for a CPU while "
	       "timed%s\n", e->rq_wait_ns / 1e6,
	       e->rq_wait_ns * 20 > e->elapsed_ns ? " (more than 5%: "
	       "something else ran; repeat the run)" : "");
	printf("  check       : %s\n", r->ok ? "every operation succeeded "
	       "after one fault, every page holds its data" : "FAILED");
}

/* ---- teardown ------------------------------------------------------------------ */

static void
e2e_teardown(struct e2e *e)
{
	for (unsigned int k = 0; k < e->ndev; k++) {
		struct e2e_dev *d = &e->d[k];

		if (d->started)
			usva_dma_stop(d->dma);
		if (d->dma >= 0)
			usva_dma_close(d->dma);
		for (unsigned int v = 0; v < USVA_DMA_MAX_VCHANS; v++)
			free(d->lane[v].ts);
		for (unsigned int p = 0; p < d->nh; p++)
			usva_fault_unregister(d->h[p].h);
	}
	usva_fault_service_destroy(e->svc);
	for (unsigned int k = 0; k < e->ndev; k++) {
		struct e2e_dev *d = &e->d[k];

		for (unsigned int p = 0; p < d->nh; p++) {
			struct e2e_hnd *h = &d->h[p];

			if (h->attached)
				usva_iommu_detach(d->iodev, h->pasid);
			usva_domain_destroy(h->dom);
			usva_as_destroy(h->as);
			if (h->pasid != 0)
				usva_pasid_free(e->owner, h->pasid);
		}
		usva_iommu_dev_close(d->iodev);
	}
	usva_pager_destroy(e->pager);
	usva_pasid_owner_destroy(e->owner);
	usva_iommu_close(e->iommu);
	usva_page_pool_destroy(e->data_pool);
	usva_page_pool_destroy(e->table_pool);
}

static void
e2e_result(struct e2e *e, struct result *r, uint64_t bad)
{
	struct usva_fault_stats st;

	e2e_stats(e, &st);
	result_fill(r, &st, e->o.faults, e->elapsed_ns, SZ_4K);
	r->rq_wait_ns = e->rq_wait_ns;
	r->ops = e->done;
	r->op_errors = e->errors;
	r->op_p50 = lat_hist_pct(e->op_hist, 50);
	r->op_p99 = lat_hist_pct(e->op_hist, 99);
	r->op_max = lat_hist_max(e->op_hist);
	r->ok = bad + e2e_check(e, &st) == 0;
}

int
e2e_measure(const struct opts *o, struct result *r)
{
	struct e2e *e = calloc(1, sizeof(*e));
	uint64_t t0 = app_now_ns();
	int rc;

	memset(r, 0, sizeof(*r));
	if (e == NULL)
		return -ENOMEM;
	e->o = *o;
	rc = e2e_setup(e);
	if (rc == 0 && o->op == E2E_COPY)
		rc = e2e_warm(e);
	if (rc == 0)
		rc = usva_fault_stats(e->svc, -1, &e->st0);
	e->setup_ns = app_now_ns() - t0;
	/* No cache eviction as in the service-only runs: the fault lcore
	 * runs already, and the engine writes the queue while timed. */
	if (rc == 0)
		rc = e2e_loop(e);
	if (rc == 0) {
		e2e_result(e, r, 0);
		if (!o->quiet)
			e2e_report(e, r);
	} else {
		fprintf(stderr, "usva-fault-perf: end to end: %s\n",
			strerror(-rc));
	}
	e2e_teardown(e);
	free(e);
	if (rc == 0 && !r->ok)
		rc = -EIO;
	return rc;
}
