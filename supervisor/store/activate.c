/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Activation of a candidate set with a journal, and recovery (activate.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activate.h"
#include "defs.h"
#include "statefile.h"
#include "store.h"
#include "store_int.h"
#include "strbuf.h"

#define JOURNAL_MAGIC "ampscan-activation 1"
#define PREV_TMP_SUFFIX ".prev"

/* What the journal holds. */
struct journal {
	bool active_step;                  /* step "active" (else "previous") */
	char set[STORE_PATH_MAX];          /* the candidate set directory */
	struct store_names put, del;
	char consume[ACTIVATION_CONSUME_MAX][STORE_PATH_MAX];
	size_t nconsume;
};

static void
journal_free(struct journal *j)
{
	free(j->put.name);
	free(j->del.name);
	j->put.name = j->del.name = NULL;
	j->put.n = j->del.n = 0;
}

static int
journal_alloc(struct journal *j, char *err, size_t errlen)
{
	j->put.name = calloc(STORE_DIR_FILES_MAX + 1, sizeof(*j->put.name));
	j->del.name = calloc(STORE_DIR_FILES_MAX + 1, sizeof(*j->del.name));
	if (j->put.name == NULL || j->del.name == NULL) {
		journal_free(j);
		return str_seterr(err, errlen, STORE_ERR_NOMEM, "journal: out of memory");
	}
	return 0;
}

/* A name the journal may carry: a plain file name of a store directory,
 * on one line (a '\n' in it would read back as more lines). */
static bool
journal_name_ok(const char *s)
{
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL &&
	    strlen(s) <= STORE_NAME_MAX;
}

/* A set the journal may name: a directory below defs_dir/staging/. */
static bool
journal_set_ok(const char *defs_dir, const char *set)
{
	char staging[STORE_PATH_MAX];
	int n = snprintf(staging, sizeof(staging), "%s/%s/", defs_dir,
	    STORE_DIR_STAGING);

	return n > 0 && (size_t)n < sizeof(staging) &&
	    strncmp(set, staging, (size_t)n) == 0 && set[n] != '\0' &&
	    strstr(set, "/..") == NULL && strlen(set) < STORE_PATH_MAX;
}

/* A file the journal may consume (unlink): a plain name in incoming/. */
static bool
journal_consume_ok(const char *defs_dir, const char *path)
{
	char incoming[STORE_PATH_MAX];
	int n = snprintf(incoming, sizeof(incoming), "%s/%s/", defs_dir,
	    STORE_DIR_INCOMING);

	return n > 0 && (size_t)n < sizeof(incoming) &&
	    strncmp(path, incoming, (size_t)n) == 0 &&
	    journal_name_ok(path + n) && strlen(path) < STORE_PATH_MAX;
}

static int
journal_write(const char *state_dir, const struct journal *j, char *err,
    size_t errlen)
{
	struct strbuf sb;
	char serr[512];
	int rc;

	strbuf_init(&sb, ACTIVATION_JOURNAL_MAX);
	strbuf_printf(&sb, "%s\nstep %s\nset %s\n", JOURNAL_MAGIC,
	    j->active_step ? "active" : "previous", j->set);
	for (size_t i = 0; i < j->put.n; i++)
		strbuf_printf(&sb, "put %s\n", j->put.name[i]);
	for (size_t i = 0; i < j->del.n; i++)
		strbuf_printf(&sb, "del %s\n", j->del.name[i]);
	for (size_t i = 0; i < j->nconsume; i++)
		strbuf_printf(&sb, "consume %s\n", j->consume[i]);
	if (sb.failed) {
		strbuf_free(&sb);
		return str_seterr(err, errlen, STORE_ERR_NOMEM, "journal: too large");
	}
	rc = statefile_write(state_dir, ACTIVATION_JOURNAL, sb.buf, sb.len, 0600,
	    serr, sizeof(serr));
	strbuf_free(&sb);
	if (rc != 0)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s", serr);
	return 0;
}

/* Parse; a line that does not fit the format is an error naming it. */
static int
journal_parse(char *text, const char *defs_dir, struct journal *j, char *err,
    size_t errlen)
{
	char *line, *next;
	unsigned no = 0;
	bool magic = false, step = false;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		char *arg;

		no++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		arg = strchr(line, ' ');
		if (arg != NULL)
			*arg++ = '\0';
		if (no == 1) {
			magic = arg != NULL && strcmp(line, "ampscan-activation") == 0 &&
			    strcmp(arg, "1") == 0;
			if (!magic)
				break;
			continue;
		}
		if (arg == NULL)
			goto bad;
		if (strcmp(line, "step") == 0) {
			if (strcmp(arg, "active") != 0 && strcmp(arg, "previous") != 0)
				goto bad;
			j->active_step = strcmp(arg, "active") == 0;
			step = true;
		} else if (strcmp(line, "set") == 0) {
			if (!journal_set_ok(defs_dir, arg))
				goto bad;
			snprintf(j->set, sizeof(j->set), "%s", arg);
		} else if (strcmp(line, "put") == 0 || strcmp(line, "del") == 0) {
			struct store_names *n = line[0] == 'p' ? &j->put : &j->del;

			if (!journal_name_ok(arg) && strcmp(arg, DEFS_INDEX_NAME) != 0)
				goto bad;
			if (n->n == STORE_DIR_FILES_MAX + 1)
				goto bad;
			snprintf(n->name[n->n++], sizeof(*n->name), "%s", arg);
		} else if (strcmp(line, "consume") == 0) {
			/* only a file of incoming/: never anything else */
			if (j->nconsume == ACTIVATION_CONSUME_MAX ||
			    !journal_consume_ok(defs_dir, arg))
				goto bad;
			snprintf(j->consume[j->nconsume++], sizeof(j->consume[0]), "%s", arg);
		} else {
			goto bad;
		}
	}
	if (!magic || !step || j->set[0] == '\0')
		return str_seterr(err, errlen, STORE_ERR_IO,
		    "%s: not an activation journal (line %u)", ACTIVATION_JOURNAL, no);
	return 0;
bad:
	return str_seterr(err, errlen, STORE_ERR_IO, "%s line %u: malformed",
	    ACTIVATION_JOURNAL, no);
}

