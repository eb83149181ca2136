/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The definitions store: directories, re-verification, rollback (store.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ampscan/cvd.h"
#include "ampscan/sigs.h"
#include "defs.h"
#include "fdio.h"
#include "dirtrust.h"
#include "store.h"
#include "statefile.h"
#include "strbuf.h"
#include "store_int.h"

const char *
store_strerror(int code)
{
	switch (code) {
	case STORE_OK: return "success";
	case STORE_ERR_IO: return "I/O error";
	case STORE_ERR_NOMEM: return "out of memory";
	case STORE_ERR_TYPE: return "not a directory";
	case STORE_ERR_TRUST: return "trust configuration unusable";
	case STORE_ERR_LIMIT: return "limit exceeded";
	case STORE_ERR_UNSAFE: return "directory not safe";
	}
	return "unknown error";
}

int
store_join(char *buf, size_t len, const char *a, const char *b, char *err,
    size_t errlen)
{
	int n = snprintf(buf, len, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= len)
		return str_seterr(err, errlen, STORE_ERR_LIMIT,
		    "%s/%s: path longer than %zu bytes", a, b, len - 1);
	return 0;
}

void
store_report(const struct store_reporter *r, const char *event,
    const char *dir, const char *name, const char *reason)
{
	char file[STORE_PATH_MAX];

	if (r->fn == NULL)
		return;
	if (name != NULL)
		snprintf(file, sizeof(file), "%s/%s", dir, name);
	else
		snprintf(file, sizeof(file), "%s", dir);
	r->fn(r->arg, event, file, reason);
}

enum store_kind
store_kind_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (name[0] == '.' || dot == NULL || strcmp(name, DEFS_INDEX_NAME) == 0)
		return STORE_KIND_OTHER;
	if (strcmp(dot, ".cvd") == 0 || strcmp(dot, ".cld") == 0 ||
	    strcmp(dot, ".cud") == 0)
		return STORE_KIND_CONTAINER;
	if (strcmp(dot, ".sign") == 0)
		return STORE_KIND_SIGN;
	if (sig_type_from_name(name) != SIG_TYPE_OTHER)
		return STORE_KIND_PLAIN;
	return STORE_KIND_OTHER;
}

/* Open a directory of the store; never through a symlink. */
int
store_dir_open(const char *path, int *fd, char *err, size_t errlen)
{
	if ((*fd = open(path, STORE_OPEN_DIR)) >= 0)
		return 0;
	if (errno == ELOOP || errno == ENOTDIR)
		return str_seterr(err, errlen, STORE_ERR_TYPE,
		    "%s: a symbolic link or not a directory", path);
	return str_seterr(err, errlen, STORE_ERR_IO, "%s: %s", path,
	    strerror(errno));
}

static int
store_name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

bool
store_names_has(const struct store_names *s, const char *name)
{
	return s->n > 0 &&
	    bsearch(name, s->name, s->n, sizeof(*s->name), store_name_cmp) != NULL;
}

void
store_names_free(struct store_names *s)
{
	free(s->name);
	s->name = NULL;
	s->n = 0;
}

/* The names of dirfd (path, for messages) of the kinds in the mask. */
int
store_list(int dirfd, const char *path, unsigned kinds,
    struct store_names *out, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd = -1, rc = STORE_ERR_IO;

	out->name = NULL;
	out->n = 0;
	if ((out->name = calloc(STORE_DIR_FILES_MAX, sizeof(*out->name))) == NULL) {
		rc = str_seterr(err, errlen, STORE_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	/* a descriptor of its own: readdir must start at the beginning */
	if ((fd = openat(dirfd, ".", STORE_OPEN_DIR)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: %s", path,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!(kinds & (1u << store_kind_of(de->d_name))))
			continue;
		if (out->n == STORE_DIR_FILES_MAX) {
			rc = str_seterr(err, errlen, STORE_ERR_LIMIT,
			    "%s: more than %d definitions files", path,
			    STORE_DIR_FILES_MAX);
			goto out;
		}
		snprintf(out->name[out->n++], sizeof(*out->name), "%s", de->d_name);
		errno = 0;
	}
	if (errno != 0) {
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: readdir: %s",
		    path, strerror(errno));
		goto out;
	}
	qsort(out->name, out->n, sizeof(*out->name), store_name_cmp);
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		store_names_free(out);
	return rc;
}

/* The header of dirfd/name, parsed; -1 when unreadable or malformed. */
int
store_header_read(int dirfd, const char *name, struct cvd_header *h)
{
	uint8_t buf[CVD_HEADER_SIZE];
	char why[CVD_ERRMSG_MAX];
	ssize_t n;
	int fd;

	memset(h, 0, sizeof(*h));
	if ((fd = openat(dirfd, name, STORE_OPEN_FILE)) < 0)
		return -1;
	n = fd_read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || cvd_header_parse(buf, (size_t)n, h, why, sizeof(why)) != 0)
		return -1;
	return 0;
}

/* ---- trust, directories -------------------------------------------- */

int
store_trust_new(const struct store_trust *t, struct cvd_trust **out,
    char *err, size_t errlen)
{
	struct cvd_trust *tr = NULL;
	char why[CVD_ERRMSG_MAX];
	struct stat st;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = cvd_trust_new(0, &tr)) != 0)
		return str_seterr(err, errlen, rc == CVD_ENOMEM ?
		    STORE_ERR_NOMEM : STORE_ERR_TRUST, "trust store: %s",
		    cvd_strerror(rc));
	rc = STORE_ERR_TRUST;
	for (size_t i = 0; i < t->ntrusted_keys; i++)
		if (cvd_trust_add_key_file(tr, t->trusted_keys[i], why,
		    sizeof(why)) != 0) {
			str_seterr(err, errlen, rc, "%s", why);
			goto out;
		}
	/* a missing certificates directory: .sign files are not in use */
	if (t->certs_dir != NULL && t->certs_dir[0] != '\0' &&
	    !(stat(t->certs_dir, &st) != 0 && errno == ENOENT) &&
	    cvd_trust_set_certs_dir(tr, t->certs_dir, why, sizeof(why)) != 0) {
		str_seterr(err, errlen, rc, "%s", why);
		goto out;
	}
	*out = tr;
	tr = NULL;
	rc = 0;
