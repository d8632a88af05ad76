/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault handlers: register and unregister (control path, svc->ctl).
 *
 * The fault lcores find a handler without a lock (fault_handler_lookup):
 * hdevs[iommu][dev slot] -> directory of the device -> chunk of 1024 PASID
 * pointers -> handler. Everything is allocated here, before anything is
 * published, so a failed register leaves nothing behind; pointers are
 * published with release stores after what they point to is complete.
 *
 * Unregister never fails:
 *   1. unpublish the handler (store NULL, release), and the device's
 *      directory if it was its last handler (tombstone);
 *   2. wait for a grace period (fault_synchronize()): every slot has
 *      finished the iteration that might have seen the handler, so no slot
 *      adds pages or fields to its groups any more;
 *   3. claim and answer INVALID every OPEN group of its generation, with a
 *      CAS per group: a slot that meets one of them first (a late page, a
 *      dead-handler check, a timeout) claims it instead, never both;
 *   4. free. Forwarded requests and completions still in flight find their
 *      group gone (generation) and are dropped and counted as stale.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_fault_internal.h"
#include "usva_iommu_driver.h"
#include "usva_pasid.h"
#include "usva_struct.h"

struct fault_hdev fault_hdev_tomb = { .dev_id = UINT32_MAX };

/* Handler generations, unique across services. */
static uint32_t handler_gen;

static uint32_t
handler_gen_next(void)
{
	uint32_t g;

	do {	/* a counter: relaxed */
		g = __atomic_add_fetch(&handler_gen, 1, __ATOMIC_RELAXED);
	} while (g == 0);
	return g;
}

/*
 * A grace period, as rte_rcu_qsbr_synchronize() makes it, from the header's
 * inline calls: the library's function is compiled without the tools that
 * check this code (ThreadSanitizer), which would then not see the
 * acquire loads that order a slot's last use of what is freed before the
 * free. On a slot's own thread, that slot reports its quiescent state first
 * (it is between iterations here).
 */
static void
grace_period(struct rte_rcu_qsbr *v, unsigned int self)
{
	uint64_t t = rte_rcu_qsbr_start(v);

	if (self != RTE_QSBR_THRID_INVALID)
		rte_rcu_qsbr_quiescent(v, self);
	rte_rcu_qsbr_check(v, t, true);
}

bool
fault_synchronize(struct usva_fault_service *svc)
{
	if (fault_on_slot_thread(svc)) {
		grace_period(svc->rcu, fault_tls_slot());
		return true;
	}
	grace_period(svc->rcu, RTE_QSBR_THRID_INVALID);
	return false;
}

/* ---- pagers' users ---------------------------------------------------------- */

