/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-inval-perf: what batching and coalescing IOTLB invalidations saves
 * when an address space is unmapped.
 *
 *   usva-inval-perf [EAL options] -- [usva options] [options]
 *
 * One address space maps --size bytes (default 1 GiB) of 4 KiB pages; a
 * nested domain made from it is attached to one device (ATS unless
 * --no-ats) on the emu backend. The range is then unmapped one 4 KiB page
 * at a time, as an application gives back its buffers, three ways:
 *
 *   per-page   usva_as_unmap() of each page: its invalidation is made
 *              before the call returns, one backend call per page;
 *   batch      usva_as_unmap_batch() of each page into a batch created
 *              with USVA_INVAL_BATCH_F_NO_COALESCE, submitted whenever it
 *              is full (--capacity entries) and at the end;
 *   coalesced  the same with coalescing: consecutive pages merge as they
 *              are added, the merged range widens to a PASID-wide flush.
 *
 * Before each way the range is mapped again and the device translates
 * --warm pages spread over it, so that the caches hold something to
 * remove; that set-up is timed apart. After each way: nothing is mapped,
 * no table page is held, the device faults on every page it had cached
 * (exit status 1 otherwise). Backend calls and entries are the emu
 * backend's own counters (calls to its invalidate op, entries it ran).
 *
 * For reference, the same page-by-page unmap of an address space that no
 * domain is made from (nothing to invalidate) is timed too: the cost of
 * the table edits alone.
 *
 * What an invalidation call costs decides what batching saves. The emu
 * backend runs its entries in software at once, so the benchmark gives it
 * a hardware-like completion latency (its inval_wait_ns and ats_inval_ns
 * parameters): by default 1000 ns for the queue's wait round trip and
 * 1000 ns more when the call names a device TLB (the ATS invalidation
 * round trip), round figures of the order of what a VT-d queued
 * invalidation and a PCIe ATS invalidation take, not a measurement.
 * `--inval-wait-ns 0 --ats-inval-ns 0` measures the instant model: only
 * software costs.
 *
 * Lcore layout: everything runs on the main lcore; no other lcore is used.
 *
 * Options:
 *   --size BYTES    range to map and unmap (multiple of 2 MiB; default 1 GiB)
 *   --capacity N    batch capacity in entries (default 4096)
 *   --widen N       batch widen threshold in pages (0: the default, 512)
 *   --warm N        pages the device translates before each way (default
 *                   4096)
 *   --flavour F     vtd | smmuv3 (default vtd)
 *   --no-ats        the device has no device TLB
 *   --inval-wait-ns N   modelled completion latency of one invalidation
 *                   call (default 1000; 0: instant)
 *   --ats-inval-ns N    its extra when the call names a device TLB
 *                   (default 1000)
 *   --json          print one JSON object instead of the summary
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "usva.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "app_clock.h"

#define SZ_4K		UINT64_C(0x1000)
#define SZ_2M		UINT64_C(0x200000)
#define SZ_1G		UINT64_C(0x40000000)
#define VA_BASE		UINT64_C(0x100000000000)	/* 16 TiB */
#define RWU		(USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)

enum way { WAY_PER_PAGE, WAY_BATCH, WAY_COALESCED, WAY_EDIT_ONLY, NWAYS };

static const char *const way_names[NWAYS] = {
	"per_page", "batch", "coalesced", "edit_only",
};

struct opts {
	uint64_t size;
	uint32_t capacity;
	uint64_t widen;
	uint64_t warm;
	const char *flavour;
	bool ats;
	bool json;
	uint32_t inval_wait_ns;
	uint32_t ats_inval_ns;
};

struct result {
	uint64_t ns;			/* timed unmap */
	uint64_t setup_ns;		/* map + warm, not timed */
	uint64_t backend_calls;
	uint64_t entries_sent;
	uint64_t entries_added;		/* batch ways: entries added */
	uint64_t submits;
	bool ok;
};

