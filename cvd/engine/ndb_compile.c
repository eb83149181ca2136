/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * .ndb patterns into the image (layout in ndb_int.h).
 *
 * A pattern is read into parts (cut at `*` and at jumps) of items: a byte
 * with a mask (xx, ??, x?, ?x) or a group of alternatives.  sigs.c has
 * checked the syntax and decided what is loadable; the semantic decisions
 * taken here, each checked against clamscan 1.4.6:
 * - `{n}`, 1 <= n <= 127, before the first brace jump: n `??` (sigs.c).
 *   Any other brace is a jump between parts: {n} exactly n bytes, {-n}
 *   0..n, {n-} n or more, {n-m} n..m.  A maximum of 0 means no maximum:
 *   ClamAV matches `{0}`, `{0-0}` and `{-0}` like `*`.
 * - aa[n-m]HEXSIG and HEXSIG[n-m]aa: the byte aa is a side condition of
 *   the part HEXSIG: between n and m bytes before (after) it.  It is no
 *   part of the pattern's extent: offsets and jumps measure from HEXSIG, and
 *   aa may overlap a neighbouring part.  aa must be a plain byte: ClamAV
 *   ignores a wildcard or nibble there (refused).
 * - Alternatives may differ in length and hold `??`, nibbles and `{n}`.
 *   Each combination of lengths becomes one sub (a variant with fixed-length
 *   parts) with its own anchor; a match of any sub is a match of the
 *   signature.  More than NDB_VARIANTS_MAX combinations is refused.
 * - Refused because clamscan 1.4.6 never matches them ("ac_findmatch:
 *   Unknown metatype"): an alternative that starts with two `??`, and a
 *   group of mixed lengths where one alternative can match the start of a
 *   longer one: (85|8579), (85|??79).
 * - Offsets n, maxshift above 2^31-1 are refused: ClamAV reads them as an
 *   int and wraps them (it matches "4294967297" at byte 1).
 * - TargetType other than 0 is refused: ClamAV applies those to files of
 *   that type only, often after normalisation.
 *
 * - EOF-n with n beyond the start of the buffer never matches, whatever the
 *   maxshift (clamscan).
 *
 * clamscan 1.4.6 oddities not reproduced (tests/gen/gen_ndb_diff.py avoids
 * or tags them): with alternatives of mixed lengths it matches at the end
 * of a file with up to (longest - shortest) trailing bytes missing, and at
 * a fixed offset misses a start that the longest alternatives would put
 * before byte 0; it mixes lengths and wildcards in alternatives unreliably;
 * it looks for the aa of aa[n-m]HEXSIG only within 32 bytes of where its
 * automaton matched HEXSIG; its prefilter misses !(xx|yy)zz(aabb|ccdd)
 * unless the match ends near the end of the file.
 *
 * The anchor of a sub is the best window of at most NDB_ANCHOR_MAX static
 * bytes of any part (rare bytes score higher; with a fixed offset, part 0
 * gets a bonus, since a hit there is then checked against the offset at
 * once).
 */
#include <stdlib.h>
#include <string.h>

#include "ndb_int.h"
#include "util.h"

#define NC_INLINE_MAX 127       /* {n} up to this is n `??` before a jump */
#define NC_IMAGE_MAX (UINT32_MAX - 1) /* bytes section offsets are u32 */
#define NC_VARALTS_MAX 256      /* alternatives of a group of mixed lengths */

/* A growable array of bytes. */
struct nc_vec {
	uint8_t *p;
	size_t len, cap;
};

struct ndb_builder {
	struct nc_vec sigs, subs, parts, alts, bytes;
	uint32_t nsigs, nsubs, nparts, nalts, max_parts;
};

/* ---- the parsed pattern ------------------------------------------------ */

#define NC_ITEM_BYTE 0
#define NC_ITEM_GROUP 1

struct nc_item {
	uint8_t kind;
	uint8_t val, mask;
	uint32_t group;
};

struct nc_alt {
	uint32_t first, len;    /* into pat.pairs */
};

struct nc_group {
	bool neg;
	uint32_t alt0, nalts;
	uint32_t nlens;         /* distinct lengths */
	uint32_t lens[NDB_VARIANTS_MAX];
	uint32_t choice;        /* index into lens, for the current variant */
};

struct nc_part {
	uint32_t item0, nitems;
	uint32_t jlo, jhi;      /* the jump before this part */
	uint8_t flags, lval, rval, llo, lhi, rlo, rhi;
	bool want_r;            /* [n-m] seen, its byte to come */
};

struct nc_pair {
	uint8_t val, mask;
};

struct nc_pat {
	struct nc_item *items;
	struct nc_group *groups;
	struct nc_alt *alts;
	struct nc_pair *pairs;
	struct nc_part *parts;
	size_t nitems, ngroups, nalts, npairs, nparts;
	size_t citems, cgroups, calts, cpairs, cparts;
	const char *p;
	size_t len, i;
	bool split_seen;
	char *err;
	size_t errlen;
};

/* the library's one error formatter */
#define nc_err cvd_seterr

/* Make room for one more element of size sz in *arr (count n, cap *cap). */
static int
nc_grow(void **arr, size_t n, size_t *cap, size_t sz)
{
	size_t nc;
	void *q;

	if (n < *cap)
		return 0;
	nc = *cap < 16 ? 16 : *cap * 2;
	if (nc > SIZE_MAX / sz || (q = realloc(*arr, nc * sz)) == NULL)
		return NDB_ENOMEM;
	*arr = q;
	*cap = nc;
	return 0;
}

#define NC_PUSH(pat, arr, n, cap) \
	nc_grow((void **)&(pat)->arr, (pat)->n, &(pat)->cap, sizeof(*(pat)->arr))

static void
nc_pat_free(struct nc_pat *t)
{
	free(t->items);
	free(t->groups);
	free(t->alts);
	free(t->pairs);
	free(t->parts);
}

/* xx, ??, x? or ?x at t->i. */
static int
nc_pair_read(struct nc_pat *t, struct nc_pair *out)
{
	int hi, lo;

	if (t->i + 2 > t->len)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: lone hex digit", t->i + 1);
	hi = t->p[t->i] == '?' ? -2 : num_hexval((unsigned char)t->p[t->i]);
	lo = t->p[t->i + 1] == '?' ? -2 : num_hexval((unsigned char)t->p[t->i + 1]);
	if (hi == -1 || lo == -1)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: not a hex byte", t->i + 1);
	out->val = (uint8_t)((hi < 0 ? 0 : hi << 4) | (lo < 0 ? 0 : lo));
	out->mask = (uint8_t)((hi < 0 ? 0 : 0xf0) | (lo < 0 ? 0 : 0x0f));
	t->i += 2;
	return 0;
}

static struct nc_part *
nc_cur(struct nc_pat *t)
{
	return &t->parts[t->nparts - 1];
}

static int
nc_part_new(struct nc_pat *t, uint32_t jlo, uint32_t jhi)
{
	struct nc_part *pt;

	if (t->nparts == NDB_PARTS_MAX)
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "more than %d parts", NDB_PARTS_MAX);
	if (NC_PUSH(t, parts, nparts, cparts) != 0)
		return NDB_ENOMEM;
	pt = &t->parts[t->nparts++];
	memset(pt, 0, sizeof(*pt));
	pt->item0 = (uint32_t)t->nitems;
	pt->jlo = jlo;
	pt->jhi = jhi;
	return 0;
}

