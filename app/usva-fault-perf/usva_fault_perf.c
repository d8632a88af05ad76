/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: how fast the fault service resolves and answers page
 * requests, beside what a user would otherwise use.
 *
 *   usva-fault-perf [EAL options] -- [usva options] [options]
 *   usva-fault-perf -l 0-1 -- --compare [--json]
 *   usva-fault-perf -l 0-1 -- --sweep shards=1,2,4,8 --csv s.csv --cdf c.csv
 *
 * Modes. A single measurement (the default): service only with
 * pre-filled queues, or end to end with --device emu-dma (e2e.c). --peers
 * adds the peers after it: the kernel's first touch of anonymous memory
 * and userfaultfd (peers.c), with the ratios. --compare runs the default
 * measurements and both peers in one process and prints a summary table
 * with the ratios, or one JSON object (compare.c). --sweep varies one
 * parameter and writes CSV (sweep.c). Everything is set up and torn down
 * per measurement, so one process (one EAL) runs them in a row.
 *
 * Service only (the default): the emu backend with page-request queues filled before the
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
 * Figures: faults/s, GB/s of memory populated (faults x page size),
 * latency p50, p90, p99 and max from the service's request-to-response
 * histogram (max: the upper edge of the highest log2 bucket). With
 * pre-filled queues the latency is mostly the time requests waited in the
 * queue. A run longer than a second prints a progress line a second on
 * stderr.
 *
 * Options:
 *   --lcores N        fault lcores (1..8; default 1)
 *   --drive MODE      dedicated | service | poll (default: dedicated with
 *                     1 lcore, service with more)
 *   --iommus N        emu instances, each with its own queue (default: as
 *                     many as fault lcores)
 *   --faults N        page requests in all (default 262144; 1024 with
 *                     2 MiB pages)
 *   --shards N        shards (power of two; 0: the build's default)
 *   --shard-shift N   address bits below a shard granule (default 21)
 *   --lock MODE       sharded | global
 *   --pager P         anon | mirror | file
 *   --page-size S     4k | 2m (2m: anon only, a pool of 2 MiB pages, one
 *                     2 MiB page per request)
 *   --burst N         requests per poll (0: the build's default)
 *   --order O         seq: each PASID's pages in turn; rr: round-robin over
 *                     the PASIDs (default seq)
 *   --json            print one JSON object instead of the summary
 *   --cdf FILE        also write the latency CDF as CSV
 *   --no-verify       skip the page-by-page check
 *   --pasids-per-dev N  PASIDs (each 512 requests) per device (default 8)
 *   --perf-ctl FIFO   write "enable" / "disable" to FIFO around the timed
 *                     part, for `perf record -D -1 --control fifo:FIFO`
 * End to end (e2e.c describes the lcore layout):
 *   --device D        prefill (default: pre-filled queues, service only) |
 *                     emu-dma (the live engine)
 *   --devices N       emu-dma engines, one emu device each (default 1)
 *   --pasids N        PASIDs per engine (default 8)
 *   --vchans N        channels per engine (1..8, default 8)
 *   --inflight N      operations a channel runs at once (1..16, default 16)
 *   --op OP           fill (default) | copy, one page each
 *   --op-bytes N      bytes each operation moves from its page's start
 *                     (8..4096, default 4096)
 * Peers, comparison, sweep:
 *   --peers           the peers after the measurement, and the ratios
 *   --compare         the default measurements and the peers (compare.c)
 *   --rounds N        --compare: rounds of sharded and of global (default
 *                     5; the medians are compared)
 *   --peer-pages N    first-touch pages (default 262144)
 *   --uffd-pages N    userfaultfd pages (default 16384)
 *   --sweep P=V,...   P: lcores | shards | burst | pasids
 *   --csv FILE        --sweep: the CSV (default stdout)
 *
 * Queues: each group needs its own (PASID, group index) while outstanding
 * and the index has 9 bits, so every 512 requests use another PASID (an
 * address space, a domain and a handler each), and every
 * --pasids-per-dev PASIDs (default 8, at most 128: the emu model's PRI
 * capacity is 65536 requests per device) another device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usva.h"
#include "fault_perf.h"

/* A single measurement, its CDF if asked, the peers if asked. */
static int
single(const struct opts *o)
{
	struct result r;
	FILE *f;
	int rc;

	rc = o->e2e ? e2e_measure(o, &r) : service_measure(o, &r);
	if (rc == 0 && o->cdf != NULL) {
		f = fopen(o->cdf, "w");
		if (f == NULL) {
			fprintf(stderr, "usva-fault-perf: %s: cannot write\n",
				o->cdf);
			return -EIO;
		}
		cdf_header(f);
		rc = cdf_write(f, "run", 0, r.st.lat_hist);
		fclose(f);
	}
	if (rc == 0 && o->peers)
		rc = peers_main(o, &r);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o;
	int ret, rc;

	ret = usva_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "usva-fault-perf: usva_init: %s\n",
			strerror(-ret));
		return 1;
	}
	argc -= ret;
	argv += ret;
	if (parse_opts(argc, argv, &o) != 0) {
		usage(stderr);
		usva_cleanup();
		return 2;
	}
	perf_ctl_open(o.perf_ctl);
	if (o.compare)
		rc = compare_main(&o);
	else if (o.sweep_param != NULL)
		rc = sweep_main(&o);
	else
		rc = single(&o);
	perf_ctl_close();
	usva_cleanup();
	return rc == 0 ? 0 : 1;
}
