/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-viommu-nested: a guest and its virtual IOMMU, in one program.
 *
 * Three actors, each in its own file, run step by step from main.c:
 *  - the guest (guest.c): owns "guest RAM" and everything in it — its
 *    stage-1 page tables and its PASID table (VT-d: root pointers per
 *    PASID; SMMUv3: a 2-level context-descriptor table). It writes them,
 *    sends invalidation commands, handles the faults injected into it and
 *    answers them. It knows guest physical addresses (GPAs) only.
 *  - the host (host.c), the virtual IOMMU: maps guest RAM in stage 2
 *    (GPA = IOVA), traps the guest's configuration and passes it to the
 *    IOMMU (VT-d: a domain per PASID; SMMUv3: the whole CD table), turns
 *    guest invalidation commands into usva invalidation batches and
 *    reports per-command status, polls the IOMMU's fault queue and injects
 *    the faults into the guest, passes the guest's responses back, and
 *    reports unrecoverable faults to the guest.
 *  - the device (device.c): DMA through the emu IOMMU under a PASID,
 *    asking for pages (PCIe PRI, VT-d) or stalling (SMMUv3) when it
 *    faults, retrying when answered.
 *
 * doc/examples.md walks through it.
 */
#ifndef VIOMMU_H
#define VIOMMU_H

#include <stdbool.h>
#include <stdint.h>

#include "usva_inval.h"
#include "usva_iommu.h"

#define PAGE_4K		UINT64_C(4096)
#define GUEST_RAM_GPA	UINT64_C(0x40000000)	/* guest RAM in stage 2 */
#define GUEST_RAM_SIZE	(UINT64_C(8) << 20)
#define GPA_OUTSIDE	UINT64_C(0x7ff00000)	/* not guest RAM */

/* The guest's buffers (stage-1 VAs) and PASIDs. */
#define GVA_A		UINT64_C(0x10000000)	/* mapped up front */
#define A_PAGES		16u
#define GVA_B		UINT64_C(0x20000000)	/* demand paged */
#define B_PAGES		32u
#define GVA_BAD		UINT64_C(0x30000000)	/* maps GPA_OUTSIDE */
#define PASID_A		1u
#define PASID_B		2u
#define MOVE_PAGES	4u			/* pages of A the guest moves */

#define QUEUE_LEN	64u

enum flavour {
	FL_VTD,
	FL_SMMUV3,
};

/* ---- what passes between the guest and its virtual IOMMU --------------- */

/* A fault injected into the guest: a page request (VT-d PRQ descriptor)
 * or a stall event (SMMUv3 event with STALL = 1). */
struct gfault {
	uint32_t pasid;
	uint32_t id;		/* page request group index, or stall tag */
	uint64_t addr;
	uint16_t perm;		/* USVA_ACCESS_* */
	bool stall;
};

/* The guest's answer: a page group response, or CMD_RESUME. */
struct gresp {
	uint32_t pasid;
	uint32_t id;
	uint16_t code;		/* enum usva_page_resp_code */
	bool stall;
};

/* Guest invalidation commands (a VT-d invalidation queue or an SMMUv3
 * command queue), in the guest's terms. */
enum gcmd_type {
	GC_SYNC,		/* VT-d wait descriptor / SMMUv3 CMD_SYNC */
	GC_VTD_PC_INV,		/* PASID-cache invalidation (a config change) */
	GC_VTD_P_IOTLB,		/* PASID-based IOTLB invalidation, address */
	GC_VTD_DEVTLB,		/* device-TLB invalidation, address */
	GC_SMMU_CFGI_CD,	/* CMD_CFGI_CD (SSID) */
	GC_SMMU_TLBI_NH_ASID,	/* CMD_TLBI_NH_ASID */
	GC_SMMU_TLBI_NH_VA,	/* CMD_TLBI_NH_VA (ASID, address, leaf) */
};

struct gcmd {
	uint8_t type;		/* enum gcmd_type */
	uint8_t leaf;
	uint16_t asid;
	uint32_t pasid;		/* PASID / SSID */
	uint64_t addr;
	int32_t status;		/* written by the vIOMMU: 0 done, -errno, or 1
				 * (not executed) */
};

