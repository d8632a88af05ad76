/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * IOMMU layer: backends, stage 2, devices, nested domains (application API).
 *
 * An usva_iommu is one opened backend instance: `emu` (a software model of
 * a nesting IOMMU with PRI) or `iommufd` (the kernel's). It owns one stage-2
 * I/O address space (the IOAS: IOVA -> process memory), devices, and nested
 * domains: stage-1 tables (usva_as, or tables a guest owns) translated
 * through that stage 2. A domain is attached to (device, PASID).
 *
 * Thread safety: every call here is a control-path call and thread-safe;
 * each object's lock is named in usva_iommu_driver.h. Fast-path calls (page
 * requests and responses) are in usva_iommu_fault.h.
 */
#ifndef USVA_IOMMU_H
#define USVA_IOMMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_iommu;
struct usva_iommu_dev;
struct usva_domain;
struct usva_as;
struct usva_pasid_space;
struct usva_page_pool;

/** Most usva_iommu instances open at once. */
#define USVA_IOMMU_MAX 16

/** @name usva_iommu_config.flags
 * @{ */
/** emu: check every cached translation against the tables (test oracle). */
#define USVA_IOMMU_F_STRICT	(1u << 0)
/** @} */

/** Backend parameters (size-versioned). */
struct usva_iommu_config {
	uint32_t size;		/**< sizeof(struct usva_iommu_config) */
	uint32_t flags;		/**< USVA_IOMMU_F_* */
	const char *backend;	/**< "emu" or "iommufd" */
	/* end of mandatory fields */
	/**
	 * Backend options, "key=value,key=value". emu: flavour=vtd|smmuv3,
	 * aw=\<IOVA bits\>, iotlb_sets, iotlb_ways, devtlb_entries,
	 * pasid_cache_entries, prq_depth, event_depth, pasid_width,
	 * inval_wait_ns and ats_inval_ns (modelled completion latency of an
	 * invalidation call, and its extra when it names a device TLB;
	 * 0: instant).
	 * Unknown keys are -EINVAL.
	 */
	const char *params;
	/** PASID space attach checks use; NULL: the backend creates one of
	 *  its own width. Must outlive the usva_iommu. */
	struct usva_pasid_space *pasids;
	uint64_t reserved[4];	/**< must be 0 */
};

/**
 * Open a backend instance.
 * @return 0 and *@p out; -EINVAL (bad config or params, naming the key),
 *         -ENODEV (no such backend registered), -EOPNOTSUPP (flags, or a
 *         backend that cannot run here, with the reason logged), -E2BIG,
 *         -ENOSPC (USVA_IOMMU_MAX open), -ENOMEM.
 */
int usva_iommu_open(const struct usva_iommu_config *cfg,
		    struct usva_iommu **out);

/**
 * Close an instance.
 * @return 0; -EBUSY if devices, domains or pool mappings
 *         (usva_iommu_map_pool) remain (nothing closed).
 *         NULL is a no-op returning 0.
 */
int usva_iommu_close(struct usva_iommu *iommu);

/** Small integer naming the instance in fast-path calls, < USVA_IOMMU_MAX. */
uint16_t usva_iommu_id(const struct usva_iommu *iommu);
/** The backend's name ("emu", ...). */
const char *usva_iommu_backend(const struct usva_iommu *iommu);
/** The PASID space attach checks use. */
struct usva_pasid_space *usva_iommu_pasids(const struct usva_iommu *iommu);

/** @name Capability flags
 * @{ */
#define USVA_IOMMU_CAP_NESTING	(1u << 0)	/**< stage 1 over stage 2 */
#define USVA_IOMMU_CAP_PRI	(1u << 1)	/**< page requests */
#define USVA_IOMMU_CAP_ATS	(1u << 2)	/**< device TLBs */
#define USVA_IOMMU_CAP_STALL	(1u << 3)	/**< stall model (SMMUv3) */
#define USVA_IOMMU_CAP_PASID	(1u << 4)	/**< per-PASID attach */
/** Whole PASID-table attach (usva_iommu_attach_pasid_table()): the
 *  device's context-descriptor table is someone else's (a guest's). */
#define USVA_IOMMU_CAP_PASID_TABLE (1u << 5)
/** @} */

