/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-test runner.
 *   usva-test [EAL options] -- [usva options] [--suite S[,S...]] [--case SUBSTR]
 *             [--list] [--seed N]
 * Suites: fast, stress, perf, all (= fast,stress). Ends with the line
 * "N passed, N failed[, N skipped]"; exits non-zero if any case failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "usva.h"
#include "usva_alloc.h"
#include "test.h"

static struct usva_test_case *cases;
static unsigned int asserts;
static char skip_reason[256];
static uint64_t rng_state;
static uint64_t seed = 0x5eed0f05a;

void
usva_test_register(struct usva_test_case *tc)
{
	struct usva_test_case **p = &cases;

	/* Keep registration order stable: sorted by suite then name. */
	while (*p != NULL && (strcmp((*p)->suite, tc->suite) < 0 ||
	       (strcmp((*p)->suite, tc->suite) == 0 &&
		strcmp((*p)->name, tc->name) < 0)))
		p = &(*p)->next;
	tc->next = *p;
	*p = tc;
}

void
usva_test_count_assert(void)
{
	__atomic_add_fetch(&asserts, 1, __ATOMIC_RELAXED);
}

void
usva_test_set_skip_reason(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
}

uint64_t
usva_test_seed(void)
{
	return seed;
}

uint64_t
usva_test_rand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static bool
suite_selected(const char *list, const char *suite)
{
	char buf[128];
	char *save, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, suite) == 0)
			return true;
		if (strcmp(tok, "all") == 0 && strcmp(suite, "perf") != 0)
			return true;
	}
	return false;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
run_case(struct usva_test_case *tc)
{
	int64_t live_before = usva_alloc_outstanding();
	double t0 = now_ms();
	int rc;

	asserts = 0;
	skip_reason[0] = '\0';
	rng_state = seed ^ (uint64_t)(uintptr_t)tc->name[0] * 0x9E3779B97F4A7C15ULL;
	for (const char *c = tc->name; *c; c++)
		rng_state = rng_state * 31 + (unsigned char)*c;
	if (rng_state == 0)
		rng_state = 1;
	usva_failnth_set(0);
	printf("[ RUN  ] %s/%s\n", tc->suite, tc->name);
	fflush(stdout);
	rc = tc->fn();
	usva_failnth_set(0);
	if (rc == TEST_SKIPPED) {
		printf("[ SKIP ] %s/%s: %s\n", tc->suite, tc->name,
		       skip_reason[0] ? skip_reason : "no reason given");
		return rc;
	}
	if (rc == TEST_SUCCESS && asserts == 0) {
		printf("    case asserted nothing\n");
		rc = TEST_FAILED;
	}
	if (rc == TEST_SUCCESS && usva_alloc_outstanding() != live_before) {
		printf("    leaked %" PRId64 " usva allocations\n",
		       usva_alloc_outstanding() - live_before);
		rc = TEST_FAILED;
	}
	printf("[ %s ] %s/%s (%.1f ms, %u asserts)\n",
	       rc == TEST_SUCCESS ? " OK " : "FAIL", tc->suite, tc->name,
	       now_ms() - t0, asserts);
	fflush(stdout);
	return rc == TEST_SUCCESS ? TEST_SUCCESS : TEST_FAILED;
}

int
main(int argc, char **argv)
{
	const char *suites = "fast";
	const char *filter = NULL;
	bool list = false;
	unsigned int passed = 0, failed = 0, skipped = 0;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = usva_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "usva_init failed: %s\n", strerror(-ret));
		printf("0 passed, 1 failed\n");
		return 1;
	}
	argc -= ret;
	argv += ret;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
			suites = argv[++i];
		else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--list") == 0)
			list = true;
		else {
			fprintf(stderr, "usage: usva-test [EAL options] -- "
				"[--suite fast|stress|perf|all[,..]] [--case SUBSTR] "
				"[--seed N] [--list]\n");
			usva_cleanup();
			return 2;
		}
	}
	printf("usva-test: suites %s, seed 0x%" PRIx64 "\n", suites, seed);
	for (struct usva_test_case *tc = cases; tc != NULL; tc = tc->next) {
		if (!suite_selected(suites, tc->suite))
			continue;
		if (filter != NULL && strstr(tc->name, filter) == NULL)
			continue;
		if (list) {
			printf("%s/%s\n", tc->suite, tc->name);
			continue;
		}
		switch (run_case(tc)) {
		case TEST_SUCCESS: passed++; break;
		case TEST_SKIPPED: skipped++; break;
		default: failed++; break;
		}
	}
	usva_cleanup();
	if (list)
		return 0;
	if (skipped)
		printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	else
		printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