/* An unrecoverable fault reported to the guest. */
struct gevent {
	uint32_t type;		/* enum usva_event_type */
	uint32_t pasid;
	uint64_t addr;
};

/* ---- the guest ------------------------------------------------------------------ */

struct guest {
	enum flavour fl;
	uint8_t *ram;		/* host view of GPA GUEST_RAM_GPA.. */
	uint64_t next_free;	/* bump allocator of guest pages (GPA) */
	uint64_t root[3];	/* stage-1 root per PASID (index: PASID) */
	uint16_t asid[3];	/* SMMUv3: ASID of each PASID's CD */
	uint64_t pasid_table;	/* VT-d: 64 root entries; SMMUv3: L1 CD table */
	uint64_t cd_leaf;	/* SMMUv3: the one leaf table of 64 CDs */
	uint32_t table_pages;	/* stage-1 table pages written */
	/* queues the vIOMMU reads and writes */
	struct gfault fq[QUEUE_LEN];
	uint32_t fq_n;
	struct gresp rq[QUEUE_LEN];
	uint32_t rq_n;
	struct gcmd cq[QUEUE_LEN];
	uint32_t cq_head, cq_tail;	/* vIOMMU consumes [head, tail) */
	struct gevent evq[QUEUE_LEN];
	uint32_t ev_n;
	/* counts */
	uint64_t faults_handled, pages_mapped, resumes, terminates;
	uint64_t cmds_sent, cmds_retried, events_seen;
};

int guest_init(struct guest *g, enum flavour fl, uint8_t *ram);
void *guest_gpa_ptr(struct guest *g, uint64_t gpa);
int guest_build(struct guest *g);
int guest_map(struct guest *g, uint32_t pasid, uint64_t va, uint64_t gpa);
uint64_t guest_walk(struct guest *g, uint32_t pasid, uint64_t va);
uint64_t guest_page_alloc(struct guest *g);
void guest_handle_faults(struct guest *g);
int guest_verify(struct guest *g, uint32_t pasid, uint64_t va, uint32_t pages,
		 uint8_t (*expect)(uint64_t off));
int guest_move_pages(struct guest *g);
int guest_retire_pasid_b(struct guest *g);
void guest_push_cmd(struct guest *g, struct gcmd c);
void guest_print_events(struct guest *g);

/* ---- the host: the virtual IOMMU ---------------------------------------------- */

/* A fault injected and not answered yet: what the real response needs. */
struct pending {
	bool used;
	bool stall;
	uint32_t pasid;
	uint32_t id;
	uint32_t cookie;
};

struct host {
	enum flavour fl;
	struct usva_iommu *iommu;
	uint16_t id;
	struct usva_iommu_dev *dev;
	uint32_t dev_id;
	uint8_t *ram;
	bool ram_mapped;
	struct usva_pasid_owner *owner;
	struct usva_domain *dom[3];	/* VT-d: per PASID */
	struct usva_inval_batch *batch;
	struct pending pend[QUEUE_LEN];
	uint32_t inject_fail_at;	/* next batch: fail this backend entry */
	/* counts */
	uint64_t traps, faults_injected, responses_passed, batches;
	uint64_t batch_entries, batch_errors, events_reported;
};

int host_open(struct host *h, enum flavour fl);
void host_close(struct host *h);
int host_ste_write(struct host *h, struct guest *g);
int host_doorbell(struct host *h, struct guest *g);
void host_poll_faults(struct host *h, struct guest *g);
void host_pass_responses(struct host *h, struct guest *g);
void host_poll_events(struct host *h, struct guest *g);

/* ---- the device -------------------------------------------------------------------- */

enum dtask_state {
	DT_RUN,
	DT_WAIT,	/* a page request or a stall is outstanding */
	DT_DONE,
	DT_FAILED,
};

/* One DMA the device performs. */
struct dtask {
	uint32_t pasid;
	uint64_t va;
	uint64_t len;
	uint8_t *buf;		/* the device's side of the data */
	bool write;
	uint64_t done;
	enum dtask_state st;
	uint32_t wait_id;	/* group index or stall tag */
	uint32_t next_grpid;
	uint32_t reason;	/* DT_FAILED: enum usva_emu_fault_reason */
	uint64_t faults;
};

void device_step(struct host *h, struct dtask *t);

#endif /* VIOMMU_H */
