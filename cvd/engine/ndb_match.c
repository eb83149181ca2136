/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening an image (every offset checked) and matching it against a buffer.
 *
 * The automaton reports anchor hits (ndb_ac.c).  A hit of a one-part sub is
 * checked where it stands: O(pattern size).  A sub of several parts is
 * evaluated in full at its first hit, and never again in this scan:
 *
 * Matching is existential: the sub matches if some placement of its parts
 * satisfies every jump and the offset.  Let V_i be the starts of part i
 * that some valid placement of parts 0..i-1 leads to: V_0 is where part 0
 * matches inside the offset window, and t is in V_i when part i matches at
 * t and some u in V_i-1 has t - (u + len_i-1) within the jump before part i.
 * Then the sub matches iff V_k-1 is not empty.  Each level produces its V_i
 * in increasing order and keeps only a cursor, the last element handed out
 * and one peeked ahead; level i asks level i-1 for "the largest element
 * <= y" with y increasing, so every cursor only moves forward.  A level
 * skips its cursor past what no element of the level below can reach, and
 * finds candidates with memchr() on a byte of the part's longest static
 * run.
 *
 * Bound: every level examines each buffer position at most once, at the
 * cost of one part comparison (its bytes, alternatives, and at most 2 x 256
 * bytes of [n-m] side conditions).  One evaluation is therefore at most
 * O(len x pattern size), runs at most once per sub and scan, and needs
 * O(parts) memory: no backtracking, whatever the buffer (1 MB of 0x41
 * against 4141*4141*4141*4142 costs a few passes over the buffer).  The part
 * holding the anchor starts its cursor at the first hit: no earlier
 * occurrence of the anchor exists.
 *
 * Per scan: a bit per sub (evaluated) and per signature (reported), and the
 * levels, allocated at the first anchor hit.  The levels recurse into each
 * other: at most 3 x NDB_PARTS_MAX small frames of stack.
 */
#include <stdlib.h>
#include <string.h>

#include "ndb_int.h"

#define MS_NONE SIZE_MAX
#define MS_STOP 1               /* the callback asked to stop */
#define MS_NOMEM 2

struct ms_level {
	size_t cur;             /* next candidate start */
	size_t last;            /* largest element handed out, or MS_NONE */
	size_t peek;            /* next element, valid when peeked */
	size_t first;           /* first element, valid when first_known */
	bool peeked, first_known;
};

/* One part, decoded once per use. */
struct ms_part {
	size_t len;
	const uint8_t *val, *mask;
	const uint8_t *rec;
};

struct ms_scan {
	const struct ndb_set *s;
	const uint8_t *buf;
	size_t len;
	int (*cb)(void *arg, uint32_t name_id);
	void *arg;
	struct ndb_scan_stats *st;
	uint64_t *done;         /* nsubs bits */
	uint64_t *reported;     /* nsigs bits */
	struct ms_level *lv;    /* max_parts */
	/* the sub being evaluated */
	const uint8_t *sub;
	uint32_t part0;
	size_t w0, w1;          /* window of part 0's start */
};

/* ---- opening ----------------------------------------------------------- */

static const uint8_t *
ms_rec(const uint8_t *base, uint32_t idx, size_t size)
{
	return base + (size_t)idx * size;
}

static bool
ms_sections(struct ndb_set *s)
{
	const uint8_t **ptr[NDB_SEC_COUNT] = {
		&s->sigs, &s->subs, &s->parts, &s->alts, &s->bytes, &s->filter,
		&s->dense, &s->nodes, &s->elabels, &s->etargets, &s->outs,
	};
	uint64_t size[NDB_SEC_COUNT] = {
		(uint64_t)s->nsigs * 4, (uint64_t)s->nsubs * NDB_SUB_SIZE,
		(uint64_t)s->nparts * NDB_PART_SIZE,
		(uint64_t)s->nalts * NDB_ALT_SIZE, s->nbytes,
		ndb_filter_size(s->fbits), (uint64_t)s->ndense * 256 * 4,
		(uint64_t)s->nnodes * NDB_NODE_SIZE, s->nedges,
		(uint64_t)s->nedges * 4, (uint64_t)s->nouts * 4,
	};

	for (int k = 0; k < NDB_SEC_COUNT; k++) {
		uint64_t off = ndb_ld64(s->img + 72 + 8 * k);

		if (off < NDB_HDR_SIZE || off % 8 != 0 || off > s->len ||
		    size[k] > s->len - off)
			return false;
		*ptr[k] = s->img + off;
	}
	return true;
}

