/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What sysfs and /dev say about a PCI device, without opening it: its
 * driver, IOMMU group, VFIO cdev, BARs, NUMA node and configuration space.
 * usva_vfio_probe() reports; uvfio_check_usable() turns what is missing for
 * a mode into one log line that says what to do, for usva_vfio_dev_open().
 *
 * Both roots can be moved (usva_vfio_config.sysfs_root and dev_root) so
 * tests can point the lookups at a tree they build in a temporary
 * directory: only names below the roots are used, the layout is the
 * kernel's:
 *   <sysfs>/bus/pci/devices/<addr>/{driver,iommu_group,iommu} (symlinks)
 *   <sysfs>/bus/pci/devices/<addr>/vfio-dev/vfioN             (cdev, 6.6+)
 *   <sysfs>/bus/pci/devices/<addr>/{config,resource,numa_node}
 *   <dev>/vfio/<group> or <dev>/vfio/noiommu-<group>, <dev>/vfio/vfio,
 *   <dev>/vfio/devices/vfioN, <dev>/iommu
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <rte_common.h>

#include "usva_struct.h"
#include "usva_vfio_internal.h"

#define DEFAULT_SYSFS	"/sys"
#define DEFAULT_DEV	"/dev"

/* sysfs resource flags (include/linux/ioport.h) */
#define IORESOURCE_IO		0x00000100u
#define IORESOURCE_MEM		0x00000200u
#define IORESOURCE_PREFETCH	0x00002000u
#define IORESOURCE_MEM_64	0x00100000u

/* ---- PCI addresses -------------------------------------------------------- */

/* Up to @p max hex digits (at least one) into *@p v; advances *@p p. */
static bool
hex_field(const char **p, unsigned int max, uint32_t *v)
{
	unsigned int n = 0;
	uint32_t x = 0;

	while (n < max && isxdigit((unsigned char)**p)) {
		char c = (char)tolower((unsigned char)**p);

		x = x * 16 + (uint32_t)(isdigit((unsigned char)c) ?
					c - '0' : c - 'a' + 10);
		(*p)++;
		n++;
	}
	*v = x;
	return n > 0;
}

int
usva_vfio_pci_addr(const char *in, char out[USVA_PCI_ADDR_LEN])
{
	uint32_t dom = 0, bus, slot, fn;
	const char *p = in;
	unsigned int colons = 0;

	if (in == NULL || out == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_pci_addr: NULL address");
		return -EINVAL;
	}
	for (const char *c = in; *c; c++)
		colons += *c == ':';
	if (colons == 2 && !(hex_field(&p, 8, &dom) && *p++ == ':'))
		goto bad;
	if (colons < 1 || colons > 2 ||
	    !hex_field(&p, 2, &bus) || *p++ != ':' ||
	    !hex_field(&p, 2, &slot) || *p++ != '.' ||
	    !hex_field(&p, 1, &fn) || *p != '\0' || slot > 0x1f || fn > 7)
		goto bad;
	snprintf(out, USVA_PCI_ADDR_LEN, "%04x:%02x:%02x.%x", dom, bus, slot,
		 fn);
	return 0;
bad:
	USVA_LOG(ERR, vfio,
		 "'%s' is not a PCI address (dddd:bb:dd.f or bb:dd.f, hex)", in);
	return -EINVAL;
}

/* ---- small file helpers ---------------------------------------------------- */

static int __rte_format_printf(3, 4)
path_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		USVA_LOG(ERR, vfio, "path too long: %.64s...", buf);
		buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The last component of where the symlink @p path points, into @p out. */
static int
link_base(const char *path, char *out, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(out, base);
	return 0;
}

/* The first line of a small file, without its newline. */
static int
read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (f == NULL)
		return -errno;
	if (fgets(buf, (int)len, f) == NULL)
		rc = -EIO;
	else
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return rc;
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* ---- the lookups ------------------------------------------------------------ */

