/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu backend: whole PASID tables, the SMMUv3 way to nest a guest's stage 1.
 *
 * The device's stream table entry points at a context-descriptor (CD)
 * table that someone else (a guest) owns: the model keeps only the STE's
 * stage-1 fields (struct emu_cdtab) and, on a CD-cache miss, walks the
 * table in memory through stage 2, as the SMMU fetches CDs by IPA:
 *
 *   linear     CD = base + SSID * 64
 *   2-level    L1 = base + (SSID >> split) * 8   (V, L2Ptr)
 *              CD = L2Ptr + (SSID & (2^split - 1)) * 64
 *
 * split is 6 (4 KiB leaf tables, S1Fmt 01) or 10 (64 KiB, S1Fmt 10). The CD
 * names the stage-1 table (TTB0, T0SZ), its ASID and how its faults behave
 * (S, R, A); doc/emu-model.md lists the bits read and what is refused.
 *
 * Caching. The decoded CD goes into the device's PASID cache, which is the
 * model's CD cache (CMD_CFGI_CD: a PASID_CACHE entry). Translations go
 * into the IOTLB tagged (VMID, ASID) instead of (domain, PASID): a fresh
 * VMID per attach, the ASID from the CD. Two PASIDs whose CDs share an
 * ASID share IOTLB entries, as on the SMMU; CMD_TLBI_NH_ASID and _VA are
 * entries with USVA_INVAL_F_ASID. Level-1 descriptors are not cached:
 * every CD-cache miss reads its L1 descriptor again. Faults are never
 * cached.
 *
 * Concurrency. emu_dev.cdtab is replaced whole under dev->lock (lib/iommu)
 * and read inside reader sections; the old one is freed after a grace
 * period. Attach, replace and detach bracket their change with
 * emu_inval_begin/end, as PASID attach does.
 */
#include <errno.h>
#include <inttypes.h>

#include "emu_internal.h"

/* Stands for "a table is attached" in emu_dev.cdt_ent.dom: page requests
 * only test it for NULL. Never dereferenced. */
static struct usva_domain emu_cdtab_dom;

#define CD_T0SZ_MIN	16u	/* 48-bit input */
#define CD_T0SZ_MAX	39u	/* 25-bit input */
#define CD_TTB0_HI	UINT64_C(0x000f000000000000)	/* [51:48]: beyond
							 * 48 bits, ILLEGAL
							 * with a 4K granule */

/* ---- reading the table through stage 2 ------------------------------------- */

/* Read a 64-bit word at @p iova through stage 2. Acquire: the word a
 * writer published last (a CD's word 0 with V, an L1 descriptor) is read
 * first, so what it guards is seen as written. */
static bool
s2_read64(const struct emu_s2_tab *s2, uint64_t iova, uint64_t *v)
{
	const struct emu_s2_map *m = emu_s2_find(s2, iova);
	const uint64_t *p;

	if (m == NULL || !(m->prot & USVA_S2_READ))
		return false;
	p = (const uint64_t *)(uintptr_t)(m->va + (iova - m->iova));
	*v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	return true;
}

/*
 * Which CD a transaction uses: the index in the table, or why none
 * (BAD_PASID for C_BAD_SUBSTREAMID and F_STREAM_DISABLED, ABORTED,
 * EMU_XLATE_S1_BYPASS).
 */
static uint32_t
cdtab_select(const struct emu_cdtab *t, uint32_t pasid, uint32_t *idx)
{
	if (t->config == USVA_PASID_TABLE_ABORT)
		return USVA_EMU_ABORTED;
	if (t->config == USVA_PASID_TABLE_BYPASS)
		return pasid == 0 ? EMU_XLATE_S1_BYPASS : USVA_EMU_BAD_PASID;
	*idx = pasid;
	if (t->cdmax == 0)	/* substreams disabled: one CD, no PASID */
		return pasid == 0 ? USVA_EMU_OK : USVA_EMU_BAD_PASID;
	if (pasid >> t->cdmax)
		return USVA_EMU_BAD_PASID;
	if (pasid != 0)
		return USVA_EMU_OK;
	switch (t->s1dss) {
	case USVA_SMMUV3_S1DSS_SSID0:
		return USVA_EMU_OK;
	case USVA_SMMUV3_S1DSS_BYPASS:
		return EMU_XLATE_S1_BYPASS;
	default:
		return USVA_EMU_BAD_PASID;
	}
}

