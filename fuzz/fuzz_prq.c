/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_prq: page requests, their groups and their responses, end to end:
 * the emu device raises arbitrary request streams (usva_emu_page_request),
 * a fault service polled from this thread resolves them through a
 * callback pager that does what the input says, and the devices take
 * their responses (usva_emu_dev_responses). A model of the outstanding
 * groups, kept here, checks every step.
 *
 * Set-up (once): an emu instance (vtd, a 16-entry page-request queue so
 * that it overflows), three devices: dev0 PRI with 8 credits, dev1 PRI and
 * ATS with 32, dev2 without PRI; PASIDs p0 and p1 with an address space
 * and a domain each, attached at (dev0, p0), (dev1, p0) and (dev0, p1);
 * p2 allocated, never attached.
 *
 * Per input: a fault service (service-core mode, never started: polled
 * here) with 1 or 2 slots and the input's max_groups, burst and response
 * batch; handlers for the pairs the input picks; then commands until the
 * input ends; then the settlement: pending pages completed, PRI enabled,
 * every open group closed by a LAST request (or its PASID detached when
 * the device has no credit left to send it), the service polled and the
 * responses taken until the model has nothing outstanding. The service is
 * destroyed, detached PASIDs re-attached and pages the pager mapped
 * unmapped: the next input starts from the same state.
 *
 * Input: u8 svc (bit 0: two slots; bits 1-3: max_groups = 1 << n; bits
 * 4-5: prefetch pages), u8 burst, u8 resp_batch, u8 handlers (bits 0-2),
 * then commands { u8 op; operands } (see pq_run()).
 *
 * Invariants: every request's return code is one the model allows (and
 * exactly the predicted one where it is determined: bad arguments, no PRI,
 * PRI disabled, no credit); every response names a group that was closed
 * (its LAST accepted) or one the IOMMU answers without its LAST (PASID
 * detached, PRI disabled by a FAILURE response), and only once; the
 * response echoes the group's private data; after the settlement nothing
 * is outstanding: usva_emu_outstanding_groups() is 0 and every credit was
 * given back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>

#include "usva_as.h"
#include "usva_emu.h"
#include "usva_fault.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "usva_pasid.h"
#include "fuzz_harness.h"

#define NDEV		3
#define NPAIR		3
#define MAXG		64
#define MAXTOK		64
#define MAXBEH		64
#define WIN_BASE	UINT64_C(0x100000000)	/* requests' address window */
#define OA_BASE		UINT64_C(0x200000000)	/* what the pager maps to */

/* A page request group as the model knows it. */
struct pq_grp {
	uint32_t pasid, grpid, nreq;
	uint32_t cookie;	/* of its LAST request */
	bool has_priv;
	uint64_t priv[2];
};

struct pq_dev {
	struct usva_iommu_dev *dev;
	uint32_t id;
	uint32_t cap;		/* pri_capacity; 0: no PRI */
	/* model */
	struct pq_grp open[MAXG];	/* no LAST yet */
	unsigned int nopen;
	struct pq_grp closed[MAXG];	/* answered or to be, not taken */
	unsigned int nclosed;
	uint32_t credits;
	uint32_t cookie;	/* the IOMMU's last request cookie */
	bool pri_on;
};

/* (device, PASID) pairs that are attached and may have a handler. */
static const struct { unsigned int d, p; } pairs[NPAIR] = {
	{ 0, 0 }, { 1, 0 }, { 0, 1 },
};

static struct {
	struct usva_iommu *iommu;
	uint16_t iommu_id;
	struct pq_dev d[NDEV];
	struct usva_pasid_owner *owner;
	uint32_t pasid[3];
	struct usva_as *as[2];
	struct usva_domain *dom[2];
	bool attached[NPAIR];
	/* per input */
	struct usva_fault_service *svc;
	unsigned int nslots;
	struct usva_pager *pager;
	struct usva_fault_handler *h[NPAIR];
	uint32_t prefetch;
	/* the pager's script and its pending pages */
	uint8_t beh[MAXBEH];
	unsigned int beh_head, beh_n;
	struct usva_fault_token tok[MAXTOK];
	unsigned int ntok;
	uint64_t seq;
	bool mapped[2];	/* the pager mapped something in as[i] */
} pq;

