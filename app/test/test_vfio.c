/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vfio without hardware: the configuration-space parser on synthetic
 * spaces (capabilities present and absent; malformed lists: loops,
 * pointers out of range, truncation; random bytes), PCI address
 * normalisation, the sysfs lookups on a fake tree built in a temporary
 * directory (bound to vfio-pci, to another driver, no IOMMU group, no
 * vfio-dev directory, a cdev whose node is a plain file), the config
 * struct rules, and argument checks. One case opens a real device when
 * USVA_TEST_VFIO_DEV names one (bound to vfio-pci, legacy mode), and skips
 * otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <rte_log.h>

#include "usva_alloc.h"
#include "usva_iommu.h"
#include "usva_vfio.h"
#include "test.h"

#define TEST_ASSERT_EQ_GOTO(a, b, fmt, ...)				\
	TEST_ASSERT_GOTO((int64_t)(a) == (int64_t)(b), out, "%" PRId64	\
			 " != %" PRId64 ": " fmt, (int64_t)(a), (int64_t)(b), \
			 ##__VA_ARGS__)

/* ---- synthetic configuration spaces ---------------------------------------- */

static void
put16(uint8_t *c, unsigned int off, uint16_t v)
{
	c[off] = (uint8_t)v;
	c[off + 1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *c, unsigned int off, uint32_t v)
{
	put16(c, off, (uint16_t)v);
	put16(c, off + 2, (uint16_t)(v >> 16));
}

static void
cfg_header(uint8_t *c, uint16_t ven, uint16_t dev, uint32_t class_code)
{
	memset(c, 0, USVA_PCI_CFG_EXP_SIZE);
	put16(c, PCI_VENDOR_ID, ven);
	put16(c, PCI_DEVICE_ID, dev);
	put32(c, PCI_CLASS_REVISION, class_code << 8 | 0x01);
}

/* Start the standard list at @p first. */
static void
cfg_std_list(uint8_t *c, uint8_t first)
{
	put16(c, PCI_STATUS, PCI_STATUS_CAP_LIST);
	c[PCI_CAPABILITY_LIST] = first;
}

static void
cfg_std_cap(uint8_t *c, unsigned int pos, uint8_t id, uint8_t next)
{
	c[pos] = id;
	c[pos + 1] = next;
}

static void
cfg_ext_cap(uint8_t *c, unsigned int pos, uint16_t id, unsigned int next)
{
	put32(c, pos, (uint32_t)id | 1u << 16 | (uint32_t)next << 20);
}

/*
 * A DSA-like PCIe function: PCIe and MSI-X (9 vectors) capabilities;
 * AER, ATS (depth 0 = 32, page aligned), PASID (20 bits, exec, priv,
 * enabled) and PRI (512 requests, PASID required) extended ones.
 */
static void
cfg_full(uint8_t *c)
{
	cfg_header(c, 0x8086, 0x0b25, 0x088000);
	cfg_std_list(c, 0x40);
	cfg_std_cap(c, 0x40, PCI_CAP_ID_EXP, 0x70);
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0x00);
	put16(c, 0x72, 8);
	cfg_ext_cap(c, 0x100, PCI_EXT_CAP_ID_ERR, 0x150);
	cfg_ext_cap(c, 0x150, PCI_EXT_CAP_ID_ATS, 0x200);
	put16(c, 0x150 + PCI_ATS_CAP, PCI_ATS_CAP_PAGE_ALIGNED);
	cfg_ext_cap(c, 0x200, PCI_EXT_CAP_ID_PASID, 0x220);
	put16(c, 0x200 + PCI_PASID_CAP,
	      20u << 8 | PCI_PASID_CAP_EXEC | PCI_PASID_CAP_PRIV);
	put16(c, 0x200 + PCI_PASID_CTRL, PCI_PASID_CTRL_ENABLE);
	cfg_ext_cap(c, 0x220, PCI_EXT_CAP_ID_PRI, 0);
	put16(c, 0x220 + PCI_PRI_STATUS, PCI_PRI_STATUS_PASID);
	put32(c, 0x220 + PCI_PRI_MAX_REQ, 512);
}

USVA_TEST(fast, vfio_caps_full)
{
	static uint8_t c[USVA_PCI_CFG_EXP_SIZE];
	struct usva_pci_caps k;

	cfg_full(c);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, sizeof(c), &k));
	TEST_ASSERT_EQ(k.vendor_id, 0x8086, "vendor");
	TEST_ASSERT_EQ(k.device_id, 0x0b25, "device");
	TEST_ASSERT_EQ(k.class_code, 0x088000, "class");
	TEST_ASSERT_EQ(k.errors, 0, "errors");
	TEST_ASSERT_EQ(k.cfg_len, 4096, "cfg_len");
	TEST_ASSERT_EQ(k.nr_std, 2, "standard caps");
	TEST_ASSERT_EQ(k.nr_ext, 4, "extended caps");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_STD, "STD read");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_EXT, "EXT read");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PCIE, "PCIe");
	TEST_ASSERT_EQ(k.pcie_off, 0x40, "PCIe offset");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_MSIX, "MSI-X");
	TEST_ASSERT_EQ(k.msix_off, 0x70, "MSI-X offset");
	TEST_ASSERT_EQ(k.msix_vectors, 9, "MSI-X table size");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_MSI), "no MSI");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PASID, "PASID");
	TEST_ASSERT_EQ(k.pasid_off, 0x200, "PASID offset");
	TEST_ASSERT_EQ(k.pasid_width, 20, "PASID width");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PASID_EXEC, "PASID exec");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PASID_PRIV, "PASID priv");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PASID_ON, "PASID enabled");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PRI, "PRI");
	TEST_ASSERT_EQ(k.pri_off, 0x220, "PRI offset");
	TEST_ASSERT_EQ(k.pri_capacity, 512, "PRI capacity");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PRI_PASID, "PRI PASID required");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_PRI_ON), "PRI not enabled");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_ATS, "ATS");
	TEST_ASSERT_EQ(k.ats_off, 0x150, "ATS offset");
	TEST_ASSERT_EQ(k.ats_inval_depth, 32, "ATS depth 0 means 32");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_ATS_PAGE_ALIGNED, "ATS page aligned");

	/* Exec and priv are separate bits; an MSI capability counts vectors. */
	put16(c, 0x200 + PCI_PASID_CAP, 5u << 8 | PCI_PASID_CAP_PRIV);
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0x90);
	cfg_std_cap(c, 0x90, PCI_CAP_ID_MSI, 0x00);
	put16(c, 0x92, 3u << 1);	/* Multiple Message Capable: 8 */
	put16(c, 0x150 + PCI_ATS_CAP, 7);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, sizeof(c), &k));
	TEST_ASSERT_EQ(k.pasid_width, 5, "PASID width");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_PASID_EXEC), "no exec");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PASID_PRIV, "priv");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_MSI, "MSI");
	TEST_ASSERT_EQ(k.msi_vectors, 8, "MSI vectors");
	TEST_ASSERT_EQ(k.ats_inval_depth, 7, "ATS depth");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_ATS_PAGE_ALIGNED), "not aligned");
	return TEST_SUCCESS;
}

