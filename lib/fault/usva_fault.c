/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault service: lifecycle (create, add_iommu, start, stop, destroy), the
 * registry of live services that completion tokens and telemetry resolve
 * through, usva_fault_complete(), and the three ways a slot runs
 * (dedicated lcore, EAL service, usva_fault_service_poll()).
 *
 * Lifetimes. Everything a fault lcore touches is allocated here, at
 * create, and freed at destroy, after the lcores stopped and after every
 * usva_fault_complete() caller left (see the registry). Handlers and the
 * pager list are RCU-protected (rte_rcu_qsbr, one reader per slot): a slot
 * is online while it runs an iteration and reports a quiescent state
 * between iterations, so the control path can unpublish, synchronise, and
 * free.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <rte_service.h>
#include <rte_service_component.h>

#include "usva_alloc.h"
#include "usva_fault_internal.h"
#include "usva_struct.h"

RTE_LOG_REGISTER(usva_logtype_fault, usva.fault, INFO);

#define FAULT_F_KNOWN	(USVA_FAULT_F_SERVICE_CORES | USVA_FAULT_F_INTERRUPT | \
			 USVA_FAULT_F_GLOBAL_LOCK)
#define FAULT_EVENT_PERIOD_US	100
#define FAULT_STOP_WAIT_US	(5 * 1000 * 1000)

/* ---- registry of live services ------------------------------------------ */
/*
 * A completion token names its service by registry index and instance
 * number, never by pointer, so a late usva_fault_complete() after destroy
 * is recognised instead of touching freed memory. Completers announce
 * themselves in inflight[idx][slot] before they look at the registry;
 * destroy clears the registry entry, then waits for those counters to
 * drain. Both sides use sequentially consistent operations (a store then a
 * load on each side: the store-load pattern needs the full order), so
 * either the completer sees the cleared entry or destroy sees the
 * completer's count.
 */
struct fault_reg {
	uint32_t inst;			/* W: reg_lock, seq_cst; R: completers */
	struct usva_fault_service *svc;	/* W: reg_lock, before inst */
};

struct fault_inflight {
	uint32_t n;			/* W: completers, atomic add/sub */
} __rte_cache_aligned;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_reg reg[FAULT_MAX_SERVICES];
static struct fault_inflight inflight[FAULT_MAX_SERVICES][USVA_FAULT_MAX_LCORES];
static uint32_t next_inst;		/* a counter: atomic, relaxed */

/* A service's instance number: never 0, unique for 2^32 creates. Names
 * its rings and EAL services, and its tokens. */
static uint32_t
inst_next(void)
{
	uint32_t i;

	do {
		i = __atomic_add_fetch(&next_inst, 1, __ATOMIC_RELAXED);
	} while (i == 0);
	return i;
}

