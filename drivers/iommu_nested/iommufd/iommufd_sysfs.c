/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd backend: finding a PCI device's VFIO cdev in sysfs.
 *
 * A PCI device bound to vfio-pci (or a vfio-pci variant driver) on a
 * kernel with CONFIG_VFIO_DEVICE_CDEV has
 * <sysfs>/bus/pci/devices/<addr>/vfio-dev/vfioN, and its cdev is
 * /dev/vfio/devices/vfioN. Anything else is reported with the commands
 * that fix it. Kept small and private to this backend: the general VFIO
 * and PCI binding code lives elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iommufd_internal.h"

#define SYSFS_PATH_MAX	PATH_MAX

/* snprintf() into a path buffer; false if it did not fit. */
static bool __rte_format_printf(3, 4)
path_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "vfio" followed by digits. */
static bool
is_vfio_cdev_name(const char *name)
{
	if (strncmp(name, "vfio", 4) != 0 || name[4] == '\0')
		return false;
	for (const char *p = name + 4; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/* The "vfioN" entry of @p dir, into @p out. @return 0 or -ENOENT. */
static int
vfio_dev_entry(const char *dir, char *out, size_t len)
{
	struct dirent *de;
	int rc = -ENOENT;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return -ENOENT;
	while ((de = readdir(d)) != NULL) {
		if (is_vfio_cdev_name(de->d_name) &&
		    strlen(de->d_name) < len) {
			path_fmt(out, len, "%s", de->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Name of the driver @p addr is bound to, or "" if none. */
static void
driver_name(const char *devdir, char *out, size_t len)
{
	char link[SYSFS_PATH_MAX], target[SYSFS_PATH_MAX];
	const char *base;
	ssize_t n;

	out[0] = '\0';
	if (!path_fmt(link, sizeof(link), "%s/driver", devdir))
		return;
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	path_fmt(out, len, "%s", base ? base + 1 : target);
}

/* Not bound to a VFIO driver: say how to bind it. */
static int
report_unbound(const char *addr, const char *drv)
{
	if (drv[0] == '\0') {
		IOMMUFD_LOG(ERR, "PCI device %s has no driver, not vfio-pci: "
			    "bind it with `modprobe vfio-pci; echo vfio-pci > "
			    "/sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers_probe`", addr, addr, addr);
		return -ENODEV;
	}
	IOMMUFD_LOG(ERR, "PCI device %s is bound to %s, not vfio-pci: bind it "
		    "with `modprobe vfio-pci; echo %s > /sys/bus/pci/drivers/%s/"
		    "unbind; echo vfio-pci > /sys/bus/pci/devices/%s/"
		    "driver_override; echo %s > /sys/bus/pci/drivers_probe`",
		    addr, drv, addr, drv, addr, addr);
	return -ENODEV;
}

int
iommufd_sysfs_cdev(const char *root, const char *addr, char *cdev, size_t len)
{
	char devdir[SYSFS_PATH_MAX], vdir[SYSFS_PATH_MAX], drv[NAME_MAX + 1];

	if (!path_fmt(devdir, sizeof(devdir), "%s/bus/pci/devices/%s", root,
		      addr) || !is_dir(devdir)) {
		IOMMUFD_LOG(ERR, "no PCI device %s (lspci -D lists them)", addr);
		return -ENODEV;
	}
	if (path_fmt(vdir, sizeof(vdir), "%s/vfio-dev", devdir) &&
	    vfio_dev_entry(vdir, cdev, len) == 0)
		return 0;
	driver_name(devdir, drv, sizeof(drv));
	if (strstr(drv, "vfio") == NULL)
		return report_unbound(addr, drv);
	IOMMUFD_LOG(ERR, "PCI device %s is bound to %s but has no VFIO device "
		    "cdev: the kernel needs CONFIG_VFIO_DEVICE_CDEV (Linux 6.6+)",
		    addr, drv);
	return -EOPNOTSUPP;
}

int
iommufd_sysfs_first_vfio(const char *root, char *addr, size_t len)
{
	char dir[SYSFS_PATH_MAX], vdir[SYSFS_PATH_MAX], cdev[IOMMUFD_CDEV_NAME_LEN];
	char best[NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *d;

	if (!path_fmt(dir, sizeof(dir), "%s/bus/pci/devices", root))
		return -ENODEV;
	d = opendir(dir);
	if (d == NULL)
		return -ENODEV;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!path_fmt(vdir, sizeof(vdir), "%s/%s/vfio-dev", dir,
			      de->d_name) ||
		    vfio_dev_entry(vdir, cdev, sizeof(cdev)) != 0)
			continue;
		if (best[0] == '\0' || strcmp(de->d_name, best) < 0)
			path_fmt(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	if (best[0] == '\0' || strlen(best) >= len)
		return -ENODEV;
	path_fmt(addr, len, "%s", best);
	return 0;
}

int
iommufd_sysfs_config(const char *root, const char *addr, uint8_t *buf,
		     size_t len)
{
	char path[SYSFS_PATH_MAX];
	ssize_t n;
	int fd, rc;

	if (!path_fmt(path, sizeof(path), "%s/bus/pci/devices/%s/config", root,
		      addr))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, 0);
	rc = n < 0 ? -errno : (int)n;
	close(fd);
	return rc;
}
