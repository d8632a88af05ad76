/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iommufd backend (drivers/iommu_nested/iommufd).
 *
 * Everywhere: the uAPI layouts against the published sizes and offsets,
 * opening the backend without an iommufd (the documented error and its
 * log line), parameter errors, and the backend's pure helpers — VT-d and
 * SMMUv3 capability decoding, PCIe capability parsing, apertures and
 * reserved windows, page-request and page-response translation (FAILURE
 * reaches the kernel as INVALID), invalidation status from the kernel's
 * returned entry count, PCI addresses, and the sysfs lookup of a device's
 * VFIO cdev (on a fake sysfs tree: unbound devices are -ENODEV with the
 * commands that bind them).
 *
 * On a machine with /dev/iommu and a device bound to vfio-pci named in
 * USVA_TEST_IOMMUFD_DEV (its PCI address): the backend on the kernel —
 * capabilities, apertures with -EMSGSIZE, stage-2 map/unmap, the device,
 * and where the kernel and IOMMU can, a nested domain attached, replaced
 * and detached on a PASID, invalidated, and the fault queue answering a
 * response nobody asked for. Elsewhere these skip, saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_log.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_inval.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_pasid.h"
#include "iommufd_internal.h"
#include "test.h"

#define CHK(cond, ...)		TEST_ASSERT_GOTO(cond, out, __VA_ARGS__)
#define CHK_OK(expr)		TEST_ASSERT_OK_GOTO(expr)
#define CHK_ERR(expr, err)	TEST_ASSERT_ERR_GOTO(expr, err)

#define ENV_DEV	"USVA_TEST_IOMMUFD_DEV"
#define SZ_2M	UINT64_C(0x200000)

/* ---- log capture --------------------------------------------------------- */

/* The backend's log lines, whatever the run's log levels. */
struct logcap {
	FILE *old;
	FILE *mem;
	char *buf;
	size_t len;
	int level;		/* usva.iommu.iommufd's, restored */
	uint32_t global;	/* the global level, restored */
};

static int
logcap_start(struct logcap *c)
{
	c->buf = NULL;
	c->len = 0;
	c->old = rte_log_get_stream();
	c->mem = open_memstream(&c->buf, &c->len);
	if (c->mem == NULL)
		return -errno;
	c->level = rte_log_get_level(usva_logtype_iommu_iommufd);
	c->global = rte_log_get_global_level();
	rte_log_set_level(usva_logtype_iommu_iommufd, RTE_LOG_INFO);
	if (c->global < RTE_LOG_INFO)
		rte_log_set_global_level(RTE_LOG_INFO);
	rte_openlog_stream(c->mem);
	return 0;
}

/* Stop capturing; c->buf holds the text (free() it). */
static void
logcap_stop(struct logcap *c)
{
	rte_openlog_stream(c->old);
	rte_log_set_global_level(c->global);
	rte_log_set_level(usva_logtype_iommu_iommufd, (uint32_t)c->level);
	fclose(c->mem);
	c->mem = NULL;
}

static bool
logcap_has(const struct logcap *c, const char *s)
{
	return c->buf != NULL && strstr(c->buf, s) != NULL;
}

static int
open_iommufd(const char *params, struct usva_iommu **out)
{
	struct usva_iommu_config c = {
		.size = sizeof(c),
		.backend = "iommufd",
		.params = params,
	};

	return usva_iommu_open(&c, out);
}

/* ---- uAPI layouts -------------------------------------------------------- */

#define LAYOUT(type, size_)						\
	TEST_ASSERT_EQ(sizeof(struct type), size_, "sizeof " #type)
#define OFF(type, field, off)						\
	TEST_ASSERT_EQ(offsetof(struct type, field), off,		\
		       #type "." #field)

USVA_TEST(fast, iommufd_uapi_layout)
{
	LAYOUT(iommu_ioas_alloc, 12);
	LAYOUT(iommu_ioas_iova_ranges, 32);
	OFF(iommu_ioas_iova_ranges, allowed_iovas, 16);
	LAYOUT(iommu_ioas_map, 40);
	OFF(iommu_ioas_map, iova, 32);
	LAYOUT(iommu_ioas_unmap, 24);
	LAYOUT(usva_iommu_hwpt_alloc, 48);
	OFF(usva_iommu_hwpt_alloc, data_uptr, 32);
	OFF(usva_iommu_hwpt_alloc, fault_id, 40);
	LAYOUT(usva_iommu_hw_info, 40);
	OFF(usva_iommu_hw_info, out_max_pasid_log2, 28);
	OFF(usva_iommu_hw_info, out_capabilities, 32);
	LAYOUT(usva_iommu_hw_info_vtd, 24);
	LAYOUT(usva_iommu_hw_info_arm_smmuv3, 40);
	LAYOUT(usva_iommu_hwpt_vtd_s1, 24);
	OFF(usva_iommu_hwpt_vtd_s1, addr_width, 16);
	LAYOUT(iommu_hwpt_invalidate, 32);
	OFF(iommu_hwpt_invalidate, entry_num, 24);
	LAYOUT(iommu_hwpt_vtd_s1_invalidate, 24);
	LAYOUT(iommu_hwpt_pgfault, 40);
	OFF(iommu_hwpt_pgfault, addr, 24);
	OFF(iommu_hwpt_pgfault, cookie, 36);
	LAYOUT(iommu_hwpt_page_response, 8);
	LAYOUT(iommu_fault_alloc, 16);
	LAYOUT(usva_vfio_device_bind_iommufd, 16);
	LAYOUT(usva_vfio_device_attach_iommufd_pt, 16);
	OFF(usva_vfio_device_attach_iommufd_pt, pasid, 12);
	LAYOUT(usva_vfio_device_detach_iommufd_pt, 12);
	/* The ioctl numbers: type ';', the published command numbers. */
	TEST_ASSERT_EQ(IOMMU_IOAS_ALLOC, _IO(';', 0x81), "IOAS_ALLOC");
	TEST_ASSERT_EQ(IOMMU_HWPT_ALLOC, _IO(';', 0x89), "HWPT_ALLOC");
	TEST_ASSERT_EQ(IOMMU_GET_HW_INFO, _IO(';', 0x8a), "GET_HW_INFO");
	TEST_ASSERT_EQ(IOMMU_HWPT_INVALIDATE, _IO(';', 0x8d), "INVALIDATE");
	TEST_ASSERT_EQ(IOMMU_FAULT_QUEUE_ALLOC, _IO(';', 0x8e), "FAULT_QUEUE");
	TEST_ASSERT_EQ(VFIO_DEVICE_BIND_IOMMUFD, _IO(';', 100 + 18), "BIND");
	TEST_ASSERT_EQ(VFIO_DEVICE_ATTACH_IOMMUFD_PT, _IO(';', 100 + 19),
		       "ATTACH_PT");
	TEST_ASSERT_EQ(VFIO_DEVICE_DETACH_IOMMUFD_PT, _IO(';', 100 + 20),
		       "DETACH_PT");
	return TEST_SUCCESS;
}

/* ---- open without an iommufd, parameters --------------------------------- */

/* A path that does not exist: a fresh directory's "iommu". */
static int
missing_path(char *dir, size_t dlen, char *path, size_t plen)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, dlen, "%s/usva-iommufd-XXXXXX", tmp ? tmp : P_tmpdir);
	if (mkdtemp(dir) == NULL)
		return -errno;
	snprintf(path, plen, "%s/iommu", dir);
	return 0;
}

USVA_TEST(fast, iommufd_open_without_iommufd)
{
	char dir[256], path[300], params[320];
	struct usva_iommu *iommu = NULL;
	struct logcap lc = { 0 };
	bool sys = access(IOMMUFD_DEV_PATH, F_OK) == 0;
	int rc;

	TEST_ASSERT_OK(missing_path(dir, sizeof(dir), path, sizeof(path)));
	snprintf(params, sizeof(params), "iommufd=%s", path);
	TEST_ASSERT_OK(logcap_start(&lc));
	rc = open_iommufd(params, &iommu);
	logcap_stop(&lc);
	rmdir(dir);
	TEST_ASSERT_GOTO(rc == -EOPNOTSUPP, fail, "open: %d", rc);
	TEST_ASSERT_GOTO(logcap_has(&lc, "the kernel has no iommufd "
				    "(CONFIG_IOMMUFD, Linux 6.2+)"), fail,
			 "log: %s", lc.buf ? lc.buf : "(none)");
	TEST_ASSERT_GOTO(logcap_has(&lc, path), fail, "log names the path");
	free(lc.buf);
	lc.buf = NULL;
	if (sys)
		return TEST_SUCCESS;
	/* No /dev/iommu on this machine: the default path says so. */
	TEST_ASSERT_OK(logcap_start(&lc));
	rc = open_iommufd(NULL, &iommu);
	logcap_stop(&lc);
	TEST_ASSERT_GOTO(rc == -EOPNOTSUPP, fail, "open: %d", rc);
	TEST_ASSERT_GOTO(logcap_has(&lc, "no /dev/iommu: the kernel has no "
				    "iommufd (CONFIG_IOMMUFD, Linux 6.2+)"),
			 fail, "log: %s", lc.buf ? lc.buf : "(none)");
	free(lc.buf);
	return TEST_SUCCESS;
fail:
	free(lc.buf);
	return TEST_FAILED;
}

USVA_TEST(fast, iommufd_params)
{
	static const char *const bad[] = {
		"bogus=1", "dev=zz", "dev=0000:00:20.0", "dev=", "prq_depth=0",
		"prq_depth=70000", "prq_depth=-1", "prq_depth=12x",
	};
	struct usva_iommu *iommu = NULL;

	/* Parameters are checked before the kernel is asked. */
	for (unsigned int i = 0; i < RTE_DIM(bad); i++)
		TEST_ASSERT_ERR(open_iommufd(bad[i], &iommu), EINVAL);
	TEST_ASSERT(iommu == NULL, "nothing opened");
	return TEST_SUCCESS;
}

/* ---- capability decoding ------------------------------------------------- */

#define B(n)	(UINT64_C(1) << (n))