out:
	cvd_trust_free(tr);
	return rc;
}

static int
store_dir_make(const char *path, mode_t mode, bool force_mode, char *err,
    size_t errlen)
{
	struct stat st;
	int fd;

	if (mkdir(path, mode) == 0 || (force_mode && errno == EEXIST)) {
		/* exactly the mode, whatever the umask; not through a link */
		if ((fd = open(path, STORE_OPEN_DIR)) < 0 ||
		    fchmod(fd, mode) != 0) {
			str_seterr(err, errlen, STORE_ERR_IO, "%s: chmod: %s",
			    path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return STORE_ERR_IO;
		}
		close(fd);
	} else if (errno != EEXIST) {
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: mkdir: %s",
		    path, strerror(errno));
	}
	if (lstat(path, &st) != 0)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: %s", path,
		    strerror(errno));
	if (S_ISLNK(st.st_mode))
		return str_seterr(err, errlen, STORE_ERR_TYPE,
		    "%s: a symbolic link, not a directory", path);
	if (!S_ISDIR(st.st_mode))
		return str_seterr(err, errlen, STORE_ERR_TYPE,
		    "%s: not a directory", path);
	if (dir_trusted(path, err, errlen) != 0)
		return STORE_ERR_UNSAFE;
	return 0;
}

int
store_dirs_create(const char *defs_dir, char *err, size_t errlen)
{
	static const char *const subs[] = { STORE_DIR_ACTIVE,
	    STORE_DIR_INCOMING, STORE_DIR_STAGING, STORE_DIR_PREVIOUS,
	    STORE_DIR_QUARANTINE };
	char path[STORE_PATH_MAX];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = store_dir_make(defs_dir, STORE_DIR_MODE, false, err, errlen)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		bool active = i == 0;

		if ((rc = store_join(path, sizeof(path), defs_dir, subs[i], err,
		    errlen)) != 0 || (rc = store_dir_make(path, active ?
		    STORE_ACTIVE_MODE : STORE_DIR_MODE, active, err, errlen)) != 0)
			return rc;
	}
	return 0;
}

int
store_dir_has_set(const char *dir, char *err, size_t errlen)
{
	struct store_names names;
	int fd = -1, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = store_dir_open(dir, &fd, err, errlen)) != 0) {
		if (rc == STORE_ERR_IO && errno == ENOENT) {
			if (err != NULL && errlen > 0)
				err[0] = '\0';
			return 0;
		}
		return rc;
	}
	rc = store_list(fd, dir, STORE_KINDS_SET, &names, err, errlen);
	close(fd);
	if (rc != 0)
		return rc;
	rc = names.n > 0;
	store_names_free(&names);
	return rc;
}

/* ---- verifying active/ ---------------------------------------------- */

struct store_verify {
	char active[STORE_PATH_MAX];
	int afd;
	struct cvd_verify_opts vo;
	struct store_reporter rep;
	unsigned kept, deleted;
	int rc;                   /* the first failure */
	unsigned failures;
	char *err;
	size_t errlen;
};

