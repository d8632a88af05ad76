/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: stage 2, the instance's IOAS.
 *
 * Map and unmap are IOMMU_IOAS_MAP (fixed IOVA) and IOMMU_IOAS_UNMAP; the
 * kernel pins the pages and flushes every cache of the range, the nested
 * domains' included, before IOAS_UNMAP returns. A shadow of the mappings
 * (sorted, under s2_lock, held across the ioctl) gives usva's unmap
 * contract exactly: a range that cuts a mapping is -EINVAL, an empty one
 * -ENOENT, before the kernel is asked.
 *
 * Apertures come from IOMMU_IOAS_IOVA_RANGES once the probe device is
 * attached (its IOMMU's aperture and reserved regions narrow the IOAS),
 * and are pinned with IOMMU_IOAS_ALLOW_IOVAS: a device opened later whose
 * reserved regions would cut them fails to attach instead of shrinking
 * the apertures usva reported.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "usva_alloc.h"
#include "iommufd_internal.h"

/* ---- apertures ----------------------------------------------------------- */

/* IOMMU_IOAS_IOVA_RANGES into a buffer it fits, retrying on -EMSGSIZE
 * (the count may change between calls). @return count, or -errno. */
static int
ranges_query(struct iommufd *f, struct iommu_iova_range **out)
{
	struct iommu_ioas_iova_ranges q = {
		.size = sizeof(q),
		.ioas_id = f->ioas_id,
	};
	struct iommu_iova_range *r = NULL;
	uint32_t room = USVA_IOMMU_MAX_RANGES;
	int rc;

	for (int tries = 0; tries < 4; tries++) {
		usva_free(r);
		r = usva_zmalloc(sizeof(*r) * room);
		if (r == NULL)
			return -ENOMEM;
		q.num_iovas = room;
		q.allowed_iovas = (uintptr_t)r;
		rc = iommufd_ioctl(f->fd, IOMMU_IOAS_IOVA_RANGES, &q);
		if (rc == 0) {
			*out = r;
			return (int)q.num_iovas;
		}
		if (rc != -EMSGSIZE)
			break;
		room = q.num_iovas;	/* what the kernel needs */
	}
	usva_free(r);
	IOMMUFD_LOG(ERR, "IOMMU_IOAS_IOVA_RANGES: %s", strerror(-rc));
	return rc;
}

static int
ranges_allow(struct iommufd *f, const struct usva_iova_range *r, uint32_t n)
{
	struct iommu_iova_range a[USVA_IOMMU_MAX_RANGES];
	struct iommu_ioas_allow_iovas q = {
		.size = sizeof(q),
		.ioas_id = f->ioas_id,
		.num_iovas = n,
		.allowed_iovas = (uintptr_t)a,
	};
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		a[i].start = r[i].start;
		a[i].last = r[i].last;
	}
	rc = iommufd_ioctl(f->fd, IOMMU_IOAS_ALLOW_IOVAS, &q);
	if (rc)
		IOMMUFD_LOG(ERR, "IOMMU_IOAS_ALLOW_IOVAS: %s", strerror(-rc));
	return rc;
}

int
iommufd_ranges_load(struct iommufd *f)
{
	struct usva_iommu *iommu = f->iommu;
	struct iommu_iova_range *r = NULL;
	int n, rc;

	n = ranges_query(f, &r);
	if (n < 0)
		return n;
	if (n > USVA_IOMMU_MAX_RANGES)
		IOMMUFD_LOG(NOTICE, "%d IOVA ranges, keeping the %u widest", n,
			    USVA_IOMMU_MAX_RANGES);
	iommu->nr_ranges = iommufd_ranges_fit(r, (uint32_t)n, iommu->ranges,
					      USVA_IOMMU_MAX_RANGES);
	usva_free(r);
	if (iommu->nr_ranges == 0) {
		IOMMUFD_LOG(ERR, "the IOAS has no usable IOVA range");
		return -ENOSPC;
	}
	iommu->nr_windows = iommufd_windows(iommu->ranges, iommu->nr_ranges,
					    iommu->windows,
					    USVA_IOMMU_MAX_WINDOWS);
	rc = ranges_allow(f, iommu->ranges, iommu->nr_ranges);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < iommu->nr_ranges; i++)
		IOMMUFD_LOG(DEBUG, "IOVA range 0x%" PRIx64 "-0x%" PRIx64,
			    iommu->ranges[i].start, iommu->ranges[i].last);
	return 0;
}

/* ---- the shadow (s2_lock held) ------------------------------------------- */