static bool
ms_header(struct ndb_set *s)
{
	const uint8_t *h = s->img;

	if (s->len < NDB_HDR_SIZE || memcmp(h, NDB_MAGIC, 8) != 0 ||
	    ndb_ld32(h + 8) != NDB_VERSION ||
	    ndb_ld32(h + 12) != NDB_HDR_SIZE || ndb_ld64(h + 16) != s->len)
		return false;
	s->nsigs = ndb_ld32(h + 24);
	s->nsubs = ndb_ld32(h + 28);
	s->nparts = ndb_ld32(h + 32);
	s->nalts = ndb_ld32(h + 36);
	s->nnodes = ndb_ld32(h + 40);
	s->ndense = ndb_ld32(h + 44);
	s->nedges = ndb_ld32(h + 48);
	s->nouts = ndb_ld32(h + 52);
	s->fbits = ndb_ld32(h + 56);
	s->max_parts = ndb_ld32(h + 60);
	s->nbytes = ndb_ld64(h + 64);
	if (s->fbits < NDB_FILTER_BITS_MIN || s->fbits > NDB_FILTER_BITS_MAX ||
	    s->max_parts > NDB_PARTS_MAX || s->nnodes == 0 ||
	    s->ndense == 0 || s->ndense > 257 || s->ndense > s->nnodes)
		return false;
	return ms_sections(s);
}

/* Alternatives of part p own alts [alt0, alt0 + n), in order. */
static bool
ms_check_alts(const struct ndb_set *s, const uint8_t *p, uint32_t *next_alt)
{
	uint32_t alt0 = ndb_ld32(p + NDB_PART_ALT0);
	uint32_t n = ndb_ld32(p + NDB_PART_NALTS);
	uint64_t plen = ndb_ld32(p + NDB_PART_LEN);

	if (alt0 != *next_alt || n > s->nalts - alt0)
		return false;
	for (uint32_t k = alt0; k < alt0 + n; k++) {
		const uint8_t *a = ms_rec(s->alts, k, NDB_ALT_SIZE);
		uint64_t w = ndb_ld32(a + NDB_ALT_WIDTH);
		uint64_t cnt = ndb_ld32(a + NDB_ALT_COUNT);

		if (w == 0 || cnt == 0 || ndb_ld32(a + NDB_ALT_POS) + w > plen ||
		    ndb_ld32(a + NDB_ALT_NEG) > 1 ||
		    ndb_ld32(a + NDB_ALT_BYTES) + 2 * w * cnt > s->nbytes)
			return false;
	}
	*next_alt = alt0 + n;
	return true;
}

static bool
ms_check_part(const struct ndb_set *s, const uint8_t *p, uint32_t *next_alt)
{
	uint64_t len = ndb_ld32(p + NDB_PART_LEN);

	return len > 0 && ndb_ld32(p + NDB_PART_BYTES) + 2 * len <= s->nbytes &&
	    ndb_ld32(p + NDB_PART_JLO) <= ndb_ld32(p + NDB_PART_JHI) &&
	    (uint64_t)ndb_ld32(p + NDB_PART_RUNOFF) +
	    ndb_ld32(p + NDB_PART_RUNLEN) <= len &&
	    p[NDB_PART_FLAGS] <= (NDB_PF_LANCHOR | NDB_PF_RANCHOR) &&
	    p[NDB_PART_LLO] <= p[NDB_PART_LHI] &&
	    p[NDB_PART_RLO] <= p[NDB_PART_RHI] && ms_check_alts(s, p, next_alt);
}

/* Subs own consecutive parts, which own consecutive alternatives. */
static bool
ms_check_subs(const struct ndb_set *s)
{
	uint32_t next_part = 0, next_alt = 0;

	for (uint32_t k = 0; k < s->nsubs; k++) {
		const uint8_t *r = ms_rec(s->subs, k, NDB_SUB_SIZE);
		uint32_t p0 = ndb_ld32(r + NDB_SUB_PART0);
		uint32_t np = ndb_ld32(r + NDB_SUB_NPARTS);
		uint32_t ap = ndb_ld32(r + NDB_SUB_APART);
		const uint8_t *pa;

		if (ndb_ld32(r + NDB_SUB_SIG) >= s->nsigs || p0 != next_part ||
		    np == 0 || np > s->max_parts || np > s->nparts - p0 ||
		    ap >= np || ndb_ld32(r + NDB_SUB_ALEN) < 2 ||
		    ndb_ld32(r + NDB_SUB_OKIND) > NDB_OFF_EOF)
			return false;
		for (uint32_t j = p0; j < p0 + np; j++)
			if (!ms_check_part(s, ms_rec(s->parts, j, NDB_PART_SIZE),
			    &next_alt))
				return false;
		pa = ms_rec(s->parts, p0 + ap, NDB_PART_SIZE);
		if ((uint64_t)ndb_ld32(r + NDB_SUB_AOFF) +
		    ndb_ld32(r + NDB_SUB_ALEN) > ndb_ld32(pa + NDB_PART_LEN))
			return false;
		next_part = p0 + np;
	}
	return true;
}