void
uvfio_roots_get(const struct usva_vfio_config *cfg, struct uvfio_roots *roots)
{
	roots->sysfs = cfg->sysfs_root ? cfg->sysfs_root : DEFAULT_SYSFS;
	roots->dev = cfg->dev_root ? cfg->dev_root : DEFAULT_DEV;
}

bool
uvfio_driver_is_vfio(const char *driver)
{
	/* vfio-pci itself, or a variant driver (mlx5_vfio_pci, ...). */
	return strcmp(driver, "vfio-pci") == 0 ||
	       strstr(driver, "vfio_pci") != NULL ||
	       strstr(driver, "vfio-pci") != NULL;
}

static void
lookup_group(const struct uvfio_roots *roots, const char *dir,
	     struct usva_vfio_dev_info *info)
{
	char path[PATH_MAX], name[32], *gp, *end;
	long g;

	info->group = -1;
	if (path_fmt(path, sizeof(path), "%s/iommu_group", dir) ||
	    link_base(path, name, sizeof(name)))
		return;
	errno = 0;
	g = strtol(name, &end, 10);
	if (errno || end == name || *end != '\0' || g < 0 || g > INT32_MAX) {
		USVA_LOG(WARNING, vfio, "%s: IOMMU group '%s' is not a number",
			 info->pci_addr, name);
		return;
	}
	info->group = (int32_t)g;
	info->status |= USVA_VFIO_ST_GROUP;
	gp = info->group_path;
	if (path_fmt(gp, sizeof(info->group_path), "%s/vfio/%d", roots->dev,
		     info->group) == 0 && exists(gp))
		info->status |= USVA_VFIO_ST_GROUP_NODE;
	else if (path_fmt(gp, sizeof(info->group_path), "%s/vfio/noiommu-%d",
			  roots->dev, info->group) == 0 && exists(gp))
		info->status |= USVA_VFIO_ST_GROUP_NODE | USVA_VFIO_ST_NOIOMMU;
	else
		gp[0] = '\0';
}

static void
lookup_cdev(const struct uvfio_roots *roots, const char *dir,
	    struct usva_vfio_dev_info *info)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (path_fmt(path, sizeof(path), "%s/vfio-dev", dir))
		return;
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (strncmp(n, "vfio", 4) != 0 || !isdigit((unsigned char)n[4]) ||
		    strlen(n) >= sizeof(info->cdev))
			continue;
		strcpy(info->cdev, n);
		info->status |= USVA_VFIO_ST_CDEV;
		break;
	}
	closedir(d);
	if (!(info->status & USVA_VFIO_ST_CDEV) ||
	    path_fmt(info->cdev_path, sizeof(info->cdev_path),
		     "%s/vfio/devices/%s", roots->dev, info->cdev))
		return;
	if (exists(info->cdev_path))
		info->status |= USVA_VFIO_ST_CDEV_NODE;
}

static void
lookup_bars(const char *dir, struct usva_vfio_dev_info *info)
{
	char path[PATH_MAX], line[128];
	FILE *f;

	if (path_fmt(path, sizeof(path), "%s/resource", dir))
		return;
	f = fopen(path, "re");
	if (f == NULL)
		return;
	for (unsigned int i = 0; i < VFIO_NR_BARS &&
	     fgets(line, sizeof(line), f) != NULL; i++) {
		uint64_t start, end, fl;
		struct usva_vfio_bar *b = &info->bars[i];

		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64,
			   &start, &end, &fl) != 3 || end <= start)
			continue;
		b->size = end - start + 1;
		if (fl & IORESOURCE_IO)
			b->flags |= USVA_VFIO_BAR_IO;
		if (fl & IORESOURCE_MEM)
			b->flags |= USVA_VFIO_BAR_MEM;
		if (fl & IORESOURCE_MEM_64)
			b->flags |= USVA_VFIO_BAR_MEM64;
		if (fl & IORESOURCE_PREFETCH)
			b->flags |= USVA_VFIO_BAR_PREFETCH;
	}
	fclose(f);
}

/*
 * sysfs' config file: its size is the function's config space size; root
 * reads all of it, anyone else the first 64 bytes.
 */
