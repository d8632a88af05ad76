/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Legacy mode: VFIO containers with the type1 IOMMU, through DPDK's public
 * rte_vfio API (DPDK 22.11): rte_vfio_container_create(),
 * rte_vfio_container_group_bind(), rte_vfio_setup_device() (which adds the
 * group to the container and selects the IOMMU type on the container's
 * first group), rte_vfio_container_dma_map/unmap(),
 * rte_vfio_release_device() and rte_vfio_container_destroy().
 *
 * What works in usva's EAL configuration, and why the rest is raw ioctls:
 *  - rte_vfio's tables are set up by rte_eal_init() (rte_vfio_enable(),
 *    which runs whatever the PCI options are, --no-pci included, and
 *    whether or not the vfio module is loaded): containers made with
 *    rte_vfio_container_create() work under --no-pci and --no-huge. Before
 *    rte_eal_init() the tables read as "every slot taken", hence
 *    uvfio_eal_ready().
 *  - A container of our own, not the EAL's default one: DPDK maps all EAL
 *    memory into the default container and follows memory hotplug there;
 *    ours only holds what usva_vfio_dma_map() puts in it.
 *  - DPDK 22.11's type1 map treats the kernel's EEXIST as success, and
 *    returns -1 with the kernel's errno left in errno (rte_errno only for
 *    its own reasons): overlaps are refused here first, from our own list
 *    of the container's mappings, and errors are taken from rte_errno,
 *    then errno.
 *  - rte_vfio_container_destroy() does not empty DPDK's list of the
 *    container's mappings, and a later container in the same slot would
 *    get them replayed; and once a container's last group is gone the
 *    kernel drops its IOMMU, so they could not be unmapped any more. So the
 *    mappings are unmapped, through DPDK, while the last device still
 *    holds the container up.
 *  - The IOVA ranges (VFIO_IOMMU_GET_INFO) have no rte_vfio call: raw.
 *  - Secondary processes: DPDK 22.11 asks the primary for group fds even
 *    for custom containers; only primary processes are supported.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_vfio.h>

#include "usva_alloc.h"
#include "usva_iommu.h"
#include "usva_vfio_internal.h"

/* The legacy container node (DPDK opens this path itself). */
#define CONTAINER_NODE	"/dev/vfio/vfio"

bool
uvfio_eal_ready(const char *what)
{
	/* No public "EAL is up" call in 22.11: lcore_count is 0 before it. */
	if (rte_lcore_count() == 0) {
		USVA_LOG(ERR, vfio,
			 "%s: legacy VFIO goes through DPDK's rte_vfio, which needs the EAL: call usva_init() first",
			 what);
		return false;
	}
	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		USVA_LOG(ERR, vfio,
			 "%s: legacy VFIO works in a primary process only (DPDK 22.11 routes a secondary's group opens through the primary)",
			 what);
		return false;
	}
	return true;
}

/* ---- containers ----------------------------------------------------------------- */

int
uvfio_container_new(struct usva_vfio_container **out)
{
	struct usva_vfio_container *c;
	struct stat st;
	int fd, e;

	/* Said here, because DPDK's own line does not say what to do. */
	if (stat(CONTAINER_NODE, &st) != 0) {
		USVA_LOG(ERR, vfio,
			 "no %s: load vfio-pci (modprobe vfio-pci); a kernel without CONFIG_VFIO_CONTAINER has cdev mode only",
			 CONTAINER_NODE);
		return -ENODEV;
	}
	c = usva_zmalloc(sizeof(*c));
	if (c == NULL) {
		USVA_LOG(ERR, vfio, "container: out of memory");
		return -ENOMEM;
	}
	errno = 0;
	fd = rte_vfio_container_create();
	if (fd < 0) {
		e = errno;
		USVA_LOG(ERR, vfio,
			 "rte_vfio_container_create failed%s%s (the EAL's line above says why: no room, %s not openable, or no supported IOMMU type)",
			 e ? ": " : "", e ? strerror(e) : "", CONTAINER_NODE);
		usva_free(c);
		return e == EACCES || e == EPERM ? -EACCES : -ENODEV;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

void
uvfio_container_free(struct usva_vfio_container *c)
{
	if (rte_vfio_container_destroy(c->fd) < 0)
		USVA_LOG(WARNING, vfio, "rte_vfio_container_destroy(%d) failed",
			 c->fd);
	usva_free(c->dma);
	usva_free(c);
}

int
usva_vfio_container_create(struct usva_vfio_container **out)
{
	int rc;

	if (out == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_container_create: NULL out");
		return -EINVAL;
	}
	if (!uvfio_eal_ready("usva_vfio_container_create"))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&uvfio_lock);
	rc = uvfio_container_new(out);
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

int
usva_vfio_container_destroy(struct usva_vfio_container *c)
{
	int rc = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&uvfio_lock);
	if (c->nr_devs > 0) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_container_destroy: %u devices still in it",
			 c->nr_devs);
		rc = -EBUSY;
	} else {
		uvfio_container_free(c);
	}
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

