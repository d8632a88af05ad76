/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * VFIO: real PCI devices (application API).
 *
 * Opens a PCI device by address through VFIO, in one of two modes:
 *
 *  - **legacy** (USVA_VFIO_F_LEGACY): the device's IOMMU group is bound to a
 *    VFIO container with the type1 IOMMU, through DPDK's rte_vfio API.
 *    Stage-2 DMA only (usva_vfio_dma_map()): no PASID, no nesting. Works on
 *    any kernel with vfio-pci; needs the EAL (usva_init()).
 *  - **cdev** (USVA_VFIO_F_CDEV): the device's VFIO character device
 *    (/dev/vfio/devices/vfioN, kernel 6.6 and later) is opened and handed
 *    to the caller (usva_vfio_dev_fd()), who binds it to an iommufd
 *    (VFIO_DEVICE_BIND_IOMMUFD) — that is the iommufd backend's job — and
 *    then calls usva_vfio_dev_bound(). Needed for PASID and nesting. Does
 *    not need the EAL.
 *
 * In both modes the device's configuration space, BARs, bus mastering and
 * interrupts are reached with the same calls. Without opening anything,
 * usva_vfio_probe() says what a device is bound to, its IOMMU group, its
 * VFIO cdev, its SVA capabilities (PASID, PRI, ATS) and what is missing to
 * use it; usva_vfio_parse_caps() is the pure config-space parser both use.
 *
 * Thread safety: every call is thread-safe. Control calls (open, close,
 * map, unmap, interrupts, bus master) are serialised by one library lock;
 * usva_vfio_config_read/write() and usva_vfio_bar_read/write() are plain
 * pread/pwrite on the device and are not serialised. A device must not be
 * closed while another thread uses it.
 */
#ifndef USVA_VFIO_H
#define USVA_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usva_vfio_dev;
struct usva_vfio_container;
struct usva_iova_range;

/* ---- PCI configuration space -------------------------------------------- */

/** Bytes of conventional configuration space. */
#define USVA_PCI_CFG_SIZE	256u
/** Bytes of PCI Express configuration space (extended capabilities). */
#define USVA_PCI_CFG_EXP_SIZE	4096u
/** Room for a PCI address "dddd:bb:dd.f" (domains up to 8 hex digits). */
#define USVA_PCI_ADDR_LEN	20u

/** @name usva_pci_caps.flags: what the configuration space shows
 * @{ */
#define USVA_PCI_CAP_STD	(1u << 0)  /**< 0x40-0xff was read: the standard list is known */
#define USVA_PCI_CAP_EXT	(1u << 1)  /**< 0x100-0xfff was read: the extended list is known */
#define USVA_PCI_CAP_PCIE	(1u << 2)  /**< PCI Express capability */
#define USVA_PCI_CAP_MSI	(1u << 3)
#define USVA_PCI_CAP_MSIX	(1u << 4)
#define USVA_PCI_CAP_PASID	(1u << 5)  /**< PASID extended capability (0x1b) */
#define USVA_PCI_CAP_PASID_EXEC	(1u << 6)  /**< PASID: Execute Permission Supported */
#define USVA_PCI_CAP_PASID_PRIV	(1u << 7)  /**< PASID: Privileged Mode Supported */
#define USVA_PCI_CAP_PASID_ON	(1u << 8)  /**< PASID: enabled in its control register */
#define USVA_PCI_CAP_PRI	(1u << 9)  /**< Page Request Interface (0x13) */
#define USVA_PCI_CAP_PRI_PASID	(1u << 10) /**< PRI: page responses must carry the PASID */
#define USVA_PCI_CAP_PRI_ON	(1u << 11) /**< PRI: enabled */
#define USVA_PCI_CAP_ATS	(1u << 12) /**< Address Translation Services (0x0f) */
#define USVA_PCI_CAP_ATS_PAGE_ALIGNED (1u << 13) /**< ATS: page-aligned requests */
#define USVA_PCI_CAP_ATS_ON	(1u << 14) /**< ATS: enabled */
/** @} */

