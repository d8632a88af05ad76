/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: page requests and page responses (PCIe PRI) through
 * the kernel's fault queue (IOMMU_FAULT_QUEUE_ALLOC, Linux 6.11).
 *
 * One fault queue per instance: every nested HWPT made for a device that
 * takes page requests names it (IOMMU_HWPT_FAULT_ID_VALID + fault_id).
 * One queue means one read() per poll for all domains, one fd for the
 * page-request interrupt, and no per-domain fd whose lifetime the poller
 * would have to follow; the kernel still answers a PASID's pending groups
 * on detach and replace, per attachment.
 *
 * Poll. read() returns whole groups of struct iommu_hwpt_pgfault (a group
 * whose requests do not fit waits for the next read), so the poller reads
 * a staging buffer of prq_depth entries and hands out up to n at a time:
 * one system call per burst, none per fault. Only the instance's one
 * poller touches the staging buffer.
 *
 * Respond. Responses are written as arrays of struct
 * iommu_hwpt_page_response {cookie, code}: the kernel takes SUCCESS and
 * INVALID (FAILURE becomes INVALID) and echoes the group's private data
 * itself. A write stops at the first response the kernel refuses (a
 * cookie it no longer knows: answered already on detach, replace or
 * close); that one is dropped and counted, the rest are written again.
 *
 * Interrupt. The fault fd is readable while groups wait, and wakes its
 * pollers when one arrives: it is the instance's usva_iommu_prq_fd().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "usva_alloc.h"
#include "iommufd_internal.h"

/* ---- device ids ---------------------------------------------------------- */

int
iommufd_devmap_add(struct iommufd *f, uint32_t kid, uint32_t uid)
{
	uint64_t v = (uint64_t)kid << 32 | uid;
	int rc = -ENOSPC;

	pthread_mutex_lock(&f->devmap_lock);
	for (unsigned int i = 0; i < IOMMUFD_MAX_DEVS; i++) {
		if (f->devmap[i] != 0)
			continue;
		/* Release: pairs with the poller's acquire. */
		__atomic_store_n(&f->devmap[i], v, __ATOMIC_RELEASE);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&f->devmap_lock);
	if (rc)
		IOMMUFD_LOG(ERR, "more than %u devices on one instance",
			    IOMMUFD_MAX_DEVS);
	return rc;
}

void
iommufd_devmap_del(struct iommufd *f, uint32_t kid)
{
	pthread_mutex_lock(&f->devmap_lock);
	for (unsigned int i = 0; i < IOMMUFD_MAX_DEVS; i++)
		if (f->devmap[i] >> 32 == kid)
			__atomic_store_n(&f->devmap[i], 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&f->devmap_lock);
}

/* usva id of kernel device @p kid, 0 if none; @p cache: the last hit. */
static inline uint32_t
devmap_find(struct iommufd *f, uint32_t kid, uint64_t *cache)
{
	uint64_t v;

	if (*cache >> 32 == kid)
		return (uint32_t)*cache;
	for (unsigned int i = 0; i < IOMMUFD_MAX_DEVS; i++) {
		v = __atomic_load_n(&f->devmap[i], __ATOMIC_ACQUIRE);
		if (v != 0 && v >> 32 == kid) {
			*cache = v;
			return (uint32_t)v;
		}
	}
	return 0;
}

/* ---- set-up -------------------------------------------------------------- */

int
iommufd_fault_init(struct iommufd *f, uint32_t depth)
{
	struct iommu_fault_alloc a = { .size = sizeof(a) };
	int rc, fl;

	f->fault_fd = -1;
	rc = iommufd_ioctl(f->fd, IOMMU_FAULT_QUEUE_ALLOC, &a);
	if (rc) {
		iommufd_note_missing("page requests (PRI)", rc == -ENOTTY ?
			"the kernel has no IOMMU_FAULT_QUEUE_ALLOC (fault "
			"queues need Linux 6.11+)" :
			"IOMMU_FAULT_QUEUE_ALLOC failed");
		IOMMUFD_LOG(DEBUG, "IOMMU_FAULT_QUEUE_ALLOC: %s", strerror(-rc));
		return rc == -ENOMEM ? rc : 0;
	}
	f->fault_fd = (int)a.out_fault_fd;
	f->fault_id = a.out_fault_id;
	/* Polling must never sleep in read(). */
	fl = fcntl(f->fault_fd, F_GETFL);
	if (fl >= 0)
		fcntl(f->fault_fd, F_SETFL, fl | O_NONBLOCK);
	f->stage = usva_zmalloc_aligned(sizeof(*f->stage) * depth,
					RTE_CACHE_LINE_SIZE);
	if (f->stage == NULL) {
		iommufd_fault_fini(f);
		return -ENOMEM;
	}
	f->stage_cap = depth;
	return 0;
}