/** @name Invalidation granules (usva_iommu_caps.inval_granules)
 * @{ */
#define USVA_INVAL_GRAN_DOMAIN	(1u << 0)	/**< everything of a domain */
#define USVA_INVAL_GRAN_PASID	(1u << 1)	/**< everything of a PASID */
#define USVA_INVAL_GRAN_ADDR	(1u << 2)	/**< an address range */
/** @} */

/** What an instance can do (size-versioned: set size before the call). */
struct usva_iommu_caps {
	uint32_t size;		/**< in: sizeof(struct usva_iommu_caps) */
	uint32_t flags;		/**< USVA_IOMMU_CAP_* */
	uint32_t pasid_width;	/**< PASID bits the IOMMU handles */
	uint32_t s1_formats;	/**< bit (1 << enum usva_pgfmt) per format */
	uint64_t s1_page_sizes;	/**< stage-1 leaf sizes (USVA_PGSIZE_*) */
	uint32_t s1_va_bits_max; /**< widest stage-1 input */
	uint32_t iova_bits;	/**< stage-2 input width */
	uint32_t max_page_requests; /**< outstanding page requests, all devices */
	uint32_t inval_granules; /**< USVA_INVAL_GRAN_* */
};

/**
 * Query capabilities. Fields past caps->size are not written.
 * @return 0; -EINVAL (size below the first fields).
 */
int usva_iommu_caps(const struct usva_iommu *iommu,
		    struct usva_iommu_caps *caps);

/** An inclusive IOVA range. */
struct usva_iova_range {
	uint64_t start;	/**< first IOVA */
	uint64_t last;	/**< last IOVA (inclusive) */
};

/**
 * Usable IOVA apertures: the stage-2 input space less reserved windows
 * (x86's MSI window 0xfee00000-0xfeefffff, ...), sorted.
 * @param ranges  Filled with up to *@p nr ranges.
 * @param nr      In: room in @p ranges. Out: the number of ranges.
 * @return 0; -EMSGSIZE if they did not fit (*@p nr says how many there are).
 */
int usva_iommu_iova_ranges(const struct usva_iommu *iommu,
			   struct usva_iova_range *ranges, uint32_t *nr);

/** @name Stage-2 prot
 * @{ */
#define USVA_S2_READ	(1u << 0)	/**< stage-2 read */
#define USVA_S2_WRITE	(1u << 1)	/**< stage-2 write */
/** @} */

/**
 * Map process memory [va, va + len) at [iova, iova + len) in stage 2.
 * @return 0; -EINVAL (unaligned, empty, prot, a reserved window — logged
 *         by name — or outside every aperture), -EOVERFLOW (iova or va
 *         range wraps), -EEXIST
 *         (overlaps a stage-2 mapping), -ENOMEM.
 */
int usva_iommu_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va,
		      uint64_t len, uint32_t prot);

/**
 * Unmap stage 2 in [iova, iova + len). Mappings must lie wholly inside or
 * wholly outside the range (no splitting, as IOMMU_IOAS_UNMAP).
 * Invalidates the backend's caches of the range before returning.
 * @param unmapped  If not NULL: bytes that were mapped.
 * @return 0; -EINVAL (unaligned, or a mapping straddles an end), -ENOENT
 *         (nothing mapped in the range).
 */
int usva_iommu_s2_unmap(struct usva_iommu *iommu, uint64_t iova,
			uint64_t len, uint64_t *unmapped);

/**
 * Map a page pool's region into stage 2 at IOVA = VA, counting users: the
 * first call maps, later ones only count. Domains made from a usva_as do
 * this for their table pool; pagers do it for their data pool.
 * @return 0; the errors of usva_iommu_s2_map().
 */
int usva_iommu_map_pool(struct usva_iommu *iommu, struct usva_page_pool *pool);

/** Drop one user of a pool's stage-2 mapping; the last unmaps it. */
void usva_iommu_unmap_pool(struct usva_iommu *iommu,
			   struct usva_page_pool *pool);

/* ---- devices ------------------------------------------------------- */

/** @name Device flags (config request, info report)
 * @{ */
