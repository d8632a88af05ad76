/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-selfcheck: bring up the EAL and the usva libraries, exercise each
 * once, and say what happened.
 *
 *   usva-selfcheck [EAL options] -- [usva options]
 *
 * Steps: usva_init(); the lcore layout; the default page pool; a PASID
 * space with an owner and a few PASIDs; one address space in each stage-1
 * format with a 4 KiB, a 2 MiB and a 1 GiB mapping, looked up, unmapped
 * and destroyed; then everything is released and usva_cleanup() runs. The
 * tables only store output addresses: no memory at them is touched.
 *
 * Exit status 0 if every step worked; otherwise 1, after a line starting
 * "usva-selfcheck: FAILED" that names the step and the cause.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_lcore.h>

#include "usva.h"
#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"

#define NR_PASIDS	4
#define PASID_WIDTH	20
#define PASID_QUOTA	8

static const char *step = "start";
static unsigned int checks;

/* Report a failed check; the caller then unwinds. */
static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "usva-selfcheck: FAILED in step '%s': ", step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Evaluate @cond; on false report and jump to @label. */
#define CHECK(cond, label, ...)						\
	do {								\
		checks++;						\
		if (!(cond)) {						\
			fail(__VA_ARGS__);				\
			goto label;					\
		}							\
	} while (0)

/* As CHECK, for a call returning 0/count or -errno. */
#define CHECK_RC(expr, label, what)					\
	do {								\
		int rc__ = (expr);					\
		CHECK(rc__ >= 0, label, "%s returned %d (%s)", (what),	\
		      rc__, strerror(-rc__));				\
	} while (0)

static const char *
prot_str(uint32_t prot, char buf[5])
{
	buf[0] = prot & USVA_PROT_READ ? 'r' : '-';
	buf[1] = prot & USVA_PROT_WRITE ? 'w' : '-';
	buf[2] = prot & USVA_PROT_EXEC ? 'x' : '-';
	buf[3] = prot & USVA_PROT_USER ? 'u' : '-';
	buf[4] = '\0';
	return buf;
}