/** @name usva_pci_caps.errors: what is wrong with the capability lists
 * @{ */
/** A pointer into the header, or a capability crossing 0x100. */
#define USVA_PCI_CAPERR_STD_RANGE (1u << 0)
#define USVA_PCI_CAPERR_STD_LOOP  (1u << 1) /**< the standard list comes back to a capability */
#define USVA_PCI_CAPERR_STD_TRUNC (1u << 2) /**< the standard list runs past the bytes given */
/** An extended pointer below 0x100, or a capability crossing 0x1000. */
#define USVA_PCI_CAPERR_EXT_RANGE (1u << 3)
#define USVA_PCI_CAPERR_EXT_LOOP  (1u << 4) /**< the extended list comes back to a capability */
#define USVA_PCI_CAPERR_EXT_TRUNC (1u << 5) /**< the extended list runs past the bytes given */
/** @} */

/** What a configuration space says about a function (filled by usva). */
struct usva_pci_caps {
	uint16_t vendor_id;	/**< Vendor ID (0x00) */
	uint16_t device_id;	/**< Device ID (0x02) */
	uint32_t class_code;	/**< base class << 16 | subclass << 8 | prog-if */
	uint32_t flags;		/**< USVA_PCI_CAP_* */
	uint32_t errors;	/**< USVA_PCI_CAPERR_* (0: well formed) */
	uint32_t cfg_len;	/**< bytes parsed (at most 4096) */
	uint8_t header_type;	/**< without the multi-function bit */
	uint8_t pasid_width;	/**< Max PASID Width (bits), 0 without PASID */
	uint8_t ats_inval_depth; /**< ATS Invalidate Queue Depth (1..32) */
	uint8_t msi_vectors;	/**< MSI Multiple Message Capable, as a count */
	uint32_t pri_capacity;	/**< PRI Outstanding Page Request Capacity */
	uint16_t msix_vectors;	/**< MSI-X table size */
	uint16_t nr_std;	/**< standard capabilities walked */
	uint16_t nr_ext;	/**< extended capabilities walked */
	uint16_t pcie_off;	/**< offset of the PCI Express capability, 0: absent */
	uint16_t msi_off;	/**< MSI capability, 0: absent */
	uint16_t msix_off;	/**< MSI-X capability, 0: absent */
	uint16_t pasid_off;	/**< PASID extended capability, 0: absent */
	uint16_t pri_off;	/**< PRI extended capability, 0: absent */
	uint16_t ats_off;	/**< ATS extended capability, 0: absent */
	uint32_t reserved[4];	/**< zero */
};

/**
 * Parse a configuration space: the header, the standard capability list
 * (from the pointer at 0x34; 0x14 for a CardBus bridge) and, when more than
 * 256 bytes are given, the extended list from 0x100. Reads nothing beyond
 * @p len; a malformed list (a loop, a pointer out of range, a list running
 * past @p len) ends that list's walk and is reported, never followed.
 * Pure: no I/O. The first capability of each kind wins.
 *
 * @param cfg   Configuration space, byte 0 first (as little-endian PCI).
 * @param len   Bytes in @p cfg; at least 64 (the header). 64 is what sysfs
 *              gives a non-root reader, 256 a conventional function, 4096
 *              a PCI Express one.
 * @param caps  Filled: zeroed, then what was found. Filled as far as the
 *              walk got on -EBADMSG too.
 * @return 0; -EINVAL (NULL, or @p len below 64); -ENODEV (vendor ID
 *         0xffff: no function answers); -EBADMSG (a list is malformed or
 *         runs past @p len: caps->errors says which, and what was found
 *         before it is filled in).
 */
int usva_vfio_parse_caps(const uint8_t *cfg, size_t len,
			 struct usva_pci_caps *caps);