static bool
same_inode(int dfa, const char *a, int dfb, const char *b)
{
	struct stat sa, sb;

	return fstatat(dfa, a, &sa, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstatat(dfb, b, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- step 2: previous/ := active/ ------------------------------------ */

static int
sync_previous(const char *defs_dir, char *err, size_t errlen)
{
	char active[STORE_PATH_MAX], previous[STORE_PATH_MAX];
	char tmp[STORE_NAME_MAX + 16];
	struct store_names act = { NULL, 0 }, prev = { NULL, 0 };
	int afd = -1, pfd = -1, rc;

	if ((rc = store_join(active, sizeof(active), defs_dir, STORE_DIR_ACTIVE,
	    err, errlen)) != 0 ||
	    (rc = store_join(previous, sizeof(previous), defs_dir,
	    STORE_DIR_PREVIOUS, err, errlen)) != 0 ||
	    (rc = store_dir_open(active, &afd, err, errlen)) != 0 ||
	    (rc = store_dir_open(previous, &pfd, err, errlen)) != 0 ||
	    (rc = store_list(afd, active, STORE_KINDS_ALL, &act, err, errlen)) != 0 ||
	    (rc = store_list(pfd, previous, STORE_KINDS_ALL, &prev, err,
	    errlen)) != 0)
		goto out;
	for (size_t i = 0; i < act.n; i++) {
		const char *name = act.name[i];

		if (same_inode(afd, name, pfd, name))
			continue;
		snprintf(tmp, sizeof(tmp), ".%s%s", name, PREV_TMP_SUFFIX);
		if ((unlinkat(pfd, tmp, 0) != 0 && errno != ENOENT) ||
		    linkat(afd, name, pfd, tmp, 0) != 0 ||
		    renameat(pfd, tmp, pfd, name) != 0) {
			rc = str_seterr(err, errlen, STORE_ERR_IO,
			    "%s/%s: link into %s: %s", active, name, previous,
			    strerror(errno));
			unlinkat(pfd, tmp, 0);
			goto out;
		}
	}
	for (size_t i = 0; i < prev.n; i++)
		if (!store_names_has(&act, prev.name[i]) &&
		    unlinkat(pfd, prev.name[i], 0) != 0 && errno != ENOENT) {
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: unlink: %s",
			    previous, prev.name[i], strerror(errno));
			goto out;
		}
	if (fsync(pfd) != 0)
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: fsync: %s", previous,
		    strerror(errno));
out:
	store_names_free(&act);
	store_names_free(&prev);
	if (afd >= 0)
		close(afd);
	if (pfd >= 0)
		close(pfd);
	return rc;
}

/* ---- step 4 and 5 ---------------------------------------------------- */

/* Nothing renamed yet: every file to put must be in the set. */
static int
set_complete(const struct journal *j, char *err, size_t errlen)
{
	struct stat st;
	int sfd, rc = 0;

	if ((sfd = open(j->set, STORE_OPEN_DIR)) < 0)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: %s", j->set,
		    strerror(errno));
	for (size_t i = 0; i < j->put.n && rc == 0; i++)
		if (fstatat(sfd, j->put.name[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: %s", j->set,
			    j->put.name[i], strerror(errno));
		else if (!S_ISREG(st.st_mode))
			rc = str_seterr(err, errlen, STORE_ERR_IO,
			    "%s/%s: not a regular file", j->set, j->put.name[i]);
	close(sfd);
	return rc;
}

static int
apply_active(const char *defs_dir, const struct journal *j,
    activation_kp_fn *kp, void *kparg, char *err, size_t errlen)
{
	char active[STORE_PATH_MAX];
	int afd = -1, sfd = -1, rc;
	bool first = true;

	if ((rc = store_join(active, sizeof(active), defs_dir, STORE_DIR_ACTIVE,
	    err, errlen)) != 0 ||
	    (rc = store_dir_open(active, &afd, err, errlen)) != 0)
		return rc;
	/* the set may be gone: every file of it was renamed already */
	if ((sfd = open(j->set, STORE_OPEN_DIR)) < 0 && errno != ENOENT) {
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: %s", j->set,
		    strerror(errno));
		close(afd);
		return rc;
	}
	for (size_t i = 0; i < j->put.n; i++) {
		const char *name = j->put.name[i];

		if (sfd < 0 || renameat(sfd, name, afd, name) == 0) {
			if (sfd >= 0 && first && kp != NULL)
				kp(kparg, KP_FIRST_RENAME);
			first = false;
			continue;
		}
		if (errno == ENOENT)
			continue;   /* renamed before a crash */
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: rename into %s: %s",
		    j->set, name, active, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < j->del.n; i++)
		if (unlinkat(afd, j->del.name[i], 0) != 0 && errno != ENOENT) {
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: unlink: %s",
			    active, j->del.name[i], strerror(errno));
			goto out;
		}
	if (fsync(afd) != 0) {
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: fsync: %s", active,
		    strerror(errno));
		goto out;
	}
	if (kp != NULL)
		kp(kparg, KP_RENAMED);
