/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: instance life cycle. Parameters, /dev/iommu, the IOAS,
 * probing the IOMMU through one device (the kernel reports IOMMU
 * capabilities per bound device), the NEST_PARENT HWPT, apertures, the
 * fault queue, capabilities, counters and registration.
 *
 * Capability probing decides what works, and says what does not: a kernel
 * or IOMMU without nesting, per-PASID attach or fault queues leaves the
 * capability out with a NOTICE naming the missing feature and the kernel
 * release that added it, so the calls that need it fail with -EOPNOTSUPP
 * (lib/iommu's checks) instead of falling back silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <rte_kvargs.h>

#include "usva_alloc.h"
#include "usva_build_config.h"
#include "iommufd_internal.h"

RTE_LOG_REGISTER(usva_logtype_iommu_iommufd, usva.iommu.iommufd, INFO);

/* ---- the kernel ---------------------------------------------------------- */

static int
sys_open(const char *path, int flags)
{
	return open(path, flags);
}

/* ioctl()'s request is unsigned long in glibc, int in POSIX. */
static int
sys_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

/* The kernel's calls; tests swap iommufd_sys for a model and restore it
 * from iommufd_sys_kernel. */
#define IOMMUFD_SYS_KERNEL {						\
	.open = sys_open,						\
	.close = close,							\
	.ioctl = sys_ioctl,						\
	.read = read,							\
	.write = write,							\
	.poll = poll,							\
	.sysfs = IOMMUFD_SYSFS,						\
}

const struct iommufd_sys iommufd_sys_kernel = IOMMUFD_SYS_KERNEL;
struct iommufd_sys iommufd_sys = IOMMUFD_SYS_KERNEL;

/* ---- helpers ------------------------------------------------------------- */

int
iommufd_ioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	/* Every kernel call can fail: tests make each one fail in turn. */
	if (usva_fail_point("iommufd_ioctl"))
		return -EIO;
	do {
		rc = iommufd_sys.ioctl(fd, req, arg);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

void
iommufd_kernel_release(char *buf, size_t len)
{
	struct utsname u;

	if (uname(&u) == 0)
		snprintf(buf, len, "%s", u.release);
	else
		snprintf(buf, len, "unknown");
}

void
iommufd_note_missing(const char *what, const char *why)
{
	char rel[65];

	iommufd_kernel_release(rel, sizeof(rel));
	IOMMUFD_LOG(NOTICE, "%s unavailable: %s (running Linux %s)", what, why,
		    rel);
}

void
iommufd_destroy_obj(struct iommufd *f, uint32_t id, const char *what)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };
	int rc = iommufd_ioctl(f->fd, IOMMU_DESTROY, &d);

	if (rc)
		IOMMUFD_LOG(WARNING, "destroying %s %u: %s", what, id,
			    strerror(-rc));
}

/* ---- parameters ---------------------------------------------------------- */

struct iommufd_params {
	char dev[IOMMUFD_PCI_ADDR_LEN];	/* probe device; "" : the first */
	char path[256];			/* the iommufd char device */
	uint32_t prq_depth;		/* page requests read per read() */
};

