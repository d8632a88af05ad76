/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: devices, nested domains and per-PASID attachment.
 *
 * A device is its VFIO cdev, bound to the instance's iommufd
 * (VFIO_DEVICE_BIND_IOMMUFD), its RID attached to the NEST_PARENT HWPT
 * (or to the IOAS without nesting): requests without a PASID see stage 2
 * only, as RID_PASID does. Closing the cdev unbinds it and detaches all.
 *
 * A domain's nested HWPT (IOMMU_HWPT_DATA_VTD_S1 carrying the stage-1
 * root) is made at the first attach that needs it, because
 * IOMMU_HWPT_ALLOC names a bound device: one for devices that take page
 * requests (reporting into the instance's fault queue), one for devices
 * that do not (a HWPT with a fault queue cannot attach to a device
 * without PRI). Both are made under iommu->lock, which lib/iommu holds
 * around attach and replace.
 *
 * Attach and replace are one call: VFIO_DEVICE_ATTACH_IOMMUFD_PT with
 * VFIO_DEVICE_ATTACH_PASID on a PASID that has a domain replaces it
 * atomically. On replace and detach the kernel answers the PASID's
 * pending page requests INVALID itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "usva_as.h"
#include "iommufd_internal.h"

/* ---- bind ---------------------------------------------------------------- */

static int
cdev_open(const char *addr, const char *cdev)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", IOMMUFD_VFIO_CDEV_DIR, cdev);
	fd = iommufd_sys.open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	fd = -errno;
	IOMMUFD_LOG(ERR, "PCI device %s: open %s: %s%s", addr, path,
		    strerror(-fd), fd == -EACCES || fd == -EPERM ?
		    " (needs root or access to the VFIO device node)" : "");
	return fd == -ENOENT ? -ENODEV : fd;
}

int
iommufd_bind(struct iommufd *f, const char *addr, int *cdev_fd,
	     uint32_t *dev_id)
{
	struct usva_vfio_device_bind_iommufd b = {
		.argsz = sizeof(b),
		.iommufd = f->fd,
	};
	char cdev[IOMMUFD_CDEV_NAME_LEN];
	int fd, rc;

	rc = iommufd_sysfs_cdev(iommufd_sys.sysfs, addr, cdev, sizeof(cdev));
	if (rc)
		return rc;
	fd = cdev_open(addr, cdev);
	if (fd < 0)
		return fd;
	rc = iommufd_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &b);
	if (rc == 0) {
		*cdev_fd = fd;
		*dev_id = b.out_devid;
		return 0;
	}
	if (rc == -ENOTTY) {
		IOMMUFD_LOG(ERR, "PCI device %s: no VFIO_DEVICE_BIND_IOMMUFD "
			    "(VFIO device cdevs need Linux 6.6+)", addr);
		rc = -EOPNOTSUPP;
	} else if (rc == -EINVAL || rc == -EBUSY) {
		/* Our arguments are well formed: the device is open through
		 * a VFIO group or bound by another cdev open already. */
		IOMMUFD_LOG(ERR, "PCI device %s: in use (opened through a VFIO "
			    "group/container, or bound already)", addr);
		rc = -EBUSY;
	} else {
		IOMMUFD_LOG(ERR, "PCI device %s: VFIO_DEVICE_BIND_IOMMUFD: %s",
			    addr, strerror(-rc));
	}
	iommufd_sys.close(fd);
	return rc;
}

int
iommufd_hw_info_get(struct iommufd *f, uint32_t dev_id, const char *addr,
		    struct iommufd_hw_info *hw)
{
	union {
		struct usva_iommu_hw_info_vtd vtd;
		struct usva_iommu_hw_info_arm_smmuv3 smmu;
	} data;
	struct usva_iommu_hw_info q = {
		.size = sizeof(q),
		.dev_id = dev_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	int rc;

