/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-ondemand-paging: the workload.
 *
 * Layout. Everything derives from --seed through one generator
 * (splitmix64), so a run can be repeated exactly. Operations land in
 * op-size slots inside 2 MiB extents of the space: the layout first picks
 * distinct random extents, about twice as many as the slots would fill,
 * then distinct random slots inside them. The space stays sparse
 * (a 4 GiB space and a few thousand operations touch well under 1% of
 * it) and the mirror pager, which populates and maps stage 2 one 2 MiB
 * chunk at a time, costs a bounded number of chunks.
 *
 * Every eighth operation of the main phase is a fill; the rest copy. What
 * a copy's source holds depends on the pager: anon sources are filled by
 * the device in a first phase (but one in eight is left alone, so its
 * copy moves zero-filled pages), mirror sources are written by the CPU,
 * file sources are the data file's bytes.
 *
 * Running. The main lcore enqueues while the ring has room, rings the
 * doorbell, and reaps completions in ring order. In partial mode an
 * operation that meets a fault ends PAGE_FAULT with the bytes it did;
 * usva_dma_resubmit_fault() queues a PREFETCH of the faulting page and,
 * fenced behind it, the rest of the operation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>

#include "usva_emu.h"
#include "usva_emu_dma.h"
#include "usva_fault.h"
#include "odp.h"

#define REAP_BURST	64
#define STALL_NS	(UINT64_C(10) * 1000000000)
#define PROGRESS_NS	(UINT64_C(200) * 1000000)	/* tty refresh */

/* ---- generator and patterns ---------------------------------------------- */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* splitmix64 */
static uint64_t
rnd(uint64_t *state)
{
	*state += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(*state);
}

/* What the CPU writes at offset @p off (8-aligned) of a mirror source. */
uint64_t
proc_word(uint64_t seed, uint64_t off)
{
	return mix64(seed ^ (off * UINT64_C(0x9e3779b97f4a7c15)));
}

/* What a made data file holds at offset @p off (8-aligned). */
static uint64_t
file_word(uint64_t off)
{
	return mix64(UINT64_C(0xf11e) + off);
}

