/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * emu-dma: a DSA-like copy engine on the emu IOMMU (driver-specific API, as
 * DPDK's rte_pmd_*.h). Create one on an emu device (usva_iommu_dev_open()
 * with PRI for block-on-fault); it registers a usva_dma device that the
 * generic API (usva_dma.h) drives.
 *
 * The engine reaches memory only through the emu IOMMU (usva_emu.h), with
 * the operation's PASID: every byte it moves is translated by the stage-1
 * table attached there. It runs:
 *  - as an EAL service component (usva_emu_dma_service_id(); the
 *    application maps it onto a service lcore), or
 *  - on an lcore of its own (usva_emu_dma_launch()), or
 *  - from the caller, one iteration at a time (usva_emu_dma_poll()), for
 *    tests and single-threaded programs.
 * Only one of them at a time.
 */
#ifndef USVA_EMU_DMA_H
#define USVA_EMU_DMA_H

#include <stdint.h>

#include "usva_dma.h"
#include "usva_iommu.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name usva_emu_dma_config.flags
 * @{ */
/** Register an EAL service component for the engine. */
#define USVA_EMU_DMA_F_SERVICE		(1u << 0)
/** @} */

/** emu-dma parameters (size-versioned). */
struct usva_emu_dma_config {
	uint32_t size;		/**< sizeof(struct usva_emu_dma_config) */
	uint32_t flags;		/**< USVA_EMU_DMA_F_* */
	const char *name;	/**< usva_dma device name, unique */
	struct usva_iommu_dev *dev; /**< an emu device: the engine's
				     *   requester id, PRI, ATS */
	/* end of mandatory fields */
	uint16_t max_vchans;	/**< work queues, 1..USVA_DMA_MAX_VCHANS;
				 *   0: 4 */
	uint16_t max_desc;	/**< largest ring, power of two, 64..32768;
				 *   0: 4096 */
	uint32_t max_inflight;	/**< operations a channel runs at once (its
				 *   engines: one may be parked on a fault
				 *   while the others go on), 1..16; 0: 4 */
	uint64_t max_len;	/**< longest operation; 0: 1 GiB */
	uint32_t fault_retries;	/**< SUCCESS responses after which a page
				 *   that still faults ends PAGE_FAULT;
				 *   0: 8 */
	uint32_t reserved0;	/**< must be 0 */
	uint64_t reserved[2];	/**< must be 0 */
};

/**
 * Create an engine and register its usva_dma device.
 * The engine is @p dev's one consumer of page responses: one engine per
 * device.
 * @return 0 and *@p dev_id; -EFAULT (@p cfg NULL), -EINVAL (bad field,
 *         naming it; @p dev not an emu device), -EBUSY (@p dev has an
 *         engine already), -EEXIST (name), -ENOSPC, -EOPNOTSUPP (flags),
 *         -E2BIG, -ENOMEM, or the EAL's error registering the service.
 */
int usva_emu_dma_create(const struct usva_emu_dma_config *cfg,
			int16_t *dev_id);

/**
 * The service id of an engine made with USVA_EMU_DMA_F_SERVICE.
 * @return the id (>= 0); -EINVAL (not an emu-dma device, no service).
 */
int32_t usva_emu_dma_service_id(int16_t dev_id);

/**
 * Run the engine on EAL worker lcore @p lcore (idle) until
 * usva_emu_dma_halt(). @return 0; -EINVAL; -EBUSY (lcore not idle, or the
 * engine runs already).
 */
int usva_emu_dma_launch(int16_t dev_id, unsigned int lcore);

/** Stop a launched engine and wait for its lcore. @return 0; -EINVAL;
 *  -EALREADY (not launched). */
int usva_emu_dma_halt(int16_t dev_id);

/**
 * Run one engine iteration from the calling thread: take page responses,
 * fetch submitted operations, run or resume what it can.
 * @return operations completed plus responses taken (0: idle, or another
 *         thread runs an iteration or a control call now); -EINVAL (not
 *         an emu-dma device); -EBUSY (launched); -EPERM (the calling
 *         thread has no lcore id: the engine's copies run in DMA sections
 *         of the emu IOMMU, usva_emu_dma_begin()).
 */
int usva_emu_dma_poll(int16_t dev_id);

/** Operations parked on a page request now (all channels). */
uint32_t usva_emu_dma_parked(int16_t dev_id);

#ifdef __cplusplus
}
#endif

#endif /* USVA_EMU_DMA_H */
