/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * emu backend: the device side of the emulated nesting IOMMU.
 *
 * An emulated device (emu-dma, tests) reaches memory only through these
 * calls, with a PASID: the model walks the stage-1 table of the domain
 * attached at (device, PASID) with the format's code, checks permissions,
 * sets accessed/dirty bits as the format says, translates every table and
 * output address through stage 2, and caches translations in an IOTLB (and
 * a device TLB for ATS devices) that it keeps using until invalidated.
 *
 * An access that misses returns a recoverable fault the device may turn
 * into a page request (PRI), or an unrecoverable one, which the model has
 * already reported to the instance's event ring. Memory outside stage 2 is
 * never touched.
 *
 * This is a driver-specific API (as DPDK's rte_pmd_*.h): lib/ never
 * includes it.
 */
#ifndef USVA_EMU_H
#define USVA_EMU_H

#include <stdbool.h>
#include <stdint.h>

#include "usva_iommu.h"
#include "usva_iommu_fault.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Why a translation failed. */
enum usva_emu_fault_reason {
	USVA_EMU_OK = 0,
	/* recoverable: a page request may resolve these */
	USVA_EMU_S1_NOT_PRESENT = 1,	/**< no stage-1 leaf */
	USVA_EMU_S1_PERM,		/**< leaf lacks the access right */
	/* unrecoverable: reported as events */
	USVA_EMU_S1_BAD_ENTRY,		/**< reserved bits / bad encoding */
	USVA_EMU_S2_FAULT,		/**< table or page outside stage 2 */
	USVA_EMU_BAD_PASID,		/**< nothing attached / out of range */
	USVA_EMU_NON_CANONICAL,		/**< address the format rejects */
	USVA_EMU_BAD_CD,		/**< PASID table: invalid or illegal
					 *   context descriptor (C_BAD_CD) */
	USVA_EMU_ABORTED,		/**< PASID table in ABORT mode: no
					 *   event (STE.Config 0b000) */
};

/** A translation, or why there is none. */
struct usva_emu_xlate {
	void *host;		/**< process pointer for the address */
	uint64_t len;		/**< bytes contiguous from @p host, to the end
				 *   of the leaf (and of the stage-2 mapping) */
	uint32_t reason;	/**< enum usva_emu_fault_reason */
	uint32_t prot;		/**< USVA_PROT_* granted by the leaf */
	bool cached;		/**< served by the IOTLB or device TLB */
	uint16_t stag;		/**< -EAGAIN: the stall tag */
};

/**
 * Translate one access of device @p dev.
 * @param access  USVA_ACCESS_* (READ or WRITE, EXEC, PRIV).
 * @return 0 and @p x; -EFAULT with x->reason recoverable (page request
 *         possible); -EIO with x->reason unrecoverable (event raised);
 *         -EAGAIN with x->reason recoverable: the transaction stalled
 *         (a USVA_DEV_F_STALL device whose context stalls): its fault
 *         record is queued with stall tag x->stag; the device waits for
 *         the resume in usva_emu_dev_responses() (flags
 *         USVA_PREQ_F_STALL, grpid = the tag): SUCCESS retry, else the
 *         access is terminated; -ENODEV if @p dev is not an emu device.
 *         On a device with a PASID table, PASID 0 is DMA without a PASID
 *         (S1DSS decides); a BYPASS table translates it by stage 2 alone.
 * Thread-safe; lock-free against other translations of other PASIDs.
 */
int usva_emu_translate(struct usva_iommu_dev *dev, uint32_t pasid,
		       uint64_t addr, uint32_t access,
		       struct usva_emu_xlate *x);

/**
 * Open a DMA section on the calling lcore, for a device that copies through
 * the host pointers usva_emu_translate() gives (x.host): until
 * usva_emu_dma_end(), those pointers stay valid — a stage-2 unmap, an
 * invalidation call, a detach or a domain's destruction waits for the
 * section to end before it returns, as hardware completes the DMA in flight
 * before an invalidation wait completes. usva_emu_dma_read() and friends
 * open one of their own. Sections nest. Keep them short (a burst of
 * copies): call no control function of the instance, and raise no page
 * request, inside one (either may wait for the section itself).
 * @return 0; -ENODEV (not an emu device); -EPERM (the calling thread has
 *         no lcore id: use usva_emu_dma_read()/write() there).
 */
int usva_emu_dma_begin(struct usva_iommu_dev *dev);

/** Close the section usva_emu_dma_begin() opened. */
void usva_emu_dma_end(struct usva_iommu_dev *dev);

/** usva_emu_dma_fault.flags */
#define USVA_EMU_DMA_F_STALLED	(1u << 0)	/**< stopped on a stall */

/** Where a DMA stopped. */
struct usva_emu_dma_fault {
	uint64_t addr;		/**< first address not done */
	uint32_t access;	/**< USVA_ACCESS_* that faulted */
	uint32_t reason;	/**< enum usva_emu_fault_reason */
	uint32_t flags;		/**< USVA_EMU_DMA_F_* */
	uint32_t stag;		/**< USVA_EMU_DMA_F_STALLED: the stall tag (the
				 *   DMA resumes from @p addr after the
				 *   resume) */
};

/**
 * DMA read from the device's view: copy [addr, addr + len) of @p pasid to
 * @p buf. Stops at the first fault.
 * @return bytes copied (len when complete); when short, @p f says where
 *         and why (-ENODEV for a non-emu device).
 */
int64_t usva_emu_dma_read(struct usva_iommu_dev *dev, uint32_t pasid,
			  uint64_t addr, void *buf, uint64_t len,
			  struct usva_emu_dma_fault *f);

/** DMA write: copy @p buf to [addr, addr + len). As usva_emu_dma_read(). */
int64_t usva_emu_dma_write(struct usva_iommu_dev *dev, uint32_t pasid,
			   uint64_t addr, const void *buf, uint64_t len,
			   struct usva_emu_dma_fault *f);

/**
 * DMA compare of [addr, addr + len) with @p buf.
 * @return bytes compared equal before the first difference or fault
 *         (len: all equal); @p f set on a fault, f->reason USVA_EMU_OK on
 *         a difference.
 */
int64_t usva_emu_dma_compare(struct usva_iommu_dev *dev, uint32_t pasid,
			     uint64_t addr, const void *buf, uint64_t len,
			     struct usva_emu_dma_fault *f);

/** A page request as the device raises it. */
struct usva_emu_prq_desc {
	uint64_t addr;		/**< any address in the page */
	uint64_t private_data[2]; /**< echoed in the response */
	uint32_t pasid;		/**< the request's PASID */
	uint32_t grpid;		/**< group index, < 512 (9 bits, as PRI) */
	uint16_t perm;		/**< USVA_ACCESS_* */
	uint16_t flags;		/**< USVA_PREQ_F_LAST, _PRIV_DATA */
};

/**
 * Raise a page request (PCIe PRI) from @p dev.
 * @return 0 queued; 1 the queue was full: the IOMMU auto-answered the
 *         group SUCCESS (when @p d is its last request) and counted the
 *         overflow — the device retries its access and faults again;
 *         -EBUSY the device is at its PRI capacity (outstanding requests);
 *         -EPERM PRI disabled (after a FAILURE response, until
 *         usva_emu_dev_pri_enable()) or the device has no PRI; -EINVAL bad
 *         group index or PASID; -ENODEV not an emu device.
 */
int usva_emu_page_request(struct usva_iommu_dev *dev,
			  const struct usva_emu_prq_desc *d);

/** A response as the device receives it (a stall device: a resume, flags
 *  USVA_PREQ_F_STALL, grpid the stall tag). */
struct usva_emu_prg_resp {
	uint32_t pasid;		/**< of the group */
	uint32_t grpid;		/**< group index (a stall tag for stalls) */
	uint16_t code;		/**< enum usva_page_resp_code */
	uint16_t flags;		/**< USVA_PREQ_F_* echoed */
	uint32_t reserved;	/**< 0 */
	uint64_t private_data[2]; /**< the group's, echoed */
};

/**
 * Take up to @p n page group responses addressed to @p dev, oldest first.
 * One consumer per device.
 * @return the number taken.
 */
int usva_emu_dev_responses(struct usva_iommu_dev *dev,
			   struct usva_emu_prg_resp *out, unsigned int n);

/** Re-enable PRI after a FAILURE response. @return 0; -ENODEV. */
int usva_emu_dev_pri_enable(struct usva_iommu_dev *dev);

/** True while PRI is enabled on @p dev. */
bool usva_emu_dev_pri_enabled(struct usva_iommu_dev *dev);

/* ---- the context descriptor the model walks ---------------------------- */

/**
 * @name SMMUv3 context descriptor (CD), as the smmuv3 flavour reads it
 * A CD is 64 bytes, eight little-endian 64-bit words; the model reads
 * words 0 and 1 (doc/emu-model.md has the table and what is refused).
 * A level-1 descriptor of a 2-level table is one word.
 * @{ */
#define USVA_EMU_CD_SIZE		64u
#define USVA_EMU_CD0_T0SZ_MASK		UINT64_C(0x3f)	/**< [5:0] */
#define USVA_EMU_CD0_TG0_SHIFT		6		/**< [7:6] 0 = 4 KiB */
#define USVA_EMU_CD0_TG0_MASK		(UINT64_C(3) << 6)
#define USVA_EMU_CD0_EPD0		(UINT64_C(1) << 14)
#define USVA_EMU_CD0_ENDI		(UINT64_C(1) << 15)
#define USVA_EMU_CD0_EPD1		(UINT64_C(1) << 30)
#define USVA_EMU_CD0_V			(UINT64_C(1) << 31)
#define USVA_EMU_CD0_IPS_48		(UINT64_C(5) << 32)
#define USVA_EMU_CD0_AFFD		(UINT64_C(1) << 35)
#define USVA_EMU_CD0_AA64		(UINT64_C(1) << 41)
#define USVA_EMU_CD0_HD			(UINT64_C(1) << 42)
#define USVA_EMU_CD0_HA			(UINT64_C(1) << 43)
#define USVA_EMU_CD0_S			(UINT64_C(1) << 44)
#define USVA_EMU_CD0_R			(UINT64_C(1) << 45)
#define USVA_EMU_CD0_A			(UINT64_C(1) << 46)
#define USVA_EMU_CD0_ASET		(UINT64_C(1) << 47)
#define USVA_EMU_CD0_ASID_SHIFT		48		/**< [63:48] */
#define USVA_EMU_CD1_TTB0_MASK		UINT64_C(0x000ffffffffffff0) /**< [51:4] */
#define USVA_EMU_L1CD_V			(UINT64_C(1) << 0)
#define USVA_EMU_L1CD_L2PTR_MASK	UINT64_C(0x000ffffffffff000) /**< [51:12] */
/** @} */

/**
 * Make an invalidation entry fail: the @p nth entry executed from now on
 * (1-based, counted per instance) fails with @p err (e.g. -EIO for an
 * ITE-like device TLB timeout, -EINVAL for an ICE-like bad descriptor).
 * 0 disarms. For tests.
 * @return 0; -ENODEV not an emu instance.
 */
int usva_emu_inval_fail_nth(struct usva_iommu *iommu, uint32_t nth, int err);

/**
 * Outstanding page request groups of the instance (requests queued or
 * handed to software and not answered yet), stalled transactions included.
 */
uint32_t usva_emu_outstanding_groups(struct usva_iommu *iommu);

#ifdef __cplusplus
}
#endif

#endif /* USVA_EMU_H */