static int
nc_item_add(struct nc_pat *t, uint8_t kind, uint8_t val, uint8_t mask,
    uint32_t group)
{
	struct nc_part *pt = nc_cur(t);

	if (pt->want_r) {
		if (kind != NC_ITEM_BYTE)
			return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: '[n-m]' must be followed by one byte", t->i);
		if (mask != 0xff)
			return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: a wildcard byte after '[n-m]' (ClamAV ignores it)", t->i);
		pt->want_r = false;
		pt->flags |= NDB_PF_RANCHOR;
		pt->rval = val;
		return 0;
	}
	if (pt->flags & NDB_PF_RANCHOR)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: only a jump may follow the byte after '[n-m]'", t->i);
	if (NC_PUSH(t, items, nitems, citems) != 0)
		return NDB_ENOMEM;
	t->items[t->nitems++] = (struct nc_item){ kind, val, mask, group };
	pt->nitems++;
	return 0;
}

static int
nc_part_end(struct nc_pat *t)
{
	struct nc_part *pt = nc_cur(t);

	if (pt->want_r)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "'[n-m]' without its byte");
	if (pt->nitems == 0)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: a part without bytes", t->i);
	return 0;
}

/* Decimal at t->i (none: *got false). */
static int
nc_dec(struct nc_pat *t, uint64_t *v, bool *got)
{
	*v = 0;
	*got = false;
	while (t->i < t->len && t->p[t->i] >= '0' && t->p[t->i] <= '9') {
		*v = *v * 10 + (uint64_t)(t->p[t->i++] - '0');
		*got = true;
		if (*v > INT32_MAX)
			return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: number too large", t->i);
	}
	return 0;
}