int
fault_registry_add(struct usva_fault_service *svc)
{
	uint32_t i;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < FAULT_MAX_SERVICES; i++)
		if (reg[i].svc == NULL)
			break;
	if (i == FAULT_MAX_SERVICES) {
		pthread_mutex_unlock(&reg_lock);
		USVA_LOG(ERR, fault, "service create: %u services exist already",
			 FAULT_MAX_SERVICES);
		return -ENOSPC;
	}
	svc->reg = i;
	reg[i].svc = svc;
	/* Seq_cst: published after svc and its fields (see above). */
	__atomic_store_n(&reg[i].inst, svc->inst, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

void
fault_registry_del(struct usva_fault_service *svc)
{
	uint32_t s;

	pthread_mutex_lock(&reg_lock);
	/* Seq_cst store, then seq_cst loads of the counters: pairs with the
	 * completer's increment-then-load (usva_fault_complete). */
	__atomic_store_n(&reg[svc->reg].inst, 0, __ATOMIC_SEQ_CST);
	for (s = 0; s < USVA_FAULT_MAX_LCORES; s++)
		while (__atomic_load_n(&inflight[svc->reg][s].n,
				       __ATOMIC_SEQ_CST) != 0)
			rte_pause();
	reg[svc->reg].svc = NULL;
	pthread_mutex_unlock(&reg_lock);
}

void
fault_registry_lock(void)
{
	pthread_mutex_lock(&reg_lock);
}

void
fault_registry_unlock(void)
{
	pthread_mutex_unlock(&reg_lock);
}

struct usva_fault_service *
fault_registry_get(uint32_t idx)
{
	return idx < FAULT_MAX_SERVICES ? reg[idx].svc : NULL;
}

/* ---- usva_fault_complete -------------------------------------------------- */

/* May a completion for generation @p tgen still apply to a record in state
 * @p st? A local fast-path group is handed to the pager before it is
 * published (usva_fault_lcore.c, "reserved"), so the record may still be
 * FREE/EMPTY at the generation just below. */
static bool
tok_live(uint64_t st, uint32_t tgen)
{
	uint32_t ph = gs_phase(st);

	if (gs_gen(st) == tgen)
		return ph == GS_OPEN;
	return gen_next(gs_gen(st)) == tgen && (ph == GS_FREE || ph == GS_EMPTY);
}

int
usva_fault_complete(struct usva_fault_token tok, int result)
{
	uint32_t idx = TOK_REG(tok.v), ps = TOK_PSLOT(tok.v);
	uint32_t rs = TOK_RSLOT(tok.v), gidx = TOK_GIDX(tok.v);
	struct fault_comp c = { .tok = { tok.v[0], tok.v[1] }, .result = result };
	struct usva_fault_service *svc;
	uint32_t *cnt;
	uint64_t st;
	int rc = -ESTALE;

	if (TOK_GGEN(tok.v) == 0)
		return 0;	/* prefetch or untracked: nothing waits on it */
	if (idx >= FAULT_MAX_SERVICES || rs >= USVA_FAULT_MAX_LCORES)
		return -ESTALE;
	cnt = &inflight[idx][rs].n;
	/* Seq_cst increment then seq_cst load: see the registry comment. */
	__atomic_fetch_add(cnt, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&reg[idx].inst, __ATOMIC_SEQ_CST) != TOK_INST(tok.v))
		goto out;
	svc = reg[idx].svc;
	if (ps >= svc->nr_slots || rs >= svc->nr_slots || gidx >= svc->gcap ||
	    TOK_SHARD(tok.v) > svc->shard_mask)
		goto out;
	/* Acquire: pairs with the release that published or freed it. */
	st = __atomic_load_n(&svc->slots[ps].groups[gidx].state,
			     __ATOMIC_ACQUIRE);
	if (!tok_live(st, TOK_GGEN(tok.v))) {
		__atomic_fetch_add(&svc->cstats.stale_completions, 1,
				   __ATOMIC_RELAXED);
		goto out;
	}
	/* The ring's enqueue is a release of the element; the slot's
	 * dequeue acquires it. */
	rc = rte_ring_mp_enqueue_elem(svc->slots[rs].comp, &c, sizeof(c)) == 0 ?
	     0 : -EAGAIN;
out:
	/* Release: our reads of the service happen before destroy frees it. */
	__atomic_fetch_sub(cnt, 1, __ATOMIC_RELEASE);
	return rc;
}

/* ---- config ------------------------------------------------------------------- */

static int
config_values(struct usva_fault_config *c)
{
	if (c->nr_lcores < 1 || c->nr_lcores > USVA_FAULT_MAX_LCORES) {
		USVA_LOG(ERR, fault, "usva_fault_config: nr_lcores %u not in 1..%u",
			 c->nr_lcores, USVA_FAULT_MAX_LCORES);
		return -EINVAL;
	}
	if (c->nr_shards == 0)
		c->nr_shards = USVA_DEFAULT_SHARDS;
	if (!rte_is_power_of_2(c->nr_shards) || c->nr_shards > USVA_MAX_SHARDS) {
		USVA_LOG(ERR, fault, "usva_fault_config: nr_shards %u is not a power of two <= %u",
			 c->nr_shards, USVA_MAX_SHARDS);
		return -EINVAL;
	}
	if (c->shard_shift == 0)
		c->shard_shift = FAULT_DEFAULT_SHIFT;
	if (c->shard_shift < 12 || c->shard_shift > 63) {
		USVA_LOG(ERR, fault, "usva_fault_config: shard_shift %u not in 12..63",
			 c->shard_shift);
		return -EINVAL;
	}
	if (c->burst == 0)
		c->burst = USVA_DEFAULT_FAULT_BURST;
	if (c->burst > FAULT_MAX_BURST) {
		USVA_LOG(ERR, fault, "usva_fault_config: burst %u above %u",
			 c->burst, FAULT_MAX_BURST);
		return -EINVAL;
	}
	if (c->resp_batch == 0)
		c->resp_batch = c->burst;
	if (c->resp_batch > FAULT_MAX_BURST) {
		USVA_LOG(ERR, fault, "usva_fault_config: resp_batch %u above %u",
			 c->resp_batch, FAULT_MAX_BURST);
		return -EINVAL;
	}
	if (c->timeout_us == 0)
		c->timeout_us = 1000 * 1000;
	if (c->max_groups == 0)
		c->max_groups = FAULT_DEFAULT_GROUPS;
	if (c->max_groups > FAULT_MAX_GROUPS) {
		USVA_LOG(ERR, fault, "usva_fault_config: max_groups %u above %u",
			 c->max_groups, FAULT_MAX_GROUPS);
		return -EINVAL;
	}
	if ((c->flags & USVA_FAULT_F_INTERRUPT) &&
	    (c->flags & USVA_FAULT_F_SERVICE_CORES)) {
		USVA_LOG(ERR, fault, "usva_fault_config: USVA_FAULT_F_INTERRUPT is for dedicated lcores, not service cores");
		return -EINVAL;
	}
	return 0;
}

