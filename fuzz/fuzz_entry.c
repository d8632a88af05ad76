/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer entry points for one harness, chosen at build time with
 * -DFZ_HARNESS=<name> (fuzz/meson.build builds one executable per harness).
 *
 * LLVMFuzzerInitialize brings up the EAL and usva once, with options of
 * its own (libFuzzer's command line is not the EAL's): one lcore, no
 * hugepages, no PCI, no shared config, no telemetry, logging at critical
 * only (set USVA_FUZZ_LOG=debug, error, ... to see more: the harnesses
 * trigger every error path, which logs). Then the harness's set-up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usva.h"
#include "usva_alloc.h"
#include "fuzz_harness.h"

#ifndef FZ_HARNESS
#error "build with -DFZ_HARNESS=<walker|prq|inval|api>"
#endif
#define FZ_CAT_(a, b) a##b
#define FZ_CAT(a, b) FZ_CAT_(a, b)
#define FZ_THE_HARNESS FZ_CAT(fz_, FZ_HARNESS)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t allocs_idle;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char loglevel[64];
	const char *lv = getenv("USVA_FUZZ_LOG");
	char *eal[] = {
		(*argv)[0], "-l", "0", "--no-huge", "--no-pci", "-m", "512",
		"--no-shconf", "--no-telemetry", loglevel, "--", NULL,
	};
	int rc;

	(void)argc;
	snprintf(loglevel, sizeof(loglevel), "--log-level=*:%s",
		 lv != NULL ? lv : "critical");
	rc = usva_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal);
	if (rc < 0) {
		fprintf(stderr, "fuzz: usva_init: %s\n", strerror(-rc));
		exit(1);
	}
	rc = FZ_THE_HARNESS.setup();
	if (rc != 0) {
		fprintf(stderr, "fuzz: %s set-up: %s\n", FZ_THE_HARNESS.name,
			strerror(-rc));
		exit(1);
	}
	fz_abort_on_fail = true;
	fz_verbose = getenv("USVA_FUZZ_VERBOSE") != NULL;
	/* One empty input first: whatever the library allocates once, on
	 * first use, and keeps (a device's PASID-table chunks, registries)
	 * is then in the baseline. */
	if (FZ_THE_HARNESS.one((const uint8_t *)"", 0) != 0)
		abort();
	allocs_idle = usva_alloc_outstanding();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t live;

	if (FZ_THE_HARNESS.one(data, size) != 0)
		abort();	/* fz_fail() aborted already */
	/* Every input gives back what it took (usva's own heap count; ASan
	 * and LeakSanitizer see the same memory). */
	live = usva_alloc_outstanding();
	if (live != allocs_idle) {
		fz_fail(__FILE__, __LINE__, "live == allocs_idle",
			"%lld usva allocations outstanding after the input, "
			"%lld before", (long long)live, (long long)allocs_idle);
		abort();
	}
	return 0;
}
