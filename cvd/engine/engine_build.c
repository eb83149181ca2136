/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine builder: gathers signatures from containers, plain files or
 * one at a time, and hands them to engine_layout.c at finish.
 *
 * Decisions (see also engine.h):
 * - .ign2 is applied at finish, to every database of the engine whatever
 *   the order they were added in, and to every loaded type (fp and sfp
 *   included).  All three line forms disable by name: `Name`, the old
 *   `x:y:Name`, and `Name:MD5`.  ClamAV disables a `Name:MD5` entry only
 *   where the MD5 of the whole signature line matches; the sink hands us
 *   parsed fields, not the line, so we disable every signature of that name
 *   (ClamAV names are unique per signature, and a corrected signature comes
 *   back under a new name).  A disabled signature counts as not loaded.
 * - .ndb signatures are held (pattern copied) until finish, so that .ign2
 *   can keep them out of the body automaton altogether.
 * - A container or file that fails adds nothing: the builder is rolled back
 *   to a mark taken before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ampscan/cvd.h"
#include "ampscan/engine.h"
#include "ampscan/sigs.h"
#include "engine_build.h"
#include "util.h"

#define ENGINE_READ_CHUNK (64 * 1024)
#define ENGINE_WHY_MAX 512
#define ENGINE_SLOTS_MIN 1024

/* ---- growable arrays ---------------------------------------------------- */

int
engine_vec_grow(struct engine_vec *v, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (more <= v->cap - v->len)
		return 0;
	if (more > SIZE_MAX / 2 - v->len)
		return ENGINE_ENOMEM;
	cap = v->cap ? v->cap : 4096;
	while (cap - v->len < more)
		cap *= 2;
	if ((p = realloc(v->p, cap)) == NULL)
		return ENGINE_ENOMEM;
	v->p = p;
	v->cap = cap;
	return 0;
}

static int
engine_vec_push(struct engine_vec *v, const void *p, size_t n)
{
	if (engine_vec_grow(v, n) != 0)
		return ENGINE_ENOMEM;
	if (n > 0)
		memcpy(v->p + v->len, p, n);
	v->len += n;
	return 0;
}

/* ---- the name table ----------------------------------------------------- */

static uint64_t
engine_name_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

static uint32_t
engine_name_off(const struct engine_builder *b, size_t idx)
{
	uint32_t off;

	memcpy(&off, b->offs.p + idx * sizeof(off), sizeof(off));
	return off;
}

static bool
engine_name_eq(const struct engine_builder *b, size_t idx, const char *p,
    size_t len)
{
	const uint8_t *n = b->names.p + engine_name_off(b, idx);

	return n[0] == len && memcmp(n + 1, p, len) == 0;
}

/* The slot holding name p, or the empty slot where it belongs. */
static size_t
engine_names_slot(const struct engine_builder *b, const char *p, size_t len)
{
	size_t mask = b->nslots - 1;
	size_t i = (size_t)engine_name_hash(p, len) & mask;

	while (b->slots[i] != 0 && !engine_name_eq(b, b->slots[i] - 1, p, len))
		i = (i + 1) & mask;
	return i;
}

int64_t
engine_names_find(const struct engine_builder *b, const char *p, size_t len)
{
	size_t i;

	if (b->nslots == 0)
		return -1;
	i = engine_names_slot(b, p, len);
	return b->slots[i] ? (int64_t)b->slots[i] - 1 : -1;
}

/* (Re)build the slots for the first b->nnames names in nslots slots. */
static int
engine_names_rehash(struct engine_builder *b, size_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (slots == NULL)
		return ENGINE_ENOMEM;
	free(b->slots);
	b->slots = slots;
	b->nslots = nslots;
	for (size_t idx = 0; idx < b->nnames; idx++) {
		const uint8_t *n = b->names.p + engine_name_off(b, idx);

		b->slots[engine_names_slot(b, (const char *)n + 1, n[0])] =
		    (uint32_t)idx + 1;
	}
	return 0;
}

