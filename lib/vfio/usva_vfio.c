/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vfio: opening a PCI device through VFIO, its regions (configuration
 * space, BARs) and bus mastering. The legacy container path is in
 * usva_vfio_container.c, interrupts in usva_vfio_irq.c, the sysfs lookups
 * in usva_vfio_sysfs.c, the configuration-space parser in usva_vfio_caps.c.
 *
 * Opening is two-phase: the lookup and every check that can be made from
 * sysfs come first and change nothing; then, under uvfio_lock, the device
 * is opened (legacy: container, group, device through rte_vfio; cdev: the
 * node) and, once its regions are reachable, read. Each step that fails
 * undoes the ones before it, in reverse.
 *
 * Region ioctls, mmap and pread/pwrite on the device fd are made here
 * directly: DPDK reaches a device's regions only through its PCI bus
 * driver (rte_pci_map_device() and friends), which needs a PMD matching
 * the device and a bus scan, and usva runs the EAL with --no-pci when the
 * machine has no hugepages; an accelerator driven by usva has no PMD.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <rte_byteorder.h>
#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_struct.h"
#include "usva_vfio_internal.h"

RTE_LOG_REGISTER(usva_logtype_vfio, usva.vfio, INFO);

pthread_mutex_t uvfio_lock = PTHREAD_MUTEX_INITIALIZER;

#define MODES	(USVA_VFIO_F_LEGACY | USVA_VFIO_F_CDEV)

static int bus_master_locked(struct usva_vfio_dev *dev, bool enable);

static const char *
mode_name(uint32_t mode)
{
	return mode == USVA_VFIO_F_LEGACY ? "legacy" : "cdev";
}

int
uvfio_need_access(const struct usva_vfio_dev *dev, const char *what)
{
	if (dev->access)
		return 0;
	USVA_LOG(ERR, vfio,
		 "%s: %s: the cdev is not bound to an iommufd yet (VFIO_DEVICE_BIND_IOMMUFD, then usva_vfio_dev_bound())",
		 dev->info.pci_addr, what);
	return -EPERM;
}

/* ---- reading an accessible device ------------------------------------------ */

static int
get_region(int fd, uint32_t index, struct uvfio_region *r)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = index };

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri) != 0)
		return -uvfio_errno(errno);
	r->offset = ri.offset;
	r->size = ri.size;
	r->flags = ri.flags;
	return 0;
}

static void
load_regions(struct usva_vfio_dev *dev, uint32_t nr)
{
	for (uint32_t i = 0; i < RTE_MIN(nr, (uint32_t)VFIO_PCI_NUM_REGIONS);
	     i++) {
		struct uvfio_region *r = &dev->regions[i];

		/* Absent regions (a VGA region on most devices) fail: skip. */
		if (get_region(dev->fd, i, r) != 0)
			memset(r, 0, sizeof(*r));
		if (i >= VFIO_NR_BARS)
			continue;
		/* VFIO's view wins over sysfs': it is what can be reached. */
		dev->info.bars[i].size = r->size;
		if (r->size == 0)
			dev->info.bars[i].flags = 0;
		if (r->flags & VFIO_REGION_INFO_FLAG_MMAP)
			dev->info.bars[i].flags |= USVA_VFIO_BAR_MMAP;
	}
}

static void
load_irqs(struct usva_vfio_dev *dev, uint32_t nr)
{
	for (uint32_t i = 0; i < RTE_MIN(nr, (uint32_t)RTE_DIM(dev->info.irqs));
	     i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };

		if (ioctl(dev->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 &&
		    (ii.flags & VFIO_IRQ_INFO_EVENTFD))
			dev->info.irqs[i] = ii.count;
	}
}