/* Keep the first failure for the caller; count the others. */
static void store_verify_fail(struct store_verify *v, int rc, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
store_verify_fail(struct store_verify *v, int rc, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (v->failures++ == 0) {
		v->rc = rc;
		if (v->err != NULL && v->errlen > 0) {
			va_start(ap, fmt);
			vsnprintf(v->err, v->errlen, fmt, ap);
			va_end(ap);
		}
	}
	errno = saved;
}

/* The codes that say a container's bytes are wrong (not our I/O). */
static bool
store_cvd_is_invalid(int rc)
{
	switch (rc) {
	case CVD_EHEADER: case CVD_EMD5: case CVD_ESIG: case CVD_EUNSIGNED:
	case CVD_EPAYLOAD: case CVD_ETAR: case CVD_ELIMIT: case CVD_EINFO:
	case CVD_EDSIG: case CVD_EMEMBER: case CVD_ECONTENT: case CVD_ESIGNFILE:
		return true;
	}
	return false;
}

static int
store_plain_line(enum sig_type type, const char *line, size_t len,
    uint64_t lineno, char *reason, size_t rlen)
{
	char why[STORE_REASON_MAX];
	struct sig s;
	int rc = sig_parse_line(type, line, len, &s, why, sizeof(why));

	if (rc == SIG_OK || rc == SIG_SKIP)
		return 0;
	return str_seterr(reason, rlen, STORE_INVALID, "line %llu: %s",
	    (unsigned long long)lineno, why);
}

/* Every line of an open plain signature file: 0, STORE_INVALID or error. */
static int
store_plain_check(int fd, const char *path, enum sig_type type,
    char *reason, size_t rlen, char *err, size_t errlen)
{
	char *buf = NULL, *line = NULL;
	uint64_t lineno = 0;
	size_t have = 0;          /* bytes of the current line in line */
	ssize_t n;
	int rc = STORE_ERR_NOMEM;

	if ((buf = malloc(STORE_COPY_CHUNK)) == NULL ||
	    (line = malloc(SIG_LINE_MAX + 1)) == NULL) {
		str_seterr(err, errlen, rc, "%s: out of memory", path);
		goto out;
	}
	while ((n = fd_read_full(fd, buf, STORE_COPY_CHUNK)) > 0) {
		for (const char *p = buf, *end = buf + n; p < end;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t take = (size_t)((nl ? nl : end) - p);

			/* the engine's cap: SIG_LINE_MAX and a '\r' */
			if (take > SIG_LINE_MAX + 1 - have) {
				snprintf(reason, rlen, "line %llu: longer than %d bytes",
				    (unsigned long long)lineno + 1, SIG_LINE_MAX);
				rc = STORE_INVALID;
				goto out;
			}
			memcpy(line + have, p, take);
			have += take;
			if (nl == NULL)
				break;
			if ((rc = store_plain_line(type, line, have, ++lineno,
			    reason, rlen)) != 0)
				goto out;
			have = 0;
			p = nl + 1;
		}
	}
	if (n < 0) {
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: read: %s",
		    path, strerror(errno));
		goto out;
	}
	rc = have > 0 ? store_plain_line(type, line, have, ++lineno, reason,
	    rlen) : 0;
out:
	free(buf);
	free(line);
	return rc;
}

static int
store_judge_plain(struct store_verify *v, const char *name, const char *path,
    char *reason, size_t rlen, char *err, size_t errlen)
{
	int fd, rc;

	if (!v->vo.allow_unsigned) {
		snprintf(reason, rlen, "%s",
		    "a plain signature file is unsigned; allowed only with unsigned definitions enabled");
		return STORE_INVALID;
	}
	if ((fd = openat(v->afd, name, STORE_OPEN_FILE)) < 0)
		return errno == ENOENT ? STORE_SKIP : str_seterr(err, errlen,
		    STORE_ERR_IO, "%s: %s", path, strerror(errno));
	rc = store_plain_check(fd, path, sig_type_from_name(name), reason,
	    rlen, err, errlen);
	close(fd);
	return rc;
}

/*
 * Judge active/name: 0 valid, STORE_INVALID (reason set; sign names the
 * .sign file the verifier used, if any), STORE_SKIP, or STORE_ERR_*.
 */