out:
	if (sfd >= 0)
		close(sfd);
	close(afd);
	return rc;
}

static int
commit(const char *state_dir, const struct journal *j, char *err,
    size_t errlen)
{
	char dir[STORE_PATH_MAX];
	int rc;

	for (size_t i = 0; i < j->nconsume; i++) {
		char *slash;

		if (unlink(j->consume[i]) != 0 && errno != ENOENT)
			return str_seterr(err, errlen, STORE_ERR_IO, "%s: unlink: %s",
			    j->consume[i], strerror(errno));
		snprintf(dir, sizeof(dir), "%s", j->consume[i]);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			(void)statefile_sync_dir(dir, NULL, 0);
		}
	}
	if ((rc = store_join(dir, sizeof(dir), state_dir, ACTIVATION_JOURNAL,
	    err, errlen)) != 0)
		return rc;
	if (unlink(dir) != 0 && errno != ENOENT)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: unlink: %s", dir,
		    strerror(errno));
	return statefile_sync_dir(state_dir, err, errlen) == STATEFILE_OK ?
	    0 : STORE_ERR_IO;
}

/*
 * The journal could not be moved to step "active" (StateDir full, say):
 * nothing of active/ was touched yet (previous/ merely equals it), so the
 * activation is given up rather than left to a recovery that would need
 * the same write.  Appends to err what became of the journal; true when
 * it is gone.
 */
