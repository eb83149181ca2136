/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The anchor automaton: Aho-Corasick over every signature's anchor, with a
 * prefilter that lets the scan skip most of a buffer without stepping the
 * automaton at all.
 *
 * Layout: the root and the depth-1 nodes have complete transition rows
 * (failure links folded in, a DFA); deeper nodes have sorted sparse edges
 * and a failure link.  Anchors are at most NDB_ANCHOR_MAX bytes, so the trie
 * is at most that deep and 20,000 anchors make some 300,000 nodes at most.
 *
 * Scan: in filter mode each position costs one hashed bit test of the
 * 3 bytes starting there (every anchor's first 3 bytes are in the filter; a
 * 2-byte anchor puts in all 256 extensions); the 1-2% of positions that pass
 * are tested again on a hash of 4 bytes (or an exact table of the 2-byte
 * anchors), so that the automaton is entered rarely: its rows and nodes are
 * large and cold, the filter tables fit in L2.  A hit switches to automaton
 * mode from the root at that position; the automaton runs until its state
 * is again the root or a depth-1 node (no anchor is then pending that starts
 * before the current byte), and filter mode resumes there.  Every position
 * is either filtered once or stepped once (a resume re-reads at most one
 * byte, and only after the automaton moved), so the run is linear in len
 * plus the hits.
 */
#include <stdlib.h>
#include <string.h>

#include "ndb_int.h"

/* A trie node while building (ids in insertion order). */
struct ac_tnode {
	uint32_t first_child, last_child, next_sibling;
	uint32_t out0, nout;
	uint32_t depth;
	uint8_t label;
};

struct ac_tmp {
	struct ac_tnode *n;
	size_t count, cap;
	uint32_t *outs;         /* sub ids, in sorted anchor order */
};

static int
ac_cmp_anchor(const void *a, const void *b)
{
	const struct ndb_anchor *x = a, *y = b;
	uint32_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, m);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->sub < y->sub ? -1 : x->sub > y->sub;
}

static uint32_t
ac_tnode_new(struct ac_tmp *t, uint32_t parent, uint8_t label)
{
	struct ac_tnode *n = &t->n[t->count];
	uint32_t id = (uint32_t)t->count++;

	memset(n, 0, sizeof(*n));
	n->label = label;
	if (id != 0) {
		struct ac_tnode *p = &t->n[parent];

		n->depth = p->depth + 1;
		if (p->first_child == 0)
			p->first_child = id;
		else
			t->n[p->last_child].next_sibling = id;
		p->last_child = id;
	}
	return id;
}

/* Insert sorted anchors, sharing prefixes with the previous one. */
static void
ac_trie_insert(struct ac_tmp *t, const struct ndb_anchor *a, size_t n)
{
	uint32_t path[NDB_ANCHOR_MAX + 1];
	uint32_t prevlen = 0;

	path[0] = ac_tnode_new(t, 0, 0);
	for (size_t k = 0; k < n; k++) {
		uint32_t lcp = 0;
		struct ac_tnode *end;

		if (k > 0)
			while (lcp < prevlen && lcp < a[k].len &&
			    a[k - 1].p[lcp] == a[k].p[lcp])
				lcp++;
		for (uint32_t d = lcp + 1; d <= a[k].len; d++)
			path[d] = ac_tnode_new(t, path[d - 1], a[k].p[d - 1]);
		end = &t->n[path[a[k].len]];
		if (end->nout == 0)
			end->out0 = (uint32_t)k;
		end->nout++;
		t->outs[k] = a[k].sub;
		prevlen = a[k].len;
	}
}

static uint8_t *
ac_node(struct ndb_ac_build *b, uint32_t id)
{
	return b->nodes + (size_t)id * NDB_NODE_SIZE;
}

