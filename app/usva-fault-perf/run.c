/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: the timed part of a service-only measurement (the three
 * drive modes), and one whole measurement (set-up, run, check, report,
 * teardown).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_service.h>

#include "usva_emu.h"
#include "usva_fault.h"
#include "app_clock.h"
#include "fault_perf.h"

#define RUN_LIMIT_NS	(UINT64_C(120) * 1000000000)

static volatile bool poll_stop;
static FILE *perf_ctl;

void
perf_ctl_open(const char *path)
{
	if (path == NULL)
		return;
	perf_ctl = fopen(path, "w");
	if (perf_ctl == NULL)
		fprintf(stderr, "usva-fault-perf: %s: %s\n", path,
			strerror(errno));
}

void
perf_ctl_close(void)
{
	if (perf_ctl != NULL)
		fclose(perf_ctl);
	perf_ctl = NULL;
}

/* Tell a `perf record --control` session to count (or not). */
void
perf_ctl_cmd(const char *cmd)
{
	if (perf_ctl == NULL)
		return;
	fprintf(perf_ctl, "%s\n", cmd);
	fflush(perf_ctl);
}

/*
 * Time the fault lcores spent runnable but not running (waiting for a CPU
 * another process had), from /proc/self/task/.../schedstat: the EAL worker
 * threads, and the main thread when it polls a slot. Flags measurements
 * disturbed by something else running on the machine.
 */
uint64_t
sched_wait_ns(bool with_main)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t sum = 0;
	int self = getpid();

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		unsigned long long run, wait;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "rte-worker", 10) != 0 &&
		    !(with_main && atoi(e->d_name) == self))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%llu %llu", &run, &wait) == 2)
			sum += wait;
		fclose(f);
	}
	closedir(d);
	return sum;
}


/* ---- the measured part ------------------------------------------------------- */

/*
 * Set-up ran on the main lcore: the queues, the emu's group tables and the
 * address spaces' tables it wrote sit in that lcore's caches, dirty, and a
 * fault lcore elsewhere would fetch them from there while the main lcore
 * would find them at hand. Each lcore of the run writes a buffer of twice
 * its last-level private cache (L2, 4 MiB assumed at most) first, so every
 * fault lcore starts from the shared cache or memory alike, as it would
 * with a device writing the queue, and layouts compare fairly.
 */
#define EVICT_BYTES	(8u << 20)

static int
cache_evict(void *arg)
{
	volatile uint8_t *p = arg;

	for (size_t i = 0; i < EVICT_BYTES; i += 64)
		p[i] = (uint8_t)(p[i] + 1);
	return 0;
}

int
caches_evict(void)
{
	unsigned int n = rte_lcore_count(), w, i = 0;
	uint8_t *buf = calloc(n, EVICT_BYTES);

	if (buf == NULL)
		return -ENOMEM;
	RTE_LCORE_FOREACH_WORKER(w)
		rte_eal_remote_launch(cache_evict, buf + (size_t)++i * EVICT_BYTES, w);
	cache_evict(buf);
	RTE_LCORE_FOREACH_WORKER(w)
		rte_eal_wait_lcore(w);
	free(buf);
	return 0;
}

static uint64_t
outstanding(struct bench *b)
{
	uint64_t n = 0;

	for (unsigned int ii = 0; ii < b->niommu; ii++)
		n += usva_emu_outstanding_groups(b->in[ii].iommu);
	return n;
}

struct poll_arg {
	struct usva_fault_service *svc;
	unsigned int slot;
};

static int
poll_worker(void *arg)
{
	struct poll_arg *a = arg;

	while (!poll_stop)
		usva_fault_service_poll(a->svc, a->slot);
	return 0;
}


/* ---- progress ------------------------------------------------------------------ */

void
progress_start(struct progress *p, const char *what, uint64_t total)
{
	p->what = what;
	p->total = total;
	p->t0 = app_now_ns();
	p->last = p->t0;
}

/* A line on stderr once a second: runs shorter than that print none. */
void
progress_tick(struct progress *p, uint64_t done)
{
	uint64_t now = app_now_ns();

	if (now - p->last < 1000000000u)
		return;
	p->last = now;
	fprintf(stderr, "usva-fault-perf: %s: %" PRIu64 "/%" PRIu64
		" faults, %.2f M faults/s so far\n", p->what, done, p->total,
		(double)done * 1e3 / (double)(now - p->t0));
}

/* ---- the drive modes ------------------------------------------------------------ */

/* The main lcore's loop while it polls a slot itself: check for the end
 * (and print progress) every 256 iterations only, the check costs. */
static bool
main_check_end(struct bench *b, struct progress *pg, uint64_t deadline)
{
	uint64_t left = outstanding(b);

	progress_tick(pg, b->o.faults - left);
	return left == 0 || app_now_ns() > deadline;
}

static int
run_dedicated(struct bench *b, struct progress *pg, uint64_t *t0,
	      uint64_t *t1)
{
	uint64_t deadline = app_now_ns() + RUN_LIMIT_NS;
	int rc;

	perf_ctl_cmd("enable");
	*t0 = app_now_ns();
	progress_start(pg, pg->what, b->o.faults);
	rc = usva_fault_service_start(b->svc);
	if (rc)
		return rc;
	while (!main_check_end(b, pg, deadline))
		rte_delay_us_sleep(10);
	*t1 = app_now_ns();
	perf_ctl_cmd("disable");
	usva_fault_service_stop(b->svc);
	return 0;
}

