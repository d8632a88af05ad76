/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * SVA DMA devices: the driver interface (driver tier).
 *
 * A driver allocates a device slot with usva_dma_dev_register(), giving its
 * control-path ops; it fills usva_dma_fp[dev_id] when the device starts.
 * When it stops, the library points enqueue, submit and burst_capacity at
 * stubs (-EINVAL, 0) and keeps the driver's completed and
 * completed_status until configure or close, so the driver must keep its
 * rings readable until then; a slot not started holds stubs only. The library checks every argument of
 * the control path (ids, sizes, flags, reserved fields, state) before it
 * calls an op, so ops see only valid requests.
 */
#ifndef USVA_DMA_DRIVER_H
#define USVA_DMA_DRIVER_H

#include "usva_dma.h"

#ifdef __cplusplus
extern "C" {
#endif

struct usva_dma_dev;

/** Control-path ops of a device. Called under the library's lock. */
struct usva_dma_dev_ops {
	/** Fill what the device is (name, nb_vchans: the library's). */
	void (*info_get)(struct usva_dma_dev *dev, struct usva_dma_info *info);
	/** @p nb_vchans checked against max_vchans. @return 0 or -errno. */
	int (*configure)(struct usva_dma_dev *dev, uint16_t nb_vchans);
	/** @p conf loaded and checked (ring size, mode against capa). */
	int (*vchan_setup)(struct usva_dma_dev *dev, uint16_t vchan,
			   const struct usva_dma_vchan_conf *conf);
	/** Fill @p fp (ctx and every op). @return 0 or -errno. */
	int (*start)(struct usva_dma_dev *dev, struct usva_dma_fp_ops *fp);
	/** Stop as usva_dma_stop() says; return once the device is idle. */
	int (*stop)(struct usva_dma_dev *dev);
	/** Free the driver's state (the device is stopped). */
	void (*close)(struct usva_dma_dev *dev);
	/** Counters of @p vchan (USVA_DMA_ALL_VCHAN: summed). */
	int (*stats_get)(struct usva_dma_dev *dev, uint16_t vchan,
			 struct usva_dma_stats *st);
	/** Print the driver's state. */
	void (*dump)(struct usva_dma_dev *dev, FILE *f);
};

/** A registered device. */
struct usva_dma_dev {
	int16_t dev_id;				/**< immutable */
	char name[USVA_DMA_NAME_LEN];		/**< immutable */
	const struct usva_dma_dev_ops *ops;	/**< immutable */
	uint64_t capa;				/**< immutable: USVA_DMA_CAPA_* */
	uint16_t max_vchans;			/**< immutable */
	uint16_t min_desc;			/**< immutable */
	uint16_t max_desc;			/**< immutable */
	uint64_t max_len;			/**< immutable */
	uint32_t pasid_width;			/**< immutable */
	/* The library's, under its lock: */
	uint16_t nb_vchans;			/**< configured channels */
	uint32_t vchan_ready;			/**< bit per set-up channel */
	bool started;				/**< between start and stop */
	void *priv;				/**< the driver's */
};

/**
 * Register a device (slow path). The caller fills @p tmpl's immutable
 * fields (name, ops, capa, limits, priv); the library copies it.
 * @return 0 and *@p dev_id; -EINVAL (bad template, naming the field),
 *         -EEXIST (name taken), -ENOSPC (USVA_DMA_MAX_DEVS registered).
 */
int usva_dma_dev_register(const struct usva_dma_dev *tmpl, int16_t *dev_id);

/** The device of @p dev_id, or NULL. */
struct usva_dma_dev *usva_dma_dev_get(int16_t dev_id);

#ifdef __cplusplus
}
#endif

#endif /* USVA_DMA_DRIVER_H */