static bool
journal_withdraw(const char *state_dir, char *err, size_t errlen)
{
	char path[STORE_PATH_MAX];
	size_t n = err != NULL ? strlen(err) : 0;
	bool gone;

	gone = store_join(path, sizeof(path), state_dir, ACTIVATION_JOURNAL, NULL,
	    0) == 0 && (unlink(path) == 0 || errno == ENOENT);
	if (gone)
		(void)statefile_sync_dir(state_dir, NULL, 0);
	if (err != NULL && n + 1 < errlen)
		snprintf(err + n, errlen - n, gone ?
		    "; the journal was withdrawn: active/ is unchanged" :
		    "; the journal (step previous) stays: the next check finishes the activation");
	return gone;
}

/* ---- public ------------------------------------------------------------ */

int
activation_rmtree(const char *dir, char *err, size_t errlen)
{
	char path[STORE_PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (lstat(dir, &st) != 0)
		return errno == ENOENT ? 0 : str_seterr(err, errlen, STORE_ERR_IO,
		    "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(dir) != 0)
			return str_seterr(err, errlen, STORE_ERR_IO, "%s: unlink: %s",
			    dir, strerror(errno));
		return 0;
	}
	if ((d = opendir(dir)) == NULL)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: %s", dir,
		    strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = store_join(path, sizeof(path), dir, de->d_name, err,
		    errlen)) == 0)
			rc = activation_rmtree(path, err, errlen);
	}
	closedir(d);
	if (rc == 0 && rmdir(dir) != 0)
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: rmdir: %s", dir,
		    strerror(errno));
	return rc;
}

int
activation_clear_staging(const char *defs_dir, char *err, size_t errlen)
{
	char staging[STORE_PATH_MAX], path[STORE_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc;

	if ((rc = store_join(staging, sizeof(staging), defs_dir,
	    STORE_DIR_STAGING, err, errlen)) != 0)
		return rc;
	if ((d = opendir(staging)) == NULL)
		return errno == ENOENT ? 0 : str_seterr(err, errlen, STORE_ERR_IO,
		    "%s: %s", staging, strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = store_join(path, sizeof(path), staging, de->d_name, err,
		    errlen)) == 0)
			rc = activation_rmtree(path, err, errlen);
	}
	closedir(d);
	return rc;
}

int
activation_stage_dir(const char *defs_dir, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char stamp[STORE_STAMP_LEN + 1];
	int n;

	store_rb_stamp(stamp, sizeof(stamp));
	n = snprintf(out, outlen, "%s/%s/u%s.XXXXXX", defs_dir,
	    STORE_DIR_STAGING, stamp);
	if (n < 0 || (size_t)n >= outlen)
		return str_seterr(err, errlen, STORE_ERR_LIMIT, "%s/%s: path too long",
		    defs_dir, STORE_DIR_STAGING);
	if (mkdtemp(out) == NULL)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: mkdtemp: %s", out,
		    strerror(errno));
	return 0;
}

