/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Chaos: page faults under control-path churn.
 *
 * The emu backend with its strict checker (USVA_IOMMU_F_STRICT), one
 * device with PRI and ATS, 8 PASIDs each with an address space, a domain
 * and a fault handler (one anon pager for all). The fault service runs on
 * the worker lcore (dedicated). The main lcore is both the device and the
 * churner, in one loop:
 *
 * - device: raises one-request groups (LAST) for random pages of random
 *   PASIDs, takes the responses, and after a SUCCESS checks that the page
 *   translates and that its bytes are what the device left there: zero
 *   but for an 8-byte tag at offset 0, written on the first SUCCESS after
 *   the page was (re)mapped and read back on every later one;
 * - churn, every CHURN_EVERY iterations, on a random PASID: unregister and
 *   register its handler again; or unregister, detach, destroy the
 *   domain, free the PASID, allocate it again (new generation), make a
 *   domain, attach, register; or unregister, unmap a random range with
 *   usva_as_unmap_batch() into a batch submitted at once, give the pages
 *   back to the pool, register (the unmap runs with no handler so that
 *   the fault lcore is not writing the same granule: the single-writer
 *   rule of usva_as.h). Pages unmapped fault again; their tags are
 *   forgotten.
 *
 * A group raised before a churn of its PASID may be answered INVALID
 * (unregister, detach); one raised after must be answered SUCCESS. Every
 * group must be answered exactly once (private data names it), none may
 * stay outstanding, the strict checker must see no stale use, and the
 * pool's pages in use must come back to where they started.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "test.h"
#include "app_clock.h"

#define SZ_4K		UINT64_C(0x1000)
#define SZ_1G		UINT64_C(0x40000000)
#define RW		(USVA_ACCESS_READ | USVA_ACCESS_WRITE)

#define CH_NPASID	8
#define CH_NPAGES	64		/* pages per PASID's range */
#define CH_NGRP		512		/* PRI group indexes */
#define CH_PRI_CAP	256
#define CH_CHURN_EVERY	300		/* loop iterations between churns */
#define CH_MAX_UNMAP	32		/* pages per unmap churn, at most */
#define CH_RUN_MS	5000
#define CH_BASE		(16 * SZ_1G)

enum { CH_REREG, CH_REALLOC, CH_UNMAP, CH_NKIND };
static const char *const ch_kind_name[CH_NKIND] = {
	"re-register", "detach/free/realloc", "unmap batch",
};

struct ch_group {
	bool busy;
	bool overflow;		/* auto-answered by the IOMMU */
	uint16_t page;
	uint32_t pasid;		/* the PASID number it was raised for */
	uint32_t gen;		/* the slot's churn generation then */
	uint64_t seq;
};

struct ch_slot {
	uint32_t pasid;
	struct usva_as *as;
	struct usva_domain *dom;
	struct usva_fault_handler *h;
	uint32_t gen;		/* bumped by every churn of the slot */
	struct ch_group grp[CH_NGRP];
	uint16_t free_grp[CH_NGRP];
	unsigned int nfree;
	bool tagged[CH_NPAGES];
	uint64_t tag[CH_NPAGES];
};

struct chaos {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	struct usva_page_pool *pool;
	struct usva_pager *anon;
	struct usva_fault_service *svc;
	struct usva_inval_batch *batch;
	bool started;
	struct ch_slot sl[CH_NPASID];
	uint64_t seq;
	/* figures */
	uint64_t sent, received, busy_retries, overflow;
	uint64_t resp[3];	/* by code: SUCCESS, INVALID, FAILURE */
	uint64_t churn[CH_NKIND];
	uint64_t checked, tags_written, raced, pages_unmapped, pages_freed;
	/* failures */
	uint64_t dup, unknown, bad_invalid, bad_code, untranslated, bad_bytes;
	uint64_t dma_fail, pasid_mismatch;
	char why[160];
};

static int
ch_register(struct chaos *c, struct ch_slot *s)
{
	return usva_fault_register(c->svc, &(struct usva_fault_handler_config){
			.size = sizeof(struct usva_fault_handler_config),
			.dev = c->dev, .as = s->as, .pager = c->anon,
			.pasid = s->pasid }, &s->h);
}

