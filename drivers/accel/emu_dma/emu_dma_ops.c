/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * emu-dma: executing the operations, chunk by chunk, through the emu IOMMU.
 *
 * A step runs one operation for at most EDMA_BUDGET bytes. Each chunk is
 * as long as the translations allow (usva_emu_translate's x.len: bytes
 * contiguous to the end of the leaf) and no longer than what remains. The
 * progress (bytes done, running CRC) stays in the job, so a step that
 * faults resumes where it stopped once the page is there.
 *
 * Host pointers come from the emu IOMMU and are the process's own pages
 * (the pagers map them at stage 2); the engine touches nothing else.
 *
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78, as iSCSI and
 * SSE4.2's crc32 instruction): the CRC of data d from seed s is
 * ~crc(~s, d), so seed 0 gives the standard CRC32C (of "123456789":
 * 0xE3069283), and the CRC of a || b is the CRC of b seeded with the CRC of
 * a, which the partial-completion fix-up relies on.
 */
#include <errno.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cpuflags.h>

#include "emu_dma_internal.h"
#include "usva_mem.h"

#if defined(RTE_ARCH_X86)
#include <x86intrin.h>
#endif

/* ---- CRC32C ------------------------------------------------------------------ */

#define CRC32C_POLY	UINT32_C(0x82F63B78)

static uint32_t crc_table[256];
static bool crc_hw;

RTE_INIT(edma_crc_init)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[i] = c;
	}
#if defined(RTE_ARCH_X86)
	crc_hw = rte_cpu_get_flag_enabled(RTE_CPUFLAG_SSE4_2) > 0;
#endif
}

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, uint64_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(RTE_ARCH_X86)
__attribute__((target("sse4.2")))
static uint32_t
crc_hw_x86(uint32_t crc, const uint8_t *p, uint64_t len)
{
	uint64_t c = crc, v;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
	}
	crc = (uint32_t)c;
	for (; len > 0; len--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}
#endif

/* The raw register update (no inversions): ~ on the way in and out is the
 * caller's. */
uint32_t
emu_dma_crc32c(uint32_t crc, const void *buf, uint64_t len)
{
#if defined(RTE_ARCH_X86)
	if (likely(crc_hw))
		return crc_hw_x86(crc, buf, len);
#endif
	return crc_sw(crc, buf, len);
}

/* ---- translation ------------------------------------------------------------ */

/* Translate for @p j; on failure record the fault, or end the data phase
 * with the error. @return 0, EDMA_STEP_FAULT or EDMA_STEP_END. */
static int
xl(struct emu_dma *ed, struct edma_job *j, uint64_t addr, uint32_t access,
   struct usva_emu_xlate *x)
{
	int rc = usva_emu_translate(ed->iodev, j->pasid, addr, access, x);

	if (likely(rc == 0))
		return 0;
	j->f_addr = addr;
	j->f_access = access;
	if (rc == -EFAULT)
		return EDMA_STEP_FAULT;
	j->cpl.fault_addr = addr;
	emu_dma_job_set_fault(j, x->reason == USVA_EMU_BAD_PASID ?
			      USVA_DMA_STATUS_PASID_INVALID :
			      USVA_DMA_STATUS_TRANSLATION_ERROR);
	return EDMA_STEP_END;
}

static inline uint64_t
min3(uint64_t a, uint64_t b, uint64_t c)
{
	return RTE_MIN(RTE_MIN(a, b), c);
}

/* Account @p n bytes done. */
static inline void
advance(struct edma_job *j, uint64_t n, uint64_t *budget)
{
	j->done += n;
	*budget -= RTE_MIN(*budget, n);
	edma_stat_add(&j->ch->st.bytes, n);
}

/* The pattern as seen from byte @p off of the operation, little-endian:
 * byte k of an operation is byte (k & 7) of the pattern. */
static inline uint64_t
pattern_at(uint64_t p, uint64_t off)
{
	unsigned int s = (unsigned int)(off & 7) * 8;

	return s == 0 ? p : (p >> s) | (p << (64 - s));
}

/* ---- device writes ------------------------------------------------------------ */

/*
 * A device's DMA writes do not allocate lines in a CPU core's private
 * caches: long writes are modelled with non-temporal stores, which also
 * spare the engine's core the read-for-ownership of every line of a page
 * it is about to overwrite whole. Short ones (under EDMA_NT_MIN) stay
 * ordinary stores, as a write that lands in the shared cache. Non-temporal
 * stores are weakly ordered: emu_dma_wmb() orders them before the
 * completion that reports them (the engine calls it before publishing).
 */
