/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internal to lib/vfio: the device and container objects and the helpers
 * the files share. Not installed.
 *
 * Locking: uvfio_lock (usva_vfio.c) serialises every control call: DPDK's
 * rte_vfio tables (containers, groups, device counts) are not thread-safe
 * outside their DMA-map list, so every rte_vfio call is made under it too.
 * Config and BAR reads and writes are pread/pwrite on the device fd and
 * take no lock; they read only fields fixed once the device is accessible
 * (dev->access is set under the lock before the open call returns, or by
 * usva_vfio_dev_bound()).
 */
#ifndef USVA_VFIO_INTERNAL_H
#define USVA_VFIO_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#include "usva_log.h"
#include "usva_vfio.h"

/** Log type usva.vfio (registered in usva_vfio.c). */
extern int usva_logtype_vfio;

#define VFIO_NR_BARS		6u
#define VFIO_PAGE_SIZE		4096u
#define VFIO_NO_IRQ		UINT32_MAX

/* One VFIO region of a device (BARs, ROM, config, VGA). */
struct uvfio_region {
	uint64_t offset;	/* in the device fd */
	uint64_t size;
	uint32_t flags;		/* VFIO_REGION_INFO_FLAG_* */
	void *map;		/* usva_vfio_bar_map(), or NULL */
	size_t map_len;		/* page-rounded length of map */
};

/* One stage-2 DMA mapping of a legacy container. */
struct uvfio_dma {
	uint64_t vaddr;
	uint64_t iova;
	uint64_t len;
};

struct usva_vfio_container {
	int fd;			/* rte_vfio_container_create() */
	uint32_t nr_devs;	/* devices set up in it */
	bool noiommu;		/* its groups are no-IOMMU groups */
	uint32_t nr_dma;
	uint32_t cap_dma;
	struct uvfio_dma *dma;	/* sorted by iova */
};

struct usva_vfio_dev {
	uint32_t mode;		/* USVA_VFIO_F_LEGACY or _CDEV */
	int fd;			/* device fd, -1 until open */
	bool access;		/* region ioctls work (legacy, or cdev bound) */
	struct usva_vfio_container *container;	/* legacy */
	bool own_container;	/* created for this device */
	char sysfs_devices[PATH_MAX];	/* <sysfs>/bus/pci/devices, for rte_vfio */
	uint32_t dev_flags;	/* VFIO_DEVICE_FLAGS_* */
	struct uvfio_region regions[VFIO_PCI_NUM_REGIONS];
	uint32_t irq_type;	/* enabled USVA_VFIO_IRQ_*, or VFIO_NO_IRQ */
	uint32_t nr_irq_fds;
	int *irq_fds;
	struct usva_vfio_dev_info info;
};

/* The root paths a config names, with their defaults applied. */
struct uvfio_roots {
	const char *sysfs;
	const char *dev;
};

extern pthread_mutex_t uvfio_lock;

/* usva_vfio_sysfs.c */
void uvfio_roots_get(const struct usva_vfio_config *cfg,
		    struct uvfio_roots *roots);
int uvfio_lookup(const struct uvfio_roots *roots, const char *addr,
		struct usva_vfio_dev_info *info);
int uvfio_check_usable(const struct uvfio_roots *roots,
		      const struct usva_vfio_dev_info *info, uint32_t mode);
int uvfio_info_out(struct usva_vfio_dev_info *dst,
		  const struct usva_vfio_dev_info *src, const char *what);
bool uvfio_driver_is_vfio(const char *driver);
void uvfio_compute_need(struct usva_vfio_dev_info *info);

/* usva_vfio.c */
int uvfio_need_access(const struct usva_vfio_dev *dev, const char *what);
int uvfio_load_device(struct usva_vfio_dev *dev);

/* usva_vfio_bar.c */
int uvfio_bar_mmap(struct usva_vfio_dev *dev, unsigned int bar);

/* usva_vfio_container.c */
int uvfio_container_new(struct usva_vfio_container **out);
void uvfio_container_free(struct usva_vfio_container *c);
int uvfio_legacy_attach(struct usva_vfio_dev *dev,
		       struct usva_vfio_container *c);
void uvfio_legacy_detach(struct usva_vfio_dev *dev);
bool uvfio_eal_ready(const char *what);

/* usva_vfio_irq.c */
void uvfio_irq_release(struct usva_vfio_dev *dev);

/* An errno from a failed call, never 0. */
static inline int
uvfio_errno(int e)
{
	return e > 0 ? e : EIO;
}

#endif /* USVA_VFIO_INTERNAL_H */