/* Slots 1.. on worker lcores made service cores: map them. */
static int
service_cores_map(struct bench *b, unsigned int *lc, int set)
{
	unsigned int w = rte_get_next_lcore(-1, 1, 0);

	for (unsigned int s = 1; s < b->o.lcores; s++) {
		int32_t id = usva_fault_service_component(b->svc, s);

		lc[s - 1] = w;
		if (id < 0)
			return -ENOTSUP;
		if (set && (rte_service_lcore_add(w) != 0 ||
			    rte_service_map_lcore_set((uint32_t)id, w, 1) != 0))
			return -ENOTSUP;
		if (!set) {
			rte_service_map_lcore_set((uint32_t)id, w, 0);
			rte_service_lcore_stop(w);
			rte_service_lcore_del(w);
		}
		w = rte_get_next_lcore(w, 1, 0);
	}
	return 0;
}

static int
run_service(struct bench *b, struct progress *pg, uint64_t *t0,
	    uint64_t *t1)
{
	int32_t id0 = usva_fault_service_component(b->svc, 0);
	unsigned int lc[USVA_FAULT_MAX_LCORES];
	uint64_t deadline = app_now_ns() + RUN_LIMIT_NS;
	int rc;

	if (id0 < 0)
		return -ENOTSUP;
	rc = service_cores_map(b, lc, 1);
	if (rc == 0)
		rc = usva_fault_service_start(b->svc);
	if (rc)
		return rc;
	perf_ctl_cmd("enable");
	*t0 = app_now_ns();
	progress_start(pg, pg->what, b->o.faults);
	for (unsigned int i = 0; i + 1 < b->o.lcores; i++)
		rte_service_lcore_start(lc[i]);
	for (unsigned int it = 0;; it++) {
		rte_service_run_iter_on_app_lcore((uint32_t)id0, 1);
		if ((it & 255) == 0 && main_check_end(b, pg, deadline))
			break;
	}
	*t1 = app_now_ns();
	perf_ctl_cmd("disable");
	usva_fault_service_stop(b->svc);
	return service_cores_map(b, lc, 0);
}

static int
run_poll(struct bench *b, struct progress *pg, uint64_t *t0, uint64_t *t1)
{
	struct poll_arg pa[USVA_FAULT_MAX_LCORES];
	unsigned int lc[USVA_FAULT_MAX_LCORES];
	unsigned int w = rte_get_next_lcore(-1, 1, 0), nw = 0;
	uint64_t deadline = app_now_ns() + RUN_LIMIT_NS;

	poll_stop = false;
	perf_ctl_cmd("enable");
	*t0 = app_now_ns();
	progress_start(pg, pg->what, b->o.faults);
	for (unsigned int s = 1; s < b->o.lcores; s++, nw++) {
		pa[s] = (struct poll_arg){ .svc = b->svc, .slot = s };
		lc[nw] = w;
		rte_eal_remote_launch(poll_worker, &pa[s], w);
		w = rte_get_next_lcore(w, 1, 0);
	}
	for (unsigned int it = 0;; it++) {
		usva_fault_service_poll(b->svc, 0);
		if ((it & 255) == 0 && main_check_end(b, pg, deadline))
			break;
	}
	*t1 = app_now_ns();
	perf_ctl_cmd("disable");
	poll_stop = true;
	for (unsigned int i = 0; i < nw; i++)
		rte_eal_wait_lcore(lc[i]);
	return 0;
}

int
bench_run(struct bench *b)
{
	bool main_polls = b->o.drive != DRIVE_DEDICATED;
	struct progress pg = { .what = "service-only" };
	uint64_t t0 = 0, t1 = 0;
	int rc;

	rc = caches_evict();
	if (rc)
		return rc;
	b->rq_wait_ns = sched_wait_ns(main_polls);
	switch (b->o.drive) {
	case DRIVE_DEDICATED:
		rc = run_dedicated(b, &pg, &t0, &t1);
		break;
	case DRIVE_SERVICE:
		rc = run_service(b, &pg, &t0, &t1);
		break;
	default:
		rc = run_poll(b, &pg, &t0, &t1);
		break;
	}
	if (rc)
		return rc;
	b->elapsed_ns = t1 - t0;
	b->rq_wait_ns = sched_wait_ns(main_polls) - b->rq_wait_ns;
	if (outstanding(b) != 0) {
		fprintf(stderr, "usva-fault-perf: %" PRIu64 " groups still "
			"unanswered after %" PRIu64 " s\n", outstanding(b),
			RUN_LIMIT_NS / 1000000000);
		return -ETIMEDOUT;
	}
	return usva_fault_stats(b->svc, -1, &b->st);
}

/* ---- one measurement ------------------------------------------------------------- */

/*
 * Set up, run, check, report (unless quiet) and tear down one service-only
 * measurement with options @p o; its figures in @p r. @return 0 when it
 * ran and checked out.
 */
int
service_measure(const struct opts *o, struct result *r)
{
	struct bench *b = calloc(1, sizeof(*b));
	uint64_t t0 = app_now_ns();
	int rc;

	memset(r, 0, sizeof(*r));
	if (b == NULL)
		return -ENOMEM;
	b->o = *o;
	b->file_fd = -1;
	rc = bench_setup(b);
	b->setup_ns = app_now_ns() - t0;
	if (rc == 0)
		rc = bench_run(b);
	if (rc == 0) {
		b->bad = bench_verify(b);
		result_fill(r, &b->st, o->faults, b->elapsed_ns, b->pgsz);
		r->rq_wait_ns = b->rq_wait_ns;
		r->ok = b->bad == 0;
		if (!o->quiet && o->json)
			report_json(b, r);
		else if (!o->quiet)
			report_text(b, r);
	} else {
		fprintf(stderr, "usva-fault-perf: %s\n", strerror(-rc));
	}
	bench_teardown(b);
	free(b);
	if (rc == 0 && !r->ok)
		rc = -EIO;
	return rc;
}