static int
store_judge(struct store_verify *v, const char *name, char *sign,
    size_t signlen, char *reason, size_t rlen, char *err, size_t errlen)
{
	char path[STORE_PATH_MAX];
	struct cvd_result res;
	struct stat st;
	int rc;

	sign[0] = '\0';
	if ((rc = store_join(path, sizeof(path), v->active, name, err,
	    errlen)) != 0)
		return rc;
	if (fstatat(v->afd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? STORE_SKIP : str_seterr(err, errlen,
		    STORE_ERR_IO, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return STORE_SKIP;
	if (!S_ISREG(st.st_mode)) {
		snprintf(reason, rlen, "%s", S_ISLNK(st.st_mode) ?
		    "a symbolic link, not a regular file" : "not a regular file");
		return STORE_INVALID;
	}
	if (store_kind_of(name) == STORE_KIND_PLAIN)
		return store_judge_plain(v, name, path, reason, rlen, err, errlen);
	rc = cvd_verify_file(path, &v->vo, &res);
	if (rc == 0) {
		cvd_result_free(&res);
		return 0;
	}
	if (store_cvd_is_invalid(rc)) {
		snprintf(reason, rlen, "%s", res.message);
		if (res.has_sign_file) {
			const char *slash = strrchr(res.sign_path, '/');
			const char *base = slash ? slash + 1 : res.sign_path;

			/* beside the container, so a name that fits */
			if (strlen(base) < signlen)
				memcpy(sign, base, strlen(base) + 1);
		}
		rc = STORE_INVALID;
	} else {
		rc = str_seterr(err, errlen, rc == CVD_ENOMEM ?
		    STORE_ERR_NOMEM : STORE_ERR_IO, "%s", res.message[0] ?
		    res.message : cvd_strerror(rc));
	}
	cvd_result_free(&res);
	return rc;
}

/* Remove a .sign beside a deleted container; gone already is fine. */
static void
store_verify_unlink_sign(struct store_verify *v, const char *sign)
{
	if (sign[0] == '\0' || unlinkat(v->afd, sign, 0) == 0 || errno == ENOENT)
		return;
	store_verify_fail(v, STORE_ERR_IO, "%s/%s: unlink: %s", v->active,
	    sign, strerror(errno));
}

static void
store_verify_one(struct store_verify *v, const char *name)
{
	char reason[STORE_REASON_MAX], msg[STORE_REASON_MAX];
	char used[STORE_NAME_MAX + 1], sign[STORE_NAME_MAX + 1];
	int rc;

	msg[0] = '\0';
	rc = store_judge(v, name, used, sizeof(used), reason, sizeof(reason),
	    msg, sizeof(msg));
	if (rc == 0)
		v->kept++;
	if (rc == 0 || rc == STORE_SKIP)
		return;
	if (rc < 0) {
		store_verify_fail(v, rc, "%s", msg);
		return;
	}
	/* the container first: a lone .sign is harmless, a lone .cvd may not be */
	if (unlinkat(v->afd, name, 0) != 0 && errno != ENOENT) {
		store_verify_fail(v, STORE_ERR_IO,
		    "%s/%s: invalid (%s), but unlink failed: %s", v->active,
		    name, reason, strerror(errno));
		return;
	}
	v->deleted++;
	store_report(&v->rep, STORE_EVENT_DELETED, STORE_DIR_ACTIVE, name, reason);
	if (snprintf(sign, sizeof(sign), "%s.sign", name) >= (int)sizeof(sign))
		sign[0] = '\0';
	store_verify_unlink_sign(v, sign);
	if (strcmp(used, sign) != 0)
		store_verify_unlink_sign(v, used);
}

int
store_verify_active(const char *defs_dir, const struct store_trust *t,
    void (*report)(void *arg, const char *event, const char *file,
    const char *reason), void *arg, unsigned *kept, unsigned *deleted,
    char *err, size_t errlen)
{
	struct store_verify v = { .afd = -1, .rep = { report, arg },
	    .err = err, .errlen = errlen };
	struct store_names names = { NULL, 0 };
	struct cvd_trust *trust = NULL;
	int rc;

	*kept = 0;
	*deleted = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = store_join(v.active, sizeof(v.active), defs_dir,
	    STORE_DIR_ACTIVE, err, errlen)) != 0 ||
	    (rc = store_trust_new(t, &trust, err, errlen)) != 0 ||
	    (rc = store_dir_open(v.active, &v.afd, err, errlen)) != 0 ||
	    (rc = store_list(v.afd, v.active, STORE_KINDS_SET, &names, err,
	    errlen)) != 0)
		goto out;
	v.vo.trust = trust;
	v.vo.allow_unsigned = t->allow_unsigned;
	for (size_t i = 0; i < names.n; i++)
		store_verify_one(&v, names.name[i]);
	if (v.deleted > 0 && fsync(v.afd) != 0) {
		store_verify_fail(&v, STORE_ERR_IO, "%s: fsync: %s", v.active,
		    strerror(errno));
	}
	if (v.failures > 1 && err != NULL) {
		size_t len = strnlen(err, errlen);

		snprintf(err + len, errlen - len, " (and %u more failures)",
		    v.failures - 1);
	}
	*kept = v.kept;
	*deleted = v.deleted;
	rc = v.rc;
out:
	store_names_free(&names);
	if (v.afd >= 0)
		close(v.afd);
	cvd_trust_free(trust);
	return rc;
}

/* ---- rollback ------------------------------------------------------- */

struct store_rollback {
	char active[STORE_PATH_MAX], previous[STORE_PATH_MAX];
	char quarantine[STORE_PATH_MAX];
	int afd, pfd, qfd;
	struct store_names prev;   /* definitions and .sign files of previous/ */
	struct store_names act;    /* the same of active/, before any change */
	bool *staged;              /* prev.name[i] copied to its temp name */
	char stamp[STORE_STAMP_LEN + 1];
	struct store_reporter rep;
	bool changed;
	const char *why;           /* for the .reason files; NULL: none */
	char *err;
	size_t errlen;
};

static int
store_tmp_name(const char *name, char *tmp, size_t len, char *err,
    size_t errlen)
{
	int n = snprintf(tmp, len, ".%s%s", name, STORE_TMP_SUFFIX);

	if (n < 0 || (size_t)n >= len)
		return str_seterr(err, errlen, STORE_ERR_LIMIT,
		    "%s: name too long for a temporary copy", name);
	return 0;
}

/* Compare two open regular files byte by byte: 1 equal, 0 not, -1 error. */
static int
store_fds_equal(int a, int b)
{
	char *ba = malloc(STORE_COPY_CHUNK), *bb = malloc(STORE_COPY_CHUNK);
	int rc = -1;

	if (ba == NULL || bb == NULL) {
		errno = ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t na = fd_read_full(a, ba, STORE_COPY_CHUNK);
		ssize_t nb = fd_read_full(b, bb, STORE_COPY_CHUNK);

		if (na < 0 || nb < 0)
			goto out;
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0) {
			rc = 0;
			goto out;
		}
		if (na == 0) {
			rc = 1;
			goto out;
		}
	}
out:
	free(ba);
	free(bb);
	return rc;
}

