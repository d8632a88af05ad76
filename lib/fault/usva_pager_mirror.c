/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mirror pager (SVA): a fault on VA maps stage-1 VA -> IOVA = VA, with the
 * protection of the process mapping (VMA) that holds VA, after making sure
 * the process's memory there is populated and mapped in stage 2.
 *
 * Three pieces of state, each with its own rule:
 *
 * 1. The VMA cache: the process mappings inside [base, base + len), from
 *    /proc/self/maps, sorted, clipped to the range, neighbours of equal
 *    protection merged. Two buffers of fixed capacity (allocated at
 *    create); a re-read fills the one not in use and publishes it under a
 *    sequence count, so fault lcores read it without a lock or a store and
 *    a re-read never makes them wait for the file. A reader that loaded the
 *    old buffer began before the publication, so its sequence check fails
 *    if a later re-read reuses that buffer under it; buffers are only freed
 *    at destroy. Re-reads are serialised by reread_lock.
 *
 * 2. Stage-2 state: a radix over the range, indexed by 512 GiB, 1 GiB and
 *    2 MiB, whose leaves hold per-4-KiB-page bits: present (stage 2 maps
 *    the page, whoever mapped it; without an IOMMU: populated), own (this
 *    pager mapped it) and wr (this pager mapped it writable). Only the
 *    top array is allocated at create: a bitmap over a whole process
 *    range would be gigabytes. Interior nodes and leaves are allocated on
 *    the first fault of their 2 MiB chunk — the warm path, which also
 *    makes the stage-2 map call and the populate call, under the chunk's
 *    stripe lock — and live until destroy. Interior nodes are installed
 *    by compare-and-swap (two chunks of one GiB may race on different
 *    stripes); a leaf only by its chunk's stripe holder. Bits are set with
 *    release after own/wr, and the hot path tests them with acquire.
 *
 * 3. Counters: per fault lcore slot for the hot path (written by the slot
 *    owner only), atomics for the warm and slow paths.
 *
 * Hot path (the chunk is done, the cache knows the address): one cache
 * lookup, one bit test, usva_as_map(). No lock, no heap, no syscall.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_pause.h>
#include <rte_spinlock.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_log.h"
#include "usva_pager_driver.h"
#include "usva_pager_internal.h"
#include "usva_struct.h"

RTE_LOG_REGISTER(usva_logtype_pager, usva.pager, INFO);

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define PG_SHIFT	12
#define PG_SIZE		(UINT64_C(1) << PG_SHIFT)
#define CHUNK_SHIFT	21			/* stage-2 and leaf granule */
#define CHUNK_SIZE	(UINT64_C(1) << CHUNK_SHIFT)
#define CHUNK_PAGES	(CHUNK_SIZE / PG_SIZE)
#define LEAF_WORDS	(CHUNK_PAGES / 64)
#define L3_SHIFT	30			/* a dir of leaves: 1 GiB */
#define L2_SHIFT	39			/* a dir of dirs: 512 GiB */
#define DIR_ENTRIES	512u
#define VA_LIMIT	(UINT64_C(1) << 57)	/* no user address above */
#define NR_STRIPES	64u
#define REREAD_PER_S	100u			/* slow path: every 10 ms */
#define MAPS_BUF_SIZE	16384u
#define DEFAULT_MAP_COUNT 65530u

/* VMA protection, packed in the low bits of vma_ent.start_prot. */
#define VMA_R		1u
#define VMA_W		2u
#define VMA_X		4u
#define VMA_PROT_MASK	UINT64_C(0xfff)

struct vma_ent {
	uint64_t start_prot;	/* start | VMA_* (start is page aligned) */
	uint64_t end;		/* exclusive */
};

struct vma {
	uint64_t start;
	uint64_t end;
	uint32_t prot;
};

struct s2_leaf {
	uint64_t present[LEAF_WORDS];
	uint64_t own[LEAF_WORDS];
	uint64_t wr[LEAF_WORDS];
};

struct s2_dir {
	void *slot[DIR_ENTRIES];
};

/* Hot-path counters of one fault lcore slot, written by its owner only. */
struct mirror_slot {
	uint64_t faults;
	uint64_t mapped;
	uint64_t already_mapped;
	uint64_t no_mapping;
	uint64_t prot_denied;
	uint64_t s2_readonly;
	uint64_t map_errors;
} __rte_cache_aligned;

struct mirror {
	/* Immutable after create. */
	struct usva_iommu *iommu;
	uint64_t base;
	uint64_t last;			/* inclusive */
	uint32_t cap;			/* entries per VMA buffer */
	bool has_populate;		/* MADV_POPULATE_* known to the kernel */
	uint64_t reread_tsc;		/* TSC ticks between slow re-reads */
	uint32_t nr_ranges;
	struct usva_iova_range *ranges;	/* apertures, sorted */
	struct vma_ent *buf[2];
	uint64_t ntop;
	struct s2_dir **top;		/* per 512 GiB from base >> L2_SHIFT */
	struct mirror_slot *slots;	/* USVA_FAULT_MAX_LCORES */

