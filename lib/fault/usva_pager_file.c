/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * File pager: the page at VA holds the file's bytes at offset
 * VA - base + file_offset, read with io_uring into a page of a pool.
 *
 * Per fault lcore slot: one io_uring (made at create for every slot, so
 * set-up errors surface at create and the fault path never makes a ring)
 * and a fixed array of requests (no heap on the fault path). A request is
 * on exactly one of: the free list, the waiting FIFO (accepted, needs a
 * ring entry: a new read, a continuation of a short read, a retry), the
 * ring (in_flight), or the retry list (mapped, usva_fault_complete() said
 * -EAGAIN). Only the slot's owner touches any of it — fault() and flush()
 * are called from slot `f->slot` / `slot` only — so nothing is locked;
 * counters are written with relaxed stores for readers elsewhere.
 *
 * fault() prepares at most queue_depth reads per ring (ring entries are
 * never short: the ring has at least that many), the rest wait.
 * flush() reaps, retries completions, refills the ring from the waiting
 * FIFO, submits once, and reaps again: buffered reads the page cache can
 * serve complete inside the submit call, so they are answered in the same
 * flush; reads refilled after that are submitted by the next flush.
 *
 * A read's user_data is its request. The page comes zeroed from the pool,
 * so a read that ends at end of file leaves a zero tail with nothing to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_log.h"
#include "usva_page_pool.h"
#include "usva_pager_driver.h"
#include "usva_pager_internal.h"
#include "usva_struct.h"

#define DEFAULT_DEPTH		64u
#define MAX_DEPTH		4096u
#define MIN_DEFAULT_PENDING	256u
#define MAX_PENDING		65536u
#define REAP_BATCH		32u
#define MAX_RETRIES		8u	/* -EAGAIN/-EINTR from one read */
#define NO_REQ			UINT32_MAX
#define DRAIN_WAIT_S		1	/* destroy: per wait for a read */
#define DRAIN_TRIES		10

enum req_state {
	REQ_FREE = 0,
	REQ_WAITING,		/* in the waiting FIFO */
	REQ_READING,		/* a read is in the ring */
	REQ_COMPLETING,		/* mapped or failed; completion to retry */
};

struct file_req {
	struct usva_as *as;
	uint64_t addr;
	uint64_t off;		/* file offset of the page */
	void *page;
	struct usva_fault_token tok;
	uint32_t done;		/* bytes read so far */
	uint32_t next;		/* free list, FIFO or retry list link */
	int32_t result;		/* completion to retry */
	uint8_t state;		/* enum req_state */
	uint8_t retries;
};

struct file_slot {
	struct io_uring ring;
	struct file_req *reqs;
	uint32_t free_head;
	uint32_t wait_head, wait_tail;
	uint32_t retry_head, retry_tail;
	uint32_t in_flight;	/* reads prepared and not reaped */
	uint32_t waiting;	/* requests in the waiting FIFO */
	bool ring_ok;
	bool fixed_file;	/* fd registered as fixed file 0 */
	/* Counters (see usva_pager_file_stats). */
	uint64_t faults;
	uint64_t reads;
	uint64_t submits;
	uint64_t submit_errors;
	uint64_t completed;
	uint64_t already_mapped;
	uint64_t short_reads;
	uint64_t eof_pages;
	uint64_t read_errors;
	uint64_t map_errors;
	uint64_t busy;
	uint64_t no_page;
	uint64_t prot_denied;
	uint64_t complete_retries;
	uint64_t stale;
	uint64_t max_in_flight;
} __rte_cache_aligned;

struct filep {
	/* Immutable after create. */
	int fd;
	uint32_t depth;
	uint32_t max_pending;
	uint32_t prot;
	uint64_t base;
	uint64_t last;		/* inclusive */
	uint64_t file_offset;
	uint64_t page_size;
	struct usva_page_pool *pool;
	struct usva_iommu *iommu;
	bool pool_mapped;
	struct file_slot *slots;	/* USVA_FAULT_MAX_LCORES */
};

static const struct usva_pager_ops file_ops;

static inline struct filep *
filep_of(const struct usva_pager *p)
{
	return p->priv;
}

