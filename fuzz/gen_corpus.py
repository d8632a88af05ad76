#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the seed corpora of the fuzz harnesses: fuzz/corpus/<harness>/.

Each seed is a small meaningful input in the harness's format (described at
the top of fuzz/fuzz_<harness>.c): a valid page-table chain of each format
and page size, the classic malformed ones (loops, reserved bits, pointers
outside stage 2), page-request streams with groups, batches with every
granule, API command streams. The fuzzers start from them.

    python3 fuzz/gen_corpus.py            # rewrite every corpus
    python3 fuzz/gen_corpus.py walker     # one harness
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

AR, AW, AX, AP = 1, 2, 4, 8


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def u64(v):
    return struct.pack('<Q', v & 0xffffffffffffffff)


# ---- walker -----------------------------------------------------------------

def idx(va, level):
    return (va >> (12 + 9 * (level - 1))) & 511


def rec(page, slot, value, rel=False):
    return u8(page | (0x20 if rel else 0)) + u16(slot) + u64(value)


def ptr(t, low, high=0):
    """A relative pointer to harness page t (see page_iova()) with the
    given low and high attribute bits."""
    return (t << 12) | low | high


T_IOVA = 0x40000000
D_IOVA = T_IOVA + 0x200000


def page_iova(t):
    return T_IOVA + t * 4096 if t < 24 else D_IOVA + (t - 24) * 4096


def walker(cfg, xl, recs, vbits=0, root=0):
    out = u8(cfg) + u8(vbits) + u8(root) + u8(len(xl) - 1)
    for va, acc in xl:
        out += u64(va) + u8(acc)
    for r in recs:
        out += r
    return out


X86_TAB = 0x7           # P RW US
X86_LEAF = 0x7          # P RW US
X86_PS = 0x80
X86_A = 0x20
X86_XD = 1 << 63
ARM_TAB = 0x3
ARM_PAGE = 0x3 | (1 << 10) | (1 << 6)   # page, AF, EL0
ARM_BLOCK = 0x1 | (1 << 10) | (1 << 6)
ARM_RO = 1 << 7
ARM_UXN = 1 << 54
ARM_PXN = 1 << 53


def x86_chain(va, levels, leaf_level, leaf_t, leaf_bits=X86_LEAF, first=0):
    """Tables on pages first, first+1, ...; the leaf points at page
    leaf_t."""
    recs = []
    page = first
    for level in range(levels, leaf_level, -1):
        recs.append(rec(page, idx(va, level), ptr(page + 1, X86_TAB), True))
        page += 1
    lb = leaf_bits | (X86_PS if leaf_level > 1 else 0)
    recs.append(rec(page, idx(va, leaf_level), ptr(leaf_t, lb & 0xfff, lb & ~0xfff), True))
    return recs


def arm_chain(va, levels, leaf_level, leaf_t, leaf_bits=None, first=0):
    recs = []
    page = first
    for level in range(levels, leaf_level, -1):
        recs.append(rec(page, idx(va, level), ptr(page + 1, ARM_TAB), True))
        page += 1
    if leaf_bits is None:
        leaf_bits = ARM_PAGE if leaf_level == 1 else ARM_BLOCK
    recs.append(rec(page, idx(va, leaf_level),
                    ptr(leaf_t, leaf_bits & 0xfff, leaf_bits & ~0xfff), True))
    return recs