/* ---- devices in containers ---------------------------------------------------------- */

int
uvfio_legacy_attach(struct usva_vfio_dev *dev, struct usva_vfio_container *c)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	const char *a = dev->info.pci_addr;
	int gfd, fd = -1, rc, e;

	errno = 0;
	gfd = rte_vfio_container_group_bind(c->fd, dev->info.group);
	if (gfd < 0) {
		e = errno;
		USVA_LOG(ERR, vfio,
			 "%s: cannot open IOMMU group %d%s%s (open in another container or process?)",
			 a, dev->info.group, e ? ": " : "", e ? strerror(e) : "");
		if (gfd == -ENOENT)
			return -ENODEV;
		return e == EBUSY ? -EBUSY : e == EACCES ? -EACCES : -EIO;
	}
	rc = rte_vfio_setup_device(dev->sysfs_devices, a, &fd, &di);
	if (rc != 0) {
		/*
		 * On every failure after opening the group, setup_device closes
		 * the group fd and forgets it itself; only when it returns 1
		 * ("not VFIO's") is the group still bound, and unbinding is
		 * safe only if no other device of the container may share it.
		 */
		if (rc > 0 && c->nr_devs == 0)
			rte_vfio_container_group_unbind(c->fd, dev->info.group);
		USVA_LOG(ERR, vfio,
			 "%s: rte_vfio_setup_device failed (the EAL's line above says why; often: IOMMU group %d is not viable — every device in it must be bound to vfio-pci or to nothing —, or the device is open elsewhere)",
			 a, dev->info.group);
		return rc > 0 ? -ENODEV : -EIO;
	}
	dev->fd = fd;
	dev->container = c;
	c->nr_devs++;
	c->noiommu = (dev->info.status & USVA_VFIO_ST_NOIOMMU) != 0;
	return 0;
}

static void
dma_unmap_all(struct usva_vfio_container *c)
{
	for (uint32_t i = 0; i < c->nr_dma; i++) {
		const struct uvfio_dma *m = &c->dma[i];

		if (rte_vfio_container_dma_unmap(c->fd, m->vaddr, m->iova,
						 m->len) < 0)
			USVA_LOG(WARNING, vfio,
				 "unmapping IOVA 0x%" PRIx64 "+0x%" PRIx64 " failed",
				 m->iova, m->len);
	}
	c->nr_dma = 0;
}

void
uvfio_legacy_detach(struct usva_vfio_dev *dev)
{
	struct usva_vfio_container *c = dev->container;

	if (c == NULL)
		return;
	if (c->nr_devs == 1)
		dma_unmap_all(c);
	if (rte_vfio_release_device(dev->sysfs_devices, dev->info.pci_addr,
				    dev->fd) < 0) {
		USVA_LOG(WARNING, vfio, "%s: rte_vfio_release_device failed",
			 dev->info.pci_addr);
		/*
		 * It fails before closing the fd when the device has left
		 * sysfs (no group to find): close it ourselves then.
		 */
		if (fcntl(dev->fd, F_GETFD) >= 0)
			close(dev->fd);
	}
	dev->fd = -1;
	dev->container = NULL;
	c->nr_devs--;
	if (dev->own_container)
		uvfio_container_free(c);
	dev->own_container = false;
}

/* ---- stage-2 DMA ------------------------------------------------------------------- */

static int
legacy_check(const struct usva_vfio_dev *dev, const char *what)
{
	if (dev == NULL || dev->mode != USVA_VFIO_F_LEGACY) {
		USVA_LOG(ERR, vfio, "%s: %s", what,
			 dev == NULL ? "NULL device" :
			 "a cdev-mode device: map through its iommufd IOAS");
		return -EINVAL;
	}
	return 0;
}