/* The index of name p, added if new. */
static int
engine_names_intern(struct engine_builder *b, const char *p, size_t len,
    uint32_t *idx, char *why, size_t whylen)
{
	uint32_t off = (uint32_t)b->names.len;
	uint8_t l = (uint8_t)len;
	size_t i;

	if (b->nnames + 1 > b->nslots / 2 &&
	    engine_names_rehash(b, b->nslots ? b->nslots * 2 : ENGINE_SLOTS_MIN))
		return cvd_seterr(why, whylen, ENGINE_ENOMEM, "out of memory");
	i = engine_names_slot(b, p, len);
	if (b->slots[i] != 0) {
		*idx = b->slots[i] - 1;
		return 0;
	}
	if (b->names.len + 1 + len > ENGINE_NAMES_MAX)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "name table full (%llu bytes)", ENGINE_NAMES_MAX);
	if (engine_vec_grow(&b->names, 1 + len) != 0 ||
	    engine_vec_push(&b->offs, &off, sizeof(off)) != 0)
		return cvd_seterr(why, whylen, ENGINE_ENOMEM, "out of memory");
	engine_vec_push(&b->names, &l, 1);
	engine_vec_push(&b->names, p, len);
	*idx = (uint32_t)b->nnames++;
	b->slots[i] = *idx + 1;
	return 0;
}

/* ---- adding one signature ----------------------------------------------- */

static void
engine_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int
engine_digest_kind(const struct sig *s, enum engine_dig *d, char *why,
    size_t whylen)
{
	size_t dl = s->u.hash.digest_len;
	bool md5_only = s->type == SIG_TYPE_HDB || s->type == SIG_TYPE_FP;

	if (dl == 16)
		*d = ENGINE_DIG_MD5;
	else if (dl == 20 && !md5_only)
		*d = ENGINE_DIG_SHA1;
	else if (dl == 32 && !md5_only)
		*d = ENGINE_DIG_SHA256;
	else
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "signature %.*s: a digest of %zu bytes in a .%s", (int)s->name.len, s->name.p, dl, sig_type_name(s->type));
	return 0;
}

static int
engine_add_hash(struct engine_builder *b, const struct sig *s, char *why,
    size_t whylen)
{
	bool fp = s->type == SIG_TYPE_FP || s->type == SIG_TYPE_SFP;
	uint64_t size = s->u.hash.size;
	uint8_t e[32 + 12] = { 0 };
	enum engine_dig d = ENGINE_DIG_MD5;
	struct engine_vec *v;
	uint32_t idx;
	size_t dl;
	int rc;

	if ((rc = engine_digest_kind(s, &d, why, whylen)) != 0)
		return rc;
	if (size == SIG_SIZE_ANY)
		size = ENGINE_SIZE_ANY;
	else if (size == 0 || size > ENGINE_HASH_SIZE_MAX)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "signature %.*s: size %" PRIu64 " out of range", (int)s->name.len, s->name.p, size);
	v = fp ? &b->fp[d] : &b->det[d];
	if (v->len / engine_bentry_size(d) >= ENGINE_ENTRIES_MAX)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "more than %llu %s signatures", ENGINE_ENTRIES_MAX, sig_type_name(s->type));
	if ((rc = engine_names_intern(b, s->name.p, s->name.len, &idx, why,
	    whylen)) != 0)
		return rc;
	dl = engine_dig_len(d);
	memcpy(e, s->u.hash.digest, dl);
	engine_put_be32(e + dl, (uint32_t)size);
	engine_put_be32(e + dl + 4, idx);
	e[dl + 8] = (uint8_t)s->type;
	if (engine_vec_push(v, e, engine_bentry_size(d)) != 0)
		return cvd_seterr(why, whylen, ENGINE_ENOMEM, "out of memory");
	return 0;
}

static int
engine_add_ndb(struct engine_builder *b, const struct sig *s, char *why,
    size_t whylen)
{
	const struct sig_ndb *n = &s->u.ndb;
	struct engine_ndb_rec r = {
		.target = n->target, .offset = n->offset,
		.maxshift = n->maxshift, .pat_off = b->ndb_text.len,
		.pat_len = (uint32_t)n->pattern.len,
		.min_flevel = s->min_flevel, .max_flevel = s->max_flevel,
		.offset_kind = (uint8_t)n->offset_kind,
		.has_maxshift = n->has_maxshift,
	};
	int rc;

	if (n->pattern.p == NULL || n->pattern.len == 0 ||
	    n->pattern.len > SIG_LINE_MAX)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "signature %.*s: no pattern or one over %d bytes", (int)s->name.len, s->name.p, SIG_LINE_MAX);
	if (b->ndb_text.len + n->pattern.len > ENGINE_NDB_TEXT_MAX)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, ".ndb patterns over %llu bytes in all", ENGINE_NDB_TEXT_MAX);
	if ((rc = engine_names_intern(b, s->name.p, s->name.len, &r.name, why,
	    whylen)) != 0)
		return rc;
	if (engine_vec_push(&b->ndb_text, n->pattern.p, n->pattern.len) != 0 ||
	    engine_vec_push(&b->ndb, &r, sizeof(r)) != 0)
		return cvd_seterr(why, whylen, ENGINE_ENOMEM, "out of memory");
	return 0;
}

