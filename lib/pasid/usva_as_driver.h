/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Address-space observers (driver tier): how an IOMMU layer learns what an
 * edit of a usva_as made stale.
 *
 * lib/pasid edits stage-1 tables; the caches that may hold what it removed
 * (IOTLB, device TLBs, paging-structure caches) belong to whoever pointed an
 * IOMMU at the tables. That layer registers an observer on the address space
 * (lib/iommu does it for every nested domain made from a usva_as, from
 * usva_domain_create() to usva_domain_destroy()) and the address space calls
 * it after every downgrade (unmap, permission removed) and every table page
 * it unlinks, with the range and whether only leaves changed. lib/pasid never
 * looks inside an invalidation batch: it passes the caller's batch through.
 *
 * Unlinked table pages travel as a usva_as_pages chain and go back to their
 * pool only after an invalidation covering them completed: either the
 * observer's batch takes them (ops->defer) or the address space keeps them
 * until its own flush succeeds.
 *
 * Locks. The observer list is guarded by the address space's observer lock
 * (a reader-writer lock: edits read it, observer add/remove write it); the
 * address space's flush lock serialises ops->flush calls and guards what is
 * pending. Order: observer lock, then flush lock, then whatever the ops take
 * (lib/iommu: iommu->lock, then dev->lock). Ops must not call back into the
 * address space.
 */
#ifndef USVA_AS_DRIVER_H
#define USVA_AS_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "usva_as.h"
#include "usva_page_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct usva_inval_batch;

/**
 * Table pages unlinked from an address space, waiting to be given back to
 * their pool. They are chained through their pool private words
 * (usva_page_priv()), which are the holder's until the page is freed, so a
 * chain of any length costs no memory and never touches the pages
 * themselves (a stale walker may still read them). A word holds the next
 * page's address, with bit 0 set if the page is all zero.
 */
struct usva_as_pages {
	struct usva_page_pool *pool;	/**< the pages' pool */
	void *head;			/**< first page, NULL: empty */
	void *tail;			/**< last page */
	uint64_t n;			/**< pages in the chain */
};

#define USVA_AS_PAGES_ZEROED	UINT64_C(1)	/**< bit 0 of a link: the page is all zero */
#define USVA_AS_PAGES_LINK_MASK	(~UINT64_C(0xfff))	/**< a link's page address */

/** Append @p page (of @p l->pool) to a chain. */
static inline void
usva_as_pages_add(struct usva_as_pages *l, void *page, bool zeroed)
{
	*usva_page_priv(l->pool, page) = zeroed ? USVA_AS_PAGES_ZEROED : 0;
	if (l->tail != NULL)
		*usva_page_priv(l->pool, l->tail) |= (uint64_t)(uintptr_t)page;
	else
		l->head = page;
	l->tail = page;
	l->n++;
}

/** Move every page of @p src (same pool) to the end of @p dst. */
static inline void
usva_as_pages_splice(struct usva_as_pages *dst, struct usva_as_pages *src)
{
	if (src->head == NULL)
		return;
	if (dst->tail != NULL)
		*usva_page_priv(dst->pool, dst->tail) |=
			(uint64_t)(uintptr_t)src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	dst->n += src->n;
	src->head = src->tail = NULL;
	src->n = 0;
}

/** Give every page of a chain back to its pool; the chain is empty after. */
static inline void
usva_as_pages_release(struct usva_as_pages *l)
{
	void *p = l->head;

	while (p != NULL) {
		uint64_t w = *usva_page_priv(l->pool, p);

		usva_page_free(l->pool, p, (w & USVA_AS_PAGES_ZEROED) != 0);
		p = (void *)(uintptr_t)(w & USVA_AS_PAGES_LINK_MASK);
	}
	l->head = l->tail = NULL;
	l->n = 0;
}

/** @name usva_as_inval_range.flags
 * @{ */
/** Only leaves changed: paging-structure caches may be kept. */
#define USVA_AS_INVAL_LEAF	(1u << 0)
/** @} */

/** A stage-1 input range whose cached translations are stale. */
struct usva_as_inval_range {
	uint64_t va;		/**< 4 KiB aligned */
	uint64_t last;		/**< inclusive; last + 1 is 4 KiB aligned */
	uint32_t flags;		/**< USVA_AS_INVAL_* */
};

struct usva_as_observer;

/** What an observer does. All ops are called with the observer lock held. */
struct usva_as_observer_ops {
	/**
	 * Before an edit that will queue into the caller's @p b: can it take
	 * @p need more entries from this observer's instance?
	 * @return 0; -EXDEV (@p b belongs to another IOMMU instance);
	 *         -ENOSPC (not enough room). Logs one line when refusing.
	 */
	int (*check)(struct usva_as_observer *o, struct usva_inval_batch *b,
		     uint32_t need);
	/**
	 * Queue the invalidation of @p r for everything this observer
	 * caches it for. Called after check() passed for the same edit.
	 * @return 0 or -errno (nothing queued).
	 */
	int (*queue)(struct usva_as_observer *o, struct usva_inval_batch *b,
		     const struct usva_as_inval_range *r);
	/**
	 * Take @p pages (emptied): @p b gives them back to their pool once
	 * every entry queued into it so far is done. Cannot fail.
	 */
	void (*defer)(struct usva_as_observer *o, struct usva_inval_batch *b,
		      struct usva_as_pages *pages);
	/**
	 * Invalidate @p n ranges now and wait for completion. Called with
	 * the address space's flush lock held.
	 * @return 0 when every one is done; else -errno of the first failure
	 *         (the address space keeps the ranges and retries them).
	 */
	int (*flush)(struct usva_as_observer *o,
		     const struct usva_as_inval_range *r, unsigned int n);
};

/** An observer, embedded in the observing layer's own object. */
struct usva_as_observer {
	const struct usva_as_observer_ops *ops;	/**< set before add */
	TAILQ_ENTRY(usva_as_observer) next;	/**< the observer lock */
};

/**
 * Start sending @p as's invalidations to @p o. Control path; thread-safe.
 * Waits for edits in progress. @return 0; -EINVAL (incomplete ops).
 */
int usva_as_observer_add(struct usva_as *as, struct usva_as_observer *o);

/**
 * Stop. Waits for edits in progress, after which @p o is never called
 * again. When the last observer goes, table pages the address space was
 * holding for a failed flush are given back: with nothing attached there
 * is no cache left to point at them.
 */
void usva_as_observer_del(struct usva_as *as, struct usva_as_observer *o);

#ifdef __cplusplus
}
#endif

#endif /* USVA_AS_DRIVER_H */