static const char *
size_str(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= USVA_PGSIZE_1G && bytes % USVA_PGSIZE_1G == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", bytes >> 30);
	else if (bytes >= (UINT64_C(1) << 20) && bytes % (UINT64_C(1) << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", bytes >> 20);
	else if (bytes >= 1024 && bytes % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 " KiB", bytes >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	return buf;
}

/* @bytes as a sum of GiB, MiB and KiB parts, e.g. "1 GiB + 2 MiB + 4 KiB". */
static const char *
sum_str(uint64_t bytes, char *buf, size_t len)
{
	static const struct { unsigned int shift; const char *unit; } u[] = {
		{ 30, "GiB" }, { 20, "MiB" }, { 10, "KiB" }, { 0, "B" },
	};
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < RTE_DIM(u) && n < len; i++) {
		uint64_t part = bytes >> u[i].shift;

		if (part == 0)
			continue;
		bytes -= part << u[i].shift;
		n += snprintf(buf + n, len - n, "%s%" PRIu64 " %s",
			      n ? " + " : "", part, u[i].unit);
	}
	if (n == 0)
		snprintf(buf, len, "0 B");
	return buf;
}

static void
print_lcores(void)
{
	unsigned int lcore;

	printf("lcore layout: %u lcore(s), main lcore %u, %u NUMA socket(s), "
	       "hugepages %s, IOVA as %s\n",
	       rte_lcore_count(), rte_get_main_lcore(), rte_socket_count(),
	       rte_eal_has_hugepages() ? "yes" : "no",
	       rte_eal_iova_mode() == RTE_IOVA_VA ? "VA" : "PA");
	RTE_LCORE_FOREACH(lcore) {
		printf("  lcore %u: cpu %d, socket %u, %s\n", lcore,
		       rte_lcore_to_cpu_id((int)lcore),
		       rte_lcore_to_socket_id(lcore),
		       lcore == rte_get_main_lcore() ?
		       "main (runs this check)" : "worker (idle)");
	}
}

static int
check_page_pool(void)
{
	struct usva_page_pool *pool;
	struct usva_page_pool_stats st;
	uint64_t page_size, nonzero;
	unsigned int refilled;
	uint8_t *page;
	char sz[32];

	step = "default page pool";
	pool = usva_page_pool_default();
	CHECK(pool != NULL, err, "usva_page_pool_default() returned NULL");
	usva_page_pool_stats(pool, &st);
	page_size = usva_page_pool_page_size(pool);
	printf("page pool (default): %" PRIu64 " pages of %s, %" PRIu64
	       " free, %" PRIu64 " dirty, %" PRIu64 " in use, "
	       "set up in %.3f ms\n", st.capacity,
	       size_str(page_size, sz, sizeof(sz)), st.free, st.dirty,
	       st.in_use, st.setup_ns / 1e6);
	CHECK(page_size == USVA_PGSIZE_4K, err,
	      "default pool page size is %" PRIu64 ", expected 4096", page_size);
	CHECK(st.capacity > 0, err, "default pool has no pages");
	CHECK(st.free + st.dirty + st.in_use == st.capacity, err,
	      "free %" PRIu64 " + dirty %" PRIu64 " + in use %" PRIu64
	      " != capacity %" PRIu64, st.free, st.dirty, st.in_use,
	      st.capacity);

	/* One page round trip: handed out zeroed, given back dirty. */
	page = usva_page_alloc(pool);
	CHECK(page != NULL, err, "usva_page_alloc() found no page");
	CHECK(usva_page_pool_contains(pool, page), err_page,
	      "page %p is not in the pool", (void *)page);
	for (nonzero = 0; nonzero < page_size && page[nonzero] == 0; nonzero++)
		;
	CHECK(nonzero == page_size, err_page,
	      "new page %p has byte %" PRIu64 " = 0x%02x", (void *)page,
	      nonzero, page[nonzero]);
	memset(page, 0xa5, page_size);
	usva_page_free(pool, page, false);
	refilled = usva_page_pool_refill(pool, 16);
	usva_page_pool_stats(pool, &st);
	printf("  one page allocated (all zero), dirtied and given back; "
	       "refill zeroed %u; now %" PRIu64 " free, %" PRIu64 " dirty\n",
	       refilled, st.free, st.dirty);
	return 0;

err_page:
	usva_page_free(pool, page, false);
err:
	return -1;
}

struct pasid_state {
	struct usva_pasid_space *sp;
	struct usva_pasid_owner *owner;
	uint32_t pasids[NR_PASIDS + 1];
	unsigned int nr;
};

static int
check_pasids(struct pasid_state *ps)
{
	const struct usva_pasid_space_config cfg = {
		.size = sizeof(cfg),
		.width = PASID_WIDTH,
	};
	const uint32_t top = (UINT32_C(1) << PASID_WIDTH) - 1;
	struct usva_pasid_space_stats st;

	step = "PASID space";
	CHECK_RC(usva_pasid_space_create(&cfg, &ps->sp), err,
		 "usva_pasid_space_create(width 20)");
	CHECK(usva_pasid_space_width(ps->sp) == PASID_WIDTH, err,
	      "space width %u, asked for %u", usva_pasid_space_width(ps->sp),
	      PASID_WIDTH);
	CHECK_RC(usva_pasid_owner_create(ps->sp, PASID_QUOTA, &ps->owner), err,
		 "usva_pasid_owner_create()");
	printf("PASID space: width %u bits (PASIDs 1..0x%x; 0 is RID_PASID), "
	       "one owner with a quota of %u\n",
	       usva_pasid_space_width(ps->sp), top, PASID_QUOTA);

	step = "PASID allocation";
	printf("  allocated:");
	for (unsigned int i = 0; i < NR_PASIDS; i++) {
		uint32_t p;

		CHECK_RC(usva_pasid_alloc(ps->owner, &p), err_nl,
			 "usva_pasid_alloc()");
		ps->pasids[ps->nr++] = p;
		CHECK(p != USVA_PASID_RID && p <= top, err_nl,
		      "PASID 0x%x is outside 1..0x%x", p, top);
		for (unsigned int j = 0; j < i; j++)
			CHECK(ps->pasids[j] != p, err_nl,
			      "PASID 0x%x handed out twice", p);
		printf(" 0x%x (gen %u)", p, usva_pasid_generation(ps->sp, p));
	}
	/* A given one: the highest the space has. */
	CHECK_RC(usva_pasid_alloc_at(ps->owner, top), err_nl,
		 "usva_pasid_alloc_at(top PASID)");
	ps->pasids[ps->nr++] = top;
	printf(" 0x%x (asked for; gen %u)\n", top,
	       usva_pasid_generation(ps->sp, top));

	usva_pasid_space_stats(ps->sp, &st);
	printf("  owner holds %u; space: %u allocated, %u attached, "
	       "%u reserved\n", usva_pasid_owner_count(ps->owner),
	       st.allocated, st.attached, st.reserved);
	CHECK(usva_pasid_owner_count(ps->owner) == ps->nr, err,
	      "owner holds %u PASIDs, expected %u",
	      usva_pasid_owner_count(ps->owner), ps->nr);
	CHECK(st.allocated == ps->nr, err, "space has %u allocated, expected %u",
	      st.allocated, ps->nr);
	return 0;

err_nl:
	printf("\n");
err:
	return -1;
}

static int
release_pasids(struct pasid_state *ps)
{
	bool had = ps->nr > 0 || ps->owner != NULL || ps->sp != NULL;
	int rc = 0;

	step = "PASID release";
	for (unsigned int i = 0; i < ps->nr; i++) {
		int r = usva_pasid_free(ps->owner, ps->pasids[i]);

		checks++;
		if (r != 0) {
			fail("usva_pasid_free(0x%x) returned %d (%s)",
			     ps->pasids[i], r, strerror(-r));
			rc = -1;
		}
	}
	ps->nr = 0;
	if (ps->owner != NULL) {
		int r = usva_pasid_owner_destroy(ps->owner);

		checks++;
		if (r != 0) {
			fail("usva_pasid_owner_destroy() returned %d (%s)", r,
			     strerror(-r));
			rc = -1;
		}
		ps->owner = NULL;
	}
	if (ps->sp != NULL) {
		int r = usva_pasid_space_destroy(ps->sp);

		checks++;
		if (r != 0) {
			fail("usva_pasid_space_destroy() returned %d (%s)", r,
			     strerror(-r));
			rc = -1;
		}
		ps->sp = NULL;
	}
	if (rc == 0 && had)
		printf("PASIDs freed, owner and space destroyed\n");
	return rc;
}

/* The three mappings made in each address space. */
static const struct {
	uint64_t va;
	uint64_t oa;
	uint64_t len;
	uint32_t prot;
	uint32_t level;		/* expected leaf level */
} maps[] = {
	{ UINT64_C(0x100000001000), UINT64_C(0x12345000), USVA_PGSIZE_4K,
	  USVA_PROT_READ | USVA_PROT_WRITE | USVA_PROT_USER, 1 },
	{ UINT64_C(0x200000200000), UINT64_C(0x40200000), USVA_PGSIZE_2M,
	  USVA_PROT_READ | USVA_PROT_USER, 2 },
	{ UINT64_C(0x300040000000), UINT64_C(0x80000000), USVA_PGSIZE_1G,
	  USVA_PROT_READ | USVA_PROT_WRITE, 3 },
};

static int
check_as(uint32_t format, const char *name, uint32_t va_bits)
{
	struct usva_as_config cfg = {
		.size = sizeof(cfg),
		.format = format,
		.va_bits = va_bits,
	};
	struct usva_as *as = NULL;
	struct usva_as_stats st;
	struct usva_as_xlate x;
	uint64_t total = 0;
	char sz[32], psz[32], big[64], pr[5];
	int rc;

	step = name;
	CHECK_RC(usva_as_create(&cfg, &as), err, "usva_as_create()");
	usva_as_stats(as, &st);
	printf("address space %s, va_bits %u: %u levels, root table at IOVA "
	       "0x%" PRIx64 ", %" PRIu64 " table page(s)\n", name,
	       usva_as_va_bits(as), usva_as_levels(as), usva_as_root(as),
	       st.table_pages);
	CHECK(usva_as_format(as) == format, err,
	      "usva_as_format() is %u, expected %u", usva_as_format(as), format);
	CHECK(usva_as_va_bits(as) == va_bits, err,
	      "usva_as_va_bits() is %u, expected %u", usva_as_va_bits(as),
	      va_bits);
	CHECK(usva_as_root(as) != 0 && (usva_as_root(as) & 0xfff) == 0, err,
	      "root IOVA 0x%" PRIx64 " is not a 4 KiB-aligned table",
	      usva_as_root(as));

	for (size_t i = 0; i < RTE_DIM(maps); i++) {
		/* Look up an address inside the range, not only its start. */
		uint64_t off = maps[i].len / 2 + 0x123;

		CHECK_RC(usva_as_map(as, maps[i].va, maps[i].oa, maps[i].len,
				     maps[i].prot, 0), err, "usva_as_map()");
		total += maps[i].len;
		rc = usva_as_lookup(as, maps[i].va + off, &x);
		CHECK(rc == 0, err, "usva_as_lookup(0x%" PRIx64 ") returned %d (%s)",
		      maps[i].va + off, rc, strerror(-rc));
		printf("  map %-7s va 0x%012" PRIx64 " -> oa 0x%" PRIx64
		       "; lookup va 0x%012" PRIx64 " -> oa 0x%" PRIx64
		       ", %s leaf (level %u), %s\n",
		       size_str(maps[i].len, sz, sizeof(sz)), maps[i].va,
		       maps[i].oa, maps[i].va + off, x.oa,
		       size_str(x.page_size, psz, sizeof(psz)), x.level,
		       prot_str(x.prot, pr));
		CHECK(x.oa == maps[i].oa + off, err,
		      "translated to 0x%" PRIx64 ", expected 0x%" PRIx64, x.oa,
		      maps[i].oa + off);
		CHECK(x.page_size == maps[i].len, err,
		      "leaf of %" PRIu64 " bytes, expected %" PRIu64,
		      x.page_size, maps[i].len);
		CHECK(x.level == maps[i].level, err,
		      "leaf at level %u, expected %u", x.level, maps[i].level);
		CHECK(x.prot == maps[i].prot, err,
		      "protection %s, mapped with %s", prot_str(x.prot, pr),
		      prot_str(maps[i].prot, psz));
	}
	usva_as_stats(as, &st);
	printf("  mapped %s with %" PRIu64 " table pages (%" PRIu64
	       " KiB of tables), %" PRIu64 " maps\n",
	       sum_str(st.mapped_bytes, big, sizeof(big)), st.table_pages,
	       st.table_pages * 4, st.maps);
	CHECK(st.mapped_bytes == total, err,
	      "stats say %" PRIu64 " bytes mapped, expected %" PRIu64,
	      st.mapped_bytes, total);

	for (size_t i = 0; i < RTE_DIM(maps); i++) {
		uint64_t unmapped = 0;

		CHECK_RC(usva_as_unmap(as, maps[i].va, maps[i].len, &unmapped),
			 err, "usva_as_unmap()");
		CHECK(unmapped == maps[i].len, err,
		      "unmap of 0x%" PRIx64 " reports %" PRIu64
		      " bytes unmapped, expected %" PRIu64, maps[i].va,
		      unmapped, maps[i].len);
		rc = usva_as_lookup(as, maps[i].va, &x);
		CHECK(rc == -ENOENT, err,
		      "lookup of unmapped 0x%" PRIx64 " returned %d, expected "
		      "-ENOENT", maps[i].va, rc);
	}
	usva_as_stats(as, &st);
	printf("  unmapped all; %" PRIu64 " bytes mapped, %" PRIu64
	       " table page(s) held, %" PRIu64 " unmaps\n", st.mapped_bytes,
	       st.table_pages, st.unmaps);
	CHECK(st.mapped_bytes == 0, err, "%" PRIu64 " bytes still mapped",
	      st.mapped_bytes);
	usva_as_destroy(as);
	printf("  destroyed\n");
	return 0;

err:
	usva_as_destroy(as);
	return -1;
}

static void
usage(const char *prog)
{
	printf("usage: %s [EAL options] -- [usva options]\n"
	       "Brings up the EAL and usva, exercises the page pool, the PASID\n"
	       "allocator and both stage-1 table formats, and prints what it did.\n",
	       prog);
	usva_usage(stdout);
}

int
main(int argc, char **argv)
{
	struct pasid_state ps = { 0 };
	struct usva_page_pool_stats pst;
	int64_t allocs_after_init;
	int ret, orig_argc = argc;
	int status = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	step = "usva_init";
	ret = usva_init(argc, argv);
	if (ret < 0) {
		fail("usva_init() returned %d (%s)", ret, strerror(-ret));
		return 1;
	}
	argc -= ret;
	argv += ret;
	printf("usva %s: usva_init() consumed %d of %d arguments\n",
	       usva_version(), ret, orig_argc - 1);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(argv[0]);
			usva_cleanup();
			return 0;
		}
		fprintf(stderr, "usva-selfcheck: unknown argument '%s'\n", argv[i]);
		usage(argv[0]);
		usva_cleanup();
		return 2;
	}
	allocs_after_init = usva_alloc_outstanding();
	print_lcores();

	if (check_page_pool() < 0)
		goto out;
	if (check_pasids(&ps) < 0)
		goto out;
	if (check_as(USVA_PGFMT_X86_FS, "x86-fs", 48) < 0)
		goto out;
	if (check_as(USVA_PGFMT_ARM_LPAE_4K, "arm-lpae-4k", 48) < 0)
		goto out;
	status = 0;
out:
	if (release_pasids(&ps) < 0)
		status = 1;
	if (status == 0) {
		struct usva_page_pool *pool = usva_page_pool_default();

		step = "release";
		usva_page_pool_stats(pool, &pst);
		printf("page pool (default) after: %" PRIu64 " free, %" PRIu64
		       " dirty, %" PRIu64 " in use\n", pst.free, pst.dirty,
		       pst.in_use);
		checks++;
		if (pst.in_use != 0) {
			fail("%" PRIu64 " page(s) still in use", pst.in_use);
			status = 1;
		}
		checks++;
		if (usva_alloc_outstanding() != allocs_after_init) {
			fail("%" PRId64 " usva allocation(s) not freed",
			     usva_alloc_outstanding() - allocs_after_init);
			status = 1;
		}
	}
	step = "usva_cleanup";
	ret = usva_cleanup();
	checks++;
	if (ret != 0) {
		fail("usva_cleanup() returned %d (%s)", ret, strerror(-ret));
		status = 1;
	}
	if (status == 0)
		printf("usva-selfcheck: OK, %u checks passed\n", checks);
	else
		fprintf(stderr, "usva-selfcheck: FAILED (see above)\n");
	return status;
}
