/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Address spaces: stage-1 tables edited through a format's ops.
 *
 * Ranges are walked with inclusive last addresses so that a range ending
 * at the top of the 64-bit space (x86 upper half) needs no special case.
 *
 * Memory ordering. An entry that points at a table is published with a
 * release compare-and-swap after the table page was zeroed (the pool hands
 * out zeroed pages), and every walk loads entries with acquire, so a walker
 * that sees the pointer sees the zeroes and every entry stored before.
 * Leaves are stored with release for the same reason: a walker that sees
 * a leaf sees the tables above it complete.
 *
 * Table pages are accounted in their pool's per-page private word: the
 * number of entries that are not "none". It changes only with atomic adds,
 * because several lcores may fill different entries of one table.
 *
 * Invalidation (usva_as_driver.h). Every edit that can leave a stale
 * translation behind — a leaf cleared or downgraded, a table unlinked —
 * ends in edit_finish(): with no observer nothing can cache the tables and
 * unlinked pages are freed at once; otherwise the edit's range goes to the
 * caller's batch (with the pages), or is flushed through every observer
 * before the call returns, and the pages are freed only when that
 * succeeded. A failed flush leaves its range and pages pending in the AS,
 * retried by the next flush. The observer lock is held (read) across the
 * edit and its invalidation, so an observer added meanwhile waits, and one
 * that was there when the edit ran is told about it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include <rte_common.h>
#include <rte_debug.h>
#include <rte_lcore.h>
#include <rte_rwlock.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_as_driver.h"
#include "usva_log.h"
#include "usva_page_pool.h"
#include "usva_pgtable_driver.h"
#include "usva_struct.h"

#define PT_SIZE			4096u

/* Per-lcore counters, summed by usva_as_stats(); written only by their
 * lcore (non-EAL threads share the last slot, with atomic adds). */
struct as_lcore_stats {
	int64_t table_pages;
	int64_t mapped_bytes;
	uint64_t maps;
	uint64_t unmaps;
	uint64_t splits;
	uint64_t merges;
	uint64_t cas_lost;
	/*
	 * The lcore's last leaf table (a software paging-structure cache),
	 * so that a 4 KiB map next to the previous one skips the walk. Valid
	 * while as->table_gen equals gen: every unlink of a leaf table bumps
	 * it first. Written and read by its lcore only.
	 */
	uint64_t cache_gen;
	uint64_t cache_va_2m;		/* va >> 21 of the cached table */
	uint64_t *cache_table;
	uint64_t *cache_count;		/* its valid-entry count */
} __rte_cache_aligned;

struct usva_as {
	/* Immutable after usva_as_create(). */
	const struct usva_pgtable_fmt_ops *fmt;
	struct usva_pgtable_geometry geo;
	struct usva_page_pool *pool;
	uint64_t *root;
	uint32_t leaf_levels;	/* geometry's leaf levels, less page_sizes */
	uint64_t oa_last;	/* highest output address a leaf can hold */
	uint32_t top_index_mask;
	uint32_t granule_shift;
	/* Highest level whose tables lie inside one granule: only those
	 * may be freed when empty or folded into a leaf. */
	uint32_t private_level;
	/* Bumped (release) before a leaf table leaves the tree; see
	 * as_lcore_stats.cache_gen. Starts at 1 so a zeroed cache is stale. */
	uint64_t table_gen;

	/* Observers: read-locked by every edit that may need an
	 * invalidation, write-locked to add or remove one. */
	rte_rwlock_t obs_lock;
	TAILQ_HEAD(, usva_as_observer) observers;	/* obs_lock */
	uint32_t nobs;					/* obs_lock */
	/* Serialises flushes through the observers; taken after obs_lock.
	 * A mutex: observers make backend calls under it. */
	pthread_mutex_t inval_lock;
	/* What a failed flush (or a map that folded tables) left to do:
	 * the union of the ranges, and the pages waiting for it. */
	struct usva_as_inval_range pend;	/* inval_lock; va > last: none */
	struct usva_as_pages pend_pages;	/* inval_lock */
	uint64_t held_pages;	/* inval_lock writes, stats read: relaxed */
	uint64_t inval_flushes;	/* inval_lock writes, stats read: relaxed */
	uint64_t inval_failures; /* inval_lock writes, stats read: relaxed */
	struct as_lcore_stats stats[RTE_MAX_LCORE + 1];
};

/*
 * Table pages unlinked by one call, and the union of the spans they
 * translated (a paging-structure cache may hold a pointer to them for any
 * address of it). They are given back only when no walk of this call can
 * reach them and, while observers exist, after an invalidation covering
 * that span completed (edit_finish()).
 */
struct as_gather {
	struct usva_as *as;
	struct usva_as_pages pages;
	uint64_t lo, hi;	/* lo > hi: no table unlinked */
};

#define AS_GATHER_INIT(as_) { .as = (as_), .pages = { .pool = (as_)->pool }, \
			      .lo = UINT64_MAX, .hi = 0 }

static inline struct as_lcore_stats *
as_stats(struct usva_as *as)
{
	unsigned int id = rte_lcore_id();

	return &as->stats[id < RTE_MAX_LCORE ? id : RTE_MAX_LCORE];
}

#define STAT_ADD(as, field, v)						\
	__atomic_fetch_add(&as_stats(as)->field, (v), __ATOMIC_RELAXED)

/*
 * This lcore's leaf-table cache, or NULL on a thread without an lcore id:
 * those share one stats slot, and a cache filled by one of them could be
 * read half-updated by another (a table of another 2 MiB).
 */
static inline struct as_lcore_stats *
as_cache(struct usva_as *as)
{
	unsigned int id = rte_lcore_id();

	return id < RTE_MAX_LCORE ? &as->stats[id] : NULL;
}

static inline uint64_t
level_span(unsigned int level)
{
	return UINT64_C(1) << usva_pt_level_shift(level);
}

static inline unsigned int
pt_index(const struct usva_as *as, uint64_t va, unsigned int level)
{
	unsigned int mask = level == as->geo.levels ? as->top_index_mask :
			    USVA_PT_ENTRIES - 1;

	return (va >> usva_pt_level_shift(level)) & mask;
}

static inline uint64_t *
table_ptr(uint64_t iova)
{
	/* Pool pages have IOVA = VA (usva_page_pool.h). */
	return (uint64_t *)(uintptr_t)iova;
}

