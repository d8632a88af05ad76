/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PASID allocator.
 *
 * Two arrays describe a space of 2^width PASIDs:
 *
 *  - bitmap: one bit per PASID, set = taken. It is the authority for
 *    "claimed": alloc claims a clear bit by compare-and-swap, free clears
 *    it last. PASID 0, reserved ranges and, for widths below 6, the bits
 *    of the one word past the space are set at creation and never cleared.
 *
 *  - state: one 64-bit word per PASID (layout below) holding the allocated
 *    bit, the attach count, the owner id and the generation. Every change
 *    after creation is an atomic store or compare-and-swap of the whole
 *    word, so a free and an attach racing on one PASID cannot both win.
 *
 * Lifetime of one PASID:
 *
 *   alloc:  claim bitmap bit (CAS, acquire)
 *           -> store state {ALLOC, owner, gen + 1} (release)
 *   attach: CAS state attach + 1 while ALLOC and not DYING (acquire)
 *   detach: CAS state attach - 1 (release)
 *   free:   CAS state {ALLOC, attach 0, owner} -> {gen} (acquire)
 *           -> clear bitmap bit (release)
 *
 * The release that clears the bitmap bit pairs with the acquire of the
 * next claimant, so the next alloc of that PASID sees the freed state
 * (and its generation) and everything its previous users did before it.
 *
 * Only the thread that claimed the bitmap bit writes a state word whose
 * ALLOC bit is clear: attach, detach, free and owner destroy all require
 * ALLOC in the word they compare against. That is why alloc may publish
 * the new state with a plain atomic store.
 *
 * Locality: each lcore starts its search at its own cursor (a word index
 * in the bitmap), spread over the space at creation, and moves it to the
 * word where it last found a free bit. Two lcores allocating at once thus
 * work on distant bitmap words and distant state words.
 *
 * Owners: an owner has a small integer id (its slot in the space's owner
 * table, recorded in the state of each PASID it holds), a quota and an
 * atomic count of the PASIDs it holds. The owner table is slow path and is
 * protected by the space's spinlock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_spinlock.h>

#include "usva.h"
#include "usva_alloc.h"
#include "usva_log.h"
#include "usva_pasid.h"
#include "usva_struct.h"

/*
 * State word layout:
 *   bits  0..31  generation (0 only before the first allocation)
 *   bits 32..47  owner id (meaningful while ALLOC)
 *   bits 48..60  attach count
 *   bit  61      DYING: owner destroy is freeing it; attach refused
 *   bit  62      RESERVED: PASID 0 or a reserved range; never allocated
 *   bit  63      ALLOC
 */
#define ST_GEN_MASK	UINT64_C(0x00000000ffffffff)
#define ST_OWNER_SHIFT	32
#define ST_OWNER_MASK	UINT64_C(0x0000ffff00000000)
#define ST_ATTACH_SHIFT	48
#define ST_ATTACH_MASK	UINT64_C(0x1fff000000000000)
#define ST_ATTACH_ONE	(UINT64_C(1) << ST_ATTACH_SHIFT)
#define ST_ATTACH_MAX	(ST_ATTACH_MASK >> ST_ATTACH_SHIFT)
#define ST_DYING	(UINT64_C(1) << 61)
#define ST_RESERVED	(UINT64_C(1) << 62)
#define ST_ALLOC	(UINT64_C(1) << 63)

/* Owner ids must fit the state word's owner field. */
#define OWNER_TABLE_MAX	((uint32_t)(ST_OWNER_MASK >> ST_OWNER_SHIFT) + 1)
/* First size of the owner table; doubled when full. */
#define OWNER_TABLE_INIT 8u

/* Cursor slots: one per EAL lcore, one shared by all other threads. */
#define CURSOR_SLOTS	(RTE_MAX_LCORE + 1)

static inline uint32_t
st_gen(uint64_t st)
{
	return (uint32_t)(st & ST_GEN_MASK);
}

static inline uint32_t
st_owner(uint64_t st)
{
	return (uint32_t)((st & ST_OWNER_MASK) >> ST_OWNER_SHIFT);
}

static inline uint32_t
st_attach(uint64_t st)
{
	return (uint32_t)((st & ST_ATTACH_MASK) >> ST_ATTACH_SHIFT);
}