/* ---- the pager ---------------------------------------------------------- */

/* Behaviour of the next fault: the oldest byte REQ commands queued. */
static int
pq_pager_cb(void *arg, struct usva_as *as, uint64_t addr, uint32_t perm,
	    struct usva_fault_token tok)
{
	uint8_t b = 0;

	(void)arg;
	(void)perm;
	if (pq.beh_n > 0) {
		b = pq.beh[pq.beh_head];
		pq.beh_head = (pq.beh_head + 1) % MAXBEH;
		pq.beh_n--;
	}
	switch (b & 3) {
	case 1:
		return -EFAULT;
	case 2:
		if (pq.ntok == MAXTOK)
			return USVA_PAGER_DONE;
		pq.tok[pq.ntok++] = tok;
		return USVA_PAGER_PENDING;
	case 3:
		/* Map it (a later request finds it present). */
		if (addr - WIN_BASE < (UINT64_C(1) << 28)) {
			usva_as_map(as, addr, OA_BASE + (addr - WIN_BASE), 4096,
				    USVA_PROT_READ | USVA_PROT_WRITE |
				    USVA_PROT_USER, 0);
			pq.mapped[as == pq.as[1]] = true;
		}
		return USVA_PAGER_DONE;
	default:
		return USVA_PAGER_DONE;
	}
}

/* ---- set-up --------------------------------------------------------------- */

static void
pq_teardown(void)
{
	for (unsigned int i = 0; i < NPAIR; i++)
		if (pq.attached[i])
			usva_iommu_detach(pq.d[pairs[i].d].dev,
					  pq.pasid[pairs[i].p]);
	for (unsigned int i = 0; i < NDEV; i++)
		usva_iommu_dev_close(pq.d[i].dev);
	for (unsigned int i = 0; i < 2; i++) {
		usva_domain_destroy(pq.dom[i]);
		usva_as_destroy(pq.as[i]);
	}
	usva_pager_destroy(pq.pager);
	if (pq.owner != NULL) {
		for (unsigned int i = 0; i < 3; i++)
			if (pq.pasid[i] != 0)
				usva_pasid_free(pq.owner, pq.pasid[i]);
		usva_pasid_owner_destroy(pq.owner);
	}
	usva_iommu_close(pq.iommu);
	memset(&pq, 0, sizeof(pq));
}

static int
pq_setup(void)
{
	static const uint32_t flags[NDEV] = {
		USVA_DEV_F_PRI, USVA_DEV_F_PRI | USVA_DEV_F_ATS, USVA_DEV_F_ATS,
	};
	static const uint32_t caps[NDEV] = { 8, 32, 0 };
	struct usva_iommu_config ic = {
		.size = sizeof(ic), .backend = "emu",
		.params = "flavour=vtd,prq_depth=16,event_depth=64",
	};
	struct usva_as_config ac = {
		.size = sizeof(ac), .format = USVA_PGFMT_X86_FS, .va_bits = 48,
	};
	int rc;

	memset(&pq, 0, sizeof(pq));
	rc = usva_iommu_open(&ic, &pq.iommu);
	if (rc)
		goto err;
	pq.iommu_id = usva_iommu_id(pq.iommu);
	for (unsigned int i = 0; i < NDEV; i++) {
		struct usva_dev_config dc = {
			.size = sizeof(dc), .flags = flags[i],
			.name = "fuzz-prq", .pasid_width = 20,
			.pri_capacity = caps[i],
		};
		struct usva_dev_info info = { .size = sizeof(info) };

		rc = usva_iommu_dev_open(pq.iommu, &dc, &pq.d[i].dev);
		if (rc == 0)
			rc = usva_iommu_dev_info(pq.d[i].dev, &info);
		if (rc)
			goto err;
		pq.d[i].id = info.id;
		pq.d[i].cap = (info.flags & USVA_DEV_F_PRI) ?
			      info.pri_capacity : 0;
		pq.d[i].pri_on = pq.d[i].cap != 0;
	}
	rc = usva_pasid_owner_create(usva_iommu_pasids(pq.iommu), 0, &pq.owner);
	for (unsigned int i = 0; i < 3 && rc == 0; i++)
		rc = usva_pasid_alloc(pq.owner, &pq.pasid[i]);
	for (unsigned int i = 0; i < 2 && rc == 0; i++) {
		struct usva_domain_config dc = { .size = sizeof(dc) };

		rc = usva_as_create(&ac, &pq.as[i]);
		dc.as = pq.as[i];
		if (rc == 0)
			rc = usva_domain_create(pq.iommu, &dc, &pq.dom[i]);
	}
	for (unsigned int i = 0; i < NPAIR && rc == 0; i++) {
		rc = usva_iommu_attach(pq.d[pairs[i].d].dev, pq.pasid[pairs[i].p],
				       pq.dom[pairs[i].p]);
		pq.attached[i] = rc == 0;
	}
	if (rc == 0)
		rc = usva_pager_callback_create(pq_pager_cb, NULL, &pq.pager);
	if (rc == 0)
		return 0;
err:
	pq_teardown();
	return rc;
}

