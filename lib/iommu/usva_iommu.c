/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iommu: the backend-neutral layer. It validates every argument, owns
 * the generic objects and their lifetimes, and calls the backend's ops.
 *
 * Locks: `instances_lock` guards the instance slots and the backend table
 * after start-up; each instance's iommu->lock guards its lists, ids and
 * attachments, and is taken before a dev->lock. All of it is control path.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "usva_alloc.h"
#include "usva_as.h"
#include "usva_inval_internal.h"
#include "usva_iommu_driver.h"
#include "usva_log.h"
#include "usva_page_pool.h"
#include "usva_pasid.h"
#include "usva_struct.h"

#define MAX_BACKENDS 4
#define PAGE_MASK_4K UINT64_C(0xfff)

RTE_LOG_REGISTER(usva_logtype_iommu, usva.iommu, INFO);

struct usva_iommu_fp_ops usva_iommu_fp[USVA_IOMMU_MAX];

/* Backends register from constructors, before any lcore runs. */
static const struct usva_iommu_ops *backends[MAX_BACKENDS];

static pthread_mutex_t instances_lock = PTHREAD_MUTEX_INITIALIZER;
static struct usva_iommu *instances[USVA_IOMMU_MAX];	/* instances_lock */

/* A page pool mapped into stage 2 for the domains that need it. */
struct usva_pool_s2_map {
	struct usva_pool_s2_map *next;	/* iommu->lock */
	struct usva_page_pool *pool;
	uint32_t refs;			/* domains using it; iommu->lock */
};

int
usva_iommu_backend_register(const struct usva_iommu_ops *ops)
{
	unsigned int i;

	if (ops == NULL || ops->name == NULL || ops->open == NULL ||
	    ops->close == NULL || ops->s2_map == NULL || ops->s2_unmap == NULL ||
	    ops->dev_open == NULL || ops->dev_close == NULL ||
	    ops->domain_init == NULL || ops->domain_fini == NULL ||
	    ops->attach == NULL || ops->detach == NULL) {
		USVA_LOG(ERR, iommu, "IOMMU backend with incomplete ops");
		return -EINVAL;
	}
	for (i = 0; i < MAX_BACKENDS && backends[i] != NULL; i++) {
		if (strcmp(backends[i]->name, ops->name) == 0) {
			USVA_LOG(ERR, iommu, "IOMMU backend %s registered twice",
				 ops->name);
			return -EEXIST;
		}
	}
	if (i == MAX_BACKENDS)
		return -ENOSPC;
	backends[i] = ops;
	return 0;
}

static const struct usva_iommu_ops *
backend_find(const char *name)
{
	for (unsigned int i = 0; i < MAX_BACKENDS && backends[i] != NULL; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

/* ---- open / close -------------------------------------------------------- */

static int
iommu_config_load(const struct usva_iommu_config *ucfg,
		  struct usva_iommu_config *cfg)
{
	int rc = USVA_CONFIG_LOAD(cfg, ucfg, backend, reserved,
				  USVA_IOMMU_F_STRICT);

	if (rc == 0 && cfg->backend == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_open: no backend named");
		rc = -EINVAL;
	}
	return rc;
}

static int
slot_claim(struct usva_iommu *iommu)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&instances_lock);
	for (uint16_t i = 0; i < USVA_IOMMU_MAX; i++) {
		if (instances[i] == NULL) {
			instances[i] = iommu;
			iommu->id = i;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&instances_lock);
	if (rc)
		USVA_LOG(ERR, iommu, "usva_iommu_open: %u instances already open",
			 USVA_IOMMU_MAX);
	return rc;
}

static void
slot_release(struct usva_iommu *iommu)
{
	pthread_mutex_lock(&instances_lock);
	memset(&usva_iommu_fp[iommu->id], 0, sizeof(usva_iommu_fp[0]));
	instances[iommu->id] = NULL;
	pthread_mutex_unlock(&instances_lock);
}

static int
pasids_setup(struct usva_iommu *iommu, struct usva_pasid_space *given)
{
	struct usva_pasid_space_config pc = {
		.size = sizeof(pc),
		.width = iommu->caps.pasid_width,
	};
	int rc;

	if (given != NULL) {
		iommu->pasids = given;
		return 0;
	}
	if (pc.width == 0 || pc.width > USVA_MAX_PASID_WIDTH)
		pc.width = USVA_MAX_PASID_WIDTH;
	rc = usva_pasid_space_create(&pc, &iommu->pasids);
	if (rc == 0)
		iommu->own_pasids = true;
	return rc;
}

int
usva_iommu_open(const struct usva_iommu_config *ucfg, struct usva_iommu **out)
{
	const struct usva_iommu_ops *ops;
	struct usva_iommu_config cfg;
	struct usva_iommu *iommu;
	int rc;

	if (out == NULL)
		return -EINVAL;
	rc = iommu_config_load(ucfg, &cfg);
	if (rc)
		return rc;
	ops = backend_find(cfg.backend);
	if (ops == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_open: no backend '%s'",
			 cfg.backend);
		return -ENODEV;
	}
	iommu = usva_zmalloc(sizeof(*iommu));
	if (iommu == NULL)
		return -ENOMEM;
	iommu->ops = ops;
	iommu->flags = cfg.flags;
	pthread_mutex_init(&iommu->lock, NULL);
	TAILQ_INIT(&iommu->devs);
	TAILQ_INIT(&iommu->domains);
	iommu->next_dev_id = 1;
	iommu->next_domain_id = 1;
	if (ops->iommu_priv_size) {
		iommu->priv = usva_zmalloc_aligned(ops->iommu_priv_size,
						   RTE_CACHE_LINE_SIZE);
		if (iommu->priv == NULL) {
			rc = -ENOMEM;
			goto err_free;
		}
	}
	rc = slot_claim(iommu);
	if (rc)
		goto err_priv;
	rc = ops->open(iommu, cfg.params);
	if (rc)
		goto err_slot;
	rc = pasids_setup(iommu, cfg.pasids);
	if (rc)
		goto err_close;
	*out = iommu;
	return 0;

err_close:
	ops->close(iommu);
err_slot:
	slot_release(iommu);
err_priv:
	usva_free(iommu->priv);
err_free:
	pthread_mutex_destroy(&iommu->lock);
	usva_free(iommu);
	return rc;
}

