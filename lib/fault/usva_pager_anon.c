/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Anonymous pager: zero-filled pages from a pre-zeroed page pool.
 *
 * A fault takes a page from the pool (the calling lcore's mempool cache:
 * no lock, no syscall, no zeroing on this path) and maps it at the
 * faulting address, aligned down to the pool's page size (4 KiB or
 * 2 MiB), IOVA = VA. If the address got mapped meanwhile (a race with a
 * prefetch or another group), the page goes back to the pool, known zero,
 * and the fault is resolved if the existing mapping allows the access.
 *
 * Pages handed out are marked in their pool private word with the pager's
 * tag, so destroy can give back every page the pager still owns. Destroy
 * the pager only after the address spaces it filled are unmapped or
 * destroyed: their leaves point at these pages.
 */
#include <errno.h>
#include <inttypes.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_fault_internal.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"
#include "usva_struct.h"

#define ANON_TAG_MAGIC	(UINT64_C(0xa40e) << 48)
#define ANON_PROT_DEFAULT (USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER)

static uint64_t anon_seq;	/* tags; a counter: relaxed */

/*
 * The fault: fault_anon_map() (usva_fault_internal.h, inlined into the
 * fault lcores' loop) takes a page and maps it; what is left for here is
 * the rare rest: no page in the pool, or the address mapped meanwhile.
 */
int
fault_anon_miss(struct usva_pager *p, struct usva_as *as, uint64_t addr,
		uint32_t perm, unsigned int slot, void *page, int rc)
{
	struct anon_priv *a = p->priv;
	struct anon_slot *sl = &a->slot[slot & (USVA_FAULT_MAX_LCORES - 1)];
	struct usva_as_xlate x;

	if (page == NULL) {
		/* The service skipped its lookup (checks_present): a page
		 * already there needs no new one. */
		if (usva_as_lookup(as, addr, &x) == 0 &&
		    fault_prot_allows(x.prot, perm))
			return USVA_PAGER_PRESENT;
		return -ENOMEM;
	}
	usva_page_free(a->pool, page, true);	/* untouched: still zero */
	if (rc != -EEXIST)
		return rc;
	FSTAT_INC(sl, raced);
	if (usva_as_lookup(as, addr, &x) == 0 &&
	    fault_prot_allows(x.prot, perm))
		return USVA_PAGER_PRESENT;
	return -EACCES;	/* mapped, but without the access asked */
}

static int
anon_fault(struct usva_pager *p, const struct usva_pager_fault *f)
{
	return fault_anon_map(p, f->as, f->addr, f->perm, f->slot);
}

/* Give back every page still marked as ours. */
static void
anon_release_pages(struct anon_priv *a)
{
	uint64_t len, off, *w, n = 0;
	uint32_t i;
	void *base;

	/* Relaxed: counters; the pager is idle (no handler uses it). */
	for (i = 0; i < USVA_FAULT_MAX_LCORES; i++)
		n += __atomic_load_n(&a->slot[i].pages, __ATOMIC_RELAXED);
	if (n == 0)
		return;
	usva_page_pool_region(a->pool, &base, &len);
	for (off = 0; off < len; off += a->page_size) {
		w = usva_page_priv(a->pool, (uint8_t *)base + off);
		/* Relaxed: other owners' words may change under us; ours
		 * do not (the pager is idle). */
		if (w == NULL || __atomic_load_n(w, __ATOMIC_RELAXED) != a->tag)
			continue;
		*w = 0;
		usva_page_free(a->pool, (uint8_t *)base + off, false);
	}
}

static void
anon_destroy(struct usva_pager *p)
{
	struct anon_priv *a = p->priv;

	anon_release_pages(a);
	if (a->iommu != NULL)
		usva_iommu_unmap_pool(a->iommu, a->pool);
}

const struct usva_pager_ops fault_anon_ops = {
	.name = "anon",
	.checks_present = true,
	.fault = anon_fault,
	.flush = NULL,
	.destroy = anon_destroy,
};

static int
anon_config(const struct usva_pager_anon_config *ucfg,
	    struct usva_pager_anon_config *c, uint64_t *ps)
{
	int rc;

	rc = USVA_STRUCT_LOAD(c, ucfg, len);
	if (rc == 0)
		rc = usva_check_flags(c->flags, 0, "usva_pager_anon_config");
	if (rc == 0 && c->reserved0 != 0)
		rc = usva_check_reserved(&c->reserved0, sizeof(c->reserved0),
					 "usva_pager_anon_config");
	if (rc == 0)
		rc = usva_check_reserved(c->reserved, sizeof(c->reserved),
					 "usva_pager_anon_config");
	if (rc != 0)
		return rc;
	if (c->pool == NULL)
		c->pool = usva_page_pool_default();
	if (c->pool == NULL) {
		USVA_LOG(ERR, fault, "usva_pager_anon_config: no pool and no default pool");
		return -EINVAL;
	}
	*ps = usva_page_pool_page_size(c->pool);
	if (c->len == 0 || (c->base | c->len) & (*ps - 1) ||
	    c->base + c->len - 1 < c->base) {
		USVA_LOG(ERR, fault, "usva_pager_anon_config: range 0x%" PRIx64 " + 0x%" PRIx64
			 " empty, wrapping or not aligned to 0x%" PRIx64,
			 c->base, c->len, *ps);
		return -EINVAL;
	}
	if (c->prot == 0)
		c->prot = ANON_PROT_DEFAULT;
	if (!(c->prot & USVA_PROT_READ) || (c->prot & ~USVA_PROT_ALL)) {
		USVA_LOG(ERR, fault, "usva_pager_anon_config: prot 0x%x", c->prot);
		return -EINVAL;
	}
	return 0;
}

int
usva_pager_anon_create(const struct usva_pager_anon_config *ucfg,
		       struct usva_pager **out)
{
	struct usva_pager_anon_config cfg;
	struct anon_priv *a;
	struct usva_pager *p;
	uint64_t ps;
	int rc;

	if (out == NULL) {
		USVA_LOG(ERR, fault, "usva_pager_anon_create: NULL out");
		return -EINVAL;
	}
	*out = NULL;
	rc = anon_config(ucfg, &cfg, &ps);
	if (rc != 0)
		return rc;
	p = usva_pager_alloc(&fault_anon_ops, sizeof(*a));
	if (p == NULL)
		return -ENOMEM;
	a = p->priv;
	a->pool = cfg.pool;
	a->page_size = ps;
	a->prot = cfg.prot;
	/* Relaxed: a counter handing out unique tags. */
	a->tag = ANON_TAG_MAGIC |
		 (__atomic_add_fetch(&anon_seq, 1, __ATOMIC_RELAXED) &
		  ((UINT64_C(1) << 48) - 1));
	if (cfg.iommu != NULL) {
		rc = usva_fail_point("pager_anon_map_pool") ? -ENOMEM :
		     usva_iommu_map_pool(cfg.iommu, cfg.pool);
		if (rc != 0) {
			USVA_LOG(ERR, fault, "usva_pager_anon_create: stage-2 map of the pool: %s",
				 strerror(-rc));
			usva_pager_free(p);
			return rc;
		}
		a->iommu = cfg.iommu;
	}
	p->base = cfg.base;
	p->len = cfg.len;
	p->page_size = ps;
	*out = p;
	return 0;
}
