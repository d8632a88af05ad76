/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service under load: the service runs on the worker lcore
 * (dedicated), the main lcore plays two PRI devices raising page request
 * groups for 16 (device, PASID) handlers at once: anon and mirror pagers,
 * 1 to 4 requests per group, pages drawn from a small set so that groups
 * of the same and of different PASIDs ask for the same pages at the same
 * time, and each PASID number used on both devices. The run is cut into
 * phases of a quarter second, each with fresh (empty) address spaces, so
 * that faults keep finding pages to map. Checks that every group is
 * answered exactly once, with its private data, that every page of a
 * group answered SUCCESS is mapped, that no page is taken twice, and at
 * the end of each phase that every page holds the right bytes (anon:
 * zeroes and the device's stamps; mirror: the process's bytes, stamps
 * included, seen by the CPU too).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"
#include "usva_pasid.h"
#include "test.h"

#define SZ_4K		UINT64_C(0x1000)
#define SZ_1G		UINT64_C(0x40000000)
#define RW		(USVA_ACCESS_READ | USVA_ACCESS_WRITE)

#define NDEV		2
#define NPASID		8		/* each attached on both devices */
#define NH		(NDEV * NPASID)	/* handlers */
#define NPAGES		128		/* pages per handler's range */
#define NGRP		512		/* group indexes (9 bits) */
#define MAX_PER_GROUP	4
#define PRI_CAPACITY	512
#define RUN_SECONDS	3
#define ANON_BASE	(16 * SZ_1G)

struct sgroup {
	bool busy;
	uint8_t n;
	uint16_t pages[MAX_PER_GROUP];
	uint32_t seq;
};

struct shandler {
	unsigned int dev;		/* index */
	uint32_t pasid;
	bool mirror;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_handler *h;
	uint64_t base;			/* range the pager serves */
	struct sgroup grp[NGRP];
	uint16_t free_grp[NGRP];
	unsigned int nfree;
	bool stamped[NPAGES];
	bool requested[NPAGES];
};

