/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest: its RAM, its stage-1 page tables, its PASID table, its fault
 * handler and its invalidation commands. Everything it writes is in guest
 * RAM and named by guest physical address; it never calls the IOMMU. A
 * real guest kernel's IOMMU driver would do the same, with the virtual
 * IOMMU trapping its register writes and command queue.
 *
 * Stage-1 formats, 48-bit input, four levels of 512 entries:
 *   VT-d first stage (x86-64 paging): table = GPA | P | RW | US;
 *        4 KiB leaf = GPA | P | RW | US | XD;
 *   SMMUv3 (VMSAv8-64, 4 KiB granule): table = GPA | 0b11;
 *        4 KiB page = GPA | 0b11 | AttrIndx 0 | AP[1] (EL0) | SH inner |
 *        AF | nG | PXN | UXN.
 * The PASID table:
 *   VT-d: 64 entries of (root GPA | present), one per PASID, which the
 *        host reads when the guest invalidates the PASID cache;
 *   SMMUv3: a 2-level CD table with 4 KiB leaves (S1Fmt 01, 8 SSID bits):
 *        L1 descriptor 0 -> one leaf of 64 CDs; CD = 64 bytes (V, T0SZ
 *        16, TG0 4 KiB, AA64, R, A, S for the demand-paged SSID, ASID,
 *        TTB0), doc/emu-model.md's format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>

#include "usva_emu.h"
#include "usva_iommu_fault.h"
#include "viommu.h"

#define X86_P		(UINT64_C(1) << 0)
#define X86_RW		(UINT64_C(1) << 1)
#define X86_US		(UINT64_C(1) << 2)
#define X86_XD		(UINT64_C(1) << 63)
#define ARM_TABLE	UINT64_C(3)
#define ARM_PAGE	UINT64_C(3)
#define ARM_AP_EL0	(UINT64_C(1) << 6)
#define ARM_SH_IS	(UINT64_C(3) << 8)
#define ARM_AF		(UINT64_C(1) << 10)
#define ARM_NG		(UINT64_C(1) << 11)
#define ARM_PXN		(UINT64_C(1) << 53)
#define ARM_UXN		(UINT64_C(1) << 54)
#define PTE_ADDR	UINT64_C(0x000ffffffffff000)
#define VTD_PASID_P	UINT64_C(1)
#define SMMU_SPLIT	6u		/* 4 KiB leaf tables: 64 CDs */
#define SMMU_SSID_BITS	8u

/* ---- guest RAM ---------------------------------------------------------------- */

int
guest_init(struct guest *g, enum flavour fl, uint8_t *ram)
{
	memset(g, 0, sizeof(*g));
	g->fl = fl;
	g->ram = ram;
	g->next_free = GUEST_RAM_GPA;
	return 0;
}

void *
guest_gpa_ptr(struct guest *g, uint64_t gpa)
{
	if (gpa < GUEST_RAM_GPA || gpa - GUEST_RAM_GPA >= GUEST_RAM_SIZE)
		return NULL;
	return g->ram + (gpa - GUEST_RAM_GPA);
}

/* A zeroed page of guest RAM (never freed: the guest is short-lived). */
uint64_t
guest_page_alloc(struct guest *g)
{
	uint64_t gpa = g->next_free;

	if (gpa + PAGE_4K > GUEST_RAM_GPA + GUEST_RAM_SIZE)
		return 0;
	g->next_free += PAGE_4K;
	memset(guest_gpa_ptr(g, gpa), 0, PAGE_4K);
	return gpa;
}

/* ---- stage-1 page tables ----------------------------------------------------------- */

static uint64_t
pte_table(const struct guest *g, uint64_t gpa)
{
	return g->fl == FL_VTD ? gpa | X86_P | X86_RW | X86_US :
				 gpa | ARM_TABLE;
}

/* A user read/write, no-exec 4 KiB leaf. */
static uint64_t
pte_page(const struct guest *g, uint64_t gpa)
{
	if (g->fl == FL_VTD)
		return gpa | X86_P | X86_RW | X86_US | X86_XD;
	return gpa | ARM_PAGE | ARM_AP_EL0 | ARM_SH_IS | ARM_AF | ARM_NG |
	       ARM_PXN | ARM_UXN;
}

static bool
pte_present(uint64_t pte)
{
	return (pte & 1) != 0;	/* P, or ARM's valid bit */
}