int
usva_iommu_close(struct usva_iommu *iommu)
{
	if (iommu == NULL)
		return 0;
	pthread_mutex_lock(&iommu->lock);
	if (!TAILQ_EMPTY(&iommu->devs) || !TAILQ_EMPTY(&iommu->domains) ||
	    iommu->pool_maps != NULL) {
		pthread_mutex_unlock(&iommu->lock);
		USVA_LOG(ERR, iommu, "usva_iommu_close: devices, domains or "
			 "pool mappings remain");
		return -EBUSY;
	}
	pthread_mutex_unlock(&iommu->lock);
	iommu->ops->close(iommu);
	slot_release(iommu);
	if (iommu->own_pasids)
		usva_pasid_space_destroy(iommu->pasids);
	usva_free(iommu->priv);
	pthread_mutex_destroy(&iommu->lock);
	usva_free(iommu);
	return 0;
}

uint16_t
usva_iommu_id(const struct usva_iommu *iommu)
{
	return iommu->id;
}

const char *
usva_iommu_backend(const struct usva_iommu *iommu)
{
	return iommu->ops->name;
}

struct usva_pasid_space *
usva_iommu_pasids(const struct usva_iommu *iommu)
{
	return iommu->pasids;
}

int
usva_iommu_caps(const struct usva_iommu *iommu, struct usva_iommu_caps *caps)
{
	uint32_t size;

	if (caps == NULL || caps->size < USVA_OFFSETOFEND(struct usva_iommu_caps,
							  flags)) {
		USVA_LOG(ERR, iommu, "usva_iommu_caps: size below %zu",
			 USVA_OFFSETOFEND(struct usva_iommu_caps, flags));
		return -EINVAL;
	}
	size = RTE_MIN(caps->size, (uint32_t)sizeof(*caps));
	memcpy((uint8_t *)caps + sizeof(caps->size),
	       (const uint8_t *)&iommu->caps + sizeof(caps->size),
	       size - sizeof(caps->size));
	caps->size = size;
	return 0;
}

int
usva_iommu_iova_ranges(const struct usva_iommu *iommu,
		       struct usva_iova_range *ranges, uint32_t *nr)
{
	uint32_t room;

	if (nr == NULL || (*nr > 0 && ranges == NULL))
		return -EINVAL;
	room = *nr;
	*nr = iommu->nr_ranges;
	if (room < iommu->nr_ranges)
		return -EMSGSIZE;
	memcpy(ranges, iommu->ranges, iommu->nr_ranges * sizeof(*ranges));
	return 0;
}

/* ---- stage 2 ------------------------------------------------------------- */

static int
check_aligned_range(uint64_t iova, uint64_t len, uint64_t *last,
		    const char *fn)
{
	if (len == 0 || ((iova | len) & PAGE_MASK_4K)) {
		USVA_LOG(ERR, iommu, "%s: iova 0x%" PRIx64 " len 0x%" PRIx64
			 " empty or not 4 KiB aligned", fn, iova, len);
		return -EINVAL;
	}
	if (iova + (len - 1) < iova) {
		USVA_LOG(ERR, iommu, "%s: iova 0x%" PRIx64 " + 0x%" PRIx64
			 " wraps", fn, iova, len);
		return -EOVERFLOW;
	}
	*last = iova + (len - 1);
	return 0;
}