/* Re-read the capabilities through VFIO's config region. */
static int
load_config(struct usva_vfio_dev *dev)
{
	const struct uvfio_region *r = &dev->regions[VFIO_PCI_CONFIG_REGION_INDEX];
	uint8_t cfg[USVA_PCI_CFG_EXP_SIZE];
	size_t want = (size_t)RTE_MIN(r->size, (uint64_t)sizeof(cfg));
	ssize_t got;
	int rc;

	if (want < USVA_PCI_CFG_SIZE) {
		USVA_LOG(ERR, vfio, "%s: VFIO config region of %" PRIu64 " bytes",
			 dev->info.pci_addr, r->size);
		return -EIO;
	}
	got = pread(dev->fd, cfg, want, (off_t)r->offset);
	if (got < (ssize_t)want) {
		rc = got < 0 ? -uvfio_errno(errno) : -EIO;
		USVA_LOG(ERR, vfio, "%s: reading the config space: %s",
			 dev->info.pci_addr, strerror(-rc));
		return rc;
	}
	rc = usva_vfio_parse_caps(cfg, want, &dev->info.caps);
	if (rc != 0 && rc != -EBADMSG)
		return rc;
	dev->info.cfg_size = (uint32_t)r->size;
	dev->info.cfg_read = (uint32_t)want;
	dev->info.status |= USVA_VFIO_ST_CFG;
	return 0;
}

int
uvfio_load_device(struct usva_vfio_dev *dev)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	int rc;

	if (ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &di) != 0) {
		rc = errno;
		/* An unbound cdev refuses every ioctl but the bind with EINVAL. */
		if (dev->mode == USVA_VFIO_F_CDEV && rc == EINVAL)
			return uvfio_need_access(dev, "VFIO_DEVICE_GET_INFO");
		USVA_LOG(ERR, vfio, "%s: VFIO_DEVICE_GET_INFO: %s",
			 dev->info.pci_addr, strerror(rc));
		return -uvfio_errno(rc);
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI)) {
		USVA_LOG(ERR, vfio, "%s: VFIO says it is not a PCI device",
			 dev->info.pci_addr);
		return -ENODEV;
	}
	dev->dev_flags = di.flags;
	load_regions(dev, di.num_regions);
	load_irqs(dev, di.num_irqs);
	rc = load_config(dev);
	if (rc)
		return rc;
	uvfio_compute_need(&dev->info);
	dev->info.status |= USVA_VFIO_ST_ACCESS;
	if (di.flags & VFIO_DEVICE_FLAGS_RESET)
		dev->info.status |= USVA_VFIO_ST_RESET;
	dev->access = true;
	return 0;
}

/* ---- open and close ------------------------------------------------------------- */

static int
open_cdev(struct usva_vfio_dev *dev)
{
	int fd, e;

	fd = open(dev->info.cdev_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		USVA_LOG(ERR, vfio, "%s: cannot open %s: %s%s", dev->info.pci_addr,
			 dev->info.cdev_path, strerror(e),
			 e == EBUSY ? " (open elsewhere, or through its group)" :
			 e == EACCES || e == EPERM ? " (not root?)" : "");
		if (e == ENOENT)
			return -ENODEV;
		return e == EPERM ? -EACCES : -uvfio_errno(e);
	}
	dev->fd = fd;
	dev->info.status |= USVA_VFIO_ST_OPEN;
	return 0;
}

static int
open_legacy(struct usva_vfio_dev *dev, struct usva_vfio_container *given)
{
	struct usva_vfio_container *c = given;
	int rc;

	if (!uvfio_eal_ready("usva_vfio_dev_open"))
		return -EOPNOTSUPP;
	if (c == NULL) {
		rc = uvfio_container_new(&c);
		if (rc)
			return rc;
		dev->own_container = true;
	}
	rc = uvfio_legacy_attach(dev, c);
	if (rc)
		goto err_container;
	dev->info.status |= USVA_VFIO_ST_OPEN;
	rc = uvfio_load_device(dev);
	if (rc)
		goto err_attach;
	return 0;

err_attach:
	uvfio_legacy_detach(dev);	/* frees an own container too */
	return rc;
err_container:
	if (dev->own_container)
		uvfio_container_free(c);
	dev->own_container = false;
	return rc;
}

