/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Fault service: I/O page faults served on dedicated polling lcores.
 *
 * Devices raise page requests (PCIe PRI); the IOMMU queues them; a fault
 * service polls the queues of the instances attached to it in bursts,
 * resolves each request through the pager of the address space registered
 * for its (device, PASID), installs the stage-1 entry, and answers each page
 * request group once, after its last request and all its pages are
 * resolved, echoing the group's private data. The worst page result decides
 * the code (SUCCESS < INVALID < FAILURE).
 *
 * Sharding: a request goes to shard hash(PASID, addr >> shard_shift); each
 * shard is owned by one fault lcore, which alone edits that range of that
 * address space, so shards proceed in parallel without locks. (The
 * USVA_FAULT_F_GLOBAL_LOCK mode serialises everything under one lock; it
 * exists only as the benchmark baseline, one lock per container.)
 *
 * Rules kept whatever happens: every page request group gets exactly one
 * response (handler error, unregistration, timeout, queue overflow, device
 * or PASID teardown); a response or completion from an earlier life (a
 * handler re-registered, a PASID reused) is recognised by generation and
 * dropped, and counted; the hot path allocates nothing from the heap, takes
 * no global lock and makes no syscall per fault.
 *
 * A group is answerable only once its LAST request arrived (before that
 * the device has not finished it). So where a rule says "pending groups
 * are answered INVALID" (unregister, timeout, destroy), a group still
 * missing its LAST is dropped instead, as Linux's iopf does with partial
 * groups: its LAST, if it ever comes, gets the group's one response then.
 *
 * Sharding and address spaces: a shard owner writes the stage-1 leaves of
 * its ranges alone, which usva_as.h allows for ranges in different
 * granules; so shard_shift must be at least the granule_shift of every
 * address space served (both default to 21), and an address space must be
 * served under one PASID value (it may be attached to several devices).
 *
 * doc/fault-service.md describes the design, doc/threading.md the lcores.
 */
#ifndef USVA_FAULT_H
#define USVA_FAULT_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_fault_service;
struct usva_fault_handler;
struct usva_pager;
struct usva_as;
struct usva_iommu;
struct usva_iommu_dev;
struct usva_iommu_event;
struct usva_page_pool;

/** Most fault lcores per service. */
#define USVA_FAULT_MAX_LCORES 8

/** @name usva_fault_config.flags
 * @{ */
/** Register EAL service components (one per fault lcore slot) instead of
 *  launching on the given lcores; the application maps them onto service
 *  cores (rte_service_map_lcore_set). */
#define USVA_FAULT_F_SERVICE_CORES	(1u << 0)
/** Dedicated lcores only: when idle, sleep instead of spinning, for
 *  low-rate deployments. After a run of idle iterations the lcore sleeps
 *  with a growing back-off (10 us to 1 ms); at 1 ms it waits in epoll on
 *  the IOMMUs' event fds, so unrecoverable events wake it at once. The
 *  backends signal no eventfd for page requests: a request arriving during
 *  a sleep waits for the wake-up (up to 1 ms). Fault lcores may then share
 *  a CPU. */
#define USVA_FAULT_F_INTERRUPT		(1u << 1)
/** One lock around all resolution: the baseline for benchmarks only. */
#define USVA_FAULT_F_GLOBAL_LOCK	(1u << 2)
/** @} */

