/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: stage-1 cache invalidation, IOMMU_HWPT_INVALIDATE with
 * arrays of struct iommu_hwpt_vtd_s1_invalidate (Linux 6.8).
 *
 * The kernel invalidates per nested HWPT: an entry covers every device and
 * PASID the HWPT is attached at, and the device TLBs of the ATS devices
 * among them. So the backend asks lib/iommu for entries per domain
 * (USVA_IOMMU_INVAL_PER_DOMAIN); entries given without a domain (through
 * usva_iommu_invalidate()) are resolved to the domain attached at their
 * (device, PASID). A run of entries of one domain is one call per nested
 * HWPT the domain has (two when devices with and without page requests
 * share it); an address range is {addr, npages, LEAF}, a PASID- or
 * domain-wide flush is {0, UINT64_MAX}, the PASID-entry cache is the
 * kernel's (flushed when it writes the entry) and needs no call.
 *
 * entry_num comes back as the number of entries the kernel handled:
 * entries before it are done, the one at it failed with the call's errno,
 * the rest were not attempted (iommufd_inval_status()). Execution stops at
 * the first failure, as lib/iommu's contract wants.
 */
#include <errno.h>
#include <string.h>

#include "iommufd_internal.h"

static struct usva_domain *
entry_domain(const struct usva_inval_entry *e)
{
	if (e->dom != NULL)
		return e->dom;
	return e->dev != NULL ? usva_iommu_dev_attached(e->dev, e->pasid) : NULL;
}

/* One IOMMU_HWPT_INVALIDATE of @p n entries. @return entries done; the
 * statuses in @p st. */
static uint32_t
hwpt_invalidate(struct iommufd *f, uint32_t hwpt,
		const struct iommu_hwpt_vtd_s1_invalidate *a, uint32_t n,
		int32_t *st)
{
	struct iommu_hwpt_invalidate q = {
		.size = sizeof(q),
		.hwpt_id = hwpt,
		.data_uptr = (uintptr_t)a,
		.data_type = IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
		.entry_len = sizeof(*a),
		.entry_num = n,
	};
	uint32_t done;
	int rc;

	rc = iommufd_ioctl(f->fd, IOMMU_HWPT_INVALIDATE, &q);
	iommufd_stat_add(f, IOMMUFD_ST_INVAL_CALLS, 1);
	done = iommufd_inval_status(n, rc, q.entry_num, st);
	if (done < n)
		IOMMUFD_LOG_RL(ERR, "IOMMU_HWPT_INVALIDATE HWPT %u: entry %u of "
			       "%u failed: %s%s", hwpt, done, n,
			       strerror(-st[done]), rc == -ENOTTY ?
			       " (needs Linux 6.8+)" : "");
	return done;
}

/*
 * Entries [0, n) of one domain, all with something for the kernel, on
 * each of its nested HWPTs in turn; a later HWPT only gets the entries the
 * earlier ones did. @return entries done; @p status filled.
 */
static uint32_t
run_domain(struct iommufd *f, const struct usva_domain *dom,
	   const struct usva_inval_entry *e, uint32_t n, int32_t *status)
{
	struct iommu_hwpt_vtd_s1_invalidate a[IOMMUFD_INVAL_CHUNK];
	const struct iommufd_domain *fd = dom->priv;
	int32_t st[IOMMUFD_INVAL_CHUNK];
	int32_t err = 0;
	uint32_t done = n;

	for (uint32_t i = 0; i < n; i++)
		iommufd_inval_encode(&e[i], &a[i]);
	for (unsigned int k = 0; k < IOMMUFD_HWPT_NR && done > 0; k++) {
		/* Acquire: pairs with the release that published it. */
		uint32_t hwpt = __atomic_load_n(&fd->hwpt[k], __ATOMIC_ACQUIRE);
		uint32_t d;

		if (hwpt == 0)
			continue;	/* never attached: nothing cached */
		d = hwpt_invalidate(f, hwpt, a, done, st);
		if (d < done) {
			done = d;
			err = st[d];
		}
	}
	for (uint32_t i = 0; i < n; i++)
		status[i] = i < done ? USVA_INVAL_DONE :
			    i == done ? err : USVA_INVAL_NOT_ATTEMPTED;
	iommufd_stat_add(f, IOMMUFD_ST_INVAL_ENTRIES, done);
	return done;
}

/* Length of the run at @p e: same domain, each with a kernel entry. */
static uint32_t
run_length(const struct usva_inval_entry *e, uint32_t n,
	   const struct usva_domain *dom)
{
	struct iommu_hwpt_vtd_s1_invalidate x;
	uint32_t k = 1;

	while (k < n && k < IOMMUFD_INVAL_CHUNK &&
	       iommufd_inval_encode(&e[k], &x) && entry_domain(&e[k]) == dom)
		k++;
	return k;
}

int
iommufd_invalidate(struct usva_iommu *iommu, const struct usva_inval_entry *e,
		   uint32_t n, int32_t *status)
{
	struct iommufd *f = iommufd_of(iommu);
	struct iommu_hwpt_vtd_s1_invalidate x;
	uint32_t i = 0;

	while (i < n) {
		const struct usva_domain *dom = entry_domain(&e[i]);
		uint32_t k, done;

		if (dom == NULL || !iommufd_inval_encode(&e[i], &x)) {
			/* Detached since (the detach flushed it), or only the
			 * kernel's PASID-entry cache: nothing to send. */
			status[i++] = USVA_INVAL_DONE;
			continue;
		}
		k = run_length(&e[i], n - i, dom);
		done = run_domain(f, dom, &e[i], k, &status[i]);
		i += done;
		if (done < k) {
			for (uint32_t j = i + 1; j < n; j++)
				status[j] = USVA_INVAL_NOT_ATTEMPTED;
			return (int)i;
		}
	}
	return (int)n;
}