int
activation_copy_in(int srcfd, const char *src_display, const char *dir,
    const char *name, mode_t mode, unsigned long long max_bytes, char *err,
    size_t errlen)
{
	struct statefile_tmp t = { .dirfd = -1, .fd = -1 };
	unsigned long long total = 0;
	char *buf = NULL;
	struct stat st;
	int rc = STORE_ERR_IO;

	if (fstat(srcfd, &st) != 0 || !S_ISREG(st.st_mode))
		return str_seterr(err, errlen, STORE_ERR_IO, "%s: not a regular file",
		    src_display);
	if ((unsigned long long)st.st_size > max_bytes)
		return str_seterr(err, errlen, STORE_ERR_LIMIT,
		    "%s: %lld bytes, more than the %llu allowed", src_display,
		    (long long)st.st_size, max_bytes);
	if ((buf = malloc(STORE_COPY_CHUNK)) == NULL)
		return str_seterr(err, errlen, STORE_ERR_NOMEM, "out of memory");
	/* never replaces dir/name; durable (dir fsync'd) once it returns 0 */
	if (statefile_open(&t, dir, name, mode, STATEFILE_NOREPLACE, err,
	    errlen) != STATEFILE_OK)
		goto out;
	for (off_t off = 0;;) {
		ssize_t n = pread(srcfd, buf, STORE_COPY_CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: read: %s",
			    src_display, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		total += (unsigned long long)n;
		if (total > max_bytes) {
			rc = str_seterr(err, errlen, STORE_ERR_LIMIT,
			    "%s: grew past the %llu bytes allowed while being copied",
			    src_display, max_bytes);
			goto out;
		}
		if (statefile_write_all(t.fd, buf, (size_t)n) != 0) {
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: write: %s",
			    t.dir, t.tmp, strerror(errno));
			goto out;
		}
		off += n;
	}
	if (statefile_commit(&t, err, errlen) == STATEFILE_OK)
		rc = 0;
out:
	statefile_abort(&t);
	free(buf);
	return rc;
}

/* Whether name belongs to dbname: NAME.cvd/.cld/.cud(.sign), NAME-N.cvd.sign. */
static bool
belongs_to(const char *name, const char *dbname)
{
	size_t n = strlen(dbname);
	const char *rest = name + n;

	if (strncmp(name, dbname, n) != 0)
		return false;
	if (strcmp(rest, ".cvd") == 0 || strcmp(rest, ".cld") == 0 ||
	    strcmp(rest, ".cud") == 0 || strcmp(rest, ".cvd.sign") == 0 ||
	    strcmp(rest, ".cld.sign") == 0 || strcmp(rest, ".cud.sign") == 0)
		return true;
	if (rest[0] != '-' || rest[1] < '0' || rest[1] > '9')
		return false;
	rest++;
	while (*rest >= '0' && *rest <= '9')
		rest++;
	return strcmp(rest, ".cvd.sign") == 0;
}

int
activation_active_container(const char *defs_dir, const char *dbname,
    char *file, size_t filelen, struct cvd_header *h, char *err,
    size_t errlen)
{
	static const char *const exts[] = { ".cvd", ".cld", ".cud" };
	char active[STORE_PATH_MAX], name[STORE_NAME_MAX + 1];
	struct cvd_header cur;
	int afd = -1, rc, found = 0;

	if ((rc = store_join(active, sizeof(active), defs_dir, STORE_DIR_ACTIVE,
	    err, errlen)) != 0 ||
	    (rc = store_dir_open(active, &afd, err, errlen)) != 0)
		return rc;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (snprintf(name, sizeof(name), "%s%s", dbname, exts[i]) >=
		    (int)sizeof(name))
			continue;
		if (store_header_read(afd, name, &cur) != 0)
			continue;
		if (!found || cur.version > h->version) {
			*h = cur;
			snprintf(file, filelen, "%s", name);
			found = 1;
		}
	}
	close(afd);
	return found;
}