	/* VMA cache publication: seq odd while switching buffers. */
	uint32_t seq;
	uint32_t nvma;			/* seq */
	struct vma_ent *active;		/* seq */

	rte_spinlock_t reread_lock;
	uint64_t last_reread;		/* reread_lock (read relaxed outside) */
	char *maps_buf;			/* reread_lock */

	rte_spinlock_t stripe[NR_STRIPES];	/* by chunk number */

	/* Warm and slow path counters (atomic adds). */
	uint64_t s2_maps;
	uint64_t s2_bytes;
	uint64_t s2_foreign;
	uint64_t s2_refused;
	uint64_t s2_errors;
	uint64_t populate_errors;
	uint64_t nomem;
	uint64_t rereads;
	uint64_t reread_limited;
};

static const struct usva_pager_ops mirror_ops;

#define ATOMIC_INC(x)	__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static inline struct mirror *
mirror_of(const struct usva_pager *p)
{
	return p->priv;
}

/* ---- the VMA cache ------------------------------------------------------ */

static uint64_t
parse_hex(const char **s, const char *end, bool *ok)
{
	const char *p = *s;
	uint64_t v = 0;
	unsigned int n = 0;

	while (p < end) {
		char c = *p;
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			break;
		v = (v << 4) | d;
		p++;
		n++;
	}
	*ok = n > 0 && n <= 16;
	*s = p;
	return v;
}

static const char *
skip_field(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	while (p < end && *p != ' ')
		p++;
	return p;
}

/*
 * One line of /proc/self/maps:
 *   start-end perms offset dev inode [pathname]
 * Appends what lies inside the range to @p tbl. @return false when the
 * table is full.
 */
static bool
maps_line(const struct mirror *m, const char *p, const char *end,
	  struct vma_ent *tbl, uint32_t *n)
{
	uint64_t start, vend;
	uint32_t prot = 0;
	bool ok;

	start = parse_hex(&p, end, &ok);
	if (!ok || p >= end || *p != '-')
		return true;
	p++;
	vend = parse_hex(&p, end, &ok);
	if (!ok || end - p < 5 || *p != ' ' || vend <= start)
		return true;
	p++;
	if (p[0] == 'r')
		prot |= VMA_R;
	if (p[1] == 'w')
		prot |= VMA_W;
	if (p[2] == 'x')
		prot |= VMA_X;
	p += 4;
	/* offset, dev, inode, then the pathname if any. */
	p = skip_field(p, end);
	p = skip_field(p, end);
	p = skip_field(p, end);
	while (p < end && *p == ' ')
		p++;
	/* The kernel's special mappings are not for devices. */
	if (end - p >= 5 && (memcmp(p, "[vvar", 5) == 0 ||
			     (end - p >= 10 && memcmp(p, "[vsyscall]", 10) == 0)))
		prot = 0;
	/* Write or exec without read does not exist for a device. */
	if (!(prot & VMA_R))
		prot = 0;

	if (vend - 1 < m->base || start > m->last)
		return true;
	start = RTE_MAX(start, m->base);
	vend = RTE_MIN(vend - 1, m->last) + 1;
	if (*n > 0 && tbl[*n - 1].end == start &&
	    (tbl[*n - 1].start_prot & VMA_PROT_MASK) == prot) {
		tbl[*n - 1].end = vend;		/* merge */
		return true;
	}
	if (*n == m->cap)
		return false;
	tbl[*n].start_prot = start | prot;
	tbl[*n].end = vend;
	(*n)++;
	return true;
}

/* Fill @p tbl from /proc/self/maps. reread_lock held. @return entries or -errno. */
static int
maps_read(struct mirror *m, struct vma_ent *tbl)
{
	char *buf = m->maps_buf;
	size_t have = 0;
	uint32_t n = 0;
	bool skipping = false, full = false;
	int fd, rc = 0;

	if (usva_fail_point("mirror_maps"))
		return -ENOMEM;
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		USVA_LOG_RATELIMITED(ERR, pager, "mirror: cannot open /proc/self/maps: %s",
				     strerror(-rc));
		return rc;
	}
	for (;;) {
		ssize_t r = read(fd, buf + have, MAPS_BUF_SIZE - have);
		char *line, *nl, *end;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		end = buf + have + r;
		line = buf;
		while (!full && (nl = memchr(line, '\n', end - line)) != NULL) {
			if (!skipping)
				full = !maps_line(m, line, nl, tbl, &n);
			skipping = false;
			line = nl + 1;
		}
		if (r == 0 || full) {
			if (!full && !skipping && line < end)
				full = !maps_line(m, line, end, tbl, &n);
			break;
		}
		have = end - line;
		if (have == MAPS_BUF_SIZE) {
			/* A line longer than the buffer: drop it. */
			skipping = true;
			have = 0;
		} else if (line != buf) {
			memmove(buf, line, have);
		}
	}
	close(fd);
	if (rc)
		return rc;
	if (full)
		USVA_LOG_RATELIMITED(WARNING, pager,
				     "mirror: more than %u mappings in range; "
				     "the rest are treated as unmapped", m->cap);
	return (int)n;
}

