/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: how fast the fault service resolves and answers page
 * requests.
 *
 *   usva-fault-perf [EAL options] -- [usva options] [options]
 *
 * Default run: the emu backend with page-request queues filled before the
 * clock starts (the device side costs nothing while timed), every request
 * its own group (last-page flag set) for a distinct 4 KiB page, the anon
 * pager, one fault lcore. The clock runs from the moment the fault lcores
 * start until the IOMMUs have no group left unanswered. Set-up (pool
 * pre-faulting, address spaces, handlers, filling the queues) is timed
 * apart. At the end every response is checked (one per group, SUCCESS,
 * private data echoed) and every page is looked up through the emulated
 * IOMMU; the exit status is 1 if anything is wrong.
 *
 * Lcore layout. One fault lcore: the service runs dedicated on the first
 * worker lcore while the main lcore sleeps (--drive dedicated), or the
 * main lcore runs slot 0 itself (--drive poll). Two fault lcores on a
 * 2-core machine (-l 0-1): the main lcore must be one of them, and the
 * service's dedicated mode only launches on worker lcores, so either
 * --drive service (service-core mode: slot 0's EAL service runs on the
 * main lcore with rte_service_run_iter_on_app_lcore(), slot 1's on worker
 * lcore 1 made a service core) or --drive poll (the service, created in
 * service-core mode so that no lcore list applies, is never started; the
 * main lcore calls usva_fault_service_poll(slot 0) and the worker lcore
 * usva_fault_service_poll(slot 1)). The main lcore checks for the end
 * every 256 iterations (dedicated: sleeps 10 us between checks). The
 * figures count the threads' waits for a CPU (other processes): a run
 * that waited more than 5% of its time is flagged. Before the clock
 * starts, every lcore writes a buffer twice the size of its private cache,
 * so the queues and tables set-up wrote are fetched from the shared cache
 * by every fault lcore alike, whichever lcore ran the set-up.
 *
 * With as many IOMMUs as fault lcores (the default), each lcore polls its
 * own queue and the service resolves each address space on the lcore that
 * polls it: no request crosses lcores. With fewer queues than lcores
 * (--iommus 1), the polling lcore forwards the requests of the other
 * lcores' shards.
 *
 * Latency (p50, p99) is the service's request-to-response histogram: with
 * pre-filled queues it is mostly the time requests waited in the queue.
 *
 * Options:
 *   --lcores N        fault lcores (1..8; default 1)
 *   --drive MODE      dedicated | service | poll (default: dedicated with
 *                     1 lcore, service with more)
 *   --iommus N        emu instances, each with its own queue (default: as
 *                     many as fault lcores)
 *   --faults N        page requests in all (default 262144)
 *   --shards N        shards (power of two; 0: the build's default)
 *   --shard-shift N   address bits below a shard granule (default 21)
 *   --lock MODE       sharded | global
 *   --pager P         anon | mirror | file
 *   --burst N         requests per poll (0: the build's default)
 *   --order O         seq: each PASID's pages in turn; rr: round-robin over
 *                     the PASIDs (default seq)
 *   --json            print one JSON object instead of the summary
 *   --no-verify       skip the page-by-page check
 *   --pasids-per-dev N  PASIDs (each 512 requests) per device (default 8)
 *   --perf-ctl FIFO   write "enable" / "disable" to FIFO around the timed
 *                     part, for `perf record -D -1 --control fifo:FIFO`
 *
 * Queues: each group needs its own (PASID, group index) while outstanding
 * and the index has 9 bits, so every 512 requests use another PASID (an
 * address space, a domain and a handler each), and every
 * --pasids-per-dev PASIDs (default 8, at most 128: the emu model's PRI
 * capacity is 65536 requests per device) another device.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_service.h>

#include "usva.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "app_clock.h"

#define SZ_4K		UINT64_C(0x1000)
#define SZ_2M		UINT64_C(0x200000)
#define GRPS		512u		/* group indexes per PASID */
#define DEV_REQS	65536u		/* emu PRI capacity per device */
#define PASIDS_PER_DEV	(DEV_REQS / GRPS)
#define MAX_IOMMUS	8
#define MAX_DEVS	256
#define ANON_BASE	UINT64_C(0x100000000000)	/* 16 TiB */
#define FILE_BASE	UINT64_C(0x200000000000)	/* 32 TiB */

enum pager_kind { PAGER_ANON, PAGER_MIRROR, PAGER_FILE };
enum drive { DRIVE_DEDICATED, DRIVE_SERVICE, DRIVE_POLL };

static const char *const pager_names[] = { "anon", "mirror", "file" };
static const char *const drive_names[] = { "dedicated", "service", "poll" };

struct opts {
	unsigned int lcores;
	int drive;		/* -1: default */
	unsigned int iommus;	/* 0: = lcores */
	uint64_t faults;
	unsigned int shards;
	unsigned int shard_shift;
	bool global;
	enum pager_kind pager;
	unsigned int burst;
	bool rr;
	bool json;
	bool verify;
	const char *perf_ctl;
	unsigned int ppd;	/* PASIDs per device */
};

/* One (device, PASID) handler: 512 requests at most, pages
 * [base, base + nreq * 4K). */
struct hnd {
	unsigned int dev;
	uint32_t pasid;
	uint64_t base;
	uint32_t nreq;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_handler *h;
};

struct inst {
	struct usva_iommu *iommu;
	unsigned int ndev;
	struct usva_iommu_dev *dev[MAX_DEVS];
	struct usva_pasid_owner *owner;
	uint32_t pasid[PASIDS_PER_DEV];
	unsigned int npasid;
	struct usva_pager *pager;
	struct hnd *h;
	unsigned int nh;
	uint64_t nreq;
	uint64_t first;		/* global index of its first request */
};

struct bench {
	struct opts o;
	unsigned int niommu;
	struct inst in[MAX_IOMMUS];
	struct usva_page_pool *data_pool;
	struct usva_page_pool *table_pool;
	uint8_t *mirror_buf;
	int file_fd;
	struct usva_fault_service *svc;
	unsigned int shards;	/* effective */
	/* results */
	uint64_t setup_pool_ns, setup_ns, elapsed_ns;
	uint64_t rq_wait_ns;	/* threads runnable but not running */
	struct usva_fault_stats st;
	uint64_t bad;
};

static volatile bool poll_stop;
static FILE *perf_ctl;

/* Tell a `perf record --control` session to count (or not). */
static void
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
static uint64_t
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


static void
usage(FILE *f)
{
	fprintf(f,
		"usage: usva-fault-perf [EAL options] -- [usva options] "
		"[--lcores N] [--drive dedicated|service|poll] [--iommus N]\n"
		"       [--faults N] [--shards N] [--shard-shift N] "
		"[--lock sharded|global] [--pager anon|mirror|file]\n"
		"       [--burst N] [--order seq|rr] [--json] [--no-verify] "
		"[--perf-ctl FIFO]\n"
		"       [--pasids-per-dev N]\n");
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "lcores", required_argument, NULL, 'l' },
		{ "drive", required_argument, NULL, 'd' },
		{ "iommus", required_argument, NULL, 'i' },
		{ "faults", required_argument, NULL, 'f' },
		{ "shards", required_argument, NULL, 's' },
		{ "shard-shift", required_argument, NULL, 'S' },
		{ "lock", required_argument, NULL, 'k' },
		{ "pager", required_argument, NULL, 'p' },
		{ "burst", required_argument, NULL, 'b' },
		{ "order", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "perf-ctl", required_argument, NULL, 'P' },
		{ "pasids-per-dev", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .lcores = 1, .drive = -1, .faults = 262144,
			    .pager = PAGER_ANON, .verify = true, .ppd = 8 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l': o->lcores = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'i': o->iommus = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'f': o->faults = strtoull(optarg, NULL, 0); break;
		case 's': o->shards = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'S': o->shard_shift = (unsigned int)strtoul(optarg, NULL, 0);
			  break;
		case 'b': o->burst = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'j': o->json = true; break;
		case 'V': o->verify = false; break;
		case 'P': o->perf_ctl = optarg; break;
		case 'D': o->ppd = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'd':
			for (o->drive = 0; o->drive < 3; o->drive++)
				if (strcmp(optarg, drive_names[o->drive]) == 0)
					break;
			if (o->drive == 3)
				return -EINVAL;
			break;
		case 'k':
			if (strcmp(optarg, "global") == 0)
				o->global = true;
			else if (strcmp(optarg, "sharded") == 0)
				o->global = false;
			else
				return -EINVAL;
			break;
		case 'p': {
			int k;

			for (k = 0; k < 3; k++)
				if (strcmp(optarg, pager_names[k]) == 0)
					break;
			if (k == 3)
				return -EINVAL;
			o->pager = (enum pager_kind)k;
			break;
		}
		case 'o':
			if (strcmp(optarg, "rr") == 0)
				o->rr = true;
			else if (strcmp(optarg, "seq") == 0)
				o->rr = false;
			else
				return -EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc)
		return -EINVAL;
	if (o->lcores < 1 || o->lcores > USVA_FAULT_MAX_LCORES)
		return -EINVAL;
	if (o->drive < 0)
		o->drive = o->lcores == 1 ? DRIVE_DEDICATED : DRIVE_SERVICE;
	if (o->iommus == 0)
		o->iommus = o->lcores;
	if (o->ppd < 1 || o->ppd > PASIDS_PER_DEV)
		return -EINVAL;
	if (o->iommus > MAX_IOMMUS || o->faults == 0 ||
	    o->faults > (uint64_t)o->iommus * MAX_DEVS * o->ppd * GRPS)
		return -EINVAL;
	return 0;
}

static uint32_t
pow2_ceil(uint64_t v)
{
	uint32_t p = 16;

	while (p < v && p < (1u << 20))
		p <<= 1;
	return p;
}

/* Which worker lcores the layout needs (not counting the main lcore). */
static unsigned int
workers_needed(const struct opts *o)
{
	switch (o->drive) {
	case DRIVE_DEDICATED: return o->lcores;
	default: return o->lcores - 1;
	}
}

/* ---- set-up ---------------------------------------------------------------- */

static uint8_t
file_byte(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 12) + 7);
}

