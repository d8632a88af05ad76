/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service observability: counter snapshots, latency percentiles,
 * the dump, and the telemetry commands /usva/fault/stats and
 * /usva/fault/shards.
 *
 * Every counter has one writer (a slot, or a shard's owner slot), which
 * bumps it with a relaxed load and store; snapshots read them with relaxed
 * loads, so a snapshot taken while the service runs is a consistent value
 * per counter, not across counters. Counters bumped by control threads
 * (unregister, usva_fault_complete) live in svc->cstats, with atomic adds,
 * and appear in the totals only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "usva_fault_internal.h"

#define NR_U64	(sizeof(struct usva_fault_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct usva_fault_stats) % sizeof(uint64_t) == 0,
	       "usva_fault_stats is all uint64_t");

/* Field names, in struct order (the histogram is separate). */
static const char *const stat_names[] = {
	"requests", "groups", "resp_success", "resp_invalid", "resp_failure",
	"already_present", "no_handler", "out_of_range", "pager_errors",
	"pending_async", "timeouts", "unregister_flushed", "stale_completions",
	"group_overflow", "resp_retries", "events",
};
_Static_assert(RTE_DIM(stat_names) == NR_U64 - USVA_FAULT_LAT_BUCKETS,
	       "a name per counter");

static void
stats_add(struct usva_fault_stats *dst, const struct usva_fault_stats *src)
{
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *s = (const uint64_t *)src;
	size_t i;

	/* Relaxed: each counter has one writer; no ordering between them. */
	for (i = 0; i < NR_U64; i++)
		d[i] += __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

int
usva_fault_stats(const struct usva_fault_service *svc, int slot,
		 struct usva_fault_stats *st)
{
	uint32_t i;

	if (svc == NULL || st == NULL || slot < -1 ||
	    (slot >= 0 && (uint32_t)slot >= svc->nr_slots)) {
		USVA_LOG(ERR, fault, "usva_fault_stats: bad slot %d", slot);
		return -EINVAL;
	}
	memset(st, 0, sizeof(*st));
	if (slot >= 0) {
		stats_add(st, &svc->slots[slot].stats.st);
		return 0;
	}
	for (i = 0; i < svc->nr_slots; i++)
		stats_add(st, &svc->slots[i].stats.st);
	/* Relaxed: control-thread counters (atomic adds). */
	st->groups += __atomic_load_n(&svc->cstats.groups, __ATOMIC_RELAXED);
	st->resp_invalid += __atomic_load_n(&svc->cstats.resp_invalid,
					    __ATOMIC_RELAXED);
	st->unregister_flushed += __atomic_load_n(&svc->cstats.unregister_flushed,
						  __ATOMIC_RELAXED);
	st->stale_completions += __atomic_load_n(&svc->cstats.stale_completions,
						 __ATOMIC_RELAXED);
	return 0;
}

int
usva_fault_shard_stats(const struct usva_fault_service *svc,
		       unsigned int shard, struct usva_fault_stats *st)
{
	if (svc == NULL || st == NULL || shard > svc->shard_mask) {
		USVA_LOG(ERR, fault, "usva_fault_shard_stats: bad shard %u", shard);
		return -EINVAL;
	}
	memset(st, 0, sizeof(*st));
	stats_add(st, &svc->shards[shard].st);
	return 0;
}

uint64_t
usva_fault_lat_percentile(const struct usva_fault_stats *st, double p)
{
	uint64_t total = 0, cum = 0, lo, hi, target;
	uint32_t i;

	if (st == NULL || !(p > 0 && p < 100))
		return 0;
	for (i = 0; i < USVA_FAULT_LAT_BUCKETS; i++)
		total += st->lat_hist[i];
	if (total == 0)
		return 0;
	target = (uint64_t)((double)total * p / 100.0 + 0.999999);
	if (target == 0)
		target = 1;
	for (i = 0; i < USVA_FAULT_LAT_BUCKETS; i++) {
		if (cum + st->lat_hist[i] >= target)
			break;
		cum += st->lat_hist[i];
	}
	if (i == USVA_FAULT_LAT_BUCKETS)
		i = USVA_FAULT_LAT_BUCKETS - 1;
	/* Linear inside the bucket [2^i, 2^(i+1)). */
	lo = i == 0 ? 0 : UINT64_C(1) << i;
	hi = UINT64_C(1) << (i + 1);
	return lo + (uint64_t)((double)(hi - lo) * (double)(target - cum) /
			       (double)st->lat_hist[i]);
}

static void
dump_line(FILE *f, const char *who, const struct usva_fault_stats *st)
{
	fprintf(f, "  %-8s req %" PRIu64 " groups %" PRIu64 " (ok %" PRIu64
		" inval %" PRIu64 " fail %" PRIu64 ") present %" PRIu64
		" no_handler %" PRIu64 " out_of_range %" PRIu64 " pager_err %"
		PRIu64 " async %" PRIu64 " timeouts %" PRIu64 " unreg %" PRIu64
		" stale %" PRIu64 " overflow %" PRIu64 " retries %" PRIu64
		" events %" PRIu64 " p50 %" PRIu64 "ns p99 %" PRIu64 "ns\n",
		who, st->requests, st->groups, st->resp_success,
		st->resp_invalid, st->resp_failure, st->already_present,
		st->no_handler, st->out_of_range, st->pager_errors,
		st->pending_async, st->timeouts, st->unregister_flushed,
		st->stale_completions, st->group_overflow, st->resp_retries,
		st->events, usva_fault_lat_percentile(st, 50),
		usva_fault_lat_percentile(st, 99));
}

void
usva_fault_dump(const struct usva_fault_service *svc, FILE *f)
{
	struct usva_fault_stats st;
	char who[16];
	uint32_t i;

	if (svc == NULL || f == NULL)
		return;
	fprintf(f, "usva fault service %u: %u %s, %u shards, %s, %u iommus\n",
		svc->reg, svc->nr_slots,
		svc->service_cores ? "service components" : "dedicated lcores",
		svc->shard_mask + 1, svc->global_lock ? "global lock" : "sharded",
		svc->nr_iommus);
	for (i = 0; i < svc->nr_slots; i++) {
		usva_fault_stats(svc, (int)i, &st);
		if (svc->service_cores)
			snprintf(who, sizeof(who), "svc%d", svc->slots[i].service_id);
		else
			snprintf(who, sizeof(who), "lcore%u", svc->slots[i].lcore);
		dump_line(f, who, &st);
	}
	usva_fault_stats(svc, -1, &st);
	dump_line(f, "total", &st);
}

/* ---- telemetry -------------------------------------------------------------- */

static void
tel_stats_dict(struct rte_tel_data *d, const struct usva_fault_stats *st)
{
	const uint64_t *v = (const uint64_t *)st;
	size_t i;

	for (i = 0; i < RTE_DIM(stat_names); i++)
		rte_tel_data_add_dict_u64(d, stat_names[i], v[i]);
	rte_tel_data_add_dict_u64(d, "p50_ns", usva_fault_lat_percentile(st, 50));
	rte_tel_data_add_dict_u64(d, "p99_ns", usva_fault_lat_percentile(st, 99));
}

/* The service a command names ("" : the first live one). Registry lock
 * held by the caller. */
static struct usva_fault_service *
tel_service(const char *params)
{
	struct usva_fault_service *svc;
	uint32_t i;
	char *end;

	if (params != NULL && *params != '\0') {
		i = (uint32_t)strtoul(params, &end, 10);
		return *end == '\0' ? fault_registry_get(i) : NULL;
	}
	for (i = 0; i < FAULT_MAX_SERVICES; i++) {
		svc = fault_registry_get(i);
		if (svc != NULL)
			return svc;
	}
	return NULL;
}

static void
tel_services_list(struct rte_tel_data *d)
{
	struct rte_tel_data *a = rte_tel_data_alloc();
	uint32_t i;

	if (a == NULL)
		return;
	rte_tel_data_start_array(a, RTE_TEL_INT_VAL);
	for (i = 0; i < FAULT_MAX_SERVICES; i++)
		if (fault_registry_get(i) != NULL)
			rte_tel_data_add_array_int(a, (int)i);
	rte_tel_data_add_dict_container(d, "services", a, 0);
}

static int
tel_fault_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct usva_fault_service *svc;
	struct usva_fault_stats st;
	struct rte_tel_data *c;
	char name[24];
	uint32_t i;

	RTE_SET_USED(cmd);
	rte_tel_data_start_dict(d);
	fault_registry_lock();
	tel_services_list(d);
	svc = tel_service(params);
	if (svc == NULL) {
		fault_registry_unlock();
		return 0;
	}
	rte_tel_data_add_dict_int(d, "service", (int)svc->reg);
	rte_tel_data_add_dict_string(d, "lock_mode",
				     svc->global_lock ? "global" : "sharded");
	rte_tel_data_add_dict_u64(d, "fault_lcores", svc->nr_slots);
	rte_tel_data_add_dict_u64(d, "shards", svc->shard_mask + 1);
	usva_fault_stats(svc, -1, &st);
	c = rte_tel_data_alloc();
	if (c != NULL) {
		rte_tel_data_start_dict(c);
		tel_stats_dict(c, &st);
		rte_tel_data_add_dict_container(d, "total", c, 0);
	}
	for (i = 0; i < svc->nr_slots; i++) {
		usva_fault_stats(svc, (int)i, &st);
		c = rte_tel_data_alloc();
		if (c == NULL)
			break;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_int(c, "lcore", svc->service_cores ? -1 :
					  (int)svc->slots[i].lcore);
		rte_tel_data_add_dict_int(c, "service_id", svc->slots[i].service_id);
		tel_stats_dict(c, &st);
		snprintf(name, sizeof(name), "slot%u", i);
		rte_tel_data_add_dict_container(d, name, c, 0);
	}
	fault_registry_unlock();
	return 0;
}