/* {n}, {-n}, {n-}, {n-m}: inline `??`s or a jump. */
static int
nc_brace(struct nc_pat *t, bool in_group, uint64_t *lo, uint64_t *hi,
    bool *inline_n)
{
	bool glo, ghi = false, dash = false;
	int rc;

	t->i++;
	if ((rc = nc_dec(t, lo, &glo)) != 0)
		return rc;
	*hi = 0;
	if (t->i < t->len && t->p[t->i] == '-') {
		dash = true;
		t->i++;
		if ((rc = nc_dec(t, hi, &ghi)) != 0)
			return rc;
	}
	if (t->i >= t->len || t->p[t->i] != '}')
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: bad '{...}'", t->i + 1);
	t->i++;
	*inline_n = !dash && *lo >= 1 && *lo <= NC_INLINE_MAX && !t->split_seen;
	if (*inline_n)
		return 0;
	if (in_group)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: a jump inside alternatives", t->i);
	if (!glo && !ghi)
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: '{}' or '{-}'", t->i);
	if (!dash)
		*hi = *lo;
	else if (!glo)
		*lo = 0;
	else if (!ghi)
		*hi = 0;
	if (*hi != 0 && *lo > *hi)
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: jump minimum above its maximum", t->i);
	return 0;
}

static int
nc_jump(struct nc_pat *t, uint32_t lo, uint32_t hi)
{
	int rc;

	if ((rc = nc_part_end(t)) != 0)
		return rc;
	return nc_part_new(t, lo, hi);
}

static int
nc_brace_top(struct nc_pat *t)
{
	uint64_t lo, hi;
	bool inl;
	int rc;

	if ((rc = nc_brace(t, false, &lo, &hi, &inl)) != 0)
		return rc;
	if (inl) {
		for (uint64_t k = 0; k < lo; k++)
			if ((rc = nc_item_add(t, NC_ITEM_BYTE, 0, 0, 0)) != 0)
				return rc;
		return 0;
	}
	t->split_seen = true;
	/* A maximum of 0 is no maximum (ClamAV: {0}, {0-0}, {-0} are `*`). */
	return nc_jump(t, (uint32_t)lo, hi == 0 ? NDB_JUMP_INF : (uint32_t)hi);
}

/* [n] or [n-m]: the lone byte before becomes a side condition, or the
 * byte after will be one. */
static int
nc_bracket(struct nc_pat *t)
{
	struct nc_part *pt = nc_cur(t);
	uint64_t lo, hi;
	bool got, ghi;
	int rc;

	t->i++;
	if ((rc = nc_dec(t, &lo, &got)) != 0)
		return rc;
	hi = lo;
	if (t->i < t->len && t->p[t->i] == '-') {
		t->i++;
		if ((rc = nc_dec(t, &hi, &ghi)) != 0)
			return rc;
		got = got && ghi;
	}
	if (!got || t->i >= t->len || t->p[t->i] != ']' || lo > hi ||
	    hi > 255)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: bad '[n-m]'", t->i + 1);
	t->i++;
	if (pt->nitems == 1 && !(pt->flags & NDB_PF_LANCHOR) &&
	    t->items[pt->item0].kind == NC_ITEM_BYTE) {
		if (t->items[pt->item0].mask != 0xff)
			return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: a wildcard byte before '[n-m]' (ClamAV ignores it)", t->i);
		pt->flags |= NDB_PF_LANCHOR;
		pt->lval = t->items[pt->item0].val;
		pt->llo = (uint8_t)lo;
		pt->lhi = (uint8_t)hi;
		pt->nitems = 0;
		t->nitems--;
		return 0;
	}
	if (pt->want_r || (pt->flags & NDB_PF_RANCHOR) || pt->nitems < 1)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: misplaced '[n-m]'", t->i);
	pt->want_r = true;
	pt->rlo = (uint8_t)lo;
	pt->rhi = (uint8_t)hi;
	return 0;
}

static int
nc_alt_close(struct nc_pat *t, struct nc_group *g)
{
	struct nc_alt *a = &t->alts[t->nalts - 1];
	uint32_t k;

	if (a->len == 0)
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: an empty alternative", t->i);
	if (a->len >= 2 && t->pairs[a->first].mask == 0 &&
	    t->pairs[a->first + 1].mask == 0)
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: an alternative starting with two wildcard bytes (clamscan 1.4.6 fails on it: 'ac_findmatch: Unknown metatype')", t->i);
	for (k = 0; k < g->nlens && g->lens[k] != a->len; k++)
		;
	if (k == g->nlens) {
		if (g->nlens == NDB_VARIANTS_MAX)
			return nc_err(t->err, t->errlen, NDB_ENOTSUP, "alternatives of more than %d lengths", NDB_VARIANTS_MAX);
		g->lens[g->nlens++] = a->len;
	}
	return 0;
}

static int
nc_alt_open(struct nc_pat *t, struct nc_group *g)
{
	if (NC_PUSH(t, alts, nalts, calts) != 0)
		return NDB_ENOMEM;
	t->alts[t->nalts++] = (struct nc_alt){ (uint32_t)t->npairs, 0 };
	g->nalts++;
	return 0;
}

