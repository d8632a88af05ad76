/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf --sweep PARAM=V1,V2,...: one measurement per value of one
 * parameter (lcores, shards, burst, pasids), the others as given; service
 * only, or end to end with --device emu-dma. Writes CSV to --csv FILE (or
 * stdout):
 *
 *   param,value,faults_per_s,gb_per_s,p50_ns,p90_ns,p99_ns,max_ns
 *
 * and with --cdf FILE the request-to-response latency CDF of each run
 * (param,value,lat_ns,cdf; see cdf_write()). A summary table follows on
 * stdout (stderr when the CSV goes to stdout). usva-fault-plot.gnuplot
 * turns both into PNG charts.
 *
 * pasids means PASIDs per device (--pasids-per-dev) with pre-filled
 * queues, PASIDs per engine (--pasids) end to end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_perf.h"

static void
sweep_apply(struct opts *o, const char *param, unsigned int v)
{
	if (strcmp(param, "lcores") == 0)
		o->lcores = v;
	else if (strcmp(param, "shards") == 0)
		o->shards = v;
	else if (strcmp(param, "burst") == 0)
		o->burst = v;
	else if (o->e2e)
		o->pasids = v;
	else
		o->ppd = v;
	opts_settle(o);
}

static FILE *
open_out(const char *path, FILE *dflt)
{
	FILE *f;

	if (path == NULL)
		return dflt;
	f = fopen(path, "w");
	if (f == NULL)
		fprintf(stderr, "usva-fault-perf: %s: %s\n", path,
			strerror(errno));
	return f;
}

static void
csv_row(FILE *f, const char *param, unsigned int v, const struct result *r)
{
	fprintf(f, "%s,%u,%.0f,%.3f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%"
		PRIu64 "\n", param, v, r->fps, r->gbps, r->p50, r->p90, r->p99,
		r->max);
	fflush(f);
}

static void
summary(FILE *f, const struct opts *o, const struct result *r,
	const int *rc)
{
	fprintf(f, "usva-fault-perf --sweep %s (%s):\n", o->sweep_param,
		o->e2e ? "end to end, emu-dma" : "service only, pre-filled "
		"queues");
	fprintf(f, "  %8s %10s %8s %9s %9s %9s %10s\n", o->sweep_param,
		"M faults/s", "GB/s", "p50 ns", "p90 ns", "p99 ns", "max ns");
	for (unsigned int i = 0; i < o->sweep_n; i++) {
		if (rc[i] != 0) {
			fprintf(f, "  %8u FAILED: %s\n", o->sweep_val[i],
				strerror(-rc[i]));
			continue;
		}
		fprintf(f, "  %8u %10.3f %8.2f %9" PRIu64 " %9" PRIu64 " %9"
			PRIu64 " %10" PRIu64 "\n", o->sweep_val[i],
			r[i].fps / 1e6, r[i].gbps, r[i].p50, r[i].p90,
			r[i].p99, r[i].max);
	}
}

static int
sweep_one(const struct opts *base, unsigned int i, struct result *r)
{
	struct opts o = *base;
	int rc;

	sweep_apply(&o, base->sweep_param, base->sweep_val[i]);
	o.quiet = true;
	rc = opts_check(&o);
	if (rc) {
		fprintf(stderr, "usva-fault-perf: sweep: %s=%u: not a valid "
			"value here\n", o.sweep_param, base->sweep_val[i]);
		return rc;
	}
	fprintf(stderr, "usva-fault-perf: sweep [%u/%u] %s=%u\n", i + 1,
		base->sweep_n, o.sweep_param, base->sweep_val[i]);
	return o.e2e ? e2e_measure(&o, r) : service_measure(&o, r);
}

int
sweep_main(const struct opts *o)
{
	FILE *csv = open_out(o->csv, stdout), *cdf = open_out(o->cdf, NULL);
	struct result *r = calloc(o->sweep_n, sizeof(*r));
	int rc[MAX_SWEEP], ret = 0;

	if (csv == NULL || (o->cdf != NULL && cdf == NULL) || r == NULL) {
		ret = -EINVAL;
		goto out;
	}
	fprintf(csv, "param,value,faults_per_s,gb_per_s,p50_ns,p90_ns,"
		"p99_ns,max_ns\n");
	if (cdf != NULL)
		cdf_header(cdf);
	for (unsigned int i = 0; i < o->sweep_n; i++) {
		rc[i] = sweep_one(o, i, &r[i]);
		if (rc[i] != 0) {
			ret = rc[i];
			continue;
		}
		csv_row(csv, o->sweep_param, o->sweep_val[i], &r[i]);
		if (cdf != NULL)
			cdf_write(cdf, o->sweep_param, o->sweep_val[i],
				  r[i].st.lat_hist);
	}
	summary(csv == stdout ? stderr : stdout, o, r, rc);
out:
	if (csv != NULL && csv != stdout)
		fclose(csv);
	if (cdf != NULL)
		fclose(cdf);
	free(r);
	return ret;
}
