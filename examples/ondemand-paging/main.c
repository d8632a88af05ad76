/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-ondemand-paging: a device works on a large sparse address space and
 * pages appear as it touches them.
 *
 *   usva-ondemand-paging [EAL options] -- [usva options] [options]
 *
 * An emu-dma engine (a DSA-like copy engine on the emulated IOMMU) copies
 * and fills at scattered places of a --va-size space (default 4 GiB) under
 * one PASID. Nothing is mapped for it beforehand: each page it touches
 * faults (a PCIe PRI page request), the fault service resolves it through
 * the pager, and the engine retries (block-on-fault) or the application
 * fixes the operation up (--mode partial). At the end every destination
 * byte is checked.
 *
 * Pagers (--pager):
 *   anon    zero-filled pages from a pool; the device first fills the
 *           copies' sources (one in eight it leaves untouched: zeroes)
 *   mirror  the space is the process's own memory (an mmap of --va-size,
 *           MAP_NORESERVE); the CPU writes the sources, the device copies
 *           them, the CPU reads the copies
 *   file    the lower half of the space is a data file (made in /tmp, or
 *           --file) read through io_uring as the device faults on it; the
 *           device copies from it into the anonymous upper half
 *
 * Lcores (default -l 0-1): the main lcore is the application (enqueue,
 * submit, completions); the first worker is an EAL service lcore running
 * both the fault service and the engine. With -l 0 the main lcore runs
 * all three.
 *
 * Exit status 0 when every byte is right; otherwise 1 after a line
 * "usva-ondemand-paging: FAILED: ...".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "usva.h"
#include "usva_as.h"
#include "usva_fault.h"
#include "usva_page_pool.h"
#include "odp.h"

#define DEFAULT_OPS	2048
#define SHORT_OPS	256
#define DEFAULT_OP_SIZE	(4 * SZ_4K)
#define DEFAULT_VA	(UINT64_C(4) << 30)

static const char *const pager_names[] = { "anon", "mirror", "file" };

void
odp_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, ODP_NAME ": FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report a failed call (-errno) and say whether it failed. */
bool
odp_failed(int rc, const char *what)
{
	if (rc >= 0)
		return false;
	odp_fail("%s: %s", what, strerror(-rc));
	return true;
}

uint64_t
odp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *
odp_size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024 && u < RTE_DIM(unit) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	else
		snprintf(buf, len, "%.*f %s", v == (uint64_t)v ? 0 : 1, v,
			 unit[u]);
	return buf;
}