USVA_TEST(fast, vfio_caps_absent)
{
	static uint8_t c[USVA_PCI_CFG_EXP_SIZE];
	struct usva_pci_caps k;

	/* No capability list at all. */
	cfg_header(c, 0x1234, 0x11e8, 0x00ff00);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, sizeof(c), &k));
	TEST_ASSERT_EQ(k.nr_std + k.nr_ext, 0, "no capabilities");
	TEST_ASSERT_EQ(k.flags & ~(USVA_PCI_CAP_STD | USVA_PCI_CAP_EXT), 0,
		       "nothing present");

	/* PCIe with AER only: no PASID, PRI, ATS. */
	cfg_full(c);
	cfg_ext_cap(c, 0x100, PCI_EXT_CAP_ID_ERR, 0);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, sizeof(c), &k));
	TEST_ASSERT_EQ(k.nr_ext, 1, "AER only");
	TEST_ASSERT(!(k.flags & (USVA_PCI_CAP_PASID | USVA_PCI_CAP_PRI |
				 USVA_PCI_CAP_ATS)), "no SVA capabilities");
	TEST_ASSERT_EQ(k.pasid_width, 0, "width 0 without PASID");

	/* Extended header 0 (none) and all ones (space absent). */
	put32(c, 0x100, 0);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, sizeof(c), &k));
	TEST_ASSERT_EQ(k.nr_ext, 0, "header 0");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_EXT, "the space was read");
	put32(c, 0x100, UINT32_MAX);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, sizeof(c), &k));
	TEST_ASSERT_EQ(k.nr_ext, 0, "all ones");

	/* A conventional 256-byte space: no extended walk, no error. */
	cfg_full(c);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, USVA_PCI_CFG_SIZE, &k));
	TEST_ASSERT(k.flags & USVA_PCI_CAP_STD, "STD read");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_EXT), "EXT not read");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_PASID), "PASID not seen");
	TEST_ASSERT_EQ(k.nr_std, 2, "standard caps still walked");

	/* A CardBus bridge keeps its list pointer at 0x14. */
	cfg_header(c, 0x104c, 0xac56, 0x060700);
	c[PCI_HEADER_TYPE] = 0x80 | PCI_HEADER_TYPE_CARDBUS;
	put16(c, PCI_STATUS, PCI_STATUS_CAP_LIST);
	c[PCI_CB_CAPABILITY_LIST] = 0x80;
	cfg_std_cap(c, 0x80, PCI_CAP_ID_MSI, 0);
	TEST_ASSERT_OK(usva_vfio_parse_caps(c, USVA_PCI_CFG_SIZE, &k));
	TEST_ASSERT_EQ(k.header_type, PCI_HEADER_TYPE_CARDBUS, "header type");
	TEST_ASSERT_EQ(k.msi_off, 0x80, "MSI through 0x14");
	TEST_ASSERT_EQ(k.msi_vectors, 1, "one MSI vector");
	return TEST_SUCCESS;
}

/* Parse and expect -EBADMSG with @p err among the errors. */
static int
expect_bad(const uint8_t *c, size_t len, uint32_t err,
	   struct usva_pci_caps *k)
{
	int rc = usva_vfio_parse_caps(c, len, k);

	TEST_ASSERT_EQ(rc, -EBADMSG, "malformed list accepted");
	TEST_ASSERT(k->errors & err, "errors 0x%x, want 0x%x", k->errors, err);
	return TEST_SUCCESS;
}

USVA_TEST(fast, vfio_caps_malformed)
{
	static uint8_t c[USVA_PCI_CFG_EXP_SIZE];
	struct usva_pci_caps k;

	/* Standard list: a self-loop, then a two-capability cycle. */
	cfg_full(c);
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0x70);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_STD_LOOP, &k));
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PCIE, "found before the loop");
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PASID, "the extended list still walked");
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0x40);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_STD_LOOP, &k));
	TEST_ASSERT_EQ(k.nr_std, 2, "each capability once");
	/* The reserved low bits are masked: 0x73 is 0x70 again. */
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0x73);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_STD_LOOP, &k));

	/* Pointers into the header. */
	cfg_full(c);
	c[PCI_CAPABILITY_LIST] = 0x10;
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_STD_RANGE, &k));
	TEST_ASSERT_EQ(k.nr_std, 0, "nothing walked");
	cfg_full(c);
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0x3c);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_STD_RANGE, &k));
	TEST_ASSERT(k.flags & USVA_PCI_CAP_MSIX, "MSI-X before the fault");

	/* Truncated: the list runs past the bytes given. */
	cfg_full(c);
	cfg_std_cap(c, 0x70, PCI_CAP_ID_MSIX, 0xa0);
	TEST_ASSERT_OK(expect_bad(c, 0x80, USVA_PCI_CAPERR_STD_TRUNC, &k));
	TEST_ASSERT_OK(expect_bad(c, 0x72, USVA_PCI_CAPERR_STD_TRUNC, &k));
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_MSIX), "MSI-X cut off");
	TEST_ASSERT_OK(expect_bad(c, 64, USVA_PCI_CAPERR_STD_TRUNC, &k));

	/* Extended list: a self-loop, a cycle, a pointer below 0x100. */
	cfg_full(c);
	cfg_ext_cap(c, 0x220, PCI_EXT_CAP_ID_PRI, 0x220);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_EXT_LOOP, &k));
	TEST_ASSERT(k.flags & USVA_PCI_CAP_PRI, "PRI parsed once");
	cfg_ext_cap(c, 0x220, PCI_EXT_CAP_ID_PRI, 0x100);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_EXT_LOOP, &k));
	TEST_ASSERT_EQ(k.nr_ext, 4, "each capability once");
	cfg_ext_cap(c, 0x220, PCI_EXT_CAP_ID_PRI, 0x0fc);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_EXT_RANGE, &k));
	/* A capability that would cross the end of the 4 KiB. */
	cfg_full(c);
	cfg_ext_cap(c, 0x220, PCI_EXT_CAP_ID_PRI, 0xffc);
	cfg_ext_cap(c, 0xffc, PCI_EXT_CAP_ID_PASID, 0);
	put16(c, 0x200, 0);		/* the first PASID is now id 0 */
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_EXT_RANGE, &k));
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_PASID), "PASID past the end ignored");
	/* Every dword of the extended space reads all ones. */
	cfg_full(c);
	memset(c + 0x104, 0xff, sizeof(c) - 0x104);
	TEST_ASSERT_OK(expect_bad(c, sizeof(c), USVA_PCI_CAPERR_EXT_LOOP, &k));

	/* Extended truncation: a list, then a capability, cut by len. */
	cfg_full(c);
	TEST_ASSERT_OK(expect_bad(c, 0x180, USVA_PCI_CAPERR_EXT_TRUNC, &k));
	TEST_ASSERT(k.flags & USVA_PCI_CAP_ATS, "ATS before the cut");
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_EXT), "not the whole space");
	TEST_ASSERT_OK(expect_bad(c, 0x204, USVA_PCI_CAPERR_EXT_TRUNC, &k));
	TEST_ASSERT(!(k.flags & USVA_PCI_CAP_PASID), "PASID body cut off");
	TEST_ASSERT_OK(expect_bad(c, 0x102, USVA_PCI_CAPERR_EXT_TRUNC, &k));

	/* What is not a configuration space at all. */
	memset(c, 0xff, sizeof(c));
	TEST_ASSERT_ERR(usva_vfio_parse_caps(c, sizeof(c), &k), ENODEV);
	TEST_ASSERT_ERR(usva_vfio_parse_caps(c, 63, &k), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_parse_caps(NULL, 256, &k), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_parse_caps(c, 256, NULL), EINVAL);
	return TEST_SUCCESS;
}

