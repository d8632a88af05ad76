/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/dma: the generic layer of SVA DMA devices, as rte_dmadev's. It owns
 * the device table and the fast-path table, checks every argument of the
 * control path and calls the driver's ops with valid requests only.
 *
 * Locks: `dma_lock` (a mutex: ops may sleep) serialises every control call
 * and guards the device slots and the library's fields of each device.
 * Slots are also read without it, by usva_dma_dev_get() and the partial
 * fix-up: they are published with a release store after the device is
 * filled, and a device is freed only by usva_dma_close(), which the
 * application does not race with its own use of the device.
 *
 * usva_dma_fp[]: filled from the driver's table at start. At stop enqueue,
 * submit and burst_capacity are pointed at stubs, while completed and
 * completed_status stay the driver's until configure or close, so that the
 * operations stop ended (NOT_ATTEMPTED, PAGE_FAULT) can still be reaped.
 * A slot never started holds stubs only: a fast-path call on it fails
 * instead of jumping through NULL.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_dma_driver.h"
#include "usva_log.h"
#include "usva_struct.h"

extern int usva_logtype_dma;
RTE_LOG_REGISTER(usva_logtype_dma, usva.dma, INFO);

#define PAGE_SIZE_4K	UINT64_C(0x1000)

/* ---- fast-path stubs ------------------------------------------------------ */

static int
stub_enqueue(void *ctx, uint16_t vchan, const struct usva_dma_op *op)
{
	RTE_SET_USED(ctx);
	RTE_SET_USED(vchan);
	RTE_SET_USED(op);
	return -EINVAL;
}

static int
stub_submit(void *ctx, uint16_t vchan)
{
	RTE_SET_USED(ctx);
	RTE_SET_USED(vchan);
	return -EINVAL;
}

static uint16_t
stub_completed(void *ctx, uint16_t vchan, uint16_t nb, uint16_t *last_idx,
	       bool *has_error)
{
	RTE_SET_USED(ctx);
	RTE_SET_USED(vchan);
	RTE_SET_USED(nb);
	RTE_SET_USED(last_idx);
	if (has_error != NULL)
		*has_error = false;
	return 0;
}

static uint16_t
stub_completed_status(void *ctx, uint16_t vchan, uint16_t nb,
		      uint16_t *last_idx, struct usva_dma_cpl *cpl)
{
	RTE_SET_USED(ctx);
	RTE_SET_USED(vchan);
	RTE_SET_USED(nb);
	RTE_SET_USED(last_idx);
	RTE_SET_USED(cpl);
	return 0;
}

static uint16_t
stub_burst_capacity(void *ctx, uint16_t vchan)
{
	RTE_SET_USED(ctx);
	RTE_SET_USED(vchan);
	return 0;
}

#define FP_STUBS {						\
	.ctx = NULL, .enqueue = stub_enqueue, .submit = stub_submit,	\
	.completed = stub_completed,					\
	.completed_status = stub_completed_status,			\
	.burst_capacity = stub_burst_capacity,				\
}

struct usva_dma_fp_ops usva_dma_fp[USVA_DMA_MAX_DEVS] = {
	[0 ... USVA_DMA_MAX_DEVS - 1] = FP_STUBS,
};

static const struct usva_dma_fp_ops fp_stubs = FP_STUBS;

/* ---- device table -------------------------------------------------------- */

static pthread_mutex_t dma_lock = PTHREAD_MUTEX_INITIALIZER;
/* dma_lock for writers; lock-free readers acquire (see the top). */
static struct usva_dma_dev *devs[USVA_DMA_MAX_DEVS];