static int
nc_alt_byte(struct nc_pat *t, struct nc_pair pr)
{
	if (NC_PUSH(t, pairs, npairs, cpairs) != 0)
		return NDB_ENOMEM;
	t->pairs[t->npairs++] = pr;
	t->alts[t->nalts - 1].len++;
	return 0;
}

/* One character (or pair) inside a group. */
static int
nc_group_step(struct nc_pat *t, struct nc_group *g, bool *done)
{
	char c = t->p[t->i];
	struct nc_pair pr;
	uint64_t lo, hi;
	bool inl;
	int rc;

	if (c == '|' || c == ')') {
		t->i++;
		if ((rc = nc_alt_close(t, g)) != 0)
			return rc;
		*done = c == ')';
		return *done ? 0 : nc_alt_open(t, g);
	}
	if (c == '(' || c == '!')
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: nested alternatives", t->i + 1);
	if (c == '{') {
		if ((rc = nc_brace(t, true, &lo, &hi, &inl)) != 0)
			return rc;
		for (uint64_t k = 0; k < lo; k++)
			if ((rc = nc_alt_byte(t, (struct nc_pair){ 0, 0 })) != 0)
				return rc;
		return 0;
	}
	if ((rc = nc_pair_read(t, &pr)) != 0)
		return rc;
	return nc_alt_byte(t, pr);
}

/* Could alternative a match the first bytes of what b matches? */
static bool
nc_alt_is_prefix(const struct nc_pat *t, const struct nc_alt *a,
    const struct nc_alt *b)
{
	if (a->len >= b->len)
		return false;
	for (uint32_t j = 0; j < a->len; j++) {
		struct nc_pair x = t->pairs[a->first + j];
		struct nc_pair y = t->pairs[b->first + j];

		if ((x.val ^ y.val) & x.mask & y.mask)
			return false;
	}
	return true;
}

/*
 * clamscan 1.4.6 never matches a signature with a group in which one
 * alternative can match a prefix of another, longer one ((85|8579),
 * (85|??79)) when the group comes before the bytes it anchors on
 * ("ac_findmatch: Unknown metatype"); refused wherever it stands.
 */
static int
nc_group_prefixes(const struct nc_pat *t, const struct nc_group *g)
{
	if (g->nlens < 2)
		return 0;
	if (g->nalts > NC_VARALTS_MAX)
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "more than %d alternatives of different lengths", NC_VARALTS_MAX);
	for (uint32_t i = 0; i < g->nalts; i++)
		for (uint32_t j = 0; j < g->nalts; j++)
			if (nc_alt_is_prefix(t, &t->alts[g->alt0 + i],
			    &t->alts[g->alt0 + j]))
				return nc_err(t->err, t->errlen, NDB_ENOTSUP, "alternative %u can match the start of alternative %u (clamscan 1.4.6 fails on it: 'ac_findmatch: Unknown metatype')", i + 1, j + 1);
	return 0;
}

static int
nc_group(struct nc_pat *t)
{
	struct nc_group *g;
	bool neg = t->p[t->i] == '!', done = false;
	int rc;

	t->i += neg ? 2 : 1;
	if (t->i + 2 <= t->len && t->p[t->i + 1] == ')' &&
	    (t->p[t->i] == 'B' || t->p[t->i] == 'L' || t->p[t->i] == 'W'))
		return nc_err(t->err, t->errlen, NDB_ENOTSUP, "position %zu: (%c) is not supported", t->i, t->p[t->i]);
	if (NC_PUSH(t, groups, ngroups, cgroups) != 0)
		return NDB_ENOMEM;
	g = &t->groups[t->ngroups];
	memset(g, 0, sizeof(*g));
	g->neg = neg;
	g->alt0 = (uint32_t)t->nalts;
	if ((rc = nc_alt_open(t, g)) != 0)
		return rc;
	while (!done) {
		if (t->i >= t->len)
			return nc_err(t->err, t->errlen, NDB_EINVAL, "unbalanced '('");
		if ((rc = nc_group_step(t, g, &done)) != 0)
			return rc;
	}
	if (neg && g->nlens != 1)
		return nc_err(t->err, t->errlen, NDB_EINVAL, "'!(...)' with alternatives of different lengths");
	if ((rc = nc_group_prefixes(t, g)) != 0)
		return rc;
	return nc_item_add(t, NC_ITEM_GROUP, 0, 0, (uint32_t)t->ngroups++);
}

static int
nc_step(struct nc_pat *t)
{
	char c = t->p[t->i];
	struct nc_pair pr;
	int rc;

	switch (c) {
	case '*':
		t->i++;
		return nc_jump(t, 0, NDB_JUMP_INF);
	case '{':
		return nc_brace_top(t);
	case '[':
		return nc_bracket(t);
	case '(':
	case '!':
		if (c == '!' && (t->i + 1 >= t->len || t->p[t->i + 1] != '('))
			break;
		return nc_group(t);
	default:
		if (num_hexval((unsigned char)c) < 0 && c != '?')
			break;
		if ((rc = nc_pair_read(t, &pr)) != 0)
			return rc;
		return nc_item_add(t, NC_ITEM_BYTE, pr.val, pr.mask, 0);
	}
	return nc_err(t->err, t->errlen, NDB_EINVAL, "position %zu: unexpected '%c'", t->i + 1, c);
}