static int
check_mode(const struct usva_vfio_config *cfg)
{
	uint32_t mode = cfg->flags & MODES;

	if (mode != USVA_VFIO_F_LEGACY && mode != USVA_VFIO_F_CDEV) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_config: flags 0x%x: name exactly one of USVA_VFIO_F_LEGACY and USVA_VFIO_F_CDEV",
			 cfg->flags);
		return -EINVAL;
	}
	if (mode == USVA_VFIO_F_CDEV && cfg->container != NULL) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_config: a container is for legacy mode only");
		return -EINVAL;
	}
	return 0;
}

int
usva_vfio_dev_open(const struct usva_vfio_config *ucfg,
		   struct usva_vfio_dev **out)
{
	struct usva_vfio_config cfg;
	struct uvfio_roots roots;
	struct usva_vfio_dev *dev;
	int rc;

	rc = USVA_CONFIG_LOAD(&cfg, ucfg, pci_addr, reserved, MODES);
	if (rc)
		return rc;
	if (out == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_dev_open: NULL out");
		return -EINVAL;
	}
	rc = check_mode(&cfg);
	if (rc)
		return rc;
	dev = usva_zmalloc(sizeof(*dev));
	if (dev == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_dev_open: out of memory");
		return -ENOMEM;
	}
	dev->fd = -1;
	dev->irq_type = VFIO_NO_IRQ;
	dev->mode = cfg.flags & MODES;
	uvfio_roots_get(&cfg, &roots);
	rc = uvfio_lookup(&roots, cfg.pci_addr, &dev->info);
	if (rc == 0)
		rc = uvfio_check_usable(&roots, &dev->info, dev->mode);
	if (rc)
		goto err_free;
	dev->info.mode = dev->mode;
	snprintf(dev->sysfs_devices, sizeof(dev->sysfs_devices),
		 "%s/bus/pci/devices", roots.sysfs);

	pthread_mutex_lock(&uvfio_lock);
	rc = dev->mode == USVA_VFIO_F_LEGACY ?
		open_legacy(dev, cfg.container) : open_cdev(dev);
	pthread_mutex_unlock(&uvfio_lock);
	if (rc)
		goto err_free;
	USVA_LOG(INFO, vfio, "%s (%04x:%04x, %s): open in %s mode, IOMMU group %d",
		 dev->info.pci_addr, dev->info.caps.vendor_id,
		 dev->info.caps.device_id, dev->info.driver,
		 mode_name(dev->mode), dev->info.group);
	*out = dev;
	return 0;

err_free:
	usva_free(dev);
	return rc;
}