static int
setup_data(struct bench *b)
{
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = 12, .numa_node = -1,
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
		pcfg.nr_pages = (uint32_t)(b->o.faults + 1024);
		rc = usva_page_pool_create(&pcfg, &b->data_pool);
		if (rc)
			return rc;
		usva_page_pool_stats(b->data_pool, &ps);
		b->setup_pool_ns += ps.setup_ns;
	}
	if (b->o.pager == PAGER_MIRROR) {
		uint64_t len = b->o.faults * SZ_4K;
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
		uint64_t len = b->o.faults * SZ_4K;

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
	range = (uint64_t)in->nh * GRPS * SZ_4K;
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
					first * SZ_4K,
				.len = nreq * SZ_4K }, &in->pager);
		break;
	case PAGER_FILE:
		rc = usva_pager_file_create(&(struct usva_pager_file_config){
				.size = sizeof(struct usva_pager_file_config),
				.fd = b->file_fd, .queue_depth = 256,
				.base = FILE_BASE, .len = nreq * SZ_4K,
				.file_offset = first * SZ_4K,
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
			h->base = ANON_BASE + (uint64_t)k * GRPS * SZ_4K;
			break;
		case PAGER_MIRROR:
			h->base = (uint64_t)(uintptr_t)b->mirror_buf +
				  (first + (uint64_t)k * GRPS) * SZ_4K;
			break;
		case PAGER_FILE:
			h->base = FILE_BASE + (uint64_t)k * GRPS * SZ_4K;
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
		.addr = h->base + (uint64_t)j * SZ_4K,
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

static int
setup(struct bench *b)
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

static int
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

static int
run(struct bench *b)
{
	const struct opts *o = &b->o;
	struct poll_arg pa[USVA_FAULT_MAX_LCORES];
	unsigned int lc[USVA_FAULT_MAX_LCORES];
	uint64_t t0, t1, deadline;
	unsigned int nw = 0;
	int rc = 0;

	rc = caches_evict();
	if (rc)
		return rc;
	deadline = app_now_ns() + 120ull * 1000000000u;
	b->rq_wait_ns = sched_wait_ns(o->drive != DRIVE_DEDICATED);
	switch (o->drive) {
	case DRIVE_DEDICATED:
		perf_ctl_cmd("enable");
		t0 = app_now_ns();
		rc = usva_fault_service_start(b->svc);
		if (rc)
			return rc;
		while (outstanding(b) != 0 && app_now_ns() < deadline)
			rte_delay_us_sleep(10);
		t1 = app_now_ns();
		perf_ctl_cmd("disable");
		usva_fault_service_stop(b->svc);
		break;
	case DRIVE_SERVICE: {
		int32_t id0 = usva_fault_service_component(b->svc, 0);
		unsigned int w = rte_get_next_lcore(-1, 1, 0);

		if (id0 < 0)
			return -ENOTSUP;
		/* Slots 1.. on worker lcores made service cores. */
		for (unsigned int s = 1; s < o->lcores; s++, nw++) {
			int32_t id = usva_fault_service_component(b->svc, s);

			lc[nw] = w;
			if (id < 0 || rte_service_lcore_add(w) != 0 ||
			    rte_service_map_lcore_set((uint32_t)id, w, 1) != 0)
				return -ENOTSUP;
			w = rte_get_next_lcore(w, 1, 0);
		}
		rc = usva_fault_service_start(b->svc);
		if (rc)
			return rc;
		perf_ctl_cmd("enable");
		t0 = app_now_ns();
		for (unsigned int i = 0; i < nw; i++)
			rte_service_lcore_start(lc[i]);
		for (unsigned int it = 0;; it++) {
			rte_service_run_iter_on_app_lcore((uint32_t)id0, 1);
			if ((it & 255) == 0 && (outstanding(b) == 0 ||
					       app_now_ns() > deadline))
				break;
		}
		t1 = app_now_ns();
		perf_ctl_cmd("disable");
		usva_fault_service_stop(b->svc);
		for (unsigned int i = 0; i < nw; i++) {
			int32_t id = usva_fault_service_component(b->svc, i + 1);

			rte_service_map_lcore_set((uint32_t)id, lc[i], 0);
			rte_service_lcore_stop(lc[i]);
			rte_service_lcore_del(lc[i]);
		}
		break;
	}
	default: {
		unsigned int w = rte_get_next_lcore(-1, 1, 0);

		poll_stop = false;
		perf_ctl_cmd("enable");
		t0 = app_now_ns();
		for (unsigned int s = 1; s < o->lcores; s++, nw++) {
			pa[s] = (struct poll_arg){ .svc = b->svc, .slot = s };
			lc[nw] = w;
			rte_eal_remote_launch(poll_worker, &pa[s], w);
			w = rte_get_next_lcore(w, 1, 0);
		}
		for (unsigned int it = 0;; it++) {
			usva_fault_service_poll(b->svc, 0);
			if ((it & 255) == 0 && (outstanding(b) == 0 ||
					       app_now_ns() > deadline))
				break;
		}
		t1 = app_now_ns();
		perf_ctl_cmd("disable");
		poll_stop = true;
		for (unsigned int i = 0; i < nw; i++)
			rte_eal_wait_lcore(lc[i]);
		break;
	}
	}
	b->elapsed_ns = t1 - t0;
	b->rq_wait_ns = sched_wait_ns(o->drive != DRIVE_DEDICATED) -
			 b->rq_wait_ns;
	if (outstanding(b) != 0) {
		fprintf(stderr, "usva-fault-perf: %" PRIu64 " groups still "
			"unanswered after 120 s\n", outstanding(b));
		return -ETIMEDOUT;
	}
	return usva_fault_stats(b->svc, -1, &b->st);
}

/* ---- checks ---------------------------------------------------------------------- */

static uint64_t
verify(struct bench *b)
{
	struct usva_emu_prg_resp *r = malloc(sizeof(*r) * DEV_REQS);
	uint8_t *seen = NULL;
	uint64_t bad = 0, total = 0, next = 0;

	if (r == NULL)
		return 1;
	for (unsigned int ii = 0; ii < b->niommu; ii++) {
		struct inst *in = &b->in[ii];

		free(seen);
		seen = calloc(in->nreq, 1);
		if (seen == NULL) {
			free(r);
			return 1;
		}
		for (unsigned int d = 0; d < in->ndev; d++) {
			int n = usva_emu_dev_responses(in->dev[d], r, DEV_REQS);

			for (int i = 0; i < n; i++) {
				uint64_t pd = r[i].private_data[0];
				unsigned int k = (unsigned int)(pd >> 16) & 0xffffffff;
				uint32_t j = (uint32_t)(pd & 0xffff);
				uint64_t idx = (uint64_t)k * GRPS + j;

				total++;
				if ((pd >> 48) != ii || k >= in->nh ||
				    j != r[i].grpid || idx >= in->nreq ||
				    in->h[k].dev != d ||
				    in->h[k].pasid != r[i].pasid ||
				    r[i].private_data[1] != in->h[k].base ||
				    r[i].code != USVA_PAGE_RESP_SUCCESS ||
				    seen[idx]++ != 0) {
					if (bad++ < 5)
						fprintf(stderr, "bad response: "
							"dev %u pasid %u grp %u "
							"code %u pd 0x%" PRIx64
							"\n", d, r[i].pasid,
							r[i].grpid, r[i].code,
							pd);
				}
			}
			if (n > 0 && usva_emu_dev_responses(in->dev[d], r, 1) != 0)
				bad++;
		}
		for (uint64_t i = 0; i < in->nreq; i++)
			if (!seen[i]) {
				if (bad++ < 5)
					fprintf(stderr, "no response for "
						"request %" PRIu64 " of "
						"instance %u\n", i, ii);
			}
		if (!b->o.verify)
			continue;
		/* Every page mapped, with the right bytes at its start. */
		for (unsigned int k = 0; k < in->nh; k++) {
			struct hnd *h = &in->h[k];

			for (uint32_t j = 0; j < h->nreq; j++, next++) {
				uint64_t va = h->base + (uint64_t)j * SZ_4K;
				struct usva_emu_xlate x;
				uint64_t want = 0, got;

				if (usva_emu_translate(in->dev[h->dev], h->pasid,
						       va, USVA_ACCESS_READ |
						       USVA_ACCESS_WRITE, &x)) {
					if (bad++ < 5)
						fprintf(stderr, "page 0x%" PRIx64
							" of PASID %u not "
							"mapped\n", va,
							h->pasid);
					continue;
				}
				memcpy(&got, x.host, 8);
				if (b->o.pager == PAGER_MIRROR)
					want = (uint64_t)((in->first + (uint64_t)k *
						GRPS + j) * SZ_4K) *
						0x9e3779b97f4a7c15ull;
				else if (b->o.pager == PAGER_FILE)
					for (int i = 7; i >= 0; i--)
						want = want << 8 | file_byte(
							(in->first + (uint64_t)k *
							 GRPS + j) * SZ_4K +
							(uint64_t)i);
				if (got != want && bad++ < 5)
					fprintf(stderr, "page 0x%" PRIx64 ": 0x%"
						PRIx64 ", expected 0x%" PRIx64
						"\n", va, got, want);
			}
		}
	}
	free(seen);
	free(r);
	if (total != b->o.faults && bad++ < 5)
		fprintf(stderr, "%" PRIu64 " responses for %" PRIu64
			" requests\n", total, b->o.faults);
	if (b->st.groups != b->o.faults || b->st.resp_success != b->o.faults)
		bad++;
	return bad;
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
		uint64_t va = h->base + (uint64_t)j * SZ_4K;

		if (usva_as_lookup(h->as, va, &x) == 0 &&
		    usva_page_pool_contains(b->data_pool,
					    (void *)(uintptr_t)x.oa) &&
		    usva_as_unmap(h->as, va, SZ_4K, NULL) == 0)
			usva_page_free(b->data_pool, (void *)(uintptr_t)x.oa,
				       false);
	}
}

static void
teardown(struct bench *b)
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

/* ---- report ------------------------------------------------------------------------ */

static void
report(struct bench *b)
{
	const struct opts *o = &b->o;
	double fps = (double)o->faults * 1e9 / (double)b->elapsed_ns;
	uint64_t p50 = usva_fault_lat_percentile(&b->st, 50);
	uint64_t p99 = usva_fault_lat_percentile(&b->st, 99);

	if (o->json) {
		printf("{\"faults_per_s\": %.0f, \"p50_ns\": %" PRIu64
		       ", \"p99_ns\": %" PRIu64 ", \"fault_lcores\": %u, "
		       "\"shards\": %u, \"lock_mode\": \"%s\", \"pager\": \"%s\", "
		       "\"faults\": %" PRIu64 ", \"iommus\": %u, "
		       "\"drive\": \"%s\", \"order\": \"%s\", \"burst\": %u, "
		       "\"elapsed_ns\": %" PRIu64 ", \"setup_ns\": %" PRIu64
		       ", \"pool_setup_ns\": %" PRIu64 ", \"rq_wait_ns\": %"
		       PRIu64 ", \"ok\": %s}\n",
		       fps, p50, p99, o->lcores, b->shards,
		       o->global ? "global" : "sharded", pager_names[o->pager],
		       o->faults, b->niommu, drive_names[o->drive],
		       o->rr ? "rr" : "seq", o->burst, b->elapsed_ns,
		       b->setup_ns, b->setup_pool_ns, b->rq_wait_ns,
		       b->bad == 0 ? "true" : "false");
		return;
	}
	printf("usva-fault-perf: emu backend, pre-filled queues, %s pager, "
	       "4 KiB pages\n", pager_names[o->pager]);
	printf("  layout      : %u fault lcore(s), drive %s, %u IOMMU queue(s):",
	       o->lcores, drive_names[o->drive], b->niommu);
	{
		unsigned int w = rte_get_next_lcore(-1, 1, 0);

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
	printf("  service     : %u shards, %s, burst %s%u, order %s\n",
	       b->shards, o->global ? "global lock" : "sharded",
	       o->burst ? "" : "default ", o->burst ? o->burst :
	       USVA_DEFAULT_FAULT_BURST, o->rr ? "round-robin" : "sequential");
	printf("  set-up      : %.3f s (pools and memory %.3f s), not timed\n",
	       b->setup_ns / 1e9, b->setup_pool_ns / 1e9);
	{
		unsigned int nh = 0, nd = 0;

		for (unsigned int ii = 0; ii < b->niommu; ii++) {
			nh += b->in[ii].nh;
			nd += b->in[ii].ndev;
		}
		printf("  faults      : %" PRIu64 " in %.3f ms (one group each; "
		       "%u PASIDs on %u devices, %u per device)\n", o->faults,
		       b->elapsed_ns / 1e6, nh, nd, o->ppd);
	}
	printf("  throughput  : %.3f M faults/s (%.1f ns per fault)\n",
	       fps / 1e6, (double)b->elapsed_ns / (double)o->faults);
	printf("  disturbance : threads waited %.3f ms for a CPU while timed%s\n",
	       b->rq_wait_ns / 1e6, b->rq_wait_ns * 20 > b->elapsed_ns ?
	       " (more than 5%: something else ran; repeat the run)" : "");
	printf("  latency     : p50 %" PRIu64 " ns, p99 %" PRIu64 " ns "
	       "(request queued to response; the queues were filled before "
	       "the start, so this is mostly time spent queued)\n", p50, p99);
	printf("  check       : %s\n", b->bad == 0 ? "every request answered "
	       "once, every page mapped" : "FAILED");
}

int
main(int argc, char **argv)
{
	struct bench *b;
	uint64_t t0;
	int ret, rc;

	ret = usva_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "usva-fault-perf: usva_init: %s\n",
			strerror(-ret));
		return 1;
	}
	argc -= ret;
	argv += ret;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return 1;
	b->file_fd = -1;
	if (parse_opts(argc, argv, &b->o) != 0) {
		usage(stderr);
		usva_cleanup();
		return 2;
	}
	if (b->o.perf_ctl != NULL) {
		perf_ctl = fopen(b->o.perf_ctl, "w");
		if (perf_ctl == NULL)
			fprintf(stderr, "usva-fault-perf: %s: %s\n",
				b->o.perf_ctl, strerror(errno));
	}
	t0 = app_now_ns();
	rc = setup(b);
	b->setup_ns = app_now_ns() - t0;
	if (rc == 0)
		rc = run(b);
	if (rc == 0) {
		b->bad = verify(b);
		report(b);
	} else {
		fprintf(stderr, "usva-fault-perf: %s\n", strerror(-rc));
	}
	teardown(b);
	if (perf_ctl != NULL)
		fclose(perf_ctl);
	ret = rc == 0 && b->bad == 0 ? 0 : 1;
	free(b);
	usva_cleanup();
	return ret;
}
