/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Address spaces to invalidations: lib/iommu observes the usva_as of every
 * nested domain made from one (usva_as_driver.h), from usva_domain_create()
 * to usva_domain_destroy().
 *
 * For an edit of range R of the address space, a domain's observer adds one
 * entry: ADDR granule, the domain as target, R, IOTLB and device TLB,
 * leaf-only when the edit says so. The batch expands it at submit time to
 * every (device, PASID) the domain is attached at then (the device TLB only
 * for ATS devices), or passes it as is to a backend that invalidates per
 * domain. Attachments made after the edit need nothing (they start with
 * empty caches for the PASID); attachments gone before the submit were
 * flushed by their detach.
 *
 * Each observer owns a small batch for the flushes the address space makes
 * before returning (usva_as_unmap() and friends); the address space's
 * flush lock serialises its use. It never holds table pages: on that path
 * the address space keeps them itself until a flush succeeds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>

#include "usva_alloc.h"
#include "usva_inval_internal.h"
#include "usva_log.h"

/* Entries one flush adds: what is pending in the AS and the new range. */
#define LINK_BATCH_CAPACITY 8u

struct usva_inval_link {
	struct usva_as_observer obs;	/* first: link_of() */
	struct usva_domain *dom;	/* immutable */
	struct usva_inval_batch *own;	/* the AS's flush lock */
};

static inline struct usva_inval_link *
link_of(struct usva_as_observer *o)
{
	return (struct usva_inval_link *)((uint8_t *)o -
		offsetof(struct usva_inval_link, obs));
}

static void
range_entry(const struct usva_inval_link *l, const struct usva_as_inval_range *r,
	    struct usva_inval_entry *e)
{
	*e = (struct usva_inval_entry){
		.granule = USVA_INVAL_ADDR,
		.caches = USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB,
		.flags = (r->flags & USVA_AS_INVAL_LEAF) ? USVA_INVAL_F_LEAF : 0,
		.dom = l->dom,
		.addr = r->va,
		/* The whole 64-bit space is 2^52 pages: no overflow. */
		.npages = ((r->last - r->va) >> 12) + 1,
	};
}

static int
link_check(struct usva_as_observer *o, struct usva_inval_batch *b,
	   uint32_t need)
{
	struct usva_inval_link *l = link_of(o);

	if (usva_inval_batch_iommu(b) != l->dom->iommu) {
		USVA_LOG(ERR, iommu, "address-space edit: the batch is of IOMMU "
			 "instance %u, but domain %u of the address space is on "
			 "instance %u", usva_iommu_id(usva_inval_batch_iommu(b)),
			 l->dom->id, l->dom->iommu->id);
		return -EXDEV;
	}
	if (usva_inval_batch_room(b) < need) {
		USVA_LOG(DEBUG, iommu, "address-space edit: the batch has room "
			 "for %u entries, %u needed: submit and reset it",
			 usva_inval_batch_room(b), need);
		return -ENOSPC;
	}
	return 0;
}

static int
link_queue(struct usva_as_observer *o, struct usva_inval_batch *b,
	   const struct usva_as_inval_range *r)
{
	/* Valid by construction (check() saw the instance; the AS gives
	 * aligned ranges): no need for the checks of the public add. */
	int rc = usva_inval_batch_add_dom_range(b, link_of(o)->dom, r->va,
			r->last, USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB,
			(r->flags & USVA_AS_INVAL_LEAF) ? USVA_INVAL_F_LEAF : 0);

	return rc < 0 ? rc : 0;
}

static void
link_defer(struct usva_as_observer *o, struct usva_inval_batch *b,
	   struct usva_as_pages *pages)
{
	RTE_SET_USED(o);
	usva_inval_batch_defer_pages(b, pages);
}

static int
link_flush(struct usva_as_observer *o, const struct usva_as_inval_range *r,
	   unsigned int n)
{
	struct usva_inval_link *l = link_of(o);
	struct usva_inval_entry e;
	int rc, err = 0;

	/* Holds no pages: the reset cannot fail. What a failed flush left
	 * undone the AS passes again. */
	usva_inval_batch_reset(l->own);
	for (unsigned int i = 0; i < n; i++) {
		range_entry(l, &r[i], &e);
		rc = usva_inval_batch_add(l->own, &e);
		if (rc < 0)
			return rc;
	}
	rc = usva_inval_batch_submit(l->own, &err);
	return rc < 0 ? rc : err;
}

static const struct usva_as_observer_ops link_ops = {
	.check = link_check,
	.queue = link_queue,
	.defer = link_defer,
	.flush = link_flush,
};

int
usva_inval_link_create(struct usva_domain *dom)
{
	struct usva_inval_batch_config bc = {
		.size = sizeof(bc),
		.capacity = LINK_BATCH_CAPACITY,
	};
	struct usva_inval_link *l;
	int rc;

	l = usva_zmalloc(sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->dom = dom;
	l->obs.ops = &link_ops;
	rc = usva_inval_batch_create(dom->iommu, &bc, &l->own);
	if (rc)
		goto err_free;
	rc = usva_as_observer_add(dom->as, &l->obs);
	if (rc)
		goto err_batch;
	dom->inval_link = l;
	return 0;

err_batch:
	usva_inval_batch_destroy(l->own);
err_free:
	usva_free(l);
	return rc;
}

void
usva_inval_link_destroy(struct usva_domain *dom)
{
	struct usva_inval_link *l = dom->inval_link;

	if (l == NULL)
		return;
	/* Waits for edits in progress; none can reach us after. */
	usva_as_observer_del(dom->as, &l->obs);
	usva_inval_batch_destroy(l->own);
	usva_free(l);
	dom->inval_link = NULL;
}
