/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Incremental updates (.cdiff) and the .cld they produce.
 *
 * A .cdiff is read whole (it is small: CVD_CDIFF_MAX_FILE_SIZE), decoded
 * (header, gzip, trailer syntax), its signature checked, then its script
 * run once "dry" to check syntax, names and limits before any file is
 * touched.  Applying runs the same interpreter for real: each OPEN ...
 * CLOSE block streams the original file through its DEL/XCHG edits (line
 * numbers of the file as it was at OPEN) into a temporary file in the same
 * directory, appends the block's ADD lines, and renames it over the
 * original.  Only the edits of one block are held in memory, never a file.
 *
 * The detached .cdiff.sign is the same #clamsign-1.0 PKCS#7 as a .cvd.sign
 * and, like it, covers every byte of the .cdiff file, the trailer included
 * (checked on test-2..6.cdiff.sign: the signature over the bytes before
 * the last ':' does not verify, over the whole file it does).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <zlib.h>

#include "cdiff.h"
#include "dsig.h"
#include "info.h"
#include "signfile.h"
#include "tar.h"
#include "statefile.h"
#include "trust.h"
#include "util.h"

#define CDIFF_MAGIC "ClamAV-Diff:"
#define CDIFF_IOBUF (1U << 16)
#define CDIFF_QUOTE_MAX 48                 /* untrusted text shown in messages */

struct cvd_cdiff {
	unsigned version;
	enum cvd_signer_kind signer;
	char signer_name[256];
	char dbname[CVD_CDIFF_DBNAME_MAX + 1];
	char display[512];             /* the file, for messages */
	uint8_t *script;
	size_t script_len;
};

/* ---- small helpers ---------------------------------------------------- */

