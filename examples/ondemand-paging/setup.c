/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-ondemand-paging: set-up and teardown.
 *
 * Set-up order: the space (mirror: the process mapping; file: the data
 * file), the IOMMU side (emu instance, device with PRI, PASID, address
 * space, domain, attach), the pools and pagers, the fault service and its
 * handler, the emu-dma engine. Teardown runs it backwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_service.h>

#include "usva_as.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"
#include "usva_pasid.h"
#include "odp.h"

#define POOL_SLACK	512	/* pages beyond what the layout touches */
#define RING_SIZE	1024	/* ring entries (within the device's bounds) */
#define QUIESCE_NS	(UINT64_C(5) * 1000000000)

/* ---- the space ----------------------------------------------------------- */

/* Copies of the main phase (every eighth operation is a fill). */
static uint64_t
nr_copies(const struct odp_opts *o)
{
	return o->ops - o->ops / 8;
}

/*
 * Mirror: the space is the process's own memory, one mapping of va_size
 * bytes, MAP_NORESERVE (no swap or commit charge: a page costs only once
 * touched), 2 MiB aligned so that extents are the mirror pager's chunks.
 */
static int
space_mirror(struct odp *d)
{
	uint64_t len = d->o.va_size + EXTENT;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		odp_fail("mmap of %" PRIu64 " bytes (MAP_NORESERVE): %s", len,
			 strerror(errno));
		return -errno;
	}
	d->map = p;
	d->map_len = len;
	d->base = RTE_ALIGN_CEIL((uint64_t)(uintptr_t)p, EXTENT);
	d->src_lo = d->dst_lo = d->base;
	d->src_hi = d->dst_hi = d->base + d->o.va_size;
	return 0;
}

/* Make the data file in /tmp (unlinked at once), big enough that the
 * sources fill about half of it. */
static int
file_make(struct odp *d)
{
	char path[] = "/tmp/usva-ondemand-paging-XXXXXX";
	uint64_t size = nr_copies(&d->o) * d->o.op_size * 2;

	size = RTE_MIN(RTE_ALIGN_CEIL(RTE_MAX(size, EXTENT), EXTENT),
		       d->o.va_size / 2);
	d->fd = mkstemp(path);
	if (d->fd < 0) {
		odp_fail("creating a data file in /tmp: %s", strerror(errno));
		return -errno;
	}
	unlink(path);
	d->file_size = size;
	return odp_write_file(d->fd, size);
}

static int
file_open(struct odp *d)
{
	struct stat st;

	d->fd = open(d->o.file, O_RDONLY);
	if (d->fd < 0 || fstat(d->fd, &st) != 0) {
		odp_fail("opening %s: %s", d->o.file, strerror(errno));
		return -errno;
	}
	if (st.st_size == 0) {
		odp_fail("%s is empty", d->o.file);
		return -EINVAL;
	}
	d->file_size = (uint64_t)st.st_size;
	return 0;
}

/*
 * File: the lower half of the space is the file (sources are drawn from
 * the part the file covers), the upper half anonymous (destinations).
 */
static int
space_file(struct odp *d)
{
	int rc = d->o.file != NULL ? file_open(d) : file_make(d);

	if (rc)
		return rc;
	d->base = SPACE_BASE;
	d->src_lo = d->base;
	d->src_hi = d->base + RTE_MIN(RTE_ALIGN_CEIL(d->file_size, EXTENT),
				      d->o.va_size / 2);
	d->dst_lo = d->base + d->o.va_size / 2;
	d->dst_hi = d->base + d->o.va_size;
	return 0;
}

static int
setup_space(struct odp *d)
{
	switch (d->o.pager) {
	case PAGER_MIRROR:
		return space_mirror(d);
	case PAGER_FILE:
		return space_file(d);
	default:
		/* Anon: a stretch of stage-1 VAs no process memory backs;
		 * only the pages the device touches will exist. */
		d->base = SPACE_BASE;
		d->src_lo = d->dst_lo = d->base;
		d->src_hi = d->dst_hi = d->base + d->o.va_size;
		return 0;
	}
}

/* ---- IOMMU side ---------------------------------------------------------- */

