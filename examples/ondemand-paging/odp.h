/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-ondemand-paging: state shared by the example's files.
 *
 *   main.c      options, the run's phases, the summary
 *   setup.c     IOMMU, address space, pagers, fault service, engine, lcores;
 *               the teardown
 *   workload.c  the pseudo-random layout, the enqueue/complete loop (with
 *               the partial-completion fix-up), the byte check
 */
#ifndef ODP_H
#define ODP_H

#include <stdbool.h>
#include <stdint.h>

#include "usva_dma.h"

#define ODP_NAME	"usva-ondemand-paging"
#define SZ_4K		UINT64_C(0x1000)
#define SZ_2M		UINT64_C(0x200000)
/* The unit of sparseness: the layout picks 2 MiB extents of the space,
 * then op-size slots inside them (see workload.c). */
#define EXTENT		SZ_2M
/* Where the anon and file spaces lie (stage-1 VAs, not process memory). */
#define SPACE_BASE	UINT64_C(0x100000000000)	/* 16 TiB */
#define VA_SIZE_MAX	(UINT64_C(1) << 46)		/* 64 TiB */

enum pager_kind { PAGER_ANON, PAGER_MIRROR, PAGER_FILE };

struct odp_opts {
	enum pager_kind pager;
	uint64_t va_size;	/* the sparse space */
	uint64_t ops;		/* operations of the main phase */
	uint64_t op_size;	/* bytes per operation */
	bool partial;		/* partial completion instead of block */
	uint64_t seed;
	bool quiet;
	const char *file;	/* file pager: the data file; NULL: make one */
};

/* What the source of a copy holds, hence what its destination must. */
enum src_kind {
	SRC_NONE,	/* a fill: no source */
	SRC_ZERO,	/* anon: never written, zero-filled on fault */
	SRC_FILLED,	/* anon: filled by the device with the op's pattern */
	SRC_PROCESS,	/* mirror: written by the CPU (proc_word()) */
	SRC_FILE,	/* file: the data file's bytes */
};

/* One operation of the workload. */
struct odp_op {
	uint64_t src;		/* copies: source VA */
	uint64_t dst;		/* destination VA */
	uint64_t pattern;	/* fills (and SRC_FILLED sources) */
	uint8_t opcode;		/* USVA_DMA_OP_COPY or USVA_DMA_OP_FILL */
	uint8_t src_kind;	/* enum src_kind */
};

/* A phase: operations run to completion before the next phase starts. */
struct odp_phase {
	const char *name;
	struct odp_op *ops;
	uint64_t n;
};

/* A ring entry as enqueued, by ring index (partial mode's fix-ups). */
struct odp_slot {
	struct usva_dma_op op;
	uint64_t id;		/* index in its phase */
	bool prefetch;		/* the PREFETCH of a fix-up */
};

struct odp {
	struct odp_opts o;

	/* IOMMU side */
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev;
	struct usva_pasid_owner *owner;
	uint32_t pasid;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;

	/* The space: [base, base + va_size); sources and destinations are
	 * drawn from [src_lo, src_hi) and [dst_lo, dst_hi). */
	uint64_t base;
	uint8_t *map;		/* mirror: the process mapping */
	uint64_t map_len;
	uint64_t src_lo, src_hi, dst_lo, dst_hi;
	int fd;			/* file: the data file, -1: none */
	uint64_t file_size;

	/* Paging */
	struct usva_page_pool *pool;		/* anon pages */
	struct usva_page_pool *file_pool;	/* file pages */
	struct usva_pager *anon, *mirror, *file;
	struct usva_pager *pager;		/* the handler's */
	struct usva_fault_service *svc;
	struct usva_fault_handler *handler;

	/* Engine */
	int16_t dma;			/* -1: none */
	bool dma_started;
	uint16_t nb_desc;

	/* Lcores */
	unsigned int svc_lcore;		/* RTE_MAX_LCORE: services run on
					 * the main lcore */
	int32_t fault_sid, dma_sid;
	bool lcore_added, services_on;

	/* Workload */
	struct odp_phase prep, main;
	uint64_t extents;		/* 2 MiB extents the layout uses */

	/* Run state */
	struct odp_slot *slots;		/* nb_desc entries */
	uint64_t inflight;
	uint64_t done_total, ops_total;
	uint64_t fixups;

	/* Results */
	uint64_t setup_ns, run_ns, check_ns;
	uint64_t checked_bytes;
};

/* main.c */
void odp_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool odp_failed(int rc, const char *what);
uint64_t odp_now_ns(void);
const char *odp_size_str(uint64_t bytes, char *buf, size_t len);

/* setup.c */
int odp_setup(struct odp *d);
int odp_services_start(struct odp *d);
void odp_services_iter(struct odp *d);
void odp_teardown(struct odp *d);
void odp_print_lcores(void);

/* workload.c */
uint64_t proc_word(uint64_t seed, uint64_t off);
int odp_layout(struct odp *d);
void odp_fill_process(struct odp *d);
int odp_write_file(int fd, uint64_t size);
int odp_run_phase(struct odp *d, const struct odp_phase *ph);
int odp_check(struct odp *d);
void odp_free_workload(struct odp *d);

#endif /* ODP_H */