USVA_TEST(fast, iommufd_caps_decode)
{
	/* A nesting VT-d: MGAW 57 (field 56), FL1GP, FL5LP; scalable
	 * mode, first and second stage, NEST, PRS, DT, SRS, PASID with
	 * PSS 19 (20 bits). */
	uint64_t cap = (UINT64_C(56) << 16) | B(56) | B(60);
	uint64_t ecap = B(2) | B(26) | B(29) | B(31) | (UINT64_C(19) << 35) |
			B(40) | B(43) | B(46) | B(47);
	uint32_t idr[6] = { 0 };
	struct iommufd_hw_caps c;

	iommufd_caps_vtd(cap, ecap, &c);
	TEST_ASSERT(c.nesting && c.pri && c.ats && c.supervisor, "vtd flags");
	TEST_ASSERT_EQ(c.pasid_width, RTE_MIN(20, USVA_MAX_PASID_WIDTH), "PSS");
	TEST_ASSERT_EQ(c.s1_formats, 1u << USVA_PGFMT_X86_FS, "format");
	TEST_ASSERT_EQ(c.s1_va_bits_max, 57, "FL5LP");
	TEST_ASSERT(c.s1_page_sizes & USVA_PGSIZE_1G, "FL1GP");
	TEST_ASSERT_EQ(c.iova_bits, 57, "MGAW");
	/* Without NEST, FL5LP, FL1GP, PRS: none of those. */
	iommufd_caps_vtd(UINT64_C(47) << 16, ecap & ~(B(26) | B(29)), &c);
	TEST_ASSERT(!c.nesting && !c.pri, "no NEST, no PRS");
	TEST_ASSERT_EQ(c.s1_va_bits_max, 48, "4-level");
	TEST_ASSERT(!(c.s1_page_sizes & USVA_PGSIZE_1G), "no 1G");
	/* Legacy mode (no SMTS): no first stage, no PASID. */
	iommufd_caps_vtd(cap, ecap & ~B(43), &c);
	TEST_ASSERT(!c.nesting && c.s1_formats == 0 && c.pasid_width == 0,
		    "legacy mode");

	/* SMMUv3: PRI, ATS, stall supported (model 0), SSIDSIZE 16, OAS
	 * 48 bits; nesting not offered by the backend. */
	idr[0] = (1u << 0) | (1u << 1) | (1u << 10) | (1u << 16);
	idr[1] = 16u << 6;
	idr[5] = 5 | (1u << 4);
	iommufd_caps_smmuv3(idr, &c);
	TEST_ASSERT(c.pri && c.ats && c.stall && !c.nesting, "smmu flags");
	TEST_ASSERT_EQ(c.pasid_width, RTE_MIN(16, USVA_MAX_PASID_WIDTH),
		       "SSIDSIZE");
	TEST_ASSERT_EQ(c.iova_bits, 48, "OAS");
	idr[0] |= 1u << 24;	/* STALL_MODEL 1: terminate only */
	iommufd_caps_smmuv3(idr, &c);
	TEST_ASSERT(!c.stall, "no stall");
	return TEST_SUCCESS;
}

/* ---- PCIe capabilities --------------------------------------------------- */

static void
put32(uint8_t *cfg, size_t off, uint32_t v)
{
	for (unsigned int i = 0; i < 4; i++)
		cfg[off + i] = (uint8_t)(v >> (8 * i));
}

/* Extended capability header: id, version 1, next. */
static uint32_t
ecap_hdr(uint32_t id, uint32_t next)
{
	return id | 1u << 16 | next << 20;
}

USVA_TEST(fast, iommufd_pci_caps)
{
	static uint8_t cfg[IOMMUFD_PCI_CFG_SIZE];
	struct iommufd_pci_caps pc;

	/* AER (ignored) -> ATS -> PRI (capacity 512) -> PASID (20 bits,
	 * exec, priv). */
	memset(cfg, 0, sizeof(cfg));
	put32(cfg, 0x100, ecap_hdr(0x01, 0x140));
	put32(cfg, 0x140, ecap_hdr(0x0f, 0x200));
	put32(cfg, 0x200, ecap_hdr(0x13, 0x300));
	put32(cfg, 0x208, 512);
	put32(cfg, 0x300, ecap_hdr(0x1b, 0));
	put32(cfg, 0x304, (20u << 8) | (1u << 1) | (1u << 2));
	TEST_ASSERT_OK(iommufd_pci_caps_parse(cfg, sizeof(cfg), &pc));
	TEST_ASSERT(pc.ats && pc.pri && pc.pasid_exec && pc.pasid_priv, "caps");
	TEST_ASSERT_EQ(pc.pri_capacity, 512, "PRI capacity");
	TEST_ASSERT_EQ(pc.pasid_width, 20, "PASID width");
	/* The 256-byte view a non-root reader gets: nothing extended. */
	TEST_ASSERT_OK(iommufd_pci_caps_parse(cfg, 256, &pc));
	TEST_ASSERT(!pc.ats && !pc.pri && pc.pasid_width == 0, "short view");
	/* A chain that loops ends; one that points back below 0x100 too. */
	put32(cfg, 0x300, ecap_hdr(0x1b, 0x100));
	TEST_ASSERT_OK(iommufd_pci_caps_parse(cfg, sizeof(cfg), &pc));
	TEST_ASSERT_EQ(pc.pasid_width, 20, "loop");
	put32(cfg, 0x140, ecap_hdr(0x0f, 0x40));
	TEST_ASSERT_OK(iommufd_pci_caps_parse(cfg, sizeof(cfg), &pc));
	TEST_ASSERT(pc.ats && !pc.pri, "chain into conventional space ends");
	TEST_ASSERT_ERR(iommufd_pci_caps_parse(cfg, 16, &pc), EINVAL);
	return TEST_SUCCESS;
}

/* ---- apertures ----------------------------------------------------------- */

USVA_TEST(fast, iommufd_ranges_windows)
{
	struct iommu_iova_range in[10];
	struct usva_iova_range r[USVA_IOMMU_MAX_RANGES];
	struct usva_iova_window w[USVA_IOMMU_MAX_WINDOWS];
	uint32_t n;

	/* VT-d with a 48-bit parent: the MSI window cut out, given out of
	 * order. */
	in[0].start = 0xfef00000;
	in[0].last = (UINT64_C(1) << 48) - 1;
	in[1].start = 0;
	in[1].last = 0xfedfffff;
	n = iommufd_ranges_fit(in, 2, r, RTE_DIM(r));
	TEST_ASSERT_EQ(n, 2, "ranges");
	TEST_ASSERT(r[0].start == 0 && r[1].start == 0xfef00000, "sorted");
	TEST_ASSERT_EQ(iommufd_windows(r, n, w, RTE_DIM(w)), 1, "windows");
	TEST_ASSERT(w[0].start == 0xfee00000 && w[0].last == 0xfeefffff,
		    "MSI window");
	TEST_ASSERT(strcmp(w[0].name, "MSI") == 0, "named %s", w[0].name);
	TEST_ASSERT_EQ(iommufd_bits(r[1].last), 48, "bits");
	/* Ten ranges, eight kept: the two narrowest go. */
	for (unsigned int i = 0; i < 10; i++) {
		in[i].start = UINT64_C(0x100000000) * (i + 1);
		in[i].last = in[i].start + (i == 3 || i == 7 ? 0xfff :
					    0xfffffff);
	}
	n = iommufd_ranges_fit(in, 10, r, RTE_DIM(r));
	TEST_ASSERT_EQ(n, USVA_IOMMU_MAX_RANGES, "kept");
	for (uint32_t i = 0; i < n; i++) {
		TEST_ASSERT(r[i].last - r[i].start == 0xfffffff, "widest");
		TEST_ASSERT(i == 0 || r[i].start > r[i - 1].start, "sorted");
	}
	n = iommufd_windows(r, n, w, RTE_DIM(w));
	TEST_ASSERT_EQ(n, USVA_IOMMU_MAX_RANGES - 1, "gaps");
	TEST_ASSERT(strcmp(w[0].name, "reserved") == 0, "named %s", w[0].name);
	/* A malformed range (last < start) is dropped, never kept. */
	in[0].start = 0x5000;
	in[0].last = 0x1000;
	in[1].start = 0x10000;
	in[1].last = 0x1ffff;
	n = iommufd_ranges_fit(in, 2, r, RTE_DIM(r));
	TEST_ASSERT(n == 1 && r[0].start == 0x10000, "malformed dropped");
	TEST_ASSERT_EQ(iommufd_ranges_fit(in, 1, r, RTE_DIM(r)), 0, "none");
	return TEST_SUCCESS;
}

/* ---- page requests and responses ----------------------------------------- */

USVA_TEST(fast, iommufd_page_response_mapping)
{
	struct usva_page_resp r = {
		.dev_id = 3, .pasid = 7, .grpid = 5, .cookie = 0xc0ffee,
	};
	struct iommu_hwpt_page_response k;
	struct iommu_hwpt_pgfault f = {
		.flags = IOMMU_PGFAULT_FLAGS_PASID_VALID |
			 IOMMU_PGFAULT_FLAGS_LAST_PAGE,
		.dev_id = 42, .pasid = 9, .grpid = 300,
		.perm = IOMMU_PGFAULT_PERM_WRITE | IOMMU_PGFAULT_PERM_PRIV,
		.addr = 0x7f0012345678, .cookie = 77,
	};
	struct usva_page_req q;

	/* Only SUCCESS and INVALID reach the kernel. */
	TEST_ASSERT_EQ(iommufd_resp_code(USVA_PAGE_RESP_SUCCESS),
		       IOMMUFD_PAGE_RESP_SUCCESS, "SUCCESS");
	TEST_ASSERT_EQ(iommufd_resp_code(USVA_PAGE_RESP_INVALID),
		       IOMMUFD_PAGE_RESP_INVALID, "INVALID");
	TEST_ASSERT_EQ(iommufd_resp_code(USVA_PAGE_RESP_FAILURE),
		       IOMMUFD_PAGE_RESP_INVALID, "FAILURE -> INVALID");
	TEST_ASSERT_ERR(iommufd_resp_code(2), EINVAL);
	TEST_ASSERT_ERR(iommufd_resp_code(0xe), EINVAL);
	r.code = USVA_PAGE_RESP_FAILURE;
	TEST_ASSERT(iommufd_resp_encode(&r, &k), "encoded");
	TEST_ASSERT(k.cookie == 0xc0ffee && k.code == IOMMUFD_PAGE_RESP_INVALID,
		    "cookie echoed, code INVALID");
	r.code = USVA_PAGE_RESP_SUCCESS;
	TEST_ASSERT(iommufd_resp_encode(&r, &k) && k.code == 0, "SUCCESS");
	r.code = 9;
	TEST_ASSERT(!iommufd_resp_encode(&r, &k), "unknown code refused");

	/* A kernel page request as the fault service polls it. */
	iommufd_pgfault_to_req(&f, 5, 1234, &q);
	TEST_ASSERT(q.dev_id == 5 && q.pasid == 9 && q.grpid == 300 &&
		    q.cookie == 77 && q.ts == 1234, "fields");
	TEST_ASSERT_EQ(q.addr, 0x7f0012345000, "page aligned");
	TEST_ASSERT_EQ(q.perm, USVA_ACCESS_WRITE | USVA_ACCESS_PRIV, "perm");
	TEST_ASSERT_EQ(q.flags, USVA_PREQ_F_PASID | USVA_PREQ_F_LAST, "flags");
	f.flags = 0;
	f.perm = IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_EXEC;
	iommufd_pgfault_to_req(&f, 5, 0, &q);
	TEST_ASSERT(q.pasid == 0 && q.flags == 0, "no PASID, not last");
	TEST_ASSERT_EQ(q.perm, USVA_ACCESS_READ | USVA_ACCESS_EXEC, "perm");
	return TEST_SUCCESS;
}

/* ---- invalidation -------------------------------------------------------- */

static int
check_status(const int32_t *st, uint32_t n, const int32_t *want)
{
	for (uint32_t i = 0; i < n; i++)
		TEST_ASSERT_EQ(st[i], want[i], "status[%u]", i);
	return TEST_SUCCESS;
}