struct stress {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev[NDEV];
	struct usva_pasid_owner *owner;
	uint32_t pasid[NPASID];
	struct usva_page_pool *pool;
	struct usva_pager *anon, *mirror;
	uint8_t *buf;			/* the mirrored process memory */
	struct usva_fault_service *svc;
	bool started;
	struct shandler hs[NH];
	/* results */
	uint64_t groups_raised, requests_raised, answered;
	uint64_t dup, unknown, bad_code, bad_priv, unmapped, busy_retries;
	uint64_t overflow, stamp_fail;
	uint32_t seq;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
stamp_of(unsigned int h, unsigned int page)
{
	return UINT64_C(0x5a5a000000000000) | ((uint64_t)h << 32) | page;
}

static uint8_t
pattern(uint64_t off)
{
	return (uint8_t)(off * 13 + (off >> 12) * 7 + 1);
}

static struct shandler *
find_handler(struct stress *s, unsigned int dev, uint32_t pasid)
{
	for (unsigned int i = 0; i < NH; i++)
		if (s->hs[i].dev == dev && s->hs[i].pasid == pasid)
			return &s->hs[i];
	return NULL;
}

/* Take the responses device @p d has; check and account each. */
static unsigned int
drain(struct stress *s, unsigned int d)
{
	struct usva_emu_prg_resp r[64];
	int n = usva_emu_dev_responses(s->dev[d], r, RTE_DIM(r));

	for (int i = 0; i < n; i++) {
		struct shandler *h = find_handler(s, d, r[i].pasid);
		struct sgroup *g;
		unsigned int hi;

		if (h == NULL || r[i].grpid >= NGRP) {
			s->unknown++;
			continue;
		}
		hi = (unsigned int)(h - s->hs);
		g = &h->grp[r[i].grpid];
		if (!g->busy) {
			s->dup++;
			continue;
		}
		if (r[i].code != USVA_PAGE_RESP_SUCCESS)
			s->bad_code++;
		if (!(r[i].flags & USVA_PREQ_F_PRIV_DATA) ||
		    r[i].private_data[0] != (((uint64_t)hi << 32) | r[i].grpid) ||
		    r[i].private_data[1] != g->seq)
			s->bad_priv++;
		for (unsigned int k = 0; k < g->n; k++) {
			unsigned int pg = g->pages[k];
			uint64_t va = h->base + pg * SZ_4K;
			struct usva_emu_xlate x;

			if (usva_emu_translate(s->dev[d], h->pasid, va, RW,
					       &x) != 0) {
				s->unmapped++;
				continue;
			}
			if (!h->stamped[pg]) {
				uint64_t st = stamp_of(hi, pg);

				if (usva_emu_dma_write(s->dev[d], h->pasid,
						       va + hi * 8, &st,
						       sizeof(st), NULL) !=
				    sizeof(st))
					s->stamp_fail++;
				h->stamped[pg] = true;
			}
		}
		g->busy = false;
		h->free_grp[h->nfree++] = (uint16_t)r[i].grpid;
		s->answered++;
	}
	return n > 0 ? (unsigned int)n : 0;
}

static void
drain_all(struct stress *s)
{
	for (unsigned int d = 0; d < NDEV; d++)
		drain(s, d);
}

/* Raise one group for handler @p hi. @return 0, or -1 on an unexpected
 * return of the device model. */
static int
raise_group(struct stress *s, unsigned int hi)
{
	struct shandler *h = &s->hs[hi];
	struct sgroup *g;
	uint16_t grpid;

	if (h->nfree == 0)
		return 0;
	/* a random free index, not always the most recent one */
	{
		unsigned int j = (unsigned int)(usva_test_rand() % h->nfree);

		grpid = h->free_grp[j];
		h->free_grp[j] = h->free_grp[--h->nfree];
	}
	g = &h->grp[grpid];
	g->busy = true;
	g->seq = ++s->seq;
	g->n = 1 + (uint8_t)(usva_test_rand() % MAX_PER_GROUP);
	for (unsigned int k = 0; k < g->n; k++) {
		/* half the draws from a hot set of 8 pages */
		uint64_t r = usva_test_rand();

		g->pages[k] = (uint16_t)((r & 1) ? (r >> 8) % 8 :
					 (r >> 8) % NPAGES);
		h->requested[g->pages[k]] = true;
	}
	s->groups_raised++;
	for (unsigned int k = 0; k < g->n; k++) {
		struct usva_emu_prq_desc d = {
			.addr = h->base + g->pages[k] * SZ_4K +
				(usva_test_rand() & (SZ_4K - 1)),
			.private_data = { ((uint64_t)hi << 32) | grpid, g->seq },
			.pasid = h->pasid,
			.grpid = grpid,
			.perm = (k & 1) ? USVA_ACCESS_READ : RW,
			.flags = USVA_PREQ_F_PRIV_DATA |
				 (k == g->n - 1u ? USVA_PREQ_F_LAST : 0),
		};
		uint64_t end = now_ns() + 2000000000ull;
		int rc;

		for (;;) {
			rc = usva_emu_page_request(s->dev[h->dev], &d);
			if (rc != -EBUSY)
				break;
			s->busy_retries++;
			drain_all(s);
			if (now_ns() > end)
				break;
			rte_pause();
		}
		if (rc == 1) {
			s->overflow++;
			return -1;
		}
		if (rc != 0) {
			printf("    page request: %d\n", rc);
			return -1;
		}
		s->requests_raised++;
	}
	return 0;
}

static int
stress_setup(struct stress *s, uint32_t nr_shards, unsigned int phases)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .backend = "emu",
		.params = "flavour=vtd,prq_depth=4096",
	};
	/* Anon pages stay the pager's until it is destroyed: every phase's
	 * address spaces take fresh ones. */
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = 12,
		.nr_pages = NH / 2 * NPAGES * phases + 64, .numa_node = -1,
		.cache_size = 64,
	};
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	struct usva_fault_config fcfg = {
		.size = sizeof(fcfg), .nr_lcores = 1, .lcores = { worker },
		.nr_shards = nr_shards, .max_groups = NDEV * PRI_CAPACITY,
	};

	TEST_ASSERT_OK(usva_iommu_open(&icfg, &s->iommu));
	for (unsigned int d = 0; d < NDEV; d++) {
		struct usva_dev_config dcfg = {
			.size = sizeof(dcfg), .flags = USVA_DEV_F_PRI,
			.name = d ? "stress-dev1" : "stress-dev0",
			.pasid_width = 20, .pri_capacity = PRI_CAPACITY,
		};

		TEST_ASSERT_OK(usva_iommu_dev_open(s->iommu, &dcfg, &s->dev[d]));
	}
	TEST_ASSERT_OK(usva_pasid_owner_create(usva_iommu_pasids(s->iommu), 0,
					       &s->owner));
	for (unsigned int p = 0; p < NPASID; p++)
		TEST_ASSERT_OK(usva_pasid_alloc(s->owner, &s->pasid[p]));
	TEST_ASSERT_OK(usva_page_pool_create(&pcfg, &s->pool));
	s->buf = aligned_alloc(SZ_4K, NPAGES * SZ_4K);
	TEST_ASSERT(s->buf != NULL, "aligned_alloc");
	TEST_ASSERT_OK(usva_pager_anon_create(&(struct usva_pager_anon_config){
			.size = sizeof(struct usva_pager_anon_config),
			.pool = s->pool, .base = ANON_BASE,
			.len = NPAGES * SZ_4K, .iommu = s->iommu }, &s->anon));
	TEST_ASSERT_OK(usva_pager_mirror_create(
			&(struct usva_pager_mirror_config){
			.size = sizeof(struct usva_pager_mirror_config),
			.iommu = s->iommu, .base = (uint64_t)(uintptr_t)s->buf,
			.len = NPAGES * SZ_4K }, &s->mirror));
	TEST_ASSERT_OK(usva_fault_service_create(&fcfg, &s->svc));
	TEST_ASSERT_OK(usva_fault_service_add_iommu(s->svc, s->iommu));
	return TEST_SUCCESS;
}