static int
ch_attach(struct chaos *c, struct ch_slot *s)
{
	int rc = usva_domain_create(c->iommu, &(struct usva_domain_config){
			.size = sizeof(struct usva_domain_config),
			.as = s->as }, &s->dom);

	if (rc)
		return rc;
	return usva_iommu_attach(c->dev, s->pasid, s->dom);
}

/* Check the page of a SUCCESS group: it translates, and holds zeroes and
 * its tag (written now if it had none). */
static void
ch_check_page(struct chaos *c, struct ch_slot *s, unsigned int pg)
{
	static uint8_t buf[SZ_4K];
	uint64_t va = CH_BASE + pg * SZ_4K;
	struct usva_emu_xlate x;
	struct usva_emu_dma_fault df;
	uint64_t t;

	if (usva_emu_translate(c->dev, s->pasid, va, RW, &x) != 0) {
		c->untranslated++;
		return;
	}
	if (usva_emu_dma_read(c->dev, s->pasid, va, buf, SZ_4K, &df) !=
	    (int64_t)SZ_4K) {
		c->dma_fail++;
		return;
	}
	memcpy(&t, buf, 8);
	if (s->tagged[pg] ? t != s->tag[pg] : t != 0)
		c->bad_bytes++;
	for (unsigned int b = 8; b < SZ_4K; b++)
		if (buf[b] != 0) {
			c->bad_bytes++;
			break;
		}
	c->checked++;
	if (!s->tagged[pg]) {
		t = (usva_test_rand() << 8) | 1;	/* never 0 */
		if (usva_emu_dma_write(c->dev, s->pasid, va, &t, 8, &df) != 8) {
			c->dma_fail++;
			return;
		}
		s->tag[pg] = t;
		s->tagged[pg] = true;
		c->tags_written++;
	}
}

static void
ch_drain(struct chaos *c)
{
	struct usva_emu_prg_resp r[64];
	int n = usva_emu_dev_responses(c->dev, r, RTE_DIM(r));

	for (int i = 0; i < n; i++) {
		unsigned int si = (unsigned int)(r[i].private_data[0] >> 32);
		unsigned int gi = (unsigned int)(r[i].private_data[0] &
						 UINT32_MAX);
		struct ch_slot *s;
		struct ch_group *g;

		if (!(r[i].flags & USVA_PREQ_F_PRIV_DATA) ||
		    si >= CH_NPASID || gi >= CH_NGRP || gi != r[i].grpid) {
			c->unknown++;
			continue;
		}
		s = &c->sl[si];
		g = &s->grp[gi];
		if (!g->busy || g->seq != r[i].private_data[1]) {
			c->dup++;
			continue;
		}
		if (g->pasid != r[i].pasid)
			c->pasid_mismatch++;
		c->received++;
		if (r[i].code <= 2)
			c->resp[r[i].code]++;
		if (r[i].code == USVA_PAGE_RESP_SUCCESS) {
			if (g->overflow || g->gen != s->gen)
				c->raced++;
			else
				ch_check_page(c, s, g->page);
		} else if (r[i].code == USVA_PAGE_RESP_INVALID) {
			/* Only a churn of the PASID since the raise excuses
			 * it. */
			if (g->gen == s->gen)
				c->bad_invalid++;
		} else {
			c->bad_code++;
		}
		g->busy = false;
		s->free_grp[s->nfree++] = (uint16_t)gi;
	}
}

static unsigned int
ch_open_groups(const struct chaos *c, const struct ch_slot *only)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < CH_NPASID; i++)
		if (only == NULL || only == &c->sl[i])
			n += CH_NGRP - c->sl[i].nfree;
	return n;
}

/* Drain until @p only (or every slot) has no open group, or @p ms. */
static void
ch_wait_quiet(struct chaos *c, const struct ch_slot *only, unsigned int ms)
{
	uint64_t end = app_now_ns() + (uint64_t)ms * 1000000u;

	ch_drain(c);
	while (ch_open_groups(c, only) != 0 && app_now_ns() < end) {
		rte_pause();
		ch_drain(c);
	}
}

