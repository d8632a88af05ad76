/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: options. usva_fault_perf.c lists them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "fault_perf.h"

const char *const pager_names[] = { "anon", "mirror", "file" };
const char *const drive_names[] = { "dedicated", "service", "poll" };

void
usage(FILE *f)
{
	fprintf(f,
		"usage: usva-fault-perf [EAL options] -- [usva options] "
		"[--lcores N] [--drive dedicated|service|poll] [--iommus N]\n"
		"       [--faults N] [--shards N] [--shard-shift N] "
		"[--lock sharded|global] [--pager anon|mirror|file]\n"
		"       [--page-size 4k|2m] [--burst N] [--order seq|rr] "
		"[--pasids-per-dev N] [--no-verify] [--perf-ctl FIFO]\n"
		"       [--device prefill|emu-dma] [--devices N] [--pasids N] "
		"[--vchans N] [--inflight N]\n"
		"       [--op fill|copy] [--op-bytes N]\n"
		"       [--compare] [--peers] [--rounds N] [--peer-pages N] "
		"[--uffd-pages N] [--json]\n"
		"       [--sweep lcores|shards|burst|pasids=V1,V2,...] "
		"[--csv FILE] [--cdf FILE]\n");
}

static int
pick(const char *arg, const char *const *names, int n)
{
	for (int k = 0; k < n; k++)
		if (strcmp(arg, names[k]) == 0)
			return k;
	return -EINVAL;
}

/* "param=v1,v2,...": the parameter and its values. */
static int
parse_sweep(char *arg, struct opts *o)
{
	static const char *const params[] = {
		"lcores", "shards", "burst", "pasids",
	};
	char *eq = strchr(arg, '='), *tok, *save = NULL;
	int k;

	if (eq == NULL)
		return -EINVAL;
	*eq = '\0';
	k = pick(arg, params, (int)RTE_DIM(params));
	if (k < 0)
		return -EINVAL;
	o->sweep_param = params[k];
	o->sweep_n = 0;
	for (tok = strtok_r(eq + 1, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->sweep_n == MAX_SWEEP)
			return -E2BIG;
		o->sweep_val[o->sweep_n++] =
			(unsigned int)strtoul(tok, NULL, 0);
	}
	return o->sweep_n ? 0 : -EINVAL;
}

