/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: set-up and teardown of one service-only measurement.
 *
 * Everything is made anew for each measurement (pools, emu instances,
 * devices, PASIDs, address spaces, the service) and freed after it, so that
 * one process (one EAL) runs several in a row (--compare, --sweep).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "usva.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "app_clock.h"
#include "fault_perf.h"

static uint32_t
pow2_ceil(uint64_t v)
{
	uint32_t p = 16;

	while (p < v && p < (1u << 20))
		p <<= 1;
	return p;
}

static int
setup_data(struct bench *b)
{
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = b->o.page_shift,
		.numa_node = -1,
		.cache_size = 256, .name = "fault_perf_data",
	};
	struct usva_page_pool_config tcfg = {
		.size = sizeof(tcfg), .page_shift = 12, .numa_node = -1,
		.cache_size = 64, .name = "fault_perf_tables",
	};
	struct usva_page_pool_stats ps;
	uint64_t handlers = (b->o.faults + GRPS - 1) / GRPS + b->niommu;
	int rc;

	/* Tables: root, three upper levels and a leaf table per handler,
	 * plus slack. */
	tcfg.nr_pages = (uint32_t)(handlers * 6 + 256);
	rc = usva_page_pool_create(&tcfg, &b->table_pool);
	if (rc)
		return rc;
	usva_page_pool_stats(b->table_pool, &ps);
	b->setup_pool_ns += ps.setup_ns;
	if (b->o.pager != PAGER_MIRROR) {
		/* Slack for the lcore caches: pages parked there are out of
		 * reach of the other lcores. */
		pcfg.nr_pages = (uint32_t)(b->o.faults +
					   (b->o.page_shift == 12 ? 1024 : 16));
		rc = usva_page_pool_create(&pcfg, &b->data_pool);
		if (rc)
			return rc;
		usva_page_pool_stats(b->data_pool, &ps);
		b->setup_pool_ns += ps.setup_ns;
	}
	if (b->o.pager == PAGER_MIRROR) {
		uint64_t len = b->o.faults * b->pgsz;
		uint64_t t0 = app_now_ns();

		/* The process memory the device shares, touched (with a
		 * pattern) before timing, as a running application's is. */
		b->mirror_buf = aligned_alloc(SZ_2M, RTE_ALIGN_CEIL(len, SZ_2M));
		if (b->mirror_buf == NULL)
			return -ENOMEM;
		for (uint64_t i = 0; i < len; i += 8)
			*(uint64_t *)(b->mirror_buf + i) = i * 0x9e3779b97f4a7c15ull;
		b->setup_pool_ns += app_now_ns() - t0;
	}
	if (b->o.pager == PAGER_FILE) {
		char path[] = "/tmp/usva-fault-perf-XXXXXX";
		uint8_t *chunk = malloc(SZ_2M);
		uint64_t len = b->o.faults * b->pgsz;

		if (chunk == NULL)
			return -ENOMEM;
		b->file_fd = mkstemp(path);
		if (b->file_fd < 0) {
			free(chunk);
			return -errno;
		}
		unlink(path);
		for (uint64_t off = 0; off < len; off += SZ_2M) {
			uint64_t n = RTE_MIN(SZ_2M, len - off);

			for (uint64_t i = 0; i < n; i++)
				chunk[i] = file_byte(off + i);
			if (pwrite(b->file_fd, chunk, n, (off_t)off) != (ssize_t)n) {
				free(chunk);
				return -EIO;
			}
		}
		free(chunk);
	}
	return 0;
}

