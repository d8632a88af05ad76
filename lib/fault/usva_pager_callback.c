/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Callback pager: the application resolves the page. Its callback runs on
 * the fault lcore that owns the address's shard; it maps the page itself
 * (usva_as_map) and returns USVA_PAGER_DONE, or returns USVA_PAGER_PENDING
 * and calls usva_fault_complete() later from any thread, or a negative
 * errno. It serves every address ([0, UINT64_MAX)) with 4 KiB pages.
 */
#include <errno.h>

#include "usva_as.h"
#include "usva_fault_internal.h"
#include "usva_pager_driver.h"

struct cb_priv {
	usva_pager_cb_t cb;	/* immutable */
	void *arg;		/* immutable */
};

static int
cb_fault(struct usva_pager *p, const struct usva_pager_fault *f)
{
	const struct cb_priv *c = p->priv;
	int rc = c->cb(c->arg, f->as, f->addr, f->perm, f->tok);

	/* Anything else than the two statuses or an errno is a bug of the
	 * callback: answer INVALID. */
	if (rc != USVA_PAGER_DONE && rc != USVA_PAGER_PENDING && rc >= 0)
		return -EINVAL;
	return rc;
}

static const struct usva_pager_ops cb_ops = {
	.name = "callback",
	.fault = cb_fault,
	.flush = NULL,
	.destroy = NULL,
};

int
usva_pager_callback_create(usva_pager_cb_t cb, void *arg,
			   struct usva_pager **out)
{
	struct usva_pager *p;
	struct cb_priv *c;

	if (out == NULL || cb == NULL) {
		USVA_LOG(ERR, fault, "usva_pager_callback_create: NULL %s",
			 out == NULL ? "out" : "callback");
		return -EINVAL;
	}
	*out = NULL;
	p = usva_pager_alloc(&cb_ops, sizeof(*c));
	if (p == NULL)
		return -ENOMEM;
	c = p->priv;
	c->cb = cb;
	c->arg = arg;
	p->base = 0;
	p->len = UINT64_MAX;
	p->page_size = USVA_PGSIZE_4K;
	*out = p;
	return 0;
}