int
activation_link_others(const char *defs_dir, const char *set_dir,
    const char *dbname, char *err, size_t errlen)
{
	char active[STORE_PATH_MAX];
	struct store_names act = { NULL, 0 };
	int afd = -1, sfd = -1, rc;

	if ((rc = store_join(active, sizeof(active), defs_dir, STORE_DIR_ACTIVE,
	    err, errlen)) != 0 ||
	    (rc = store_dir_open(active, &afd, err, errlen)) != 0 ||
	    (rc = store_dir_open(set_dir, &sfd, err, errlen)) != 0 ||
	    (rc = store_list(afd, active, STORE_KINDS_ALL, &act, err, errlen)) != 0)
		goto out;
	for (size_t i = 0; i < act.n; i++) {
		if (belongs_to(act.name[i], dbname))
			continue;
		if (linkat(afd, act.name[i], sfd, act.name[i], 0) != 0) {
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: link into %s: %s",
			    active, act.name[i], set_dir, strerror(errno));
			goto out;
		}
	}
	if (fsync(sfd) != 0)
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: fsync: %s", set_dir,
		    strerror(errno));
out:
	store_names_free(&act);
	if (afd >= 0)
		close(afd);
	if (sfd >= 0)
		close(sfd);
	return rc;
}

/* What changes: the set's files that differ from active/, and the names to go. */
static int
plan(const char *defs_dir, const char *set_dir, unsigned flags,
    struct journal *j, char *err, size_t errlen)
{
	bool no_index = (flags & ACTIVATION_NO_INDEX) != 0;
	char active[STORE_PATH_MAX];
	struct store_names act = { NULL, 0 }, set = { NULL, 0 };
	struct stat st;
	int afd = -1, sfd = -1, rc;

