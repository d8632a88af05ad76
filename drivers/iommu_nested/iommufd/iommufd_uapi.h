/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parts of the Linux iommufd and VFIO device-cdev uAPI the iommufd
 * backend uses, written from the published layouts (include/uapi/linux/
 * iommufd.h and vfio.h of Linux 6.2 to 6.15), for systems whose installed
 * headers are older than the kernel the backend runs on.
 *
 * Rules:
 *  - An ioctl number is the system's when the system header has it, else
 *    ours (#ifndef NAME): a number never changes once published.
 *  - A struct whose layout never changed since its ioctl appeared keeps
 *    the kernel's name and is defined here only when the system header
 *    lacks that ioctl (the guard names it).
 *  - A struct that grew over releases (HWPT_ALLOC, GET_HW_INFO, the VFIO
 *    cdev bind/attach/detach), the data structs those ioctls carry, and
 *    the constants that came with them are ours under a usva_ / USVA_
 *    name, so no system header can clash with them.
 *    The larger (newer) layout is always safe to pass: the kernel accepts
 *    any size from its minimum, and checks that bytes it does not know
 *    are zero.
 *  - Every struct in use, ours or the system's, has its size and the
 *    offset of every field the backend touches checked below.
 *
 * Kernel versions (used in the backend's error messages):
 *   6.2   iommufd: IOAS_ALLOC/MAP/UNMAP/IOVA_RANGES/ALLOW_IOVAS, DESTROY
 *   6.6   VFIO device cdev, VFIO_DEVICE_BIND_IOMMUFD,
 *         VFIO_DEVICE_ATTACH/DETACH_IOMMUFD_PT, IOMMU_HWPT_ALLOC,
 *         IOMMU_GET_HW_INFO (VT-d)
 *   6.7   HWPT_ALLOC data_type/data_len/data_uptr, NEST_PARENT,
 *         IOMMU_HWPT_DATA_VTD_S1, hw_info out_capabilities
 *   6.8   IOMMU_HWPT_INVALIDATE (VT-d stage-1 entries)
 *   6.11  IOMMU_FAULT_QUEUE_ALLOC, HWPT_ALLOC fault_id
 *   6.14  IOMMU_HWPT_DATA_ARM_SMMUV3 (through a vIOMMU, 6.13)
 *   6.15  VFIO_DEVICE_ATTACH_PASID / DETACH_PASID, IOMMU_HWPT_ALLOC_PASID,
 *         hw_info out_max_pasid_log2
 */
#ifndef USVA_IOMMUFD_UAPI_H
#define USVA_IOMMUFD_UAPI_H

#include <stddef.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#endif

/* ---- 6.2: IOAS (stable layouts, the kernel's names) ---------------------- */

#define USVA_IOMMUFD_TYPE	';'	/* IOMMUFD_TYPE */

#ifndef IOMMU_IOAS_ALLOC
struct iommu_destroy {
	__u32 size;
	__u32 id;
};

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};

struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;		/* inclusive */
};

struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;		/* in: room; out: ranges there are */
	__u32 __reserved;
	__aligned_u64 allowed_iovas;	/* struct iommu_iova_range[] */
	__aligned_u64 out_iova_alignment;
};

struct iommu_ioas_allow_iovas {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
};

enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;			/* enum iommufd_ioas_map_flags */
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};

struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;		/* in: bytes; out: bytes unmapped */
};

#define IOMMU_DESTROY		_IO(USVA_IOMMUFD_TYPE, 0x80)
#define IOMMU_IOAS_ALLOC	_IO(USVA_IOMMUFD_TYPE, 0x81)
#define IOMMU_IOAS_ALLOW_IOVAS	_IO(USVA_IOMMUFD_TYPE, 0x82)
#define IOMMU_IOAS_IOVA_RANGES	_IO(USVA_IOMMUFD_TYPE, 0x84)
#define IOMMU_IOAS_MAP		_IO(USVA_IOMMUFD_TYPE, 0x85)
#define IOMMU_IOAS_UNMAP	_IO(USVA_IOMMUFD_TYPE, 0x86)
#endif /* IOMMU_IOAS_ALLOC */

/* ---- 6.6: numbers of the ioctls whose structs grew ----------------------- */