#define USVA_DEV_F_PRI		(1u << 0)	/**< PCIe PRI */
#define USVA_DEV_F_ATS		(1u << 1)	/**< PCIe ATS (device TLB) */
#define USVA_DEV_F_PASID_EXEC	(1u << 2)	/**< PASID execute permission */
#define USVA_DEV_F_PASID_PRIV	(1u << 3)	/**< PASID privileged mode */
/**
 * Stall model (SMMUv3, needs USVA_IOMMU_CAP_STALL): a transaction that
 * takes a stage-1 translation fault is held, a fault record carrying a
 * stall tag is queued (usva_page_req with USVA_PREQ_F_STALL), and the
 * response resumes (SUCCESS: retry) or terminates it. The alternative to
 * PRI: a device has one or the other, not both (-EINVAL).
 */
#define USVA_DEV_F_STALL	(1u << 4)
/** @} */

/** Device parameters (size-versioned). */
struct usva_dev_config {
	uint32_t size;		/**< sizeof(struct usva_dev_config) */
	uint32_t flags;		/**< USVA_DEV_F_* wanted (emu: what it has) */
	const char *name;	/**< emu: any label; iommufd: PCI address */
	/* end of mandatory fields */
	uint32_t pasid_width;	/**< emu: device PASID bits, 0: none */
	/** emu: outstanding page requests (PRI) or stalled transactions
	 *  (USVA_DEV_F_STALL), 0: 32 */
	uint32_t pri_capacity;
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Open a device on an instance.
 * @return 0 and *@p out; -EINVAL (config), -ENODEV (no such device),
 *         -EOPNOTSUPP (a wanted feature the device or IOMMU lacks),
 *         -E2BIG, -ENOMEM.
 */
int usva_iommu_dev_open(struct usva_iommu *iommu,
			const struct usva_dev_config *cfg,
			struct usva_iommu_dev **out);

/**
 * Close a device: detaches every PASID, or its PASID table, first
 * (answering its pending page requests, in the backend). Never fails. NULL
 * is a no-op.
 */
void usva_iommu_dev_close(struct usva_iommu_dev *dev);

/** What a device has. */
struct usva_dev_info {
	uint32_t size;		/**< in: sizeof(struct usva_dev_info) */
	uint32_t id;		/**< dev_id in page requests */
	uint32_t flags;		/**< USVA_DEV_F_* it has */
	uint32_t pasid_width;	/**< 0: no PASID support */
	uint32_t pri_capacity;	/**< outstanding page requests */
	uint32_t attached;	/**< PASIDs attached now */
	char name[64];	/**< the device's name */
};

/** @return 0; -EINVAL (size). */
int usva_iommu_dev_info(const struct usva_iommu_dev *dev,
			struct usva_dev_info *info);

/* ---- nested domains ------------------------------------------------- */

/** Domain parameters (size-versioned). Either @p as, or the raw fields. */
struct usva_domain_config {
	uint32_t size;		/**< sizeof(struct usva_domain_config) */
	uint32_t flags;		/**< none yet; must be 0 */
	/** Stage-1 tables usva owns; its table pool is mapped into stage 2
	 *  at IOVA = VA while the domain lives. */
	struct usva_as *as;
	/* end of mandatory fields */
	/** Without @p as: tables someone else owns (a guest), by stage-1
	 *  root IOVA, format and width. All zero when @p as is set. */
	uint64_t s1_root;
	uint32_t format;	/**< raw root: enum usva_pgfmt of the tables */
	uint32_t va_bits;	/**< raw root: input address bits */
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create a nested domain over the instance's stage 2.
 * @return 0 and *@p out; -EINVAL (neither or both of as/raw, unaligned
 *         root), -EOPNOTSUPP (format or width the IOMMU lacks, no
 *         nesting), -E2BIG, -ENOMEM.
 */
int usva_domain_create(struct usva_iommu *iommu,
		       const struct usva_domain_config *cfg,
		       struct usva_domain **out);

/**
 * Destroy a domain.
 * @return 0; -EBUSY while attached anywhere. NULL: 0.
 */
int usva_domain_destroy(struct usva_domain *dom);

/** Domain id (the tag caches use; DID/ASID). */
uint32_t usva_domain_id(const struct usva_domain *dom);

/** The usva_as a domain was made from, or NULL. */
struct usva_as *usva_domain_as(const struct usva_domain *dom);

/**
 * Attach @p dom to (@p dev, @p pasid).
 * @return 0; -EINVAL (PASID 0: RID_PASID is stage 2's; domain of another
 *         instance), -ERANGE (PASID beyond the device's or IOMMU's width),
 *         -EOPNOTSUPP (device without PASID support, format mismatch),
 *         -ENOENT (PASID not allocated in the instance's space), -EBUSY
 *         (something is attached there: use replace; or the device has a
 *         whole PASID table, usva_iommu_attach_pasid_table()).
 */
int usva_iommu_attach(struct usva_iommu_dev *dev, uint32_t pasid,
		      struct usva_domain *dom);

/**
 * Replace what is attached at (@p dev, @p pasid) by @p dom atomically: a
 * DMA sees the old domain or the new, never none.
 * @return as attach, and -ENOENT if nothing is attached there.
 */
int usva_iommu_replace(struct usva_iommu_dev *dev, uint32_t pasid,
		       struct usva_domain *dom);

/**
 * Detach (@p dev, @p pasid): later DMA with that PASID faults
 * (unrecoverable, bad PASID); page requests pending for it are answered
 * INVALID by the backend.
 * @return 0; -ENOENT (nothing attached); -ERANGE.
 */
int usva_iommu_detach(struct usva_iommu_dev *dev, uint32_t pasid);

/* ---- whole PASID-table attach (nested vIOMMU, SMMUv3 style) ------------ */

/*
 * The VT-d way to nest is one stage-1 domain attached per PASID. The SMMUv3
 * way is to hand the IOMMU a whole context-descriptor (CD) table that the
 * stage-1 owner (a guest) builds and edits in memory it owns: the host
 * writes only the stream table entry (STE) that points at it, as the
 * Linux attach_pasid_table / iommu_pasid_table_config proposal did. The
 * table, and the stage-1 tables its CDs point at, are read through the
 * instance's stage 2 (their addresses are IOVAs: guest physical
 * addresses). doc/backends.md describes the model, doc/emu-model.md the CD
 * format the emu backend walks.
 */

/** usva_pasid_table_config.version */
#define USVA_PASID_TABLE_VERSION_1	1
/** usva_pasid_table_smmuv3.version */
#define USVA_PASID_TABLE_SMMUV3_VERSION_1 1

/** Table formats (usva_pasid_table_config.format). */
enum usva_pasid_table_format {
	USVA_PASID_TABLE_FMT_SMMUV3 = 1,	/**< SMMUv3 CD table */
};

/** What the device's DMA does (usva_pasid_table_config.config), as the
 *  STE's Config field: */
enum usva_pasid_table_mode {
	/** stage 1 through the table, nested over stage 2 (0b111) */
	USVA_PASID_TABLE_TRANSLATE = 1,
	/** stage 1 bypassed (0b110): DMA without a PASID uses stage 2
	 *  alone, DMA with one is refused (bad PASID) */
	USVA_PASID_TABLE_BYPASS = 2,
	/** every transaction aborted, no event (0b000) */
	USVA_PASID_TABLE_ABORT = 3,
};

/** SMMUv3 STE.S1Fmt: the table's layout. */
enum usva_smmuv3_s1fmt {
	USVA_SMMUV3_S1FMT_LINEAR = 0,	 /**< 2^pasid_bits CDs, one array */
	USVA_SMMUV3_S1FMT_2LVL_4K = 1,	 /**< L1 pointers to 4 KiB leaf
					  *   tables of 64 CDs (split 6) */
	USVA_SMMUV3_S1FMT_2LVL_64K = 2, /**< ... to 64 KiB leaf tables of
					  *   1024 CDs (split 10) */
};

/** SMMUv3 STE.S1DSS: DMA without a PASID when pasid_bits > 0. */
enum usva_smmuv3_s1dss {
	USVA_SMMUV3_S1DSS_TERMINATE = 0, /**< aborted, event BAD_PASID */
	USVA_SMMUV3_S1DSS_BYPASS = 1,	 /**< stage 2 only */
	USVA_SMMUV3_S1DSS_SSID0 = 2,	 /**< translated with CD 0 */
};

/** SMMUv3 part of a table config (the STE's stage-1 fields). */
struct usva_pasid_table_smmuv3 {
	uint32_t version;	/**< USVA_PASID_TABLE_SMMUV3_VERSION_1 */
	uint32_t flags;		/**< none yet; must be 0 */
	uint8_t s1fmt;		/**< enum usva_smmuv3_s1fmt */
	uint8_t s1dss;		/**< enum usva_smmuv3_s1dss */
	uint8_t reserved[6];	/**< must be 0 */
};

/**
 * A PASID table handed to the IOMMU (size-versioned: @p size is the
 * kernel's argsz). Checked in this order, as a careful kernel does: size,
 * version, the format and the size its part needs, bytes past what this
 * version knows, reserved bytes, config, then the format's fields.
 */
struct usva_pasid_table_config {
	uint32_t size;		/**< sizeof(struct usva_pasid_table_config) */
	uint32_t version;	/**< USVA_PASID_TABLE_VERSION_1 */
	/** Table IOVA (SMMUv3 S1ContextPtr; a guest physical address),
	 *  aligned to the table's size (linear) or its level-1 table's
	 *  size (2-level), 64 bytes at least. Ignored unless TRANSLATE. */
	uint64_t base;
	uint8_t pasid_bits;	/**< PASIDs the table covers, 2^pasid_bits
				 *   (S1CDMax); 0: one CD, for DMA without a
				 *   PASID */
	uint8_t format;		/**< enum usva_pasid_table_format */
	uint8_t config;		/**< enum usva_pasid_table_mode */
	uint8_t reserved[5];	/**< must be 0 */
	/* end of mandatory fields; the format's part follows */
	union {
		struct usva_pasid_table_smmuv3 smmuv3;
	} vendor;	/**< format-specific part */
};

/**
 * Attach a whole PASID table to @p dev: from now on the backend finds the
 * stage-1 context of each PASID (SMMUv3: the CD, which names the stage-1
 * table, its ASID and fault behaviour) in the table, in memory, reading it
 * through stage 2, as the hardware walks a guest's CD table. A device
 * that already has a table gets the new one atomically (the guest
 * rewrote its STE): every cached context and translation of the device is
 * forgotten, stalled transactions stay stalled. Per-PASID attach and a
 * table exclude each other.
 *
 * Config errors, in the order checked: -EFAULT (@p cfg NULL); -EINVAL
 * (size below the mandatory fields or above USVA_STRUCT_MAX_SIZE);
 * -EINVAL (version); -EOPNOTSUPP (unknown format); -EINVAL (size short of
 * the format's part); -E2BIG (non-zero bytes past what this version
 * knows); -EINVAL (reserved bytes, config not TRANSLATE/BYPASS/ABORT, the
 * format's version, reserved bytes, s1fmt, s1dss); -EOPNOTSUPP (the
 * format's flags); -EINVAL (pasid_bits beyond the device's PASID width or
 * 20, base misaligned or beyond the IOVA width). Each logs one line naming
 * the field.
 * @return 0; the errors above; -EINVAL (@p dev NULL); -EOPNOTSUPP (the
 *         backend or flavour has no PASID-table attach:
 *         USVA_IOMMU_CAP_PASID_TABLE not reported); -EBUSY (PASIDs are
 *         attached to the device); -ENOMEM.
 * Thread-safe (control path).
 */
int usva_iommu_attach_pasid_table(struct usva_iommu_dev *dev,
				  const struct usva_pasid_table_config *cfg);

/**
 * Detach the device's PASID table: later DMA faults (bad PASID) until a
 * table or a PASID is attached again; page requests and stalled
 * transactions pending for the device are answered INVALID; DMA in flight
 * is over when the call returns.
 * @return 0; -ENOENT (no table attached); -EINVAL (@p dev NULL).
 */
int usva_iommu_detach_pasid_table(struct usva_iommu_dev *dev);

/**
 * The table attached to @p dev, as it was given (size set to this
 * version's).
 * @return 0; -ENOENT (none); -EINVAL (NULL argument).
 */
int usva_iommu_pasid_table_get(struct usva_iommu_dev *dev,
			       struct usva_pasid_table_config *cfg);

/* ---- unrecoverable faults ---------------------------------------------- */

/** Unrecoverable fault kinds. */
enum usva_event_type {
	USVA_EVENT_S2_FAULT = 1,	/**< stage 2 has no mapping / no right */
	USVA_EVENT_S1_PERM,		/**< permission fault, no PRI to ask */
	USVA_EVENT_S1_NOT_PRESENT,	/**< translation fault, no PRI */
	USVA_EVENT_S1_BAD_ENTRY,	/**< reserved bits or bad encoding */
	USVA_EVENT_BAD_PASID,		/**< PASID not attached / beyond width */
	USVA_EVENT_STALE_XLATE,		/**< strict checker: cache disagrees */
	USVA_EVENT_PRQ_OVERFLOW,	/**< page requests lost to a full queue */
	USVA_EVENT_BAD_RESPONSE,	/**< response matched no request */
	USVA_EVENT_NON_CANONICAL,	/**< address the stage-1 format rejects */
	/** PASID table: an invalid or illegal context descriptor (SMMUv3
	 *  C_BAD_CD); addr is the input address */
	USVA_EVENT_BAD_CD,
};

/** @name Access bits (events, page requests)
 * @{ */
#define USVA_ACCESS_READ	(1u << 0)	/**< a read */
#define USVA_ACCESS_WRITE	(1u << 1)	/**< a write */
#define USVA_ACCESS_EXEC	(1u << 2)	/**< an instruction fetch */
#define USVA_ACCESS_PRIV	(1u << 3)	/**< a privileged (supervisor) access */
/** @} */

/** One unrecoverable fault. */
struct usva_iommu_event {
	uint32_t type;		/**< enum usva_event_type */
	uint32_t dev_id;	/**< usva_dev_info.id of the device */
	uint32_t pasid;	/**< PASID of the access */
	uint32_t access;	/**< USVA_ACCESS_* */
	uint64_t addr;		/**< faulting address (IOVA or stage-1 VA) */
	uint64_t ts;		/**< TSC when raised */
};

/**
 * An eventfd that becomes readable when events are queued.
 * @return the fd (owned by the instance), or -EOPNOTSUPP.
 */
int usva_iommu_event_fd(struct usva_iommu *iommu);

/**
 * An eventfd the instance writes when a page request is queued while its
 * interrupt is armed (usva_iommu_prq_arm()): what an idle fault service
 * sleeps on instead of spinning. Owned by the instance.
 * @return the fd, or -EOPNOTSUPP (no page-request interrupt).
 */
int usva_iommu_prq_fd(struct usva_iommu *iommu);

/**
 * Take up to @p n queued events, oldest first.
 * @return the number taken (0..n). Events lost to a full ring are counted
 *         in the stats (events_lost).
 */
int usva_iommu_events_read(struct usva_iommu *iommu,
			   struct usva_iommu_event *ev, unsigned int n);

/** Counters of an instance. */
struct usva_iommu_stats {
	uint64_t translations;	/**< device accesses translated */
	uint64_t iotlb_hits;	/**< translations served by the IOTLB */
	uint64_t iotlb_misses;	/**< translations the IOTLB missed */
	uint64_t devtlb_hits;	/**< translations served by device TLBs */
	uint64_t pasid_cache_hits;	/**< PASID-cache hits */
	uint64_t walks;		/**< stage-1 walks done */
	uint64_t page_requests;	/**< queued for software */
	uint64_t prq_overflow;	/**< requests that found the queue full */
	uint64_t prq_irqs;	/**< page-request interrupts raised (an armed
				 *   poller woken) */
	uint64_t responses;	/**< accepted page responses */
	uint64_t responses_dropped; /**< unmatched or stale responses */
	uint64_t events;	/**< unrecoverable faults raised */
	uint64_t events_lost;	/**< raised while the event ring was full */
	uint64_t inval_entries;	/**< invalidation entries executed */
	uint64_t inval_calls;	/**< invalidation submissions */
	uint64_t stale_uses;	/**< strict checker: stale cached translations */
};

/** Snapshot the counters; backends fill what they know. */
void usva_iommu_stats(const struct usva_iommu *iommu,
		      struct usva_iommu_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* USVA_IOMMU_H */