static int
engine_add_ign(struct engine_builder *b, const struct sig *s, char *why,
    size_t whylen)
{
	uint8_t l = (uint8_t)s->name.len;

	if (engine_vec_grow(&b->ign, 1 + s->name.len) != 0)
		return cvd_seterr(why, whylen, ENGINE_ENOMEM, "out of memory");
	engine_vec_push(&b->ign, &l, 1);
	engine_vec_push(&b->ign, s->name.p, s->name.len);
	return 0;
}

/*
 * The database types clamd loads by default (no PUA: hdu hsu mdu msu ndu
 * ldu need DetectPUA) that this engine does not read: a set holding them
 * is partial here (engine_info's unsupported[SIG_TYPE_OTHER]).
 */
static const char *const engine_clamav_only[] = { "db", "ldb", "cdb", "crb",
	"cbc", "ftm", "mdb", "msb", "imp", "idb", "pdb", "gdb", "wdb", "yar",
	"yara", "pwdb", "ioc", "sdb", "zmd", "rmd" };

static bool
engine_ext_clamav_only(const char *ext)
{
	for (size_t i = 0; i < sizeof(engine_clamav_only) /
	    sizeof(engine_clamav_only[0]); i++)
		if (strcmp(ext, engine_clamav_only[i]) == 0)
			return true;
	return false;
}

/*
 * A signature this engine leaves out that libclamav would load: not one
 * outside the functionality level, not an .ndb of a target ClamAV skips.
 */
static bool
engine_sig_unsupported(const struct sig *s)
{
	if (s->flevel_skip)
		return false;
	return s->type != SIG_TYPE_NDB || s->u.ndb.target <= SIG_NDB_TARGET_MAX;
}

static int
engine_add_sig(struct engine_builder *b, const struct sig *s, char *why,
    size_t whylen)
{
	int rc;

	if ((unsigned)s->type > SIG_TYPE_OTHER)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "unknown signature type %d", (int)s->type);
	if (s->type == SIG_TYPE_OTHER) {
		b->other_types++;
		return 0;
	}
	if (!s->loadable || s->flevel_skip) {
		b->not_loaded[s->type]++;
		if (engine_sig_unsupported(s))
			b->unsupported[s->type]++;
		return 0;
	}
	if (s->name.p == NULL || s->name.len == 0 || s->name.len > SIG_NAME_MAX)
		return cvd_seterr(why, whylen, ENGINE_EINVAL, "a signature name of %zu bytes (1 to %d)", s->name.len, SIG_NAME_MAX);
	if (s->type == SIG_TYPE_IGN2)
		rc = engine_add_ign(b, s, why, whylen);
	else if (s->type == SIG_TYPE_NDB)
		rc = engine_add_ndb(b, s, why, whylen);
	else
		rc = engine_add_hash(b, s, why, whylen);
	if (rc == 0)
		b->loaded[s->type]++;
	return rc;
}

int
engine_builder_add(struct engine_builder *b, const char *db,
    const struct sig *s, char *err, size_t errlen)
{
	char why[ENGINE_WHY_MAX];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (b == NULL || s == NULL)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: no builder or no signature");
	if ((rc = engine_add_sig(b, s, why, sizeof(why))) != 0)
		return cvd_seterr(err, errlen, rc, "%s: %s", db ? db : "(signature)", why);
	return 0;
}

/* ---- marks: undo a database that failed --------------------------------- */

struct engine_mark {
	size_t names, offs, nnames, ign, ndb, ndb_text, ndbs;
	size_t det[ENGINE_NDIG], fp[ENGINE_NDIG];
	uint64_t loaded[ENGINE_NTYPES], not_loaded[ENGINE_NTYPES];
	uint64_t unsupported[ENGINE_NTYPES];
	uint64_t other_types;
};