bool
fault_pager_get(struct usva_pager *p)
{
	/* Relaxed: the CAS below decides; destroy's CAS orders with it. */
	uint32_t u = __atomic_load_n(&p->users, __ATOMIC_RELAXED);

	do {
		if (u & FAULT_PAGER_DYING)
			return false;
		/* Relaxed: a count; destroy's CAS orders against it. */
	} while (!__atomic_compare_exchange_n(&p->users, &u, u + 1, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

void
fault_pager_put(struct usva_pager *p)
{
	/* Release: the handler's last use of the pager (after the grace
	 * period) happens before a destroy that sees 0. */
	__atomic_fetch_sub(&p->users, 1, __ATOMIC_RELEASE);
}

/* ---- device directories --------------------------------------------------------- */

/* Find (iommu, dev)'s directory; *@p pos: its slot, or the first free one
 * on its probe path (UINT32_MAX: table full). ctl held. */
static struct fault_hdev *
hdev_find(struct usva_fault_service *svc, uint16_t iommu, uint32_t dev_id,
	  uint32_t *pos)
{
	struct fault_hdev **tab = svc->hdevs[iommu];
	uint32_t i = dev_id & (FAULT_DEV_SLOTS - 1), n, first = UINT32_MAX;

	for (n = 0; n < FAULT_DEV_SLOTS; n++, i = (i + 1) & (FAULT_DEV_SLOTS - 1)) {
		if (tab[i] == NULL) {
			*pos = first == UINT32_MAX ? i : first;
			return NULL;
		}
		if (tab[i] == &fault_hdev_tomb) {
			if (first == UINT32_MAX)
				first = i;
			continue;
		}
		if (tab[i]->dev_id == dev_id) {
			*pos = i;
			return tab[i];
		}
	}
	*pos = first;
	return NULL;
}

static void
hdev_free(struct fault_hdev *d)
{
	uint32_t c;

	for (c = 0; c < FAULT_NR_CHUNKS; c++)
		usva_free(d->chunk[c]);
	usva_free(d);
}

/* ---- the flush list --------------------------------------------------------- */

static bool
flushers_has(const struct fault_flushers *fl, const struct usva_pager *p)
{
	uint32_t i;

	for (i = 0; fl != NULL && i < fl->n; i++)
		if (fl->p[i] == p)
			return true;
	return false;
}

/* Publish the current list with @p add added or @p del removed, in the
 * spare buffer. The caller synchronises before the old one is reused (the
 * next update). ctl held. */
static void
flushers_publish(struct usva_fault_service *svc, struct usva_pager *add,
		 struct usva_pager *del)
{
	struct fault_flushers *cur = svc->flushers;
	struct fault_flushers *nx = cur == &svc->fbuf[0] ? &svc->fbuf[1] :
							   &svc->fbuf[0];
	uint32_t i;

	nx->n = 0;
	for (i = 0; cur != NULL && i < cur->n; i++)
		if (cur->p[i] != del)
			nx->p[nx->n++] = cur->p[i];
	if (add != NULL)
		nx->p[nx->n++] = add;
	/* Release: the entries before the pointer; slots acquire it. */
	__atomic_store_n(&svc->flushers, nx, __ATOMIC_RELEASE);
}

static bool
pager_in_use(const struct usva_fault_service *svc, const struct usva_pager *p,
	     const struct usva_fault_handler *except)
{
	const struct usva_fault_handler *h;

	TAILQ_FOREACH(h, &svc->handlers, next)
		if (h != except && h->pager == p)
			return true;
	return false;
}

/* ---- register ------------------------------------------------------------------- */

static int
handler_config_load(const struct usva_fault_handler_config *ucfg,
		    struct usva_fault_handler_config *c)
{
	int rc;

	rc = USVA_STRUCT_LOAD(c, ucfg, pasid);
	if (rc == 0)
		rc = usva_check_flags(c->flags, 0, "usva_fault_handler_config");
	if (rc == 0)
		rc = usva_check_reserved(c->reserved, sizeof(c->reserved),
					 "usva_fault_handler_config");
	if (rc != 0)
		return rc;
	if (c->dev == NULL || c->as == NULL || c->pager == NULL) {
		USVA_LOG(ERR, fault, "usva_fault_handler_config: NULL %s",
			 c->dev == NULL ? "dev" : c->as == NULL ? "as" : "pager");
		return -EINVAL;
	}
	if (c->pasid == USVA_PASID_RID || c->pasid >= FAULT_PASID_LIMIT) {
		USVA_LOG(ERR, fault, "usva_fault_handler_config: pasid %u %s",
			 c->pasid, c->pasid == USVA_PASID_RID ?
			 "is RID_PASID (stage 2's)" : "beyond the build's width");
		return -EINVAL;
	}
	return 0;
}

static struct usva_fault_handler *
handler_new(struct usva_fault_service *svc,
	    const struct usva_fault_handler_config *c)
{
	struct usva_fault_handler *h;
	struct usva_pager *p = c->pager;

	h = usva_zmalloc_aligned(sizeof(*h), RTE_CACHE_LINE_SIZE);
	if (h == NULL)
		return NULL;
	h->svc = svc;
	h->iommu = c->dev->iommu;
	h->iommu_id = usva_iommu_id(h->iommu);
	h->dev_id = c->dev->info.id;
	h->pasid = c->pasid;
	h->as = c->as;
	h->pager = p;
	h->pasids = usva_iommu_pasids(h->iommu);
	h->pasid_gen = usva_pasid_generation(h->pasids, c->pasid);
	h->base = p->base;
	h->len = p->len;
	h->page_size = p->page_size;
	h->page_mask = ~(p->page_size - 1);
	h->prefetch = c->prefetch_pages;
	h->gen = handler_gen_next();
	return h;
}

/* What register must allocate before it publishes anything. */
struct reg_alloc {
	struct fault_hdev *newd;
	struct usva_fault_handler **newchunk;
};

static int
reg_prepare(struct usva_fault_service *svc, const struct usva_fault_handler *h,
	    struct fault_hdev **d, uint32_t *pos, struct reg_alloc *a)
{
	uint32_t ci = h->pasid >> FAULT_CHUNK_SHIFT;
	struct usva_fault_handler **chunk = NULL;

	*d = hdev_find(svc, h->iommu_id, h->dev_id, pos);
	if (*d != NULL)
		chunk = (*d)->chunk[ci];
	if (chunk != NULL && chunk[h->pasid & (FAULT_CHUNK_SIZE - 1)] != NULL) {
		USVA_LOG(ERR, fault, "register: dev %u pasid %u has a handler",
			 h->dev_id, h->pasid);
		return -EEXIST;
	}
	if (*d == NULL && *pos == UINT32_MAX) {
		USVA_LOG(ERR, fault, "register: %u devices with handlers on iommu %u",
			 FAULT_DEV_SLOTS, h->iommu_id);
		return -ENOSPC;
	}
	if (h->pager->ops->flush != NULL && !flushers_has(svc->flushers, h->pager) &&
	    svc->flushers != NULL && svc->flushers->n == FAULT_MAX_PAGERS) {
		USVA_LOG(ERR, fault, "register: %u pagers with a flush op already",
			 FAULT_MAX_PAGERS);
		return -ENOSPC;
	}
	if (*d == NULL) {
		a->newd = usva_zmalloc(sizeof(*a->newd));
		if (a->newd == NULL)
			return -ENOMEM;
		a->newd->dev_id = h->dev_id;
	}
	if (chunk == NULL) {
		a->newchunk = usva_zmalloc(FAULT_CHUNK_SIZE * sizeof(*chunk));
		if (a->newchunk == NULL) {
			usva_free(a->newd);
			a->newd = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

/* Nothing fails past this point. ctl held. */
static void
reg_publish(struct usva_fault_service *svc, struct usva_fault_handler *h,
	    struct fault_hdev *d, uint32_t pos, struct reg_alloc *a)
{
	uint32_t ci = h->pasid >> FAULT_CHUNK_SHIFT;

	if (h->pager->ops->flush != NULL && !flushers_has(svc->flushers, h->pager)) {
		flushers_publish(svc, h->pager, NULL);
		/* The spare buffer becomes reusable only after a grace
		 * period: wait for it now, while nothing is pending. */
		fault_synchronize(svc);
	}
	if (d == NULL) {
		d = a->newd;
		d->chunk[ci] = a->newchunk;	/* not yet visible */
		/* Release: the directory and its chunk before the pointer. */
		__atomic_store_n(&svc->hdevs[h->iommu_id][pos], d, __ATOMIC_RELEASE);
	} else if (a->newchunk != NULL) {
		/* Release: the zeroed chunk before the pointer. */
		__atomic_store_n(&d->chunk[ci], a->newchunk, __ATOMIC_RELEASE);
	}
	/* Release: the handler's fields before the pointer that publishes
	 * it; fault_handler_lookup() acquires it. */
	__atomic_store_n(&d->chunk[ci][h->pasid & (FAULT_CHUNK_SIZE - 1)], h,
			 __ATOMIC_RELEASE);
	d->nr++;
	TAILQ_INSERT_TAIL(&svc->handlers, h, next);
}

int
usva_fault_register(struct usva_fault_service *svc,
		    const struct usva_fault_handler_config *ucfg,
		    struct usva_fault_handler **out)
{
	struct usva_fault_handler_config cfg;
	struct reg_alloc a = { NULL, NULL };
	struct usva_fault_handler *h;
	struct fault_hdev *d;
	uint32_t pos;
	int rc;

	if (svc == NULL || out == NULL) {
		USVA_LOG(ERR, fault, "register: NULL %s", svc == NULL ? "service" : "out");
		return -EINVAL;
	}
	*out = NULL;
	rc = handler_config_load(ucfg, &cfg);
	if (rc != 0)
		return rc;
	if (!fault_pager_get(cfg.pager)) {
		USVA_LOG(ERR, fault, "register: the %s pager is being destroyed",
			 cfg.pager->ops->name);
		return -EINVAL;
	}
	h = handler_new(svc, &cfg);
	if (h == NULL) {
		fault_pager_put(cfg.pager);
		return -ENOMEM;
	}
	pthread_mutex_lock(&svc->ctl);
	rc = reg_prepare(svc, h, &d, &pos, &a);
	if (rc == 0)
		reg_publish(svc, h, d, pos, &a);
	pthread_mutex_unlock(&svc->ctl);
	if (rc != 0) {
		usva_free(h);
		fault_pager_put(cfg.pager);
		return rc;
	}
	if (svc->iommus[h->iommu_id] == NULL)
		USVA_LOG(DEBUG, fault, "register: iommu %u is not served (yet): add it with usva_fault_service_add_iommu()",
			 h->iommu_id);
	*out = h;
	return 0;
}

/* ---- unregister ------------------------------------------------------------- */

static void
retired_free(struct usva_fault_service *svc)
{
	struct usva_fault_handler *h;
	struct fault_hdev *d;

	while ((h = TAILQ_FIRST(&svc->retired)) != NULL) {
		TAILQ_REMOVE(&svc->retired, h, next);
		usva_free(h);
	}
	while ((d = svc->retired_hdevs) != NULL) {
		svc->retired_hdevs = d->retired_next;
		hdev_free(d);
	}
}

/* Unpublish @p h; @return its directory if that became empty (to free
 * after the grace period). ctl held. */
static struct fault_hdev *
handler_unpublish(struct usva_fault_service *svc, struct usva_fault_handler *h)
{
	uint32_t pos, ci = h->pasid >> FAULT_CHUNK_SHIFT;
	struct fault_hdev *d = hdev_find(svc, h->iommu_id, h->dev_id, &pos);

	/* Release: nothing to publish, but keeps the store ordered after
	 * our earlier writes; lookups that still see h are covered by the
	 * grace period. */
	__atomic_store_n(&d->chunk[ci][h->pasid & (FAULT_CHUNK_SIZE - 1)], NULL,
			 __ATOMIC_RELEASE);
	TAILQ_REMOVE(&svc->handlers, h, next);
	if (h->pager->ops->flush != NULL && !pager_in_use(svc, h->pager, h))
		flushers_publish(svc, NULL, h->pager);
	if (--d->nr != 0)
		return NULL;
	/* Release: as above; probes go on past the tombstone. */
	__atomic_store_n(&svc->hdevs[h->iommu_id][pos], &fault_hdev_tomb,
			 __ATOMIC_RELEASE);
	return d;
}

void
usva_fault_unregister(struct usva_fault_handler *h)
{
	struct usva_fault_service *svc;
	struct fault_hdev *d;
	uint32_t n;
	bool self;

	if (h == NULL)
		return;
	svc = h->svc;
	pthread_mutex_lock(&svc->ctl);
	d = handler_unpublish(svc, h);
	self = fault_synchronize(svc);
	n = fault_groups_flush(svc, h->gen);
	if (n != 0) {
		/* A counter: relaxed. */
		__atomic_fetch_add(&svc->cstats.unregister_flushed, n,
				   __ATOMIC_RELAXED);
		USVA_LOG(DEBUG, fault, "unregister dev %u pasid %u: %u pending groups answered INVALID",
			 h->dev_id, h->pasid, n);
	}
	fault_pager_put(h->pager);
	if (self) {
		/* Called from a fault lcore (a callback): that lcore may
		 * still use h and d when we return; free them later. */
		TAILQ_INSERT_TAIL(&svc->retired, h, next);
		if (d != NULL) {
			d->retired_next = svc->retired_hdevs;
			svc->retired_hdevs = d;
		}
	} else {
		retired_free(svc);
		if (d != NULL)
			hdev_free(d);
		usva_free(h);
	}
	pthread_mutex_unlock(&svc->ctl);
}

void
fault_handlers_destroy(struct usva_fault_service *svc)
{
	struct usva_fault_handler *h;

	for (;;) {
		pthread_mutex_lock(&svc->ctl);
		h = TAILQ_FIRST(&svc->handlers);
		pthread_mutex_unlock(&svc->ctl);
		if (h == NULL)
			break;
		USVA_LOG(NOTICE, fault, "service %u destroy: handler of iommu %u dev %u pasid %u still registered: unregistering it",
			 svc->reg, h->iommu_id, h->dev_id, h->pasid);
		usva_fault_unregister(h);
	}
	pthread_mutex_lock(&svc->ctl);
	retired_free(svc);
	pthread_mutex_unlock(&svc->ctl);
}