def seeds_walker():
    s = {}
    va = 0x00007f1234567000
    allacc = [(va, AR), (va + 0x10, AR | AW), (va + 0xff8, AX), (va, AR | AP),
              (va + 0x1000, AR), (va ^ (1 << 47), AR)]
    s['x86-4k'] = walker(0x00, allacc, x86_chain(va, 4, 1, 24))
    s['x86-4k-both-devs-dma'] = walker(0x18, allacc, x86_chain(va, 4, 1, 25))
    s['x86-4k-ro-nx'] = walker(0x00, allacc, x86_chain(va, 4, 1, 24, 0x5 | X86_XD))
    s['x86-4k-supervisor'] = walker(0x04, allacc, x86_chain(va, 4, 1, 24, 0x3))
    va2 = 0x0000001240000000 + 0x200000 * 3
    s['x86-2m'] = walker(0x08, [(va2, AR), (va2 + 0x1ff000, AW), (va2 + 0x123456, AR)],
                         x86_chain(va2, 4, 2, 24))
    s['x86-2m-rsvd'] = walker(0x00, [(va2, AR)],
                              x86_chain(va2, 4, 2, 24, X86_LEAF | (1 << 14)))
    va3 = 0x0000004000000000
    s['x86-1g-tables'] = walker(0x08, [(va3, AR), (va3 + 0x4000, AW),
                                       (va3 + 0x11000, AR), (va3 + 0x3ffff000, AR)],
                                x86_chain(va3, 4, 3, 0))
    va5 = 0x00ff123456789000
    s['x86-5level'] = walker(0x02, [(va5, AR), (va5, AW), (0xff00000000001000, AR)],
                             x86_chain(va5, 5, 1, 26))
    s['x86-noncanonical'] = walker(0x00, [(0x0000800000000000, AR),
                                          (0xffff800000000000, AR)], [])
    # A loop: every level's entry points at page 0 itself.
    vl = 0
    s['x86-loop'] = walker(0x08, [(vl, AR), (vl, AW)],
                           [rec(0, 0, ptr(0, X86_TAB), True)])
    s['x86-loop-ps'] = walker(0x08, [(0, AR)],
                              [rec(0, 0, ptr(0, X86_TAB | X86_PS), True)])
    # A table in a page read-only in stage 2: A set (fine) or not (S2).
    r = x86_chain(va, 4, 1, 24, first=14)
    s['x86-ro-table'] = walker(0x08, [(va, AR), (va, AW)], r, root=14)
    s['x86-hole'] = walker(0x00, [(va, AR)], [rec(0, idx(va, 4), ptr(20, X86_TAB), True)])
    s['x86-root-hole'] = walker(0x00, [(va, AR)], [], root=21)
    s['x86-root-data'] = walker(0x00, [(va, AR)], [], root=30)
    s['x86-ps-l4'] = walker(0x00, [(va, AR)], [rec(0, idx(va, 4), ptr(1, X86_TAB | X86_PS), True)])
    s['x86-raw-garbage'] = walker(0x0c, [(va, AR | AW | AX)],
                                  [rec(0, idx(va, 4), 0xfff0_0000_4000_1067),
                                   rec(1, idx(va, 3), 0x8000_0000_4000_2fff)])

    # ARM, 48 bits, 4 levels.
    va = 0x00007f1234567000
    acc = [(va, AR), (va, AW), (va, AX), (va, AX | AP), (va, AR | AP)]
    s['arm-4k'] = walker(0x01, acc, arm_chain(va, 4, 1, 24))
    s['arm-4k-ro-xn'] = walker(0x0d, acc, arm_chain(va, 4, 1, 24,
                                                    ARM_PAGE | ARM_RO | ARM_UXN))
    s['arm-4k-priv'] = walker(0x01, acc, arm_chain(va, 4, 1, 24,
                                                   (ARM_PAGE & ~(1 << 6)) | ARM_UXN))
    s['arm-4k-noaf'] = walker(0x09, acc, arm_chain(va, 4, 1, 24, ARM_PAGE & ~(1 << 10)))
    s['arm-block-at-l1'] = walker(0x01, acc, arm_chain(va, 4, 1, 24, ARM_BLOCK))
    s['arm-2m'] = walker(0x09, [(va2, AR), (va2 + 0x1ff000, AW)], arm_chain(va2, 4, 2, 24))
    s['arm-1g'] = walker(0x09, [(va3, AR), (va3 + 0x5000, AW)], arm_chain(va3, 4, 3, 0))
    s['arm-2m-misaligned'] = walker(0x01, [(va2, AR)],
                                    arm_chain(va2, 4, 2, 25))
    s['arm-table-res0'] = walker(0x01, [(va, AR)],
                                 [rec(0, idx(va, 4), page_iova(1) | ARM_TAB | (1 << 48))])
    s['arm-aptable'] = walker(
        0x19, acc,
        [rec(0, idx(va, 4), ptr(1, ARM_TAB, (1 << 62) | (1 << 61) | (1 << 59)), True)] +
        arm_chain(va, 3, 1, 24, first=1))
    # Narrower inputs: 39 bits (3 levels), 30 (2 levels), 25 (2 levels).
    v39 = 0x0000004512345000
    s['arm-39'] = walker(0x03, [(v39, AR), (v39, AW), (1 << 39, AR)],
                         arm_chain(v39, 3, 1, 24), vbits=39 - 25)
    v30 = 0x0000000023456000
    s['arm-30-2m'] = walker(0x0b, [(v30, AR), (1 << 30, AR)],
                            arm_chain(v30 & ~0x1fffff, 2, 2, 24), vbits=30 - 25)
    v40 = 0x000000f012345000
    s['arm-40'] = walker(0x03, [(v40, AR), (0x8000000000, AR)],
                         arm_chain(v40, 4, 1, 24), vbits=40 - 25)
    s['arm-loop'] = walker(0x09, [(0, AR)], [rec(0, 0, ptr(0, ARM_TAB), True)])
    s['arm-ro-table'] = walker(0x09, [(va, AR), (va, AW)],
                               arm_chain(va, 4, 1, 24, first=14), root=14)
    return s


