/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-sva-copy: the smallest complete Shared Virtual Addressing program.
 *
 *   usva-sva-copy [EAL options] [-- usva options]
 *
 * The process mallocs two buffers and fills one. A DMA engine (emu-dma, a
 * DSA-like copy engine on the emulated IOMMU) is given the two plain
 * pointers and copies one buffer to the other. Nothing is pinned or mapped
 * for the device beforehand: the device works on the process's virtual
 * addresses under a PASID, each page it touches faults (a PCIe PRI page
 * request), and the fault service maps the process's own page there (the
 * mirror pager) while the device waits (block-on-fault).
 *
 * Lcores (two are enough, e.g. -l 0-1):
 *   main lcore    the application: enqueues the copy, runs the engine
 *                 (usva_emu_dma_poll) and reaps the completion;
 *   first worker  the fault service's one fault lcore (dedicated).
 *
 * Exit status 0 when every byte arrived; otherwise 1, after a line
 * "usva-sva-copy: FAILED: ...".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "usva.h"
#include "usva_as.h"
#include "usva_dma.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_pasid.h"

#define COPY_LEN	(UINT64_C(1) << 20)	/* 1 MiB each way */
#define PAGE_SIZE_4K	UINT64_C(4096)
#define TIMEOUT_NS	(UINT64_C(10) * 1000000000)

/* Everything the program sets up, torn down in reverse by teardown(). */
struct sva_copy {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	uint32_t pasid;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_service *svc;
	struct usva_pager *pager;
	struct usva_fault_handler *handler;
	int16_t dma;			/* -1: none */
	bool dma_started;
	uint8_t *src, *dst;
};

static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "usva-sva-copy: FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report a failed call (-errno) and say whether it failed. */
static bool
failed(int rc, const char *what)
{
	if (rc >= 0)
		return false;
	fail("%s: %s", what, strerror(-rc));
	return true;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The IOMMU side: an emu instance, a device with PRI (it may ask for
 * pages), a PASID, a stage-1 address space and the nested domain made from
 * it, attached at (device, PASID). From then on every DMA the device tags
 * with the PASID is translated by that address space.
 */
static int
setup_iommu(struct sva_copy *c)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .backend = "emu", .params = "flavour=vtd",
	};
	struct usva_dev_config dcfg = {
		.size = sizeof(dcfg), .flags = USVA_DEV_F_PRI,
		.name = "sva-copy", .pasid_width = 20,
	};
	struct usva_as_config acfg = {
		.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS,
		.va_bits = 48,
	};
	struct usva_domain_config dom = { .size = sizeof(dom) };
	int rc;

	rc = usva_iommu_open(&icfg, &c->iommu);
	if (failed(rc, "opening the emu backend"))
		return rc;
	rc = usva_iommu_dev_open(c->iommu, &dcfg, &c->dev);
	if (failed(rc, "opening a device with PRI"))
		return rc;
	/* PASIDs belong to owners (an application, a tenant). */
	rc = usva_pasid_owner_create(usva_iommu_pasids(c->iommu), 0, &c->owner);
	if (failed(rc, "creating a PASID owner"))
		return rc;
	rc = usva_pasid_alloc(c->owner, &c->pasid);
	if (failed(rc, "allocating a PASID"))
		return rc;
	/* x86-64 first-stage tables, the format the vtd flavour walks. It
	 * starts empty: the device's pages arrive by faults. */
	rc = usva_as_create(&acfg, &c->as);
	if (failed(rc, "creating the address space"))
		return rc;
	dom.as = c->as;
	rc = usva_domain_create(c->iommu, &dom, &c->dom);
	if (failed(rc, "creating the nested domain"))
		return rc;
	rc = usva_iommu_attach(c->dev, c->pasid, c->dom);
	if (failed(rc, "attaching the domain at the PASID"))
		return rc;
	c->attached = true;
	return 0;
}

/*
 * The fault service: one fault lcore, dedicated, on the first worker
 * lcore, polling the instance's page-request queue. The main lcore stays
 * the application's, so on two cores no two busy-pollers share one.
 */