static void
lookup_config(const char *dir, struct usva_vfio_dev_info *info)
{
	uint8_t cfg[USVA_PCI_CFG_EXP_SIZE];
	char path[PATH_MAX];
	struct stat st;
	size_t got = 0;
	int fd;

	if (path_fmt(path, sizeof(path), "%s/config", dir))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0)
		info->cfg_size = (uint32_t)RTE_MIN((uint64_t)st.st_size,
						   (uint64_t)sizeof(cfg));
	while (got < sizeof(cfg)) {
		ssize_t n = pread(fd, cfg + got, sizeof(cfg) - got, (off_t)got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	info->cfg_read = (uint32_t)got;
	if (info->cfg_size == 0)
		info->cfg_size = info->cfg_read;
	if (got < PCI_STD_HEADER_SIZEOF)
		return;
	/*
	 * A non-root read stops at the header: the list is not in the bytes
	 * we have, which is no fault of the device's. Parse the header only.
	 */
	if (got < USVA_PCI_CFG_SIZE)
		cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_CAP_LIST;
	/* -EBADMSG still fills what was found; caps.errors says the rest. */
	(void)usva_vfio_parse_caps(cfg, got, &info->caps);
	if (got >= info->cfg_size && got >= USVA_PCI_CFG_SIZE)
		info->status |= USVA_VFIO_ST_CFG;
}

void
uvfio_compute_need(struct usva_vfio_dev_info *info)
{
	uint32_t st = info->status, have = info->caps.flags, need = 0;

	if (!(st & USVA_VFIO_ST_GROUP) || (st & USVA_VFIO_ST_NOIOMMU))
		need |= USVA_VFIO_NEED_IOMMU;
	if (!(st & USVA_VFIO_ST_VFIO_DRIVER)) {
		need |= USVA_VFIO_NEED_VFIO_PCI;
	} else {
		if (!(st & USVA_VFIO_ST_GROUP_NODE))
			need |= USVA_VFIO_NEED_GROUP_NODE;
		if (!(st & USVA_VFIO_ST_CDEV))
			need |= USVA_VFIO_NEED_CDEV;
	}
	if (!(st & USVA_VFIO_ST_IOMMUFD))
		need |= USVA_VFIO_NEED_IOMMUFD;
	if (!(st & USVA_VFIO_ST_CFG)) {
		need |= USVA_VFIO_NEED_CFG;
	} else {
		if (!(have & USVA_PCI_CAP_PASID))
			need |= USVA_VFIO_NEED_PASID;
		if (!(have & USVA_PCI_CAP_PRI))
			need |= USVA_VFIO_NEED_PRI;
		if (!(have & USVA_PCI_CAP_ATS))
			need |= USVA_VFIO_NEED_ATS;
	}
	info->need = need;
}

int
uvfio_lookup(const struct uvfio_roots *roots, const char *addr,
	    struct usva_vfio_dev_info *info)
{
	char dir[PATH_MAX], path[PATH_MAX], num[16];
	struct stat st;
	int rc;

	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->group = -1;
	info->numa_node = -1;
	rc = usva_vfio_pci_addr(addr, info->pci_addr);
	if (rc)
		return rc;
	rc = path_fmt(dir, sizeof(dir), "%s/bus/pci/devices/%s", roots->sysfs,
		      info->pci_addr);
	if (rc)
		return rc;
	if (stat(dir, &st) != 0) {
		USVA_LOG(ERR, vfio, "no PCI device %s (nothing at %s)",
			 info->pci_addr, dir);
		return -ENODEV;
	}
	if (path_fmt(path, sizeof(path), "%s/driver", dir) == 0 &&
	    link_base(path, info->driver, sizeof(info->driver)) == 0 &&
	    uvfio_driver_is_vfio(info->driver))
		info->status |= USVA_VFIO_ST_VFIO_DRIVER;
	if (path_fmt(path, sizeof(path), "%s/iommu", dir) == 0)
		(void)link_base(path, info->iommu, sizeof(info->iommu));
	if (path_fmt(path, sizeof(path), "%s/numa_node", dir) == 0 &&
	    read_line(path, num, sizeof(num)) == 0)
		info->numa_node = (int32_t)strtol(num, NULL, 10);
	lookup_group(roots, dir, info);
	lookup_cdev(roots, dir, info);
	lookup_bars(dir, info);
	lookup_config(dir, info);
	if (path_fmt(path, sizeof(path), "%s/iommu", roots->dev) == 0 &&
	    exists(path))
		info->status |= USVA_VFIO_ST_IOMMUFD;
	if (path_fmt(path, sizeof(path), "%s/vfio/vfio", roots->dev) == 0 &&
	    exists(path))
		info->status |= USVA_VFIO_ST_CONTAINER;
	uvfio_compute_need(info);
	return 0;
}

/* ---- probe and the reasons --------------------------------------------------- */

/* Copy the part of @p src that fits the caller's size; set its size. */
static void
info_copy_out(struct usva_vfio_dev_info *dst,
	      const struct usva_vfio_dev_info *src)
{
	uint32_t n = RTE_MIN(dst->size, (uint32_t)sizeof(*src));

	memcpy((uint8_t *)dst + sizeof(dst->size),
	       (const uint8_t *)src + sizeof(src->size), n - sizeof(dst->size));
	dst->size = n;
}

int
uvfio_info_out(struct usva_vfio_dev_info *dst,
	      const struct usva_vfio_dev_info *src, const char *what)
{
	if (dst == NULL ||
	    dst->size < USVA_OFFSETOFEND(struct usva_vfio_dev_info, need)) {
		USVA_LOG(ERR, vfio, "%s: %s", what,
			 dst == NULL ? "NULL info" :
			 "info size below its need field");
		return -EINVAL;
	}
	info_copy_out(dst, src);
	return 0;
}

int
usva_vfio_probe(const struct usva_vfio_config *ucfg,
		struct usva_vfio_dev_info *info)
{
	struct usva_vfio_dev_info found;
	struct usva_vfio_config cfg;
	struct uvfio_roots roots;
	int rc;

	rc = USVA_CONFIG_LOAD(&cfg, ucfg, pci_addr, reserved,
			      USVA_VFIO_F_LEGACY | USVA_VFIO_F_CDEV);
	if (rc)
		return rc;
	if (cfg.container != NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_probe: a container opens nothing here");
		return -EINVAL;
	}
	if (info == NULL ||
	    info->size < USVA_OFFSETOFEND(struct usva_vfio_dev_info, need))
		return uvfio_info_out(info, NULL, "usva_vfio_probe");
	uvfio_roots_get(&cfg, &roots);
	rc = uvfio_lookup(&roots, cfg.pci_addr, &found);
	if (rc)
		return rc;
	return uvfio_info_out(info, &found, "usva_vfio_probe");
}

const char *
usva_vfio_need_str(uint32_t need_bit)
{
	switch (need_bit) {
	case USVA_VFIO_NEED_IOMMU:
		return "no IOMMU translation: no IOMMU group (IOMMU off: boot with intel_iommu=on or amd_iommu=on, or enable the SMMU) or a VFIO no-IOMMU group";
	case USVA_VFIO_NEED_VFIO_PCI:
		return "not bound to vfio-pci: modprobe vfio-pci, then dpdk-devbind.py -b vfio-pci <addr> (or driver_override + drivers_probe)";
	case USVA_VFIO_NEED_GROUP_NODE:
		return "no VFIO group node: legacy (type1) mode unavailable (kernel without CONFIG_VFIO_GROUP?)";
	case USVA_VFIO_NEED_CDEV:
		return "no VFIO device cdev: kernel before 6.6 or without CONFIG_VFIO_DEVICE_CDEV: legacy mode only, no PASID";
	case USVA_VFIO_NEED_IOMMUFD:
		return "no /dev/iommu: kernel without CONFIG_IOMMUFD (or modprobe iommufd): no nesting, no PASID attach";
	case USVA_VFIO_NEED_CFG:
		return "config space not readable whole (run as root): PASID, PRI and ATS unknown";
	case USVA_VFIO_NEED_PASID:
		return "no PASID capability: no SVA, stage-2 DMA only";
	case USVA_VFIO_NEED_PRI:
		return "no PRI: block-on-fault unavailable (pre-fault or pin, or use partial completion)";
	case USVA_VFIO_NEED_ATS:
		return "no ATS: no device TLB (works; every translation goes to the IOMMU)";
	default:
		return "";
	}
}

/* ---- what a mode needs, said once ------------------------------------------- */

static int
need_group(const struct usva_vfio_dev_info *info)
{
	if (info->status & USVA_VFIO_ST_GROUP)
		return 0;
	USVA_LOG(ERR, vfio,
		 "%s has no IOMMU group: the IOMMU is off or absent (boot with intel_iommu=on or amd_iommu=on; on ARM enable the SMMU); VFIO needs it",
		 info->pci_addr);
	return -ENODEV;
}

static int
need_vfio_driver(const struct uvfio_roots *roots,
		 const struct usva_vfio_dev_info *info)
{
	const char *a = info->pci_addr, *s = roots->sysfs;

	if (info->status & USVA_VFIO_ST_VFIO_DRIVER)
		return 0;
	if (info->driver[0] != '\0')
		USVA_LOG(ERR, vfio,
			 "%s is bound to %s, not vfio-pci: bind it with `modprobe vfio-pci; echo vfio-pci > %s/bus/pci/devices/%s/driver_override; echo %s > %s/bus/pci/devices/%s/driver/unbind; echo %s > %s/bus/pci/drivers_probe` (or `dpdk-devbind.py -b vfio-pci %s`)",
			 a, info->driver, s, a, a, s, a, a, s, a);
	else
		USVA_LOG(ERR, vfio,
			 "%s is bound to no driver, not vfio-pci: bind it with `modprobe vfio-pci; echo vfio-pci > %s/bus/pci/devices/%s/driver_override; echo %s > %s/bus/pci/drivers_probe` (or `dpdk-devbind.py -b vfio-pci %s`)",
			 a, s, a, a, s, a);
	return -ENODEV;
}

static int
need_legacy(const struct uvfio_roots *roots,
	    const struct usva_vfio_dev_info *info)
{
	if (!(info->status & USVA_VFIO_ST_GROUP_NODE)) {
		USVA_LOG(ERR, vfio,
			 "%s: no node for IOMMU group %d under %s/vfio: legacy mode needs the VFIO group interface (CONFIG_VFIO_GROUP); use cdev mode",
			 info->pci_addr, info->group, roots->dev);
		return -ENODEV;
	}
	if (info->status & USVA_VFIO_ST_NOIOMMU)
		USVA_LOG(WARNING, vfio,
			 "%s: IOMMU group %d is a VFIO no-IOMMU group: no DMA translation or isolation, DMA mapping is refused",
			 info->pci_addr, info->group);
	return 0;
}

static int
need_cdev(const struct usva_vfio_dev_info *info)
{
	if (!(info->status & USVA_VFIO_ST_CDEV)) {
		USVA_LOG(ERR, vfio,
			 "%s has no VFIO device cdev (no vfio-dev directory): the kernel is older than 6.6 or lacks CONFIG_VFIO_DEVICE_CDEV; use legacy mode",
			 info->pci_addr);
		return -ENODEV;
	}
	if (!(info->status & USVA_VFIO_ST_CDEV_NODE)) {
		USVA_LOG(ERR, vfio, "%s: its VFIO cdev %s has no node (%s)",
			 info->pci_addr, info->cdev, info->cdev_path);
		return -ENODEV;
	}
	return 0;
}

/* Order: the IOMMU first, as vfio-pci will not bind without a group. */
int
uvfio_check_usable(const struct uvfio_roots *roots,
		  const struct usva_vfio_dev_info *info, uint32_t mode)
{
	int rc;

	rc = need_group(info);
	if (rc == 0)
		rc = need_vfio_driver(roots, info);
	if (rc == 0)
		rc = mode == USVA_VFIO_F_LEGACY ? need_legacy(roots, info) :
						  need_cdev(info);
	return rc;
}
