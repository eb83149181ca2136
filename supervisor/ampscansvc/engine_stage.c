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

/* Lines that are neither blank nor comments, counted as they stream by. */
struct linecount {
	uint64_t lines;
	bool at_start, counted;
};

static void
linecount_feed(struct linecount *c, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			c->at_start = true;
			c->counted = false;
		} else if (c->at_start && (p[i] == '#' || p[i] == '\r' ||
		    p[i] == ' ' || p[i] == '\t')) {
			c->at_start = p[i] != '#' && c->at_start;
			if (p[i] == '#')
				c->counted = true;   /* a comment: never counted */
		} else if (!c->counted) {
			c->lines++;
			c->counted = true;
			c->at_start = false;
		}
	}
}

/* Copy src to a new file name in the stage, counting its lines. */
static int
stage_copy(struct stage *st, int src, const char *display, const char *name,
    uint64_t *lines, char *err, size_t errlen)
{
	struct linecount lc = { .at_start = true };
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

/* Any other container: its verified members, unpacked as plain files. */
static int
stage_unofficial(struct stage *st, int fd, const char *path, int db,
    const struct cvd_verify_opts *vo, char *err, size_t errlen)
{
	struct cvd_verify_opts uo = *vo;
	struct cvd_result res;
	char src[64], sub[16], dir[sizeof(st->path) + sizeof(sub)], m[256];
	int rc = -1;

	uo.no_sign = true;   /* checked already, on the same descriptor */
	uo.sign_path = NULL;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	memset(&res, 0, sizeof(res));
	/* each container in a directory of its own: two sets may have
	 * members of the same name (demo.hdb in demo.cvd and in extra.cvd) */
	snprintf(sub, sizeof(sub), "c%d", db);
	snprintf(dir, sizeof(dir), "%s/%s", st->path, sub);
	if (mkdirat(st->dirfd, sub, 0700) != 0) {
		snprintf(err, errlen, "%s: cannot stage in %s: %s", path, dir,
		    strerror(errno));
		goto out;
	}
	if (cvd_unpack_file(src, dir, &uo, &res) != 0) {
		snprintf(err, errlen, "%s: %s", path, res.message);
		goto out;
	}
	for (size_t i = 0; i < res.nmembers; i++) {
		int type = stage_type(res.members[i].name), mfd;
		uint64_t lines = 0, lo, hi;
		struct linecount lc = { .at_start = true };
		uint8_t buf[4096];
		ssize_t n;

		snprintf(m, sizeof(m), "%s/%s", sub, res.members[i].name);
		if (type < 0) {   /* COPYING, NAME.info: not signatures */
			unlinkat(st->dirfd, m, 0);
			continue;
		}
		if ((mfd = openat(st->dirfd, m, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
			snprintf(err, errlen, "%s: %s: %s", path, m, strerror(errno));
			goto out;
		}
		while ((n = read(mfd, buf, sizeof(buf))) > 0)
			linecount_feed(&lc, buf, (size_t)n);
		close(mfd);
		lines = lc.lines;
		stage_expect(st, type, lines, &lo, &hi);
		if (stage_new_file(st, m, db, lo, hi, err, errlen) != 0)
			goto out;
	}
	rc = 0;
out:
	cvd_result_free(&res);
	return rc;
}

static int
stage_container(struct stage *st, const char *path, char *err, size_t errlen)
{
	const char *name = stage_basename(path);
	struct cvd_verify_opts vo = { .trust = st->dopts->trust,
	    .allow_unsigned = st->dopts->allow_unsigned };
	struct cvd_result res;
	char sign[4096], base[64];
	int fd, db, rc = -1;
	bool official;

	if (st->nfds == STAGE_MAX_DBS) {
		snprintf(err, errlen, "%s: too many containers", path);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	st->fds[st->nfds++] = fd;   /* kept open: the staged symlink's target */
	vo.sign_path = stage_sign_path(path, sign, sizeof(sign));
	vo.no_sign = vo.sign_path == NULL;
	memset(&res, 0, sizeof(res));
	if (cvd_verify_fd(fd, path, &vo, &res) != 0) {
		snprintf(err, errlen, "%s", res.message);
		goto out;
	}
	official = res.signer == CVD_SIGNER_OFFICIAL &&
	    res.header.kind != CVD_KIND_CUD;
	cvd_strlcpy(base, name, sizeof(base));
	base[strcspn(base, ".")] = '\0';
	if ((db = stage_new_db(st, base, res.header.version, stage_ext(name),
	    official, err, errlen)) < 0)
		goto out;
	rc = official ? stage_official(st, fd, name, &res, db, err, errlen) :
	    stage_unofficial(st, fd, path, db, &vo, err, errlen);
out:
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

/* Remove what dirfd holds; depth 1: also its directories' files. */
static void
stage_clear(int dirfd, int depth)
{
	struct dirent *de;
	int fd = dup(dirfd), sub;
	DIR *d;

	if (fd < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0 || errno != EISDIR ||
		    depth == 0)
			continue;
		if ((sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			stage_clear(sub, depth - 1);
			close(sub);
		}
		unlinkat(dirfd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

void
stage_close(struct stage *st)
{
	if (st->dirfd >= 0) {
		stage_clear(st->dirfd, 1);
		close(st->dirfd);
		st->dirfd = -1;
		rmdir(st->path);
	}
	for (size_t i = 0; i < st->nfds; i++)
		close(st->fds[i]);
	st->nfds = 0;
}