/* A lcore's search start, alone on its cache line. */
struct pasid_cursor {
	/* Atomic (relaxed): a hint only. Written by its lcore; the extra
	 * slot is shared by non-EAL threads, which may race on it harmlessly. */
	uint32_t word;
} __rte_cache_aligned;

struct usva_pasid_owner {
	struct usva_pasid_space *space;	/* immutable */
	uint32_t id;			/* immutable: slot in space->owners */
	uint32_t quota;			/* immutable; 0 = no limit */
	/* Atomic: PASIDs held, plus transient reservations of allocs in
	 * flight. On its own cache line (the struct is cache-aligned and
	 * nothing else here is written after creation). */
	uint32_t count;
} __rte_cache_aligned;

struct usva_pasid_space {
	/* Immutable after creation. */
	uint32_t width;
	uint32_t nr_words;		/* 64-bit words in bitmap */
	uint32_t nr_pasids;		/* 2^width, at most 2^20 */
	uint32_t nr_reserved;		/* reserved PASIDs, including 0 */
	uint64_t *bitmap;		/* atomic words; set = taken */
	uint64_t *state;		/* atomic words; layout above */

	/* Slow path: owner table. The lock has its own cache line so that
	 * taking it does not evict the read-mostly fields above. */
	rte_spinlock_t lock __rte_cache_aligned;
	struct usva_pasid_owner **owners;	/* lock; NULL = free slot */
	uint32_t owner_cap;			/* lock */
	uint32_t nr_owners;			/* lock */

	struct pasid_cursor cursor[CURSOR_SLOTS];
};

/* ---- helpers --------------------------------------------------------- */

static inline uint32_t
cursor_slot(void)
{
	unsigned int id = rte_lcore_id();

	return id < RTE_MAX_LCORE ? id : RTE_MAX_LCORE;
}

static uint32_t
bit_reverse32(uint32_t v)
{
	uint32_t r = 0;

	for (int i = 0; i < 32; i++, v >>= 1)
		r = (r << 1) | (v & 1);
	return r;
}

/*
 * Spread the cursors: slot s starts at the fraction bit_reverse(s) / 2^32
 * of the space, so slots 0 and 1 start at the two halves, 2 and 3 at the
 * quarters between them, and so on: any few lcores start far apart.
 */
static void
cursors_init(struct usva_pasid_space *sp)
{
	for (uint32_t s = 0; s < CURSOR_SLOTS; s++)
		sp->cursor[s].word = (uint32_t)(((uint64_t)bit_reverse32(s) *
						 sp->nr_words) >> 32);
}

/*
 * Validate a PASID argument. The RESERVED bit is written at creation only,
 * before the space is published to any other thread, so a relaxed load
 * sees it.
 */
static int
pasid_check(const struct usva_pasid_space *sp, uint32_t pasid,
	    const char *op)
{
	if (pasid >= sp->nr_pasids) {
		USVA_LOG(ERR, pasid, "%s: PASID %u is beyond the space (width %u)",
			 op, pasid, sp->width);
		return -ERANGE;
	}
	if (pasid == USVA_PASID_RID) {
		USVA_LOG(ERR, pasid, "%s: PASID 0 is reserved (RID_PASID)", op);
		return -EPERM;
	}
	if (__atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED) & ST_RESERVED) {
		USVA_LOG(ERR, pasid, "%s: PASID %u is in a reserved range",
			 op, pasid);
		return -EPERM;
	}
	return 0;
}

/* ---- owner quota ----------------------------------------------------- */

/*
 * Reserve one unit of the owner's quota before claiming a PASID.
 * Relaxed: the count is a standalone counter that orders no other data;
 * fetch_add makes concurrent allocs of one owner see distinct values, so
 * the quota is never exceeded (at worst an alloc fails spuriously with
 * -EDQUOT while another's reservation is being undone).
 */
static int
owner_charge(struct usva_pasid_owner *owner)
{
	uint32_t n = __atomic_fetch_add(&owner->count, 1, __ATOMIC_RELAXED);

	if (owner->quota != 0 && n >= owner->quota) {
		__atomic_fetch_sub(&owner->count, 1, __ATOMIC_RELAXED);
		return -EDQUOT;
	}
	return 0;
}