static const char *const status_names[] = {
	[USVA_DMA_STATUS_SUCCESS] = "SUCCESS",
	[USVA_DMA_STATUS_PAGE_FAULT] = "PAGE_FAULT",
	[USVA_DMA_STATUS_INVALID_OPCODE] = "INVALID_OPCODE",
	[USVA_DMA_STATUS_INVALID_LENGTH] = "INVALID_LENGTH",
	[USVA_DMA_STATUS_INVALID_OVERLAP] = "INVALID_OVERLAP",
	[USVA_DMA_STATUS_INVALID_FLAGS] = "INVALID_FLAGS",
	[USVA_DMA_STATUS_PASID_INVALID] = "PASID_INVALID",
	[USVA_DMA_STATUS_TRANSLATION_ERROR] = "TRANSLATION_ERROR",
	[USVA_DMA_STATUS_NOT_ATTEMPTED] = "NOT_ATTEMPTED",
};

const char *
usva_dma_status_str(uint16_t status)
{
	if (status >= RTE_DIM(status_names) || status_names[status] == NULL)
		return "UNKNOWN";
	return status_names[status];
}

struct usva_dma_dev *
usva_dma_dev_get(int16_t dev_id)
{
	if (dev_id < 0 || dev_id >= USVA_DMA_MAX_DEVS)
		return NULL;
	/* Acquire: pairs with the release in usva_dma_dev_register(). */
	return __atomic_load_n(&devs[dev_id], __ATOMIC_ACQUIRE);
}

/* The device of @p dev_id, dma_lock held; logs the cause for @p what. */
static struct usva_dma_dev *
dev_locked(int16_t dev_id, const char *what)
{
	struct usva_dma_dev *dev = NULL;

	if (dev_id >= 0 && dev_id < USVA_DMA_MAX_DEVS)
		dev = devs[dev_id];
	if (dev == NULL)
		USVA_LOG(ERR, dma, "%s: no device %d", what, dev_id);
	return dev;
}

