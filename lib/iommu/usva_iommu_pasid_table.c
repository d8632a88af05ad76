/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iommu: whole PASID-table attach (the SMMUv3 way to nest a guest's
 * stage 1), and the invalidation checks of devices that have one.
 *
 * The config is checked the way a careful kernel checks a user's argsz
 * struct: the size first (against the mandatory fields, then against the
 * part the format needs), then the version, the format, what lies past
 * this version's struct, reserved bytes, and only then the values. Each
 * rejection logs one line naming the field. The backend gets a config it
 * can trust and checks only what it alone knows (flavour, table walk).
 *
 * Locks: dev->lock guards dev->pasid_table and dev->attached; taken after
 * iommu->lock, as for per-PASID attach.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "usva_alloc.h"
#include "usva_inval_internal.h"
#include "usva_iommu_driver.h"
#include "usva_log.h"
#include "usva_struct.h"

#define CD_SIZE		64u	/* SMMUv3 context descriptor */
#define L1CD_SIZE	8u	/* SMMUv3 level-1 CD table descriptor */
#define SMMUV3_MAX_CDMAX 20u	/* S1CDMax: 20-bit SubstreamIDs */
#define ASID_MAX	UINT32_C(0xffff)

/* Mandatory part: everything before the format's union. */
#define PTAB_MIN_SIZE	offsetof(struct usva_pasid_table_config, vendor)
#define PTAB_SMMUV3_END	USVA_OFFSETOFEND(struct usva_pasid_table_config, \
					 vendor.smmuv3)

