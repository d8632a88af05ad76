/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iommu private: what the batch (usva_inval_batch.c) and the
 * address-space observers (usva_inval_as.c) share with usva_iommu.c.
 */
#ifndef USVA_INVAL_INTERNAL_H
#define USVA_INVAL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "usva_as_driver.h"
#include "usva_inval.h"
#include "usva_iommu_driver.h"

/* Entries @p b can still take before a reset. */
uint32_t usva_inval_batch_room(const struct usva_inval_batch *b);

/*
 * usva_inval_batch_add() of an ADDR entry naming @p dom, for [first, last]
 * (inclusive, 4 KiB aligned ends), without the checks: for callers whose
 * entries are valid by construction (dom of the batch's instance).
 * @return the added index; -ENOSPC.
 */
int usva_inval_batch_add_dom_range(struct usva_inval_batch *b,
				   struct usva_domain *dom, uint64_t first,
				   uint64_t last, uint32_t caches,
				   uint32_t flags);

/*
 * Take @p pages (emptied): given back to their pool once every entry added
 * to @p b so far is done. At least one entry must have been added.
 */
void usva_inval_batch_defer_pages(struct usva_inval_batch *b,
				  struct usva_as_pages *pages);

/*
 * Observe @p dom->as for @p dom (usva_domain_create(), before the domain
 * is published) and stop (usva_domain_destroy(), with nothing attached).
 * Neither may run with iommu->lock held: the observer lock comes first.
 */
int usva_inval_link_create(struct usva_domain *dom);
void usva_inval_link_destroy(struct usva_domain *dom);

/*
 * Invalidation checks of an entry naming @p dev (usva_iommu_pasid_table.c).
 * @return true if they are decided here (the device has a PASID table, or
 *         the entry is an ASID entry): *@p why is NULL or the problem;
 *         false: the caller checks the device's per-PASID attachments.
 *         Takes dev->lock.
 */
bool usva_pasid_table_inval_check(struct usva_iommu_dev *dev,
				  const struct usva_inval_entry *e,
				  const char **why);

/* Detach @p dev's PASID table if it has one (device close); dev->lock held. */
void usva_pasid_table_remove(struct usva_iommu_dev *dev);

#endif /* USVA_INVAL_INTERNAL_H */