/* IOVA of CD @p idx, reading its L1 descriptor for a 2-level table. */
static uint32_t
cdtab_locate(const struct emu_s2_tab *s2, const struct emu_cdtab *t,
	     uint32_t idx, uint64_t *cd_iova, uint64_t *fault_iova)
{
	uint64_t l1_iova, l1, l2;

	if (t->split == 0 || t->cdmax == 0) {
		*cd_iova = t->base + (uint64_t)idx * USVA_EMU_CD_SIZE;
		return USVA_EMU_OK;
	}
	l1_iova = t->base + (uint64_t)(idx >> t->split) * sizeof(uint64_t);
	if (!s2_read64(s2, l1_iova, &l1)) {
		*fault_iova = l1_iova;
		return USVA_EMU_S2_FAULT;
	}
	if (!(l1 & USVA_EMU_L1CD_V))	/* no leaf table: C_BAD_SUBSTREAMID */
		return USVA_EMU_BAD_PASID;
	/* L2Ptr below the leaf table's alignment is taken as zero. */
	l2 = l1 & USVA_EMU_L1CD_L2PTR_MASK &
	     ~((UINT64_C(1) << (t->split + 6)) - 1);
	*cd_iova = l2 + (uint64_t)(idx & ((1u << t->split) - 1)) *
		   USVA_EMU_CD_SIZE;
	return USVA_EMU_OK;
}

/* ---- decoding a CD ------------------------------------------------------------- */

/* Why word 0 of a CD is ILLEGAL for this model, or NULL. */
static const char *
cd0_problem(const struct emu_dev *ed, uint64_t cd0)
{
	uint32_t t0sz = (uint32_t)(cd0 & USVA_EMU_CD0_T0SZ_MASK);

	if (!(cd0 & USVA_EMU_CD0_V))
		return "V = 0";
	if (!(cd0 & USVA_EMU_CD0_AA64))
		return "AA64 = 0 (VMSAv8-32 tables are not modelled)";
	if (cd0 & USVA_EMU_CD0_ENDI)
		return "ENDI = 1 (big-endian tables)";
	if (cd0 & (USVA_EMU_CD0_HA | USVA_EMU_CD0_HD))
		return "HA/HD set (no HTTU)";
	if (!(cd0 & USVA_EMU_CD0_A))
		return "A = 0 (abort-only termination model)";
	if ((cd0 & USVA_EMU_CD0_S) && !(ed->flags & USVA_DEV_F_STALL))
		return "S = 1 on a device that cannot stall (S1STALLD)";
	if (cd0 & USVA_EMU_CD0_EPD0)
		return NULL;	/* T0SZ, TG0, TTB0 ignored */
	if (cd0 & USVA_EMU_CD0_TG0_MASK)
		return "TG0 is not 4 KiB";
	if (t0sz < CD_T0SZ_MIN || t0sz > CD_T0SZ_MAX)
		return "T0SZ outside [16, 39]";
	return NULL;
}

static uint32_t
cd_flags(uint64_t cd0)
{
	uint32_t f = 0;

	if (cd0 & USVA_EMU_CD0_S)
		f |= EMU_PCE_STALL;
	else if (!(cd0 & USVA_EMU_CD0_R))
		f |= EMU_PCE_NO_RECORD;	/* a stall is always recorded */
	if (cd0 & USVA_EMU_CD0_EPD0)
		f |= EMU_PCE_EPD0;
	if (cd0 & USVA_EMU_CD0_AFFD)
		f |= EMU_PCE_AFFD;
	return f;
}