/* First mapping whose last >= @p iova. */
static uint32_t
s2_lower(const struct iommufd *f, uint64_t iova)
{
	uint32_t lo = 0, hi = f->s2_n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (f->s2[mid].last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more entry, before the kernel is asked: an insertion
 * after a successful map must not fail. */
static int
s2_reserve(struct iommufd *f)
{
	struct iommufd_s2_map *n;
	uint32_t cap;

	if (f->s2_n < f->s2_cap)
		return 0;
	cap = f->s2_cap ? f->s2_cap * 2 : 16;
	n = usva_zmalloc(sizeof(*n) * cap);
	if (n == NULL)
		return -ENOMEM;
	if (f->s2_n)
		memcpy(n, f->s2, sizeof(*n) * f->s2_n);
	usva_free(f->s2);
	f->s2 = n;
	f->s2_cap = cap;
	return 0;
}

static void
s2_insert(struct iommufd *f, uint64_t iova, uint64_t last)
{
	uint32_t i = s2_lower(f, iova);

	memmove(&f->s2[i + 1], &f->s2[i], sizeof(f->s2[0]) * (f->s2_n - i));
	f->s2[i].iova = iova;
	f->s2[i].last = last;
	f->s2_n++;
}

void
iommufd_s2_fini(struct iommufd *f)
{
	usva_free(f->s2);
	f->s2 = NULL;
	f->s2_n = f->s2_cap = 0;
}

/* ---- ops ----------------------------------------------------------------- */

static int
ioas_map(struct iommufd *f, uint64_t iova, void *va, uint64_t len,
	 uint32_t prot)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = f->ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};
	int rc;

	if (prot & USVA_S2_READ)
		m.flags |= IOMMU_IOAS_MAP_READABLE;
	if (prot & USVA_S2_WRITE)
		m.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	rc = iommufd_ioctl(f->fd, IOMMU_IOAS_MAP, &m);
	if (rc == 0)
		return 0;
	IOMMUFD_LOG(ERR, "IOMMU_IOAS_MAP 0x%" PRIx64 "+0x%" PRIx64 " at %p: "
		    "%s%s%s", iova, len, va, strerror(-rc),
		    rc == -ENOMEM || rc == -EPERM ?
		    " (pinned memory is charged to RLIMIT_MEMLOCK)" : "",
		    !(prot & USVA_S2_WRITE) && f->parent_id &&
		    (f->hw.vtd_flags & USVA_IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17) ?
		    " (this VT-d refuses read-only nesting-parent mappings, "
		    "erratum 772415)" : "");
	return rc;
}

int
iommufd_s2_map(struct usva_iommu *iommu, uint64_t iova, void *va, uint64_t len,
	       uint32_t prot)
{
	struct iommufd *f = iommufd_of(iommu);
	int rc;

	pthread_mutex_lock(&f->s2_lock);
	rc = s2_reserve(f);
	if (rc == 0)
		rc = ioas_map(f, iova, va, len, prot);
	if (rc == 0)
		s2_insert(f, iova, iova + (len - 1));
	pthread_mutex_unlock(&f->s2_lock);
	return rc;
}

/* Mappings [*first, *end) inside [iova, last]; -EINVAL if one straddles. */
static int
s2_covered(const struct iommufd *f, uint64_t iova, uint64_t last,
	   uint32_t *first, uint32_t *end)
{
	uint32_t i = s2_lower(f, iova), j = i;

	while (j < f->s2_n && f->s2[j].iova <= last)
		j++;
	if (i < j && (f->s2[i].iova < iova || f->s2[j - 1].last > last)) {
		IOMMUFD_LOG(ERR, "stage-2 unmap 0x%" PRIx64 "-0x%" PRIx64
			    " cuts a mapping", iova, last);
		return -EINVAL;
	}
	*first = i;
	*end = j;
	return 0;
}

int
iommufd_s2_unmap(struct usva_iommu *iommu, uint64_t iova, uint64_t len,
		 uint64_t *unmapped)
{
	struct iommufd *f = iommufd_of(iommu);
	struct iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = f->ioas_id,
		.iova = iova,
		.length = len,
	};
	uint32_t i, j;
	int rc;

	*unmapped = 0;
	pthread_mutex_lock(&f->s2_lock);
	rc = s2_covered(f, iova, iova + (len - 1), &i, &j);
	if (rc || i == j) {
		pthread_mutex_unlock(&f->s2_lock);
		return rc ? rc : -ENOENT;
	}
	rc = iommufd_ioctl(f->fd, IOMMU_IOAS_UNMAP, &u);
	if (rc == 0) {
		memmove(&f->s2[i], &f->s2[j], sizeof(f->s2[0]) * (f->s2_n - j));
		f->s2_n -= j - i;
		*unmapped = u.length;
	}
	pthread_mutex_unlock(&f->s2_lock);
	if (rc)
		IOMMUFD_LOG(ERR, "IOMMU_IOAS_UNMAP 0x%" PRIx64 "+0x%" PRIx64
			    ": %s", iova, len, strerror(-rc));
	return rc;
}