struct bench {
	struct opts o;
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	uint32_t pasid;
	struct usva_as *as;		/* the domain's */
	struct usva_as *bare;		/* no domain: edits only */
	struct usva_domain *dom;
	uint8_t *mem;			/* output pages (stage 2, never touched) */
	uint64_t mem_len;
	bool s2;
	uint64_t pool_ns;
	struct result r[NWAYS];
};


static void
usage(FILE *f)
{
	fprintf(f,
		"usage: usva-inval-perf [EAL options] -- [usva options] "
		"[--size BYTES] [--capacity N]\n"
		"       [--widen N] [--warm N] [--flavour vtd|smmuv3] [--no-ats] "
		"[--json]\n"
		"       [--inval-wait-ns N] [--ats-inval-ns N]\n");
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "widen", required_argument, NULL, 'w' },
		{ "warm", required_argument, NULL, 'W' },
		{ "flavour", required_argument, NULL, 'f' },
		{ "no-ats", no_argument, NULL, 'A' },
		{ "json", no_argument, NULL, 'j' },
		{ "inval-wait-ns", required_argument, NULL, 'q' },
		{ "ats-inval-ns", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .size = SZ_1G, .capacity = 4096, .warm = 4096,
			    .flavour = "vtd", .ats = true,
			    .inval_wait_ns = 1000, .ats_inval_ns = 1000 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->size = strtoull(optarg, NULL, 0); break;
		case 'c': o->capacity = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'w': o->widen = strtoull(optarg, NULL, 0); break;
		case 'W': o->warm = strtoull(optarg, NULL, 0); break;
		case 'f': o->flavour = optarg; break;
		case 'A': o->ats = false; break;
		case 'j': o->json = true; break;
		case 'q': o->inval_wait_ns = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'a': o->ats_inval_ns = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || o->size == 0 || (o->size & (SZ_2M - 1)) ||
	    o->size > 64 * SZ_1G || o->capacity == 0 ||
	    o->capacity > USVA_INVAL_BATCH_MAX_CAPACITY ||
	    (strcmp(o->flavour, "vtd") != 0 && strcmp(o->flavour, "smmuv3") != 0))
		return -EINVAL;
	return 0;
}

/* ---- set-up ---------------------------------------------------------------- */

static int
as_new(struct bench *b, struct usva_as **as)
{
	struct usva_as_config ac = {
		.size = sizeof(ac),
		.format = strcmp(b->o.flavour, "vtd") == 0 ? USVA_PGFMT_X86_FS :
			  USVA_PGFMT_ARM_LPAE_4K,
		.va_bits = 48,
	};

	return usva_as_create(&ac, as);
}

static int
setup(struct bench *b)
{
	struct usva_iommu_config ic = {
		.size = sizeof(ic), .backend = "emu",
	};
	struct usva_dev_config dc = {
		.size = sizeof(dc), .name = "inval-perf", .pasid_width = 20,
		.flags = b->o.ats ? USVA_DEV_F_ATS : 0,
	};
	struct usva_domain_config dom = { .size = sizeof(dom) };
	struct usva_page_pool_stats ps;
	char params[128];
	int rc;

	usva_page_pool_stats(usva_page_pool_default(), &ps);
	b->pool_ns = ps.setup_ns;
	snprintf(params, sizeof(params),
		 "flavour=%s,inval_wait_ns=%u,ats_inval_ns=%u", b->o.flavour,
		 b->o.inval_wait_ns, b->o.ats_inval_ns);
	ic.params = params;
	rc = usva_iommu_open(&ic, &b->iommu);
	if (rc == 0)
		rc = usva_iommu_dev_open(b->iommu, &dc, &b->dev);
	if (rc == 0)
		rc = usva_pasid_owner_create(usva_iommu_pasids(b->iommu), 0,
					     &b->owner);
	if (rc == 0)
		rc = usva_pasid_alloc(b->owner, &b->pasid);
	if (rc == 0)
		rc = as_new(b, &b->as);
	if (rc == 0)
		rc = as_new(b, &b->bare);
	if (rc)
		return rc;
	dom.as = b->as;
	rc = usva_domain_create(b->iommu, &dom, &b->dom);
	if (rc == 0)
		rc = usva_iommu_attach(b->dev, b->pasid, b->dom);
	if (rc)
		return rc;
	/* Output pages: reserved, never touched (translation reads the
	 * tables, not the data), 2 MiB aligned so stage 2 can be one range. */
	b->mem_len = b->o.size + SZ_2M;
	b->mem = mmap(NULL, b->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		return -ENOMEM;
	}
	rc = usva_iommu_s2_map(b->iommu, (uint64_t)(uintptr_t)b->mem, b->mem,
			       b->mem_len, USVA_S2_READ | USVA_S2_WRITE);
	b->s2 = rc == 0;
	return rc;
}