# ---- prq --------------------------------------------------------------------

LAST, PRIV = 1, 4
P0, P1, P2, PZERO, PWIDE = 0, 3, 5, 0x86, 6


def pq_hdr(slots2=False, max_groups_log=3, prefetch=0, burst=32, batch=32,
           handlers=7):
    s0 = (1 if slots2 else 0) | (max_groups_log << 1) | (prefetch << 4)
    return u8(s0) + u8(burst - 1) + u8(batch - 1) + u8(handlers)


def REQ(dev, psel, grp, flags, page=0, priv=0, a=0, big=False):
    g = (grp | 0x8000) if big else grp
    return u8((a << 4) | 0) + u8(dev) + u8(psel) + u16(g) + u8(flags) + \
        u16(page) + u32(priv)


def POLL(slot=0):
    return u8((slot << 4) | 6)


def COLLECT(dev, n=16):
    return u8(((n - 1) << 4) | 9) + u8(dev)


def COMPLETE(k=0, err=False):
    return u8(((k | (8 if err else 0)) << 4) | 11)


def _x(pair, hi):
    for x in range(256):
        if x % 3 == pair and (x & 0xc0) == hi:
            return x
    raise ValueError


def ATTACH(pair, on=True):
    return u8(12) + u8(_x(pair, 0x80 | (0 if on else 0x40)))


def HANDLER(pair, on=True):
    return u8(12) + u8(_x(pair, 0 if on else 0x40))


def FORGE_CLOSED(dev, k, code):
    return u8((8 << 4) | 13) + u8(dev) + u8(0x80 | k) + u8(code)


def FORGE(dev, psel, grp, back, code):
    return u8((8 << 4) | 13) + u8(dev) + u8(psel) + u16(grp) + u8(back) + u8(code)


def PRIEN(dev):
    return u8((dev << 4) | 13)