/* [iova, last] must avoid every window and lie inside one aperture. */
static int
check_apertures(const struct usva_iommu *iommu, uint64_t iova, uint64_t last)
{
	for (uint32_t i = 0; i < iommu->nr_windows; i++) {
		const struct usva_iova_window *w = &iommu->windows[i];

		if (iova <= w->last && last >= w->start) {
			USVA_LOG(ERR, iommu, "usva_iommu_s2_map: 0x%" PRIx64 "-0x%"
				 PRIx64 " overlaps the reserved %s window 0x%"
				 PRIx64 "-0x%" PRIx64, iova, last, w->name,
				 w->start, w->last);
			return -EINVAL;
		}
	}
	for (uint32_t i = 0; i < iommu->nr_ranges; i++)
		if (iova >= iommu->ranges[i].start && last <= iommu->ranges[i].last)
			return 0;
	USVA_LOG(ERR, iommu, "usva_iommu_s2_map: 0x%" PRIx64 "-0x%" PRIx64
		 " is outside the IOVA apertures (%u-bit)", iova, last,
		 iommu->caps.iova_bits);
	return -EINVAL;
}

int
usva_iommu_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va,
		  uint64_t len, uint32_t prot)
{
	uint64_t last;
	int rc;

	rc = check_aligned_range(iova, len, &last, "usva_iommu_s2_map");
	if (rc)
		return rc;
	if (((uintptr_t)va & PAGE_MASK_4K) || va == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_s2_map: process address %p "
			 "NULL or unaligned", va);
		return -EINVAL;
	}
	if ((uintptr_t)va + (len - 1) < (uintptr_t)va) {
		USVA_LOG(ERR, iommu, "usva_iommu_s2_map: process address %p + "
			 "0x%" PRIx64 " wraps", va, len);
		return -EOVERFLOW;
	}
	if (prot == 0 || (prot & ~(USVA_S2_READ | USVA_S2_WRITE))) {
		USVA_LOG(ERR, iommu, "usva_iommu_s2_map: bad prot 0x%x", prot);
		return -EINVAL;
	}
	rc = check_apertures(iommu, iova, last);
	if (rc)
		return rc;
	if (usva_fail_point("s2_map"))
		return -ENOMEM;
	return iommu->ops->s2_map(iommu, iova, va, len, prot);
}

int
usva_iommu_s2_unmap(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
		    uint64_t *unmapped)
{
	uint64_t last, dummy;
	int rc;

	rc = check_aligned_range(iova, len, &last, "usva_iommu_s2_unmap");
	if (rc)
		return rc;
	return iommu->ops->s2_unmap(iommu, iova, len,
				    unmapped ? unmapped : &dummy);
}

/* ---- devices --------------------------------------------------------------- */

#define DEV_FLAGS_KNOWN (USVA_DEV_F_PRI | USVA_DEV_F_ATS | \
			 USVA_DEV_F_PASID_EXEC | USVA_DEV_F_PASID_PRIV | \
			 USVA_DEV_F_STALL)

static int
dev_config_load(const struct usva_dev_config *ucfg, struct usva_dev_config *cfg)
{
	int rc = USVA_CONFIG_LOAD(cfg, ucfg, name, reserved, DEV_FLAGS_KNOWN);

	if (rc == 0 && cfg->name == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_dev_open: no device name");
		rc = -EINVAL;
	}
	if (rc == 0 && (cfg->flags & USVA_DEV_F_PRI) &&
	    (cfg->flags & USVA_DEV_F_STALL)) {
		USVA_LOG(ERR, iommu, "usva_iommu_dev_open: device %s: PRI or "
			 "stall, not both", cfg->name);
		rc = -EINVAL;
	}
	return rc;
}

/* The device must have what the caller asked for, on an IOMMU that can. */
static int
dev_check_features(const struct usva_iommu_dev *dev, uint32_t wanted)
{
	const struct usva_iommu *iommu = dev->iommu;
	uint32_t missing = wanted & ~dev->info.flags;

	if ((wanted & USVA_DEV_F_PRI) && !(iommu->caps.flags & USVA_IOMMU_CAP_PRI))
		missing |= USVA_DEV_F_PRI;
	if ((wanted & USVA_DEV_F_ATS) && !(iommu->caps.flags & USVA_IOMMU_CAP_ATS))
		missing |= USVA_DEV_F_ATS;
	if ((wanted & USVA_DEV_F_STALL) &&
	    !(iommu->caps.flags & USVA_IOMMU_CAP_STALL))
		missing |= USVA_DEV_F_STALL;
	if (missing) {
		USVA_LOG(ERR, iommu, "device %s: lacks%s%s%s%s%s", dev->info.name,
			 missing & USVA_DEV_F_PRI ? " PRI" : "",
			 missing & USVA_DEV_F_ATS ? " ATS" : "",
			 missing & USVA_DEV_F_PASID_EXEC ? " PASID-exec" : "",
			 missing & USVA_DEV_F_PASID_PRIV ? " PASID-priv" : "",
			 missing & USVA_DEV_F_STALL ? " stall" : "");
		return -EOPNOTSUPP;
	}
	return 0;
}