#ifndef IOMMU_HWPT_ALLOC
#define IOMMU_HWPT_ALLOC	_IO(USVA_IOMMUFD_TYPE, 0x89)
#endif
#ifndef IOMMU_GET_HW_INFO
#define IOMMU_GET_HW_INFO	_IO(USVA_IOMMUFD_TYPE, 0x8a)
#endif
#ifndef VFIO_DEVICE_BIND_IOMMUFD
#define VFIO_DEVICE_BIND_IOMMUFD	_IO(VFIO_TYPE, VFIO_BASE + 18)
#endif
#ifndef VFIO_DEVICE_ATTACH_IOMMUFD_PT
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 19)
#endif
#ifndef VFIO_DEVICE_DETACH_IOMMUFD_PT
#define VFIO_DEVICE_DETACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 20)
#endif

/* ---- 6.6..6.15: structs that grew (ours) --------------------------------- */

/** @name usva_iommu_hwpt_alloc.flags (enum iommufd_hwpt_alloc_flags)
 * @{ */
#define USVA_IOMMU_HWPT_ALLOC_NEST_PARENT	(1u << 0)	/* 6.7 */
#define USVA_IOMMU_HWPT_FAULT_ID_VALID		(1u << 2)	/* 6.11 */
#define USVA_IOMMU_HWPT_ALLOC_PASID		(1u << 3)	/* 6.15 */
/** @} */

/* enum iommu_hwpt_data_type */
#define USVA_IOMMU_HWPT_DATA_NONE		0u
#define USVA_IOMMU_HWPT_DATA_VTD_S1		1u	/* 6.7 */
#define USVA_IOMMU_HWPT_DATA_ARM_SMMUV3		2u	/* 6.14 */

/* IOMMU_HWPT_ALLOC, the 6.11 layout (6.6: up to __reserved; 6.7: data). */
struct usva_iommu_hwpt_alloc {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 pt_id;			/* IOAS, parent HWPT or vIOMMU */
	__u32 out_hwpt_id;
	__u32 __reserved;
	__u32 data_type;
	__u32 data_len;
	__aligned_u64 data_uptr;
	__u32 fault_id;			/* with USVA_IOMMU_HWPT_FAULT_ID_VALID */
	__u32 __reserved2;
};

/* enum iommu_hw_info_type */
#define USVA_IOMMU_HW_INFO_TYPE_NONE		0u
#define USVA_IOMMU_HW_INFO_TYPE_INTEL_VTD	1u	/* 6.6 */
#define USVA_IOMMU_HW_INFO_TYPE_ARM_SMMUV3	2u	/* 6.14 */

/* enum iommufd_hw_capabilities (out_capabilities) */
#define USVA_IOMMU_HW_CAP_DIRTY_TRACKING	(1u << 0)	/* 6.7 */
#define USVA_IOMMU_HW_CAP_PCI_PASID_EXEC	(1u << 1)	/* 6.15 */
#define USVA_IOMMU_HW_CAP_PCI_PASID_PRIV	(1u << 2)	/* 6.15 */

/* IOMMU_GET_HW_INFO, the 6.15 layout (6.6: 32 bytes; 6.7: capabilities). */
struct usva_iommu_hw_info {
	__u32 size;
	__u32 flags;
	__u32 dev_id;
	__u32 data_len;			/* in: room; out: the kernel's length */
	__aligned_u64 data_uptr;
	__u32 out_data_type;		/* USVA_IOMMU_HW_INFO_TYPE_* */
	__u8 out_max_pasid_log2;	/* 0: no PASID (or a kernel < 6.15) */
	__u8 __reserved[3];
	__aligned_u64 out_capabilities;	/* USVA_IOMMU_HW_CAP_* */
};

/* struct iommu_hw_info_vtd: VT-d capability and extended capability. */
#define USVA_IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17	(1u << 0)

struct usva_iommu_hw_info_vtd {
	__u32 flags;
	__u32 __reserved;
	__aligned_u64 cap_reg;
	__aligned_u64 ecap_reg;
};

/* struct iommu_hw_info_arm_smmuv3: the SMMU's ID registers. */
struct usva_iommu_hw_info_arm_smmuv3 {
	__u32 flags;
	__u32 __reserved;
	__u32 idr[6];
	__u32 iidr;
	__u32 aidr;
};