static int
param_set(struct iommufd_params *p, const char *key, const char *val)
{
	unsigned long long v;
	char *end;

	if (val == NULL || val[0] == '\0') {
		IOMMUFD_LOG(ERR, "parameter '%s' needs a value", key);
		return -EINVAL;
	}
	if (strcmp(key, "dev") == 0) {
		if (iommufd_pci_addr_norm(val, p->dev) == 0)
			return 0;
		IOMMUFD_LOG(ERR, "parameter 'dev': '%s' is not a PCI address "
			    "(dddd:bb:dd.f)", val);
		return -EINVAL;
	}
	if (strcmp(key, "iommufd") == 0) {
		if (strlen(val) < sizeof(p->path)) {
			snprintf(p->path, sizeof(p->path), "%s", val);
			return 0;
		}
		IOMMUFD_LOG(ERR, "parameter 'iommufd': path too long");
		return -EINVAL;
	}
	if (strcmp(key, "prq_depth") == 0) {
		errno = 0;
		v = strtoull(val, &end, 0);
		if (errno == 0 && *end == '\0' && val[0] != '-' && v >= 1 &&
		    v <= IOMMUFD_PRQ_DEPTH_MAX) {
			p->prq_depth = (uint32_t)v;
			return 0;
		}
		IOMMUFD_LOG(ERR, "parameter 'prq_depth': '%s' is not a number "
			    "in [1, %u]", val, IOMMUFD_PRQ_DEPTH_MAX);
		return -EINVAL;
	}
	IOMMUFD_LOG(ERR, "unknown parameter '%s' (dev, iommufd, prq_depth)",
		    key);
	return -EINVAL;
}

static int
params_parse(const char *params, struct iommufd_params *p)
{
	struct rte_kvargs *kv;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", IOMMUFD_DEV_PATH);
	p->prq_depth = USVA_DEFAULT_PRQ_DEPTH;
	if (params == NULL || params[0] == '\0')
		return 0;
	kv = rte_kvargs_parse(params, NULL);
	if (kv == NULL) {
		IOMMUFD_LOG(ERR, "parameters '%s' are not key=value,...", params);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < kv->count && rc == 0; i++)
		rc = param_set(p, kv->pairs[i].key, kv->pairs[i].value);
	rte_kvargs_free(kv);
	return rc;
}

/* ---- the iommufd and its IOAS -------------------------------------------- */

static int
iommufd_dev_node_open(struct iommufd *f, const char *path)
{
	char rel[65];
	int err;

	f->fd = iommufd_sys.open(path, O_RDWR | O_CLOEXEC);
	if (f->fd >= 0)
		return 0;
	err = errno;
	if (err == ENOENT || err == ENODEV || err == ENXIO) {
		iommufd_kernel_release(rel, sizeof(rel));
		IOMMUFD_LOG(ERR, "no %s: the kernel has no iommufd "
			    "(CONFIG_IOMMUFD, Linux 6.2+) (running Linux %s)",
			    path, rel);
		return -EOPNOTSUPP;
	}
	IOMMUFD_LOG(ERR, "open %s: %s%s", path, strerror(err),
		    err == EACCES || err == EPERM ?
		    " (needs root or access to the device node)" : "");
	return -err;
}

static int
ioas_alloc(struct iommufd *f)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	int rc = iommufd_ioctl(f->fd, IOMMU_IOAS_ALLOC, &a);

	if (rc) {
		IOMMUFD_LOG(ERR, "IOMMU_IOAS_ALLOC: %s", strerror(-rc));
		return rc == -ENOTTY ? -EOPNOTSUPP : rc;
	}
	f->ioas_id = a.out_ioas_id;
	return 0;
}

/* ---- probing ------------------------------------------------------------- */

static int
parent_try(struct iommufd *f, uint32_t dev_id, uint32_t flags)
{
	struct usva_iommu_hwpt_alloc a = {
		.size = sizeof(a),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = f->ioas_id,
		.data_type = USVA_IOMMU_HWPT_DATA_NONE,
	};
	int rc = iommufd_ioctl(f->fd, IOMMU_HWPT_ALLOC, &a);

	if (rc == 0) {
		f->parent_id = a.out_hwpt_id;
		f->parent_flags = flags;
	}
	return rc;
}