/* The invariants any parse keeps, whatever the bytes. */
static int
check_invariants(int rc, size_t len, const struct usva_pci_caps *k)
{
	const uint16_t offs[] = { k->pcie_off, k->msi_off, k->msix_off,
				  k->pasid_off, k->pri_off, k->ats_off };

	TEST_ASSERT(rc == 0 || rc == -EBADMSG || rc == -ENODEV, "rc %d", rc);
	TEST_ASSERT((rc == -EBADMSG) == (k->errors != 0) || rc == -ENODEV,
		    "rc %d with errors 0x%x", rc, k->errors);
	for (unsigned int i = 0; i < RTE_DIM(offs); i++)
		TEST_ASSERT(offs[i] < len, "offset 0x%x past %zu", offs[i], len);
	TEST_ASSERT(k->pasid_width <= 31, "width %u", k->pasid_width);
	TEST_ASSERT(k->nr_std <= 64 && k->nr_ext <= 1024, "counts %u %u",
		    k->nr_std, k->nr_ext);
	return TEST_SUCCESS;
}

/*
 * Random bytes, and random corruptions of a good space, at random
 * lengths: every parse ends, stays inside the bytes (the sanitizer build
 * would see a stray read) and reports consistently.
 */
USVA_TEST(fast, vfio_caps_random)
{
	static uint8_t good[USVA_PCI_CFG_EXP_SIZE];
	uint8_t *c = malloc(USVA_PCI_CFG_EXP_SIZE);
	struct usva_pci_caps k;
	int ret = TEST_FAILED;

	TEST_ASSERT(c != NULL, "malloc");
	cfg_full(good);
	for (unsigned int it = 0; it < 20000; it++) {
		size_t len = 64 + usva_test_rand() % (USVA_PCI_CFG_EXP_SIZE - 63);
		uint8_t *p;
		int rc;

		if (it % 2) {
			for (size_t i = 0; i < USVA_PCI_CFG_EXP_SIZE; i++)
				c[i] = (uint8_t)usva_test_rand();
			c[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
		} else {
			memcpy(c, good, sizeof(good));
			for (unsigned int f = usva_test_rand() % 8 + 1; f; f--)
				c[0x34 + usva_test_rand() % (0x240 - 0x34)] =
					(uint8_t)usva_test_rand();
		}
		/* Parse from a copy that ends exactly at len. */
		p = malloc(len);
		TEST_ASSERT_GOTO(p != NULL, out, "malloc");
		memcpy(p, c, len);
		rc = usva_vfio_parse_caps(p, len, &k);
		free(p);
		TEST_ASSERT_GOTO(check_invariants(rc, len, &k) == TEST_SUCCESS,
				 out, "iteration %u, len %zu", it, len);
	}
	ret = TEST_SUCCESS;
out:
	free(c);
	return ret;
}

/* ---- PCI addresses ---------------------------------------------------------------- */

USVA_TEST(fast, vfio_pci_addr)
{
	static const struct { const char *in, *out; } good[] = {
		{ "0000:3b:00.0", "0000:3b:00.0" },
		{ "3b:00.0", "0000:3b:00.0" },
		{ "0000:3B:1F.7", "0000:3b:1f.7" },
		{ "1:2:3.4", "0001:02:03.4" },
		{ "10000:e1:00.1", "10000:e1:00.1" },
	};
	static const char *const bad[] = {
		"", "3b", "3b:00", "3b:00.", "3b:20.0", "3b:00.8", "3b:00.0x",
		"123:00.0", "0000:3b:00.0/../..", "../../etc", "0:0:0:0.0",
		"123456789:00:00.0", " 3b:00.0", "3b:00.0\n", "g0:00.0",
	};
	char out[USVA_PCI_ADDR_LEN];

	for (unsigned int i = 0; i < RTE_DIM(good); i++) {
		TEST_ASSERT_OK(usva_vfio_pci_addr(good[i].in, out));
		TEST_ASSERT(strcmp(out, good[i].out) == 0, "%s -> %s, want %s",
			    good[i].in, out, good[i].out);
	}
	for (unsigned int i = 0; i < RTE_DIM(bad); i++)
		TEST_ASSERT_ERR(usva_vfio_pci_addr(bad[i], out), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_pci_addr(NULL, out), EINVAL);
	return TEST_SUCCESS;
}

/* ---- a fake sysfs and /dev ------------------------------------------------------------- */

struct fake {
	char root[64];		/* the temporary directory */
	char sys[128];		/* <root>/sys */
	char dev[128];		/* <root>/dev */
};

static int __rte_format_printf(2, 3)
mkdirf(struct fake *f, const char *fmt, ...)
{
	char rel[512], p[1024], *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	/* mkdir -p */
	for (s = p + strlen(f->root) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int
fake_init(struct fake *f)
{
	snprintf(f->root, sizeof(f->root), "/tmp/usva-vfio-XXXXXX");
	if (mkdtemp(f->root) == NULL)
		return -errno;
	snprintf(f->sys, sizeof(f->sys), "%s/sys", f->root);
	snprintf(f->dev, sizeof(f->dev), "%s/dev", f->root);
	if (mkdirf(f, "sys/bus/pci/devices") || mkdirf(f, "dev/vfio/devices") ||
	    mkdirf(f, "sys/kernel/iommu_groups"))
		return -EIO;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	RTE_SET_USED(st);
	RTE_SET_USED(flag);
	RTE_SET_USED(ftw);
	return remove(path);
}

static void
fake_fini(struct fake *f)
{
	if (f->root[0] != '\0' && strncmp(f->root, "/tmp/usva-vfio-", 15) == 0)
		nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	f->root[0] = '\0';
}

/* What a fake device has. */
struct fake_dev {
	const char *addr;
	const char *driver;	/* NULL: unbound */
	int group;		/* -1: no iommu_group link */
	int cdev;		/* -1: no vfio-dev directory */
	bool group_node;	/* <dev>/vfio/<group> */
	bool cdev_node;		/* <dev>/vfio/devices/vfio<cdev> */
	bool iommufd;		/* <dev>/iommu */
	size_t cfg_len;		/* bytes of cfg_full() in its config file */
};

static int
fake_dev_add(struct fake *f, const struct fake_dev *d)
{
	static uint8_t cfg[USVA_PCI_CFG_EXP_SIZE];
	const char *res =
		"0x00000000fe000000 0x00000000fe0fffff 0x000000000014220c\n"
		"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
		"0x000000000000c000 0x000000000000c01f 0x0000000000040101\n";
	char dir[256], p[512], t[128];

	snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", f->sys, d->addr);
	if (mkdirf(f, "sys/bus/pci/devices/%s", d->addr))
		return -EIO;
	if (d->driver != NULL) {
		snprintf(p, sizeof(p), "%s/driver", dir);
		snprintf(t, sizeof(t), "../../../bus/pci/drivers/%s", d->driver);
		if (symlink(t, p) != 0)
			return -errno;
	}
	if (d->group >= 0) {
		snprintf(p, sizeof(p), "%s/iommu_group", dir);
		snprintf(t, sizeof(t), "../../../../kernel/iommu_groups/%d",
			 d->group);
		if (symlink(t, p) != 0)
			return -errno;
		snprintf(p, sizeof(p), "%s/iommu", dir);
		if (symlink("../../../../devices/virtual/iommu/dmar0", p) != 0)
			return -errno;
	}
	if (d->cdev >= 0 && mkdirf(f, "sys/bus/pci/devices/%s/vfio-dev/vfio%d",
				   d->addr, d->cdev))
		return -EIO;
	if (d->group_node) {
		snprintf(p, sizeof(p), "%s/vfio/%d", f->dev, d->group);
		if (write_file(p, "", 0))
			return -EIO;
	}
	if (d->cdev_node) {
		snprintf(p, sizeof(p), "%s/vfio/devices/vfio%d", f->dev, d->cdev);
		if (write_file(p, "", 0))
			return -EIO;
	}
	if (d->iommufd) {
		snprintf(p, sizeof(p), "%s/iommu", f->dev);
		if (write_file(p, "", 0))
			return -EIO;
	}
	cfg_full(cfg);
	snprintf(p, sizeof(p), "%s/config", dir);
	if (write_file(p, cfg, d->cfg_len))
		return -EIO;
	snprintf(p, sizeof(p), "%s/resource", dir);
	if (write_file(p, res, strlen(res)))
		return -EIO;
	snprintf(p, sizeof(p), "%s/numa_node", dir);
	return write_file(p, "1\n", 2);
}

/* Capture the log lines of a call. */
struct logcap {
	FILE *old;
	FILE *mf;
	char *text;
	size_t len;
};

static int
logcap_start(struct logcap *lc)
{
	lc->text = NULL;
	lc->len = 0;
	lc->old = rte_log_get_stream();
	lc->mf = open_memstream(&lc->text, &lc->len);
	if (lc->mf == NULL)
		return -errno;
	rte_openlog_stream(lc->mf);
	return 0;
}

static const char *
logcap_stop(struct logcap *lc)
{
	rte_openlog_stream(lc->old);
	fclose(lc->mf);
	/* Echo what was captured, for whoever reads the test's output. */
	if (lc->text != NULL)
		fputs(lc->text, stderr);
	return lc->text != NULL ? lc->text : "";
}

static void
fake_cfg(const struct fake *f, struct usva_vfio_config *cfg, const char *addr,
	 uint32_t flags)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->flags = flags;
	cfg->pci_addr = addr;
	cfg->sysfs_root = f->sys;
	cfg->dev_root = f->dev;
}

USVA_TEST(fast, vfio_sysfs_vfio_bound)
{
	const struct fake_dev fd = {
		.addr = "0000:3b:00.0", .driver = "vfio-pci", .group = 7,
		.cdev = 3, .group_node = true, .cdev_node = true,
		.iommufd = true, .cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_config cfg;
	struct fake f = { .root = "" };
	int ret = TEST_FAILED;
	char want[256];

	TEST_ASSERT_OK(fake_init(&f));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &fd));
	fake_cfg(&f, &cfg, "3b:00.0", 0);
	TEST_ASSERT_OK_GOTO(usva_vfio_probe(&cfg, &info));
	TEST_ASSERT_GOTO(strcmp(info.pci_addr, "0000:3b:00.0") == 0, out,
			 "address %s", info.pci_addr);
	TEST_ASSERT_GOTO(strcmp(info.driver, "vfio-pci") == 0, out, "driver");
	TEST_ASSERT_EQ_GOTO(info.group, 7, "group");
	TEST_ASSERT_GOTO(strcmp(info.cdev, "vfio3") == 0, out, "cdev %s",
			 info.cdev);
	snprintf(want, sizeof(want), "%s/vfio/devices/vfio3", f.dev);
	TEST_ASSERT_GOTO(strcmp(info.cdev_path, want) == 0, out, "cdev path %s",
			 info.cdev_path);
	snprintf(want, sizeof(want), "%s/vfio/7", f.dev);
	TEST_ASSERT_GOTO(strcmp(info.group_path, want) == 0, out,
			 "group path %s", info.group_path);
	TEST_ASSERT_GOTO(strcmp(info.iommu, "dmar0") == 0, out, "iommu %s",
			 info.iommu);
	TEST_ASSERT_EQ_GOTO(info.numa_node, 1, "numa node");
	TEST_ASSERT_EQ_GOTO(info.status,
			    USVA_VFIO_ST_VFIO_DRIVER | USVA_VFIO_ST_GROUP |
			    USVA_VFIO_ST_GROUP_NODE | USVA_VFIO_ST_CDEV |
			    USVA_VFIO_ST_CDEV_NODE | USVA_VFIO_ST_IOMMUFD |
			    USVA_VFIO_ST_CFG, "status");
	TEST_ASSERT_EQ_GOTO(info.need, 0, "nothing missing");
	TEST_ASSERT_EQ_GOTO(info.mode, 0, "probe opens nothing");
	TEST_ASSERT_EQ_GOTO(info.cfg_size, 4096, "config size");
	TEST_ASSERT_EQ_GOTO(info.cfg_read, 4096, "config read");
	TEST_ASSERT_EQ_GOTO(info.caps.pasid_width, 20, "PASID from sysfs");
	TEST_ASSERT_EQ_GOTO(info.caps.pri_capacity, 512, "PRI from sysfs");
	TEST_ASSERT_EQ_GOTO(info.bars[0].size, 1u << 20, "BAR0 size");
	TEST_ASSERT_EQ_GOTO(info.bars[0].flags,
			    USVA_VFIO_BAR_MEM | USVA_VFIO_BAR_MEM64 |
			    USVA_VFIO_BAR_PREFETCH, "BAR0 flags");
	TEST_ASSERT_EQ_GOTO(info.bars[1].size, 0, "BAR1 absent");
	TEST_ASSERT_EQ_GOTO(info.bars[2].size, 32, "BAR2 size");
	TEST_ASSERT_EQ_GOTO(info.bars[2].flags, USVA_VFIO_BAR_IO, "BAR2 I/O");

	/* An older caller's smaller info: only what fits is written. */
	{
		struct usva_vfio_dev_info small;
		size_t sz = offsetof(struct usva_vfio_dev_info, driver);

		memset(&small, 0x5a, sizeof(small));
		small.size = (uint32_t)sz;
		TEST_ASSERT_OK_GOTO(usva_vfio_probe(&cfg, &small));
		TEST_ASSERT_EQ_GOTO(small.size, sz, "size written back");
		TEST_ASSERT_EQ_GOTO(small.group, 7, "group fits");
		TEST_ASSERT_EQ_GOTO((uint8_t)small.driver[0], 0x5a,
				    "past its size untouched");
	}
	/* Without /dev/iommu: iommufd is what is missing. */
	snprintf(want, sizeof(want), "%s/iommu", f.dev);
	TEST_ASSERT_GOTO(unlink(want) == 0, out, "unlink");
	TEST_ASSERT_OK_GOTO(usva_vfio_probe(&cfg, &info));
	TEST_ASSERT_EQ_GOTO(info.need, USVA_VFIO_NEED_IOMMUFD, "need");
	TEST_ASSERT_GOTO(strstr(usva_vfio_need_str(USVA_VFIO_NEED_IOMMUFD),
				"CONFIG_IOMMUFD") != NULL, out, "need string");
	ret = TEST_SUCCESS;
out:
	fake_fini(&f);
	return ret;
}

USVA_TEST(fast, vfio_sysfs_other_driver)
{
	const struct fake_dev fd = {
		.addr = "0000:3b:00.0", .driver = "virtio-pci", .group = 7,
		.cdev = -1, .group_node = true, .cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	const struct fake_dev unbound = {
		.addr = "0000:3c:00.0", .group = 8, .cdev = -1,
		.cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_dev *dev = NULL;
	struct usva_vfio_config cfg;
	struct fake f = { .root = "" };
	struct logcap lc;
	const char *log;
	int ret = TEST_FAILED, rc;

	TEST_ASSERT_OK(fake_init(&f));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &fd));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &unbound));
	fake_cfg(&f, &cfg, fd.addr, 0);
	TEST_ASSERT_OK_GOTO(usva_vfio_probe(&cfg, &info));
	TEST_ASSERT_GOTO(strcmp(info.driver, "virtio-pci") == 0, out, "driver");
	TEST_ASSERT_GOTO(info.need & USVA_VFIO_NEED_VFIO_PCI, out, "need 0x%x",
			 info.need);
	TEST_ASSERT_GOTO(!(info.status & USVA_VFIO_ST_VFIO_DRIVER), out,
			 "status");

	for (int m = 0; m < 2; m++) {
		fake_cfg(&f, &cfg, fd.addr,
			 m ? USVA_VFIO_F_CDEV : USVA_VFIO_F_LEGACY);
		TEST_ASSERT_OK_GOTO(logcap_start(&lc));
		rc = usva_vfio_dev_open(&cfg, &dev);
		log = logcap_stop(&lc);
		TEST_ASSERT_GOTO(rc == -ENODEV, out, "open: %d", rc);
		TEST_ASSERT_GOTO(dev == NULL, out, "no device handed out");
		TEST_ASSERT_GOTO(strstr(log, "bound to virtio-pci, not vfio-pci") &&
				 strstr(log, "modprobe vfio-pci") &&
				 strstr(log, "0000:3b:00.0/driver_override") &&
				 strstr(log, "0000:3b:00.0/driver/unbind") &&
				 strstr(log, "drivers_probe") &&
				 strstr(log, "dpdk-devbind.py -b vfio-pci 0000:3b:00.0"),
				 out, "log without the bind commands: %s", log);
		free(lc.text);
	}
	/* Unbound: no unbind step in the commands. */
	fake_cfg(&f, &cfg, unbound.addr, USVA_VFIO_F_LEGACY);
	TEST_ASSERT_OK_GOTO(logcap_start(&lc));
	rc = usva_vfio_dev_open(&cfg, &dev);
	log = logcap_stop(&lc);
	TEST_ASSERT_GOTO(rc == -ENODEV, out, "open: %d", rc);
	TEST_ASSERT_GOTO(strstr(log, "bound to no driver") &&
			 strstr(log, "driver_override") &&
			 strstr(log, "/driver/unbind") == NULL, out,
			 "log: %s", log);
	free(lc.text);
	ret = TEST_SUCCESS;