static int
nc_parse(struct nc_pat *t, const char *p, size_t len, char *err,
    size_t errlen)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->p = p;
	t->len = len;
	t->err = err;
	t->errlen = errlen;
	if ((rc = nc_part_new(t, 0, 0)) != 0)
		return rc;
	while (t->i < t->len)
		if ((rc = nc_step(t)) != 0)
			return rc;
	return nc_part_end(t);
}

/* ---- variants and their records ---------------------------------------- */

static int
nc_vec_grow(struct nc_vec *v, size_t n, uint8_t **out)
{
	size_t cap = v->cap;
	uint8_t *q;

	if (n > NC_IMAGE_MAX - v->len)
		return NDB_ENOMEM;
	while (cap - v->len < n)
		cap = cap < 4096 ? 4096 : cap * 2;
	if (cap != v->cap) {
		if ((q = realloc(v->p, cap)) == NULL)
			return NDB_ENOMEM;
		v->p = q;
		v->cap = cap;
	}
	*out = v->p + v->len;
	memset(*out, 0, n);
	v->len += n;
	return 0;
}

/* Bytes the part spans in the current variant. */
static size_t
nc_part_len(const struct nc_pat *t, const struct nc_part *pt)
{
	size_t n = 0;

	for (uint32_t k = 0; k < pt->nitems; k++) {
		const struct nc_item *it = &t->items[pt->item0 + k];

		if (it->kind == NC_ITEM_BYTE)
			n++;
		else
			n += t->groups[it->group].lens[t->groups[it->group].choice];
	}
	return n;
}

/* One ALT record: the alternatives of g of the chosen length. */
static int
nc_emit_alt(struct ndb_builder *b, const struct nc_pat *t,
    const struct nc_group *g, size_t pos)
{
	uint32_t w = g->lens[g->choice], cnt = 0;
	size_t boff = b->bytes.len, k = 0;
	uint8_t *rec, *d;
	int rc;

	for (uint32_t a = 0; a < g->nalts; a++)
		cnt += t->alts[g->alt0 + a].len == w;
	if ((size_t)cnt * w > NC_IMAGE_MAX / 2 ||
	    (rc = nc_vec_grow(&b->bytes, (size_t)cnt * w * 2, &d)) != 0 ||
	    (rc = nc_vec_grow(&b->alts, NDB_ALT_SIZE, &rec)) != 0)
		return NDB_ENOMEM;
	for (uint32_t a = 0; a < g->nalts; a++) {
		const struct nc_alt *al = &t->alts[g->alt0 + a];

		if (al->len != w)
			continue;
		for (uint32_t j = 0; j < w; j++, k++) {
			d[k] = t->pairs[al->first + j].val;
			d[(size_t)cnt * w + k] = t->pairs[al->first + j].mask;
		}
	}
	ndb_st32(rec + NDB_ALT_POS, (uint32_t)pos);
	ndb_st32(rec + NDB_ALT_WIDTH, w);
	ndb_st32(rec + NDB_ALT_COUNT, cnt);
	ndb_st32(rec + NDB_ALT_BYTES, (uint32_t)boff);
	ndb_st32(rec + NDB_ALT_NEG, g->neg);
	b->nalts++;
	return 0;
}

/* The longest static run of a part: *off, *len. */
static void
nc_longest_run(const uint8_t *mask, size_t n, size_t *off, size_t *len)
{
	size_t run = 0;

	*off = 0;
	*len = 0;
	for (size_t j = 0; j < n; j++) {
		run = mask[j] == 0xff ? run + 1 : 0;
		if (run > *len) {
			*len = run;
			*off = j + 1 - run;
		}
	}
}