/**
 * Check and normalise a PCI address: "dddd:bb:dd.f" or "bb:dd.f"
 * (hex; domain 0 when omitted) into "dddd:bb:dd.f", lower case, as sysfs
 * names devices.
 * @return 0; -EINVAL (anything else: logged).
 */
int usva_vfio_pci_addr(const char *in, char out[USVA_PCI_ADDR_LEN]);

/* ---- devices -------------------------------------------------------------- */

/** @name usva_vfio_config.flags: the mode, exactly one of
 * @{ */
#define USVA_VFIO_F_LEGACY	(1u << 0) /**< group + type1 container (rte_vfio) */
#define USVA_VFIO_F_CDEV	(1u << 1) /**< VFIO device cdev, for iommufd */
/** @} */

/** Which device to open, and how (size-versioned). */
struct usva_vfio_config {
	uint32_t size;		/**< sizeof(struct usva_vfio_config) */
	uint32_t flags;		/**< USVA_VFIO_F_*: one mode (0 for usva_vfio_probe()) */
	const char *pci_addr;	/**< "0000:3b:00.0" (or "3b:00.0") */
	/* end of mandatory fields */
	/** Legacy: the container to join (devices sharing one share their
	 *  DMA mappings); NULL: the device gets one of its own. Must be NULL
	 *  in cdev mode. Must outlive the device. */
	struct usva_vfio_container *container;
	/** Where sysfs is; NULL: "/sys". For tests with a fake tree. */
	const char *sysfs_root;
	/** Where the device nodes are; NULL: "/dev". Only the lookups use it
	 *  (DPDK opens the legacy group node under /dev/vfio itself). */
	const char *dev_root;
	uint64_t reserved[4];	/**< must be 0 */
};

/** @name usva_vfio_dev_info.status: what the lookup found
 * @{ */
#define USVA_VFIO_ST_VFIO_DRIVER (1u << 0)  /**< bound to vfio-pci or a vfio-pci variant */
#define USVA_VFIO_ST_GROUP	(1u << 1)  /**< in an IOMMU group */
#define USVA_VFIO_ST_NOIOMMU	(1u << 2)  /**< ... a VFIO no-IOMMU group (no translation) */
#define USVA_VFIO_ST_GROUP_NODE	(1u << 3)  /**< the group's node exists (legacy mode possible) */
#define USVA_VFIO_ST_CDEV	(1u << 4)  /**< has a VFIO cdev (vfio-dev/vfioN) */
#define USVA_VFIO_ST_CDEV_NODE	(1u << 5)  /**< ... and its node exists */
#define USVA_VFIO_ST_IOMMUFD	(1u << 6)  /**< /dev/iommu exists */
#define USVA_VFIO_ST_CONTAINER	(1u << 7)  /**< /dev/vfio/vfio exists (legacy containers) */
#define USVA_VFIO_ST_CFG	(1u << 8)  /**< the configuration space was read whole */
#define USVA_VFIO_ST_OPEN	(1u << 9)  /**< (open device) the device fd is open */
#define USVA_VFIO_ST_ACCESS	(1u << 10) /**< (open device) regions usable: legacy, or cdev bound */
#define USVA_VFIO_ST_RESET	(1u << 11) /**< (open device) VFIO can reset it */
/** @} */

/** @name usva_vfio_dev_info.need: what is missing for SVA with page faults
 * usva_vfio_need_str() names each with its remedy.
 * @{ */