#define EDMA_NT_MIN	256u

#if defined(RTE_ARCH_X86)
/* Fill [d, d + n) with 16-byte @p v from 16-byte aligned d. */
static void
stream_fill(uint8_t *d, uint64_t n, __m128i v)
{
	for (uint64_t i = 0; i + 16 <= n; i += 16)
		_mm_stream_si128((__m128i *)(void *)(d + i), v);
}

/* Copy @p n (multiple of 16) bytes to 16-byte aligned @p d. */
static void
stream_copy(uint8_t *d, const uint8_t *s, uint64_t n)
{
	for (uint64_t i = 0; i < n; i += 16)
		_mm_stream_si128((__m128i *)(void *)(d + i),
				 _mm_loadu_si128((const __m128i *)(const void *)
						 (s + i)));
}
#endif

void
emu_dma_wmb(void)
{
#if defined(RTE_ARCH_X86)
	/* Store fence: the streamed data is globally visible before any
	 * later store (the completion, the record). */
	_mm_sfence();
#endif
}

/* Device write of a copy: @p d and @p s do not overlap. */
static void
dev_copy(uint8_t *d, const uint8_t *s, uint64_t n)
{
#if defined(RTE_ARCH_X86)
	if (n >= EDMA_NT_MIN) {
		uint64_t head = (16 - ((uintptr_t)d & 15)) & 15;
		uint64_t body = (n - head) & ~(uint64_t)15;

		memcpy(d, s, head);
		stream_copy(d + head, s + head, body);
		memcpy(d + head + body, s + head + body, n - head - body);
		return;
	}
#endif
	memcpy(d, s, n);
}

/*
 * Translate the next chunk of a two-address operation going forward: src
 * for reading, dst with @p dst_access. @return 0 and in *@p n the bytes
 * both translations and the budget allow; else the step code of xl().
 */
static int
xl_pair(struct emu_dma *ed, struct edma_job *j, uint32_t dst_access,
	struct usva_emu_xlate *xs, struct usva_emu_xlate *xd, uint64_t budget,
	uint64_t *n)
{
	int rc = xl(ed, j, j->src + j->done, USVA_ACCESS_READ, xs);

	if (rc == 0)
		rc = xl(ed, j, j->dst + j->done, dst_access, xd);
	if (rc == 0)
		*n = RTE_MIN(min3(j->len - j->done, xs->len, xd->len), budget);
	return rc;
}

/* ---- COPY, MEMMOVE ----------------------------------------------------------- */