/* The leaf entry of @p va, allocating tables on the way (or not). */
static uint64_t *
pte_slot(struct guest *g, uint32_t pasid, uint64_t va, bool alloc)
{
	uint64_t table = g->root[pasid];

	for (unsigned int level = 4; level > 1; level--) {
		unsigned int idx = (va >> (12 + 9 * (level - 1))) & 511;
		uint64_t *e = (uint64_t *)guest_gpa_ptr(g, table) + idx;

		if (!pte_present(*e)) {
			uint64_t t;

			if (!alloc || (t = guest_page_alloc(g)) == 0)
				return NULL;
			g->table_pages++;
			/* Release: the zeroed table before the entry that
			 * points at it (the IOMMU walks concurrently). */
			__atomic_store_n(e, pte_table(g, t), __ATOMIC_RELEASE);
		}
		table = *e & PTE_ADDR;
	}
	return (uint64_t *)guest_gpa_ptr(g, table) + ((va >> 12) & 511);
}

int
guest_map(struct guest *g, uint32_t pasid, uint64_t va, uint64_t gpa)
{
	uint64_t *e = pte_slot(g, pasid, va, true);

	if (e == NULL)
		return -ENOMEM;
	__atomic_store_n(e, pte_page(g, gpa), __ATOMIC_RELEASE);
	return 0;
}

/* The GPA @p va maps to in the guest's own tables, or 0. */
uint64_t
guest_walk(struct guest *g, uint32_t pasid, uint64_t va)
{
	uint64_t *e = pte_slot(g, pasid, va, false);

	return e != NULL && pte_present(*e) ? (*e & PTE_ADDR) : 0;
}

/* ---- the PASID table ------------------------------------------------------------------ */

/* An SMMUv3 CD, as doc/emu-model.md lists its bits: word 1 first, word 0
 * (with V) last. */
static void
cd_write(struct guest *g, uint32_t ssid, uint64_t w0, uint64_t ttb0)
{
	uint64_t *leaf = guest_gpa_ptr(g, g->cd_leaf), *cd;

	if (leaf == NULL)
		return;
	cd = leaf + ssid * (USVA_EMU_CD_SIZE / sizeof(uint64_t));
	for (unsigned int i = 1; i < USVA_EMU_CD_SIZE / sizeof(uint64_t); i++)
		cd[i] = 0;
	cd[1] = ttb0 & USVA_EMU_CD1_TTB0_MASK;
	__atomic_store_n(&cd[0], w0, __ATOMIC_RELEASE);
}

static uint64_t
cd_word0(uint16_t asid, bool stall)
{
	return (64 - 48) | USVA_EMU_CD0_EPD1 | USVA_EMU_CD0_V |
	       USVA_EMU_CD0_IPS_48 | USVA_EMU_CD0_AA64 | USVA_EMU_CD0_R |
	       USVA_EMU_CD0_A | USVA_EMU_CD0_ASET |
	       (stall ? USVA_EMU_CD0_S : 0) |
	       ((uint64_t)asid << USVA_EMU_CD0_ASID_SHIFT);
}

static int
build_smmu_tables(struct guest *g)
{
	uint64_t *l1;

	g->pasid_table = guest_page_alloc(g);
	g->cd_leaf = guest_page_alloc(g);
	if (g->pasid_table == 0 || g->cd_leaf == 0)
		return -ENOMEM;
	g->asid[PASID_A] = 1;
	g->asid[PASID_B] = 2;
	/* SSID A: faults are errors; SSID B: demand paged, stalls (CD.S). */
	cd_write(g, PASID_A, cd_word0(g->asid[PASID_A], false),
		 g->root[PASID_A]);
	cd_write(g, PASID_B, cd_word0(g->asid[PASID_B], true),
		 g->root[PASID_B]);
	l1 = guest_gpa_ptr(g, g->pasid_table);
	__atomic_store_n(&l1[0], g->cd_leaf | USVA_EMU_L1CD_V,
			 __ATOMIC_RELEASE);
	printf("[guest ] PASID table: 2-level CD table, L1 at GPA 0x%" PRIx64
	       " (%u SSID bits, split %u), leaf at GPA 0x%" PRIx64 "; CD %u "
	       "ASID %u, CD %u ASID %u with stall (S)\n", g->pasid_table,
	       SMMU_SSID_BITS, SMMU_SPLIT, g->cd_leaf, PASID_A,
	       g->asid[PASID_A], PASID_B, g->asid[PASID_B]);
	return 0;
}

/* VT-d: the PASID entries, and a PASID-cache invalidation for each (the
 * vIOMMU binds a PASID when the guest invalidates its entry). */