/* Child of node id labelled c in the built layout, or UINT32_MAX. */
static uint32_t
ac_child(struct ndb_ac_build *b, uint32_t id, uint8_t c)
{
	const uint8_t *nd = ac_node(b, id);
	uint32_t lo = ndb_ld32(nd + NDB_NODE_EDGE0);
	uint32_t hi = lo + ndb_ld32(nd + NDB_NODE_NEDGES);

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (b->elabels[mid] == c)
			return ndb_ld32(b->etargets + 4 * (size_t)mid);
		if (b->elabels[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT32_MAX;
}

/* Renumber breadth-first and write nodes, edges and outputs. */
static void
ac_layout(struct ac_tmp *t, struct ndb_ac_build *b, uint32_t *order)
{
	uint32_t head = 0, tail = 1, nedges = 0;

	order[0] = 0;
	b->ndense = 1;
	while (head < tail) {
		uint32_t old = order[head], id = head++;
		struct ac_tnode *tn = &t->n[old];
		uint8_t *nd = ac_node(b, id);

		if (tn->depth == 1)
			b->ndense++;
		ndb_st32(nd + NDB_NODE_EDGE0, nedges);
		for (uint32_t c = tn->first_child; c != 0;
		    c = t->n[c].next_sibling) {
			b->elabels[nedges] = t->n[c].label;
			ndb_st32(b->etargets + 4 * (size_t)nedges, tail);
			order[tail++] = c;
			nedges++;
		}
		ndb_st32(nd + NDB_NODE_NEDGES, nedges - ndb_ld32(nd + NDB_NODE_EDGE0));
		ndb_st32(nd + NDB_NODE_OUT0, tn->out0);
		ndb_st32(nd + NDB_NODE_NOUT, tn->nout);
		ndb_st32(nd + NDB_NODE_DEPTH, tn->depth);
	}
	b->nedges = nedges;
}

/* Failure and dictionary links, in breadth-first (id) order. */
static void
ac_links(struct ndb_ac_build *b)
{
	for (uint32_t id = 0; id < b->nnodes; id++) {
		uint8_t *nd = ac_node(b, id);
		uint32_t e0 = ndb_ld32(nd + NDB_NODE_EDGE0);
		uint32_t ne = ndb_ld32(nd + NDB_NODE_NEDGES);

		for (uint32_t e = e0; e < e0 + ne; e++) {
			uint32_t v = ndb_ld32(b->etargets + 4 * (size_t)e);
			uint8_t c = b->elabels[e];
			uint32_t f = ndb_ld32(nd + NDB_NODE_FAIL), g = 0, dict;

			if (id != 0) {
				for (;;) {
					g = ac_child(b, f, c);
					if (g != UINT32_MAX || f == 0)
						break;
					f = ndb_ld32(ac_node(b, f) + NDB_NODE_FAIL);
				}
				if (g == UINT32_MAX)
					g = 0;
			}
			ndb_st32(ac_node(b, v) + NDB_NODE_FAIL, g);
			dict = ndb_ld32(ac_node(b, g) + NDB_NODE_NOUT) > 0 ? g :
			    ndb_ld32(ac_node(b, g) + NDB_NODE_DICT);
			ndb_st32(ac_node(b, v) + NDB_NODE_DICT, dict);
		}
	}
}

/* Complete rows for the root and depth-1 nodes. */
static void
ac_dense(struct ndb_ac_build *b)
{
	for (uint32_t id = 0; id < b->ndense; id++) {
		uint8_t *row = b->dense + (size_t)id * 256 * 4;

		for (unsigned c = 0; c < 256; c++) {
			uint32_t v = ac_child(b, id, (uint8_t)c);

			if (v == UINT32_MAX)
				v = id == 0 ? 0 : ndb_ld32(b->dense + 4 * c);
			ndb_st32(row + 4 * c, v);
		}
	}
}

static void
ac_bit_set(uint8_t *set, uint32_t h)
{
	set[h >> 3] |= (uint8_t)(1u << (h & 7));
}

static void
ac_filter(struct ndb_ac_build *b, const struct ndb_anchor *a, size_t n)
{
	size_t want = n * 64, half;
	uint8_t *f2, *pairs;

	b->fbits = NDB_FILTER_BITS_MIN;
	while (b->fbits < NDB_FILTER_BITS_MAX && ((size_t)1 << b->fbits) < want)
		b->fbits++;
	half = ((size_t)1 << b->fbits) / 8;
	b->filter_len = ndb_filter_size(b->fbits);
	if ((b->filter = calloc(1, b->filter_len)) == NULL)
		return;
	f2 = b->filter + half;
	pairs = f2 + half;
	for (size_t k = 0; k < n; k++) {
		const uint8_t *p = a[k].p;
		uint32_t w = p[0] | (uint32_t)p[1] << 8;

		if (a[k].len == 2) {
			ac_bit_set(pairs, w);
			for (uint32_t c = 0; c < 256; c++)
				ac_bit_set(b->filter, ndb_filter_hash(w | c << 16,
				    b->fbits));
			continue;
		}
		w |= (uint32_t)p[2] << 16;
		ac_bit_set(b->filter, ndb_filter_hash(w, b->fbits));
		if (a[k].len >= 4)
			ac_bit_set(f2, ndb_filter_hash2(w | (uint32_t)p[3] << 24,
			    b->fbits));
		else
			for (uint32_t c = 0; c < 256; c++)
				ac_bit_set(f2, ndb_filter_hash2(w | c << 24,
				    b->fbits));
	}
}

static int
ac_alloc(struct ndb_ac_build *b, size_t nnodes, size_t n)
{
	b->nodes_len = nnodes * NDB_NODE_SIZE;
	b->elabels_len = nnodes;
	b->etargets_len = nnodes * 4;
	b->outs_len = n * 4;
	b->nodes = calloc(1, b->nodes_len);
	b->elabels = calloc(1, b->elabels_len);
	b->etargets = calloc(1, b->etargets_len);
	b->outs = calloc(1, b->outs_len + 4);
	return b->nodes && b->elabels && b->etargets && b->outs ? 0 : NDB_ENOMEM;
}

int
ndb_ac_compile(const struct ndb_anchor *anchors, size_t n,
    struct ndb_ac_build *out)
{
	struct ac_tmp t = { 0 };
	struct ndb_anchor *a = NULL;
	uint32_t *order = NULL;
	size_t maxnodes = 1;
	int rc = NDB_ENOMEM;

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < n; k++) {
		if (anchors[k].len < 2 || anchors[k].len > NDB_ANCHOR_MAX)
			return NDB_EINVAL;
		maxnodes += anchors[k].len;
	}
	if (maxnodes > UINT32_MAX / NDB_NODE_SIZE)
		return NDB_ENOMEM;
	if ((a = malloc((n + 1) * sizeof(*a))) == NULL ||
	    (t.n = malloc(maxnodes * sizeof(*t.n))) == NULL ||
	    (t.outs = malloc((n + 1) * sizeof(*t.outs))) == NULL)
		goto out;
	if (n > 0)
		memcpy(a, anchors, n * sizeof(*a));
	qsort(a, n, sizeof(*a), ac_cmp_anchor);
	ac_trie_insert(&t, a, n);
	out->nnodes = (uint32_t)t.count;
	out->nouts = (uint32_t)n;
	if ((order = malloc(t.count * sizeof(*order))) == NULL ||
	    ac_alloc(out, t.count, n) != 0)
		goto out;
	ac_layout(&t, out, order);
	for (size_t k = 0; k < n; k++)
		ndb_st32(out->outs + 4 * k, t.outs[k]);
	ac_links(out);
	out->dense_len = (size_t)out->ndense * 256 * 4;
	if ((out->dense = malloc(out->dense_len)) == NULL)
		goto out;
	ac_dense(out);
	ac_filter(out, a, n);
	if (out->filter == NULL)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		ndb_ac_free(out);
	free(order);
	free(t.outs);
	free(t.n);
	free(a);
	return rc;
}

void
ndb_ac_free(struct ndb_ac_build *b)
{
	free(b->filter);
	free(b->dense);
	free(b->nodes);
	free(b->elabels);
	free(b->etargets);
	free(b->outs);
	memset(b, 0, sizeof(*b));
}

/* ---- scanning ---------------------------------------------------------- */

static inline uint32_t
ac_bit(const uint8_t *set, uint32_t h)
{
	return (set[h >> 3] >> (h & 7)) & 1;
}

/* Stage 1: might an anchor start with these 3 bytes? */
static inline uint32_t
ac_stage1(const struct ndb_set *s, uint32_t w)
{
	return ac_bit(s->filter, ndb_filter_hash(w & 0xffffff, s->fbits));
}

/* Stage 2 at p (4 bytes readable): the 4-byte and 2-byte tables. */
static inline bool
ac_stage2(const struct ndb_set *s, const uint8_t *p)
{
	size_t half = ((size_t)1 << s->fbits) / 8;

	return ac_bit(s->filter + half,
	    ndb_filter_hash2(ndb_ld32(p), s->fbits)) ||
	    ac_bit(s->filter + 2 * half, p[0] | (uint32_t)p[1] << 8);
}

/*
 * The first position >= i that passes both stages, or one less than 4
 * bytes from the end (the automaton takes the tail).
 */
static size_t
ac_skip(const struct ndb_set *s, const uint8_t *buf, size_t len, size_t i)
{
	while (i + 7 <= len) {
		uint32_t m = ac_stage1(s, ndb_ld32(buf + i)) |
		    ac_stage1(s, ndb_ld32(buf + i + 1)) << 1 |
		    ac_stage1(s, ndb_ld32(buf + i + 2)) << 2 |
		    ac_stage1(s, ndb_ld32(buf + i + 3)) << 3;

		if (m == 0) {
			i += 4;
			continue;
		}
		i += (size_t)__builtin_ctz(m);
		if (ac_stage2(s, buf + i))
			return i;
		i++;
	}
	while (i + 4 <= len && !(ac_stage1(s, ndb_ld32(buf + i)) &&
	    ac_stage2(s, buf + i)))
		i++;
	return i;
}

static inline uint32_t
ac_step(const struct ndb_set *s, uint32_t st, uint8_t c)
{
	for (;;) {
		const uint8_t *nd;
		uint32_t lo, hi;

		if (st < s->ndense)
			return ndb_ld32(s->dense + ((size_t)st * 256 + c) * 4);
		nd = s->nodes + (size_t)st * NDB_NODE_SIZE;
		lo = ndb_ld32(nd + NDB_NODE_EDGE0);
		hi = lo + ndb_ld32(nd + NDB_NODE_NEDGES);
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			uint8_t l = s->elabels[mid];

			if (l == c)
				return ndb_ld32(s->etargets + 4 * (size_t)mid);
			if (l < c)
				lo = mid + 1;
			else
				hi = mid;
		}
		st = ndb_ld32(nd + NDB_NODE_FAIL);
	}
}