USVA_TEST(fast, iommufd_inval_status)
{
	const int32_t D = USVA_INVAL_DONE, NA = USVA_INVAL_NOT_ATTEMPTED;
	int32_t st[4];

	/* All handled. */
	TEST_ASSERT_EQ(iommufd_inval_status(4, 0, 4, st), 4, "all");
	TEST_ASSERT(check_status(st, 4, (int32_t[]){ D, D, D, D }) == 0, "");
	/* Entry 2 failed (an ITE: the kernel's errno), 3 not attempted. */
	TEST_ASSERT_EQ(iommufd_inval_status(4, -ETIMEDOUT, 2, st), 2, "two");
	TEST_ASSERT(check_status(st, 4, (int32_t[]){ D, D, -ETIMEDOUT, NA })
		    == 0, "");
	/* Refused as a whole before the count was written back. */
	TEST_ASSERT_EQ(iommufd_inval_status(4, -EINVAL, 4, st), 0, "none");
	TEST_ASSERT(check_status(st, 4, (int32_t[]){ -EINVAL, NA, NA, NA })
		    == 0, "");
	/* The first entry failed. */
	TEST_ASSERT_EQ(iommufd_inval_status(4, -EIO, 0, st), 0, "first");
	TEST_ASSERT(check_status(st, 4, (int32_t[]){ -EIO, NA, NA, NA }) == 0,
		    "");
	/* Success with fewer handled: never reported as done. */
	TEST_ASSERT_EQ(iommufd_inval_status(4, 0, 1, st), 1, "short");
	TEST_ASSERT(check_status(st, 4, (int32_t[]){ D, -EIO, NA, NA }) == 0,
		    "");
	/* A count above n is n. */
	TEST_ASSERT_EQ(iommufd_inval_status(2, 0, 9, st), 2, "clamped");
	return TEST_SUCCESS;
}

USVA_TEST(fast, iommufd_inval_encode)
{
	struct usva_inval_entry e = {
		.granule = USVA_INVAL_ADDR,
		.caches = USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB,
		.flags = USVA_INVAL_F_LEAF,
		.addr = 0x40000000,
		.npages = 16,
	};
	struct iommu_hwpt_vtd_s1_invalidate k;

	TEST_ASSERT(iommufd_inval_encode(&e, &k), "range");
	TEST_ASSERT(k.addr == 0x40000000 && k.npages == 16 &&
		    k.flags == IOMMU_VTD_INV_FLAGS_LEAF && k.__reserved == 0,
		    "range entry");
	e.flags = 0;
	TEST_ASSERT(iommufd_inval_encode(&e, &k) && k.flags == 0, "non-leaf");
	e.granule = USVA_INVAL_PASID;
	TEST_ASSERT(iommufd_inval_encode(&e, &k), "PASID");
	TEST_ASSERT(k.addr == 0 && k.npages == UINT64_MAX, "everything");
	e.granule = USVA_INVAL_DOMAIN;
	e.caches = USVA_INVAL_IOTLB;
	TEST_ASSERT(iommufd_inval_encode(&e, &k) && k.npages == UINT64_MAX,
		    "domain");
	e.granule = USVA_INVAL_ADDR;
	e.caches = USVA_INVAL_DEVTLB;
	TEST_ASSERT(iommufd_inval_encode(&e, &k), "device TLB rides the IOTLB");
	e.granule = USVA_INVAL_PASID;
	e.caches = USVA_INVAL_PASID_CACHE;
	TEST_ASSERT(!iommufd_inval_encode(&e, &k), "PASID cache: kernel's");
	return TEST_SUCCESS;
}

/* ---- PCI addresses and sysfs --------------------------------------------- */

USVA_TEST(fast, iommufd_pci_addr)
{
	static const char *const bad[] = {
		"", "0000:00:04", "00:04", "0000:00:20.0", "0000:00:04.8",
		"0000:100:04.0", "../../x:00:04.0", "0000:00:04.0/..",
		"g000:00:04.0", "0000:00:04.", "0000::04.0", "123456789:00:04.0",
	};
	char out[IOMMUFD_PCI_ADDR_LEN];

	TEST_ASSERT_OK(iommufd_pci_addr_norm("00:04.0", out));
	TEST_ASSERT(strcmp(out, "0000:00:04.0") == 0, "%s", out);
	TEST_ASSERT_OK(iommufd_pci_addr_norm("0000:AB:1f.7", out));
	TEST_ASSERT(strcmp(out, "0000:ab:1f.7") == 0, "%s", out);
	TEST_ASSERT_OK(iommufd_pci_addr_norm("10000:3:0.1", out));
	TEST_ASSERT(strcmp(out, "10000:03:00.1") == 0, "%s", out);
	for (unsigned int i = 0; i < RTE_DIM(bad); i++)
		TEST_ASSERT_ERR(iommufd_pci_addr_norm(bad[i], out), EINVAL);
	return TEST_SUCCESS;
}

/* A fake sysfs tree under a temporary directory. */
struct fake_sysfs {
	char root[256];
};

static int
fs_mkdirs(const char *root, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

/* A PCI device @p addr, bound to @p drv ("" none), with a vfio-dev/@p cdev
 * entry ("" none). */
static int
fs_device(const struct fake_sysfs *fs, const char *addr, const char *drv,
	  const char *cdev)
{
	char rel[256], link[512], target[512];
	int rc;

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s", addr);
	rc = fs_mkdirs(fs->root, rel);
	if (rc == 0 && drv[0] != '\0') {
		snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", drv);
		rc = fs_mkdirs(fs->root, rel);
		snprintf(link, sizeof(link), "%s/bus/pci/devices/%s/driver",
			 fs->root, addr);
		snprintf(target, sizeof(target), "%s/bus/pci/drivers/%s",
			 fs->root, drv);
		if (rc == 0 && symlink(target, link) != 0)
			rc = -errno;
	}
	if (rc == 0 && cdev[0] != '\0') {
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/vfio-dev/%s",
			 addr, cdev);
		rc = fs_mkdirs(fs->root, rel);
	}
	return rc;
}

static int
fs_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	RTE_SET_USED(st);
	RTE_SET_USED(flag);
	RTE_SET_USED(ftw);
	return remove(path);
}

static void
fs_destroy(struct fake_sysfs *fs)
{
	nftw(fs->root, fs_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* iommufd_sysfs_cdev() with its log captured. */
static int
cdev_of(const struct fake_sysfs *fs, const char *addr, char *cdev,
	struct logcap *lc)
{
	int rc;

	free(lc->buf);
	lc->buf = NULL;
	if (logcap_start(lc) != 0)
		return -ENOMEM;
	rc = iommufd_sysfs_cdev(fs->root, addr, cdev, IOMMUFD_CDEV_NAME_LEN);
	logcap_stop(lc);
	return rc;
}

USVA_TEST(fast, iommufd_sysfs_binding)
{
	char cdev[IOMMUFD_CDEV_NAME_LEN], addr[IOMMUFD_PCI_ADDR_LEN];
	struct fake_sysfs fs;
	struct logcap lc = { 0 };
	const char *tmp = getenv("TMPDIR");
	int ret = TEST_FAILED;

	snprintf(fs.root, sizeof(fs.root), "%s/usva-sysfs-XXXXXX",
		 tmp ? tmp : P_tmpdir);
	TEST_ASSERT(mkdtemp(fs.root) != NULL, "mkdtemp: %s", strerror(errno));
	CHK_OK(fs_device(&fs, "0000:00:04.0", "e1000e", ""));
	CHK_OK(fs_device(&fs, "0000:00:05.0", "", ""));
	CHK_OK(fs_device(&fs, "0000:00:06.0", "vfio-pci", ""));
	CHK_OK(fs_device(&fs, "0000:00:07.0", "vfio-pci", "vfio7"));
	CHK_OK(fs_device(&fs, "0000:00:03.0", "mlx5_vfio_pci", "vfio2"));

	/* Bound to another driver: -ENODEV, and how to rebind it. */
	CHK_ERR(cdev_of(&fs, "0000:00:04.0", cdev, &lc), ENODEV);
	CHK(logcap_has(&lc, "echo 0000:00:04.0 > /sys/bus/pci/drivers/e1000e/"
		       "unbind") &&
	    logcap_has(&lc, "echo vfio-pci > /sys/bus/pci/devices/0000:00:04.0/"
		       "driver_override") &&
	    logcap_has(&lc, "echo 0000:00:04.0 > /sys/bus/pci/drivers_probe"),
	    "log: %s", lc.buf ? lc.buf : "(none)");
	/* No driver: -ENODEV, and how to bind it. */
	CHK_ERR(cdev_of(&fs, "0000:00:05.0", cdev, &lc), ENODEV);
	CHK(logcap_has(&lc, "has no driver") &&
	    logcap_has(&lc, "echo 0000:00:05.0 > /sys/bus/pci/drivers_probe"),
	    "log: %s", lc.buf ? lc.buf : "(none)");
	/* vfio-pci without a cdev: the kernel lacks device cdevs. */
	CHK_ERR(cdev_of(&fs, "0000:00:06.0", cdev, &lc), EOPNOTSUPP);
	CHK(logcap_has(&lc, "CONFIG_VFIO_DEVICE_CDEV (Linux 6.6+)"),
	    "log: %s", lc.buf ? lc.buf : "(none)");
	/* No such device. */
	CHK_ERR(cdev_of(&fs, "0000:00:09.0", cdev, &lc), ENODEV);
	CHK(logcap_has(&lc, "no PCI device 0000:00:09.0"), "log");
	/* Bound, with a cdev; a variant driver counts. */
	CHK_OK(cdev_of(&fs, "0000:00:07.0", cdev, &lc));
	CHK(strcmp(cdev, "vfio7") == 0, "cdev %s", cdev);
	CHK_OK(cdev_of(&fs, "0000:00:03.0", cdev, &lc));
	CHK(strcmp(cdev, "vfio2") == 0, "cdev %s", cdev);
	/* The lowest address with a cdev. */
	CHK_OK(iommufd_sysfs_first_vfio(fs.root, addr, sizeof(addr)));
	CHK(strcmp(addr, "0000:00:03.0") == 0, "first %s", addr);
	ret = TEST_SUCCESS;
out:
	free(lc.buf);
	fs_destroy(&fs);
	return ret;
}

/* ---- a model of the kernel ----------------------------------------------- */

/*
 * The backend makes its system calls through iommufd_sys; these cases put
 * a small model of iommufd, VFIO device cdevs and a nesting VT-d there (and
 * a fake sysfs tree), so the whole backend runs here: probing per kernel
 * release, stage 2, binding, nested HWPTs per PASID, invalidation with a
 * failing entry, and the fault queue. The model follows the published
 * semantics; it is not the kernel, so the on-kernel cases above remain the
 * proof on real hardware.
 */

#define FK_FDS		32
#define FK_OBJS		64
#define FK_DEVS		2
#define FK_PASIDS	8
#define FK_FAULTS	64
#define FK_INVAL	64

enum fk_kind { FK_FREE, FK_IOMMUFD, FK_CDEV, FK_FAULTQ };
enum fk_obj_type { FK_IOAS = 1, FK_PARENT, FK_NESTED, FK_FAULT, FK_DEV };

struct fk_obj {
	uint32_t type;		/* enum fk_obj_type; 0 free */
	uint32_t flags;		/* HWPT alloc flags */
	uint32_t parent;	/* nested: its parent */
	uint32_t fault_id;	/* nested with a fault queue */
	uint64_t root;		/* nested: stage-1 root */
	uint32_t aw;		/* nested: address width */
	uint32_t users;		/* attachments */
};

struct fk_dev {
	const char *addr;
	const char *cdev;
	bool bound;
	uint32_t dev_id;
	uint32_t rid_pt;
	uint32_t pasid[FK_PASIDS];	/* PASID attached, 0 none */
	uint32_t pasid_pt[FK_PASIDS];
};

struct fk_group {
	struct iommu_hwpt_pgfault f[4];
	uint32_t n;
	uint32_t dev;		/* fk_dev index */
	bool delivered;
	bool live;
};

struct fake_kernel {
	/* the kernel release modelled */
	bool have_iommufd;
	bool nesting;		/* 6.7: NEST_PARENT, VTD_S1 data */
	bool hwpt_inval;	/* 6.8: HWPT_INVALIDATE */
	bool faults;		/* 6.11: FAULT_QUEUE_ALLOC, fault_id */
	bool pasid;		/* 6.15: ALLOC_PASID, ATTACH_PASID, log2 */
	uint64_t cap, ecap;
	/* state */
	struct { enum fk_kind kind; int dev; } fd[FK_FDS];
	struct fk_obj obj[FK_OBJS];		/* id = index */
	struct { uint64_t iova, len; } map[16];
	uint32_t nmap;
	uint32_t allowed;			/* ALLOW_IOVAS ranges */
	struct fk_dev dev[FK_DEVS];
	struct fk_group grp[FK_FAULTS];		/* cookie = index + 1 */
	uint32_t resp_code[FK_FAULTS + 1];	/* by cookie, +1: answered */
	int inval_fail_at;			/* entry index, -1: none */
	int inval_errno;
	uint32_t inval_calls;
	uint32_t inval_hwpt[4];			/* of the last calls */
	struct iommu_hwpt_vtd_s1_invalidate inval[FK_INVAL];
	uint32_t ninval;
};

static struct fake_kernel fk;
static struct fake_sysfs fk_fs;

static int
fk_err(int e)
{
	errno = e;
	return -1;
}

static uint32_t
fk_obj_new(uint32_t type)
{
	for (uint32_t i = 1; i < FK_OBJS; i++) {
		if (fk.obj[i].type == 0) {
			memset(&fk.obj[i], 0, sizeof(fk.obj[i]));
			fk.obj[i].type = type;
			return i;
		}
	}
	return 0;
}

static struct fk_obj *
fk_obj(uint32_t id, uint32_t type)
{
	if (id == 0 || id >= FK_OBJS || fk.obj[id].type != type)
		return NULL;
	return &fk.obj[id];
}

static int
fk_fd_new(enum fk_kind kind, int dev)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd < 0 || fd >= FK_FDS) {
		if (fd >= 0)
			close(fd);
		return fk_err(EMFILE);
	}
	fk.fd[fd].kind = kind;
	fk.fd[fd].dev = dev;
	return fd;
}