static uint32_t
ms_depth(const struct ndb_set *s, uint32_t id)
{
	return ndb_ld32(ms_rec(s->nodes, id, NDB_NODE_SIZE) + NDB_NODE_DEPTH);
}

/* Edges of node id: consecutive, sorted, one level deeper. */
static bool
ms_check_edges(const struct ndb_set *s, uint32_t id, uint32_t *next_edge)
{
	const uint8_t *nd = ms_rec(s->nodes, id, NDB_NODE_SIZE);
	uint32_t e0 = ndb_ld32(nd + NDB_NODE_EDGE0);
	uint32_t ne = ndb_ld32(nd + NDB_NODE_NEDGES);
	uint32_t depth = ndb_ld32(nd + NDB_NODE_DEPTH);

	if (e0 != *next_edge || ne > s->nedges - e0 || ne > 256)
		return false;
	for (uint32_t e = e0; e < e0 + ne; e++) {
		uint32_t t = ndb_ld32(s->etargets + 4 * (size_t)e);

		if (t >= s->nnodes || ms_depth(s, t) != depth + 1 ||
		    (e > e0 && s->elabels[e] <= s->elabels[e - 1]))
			return false;
	}
	*next_edge = e0 + ne;
	return true;
}

/* Depth orders the nodes: failure and dictionary links go strictly up, so
 * every chain ends at the root. */
static bool
ms_check_nodes(const struct ndb_set *s)
{
	uint32_t next_edge = 0;

	for (uint32_t id = 0; id < s->nnodes; id++) {
		const uint8_t *nd = ms_rec(s->nodes, id, NDB_NODE_SIZE);
		uint32_t depth = ndb_ld32(nd + NDB_NODE_DEPTH);
		uint32_t fail = ndb_ld32(nd + NDB_NODE_FAIL);
		uint32_t dict = ndb_ld32(nd + NDB_NODE_DICT);
		uint32_t o0 = ndb_ld32(nd + NDB_NODE_OUT0);
		uint32_t no = ndb_ld32(nd + NDB_NODE_NOUT);

		if (depth != (id == 0 ? 0 : id < s->ndense ? 1 : depth) ||
		    (id >= s->ndense && (depth < 2 || depth > NDB_ANCHOR_MAX)) ||
		    fail >= s->nnodes || dict >= s->nnodes ||
		    (id != 0 && ms_depth(s, fail) >= depth) ||
		    (id == 0 && (fail != 0 || dict != 0)) ||
		    (dict != 0 && (ms_depth(s, dict) >= depth ||
		    ndb_ld32(ms_rec(s->nodes, dict, NDB_NODE_SIZE) +
		    NDB_NODE_NOUT) == 0)) ||
		    no > s->nouts - (o0 < s->nouts ? o0 : s->nouts) ||
		    (no > 0 && o0 >= s->nouts) ||
		    !ms_check_edges(s, id, &next_edge))
			return false;
	}
	return next_edge == s->nedges;
}

static bool
ms_check_tables(const struct ndb_set *s)
{
	for (size_t k = 0; k < (size_t)s->ndense * 256; k++)
		if (ndb_ld32(s->dense + 4 * k) >= s->nnodes)
			return false;
	for (uint32_t k = 0; k < s->nouts; k++)
		if (ndb_ld32(s->outs + 4 * (size_t)k) >= s->nsubs)
			return false;
	return true;
}

int
ndb_set_open(const uint8_t *image, size_t len, struct ndb_set **out)
{
	struct ndb_set *s;

	if (out == NULL)
		return NDB_EINVAL;
	*out = NULL;
	if (image == NULL)
		return NDB_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NDB_ENOMEM;
	s->img = image;
	s->len = len;
	if (!ms_header(s) || !ms_check_subs(s) || !ms_check_nodes(s) ||
	    !ms_check_tables(s)) {
		free(s);
		return NDB_EINVAL;
	}
	*out = s;
	return 0;
}

