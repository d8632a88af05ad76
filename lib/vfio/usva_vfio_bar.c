/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mmap of a BAR's VFIO region. Kernels before 4.16 do not let the part of
 * a BAR holding the MSI-X table be mapped, and say which parts may be with
 * a sparse-mmap capability in the region info; later kernels add an
 * MSIX_MAPPABLE capability instead and map the whole BAR. With a sparse
 * list and no MSIX_MAPPABLE, the BAR's span is reserved inaccessible and
 * each allowed part mapped over it at its offset, so BAR offsets keep
 * their meaning and a stray access to the table faults.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_vfio_internal.h"

/* Region info with its capability chain; usva_free() it. */
static int
region_info_caps(int fd, uint32_t index, struct vfio_region_info **out)
{
	size_t sz = sizeof(struct vfio_region_info);

	/* The kernel says how much room the chain needs; ask at most twice. */
	for (int tries = 0; tries < 2; tries++) {
		struct vfio_region_info *ri = usva_zmalloc(sz);
		int e;

		if (ri == NULL)
			return -ENOMEM;
		ri->argsz = (uint32_t)sz;
		ri->index = index;
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) != 0) {
			e = errno;
			usva_free(ri);
			return -uvfio_errno(e);
		}
		if (ri->argsz <= sz) {
			*out = ri;
			return 0;
		}
		sz = ri->argsz;
		usva_free(ri);
	}
	return -EIO;
}

/* A capability of @p ri by id, bounds-checked against its argsz. */
static const struct vfio_info_cap_header *
region_cap(const struct vfio_region_info *ri, uint16_t id)
{
	uint32_t off;

	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	off = ri->cap_offset;
	/* Each hop moves forward: a bad chain ends instead of looping. */
	while (off >= sizeof(*ri) &&
	       off + sizeof(struct vfio_info_cap_header) <= ri->argsz) {
		const struct vfio_info_cap_header *h =
			(const void *)((const uint8_t *)ri + off);

		if (h->id == id)
			return h;
		if (h->next <= off)
			break;
		off = h->next;
	}
	return NULL;
}

static int
map_sparse(struct usva_vfio_dev *dev, struct uvfio_region *r,
	   const struct vfio_region_info_cap_sparse_mmap *sp, uint32_t cap_room,
	   size_t len, void **out)
{
	uint8_t *base;

	if (sizeof(*sp) + (size_t)sp->nr_areas * sizeof(sp->areas[0]) >
	    cap_room)
		return -EIO;
	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -uvfio_errno(errno);
	for (uint32_t i = 0; i < sp->nr_areas; i++) {
		const struct vfio_region_sparse_mmap_area *a = &sp->areas[i];
		void *p;

		if (a->size == 0)
			continue;
		if (a->offset > len || a->size > len - a->offset ||
		    a->offset % VFIO_PAGE_SIZE) {
			munmap(base, len);
			return -EIO;
		}
		p = mmap(base + a->offset, a->size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, dev->fd,
			 (off_t)(r->offset + a->offset));
		if (p == MAP_FAILED) {
			int e = errno;

			munmap(base, len);
			return -uvfio_errno(e);
		}
	}
	*out = base;
	return 0;
}

int
uvfio_bar_mmap(struct usva_vfio_dev *dev, unsigned int bar)
{
	struct uvfio_region *r = &dev->regions[bar];
	size_t len = RTE_ALIGN_CEIL(r->size, (uint64_t)VFIO_PAGE_SIZE);
	const struct vfio_info_cap_header *sparse = NULL;
	struct vfio_region_info *ri = NULL;
	void *p = NULL;
	int rc;

	rc = region_info_caps(dev->fd, bar, &ri);
	if (rc == 0 &&
	    region_cap(ri, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) == NULL)
		sparse = region_cap(ri, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	if (rc == 0 && sparse != NULL) {
		rc = map_sparse(dev, r, (const void *)sparse,
				ri->argsz - (uint32_t)((const uint8_t *)sparse -
						       (const uint8_t *)ri),
				len, &p);
	} else if (rc == 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 dev->fd, (off_t)r->offset);
		if (p == MAP_FAILED)
			rc = -uvfio_errno(errno);
	}
	usva_free(ri);
	if (rc) {
		USVA_LOG(ERR, vfio, "%s: mmap of BAR %u (%zu bytes%s): %s",
			 dev->info.pci_addr, bar, len,
			 sparse ? ", sparse" : "", strerror(-rc));
		return rc;
	}
	r->map = p;
	r->map_len = len;
	return 0;
}
