/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the ndb module (ndb_compile.c, ndb_ac.c, ndb_match.c): the
 * image layout, and hooks the unit tests use.
 *
 * Image, version 2 (2: the two-stage prefilter).  Little-endian, every
 * section 8-byte aligned, offsets from the image start.  A header of
 * NDB_HDR_SIZE bytes:
 *
 *   0  magic "AMPSNDB\x1a"      8  u32 version    12 u32 header size
 *  16  u64 image length        24  u32 nsigs     28 u32 nsubs
 *  32  u32 nparts              36  u32 nalts     40 u32 nnodes
 *  44  u32 ndense              48  u32 nedges    52 u32 nouts
 *  56  u32 filter bits (log2)  60  u32 max parts of one sub
 *  64  u64 bytes length        72  u64 section offsets, NDB_SEC_COUNT
 *
 * Sections (record layouts below):
 *   SIGS    nsigs u32: the caller's name_id of each signature
 *   SUBS    nsubs records: a signature, or one length variant of one
 *           (a signature whose alternatives differ in length becomes one
 *           sub per combination of lengths; each has its own anchor)
 *   PARTS   nparts records: the fixed-length pieces between jumps
 *   ALTS    nalts records: alternative groups inside parts
 *   BYTES   value and mask bytes of parts and alternatives
 *   FILTER  the prefilter, three bitsets: 2^bits bits over a hash of the
 *           3 bytes at a position (every anchor's first 3), 2^bits bits
 *           over a hash of 4 bytes (first 4 of every anchor of 4 or more,
 *           the 256 extensions of one of 3), and 2^16 bits, the anchors of
 *           2 bytes
 *   DENSE   ndense rows of 256 u32: the complete transitions of the root
 *           (node 0) and the depth-1 nodes (1 .. ndense-1)
 *   NODES   nnodes records: the anchor trie, with failure links
 *   ELABELS nedges u8, sorted per node; ETARGETS nedges u32
 *   OUTS    nouts u32: sub ids, per node
 */
#ifndef CVD_NDB_INT_H
#define CVD_NDB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ndb.h"

#define NDB_MAGIC "AMPSNDB\x1a"
#define NDB_VERSION 2

enum {
	NDB_SEC_SIGS,
	NDB_SEC_SUBS,
	NDB_SEC_PARTS,
	NDB_SEC_ALTS,
	NDB_SEC_BYTES,
	NDB_SEC_FILTER,
	NDB_SEC_DENSE,
	NDB_SEC_NODES,
	NDB_SEC_ELABELS,
	NDB_SEC_ETARGETS,
	NDB_SEC_OUTS,
	NDB_SEC_COUNT
};

#define NDB_HDR_SIZE (72 + 8 * NDB_SEC_COUNT)

/* SUB record. */
#define NDB_SUB_SIZE 48
#define NDB_SUB_SIG 0           /* u32 signature index */
#define NDB_SUB_PART0 4         /* u32 first part */
#define NDB_SUB_NPARTS 8        /* u32 */
#define NDB_SUB_APART 12        /* u32 the anchor's part, within the sub */
#define NDB_SUB_AOFF 16         /* u32 the anchor's offset in that part */
#define NDB_SUB_ALEN 20         /* u32 anchor length (its trie depth) */
#define NDB_SUB_OKIND 24        /* u32 NDB_OFF_* */
#define NDB_SUB_OFF 32          /* u64 n of n / EOF-n */
#define NDB_SUB_SHIFT 40        /* u64 maxshift */

#define NDB_OFF_ANY 0
#define NDB_OFF_ABS 1
#define NDB_OFF_EOF 2

/* PART record. */
#define NDB_PART_SIZE 40
#define NDB_PART_LEN 0          /* u32 bytes the part spans */
#define NDB_PART_BYTES 4        /* u32 values at BYTES[b..b+len), masks after */
#define NDB_PART_ALT0 8         /* u32 first alternative group */
#define NDB_PART_NALTS 12       /* u32 */
#define NDB_PART_JLO 16         /* u32 jump before this part: min gap */
#define NDB_PART_JHI 20         /* u32 max gap, NDB_JUMP_INF: none */
#define NDB_PART_RUNOFF 24      /* u32 longest static run (memmem needle) */
#define NDB_PART_RUNLEN 28      /* u32 */
#define NDB_PART_FLAGS 32       /* u8 NDB_PF_* */
#define NDB_PART_LVAL 33        /* u8 the byte of aa[n-m]HEXSIG */
#define NDB_PART_RVAL 34        /* u8 the byte of HEXSIG[n-m]aa */
#define NDB_PART_LLO 36         /* u8 n, m of each */
#define NDB_PART_LHI 37
#define NDB_PART_RLO 38
#define NDB_PART_RHI 39

#define NDB_PF_LANCHOR 0x1
#define NDB_PF_RANCHOR 0x2
#define NDB_JUMP_INF UINT32_MAX

/* ALT record: count alternatives of width bytes at pos in the part. */
#define NDB_ALT_SIZE 24
#define NDB_ALT_POS 0           /* u32 */
#define NDB_ALT_WIDTH 4         /* u32 */
#define NDB_ALT_COUNT 8         /* u32 */
#define NDB_ALT_BYTES 12        /* u32 values (count*width), masks after */
#define NDB_ALT_NEG 16          /* u32 1: !(...) */

/* NODE record. */
#define NDB_NODE_SIZE 32
#define NDB_NODE_EDGE0 0        /* u32 first edge */
#define NDB_NODE_NEDGES 4       /* u32 */
#define NDB_NODE_FAIL 8         /* u32 longest proper suffix in the trie */
#define NDB_NODE_DICT 12        /* u32 nearest node with outputs on the
				   failure chain, 0: none */
#define NDB_NODE_OUT0 16        /* u32 */
#define NDB_NODE_NOUT 20        /* u32 */
#define NDB_NODE_DEPTH 24       /* u32 */

/* Limits, each a named cap (ENOTSUP beyond them). */
#define NDB_PARTS_MAX 256       /* parts of one signature */
#define NDB_VARIANTS_MAX 64     /* length combinations of its alternatives */
#define NDB_ANCHOR_MAX 16       /* bytes of an anchor (trie depth) */
#define NDB_OFFSET_MAX 2147483647ULL /* ClamAV reads offsets as an int */
#define NDB_FILTER_BITS_MIN 12
#define NDB_FILTER_BITS_MAX 24
#define NDB_FILTER_HASH 0x9e3779b1u
#define NDB_FILTER_HASH2 0x85ebca6bu
#define NDB_PAIRS_BYTES 8192    /* 2^16 bits */

/* Bytes of the FILTER section for bits. */
static inline size_t
ndb_filter_size(unsigned bits)
{
	return 2 * (((size_t)1 << bits) / 8) + NDB_PAIRS_BYTES;
}

static inline uint32_t
ndb_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
ndb_ld64(const uint8_t *p)
{
	return (uint64_t)ndb_ld32(p) | (uint64_t)ndb_ld32(p + 4) << 32;
}

static inline void
ndb_st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
ndb_st64(uint8_t *p, uint64_t v)
{
	ndb_st32(p, (uint32_t)v);
	ndb_st32(p + 4, (uint32_t)(v >> 32));
}

/* Hash of a 3-byte window (b0 | b1 << 8 | b2 << 16) into bits bits. */
static inline uint32_t
ndb_filter_hash(uint32_t w, unsigned bits)
{
	return (w * NDB_FILTER_HASH) >> (32 - bits);
}

/* Hash of a 4-byte window (little-endian) into bits bits. */
static inline uint32_t
ndb_filter_hash2(uint32_t w, unsigned bits)
{
	return ((w ^ (w >> 15)) * NDB_FILTER_HASH2) >> (32 - bits);
}

/* An opened image: views into it, checked by ndb_set_open(). */
struct ndb_set {
	const uint8_t *img;
	size_t len;
	uint32_t nsigs, nsubs, nparts, nalts, nnodes, ndense, nedges, nouts;
	uint32_t fbits, max_parts;
	uint64_t nbytes;
	const uint8_t *sigs, *subs, *parts, *alts, *bytes, *filter, *dense;
	const uint8_t *nodes, *elabels, *etargets, *outs;
};

/* Work done by one scan, for tests (bounds, not wall time). */
struct ndb_scan_stats {
	uint64_t filter_hits;   /* positions the prefilter passed */
	uint64_t ac_steps;      /* automaton transitions */
	uint64_t anchor_hits;   /* (sub, position) reported by the automaton */
	uint64_t part_checks;   /* part comparisons at one position */
	uint64_t chain_evals;   /* multi-part evaluations (one per sub) */
};

/* ndb_set_scan() with stats (NULL: none). */
int ndb_set_scan_stats(const struct ndb_set *s, const uint8_t *buf,
    size_t len, int (*cb)(void *arg, uint32_t name_id), void *arg,
    struct ndb_scan_stats *st);

/* ---- ndb_ac.c: the anchor automaton ---------------------------------- */

/* One anchor: len static bytes that identify sub. */
struct ndb_anchor {
	const uint8_t *p;
	uint32_t len;
	uint32_t sub;
};

/*
 * The automaton's sections, built from n anchors: laid out by the caller
 * from the sizes.  Each pointer is malloc'd; ndb_ac_free() frees them.
 */
struct ndb_ac_build {
	uint32_t nnodes, ndense, nedges, nouts, fbits;
	uint8_t *filter, *dense, *nodes, *elabels, *etargets, *outs;
	size_t filter_len, dense_len, nodes_len, elabels_len, etargets_len,
	    outs_len;
};

int ndb_ac_compile(const struct ndb_anchor *a, size_t n,
    struct ndb_ac_build *out);
void ndb_ac_free(struct ndb_ac_build *b);

/*
 * Run the automaton over buf; hit(ctx, sub, end) for every anchor
 * occurrence (end: the position of its last byte), in order of end.  A
 * non-zero return from hit stops the run and is returned.
 */
int ndb_ac_run(const struct ndb_set *s, const uint8_t *buf, size_t len,
    int (*hit)(void *ctx, uint32_t sub, size_t end), void *ctx,
    struct ndb_scan_stats *st);

#endif