def seeds_prq():
    s = {}
    s['solo'] = pq_hdr() + REQ(0, P0, 1, LAST | PRIV, 1, 0xabc) + POLL() + COLLECT(0)
    s['solo-2slots'] = pq_hdr(True) + b''.join(
        REQ(d, p, g, LAST | PRIV, 512 * g, g) for d, p, g in
        [(0, P0, 1), (1, P0, 2), (0, P1, 3), (1, P0, 4)]) + \
        POLL(0) + POLL(1) + POLL(0) + COLLECT(0) + COLLECT(1)
    s['group-of-3'] = pq_hdr(True) + REQ(0, P0, 2, 0, 1) + \
        REQ(0, P0, 2, PRIV, 600, 7) + REQ(0, P0, 2, LAST, 3) + \
        POLL(0) + POLL(1) + POLL(0) + COLLECT(0)
    s['pending'] = pq_hdr() + REQ(1, P0, 5, LAST, 9, a=2) + \
        REQ(1, P0, 6, 0, 10, a=2) + REQ(1, P0, 6, LAST, 11, a=2) + POLL() + \
        COLLECT(1) + COMPLETE(0) + POLL() + COMPLETE(0, True) + POLL() + \
        COMPLETE(0) + POLL() + COLLECT(1)
    s['prq-overflow'] = pq_hdr() + b''.join(
        REQ(1, P0, g, LAST, g, big=True) for g in range(20)) + POLL() + POLL() + COLLECT(1)
    s['credits'] = pq_hdr() + b''.join(REQ(0, P0, 3, 0, i) for i in range(9)) + \
        REQ(0, P0, 3, LAST) + POLL() + COLLECT(0)
    s['no-handler'] = pq_hdr(handlers=0) + REQ(0, P0, 1, LAST) + \
        REQ(0, P1, 2, 0) + REQ(0, P1, 2, LAST) + POLL() + COLLECT(0)
    s['detach-mid-group'] = pq_hdr() + REQ(0, P0, 4, PRIV, priv=1) + POLL() + \
        ATTACH(0, False) + COLLECT(0) + REQ(0, P0, 4, LAST) + ATTACH(0) + \
        REQ(0, P0, 4, LAST) + POLL() + COLLECT(0)
    s['unregister-pending'] = pq_hdr() + REQ(0, P0, 1, LAST, a=2) + \
        REQ(0, P0, 2, 0, a=2) + POLL() + HANDLER(0, False) + POLL() + \
        COLLECT(0) + COMPLETE(0) + HANDLER(0) + REQ(0, P0, 2, LAST) + POLL() + \
        COLLECT(0)
    s['forge-failure'] = pq_hdr() + REQ(0, P0, 1, LAST) + REQ(0, P0, 2, 0) + \
        REQ(0, P1, 3, LAST) + FORGE_CLOSED(0, 0, 2) + COLLECT(0) + \
        REQ(0, P0, 5, LAST) + PRIEN(0) + REQ(0, P0, 5, LAST) + POLL() + COLLECT(0)
    s['forge-early'] = pq_hdr() + REQ(1, P0, 1, LAST | PRIV, priv=3) + \
        FORGE_CLOSED(1, 0, 0) + POLL() + COLLECT(1) + \
        FORGE(1, P0, 1, 0, 1) + FORGE(0xf7, P0, 1, 0, 0) + FORGE(1, P0, 1, 0, 3)
    s['doomed'] = pq_hdr(max_groups_log=0) + REQ(0, P0, 1, 0) + \
        REQ(0, P0, 2, 0) + REQ(0, P0, 3, 0) + POLL() + REQ(0, P0, 2, LAST) + \
        REQ(0, P0, 1, LAST) + REQ(0, P0, 3, LAST) + POLL() + COLLECT(0)
    s['map-present'] = pq_hdr(prefetch=2) + REQ(1, P0, 1, LAST, 5, a=3) + \
        POLL() + REQ(1, P0, 2, LAST, 5, a=1) + REQ(1, P0, 3, LAST, 6, a=1) + \
        POLL() + COLLECT(1)
    s['bad-args'] = pq_hdr() + REQ(0, PZERO, 1, LAST) + REQ(0, PWIDE, 1, LAST) + \
        REQ(0, P2, 1, LAST) + REQ(2, P0, 1, LAST) + REQ(0, P0, 600, LAST, big=True) + \
        REQ(0, P0, 1, 0x82) + REQ(0, 7, 1, LAST) + u32(0x12345) + POLL() + COLLECT(0)
    s['reuse'] = pq_hdr() + REQ(0, P0, 1, LAST) + REQ(0, P0, 1, LAST) + POLL() + \
        REQ(0, P0, 1, LAST) + COLLECT(0) + REQ(0, P0, 1, LAST) + POLL() + COLLECT(0)
    return s


# ---- inval ------------------------------------------------------------------

G_ADDR, G_PASID, G_DOMAIN = 0, 1, 2
IOTLB, DEVTLB, PCACHE = 1, 2, 4
NONE = 7


def iv_hdr(no_coalesce=False, widen=0, w=0, cap=0, nth=0, einval=False):
    return u8((1 if no_coalesce else 0) | (widen << 1)) + u8(cap) + u8(w) + \
        u8(nth | (32 if einval else 0))


def ADD(g, caches, dev=NONE, dom=NONE, pasid=0, page=0, npages=1, leaf=False):
    return u8(0) + u8(g) + u8(caches | (8 if leaf else 0)) + \
        u8(dev | (dom << 3)) + u8(pasid) + u8(8 + page) + u8(npages - 1)


def ADD_RAW(g, caches, dev, dom, pasid, addr, npages):
    return u8(0) + u8(g) + u8(caches) + u8(dev | (dom << 3)) + u8(pasid) + \
        u8(0x80) + u64(addr) + u8(0x80) + u64(npages)


SUBMIT = u8(4)
RESET = u8(6 | 8)


def STATUS(first, n):
    return u8(5 | (first << 3)) + u8(n)