static bool
pow2_u16(uint16_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int
tmpl_check(const struct usva_dma_dev *t)
{
	const struct usva_dma_dev_ops *o = t->ops;
	const char *bad = NULL;

	if (t->name[0] == '\0' ||
	    memchr(t->name, '\0', USVA_DMA_NAME_LEN) == NULL)
		bad = "name (empty or not terminated)";
	else if (o == NULL || o->info_get == NULL || o->configure == NULL ||
		 o->vchan_setup == NULL || o->start == NULL ||
		 o->stop == NULL || o->close == NULL ||
		 o->stats_get == NULL || o->dump == NULL)
		bad = "ops (missing an op)";
	else if (t->max_vchans == 0 || t->max_vchans > USVA_DMA_MAX_VCHANS)
		bad = "max_vchans";
	else if (!pow2_u16(t->min_desc) || !pow2_u16(t->max_desc) ||
		 t->min_desc > t->max_desc)
		bad = "min_desc/max_desc (powers of two, min <= max)";
	else if (t->max_len == 0)
		bad = "max_len";
	else if (!(t->capa & (USVA_DMA_CAPA_BLOCK_ON_FAULT |
			      USVA_DMA_CAPA_PARTIAL)))
		bad = "capa (no fault mode)";
	if (bad == NULL)
		return 0;
	USVA_LOG(ERR, dma, "usva_dma_dev_register: bad template field %s", bad);
	return -EINVAL;
}

/* dma_lock held. @return a free slot, -EEXIST or -ENOSPC. */
static int
slot_find(const char *name)
{
	int slot = -ENOSPC;

	for (int i = 0; i < USVA_DMA_MAX_DEVS; i++) {
		if (devs[i] == NULL) {
			if (slot < 0)
				slot = i;
		} else if (strcmp(devs[i]->name, name) == 0) {
			USVA_LOG(ERR, dma, "usva_dma_dev_register: name %s "
				 "taken", name);
			return -EEXIST;
		}
	}
	if (slot < 0)
		USVA_LOG(ERR, dma, "usva_dma_dev_register: %u devices already",
			 USVA_DMA_MAX_DEVS);
	return slot;
}

int
usva_dma_dev_register(const struct usva_dma_dev *tmpl, int16_t *dev_id)
{
	struct usva_dma_dev *dev;
	int slot, rc;

	if (tmpl == NULL || dev_id == NULL) {
		USVA_LOG(ERR, dma, "usva_dma_dev_register: NULL %s",
			 tmpl == NULL ? "template" : "dev_id");
		return -EINVAL;
	}
	rc = tmpl_check(tmpl);
	if (rc)
		return rc;
	dev = usva_zmalloc(sizeof(*dev));
	if (dev == NULL)
		return -ENOMEM;
	*dev = *tmpl;
	dev->nb_vchans = 0;
	dev->vchan_ready = 0;
	dev->started = false;
	pthread_mutex_lock(&dma_lock);
	slot = slot_find(tmpl->name);
	if (slot >= 0) {
		dev->dev_id = (int16_t)slot;
		usva_dma_fp[slot] = fp_stubs;
		/* Release: the device is filled before lock-free readers
		 * (usva_dma_dev_get) can see it. */
		__atomic_store_n(&devs[slot], dev, __ATOMIC_RELEASE);
		*dev_id = (int16_t)slot;
	}
	pthread_mutex_unlock(&dma_lock);
	if (slot < 0) {
		usva_free(dev);
		return slot;
	}
	USVA_LOG(DEBUG, dma, "device %s registered as %d", dev->name, slot);
	return 0;
}

/* ---- queries -------------------------------------------------------------- */

uint16_t
usva_dma_count(void)
{
	uint16_t n = 0;

	pthread_mutex_lock(&dma_lock);
	for (int i = 0; i < USVA_DMA_MAX_DEVS; i++)
		n += devs[i] != NULL;
	pthread_mutex_unlock(&dma_lock);
	return n;
}

int
usva_dma_get_dev_id_by_name(const char *name)
{
	int id = -ENODEV;

	if (name == NULL)
		return -ENODEV;
	pthread_mutex_lock(&dma_lock);
	for (int i = 0; i < USVA_DMA_MAX_DEVS; i++) {
		if (devs[i] != NULL &&
		    strncmp(devs[i]->name, name, USVA_DMA_NAME_LEN) == 0) {
			id = i;
			break;
		}
	}
	pthread_mutex_unlock(&dma_lock);
	return id;
}

bool
usva_dma_is_valid(int16_t dev_id)
{
	return usva_dma_dev_get(dev_id) != NULL;
}

int
usva_dma_info_get(int16_t dev_id, struct usva_dma_info *info)
{
	struct usva_dma_dev *dev;

	pthread_mutex_lock(&dma_lock);
	dev = dev_locked(dev_id, "usva_dma_info_get");
	if (dev == NULL || info == NULL) {
		pthread_mutex_unlock(&dma_lock);
		if (dev != NULL)
			USVA_LOG(ERR, dma, "usva_dma_info_get: NULL info");
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	info->capa = dev->capa;
	info->max_vchans = dev->max_vchans;
	info->min_desc = dev->min_desc;
	info->max_desc = dev->max_desc;
	info->max_len = dev->max_len;
	info->pasid_width = dev->pasid_width;
	dev->ops->info_get(dev, info);
	/* The library's, whatever the driver said. */
	memcpy(info->name, dev->name, sizeof(info->name));
	info->nb_vchans = dev->nb_vchans;
	info->reserved = 0;
	pthread_mutex_unlock(&dma_lock);
	return 0;
}

/* ---- configuration ---------------------------------------------------------- */

static int
conf_load(const struct usva_dma_dev *dev, const struct usva_dma_conf *uconf,
	  struct usva_dma_conf *c)
{
	int rc;

	if (uconf == NULL) {
		USVA_LOG(ERR, dma, "usva_dma_configure: NULL conf");
		return -EFAULT;
	}
	rc = USVA_CONFIG_LOAD(c, uconf, reserved1, reserved, 0);
	if (rc)
		return rc;
	if (c->reserved0 != 0 || c->reserved1 != 0) {
		USVA_LOG(ERR, dma, "usva_dma_configure: reserved0/1 not zero");
		return -EINVAL;
	}
	if (c->nb_vchans == 0 || c->nb_vchans > dev->max_vchans) {
		USVA_LOG(ERR, dma, "usva_dma_configure: nb_vchans %u not in "
			 "1..%u", c->nb_vchans, dev->max_vchans);
		return -EINVAL;
	}
	return 0;
}

/* dma_lock held. The device @p dev_id, stopped; else NULL and *@p rc. */
static struct usva_dma_dev *
dev_stopped(int16_t dev_id, const char *what, int *rc)
{
	struct usva_dma_dev *dev = dev_locked(dev_id, what);

	*rc = -EINVAL;
	if (dev != NULL && dev->started) {
		USVA_LOG(ERR, dma, "%s: device %s is started", what, dev->name);
		*rc = -EBUSY;
		return NULL;
	}
	return dev;
}

int
usva_dma_configure(int16_t dev_id, const struct usva_dma_conf *uconf)
{
	struct usva_dma_conf c;
	struct usva_dma_dev *dev;
	int rc;

	pthread_mutex_lock(&dma_lock);
	dev = dev_stopped(dev_id, "usva_dma_configure", &rc);
	if (dev == NULL)
		goto unlock;
	rc = conf_load(dev, uconf, &c);
	if (rc)
		goto unlock;
	/* The channels are about to go: nothing may reap them any more. */
	usva_dma_fp[dev_id] = fp_stubs;
	rc = dev->ops->configure(dev, c.nb_vchans);
	if (rc) {
		USVA_LOG(ERR, dma, "usva_dma_configure: device %s: %s",
			 dev->name, strerror(-rc));
		dev->nb_vchans = 0;
	} else {
		dev->nb_vchans = c.nb_vchans;
	}
	dev->vchan_ready = 0;
unlock:
	pthread_mutex_unlock(&dma_lock);
	return rc;
}

static int
vchan_conf_check(const struct usva_dma_dev *dev,
		 const struct usva_dma_vchan_conf *c)
{
	if (!pow2_u16(c->nb_desc) || c->nb_desc < dev->min_desc ||
	    c->nb_desc > dev->max_desc) {
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: nb_desc %u not a "
			 "power of two in %u..%u", c->nb_desc, dev->min_desc,
			 dev->max_desc);
		return -EINVAL;
	}
	if (c->fault_mode != USVA_DMA_FAULT_BLOCK &&
	    c->fault_mode != USVA_DMA_FAULT_PARTIAL) {
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: unknown fault_mode "
			 "%u", c->fault_mode);
		return -EINVAL;
	}
	if ((uint64_t)c->pasid >> dev->pasid_width != 0) {
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: PASID %u beyond the "
			 "device's %u bits", c->pasid, dev->pasid_width);
		return -EINVAL;
	}
	if (!(dev->capa & (c->fault_mode == USVA_DMA_FAULT_BLOCK ?
			   USVA_DMA_CAPA_BLOCK_ON_FAULT :
			   USVA_DMA_CAPA_PARTIAL))) {
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: device %s lacks "
			 "fault mode %s", dev->name,
			 c->fault_mode == USVA_DMA_FAULT_BLOCK ?
			 "BLOCK (no PRI)" : "PARTIAL");
		return -EOPNOTSUPP;
	}
	return 0;
}

