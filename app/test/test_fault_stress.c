/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service under load: the service runs on the worker lcore
 * (dedicated), the main lcore plays two PRI devices raising page request
 * groups for 16 (device, PASID) handlers at once: anon, mirror and file
 * pagers, 1 to 4 requests per group, pages drawn from a small set so that groups
 * of the same and of different PASIDs ask for the same pages at the same
 * time, and each PASID number used on both devices. The run is cut into
 * phases of a quarter second, each with fresh (empty) address spaces, so
 * that faults keep finding pages to map. Checks that every group is
 * answered exactly once, with its private data, that every page of a
 * group answered SUCCESS is mapped, that no page is taken twice, and at
 * the end of each phase that every page holds the right bytes (anon:
 * zeroes and the device's stamps; mirror: the process's bytes, stamps
 * included, seen by the CPU too; file: the file's bytes and the stamps).
 *
 * A second layout runs the service with two slots on the two lcores: not
 * started, the worker lcore polls slot 1 in a loop and the main lcore
 * polls slot 0 (which owns the queue) between its device work, so half
 * the requests are forwarded to the other slot's shards and answered from
 * there.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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
#include "app_clock.h"

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
#define FILE_BASE	(32 * SZ_1G)

enum kind { K_ANON, K_MIRROR, K_FILE };

struct sgroup {
	bool busy;
	uint8_t n;
	uint16_t pages[MAX_PER_GROUP];
	uint32_t seq;
};

struct shandler {
	unsigned int dev;		/* index */
	uint32_t pasid;
	enum kind kind;
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
	struct usva_pager *anon, *mirror, *file;
	uint8_t *buf;			/* the mirrored process memory */
	int fd;				/* the file pager's file */
	struct usva_fault_service *svc;
	bool started;
	bool two_slots;			/* slots polled by hand on both lcores */
	bool poll_stop;		/* atomic */
	unsigned int worker;
	struct shandler hs[NH];
	/* results */
	uint64_t groups_raised, requests_raised, answered;
	uint64_t dup, unknown, bad_code, bad_priv, unmapped, busy_retries;
	uint64_t overflow, stamp_fail;
	uint32_t seq;
};


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

static uint8_t
file_pattern(uint64_t off)
{
	return (uint8_t)(off * 29 + (off >> 12) * 3 + 0x40);
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
	/* Two-slot layout: slot 0 (the queue's) runs here, between device
	 * work. */
	if (s->two_slots)
		usva_fault_service_poll(s->svc, 0);
	for (unsigned int d = 0; d < NDEV; d++)
		drain(s, d);
}

static int
slot1_loop(void *arg)
{
	struct stress *s = arg;

	/* Acquire: pairs with service_halt()'s release. */
	while (!__atomic_load_n(&s->poll_stop, __ATOMIC_ACQUIRE))
		usva_fault_service_poll(s->svc, 1);
	return 0;
}

static int
service_go(struct stress *s)
{
	if (!s->two_slots)
		return usva_fault_service_start(s->svc);
	__atomic_store_n(&s->poll_stop, false, __ATOMIC_RELAXED);
	return rte_eal_remote_launch(slot1_loop, s, s->worker);
}

static int
service_halt(struct stress *s)
{
	if (!s->two_slots)
		return usva_fault_service_stop(s->svc);
	__atomic_store_n(&s->poll_stop, true, __ATOMIC_RELEASE);
	return rte_eal_wait_lcore(s->worker);
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
		uint64_t end = app_now_ns() + 2000000000ull;
		int rc;

		for (;;) {
			rc = usva_emu_page_request(s->dev[h->dev], &d);
			if (rc != -EBUSY)
				break;
			s->busy_retries++;
			drain_all(s);
			if (app_now_ns() > end)
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
stress_setup(struct stress *s, uint32_t nr_shards, unsigned int phases,
	     bool two_slots)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .backend = "emu",
		.params = "flavour=vtd,prq_depth=4096",
	};
	/* Anon pages stay the pager's until it is destroyed: every phase's
	 * address spaces take fresh ones. */
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = 12,
		.nr_pages = NH * NPAGES * phases + 64, .numa_node = -1,
		.cache_size = 64,
	};
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	struct usva_fault_config fcfg = {
		.size = sizeof(fcfg), .nr_lcores = 1, .lcores = { worker },
		.nr_shards = nr_shards, .max_groups = NDEV * PRI_CAPACITY,
	};
	char path[] = "/tmp/usva-fault-stress-XXXXXX";
	uint8_t *data;

	s->fd = -1;
	s->worker = worker;
	s->two_slots = two_slots;
	if (two_slots) {
		/* Slots run by hand: service-core mode is never started. */
		fcfg.flags = USVA_FAULT_F_SERVICE_CORES;
		fcfg.nr_lcores = 2;
	}
	data = malloc(NPAGES * SZ_4K);
	TEST_ASSERT(data != NULL, "malloc");
	for (uint64_t i = 0; i < NPAGES * SZ_4K; i++)
		data[i] = file_pattern(i);
	s->fd = mkstemp(path);
	if (s->fd >= 0) {
		unlink(path);
		if (write(s->fd, data, NPAGES * SZ_4K) !=
		    (ssize_t)(NPAGES * SZ_4K)) {
			close(s->fd);
			s->fd = -1;
		}
	}
	free(data);
	TEST_ASSERT(s->fd >= 0, "temporary file");

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
	TEST_ASSERT_OK(usva_pager_file_create(&(struct usva_pager_file_config){
			.size = sizeof(struct usva_pager_file_config),
			.fd = s->fd, .queue_depth = 32, .base = FILE_BASE,
			.len = NPAGES * SZ_4K, .pool = s->pool,
			.iommu = s->iommu }, &s->file));
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
		h->kind = (enum kind)(i % 3);
		h->base = h->kind == K_MIRROR ? (uint64_t)(uintptr_t)s->buf :
			  h->kind == K_FILE ? FILE_BASE : ANON_BASE;
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
				.pager = h->kind == K_MIRROR ? s->mirror :
					 h->kind == K_FILE ? s->file : s->anon,
				.pasid = h->pasid }, &h->h));
	}
	return TEST_SUCCESS;
}