/* Relaxed: as in owner_charge(). */
static void
owner_uncharge(struct usva_pasid_owner *owner)
{
	__atomic_fetch_sub(&owner->count, 1, __ATOMIC_RELAXED);
}

/* ---- bitmap ---------------------------------------------------------- */

/*
 * Claim a clear bit of one word. Acquire on success pairs with the
 * release in bitmap_release(): the claimant then sees the state word the
 * previous free left (generation included). Relaxed on failure: the value
 * read is only used to pick the next bit to try.
 */
static bool
word_claim(uint64_t *word, uint32_t *bit)
{
	uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED);

	while (~old != 0) {
		uint32_t b = rte_bsf64(~old);

		if (__atomic_compare_exchange_n(word, &old,
						old | (UINT64_C(1) << b), true,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			*bit = b;
			return true;
		}
	}
	return false;
}

/* Claim any free PASID, starting at this lcore's cursor. */
static int
bitmap_claim_any(struct usva_pasid_space *sp, uint32_t *pasid)
{
	struct pasid_cursor *cur = &sp->cursor[cursor_slot()];
	uint32_t w = __atomic_load_n(&cur->word, __ATOMIC_RELAXED);
	uint32_t bit;

	for (uint32_t i = 0; i < sp->nr_words; i++) {
		if (word_claim(&sp->bitmap[w], &bit)) {
			/* Relaxed: a hint; stay where free bits were. */
			__atomic_store_n(&cur->word, w, __ATOMIC_RELAXED);
			*pasid = w * 64 + bit;
			return 0;
		}
		if (++w == sp->nr_words)
			w = 0;
	}
	return -ENOSPC;
}

/*
 * Claim one given PASID. Acquire if we get it, as in word_claim(); the
 * old value only tells whether it was already taken.
 */
static bool
bitmap_claim(struct usva_pasid_space *sp, uint32_t pasid)
{
	uint64_t bit = UINT64_C(1) << (pasid % 64);

	return !(__atomic_fetch_or(&sp->bitmap[pasid / 64], bit,
				   __ATOMIC_ACQUIRE) & bit);
}

/*
 * Give a PASID back. Release: the state word's return to not-allocated
 * (and everything the last holder did) is visible to the next claimant,
 * whose acquire pairs with this.
 */
static void
bitmap_release(struct usva_pasid_space *sp, uint32_t pasid)
{
	__atomic_fetch_and(&sp->bitmap[pasid / 64],
			   ~(UINT64_C(1) << (pasid % 64)), __ATOMIC_RELEASE);
}

/*
 * Visit every PASID whose bitmap bit is set, reserved ones included, in
 * increasing order; stop at the first non-zero return. Relaxed loads: a
 * caller that must see a PASID (its own) was ordered after its claim by
 * the caller's own synchronisation; the others are a snapshot.
 */
typedef int (*taken_cb)(struct usva_pasid_space *sp, uint32_t pasid,
			void *arg);