/* Slot-local counters and gauges: one writer, relaxed readers. */
static inline void
gauge_set(uint32_t *g, uint32_t v)
{
	__atomic_store_n(g, v, __ATOMIC_RELAXED);
}

/* ---- request lists ---------------------------------------------------------- */

static inline struct file_req *
req_at(struct file_slot *s, uint32_t i)
{
	return &s->reqs[i];
}

static inline uint32_t
req_index(struct file_slot *s, struct file_req *r)
{
	return (uint32_t)(r - s->reqs);
}

static void
req_free(struct file_slot *s, struct file_req *r)
{
	r->state = REQ_FREE;
	r->page = NULL;
	r->next = s->free_head;
	s->free_head = req_index(s, r);
}

/* Append to a FIFO given by its head and tail. */
static void
fifo_push(struct file_slot *s, uint32_t *head, uint32_t *tail,
	  struct file_req *r)
{
	uint32_t i = req_index(s, r);

	r->next = NO_REQ;
	if (*head == NO_REQ)
		*head = i;
	else
		req_at(s, *tail)->next = i;
	*tail = i;
}

static struct file_req *
fifo_pop(struct file_slot *s, uint32_t *head, uint32_t *tail)
{
	struct file_req *r;

	if (*head == NO_REQ)
		return NULL;
	r = req_at(s, *head);
	*head = r->next;
	if (*head == NO_REQ)
		*tail = NO_REQ;
	return r;
}

static void
wait_push(struct file_slot *s, struct file_req *r)
{
	r->state = REQ_WAITING;
	fifo_push(s, &s->wait_head, &s->wait_tail, r);
	gauge_set(&s->waiting, s->waiting + 1);
}

/* ---- reads ----------------------------------------------------------------- */

/* Put the read of the rest of @p r's page in the ring, if there is room
 * under queue_depth. @return false if it must wait. */
static bool
req_start(const struct filep *fp, struct file_slot *s, struct file_req *r)
{
	struct io_uring_sqe *sqe;

	if (s->in_flight >= fp->depth)
		return false;
	sqe = io_uring_get_sqe(&s->ring);
	if (unlikely(sqe == NULL))
		return false;	/* cannot happen: the ring has >= depth */
	io_uring_prep_read(sqe, s->fixed_file ? 0 : fp->fd,
			   (uint8_t *)r->page + r->done,
			   (unsigned int)(fp->page_size - r->done),
			   r->off + r->done);
	if (s->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, r);
	r->state = REQ_READING;
	gauge_set(&s->in_flight, s->in_flight + 1);
	PAGER_STAT_INC(s->reads);
	if (s->in_flight > s->max_in_flight)
		PAGER_STAT_ADD(s->max_in_flight, 1);
	return true;
}

/* Move waiting requests into the ring while there is room. */
static void
refill(const struct filep *fp, struct file_slot *s)
{
	while (s->wait_head != NO_REQ && s->in_flight < fp->depth) {
		struct file_req *r = req_at(s, s->wait_head);

		if (!req_start(fp, s, r))
			break;
		fifo_pop(s, &s->wait_head, &s->wait_tail);
		gauge_set(&s->waiting, s->waiting - 1);
	}
}

/* Answer @p r's page with @p rc. @return 1 if done, 0 if to retry. */
static unsigned int
req_complete(struct file_slot *s, struct file_req *r, int rc)
{
	int c = usva_fault_complete(r->tok, rc);

	if (unlikely(c == -EAGAIN)) {
		/* The service's completion queue is full: keep the result
		 * and try again at the next flush. */
		r->state = REQ_COMPLETING;
		r->result = rc;
		fifo_push(s, &s->retry_head, &s->retry_tail, r);
		PAGER_STAT_INC(s->complete_retries);
		return 0;
	}
	if (c == -ESTALE)
		PAGER_STAT_INC(s->stale);	/* answered already (timeout) */
	req_free(s, r);
	return 1;
}

