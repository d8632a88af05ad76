/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/core: size-versioned structs, flag and reserved checks, fail-nth,
 * rate-limited logging, init state.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_log.h>

#include "usva.h"
#include "usva_alloc.h"
#include "usva_log.h"
#include "usva_page_pool.h"
#include "usva_struct.h"
#include "test.h"

/* A config as version 1 knew it, and as version 2 knows it. */
struct cfg_v1 {
	uint32_t size;
	uint32_t flags;
	uint64_t a;		/* mandatory */
	uint64_t b;		/* optional */
};

struct cfg_v2 {
	uint32_t size;
	uint32_t flags;
	uint64_t a;
	uint64_t b;
	uint64_t c;		/* added in v2 */
};

USVA_TEST(fast, core_struct_load)
{
	struct cfg_v2 v2 = { .size = sizeof(v2), .a = 1, .b = 2, .c = 3 };
	struct cfg_v1 v1 = { .size = sizeof(v1), .a = 1, .b = 2 };
	struct cfg_v1 got1;
	struct cfg_v2 got2;
	size_t min = USVA_OFFSETOFEND(struct cfg_v1, a);

	TEST_ASSERT_EQ(min, 16, "offsetofend");
	/* Same version. */
	TEST_ASSERT_OK(usva_struct_load(&got1, sizeof(got1), &v1, min, "t"));
	TEST_ASSERT(got1.a == 1 && got1.b == 2, "copied");
	/* Old caller, new library: missing fields read as zero. */
	memset(&got2, 0xff, sizeof(got2));
	TEST_ASSERT_OK(usva_struct_load(&got2, sizeof(got2), &v1, min, "t"));
	TEST_ASSERT(got2.a == 1 && got2.b == 2 && got2.c == 0, "zero-filled");
	/* Only the mandatory part. */
	v1.size = (uint32_t)min;
	TEST_ASSERT_OK(usva_struct_load(&got1, sizeof(got1), &v1, min, "t"));
	TEST_ASSERT(got1.a == 1 && got1.b == 0, "optional field not read");
	/* One byte short of mandatory. */
	v1.size = (uint32_t)min - 1;
	TEST_ASSERT_ERR(usva_struct_load(&got1, sizeof(got1), &v1, min, "t"),
			EINVAL);
	v1.size = 0;
	TEST_ASSERT_ERR(usva_struct_load(&got1, sizeof(got1), &v1, min, "t"),
			EINVAL);
	/* New caller, old library: fine while the new fields are zero. */
	v2.c = 0;
	TEST_ASSERT_OK(usva_struct_load(&got1, sizeof(got1), &v2, min, "t"));
	TEST_ASSERT(got1.a == 1 && got1.b == 2, "copied known part");
	v2.c = 3;
	TEST_ASSERT_ERR(usva_struct_load(&got1, sizeof(got1), &v2, min, "t"),
			E2BIG);
	/* Absurd size; NULL. */
	v2.size = USVA_STRUCT_MAX_SIZE + 1;
	TEST_ASSERT_ERR(usva_struct_load(&got2, sizeof(got2), &v2, min, "t"),
			EINVAL);
	TEST_ASSERT_ERR(usva_struct_load(&got2, sizeof(got2), NULL, min, "t"),
			EFAULT);
	return TEST_SUCCESS;
}

USVA_TEST(fast, core_flags_reserved)
{
	uint64_t zeros[3] = { 0 };
	uint8_t some[5] = { 0, 0, 0, 1, 0 };

	TEST_ASSERT_OK(usva_check_flags(0x5, 0x7, "t"));
	TEST_ASSERT_OK(usva_check_flags(0, 0, "t"));
	TEST_ASSERT_ERR(usva_check_flags(0x8, 0x7, "t"), EOPNOTSUPP);
	TEST_ASSERT_ERR(usva_check_flags(UINT64_C(1) << 63, 0x7, "t"),
			EOPNOTSUPP);
	TEST_ASSERT_OK(usva_check_reserved(zeros, sizeof(zeros), "t"));
	TEST_ASSERT_ERR(usva_check_reserved(some, sizeof(some), "t"), EINVAL);
	TEST_ASSERT_OK(usva_check_reserved(some, 3, "t"));
	return TEST_SUCCESS;
}