out:
	fake_fini(&f);
	return ret;
}

USVA_TEST(fast, vfio_sysfs_no_group)
{
	const struct fake_dev fd = {
		.addr = "0000:00:04.0", .driver = "virtio-pci", .group = -1,
		.cdev = -1, .cfg_len = USVA_PCI_CFG_SIZE,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_dev *dev = NULL;
	struct usva_vfio_config cfg;
	struct fake f = { .root = "" };
	struct logcap lc;
	const char *log;
	int ret = TEST_FAILED, rc;

	TEST_ASSERT_OK(fake_init(&f));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &fd));
	fake_cfg(&f, &cfg, fd.addr, 0);
	TEST_ASSERT_OK_GOTO(usva_vfio_probe(&cfg, &info));
	TEST_ASSERT_EQ_GOTO(info.group, -1, "no group");
	TEST_ASSERT_GOTO(info.need & USVA_VFIO_NEED_IOMMU, out, "need 0x%x",
			 info.need);
	TEST_ASSERT_GOTO(info.group_path[0] == '\0', out, "no group path");
	/* A 256-byte space was read whole: no PASID is an answer, not '?'. */
	TEST_ASSERT_GOTO(info.status & USVA_VFIO_ST_CFG, out, "config read");
	TEST_ASSERT_GOTO(info.need & USVA_VFIO_NEED_PASID, out, "no PASID");
	TEST_ASSERT_GOTO(!(info.need & USVA_VFIO_NEED_CFG), out, "cfg known");

	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_LEGACY);
	TEST_ASSERT_OK_GOTO(logcap_start(&lc));
	rc = usva_vfio_dev_open(&cfg, &dev);
	log = logcap_stop(&lc);
	TEST_ASSERT_GOTO(rc == -ENODEV, out, "open: %d", rc);
	/* The IOMMU is named first: vfio-pci would not bind without it. */
	TEST_ASSERT_GOTO(strstr(log, "has no IOMMU group") &&
			 strstr(log, "intel_iommu=on") &&
			 strstr(log, "not vfio-pci") == NULL, out, "log: %s",
			 log);
	free(lc.text);
	ret = TEST_SUCCESS;