/* The file pager's pages are the address space's: give them back. */
static void
reclaim_file(struct stress *s, struct shandler *h)
{
	for (unsigned int pg = 0; pg < NPAGES; pg++) {
		struct usva_as_xlate x;
		uint64_t va = FILE_BASE + pg * SZ_4K;

		if (usva_as_lookup(h->as, va, &x) == 0 &&
		    usva_page_pool_contains(s->pool, (void *)(uintptr_t)x.oa) &&
		    usva_as_unmap(h->as, va, SZ_4K, NULL) == 0)
			usva_page_free(s->pool, (void *)(uintptr_t)x.oa, false);
	}
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
		if (h->kind == K_FILE && h->as != NULL)
			reclaim_file(s, h);
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

	if (s->started && service_halt(s) != 0)
		bad |= 1;
	if (phase_teardown(s) != TEST_SUCCESS)
		bad |= 2;
	usva_fault_service_destroy(s->svc);
	if (s->anon != NULL && usva_pager_destroy(s->anon) != 0)
		bad |= 8;
	if (s->file != NULL && usva_pager_destroy(s->file) != 0)
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
	if (s->fd >= 0)
		close(s->fd);
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
		if (s->hs[i].kind == K_MIRROR)
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
			if (h->kind == K_MIRROR) {
				if (memcmp(page, expect + pg * SZ_4K, SZ_4K))
					wrong++;
			} else if (h->kind == K_FILE) {
				uint64_t st = stamp_of(i, pg);

				for (unsigned int b = 0; b < SZ_4K; b++) {
					uint8_t want = file_pattern(pg * SZ_4K + b);

					if (h->stamped[pg] && b >= i * 8 &&
					    b < i * 8 + 8)
						want = ((uint8_t *)&st)[b - i * 8];
					if (page[b] != want) {
						wrong++;
						break;
					}
				}
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
	TEST_ASSERT_OK(service_go(s));
	s->started = true;
	end = app_now_ns() + (uint64_t)ms * 1000000u;
	while (app_now_ns() < end) {
		for (int i = 0; i < 16; i++)
			TEST_ASSERT(raise_group(s, (unsigned int)
				    (usva_test_rand() % NH)) == 0,
				    "raising a group (overflow %" PRIu64 ")",
				    s->overflow);
		drain_all(s);
	}
	/* Wait for the rest. */
	end = app_now_ns() + 5000000000ull;
	while (s->answered < s->groups_raised && app_now_ns() < end) {
		drain_all(s);
		rte_pause();
	}
	rte_delay_us_sleep(10000);
	drain_all(s);
	TEST_ASSERT_OK(service_halt(s));
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
	{
		struct usva_page_pool_stats ps;
		uint64_t file_pages = 0;

		for (unsigned int i = 0; i < NH; i++)
			for (unsigned int pg = 0; pg < NPAGES; pg++) {
				if (s->hs[i].kind == K_ANON)
					*anon_pages += s->hs[i].requested[pg];
				else if (s->hs[i].kind == K_FILE)
					file_pages += s->hs[i].requested[pg];
			}
		usva_page_pool_stats(s->pool, &ps);
		TEST_ASSERT_EQ(ps.in_use, *anon_pages + file_pages,
			       "anon and file pages in use");
	}
	TEST_ASSERT(check_contents(s) == TEST_SUCCESS, "contents");
	TEST_ASSERT(phase_teardown(s) == TEST_SUCCESS, "phase teardown");
	return TEST_SUCCESS;
}

static int
stress_run(uint32_t nr_shards, unsigned int phases, unsigned int ms,
	   bool two_slots)
{
	struct stress *s;
	struct usva_fault_stats st;
	uint64_t anon_pages = 0;
	int ret = TEST_FAILED;

	if (rte_get_next_lcore(-1, 1, 0) >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	s = calloc(1, sizeof(*s));
	TEST_ASSERT(s != NULL, "calloc");
	TEST_ASSERT_GOTO(stress_setup(s, nr_shards, phases, two_slots) ==
			 TEST_SUCCESS, out, "set-up");
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
	return stress_run(0, RUN_SECONDS * 4, 250, false);
}

USVA_TEST(stress, fault_stress_one_shard)
{
	/* Everything in one shard: the same lcore, no parallelism, but all
	 * groups contend for one shard's state. */
	return stress_run(1, 4, 250, false);
}

USVA_TEST(stress, fault_stress_two_slots)
{
	/* Both lcores resolve: slot 0 on the main lcore (with the device),
	 * slot 1 on the worker; requests of slot 1's shards are forwarded. */
	return stress_run(0, RUN_SECONDS * 4, 250, true);
}