USVA_TEST(fast, core_failnth)
{
	int64_t live = usva_alloc_outstanding();
	void *p[4];

	/* Disarmed: nothing fails. */
	TEST_ASSERT(!usva_fail_point("x"), "disarmed point failed");
	/* The 3rd point fails, and only it. */
	usva_failnth_set(3);
	for (int i = 0; i < 4; i++)
		p[i] = usva_malloc(16);
	TEST_ASSERT(p[0] && p[1] && !p[2] && p[3], "only the 3rd fails");
	TEST_ASSERT_EQ(usva_failnth_hits(), 4, "hits");
	TEST_ASSERT(usva_failnth_fired(), "fired");
	TEST_ASSERT_EQ(usva_alloc_outstanding(), live + 3, "live count");
	for (int i = 0; i < 4; i++)
		usva_free(p[i]);
	TEST_ASSERT_EQ(usva_alloc_outstanding(), live, "all freed");
	/* Not reached: not fired. */
	usva_failnth_set(100);
	p[0] = usva_zmalloc(8);
	TEST_ASSERT(p[0] != NULL && !usva_failnth_fired(), "unreached");
	usva_free(p[0]);
	/* Aligned allocations are fail points too. */
	usva_failnth_set(1);
	TEST_ASSERT(usva_zmalloc_aligned(64, 64) == NULL, "aligned fails");
	usva_failnth_set(0);
	p[0] = usva_zmalloc_aligned(100, 256);
	TEST_ASSERT(p[0] != NULL && ((uintptr_t)p[0] & 255) == 0, "aligned");
	TEST_ASSERT(((uint8_t *)p[0])[99] == 0, "zeroed");
	usva_free(p[0]);
	usva_free(NULL);
	return TEST_SUCCESS;
}

USVA_TEST(fast, core_ratelimit)
{
	struct usva_ratelimit rl = { 0 };
	uint32_t sup, printed = 0;

	for (int i = 0; i < 1000; i++)
		printed += usva_ratelimit_ok(&rl, &sup);
	/* A burst of 10 within one second (this loop takes far less). */
	TEST_ASSERT(printed >= 10 && printed <= 20, "printed %u", printed);
	TEST_ASSERT(rl.suppressed >= 980, "suppressed %u", rl.suppressed);
	/* A new window reports the suppressed count once. */
	rl.window_start -= 2 * rte_get_tsc_hz();
	TEST_ASSERT(usva_ratelimit_ok(&rl, &sup), "new window prints");
	TEST_ASSERT(sup >= 980, "reported %u suppressed", sup);
	TEST_ASSERT(usva_ratelimit_ok(&rl, &sup) && sup == 0, "reported once");
	return TEST_SUCCESS;
}

USVA_TEST(fast, core_init_state)
{
	char *argv[] = { (char *)"usva-test", NULL };

	/* usva-test is running inside usva_init(): a second init refuses. */
	TEST_ASSERT_ERR(usva_init(1, argv), EALREADY);
	TEST_ASSERT(usva_page_pool_default() != NULL, "default pool exists");
	TEST_ASSERT(strcmp(usva_version(), USVA_VERSION) == 0, "version");
	/* Log types are registered under usva.*. */
	TEST_ASSERT(usva_logtype_core != RTE_LOGTYPE_EAL &&
		    usva_logtype_pasid != usva_logtype_core &&
		    usva_logtype_as != usva_logtype_core, "log types");
	TEST_ASSERT(rte_log_get_level(usva_logtype_core) >= (int)RTE_LOG_INFO,
		    "usva.core level");
	return TEST_SUCCESS;
}

/* Run this binary with @p args after the EAL options; return its status. */
static int
run_self(const char *const *args, unsigned int n)
{
	char *argv[16];
	unsigned int argc = 0;
	int status;
	pid_t pid;

	argv[argc++] = (char *)"usva-test";
	argv[argc++] = (char *)"-l";
	argv[argc++] = (char *)"0";
	argv[argc++] = (char *)"--log-level=lib.eal:error";
	argv[argc++] = (char *)"--";
	for (unsigned int i = 0; i < n && argc < RTE_DIM(argv) - 1; i++)
		argv[argc++] = (char *)(uintptr_t)args[i];
	argv[argc] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

USVA_TEST(fast, core_init_options)
{
	static const char *const ok[] = { "--usva-pool-pages=64",
		"--usva-numa-node", "0", "--list" };
	static const char *const bogus[] = { "--usva-bogus", "--list" };
	static const char *const zero[] = { "--usva-pool-pages=0", "--list" };
	static const char *const junk[] = { "--usva-pool-pages=12x", "--list" };
	static const char *const novalue[] = { "--usva-pool-pages" };
	static const char *const help[] = { "--usva-help", "--list" };

	/* Options are consumed; what follows reaches the application. */
	TEST_ASSERT_EQ(run_self(ok, RTE_DIM(ok)), 0, "valid options");
	TEST_ASSERT_EQ(run_self(help, RTE_DIM(help)), 0, "--usva-help");
	/* Bad usva options make usva_init fail (usva-test exits 1). */
	TEST_ASSERT_EQ(run_self(bogus, RTE_DIM(bogus)), 1, "unknown option");
	TEST_ASSERT_EQ(run_self(zero, RTE_DIM(zero)), 1, "zero pool pages");
	TEST_ASSERT_EQ(run_self(junk, RTE_DIM(junk)), 1, "junk number");
	TEST_ASSERT_EQ(run_self(novalue, RTE_DIM(novalue)), 1, "missing value");
	return TEST_SUCCESS;
}