out:
	fake_fini(&f);
	return ret;
}

/*
 * Bound to vfio-pci, no vfio-dev directory (a kernel before 6.6) and no
 * group node: both modes refuse, each saying why; the needs say the same.
 * Then a cdev whose node is a plain file: open works (cdev mode opens and
 * stops), every region call is -EPERM until bound, and binding fails
 * because the file is not a VFIO device.
 */
USVA_TEST(fast, vfio_sysfs_no_vfio_dev)
{
	const struct fake_dev old = {
		.addr = "0000:5e:00.0", .driver = "vfio-pci", .group = 12,
		.cdev = -1, .cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	const struct fake_dev fakecdev = {
		.addr = "0000:5f:00.0", .driver = "vfio-pci", .group = 13,
		.cdev = 4, .cdev_node = true, .cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_dev *dev = NULL;
	struct usva_vfio_config cfg;
	struct fake f = { .root = "" };
	struct logcap lc;
	const char *log;
	uint32_t v;
	void *map;
	int ret = TEST_FAILED, rc, fds[1];

	TEST_ASSERT_OK(fake_init(&f));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &old));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &fakecdev));
	fake_cfg(&f, &cfg, old.addr, 0);
	TEST_ASSERT_OK_GOTO(usva_vfio_probe(&cfg, &info));
	TEST_ASSERT_GOTO(info.need & USVA_VFIO_NEED_CDEV, out, "need 0x%x",
			 info.need);
	TEST_ASSERT_GOTO(info.need & USVA_VFIO_NEED_GROUP_NODE, out,
			 "need 0x%x", info.need);
	TEST_ASSERT_GOTO(info.cdev[0] == '\0', out, "no cdev");

	fake_cfg(&f, &cfg, old.addr, USVA_VFIO_F_CDEV);
	TEST_ASSERT_OK_GOTO(logcap_start(&lc));
	rc = usva_vfio_dev_open(&cfg, &dev);
	log = logcap_stop(&lc);
	TEST_ASSERT_GOTO(rc == -ENODEV && strstr(log, "no VFIO device cdev") &&
			 strstr(log, "6.6"), out, "cdev open %d: %s", rc, log);
	free(lc.text);
	fake_cfg(&f, &cfg, old.addr, USVA_VFIO_F_LEGACY);
	TEST_ASSERT_OK_GOTO(logcap_start(&lc));
	rc = usva_vfio_dev_open(&cfg, &dev);
	log = logcap_stop(&lc);
	TEST_ASSERT_GOTO(rc == -ENODEV && strstr(log, "no node for IOMMU group 12"),
			 out, "legacy open %d: %s", rc, log);
	free(lc.text);

	/* The plain-file cdev. */
	fake_cfg(&f, &cfg, fakecdev.addr, USVA_VFIO_F_CDEV);
	TEST_ASSERT_OK_GOTO(usva_vfio_dev_open(&cfg, &dev));
	TEST_ASSERT_GOTO(usva_vfio_dev_fd(dev) >= 0, out, "fd");
	TEST_ASSERT_OK_GOTO(usva_vfio_dev_info(dev, &info));
	TEST_ASSERT_EQ_GOTO(info.mode, USVA_VFIO_F_CDEV, "mode");
	TEST_ASSERT_GOTO(info.status & USVA_VFIO_ST_OPEN, out, "open");
	TEST_ASSERT_GOTO(!(info.status & USVA_VFIO_ST_ACCESS), out, "no access");
	TEST_ASSERT_ERR_GOTO(usva_vfio_config_read(dev, 0, &v, 4), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_config_write(dev, 4, &v, 2), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_bus_master(dev, true), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_bar_map(dev, 0, &map, NULL), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_bar_read(dev, 0, 0, &v, 4), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_irq_enable(dev, USVA_VFIO_IRQ_MSIX, 1,
						  fds), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_reset(dev), EPERM);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dma_map(dev, &v, 0, 4096), EINVAL);
	TEST_ASSERT_OK_GOTO(usva_vfio_irq_disable(dev));
	TEST_ASSERT_ERR_GOTO(usva_vfio_irq_unmask(dev), EINVAL);
	rc = usva_vfio_dev_bound(dev);
	TEST_ASSERT_GOTO(rc < 0, out, "a plain file bound: %d", rc);
	ret = TEST_SUCCESS;