/* A read of @p r came back with @p res. @return completions made. */
static unsigned int
read_done(const struct filep *fp, struct file_slot *s, struct file_req *r,
	  int res)
{
	int rc;

	if (unlikely(res < 0)) {
		if ((res == -EAGAIN || res == -EINTR) && r->retries < MAX_RETRIES) {
			r->retries++;
			if (!req_start(fp, s, r))
				wait_push(s, r);
			return 0;
		}
		PAGER_STAT_INC(s->read_errors);
		USVA_LOG_RATELIMITED(ERR, pager, "file: read of offset 0x%" PRIx64
				     " for 0x%" PRIx64 " failed: %s",
				     r->off + r->done, r->addr, strerror(-res));
		usva_page_free(fp->pool, r->page, false);
		return req_complete(s, r, -EIO);
	}
	if (res > 0) {
		r->done += (uint32_t)res;
		if (r->done < fp->page_size) {
			/* Short: end of file is near, or the read was cut;
			 * the next read says which. */
			PAGER_STAT_INC(s->short_reads);
			if (!req_start(fp, s, r))
				wait_push(s, r);
			return 0;
		}
	} else if (r->done < fp->page_size) {
		/* End of file: the rest of the pool page is zero already. */
		PAGER_STAT_INC(s->eof_pages);
	}

	rc = usva_as_map(r->as, r->addr, (uint64_t)(uintptr_t)r->page,
			 fp->page_size, fp->prot, 0);
	if (likely(rc == 0)) {
		PAGER_STAT_INC(s->completed);
	} else {
		usva_page_free(fp->pool, r->page, false);
		if (rc == -EEXIST) {
			/* Mapped meanwhile (another group, a prefetch). */
			PAGER_STAT_INC(s->already_mapped);
			rc = 0;
		} else {
			PAGER_STAT_INC(s->map_errors);
			USVA_LOG_RATELIMITED(ERR, pager, "file: stage-1 map of 0x%"
					     PRIx64 " failed: %s", r->addr,
					     strerror(-rc));
		}
	}
	return req_complete(s, r, rc);
}

/* Take what the ring has finished, without waiting. */
static unsigned int
reap(const struct filep *fp, struct file_slot *s)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned int total = 0, n;

	do {
		n = io_uring_peek_batch_cqe(&s->ring, cqes, REAP_BATCH);
		for (unsigned int i = 0; i < n; i++) {
			struct file_req *r = io_uring_cqe_get_data(cqes[i]);

			gauge_set(&s->in_flight, s->in_flight - 1);
			total += read_done(fp, s, r, cqes[i]->res);
		}
		io_uring_cq_advance(&s->ring, n);
	} while (n == REAP_BATCH);
	return total;
}

static unsigned int
retry_completions(struct file_slot *s)
{
	unsigned int total = 0;
	struct file_req *r;

	while ((r = fifo_pop(s, &s->retry_head, &s->retry_tail)) != NULL) {
		if (req_complete(s, r, r->result) == 0) {
			/* Pushed back at the tail: the queue is still full;
			 * the rest waits for the next flush. */
			break;
		}
		total++;
	}
	return total;
}

static int
file_fault(struct usva_pager *p, const struct usva_pager_fault *f)
{
	const struct filep *fp = filep_of(p);
	struct file_slot *s;
	struct file_req *r;
	void *page;

	if (unlikely(f->slot >= USVA_FAULT_MAX_LCORES))
		return -EINVAL;
	s = &fp->slots[f->slot];
	PAGER_STAT_INC(s->faults);
	if (unlikely(f->addr < fp->base || f->addr > fp->last ||
		     (f->addr & (fp->page_size - 1))))
		return -EFAULT;
	if (unlikely(((f->perm & USVA_ACCESS_WRITE) &&
		      !(fp->prot & USVA_PROT_WRITE)) ||
		     ((f->perm & USVA_ACCESS_EXEC) &&
		      !(fp->prot & USVA_PROT_EXEC)))) {
		PAGER_STAT_INC(s->prot_denied);
		return -EACCES;
	}
	if (unlikely(s->free_head == NO_REQ)) {
		PAGER_STAT_INC(s->busy);
		USVA_LOG_RATELIMITED(NOTICE, pager, "file: slot %u has %u requests "
				     "pending; fault at 0x%" PRIx64 " refused",
				     f->slot, fp->max_pending, f->addr);
		return -EBUSY;
	}
	page = usva_page_alloc(fp->pool);
	if (unlikely(page == NULL)) {
		PAGER_STAT_INC(s->no_page);
		USVA_LOG_RATELIMITED(NOTICE, pager, "file: page pool empty; fault "
				     "at 0x%" PRIx64 " refused", f->addr);
		return -ENOMEM;
	}
	r = req_at(s, s->free_head);
	s->free_head = r->next;
	r->as = f->as;
	r->addr = f->addr;
	r->off = f->addr - fp->base + fp->file_offset;
	r->page = page;
	r->tok = f->tok;
	r->done = 0;
	r->retries = 0;
	/* Keep arrival order: nothing overtakes requests already waiting. */
	if (s->wait_head != NO_REQ || !req_start(fp, s, r))
		wait_push(s, r);
	return USVA_PAGER_PENDING;
}

