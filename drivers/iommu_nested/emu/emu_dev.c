/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: devices, nested domains, and the per-device PASID table.
 *
 * The PASID table is a directory of 1024-entry chunks, allocated on the
 * first attach in their range (control path) and kept until the device
 * closes, as VT-d's PASID directory and tables. An entry is one domain
 * pointer: attach, replace and detach are each a single atomic store, so a
 * translation sees the old domain or the new one, never a mix. After the
 * store they flush what the kernel driver flushes (PASID cache; on replace
 * and detach also the IOTLB and device TLB of the PASID).
 *
 * Domains may be freed by lib/iommu after domain_fini(); translations that
 * read a domain through the PASID table do so inside a reader section, and
 * domain_fini() waits for a grace period.
 */
#include <errno.h>
#include <string.h>

#include "emu_internal.h"

/* ---- devices ------------------------------------------------------------------ */

/* Device TLB shape: about 4 ways, a power-of-two number of sets. */
static void
devtlb_shape(uint32_t entries, uint32_t *sets, uint32_t *ways)
{
	uint32_t s = entries >= 4 ? entries / 4 : 1;

	s = rte_align32prevpow2(s);
	*sets = s;
	*ways = RTE_MIN(entries / s, 64u);
}

static void
emu_dev_free(struct emu_dev *ed)
{
	emu_prq_dev_fini(ed);
	emu_tlb_fini(&ed->devtlb);
	usva_free(ed->pc);
	ed->pc = NULL;
	if (ed->pasid_dir != NULL)
		for (uint32_t i = 0; i < ed->dir_entries; i++)
			usva_free(ed->pasid_dir[i]);
	usva_free(ed->pasid_dir);
	ed->pasid_dir = NULL;
}

int
emu_dev_open(struct usva_iommu_dev *dev, const struct usva_dev_config *cfg)
{
	struct emu *e = emu_of(dev->iommu);
	struct emu_dev *ed = dev->priv;
	uint32_t sets, ways;
	int rc = -ENOMEM;

	memset(ed, 0, sizeof(*ed));
	ed->dev = dev;
	ed->emu = e;
	ed->id = dev->info.id;
	/* The emulated device has what it is asked for. */
	ed->flags = cfg->flags & (USVA_DEV_F_PRI | USVA_DEV_F_ATS |
				  USVA_DEV_F_PASID_EXEC | USVA_DEV_F_PASID_PRIV |
				  USVA_DEV_F_STALL);
	if (cfg->pasid_width > 20) {
		EMU_LOG(ERR, "device %s: PASID width %u beyond PCIe's 20 bits",
			dev->info.name, cfg->pasid_width);
		return -EINVAL;
	}
	/* A device wider than the IOMMU uses what the IOMMU handles. */
	ed->pasid_width = RTE_MIN(cfg->pasid_width, e->p.pasid_width);
	ed->pri_capacity = cfg->pri_capacity ? cfg->pri_capacity :
			   EMU_PRI_CAPACITY_DEF;
	if (ed->pri_capacity > EMU_PRI_CAPACITY_MAX) {
		EMU_LOG(ERR, "device %s: pri_capacity %u above %u",
			dev->info.name, ed->pri_capacity, EMU_PRI_CAPACITY_MAX);
		return -EINVAL;
	}
	rte_spinlock_init(&ed->pc_lock);
	rte_spinlock_init(&ed->grp_lock);

	if (ed->pasid_width > 0) {
		ed->dir_entries = ((1u << ed->pasid_width) + EMU_PASID_CHUNK - 1)
				  >> EMU_PASID_CHUNK_BITS;
		ed->pasid_dir = usva_zmalloc(ed->dir_entries *
					     sizeof(ed->pasid_dir[0]));
		if (ed->pasid_dir == NULL)
			goto err;
	}
	ed->pc_mask = e->p.pasid_cache_entries - 1;
	ed->pc = usva_zmalloc_aligned(sizeof(*ed->pc) *
				      e->p.pasid_cache_entries,
				      RTE_CACHE_LINE_SIZE);
	if (ed->pc == NULL)
		goto err;
	if (ed->flags & USVA_DEV_F_ATS) {
		devtlb_shape(e->p.devtlb_entries, &sets, &ways);
		rc = emu_tlb_init(&ed->devtlb, sets, ways);
		if (rc)
			goto err;
	}
	rc = emu_prq_dev_init(ed);
	if (rc)
		goto err;
	rc = emu_devtab_insert(e, ed);
	if (rc)
		goto err;

	dev->info.flags = ed->flags;
	dev->info.pasid_width = ed->pasid_width;
	dev->info.pri_capacity = ed->pri_capacity;
	return 0;

err:
	emu_dev_free(ed);
	return rc;
}