int
usva_dma_vchan_setup(int16_t dev_id, uint16_t vchan,
		     const struct usva_dma_vchan_conf *uconf)
{
	struct usva_dma_vchan_conf c;
	struct usva_dma_dev *dev;
	int rc;

	pthread_mutex_lock(&dma_lock);
	dev = dev_stopped(dev_id, "usva_dma_vchan_setup", &rc);
	if (dev == NULL)
		goto unlock;
	rc = -EINVAL;
	if (vchan >= dev->nb_vchans) {
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: vchan %u of %u "
			 "configured", vchan, dev->nb_vchans);
		goto unlock;
	}
	if (uconf == NULL) {
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: NULL conf");
		rc = -EFAULT;
		goto unlock;
	}
	rc = USVA_CONFIG_LOAD(&c, uconf, pasid, reserved, 0);
	if (rc == 0)
		rc = vchan_conf_check(dev, &c);
	if (rc)
		goto unlock;
	usva_dma_fp[dev_id] = fp_stubs;
	dev->vchan_ready &= ~(1u << vchan);
	rc = dev->ops->vchan_setup(dev, vchan, &c);
	if (rc == 0)
		dev->vchan_ready |= 1u << vchan;
	else
		USVA_LOG(ERR, dma, "usva_dma_vchan_setup: device %s vchan %u: "
			 "%s", dev->name, vchan, strerror(-rc));