/* ---- the model ------------------------------------------------------------- */

static struct pq_grp *
grp_in(struct pq_grp *g, unsigned int n, uint32_t pasid, uint32_t grpid)
{
	for (unsigned int i = 0; i < n; i++)
		if (g[i].pasid == pasid && g[i].grpid == grpid)
			return &g[i];
	return NULL;
}

static void
grp_del(struct pq_grp *g, unsigned int *n, struct pq_grp *x)
{
	/* Keep the order: closed groups are matched oldest first. */
	memmove(x, x + 1, (size_t)((g + *n) - (x + 1)) * sizeof(*x));
	(*n)--;
}

/* Open groups of @p d (of @p pasid, or all) are answered by the IOMMU. */
static int
open_to_closed(struct pq_dev *d, bool all, uint32_t pasid)
{
	for (unsigned int i = 0; i < d->nopen;) {
		if (!all && d->open[i].pasid != pasid) {
			i++;
			continue;
		}
		FZ_CHECK(d->nclosed < MAXG, "model: too many closed groups");
		d->closed[d->nclosed++] = d->open[i];
		grp_del(d->open, &d->nopen, &d->open[i]);
	}
	return 0;
}

static bool
pasid_attached(unsigned int di, uint32_t pasid)
{
	for (unsigned int i = 0; i < NPAIR; i++)
		if (pairs[i].d == di && pq.pasid[pairs[i].p] == pasid)
			return pq.attached[i];
	return false;
}