/* enum iommu_hwpt_vtd_s1_flags */
#define USVA_IOMMU_VTD_S1_SRE	(1u << 0)	/* supervisor requests */
#define USVA_IOMMU_VTD_S1_EAFE	(1u << 1)	/* extended accessed flag */
#define USVA_IOMMU_VTD_S1_WPE	(1u << 2)	/* write protect enable */

/* struct iommu_hwpt_vtd_s1: a nested VT-d stage 1 (IOMMU_HWPT_DATA_VTD_S1). */
struct usva_iommu_hwpt_vtd_s1 {
	__aligned_u64 flags;		/* USVA_IOMMU_VTD_S1_* */
	__aligned_u64 pgtbl_addr;	/* stage-1 root, a stage-2 IOVA */
	__u32 addr_width;		/* 48 or 57 */
	__u32 __reserved;
};

/* VFIO_DEVICE_BIND_IOMMUFD, the 6.6 layout (later kernels add a token
 * pointer behind a flag; argsz of this size stays valid). */
struct usva_vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};

#define USVA_VFIO_DEVICE_ATTACH_PASID	(1u << 0)	/* 6.15 */
#define USVA_VFIO_DEVICE_DETACH_PASID	(1u << 0)	/* 6.15 */

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT, the 6.15 layout (6.6: up to pt_id). */
struct usva_vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;			/* USVA_VFIO_DEVICE_ATTACH_PASID */
	__u32 pt_id;
	__u32 pasid;
};

/* VFIO_DEVICE_DETACH_IOMMUFD_PT, the 6.15 layout (6.6: up to flags). */
struct usva_vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;			/* USVA_VFIO_DEVICE_DETACH_PASID */
	__u32 pasid;
};

/* ---- 6.8: IOMMU_HWPT_INVALIDATE (stable layouts, the kernel's names) ----- */

#ifndef IOMMU_HWPT_INVALIDATE
enum iommu_hwpt_invalidate_data_type {
	IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0,
};

enum iommu_hwpt_vtd_s1_invalidate_flags {
	IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0,	/* keep paging-structure caches */
};

/* One VT-d stage-1 invalidation: addr 0 and npages UINT64_MAX is all. */
struct iommu_hwpt_vtd_s1_invalidate {
	__aligned_u64 addr;
	__aligned_u64 npages;		/* 4 KiB pages */
	__u32 flags;			/* enum iommu_hwpt_vtd_s1_invalidate_flags */
	__u32 __reserved;
};

struct iommu_hwpt_invalidate {
	__u32 size;
	__u32 hwpt_id;
	__aligned_u64 data_uptr;	/* entry array */
	__u32 data_type;		/* enum iommu_hwpt_invalidate_data_type */
	__u32 entry_len;
	__u32 entry_num;		/* in: entries; out: entries handled */
	__u32 __reserved;
};

#define IOMMU_HWPT_INVALIDATE	_IO(USVA_IOMMUFD_TYPE, 0x8d)
#endif /* IOMMU_HWPT_INVALIDATE */

/* ---- 6.11: fault queues (stable layouts, the kernel's names) ------------- */

#ifndef IOMMU_FAULT_QUEUE_ALLOC
enum iommu_hwpt_pgfault_flags {
	IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0,
	IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1,
};

enum iommu_hwpt_pgfault_perm {
	IOMMU_PGFAULT_PERM_READ = 1 << 0,
	IOMMU_PGFAULT_PERM_WRITE = 1 << 1,
	IOMMU_PGFAULT_PERM_EXEC = 1 << 2,
	IOMMU_PGFAULT_PERM_PRIV = 1 << 3,
};

/* One page request as read() from a fault fd; a group's requests are
 * read together and share the cookie. */
struct iommu_hwpt_pgfault {
	__u32 flags;			/* enum iommu_hwpt_pgfault_flags */
	__u32 dev_id;			/* the bind's out_devid */
	__u32 pasid;
	__u32 grpid;
	__u32 perm;			/* enum iommu_hwpt_pgfault_perm */
	__u32 __reserved;
	__aligned_u64 addr;
	__u32 length;			/* hint, 0 */
	__u32 cookie;			/* echo in the group's response */
};

enum iommufd_page_response_code {
	IOMMUFD_PAGE_RESP_SUCCESS = 0,
	IOMMUFD_PAGE_RESP_INVALID = 1,
};