void
ndb_set_close(struct ndb_set *s)
{
	free(s);
}

uint32_t
ndb_set_count(const struct ndb_set *s)
{
	return s != NULL ? s->nsigs : 0;
}

/* ---- matching one part ------------------------------------------------- */

static struct ms_part
ms_part(const struct ms_scan *c, uint32_t idx)
{
	struct ms_part p;

	p.rec = ms_rec(c->s->parts, idx, NDB_PART_SIZE);
	p.len = ndb_ld32(p.rec + NDB_PART_LEN);
	p.val = c->s->bytes + ndb_ld32(p.rec + NDB_PART_BYTES);
	p.mask = p.val + p.len;
	return p;
}

static bool
ms_masked_eq(const uint8_t *b, const uint8_t *v, const uint8_t *m, size_t n)
{
	size_t j = 0;

	for (; j + 8 <= n; j += 8)
		if ((ndb_ld64(b + j) ^ ndb_ld64(v + j)) & ndb_ld64(m + j))
			return false;
	for (; j < n; j++)
		if ((b[j] ^ v[j]) & m[j])
			return false;
	return true;
}

static bool
ms_alts_ok(const struct ms_scan *c, const struct ms_part *p, const uint8_t *b)
{
	uint32_t a0 = ndb_ld32(p->rec + NDB_PART_ALT0);
	uint32_t na = ndb_ld32(p->rec + NDB_PART_NALTS);

	for (uint32_t k = a0; k < a0 + na; k++) {
		const uint8_t *a = ms_rec(c->s->alts, k, NDB_ALT_SIZE);
		size_t w = ndb_ld32(a + NDB_ALT_WIDTH);
		size_t cnt = ndb_ld32(a + NDB_ALT_COUNT);
		const uint8_t *v = c->s->bytes + ndb_ld32(a + NDB_ALT_BYTES);
		const uint8_t *at = b + ndb_ld32(a + NDB_ALT_POS);
		bool any = false;

		for (size_t j = 0; j < cnt && !any; j++)
			any = ms_masked_eq(at, v + j * w, v + (cnt + j) * w, w);
		if (any == (ndb_ld32(a + NDB_ALT_NEG) != 0))
			return false;
	}
	return true;
}

/* aa[n-m]HEXSIG, HEXSIG[n-m]aa: the byte somewhere in its range. */
static bool
ms_side_ok(const struct ms_scan *c, const struct ms_part *p, size_t t)
{
	uint8_t f = p->rec[NDB_PART_FLAGS];

	if (f & NDB_PF_LANCHOR) {
		bool ok = false;

		for (size_t g = p->rec[NDB_PART_LLO];
		    g <= p->rec[NDB_PART_LHI] && g < t && !ok; g++)
			ok = c->buf[t - 1 - g] == p->rec[NDB_PART_LVAL];
		if (!ok)
			return false;
	}
	if (f & NDB_PF_RANCHOR) {
		size_t e = t + p->len;
		bool ok = false;

		for (size_t g = p->rec[NDB_PART_RLO];
		    g <= p->rec[NDB_PART_RHI] && g < c->len - e && !ok; g++)
			ok = c->buf[e + g] == p->rec[NDB_PART_RVAL];
		if (!ok)
			return false;
	}
	return true;
}

/* Does the part match with its first byte at t? */
static bool
ms_part_at(const struct ms_scan *c, const struct ms_part *p, size_t t)
{
	const uint8_t *b;

	if (c->st != NULL)
		c->st->part_checks++;
	if (t > c->len || p->len > c->len - t)
		return false;
	b = c->buf + t;
	return ms_masked_eq(b, p->val, p->mask, p->len) &&
	    ms_alts_ok(c, p, b) && ms_side_ok(c, p, t);
}

/* The byte of the part's static run least likely to be common. */
static size_t
ms_part_key(const struct ms_part *p, size_t roff, size_t rlen)
{
	for (size_t j = roff; j < roff + rlen; j++) {
		uint8_t c = p->val[j];

		if (c != 0x00 && c != 0xff && c != 0x20 && c != 0x90 &&
		    c != 0xcc && c != 0x0a && c != 0x0d && c != 0x30)
			return j;
	}
	return roff;
}

/*
 * The first t in [from, tmax] where the part matches, or MS_NONE.
 * Candidates come from memchr() on one byte of the part's static run (not
 * memmem(): sanitizers check a whole haystack per call, quadratic here).
 */