/* Take up to @p n responses of device @p di and match them. */
static int
pq_collect(unsigned int di, unsigned int n)
{
	struct pq_dev *d = &pq.d[di];
	struct usva_emu_prg_resp r[16];
	int k;

	if (d->cap == 0)
		return 0;
	n = RTE_MIN(n, (unsigned int)RTE_DIM(r));
	k = usva_emu_dev_responses(d->dev, r, n);
	FZ_CHECK(k >= 0 && (unsigned int)k <= n, "dev %u: %d responses", di, k);
	for (int i = 0; i < k; i++) {
		struct pq_grp *g = grp_in(d->closed, d->nclosed, r[i].pasid,
					  r[i].grpid);

		if (fz_verbose)
			fprintf(stderr, "prq: dev %u response pasid %u grp %u "
				"code %u flags 0x%x\n", di, r[i].pasid,
				r[i].grpid, r[i].code, r[i].flags);
		FZ_CHECK(g != NULL, "dev %u: response to (pasid %u, group %u) "
			 "code %u: no such closed group (%s open)", di,
			 r[i].pasid, r[i].grpid, r[i].code,
			 grp_in(d->open, d->nopen, r[i].pasid, r[i].grpid) ?
			 "one" : "none");
		FZ_CHECK((r[i].flags & USVA_PREQ_F_PASID) &&
			 !!(r[i].flags & USVA_PREQ_F_PRIV_DATA) == g->has_priv,
			 "dev %u group (%u, %u): flags 0x%x, private data %d",
			 di, g->pasid, g->grpid, r[i].flags, g->has_priv);
		FZ_CHECK(g->has_priv ? (r[i].private_data[0] == g->priv[0] &&
					r[i].private_data[1] == g->priv[1]) :
			 (r[i].private_data[0] == 0 && r[i].private_data[1] == 0),
			 "dev %u group (%u, %u): private data 0x%" PRIx64
			 " 0x%" PRIx64 ", expected 0x%" PRIx64 " 0x%" PRIx64,
			 di, g->pasid, g->grpid, r[i].private_data[0],
			 r[i].private_data[1], g->priv[0], g->priv[1]);
		FZ_CHECK(r[i].code == USVA_PAGE_RESP_SUCCESS ||
			 r[i].code == USVA_PAGE_RESP_INVALID ||
			 r[i].code == USVA_PAGE_RESP_FAILURE,
			 "dev %u: response code %u", di, r[i].code);
		FZ_CHECK(d->credits >= g->nreq, "credits %u < %u", d->credits,
			 g->nreq);
		d->credits -= g->nreq;
		grp_del(d->closed, &d->nclosed, g);
	}
	return 0;
}

static int
pq_collect_all(void)
{
	for (unsigned int i = 0; i < NDEV; i++)
		for (int k = 0; k < 8; k++)
			FZ_TRY(pq_collect(i, 16));
	return 0;
}

/* PRI went off behind our back (a FAILURE response the IOMMU accepted):
 * every group of the device was answered then. */
static int
pq_pri_sync(void)
{
	for (unsigned int i = 0; i < NDEV; i++) {
		struct pq_dev *d = &pq.d[i];
		bool on = usva_emu_dev_pri_enabled(d->dev);

		if (d->pri_on && !on)
			FZ_TRY(open_to_closed(d, true, 0));
		FZ_CHECK(on || !d->pri_on || d->cap != 0, "PRI state");
		d->pri_on = on;
	}
	return 0;
}

static int
pq_poll(unsigned int slot)
{
	int rc = usva_fault_service_poll(pq.svc, slot % pq.nslots);

	FZ_CHECK(rc >= 0, "service poll: %d", rc);
	return pq_pri_sync();
}

/* ---- commands ------------------------------------------------------------------- */

static uint32_t
pick_pasid(uint8_t sel, struct fz *f)
{
	switch (sel % 8) {
	case 0: case 1: case 2: return pq.pasid[0];
	case 3: case 4: return pq.pasid[1];
	case 5: return pq.pasid[2];
	case 6: return sel & 0x80 ? 0 : 1u << 20;
	default: return fz_u32(f) & 0x1fffff;
	}
}

