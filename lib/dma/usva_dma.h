/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * SVA DMA devices: a poll-mode driver API shaped like DPDK's rte_dmadev.
 *
 * A device (the emu-dma engine, or a driver for real silicon) has virtual
 * channels (its work queues). Each channel works for one PASID by default:
 * addresses in operations are the application's own virtual addresses
 * (Shared Virtual Addressing), translated by the IOMMU through the stage-1
 * table of the address space attached at (device, PASID). Pages the table
 * lacks are faulted in by the fault service (lib/fault) while the device
 * waits (block-on-fault), or reported back (partial completion) for the
 * application to fix up and resubmit.
 *
 * Life cycle, as rte_dmadev: usva_dma_configure(), usva_dma_vchan_setup()
 * for each channel, usva_dma_start(); then enqueue (usva_dma_copy() and
 * friends, each returning the operation's ring index), usva_dma_submit()
 * (the doorbell), and usva_dma_completed() / usva_dma_completed_status()
 * to reap completions in ring order; usva_dma_stop(), usva_dma_close().
 *
 * Fast-path calls are static inline over a per-device function table; they
 * check their arguments only in debug builds (meson -Ddebug_checks=true).
 * One thread per channel on the fast path, as rte_dmadev.
 */
#ifndef USVA_DMA_H
#define USVA_DMA_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>

#include "usva_build_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most DMA devices at once. */
#define USVA_DMA_MAX_DEVS	16
/** Most virtual channels (work queues) per device. */
#define USVA_DMA_MAX_VCHANS	8
/** Longest device name, with its NUL. */
#define USVA_DMA_NAME_LEN	32

/** @name Capabilities (usva_dma_info.capa)
 * @{ */
#define USVA_DMA_CAPA_SVA		(1u << 0) /**< addresses are PASID VAs */
#define USVA_DMA_CAPA_BLOCK_ON_FAULT	(1u << 1) /**< fault mode: block */
#define USVA_DMA_CAPA_PARTIAL		(1u << 2) /**< fault mode: partial */
#define USVA_DMA_CAPA_COMPLETION_RECORD	(1u << 3) /**< records by DMA */
#define USVA_DMA_CAPA_FENCE		(1u << 4) /**< USVA_DMA_OP_F_FENCE */
#define USVA_DMA_CAPA_OP_COPY		(1u << 8)
#define USVA_DMA_CAPA_OP_MEMMOVE	(1u << 9)
#define USVA_DMA_CAPA_OP_FILL		(1u << 10)
#define USVA_DMA_CAPA_OP_COMPARE	(1u << 11)
#define USVA_DMA_CAPA_OP_COMPARE_PATTERN (1u << 12)
#define USVA_DMA_CAPA_OP_CRC32C		(1u << 13)
#define USVA_DMA_CAPA_OP_PREFETCH	(1u << 14)
/** @} */

/** What a device is and can do. */
struct usva_dma_info {
	char name[USVA_DMA_NAME_LEN];	/**< the device's name */
	uint64_t capa;		/**< USVA_DMA_CAPA_* */
	uint16_t max_vchans;	/**< channels it offers */
	uint16_t nb_vchans;	/**< configured */
	uint16_t min_desc;	/**< smallest ring of a channel */
	uint16_t max_desc;	/**< largest ring of a channel */
	uint64_t max_len;	/**< longest operation, bytes */
	uint32_t pasid_width;	/**< PASID bits; 0: no PASID */
	uint32_t reserved;	/**< 0 */
};

/** Device configuration (size-versioned). */
struct usva_dma_conf {
	uint32_t size;		/**< sizeof(struct usva_dma_conf) */
	uint32_t flags;		/**< none yet; must be 0 */
	uint16_t nb_vchans;	/**< 1..info.max_vchans */
	uint16_t reserved0;	/**< must be 0 */
	uint32_t reserved1;	/**< must be 0 */
	/* end of mandatory fields */
	uint64_t reserved[2];	/**< must be 0 */
};

/** How a channel's operations meet a translation fault. */
enum usva_dma_fault_mode {
	/** Raise a page request, park the operation (other channels go
	 *  on), retry after the response; an INVALID response ends it with
	 *  USVA_DMA_STATUS_PAGE_FAULT. */
	USVA_DMA_FAULT_BLOCK = 0,
	/** End the operation at once with USVA_DMA_STATUS_PAGE_FAULT, the
	 *  fault address, whether it was a write and the bytes completed
	 *  (see usva_dma_resubmit_fault()). */
	USVA_DMA_FAULT_PARTIAL = 1,
};

/** Channel configuration (size-versioned). */
struct usva_dma_vchan_conf {
	uint32_t size;		/**< sizeof(struct usva_dma_vchan_conf) */
	uint32_t flags;		/**< none yet; must be 0 */
	uint16_t nb_desc;	/**< ring entries: power of two within
				 *   [info.min_desc, info.max_desc] */
	uint16_t fault_mode;	/**< enum usva_dma_fault_mode */
	uint32_t pasid;		/**< PASID of operations that name none */
	/* end of mandatory fields */
	uint64_t reserved[2];	/**< must be 0 */
};

/** @name Operation codes (usva_dma_op.opcode)
 * @{ */
#define USVA_DMA_OP_NOP			0 /**< completes; touches nothing */
#define USVA_DMA_OP_COPY		1 /**< src -> dst; overlap is an error */
#define USVA_DMA_OP_MEMMOVE		2 /**< src -> dst; overlap allowed */
#define USVA_DMA_OP_FILL		3 /**< 8-byte pattern -> dst */
#define USVA_DMA_OP_COMPARE		4 /**< src with dst */
#define USVA_DMA_OP_COMPARE_PATTERN	5 /**< src with the 8-byte pattern */
/** CRC32C (Castagnoli, reflected, as iSCSI and SSE4.2's crc32) of src,
 *  from the seed in the low 32 bits of usva_dma_op.pattern: the result is
 *  ~crc(~seed, data), so seed 0 gives the standard CRC32C ("123456789":
 *  0xE3069283) and the CRC of a || b is the CRC of b seeded with the CRC
 *  of a. */
#define USVA_DMA_OP_CRC32C		6
/** Fetch the translations of [src, src + len) (DSA's translation fetch):
 *  faults them in (block-on-fault, whatever the channel's mode), copies
 *  nothing. With USVA_DMA_OP_F_WRITE_FETCH it asks for write access. */
#define USVA_DMA_OP_PREFETCH		7
/** @} */

/** @name Operation flags (usva_dma_op.flags and the enqueue calls)
 * @{ */
/** Start only after every earlier operation of the channel completed. */
#define USVA_DMA_OP_F_FENCE		(1u << 0)
/** Ring the doorbell after this one (saves a usva_dma_submit()). */
#define USVA_DMA_OP_F_SUBMIT		(1u << 1)
/** Also write a completion record by DMA at usva_dma_op.cr_addr. */
#define USVA_DMA_OP_F_COMPLETION_RECORD	(1u << 2)
/** PREFETCH: fetch for writing. */
#define USVA_DMA_OP_F_WRITE_FETCH	(1u << 3)
/** Use usva_dma_op.pasid instead of the channel's PASID. */
#define USVA_DMA_OP_F_PASID		(1u << 4)
/** @} */

/** One operation, in full (usva_dma_enqueue()). */
struct usva_dma_op {
	uint8_t opcode;		/**< USVA_DMA_OP_* */
	uint8_t reserved0;	/**< must be 0 */
	uint16_t flags;		/**< USVA_DMA_OP_F_* */
	uint32_t pasid;		/**< with USVA_DMA_OP_F_PASID */
	uint64_t src;		/**< source (COPY, MEMMOVE, COMPARE*, CRC32C,
				 *   PREFETCH) */
	uint64_t dst;		/**< destination (COPY, MEMMOVE, FILL), or the
				 *   second source (COMPARE) */
	uint64_t len;		/**< bytes, 1..info.max_len */
	uint64_t pattern;	/**< FILL, COMPARE_PATTERN (little-endian,
				 *   repeated); CRC32C: the seed (low 32 bits) */
	uint64_t cr_addr;	/**< completion record (32-byte aligned) */
};

/** Per-operation status codes (as rte_dma_status_code). */
enum usva_dma_status {
	USVA_DMA_STATUS_SUCCESS = 0,
	/** Translation fault not resolved: an INVALID response (block), or
	 *  any fault (partial). fault_addr, fault_write and bytes say
	 *  where. */
	USVA_DMA_STATUS_PAGE_FAULT = 1,
	USVA_DMA_STATUS_INVALID_OPCODE = 2,
	USVA_DMA_STATUS_INVALID_LENGTH = 3,	/**< 0 or over max_len */
	USVA_DMA_STATUS_INVALID_OVERLAP = 4,	/**< COPY with overlap */
	USVA_DMA_STATUS_INVALID_FLAGS = 5,	/**< unknown or misused flag;
						 *   unaligned cr_addr */
	/** Nothing attached at the PASID (or it was detached meanwhile),
	 *  or a PASID beyond the device's width. */
	USVA_DMA_STATUS_PASID_INVALID = 6,
	/** Unrecoverable translation error (stage 2, bad entry): the IOMMU
	 *  reported it as an event. fault_addr says where. */
	USVA_DMA_STATUS_TRANSLATION_ERROR = 7,
	/** Dropped without being run: the channel stopped or the device
	 *  closed with it queued. */
	USVA_DMA_STATUS_NOT_ATTEMPTED = 8,
};

/** @name usva_dma_cpl.flags
 * @{ */
#define USVA_DMA_CPL_F_FAULT_WRITE	(1u << 0) /**< the fault was a write */
/** The completion record could not be written (its page faulted in
 *  partial mode, or its translation failed): only the ring has it. */
#define USVA_DMA_CPL_F_CR_LOST		(1u << 1)
/** @} */

/** One completion, as usva_dma_completed_status() returns it. */
struct usva_dma_cpl {
	/** COMPARE*: 0 equal, 1 different; CRC32C: the CRC (on a
	 *  PAGE_FAULT: the CRC of the @p bytes done, the remainder's seed);
	 *  MEMMOVE that ended PAGE_FAULT while copying from the end
	 *  (destination above an overlapping source): 1, and @p bytes
	 *  counts the bytes done at the end of the buffers; else 0. */
	uint64_t result;
	uint64_t bytes;		/**< bytes completed (COMPARE*: before the
				 *   first difference) */
	uint64_t fault_addr;	/**< PAGE_FAULT / TRANSLATION_ERROR */
	uint16_t status;	/**< enum usva_dma_status */
	uint16_t flags;		/**< USVA_DMA_CPL_F_* */
	uint16_t ring_idx;	/**< the operation's ring index */
	uint8_t opcode;		/**< the operation's USVA_DMA_OP_* */
	uint8_t reserved;	/**< 0 */
};

/**
 * Completion record, written by the device into application memory
 * (USVA_DMA_OP_F_COMPLETION_RECORD): the body first, then @p status with
 * USVA_DMA_CR_DONE set, so a reader that sees DONE (acquire load) sees the
 * body.
 */
struct usva_dma_cr {
	uint8_t status;		/**< USVA_DMA_CR_DONE | enum usva_dma_status */
	uint8_t flags;		/**< USVA_DMA_CPL_F_FAULT_WRITE */
	uint16_t reserved0;	/**< 0 */
	uint32_t reserved1;	/**< 0 */
	uint64_t bytes;		/**< as usva_dma_cpl.bytes */
	uint64_t fault_addr;	/**< as usva_dma_cpl.fault_addr */
	uint64_t result;	/**< as usva_dma_cpl.result */
};
#define USVA_DMA_CR_DONE	0x80u	/**< usva_dma_cr.status: written */

/** Channel counters. */
struct usva_dma_stats {
	uint64_t submitted;	/**< operations the device was given */
	uint64_t completed;	/**< ended, whatever their status */
	uint64_t errors;	/**< ended with a status other than SUCCESS */
	uint64_t page_requests;	/**< page requests raised */
	uint64_t fault_retries;	/**< retries after a SUCCESS response */
	uint64_t page_faults;	/**< ended PAGE_FAULT */
	uint64_t bytes;		/**< bytes moved, filled or read */
};

/* ---- control path ---------------------------------------------------------- */

/** Devices registered now. */
uint16_t usva_dma_count(void);

/** @return the device id of @p name; -ENODEV. */
int usva_dma_get_dev_id_by_name(const char *name);

/** True if @p dev_id names a registered device. */
bool usva_dma_is_valid(int16_t dev_id);

/** @return 0; -EINVAL (bad id, NULL @p info). */
int usva_dma_info_get(int16_t dev_id, struct usva_dma_info *info);

/**
 * Configure a stopped device: the number of channels. Channels set up
 * earlier are dropped.
 * @return 0; -EFAULT (@p conf NULL), -EINVAL (bad id or field, naming
 *         it), -EBUSY (started),
 *         -EOPNOTSUPP (flags), -E2BIG (unknown non-zero tail).
 */
int usva_dma_configure(int16_t dev_id, const struct usva_dma_conf *conf);

/**
 * Set up channel @p vchan of a configured, stopped device: ring size,
 * fault mode, default PASID (need not be attached yet: operations check
 * at run time).
 * @return 0; -EFAULT (@p conf NULL); -EINVAL (bad id, vchan, nb_desc,
 *         PASID beyond the device's
 *         width, fault mode unknown), -EOPNOTSUPP (a fault mode or flag
 *         the device lacks), -EBUSY (started), -E2BIG, -ENOMEM.
 */
int usva_dma_vchan_setup(int16_t dev_id, uint16_t vchan,
			 const struct usva_dma_vchan_conf *conf);

/** Start: every channel must be set up. Ring indices start again at 0;
 *  completions not reaped before are dropped.
 *  @return 0; -EINVAL; -EALREADY. */
int usva_dma_start(int16_t dev_id);

/**
 * Stop: the device finishes the operation it runs on each channel (a
 * parked one waits for its page response, or ends PAGE_FAULT if none can
 * come), ends the rest NOT_ATTEMPTED, and stops fetching. The stopped
 * device's completions (all of what was submitted) can still be reaped
 * with usva_dma_completed() / usva_dma_completed_status() until the
 * next configure, vchan setup, start or close; enqueue and submit fail
 * -EINVAL and usva_dma_burst_capacity() is 0 until the next start.
 * @return 0; -EINVAL; -EALREADY.
 */
int usva_dma_stop(int16_t dev_id);

/** Close a stopped device and free it. @return 0; -EINVAL; -EBUSY. */
int usva_dma_close(int16_t dev_id);

/** @return 0; -EINVAL. @p vchan USVA_DMA_ALL_VCHAN: the sum. */
int usva_dma_stats_get(int16_t dev_id, uint16_t vchan,
		       struct usva_dma_stats *st);
/** usva_dma_stats_get() @p vchan: every channel, summed. */
#define USVA_DMA_ALL_VCHAN	0xffffu

/** Print the device's state. @return 0; -EINVAL. */
int usva_dma_dump(int16_t dev_id, FILE *f);

/**
 * Partial-completion fix-up: given the completion @p cpl of operation
 * *@p op that ended PAGE_FAULT, enqueue a PREFETCH of the faulting page
 * (which the device faults in through the PASID's fault handler and pager,
 * whatever the channel's mode) and then, fenced behind it, the remainder
 * of *@p op, and make *@p op that remainder: a loop passes the same @p op
 * again if the remainder faults in turn.
 *
 * The remainder is *@p op advanced by cpl->bytes, with USVA_DMA_OP_F_FENCE,
 * FILL/COMPARE_PATTERN patterns rotated to keep their phase, a CRC32C
 * seeded with cpl->result (the CRC so far), and a MEMMOVE that copied from
 * the end (cpl->result 1) only shortened. The PREFETCH has no completion
 * record; the remainder keeps the operation's flags (SUBMIT included) and
 * record address.
 * @return the remainder's ring index; -EINVAL (NULL pointer, bad id or
 *         channel, @p cpl is not a PAGE_FAULT of *@p op's opcode, or bytes
 *         not below len; *@p op unchanged), -ENOSPC (no room for two
 *         entries; nothing enqueued, *@p op unchanged).
 */
int usva_dma_resubmit_fault(int16_t dev_id, uint16_t vchan,
			    struct usva_dma_op *op,
			    const struct usva_dma_cpl *cpl);

/* ---- fast path ---------------------------------------------------------------- */

/** @cond INTERNAL */
/** Per-device fast-path table, filled by the driver at start. */
struct usva_dma_fp_ops {
	void *ctx;
	int (*enqueue)(void *ctx, uint16_t vchan, const struct usva_dma_op *op);
	int (*submit)(void *ctx, uint16_t vchan);
	uint16_t (*completed)(void *ctx, uint16_t vchan, uint16_t nb,
			      uint16_t *last_idx, bool *has_error);
	uint16_t (*completed_status)(void *ctx, uint16_t vchan, uint16_t nb,
				     uint16_t *last_idx,
				     struct usva_dma_cpl *cpl);
	uint16_t (*burst_capacity)(void *ctx, uint16_t vchan);
} __rte_cache_aligned;

extern struct usva_dma_fp_ops usva_dma_fp[USVA_DMA_MAX_DEVS];
/** @endcond */

/**
 * Enqueue one operation on channel @p vchan of started device @p dev_id.
 * Argument checks (id, started, vchan) only in debug builds; the device
 * checks the operation itself when it runs it and reports a bad one in
 * its status.
 * @return the ring index (0..65535, wrapping); -ENOSPC (ring full:
 *         reap completions first).
 */
static inline int
usva_dma_enqueue(int16_t dev_id, uint16_t vchan, const struct usva_dma_op *op)
{
	struct usva_dma_fp_ops *fp = &usva_dma_fp[dev_id];

#if USVA_DEBUG_CHECKS
	if (dev_id < 0 || dev_id >= USVA_DMA_MAX_DEVS || fp->enqueue == NULL ||
	    op == NULL)
		return -EINVAL;
#endif
	return fp->enqueue(fp->ctx, vchan, op);
}

/** Copy @p len bytes (no overlap). As usva_dma_enqueue(). */
static inline int
usva_dma_copy(int16_t dev_id, uint16_t vchan, uint64_t src, uint64_t dst,
	      uint64_t len, uint16_t flags)
{
	struct usva_dma_op op = { .opcode = USVA_DMA_OP_COPY, .flags = flags,
				  .src = src, .dst = dst, .len = len };

	return usva_dma_enqueue(dev_id, vchan, &op);
}

/** Fill @p len bytes at @p dst with the 8-byte @p pattern. */
static inline int
usva_dma_fill(int16_t dev_id, uint16_t vchan, uint64_t pattern, uint64_t dst,
	      uint64_t len, uint16_t flags)
{
	struct usva_dma_op op = { .opcode = USVA_DMA_OP_FILL, .flags = flags,
				  .dst = dst, .len = len, .pattern = pattern };

	return usva_dma_enqueue(dev_id, vchan, &op);
}

/** Compare @p len bytes at @p a and @p b (result 0: equal). */
static inline int
usva_dma_compare(int16_t dev_id, uint16_t vchan, uint64_t a, uint64_t b,
		 uint64_t len, uint16_t flags)
{
	struct usva_dma_op op = { .opcode = USVA_DMA_OP_COMPARE,
				  .flags = flags, .src = a, .dst = b,
				  .len = len };

	return usva_dma_enqueue(dev_id, vchan, &op);
}

/** Ring the doorbell: the device may start what was enqueued.
 *  @return 0 (debug builds: -EINVAL for a bad id). */
static inline int
usva_dma_submit(int16_t dev_id, uint16_t vchan)
{
	struct usva_dma_fp_ops *fp = &usva_dma_fp[dev_id];

#if USVA_DEBUG_CHECKS
	if (dev_id < 0 || dev_id >= USVA_DMA_MAX_DEVS || fp->submit == NULL)
		return -EINVAL;
#endif
	return fp->submit(fp->ctx, vchan);
}

/**
 * Reap up to @p nb completed operations, in ring order, stopping before
 * the first that did not succeed (as rte_dma_completed()): *@p has_error
 * says one is next; reap it with usva_dma_completed_status().
 * @param last_idx  receives the ring index of the last one reaped.
 * @return the number reaped.
 */
static inline uint16_t
usva_dma_completed(int16_t dev_id, uint16_t vchan, uint16_t nb,
		   uint16_t *last_idx, bool *has_error)
{
	struct usva_dma_fp_ops *fp = &usva_dma_fp[dev_id];

#if USVA_DEBUG_CHECKS
	if (dev_id < 0 || dev_id >= USVA_DMA_MAX_DEVS || fp->completed == NULL)
		return 0;
#endif
	return fp->completed(fp->ctx, vchan, nb, last_idx, has_error);
}

/**
 * Reap up to @p nb completed operations, in ring order, each with its
 * status and details in @p cpl[i].
 * @return the number reaped.
 */
static inline uint16_t
usva_dma_completed_status(int16_t dev_id, uint16_t vchan, uint16_t nb,
			  uint16_t *last_idx, struct usva_dma_cpl *cpl)
{
	struct usva_dma_fp_ops *fp = &usva_dma_fp[dev_id];

#if USVA_DEBUG_CHECKS
	if (dev_id < 0 || dev_id >= USVA_DMA_MAX_DEVS ||
	    fp->completed_status == NULL || cpl == NULL)
		return 0;
#endif
	return fp->completed_status(fp->ctx, vchan, nb, last_idx, cpl);
}

/** Free ring entries: how many enqueues can succeed now. */
static inline uint16_t
usva_dma_burst_capacity(int16_t dev_id, uint16_t vchan)
{
	struct usva_dma_fp_ops *fp = &usva_dma_fp[dev_id];

#if USVA_DEBUG_CHECKS
	if (dev_id < 0 || dev_id >= USVA_DMA_MAX_DEVS ||
	    fp->burst_capacity == NULL)
		return 0;
#endif
	return fp->burst_capacity(fp->ctx, vchan);
}

/** Name of a status code ("SUCCESS", "PAGE_FAULT", ...). */
const char *usva_dma_status_str(uint16_t status);

#ifdef __cplusplus
}
#endif

#endif /* USVA_DMA_H */