static void
teardown(struct bench *b)
{
	usva_iommu_dev_close(b->dev);
	usva_domain_destroy(b->dom);
	usva_as_destroy(b->as);
	usva_as_destroy(b->bare);
	if (b->s2)
		usva_iommu_s2_unmap(b->iommu, (uint64_t)(uintptr_t)b->mem,
				    b->mem_len, NULL);
	if (b->mem != NULL)
		munmap(b->mem, b->mem_len);
	usva_pasid_owner_destroy(b->owner);
	usva_iommu_close(b->iommu);
}

/* Page @p i of the warm set: spread evenly over the range. */
static uint64_t
warm_va(const struct bench *b, uint64_t i)
{
	uint64_t pages = b->o.size / SZ_4K;
	uint64_t n = RTE_MIN(b->o.warm, pages);

	return VA_BASE + (i * (pages / n)) * SZ_4K;
}

/* Map the range, and let the device cache part of it. Not timed. */
static int
prepare(struct bench *b, struct usva_as *as, struct result *r)
{
	uint64_t t0 = app_now_ns();
	uint64_t n = RTE_MIN(b->o.warm, b->o.size / SZ_4K);
	uint64_t oa = RTE_ALIGN_CEIL((uint64_t)(uintptr_t)b->mem, SZ_2M);
	int rc;

	rc = usva_as_map(as, VA_BASE, oa, b->o.size, RWU, USVA_MAP_F_MAX_4K);
	for (uint64_t i = 0; rc == 0 && as == b->as && i < n; i++) {
		struct usva_emu_xlate x;

		rc = usva_emu_translate(b->dev, b->pasid, warm_va(b, i),
					USVA_ACCESS_READ, &x);
	}
	r->setup_ns = app_now_ns() - t0;
	return rc;
}

/* ---- the measured part ---------------------------------------------------------- */

static int
unmap_per_page(struct bench *b, struct usva_as *as)
{
	for (uint64_t va = VA_BASE; va < VA_BASE + b->o.size; va += SZ_4K) {
		int rc = usva_as_unmap(as, va, SZ_4K, NULL);

		if (rc)
			return rc;
	}
	return 0;
}

static int
flush(struct usva_inval_batch *batch)
{
	int err = 0;
	int rc = usva_inval_batch_submit(batch, &err);

	if (rc < 0)
		return rc;
	if (err)
		return err;
	return usva_inval_batch_reset(batch);
}

static int
unmap_batched(struct bench *b, struct usva_inval_batch *batch)
{
	int rc;

	for (uint64_t va = VA_BASE; va < VA_BASE + b->o.size; va += SZ_4K) {
		rc = usva_as_unmap_batch(b->as, va, SZ_4K, NULL, batch);
		if (rc == -ENOSPC) {
			/* Full: send it, then queue the page again. */
			rc = flush(batch);
			if (rc == 0)
				rc = usva_as_unmap_batch(b->as, va, SZ_4K, NULL,
							 batch);
		}
		if (rc)
			return rc;
	}
	return flush(batch);
}

static uint64_t
tables_of(struct usva_as *as)
{
	struct usva_as_stats st;

	usva_as_stats(as, &st);
	return st.table_pages;
}