def FAILNTH(nth, einval=False):
    return u8(6 | (nth << 4) | (0x80 if einval else 0))


def DIRECT(k):
    return u8(7 | ((k - 1) << 3))


def seeds_inval():
    s = {}
    everything = ADD(G_ADDR, IOTLB | DEVTLB, 0, NONE, 0, 0, 32) + \
        ADD(G_ADDR, IOTLB, 1, NONE, 0, 0, 32) + \
        ADD(G_PASID, IOTLB | DEVTLB | PCACHE, 2, NONE, 1) + \
        ADD(G_DOMAIN, IOTLB, NONE, 1) + ADD(G_ADDR, DEVTLB, NONE, 1, 0, 0, 32)
    s['all-granules'] = iv_hdr() + everything + SUBMIT
    s['all-granules-nocoalesce'] = iv_hdr(True) + everything + SUBMIT
    s['fail-first'] = iv_hdr(nth=1) + everything + SUBMIT + STATUS(0, 5) + SUBMIT
    s['fail-third-nocoalesce'] = iv_hdr(True, nth=3, einval=True) + everything + \
        SUBMIT + STATUS(0, 5)
    s['merge-ranges'] = iv_hdr() + b''.join(
        ADD(G_ADDR, IOTLB | DEVTLB, 0, NONE, 0, p, 2) for p in (0, 2, 1, 5, 4, 30)) + \
        ADD(G_ADDR, IOTLB | DEVTLB, 0, NONE, 0, 7, 3, leaf=True) + SUBMIT
    s['widen'] = iv_hdr(widen=1, w=3) + ADD(G_ADDR, IOTLB, 1, NONE, 0, 0, 8) + \
        ADD(G_ADDR, IOTLB, 1, NONE, 0, 20, 8) + SUBMIT
    s['no-widen'] = iv_hdr(widen=2) + ADD(G_ADDR, IOTLB | DEVTLB, 2, NONE, 0, 0, 32) + SUBMIT
    s['domain-range-unattached'] = iv_hdr(True, nth=1) + \
        ADD(G_ADDR, IOTLB, 0, NONE, 0, 0, 4) + ADD(G_ADDR, IOTLB, NONE, 2, 0, 0, 4) + \
        ADD(G_DOMAIN, IOTLB, NONE, 2) + SUBMIT + STATUS(0, 3)
    s['capacity'] = iv_hdr(cap=2) + ADD(G_DOMAIN, IOTLB, NONE, 0) + \
        ADD(G_DOMAIN, IOTLB, NONE, 1) + ADD(G_DOMAIN, IOTLB, NONE, 0) + SUBMIT + \
        RESET + ADD(G_ADDR, IOTLB, 0, NONE, 0, 3, 1) + SUBMIT
    s['rejects'] = iv_hdr() + ADD(G_DOMAIN, DEVTLB, NONE, 0) + \
        ADD(G_DOMAIN, IOTLB, NONE, 3) + ADD(G_ADDR, PCACHE, 0, NONE, 0) + \
        ADD(G_ADDR, IOTLB, 1, NONE, 1) + ADD(G_ADDR, IOTLB, 0, 1, 0) + \
        ADD(G_PASID, IOTLB, 3, NONE, 0) + ADD(G_PASID, 0, 0, NONE, 0) + \
        ADD(3, IOTLB, 0, NONE, 0) + ADD(G_ADDR, IOTLB, 0, NONE, 2) + \
        ADD(G_PASID, IOTLB, NONE, 0, 0) + \
        ADD_RAW(G_ADDR, IOTLB, 0, NONE, 0, 0xfffffffffffff000, 2) + \
        ADD_RAW(G_ADDR, IOTLB, 0, NONE, 0, 0, 1 << 52) + \
        ADD_RAW(G_ADDR, IOTLB, 0, NONE, 0, 0x1000, 1 << 52) + \
        ADD_RAW(G_ADDR, IOTLB, 0, NONE, 0, 0x10, 1) + SUBMIT
    s['direct'] = iv_hdr(nth=2) + everything + DIRECT(5) + DIRECT(2) + SUBMIT
    s['refail'] = iv_hdr() + everything + FAILNTH(1) + SUBMIT + FAILNTH(2) + \
        SUBMIT + SUBMIT
    return s


# ---- api --------------------------------------------------------------------

