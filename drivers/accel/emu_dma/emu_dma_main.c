/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu-dma: creation, the usva_dma control ops, and the three ways to run
 * the engine (EAL service, an lcore of its own, or the caller's polls).
 *
 * All three take the device's eng_lock for one iteration (a trylock: the
 * loser just skips a turn), so at most one thread runs the engine at any
 * time and the engine state needs no other lock. Control ops take it with
 * a plain lock, after raising ctl_waiting so that a launched lcore stops
 * competing for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_memory.h>
#include <rte_pause.h>
#include <rte_service.h>
#include <rte_service_component.h>

#include "emu_dma_internal.h"
#include "usva_iommu_driver.h"
#include "usva_struct.h"

RTE_LOG_REGISTER(usva_logtype_dma_emu, usva.dma.emu, INFO);

#define EDMA_CAPA_OPS	(USVA_DMA_CAPA_OP_COPY | USVA_DMA_CAPA_OP_MEMMOVE | \
			 USVA_DMA_CAPA_OP_FILL | USVA_DMA_CAPA_OP_COMPARE | \
			 USVA_DMA_CAPA_OP_COMPARE_PATTERN | \
			 USVA_DMA_CAPA_OP_CRC32C | USVA_DMA_CAPA_OP_PREFETCH)

/* Serialises creations: one engine per emu device (one response
 * consumer). */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct usva_dma_dev_ops edma_ops;
static int engine_halt(struct emu_dma *ed);

struct emu_dma *
emu_dma_of(int16_t dev_id)
{
	struct usva_dma_dev *dev = usva_dma_dev_get(dev_id);

	if (dev == NULL || dev->ops != &edma_ops)
		return NULL;
	return dev->priv;
}

/* ---- the engine lock ------------------------------------------------------------ */

void
emu_dma_eng_lock(struct emu_dma *ed)
{
	/* Relaxed: a hint to the launched loop; the lock orders the rest. */
	__atomic_fetch_add(&ed->ctl_waiting, 1, __ATOMIC_RELAXED);
	rte_spinlock_lock(&ed->eng_lock);
	__atomic_fetch_sub(&ed->ctl_waiting, 1, __ATOMIC_RELAXED);
}

void
emu_dma_eng_unlock(struct emu_dma *ed)
{
	rte_spinlock_unlock(&ed->eng_lock);
}

/* One iteration if nobody else runs one. @return its work, -1 if busy. */
static int
iterate_try(struct emu_dma *ed)
{
	int n;

	if (!rte_spinlock_trylock(&ed->eng_lock))
		return -1;
	n = emu_dma_iterate(ed);
	rte_spinlock_unlock(&ed->eng_lock);
	return n;
}

/* ---- control ops (lib/dma's lock held) ---------------------------------------------- */

static void
edma_info_get(struct usva_dma_dev *dev, struct usva_dma_info *info)
{
	RTE_SET_USED(dev);
	RTE_SET_USED(info);	/* the library's fields say it all */
}

static void
chans_free(struct emu_dma *ed)
{
	struct edma_chan *old[USVA_DMA_MAX_VCHANS];

	emu_dma_eng_lock(ed);
	memcpy(old, ed->ch, sizeof(old));
	memset(ed->ch, 0, sizeof(ed->ch));
	ed->nb_vchans = 0;
	emu_dma_eng_unlock(ed);
	for (unsigned int v = 0; v < USVA_DMA_MAX_VCHANS; v++)
		emu_dma_chan_free(old[v]);
}

static int
edma_configure(struct usva_dma_dev *dev, uint16_t nb_vchans)
{
	struct emu_dma *ed = dev->priv;

	chans_free(ed);
	emu_dma_eng_lock(ed);
	ed->nb_vchans = nb_vchans;
	emu_dma_eng_unlock(ed);
	return 0;
}