/*
 * Nothing mapped, nothing held, every freed table back in the pool (upper
 * tables stay until the AS is destroyed: @p in_use and @p tables were read
 * before the way), and the device faults on every page it had cached.
 */
static bool
check_after(struct bench *b, struct usva_as *as, uint64_t in_use,
	    uint64_t tables)
{
	uint64_t n = RTE_MIN(b->o.warm, b->o.size / SZ_4K);
	struct usva_page_pool_stats ps;
	struct usva_as_stats st;

	usva_as_stats(as, &st);
	usva_page_pool_stats(usva_page_pool_default(), &ps);
	if (st.mapped_bytes != 0 || st.held_pages != 0 ||
	    ps.in_use != in_use + (st.table_pages - tables))
		return false;
	for (uint64_t i = 0; as == b->as && i < n; i++) {
		struct usva_emu_xlate x;

		if (usva_emu_translate(b->dev, b->pasid, warm_va(b, i),
				       USVA_ACCESS_READ, &x) == 0)
			return false;	/* a stale translation survived */
	}
	return true;
}

static int
run_way(struct bench *b, enum way w)
{
	struct usva_inval_batch_config bc = {
		.size = sizeof(bc),
		.flags = w == WAY_BATCH ? USVA_INVAL_BATCH_F_NO_COALESCE : 0,
		.capacity = b->o.capacity,
		.widen_pages = b->o.widen,
	};
	struct usva_as *as = w == WAY_EDIT_ONLY ? b->bare : b->as;
	struct usva_inval_batch *batch = NULL;
	struct usva_iommu_stats s0, s1;
	struct usva_page_pool_stats ps;
	struct result *r = &b->r[w];
	uint64_t t0, tables = tables_of(as);
	int rc;

	usva_page_pool_stats(usva_page_pool_default(), &ps);
	if (w == WAY_BATCH || w == WAY_COALESCED) {
		rc = usva_inval_batch_create(b->iommu, &bc, &batch);
		if (rc)
			return rc;
	}
	rc = prepare(b, as, r);
	if (rc)
		goto out;
	usva_iommu_stats(b->iommu, &s0);
	t0 = app_now_ns();
	rc = batch ? unmap_batched(b, batch) : unmap_per_page(b, as);
	r->ns = app_now_ns() - t0;
	usva_iommu_stats(b->iommu, &s1);
	if (rc)
		goto out;
	r->backend_calls = s1.inval_calls - s0.inval_calls;
	r->entries_sent = s1.inval_entries - s0.inval_entries;
	if (batch != NULL) {
		struct usva_inval_batch_stats bs;

		usva_inval_batch_stats(batch, &bs);
		r->entries_added = bs.added;
		r->submits = bs.submits;
	}
	r->ok = check_after(b, as, ps.in_use, tables);
out:
	usva_inval_batch_destroy(batch);
	return rc;
}

/* ---- report ------------------------------------------------------------------ */

static double
ratio(const struct bench *b, enum way w)
{
	return b->r[w].ns ? (double)b->r[WAY_PER_PAGE].ns / (double)b->r[w].ns : 0;
}

static void
report_json(const struct bench *b)
{
	printf("{\"size_bytes\": %" PRIu64 ", \"pages\": %" PRIu64
	       ", \"capacity\": %u, \"flavour\": \"%s\", \"ats\": %s"
	       ", \"inval_wait_ns\": %u, \"ats_inval_ns\": %u",
	       b->o.size, b->o.size / SZ_4K, b->o.capacity, b->o.flavour,
	       b->o.ats ? "true" : "false", b->o.inval_wait_ns,
	       b->o.ats_inval_ns);
	for (int w = 0; w < NWAYS; w++)
		printf(", \"%s\": {\"backend_calls\": %" PRIu64 ", \"entries_sent\": %"
		       PRIu64 ", \"seconds\": %.6f, \"setup_seconds\": %.6f, "
		       "\"ok\": %s}", way_names[w], b->r[w].backend_calls,
		       b->r[w].entries_sent, b->r[w].ns / 1e9,
		       b->r[w].setup_ns / 1e9, b->r[w].ok ? "true" : "false");
	printf(", \"ratio_batch_vs_per_page\": %.2f, "
	       "\"ratio_coalesced_vs_per_page\": %.2f, \"pool_setup_seconds\": "
	       "%.6f}\n", ratio(b, WAY_BATCH), ratio(b, WAY_COALESCED),
	       b->pool_ns / 1e9);
}