out:
	usva_vfio_dev_close(dev);
	fake_fini(&f);
	return ret;
}

/* Every fail point of a cdev-mode open fails cleanly, leaving nothing. */
USVA_TEST(fast, vfio_failnth_open)
{
	const struct fake_dev fd = {
		.addr = "0000:5f:00.0", .driver = "vfio-pci", .group = 13,
		.cdev = 4, .cdev_node = true, .cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	struct usva_vfio_dev *dev = NULL;
	struct usva_vfio_config cfg;
	struct fake f = { .root = "" };
	int ret = TEST_FAILED, rc;
	uint32_t n;

	TEST_ASSERT_OK(fake_init(&f));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &fd));
	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_CDEV);
	for (n = 1; n < 64; n++) {
		usva_failnth_set(n);
		rc = usva_vfio_dev_open(&cfg, &dev);
		if (!usva_failnth_fired())
			break;
		TEST_ASSERT_EQ_GOTO(rc, -ENOMEM, "fail point %u", n);
		TEST_ASSERT_GOTO(dev == NULL, out, "fail point %u: a device", n);
	}
	usva_failnth_set(0);
	TEST_ASSERT_OK_GOTO(rc);
	TEST_ASSERT_GOTO(n > 1, out, "no fail point was reached");
	ret = TEST_SUCCESS;
