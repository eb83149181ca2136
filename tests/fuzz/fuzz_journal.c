/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz activation recovery through its public interface: arbitrary bytes
 * as STATE/activation.journal in a scratch tree, then activation_recover().
 * In the input, "@D" stands for the scratch DefinitionsDir and "@O" for a
 * directory outside it (the seeds in corpus/fuzz_journal/ use them, so that
 * a mutation starts from journals that name real paths).
 *
 * The scratch tree, on /dev/shm and rebuilt for every input:
 *   ROOT/defs/{active,incoming,staging,previous,quarantine}
 *       active/    daily.cvd daily.cvd.sign main.cvd extra.hdb the index README
 *       previous/  old.cvd
 *       staging/u1/set/  daily.cvd new.ndb main.cvd (a link of active's) the index
 *       incoming/  daily.cvd daily.cvd.sign
 *   ROOT/state/activation.journal   the input
 *   ROOT/outside/victim             never to be touched
 *
 * What must hold, whatever the journal says:
 *   - nothing outside ROOT/defs and ROOT/state is removed, renamed or
 *     linked, and only incoming/, staging/ and the state directory lose
 *     files by path (consumed files, staging/ emptied, the journal): the
 *     calls are wrapped (-Wl,--wrap) and a call that would break this
 *     aborts BEFORE it is made, so a hostile journal cannot do harm even
 *     when the fuzzer finds one (this runs as root);
 *   - the return is 1 (a journal resolved) or negative (the journal then
 *     left in place), never 0: there was a journal;
 *   - on 1 the journal is gone and staging/ is empty; a journal set aside
 *     as activation.journal.bad holds the input's bytes, and active/ is
 *     unchanged (names and inodes).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "activate.h"
#include "defs.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The real calls (-Wl,--wrap=NAME) and our guards in front of them. */
int __real_unlink(const char *path);
int __real_unlinkat(int dirfd, const char *path, int flags);
int __real_rmdir(const char *path);
int __real_rename(const char *from, const char *to);
int __real_renameat(int fromfd, const char *from, int tofd, const char *to);
int __real_linkat(int fromfd, const char *from, int tofd, const char *to,
    int flags);
int __wrap_unlink(const char *path);
int __wrap_unlinkat(int dirfd, const char *path, int flags);
int __wrap_rmdir(const char *path);
int __wrap_rename(const char *from, const char *to);
int __wrap_renameat(int fromfd, const char *from, int tofd, const char *to);
int __wrap_linkat(int fromfd, const char *from, int tofd, const char *to,
    int flags);

#define INPUT_MAX (64 * 1024)
#define SNAP_MAX 64

static struct {
	bool ready;
	bool guard;              /* activation_recover is running */
	char root[PATH_MAX];
	char defs[PATH_MAX], state[PATH_MAX], outside[PATH_MAX];
	char victim[PATH_MAX];
} S;

struct snap {
	size_t n;
	struct {
		char name[256];
		ino_t ino;
	} e[SNAP_MAX];
};

static void
die(const char *what, const char *path)
{
	fprintf(stderr, "fuzz_journal: %s: %s (errno %d: %s)\n", what,
	    path != NULL ? path : "", errno, strerror(errno));
	abort();
}

/* ---- the guard ----------------------------------------------------------- */

/* Collapse "//", "." and ".." of an absolute path, lexically. */
static void
normalize(char *p)
{
	char *out = p, *in = p;

	while (*in != '\0') {
		while (*in == '/')
			in++;
		if (*in == '\0')
			break;
		if (in[0] == '.' && (in[1] == '/' || in[1] == '\0')) {
			in++;
			continue;
		}
		if (in[0] == '.' && in[1] == '.' && (in[2] == '/' || in[2] == '\0')) {
			in += 2;
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		while (*in != '\0' && *in != '/')
			*out++ = *in++;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

/*
 * The absolute path dirfd/path names, its directory resolved through any
 * symbolic link when it exists (the last component is what the call acts
 * on: not followed).
 */
static void
resolve(int dirfd, const char *path, char *out, size_t len)
{
	char base[PATH_MAX], dir[PATH_MAX], real[PATH_MAX], *slash;

	if (path[0] == '/') {
		snprintf(out, len, "%s", path);
	} else {
		if (dirfd == AT_FDCWD) {
			if (getcwd(base, sizeof(base)) == NULL)
				die("getcwd", NULL);
		} else {
			char link[64];
			ssize_t n;

			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			if ((n = readlink(link, base, sizeof(base) - 1)) < 0)
				die("readlink", link);
			base[n] = '\0';
		}
		snprintf(out, len, "%s/%s", base, path);
	}
	normalize(out);
	snprintf(dir, sizeof(dir), "%s", out);
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if (realpath(dir[0] != '\0' ? dir : "/", real) != NULL)
		snprintf(out, len, "%s/%s", strcmp(real, "/") == 0 ? "" : real,
		    slash + 1);
}

static bool
under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

static bool
in_scratch(const char *p)
{
	return under(p, S.defs) || under(p, S.state);
}

/* Removal by path: what is consumed (incoming/), staging/, the state. */
static bool
removable_by_path(const char *p)
{
	char d[PATH_MAX + 32];

	snprintf(d, sizeof(d), "%s/%s", S.defs, STORE_DIR_INCOMING);
	if (under(p, d))
		return true;
	snprintf(d, sizeof(d), "%s/%s", S.defs, STORE_DIR_STAGING);
	return under(p, d) || under(p, S.state);
}

static void
check(const char *call, int dirfd, const char *path, bool by_path)
{
	char p[PATH_MAX * 2];

	if (!S.guard)
		return;
	resolve(dirfd, path, p, sizeof(p));
	if (!in_scratch(p) || (by_path && !removable_by_path(p))) {
		fprintf(stderr, "fuzz_journal: activation_recover would %s(%s): "
		    "outside what it may touch\n", call, p);
		abort();
	}
}

int
__wrap_unlink(const char *path)
{
	check("unlink", AT_FDCWD, path, true);
	return __real_unlink(path);
}

int
__wrap_unlinkat(int dirfd, const char *path, int flags)
{
	check("unlinkat", dirfd, path, false);
	return __real_unlinkat(dirfd, path, flags);
}

int
__wrap_rmdir(const char *path)
{
	check("rmdir", AT_FDCWD, path, true);
	return __real_rmdir(path);
}

int
__wrap_rename(const char *from, const char *to)
{
	check("rename", AT_FDCWD, from, false);
	check("rename", AT_FDCWD, to, false);
	return __real_rename(from, to);
}

int
__wrap_renameat(int fromfd, const char *from, int tofd, const char *to)
{
	check("renameat", fromfd, from, false);
	check("renameat", tofd, to, false);
	return __real_renameat(fromfd, from, tofd, to);
}

int
__wrap_linkat(int fromfd, const char *from, int tofd, const char *to,
    int flags)
{
	check("linkat", fromfd, from, false);
	check("linkat", tofd, to, false);
	return __real_linkat(fromfd, from, tofd, to, flags);
}

/* ---- the scratch tree ---------------------------------------------------- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		die("remove", path);
	return 0;
}

static void
rm_tree(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) == 0)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[PATH_MAX * 2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    (len > 0 && write(fd, p, len) != (ssize_t)len) || close(fd) != 0)
		die("write", path);
}

static void
write_str(const char *dir, const char *name, const char *s)
{
	write_file(dir, name, s, strlen(s));
}

static void
make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0)
		die("mkdir", path);
}

static void
cleanup(void)
{
	if (S.ready)
		rm_tree(S.root);
}

static void
init(void)
{
	char tmpl[PATH_MAX];

	/* /dev/shm when there is one: fast, and nothing on a disk */
	snprintf(tmpl, sizeof(tmpl), "/dev/shm/ampscan-fuzz-journal.XXXXXX");
	if (mkdtemp(tmpl) == NULL) {
		snprintf(tmpl, sizeof(tmpl), "%s/ampscan-fuzz-journal.XXXXXX",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(tmpl) == NULL)
			die("mkdtemp", tmpl);
	}
	if (realpath(tmpl, S.root) == NULL)
		die("realpath", tmpl);
	snprintf(S.defs, sizeof(S.defs), "%s/defs", S.root);
	snprintf(S.state, sizeof(S.state), "%s/state", S.root);
	snprintf(S.outside, sizeof(S.outside), "%s/outside", S.root);
	snprintf(S.victim, sizeof(S.victim), "%s/victim", S.outside);
	make_dir(S.outside);
	write_str(S.outside, "victim", "never touched\n");
	S.ready = true;
	atexit(cleanup);
}

static void
header(char *buf, unsigned version)
{
	int n = snprintf(buf, CVD_HEADER_SIZE + 1,
	    "ClamAV-VDB:08 Mar 2021 10-21 -0500:%u:1:90:X:X:fuzz:1615216860",
	    version);

	memset(buf + n, ' ', CVD_HEADER_SIZE - (size_t)n);
}

static void
reset(void)
{
	char err[512], d[PATH_MAX * 2], set[PATH_MAX * 2], a[PATH_MAX * 3];
	char h[CVD_HEADER_SIZE + 1];

	rm_tree(S.defs);
	rm_tree(S.state);
	if (store_dirs_create(S.defs, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_dirs_create: %s\n", err);
		abort();
	}
	make_dir(S.state);
	snprintf(d, sizeof(d), "%s/%s", S.defs, STORE_DIR_ACTIVE);
	header(h, 1);
	write_file(d, "daily.cvd", h, CVD_HEADER_SIZE);
	write_str(d, "daily.cvd.sign", "#clamsign-1.0\n");
	header(h, 5);
	write_file(d, "main.cvd", h, CVD_HEADER_SIZE);
	write_str(d, "extra.hdb",
	    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n");
	write_str(d, DEFS_INDEX_NAME, "old index\n");
	write_str(d, "README", "stray\n");
	snprintf(d, sizeof(d), "%s/%s", S.defs, STORE_DIR_PREVIOUS);
	write_str(d, "old.cvd", "old\n");
	snprintf(d, sizeof(d), "%s/%s/u1", S.defs, STORE_DIR_STAGING);
	make_dir(d);
	write_str(d, "daily.cvd", "staged copy\n");
	snprintf(set, sizeof(set), "%s/set", d);
	make_dir(set);
	header(h, 2);
	write_file(set, "daily.cvd", h, CVD_HEADER_SIZE);
	write_str(set, "new.ndb", "Test.Body:0:*:41424344\n");
	write_str(set, DEFS_INDEX_NAME, "new index\n");
	snprintf(a, sizeof(a), "%s/%s/main.cvd", S.defs, STORE_DIR_ACTIVE);
	snprintf(d, sizeof(d), "%s/main.cvd", set);
	if (link(a, d) != 0)
		die("link", d);
	snprintf(d, sizeof(d), "%s/%s", S.defs, STORE_DIR_INCOMING);
	write_str(d, "daily.cvd", "update\n");
	write_str(d, "daily.cvd.sign", "#clamsign-1.0\n");
}

static void
snap_take(const char *dir, struct snap *s)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	s->n = 0;
	if (d == NULL)
		return;   /* gone: compared as empty */
	while ((de = readdir(d)) != NULL && s->n < SNAP_MAX) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(s->e[s->n].name, sizeof(s->e[0].name), "%s", de->d_name);
		s->e[s->n++].ino = de->d_ino;
	}
	closedir(d);
}

/* The same entries, in any order. */
static bool
snap_same(const struct snap *a, const struct snap *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		bool found = false;

		for (size_t k = 0; k < b->n && !found; k++)
			found = a->e[i].ino == b->e[k].ino &&
			    strcmp(a->e[i].name, b->e[k].name) == 0;
		if (!found)
			return false;
	}
	return true;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The input with @D and @O replaced; malloc'd. */
static char *
expand(const uint8_t *data, size_t size, size_t *len)
{
	size_t dl = strlen(S.defs), ol = strlen(S.outside), n = 0;
	size_t cap = size * (dl > ol ? dl : ol) / 2 + size + 1;
	char *out = malloc(cap);

	if (out == NULL)
		die("malloc", NULL);
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '@' && i + 1 < size &&
		    (data[i + 1] == 'D' || data[i + 1] == 'O')) {
			const char *s = data[i + 1] == 'D' ? S.defs : S.outside;

			memcpy(out + n, s, strlen(s));
			n += strlen(s);
			i++;
		} else {
			out[n++] = (char)data[i];
		}
	}
	*len = n;
	return out;
}

static void
report(void *arg, const char *event, const char *file, const char *reason)
{
	(void)arg;
	if (event == NULL || file == NULL || reason == NULL ||
	    strcmp(event, "activation_recovered") != 0)
		abort();
	(void)strlen(reason);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap before, after;
	char err[512], jpath[PATH_MAX * 2], bad[PATH_MAX * 2];
	char staging[PATH_MAX * 2], active[PATH_MAX * 2], *text;
	size_t len;
	int rc;

	if (size > INPUT_MAX)
		return 0;
	if (!S.ready)
		init();
	reset();
	snprintf(jpath, sizeof(jpath), "%s/%s", S.state, ACTIVATION_JOURNAL);
	snprintf(bad, sizeof(bad), "%s.bad", jpath);
	snprintf(staging, sizeof(staging), "%s/%s", S.defs, STORE_DIR_STAGING);
	snprintf(active, sizeof(active), "%s/%s", S.defs, STORE_DIR_ACTIVE);
	text = expand(data, size, &len);
	write_file(S.state, ACTIVATION_JOURNAL, text, len);
	snap_take(active, &before);

	err[0] = '\0';
	S.guard = true;
	rc = activation_recover(S.defs, S.state, report, NULL, err, sizeof(err));
	S.guard = false;

	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (!exists(S.victim))
		die("the victim outside the tree is gone", S.victim);
	if (rc == 0) {
		fprintf(stderr, "fuzz_journal: 0 (no journal), but there was one\n");
		abort();
	}
	if (rc < 0) {
		/* not resolved: the journal is left for the next start */
		if (!exists(jpath))
			die("an error, and the journal is gone", err);
	} else {
		struct snap st;

		if (rc != 1 || exists(jpath))
			die("resolved, but the journal is still there", jpath);
		snap_take(staging, &st);
		if (st.n != 0)
			die("resolved, but staging/ is not empty", staging);
		if (exists(bad)) {
			/* set aside: the same bytes, and active/ as it was */
			char *got = NULL;
			FILE *f = fopen(bad, "rb");
			size_t n;

			if (f == NULL || (got = malloc(len + 1)) == NULL)
				die("read", bad);
			n = fread(got, 1, len + 1, f);
			fclose(f);
			if (n != len || memcmp(got, text, len) != 0)
				die("the journal set aside is not the one written", bad);
			free(got);
			snap_take(active, &after);
			if (!snap_same(&before, &after))
				die("a journal set aside, but active/ changed", active);
		}
	}
	free(text);
	return 0;
}