PR, PW, PX, PU = 1, 2, 4, 8


def A(kind, idx=0, plus=0, minus=0, odd=False, raw=None):
    """An address: kind 0 page, 1 2 MiB, 2 1 GiB index in the window."""
    if raw is not None:
        return u8(3) + u16(0) + u64(raw)
    return u8(kind | (4 if plus else 0) | (8 if minus else 0) |
              (16 if odd else 0)) + u16(idx)


def L(kind, n=0, plus=0, minus=0, odd=False, raw=None):
    """A length: kind 0 1 + n pages, 1 (1 + n) * 2 MiB, 2 1 GiB."""
    if raw is not None:
        return u8(3) + u16(0) + u64(raw)
    return u8(kind | (4 if plus else 0) | (8 if minus else 0) |
              (16 if odd else 0)) + u16(n)


def MAP(va, ln, oa, prot=PR | PW | PU, flags=0, nth=0):
    return u8((nth << 4) | 0) + va + ln + oa + u8(prot) + u8(flags)


def UNMAP(va, ln, batched=False, nth=0):
    return u8(((8 if batched else 0) | nth) << 4 | 3) + va + ln


def PROTECT(va, ln, prot, batched=False, nth=0):
    return u8(((8 if batched else 0) | nth) << 4 | 5) + va + ln + u8(prot)


def ATT(dev, on=True):
    return u8(((dev | (0 if on else 2)) << 4) | 7)


def FAULT(dev, va, write=False):
    return u8(((dev | (2 if write else 0)) << 4) | 8) + va


SYNC = u8(10)


def EMUFAIL(nth):
    return u8((nth << 4) | 11)


def PROBE(va):
    return u8(12) + va