/* Raise one request; check the result against the model. */
static int
pq_request(unsigned int di, uint32_t pasid, uint64_t addr, uint32_t grpid,
	   uint16_t flags, uint16_t perm, uint64_t priv0, int *out_rc)
{
	struct pq_dev *d = &pq.d[di];
	struct usva_emu_prq_desc desc = {
		.addr = addr, .pasid = pasid, .grpid = grpid, .perm = perm,
		.flags = flags, .private_data = { priv0, ++pq.seq },
	};
	struct pq_grp *o, *c;
	bool bad, attached;
	int rc;

	bad = grpid >= 512 || (flags & ~(USVA_PREQ_F_LAST |
					 USVA_PREQ_F_PRIV_DATA)) ||
	      pasid == 0 || pasid >> 20;
	attached = pasid_attached(di, pasid);
	o = grp_in(d->open, d->nopen, pasid, grpid);
	c = grp_in(d->closed, d->nclosed, pasid, grpid);
	rc = usva_emu_page_request(d->dev, &desc);
	*out_rc = rc;
	if (fz_verbose)
		fprintf(stderr, "prq: dev %u req pasid %u grp %u flags 0x%x "
			"addr 0x%" PRIx64 ": %d (credits %u, open %u, "
			"closed %u)\n", di, pasid, grpid, flags, addr, rc,
			d->credits, d->nopen, d->nclosed);
	if (d->cap == 0) {
		FZ_CHECK(rc == -EPERM, "dev %u (no PRI): %d", di, rc);
		return 0;
	}
	if (bad) {
		FZ_CHECK(rc == -EINVAL, "dev %u pasid %u grp %u flags 0x%x: "
			 "%d, expected -EINVAL", di, pasid, grpid, flags, rc);
		return 0;
	}
	if (!attached) {
		FZ_CHECK(rc == -EINVAL || (rc == -EPERM && !d->pri_on),
			 "dev %u pasid %u (not attached): %d", di, pasid, rc);
		return 0;
	}
	if (!d->pri_on) {
		FZ_CHECK(rc == -EPERM, "dev %u (PRI off): %d", di, rc);
		return 0;
	}
	if (d->credits >= d->cap) {
		FZ_CHECK(rc == -EBUSY, "dev %u (%u credits of %u used): %d",
			 di, d->credits, d->cap, rc);
		return 0;
	}
	if (rc == -EINVAL) {
		/* A group index reused before its response was taken. */
		FZ_CHECK(o == NULL && c != NULL, "dev %u pasid %u grp %u: "
			 "-EINVAL, the model has %s", di, pasid, grpid,
			 o ? "it open" : "nothing outstanding");
		return 0;
	}
	FZ_CHECK(rc == 0 || rc == 1, "dev %u pasid %u grp %u: %d", di, pasid,
		 grpid, rc);
	if (o == NULL) {
		FZ_CHECK(d->nopen < MAXG, "model: too many open groups");
		o = &d->open[d->nopen++];
		memset(o, 0, sizeof(*o));
		o->pasid = pasid;
		o->grpid = grpid;
	}
	o->nreq++;
	d->credits++;
	/* The IOMMU tags every request it takes (rc 0 or 1) with the next
	 * cookie of the device; the group's response must carry its LAST's. */
	o->cookie = ++d->cookie;
	if (flags & USVA_PREQ_F_PRIV_DATA) {
		o->has_priv = true;
		o->priv[0] = desc.private_data[0];
		o->priv[1] = desc.private_data[1];
	}
	if (flags & USVA_PREQ_F_LAST) {
		FZ_CHECK(d->nclosed < MAXG, "model: too many closed groups");
		d->closed[d->nclosed++] = *o;
		grp_del(d->open, &d->nopen, o);
	}
	return 0;
}

static int
pq_handler(unsigned int i, bool on)
{
	const struct usva_fault_handler_config hc = {
		.size = sizeof(hc), .dev = pq.d[pairs[i].d].dev,
		.as = pq.as[pairs[i].p], .pager = pq.pager,
		.pasid = pq.pasid[pairs[i].p], .prefetch_pages = pq.prefetch,
	};
	int rc;

	if (!on) {
		usva_fault_unregister(pq.h[i]);
		pq.h[i] = NULL;
		return 0;
	}
	if (pq.h[i] != NULL)
		return 0;
	rc = usva_fault_register(pq.svc, &hc, &pq.h[i]);
	FZ_CHECK(rc == 0, "register handler %u: %d", i, rc);
	return 0;
}

static int
pq_attach(unsigned int i, bool on)
{
	struct pq_dev *d = &pq.d[pairs[i].d];
	uint32_t pasid = pq.pasid[pairs[i].p];
	int rc;

	if (on == pq.attached[i])
		return 0;
	if (on) {
		rc = usva_iommu_attach(d->dev, pasid, pq.dom[pairs[i].p]);
		FZ_CHECK(rc == 0, "attach pair %u: %d", i, rc);
	} else {
		rc = usva_iommu_detach(d->dev, pasid);
		FZ_CHECK(rc == 0, "detach pair %u: %d", i, rc);
		/* Every group of the PASID was answered INVALID. */
		FZ_TRY(open_to_closed(d, false, pasid));
	}
	pq.attached[i] = on;
	return 0;
}

