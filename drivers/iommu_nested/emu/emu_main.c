/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: instance life cycle (open/close, parameters, capabilities,
 * apertures), the unrecoverable-event ring, counters, reader sections and
 * the device table the fast path looks devices up in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_kvargs.h>

#include "usva_build_config.h"
#include "emu_internal.h"

RTE_LOG_REGISTER(usva_logtype_iommu_emu, usva.iommu.emu, INFO);

/* ---- parameters ------------------------------------------------------------ */

enum emu_key_kind {
	EMU_KEY_FLAVOUR,
	EMU_KEY_UINT,
};

struct emu_key {
	const char *name;
	enum emu_key_kind kind;
	size_t off;		/* in struct emu_params */
	uint32_t min, max;
	bool pow2;
};

#define EMU_KEY_U(n, lo, hi, p2)					\
	{ #n, EMU_KEY_UINT, offsetof(struct emu_params, n), lo, hi, p2 }

static const struct emu_key emu_keys[] = {
	{ "flavour", EMU_KEY_FLAVOUR, offsetof(struct emu_params, flavour),
	  0, 0, false },
	EMU_KEY_U(aw, 32, 64, false),
	EMU_KEY_U(iotlb_sets, 1, 65536, true),
	EMU_KEY_U(iotlb_ways, 1, 64, false),
	EMU_KEY_U(devtlb_entries, 1, 65536, false),
	EMU_KEY_U(pasid_cache_entries, 1, 65536, true),
	EMU_KEY_U(prq_depth, 1, 1u << 20, false),
	EMU_KEY_U(event_depth, 1, 1u << 20, false),
	EMU_KEY_U(pasid_width, 1, USVA_MAX_PASID_WIDTH, false),
	EMU_KEY_U(inval_wait_ns, 0, 1000000, false),
	EMU_KEY_U(ats_inval_ns, 0, 1000000, false),
};

static void
emu_params_default(struct emu_params *p)
{
	p->flavour = EMU_FLAVOUR_VTD;
	p->aw = 48;
	p->iotlb_sets = 64;
	p->iotlb_ways = 8;
	p->devtlb_entries = 64;
	p->pasid_cache_entries = 64;
	p->prq_depth = USVA_DEFAULT_PRQ_DEPTH;
	p->event_depth = 256;
	p->pasid_width = RTE_MIN(20, USVA_MAX_PASID_WIDTH);
	/* An instant queue: tests and the fault path pay only software. */
	p->inval_wait_ns = 0;
	p->ats_inval_ns = 0;
}

static int
emu_key_set(const struct emu_key *k, const char *val, struct emu_params *p)
{
	uint32_t *dst = (uint32_t *)((uint8_t *)p + k->off);
	unsigned long long v;
	char *end;

	if (val == NULL || val[0] == '\0') {
		EMU_LOG(ERR, "parameter '%s' needs a value", k->name);
		return -EINVAL;
	}
	if (k->kind == EMU_KEY_FLAVOUR) {
		if (strcmp(val, "vtd") == 0) {
			*dst = EMU_FLAVOUR_VTD;
		} else if (strcmp(val, "smmuv3") == 0) {
			*dst = EMU_FLAVOUR_SMMUV3;
		} else {
			EMU_LOG(ERR, "parameter 'flavour': '%s' is not vtd or "
				"smmuv3", val);
			return -EINVAL;
		}
		return 0;
	}
	errno = 0;
	v = strtoull(val, &end, 0);
	if (errno != 0 || *end != '\0' || val[0] == '-' || v < k->min ||
	    v > k->max || (k->pow2 && !rte_is_power_of_2((uint32_t)v))) {
		EMU_LOG(ERR, "parameter '%s': '%s' is not %s in [%u, %u]",
			k->name, val, k->pow2 ? "a power of two" : "a number",
			k->min, k->max);
		return -EINVAL;
	}
	*dst = (uint32_t)v;
	return 0;
}

static int
emu_params_parse(const char *params, struct emu_params *p)
{
	struct rte_kvargs *kv;
	int rc = 0;

	emu_params_default(p);
	if (params == NULL || params[0] == '\0')
		return 0;
	kv = rte_kvargs_parse(params, NULL);
	if (kv == NULL) {
		EMU_LOG(ERR, "parameters '%s' are not key=value,...", params);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < kv->count && rc == 0; i++) {
		const struct rte_kvargs_pair *pr = &kv->pairs[i];
		const struct emu_key *k = NULL;

		for (unsigned int j = 0; j < RTE_DIM(emu_keys); j++)
			if (strcmp(pr->key, emu_keys[j].name) == 0)
				k = &emu_keys[j];
		if (k == NULL) {
			EMU_LOG(ERR, "unknown parameter '%s'", pr->key);
			rc = -EINVAL;
		} else {
			rc = emu_key_set(k, pr->value, p);
		}
	}
	rte_kvargs_free(kv);
	return rc;
}

/* ---- capabilities and apertures ----------------------------------------------- */

static void
emu_fill_caps(struct usva_iommu *iommu, const struct emu_params *p)
{
	struct usva_iommu_caps *c = &iommu->caps;
	bool vtd = p->flavour == EMU_FLAVOUR_VTD;

	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = USVA_IOMMU_CAP_NESTING | USVA_IOMMU_CAP_PRI |
		   USVA_IOMMU_CAP_ATS | USVA_IOMMU_CAP_PASID;
	/* SMMUv3: stall model and guest-owned CD tables (emu_stall.c,
	 * emu_cdtab.c). */
	if (!vtd)
		c->flags |= USVA_IOMMU_CAP_STALL | USVA_IOMMU_CAP_PASID_TABLE;
	c->pasid_width = p->pasid_width;
	c->s1_formats = 1u << (vtd ? USVA_PGFMT_X86_FS : USVA_PGFMT_ARM_LPAE_4K);
	c->s1_page_sizes = USVA_PGSIZE_4K | USVA_PGSIZE_2M | USVA_PGSIZE_1G;
	c->s1_va_bits_max = vtd ? 57 : 48;
	c->iova_bits = p->aw;
	c->max_page_requests = p->prq_depth;
	c->inval_granules = USVA_INVAL_GRAN_DOMAIN | USVA_INVAL_GRAN_PASID |
			    USVA_INVAL_GRAN_ADDR;
}

/* The stage-2 input space [0, 2^aw - 1], less the flavour's MSI window. */
static void
emu_fill_ranges(struct usva_iommu *iommu, const struct emu_params *p)
{
	uint64_t last = p->aw >= 64 ? UINT64_MAX : (UINT64_C(1) << p->aw) - 1;
	struct usva_iova_window *w = &iommu->windows[0];

	if (p->flavour == EMU_FLAVOUR_VTD) {
		/* Interrupt-remapping window: DMA writes here are MSIs. */
		w->start = 0xfee00000;
		w->last = 0xfeefffff;
	} else {
		/* The SMMUv3 flavour's software MSI window (as the kernel
		 * reserves for its MSI cookie on ARM). */
		w->start = 0x08000000;
		w->last = 0x080fffff;
	}
	snprintf(w->name, sizeof(w->name), "MSI");
	iommu->nr_windows = 1;
	/* aw >= 32 (parameter bounds): the window is inside the space. */
	iommu->ranges[0].start = 0;
	iommu->ranges[0].last = w->start - 1;
	iommu->ranges[1].start = w->last + 1;
	iommu->ranges[1].last = last;
	iommu->nr_ranges = 2;
}

/* ---- rings ------------------------------------------------------------------------- */

struct rte_ring *
emu_ring_create(const char *name, unsigned int esize, unsigned int count,
		unsigned int flags)
{
	/* Exact capacity, as rte_ring_create_elem() sizes it, but in usva
	 * heap memory (fail-nth point, no memzone needed). */
	unsigned int slots = rte_align32pow2(count + 1);
	ssize_t bytes = rte_ring_get_memsize_elem(esize, slots);
	struct rte_ring *r;

	if (bytes < 0)
		return NULL;
	r = usva_zmalloc_aligned((size_t)bytes, RTE_CACHE_LINE_SIZE);
	if (r == NULL)
		return NULL;
	if (rte_ring_init(r, name, count, flags | RING_F_EXACT_SZ) != 0) {
		usva_free(r);
		return NULL;
	}
	return r;
}

/* ---- events --------------------------------------------------------------------------- */

void
emu_event(struct emu *e, uint32_t type, uint32_t dev_id, uint32_t pasid,
	  uint32_t access, uint64_t addr)
{
	struct usva_iommu_event ev = {
		.type = type,
		.dev_id = dev_id,
		.pasid = pasid,
		.access = access,
		.addr = addr,
		.ts = rte_rdtsc(),
	};
	uint64_t one = 1;
	ssize_t w;

	emu_stat_inc(e, EMU_ST_EVENTS);
	if (rte_ring_mp_enqueue_elem(e->events, &ev, sizeof(ev)) != 0) {
		emu_stat_inc(e, EMU_ST_EVENTS_LOST);
		return;
	}
	/*
	 * One write per event (events are rare). The event is in the ring
	 * before the fd turns readable, so a reader woken by the fd finds
	 * it. EAGAIN (counter saturated) means the fd is readable already.
	 */
	w = write(e->event_fd, &one, sizeof(one));
	RTE_SET_USED(w);
}

static int
emu_event_fd(struct usva_iommu *iommu)
{
	return emu_of(iommu)->event_fd;
}

static int
emu_events_read(struct usva_iommu *iommu, struct usva_iommu_event *ev,
		unsigned int n)
{
	struct emu *e = emu_of(iommu);

	return (int)rte_ring_mc_dequeue_burst_elem(e->events, ev, sizeof(*ev),
						   n, NULL);
}

/* ---- counters ------------------------------------------------------------------------------ */

static void
emu_stats(const struct usva_iommu *iommu, struct usva_iommu_stats *st)
{
	const struct emu *e = emu_of(iommu);
	uint64_t c[EMU_ST_NR] = { 0 };

	for (unsigned int i = 0; i <= RTE_MAX_LCORE; i++)
		for (unsigned int j = 0; j < EMU_ST_NR; j++)
			c[j] += __atomic_load_n(&e->stats[i].c[j],
						__ATOMIC_RELAXED);
	st->translations = c[EMU_ST_TRANSLATIONS];
	st->iotlb_hits = c[EMU_ST_IOTLB_HITS];
	st->iotlb_misses = c[EMU_ST_IOTLB_MISSES];
	st->devtlb_hits = c[EMU_ST_DEVTLB_HITS];
	st->pasid_cache_hits = c[EMU_ST_PASID_CACHE_HITS];
	st->walks = c[EMU_ST_WALKS];
	st->page_requests = c[EMU_ST_PAGE_REQUESTS];
	st->prq_overflow = c[EMU_ST_PRQ_OVERFLOW];
	st->responses = c[EMU_ST_RESPONSES];
	st->prq_irqs = c[EMU_ST_PRQ_IRQS];
	st->responses_dropped = c[EMU_ST_RESPONSES_DROPPED];
	st->events = c[EMU_ST_EVENTS];
	st->events_lost = c[EMU_ST_EVENTS_LOST];
	st->inval_entries = c[EMU_ST_INVAL_ENTRIES];
	st->inval_calls = c[EMU_ST_INVAL_CALLS];
	st->stale_uses = c[EMU_ST_STALE_USES];
}

/* ---- reader sections ------------------------------------------------------------------------- */

void
emu_rcu_synchronize(struct emu *e)
{
	/* Pairs with the fence in emu_rcu_enter(): the caller's publishing
	 * store is globally visible before any counter is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
		uint64_t *ctr = &e->rcu[i].ctr;
		/* Acquire: the reader's section (its loads of the old
		 * version) is over once we see the count move. */
		uint64_t c = __atomic_load_n(ctr, __ATOMIC_ACQUIRE);

		if (!(c & 1))
			continue;
		while (__atomic_load_n(ctr, __ATOMIC_ACQUIRE) == c)
			rte_pause();
	}
	/* Readers without an lcore id hold the rwlock shared: taking it
	 * exclusively once waits for those inside now. */
	rte_rwlock_write_lock(&e->rcu_foreign);
	rte_rwlock_write_unlock(&e->rcu_foreign);
}