/* emu instance, device with PRI, PASID, empty address space, its nested
 * domain attached at (device, PASID). */
static int
setup_iommu(struct odp *d)
{
	struct usva_iommu_config icfg = {
		.size = sizeof(icfg), .backend = "emu", .params = "flavour=vtd",
	};
	struct usva_dev_config dcfg = {
		.size = sizeof(dcfg), .flags = USVA_DEV_F_PRI,
		.name = "ondemand-paging", .pasid_width = 20,
	};
	struct usva_as_config acfg = {
		.size = sizeof(acfg), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config dom = { .size = sizeof(dom) };
	int rc;

	rc = usva_iommu_open(&icfg, &d->iommu);
	if (odp_failed(rc, "opening the emu backend"))
		return rc;
	rc = usva_iommu_dev_open(d->iommu, &dcfg, &d->dev);
	if (odp_failed(rc, "opening a device with PRI"))
		return rc;
	rc = usva_pasid_owner_create(usva_iommu_pasids(d->iommu), 0, &d->owner);
	if (odp_failed(rc, "creating a PASID owner"))
		return rc;
	rc = usva_pasid_alloc(d->owner, &d->pasid);
	if (odp_failed(rc, "allocating a PASID"))
		return rc;
	rc = usva_as_create(&acfg, &d->as);
	if (odp_failed(rc, "creating the address space"))
		return rc;
	dom.as = d->as;
	rc = usva_domain_create(d->iommu, &dom, &d->dom);
	if (odp_failed(rc, "creating the nested domain"))
		return rc;
	rc = usva_iommu_attach(d->dev, d->pasid, d->dom);
	if (odp_failed(rc, "attaching the domain at the PASID"))
		return rc;
	d->attached = true;
	return 0;
}

/* ---- pools and pagers ---------------------------------------------------- */

static int
pool_new(const char *name, uint64_t pages, struct usva_page_pool **out)
{
	struct usva_page_pool_config pc = {
		.size = sizeof(pc), .page_shift = 12, .numa_node = -1,
		.cache_size = 64, .name = name,
	};

	pc.nr_pages = (uint32_t)(pages + POOL_SLACK);
	return usva_page_pool_create(&pc, out);
}

static int
anon_new(struct odp *d, uint64_t base, uint64_t len, uint64_t pages)
{
	struct usva_pager_anon_config ac = {
		.size = sizeof(ac), .base = base, .len = len, .iommu = d->iommu,
	};
	int rc = pool_new("odp_anon", pages, &d->pool);

	if (odp_failed(rc, "anon page pool"))
		return rc;
	ac.pool = d->pool;
	rc = usva_pager_anon_create(&ac, &d->anon);
	odp_failed(rc, "anon pager");
	return rc;
}

/*
 * The split pager (file mode). A handler serves one (device, PASID) with
 * one pager, and one operation copies under one PASID, so a copy from a
 * file-backed range into an anonymous one needs one pager for both. This
 * one is written to the pager driver interface (usva_pager_driver.h), as
 * an application's own pager would be: it hands each fault to the file
 * pager below the middle of the space and to the anon pager above, and
 * flushes both (the file pager submits its io_uring reads there).
 */
struct split_pager {
	struct usva_pager *lo, *hi;
	uint64_t mid;
};

static int
split_fault(struct usva_pager *p, const struct usva_pager_fault *f)
{
	const struct split_pager *s = p->priv;
	struct usva_pager *to = f->addr < s->mid ? s->lo : s->hi;

	return to->ops->fault(to, f);
}

static unsigned int
split_flush(struct usva_pager *p, unsigned int slot)
{
	const struct split_pager *s = p->priv;
	unsigned int n = 0;

	if (s->lo->ops->flush != NULL)
		n += s->lo->ops->flush(s->lo, slot);
	if (s->hi->ops->flush != NULL)
		n += s->hi->ops->flush(s->hi, slot);
	return n;
}

/* checks_present false: the file pager starts I/O, so the service looks
 * the page up first (an anon PRESENT is accepted from any pager). */
static const struct usva_pager_ops split_ops = {
	.name = "file+anon",
	.checks_present = false,
	.fault = split_fault,
	.flush = split_flush,
};

static int
split_new(struct odp *d)
{
	struct usva_pager *p = usva_pager_alloc(&split_ops,
						sizeof(struct split_pager));
	struct split_pager *s;

	if (p == NULL) {
		odp_fail("file+anon pager: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	s = p->priv;
	s->lo = d->file;
	s->hi = d->anon;
	s->mid = d->dst_lo;
	p->base = d->base;
	p->len = d->o.va_size;
	p->page_size = SZ_4K;
	d->pager = p;
	return 0;
}

static int
pagers_file(struct odp *d, uint64_t ppo)
{
	struct usva_pager_file_config fc = {
		.size = sizeof(fc), .fd = d->fd, .queue_depth = 64,
		.base = d->base, .len = d->o.va_size / 2, .file_offset = 0,
		.iommu = d->iommu,
	};
	int rc = pool_new("odp_file", nr_copies(&d->o) * ppo, &d->file_pool);

	if (odp_failed(rc, "file page pool"))
		return rc;
	fc.pool = d->file_pool;
	rc = usva_pager_file_create(&fc, &d->file);
	if (odp_failed(rc, "file pager"))
		return rc;
	rc = anon_new(d, d->dst_lo, d->dst_hi - d->dst_lo, d->o.ops * ppo);
	return rc ? rc : split_new(d);
}

static int
setup_pagers(struct odp *d)
{
	struct usva_pager_mirror_config mc = {
		.size = sizeof(mc), .iommu = d->iommu, .base = d->base,
		.len = d->o.va_size,
	};
	uint64_t ppo = d->o.op_size / SZ_4K;	/* pages per operation */
	int rc;

	switch (d->o.pager) {
	case PAGER_MIRROR:
		/* Stage 2 is mapped on demand too, one 2 MiB chunk at a
		 * time, as the device reaches it. */
		rc = usva_pager_mirror_create(&mc, &d->mirror);
		odp_failed(rc, "mirror pager");
		d->pager = d->mirror;
		return rc;
	case PAGER_FILE:
		return pagers_file(d, ppo);
	default:
		/* Every source and destination page may be touched. */
		rc = anon_new(d, d->base, d->o.va_size,
			      (d->o.ops + nr_copies(&d->o)) * ppo);
		d->pager = d->anon;
		return rc;
	}
}

/* ---- fault service and engine -------------------------------------------- */

/*
 * One fault lcore slot, as an EAL service component (service-core mode):
 * it shares the service lcore with the engine instead of owning a core.
 */
static int
setup_fault(struct odp *d)
{
	struct usva_fault_config fc = {
		.size = sizeof(fc), .flags = USVA_FAULT_F_SERVICE_CORES,
		.nr_lcores = 1,
	};
	struct usva_fault_handler_config hc = {
		.size = sizeof(hc), .dev = d->dev, .as = d->as,
		.pasid = d->pasid,
	};
	int rc;

	rc = usva_fault_service_create(&fc, &d->svc);
	if (odp_failed(rc, "creating the fault service"))
		return rc;
	rc = usva_fault_service_add_iommu(d->svc, d->iommu);
	if (odp_failed(rc, "adding the instance to the fault service"))
		return rc;
	hc.pager = d->pager;
	rc = usva_fault_register(d->svc, &hc, &d->handler);
	if (odp_failed(rc, "registering the fault handler"))
		return rc;
	d->fault_sid = usva_fault_service_component(d->svc, 0);
	return 0;
}

/* The emu-dma engine as an EAL service; one channel for our PASID. */
static int
setup_dma(struct odp *d)
{
	struct usva_emu_dma_config ec = {
		.size = sizeof(ec), .flags = USVA_EMU_DMA_F_SERVICE,
		.name = "odp-dma", .dev = d->dev,
	};
	struct usva_dma_conf conf = { .size = sizeof(conf), .nb_vchans = 1 };
	struct usva_dma_vchan_conf vc = {
		.size = sizeof(vc), .pasid = d->pasid,
		.fault_mode = d->o.partial ? USVA_DMA_FAULT_PARTIAL :
					     USVA_DMA_FAULT_BLOCK,
	};
	struct usva_dma_info info;
	int rc;

	rc = usva_emu_dma_create(&ec, &d->dma);
	if (odp_failed(rc, "creating the emu-dma engine"))
		return rc;
	rc = usva_dma_info_get(d->dma, &info);
	if (odp_failed(rc, "reading the DMA device's info"))
		return rc;
	rc = usva_dma_configure(d->dma, &conf);
	if (odp_failed(rc, "configuring the DMA device"))
		return rc;
	d->nb_desc = RTE_MIN(RTE_MAX((uint16_t)RING_SIZE, info.min_desc),
			     info.max_desc);
	vc.nb_desc = d->nb_desc;
	rc = usva_dma_vchan_setup(d->dma, 0, &vc);
	if (odp_failed(rc, "setting up the channel"))
		return rc;
	rc = usva_dma_start(d->dma);
	if (odp_failed(rc, "starting the DMA device"))
		return rc;
	d->dma_started = true;
	d->dma_sid = usva_emu_dma_service_id(d->dma);
	if (odp_failed(d->dma_sid, "engine service id"))
		return d->dma_sid;
	d->slots = calloc(d->nb_desc, sizeof(*d->slots));
	if (d->slots == NULL) {
		odp_fail("ring slots: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	return 0;
}

int
odp_setup(struct odp *d)
{
	int rc;

	d->fault_sid = d->dma_sid = -1;
	if ((rc = setup_space(d)) != 0 || (rc = odp_layout(d)) != 0 ||
	    (rc = setup_iommu(d)) != 0 || (rc = setup_pagers(d)) != 0 ||
	    (rc = setup_fault(d)) != 0 || (rc = setup_dma(d)) != 0)
		return rc;
	return 0;
}

/* ---- lcores -------------------------------------------------------------- */

/*
 * Both services go on one EAL service lcore, the first worker: the fault
 * service's component and the engine. The main lcore stays the
 * application's. So on two cores there are two busy-polling threads, one
 * per core. Without a worker lcore (-l 0) the main lcore runs the two
 * services itself between its own work (odp_services_iter()).
 */
/* Make @p w a service lcore running both services. */
static int
service_lcore_setup(struct odp *d, unsigned int w)
{
	uint32_t fault = (uint32_t)d->fault_sid, dma = (uint32_t)d->dma_sid;
	int rc = rte_service_lcore_add(w);

	if (rc != 0 && rc != -EALREADY) {
		odp_failed(rc, "making a service lcore");
		return rc;
	}
	d->lcore_added = true;
	d->svc_lcore = w;
	rc = rte_service_map_lcore_set(fault, w, 1);
	if (odp_failed(rc, "mapping the fault service"))
		return rc;
	rc = rte_service_map_lcore_set(dma, w, 1);
	odp_failed(rc, "mapping the engine");
	return rc;
}

int
odp_services_start(struct odp *d)
{
	unsigned int w = rte_get_next_lcore(-1, 1, 0);
	int rc;

	d->svc_lcore = RTE_MAX_LCORE;
	if (w < RTE_MAX_LCORE && (rc = service_lcore_setup(d, w)) != 0)
		return rc;
	/* The fault service sets its own run states; the engine's is ours. */
	rc = rte_service_runstate_set((uint32_t)d->dma_sid, 1);
	if (odp_failed(rc, "engine run state"))
		return rc;
	rc = usva_fault_service_start(d->svc);
	if (odp_failed(rc, "starting the fault service"))
		return rc;
	d->services_on = true;
	if (w < RTE_MAX_LCORE) {
		rc = rte_service_lcore_start(w);
		odp_failed(rc, "starting the service lcore");
	}
	return rc;
}

/* No service lcore: one iteration of each service on the main lcore. */
void
odp_services_iter(struct odp *d)
{
	if (d->svc_lcore != RTE_MAX_LCORE || !d->services_on)
		return;
	rte_service_run_iter_on_app_lcore((uint32_t)d->fault_sid, 1);
	rte_service_run_iter_on_app_lcore((uint32_t)d->dma_sid, 1);
}

/* The layout odp_services_start() will set up, from the EAL's lcores. */
void
odp_print_lcores(void)
{
	unsigned int w = rte_get_next_lcore(-1, 1, 0);

	printf("lcores: %u (main)     the application: enqueue, submit, "
	       "completions\n", rte_get_main_lcore());
	if (w < RTE_MAX_LCORE)
		printf("        %u (service)  EAL service lcore: the fault "
		       "service (slot 0) and the emu-dma engine\n", w);
	else
		printf("        (no worker lcore: the main lcore also runs the "
		       "fault service and the engine)\n");
}

/* Stop the engine and the fault service, then free the service lcore. */
static void
services_stop(struct odp *d)
{
	uint64_t deadline = odp_now_ns() + QUIESCE_NS;

	if (!d->services_on)
		return;
	rte_service_runstate_set((uint32_t)d->dma_sid, 0);
	usva_fault_service_stop(d->svc);
	while (rte_service_may_be_active((uint32_t)d->dma_sid) == 1 &&
	       odp_now_ns() < deadline)
		rte_pause();
	d->services_on = false;
	if (!d->lcore_added)
		return;
	rte_service_lcore_stop(d->svc_lcore);
	rte_service_map_lcore_set((uint32_t)d->fault_sid, d->svc_lcore, 0);
	rte_service_map_lcore_set((uint32_t)d->dma_sid, d->svc_lcore, 0);
	rte_service_lcore_del(d->svc_lcore);
	d->lcore_added = false;
}

/* ---- teardown ------------------------------------------------------------ */

/*
 * File mode: pages the file pager mapped belong to the address space (the
 * pager never takes them back): unmap each and give it back to its pool.
 * Only source slots can hold them.
 */
static void
file_pages_release(struct odp *d)
{
	const struct odp_phase *ph = &d->main;
	struct usva_as_xlate x;

	for (uint64_t i = 0; i < ph->n; i++) {
		if (ph->ops[i].src_kind != SRC_FILE)
			continue;
		for (uint64_t off = 0; off < d->o.op_size; off += SZ_4K) {
			uint64_t va = ph->ops[i].src + off;

			if (usva_as_lookup(d->as, va, &x) != 0 ||
			    usva_as_unmap(d->as, va, SZ_4K, NULL) != 0)
				continue;
			usva_page_free(d->file_pool, (void *)(uintptr_t)x.oa,
				       false);
		}
	}
}

static void
pagers_destroy(struct odp *d)
{
	if (d->pager != d->anon && d->pager != d->mirror)
		usva_pager_destroy(d->pager);	/* the split pager */
	usva_pager_destroy(d->anon);
	usva_pager_destroy(d->file);
	usva_pager_destroy(d->mirror);
	d->pager = d->anon = d->file = d->mirror = NULL;
}

void
odp_teardown(struct odp *d)
{
	/* The engine stops while its services still run: a stop lets the
	 * operation it runs finish. */
	if (d->dma_started)
		usva_dma_stop(d->dma);
	services_stop(d);
	if (d->dma >= 0)
		usva_dma_close(d->dma);
	usva_fault_unregister(d->handler);
	usva_fault_service_destroy(d->svc);
	if (d->file != NULL && d->as != NULL)
		file_pages_release(d);
	if (d->attached)
		usva_iommu_detach(d->dev, d->pasid);
	usva_domain_destroy(d->dom);
	/* Pagers after the address space: the anon pager then takes back
	 * every page it gave. */
	usva_as_destroy(d->as);
	pagers_destroy(d);
	if (d->owner != NULL && d->pasid != 0)
		usva_pasid_free(d->owner, d->pasid);
	usva_pasid_owner_destroy(d->owner);
	usva_iommu_dev_close(d->dev);
	if (usva_iommu_close(d->iommu) != 0)
		fprintf(stderr, ODP_NAME ": warning: the emu instance did not "
			"close (objects left)\n");
	usva_page_pool_destroy(d->pool);
	usva_page_pool_destroy(d->file_pool);
	if (d->map != NULL)
		munmap(d->map, d->map_len);
	if (d->fd >= 0)
		close(d->fd);
	free(d->slots);
	odp_free_workload(d);
}