static int
nc_emit_part(struct ndb_builder *b, const struct nc_pat *t,
    const struct nc_part *pt)
{
	size_t n = nc_part_len(t, pt), pos = 0, boff = b->bytes.len;
	size_t roff, rlen;
	uint32_t alt0 = b->nalts;
	uint8_t *rec, *d;
	int rc;

	if (n > NC_IMAGE_MAX / 2 ||
	    (rc = nc_vec_grow(&b->bytes, 2 * n, &d)) != 0)
		return NDB_ENOMEM;
	for (uint32_t k = 0; k < pt->nitems; k++) {
		const struct nc_item *it = &t->items[pt->item0 + k];
		const struct nc_group *g;

		if (it->kind == NC_ITEM_BYTE) {
			d[pos] = it->val;
			d[n + pos++] = it->mask;
			continue;
		}
		g = &t->groups[it->group];
		if ((rc = nc_emit_alt(b, t, g, pos)) != 0)
			return rc;
		d = b->bytes.p + boff;  /* the bytes may have moved */
		pos += g->lens[g->choice];
	}
	nc_longest_run(d + n, n, &roff, &rlen);
	if ((rc = nc_vec_grow(&b->parts, NDB_PART_SIZE, &rec)) != 0)
		return rc;
	ndb_st32(rec + NDB_PART_LEN, (uint32_t)n);
	ndb_st32(rec + NDB_PART_BYTES, (uint32_t)boff);
	ndb_st32(rec + NDB_PART_ALT0, alt0);
	ndb_st32(rec + NDB_PART_NALTS, b->nalts - alt0);
	ndb_st32(rec + NDB_PART_JLO, pt->jlo);
	ndb_st32(rec + NDB_PART_JHI, pt->jhi);
	ndb_st32(rec + NDB_PART_RUNOFF, (uint32_t)roff);
	ndb_st32(rec + NDB_PART_RUNLEN, (uint32_t)rlen);
	rec[NDB_PART_FLAGS] = pt->flags;
	rec[NDB_PART_LVAL] = pt->lval;
	rec[NDB_PART_RVAL] = pt->rval;
	rec[NDB_PART_LLO] = pt->llo;
	rec[NDB_PART_LHI] = pt->lhi;
	rec[NDB_PART_RLO] = pt->rlo;
	rec[NDB_PART_RHI] = pt->rhi;
	b->nparts++;
	return 0;
}

/* Bytes seen often in files: an anchor of them hits often. */
static bool
nc_byte_is_common(uint8_t c)
{
	return c == 0x00 || c == 0xff || c == 0x20 || c == 0x90 ||
	    c == 0xcc || c == 0x0a || c == 0x0d || c == 0x30;
}

struct nc_anchor {
	uint32_t part, off, len;
	int score;
};

/* The best window of the static runs in part k (values v, masks m). */
static void
nc_anchor_in(const uint8_t *v, const uint8_t *m, size_t n, uint32_t k,
    int bonus, struct nc_anchor *best)
{
	for (size_t s = 0; s + 1 < n; s++) {
		int score = bonus;
		size_t e;

		for (e = s; e < n && e - s < NDB_ANCHOR_MAX && m[e] == 0xff; e++)
			score += (nc_byte_is_common(v[e]) ||
			    (e > s && v[e] == v[e - 1])) ? 1 : 4;
		if (e - s >= 2 && score > best->score) {
			*best = (struct nc_anchor){ k, (uint32_t)s,
			    (uint32_t)(e - s), score };
		}
	}
}

/* Write one sub (the current variant). */
static int
nc_emit_sub(struct ndb_builder *b, const struct nc_pat *t,
    const struct sig_ndb *nd, char *err, size_t errlen)
{
	struct nc_anchor best = { 0, 0, 0, -1 };
	uint32_t part0 = b->nparts;
	uint8_t *rec;
	int rc;

	for (size_t k = 0; k < t->nparts; k++)
		if ((rc = nc_emit_part(b, t, &t->parts[k])) != 0)
			return rc;
	for (uint32_t k = 0; k < t->nparts; k++) {
		const uint8_t *pr = b->parts.p + (size_t)(part0 + k) * NDB_PART_SIZE;
		const uint8_t *v = b->bytes.p + ndb_ld32(pr + NDB_PART_BYTES);
		size_t n = ndb_ld32(pr + NDB_PART_LEN);

		nc_anchor_in(v, v + n, n, k,
		    k == 0 && nd->offset_kind != SIG_OFF_ANY ? 8 : 0, &best);
	}
	if (best.len < 2)
		return nc_err(err, errlen, NDB_ENOTSUP, "no two static bytes in a row");
	if ((rc = nc_vec_grow(&b->subs, NDB_SUB_SIZE, &rec)) != 0)
		return rc;
	ndb_st32(rec + NDB_SUB_SIG, b->nsigs);
	ndb_st32(rec + NDB_SUB_PART0, part0);
	ndb_st32(rec + NDB_SUB_NPARTS, (uint32_t)t->nparts);
	ndb_st32(rec + NDB_SUB_APART, best.part);
	ndb_st32(rec + NDB_SUB_AOFF, best.off);
	ndb_st32(rec + NDB_SUB_ALEN, best.len);
	ndb_st32(rec + NDB_SUB_OKIND, nd->offset_kind == SIG_OFF_ABS ?
	    NDB_OFF_ABS : nd->offset_kind == SIG_OFF_EOF ? NDB_OFF_EOF :
	    NDB_OFF_ANY);
	ndb_st64(rec + NDB_SUB_OFF, nd->offset);
	ndb_st64(rec + NDB_SUB_SHIFT, nd->has_maxshift ? nd->maxshift : 0);
	b->nsubs++;
	return 0;
}