/* ---- device table ------------------------------------------------------------------------------ */

struct emu_dev *
emu_devtab_find(struct emu *e, uint32_t id)
{
	/* Acquire: pairs with the release that published the table. */
	const struct emu_devtab *t = __atomic_load_n(&e->devtab,
						     __ATOMIC_ACQUIRE);
	uint32_t lo = 0, hi;

	if (t == NULL)
		return NULL;
	hi = t->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->e[mid].id == id)	/* NULL: hidden, being removed */
			return __atomic_load_n(&t->e[mid].ed,
					       __ATOMIC_ACQUIRE);
		if (t->e[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static size_t
emu_devtab_size(uint32_t n)
{
	return sizeof(struct emu_devtab) + n * sizeof(((struct emu_devtab *)0)->e[0]);
}

/* Publish @nt in place of the current table; free the old one after a
 * grace period. devs_lock held on entry, released here. */
static void
emu_devtab_publish(struct emu *e, struct emu_devtab *nt)
{
	struct emu_devtab *old = e->devtab;

	/* Release: the new table's contents before its pointer. */
	__atomic_store_n(&e->devtab, nt, __ATOMIC_RELEASE);
	rte_spinlock_unlock(&e->devs_lock);
	emu_rcu_synchronize(e);
	usva_free(old);
}

int
emu_devtab_insert(struct emu *e, struct emu_dev *ed)
{
	struct emu_devtab *old, *nt;
	uint32_t n, i, j = 0;

	rte_spinlock_lock(&e->devs_lock);
	old = e->devtab;
	n = old ? old->n : 0;
	nt = usva_zmalloc(emu_devtab_size(n + 1));
	if (nt == NULL) {
		rte_spinlock_unlock(&e->devs_lock);
		return -ENOMEM;
	}
	for (i = 0; i < n && old->e[i].id < ed->id; i++)
		if (old->e[i].ed != NULL)	/* skip hidden entries */
			nt->e[j++] = old->e[i];
	nt->e[j].id = ed->id;
	nt->e[j++].ed = ed;
	for (; i < n; i++)
		if (old->e[i].ed != NULL)
			nt->e[j++] = old->e[i];
	nt->n = j;
	emu_devtab_publish(e, nt);
	return 0;
}

void
emu_devtab_remove(struct emu *e, struct emu_dev *ed)
{
	struct emu_devtab *old, *nt = NULL;
	uint32_t n, j = 0;

	rte_spinlock_lock(&e->devs_lock);
	old = e->devtab;
	n = old ? old->n : 0;
	if (n > 1) {
		nt = usva_zmalloc(emu_devtab_size(n - 1));
		if (nt == NULL) {
			/* Removal cannot fail: hide the entry in place
			 * (readers skip NULL); the next insert compacts. */
			for (uint32_t i = 0; i < n; i++)
				if (old->e[i].ed == ed)
					__atomic_store_n(&old->e[i].ed, NULL,
							 __ATOMIC_RELEASE);
			rte_spinlock_unlock(&e->devs_lock);
			emu_rcu_synchronize(e);
			return;
		}
		for (uint32_t i = 0; i < n; i++)
			if (old->e[i].ed != ed && old->e[i].ed != NULL)
				nt->e[j++] = old->e[i];
		nt->n = j;
	}
	emu_devtab_publish(e, nt);
}

/* ---- open / close --------------------------------------------------------------------------------- */

static void
emu_free_all(struct emu *e)
{
	if (e->event_fd >= 0)
		close(e->event_fd);
	e->event_fd = -1;
	if (e->prq_fd >= 0)
		close(e->prq_fd);
	e->prq_fd = -1;
	usva_free(e->events);
	e->events = NULL;
	usva_free(e->prq);
	e->prq = NULL;
	emu_tlb_fini(&e->iotlb);
	usva_free(e->rcu);
	e->rcu = NULL;
	usva_free(e->stats);
	e->stats = NULL;
}

static int
emu_open(struct usva_iommu *iommu, const char *params)
{
	struct emu *e = emu_of(iommu);
	char name[RTE_RING_NAMESIZE];
	int rc;

	memset(e, 0, sizeof(*e));
	e->iommu = iommu;
	/* lib/iommu sets the flags before open; they never change. */
	e->strict = (iommu->flags & USVA_IOMMU_F_STRICT) != 0;
	e->event_fd = -1;
	e->prq_fd = -1;
	rte_rwlock_init(&e->rcu_foreign);
	rte_spinlock_init(&e->s2_lock);
	rte_spinlock_init(&e->devs_lock);
	rte_spinlock_init(&e->inval_lock);
	rc = emu_params_parse(params, &e->p);
	if (rc)
		return rc;
	e->user_pxn = e->p.flavour == EMU_FLAVOUR_SMMUV3;
	e->fmt = usva_pgtable_fmt_find(e->p.flavour == EMU_FLAVOUR_VTD ?
				       USVA_PGFMT_X86_FS :
				       USVA_PGFMT_ARM_LPAE_4K);
	if (e->fmt == NULL) {
		EMU_LOG(ERR, "stage-1 format of flavour %s not registered",
			e->p.flavour == EMU_FLAVOUR_VTD ? "vtd" : "smmuv3");
		return -EOPNOTSUPP;
	}

	rc = -ENOMEM;
	e->stats = usva_zmalloc_aligned(sizeof(*e->stats) * (RTE_MAX_LCORE + 1),
					RTE_CACHE_LINE_SIZE);
	if (e->stats == NULL)
		goto err;
	e->rcu = usva_zmalloc_aligned(sizeof(*e->rcu) * RTE_MAX_LCORE,
				      RTE_CACHE_LINE_SIZE);
	if (e->rcu == NULL)
		goto err;
	rc = emu_tlb_init(&e->iotlb, e->p.iotlb_sets, e->p.iotlb_ways);
	if (rc)
		goto err;
	rc = -ENOMEM;
	snprintf(name, sizeof(name), "usva_emu%u_prq", iommu->id);
	e->prq = emu_ring_create(name, sizeof(struct emu_prq_elem),
				 e->p.prq_depth, RING_F_SC_DEQ);
	if (e->prq == NULL)
		goto err;
	snprintf(name, sizeof(name), "usva_emu%u_ev", iommu->id);
	e->events = emu_ring_create(name, sizeof(struct usva_iommu_event),
				    e->p.event_depth, 0);
	if (e->events == NULL)
		goto err;
	if (usva_fail_point("emu_open_eventfd")) {
		rc = -EMFILE;
		goto err;
	}
	e->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->event_fd < 0) {
		rc = -errno;
		EMU_LOG(ERR, "eventfd: %s", strerror(errno));
		goto err;
	}

	/* The PRQ's interrupt, as VT-d raises one when requests arrive. */
	if (usva_fail_point("emu_open_prq_eventfd")) {
		rc = -EMFILE;
		goto err;
	}
	e->prq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->prq_fd < 0) {
		rc = -errno;
		EMU_LOG(ERR, "PRQ eventfd: %s", strerror(errno));
		goto err;
	}

	emu_fill_caps(iommu, &e->p);
	emu_fill_ranges(iommu, &e->p);
	usva_iommu_fp[iommu->id] = (struct usva_iommu_fp_ops){
		.ctx = e,
		.prq_poll = emu_prq_poll,
		.page_respond = emu_page_respond,
		.prq_arm = emu_prq_arm,
	};
	EMU_LOG(DEBUG, "instance %u: %s, aw %u, IOTLB %ux%u, PRQ %u%s",
		iommu->id, e->p.flavour == EMU_FLAVOUR_VTD ? "vtd" : "smmuv3",
		e->p.aw, e->p.iotlb_sets, e->p.iotlb_ways, e->p.prq_depth,
		iommu->flags & USVA_IOMMU_F_STRICT ? ", strict" : "");
	return 0;

err:
	emu_free_all(e);
	return rc;
}