/* A phase's fresh handlers: an empty address space each. */
static int
phase_setup(struct stress *s)
{
	for (uint64_t i = 0; i < NPAGES * SZ_4K; i++)
		s->buf[i] = pattern(i);
	for (unsigned int i = 0; i < NH; i++) {
		struct shandler *h = &s->hs[i];
		struct usva_as_config acfg = {
			.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS,
			.va_bits = 48,
		};

		memset(h, 0, sizeof(*h));
		h->dev = i / NPASID;
		h->pasid = s->pasid[i % NPASID];
		h->mirror = (i & 1) != 0;
		h->base = h->mirror ? (uint64_t)(uintptr_t)s->buf : ANON_BASE;
		for (unsigned int g = 0; g < NGRP; g++)
			h->free_grp[h->nfree++] = (uint16_t)g;
		TEST_ASSERT_OK(usva_as_create(&acfg, &h->as));
		TEST_ASSERT_OK(usva_domain_create(s->iommu,
				&(struct usva_domain_config){
				.size = sizeof(struct usva_domain_config),
				.as = h->as }, &h->dom));
		TEST_ASSERT_OK(usva_iommu_attach(s->dev[h->dev], h->pasid,
						 h->dom));
		h->attached = true;
		TEST_ASSERT_OK(usva_fault_register(s->svc,
				&(struct usva_fault_handler_config){
				.size = sizeof(struct usva_fault_handler_config),
				.dev = s->dev[h->dev], .as = h->as,
				.pager = h->mirror ? s->mirror : s->anon,
				.pasid = h->pasid }, &h->h));
	}
	return TEST_SUCCESS;
}

static int
phase_teardown(struct stress *s)
{
	int bad = 0;

	for (unsigned int i = 0; i < NH; i++) {
		struct shandler *h = &s->hs[i];

		usva_fault_unregister(h->h);
		h->h = NULL;
		if (h->attached && usva_iommu_detach(s->dev[h->dev],
						      h->pasid) != 0)
			bad |= 2;
		h->attached = false;
		if (h->dom != NULL && usva_domain_destroy(h->dom) != 0)
			bad |= 4;
		h->dom = NULL;
		usva_as_destroy(h->as);
		h->as = NULL;
	}
	TEST_ASSERT(bad == 0, "phase teardown 0x%x", bad);
	return TEST_SUCCESS;
}

static int
stress_teardown(struct stress *s)
{
	int bad = 0;

	if (s->started && usva_fault_service_stop(s->svc) != 0)
		bad |= 1;
	if (phase_teardown(s) != TEST_SUCCESS)
		bad |= 2;
	usva_fault_service_destroy(s->svc);
	if (s->anon != NULL && usva_pager_destroy(s->anon) != 0)
		bad |= 8;
	if (s->mirror != NULL && usva_pager_destroy(s->mirror) != 0)
		bad |= 8;
	for (unsigned int p = 0; p < NPASID; p++)
		if (s->pasid[p] != 0 && usva_pasid_free(s->owner, s->pasid[p]))
			bad |= 16;
	if (s->owner != NULL && usva_pasid_owner_destroy(s->owner) != 0)
		bad |= 32;
	for (unsigned int d = 0; d < NDEV; d++)
		usva_iommu_dev_close(s->dev[d]);
	if (s->iommu != NULL && usva_iommu_close(s->iommu) != 0)
		bad |= 64;
	if (s->pool != NULL) {
		struct usva_page_pool_stats ps;

		usva_page_pool_stats(s->pool, &ps);
		if (ps.in_use != 0) {
			printf("    %" PRIu64 " anon pages left in use\n",
			       ps.in_use);
			bad |= 128;
		}
		usva_page_pool_destroy(s->pool);
	}
	free(s->buf);
	if (bad)
		printf("    teardown problems 0x%x\n", bad);
	TEST_ASSERT(bad == 0, "teardown");
	return TEST_SUCCESS;
}