def seeds_api():
    s = {}
    for arm in (0, 1):
        t = 'arm' if arm else 'x86'
        s[t + '-pages'] = u8(arm) + MAP(A(0, 3), L(0, 7), A(0, 100)) + \
            PROBE(A(0, 5)) + UNMAP(A(0, 4), L(0, 1)) + PROTECT(A(0, 7), L(0, 2), PR) + \
            UNMAP(A(0, 0), L(0, 63))
        s[t + '-2m-split'] = u8(arm) + MAP(A(1, 1), L(1, 1), A(1, 3)) + \
            UNMAP(A(0, 700), L(0, 0)) + PROTECT(A(1, 1), L(0, 30), PR | PU) + \
            MAP(A(0, 700), L(0, 0), A(0, 5)) + UNMAP(A(1, 1), L(1, 1))
        s[t + '-1g'] = u8(arm) + MAP(A(2, 1), L(2), A(2, 1)) + PROBE(A(0, 4096 * 64)) + \
            PROTECT(A(1, 600), L(1, 0), PR | PW | PU | PX) + UNMAP(A(0, 262144 + 3), L(0, 0)) + \
            UNMAP(A(2, 1), L(2))
        s[t + '-faults'] = u8(arm) + FAULT(0, A(0, 9)) + FAULT(1, A(0, 9), True) + \
            PROTECT(A(0, 9), L(0, 0), PR | PU) + FAULT(0, A(0, 9), True) + \
            FAULT(1, A(0, 10), True) + UNMAP(A(0, 9), L(0, 1)) + FAULT(0, A(0, 9))
        s[t + '-detach'] = u8(arm) + MAP(A(0, 1), L(0, 3), A(0, 1)) + ATT(1, False) + \
            UNMAP(A(0, 2), L(0, 0)) + FAULT(1, A(0, 2)) + ATT(1) + MAP(A(0, 2), L(0, 0), A(0, 9)) + \
            ATT(0, False) + ATT(0)
        s[t + '-inval-fail'] = u8(arm) + MAP(A(0, 0), L(0, 15), A(0, 0)) + EMUFAIL(1) + \
            UNMAP(A(0, 4), L(0, 3)) + PROBE(A(0, 5)) + EMUFAIL(1) + SYNC + SYNC + \
            EMUFAIL(2) + PROTECT(A(0, 0), L(0, 1), PR) + SYNC + \
            EMUFAIL(1) + UNMAP(A(0, 10), L(0, 1), batched=True) + \
            EMUFAIL(1) + PROTECT(A(0, 12), L(0, 1), PR | PU, batched=True)
        s[t + '-nomem'] = u8(arm) + MAP(A(1, 5), L(0, 40), A(0, 0), nth=1) + \
            MAP(A(1, 5), L(0, 40), A(0, 0), nth=3) + MAP(A(1, 5), L(1, 1), A(1, 0)) + \
            UNMAP(A(0, 2560 + 7), L(0, 0), nth=1) + PROTECT(A(0, 2560 + 9), L(0, 0), PR, nth=1) + \
            UNMAP(A(0, 2560 + 7), L(0, 0), nth=2)
        s[t + '-rejects'] = u8(arm) + MAP(A(0, 1), L(0, 1), A(0, 1)) + \
            MAP(A(0, 2), L(0, 1), A(0, 50)) + PROTECT(A(0, 1), L(0, 5), PR) + \
            MAP(A(0, 1, odd=True), L(0, 1), A(0, 1)) + MAP(A(0, 9), L(0, 1, odd=True), A(0, 1)) + \
            MAP(A(0, 9), L(0, 1), A(0, 1, odd=True)) + MAP(A(0, 9), L(0, 1), A(0, 1), prot=PW) + \
            MAP(A(0, 9), L(0, 1), A(0, 1), prot=0x80 | 0x11) + MAP(A(0, 9), L(0, 1), A(0, 1), flags=0x84) + \
            MAP(A(0, 0, raw=0x0000800000000000), L(0, 0), A(0, 0)) + \
            MAP(A(0, 0, raw=0xffff800000000000), L(0, 0), A(0, 0)) + \
            MAP(A(0, 0, raw=0x0000fffffffff000), L(0, 1), A(0, 0)) + \
            MAP(A(0, 0, raw=0xfffffffffffff000), L(0, 1), A(0, 0)) + \
            MAP(A(0, 9), L(0, 0, raw=0), A(0, 0)) + \
            MAP(A(0, 9), L(0, 0), A(0, 0, raw=0xfffffffffffff000)) + \
            UNMAP(A(0, 0, raw=0x00007ffffffff000), L(0, 1)) + SYNC
        s[t + '-max4k'] = u8(arm) + MAP(A(1, 2), L(1, 0), A(1, 2), flags=1) + \
            MAP(A(2, 1), L(2), A(2, 0), flags=2) + PROBE(A(1, 513)) + \
            UNMAP(A(1, 2), L(1, 0)) + UNMAP(A(2, 1), L(2))
        s[t + '-sizes-4k'] = u8(arm | 2) + MAP(A(1, 2), L(1, 0), A(1, 2)) + PROBE(A(1, 2))
        s[t + '-sizes-2m'] = u8(arm | 4) + MAP(A(2, 1), L(2), A(2, 1)) + PROBE(A(2, 1))
    s['x86-oa-range'] = u8(0) + MAP(A(0, 9), L(0, 0), A(0, raw=0xfffffffffffff000)) + \
        MAP(A(0, 10), L(0, 0), A(0, raw=0x0010000000000000)) + \
        MAP(A(0, 11), L(0, 0), A(0, raw=0x000ffffffffff000)) + PROBE(A(0, 11))
    s['arm-oa-range'] = u8(1) + MAP(A(0, 9), L(0, 0), A(0, raw=1 << 48)) + \
        MAP(A(1, 1), L(1, 0), A(0, raw=(1 << 48) - 0x200000)) + \
        MAP(A(0, 12), L(0, 1), A(0, raw=(1 << 48) - 0x1000)) + PROBE(A(1, 1))
    s['x86-high-half'] = u8(0) + MAP(A(0, 0, raw=0xffff800000000000), L(0, 3), A(0, 0)) + \
        PROBE(A(0, 0, raw=0xffff800000001000)) + UNMAP(A(0, 0, raw=0xffff800000000000), L(0, 3))
    return s


# ---- main -------------------------------------------------------------------

GENERATORS = {
    'walker': seeds_walker,
    'prq': seeds_prq,
    'inval': seeds_inval,
    'api': seeds_api,
}


def main(argv):
    names = argv[1:] or sorted(GENERATORS)
    for name in names:
        d = os.path.join(HERE, 'corpus', name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        seeds = GENERATORS[name]()
        for sname, data in sorted(seeds.items()):
            with open(os.path.join(d, sname), 'wb') as fh:
                fh.write(data)
        print('%s: %d seeds in %s' % (name, len(seeds), os.path.relpath(d)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