static void
engine_mark_take(const struct engine_builder *b, struct engine_mark *m)
{
	m->names = b->names.len;
	m->offs = b->offs.len;
	m->nnames = b->nnames;
	m->ign = b->ign.len;
	m->ndb = b->ndb.len;
	m->ndb_text = b->ndb_text.len;
	m->ndbs = b->ndbs;
	for (int d = 0; d < ENGINE_NDIG; d++) {
		m->det[d] = b->det[d].len;
		m->fp[d] = b->fp[d].len;
	}
	memcpy(m->loaded, b->loaded, sizeof(m->loaded));
	memcpy(m->not_loaded, b->not_loaded, sizeof(m->not_loaded));
	memcpy(m->unsupported, b->unsupported, sizeof(m->unsupported));
	m->other_types = b->other_types;
}

/* Back to the mark (the name slots keep their size: no allocation). */
static void
engine_mark_rollback(struct engine_builder *b, const struct engine_mark *m)
{
	size_t grown = b->nnames;

	b->names.len = m->names;
	b->offs.len = m->offs;
	b->nnames = m->nnames;
	b->ign.len = m->ign;
	b->ndb.len = m->ndb;
	b->ndb_text.len = m->ndb_text;
	b->ndbs = m->ndbs;
	for (int d = 0; d < ENGINE_NDIG; d++) {
		b->det[d].len = m->det[d];
		b->fp[d].len = m->fp[d];
	}
	memcpy(b->loaded, m->loaded, sizeof(b->loaded));
	memcpy(b->not_loaded, m->not_loaded, sizeof(b->not_loaded));
	memcpy(b->unsupported, m->unsupported, sizeof(b->unsupported));
	b->other_types = m->other_types;
	if (grown == m->nnames)
		return;
	memset(b->slots, 0, b->nslots * sizeof(*b->slots));
	for (size_t idx = 0; idx < b->nnames; idx++) {
		const uint8_t *n = b->names.p + engine_name_off(b, idx);

		b->slots[engine_names_slot(b, (const char *)n + 1, n[0])] =
		    (uint32_t)idx + 1;
	}
}

/* ---- databases ---------------------------------------------------------- */

static const char *
engine_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void
engine_db_record(struct engine_builder *b, const char *name, size_t len,
    unsigned version, const char *kind)
{
	struct engine_db_info *d = &b->dbs[b->ndbs++];

	memset(d, 0, sizeof(*d));
	if (len >= sizeof(d->name))
		len = sizeof(d->name) - 1;
	memcpy(d->name, name, len);
	d->version = version;
	cvd_strlcpy(d->kind, kind, sizeof(d->kind));
}

struct engine_load {
	struct engine_builder *b;
	int rc;
	char why[ENGINE_WHY_MAX];
};

static int
engine_sink_signature(void *arg, const char *member, const struct sig *s)
{
	struct engine_load *l = arg;

	l->rc = engine_builder_add(l->b, member, s, l->why, sizeof(l->why));
	return l->rc != 0;
}

static const char *
engine_kind_name(enum cvd_kind k)
{
	switch (k) {
	case CVD_KIND_CLD:
		return "cld";
	case CVD_KIND_CUD:
		return "cud";
	default:
		return "cvd";
	}
}

static int
engine_verify_error(int status)
{
	if (status == CVD_ENOMEM)
		return ENGINE_ENOMEM;
	if (status == CVD_EIO)
		return ENGINE_EIO;
	return ENGINE_ELOAD;
}

/* What every engine_add_* checks first; 0 or ENGINE_EINVAL. */
static int
engine_add_check(const struct engine_builder *b, const char *path, char *err,
    size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (b == NULL || path == NULL)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: no builder or no path");
	if (b->ndbs == ENGINE_MAX_DBS)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "%s: more than %d databases", path, ENGINE_MAX_DBS);
	return 0;
}

