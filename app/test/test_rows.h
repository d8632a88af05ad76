/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table-driven bad-input rows (implemented in test_badinput.c).
 *
 * Every size-versioned config struct goes through the same generic rows:
 * size 0, one short of the mandatory fields, the minimum (with zero and
 * with garbage past it), exact, one more with a zero and a non-zero tail,
 * eight more with a non-zero last byte, USVA_STRUCT_MAX_SIZE with a zero
 * and a non-zero tail, one past it and UINT32_MAX; every one of the 32 flag
 * bits that is not defined; the first and the last byte of each reserved
 * field; a NULL config and a NULL output pointer. Field rows set one field
 * of a valid struct to a bad value. Each row checks the errno, that a
 * failed call handed nothing out, and that the "world" did not change: usva
 * allocations, the default page pool, DMA devices, mempools, open file
 * descriptors, and what the caller's snapshot adds (stats of the objects
 * the call was given).
 */
#ifndef USVA_TEST_ROWS_H
#define USVA_TEST_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROWS_EXTRA 12

/* What a failed call must leave as it was. */
struct rows_world {
	int64_t allocs;		/* usva_alloc_outstanding() */
	uint64_t pool_in_use;	/* default page pool */
	uint64_t pool_capacity;
	uint16_t dma_count;	/* usva_dma_count() */
	unsigned int mempools;	/* rte_mempool_walk() */
	int fds;		/* entries of /proc/self/fd */
	uint64_t extra[ROWS_EXTRA]; /* the caller's snapshot */
};

/* Fill @p extra with counters of the objects a call works on. */
typedef void (*rows_snap_fn)(void *ctx, uint64_t extra[ROWS_EXTRA]);

/*
 * Call the function under test with @p cfg (NULL for the NULL-config row)
 * and, unless @p null_out, a real output pointer. On success it destroys
 * what it made (so the world is back) and returns 0; a failure that handed
 * something out returns -ENOTRECOVERABLE; else the call's return.
 */
typedef int (*rows_call_fn)(void *ctx, const void *cfg, bool null_out);

struct rows_field {
	const char *name;
	size_t off;
	size_t len;
};

#define ROWS_FIELD(type, field)						\
	{ #field, offsetof(type, field), sizeof(((type *)0)->field) }

#define ROWS_MAX_RESERVED 4

struct rows_cfg {
	const char *what;		/* struct name, for messages */
	const void *valid;		/* a valid struct, @p size bytes */
	size_t size;			/* sizeof() */
	size_t min;			/* end of the mandatory fields */
	uint32_t known_flags;		/* defined bits of the u32 at offset 4 */
	struct rows_field reserved[ROWS_MAX_RESERVED];
	unsigned int nr_reserved;
	bool no_out;			/* no output pointer: no NULL-out row */
	rows_call_fn call;
	rows_snap_fn snap;		/* NULL: the generic world only */
	void *ctx;
};

/* One field of the valid struct set to @p value (little-endian, @p width
 * bytes at @p off); the call must fail with -@p err (0: succeed). */
struct rows_val {
	const char *name;
	size_t off;
	uint8_t width;
	uint64_t value;
	int err;
};

#define ROWS_VAL(type, field, val, err)					\
	{ #field " = " #val, offsetof(type, field),			\
	  sizeof(((type *)0)->field), (uint64_t)(val), (err) }

/* The generic rows of @p c. @return TEST_SUCCESS or TEST_FAILED. */
int rows_config(const struct rows_cfg *c);
/* The field rows @p v[0..n) on @p c's valid struct. */
int rows_values(const struct rows_cfg *c, const struct rows_val *v,
		unsigned int n);
/* One row: @p cfg as given (any size), expecting -@p err. */
int rows_one(const struct rows_cfg *c, const char *name, const void *cfg,
	     int err);

void rows_world_take(struct rows_world *w, rows_snap_fn snap, void *ctx);
/* True if equal; else false and @p why says what changed. */
bool rows_world_same(const struct rows_world *a, const struct rows_world *b,
		     char *why, size_t len);

/* Count @p n bad inputs tried (rows_* count their own). */
void rows_count(unsigned int n);
/* Bad inputs tried since the process started. */
unsigned int rows_total(void);
/* Count @p n valid rows (a size or value that must be accepted). */
void rows_count_valid(unsigned int n);
/* Valid rows tried since the process started. */
unsigned int rows_valid(void);

#endif /* USVA_TEST_ROWS_H */