static int
move_fwd(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	struct usva_emu_xlate xs, xd;
	uint64_t n;
	int rc;

	while (j->done < j->len && budget > 0) {
		rc = xl_pair(ed, j, USVA_ACCESS_WRITE, &xs, &xd, budget, &n);
		if (rc)
			return rc;
		if (j->opcode == USVA_DMA_OP_COPY)	/* checked: no overlap */
			dev_copy(xd.host, xs.host, n);
		else
			memmove(xd.host, xs.host, n);
		advance(j, n, &budget);
	}
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

/* Bytes from @p end_excl back to the start of its 4 KiB page (1..4096):
 * host memory is contiguous at least within a 4 KiB page. */
static inline uint64_t
page_back(uint64_t end_excl)
{
	return ((end_excl - 1) & (EDMA_PAGE_SIZE - 1)) + 1;
}

/* Overlap with dst above src: from the end backwards, a page at most per
 * chunk, so that no source byte is overwritten before it is read.
 * j->done counts bytes from the end. */
static int
move_back(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	struct usva_emu_xlate xs, xd;
	uint64_t rem, n;
	int rc;

	while (j->done < j->len && budget > 0) {
		rem = j->len - j->done;
		n = min3(rem, page_back(j->src + rem), page_back(j->dst + rem));
		n = RTE_MIN(n, budget);
		rc = xl(ed, j, j->src + rem - n, USVA_ACCESS_READ, &xs);
		if (rc == 0)
			rc = xl(ed, j, j->dst + rem - n, USVA_ACCESS_WRITE,
				&xd);
		if (rc)
			return rc;
		memmove(xd.host, xs.host, n);
		advance(j, n, &budget);
	}
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

/* ---- FILL -------------------------------------------------------------------- */

static void
fill_bytes(uint8_t *d, uint64_t n, uint64_t pat)
{
	uint64_t i = 0;

#if defined(RTE_ARCH_X86)
	if (n >= EDMA_NT_MIN) {
		uint64_t head = (16 - ((uintptr_t)d & 15)) & 15;
		uint64_t p = pattern_at(pat, head);

		for (; i < head; i++)
			d[i] = (uint8_t)(pat >> ((i & 7) * 8));
		stream_fill(d + head, n - head, _mm_set1_epi64x((long long)p));
		i = head + ((n - head) & ~(uint64_t)15);
	}
#endif
	for (; i + 8 <= n; i += 8)
		memcpy(d + i, &pat, 8);
	for (; i < n; i++)
		d[i] = (uint8_t)(pat >> ((i & 7) * 8));
}

static int
fill(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	struct usva_emu_xlate xd;
	uint64_t n;
	int rc;

	while (j->done < j->len && budget > 0) {
		rc = xl(ed, j, j->dst + j->done, USVA_ACCESS_WRITE, &xd);
		if (rc)
			return rc;
		n = min3(j->len - j->done, xd.len, budget);
		fill_bytes(xd.host, n, pattern_at(j->pattern, j->done));
		advance(j, n, &budget);
	}
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

/* ---- COMPARE, COMPARE_PATTERN ------------------------------------------------- */

/* Bytes of @p a equal to the pattern @p pat (as seen from a[0]). */
static uint64_t
same_pattern(const uint8_t *a, uint64_t n, uint64_t pat)
{
	uint64_t i = 0, v;

	for (; i + 8 <= n; i += 8) {
		memcpy(&v, a + i, 8);
		if (v != pat)
			break;
	}
	for (; i < n; i++)
		if (a[i] != (uint8_t)(pat >> ((i & 7) * 8)))
			break;
	return i;
}

/* A chunk compared: @p same of @p n equal. */
static int
compared(struct edma_job *j, uint64_t same, uint64_t n, uint64_t *budget)
{
	advance(j, same, budget);
	if (same == n)
		return EDMA_STEP_MORE;
	j->cpl.result = 1;	/* bytes: before the first difference */
	return EDMA_STEP_END;
}

static int
compare(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	struct usva_emu_xlate xa, xb;
	uint64_t n;
	int rc;

	while (j->done < j->len && budget > 0) {
		rc = xl_pair(ed, j, USVA_ACCESS_READ, &xa, &xb, budget, &n);
		if (rc)
			return rc;
		if (compared(j, usva_mem_same_prefix(xa.host, xb.host, n), n,
			     &budget))
			return EDMA_STEP_END;
	}
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

static int
compare_pattern(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	struct usva_emu_xlate xa;
	uint64_t n, same;
	int rc;

	while (j->done < j->len && budget > 0) {
		rc = xl(ed, j, j->src + j->done, USVA_ACCESS_READ, &xa);
		if (rc)
			return rc;
		n = min3(j->len - j->done, xa.len, budget);
		same = same_pattern(xa.host, n,
				    pattern_at(j->pattern, j->done));
		if (compared(j, same, n, &budget))
			return EDMA_STEP_END;
	}
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

/* ---- CRC32C, PREFETCH ---------------------------------------------------------- */

static int
crc32c(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	struct usva_emu_xlate xa;
	uint64_t n;
	int rc;

	while (j->done < j->len && budget > 0) {
		rc = xl(ed, j, j->src + j->done, USVA_ACCESS_READ, &xa);
		if (rc)
			return rc;
		n = min3(j->len - j->done, xa.len, budget);
		j->crc = emu_dma_crc32c(j->crc, xa.host, n);
		advance(j, n, &budget);
	}
	j->cpl.result = ~j->crc;
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

static int
prefetch(struct emu_dma *ed, struct edma_job *j, uint64_t budget)
{
	uint32_t acc = (j->flags & USVA_DMA_OP_F_WRITE_FETCH) ?
		       USVA_ACCESS_WRITE : USVA_ACCESS_READ;
	struct usva_emu_xlate x;
	int rc;

	while (j->done < j->len && budget >= EDMA_XLATE_COST) {
		rc = xl(ed, j, j->src + j->done, acc, &x);
		if (rc)
			return rc;
		j->done += RTE_MIN(j->len - j->done, x.len);
		budget -= EDMA_XLATE_COST;
	}
	return j->done == j->len ? EDMA_STEP_END : EDMA_STEP_MORE;
}

/*
 * Run @p j's data phase for one budget. @return EDMA_STEP_MORE,
 * EDMA_STEP_END (status and result in j->cpl; bytes are the caller's) or
 * EDMA_STEP_FAULT (j->f_addr, j->f_access).
 */
static int
op_step(struct emu_dma *ed, struct edma_job *j)
{
	switch (j->opcode) {
	case USVA_DMA_OP_COPY:
		return move_fwd(ed, j, EDMA_BUDGET);
	case USVA_DMA_OP_MEMMOVE:
		return j->backward ? move_back(ed, j, EDMA_BUDGET) :
				     move_fwd(ed, j, EDMA_BUDGET);
	case USVA_DMA_OP_FILL:
		return fill(ed, j, EDMA_BUDGET);
	case USVA_DMA_OP_COMPARE:
		return compare(ed, j, EDMA_BUDGET);
	case USVA_DMA_OP_COMPARE_PATTERN:
		return compare_pattern(ed, j, EDMA_BUDGET);
	case USVA_DMA_OP_CRC32C:
		return crc32c(ed, j, EDMA_BUDGET);
	case USVA_DMA_OP_PREFETCH:
		return prefetch(ed, j, EDMA_BUDGET);
	default:	/* NOP; opcodes were checked at fetch */
		return EDMA_STEP_END;
	}
}

/*
 * The copies run inside a DMA section of the emu IOMMU: the host pointers
 * the translations gave stay valid until it ends, as an invalidation or a
 * stage-2 unmap waits for the DMA in flight. Page requests are raised after
 * it (emu_dma_fault.c). Without an lcore id there is no section to open:
 * usva_emu_dma_poll() refuses such threads, and only a control call made
 * from one runs a step without it.
 */
int
emu_dma_op_step(struct emu_dma *ed, struct edma_job *j)
{
	bool in = usva_emu_dma_begin(ed->iodev) == 0;
	int rc = op_step(ed, j);

	/* The step's streamed writes are visible before the section ends
	 * (an unmap waiting for it may reuse the memory) and before the
	 * completion that reports them. */
	emu_dma_wmb();
	if (in)
		usva_emu_dma_end(ed->iodev);
	return rc;
}

/* ---- completion record ---------------------------------------------------------- */

/*
 * Write @p j's completion record by DMA with its PASID: the body, then the
 * status byte with USVA_DMA_CR_DONE. @return 0; EDMA_STEP_FAULT (recoverable,
 * j->f_addr set); -EIO (lost: translation error).
 */
static int
cr_write(struct emu_dma *ed, struct edma_job *j)
{
	struct usva_dma_cr cr;
	struct usva_emu_xlate x;
	uint8_t *host;
	int rc;

	RTE_BUILD_BUG_ON(sizeof(cr) != EDMA_CR_SIZE);
	rc = usva_emu_translate(ed->iodev, j->pasid, j->cr_addr,
				USVA_ACCESS_WRITE, &x);
	if (rc == -EFAULT) {
		j->f_addr = j->cr_addr;
		j->f_access = USVA_ACCESS_WRITE;
		return EDMA_STEP_FAULT;
	}
	if (rc != 0)
		return -EIO;
	memset(&cr, 0, sizeof(cr));
	cr.flags = (uint8_t)(j->cpl.flags & USVA_DMA_CPL_F_FAULT_WRITE);
	cr.bytes = j->cpl.bytes;
	cr.fault_addr = j->cpl.fault_addr;
	cr.result = j->cpl.result;
	/* 32-byte aligned: the record lies in one page, x.len >= 32. */
	host = x.host;
	memcpy(host + 1, (const uint8_t *)&cr + 1, sizeof(cr) - 1);
	/* Release: the body is visible before the status byte that says
	 * DONE; a reader's acquire load of the status pairs with it. */
	__atomic_store_n(host, (uint8_t)(USVA_DMA_CR_DONE | j->cpl.status),
			 __ATOMIC_RELEASE);
	return 0;
}

/* In a DMA section, as emu_dma_op_step(). */
int
emu_dma_cr_write(struct emu_dma *ed, struct edma_job *j)
{
	bool in = usva_emu_dma_begin(ed->iodev) == 0;
	int rc = cr_write(ed, j);

	if (in)
		usva_emu_dma_end(ed->iodev);
	return rc;
}
