/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-info: the PCI devices of this machine and what each needs to be
 * used with usva: driver, IOMMU group, VFIO cdev, PASID (width, execute
 * and privileged modes), PRI (outstanding page requests), ATS, and, per
 * device, what is missing and how to fix it; before them, the IOMMUs,
 * iommufd and VFIO of the machine.
 *
 *   usva-info [--json] [--sysfs-root DIR] [--dev-root DIR] [ADDR...]
 *
 * It reads sysfs only (the configuration space through sysfs' config file:
 * all of it as root, the first 64 bytes otherwise) and opens no device,
 * so it needs neither the EAL nor hugepages and does not call usva_init():
 * usva_vfio_probe() runs before any EAL, and the library's log lines go to
 * stderr as DPDK logs before rte_eal_init().
 *
 * Exit status: 0; 1 when a device named on the command line does not
 * exist; 2 for a bad option.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <rte_common.h>

#include "usva.h"
#include "usva_vfio.h"

#define MAX_DEVS	4096

struct opts {
	bool json;
	const char *sysfs;
	const char *dev;
	char **addrs;
	int nr_addrs;
};

/* What the machine has, ahead of the devices. */
struct sys_info {
	bool root;
	bool iommufd;		/* /dev/iommu */
	bool container;		/* /dev/vfio/vfio */
	bool vfio_pci;		/* module vfio_pci loaded (or built in) */
	bool noiommu_mode;	/* vfio's enable_unsafe_noiommu_mode=Y */
	unsigned int nr_iommus;
};

/* ---- small helpers ------------------------------------------------------- */

static bool
path_exists(const char *root, const char *rel)
{
	char p[4096];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s/%s", root, rel);

	return n > 0 && (size_t)n < sizeof(p) && stat(p, &st) == 0;
}

static bool
read_str(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (f == NULL)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ---- the machine ----------------------------------------------------------- */

/* VT-d extended capability register bits (VT-d spec, ECAP_REG). */
#define ECAP_DT		(UINT64_C(1) << 2)	/* device TLB (ATS) */
#define ECAP_NEST	(UINT64_C(1) << 26)	/* nested translation */
#define ECAP_PRS	(UINT64_C(1) << 29)	/* page requests */
#define ECAP_PSS(e)	(((e) >> 35) & 0x1f)	/* PASID size - 1 */
#define ECAP_PASID	(UINT64_C(1) << 40)
#define ECAP_SMTS	(UINT64_C(1) << 43)	/* scalable mode */
#define ECAP_SSTS	(UINT64_C(1) << 46)	/* second-stage tables */
#define ECAP_FSTS	(UINT64_C(1) << 47)	/* first-stage tables */

struct iommu_unit {
	char name[64];
	const char *kind;	/* "VT-d", "AMD-Vi", "SMMUv3", ... */
	bool have_ecap;
	uint64_t ecap;
};

static void
iommu_describe(const struct opts *o, const char *name, struct iommu_unit *u)
{
	char p[4096], v[64];

	int n;

	memset(u, 0, sizeof(*u));
	n = snprintf(u->name, sizeof(u->name), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(u->name))
		u->name[sizeof(u->name) - 2] = '~';
	n = snprintf(p, sizeof(p), "%s/class/iommu/%s/intel-iommu/ecap",
		     o->sysfs, name);
	if (n > 0 && (size_t)n < sizeof(p) && read_str(p, v, sizeof(v))) {
		u->kind = "VT-d";
		u->ecap = strtoull(v, NULL, 16);
		u->have_ecap = true;
		return;
	}
	snprintf(p, sizeof(p), "%s/class/iommu/%s/amd-iommu", o->sysfs, name);
	if (path_exists(p, "."))
		u->kind = "AMD-Vi";
	else if (strstr(name, "smmu3") != NULL)
		u->kind = "SMMUv3";
	else
		u->kind = "IOMMU";
}

/* Up to @p max IOMMU units from <sysfs>/class/iommu. */
static unsigned int
iommu_list(const struct opts *o, struct iommu_unit *u, unsigned int max)
{
	char p[4096];
	struct dirent *de;
	unsigned int n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/class/iommu", o->sysfs);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] == '.')
			continue;
		iommu_describe(o, de->d_name, &u[n++]);
	}
	closedir(d);
	return n;
}