static int
setup_inst(struct bench *b, unsigned int ii, uint64_t nreq, uint64_t first)
{
	struct inst *in = &b->in[ii];
	char params[96];
	uint64_t range;
	int rc;

	in->nreq = nreq;
	in->first = first;
	in->nh = (unsigned int)((nreq + GRPS - 1) / GRPS);
	in->ndev = (unsigned int)((in->nh + b->o.ppd - 1) / b->o.ppd);
	in->npasid = RTE_MIN(in->nh, b->o.ppd);
	if (in->ndev > MAX_DEVS)
		return -E2BIG;
	snprintf(params, sizeof(params), "flavour=vtd,prq_depth=%u",
		 pow2_ceil(nreq));
	rc = usva_iommu_open(&(struct usva_iommu_config){
			.size = sizeof(struct usva_iommu_config),
			.backend = "emu", .params = params }, &in->iommu);
	if (rc)
		return rc;
	for (unsigned int d = 0; d < in->ndev; d++) {
		char name[32];
		uint64_t left = nreq - (uint64_t)d * b->o.ppd * GRPS;

		snprintf(name, sizeof(name), "perf%u.%u", ii, d);
		rc = usva_iommu_dev_open(in->iommu, &(struct usva_dev_config){
				.size = sizeof(struct usva_dev_config),
				.flags = USVA_DEV_F_PRI, .name = name,
				.pasid_width = 20,
				.pri_capacity = (uint32_t)RTE_MIN(left,
						(uint64_t)b->o.ppd * GRPS) },
				&in->dev[d]);
		if (rc)
			return rc;
	}
	rc = usva_pasid_owner_create(usva_iommu_pasids(in->iommu), 0,
				     &in->owner);
	if (rc)
		return rc;
	for (unsigned int p = 0; p < in->npasid; p++) {
		rc = usva_pasid_alloc(in->owner, &in->pasid[p]);
		if (rc)
			return rc;
	}

	/* One pager per instance: stage 2 is the instance's. */
	range = (uint64_t)in->nh * GRPS * b->pgsz;
	switch (b->o.pager) {
	case PAGER_ANON:
		rc = usva_pager_anon_create(&(struct usva_pager_anon_config){
				.size = sizeof(struct usva_pager_anon_config),
				.pool = b->data_pool, .base = ANON_BASE,
				.len = range, .iommu = in->iommu }, &in->pager);
		break;
	case PAGER_MIRROR:
		rc = usva_pager_mirror_create(&(struct usva_pager_mirror_config){
				.size = sizeof(struct usva_pager_mirror_config),
				.iommu = in->iommu,
				.base = (uint64_t)(uintptr_t)b->mirror_buf +
					first * b->pgsz,
				.len = nreq * b->pgsz }, &in->pager);
		break;
	case PAGER_FILE:
		rc = usva_pager_file_create(&(struct usva_pager_file_config){
				.size = sizeof(struct usva_pager_file_config),
				.fd = b->file_fd, .queue_depth = 256,
				.base = FILE_BASE, .len = nreq * b->pgsz,
				.file_offset = first * b->pgsz,
				.pool = b->data_pool, .iommu = in->iommu },
				&in->pager);
		break;
	}
	if (rc)
		return rc;

	in->h = calloc(in->nh, sizeof(*in->h));
	if (in->h == NULL)
		return -ENOMEM;
	for (unsigned int k = 0; k < in->nh; k++) {
		struct hnd *h = &in->h[k];
		struct usva_as_config acfg = {
			.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS,
			.va_bits = 48, .table_pool = b->table_pool,
		};

		h->dev = k / b->o.ppd;
		h->pasid = in->pasid[k % b->o.ppd];
		h->nreq = (uint32_t)RTE_MIN((uint64_t)GRPS,
					    nreq - (uint64_t)k * GRPS);
		switch (b->o.pager) {
		case PAGER_ANON:
			h->base = ANON_BASE + (uint64_t)k * GRPS * b->pgsz;
			break;
		case PAGER_MIRROR:
			h->base = (uint64_t)(uintptr_t)b->mirror_buf +
				  (first + (uint64_t)k * GRPS) * b->pgsz;
			break;
		case PAGER_FILE:
			h->base = FILE_BASE + (uint64_t)k * GRPS * b->pgsz;
			break;
		}
		rc = usva_as_create(&acfg, &h->as);
		if (rc)
			return rc;
		rc = usva_domain_create(in->iommu, &(struct usva_domain_config){
				.size = sizeof(struct usva_domain_config),
				.as = h->as }, &h->dom);
		if (rc)
			return rc;
		rc = usva_iommu_attach(in->dev[h->dev], h->pasid, h->dom);
		if (rc)
			return rc;
		h->attached = true;
		rc = usva_fault_register(b->svc,
				&(struct usva_fault_handler_config){
				.size = sizeof(struct usva_fault_handler_config),
				.dev = in->dev[h->dev], .as = h->as,
				.pager = in->pager, .pasid = h->pasid }, &h->h);
		if (rc)
			return rc;
	}
	return 0;
}

static int
raise_one(struct bench *b, unsigned int ii, unsigned int k, uint32_t j)
{
	struct inst *in = &b->in[ii];
	struct hnd *h = &in->h[k];
	struct usva_emu_prq_desc d = {
		.addr = h->base + (uint64_t)j * b->pgsz,
		.private_data = { ((uint64_t)ii << 48) | ((uint64_t)k << 16) | j,
				  h->base },
		.pasid = h->pasid,
		.grpid = j,
		.perm = USVA_ACCESS_READ | USVA_ACCESS_WRITE,
		.flags = USVA_PREQ_F_LAST | USVA_PREQ_F_PRIV_DATA,
	};
	int rc = usva_emu_page_request(in->dev[h->dev], &d);

	return rc == 0 ? 0 : (rc == 1 ? -ENOSPC : rc);
}

/* Fill every queue before the clock starts. */
static int
prefill(struct bench *b)
{
	for (unsigned int ii = 0; ii < b->niommu; ii++) {
		struct inst *in = &b->in[ii];
		int rc;

		if (!b->o.rr) {
			for (unsigned int k = 0; k < in->nh; k++)
				for (uint32_t j = 0; j < in->h[k].nreq; j++)
					if ((rc = raise_one(b, ii, k, j)) != 0)
						return rc;
		} else {
			for (uint32_t j = 0; j < GRPS; j++)
				for (unsigned int k = 0; k < in->nh; k++)
					if (j < in->h[k].nreq &&
					    (rc = raise_one(b, ii, k, j)) != 0)
						return rc;
		}
	}
	return 0;
}

