/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Staging verified definitions for libclamav (engine_stage.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_stage.h"
#include "num.h"
#include "util.h"

#define STAGE_COPY_BUF 65536

/*
 * How libclamav 1.4 counts the signatures of a file of each type (the
 * `signo` cl_load reports), measured type by type: one per signature line
 * (LINES), none (ZERO: allow-lists of names, configuration, file types,
 * phishing domains), one per file (ONE: a bytecode), or not measured here
 * (SOME: at least one when the file has a signature line, at most one per
 * line).  PUA types count only when PUA signatures are loaded.
 */
enum stage_rule { RULE_LINES, RULE_ZERO, RULE_ONE, RULE_SOME };

static const struct {
	const char *ext;
	enum stage_rule rule;
	bool pua;
} stage_types[] = {
	{ "hdb", RULE_LINES, false }, { "hsb", RULE_LINES, false },
	{ "mdb", RULE_LINES, false }, { "msb", RULE_LINES, false },
	{ "ndb", RULE_LINES, false }, { "ldb", RULE_LINES, false },
	{ "cdb", RULE_LINES, false }, { "fp", RULE_LINES, false },
	{ "sfp", RULE_LINES, false }, { "pdb", RULE_LINES, false },
	{ "hdu", RULE_LINES, true }, { "hsu", RULE_LINES, true },
	{ "mdu", RULE_LINES, true }, { "msu", RULE_LINES, true },
	{ "ndu", RULE_LINES, true }, { "ldu", RULE_LINES, true },
	{ "ign", RULE_ZERO, false }, { "ign2", RULE_ZERO, false },
	{ "cfg", RULE_ZERO, false }, { "ftm", RULE_ZERO, false },
	{ "wdb", RULE_ZERO, false },
	{ "cbc", RULE_ONE, false },
	{ "gdb", RULE_SOME, false }, { "imp", RULE_SOME, false },
	{ "idb", RULE_SOME, false }, { "crb", RULE_SOME, false },
	{ "yar", RULE_SOME, false }, { "yara", RULE_SOME, false },
	{ "pwdb", RULE_SOME, false },
};

static const char *
stage_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL ? dot + 1 : "";
}

static int
stage_type(const char *name)
{
	const char *e = stage_ext(name);

	for (size_t i = 0; i < sizeof(stage_types) / sizeof(stage_types[0]); i++)
		if (strcmp(stage_types[i].ext, e) == 0)
			return (int)i;
	return -1;
}

static bool
stage_is_container(const char *name)
{
	const char *e = stage_ext(name);

	return strcmp(e, "cvd") == 0 || strcmp(e, "cld") == 0 ||
	    strcmp(e, "cud") == 0;
}