static inline uint64_t
pte_load(const uint64_t *p)
{
	/* Acquire: pairs with the release that published the entry. */
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
pte_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline bool
pte_cas(uint64_t *p, uint64_t expected, uint64_t desired)
{
	/* Release on success publishes a zeroed table or a complete leaf;
	 * acquire on failure lets the caller follow what won. */
	return __atomic_compare_exchange_n(p, &expected, desired, false,
					   __ATOMIC_RELEASE, __ATOMIC_ACQUIRE);
}

static inline void
table_count_add(struct usva_as *as, uint64_t *table, int64_t delta)
{
	/* Relaxed: the count is only read by the lcore that owns the
	 * table's whole range (see private_level), after its own updates. */
	__atomic_fetch_add(usva_page_priv(as->pool, table), (uint64_t)delta,
			   __ATOMIC_RELAXED);
}

static inline uint64_t
table_count(struct usva_as *as, uint64_t *table)
{
	return __atomic_load_n(usva_page_priv(as->pool, table),
			       __ATOMIC_RELAXED);
}

/*
 * @p page, which translated [first, last], was unlinked. It is no longer
 * part of the tree (table_pages counts the tree), but stays ours until
 * edit_finish() disposes of it.
 */
static void
gather_add(struct as_gather *g, void *page, bool zeroed, uint64_t first,
	   uint64_t last)
{
	/* Release: an lcore that sees the new generation drops its cached
	 * table pointer before the page can be handed out again (the free
	 * comes later, in edit_finish()). */
	__atomic_add_fetch(&g->as->table_gen, 1, __ATOMIC_RELEASE);
	usva_as_pages_add(&g->pages, page, zeroed);
	g->lo = RTE_MIN(g->lo, first);
	g->hi = RTE_MAX(g->hi, last);
	STAT_ADD(g->as, table_pages, -1);
}

static uint64_t *
table_alloc(struct usva_as *as)
{
	uint64_t *t = usva_page_alloc(as->pool);

	if (t != NULL)
		STAT_ADD(as, table_pages, 1);
	return t;
}

static void
table_free_unused(struct usva_as *as, uint64_t *t)
{
	/* Never linked: no walker can hold it, give it back at once. */
	usva_page_free(as->pool, t, true);
	STAT_ADD(as, table_pages, -1);
}

/* ---- argument checks ------------------------------------------------ */

static int
check_prot(const struct usva_as *as, uint32_t prot, const char *fn)
{
	if (prot & ~USVA_PROT_ALL) {
		USVA_LOG(ERR, as, "%s: unknown prot bits 0x%x", fn,
			 prot & ~USVA_PROT_ALL);
		return -EINVAL;
	}
	if (!(prot & USVA_PROT_READ)) {
		USVA_LOG(ERR, as, "%s: prot 0x%x lacks READ (every mapping is readable)",
			 fn, prot);
		return -EINVAL;
	}
	if (prot & ~as->fmt->prot_mask) {
		USVA_LOG(ERR, as, "%s: format %s cannot express prot 0x%x",
			 fn, as->fmt->name, prot);
		return -EINVAL;
	}
	return 0;
}

/* Check [va, va + len) and return its inclusive last address. */
static int
check_range(const struct usva_as *as, uint64_t va, uint64_t len,
	    uint64_t *last, const char *fn)
{
	uint64_t hole;
	int rc;

	if (len == 0 || ((va | len) & (PT_SIZE - 1))) {
		USVA_LOG(ERR, as, "%s: va 0x%" PRIx64 " len 0x%" PRIx64
			 " not 4 KiB aligned or empty", fn, va, len);
		return -EINVAL;
	}
	if (va + (len - 1) < va) {
		USVA_LOG(ERR, as, "%s: va 0x%" PRIx64 " + len 0x%" PRIx64
			 " wraps", fn, va, len);
		return -EOVERFLOW;
	}
	*last = va + (len - 1);
	rc = as->fmt->check_va(&as->geo, va);
	if (rc == 0)
		rc = as->fmt->check_va(&as->geo, *last);
	/* Both ends may be valid around a hole (x86's canonical hole):
	 * its first address is the only one to test. */
	hole = UINT64_C(1) << (as->geo.va_bits - 1);
	if (rc == 0 && va < hole && *last >= hole)
		rc = as->fmt->check_va(&as->geo, hole);
	if (rc != 0) {
		USVA_LOG(ERR, as, "%s: range 0x%" PRIx64 "-0x%" PRIx64 " %s for %u-bit %s",
			 fn, va, *last,
			 rc == -ERANGE ? "beyond the address width" :
					 "not canonical",
			 as->geo.va_bits, as->fmt->name);
		return rc;
	}
	return 0;
}

/* ---- create / destroy ------------------------------------------------ */

static int
as_config_load(const struct usva_as_config *ucfg, struct usva_as_config *cfg)
{
	return USVA_CONFIG_LOAD(cfg, ucfg, va_bits, reserved0, 0);
}

static uint32_t
sizes_to_levels(uint64_t sizes)
{
	uint32_t levels = 0;

	for (unsigned int l = 1; l <= USVA_PT_MAX_LEVELS; l++)
		if (sizes & level_span(l))
			levels |= 1u << l;
	return levels;
}

static int
as_geometry(struct usva_as *as, const struct usva_as_config *cfg)
{
	uint64_t known = USVA_PGSIZE_4K | USVA_PGSIZE_2M | USVA_PGSIZE_1G;
	uint32_t top_bits;

	as->fmt = usva_pgtable_fmt_find(cfg->format);
	if (as->fmt == NULL) {
		USVA_LOG(ERR, as, "usva_as_create: no page-table format %u registered",
			 cfg->format);
		return -EINVAL;
	}
	if (as->fmt->geometry(cfg->va_bits, &as->geo) != 0) {
		USVA_LOG(ERR, as, "usva_as_create: format %s has no %u-bit layout",
			 as->fmt->name, cfg->va_bits);
		return -EINVAL;
	}
	/* The output size of the format (52 bits x86, 48 ARM): what a 4 KiB
	 * leaf made of every address bit decodes to. */
	{
		struct usva_pte_info info;

		as->fmt->decode(as->fmt->make_leaf(~(uint64_t)(PT_SIZE - 1),
						   1, USVA_PROT_READ), 1, &info);
		as->oa_last = info.addr | (PT_SIZE - 1);
	}
	if (cfg->page_sizes == 0) {
		as->leaf_levels = as->geo.leaf_levels;
	} else {
		as->leaf_levels = sizes_to_levels(cfg->page_sizes);
		if ((cfg->page_sizes & ~known) || !(cfg->page_sizes & USVA_PGSIZE_4K) ||
		    (as->leaf_levels & ~as->geo.leaf_levels)) {
			USVA_LOG(ERR, as, "usva_as_create: page sizes 0x%" PRIx64
				 " not offered by %u-bit %s (4 KiB required)",
				 cfg->page_sizes, cfg->va_bits, as->fmt->name);
			return -EINVAL;
		}
	}
	as->granule_shift = cfg->granule_shift ? cfg->granule_shift : 21;
	if (as->granule_shift < 12 || as->granule_shift > cfg->va_bits) {
		USVA_LOG(ERR, as, "usva_as_create: granule_shift %u outside [12, %u]",
			 cfg->granule_shift, cfg->va_bits);
		return -EINVAL;
	}
	/* A table at level L covers the span of one entry at level L + 1. */
	as->private_level = 0;
	for (unsigned int l = 1; l < as->geo.levels; l++)
		if (usva_pt_level_shift(l + 1) <= as->granule_shift)
			as->private_level = l;
	top_bits = as->geo.va_bits - usva_pt_level_shift(as->geo.levels);
	as->top_index_mask = (1u << RTE_MIN(top_bits, 9u)) - 1;
	return 0;
}

int
usva_as_create(const struct usva_as_config *ucfg, struct usva_as **out)
{
	struct usva_as_config cfg;
	struct usva_as *as;
	int rc;

	if (out == NULL)
		return -EINVAL;
	rc = as_config_load(ucfg, &cfg);
	if (rc)
		return rc;
	as = usva_zmalloc_aligned(sizeof(*as), RTE_CACHE_LINE_SIZE);
	if (as == NULL)
		return -ENOMEM;
	rc = as_geometry(as, &cfg);
	if (rc)
		goto err_free;
	as->pool = cfg.table_pool ? cfg.table_pool : usva_page_pool_default();
	if (as->pool == NULL || usva_page_pool_page_size(as->pool) != PT_SIZE) {
		USVA_LOG(ERR, as, "usva_as_create: table pool %s",
			 as->pool ? "does not hold 4 KiB pages" :
				    "missing (usva_init() not called)");
		rc = -EINVAL;
		goto err_free;
	}
	as->table_gen = 1;
	rte_rwlock_init(&as->obs_lock);
	TAILQ_INIT(&as->observers);
	pthread_mutex_init(&as->inval_lock, NULL);
	as->pend.va = UINT64_MAX;
	as->pend_pages.pool = as->pool;
	as->root = table_alloc(as);
	if (as->root == NULL) {
		USVA_LOG(ERR, as, "usva_as_create: no page for the root table");
		rc = -ENOMEM;
		goto err_mutex;
	}
	*out = as;
	return 0;

err_mutex:
	pthread_mutex_destroy(&as->inval_lock);
err_free:
	usva_free(as);
	return rc;
}

static void
free_tables(struct usva_as *as, uint64_t *table, unsigned int level)
{
	struct usva_pte_info info;

	for (unsigned int i = 0; level > 1 && i < USVA_PT_ENTRIES; i++) {
		as->fmt->decode(table[i], level, &info);
		if (info.type == USVA_PTE_TABLE)
			free_tables(as, table_ptr(info.addr), level - 1);
	}
	usva_page_free(as->pool, table, false);
}

void
usva_as_destroy(struct usva_as *as)
{
	if (as == NULL)
		return;
	if (as->nobs)
		USVA_LOG(ERR, as, "usva_as_destroy: %u nested domains still "
			 "use the tables (destroy them first)", as->nobs);
	usva_as_pages_release(&as->pend_pages);
	free_tables(as, as->root, as->geo.levels);
	pthread_mutex_destroy(&as->inval_lock);
	usva_free(as);
}

/* ---- map ------------------------------------------------------------- */

struct map_args {
	uint64_t oa_delta;	/* oa - va, modulo 2^64 */
	uint32_t prot;
	uint32_t leaf_levels;
	uint64_t done_last;	/* last address installed, for rollback */
	bool any_done;
};

/* Next-level table under *slot, installing a fresh one if empty. */
static uint64_t *
child_table(struct usva_as *as, uint64_t *table, unsigned int i,
	    unsigned int level, int *err)
{
	struct usva_pte_info info;
	uint64_t pte = pte_load(&table[i]);
	uint64_t *t;

	for (;;) {
		as->fmt->decode(pte, level, &info);
		if (info.type == USVA_PTE_TABLE)
			return table_ptr(info.addr);
		if (info.type != USVA_PTE_NONE) {
			*err = -EEXIST;
			return NULL;
		}
		t = table_alloc(as);
		if (t == NULL) {
			*err = -ENOMEM;
			return NULL;
		}
		if (pte_cas(&table[i], pte,
			    as->fmt->make_table((uint64_t)(uintptr_t)t))) {
			table_count_add(as, table, 1);
			return t;
		}
		/* Another lcore installed something first: use it. */
		table_free_unused(as, t);
		STAT_ADD(as, cas_lost, 1);
		pte = pte_load(&table[i]);
	}
}

/*
 * Fold a full table of identical, contiguous leaves at level-1 into one
 * leaf at @p level. Only tables private to one granule are folded, so no
 * other lcore edits them meanwhile.
 */
static void
try_merge(struct usva_as *as, uint64_t *table, unsigned int i,
	  unsigned int level, uint32_t leaf_levels, uint64_t va,
	  struct as_gather *g)
{
	const struct usva_pgtable_fmt_ops *fmt = as->fmt;
	struct usva_pte_info info, first, fresh;
	uint64_t child_span = level_span(level - 1);
	uint64_t *child;

	if (level - 1 > as->private_level || !(leaf_levels & (1u << level)))
		return;
	fmt->decode(pte_load(&table[i]), level, &info);
	if (info.type != USVA_PTE_TABLE)
		return;
	child = table_ptr(info.addr);
	if (table_count(as, child) != USVA_PT_ENTRIES)
		return;
	fmt->decode(pte_load(&child[0]), level - 1, &first);
	if (first.type != USVA_PTE_LEAF ||
	    (first.addr & (level_span(level) - 1)))
		return;
	fmt->decode(fmt->make_leaf(first.addr, level - 1, first.prot),
		    level - 1, &fresh);
	for (unsigned int j = 0; j < USVA_PT_ENTRIES; j++) {
		fmt->decode(pte_load(&child[j]), level - 1, &info);
		/* Hardware-set accessed/dirty bits would be lost: keep
		 * such tables as they are. */
		if (info.type != USVA_PTE_LEAF || info.prot != first.prot ||
		    info.hw != fresh.hw ||
		    info.addr != first.addr + j * child_span)
			return;
	}
	pte_store(&table[i], fmt->make_leaf(first.addr, level, first.prot));
	va &= ~(level_span(level) - 1);
	gather_add(g, child, false, va, va + (level_span(level) - 1));
	STAT_ADD(as, merges, 1);
}

static int
map_level(struct usva_as *as, uint64_t *table, unsigned int level,
	  uint64_t va, uint64_t last, struct map_args *a, struct as_gather *g)
{
	const struct usva_pgtable_fmt_ops *fmt = as->fmt;
	uint64_t span = level_span(level);
	unsigned int installed = 0;
	int rc = 0;

	for (;;) {
		uint64_t chunk_last = RTE_MIN(last, va | (span - 1));
		uint64_t oa = va + a->oa_delta;
		unsigned int i = pt_index(as, va, level);

		/* A whole aligned entry becomes one leaf, unless a table is
		 * already there (left by an unmap or a split): fill that. */
		if ((a->leaf_levels & (1u << level)) &&
		    ((va | oa) & (span - 1)) == 0 && chunk_last - va == span - 1 &&
		    (level == 1 || pte_load(&table[i]) == 0)) {
			if (!pte_cas(&table[i], 0,
				     fmt->make_leaf(oa, level, a->prot))) {
				rc = -EEXIST;
				break;
			}
			installed++;
		} else {
			uint64_t *child = child_table(as, table, i, level, &rc);

			if (child == NULL)
				break;
			rc = map_level(as, child, level - 1, va, chunk_last,
				       a, g);
			if (rc)
				break;
			if (table_count(as, child) == USVA_PT_ENTRIES)
				try_merge(as, table, i, level, a->leaf_levels,
					  va, g);
		}
		a->done_last = chunk_last;
		a->any_done = true;
		if (chunk_last == last)
			break;
		va = chunk_last + 1;
	}
	if (installed)
		table_count_add(as, table, installed);
	return rc;
}

/* ---- unmap / split ---------------------------------------------------- */

/*
 * Replace the huge leaf in table[i] (at @p level) by a table of leaves one
 * level down that translate the same way. Harmless to translation, so it
 * may be done ahead of an edit that may still fail.
 */
static int
split_leaf(struct usva_as *as, uint64_t *table, unsigned int i,
	   unsigned int level, uint64_t pte, const struct usva_pte_info *leaf)
{
	uint64_t child_span = level_span(level - 1);
	uint64_t *t = table_alloc(as);

	if (t == NULL) {
		USVA_LOG(ERR, as, "split of a level-%u leaf: no table page", level);
		return -ENOMEM;
	}
	for (unsigned int j = 0; j < USVA_PT_ENTRIES; j++)
		t[j] = as->fmt->make_leaf(leaf->addr + j * child_span,
					  level - 1, leaf->prot);
	*usva_page_priv(as->pool, t) = USVA_PT_ENTRIES;
	if (!pte_cas(&table[i], pte, as->fmt->make_table((uint64_t)(uintptr_t)t))) {
		/* Another lcore split it (or changed it) first. */
		*usva_page_priv(as->pool, t) = 0;
		usva_page_free(as->pool, t, false);
		STAT_ADD(as, table_pages, -1);
		STAT_ADD(as, cas_lost, 1);
		return 0;
	}
	STAT_ADD(as, splits, 1);
	return 0;
}

/*
 * Make @p va the start of a leaf: split every huge leaf that maps it from
 * inside. Walks down one path of the table.
 */
static int
split_at(struct usva_as *as, uint64_t va)
{
	struct usva_pte_info info;
	uint64_t *table = as->root;

	for (unsigned int level = as->geo.levels; level > 1; ) {
		unsigned int i = pt_index(as, va, level);
		uint64_t pte = pte_load(&table[i]);
		int rc;

		as->fmt->decode(pte, level, &info);
		if (info.type == USVA_PTE_TABLE) {
			table = table_ptr(info.addr);
			level--;
			continue;
		}
		if (info.type != USVA_PTE_LEAF || (va & (level_span(level) - 1)) == 0)
			return 0;
		rc = split_leaf(as, table, i, level, pte, &info);
		if (rc)
			return rc;
		/* Re-read: now a table (ours or another lcore's). */
	}
	return 0;
}

static int
split_edges(struct usva_as *as, uint64_t va, uint64_t last)
{
	int rc = split_at(as, va);

	if (rc == 0 && last != UINT64_MAX)
		rc = split_at(as, last + 1);
	return rc;
}

/*
 * Clear every leaf in [va, last]; edges were split, so each leaf met is
 * wholly inside. Empties and frees private tables.
 */
static uint64_t
unmap_level(struct usva_as *as, uint64_t *table, unsigned int level,
	    uint64_t va, uint64_t last, struct as_gather *g)
{
	uint64_t span = level_span(level);
	uint64_t unmapped = 0;
	unsigned int cleared = 0;

	for (;;) {
		uint64_t chunk_last = RTE_MIN(last, va | (span - 1));
		unsigned int i = pt_index(as, va, level);
		struct usva_pte_info info;

		as->fmt->decode(pte_load(&table[i]), level, &info);
		if (info.type == USVA_PTE_LEAF) {
			RTE_ASSERT(chunk_last - va == span - 1);
			pte_store(&table[i], 0);
			cleared++;
			unmapped += span;
		} else if (info.type == USVA_PTE_TABLE) {
			uint64_t *child = table_ptr(info.addr);

			unmapped += unmap_level(as, child, level - 1, va,
						chunk_last, g);
			if (level - 1 <= as->private_level &&
			    table_count(as, child) == 0) {
				pte_store(&table[i], 0);
				cleared++;
				gather_add(g, child, true, va & ~(span - 1),
					   (va & ~(span - 1)) + (span - 1));
			}
		}
		if (chunk_last == last)
			break;
		va = chunk_last + 1;
	}
	if (cleared)
		table_count_add(as, table, -(int64_t)cleared);
	return unmapped;
}

/* ---- protect ------------------------------------------------------------ */

/* True if every address of [va, last] is mapped. */
static bool
fully_mapped(struct usva_as *as, uint64_t *table, unsigned int level,
	     uint64_t va, uint64_t last)
{
	uint64_t span = level_span(level);

	for (;;) {
		uint64_t chunk_last = RTE_MIN(last, va | (span - 1));
		struct usva_pte_info info;

		as->fmt->decode(pte_load(&table[pt_index(as, va, level)]),
				level, &info);
		if (info.type == USVA_PTE_TABLE) {
			if (!fully_mapped(as, table_ptr(info.addr), level - 1,
					  va, chunk_last))
				return false;
		} else if (info.type != USVA_PTE_LEAF) {
			return false;
		}
		if (chunk_last == last)
			return true;
		va = chunk_last + 1;
	}
}

/*
 * Rewrite every leaf in [va, last] with @p prot. *@p down is set if a leaf
 * lost a right (a downgrade: cached translations of it are stale).
 */
static void
protect_level(struct usva_as *as, uint64_t *table, unsigned int level,
	      uint64_t va, uint64_t last, uint32_t prot, bool *down,
	      struct as_gather *g)
{
	uint64_t span = level_span(level);

	for (;;) {
		uint64_t chunk_last = RTE_MIN(last, va | (span - 1));
		unsigned int i = pt_index(as, va, level);
		struct usva_pte_info info;

		as->fmt->decode(pte_load(&table[i]), level, &info);
		if (info.type == USVA_PTE_LEAF) {
			*down |= (info.prot & ~prot) != 0;
			pte_store(&table[i],
				  as->fmt->make_leaf(info.addr, level, prot));
		} else if (info.type == USVA_PTE_TABLE) {
			uint64_t *child = table_ptr(info.addr);

			protect_level(as, child, level - 1, va, chunk_last,
				      prot, down, g);
			if (table_count(as, child) == USVA_PT_ENTRIES)
				try_merge(as, table, i, level,
					  as->leaf_levels, va, g);
		}
		if (chunk_last == last)
			break;
		va = chunk_last + 1;
	}
}

/* ---- invalidation ------------------------------------------------------ */

static inline bool
range_empty(const struct usva_as_inval_range *r)
{
	return r->va > r->last;
}

/* Widen @p acc to cover @p r too; leaf-only only if both are. */
static void
range_union(struct usva_as_inval_range *acc, const struct usva_as_inval_range *r)
{
	if (range_empty(acc)) {
		*acc = *r;
		return;
	}
	acc->va = RTE_MIN(acc->va, r->va);
	acc->last = RTE_MAX(acc->last, r->last);
	acc->flags &= r->flags;
}

/*
 * What an edit of [va, last] made stale: the range itself if a leaf lost
 * something (@p leaves), and the spans of the tables it unlinked. Not-present
 * entries are never cached (VT-d, emu), so an edit that only added
 * translations or rights leaves nothing stale.
 * @return false if nothing is.
 */
static bool
edit_range(const struct as_gather *g, bool leaves, uint64_t va, uint64_t last,
	   struct usva_as_inval_range *r)
{
	r->va = UINT64_MAX;
	r->last = 0;
	r->flags = USVA_AS_INVAL_LEAF;
	if (leaves) {
		r->va = va;
		r->last = last;
	}
	if (g->pages.n) {
		/* A paging-structure cache may point at the page. */
		r->va = RTE_MIN(r->va, g->lo);
		r->last = RTE_MAX(r->last, g->hi);
		r->flags = 0;
	}
	return !range_empty(r);
}

static void
held_pages_update(struct usva_as *as)
{
	/* Relaxed: a counter for usva_as_stats(), written under inval_lock. */
	__atomic_store_n(&as->held_pages, as->pend_pages.n, __ATOMIC_RELAXED);
}

/*
 * Flush what is pending and @p r (may be NULL) through every observer and
 * wait. On success the pending pages and @p g's go back to the pool; on
 * failure @p g's pages and @p r join what is pending. obs_lock held (read).
 */
static int
as_flush(struct usva_as *as, struct as_gather *g,
	 const struct usva_as_inval_range *r)
{
	struct usva_as_inval_range rs[2];
	struct usva_as_observer *o;
	unsigned int n = 0;
	int rc = 0;

	pthread_mutex_lock(&as->inval_lock);
	if (!range_empty(&as->pend))
		rs[n++] = as->pend;
	if (r != NULL)
		rs[n++] = *r;
	if (n == 0)
		goto out;
	TAILQ_FOREACH(o, &as->observers, next) {
		int orc = o->ops->flush(o, rs, n);

		if (rc == 0)
			rc = orc;
	}
	__atomic_store_n(&as->inval_flushes, as->inval_flushes + 1,
			 __ATOMIC_RELAXED);
	if (rc == 0) {
		usva_as_pages_release(&as->pend_pages);
		as->pend.va = UINT64_MAX;
		as->pend.last = 0;
	} else {
		__atomic_store_n(&as->inval_failures, as->inval_failures + 1,
				 __ATOMIC_RELAXED);
		if (r != NULL)
			range_union(&as->pend, r);
		usva_as_pages_splice(&as->pend_pages, &g->pages);
		USVA_LOG_RATELIMITED(ERR, as, "invalidation of 0x%" PRIx64 "-0x%"
			PRIx64 " failed (%d): %" PRIu64 " table pages held until "
			"a flush succeeds", as->pend.va, as->pend.last, rc,
			as->pend_pages.n);
	}
	held_pages_update(as);
out:
	pthread_mutex_unlock(&as->inval_lock);
	usva_as_pages_release(&g->pages);	/* empty if it failed */
	return rc;
}

/* Would every observer take this edit's entries into @p b? obs_lock held. */
static int
obs_check(struct usva_as *as, struct usva_inval_batch *b)
{
	struct usva_as_observer *o;

	TAILQ_FOREACH(o, &as->observers, next) {
		int rc = o->ops->check(o, b, as->nobs);

		if (rc)
			return rc;
	}
	return 0;
}

static int
obs_queue(struct usva_as *as, struct usva_inval_batch *b,
	  const struct usva_as_inval_range *r)
{
	struct usva_as_observer *o;

	TAILQ_FOREACH(o, &as->observers, next) {
		int rc = o->ops->queue(o, b, r);

		if (rc)
			return rc;
	}
	return 0;
}

/*
 * End of an edit: invalidate @p r (NULL: nothing stale) into @p b or now,
 * and dispose of @p g's pages accordingly. obs_lock held (read).
 * @return 0 or the -errno of a failed flush.
 */
static int
edit_finish(struct usva_as *as, struct as_gather *g,
	    const struct usva_as_inval_range *r, struct usva_inval_batch *b)
{
	struct usva_as_observer *first = TAILQ_FIRST(&as->observers);
	int rc;

	if (first == NULL || r == NULL) {
		/* Nothing can cache these tables, or nothing went stale
		 * (then nothing was unlinked either). */
		usva_as_pages_release(&g->pages);
		return 0;
	}
	if (b != NULL) {
		rc = obs_queue(as, b, r);
		if (rc == 0) {
			/* Released by the batch once every entry queued so
			 * far, these included, is done. */
			if (g->pages.n)
				first->ops->defer(first, b, &g->pages);
			return 0;
		}
		/* check() said yes: never expected. The edit is done, so
		 * its invalidation cannot be dropped: make it now. */
		USVA_LOG(ERR, as, "queueing into the caller's batch failed "
			 "(%d): invalidating at once", rc);
	}
	return as_flush(as, g, r);
}

/*
 * Tables a map folded into huge leaves: translations did not change, so
 * nothing is stale, but a paging-structure cache may still point at the
 * pages. Rather than invalidate on the map path, hold them until the next
 * flush (which then covers their spans, non-leaf).
 */
static void
map_defer_folded(struct usva_as *as, struct as_gather *g)
{
	struct usva_as_inval_range r = {
		.va = g->lo, .last = g->hi, .flags = 0,
	};

	rte_rwlock_read_lock(&as->obs_lock);
	if (as->nobs == 0) {
		usva_as_pages_release(&g->pages);
	} else {
		pthread_mutex_lock(&as->inval_lock);
		range_union(&as->pend, &r);
		usva_as_pages_splice(&as->pend_pages, &g->pages);
		held_pages_update(as);
		pthread_mutex_unlock(&as->inval_lock);
	}
	rte_rwlock_read_unlock(&as->obs_lock);
}

int
usva_as_observer_add(struct usva_as *as, struct usva_as_observer *o)
{
	if (as == NULL || o == NULL || o->ops == NULL || o->ops->check == NULL ||
	    o->ops->queue == NULL || o->ops->defer == NULL ||
	    o->ops->flush == NULL) {
		USVA_LOG(ERR, as, "usva_as_observer_add: incomplete observer");
		return -EINVAL;
	}
	rte_rwlock_write_lock(&as->obs_lock);
	TAILQ_INSERT_TAIL(&as->observers, o, next);
	as->nobs++;
	rte_rwlock_write_unlock(&as->obs_lock);
	return 0;
}

void
usva_as_observer_del(struct usva_as *as, struct usva_as_observer *o)
{
	if (as == NULL || o == NULL)
		return;
	rte_rwlock_write_lock(&as->obs_lock);
	TAILQ_REMOVE(&as->observers, o, next);
	if (--as->nobs == 0) {
		pthread_mutex_lock(&as->inval_lock);
		usva_as_pages_release(&as->pend_pages);
		as->pend.va = UINT64_MAX;
		as->pend.last = 0;
		held_pages_update(as);
		pthread_mutex_unlock(&as->inval_lock);
	}
	rte_rwlock_write_unlock(&as->obs_lock);
}

int
usva_as_sync(struct usva_as *as)
{
	struct as_gather g;
	int rc;

	if (as == NULL)
		return -EINVAL;
	g = (struct as_gather)AS_GATHER_INIT(as);
	rte_rwlock_read_lock(&as->obs_lock);
	rc = as->nobs ? as_flush(as, &g, NULL) : 0;
	rte_rwlock_read_unlock(&as->obs_lock);
	return rc;
}

/* ---- public calls -------------------------------------------------------- */

/*
 * One 4 KiB page next to the last one this lcore mapped: install the leaf
 * in the cached leaf table without a walk. Arguments are checked.
 * @return 0, or 1 when the slow path must run (cache miss, entry taken,
 * table now full and perhaps foldable).
 */
static inline int
map_page_cached(struct usva_as *as, uint64_t va, uint64_t oa, uint32_t prot)
{
	struct as_lcore_stats *c = as_cache(as);
	unsigned int i = (va >> 12) & (USVA_PT_ENTRIES - 1);

	/* Acquire: pairs with the release in gather_add(), so a table
	 * unlinked before this load is never written below. */
	if (c == NULL || c->cache_table == NULL || c->cache_va_2m != va >> 21 ||
	    c->cache_gen != __atomic_load_n(&as->table_gen, __ATOMIC_ACQUIRE))
		return 1;
	if (!pte_cas(&c->cache_table[i], 0, as->fmt->make_leaf(oa, 1, prot)))
		return 1;
	/* Relaxed, as table_count_add(). */
	if (__atomic_add_fetch(c->cache_count, 1, __ATOMIC_RELAXED) ==
	    USVA_PT_ENTRIES) {
		/* Full: undo and let the slow path install it and try to
		 * fold the table. */
		__atomic_sub_fetch(c->cache_count, 1, __ATOMIC_RELAXED);
		pte_store(&c->cache_table[i], 0);
		return 1;
	}
	/* c is this lcore's own slot: one lookup of the lcore id. */
	__atomic_fetch_add(&c->mapped_bytes, (int64_t)PT_SIZE, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->maps, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Remember the leaf table that maps @p va, after a slow-path map. */
static void
map_cache_fill(struct usva_as *as, uint64_t va, uint64_t gen)
{
	struct as_lcore_stats *c = as_cache(as);
	struct usva_pte_info info;
	uint64_t *table = as->root;

	if (c == NULL)
		return;
	for (unsigned int level = as->geo.levels; level > 1; level--) {
		as->fmt->decode(pte_load(&table[pt_index(as, va, level)]),
				level, &info);
		if (info.type != USVA_PTE_TABLE) {
			c->cache_table = NULL;
			return;
		}
		table = table_ptr(info.addr);
	}
	/* A private leaf table is unlinked only after a generation bump; a
	 * shared one (granule below 2 MiB) is never unlinked before destroy. */
	c->cache_gen = gen;
	c->cache_va_2m = va >> 21;
	c->cache_table = table;
	c->cache_count = usva_page_priv(as->pool, table);
}

/* The checks of a single-page map that the fast path needs. */
static inline bool
map_page_args_ok(const struct usva_as *as, uint64_t va, uint64_t oa,
		 uint32_t prot, uint32_t flags)
{
	/* The lower half of the space is valid in every format; anything
	 * else goes through the format's check on the slow path. */
	return ((va | oa) & (PT_SIZE - 1)) == 0 && flags == 0 &&
	       va < (UINT64_C(1) << (as->geo.va_bits - 1)) &&
	       oa < as->oa_last &&
	       (prot & USVA_PROT_READ) && !(prot & ~as->fmt->prot_mask) &&
	       (as->leaf_levels & (1u << 1));
}

/*
 * Undo a failed map: everything installed so far is ours (the range was
 * empty up to the failure point), but a device may already have used and
 * cached it, so it is invalidated like an unmap before returning.
 */
static void
map_rollback(struct usva_as *as, uint64_t va, const struct map_args *a,
	     struct as_gather *g)
{
	struct usva_as_inval_range r;

	if (!a->any_done && g->pages.n == 0)
		return;		/* the usual -EEXIST: nothing was installed */
	rte_rwlock_read_lock(&as->obs_lock);
	if (a->any_done)
		unmap_level(as, as->root, as->geo.levels, va, a->done_last, g);
	edit_finish(as, g, edit_range(g, a->any_done, va, a->done_last, &r) ?
		    &r : NULL, NULL);
	rte_rwlock_read_unlock(&as->obs_lock);
}

static int map_slow(struct usva_as *as, uint64_t va, uint64_t oa,
		    uint64_t len, uint32_t prot, uint32_t flags, uint64_t gen);

int
usva_as_map(struct usva_as *as, uint64_t va, uint64_t oa, uint64_t len,
	    uint32_t prot, uint32_t flags)
{
	uint64_t gen = 0;

	if (len == PT_SIZE && map_page_args_ok(as, va, oa, prot, flags)) {
		if (map_page_cached(as, va, oa, prot) == 0)
			return 0;
		gen = __atomic_load_n(&as->table_gen, __ATOMIC_ACQUIRE);
	}
	return map_slow(as, va, oa, len, prot, flags, gen);
}

/*
 * The general map: checks, walk, rollback. Kept out of line so the cached
 * single-page path above sets up no gather.
 */
static __rte_noinline int
map_slow(struct usva_as *as, uint64_t va, uint64_t oa, uint64_t len,
	 uint32_t prot, uint32_t flags, uint64_t gen)
{
	struct as_gather g = AS_GATHER_INIT(as);
	struct map_args a;
	uint64_t last;
	int rc;

	if (flags & ~(USVA_MAP_F_MAX_4K | USVA_MAP_F_MAX_2M)) {
		USVA_LOG(ERR, as, "usva_as_map: unknown flags 0x%x", flags);
		return -EINVAL;
	}
	rc = check_range(as, va, len, &last, "usva_as_map");
	if (rc)
		return rc;
	if ((oa & (PT_SIZE - 1)) || oa + (len - 1) < oa) {
		USVA_LOG(ERR, as, "usva_as_map: output 0x%" PRIx64 " + 0x%" PRIx64
			 " unaligned or wraps", oa, len);
		return (oa & (PT_SIZE - 1)) ? -EINVAL : -EOVERFLOW;
	}
	if (oa + (len - 1) > as->oa_last) {
		/* A leaf would drop the high bits: a mapping elsewhere. */
		USVA_LOG(ERR, as, "usva_as_map: output 0x%" PRIx64 " + 0x%" PRIx64
			 " beyond the %s output size", oa, len, as->fmt->name);
		return -ERANGE;
	}
	rc = check_prot(as, prot, "usva_as_map");
	if (rc)
		return rc;

	a.oa_delta = oa - va;
	a.prot = prot;
	a.leaf_levels = as->leaf_levels;
	if (flags & USVA_MAP_F_MAX_4K)
		a.leaf_levels &= 1u << 1;
	else if (flags & USVA_MAP_F_MAX_2M)
		a.leaf_levels &= (1u << 1) | (1u << 2);
	a.any_done = false;
	rc = map_level(as, as->root, as->geo.levels, va, last, &a, &g);
	if (rc) {
		/* All or nothing. */
		map_rollback(as, va, &a, &g);
		/* DEBUG: pagers meet this in every handled race. */
		if (rc == -EEXIST)
			USVA_LOG_RATELIMITED(DEBUG, as,
				"usva_as_map: 0x%" PRIx64 "-0x%" PRIx64
				" overlaps an existing mapping", va, last);
		else
			USVA_LOG_RATELIMITED(ERR, as,
				"usva_as_map: 0x%" PRIx64 "-0x%" PRIx64
				": no table page", va, last);
		return rc;
	}
	if (g.pages.n)
		map_defer_folded(as, &g);
	STAT_ADD(as, mapped_bytes, (int64_t)len);
	STAT_ADD(as, maps, 1);
	/* A generation read before the walk: if a table was unlinked since,
	 * the cache entry is born stale, never dangling. */
	if (gen != 0)
		map_cache_fill(as, va, gen);
	return 0;
}

/*
 * One 4 KiB page in the leaf table this lcore used last (see
 * map_page_cached()): clear it without a walk. Arguments are checked.
 * @return 0 with *@p n the bytes cleared (0: a hole); 1 when the slow path
 * must run (cache miss, not a 4 KiB leaf, or the table would empty and
 * must be unlinked).
 */
static inline int
unmap_page_cached(struct usva_as *as, uint64_t va, uint64_t *n)
{
	struct as_lcore_stats *c = as_cache(as);
	unsigned int i = (va >> 12) & (USVA_PT_ENTRIES - 1);
	struct usva_pte_info info;
	uint64_t pte;

	/* Acquire: pairs with the release in gather_add(), as for map. */
	if (c == NULL || c->cache_table == NULL || c->cache_va_2m != va >> 21 ||
	    c->cache_gen != __atomic_load_n(&as->table_gen, __ATOMIC_ACQUIRE))
		return 1;
	pte = pte_load(&c->cache_table[i]);
	if (pte == 0) {
		*n = 0;
		return 0;
	}
	as->fmt->decode(pte, 1, &info);
	/* Relaxed, as table_count(): this lcore owns the table's granule. */
	if (info.type != USVA_PTE_LEAF ||
	    __atomic_load_n(c->cache_count, __ATOMIC_RELAXED) <= 1)
		return 1;
	pte_store(&c->cache_table[i], 0);
	__atomic_fetch_sub(c->cache_count, 1, __ATOMIC_RELAXED);
	*n = PT_SIZE;
	return 0;
}

/*
 * Clear every leaf of [va, last] (checked), splitting straddling huge
 * leaves first. @return 0 and *@p n the bytes that were mapped; -ENOMEM
 * (a split found no table page; nothing changed).
 */
static int
unmap_edit(struct usva_as *as, uint64_t va, uint64_t last, uint64_t *n,
	   struct as_gather *g)
{
	bool one = last - va == PT_SIZE - 1;
	int rc;

	if (one && unmap_page_cached(as, va, n) == 0)
		return 0;
	rc = split_edges(as, va, last);
	if (rc)
		return rc;
	*n = unmap_level(as, as->root, as->geo.levels, va, last, g);
	/* The next page is most likely in the same leaf table. A table
	 * unlinked after this read makes the entry stale, never dangling. */
	if (one && va < (UINT64_C(1) << (as->geo.va_bits - 1)))
		map_cache_fill(as, va, __atomic_load_n(&as->table_gen,
						       __ATOMIC_ACQUIRE));
	return 0;
}

/* Unmap [va, last] (checked) and invalidate; obs_lock held (read). */
static int
unmap_locked(struct usva_as *as, uint64_t va, uint64_t last,
	     uint64_t *unmapped, struct usva_inval_batch *b)
{
	struct as_gather g = AS_GATHER_INIT(as);
	struct usva_as_inval_range r;
	uint64_t n;
	int rc;

	if (b != NULL) {
		rc = obs_check(as, b);
		if (rc)
			return rc;
	}
	rc = unmap_edit(as, va, last, &n, &g);
	if (rc)
		return rc;
	STAT_ADD(as, mapped_bytes, -(int64_t)n);
	STAT_ADD(as, unmaps, 1);
	if (unmapped != NULL)
		*unmapped = n;
	/* Splits are invisible to translation: only what was cleared (and
	 * the tables freed) is stale. Holes were never cached. */
	return edit_finish(as, &g, edit_range(&g, n != 0, va, last, &r) ?
			   &r : NULL, b);
}

int
usva_as_unmap_batch(struct usva_as *as, uint64_t va, uint64_t len,
		    uint64_t *unmapped, struct usva_inval_batch *batch)
{
	uint64_t last;
	int rc;

	if (unmapped != NULL)
		*unmapped = 0;
	rc = check_range(as, va, len, &last, "usva_as_unmap");
	if (rc)
		return rc;
	rte_rwlock_read_lock(&as->obs_lock);
	rc = unmap_locked(as, va, last, unmapped, batch);
	rte_rwlock_read_unlock(&as->obs_lock);
	return rc;
}

int
usva_as_unmap(struct usva_as *as, uint64_t va, uint64_t len,
	      uint64_t *unmapped)
{
	return usva_as_unmap_batch(as, va, len, unmapped, NULL);
}

/* Protect [va, last] (checked) and invalidate; obs_lock held (read). */
static int
protect_locked(struct usva_as *as, uint64_t va, uint64_t last, uint32_t prot,
	       struct usva_inval_batch *b)
{
	struct as_gather g = AS_GATHER_INIT(as);
	struct usva_as_inval_range r;
	bool down = false;
	int rc;

	if (b != NULL) {
		rc = obs_check(as, b);
		if (rc)
			return rc;
	}
	if (!fully_mapped(as, as->root, as->geo.levels, va, last)) {
		USVA_LOG_RATELIMITED(ERR, as, "usva_as_protect: 0x%" PRIx64 "-0x%" PRIx64
			 " has unmapped pages", va, last);
		return -ENOENT;
	}
	rc = split_edges(as, va, last);
	if (rc)
		return rc;
	protect_level(as, as->root, as->geo.levels, va, last, prot, &down, &g);
	/*
	 * Only a downgrade leaves stale translations. An upgrade needs no
	 * invalidation on the IOMMUs usva drives (emu, VT-d): they never
	 * cache a not-present entry, and an access a cached entry does not
	 * allow walks the tables again instead of faulting from the cache,
	 * so it finds the new right. Folded tables still need their pages
	 * invalidated (edit_range() adds their spans).
	 */
	return edit_finish(as, &g, edit_range(&g, down, va, last, &r) ?
			   &r : NULL, b);
}

int
usva_as_protect_batch(struct usva_as *as, uint64_t va, uint64_t len,
		      uint32_t prot, struct usva_inval_batch *batch)
{
	uint64_t last;
	int rc;

	rc = check_range(as, va, len, &last, "usva_as_protect");
	if (rc == 0)
		rc = check_prot(as, prot, "usva_as_protect");
	if (rc)
		return rc;
	rte_rwlock_read_lock(&as->obs_lock);
	rc = protect_locked(as, va, last, prot, batch);
	rte_rwlock_read_unlock(&as->obs_lock);
	return rc;
}

int
usva_as_protect(struct usva_as *as, uint64_t va, uint64_t len, uint32_t prot)
{
	return usva_as_protect_batch(as, va, len, prot, NULL);
}

int
usva_as_lookup(const struct usva_as *as, uint64_t va, struct usva_as_xlate *out)
{
	struct usva_pte_info info;
	const uint64_t *table = as->root;
	int rc = as->fmt->check_va(&as->geo, va);

	if (rc)
		return rc;
	for (unsigned int level = as->geo.levels; level >= 1; level--) {
		as->fmt->decode(pte_load(&table[pt_index(as, va, level)]),
				level, &info);
		if (info.type == USVA_PTE_TABLE && level > 1) {
			table = table_ptr(info.addr);
			continue;
		}
		if (info.type != USVA_PTE_LEAF)
			return -ENOENT;
		out->page_size = level_span(level);
		out->oa = info.addr + (va & (out->page_size - 1));
		out->prot = info.prot;
		out->level = level;
		return 0;
	}
	return -ENOENT;
}

uint64_t
usva_as_root(const struct usva_as *as)
{
	return (uint64_t)(uintptr_t)as->root;
}

struct usva_page_pool *
usva_as_table_pool(const struct usva_as *as)
{
	return as->pool;
}

uint32_t
usva_as_format(const struct usva_as *as)
{
	return as->fmt->format;
}

uint32_t
usva_as_levels(const struct usva_as *as)
{
	return as->geo.levels;
}

uint32_t
usva_as_va_bits(const struct usva_as *as)
{
	return as->geo.va_bits;
}

void
usva_as_stats(const struct usva_as *as, struct usva_as_stats *st)
{
	int64_t pages = 0, bytes = 0;

	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i <= RTE_MAX_LCORE; i++) {
		const struct as_lcore_stats *s = &as->stats[i];

		pages += __atomic_load_n(&s->table_pages, __ATOMIC_RELAXED);
		bytes += __atomic_load_n(&s->mapped_bytes, __ATOMIC_RELAXED);
		st->maps += __atomic_load_n(&s->maps, __ATOMIC_RELAXED);
		st->unmaps += __atomic_load_n(&s->unmaps, __ATOMIC_RELAXED);
		st->splits += __atomic_load_n(&s->splits, __ATOMIC_RELAXED);
		st->merges += __atomic_load_n(&s->merges, __ATOMIC_RELAXED);
		st->cas_lost += __atomic_load_n(&s->cas_lost, __ATOMIC_RELAXED);
	}
	st->table_pages = (uint64_t)pages;
	st->mapped_bytes = (uint64_t)bytes;
	st->held_pages = __atomic_load_n(&as->held_pages, __ATOMIC_RELAXED);
	st->inval_flushes = __atomic_load_n(&as->inval_flushes, __ATOMIC_RELAXED);
	st->inval_failures = __atomic_load_n(&as->inval_failures,
					     __ATOMIC_RELAXED);
}
