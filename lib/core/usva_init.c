/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "usva.h"
#include "usva_alloc.h"
#include "usva_log.h"
#include "usva_page_pool.h"


#define MAX_ADDED_ARGS 8

static struct {
	bool initialised;
	char **eal_argv;	/* our copy of the EAL arguments, kept for the EAL */
	struct usva_page_pool *default_pool;
	uint32_t pool_pages;
	int32_t numa_node;
} g = {
	.numa_node = -1,
};

const char *
usva_version(void)
{
	return USVA_VERSION;
}

void
usva_usage(FILE *f)
{
	fprintf(f,
		"usva options (after the EAL options and `--`):\n"
		"  --usva-pool-pages=N   pages in the default 4 KiB page pool (default %u)\n"
		"  --usva-numa-node=N    NUMA node for the default pool (default: local)\n"
		"  --usva-help           print this help\n"
		"Without hugepages, usva adds --no-huge -m 512 --no-pci --no-shconf\n"
		"to the EAL options unless they already choose a memory mode.\n",
		USVA_DEFAULT_POOL_PAGES);
}

/* True if the system has hugepages available for the EAL. */
static bool
hugepages_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long total = 0;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "HugePages_Total: %lu", &total) == 1)
			break;
	fclose(f);
	return total > 0;
}

static bool
has_arg(int argc, char **argv, const char *const *names)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		for (const char *const *n = names; *n != NULL; n++) {
			size_t len = strlen(*n);
			if (strncmp(argv[i], *n, len) == 0 &&
			    (argv[i][len] == '\0' || argv[i][len] == '='))
				return true;
		}
	}
	return false;
}

/*
 * Build the EAL argument vector: argv[0], our defaults, then the caller's.
 * @return the number of arguments added, or -ENOMEM.
 */
static int
build_eal_argv(int argc, char **argv, char ***out)
{
	static const char *const mem_opts[] = { "--no-huge", "-m",
		"--socket-mem", "--in-memory", "--huge-dir", NULL };
	static const char *const size_opts[] = { "-m", "--socket-mem", NULL };
	static const char *const pci_opts[] = { "--no-pci", "-a", "-b",
		"--allow", "--block", NULL };
	static const char *const shconf_opts[] = { "--no-shconf",
		"--in-memory", "--file-prefix", NULL };
	const char *added[MAX_ADDED_ARGS];
	int n = 0;
	char **v;

	if (!hugepages_available() && !has_arg(argc, argv, mem_opts)) {
		added[n++] = "--no-huge";
		if (!has_arg(argc, argv, size_opts)) {
			added[n++] = "-m";
			added[n++] = "512";
		}
		if (!has_arg(argc, argv, pci_opts))
			added[n++] = "--no-pci";
		if (!has_arg(argc, argv, shconf_opts))
			added[n++] = "--no-shconf";
		USVA_LOG(INFO, core,
			 "no hugepages on this machine: running the EAL with --no-huge%s%s%s",
			 n > 1 && strcmp(added[1], "-m") == 0 ? " -m 512" : "",
			 has_arg(argc, argv, pci_opts) ? "" : " --no-pci",
			 has_arg(argc, argv, shconf_opts) ? "" : " --no-shconf");
	}
	v = calloc(argc + n + 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	v[0] = argv[0];
	for (int i = 0; i < n; i++)
		v[1 + i] = (char *)(uintptr_t)added[i];
	for (int i = 1; i < argc; i++)
		v[n + i] = argv[i];
	*out = v;
	return n;
}

static int
parse_u32(const char *opt, const char *val, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 0);
	if (errno != 0 || *val == '\0' || *end != '\0' || v > max) {
		USVA_LOG(ERR, core, "%s: bad value '%s'", opt, val);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static bool
option_known(const char *opt, size_t name_len)
{
	static const char *const known[] = { "--usva-pool-pages",
		"--usva-numa-node", NULL };

	for (const char *const *k = known; *k != NULL; k++)
		if (strlen(*k) == name_len && strncmp(opt, *k, name_len) == 0)
			return true;
	return false;
}

/*
 * Consume --usva-* options from argv[1..]. @return the number consumed or
 * -EINVAL.
 */
static int
parse_usva_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strncmp(argv[i], "--usva-", 7) == 0; i++) {
		const char *opt = argv[i];
		const char *eq = strchr(opt, '=');
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		size_t name_len = eq ? (size_t)(eq - opt) : strlen(opt);
		uint32_t v;
		int rc;

		if (strncmp(opt, "--usva-help", name_len) == 0 && name_len == 11) {
			usva_usage(stdout);
			continue;
		}
		if (!option_known(opt, name_len)) {
			USVA_LOG(ERR, core, "unknown option %.*s (see --usva-help)",
				 (int)name_len, opt);
			return -EINVAL;
		}
		if (val == NULL) {
			USVA_LOG(ERR, core, "%s needs a value", opt);
			return -EINVAL;
		}
		if (name_len == strlen("--usva-pool-pages") &&
		    strncmp(opt, "--usva-pool-pages", name_len) == 0) {
			rc = parse_u32(opt, val, 1u << 24, &v);
			if (rc == 0 && v < 1)
				rc = -EINVAL;
			if (rc)
				return rc;
			g.pool_pages = v;
		} else if (name_len == strlen("--usva-numa-node") &&
			   strncmp(opt, "--usva-numa-node", name_len) == 0) {
			rc = parse_u32(opt, val, 1023, &v);
			if (rc)
				return rc;
			g.numa_node = (int32_t)v;
		} else {
			USVA_LOG(ERR, core, "unknown option %.*s (see --usva-help)",
				 (int)name_len, opt);
			return -EINVAL;
		}
		if (eq == NULL)
			i++;
	}
	return i - 1;
}