static int
fk_open(const char *path, int flags)
{
	RTE_SET_USED(flags);
	if (strcmp(path, IOMMUFD_DEV_PATH) == 0)
		return fk.have_iommufd ? fk_fd_new(FK_IOMMUFD, -1) :
		       fk_err(ENOENT);
	for (int i = 0; i < FK_DEVS; i++) {
		char p[64];

		snprintf(p, sizeof(p), "%s/%s", IOMMUFD_VFIO_CDEV_DIR,
			 fk.dev[i].cdev);
		if (strcmp(path, p) == 0)
			return fk_fd_new(FK_CDEV, i);
	}
	return fk_err(ENOENT);
}

static void
fk_pt_put(uint32_t id)
{
	if (id != 0 && id < FK_OBJS && fk.obj[id].users > 0)
		fk.obj[id].users--;
}

/* The kernel answers a PASID's pending groups INVALID on detach. */
static void
fk_auto_respond(int dev, uint32_t pasid)
{
	for (uint32_t i = 0; i < FK_FAULTS; i++) {
		struct fk_group *g = &fk.grp[i];

		if (g->live && g->dev == (uint32_t)dev &&
		    g->f[0].pasid == pasid) {
			g->live = false;
			fk.resp_code[i + 1] = 1 + IOMMUFD_PAGE_RESP_INVALID;
		}
	}
}

static void
fk_unbind(int d)
{
	struct fk_dev *dv = &fk.dev[d];

	for (int p = 0; p < FK_PASIDS; p++) {
		if (dv->pasid[p] == 0)
			continue;
		fk_auto_respond(d, dv->pasid[p]);
		fk_pt_put(dv->pasid_pt[p]);
		dv->pasid[p] = 0;
	}
	fk_pt_put(dv->rid_pt);
	dv->rid_pt = 0;
	dv->bound = false;
	fk.obj[dv->dev_id].type = 0;
}

static int
fk_close(int fd)
{
	if (fd >= 0 && fd < FK_FDS) {
		if (fk.fd[fd].kind == FK_CDEV && fk.dev[fk.fd[fd].dev].bound &&
		    fk.dev[fk.fd[fd].dev].dev_id != 0)
			fk_unbind(fk.fd[fd].dev);
		fk.fd[fd].kind = FK_FREE;
	}
	return close(fd);
}

static int
fk_ranges(struct iommu_ioas_iova_ranges *q)
{
	static const struct iommu_iova_range r[2] = {
		{ 0, 0xfedfffff },
		{ 0xfef00000, (UINT64_C(1) << 48) - 1 },
	};
	struct iommu_iova_range *out = (void *)(uintptr_t)q->allowed_iovas;
	uint32_t room = q->num_iovas;

	if (fk_obj(q->ioas_id, FK_IOAS) == NULL)
		return fk_err(ENOENT);
	q->num_iovas = 2;
	if (room < 2)
		return fk_err(EMSGSIZE);
	memcpy(out, r, sizeof(r));
	return 0;
}

static int
fk_map(struct iommu_ioas_map *m)
{
	if (!(m->flags & IOMMU_IOAS_MAP_FIXED_IOVA) || fk.nmap >= 16)
		return fk_err(EINVAL);
	for (uint32_t i = 0; i < fk.nmap; i++)
		if (m->iova < fk.map[i].iova + fk.map[i].len &&
		    fk.map[i].iova < m->iova + m->length)
			return fk_err(EEXIST);
	fk.map[fk.nmap].iova = m->iova;
	fk.map[fk.nmap++].len = m->length;
	return 0;
}

static int
fk_unmap(struct iommu_ioas_unmap *u)
{
	uint64_t done = 0;

	for (uint32_t i = 0; i < fk.nmap;) {
		if (fk.map[i].iova >= u->iova &&
		    fk.map[i].iova + fk.map[i].len <= u->iova + u->length) {
			done += fk.map[i].len;
			fk.map[i] = fk.map[--fk.nmap];
		} else {
			i++;
		}
	}
	if (done == 0)
		return fk_err(ENOENT);
	u->length = done;
	return 0;
}

static struct fk_dev *
fk_dev_by_id(uint32_t dev_id)
{
	for (int i = 0; i < FK_DEVS; i++)
		if (fk.dev[i].bound && fk.dev[i].dev_id == dev_id)
			return &fk.dev[i];
	return NULL;
}

static int
fk_hw_info(struct usva_iommu_hw_info *q)
{
	struct usva_iommu_hw_info_vtd v = { .cap_reg = fk.cap,
					    .ecap_reg = fk.ecap };

	if (fk_dev_by_id(q->dev_id) == NULL)
		return fk_err(ENOENT);
	memcpy((void *)(uintptr_t)q->data_uptr, &v,
	       RTE_MIN(q->data_len, (uint32_t)sizeof(v)));
	q->data_len = sizeof(v);
	q->out_data_type = USVA_IOMMU_HW_INFO_TYPE_INTEL_VTD;
	q->out_capabilities = 0;
	q->out_max_pasid_log2 = fk.pasid ? 20 : 0;
	return 0;
}

static int
fk_hwpt_nested(struct usva_iommu_hwpt_alloc *a)
{
	const struct usva_iommu_hwpt_vtd_s1 *s1 = (void *)(uintptr_t)a->data_uptr;
	uint32_t id;

	if (a->data_type != USVA_IOMMU_HWPT_DATA_VTD_S1 ||
	    a->data_len != sizeof(*s1) || fk_obj(a->pt_id, FK_PARENT) == NULL)
		return fk_err(EINVAL);
	if ((a->flags & USVA_IOMMU_HWPT_FAULT_ID_VALID) &&
	    (!fk.faults || fk_obj(a->fault_id, FK_FAULT) == NULL))
		return fk_err(fk.faults ? ENOENT : EOPNOTSUPP);
	if (s1->addr_width != 48 && s1->addr_width != 57)
		return fk_err(EINVAL);
	id = fk_obj_new(FK_NESTED);
	fk.obj[id].flags = a->flags;
	fk.obj[id].parent = a->pt_id;
	fk.obj[id].root = s1->pgtbl_addr;
	fk.obj[id].aw = s1->addr_width;
	if (a->flags & USVA_IOMMU_HWPT_FAULT_ID_VALID)
		fk.obj[id].fault_id = a->fault_id;
	a->out_hwpt_id = id;
	return 0;
}

static int
fk_hwpt_alloc(struct usva_iommu_hwpt_alloc *a)
{
	uint32_t id;

	if (fk_dev_by_id(a->dev_id) == NULL)
		return fk_err(ENOENT);
	if (!fk.nesting || ((a->flags & USVA_IOMMU_HWPT_ALLOC_PASID) &&
			    !fk.pasid))
		return fk_err(EOPNOTSUPP);
	if (a->data_type != USVA_IOMMU_HWPT_DATA_NONE)
		return fk_hwpt_nested(a);
	if (!(a->flags & USVA_IOMMU_HWPT_ALLOC_NEST_PARENT) ||
	    fk_obj(a->pt_id, FK_IOAS) == NULL)
		return fk_err(EINVAL);
	id = fk_obj_new(FK_PARENT);
	fk.obj[id].flags = a->flags;
	a->out_hwpt_id = id;
	return 0;
}

static int
fk_invalidate(struct iommu_hwpt_invalidate *q)
{
	const struct iommu_hwpt_vtd_s1_invalidate *e =
		(void *)(uintptr_t)q->data_uptr;

	if (!fk.hwpt_inval)
		return fk_err(ENOTTY);
	if (fk_obj(q->hwpt_id, FK_NESTED) == NULL || q->entry_len != sizeof(*e) ||
	    q->data_type != IOMMU_HWPT_INVALIDATE_DATA_VTD_S1)
		return fk_err(EINVAL);
	fk.inval_hwpt[fk.inval_calls++ % 4] = q->hwpt_id;
	for (uint32_t i = 0; i < q->entry_num; i++) {
		if ((int)i == fk.inval_fail_at) {
			fk.inval_fail_at = -1;
			q->entry_num = i;
			return fk_err(fk.inval_errno);
		}
		if (fk.ninval < FK_INVAL)
			fk.inval[fk.ninval++] = e[i];
	}
	return 0;
}

static int
fk_bind(int fd, struct usva_vfio_device_bind_iommufd *b)
{
	struct fk_dev *dv = &fk.dev[fk.fd[fd].dev];

	if (dv->bound || b->flags != 0)
		return fk_err(EINVAL);
	dv->bound = true;
	dv->dev_id = fk_obj_new(FK_DEV);
	b->out_devid = dv->dev_id;
	return 0;
}