static int
edma_vchan_setup(struct usva_dma_dev *dev, uint16_t vchan,
		 const struct usva_dma_vchan_conf *conf)
{
	struct emu_dma *ed = dev->priv;
	struct edma_chan *ch, *old;

	ch = emu_dma_chan_alloc(ed, conf);
	if (ch == NULL)
		return -ENOMEM;
	emu_dma_eng_lock(ed);
	old = ed->ch[vchan];
	ed->ch[vchan] = ch;
	emu_dma_eng_unlock(ed);
	emu_dma_chan_free(old);
	return 0;
}

static int
edma_start(struct usva_dma_dev *dev, struct usva_dma_fp_ops *fp)
{
	struct emu_dma *ed = dev->priv;

	emu_dma_eng_lock(ed);
	for (uint16_t v = 0; v < ed->nb_vchans; v++)
		emu_dma_chan_reset(ed->ch[v]);
	emu_dma_eng_unlock(ed);
	fp->ctx = ed;
	fp->enqueue = emu_dma_enqueue;
	fp->submit = emu_dma_submit;
	fp->completed = emu_dma_completed;
	fp->completed_status = emu_dma_completed_status;
	fp->burst_capacity = emu_dma_burst_capacity;
	return 0;
}

static int
edma_stop(struct usva_dma_dev *dev)
{
	struct emu_dma *ed = dev->priv;

	emu_dma_eng_lock(ed);
	emu_dma_stop_drain(ed);
	emu_dma_eng_unlock(ed);
	return 0;
}

static void
service_unregister(struct emu_dma *ed)
{
	uint64_t end = rte_get_timer_cycles() + rte_get_timer_hz();

	if (!ed->has_service)
		return;
	rte_service_component_runstate_set(ed->service_id, 0);
	while (rte_service_may_be_active(ed->service_id) == 1 &&
	       rte_get_timer_cycles() < end)
		rte_pause();
	if (rte_service_component_unregister(ed->service_id) != 0)
		EDMA_LOG(ERR, "dev %d: service %u still running, not "
			 "unregistered", ed->dev_id, ed->service_id);
	ed->has_service = false;
}

static void
edma_close(struct usva_dma_dev *dev)
{
	struct emu_dma *ed = dev->priv;

	engine_halt(ed);	/* -EALREADY if not launched */
	service_unregister(ed);
	/* Waits out a usva_emu_dma_poll() in progress. */
	chans_free(ed);
	usva_free(ed);
}