#define USVA_VFIO_NEED_IOMMU	(1u << 0)  /**< no IOMMU group (IOMMU off), or a no-IOMMU group */
#define USVA_VFIO_NEED_VFIO_PCI	(1u << 1)  /**< not bound to vfio-pci */
#define USVA_VFIO_NEED_GROUP_NODE (1u << 2) /**< vfio-pci but no group node: no legacy mode */
#define USVA_VFIO_NEED_CDEV	(1u << 3)  /**< vfio-pci but no cdev (kernel before 6.6) */
#define USVA_VFIO_NEED_IOMMUFD	(1u << 4)  /**< no /dev/iommu (CONFIG_IOMMUFD) */
/** Config space not readable whole (not root): PASID, PRI, ATS unknown. */
#define USVA_VFIO_NEED_CFG	(1u << 5)
#define USVA_VFIO_NEED_PASID	(1u << 6)  /**< no PASID capability: no SVA */
#define USVA_VFIO_NEED_PRI	(1u << 7)  /**< no PRI: no block-on-fault */
#define USVA_VFIO_NEED_ATS	(1u << 8)  /**< no ATS: no device TLB */
/** @} */

/** @name usva_vfio_bar.flags
 * @{ */
#define USVA_VFIO_BAR_MEM	(1u << 0)  /**< memory BAR */
#define USVA_VFIO_BAR_IO	(1u << 1)  /**< I/O port BAR */
#define USVA_VFIO_BAR_MEM64	(1u << 2)  /**< 64-bit memory BAR */
#define USVA_VFIO_BAR_PREFETCH	(1u << 3)  /**< prefetchable */
#define USVA_VFIO_BAR_MMAP	(1u << 4)  /**< (open device) VFIO lets it be mmapped */
#define USVA_VFIO_BAR_MAPPED	(1u << 5)  /**< (open device) mapped by usva_vfio_bar_map() */
/** @} */

/** One BAR. */
struct usva_vfio_bar {
	uint64_t size;		/**< bytes; 0: not implemented */
	uint32_t flags;		/**< USVA_VFIO_BAR_* */
	uint32_t reserved;	/**< zero */
};

/** @name Interrupt types (VFIO's PCI IRQ indexes)
 * @{ */
#define USVA_VFIO_IRQ_INTX	0u	/**< legacy INTx (one vector) */
#define USVA_VFIO_IRQ_MSI	1u	/**< MSI */
#define USVA_VFIO_IRQ_MSIX	2u	/**< MSI-X */
/** @} */

/** What a device is and has (filled by usva; set size before the call). */
struct usva_vfio_dev_info {
	uint32_t size;		/**< in: sizeof(struct usva_vfio_dev_info) */
	uint32_t status;	/**< USVA_VFIO_ST_* */
	uint32_t need;		/**< USVA_VFIO_NEED_* */
	uint32_t mode;		/**< USVA_VFIO_F_* it is open in; 0 from probe */
	int32_t group;		/**< IOMMU group number, -1: none */
	int32_t numa_node;	/**< -1: unknown */
	uint32_t cfg_size;	/**< config space size (256 or 4096) */
	uint32_t cfg_read;	/**< bytes of it that could be read */
	char pci_addr[USVA_PCI_ADDR_LEN]; /**< normalised */
	char driver[64];	/**< bound driver, "" when none */
	char iommu[32];		/**< the IOMMU unit's sysfs name ("dmar0"), "" */
	char cdev[32];		/**< "vfioN", "" when none */
	char cdev_path[128];	/**< its node, "" when none */
	char group_path[128];	/**< the group's node, "" when none */
	struct usva_pci_caps caps; /**< valid where status has USVA_VFIO_ST_CFG
				     * (else: what could be read) */
	struct usva_vfio_bar bars[6];	/**< BAR 0 to 5 */
	uint32_t irqs[3];	/**< (open device) vectors per USVA_VFIO_IRQ_* */
};

/**
 * Look a device up in sysfs and read its configuration space there
 * (sysfs' config file: all of it as root, the first 64 bytes otherwise),
 * without opening anything. What an unusable device lacks is in
 * info->need, not an error.
 *
 * @param cfg   pci_addr, and optionally sysfs_root and dev_root; flags may
 *              name a mode or be 0; container must be NULL.
 * @param info  Filled up to min(info->size, sizeof(*info)); size is set
 *              to what was written.
 * @return 0; -EFAULT, -EINVAL, -E2BIG, -EOPNOTSUPP (the config struct, as
 *         every usva config; info size below the need field); -EINVAL
 *         (bad address); -ENODEV (no such PCI device in sysfs).
 */