int
usva_iommu_dev_open(struct usva_iommu *iommu, const struct usva_dev_config *ucfg,
		    struct usva_iommu_dev **out)
{
	struct usva_dev_config cfg;
	struct usva_iommu_dev *dev;
	int rc;

	if (iommu == NULL || out == NULL)
		return -EINVAL;
	rc = dev_config_load(ucfg, &cfg);
	if (rc)
		return rc;
	dev = usva_zmalloc(sizeof(*dev));
	if (dev == NULL)
		return -ENOMEM;
	dev->iommu = iommu;
	pthread_mutex_init(&dev->lock, NULL);
	TAILQ_INIT(&dev->attached);
	snprintf(dev->info.name, sizeof(dev->info.name), "%s", cfg.name);
	if (iommu->ops->dev_priv_size) {
		dev->priv = usva_zmalloc_aligned(iommu->ops->dev_priv_size,
						 RTE_CACHE_LINE_SIZE);
		if (dev->priv == NULL) {
			rc = -ENOMEM;
			goto err_free;
		}
	}
	/* Two phases: the id is fixed before the backend sees the device,
	 * the device is published only after the backend accepted it. */
	pthread_mutex_lock(&iommu->lock);
	dev->info.id = iommu->next_dev_id++;
	pthread_mutex_unlock(&iommu->lock);
	rc = iommu->ops->dev_open(dev, &cfg);
	if (rc)
		goto err_priv;
	rc = dev_check_features(dev, cfg.flags);
	if (rc)
		goto err_close;
	dev->info.size = sizeof(dev->info);
	pthread_mutex_lock(&iommu->lock);
	TAILQ_INSERT_TAIL(&iommu->devs, dev, next);
	pthread_mutex_unlock(&iommu->lock);
	*out = dev;
	return 0;

err_close:
	iommu->ops->dev_close(dev);
err_priv:
	usva_free(dev->priv);
err_free:
	pthread_mutex_destroy(&dev->lock);
	usva_free(dev);
	return rc;
}

/* Undo one attachment; iommu->lock and dev->lock held. */
static void
attach_remove(struct usva_iommu_dev *dev, struct usva_attach *a)
{
	dev->iommu->ops->detach(dev, a->pasid, a->dom);
	usva_pasid_attach_put(dev->iommu->pasids, a->pasid);
	a->dom->users--;
	dev->info.attached--;
	TAILQ_REMOVE(&dev->attached, a, next);
	usva_free(a);
}

void
usva_iommu_dev_close(struct usva_iommu_dev *dev)
{
	struct usva_iommu *iommu;
	struct usva_attach *a;

	if (dev == NULL)
		return;
	iommu = dev->iommu;
	pthread_mutex_lock(&iommu->lock);
	pthread_mutex_lock(&dev->lock);
	while ((a = TAILQ_FIRST(&dev->attached)) != NULL)
		attach_remove(dev, a);
	usva_pasid_table_remove(dev);
	pthread_mutex_unlock(&dev->lock);
	TAILQ_REMOVE(&iommu->devs, dev, next);
	pthread_mutex_unlock(&iommu->lock);
	iommu->ops->dev_close(dev);
	usva_free(dev->priv);
	pthread_mutex_destroy(&dev->lock);
	usva_free(dev);
}

int
usva_iommu_dev_info(const struct usva_iommu_dev *dev, struct usva_dev_info *info)
{
	uint32_t size;

	if (dev == NULL || info == NULL ||
	    info->size < USVA_OFFSETOFEND(struct usva_dev_info, pasid_width)) {
		USVA_LOG(ERR, iommu, "usva_iommu_dev_info: size below %zu",
			 USVA_OFFSETOFEND(struct usva_dev_info, pasid_width));
		return -EINVAL;
	}
	size = RTE_MIN(info->size, (uint32_t)sizeof(*info));
	pthread_mutex_lock(&dev->iommu->lock);
	memcpy((uint8_t *)info + sizeof(info->size),
	       (const uint8_t *)&dev->info + sizeof(info->size),
	       size - sizeof(info->size));
	pthread_mutex_unlock(&dev->iommu->lock);
	info->size = size;
	return 0;
}