int
usva_vfio_dev_bound(struct usva_vfio_dev *dev)
{
	int rc;

	if (dev == NULL || dev->mode != USVA_VFIO_F_CDEV) {
		USVA_LOG(ERR, vfio, "usva_vfio_dev_bound: %s",
			 dev == NULL ? "NULL device" : "not a cdev-mode device");
		return -EINVAL;
	}
	pthread_mutex_lock(&uvfio_lock);
	rc = dev->access ? 0 : uvfio_load_device(dev);
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

static void
unmap_bars(struct usva_vfio_dev *dev)
{
	for (unsigned int i = 0; i < VFIO_NR_BARS; i++) {
		struct uvfio_region *r = &dev->regions[i];

		if (r->map == NULL)
			continue;
		munmap(r->map, r->map_len);
		r->map = NULL;
		dev->info.bars[i].flags &= ~USVA_VFIO_BAR_MAPPED;
	}
}

void
usva_vfio_dev_close(struct usva_vfio_dev *dev)
{
	if (dev == NULL)
		return;
	pthread_mutex_lock(&uvfio_lock);
	/*
	 * Stop the device's DMA before its mappings go (VFIO would clear
	 * Bus Master Enable too, but only after the unmaps below).
	 */
	if (dev->access)
		(void)bus_master_locked(dev, false);
	uvfio_irq_release(dev);
	unmap_bars(dev);
	if (dev->mode == USVA_VFIO_F_LEGACY)
		uvfio_legacy_detach(dev);
	else if (dev->fd >= 0)
		close(dev->fd);
	pthread_mutex_unlock(&uvfio_lock);
	USVA_LOG(DEBUG, vfio, "%s: closed", dev->info.pci_addr);
	usva_free(dev);
}

int
usva_vfio_dev_fd(const struct usva_vfio_dev *dev)
{
	return dev == NULL ? -EINVAL : dev->fd;
}

int
usva_vfio_dev_info(const struct usva_vfio_dev *dev,
		   struct usva_vfio_dev_info *info)
{
	int rc;

	if (dev == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_dev_info: NULL device");
		return -EINVAL;
	}
	pthread_mutex_lock(&uvfio_lock);
	rc = uvfio_info_out(info, &dev->info, "usva_vfio_dev_info");
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

int
usva_vfio_dev_reset(struct usva_vfio_dev *dev)
{
	int rc;

	if (dev == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_dev_reset: NULL device");
		return -EINVAL;
	}
	rc = uvfio_need_access(dev, "reset");
	if (rc)
		return rc;
	if (!(dev->dev_flags & VFIO_DEVICE_FLAGS_RESET)) {
		USVA_LOG(ERR, vfio, "%s: VFIO has no reset method for it",
			 dev->info.pci_addr);
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&uvfio_lock);
	rc = ioctl(dev->fd, VFIO_DEVICE_RESET) == 0 ? 0 : -uvfio_errno(errno);
	pthread_mutex_unlock(&uvfio_lock);
	if (rc)
		USVA_LOG(ERR, vfio, "%s: VFIO_DEVICE_RESET: %s",
			 dev->info.pci_addr, strerror(-rc));
	return rc;
}

/* ---- configuration space -------------------------------------------------------- */

/* Check a region access; -errno with its log line, or 0. */
static int
region_check(const struct usva_vfio_dev *dev, const struct uvfio_region *r,
	     const char *what, uint64_t off, const void *buf, size_t len)
{
	int rc;

	rc = uvfio_need_access(dev, what);
	if (rc)
		return rc;
	if (buf == NULL || len == 0 || off > r->size || len > r->size - off) {
		USVA_LOG(ERR, vfio,
			 "%s: %s: %zu bytes at 0x%" PRIx64 " %s (region of 0x%" PRIx64 " bytes)",
			 dev->info.pci_addr, what, len, off,
			 buf == NULL ? "into NULL" : "out of range", r->size);
		return -EINVAL;
	}
	return 0;
}

static int
region_rw(const struct usva_vfio_dev *dev, const struct uvfio_region *r,
	  const char *what, uint64_t off, void *buf, size_t len, bool write)
{
	ssize_t n;
	int rc;

	rc = region_check(dev, r, what, off, buf, len);
	if (rc)
		return rc;
	n = write ? pwrite(dev->fd, buf, len, (off_t)(r->offset + off)) :
		    pread(dev->fd, buf, len, (off_t)(r->offset + off));
	if (n == (ssize_t)len)
		return 0;
	rc = n < 0 ? -uvfio_errno(errno) : -EIO;
	USVA_LOG(ERR, vfio, "%s: %s of %zu bytes at 0x%" PRIx64 ": %s",
		 dev->info.pci_addr, what, len, off,
		 n < 0 ? strerror(-rc) : "short");
	return rc;
}

static int
null_dev(const char *what)
{
	USVA_LOG(ERR, vfio, "%s: NULL device", what);
	return -EINVAL;
}

int
usva_vfio_config_read(struct usva_vfio_dev *dev, uint32_t off, void *buf,
		      size_t len)
{
	if (dev == NULL)
		return null_dev("usva_vfio_config_read");
	return region_rw(dev, &dev->regions[VFIO_PCI_CONFIG_REGION_INDEX],
			 "config read", off, buf, len, false);
}

int
usva_vfio_config_write(struct usva_vfio_dev *dev, uint32_t off,
		       const void *buf, size_t len)
{
	if (dev == NULL)
		return null_dev("usva_vfio_config_write");
	return region_rw(dev, &dev->regions[VFIO_PCI_CONFIG_REGION_INDEX],
			 "config write", off, (void *)(uintptr_t)buf, len, true);
}

/* Read-modify-write of the command register: under uvfio_lock. */
static int
bus_master_locked(struct usva_vfio_dev *dev, bool enable)
{
	uint16_t cmd;
	int rc;

	rc = usva_vfio_config_read(dev, PCI_COMMAND, &cmd, sizeof(cmd));
	if (rc)
		return rc;
	cmd = rte_le_to_cpu_16(cmd);
	cmd = enable ? cmd | PCI_COMMAND_MASTER :
		       cmd & (uint16_t)~PCI_COMMAND_MASTER;
	cmd = rte_cpu_to_le_16(cmd);
	return usva_vfio_config_write(dev, PCI_COMMAND, &cmd, sizeof(cmd));
}

int
usva_vfio_bus_master(struct usva_vfio_dev *dev, bool enable)
{
	int rc;

	if (dev == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_bus_master: NULL device");
		return -EINVAL;
	}
	pthread_mutex_lock(&uvfio_lock);
	rc = bus_master_locked(dev, enable);
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

/* ---- BARs --------------------------------------------------------------------------- */

static int
bar_check(const struct usva_vfio_dev *dev, unsigned int bar, const char *what)
{
	int rc;

	if (dev == NULL || bar >= VFIO_NR_BARS) {
		USVA_LOG(ERR, vfio, "%s: %s", what,
			 dev == NULL ? "NULL device" : "BAR index above 5");
		return -EINVAL;
	}
	rc = uvfio_need_access(dev, what);
	if (rc)
		return rc;
	if (dev->regions[bar].size == 0) {
		USVA_LOG(ERR, vfio, "%s: %s: BAR %u is not implemented",
			 dev->info.pci_addr, what, bar);
		return -ENOENT;
	}
	return 0;
}

int
usva_vfio_bar_read(struct usva_vfio_dev *dev, unsigned int bar, uint64_t off,
		   void *buf, size_t len)
{
	int rc = bar_check(dev, bar, "BAR read");

	return rc ? rc : region_rw(dev, &dev->regions[bar], "BAR read", off,
				   buf, len, false);
}

int
usva_vfio_bar_write(struct usva_vfio_dev *dev, unsigned int bar, uint64_t off,
		    const void *buf, size_t len)
{
	int rc = bar_check(dev, bar, "BAR write");

	return rc ? rc : region_rw(dev, &dev->regions[bar], "BAR write", off,
				   (void *)(uintptr_t)buf, len, true);
}

int
usva_vfio_bar_map(struct usva_vfio_dev *dev, unsigned int bar, void **addr,
		  uint64_t *len)
{
	struct uvfio_region *r;
	int rc;

	rc = bar_check(dev, bar, "usva_vfio_bar_map");
	if (rc)
		return rc;
	if (addr == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_bar_map: NULL addr");
		return -EINVAL;
	}
	r = &dev->regions[bar];
	if (!(r->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		USVA_LOG(ERR, vfio,
			 "%s: VFIO does not let BAR %u be mmapped (%s): use usva_vfio_bar_read/write()",
			 dev->info.pci_addr, bar,
			 dev->info.bars[bar].flags & USVA_VFIO_BAR_IO ?
			 "an I/O port BAR" : "a BAR smaller than a page?");
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&uvfio_lock);
	rc = r->map != NULL ? 0 : uvfio_bar_mmap(dev, bar);
	if (rc == 0) {
		dev->info.bars[bar].flags |= USVA_VFIO_BAR_MAPPED;
		*addr = r->map;
		if (len != NULL)
			*len = r->size;
	}
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

int
usva_vfio_bar_unmap(struct usva_vfio_dev *dev, unsigned int bar)
{
	struct uvfio_region *r;

	if (dev == NULL || bar >= VFIO_NR_BARS) {
		USVA_LOG(ERR, vfio, "usva_vfio_bar_unmap: %s",
			 dev == NULL ? "NULL device" : "BAR index above 5");
		return -EINVAL;
	}
	pthread_mutex_lock(&uvfio_lock);
	r = &dev->regions[bar];
	if (r->map != NULL) {
		munmap(r->map, r->map_len);
		r->map = NULL;
		dev->info.bars[bar].flags &= ~USVA_VFIO_BAR_MAPPED;
	}
	pthread_mutex_unlock(&uvfio_lock);
	return 0;
}