static unsigned int
file_flush(struct usva_pager *p, unsigned int slot)
{
	const struct filep *fp = filep_of(p);
	struct file_slot *s;
	unsigned int n;
	int rc;

	if (unlikely(slot >= USVA_FAULT_MAX_LCORES))
		return 0;
	s = &fp->slots[slot];
	if (s->in_flight == 0 && s->wait_head == NO_REQ &&
	    s->retry_head == NO_REQ)
		return 0;	/* idle: no syscall */

	n = reap(fp, s);
	n += retry_completions(s);
	refill(fp, s);
	if (io_uring_sq_ready(&s->ring) > 0) {
		/* The one syscall of the burst. A failure leaves the entries
		 * in the ring; the next flush submits them again. */
		rc = io_uring_submit(&s->ring);
		PAGER_STAT_INC(s->submits);
		if (unlikely(rc < 0)) {
			PAGER_STAT_INC(s->submit_errors);
			if (rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
				USVA_LOG_RATELIMITED(ERR, pager, "file: "
						     "io_uring_submit: %s",
						     strerror(-rc));
		}
	}
	/* Reads served from the page cache completed inside the submit. */
	n += reap(fp, s);
	refill(fp, s);
	return n;
}

/* ---- create / destroy ------------------------------------------------------- */

/* Wait for the reads still in @p s's ring (control path), giving their
 * pages back. A read that never comes back keeps its page: it may still
 * be written. */
static void
slot_drain(const struct filep *fp, struct file_slot *s, unsigned int slot)
{
	struct __kernel_timespec ts = { .tv_sec = DRAIN_WAIT_S };
	unsigned int tries = 0;

	if (io_uring_sq_ready(&s->ring) > 0)
		io_uring_submit(&s->ring);
	while (s->in_flight > 0 && tries < DRAIN_TRIES) {
		struct io_uring_cqe *cqe;
		struct file_req *r;
		int rc = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);

		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			tries++;
			continue;
		}
		r = io_uring_cqe_get_data(cqe);
		io_uring_cqe_seen(&s->ring, cqe);
		s->in_flight--;
		usva_page_free(fp->pool, r->page, false);
		r->state = REQ_FREE;
	}
	if (s->in_flight > 0)
		USVA_LOG(ERR, pager, "file: slot %u: %u reads did not finish at "
			 "destroy; their pages are not given back", slot,
			 s->in_flight);
	/* Requests that never got a ring entry hold a page only. Those on
	 * the retry list had theirs mapped (or freed) already. The groups
	 * were answered when their handler was unregistered. */
	for (uint32_t i = 0; i < fp->max_pending; i++) {
		struct file_req *r = &s->reqs[i];

		if (r->state == REQ_WAITING)
			usva_page_free(fp->pool, r->page, false);
	}
}

static void
file_release(struct filep *fp)
{
	if (fp->slots != NULL) {
		for (unsigned int i = 0; i < USVA_FAULT_MAX_LCORES; i++) {
			struct file_slot *s = &fp->slots[i];

			if (s->ring_ok) {
				slot_drain(fp, s, i);
				io_uring_queue_exit(&s->ring);
			}
			usva_free(s->reqs);
		}
	}
	if (fp->pool_mapped)
		usva_iommu_unmap_pool(fp->iommu, fp->pool);
	usva_free(fp->slots);
}

static void
file_destroy(struct usva_pager *p)
{
	file_release(filep_of(p));
}