struct usva_iommu_dev *
usva_iommu_dev_by_id(struct usva_iommu *iommu, uint32_t dev_id)
{
	struct usva_iommu_dev *dev;

	pthread_mutex_lock(&iommu->lock);
	TAILQ_FOREACH(dev, &iommu->devs, next)
		if (dev->info.id == dev_id)
			break;
	pthread_mutex_unlock(&iommu->lock);
	return dev;
}

struct usva_domain *
usva_iommu_dev_attached(struct usva_iommu_dev *dev, uint32_t pasid)
{
	struct usva_domain *dom = NULL;
	struct usva_attach *a;

	pthread_mutex_lock(&dev->lock);
	TAILQ_FOREACH(a, &dev->attached, next)
		if (a->pasid == pasid)
			dom = a->dom;
	pthread_mutex_unlock(&dev->lock);
	return dom;
}

/* ---- domains ----------------------------------------------------------------- */

static int
domain_config_load(const struct usva_domain_config *ucfg,
		   struct usva_domain_config *cfg)
{
	int rc = USVA_CONFIG_LOAD(cfg, ucfg, as, reserved, 0);

	if (rc)
		return rc;
	if ((cfg->as != NULL) == (cfg->s1_root || cfg->format || cfg->va_bits)) {
		USVA_LOG(ERR, iommu, "usva_domain_create: give either an "
			 "address space or a raw root/format/width, not %s",
			 cfg->as ? "both" : "neither");
		return -EINVAL;
	}
	if (cfg->as == NULL && (cfg->s1_root & PAGE_MASK_4K)) {
		USVA_LOG(ERR, iommu, "usva_domain_create: root 0x%" PRIx64
			 " not 4 KiB aligned", cfg->s1_root);
		return -EINVAL;
	}
	return 0;
}