/* Report the outputs of st and of its dictionary chain. */
static int
ac_report(const struct ndb_set *s, uint32_t st, size_t end,
    int (*hit)(void *, uint32_t, size_t), void *ctx,
    struct ndb_scan_stats *stats)
{
	while (st != 0) {
		const uint8_t *nd = s->nodes + (size_t)st * NDB_NODE_SIZE;
		uint32_t o = ndb_ld32(nd + NDB_NODE_OUT0);
		uint32_t no = ndb_ld32(nd + NDB_NODE_NOUT);
		int rc;

		for (uint32_t k = 0; k < no; k++) {
			if (stats != NULL)
				stats->anchor_hits++;
			if ((rc = hit(ctx, ndb_ld32(s->outs + 4 * ((size_t)o + k)),
			    end)) != 0)
				return rc;
		}
		st = ndb_ld32(nd + NDB_NODE_DICT);
	}
	return 0;
}

int
ndb_ac_run(const struct ndb_set *s, const uint8_t *buf, size_t len,
    int (*hit)(void *ctx, uint32_t sub, size_t end), void *ctx,
    struct ndb_scan_stats *st)
{
	size_t i = 0;
	int rc;

	if (s->nouts == 0)
		return 0;
	while (i < len) {
		size_t entry;
		uint32_t state = 0;

		i = ac_skip(s, buf, len, i);
		if (i >= len)
			break;
		if (st != NULL)
			st->filter_hits++;
		/* Automaton mode: until the state is shallow again. */
		for (entry = i; i < len; i++) {
			const uint8_t *nd;

			state = ac_step(s, state, buf[i]);
			if (st != NULL)
				st->ac_steps++;
			if (state < s->ndense) {
				if (i > entry && i + 4 <= len) {
					i += state == 0;
					break;
				}
				continue;
			}
			nd = s->nodes + (size_t)state * NDB_NODE_SIZE;
			if ((ndb_ld32(nd + NDB_NODE_NOUT) != 0 ||
			    ndb_ld32(nd + NDB_NODE_DICT) != 0) &&
			    (rc = ac_report(s, state, i, hit, ctx, st)) != 0)
				return rc;
		}
	}
	return 0;
}