/* @p len bytes of the 8-byte @p pattern repeated (little-endian). */
static void
pattern_bytes(uint8_t *buf, uint64_t len, uint64_t pattern)
{
	for (uint64_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(pattern >> (8 * (i % 8)));
}

/* ---- layout -------------------------------------------------------------- */

/* @p k distinct random values below @p n (k <= n), by rejection. */
static int
pick_distinct(uint64_t *state, uint64_t n, uint64_t k, uint64_t *out)
{
	uint64_t *seen = calloc((n + 63) / 64, sizeof(uint64_t));

	if (seen == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t v;

		do {
			v = rnd(state) % n;
		} while (seen[v / 64] & (UINT64_C(1) << (v % 64)));
		seen[v / 64] |= UINT64_C(1) << (v % 64);
		out[i] = v;
	}
	free(seen);
	return 0;
}

/* @p k distinct slot addresses in [lo, hi), extents first (see above). */
static int
area_slots(struct odp *d, uint64_t *state, uint64_t lo, uint64_t hi,
	   uint64_t k, uint64_t *va)
{
	uint64_t spe = EXTENT / d->o.op_size;		/* slots per extent */
	uint64_t extents = (hi - lo) / EXTENT;
	uint64_t want = RTE_MAX((k * 2 + spe - 1) / spe, UINT64_C(1));
	uint64_t ne = RTE_MIN(want, extents), *ext, *slot;
	int rc = -ENOMEM;

	if (k == 0)
		return 0;
	if (ne * spe < k) {
		odp_fail("%" PRIu64 " slots of %" PRIu64 " bytes do not fit in "
			 "%" PRIu64 " bytes of space: fewer --ops, or a larger "
			 "--va-size%s", k, d->o.op_size, hi - lo,
			 d->o.pager == PAGER_FILE ? " or data file" : "");
		return -ENOSPC;
	}
	ext = malloc(ne * sizeof(*ext));
	slot = malloc(k * sizeof(*slot));
	if (ext != NULL && slot != NULL &&
	    pick_distinct(state, extents, ne, ext) == 0 &&
	    pick_distinct(state, ne * spe, k, slot) == 0) {
		for (uint64_t i = 0; i < k; i++)
			va[i] = lo + ext[slot[i] / spe] * EXTENT +
				(slot[i] % spe) * d->o.op_size;
		d->extents += ne;
		rc = 0;
	}
	free(ext);
	free(slot);
	if (rc)
		odp_fail("layout: %s", strerror(-rc));
	return rc;
}

/* Sources and destinations: one draw when they share the space. */
static int
draw_slots(struct odp *d, uint64_t *state, uint64_t ncopy, uint64_t *src,
	   uint64_t *dst)
{
	uint64_t n = d->main.n, *all;
	int rc;

	if (d->src_lo != d->dst_lo) {
		rc = area_slots(d, state, d->src_lo, d->src_hi, ncopy, src);
		if (rc == 0)
			rc = area_slots(d, state, d->dst_lo, d->dst_hi, n, dst);
		return rc;
	}
	all = malloc((n + ncopy) * sizeof(*all));
	if (all == NULL)
		return -ENOMEM;
	rc = area_slots(d, state, d->dst_lo, d->dst_hi, n + ncopy, all);
	if (rc == 0) {
		memcpy(dst, all, n * sizeof(*all));
		memcpy(src, all + n, ncopy * sizeof(*all));
	}
	free(all);
	return rc;
}

static enum src_kind
src_kind_of(const struct odp *d, uint64_t copy_idx)
{
	switch (d->o.pager) {
	case PAGER_MIRROR:
		return SRC_PROCESS;
	case PAGER_FILE:
		return SRC_FILE;
	default:
		return copy_idx % 8 == 0 ? SRC_ZERO : SRC_FILLED;
	}
}

/* The operations of both phases from the drawn slots. */
static void
make_ops(struct odp *d, uint64_t *state, const uint64_t *src,
	 const uint64_t *dst)
{
	uint64_t c = 0;

	for (uint64_t i = 0; i < d->main.n; i++) {
		struct odp_op *op = &d->main.ops[i];

		op->dst = dst[i];
		op->pattern = rnd(state);
		if (i % 8 == 7) {
			op->opcode = USVA_DMA_OP_FILL;
			op->src_kind = SRC_NONE;
			continue;
		}
		op->opcode = USVA_DMA_OP_COPY;
		op->src = src[c];
		op->src_kind = src_kind_of(d, c++);
		if (op->src_kind == SRC_FILLED)
			d->prep.ops[d->prep.n++] = (struct odp_op){
				.opcode = USVA_DMA_OP_FILL, .dst = op->src,
				.pattern = op->pattern, .src_kind = SRC_NONE,
			};
	}
}

int
odp_layout(struct odp *d)
{
	uint64_t state = d->o.seed, n = d->o.ops, ncopy = n - n / 8;
	uint64_t *src = malloc((ncopy + 1) * sizeof(*src));
	uint64_t *dst = malloc(n * sizeof(*dst));
	int rc = -ENOMEM;

	d->main = (struct odp_phase){ .name = "main",
				      .ops = calloc(n, sizeof(struct odp_op)),
				      .n = n };
	d->prep = (struct odp_phase){ .name = "prepare",
				      .ops = calloc(ncopy + 1,
						    sizeof(struct odp_op)) };
	if (src != NULL && dst != NULL && d->main.ops != NULL &&
	    d->prep.ops != NULL) {
		rc = draw_slots(d, &state, ncopy, src, dst);
		if (rc == 0)
			make_ops(d, &state, src, dst);
	} else {
		odp_fail("layout: %s", strerror(ENOMEM));
	}
	free(src);
	free(dst);
	return rc;
}

void
odp_free_workload(struct odp *d)
{
	free(d->main.ops);
	free(d->prep.ops);
	d->main.ops = d->prep.ops = NULL;
}

/* Mirror: the application writes its data, in its own memory. */
void
odp_fill_process(struct odp *d)
{
	for (uint64_t i = 0; i < d->main.n; i++) {
		const struct odp_op *op = &d->main.ops[i];
		uint64_t *p = (uint64_t *)(uintptr_t)op->src;

		if (op->src_kind != SRC_PROCESS)
			continue;
		for (uint64_t off = 0; off < d->o.op_size; off += 8)
			p[off / 8] = proc_word(d->o.seed, op->src - d->base + off);
	}
}

/* Write a data file of @p size bytes (file_word()). */
int
odp_write_file(int fd, uint64_t size)
{
	uint64_t *chunk = malloc(EXTENT);

	if (chunk == NULL)
		return -ENOMEM;
	for (uint64_t off = 0; off < size; off += EXTENT) {
		uint64_t len = RTE_MIN(EXTENT, size - off);

		for (uint64_t i = 0; i < len / 8; i++)
			chunk[i] = file_word(off + i * 8);
		if (pwrite(fd, chunk, len, (off_t)off) != (ssize_t)len) {
			odp_fail("writing the data file: %s", strerror(errno));
			free(chunk);
			return -EIO;
		}
	}
	free(chunk);
	return 0;
}

/* ---- running ------------------------------------------------------------- */

static struct odp_slot *
slot_of(struct odp *d, uint16_t ring_idx)
{
	return &d->slots[ring_idx & (d->nb_desc - 1)];
}

static void
to_dma_op(const struct odp_op *o, uint64_t len, struct usva_dma_op *op)
{
	*op = (struct usva_dma_op){
		.opcode = o->opcode, .src = o->src, .dst = o->dst, .len = len,
		.pattern = o->pattern,
	};
}

/* Enqueue what the ring (and in partial mode the fix-up reserve) allows. */
static int
enqueue_some(struct odp *d, const struct odp_phase *ph, uint64_t *next)
{
	/* Partial mode keeps room for fix-ups: each adds an entry (a
	 * PREFETCH and the rest in, the faulted operation out), so fresh
	 * operations take at most a quarter of the ring. */
	uint64_t limit = d->o.partial ? d->nb_desc / 4 : d->nb_desc;
	bool any = false;

	while (*next < ph->n && d->inflight < limit) {
		struct usva_dma_op op;
		int rc;

		to_dma_op(&ph->ops[*next], d->o.op_size, &op);
		rc = usva_dma_enqueue(d->dma, 0, &op);
		if (rc == -ENOSPC)
			break;
		if (odp_failed(rc, "enqueue"))
			return rc;
		*slot_of(d, (uint16_t)rc) = (struct odp_slot){ .op = op,
							       .id = *next };
		d->inflight++;
		(*next)++;
		any = true;
	}
	if (any)
		usva_dma_submit(d->dma, 0);
	return 0;
}

static int
op_failed(struct odp *d, const struct odp_phase *ph,
	  const struct usva_dma_cpl *cpl)
{
	const struct odp_slot *s = slot_of(d, cpl->ring_idx);

	odp_fail("%s operation %" PRIu64 " (%s of 0x%" PRIx64 " bytes to 0x%"
		 PRIx64 ") ended %s after %" PRIu64 " bytes, fault address 0x%"
		 PRIx64, ph->name, s->id, s->prefetch ? "prefetch" :
		 s->op.opcode == USVA_DMA_OP_FILL ? "fill" : "copy",
		 s->op.len, s->prefetch ? s->op.src : s->op.dst,
		 usva_dma_status_str(cpl->status), cpl->bytes, cpl->fault_addr);
	return -EIO;
}

/* Block mode: every completion is a success until one is not. */
static int
reap_block(struct odp *d, const struct odp_phase *ph, uint64_t *done)
{
	struct usva_dma_cpl cpl;
	uint16_t last, n;
	bool err = false;

	n = usva_dma_completed(d->dma, 0, REAP_BURST, &last, &err);
	d->inflight -= n;
	*done += n;
	if (!err)
		return 0;
	if (usva_dma_completed_status(d->dma, 0, 1, &last, &cpl) != 1) {
		odp_fail("an operation failed; its status could not be read");
		return -EIO;
	}
	return op_failed(d, ph, &cpl);
}

/*
 * Partial mode: resubmit what is left of an operation that met a fault.
 * The call makes s.op the remainder it enqueued (advanced by the bytes
 * done, fenced), which is recorded at its ring index, so that a second
 * fault in it is fixed up the same way.
 */
static int
fixup(struct odp *d, const struct odp_phase *ph, const struct usva_dma_cpl *cpl)
{
	struct odp_slot s = *slot_of(d, cpl->ring_idx);
	int rc = usva_dma_resubmit_fault(d->dma, 0, &s.op, cpl);

	if (rc < 0) {
		odp_fail("%s operation %" PRIu64 ": resubmitting after a fault "
			 "at 0x%" PRIx64 ": %s", ph->name, s.id, cpl->fault_addr,
			 strerror(-rc));
		return rc;
	}
	*slot_of(d, (uint16_t)(rc - 1)) = (struct odp_slot){
		.op = { .opcode = USVA_DMA_OP_PREFETCH, .src = cpl->fault_addr,
			.len = 1 },
		.id = s.id, .prefetch = true,
	};
	*slot_of(d, (uint16_t)rc) = s;
	d->inflight += 2;
	d->fixups++;
	return 0;
}

static int
reap_partial(struct odp *d, const struct odp_phase *ph, uint64_t *done)
{
	struct usva_dma_cpl cpl[REAP_BURST];
	uint16_t last, n;
	bool resubmitted = false;
	int rc;

	n = usva_dma_completed_status(d->dma, 0, REAP_BURST, &last, cpl);
	for (uint16_t i = 0; i < n; i++) {
		const struct odp_slot *s = slot_of(d, cpl[i].ring_idx);

		d->inflight--;
		if (cpl[i].status == USVA_DMA_STATUS_SUCCESS) {
			*done += !s->prefetch;
			continue;
		}
		if (cpl[i].status != USVA_DMA_STATUS_PAGE_FAULT || s->prefetch)
			return op_failed(d, ph, &cpl[i]);
		if ((rc = fixup(d, ph, &cpl[i])) != 0)
			return rc;
		resubmitted = true;
	}
	if (resubmitted)
		usva_dma_submit(d->dma, 0);
	return 0;
}

static void
progress(struct odp *d, const struct odp_phase *ph, uint64_t done, bool last)
{
	static uint64_t t_last;
	static unsigned int pct_last;
	bool tty = isatty(STDOUT_FILENO);
	uint64_t now = odp_now_ns(), all = d->done_total + done;
	unsigned int pct = (unsigned int)(all * 100 / d->ops_total);
	struct usva_fault_stats st;

	if (d->o.quiet || (last && !tty))
		return;
	/* A tty gets one line rewritten; a log a line per quarter. */
	if (!last && (tty ? now - t_last < PROGRESS_NS :
			    pct / 25 == pct_last / 25))
		return;
	t_last = now;
	pct_last = pct;
	usva_fault_stats(d->svc, -1, &st);
	printf("%s  %-7s %3u%%  %" PRIu64 "/%" PRIu64 " operations, %" PRIu64
	       " faults served%s", tty ? "\r" : "", ph->name, pct, all,
	       d->ops_total, st.requests, !tty ? "\n" : last ? "\033[K\n" :
	       "\033[K");
	fflush(stdout);
}

/* Stop waiting when nothing moved for a long time, and say what is stuck. */
static int
stalled(struct odp *d, const struct odp_phase *ph)
{
	odp_fail("%s phase stalled: %" PRIu64 " operations outstanding, %u "
		 "parked on a fault, nothing completed for %" PRIu64 " s",
		 ph->name, d->inflight, usva_emu_dma_parked(d->dma),
		 STALL_NS / 1000000000);
	usva_dma_dump(d->dma, stderr);
	usva_fault_dump(d->svc, stderr);
	return -ETIMEDOUT;
}

/* Run every operation of @p ph to completion. */
int
odp_run_phase(struct odp *d, const struct odp_phase *ph)
{
	uint64_t next = 0, done = 0, seen = 0, t_moved = odp_now_ns();
	int rc;

	if (ph->n == 0)
		return 0;
	while (done < ph->n) {
		odp_services_iter(d);
		if ((rc = enqueue_some(d, ph, &next)) != 0)
			return rc;
		rc = d->o.partial ? reap_partial(d, ph, &done) :
				    reap_block(d, ph, &done);
		if (rc)
			return rc;
		if (done != seen) {
			seen = done;
			t_moved = odp_now_ns();
			progress(d, ph, done, false);
		} else if (odp_now_ns() - t_moved > STALL_NS) {
			return stalled(d, ph);
		}
	}
	d->done_total += done;
	if (ph == &d->main)
		progress(d, ph, 0, true);
	return 0;
}

/* ---- the byte check ------------------------------------------------------ */

/* What @p op's destination must hold. */
static int
expected(const struct odp *d, const struct odp_op *op, uint8_t *buf)
{
	uint64_t len = d->o.op_size;
	ssize_t n;

	switch (op->src_kind) {
	case SRC_NONE:
	case SRC_FILLED:
		pattern_bytes(buf, len, op->pattern);
		return 0;
	case SRC_ZERO:
		memset(buf, 0, len);
		return 0;
	case SRC_PROCESS:
		for (uint64_t off = 0; off < len; off += 8) {
			uint64_t w = proc_word(d->o.seed, op->src - d->base + off);

			memcpy(buf + off, &w, 8);
		}
		return 0;
	default:
		/* The file's bytes, read apart from the pager; zero past
		 * the end of the file, as the pager maps it. */
		memset(buf, 0, len);
		n = pread(d->fd, buf, len, (off_t)(op->src - d->src_lo));
		if (n < 0) {
			odp_fail("reading the data file: %s", strerror(errno));
			return -errno;
		}
		return 0;
	}
}

/* What @p op's destination holds: the process's view for mirror, the
 * device's (a DMA read through the IOMMU) otherwise. */
static int
actual(const struct odp *d, const struct odp_op *op, uint8_t *buf)
{
	struct usva_emu_dma_fault f;
	int64_t n;

	if (d->o.pager == PAGER_MIRROR) {
		memcpy(buf, (const void *)(uintptr_t)op->dst, d->o.op_size);
		return 0;
	}
	n = usva_emu_dma_read(d->dev, d->pasid, op->dst, buf, d->o.op_size, &f);
	if (n == (int64_t)d->o.op_size)
		return 0;
	odp_fail("reading back 0x%" PRIx64 ": the device's read stopped at 0x%"
		 PRIx64 " (fault reason %u)", op->dst, f.addr, f.reason);
	return -EIO;
}

static int
check_op(struct odp *d, uint64_t i, uint8_t *want, uint8_t *got)
{
	const struct odp_op *op = &d->main.ops[i];
	int rc;

	if ((rc = expected(d, op, want)) != 0 || (rc = actual(d, op, got)) != 0)
		return rc;
	for (uint64_t k = 0; k < d->o.op_size; k++) {
		if (got[k] == want[k])
			continue;
		odp_fail("operation %" PRIu64 " (%s): byte at 0x%" PRIx64
			 " is 0x%02x, expected 0x%02x", i,
			 op->opcode == USVA_DMA_OP_FILL ? "fill" : "copy",
			 op->dst + k, got[k], want[k]);
		return -EIO;
	}
	d->checked_bytes += d->o.op_size;
	return 0;
}

/* Every byte of every destination. */
int
odp_check(struct odp *d)
{
	uint8_t *want = malloc(d->o.op_size), *got = malloc(d->o.op_size);
	int rc = 0;

	if (want == NULL || got == NULL) {
		odp_fail("byte check: %s", strerror(ENOMEM));
		rc = -ENOMEM;
	}
	for (uint64_t i = 0; rc == 0 && i < d->main.n; i++)
		rc = check_op(d, i, want, got);
	free(want);
	free(got);
	return rc;
}