/* A container from path, or from fd (>= 0) with path naming it. */
static int
engine_add_container(struct engine_builder *b, int fd, const char *path,
    const struct cvd_verify_opts *opts, char *err, size_t errlen)
{
	struct engine_load l = { .b = b };
	struct cvd_sink sink = { .arg = &l,
	    .signature = engine_sink_signature };
	struct cvd_verify_opts o = { 0 };
	struct cvd_result res;
	struct engine_mark m;
	const char *base, *dot;
	int rc;

	if ((rc = engine_add_check(b, path, err, errlen)) != 0)
		return rc;
	if (opts != NULL)
		o = *opts;
	o.sink = &sink;
	engine_mark_take(b, &m);
	rc = fd >= 0 ? cvd_verify_fd(fd, path, &o, &res) :
	    cvd_verify_file(path, &o, &res);
	if (rc != 0) {
		engine_mark_rollback(b, &m);
		if (l.rc != 0)
			rc = cvd_seterr(err, errlen, l.rc, "%s: %s", path, l.why);
		else if (strncmp(res.message, path, strlen(path)) == 0)
			rc = cvd_seterr(err, errlen, engine_verify_error(rc), "%s", res.message);
		else
			rc = cvd_seterr(err, errlen, engine_verify_error(rc), "%s: %s", path, res.message);
		cvd_result_free(&res);
		return rc;
	}
	for (size_t i = 0; i < res.ntypes; i++) {
		if (res.types[i].loaded)
			continue;
		b->other_types += res.types[i].sigs;
		if (engine_ext_clamav_only(res.types[i].ext))
			b->unsupported[SIG_TYPE_OTHER] += res.types[i].sigs;
	}
	base = engine_basename(path);
	dot = strrchr(base, '.');
	engine_db_record(b, base, dot ? (size_t)(dot - base) : strlen(base),
	    res.header.version, engine_kind_name(res.header.kind));
	cvd_result_free(&res);
	return 0;
}

int
engine_builder_add_container(struct engine_builder *b, const char *path,
    const struct cvd_verify_opts *opts, char *err, size_t errlen)
{
	return engine_add_container(b, -1, path, opts, err, errlen);
}

int
engine_builder_add_container_fd(struct engine_builder *b, int fd,
    const char *name, const struct cvd_verify_opts *opts, char *err,
    size_t errlen)
{
	if (fd < 0)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: no descriptor for %s", name ? name : "?");
	return engine_add_container(b, fd, name, opts, err, errlen);
}

/*
 * A line of a type the engine does not load: count it unless blank (and
 * as unsupported if clamd would load it).
 */
static void
engine_count_other(struct engine_builder *b, const char *p, size_t len,
    bool unsupported)
{
	while (len > 0 && p[len - 1] == '\r')
		len--;
	if (len == 0 || p[0] == '#')
		return;
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t') {
			b->other_types++;
			b->unsupported[SIG_TYPE_OTHER] += unsupported ? 1 : 0;
			return;
		}
}

struct engine_file {
	struct engine_builder *b;
	const char *path;
	enum sig_type type;
	bool clamav_only;		/* a type clamd loads and this engine does not */
	uint64_t line_no;
	struct engine_vec line;		/* a line split across reads */
};

static int
engine_file_line(struct engine_file *f, const char *p, size_t len, char *err,
    size_t errlen)
{
	char why[ENGINE_WHY_MAX];
	struct sig s;
	int rc;

	f->line_no++;
	if (f->type == SIG_TYPE_OTHER) {
		engine_count_other(f->b, p, len, f->clamav_only);
		return 0;
	}
	rc = sig_parse_line(f->type, p, len, &s, why, sizeof(why));
	if (rc == SIG_SKIP)
		return 0;
	if (rc != SIG_OK)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "%s line %" PRIu64 ": %s", f->path, f->line_no, why);
	if ((rc = engine_add_sig(f->b, &s, why, sizeof(why))) != 0)
		return cvd_seterr(err, errlen, rc, "%s line %" PRIu64 ": %s", f->path, f->line_no, why);
	return 0;
}

/* Split a chunk into lines; a partial last line waits in f->line. */
static int
engine_file_chunk(struct engine_file *f, const char *p, size_t n, char *err,
    size_t errlen)
{
	const char *end = p + n, *nl;
	int rc;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = (size_t)((nl ? nl : end) - p);

		if (f->line.len + take > SIG_LINE_MAX + 1)
			return cvd_seterr(err, errlen, ENGINE_EINVAL, "%s line %" PRIu64 ": longer than %d bytes", f->path, f->line_no + 1, SIG_LINE_MAX);
		if (nl == NULL)
			return engine_vec_push(&f->line, p, take) == 0 ? 0 :
			    cvd_seterr(err, errlen, ENGINE_ENOMEM, "%s: out of memory", f->path);
		if (f->line.len > 0) {
			if (engine_vec_push(&f->line, p, take) != 0)
				return cvd_seterr(err, errlen, ENGINE_ENOMEM, "%s: out of memory", f->path);
			rc = engine_file_line(f, (const char *)f->line.p,
			    f->line.len, err, errlen);
			f->line.len = 0;
		} else {
			rc = engine_file_line(f, p, take, err, errlen);
		}
		if (rc != 0)
			return rc;
		p = nl + 1;
	}
	return 0;
}