int usva_vfio_probe(const struct usva_vfio_config *cfg,
		    struct usva_vfio_dev_info *info);

/**
 * Describe one bit of usva_vfio_dev_info.need, with its remedy.
 * @return a constant string; "" for an unknown bit.
 */
const char *usva_vfio_need_str(uint32_t need_bit);

/**
 * Open a device.
 *
 * Checks, each failing with one log line that says what to do: the device
 * exists; it is in an IOMMU group (else the IOMMU is off); it is bound to
 * vfio-pci (else the log names the commands that bind it); legacy: its
 * group node exists; cdev: it has a VFIO cdev and its node exists.
 *
 * Legacy: binds the group to the container (cfg->container, or a new one)
 * and sets the device up with rte_vfio_setup_device(), which selects the
 * type1 IOMMU on the container's first group; then reads the regions, the
 * interrupts and the configuration space (usva_vfio_dev_info()). Needs the
 * EAL (usva_init()) in a primary process.
 *
 * Cdev: opens the cdev node and stops there: the caller binds the fd
 * (usva_vfio_dev_fd()) to an iommufd and then calls usva_vfio_dev_bound().
 *
 * @return 0 and *@p out; -EFAULT, -EINVAL, -E2BIG, -EOPNOTSUPP (config:
 *         no mode or both, a container in cdev mode, unknown flags);
 *         -ENODEV (no such device, no IOMMU group, not bound to vfio-pci,
 *         no group node or cdev, no /dev/vfio/vfio); -EOPNOTSUPP (legacy
 *         without the EAL, or in a secondary process); -EACCES (the node
 *         cannot be opened: not root?); -EBUSY (the device or group is
 *         open elsewhere); -EIO (DPDK refused the group or device: its log
 *         line says why); -ENOMEM.
 */
int usva_vfio_dev_open(const struct usva_vfio_config *cfg,
		       struct usva_vfio_dev **out);

/**
 * Cdev mode: the caller has bound the device fd to an iommufd
 * (VFIO_DEVICE_BIND_IOMMUFD): read the regions, interrupts and
 * configuration space, after which every other call works. Idempotent.
 * @return 0; -EINVAL (NULL, or a legacy device); -EPERM (the fd is not
 *         bound yet: the kernel refuses device ioctls); -ENODEV (VFIO says
 *         it is not a PCI device); other errnos of VFIO_DEVICE_GET_INFO
 *         (-ENOTTY: the node is not a VFIO device); -EIO.
 */
int usva_vfio_dev_bound(struct usva_vfio_dev *dev);

/**
 * Close a device: disables its interrupts, unmaps its BARs, releases it
 * (VFIO resets it if it can). Legacy: when it is the last device of its
 * container, the container's DMA mappings are unmapped first; a container
 * usva created for it is destroyed. Never fails. NULL is a no-op.
 */
void usva_vfio_dev_close(struct usva_vfio_dev *dev);

/**
 * The VFIO device fd, owned by @p dev: for the iommufd backend's ioctls
 * (VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT) in cdev mode.
 * @return the fd; -EINVAL (NULL).
 */
int usva_vfio_dev_fd(const struct usva_vfio_dev *dev);

/**
 * Describe an open device: the probe's findings at open time, with the
 * capabilities read through VFIO's config region, the BARs as VFIO reports
 * them and the interrupt counts once the device is accessible.
 * @return 0; -EINVAL (NULL, size below the need field).
 */
int usva_vfio_dev_info(const struct usva_vfio_dev *dev,
		       struct usva_vfio_dev_info *info);

/**
 * Reset the function (VFIO_DEVICE_RESET).
 * @return 0; -EOPNOTSUPP (no reset method); -EPERM (cdev not bound); -EIO.
 */