static void
sys_probe(const struct opts *o, struct sys_info *s)
{
	char p[4096], v[8];

	memset(s, 0, sizeof(*s));
	s->root = geteuid() == 0;
	s->iommufd = path_exists(o->dev, "iommu");
	s->container = path_exists(o->dev, "vfio/vfio");
	s->vfio_pci = path_exists(o->sysfs, "module/vfio_pci") ||
		      path_exists(o->sysfs, "bus/pci/drivers/vfio-pci");
	snprintf(p, sizeof(p), "%s/module/vfio/parameters/enable_unsafe_noiommu_mode",
		 o->sysfs);
	s->noiommu_mode = read_str(p, v, sizeof(v)) && v[0] == 'Y';
}

/*
 * What the kernel's iommufd offers usva, by the version that added each
 * piece (the iommufd backend probes the real thing when it opens: it needs
 * a device bound to vfio-pci for IOMMU_GET_HW_INFO, which a listing tool
 * should not take). The IOMMU's own side (nesting, PRS) is in its units'
 * registers, printed above.
 */
static const struct {
	unsigned int major, minor;
	const char *what;
} iommufd_features[] = {
	{ 6, 7, "nested stage-1 domains" },
	{ 6, 8, "stage-1 invalidation" },
	{ 6, 11, "fault queues (page requests)" },
	{ 6, 15, "per-PASID attach through the VFIO cdev" },
};

static const char *
iommufd_summary(const struct sys_info *s)
{
	static char buf[512];
	unsigned int major = 0, minor = 0;
	struct utsname u;
	size_t n;

	if (!s->iommufd)
		return "no /dev/iommu (kernel without CONFIG_IOMMUFD, or modprobe iommufd): no nesting, no PASID attach";
	if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return "present (/dev/iommu); kernel version unknown";
	n = (size_t)snprintf(buf, sizeof(buf), "present (/dev/iommu), kernel %u.%u:",
			     major, minor);
	for (size_t i = 0; i < RTE_DIM(iommufd_features) && n < sizeof(buf); i++) {
		bool has = major > iommufd_features[i].major ||
			   (major == iommufd_features[i].major &&
			    minor >= iommufd_features[i].minor);

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %s %s (%u.%u)",
				      i ? "," : "", iommufd_features[i].what,
				      has ? "yes" : "no",
				      iommufd_features[i].major,
				      iommufd_features[i].minor);
	}
	return buf;
}

static void
print_unit_text(const struct iommu_unit *u)
{
	uint64_t e = u->ecap;

	printf("  %-14s %s", u->name, u->kind);
	if (u->have_ecap)
		printf(": %s, nesting %s, PRS %s, PASID %s (%u bits), first-stage %s, device TLB %s",
		       e & ECAP_SMTS ? "scalable mode" : "legacy mode only",
		       e & ECAP_NEST ? "yes" : "no", e & ECAP_PRS ? "yes" : "no",
		       e & ECAP_PASID ? "yes" : "no",
		       e & ECAP_PASID ? (unsigned int)ECAP_PSS(e) + 1 : 0,
		       e & ECAP_FSTS ? "yes" : "no", e & ECAP_DT ? "yes" : "no");
	putchar('\n');
}

static void
print_sys_text(const struct sys_info *s, const struct iommu_unit *u,
	       unsigned int nu)
{
	printf("usva-info %s\n", usva_version());
	printf("IOMMU:\n");
	if (nu == 0)
		printf("  none enabled: boot with intel_iommu=on (Intel) or amd_iommu=on (AMD), or enable the SMMU (ARM)\n");
	for (unsigned int i = 0; i < nu; i++)
		print_unit_text(&u[i]);
	printf("iommufd: %s\n", iommufd_summary(s));
	printf("VFIO:    vfio-pci %s; %s%s\n",
	       s->vfio_pci ? "loaded" : "not loaded (modprobe vfio-pci)",
	       s->container ? "legacy containers (/dev/vfio/vfio)" :
	       "no /dev/vfio/vfio (no legacy containers)",
	       s->noiommu_mode ? "; UNSAFE no-IOMMU mode is on" : "");
	printf("config:  %s\n\n", s->root ? "read whole (root)" :
	       "first 64 bytes only (not root): PASID, PRI and ATS unknown");
}

