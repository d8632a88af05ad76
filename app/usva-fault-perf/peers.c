/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The peers of the fault service, measured as a user would use them. Both
 * touch fresh memory, as the fault service's pagers hand out fresh pages:
 * what the kernel spends allocating and zeroing a page is part of what each
 * peer costs, as it is of a first touch in an application.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_common.h>

#include "app_clock.h"
#include "peers.h"

#define PG		4096u
#define MSG_BURST	64

static void
skip(struct peer_result *r, const char *why, int err)
{
	r->ran = false;
	snprintf(r->why, sizeof(r->why), "%s: %s", why, strerror(err));
}

static void *
fresh_map(uint64_t pages)
{
	void *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int
peer_first_touch(uint64_t pages, struct peer_result *r)
{
	uint64_t t0 = app_now_ns();
	volatile uint8_t *p = fresh_map(pages);

	memset(r, 0, sizeof(*r));
	if (p == NULL) {
		skip(r, "mmap", errno);
		return -errno;
	}
	r->setup_ns = app_now_ns() - t0;
	t0 = app_now_ns();
	for (uint64_t i = 0; i < pages; i++)
		p[i * PG] = 1;	/* one write fault per page */
	r->ns = app_now_ns() - t0;
	r->faults = pages;
	r->ran = true;
	munmap((void *)(uintptr_t)p, pages * PG);
	return 0;
}

/* ---- userfaultfd ------------------------------------------------------------ */

struct uffd_run {
	int fd;
	uint8_t *base;
	uint64_t pages;
	enum uffd_fill fill;
	uint8_t *src;		/* the page UFFDIO_COPY copies */
	uint64_t resolved;	/* handler thread's */
	int err;		/* handler thread's first error */
};

static bool
page_gets_copy(const struct uffd_run *u, uint64_t i)
{
	return u->fill == UFFD_FILL_COPY ||
	       (u->fill == UFFD_FILL_MIXED && (i & 1) == 0);
}

static int
uffd_resolve(struct uffd_run *u, uint64_t addr)
{
	uint64_t i = (addr - (uint64_t)(uintptr_t)u->base) / PG;

	addr &= ~(uint64_t)(PG - 1);
	if (page_gets_copy(u, i)) {
		struct uffdio_copy c = {
			.dst = addr, .src = (uint64_t)(uintptr_t)u->src,
			.len = PG,
		};

		if (ioctl(u->fd, UFFDIO_COPY, &c) < 0 && errno != EEXIST)
			return -errno;
	} else {
		struct uffdio_zeropage z = { .range = { addr, PG } };

		if (ioctl(u->fd, UFFDIO_ZEROPAGE, &z) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

/* After an error nothing resolves the touching thread's faults: unregister
 * the range, which wakes it, and the kernel fills the rest itself. */
static void
uffd_give_up(struct uffd_run *u)
{
	struct uffdio_range r = { (uint64_t)(uintptr_t)u->base, u->pages * PG };

	ioctl(u->fd, UFFDIO_UNREGISTER, &r);
}

/* The handler thread: read fault messages in bursts, resolve each. */
static void *
uffd_handler(void *arg)
{
	struct uffd_run *u = arg;
	struct uffd_msg msg[MSG_BURST];

	while (u->resolved < u->pages && u->err == 0) {
		struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		n = read(u->fd, msg, sizeof(msg));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				u->err = -errno;
			continue;
		}
		for (size_t k = 0; k < (size_t)n / sizeof(msg[0]); k++) {
			if (msg[k].event != UFFD_EVENT_PAGEFAULT)
				continue;
			u->err = uffd_resolve(u, msg[k].arg.pagefault.address);
			if (u->err)
				break;
			u->resolved++;
		}
	}
	if (u->err)
		uffd_give_up(u);
	return NULL;
}

static int
uffd_open(struct uffd_run *u, struct peer_result *r)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uint64_t)(uintptr_t)u->base, u->pages * PG },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	u->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->fd < 0) {
		skip(r, "userfaultfd() (kernel, seccomp or "
		     "vm.unprivileged_userfaultfd)", errno);
		return -errno;
	}
	if (ioctl(u->fd, UFFDIO_API, &api) < 0) {
		skip(r, "UFFDIO_API", errno);
		return -errno;
	}
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg) < 0) {
		skip(r, "UFFDIO_REGISTER", errno);
		return -errno;
	}
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Touch every page (a write where COPY resolves it, a read where
 * ZEROPAGE does), timing each touch: the fault's round trip. */
static void
uffd_touch(struct uffd_run *u, uint32_t *lat)
{
	volatile uint8_t *p = u->base;

	for (uint64_t i = 0; i < u->pages; i++) {
		uint64_t t = app_now_ns();

		if (page_gets_copy(u, i))
			p[i * PG] = 2;
		else
			(void)p[i * PG];
		lat[i] = (uint32_t)RTE_MIN(app_now_ns() - t, UINT32_MAX);
	}
}

static void
uffd_latency(uint32_t *lat, uint64_t n, struct peer_result *r)
{
	qsort(lat, n, sizeof(*lat), cmp_u32);
	r->lat_p50_ns = lat[n / 2];
	r->lat_p99_ns = lat[n * 99 / 100];
	r->lat_max_ns = lat[n - 1];
}

int
peer_userfaultfd(uint64_t pages, enum uffd_fill fill, struct peer_result *r)
{
	struct uffd_run u = { .fd = -1, .pages = pages, .fill = fill };
	uint64_t t0 = app_now_ns();
	uint32_t *lat = NULL;
	pthread_t th;
	int rc;

	memset(r, 0, sizeof(*r));
	u.base = fresh_map(pages);
	u.src = fresh_map(1);
	lat = calloc(pages, sizeof(*lat));
	if (u.base == NULL || u.src == NULL || lat == NULL) {
		rc = -ENOMEM;
		skip(r, "set-up", ENOMEM);
		goto out;
	}
	memset(u.src, 0x5a, PG);
	memset(lat, 0, pages * sizeof(*lat));	/* touched before timing */
	rc = uffd_open(&u, r);
	if (rc)
		goto out;
	rc = -pthread_create(&th, NULL, uffd_handler, &u);
	if (rc) {
		skip(r, "pthread_create", -rc);
		goto out;
	}
	r->setup_ns = app_now_ns() - t0;
	t0 = app_now_ns();
	uffd_touch(&u, lat);
	r->ns = app_now_ns() - t0;
	pthread_join(th, NULL);
	rc = u.err;
	if (rc) {
		skip(r, "resolving a fault", -rc);
		goto out;
	}
	r->faults = u.resolved;
	uffd_latency(lat, pages, r);
	r->ran = true;
out:
	if (u.fd >= 0)
		close(u.fd);
	free(lat);
	if (u.src != NULL)
		munmap(u.src, PG);
	if (u.base != NULL)
		munmap(u.base, pages * PG);
	return rc;
}