void
emu_dev_close(struct usva_iommu_dev *dev)
{
	struct emu_dev *ed = dev->priv;

	/* Nothing is attached (lib/iommu detached every PASID, answering
	 * its groups). Unpublish, wait out fast-path lookups, free. */
	emu_devtab_remove(ed->emu, ed);
	emu_dev_free(ed);
}

bool
usva_emu_dev_pri_enabled(struct usva_iommu_dev *dev)
{
	struct emu_dev *ed = emu_dev_get(dev);

	return ed != NULL && (ed->flags & USVA_DEV_F_PRI) &&
	       __atomic_load_n(&ed->pri_enabled, __ATOMIC_ACQUIRE);
}

int
usva_emu_dev_pri_enable(struct usva_iommu_dev *dev)
{
	struct emu_dev *ed = emu_dev_get(dev);

	if (ed == NULL)
		return -ENODEV;
	if (!(ed->flags & USVA_DEV_F_PRI))
		return -EOPNOTSUPP;
	rte_spinlock_lock(&ed->grp_lock);
	/* Release: pairs with the acquire in usva_emu_page_request(). */
	__atomic_store_n(&ed->pri_enabled, 1, __ATOMIC_RELEASE);
	rte_spinlock_unlock(&ed->grp_lock);
	return 0;
}

/* ---- domains --------------------------------------------------------------------- */

int
emu_domain_init(struct usva_domain *dom)
{
	struct emu *e = emu_of(dom->iommu);
	struct emu_domain *d = dom->priv;

	d->fmt = usva_pgtable_fmt_find(dom->format);
	if (d->fmt == NULL || d->fmt != e->fmt) {
		EMU_LOG(ERR, "domain %u: stage-1 format %u is not the %s "
			"flavour's", dom->id, dom->format,
			e->p.flavour == EMU_FLAVOUR_VTD ? "vtd" : "smmuv3");
		return -EOPNOTSUPP;
	}
	if (d->fmt->geometry(dom->va_bits, &d->geo) != 0) {
		EMU_LOG(ERR, "domain %u: %s cannot walk %u-bit tables",
			dom->id, d->fmt->name, dom->va_bits);
		return -EOPNOTSUPP;
	}
	return 0;
}

void
emu_for_each_dev(struct emu *e, void (*fn)(struct emu_dev *ed, void *arg),
		 void *arg)
{
	const struct emu_devtab *t;

	emu_rcu_enter(e);
	/* Acquire: pairs with the release that published the table and each
	 * device in it, so fn sees them initialised. */
	t = __atomic_load_n(&e->devtab, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; t != NULL && i < t->n; i++) {
		struct emu_dev *ed = __atomic_load_n(&t->e[i].ed,
						     __ATOMIC_ACQUIRE);

		if (ed != NULL)
			fn(ed, arg);
	}
	emu_rcu_exit(e);
}

/* Forget the PASID-cache entries of domain *(uint32_t *)did on @p ed. */
void
emu_pc_inval_did_cb(struct emu_dev *ed, void *did)
{
	emu_pc_inval_did(ed, *(const uint32_t *)did);
}

void
emu_domain_fini(struct usva_domain *dom)
{
	struct emu *e = emu_of(dom->iommu);
	struct emu_tlb_key k = { .match = EMU_K_DID, .did = dom->id };

	/* As the kernel does when it frees a domain id: nothing tagged
	 * with it may survive into a later domain that reuses it. */
	emu_inval_begin(e);
	emu_tlb_inval(&e->iotlb, &k);
	emu_for_each_dev(e, emu_pc_inval_did_cb, &dom->id);
	emu_inval_end(e);
	/* Translations that loaded this domain from a PASID table (before
	 * its detach) are done before lib/iommu frees it. */
	emu_rcu_synchronize(e);
}

