/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-vm-guest: the guest half of the vm suite (usva-vm-test.sh boots it
 * under qemu with an intel-iommu and QEMU's edu device bound to vfio-pci).
 *
 *   usva-vm-guest [EAL options] -- [usva options] [--device dddd:bb:dd.f]
 *
 * Without --device, the first edu (1234:11e8) in /sys/bus/pci/devices.
 *
 * Through lib/vfio, in legacy (type1) mode: probe and open edu, check what
 * VFIO reports (config space, BAR 0, MSI), map BAR 0, check edu's
 * identification and liveness registers, enable bus mastering, map a
 * two-page buffer for DMA at an IOVA below edu's 28-bit DMA mask, and use
 * edu's DMA engine (edu.rst: source 0x80, destination 0x88, count 0x90,
 * command 0x98; its 4 KiB buffer at device address 0x40000):
 *
 *   1. RAM (page 0, a pattern) -> edu's buffer -> RAM (page 1), in two
 *      halves: every byte of page 1 must equal page 0;
 *   2. a window at odd offsets, edu -> RAM: exactly those bytes change;
 *   3. the IOMMU: a third page is mapped, a DMA into it must land (the
 *      control), it is unmapped, refilled, and the same DMA to its old IOVA
 *      must leave it unchanged. The guest kernel's DMAR fault line, if it
 *      logs one, is printed.
 *
 * No transfer reaches the last byte of edu's buffer: QEMU 7.2's edu (the
 * one in Debian 12) takes a transfer that ends exactly at the end of its
 * buffer for out of bounds (an off-by-one in edu_check_range()) and stops
 * the whole VM with a hardware error. Transfers are at most EDU_XFER_MAX
 * bytes, and what edu's buffer holds is tracked in a shadow copy.
 *
 * Prints what it saw, one "usva-vm-guest: " line a step, then exactly one
 * of "usva-vm-guest: PASS ..." (exit 0) or "usva-vm-guest: FAIL ..." (exit
 * 1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>

#include "usva.h"
#include "usva_iommu.h"
#include "usva_vfio.h"

#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8

/* edu's BAR 0 registers. */
#define EDU_REG_IDENT	0x00	/* 0xRRrr00ed: major, minor, 0xed */
#define EDU_REG_LIVE	0x04	/* reads back the inverse of what was written */
#define EDU_REG_DMA_SRC	0x80
#define EDU_REG_DMA_DST	0x88
#define EDU_REG_DMA_CNT	0x90
#define EDU_REG_DMA_CMD	0x98
#define EDU_DMA_RUN	0x1
#define EDU_DMA_TO_RAM	0x2	/* direction: 0 RAM -> edu, 1 edu -> RAM */
#define EDU_BUF		0x40000	/* device address of edu's buffer */
#define EDU_BUF_SIZE	4096u
#define EDU_XFER_MAX	2048u	/* see the comment at the top */
#define EDU_DMA_MASK	((1ull << 28) - 1)

#define PAGE		4096u
/* The copy buffer (page 0 source, page 1 destination) and the page of the
 * IOMMU check, at IOVAs well below 2^28 and apart. */
#define IOVA_BUF	0x00100000ull
#define IOVA_VICTIM	0x00200000ull
#define DMA_TIMEOUT_MS	10000

static const char *step = "start";
static char failure[512];

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	printf("usva-vm-guest: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Record the failure (the first one wins); the caller unwinds. */
static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (failure[0] != '\0')
		return;
	n = snprintf(failure, sizeof(failure), "%s: ", step);
	va_start(ap, fmt);
	vsnprintf(failure + n, sizeof(failure) - n, fmt, ap);
	va_end(ap);
}

#define CHECK(cond, ...)				\
	do {						\
		if (!(cond)) {				\
			fail(__VA_ARGS__);		\
			goto out;			\
		}					\
	} while (0)

#define CHECK_RC(expr, what)						\
	do {								\
		int rc__ = (expr);					\
		CHECK(rc__ >= 0, "%s returned %d (%s)", (what), rc__,	\
		      strerror(-rc__));					\
	} while (0)

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- edu's registers ---------------------------------------------------- */

static volatile uint8_t *bar0;

static uint32_t
rd32(uint32_t off)
{
	return *(volatile uint32_t *)(bar0 + off);
}

static void
wr32(uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(bar0 + off) = v;
}

static uint64_t
rd64(uint32_t off)
{
	return *(volatile uint64_t *)(bar0 + off);
}

static void
wr64(uint32_t off, uint64_t v)
{
	*(volatile uint64_t *)(bar0 + off) = v;
}

/* One DMA: program the engine, start it, poll the command register until
 * edu clears RUN. edu runs it from a timer 100 ms (virtual) after the
 * command. */
static int
edu_dma(uint64_t src, uint64_t dst, uint64_t cnt, bool to_ram,
	uint64_t *took_ms)
{
	uint64_t t0 = now_ms(), cmd;

	wr64(EDU_REG_DMA_SRC, src);
	wr64(EDU_REG_DMA_DST, dst);
	wr64(EDU_REG_DMA_CNT, cnt);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr64(EDU_REG_DMA_CMD, EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
	for (;;) {
		cmd = rd64(EDU_REG_DMA_CMD);
		if (!(cmd & EDU_DMA_RUN))
			break;
		if (now_ms() - t0 > DMA_TIMEOUT_MS) {
			fail("DMA %#" PRIx64 " -> %#" PRIx64 " (%" PRIu64
			     " bytes) still running after %u ms (command %#"
			     PRIx64 ")", src, dst, cnt, DMA_TIMEOUT_MS, cmd);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (took_ms != NULL)
		*took_ms = now_ms() - t0;
	return 0;
}

/* What edu's buffer holds: every RAM -> edu transfer updates it. */
static uint8_t edu_shadow[EDU_BUF_SIZE];

/* RAM (IOVA @iova, whose bytes are at @ram) -> edu's buffer at @off. */
static int
edu_load(uint64_t iova, const uint8_t *ram, uint32_t off, uint32_t len,
	 uint64_t *took_ms)
{
	int ret = edu_dma(iova, EDU_BUF + off, len, false, took_ms);

	if (ret == 0)
		memcpy(edu_shadow + off, ram, len);
	return ret;
}

/* ---- helpers ---------------------------------------------------------------- */

/* A byte pattern that differs per seed and position. */
static void
fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 7);
	}
}

/* Compare; on a difference say where, and how many bytes differ. */
static bool
same_bytes(const uint8_t *got, const uint8_t *want, size_t len,
	   const char *what)
{
	size_t first = len, n = 0;

	for (size_t i = 0; i < len; i++) {
		if (got[i] != want[i]) {
			if (first == len)
				first = i;
			n++;
		}
	}
	if (n == 0)
		return true;
	fail("%s: %zu of %zu bytes differ, the first at offset %zu (%#04x, expected %#04x)",
	     what, n, len, first, got[first], want[first]);
	return false;
}

/* The first edu in sysfs, or NULL. */
static const char *
find_edu(char *out, size_t len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	const char *found = NULL;

	if (d == NULL)
		return NULL;
	while (found == NULL && (e = readdir(d)) != NULL) {
		char path[300 + sizeof(e->d_name)];
		unsigned int v = 0, dv = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%x", &v) != 1)
			v = 0;
		fclose(f);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%x", &dv) != 1)
			dv = 0;
		fclose(f);
		if (v == EDU_VENDOR && dv == EDU_DEVICE) {
			snprintf(out, len, "%.*s", (int)len - 1, e->d_name);
			found = out;
		}
	}
	closedir(d);
	return found;
}

/* The kernel log from here on: /dev/kmsg at its end. -1 if unavailable. */
static int
kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Print the kernel's DMAR lines logged since kmsg_open_at_end(), waiting up
 * to @wait_ms for the first one (faults are reported from an interrupt).
 * @return the number printed. */
static unsigned int
kmsg_dmar_lines(int fd, unsigned int wait_ms)
{
	uint64_t t0 = now_ms();
	unsigned int n = 0;
	char rec[1024];

	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t r = read(fd, rec, sizeof(rec) - 1);

		if (r > 0) {
			char *msg;

			rec[r] = '\0';
			msg = strchr(rec, ';');
			msg = msg != NULL ? msg + 1 : rec;
			msg[strcspn(msg, "\n")] = '\0';
			if (strstr(msg, "DMAR") != NULL ||
			    strstr(msg, "fault") != NULL) {
				say("  kernel: %s", msg);
				n++;
			}
			continue;
		}
		if (r < 0 && errno == EPIPE)	/* overwritten: go on */
			continue;
		if (n > 0 || now_ms() - t0 >= wait_ms)
			break;
		usleep(20000);
	}
	return n;
}