static size_t
ms_part_find(const struct ms_scan *c, const struct ms_part *p, size_t from,
    size_t tmax)
{
	size_t roff = ndb_ld32(p->rec + NDB_PART_RUNOFF);
	size_t rlen = ndb_ld32(p->rec + NDB_PART_RUNLEN);
	size_t key = ms_part_key(p, roff, rlen);

	if (p->len > c->len)
		return MS_NONE;
	if (tmax > c->len - p->len)
		tmax = c->len - p->len;
	while (from <= tmax) {
		if (rlen > 0) {
			const uint8_t *q = memchr(c->buf + from + key,
			    p->val[key], tmax - from + 1);

			if (q == NULL)
				return MS_NONE;
			from = (size_t)(q - c->buf) - key;
			if (memcmp(c->buf + from + roff, p->val + roff,
			    rlen) != 0) {
				from++;
				continue;
			}
		}
		if (ms_part_at(c, p, from))
			return from;
		from++;
	}
	return MS_NONE;
}

/* ---- a sub of several parts -------------------------------------------- */

static size_t ms_level_next(struct ms_scan *c, uint32_t i);

static size_t
ms_level_peek(struct ms_scan *c, uint32_t i)
{
	struct ms_level *l = &c->lv[i];

	if (!l->peeked) {
		l->peek = ms_level_next(c, i);
		l->peeked = true;
	}
	return l->peek;
}

/* The largest element of V_i <= y (y never decreases between calls). */
static size_t
ms_level_query(struct ms_scan *c, uint32_t i, size_t y)
{
	struct ms_level *l = &c->lv[i];
	size_t p;

	while ((p = ms_level_peek(c, i)) != MS_NONE && p <= y) {
		l->last = p;
		l->peeked = false;
	}
	return l->last;
}

static size_t
ms_level_first(struct ms_scan *c, uint32_t i)
{
	return c->lv[i].first_known ? c->lv[i].first : ms_level_peek(c, i);
}

static size_t
ms_level_found(struct ms_level *l, size_t t)
{
	if (!l->first_known) {
		l->first = t;
		l->first_known = true;
	}
	if (t == MS_NONE)
		l->cur = MS_NONE;
	return t;
}

/* The next element of V_i after those already produced. */
static size_t
ms_level_next(struct ms_scan *c, uint32_t i)
{
	struct ms_level *l = &c->lv[i];
	struct ms_part p = ms_part(c, c->part0 + i), q;
	size_t jlo, jhi, t, u, y, f;

	if (l->cur == MS_NONE)
		return MS_NONE;
	if (i == 0) {
		t = ms_part_find(c, &p, l->cur > c->w0 ? l->cur : c->w0, c->w1);
		l->cur = t == MS_NONE ? MS_NONE : t + 1;
		return ms_level_found(l, t);
	}
	q = ms_part(c, c->part0 + i - 1);
	jlo = ndb_ld32(p.rec + NDB_PART_JLO);
	jhi = ndb_ld32(p.rec + NDB_PART_JHI);
	if ((f = ms_level_first(c, i - 1)) == MS_NONE)
		return ms_level_found(l, MS_NONE);
	if (l->cur < f + q.len + jlo)
		l->cur = f + q.len + jlo;
	for (;;) {
		if ((t = ms_part_find(c, &p, l->cur, c->len)) == MS_NONE)
			return ms_level_found(l, MS_NONE);
		l->cur = t + 1;
		y = t - jlo - q.len;
		u = ms_level_query(c, i - 1, y);
		if (u != MS_NONE && (jhi == NDB_JUMP_INF || t - u - q.len <= jhi))
			return ms_level_found(l, t);
		/* Only a later element of V_i-1 can reach a later t. */
		if ((u = ms_level_peek(c, i - 1)) == MS_NONE)
			return ms_level_found(l, MS_NONE);
		if (l->cur < u + q.len + jlo)
			l->cur = u + q.len + jlo;
	}
}

/* The window of part 0's start; false when empty. */
static bool
ms_window(struct ms_scan *c, const uint8_t *sub)
{
	uint32_t kind = ndb_ld32(sub + NDB_SUB_OKIND);
	uint64_t off = ndb_ld64(sub + NDB_SUB_OFF);
	uint64_t shift = ndb_ld64(sub + NDB_SUB_SHIFT);
	uint64_t base;

	if (kind == NDB_OFF_ANY) {
		c->w0 = 0;
		c->w1 = c->len;
		return true;
	}
	if (off > c->len)
		return false;   /* ClamAV: EOF-n beyond the start never matches */
	base = kind == NDB_OFF_ABS ? off : c->len - off;
	c->w0 = (size_t)base;
	c->w1 = shift > c->len - base ? c->len : (size_t)(base + shift);
	return true;
}