static int
for_each_taken(struct usva_pasid_space *sp, taken_cb cb, void *arg)
{
	for (uint32_t w = 0; w < sp->nr_words; w++) {
		uint64_t bits = __atomic_load_n(&sp->bitmap[w], __ATOMIC_RELAXED);

		for (; bits != 0; bits &= bits - 1) {
			uint32_t pasid = w * 64 + rte_bsf64(bits);
			int rc;

			if (pasid >= sp->nr_pasids)
				break;
			rc = cb(sp, pasid, arg);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- state ----------------------------------------------------------- */

/*
 * Make a claimed PASID allocated to @p owner with the next generation.
 * Only the claimant writes a not-allocated state (see the top of the
 * file), so load + store cannot lose an update. The relaxed load sees the
 * last free's state thanks to the acquire of the claim. Release on the
 * store: a thread that reads the state with acquire (attach_get,
 * generation) and finds it allocated also sees what the allocator wrote
 * before publishing.
 */
static void
state_publish(struct usva_pasid_space *sp, uint32_t pasid,
	      const struct usva_pasid_owner *owner)
{
	uint64_t old = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);
	uint32_t gen = st_gen(old) + 1;

	if (gen == 0)	/* 0 means "never allocated": skip it on wrap */
		gen = 1;
	__atomic_store_n(&sp->state[pasid],
			 ST_ALLOC | ((uint64_t)owner->id << ST_OWNER_SHIFT) | gen,
			 __ATOMIC_RELEASE);
}

/* ---- space ----------------------------------------------------------- */

static int
config_check(const struct usva_pasid_space_config *cfg)
{
	int rc;

	rc = usva_check_flags(cfg->flags, 0, "usva_pasid_space_config");
	if (rc != 0)
		return rc;
	rc = usva_check_reserved(cfg->reserved_must_be_zero,
				 sizeof(cfg->reserved_must_be_zero),
				 "usva_pasid_space_config");
	if (rc != 0)
		return rc;
	if (cfg->width == 0 || cfg->width > USVA_MAX_PASID_WIDTH) {
		USVA_LOG(ERR, pasid, "space create: width %u outside 1..%u",
			 cfg->width, USVA_MAX_PASID_WIDTH);
		return -EINVAL;
	}
	if (cfg->nr_reserved > USVA_PASID_MAX_RESERVED) {
		USVA_LOG(ERR, pasid, "space create: %u reserved ranges, at most %u",
			 cfg->nr_reserved, USVA_PASID_MAX_RESERVED);
		return -EINVAL;
	}
	if (cfg->nr_reserved != 0 && cfg->reserved == NULL) {
		USVA_LOG(ERR, pasid, "space create: %u reserved ranges but no array",
			 cfg->nr_reserved);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < cfg->nr_reserved; i++) {
		const struct usva_pasid_range *r = &cfg->reserved[i];

		if (r->first > r->last || r->last >= (UINT32_C(1) << cfg->width)) {
			USVA_LOG(ERR, pasid,
				 "space create: reserved range %u [%u, %u] is empty or beyond the space (width %u)",
				 i, r->first, r->last, cfg->width);
			return -EINVAL;
		}
	}
	return 0;
}

/* Allocate a zeroed space and its arrays; -ENOMEM. */
static int
space_alloc(uint32_t width, struct usva_pasid_space **out)
{
	uint32_t nr_pasids = UINT32_C(1) << width;
	uint32_t nr_words = (nr_pasids + 63) / 64;
	struct usva_pasid_space *sp;

	sp = usva_zmalloc_aligned(sizeof(*sp), RTE_CACHE_LINE_SIZE);
	if (sp == NULL)
		goto err;
	sp->bitmap = usva_zmalloc_aligned((size_t)nr_words * sizeof(uint64_t),
					  RTE_CACHE_LINE_SIZE);
	if (sp->bitmap == NULL)
		goto err_free_space;
	sp->state = usva_zmalloc_aligned((size_t)nr_pasids * sizeof(uint64_t),
					 RTE_CACHE_LINE_SIZE);
	if (sp->state == NULL)
		goto err_free_bitmap;
	sp->width = width;
	sp->nr_pasids = nr_pasids;
	sp->nr_words = nr_words;
	rte_spinlock_init(&sp->lock);
	*out = sp;
	return 0;

err_free_bitmap:
	usva_free(sp->bitmap);
err_free_space:
	usva_free(sp);
err:
	USVA_LOG(ERR, pasid, "space create: out of memory for width %u", width);
	return -ENOMEM;
}

/*
 * Mark PASID 0, the reserved ranges and the padding bits past a space
 * smaller than one word as taken for good. Plain writes: the space is not
 * yet visible to any other thread.
 */
static void
space_reserve(struct usva_pasid_space *sp,
	      const struct usva_pasid_space_config *cfg)
{
	uint32_t nr = 0;

	sp->bitmap[0] |= 1;
	sp->state[USVA_PASID_RID] = ST_RESERVED;
	for (uint32_t i = 0; i < cfg->nr_reserved; i++) {
		for (uint32_t p = cfg->reserved[i].first;
		     p <= cfg->reserved[i].last; p++) {
			sp->bitmap[p / 64] |= UINT64_C(1) << (p % 64);
			sp->state[p] = ST_RESERVED;
		}
	}
	for (uint32_t w = 0; w < sp->nr_words; w++)
		nr += (uint32_t)__builtin_popcountll(sp->bitmap[w]);
	sp->nr_reserved = nr;
	for (uint32_t p = sp->nr_pasids; p < sp->nr_words * 64; p++)
		sp->bitmap[p / 64] |= UINT64_C(1) << (p % 64);
}

int
usva_pasid_space_create(const struct usva_pasid_space_config *user_cfg,
			struct usva_pasid_space **out)
{
	struct usva_pasid_space_config cfg;
	struct usva_pasid_space *sp;
	int rc;

	if (out == NULL) {
		USVA_LOG(ERR, pasid, "space create: NULL output pointer");
		return -EINVAL;
	}
	rc = USVA_STRUCT_LOAD(&cfg, user_cfg, width);
	if (rc != 0)
		return rc;
	rc = config_check(&cfg);
	if (rc != 0)
		return rc;
	rc = space_alloc(cfg.width, &sp);
	if (rc != 0)
		return rc;
	space_reserve(sp, &cfg);
	cursors_init(sp);
	USVA_LOG(DEBUG, pasid, "space created: width %u, %u reserved",
		 sp->width, sp->nr_reserved);
	*out = sp;
	return 0;
}

static int
find_attached(struct usva_pasid_space *sp, uint32_t pasid, void *arg)
{
	uint64_t st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);

	RTE_SET_USED(arg);
	if ((st & ST_ALLOC) && st_attach(st) != 0) {
		USVA_LOG(ERR, pasid, "space destroy: PASID %u is still attached (%u)",
			 pasid, st_attach(st));
		return -EBUSY;
	}
	return 0;
}

/*
 * The caller guarantees that no other call uses the space or its owners
 * from now on (that is what destroying it means), so neither the lock nor
 * atomics are needed to tear it down; the attached check is the only way
 * this call can fail, and it comes first so that nothing is destroyed then.
 */
int
usva_pasid_space_destroy(struct usva_pasid_space *sp)
{
	if (sp == NULL)
		return 0;
	if (for_each_taken(sp, find_attached, NULL) != 0)
		return -EBUSY;
	for (uint32_t i = 0; i < sp->owner_cap; i++)
		usva_free(sp->owners[i]);
	usva_free(sp->owners);
	usva_free(sp->state);
	usva_free(sp->bitmap);
	usva_free(sp);
	return 0;
}

uint32_t
usva_pasid_space_width(const struct usva_pasid_space *sp)
{
	return sp == NULL ? 0 : sp->width;
}

struct stats_acc {
	uint32_t allocated;
	uint32_t attached;
};

static int
stats_visit(struct usva_pasid_space *sp, uint32_t pasid, void *arg)
{
	struct stats_acc *acc = arg;
	/* Relaxed: a snapshot of counters orders nothing. */
	uint64_t st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);

	if (st & ST_ALLOC) {
		acc->allocated++;
		if (st_attach(st) != 0)
			acc->attached++;
	}
	return 0;
}