static int
ch_raise(struct chaos *c)
{
	unsigned int si = (unsigned int)(usva_test_rand() % CH_NPASID);
	struct ch_slot *s = &c->sl[si];
	unsigned int j, pg;
	struct ch_group *g;
	uint16_t gi;
	int rc;

	if (s->nfree == 0)
		return 0;
	j = (unsigned int)(usva_test_rand() % s->nfree);
	gi = s->free_grp[j];
	pg = (unsigned int)(usva_test_rand() % CH_NPAGES);
	g = &s->grp[gi];
	rc = usva_emu_page_request(c->dev, &(struct usva_emu_prq_desc){
			.addr = CH_BASE + pg * SZ_4K +
				(usva_test_rand() & (SZ_4K - 8)),
			.private_data = { ((uint64_t)si << 32) | gi,
					  ++c->seq },
			.pasid = s->pasid, .grpid = gi,
			.perm = RW,
			.flags = USVA_PREQ_F_PRIV_DATA | USVA_PREQ_F_LAST });
	if (rc == -EBUSY) {
		c->busy_retries++;
		return 0;
	}
	if (rc < 0) {
		snprintf(c->why, sizeof(c->why), "page request: %d", rc);
		return -1;
	}
	s->free_grp[j] = s->free_grp[--s->nfree];
	*g = (struct ch_group){ .busy = true, .overflow = rc == 1,
		.page = (uint16_t)pg, .pasid = s->pasid, .gen = s->gen,
		.seq = c->seq };
	c->overflow += rc == 1;
	c->sent++;
	return 0;
}

/* Unmap [first, first + n) pages of @p s (no handler registered), with
 * one batch submitted at once, and give the anon pages back. */
static int
ch_unmap(struct chaos *c, struct ch_slot *s, unsigned int first,
	 unsigned int n)
{
	void *pages[CH_MAX_UNMAP];
	unsigned int np = 0;
	uint64_t unmapped = 0;
	int rc, err = 0;

	for (unsigned int k = 0; k < n; k++) {
		struct usva_as_xlate x;

		if (usva_as_lookup(s->as, CH_BASE + (first + k) * SZ_4K,
				   &x) == 0 &&
		    usva_page_pool_contains(c->pool, (void *)(uintptr_t)x.oa))
			pages[np++] = (void *)(uintptr_t)x.oa;
	}
	rc = usva_as_unmap_batch(s->as, CH_BASE + first * SZ_4K, n * SZ_4K,
				 &unmapped, c->batch);
	if (rc)
		return rc;
	if (unmapped != np * SZ_4K)
		return -EPROTO;
	rc = usva_inval_batch_submit(c->batch, &err);
	if (rc < 0)
		return rc;
	if (err)
		return err;
	if ((uint32_t)rc != usva_inval_batch_count(c->batch))
		return -EPROTO;
	rc = usva_inval_batch_reset(c->batch);
	if (rc)
		return rc;
	/* Invalidated: the pages are ours to give back (the anon pager's
	 * mark cleared, as its destroy does). */
	for (unsigned int k = 0; k < np; k++) {
		uint64_t *w = usva_page_priv(c->pool, pages[k]);

		if (w != NULL)
			*w = 0;
		usva_page_free(c->pool, pages[k], false);
	}
	for (unsigned int k = 0; k < n; k++)
		s->tagged[first + k] = false;
	c->pages_unmapped += np;
	c->pages_freed += np;
	return 0;
}

