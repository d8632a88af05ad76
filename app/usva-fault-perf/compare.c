/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf --compare: the default measurements and the peers, in
 * one process, one after the other, then one summary table (or one JSON
 * object with --json):
 *
 *  1. service only, 1 fault lcore, sharded (the options given otherwise);
 *  2. sharded vs global lock with 2 fault lcores (--drive poll: the main
 *     lcore polls slot 0, worker 1 slot 1), the median of --rounds rounds
 *     of each, alternated so that a disturbance hits both alike;
 *  3. end to end with the emu-dma engine (e2e.c);
 *  4. the kernel's first touch of fresh anonymous memory (peers.c);
 *  5. userfaultfd, UFFDIO_COPY, then UFFDIO_ZEROPAGE (peers.c).
 *
 * The ratios against the peers are taken from the end-to-end figure (a
 * device's round trip, as a peer's fault is a thread's round trip; the
 * service-only figure, without a device, would flatter the service) and
 * against the better of the two userfaultfd variants: the conservative
 * choice. If the end-to-end measurement fails they fall back to the
 * service-only figure, and say so (ratio_basis).
 *
 * --peers without --compare: the one measurement asked for, then the
 * peers and the ratios against it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "fault_perf.h"
#include "peers.h"

#define FT_PAGES	262144u		/* first touch: 1 GiB */
#define UFFD_PAGES	16384u		/* userfaultfd: about 1 s here */
#define MAX_ROUNDS	9u

struct peers {
	struct peer_result ft, ucopy, uzero;
	double ft_fps, uffd_fps;	/* 0: did not run */
	const char *uffd_best;
};

struct compare {
	struct result svc, e2e, sharded, global;
	bool svc_ok, e2e_ok, sg_ok;
	unsigned int rounds;
	struct peers p;
};

/* What runs now, on stderr: the progress of a long comparison. */
static void __attribute__((format(printf, 1, 2)))
stage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "usva-fault-perf: compare: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double
peer_fps(const struct peer_result *r)
{
	return r->ran && r->ns ? (double)r->faults * 1e9 / (double)r->ns : 0;
}

static void
peers_run(const struct opts *o, struct peers *p)
{
	uint64_t ft = o->peer_pages ? o->peer_pages : FT_PAGES;
	uint64_t uf = o->uffd_pages ? o->uffd_pages : UFFD_PAGES;

	stage("peers: kernel first touch, %" PRIu64 " pages", ft);
	peer_first_touch(ft, &p->ft);
	stage("peers: userfaultfd, UFFDIO_COPY, %" PRIu64 " pages", uf);
	peer_userfaultfd(uf, UFFD_FILL_COPY, &p->ucopy);
	stage("peers: userfaultfd, UFFDIO_ZEROPAGE, %" PRIu64 " pages", uf);
	peer_userfaultfd(uf, UFFD_FILL_ZERO, &p->uzero);
	p->ft_fps = peer_fps(&p->ft);
	p->uffd_fps = RTE_MAX(peer_fps(&p->ucopy), peer_fps(&p->uzero));
	p->uffd_best = peer_fps(&p->ucopy) >= peer_fps(&p->uzero) ?
		       "UFFDIO_COPY" : "UFFDIO_ZEROPAGE";
}

static int
cmp_fps(const void *a, const void *b)
{
	double x = ((const struct result *)a)->fps;
	double y = ((const struct result *)b)->fps;

	return x < y ? -1 : x > y;
}

/* Rounds of sharded and global, alternated; the median of each. */
static bool
sharded_vs_global(const struct opts *base, struct compare *c)
{
	struct result sh[MAX_ROUNDS], gl[MAX_ROUNDS];
	struct opts o = *base;
	unsigned int n = RTE_MIN(RTE_MAX(base->rounds, 1u), MAX_ROUNDS);

	o.lcores = 2;
	o.drive_arg = DRIVE_POLL;
	o.iommus_arg = 0;
	o.quiet = true;
	opts_settle(&o);
	if (rte_lcore_count() < 2) {
		fprintf(stderr, "usva-fault-perf: compare: sharded vs global "
			"needs 2 lcores (-l 0-1): skipped\n");
		return false;
	}
	for (unsigned int i = 0; i < n; i++) {
		stage("sharded, 2 fault lcores, round %u/%u", i + 1, n);
		o.global = false;
		if (service_measure(&o, &sh[i]) != 0)
			return false;
		stage("global lock, 2 fault lcores, round %u/%u", i + 1, n);
		o.global = true;
		if (service_measure(&o, &gl[i]) != 0)
			return false;
	}
	qsort(sh, n, sizeof(sh[0]), cmp_fps);
	qsort(gl, n, sizeof(gl[0]), cmp_fps);
	c->sharded = sh[n / 2];
	c->global = gl[n / 2];
	c->rounds = n;
	return true;
}