static int
setup_fault_service(struct sva_copy *c)
{
	struct usva_fault_config fcfg = {
		.size = sizeof(fcfg), .nr_lcores = 1,
	};
	unsigned int worker = rte_get_next_lcore(-1, 1, 0);
	int rc;

	if (worker >= RTE_MAX_LCORE) {
		fail("needs a worker lcore for the fault service: run with "
		     "-l 0-1");
		return -EINVAL;
	}
	fcfg.lcores[0] = worker;
	rc = usva_fault_service_create(&fcfg, &c->svc);
	if (failed(rc, "creating the fault service"))
		return rc;
	rc = usva_fault_service_add_iommu(c->svc, c->iommu);
	if (failed(rc, "adding the instance to the fault service"))
		return rc;
	rc = usva_fault_service_start(c->svc);
	if (failed(rc, "starting the fault service"))
		return rc;
	return 0;
}

/*
 * The mirror pager over the pages holding both buffers: a fault at VA maps
 * VA to the process's own page at VA (that is SVA: one address, one page,
 * for the CPU and the device). Given the instance, it also maps stage 2
 * on demand, so nothing needs mapping or pinning in advance.
 */
static int
setup_pager(struct sva_copy *c)
{
	uint64_t a = (uint64_t)(uintptr_t)c->src;
	uint64_t b = (uint64_t)(uintptr_t)c->dst;
	uint64_t lo = RTE_ALIGN_FLOOR(RTE_MIN(a, b), PAGE_SIZE_4K);
	uint64_t hi = RTE_ALIGN_CEIL(RTE_MAX(a, b) + COPY_LEN, PAGE_SIZE_4K);
	struct usva_pager_mirror_config mcfg = {
		.size = sizeof(mcfg), .iommu = c->iommu,
		.base = lo, .len = hi - lo,
	};
	struct usva_fault_handler_config hcfg = {
		.size = sizeof(hcfg), .dev = c->dev, .as = c->as,
		.pasid = c->pasid,
	};
	int rc;

	rc = usva_pager_mirror_create(&mcfg, &c->pager);
	if (failed(rc, "creating the mirror pager"))
		return rc;
	/* Faults of (device, PASID) now resolve through the pager into the
	 * address space. */
	hcfg.pager = c->pager;
	rc = usva_fault_register(c->svc, &hcfg, &c->handler);
	if (failed(rc, "registering the fault handler"))
		return rc;
	return 0;
}

/*
 * The engine: an emu-dma device on the emu device (its requester id and
 * PRI), with one channel that works for our PASID and blocks on faults.
 * No service flag: this program runs the engine itself (usva_emu_dma_poll).
 */
static int
setup_dma(struct sva_copy *c)
{
	struct usva_emu_dma_config ecfg = {
		.size = sizeof(ecfg), .name = "sva-copy-dma", .dev = c->dev,
	};
	struct usva_dma_conf conf = { .size = sizeof(conf), .nb_vchans = 1 };
	struct usva_dma_vchan_conf vconf = {
		.size = sizeof(vconf), .fault_mode = USVA_DMA_FAULT_BLOCK,
		.pasid = c->pasid,
	};
	struct usva_dma_info info;
	int rc;

	rc = usva_emu_dma_create(&ecfg, &c->dma);
	if (failed(rc, "creating the emu-dma engine"))
		return rc;
	rc = usva_dma_info_get(c->dma, &info);
	if (failed(rc, "reading the DMA device's info"))
		return rc;
	rc = usva_dma_configure(c->dma, &conf);
	if (failed(rc, "configuring the DMA device"))
		return rc;
	vconf.nb_desc = RTE_MAX(info.min_desc, (uint16_t)64);
	rc = usva_dma_vchan_setup(c->dma, 0, &vconf);
	if (failed(rc, "setting up the channel"))
		return rc;
	rc = usva_dma_start(c->dma);
	if (failed(rc, "starting the DMA device"))
		return rc;
	c->dma_started = true;
	return 0;
}

/* Run the engine until the copy completes; then check its status. */
static int
wait_copy(struct sva_copy *c)
{
	uint64_t deadline = now_ns() + TIMEOUT_NS;
	struct usva_dma_cpl cpl;
	uint16_t last;
	bool err = false;

	for (;;) {
		int rc = usva_emu_dma_poll(c->dma);

		if (failed(rc, "running the engine"))
			return rc;
		if (usva_dma_completed(c->dma, 0, 1, &last, &err) == 1)
			return 0;
		if (err)
			break;
		if (now_ns() > deadline) {
			fail("no completion after %" PRIu64 " s (%u operations "
			     "parked on a fault)", TIMEOUT_NS / 1000000000,
			     usva_emu_dma_parked(c->dma));
			return -ETIMEDOUT;
		}
	}
	/* The copy ended with an error: its status says which. */
	if (usva_dma_completed_status(c->dma, 0, 1, &last, &cpl) != 1) {
		fail("the copy failed and its status could not be read");
		return -EIO;
	}
	fail("the copy ended %s after %" PRIu64 " bytes (fault address 0x%"
	     PRIx64 ")", usva_dma_status_str(cpl.status), cpl.bytes,
	     cpl.fault_addr);
	return -EIO;
}