static int
pq_complete(unsigned int k, int result)
{
	int rc;

	if (pq.ntok == 0)
		return 0;
	k %= pq.ntok;
	rc = usva_fault_complete(pq.tok[k], result);
	FZ_CHECK(rc == 0 || rc == -ESTALE || rc == -EAGAIN,
		 "complete: %d", rc);
	if (rc != -EAGAIN)
		pq.tok[k] = pq.tok[--pq.ntok];
	return 0;
}

/* A response software makes up: mostly dropped; one that matches answers
 * its group early (the service's is then dropped); FAILURE disables PRI. */
static int
pq_forge(struct fz *f)
{
	static const uint16_t codes[] = {
		USVA_PAGE_RESP_SUCCESS, USVA_PAGE_RESP_INVALID,
		USVA_PAGE_RESP_FAILURE, 7,
	};
	uint8_t ds = fz_u8(f), sel = fz_u8(f);
	struct pq_dev *d = &pq.d[ds % NDEV];
	struct usva_page_resp r = {
		.dev_id = ds < 0xf0 ? d->id : ds,
		.flags = USVA_PREQ_F_PASID,
	};
	uint16_t n;

	if (fz_verbose)
		fprintf(stderr, "prq: forge dev 0x%x sel 0x%x\n", ds, sel);
	if ((sel & 0x80) && d->nclosed > 0) {
		/* The one right answer to a closed group. */
		const struct pq_grp *g = &d->closed[sel % d->nclosed];

		r.pasid = g->pasid;
		r.grpid = g->grpid;
		r.cookie = g->cookie;
	} else {
		r.pasid = pick_pasid(sel, f);
		r.grpid = fz_u16(f) & 0x3ff;
		r.cookie = d->cookie - (fz_u8(f) & 15);
	}
	r.code = codes[fz_u8(f) & 3];
	n = usva_iommu_page_respond(pq.iommu_id, &r, 1);

	FZ_CHECK(n == 1, "page_respond consumed %u of 1", n);
	return pq_pri_sync();
}

static int
pq_pri_enable(unsigned int di)
{
	struct pq_dev *d = &pq.d[di];
	int rc;

	if (d->cap == 0 || d->pri_on)
		return 0;
	/* Everything answered when PRI went off is taken first: the model
	 * must not mistake those answers for answers to new groups. */
	for (int k = 0; k < 8; k++)
		FZ_TRY(pq_collect(di, 16));
	FZ_CHECK(d->nopen == 0 && d->nclosed == 0,
		 "dev %u: PRI off, %u open and %u closed groups not answered",
		 di, d->nopen, d->nclosed);
	rc = usva_emu_dev_pri_enable(d->dev);
	FZ_CHECK(rc == 0, "PRI enable: %d", rc);
	d->pri_on = true;
	return 0;
}

/* ---- settlement ------------------------------------------------------------------- */

static bool
model_idle(void)
{
	for (unsigned int i = 0; i < NDEV; i++)
		if (pq.d[i].nopen || pq.d[i].nclosed || pq.d[i].credits)
			return false;
	return true;
}

static int
pq_drive(unsigned int rounds)
{
	for (unsigned int r = 0; r < rounds; r++) {
		while (pq.ntok > 0)
			FZ_TRY(pq_complete(0, 0));
		for (unsigned int s = 0; s < pq.nslots; s++)
			FZ_TRY(pq_poll(s));
		FZ_TRY(pq_collect_all());
	}
	return 0;
}