static int
engine_file_read(struct engine_file *f, int fd, char *err, size_t errlen)
{
	char *buf = malloc(ENGINE_READ_CHUNK);
	ssize_t n;
	int rc = 0;

	if (buf == NULL)
		return cvd_seterr(err, errlen, ENGINE_ENOMEM, "%s: out of memory", f->path);
	for (;;) {
		n = read(fd, buf, ENGINE_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cvd_seterr(err, errlen, ENGINE_EIO, "%s: read: %s", f->path, strerror(errno));
			break;
		}
		if (n == 0) {
			if (f->line.len > 0)
				rc = engine_file_line(f, (const char *)f->line.p,
				    f->line.len, err, errlen);
			break;
		}
		if ((rc = engine_file_chunk(f, buf, (size_t)n, err, errlen)) != 0)
			break;
	}
	free(buf);
	return rc;
}

/* A plain file from path, or from fd (>= 0, not closed) with path naming it. */
static int
engine_add_file(struct engine_builder *b, int given_fd, const char *path,
    char *err, size_t errlen)
{
	struct engine_file f = { .b = b, .path = path };
	struct engine_mark m;
	const char *base;
	int fd = given_fd, rc;

	if ((rc = engine_add_check(b, path, err, errlen)) != 0)
		return rc;
	if (fd < 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cvd_seterr(err, errlen, ENGINE_EIO, "%s: %s", path, strerror(errno));
	base = engine_basename(path);
	f.type = sig_type_from_name(base);
	f.clamav_only = f.type == SIG_TYPE_OTHER && strrchr(base, '.') != NULL &&
	    engine_ext_clamav_only(strrchr(base, '.') + 1);
	engine_mark_take(b, &m);
	rc = engine_file_read(&f, fd, err, errlen);
	if (given_fd < 0)
		close(fd);
	free(f.line.p);
	if (rc != 0) {
		engine_mark_rollback(b, &m);
		return rc;
	}
	engine_db_record(b, base, strlen(base), 0, "file");
	return 0;
}

int
engine_builder_add_file(struct engine_builder *b, const char *path,
    char *err, size_t errlen)
{
	return engine_add_file(b, -1, path, err, errlen);
}

int
engine_builder_add_file_fd(struct engine_builder *b, int fd, const char *name,
    char *err, size_t errlen)
{
	if (fd < 0)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: no descriptor for %s", name ? name : "?");
	return engine_add_file(b, fd, name, err, errlen);
}

/* ---- life cycle --------------------------------------------------------- */

int
engine_builder_new(struct engine_builder **out)
{
	struct engine_builder *b;

	if (out == NULL)
		return ENGINE_EINVAL;
	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return ENGINE_ENOMEM;
	*out = b;
	return 0;
}

void
engine_builder_free(struct engine_builder *b)
{
	if (b == NULL)
		return;
	free(b->names.p);
	free(b->offs.p);
	free(b->slots);
	for (int d = 0; d < ENGINE_NDIG; d++) {
		free(b->det[d].p);
		free(b->fp[d].p);
	}
	free(b->ign.p);
	free(b->ndb.p);
	free(b->ndb_text.p);
	free(b);
}

int
engine_builder_finish(struct engine_builder *b, struct engine **out,
    char *err, size_t errlen)
{
	uint8_t *img = NULL;
	size_t len = 0;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL) {
		engine_builder_free(b);
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: no place for the engine");
	}
	*out = NULL;
	if (b == NULL)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: no builder");
	rc = engine_layout(b, &img, &len, err, errlen);
	engine_builder_free(b);
	if (rc != 0)
		return rc;
	if ((rc = engine_image_open(img, len, false, out, err, errlen)) != 0)
		free(img);
	return rc;
}

void
engine_builder_set_source_id(struct engine_builder *b, const uint8_t id[32])
{
	memcpy(b->source_id, id, sizeof(b->source_id));
}