static void
print_sys_json(const struct sys_info *s, const struct iommu_unit *u,
	       unsigned int nu)
{
	printf("{\n  \"version\": ");
	json_str(usva_version());
	printf(",\n  \"root\": %s,\n  \"iommus\": [", s->root ? "true" : "false");
	for (unsigned int i = 0; i < nu; i++) {
		uint64_t e = u[i].ecap;

		printf("%s\n    {\"name\": ", i ? "," : "");
		json_str(u[i].name);
		printf(", \"kind\": ");
		json_str(u[i].kind);
		if (u[i].have_ecap)
			printf(", \"ecap\": \"0x%" PRIx64 "\", \"scalable\": %s, \"nesting\": %s, \"prs\": %s, \"pasid_width\": %u, \"first_stage\": %s, \"device_tlb\": %s",
			       e, e & ECAP_SMTS ? "true" : "false",
			       e & ECAP_NEST ? "true" : "false",
			       e & ECAP_PRS ? "true" : "false",
			       e & ECAP_PASID ? (unsigned int)ECAP_PSS(e) + 1 : 0,
			       e & ECAP_FSTS ? "true" : "false",
			       e & ECAP_DT ? "true" : "false");
		printf("}");
	}
	printf("%s],\n  \"iommufd\": {\"present\": %s, \"note\": ",
	       nu ? "\n  " : "", s->iommufd ? "true" : "false");
	json_str(iommufd_summary(s));
	printf("},\n  \"vfio\": {\"vfio_pci\": %s, \"legacy_container\": %s, \"noiommu_mode\": %s},\n",
	       s->vfio_pci ? "true" : "false", s->container ? "true" : "false",
	       s->noiommu_mode ? "true" : "false");
}

/* ---- the devices --------------------------------------------------------------- */

static bool
is_bridge(const struct usva_vfio_dev_info *d)
{
	return (d->caps.class_code >> 16) == 0x06;
}

/* What the device can be used for with usva, as it stands. */
static const char *
usable(const struct usva_vfio_dev_info *d)
{
	uint32_t n = d->need;
	bool dma = !(n & (USVA_VFIO_NEED_IOMMU | USVA_VFIO_NEED_VFIO_PCI |
			  USVA_VFIO_NEED_GROUP_NODE));
	bool sva = !(n & (USVA_VFIO_NEED_IOMMU | USVA_VFIO_NEED_VFIO_PCI |
			  USVA_VFIO_NEED_CDEV | USVA_VFIO_NEED_IOMMUFD |
			  USVA_VFIO_NEED_CFG | USVA_VFIO_NEED_PASID));

	if (sva)
		return n & USVA_VFIO_NEED_PRI ? "sva" : "sva+pri";
	return dma ? "dma" : "-";
}

/* -1: unknown (config space not read whole), 0: no, 1: yes. */
static int
has_cap(const struct usva_vfio_dev_info *d, uint32_t cap)
{
	if (!(d->status & USVA_VFIO_ST_CFG))
		return -1;
	return (d->caps.flags & cap) != 0;
}

static void
pasid_cell(const struct usva_vfio_dev_info *d, char *buf, size_t len)
{
	int h = has_cap(d, USVA_PCI_CAP_PASID);

	if (h <= 0) {
		snprintf(buf, len, "%s", h < 0 ? "?" : "no");
		return;
	}
	snprintf(buf, len, "%u %s%s", d->caps.pasid_width,
		 d->caps.flags & USVA_PCI_CAP_PASID_EXEC ? "x" : "",
		 d->caps.flags & USVA_PCI_CAP_PASID_PRIV ? "p" : "");
}

static void
pri_cell(const struct usva_vfio_dev_info *d, char *buf, size_t len)
{
	int h = has_cap(d, USVA_PCI_CAP_PRI);

	if (h <= 0)
		snprintf(buf, len, "%s", h < 0 ? "?" : "no");
	else
		snprintf(buf, len, "%u", d->caps.pri_capacity);
}

static const char *
ats_cell(const struct usva_vfio_dev_info *d)
{
	int h = has_cap(d, USVA_PCI_CAP_ATS);

	return h < 0 ? "?" : h ? "yes" : "no";
}

/* Set when the machine has no IOMMU at all: said once, above the table. */
static bool no_iommu_at_all;

/* Needs shown per device: the machine-wide ones are said once above. */
static uint32_t
device_needs(const struct usva_vfio_dev_info *d, bool named)
{
	uint32_t n = d->need & ~USVA_VFIO_NEED_IOMMUFD;

	if (no_iommu_at_all && !(d->status & USVA_VFIO_ST_GROUP))
		n &= ~USVA_VFIO_NEED_IOMMU;

	/* Bridges are not what usva drives: their needs only when asked. */
	if (is_bridge(d) && !named)
		return 0;
	return n;
}