static int
slot_init(struct filep *fp, struct file_slot *s)
{
	int rc;

	s->free_head = NO_REQ;
	s->wait_head = s->wait_tail = NO_REQ;
	s->retry_head = s->retry_tail = NO_REQ;
	s->reqs = usva_zmalloc((size_t)fp->max_pending * sizeof(*s->reqs));
	if (s->reqs == NULL)
		return -ENOMEM;
	for (uint32_t i = fp->max_pending; i-- > 0;)
		req_free(s, &s->reqs[i]);
	if (usva_fail_point("file_uring"))
		return -ENOMEM;
	rc = io_uring_queue_init(fp->depth, &s->ring, 0);
	if (rc < 0) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: io_uring_queue_init"
			 "(%u): %s", fp->depth, strerror(-rc));
		return rc;
	}
	s->ring_ok = true;
	/* A fixed file saves a file lookup per read, and keeps the file
	 * open for the ring whatever the caller does with fd. */
	s->fixed_file = io_uring_register_files(&s->ring, &fp->fd, 1) == 0;
	return 0;
}

/* fd must be open for reading, on a regular file or a block device. */
static int
file_check_fd(int fd)
{
	struct stat st;
	int fl;

	if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: fd %d is not open", fd);
		return -EBADF;
	}
	if ((fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: fd %d is not open "
			 "for reading", fd);
		return -EBADF;
	}
	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		USVA_LOG(ERR, pager, "usva_pager_file_create: fstat(%d): %s", fd,
			 strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: fd %d is neither a "
			 "regular file nor a block device", fd);
		return -EINVAL;
	}
	return 0;
}

static int
file_config_check(struct usva_pager_file_config *cfg, uint64_t *psz)
{
	uint64_t sz;

	if (cfg->queue_depth == 0)
		cfg->queue_depth = DEFAULT_DEPTH;
	if (cfg->queue_depth > MAX_DEPTH) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: queue_depth %u above %u",
			 cfg->queue_depth, MAX_DEPTH);
		return -EINVAL;
	}
	if (cfg->max_pending == 0)
		cfg->max_pending = RTE_MAX(4 * cfg->queue_depth,
					   MIN_DEFAULT_PENDING);
	if (cfg->max_pending < cfg->queue_depth || cfg->max_pending > MAX_PENDING) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: max_pending %u "
			 "outside [queue_depth %u, %u]", cfg->max_pending,
			 cfg->queue_depth, MAX_PENDING);
		return -EINVAL;
	}
	if (cfg->prot == 0)
		cfg->prot = USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER;
	if (!(cfg->prot & USVA_PROT_READ) || (cfg->prot & ~USVA_PROT_ALL)) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: bad prot 0x%x",
			 cfg->prot);
		return -EINVAL;
	}
	if (cfg->pool == NULL)
		cfg->pool = usva_page_pool_default();
	if (cfg->pool == NULL) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: no pool and no "
			 "default pool (usva_init() not called)");
		return -EINVAL;
	}
	sz = usva_page_pool_page_size(cfg->pool);
	if (cfg->len == 0 || ((cfg->base | cfg->len | cfg->file_offset) & (sz - 1))) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: base 0x%" PRIx64
			 " len 0x%" PRIx64 " file_offset 0x%" PRIx64 " empty or "
			 "not aligned to the pool's 0x%" PRIx64 "-byte pages",
			 cfg->base, cfg->len, cfg->file_offset, sz);
		return -EINVAL;
	}
	if (cfg->base + (cfg->len - 1) < cfg->base ||
	    cfg->file_offset + (cfg->len - 1) < cfg->file_offset ||
	    cfg->file_offset + (cfg->len - 1) > (uint64_t)INT64_MAX) {
		USVA_LOG(ERR, pager, "usva_pager_file_create: range or file range "
			 "wraps");
		return -EINVAL;
	}
	*psz = sz;
	return file_check_fd(cfg->fd);
}

int
usva_pager_file_create(const struct usva_pager_file_config *ucfg,
		       struct usva_pager **out)
{
	struct usva_pager_file_config cfg;
	struct usva_pager *p;
	struct filep *fp;
	uint64_t psz = 0;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	rc = USVA_STRUCT_LOAD(&cfg, ucfg, file_offset);
	if (rc == 0)
		rc = usva_check_flags(cfg.flags, 0, "usva_pager_file_config.flags");
	if (rc == 0)
		rc = usva_check_reserved(cfg.reserved, sizeof(cfg.reserved),
					 "usva_pager_file_config.reserved");
	if (rc == 0)
		rc = file_config_check(&cfg, &psz);
	if (rc)
		return rc;