/* One group response as write() to a fault fd. */
struct iommu_hwpt_page_response {
	__u32 cookie;
	__u32 code;			/* enum iommufd_page_response_code */
};

struct iommu_fault_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_fault_id;
	__u32 out_fault_fd;
};

#define IOMMU_FAULT_QUEUE_ALLOC	_IO(USVA_IOMMUFD_TYPE, 0x8e)
#endif /* IOMMU_FAULT_QUEUE_ALLOC */

/* ---- layout checks (published sizes and offsets) ------------------------- */

#define USVA_UAPI_CHECK(type, size_)					\
	_Static_assert(sizeof(struct type) == (size_),			\
		       "struct " #type " is not " #size_ " bytes")
#define USVA_UAPI_OFF(type, field, off)					\
	_Static_assert(offsetof(struct type, field) == (off),		\
		       "struct " #type "." #field " not at " #off)

USVA_UAPI_CHECK(iommu_destroy, 8);
USVA_UAPI_OFF(iommu_destroy, id, 4);
USVA_UAPI_CHECK(iommu_ioas_alloc, 12);
USVA_UAPI_OFF(iommu_ioas_alloc, flags, 4);
USVA_UAPI_OFF(iommu_ioas_alloc, out_ioas_id, 8);
USVA_UAPI_CHECK(iommu_iova_range, 16);
USVA_UAPI_OFF(iommu_iova_range, last, 8);
USVA_UAPI_CHECK(iommu_ioas_iova_ranges, 32);
USVA_UAPI_OFF(iommu_ioas_iova_ranges, ioas_id, 4);
USVA_UAPI_OFF(iommu_ioas_iova_ranges, num_iovas, 8);
USVA_UAPI_OFF(iommu_ioas_iova_ranges, allowed_iovas, 16);
USVA_UAPI_OFF(iommu_ioas_iova_ranges, out_iova_alignment, 24);
USVA_UAPI_CHECK(iommu_ioas_allow_iovas, 24);
USVA_UAPI_OFF(iommu_ioas_allow_iovas, ioas_id, 4);
USVA_UAPI_OFF(iommu_ioas_allow_iovas, num_iovas, 8);
USVA_UAPI_OFF(iommu_ioas_allow_iovas, allowed_iovas, 16);
USVA_UAPI_CHECK(iommu_ioas_map, 40);
USVA_UAPI_OFF(iommu_ioas_map, flags, 4);
USVA_UAPI_OFF(iommu_ioas_map, ioas_id, 8);
USVA_UAPI_OFF(iommu_ioas_map, user_va, 16);
USVA_UAPI_OFF(iommu_ioas_map, length, 24);
USVA_UAPI_OFF(iommu_ioas_map, iova, 32);
USVA_UAPI_CHECK(iommu_ioas_unmap, 24);
USVA_UAPI_OFF(iommu_ioas_unmap, ioas_id, 4);
USVA_UAPI_OFF(iommu_ioas_unmap, iova, 8);
USVA_UAPI_OFF(iommu_ioas_unmap, length, 16);

USVA_UAPI_CHECK(usva_iommu_hwpt_alloc, 48);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, flags, 4);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, dev_id, 8);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, pt_id, 12);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, out_hwpt_id, 16);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, __reserved, 20);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, data_type, 24);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, data_len, 28);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, data_uptr, 32);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, fault_id, 40);
USVA_UAPI_OFF(usva_iommu_hwpt_alloc, __reserved2, 44);
USVA_UAPI_CHECK(usva_iommu_hw_info, 40);
USVA_UAPI_OFF(usva_iommu_hw_info, flags, 4);
USVA_UAPI_OFF(usva_iommu_hw_info, dev_id, 8);
USVA_UAPI_OFF(usva_iommu_hw_info, data_len, 12);
USVA_UAPI_OFF(usva_iommu_hw_info, data_uptr, 16);
USVA_UAPI_OFF(usva_iommu_hw_info, out_data_type, 24);
USVA_UAPI_OFF(usva_iommu_hw_info, out_max_pasid_log2, 28);
USVA_UAPI_OFF(usva_iommu_hw_info, __reserved, 29);
USVA_UAPI_OFF(usva_iommu_hw_info, out_capabilities, 32);
USVA_UAPI_CHECK(usva_iommu_hw_info_vtd, 24);
USVA_UAPI_OFF(usva_iommu_hw_info_vtd, cap_reg, 8);
USVA_UAPI_OFF(usva_iommu_hw_info_vtd, ecap_reg, 16);
USVA_UAPI_CHECK(usva_iommu_hw_info_arm_smmuv3, 40);
USVA_UAPI_OFF(usva_iommu_hw_info_arm_smmuv3, idr, 8);
USVA_UAPI_OFF(usva_iommu_hw_info_arm_smmuv3, iidr, 32);
USVA_UAPI_OFF(usva_iommu_hw_info_arm_smmuv3, aidr, 36);
USVA_UAPI_CHECK(usva_iommu_hwpt_vtd_s1, 24);
USVA_UAPI_OFF(usva_iommu_hwpt_vtd_s1, pgtbl_addr, 8);
USVA_UAPI_OFF(usva_iommu_hwpt_vtd_s1, addr_width, 16);
USVA_UAPI_OFF(usva_iommu_hwpt_vtd_s1, __reserved, 20);
USVA_UAPI_CHECK(usva_vfio_device_bind_iommufd, 16);
USVA_UAPI_OFF(usva_vfio_device_bind_iommufd, flags, 4);
USVA_UAPI_OFF(usva_vfio_device_bind_iommufd, iommufd, 8);
USVA_UAPI_OFF(usva_vfio_device_bind_iommufd, out_devid, 12);
USVA_UAPI_CHECK(usva_vfio_device_attach_iommufd_pt, 16);
USVA_UAPI_OFF(usva_vfio_device_attach_iommufd_pt, flags, 4);
USVA_UAPI_OFF(usva_vfio_device_attach_iommufd_pt, pt_id, 8);
USVA_UAPI_OFF(usva_vfio_device_attach_iommufd_pt, pasid, 12);
USVA_UAPI_CHECK(usva_vfio_device_detach_iommufd_pt, 12);
USVA_UAPI_OFF(usva_vfio_device_detach_iommufd_pt, flags, 4);
USVA_UAPI_OFF(usva_vfio_device_detach_iommufd_pt, pasid, 8);