static void
print_need_lines(const struct usva_vfio_dev_info *d, uint32_t need)
{
	for (uint32_t bit = 1; bit != 0 && bit <= need; bit <<= 1) {
		if (!(need & bit))
			continue;
		if (bit == USVA_VFIO_NEED_VFIO_PCI)
			printf("    - not bound to vfio-pci: modprobe vfio-pci; dpdk-devbind.py -b vfio-pci %s\n",
			       d->pci_addr);
		else
			printf("    - %s\n", usva_vfio_need_str(bit));
	}
	if (d->caps.errors)
		printf("    - malformed capability list (errors 0x%x): capabilities past the fault ignored\n",
		       d->caps.errors);
}

static void
print_header_text(void)
{
	printf("%-13s %-9s %-6s %-14s %-5s %-8s %-6s %-6s %-4s %s\n",
	       "ADDRESS", "ID", "CLASS", "DRIVER", "GROUP", "CDEV", "PASID",
	       "PRI", "ATS", "USE");
}

static void
print_dev_text(const struct usva_vfio_dev_info *d, bool named)
{
	char id[16], grp[16], pasid[16], pri[16];

	snprintf(id, sizeof(id), "%04x:%04x", d->caps.vendor_id,
		 d->caps.device_id);
	snprintf(grp, sizeof(grp), "%d", d->group);
	pasid_cell(d, pasid, sizeof(pasid));
	pri_cell(d, pri, sizeof(pri));
	printf("%-13s %-9s %06x %-14s %-5s %-8s %-6s %-6s %-4s %s\n",
	       d->pci_addr, id, d->caps.class_code,
	       d->driver[0] ? d->driver : "-", d->group >= 0 ? grp : "-",
	       d->cdev[0] ? d->cdev : "-", pasid, pri, ats_cell(d), usable(d));
	print_need_lines(d, device_needs(d, named));
}

static void
json_cap_fields(const struct usva_vfio_dev_info *d)
{
	const struct usva_pci_caps *c = &d->caps;
	int h;

	h = has_cap(d, USVA_PCI_CAP_PASID);
	printf(", \"pasid\": ");
	if (h > 0)
		printf("{\"width\": %u, \"exec\": %s, \"priv\": %s, \"enabled\": %s}",
		       c->pasid_width,
		       c->flags & USVA_PCI_CAP_PASID_EXEC ? "true" : "false",
		       c->flags & USVA_PCI_CAP_PASID_PRIV ? "true" : "false",
		       c->flags & USVA_PCI_CAP_PASID_ON ? "true" : "false");
	else
		printf("%s", h < 0 ? "\"unknown\"" : "null");
	h = has_cap(d, USVA_PCI_CAP_PRI);
	printf(", \"pri\": ");
	if (h > 0)
		printf("{\"capacity\": %u, \"pasid_required\": %s}",
		       c->pri_capacity,
		       c->flags & USVA_PCI_CAP_PRI_PASID ? "true" : "false");
	else
		printf("%s", h < 0 ? "\"unknown\"" : "null");
	h = has_cap(d, USVA_PCI_CAP_ATS);
	printf(", \"ats\": ");
	if (h > 0)
		printf("{\"inval_queue_depth\": %u}", c->ats_inval_depth);
	else
		printf("%s", h < 0 ? "\"unknown\"" : "null");
	printf(", \"pcie\": %s, \"msix_vectors\": %u, \"cap_errors\": %u",
	       c->flags & USVA_PCI_CAP_PCIE ? "true" : "false",
	       c->flags & USVA_PCI_CAP_MSIX ? c->msix_vectors : 0, c->errors);
}

static void
json_opt_str(const char *key, const char *v)
{
	printf(", \"%s\": ", key);
	if (v[0])
		json_str(v);
	else
		printf("null");
}

static void
print_dev_json(const struct usva_vfio_dev_info *d, bool first, bool named)
{
	uint32_t need = d->need;
	bool any = false;

	printf("%s\n    {\"address\": ", first ? "" : ",");
	json_str(d->pci_addr);
	printf(", \"vendor\": \"0x%04x\", \"device\": \"0x%04x\", \"class\": \"0x%06x\"",
	       d->caps.vendor_id, d->caps.device_id, d->caps.class_code);
	json_opt_str("driver", d->driver);
	printf(", \"iommu_group\": ");
	if (d->group >= 0)
		printf("%d", d->group);
	else
		printf("null");
	json_opt_str("iommu", d->iommu);
	json_opt_str("vfio_cdev", d->cdev_path);
	printf(", \"config_bytes\": %u, \"config_size\": %u", d->cfg_read,
	       d->cfg_size);
	json_cap_fields(d);
	printf(", \"use\": ");
	json_str(usable(d));
	printf(", \"missing\": [");
	for (uint32_t bit = 1; bit != 0 && bit <= need; bit <<= 1) {
		if (!(need & bit))
			continue;
		printf("%s", any ? ", " : "");
		json_str(usva_vfio_need_str(bit));
		any = true;
	}
	printf("]}");
}

