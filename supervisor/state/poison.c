/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Suspect and poison files: identity, the list, poison.state, JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "events.h"
#include "poison.h"
#include "num.h"
#include "statefile.h"
#include "strbuf.h"

#define POISON_HEADER "ampscan-poison 1"
#define POISON_NSEC_PER_SEC 1000000000L

const char *
poison_strerror(int code)
{
	switch (code) {
	case POISON_OK: return "success";
	case POISON_ERR_IO: return "I/O error";
	case POISON_ERR_NOMEM: return "out of memory";
	case POISON_ERR_INVAL: return "invalid argument";
	case POISON_ERR_DAMAGED: return "damaged state file";
	}
	return "unknown error";
}

static void
poison_clearerr(char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

/* ---- identity ---- */

/* SHA-256 of the first n bytes of fd, by pread: the offset is not moved. */
int
poison_sha_fd(int fd, uint64_t n, uint8_t out[POISON_SHA256_LEN], char *err,
    size_t errlen)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	unsigned int mdlen = 0;
	uint64_t off = 0;
	size_t want;
	ssize_t r;
	int rc = POISON_ERR_NOMEM;

	if ((buf = malloc(POISON_HASH_CHUNK)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL) {
		str_seterr(err, errlen, rc, "sha256: %s", strerror(ENOMEM));
		goto out;
	}
	rc = POISON_ERR_IO;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		str_seterr(err, errlen, rc, "sha256: OpenSSL init failed");
		goto out;
	}
	while (off < n) {
		want = n - off > POISON_HASH_CHUNK ? POISON_HASH_CHUNK :
		    (size_t)(n - off);
		r = pread(fd, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				str_seterr(err, errlen, rc, "read at byte %" PRIu64 ": the file shrank while being hashed", off);
			else
				str_seterr(err, errlen, rc, "read at byte %" PRIu64 ": %s", off, strerror(errno));
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
			str_seterr(err, errlen, rc, "sha256: OpenSSL update failed");
			goto out;
		}
		off += (uint64_t)r;
	}
	if (EVP_DigestFinal_ex(ctx, out, &mdlen) != 1 ||
	    mdlen != POISON_SHA256_LEN) {
		str_seterr(err, errlen, rc, "sha256: OpenSSL final failed");
		goto out;
	}
	rc = POISON_OK;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

static int
poison_stat_fd(int fd, struct poison_id *id, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return str_seterr(err, errlen, POISON_ERR_IO, "fstat: %s",
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return str_seterr(err, errlen, POISON_ERR_INVAL,
		    "not a regular file");
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	id->mtime_sec = (int64_t)st.st_mtim.tv_sec;
	id->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	id->ctime_sec = (int64_t)st.st_ctim.tv_sec;
	id->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	return POISON_OK;
}

int
poison_id_from_fd(int fd, struct poison_id *id, bool with_sha,
    uint64_t max_bytes, char *err, size_t errlen)
{
	struct poison_id tmp;
	int rc;

	memset(id, 0, sizeof(*id));
	memset(&tmp, 0, sizeof(tmp));
	poison_clearerr(err, errlen);
	if ((rc = poison_stat_fd(fd, &tmp, err, errlen)) != POISON_OK)
		return rc;
	if (with_sha) {
		tmp.hashed = tmp.size < max_bytes ? tmp.size : max_bytes;
		if ((rc = poison_sha_fd(fd, tmp.hashed, tmp.sha256, err,
		    errlen)) != POISON_OK)
			return rc;
		tmp.has_sha = true;
	}
	*id = tmp;
	return POISON_OK;
}

static bool
poison_meta_equal(const struct poison_id *a, const struct poison_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

static bool
poison_id_equal(const struct poison_id *a, const struct poison_id *b)
{
	return poison_meta_equal(a, b) && a->has_sha && b->has_sha &&
	    a->hashed == b->hashed &&
	    memcmp(a->sha256, b->sha256, POISON_SHA256_LEN) == 0;
}

/* ---- the list ---- */

static ptrdiff_t
poison_find(const struct poison_list *list, uint64_t dev, uint64_t ino)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (list->e[i].id.dev == dev && list->e[i].id.ino == ino)
			return (ptrdiff_t)i;
	return -1;
}

/* Remove entry i, keeping the others in order (oldest first). */
static void
poison_remove(struct poison_list *list, size_t i)
{
	free(list->e[i].path);
	memmove(&list->e[i], &list->e[i + 1],
	    (list->n - i - 1) * sizeof(list->e[0]));
	list->n--;
	list->dirty = true;
}

/* Least recently crashed suspect, else least recently crashed of all. */
static size_t
poison_victim(const struct poison_list *list)
{
	size_t i, best = 0;
	bool found = false;
	int pass;

	for (pass = 0; pass < 2 && !found; pass++) {
		for (i = 0; i < list->n; i++) {
			if (pass == 0 && list->e[i].poison)
				continue;
			if (!found || list->e[i].last_ms < list->e[best].last_ms)
				best = i;
			found = true;
		}
	}
	return best;
}

static char *
poison_path_dup(const char *path)
{
	size_t n = path != NULL ? strnlen(path, POISON_PATH_MAX - 1) : 0;
	char *p = malloc(n + 1);

	if (p != NULL) {
		if (n > 0)
			memcpy(p, path, n);
		p[n] = '\0';
	}
	return p;
}

int
poison_note_crash(struct poison_list *list, const struct poison_id *id,
    const char *path, int64_t now_ms, unsigned threshold,
    const struct poison_entry **entry)
{
	struct poison_entry *e;
	ptrdiff_t i;
	char *p = NULL;

	if (entry != NULL)
		*entry = NULL;
	if (!id->has_sha || id->hashed > id->size)
		return POISON_ERR_INVAL;
	if (list->e == NULL &&
	    (list->e = calloc(POISON_MAX, sizeof(list->e[0]))) == NULL)
		return POISON_ERR_NOMEM;
	if ((p = poison_path_dup(path)) == NULL)
		return POISON_ERR_NOMEM;
	if ((i = poison_find(list, id->dev, id->ino)) >= 0 &&
	    !poison_id_equal(&list->e[i].id, id)) {
		poison_remove(list, (size_t)i);     /* changed: start again */
		i = -1;
	}
	if (i < 0) {
		if (list->n == POISON_MAX)
			poison_remove(list, poison_victim(list));
		i = (ptrdiff_t)list->n++;
		e = &list->e[i];
		memset(e, 0, sizeof(*e));
		e->id = *id;
		e->first_ms = now_ms;
	}
	e = &list->e[i];
	free(e->path);
	e->path = p;
	e->id.ctime_sec = id->ctime_sec;     /* hashed just now, at this ctime */
	e->id.ctime_nsec = id->ctime_nsec;
	e->confirmed = true;
	if (e->crashes < POISON_CRASHES_MAX)
		e->crashes++;
	e->last_ms = now_ms;
	if (e->crashes >= (threshold > 0 ? threshold : 1))
		e->poison = true;
	list->dirty = true;
	if (entry != NULL)
		*entry = e;
	return (int)e->crashes;
}

static bool
poison_ctime_equal(const struct poison_id *a, const struct poison_id *b)
{
	return a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

static int
poison_verdict_of(const struct poison_entry *e)
{
	return e->poison ? POISON_POISON : POISON_SUSPECT;
}

int
poison_lookup(struct poison_list *list, int fd, struct poison_id *now,
    const struct poison_entry **entry, char *err, size_t errlen)
{
	struct poison_entry *e;
	ptrdiff_t i;
	int rc;

	*entry = NULL;
	memset(now, 0, sizeof(*now));
	poison_clearerr(err, errlen);
	if ((rc = poison_stat_fd(fd, now, err, errlen)) != POISON_OK) {
		if (rc != POISON_ERR_INVAL)
			return rc;
		poison_clearerr(err, errlen);
		return POISON_CLEAN;    /* only regular files are recorded */
	}
	if ((i = poison_find(list, now->dev, now->ino)) < 0)
		return POISON_CLEAN;
	e = &list->e[i];
	if (!poison_meta_equal(&e->id, now)) {
		poison_remove(list, (size_t)i);
		return POISON_CLEAN;
	}
	if (e->confirmed && poison_ctime_equal(&e->id, now)) {
		*entry = e;
		return poison_verdict_of(e);
	}
	now->hashed = e->id.hashed;
	return POISON_NEED_HASH;
}

int
poison_confirm(struct poison_list *list, const struct poison_id *now,
    const uint8_t sha[POISON_SHA256_LEN], bool stable,
    const struct poison_entry **entry)
{
	struct poison_entry *e;
	ptrdiff_t i;

	*entry = NULL;
	if ((i = poison_find(list, now->dev, now->ino)) < 0)
		return POISON_CLEAN;
	e = &list->e[i];
	if (!poison_meta_equal(&e->id, now) || e->id.hashed != now->hashed)
		return POISON_CLEAN;    /* the entry is another version's */
	if (memcmp(sha, e->id.sha256, POISON_SHA256_LEN) != 0) {
		poison_remove(list, (size_t)i);
		return POISON_CLEAN;
	}
	if (stable) {
		e->id.ctime_sec = now->ctime_sec;
		e->id.ctime_nsec = now->ctime_nsec;
		e->confirmed = true;
	}
	*entry = e;
	return poison_verdict_of(e);
}

int
poison_check(struct poison_list *list, int fd,
    const struct poison_entry **entry, char *err, size_t errlen)
{
	struct poison_id now, after;
	uint8_t sha[POISON_SHA256_LEN];
	int rc;

	rc = poison_lookup(list, fd, &now, entry, err, errlen);
	if (rc != POISON_NEED_HASH)
		return rc;
	if ((rc = poison_sha_fd(fd, now.hashed, sha, err, errlen)) != POISON_OK)
		return rc;
	memset(&after, 0, sizeof(after));
	rc = poison_stat_fd(fd, &after, NULL, 0);
	return poison_confirm(list, &now, sha, rc == POISON_OK &&
	    poison_meta_equal(&after, &now) && poison_ctime_equal(&after, &now),
	    entry);
}

size_t
poison_forget(struct poison_list *list, const char *path)
{
	size_t i = 0, dropped = 0;

	while (i < list->n) {
		if (path == NULL || strcmp(list->e[i].path, path) == 0) {
			poison_remove(list, i);
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

void
poison_free(struct poison_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		free(list->e[i].path);
	free(list->e);
	memset(list, 0, sizeof(*list));
}

/* ---- poison.state: writing ---- */

static bool
poison_path_needs_escape(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '%';
}

static void
poison_format_path(struct strbuf *sb, const char *path)
{
	const unsigned char *s = (const unsigned char *)path;
	const unsigned char *run = s;

	for (; *s != '\0'; s++) {
		if (!poison_path_needs_escape(*s))
			continue;
		strbuf_append(sb, run, (size_t)(s - run));
		strbuf_printf(sb, "%%%02X", *s);
		run = s + 1;
	}
	strbuf_append(sb, run, (size_t)(s - run));
}

/* The SHA-256 in lower-case hex, NUL-terminated. */
static void
poison_hex(const uint8_t sha[POISON_SHA256_LEN],
    char hex[2 * POISON_SHA256_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < POISON_SHA256_LEN; i++) {
		hex[2 * i] = digits[sha[i] >> 4];
		hex[2 * i + 1] = digits[sha[i] & 0x0f];
	}
	hex[2 * POISON_SHA256_LEN] = '\0';
}

void
poison_format(const struct poison_list *list, struct strbuf *sb)
{
	char hex[2 * POISON_SHA256_LEN + 1];
	const struct poison_entry *e;
	size_t i;

	strbuf_puts(sb, POISON_HEADER "\n");
	for (i = 0; i < list->n; i++) {
		e = &list->e[i];
		strbuf_printf(sb, "file %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRIu32 " %" PRIu64 " ",
		    e->id.dev, e->id.ino, e->id.size, e->id.mtime_sec,
		    e->id.mtime_nsec, e->id.hashed);
		poison_hex(e->id.sha256, hex);
		strbuf_puts(sb, hex);
		strbuf_printf(sb, " %" PRIu32 " %" PRId64 " %" PRId64 " %d ",
		    e->crashes, e->first_ms, e->last_ms, e->poison ? 1 : 0);
		poison_format_path(sb, e->path);
		strbuf_puts(sb, "\n");
	}
	strbuf_printf(sb, "end %zu\n", list->n);
}

int
poison_save(struct poison_list *list, const char *state_dir, char *err,
    size_t errlen)
{
	struct strbuf sb;
	int rc;

	poison_clearerr(err, errlen);
	strbuf_init(&sb, POISON_STATE_MAX);
	poison_format(list, &sb);
	if (sb.failed) {
		/* the cap holds POISON_MAX of the longest lines: no memory */
		rc = str_seterr(err, errlen, POISON_ERR_NOMEM, "%s/%s: %s",
		    state_dir, POISON_STATE_FILE, strerror(ENOMEM));
		goto out;
	}
	rc = statefile_write(state_dir, POISON_STATE_FILE, strbuf_str(&sb),
	    sb.len, POISON_STATE_MODE, err, errlen);
	if (rc == STATEFILE_OK)
		list->dirty = false;
	else
		rc = rc == STATEFILE_ERR_NOMEM ? POISON_ERR_NOMEM : POISON_ERR_IO;
out:
	strbuf_free(&sb);
	return rc;
}

/* ---- poison.state: reading ---- */

static bool
poison_parse_sha(const char *s, size_t len, uint8_t out[POISON_SHA256_LEN])
{
	size_t i;
	int hi, lo;

	if (len != 2 * POISON_SHA256_LEN)
		return false;
	for (i = 0; i < POISON_SHA256_LEN; i++) {
		/* lower case only: what we write */
		if ((hi = num_hexval(s[2 * i])) < 0 ||
		    (lo = num_hexval(s[2 * i + 1])) < 0 ||
		    (s[2 * i] >= 'A' && s[2 * i] <= 'F') ||
		    (s[2 * i + 1] >= 'A' && s[2 * i + 1] <= 'F'))
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* The escaped path s[0..len) into a malloc'd string; NULL with why. */
static char *
poison_parse_path(const char *s, size_t len, const char **why)
{
	char *out;

	*why = "no memory for the path";
	if ((out = malloc(POISON_PATH_MAX)) == NULL)
		return NULL;
	switch (statefile_unescape(s, len, poison_path_needs_escape, out,
	    POISON_PATH_MAX)) {
	case STATEFILE_UNESCAPE_OK:
		return out;
	case STATEFILE_UNESCAPE_RAW:
		*why = "bad path (a byte that must be escaped)";
		break;
	case STATEFILE_UNESCAPE_BAD:
		*why = "bad path (a bad %XX escape)";
		break;
	default:
		*why = "bad path (too long)";
		break;
	}
	free(out);
	return NULL;
}

/* Next field of [*p, end), which must be followed by a space. */
static bool
poison_field(const char **p, const char *end, const char **fs, size_t *fl)
{
	const char *sp;

	if (*p >= end || (sp = memchr(*p, ' ', (size_t)(end - *p))) == NULL)
		return false;
	*fs = *p;
	*fl = (size_t)(sp - *p);
	*p = sp + 1;
	return *fl > 0;
}

/* Fields of a "file" line after the keyword, in order. */
enum poison_fnum { PF_DEV, PF_INO, PF_SIZE, PF_MSEC, PF_MNSEC, PF_HASHED,
	PF_NUM1 };
enum poison_fnum2 { PF_CRASHES, PF_FIRST, PF_LAST, PF_FLAG, PF_NUM2 };

static const char *const poison_fname1[PF_NUM1] = { "device", "inode",
	"size", "mtime seconds", "mtime nanoseconds", "hashed byte count" };
static const char *const poison_fname2[PF_NUM2] = { "crash count",
	"first crash time", "last crash time", "poison flag" };

/* The numbers and the hex of a "file" line; NULL or why not. */
static const char *
poison_parse_fields(const char **p, const char *end, struct poison_entry *e)
{
	const char *fs;
	size_t fl, k;
	uint64_t u[PF_NUM1];
	int64_t v[PF_NUM2];

	for (k = 0; k < PF_NUM1; k++) {
		if (!poison_field(p, end, &fs, &fl) ||
		    (k == PF_MSEC ?
		    num_i64(fs, fl, NUM_CANONICAL, &v[0]) != NUM_OK :
		    num_u64(fs, fl, NUM_CANONICAL, &u[k]) != NUM_OK))
			return poison_fname1[k];
		if (k == PF_MSEC)
			e->id.mtime_sec = v[0];
	}
	if (!poison_field(p, end, &fs, &fl) ||
	    !poison_parse_sha(fs, fl, e->id.sha256))
		return "sha256";
	for (k = 0; k < PF_NUM2; k++)
		if (!poison_field(p, end, &fs, &fl) ||
		    num_i64(fs, fl, NUM_CANONICAL, &v[k]) != NUM_OK)
			return poison_fname2[k];
	if (u[PF_MNSEC] >= POISON_NSEC_PER_SEC)
		return poison_fname1[PF_MNSEC];
	if (u[PF_HASHED] > u[PF_SIZE])
		return poison_fname1[PF_HASHED];
	if (v[PF_CRASHES] < 1 || v[PF_CRASHES] > POISON_CRASHES_MAX)
		return poison_fname2[PF_CRASHES];
	if (v[PF_FLAG] != 0 && v[PF_FLAG] != 1)
		return poison_fname2[PF_FLAG];
	e->id.dev = u[PF_DEV];
	e->id.ino = u[PF_INO];
	e->id.size = u[PF_SIZE];
	e->id.mtime_nsec = (uint32_t)u[PF_MNSEC];
	e->id.hashed = u[PF_HASHED];
	e->id.has_sha = true;
	e->crashes = (uint32_t)v[PF_CRASHES];
	e->first_ms = v[PF_FIRST];
	e->last_ms = v[PF_LAST];
	e->poison = v[PF_FLAG] == 1;
	return NULL;
}

/* One "file" line into the next entry of list; NULL or why not. */
static const char *
poison_parse_file_line(struct poison_list *list, const char *s, size_t len,
    char *why, size_t whylen)
{
	const char *p = s, *end = s + len, *fs, *bad;
	struct poison_entry e;
	size_t fl;

	memset(&e, 0, sizeof(e));
	if (!poison_field(&p, end, &fs, &fl) || fl != 4 ||
	    memcmp(fs, "file", 4) != 0)
		return "not a file line";
	if ((bad = poison_parse_fields(&p, end, &e)) != NULL) {
		snprintf(why, whylen, "bad %s", bad);
		return why;
	}
	if (list->n == POISON_MAX) {
		snprintf(why, whylen, "more than %d entries", POISON_MAX);
		return why;
	}
	if (poison_find(list, e.id.dev, e.id.ino) >= 0)
		return "device and inode listed twice";
	if ((e.path = poison_parse_path(p, (size_t)(end - p), &bad)) == NULL)
		return bad;
	list->e[list->n++] = e;
	return NULL;
}

/* The end line: "end N" with N the number of file lines, and last. */
static const char *
poison_parse_end(const struct poison_list *list, const char *s, size_t len,
    bool last)
{
	uint64_t count;

	if (num_u64(s + 4, len - 4, NUM_CANONICAL, &count) != NUM_OK ||
	    count != list->n)
		return "bad end count";
	if (!last)
		return "data after the end line";
	return NULL;
}

int
poison_parse(const char *buf, size_t len, struct poison_list *list,
    char *err, size_t errlen)
{
	static const char head[] = POISON_HEADER;
	struct poison_list tmp = { NULL, 0, false };
	const char *p, *end, *nl, *why = NULL;
	char whybuf[128];
	size_t lineno = 0, l;
	int rc = POISON_ERR_DAMAGED;

	poison_free(list);
	poison_clearerr(err, errlen);
	if (buf == NULL) {
		buf = "";
		len = 0;
	}
	p = buf;
	end = buf + len;
	if ((tmp.e = calloc(POISON_MAX, sizeof(tmp.e[0]))) == NULL) {
		rc = str_seterr(err, errlen, POISON_ERR_NOMEM, "%s",
		    strerror(ENOMEM));
		goto out;
	}
	if (len > 0 && memchr(buf, '\0', len) != NULL) {
		str_seterr(err, errlen, rc, "NUL byte");
		goto out;
	}
	while (p < end && why == NULL) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			why = "no newline: truncated";
			break;
		}
		l = (size_t)(nl - p);
		if (lineno == 1) {
			if (l != sizeof(head) - 1 || memcmp(p, head, l) != 0)
				why = "not \"" POISON_HEADER "\"";
		} else if (l >= 4 && memcmp(p, "end ", 4) == 0) {
			if ((why = poison_parse_end(&tmp, p, l, nl + 1 == end)) ==
			    NULL) {
				if (tmp.n > 0) {    /* else keep it unallocated */
					*list = tmp;
					tmp.e = NULL;
					tmp.n = 0;
				}
				rc = POISON_OK;
				goto out;
			}
		} else {
			why = poison_parse_file_line(&tmp, p, l, whybuf,
			    sizeof(whybuf));
		}
		p = nl + 1;
	}
	if (why == NULL) {
		why = "no end line: truncated";
		lineno++;
	}
	str_seterr(err, errlen, rc, "line %zu: %s", lineno, why);
out:
	poison_free(&tmp);
	return rc;
}

int
poison_load(struct poison_list *list, const char *state_dir, char *err,
    size_t errlen)
{
	char why[512], *buf = NULL;
	size_t len;
	int rc;

	poison_free(list);
	poison_clearerr(err, errlen);
	rc = statefile_read(state_dir, POISON_STATE_FILE, POISON_STATE_MAX,
	    &buf, &len, err, errlen);
	if (rc == STATEFILE_ERR_NOENT) {
		poison_clearerr(err, errlen);
		return POISON_OK;
	}
	if (rc != STATEFILE_OK) {
		size_t m = err != NULL && errlen > 0 ? strlen(err) : 0;

		if (rc == STATEFILE_ERR_TOOBIG || rc == STATEFILE_ERR_TYPE) {
			if (m + 1 < errlen)
				snprintf(err + m, errlen - m, "; damaged, no entry loaded");
			return POISON_ERR_DAMAGED;
		}
		return rc == STATEFILE_ERR_NOMEM ? POISON_ERR_NOMEM :
		    POISON_ERR_IO;
	}
	rc = poison_parse(buf, len, list, why, sizeof(why));
	if (rc != POISON_OK)
		str_seterr(err, errlen, rc, "%s/%s: %s%s", state_dir,
		    POISON_STATE_FILE, why, rc == POISON_ERR_DAMAGED ?
		    "; damaged, no entry loaded" : "");
	free(buf);
	return rc;
}

/* ---- JSON and events ---- */

/* mtime in ms for walltime_format, saturating. */
static int64_t
poison_mtime_ms(const struct poison_id *id)
{
	if (id->mtime_sec > INT64_MAX / 1000 - 1)
		return INT64_MAX;
	if (id->mtime_sec < INT64_MIN / 1000 + 1)
		return INT64_MIN;
	return id->mtime_sec * 1000 + id->mtime_nsec / 1000000;
}

static void
poison_json_time(struct jsonw *w, const char *key, int64_t ms)
{
	char t[WALLTIME_LEN];

	walltime_format(ms, t);
	jsonw_key_str(w, key, t);
}

static void
poison_json_entry(struct jsonw *w, const struct poison_entry *e)
{
	char hex[2 * POISON_SHA256_LEN + 1];

	jsonw_obj_begin(w);
	jsonw_key_str(w, "path", e->path);
	jsonw_key_uint(w, "dev", e->id.dev);
	jsonw_key_uint(w, "ino", e->id.ino);
	jsonw_key_uint(w, "size", e->id.size);
	poison_json_time(w, "mtime", poison_mtime_ms(&e->id));
	poison_hex(e->id.sha256, hex);
	jsonw_key_str(w, "sha256", hex);
	jsonw_key_uint(w, "hashed", e->id.hashed);
	jsonw_key_uint(w, "crashes", e->crashes);
	poison_json_time(w, "first", e->first_ms);
	poison_json_time(w, "last", e->last_ms);
	jsonw_key_bool(w, "poison", e->poison);
	jsonw_obj_end(w);
}

void
poison_json(struct jsonw *w, const struct poison_list *list)
{
	size_t i;

	jsonw_arr_begin(w);
	for (i = 0; i < list->n; i++)
		poison_json_entry(w, &list->e[i]);
	jsonw_arr_end(w);
}

void
poison_to_json(const struct poison_list *list, struct strbuf *sb)
{
	struct jsonw w;

	jsonw_init(&w, strbuf_sink, sb);
	poison_json(&w, list);
}

void
poison_event(struct event *ev, const struct poison_entry *e, int64_t now_ms)
{
	char hex[2 * POISON_SHA256_LEN + 1];

	poison_hex(e->id.sha256, hex);
	events_begin_type(ev, EVENT_T_POISON_FILE, now_ms);
	events_add_str(ev, "path", e->path);
	events_add_int(ev, "device", (int64_t)e->id.dev);
	events_add_int(ev, "inode", (int64_t)e->id.ino);
	events_add_int(ev, "size", (int64_t)e->id.size);
	events_add_time(ev, "mtime", poison_mtime_ms(&e->id));
	events_add_str(ev, "sha256", hex);
	events_add_int(ev, "crashes", e->crashes);
}