static int
create_default_pool(void)
{
	struct usva_page_pool_config cfg = {
		.size = sizeof(cfg),
		.page_shift = 12,
		.nr_pages = g.pool_pages,
		.numa_node = g.numa_node,
		.cache_size = USVA_DEFAULT_POOL_CACHE,
		.name = "usva_default",
	};

	return usva_page_pool_create(&cfg, &g.default_pool);
}

struct usva_page_pool *
usva_page_pool_default(void)
{
	return g.default_pool;
}

int
usva_init(int argc, char **argv)
{
	int added, eal_ret, usva_ret, consumed;

	if (g.initialised) {
		USVA_LOG(ERR, core, "usva_init: already initialised");
		return -EALREADY;
	}
	added = build_eal_argv(argc, argv, &g.eal_argv);
	if (added < 0)
		return added;
	eal_ret = rte_eal_init(argc + added, g.eal_argv);
	if (eal_ret < 0) {
		usva_ret = rte_errno > 0 ? -rte_errno : -EINVAL;
		USVA_LOG(ERR, core, "rte_eal_init failed: %s",
			 rte_strerror(-usva_ret));
		goto err_eal;
	}
	/* The EAL consumed eal_ret of our vector; of the caller's, that
	 * less the arguments we added. */
	consumed = eal_ret - added;
	g.pool_pages = USVA_DEFAULT_POOL_PAGES;
	usva_ret = parse_usva_args(argc - consumed, argv + consumed);
	if (usva_ret < 0)
		goto err_args;
	consumed += usva_ret;
	argv[consumed] = argv[0];

	usva_ret = create_default_pool();
	if (usva_ret < 0)
		goto err_args;
	g.initialised = true;
	USVA_LOG(DEBUG, core, "usva %s initialised", USVA_VERSION);
	return consumed;

err_args:
	rte_eal_cleanup();
err_eal:
	free(g.eal_argv);
	g.eal_argv = NULL;
	return usva_ret;
}

int
usva_cleanup(void)
{
	if (!g.initialised)
		return -EALREADY;
	usva_page_pool_destroy(g.default_pool);
	g.default_pool = NULL;
	if (usva_alloc_outstanding() != 0)
		USVA_LOG(WARNING, core,
			 "usva_cleanup: %" PRId64 " allocations not freed by the application",
			 usva_alloc_outstanding());
	rte_eal_cleanup();
	free(g.eal_argv);
	g.eal_argv = NULL;
	g.initialised = false;
	return 0;
}