static int
tel_fault_shards(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const char *const cols[] = {
		"requests", "groups", "resp_success", "resp_invalid",
		"already_present", "pager_errors", "pending_async",
	};
	struct usva_fault_service *svc;
	struct usva_fault_stats st;
	struct rte_tel_data *a[RTE_DIM(cols)];
	uint32_t i, k, n;

	RTE_SET_USED(cmd);
	rte_tel_data_start_dict(d);
	fault_registry_lock();
	tel_services_list(d);
	svc = tel_service(params);
	if (svc == NULL) {
		fault_registry_unlock();
		return 0;
	}
	rte_tel_data_add_dict_int(d, "service", (int)svc->reg);
	n = RTE_MIN(svc->shard_mask + 1, (uint32_t)RTE_TEL_MAX_ARRAY_ENTRIES);
	for (k = 0; k < RTE_DIM(cols); k++) {
		a[k] = rte_tel_data_alloc();
		if (a[k] != NULL)
			rte_tel_data_start_array(a[k], RTE_TEL_U64_VAL);
	}
	for (i = 0; i < n; i++) {
		usva_fault_shard_stats(svc, i, &st);
		const uint64_t v[RTE_DIM(cols)] = {
			st.requests, st.groups, st.resp_success,
			st.resp_invalid, st.already_present, st.pager_errors,
			st.pending_async,
		};
		for (k = 0; k < RTE_DIM(cols); k++)
			if (a[k] != NULL)
				rte_tel_data_add_array_u64(a[k], v[k]);
	}
	for (k = 0; k < RTE_DIM(cols); k++)
		if (a[k] != NULL)
			rte_tel_data_add_dict_container(d, cols[k], a[k], 0);
	fault_registry_unlock();
	return 0;
}

RTE_INIT(usva_fault_telemetry_init)
{
	rte_telemetry_register_cmd("/usva/fault/stats", tel_fault_stats,
		"Fault service counters, total and per lcore. Parameters: int service index (default: the first)");
	rte_telemetry_register_cmd("/usva/fault/shards", tel_fault_shards,
		"Fault service per-shard counters. Parameters: int service index (default: the first)");
}