static void
compare_run(const struct opts *base, struct compare *c)
{
	struct opts o = *base;

	o.quiet = true;
	o.e2e = false;
	o.pager = PAGER_ANON;	/* the targets' set-up: 4 KiB anon */
	o.page_shift = 12;
	o.lcores = 1;
	o.drive_arg = -1;
	o.iommus_arg = 0;
	o.global = false;
	opts_settle(&o);
	stage("service only, 1 fault lcore, sharded");
	c->svc_ok = service_measure(&o, &c->svc) == 0;
	c->sg_ok = sharded_vs_global(&o, c);
	o.e2e = true;
	stage("end to end with the emu-dma engine");
	c->e2e_ok = e2e_measure(&o, &c->e2e) == 0;
	peers_run(base, &c->p);
}

/* ---- the table ------------------------------------------------------------------ */

static void
row(const char *what, bool ok, const struct result *r)
{
	if (!ok) {
		printf("  %-44s %s\n", what, "FAILED (see above)");
		return;
	}
	printf("  %-44s %9.3f %8.2f %9" PRIu64 " %9" PRIu64 " %9" PRIu64
	       " %10" PRIu64 " %6.1f%%%s\n", what, r->fps / 1e6, r->gbps,
	       r->p50, r->p90, r->p99, r->max,
	       r->elapsed_ns ? 100.0 * (double)r->rq_wait_ns /
			       (double)r->elapsed_ns : 0,
	       r->rq_wait_ns * 20 > r->elapsed_ns ? " disturbed" : "");
}

static void
peer_row(const char *what, const struct peer_result *p)
{
	double fps = peer_fps(p);

	if (!p->ran) {
		printf("  %-44s skipped: %s\n", what, p->why);
		return;
	}
	printf("  %-44s %9.3f %8.2f", what, fps / 1e6, fps * 4096 / 1e9);
	if (p->lat_max_ns)
		printf(" %9" PRIu64 " %9s %9" PRIu64 " %10" PRIu64 "\n",
		       p->lat_p50_ns, "-", p->lat_p99_ns, p->lat_max_ns);
	else
		printf(" %9s %9s %9s %10s\n", "-", "-", "-", "-");
}

static double
ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : 0;
}

static void
targets(const struct compare *c)
{
	printf("targets (2-core machine, emu, 4 KiB anon): service only >= "
	       "2.5 M/s: %s; end to end >= 1 M/s: %s, p99 <= 20 us: %s; "
	       ">= 20x userfaultfd: %s; above first touch: %s; sharded >= "
	       "1.6x global: %s\n",
	       c->svc_ok && c->svc.fps >= 2.5e6 ? "met" : "MISSED",
	       c->e2e_ok && c->e2e.fps >= 1e6 ? "met" : "MISSED",
	       c->e2e_ok && c->e2e.p99 <= 20000 ? "met" : "MISSED",
	       ratio(c->e2e.fps, c->p.uffd_fps) >= 20 ? "met" : "MISSED",
	       ratio(c->e2e.fps, c->p.ft_fps) > 1 ? "met" : "MISSED",
	       c->sg_ok && ratio(c->sharded.fps, c->global.fps) >= 1.6 ?
	       "met" : "MISSED");
}

static void
print_ratios(const char *basis, double fps, const struct peers *p)
{
	printf("  %s vs userfaultfd (%s, the better): %.1fx; vs kernel first "
	       "touch: %.2fx\n", basis, p->uffd_best, ratio(fps, p->uffd_fps),
	       ratio(fps, p->ft_fps));
}

static void
compare_text(const struct compare *c)
{
	char sg[64];

	printf("usva-fault-perf --compare: emu backend, anon pager, 4 KiB "
	       "pages; one process, one measurement after the other\n");
	printf("  %-44s %9s %8s %9s %9s %9s %10s %7s\n", "measurement",
	       "M faults/s", "GB/s", "p50 ns", "p90 ns", "p99 ns", "max ns",
	       "waited");
	row("fault service, service only, 1 lcore", c->svc_ok, &c->svc);
	snprintf(sg, sizeof(sg), "fault service, 2 lcores, sharded (med. %u)",
		 c->rounds);
	row(sg, c->sg_ok, &c->sharded);
	snprintf(sg, sizeof(sg), "fault service, 2 lcores, global (med. %u)",
		 c->rounds);
	row(sg, c->sg_ok, &c->global);
	row("fault service, end to end (emu-dma)", c->e2e_ok, &c->e2e);
	peer_row("kernel first touch (anonymous, 4 KiB)", &c->p.ft);
	peer_row("userfaultfd, UFFDIO_COPY", &c->p.ucopy);
	peer_row("userfaultfd, UFFDIO_ZEROPAGE", &c->p.uzero);
	printf("  (service latencies: request to response; service only "
	       "with pre-filled queues, so mostly time queued; max is a "
	       "bucket bound. Peers: fault to wake-up as the touching "
	       "thread sees it. waited: time the polling threads waited "
	       "for a CPU, over the timed part; above 5%% something else "
	       "ran: repeat)\n");
	printf("ratios:\n");
	if (c->e2e_ok)
		print_ratios("end to end", c->e2e.fps, &c->p);
	if (c->svc_ok)
		print_ratios("service only", c->svc.fps, &c->p);
	if (c->sg_ok)
		printf("  sharded vs global lock, 2 fault lcores: %.2fx\n",
		       ratio(c->sharded.fps, c->global.fps));
	targets(c);
}