static int
build_vtd_tables(struct guest *g)
{
	uint64_t *pt;

	g->pasid_table = guest_page_alloc(g);
	if (g->pasid_table == 0)
		return -ENOMEM;
	pt = guest_gpa_ptr(g, g->pasid_table);
	for (uint32_t p = PASID_A; p <= PASID_B; p++) {
		__atomic_store_n(&pt[p], g->root[p] | VTD_PASID_P,
				 __ATOMIC_RELEASE);
		guest_push_cmd(g, (struct gcmd){ .type = GC_VTD_PC_INV,
						 .pasid = p });
	}
	guest_push_cmd(g, (struct gcmd){ .type = GC_SYNC });
	printf("[guest ] PASID table at GPA 0x%" PRIx64 ": PASID %u root 0x%"
	       PRIx64 ", PASID %u root 0x%" PRIx64 "; PASID-cache "
	       "invalidations queued\n", g->pasid_table, PASID_A,
	       g->root[PASID_A], PASID_B, g->root[PASID_B]);
	return 0;
}

/* Roots, tables, buffer A mapped, GVA_BAD mapped outside guest RAM. */
int
guest_build(struct guest *g)
{
	uint32_t tables;
	int rc;

	g->root[PASID_A] = guest_page_alloc(g);
	g->root[PASID_B] = guest_page_alloc(g);
	if (g->root[PASID_A] == 0 || g->root[PASID_B] == 0)
		return -ENOMEM;
	rc = g->fl == FL_VTD ? build_vtd_tables(g) : build_smmu_tables(g);
	for (uint32_t i = 0; rc == 0 && i < A_PAGES; i++) {
		uint64_t gpa = guest_page_alloc(g);

		rc = gpa ? guest_map(g, PASID_A, GVA_A + i * PAGE_4K, gpa) :
			   -ENOMEM;
	}
	if (rc == 0)
		rc = guest_map(g, PASID_A, GVA_BAD, GPA_OUTSIDE);
	tables = g->table_pages;
	printf("[guest ] stage 1: PASID %u maps %u pages at 0x%" PRIx64
	       " (and 0x%" PRIx64 " -> GPA 0x%" PRIx64 ", outside its RAM); "
	       "PASID %u maps nothing yet (demand paging); %u table pages\n",
	       PASID_A, A_PAGES, GVA_A, GVA_BAD, GPA_OUTSIDE, PASID_B, tables);
	return rc;
}

/* ---- faults ------------------------------------------------------------------------------- */

/* The guest's fault handler: a page of buffer B gets a fresh zeroed page;
 * anything else is an error. */
static uint16_t
handle_one(struct guest *g, const struct gfault *f)
{
	uint64_t va = f->addr & ~(PAGE_4K - 1), gpa;

	if (f->pasid != PASID_B || va < GVA_B ||
	    va >= GVA_B + B_PAGES * PAGE_4K)
		return USVA_PAGE_RESP_INVALID;
	if (guest_walk(g, f->pasid, va) != 0)
		return USVA_PAGE_RESP_SUCCESS;	/* mapped meanwhile */
	gpa = guest_page_alloc(g);
	if (gpa == 0 || guest_map(g, f->pasid, va, gpa) != 0)
		return USVA_PAGE_RESP_INVALID;
	g->pages_mapped++;
	return USVA_PAGE_RESP_SUCCESS;
}

void
guest_handle_faults(struct guest *g)
{
	for (uint32_t i = 0; i < g->fq_n && g->rq_n < QUEUE_LEN; i++) {
		const struct gfault *f = &g->fq[i];
		uint16_t code = handle_one(g, f);

		g->rq[g->rq_n++] = (struct gresp){
			.pasid = f->pasid, .id = f->id, .code = code,
			.stall = f->stall,
		};
		g->faults_handled++;
		if (code == USVA_PAGE_RESP_SUCCESS)
			g->resumes++;
		else
			g->terminates++;
	}
	g->fq_n = 0;
}

int
guest_verify(struct guest *g, uint32_t pasid, uint64_t va, uint32_t pages,
	     uint8_t (*expect)(uint64_t off))
{
	for (uint32_t p = 0; p < pages; p++) {
		uint64_t gpa = guest_walk(g, pasid, va + p * PAGE_4K);
		const uint8_t *b = guest_gpa_ptr(g, gpa);

		if (b == NULL)
			return -EFAULT;
		for (uint64_t i = 0; i < PAGE_4K; i++)
			if (b[i] != expect(p * PAGE_4K + i))
				return -EILSEQ;
	}
	return 0;
}