static bool
cpusets_overlap(unsigned int a, unsigned int b)
{
	rte_cpuset_t sa = rte_lcore_cpuset(a), sb = rte_lcore_cpuset(b), both;

	CPU_AND(&both, &sa, &sb);
	return CPU_COUNT(&both) != 0;
}

/* Dedicated mode: each lcore an idle EAL worker of its own; by default no
 * two busy-pollers (fault lcores, or a fault lcore and the main lcore) on
 * one CPU. */
static int
config_lcores(const struct usva_fault_config *c)
{
	unsigned int main_lcore = rte_get_main_lcore();
	uint32_t i, j, l;

	for (i = 0; i < c->nr_lcores; i++) {
		l = c->lcores[i];
		if (l >= RTE_MAX_LCORE || !rte_lcore_is_enabled(l) ||
		    rte_eal_lcore_role(l) != ROLE_RTE) {
			USVA_LOG(ERR, fault, "usva_fault_config: lcores[%u] = %u is not an EAL worker lcore",
				 i, l);
			return -EINVAL;
		}
		if (l == main_lcore) {
			USVA_LOG(ERR, fault, "usva_fault_config: lcores[%u] = %u is the main lcore",
				 i, l);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (c->lcores[j] == l) {
				USVA_LOG(ERR, fault, "usva_fault_config: lcore %u given twice",
					 l);
				return -EINVAL;
			}
		if (rte_eal_get_lcore_state(l) != WAIT) {
			USVA_LOG(ERR, fault, "usva_fault_config: lcore %u is busy", l);
			return -EBUSY;
		}
		if (c->flags & USVA_FAULT_F_INTERRUPT)
			continue;	/* sleepers may share a CPU */
		if (cpusets_overlap(l, main_lcore)) {
			USVA_LOG(ERR, fault, "usva_fault_config: lcore %u shares a CPU with the main lcore %u (two busy-pollers on one core; use USVA_FAULT_F_INTERRUPT or other lcores)",
				 l, main_lcore);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (cpusets_overlap(l, c->lcores[j])) {
				USVA_LOG(ERR, fault, "usva_fault_config: lcores %u and %u share a CPU (two busy-pollers on one core)",
					 l, c->lcores[j]);
				return -EINVAL;
			}
	}
	return 0;
}

static int
config_load(const struct usva_fault_config *ucfg, struct usva_fault_config *c)
{
	int rc;

	rc = USVA_STRUCT_LOAD(c, ucfg, lcores);
	if (rc == 0)
		rc = usva_check_flags(c->flags, FAULT_F_KNOWN, "usva_fault_config");
	if (rc == 0)
		rc = usva_check_reserved(c->reserved, sizeof(c->reserved),
					 "usva_fault_config");
	if (rc == 0)
		rc = config_values(c);
	if (rc == 0 && !(c->flags & USVA_FAULT_F_SERVICE_CORES))
		rc = config_lcores(c);
	return rc;
}

/* ---- create / destroy ------------------------------------------------------ */

static struct rte_ring *
ring_alloc(const char *what, uint32_t inst, uint32_t slot, uint32_t esize,
	   uint32_t count)
{
	char name[RTE_RING_NAMESIZE];
	ssize_t sz = rte_ring_get_memsize_elem(esize, count);
	struct rte_ring *r;

	if (sz < 0)
		return NULL;
	/* The ring lives on the usva heap (counted, fail-nth), not in a
	 * memzone: no global name to collide on. */
	r = usva_zmalloc_aligned((size_t)sz, RTE_CACHE_LINE_SIZE);
	if (r == NULL)
		return NULL;
	snprintf(name, sizeof(name), "usvaf%u_%s%u", inst, what, slot);
	if (rte_ring_init(r, name, count, RING_F_SC_DEQ) != 0) {
		usva_free(r);
		return NULL;
	}
	return r;
}

/* Free a slot's buffers; safe on a partly allocated or freed slot. */
static void
slot_free(struct fault_slot *s)
{
	void **bufs[] = {
		(void **)&s->groups, (void **)&s->reqs, (void **)&s->fwd_in,
		(void **)&s->comp_in, (void **)&s->fwd_out, (void **)&s->fwd_n,
		(void **)&s->resp, (void **)&s->resp_iommu,
		(void **)&s->dispatch, (void **)&s->comp,
	};
	size_t i;

	for (i = 0; i < RTE_DIM(bufs); i++) {
		usva_free(*bufs[i]);
		*bufs[i] = NULL;
	}
}

static int
slot_alloc(struct usva_fault_service *svc, struct fault_slot *s, uint32_t idx)
{
	uint32_t b = svc->burst, n = svc->nr_slots, i;
	uint32_t dcount = rte_align32pow2(RTE_MAX(1024u, 4 * b * n));
	uint32_t ccount = rte_align32pow2(RTE_MAX(4096u, 2 * svc->cfg.max_groups));

	s->svc = svc;
	s->idx = idx;
	s->lcore = svc->service_cores ? 0 : svc->cfg.lcores[idx];
	s->service_id = -1;
	s->epfd = -1;
	s->gmask = svc->gcap - 1;
	s->sleep_ns = 0;
	s->hc_iommu = UINT32_MAX;
	for (i = 0; i < FAULT_DOOMED; i++)
		s->doomed[i].iommu = UINT32_MAX;
	s->groups = usva_zmalloc_aligned((size_t)svc->gcap * sizeof(*s->groups),
					 RTE_CACHE_LINE_SIZE);
	s->reqs = usva_zmalloc_aligned(b * sizeof(*s->reqs), RTE_CACHE_LINE_SIZE);
	s->fwd_in = usva_zmalloc_aligned(b * sizeof(*s->fwd_in),
					 RTE_CACHE_LINE_SIZE);
	s->comp_in = usva_zmalloc_aligned(b * sizeof(*s->comp_in),
					  RTE_CACHE_LINE_SIZE);
	s->fwd_out = usva_zmalloc_aligned((size_t)n * b * sizeof(*s->fwd_out),
					  RTE_CACHE_LINE_SIZE);
	s->fwd_n = usva_zmalloc(n * sizeof(*s->fwd_n));
	s->resp = usva_zmalloc_aligned(svc->resp_batch * sizeof(*s->resp),
				       RTE_CACHE_LINE_SIZE);
	s->resp_iommu = usva_zmalloc(svc->resp_batch);
	s->dispatch = ring_alloc("d", svc->inst, idx, sizeof(struct fault_fwd),
				 dcount);
	s->comp = ring_alloc("c", svc->inst, idx, sizeof(struct fault_comp),
			     ccount);
	if (s->groups == NULL || s->reqs == NULL || s->fwd_in == NULL ||
	    s->comp_in == NULL || s->fwd_out == NULL || s->fwd_n == NULL ||
	    s->resp == NULL || s->resp_iommu == NULL || s->dispatch == NULL ||
	    s->comp == NULL) {
		slot_free(s);
		return -ENOMEM;
	}
	return 0;
}

static int fault_service_cb(void *arg);

static void
services_unregister(struct usva_fault_service *svc)
{
	uint32_t i;

	for (i = 0; i < svc->nr_slots; i++)
		if (svc->slots[i].service_id >= 0) {
			rte_service_component_unregister(svc->slots[i].service_id);
			svc->slots[i].service_id = -1;
		}
}

static int
services_register(struct usva_fault_service *svc)
{
	struct rte_service_spec spec;
	uint32_t i, id;
	int rc;

	for (i = 0; i < svc->nr_slots; i++) {
		memset(&spec, 0, sizeof(spec));
		snprintf(spec.name, sizeof(spec.name), "usva_fault_%u_%u",
			 svc->inst, i);
		spec.callback = fault_service_cb;
		spec.callback_userdata = &svc->slots[i];
		spec.socket_id = SOCKET_ID_ANY;
		/* Not MT-safe: one core runs a slot at a time. */
		spec.capabilities = 0;
		rc = usva_fail_point("fault_service_register") ? -ENOMEM :
		     rte_service_component_register(&spec, &id);
		if (rc != 0) {
			USVA_LOG(ERR, fault, "service create: cannot register EAL service %s: %s",
				 spec.name, strerror(-rc));
			services_unregister(svc);
			return rc;
		}
		svc->slots[i].service_id = (int32_t)id;
	}
	return 0;
}

static int
rcu_setup(struct usva_fault_service *svc)
{
	size_t sz = rte_rcu_qsbr_get_memsize(svc->nr_slots);
	uint32_t i;

	svc->rcu = usva_zmalloc_aligned(sz, RTE_CACHE_LINE_SIZE);
	if (svc->rcu == NULL)
		return -ENOMEM;
	rte_rcu_qsbr_init(svc->rcu, svc->nr_slots);
	for (i = 0; i < svc->nr_slots; i++)
		rte_rcu_qsbr_thread_register(svc->rcu, i);
	return 0;
}

static void
svc_geometry(struct usva_fault_service *svc)
{
	const struct usva_fault_config *c = &svc->cfg;
	uint64_t hz = rte_get_tsc_hz();
	uint32_t i;

	svc->nr_slots = c->nr_lcores;
	svc->shard_mask = c->nr_shards - 1;
	svc->shard_shift = c->shard_shift;
	svc->burst = c->burst;
	svc->resp_batch = c->resp_batch;
	/* Twice the groups allowed open: lookups stay short. */
	svc->gcap = rte_align32pow2(2 * c->max_groups);
	svc->timeout_tsc = (uint64_t)c->timeout_us * hz / 1000000;
	svc->event_period_tsc = FAULT_EVENT_PERIOD_US * hz / 1000000;
	svc->ns_mult = (uint64_t)(((unsigned __int128)1000000000 << 32) / hz);
	svc->global_lock = c->flags & USVA_FAULT_F_GLOBAL_LOCK;
	svc->service_cores = c->flags & USVA_FAULT_F_SERVICE_CORES;
	svc->interrupt = c->flags & USVA_FAULT_F_INTERRUPT;
	for (i = 0; i < c->nr_shards; i++) {
		svc->owner[i] = (uint8_t)(i % svc->nr_slots);
		svc->slot_shards[i % svc->nr_slots]++;
	}
}

static void
svc_free(struct usva_fault_service *svc)
{
	uint32_t i;

	if (svc->slots != NULL)
		for (i = 0; i < svc->nr_slots; i++)
			slot_free(&svc->slots[i]);
	usva_free(svc->slots);
	usva_free(svc->shards);
	usva_free(svc->homes);
	usva_free(svc->rcu);
	pthread_mutex_destroy(&svc->ctl);
	usva_free(svc);
}

int
usva_fault_service_create(const struct usva_fault_config *ucfg,
			  struct usva_fault_service **out)
{
	struct usva_fault_service *svc;
	struct usva_fault_config cfg;
	uint32_t i;
	int rc;

	if (out == NULL) {
		USVA_LOG(ERR, fault, "service create: NULL out");
		return -EINVAL;
	}
	*out = NULL;
	rc = config_load(ucfg, &cfg);
	if (rc != 0)
		return rc;
	svc = usva_zmalloc_aligned(sizeof(*svc), RTE_CACHE_LINE_SIZE);
	if (svc == NULL)
		return -ENOMEM;
	svc->cfg = cfg;
	svc->cfg.size = sizeof(svc->cfg);
	pthread_mutex_init(&svc->ctl, NULL);
	rte_spinlock_init(&svc->glock);
	TAILQ_INIT(&svc->handlers);
	TAILQ_INIT(&svc->retired);
	svc_geometry(svc);
	svc->inst = inst_next();
	rc = rcu_setup(svc);
	if (rc != 0)
		goto err_free;
	rc = -ENOMEM;
	svc->slots = usva_zmalloc_aligned(svc->nr_slots * sizeof(*svc->slots),
					  RTE_CACHE_LINE_SIZE);
	svc->shards = usva_zmalloc_aligned(cfg.nr_shards * sizeof(*svc->shards),
					   RTE_CACHE_LINE_SIZE);
	svc->homes = usva_zmalloc_aligned(FAULT_HOMES * sizeof(*svc->homes),
					  RTE_CACHE_LINE_SIZE);
	if (svc->slots == NULL || svc->shards == NULL || svc->homes == NULL)
		goto err_free;
	for (i = 0; i < svc->nr_slots; i++) {
		rc = slot_alloc(svc, &svc->slots[i], i);
		if (rc != 0)
			goto err_free;
	}
	if (svc->service_cores) {
		rc = services_register(svc);
		if (rc != 0)
			goto err_free;
	}
	/* Last: from here on tokens and telemetry may reach it. */
	rc = fault_registry_add(svc);
	if (rc != 0)
		goto err_services;
	USVA_LOG(DEBUG, fault, "service %u: %u %s, %u shards (shift %u), burst %u, %u groups per lcore, %s",
		 svc->reg, svc->nr_slots,
		 svc->service_cores ? "service components" : "dedicated lcores",
		 cfg.nr_shards, cfg.shard_shift, cfg.burst, cfg.max_groups,
		 svc->global_lock ? "global lock" : "sharded");
	*out = svc;
	return 0;

err_services:
	services_unregister(svc);
err_free:
	svc_free(svc);
	return rc;
}

/* Slot batches still holding responses (a backend that refused them). */
static void
slots_final_flush(struct usva_fault_service *svc)
{
	uint32_t i;

	for (i = 0; i < svc->nr_slots; i++) {
		fault_slot_flush(&svc->slots[i], false);
		if (svc->slots[i].resp_n != 0)
			USVA_LOG(ERR, fault, "service %u: %u responses of lcore slot %u not taken by the backend",
				 svc->reg, svc->slots[i].resp_n, i);
	}
}

void
usva_fault_service_destroy(struct usva_fault_service *svc)
{
	uint32_t n;

	if (svc == NULL)
		return;
	pthread_mutex_lock(&svc->ctl);
	bool started = svc->started;
	pthread_mutex_unlock(&svc->ctl);
	if (started)
		usva_fault_service_stop(svc);
	/* No completer may still hold a pointer into svc after this. */
	fault_registry_del(svc);
	fault_handlers_destroy(svc);
	slots_final_flush(svc);
	n = fault_groups_flush(svc, 0);
	if (n != 0)
		USVA_LOG(INFO, fault, "service %u: %u pending groups answered INVALID at destroy",
			 svc->reg, n);
	services_unregister(svc);
	svc_free(svc);
}

/* ---- queues ------------------------------------------------------------------- */

int
usva_fault_service_add_iommu(struct usva_fault_service *svc,
			     struct usva_iommu *iommu)
{
	struct fault_slot *s;
	uint16_t id;
	int rc = 0;

	if (svc == NULL || iommu == NULL)
		return -EINVAL;
	id = usva_iommu_id(iommu);
	pthread_mutex_lock(&svc->ctl);
	if (svc->started) {
		rc = -EBUSY;
	} else if (svc->iommus[id] != NULL) {
		rc = -EEXIST;
	} else if (svc->nr_iommus >= USVA_IOMMU_MAX) {
		rc = -ENOSPC;
	} else if (usva_iommu_fp[id].prq_poll == NULL ||
		   usva_iommu_fp[id].page_respond == NULL) {
		USVA_LOG(ERR, fault, "add_iommu: %s instance %u has no page-request queue",
			 usva_iommu_backend(iommu), id);
		rc = -EOPNOTSUPP;
	} else {
		/* Round robin: queue n goes to slot n % nr_slots. */
		s = &svc->slots[svc->nr_iommus % svc->nr_slots];
		s->queues[s->nr_queues++] = id;
		svc->iommus[id] = iommu;
		svc->nr_iommus++;
	}
	pthread_mutex_unlock(&svc->ctl);
	if (rc == -EBUSY)
		USVA_LOG(ERR, fault, "add_iommu: service %u is running", svc->reg);
	return rc;
}

/* ---- running a slot ------------------------------------------------------- */

/* The service and slot the calling thread is running, if any: control
 * calls made from a fault lcore (pager or event callbacks) cannot wait for
 * a grace period that includes themselves. */
static __thread struct usva_fault_service *tls_svc;
static __thread uint32_t tls_slot;

bool
fault_on_slot_thread(const struct usva_fault_service *svc)
{
	return tls_svc == svc;
}

uint32_t
fault_tls_slot(void)
{
	return tls_slot;
}

/* One iteration inside the RCU read side. */
static inline unsigned int
slot_run_once(struct fault_slot *s)
{
	unsigned int n;

	rte_rcu_qsbr_thread_online(s->svc->rcu, s->idx);
	tls_svc = s->svc;
	tls_slot = s->idx;
	n = fault_slot_iteration(s);
	tls_svc = NULL;
	rte_rcu_qsbr_quiescent(s->svc->rcu, s->idx);
	rte_rcu_qsbr_thread_offline(s->svc->rcu, s->idx);
	return n;
}

static int
fault_lcore_main(void *arg)
{
	struct fault_slot *s = arg;
	struct usva_fault_service *svc = s->svc;

	rte_rcu_qsbr_thread_online(svc->rcu, s->idx);
	tls_svc = svc;
	tls_slot = s->idx;
	/* Acquire: pairs with the release store of stop. */
	while (!__atomic_load_n(&svc->stop, __ATOMIC_ACQUIRE)) {
		unsigned int n = fault_slot_iteration(s);

		rte_rcu_qsbr_quiescent(svc->rcu, s->idx);
		if (n == 0)
			fault_slot_idle(s);
		else
			fault_slot_busy(s);
	}
	tls_svc = NULL;
	rte_rcu_qsbr_thread_offline(svc->rcu, s->idx);
	return 0;
}

static int
fault_service_cb(void *arg)
{
	return slot_run_once(arg) != 0 ? 0 : -EAGAIN;
}

int
usva_fault_service_poll(struct usva_fault_service *svc, unsigned int slot)
{
	struct fault_slot *s;
	unsigned int n;

	if (svc == NULL || slot >= svc->nr_slots)
		return -EINVAL;
	/* Relaxed: a hint; starting while a poll runs is the caller's race. */
	if (__atomic_load_n(&svc->started, __ATOMIC_RELAXED))
		return -EBUSY;
	s = &svc->slots[slot];
	s->explicit_poll = true;
	n = slot_run_once(s);
	s->explicit_poll = false;
	return (int)n;
}

int32_t
usva_fault_service_component(const struct usva_fault_service *svc,
			     unsigned int slot)
{
	if (svc == NULL || slot >= svc->nr_slots)
		return -1;
	return svc->slots[slot].service_id;
}

/* ---- start / stop ---------------------------------------------------------- */

static void
epoll_setup(struct usva_fault_service *svc, struct fault_slot *s)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	uint32_t q;
	int fd;

	s->epfd = -1;
	s->prq_irq = false;
	if (!svc->interrupt)
		return;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return;
	s->prq_irq = s->nr_queues > 0;
	for (q = 0; q < s->nr_queues; q++) {
		struct usva_iommu *iommu = svc->iommus[s->queues[q]];

		ev.data.u32 = s->queues[q];
		fd = usva_iommu_event_fd(iommu);
		if (fd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
		/* Page requests wake the slot only if every queue can
		 * raise an interrupt; else it falls back to a back-off. */
		fd = usva_iommu_prq_fd(iommu);
		if (fd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			s->prq_irq = false;
	}
}

static void
epoll_teardown(struct fault_slot *s)
{
	if (s->epfd >= 0)
		close(s->epfd);
	s->epfd = -1;
}

static void
lcores_stop(struct usva_fault_service *svc, uint32_t launched)
{
	uint32_t i;

	/* Release: the loops see stop after everything before it. */
	__atomic_store_n(&svc->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < launched; i++) {
		rte_eal_wait_lcore(svc->slots[i].lcore);
		epoll_teardown(&svc->slots[i]);
	}
}

static int
lcores_start(struct usva_fault_service *svc)
{
	struct fault_slot *s;
	uint32_t i;
	int rc;

	/* Release: pairs with the loops' acquire; the launch orders it too. */
	__atomic_store_n(&svc->stop, 0, __ATOMIC_RELEASE);
	for (i = 0; i < svc->nr_slots; i++) {
		s = &svc->slots[i];
		s->idle = 0;
		s->sleep_ns = 0;
		epoll_setup(svc, s);
		if (rte_eal_get_lcore_state(s->lcore) != WAIT) {
			USVA_LOG(ERR, fault, "service %u start: lcore %u is busy",
				 svc->reg, s->lcore);
			rc = -EBUSY;
			goto err;
		}
		rc = usva_fail_point("fault_launch") ? -ENOMEM :
		     rte_eal_remote_launch(fault_lcore_main, s, s->lcore);
		if (rc != 0) {
			USVA_LOG(ERR, fault, "service %u start: cannot launch on lcore %u: %s",
				 svc->reg, s->lcore, strerror(-rc));
			goto err;
		}
	}
	return 0;
err:
	epoll_teardown(s);
	lcores_stop(svc, i);
	return rc;
}

static void
components_set(struct usva_fault_service *svc, int run)
{
	uint32_t i;

	for (i = 0; i < svc->nr_slots; i++) {
		rte_service_component_runstate_set(svc->slots[i].service_id, run);
		rte_service_runstate_set(svc->slots[i].service_id, run);
	}
}

static void
components_wait(struct usva_fault_service *svc)
{
	uint64_t deadline = rte_get_timer_cycles() +
			    rte_get_timer_hz() * (FAULT_STOP_WAIT_US / 1000000);
	uint32_t i;

	for (i = 0; i < svc->nr_slots; i++)
		while (rte_service_may_be_active(svc->slots[i].service_id) == 1) {
			if (rte_get_timer_cycles() > deadline) {
				USVA_LOG(ERR, fault, "service %u stop: component %d still running",
					 svc->reg, svc->slots[i].service_id);
				break;
			}
			rte_delay_us_sleep(10);
		}
}

int
usva_fault_service_start(struct usva_fault_service *svc)
{
	int rc = 0;

	if (svc == NULL)
		return -EINVAL;
	pthread_mutex_lock(&svc->ctl);
	/* started: W: ctl; read without it (relaxed) only as a hint by
	 * usva_fault_service_poll(). */
	if (svc->started) {
		rc = -EALREADY;
	} else if (svc->service_cores) {
		__atomic_store_n(&svc->started, true, __ATOMIC_RELAXED);
		components_set(svc, 1);
	} else {
		__atomic_store_n(&svc->started, true, __ATOMIC_RELAXED);
		rc = lcores_start(svc);
		if (rc != 0)
			__atomic_store_n(&svc->started, false, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&svc->ctl);
	return rc;
}

int
usva_fault_service_stop(struct usva_fault_service *svc)
{
	int rc = 0;

	if (svc == NULL)
		return -EINVAL;
	pthread_mutex_lock(&svc->ctl);
	if (!svc->started) {
		rc = -EALREADY;
	} else if (svc->service_cores) {
		components_set(svc, 0);
		components_wait(svc);
		__atomic_store_n(&svc->started, false, __ATOMIC_RELAXED);
	} else {
		lcores_stop(svc, svc->nr_slots);
		__atomic_store_n(&svc->started, false, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&svc->ctl);
	return rc;
}

int
usva_fault_set_event_cb(struct usva_fault_service *svc,
			usva_fault_event_cb_t cb, void *arg)
{
	if (svc == NULL)
		return -EINVAL;
	pthread_mutex_lock(&svc->ctl);
	/* Unpublish, wait until no slot runs the old pair, then publish the
	 * new one: a slot never calls a callback with another's argument.
	 * Release pairs with the slots' acquire load of event_cb. */
	__atomic_store_n(&svc->event_cb, NULL, __ATOMIC_RELEASE);
	fault_synchronize(svc);
	svc->event_arg = arg;
	__atomic_store_n(&svc->event_cb, cb, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&svc->ctl);
	return 0;
}