/* previous/name, open and regular; STORE_ERR_* naming it otherwise. */
static int
store_prev_open(struct store_rollback *rb, const char *name, int *fd,
    struct stat *st)
{
	if ((*fd = openat(rb->pfd, name, STORE_OPEN_FILE)) < 0)
		return str_seterr(rb->err, rb->errlen, errno == ELOOP ?
		    STORE_ERR_TYPE : STORE_ERR_IO, "%s/%s: %s", rb->previous,
		    name, strerror(errno));
	if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
		str_seterr(rb->err, rb->errlen, STORE_ERR_TYPE,
		    "%s/%s: not a regular file", rb->previous, name);
		close(*fd);
		*fd = -1;
		return STORE_ERR_TYPE;
	}
	return 0;
}

/* Whether active/name holds the bytes of previous/name: 1, 0, or error. */
static int
store_rb_same(struct store_rollback *rb, const char *name)
{
	struct stat ps, as;
	int pfd = -1, afd = -1, rc;

	if ((rc = store_prev_open(rb, name, &pfd, &ps)) != 0)
		return rc;
	rc = 0;
	/* missing, a link, a special file: not the same */
	if ((afd = openat(rb->afd, name, STORE_OPEN_FILE)) < 0 ||
	    fstat(afd, &as) != 0 || !S_ISREG(as.st_mode) ||
	    as.st_size != ps.st_size)
		goto out;
	if ((rc = store_fds_equal(pfd, afd)) < 0)
		rc = str_seterr(rb->err, rb->errlen, errno == ENOMEM ?
		    STORE_ERR_NOMEM : STORE_ERR_IO, "comparing %s/%s with %s/%s: %s",
		    rb->previous, name, rb->active, name, strerror(errno));
out:
	close(pfd);
	if (afd >= 0)
		close(afd);
	return rc;
}

/* Copy previous/name to active/tmp: the source's mode bits, fsync'd. */
static int
store_rb_copy(struct store_rollback *rb, const char *name, const char *tmp)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int pfd = -1, tfd = -1, rc, saved;
	const char *what = "create";
	char *buf = NULL;
	struct stat st;
	ssize_t n;

	if ((rc = store_prev_open(rb, name, &pfd, &st)) != 0)
		return rc;
	rc = STORE_ERR_IO;
	/* a leftover of a crashed rollback is ours: replace it */
	if ((tfd = openat(rb->afd, tmp, flags, STORE_TMP_MODE)) < 0 &&
	    errno == EEXIST && unlinkat(rb->afd, tmp, 0) == 0)
		tfd = openat(rb->afd, tmp, flags, STORE_TMP_MODE);
	if (tfd < 0)
		goto out;
	what = "copy";
	if ((buf = malloc(STORE_COPY_CHUNK)) == NULL) {
		errno = ENOMEM;
		goto out;
	}
	while ((n = fd_read_full(pfd, buf, STORE_COPY_CHUNK)) > 0)
		if (statefile_write_all(tfd, buf, (size_t)n) != 0)
			goto out;
	if (n < 0)
		goto out;
	what = "fsync";
	if (fchmod(tfd, st.st_mode & (S_IRWXU | S_IRWXG | S_IRWXO)) != 0 ||
	    fsync(tfd) != 0)
		goto out;
	what = "close";
	n = close(tfd);
	tfd = -1;
	if (n == 0)
		rc = 0;
out:
	saved = errno;
	if (rc != 0)
		str_seterr(rb->err, rb->errlen, rc, "%s/%s to %s/%s: %s: %s",
		    rb->previous, name, rb->active, tmp, what, strerror(saved));
	if (tfd >= 0)
		close(tfd);
	if (rc != 0 && strcmp(what, "create") != 0)
		unlinkat(rb->afd, tmp, 0);
	close(pfd);
	free(buf);
	errno = saved;
	return rc;
}