/* ---- invalidation commands ------------------------------------------------------------------ */

void
guest_push_cmd(struct guest *g, struct gcmd c)
{
	if (g->cq_tail == QUEUE_LEN)
		return;		/* the example never queues that many */
	c.status = 1;
	g->cq[g->cq_tail++] = c;
	g->cmds_sent++;
}

/* The commands that make the device forget a translation of @p va. */
static void
push_inval_va(struct guest *g, uint32_t pasid, uint64_t va)
{
	if (g->fl == FL_VTD) {
		guest_push_cmd(g, (struct gcmd){ .type = GC_VTD_P_IOTLB,
			.pasid = pasid, .addr = va, .leaf = 1 });
		guest_push_cmd(g, (struct gcmd){ .type = GC_VTD_DEVTLB,
			.pasid = pasid, .addr = va });
	} else {
		guest_push_cmd(g, (struct gcmd){ .type = GC_SMMU_TLBI_NH_VA,
			.asid = g->asid[pasid], .addr = va, .leaf = 1 });
	}
}

/*
 * Move the first MOVE_PAGES pages of buffer A to new frames holding new
 * data: a change of output address, so the IOMMU must forget the old
 * translations before the device uses them again.
 */
int
guest_move_pages(struct guest *g)
{
	for (uint32_t i = 0; i < MOVE_PAGES; i++) {
		uint64_t va = GVA_A + i * PAGE_4K, gpa = guest_page_alloc(g);
		uint8_t *p = guest_gpa_ptr(g, gpa);

		if (gpa == 0)
			return -ENOMEM;
		for (uint64_t k = 0; k < PAGE_4K; k++)
			p[k] = (uint8_t)(0xb0 + i);
		if (guest_map(g, PASID_A, va, gpa) != 0)
			return -ENOMEM;
		push_inval_va(g, PASID_A, va);
	}
	guest_push_cmd(g, (struct gcmd){ .type = GC_SYNC });
	return 0;
}

/* Stop using PASID B: clear its PASID entry or CD, and invalidate. */
int
guest_retire_pasid_b(struct guest *g)
{
	if (g->fl == FL_VTD) {
		uint64_t *pt = guest_gpa_ptr(g, g->pasid_table);

		__atomic_store_n(&pt[PASID_B], 0, __ATOMIC_RELEASE);
		guest_push_cmd(g, (struct gcmd){ .type = GC_VTD_PC_INV,
						 .pasid = PASID_B });
	} else {
		uint64_t *cd = (uint64_t *)guest_gpa_ptr(g, g->cd_leaf) +
			       PASID_B * 8;

		__atomic_store_n(&cd[0], 0, __ATOMIC_RELEASE);	/* V = 0 */
		guest_push_cmd(g, (struct gcmd){ .type = GC_SMMU_CFGI_CD,
						 .pasid = PASID_B });
		guest_push_cmd(g, (struct gcmd){ .type = GC_SMMU_TLBI_NH_ASID,
						 .asid = g->asid[PASID_B] });
	}
	guest_push_cmd(g, (struct gcmd){ .type = GC_SYNC });
	return 0;
}

void
guest_print_events(struct guest *g)
{
	static const char *const names[] = {
		[USVA_EVENT_S2_FAULT] = "stage-2 fault",
		[USVA_EVENT_S1_PERM] = "stage-1 permission",
		[USVA_EVENT_S1_NOT_PRESENT] = "stage-1 translation",
		[USVA_EVENT_S1_BAD_ENTRY] = "bad stage-1 entry",
		[USVA_EVENT_BAD_PASID] = "bad PASID",
		[USVA_EVENT_STALE_XLATE] = "stale translation",
		[USVA_EVENT_PRQ_OVERFLOW] = "fault queue overflow",
		[USVA_EVENT_BAD_RESPONSE] = "bad response",
		[USVA_EVENT_NON_CANONICAL] = "non-canonical address",
		[USVA_EVENT_BAD_CD] = "bad context descriptor (C_BAD_CD)",
	};

	for (uint32_t i = 0; i < g->ev_n; i++) {
		const struct gevent *ev = &g->evq[i];

		printf("[guest ]   unrecoverable fault: %s, PASID %u, address "
		       "0x%" PRIx64 "\n", ev->type < RTE_DIM(names) &&
		       names[ev->type] ? names[ev->type] : "?", ev->pasid,
		       ev->addr);
		g->events_seen++;
	}
	g->ev_n = 0;
}
