/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fuzz harnesses, as functions: each harness is set up once, runs one
 * input at a time, and is torn down. fuzz_entry.c wraps one of them in
 * libFuzzer's entry points (the fuzz_* executables, built with
 * -Dfuzz=true); app/test/test_fuzz_regress.c runs found inputs through the
 * same functions in the normal test binary.
 *
 * An input either passes or breaks an invariant: fz_fail() reports it
 * (file, line, what) and, in a fuzzer, aborts so that libFuzzer saves the
 * input as a crash; in the test binary it makes the run return -1.
 *
 * Inputs are read with struct fz: past the end every read gives zeros, so
 * any byte string is a valid input.
 */
#ifndef USVA_FUZZ_HARNESS_H
#define USVA_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- input reader ------------------------------------------------------- */

struct fz {
	const uint8_t *p;
	size_t n;
	size_t off;
};

static inline void
fz_init(struct fz *f, const uint8_t *p, size_t n)
{
	f->p = p;
	f->n = n;
	f->off = 0;
}

static inline bool
fz_more(const struct fz *f)
{
	return f->off < f->n;
}

static inline size_t
fz_left(const struct fz *f)
{
	return f->off < f->n ? f->n - f->off : 0;
}

static inline uint8_t
fz_u8(struct fz *f)
{
	return f->off < f->n ? f->p[f->off++] : 0;
}

static inline uint16_t
fz_u16(struct fz *f)
{
	uint16_t v = fz_u8(f);

	return (uint16_t)(v | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t
fz_u32(struct fz *f)
{
	uint32_t v = fz_u16(f);

	return v | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t
fz_u64(struct fz *f)
{
	uint64_t v = fz_u32(f);

	return v | (uint64_t)fz_u32(f) << 32;
}

/* ---- failures ------------------------------------------------------------- */

/* true in the fuzzers: a failed check aborts (libFuzzer keeps the input). */
extern bool fz_abort_on_fail;
/* USVA_FUZZ_VERBOSE set: the harnesses say what each input does. */
extern bool fz_verbose;

void fz_fail(const char *file, int line, const char *cond, const char *fmt,
	     ...) __attribute__((format(printf, 4, 5)));

/* Check @p cond; on failure report and return -1 from the caller. */
#define FZ_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
			return -1;					\
		}							\
	} while (0)

/* Propagate a failed check. */
#define FZ_TRY(expr)							\
	do {								\
		if ((expr) != 0)					\
			return -1;					\
	} while (0)

/* ---- the harnesses ---------------------------------------------------------- */

/*
 * setup: after usva_init(), once; 0 or -errno.
 * one: run one input; 0, or -1 when an invariant broke (reported).
 * teardown: free everything setup made.
 */
struct fz_harness {
	const char *name;
	int (*setup)(void);
	int (*one)(const uint8_t *data, size_t size);
	void (*teardown)(void);
};

extern const struct fz_harness fz_walker;	/* fuzz_walker.c */
extern const struct fz_harness fz_prq;		/* fuzz_prq.c */
extern const struct fz_harness fz_inval;	/* fuzz_inval.c */
extern const struct fz_harness fz_api;		/* fuzz_api.c */

#ifdef __cplusplus
}
#endif

#endif /* USVA_FUZZ_HARNESS_H */