static int
domain_check_caps(const struct usva_iommu *iommu, uint32_t format,
		  uint32_t va_bits)
{
	if (!(iommu->caps.flags & USVA_IOMMU_CAP_NESTING)) {
		USVA_LOG(ERR, iommu, "usva_domain_create: %s has no nesting",
			 iommu->ops->name);
		return -EOPNOTSUPP;
	}
	if (format >= 32 || !(iommu->caps.s1_formats & (1u << format))) {
		USVA_LOG(ERR, iommu, "usva_domain_create: %s does not walk "
			 "stage-1 format %u", iommu->ops->name, format);
		return -EOPNOTSUPP;
	}
	if (va_bits == 0 || va_bits > iommu->caps.s1_va_bits_max) {
		USVA_LOG(ERR, iommu, "usva_domain_create: %u-bit stage 1 beyond "
			 "the IOMMU's %u", va_bits, iommu->caps.s1_va_bits_max);
		return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * Stage-2 map the table pool of @p pool (IOVA = VA) unless already mapped
 * for another domain. iommu->lock held.
 */
static int
pool_s2_get(struct usva_iommu *iommu, struct usva_page_pool *pool)
{
	struct usva_pool_s2_map *m;
	void *base;
	uint64_t len;
	int rc;

	for (m = iommu->pool_maps; m != NULL; m = m->next) {
		if (m->pool == pool) {
			m->refs++;
			return 0;
		}
	}
	m = usva_zmalloc(sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	usva_page_pool_region(pool, &base, &len);
	rc = usva_iommu_s2_map(iommu, (uint64_t)(uintptr_t)base, base, len,
			       USVA_S2_READ | USVA_S2_WRITE);
	if (rc) {
		USVA_LOG(ERR, iommu, "page pool not mappable in stage 2 (%d)",
			 rc);
		usva_free(m);
		return rc;
	}
	m->pool = pool;
	m->refs = 1;
	m->next = iommu->pool_maps;
	iommu->pool_maps = m;
	return 0;
}

static void
pool_s2_put(struct usva_iommu *iommu, struct usva_page_pool *pool)
{
	struct usva_pool_s2_map **pm, *m;
	void *base;
	uint64_t len;

	for (pm = &iommu->pool_maps; (m = *pm) != NULL; pm = &m->next) {
		if (m->pool != pool)
			continue;
		if (--m->refs == 0) {
			usva_page_pool_region(pool, &base, &len);
			iommu->ops->s2_unmap(iommu, (uint64_t)(uintptr_t)base,
					     len, &len);
			*pm = m->next;
			usva_free(m);
		}
		return;
	}
}

int
usva_iommu_map_pool(struct usva_iommu *iommu, struct usva_page_pool *pool)
{
	int rc;

	if (iommu == NULL || pool == NULL)
		return -EINVAL;
	pthread_mutex_lock(&iommu->lock);
	rc = pool_s2_get(iommu, pool);
	pthread_mutex_unlock(&iommu->lock);
	return rc;
}

void
usva_iommu_unmap_pool(struct usva_iommu *iommu, struct usva_page_pool *pool)
{
	if (iommu == NULL || pool == NULL)
		return;
	pthread_mutex_lock(&iommu->lock);
	pool_s2_put(iommu, pool);
	pthread_mutex_unlock(&iommu->lock);
}

int
usva_domain_create(struct usva_iommu *iommu, const struct usva_domain_config *ucfg,
		   struct usva_domain **out)
{
	struct usva_domain_config cfg;
	struct usva_domain *dom;
	int rc;

	if (iommu == NULL || out == NULL)
		return -EINVAL;
	rc = domain_config_load(ucfg, &cfg);
	if (rc)
		return rc;
	if (cfg.as != NULL) {
		cfg.format = usva_as_format(cfg.as);
		cfg.va_bits = usva_as_va_bits(cfg.as);
		cfg.s1_root = usva_as_root(cfg.as);
	}
	rc = domain_check_caps(iommu, cfg.format, cfg.va_bits);
	if (rc)
		return rc;
	dom = usva_zmalloc(sizeof(*dom));
	if (dom == NULL)
		return -ENOMEM;
	dom->iommu = iommu;
	dom->format = cfg.format;
	dom->va_bits = cfg.va_bits;
	dom->s1_root = cfg.s1_root;
	dom->as = cfg.as;
	if (iommu->ops->domain_priv_size) {
		dom->priv = usva_zmalloc_aligned(iommu->ops->domain_priv_size,
						 RTE_CACHE_LINE_SIZE);
		if (dom->priv == NULL) {
			rc = -ENOMEM;
			goto err_free;
		}
	}
	pthread_mutex_lock(&iommu->lock);
	dom->id = iommu->next_domain_id++;
	rc = dom->as ? pool_s2_get(iommu, usva_as_table_pool(dom->as)) : 0;
	pthread_mutex_unlock(&iommu->lock);
	if (rc)
		goto err_priv;
	rc = iommu->ops->domain_init(dom);
	if (rc)
		goto err_pool;
	/* Edits of the AS invalidate this domain from now on. Not under
	 * iommu->lock: the AS's observer lock comes first. */
	rc = dom->as ? usva_inval_link_create(dom) : 0;
	if (rc)
		goto err_fini;
	pthread_mutex_lock(&iommu->lock);
	TAILQ_INSERT_TAIL(&iommu->domains, dom, next);
	pthread_mutex_unlock(&iommu->lock);
	*out = dom;
	return 0;

err_fini:
	iommu->ops->domain_fini(dom);
err_pool:
	if (dom->as) {
		pthread_mutex_lock(&iommu->lock);
		pool_s2_put(iommu, usva_as_table_pool(dom->as));
		pthread_mutex_unlock(&iommu->lock);
	}
err_priv:
	usva_free(dom->priv);
err_free:
	usva_free(dom);
	return rc;
}

int
usva_domain_destroy(struct usva_domain *dom)
{
	struct usva_iommu *iommu;

	if (dom == NULL)
		return 0;
	iommu = dom->iommu;
	pthread_mutex_lock(&iommu->lock);
	if (dom->users) {
		pthread_mutex_unlock(&iommu->lock);
		USVA_LOG(ERR, iommu, "usva_domain_destroy: domain %u attached "
			 "%u times", dom->id, dom->users);
		return -EBUSY;
	}
	TAILQ_REMOVE(&iommu->domains, dom, next);
	pthread_mutex_unlock(&iommu->lock);
	/* Attached nowhere: nothing cached of the AS through this domain,
	 * so the AS may stop telling it (and free what it held for it). */
	usva_inval_link_destroy(dom);
	iommu->ops->domain_fini(dom);
	if (dom->as) {
		pthread_mutex_lock(&iommu->lock);
		pool_s2_put(iommu, usva_as_table_pool(dom->as));
		pthread_mutex_unlock(&iommu->lock);
	}
	usva_free(dom->priv);
	usva_free(dom);
	return 0;
}

uint32_t
usva_domain_id(const struct usva_domain *dom)
{
	return dom->id;
}

struct usva_as *
usva_domain_as(const struct usva_domain *dom)
{
	return dom->as;
}

/* ---- attach / replace / detach ----------------------------------------------- */

static struct usva_attach *
attach_find(struct usva_iommu_dev *dev, uint32_t pasid)
{
	struct usva_attach *a;

	TAILQ_FOREACH(a, &dev->attached, next)
		if (a->pasid == pasid)
			return a;
	return NULL;
}

static int
check_pasid(const struct usva_iommu_dev *dev, uint32_t pasid, const char *fn)
{
	const struct usva_iommu *iommu = dev->iommu;

	if (dev->info.pasid_width == 0) {
		USVA_LOG(ERR, iommu, "%s: device %s has no PASID support", fn,
			 dev->info.name);
		return -EOPNOTSUPP;
	}
	if (pasid == USVA_PASID_RID) {
		USVA_LOG(ERR, iommu, "%s: PASID 0 (RID_PASID) carries stage-2 "
			 "DMA only", fn);
		return -EINVAL;
	}
	if (pasid >> dev->info.pasid_width ||
	    pasid >> usva_pasid_space_width(iommu->pasids)) {
		USVA_LOG(ERR, iommu, "%s: PASID %u beyond the device's %u bits "
			 "or the space's %u", fn, pasid, dev->info.pasid_width,
			 usva_pasid_space_width(iommu->pasids));
		return -ERANGE;
	}
	return 0;
}

static int
check_domain(const struct usva_iommu_dev *dev, const struct usva_domain *dom,
	     const char *fn)
{
	if (dom == NULL || dom->iommu != dev->iommu) {
		USVA_LOG(ERR, iommu, "%s: domain %s", fn,
			 dom ? "belongs to another IOMMU instance" : "is NULL");
		return -EINVAL;
	}
	return 0;
}

/* The argument checks attach and replace share. */
static int
check_target(const struct usva_iommu_dev *dev, uint32_t pasid,
	     const struct usva_domain *dom, const char *fn)
{
	int rc;

	if (dev == NULL)
		return -EINVAL;
	rc = check_domain(dev, dom, fn);
	if (rc == 0)
		rc = check_pasid(dev, pasid, fn);
	return rc;
}

int
usva_iommu_attach(struct usva_iommu_dev *dev, uint32_t pasid,
		  struct usva_domain *dom)
{
	struct usva_iommu *iommu;
	struct usva_attach *a;
	int rc;

	rc = check_target(dev, pasid, dom, "usva_iommu_attach");
	if (rc)
		return rc;
	iommu = dev->iommu;
	a = usva_zmalloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&iommu->lock);
	pthread_mutex_lock(&dev->lock);
	if (attach_find(dev, pasid) != NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_attach: %s PASID %u already "
			 "attached (use replace)", dev->info.name, pasid);
		rc = -EBUSY;
		goto err_unlock;
	}
	if (dev->pasid_table != NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_attach: %s has a whole PASID "
			 "table attached", dev->info.name);
		rc = -EBUSY;
		goto err_unlock;
	}
	rc = usva_pasid_attach_get(iommu->pasids, pasid);
	if (rc) {
		USVA_LOG(ERR, iommu, "usva_iommu_attach: PASID %u not usable (%s)",
			 pasid, rc == -ENOENT ? "not allocated" : strerror(-rc));
		goto err_unlock;
	}
	rc = iommu->ops->attach(dev, pasid, dom, NULL);
	if (rc)
		goto err_put;
	a->pasid = pasid;
	a->dom = dom;
	TAILQ_INSERT_TAIL(&dev->attached, a, next);
	dom->users++;
	dev->info.attached++;
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&iommu->lock);
	return 0;

