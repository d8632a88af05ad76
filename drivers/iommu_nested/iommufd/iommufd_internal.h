/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend internals: the kernel's nesting IOMMU through /dev/iommu
 * and VFIO device cdevs (doc/backends.md, "The iommufd backend").
 *
 * Objects. One `struct iommufd` per opened instance (iommu->priv): the
 * iommufd, its IOAS (stage 2), the NEST_PARENT HWPT over it, one fault
 * queue that every fault-capable nested HWPT reports into, and a shadow of
 * the stage-2 mappings. One `struct iommufd_dev` per device (dev->priv):
 * its cdev, bound to the iommufd, its RID attached to the parent. One
 * `struct iommufd_domain` per nested domain (dom->priv): up to two nested
 * HWPTs, with and without the fault queue, made at the first attach of a
 * device that needs each (IOMMU_HWPT_ALLOC names a bound device).
 *
 * Locks. Fields set by open()/dev_open() are immutable after. Every other
 * shared field names its lock: lib/iommu's iommu->lock (held around attach,
 * replace and batch submission), the instance's s2_lock and devmap_lock
 * (control path), or none for the page-request staging buffer, which only
 * the instance's one poller touches (usva_iommu_prq_poll()'s contract).
 */
#ifndef IOMMUFD_INTERNAL_H
#define IOMMUFD_INTERNAL_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rte_common.h>
#include <rte_log.h>

#include "usva_iommu_driver.h"
#include "usva_log.h"
#include "iommufd_uapi.h"

/* ---- logging ------------------------------------------------------------- */

extern int usva_logtype_iommu_iommufd;