static int
fk_attach(int fd, struct usva_vfio_device_attach_iommufd_pt *a)
{
	struct fk_dev *dv = &fk.dev[fk.fd[fd].dev];
	int slot = -1;

	if (!dv->bound || (a->flags && !fk.pasid) || (a->flags & ~1u))
		return fk_err(EINVAL);	/* before 6.15: flags must be 0 */
	if (!(a->flags & USVA_VFIO_DEVICE_ATTACH_PASID)) {
		fk_pt_put(dv->rid_pt);
		dv->rid_pt = a->pt_id;
		fk.obj[a->pt_id].users++;
		return 0;
	}
	if (fk_obj(a->pt_id, FK_NESTED) == NULL)
		return fk_err(EINVAL);
	for (int p = 0; p < FK_PASIDS; p++)
		if (dv->pasid[p] == a->pasid || (slot < 0 && dv->pasid[p] == 0))
			slot = p;
	if (slot < 0)
		return fk_err(ENOSPC);
	if (dv->pasid[slot] == a->pasid) {	/* replace */
		fk_auto_respond(fk.fd[fd].dev, a->pasid);
		fk_pt_put(dv->pasid_pt[slot]);
	}
	dv->pasid[slot] = a->pasid;
	dv->pasid_pt[slot] = a->pt_id;
	fk.obj[a->pt_id].users++;
	return 0;
}

static int
fk_detach(int fd, struct usva_vfio_device_detach_iommufd_pt *d)
{
	struct fk_dev *dv = &fk.dev[fk.fd[fd].dev];

	if (!(d->flags & USVA_VFIO_DEVICE_DETACH_PASID)) {
		fk_pt_put(dv->rid_pt);
		dv->rid_pt = 0;
		return 0;
	}
	for (int p = 0; p < FK_PASIDS; p++) {
		if (dv->pasid[p] != d->pasid)
			continue;
		fk_auto_respond(fk.fd[fd].dev, d->pasid);
		fk_pt_put(dv->pasid_pt[p]);
		dv->pasid[p] = 0;
		return 0;
	}
	return fk_err(ENOENT);
}

static int
fk_fault_alloc(struct iommu_fault_alloc *a)
{
	int fd;

	if (!fk.faults)
		return fk_err(ENOTTY);
	fd = fk_fd_new(FK_FAULTQ, -1);
	if (fd < 0)
		return -1;
	a->out_fault_id = fk_obj_new(FK_FAULT);
	a->out_fault_fd = (uint32_t)fd;
	return 0;
}

static int
fk_destroy(struct iommu_destroy *d)
{
	if (d->id == 0 || d->id >= FK_OBJS || fk.obj[d->id].type == 0)
		return fk_err(ENOENT);
	if (fk.obj[d->id].users > 0)
		return fk_err(EBUSY);
	fk.obj[d->id].type = 0;
	return 0;
}

static int
fk_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd < 0 || fd >= FK_FDS || fk.fd[fd].kind == FK_FREE)
		return fk_err(EBADF);
	if (fk.fd[fd].kind == FK_CDEV) {
		if (req == VFIO_DEVICE_BIND_IOMMUFD)
			return fk_bind(fd, arg);
		if (req == VFIO_DEVICE_ATTACH_IOMMUFD_PT)
			return fk_attach(fd, arg);
		if (req == VFIO_DEVICE_DETACH_IOMMUFD_PT)
			return fk_detach(fd, arg);
		return fk_err(ENOTTY);
	}
	if (fk.fd[fd].kind != FK_IOMMUFD)
		return fk_err(ENOTTY);
	switch (req) {
	case IOMMU_IOAS_ALLOC:
		((struct iommu_ioas_alloc *)arg)->out_ioas_id =
			fk_obj_new(FK_IOAS);
		return 0;
	case IOMMU_IOAS_IOVA_RANGES:
		return fk_ranges(arg);
	case IOMMU_IOAS_ALLOW_IOVAS:
		fk.allowed = ((struct iommu_ioas_allow_iovas *)arg)->num_iovas;
		return 0;
	case IOMMU_IOAS_MAP:
		return fk_map(arg);
	case IOMMU_IOAS_UNMAP:
		return fk_unmap(arg);
	case IOMMU_GET_HW_INFO:
		return fk_hw_info(arg);
	case IOMMU_HWPT_ALLOC:
		return fk_hwpt_alloc(arg);
	case IOMMU_HWPT_INVALIDATE:
		return fk_invalidate(arg);
	case IOMMU_FAULT_QUEUE_ALLOC:
		return fk_fault_alloc(arg);
	case IOMMU_DESTROY:
		return fk_destroy(arg);
	default:
		return fk_err(ENOTTY);
	}
}

/* Whole groups, oldest first, as many as fit. */
static ssize_t
fk_read(int fd, void *buf, size_t len)
{
	struct iommu_hwpt_pgfault *out = buf;
	size_t done = 0, fsz = sizeof(*out);

	if (fk.fd[fd].kind != FK_FAULTQ)
		return fk_err(EBADF);
	if (len % fsz)
		return fk_err(ESPIPE);
	for (uint32_t i = 0; i < FK_FAULTS; i++) {
		struct fk_group *g = &fk.grp[i];

		if (!g->live || g->delivered)
			continue;
		if ((done + g->n) * fsz > len)
			break;
		memcpy(&out[done], g->f, g->n * fsz);
		done += g->n;
		g->delivered = true;
	}
	return (ssize_t)(done * fsz);
}

/* Responses in order; stops at the first it refuses. */
static ssize_t
fk_write(int fd, const void *buf, size_t len)
{
	const struct iommu_hwpt_page_response *r = buf;
	size_t n = len / sizeof(*r), i;

	if (fk.fd[fd].kind != FK_FAULTQ)
		return fk_err(EBADF);
	for (i = 0; i < n; i++) {
		uint32_t c = r[i].cookie;

		if (c == 0 || c > FK_FAULTS || !fk.grp[c - 1].live ||
		    !fk.grp[c - 1].delivered || r[i].code > 1)
			break;
		fk.grp[c - 1].live = false;
		fk.resp_code[c] = 1 + r[i].code;
	}
	if (i == 0 && n > 0)
		return fk_err(EINVAL);
	return (ssize_t)(i * sizeof(*r));
}

static int
fk_poll(struct pollfd *p, nfds_t n, int timeout)
{
	RTE_SET_USED(timeout);
	p[0].revents = 0;
	for (uint32_t i = 0; n > 0 && i < FK_FAULTS; i++)
		if (fk.grp[i].live && !fk.grp[i].delivered)
			p[0].revents = POLLIN;
	return p[0].revents ? 1 : 0;
}

/* Device @p d raises a group of @p n page requests. @return its cookie. */
static uint32_t
fk_raise(int d, uint32_t pasid, uint32_t grpid, uint64_t addr, uint32_t n)
{
	for (uint32_t i = 0; i < FK_FAULTS; i++) {
		struct fk_group *g = &fk.grp[i];

		if (g->live || fk.resp_code[i + 1] != 0)
			continue;
		memset(g, 0, sizeof(*g));
		g->live = true;
		g->dev = (uint32_t)d;
		g->n = n;
		for (uint32_t k = 0; k < n; k++) {
			g->f[k].flags = IOMMU_PGFAULT_FLAGS_PASID_VALID |
				(k == n - 1 ? IOMMU_PGFAULT_FLAGS_LAST_PAGE : 0);
			g->f[k].dev_id = fk.dev[d].dev_id;
			g->f[k].pasid = pasid;
			g->f[k].grpid = grpid;
			g->f[k].perm = IOMMU_PGFAULT_PERM_READ |
				       IOMMU_PGFAULT_PERM_WRITE;
			g->f[k].addr = addr + k * 0x1000 + 0x10;
			g->f[k].cookie = i + 1;
		}
		return i + 1;
	}
	return 0;
}

/* VT-d registers of a nesting IOMMU: MGAW 48, FL1GP; scalable mode, both
 * stages, NEST, PRS, DT, SRS, PASID 20 bits. */
#define FK_CAP	((UINT64_C(47) << 16) | B(56))
#define FK_ECAP	(B(2) | B(26) | B(29) | B(31) | (UINT64_C(19) << 35) | \
		 B(40) | B(43) | B(46) | B(47))

/* A config space with ATS, PRI (capacity @p pri, 0: no PRI) and PASID. */
static int
fk_config(const char *addr, uint32_t pri)
{
	uint8_t cfg[IOMMUFD_PCI_CFG_SIZE] = { 0 };
	char path[512];
	FILE *f;

	put32(cfg, 0x100, ecap_hdr(0x0f, 0x200));
	put32(cfg, 0x200, ecap_hdr(pri ? 0x13 : 0x01, 0x300));
	put32(cfg, 0x208, pri);
	put32(cfg, 0x300, ecap_hdr(0x1b, 0));
	put32(cfg, 0x304, 20u << 8);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/config",
		 fk_fs.root, addr);
	f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fwrite(cfg, 1, sizeof(cfg), f);
	fclose(f);
	return 0;
}

/* Kernel releases the model can be. */
enum fk_release { FK_6_6, FK_6_7, FK_6_8, FK_6_11, FK_6_15 };

/* Install the model of release @p rel. @return 0 or -errno. */
static int
fk_start(enum fk_release rel)
{
	const char *tmp = getenv("TMPDIR");
	int rc;

	memset(&fk, 0, sizeof(fk));
	fk.have_iommufd = true;
	fk.nesting = rel >= FK_6_7;
	fk.hwpt_inval = rel >= FK_6_8;
	fk.faults = rel >= FK_6_11;
	fk.pasid = rel >= FK_6_15;
	fk.cap = FK_CAP;
	fk.ecap = FK_ECAP;
	fk.inval_fail_at = -1;
	fk.dev[0] = (struct fk_dev){ .addr = "0000:00:04.0", .cdev = "vfio4" };
	fk.dev[1] = (struct fk_dev){ .addr = "0000:00:05.0", .cdev = "vfio5" };
	snprintf(fk_fs.root, sizeof(fk_fs.root), "%s/usva-fk-XXXXXX",
		 tmp ? tmp : P_tmpdir);
	if (mkdtemp(fk_fs.root) == NULL)
		return -errno;
	rc = fs_device(&fk_fs, "0000:00:04.0", "vfio-pci", "vfio4");
	if (rc == 0)
		rc = fs_device(&fk_fs, "0000:00:05.0", "vfio-pci", "vfio5");
	if (rc == 0)
		rc = fk_config("0000:00:04.0", 512);
	if (rc == 0)
		rc = fk_config("0000:00:05.0", 0);
	if (rc) {
		fs_destroy(&fk_fs);
		return rc;
	}
	iommufd_sys = (struct iommufd_sys){
		.open = fk_open, .close = fk_close, .ioctl = fk_ioctl,
		.read = fk_read, .write = fk_write, .poll = fk_poll,
		.sysfs = fk_fs.root,
	};
	return 0;
}

/* Back to the kernel; @return false if the model holds anything still. */
static bool
fk_stop(void)
{
	bool clean = true;

	iommufd_sys = iommufd_sys_kernel;
	fs_destroy(&fk_fs);
	for (int i = 0; i < FK_FDS; i++) {
		if (fk.fd[i].kind != FK_FREE) {
			printf("    model: fd %d left open\n", i);
			clean = false;
			close(i);
		}
	}
	return clean;
}

/* Open an instance on the model, capturing the log. */
static int
fk_open_instance(const char *params, struct usva_iommu **iommu,
		 struct logcap *lc)
{
	int rc;

	free(lc->buf);
	lc->buf = NULL;
	if (logcap_start(lc) != 0)
		return -ENOMEM;
	rc = open_iommufd(params, iommu);
	logcap_stop(lc);
	return rc;
}