/** Service parameters (size-versioned). */
struct usva_fault_config {
	uint32_t size;		/**< sizeof(struct usva_fault_config) */
	uint32_t flags;		/**< USVA_FAULT_F_* */
	uint32_t nr_lcores;	/**< fault lcores, 1..USVA_FAULT_MAX_LCORES */
	/** Dedicated mode: the EAL worker lcores to launch on (each idle,
	 *  not the main lcore). Service-core mode: ignored. */
	uint32_t lcores[USVA_FAULT_MAX_LCORES];
	/* end of mandatory fields */
	uint32_t nr_shards;	/**< power of two <= USVA_MAX_SHARDS; 0: default */
	uint32_t shard_shift;	/**< address bits below a shard granule;
				 *   0: 21 (2 MiB), >= 12 */
	uint32_t burst;		/**< requests per poll; 0: default; <= 1024 */
	uint32_t resp_batch;	/**< responses per backend call; 0: burst;
				 *   <= 1024 */
	uint32_t timeout_us;	/**< pending group answered INVALID after;
				 *   0: 1 s */
	uint32_t max_groups;	/**< groups open at once per fault lcore (each
				 *   has its own table, fixed at create; a
				 *   group opens when it cannot be answered
				 *   at once); 0: 4096, at most 2^20 */
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create a service (not started). Slow path: allocates every table the
 * hot path will use. Dedicated mode checks the lcores: EAL worker lcores,
 * not the main one, each given once, and (unless USVA_FAULT_F_INTERRUPT)
 * none sharing a CPU with another of them or with the main lcore: no two
 * busy-pollers on one core.
 * @return 0 and *@p out; -EINVAL (bad field, naming it; NULL @p out;
 *         USVA_FAULT_F_INTERRUPT with USVA_FAULT_F_SERVICE_CORES; lcores
 *         sharing a CPU), -EFAULT (NULL @p cfg), -EOPNOTSUPP (flags),
 *         -E2BIG, -ENOMEM, -EBUSY (an lcore is not idle), -ENOSPC (16
 *         services exist), or the EAL's error registering a service
 *         component.
 */
int usva_fault_service_create(const struct usva_fault_config *cfg,
			      struct usva_fault_service **out);

/**
 * Serve the page requests of @p iommu. Its queue is given to one fault
 * lcore (queues are spread round-robin), which also delivers its
 * unrecoverable events. Only while stopped. The IOMMU must stay open until
 * the service is destroyed.
 * @return 0; -EBUSY (running), -EEXIST (already added), -ENOSPC,
 *         -EOPNOTSUPP (a backend without a page-request queue), -EINVAL
 *         (NULL argument).
 */
int usva_fault_service_add_iommu(struct usva_fault_service *svc,
				 struct usva_iommu *iommu);

/**
 * Launch the lcores (or, in service-core mode, set the components' and
 * services' run states: the application maps them onto service lcores).
 * @return 0; -EALREADY; -EBUSY (a dedicated lcore is not idle any more).
 */
int usva_fault_service_start(struct usva_fault_service *svc);

/**
 * Stop polling and wait for the lcores to return (service-core mode: until
 * no service lcore runs a component). Pending groups stay pending (and
 * time out after a restart). @return 0; -EALREADY.
 */
int usva_fault_service_stop(struct usva_fault_service *svc);

/**
 * Stop, answer every pending group INVALID (groups still missing their
 * LAST are dropped), free everything. Handlers should have been
 * unregistered (those left are unregistered, and logged). After it,
 * usva_fault_complete() on the service's tokens returns -ESTALE. NULL is a
 * no-op. Not from a fault lcore.
 */
void usva_fault_service_destroy(struct usva_fault_service *svc);

/**
 * Run one iteration of fault lcore slot @p slot from the calling thread:
 * apply completions, resolve requests forwarded by other slots, poll its
 * queues, resolve, respond, time out, deliver events (on every call, not
 * only every 100 us as the lcores do). For applications that drive the
 * loop themselves and for tests; not while started. One thread per slot
 * at a time; different slots may be polled from different threads.
 * @return requests polled plus forwarded requests and completions applied
 *         (0: idle); -EBUSY while started; -EINVAL bad slot.
 */
int usva_fault_service_poll(struct usva_fault_service *svc, unsigned int slot);

/** Service ids of the components (service-core mode), -1 otherwise. */
int32_t usva_fault_service_component(const struct usva_fault_service *svc,
				     unsigned int slot);

/* ---- handlers ------------------------------------------------------------ */

/** A fault handler: (device, PASID) served through an address space. */
struct usva_fault_handler_config {
	uint32_t size;		/**< sizeof(struct usva_fault_handler_config) */
	uint32_t flags;		/**< none yet; must be 0 */
	struct usva_iommu_dev *dev;	/**< the device whose faults it serves */
	struct usva_as *as;	/**< where PTEs go (attached at dev, pasid) */
	struct usva_pager *pager; /**< what fills the pages */
	uint32_t pasid;	/**< the PASID whose faults it serves */
	/* end of mandatory fields */
	uint32_t prefetch_pages; /**< also map this many pages after a fault
				  *   (hint; best effort); 0: none */
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Register a handler. Faults for a (device, PASID) without one are
 * answered INVALID and counted (no_handler), as are faults for a PASID
 * freed and allocated again since the handler was registered (its
 * usva_pasid_generation() changed). Thread-safe against the fault lcores;
 * the first handler of a pager with a flush op waits for a grace period.
 * @return 0 and *@p out; -EINVAL (NULL or bad field; PASID 0, which is
 *         stage 2's RID_PASID; a pager being destroyed), -EEXIST ((dev,
 *         pasid) has one), -EOPNOTSUPP, -E2BIG, -ENOMEM, -ENOSPC (256
 *         devices with handlers on the IOMMU, or 64 pagers with a flush
 *         op, in this service).
 */
int usva_fault_register(struct usva_fault_service *svc,
			const struct usva_fault_handler_config *cfg,
			struct usva_fault_handler **out);

/**
 * Unregister. Never fails: the handler is unpublished, the call waits for
 * a grace period (each running fault lcore finishes the iteration it is
 * in), then every pending group of the handler whose LAST was seen is
 * answered INVALID at once (counted in unregister_flushed); a group still
 * missing its LAST is answered INVALID when its LAST arrives (or dropped
 * at its timeout). Completions and forwarded pages arriving later are
 * dropped and counted (stale_completions). Thread-safe against the fault
 * lcores; may be called from a pager or event callback on a fault lcore
 * (the handler's memory is then freed later). NULL: no-op.
 */
void usva_fault_unregister(struct usva_fault_handler *h);

/* ---- asynchronous completion -------------------------------------------- */

/** Identifies one page of one group; from the pager to the completer. */
struct usva_fault_token {
	uint64_t v[2];	/**< opaque */
};

/**
 * Complete a page a pager returned USVA_PAGER_PENDING for, from any
 * thread. The completion is queued to the fault lcore that resolved the
 * page (which owns its shard) and applied there. @p result 0: the page is
 * mapped (SUCCESS); negative errno: INVALID (counted in pager_errors).
 * A token of a prefetch (usva_pager_fault.tok of a page the service did
 * not ask for) needs no completion; completing it returns 0.
 * @return 0; -ESTALE if the group was already answered (timeout,
 *         unregister, its last page completed) or the service destroyed:
 *         the completion is dropped and counted; -EAGAIN if the completion
 *         queue is full (retry). Complete each pending page once.
 */
int usva_fault_complete(struct usva_fault_token tok, int result);

/* ---- pagers --------------------------------------------------------------- */

/** What a pager's fault op returns. */
enum usva_pager_status {
	USVA_PAGER_DONE = 0,	/**< mapped; answer this page SUCCESS */
	USVA_PAGER_PENDING = 1,	/**< usva_fault_complete() will follow */
	/** Already mapped with the access asked (a race or a prefetch):
	 *  answer SUCCESS, counted as already present. Only pagers whose
	 *  ops set checks_present return it. */
	USVA_PAGER_PRESENT = 2,
	/* negative errno: answer this page INVALID */
};

/** Anonymous memory: zero-filled pages from a pool. */
struct usva_pager_anon_config {
	uint32_t size;	/**< sizeof(struct usva_pager_anon_config) */
	uint32_t flags;		/**< none yet */
	struct usva_page_pool *pool; /**< 4 KiB or 2 MiB pages; NULL: default */
	uint64_t base;		/**< range served: [base, base + len) */
	uint64_t len;	/**< bytes, page-size aligned */
	/* end of mandatory fields */
	struct usva_iommu *iommu; /**< stage 2 to map the pool into (IOVA = VA)
				   *   with usva_iommu_map_pool(); NULL: the
				   *   caller does */
	uint32_t prot;		/**< USVA_PROT_*; 0: READ|WRITE|USER */
	uint32_t reserved0;	/**< must be 0 */
	uint64_t reserved[2];	/**< must be 0 */
};
/**
 * @return 0; -EINVAL (bad field, range), -EOPNOTSUPP (flags), -E2BIG
 *         (unknown non-zero tail), -ENOMEM, and stage-2 errors.
 */
int usva_pager_anon_create(const struct usva_pager_anon_config *cfg,
			   struct usva_pager **out);

/**
 * Mirror (SVA): the process's own page at the faulting VA.
 *
 * A fault on VA maps stage-1 VA -> IOVA = VA with the protection of the
 * process mapping (VMA) that holds VA, and makes sure stage 2 maps IOVA =
 * VA to the process's memory. See doc/pagers.md.
 *
 * - Protection. The pager keeps a cache of the process's mappings inside
 *   [base, base + len), read from /proc/self/maps at create. A fault whose
 *   access the mapping does not allow (a write to a read-only mapping, any
 *   access to PROT_NONE, exec without PROT_EXEC) fails -EACCES; an address
 *   no mapping holds fails -EFAULT. Both are answered INVALID. Stage 1
 *   gets READ, WRITE and EXEC as the mapping has them, and USER.
 * - Staleness. The cache is what the process looked like when it was
 *   read. A fault on an address the cache does not hold, or one the cache
 *   refuses, re-reads /proc/self/maps on the fault lcore (the slow path),
 *   at most once per 10 ms; other faults never make a syscall for it. After
 *   mmap() or mprotect() in the range, call usva_pager_mirror_refresh()
 *   before the device touches the memory. Neither refresh nor the slow
 *   path revokes anything: after munmap() or a downgrading mprotect() of
 *   memory the device may use, unmap or protect it in every address space
 *   first (usva_as_unmap(), usva_as_protect() and an invalidation).
 * - Stage 2 (when @p iommu is set) is mapped on demand, once per 2 MiB
 *   chunk: the first fault in a chunk maps the part of the chunk that its
 *   process mapping covers (one usva_iommu_s2_map() call, with the
 *   mapping's read/write protection), later faults in the chunk find it
 *   mapped. The range is first populated (MADV_POPULATE_WRITE for writable
 *   mappings, MADV_POPULATE_READ for read-only ones; one read per page on
 *   kernels without them). What the pager mapped is unmapped at destroy.
 *   IOVA = VA must lie in an aperture of @p iommu: a fault outside them (or
 *   in a reserved window) fails -EINVAL. A page some other caller had
 *   already mapped in stage 2 is used as it is (and counted).
 * - A write to a page whose stage 2 the pager mapped read-only (the process
 *   made it writable later) fails -EACCES: stage 2 keeps the protection it
 *   was mapped with until destroy.
 *
 * One mirror pager may serve the address spaces of several handlers on
 * the same IOMMU (stage 2 is the IOMMU's, shared by them all); two mirror
 * pagers whose ranges overlap on one IOMMU share stage 2 too, and the one
 * that mapped a chunk unmaps it when destroyed.
 */
struct usva_pager_mirror_config {
	uint32_t size;		/**< sizeof(struct usva_pager_mirror_config) */
	uint32_t flags;		/**< none yet; must be 0 */
	/** Stage 2 to map on demand, IOVA = VA. NULL: the caller maps stage 2
	 *  (the pager still populates the pages). */
	struct usva_iommu *iommu;
	uint64_t base;		/**< range served: [base, base + len), 4 KiB
				 *   aligned, below 2^57 */
	uint64_t len;		/**< > 0, 4 KiB aligned */
	/* end of mandatory fields */
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create a mirror pager (4 KiB pages). Control path; reads /proc/self/maps.
 * @return 0 and *@p out; -EFAULT (@p cfg NULL), -EINVAL (size, @p out
 *         NULL, base or len unaligned, len 0, a range that wraps or
 *         reaches 2^57, reserved field), -EOPNOTSUPP (flags), -E2BIG,
 *         -ENOMEM, or the errno of reading /proc/self/maps.
 */
int usva_pager_mirror_create(const struct usva_pager_mirror_config *cfg,
			     struct usva_pager **out);

/**
 * Re-read the process's mappings now (after mmap() or mprotect() in the
 * range). Stage-2 mappings made earlier are kept. Thread-safe, also
 * against faults being resolved.
 * @return 0; -EINVAL (not a mirror pager), or the errno of reading
 *         /proc/self/maps (the old cache stays).
 */
int usva_pager_mirror_refresh(struct usva_pager *pager);

/** Counters of a mirror pager (a snapshot). */
struct usva_pager_mirror_stats {
	uint64_t faults;	/**< fault calls */
	uint64_t mapped;	/**< pages mapped in stage 1 (DONE) */
	uint64_t already_mapped; /**< stage 1 was mapped already (DONE) */
	uint64_t no_mapping;	/**< address not mapped in the process: -EFAULT */
	uint64_t prot_denied;	/**< access the mapping refuses: -EACCES */
	uint64_t s2_readonly;	/**< write to a page the pager mapped
				 *   read-only in stage 2: -EACCES */
	uint64_t s2_maps;	/**< stage-2 ranges mapped */
	uint64_t s2_bytes;	/**< bytes the pager holds mapped in stage 2 */
	uint64_t s2_foreign;	/**< pages found mapped in stage 2 by another */
	uint64_t s2_refused;	/**< outside the apertures or in a reserved
				 *   window: -EINVAL */
	uint64_t s2_errors;	/**< other stage-2 map errors */
	uint64_t populate_errors; /**< population failed (stale cache: the
				   *   fault fails -EFAULT) */
	uint64_t map_errors;	/**< usva_as_map() failed */
	uint64_t nomem;		/**< no memory for tracking */
	uint64_t rereads;	/**< /proc/self/maps reads (create, refresh,
				 *   slow path) */
	uint64_t reread_limited; /**< slow-path re-reads skipped (10 ms rule) */
	uint64_t vmas;		/**< mappings in the cache now */
};

/**
 * Snapshot the counters of a mirror pager. Thread-safe.
 * @return 0; -EINVAL (not a mirror pager, @p st NULL).
 */
int usva_pager_mirror_stats(const struct usva_pager *pager,
			    struct usva_pager_mirror_stats *st);

/**
 * File: pages read from a file with io_uring (asynchronous).
 *
 * The page at VA holds the file's bytes at offset VA - base + file_offset;
 * past the end of the file it is zero (a page wholly past the end too).
 * fault() takes a page from @p pool and queues a read, and returns
 * USVA_PAGER_PENDING; flush() submits the burst's reads with one
 * io_uring_submit() and reaps completions without waiting: a page read in
 * full is mapped in stage 1 (VA -> the page's IOVA, with @p prot) and
 * completed 0; a failed read completes -EIO. See doc/pagers.md.
 *
 * Each fault lcore slot has its own ring (all made at create) with
 * @p queue_depth reads in flight at most, and @p max_pending requests
 * accepted at most (in flight or waiting for room in the ring); past that
 * a fault fails -EBUSY. flush() must be called on every poll of a slot
 * while that slot has requests: completions are only reaped there.
 *
 * Pages mapped are the address space's from then on: the pager never
 * takes them back. Whoever unmaps them gives them back to @p pool
 * (usva_as_lookup() gives the page's address, oa).
 */
struct usva_pager_file_config {
	uint32_t size;		/**< sizeof(struct usva_pager_file_config) */
	uint32_t flags;		/**< none yet; must be 0 */
	int fd;			/**< readable regular file or block device;
				 *   not closed by usva (the rings hold a
				 *   reference while the pager lives) */
	uint32_t queue_depth;	/**< reads in flight per slot, 1..4096; 0: 64 */
	uint64_t base;		/**< VA of file offset @p file_offset */
	uint64_t len;		/**< range served: [base, base + len) */
	uint64_t file_offset;	/**< aligned to the page size */
	/* end of mandatory fields */
	/** Destination pages (4 KiB or 2 MiB: the pager's page size; base,
	 *  len and file_offset must be aligned to it); NULL: default pool. */
	struct usva_page_pool *pool;
	/** Stage 2 to map @p pool into (IOVA = VA) with usva_iommu_map_pool()
	 *  while the pager lives; NULL: the caller does. */
	struct usva_iommu *iommu;
	uint32_t prot;		/**< USVA_PROT_*; 0: READ|WRITE|USER */
	/** Requests accepted per slot, in flight or waiting, >= queue_depth,
	 *  at most 65536; 0: max(4 * queue_depth, 256). (Was reserved0:
	 *  zero keeps the default.) */
	uint32_t max_pending;
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create a file pager. Control path: validates the file (fstat, open
 * mode), makes USVA_FAULT_MAX_LCORES rings, maps @p pool into stage 2.
 * @return 0 and *@p out; -EFAULT (@p cfg NULL), -EINVAL (size, @p out
 *         NULL, alignment to the pool's page size, len 0, the range or
 *         the file range wraps, queue_depth, max_pending, prot, no pool,
 *         not a regular file or block device, reserved field), -EBADF (fd not open, or not open for reading), -EOPNOTSUPP
 *         (flags), -E2BIG, -ENOMEM, io_uring set-up errors (-EMFILE,
 *         -EPERM, ...), and stage-2 errors of usva_iommu_map_pool().
 */
int usva_pager_file_create(const struct usva_pager_file_config *cfg,
			   struct usva_pager **out);

/** Counters of a file pager (a snapshot). */
struct usva_pager_file_stats {
	uint64_t faults;	/**< fault calls */
	uint64_t reads;		/**< read SQEs prepared (continuations too) */
	uint64_t submits;	/**< io_uring_submit() calls */
	uint64_t submit_errors;	/**< submits that failed (retried) */
	uint64_t completed;	/**< pages mapped and completed 0 */
	uint64_t already_mapped; /**< stage 1 was mapped already: page
				  *   given back, completed 0 */
	uint64_t short_reads;	/**< reads short of the page, continued */
	uint64_t eof_pages;	/**< pages with a zero tail past end of file */
	uint64_t read_errors;	/**< reads failed: completed -EIO */
	uint64_t map_errors;	/**< usva_as_map() failed: completed with it */
	uint64_t busy;		/**< no request slot: -EBUSY */
	uint64_t no_page;	/**< pool empty: -ENOMEM */
	uint64_t prot_denied;	/**< access @p prot refuses: -EACCES */
	uint64_t complete_retries; /**< usva_fault_complete() said -EAGAIN */
	uint64_t stale;		/**< usva_fault_complete() said -ESTALE */
	uint64_t in_flight;	/**< reads in the rings now */
	uint64_t waiting;	/**< requests waiting for ring room now */
	uint64_t max_in_flight;	/**< most reads one ring held at once */
};

/**
 * Snapshot the counters of a file pager (sum of the slots). Thread-safe.
 * @return 0; -EINVAL (not a file pager, @p st NULL).
 */
int usva_pager_file_stats(const struct usva_pager *pager,
			  struct usva_pager_file_stats *st);

/**
 * Application callback: map the page itself (usva_as_map) and return
 * USVA_PAGER_DONE, or return USVA_PAGER_PENDING and call
 * usva_fault_complete() later from any lcore, or a negative errno.
 * Runs on a fault lcore: must not block. It is called on the lcore owning
 * the address's shard, so a map from the callback keeps the single-writer
 * rule; an asynchronous completer that maps from another thread must keep
 * it itself (usva_as.h). The callback pager serves every address with
 * 4 KiB pages.
 */
typedef int (*usva_pager_cb_t)(void *arg, struct usva_as *as, uint64_t addr,
			       uint32_t perm, struct usva_fault_token tok);
/** @return 0; -EINVAL (NULL callback), -ENOMEM. */
int usva_pager_callback_create(usva_pager_cb_t cb, void *arg,
			       struct usva_pager **out);

/**
 * Destroy a pager. Destroy it after the address spaces it filled are
 * unmapped or destroyed: the anon pager gives every page it still owns
 * back to its pool. NULL: 0.
 * @return 0; -EBUSY while a handler uses it.
 */
int usva_pager_destroy(struct usva_pager *pager);

/* ---- unrecoverable events -------------------------------------------------- */

/** Called on a fault lcore for each unrecoverable event of a served IOMMU. */
typedef void (*usva_fault_event_cb_t)(void *arg, struct usva_iommu *iommu,
				      const struct usva_iommu_event *ev);

/**
 * Set the event callback (NULL: none). With a callback, the fault lcore
 * polling an IOMMU's queue reads its events (every 100 us, and on every
 * usva_fault_service_poll()) and calls it; without one the service leaves
 * the events alone, and the IOMMU's eventfd (usva_iommu_event_fd) serves
 * applications that read them themselves. Waits for a grace period, so
 * that no lcore calls the old callback with the new argument.
 * @return 0; -EINVAL (NULL @p svc).
 */
int usva_fault_set_event_cb(struct usva_fault_service *svc,
			    usva_fault_event_cb_t cb, void *arg);

/* ---- observability ------------------------------------------------------------- */

/** Latency histogram buckets: bucket i counts latencies in [2^i, 2^(i+1)) ns. */
#define USVA_FAULT_LAT_BUCKETS 32

/**
 * Counters of a service (sum over lcores, or one lcore / shard).
 * Per lcore: requests it polled, groups it answered, pages it resolved.
 * Counts made outside the lcores (groups answered by unregister,
 * completions found stale by usva_fault_complete) appear in the totals
 * only. Per shard: pages resolved in the shard (requests, already_present,
 * pager_errors, pending_async) and the groups its owner answered while
 * resolving one of its pages (groups, resp_*, latency).
 */
struct usva_fault_stats {
	uint64_t requests;	/**< page requests polled */
	uint64_t groups;	/**< groups answered */
	uint64_t resp_success;	/**< groups answered SUCCESS */
	uint64_t resp_invalid;	/**< groups answered INVALID */
	uint64_t resp_failure;	/**< groups answered FAILURE */
	uint64_t already_present; /**< page found mapped: answered at once */
	uint64_t no_handler;	/**< (dev, pasid) without handler */
	uint64_t out_of_range;	/**< address outside the pager's range */
	uint64_t pager_errors;	/**< pages a pager failed */
	uint64_t pending_async;	/**< pages handed to async completion */
	uint64_t timeouts;	/**< groups answered INVALID by timeout */
	uint64_t unregister_flushed; /**< groups answered INVALID at unregister */
	uint64_t stale_completions; /**< completions of an earlier life */
	uint64_t group_overflow; /**< no group slot: answered INVALID at once */
	uint64_t resp_retries;	/**< response bursts the backend took partly */
	uint64_t events;	/**< unrecoverable events delivered */
	/** Request to response, one sample per group: from the TSC of the
	 *  group's first request (usva_page_req.ts) to the response's queueing
	 *  for the backend. */
	uint64_t lat_hist[USVA_FAULT_LAT_BUCKETS];
};

/**
 * Snapshot counters: @p slot < nr_lcores for one lcore, or -1 for all.
 * @return 0; -EINVAL (bad slot).
 */
int usva_fault_stats(const struct usva_fault_service *svc, int slot,
		     struct usva_fault_stats *st);

/**
 * Snapshot the counters of one shard (requests resolved in it, responses
 * by code, latency).
 * @return 0; -EINVAL (shard >= nr_shards).
 */
int usva_fault_shard_stats(const struct usva_fault_service *svc,
			   unsigned int shard, struct usva_fault_stats *st);

/*
 * Telemetry: the service is listed under /usva/fault/stats (totals, per
 * lcore) and /usva/fault/shards while it exists; both take an optional
 * service index parameter (default: the first) and list the indexes.
 */

/** Latency percentile (0 < p < 100) from a histogram, in ns (linear
 *  inside the log2 bucket); 0 for an empty histogram or a bad @p p. */
uint64_t usva_fault_lat_percentile(const struct usva_fault_stats *st, double p);

/** Print the counters (per lcore and total) to @p f. */
void usva_fault_dump(const struct usva_fault_service *svc, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* USVA_FAULT_H */