static int
pq_settle(void)
{
	pq.beh_n = 0;		/* from now on the pager maps nothing */
	FZ_TRY(pq_drive(2));
	for (unsigned int i = 0; i < NDEV; i++)
		FZ_TRY(pq_pri_enable(i));
	/* Close every open group with a LAST request. */
	for (unsigned int i = 0; i < NDEV; i++) {
		struct pq_dev *d = &pq.d[i];

		while (d->nopen > 0) {
			struct pq_grp g = d->open[0];
			int rc = 0;

			for (int tries = 0; tries < 4; tries++) {
				FZ_TRY(pq_request(i, g.pasid, WIN_BASE, g.grpid,
						  USVA_PREQ_F_LAST,
						  USVA_ACCESS_READ, 0, &rc));
				if (rc != -EBUSY)
					break;
				FZ_TRY(pq_drive(2));
			}
			if (rc == -EBUSY || rc == -EPERM) {
				/* No credit for the LAST (the open groups hold
				 * them all), or PRI went off meanwhile: the
				 * detach answers the PASID's groups. */
				for (unsigned int p = 0; p < NPAIR; p++)
					if (pairs[p].d == i &&
					    pq.pasid[pairs[p].p] == g.pasid)
						FZ_TRY(pq_attach(p, false));
				FZ_TRY(pq_drive(1));
				FZ_TRY(pq_pri_enable(i));
			}
			FZ_CHECK(rc == 0 || rc == 1 || rc == -EBUSY ||
				 rc == -EPERM, "closing LAST: %d", rc);
		}
	}
	for (unsigned int r = 0; r < 64 && !model_idle(); r++)
		FZ_TRY(pq_drive(1));
	for (unsigned int i = 0; i < NDEV; i++) {
		struct pq_dev *d = &pq.d[i];

		FZ_CHECK(d->nopen == 0 && d->nclosed == 0 && d->credits == 0,
			 "dev %u after settling: %u open, %u closed groups "
			 "never answered, %u credits held", i, d->nopen,
			 d->nclosed, d->credits);
	}
	FZ_CHECK(usva_emu_outstanding_groups(pq.iommu) == 0,
		 "%u groups outstanding in the IOMMU",
		 usva_emu_outstanding_groups(pq.iommu));
	return 0;
}

/* ---- one input ------------------------------------------------------------------------ */

/*
 * Commands: u8 op; the low nibble says which, the high one (a) is an
 * argument:
 *   0-5, 14  REQ     u8 dev, u8 pasid (see pick_pasid()), u16 group (bit
 *                    15: index & 0x3ff, else & 7), u8 flags (bit 7: raw,
 *                    else & LAST|PRIV_DATA; bit 6: address not page
 *                    aligned), u16 page, u32 private data; perm = a; the
 *                    pager's answer to the next page it is asked = a & 3
 *                    (0 done, 1 error, 2 pending, 3 map it and done)
 *   6-8      POLL    service slot a
 *   9-10     COLLECT u8 dev: take up to 1 + a responses
 *   11       COMPLETE pending page a, with -EIO if a & 8 else success
 *   12       u8 x: x & 0x80: attach (x & 0x40: detach) pair x % 3; else
 *                  register (x & 0x40: unregister) its handler
 *   13       a & 8: FORGE u8 dev (>= 0xf0: that raw id), u8 sel: with
 *                  bit 7 the (PASID, group, cookie) of the device's
 *                  closed group sel % n, else pasid sel (pick_pasid()),
 *                  u16 group, u8 k (cookie: the device's last - k % 16);
 *                  then u8 code (& 3: SUCCESS, INVALID, FAILURE, 7);
 *                  else PRI_ENABLE dev a % 3
 *   15       nothing
 */