	if ((rc = store_join(active, sizeof(active), defs_dir, STORE_DIR_ACTIVE,
	    err, errlen)) != 0 ||
	    (rc = store_dir_open(active, &afd, err, errlen)) != 0 ||
	    (rc = store_dir_open(set_dir, &sfd, err, errlen)) != 0 ||
	    (rc = store_list(afd, active, STORE_KINDS_ALL, &act, err, errlen)) != 0 ||
	    (rc = store_list(sfd, set_dir, STORE_KINDS_ALL, &set, err, errlen)) != 0)
		goto out;
	if (!no_index && fstatat(sfd, DEFS_INDEX_NAME, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = str_seterr(err, errlen, STORE_ERR_IO, "%s/%s: %s", set_dir,
		    DEFS_INDEX_NAME, strerror(errno));
		goto out;
	}
	/* only names the journal can hold, and read back the same */
	for (size_t i = 0; i < set.n + act.n; i++) {
		const char *name = i < set.n ? set.name[i] : act.name[i - set.n];

		if (!journal_name_ok(name)) {
			errno = EINVAL;
			rc = str_seterr(err, errlen, STORE_ERR_IO,
			    "%s/%s: a name the journal cannot hold",
			    i < set.n ? set_dir : active, name);
			goto out;
		}
	}
	for (size_t i = 0; i < set.n; i++)
		if (!same_inode(sfd, set.name[i], afd, set.name[i]))
			snprintf(j->put.name[j->put.n++], sizeof(*j->put.name), "%s",
			    set.name[i]);
	/* the index last: until it is in place, the old one is stale */
	if (!no_index)
		snprintf(j->put.name[j->put.n++], sizeof(*j->put.name), "%s",
		    DEFS_INDEX_NAME);
	else    /* an index left in active/ names another set: it goes */
		snprintf(j->del.name[j->del.n++], sizeof(*j->del.name), "%s",
		    DEFS_INDEX_NAME);
	for (size_t i = 0; i < act.n; i++)
		if (!store_names_has(&set, act.name[i]))
			snprintf(j->del.name[j->del.n++], sizeof(*j->del.name), "%s",
			    act.name[i]);
out:
	store_names_free(&act);
	store_names_free(&set);
	if (afd >= 0)
		close(afd);
	if (sfd >= 0)
		close(sfd);
	return rc;
}

/* The staging directory that holds set_dir (staging/ID), or "". */
static void
stage_of(const char *defs_dir, const char *set_dir, char *out, size_t len)
{
	char staging[STORE_PATH_MAX];
	size_t n;
	const char *slash;

	out[0] = '\0';
	n = (size_t)snprintf(staging, sizeof(staging), "%s/%s/", defs_dir,
	    STORE_DIR_STAGING);
	if (strncmp(set_dir, staging, n) != 0)
		return;
	slash = strchr(set_dir + n, '/');
	snprintf(out, len, "%.*s", (int)(slash ? (size_t)(slash - set_dir) :
	    strlen(set_dir)), set_dir);
}

int
activation_run(const char *defs_dir, const char *state_dir,
    const char *set_dir, const char *const *consume, size_t nconsume,
    activation_kp_fn *kp, void *kparg, char *err, size_t errlen)
{
	return activation_run_flags(defs_dir, state_dir, set_dir, 0, consume,
	    nconsume, kp, kparg, err, errlen);
}

int
activation_run_flags(const char *defs_dir, const char *state_dir,
    const char *set_dir, unsigned flags, const char *const *consume,
    size_t nconsume, activation_kp_fn *kp, void *kparg, char *err,
    size_t errlen)
{
	struct journal j = { .active_step = false };
	char stage[STORE_PATH_MAX], why[512];
	int rc;

	if (nconsume > ACTIVATION_CONSUME_MAX || strlen(set_dir) >= sizeof(j.set))
		return str_seterr(err, errlen, STORE_ERR_LIMIT, "activation: too many files");
	/* only what recovery accepts: a journal it sets aside leaves a mix */
	if (!journal_set_ok(defs_dir, set_dir)) {
		errno = EINVAL;
		return str_seterr(err, errlen, STORE_ERR_IO,
		    "%s: not a directory of %s/%s/", set_dir, defs_dir,
		    STORE_DIR_STAGING);
	}
	for (size_t i = 0; i < nconsume; i++)
		if (!journal_consume_ok(defs_dir, consume[i])) {
			errno = EINVAL;
			return str_seterr(err, errlen, STORE_ERR_IO,
			    "%s: not a file of %s/%s/", consume[i], defs_dir,
			    STORE_DIR_INCOMING);
		}
	if ((rc = journal_alloc(&j, err, errlen)) != 0)
		return rc;
	snprintf(j.set, sizeof(j.set), "%s", set_dir);
	for (size_t i = 0; i < nconsume; i++)
		snprintf(j.consume[j.nconsume++], sizeof(j.consume[0]), "%s",
		    consume[i]);
	if ((rc = plan(defs_dir, set_dir, flags, &j, err, errlen)) != 0 ||
	    (rc = journal_write(state_dir, &j, err, errlen)) != 0)
		goto out;
	if (kp != NULL)
		kp(kparg, KP_JOURNAL);
	if ((rc = sync_previous(defs_dir, err, errlen)) != 0)
		goto out;      /* the journal stays: recovery redoes step 2 */
	if (kp != NULL)
		kp(kparg, KP_PREVIOUS);
	j.active_step = true;
	if ((rc = journal_write(state_dir, &j, err, errlen)) != 0) {
		journal_withdraw(state_dir, err, errlen);
		goto out;
	}
	if (kp != NULL)
		kp(kparg, KP_JOURNAL_ACTIVE);
	if ((rc = apply_active(defs_dir, &j, kp, kparg, err, errlen)) != 0 ||
	    (rc = commit(state_dir, &j, err, errlen)) != 0)
		goto out;
	if (kp != NULL)
		kp(kparg, KP_COMMITTED);
	stage_of(defs_dir, set_dir, stage, sizeof(stage));
	if (stage[0] != '\0')
		(void)activation_rmtree(stage, why, sizeof(why));
out:
	journal_free(&j);
	return rc;
}

int
activation_recover(const char *defs_dir, const char *state_dir,
    activation_report_fn *report, void *arg, char *err, size_t errlen)
{
	struct journal j = { .active_step = false };
	char *text = NULL, serr[512], why[STORE_REASON_MAX], bad[STORE_PATH_MAX];
	char jpath[STORE_PATH_MAX];
	size_t len;
	bool nul;
	int rc;

	rc = statefile_read(state_dir, ACTIVATION_JOURNAL, ACTIVATION_JOURNAL_MAX,
	    &text, &len, serr, sizeof(serr));
	if (rc == STATEFILE_ERR_NOENT) {
		rc = activation_clear_staging(defs_dir, err, errlen);
		return rc;
	}
	if (rc != 0)
		return str_seterr(err, errlen, STORE_ERR_IO, "%s", serr);
	if ((rc = journal_alloc(&j, err, errlen)) != 0) {
		free(text);
		return rc;
	}
	nul = strlen(text) != len;    /* before journal_parse cuts the text */
	if (nul || (rc = journal_parse(text, defs_dir, &j, why, sizeof(why))) != 0 ||
	    (!j.active_step && set_complete(&j, why, sizeof(why)) != 0)) {
		/* not ours to finish: set it aside, the check judges active/
		 * (at step previous nothing was renamed: active/ is the old set) */
		if (nul)
			snprintf(why, sizeof(why), "%s: NUL byte", ACTIVATION_JOURNAL);
		snprintf(jpath, sizeof(jpath), "%s/%s", state_dir, ACTIVATION_JOURNAL);
		str_fmt(bad, sizeof(bad), "%s.bad", jpath);
		if (rename(jpath, bad) != 0) {
			rc = str_seterr(err, errlen, STORE_ERR_IO, "%s: %s; rename: %s",
			    jpath, why, strerror(errno));
			goto out;
		}
		if (report != NULL) {
			char msg[STORE_REASON_MAX + 64];

			snprintf(msg, sizeof(msg), "%s; set aside as %s.bad", why,
			    ACTIVATION_JOURNAL);
			report(arg, "activation_recovered", ACTIVATION_JOURNAL, msg);
		}
		rc = activation_clear_staging(defs_dir, err, errlen);
		if (rc == 0)
			rc = 1;
		goto out;
	}
	if (!j.active_step) {
		if ((rc = sync_previous(defs_dir, err, errlen)) != 0)
			goto out;
		j.active_step = true;
		if ((rc = journal_write(state_dir, &j, why, sizeof(why))) != 0) {
			/* no room for step active: give it up, active/ is the old set */
			if (!journal_withdraw(state_dir, why, sizeof(why))) {
				rc = str_seterr(err, errlen, rc, "%s", why);
				goto out;
			}
			if (report != NULL) {
				char msg[STORE_REASON_MAX + 64];

				snprintf(msg, sizeof(msg), "an activation interrupted by a stop could not be finished: %s",
				    why);
				report(arg, "activation_recovered", ACTIVATION_JOURNAL, msg);
			}
			rc = activation_clear_staging(defs_dir, err, errlen);
			if (rc == 0)
				rc = 1;
			goto out;
		}
	}
	if ((rc = apply_active(defs_dir, &j, NULL, NULL, err, errlen)) != 0 ||
	    (rc = commit(state_dir, &j, err, errlen)) != 0)
		goto out;
	if (report != NULL) {
		size_t off = (size_t)snprintf(why, sizeof(why),
		    "an activation interrupted by a stop was completed:");

		for (size_t i = 0; i < j.put.n && off < sizeof(why); i++)
			off += (size_t)snprintf(why + off, sizeof(why) - off, " %s",
			    j.put.name[i]);
		report(arg, "activation_recovered", "active", why);
	}
	if ((rc = activation_clear_staging(defs_dir, err, errlen)) == 0)
		rc = 1;
out:
	free(text);
	journal_free(&j);
	return rc;
}