uint32_t
emu_pce_load(struct emu_dev *ed, uint32_t pasid, struct emu_pce *pce,
	     uint64_t *fault_iova)
{
	/* Acquire: pairs with the release publishing a PASID table. */
	const struct emu_cdtab *t = __atomic_load_n(&ed->cdtab,
						    __ATOMIC_ACQUIRE);
	struct emu_pasid_ent *ent;
	const struct emu_domain *d;
	struct usva_domain *dom;

	if (t != NULL)		/* a guest's CD table (emu_cdtab.c) */
		return emu_cdtab_pce(ed, t, pasid, pce, fault_iova);
	ent = emu_pasid_ent(ed, pasid);
	if (ent == NULL)
		return USVA_EMU_BAD_PASID;
	/* Acquire: pairs with the release store of attach/replace; the
	 * domain's immutable fields are initialised before. */
	dom = __atomic_load_n(&ent->dom, __ATOMIC_ACQUIRE);
	if (dom == NULL)
		return USVA_EMU_BAD_PASID;
	d = dom->priv;
	pce->valid = 1;
	pce->pasid = pasid;
	pce->did = dom->id;
	pce->root = dom->s1_root;
	pce->fmt = d->fmt;
	pce->geo = d->geo;
	pce->tag = pasid;
	/* The kernel sets CD.S in the CDs it writes for a master that can
	 * stall: every fault of such a device stalls. */
	pce->flags = (ed->flags & USVA_DEV_F_STALL) ? EMU_PCE_STALL : 0;
	pce->pad = 0;
	return USVA_EMU_OK;
}

bool
emu_pce_from_table(struct emu_dev *ed, uint32_t pasid, struct emu_pce *pce)
{
	uint64_t fault_iova;

	return emu_pce_load(ed, pasid, pce, &fault_iova) == USVA_EMU_OK;
}

/* ---- attach / replace / detach ------------------------------------------------------ */

/* The entry of @pasid, allocating its chunk; dev->lock held. */
static struct emu_pasid_ent *
pasid_ent_get(struct emu_dev *ed, uint32_t pasid)
{
	struct emu_pasid_ent *chunk, **slot;

	if (ed->pasid_dir == NULL || pasid >> ed->pasid_width)
		return NULL;
	slot = &ed->pasid_dir[pasid >> EMU_PASID_CHUNK_BITS];
	chunk = *slot;
	if (chunk == NULL) {
		chunk = usva_zmalloc(EMU_PASID_CHUNK * sizeof(*chunk));
		if (chunk == NULL)
			return NULL;
		/* Release: the zeroed chunk before its pointer (readers
		 * load it with acquire in emu_pasid_ent()). */
		__atomic_store_n(slot, chunk, __ATOMIC_RELEASE);
	}
	return &chunk[pasid & (EMU_PASID_CHUNK - 1)];
}

int
emu_attach(struct usva_iommu_dev *dev, uint32_t pasid, struct usva_domain *dom,
	   struct usva_domain *old)
{
	struct emu_dev *ed = dev->priv;
	struct emu *e = ed->emu;
	struct emu_pasid_ent *ent;

	ent = pasid_ent_get(ed, pasid);
	if (ent == NULL)
		return ed->pasid_dir == NULL ? -EOPNOTSUPP : -ENOMEM;
	if (old == NULL)
		/* A new life of the PASID; ordered before the domain by the
		 * release below (page requests read dom, then gen). */
		__atomic_store_n(&ent->gen, ent->gen + 1, __ATOMIC_RELAXED);
	emu_inval_begin(e);
	/* Release: one store switches the entry, whatever was there. */
	__atomic_store_n(&ent->dom, dom, __ATOMIC_RELEASE);
	/* Bump after the store, before the flush: fills that read the old
	 * entry are flushed or refused (emu_pc_fill()). */
	emu_gen_bump(e);
	if (old == NULL)
		/* Attach: flush the PASID-cache entry, as the kernel does
		 * after writing a PASID entry (a fill racing from an earlier
		 * life is removed here or refused by the generation). */
		emu_pc_inval(ed, pasid, false);
	else
		/* Replace: the old domain's translations of this PASID go,
		 * from the PASID cache, the IOTLB and the device TLB. */
		emu_flush_pasid(ed, pasid, old->id);
	emu_inval_end(e);
	return 0;
}

void
emu_detach(struct usva_iommu_dev *dev, uint32_t pasid, struct usva_domain *dom)
{
	struct emu_dev *ed = dev->priv;
	struct emu_pasid_ent *ent = emu_pasid_ent(ed, pasid);

	emu_inval_begin(ed->emu);
	if (ent != NULL)
		/* Release: pairs with the acquire of the walkers. */
		__atomic_store_n(&ent->dom, NULL, __ATOMIC_RELEASE);
	emu_gen_bump(ed->emu);	/* as emu_attach() */
	emu_flush_pasid(ed, pasid, dom->id);
	emu_inval_end(ed->emu);
	/* Every group of the PASID is answered INVALID now; its requests
	 * still queued are dropped by prq_poll. */
	emu_prq_detach(ed, pasid);
	/* As the PASID teardown's drain: DMA of this PASID that was in
	 * flight is over before the PASID can be freed and reused. */
	emu_rcu_synchronize(ed->emu);
}