static bool
ms_sub_chain(struct ms_scan *c, uint32_t np, uint32_t apart, size_t from)
{
	if (c->st != NULL)
		c->st->chain_evals++;
	memset(c->lv, 0, np * sizeof(*c->lv));
	for (uint32_t i = 0; i < np; i++)
		c->lv[i].last = MS_NONE;
	c->lv[apart].cur = from;
	return ms_level_next(c, np - 1) != MS_NONE;
}

/* ---- the scan ---------------------------------------------------------- */

static bool
ms_bit(const uint64_t *set, uint32_t k)
{
	return (set[k / 64] >> (k % 64)) & 1;
}

static void
ms_bit_set(uint64_t *set, uint32_t k)
{
	set[k / 64] |= (uint64_t)1 << (k % 64);
}

static int
ms_alloc(struct ms_scan *c)
{
	size_t ws = ((size_t)c->s->nsubs + 63) / 64;
	size_t wg = ((size_t)c->s->nsigs + 63) / 64;
	size_t nl = c->s->max_parts > 0 ? c->s->max_parts : 1;

	c->done = calloc(ws + wg + 1, sizeof(uint64_t));
	c->lv = calloc(nl, sizeof(*c->lv));
	if (c->done == NULL || c->lv == NULL)
		return MS_NOMEM;
	c->reported = c->done + ws;
	return 0;
}

static int
ms_report(struct ms_scan *c, uint32_t sig)
{
	if (ms_bit(c->reported, sig))
		return 0;
	ms_bit_set(c->reported, sig);
	return c->cb(c->arg, ndb_ld32(c->s->sigs + 4 * (size_t)sig)) != 0 ? MS_STOP : 0;
}

/* An anchor of sub ended at end. */
static int
ms_hit(void *ctx, uint32_t sub, size_t end)
{
	struct ms_scan *c = ctx;
	const uint8_t *r = ms_rec(c->s->subs, sub, NDB_SUB_SIZE);
	uint32_t sig = ndb_ld32(r + NDB_SUB_SIG);
	uint32_t np = ndb_ld32(r + NDB_SUB_NPARTS);
	uint32_t ap = ndb_ld32(r + NDB_SUB_APART);
	size_t back = (size_t)ndb_ld32(r + NDB_SUB_AOFF) +
	    ndb_ld32(r + NDB_SUB_ALEN) - 1;
	size_t t = end >= back ? end - back : 0;
	struct ms_part p;
	bool hit;

	if (c->done == NULL && ms_alloc(c) != 0)
		return MS_NOMEM;
	if (ms_bit(c->done, sub) || ms_bit(c->reported, sig) ||
	    !ms_window(c, r))
		return 0;
	c->part0 = ndb_ld32(r + NDB_SUB_PART0);
	if (np == 1) {
		p = ms_part(c, c->part0);
		hit = end >= back && t >= c->w0 && t <= c->w1 &&
		    ms_part_at(c, &p, t);
	} else {
		ms_bit_set(c->done, sub);
		hit = ms_sub_chain(c, np, ap, t);
	}
	return hit ? ms_report(c, sig) : 0;
}

int
ndb_set_scan_stats(const struct ndb_set *s, const uint8_t *buf, size_t len,
    int (*cb)(void *arg, uint32_t name_id), void *arg,
    struct ndb_scan_stats *st)
{
	struct ms_scan c = { 0 };
	int rc;

	if (st != NULL)
		memset(st, 0, sizeof(*st));
	if (s == NULL || cb == NULL || (buf == NULL && len > 0))
		return NDB_EINVAL;
	c.s = s;
	c.buf = buf;
	c.len = len;
	c.cb = cb;
	c.arg = arg;
	c.st = st;
	rc = len > 0 ? ndb_ac_run(s, buf, len, ms_hit, &c, st) : 0;
	free(c.done);
	free(c.lv);
	return rc == MS_NOMEM ? NDB_ENOMEM : 0;
}

int
ndb_set_scan(const struct ndb_set *s, const uint8_t *buf, size_t len,
    int (*cb)(void *arg, uint32_t name_id), void *arg)
{
	return ndb_set_scan_stats(s, buf, len, cb, arg, NULL);
}