void
usva_pasid_space_stats(const struct usva_pasid_space *sp,
		       struct usva_pasid_space_stats *st)
{
	struct stats_acc acc = { 0, 0 };

	if (st == NULL)
		return;
	memset(st, 0, sizeof(*st));
	if (sp == NULL)
		return;
	/* for_each_taken() only reads the space; the cast drops const for
	 * the shared callback type. */
	for_each_taken((struct usva_pasid_space *)(uintptr_t)sp, stats_visit,
		       &acc);
	st->width = sp->width;
	st->allocated = acc.allocated;
	st->attached = acc.attached;
	st->reserved = sp->nr_reserved;
}

/* ---- owners ---------------------------------------------------------- */

/*
 * Grow the owner table. Called with sp->lock held: allocating under a
 * spinlock is acceptable here because only owner create/destroy take this
 * lock, never alloc/free/attach.
 */
static int
owner_table_grow(struct usva_pasid_space *sp)
{
	uint32_t cap = sp->owner_cap == 0 ? OWNER_TABLE_INIT : sp->owner_cap * 2;
	struct usva_pasid_owner **t;

	if (sp->owner_cap >= OWNER_TABLE_MAX)
		return -ENOSPC;
	if (cap > OWNER_TABLE_MAX)
		cap = OWNER_TABLE_MAX;
	t = usva_zmalloc(cap * sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	if (sp->owners != NULL)
		memcpy(t, sp->owners, sp->owner_cap * sizeof(*t));
	usva_free(sp->owners);
	sp->owners = t;
	sp->owner_cap = cap;
	return 0;
}

/* Give @p owner a free slot (its id). Called with sp->lock held. */
static int
owner_table_insert(struct usva_pasid_space *sp, struct usva_pasid_owner *owner)
{
	uint32_t i;
	int rc;

	if (sp->nr_owners == sp->owner_cap) {
		rc = owner_table_grow(sp);
		if (rc != 0)
			return rc;
	}
	for (i = 0; sp->owners[i] != NULL; i++)
		;
	owner->id = i;
	sp->owners[i] = owner;
	sp->nr_owners++;
	return 0;
}

int
usva_pasid_owner_create(struct usva_pasid_space *sp, uint32_t quota,
			struct usva_pasid_owner **out)
{
	struct usva_pasid_owner *owner;
	int rc;

	if (sp == NULL || out == NULL) {
		USVA_LOG(ERR, pasid, "owner create: NULL %s",
			 sp == NULL ? "space" : "output pointer");
		return -EINVAL;
	}
	/* Cache-aligned so that the count, written on every alloc and free,
	 * shares its line with no other owner's. */
	owner = usva_zmalloc_aligned(sizeof(*owner), RTE_CACHE_LINE_SIZE);
	if (owner == NULL) {
		USVA_LOG(ERR, pasid, "owner create: out of memory");
		return -ENOMEM;
	}
	owner->space = sp;
	owner->quota = quota;
	rte_spinlock_lock(&sp->lock);
	rc = owner_table_insert(sp, owner);
	rte_spinlock_unlock(&sp->lock);
	if (rc != 0) {
		USVA_LOG(ERR, pasid, "owner create: %s",
			 rc == -ENOSPC ? "owner table full" :
			 "out of memory for the owner table");
		usva_free(owner);
		return rc;
	}
	*out = owner;
	return 0;
}

static inline bool
owned_by(uint64_t st, const struct usva_pasid_owner *owner)
{
	return (st & ST_ALLOC) && st_owner(st) == owner->id;
}

/*
 * Owner destroy, phase 1: mark each of the owner's PASIDs DYING, which
 * makes attach_get refuse it, unless one is attached. Acquire on success:
 * pairs with the release of the last attach_put, so whatever the detacher
 * did is ordered before the PASID is recycled.
 */
static int
mark_dying(struct usva_pasid_space *sp, uint32_t pasid, void *arg)
{
	const struct usva_pasid_owner *owner = arg;
	uint64_t st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);

	do {
		if (!owned_by(st, owner) || (st & ST_DYING))
			return 0;
		if (st_attach(st) != 0) {
			USVA_LOG(ERR, pasid,
				 "owner destroy: PASID %u of owner %u is still attached (%u)",
				 pasid, owner->id, st_attach(st));
			return -EBUSY;
		}
	} while (!__atomic_compare_exchange_n(&sp->state[pasid], &st,
					      st | ST_DYING, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return 0;
}

/*
 * Undo mark_dying() after a busy PASID was found. Relaxed: nothing else is
 * published by taking the mark back; a DYING state admits no concurrent
 * writer but us, so the loop only retries on spurious failure.
 */
static int
unmark_dying(struct usva_pasid_space *sp, uint32_t pasid, void *arg)
{
	const struct usva_pasid_owner *owner = arg;
	uint64_t st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);

	do {
		if (!owned_by(st, owner) || !(st & ST_DYING))
			return 0;
	} while (!__atomic_compare_exchange_n(&sp->state[pasid], &st,
					      st & ~ST_DYING, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return 0;
}

/*
 * Phase 2: free each DYING PASID of the owner, exactly as usva_pasid_free
 * does. Relaxed CAS: mark_dying() already acquired; the release of
 * bitmap_release() publishes the free.
 */
static int
free_dying(struct usva_pasid_space *sp, uint32_t pasid, void *arg)
{
	struct usva_pasid_owner *owner = arg;
	uint64_t st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);

	do {
		if (!owned_by(st, owner) || !(st & ST_DYING))
			return 0;
	} while (!__atomic_compare_exchange_n(&sp->state[pasid], &st,
					      st & ST_GEN_MASK, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	owner_uncharge(owner);
	bitmap_release(sp, pasid);
	return 0;
}

/*
 * Two phases so that "nothing is freed" holds on -EBUSY even with an
 * attach_get racing: once a PASID is DYING no attach can start on it,
 * and an attach that won the race makes us roll every mark back. An
 * attach_get that meets a DYING mark fails with -ENOENT, as it would had
 * the destroy completed, even if the destroy then fails with -EBUSY.
 */
int
usva_pasid_owner_destroy(struct usva_pasid_owner *owner)
{
	struct usva_pasid_space *sp;

	if (owner == NULL)
		return 0;
	sp = owner->space;
	if (for_each_taken(sp, mark_dying, owner) != 0) {
		for_each_taken(sp, unmark_dying, owner);
		return -EBUSY;
	}
	for_each_taken(sp, free_dying, owner);
	rte_spinlock_lock(&sp->lock);
	sp->owners[owner->id] = NULL;
	sp->nr_owners--;
	rte_spinlock_unlock(&sp->lock);
	usva_free(owner);
	return 0;
}

uint32_t
usva_pasid_owner_count(const struct usva_pasid_owner *owner)
{
	/* Relaxed: a snapshot; see owner_charge(). */
	return owner == NULL ? 0 :
		__atomic_load_n(&owner->count, __ATOMIC_RELAXED);
}

/* ---- alloc / free ---------------------------------------------------- */

int
usva_pasid_alloc(struct usva_pasid_owner *owner, uint32_t *pasid)
{
	struct usva_pasid_space *sp;
	uint32_t p;

	if (owner == NULL || pasid == NULL) {
		USVA_LOG(ERR, pasid, "alloc: NULL %s",
			 owner == NULL ? "owner" : "output pointer");
		return -EINVAL;
	}
	sp = owner->space;
	if (owner_charge(owner) != 0) {
		USVA_LOG_RATELIMITED(ERR, pasid,
				     "alloc: owner %u is at its quota of %u PASIDs",
				     owner->id, owner->quota);
		return -EDQUOT;
	}
	if (bitmap_claim_any(sp, &p) != 0) {
		owner_uncharge(owner);
		USVA_LOG_RATELIMITED(ERR, pasid,
				     "alloc: no free PASID in the space (width %u)",
				     sp->width);
		return -ENOSPC;
	}
	state_publish(sp, p, owner);
	*pasid = p;
	return 0;
}

/*
 * The -EEXIST and -EDQUOT lines are rate-limited: a guest choosing its
 * own PASIDs can trigger them at will.
 */
int
usva_pasid_alloc_at(struct usva_pasid_owner *owner, uint32_t pasid)
{
	struct usva_pasid_space *sp;
	int rc;

	if (owner == NULL) {
		USVA_LOG(ERR, pasid, "alloc_at: NULL owner");
		return -EINVAL;
	}
	sp = owner->space;
	rc = pasid_check(sp, pasid, "alloc_at");
	if (rc != 0)
		return rc;
	if (owner_charge(owner) != 0) {
		USVA_LOG_RATELIMITED(ERR, pasid,
				     "alloc_at %u: owner %u is at its quota of %u PASIDs",
				     pasid, owner->id, owner->quota);
		return -EDQUOT;
	}
	if (!bitmap_claim(sp, pasid)) {
		owner_uncharge(owner);
		USVA_LOG_RATELIMITED(ERR, pasid, "alloc_at: PASID %u is in use",
				     pasid);
		return -EEXIST;
	}
	state_publish(sp, pasid, owner);
	return 0;
}

/* Why a free of state @p st by @p owner must fail, or 0 if it may go on. */
static int
free_refusal(uint64_t st, const struct usva_pasid_owner *owner)
{
	if (!(st & ST_ALLOC) || (st & ST_DYING))
		return -ENOENT;
	if (st_owner(st) != owner->id)
		return -EACCES;
	if (st_attach(st) != 0)
		return -EBUSY;
	return 0;
}

int
usva_pasid_free(struct usva_pasid_owner *owner, uint32_t pasid)
{
	struct usva_pasid_space *sp;
	uint64_t st;
	int rc;

	if (owner == NULL) {
		USVA_LOG(ERR, pasid, "free: NULL owner");
		return -EINVAL;
	}
	sp = owner->space;
	rc = pasid_check(sp, pasid, "free");
	if (rc != 0)
		return rc;
	st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);
	/*
	 * Acquire on success pairs with the release of the last attach_put,
	 * so the detacher's work is ordered before the PASID is recycled
	 * (bitmap_release() carries it on to the next claimant). Relaxed on
	 * failure: the value read is only re-examined.
	 */
	do {
		rc = free_refusal(st, owner);
		if (rc != 0)
			goto refused;
	} while (!__atomic_compare_exchange_n(&sp->state[pasid], &st,
					      st & ST_GEN_MASK, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	owner_uncharge(owner);
	bitmap_release(sp, pasid);
	return 0;

refused:
	if (rc == -ENOENT)
		USVA_LOG_RATELIMITED(ERR, pasid, "free: PASID %u is not allocated (double free?)",
			 pasid);
	else if (rc == -EACCES)
		USVA_LOG(ERR, pasid, "free: PASID %u belongs to owner %u, not %u",
			 pasid, st_owner(st), owner->id);
	else
		USVA_LOG_RATELIMITED(ERR, pasid, "free: PASID %u is still attached (%u)",
			 pasid, st_attach(st));
	return rc;
}

/* ---- generation and attach ------------------------------------------- */

uint32_t
usva_pasid_generation(const struct usva_pasid_space *sp, uint32_t pasid)
{
	uint64_t st;

	if (sp == NULL || pasid >= sp->nr_pasids)
		return 0;
	/* Acquire pairs with the release in state_publish(). */
	st = __atomic_load_n(&sp->state[pasid], __ATOMIC_ACQUIRE);
	return (st & ST_ALLOC) ? st_gen(st) : 0;
}

int
usva_pasid_attach_get(struct usva_pasid_space *sp, uint32_t pasid)
{
	uint64_t st;
	int rc;

	if (sp == NULL) {
		USVA_LOG(ERR, pasid, "attach_get: NULL space");
		return -EINVAL;
	}
	rc = pasid_check(sp, pasid, "attach_get");
	if (rc != 0)
		return rc;
	st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);
	/*
	 * Acquire on success pairs with the release in state_publish(): the
	 * attacher sees what the allocator did before publishing. The
	 * generation in the word defeats ABA: a free and re-alloc between
	 * our load and our CAS changes the word, so the CAS fails and we
	 * re-examine the new life of the PASID.
	 */
	do {
		if (!(st & ST_ALLOC) || (st & ST_DYING)) {
			USVA_LOG_RATELIMITED(ERR, pasid, "attach_get: PASID %u is not allocated%s",
				 pasid, (st & ST_DYING) ? " (its owner is being destroyed)" : "");
			return -ENOENT;
		}
		if (st_attach(st) == ST_ATTACH_MAX) {
			USVA_LOG(ERR, pasid, "attach_get: PASID %u has %u attachments already",
				 pasid, st_attach(st));
			return -EOVERFLOW;
		}
	} while (!__atomic_compare_exchange_n(&sp->state[pasid], &st,
					      st + ST_ATTACH_ONE, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return 0;
}

int
usva_pasid_attach_put(struct usva_pasid_space *sp, uint32_t pasid)
{
	uint64_t st;
	int rc;

	if (sp == NULL) {
		USVA_LOG(ERR, pasid, "attach_put: NULL space");
		return -EINVAL;
	}
	rc = pasid_check(sp, pasid, "attach_put");
	if (rc != 0)
		return rc;
	st = __atomic_load_n(&sp->state[pasid], __ATOMIC_RELAXED);
	/*
	 * Release on success: the detacher's teardown (the device no longer
	 * uses the PASID) happens before a free or owner destroy that sees
	 * the count at zero with acquire.
	 */
	do {
		if (!(st & ST_ALLOC)) {
			USVA_LOG_RATELIMITED(ERR, pasid, "attach_put: PASID %u is not allocated",
				 pasid);
			return -ENOENT;
		}
		if (st_attach(st) == 0) {
			USVA_LOG(ERR, pasid, "attach_put: PASID %u is not attached",
				 pasid);
			return -EINVAL;
		}
	} while (!__atomic_compare_exchange_n(&sp->state[pasid], &st,
					      st - ST_ATTACH_ONE, true,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	return 0;
}