/* Read the mappings and publish them. reread_lock held. */
static int
vma_reread_locked(struct mirror *m)
{
	struct vma_ent *next = m->active == m->buf[0] ? m->buf[1] : m->buf[0];
	int n = maps_read(m, next);

	if (n < 0)
		return n;
	/* Write side of the sequence count: odd, then switch, then even.
	 * The release fence orders the buffer's contents (written above)
	 * and the odd count before the switch; the release store of the
	 * even count pairs with readers' acquire load. */
	__atomic_store_n(&m->seq, m->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&m->active, next, __ATOMIC_RELAXED);
	__atomic_store_n(&m->nvma, (uint32_t)n, __ATOMIC_RELAXED);
	__atomic_store_n(&m->seq, m->seq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&m->last_reread, rte_get_tsc_cycles(), __ATOMIC_RELAXED);
	ATOMIC_INC(m->rereads);
	return 0;
}

/* Find the mapping that holds @p va. Lock-free; never waits on a re-read
 * beyond the few stores of a switch. */
static bool
vma_lookup(const struct mirror *m, uint64_t va, struct vma *out)
{
	for (;;) {
		uint32_t s = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE);
		const struct vma_ent *tbl;
		uint32_t lo = 0, hi;
		bool found = false;

		if (unlikely(s & 1)) {
			rte_pause();
			continue;
		}
		tbl = __atomic_load_n(&m->active, __ATOMIC_RELAXED);
		hi = RTE_MIN(__atomic_load_n(&m->nvma, __ATOMIC_RELAXED), m->cap);
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			uint64_t sp = __atomic_load_n(&tbl[mid].start_prot,
						      __ATOMIC_RELAXED);
			uint64_t end = __atomic_load_n(&tbl[mid].end,
						       __ATOMIC_RELAXED);
			uint64_t start = sp & ~VMA_PROT_MASK;

			if (va < start) {
				hi = mid;
			} else if (va >= end) {
				lo = mid + 1;
			} else {
				out->start = start;
				out->end = end;
				out->prot = sp & VMA_PROT_MASK;
				found = true;
				break;
			}
		}
		/* Pairs with the writer's release fence: if a switch began
		 * while we read, we see the count moved. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&m->seq, __ATOMIC_RELAXED) == s)
			return found;
	}
}

/*
 * Slow path: the cache does not hold @p va, or refuses the access, or
 * populating failed. Re-read unless someone did since @p since (then the
 * cache is as fresh as we can ask) or a re-read happened less than 10 ms
 * ago (a device must not be able to keep a fault lcore reading
 * /proc/self/maps). @return true if the cache may have changed.
 */
static bool
vma_reread_slow(struct mirror *m, uint64_t since)
{
	uint64_t now = rte_get_tsc_cycles();
	bool changed = false;

	if (now - __atomic_load_n(&m->last_reread, __ATOMIC_RELAXED) <
	    m->reread_tsc &&
	    __atomic_load_n(&m->last_reread, __ATOMIC_RELAXED) <= since) {
		ATOMIC_INC(m->reread_limited);
		return false;
	}
	rte_spinlock_lock(&m->reread_lock);
	if (m->last_reread > since)
		changed = true;		/* another lcore just did it */
	else if (now - m->last_reread >= m->reread_tsc)
		changed = vma_reread_locked(m) == 0;
	else
		ATOMIC_INC(m->reread_limited);
	rte_spinlock_unlock(&m->reread_lock);
	return changed;
}

/* ---- stage-2 state -------------------------------------------------------- */