/* Step 1: a temporary copy in active/ of each differing file of previous/. */
static int
store_rb_stage(struct store_rollback *rb)
{
	char tmp[STORE_NAME_MAX + 1];
	int rc;

	for (size_t i = 0; i < rb->prev.n; i++) {
		const char *name = rb->prev.name[i];

		if ((rc = store_rb_same(rb, name)) < 0)
			return rc;
		if (rc == 1)
			continue;
		if ((rc = store_tmp_name(name, tmp, sizeof(tmp), rb->err,
		    rb->errlen)) != 0 || (rc = store_rb_copy(rb, name, tmp)) != 0)
			return rc;
		rb->staged[i] = true;
	}
	return 0;
}

/*
 * quarantine/QNAME.reason: why QNAME is there (best effort: the move
 * itself is what matters, and the event says why too).
 */
void
store_reason_file(int qfd, const char *qname, const char *why)
{
	char rname[STORE_NAME_MAX + 16], text[STORE_REASON_MAX + 2];
	struct statefile_tmp t;
	int n;

	if (why == NULL || snprintf(rname, sizeof(rname), "%s.reason", qname) >=
	    (int)sizeof(rname))
		return;
	n = snprintf(text, sizeof(text), "%s\n", why);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	if (statefile_open_at(&t, qfd, STORE_DIR_QUARANTINE, rname, 0640, 0,
	    NULL, 0) != STATEFILE_OK)
		return;
	if (statefile_write_all(t.fd, text, (size_t)n) == 0)
		(void)statefile_commit(&t, NULL, 0);
	statefile_abort(&t);
}

/* Copy fd over qfd/qname, STORE_QUARANTINE_MODE, atomically. */
static int
store_quarantine_copy(int fd, int qfd, const char *qname, char *err,
    size_t errlen)
{
	struct statefile_tmp t;
	char buf[65536];
	ssize_t n;
	int rc;

	if ((rc = statefile_open_at(&t, qfd, STORE_DIR_QUARANTINE, qname,
	    STORE_QUARANTINE_MODE, 0, err, errlen)) != STATEFILE_OK)
		return STORE_ERR_IO;
	rc = STORE_ERR_IO;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_seterr(err, errlen, rc, "%s/%s: read: %s",
			    STORE_DIR_QUARANTINE, qname, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (statefile_write_all(t.fd, buf, (size_t)n) != 0) {
			str_seterr(err, errlen, rc, "%s/%s: write: %s",
			    STORE_DIR_QUARANTINE, qname, strerror(errno));
			goto out;
		}
	}
	if (statefile_commit(&t, err, errlen) == STATEFILE_OK)
		rc = 0;
out:
	statefile_abort(&t);
	return rc;
}