USVA_TEST(fast, iommufd_model_probe)
{
	static const struct {
		enum fk_release rel;
		uint32_t caps;
		const char *note;	/* a NOTICE the open must log */
	} k[] = {
		{ FK_6_6, 0, "refused IOMMU_HWPT_ALLOC_NEST_PARENT (nesting "
		  "parents need Linux 6.7+" },
		{ FK_6_7, 0, "stage-1 invalidation needs Linux 6.8+" },
		{ FK_6_8, USVA_IOMMU_CAP_NESTING, "fault queues need Linux "
		  "6.11+" },
		{ FK_6_11, USVA_IOMMU_CAP_NESTING | USVA_IOMMU_CAP_PRI,
		  "needs Linux 6.15+" },
		{ FK_6_15, USVA_IOMMU_CAP_NESTING | USVA_IOMMU_CAP_PRI |
		  USVA_IOMMU_CAP_PASID, NULL },
	};
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	struct usva_iova_range r[USVA_IOMMU_MAX_RANGES];
	struct usva_iommu *iommu = NULL;
	struct logcap lc = { 0 };
	int ret = TEST_FAILED;
	uint32_t nr;

	for (unsigned int i = 0; i < RTE_DIM(k); i++) {
		TEST_ASSERT_OK(fk_start(k[i].rel));
		/* No dev=: the first device bound to vfio-pci. */
		CHK_OK(fk_open_instance(NULL, &iommu, &lc));
		CHK_OK(usva_iommu_caps(iommu, &caps));
		CHK((caps.flags & ~USVA_IOMMU_CAP_ATS) == k[i].caps,
		    "release %u: caps 0x%x", i, caps.flags);
		CHK(k[i].note == NULL || logcap_has(&lc, k[i].note),
		    "release %u: log %s", i, lc.buf ? lc.buf : "(none)");
		CHK(logcap_has(&lc, "behind 0000:00:04.0"), "probe device");
		CHK(caps.iova_bits == 48 && caps.s1_va_bits_max ==
		    (k[i].rel <= FK_6_7 ? 0u : 48u), "bits %u %u",
		    caps.iova_bits, caps.s1_va_bits_max);
		CHK(caps.pasid_width == (k[i].rel == FK_6_15 ?
		    RTE_MIN(20u, (uint32_t)USVA_MAX_PASID_WIDTH) : 0u),
		    "PASID width %u", caps.pasid_width);
		/* The apertures, pinned; the probe device let go. */
		nr = 1;
		CHK_ERR(usva_iommu_iova_ranges(iommu, r, &nr), EMSGSIZE);
		CHK(nr == 2 && fk.allowed == 2, "ranges %u allowed %u", nr,
		    fk.allowed);
		CHK(!fk.dev[0].bound, "probe device unbound");
		CHK_OK(usva_iommu_close(iommu));
		iommu = NULL;
		CHK(fk_stop(), "model clean");
	}
	/* dev= names the probe device; one not bound to vfio-pci fails. */
	TEST_ASSERT_OK(fk_start(FK_6_15));
	CHK_OK(fs_device(&fk_fs, "0000:00:06.0", "igb", ""));
	CHK_ERR(fk_open_instance("dev=0000:00:06.0", &iommu, &lc), ENODEV);
	CHK(logcap_has(&lc, "echo vfio-pci > /sys/bus/pci/devices/0000:00:06.0/"
		       "driver_override"), "bind command logged");
	CHK_OK(fk_open_instance("dev=00:05.0", &iommu, &lc));
	CHK(logcap_has(&lc, "behind 0000:00:05.0"), "named probe");
	ret = TEST_SUCCESS;
out:
	if (iommu != NULL && usva_iommu_close(iommu) != 0)
		ret = TEST_FAILED;
	if (iommufd_sys.open == fk_open && !fk_stop())
		ret = TEST_FAILED;
	free(lc.buf);
	return ret;
}