out:
	usva_failnth_set(0);
	usva_vfio_dev_close(dev);
	fake_fini(&f);
	return ret;
}

/* ---- the config struct and arguments ------------------------------------------------- */

/* A config one field larger than this version knows. */
struct big_config {
	struct usva_vfio_config c;
	uint64_t later;
};

USVA_TEST(fast, vfio_config_errors)
{
	const struct fake_dev fd = {
		.addr = "0000:3b:00.0", .driver = "vfio-pci", .group = 7,
		.cdev = 3, .group_node = true, .cfg_len = USVA_PCI_CFG_EXP_SIZE,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_container *cont = (void *)&info;	/* never used */
	struct usva_vfio_dev *dev = NULL;
	struct usva_vfio_config cfg;
	struct big_config big;
	struct fake f = { .root = "" };
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(fake_init(&f));
	TEST_ASSERT_OK_GOTO(fake_dev_add(&f, &fd));

	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(NULL, &info), EFAULT);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(NULL, &dev), EFAULT);
	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_LEGACY);
	cfg.size = offsetof(struct usva_vfio_config, pci_addr);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), EINVAL);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), EINVAL);
	/* A larger struct: zero past what we know is fine, else E2BIG. */
	memset(&big, 0, sizeof(big));
	fake_cfg(&f, &big.c, fd.addr, 0);
	big.c.size = sizeof(big);
	TEST_ASSERT_OK_GOTO(usva_vfio_probe(&big.c, &info));
	big.later = 1;
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&big.c, &info), E2BIG);
	/* Flags, reserved, modes. */
	fake_cfg(&f, &cfg, fd.addr, 1u << 7);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), EOPNOTSUPP);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), EOPNOTSUPP);
	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_LEGACY);
	cfg.reserved[3] = 1;
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), EINVAL);
	fake_cfg(&f, &cfg, fd.addr, 0);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), EINVAL);
	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_LEGACY | USVA_VFIO_F_CDEV);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), EINVAL);
	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_CDEV);
	cfg.container = cont;
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), EINVAL);
	fake_cfg(&f, &cfg, fd.addr, 0);
	cfg.container = cont;
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), EINVAL);
	fake_cfg(&f, &cfg, fd.addr, USVA_VFIO_F_CDEV);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, NULL), EINVAL);
	/* Addresses and devices. */
	fake_cfg(&f, &cfg, NULL, 0);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), EINVAL);
	fake_cfg(&f, &cfg, "3b:00.0/../..", 0);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), EINVAL);
	fake_cfg(&f, &cfg, "0000:3b:00.1", USVA_VFIO_F_LEGACY);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), ENODEV);
	TEST_ASSERT_ERR_GOTO(usva_vfio_dev_open(&cfg, &dev), ENODEV);
	/* The info struct. */
	fake_cfg(&f, &cfg, fd.addr, 0);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, NULL), EINVAL);
	info.size = offsetof(struct usva_vfio_dev_info, need);
	TEST_ASSERT_ERR_GOTO(usva_vfio_probe(&cfg, &info), EINVAL);
	TEST_ASSERT_GOTO(dev == NULL, out, "nothing opened");
	ret = TEST_SUCCESS;
out:
	usva_vfio_dev_close(dev);
	fake_fini(&f);
	return ret;
}