static int
ch_churn(struct chaos *c)
{
	unsigned int si = (unsigned int)(usva_test_rand() % CH_NPASID);
	unsigned int kind = (unsigned int)(usva_test_rand() % CH_NKIND);
	struct ch_slot *s = &c->sl[si];
	int rc = 0;

	s->gen++;
	usva_fault_unregister(s->h);
	s->h = NULL;
	switch (kind) {
	case CH_REREG:
		break;
	case CH_REALLOC:
		rc = usva_iommu_detach(c->dev, s->pasid);
		if (rc)
			break;
		/* Detach answered every group of the PASID: none may be
		 * left once the responses are taken. */
		ch_wait_quiet(c, s, 1000);
		if (ch_open_groups(c, s) != 0) {
			snprintf(c->why, sizeof(c->why), "%u groups of PASID "
				 "%u open after detach", ch_open_groups(c, s),
				 s->pasid);
			return -1;
		}
		rc = usva_domain_destroy(s->dom);
		s->dom = NULL;
		if (rc)
			break;
		rc = usva_pasid_free(c->owner, s->pasid);
		s->pasid = 0;
		if (rc)
			break;
		rc = usva_pasid_alloc(c->owner, &s->pasid);
		if (rc)
			break;
		rc = ch_attach(c, s);
		break;
	case CH_UNMAP: {
		unsigned int n = 1 + (unsigned int)(usva_test_rand() %
						    CH_MAX_UNMAP);
		unsigned int first = (unsigned int)(usva_test_rand() %
						    (CH_NPAGES - n + 1));

		rc = ch_unmap(c, s, first, n);
		break;
	}
	}
	if (rc == 0)
		rc = ch_register(c, s);
	if (rc) {
		snprintf(c->why, sizeof(c->why), "churn %s of PASID %u: %d",
			 ch_kind_name[kind], s->pasid, rc);
		return -1;
	}
	c->churn[kind]++;
	return 0;
}

static int
ch_setup(struct chaos *c, uint64_t *pool_start)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .flags = USVA_IOMMU_F_STRICT,
		.backend = "emu", .params = "flavour=vtd,prq_depth=4096",
	};
	struct usva_dev_config dcfg = {
		.size = sizeof(dcfg), .flags = USVA_DEV_F_PRI | USVA_DEV_F_ATS,
		.name = "chaos-dev", .pasid_width = 20,
		.pri_capacity = CH_PRI_CAP,
	};
	struct usva_page_pool_config pcfg = {
		.size = sizeof(pcfg), .page_shift = 12,
		.nr_pages = CH_NPASID * CH_NPAGES * 2 + 256, .numa_node = -1,
		.cache_size = 32,
	};
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	struct usva_fault_config fcfg = {
		.size = sizeof(fcfg), .nr_lcores = 1, .lcores = { worker },
		.max_groups = CH_NGRP * 2,
	};
	struct usva_inval_batch_config bcfg = {
		.size = sizeof(bcfg), .capacity = 64,
	};
	struct usva_page_pool_stats ps;

	TEST_ASSERT_OK(usva_iommu_open(&icfg, &c->iommu));
	TEST_ASSERT_OK(usva_iommu_dev_open(c->iommu, &dcfg, &c->dev));
	TEST_ASSERT_OK(usva_pasid_owner_create(usva_iommu_pasids(c->iommu), 0,
					       &c->owner));
	TEST_ASSERT_OK(usva_page_pool_create(&pcfg, &c->pool));
	usva_page_pool_stats(c->pool, &ps);
	*pool_start = ps.in_use;
	TEST_ASSERT_OK(usva_pager_anon_create(&(struct usva_pager_anon_config){
			.size = sizeof(struct usva_pager_anon_config),
			.pool = c->pool, .base = CH_BASE,
			.len = CH_NPAGES * SZ_4K, .iommu = c->iommu }, &c->anon));
	TEST_ASSERT_OK(usva_inval_batch_create(c->iommu, &bcfg, &c->batch));
	TEST_ASSERT_OK(usva_fault_service_create(&fcfg, &c->svc));
	TEST_ASSERT_OK(usva_fault_service_add_iommu(c->svc, c->iommu));
	for (unsigned int i = 0; i < CH_NPASID; i++) {
		struct ch_slot *s = &c->sl[i];
		struct usva_as_config acfg = {
			.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS,
			.va_bits = 48,
		};

		for (unsigned int g = 0; g < CH_NGRP; g++)
			s->free_grp[s->nfree++] = (uint16_t)g;
		TEST_ASSERT_OK(usva_pasid_alloc(c->owner, &s->pasid));
		TEST_ASSERT_OK(usva_as_create(&acfg, &s->as));
		TEST_ASSERT_OK(ch_attach(c, s));
		TEST_ASSERT_OK(ch_register(c, s));
	}
	TEST_ASSERT_OK(usva_fault_service_start(c->svc));
	c->started = true;
	return TEST_SUCCESS;
}