int usva_vfio_dev_reset(struct usva_vfio_dev *dev);

/* ---- configuration space, BARs, bus mastering ------------------------------- */

/**
 * Read @p len bytes of configuration space at @p off, through VFIO's config
 * region (vfio-pci virtualises some registers; reads of the rest reach the
 * device).
 * @return 0; -EINVAL (NULL, empty, or beyond the config space); -EPERM
 *         (cdev not bound); -EIO (short read).
 */
int usva_vfio_config_read(struct usva_vfio_dev *dev, uint32_t off, void *buf,
			  size_t len);

/** Write configuration space; as usva_vfio_config_read(). */
int usva_vfio_config_write(struct usva_vfio_dev *dev, uint32_t off,
			   const void *buf, size_t len);

/**
 * Set or clear Bus Master Enable (bit 2 of the command register): the
 * device may issue DMA only with it set.
 * @return 0; the errors of usva_vfio_config_read().
 */
int usva_vfio_bus_master(struct usva_vfio_dev *dev, bool enable);

/**
 * Map BAR @p bar into the process (mmap of its VFIO region; where VFIO
 * allows only parts of it, those parts, the rest left inaccessible). A
 * second call returns the same mapping.
 * @param addr  Out: the BAR's first byte.
 * @param len   Out (may be NULL): the BAR's size.
 * @return 0; -EINVAL (NULL, bar > 5); -ENOENT (BAR not implemented);
 *         -EOPNOTSUPP (VFIO does not let it be mmapped, an I/O BAR: use
 *         usva_vfio_bar_read/write()); -EPERM (cdev not bound); -ENOMEM
 *         and other mmap errors.
 */
int usva_vfio_bar_map(struct usva_vfio_dev *dev, unsigned int bar,
		      void **addr, uint64_t *len);

/**
 * Unmap a BAR mapped by usva_vfio_bar_map(). Unmapping a BAR that is not
 * mapped is a no-op.
 * @return 0; -EINVAL.
 */
int usva_vfio_bar_unmap(struct usva_vfio_dev *dev, unsigned int bar);

/**
 * Read a BAR without mapping it (pread of its VFIO region): for I/O BARs,
 * or one-off accesses. Use 1, 2, 4 or 8 naturally aligned bytes for
 * registers.
 * @return 0; -EINVAL (NULL, bar, beyond the BAR); -ENOENT; -EPERM; -EIO.
 */
int usva_vfio_bar_read(struct usva_vfio_dev *dev, unsigned int bar,
		       uint64_t off, void *buf, size_t len);

/** Write a BAR without mapping it; as usva_vfio_bar_read(). */
int usva_vfio_bar_write(struct usva_vfio_dev *dev, unsigned int bar,
			uint64_t off, const void *buf, size_t len);

/* ---- interrupts --------------------------------------------------------------- */

/**
 * Route @p n vectors of one interrupt type to eventfds
 * (VFIO_DEVICE_SET_IRQS with VFIO_IRQ_SET_DATA_EVENTFD |
 * VFIO_IRQ_SET_ACTION_TRIGGER): vector i signals eventfds[i]. The eventfds
 * are created non-blocking and owned by @p dev (closed by
 * usva_vfio_irq_disable() and usva_vfio_dev_close()). One type at a time,
 * as PCI allows. INTx is masked by VFIO each time it fires: unmask it with
 * usva_vfio_irq_unmask() once handled.
 * @param type      USVA_VFIO_IRQ_*.
 * @param n         Vectors, 1..what the device has (info.irqs[type]).
 * @param eventfds  Out: @p n fds.
 * @return 0; -EINVAL (NULL, type, n = 0); -ERANGE (n beyond the device's
 *         vectors); -EBUSY (interrupts already enabled: disable first);
 *         -EPERM (cdev not bound); -EIO and other errnos of the ioctl.
 */