/* ---- main ------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct usva_vfio_config cfg = {
		.size = sizeof(cfg), .flags = USVA_VFIO_F_LEGACY,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };
	struct usva_vfio_dev *dev = NULL;
	struct usva_iova_range ranges[16];
	uint32_t nr_ranges = RTE_DIM(ranges), ident, live;
	char addr[64] = "";
	uint8_t *buf = MAP_FAILED, *victim = MAP_FAILED;
	uint8_t *want = NULL;
	uint64_t bar_len = 0, ms, ms_total = 0;
	bool eal = false, buf_mapped = false, victim_mapped = false;
	bool master = false;
	unsigned int faults = 0, dmas = 0;
	int kmsg = -1, ret, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	step = "usva_init";
	ret = usva_init(argc, argv);
	CHECK(ret >= 0, "usva_init returned %d (%s)", ret, strerror(-ret));
	eal = true;
	argc -= ret;
	argv += ret;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
			snprintf(addr, sizeof(addr), "%s", argv[++i]);
		} else {
			step = "options";
			fail("unknown option '%s' (usage: usva-vm-guest [EAL options] -- [--device dddd:bb:dd.f])",
			     argv[i]);
			goto out;
		}
	}
	step = "find edu";
	if (addr[0] == '\0')
		CHECK(find_edu(addr, sizeof(addr)) != NULL,
		      "no edu device (%04x:%04x) in /sys/bus/pci/devices",
		      EDU_VENDOR, EDU_DEVICE);
	cfg.pci_addr = addr;

	/* What sysfs says, before opening. */
	step = "usva_vfio_probe";
	CHECK_RC(usva_vfio_probe(&cfg, &info), "usva_vfio_probe");
	say("probe %s: driver '%s', IOMMU group %d, IOMMU '%s', status %#x, need %#x",
	    info.pci_addr, info.driver, info.group, info.iommu, info.status,
	    info.need);
	CHECK(info.status & USVA_VFIO_ST_VFIO_DRIVER,
	      "%s is bound to '%s', not vfio-pci", info.pci_addr, info.driver);
	CHECK((info.status & USVA_VFIO_ST_GROUP) &&
	      !(info.status & USVA_VFIO_ST_NOIOMMU),
	      "%s is not in an IOMMU group (status %#x)", info.pci_addr,
	      info.status);
	CHECK(info.status & USVA_VFIO_ST_GROUP_NODE, "no group node %s",
	      info.group_path);

	step = "usva_vfio_dev_open (legacy)";
	CHECK_RC(usva_vfio_dev_open(&cfg, &dev), "usva_vfio_dev_open");
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	CHECK_RC(usva_vfio_dev_info(dev, &info), "usva_vfio_dev_info");
	say("opened %s in legacy mode: group %s, config %u of %u bytes, %04x:%04x class %06x",
	    info.pci_addr, info.group_path, info.cfg_read, info.cfg_size,
	    info.caps.vendor_id, info.caps.device_id, info.caps.class_code);
	say("  BAR0 %" PRIu64 " KiB flags %#x; MSI %s (%u vectors), MSI-X %s; IRQs INTx %u MSI %u MSI-X %u",
	    info.bars[0].size >> 10, info.bars[0].flags,
	    info.caps.flags & USVA_PCI_CAP_MSI ? "yes" : "no",
	    info.caps.msi_vectors,
	    info.caps.flags & USVA_PCI_CAP_MSIX ? "yes" : "no",
	    info.irqs[USVA_VFIO_IRQ_INTX], info.irqs[USVA_VFIO_IRQ_MSI],
	    info.irqs[USVA_VFIO_IRQ_MSIX]);
	CHECK(info.mode == USVA_VFIO_F_LEGACY, "open in mode %#x", info.mode);
	CHECK(info.status & USVA_VFIO_ST_ACCESS, "regions not usable (status %#x)",
	      info.status);
	CHECK(info.caps.vendor_id == EDU_VENDOR &&
	      info.caps.device_id == EDU_DEVICE,
	      "config space says %04x:%04x", info.caps.vendor_id,
	      info.caps.device_id);
	CHECK(info.caps.flags & USVA_PCI_CAP_MSI, "no MSI capability (edu has one)");
	CHECK(info.bars[0].size == (1u << 20) &&
	      (info.bars[0].flags & USVA_VFIO_BAR_MEM),
	      "BAR0: %" PRIu64 " bytes, flags %#x (edu: a 1 MiB memory BAR)",
	      info.bars[0].size, info.bars[0].flags);

	step = "usva_vfio_iova_ranges";
	CHECK_RC(usva_vfio_iova_ranges(dev, ranges, &nr_ranges),
		 "usva_vfio_iova_ranges");
	{
		char line[512];
		int n = 0;
		bool ok_buf = false, ok_victim = false;

		for (uint32_t r = 0; r < nr_ranges; r++) {
			if (n < (int)sizeof(line) - 48)
				n += snprintf(line + n, sizeof(line) - n,
					      " [%#" PRIx64 ", %#" PRIx64 "]",
					      ranges[r].start, ranges[r].last);
			ok_buf |= ranges[r].start <= IOVA_BUF &&
				  IOVA_BUF + 2 * PAGE - 1 <= ranges[r].last;
			ok_victim |= ranges[r].start <= IOVA_VICTIM &&
				     IOVA_VICTIM + PAGE - 1 <= ranges[r].last;
		}
		say("IOVA ranges:%s", line);
		CHECK(ok_buf && ok_victim,
		      "IOVAs %#llx and %#llx are not in the container's ranges",
		      IOVA_BUF, IOVA_VICTIM);
	}

	step = "BAR0";
	CHECK_RC(usva_vfio_bar_map(dev, 0, (void **)&bar0, &bar_len),
		 "usva_vfio_bar_map(0)");
	ident = rd32(EDU_REG_IDENT);
	say("BAR0 mapped (%" PRIu64 " KiB): ident %#010x (edu %u.%u)",
	    bar_len >> 10, ident, ident >> 24, (ident >> 16) & 0xff);
	CHECK((ident & 0xff) == 0xed, "ident %#010x: low byte is not 0xed",
	      ident);
	for (i = 0; i < 3; i++) {
		uint32_t v = 0x5a5a0000u + (uint32_t)i * 0x1111u;

		wr32(EDU_REG_LIVE, v);
		live = rd32(EDU_REG_LIVE);
		CHECK(live == ~v, "liveness: wrote %#x, read %#x (want %#x)",
		      v, live, ~v);
	}
	say("liveness register inverts: ok");

	step = "bus master";
	CHECK_RC(usva_vfio_bus_master(dev, true), "usva_vfio_bus_master");
	master = true;
	{
		uint16_t cmd = 0;

		CHECK_RC(usva_vfio_config_read(dev, 0x04, &cmd, sizeof(cmd)),
			 "usva_vfio_config_read(command)");
		CHECK(cmd & 0x4, "command register %#06x: Bus Master Enable is clear",
		      cmd);
		say("bus mastering on (command %#06x)", cmd);
	}

	/* The buffers: two pages for the copies, one for the IOMMU check. */
	step = "DMA map";
	buf = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED, "mmap: %s", strerror(errno));
	victim = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(victim != MAP_FAILED, "mmap: %s", strerror(errno));
	want = malloc(EDU_BUF_SIZE);
	CHECK(want != NULL, "out of memory");
	memset(buf, 0, 2 * PAGE);
	memset(victim, 0, PAGE);
	CHECK_RC(usva_vfio_dma_map(dev, buf, IOVA_BUF, 2 * PAGE),
		 "usva_vfio_dma_map(buffer)");
	buf_mapped = true;
	CHECK_RC(usva_vfio_dma_map(dev, victim, IOVA_VICTIM, PAGE),
		 "usva_vfio_dma_map(victim page)");
	victim_mapped = true;
	say("mapped %u bytes at IOVA %#llx and %u at %#llx (edu's DMA mask %#llx)",
	    2 * PAGE, IOVA_BUF, PAGE, IOVA_VICTIM, EDU_DMA_MASK);

	/* 1. RAM -> edu -> RAM, a whole page in two halves (through edu's
	 * buffer at offsets 0 and 0x400). */
	step = "DMA RAM -> edu -> RAM";
	fill_pattern(buf, PAGE, 1);
	memset(buf + PAGE, 0x00, PAGE);
	for (i = 0; i < 2; i++) {
		const uint32_t half = PAGE / 2, off = i * half;
		const uint32_t edu_off = i * 0x400u;

		CHECK(edu_load(IOVA_BUF + off, buf + off, edu_off, half,
			       &ms) == 0, "DMA timed out");
		ms_total += ms;
		dmas++;
		CHECK(edu_dma(EDU_BUF + edu_off, IOVA_BUF + PAGE + off, half,
			      true, &ms) == 0, "DMA timed out");
		ms_total += ms;
		dmas++;
	}
	CHECK(same_bytes(buf + PAGE, buf, PAGE, "page 1 after the round trip"),
	      "%s", "");
	say("RAM -> edu -> RAM: %u bytes in %u DMAs, every byte checked (%" PRIu64 " ms)",
	    PAGE, dmas, ms_total);

	/* 2. A window at odd offsets: exactly those bytes change. */
	step = "DMA window";
	{
		const uint32_t src_off = 0x123, dst_off = 0x456, len = 1000;

		memset(buf + PAGE, 0xc3, PAGE);
		memset(want, 0xc3, PAGE);
		memcpy(want + dst_off, edu_shadow + src_off, len);
		CHECK(edu_dma(EDU_BUF + src_off, IOVA_BUF + PAGE + dst_off, len,
			      true, &ms) == 0, "DMA timed out");
		dmas++;
		CHECK(same_bytes(buf + PAGE, want, PAGE, "page 1 after the window"),
		      "%s", "");
		say("window edu+%#x -> IOVA %#llx (%u bytes): those bytes and no others changed",
		    src_off, IOVA_BUF + PAGE + dst_off, len);
	}

	/* 3. The IOMMU: the control, then the same DMA after unmapping. */
	step = "IOMMU check";
	memset(want, 0, PAGE);
	memcpy(want, edu_shadow, EDU_XFER_MAX);
	CHECK(edu_dma(EDU_BUF, IOVA_VICTIM, EDU_XFER_MAX, true, NULL) == 0,
	      "DMA timed out");
	dmas++;
	CHECK(same_bytes(victim, want, PAGE, "the mapped victim page (control)"),
	      "%s", "");
	say("control: DMA to the mapped page at IOVA %#llx landed", IOVA_VICTIM);
	CHECK_RC(usva_vfio_dma_unmap(dev, IOVA_VICTIM, PAGE),
		 "usva_vfio_dma_unmap(victim page)");
	victim_mapped = false;
	memset(victim, 0xa5, PAGE);
	memset(want, 0xa5, PAGE);
	kmsg = kmsg_open_at_end();
	CHECK(edu_dma(EDU_BUF, IOVA_VICTIM, EDU_XFER_MAX, true, NULL) == 0,
	      "DMA timed out");
	dmas++;
	CHECK(same_bytes(victim, want, PAGE,
			 "the page after its IOVA was unmapped: the IOMMU let a DMA through"),
	      "%s", "");
	say("unmapped IOVA %#llx: the DMA was refused, the page is unchanged",
	    IOVA_VICTIM);
	faults = kmsg_dmar_lines(kmsg, 1000);
	say("%s", faults ? "the guest kernel logged the DMAR fault above" :
	    "no DMAR fault line in the kernel log (not required)");

out:
	if (master)
		usva_vfio_bus_master(dev, false);
	if (victim_mapped)
		usva_vfio_dma_unmap(dev, IOVA_VICTIM, PAGE);
	if (buf_mapped)
		usva_vfio_dma_unmap(dev, IOVA_BUF, 2 * PAGE);
	usva_vfio_dev_close(dev);
	if (kmsg >= 0)
		close(kmsg);
	if (buf != MAP_FAILED)
		munmap(buf, 2 * PAGE);
	if (victim != MAP_FAILED)
		munmap(victim, PAGE);
	free(want);
	if (eal && failure[0] == '\0') {
		step = "usva_cleanup";
		ret = usva_cleanup();
		if (ret < 0)
			fail("usva_cleanup returned %d (%s)", ret, strerror(-ret));
	}
	if (failure[0] != '\0') {
		printf("usva-vm-guest: FAIL %s\n", failure);
		return 1;
	}
	printf("usva-vm-guest: PASS edu %s, legacy VFIO type1: %u DMAs, every byte checked; unmapped IOVA refused%s\n",
	       addr, dmas, faults ? " (DMAR fault logged)" : "");
	return 0;
}