static void
no_nesting(const struct iommufd *f)
{
	if (f->hw.type == USVA_IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
		iommufd_note_missing("nesting", "nested SMMUv3 "
			"(IOMMU_HWPT_DATA_ARM_SMMUV3 on a vIOMMU, Linux 6.14+) "
			"is not implemented by this backend yet");
	else
		iommufd_note_missing("nesting", "the IOMMU does not nest (VT-d "
			"needs scalable mode with first- and second-stage "
			"translation and ecap.NEST)");
}

/*
 * Nesting without stage-1 invalidation would leave stale translations
 * behind every unmap: IOMMU_HWPT_INVALIDATE must exist. An empty array
 * probes it (the kernel allows that); naming the parent, a paging HWPT,
 * is refused by a kernel that has the ioctl and unknown to one without.
 */
static bool
inval_supported(struct iommufd *f)
{
	struct iommu_hwpt_invalidate q = {
		.size = sizeof(q),
		.hwpt_id = f->parent_id,
		.data_type = IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
	};

	return iommufd_ioctl(f->fd, IOMMU_HWPT_INVALIDATE, &q) != -ENOTTY;
}

/*
 * The stage-2 HWPT nested domains hang from. On an IOMMU with PASIDs it is
 * asked PASID-capable first (attaching a PASID needs every domain of the
 * device to be, Linux 6.15), then without; neither: no nesting.
 */
static void
parent_try_all(struct iommufd *f, uint32_t dev_id)
{
	const uint32_t np = USVA_IOMMU_HWPT_ALLOC_NEST_PARENT;
	int rc = -EOPNOTSUPP;

	f->no_pasid_why = "the instance has no nesting";
	if (!f->hc.nesting || f->hc.s1_formats == 0) {
		no_nesting(f);
		return;
	}
	if (f->hc.pasid_width > 0) {
		rc = parent_try(f, dev_id, np | USVA_IOMMU_HWPT_ALLOC_PASID);
		if (rc == 0) {
			f->pasid_attach = true;
			f->no_pasid_why = NULL;
			return;
		}
	}
	rc = parent_try(f, dev_id, np);
	if (rc == 0) {
		f->no_pasid_why = f->hc.pasid_width == 0 ?
			"the IOMMU has no PASID support" :
			"the kernel refused IOMMU_HWPT_ALLOC_PASID (PASID "
			"attach through VFIO device cdevs needs Linux 6.15+)";
		if (f->hc.pasid_width > 0)
			iommufd_note_missing("per-PASID attach",
					     f->no_pasid_why);
		return;
	}
	iommufd_note_missing("nesting", rc == -EOPNOTSUPP || rc == -EINVAL ?
		"the kernel refused IOMMU_HWPT_ALLOC_NEST_PARENT (nesting "
		"parents need Linux 6.7+, VT-d stage-1 invalidation 6.8+)" :
		"IOMMU_HWPT_ALLOC of the nesting parent failed");
	IOMMUFD_LOG(DEBUG, "nesting parent: %s", strerror(-rc));
}

/* The nesting parent, if the kernel can nest and invalidate. */
static void
parent_alloc(struct iommufd *f, uint32_t dev_id)
{
	parent_try_all(f, dev_id);
	if (f->parent_id == 0 || inval_supported(f))
		return;
	iommufd_destroy_obj(f, f->parent_id, "nesting parent");
	f->parent_id = 0;
	f->parent_flags = 0;
	f->pasid_attach = false;
	f->no_pasid_why = "the instance has no nesting";
	iommufd_note_missing("nesting", "the kernel has no "
		"IOMMU_HWPT_INVALIDATE (stage-1 invalidation needs Linux 6.8+)");
}

/*
 * Learn the IOMMU through device @p addr: bind it, read its hardware
 * information, make the nesting parent, attach the device's RID to it so
 * the IOAS narrows to the IOMMU's aperture and the device's reserved
 * regions, read and pin the apertures, then let the device go.
 */
static int
probe(struct iommufd *f, const char *addr)
{
	uint32_t dev_id;
	int cdev, rc;

	snprintf(f->probe, sizeof(f->probe), "%s", addr);
	rc = iommufd_bind(f, addr, &cdev, &dev_id);
	if (rc)
		return rc;
	rc = iommufd_hw_info_get(f, dev_id, addr, &f->hw);
	if (rc)
		goto out;
	iommufd_caps_decode(&f->hw, &f->hc);
	parent_alloc(f, dev_id);
	f->rid_pt = f->parent_id ? f->parent_id : f->ioas_id;
	rc = iommufd_pt_attach(cdev, f->rid_pt, false, 0);
	if (rc) {
		IOMMUFD_LOG(ERR, "probe device %s: attaching its RID: %s", addr,
			    strerror(-rc));
		goto out;
	}
	rc = iommufd_ranges_load(f);
	iommufd_pt_detach(cdev, false, 0);
out:
	iommufd_sys.close(cdev);	/* unbinds the device */
	return rc;
}

static int
probe_device(const struct iommufd_params *p, char *addr)
{
	if (p->dev[0] != '\0') {
		snprintf(addr, IOMMUFD_PCI_ADDR_LEN, "%s", p->dev);
		return 0;
	}
	if (iommufd_sysfs_first_vfio(iommufd_sys.sysfs, addr,
				     IOMMUFD_PCI_ADDR_LEN) == 0)
		return 0;
	IOMMUFD_LOG(ERR, "no device bound to vfio-pci to learn the IOMMU from "
		    "(the kernel reports IOMMU capabilities per device): bind "
		    "one and name it with dev=<PCI address>");
	return -ENODEV;
}

/* ---- capabilities -------------------------------------------------------- */

static void
caps_fill(struct usva_iommu *iommu, const struct iommufd *f)
{
	struct usva_iommu_caps *c = &iommu->caps;
	const struct iommufd_hw_caps *h = &f->hc;

	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	if (f->parent_id != 0) {
		c->flags |= USVA_IOMMU_CAP_NESTING;
		c->s1_formats = h->s1_formats;
		c->s1_page_sizes = h->s1_page_sizes;
		c->s1_va_bits_max = h->s1_va_bits_max;
	}
	if (f->fault_fd >= 0)
		c->flags |= USVA_IOMMU_CAP_PRI;
	if (h->ats)
		c->flags |= USVA_IOMMU_CAP_ATS;
	/* SMMUv3 stall faults come with nested SMMUv3: not reported. */
	if (f->pasid_attach) {
		c->flags |= USVA_IOMMU_CAP_PASID;
		c->pasid_width = h->pasid_width;
	}
	c->iova_bits = iommufd_bits(iommu->ranges[iommu->nr_ranges - 1].last);
	c->max_page_requests = f->fault_fd >= 0 ? f->stage_cap : 0;
	/* Per nested HWPT; a PASID-wide flush is the HWPT's. */
	c->inval_granules = USVA_INVAL_GRAN_DOMAIN | USVA_INVAL_GRAN_PASID |
			    USVA_INVAL_GRAN_ADDR;
}

/* ---- open / close -------------------------------------------------------- */

static void
iommufd_teardown(struct iommufd *f)
{
	iommufd_fault_fini(f);
	if (f->parent_id != 0)
		iommufd_destroy_obj(f, f->parent_id, "nesting parent");
	f->parent_id = 0;
	/* Closing the iommufd destroys the IOAS and its mappings. */
	if (f->fd >= 0)
		iommufd_sys.close(f->fd);
	f->fd = -1;
	iommufd_s2_fini(f);
	pthread_mutex_destroy(&f->s2_lock);
	pthread_mutex_destroy(&f->devmap_lock);
}

static void
fp_install(struct usva_iommu *iommu, struct iommufd *f)
{
	usva_iommu_fp[iommu->id] = (struct usva_iommu_fp_ops){
		.ctx = f,
		.prq_poll = iommufd_prq_poll,
		.page_respond = iommufd_page_respond,
		.prq_arm = f->fault_fd >= 0 ? iommufd_prq_arm : NULL,
	};
}

static int
iommufd_open(struct usva_iommu *iommu, const char *params)
{
	struct iommufd *f = iommufd_of(iommu);
	char addr[IOMMUFD_PCI_ADDR_LEN];
	struct iommufd_params p;
	int rc;

	memset(f, 0, sizeof(*f));
	f->iommu = iommu;
	f->fd = -1;
	f->fault_fd = -1;
	pthread_mutex_init(&f->s2_lock, NULL);
	pthread_mutex_init(&f->devmap_lock, NULL);
	rc = params_parse(params, &p);
	if (rc)
		goto err;
	rc = iommufd_dev_node_open(f, p.path);
	if (rc)
		goto err;
	rc = ioas_alloc(f);
	if (rc)
		goto err;
	rc = probe_device(&p, addr);
	if (rc)
		goto err;
	rc = probe(f, addr);
	if (rc)
		goto err;
	if (f->parent_id != 0 && f->hc.pri) {
		rc = iommufd_fault_init(f, p.prq_depth);
		if (rc)
			goto err;
	}
	caps_fill(iommu, f);
	fp_install(iommu, f);
	IOMMUFD_LOG(INFO, "instance %u: %s behind %s, %s, PASID %u bits, %s, "
		    "IOVA %u bits", iommu->id, f->hc.name, addr,
		    f->parent_id ? "nesting" : "stage 2 only",
		    iommu->caps.pasid_width,
		    f->fault_fd >= 0 ? "page requests" : "no page requests",
		    iommu->caps.iova_bits);
	return 0;

err:
	iommufd_teardown(f);
	return rc;
}

static void
iommufd_close(struct usva_iommu *iommu)
{
	struct iommufd *f = iommufd_of(iommu);

	memset(&usva_iommu_fp[iommu->id], 0, sizeof(usva_iommu_fp[0]));
	iommufd_teardown(f);
}

/* ---- counters ------------------------------------------------------------ */

static void
iommufd_stats(const struct usva_iommu *iommu, struct usva_iommu_stats *st)
{
	const struct iommufd *f = iommufd_of(iommu);
	uint64_t c[IOMMUFD_ST_NR];

	for (unsigned int i = 0; i < IOMMUFD_ST_NR; i++)
		c[i] = __atomic_load_n(&f->stats[i], __ATOMIC_RELAXED);
	/* Translations and caches are the hardware's: not visible here. */
	st->page_requests = c[IOMMUFD_ST_PAGE_REQUESTS];
	st->responses = c[IOMMUFD_ST_RESPONSES];
	st->responses_dropped = c[IOMMUFD_ST_RESPONSES_DROPPED];
	st->inval_entries = c[IOMMUFD_ST_INVAL_ENTRIES];
	st->inval_calls = c[IOMMUFD_ST_INVAL_CALLS];
}

/* ---- registration -------------------------------------------------------- */

const struct usva_iommu_ops iommufd_ops = {
	.name = "iommufd",
	.iommu_priv_size = sizeof(struct iommufd),
	.dev_priv_size = sizeof(struct iommufd_dev),
	.domain_priv_size = sizeof(struct iommufd_domain),
	.inval_flags = USVA_IOMMU_INVAL_PER_DOMAIN,
	.inval_max_entries = IOMMUFD_INVAL_CHUNK,
	.open = iommufd_open,
	.close = iommufd_close,
	.s2_map = iommufd_s2_map,
	.s2_unmap = iommufd_s2_unmap,
	.dev_open = iommufd_dev_open,
	.dev_close = iommufd_dev_close,
	.domain_init = iommufd_domain_init,
	.domain_fini = iommufd_domain_fini,
	.attach = iommufd_attach,
	.detach = iommufd_detach,
	.invalidate = iommufd_invalidate,
	.prq_fd = iommufd_prq_fd,
	.stats = iommufd_stats,
};

USVA_IOMMU_BACKEND_REGISTER(iommufd_ops)