int
bench_setup(struct bench *b)
{
	const struct opts *o = &b->o;
	unsigned int w = rte_get_next_lcore(-1, 1, 0);
	struct usva_fault_config fcfg = {
		.size = sizeof(fcfg), .nr_lcores = o->lcores,
		.nr_shards = o->shards, .shard_shift = o->shard_shift,
		.burst = o->burst,
	};
	uint64_t first = 0;
	int rc;

	b->niommu = o->iommus;
	b->pgsz = UINT64_C(1) << o->page_shift;
	if (o->global)
		fcfg.flags |= USVA_FAULT_F_GLOBAL_LOCK;
	if (workers_needed(o) > rte_lcore_count() - 1) {
		fprintf(stderr, "usva-fault-perf: %u worker lcore(s) needed "
			"(--drive %s, --lcores %u), %u available: give the EAL "
			"more lcores (-l)\n", workers_needed(o),
			drive_names[o->drive], o->lcores, rte_lcore_count() - 1);
		return -EINVAL;
	}
	if (o->drive == DRIVE_DEDICATED) {
		/* Launched by the service on the first worker lcores. */
		for (unsigned int s = 0; s < o->lcores; s++) {
			fcfg.lcores[s] = w;
			w = rte_get_next_lcore(w, 1, 0);
		}
	} else {
		/* Service-core mode: the lcore list is ignored; the slots
		 * are run by this program (EAL services, or polled
		 * directly without starting the service). */
		fcfg.flags |= USVA_FAULT_F_SERVICE_CORES;
	}
	rc = usva_fault_service_create(&fcfg, &b->svc);
	if (rc) {
		fprintf(stderr, "usva-fault-perf: service create: %s\n",
			strerror(-rc));
		return rc;
	}
	b->shards = o->shards ? o->shards : USVA_DEFAULT_SHARDS;
	rc = setup_data(b);
	if (rc) {
		fprintf(stderr, "usva-fault-perf: pools: %s\n", strerror(-rc));
		return rc;
	}
	for (unsigned int ii = 0; ii < b->niommu; ii++) {
		uint64_t n = o->faults / b->niommu +
			     (ii < o->faults % b->niommu ? 1 : 0);

		rc = setup_inst(b, ii, n, first);
		if (rc) {
			fprintf(stderr, "usva-fault-perf: instance %u: %s\n", ii,
				strerror(-rc));
			return rc;
		}
		first += n;
		rc = usva_fault_service_add_iommu(b->svc, b->in[ii].iommu);
		if (rc) {
			fprintf(stderr, "usva-fault-perf: add instance %u: %s\n",
				ii, strerror(-rc));
			return rc;
		}
	}
	rc = prefill(b);
	if (rc)
		fprintf(stderr, "usva-fault-perf: filling the queues: %s\n",
			strerror(-rc));
	return rc;
}

/* ---- teardown ---------------------------------------------------------------------- */

/* Pages the file pager mapped are the address space's: give them back
 * before the pool goes (the anon pager takes its own back at destroy). */
static void
reclaim(struct bench *b, struct hnd *h)
{
	if (b->data_pool == NULL || b->o.pager != PAGER_FILE)
		return;
	for (uint32_t j = 0; j < h->nreq; j++) {
		struct usva_as_xlate x;
		uint64_t va = h->base + (uint64_t)j * b->pgsz;

		if (usva_as_lookup(h->as, va, &x) == 0 &&
		    usva_page_pool_contains(b->data_pool,
					    (void *)(uintptr_t)x.oa) &&
		    usva_as_unmap(h->as, va, b->pgsz, NULL) == 0)
			usva_page_free(b->data_pool, (void *)(uintptr_t)x.oa,
				       false);
	}
}

void
bench_teardown(struct bench *b)
{
	for (unsigned int ii = 0; ii < b->niommu; ii++)
		for (unsigned int k = 0; b->in[ii].h && k < b->in[ii].nh; k++)
			usva_fault_unregister(b->in[ii].h[k].h);
	usva_fault_service_destroy(b->svc);
	for (unsigned int ii = 0; ii < b->niommu; ii++) {
		struct inst *in = &b->in[ii];

		for (unsigned int k = 0; in->h && k < in->nh; k++) {
			struct hnd *h = &in->h[k];

			if (h->attached)
				usva_iommu_detach(in->dev[h->dev], h->pasid);
			if (h->dom)
				usva_domain_destroy(h->dom);
			if (h->as)
				reclaim(b, h);
			usva_as_destroy(h->as);
		}
		free(in->h);
		if (in->pager)
			usva_pager_destroy(in->pager);
		usva_pasid_owner_destroy(in->owner);
		for (unsigned int d = 0; d < in->ndev; d++)
			usva_iommu_dev_close(in->dev[d]);
		usva_iommu_close(in->iommu);
	}
	usva_page_pool_destroy(b->data_pool);
	usva_page_pool_destroy(b->table_pool);
	free(b->mirror_buf);
	if (b->file_fd >= 0)
		close(b->file_fd);
}

