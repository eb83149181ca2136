/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Signature line syntax (docs/definitions.md, "Signature lines"): one line of .hdb, .hsb,
 * .ndb, .fp, .sfp or .ign2, checked and cut into views of the caller's line.
 *
 * The rules are those of ClamAV's loader (1.4, checked case by case against
 * clamscan), which is looser than its documentation:
 * - A line whose MinFL/MaxFL exclude the engine's level is skipped before its
 *   other fields are read: we check its name and levels only (every real
 *   test.ndb has such a line with a plain-text body).
 * - .hsb and .sfp take MD5, SHA-1 or SHA-256, told apart by length (the real
 *   daily.hsb carries MD5 lines).
 * - Size is 1 to 2^32-2, or `*` with MinFL >= 73.
 * - An .ndb TargetType above 14 is skipped unread: valid, not loadable.
 * - Offsets other than *, n, EOF-n and $n$ need target 1, 6 or 9 (PE, ELF,
 *   Mach-O); the Offset field is at most 64 bytes.
 * - HexSig: see pat_run().
 * Stricter on purpose: .hdb and .fp take MD5 only; numbers are plain
 * decimals (ClamAV atoi()s empty or junk ones: MinFL "x", maxshift "",
 * "+68"); names are 1 to SIG_NAME_MAX bytes with no control bytes.  Looser
 * as sigs.h promises: a blank line is SIG_SKIP (ClamAV rejects it).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ampscan/cvd.h"	/* CVD_ENGINE_FLEVEL */
#include "ampscan/sigs.h"

#define HASH_FIELDS_MAX 5	/* Hash:Size:Name:MinFL:MaxFL */
#define NDB_FIELDS_MIN 4
#define NDB_FIELDS_MAX 6	/* Name:Target:Offset:HexSig:MinFL:MaxFL */
#define IGN2_FIELDS_MAX 3	/* Name, Name:MD5, or the old x:y:Name */
#define HASH_SIZE_MAX 4294967294ULL
#define HASH_WILD_FLEVEL 73	/* Size `*` needs at least this MinFL */
#define NDB_TARGET_MAX SIG_NDB_TARGET_MAX
#define NDB_OFFSET_MAX 64	/* longest Offset field ClamAV reads */
#define PAT_INLINE_MAX 127	/* {n} up to this is n `??`, not a jump */
#define PAT_ANCHOR_MAX 32	/* [n-m]: m at most this */
#define PAT_NEST_MAX 15		/* nesting of alternatives */
#define PAT_JUMP_MAX 2147483647ULL
#define PAT_STATIC_MIN 2	/* static bytes in a row each part needs */
#define PAT_PLAIN_MIN 3		/* bytes a pattern of plain hex needs */
#define OFF_MACRO_MAX 31	/* $n$: macro group n at most this */
#define OFF_MACRO (-2)		/* offset_kind(): SIG_OFF_OTHER, any target */
#define SHOW_MAX 40		/* bytes of a bad value quoted in a message */

/* Hash lengths in hex digits, as a mask. */
#define HLEN_MD5 1u
#define HLEN_SHA1 2u
#define HLEN_SHA256 4u

/* sig_hex[c]: HX | value for a hex digit (either case), else 0. */
#define HX 0x10
static const uint8_t sig_hex[256] = {
	['0'] = HX | 0x0, ['1'] = HX | 0x1, ['2'] = HX | 0x2, ['3'] = HX | 0x3,
	['4'] = HX | 0x4, ['5'] = HX | 0x5, ['6'] = HX | 0x6, ['7'] = HX | 0x7,
	['8'] = HX | 0x8, ['9'] = HX | 0x9,
	['a'] = HX | 0xa, ['b'] = HX | 0xb, ['c'] = HX | 0xc, ['d'] = HX | 0xd,
	['e'] = HX | 0xe, ['f'] = HX | 0xf,
	['A'] = HX | 0xa, ['B'] = HX | 0xb, ['C'] = HX | 0xc, ['D'] = HX | 0xd,
	['E'] = HX | 0xe, ['F'] = HX | 0xf,
};

/* sig_namestop[c]: NS_END ends a field, NS_CTL never belongs in a name. */
#define NS_END 1
#define NS_CTL 2
#define CTL4(n) [n] = NS_CTL, [n + 1] = NS_CTL, [n + 2] = NS_CTL, [n + 3] = NS_CTL
static const uint8_t sig_namestop[256] = {
	CTL4(0x00), CTL4(0x04), CTL4(0x08), CTL4(0x0c),
	CTL4(0x10), CTL4(0x14), CTL4(0x18), CTL4(0x1c),
	[0x7f] = NS_CTL, [':'] = NS_END,
};

static const char *const sig_type_names[] = {
	[SIG_TYPE_HDB] = "hdb", [SIG_TYPE_HSB] = "hsb", [SIG_TYPE_NDB] = "ndb",
	[SIG_TYPE_FP] = "fp", [SIG_TYPE_SFP] = "sfp", [SIG_TYPE_IGN2] = "ign2",
	[SIG_TYPE_OTHER] = "other",
};

