/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * IOMMU backend driver interface (driver tier).
 *
 * A backend registers an ops table (USVA_IOMMU_BACKEND_REGISTER) and lib/iommu
 * calls it; lib/iommu never includes a backend's header. Objects are created
 * in two phases, as iommufd does: lib/iommu allocates and validates the
 * generic object (and the backend's private area of the size the ops ask
 * for), the backend initialises its part, and only then is the object
 * published in the instance's lists. Teardown runs in reverse.
 *
 * Argument checks are lib/iommu's: an op is only called with validated
 * arguments (aligned, inside an aperture, PASID in range and allocated,
 * formats the caps list). Backends check what only they can know.
 */
#ifndef USVA_IOMMU_DRIVER_H
#define USVA_IOMMU_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <rte_common.h>
#include <pthread.h>

#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_inval.h"

#ifdef __cplusplus
extern "C" {
#endif

#define USVA_IOMMU_MAX_RANGES	8	/**< apertures per instance */
#define USVA_IOMMU_MAX_WINDOWS	8	/**< reserved windows per instance */

/** A reserved IOVA window (no stage-2 mapping may touch it). */
struct usva_iova_window {
	uint64_t start;	/**< first IOVA of the window */
	uint64_t last;	/**< last IOVA (inclusive) */
	char name[24];		/**< "MSI", ... for the error message */
};

struct usva_attach;
struct usva_inval_link;

/** A device on an instance. */
struct usva_iommu_dev {
	TAILQ_ENTRY(usva_iommu_dev) next;	/**< iommu->lock */
	struct usva_iommu *iommu;		/**< immutable */
	/** Filled by ops->dev_open (id by lib/iommu); immutable after,
	 *  except @p info.attached (lock). */
	struct usva_dev_info info;
	/** Serialises attach/detach/replace on this device (control path,
	 *  may sleep in a backend call, hence a mutex). */
	pthread_mutex_t lock;
	TAILQ_HEAD(, usva_attach) attached;	/**< lock */
	/** The whole PASID table attached (usva_iommu_attach_pasid_table()),
	 *  as validated; NULL if none. Excludes @p attached entries. lock. */
	struct usva_pasid_table_config *pasid_table;
	void *priv;		/**< backend's, ops->dev_priv_size bytes */
};

/** A nested stage-1 domain. */
struct usva_domain {
	TAILQ_ENTRY(usva_domain) next;	/**< iommu->lock */
	struct usva_iommu *iommu;	/**< immutable */
	uint32_t id;			/**< immutable: DID/ASID */
	uint32_t format;		/**< immutable: enum usva_pgfmt */
	uint32_t va_bits;		/**< immutable */
	uint64_t s1_root;		/**< immutable: root table IOVA */
	struct usva_as *as;		/**< immutable; NULL for raw tables */
	uint32_t users;			/**< attachments; iommu->lock */
	/** lib/iommu's observer of @p as (usva_inval_as.c), set by
	 *  usva_domain_create() before the domain is published; NULL for
	 *  raw tables. */
	struct usva_inval_link *inval_link;
	void *priv;			/**< backend's */
};

/** One (device, PASID) -> domain attachment, kept by lib/iommu. */
struct usva_attach {
	TAILQ_ENTRY(usva_attach) next;	/**< dev->lock */
	uint32_t pasid;	/**< the PASID; immutable */
	struct usva_domain *dom;	/**< dev->lock */
};

/** @name usva_iommu_ops.inval_flags
 * @{ */
/**
 * Each ops->invalidate call carries the entries of one nested domain, and
 * every entry has @p dom set (iommufd: one IOMMU_HWPT_INVALIDATE per nested
 * HWPT). Batches then pass an ADDR entry that names a domain once, with
 * @p dev NULL, and a PASID-wide flush of a domain as granule DOMAIN with
 * the entry's caches: the backend (its kernel driver) covers the domain's
 * attachments and the device TLBs of its ATS devices. Without the flag
 * lib/iommu expands such entries per (device, PASID) attachment.
 */
#define USVA_IOMMU_INVAL_PER_DOMAIN	(1u << 0)
/** @} */

/** Backend ops. Unused ops may be NULL where noted. */
struct usva_iommu_ops {
	const char *name;		/**< "emu", "iommufd" */
	size_t iommu_priv_size;	/**< bytes of usva_iommu.priv */
	size_t dev_priv_size;	/**< bytes of usva_iommu_dev.priv */
	size_t domain_priv_size;	/**< bytes of usva_domain.priv */
	uint32_t inval_flags;		/**< USVA_IOMMU_INVAL_* */
	/** Most entries one ops->invalidate call takes; 0: any number. */
	uint32_t inval_max_entries;

	/**
	 * Bring the instance up: parse @p params (NULL: defaults), fill
	 * iommu->caps, ranges/windows, and usva_iommu_fp[iommu->id].
	 * @return 0 or -errno (with a log line).
	 */
	int (*open)(struct usva_iommu *iommu, const char *params);
	void (*close)(struct usva_iommu *iommu);	/**< release the instance (nothing left on it) */

	/** Stage 2: validated, aligned, inside apertures. */
	int (*s2_map)(struct usva_iommu *iommu, uint64_t iova, void *va,
		      uint64_t len, uint32_t prot);
	/** Unmap stage 2 as usva_iommu_s2_unmap(). */
	int (*s2_unmap)(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
			uint64_t *unmapped);

	/** Fill dev->info (not id) from @p cfg or the hardware. */
	int (*dev_open)(struct usva_iommu_dev *dev,
			const struct usva_dev_config *cfg);
	/** Called with nothing attached any more. */
	void (*dev_close)(struct usva_iommu_dev *dev);

	/** Domain fields are set; set up the backend's part. */
	int (*domain_init)(struct usva_domain *dom);
	void (*domain_fini)(struct usva_domain *dom);	/**< release a domain (detached everywhere) */

	/**
	 * Point (dev, pasid) at @p dom. @p old is NULL for an attach, else
	 * the domain being replaced (atomically: no window with neither).
	 * The backend flushes its own PASID-entry caches, as the kernel
	 * driver does on attach.
	 */
	int (*attach)(struct usva_iommu_dev *dev, uint32_t pasid,
		      struct usva_domain *dom, struct usva_domain *old);
	/** Remove (dev, pasid); answer its pending page requests INVALID. */
	void (*detach)(struct usva_iommu_dev *dev, uint32_t pasid,
		       struct usva_domain *dom);

	/**
	 * Point the device's whole PASID space at a table someone else owns
	 * (validated @p cfg; its format is one the caps allow). @p old is
	 * NULL for an attach, else the table being replaced (atomically, as
	 * an STE update). The device has no per-PASID attachment. The
	 * backend forgets everything it cached of the device (contexts,
	 * translations), as the kernel driver does after writing an STE.
	 * NULL: PASID tables are not supported (-EOPNOTSUPP).
	 */
	int (*attach_pasid_table)(struct usva_iommu_dev *dev,
				  const struct usva_pasid_table_config *cfg,
				  const struct usva_pasid_table_config *old);
	/** Undo attach_pasid_table: answer the device's pending page
	 *  requests and stalls INVALID, flush, drain DMA in flight. */
	void (*detach_pasid_table)(struct usva_iommu_dev *dev);

	/**
	 * Execute validated entries in order; stop at the first failure.
	 * Fill every status slot. @return entries done.
	 */
	int (*invalidate)(struct usva_iommu *iommu,
			  const struct usva_inval_entry *e, uint32_t n,
			  int32_t *status);

	/** Unrecoverable events; NULL: not supported. */
	int (*event_fd)(struct usva_iommu *iommu);
	/** Page-request interrupt eventfd; NULL: none (see prq_arm). */
	int (*prq_fd)(struct usva_iommu *iommu);
	/** Take up to @p n unrecoverable events. */
	int (*events_read)(struct usva_iommu *iommu,
			   struct usva_iommu_event *ev, unsigned int n);

	/** Counters; NULL: all zero. */
	void (*stats)(const struct usva_iommu *iommu,
		      struct usva_iommu_stats *st);
};

/** An opened instance. */
struct usva_iommu {
	const struct usva_iommu_ops *ops;	/**< immutable */
	uint16_t id;				/**< immutable */
	uint32_t flags;				/**< immutable: USVA_IOMMU_F_* */
	/** Filled by ops->open, immutable after. */
	struct usva_iommu_caps caps;
	uint32_t nr_ranges;	/**< apertures; immutable after open */
	struct usva_iova_range ranges[USVA_IOMMU_MAX_RANGES];	/**< the apertures */
	uint32_t nr_windows;	/**< reserved windows; immutable after open */
	struct usva_iova_window windows[USVA_IOMMU_MAX_WINDOWS];	/**< the reserved windows */

	struct usva_pasid_space *pasids;	/**< immutable */
	bool own_pasids;			/**< immutable */

	/** The lists and counters below (control path: a mutex, as the
	 *  backend may make syscalls under it). Taken before a dev->lock. */
	pthread_mutex_t lock;
	TAILQ_HEAD(, usva_iommu_dev) devs;	/**< lock */
	TAILQ_HEAD(, usva_domain) domains;	/**< lock */
	uint32_t next_dev_id;			/**< lock */
	uint32_t next_domain_id;		/**< lock */
	struct usva_pool_s2_map *pool_maps;	/**< lock: pools mapped for domains */
	void *priv;				/**< backend's */
};

/**
 * Register a backend. Called from constructors.
 * @return 0; -EEXIST (name taken); -EINVAL (incomplete ops); -ENOSPC.
 */
int usva_iommu_backend_register(const struct usva_iommu_ops *ops);

/** Register @p ops at load time. */
#define USVA_IOMMU_BACKEND_REGISTER(ops)				\
	RTE_INIT(usva_iommu_backend_init_##ops)				\
	{								\
		usva_iommu_backend_register(&(ops));			\
	}

/** Find a device of @p iommu by id, or NULL. Takes iommu->lock. */
struct usva_iommu_dev *usva_iommu_dev_by_id(struct usva_iommu *iommu,
					    uint32_t dev_id);

/** The domain attached at (@p dev, @p pasid) now, or NULL. Takes dev->lock
 *  (callers may hold iommu->lock, which comes before it). */
struct usva_domain *usva_iommu_dev_attached(struct usva_iommu_dev *dev,
					    uint32_t pasid);

#ifdef __cplusplus
}
#endif

#endif /* USVA_IOMMU_DRIVER_H */