/* Every page each handler asked for holds what it should. */
static int
check_contents(struct stress *s)
{
	uint8_t *expect = malloc(NPAGES * SZ_4K);
	uint8_t page[SZ_4K];
	uint64_t wrong = 0, missing = 0, cpu_wrong = 0;
	struct usva_emu_dma_fault df;

	TEST_ASSERT(expect != NULL, "malloc");
	/* The mirrored buffer: pattern plus every mirror handler's stamps. */
	for (uint64_t i = 0; i < NPAGES * SZ_4K; i++)
		expect[i] = pattern(i);
	for (unsigned int i = 0; i < NH; i++)
		if (s->hs[i].mirror)
			for (unsigned int pg = 0; pg < NPAGES; pg++)
				if (s->hs[i].stamped[pg]) {
					uint64_t st = stamp_of(i, pg);

					memcpy(expect + pg * SZ_4K + i * 8, &st,
					       8);
				}
	if (memcmp(expect, s->buf, NPAGES * SZ_4K) != 0)
		cpu_wrong++;
	for (unsigned int i = 0; i < NH; i++) {
		struct shandler *h = &s->hs[i];

		for (unsigned int pg = 0; pg < NPAGES; pg++) {
			uint64_t va = h->base + pg * SZ_4K;

			if (!h->requested[pg])
				continue;
			if (usva_emu_dma_read(s->dev[h->dev], h->pasid, va, page,
					      SZ_4K, &df) != (int64_t)SZ_4K) {
				missing++;
				continue;
			}
			if (h->mirror) {
				if (memcmp(page, expect + pg * SZ_4K, SZ_4K))
					wrong++;
			} else {
				uint64_t st = stamp_of(i, pg);

				if (h->stamped[pg] &&
				    memcmp(page + i * 8, &st, 8) != 0)
					wrong++;
				if (h->stamped[pg])
					memset(page + i * 8, 0, 8);
				for (unsigned int b = 0; b < SZ_4K; b++)
					if (page[b] != 0) {
						wrong++;
						break;
					}
			}
		}
	}
	free(expect);
	TEST_ASSERT(missing == 0, "%" PRIu64 " requested pages not mapped",
		    missing);
	TEST_ASSERT(wrong == 0, "%" PRIu64 " pages with wrong bytes", wrong);
	TEST_ASSERT(cpu_wrong == 0, "the process's buffer does not hold the "
		    "device's writes");
	return TEST_SUCCESS;
}

/*
 * One phase: fresh address spaces, the device raising groups for
 * @p ms milliseconds, then everything answered and checked.
 */