/* ---- options ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: " ODP_NAME " [EAL options] -- [usva options] [options]\n"
		"  --pager anon|mirror|file  what fills the pages (default anon)\n"
		"  --va-size SIZE    the sparse space (default 4G; K/M/G/T)\n"
		"  --ops N           operations (default %u; --short: %u)\n"
		"  --op-size SIZE    bytes per operation, 4K..2M, a multiple "
		"of 4K (default 16K)\n"
		"  --mode block|partial  fault mode of the channel (default "
		"block)\n"
		"  --file PATH       --pager file: read this file (default: "
		"make one in /tmp)\n"
		"  --seed N          layout and data (default 1)\n"
		"  --short           a short run (CI)\n"
		"  --quiet           no progress lines\n",
		DEFAULT_OPS, SHORT_OPS);
}

/* A size with an optional K, M, G or T suffix (powers of 1024). */
static int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);
	unsigned int shift = 0;

	switch (*end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift != 0 && end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
	    strcmp(end + 1, "B") != 0)
		return -EINVAL;
	if (end == s || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static int
parse_pager(const char *s, enum pager_kind *out)
{
	for (unsigned int k = 0; k < RTE_DIM(pager_names); k++) {
		if (strcmp(s, pager_names[k]) == 0) {
			*out = (enum pager_kind)k;
			return 0;
		}
	}
	return -EINVAL;
}

static int
check_opts(const struct odp_opts *o)
{
	const char *why = NULL;

	if (o->op_size < SZ_4K || o->op_size > EXTENT || o->op_size % SZ_4K)
		why = "--op-size must be a multiple of 4K from 4K to 2M";
	else if (o->va_size < 2 * EXTENT || o->va_size % EXTENT ||
		 o->va_size > VA_SIZE_MAX)
		why = "--va-size must be a multiple of 2M from 4M to 64T";
	else if (o->ops == 0 || o->ops > (UINT64_C(1) << 24))
		why = "--ops must be from 1 to 16M";
	else if (o->file != NULL && o->pager != PAGER_FILE)
		why = "--file goes with --pager file";
	if (why == NULL)
		return 0;
	odp_fail("%s", why);
	return -EINVAL;
}

static int
parse_opts(int argc, char **argv, struct odp_opts *o)
{
	static const struct option lo[] = {
		{ "pager", required_argument, NULL, 'p' },
		{ "va-size", required_argument, NULL, 'v' },
		{ "ops", required_argument, NULL, 'n' },
		{ "op-size", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "file", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 'S' },
		{ "short", no_argument, NULL, 'x' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool ops_given = false, is_short = false;
	int c, rc = 0;

	*o = (struct odp_opts){ .pager = PAGER_ANON, .va_size = DEFAULT_VA,
				.ops = DEFAULT_OPS, .op_size = DEFAULT_OP_SIZE,
				.seed = 1 };
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': rc = parse_pager(optarg, &o->pager); break;
		case 'v': rc = parse_size(optarg, &o->va_size); break;
		case 's': rc = parse_size(optarg, &o->op_size); break;
		case 'n': rc = parse_size(optarg, &o->ops); ops_given = true; break;
		case 'S': o->seed = strtoull(optarg, NULL, 0); break;
		case 'f': o->file = optarg; break;
		case 'x': is_short = true; break;
		case 'q': o->quiet = true; break;
		case 'm':
			if (strcmp(optarg, "partial") == 0)
				o->partial = true;
			else if (strcmp(optarg, "block") != 0)
				rc = -EINVAL;
			break;
		case 'h': usage(stdout); exit(0);
		default: rc = -EINVAL; break;
		}
	}
	if (rc == 0 && optind != argc)
		rc = -EINVAL;
	if (rc != 0) {
		usage(stderr);
		odp_fail("bad options");
		return rc;
	}
	if (is_short && !ops_given)
		o->ops = SHORT_OPS;
	return check_opts(o);
}

/* ---- the run ------------------------------------------------------------- */

static void
print_plan(const struct odp *d)
{
	char va[32], sz[32];

	printf(ODP_NAME ": %s sparse space, pager %s, %" PRIu64
	       " operations of %s, %s, seed %" PRIu64 "\n",
	       odp_size_str(d->o.va_size, va, sizeof(va)),
	       pager_names[d->o.pager], d->o.ops,
	       odp_size_str(d->o.op_size, sz, sizeof(sz)),
	       d->o.partial ? "partial completion" : "block-on-fault",
	       d->o.seed);
}

static void
print_layout(const struct odp *d)
{
	char sz[32];

	printf("layout: %" PRIu64 " copies + %" PRIu64 " fills in %" PRIu64
	       " extents of 2 MiB", d->main.n - d->main.n / 8, d->main.n / 8,
	       d->extents);
	if (d->prep.n != 0)
		printf("; the device first fills %" PRIu64 " sources",
		       d->prep.n);
	if (d->o.pager == PAGER_FILE)
		printf("; data file %s, %s", d->o.file ? d->o.file :
		       "in /tmp", odp_size_str(d->file_size, sz, sizeof(sz)));
	printf("\n");
}

static int
run(struct odp *d)
{
	uint64_t t0 = odp_now_ns(), t1;
	int rc;

	if ((rc = odp_setup(d)) != 0)
		return rc;
	/* Mirror: the application writes its data in its own memory; the
	 * device will read it at the same addresses. */
	if (d->o.pager == PAGER_MIRROR)
		odp_fill_process(d);
	if ((rc = odp_services_start(d)) != 0)
		return rc;
	d->setup_ns = odp_now_ns() - t0;
	print_layout(d);
	d->ops_total = d->prep.n + d->main.n;
	t1 = odp_now_ns();
	if ((rc = odp_run_phase(d, &d->prep)) != 0 ||
	    (rc = odp_run_phase(d, &d->main)) != 0)
		return rc;
	d->run_ns = odp_now_ns() - t1;
	t1 = odp_now_ns();
	rc = odp_check(d);
	d->check_ns = odp_now_ns() - t1;
	return rc;
}

/* What the pager(s) did. */
static void
print_pager(const struct odp *d)
{
	struct usva_pager_mirror_stats ms;
	struct usva_pager_file_stats fs;
	struct usva_page_pool_stats ps = { 0 };
	char b[32];

	if (d->pool != NULL)
		usva_page_pool_stats(d->pool, &ps);
	switch (d->o.pager) {
	case PAGER_MIRROR:
		usva_pager_mirror_stats(d->mirror, &ms);
		printf("  pager        : mirror, %" PRIu64 " pages mapped; stage "
		       "2: %s of process memory in %" PRIu64 " chunks\n",
		       ms.mapped, odp_size_str(ms.s2_bytes, b, sizeof(b)),
		       ms.s2_maps);
		break;
	case PAGER_FILE:
		usva_pager_file_stats(d->file, &fs);
		printf("  pager        : file + anon, %" PRIu64 " pages read "
		       "through io_uring (%" PRIu64 " submits), %" PRIu64
		       " zero-filled pages\n", fs.completed, fs.submits,
		       ps.in_use);
		break;
	default:
		printf("  pager        : anon, %" PRIu64 " zero-filled pages "
		       "from the pool\n", ps.in_use);
		break;
	}
}

static void
summary(const struct odp *d)
{
	struct usva_fault_stats fs;
	struct usva_dma_stats ds;
	struct usva_as_stats as;
	char b1[32], b2[32], b3[32];

	usva_fault_stats(d->svc, -1, &fs);
	usva_dma_stats_get(d->dma, 0, &ds);
	usva_as_stats(d->as, &as);
	printf("result:\n");
	printf("  operations   : %" PRIu64 " (+ %" PRIu64 " source fills), "
	       "%" PRIu64 " errors\n", d->main.n, d->prep.n, ds.errors -
	       ds.page_faults);
	if (d->o.partial)
		printf("  fix-ups      : %" PRIu64 " partial completions "
		       "resubmitted\n", d->fixups);
	printf("  bytes moved  : %s by the device\n",
	       odp_size_str(ds.bytes, b1, sizeof(b1)));
	printf("  faults       : %" PRIu64 " served in %" PRIu64 " page-request "
	       "groups, latency p50 %.1f us, p99 %.1f us\n", fs.requests,
	       fs.groups, usva_fault_lat_percentile(&fs, 50) / 1e3,
	       usva_fault_lat_percentile(&fs, 99) / 1e3);
	print_pager(d);
	printf("  sparse space : %s of %s mapped for the device (%.2f%%)\n",
	       odp_size_str(as.mapped_bytes, b1, sizeof(b1)),
	       odp_size_str(d->o.va_size, b2, sizeof(b2)),
	       100.0 * (double)as.mapped_bytes / (double)d->o.va_size);
	printf("  time         : set-up %.1f ms, run %.1f ms, byte check "
	       "%.1f ms\n", d->setup_ns / 1e6, d->run_ns / 1e6,
	       d->check_ns / 1e6);
	printf("  byte check   : OK, %s in %" PRIu64 " destinations, every "
	       "byte as expected\n", odp_size_str(d->checked_bytes, b3,
						  sizeof(b3)), d->main.n);
}

int
main(int argc, char **argv)
{
	struct odp d = { .fd = -1, .dma = -1 };
	int rc;

	rc = usva_init(argc, argv);
	if (rc < 0) {
		odp_fail("usva_init: %s", strerror(-rc));
		return 1;
	}
	argc -= rc;
	argv += rc;
	if (parse_opts(argc, argv, &d.o) != 0) {
		usva_cleanup();
		return 1;
	}
	print_plan(&d);
	odp_print_lcores();
	rc = run(&d);
	if (rc == 0)
		summary(&d);
	odp_teardown(&d);
	usva_cleanup();
	return rc == 0 ? 0 : 1;
}