err_put:
	usva_pasid_attach_put(iommu->pasids, pasid);
err_unlock:
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&iommu->lock);
	usva_free(a);
	return rc;
}

int
usva_iommu_replace(struct usva_iommu_dev *dev, uint32_t pasid,
		   struct usva_domain *dom)
{
	struct usva_iommu *iommu;
	struct usva_attach *a;
	int rc;

	rc = check_target(dev, pasid, dom, "usva_iommu_replace");
	if (rc)
		return rc;
	iommu = dev->iommu;
	pthread_mutex_lock(&iommu->lock);
	pthread_mutex_lock(&dev->lock);
	a = attach_find(dev, pasid);
	if (a == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_replace: %s PASID %u not attached",
			 dev->info.name, pasid);
		rc = -ENOENT;
	} else if (a->dom != dom) {
		rc = iommu->ops->attach(dev, pasid, dom, a->dom);
		if (rc == 0) {
			a->dom->users--;
			dom->users++;
			a->dom = dom;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&iommu->lock);
	return rc;
}

int
usva_iommu_detach(struct usva_iommu_dev *dev, uint32_t pasid)
{
	struct usva_iommu *iommu;
	struct usva_attach *a;
	int rc = 0;

	if (dev == NULL)
		return -EINVAL;
	iommu = dev->iommu;
	if (dev->info.pasid_width && pasid >> dev->info.pasid_width) {
		USVA_LOG(ERR, iommu, "usva_iommu_detach: PASID %u beyond %u bits",
			 pasid, dev->info.pasid_width);
		return -ERANGE;
	}
	pthread_mutex_lock(&iommu->lock);
	pthread_mutex_lock(&dev->lock);
	a = attach_find(dev, pasid);
	if (a == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_detach: %s PASID %u not attached",
			 dev->info.name, pasid);
		rc = -ENOENT;
	} else {
		attach_remove(dev, a);
	}
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&iommu->lock);
	return rc;
}