#define IOMMUFD_LOG(level, fmt, ...)					\
	rte_log(RTE_LOG_##level, usva_logtype_iommu_iommufd,		\
		"usva.iommu.iommufd: " fmt "\n", ##__VA_ARGS__)

/* For anything a device (or software answering it) can trigger. */
#define IOMMUFD_LOG_RL(level, fmt, ...)					\
	do {								\
		static struct usva_ratelimit ifd_rl__;			\
		uint32_t ifd_sup__;					\
		if (usva_ratelimit_ok(&ifd_rl__, &ifd_sup__)) {		\
			if (ifd_sup__)					\
				IOMMUFD_LOG(level, "%u similar lines "	\
					    "suppressed", ifd_sup__);	\
			IOMMUFD_LOG(level, fmt, ##__VA_ARGS__);		\
		}							\
	} while (0)

/* ---- kernel paths and limits --------------------------------------------- */

#define IOMMUFD_DEV_PATH	"/dev/iommu"
#define IOMMUFD_VFIO_CDEV_DIR	"/dev/vfio/devices"
#define IOMMUFD_SYSFS		"/sys"

#define IOMMUFD_PAGE_SHIFT	12
#define IOMMUFD_PCI_ADDR_LEN	20	/* "dddddddd:bb:dd.f" + NUL */
#define IOMMUFD_CDEV_NAME_LEN	32	/* "vfioN" */
#define IOMMUFD_MAX_DEVS	64	/* devices per instance */
#define IOMMUFD_INVAL_CHUNK	128	/* entries per IOMMU_HWPT_INVALIDATE */
#define IOMMUFD_RESP_CHUNK	64	/* responses per write() */
#define IOMMUFD_PRQ_DEPTH_MAX	65536u
#define IOMMUFD_PCI_CFG_SIZE	4096

/* ---- decoded hardware information (pure helpers, iommufd_hw.c) ----------- */

/* What IOMMU_GET_HW_INFO reported for one device. */
struct iommufd_hw_info {
	uint32_t type;		/* USVA_IOMMU_HW_INFO_TYPE_* */
	uint32_t vtd_flags;	/* USVA_IOMMU_HW_INFO_VTD_* */
	uint64_t cap;		/* VT-d capability register */
	uint64_t ecap;		/* VT-d extended capability register */
	uint32_t idr[6];	/* SMMUv3 ID registers */
	uint8_t max_pasid_log2;	/* 0: none reported (or kernel < 6.15) */
	uint64_t capabilities;	/* USVA_IOMMU_HW_CAP_* */
};

/* What the IOMMU hardware can do, decoded from its registers. */
struct iommufd_hw_caps {
	const char *name;	/* "VT-d", "SMMUv3", "unknown" */
	bool nesting;		/* stage 1 over stage 2 */
	bool pri;		/* page requests */
	bool ats;		/* device TLBs */
	bool stall;		/* SMMUv3 stall model */
	bool supervisor;	/* supervisor (privileged) requests */
	uint32_t pasid_width;	/* PASID bits; 0: none */
	uint32_t s1_formats;	/* bit (1 << enum usva_pgfmt) */
	uint64_t s1_page_sizes;	/* USVA_PGSIZE_* */
	uint32_t s1_va_bits_max;
	uint32_t iova_bits;	/* widest stage-2 input */
};

/* PCIe extended capabilities of a device (its config space). */
struct iommufd_pci_caps {
	bool ats;
	bool pri;
	uint32_t pri_capacity;	/* outstanding page requests it may issue */
	uint32_t pasid_width;	/* 0: no PASID capability */
	bool pasid_exec;
	bool pasid_priv;
};

void iommufd_caps_vtd(uint64_t cap, uint64_t ecap, struct iommufd_hw_caps *c);
void iommufd_caps_smmuv3(const uint32_t idr[6], struct iommufd_hw_caps *c);
void iommufd_caps_decode(const struct iommufd_hw_info *hw,
			 struct iommufd_hw_caps *c);
/* @return 0; -EINVAL if @p len is below the conventional header. */
int iommufd_pci_caps_parse(const uint8_t *cfg, size_t len,
			   struct iommufd_pci_caps *pc);

/* Sort @p in by start and keep at most @p max (the widest). @return kept. */
uint32_t iommufd_ranges_fit(const struct iommu_iova_range *in, uint32_t n,
			    struct usva_iova_range *out, uint32_t max);
/* The holes between sorted ranges, named ("MSI" or "reserved"). */
uint32_t iommufd_windows(const struct usva_iova_range *r, uint32_t n,
			 struct usva_iova_window *w, uint32_t max);
/* Bits needed to address @p last (its highest set bit + 1). */
uint32_t iommufd_bits(uint64_t last);

/* Kernel response code for a usva one: SUCCESS 0, INVALID and FAILURE 1
 * (the kernel takes only these two), -EINVAL for anything else. */
int iommufd_resp_code(uint16_t code);
/* @return false (nothing to send) for an unknown code. */
bool iommufd_resp_encode(const struct usva_page_resp *r,
			 struct iommu_hwpt_page_response *out);
void iommufd_pgfault_to_req(const struct iommu_hwpt_pgfault *f,
			    uint32_t dev_id, uint64_t ts,
			    struct usva_page_req *r);

/* The VT-d stage-1 entry of @p e. @return false when it has nothing for
 * the kernel (PASID-cache only: the kernel flushes that on attach). */
bool iommufd_inval_encode(const struct usva_inval_entry *e,
			  struct iommu_hwpt_vtd_s1_invalidate *out);
/*
 * Per-entry status of one IOMMU_HWPT_INVALIDATE of @p n entries that
 * returned @p rc (0 or -errno) and @p entry_num (the kernel's count of
 * entries handled): [0, done) DONE; entry [done] the error (rc, or -EIO
 * when the kernel stopped early without one); the rest NOT_ATTEMPTED.
 * An error with no count written back (the call refused as a whole, the
 * count is still @p n) means nothing was done. @return done.
 */
uint32_t iommufd_inval_status(uint32_t n, int rc, uint32_t entry_num,
			      int32_t *status);

/* Canonical "dddd:bb:dd.f" of @p in ("bb:dd.f" gets domain 0000).
 * @return 0; -EINVAL (not a PCI address). */
int iommufd_pci_addr_norm(const char *in, char out[IOMMUFD_PCI_ADDR_LEN]);

/* ---- sysfs (iommufd_sysfs.c); @p root is IOMMUFD_SYSFS but for tests ----- */

/*
 * The VFIO cdev name ("vfioN") of PCI device @p addr (canonical).
 * @return 0; -ENODEV (no such device, or not bound to a VFIO driver: the
 *         log line names the commands that bind it to vfio-pci),
 *         -EOPNOTSUPP (bound to VFIO, but the kernel has no device cdevs).
 */
int iommufd_sysfs_cdev(const char *root, const char *addr, char *cdev,
		       size_t len);
/* The lowest PCI address with a VFIO cdev. @return 0; -ENODEV (none). */
int iommufd_sysfs_first_vfio(const char *root, char *addr, size_t len);
/* Read the config space of @p addr. @return bytes read or -errno. */
int iommufd_sysfs_config(const char *root, const char *addr, uint8_t *buf,
			 size_t len);

/* ---- objects ------------------------------------------------------------- */

/* One stage-2 mapping (IOMMU_IOAS_MAP), as the shadow keeps it. */
struct iommufd_s2_map {
	uint64_t iova;
	uint64_t last;
};

/* Counters: relaxed atomic adds, any thread. */
enum iommufd_stat {
	IOMMUFD_ST_PAGE_REQUESTS,
	IOMMUFD_ST_RESPONSES,
	IOMMUFD_ST_RESPONSES_DROPPED,
	IOMMUFD_ST_INVAL_ENTRIES,
	IOMMUFD_ST_INVAL_CALLS,
	IOMMUFD_ST_NR
};

struct iommufd {
	struct usva_iommu *iommu;	/* immutable */
	int fd;				/* /dev/iommu; immutable */
	uint32_t ioas_id;		/* stage 2; immutable */
	uint32_t parent_id;		/* NEST_PARENT HWPT, 0: no nesting */
	uint32_t parent_flags;		/* what it was allocated with */
	uint32_t rid_pt;		/* where device RIDs attach: the
					 * parent, or the IOAS */
	bool pasid_attach;		/* per-PASID attach works (6.15) */
	const char *no_pasid_why;	/* why not, for the log */
	struct iommufd_hw_info hw;	/* of the probe device */
	struct iommufd_hw_caps hc;	/* decoded from @hw */
	char probe[IOMMUFD_PCI_ADDR_LEN]; /* the probe device */

	/* Fault queue: immutable after open; -1 / 0 without one. */
	int fault_fd;
	uint32_t fault_id;
	/* Page requests read but not yet polled: the single poller's. */
	struct iommu_hwpt_pgfault *stage;
	uint32_t stage_cap;		/* immutable */
	uint32_t stage_head;		/* poller */
	uint32_t stage_n;		/* poller */
	uint64_t stage_ts;		/* poller: TSC of the read() */

	/* Kernel dev_id -> usva dev id, for page requests. Entries are
	 * (kernel id << 32 | usva id), 0 free: written under devmap_lock,
	 * read by the poller with atomic loads. */
	pthread_mutex_t devmap_lock;
	uint64_t devmap[IOMMUFD_MAX_DEVS];

	/* Stage-2 mappings, sorted by IOVA: s2_lock (held across the
	 * IOAS_MAP/UNMAP so the shadow matches the kernel). */
	pthread_mutex_t s2_lock;
	struct iommufd_s2_map *s2;	/* s2_lock */
	uint32_t s2_n;			/* s2_lock */
	uint32_t s2_cap;		/* s2_lock */

	uint64_t stats[IOMMUFD_ST_NR];	/* relaxed atomics */
};

struct iommufd_dev {
	struct usva_iommu_dev *dev;	/* immutable */
	int cdev_fd;			/* bound to the iommufd; immutable */
	uint32_t dev_id;		/* the bind's out_devid; immutable */
	bool iopf;			/* uses fault-capable HWPTs; immutable */
	bool pasid_ok;			/* per-PASID attach; immutable */
};

/* Nested HWPTs of a domain: for devices without and with page requests. */
enum iommufd_hwpt_kind {
	IOMMUFD_HWPT_PLAIN,
	IOMMUFD_HWPT_IOPF,
	IOMMUFD_HWPT_NR
};

struct iommufd_domain {
	/* Kernel HWPT ids, 0 until the first attach that needs one: set
	 * under iommu->lock (release), read by invalidate (acquire). */
	uint32_t hwpt[IOMMUFD_HWPT_NR];
};

static inline struct iommufd *
iommufd_of(const struct usva_iommu *iommu)
{
	return iommu->priv;
}

static inline void
iommufd_stat_add(struct iommufd *f, enum iommufd_stat s, uint64_t v)
{
	__atomic_fetch_add(&f->stats[s], v, __ATOMIC_RELAXED);
}

/* ---- the kernel, as the backend calls it --------------------------------- */

/*
 * Every system call the backend makes on /dev/iommu, VFIO cdevs and the
 * fault queue goes through this table, and every sysfs path starts at
 * @p sysfs: the default is the kernel; the tests put a model of the
 * kernel here to run the backend where there is none. Swap it only while
 * no instance is open.
 */
struct iommufd_sys {
	int (*open)(const char *path, int flags);
	int (*close)(int fd);
	int (*ioctl)(int fd, unsigned long req, void *arg);
	ssize_t (*read)(int fd, void *buf, size_t len);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout);
	const char *sysfs;	/* IOMMUFD_SYSFS */
};

extern struct iommufd_sys iommufd_sys;
/* The kernel's (what iommufd_sys starts as). */
extern const struct iommufd_sys iommufd_sys_kernel;

/* ---- helpers shared by the backend's files ------------------------------- */

/* ioctl() as 0 or -errno (EINTR retried). */
int iommufd_ioctl(int fd, unsigned long req, void *arg);
/* Release of the running kernel, for messages. */
void iommufd_kernel_release(char *buf, size_t len);
/* Log (NOTICE) that @p what is unavailable because @p why. */
void iommufd_note_missing(const char *what, const char *why);
/* IOMMU_DESTROY, logging a failure. */
void iommufd_destroy_obj(struct iommufd *f, uint32_t id, const char *what);

/* Device binding (iommufd_dev.c). */
int iommufd_bind(struct iommufd *f, const char *addr, int *cdev_fd,
		 uint32_t *dev_id);
int iommufd_hw_info_get(struct iommufd *f, uint32_t dev_id, const char *addr,
			struct iommufd_hw_info *hw);
int iommufd_pt_attach(int cdev_fd, uint32_t pt_id, bool pasid_valid,
		      uint32_t pasid);
int iommufd_pt_detach(int cdev_fd, bool pasid_valid, uint32_t pasid);

/* Stage 2 (iommufd_s2.c). */
int iommufd_ranges_load(struct iommufd *f);
void iommufd_s2_fini(struct iommufd *f);

/* Page requests (iommufd_fault.c). */
int iommufd_fault_init(struct iommufd *f, uint32_t depth);
void iommufd_fault_fini(struct iommufd *f);
int iommufd_devmap_add(struct iommufd *f, uint32_t kid, uint32_t uid);
void iommufd_devmap_del(struct iommufd *f, uint32_t kid);

/* Ops. */
int iommufd_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va,
		   uint64_t len, uint32_t prot);
int iommufd_s2_unmap(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
		     uint64_t *unmapped);
int iommufd_dev_open(struct usva_iommu_dev *dev,
		     const struct usva_dev_config *cfg);
void iommufd_dev_close(struct usva_iommu_dev *dev);
int iommufd_domain_init(struct usva_domain *dom);
void iommufd_domain_fini(struct usva_domain *dom);
int iommufd_attach(struct usva_iommu_dev *dev, uint32_t pasid,
		   struct usva_domain *dom, struct usva_domain *old);
void iommufd_detach(struct usva_iommu_dev *dev, uint32_t pasid,
		    struct usva_domain *dom);
int iommufd_invalidate(struct usva_iommu *iommu,
		       const struct usva_inval_entry *e, uint32_t n,
		       int32_t *status);
int iommufd_prq_fd(struct usva_iommu *iommu);
uint16_t iommufd_prq_poll(void *ctx, struct usva_page_req *reqs, uint16_t n);
uint16_t iommufd_page_respond(void *ctx, const struct usva_page_resp *resp,
			      uint16_t n);
int iommufd_prq_arm(void *ctx);

extern const struct usva_iommu_ops iommufd_ops;

#endif /* IOMMUFD_INTERNAL_H */