/* Untrusted bytes for a message: printable ASCII, cut with "...". */
static const char *
cdiff_quote(const char *s, size_t n, char *buf, size_t buflen)
{
	size_t i, max = buflen > 4 ? buflen - 4 : 0;

	if (max > CDIFF_QUOTE_MAX)
		max = CDIFF_QUOTE_MAX;
	for (i = 0; i < n && i < max; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool
cdiff_dbname_ok(const char *s, size_t n)
{
	if (n == 0 || n > CVD_CDIFF_DBNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int
cdiff_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- the container: header, gzip, trailer ------------------------------ */

/* An unsigned decimal of 1..maxdigits digits ending at a ':'. */
static bool
cdiff_field(const uint8_t *buf, size_t len, size_t *pos, size_t maxdigits,
    uint64_t *out)
{
	size_t i = *pos;

	while (i < len && i - *pos <= maxdigits && buf[i] != ':')
		i++;
	if (i == len || buf[i] != ':' ||
	    num_u64((const char *)buf + *pos, i - *pos, 0, out) != NUM_OK)
		return false;
	*pos = i + 1;
	return true;
}

static int
cdiff_header(const uint8_t *buf, size_t len, struct cdiff_layout *l,
    char *err, size_t errlen)
{
	size_t pos = strlen(CDIFF_MAGIC);
	uint64_t v;

	if (len < pos || memcmp(buf, CDIFF_MAGIC, pos) != 0)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "does not start with '" CDIFF_MAGIC "'");
	if (!cdiff_field(buf, len, &pos, 10, &v) || v == 0 || v > UINT32_MAX)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 2 (version): not a decimal of 1..4294967295 followed by ':'");
	l->version = (unsigned)v;
	if (!cdiff_field(buf, len, &pos, 20, &l->script_len))
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 3 (script length): not a decimal followed by ':'");
	if (l->script_len == 0 || l->script_len > CVD_CDIFF_MAX_SCRIPT)
		return cvd_seterr(err, errlen, CVD_ELIMIT,
		    "header says the script is %llu bytes; want 1..%u",
		    (unsigned long long)l->script_len, CVD_CDIFF_MAX_SCRIPT);
	l->header_len = pos;
	return 0;
}

/* The trailer: after the last ':', which is after the header. */
static int
cdiff_trailer(const uint8_t *buf, size_t len, struct cdiff_layout *l,
    char *err, size_t errlen)
{
	const uint8_t *colon = memrchr(buf, ':', len);
	size_t siglen;

	if (colon == NULL || (size_t)(colon - buf) < l->header_len)
		return cvd_seterr(err, errlen, CVD_EPAYLOAD,
		    "no ':' and signature after the gzip stream (file cut?)");
	siglen = len - (size_t)(colon - buf) - 1;
	if (siglen == 0 || siglen > CVD_DSIG_MAX ||
	    !cvd_is_b64((const char *)colon + 1, siglen))
		return cvd_seterr(err, errlen, CVD_ESIG,
		    "the signature after the last ':' is not 1..%d base-64 digits (%zu bytes)",
		    CVD_DSIG_MAX, siglen);
	l->signed_len = (size_t)(colon - buf);
	l->sig = (const char *)colon + 1;
	l->siglen = siglen;
	return 0;
}

/* Inflate the gzip stream at in (it ends before inlen); *used: its size. */
static int
cdiff_inflate(const uint8_t *in, size_t inlen, struct cdiff_layout *l,
    size_t *used, char *err, size_t errlen)
{
	size_t cap = l->script_len < CDIFF_IOBUF ? l->script_len : CDIFF_IOBUF;
	z_stream z = { 0 };
	uint8_t *out;
	int zr = Z_OK, rc = 0;

	/* grow towards the declared length: a short file never costs 64 MiB */
	if ((out = malloc(cap + 1)) == NULL)
		return CVD_ENOMEM;
	if (inflateInit2(&z, 16 + 15) != Z_OK) {
		free(out);
		return CVD_ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	while (zr == Z_OK) {
		if (z.total_out == cap && cap < l->script_len + 1) {
			size_t ncap = cap * 2 > l->script_len ? l->script_len + 1 : cap * 2;
			uint8_t *n = realloc(out, ncap + 1);

			if (n == NULL) {
				rc = CVD_ENOMEM;
				break;
			}
			out = n;
			cap = ncap;
		}
		if (z.total_out > l->script_len) {
			rc = cvd_seterr(err, errlen, CVD_EPAYLOAD,
			    "the script is longer than the %llu bytes the header says",
			    (unsigned long long)l->script_len);
			break;
		}
		z.avail_in = (uInt)(inlen - z.total_in);
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_BUF_ERROR && z.avail_in == 0)
			rc = cvd_seterr(err, errlen, CVD_EPAYLOAD,
			    "gzip stream: truncated (%zu bytes in)", inlen);
		else if (zr != Z_OK && zr != Z_STREAM_END)
			rc = cvd_seterr(err, errlen, CVD_EPAYLOAD, "gzip stream: %s",
			    z.msg ? z.msg : "corrupt");
	}
	if (rc == 0 && z.total_out != l->script_len)
		rc = cvd_seterr(err, errlen, CVD_EPAYLOAD,
		    "the script is %lu bytes, the header says %llu", z.total_out,
		    (unsigned long long)l->script_len);
	*used = z.total_in;
	inflateEnd(&z);
	if (rc != 0) {
		free(out);
		return rc;
	}
	l->script = out;
	return 0;
}

/*
 * The signature is found from the end (the last ':'), so that it can be
 * checked whatever the rest holds; the gzip stream from the start, and it
 * must end exactly at that ':'.
 */
int
cdiff_decode(const uint8_t *buf, size_t len, struct cdiff_layout *l,
    char *err, size_t errlen)
{
	char terr[CVD_ERRMSG_MAX] = "";
	size_t used = 0, end;
	int rc, trc;

	memset(l, 0, sizeof(*l));
	if ((rc = cdiff_header(buf, len, l, err, errlen)) != 0)
		return rc;
	trc = cdiff_trailer(buf, len, l, terr, sizeof(terr));
	if ((rc = cdiff_inflate(buf + l->header_len, len - l->header_len, l,
	    &used, err, errlen)) != 0)
		return rc;
	end = l->header_len + used;
	if (end == len)
		rc = cvd_seterr(err, errlen, CVD_EPAYLOAD,
		    "no ':' and signature after the gzip stream (file cut?)");
	else if (buf[end] == ':' && trc != 0)
		rc = cvd_seterr(err, errlen, trc, "%s", terr);
	else if (buf[end] != ':' || end != l->signed_len)
		rc = cvd_seterr(err, errlen, CVD_EPAYLOAD,
		    "%zu bytes between the end of the gzip stream and the signature",
		    (trc == 0 && l->signed_len > end ? l->signed_len : len) - end);
	if (rc != 0) {
		free(l->script);
		l->script = NULL;
	}
	return rc;
}

void
cdiff_layout_free(struct cdiff_layout *l)
{
	free(l->script);
	memset(l, 0, sizeof(*l));
}

/* ---- the script interpreter ------------------------------------------- */

enum cdiff_op { CDIFF_OPEN, CDIFF_ADD, CDIFF_DEL, CDIFF_XCHG, CDIFF_CLOSE,
	CDIFF_UNLINK };

struct cdiff_cmd {
	enum cdiff_op op;
	const char *arg;          /* OPEN/UNLINK: name; ADD: line; DEL/XCHG: prefix */
	size_t arglen;
	const char *repl;         /* XCHG: the new line */
	size_t repllen;
	uint64_t target;          /* DEL/XCHG: line number, from 1 */
};

struct cdiff_edit {
	uint64_t target;
	const char *prefix, *repl;   /* repl NULL: DEL */
	size_t plen, rlen;
	size_t line;                 /* script line */
};

struct cdiff_out {
	int fd;
	uint8_t *buf;
	size_t n;
	uint64_t total;
	int last;                    /* last byte written, -1 before any */
};

struct cdiff_run {
	const struct cvd_cdiff *cd;
	int dirfd;                   /* -1: check only */
	const char *dir;             /* apply: its name, for messages */
	char *err;
	size_t errlen;
	size_t line, off;            /* the current script line and its offset */
	/* the file open */
	bool open;
	char name[CVD_MEMBER_NAME_MAX + 1];
	size_t open_line, block_off;
	struct cdiff_edit *edits;
	size_t nedits, edits_cap;
	size_t nfiles;
	bool info_seen;
	char dbname[CVD_CDIFF_DBNAME_MAX + 1];
	uint8_t *inbuf;              /* apply: read buffer */
	struct cdiff_out out;        /* apply: the temporary file */
};

static int cdiff_fail(struct cdiff_run *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE: script line N: why" */
static int
cdiff_fail(struct cdiff_run *r, int code, const char *fmt, ...)
{
	char why[CVD_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return cvd_seterr(r->err, r->errlen, code, "%s: script line %zu: %s",
	    r->cd->display, r->line, why);
}

/* Split one script line into a command; syntax only. */
static int
cdiff_parse_line(struct cdiff_run *r, const char *s, size_t n,
    struct cdiff_cmd *c)
{
	static const struct { const char *word; enum cdiff_op op; } words[] = {
		{ "OPEN", CDIFF_OPEN }, { "ADD", CDIFF_ADD }, { "DEL", CDIFF_DEL },
		{ "XCHG", CDIFF_XCHG }, { "CLOSE", CDIFF_CLOSE },
		{ "UNLINK", CDIFF_UNLINK },
	};
	const char *sp = memchr(s, ' ', n), *rest, *p;
	size_t wl = sp ? (size_t)(sp - s) : n, rl;
	char q[CDIFF_QUOTE_MAX + 4];
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == wl && memcmp(words[i].word, s, wl) == 0)
			break;
	if (i == sizeof(words) / sizeof(words[0]))
		return cdiff_fail(r, CVD_ECONTENT, "unknown command '%s'",
		    cdiff_quote(s, wl, q, sizeof(q)));
	c->op = words[i].op;
	rest = sp ? sp + 1 : s + n;
	rl = (size_t)(s + n - rest);
	switch (c->op) {
	case CDIFF_CLOSE:
		if (sp != NULL)
			return cdiff_fail(r, CVD_ECONTENT, "CLOSE takes no argument");
		return 0;
	case CDIFF_OPEN:
	case CDIFF_UNLINK:
	case CDIFF_ADD:
		if (rl == 0)
			return cdiff_fail(r, CVD_ECONTENT, "%s needs %s", words[i].word,
			    c->op == CDIFF_ADD ? "a line to add" : "a file name");
		c->arg = rest;
		c->arglen = rl;
		return 0;
	case CDIFF_DEL:
	case CDIFF_XCHG:
		break;
	}
	/* DEL n prefix | XCHG n prefix new line */
	sp = memchr(rest, ' ', rl);
	if (sp == NULL ||
	    num_u64(rest, (size_t)(sp - rest), 0, &c->target) != NUM_OK ||
	    c->target == 0)
		return cdiff_fail(r, CVD_ECONTENT,
		    "%s: want a line number (from 1), a space and a prefix",
		    words[i].word);
	c->arg = sp + 1;
	p = memchr(c->arg, ' ', (size_t)(s + n - c->arg));
	c->arglen = (size_t)((p ? p : s + n) - c->arg);
	if (c->arglen == 0)
		return cdiff_fail(r, CVD_ECONTENT, "%s: empty prefix", words[i].word);
	if (c->op == CDIFF_DEL && p != NULL)
		return cdiff_fail(r, CVD_ECONTENT,
		    "DEL: want 'DEL n prefix', found more after the prefix");
	if (c->op == CDIFF_XCHG) {
		if (p == NULL || p + 1 == s + n)
			return cdiff_fail(r, CVD_ECONTENT,
			    "XCHG: want 'XCHG n prefix new line', the new line is missing");
		c->repl = p + 1;
		c->repllen = (size_t)(s + n - c->repl);
	}
	return 0;
}

/* A plain NAME.ext of the cdiff's one database. */
static int
cdiff_check_name(struct cdiff_run *r, const char *s, size_t n)
{
	char q[CDIFF_QUOTE_MAX + 4];
	const char *dot;

	if (n > CVD_MEMBER_NAME_MAX)
		return cdiff_fail(r, CVD_ECONTENT, "file name of %zu bytes (at most %d)",
		    n, CVD_MEMBER_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
		    c == '+'))
			return cdiff_fail(r, CVD_ECONTENT,
			    "file name '%s' is not plain (byte %zu: letters, digits, . _ - + only)",
			    cdiff_quote(s, n, q, sizeof(q)), i + 1);
	}
	dot = memchr(s, '.', n);
	if (s[0] == '.' || memmem(s, n, "..", 2) != NULL || s[n - 1] == '.' ||
	    dot == NULL)
		return cdiff_fail(r, CVD_ECONTENT,
		    "file name '%s' is not NAME.ext (no leading '.', no '..')",
		    cdiff_quote(s, n, q, sizeof(q)));
	if (!cdiff_dbname_ok(s, (size_t)(dot - s)))
		return cdiff_fail(r, CVD_ECONTENT,
		    "file name '%s': the database name is not 1..%d letters, digits, _ or -",
		    cdiff_quote(s, n, q, sizeof(q)), CVD_CDIFF_DBNAME_MAX);
	if (r->dbname[0] == '\0') {
		memcpy(r->dbname, s, (size_t)(dot - s));
		r->dbname[dot - s] = '\0';
	} else if (strlen(r->dbname) != (size_t)(dot - s) ||
	    memcmp(r->dbname, s, (size_t)(dot - s)) != 0) {
		return cdiff_fail(r, CVD_ECONTENT,
		    "file '%s' is not of database '%s', which the cdiff edits",
		    cdiff_quote(s, n, q, sizeof(q)), r->dbname);
	}
	return 0;
}

static bool
cdiff_is_info(const struct cdiff_run *r, const char *name)
{
	size_t n = strlen(r->dbname);

	return strncmp(name, r->dbname, n) == 0 && strcmp(name + n, ".info") == 0;
}

static int
cdiff_edit_cmp(const void *a, const void *b)
{
	const struct cdiff_edit *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
cdiff_add_edit(struct cdiff_run *r, const struct cdiff_cmd *c)
{
	struct cdiff_edit *e;

	if (r->nedits == CVD_CDIFF_MAX_EDITS)
		return cdiff_fail(r, CVD_ELIMIT,
		    "more than %u DEL/XCHG for %s", CVD_CDIFF_MAX_EDITS, r->name);
	if (r->nedits == r->edits_cap) {
		size_t cap = r->edits_cap ? r->edits_cap * 2 : 64;

		if ((e = realloc(r->edits, cap * sizeof(*e))) == NULL)
			return cdiff_fail(r, CVD_ENOMEM, "out of memory");
		r->edits = e;
		r->edits_cap = cap;
	}
	e = &r->edits[r->nedits++];
	e->target = c->target;
	e->prefix = c->arg;
	e->plen = c->arglen;
	e->repl = c->op == CDIFF_XCHG ? c->repl : NULL;
	e->rlen = c->repllen;
	e->line = r->line;
	return 0;
}

/* ---- applying one OPEN ... CLOSE block ------------------------------- */

static int
cdiff_out_flush(struct cdiff_run *r)
{
	struct cdiff_out *o = &r->out;

	if (o->n > 0 && cdiff_write_all(o->fd, o->buf, o->n) != 0)
		return cdiff_fail(r, CVD_EWRITE, "writing %s: %s", r->name,
		    strerror(errno));
	o->n = 0;
	return 0;
}

static int
cdiff_out_put(struct cdiff_run *r, const void *p, size_t n)
{
	struct cdiff_out *o = &r->out;
	int rc;

	if (n == 0)
		return 0;
	if (o->total + n > CVD_CDIFF_MAX_EDITED)
		return cdiff_fail(r, CVD_ELIMIT, "%s would grow past %llu bytes",
		    r->name, (unsigned long long)CVD_CDIFF_MAX_EDITED);
	o->total += n;
	o->last = ((const uint8_t *)p)[n - 1];
	if (n > CDIFF_IOBUF - o->n) {
		if ((rc = cdiff_out_flush(r)) != 0)
			return rc;
		if (n >= CDIFF_IOBUF)
			return cdiff_write_all(o->fd, p, n) == 0 ? 0 :
			    cdiff_fail(r, CVD_EWRITE, "writing %s: %s", r->name,
			    strerror(errno));
	}
	memcpy(o->buf + o->n, p, n);
	o->n += n;
	return 0;
}

static int
cdiff_mismatch(struct cdiff_run *r, const struct cdiff_edit *e)
{
	char q[CDIFF_QUOTE_MAX + 4];
	size_t line = r->line;
	int rc;

	r->line = e->line;
	rc = cdiff_fail(r, CVD_ECONTENT, "%s: %s line %llu does not start with '%s'",
	    e->repl ? "XCHG" : "DEL", r->name, (unsigned long long)e->target,
	    cdiff_quote(e->prefix, e->plen, q, sizeof(q)));
	r->line = line;
	return rc;
}

/* Stream the original (in, or none: -1) through the sorted edits. */
static int
cdiff_copy_edited(struct cdiff_run *r, int in)
{
	const struct cdiff_edit *cur = NULL;
	uint64_t lineno = 1, lines;
	size_t ei = 0, matched = 0;
	bool at_start = true;
	ssize_t n = 0;
	int rc;

	while (in >= 0 && ((n = read(in, r->inbuf, CDIFF_IOBUF)) > 0 ||
	    (n < 0 && errno == EINTR))) {
		const uint8_t *p = r->inbuf, *end = p + (n > 0 ? n : 0);

		while (p < end) {
			const uint8_t *nl;
			size_t seg;

			if (at_start) {
				at_start = false;
				matched = 0;
				cur = ei < r->nedits && r->edits[ei].target == lineno ?
				    &r->edits[ei++] : NULL;
				if (cur && cur->repl &&
				    ((rc = cdiff_out_put(r, cur->repl, cur->rlen)) != 0 ||
				    (rc = cdiff_out_put(r, "\n", 1)) != 0))
					return rc;
			}
			nl = memchr(p, '\n', (size_t)(end - p));
			seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (cur == NULL) {
				if ((rc = cdiff_out_put(r, p, seg + (nl != NULL))) != 0)
					return rc;
			} else if (matched < cur->plen) {
				size_t m = seg < cur->plen - matched ? seg : cur->plen - matched;

				if (memcmp(p, cur->prefix + matched, m) != 0)
					return cdiff_mismatch(r, cur);
				matched += m;
			}
			p += seg;
			if (nl != NULL) {
				if (cur != NULL && matched < cur->plen)
					return cdiff_mismatch(r, cur);
				p++;
				lineno++;
				at_start = true;
			}
		}
	}
	if (n < 0)
		return cdiff_fail(r, CVD_EIO, "reading %s: %s", r->name,
		    strerror(errno));
	if (!at_start && cur != NULL && matched < cur->plen)
		return cdiff_mismatch(r, cur);
	lines = at_start ? lineno - 1 : lineno;
	if (ei < r->nedits) {
		r->line = r->edits[ei].line;
		return cdiff_fail(r, CVD_ECONTENT,
		    "%s: line %llu is beyond the end of %s (%llu lines)",
		    r->edits[ei].repl ? "XCHG" : "DEL",
		    (unsigned long long)r->edits[ei].target, r->name,
		    (unsigned long long)lines);
	}
	return 0;
}

/* The block's ADD lines, from its OPEN to this CLOSE, after the rest. */
static int
cdiff_copy_adds(struct cdiff_run *r)
{
	const char *s = (const char *)r->cd->script;
	size_t off = r->block_off;
	bool first = true;
	int rc;

	while (off < r->off) {
		const char *nl = memchr(s + off, '\n', r->off - off);
		size_t ll = (size_t)(nl - (s + off));

		if (ll > 4 && memcmp(s + off, "ADD ", 4) == 0) {
			/* a last original line without its newline gets one */
			if (first && r->out.last >= 0 && r->out.last != '\n' &&
			    (rc = cdiff_out_put(r, "\n", 1)) != 0)
				return rc;
			first = false;
			if ((rc = cdiff_out_put(r, s + off + 4, ll - 4)) != 0 ||
			    (rc = cdiff_out_put(r, "\n", 1)) != 0)
				return rc;
		}
		off += ll + 1;
	}
	return 0;
}

static int
cdiff_open_original(struct cdiff_run *r, int *in)
{
	struct stat st;

	*in = openat(r->dirfd, r->name,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*in < 0 && errno == ENOENT)
		return 0;    /* a new file */
	if (*in < 0)
		return cdiff_fail(r, CVD_EIO, "OPEN %s: %s", r->name,
		    errno == ELOOP ? "a symbolic link" : strerror(errno));
	if (fstat(*in, &st) != 0 || !S_ISREG(st.st_mode))
		return cdiff_fail(r, CVD_EIO, "OPEN %s: not a regular file", r->name);
	if ((uint64_t)st.st_size > CVD_CDIFF_MAX_EDITED)
		return cdiff_fail(r, CVD_ELIMIT, "OPEN %s: %llu bytes, over %llu",
		    r->name, (unsigned long long)st.st_size,
		    (unsigned long long)CVD_CDIFF_MAX_EDITED);
	return 0;
}

/* CLOSE: write the edited file beside the original, then rename it. */
static int
cdiff_write_file(struct cdiff_run *r)
{
	struct statefile_tmp t = { .dirfd = -1, .fd = -1 };
	char why[CVD_ERRMSG_MAX];
	int in = -1, rc;

	r->out = (struct cdiff_out){ .fd = -1, .buf = r->out.buf, .last = -1 };
	if ((rc = cdiff_open_original(r, &in)) != 0)
		goto out;
	if (statefile_open_at(&t, r->dirfd, r->dir, r->name, 0644, 0, why,
	    sizeof(why)) != 0) {
		rc = cdiff_fail(r, CVD_EWRITE, "CLOSE %s: %s", r->name, why);
		goto out;
	}
	r->out.fd = t.fd;       /* t's: closed by t */
	if ((rc = cdiff_copy_edited(r, in)) != 0 ||
	    (rc = cdiff_copy_adds(r)) != 0 || (rc = cdiff_out_flush(r)) != 0)
		goto out;
	if (statefile_commit(&t, why, sizeof(why)) != 0)
		rc = cdiff_fail(r, CVD_EWRITE, "CLOSE %s: %s", r->name, why);
out:
	if (in >= 0)
		close(in);
	r->out.fd = -1;
	statefile_abort(&t);
	return rc;
}

static int
cdiff_unlink(struct cdiff_run *r, const char *name)
{
	struct stat st;

	if (fstatat(r->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return cdiff_fail(r, errno == ENOENT ? CVD_ECONTENT : CVD_EIO,
		    "UNLINK %s: %s", name, errno == ENOENT ?
		    "no such file" : strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cdiff_fail(r, CVD_ECONTENT, "UNLINK %s: not a regular file",
		    name);
	if (unlinkat(r->dirfd, name, 0) != 0)
		return cdiff_fail(r, CVD_EWRITE, "UNLINK %s: %s", name,
		    strerror(errno));
	return 0;
}

/* ---- running the script ----------------------------------------------- */

static int
cdiff_close(struct cdiff_run *r)
{
	int rc;

	if (!r->open)
		return cdiff_fail(r, CVD_ECONTENT, "CLOSE without OPEN");
	if (r->nedits > 1)
		qsort(r->edits, r->nedits, sizeof(*r->edits), cdiff_edit_cmp);
	for (size_t i = 1; i < r->nedits; i++)
		if (r->edits[i].target == r->edits[i - 1].target) {
			r->line = r->edits[i].line;
			return cdiff_fail(r, CVD_ECONTENT,
			    "%s line %llu is already edited at script line %zu",
			    r->name, (unsigned long long)r->edits[i].target,
			    r->edits[i - 1].line);
		}
	if (r->dirfd >= 0 && (rc = cdiff_write_file(r)) != 0)
		return rc;
	r->open = false;
	r->nedits = 0;
	return 0;
}

static int
cdiff_exec(struct cdiff_run *r, const struct cdiff_cmd *c)
{
	char name[CVD_MEMBER_NAME_MAX + 1];
	int rc;

	switch (c->op) {
	case CDIFF_OPEN:
	case CDIFF_UNLINK:
		if (r->open)
			return cdiff_fail(r, CVD_ECONTENT,
			    "%s while %s is open (since script line %zu)",
			    c->op == CDIFF_OPEN ? "OPEN" : "UNLINK", r->name,
			    r->open_line);
		if ((rc = cdiff_check_name(r, c->arg, c->arglen)) != 0)
			return rc;
		if (++r->nfiles > CVD_CDIFF_MAX_FILES)
			return cdiff_fail(r, CVD_ELIMIT,
			    "more than %d OPEN/UNLINK commands", CVD_CDIFF_MAX_FILES);
		memcpy(name, c->arg, c->arglen);
		name[c->arglen] = '\0';
		if (c->op == CDIFF_UNLINK) {
			if (cdiff_is_info(r, name))
				return cdiff_fail(r, CVD_ECONTENT,
				    "UNLINK of the database's %s", name);
			return r->dirfd >= 0 ? cdiff_unlink(r, name) : 0;
		}
		memcpy(r->name, name, sizeof(name));
		r->open = true;
		r->open_line = r->line;
		r->block_off = r->off;   /* cdiff_copy_adds starts here */
		r->nedits = 0;
		if (cdiff_is_info(r, name))
			r->info_seen = true;
		return 0;
	case CDIFF_CLOSE:
		return cdiff_close(r);
	case CDIFF_ADD:
	case CDIFF_DEL:
	case CDIFF_XCHG:
		if (!r->open)
			return cdiff_fail(r, CVD_ECONTENT,
			    "%s outside OPEN ... CLOSE", c->op == CDIFF_ADD ? "ADD" :
			    c->op == CDIFF_DEL ? "DEL" : "XCHG");
		return c->op == CDIFF_ADD ? 0 : cdiff_add_edit(r, c);
	}
	return cdiff_fail(r, CVD_ECONTENT, "unknown command");
}

/* After applying: NAME.info line 1 must carry the cdiff's version. */
static int
cdiff_check_version(struct cdiff_run *r)
{
	char info[CVD_MEMBER_NAME_MAX + 8], buf[CVD_HEADER_SIZE + 1];
	const char *f = buf, *e;
	uint64_t v = 0;
	ssize_t n;
	int fd, field = 0;

	snprintf(info, sizeof(info), "%s.info", r->dbname);
	fd = openat(r->dirfd, info, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return cvd_seterr(r->err, r->errlen, CVD_EIO,
		    "%s: after applying, %s: %s", r->cd->display, info,
		    strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* ClamAV-VDB:time:VERSION:... */
	while (field < 2 && (f = strchr(f, ':')) != NULL) {
		f++;
		field++;
	}
	if (strncmp(buf, "ClamAV-VDB:", 11) != 0 || f == NULL ||
	    (e = strchr(f, ':')) == NULL ||
	    num_u64(f, (size_t)(e - f), 0, &v) != NUM_OK)
		return cvd_seterr(r->err, r->errlen, CVD_EINFO,
		    "%s: after applying, %s line 1 is not a ClamAV-VDB header",
		    r->cd->display, info);
	if (v != r->cd->version)
		return cvd_seterr(r->err, r->errlen, CVD_EVERSION,
		    "%s: after applying, %s says version %llu, the cdiff is version %u",
		    r->cd->display, info, (unsigned long long)v, r->cd->version);
	return 0;
}

static int
cdiff_end(struct cdiff_run *r)
{
	if (r->open)
		return cvd_seterr(r->err, r->errlen, CVD_ECONTENT,
		    "%s: end of script (line %zu): missing CLOSE for %s (opened at script line %zu)",
		    r->cd->display, r->line, r->name, r->open_line);
	if (r->dbname[0] == '\0')
		return cvd_seterr(r->err, r->errlen, CVD_ECONTENT,
		    "%s: the script edits no file", r->cd->display);
	if (!r->info_seen)
		return cvd_seterr(r->err, r->errlen, CVD_ECONTENT,
		    "%s: the script does not edit %s.info (a cdiff must update the database's header line)",
		    r->cd->display, r->dbname);
	return 0;
}

/* Run the script: checks only (dirfd -1) or for real. */
static int
cdiff_run(struct cdiff_run *r)
{
	const char *s = (const char *)r->cd->script;
	size_t len = r->cd->script_len;
	struct cdiff_cmd c;
	int rc = 0;

	for (r->off = 0; rc == 0 && r->off < len;) {
		const char *p = s + r->off, *nl = memchr(p, '\n', len - r->off);
		size_t ll = nl ? (size_t)(nl - p) : len - r->off;

		r->line++;
		if (ll > CVD_CDIFF_MAX_LINE)
			rc = cdiff_fail(r, CVD_ELIMIT, "longer than %u bytes",
			    CVD_CDIFF_MAX_LINE);
		else if (ll == 0)
			rc = cdiff_fail(r, CVD_ECONTENT, "empty line");
		else if (memchr(p, '\0', ll) != NULL)
			rc = cdiff_fail(r, CVD_ECONTENT, "contains a NUL byte");
		else if (nl == NULL)
			rc = cdiff_fail(r, CVD_ECONTENT, "no newline at the end");
		else if ((rc = cdiff_parse_line(r, p, ll, &c)) == 0)
			rc = cdiff_exec(r, &c);
		r->off += ll + (nl != NULL);
	}
	if (rc == 0)
		rc = cdiff_end(r);
	if (rc == 0 && r->dirfd >= 0)
		rc = cdiff_check_version(r);
	return rc;
}

static void
cdiff_run_free(struct cdiff_run *r)
{
	free(r->edits);
	free(r->inbuf);
	free(r->out.buf);
}

/* The dry run cvd_cdiff_open does: sets cd->dbname. */
static int
cdiff_check(struct cvd_cdiff *cd, char *err, size_t errlen)
{
	struct cdiff_run r = { .cd = cd, .dirfd = -1, .err = err,
	    .errlen = errlen, .out = { .fd = -1 } };
	int rc = cdiff_run(&r);

	if (rc == 0)
		cvd_strlcpy(cd->dbname, r.dbname, sizeof(cd->dbname));
	cdiff_run_free(&r);
	return rc;
}

int
cvd_cdiff_apply(const struct cvd_cdiff *cd, const char *dir, char *err,
    size_t errlen)
{
	struct cdiff_run r = { .cd = cd, .dirfd = -1, .err = err,
	    .errlen = errlen, .out = { .fd = -1 } };
	int rc;

	if ((r.inbuf = malloc(CDIFF_IOBUF)) == NULL ||
	    (r.out.buf = malloc(CDIFF_IOBUF)) == NULL) {
		cdiff_run_free(&r);
		return cvd_seterr(err, errlen, CVD_ENOMEM, "out of memory");
	}
	if ((r.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		cdiff_run_free(&r);
		return cvd_seterr(err, errlen, CVD_EIO, "%s: %s", dir,
		    strerror(errno));
	}
	r.dir = dir;
	rc = cdiff_run(&r);     /* each file durable as its CLOSE ends */
	close(r.dirfd);
	cdiff_run_free(&r);
	return rc;
}

/* ---- opening a .cdiff ------------------------------------------------- */

static int
cdiff_read(const char *path, int *fdp, uint8_t **buf, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	size_t got = 0;
	int fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return cvd_seterr(err, errlen, CVD_EIO, "%s: %s", path,
		    strerror(errno));
	*fdp = fd;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return cvd_seterr(err, errlen, CVD_EIO, "%s: not a regular file",
		    path);
	if ((uint64_t)st.st_size > CVD_CDIFF_MAX_FILE_SIZE)
		return cvd_seterr(err, errlen, CVD_ELIMIT,
		    "%s: %llu bytes, over the .cdiff limit of %u", path,
		    (unsigned long long)st.st_size, CVD_CDIFF_MAX_FILE_SIZE);
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL)
		return CVD_ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, *buf + got, (size_t)st.st_size - got,
		    (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cvd_seterr(err, errlen, CVD_EIO, "%s: %s", path,
			    n < 0 ? strerror(errno) : "changed while read");
		got += (size_t)n;
	}
	*len = got;
	return 0;
}

/* The trailer against the official cdiff key and the operator keys. */
static int
cdiff_check_trailer(struct cvd_cdiff *cd, const struct cvd_trust *t,
    const uint8_t *buf, const struct cdiff_layout *l)
{
	uint8_t digest[32];

	SHA256(buf, l->signed_len, digest);
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct trust_key *k = &t->keys[i];

		if (!(k->roles & TRUST_ROLE_CDIFF) ||
		    !dsig_pss_verify(k->pkey, digest, l->sig, l->siglen))
			continue;
		cd->signer = k->official ? CVD_SIGNER_OFFICIAL : CVD_SIGNER_KEY;
		cvd_strlcpy(cd->signer_name, k->name, sizeof(cd->signer_name));
		return 0;
	}
	return CVD_ESIG;
}

/*
 * The signature: the .sign (when given or present, and a certificates dir
 * is configured) or else the trailer.  A structural error found first is
 * reported as the symptom of a signature that fails, as for a .cvd.
 */
static int
cdiff_verify(struct cvd_cdiff *cd, const char *path, const char *sign_path,
    const struct cvd_trust *t, int fd, const uint8_t *buf,
    const struct cdiff_layout *l, int drc, const char *derr, char *err,
    size_t errlen)
{
	char sp[4096], why[CVD_ERRMSG_MAX] = "";
	struct stat st;
	int rc;

	if (sign_path == NULL && (size_t)snprintf(sp, sizeof(sp), "%s.sign",
	    path) < sizeof(sp) && stat(sp, &st) == 0)
		sign_path = sp;
	if (sign_path != NULL && t->store != NULL) {
		rc = signfile_verify(t, sign_path, fd, cd->signer_name,
		    sizeof(cd->signer_name), why, sizeof(why));
		if (rc != 0)
			return drc ? cvd_seterr(err, errlen, rc,
			    "%s: %s (first symptom: %s)", path, why, derr) :
			    cvd_seterr(err, errlen, rc, "%s: %s", path, why);
		cd->signer = CVD_SIGNER_CERT;
		return 0;
	}
	if (l->sig == NULL)
		return cvd_seterr(err, errlen, drc, "%s: %s", path, derr);
	if (cdiff_check_trailer(cd, t, buf, l) == 0)
		return 0;
	if (drc != 0)
		return cvd_seterr(err, errlen, CVD_ESIG,
		    "%s: signature does not verify: the file was altered or cut (first symptom: %s)",
		    path, derr);
	return cvd_seterr(err, errlen, CVD_ESIG,
	    "%s: signature does not verify with the official cdiff key or any trusted key",
	    path);
}

int
cvd_cdiff_open(const char *path, const char *sign_path,
    const struct cvd_trust *trust, struct cvd_cdiff **out, char *err,
    size_t errlen)
{
	struct cdiff_layout l = { 0 };
	struct cvd_trust *own = NULL;
	struct cvd_cdiff *cd = NULL;
	char derr[CVD_ERRMSG_MAX] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, rc, drc;

	*out = NULL;
	if (trust == NULL) {
		if ((rc = cvd_trust_new(0, &own)) != 0)
			return cvd_seterr(err, errlen, rc, "out of memory");
		trust = own;
	}
	if ((rc = cdiff_read(path, &fd, &buf, &len, err, errlen)) != 0)
		goto out;
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		rc = cvd_seterr(err, errlen, CVD_ENOMEM, "out of memory");
		goto out;
	}
	cvd_strlcpy(cd->display, path, sizeof(cd->display));
	drc = cdiff_decode(buf, len, &l, derr, sizeof(derr));
	if (drc == CVD_ENOMEM) {
		rc = cvd_seterr(err, errlen, drc, "out of memory");
		goto out;
	}
	if ((rc = cdiff_verify(cd, path, sign_path, trust, fd, buf, &l, drc,
	    derr, err, errlen)) != 0)
		goto out;
	if (drc != 0) {
		rc = cvd_seterr(err, errlen, drc, "%s: %s", path, derr);
		goto out;
	}
	cd->version = l.version;
	cd->script = l.script;
	cd->script_len = (size_t)l.script_len;
	l.script = NULL;
	if ((rc = cdiff_check(cd, err, errlen)) != 0)
		goto out;
	*out = cd;
	cd = NULL;
out:
	if (fd >= 0)
		close(fd);
	cdiff_layout_free(&l);
	cvd_cdiff_free(cd);
	cvd_trust_free(own);
	free(buf);
	return rc;
}

int
cdiff_from_script(const uint8_t *script, size_t len, unsigned version,
    const char *display, struct cvd_cdiff **out, char *err, size_t errlen)
{
	struct cvd_cdiff *cd;
	int rc;

	*out = NULL;
	if (len > CVD_CDIFF_MAX_SCRIPT)
		return cvd_seterr(err, errlen, CVD_ELIMIT, "%s: script over %u bytes",
		    display, CVD_CDIFF_MAX_SCRIPT);
	if ((cd = calloc(1, sizeof(*cd))) == NULL ||
	    (cd->script = malloc(len + 1)) == NULL) {
		free(cd);
		return cvd_seterr(err, errlen, CVD_ENOMEM, "out of memory");
	}
	memcpy(cd->script, script, len);
	cd->script_len = len;
	cd->version = version;
	cd->signer = CVD_SIGNER_NONE;
	cvd_strlcpy(cd->display, display, sizeof(cd->display));
	if ((rc = cdiff_check(cd, err, errlen)) != 0) {
		cvd_cdiff_free(cd);
		return rc;
	}
	*out = cd;
	return 0;
}

unsigned
cvd_cdiff_version(const struct cvd_cdiff *cd)
{
	return cd->version;
}

const char *
cvd_cdiff_dbname(const struct cvd_cdiff *cd)
{
	return cd->dbname;
}

enum cvd_signer_kind
cvd_cdiff_signer(const struct cvd_cdiff *cd)
{
	return cd->signer;
}

const char *
cvd_cdiff_signer_name(const struct cvd_cdiff *cd)
{
	return cd->signer_name;
}

void
cvd_cdiff_free(struct cvd_cdiff *cd)
{
	if (cd == NULL)
		return;
	free(cd->script);
	free(cd);
}

/* ---- building the .cld ------------------------------------------------ */

struct cld {
	int dirfd, fd;             /* the directory, the temporary output */
	const char *dir;
	char info_name[CVD_MEMBER_NAME_MAX + 8];
	uint8_t *info;
	size_t info_len;
	struct cvd_info entries;
	uint64_t total;
	char *err;
	size_t errlen;
};

static int
cld_member(struct cld *b, const char *name)
{
	uint8_t h[TAR_BLOCK], *buf = NULL;
	uint64_t left;
	struct stat st;
	int in, rc = 0;

	in = openat(b->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = cvd_seterr(b->err, b->errlen, CVD_EIO, "%s/%s: %s", b->dir,
		    name, in < 0 ? strerror(errno) : "not a regular file");
		goto out;
	}
	b->total += (uint64_t)st.st_size;
	if ((uint64_t)st.st_size > CVD_MAX_MEMBER_SIZE ||
	    b->total > CVD_MAX_TOTAL_SIZE) {
		rc = cvd_seterr(b->err, b->errlen, CVD_ELIMIT,
		    "%s/%s: over the member or total size limit", b->dir, name);
		goto out;
	}
	tar_header_write(h, name, (uint64_t)st.st_size);
	if ((buf = malloc(CDIFF_IOBUF)) == NULL) {
		rc = CVD_ENOMEM;
		goto out;
	}
	if (cdiff_write_all(b->fd, h, TAR_BLOCK) != 0)
		goto werr;
	for (left = (uint64_t)st.st_size; left > 0;) {
		ssize_t n = read(in, buf, CDIFF_IOBUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (uint64_t)n > left) {
			rc = cvd_seterr(b->err, b->errlen, CVD_EIO,
			    "%s/%s: changed while building", b->dir, name);
			goto out;
		}
		if (cdiff_write_all(b->fd, buf, (size_t)n) != 0)
			goto werr;
		left -= (uint64_t)n;
	}
	memset(h, 0, sizeof(h));
	if (st.st_size % TAR_BLOCK &&
	    cdiff_write_all(b->fd, h, TAR_BLOCK - (size_t)(st.st_size % TAR_BLOCK)) != 0)
		goto werr;
	goto out;
werr:
	rc = cvd_seterr(b->err, b->errlen, CVD_EWRITE, "writing the .cld: %s",
	    strerror(errno));
out:
	if (in >= 0)
		close(in);
	free(buf);
	return rc;
}

/* NAME.info: its first line makes the header, its entries the order. */
static int
cld_read_info(struct cld *b, uint8_t hdr[CVD_HEADER_SIZE])
{
	char why[CVD_ERRMSG_MAX];
	struct cvd_header h;
	struct stat st;
	const uint8_t *nl;
	ssize_t n;
	int fd, rc;

	fd = openat(b->dirfd, b->info_name,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CVD_MAX_INFO_SIZE) {
		rc = cvd_seterr(b->err, b->errlen, CVD_EINFO,
		    "%s/%s: %s", b->dir, b->info_name, fd < 0 ? strerror(errno) :
		    "not a regular file of at most 1 MiB");
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((b->info = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return CVD_ENOMEM;
	}
	n = pread(fd, b->info, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size)
		return cvd_seterr(b->err, b->errlen, CVD_EIO, "%s/%s: short read",
		    b->dir, b->info_name);
	b->info_len = (size_t)n;
	nl = memchr(b->info, '\n', b->info_len);
	if (nl == NULL || nl - b->info >= CVD_HEADER_SIZE)
		return cvd_seterr(b->err, b->errlen, CVD_EINFO,
		    "%s/%s: line 1 is not a header line of at most %d bytes",
		    b->dir, b->info_name, CVD_HEADER_SIZE - 1);
	memset(hdr, ' ', CVD_HEADER_SIZE);
	memcpy(hdr, b->info, (size_t)(nl - b->info));
	if ((rc = cvd_header_parse(hdr, CVD_HEADER_SIZE, &h, why, sizeof(why))) != 0)
		return cvd_seterr(b->err, b->errlen, CVD_EINFO, "%s/%s line 1: %s",
		    b->dir, b->info_name, why);
	if (h.kind != CVD_KIND_CLD)
		return cvd_seterr(b->err, b->errlen, CVD_EINFO,
		    "%s/%s line 1: md5 and dsig must be X", b->dir, b->info_name);
	if ((rc = info_parse(b->info, b->info_len, &h, &b->entries, why,
	    sizeof(why))) != 0)
		return cvd_seterr(b->err, b->errlen, rc, "%s/%s: %s", b->dir,
		    b->info_name, why);
	return 0;
}

/* Every file of dir is COPYING, NAME.info or listed; every entry is there. */
static int
cld_check_dir(struct cld *b, bool *copying)
{
	struct dirent *de;
	struct stat st;
	int rc = 0, fd;
	DIR *d;

	*copying = false;
	if ((fd = dup(b->dirfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return cvd_seterr(b->err, b->errlen, CVD_EIO, "%s: %s", b->dir,
		    strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct info_entry *e;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(b->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			rc = cvd_seterr(b->err, b->errlen, CVD_EARG,
			    "%s/%s: not a regular file", b->dir, de->d_name);
		else if (strcmp(de->d_name, "COPYING") == 0)
			*copying = true;
		else if (strcmp(de->d_name, b->info_name) == 0)
			continue;
		else if ((e = info_find(&b->entries, de->d_name)) != NULL)
			e->seen = true;
		else
			rc = cvd_seterr(b->err, b->errlen, CVD_EMEMBER,
			    "%s/%s: not listed in %s", b->dir, de->d_name,
			    b->info_name);
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < b->entries.n; i++)
		if (!b->entries.entries[i].seen)
			rc = cvd_seterr(b->err, b->errlen, CVD_EMEMBER,
			    "%s: %s lists %s, which is not there", b->dir,
			    b->info_name, b->entries.entries[i].name);
	return rc;
}

static int
cld_write(struct cld *b, const uint8_t hdr[CVD_HEADER_SIZE], bool copying)
{
	static const uint8_t zero[2 * TAR_BLOCK];
	int rc = 0;

	if (cdiff_write_all(b->fd, hdr, CVD_HEADER_SIZE) != 0)
		return cvd_seterr(b->err, b->errlen, CVD_EWRITE,
		    "writing the .cld: %s", strerror(errno));
	if (copying)
		rc = cld_member(b, "COPYING");
	if (rc == 0)
		rc = cld_member(b, b->info_name);
	for (size_t i = 0; rc == 0 && i < b->entries.n; i++)
		rc = cld_member(b, b->entries.entries[i].name);
	if (rc == 0 && cdiff_write_all(b->fd, zero, sizeof(zero)) != 0)
		rc = cvd_seterr(b->err, b->errlen, CVD_EWRITE,
		    "writing the .cld: %s", strerror(errno));
	return rc;
}

int
cvd_build_cld(const char *dir, const char *dbname, const char *out_path,
    char *err, size_t errlen)
{
	struct cld b = { .dirfd = -1, .fd = -1, .dir = dir, .err = err,
	    .errlen = errlen };
	struct statefile_tmp t = { .dirfd = -1, .fd = -1 };
	uint8_t hdr[CVD_HEADER_SIZE];
	bool copying;
	int rc;

	if (!cdiff_dbname_ok(dbname, strlen(dbname)))
		return cvd_seterr(err, errlen, CVD_EARG,
		    "database name '%s': want 1..%d letters, digits, _ or -",
		    dbname, CVD_CDIFF_DBNAME_MAX);
	snprintf(b.info_name, sizeof(b.info_name), "%s.info", dbname);
	if ((b.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return cvd_seterr(err, errlen, CVD_EIO, "%s: %s", dir,
		    strerror(errno));
	if ((rc = cld_read_info(&b, hdr)) != 0 ||
	    (rc = cld_check_dir(&b, &copying)) != 0)
		goto out;
	if (statefile_open_path(&t, out_path, 0644, 0, err, errlen) != 0) {
		rc = CVD_EWRITE;
		goto out;
	}
	b.fd = t.fd;            /* t's: closed by t */
	if ((rc = cld_write(&b, hdr, copying)) == 0 &&
	    statefile_commit(&t, err, errlen) != 0)
		rc = CVD_EWRITE;
out:
	statefile_abort(&t);
	close(b.dirfd);
	info_free(&b.entries);
	free(b.info);
	return rc;
}