unlock:
	pthread_mutex_unlock(&dma_lock);
	return rc;
}

/* ---- start / stop / close ------------------------------------------------------ */

static int
start_check(const struct usva_dma_dev *dev)
{
	uint32_t all = (1u << dev->nb_vchans) - 1;

	if (dev->started) {
		USVA_LOG(ERR, dma, "usva_dma_start: device %s already started",
			 dev->name);
		return -EALREADY;
	}
	if (dev->nb_vchans == 0) {
		USVA_LOG(ERR, dma, "usva_dma_start: device %s not configured",
			 dev->name);
		return -EINVAL;
	}
	if ((dev->vchan_ready & all) != all) {
		USVA_LOG(ERR, dma, "usva_dma_start: device %s: vchan %u not "
			 "set up", dev->name,
			 rte_bsf32(~dev->vchan_ready & all));
		return -EINVAL;
	}
	return 0;
}

int
usva_dma_start(int16_t dev_id)
{
	struct usva_dma_fp_ops fp = fp_stubs;
	struct usva_dma_dev *dev;
	int rc = -EINVAL;

	pthread_mutex_lock(&dma_lock);
	dev = dev_locked(dev_id, "usva_dma_start");
	if (dev == NULL)
		goto unlock;
	rc = start_check(dev);
	if (rc)
		goto unlock;
	rc = dev->ops->start(dev, &fp);
	if (rc == 0 && (fp.enqueue == NULL || fp.submit == NULL ||
			fp.completed == NULL || fp.completed_status == NULL ||
			fp.burst_capacity == NULL)) {
		USVA_LOG(ERR, dma, "usva_dma_start: device %s left a fast-path "
			 "op NULL", dev->name);
		dev->ops->stop(dev);
		rc = -EINVAL;
	}
	if (rc) {
		USVA_LOG(ERR, dma, "usva_dma_start: device %s: %s", dev->name,
			 strerror(-rc));
		goto unlock;
	}
	/* The application orders its fast-path calls after this return. */
	usva_dma_fp[dev_id] = fp;
	dev->started = true;
unlock:
	pthread_mutex_unlock(&dma_lock);
	return rc;
}

int
usva_dma_stop(int16_t dev_id)
{
	struct usva_dma_fp_ops *fp;
	struct usva_dma_dev *dev;
	int rc = -EINVAL;

	pthread_mutex_lock(&dma_lock);
	dev = dev_locked(dev_id, "usva_dma_stop");
	if (dev == NULL)
		goto unlock;
	if (!dev->started) {
		rc = -EALREADY;
		goto unlock;
	}
	fp = &usva_dma_fp[dev_id];
	/* No new work from here; the completions stay reapable. */
	fp->enqueue = stub_enqueue;
	fp->submit = stub_submit;
	fp->burst_capacity = stub_burst_capacity;
	rc = dev->ops->stop(dev);
	if (rc)
		USVA_LOG(ERR, dma, "usva_dma_stop: device %s: %s", dev->name,
			 strerror(-rc));
	dev->started = false;
	rc = 0;
unlock:
	pthread_mutex_unlock(&dma_lock);
	return rc;
}