/* Decode words 0 and 1 of the CD of @p pasid into @p pce. */
static uint32_t
cd_decode(struct emu_dev *ed, const struct emu_cdtab *t, uint32_t pasid,
	  const uint64_t cd[2], struct emu_pce *pce)
{
	const struct usva_pgtable_fmt_ops *fmt = ed->emu->fmt;
	const char *why = cd0_problem(ed, cd[0]);
	uint32_t va_bits = 64 - (uint32_t)(cd[0] & USVA_EMU_CD0_T0SZ_MASK);
	uint64_t ttb0 = cd[1] & USVA_EMU_CD1_TTB0_MASK;
	unsigned int root_shift;

	if (cd[0] & USVA_EMU_CD0_EPD0)
		va_bits = 48;	/* no walk: any geometry */
	if (why == NULL && !(cd[0] & USVA_EMU_CD0_EPD0) && (ttb0 & CD_TTB0_HI))
		why = "TTB0 beyond 48 bits";
	if (why == NULL && fmt->geometry(va_bits, &pce->geo) != 0)
		why = "T0SZ the stage-1 format cannot walk";
	if (why != NULL) {
		EMU_LOG_RL(DEBUG, "dev %u PASID %u: bad CD (0x%016" PRIx64
			   " 0x%016" PRIx64 "): %s", ed->id, pasid, cd[0],
			   cd[1], why);
		return USVA_EMU_BAD_CD;
	}
	/* The root table is aligned to its size: TTB0's bits below are
	 * taken as zero, as the SMMU does. */
	root_shift = va_bits - usva_pt_level_shift(pce->geo.levels) + 3;
	pce->root = ttb0 & ~((UINT64_C(1) << root_shift) - 1);
	pce->valid = 1;
	pce->pasid = pasid;
	pce->did = t->vmid;
	pce->tag = (uint32_t)(cd[0] >> USVA_EMU_CD0_ASID_SHIFT);
	pce->fmt = fmt;
	pce->flags = cd_flags(cd[0]);
	pce->pad = 0;
	return USVA_EMU_OK;
}

uint32_t
emu_cdtab_pce(struct emu_dev *ed, const struct emu_cdtab *t, uint32_t pasid,
	      struct emu_pce *pce, uint64_t *fault_iova)
{
	/* Acquire: pairs with the release publishing the IOAS array. */
	const struct emu_s2_tab *s2 = __atomic_load_n(&ed->emu->s2,
						      __ATOMIC_ACQUIRE);
	uint64_t cd_iova = 0, cd[2];
	uint32_t idx = 0, reason;

	reason = cdtab_select(t, pasid, &idx);
	if (reason == USVA_EMU_OK)
		reason = cdtab_locate(s2, t, idx, &cd_iova, fault_iova);
	if (reason != USVA_EMU_OK)
		return reason;
	/* Word 0 (with V) first: a guest writes it last. */
	if (!s2_read64(s2, cd_iova, &cd[0]) ||
	    !s2_read64(s2, cd_iova + sizeof(uint64_t), &cd[1])) {
		*fault_iova = cd_iova;
		return USVA_EMU_S2_FAULT;
	}
	return cd_decode(ed, t, pasid, cd, pce);
}

/* ---- attach, replace, detach ---------------------------------------------------- */

static uint32_t
cdtab_split(uint8_t s1fmt)
{
	return s1fmt == USVA_SMMUV3_S1FMT_2LVL_4K ? 6 :
	       s1fmt == USVA_SMMUV3_S1FMT_2LVL_64K ? 10 : 0;
}

/* Everything cached of @p ed: its CD cache, device TLB, and the IOTLB
 * entries of @p old's VMID. Between emu_inval_begin/end. */
static void
cdtab_flush(struct emu_dev *ed, const struct emu_cdtab *old)
{
	struct emu_tlb_key k = { .match = 0 };

	emu_pc_inval(ed, 0, true);
	if (ed->devtlb.mem != NULL)
		emu_tlb_inval(&ed->devtlb, &k);
	if (old == NULL)
		return;
	k.match = EMU_K_DID;
	k.did = old->vmid;
	emu_tlb_inval(&ed->emu->iotlb, &k);
}