USVA_UAPI_CHECK(iommu_hwpt_vtd_s1_invalidate, 24);
USVA_UAPI_OFF(iommu_hwpt_vtd_s1_invalidate, npages, 8);
USVA_UAPI_OFF(iommu_hwpt_vtd_s1_invalidate, flags, 16);
USVA_UAPI_CHECK(iommu_hwpt_invalidate, 32);
USVA_UAPI_OFF(iommu_hwpt_invalidate, hwpt_id, 4);
USVA_UAPI_OFF(iommu_hwpt_invalidate, data_uptr, 8);
USVA_UAPI_OFF(iommu_hwpt_invalidate, data_type, 16);
USVA_UAPI_OFF(iommu_hwpt_invalidate, entry_len, 20);
USVA_UAPI_OFF(iommu_hwpt_invalidate, entry_num, 24);
USVA_UAPI_OFF(iommu_hwpt_invalidate, __reserved, 28);

USVA_UAPI_CHECK(iommu_hwpt_pgfault, 40);
USVA_UAPI_OFF(iommu_hwpt_pgfault, dev_id, 4);
USVA_UAPI_OFF(iommu_hwpt_pgfault, pasid, 8);
USVA_UAPI_OFF(iommu_hwpt_pgfault, grpid, 12);
USVA_UAPI_OFF(iommu_hwpt_pgfault, perm, 16);
USVA_UAPI_OFF(iommu_hwpt_pgfault, addr, 24);
USVA_UAPI_OFF(iommu_hwpt_pgfault, length, 32);
USVA_UAPI_OFF(iommu_hwpt_pgfault, cookie, 36);
USVA_UAPI_CHECK(iommu_hwpt_page_response, 8);
USVA_UAPI_OFF(iommu_hwpt_page_response, code, 4);
USVA_UAPI_CHECK(iommu_fault_alloc, 16);
USVA_UAPI_OFF(iommu_fault_alloc, flags, 4);
USVA_UAPI_OFF(iommu_fault_alloc, out_fault_id, 8);
USVA_UAPI_OFF(iommu_fault_alloc, out_fault_fd, 12);

#endif /* USVA_IOMMUFD_UAPI_H */