int
stage_open(struct stage *st, const char *dir, const struct defs_opts *o,
    bool pua, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->dirfd = -1;
	st->dopts = o;
	st->pua = pua;
	if (!cvd_strlcpy(st->path, dir, sizeof(st->path))) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if (mkdir(dir, 0700) != 0 ||
	    (st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int
stage_new_db(struct stage *st, const char *name, unsigned version,
    const char *kind, bool official, char *err, size_t errlen)
{
	struct stage_db *d;

	if (st->ndbs == STAGE_MAX_DBS) {
		snprintf(err, errlen, "%s: more than %d definitions files", name,
		    STAGE_MAX_DBS);
		return -1;
	}
	d = &st->dbs[st->ndbs];
	memset(d, 0, sizeof(*d));
	cvd_strlcpy(d->name, name, sizeof(d->name));
	d->version = version;
	cvd_strlcpy(d->kind, kind, sizeof(d->kind));
	d->official = official;
	return (int)st->ndbs++;
}

static int
stage_new_file(struct stage *st, const char *name, int db, uint64_t lo,
    uint64_t hi, char *err, size_t errlen)
{
	struct stage_file *f;
	const char *e = stage_ext(name);

	if (st->nfiles == STAGE_MAX_FILES) {
		snprintf(err, errlen, "%s: more than %d staged files", name,
		    STAGE_MAX_FILES);
		return -1;
	}
	f = &st->files[st->nfiles++];
	cvd_strlcpy(f->name, name, sizeof(f->name));
	f->db = (unsigned)db;
	f->lo = lo;
	f->hi = hi;
	f->order = strcmp(e, "cfg") == 0 ? 0 : strcmp(e, "ign") == 0 ||
	    strcmp(e, "ign2") == 0 ? 1 : 2;
	return 0;
}

/* The count libclamav must report for a plain file of `lines` lines. */
static void
stage_expect(struct stage *st, int type, uint64_t lines, uint64_t *lo,
    uint64_t *hi)
{
	*lo = *hi = 0;
	if (stage_types[type].pua && !st->pua)
		return;
	switch (stage_types[type].rule) {
	case RULE_LINES: *lo = *hi = lines; break;
	case RULE_ZERO:
		if (strncmp(stage_types[type].ext, "ign", 3) == 0)
			st->ign_lines += lines;
		break;
	case RULE_ONE: *lo = *hi = 1; break;
	case RULE_SOME: *lo = lines > 0; *hi = lines; break;
	}
}

/*
 * Lines that are neither blank nor comments, counted as they stream by: a
 * line counts when its first byte that is not a space, tab or CR is there
 * and is not '#'.  Once a line is decided, the rest of it is skipped.
 */
struct linecount {
	uint64_t lines;
	bool decided;       /* counted, or a comment: skip to its newline */
};

static void
linecount_feed(struct linecount *c, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *nl;

	while (p < end) {
		if (c->decided) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				return;
			c->decided = false;
			p = nl + 1;
			continue;
		}
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			c->lines += *p != '#';
			c->decided = true;
		}
		p++;
	}
}

/* Copy src to a new file name in the stage, counting its lines. */
static int
stage_copy(struct stage *st, int src, const char *display, const char *name,
    uint64_t *lines, char *err, size_t errlen)
{
	struct linecount lc = { 0 };
	uint8_t *buf = malloc(STAGE_COPY_BUF);
	int dst = -1, rc = -1;
	ssize_t n;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((dst = openat(st->dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "%s: cannot stage as %s/%s: %s", display,
		    st->path, name, strerror(errno));
		goto out;
	}
	while ((n = read(src, buf, STAGE_COPY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(dst, buf, (size_t)n) != n) {
			snprintf(err, errlen, "%s: %s: %s", display, n < 0 ?
			    "read" : "write", strerror(errno));
			goto out;
		}
		linecount_feed(&lc, buf, (size_t)n);
	}
	*lines = lc.lines;
	rc = 0;
out:
	if (dst >= 0)
		close(dst);
	free(buf);
	return rc;
}

static const char *
stage_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static int
stage_plain(struct stage *st, const char *path, char *err, size_t errlen)
{
	const char *name = stage_basename(path);
	int type = stage_type(name), fd = -1, db, rc = -1;
	uint64_t lines = 0, lo, hi;

	if (!st->dopts->allow_unsigned) {
		snprintf(err, errlen, "%s: a plain signature file is unsigned; allowed only with unsigned definitions enabled",
		    path);
		return -1;
	}
	if (type < 0 || strcmp(name, STAGE_CANARY_FILE) == 0) {
		snprintf(err, errlen, "%s: not a signature file libclamav loads (the extension names its type)",
		    path);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((db = stage_new_db(st, name, 0, "file", false, err, errlen)) < 0 ||
	    stage_copy(st, fd, path, name, &lines, err, errlen) != 0)
		goto out;
	stage_expect(st, type, lines, &lo, &hi);
	rc = stage_new_file(st, name, db, lo, hi, err, errlen);
out:
	close(fd);
	return rc;
}

/* The .sign beside a container, if any: PATH.sign. */
static const char *
stage_sign_path(const char *path, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s.sign", path) >= len ||
	    access(buf, F_OK) != 0)
		return NULL;
	return buf;
}

static uint64_t
stage_container_count(const struct stage *st, const struct cvd_result *res,
    uint64_t *slack)
{
	uint64_t n = res->header.sigs, skip = 0;

	for (size_t i = 0; i < res->ntypes; i++) {
		for (size_t k = 0; k < sizeof(stage_types) / sizeof(stage_types[0]); k++)
			if (stage_types[k].pua && !st->pua &&
			    strcmp(stage_types[k].ext, res->types[i].ext) == 0)
				skip += res->types[i].sigs;
	}
	*slack = 0;
	for (size_t i = 0; i < res->nmembers; i++)
		if (strcmp(stage_ext(res->members[i].name), "cbc") == 0)
			(*slack)++;
	return n > skip ? n - skip : 0;
}

/* An official container: a symlink to the verified descriptor. */
static int
stage_official(struct stage *st, int fd, const char *name,
    const struct cvd_result *res, int db, char *err, size_t errlen)
{
	char target[64];
	uint64_t n, slack, lo;

	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (symlinkat(target, st->dirfd, name) != 0) {
		snprintf(err, errlen, "%s: cannot stage: %s", name, strerror(errno));
		return -1;
	}
	/*
	 * The header's count is libclamav's (sigtool writes it), but for the
	 * bytecodes, which libclamav may skip or count otherwise.
	 */
	n = stage_container_count(st, res, &slack);
	lo = n > slack ? n - slack : 0;
	if (lo == 0 && n > 0)
		lo = 1;
	return stage_new_file(st, name, db, lo, n + slack, err, errlen);
}

/*
 * Move file m (a container's STEM.cud) of the unpack directory subfd into
 * the stage under its own name or, when another container of the same
 * stem took it, "STEM-m" (the extension, which is all libclamav reads of
 * a name, stays).  The name used goes into out.
 */
static int
stage_take_member(struct stage *st, int subfd, const char *m,
    const char *stem, char *out, size_t outlen, char *err, size_t errlen)
{
	snprintf(out, outlen, "%s", m);
	if (renameat2(subfd, m, st->dirfd, out, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST) {
		snprintf(out, outlen, "%s-%s", stem, m);
		if (renameat2(subfd, m, st->dirfd, out, RENAME_NOREPLACE) == 0)
			return 0;
	}
	snprintf(err, errlen, "%s/%s: %s", st->path, out, strerror(errno));
	return -1;
}

/* Staged for libclamav as the file that was verified (stage_official). */
static bool
stage_is_official(const struct cvd_result *res)
{
	return res->signer == CVD_SIGNER_OFFICIAL &&
	    res->header.kind != CVD_KIND_CUD;
}

/*
 * Any other container: one uncompressed container, NAME.cud, written into
 * the unpack directory .unpack-N of the stage by the one verify pass (a
 * cvd_sink) and handed to libclamav whole, as clamd is handed a .cud:
 *
 *   a 512-byte header      the container's own header line (rewritten
 *                          at the end, from what the verify parsed)
 *   COPYING                empty: the first member's name is how
 *                          libclamav tells an uncompressed tar
 *   each signature member  as it streams by, its lines counted
 *   NAME.info              ours, written last: every member's size and
 *                          SHA-256 as the verify computed them (the
 *                          container's own .info and COPYING are left
 *                          out; an unsigned .info needs no DSIG line)
 *   two zero blocks
 *
 * libclamav then reads it through its buffered container reader and
 * checks every member against the .info, where loose files would be read
 * twice (once a byte at a time with getc to count them for its progress
 * report) and reopened one by one (measured: docs/loader.md).  Nothing is
 * trusted until the verify returns 0 (MD5 and signatures are checked at
 * the end), and the file is removed whatever happens unless
 * stage_take_all moved it.  No fsync: the stage is private scratch, gone
 * with the process.
 */
#define STAGE_TAR_BLOCK 512

struct stage_member {
	char name[CVD_MEMBER_NAME_MAX + 1];
	int type;
	uint64_t lines;
};

struct stage_sink {
	const char *path;               /* the container, for messages */
	const struct cvd_result *res;   /* being filled: its signer */
	char sub[32];                   /* .unpack-N in the stage */
	int subfd;                      /* or -1 */
	int fd;                         /* the .cud being written, or -1 */
	char cud[80];                   /* its name: STEM.cud */
	bool writing;                   /* a member's data goes to fd */
	uint64_t size;                  /* that member's announced size */
	uint64_t left;                  /* of it, still to come */
	struct linecount lc;
	struct stage_member *m;         /* written, in order */
	size_t n, cap;
	char err[1024];
};

static int
sink_write(struct stage_sink *k, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	ssize_t w;

	while (n > 0) {
		if ((w = write(k->fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(k->err, sizeof(k->err), "%s: %s/%s: write: %s",
			    k->path, k->sub, k->cud, w < 0 ? strerror(errno) :
			    "no progress");
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A ustar header for a regular file name of size bytes. */
static int
sink_tar_header(struct stage_sink *k, const char *name, uint64_t size)
{
	uint8_t h[STAGE_TAR_BLOCK];
	unsigned sum = 0;

	if (strlen(name) > CVD_MEMBER_NAME_MAX || size > 077777777777ULL) {
		snprintf(k->err, sizeof(k->err), "%s: member %s: too long a name or too big for a tar header",
		    k->path, name);
		return -1;
	}
	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name));
	snprintf((char *)h + 100, 8, "%07o", 0600);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	return sink_write(k, h, sizeof(h));
}

/* Zeros up to the next tar block after size bytes of data. */
static int
sink_tar_pad(struct stage_sink *k, uint64_t size)
{
	static const uint8_t zero[STAGE_TAR_BLOCK];
	size_t pad = (size_t)((STAGE_TAR_BLOCK - size % STAGE_TAR_BLOCK) %
	    STAGE_TAR_BLOCK);

	return pad ? sink_write(k, zero, pad) : 0;
}

/* The .cud begins: room for its header, then the empty COPYING. */
static int
sink_cud_open(struct stage_sink *k)
{
	static const uint8_t blank[STAGE_TAR_BLOCK];
	const char *base = stage_basename(k->path);

	snprintf(k->cud, sizeof(k->cud), "%.*s.cud", (int)strcspn(base, "."), base);
	if ((k->fd = openat(k->subfd, k->cud, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		snprintf(k->err, sizeof(k->err), "%s: cannot unpack into %s/%s: %s",
		    k->path, k->sub, k->cud, strerror(errno));
		return -1;
	}
	if (sink_write(k, blank, sizeof(blank)) != 0)
		return -1;
	return sink_tar_header(k, "COPYING", 0);
}

static int
sink_begin(void *arg, const char *name, uint64_t size)
{
	struct stage_sink *k = arg;
	int type = stage_type(name);

	k->writing = false;
	/* an official .cvd is known so before its payload: it is symlinked */
	if (type < 0 || stage_is_official(k->res))
		return 0;   /* COPYING, NAME.info: not signatures */
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		struct stage_member *n = realloc(k->m, cap * sizeof(*n));

		if (n == NULL) {
			snprintf(k->err, sizeof(k->err), "%s: member %s: out of memory",
			    k->path, name);
			return -1;
		}
		k->m = n;
		k->cap = cap;
	}
	if (k->fd < 0 && sink_cud_open(k) != 0)
		return -1;
	if (sink_tar_header(k, name, size) != 0)
		return -1;
	cvd_strlcpy(k->m[k->n].name, name, sizeof(k->m[0].name));
	k->m[k->n].type = type;
	k->m[k->n++].lines = 0;
	memset(&k->lc, 0, sizeof(k->lc));
	k->writing = true;
	k->size = k->left = size;
	return 0;
}

static int
sink_data(void *arg, const uint8_t *p, size_t n)
{
	struct stage_sink *k = arg;

	if (!k->writing)
		return 0;
	if (n > k->left) {
		snprintf(k->err, sizeof(k->err), "%s: member %s: more data than its size",
		    k->path, k->m[k->n - 1].name);
		return -1;
	}
	k->left -= n;
	linecount_feed(&k->lc, p, n);
	return sink_write(k, p, n);
}

static int
sink_end(void *arg)
{
	struct stage_sink *k = arg;
	struct stage_member *m;

	if (!k->writing)
		return 0;
	k->writing = false;
	m = &k->m[k->n - 1];
	m->lines = k->lc.lines;
	if (k->left != 0) {
		snprintf(k->err, sizeof(k->err), "%s: member %s: shorter than its size",
		    k->path, m->name);
		return -1;
	}
	return sink_tar_pad(k, k->size);
}

static int
sink_open(struct stage *st, struct stage_sink *k, const char *path,
    char *err, size_t errlen)
{
	k->path = path;
	k->subfd = k->fd = -1;
	/* apart first: two containers may hold members of one name */
	snprintf(k->sub, sizeof(k->sub), ".unpack-%zu", st->nfds);
	if (mkdirat(st->dirfd, k->sub, 0700) != 0 ||
	    (k->subfd = openat(st->dirfd, k->sub, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "%s: %s/%s: %s", path, st->path, k->sub,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Remove what is left of the unpack directory (members not taken). */
static void
sink_close(struct stage *st, struct stage_sink *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	if (k->subfd >= 0) {
		if (k->cud[0] != '\0')
			unlinkat(k->subfd, k->cud, 0);
		close(k->subfd);
		unlinkat(st->dirfd, k->sub, AT_REMOVEDIR);
	}
	k->subfd = -1;
	free(k->m);
	k->m = NULL;
	k->n = k->cap = 0;
}

/* The verify's record of member name (every member has one). */
static const struct cvd_member *
stage_member_of(const struct cvd_result *res, const char *name)
{
	for (size_t i = 0; i < res->nmembers; i++)
		if (strcmp(res->members[i].name, name) == 0)
			return &res->members[i];
	return NULL;
}

/*
 * The end of the .cud: our .info (the header line, then each member's
 * name, size and SHA-256 as the verify computed them), the two zero
 * blocks, and the header over the room left for it.
 */
static int
sink_cud_finish(struct stage_sink *k, const struct cvd_result *res)
{
	static const uint8_t zero[2 * STAGE_TAR_BLOCK];
	const char *base = stage_basename(k->path);
	uint8_t hdr[CVD_HEADER_SIZE];
	char info[128], hex[65], *text = NULL;
	size_t len = strlen(res->header.line) + 1, used, cap;
	int rc = -1;

	cap = len + k->n * (CVD_MEMBER_NAME_MAX + 96) + 1;
	if ((text = malloc(cap)) == NULL) {
		snprintf(k->err, sizeof(k->err), "%s: out of memory", k->path);
		return -1;
	}
	used = (size_t)snprintf(text, cap, "%s\n", res->header.line);
	for (size_t i = 0; i < k->n; i++) {
		const struct cvd_member *m = stage_member_of(res, k->m[i].name);

		if (m == NULL) {
			snprintf(k->err, sizeof(k->err), "%s: member %s: not in the verify's list",
			    k->path, k->m[i].name);
			goto out;
		}
		num_hex(m->sha256, sizeof(m->sha256), hex);
		used += (size_t)snprintf(text + used, cap - used, "%s:%llu:%s\n",
		    m->name, (unsigned long long)m->size, hex);
	}
	snprintf(info, sizeof(info), "%.*s.info", (int)strcspn(base, "."), base);
	if (sink_tar_header(k, info, used) != 0 || sink_write(k, text, used) != 0 ||
	    sink_tar_pad(k, used) != 0 || sink_write(k, zero, sizeof(zero)) != 0)
		goto out;
	memset(hdr, ' ', sizeof(hdr));
	memcpy(hdr, res->header.line, strlen(res->header.line));
	if (pwrite(k->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		snprintf(k->err, sizeof(k->err), "%s: %s/%s: write: %s", k->path,
		    k->sub, k->cud, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/*
 * The verified signature members of an unofficial container, as one .cud
 * moved into the stage; libclamav's count for it must lie within the sum
 * of theirs.
 */
static int
stage_take_all(struct stage *st, struct stage_sink *k,
    const struct cvd_result *res, int db, char *err, size_t errlen)
{
	const char *base = stage_basename(k->path);
	char stem[256], m[512];
	uint64_t lo, hi, sum_lo = 0, sum_hi = 0;

	if (k->n == 0)
		return 0;   /* no signatures in it: nothing to load */
	if (sink_cud_finish(k, res) != 0) {
		snprintf(err, errlen, "%s", k->err);
		return -1;
	}
	if (close(k->fd) != 0) {
		k->fd = -1;
		snprintf(err, errlen, "%s: %s/%s: close: %s", k->path, k->sub,
		    k->cud, strerror(errno));
		return -1;
	}
	k->fd = -1;
	for (size_t i = 0; i < k->n; i++) {
		stage_expect(st, k->m[i].type, k->m[i].lines, &lo, &hi);
		sum_lo += lo;
		sum_hi += hi;
	}
	snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(base, "."), base);
	if (stage_take_member(st, k->subfd, k->cud, stem, m, sizeof(m), err,
	    errlen) != 0)
		return -1;
	k->cud[0] = '\0';   /* taken */
	return stage_new_file(st, m, db, sum_lo, sum_hi, err, errlen);
}

/* A verify's message, naming the file when it does not already. */
static void
stage_verify_error(const char *path, const struct cvd_result *res,
    const struct stage_sink *k, char *err, size_t errlen)
{
	if (res->status == CVD_ECALLBACK && k->err[0] != '\0')
		snprintf(err, errlen, "%s", k->err);
	else if (strncmp(res->message, path, strlen(path)) == 0)
		snprintf(err, errlen, "%s", res->message);
	else
		snprintf(err, errlen, "%s: %s", path, res->message);
}

/*
 * One pass over the container: verify it (header, .sign or signatures,
 * MD5, every signature line) while the sink writes the members of an
 * unofficial one; then symlink an official one, or take the members.
 * Serial: once a process has had a second thread, glibc locks every
 * getc, and libclamav's loader reads its files a byte at a time with
 * getc and feof (measured: 4 s more CPU for a main.cvd-sized set than
 * the inflate thread saves).
 */
static int
stage_container(struct stage *st, const char *path, char *err, size_t errlen)
{
	const char *name = stage_basename(path);
	struct cvd_result res;
	struct stage_sink k = { .res = &res };
	struct cvd_sink sink = { &k, sink_begin, sink_data, sink_end, NULL };
	struct cvd_verify_opts vo = { .trust = st->dopts->trust,
	    .allow_unsigned = st->dopts->allow_unsigned, .sink = &sink,
	    .serial = true };
	char sign[4096], base[64];
	int fd, db, rc = -1;
	bool official;

	memset(&res, 0, sizeof(res));
	if (st->nfds == STAGE_MAX_DBS) {
		snprintf(err, errlen, "%s: too many containers", path);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (sink_open(st, &k, path, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	st->fds[st->nfds++] = fd;   /* kept open: the staged symlink's target */
	vo.sign_path = stage_sign_path(path, sign, sizeof(sign));
	vo.no_sign = vo.sign_path == NULL;
	if (cvd_verify_fd(fd, path, &vo, &res) != 0) {
		stage_verify_error(path, &res, &k, err, errlen);
		goto out;
	}
	/* a .cld's DSIG may prove it official after its members were written */
	official = stage_is_official(&res);
	cvd_strlcpy(base, name, sizeof(base));
	base[strcspn(base, ".")] = '\0';
	if ((db = stage_new_db(st, base, res.header.version, stage_ext(name),
	    official, err, errlen)) < 0)
		goto out;
	rc = official ? stage_official(st, fd, name, &res, db, err, errlen) :
	    stage_take_all(st, &k, &res, db, err, errlen);
out:
	sink_close(st, &k);
	cvd_result_free(&res);
	return rc;
}

/* NAME.cvd/.cld/.cud of the highest version among dir's (as defs.c does). */
static bool
stage_newest(const char *dir, struct dirent **ents, int n, int i)
{
	const char *name = ents[i]->d_name;
	size_t blen = strcspn(name, ".");
	unsigned mine = 0, other;
	uint8_t hdr[CVD_HEADER_SIZE];
	char path[4096], e[128];
	struct cvd_header h;

	for (int k = -1; k < n; k++) {
		int fd;

		if (k >= 0 && (k == i || strncmp(ents[k]->d_name, name, blen) != 0 ||
		    ents[k]->d_name[blen] != '.' || !stage_is_container(ents[k]->d_name)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, k < 0 ? name : ents[k]->d_name);
		other = 0;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) >= 0) {
			if (pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
			    cvd_header_parse(hdr, sizeof(hdr), &h, e, sizeof(e)) == 0)
				other = h.version;
			close(fd);
		}
		if (k < 0)
			mine = other;
		else if (other > mine || (other == mine && k < i))
			return false;
	}
	return true;
}

static int
stage_dir(struct stage *st, const char *dir, char *err, size_t errlen)
{
	struct dirent **ents = NULL;
	char path[4096];
	int n = scandir(dir, &ents, NULL, alphasort), rc = 0;

	if (n < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = ents[i]->d_name;
		bool c = stage_is_container(name);

		if (name[0] == '.' || (!c && (stage_type(name) < 0 ||
		    !st->dopts->allow_unsigned)))
			continue;
		if (c && !stage_newest(dir, ents, n, i))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		rc = c ? stage_container(st, path, err, errlen) :
		    stage_plain(st, path, err, errlen);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

int
stage_add(struct stage *st, const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(sb.st_mode))
		return stage_dir(st, path, err, errlen);
	if (stage_is_container(path))
		return stage_container(st, path, err, errlen);
	return stage_plain(st, path, err, errlen);
}

int
stage_write(struct stage *st, const char *name, const char *text,
    uint64_t count, char *err, size_t errlen)
{
	size_t len = strlen(text);
	int fd, db;

	if ((fd = openat(st->dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, text, len) != (ssize_t)len) {
		snprintf(err, errlen, "%s/%s: %s", st->path, name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if ((db = stage_new_db(st, name, 0, "file", false, err, errlen)) < 0)
		return -1;
	return stage_new_file(st, name, db, count, count, err, errlen);
}

static int
stage_cmp(const void *a, const void *b)
{
	const struct stage_file *x = a, *y = b;

	if (x->order != y->order)
		return x->order - y->order;
	return strcmp(x->name, y->name);
}

void
stage_sort(struct stage *st)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		struct stage_file *f = &st->files[i];

		f->lo = f->lo > st->ign_lines ? f->lo - st->ign_lines : 0;
	}
	qsort(st->files, st->nfiles, sizeof(st->files[0]), stage_cmp);
}

void
stage_close(struct stage *st)
{
	struct dirent *de;
	DIR *d;

	if (st->dirfd >= 0) {
		int fd = dup(st->dirfd);

		if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
			while ((de = readdir(d)) != NULL)
				if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") != 0 &&
				    strcmp(de->d_name, "..") != 0))
					unlinkat(st->dirfd, de->d_name, 0);
			closedir(d);
		} else if (fd >= 0) {
			close(fd);
		}
		close(st->dirfd);
		st->dirfd = -1;
		rmdir(st->path);
	}
	for (size_t i = 0; i < st->nfds; i++)
		close(st->fds[i]);
	st->nfds = 0;
}