static const struct option long_opts[] = {
	{ "lcores", required_argument, NULL, 'l' },
	{ "drive", required_argument, NULL, 'd' },
	{ "iommus", required_argument, NULL, 'i' },
	{ "faults", required_argument, NULL, 'f' },
	{ "shards", required_argument, NULL, 's' },
	{ "shard-shift", required_argument, NULL, 'S' },
	{ "lock", required_argument, NULL, 'k' },
	{ "pager", required_argument, NULL, 'p' },
	{ "page-size", required_argument, NULL, 'z' },
	{ "burst", required_argument, NULL, 'b' },
	{ "order", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, 'j' },
	{ "no-verify", no_argument, NULL, 'V' },
	{ "perf-ctl", required_argument, NULL, 'P' },
	{ "pasids-per-dev", required_argument, NULL, 'D' },
	{ "device", required_argument, NULL, 'e' },
	{ "devices", required_argument, NULL, 'n' },
	{ "pasids", required_argument, NULL, 'a' },
	{ "vchans", required_argument, NULL, 'c' },
	{ "inflight", required_argument, NULL, 'I' },
	{ "op", required_argument, NULL, 'O' },
	{ "op-bytes", required_argument, NULL, 'B' },
	{ "compare", no_argument, NULL, 'C' },
	{ "peers", no_argument, NULL, 'R' },
	{ "rounds", required_argument, NULL, 'r' },
	{ "peer-pages", required_argument, NULL, 'T' },
	{ "uffd-pages", required_argument, NULL, 'U' },
	{ "sweep", required_argument, NULL, 'w' },
	{ "csv", required_argument, NULL, 'v' },
	{ "cdf", required_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static unsigned int
num(void)
{
	return (unsigned int)strtoul(optarg, NULL, 0);
}

/* The options naming one of a few words. */
static int
parse_word(int c, struct opts *o)
{
	static const char *const sizes[] = { "4k", "2m" };
	static const char *const locks[] = { "sharded", "global" };
	static const char *const orders[] = { "seq", "rr" };
	static const char *const devs[] = { "prefill", "emu-dma" };
	static const char *const ops[] = { "fill", "copy" };
	int k = -EINVAL;

	switch (c) {
	case 'd':
		if ((k = pick(optarg, drive_names, 3)) >= 0)
			o->drive_arg = k;
		break;
	case 'p':
		if ((k = pick(optarg, pager_names, 3)) >= 0)
			o->pager = (enum pager_kind)k;
		break;
	case 'z':
		if ((k = pick(optarg, sizes, 2)) >= 0)
			o->page_shift = k ? 21 : 12;
		break;
	case 'k':
		if ((k = pick(optarg, locks, 2)) >= 0)
			o->global = k == 1;
		break;
	case 'o':
		if ((k = pick(optarg, orders, 2)) >= 0)
			o->rr = k == 1;
		break;
	case 'e':
		if ((k = pick(optarg, devs, 2)) >= 0)
			o->e2e = k == 1;
		break;
	case 'O':
		if ((k = pick(optarg, ops, 2)) >= 0)
			o->op = (enum e2e_op)k;
		break;
	}
	return k < 0 ? k : 0;
}

static int
parse_one(int c, struct opts *o)
{
	switch (c) {
	case 'l': o->lcores = num(); break;
	case 'i': o->iommus_arg = num(); break;
	case 'f': o->faults_arg = strtoull(optarg, NULL, 0); break;
	case 's': o->shards = num(); break;
	case 'S': o->shard_shift = num(); break;
	case 'b': o->burst = num(); break;
	case 'j': o->json = true; break;
	case 'V': o->verify = false; break;
	case 'P': o->perf_ctl = optarg; break;
	case 'D': o->ppd = num(); break;
	case 'n': o->devices = num(); break;
	case 'a': o->pasids = num(); break;
	case 'c': o->vchans = num(); break;
	case 'I': o->inflight = num(); break;
	case 'B': o->op_bytes = num(); break;
	case 'C': o->compare = true; break;
	case 'R': o->peers = true; break;
	case 'r': o->rounds = num(); break;
	case 'T': o->peer_pages = strtoull(optarg, NULL, 0); break;
	case 'U': o->uffd_pages = strtoull(optarg, NULL, 0); break;
	case 'w': return parse_sweep(optarg, o);
	case 'v': o->csv = optarg; break;
	case 'F': o->cdf = optarg; break;
	case 'h':
		usage(stdout);
		exit(0);
	default:
		return parse_word(c, o);
	}
	return 0;
}

/* Defaults that depend on other options; again after a sweep changed
 * one. */
void
opts_settle(struct opts *o)
{
	o->drive = o->drive_arg >= 0 ? o->drive_arg :
		   o->lcores == 1 ? DRIVE_DEDICATED : DRIVE_SERVICE;
	o->iommus = o->iommus_arg ? o->iommus_arg : o->lcores;
	o->faults = o->faults_arg ? o->faults_arg :
		    o->page_shift == 21 ? DEF_FAULTS_2M : DEF_FAULTS;
}

static int
check_opts(const struct opts *o)
{
	if (o->lcores < 1 || o->lcores > USVA_FAULT_MAX_LCORES)
		return -EINVAL;
	if (o->ppd < 1 || o->ppd > PASIDS_PER_DEV)
		return -EINVAL;
	if (o->page_shift == 21 && o->pager != PAGER_ANON)
		return -EINVAL;	/* 2 MiB pages: the anon pager's pool */
	if (o->e2e && (o->devices < 1 || o->devices > 16 || o->pasids < 1 ||
		       o->vchans < 1 || o->vchans > 8 || o->inflight < 1 ||
		       o->inflight > 16 || o->page_shift != 12 ||
		       o->op_bytes < 8 || o->op_bytes > SZ_4K ||
		       o->op_bytes % 8 != 0 ||
		       o->pager != PAGER_ANON))
		return -EINVAL;
	if (o->iommus > MAX_IOMMUS ||
	    o->faults > (uint64_t)o->iommus * MAX_DEVS * o->ppd * GRPS)
		return -EINVAL;
	return 0;
}

int
opts_check(const struct opts *o)
{
	return check_opts(o);
}

int
parse_opts(int argc, char **argv, struct opts *o)
{
	int c, rc;

	*o = (struct opts){ .lcores = 1, .drive_arg = -1, .pager = PAGER_ANON,
			    .page_shift = 12, .verify = true, .ppd = 8,
			    .devices = 1, .pasids = 8, .vchans = 8,
			    .inflight = 16, .op_bytes = 4096, .rounds = 5 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		rc = parse_one(c, o);
		if (rc)
			return rc;
	}
	if (optind != argc)
		return -EINVAL;
	if (o->compare && o->sweep_param != NULL)
		return -EINVAL;
	opts_settle(o);
	return check_opts(o);
}

/* Which worker lcores the layout needs (not counting the main lcore). */
unsigned int
workers_needed(const struct opts *o)
{
	if (o->e2e)
		return 1;	/* the fault lcore; the main lcore drives */
	return o->drive == DRIVE_DEDICATED ? o->lcores : o->lcores - 1;
}