void
iommufd_fault_fini(struct iommufd *f)
{
	/* Closing the queue answers its undelivered groups INVALID; the
	 * delivered ones are answered when their HWPTs go. */
	if (f->fault_fd >= 0)
		iommufd_sys.close(f->fault_fd);
	f->fault_fd = -1;
	if (f->fault_id != 0)
		iommufd_destroy_obj(f, f->fault_id, "fault queue");
	f->fault_id = 0;
	usva_free(f->stage);
	f->stage = NULL;
	f->stage_cap = f->stage_n = f->stage_head = 0;
}

int
iommufd_prq_fd(struct usva_iommu *iommu)
{
	struct iommufd *f = iommufd_of(iommu);

	return f->fault_fd >= 0 ? f->fault_fd : -EOPNOTSUPP;
}

/* ---- poll (fast path, one poller) ---------------------------------------- */

/* One read() into the empty staging buffer. @return entries read. */
static uint32_t
stage_fill(struct iommufd *f)
{
	ssize_t r;

	if (f->fault_fd < 0)
		return 0;
	r = iommufd_sys.read(f->fault_fd, f->stage,
			     f->stage_cap * sizeof(*f->stage));
	if (r <= 0) {
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			IOMMUFD_LOG_RL(ERR, "reading the fault queue: %s",
				       strerror(errno));
		return 0;
	}
	f->stage_head = 0;
	f->stage_n = (uint32_t)((size_t)r / sizeof(*f->stage));
	f->stage_ts = rte_rdtsc();
	iommufd_stat_add(f, IOMMUFD_ST_PAGE_REQUESTS, f->stage_n);
	return f->stage_n;
}

uint16_t
iommufd_prq_poll(void *ctx, struct usva_page_req *reqs, uint16_t n)
{
	struct iommufd *f = ctx;
	uint64_t cache = 0;
	uint16_t got = 0;

	if (f->stage_n == 0 && stage_fill(f) == 0)
		return 0;
	while (got < n && f->stage_n > 0) {
		const struct iommu_hwpt_pgfault *pf = &f->stage[f->stage_head];
		uint32_t uid = devmap_find(f, pf->dev_id, &cache);

		f->stage_head++;
		f->stage_n--;
		if (unlikely(uid == 0)) {
			/* Its device is closing: the kernel answers the
			 * group when the device detaches. */
			IOMMUFD_LOG_RL(DEBUG, "page request of unknown device "
				       "%u dropped", pf->dev_id);
			continue;
		}
		iommufd_pgfault_to_req(pf, uid, f->stage_ts, &reqs[got++]);
	}
	return got;
}

int
iommufd_prq_arm(void *ctx)
{
	struct iommufd *f = ctx;
	struct pollfd p = { .fd = f->fault_fd, .events = POLLIN };

	if (f->stage_n > 0)
		return 1;
	/* The fd wakes its waiters on every new group: one that arrives
	 * after this check wakes the sleeper. */
	return iommufd_sys.poll(&p, 1, 0) > 0 ? 1 : 0;
}

/* ---- respond (thread-safe) ----------------------------------------------- */

/* Write @p k responses; drop (and count) each the kernel refuses. */
static void
resp_write(struct iommufd *f, const struct iommu_hwpt_page_response *b,
	   uint32_t k)
{
	uint32_t off = 0, ok = 0, dropped = 0;
	ssize_t w;

	while (off < k) {
		w = iommufd_sys.write(f->fault_fd, b + off,
				      (k - off) * sizeof(*b));
		if (w > 0) {
			off += (uint32_t)((size_t)w / sizeof(*b));
			ok += (uint32_t)((size_t)w / sizeof(*b));
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		IOMMUFD_LOG_RL(DEBUG, "page response cookie %u refused: %s",
			       b[off].cookie, w < 0 ? strerror(errno) :
			       "nothing written");
		off++;
		dropped++;
	}
	if (ok)
		iommufd_stat_add(f, IOMMUFD_ST_RESPONSES, ok);
	if (dropped)
		iommufd_stat_add(f, IOMMUFD_ST_RESPONSES_DROPPED, dropped);
}

uint16_t
iommufd_page_respond(void *ctx, const struct usva_page_resp *resp, uint16_t n)
{
	struct iommu_hwpt_page_response b[IOMMUFD_RESP_CHUNK];
	struct iommufd *f = ctx;
	uint32_t k = 0, bad = 0;

	if (unlikely(f->fault_fd < 0)) {
		iommufd_stat_add(f, IOMMUFD_ST_RESPONSES_DROPPED, n);
		return n;
	}
	for (uint16_t i = 0; i < n; i++) {
		if (unlikely(!iommufd_resp_encode(&resp[i], &b[k]))) {
			IOMMUFD_LOG_RL(ERR, "page response code 0x%x unknown: "
				       "dropped", resp[i].code);
			bad++;
			continue;
		}
		if (++k == IOMMUFD_RESP_CHUNK) {
			resp_write(f, b, k);
			k = 0;
		}
	}
	if (k)
		resp_write(f, b, k);
	if (bad)
		iommufd_stat_add(f, IOMMUFD_ST_RESPONSES_DROPPED, bad);
	return n;
}