int usva_vfio_irq_enable(struct usva_vfio_dev *dev, uint32_t type,
			 uint32_t n, int *eventfds);

/** MSI-X: usva_vfio_irq_enable(dev, USVA_VFIO_IRQ_MSIX, n, eventfds). */
int usva_vfio_msix_setup(struct usva_vfio_dev *dev, uint32_t n,
			 int *eventfds);

/**
 * Disable the enabled interrupts and close their eventfds. A no-op when
 * none are enabled.
 * @return 0; -EINVAL.
 */
int usva_vfio_irq_disable(struct usva_vfio_dev *dev);

/**
 * Unmask INTx after handling it (VFIO_IRQ_SET_ACTION_UNMASK).
 * @return 0; -EINVAL (NULL, or INTx not enabled); -EIO.
 */
int usva_vfio_irq_unmask(struct usva_vfio_dev *dev);

/* ---- legacy containers and stage-2 DMA ---------------------------------------------- */

/**
 * Create a legacy VFIO container (rte_vfio_container_create()) for
 * several devices to share. Its IOMMU type is chosen when the first device
 * joins it. Needs the EAL.
 * @return 0 and *@p out; -EINVAL (NULL); -EOPNOTSUPP (no EAL, or a
 *         secondary process); -ENODEV (no /dev/vfio/vfio; or DPDK refused:
 *         its table of containers is full or no IOMMU type is supported,
 *         as its log line says); -EACCES (/dev/vfio/vfio not openable);
 *         -ENOMEM.
 */
int usva_vfio_container_create(struct usva_vfio_container **out);

/**
 * Destroy a container.
 * @return 0; -EBUSY while devices are in it. NULL is a no-op returning 0.
 */
int usva_vfio_container_destroy(struct usva_vfio_container *c);

/**
 * Legacy: map [vaddr, vaddr + len) for DMA at [iova, iova + len) in the
 * device's container (rte_vfio_container_dma_map(): type1 pins the pages;
 * they count against RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK).
 * The mapping belongs to the container: every device in it can use it.
 * @return 0; -EINVAL (NULL, unaligned to 4 KiB, empty, a cdev device);
 *         -EOVERFLOW (a range wraps); -EEXIST (overlaps a mapping of the
 *         container, by IOVA); -EOPNOTSUPP (a no-IOMMU container: the device
 *         uses physical addresses); -ENOMEM (the locked-memory limit, or
 *         DPDK's table of 256 mappings per container); other errnos of
 *         VFIO_IOMMU_MAP_DMA (-EFAULT: nothing mapped at vaddr; -EINVAL:
 *         iova outside the IOMMU's ranges, see usva_vfio_iova_ranges()).
 */
int usva_vfio_dma_map(struct usva_vfio_dev *dev, void *vaddr, uint64_t iova,
		      uint64_t len);

/**
 * Legacy: unmap a mapping made by usva_vfio_dma_map(), named by its IOVA
 * and length exactly (type1 cannot split a mapping).
 * @return 0; -EINVAL; -ENOENT (no such mapping); -EIO.
 */
int usva_vfio_dma_unmap(struct usva_vfio_dev *dev, uint64_t iova,
			uint64_t len);

/**
 * Legacy: the IOVA ranges the container's IOMMU accepts
 * (VFIO_IOMMU_GET_INFO, its IOVA range capability), sorted. Without that
 * capability (an old kernel): one range, the whole 64-bit space.
 * @param ranges  Filled with up to *@p nr ranges.
 * @param nr      In: room. Out: the number of ranges.
 * @return 0; -EINVAL (NULL, cdev device); -EMSGSIZE (*@p nr says how many
 *         there are); -EIO.
 */
int usva_vfio_iova_ranges(struct usva_vfio_dev *dev,
			  struct usva_iova_range *ranges, uint32_t *nr);

#ifdef __cplusplus
}
#endif

#endif /* USVA_VFIO_H */