static size_t
nc_variants(const struct nc_pat *t)
{
	size_t n = 1;

	for (size_t g = 0; g < t->ngroups; g++) {
		n *= t->groups[g].nlens;
		if (n > NDB_VARIANTS_MAX)
			return SIZE_MAX;
	}
	return n;
}

/* Every combination of alternative lengths (the choices count mixed-radix). */
static int
nc_emit_all(struct ndb_builder *b, struct nc_pat *t,
    const struct sig_ndb *nd, char *err, size_t errlen)
{
	size_t nv = nc_variants(t);
	int rc;

	if (nv == SIZE_MAX)
		return nc_err(err, errlen, NDB_ENOTSUP, "alternatives of different lengths make more than %d variants", NDB_VARIANTS_MAX);
	for (size_t v = 0; v < nv; v++) {
		size_t r = v;

		for (size_t g = 0; g < t->ngroups; g++) {
			t->groups[g].choice = (uint32_t)(r % t->groups[g].nlens);
			r /= t->groups[g].nlens;
		}
		if ((rc = nc_emit_sub(b, t, nd, err, errlen)) != 0)
			return rc;
	}
	if (t->nparts > b->max_parts)
		b->max_parts = (uint32_t)t->nparts;
	return 0;
}

/* ---- the builder ------------------------------------------------------- */

int
ndb_builder_new(struct ndb_builder **out)
{
	if (out == NULL)
		return NDB_EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? NDB_ENOMEM : 0;
}

void
ndb_builder_free(struct ndb_builder *b)
{
	if (b == NULL)
		return;
	free(b->sigs.p);
	free(b->subs.p);
	free(b->parts.p);
	free(b->alts.p);
	free(b->bytes.p);
	free(b);
}

static int
nc_check_sig(const struct sig *s, char *err, size_t errlen)
{
	const struct sig_ndb *nd = &s->u.ndb;

	if (s->type != SIG_TYPE_NDB)
		return nc_err(err, errlen, NDB_EINVAL, "not an .ndb signature");
	if (s->flevel_skip)
		return nc_err(err, errlen, NDB_ENOTSUP, "MinFL/MaxFL exclude this engine");
	if (!s->loadable)
		return nc_err(err, errlen, NDB_ENOTSUP, "not loadable (see sigs.h)");
	if (nd->target != 0)
		return nc_err(err, errlen, NDB_ENOTSUP, "TargetType %u (only 0 is supported)", nd->target);
	if (nd->offset_kind != SIG_OFF_ANY && nd->offset_kind != SIG_OFF_ABS &&
	    nd->offset_kind != SIG_OFF_EOF)
		return nc_err(err, errlen, NDB_ENOTSUP, "offset type not supported");
	if (nd->offset_kind != SIG_OFF_ANY && (nd->offset > NDB_OFFSET_MAX ||
	    (nd->has_maxshift && nd->maxshift > NDB_OFFSET_MAX)))
		return nc_err(err, errlen, NDB_ENOTSUP, "offset or maxshift above %llu (ClamAV wraps it)", NDB_OFFSET_MAX);
	if (nd->pattern.p == NULL ||
	    sig_ndb_pattern_check(nd->pattern.p, nd->pattern.len, err,
	    errlen) != 0)
		return NDB_EINVAL;
	return 0;
}

/* Undo a partly added signature. */
static void
nc_rollback(struct ndb_builder *b, const struct ndb_builder *saved)
{
	b->subs.len = saved->subs.len;
	b->parts.len = saved->parts.len;
	b->alts.len = saved->alts.len;
	b->bytes.len = saved->bytes.len;
	b->nsubs = saved->nsubs;
	b->nparts = saved->nparts;
	b->nalts = saved->nalts;
	b->max_parts = saved->max_parts;
}

int
ndb_builder_add(struct ndb_builder *b, const struct sig *s, uint32_t name_id,
    char *err, size_t errlen)
{
	struct ndb_builder saved;
	struct nc_pat t;
	uint8_t *rec;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (b == NULL || s == NULL)
		return nc_err(err, errlen, NDB_EINVAL, "no builder or signature");
	if ((rc = nc_check_sig(s, err, errlen)) != 0)
		return rc;
	if (b->nsigs == UINT32_MAX - 1)
		return nc_err(err, errlen, NDB_ENOMEM, "too many signatures");
	saved = *b;
	rc = nc_parse(&t, s->u.ndb.pattern.p, s->u.ndb.pattern.len, err, errlen);
	if (rc == 0)
		rc = nc_emit_all(b, &t, &s->u.ndb, err, errlen);
	if (rc == 0 && (rc = nc_vec_grow(&b->sigs, 4, &rec)) == 0) {
		ndb_st32(rec, name_id);
		b->nsigs++;
	}
	nc_pat_free(&t);
	if (rc != 0) {
		nc_rollback(b, &saved);
		if (rc == NDB_ENOMEM)
			nc_err(err, errlen, rc, "out of memory");
	}
	return rc;
}