/* Compare every byte; name the first wrong one. */
static int
verify(const struct sva_copy *c)
{
	for (uint64_t i = 0; i < COPY_LEN; i++) {
		if (c->dst[i] != c->src[i]) {
			fail("byte at %p (offset %" PRIu64 ") is 0x%02x, "
			     "expected 0x%02x", (void *)(c->dst + i), i,
			     c->dst[i], c->src[i]);
			return -EIO;
		}
	}
	return 0;
}

static void
summary(const struct sva_copy *c)
{
	struct usva_fault_stats fst;
	struct usva_dma_stats dst;

	usva_fault_stats(c->svc, -1, &fst);
	usva_dma_stats_get(c->dma, 0, &dst);
	printf("usva-sva-copy: copied %" PRIu64 " bytes from %p to %p by "
	       "their plain pointers (PASID %u)\n", dst.bytes,
	       (void *)c->src, (void *)c->dst, c->pasid);
	printf("usva-sva-copy: the device raised %" PRIu64 " page requests; "
	       "the fault service served %" PRIu64 " faults in %" PRIu64
	       " groups, p50 %" PRIu64 " ns, p99 %" PRIu64 " ns\n",
	       dst.page_requests, fst.requests, fst.groups,
	       usva_fault_lat_percentile(&fst, 50),
	       usva_fault_lat_percentile(&fst, 99));
	printf("usva-sva-copy: OK, all %" PRIu64 " bytes verified\n", COPY_LEN);
}

/* Release everything, in the reverse order of set-up. */
static void
teardown(struct sva_copy *c)
{
	if (c->dma_started)
		usva_dma_stop(c->dma);
	if (c->dma >= 0)
		usva_dma_close(c->dma);
	usva_fault_unregister(c->handler);
	usva_fault_service_destroy(c->svc);	/* stops it first */
	usva_pager_destroy(c->pager);
	if (c->attached)
		usva_iommu_detach(c->dev, c->pasid);
	usva_domain_destroy(c->dom);
	usva_as_destroy(c->as);
	if (c->owner != NULL && c->pasid != 0)
		usva_pasid_free(c->owner, c->pasid);
	usva_pasid_owner_destroy(c->owner);
	usva_iommu_dev_close(c->dev);
	usva_iommu_close(c->iommu);
	free(c->dst);
	free(c->src);
}

/* Set up, copy, verify. */
static int
run(struct sva_copy *c)
{
	int rc;

	/* Two ordinary heap buffers; the CPU writes the source. */
	c->src = malloc(COPY_LEN);
	c->dst = malloc(COPY_LEN);
	if (c->src == NULL || c->dst == NULL) {
		fail("malloc of two %" PRIu64 "-byte buffers", COPY_LEN);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < COPY_LEN; i++)
		c->src[i] = (uint8_t)(i * 7 + (i >> 12));

	if ((rc = setup_iommu(c)) != 0 || (rc = setup_fault_service(c)) != 0 ||
	    (rc = setup_pager(c)) != 0 || (rc = setup_dma(c)) != 0)
		return rc;

	/* The copy, by the buffers' plain pointers, then the doorbell. */
	rc = usva_dma_copy(c->dma, 0, (uint64_t)(uintptr_t)c->src,
			   (uint64_t)(uintptr_t)c->dst, COPY_LEN, 0);
	if (failed(rc, "enqueueing the copy"))
		return rc;
	usva_dma_submit(c->dma, 0);
	if ((rc = wait_copy(c)) != 0 || (rc = verify(c)) != 0)
		return rc;
	summary(c);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sva_copy c = { .dma = -1 };
	int rc;

	rc = usva_init(argc, argv);
	if (rc < 0) {
		fail("usva_init: %s", strerror(-rc));
		return 1;
	}
	if (argc - rc > 1) {
		fail("unexpected argument '%s' (usage: usva-sva-copy "
		     "[EAL options] [-- usva options])", argv[rc + 1]);
		usva_cleanup();
		return 1;
	}
	rc = run(&c);
	teardown(&c);
	usva_cleanup();
	return rc == 0 ? 0 : 1;
}