static uint64_t
ld(const uint64_t *c)
{
	/* Relaxed: counters written by the engine, read torn-free. */
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static int
edma_stats_get(struct usva_dma_dev *dev, uint16_t vchan,
	       struct usva_dma_stats *st)
{
	struct emu_dma *ed = dev->priv;
	const struct usva_dma_stats *s;

	if (ed->ch[vchan] == NULL)
		return -EINVAL;
	s = &ed->ch[vchan]->st;
	st->submitted = ld(&s->submitted);
	st->completed = ld(&s->completed);
	st->errors = ld(&s->errors);
	st->page_requests = ld(&s->page_requests);
	st->fault_retries = ld(&s->fault_retries);
	st->page_faults = ld(&s->page_faults);
	st->bytes = ld(&s->bytes);
	return 0;
}

static void
edma_dump(struct usva_dma_dev *dev, FILE *f)
{
	struct emu_dma *ed = dev->priv;
	struct usva_dma_stats st;

	fprintf(f, "  emu-dma: PRI %s, %u engines per vchan, parked %u, %s\n",
		ed->pri ? "yes" : "no", ed->max_inflight,
		__atomic_load_n(&ed->parked, __ATOMIC_RELAXED),
		__atomic_load_n(&ed->launched, __ATOMIC_RELAXED) ?
		"launched" : ed->has_service ? "service" : "polled");
	for (uint16_t v = 0; v < ed->nb_vchans; v++) {
		struct edma_chan *ch = ed->ch[v];

		if (ch == NULL || edma_stats_get(dev, v, &st) != 0)
			continue;
		fprintf(f, "  vchan %u: %u desc, %s, PASID %u, done %u, "
			"submitted %" PRIu64 " completed %" PRIu64 " errors %"
			PRIu64 " page_requests %" PRIu64 " retries %" PRIu64
			" page_faults %" PRIu64 " bytes %" PRIu64 "\n", v,
			ch->nb_desc, ch->fault_mode == USVA_DMA_FAULT_BLOCK ?
			"block" : "partial", ch->pasid,
			/* Acquire: pairs with the engine's release. */
			__atomic_load_n(&ch->done, __ATOMIC_ACQUIRE),
			st.submitted, st.completed, st.errors,
			st.page_requests, st.fault_retries, st.page_faults,
			st.bytes);
	}
}

static const struct usva_dma_dev_ops edma_ops = {
	.info_get = edma_info_get,
	.configure = edma_configure,
	.vchan_setup = edma_vchan_setup,
	.start = edma_start,
	.stop = edma_stop,
	.close = edma_close,
	.stats_get = edma_stats_get,
	.dump = edma_dump,
};

/* ---- create ------------------------------------------------------------------------ */

static int
cfg_defaults(struct usva_emu_dma_config *c)
{
	const char *bad = NULL;

	if (c->max_vchans == 0)
		c->max_vchans = EDMA_VCHANS_DEF;
	if (c->max_desc == 0)
		c->max_desc = EDMA_MAX_DESC_DEF;
	if (c->max_inflight == 0)
		c->max_inflight = EDMA_INFLIGHT_DEF;
	if (c->max_len == 0)
		c->max_len = EDMA_MAX_LEN_DEF;
	if (c->fault_retries == 0)
		c->fault_retries = EDMA_RETRIES_DEF;
	if (c->max_vchans > USVA_DMA_MAX_VCHANS)
		bad = "max_vchans (1..8)";
	else if (!rte_is_power_of_2(c->max_desc) ||
		 c->max_desc < EDMA_MAX_DESC_MIN ||
		 c->max_desc > EDMA_MAX_DESC_MAX)
		bad = "max_desc (power of two, 64..32768)";
	else if (c->max_inflight > EDMA_INFLIGHT_MAX)
		bad = "max_inflight (1..16)";
	else if (c->reserved0 != 0)
		bad = "reserved0";
	if (bad == NULL)
		return 0;
	EDMA_LOG(ERR, "usva_emu_dma_create: bad field %s", bad);
	return -EINVAL;
}

static int
cfg_load(const struct usva_emu_dma_config *ucfg,
	 struct usva_emu_dma_config *c)
{
	const char *bad = NULL;
	int rc;

	if (ucfg == NULL) {
		EDMA_LOG(ERR, "usva_emu_dma_create: NULL config");
		return -EFAULT;
	}
	rc = USVA_CONFIG_LOAD(c, ucfg, dev, reserved, USVA_EMU_DMA_F_SERVICE);
	if (rc)
		return rc;
	if (c->name == NULL || c->name[0] == '\0' ||
	    strnlen(c->name, USVA_DMA_NAME_LEN) == USVA_DMA_NAME_LEN)
		bad = "name (empty or too long)";
	else if (c->dev == NULL || c->dev->iommu == NULL ||
		 strcmp(c->dev->iommu->ops->name, "emu") != 0)
		bad = "dev (not an emu device)";
	if (bad != NULL) {
		EDMA_LOG(ERR, "usva_emu_dma_create: bad field %s", bad);
		return -EINVAL;
	}
	return cfg_defaults(c);
}

/* create_lock held. @return 0 if no engine uses @p dev. */
static int
dev_unused(const struct usva_iommu_dev *dev)
{
	for (int16_t i = 0; i < USVA_DMA_MAX_DEVS; i++) {
		struct emu_dma *o = emu_dma_of(i);

		if (o != NULL && o->iodev == dev) {
			EDMA_LOG(ERR, "usva_emu_dma_create: device %s has an "
				 "engine already (dma %d)", dev->info.name, i);
			return -EBUSY;
		}
	}
	return 0;
}

static struct emu_dma *
edma_alloc(const struct usva_emu_dma_config *c, const struct usva_dev_info *di)
{
	struct emu_dma *ed = usva_zmalloc_aligned(sizeof(*ed),
						  RTE_CACHE_LINE_SIZE);

	if (ed == NULL)
		return NULL;
	ed->iodev = c->dev;
	ed->dev_id = -1;
	ed->pri = (di->flags & USVA_DEV_F_PRI) != 0;
	ed->pasid_width = di->pasid_width;
	ed->max_inflight = c->max_inflight;
	ed->fault_retries = c->fault_retries;
	ed->max_len = c->max_len;
	rte_spinlock_init(&ed->eng_lock);
	emu_dma_grp_init(ed);
	return ed;
}

static int32_t
service_run(void *arg)
{
	return iterate_try(arg) > 0 ? 0 : -EAGAIN;
}

static int
service_register(struct emu_dma *ed, const char *name)
{
	struct rte_service_spec spec;
	int rc;

	memset(&spec, 0, sizeof(spec));
	snprintf(spec.name, sizeof(spec.name), "emu_dma_%s", name);
	spec.callback = service_run;
	spec.callback_userdata = ed;
	spec.socket_id = SOCKET_ID_ANY;
	/* A fail point (fail-nth tests): the EAL call can fail too. */
	rc = usva_fail_point("emu_dma_service") ? -ENOSPC :
	     rte_service_component_register(&spec, &ed->service_id);
	if (rc) {
		EDMA_LOG(ERR, "usva_emu_dma_create: service %s: %s", spec.name,
			 strerror(-rc));
		return rc;
	}
	ed->has_service = true;
	return 0;
}

static int
edma_register(struct emu_dma *ed, const struct usva_emu_dma_config *c,
	      int16_t *dev_id)
{
	struct usva_dma_dev t;

	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", c->name);
	t.ops = &edma_ops;
	t.capa = USVA_DMA_CAPA_SVA | USVA_DMA_CAPA_PARTIAL |
		 USVA_DMA_CAPA_COMPLETION_RECORD | USVA_DMA_CAPA_FENCE |
		 EDMA_CAPA_OPS;
	if (ed->pri)
		t.capa |= USVA_DMA_CAPA_BLOCK_ON_FAULT;
	t.max_vchans = c->max_vchans;
	t.min_desc = EDMA_MIN_DESC;
	t.max_desc = c->max_desc;
	t.max_len = c->max_len;
	t.pasid_width = ed->pasid_width;
	t.priv = ed;
	return usva_dma_dev_register(&t, dev_id);
}

int
usva_emu_dma_create(const struct usva_emu_dma_config *ucfg, int16_t *dev_id)
{
	struct usva_dev_info di = { .size = sizeof(di) };
	struct usva_emu_dma_config c;
	struct emu_dma *ed;
	int rc;

	if (dev_id == NULL) {
		EDMA_LOG(ERR, "usva_emu_dma_create: NULL dev_id");
		return -EINVAL;
	}
	rc = cfg_load(ucfg, &c);
	if (rc == 0)
		rc = usva_iommu_dev_info(c.dev, &di);
	if (rc)
		return rc;
	pthread_mutex_lock(&create_lock);
	rc = dev_unused(c.dev);
	if (rc)
		goto unlock;
	rc = -ENOMEM;
	ed = edma_alloc(&c, &di);
	if (ed == NULL)
		goto unlock;
	if (c.flags & USVA_EMU_DMA_F_SERVICE) {
		rc = service_register(ed, c.name);
		if (rc)
			goto fail_service;
	}
	rc = edma_register(ed, &c, dev_id);
	if (rc)
		goto fail_register;
	ed->dev_id = *dev_id;
	if (ed->has_service)
		rte_service_component_runstate_set(ed->service_id, 1);
	pthread_mutex_unlock(&create_lock);
	EDMA_LOG(DEBUG, "dma %d %s on %s: PRI %s, PASID bits %u", *dev_id,
		 c.name, di.name, ed->pri ? "yes" : "no", ed->pasid_width);
	return 0;

fail_register:
	service_unregister(ed);
fail_service:
	usva_free(ed);
unlock:
	pthread_mutex_unlock(&create_lock);
	return rc;
}

/* ---- running the engine ------------------------------------------------------------ */

int32_t
usva_emu_dma_service_id(int16_t dev_id)
{
	struct emu_dma *ed = emu_dma_of(dev_id);

	if (ed == NULL || !ed->has_service)
		return -EINVAL;
	return (int32_t)ed->service_id;
}

static int
engine_loop(void *arg)
{
	struct emu_dma *ed = arg;

	/* Acquire: pairs with halt's release; nothing else is ordered. */
	while (!__atomic_load_n(&ed->halt, __ATOMIC_ACQUIRE)) {
		/* Relaxed: a hint; let a control call have the lock. */
		if (__atomic_load_n(&ed->ctl_waiting, __ATOMIC_RELAXED) ||
		    iterate_try(ed) <= 0)
			rte_pause();
	}
	return 0;
}

int
usva_emu_dma_launch(int16_t dev_id, unsigned int lcore)
{
	struct emu_dma *ed = emu_dma_of(dev_id);
	uint32_t zero = 0;

	if (ed == NULL || lcore >= RTE_MAX_LCORE ||
	    !rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
		EDMA_LOG(ERR, "usva_emu_dma_launch: bad %s",
			 ed == NULL ? "dev_id" : "lcore (a worker)");
		return -EINVAL;
	}
	if (rte_eal_get_lcore_state(lcore) != WAIT)
		return -EBUSY;
	/* Acquire/release: one launcher wins; halt sees lcore set. */
	if (!__atomic_compare_exchange_n(&ed->launched, &zero, 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return -EBUSY;
	ed->lcore = lcore;
	/* Relaxed: the launch below orders it before the loop reads it. */
	__atomic_store_n(&ed->halt, 0, __ATOMIC_RELAXED);
	if (usva_fail_point("emu_dma_launch") ||
	    rte_eal_remote_launch(engine_loop, ed, lcore) != 0) {
		/* Release: pairs with the acquire of other callers. */
		__atomic_store_n(&ed->launched, 0, __ATOMIC_RELEASE);
		return -EBUSY;
	}
	return 0;
}

static int
engine_halt(struct emu_dma *ed)
{
	/* Acquire: pairs with launch's CAS; lcore is set. */
	if (!__atomic_load_n(&ed->launched, __ATOMIC_ACQUIRE))
		return -EALREADY;
	/* Release: pairs with the loop's acquire. */
	__atomic_store_n(&ed->halt, 1, __ATOMIC_RELEASE);
	rte_eal_wait_lcore(ed->lcore);
	/* Release: the lcore is idle before a new launch may start. */
	__atomic_store_n(&ed->launched, 0, __ATOMIC_RELEASE);
	return 0;
}

int
usva_emu_dma_halt(int16_t dev_id)
{
	struct emu_dma *ed = emu_dma_of(dev_id);

	if (ed == NULL)
		return -EINVAL;
	return engine_halt(ed);
}

int
usva_emu_dma_poll(int16_t dev_id)
{
	struct emu_dma *ed = emu_dma_of(dev_id);
	int n;

	if (ed == NULL)
		return -EINVAL;
	/* Its copies run in DMA sections of the emu IOMMU, which need an
	 * lcore id (usva_emu_dma_begin()). */
	if (rte_lcore_id() >= RTE_MAX_LCORE) {
		EDMA_LOG(ERR, "usva_emu_dma_poll: the calling thread has no "
			 "lcore id (register it with rte_thread_register())");
		return -EPERM;
	}
	/* Relaxed: only decides whether to compete for the lock. */
	if (__atomic_load_n(&ed->launched, __ATOMIC_RELAXED))
		return -EBUSY;
	n = iterate_try(ed);
	return n < 0 ? 0 : n;
}

uint32_t
usva_emu_dma_parked(int16_t dev_id)
{
	struct emu_dma *ed = emu_dma_of(dev_id);

	/* Relaxed: a count for monitoring. */
	return ed == NULL ? 0 : __atomic_load_n(&ed->parked, __ATOMIC_RELAXED);
}