static int
ch_teardown(struct chaos *c, uint64_t pool_start)
{
	int bad = 0;

	if (c->started && usva_fault_service_stop(c->svc) != 0)
		bad |= 1;
	for (unsigned int i = 0; i < CH_NPASID; i++) {
		struct ch_slot *s = &c->sl[i];

		usva_fault_unregister(s->h);
		s->h = NULL;
		if (s->dom != NULL) {
			if (usva_iommu_detach(c->dev, s->pasid) != 0)
				bad |= 2;
			if (usva_domain_destroy(s->dom) != 0)
				bad |= 4;
		}
		usva_as_destroy(s->as);
		if (s->pasid != 0 && usva_pasid_free(c->owner, s->pasid) != 0)
			bad |= 8;
	}
	usva_fault_service_destroy(c->svc);
	if (c->batch != NULL && usva_inval_batch_destroy(c->batch) != 0)
		bad |= 16;
	if (c->anon != NULL && usva_pager_destroy(c->anon) != 0)
		bad |= 32;
	if (c->owner != NULL && usva_pasid_owner_destroy(c->owner) != 0)
		bad |= 64;
	usva_iommu_dev_close(c->dev);
	if (c->iommu != NULL && usva_iommu_close(c->iommu) != 0)
		bad |= 128;
	if (c->pool != NULL) {
		struct usva_page_pool_stats ps;

		usva_page_pool_stats(c->pool, &ps);
		if (ps.in_use != pool_start) {
			printf("    pool: %" PRIu64 " pages in use, %" PRIu64
			       " at the start\n", ps.in_use, pool_start);
			bad |= 256;
		}
		usva_page_pool_destroy(c->pool);
	}
	if (bad)
		printf("    teardown problems 0x%x\n", bad);
	TEST_ASSERT(bad == 0, "teardown");
	return TEST_SUCCESS;
}