int
usva_dma_close(int16_t dev_id)
{
	struct usva_dma_dev *dev;
	int rc;

	pthread_mutex_lock(&dma_lock);
	dev = dev_stopped(dev_id, "usva_dma_close", &rc);
	if (dev == NULL) {
		pthread_mutex_unlock(&dma_lock);
		return rc;
	}
	usva_dma_fp[dev_id] = fp_stubs;
	/* Relaxed: lock-free readers must not use a device they close. */
	__atomic_store_n(&devs[dev_id], NULL, __ATOMIC_RELAXED);
	dev->ops->close(dev);
	pthread_mutex_unlock(&dma_lock);
	usva_free(dev);
	return 0;
}

/* ---- stats, dump ------------------------------------------------------------------ */

static void
stats_add(struct usva_dma_stats *sum, const struct usva_dma_stats *s)
{
	sum->submitted += s->submitted;
	sum->completed += s->completed;
	sum->errors += s->errors;
	sum->page_requests += s->page_requests;
	sum->fault_retries += s->fault_retries;
	sum->page_faults += s->page_faults;
	sum->bytes += s->bytes;
}

/* dma_lock held. */
static int
stats_all(struct usva_dma_dev *dev, struct usva_dma_stats *st)
{
	struct usva_dma_stats one;
	int rc;

	for (uint16_t v = 0; v < dev->nb_vchans; v++) {
		if (!(dev->vchan_ready & (1u << v)))
			continue;
		memset(&one, 0, sizeof(one));
		rc = dev->ops->stats_get(dev, v, &one);
		if (rc)
			return rc;
		stats_add(st, &one);
	}
	return 0;
}

int
usva_dma_stats_get(int16_t dev_id, uint16_t vchan, struct usva_dma_stats *st)
{
	struct usva_dma_dev *dev;
	int rc = -EINVAL;

	pthread_mutex_lock(&dma_lock);
	dev = dev_locked(dev_id, "usva_dma_stats_get");
	if (dev == NULL)
		goto unlock;
	if (st == NULL) {
		USVA_LOG(ERR, dma, "usva_dma_stats_get: NULL stats");
		goto unlock;
	}
	memset(st, 0, sizeof(*st));
	if (vchan == USVA_DMA_ALL_VCHAN) {
		rc = stats_all(dev, st);
	} else if (vchan >= dev->nb_vchans ||
		   !(dev->vchan_ready & (1u << vchan))) {
		USVA_LOG(ERR, dma, "usva_dma_stats_get: device %s vchan %u not "
			 "set up", dev->name, vchan);
	} else {
		rc = dev->ops->stats_get(dev, vchan, st);
	}
unlock:
	pthread_mutex_unlock(&dma_lock);
	return rc;
}

int
usva_dma_dump(int16_t dev_id, FILE *f)
{
	struct usva_dma_dev *dev;

	pthread_mutex_lock(&dma_lock);
	dev = dev_locked(dev_id, "usva_dma_dump");
	if (dev == NULL || f == NULL) {
		pthread_mutex_unlock(&dma_lock);
		return -EINVAL;
	}
	fprintf(f, "dma device %d %s: %s, %u/%u vchans (ready 0x%x), "
		"desc %u..%u, max_len %" PRIu64 ", PASID bits %u, capa 0x%"
		PRIx64 "\n", dev->dev_id, dev->name,
		dev->started ? "started" : "stopped", dev->nb_vchans,
		dev->max_vchans, dev->vchan_ready, dev->min_desc,
		dev->max_desc, dev->max_len, dev->pasid_width, dev->capa);
	dev->ops->dump(dev, f);
	pthread_mutex_unlock(&dma_lock);
	return 0;
}

/* ---- partial-completion fix-up ------------------------------------------------------ */

