/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pager shells: the generic part of every pager (ops, range, page size,
 * users) with the implementation's private area behind it, in one
 * cache-aligned allocation.
 *
 * users counts the handlers using the pager (usva_fault_register takes
 * one, usva_fault_unregister drops it after its grace period). Destroy
 * swaps 0 for a dying bit, so a register racing with a destroy either
 * takes its reference first (and destroy says -EBUSY) or fails.
 */
#include <errno.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_fault_internal.h"
#include "usva_pager_driver.h"

#define PAGER_HDR_SIZE	RTE_ALIGN_CEIL(sizeof(struct usva_pager), RTE_CACHE_LINE_SIZE)

struct usva_pager *
usva_pager_alloc(const struct usva_pager_ops *ops, size_t priv_size)
{
	struct usva_pager *p;

	if (ops == NULL || ops->fault == NULL || ops->name == NULL) {
		USVA_LOG(ERR, fault, "usva_pager_alloc: incomplete ops");
		return NULL;
	}
	p = usva_zmalloc_aligned(PAGER_HDR_SIZE + priv_size, RTE_CACHE_LINE_SIZE);
	if (p == NULL)
		return NULL;
	p->ops = ops;
	p->priv = priv_size != 0 ? (uint8_t *)p + PAGER_HDR_SIZE : NULL;
	return p;
}

void
usva_pager_free(struct usva_pager *p)
{
	usva_free(p);
}

int
usva_pager_destroy(struct usva_pager *p)
{
	uint32_t zero = 0;

	if (p == NULL)
		return 0;
	/* Acquire: pairs with fault_pager_put()'s release, so the last
	 * handler's uses of the pager happen before its destruction. */
	if (!__atomic_compare_exchange_n(&p->users, &zero, FAULT_PAGER_DYING,
					 false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		USVA_LOG(ERR, fault, "usva_pager_destroy: the %s pager has %u handlers",
			 p->ops->name, zero & ~FAULT_PAGER_DYING);
		return -EBUSY;
	}
	if (p->ops->destroy != NULL)
		p->ops->destroy(p);
	usva_pager_free(p);
	return 0;
}