static void
report(const struct bench *b)
{
	static const char *const label[NWAYS] = {
		"per-page   ", "batch      ", "coalesced  ", "(edits only)",
	};
	uint64_t pages = b->o.size / SZ_4K;

	if (b->o.json) {
		report_json(b);
		return;
	}
	printf("usva-inval-perf: emu backend (%s), one address space, one %s "
	       "device, %" PRIu64 " MiB of 4 KiB mappings unmapped one page "
	       "at a time\n", b->o.flavour, b->o.ats ? "ATS" : "non-ATS",
	       b->o.size >> 20);
	printf("  layout      : main lcore %u only\n", rte_get_main_lcore());
	printf("  inval cost  : modelled completion %u ns per call, +%u ns "
	       "when it names a device TLB%s\n", b->o.inval_wait_ns,
	       b->o.ats_inval_ns, b->o.inval_wait_ns || b->o.ats_inval_ns ?
	       "" : " (instant: software only)");
	printf("  set-up      : page pool %.3f s; map + warm %" PRIu64 " pages "
	       "before each way %.3f s; not timed\n", b->pool_ns / 1e9,
	       RTE_MIN(b->o.warm, pages), b->r[WAY_PER_PAGE].setup_ns / 1e9);
	printf("  batches     : capacity %u entries, widen past %" PRIu64
	       " pages\n", b->o.capacity,
	       b->o.widen ? b->o.widen : (uint64_t)USVA_INVAL_BATCH_DEFAULT_WIDEN);
	printf("  %-12s %14s %14s %12s %10s %10s\n", "way", "backend calls",
	       "entries sent", "seconds", "ns/page", "vs per-page");
	for (int w = 0; w < NWAYS; w++)
		printf("  %-12s %14" PRIu64 " %14" PRIu64 " %12.6f %10.1f %9.2fx%s\n",
		       label[w], b->r[w].backend_calls, b->r[w].entries_sent,
		       b->r[w].ns / 1e9, (double)b->r[w].ns / (double)pages,
		       ratio(b, w), b->r[w].ok ? "" : "  CHECK FAILED");
	printf("  check       : %s\n", b->r[WAY_PER_PAGE].ok && b->r[WAY_BATCH].ok &&
	       b->r[WAY_COALESCED].ok && b->r[WAY_EDIT_ONLY].ok ?
	       "after each way nothing mapped, no table page held, no cached "
	       "translation left" : "FAILED");
}

int
main(int argc, char **argv)
{
	struct bench *b;
	int ret, rc;

	ret = usva_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "usva-inval-perf: usva_init: %s\n",
			strerror(-ret));
		return 1;
	}
	argc -= ret;
	argv += ret;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return 1;
	if (parse_opts(argc, argv, &b->o) != 0) {
		usage(stderr);
		free(b);
		usva_cleanup();
		return 2;
	}
	rc = setup(b);
	for (int w = 0; rc == 0 && w < NWAYS; w++)
		rc = run_way(b, (enum way)w);
	if (rc == 0)
		report(b);
	else
		fprintf(stderr, "usva-inval-perf: %s\n", strerror(-rc));
	ret = rc == 0 && b->r[WAY_PER_PAGE].ok && b->r[WAY_BATCH].ok &&
	      b->r[WAY_COALESCED].ok && b->r[WAY_EDIT_ONLY].ok ? 0 : 1;
	teardown(b);
	free(b);
	usva_cleanup();
	return ret;
}