/* ---- the image --------------------------------------------------------- */

static size_t
nc_align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Anchors of every sub, pointing into the builder's bytes. */
static struct ndb_anchor *
nc_anchors(const struct ndb_builder *b)
{
	struct ndb_anchor *a = malloc(((size_t)b->nsubs + 1) * sizeof(*a));

	if (a == NULL)
		return NULL;
	for (uint32_t k = 0; k < b->nsubs; k++) {
		const uint8_t *sr = b->subs.p + (size_t)k * NDB_SUB_SIZE;
		uint32_t part = ndb_ld32(sr + NDB_SUB_PART0) +
		    ndb_ld32(sr + NDB_SUB_APART);
		const uint8_t *pr = b->parts.p + (size_t)part * NDB_PART_SIZE;

		a[k].p = b->bytes.p + ndb_ld32(pr + NDB_PART_BYTES) +
		    ndb_ld32(sr + NDB_SUB_AOFF);
		a[k].len = ndb_ld32(sr + NDB_SUB_ALEN);
		a[k].sub = k;
	}
	return a;
}

struct nc_section {
	const uint8_t *p;
	size_t len;
};

static void
nc_write(const struct ndb_builder *b, const struct ndb_ac_build *ac,
    const struct nc_section *sec, uint8_t *img, size_t total)
{
	size_t off = NDB_HDR_SIZE;

	memcpy(img, NDB_MAGIC, 8);
	ndb_st32(img + 8, NDB_VERSION);
	ndb_st32(img + 12, NDB_HDR_SIZE);
	ndb_st64(img + 16, total);
	ndb_st32(img + 24, b->nsigs);
	ndb_st32(img + 28, b->nsubs);
	ndb_st32(img + 32, b->nparts);
	ndb_st32(img + 36, b->nalts);
	ndb_st32(img + 40, ac->nnodes);
	ndb_st32(img + 44, ac->ndense);
	ndb_st32(img + 48, ac->nedges);
	ndb_st32(img + 52, ac->nouts);
	ndb_st32(img + 56, ac->fbits);
	ndb_st32(img + 60, b->max_parts);
	ndb_st64(img + 64, b->bytes.len);
	for (int k = 0; k < NDB_SEC_COUNT; k++) {
		ndb_st64(img + 72 + 8 * k, off);
		if (sec[k].len > 0)
			memcpy(img + off, sec[k].p, sec[k].len);
		off += nc_align8(sec[k].len);
	}
}

int
ndb_builder_finish(struct ndb_builder *b, uint8_t **image, size_t *len)
{
	struct ndb_ac_build ac;
	struct ndb_anchor *a;
	size_t total = NDB_HDR_SIZE;
	uint8_t *img;
	int rc;

	if (image == NULL || len == NULL)
		return NDB_EINVAL;
	*image = NULL;
	*len = 0;
	if (b == NULL)
		return NDB_EINVAL;
	if ((a = nc_anchors(b)) == NULL)
		return NDB_ENOMEM;
	rc = ndb_ac_compile(a, b->nsubs, &ac);
	free(a);
	if (rc != 0)
		return rc;
	struct nc_section sec[NDB_SEC_COUNT] = {
		[NDB_SEC_SIGS] = { b->sigs.p, b->sigs.len },
		[NDB_SEC_SUBS] = { b->subs.p, b->subs.len },
		[NDB_SEC_PARTS] = { b->parts.p, b->parts.len },
		[NDB_SEC_ALTS] = { b->alts.p, b->alts.len },
		[NDB_SEC_BYTES] = { b->bytes.p, b->bytes.len },
		[NDB_SEC_FILTER] = { ac.filter, ac.filter_len },
		[NDB_SEC_DENSE] = { ac.dense, ac.dense_len },
		[NDB_SEC_NODES] = { ac.nodes, (size_t)ac.nnodes * NDB_NODE_SIZE },
		[NDB_SEC_ELABELS] = { ac.elabels, ac.nedges },
		[NDB_SEC_ETARGETS] = { ac.etargets, (size_t)ac.nedges * 4 },
		[NDB_SEC_OUTS] = { ac.outs, (size_t)ac.nouts * 4 },
	};
	for (int k = 0; k < NDB_SEC_COUNT; k++)
		total += nc_align8(sec[k].len);
	if ((img = calloc(1, total)) == NULL) {
		ndb_ac_free(&ac);
		return NDB_ENOMEM;
	}
	nc_write(b, &ac, sec, img, total);
	ndb_ac_free(&ac);
	*image = img;
	*len = total;
	return 0;
}