static int
pq_run(struct fz *f)
{
	while (fz_more(f)) {
		uint8_t op = fz_u8(f);
		unsigned int a = op >> 4;
		int rc;

		if (fz_verbose)
			fprintf(stderr, "prq: op 0x%02x (outstanding groups %u)\n",
				op, usva_emu_outstanding_groups(pq.iommu));

		switch (op & 15) {
		case 0: case 1: case 2: case 3: case 4: case 5: case 14: {
			unsigned int di = fz_u8(f) % NDEV;
			uint32_t pasid = pick_pasid(fz_u8(f), f);
			uint16_t g = fz_u16(f);
			uint8_t fl = fz_u8(f);
			uint16_t page = fz_u16(f);
			uint32_t grpid = (g & 0x8000) ? g & 0x3ff : g & 7;
			uint16_t flags = (fl & 0x80) ? fl : fl & 5;

			if (pq.beh_n < MAXBEH) {
				pq.beh[(pq.beh_head + pq.beh_n) % MAXBEH] = a;
				pq.beh_n++;
			}
			FZ_TRY(pq_request(di, pasid, WIN_BASE + page * UINT64_C(4096) +
					  (fl & 0x40 ? 0x123 : 0), grpid, flags,
					  a, fz_u32(f), &rc));
			break;
		}
		case 6: case 7: case 8:
			FZ_TRY(pq_poll(a));
			break;
		case 9: case 10:
			FZ_TRY(pq_collect(fz_u8(f) % NDEV, 1 + a));
			break;
		case 11:
			FZ_TRY(pq_complete(a & 7, (a & 8) ? -EIO : 0));
			break;
		case 12: {
			uint8_t x = fz_u8(f);

			if (x & 0x80)
				FZ_TRY(pq_attach(x % NPAIR, !(x & 0x40)));
			else
				FZ_TRY(pq_handler(x % NPAIR, !(x & 0x40)));
			break;
		}
		case 13:
			if (a & 8)
				FZ_TRY(pq_forge(f));
			else
				FZ_TRY(pq_pri_enable(a % NDEV));
			break;
		default:
			break;
		}
	}
	return 0;
}

static int
pq_one(const uint8_t *data, size_t size)
{
	struct usva_fault_config sc = {
		.size = sizeof(sc), .flags = USVA_FAULT_F_SERVICE_CORES,
	};
	uint8_t s0, s1, s2, s3;
	struct fz f;
	int rc, ret;

	fz_init(&f, data, size);
	s0 = fz_u8(&f);
	s1 = fz_u8(&f);
	s2 = fz_u8(&f);
	s3 = fz_u8(&f);
	sc.nr_lcores = (s0 & 1) ? 2 : 1;
	sc.max_groups = 1u << ((s0 >> 1) & 7);
	sc.burst = 1 + s1 % 32;
	sc.resp_batch = 1 + s2 % 32;
	pq.prefetch = (s0 >> 4) & 3;
	pq.nslots = sc.nr_lcores;
	pq.beh_head = pq.beh_n = 0;
	pq.ntok = 0;
	pq.seq = 0;
	rc = usva_fault_service_create(&sc, &pq.svc);
	FZ_CHECK(rc == 0, "service create: %d", rc);
	rc = usva_fault_service_add_iommu(pq.svc, pq.iommu);
	FZ_CHECK(rc == 0, "add iommu: %d", rc);
	for (unsigned int i = 0; i < NPAIR; i++)
		if (s3 & (1u << i))
			FZ_TRY(pq_handler(i, true));

	ret = pq_run(&f);
	if (ret == 0)
		ret = pq_settle();

	for (unsigned int i = 0; i < NPAIR; i++)
		pq_handler(i, false);
	usva_fault_service_destroy(pq.svc);
	pq.svc = NULL;
	pq.ntok = 0;
	for (unsigned int i = 0; i < NPAIR && ret == 0; i++)
		ret = pq_attach(i, true);
	for (unsigned int i = 0; i < 2; i++)
		if (pq.mapped[i]) {
			usva_as_unmap(pq.as[i], WIN_BASE, UINT64_C(1) << 28, NULL);
			pq.mapped[i] = false;
		}
	if (ret == 0) {
		/* Nothing the service destroy answered may be left. */
		FZ_TRY(pq_collect_all());
		FZ_CHECK(model_idle(), "responses after the settlement");
	}
	return ret;
}

const struct fz_harness fz_prq = {
	.name = "prq",
	.setup = pq_setup,
	.one = pq_one,
	.teardown = pq_teardown,
};
