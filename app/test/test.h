/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-test: registered test cases, in the style of DPDK's app/test.
 *
 * A case is a function returning TEST_SUCCESS, TEST_FAILED or TEST_SKIPPED
 * (after TEST_SKIP("reason")). Every case must assert something: a case
 * that returns success without one TEST_ASSERT* executed is a failure. A
 * case that leaves usva allocations behind is a failure.
 */
#ifndef USVA_TEST_H
#define USVA_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>

#define TEST_SUCCESS 0
#define TEST_FAILED  (-1)
#define TEST_SKIPPED 77

struct usva_test_case {
	const char *suite;	/* "fast", "stress" or "perf" */
	const char *name;
	int (*fn)(void);
	struct usva_test_case *next;
};

void usva_test_register(struct usva_test_case *tc);
/* Count one executed assertion (the harness refuses cases with none). */
void usva_test_count_assert(void);
/* Record why the current case skips. */
void usva_test_set_skip_reason(const char *fmt, ...) __rte_format_printf(1, 2);

/* Register `static int test_<name>(void)` in @suite. */
#define USVA_TEST(suite_, name_)					\
	static int test_##name_(void);					\
	static struct usva_test_case usva_tc_##name_ = {		\
		.suite = #suite_, .name = #name_, .fn = test_##name_,	\
	};								\
	RTE_INIT(usva_test_reg_##name_)					\
	{								\
		usva_test_register(&usva_tc_##name_);			\
	}								\
	static int test_##name_(void)

#define TEST_ASSERT(cond, fmt, ...)					\
	do {								\
		usva_test_count_assert();				\
		if (!(cond)) {						\
			printf("    %s:%d: %s: " fmt "\n", __FILE__,	\
			       __LINE__, #cond, ##__VA_ARGS__);		\
			return TEST_FAILED;				\
		}							\
	} while (0)

/* Assert and jump to a cleanup label instead of returning. */
#define TEST_ASSERT_GOTO(cond, label, fmt, ...)				\
	do {								\
		usva_test_count_assert();				\
		if (!(cond)) {						\
			printf("    %s:%d: %s: " fmt "\n", __FILE__,	\
			       __LINE__, #cond, ##__VA_ARGS__);		\
			goto label;					\
		}							\
	} while (0)

#define TEST_ASSERT_EQ(a, b, fmt, ...)					\
	TEST_ASSERT((int64_t)(a) == (int64_t)(b), "%" PRId64 " != %" PRId64 \
		    ": " fmt, (int64_t)(a), (int64_t)(b), ##__VA_ARGS__)

#define TEST_ASSERT_OK(expr)						\
	do {								\
		int64_t rc__ = (int64_t)(expr);				\
		TEST_ASSERT(rc__ >= 0, "returned %" PRId64 " (%s)",	\
			    rc__, strerror((int)-rc__));		\
	} while (0)

/* Assert that @expr returns -@err. */
#define TEST_ASSERT_ERR(expr, err)					\
	do {								\
		int64_t rc__ = (int64_t)(expr);				\
		TEST_ASSERT(rc__ == -(err), "returned %" PRId64		\
			    ", expected -%s", rc__, #err);		\
	} while (0)

/* The _GOTO forms jump to the case's `out` cleanup label on failure. */
#define TEST_ASSERT_OK_GOTO(expr)					\
	do {								\
		int64_t rc__ = (int64_t)(expr);				\
		TEST_ASSERT_GOTO(rc__ >= 0, out, "returned %" PRId64	\
				 " (%s)", rc__, strerror((int)-rc__));	\
	} while (0)

#define TEST_ASSERT_ERR_GOTO(expr, err)					\
	do {								\
		int64_t rc__ = (int64_t)(expr);				\
		TEST_ASSERT_GOTO(rc__ == -(err), out, "returned %" PRId64 \
				 ", expected -%s", rc__, #err);		\
	} while (0)

#define TEST_SKIP(...)							\
	do {								\
		usva_test_set_skip_reason(__VA_ARGS__);			\
		return TEST_SKIPPED;					\
	} while (0)

/* Deterministic per-case PRNG (xorshift64*), seeded from --seed. */
uint64_t usva_test_rand(void);
uint64_t usva_test_seed(void);

#endif /* USVA_TEST_H */