USVA_TEST(stress, chaos_faults_under_churn)
{
	struct chaos *c;
	struct usva_iommu_stats ist;
	struct usva_fault_stats fst;
	uint64_t pool_start = 0, t0, end, iter = 0, ns;
	int ret = TEST_FAILED;

	if (rte_get_next_lcore(-1, 1, 0) >= RTE_MAX_LCORE)
		TEST_SKIP("needs a worker lcore (run with -l 0-1)");
	c = calloc(1, sizeof(*c));
	TEST_ASSERT(c != NULL, "calloc");
	TEST_ASSERT_GOTO(ch_setup(c, &pool_start) == TEST_SUCCESS, out,
			 "set-up");
	t0 = app_now_ns();
	end = t0 + (uint64_t)CH_RUN_MS * 1000000u;
	while (c->why[0] == '\0' && app_now_ns() < end) {
		for (int k = 0; k < 4 && c->why[0] == '\0'; k++)
			(void)ch_raise(c);
		ch_drain(c);
		if (++iter % CH_CHURN_EVERY == 0 && c->why[0] == '\0')
			(void)ch_churn(c);
	}
	TEST_ASSERT_GOTO(c->why[0] == '\0', out, "%s", c->why);
	/* The rest: every group answered within 5 s. */
	ch_wait_quiet(c, NULL, 5000);
	ns = app_now_ns() - t0;
	rte_delay_us_sleep(10000);
	ch_drain(c);
	usva_iommu_stats(c->iommu, &ist);
	TEST_ASSERT_OK_GOTO(usva_fault_stats(c->svc, -1, &fst));
	printf("    %.2f s, %" PRIu64 " iterations: %" PRIu64 " page requests"
	       " (%" PRIu64 " -EBUSY skipped, %" PRIu64 " overflow), %"
	       PRIu64 " responses: %" PRIu64 " SUCCESS, %" PRIu64
	       " INVALID, %" PRIu64 " FAILURE\n", (double)ns / 1e9, iter,
	       c->sent, c->busy_retries, c->overflow, c->received,
	       c->resp[0], c->resp[1], c->resp[2]);
	printf("    churn: %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s (%"
	       PRIu64 " pages unmapped and freed)\n",
	       c->churn[CH_REREG], ch_kind_name[CH_REREG],
	       c->churn[CH_REALLOC], ch_kind_name[CH_REALLOC],
	       c->churn[CH_UNMAP], ch_kind_name[CH_UNMAP], c->pages_unmapped);
	printf("    pages checked %" PRIu64 " (tags written %" PRIu64 "), %"
	       PRIu64 " SUCCESS after a churn not checked; service: %" PRIu64
	       " already present, %" PRIu64 " unregister-flushed, %" PRIu64
	       " no handler; strict: %" PRIu64 " stale uses, %" PRIu64
	       " devtlb hits, %" PRIu64 " responses dropped\n", c->checked, c->tags_written, c->raced,
	       fst.already_present, fst.unregister_flushed, fst.no_handler,
	       ist.stale_uses, ist.devtlb_hits, ist.responses_dropped);
	TEST_ASSERT_GOTO(c->sent > 10000, out, "only %" PRIu64 " requests",
			 c->sent);
	for (unsigned int k = 0; k < CH_NKIND; k++)
		TEST_ASSERT_GOTO(c->churn[k] > 0, out, "no churn of kind %s",
				 ch_kind_name[k]);
	TEST_ASSERT_GOTO(ch_open_groups(c, NULL) == 0, out,
			 "%u groups never answered", ch_open_groups(c, NULL));
	TEST_ASSERT_GOTO(c->received == c->sent, out, "%" PRIu64
			 " responses for %" PRIu64 " requests", c->received,
			 c->sent);
	TEST_ASSERT_GOTO(c->dup == 0, out, "%" PRIu64 " duplicate responses",
			 c->dup);
	TEST_ASSERT_GOTO(c->unknown == 0, out, "%" PRIu64 " unknown responses",
			 c->unknown);
	TEST_ASSERT_GOTO(c->pasid_mismatch == 0, out, "%" PRIu64
			 " responses for another PASID", c->pasid_mismatch);
	TEST_ASSERT_GOTO(c->bad_code == 0 && c->resp[2] == 0, out,
			 "%" PRIu64 " FAILURE or unknown codes", c->bad_code);
	TEST_ASSERT_GOTO(c->bad_invalid == 0, out, "%" PRIu64 " INVALID "
			 "without a churn", c->bad_invalid);
	TEST_ASSERT_GOTO(c->untranslated == 0, out, "%" PRIu64 " SUCCESS "
			 "pages not translating", c->untranslated);
	TEST_ASSERT_GOTO(c->dma_fail == 0, out, "%" PRIu64 " DMA failures",
			 c->dma_fail);
	TEST_ASSERT_GOTO(c->bad_bytes == 0, out, "%" PRIu64 " pages with "
			 "wrong bytes", c->bad_bytes);
	TEST_ASSERT_GOTO(c->checked > 1000, out, "only %" PRIu64 " checked",
			 c->checked);
	TEST_ASSERT_GOTO(usva_emu_dev_responses(c->dev,
			 &(struct usva_emu_prg_resp){ 0 }, 1) == 0, out,
			 "late responses");
	TEST_ASSERT_GOTO(usva_emu_outstanding_groups(c->iommu) == 0, out,
			 "%u outstanding groups",
			 usva_emu_outstanding_groups(c->iommu));
	TEST_ASSERT_GOTO(ist.stale_uses == 0, out, "%" PRIu64 " stale uses",
			 ist.stale_uses);
	ret = TEST_SUCCESS;
out:
	if (ch_teardown(c, pool_start) != TEST_SUCCESS)
		ret = TEST_FAILED;
	free(c);
	return ret;
}
