/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Pager interface (driver tier): how the fault service asks a pager for a
 * page. The built-in pagers (anon, mirror, file, callback) implement it;
 * an out-of-tree pager can too.
 */
#ifndef USVA_PAGER_DRIVER_H
#define USVA_PAGER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "usva_fault.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One page to resolve, as the fault service hands it to a pager. */
struct usva_pager_fault {
	struct usva_as *as;	/**< where the entry goes */
	uint64_t addr;		/**< page-aligned (to the pager's page size) */
	uint32_t perm;		/**< USVA_ACCESS_* requested */
	uint32_t pasid;	/**< PASID of the fault */
	unsigned int slot;	/**< fault lcore slot calling (per-slot state) */
	struct usva_fault_token tok; /**< for usva_fault_complete() */
};

/** Pager ops. Called on fault lcores; must not block. */
struct usva_pager_ops {
	const char *name;	/**< for logs and stats */
	/**
	 * fault() detects a page that is already mapped itself (a map
	 * that finds the entry taken) and returns USVA_PAGER_PRESENT, so
	 * the service skips its own lookup before calling it: one table
	 * walk per fault instead of two. Pagers that start I/O leave it
	 * false so a present page costs no I/O.
	 */
	bool checks_present;
	/**
	 * Resolve one page: map it into f->as and return USVA_PAGER_DONE,
	 * or start it and return USVA_PAGER_PENDING (and call
	 * usva_fault_complete(f->tok, ...) later), or return -errno.
	 * The caller has checked f->addr is inside [base, base + len) and
	 * not mapped with the access asked: usually not mapped at all, but
	 * it may be mapped without the right asked (a write to a read-only
	 * page): a pager that cannot grant it returns -EACCES, not DONE
	 * (the device would fault forever). Only the owner of the address's
	 * shard calls it. The service also calls it for prefetch hints,
	 * with f->perm READ and a token whose completion is ignored.
	 */
	int (*fault)(struct usva_pager *p, const struct usva_pager_fault *f);
	/**
	 * End of a burst on @p slot: submit what fault() queued (one syscall
	 * per burst, not per fault) and reap completions. Called after every
	 * iteration of every fault lcore while a handler uses the pager,
	 * whether or not it faulted (so completions are reaped while idle);
	 * must be cheap when there is nothing to do. NULL: nothing.
	 * @return completions reaped.
	 */
	unsigned int (*flush)(struct usva_pager *p, unsigned int slot);
	/** Release the pager's resources. */
	void (*destroy)(struct usva_pager *p);
};

/** A pager. */
struct usva_pager {
	const struct usva_pager_ops *ops;	/**< immutable */
	uint64_t base;				/**< immutable: range served */
	uint64_t len;				/**< immutable */
	uint64_t page_size;			/**< immutable: 4 KiB or 2 MiB */
	uint32_t users;		/**< handlers using it; atomic (bit 31: being
				 *   destroyed); lib/fault's */
	void *priv;				/**< the pager's */
};

/**
 * Allocate a pager shell with @p priv_size bytes of private data, for a
 * pager implementation's create function.
 * @return the pager or NULL.
 */
struct usva_pager *usva_pager_alloc(const struct usva_pager_ops *ops,
				    size_t priv_size);

/** Free a shell from usva_pager_alloc() (after ops->destroy). */
void usva_pager_free(struct usva_pager *p);

#ifdef __cplusplus
}
#endif

#endif /* USVA_PAGER_DRIVER_H */