/* ---- main --------------------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The addresses under <sysfs>/bus/pci/devices, sorted; free() them. */
static int
list_devices(const struct opts *o, char ***out)
{
	char p[4096];
	struct dirent *de;
	char **v;
	int n = 0;
	DIR *d;

	*out = NULL;
	snprintf(p, sizeof(p), "%s/bus/pci/devices", o->sysfs);
	d = opendir(p);
	if (d == NULL)
		return 0;
	v = calloc(MAX_DEVS, sizeof(*v));
	if (v == NULL) {
		closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL && n < MAX_DEVS) {
		if (de->d_name[0] == '.')
			continue;
		v[n] = strdup(de->d_name);
		if (v[n] != NULL)
			n++;
	}
	closedir(d);
	qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: usva-info [--json] [--sysfs-root DIR] [--dev-root DIR] [ADDR...]\n"
		"  Lists the PCI devices (or those named, dddd:bb:dd.f) with what matters\n"
		"  for SVA, and what each lacks to be used with usva.\n"
		"  PASID column: max PASID width in bits, x = execute, p = privileged mode.\n"
		"  PRI column: outstanding page requests the device may have.\n"
		"  USE: sva+pri (SVA with I/O page faults), sva (no PRI), dma (stage-2\n"
		"  DMA in legacy mode), - (nothing yet). ?: not known (not root).\n");
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	int i;

	o->sysfs = "/sys";
	o->dev = "/dev";
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o->json = true;
		} else if (strcmp(argv[i], "--sysfs-root") == 0 && i + 1 < argc) {
			o->sysfs = argv[++i];
		} else if (strcmp(argv[i], "--dev-root") == 0 && i + 1 < argc) {
			o->dev = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			return -EINVAL;
		}
	}
	o->addrs = argv + i;
	o->nr_addrs = argc - i;
	return 0;
}

/* Probe and print one device; false if it does not exist. */
static bool
show(const struct opts *o, const char *addr, bool named, bool *first)
{
	struct usva_vfio_config cfg = {
		.size = sizeof(cfg), .pci_addr = addr,
		.sysfs_root = o->sysfs, .dev_root = o->dev,
	};
	struct usva_vfio_dev_info info = { .size = sizeof(info) };

	if (usva_vfio_probe(&cfg, &info) != 0)
		return false;
	if (o->json)
		print_dev_json(&info, *first, named);
	else
		print_dev_text(&info, named);
	*first = false;
	return true;
}

int
main(int argc, char **argv)
{
	struct iommu_unit units[64];
	struct sys_info s;
	struct opts o = { 0 };
	char **all = NULL;
	bool first = true, missing = false;
	unsigned int nu;
	int n = 0;

	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	sys_probe(&o, &s);
	nu = iommu_list(&o, units, RTE_DIM(units));
	no_iommu_at_all = nu == 0;
	if (o.json)
		print_sys_json(&s, units, nu);
	else
		print_sys_text(&s, units, nu);
	if (o.nr_addrs == 0) {
		n = list_devices(&o, &all);
		if (n < 0) {
			fprintf(stderr, "usva-info: out of memory\n");
			return 1;
		}
	}
	if (o.json)
		printf("  \"devices\": [");
	else
		print_header_text();
	for (int i = 0; i < o.nr_addrs; i++)
		missing |= !show(&o, o.addrs[i], true, &first);
	for (int i = 0; i < n; i++)
		show(&o, all[i], false, &first);
	if (o.json)
		printf("%s]\n}\n", first ? "" : "\n  ");
	else if (first)
		printf("(no PCI devices under %s/bus/pci/devices)\n", o.sysfs);
	else
		printf("\nPASID: max width in bits, x execute, p privileged; PRI: outstanding page requests;\n"
		       "USE: sva+pri (SVA with I/O page faults), sva (no PRI), dma (legacy stage-2 DMA), - (not yet);\n"
		       "?: unknown (run as root). Bridges are listed without their needs unless named.\n");
	for (int i = 0; i < n; i++)
		free(all[i]);
	free(all);
	return missing ? 1 : 0;
}