/* Rates and times as integers, ratios and GB/s with decimals; null for
 * what did not run. */
static void
json_num(const char *key, double v, bool last)
{
	bool frac = strstr(key, "ratio") != NULL || strstr(key, "gb_") != NULL;

	if (v > 0)
		printf("\"%s\": %.*f%s", key, frac ? 3 : 0, v,
		       last ? "" : ", ");
	else
		printf("\"%s\": null%s", key, last ? "" : ", ");
}

static void
compare_json(const struct compare *c)
{
	const struct result *b = c->e2e_ok ? &c->e2e : &c->svc;

	printf("{");
	json_num("service_faults_per_s", c->svc_ok ? c->svc.fps : 0, false);
	json_num("service_gb_per_s", c->svc_ok ? c->svc.gbps : 0, false);
	json_num("e2e_faults_per_s", c->e2e_ok ? c->e2e.fps : 0, false);
	json_num("e2e_gb_per_s", c->e2e_ok ? c->e2e.gbps : 0, false);
	json_num("e2e_p50_ns", c->e2e_ok ? (double)c->e2e.p50 : 0, false);
	json_num("e2e_p90_ns", c->e2e_ok ? (double)c->e2e.p90 : 0, false);
	json_num("e2e_p99_ns", c->e2e_ok ? (double)c->e2e.p99 : 0, false);
	json_num("e2e_max_ns", c->e2e_ok ? (double)c->e2e.max : 0, false);
	json_num("e2e_op_p99_ns", c->e2e_ok ? (double)c->e2e.op_p99 : 0,
		 false);
	json_num("sharded_2lcores_faults_per_s", c->sg_ok ? c->sharded.fps : 0,
		 false);
	json_num("global_2lcores_faults_per_s", c->sg_ok ? c->global.fps : 0,
		 false);
	json_num("kernel_first_touch_faults_per_s", c->p.ft_fps, false);
	json_num("userfaultfd_copy_faults_per_s", peer_fps(&c->p.ucopy), false);
	json_num("userfaultfd_zeropage_faults_per_s", peer_fps(&c->p.uzero),
		 false);
	json_num("userfaultfd_faults_per_s", c->p.uffd_fps, false);
	printf("\"ratio_basis\": \"%s\", ", c->e2e_ok ? "e2e" : "service");
	json_num("ratio_vs_userfaultfd", ratio(b->fps, c->p.uffd_fps), false);
	json_num("ratio_vs_first_touch", ratio(b->fps, c->p.ft_fps), false);
	json_num("service_ratio_vs_userfaultfd",
		 ratio(c->svc.fps, c->p.uffd_fps), false);
	json_num("service_ratio_vs_first_touch",
		 ratio(c->svc.fps, c->p.ft_fps), false);
	json_num("ratio_sharded_vs_global_2lcores",
		 c->sg_ok ? ratio(c->sharded.fps, c->global.fps) : 0, false);
	printf("\"rounds\": %u, \"ok\": %s}\n", c->rounds,
	       c->svc_ok && c->e2e_ok && c->sg_ok ? "true" : "false");
}

int
compare_main(const struct opts *o)
{
	struct compare *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return -ENOMEM;
	compare_run(o, c);
	if (o->json)
		compare_json(c);
	else
		compare_text(c);
	rc = c->svc_ok && c->e2e_ok && c->sg_ok ? 0 : -EIO;
	free(c);
	return rc;
}

/* --peers: the peers after the one measurement @p base, and the ratios. */
int
peers_main(const struct opts *o, const struct result *base)
{
	struct peers p;

	memset(&p, 0, sizeof(p));
	peers_run(o, &p);
	printf("peers (same process, after the measurement):\n");
	peer_row("kernel first touch (anonymous, 4 KiB)", &p.ft);
	peer_row("userfaultfd, UFFDIO_COPY", &p.ucopy);
	peer_row("userfaultfd, UFFDIO_ZEROPAGE", &p.uzero);
	print_ratios(o->e2e ? "end to end" : "service only", base->fps, &p);
	return 0;
}