static int
dma_args(uint64_t va, uint64_t iova, uint64_t len)
{
	const uint64_t mask = VFIO_PAGE_SIZE - 1;

	if (len == 0 || (va | iova | len) & mask) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_dma_map: va 0x%" PRIx64 " iova 0x%" PRIx64 " len 0x%" PRIx64 ": empty or not 4 KiB aligned",
			 va, iova, len);
		return -EINVAL;
	}
	if (va + len < va || iova + len < iova) {
		USVA_LOG(ERR, vfio,
			 "usva_vfio_dma_map: va 0x%" PRIx64 " or iova 0x%" PRIx64 " + 0x%" PRIx64 " wraps",
			 va, iova, len);
		return -EOVERFLOW;
	}
	return 0;
}

/* Index of the first mapping whose end is above @p iova. */
static uint32_t
dma_find(const struct usva_vfio_container *c, uint64_t iova)
{
	uint32_t lo = 0, hi = c->nr_dma;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct uvfio_dma *m = &c->dma[mid];

		if (m->iova + m->len <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
dma_room(struct usva_vfio_container *c)
{
	uint32_t cap = c->cap_dma ? c->cap_dma * 2 : 16;
	struct uvfio_dma *d;

	if (c->nr_dma < c->cap_dma)
		return 0;
	d = usva_zmalloc(cap * sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	if (c->nr_dma)
		memcpy(d, c->dma, c->nr_dma * sizeof(*d));
	usva_free(c->dma);
	c->dma = d;
	c->cap_dma = cap;
	return 0;
}

static int
dma_map_locked(struct usva_vfio_dev *dev, uint64_t va, uint64_t iova,
	       uint64_t len)
{
	struct usva_vfio_container *c = dev->container;
	uint32_t at;
	int e;

	if (c->noiommu) {
		USVA_LOG(ERR, vfio,
			 "%s: no-IOMMU group: nothing translates DMA, the device uses physical addresses",
			 dev->info.pci_addr);
		return -EOPNOTSUPP;
	}
	at = dma_find(c, iova);
	if (at < c->nr_dma && c->dma[at].iova < iova + len) {
		USVA_LOG(ERR, vfio,
			 "%s: IOVA 0x%" PRIx64 "+0x%" PRIx64 " overlaps the mapping at 0x%" PRIx64 "+0x%" PRIx64,
			 dev->info.pci_addr, iova, len, c->dma[at].iova,
			 c->dma[at].len);
		return -EEXIST;
	}
	if (dma_room(c) != 0) {
		USVA_LOG(ERR, vfio, "usva_vfio_dma_map: out of memory");
		return -ENOMEM;
	}
	rte_errno = 0;
	errno = 0;
	if (rte_vfio_container_dma_map(c->fd, va, iova, len) < 0) {
		e = uvfio_errno(rte_errno ? rte_errno : errno);
		USVA_LOG(ERR, vfio,
			 "%s: DMA map of va 0x%" PRIx64 " at IOVA 0x%" PRIx64 "+0x%" PRIx64 ": %s%s",
			 dev->info.pci_addr, va, iova, len, strerror(e),
			 e == ENOMEM ? " (locked-memory limit? raise ulimit -l, or run with CAP_IPC_LOCK)" :
			 e == EINVAL ? " (IOVA outside the IOMMU's ranges? see usva_vfio_iova_ranges())" :
			 e == EFAULT ? " (nothing mapped at va)" : "");
		return -e;
	}
	memmove(&c->dma[at + 1], &c->dma[at], (c->nr_dma - at) * sizeof(*c->dma));
	c->dma[at] = (struct uvfio_dma){ .vaddr = va, .iova = iova, .len = len };
	c->nr_dma++;
	return 0;
}

int
usva_vfio_dma_map(struct usva_vfio_dev *dev, void *vaddr, uint64_t iova,
		  uint64_t len)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr;
	int rc;

	rc = legacy_check(dev, "usva_vfio_dma_map");
	if (rc == 0)
		rc = dma_args(va, iova, len);
	if (rc)
		return rc;
	pthread_mutex_lock(&uvfio_lock);
	rc = dma_map_locked(dev, va, iova, len);
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

int
usva_vfio_dma_unmap(struct usva_vfio_dev *dev, uint64_t iova, uint64_t len)
{
	struct usva_vfio_container *c;
	struct uvfio_dma m;
	uint32_t at;
	int rc;

	rc = legacy_check(dev, "usva_vfio_dma_unmap");
	if (rc)
		return rc;
	pthread_mutex_lock(&uvfio_lock);
	c = dev->container;
	at = dma_find(c, iova);
	if (at >= c->nr_dma || c->dma[at].iova != iova || c->dma[at].len != len) {
		USVA_LOG(ERR, vfio,
			 "%s: no DMA mapping at IOVA 0x%" PRIx64 "+0x%" PRIx64 " (unmap whole mappings only)",
			 dev->info.pci_addr, iova, len);
		rc = -ENOENT;
		goto out;
	}
	m = c->dma[at];
	rte_errno = 0;
	if (rte_vfio_container_dma_unmap(c->fd, m.vaddr, m.iova, m.len) < 0) {
		USVA_LOG(ERR, vfio, "%s: DMA unmap of IOVA 0x%" PRIx64 ": %s",
			 dev->info.pci_addr, iova,
			 rte_errno ? strerror(rte_errno) : "failed");
		rc = -EIO;
		goto out;
	}
	memmove(&c->dma[at], &c->dma[at + 1],
		(c->nr_dma - at - 1) * sizeof(*c->dma));
	c->nr_dma--;
out:
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

/* ---- IOVA ranges ------------------------------------------------------------------- */

static int
iommu_info(int fd, struct vfio_iommu_type1_info **out)
{
	size_t sz = sizeof(struct vfio_iommu_type1_info);

	for (int tries = 0; tries < 2; tries++) {
		struct vfio_iommu_type1_info *ii = usva_zmalloc(sz);
		int e;

		if (ii == NULL)
			return -ENOMEM;
		ii->argsz = (uint32_t)sz;
		if (ioctl(fd, VFIO_IOMMU_GET_INFO, ii) != 0) {
			e = errno;
			usva_free(ii);
			return -uvfio_errno(e);
		}
		if (ii->argsz <= sz) {
			*out = ii;
			return 0;
		}
		sz = ii->argsz;
		usva_free(ii);
	}
	return -EIO;
}

static const struct vfio_iommu_type1_info_cap_iova_range *
iova_cap(const struct vfio_iommu_type1_info *ii)
{
	uint32_t off;

	if (!(ii->flags & VFIO_IOMMU_INFO_CAPS))
		return NULL;
	off = ii->cap_offset;
	while (off >= sizeof(*ii) &&
	       off + sizeof(struct vfio_iommu_type1_info_cap_iova_range) <=
	       ii->argsz) {
		const struct vfio_info_cap_header *h =
			(const void *)((const uint8_t *)ii + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			const struct vfio_iommu_type1_info_cap_iova_range *r =
				(const void *)h;

			if (off + sizeof(*r) + (size_t)r->nr_iovas *
			    sizeof(r->iova_ranges[0]) > ii->argsz)
				return NULL;
			return r;
		}
		if (h->next <= off)
			break;
		off = h->next;
	}
	return NULL;
}

int
usva_vfio_iova_ranges(struct usva_vfio_dev *dev,
		      struct usva_iova_range *ranges, uint32_t *nr)
{
	const struct vfio_iommu_type1_info_cap_iova_range *cap;
	struct vfio_iommu_type1_info *ii = NULL;
	uint32_t n;
	int rc;

	rc = legacy_check(dev, "usva_vfio_iova_ranges");
	if (rc == 0 && (nr == NULL || (ranges == NULL && *nr > 0))) {
		USVA_LOG(ERR, vfio, "usva_vfio_iova_ranges: NULL output");
		rc = -EINVAL;
	}
	if (rc)
		return rc;
	pthread_mutex_lock(&uvfio_lock);
	rc = iommu_info(dev->container->fd, &ii);
	pthread_mutex_unlock(&uvfio_lock);
	if (rc) {
		USVA_LOG(ERR, vfio, "%s: VFIO_IOMMU_GET_INFO: %s",
			 dev->info.pci_addr, strerror(-rc));
		return rc;
	}
	cap = iova_cap(ii);
	n = cap ? cap->nr_iovas : 1;
	if (n > *nr) {
		rc = -EMSGSIZE;
	} else if (cap == NULL) {
		/* A kernel before 5.4 does not say: the whole space. */
		ranges[0] = (struct usva_iova_range){ 0, UINT64_MAX };
	} else {
		for (uint32_t i = 0; i < n; i++)
			ranges[i] = (struct usva_iova_range){
				cap->iova_ranges[i].start,
				cap->iova_ranges[i].end };
	}
	*nr = n;
	usva_free(ii);
	return rc;
}