	memset(&data, 0, sizeof(data));
	memset(hw, 0, sizeof(*hw));
	rc = iommufd_ioctl(f->fd, IOMMU_GET_HW_INFO, &q);
	if (rc) {
		IOMMUFD_LOG(ERR, "PCI device %s: IOMMU_GET_HW_INFO: %s%s", addr,
			    strerror(-rc), rc == -ENOTTY ?
			    " (needs Linux 6.6+)" : "");
		return rc == -ENOTTY ? -EOPNOTSUPP : rc;
	}
	hw->type = q.out_data_type;
	hw->max_pasid_log2 = q.out_max_pasid_log2;
	hw->capabilities = q.out_capabilities;
	if (hw->type == USVA_IOMMU_HW_INFO_TYPE_INTEL_VTD) {
		hw->vtd_flags = data.vtd.flags;
		hw->cap = data.vtd.cap_reg;
		hw->ecap = data.vtd.ecap_reg;
	} else if (hw->type == USVA_IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
		memcpy(hw->idr, data.smmu.idr, sizeof(hw->idr));
	}
	return 0;
}

int
iommufd_pt_attach(int cdev_fd, uint32_t pt_id, bool pasid_valid,
		  uint32_t pasid)
{
	struct usva_vfio_device_attach_iommufd_pt a = {
		.argsz = sizeof(a),
		.flags = pasid_valid ? USVA_VFIO_DEVICE_ATTACH_PASID : 0,
		.pt_id = pt_id,
		.pasid = pasid_valid ? pasid : 0,
	};

	return iommufd_ioctl(cdev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);
}

int
iommufd_pt_detach(int cdev_fd, bool pasid_valid, uint32_t pasid)
{
	struct usva_vfio_device_detach_iommufd_pt d = {
		.argsz = sizeof(d),
		.flags = pasid_valid ? USVA_VFIO_DEVICE_DETACH_PASID : 0,
		.pasid = pasid_valid ? pasid : 0,
	};

	return iommufd_ioctl(cdev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
}

/* ---- devices ------------------------------------------------------------- */

/* The device must sit behind the IOMMU the instance was probed with. */
static int
dev_same_iommu(const struct iommufd *f, const struct iommufd_hw_info *hw,
	       const char *addr)
{
	const struct iommufd_hw_info *p = &f->hw;

	if (hw->type == p->type && hw->cap == p->cap && hw->ecap == p->ecap &&
	    memcmp(hw->idr, p->idr, sizeof(hw->idr)) == 0)
		return 0;
	IOMMUFD_LOG(ERR, "PCI device %s is behind another kind of IOMMU than "
		    "the instance's (probed with %s): open one instance per "
		    "IOMMU", addr, f->probe);
	return -EOPNOTSUPP;
}

/* The device's PCIe capabilities; without a readable config space (not
 * root), none: PRI and ATS are then off, PASID comes from the kernel. */
static void
dev_pci_caps(const char *addr, struct iommufd_pci_caps *pc)
{
	uint8_t cfg[IOMMUFD_PCI_CFG_SIZE];
	int n;

	n = iommufd_sysfs_config(iommufd_sys.sysfs, addr, cfg, sizeof(cfg));
	if (n <= 0x100)
		IOMMUFD_LOG(NOTICE, "PCI device %s: extended config space not "
			    "readable (%s): PRI and ATS unknown, treated as "
			    "absent (reading it needs CAP_SYS_ADMIN)", addr,
			    n < 0 ? strerror(-n) : "short read");
	iommufd_pci_caps_parse(cfg, n > 0 ? (size_t)n : 0, pc);
}

/* PASID width of the device: what the kernel enabled, bounded by the
 * IOMMU's and the caller's limit; 0 when per-PASID attach cannot work. */
static uint32_t
dev_pasid_width(const struct iommufd *f, const struct iommufd_hw_info *hw,
		const struct iommufd_pci_caps *pc, uint32_t limit,
		const char *addr)
{
	uint32_t w = hw->max_pasid_log2;
	char what[64];

	if (w == 0 || !f->pasid_attach) {
		snprintf(what, sizeof(what), "per-PASID attach on %s", addr);
		if (w > 0)
			iommufd_note_missing(what, f->no_pasid_why);
		else if (pc->pasid_width > 0)
			iommufd_note_missing(what, "the device has PCIe PASID "
				"but the kernel reports none (IOMMU_GET_HW_INFO "
				"out_max_pasid_log2 and VFIO_DEVICE_ATTACH_PASID "
				"need Linux 6.15+)");
		return 0;
	}
	w = RTE_MIN(w, f->hc.pasid_width);
	if (pc->pasid_width > 0)
		w = RTE_MIN(w, pc->pasid_width);
	if (limit > 0)
		w = RTE_MIN(w, limit);
	return w;
}

static void
dev_fill_info(struct iommufd *f, struct iommufd_dev *d,
	      const struct usva_dev_config *cfg,
	      const struct iommufd_hw_info *hw, const char *addr)
{
	const struct usva_iommu_caps *ic = &f->iommu->caps;
	struct usva_dev_info *info = &d->dev->info;
	struct iommufd_pci_caps pc;

	dev_pci_caps(addr, &pc);
	info->flags = 0;
	if (pc.pri && (ic->flags & USVA_IOMMU_CAP_PRI))
		info->flags |= USVA_DEV_F_PRI;
	if (pc.ats && (ic->flags & USVA_IOMMU_CAP_ATS))
		info->flags |= USVA_DEV_F_ATS;
	info->pasid_width = dev_pasid_width(f, hw, &pc, cfg->pasid_width, addr);
	if (info->pasid_width > 0) {
		if (hw->capabilities & USVA_IOMMU_HW_CAP_PCI_PASID_EXEC)
			info->flags |= USVA_DEV_F_PASID_EXEC;
		if (hw->capabilities & USVA_IOMMU_HW_CAP_PCI_PASID_PRIV)
			info->flags |= USVA_DEV_F_PASID_PRIV;
	}
	info->pri_capacity = (info->flags & USVA_DEV_F_PRI) ?
			     pc.pri_capacity : 0;
	d->pasid_ok = info->pasid_width > 0;
	/* Page requests only for those who asked to service them. */
	d->iopf = (cfg->flags & USVA_DEV_F_PRI) &&
		  (info->flags & USVA_DEV_F_PRI);
	if (cfg->pri_capacity != 0)
		IOMMUFD_LOG(DEBUG, "PCI device %s: pri_capacity %u ignored: "
			    "the device's PRI capability says %u", addr,
			    cfg->pri_capacity, info->pri_capacity);
}

int
iommufd_dev_open(struct usva_iommu_dev *dev, const struct usva_dev_config *cfg)
{
	struct iommufd *f = iommufd_of(dev->iommu);
	struct iommufd_dev *d = dev->priv;
	char addr[IOMMUFD_PCI_ADDR_LEN];
	struct iommufd_hw_info hw;
	int rc;

	memset(d, 0, sizeof(*d));
	d->dev = dev;
	d->cdev_fd = -1;
	if (iommufd_pci_addr_norm(cfg->name, addr) != 0) {
		IOMMUFD_LOG(ERR, "device name '%s' is not a PCI address "
			    "(dddd:bb:dd.f)", cfg->name);
		return -EINVAL;
	}
	rc = iommufd_bind(f, addr, &d->cdev_fd, &d->dev_id);
	if (rc)
		return rc;
	rc = iommufd_hw_info_get(f, d->dev_id, addr, &hw);
	if (rc)
		goto err_unbind;
	rc = dev_same_iommu(f, &hw, addr);
	if (rc)
		goto err_unbind;
	dev_fill_info(f, d, cfg, &hw, addr);
	rc = iommufd_pt_attach(d->cdev_fd, f->rid_pt, false, 0);
	if (rc) {
		IOMMUFD_LOG(ERR, "PCI device %s: attaching its RID to the %s: "
			    "%s%s", addr, f->parent_id ? "nesting parent" :
			    "IOAS", strerror(-rc), rc == -EADDRINUSE ?
			    " (its reserved IOVA overlaps the instance's "
			    "apertures)" : "");
		goto err_unbind;
	}
	rc = iommufd_devmap_add(f, d->dev_id, dev->info.id);
	if (rc)
		goto err_detach;
	snprintf(dev->info.name, sizeof(dev->info.name), "%s", addr);
	IOMMUFD_LOG(DEBUG, "device %s: dev_id %u, PASID %u bits,%s%s", addr,
		    d->dev_id, dev->info.pasid_width,
		    dev->info.flags & USVA_DEV_F_PRI ? " PRI" : "",
		    dev->info.flags & USVA_DEV_F_ATS ? " ATS" : "");
	return 0;

err_detach:
	iommufd_pt_detach(d->cdev_fd, false, 0);
err_unbind:
	iommufd_sys.close(d->cdev_fd);
	d->cdev_fd = -1;
	return rc;
}

void
iommufd_dev_close(struct usva_iommu_dev *dev)
{
	struct iommufd *f = iommufd_of(dev->iommu);
	struct iommufd_dev *d = dev->priv;
	int rc;

	iommufd_devmap_del(f, d->dev_id);
	rc = iommufd_pt_detach(d->cdev_fd, false, 0);
	if (rc)
		IOMMUFD_LOG(WARNING, "device %s: detaching its RID: %s",
			    dev->info.name, strerror(-rc));
	/* Closing the cdev unbinds it from the iommufd. */
	iommufd_sys.close(d->cdev_fd);
	d->cdev_fd = -1;
}

/* ---- domains ------------------------------------------------------------- */

int
iommufd_domain_init(struct usva_domain *dom)
{
	struct iommufd_domain *fd = dom->priv;

	memset(fd, 0, sizeof(*fd));
	/* lib/iommu checked format and width against the caps; VT-d's first
	 * stage is 4-level (48 bits) or 5-level (57). */
	if (dom->format != USVA_PGFMT_X86_FS ||
	    (dom->va_bits != 48 && dom->va_bits != 57)) {
		IOMMUFD_LOG(ERR, "domain %u: VT-d nests x86 first-stage tables "
			    "of 48 or 57 bits, not format %u with %u bits",
			    dom->id, dom->format, dom->va_bits);
		return -EOPNOTSUPP;
	}
	return 0;
}

void
iommufd_domain_fini(struct usva_domain *dom)
{
	struct iommufd *f = iommufd_of(dom->iommu);
	struct iommufd_domain *fd = dom->priv;

	for (unsigned int k = 0; k < IOMMUFD_HWPT_NR; k++) {
		if (fd->hwpt[k] != 0)
			iommufd_destroy_obj(f, fd->hwpt[k], "nested HWPT");
		fd->hwpt[k] = 0;
	}
}

/* IOMMU_HWPT_ALLOC of a nested VT-d stage 1 of @p dom for device @p d. */
static int
hwpt_alloc(struct iommufd *f, const struct usva_domain *dom,
	   const struct iommufd_dev *d, bool iopf, uint32_t *id)
{
	struct usva_iommu_hwpt_vtd_s1 s1 = {
		.flags = USVA_IOMMU_VTD_S1_WPE,
		.pgtbl_addr = dom->s1_root,
		.addr_width = dom->va_bits,
	};
	struct usva_iommu_hwpt_alloc a = {
		.size = sizeof(a),
		.flags = f->parent_flags & USVA_IOMMU_HWPT_ALLOC_PASID,
		.dev_id = d->dev_id,
		.pt_id = f->parent_id,
		.data_type = USVA_IOMMU_HWPT_DATA_VTD_S1,
		.data_len = sizeof(s1),
		.data_uptr = (uintptr_t)&s1,
	};
	int rc;

	/* Privileged requests walk supervisor pages where the IOMMU can. */
	if (f->hc.supervisor)
		s1.flags |= USVA_IOMMU_VTD_S1_SRE;
	if (iopf) {
		a.flags |= USVA_IOMMU_HWPT_FAULT_ID_VALID;
		a.fault_id = f->fault_id;
	}
	rc = iommufd_ioctl(f->fd, IOMMU_HWPT_ALLOC, &a);
	if (rc) {
		IOMMUFD_LOG(ERR, "domain %u: nested HWPT (VT-d stage 1, root "
			    "0x%" PRIx64 ", %u bits%s): %s", dom->id,
			    dom->s1_root, dom->va_bits,
			    iopf ? ", fault queue" : "", strerror(-rc));
		return rc;
	}
	*id = a.out_hwpt_id;
	return 0;
}

/* The nested HWPT of @p dom that device @p d attaches to; made now if it
 * is the first. iommu->lock held (lib/iommu's attach and replace). */
static int
domain_hwpt(struct iommufd *f, struct usva_domain *dom,
	    const struct iommufd_dev *d, uint32_t *id)
{
	struct iommufd_domain *fd = dom->priv;
	enum iommufd_hwpt_kind k = d->iopf ? IOMMUFD_HWPT_IOPF :
				   IOMMUFD_HWPT_PLAIN;
	uint32_t nid;
	int rc;

	if (fd->hwpt[k] != 0) {
		*id = fd->hwpt[k];
		return 0;
	}
	rc = hwpt_alloc(f, dom, d, k == IOMMUFD_HWPT_IOPF, &nid);
	if (rc)
		return rc;
	/* Release: invalidate() reads it without iommu->lock. */
	__atomic_store_n(&fd->hwpt[k], nid, __ATOMIC_RELEASE);
	*id = nid;
	return 0;
}

int
iommufd_attach(struct usva_iommu_dev *dev, uint32_t pasid,
	       struct usva_domain *dom, struct usva_domain *old)
{
	struct iommufd *f = iommufd_of(dev->iommu);
	struct iommufd_dev *d = dev->priv;
	uint32_t hwpt;
	int rc;

	if (!d->pasid_ok) {	/* lib/iommu checks the width: unreachable */
		IOMMUFD_LOG(ERR, "device %s: no per-PASID attach", dev->info.name);
		return -EOPNOTSUPP;
	}
	rc = domain_hwpt(f, dom, d, &hwpt);
	if (rc)
		return rc;
	/* On a PASID with a domain the same call replaces it atomically. */
	rc = iommufd_pt_attach(d->cdev_fd, hwpt, true, pasid);
	if (rc) {
		IOMMUFD_LOG(ERR, "device %s PASID %u: %s domain %u (HWPT %u): "
			    "%s", dev->info.name, pasid,
			    old ? "replacing with" : "attaching", dom->id, hwpt,
			    strerror(-rc));
		return rc == -ENOTTY ? -EOPNOTSUPP : rc;
	}
	return 0;
}

void
iommufd_detach(struct usva_iommu_dev *dev, uint32_t pasid,
	       struct usva_domain *dom)
{
	struct iommufd_dev *d = dev->priv;
	int rc;

	/* The kernel answers the PASID's pending page requests INVALID and
	 * flushes what the PASID cached. */
	rc = iommufd_pt_detach(d->cdev_fd, true, pasid);
	if (rc)
		IOMMUFD_LOG(ERR, "device %s PASID %u: detaching domain %u: %s",
			    dev->info.name, pasid, dom->id, strerror(-rc));
}