int
emu_attach_pasid_table(struct usva_iommu_dev *dev,
		       const struct usva_pasid_table_config *cfg,
		       const struct usva_pasid_table_config *old_cfg)
{
	struct emu_dev *ed = dev->priv;
	struct emu *e = ed->emu;
	struct emu_cdtab *t, *old = ed->cdtab;

	if (e->p.flavour != EMU_FLAVOUR_SMMUV3 ||
	    cfg->format != USVA_PASID_TABLE_FMT_SMMUV3) {
		EMU_LOG(ERR, "device %s: PASID-table format %u needs the "
			"smmuv3 flavour", dev->info.name, cfg->format);
		return -EOPNOTSUPP;
	}
	RTE_SET_USED(old_cfg);
	t = usva_zmalloc(sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->base = cfg->base;
	t->config = cfg->config;
	t->cdmax = cfg->pasid_bits;
	t->split = cdtab_split(cfg->vendor.smmuv3.s1fmt);
	t->s1dss = cfg->vendor.smmuv3.s1dss;
	t->vmid = EMU_VMID_BASE | (__atomic_fetch_add(&e->next_vmid, 1,
				   __ATOMIC_RELAXED) & ~EMU_VMID_BASE);
	if (old == NULL)
		/* A new life of the device's table for page-request groups;
		 * ordered before dom by the release below. */
		__atomic_store_n(&ed->cdt_ent.gen, ed->cdt_ent.gen + 1,
				 __ATOMIC_RELAXED);
	emu_inval_begin(e);
	__atomic_store_n(&ed->cdt_bits, t->cdmax, __ATOMIC_RELAXED);
	/* Release: the table's fields before its pointer. */
	__atomic_store_n(&ed->cdtab, t, __ATOMIC_RELEASE);
	__atomic_store_n(&ed->cdt_ent.dom, &emu_cdtab_dom, __ATOMIC_RELEASE);
	/* As emu_attach(): fills that read the old table are flushed below
	 * or refused by the generation. */
	emu_gen_bump(e);
	cdtab_flush(ed, old);
	emu_inval_end(e);
	EMU_LOG(DEBUG, "device %s: PASID table %s at 0x%" PRIx64 ", %u PASID "
		"bits, split %u, VMID 0x%x", dev->info.name,
		old ? "replaced" : "attached", t->base, t->cdmax, t->split,
		t->vmid);
	if (old != NULL) {
		/* Walks that read the old STE are over before it goes. */
		emu_rcu_synchronize(e);
		usva_free(old);
	}
	return 0;
}

void
emu_detach_pasid_table(struct usva_iommu_dev *dev)
{
	struct emu_dev *ed = dev->priv;
	struct emu *e = ed->emu;
	struct emu_cdtab *old = ed->cdtab;

	emu_inval_begin(e);
	/* Release: pairs with the acquire of the walkers. */
	__atomic_store_n(&ed->cdt_ent.dom, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&ed->cdtab, NULL, __ATOMIC_RELEASE);
	emu_gen_bump(e);
	cdtab_flush(ed, old);
	emu_inval_end(e);
	/* Every page request group and stalled transaction of the device is
	 * answered INVALID now. */
	emu_prq_detach_all(ed);
	/* As a PASID detach: DMA through the table is over on return. */
	emu_rcu_synchronize(e);
	usva_free(old);
}

/* ---- invalidation ---------------------------------------------------------------- */

enum emu_cdtab_key
emu_cdtab_iotlb_key(struct emu_dev *ed, const struct usva_inval_entry *en,
		    struct emu_tlb_key *k)
{
	const struct emu_cdtab *t;
	enum emu_cdtab_key res = EMU_CDTAB_KEY_SET;
	struct emu_pce pce;
	uint64_t fault;

	emu_rcu_enter(ed->emu);
	/* Acquire: pairs with the release publishing the table. */
	t = __atomic_load_n(&ed->cdtab, __ATOMIC_ACQUIRE);
	if (t == NULL) {
		/* Detached since: the detach flushed the table's VMID. */
		res = (en->flags & USVA_INVAL_F_ASID) ? EMU_CDTAB_KEY_SKIP :
		      EMU_CDTAB_KEY_NONE;
		goto out;
	}
	k->match = (k->match & EMU_K_RANGE) | EMU_K_DID;
	k->did = t->vmid;
	if (en->flags & USVA_INVAL_F_ASID) {
		if (en->pasid != USVA_INVAL_ASID_ALL) {
			k->match |= EMU_K_PASID;
			k->pasid = en->pasid;
		}
	} else if (emu_cdtab_pce(ed, t, en->pasid, &pce, &fault) ==
		   USVA_EMU_OK) {
		/* The ASID the PASID's CD holds now; unreadable: every
		 * ASID of the table (never fewer). */
		k->match |= EMU_K_PASID;
		k->pasid = pce.tag;
	}
out:
	emu_rcu_exit(ed->emu);
	return res;
}