	p = usva_pager_alloc(&file_ops, sizeof(*fp));
	if (p == NULL)
		return -ENOMEM;
	fp = p->priv;
	memset(fp, 0, sizeof(*fp));
	p->base = cfg.base;
	p->len = cfg.len;
	p->page_size = psz;
	fp->fd = cfg.fd;
	fp->depth = cfg.queue_depth;
	fp->max_pending = cfg.max_pending;
	fp->prot = cfg.prot;
	fp->base = cfg.base;
	fp->last = cfg.base + (cfg.len - 1);
	fp->file_offset = cfg.file_offset;
	fp->page_size = psz;
	fp->pool = cfg.pool;
	fp->iommu = cfg.iommu;

	fp->slots = usva_zmalloc_aligned(USVA_FAULT_MAX_LCORES *
					 sizeof(*fp->slots), RTE_CACHE_LINE_SIZE);
	if (fp->slots == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	for (unsigned int i = 0; i < USVA_FAULT_MAX_LCORES; i++) {
		rc = slot_init(fp, &fp->slots[i]);
		if (rc)
			goto err;
	}
	if (fp->iommu != NULL) {
		rc = usva_iommu_map_pool(fp->iommu, fp->pool);
		if (rc) {
			USVA_LOG(ERR, pager, "usva_pager_file_create: pool not "
				 "mappable in stage 2: %s", strerror(-rc));
			goto err;
		}
		fp->pool_mapped = true;
	}
	USVA_LOG(DEBUG, pager, "file fd %d: 0x%" PRIx64 "-0x%" PRIx64 " from "
		 "offset 0x%" PRIx64 ", %u reads in flight and %u pending per "
		 "slot%s", fp->fd, fp->base, fp->last, fp->file_offset, fp->depth,
		 fp->max_pending, fp->slots[0].fixed_file ? ", fixed file" : "");
	*out = p;
	return 0;
err:
	file_release(fp);
	usva_pager_free(p);
	return rc;
}

int
usva_pager_file_stats(const struct usva_pager *p,
		      struct usva_pager_file_stats *st)
{
	const struct filep *fp;

	if (p == NULL || p->ops != &file_ops || st == NULL)
		return -EINVAL;
	fp = filep_of(p);
	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < USVA_FAULT_MAX_LCORES; i++) {
		const struct file_slot *s = &fp->slots[i];
		uint64_t m;

		st->faults += PAGER_STAT_READ(s->faults);
		st->reads += PAGER_STAT_READ(s->reads);
		st->submits += PAGER_STAT_READ(s->submits);
		st->submit_errors += PAGER_STAT_READ(s->submit_errors);
		st->completed += PAGER_STAT_READ(s->completed);
		st->already_mapped += PAGER_STAT_READ(s->already_mapped);
		st->short_reads += PAGER_STAT_READ(s->short_reads);
		st->eof_pages += PAGER_STAT_READ(s->eof_pages);
		st->read_errors += PAGER_STAT_READ(s->read_errors);
		st->map_errors += PAGER_STAT_READ(s->map_errors);
		st->busy += PAGER_STAT_READ(s->busy);
		st->no_page += PAGER_STAT_READ(s->no_page);
		st->prot_denied += PAGER_STAT_READ(s->prot_denied);
		st->complete_retries += PAGER_STAT_READ(s->complete_retries);
		st->stale += PAGER_STAT_READ(s->stale);
		st->in_flight += PAGER_STAT_READ(s->in_flight);
		st->waiting += PAGER_STAT_READ(s->waiting);
		m = PAGER_STAT_READ(s->max_in_flight);
		st->max_in_flight = RTE_MAX(st->max_in_flight, m);
	}
	return 0;
}

static const struct usva_pager_ops file_ops = {
	.name = "file",
	.fault = file_fault,
	.flush = file_flush,
	.destroy = file_destroy,
};
