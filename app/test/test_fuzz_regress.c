/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the fuzzers (fuzz/, doc/reliability.md "Fuzzing") found, replayed
 * through the very harness code they run (fuzz/fuzz_<name>.c is compiled
 * into usva-test too): each input is a byte array as libFuzzer saved it,
 * given to the harness's one-input function between its set-up and
 * tear-down, which checks the same invariants as in the fuzzer. A
 * regression makes the harness report the broken invariant on stderr and
 * the case fail.
 *
 * Also a smoke run of every harness on deterministic pseudo-random inputs,
 * so that the harnesses build and run with the library as it changes.
 */
#include <stdlib.h>

#include "test.h"
#include "../../fuzz/fuzz_harness.h"

/* Run @p n inputs through harness @p h; returns how many broke something. */
static int
replay(const struct fz_harness *h, const uint8_t *const *in,
       const size_t *len, unsigned int n)
{
	int bad = 0, rc;

	rc = h->setup();
	TEST_ASSERT(rc == 0, "%s harness set-up: %d", h->name, rc);
	for (unsigned int i = 0; i < n; i++)
		if (h->one(in[i], len[i]) != 0) {
			printf("    %s: input %u broke an invariant (above)\n",
			       h->name, i);
			bad++;
		}
	h->teardown();
	return bad;
}

static int
replay1(const struct fz_harness *h, const uint8_t *in, size_t len)
{
	return replay(h, &in, &len, 1);
}

/*
 * fuzz_inval: a batch without coalescing whose first entry fails (the
 * failure injected with usva_emu_inval_fail_nth), followed by an address
 * range of a domain attached nowhere (nothing to send: no backend entry)
 * and a domain-wide entry. The range was reported DONE after the failed
 * entry, against "entries after a failure are never done" (usva_inval.h):
 * statuses_up() in lib/iommu/usva_inval_batch.c made every group without
 * backend entries DONE. Now such a group after the failing one is
 * NOT_ATTEMPTED.
 */
static const uint8_t inval_vacuous_done[] = {
	0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x38, 0x00, 0x08, 0x03, 0x00,
	0x00, 0x01, 0x17, 0x00, 0x08, 0x03, 0x00, 0x02, 0x01, 0x17, 0x00, 0x08,
	0x00, 0x04, 0x05, 0x03,
};

USVA_TEST(fast, fuzz_regress_inval_done_after_failure)
{
	TEST_ASSERT(replay1(&fz_inval, inval_vacuous_done,
			    sizeof(inval_vacuous_done)) == 0,
		    "an entry after the failure reported done");
	return TEST_SUCCESS;
}

/*
 * fuzz_prq: a group whose page the pager left pending is answered by the
 * IOMMU (in the first input by a SUCCESS response software made up with
 * the group's cookie; in the second by a PASID detach), then the
 * device reuses its group index. The fault service merged the new group's
 * request into the old, still pending, record (group_find() in
 * lib/fault/usva_fault_lcore.c matched records that had seen their LAST)
 * and answered with the old LAST's cookie, which the IOMMU dropped: the new
 * group never got a response and its credit stayed held. Now a record that
 * saw its LAST takes no more requests.
 */
static const uint8_t prq_forged_reuse[] = {
	0x06, 0x07, 0x1f, 0x1f, 0x20, 0x00, 0x34, 0x01, 0x00, 0x01, 0x06, 0xf9,
	0x00, 0x00, 0xf9, 0x00, 0x08, 0xed, 0x00, 0xf9, 0x00, 0x20, 0x00, 0x34,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x06, 0xf9, 0x00, 0x00, 0x06,
};

static const uint8_t prq_detach_reuse[] = {
	0x06, 0x1f, 0x1f, 0x07, 0x20, 0x00, 0x00, 0x01, 0x00, 0x05, 0x01, 0x00,
	0x11, 0x00, 0x00, 0x00, 0x06, 0x0c, 0xc0, 0xf9, 0x00, 0x0c, 0x81, 0x00,
	0x00, 0x00, 0x01, 0x00, 0x05, 0x02, 0x00, 0x22, 0x00, 0x00, 0x00, 0x06,
	0x0b, 0x06, 0x06, 0xf9, 0x00,
};

USVA_TEST(fast, fuzz_regress_prq_index_reuse)
{
	static const uint8_t *const in[] = {
		prq_forged_reuse, prq_detach_reuse,
	};
	static const size_t len[] = {
		sizeof(prq_forged_reuse), sizeof(prq_detach_reuse),
	};

	TEST_ASSERT(replay(&fz_prq, in, len, RTE_DIM(in)) == 0,
		    "a reused group index never answered");
	return TEST_SUCCESS;
}

/*
 * fuzz_api: usva_as_map() of an output address beyond what the format
 * addresses (x86 52 bits, ARM 48) succeeded and mapped the address with
 * its high bits dropped (make_leaf() masks them): a device then reached
 * other memory than the caller named. Now -ERANGE (lib/pasid/usva_as.c,
 * map_slow() and the single-page fast path). Each input maps one output
 * past the limit, one ending at it, one straddling it, and probes.
 */
static const uint8_t api_oa_x86[] = {
	0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
	0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0b, 0x00, 0x00, 0x00, 0x0a,
	0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x10, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x0b,
	0x00, 0x0c, 0x00, 0x0b, 0x00,
};

static const uint8_t api_oa_arm[] = {
	0x01, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x00, 0x01, 0x01,
	0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xff, 0xff,
	0xff, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x01, 0x00,
	0x03, 0x00, 0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x0b,
	0x00, 0x0c, 0x01, 0x01, 0x00,
};

USVA_TEST(fast, fuzz_regress_api_output_size)
{
	static const uint8_t *const in[] = { api_oa_x86, api_oa_arm };
	static const size_t len[] = { sizeof(api_oa_x86), sizeof(api_oa_arm) };

	TEST_ASSERT(replay(&fz_api, in, len, RTE_DIM(in)) == 0,
		    "an output address beyond the format's mapped truncated");
	return TEST_SUCCESS;
}

/* ---- smoke ------------------------------------------------------------------- */

#define SMOKE_INPUTS	24
#define SMOKE_MAX	192

/*
 * Pseudo-random inputs (the case's PRNG, from --seed): mostly rejected
 * early, enough to walk every harness's set-up, command decoder and
 * teardown.
 */
static int
smoke(const struct fz_harness *h)
{
	static uint8_t buf[SMOKE_INPUTS][SMOKE_MAX];
	const uint8_t *in[SMOKE_INPUTS];
	size_t len[SMOKE_INPUTS];

	for (unsigned int i = 0; i < SMOKE_INPUTS; i++) {
		len[i] = usva_test_rand() % SMOKE_MAX;
		for (size_t k = 0; k < len[i]; k++)
			buf[i][k] = (uint8_t)usva_test_rand();
		in[i] = buf[i];
	}
	return replay(h, in, len, SMOKE_INPUTS);
}

USVA_TEST(fast, fuzz_harness_smoke)
{
	TEST_ASSERT(smoke(&fz_walker) == 0, "walker");
	TEST_ASSERT(smoke(&fz_prq) == 0, "prq");
	TEST_ASSERT(smoke(&fz_inval) == 0, "inval");
	TEST_ASSERT(smoke(&fz_api) == 0, "api");
	return TEST_SUCCESS;
}