static int
phase_run(struct stress *s, unsigned int ms, uint64_t *anon_pages)
{
	struct usva_fault_stats st0, st;
	uint64_t end, raised0 = s->groups_raised, reqs0 = s->requests_raised;
	uint64_t answered0 = s->answered;

	TEST_ASSERT(phase_setup(s) == TEST_SUCCESS, "phase set-up");
	TEST_ASSERT_OK(usva_fault_stats(s->svc, -1, &st0));
	TEST_ASSERT_OK(usva_fault_service_start(s->svc));
	s->started = true;
	end = now_ns() + (uint64_t)ms * 1000000u;
	while (now_ns() < end) {
		for (int i = 0; i < 16; i++)
			TEST_ASSERT(raise_group(s, (unsigned int)
				    (usva_test_rand() % NH)) == 0,
				    "raising a group (overflow %" PRIu64 ")",
				    s->overflow);
		drain_all(s);
	}
	/* Wait for the rest. */
	end = now_ns() + 5000000000ull;
	while (s->answered < s->groups_raised && now_ns() < end) {
		drain_all(s);
		rte_pause();
	}
	rte_delay_us_sleep(10000);
	drain_all(s);
	TEST_ASSERT_OK(usva_fault_service_stop(s->svc));
	s->started = false;
	TEST_ASSERT_OK(usva_fault_stats(s->svc, -1, &st));
	TEST_ASSERT(s->groups_raised - raised0 > 100, "only %" PRIu64
		    " groups raised", s->groups_raised - raised0);
	TEST_ASSERT_EQ(s->answered - answered0, s->groups_raised - raised0,
		       "groups answered");
	TEST_ASSERT_EQ(s->dup, 0, "duplicate responses");
	TEST_ASSERT_EQ(s->unknown, 0, "responses for unknown groups");
	TEST_ASSERT_EQ(s->bad_code, 0, "responses not SUCCESS");
	TEST_ASSERT_EQ(s->bad_priv, 0, "private data not echoed");
	TEST_ASSERT_EQ(s->unmapped, 0, "pages of a SUCCESS group unmapped");
	TEST_ASSERT_EQ(s->stamp_fail, 0, "device writes failed");
	TEST_ASSERT_EQ(st.groups - st0.groups, s->groups_raised - raised0,
		       "service groups");
	TEST_ASSERT_EQ(st.requests - st0.requests, s->requests_raised - reqs0,
		       "service requests");
	TEST_ASSERT_EQ(st.resp_success - st0.resp_success,
		       s->groups_raised - raised0, "resp_success");
	TEST_ASSERT_EQ(st.timeouts + st.group_overflow + st.no_handler +
		       st.out_of_range + st.pager_errors, 0, "error counters");
	for (unsigned int d = 0; d < NDEV; d++)
		TEST_ASSERT_EQ(usva_emu_dev_responses(s->dev[d],
			       &(struct usva_emu_prg_resp){ 0 }, 1), 0,
			       "late responses");
	TEST_ASSERT_EQ(usva_emu_outstanding_groups(s->iommu), 0,
		       "outstanding groups in the IOMMU");
	/* One anon page per (handler, page) asked for: none lost to a race
	 * of two groups over one page, none taken twice. */
	for (unsigned int i = 0; i < NH; i++)
		if (!s->hs[i].mirror)
			for (unsigned int pg = 0; pg < NPAGES; pg++)
				*anon_pages += s->hs[i].requested[pg];
	{
		struct usva_page_pool_stats ps;

		usva_page_pool_stats(s->pool, &ps);
		TEST_ASSERT_EQ(ps.in_use, *anon_pages, "anon pages in use");
	}
	TEST_ASSERT(check_contents(s) == TEST_SUCCESS, "contents");
	TEST_ASSERT(phase_teardown(s) == TEST_SUCCESS, "phase teardown");
	return TEST_SUCCESS;
}

static int
stress_run(uint32_t nr_shards, unsigned int phases, unsigned int ms)
{
	struct stress *s;
	struct usva_fault_stats st;
	uint64_t anon_pages = 0;
	int ret = TEST_FAILED;

	if (rte_get_next_lcore(-1, 1, 0) >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	s = calloc(1, sizeof(*s));
	TEST_ASSERT(s != NULL, "calloc");
	TEST_ASSERT_GOTO(stress_setup(s, nr_shards, phases) == TEST_SUCCESS,
			 out, "set-up");
	for (unsigned int p = 0; p < phases; p++)
		TEST_ASSERT_GOTO(phase_run(s, ms, &anon_pages) == TEST_SUCCESS,
				 out, "phase %u", p);
	TEST_ASSERT_OK_GOTO(usva_fault_stats(s->svc, -1, &st));
	printf("    %u phases: %" PRIu64 " groups, %" PRIu64 " requests, "
	       "answered %" PRIu64 "; %" PRIu64 " already present; %" PRIu64
	       " retries on a full device; p50 %" PRIu64 " ns, p99 %" PRIu64
	       " ns\n", phases, s->groups_raised, s->requests_raised,
	       s->answered, st.already_present, s->busy_retries,
	       usva_fault_lat_percentile(&st, 50),
	       usva_fault_lat_percentile(&st, 99));
	ret = TEST_SUCCESS;
out:
	if (stress_teardown(s) != TEST_SUCCESS)
		ret = TEST_FAILED;
	free(s);
	return ret;
}

USVA_TEST(stress, fault_stress_many_pasids)
{
	return stress_run(0, RUN_SECONDS * 4, 250);
}

USVA_TEST(stress, fault_stress_one_shard)
{
	/* Everything in one shard: the same lcore, no parallelism, but all
	 * groups contend for one shard's state. */
	return stress_run(1, 4, 250);
}
