/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: figures of a measurement, the report of a service-only
 * one (text or JSON) and the latency CDF as CSV.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <rte_lcore.h>

#include "usva.h"
#include "usva_fault.h"
#include "fault_perf.h"

/* Upper edge of the highest non-empty bucket: the histogram keeps no
 * exact maximum, this bounds it (within a factor of two). */
uint64_t
lat_hist_max(const uint64_t *hist)
{
	for (int i = USVA_FAULT_LAT_BUCKETS - 1; i >= 0; i--)
		if (hist[i] != 0)
			return UINT64_C(1) << (i + 1);
	return 0;
}

uint64_t
lat_hist_pct(const uint64_t *hist, double p)
{
	struct usva_fault_stats st = { 0 };

	for (int i = 0; i < USVA_FAULT_LAT_BUCKETS; i++)
		st.lat_hist[i] = hist[i];
	return usva_fault_lat_percentile(&st, p);
}

void
result_fill(struct result *r, const struct usva_fault_stats *st,
	    uint64_t faults, uint64_t elapsed_ns, uint64_t page_size)
{
	r->st = *st;
	r->faults = faults;
	r->elapsed_ns = elapsed_ns;
	r->page_size = page_size;
	r->fps = elapsed_ns ? (double)faults * 1e9 / (double)elapsed_ns : 0;
	r->gbps = r->fps * (double)page_size / 1e9;
	r->p50 = usva_fault_lat_percentile(st, 50);
	r->p90 = usva_fault_lat_percentile(st, 90);
	r->p99 = usva_fault_lat_percentile(st, 99);
	r->max = lat_hist_max(st->lat_hist);
}

void
report_json(const struct bench *b, const struct result *r)
{
	const struct opts *o = &b->o;

	printf("{\"faults_per_s\": %.0f, \"gb_per_s\": %.3f, \"p50_ns\": %"
	       PRIu64 ", \"p90_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
	       ", \"max_ns\": %" PRIu64 ", \"fault_lcores\": %u, "
	       "\"shards\": %u, \"lock_mode\": \"%s\", \"pager\": \"%s\", "
	       "\"page_size\": %" PRIu64 ", "
	       "\"faults\": %" PRIu64 ", \"iommus\": %u, "
	       "\"drive\": \"%s\", \"order\": \"%s\", \"burst\": %u, "
	       "\"elapsed_ns\": %" PRIu64 ", \"setup_ns\": %" PRIu64
	       ", \"pool_setup_ns\": %" PRIu64 ", \"rq_wait_ns\": %"
	       PRIu64 ", \"ok\": %s}\n",
	       r->fps, r->gbps, r->p50, r->p90, r->p99, r->max, o->lcores,
	       b->shards, o->global ? "global" : "sharded",
	       pager_names[o->pager], b->pgsz, o->faults, b->niommu,
	       drive_names[o->drive], o->rr ? "rr" : "seq", o->burst,
	       b->elapsed_ns, b->setup_ns, b->setup_pool_ns, b->rq_wait_ns,
	       b->bad == 0 ? "true" : "false");
}

static void
report_layout(const struct bench *b)
{
	const struct opts *o = &b->o;
	unsigned int w = rte_get_next_lcore(-1, 1, 0);

	printf("  layout      : %u fault lcore(s), drive %s, %u IOMMU "
	       "queue(s):", o->lcores, drive_names[o->drive], b->niommu);
	for (unsigned int s = 0; s < o->lcores; s++) {
		bool on_main = o->drive != DRIVE_DEDICATED && s == 0;

		printf("%s slot %u on %s lcore %u%s", s ? "," : "", s,
		       on_main ? "main" : "worker",
		       on_main ? rte_get_main_lcore() : w,
		       o->drive == DRIVE_SERVICE && !on_main ?
		       " (service core)" : "");
		if (!on_main)
			w = rte_get_next_lcore(w, 1, 0);
	}
	printf("%s\n", o->drive == DRIVE_DEDICATED ?
	       "; main lcore sleeps" : "");
}

void
report_text(const struct bench *b, const struct result *r)
{
	const struct opts *o = &b->o;
	unsigned int nh = 0, nd = 0;

	for (unsigned int ii = 0; ii < b->niommu; ii++) {
		nh += b->in[ii].nh;
		nd += b->in[ii].ndev;
	}
	printf("usva-fault-perf: emu backend, pre-filled queues, %s pager, "
	       "%s pages\n", pager_names[o->pager],
	       b->pgsz == SZ_2M ? "2 MiB" : "4 KiB");
	report_layout(b);
	printf("  service     : %u shards, %s, burst %s%u, order %s\n",
	       b->shards, o->global ? "global lock" : "sharded",
	       o->burst ? "" : "default ", o->burst ? o->burst :
	       USVA_DEFAULT_FAULT_BURST, o->rr ? "round-robin" : "sequential");
	printf("  set-up      : %.3f s (pools and memory %.3f s), not timed\n",
	       b->setup_ns / 1e9, b->setup_pool_ns / 1e9);
	printf("  faults      : %" PRIu64 " in %.3f ms (one group each; "
	       "%u PASIDs on %u devices, %u per device)\n", o->faults,
	       b->elapsed_ns / 1e6, nh, nd, o->ppd);
	printf("  throughput  : %.3f M faults/s (%.1f ns per fault), "
	       "%.2f GB/s populated\n", r->fps / 1e6,
	       (double)b->elapsed_ns / (double)o->faults, r->gbps);
	printf("  disturbance : threads waited %.3f ms for a CPU while "
	       "timed%s\n", b->rq_wait_ns / 1e6,
	       b->rq_wait_ns * 20 > b->elapsed_ns ? " (more than 5%: "
	       "something else ran; repeat the run)" : "");
	printf("  latency     : p50 %" PRIu64 " ns, p90 %" PRIu64 " ns, p99 %"
	       PRIu64 " ns, max < %" PRIu64 " ns (request queued to "
	       "response; the queues were filled before the start, so this "
	       "is mostly time spent queued)\n", r->p50, r->p90, r->p99,
	       r->max);
	printf("  check       : %s\n", b->bad == 0 ? "every request answered "
	       "once, every page mapped" : "FAILED");
}

void
cdf_header(FILE *f)
{
	fprintf(f, "param,value,lat_ns,cdf\n");
}

/*
 * The CDF of a latency histogram: one row per non-empty bucket, at its
 * upper edge (the fraction of samples below it), plus a first row at the
 * lower edge of the first one, so that a step plot starts at 0.
 */
int
cdf_write(FILE *f, const char *param, unsigned int value,
	  const uint64_t *hist)
{
	uint64_t total = 0, cum = 0;
	bool first = true;

	for (int i = 0; i < USVA_FAULT_LAT_BUCKETS; i++)
		total += hist[i];
	if (total == 0)
		return 0;
	for (int i = 0; i < USVA_FAULT_LAT_BUCKETS; i++) {
		if (hist[i] == 0)
			continue;
		if (first)
			fprintf(f, "%s,%u,%" PRIu64 ",0\n", param, value,
				UINT64_C(1) << i);
		first = false;
		cum += hist[i];
		fprintf(f, "%s,%u,%" PRIu64 ",%.6f\n", param, value,
			UINT64_C(1) << (i + 1), (double)cum / (double)total);
	}
	return ferror(f) ? -EIO : 0;
}
