/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf internals: the options, one service-only measurement
 * (set-up, run, check, teardown; re-runnable within one process), the
 * end-to-end measurement, and the modes built on them (compare, sweep).
 * usva_fault_perf.c describes the program.
 */
#ifndef USVA_FAULT_PERF_H
#define USVA_FAULT_PERF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "usva_fault.h"

#define SZ_4K		UINT64_C(0x1000)
#define SZ_2M		UINT64_C(0x200000)
#define GRPS		512u		/* group indexes per PASID */
#define DEV_REQS	65536u		/* emu PRI capacity per device */
#define PASIDS_PER_DEV	(DEV_REQS / GRPS)
#define MAX_IOMMUS	8
#define MAX_DEVS	256
#define MAX_SWEEP	32		/* values of one sweep */
#define ANON_BASE	UINT64_C(0x100000000000)	/* 16 TiB */
#define FILE_BASE	UINT64_C(0x200000000000)	/* 32 TiB */
#define DEF_FAULTS	262144u
#define DEF_FAULTS_2M	1024u		/* 2 GiB of pre-faulted pool */

enum pager_kind { PAGER_ANON, PAGER_MIRROR, PAGER_FILE };
enum drive { DRIVE_DEDICATED, DRIVE_SERVICE, DRIVE_POLL };
enum e2e_op { E2E_FILL, E2E_COPY };

extern const char *const pager_names[];
extern const char *const drive_names[];

struct opts {
	/* one measurement */
	unsigned int lcores;
	int drive_arg;		/* --drive; -1: none given */
	unsigned int iommus_arg; /* --iommus; 0: none given */
	uint64_t faults_arg;	/* --faults; 0: none given */
	/* settled from the above (opts_settle) */
	int drive;		/* default: dedicated for 1 lcore, else service */
	unsigned int iommus;	/* default: as many as fault lcores */
	uint64_t faults;	/* default: by page size */
	unsigned int shards;
	unsigned int shard_shift;
	bool global;
	enum pager_kind pager;
	unsigned int page_shift; /* 12 or 21 (anon only) */
	unsigned int burst;
	bool rr;
	bool verify;
	unsigned int ppd;	/* PASIDs per device */
	const char *perf_ctl;
	/* end to end (--device emu-dma) */
	bool e2e;
	unsigned int devices;	/* emu-dma engines, one emu device each */
	unsigned int pasids;	/* PASIDs per engine */
	unsigned int vchans;	/* channels per engine */
	unsigned int inflight;	/* operations a channel runs at once */
	enum e2e_op op;
	unsigned int op_bytes;	/* bytes each operation moves, 8..4096 */
	/* modes and output */
	bool json;
	bool compare;
	bool peers;
	bool quiet;		/* no per-measurement text report */
	unsigned int rounds;	/* compare: sharded vs global rounds */
	uint64_t peer_pages;	/* first touch; 0: default */
	uint64_t uffd_pages;	/* userfaultfd; 0: default */
	const char *sweep_param;
	unsigned int sweep_n;
	unsigned int sweep_val[MAX_SWEEP];
	const char *csv;
	const char *cdf;
};

/* What a measurement gives, whichever kind it was. */
struct result {
	bool ok;		/* ran and checked out */
	uint64_t faults;
	uint64_t elapsed_ns;
	uint64_t page_size;
	uint64_t rq_wait_ns;	/* fault lcores waited for a CPU */
	double fps;		/* faults per second */
	double gbps;		/* populated memory, GB/s (10^9 bytes) */
	uint64_t p50, p90, p99, max;	/* request to response, ns */
	/* end to end only: enqueue to completion of the operations */
	uint64_t op_p50, op_p99, op_max;
	uint64_t ops, op_errors;
	struct usva_fault_stats st;
};

/* One (device, PASID) handler: 512 requests at most, pages
 * [base, base + nreq * page size). */
struct hnd {
	unsigned int dev;
	uint32_t pasid;
	uint64_t base;
	uint32_t nreq;
	struct usva_as *as;
	struct usva_domain *dom;
	bool attached;
	struct usva_fault_handler *h;
};

struct inst {
	struct usva_iommu *iommu;
	unsigned int ndev;
	struct usva_iommu_dev *dev[MAX_DEVS];
	struct usva_pasid_owner *owner;
	uint32_t pasid[PASIDS_PER_DEV];
	unsigned int npasid;
	struct usva_pager *pager;
	struct hnd *h;
	unsigned int nh;
	uint64_t nreq;
	uint64_t first;		/* global index of its first request */
};

/* One service-only measurement. */
struct bench {
	struct opts o;
	uint64_t pgsz;
	unsigned int niommu;
	struct inst in[MAX_IOMMUS];
	struct usva_page_pool *data_pool;
	struct usva_page_pool *table_pool;
	uint8_t *mirror_buf;
	int file_fd;
	struct usva_fault_service *svc;
	unsigned int shards;	/* effective */
	/* results */
	uint64_t setup_pool_ns, setup_ns, elapsed_ns;
	uint64_t rq_wait_ns;	/* threads runnable but not running */
	struct usva_fault_stats st;
	uint64_t bad;
};

/* The file pager's file: the byte at offset @p off. */
static inline uint8_t
file_byte(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 12) + 7);
}

/* options.c */
void usage(FILE *f);
int parse_opts(int argc, char **argv, struct opts *o);
void opts_settle(struct opts *o);
int opts_check(const struct opts *o);
unsigned int workers_needed(const struct opts *o);

/* setup.c */
int bench_setup(struct bench *b);
void bench_teardown(struct bench *b);

/* run.c */
void perf_ctl_open(const char *path);
void perf_ctl_cmd(const char *cmd);
void perf_ctl_close(void);
uint64_t sched_wait_ns(bool with_main);
int caches_evict(void);
int bench_run(struct bench *b);
int service_measure(const struct opts *o, struct result *r);

/* progress on stderr, at most once a second, only for long runs */
struct progress {
	const char *what;
	uint64_t total;
	uint64_t t0, last;
};
void progress_start(struct progress *p, const char *what, uint64_t total);
void progress_tick(struct progress *p, uint64_t done);

/* verify.c */
uint64_t bench_verify(struct bench *b);

/* report.c */
void result_fill(struct result *r, const struct usva_fault_stats *st,
		 uint64_t faults, uint64_t elapsed_ns, uint64_t page_size);
uint64_t lat_hist_max(const uint64_t *hist);
uint64_t lat_hist_pct(const uint64_t *hist, double p);
void report_text(const struct bench *b, const struct result *r);
void report_json(const struct bench *b, const struct result *r);
int cdf_write(FILE *f, const char *param, unsigned int value,
	      const uint64_t *hist);
void cdf_header(FILE *f);

/* e2e.c */
int e2e_measure(const struct opts *o, struct result *r);

/* compare.c */
int compare_main(const struct opts *o);
int peers_main(const struct opts *o, const struct result *base);

/* sweep.c */
int sweep_main(const struct opts *o);

#endif /* USVA_FAULT_PERF_H */