USVA_TEST(fast, vfio_null_args)
{
	struct usva_iova_range r;
	uint32_t nr = 1, v;
	void *p;
	int fds[1];

	TEST_ASSERT_ERR(usva_vfio_dev_bound(NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_dev_fd(NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_dev_info(NULL, NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_dev_reset(NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_config_read(NULL, 0, &v, 4), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_config_write(NULL, 0, &v, 4), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_bus_master(NULL, true), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_bar_map(NULL, 0, &p, NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_bar_unmap(NULL, 0), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_bar_read(NULL, 0, 0, &v, 4), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_bar_write(NULL, 0, 0, &v, 4), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_irq_enable(NULL, 0, 1, fds), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_msix_setup(NULL, 1, fds), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_irq_disable(NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_irq_unmask(NULL), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_dma_map(NULL, &v, 0, 4096), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_dma_unmap(NULL, 0, 4096), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_iova_ranges(NULL, &r, &nr), EINVAL);
	TEST_ASSERT_ERR(usva_vfio_container_create(NULL), EINVAL);
	TEST_ASSERT_OK(usva_vfio_container_destroy(NULL));
	usva_vfio_dev_close(NULL);
	TEST_ASSERT(strcmp(usva_vfio_need_str(0), "") == 0, "unknown bit");
	for (uint32_t b = USVA_VFIO_NEED_IOMMU; b <= USVA_VFIO_NEED_ATS; b <<= 1)
		TEST_ASSERT(usva_vfio_need_str(b)[0] != '\0', "need 0x%x", b);
	return TEST_SUCCESS;
}

/*
 * A legacy container on this machine: created and destroyed where VFIO
 * is there, -ENODEV with the reason where it is not.
 */
USVA_TEST(fast, vfio_container)
{
	struct usva_vfio_container *c = NULL;
	struct stat st;
	int rc;

	rc = usva_vfio_container_create(&c);
	if (stat("/dev/vfio/vfio", &st) != 0) {
		TEST_ASSERT_EQ(rc, -ENODEV, "without /dev/vfio/vfio");
		TEST_ASSERT(c == NULL, "no container handed out");
		return TEST_SUCCESS;
	}
	TEST_ASSERT_OK(rc);
	TEST_ASSERT_OK(usva_vfio_container_destroy(c));
	return TEST_SUCCESS;
}

/* ---- a real device, when one is named -------------------------------------------------- */

/* The first BAR that can be mmapped, or -1. */
static int
first_mmap_bar(const struct usva_vfio_dev_info *info)
{
	for (int i = 0; i < 6; i++)
		if (info->bars[i].flags & USVA_VFIO_BAR_MMAP)
			return i;
	return -1;
}

/* An IOVA inside the first range of at least 16 KiB, 4 KiB aligned. */
static uint64_t
pick_iova(const struct usva_iova_range *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t start = RTE_ALIGN_CEIL(RTE_MAX(r[i].start,
							(uint64_t)0x100000),
						(uint64_t)4096);

		if (start < r[i].last && r[i].last - start >= 0x4000)
			return start;
	}
	return UINT64_MAX;
}

static int
real_device_irqs(struct usva_vfio_dev *dev,
		 const struct usva_vfio_dev_info *info)
{
	uint32_t type = info->irqs[USVA_VFIO_IRQ_MSIX] ? USVA_VFIO_IRQ_MSIX :
			info->irqs[USVA_VFIO_IRQ_MSI] ? USVA_VFIO_IRQ_MSI :
			USVA_VFIO_IRQ_INTX;
	int fds[1] = { -1 }, more[1];

	if (info->irqs[type] == 0)
		return TEST_SUCCESS;
	TEST_ASSERT_OK(usva_vfio_irq_enable(dev, type, 1, fds));
	TEST_ASSERT(fds[0] >= 0, "eventfd");
	TEST_ASSERT_ERR(usva_vfio_irq_enable(dev, type, 1, more), EBUSY);
	TEST_ASSERT_OK(usva_vfio_irq_disable(dev));
	TEST_ASSERT_ERR(usva_vfio_irq_enable(dev, type, info->irqs[type] + 1,
					     more), ERANGE);
	return TEST_SUCCESS;
}

static int
real_device_dma(struct usva_vfio_dev *dev)
{
	struct usva_iova_range r[16];
	uint32_t nr = RTE_DIM(r);
	uint64_t iova;
	uint8_t *buf;
	int ret = TEST_FAILED;

	TEST_ASSERT_OK(usva_vfio_iova_ranges(dev, r, &nr));
	TEST_ASSERT(nr >= 1, "no IOVA range");
	iova = pick_iova(r, nr);
	TEST_ASSERT(iova != UINT64_MAX, "no room in the IOVA ranges");
	buf = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(buf != MAP_FAILED, "mmap");
	memset(buf, 0, 0x4000);
	TEST_ASSERT_OK_GOTO(usva_vfio_dma_map(dev, buf, iova, 0x2000));
	TEST_ASSERT_ERR_GOTO(usva_vfio_dma_map(dev, buf + 0x2000, iova + 0x1000,
					       0x2000), EEXIST);
	TEST_ASSERT_OK_GOTO(usva_vfio_dma_map(dev, buf + 0x2000, iova + 0x2000,
					      0x2000));
	TEST_ASSERT_ERR_GOTO(usva_vfio_dma_unmap(dev, iova, 0x1000), ENOENT);
	TEST_ASSERT_OK_GOTO(usva_vfio_dma_unmap(dev, iova, 0x2000));
	TEST_ASSERT_ERR_GOTO(usva_vfio_dma_map(dev, buf + 1, iova, 0x1000),
			     EINVAL);
	/* The second mapping is left for close to unmap. */
	ret = TEST_SUCCESS;
out:
	munmap(buf, 0x4000);
	return ret;
}

USVA_TEST(fast, vfio_real_device)
{
	const char *addr = getenv("USVA_TEST_VFIO_DEV");
	struct usva_vfio_config cfg = {
		.size = sizeof(cfg), .flags = USVA_VFIO_F_LEGACY, .pci_addr = addr,
	};
	struct usva_vfio_dev_info probe = { .size = sizeof(probe) };
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_dev *dev = NULL;
	uint16_t ven = 0, cmd = 0;
	uint64_t len = 0;
	uint32_t v;
	void *bar = NULL;
	int ret = TEST_FAILED, b;

	if (addr == NULL || addr[0] == '\0')
		TEST_SKIP("set USVA_TEST_VFIO_DEV=dddd:bb:dd.f to a device bound to vfio-pci to run it");
	TEST_ASSERT_OK(usva_vfio_probe(&cfg, &probe));
	TEST_ASSERT(probe.status & USVA_VFIO_ST_VFIO_DRIVER,
		    "%s is bound to '%s', not vfio-pci", addr, probe.driver);
	TEST_ASSERT_OK(usva_vfio_dev_open(&cfg, &dev));
	TEST_ASSERT_OK_GOTO(usva_vfio_dev_info(dev, &info));
	TEST_ASSERT_GOTO(info.status & USVA_VFIO_ST_ACCESS, out, "access");
	TEST_ASSERT_EQ_GOTO(info.caps.vendor_id, probe.caps.vendor_id,
			    "vendor: VFIO and sysfs agree");
	TEST_ASSERT_OK_GOTO(usva_vfio_config_read(dev, PCI_VENDOR_ID, &ven, 2));
	TEST_ASSERT_EQ_GOTO(ven, info.caps.vendor_id, "vendor register");
	TEST_ASSERT_ERR_GOTO(usva_vfio_config_read(dev, info.cfg_size - 2, &v,
						   4), EINVAL);
	TEST_ASSERT_OK_GOTO(usva_vfio_bus_master(dev, true));
	TEST_ASSERT_OK_GOTO(usva_vfio_config_read(dev, PCI_COMMAND, &cmd, 2));
	TEST_ASSERT_GOTO(cmd & PCI_COMMAND_MASTER, out, "master on: 0x%x", cmd);
	TEST_ASSERT_OK_GOTO(usva_vfio_bus_master(dev, false));
	TEST_ASSERT_OK_GOTO(usva_vfio_config_read(dev, PCI_COMMAND, &cmd, 2));
	TEST_ASSERT_GOTO(!(cmd & PCI_COMMAND_MASTER), out, "master off");
	b = first_mmap_bar(&info);
	if (b >= 0) {
		void *again = NULL;

		TEST_ASSERT_OK_GOTO(usva_vfio_bar_map(dev, (unsigned int)b,
						      &bar, &len));
		TEST_ASSERT_EQ_GOTO(len, info.bars[b].size, "BAR length");
		TEST_ASSERT_OK_GOTO(usva_vfio_bar_map(dev, (unsigned int)b,
						      &again, NULL));
		TEST_ASSERT_GOTO(again == bar, out, "one mapping per BAR");
		TEST_ASSERT_OK_GOTO(usva_vfio_bar_read(dev, (unsigned int)b, 0,
						       &v, 4));
		TEST_ASSERT_OK_GOTO(usva_vfio_bar_unmap(dev, (unsigned int)b));
	}
	TEST_ASSERT_GOTO(real_device_irqs(dev, &info) == TEST_SUCCESS, out,
			 "interrupts");
	TEST_ASSERT_GOTO(real_device_dma(dev) == TEST_SUCCESS, out, "DMA");
	ret = TEST_SUCCESS;
out:
	usva_vfio_dev_close(dev);
	return ret;
}