static void
emu_close(struct usva_iommu *iommu)
{
	struct emu *e = emu_of(iommu);

	memset(&usva_iommu_fp[iommu->id], 0, sizeof(usva_iommu_fp[0]));
	/* No device is left (lib/iommu checks), so no reader: free. */
	usva_free(e->devtab);
	e->devtab = NULL;
	emu_s2_fini(e);
	emu_free_all(e);
}

/* ---- public emu-only calls ---------------------------------------------------------------------------- */

int
usva_emu_inval_fail_nth(struct usva_iommu *iommu, uint32_t nth, int err)
{
	struct emu *e;

	if (iommu == NULL || iommu->ops != &emu_ops)
		return -ENODEV;
	e = emu_of(iommu);
	if (err > 0)
		err = -err;
	if (err == 0)
		err = -EIO;
	rte_spinlock_lock(&e->inval_lock);
	e->inval_fail_nth = nth;
	e->inval_fail_err = err;
	e->inval_count = 0;
	rte_spinlock_unlock(&e->inval_lock);
	return 0;
}

static void
add_groups(struct emu_dev *ed, void *sum)
{
	*(uint32_t *)sum += __atomic_load_n(&ed->ngroups, __ATOMIC_RELAXED);
}

uint32_t
usva_emu_outstanding_groups(struct usva_iommu *iommu)
{
	struct emu *e;
	uint32_t sum = 0;

	if (iommu == NULL || iommu->ops != &emu_ops)
		return 0;
	e = emu_of(iommu);
	emu_for_each_dev(e, add_groups, &sum);
	return sum;
}

/* ---- registration --------------------------------------------------------------------------------------- */

const struct usva_iommu_ops emu_ops = {
	.name = "emu",
	.iommu_priv_size = sizeof(struct emu),
	.dev_priv_size = sizeof(struct emu_dev),
	.domain_priv_size = sizeof(struct emu_domain),
	.open = emu_open,
	.close = emu_close,
	.s2_map = emu_s2_map,
	.s2_unmap = emu_s2_unmap,
	.dev_open = emu_dev_open,
	.dev_close = emu_dev_close,
	.domain_init = emu_domain_init,
	.domain_fini = emu_domain_fini,
	.attach = emu_attach,
	.detach = emu_detach,
	.attach_pasid_table = emu_attach_pasid_table,
	.detach_pasid_table = emu_detach_pasid_table,
	.invalidate = emu_invalidate,
	.event_fd = emu_event_fd,
	.prq_fd = emu_prq_fd,
	.events_read = emu_events_read,
	.stats = emu_stats,
};

USVA_IOMMU_BACKEND_REGISTER(emu_ops)