/* The pattern of an operation that starts @p skip bytes into @p p's. */
static uint64_t
pattern_skip(uint64_t p, uint64_t skip)
{
	unsigned int s = (unsigned int)(skip & 7) * 8;

	/* Little-endian: byte k of the pattern is (p >> 8k) & 0xff. */
	return s == 0 ? p : (p >> s) | (p << (64 - s));
}

static int
resubmit_check(const struct usva_dma_op *op, const struct usva_dma_cpl *cpl)
{
	if (op == NULL || cpl == NULL) {
		USVA_LOG(ERR, dma, "usva_dma_resubmit_fault: NULL %s",
			 op == NULL ? "op" : "cpl");
		return -EINVAL;
	}
	if (cpl->status != USVA_DMA_STATUS_PAGE_FAULT ||
	    cpl->opcode != op->opcode) {
		USVA_LOG(ERR, dma, "usva_dma_resubmit_fault: completion is %s "
			 "of opcode %u, not a PAGE_FAULT of opcode %u",
			 usva_dma_status_str(cpl->status), cpl->opcode,
			 op->opcode);
		return -EINVAL;
	}
	if (cpl->bytes >= op->len) {
		USVA_LOG(ERR, dma, "usva_dma_resubmit_fault: %" PRIu64 " bytes "
			 "done of %" PRIu64, cpl->bytes, op->len);
		return -EINVAL;
	}
	return 0;
}

/* The rest of @p op after the @p cpl->bytes it did. */
static void
remainder_build(const struct usva_dma_op *op, const struct usva_dma_cpl *cpl,
		struct usva_dma_op *rem)
{
	uint64_t b = cpl->bytes;

	*rem = *op;
	rem->flags |= USVA_DMA_OP_F_FENCE;
	rem->len = op->len - b;
	if (op->opcode == USVA_DMA_OP_MEMMOVE && cpl->result == 1)
		return;		/* moved backwards: the head remains */
	rem->src = op->src + b;
	rem->dst = op->dst + b;
	if (op->opcode == USVA_DMA_OP_FILL ||
	    op->opcode == USVA_DMA_OP_COMPARE_PATTERN)
		rem->pattern = pattern_skip(op->pattern, b);
	else if (op->opcode == USVA_DMA_OP_CRC32C)
		rem->pattern = (uint32_t)cpl->result;
}

int
usva_dma_resubmit_fault(int16_t dev_id, uint16_t vchan,
			struct usva_dma_op *op, const struct usva_dma_cpl *cpl)
{
	struct usva_dma_dev *dev = usva_dma_dev_get(dev_id);
	struct usva_dma_op pre, rem;
	int rc;

	if (dev == NULL || vchan >= dev->nb_vchans) {
		USVA_LOG(ERR, dma, "usva_dma_resubmit_fault: no device %d "
			 "vchan %u", dev_id, vchan);
		return -EINVAL;
	}
	rc = resubmit_check(op, cpl);
	if (rc)
		return rc;
	/* Both or neither: one thread per channel, so room seen stays. */
	if (usva_dma_burst_capacity(dev_id, vchan) < 2)
		return -ENOSPC;
	memset(&pre, 0, sizeof(pre));
	pre.opcode = USVA_DMA_OP_PREFETCH;
	pre.flags = op->flags & USVA_DMA_OP_F_PASID;
	if (cpl->flags & USVA_DMA_CPL_F_FAULT_WRITE)
		pre.flags |= USVA_DMA_OP_F_WRITE_FETCH;
	pre.pasid = op->pasid;
	pre.src = cpl->fault_addr & ~(PAGE_SIZE_4K - 1);
	pre.len = PAGE_SIZE_4K;
	remainder_build(op, cpl, &rem);
	rc = usva_dma_enqueue(dev_id, vchan, &pre);
	if (rc < 0)
		return rc;
	rc = usva_dma_enqueue(dev_id, vchan, &rem);
	if (rc >= 0)
		*op = rem;
	return rc;
}