USVA_TEST(fast, iommufd_model_s2)
{
	struct usva_iommu *iommu = NULL;
	struct logcap lc = { 0 };
	uint64_t iova = 0x100000000, got = 0;
	uint8_t *buf;
	int ret = TEST_FAILED;

	buf = mmap(NULL, 4 * SZ_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(buf != MAP_FAILED, "mmap");
	CHK_OK(fk_start(FK_6_15));
	CHK_OK(fk_open_instance(NULL, &iommu, &lc));
	CHK_OK(usva_iommu_s2_map(iommu, iova, buf, SZ_2M, USVA_S2_READ));
	CHK_OK(usva_iommu_s2_map(iommu, iova + SZ_2M, buf + SZ_2M, SZ_2M,
				 USVA_S2_READ | USVA_S2_WRITE));
	CHK_ERR(usva_iommu_s2_map(iommu, iova, buf, SZ_2M, USVA_S2_READ),
		EEXIST);
	/* The MSI window (lib/iommu's check against our windows). */
	CHK_ERR(usva_iommu_s2_map(iommu, 0xfee00000, buf, SZ_2M,
				  USVA_S2_READ), EINVAL);
	CHK_ERR(usva_iommu_s2_unmap(iommu, iova + 0x1000, SZ_2M, NULL), EINVAL);
	CHK_ERR(usva_iommu_s2_unmap(iommu, iova + 2 * SZ_2M, SZ_2M, NULL),
		ENOENT);
	CHK_OK(usva_iommu_s2_unmap(iommu, iova, 2 * SZ_2M, &got));
	CHK(got == 2 * SZ_2M && fk.nmap == 0, "unmapped 0x%" PRIx64, got);
	CHK_ERR(usva_iommu_s2_unmap(iommu, iova, SZ_2M, NULL), ENOENT);
	ret = TEST_SUCCESS;
out:
	if (iommu != NULL && usva_iommu_close(iommu) != 0)
		ret = TEST_FAILED;
	if (iommufd_sys.open == fk_open && !fk_stop())
		ret = TEST_FAILED;
	munmap(buf, 4 * SZ_2M);
	free(lc.buf);
	return ret;
}

/* Everything one model case sets up. */
struct fk_env {
	struct usva_iommu *iommu;
	struct usva_iommu_dev *dev[2];
	struct usva_as *as[2];
	struct usva_domain *dom[2];
	struct usva_pasid_owner *owner;
	struct logcap lc;
};

static int
fk_env_open(struct fk_env *e, enum fk_release rel)
{
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	struct usva_dev_config dv = { .size = sizeof(dv) };
	int rc;

	memset(e, 0, sizeof(*e));
	rc = fk_start(rel);
	if (rc == 0)
		rc = fk_open_instance(NULL, &e->iommu, &e->lc);
	for (int i = 0; rc == 0 && i < 2; i++) {
		dv.name = fk.dev[i].addr;
		dv.flags = i == 0 ? USVA_DEV_F_PRI : 0;
		rc = usva_iommu_dev_open(e->iommu, &dv, &e->dev[i]);
		if (rc == 0)
			rc = usva_as_create(&ac, &e->as[i]);
		dc.as = e->as[i];
		if (rc == 0)
			rc = usva_domain_create(e->iommu, &dc, &e->dom[i]);
	}
	if (rc == 0)
		rc = usva_pasid_owner_create(usva_iommu_pasids(e->iommu), 0,
					     &e->owner);
	return rc;
}

static int
fk_env_close(struct fk_env *e, int ret)
{
	int rc = 0;

	for (int i = 0; i < 2; i++)
		usva_iommu_dev_close(e->dev[i]);
	for (int i = 0; i < 2; i++) {
		rc |= usva_domain_destroy(e->dom[i]);
		usva_as_destroy(e->as[i]);
	}
	usva_pasid_owner_destroy(e->owner);
	if (e->iommu != NULL)
		rc |= usva_iommu_close(e->iommu);
	if (iommufd_sys.open == fk_open && !fk_stop())
		rc = -1;
	free(e->lc.buf);
	if (ret == TEST_SUCCESS && rc != 0) {
		printf("    teardown failed\n");
		return TEST_FAILED;
	}
	return ret;
}

/* The nested HWPT the model has at (device @p d, @p pasid), or NULL. */
static const struct fk_obj *
fk_pasid_hwpt(int d, uint32_t pasid)
{
	for (int p = 0; p < FK_PASIDS; p++)
		if (fk.dev[d].pasid[p] == pasid)
			return &fk.obj[fk.dev[d].pasid_pt[p]];
	return NULL;
}

USVA_TEST(fast, iommufd_model_attach)
{
	struct usva_dev_info info = { .size = sizeof(info) };
	const struct fk_obj *h0, *h1;
	struct fk_env e;
	int ret = TEST_FAILED;
	uint32_t pasid;

	CHK_OK(fk_env_open(&e, FK_6_15));
	/* Device 0 has PRI (asked for it), device 1 not. */
	CHK_OK(usva_iommu_dev_info(e.dev[0], &info));
	CHK(info.flags == (USVA_DEV_F_PRI | USVA_DEV_F_ATS) &&
	    info.pasid_width == RTE_MIN(20u, (uint32_t)USVA_MAX_PASID_WIDTH) &&
	    info.pri_capacity == 512, "dev0 flags 0x%x width %u pri %u",
	    info.flags, info.pasid_width, info.pri_capacity);
	CHK(fk.dev[0].bound && fk.dev[0].rid_pt != 0 &&
	    fk.obj[fk.dev[0].rid_pt].type == FK_PARENT, "RID on the parent");
	CHK_OK(usva_pasid_alloc(e.owner, &pasid));
	/* Both devices on domain 0: one nested HWPT each kind. */
	CHK_OK(usva_iommu_attach(e.dev[0], pasid, e.dom[0]));
	CHK_OK(usva_iommu_attach(e.dev[1], pasid, e.dom[0]));
	h0 = fk_pasid_hwpt(0, pasid);
	h1 = fk_pasid_hwpt(1, pasid);
	CHK(h0 != NULL && h1 != NULL && h0 != h1, "two HWPTs");
	CHK(h0->root == usva_as_root(e.as[0]) && h0->aw == 48 &&
	    h1->root == h0->root, "stage-1 root and width");
	CHK((h0->flags & USVA_IOMMU_HWPT_FAULT_ID_VALID) && h0->fault_id != 0 &&
	    !(h1->flags & USVA_IOMMU_HWPT_FAULT_ID_VALID),
	    "fault queue only where PRI is serviced");
	CHK((h0->flags & USVA_IOMMU_HWPT_ALLOC_PASID) &&
	    (fk.obj[h0->parent].flags & USVA_IOMMU_HWPT_ALLOC_PASID),
	    "PASID-capable HWPTs");
	/* Replace: the same ioctl, another HWPT, one attachment. */
	CHK_OK(usva_iommu_replace(e.dev[0], pasid, e.dom[1]));
	h0 = fk_pasid_hwpt(0, pasid);
	CHK(h0 != NULL && h0->root == usva_as_root(e.as[1]), "replaced");
	CHK_OK(usva_iommu_detach(e.dev[0], pasid));
	CHK(fk_pasid_hwpt(0, pasid) == NULL, "detached in the kernel");
	CHK_OK(usva_iommu_detach(e.dev[1], pasid));
	ret = TEST_SUCCESS;
out:
	return fk_env_close(&e, ret);
}

USVA_TEST(fast, iommufd_model_no_pasid_attach)
{
	struct usva_dev_info info = { .size = sizeof(info) };
	struct fk_env e;
	int ret = TEST_FAILED;
	uint32_t pasid;

	/* 6.11: nesting and faults, no PASID attach through VFIO. */
	CHK_OK(fk_env_open(&e, FK_6_11));
	CHK(logcap_has(&e.lc, "refused IOMMU_HWPT_ALLOC_PASID") &&
	    logcap_has(&e.lc, "Linux 6.15+"), "log: %s", e.lc.buf);
	CHK_OK(usva_iommu_dev_info(e.dev[0], &info));
	CHK(info.pasid_width == 0, "no PASID width reported");
	CHK_OK(usva_pasid_alloc(e.owner, &pasid));
	CHK_ERR(usva_iommu_attach(e.dev[0], pasid, e.dom[0]), EOPNOTSUPP);
	ret = TEST_SUCCESS;
out:
	return fk_env_close(&e, ret);
}

USVA_TEST(fast, iommufd_model_invalidate)
{
	struct usva_inval_batch_config bc = { .size = sizeof(bc) };
	struct usva_inval_batch *b = NULL;
	struct fk_env e;
	int32_t st[3];
	int ret = TEST_FAILED, err;
	uint32_t pasid;
	struct usva_inval_entry en[3] = {
		{ .granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
		  .flags = USVA_INVAL_F_LEAF, .addr = 0x10000, .npages = 2 },
		{ .granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB |
		  USVA_INVAL_DEVTLB, .addr = 0x40000, .npages = 1 },
		{ .granule = USVA_INVAL_PASID, .caches = USVA_INVAL_IOTLB },
	};

	CHK_OK(fk_env_open(&e, FK_6_15));
	CHK_OK(usva_pasid_alloc(e.owner, &pasid));
	CHK_OK(usva_iommu_attach(e.dev[0], pasid, e.dom[0]));
	for (int i = 0; i < 3; i++) {
		en[i].dev = e.dev[0];
		en[i].pasid = pasid;
	}
	/* Direct: one call, the entries as the kernel takes them. */
	CHK(usva_iommu_invalidate(e.iommu, en, 3, st) == 3, "all done");
	CHK(fk.inval_calls == 1 && fk.ninval == 3, "one call of 3: %u %u",
	    fk.inval_calls, fk.ninval);
	CHK(fk.inval[0].addr == 0x10000 && fk.inval[0].npages == 2 &&
	    fk.inval[0].flags == IOMMU_VTD_INV_FLAGS_LEAF &&
	    fk.inval[1].flags == 0 && fk.inval[2].addr == 0 &&
	    fk.inval[2].npages == UINT64_MAX, "encoded");
	CHK(fk.inval_hwpt[0] == fk_pasid_hwpt(0, pasid) - fk.obj, "its HWPT");
	/* The kernel fails entry 1 (a device-TLB timeout): done, error,
	 * not attempted. */
	fk.inval_fail_at = 1;
	fk.inval_errno = ETIMEDOUT;
	CHK(usva_iommu_invalidate(e.iommu, en, 3, st) == 1, "one done");
	CHK(st[0] == USVA_INVAL_DONE && st[1] == -ETIMEDOUT &&
	    st[2] == USVA_INVAL_NOT_ATTEMPTED, "statuses %d %d %d", st[0],
	    st[1], st[2]);
	/* A batch: per-domain entries, the error reported. */
	CHK_OK(usva_inval_batch_create(e.iommu, &bc, &b));
	en[0].dev = NULL;
	en[0].dom = e.dom[0];
	CHK_OK(usva_inval_batch_add(b, &en[0]));
	fk.inval_fail_at = 0;
	fk.inval_errno = EIO;
	CHK(usva_inval_batch_submit(b, &err) == 0 && err == -EIO,
	    "failed batch: err %d", err);
	CHK(usva_inval_batch_submit(b, &err) == 1 && err == 0, "resubmitted");
	/* Nothing cached before a domain is attached: no call at all. */
	fk.inval_calls = 0;
	en[2].granule = USVA_INVAL_DOMAIN;
	en[2].dom = e.dom[1];
	en[2].dev = NULL;
	CHK(usva_iommu_invalidate(e.iommu, &en[2], 1, st) == 1 &&
	    fk.inval_calls == 0, "unattached domain");
	ret = TEST_SUCCESS;
out:
	usva_inval_batch_destroy(b);
	return fk_env_close(&e, ret);
}

USVA_TEST(fast, iommufd_model_faults)
{
	struct usva_page_resp r[3];
	struct usva_page_req q[8];
	struct usva_iommu_stats st;
	struct usva_dev_info info = { .size = sizeof(info) };
	struct fk_env e;
	int ret = TEST_FAILED;
	uint32_t pasid, c1, c2, c3;
	uint16_t id, n;

	CHK_OK(fk_env_open(&e, FK_6_15));
	id = usva_iommu_id(e.iommu);
	CHK_OK(usva_iommu_dev_info(e.dev[0], &info));
	CHK_OK(usva_pasid_alloc(e.owner, &pasid));
	CHK_OK(usva_iommu_attach(e.dev[0], pasid, e.dom[0]));
	CHK(usva_iommu_prq_fd(e.iommu) >= 0, "fault fd");
	CHK(usva_iommu_prq_arm(id) == 0, "empty: armed");
	c1 = fk_raise(0, pasid, 1, 0x7000000, 2);
	c2 = fk_raise(0, pasid, 2, 0x9000000, 1);
	c3 = fk_raise(0, pasid, 3, 0xa000000, 1);
	CHK(usva_iommu_prq_arm(id) == 1, "pending: poll");
	/* A burst of one: the rest waits in the staging buffer. */
	CHK(usva_iommu_prq_poll(id, q, 1) == 1, "first");
	CHK(q[0].dev_id == info.id && q[0].pasid == pasid && q[0].grpid == 1 &&
	    q[0].cookie == c1 && q[0].addr == 0x7000000 &&
	    q[0].flags == USVA_PREQ_F_PASID &&
	    q[0].perm == (USVA_ACCESS_READ | USVA_ACCESS_WRITE), "request");
	n = usva_iommu_prq_poll(id, q, RTE_DIM(q));
	CHK(n == 3 && q[0].cookie == c1 && (q[0].flags & USVA_PREQ_F_LAST) &&
	    q[1].cookie == c2 && q[2].cookie == c3, "rest: %u", n);
	CHK(usva_iommu_prq_poll(id, q, RTE_DIM(q)) == 0, "drained");
	/* SUCCESS, FAILURE (INVALID to the kernel), one unknown cookie. */
	memset(r, 0, sizeof(r));
	r[0] = (struct usva_page_resp){ .dev_id = info.id, .pasid = pasid,
		.grpid = 1, .cookie = c1, .code = USVA_PAGE_RESP_SUCCESS };
	r[1] = (struct usva_page_resp){ .dev_id = info.id, .pasid = pasid,
		.grpid = 9, .cookie = 60, .code = USVA_PAGE_RESP_SUCCESS };
	r[2] = (struct usva_page_resp){ .dev_id = info.id, .pasid = pasid,
		.grpid = 2, .cookie = c2, .code = USVA_PAGE_RESP_FAILURE };
	CHK(usva_iommu_page_respond(id, r, 3) == 3, "all consumed");
	CHK(fk.resp_code[c1] == 1 + IOMMUFD_PAGE_RESP_SUCCESS &&
	    fk.resp_code[c2] == 1 + IOMMUFD_PAGE_RESP_INVALID,
	    "kernel got %u %u", fk.resp_code[c1], fk.resp_code[c2]);
	usva_iommu_stats(e.iommu, &st);
	CHK(st.page_requests == 4 && st.responses == 2 &&
	    st.responses_dropped == 1, "stats %" PRIu64 " %" PRIu64 " %"
	    PRIu64, st.page_requests, st.responses, st.responses_dropped);
	/* Detach: the kernel answers the pending group INVALID. */
	CHK_OK(usva_iommu_detach(e.dev[0], pasid));
	CHK(fk.resp_code[c3] == 1 + IOMMUFD_PAGE_RESP_INVALID, "auto INVALID");
	ret = TEST_SUCCESS;
out:
	return fk_env_close(&e, ret);
}

/* Open, attach, poll, respond, invalidate; each step may fail. */
static int
fk_env_work(struct fk_env *e)
{
	struct usva_inval_entry en = {
		.granule = USVA_INVAL_PASID, .caches = USVA_INVAL_IOTLB,
		.dev = e->dev[0],
	};
	struct usva_page_resp r = { .code = USVA_PAGE_RESP_SUCCESS };
	uint16_t id = usva_iommu_id(e->iommu);
	struct usva_page_req q[4];
	uint32_t pasid;
	int rc;

	rc = usva_pasid_alloc(e->owner, &pasid);
	if (rc == 0)
		rc = usva_iommu_attach(e->dev[0], pasid, e->dom[0]);
	if (rc)
		return rc;
	en.pasid = pasid;
	r.cookie = fk_raise(0, pasid, 1, 0x1000, 1);
	if (usva_iommu_prq_poll(id, q, RTE_DIM(q)) == 1)
		usva_iommu_page_respond(id, &r, 1);
	usva_iommu_invalidate(e->iommu, &en, 1, NULL);
	return usva_iommu_replace(e->dev[0], pasid, e->dom[1]);
}

/*
 * Fail every allocation and every kernel call of a whole scenario, one at
 * a time: each error path must unwind completely (no usva allocation, no
 * file descriptor, no kernel object in use left behind) and never crash.
 */
USVA_TEST(fast, iommufd_model_failnth)
{
	struct fk_env e;
	uint32_t nth;
	bool fired = true;
	int ret = TEST_SUCCESS;

	for (nth = 1; fired && ret == TEST_SUCCESS && nth < 2000; nth++) {
		struct logcap lc = { 0 };

		/* The error lines are expected: keep them out of the run. */
		if (logcap_start(&lc) != 0)
			return TEST_FAILED;
		usva_failnth_set(nth);
		if (fk_env_open(&e, FK_6_15) == 0)
			fk_env_work(&e);
		fired = usva_failnth_fired();
		usva_failnth_set(0);
		ret = fk_env_close(&e, TEST_SUCCESS);
		logcap_stop(&lc);
		if (ret != TEST_SUCCESS)
			printf("    fail point %u: teardown; log:\n%s\n", nth,
			       lc.buf ? lc.buf : "");
		free(lc.buf);
	}
	TEST_ASSERT(ret == TEST_SUCCESS, "unwinding");
	TEST_ASSERT(!fired && nth > 20, "%u fail points, the last not hit",
		    nth - 1);
	printf("    %u fail points\n", nth - 2);
	return TEST_SUCCESS;
}

USVA_TEST(fast, iommufd_model_bind)
{
	struct usva_dev_config dv = { .size = sizeof(dv),
				      .name = "0000:00:04.0" };
	struct usva_iommu_dev *d = NULL, *d2 = NULL;
	struct usva_iommu *iommu = NULL;
	struct logcap lc = { 0 };
	int ret = TEST_FAILED;

	CHK_OK(fk_start(FK_6_8));
	CHK_OK(fk_open_instance(NULL, &iommu, &lc));
	CHK_OK(usva_iommu_dev_open(iommu, &dv, &d));
	/* Bound already: -EBUSY. */
	CHK_ERR(usva_iommu_dev_open(iommu, &dv, &d2), EBUSY);
	/* Not a PCI address; no such device. */
	dv.name = "dev0";
	CHK_ERR(usva_iommu_dev_open(iommu, &dv, &d2), EINVAL);
	dv.name = "0000:00:09.0";
	CHK_ERR(usva_iommu_dev_open(iommu, &dv, &d2), ENODEV);
	/* PRI wanted on a kernel without fault queues. */
	dv.name = "0000:00:05.0";
	dv.flags = USVA_DEV_F_PRI;
	CHK_ERR(usva_iommu_dev_open(iommu, &dv, &d2), EOPNOTSUPP);
	CHK(!fk.dev[1].bound, "refused device unbound");
	ret = TEST_SUCCESS;
out:
	usva_iommu_dev_close(d2);
	usva_iommu_dev_close(d);
	if (iommu != NULL && usva_iommu_close(iommu) != 0)
		ret = TEST_FAILED;
	if (iommufd_sys.open == fk_open && !fk_stop())
		ret = TEST_FAILED;
	free(lc.buf);
	return ret;
}

/* ---- on the kernel (needs /dev/iommu and a vfio-pci device) -------------- */

/* The device under test, or NULL after TEST_SKIP's reason is set. */
static const char *
hw_device(void)
{
	const char *dev = getenv(ENV_DEV);

	if (access(IOMMUFD_DEV_PATH, F_OK) != 0) {
		usva_test_set_skip_reason("no %s: the kernel has no iommufd",
					  IOMMUFD_DEV_PATH);
		return NULL;
	}
	if (dev == NULL || dev[0] == '\0') {
		usva_test_set_skip_reason("set %s=<PCI address of a device "
					  "bound to vfio-pci> to run", ENV_DEV);
		return NULL;
	}
	return dev;
}

static int
hw_open(const char *dev, struct usva_iommu **iommu)
{
	char params[64];

	snprintf(params, sizeof(params), "dev=%s", dev);
	return open_iommufd(params, iommu);
}

/* A 2 MiB anonymous buffer inside the apertures, at IOVA = VA. */
static int
hw_s2(struct usva_iommu *iommu, void **buf)
{
	struct usva_iova_range r[USVA_IOMMU_MAX_RANGES];
	uint32_t nr = RTE_DIM(r);
	void *p;
	uint64_t va;
	bool inside = false;

	p = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	*buf = p;
	va = (uint64_t)(uintptr_t)p;
	if (usva_iommu_iova_ranges(iommu, r, &nr) != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < nr; i++)
		inside |= va >= r[i].start && va + SZ_2M - 1 <= r[i].last;
	if (!inside)
		return -ERANGE;
	return usva_iommu_s2_map(iommu, va, p, SZ_2M,
				 USVA_S2_READ | USVA_S2_WRITE);
}

USVA_TEST(fast, iommufd_hw_instance)
{
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	struct usva_iova_range r[USVA_IOMMU_MAX_RANGES];
	struct usva_iommu *iommu = NULL;
	struct usva_iommu_stats st;
	const char *dev = hw_device();
	uint64_t va, unmapped = 0;
	void *buf = NULL;
	uint32_t nr = 0;
	int ret = TEST_FAILED, rc;

	if (dev == NULL)
		return TEST_SKIPPED;
	CHK_OK(hw_open(dev, &iommu));
	CHK_OK(usva_iommu_caps(iommu, &caps));
	CHK(caps.iova_bits >= 32, "iova bits %u", caps.iova_bits);
	CHK(!(caps.flags & USVA_IOMMU_CAP_NESTING) ||
	    (caps.s1_formats != 0 && caps.s1_va_bits_max >= 48),
	    "nesting with formats 0x%x, %u bits", caps.s1_formats,
	    caps.s1_va_bits_max);
	CHK(!(caps.flags & USVA_IOMMU_CAP_PASID) || caps.pasid_width > 0,
	    "PASID cap with width %u", caps.pasid_width);
	/* Apertures: -EMSGSIZE and the count, then all of them. */
	CHK_ERR(usva_iommu_iova_ranges(iommu, r, &nr), EMSGSIZE);
	CHK(nr >= 1 && nr <= USVA_IOMMU_MAX_RANGES, "%u ranges", nr);
	CHK_OK(usva_iommu_iova_ranges(iommu, r, &nr));
	printf("    %s: caps 0x%x, PASID %u bits, IOVA %u bits, %u ranges\n",
	       dev, caps.flags, caps.pasid_width, caps.iova_bits, nr);
	/* Stage 2: map, unmap contract (cut -EINVAL, empty -ENOENT). */
	rc = hw_s2(iommu, &buf);
	if (rc == -ERANGE) {
		printf("    buffer outside the apertures: no stage-2 case\n");
	} else {
		CHK_OK(rc);
		va = (uint64_t)(uintptr_t)buf;
		CHK_ERR(usva_iommu_s2_map(iommu, va, buf, SZ_2M,
					  USVA_S2_READ), EEXIST);
		CHK_ERR(usva_iommu_s2_unmap(iommu, va, 0x1000, NULL), EINVAL);
		CHK_OK(usva_iommu_s2_unmap(iommu, va, SZ_2M, &unmapped));
		CHK(unmapped == SZ_2M, "unmapped 0x%" PRIx64, unmapped);
		CHK_ERR(usva_iommu_s2_unmap(iommu, va, SZ_2M, NULL), ENOENT);
	}
	usva_iommu_stats(iommu, &st);
	CHK(st.page_requests == 0, "no page requests");
	ret = TEST_SUCCESS;
out:
	if (buf != NULL)
		munmap(buf, SZ_2M);
	if (usva_iommu_close(iommu) != 0)
		ret = TEST_FAILED;
	return ret;
}

/* A nested domain on a fresh address space of the instance's format. */
static int
hw_domain(struct usva_iommu *iommu, struct usva_as **as,
	  struct usva_domain **dom)
{
	struct usva_as_config ac = {
		.size = sizeof(ac),
		.format = USVA_PGFMT_X86_FS,
		.va_bits = 48,
	};
	struct usva_domain_config dc = { .size = sizeof(dc) };
	int rc;

	rc = usva_as_create(&ac, as);
	if (rc)
		return rc;
	dc.as = *as;
	return usva_domain_create(iommu, &dc, dom);
}

/* Attach, replace, invalidate (statuses per entry), detach. */
static int
hw_pasid_cycle(struct usva_iommu *iommu, struct usva_iommu_dev *d,
	       struct usva_domain *d1, struct usva_domain *d2, uint32_t pasid)
{
	struct usva_inval_entry e[2] = {
		{ .granule = USVA_INVAL_ADDR, .caches = USVA_INVAL_IOTLB,
		  .flags = USVA_INVAL_F_LEAF, .pasid = pasid, .dev = d,
		  .addr = 0x10000000, .npages = 4 },
		{ .granule = USVA_INVAL_PASID, .caches = USVA_INVAL_IOTLB |
		  USVA_INVAL_PASID_CACHE, .pasid = pasid, .dev = d },
	};
	int32_t st[2] = { -1, -1 };

	TEST_ASSERT_OK(usva_iommu_attach(d, pasid, d1));
	TEST_ASSERT_ERR(usva_iommu_attach(d, pasid, d2), EBUSY);
	TEST_ASSERT_OK(usva_iommu_replace(d, pasid, d2));
	TEST_ASSERT_EQ(usva_iommu_invalidate(iommu, e, 2, st), 2, "done");
	TEST_ASSERT(st[0] == USVA_INVAL_DONE && st[1] == USVA_INVAL_DONE,
		    "statuses %d %d", st[0], st[1]);
	TEST_ASSERT_OK(usva_iommu_detach(d, pasid));
	TEST_ASSERT_ERR(usva_iommu_detach(d, pasid), ENOENT);
	return TEST_SUCCESS;
}

/* A response to a group nobody raised: consumed, dropped, counted. */
static int
hw_stray_response(struct usva_iommu *iommu)
{
	struct usva_page_resp r = { .cookie = 0xfffffff0,
				    .code = USVA_PAGE_RESP_FAILURE };
	struct usva_iommu_stats s0, s1;
	struct usva_page_req q[4];
	uint16_t id = usva_iommu_id(iommu);

	usva_iommu_stats(iommu, &s0);
	TEST_ASSERT_EQ(usva_iommu_prq_poll(id, q, RTE_DIM(q)), 0, "no faults");
	TEST_ASSERT_EQ(usva_iommu_page_respond(id, &r, 1), 1, "consumed");
	usva_iommu_stats(iommu, &s1);
	TEST_ASSERT_EQ(s1.responses_dropped, s0.responses_dropped + 1,
		       "dropped");
	TEST_ASSERT(usva_iommu_prq_fd(iommu) >= 0, "fault fd");
	TEST_ASSERT_EQ(usva_iommu_prq_arm(id), 0, "armed on an empty queue");
	return TEST_SUCCESS;
}

USVA_TEST(fast, iommufd_hw_device)
{
	struct usva_iommu_caps caps = { .size = sizeof(caps) };
	struct usva_dev_info info = { .size = sizeof(info) };
	struct usva_dev_config dc = { .size = sizeof(dc) };
	struct usva_domain *d1 = NULL, *d2 = NULL;
	struct usva_as *as1 = NULL, *as2 = NULL;
	struct usva_pasid_owner *owner = NULL;
	struct usva_iommu_dev *d = NULL, *again = NULL;
	struct usva_iommu *iommu = NULL;
	const char *dev = hw_device();
	int ret = TEST_FAILED;
	uint32_t pasid;

	if (dev == NULL)
		return TEST_SKIPPED;
	CHK_OK(hw_open(dev, &iommu));
	CHK_OK(usva_iommu_caps(iommu, &caps));
	dc.name = dev;
	CHK_OK(usva_iommu_dev_open(iommu, &dc, &d));
	CHK_OK(usva_iommu_dev_info(d, &info));
	printf("    device %s: id %u, flags 0x%x, PASID %u bits, PRI %u\n",
	       info.name, info.id, info.flags, info.pasid_width,
	       info.pri_capacity);
	/* A second bind of a bound device is refused. */
	CHK_ERR(usva_iommu_dev_open(iommu, &dc, &again), EBUSY);
	if (caps.flags & USVA_IOMMU_CAP_PRI)
		CHK(hw_stray_response(iommu) == TEST_SUCCESS, "stray response");
	else
		printf("    no fault queue: page-request case skipped\n");
	if (!(caps.flags & USVA_IOMMU_CAP_NESTING) || info.pasid_width == 0) {
		printf("    no nesting or no per-PASID attach: domain case "
		       "skipped (see the NOTICE lines above)\n");
		ret = TEST_SUCCESS;
		goto out;
	}
	CHK_OK(hw_domain(iommu, &as1, &d1));
	CHK_OK(hw_domain(iommu, &as2, &d2));
	CHK_OK(usva_pasid_owner_create(usva_iommu_pasids(iommu), 0, &owner));
	CHK_OK(usva_pasid_alloc(owner, &pasid));
	CHK(pasid >> info.pasid_width == 0, "PASID %u in range", pasid);
	CHK(hw_pasid_cycle(iommu, d, d1, d2, pasid) == TEST_SUCCESS, "cycle");
	ret = TEST_SUCCESS;
out:
	usva_iommu_dev_close(again);
	usva_iommu_dev_close(d);
	if (usva_domain_destroy(d1) != 0 || usva_domain_destroy(d2) != 0)
		ret = TEST_FAILED;
	usva_as_destroy(as1);
	usva_as_destroy(as2);
	usva_pasid_owner_destroy(owner);
	if (usva_iommu_close(iommu) != 0)
		ret = TEST_FAILED;
	return ret;
}