static inline bool
bit_test(const uint64_t *w, unsigned int i)
{
	return (__atomic_load_n(&w[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
}

/* Set bits [i, j) of a leaf bitmap (both inside one leaf). */
static void
bits_set(uint64_t *w, unsigned int i, unsigned int j, int order)
{
	while (i < j) {
		unsigned int n = RTE_MIN(j - i, 64 - i % 64);
		uint64_t mask = (n == 64 ? ~UINT64_C(0) :
				 ((UINT64_C(1) << n) - 1)) << (i % 64);

		__atomic_fetch_or(&w[i / 64], mask, order);
		i += n;
	}
}

static inline unsigned int
top_index(const struct mirror *m, uint64_t va)
{
	return (va >> L2_SHIFT) - (m->base >> L2_SHIFT);
}

/* The leaf of @p va's chunk, or NULL. Lock-free. */
static struct s2_leaf *
leaf_find(const struct mirror *m, uint64_t va)
{
	struct s2_dir *l2, *l3;

	l2 = __atomic_load_n(&m->top[top_index(m, va)], __ATOMIC_ACQUIRE);
	if (l2 == NULL)
		return NULL;
	l3 = __atomic_load_n(&l2->slot[(va >> L3_SHIFT) % DIR_ENTRIES],
			     __ATOMIC_ACQUIRE);
	if (l3 == NULL)
		return NULL;
	return __atomic_load_n(&l3->slot[(va >> CHUNK_SHIFT) % DIR_ENTRIES],
			       __ATOMIC_ACQUIRE);
}

/* Install a zeroed dir at @p slot unless one is there. @return it or NULL. */
static struct s2_dir *
dir_get(void **slot)
{
	struct s2_dir *d = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	void *expected = NULL;

	if (d != NULL)
		return d;
	d = usva_zmalloc(sizeof(*d));
	if (d == NULL)
		return NULL;
	/* Release publishes the zeroes; acquire on failure lets us follow
	 * the winner's dir. */
	if (!__atomic_compare_exchange_n(slot, &expected, d, false,
					 __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) {
		usva_free(d);
		d = expected;
	}
	return d;
}

/* The leaf of @p va's chunk, made if missing. Chunk's stripe lock held. */
static struct s2_leaf *
leaf_get(struct mirror *m, uint64_t va)
{
	struct s2_dir *l2, *l3;
	struct s2_leaf *leaf;
	void **slot;

	l2 = dir_get((void **)&m->top[top_index(m, va)]);
	if (l2 == NULL)
		return NULL;
	l3 = dir_get(&l2->slot[(va >> L3_SHIFT) % DIR_ENTRIES]);
	if (l3 == NULL)
		return NULL;
	slot = &l3->slot[(va >> CHUNK_SHIFT) % DIR_ENTRIES];
	leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (leaf != NULL)
		return leaf;
	leaf = usva_zmalloc(sizeof(*leaf));
	if (leaf != NULL)
		__atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
	return leaf;
}

/* The aperture holding @p va, or NULL. */
static const struct usva_iova_range *
aperture_of(const struct mirror *m, uint64_t va)
{
	for (uint32_t i = 0; i < m->nr_ranges; i++)
		if (va >= m->ranges[i].start && va <= m->ranges[i].last)
			return &m->ranges[i];
	return NULL;
}

/*
 * Fault in [lo, hi) of the process the way the device will use it. With
 * MADV_POPULATE_WRITE a writable private page is written-faulted (COW
 * broken now, as a FOLL_WRITE pin would), so the page the device is given
 * is the one the process keeps. @return 0 or -errno of madvise.
 */
static int
populate(const struct mirror *m, uint64_t lo, uint64_t hi, bool writable)
{
	if (m->has_populate) {
		int advice = writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;

		for (int tries = 0; tries < 3; tries++) {
			if (madvise((void *)(uintptr_t)lo, hi - lo, advice) == 0)
				return 0;
			if (errno != EINTR && errno != EAGAIN)
				return -errno;
		}
		return -EAGAIN;
	}
	/* Kernels before 5.14: one read per page. It maps the page, or the
	 * zero page for a private page never written (see doc/pagers.md on
	 * copy-on-write). Trusts the cache: a mapping removed since the last
	 * re-read faults here. */
	for (uint64_t a = lo; a < hi; a += PG_SIZE)
		(void)*(volatile const uint8_t *)(uintptr_t)a;
	return 0;
}

/*
 * Make sure stage 2 maps the page at @p va (IOVA = VA) and the process's
 * page is populated. Warm path when the chunk is new to the pager.
 * @param s2w  Out: false if the pager mapped the page read-only in stage 2.
 * @return 0; -EACCES (write to our read-only stage-2 page), -EFAULT
 *         (populate failed: stale cache), -EINVAL (outside the apertures),
 *         -ENOMEM, other stage-2 errors.
 */
static int
s2_ensure(struct mirror *m, uint64_t va, const struct vma *v, bool *s2w)
{
	uint64_t chunk = va & ~(CHUNK_SIZE - 1);
	unsigned int idx = (va - chunk) >> PG_SHIFT, i, j;
	rte_spinlock_t *lock = &m->stripe[(va >> CHUNK_SHIFT) % NR_STRIPES];
	bool writable = v->prot & VMA_W;
	uint64_t lo, hi_last;
	struct s2_leaf *leaf;
	uint32_t s2prot;
	int rc;

	leaf = leaf_find(m, va);
	if (likely(leaf != NULL && bit_test(leaf->present, idx)))
		goto present;

	rte_spinlock_lock(lock);
	leaf = leaf_get(m, va);
	if (leaf == NULL) {
		rte_spinlock_unlock(lock);
		ATOMIC_INC(m->nomem);
		return -ENOMEM;
	}
	if (bit_test(leaf->present, idx)) {
		rte_spinlock_unlock(lock);
		goto present;
	}

	/* The extent: chunk, mapping, range and aperture, less pages that are
	 * present already (mapped when the mapping looked different). */
	lo = RTE_MAX(RTE_MAX(chunk, v->start), m->base);
	hi_last = RTE_MIN(RTE_MIN(chunk + CHUNK_SIZE, v->end) - 1, m->last);
	if (m->iommu != NULL) {
		const struct usva_iova_range *ap = aperture_of(m, va);

		if (ap == NULL) {
			rte_spinlock_unlock(lock);
			ATOMIC_INC(m->s2_refused);
			USVA_LOG_RATELIMITED(NOTICE, pager,
					     "mirror: 0x%" PRIx64 " is outside the "
					     "IOMMU's IOVA apertures", va);
			return -EINVAL;
		}
		lo = RTE_MAX(lo, ap->start);
		hi_last = RTE_MIN(hi_last, ap->last);
	}
	for (i = idx; i > (lo - chunk) >> PG_SHIFT &&
	     !bit_test(leaf->present, i - 1); i--)
		;
	for (j = idx + 1; j <= (hi_last - chunk) >> PG_SHIFT &&
	     !bit_test(leaf->present, j); j++)
		;
	lo = chunk + ((uint64_t)i << PG_SHIFT);

	rc = populate(m, lo, chunk + ((uint64_t)j << PG_SHIFT), writable);
	if (rc) {
		rte_spinlock_unlock(lock);
		ATOMIC_INC(m->populate_errors);
		USVA_LOG_RATELIMITED(NOTICE, pager,
				     "mirror: populating 0x%" PRIx64 "-0x%" PRIx64
				     " failed: %s", lo,
				     chunk + ((uint64_t)j << PG_SHIFT) - 1,
				     strerror(-rc));
		return rc == -EHWPOISON ? -EIO : -EFAULT;
	}
	if (m->iommu == NULL) {
		bits_set(leaf->present, i, j, __ATOMIC_RELEASE);
		rte_spinlock_unlock(lock);
		*s2w = true;
		return 0;
	}

	s2prot = USVA_S2_READ | (writable ? USVA_S2_WRITE : 0);
	rc = usva_iommu_s2_map(m->iommu, lo, (void *)(uintptr_t)lo,
			       (uint64_t)(j - i) << PG_SHIFT, s2prot);
	if ((rc == -EEXIST || rc == -EINVAL) && j - i > 1) {
		/* Part of the extent is someone else's, or crosses a
		 * reserved window: the page alone then. */
		i = idx;
		j = idx + 1;
		rc = usva_iommu_s2_map(m->iommu, va, (void *)(uintptr_t)va,
				       PG_SIZE, s2prot);
	}
	if (rc == 0) {
		/* own and wr before present: a reader that sees present
		 * (acquire) sees them. */
		bits_set(leaf->own, i, j, __ATOMIC_RELAXED);
		if (writable)
			bits_set(leaf->wr, i, j, __ATOMIC_RELAXED);
		bits_set(leaf->present, i, j, __ATOMIC_RELEASE);
		ATOMIC_INC(m->s2_maps);
		__atomic_fetch_add(&m->s2_bytes, (uint64_t)(j - i) << PG_SHIFT,
				   __ATOMIC_RELAXED);
	} else if (rc == -EEXIST) {
		/* Mapped in stage 2 by another caller (a page pool, another
		 * mirror pager): IOVA = VA by the same convention; used as
		 * it is, and left to its owner. */
		bits_set(leaf->present, idx, idx + 1, __ATOMIC_RELEASE);
		ATOMIC_INC(m->s2_foreign);
		rc = 0;
	}
	rte_spinlock_unlock(lock);
	if (rc == -EINVAL) {
		ATOMIC_INC(m->s2_refused);
		return rc;
	}
	if (rc) {
		ATOMIC_INC(m->s2_errors);
		USVA_LOG_RATELIMITED(ERR, pager, "mirror: stage-2 map of 0x%" PRIx64
				     " failed: %s", va, strerror(-rc));
		return rc;
	}
present:
	/* A page another caller mapped is taken as writable: its owner
	 * chose its protection. */
	*s2w = !(bit_test(leaf->own, idx) && !bit_test(leaf->wr, idx));
	return 0;
}

/* ---- fault ---------------------------------------------------------------- */

static inline bool
vma_allows(const struct vma *v, bool need_w, bool need_x)
{
	return v->prot != 0 && !(need_w && !(v->prot & VMA_W)) &&
	       !(need_x && !(v->prot & VMA_X));
}

static int
mirror_fault(struct usva_pager *p, const struct usva_pager_fault *f)
{
	struct mirror *m = mirror_of(p);
	bool need_w = f->perm & USVA_ACCESS_WRITE;
	bool need_x = f->perm & USVA_ACCESS_EXEC;
	uint64_t va = f->addr, since;
	struct mirror_slot *ss;
	bool found, s2w;
	struct vma v;
	uint32_t prot;
	int rc;

	if (unlikely(f->slot >= USVA_FAULT_MAX_LCORES))
		return -EINVAL;
	ss = &m->slots[f->slot];
	PAGER_STAT_INC(ss->faults);
	if (unlikely(va < m->base || va > m->last || (va & (PG_SIZE - 1)))) {
		PAGER_STAT_INC(ss->no_mapping);
		return -EFAULT;
	}

	/* Taken before the lookup: a re-read after this point is one the
	 * slow path need not repeat. */
	since = __atomic_load_n(&m->last_reread, __ATOMIC_RELAXED);
	found = vma_lookup(m, va, &v);
	if (unlikely(!found || !vma_allows(&v, need_w, need_x))) {
		/* A gap or a refusal may be the cache's age (mmap or
		 * mprotect since): look again, within the rate limit. */
		if (vma_reread_slow(m, since))
			found = vma_lookup(m, va, &v);
		if (!found) {
			PAGER_STAT_INC(ss->no_mapping);
			USVA_LOG_RATELIMITED(DEBUG, pager, "mirror: 0x%" PRIx64
					     " is not mapped in the process", va);
			return -EFAULT;
		}
		if (!vma_allows(&v, need_w, need_x)) {
			PAGER_STAT_INC(ss->prot_denied);
			USVA_LOG_RATELIMITED(DEBUG, pager, "mirror: access 0x%x to "
					     "0x%" PRIx64 " refused by the process "
					     "mapping (%c%c%c)", f->perm, va,
					     v.prot & VMA_R ? 'r' : '-',
					     v.prot & VMA_W ? 'w' : '-',
					     v.prot & VMA_X ? 'x' : '-');
			return -EACCES;
		}
	}

	rc = s2_ensure(m, va, &v, &s2w);
	if (unlikely(rc)) {
		if (rc == -EFAULT) {
			/* Populating found no memory: the mapping went away
			 * (munmap) or cannot be populated. */
			vma_reread_slow(m, since);
			PAGER_STAT_INC(ss->no_mapping);
		}
		return rc;
	}
	if (unlikely(need_w && !s2w)) {
		PAGER_STAT_INC(ss->s2_readonly);
		USVA_LOG_RATELIMITED(NOTICE, pager, "mirror: write to 0x%" PRIx64
				     " whose stage 2 was mapped read-only", va);
		return -EACCES;
	}

	prot = USVA_PROT_READ | USVA_PROT_USER;
	if ((v.prot & VMA_W) && s2w)
		prot |= USVA_PROT_WRITE;
	if (v.prot & VMA_X)
		prot |= USVA_PROT_EXEC;
	rc = usva_as_map(f->as, va, va, PG_SIZE, prot, 0);
	if (likely(rc == 0)) {
		PAGER_STAT_INC(ss->mapped);
	} else if (rc == -EEXIST) {
		PAGER_STAT_INC(ss->already_mapped);
	} else {
		PAGER_STAT_INC(ss->map_errors);
		USVA_LOG_RATELIMITED(ERR, pager, "mirror: stage-1 map of 0x%" PRIx64
				     " failed: %s", va, strerror(-rc));
		return rc;
	}
	return USVA_PAGER_DONE;
}

/* ---- create / destroy --------------------------------------------------- */

/* Unmap what the pager mapped in stage 2 and free the radix. Runs of own
 * pages inside one chunk hold whole stage-2 mappings of the pager (a map
 * never crosses a chunk) and nobody else's, so each run is one unmap. */
static void
s2_release(struct mirror *m)
{
	uint64_t top_base = m->base >> L2_SHIFT;

	for (uint64_t t = 0; t < m->ntop; t++) {
		struct s2_dir *l2 = m->top[t];

		if (l2 == NULL)
			continue;
		for (unsigned int d = 0; d < DIR_ENTRIES; d++) {
			struct s2_dir *l3 = l2->slot[d];

			if (l3 == NULL)
				continue;
			for (unsigned int c = 0; c < DIR_ENTRIES; c++) {
				struct s2_leaf *leaf = l3->slot[c];
				uint64_t chunk = ((top_base + t) << L2_SHIFT) |
						 ((uint64_t)d << L3_SHIFT) |
						 ((uint64_t)c << CHUNK_SHIFT);
				unsigned int i = 0, j;

				if (leaf == NULL)
					continue;
				while (m->iommu != NULL && i < CHUNK_PAGES) {
					uint64_t va, len, done = 0;
					int rc;

					if (!bit_test(leaf->own, i)) {
						i++;
						continue;
					}
					for (j = i + 1; j < CHUNK_PAGES &&
					     bit_test(leaf->own, j); j++)
						;
					va = chunk + ((uint64_t)i << PG_SHIFT);
					len = (uint64_t)(j - i) << PG_SHIFT;
					rc = usva_iommu_s2_unmap(m->iommu, va, len,
								 &done);
					if (rc)
						USVA_LOG(WARNING, pager, "mirror: stage-2 "
							 "unmap of 0x%" PRIx64 "+0x%" PRIx64
							 " at destroy: %s", va, len,
							 strerror(-rc));
					m->s2_bytes -= len;
					i = j;
				}
				usva_free(leaf);
			}
			usva_free(l3);
		}
		usva_free(l2);
	}
}

static void
mirror_release(struct mirror *m)
{
	if (m->top != NULL)
		s2_release(m);
	usva_free(m->top);
	usva_free(m->buf[0]);
	usva_free(m->buf[1]);
	usva_free(m->maps_buf);
	usva_free(m->ranges);
	usva_free(m->slots);
}

static void
mirror_destroy(struct usva_pager *p)
{
	struct mirror *m = mirror_of(p);

	USVA_LOG(DEBUG, pager, "mirror 0x%" PRIx64 "-0x%" PRIx64 ": destroyed, "
		 "%" PRIu64 " stage-2 ranges mapped in its life", m->base, m->last,
		 m->s2_maps);
	mirror_release(m);
}

/* The kernel's bound on mappings per process: the cache never needs more. */
static uint32_t
max_map_count(void)
{
	char buf[32];
	ssize_t r;
	long v;
	int fd;

	fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return DEFAULT_MAP_COUNT;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return DEFAULT_MAP_COUNT;
	buf[r] = '\0';
	v = strtol(buf, NULL, 10);
	return v > 0 && v < (1L << 24) ? (uint32_t)v : DEFAULT_MAP_COUNT;
}

/* Does this kernel know MADV_POPULATE_WRITE (5.14+)? Asked on the page of
 * the stack we run on, which is mapped and writable. */
static bool
populate_probe(void)
{
	volatile char here = 0;
	void *page = (void *)((uintptr_t)&here & ~(uintptr_t)(PG_SIZE - 1));

	return madvise(page, PG_SIZE, MADV_POPULATE_WRITE) == 0;
}

static int
mirror_apertures(struct mirror *m)
{
	uint32_t nr = 0;
	int rc;

	rc = usva_iommu_iova_ranges(m->iommu, NULL, &nr);
	if (rc != 0 && rc != -EMSGSIZE)
		return rc;
	if (nr == 0) {
		USVA_LOG(WARNING, pager, "mirror: the IOMMU has no IOVA aperture; "
			 "every fault will be refused");
		return 0;
	}
	m->ranges = usva_zmalloc(nr * sizeof(*m->ranges));
	if (m->ranges == NULL)
		return -ENOMEM;
	m->nr_ranges = nr;
	rc = usva_iommu_iova_ranges(m->iommu, m->ranges, &m->nr_ranges);
	if (rc)
		return rc;
	return 0;
}

int
usva_pager_mirror_create(const struct usva_pager_mirror_config *ucfg,
			 struct usva_pager **out)
{
	struct usva_pager_mirror_config cfg;
	struct usva_pager *p;
	struct mirror *m;
	uint64_t pages;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	rc = USVA_STRUCT_LOAD(&cfg, ucfg, len);
	if (rc == 0)
		rc = usva_check_flags(cfg.flags, 0, "usva_pager_mirror_config.flags");
	if (rc == 0)
		rc = usva_check_reserved(cfg.reserved, sizeof(cfg.reserved),
					 "usva_pager_mirror_config.reserved");
	if (rc)
		return rc;
	if (cfg.len == 0 || ((cfg.base | cfg.len) & (PG_SIZE - 1))) {
		USVA_LOG(ERR, pager, "usva_pager_mirror_create: base 0x%" PRIx64
			 " len 0x%" PRIx64 " empty or not 4 KiB aligned",
			 cfg.base, cfg.len);
		return -EINVAL;
	}
	if (cfg.base + (cfg.len - 1) < cfg.base) {
		USVA_LOG(ERR, pager, "usva_pager_mirror_create: base 0x%" PRIx64
			 " + len 0x%" PRIx64 " wraps", cfg.base, cfg.len);
		return -EINVAL;
	}
	if (cfg.base + (cfg.len - 1) >= VA_LIMIT) {
		USVA_LOG(ERR, pager, "usva_pager_mirror_create: range ends at 0x%"
			 PRIx64 ", beyond any user address (2^57)",
			 cfg.base + (cfg.len - 1));
		return -EINVAL;
	}

	p = usva_pager_alloc(&mirror_ops, sizeof(*m));
	if (p == NULL)
		return -ENOMEM;
	m = p->priv;
	memset(m, 0, sizeof(*m));
	p->base = cfg.base;
	p->len = cfg.len;
	p->page_size = PG_SIZE;
	m->iommu = cfg.iommu;
	m->base = cfg.base;
	m->last = cfg.base + (cfg.len - 1);
	rte_spinlock_init(&m->reread_lock);
	for (unsigned int i = 0; i < NR_STRIPES; i++)
		rte_spinlock_init(&m->stripe[i]);
	m->reread_tsc = rte_get_tsc_hz() / REREAD_PER_S;
	m->has_populate = populate_probe();

	/* A range of n pages holds at most n mappings. */
	pages = cfg.len >> PG_SHIFT;
	m->cap = (uint32_t)RTE_MIN((uint64_t)max_map_count() + 16, pages);
	m->ntop = top_index(m, m->last) + 1;

	rc = -ENOMEM;
	m->slots = usva_zmalloc_aligned(USVA_FAULT_MAX_LCORES * sizeof(*m->slots),
					RTE_CACHE_LINE_SIZE);
	if (m->slots == NULL)
		goto err;
	m->top = usva_zmalloc(m->ntop * sizeof(*m->top));
	if (m->top == NULL)
		goto err;
	m->buf[0] = usva_zmalloc((size_t)m->cap * sizeof(struct vma_ent));
	m->buf[1] = usva_zmalloc((size_t)m->cap * sizeof(struct vma_ent));
	m->maps_buf = usva_malloc(MAPS_BUF_SIZE);
	if (m->buf[0] == NULL || m->buf[1] == NULL || m->maps_buf == NULL)
		goto err;
	m->active = m->buf[0];
	if (m->iommu != NULL) {
		rc = mirror_apertures(m);
		if (rc)
			goto err;
	}
	rte_spinlock_lock(&m->reread_lock);
	rc = vma_reread_locked(m);
	rte_spinlock_unlock(&m->reread_lock);
	if (rc)
		goto err;

	USVA_LOG(DEBUG, pager, "mirror 0x%" PRIx64 "-0x%" PRIx64 ": %u mappings, "
		 "stage 2 %s, populate with %s", m->base, m->last, m->nvma,
		 m->iommu != NULL ? "on demand" : "by the caller",
		 m->has_populate ? "MADV_POPULATE_*" : "reads");
	*out = p;
	return 0;
err:
	mirror_release(m);
	usva_pager_free(p);
	return rc;
}

int
usva_pager_mirror_refresh(struct usva_pager *p)
{
	struct mirror *m;
	int rc;

	if (p == NULL || p->ops != &mirror_ops)
		return -EINVAL;
	m = mirror_of(p);
	rte_spinlock_lock(&m->reread_lock);
	rc = vma_reread_locked(m);
	rte_spinlock_unlock(&m->reread_lock);
	return rc;
}

int
usva_pager_mirror_stats(const struct usva_pager *p,
			struct usva_pager_mirror_stats *st)
{
	const struct mirror *m;

	if (p == NULL || p->ops != &mirror_ops || st == NULL)
		return -EINVAL;
	m = mirror_of(p);
	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < USVA_FAULT_MAX_LCORES; i++) {
		const struct mirror_slot *s = &m->slots[i];

		st->faults += PAGER_STAT_READ(s->faults);
		st->mapped += PAGER_STAT_READ(s->mapped);
		st->already_mapped += PAGER_STAT_READ(s->already_mapped);
		st->no_mapping += PAGER_STAT_READ(s->no_mapping);
		st->prot_denied += PAGER_STAT_READ(s->prot_denied);
		st->s2_readonly += PAGER_STAT_READ(s->s2_readonly);
		st->map_errors += PAGER_STAT_READ(s->map_errors);
	}
	st->s2_maps = PAGER_STAT_READ(m->s2_maps);
	st->s2_bytes = PAGER_STAT_READ(m->s2_bytes);
	st->s2_foreign = PAGER_STAT_READ(m->s2_foreign);
	st->s2_refused = PAGER_STAT_READ(m->s2_refused);
	st->s2_errors = PAGER_STAT_READ(m->s2_errors);
	st->populate_errors = PAGER_STAT_READ(m->populate_errors);
	st->nomem = PAGER_STAT_READ(m->nomem);
	st->rereads = PAGER_STAT_READ(m->rereads);
	st->reread_limited = PAGER_STAT_READ(m->reread_limited);
	st->vmas = PAGER_STAT_READ(m->nvma);
	return 0;
}

static const struct usva_pager_ops mirror_ops = {
	.name = "mirror",
	.fault = mirror_fault,
	.flush = NULL,
	.destroy = mirror_destroy,
};