/* One parse: the line (trailing '\r' gone), its type, where results go. */
struct ctx {
	const char *p;
	size_t len;
	enum sig_type t;
	struct sig *out;
	char *err;
	size_t errlen;
};

struct flevels {
	uint64_t min, max;
	bool has_min, has_max;
};

enum { DEC_OK, DEC_EMPTY, DEC_JUNK, DEC_BIG };

/* A bad value, quoted safely: at most SHOW_MAX bytes, non-printables '?'. */
struct shown {
	char s[SHOW_MAX + 4];
};

struct byte_shown {
	char s[8];
};

static int sig_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
sig_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return SIG_EINVAL;
}

static struct shown
show(const char *p, size_t len)
{
	struct shown r;
	size_t n = len < SHOW_MAX ? len : SHOW_MAX;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		r.s[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	memcpy(r.s + n, n < len ? "..." : "", n < len ? 4 : 1);
	return r;
}

static struct byte_shown
show_byte(unsigned char c)
{
	struct byte_shown r;

	if (c > 0x20 && c < 0x7f)
		snprintf(r.s, sizeof(r.s), "'%c'", c);
	else
		snprintf(r.s, sizeof(r.s), "0x%02x", c);
	return r;
}

/* Decimal digits from p[*pos], at most max; stops at the first non-digit. */
static int
dec_scan(const char *p, size_t len, size_t *pos, uint64_t max, uint64_t *out)
{
	size_t i = *pos;
	uint64_t v = 0;

	for (; i < len && (unsigned char)(p[i] - '0') < 10; i++) {
		unsigned d = (unsigned char)(p[i] - '0');

		if (d > max || v > (max - d) / 10)
			return DEC_BIG;
		v = v * 10 + d;
	}
	if (i == *pos)
		return i < len ? DEC_JUNK : DEC_EMPTY;
	*pos = i;
	*out = v;
	return DEC_OK;
}

/* A field that must be one unsigned decimal, no sign, at most max. */
static int
dec_field(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	size_t pos = 0;
	int rc;

	if (len == 0)
		return DEC_EMPTY;
	rc = dec_scan(p, len, &pos, max, out);
	if (rc == DEC_OK && pos != len)
		return DEC_JUNK;
	return rc;
}

/* Cut p at ':' into at most max fields; returns the count, max + 1 if more. */
static size_t
split_fields(const char *p, size_t len, struct sig_str *f, size_t max)
{
	const char *end = p + len;
	size_t n = 0;

	for (;;) {
		const char *c = memchr(p, ':', (size_t)(end - p));

		if (n == max)
			return max + 1;
		f[n].p = p;
		f[n].len = (size_t)((c != NULL ? c : end) - p);
		n++;
		if (c == NULL)
			return n;
		p = c + 1;
	}
}

static bool
fl_excludes(const struct flevels *fl)
{
	return (fl->has_min && fl->min > CVD_ENGINE_FLEVEL) ||
	    (fl->has_max && fl->max < CVD_ENGINE_FLEVEL);
}

static int
fl_take(struct ctx *c, struct sig_str f, int fno, const char *what,
    uint64_t *v)
{
	switch (dec_field(f.p, f.len, UINT_MAX, v)) {
	case DEC_OK:
		return 0;
	case DEC_EMPTY:
		return sig_err(c->err, c->errlen, "field %d (%s): empty", fno,
		    what);
	case DEC_BIG:
		return sig_err(c->err, c->errlen, "field %d (%s): '%s' is too large (limit %u)", fno, what, show(f.p, f.len).s, UINT_MAX);
	default:
		return sig_err(c->err, c->errlen, "field %d (%s): '%s' is not an unsigned decimal", fno, what, show(f.p, f.len).s);
	}
}

/* f[0] is MinFL (field fno), f[1] MaxFL; n of them are present. */
static int
fl_fields(struct ctx *c, const struct sig_str *f, size_t n, int fno,
    struct flevels *fl)
{
	int rc;

	if (n > 0) {
		if ((rc = fl_take(c, f[0], fno, "minfl", &fl->min)) != 0)
			return rc;
		fl->has_min = true;
		c->out->min_flevel = (unsigned)fl->min;
	}
	if (n > 1) {
		if ((rc = fl_take(c, f[1], fno + 1, "maxfl", &fl->max)) != 0)
			return rc;
		fl->has_max = true;
		c->out->max_flevel = (unsigned)fl->max;
	}
	return 0;
}

/* The name from p[start] up to a ':' or limit; *endp where it stopped. */
static int
name_take(struct ctx *c, size_t start, size_t limit, int fno, size_t *endp)
{
	const unsigned char *u = (const unsigned char *)c->p;
	size_t i = start;

	while (i < limit && sig_namestop[u[i]] == 0)
		i++;
	if (i < limit && (sig_namestop[u[i]] & NS_CTL))
		return sig_err(c->err, c->errlen, "field %d (name): position %zu: control byte 0x%02x", fno, i - start + 1, u[i]);
	if (i == start)
		return sig_err(c->err, c->errlen, "field %d (name): empty", fno);
	if (i - start > SIG_NAME_MAX)
		return sig_err(c->err, c->errlen, "field %d (name): %zu bytes, limit %d", fno, i - start, SIG_NAME_MAX);
	c->out->name.p = c->p + start;
	c->out->name.len = i - start;
	*endp = i;
	return 0;
}

static int
name_field(struct ctx *c, struct sig_str f, int fno)
{
	size_t start = (size_t)(f.p - c->p), end;

	return name_take(c, start, start + f.len, fno, &end);
}

static bool
hash_len_ok(size_t n, unsigned lens)
{
	return (n == 32 && (lens & HLEN_MD5)) ||
	    (n == 40 && (lens & HLEN_SHA1)) || (n == 64 && (lens & HLEN_SHA256));
}

static int
digest_bad(struct ctx *c, size_t start, size_t j, size_t limit, unsigned lens,
    int fno, const char *what)
{
	const unsigned char *u = (const unsigned char *)c->p;

	if (j < limit && u[j] != ':')
		return sig_err(c->err, c->errlen, "field %d (%s): position %zu: %s is not a hex digit", fno, what, j - start + 1, show_byte(u[j]).s);
	if (j == start)
		return sig_err(c->err, c->errlen, "field %d (%s): empty", fno,
		    what);
	if (lens == HLEN_MD5)
		return sig_err(c->err, c->errlen, "field %d (%s): %zu hex digits, want 32", fno, what, j - start);
	return sig_err(c->err, c->errlen, "field %d (%s): %zu hex digits, want 32 (MD5), 40 (SHA-1) or 64 (SHA-256)", fno, what, j - start);
}

/*
 * Hex digits from p[start] up to a ':' or limit, decoded into the digest as
 * they are read; their count must be one of lens.
 */
static int
digest_take(struct ctx *c, size_t start, size_t limit, unsigned lens,
    int fno, const char *what, size_t *endp)
{
	const unsigned char *u = (const unsigned char *)c->p;
	struct sig_hash *h = &c->out->u.hash;
	size_t i = start, j;

	while (i + 1 < limit && i - start < 2 * sizeof(h->digest)) {
		uint8_t a = sig_hex[u[i]], b = sig_hex[u[i + 1]];

		if (!(a & b & HX))
			break;
		h->digest[(i - start) / 2] = (uint8_t)((a & 0xf) << 4 | (b & 0xf));
		i += 2;
	}
	for (j = i; j < limit && (sig_hex[u[j]] & HX); j++)
		;
	if ((j < limit && u[j] != ':') || !hash_len_ok(j - start, lens))
		return digest_bad(c, start, j, limit, lens, fno, what);
	h->digest_len = (j - start) / 2;
	*endp = j;
	return 0;
}

static unsigned
hash_lens(enum sig_type t)
{
	if (t == SIG_TYPE_HDB || t == SIG_TYPE_FP)
		return HLEN_MD5;
	return HLEN_MD5 | HLEN_SHA1 | HLEN_SHA256;
}

static const char *
hash_what(enum sig_type t)
{
	return (t == SIG_TYPE_HDB || t == SIG_TYPE_FP) ? "md5" : "hash";
}

/* Step over the ':' after field fno, or fail if the line ends there. */
static int
hash_next(struct ctx *c, size_t *pos, int fno)
{
	if (*pos < c->len) {
		(*pos)++;
		return 0;
	}
	return sig_err(c->err, c->errlen, "line ends after field %d; want %s:Size:Name[:MinFL[:MaxFL]]", fno, c->t == SIG_TYPE_HDB || c->t == SIG_TYPE_FP ? "MD5" : "Hash");
}

static int
size_take(struct ctx *c, size_t pos, size_t *endp, bool *any)
{
	struct sig_hash *h = &c->out->u.hash;
	size_t i = pos;
	int rc;

	if (pos < c->len && c->p[pos] == '*' &&
	    (pos + 1 == c->len || c->p[pos + 1] == ':')) {
		h->size = SIG_SIZE_ANY;
		*any = true;
		*endp = pos + 1;
		return 0;
	}
	rc = dec_scan(c->p, c->len, &i, UINT64_MAX, &h->size);
	if (rc == DEC_BIG)
		return sig_err(c->err, c->errlen, "field 2 (size): too large (limit %llu)", HASH_SIZE_MAX);
	if (rc != DEC_OK && (pos == c->len || c->p[pos] == ':'))
		return sig_err(c->err, c->errlen, "field 2 (size): empty");
	if (i < c->len && c->p[i] != ':')
		return sig_err(c->err, c->errlen, "field 2 (size): position %zu: %s is not a decimal digit", i - pos + 1, show_byte((unsigned char)c->p[i]).s);
	if (h->size == 0 || h->size > HASH_SIZE_MAX)
		return sig_err(c->err, c->errlen, "field 2 (size): %" PRIu64 " is out of range (1 to %llu, or *)", h->size, HASH_SIZE_MAX);
	*endp = i;
	return 0;
}

/*
 * A hash line whose Hash or Size is bad is still valid when its levels
 * exclude this engine: ClamAV skips such a line before reading those fields.
 */
static bool
hash_flevel_skip(struct ctx *c)
{
	struct sig_str f[HASH_FIELDS_MAX];
	struct flevels fl = { 0 };
	struct ctx q = *c;
	size_t n = split_fields(c->p, c->len, f, HASH_FIELDS_MAX);

	q.err = NULL;
	q.errlen = 0;
	if (n < 4 || n > HASH_FIELDS_MAX)
		return false;
	memset(c->out, 0, sizeof(*c->out));
	c->out->type = c->t;
	if (fl_fields(&q, f + 3, n - 3, 4, &fl) != 0 || !fl_excludes(&fl) ||
	    name_field(&q, f[2], 3) != 0)
		return false;
	c->out->flevel_skip = true;
	if (c->err != NULL && c->errlen > 0)
		c->err[0] = '\0';
	return true;
}

/* MinFL and MaxFL after the name, if any. */
static int
hash_tail(struct ctx *c, size_t pos, struct flevels *fl)
{
	struct sig_str f[2];
	size_t n;

	if (pos == c->len)
		return 0;
	n = split_fields(c->p + pos + 1, c->len - pos - 1, f, 2);
	if (n > 2)
		return sig_err(c->err, c->errlen, "more than %d fields; want %s:Size:Name[:MinFL[:MaxFL]]", HASH_FIELDS_MAX, c->t == SIG_TYPE_HDB || c->t == SIG_TYPE_FP ? "MD5" : "Hash");
	return fl_fields(c, f, n, 4, fl);
}

static int
hash_parse(struct ctx *c)
{
	struct flevels fl = { 0 };
	size_t pos = 0;
	bool any = false;
	int rc;

	if ((rc = digest_take(c, 0, c->len, hash_lens(c->t), 1,
	    hash_what(c->t), &pos)) != 0 ||
	    (rc = hash_next(c, &pos, 1)) != 0 ||
	    (rc = size_take(c, pos, &pos, &any)) != 0 ||
	    (rc = hash_next(c, &pos, 2)) != 0)
		return hash_flevel_skip(c) ? SIG_OK : rc;
	if ((rc = name_take(c, pos, c->len, 3, &pos)) != 0 ||
	    (rc = hash_tail(c, pos, &fl)) != 0)
		return rc;
	if (fl_excludes(&fl)) {
		c->out->flevel_skip = true;
		return SIG_OK;
	}
	if (any && (!fl.has_min || fl.min < HASH_WILD_FLEVEL))
		return sig_err(c->err, c->errlen, "field 2 (size): '*' needs MinFL (field 4) of %d or more", HASH_WILD_FLEVEL);
	c->out->loadable = true;
	return SIG_OK;
}

/* ---- .ndb HexSig ------------------------------------------------------ */

struct pat_group {
	size_t open;		/* position of its '(' (or '!') */
	size_t first_len;	/* bytes in its first alternative; SIZE_MAX: none */
	size_t cur_len;		/* bytes in the current one so far */
	bool negated;
	bool plain;		/* hex pairs only: the group may be negated */
	bool same_len;
	bool cur_any;		/* the current alternative is not empty */
};

struct pat {
	const char *p;
	size_t len;
	size_t i;
	const char *prefix;	/* "field 4 (hexsig): " or "" */
	char *err;
	size_t errlen;
	bool usable;
	bool plain_only;	/* hex pairs only so far */
	bool split_seen;	/* a jump split the pattern: {n} splits too */
	size_t nsplit;
	/* The current part (between jumps). */
	size_t items;		/* byte positions in its core */
	unsigned run;		/* static bytes in a row */
	bool has_static;	/* PAT_STATIC_MIN static bytes in a row seen */
	bool lone_byte;		/* the core is one plain byte: may anchor [n-m] */
	bool left_anchor;	/* XX[n-m] seen */
	bool want_anchor;	/* HEXSIG[n-m] seen: one byte must follow */
	bool anchor_done;	/* ... and came: the part must end */
	unsigned depth;
	struct pat_group g[PAT_NEST_MAX];
};

static int pat_err(struct pat *s, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
pat_err(struct pat *s, size_t at, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sig_err(s->err, s->errlen, "%sposition %zu: %s", s->prefix,
	    at + 1, msg);
}

/* n byte positions; byte: one plain byte item (xx, ??, x?, ?x, {1}). */
static int
pat_add(struct pat *s, size_t at, size_t n, bool is_static, bool byte)
{
	if (s->depth > 0) {
		struct pat_group *g = &s->g[s->depth - 1];

		g->cur_len += n;
		g->cur_any = true;
		if (!is_static || !byte)
			g->plain = false;
		return 0;
	}
	if (s->anchor_done)
		return pat_err(s, at, "only a jump or the end may follow the byte after '[n-m]'");
	if (s->want_anchor) {
		if (!byte)
			return pat_err(s, at, "'[n-m]' must be followed by exactly one byte");
		s->want_anchor = false;
		s->anchor_done = true;
		return 0;
	}
	s->items += n;
	s->lone_byte = byte && s->items == 1;
	if (!is_static)
		s->run = 0;
	else if (++s->run >= PAT_STATIC_MIN)
		s->has_static = true;
	return 0;
}

static int
pat_byte(struct pat *s)
{
	const unsigned char *u = (const unsigned char *)s->p;
	size_t i = s->i;
	bool hi, lo;

	if (i + 1 >= s->len)
		return pat_err(s, i, "lone hex digit at the end (odd number of hex digits)");
	hi = (sig_hex[u[i]] & HX) != 0;
	lo = (sig_hex[u[i + 1]] & HX) != 0;
	if (!lo && u[i + 1] != '?')
		return pat_err(s, i + 1, "%s where a second hex digit belongs (odd number of hex digits?)", show_byte(u[i + 1]).s);
	s->i += 2;
	if (!(hi && lo))
		s->plain_only = false;
	return pat_add(s, i, 1, hi && lo, true);
}

/* A part ends at a jump (at_jump) or at the end of the pattern. */
static int
pat_end_part(struct pat *s, size_t at, bool at_jump)
{
	if (s->want_anchor)
		return pat_err(s, at, "'[n-m]' must be followed by exactly one byte");
	if (s->items == 0 && at_jump)
		return pat_err(s, at, s->left_anchor ? "nothing but an anchored byte before this jump" : "no bytes before this jump");
	if (s->items == 0)
		return pat_err(s, at, s->left_anchor ? "nothing after '[n-m]'" : "the pattern ends with a jump");
	if (!s->has_static)
		s->usable = false;
	s->items = 0;
	s->run = 0;
	s->has_static = false;
	s->lone_byte = false;
	s->left_anchor = false;
	s->anchor_done = false;
	s->nsplit++;
	return 0;
}

static int
pat_star(struct pat *s)
{
	size_t at = s->i++;

	if (s->depth > 0)
		return pat_err(s, at, "'*' inside alternatives");
	return pat_end_part(s, at, true);
}

/* {n}, {-n}, {n-}, {n-m}: n `??` when small and early, else a jump. */
static int
pat_brace(struct pat *s)
{
	size_t at = s->i, j = at + 1;
	uint64_t lo = 0, hi = 0;
	int rl, rh = DEC_EMPTY;
	bool dash = false;

	rl = dec_scan(s->p, s->len, &j, PAT_JUMP_MAX, &lo);
	if (rl != DEC_BIG && j < s->len && s->p[j] == '-') {
		dash = true;
		j++;
		rh = dec_scan(s->p, s->len, &j, PAT_JUMP_MAX, &hi);
	}
	if (rl == DEC_BIG || rh == DEC_BIG)
		return pat_err(s, at, "jump longer than %llu", PAT_JUMP_MAX);
	if (j >= s->len)
		return pat_err(s, at, "'{' without '}'");
	if (s->p[j] != '}')
		return pat_err(s, j, "%s inside '{...}' (want {n}, {-n}, {n-} or {n-m})", show_byte((unsigned char)s->p[j]).s);
	/* {}, {-} and {5-3}: ClamAV loads them; we cannot honour them. */
	if ((rl != DEC_OK && rh != DEC_OK) ||
	    (rl == DEC_OK && rh == DEC_OK && lo > hi))
		s->usable = false;
	s->i = j + 1;
	if (!dash && lo >= 1 && lo <= PAT_INLINE_MAX && !s->split_seen)
		return pat_add(s, at, (size_t)lo, false, lo == 1);
	if (s->depth > 0)
		return pat_err(s, at, "a jump inside alternatives (only {1} to {127}, and only before any other jump)");
	s->split_seen = true;
	return pat_end_part(s, at, true);
}

/* [n] or [n-m], n <= m <= 32: one byte on one side of a part's core. */
static int
pat_bracket(struct pat *s)
{
	size_t at = s->i, j = at + 1;
	uint64_t lo = 0, hi;
	int rc;

	if (s->depth > 0)
		return pat_err(s, at, "'[' inside alternatives");
	if (s->want_anchor || s->anchor_done)
		return pat_err(s, at, "a second '[n-m]' after the first one's byte");
	if ((rc = dec_scan(s->p, s->len, &j, PAT_ANCHOR_MAX, &lo)) == DEC_OK)
		hi = lo;
	if (rc == DEC_OK && j < s->len && s->p[j] == '-') {
		j++;
		rc = dec_scan(s->p, s->len, &j, PAT_ANCHOR_MAX, &hi);
	}
	if (rc == DEC_BIG)
		return pat_err(s, at, "'[n-m]' allows at most %d", PAT_ANCHOR_MAX);
	if (j >= s->len)
		return pat_err(s, at, "'[' without ']'");
	if (rc != DEC_OK || s->p[j] != ']')
		return pat_err(s, j, "%s inside '[...]' (want [n] or [n-m])", show_byte((unsigned char)s->p[j]).s);
	if (lo > hi)
		return pat_err(s, at, "'[%" PRIu64 "-%" PRIu64 "]': the minimum exceeds the maximum", lo, hi);
	s->i = j + 1;
	if (s->items == 1 && s->lone_byte && !s->left_anchor) {
		s->left_anchor = true;
		s->items = 0;
		s->run = 0;
		s->lone_byte = false;
		return 0;
	}
	if (s->items == 0 || (s->items == 1 && s->lone_byte))
		return pat_err(s, at, "'[n-m]' needs one byte on one side and two or more on the other");
	s->want_anchor = true;
	return 0;
}

/* (B), (L), (W), !(...) or (...). */
static int
pat_open(struct pat *s)
{
	size_t at = s->i, j = at;
	struct pat_group *g;
	bool neg = s->p[j] == '!';

	if (neg && (j + 1 >= s->len || s->p[j + 1] != '('))
		return pat_err(s, at, "'!' must be followed by '('");
	if (neg && s->depth > 0)
		return pat_err(s, at, "'!(' inside alternatives");
	j += neg;
	if (j + 2 < s->len && s->p[j + 2] == ')' &&
	    (s->p[j + 1] == 'B' || s->p[j + 1] == 'L' || s->p[j + 1] == 'W')) {
		if (s->depth > 0)
			return pat_err(s, at, "(%c) inside alternatives", s->p[j + 1]);
		s->usable = false;	/* character classes: not in the engine */
		s->i = j + 3;
		return pat_add(s, at, 1, false, false);
	}
	if (s->depth == PAT_NEST_MAX)
		return pat_err(s, at, "alternatives nested deeper than %d", PAT_NEST_MAX);
	if (s->depth > 0) {
		s->g[s->depth - 1].plain = false;
		s->g[s->depth - 1].cur_any = true;
		s->usable = false;	/* nested alternatives: not in the engine */
	}
	g = &s->g[s->depth++];
	*g = (struct pat_group){ .open = at, .first_len = SIZE_MAX,
	    .negated = neg, .plain = true, .same_len = true };
	s->i = j + 1;
	return 0;
}

/* ClamAV refuses an empty first alternative only at the top level. */
static int
pat_alt_end(struct pat *s, struct pat_group *g, size_t at)
{
	if (!g->cur_any && g->first_len == SIZE_MAX && g == &s->g[0])
		return pat_err(s, at, "empty first alternative");
	if (!g->cur_any) {
		g->plain = false;
		s->usable = false;
	}
	if (g->first_len == SIZE_MAX)
		g->first_len = g->cur_len;
	else if (g->cur_len != g->first_len)
		g->same_len = false;
	g->cur_len = 0;
	g->cur_any = false;
	return 0;
}

static int
pat_bar(struct pat *s)
{
	size_t at = s->i++;

	if (s->depth == 0)
		return pat_err(s, at, "'|' outside alternatives");
	return pat_alt_end(s, &s->g[s->depth - 1], at);
}

static int
pat_close(struct pat *s)
{
	size_t at = s->i++;
	struct pat_group *g;
	int rc;

	if (s->depth == 0)
		return pat_err(s, at, "unbalanced ')'");
	g = &s->g[s->depth - 1];
	if (!g->cur_any && g->first_len == SIZE_MAX && s->depth == 1)
		return pat_err(s, at, "empty '()'");
	if ((rc = pat_alt_end(s, g, at)) != 0)
		return rc;
	if (g->negated && !(g->plain && g->same_len))
		return pat_err(s, g->open, "'!(...)' needs plain hex alternatives, all of one length");
	s->depth--;
	if (s->depth > 0) {
		s->g[s->depth - 1].cur_len += g->first_len;
		return 0;
	}
	return pat_add(s, g->open, 1, false, false);
}

static int
pat_special(struct pat *s, unsigned char c)
{
	switch (c) {
	case '*':
		return pat_star(s);
	case '{':
		return pat_brace(s);
	case '[':
		return pat_bracket(s);
	case '!':
	case '(':
		return pat_open(s);
	case '|':
		return pat_bar(s);
	case ')':
		return pat_close(s);
	default:
		return pat_err(s, s->i, "unexpected %s", show_byte(c).s);
	}
}

/*
 * One pass over the pattern.  Parts are cut at `*` and at jumps; ClamAV
 * turns {n} (1..127) into n `??` instead, but only until the first other
 * jump, after which every {...} cuts.  Errors are what ClamAV refuses to
 * load; s->usable turns false for what this engine cannot honour exactly:
 * a part without PAT_STATIC_MIN static bytes in a row or plain hex shorter
 * than PAT_PLAIN_MIN (ClamAV refuses those too), and what ClamAV loads but
 * we do not: (B)/(L)/(W), nested or empty alternatives, {}, {-}, {5-3}.
 */
static int
pat_run(struct pat *s)
{
	const unsigned char *u = (const unsigned char *)s->p;
	int rc;

	if (s->len == 0)
		return sig_err(s->err, s->errlen, "%sempty", s->prefix);
	if (s->len > SIG_LINE_MAX)
		return sig_err(s->err, s->errlen, "%s%zu bytes, limit %d",
		    s->prefix, s->len, SIG_LINE_MAX);
	while (s->i < s->len) {
		unsigned char c = u[s->i];

		if ((sig_hex[c] & HX) || c == '?') {
			rc = pat_byte(s);
		} else {
			s->plain_only = false;
			rc = pat_special(s, c);
		}
		if (rc != 0)
			return rc;
	}
	if (s->depth > 0)
		return pat_err(s, s->g[s->depth - 1].open, "unbalanced '('");
	if (s->plain_only && s->items < PAT_PLAIN_MIN)
		s->usable = false;	/* ClamAV's Boyer-Moore side refuses it */
	return pat_end_part(s, s->len - 1, false);
}

static void
pat_init(struct pat *s, const char *p, size_t len, const char *prefix,
    char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->len = p != NULL ? len : 0;
	s->prefix = prefix;
	s->err = err;
	s->errlen = errlen;
	s->usable = true;
	s->plain_only = true;
}

int
sig_ndb_pattern_check(const char *pat, size_t len, char *err, size_t errlen)
{
	struct pat s;

	pat_init(&s, pat, len, "", err, errlen);
	return pat_run(&s);
}

/* ---- .ndb ------------------------------------------------------------- */

static bool
has_prefix(struct sig_str f, const char *pre, size_t n)
{
	return f.len >= n && memcmp(f.p, pre, n) == 0;
}

static bool
dec_rest(struct sig_str f, size_t from, uint64_t *v)
{
	return dec_field(f.p + from, f.len - from, UINT64_MAX, v) == DEC_OK;
}

/* Sx+n: section x (decimal) plus n. */
static bool
is_section_plus(struct sig_str f)
{
	size_t i = 1;
	uint64_t v;

	if (dec_scan(f.p, f.len, &i, UINT64_MAX, &v) != DEC_OK ||
	    i >= f.len || f.p[i] != '+')
		return false;
	return dec_rest(f, i + 1, &v);
}

/* $n$: a macro group offset, n up to OFF_MACRO_MAX. */
static bool
is_macro(struct sig_str b)
{
	uint64_t n;

	return b.len >= 3 && b.p[0] == '$' && b.p[b.len - 1] == '$' &&
	    dec_field(b.p + 1, b.len - 2, OFF_MACRO_MAX, &n) == DEC_OK;
}

/* The offset before any ",maxshift"; -1 if not one ClamAV knows. */
static int
offset_kind(struct sig_str b, uint64_t *v)
{
	uint64_t x;

	if (is_macro(b))
		return OFF_MACRO;
	if (dec_rest(b, 0, v))
		return SIG_OFF_ABS;
	if (has_prefix(b, "EOF-", 4) && dec_rest(b, 4, v))
		return SIG_OFF_EOF;
	if ((has_prefix(b, "EP+", 3) || has_prefix(b, "EP-", 3) ||
	    has_prefix(b, "SL+", 3)) && dec_rest(b, 3, &x))
		return SIG_OFF_OTHER;
	if (has_prefix(b, "SE", 2) && dec_rest(b, 2, &x))
		return SIG_OFF_OTHER;
	if (has_prefix(b, "S", 1) && is_section_plus(b))
		return SIG_OFF_OTHER;
	if (b.len == 2 && has_prefix(b, "VI", 2))
		return SIG_OFF_OTHER;
	return -1;
}

static int
ndb_offset(struct ctx *c, struct sig_str f)
{
	struct sig_ndb *n = &c->out->u.ndb;
	struct sig_str b = f;
	const char *comma;
	int kind;

	if (f.len == 0)
		return sig_err(c->err, c->errlen, "field 3 (offset): empty");
	if (f.len > NDB_OFFSET_MAX)
		return sig_err(c->err, c->errlen, "field 3 (offset): %zu bytes, limit %d", f.len, NDB_OFFSET_MAX);
	if (f.len == 1 && f.p[0] == '*') {
		n->offset_kind = SIG_OFF_ANY;
		return 0;
	}
	if ((comma = memchr(f.p, ',', f.len)) != NULL) {
		b.len = (size_t)(comma - f.p);
		if (!dec_rest(f, b.len + 1, &n->maxshift))
			return sig_err(c->err, c->errlen, "field 3 (offset): maxshift '%s' is not an unsigned decimal", show(comma + 1, f.len - b.len - 1).s);
		n->has_maxshift = true;
	}
	if ((kind = offset_kind(b, &n->offset)) == -1)
		return sig_err(c->err, c->errlen, "field 3 (offset): '%s' is not *, n, EOF-n, EP+n, EP-n, Sx+n, SEx, SL+n, VI or $n$ (each but * with an optional ,maxshift)", show(b.p, b.len).s);
	n->offset_kind = kind == OFF_MACRO ? SIG_OFF_OTHER :
	    (enum sig_offset_kind)kind;
	if (kind == SIG_OFF_OTHER && n->target != 1 && n->target != 6 &&
	    n->target != 9)
		return sig_err(c->err, c->errlen, "field 3 (offset): '%s' needs TargetType 1 (PE), 6 (ELF) or 9 (Mach-O), not %u", show(b.p, b.len).s, n->target);
	return 0;
}

static int
ndb_target(struct ctx *c, struct sig_str f)
{
	uint64_t v;

	if (f.len == 1 && f.p[0] == '*')
		v = 0;	/* ClamAV reads `*` as 0, any file */
	else if (dec_field(f.p, f.len, UINT_MAX, &v) != DEC_OK)
		return sig_err(c->err, c->errlen, "field 2 (target): '%s' is not a TargetType (0 to %d, or *)", show(f.p, f.len).s, NDB_TARGET_MAX);
	c->out->u.ndb.target = (unsigned)v;
	return 0;
}

static int
ndb_parse(struct ctx *c)
{
	struct sig_str f[NDB_FIELDS_MAX];
	struct flevels fl = { 0 };
	struct sig_ndb *nd = &c->out->u.ndb;
	struct pat s;
	size_t n = split_fields(c->p, c->len, f, NDB_FIELDS_MAX);
	int rc;

	if (n < NDB_FIELDS_MIN)
		return sig_err(c->err, c->errlen, "%zu fields, want 4 to 6 (Name:TargetType:Offset:HexSig[:MinFL[:MaxFL]])", n);
	if (n > NDB_FIELDS_MAX)
		return sig_err(c->err, c->errlen, "more than 6 fields; want Name:TargetType:Offset:HexSig[:MinFL[:MaxFL]]");
	if ((rc = name_field(c, f[0], 1)) != 0 ||
	    (rc = fl_fields(c, f + 4, n - 4, 5, &fl)) != 0)
		return rc;
	nd->pattern = f[3];
	if (fl_excludes(&fl)) {
		c->out->flevel_skip = true;
		return SIG_OK;
	}
	if ((rc = ndb_target(c, f[1])) != 0)
		return rc;
	if (nd->target > NDB_TARGET_MAX)
		return SIG_OK;	/* ClamAV skips it unread */
	pat_init(&s, f[3].p, f[3].len, "field 4 (hexsig): ", c->err,
	    c->errlen);
	if ((rc = ndb_offset(c, f[2])) != 0 || (rc = pat_run(&s)) != 0)
		return rc;
	c->out->loadable = s.usable && nd->offset_kind != SIG_OFF_OTHER;
	return SIG_OK;
}

/* ---- .ign2 ------------------------------------------------------------ */

static int
ign2_parse(struct ctx *c)
{
	struct sig_str f[IGN2_FIELDS_MAX];
	size_t n = split_fields(c->p, c->len, f, IGN2_FIELDS_MAX), end;
	size_t start;
	int rc;

	if (n > IGN2_FIELDS_MAX)
		return sig_err(c->err, c->errlen, "more than 3 fields; want Name, Name:MD5 or the old x:y:Name");
	if (n == 2) {
		start = (size_t)(f[1].p - c->p);
		if ((rc = digest_take(c, start, start + f[1].len, HLEN_MD5,
		    2, "md5", &end)) != 0)
			return rc;
	}
	if ((rc = name_field(c, f[n == 3 ? 2 : 0], n == 3 ? 3 : 1)) != 0)
		return rc;
	c->out->loadable = true;
	return SIG_OK;
}

/* ---- entry points ----------------------------------------------------- */

static bool
line_is_blank(const char *p, size_t len)
{
	if (len == 0 || p[0] == '#')
		return true;
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\v' && p[i] != '\f')
			return false;
	return true;
}

static int
sig_dispatch(struct ctx *c)
{
	switch (c->t) {
	case SIG_TYPE_HDB:
	case SIG_TYPE_HSB:
	case SIG_TYPE_FP:
	case SIG_TYPE_SFP:
		return hash_parse(c);
	case SIG_TYPE_NDB:
		return ndb_parse(c);
	case SIG_TYPE_IGN2:
		return ign2_parse(c);
	default:
		return sig_err(c->err, c->errlen, "lines of type %s are not parsed", sig_type_name(c->t));
	}
}

int
sig_parse_line(enum sig_type t, const char *line, size_t len,
    struct sig *out, char *err, size_t errlen)
{
	struct ctx c = { line, len, t, out, err, errlen };
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return sig_err(err, errlen, "no place for the result");
	memset(out, 0, sizeof(*out));
	out->type = t;
	if (line == NULL && len > 0)
		return sig_err(err, errlen, "no line");
	while (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > SIG_LINE_MAX)
		return sig_err(err, errlen, "line too long: %zu bytes, limit %d", len, SIG_LINE_MAX);
	if (line_is_blank(line, len))
		return SIG_SKIP;
	c.len = len;
	if ((rc = sig_dispatch(&c)) == SIG_EINVAL) {
		memset(out, 0, sizeof(*out));	/* set only on success */
		out->type = t;
	}
	return rc;
}

static bool
ext_equal(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;

		if (ca != *b)
			return false;
	}
	return *a == *b;
}

enum sig_type
sig_type_from_name(const char *name)
{
	const char *dot;

	if (name == NULL || (dot = strrchr(name, '.')) == NULL)
		return SIG_TYPE_OTHER;
	for (int t = 0; t < SIG_TYPE_OTHER; t++)
		if (ext_equal(dot + 1, sig_type_names[t]))
			return (enum sig_type)t;
	return SIG_TYPE_OTHER;
}

const char *
sig_type_name(enum sig_type t)
{
	if ((unsigned)t > SIG_TYPE_OTHER)
		return sig_type_names[SIG_TYPE_OTHER];
	return sig_type_names[t];
}