/* ---- invalidation -------------------------------------------------------------- */

#define INVAL_CACHES (USVA_INVAL_IOTLB | USVA_INVAL_DEVTLB | USVA_INVAL_PASID_CACHE)

static bool
pasid_attached(struct usva_iommu_dev *dev, uint32_t pasid)
{
	bool found;

	pthread_mutex_lock(&dev->lock);
	found = attach_find(dev, pasid) != NULL;
	pthread_mutex_unlock(&dev->lock);
	return found;
}

/* Why (dev, pasid) of entry @p e cannot be invalidated, or NULL. */
static const char *
inval_target_problem(struct usva_iommu *iommu, const struct usva_inval_entry *e)
{
	const char *why;

	if (e->dev == NULL || e->dev->iommu != iommu)
		return "device missing or of another instance";
	if (usva_pasid_table_inval_check(e->dev, e, &why))
		return why;
	if (!pasid_attached(e->dev, e->pasid))
		return "PASID not attached on the device";
	return NULL;
}

/* Why entry @p e cannot be executed, or NULL. */
static const char *
inval_entry_problem(struct usva_iommu *iommu, const struct usva_inval_entry *e)
{
	if (e->caches == 0 || (e->caches & ~INVAL_CACHES))
		return "no or unknown caches";
	if (e->flags & ~(USVA_INVAL_F_LEAF | USVA_INVAL_F_ASID))
		return "unknown flags";
	switch (e->granule) {
	case USVA_INVAL_DOMAIN:
		if (e->dom == NULL || e->dom->iommu != iommu)
			return "domain missing or of another instance";
		if (e->caches & ~USVA_INVAL_IOTLB)
			return "only the IOTLB has a domain granule";
		if (e->flags & USVA_INVAL_F_ASID)
			return "ASID entries name a device";
		return NULL;
	case USVA_INVAL_ADDR:
		if (e->caches & USVA_INVAL_PASID_CACHE)
			return "the PASID cache has no address granule";
		if (e->npages == 0 || (e->addr & PAGE_MASK_4K))
			return "zero pages or unaligned address";
		if (e->npages > (UINT64_MAX >> 12) ||
		    e->addr + ((e->npages << 12) - 1) < e->addr)
			return "address + pages overflows";
		/* fall through */
	case USVA_INVAL_PASID:
		return inval_target_problem(iommu, e);
	default:
		return "unknown granule";
	}
}

int
usva_iommu_invalidate(struct usva_iommu *iommu, const struct usva_inval_entry *e,
		      uint32_t n, int32_t *status)
{
	int32_t local[64];
	int32_t *st = status;
	int rc;

	if (iommu == NULL || (n > 0 && e == NULL))
		return -EINVAL;
	if (iommu->ops->invalidate == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_invalidate: %s cannot invalidate",
			 iommu->ops->name);
		return -EOPNOTSUPP;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *why = inval_entry_problem(iommu, &e[i]);

		if (why != NULL) {
			USVA_LOG(ERR, iommu, "usva_iommu_invalidate: entry %u: %s",
				 i, why);
			return -EINVAL;
		}
	}
	if (n == 0)
		return 0;
	if (st == NULL) {
		if (n > RTE_DIM(local)) {
			/* No status wanted: run in chunks, stop at a failure. */
			uint32_t done = 0;

			while (done < n) {
				uint32_t k = RTE_MIN(n - done, (uint32_t)RTE_DIM(local));

				rc = iommu->ops->invalidate(iommu, e + done, k, local);
				done += rc > 0 ? (uint32_t)rc : 0;
				if (rc < (int)k)
					return done;
			}
			return done;
		}
		st = local;
	}
	return iommu->ops->invalidate(iommu, e, n, st);
}

/* ---- events and stats ----------------------------------------------------------- */

int
usva_iommu_event_fd(struct usva_iommu *iommu)
{
	if (iommu->ops->event_fd == NULL)
		return -EOPNOTSUPP;
	return iommu->ops->event_fd(iommu);
}

int
usva_iommu_prq_fd(struct usva_iommu *iommu)
{
	if (iommu->ops->prq_fd == NULL)
		return -EOPNOTSUPP;
	return iommu->ops->prq_fd(iommu);
}

int
usva_iommu_events_read(struct usva_iommu *iommu, struct usva_iommu_event *ev,
		       unsigned int n)
{
	if (iommu->ops->events_read == NULL)
		return -EOPNOTSUPP;
	if (n > 0 && ev == NULL)
		return -EINVAL;
	return iommu->ops->events_read(iommu, ev, n);
}

void
usva_iommu_stats(const struct usva_iommu *iommu, struct usva_iommu_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (iommu->ops->stats != NULL)
		iommu->ops->stats(iommu, st);
}