#define PTAB_LOG(fmt, ...)						\
	USVA_LOG(ERR, iommu, "usva_iommu_attach_pasid_table: " fmt,	\
		 ##__VA_ARGS__)

/* ---- config checks ------------------------------------------------------- */

/* The size part the format needs, or 0 for a format this version does
 * not know. */
static size_t
format_end(uint8_t format)
{
	return format == USVA_PASID_TABLE_FMT_SMMUV3 ? PTAB_SMMUV3_END : 0;
}

/*
 * Size, version and format, read from the caller's struct before it is
 * copied: the fields up to the union are there once the size covers them.
 */
static int
check_header(const struct usva_pasid_table_config *u)
{
	size_t need;

	if (u->size < PTAB_MIN_SIZE || u->size > USVA_STRUCT_MAX_SIZE) {
		PTAB_LOG("size %u outside [%zu, %u]", u->size, PTAB_MIN_SIZE,
			 USVA_STRUCT_MAX_SIZE);
		return -EINVAL;
	}
	if (u->version != USVA_PASID_TABLE_VERSION_1) {
		PTAB_LOG("version %u is not %u", u->version,
			 USVA_PASID_TABLE_VERSION_1);
		return -EINVAL;
	}
	need = format_end(u->format);
	if (need == 0) {
		PTAB_LOG("unknown format %u", u->format);
		return -EOPNOTSUPP;
	}
	if (u->size < need) {
		PTAB_LOG("size %u short of the %zu format %u needs", u->size,
			 need, u->format);
		return -EINVAL;
	}
	return 0;
}

static int
check_smmuv3(const struct usva_pasid_table_smmuv3 *v)
{
	if (v->version != USVA_PASID_TABLE_SMMUV3_VERSION_1) {
		PTAB_LOG("smmuv3 version %u is not %u", v->version,
			 USVA_PASID_TABLE_SMMUV3_VERSION_1);
		return -EINVAL;
	}
	if (usva_check_reserved(v->reserved, sizeof(v->reserved),
				"usva_pasid_table_smmuv3.reserved"))
		return -EINVAL;
	if (v->s1fmt > USVA_SMMUV3_S1FMT_2LVL_64K) {
		PTAB_LOG("smmuv3 s1fmt %u is not linear, 2lvl-4k or 2lvl-64k",
			 v->s1fmt);
		return -EINVAL;
	}
	if (v->s1dss > USVA_SMMUV3_S1DSS_SSID0) {
		PTAB_LOG("smmuv3 s1dss %u is not terminate, bypass or ssid0",
			 v->s1dss);
		return -EINVAL;
	}
	return usva_check_flags(v->flags, 0, "usva_pasid_table_smmuv3.flags");
}

/* log2 of the alignment the table base needs (SMMUv3: the linear table or
 * the level-1 table aligned to its size, 64 bytes at least). */
static unsigned int
base_align_shift(const struct usva_pasid_table_config *c)
{
	unsigned int split, sz;

	switch (c->vendor.smmuv3.s1fmt) {
	case USVA_SMMUV3_S1FMT_2LVL_4K:
		split = 6;
		break;
	case USVA_SMMUV3_S1FMT_2LVL_64K:
		split = 10;
		break;
	default:
		/* Linear (also any table of one CD): CDs of 64 bytes. */
		return c->pasid_bits + 6;
	}
	if (c->pasid_bits == 0)
		return 6;	/* S1Fmt is ignored: one CD */
	/* L1 entries of 8 bytes; at least one. */
	sz = c->pasid_bits > split ? c->pasid_bits - split + 3 : 3;
	return RTE_MAX(sz, 6u);
}

/* The values, against the device and the instance. */
static int
check_values(const struct usva_iommu_dev *dev,
	     const struct usva_pasid_table_config *c)
{
	uint32_t iova_bits = dev->iommu->caps.iova_bits;
	unsigned int align;
	int rc;

	if (usva_check_reserved(c->reserved, sizeof(c->reserved),
				"usva_pasid_table_config.reserved"))
		return -EINVAL;
	if (c->config < USVA_PASID_TABLE_TRANSLATE ||
	    c->config > USVA_PASID_TABLE_ABORT) {
		PTAB_LOG("config %u is not translate, bypass or abort",
			 c->config);
		return -EINVAL;
	}
	rc = check_smmuv3(&c->vendor.smmuv3);
	if (rc)
		return rc;
	if (c->pasid_bits > RTE_MIN(dev->info.pasid_width, SMMUV3_MAX_CDMAX)) {
		PTAB_LOG("pasid_bits %u beyond device %s's %u", c->pasid_bits,
			 dev->info.name, dev->info.pasid_width);
		return -EINVAL;
	}
	if (c->config != USVA_PASID_TABLE_TRANSLATE)
		return 0;	/* the base is not used */
	align = base_align_shift(c);
	if (c->base & ((UINT64_C(1) << align) - 1)) {
		PTAB_LOG("base 0x%" PRIx64 " not aligned to %u bytes", c->base,
			 1u << align);
		return -EINVAL;
	}
	if (iova_bits < 64 && (c->base >> iova_bits) != 0) {
		PTAB_LOG("base 0x%" PRIx64 " beyond the %u-bit IOVA space",
			 c->base, iova_bits);
		return -EINVAL;
	}
	return 0;
}

/* Copy and check @p ucfg into @p cfg (this version's size). */
static int
ptab_config_load(const struct usva_iommu_dev *dev,
		 const struct usva_pasid_table_config *ucfg,
		 struct usva_pasid_table_config *cfg)
{
	int rc;

	if (ucfg == NULL) {
		PTAB_LOG("NULL config");
		return -EFAULT;
	}
	rc = check_header(ucfg);
	if (rc)
		return rc;
	rc = usva_struct_load(cfg, sizeof(*cfg), ucfg, PTAB_MIN_SIZE,
			      "usva_iommu_attach_pasid_table");
	if (rc)
		return rc;
	cfg->size = sizeof(*cfg);
	return check_values(dev, cfg);
}

/* ---- attach / detach -------------------------------------------------------- */

static int
ptab_attach_locked(struct usva_iommu_dev *dev,
		   const struct usva_pasid_table_config *cfg)
{
	struct usva_pasid_table_config *old = dev->pasid_table, *n;
	int rc;

	if (!TAILQ_EMPTY(&dev->attached)) {
		PTAB_LOG("device %s has %u PASIDs attached (detach them first)",
			 dev->info.name, dev->info.attached);
		return -EBUSY;
	}
	n = usva_malloc(sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	*n = *cfg;
	rc = dev->iommu->ops->attach_pasid_table(dev, n, old);
	if (rc) {
		usva_free(n);
		return rc;
	}
	dev->pasid_table = n;
	usva_free(old);
	return 0;
}

int
usva_iommu_attach_pasid_table(struct usva_iommu_dev *dev,
			      const struct usva_pasid_table_config *ucfg)
{
	struct usva_pasid_table_config cfg;
	struct usva_iommu *iommu;
	int rc;

	if (dev == NULL) {
		PTAB_LOG("NULL device");
		return -EINVAL;
	}
	iommu = dev->iommu;
	rc = ptab_config_load(dev, ucfg, &cfg);
	if (rc)
		return rc;
	if (iommu->ops->attach_pasid_table == NULL ||
	    !(iommu->caps.flags & USVA_IOMMU_CAP_PASID_TABLE)) {
		PTAB_LOG("%s instance %u has no PASID-table attach",
			 iommu->ops->name, iommu->id);
		return -EOPNOTSUPP;
	}
	pthread_mutex_lock(&iommu->lock);
	pthread_mutex_lock(&dev->lock);
	rc = ptab_attach_locked(dev, &cfg);
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&iommu->lock);
	return rc;
}

void
usva_pasid_table_remove(struct usva_iommu_dev *dev)
{
	if (dev->pasid_table == NULL)
		return;
	dev->iommu->ops->detach_pasid_table(dev);
	usva_free(dev->pasid_table);
	dev->pasid_table = NULL;
}

int
usva_iommu_detach_pasid_table(struct usva_iommu_dev *dev)
{
	struct usva_iommu *iommu;
	int rc = 0;

	if (dev == NULL)
		return -EINVAL;
	iommu = dev->iommu;
	pthread_mutex_lock(&iommu->lock);
	pthread_mutex_lock(&dev->lock);
	if (dev->pasid_table == NULL) {
		USVA_LOG(ERR, iommu, "usva_iommu_detach_pasid_table: device %s "
			 "has no PASID table", dev->info.name);
		rc = -ENOENT;
	} else {
		usva_pasid_table_remove(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_unlock(&iommu->lock);
	return rc;
}

int
usva_iommu_pasid_table_get(struct usva_iommu_dev *dev,
			   struct usva_pasid_table_config *cfg)
{
	int rc = 0;

	if (dev == NULL || cfg == NULL)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->pasid_table == NULL)
		rc = -ENOENT;
	else
		*cfg = *dev->pasid_table;
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

/* ---- invalidation checks ------------------------------------------------------ */

/* Why an entry naming (dev, PASID or ASID) of a table device is wrong. */
static const char *
table_entry_problem(const struct usva_pasid_table_config *t,
		    const struct usva_inval_entry *e)
{
	if (e->dom != NULL)
		return "a device with a PASID table has no domain";
	if (e->flags & USVA_INVAL_F_ASID) {
		if (e->caches != USVA_INVAL_IOTLB)
			return "ASID entries name the IOTLB only";
		if (e->pasid > ASID_MAX && e->pasid != USVA_INVAL_ASID_ALL)
			return "ASID beyond 16 bits";
		return NULL;
	}
	if (e->pasid >> t->pasid_bits)
		return "PASID beyond the device's PASID table";
	return NULL;
}

bool
usva_pasid_table_inval_check(struct usva_iommu_dev *dev,
			     const struct usva_inval_entry *e,
			     const char **why)
{
	bool table;

	pthread_mutex_lock(&dev->lock);
	table = dev->pasid_table != NULL;
	*why = table ? table_entry_problem(dev->pasid_table, e) : NULL;
	pthread_mutex_unlock(&dev->lock);
	if (!table && (e->flags & USVA_INVAL_F_ASID)) {
		*why = "ASID entries need a device with a PASID table";
		return true;
	}
	return table;
}