int
store_quarantine_seal(int qfd, const char *qname, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc = 0;

	fd = openat(qfd, qname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = str_seterr(err, errlen, STORE_ERR_TYPE,
		    "%s/%s: not a regular file: removed", STORE_DIR_QUARANTINE,
		    qname);
		unlinkat(qfd, qname, 0);
		goto out;
	}
	if (st.st_nlink == 1 && st.st_uid == 0) {
		/* ours alone: nobody else sees the mode change */
		if (fchown(fd, 0, 0) != 0 ||
		    fchmod(fd, STORE_QUARANTINE_MODE) != 0)
			rc = str_seterr(err, errlen, STORE_ERR_IO,
			    "%s/%s: chmod: %s", STORE_DIR_QUARANTINE, qname,
			    strerror(errno));
		goto out;
	}
	rc = store_quarantine_copy(fd, qfd, qname, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Hard-link active/name into quarantine/ under a fresh name; never replace. */
static int
store_rb_link(struct store_rollback *rb, const char *name, char *qname,
    size_t qlen)
{
	for (unsigned i = 0; i < STORE_QUARANTINE_TRIES; i++) {
		int n = i == 0 ? snprintf(qname, qlen, "%s.%s", name, rb->stamp) :
		    snprintf(qname, qlen, "%s.%s.%u", name, rb->stamp, i);

		if (n < 0 || (size_t)n >= qlen)
			return str_seterr(rb->err, rb->errlen, STORE_ERR_LIMIT,
			    "%s: name too long for quarantine", name);
		if (linkat(rb->afd, name, rb->qfd, qname, 0) == 0) {
			store_reason_file(rb->qfd, qname, rb->why);
			return 0;
		}
		if (errno != EEXIST)
			return str_seterr(rb->err, rb->errlen, STORE_ERR_IO,
			    "%s/%s: link to %s/%s: %s", rb->active, name,
			    rb->quarantine, qname, strerror(errno));
	}
	return str_seterr(rb->err, rb->errlen, STORE_ERR_LIMIT,
	    "%s/%s.%s: %d names taken", rb->quarantine, name, rb->stamp,
	    STORE_QUARANTINE_TRIES);
}

/* The rollback goes on if sealing fails (the file is kept as it is): the
 * reason says so. */
static void
store_rb_seal(struct store_rollback *rb, const char *qname, char *reason,
    size_t len)
{
	char err[STORE_REASON_MAX / 2];
	size_t n;

	if (store_quarantine_seal(rb->qfd, qname, err, sizeof(err)) == 0)
		return;
	n = strlen(reason);
	if (n < len)
		str_fmt(reason + n, len - n, " (not made 0600: %s)", err);
}

/* Step 2: each copy over its name, the file it replaces into quarantine/. */
static int
store_rb_install(struct store_rollback *rb)
{
	char tmp[STORE_NAME_MAX + 1], qname[STORE_NAME_MAX + 1];
	char reason[STORE_REASON_MAX];
	struct stat st;
	bool linked;
	int rc;

	for (size_t i = 0; i < rb->prev.n; i++) {
		const char *name = rb->prev.name[i];

		if (!rb->staged[i])
			continue;
		if ((rc = store_tmp_name(name, tmp, sizeof(tmp), rb->err,
		    rb->errlen)) != 0)
			return rc;
		linked = fstatat(rb->afd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (linked && (rc = store_rb_link(rb, name, qname,
		    sizeof(qname))) != 0)
			return rc;
		if (renameat(rb->afd, tmp, rb->afd, name) != 0) {
			rc = str_seterr(rb->err, rb->errlen, STORE_ERR_IO,
			    "%s/%s: rename to %s: %s", rb->active, tmp, name,
			    strerror(errno));
			if (linked)
				unlinkat(rb->qfd, qname, 0);
			return rc;
		}
		rb->staged[i] = false;
		rb->changed = true;
		if (!linked)
			continue;
		snprintf(reason, sizeof(reason),
		    "replaced by %s/%s; moved to %s/%s", STORE_DIR_PREVIOUS, name,
		    STORE_DIR_QUARANTINE, qname);
		store_rb_seal(rb, qname, reason, sizeof(reason));
		store_report(&rb->rep, STORE_EVENT_QUARANTINED, STORE_DIR_ACTIVE,
		    name, reason);
	}
	return 0;
}

/* Step 3: what previous/ does not have leaves active/ for quarantine/. */
static int
store_rb_evict(struct store_rollback *rb)
{
	char qname[STORE_NAME_MAX + 1], reason[STORE_REASON_MAX];
	int rc;

	for (size_t i = 0; i < rb->act.n; i++) {
		const char *name = rb->act.name[i];

		if (store_names_has(&rb->prev, name))
			continue;
		if ((rc = store_rb_link(rb, name, qname, sizeof(qname))) != 0)
			return rc;
		if (unlinkat(rb->afd, name, 0) != 0) {
			rc = str_seterr(rb->err, rb->errlen, STORE_ERR_IO,
			    "%s/%s: unlink: %s", rb->active, name,
			    strerror(errno));
			unlinkat(rb->qfd, qname, 0);
			return rc;
		}
		rb->changed = true;
		snprintf(reason, sizeof(reason), "not in %s/; moved to %s/%s",
		    STORE_DIR_PREVIOUS, STORE_DIR_QUARANTINE, qname);
		store_rb_seal(rb, qname, reason, sizeof(reason));
		store_report(&rb->rep, STORE_EVENT_QUARANTINED, STORE_DIR_ACTIVE,
		    name, reason);
	}
	return 0;
}

/* Step 4: the stale index, durability, and the report. */
static int
store_rb_finish(struct store_rollback *rb)
{
	char reason[STORE_REASON_MAX];
	struct cvd_header h;
	size_t off;

	if (unlinkat(rb->afd, DEFS_INDEX_NAME, 0) != 0 && errno != ENOENT)
		return str_seterr(rb->err, rb->errlen, STORE_ERR_IO,
		    "%s/%s: unlink: %s", rb->active, DEFS_INDEX_NAME,
		    strerror(errno));
	if (fsync(rb->afd) != 0 || fsync(rb->qfd) != 0)
		return str_seterr(rb->err, rb->errlen, STORE_ERR_IO,
		    "%s: fsync: %s", rb->active, strerror(errno));
	off = (size_t)snprintf(reason, sizeof(reason), "restored %s/:",
	    STORE_DIR_PREVIOUS);
	for (size_t i = 0; i < rb->prev.n && off < sizeof(reason); i++) {
		const char *name = rb->prev.name[i];
		const char *dot = strrchr(name, '.');

		if (store_kind_of(name) == STORE_KIND_CONTAINER &&
		    store_header_read(rb->afd, name, &h) == 0)
			off += (size_t)snprintf(reason + off, sizeof(reason) - off,
			    " %.*s:%u", (int)(dot - name), name, h.version);
		else if (store_kind_of(name) == STORE_KIND_PLAIN)
			off += (size_t)snprintf(reason + off, sizeof(reason) - off,
			    " %s", name);
	}
	store_report(&rb->rep, STORE_EVENT_ROLLED_BACK, STORE_DIR_ACTIVE, NULL,
	    reason);
	return 0;
}

/* Open the three directories and list them; 0 when previous/ has no set. */
static int
store_rb_open(struct store_rollback *rb, const char *defs_dir)
{
	char *err = rb->err;
	size_t errlen = rb->errlen;
	bool has_set = false;
	int rc;

	if ((rc = store_join(rb->active, sizeof(rb->active), defs_dir,
	    STORE_DIR_ACTIVE, err, errlen)) != 0 ||
	    (rc = store_join(rb->previous, sizeof(rb->previous), defs_dir,
	    STORE_DIR_PREVIOUS, err, errlen)) != 0 ||
	    (rc = store_join(rb->quarantine, sizeof(rb->quarantine), defs_dir,
	    STORE_DIR_QUARANTINE, err, errlen)) != 0)
		return rc;
	if ((rc = store_dir_open(rb->previous, &rb->pfd, err, errlen)) != 0) {
		if (rc == STORE_ERR_IO && errno == ENOENT) {
			if (err != NULL && errlen > 0)
				err[0] = '\0';
			return 0;
		}
		return rc;
	}
	if ((rc = store_list(rb->pfd, rb->previous, STORE_KINDS_ALL, &rb->prev,
	    err, errlen)) != 0)
		return rc;
	for (size_t i = 0; i < rb->prev.n; i++)
		has_set |= store_kind_of(rb->prev.name[i]) != STORE_KIND_SIGN;
	if (!has_set)
		return 0;
	if ((rc = store_dir_open(rb->active, &rb->afd, err, errlen)) != 0 ||
	    (rc = store_dir_open(rb->quarantine, &rb->qfd, err, errlen)) != 0 ||
	    (rc = store_list(rb->afd, rb->active, STORE_KINDS_ALL, &rb->act,
	    err, errlen)) != 0)
		return rc;
	if ((rb->staged = calloc(rb->prev.n, sizeof(*rb->staged))) == NULL)
		return str_seterr(err, errlen, STORE_ERR_NOMEM,
		    "%s: out of memory", rb->active);
	return 1;
}

void
store_rb_stamp(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(buf, len, "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(buf, len, "%s", "00000000T000000Z");
}

int
store_rollback(const char *defs_dir, const char *why,
    void (*report)(void *arg, const char *event, const char *file,
    const char *reason), void *arg, char *err, size_t errlen)
{
	struct store_rollback rb = { .afd = -1, .pfd = -1, .qfd = -1,
	    .rep = { report, arg }, .why = why, .err = err, .errlen = errlen };
	char tmp[STORE_NAME_MAX + 1];
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = store_rb_open(&rb, defs_dir)) <= 0)
		goto out;
	store_rb_stamp(rb.stamp, sizeof(rb.stamp));
	if ((rc = store_rb_stage(&rb)) != 0 ||
	    (rc = store_rb_install(&rb)) != 0 ||
	    (rc = store_rb_evict(&rb)) != 0 ||
	    (rb.changed && (rc = store_rb_finish(&rb)) != 0))
		goto out;
	rc = rb.changed ? 1 : 0;
out:
	/* copies not renamed into place (a failure part-way) */
	for (size_t i = 0; rb.staged != NULL && i < rb.prev.n; i++)
		if (rb.staged[i] && store_tmp_name(rb.prev.name[i], tmp,
		    sizeof(tmp), NULL, 0) == 0)
			unlinkat(rb.afd, tmp, 0);
	free(rb.staged);
	store_names_free(&rb.prev);
	store_names_free(&rb.act);
	if (rb.afd >= 0)
		close(rb.afd);
	if (rb.pfd >= 0)
		close(rb.pfd);
	if (rb.qfd >= 0)
		close(rb.qfd);
	return rc;
}

/* ---- status ---------------------------------------------------------- */

int
store_active_summary(const char *defs_dir, struct store_container *out,
    size_t max, size_t *n, char *err, size_t errlen)
{
	struct store_names names = { NULL, 0 };
	char active[STORE_PATH_MAX];
	struct cvd_header h;
	int afd = -1, rc;

	*n = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = store_join(active, sizeof(active), defs_dir, STORE_DIR_ACTIVE,
	    err, errlen)) != 0 ||
	    (rc = store_dir_open(active, &afd, err, errlen)) != 0 ||
	    (rc = store_list(afd, active, 1u << STORE_KIND_CONTAINER, &names,
	    err, errlen)) != 0)
		goto out;
	if (names.n > max) {
		rc = str_seterr(err, errlen, STORE_ERR_LIMIT,
		    "%s: %zu containers, room for %zu", active, names.n, max);
		goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		struct store_container *c = &out[i];

		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), "%s", names.name[i]);
		if (store_header_read(afd, c->name, &h) != 0)
			continue;
		c->header_ok = true;
		c->kind = h.kind;
		c->version = h.version;
		c->sigs = h.sigs;
		snprintf(c->time, sizeof(c->time), "%s", h.time);
		c->stime = h.stime;
		c->has_stime = h.has_stime;
	}
	*n = names.n;
out:
	store_names_free(&names);
	if (afd >= 0)
		close(afd);
	return rc;
}
