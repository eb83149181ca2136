/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Activation of a candidate set (activate.h): the staging helpers
 * (stage_dir, copy_in, link_others, active_container), a whole activation
 * (active/ is the set, previous/ the old set, by inode), a crash at each
 * kill point of activation_run in a forked child followed by
 * activation_recover (complete, old or new, never a mix), damaged and
 * hostile journals (set aside, nothing changed, nothing outside touched),
 * and clearing staging/ without following symbolic links.
 *
 * Activation does not verify, so the files are small hand-written ones; the
 * containers get a hand-written 512-byte header (activation_active_container
 * reads it).  Each test gets a fresh tree: ROOT/defs (store_dirs_create),
 * ROOT/state and ROOT/outside (what nothing may touch).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "activate.h"
#include "defs.h"
#include "store.h"
#include "testutil.h"

#define EVENTS_MAX 8
#define SNAP_MAX 32
#define KILLED 86               /* exit status of a child killed at its point */

struct ev {
	char event[64];
	char file[256];
	char reason[STORE_REASON_MAX + 64];
};

static struct {
	char *root;
	char defs[4096], state[4096], outside[4096];
	char stage[4096], set[4200];     /* staged by stage_set() */
	char in_cvd[4096], in_sign[4096];
	struct ev ev[EVENTS_MAX];
	size_t nev;
} fx;

/* A directory listing: every entry's name and inode, sorted. */
struct snap {
	size_t n;
	struct {
		char name[STORE_NAME_MAX + 1];
		ino_t ino;
	} e[SNAP_MAX];
};

static const char hdb[] =
    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";

/* ---- fixture ---- */

static int
setup(void **state)
{
	char err[512];

	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.root = tu_tmpdir();
	snprintf(fx.defs, sizeof(fx.defs), "%s/defs", fx.root);
	snprintf(fx.state, sizeof(fx.state), "%s/state", fx.root);
	snprintf(fx.outside, sizeof(fx.outside), "%s/outside", fx.root);
	if (store_dirs_create(fx.defs, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_dirs_create: %s\n", err);
		return -1;
	}
	if (mkdir(fx.state, 0700) != 0 || mkdir(fx.outside, 0700) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_rmtree(fx.root);
	free(fx.root);
	fx.root = NULL;
	return 0;
}

/* ---- helpers ---- */

static void
record(void *arg, const char *event, const char *file, const char *reason)
{
	struct ev *e;

	assert_ptr_equal(arg, &fx);
	assert_true(fx.nev < EVENTS_MAX);
	e = &fx.ev[fx.nev++];
	snprintf(e->event, sizeof(e->event), "%s", event);
	snprintf(e->file, sizeof(e->file), "%s", file);
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

/* DefinitionsDir/sub/name, in a rotating buffer. */
static const char *
dpath(const char *sub, const char *name)
{
	static char bufs[4][8192];
	static int slot;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s/%s", fx.defs, sub, name);
	return b;
}

/* DefinitionsDir/sub, in a rotating buffer. */
static const char *
dsub(const char *sub)
{
	static char bufs[4][8192];
	static int slot;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", fx.defs, sub);
	return b;
}

static const char *
jpath(void)
{
	static char b[4200];

	snprintf(b, sizeof(b), "%s/%s", fx.state, ACTIVATION_JOURNAL);
	return b;
}

static const char *
badpath(void)
{
	static char b[4200];

	snprintf(b, sizeof(b), "%s/%s.bad", fx.state, ACTIVATION_JOURNAL);
	return b;
}

/* A container: a 512-byte header of this version, then a payload. */
static void
write_container(const char *path, unsigned version, const char *payload)
{
	char buf[CVD_HEADER_SIZE + 256];
	int n = snprintf(buf, sizeof(buf),
	    "ClamAV-VDB:08 Mar 2021 10-21 -0500:%u:1:90:X:X:tester:1615216860",
	    version);

	assert_true(n > 0 && n < CVD_HEADER_SIZE);
	memset(buf + n, ' ', CVD_HEADER_SIZE - (size_t)n);
	snprintf(buf + CVD_HEADER_SIZE, sizeof(buf) - CVD_HEADER_SIZE, "%s",
	    payload);
	tu_write(path, buf, CVD_HEADER_SIZE + strlen(payload));
}

static ino_t
ino_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	return st.st_ino;
}

static int
snap_cmp(const void *a, const void *b)
{
	return strcmp(a, b);   /* the name is the first member */
}

static void
snap_add(struct snap *s, const char *name, ino_t ino)
{
	assert_true(s->n < SNAP_MAX);
	snprintf(s->e[s->n].name, sizeof(s->e[0].name), "%s", name);
	s->e[s->n++].ino = ino;
	qsort(s->e, s->n, sizeof(s->e[0]), snap_cmp);
}

static void
snap_del(struct snap *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0) {
			memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
			s->n--;
			return;
		}
	fail_msg("snap_del: no %s", name);
}

static ino_t
snap_ino(const struct snap *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return s->e[i].ino;
	fail_msg("snap_ino: no %s", name);
	return 0;
}

static void
snap_take(const char *dir, struct snap *s)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	s->n = 0;
	if (d == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			fail_msg("%s/%s: %s", dir, de->d_name, strerror(errno));
		snap_add(s, de->d_name, st.st_ino);
	}
	closedir(d);
}

/* "name ino\n" lines: readable in an assertion's message. */
static char *
snap_str(const struct snap *s)
{
	size_t cap = s->n * (STORE_NAME_MAX + 32) + 1, off = 0;
	char *p = malloc(cap);

	assert_non_null(p);
	p[0] = '\0';
	for (size_t i = 0; i < s->n; i++)
		off += (size_t)snprintf(p + off, cap - off, "%s %llu\n", s->e[i].name,
		    (unsigned long long)s->e[i].ino);
	return p;
}

static void
assert_dir_is(const char *dir, const struct snap *want)
{
	static char msg[2 * SNAP_MAX * (STORE_NAME_MAX + 32) + 4096];
	struct snap have;
	char *a, *b;
	bool same;

	snap_take(dir, &have);
	a = snap_str(&have);
	b = snap_str(want);
	if (!(same = strcmp(a, b) == 0))
		snprintf(msg, sizeof(msg), "%s holds\n%swant\n%s", dir, a, b);
	free(a);
	free(b);
	if (!same)
		fail_msg("%s", msg);
}

static bool
dir_is_empty(const char *dir)
{
	struct snap s;

	snap_take(dir, &s);
	return s.n == 0;
}

static char *
read_str(const char *path)
{
	size_t len;

	return (char *)tu_read(path, &len);
}

/*
 * The old set in active/ (and an older one in previous/):
 *   daily.cvd v1, daily.cvd.sign, main.cvd v5, bytecode.cvd v7, extra.hdb,
 *   the index, README (a stray: not a definitions file, left alone).
 */
static void
old_active(void)
{
	write_container(dpath("active", "daily.cvd"), 1, "daily v1\n");
	tu_write_str(dpath("active", "daily.cvd.sign"), "#clamsign-1.0\nv1\n");
	write_container(dpath("active", "main.cvd"), 5, "main v5\n");
	write_container(dpath("active", "bytecode.cvd"), 7, "bytecode v7\n");
	tu_write_str(dpath("active", "extra.hdb"), hdb);
	tu_write_str(dpath("active", DEFS_INDEX_NAME), "old index\n");
	tu_write_str(dpath("active", "README"), "stray\n");
	write_container(dpath("previous", "daily.cvd"), 0, "daily v0\n");
	write_container(dpath("previous", "old.cvd"), 3, "gone\n");
}

/*
 * The candidate set staging/ID/set, as update.c builds it: the others
 * hard-linked from active/, then the changes -- daily.cvd v2 and its .sign,
 * main.cvd v6, a new new.ndb, extra.hdb dropped, a new index -- and the
 * update in incoming/ (consumed by the activation).
 */
static void
stage_set(void)
{
	char err[512];

	assert_int_equal(activation_stage_dir(fx.defs, fx.stage,
	    sizeof(fx.stage), err, sizeof(err)), 0);
	snprintf(fx.set, sizeof(fx.set), "%s/set", fx.stage);
	assert_int_equal(mkdir(fx.set, 0700), 0);
	assert_int_equal(activation_link_others(fx.defs, fx.set, "daily", err,
	    sizeof(err)), 0);
	write_container(tu_path(fx.set, "daily.cvd"), 2, "daily v2\n");
	tu_write_str(tu_path(fx.set, "daily.cvd.sign"), "#clamsign-1.0\nv2\n");
	assert_int_equal(unlink(tu_path(fx.set, "main.cvd")), 0);
	write_container(tu_path(fx.set, "main.cvd"), 6, "main v6\n");
	assert_int_equal(unlink(tu_path(fx.set, "extra.hdb")), 0);
	tu_write_str(tu_path(fx.set, "new.ndb"), "Test.Body:0:*:41424344\n");
	tu_write_str(tu_path(fx.set, DEFS_INDEX_NAME), "new index\n");
	snprintf(fx.in_cvd, sizeof(fx.in_cvd), "%s", dpath("incoming", "daily.cvd"));
	snprintf(fx.in_sign, sizeof(fx.in_sign), "%s",
	    dpath("incoming", "daily.cvd.sign"));
	write_container(fx.in_cvd, 2, "daily v2\n");
	tu_write_str(fx.in_sign, "#clamsign-1.0\nv2\n");
}

/* What a complete activation must leave, taken before it. */
struct expect {
	struct snap old_active;     /* active/ before */
	struct snap old_set;        /* its definitions and .sign files: previous/ after */
	struct snap new_active;     /* the set's files, and the stray kept */
};

static void
expect_take(struct expect *x)
{
	snap_take(dsub("active"), &x->old_active);
	x->old_set = x->old_active;
	snap_del(&x->old_set, "README");
	snap_del(&x->old_set, DEFS_INDEX_NAME);
	snap_take(fx.set, &x->new_active);
	snap_add(&x->new_active, "README", snap_ino(&x->old_active, "README"));
}

/* active/ the new set, previous/ the old, nothing left over. */
static void
assert_activated(const struct expect *x)
{
	assert_dir_is(dsub("active"), &x->new_active);
	assert_dir_is(dsub("previous"), &x->old_set);
	assert_false(tu_exists(jpath()));
	assert_false(tu_exists(badpath()));
	assert_true(dir_is_empty(dsub("staging")));
	assert_false(tu_exists(fx.in_cvd));
	assert_false(tu_exists(fx.in_sign));
	assert_true(dir_is_empty(fx.state));
}

static int
run(void)
{
	const char *consume[] = { fx.in_cvd, fx.in_sign };
	char err[512];
	int rc = activation_run(fx.defs, fx.state, fx.set, consume, 2, NULL, NULL,
	    err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "activation_run: %s\n", err);
	return rc;
}

/* The journal, with @SET, @D and @O replaced and @0 a NUL byte. */
static char *
expand(const char *text, size_t *len)
{
	size_t cap = strlen(text) * 4 + 3 * 4096 * 4 + 1, n = 0;
	char *out = malloc(cap);

	assert_non_null(out);
	for (const char *p = text; *p != '\0';) {
		const char *sub = NULL;
		size_t skip = 0;

		if (strncmp(p, "@SET", 4) == 0)
			sub = fx.set, skip = 4;
		else if (strncmp(p, "@D", 2) == 0)
			sub = fx.defs, skip = 2;
		else if (strncmp(p, "@O", 2) == 0)
			sub = fx.outside, skip = 2;
		else if (strncmp(p, "@0", 2) == 0)
			sub = "", skip = 2, out[n++] = '\0';
		if (sub != NULL) {
			n += (size_t)snprintf(out + n, cap - n, "%s", sub);
			p += skip;
		} else {
			out[n++] = *p++;
		}
		assert_true(n + 4096 < cap);
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* ---- staging helpers ---- */

static void
test_stage_dir_mode_and_name(void **state)
{
	char a[4096], b[4096], err[512], staging[4200];
	const char *base;
	mode_t old = umask(0);
	struct stat st;

	(void)state;
	assert_int_equal(activation_stage_dir(fx.defs, a, sizeof(a), err,
	    sizeof(err)), 0);
	umask(077);
	assert_int_equal(activation_stage_dir(fx.defs, b, sizeof(b), err,
	    sizeof(err)), 0);
	umask(old);
	assert_string_not_equal(a, b);
	snprintf(staging, sizeof(staging), "%s/staging/", fx.defs);
	for (int i = 0; i < 2; i++) {
		const char *p = i == 0 ? a : b;

		assert_int_equal(strncmp(p, staging, strlen(staging)), 0);
		base = p + strlen(staging);
		/* uSTAMP.XXXXXX: u, 16 characters of UTC stamp, a dot, six */
		assert_int_equal(strlen(base), 1 + STORE_STAMP_LEN + 1 + 6);
		assert_int_equal(base[0], 'u');
		assert_int_equal(base[9], 'T');
		assert_int_equal(base[16], 'Z');
		assert_int_equal(base[17], '.');
		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	/* a path that does not fit: an error, nothing made */
	assert_int_equal(activation_stage_dir(fx.defs, a, 20, err, sizeof(err)),
	    STORE_ERR_LIMIT);
}

static void
test_copy_in(void **state)
{
	char src[4200], err[512];
	size_t len, big = 3 * 65536 + 17;    /* several chunks */
	uint8_t *data = malloc(big), *got;
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	snprintf(src, sizeof(src), "%s/src.cvd", fx.outside);
	tu_write(src, data, big);
	fd = open(src, O_RDONLY);
	assert_true(fd >= 0);
	/* the file's offset does not matter: copied from the start */
	assert_int_equal(lseek(fd, 100, SEEK_SET), 100);

	assert_int_equal(activation_copy_in(fd, "SRC", dsub("staging"), "x.cvd",
	    0640, big, err, sizeof(err)), 0);
	got = tu_read(dpath("staging", "x.cvd"), &len);
	assert_int_equal(len, big);
	assert_memory_equal(got, data, big);
	free(got);
	assert_int_equal(lstat(dpath("staging", "x.cvd"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);

	/* O_EXCL: a second copy to the same name fails, the first is kept */
	assert_int_equal(activation_copy_in(fd, "SRC", dsub("staging"), "x.cvd",
	    0644, big, err, sizeof(err)), STORE_ERR_IO);
	assert_non_null(strstr(err, "x.cvd"));
	got = tu_read(dpath("staging", "x.cvd"), &len);
	assert_int_equal(len, big);
	free(got);
	assert_int_equal(lstat(dpath("staging", "x.cvd"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* O_NOFOLLOW: a symlink at the name is not written through */
	assert_int_equal(symlink(tu_path(fx.outside, "target"),
	    dpath("staging", "link.cvd")), 0);
	assert_int_equal(activation_copy_in(fd, "SRC", dsub("staging"),
	    "link.cvd", 0644, big, err, sizeof(err)), STORE_ERR_IO);
	assert_false(tu_exists(tu_path(fx.outside, "target")));

	/* max_bytes: one byte short is refused, naming the source; nothing left */
	assert_int_equal(activation_copy_in(fd, "SRC-NAME", dsub("staging"),
	    "y.cvd", 0644, big - 1, err, sizeof(err)), STORE_ERR_LIMIT);
	assert_non_null(strstr(err, "SRC-NAME"));
	assert_false(tu_exists(dpath("staging", "y.cvd")));
	close(fd);
	free(data);
}

static void
test_copy_in_grows_while_copied(void **state)
{
	char err[512];
	struct stat st;
	int fd;

	(void)state;
	/* a regular file that says 0 bytes and reads more: over the limit
	 * part-way, and the partial copy is removed */
	fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != 0) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	assert_int_equal(activation_copy_in(fd, "status", dsub("staging"),
	    "s.cvd", 0644, 16, err, sizeof(err)), STORE_ERR_LIMIT);
	assert_non_null(strstr(err, "grew past"));
	assert_false(tu_exists(dpath("staging", "s.cvd")));
	close(fd);
}

static void
test_copy_in_refuses_non_regular(void **state)
{
	char err[512];
	int fd, p[2];

	(void)state;
	fd = open(fx.outside, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(activation_copy_in(fd, "a-dir", dsub("staging"), "d.cvd",
	    0644, 1 << 20, err, sizeof(err)), STORE_ERR_IO);
	assert_non_null(strstr(err, "a-dir: not a regular file"));
	close(fd);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(activation_copy_in(p[0], "a-pipe", dsub("staging"),
	    "p.cvd", 0644, 1 << 20, err, sizeof(err)), STORE_ERR_IO);
	assert_non_null(strstr(err, "a-pipe: not a regular file"));
	close(p[0]);
	close(p[1]);
	assert_true(dir_is_empty(dsub("staging")));
}

static void
test_link_others(void **state)
{
	static const char *const own[] = { "test.cvd", "test.cld", "test.cud",
	    "test.cvd.sign", "test.cld.sign", "test.cud.sign", "test-12.cvd.sign" };
	static const char *const others[] = { "testing.cvd", "testing.cvd.sign",
	    "testing-3.cvd.sign", "test.hdb", "main.cvd", "main.cvd.sign",
	    "test2.cld" };
	struct snap want = { 0 };
	char set[4200], err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		tu_write_str(dpath("active", own[i]), own[i]);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		tu_write_str(dpath("active", others[i]), others[i]);
		snap_add(&want, others[i], ino_of(dpath("active", others[i])));
	}
	/* not definitions files: not linked */
	tu_write_str(dpath("active", DEFS_INDEX_NAME), "index");
	tu_write_str(dpath("active", "README"), "stray");
	tu_write_str(dpath("active", ".daily.cvd.prev"), "temporary");

	snprintf(set, sizeof(set), "%s/set", dsub("staging"));
	assert_int_equal(mkdir(set, 0700), 0);
	assert_int_equal(activation_link_others(fx.defs, set, "test", err,
	    sizeof(err)), 0);
	assert_dir_is(set, &want);   /* same names, same inodes */

	/* another db: everything of "test" is linked now */
	tu_rmtree(set);
	assert_int_equal(mkdir(set, 0700), 0);
	assert_int_equal(activation_link_others(fx.defs, set, "main", err,
	    sizeof(err)), 0);
	assert_true(tu_exists(tu_path(set, "test.cvd")));
	assert_true(tu_exists(tu_path(set, "test-12.cvd.sign")));
	assert_false(tu_exists(tu_path(set, "main.cvd")));
	assert_false(tu_exists(tu_path(set, "main.cvd.sign")));

	/* a set directory that is a symlink: refused */
	assert_int_equal(symlink(fx.outside, tu_path(dsub("staging"), "ln")), 0);
	assert_true(activation_link_others(fx.defs,
	    tu_path(dsub("staging"), "ln"), "test", err, sizeof(err)) < 0);
	assert_true(dir_is_empty(fx.outside));
}

static void
test_active_container(void **state)
{
	struct cvd_header h;
	char file[STORE_NAME_MAX + 1], err[512];

	(void)state;
	assert_int_equal(activation_active_container(fx.defs, "daily", file,
	    sizeof(file), &h, err, sizeof(err)), 0);

	write_container(dpath("active", "daily.cvd"), 3, "x");
	write_container(dpath("active", "daily.cld"), 5, "x");
	write_container(dpath("active", "daily.cud"), 4, "x");
	write_container(dpath("active", "dailyx.cvd"), 99, "x");
	write_container(dpath("active", "daily-9.cvd"), 98, "x");
	assert_int_equal(activation_active_container(fx.defs, "daily", file,
	    sizeof(file), &h, err, sizeof(err)), 1);
	assert_string_equal(file, "daily.cld");
	assert_int_equal(h.version, 5);

	/* a header that does not parse is not a container */
	assert_int_equal(unlink(dpath("active", "daily.cld")), 0);
	tu_write_str(dpath("active", "daily.cld"), "not a header");
	assert_int_equal(activation_active_container(fx.defs, "daily", file,
	    sizeof(file), &h, err, sizeof(err)), 1);
	assert_string_equal(file, "daily.cud");
	assert_int_equal(h.version, 4);

	assert_int_equal(activation_active_container(fx.defs, "main", file,
	    sizeof(file), &h, err, sizeof(err)), 0);

	/* no active/: an error */
	tu_rmtree(dsub("active"));
	assert_true(activation_active_container(fx.defs, "daily", file,
	    sizeof(file), &h, err, sizeof(err)) < 0);
}

/* ---- a whole activation ---- */

struct watch {
	int points[KP_COUNT];
	size_t n;
	struct expect *x;
};

/* At each kill point: what must hold there (in this process). */
static void
kp_watch(void *arg, int point)
{
	struct watch *w = arg;
	char *j;

	assert_true(w->n < KP_COUNT);
	w->points[w->n++] = point;
	switch (point) {
	case KP_JOURNAL:
	case KP_JOURNAL_ACTIVE:
		j = read_str(jpath());
		assert_int_equal(strncmp(j, "ampscan-activation 1\n", 21), 0);
		assert_non_null(strstr(j, point == KP_JOURNAL ? "\nstep previous\n" :
		    "\nstep active\n"));
		/* the changed files, the index last; the dropped name */
		assert_non_null(strstr(j, "\nput daily.cvd\nput daily.cvd.sign\n"
		    "put main.cvd\nput new.ndb\nput " DEFS_INDEX_NAME "\n"));
		assert_null(strstr(j, "put bytecode.cvd"));
		assert_non_null(strstr(j, "\ndel extra.hdb\n"));
		assert_non_null(strstr(j, "\nconsume "));
		free(j);
		assert_dir_is(dsub("active"), &w->x->old_active);
		break;
	case KP_PREVIOUS:
		assert_dir_is(dsub("previous"), &w->x->old_set);
		assert_dir_is(dsub("active"), &w->x->old_active);
		break;
	case KP_FIRST_RENAME:
		/* the index is still the old one: it goes last */
		assert_int_equal(ino_of(dpath("active", DEFS_INDEX_NAME)),
		    snap_ino(&w->x->old_active, DEFS_INDEX_NAME));
		break;
	case KP_RENAMED:
		assert_dir_is(dsub("active"), &w->x->new_active);
		assert_true(tu_exists(jpath()));
		break;
	case KP_COMMITTED:
		assert_false(tu_exists(jpath()));
		assert_false(tu_exists(fx.in_cvd));
		break;
	default:
		fail_msg("unexpected kill point %d", point);
	}
}

static void
test_run_activates_the_set(void **state)
{
	static const int want[] = { KP_JOURNAL, KP_PREVIOUS, KP_JOURNAL_ACTIVE,
	    KP_FIRST_RENAME, KP_RENAMED, KP_COMMITTED };
	const char *consume[] = { fx.in_cvd, fx.in_sign };
	struct expect x;
	struct watch w = { .x = &x };
	char err[512];

	(void)state;
	old_active();
	stage_set();
	expect_take(&x);
	assert_int_equal(activation_run(fx.defs, fx.state, fx.set, consume, 2,
	    kp_watch, &w, err, sizeof(err)), 0);
	assert_int_equal(w.n, sizeof(want) / sizeof(want[0]));
	assert_memory_equal(w.points, want, sizeof(want));
	assert_activated(&x);
	assert_false(tu_exists(fx.stage));
	assert_false(tu_exists(dpath("active", "extra.hdb")));
	assert_false(tu_exists(dpath("previous", "old.cvd")));
	/* nothing to recover afterwards */
	assert_int_equal(activation_recover(fx.defs, fx.state, record, &fx, err,
	    sizeof(err)), 0);
	assert_int_equal(fx.nev, 0);
	assert_activated(&x);
}

static void
test_run_without_consume_and_unchanged_files(void **state)
{
	struct expect x;
	char err[512];

	(void)state;
	old_active();
	stage_set();
	/* the same index inode in both: still put (a no-op rename) */
	assert_int_equal(unlink(tu_path(fx.set, DEFS_INDEX_NAME)), 0);
	assert_int_equal(link(dpath("active", DEFS_INDEX_NAME),
	    tu_path(fx.set, DEFS_INDEX_NAME)), 0);
	expect_take(&x);
	assert_int_equal(activation_run(fx.defs, fx.state, fx.set, NULL, 0, NULL,
	    NULL, err, sizeof(err)), 0);
	assert_dir_is(dsub("active"), &x.new_active);
	assert_true(tu_exists(fx.in_cvd));   /* not named: not consumed */
	assert_false(tu_exists(jpath()));
}

static void
test_run_without_index_changes_nothing(void **state)
{
	struct snap before, prev;

	(void)state;
	old_active();
	stage_set();
	assert_int_equal(unlink(tu_path(fx.set, DEFS_INDEX_NAME)), 0);
	snap_take(dsub("active"), &before);
	snap_take(dsub("previous"), &prev);
	assert_int_equal(run(), STORE_ERR_IO);
	assert_dir_is(dsub("active"), &before);
	assert_dir_is(dsub("previous"), &prev);
	assert_false(tu_exists(jpath()));
	assert_true(tu_exists(fx.in_cvd));
}

/*
 * Engine clamav builds no index: ACTIVATION_NO_INDEX activates a set
 * without one, and the index an earlier builtin run left in active/ (it
 * names the old set) goes with the old files.
 */
static void
test_run_no_index_removes_the_stale_one(void **state)
{
	const char *consume[] = { fx.in_cvd, fx.in_sign };
	struct expect x;
	char err[512];

	(void)state;
	old_active();
	stage_set();
	assert_int_equal(unlink(tu_path(fx.set, DEFS_INDEX_NAME)), 0);
	expect_take(&x);
	assert_int_equal(activation_run_flags(fx.defs, fx.state, fx.set,
	    ACTIVATION_NO_INDEX, consume, 2, NULL, NULL, err, sizeof(err)), 0);
	assert_false(tu_exists(dpath("active", DEFS_INDEX_NAME)));
	assert_activated(&x);
}

/*
 * An error in step 2 (previous/daily.cvd is a directory: the link cannot
 * replace it): active/ is unchanged.  (activate.h says the journal is then
 * removed; activate.c keeps it so that recovery redoes step 2 -- see the
 * report.)  Whatever is left, the next recovery leaves a complete set.
 */
static void
test_run_error_in_previous_step(void **state)
{
	struct expect x;
	char err[512];

	(void)state;
	old_active();
	stage_set();
	expect_take(&x);
	assert_int_equal(unlink(dpath("previous", "daily.cvd")), 0);
	assert_int_equal(mkdir(dpath("previous", "daily.cvd"), 0700), 0);
	tu_write_str(dpath("previous", "daily.cvd/x"), "x");
	assert_int_equal(run(), STORE_ERR_IO);
	assert_dir_is(dsub("active"), &x.old_active);
	assert_true(tu_exists(fx.in_cvd));

	tu_rmtree(dpath("previous", "daily.cvd"));
	assert_true(activation_recover(fx.defs, fx.state, record, &fx, err,
	    sizeof(err)) >= 0);
	assert_false(tu_exists(jpath()));
	assert_true(dir_is_empty(dsub("staging")));
	{
		struct snap have;
		char *a, *o, *n;

		snap_take(dsub("active"), &have);
		a = snap_str(&have);
		o = snap_str(&x.old_active);
		n = snap_str(&x.new_active);
		if (strcmp(a, o) != 0 && strcmp(a, n) != 0)
			fail_msg("active/ is neither the old nor the new set:\n%s", a);
		free(a);
		free(o);
		free(n);
	}
}

/* ---- a crash at each kill point, then recovery ---- */

static void
kp_die(void *arg, int point)
{
	if (point == *(const int *)arg)
		_exit(KILLED);
}

static void
crash_at(int point)
{
	const char *consume[] = { fx.in_cvd, fx.in_sign };
	struct expect x;
	char err[512];
	pid_t pid;
	int st, rc;

	old_active();
	stage_set();
	expect_take(&x);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rc = activation_run(fx.defs, fx.state, fx.set, consume, 2, kp_die,
		    &point, err, sizeof(err));
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), KILLED);   /* the point was reached */

	/* where the crash left things */
	switch (point) {
	case KP_JOURNAL:
	case KP_PREVIOUS:
	case KP_JOURNAL_ACTIVE:
		assert_true(tu_exists(jpath()));
		assert_dir_is(dsub("active"), &x.old_active);
		break;
	case KP_FIRST_RENAME:
		/* a real mix: the new daily.cvd, the old main.cvd and index */
		assert_int_equal(ino_of(dpath("active", "daily.cvd")),
		    snap_ino(&x.new_active, "daily.cvd"));
		assert_int_equal(ino_of(dpath("active", "main.cvd")),
		    snap_ino(&x.old_active, "main.cvd"));
		assert_int_equal(ino_of(dpath("active", DEFS_INDEX_NAME)),
		    snap_ino(&x.old_active, DEFS_INDEX_NAME));
		assert_true(tu_exists(dpath("active", "extra.hdb")));
		break;
	case KP_RENAMED:
		assert_true(tu_exists(jpath()));
		assert_dir_is(dsub("active"), &x.new_active);
		assert_true(tu_exists(fx.in_cvd));
		break;
	case KP_COMMITTED:
		assert_false(tu_exists(jpath()));
		assert_true(tu_exists(fx.stage));
		break;
	}

	rc = activation_recover(fx.defs, fx.state, record, &fx, err, sizeof(err));
	if (rc < 0)
		fail_msg("activation_recover: %s", err);
	/* the journal was written before each of these points */
	assert_int_equal(rc, point == KP_COMMITTED ? 0 : 1);
	assert_activated(&x);
	if (rc == 1) {
		assert_int_equal(fx.nev, 1);
		assert_string_equal(fx.ev[0].event, "activation_recovered");
		assert_string_equal(fx.ev[0].file, "active");
	} else {
		assert_int_equal(fx.nev, 0);
	}
	/* recovering again: nothing to do */
	assert_int_equal(activation_recover(fx.defs, fx.state, record, &fx, err,
	    sizeof(err)), 0);
	assert_activated(&x);
}

static void test_crash_journal(void **s) { (void)s; crash_at(KP_JOURNAL); }
static void test_crash_previous(void **s) { (void)s; crash_at(KP_PREVIOUS); }
static void test_crash_journal_active(void **s) { (void)s; crash_at(KP_JOURNAL_ACTIVE); }
static void test_crash_first_rename(void **s) { (void)s; crash_at(KP_FIRST_RENAME); }
static void test_crash_renamed(void **s) { (void)s; crash_at(KP_RENAMED); }
static void test_crash_committed(void **s) { (void)s; crash_at(KP_COMMITTED); }

/* A crash before the journal: the old set stays, staging/ is emptied. */
static void
test_crash_before_journal(void **state)
{
	struct expect x;
	char err[512];

	(void)state;
	old_active();
	stage_set();
	expect_take(&x);
	assert_int_equal(activation_recover(fx.defs, fx.state, record, &fx, err,
	    sizeof(err)), 0);
	assert_dir_is(dsub("active"), &x.old_active);
	assert_true(dir_is_empty(dsub("staging")));
	assert_true(tu_exists(fx.in_cvd));
	assert_int_equal(fx.nev, 0);
}

/* ---- damaged and hostile journals ---- */

struct damaged {
	const char *what;
	const char *text;       /* @SET @D @O expanded, @0 a NUL byte */
	const char *why;        /* in the reason reported */
};

#define J_HEAD "ampscan-activation 1\nstep active\nset @SET\n"
#define NOT_A "not an activation journal"

static struct damaged damaged_cases[] = {   /* not const: cmocka's state */
	{ "garbage", "\x7f" "ELF\x02\x01\x01 garbage\n\x01\x02\x03",
	    NOT_A " (line 1)" },
	{ "empty", "", NOT_A " (line 0)" },
	{ "NUL byte", J_HEAD "put daily.cvd@0\nput " DEFS_INDEX_NAME
	    "\nconsume @D/incoming/daily.cvd\n", "NUL byte" },
	{ "put ../x", J_HEAD "put daily.cvd\nput ../x\nput " DEFS_INDEX_NAME
	    "\nconsume @D/incoming/daily.cvd\n", "line 5: malformed" },
	{ "put a/b", J_HEAD "put a/b\nput " DEFS_INDEX_NAME "\n",
	    "line 4: malformed" },
	{ "del ..", J_HEAD "put " DEFS_INDEX_NAME "\ndel ..\n",
	    "line 5: malformed" },
	{ "set outside staging", "ampscan-activation 1\nstep active\n"
	    "set @O/set\nput daily.cvd\nput " DEFS_INDEX_NAME "\n",
	    "line 3: malformed" },
	{ "set escaping staging", "ampscan-activation 1\nstep active\n"
	    "set @D/staging/../../outside/set\nput daily.cvd\nput "
	    DEFS_INDEX_NAME "\n", "line 3: malformed" },
	{ "magic 2", "ampscan-activation 2\nstep active\nset @SET\nput "
	    DEFS_INDEX_NAME "\n", NOT_A " (line 1)" },
	{ "no step", "ampscan-activation 1\nset @SET\nput " DEFS_INDEX_NAME "\n",
	    NOT_A },
	{ "bad step", "ampscan-activation 1\nstep done\nset @SET\nput "
	    DEFS_INDEX_NAME "\n", "line 2: malformed" },
	{ "no set", "ampscan-activation 1\nstep active\nput " DEFS_INDEX_NAME
	    "\n", NOT_A },
	{ "unknown keyword", J_HEAD "put " DEFS_INDEX_NAME "\nrename a b\n",
	    "line 5: malformed" },
	{ "no argument", J_HEAD "put\n", "line 4: malformed" },
	{ "empty line", J_HEAD "\nput daily.cvd\nput " DEFS_INDEX_NAME "\n"
	    "consume @D/incoming/daily.cvd\n", "line 4: malformed" },
	{ "relative consume", J_HEAD "put " DEFS_INDEX_NAME
	    "\nconsume incoming/daily.cvd\n", "line 5: malformed" },
	{ "five consumes", J_HEAD "put " DEFS_INDEX_NAME "\n"
	    "consume @D/incoming/daily.cvd\nconsume @D/incoming/daily.cvd\n"
	    "consume @D/incoming/daily.cvd\nconsume @D/incoming/daily.cvd\n"
	    "consume @D/incoming/daily.cvd\n", "line 9: malformed" },
	/* consume: only a file of incoming/ (it is unlinked) */
	{ "consume outside", J_HEAD "put " DEFS_INDEX_NAME
	    "\nconsume @O/victim\n", "line 5: malformed" },
	{ "consume escaping incoming", J_HEAD "put " DEFS_INDEX_NAME
	    "\nconsume @D/incoming/../../outside/victim\n", "line 5: malformed" },
	{ "consume in active", J_HEAD "put " DEFS_INDEX_NAME
	    "\nconsume @D/active/main.cvd\n", "line 5: malformed" },
};
#define NDAMAGED (sizeof(damaged_cases) / sizeof(damaged_cases[0]))
_Static_assert(NDAMAGED == 20, "one D(i) in main() per case");

static void
test_damaged_journal(void **state)
{
	const struct damaged *c = *state;
	struct snap act, prev, out;
	char err[512], *text, *bad;
	size_t len, blen;
	int rc;

	old_active();
	stage_set();
	/* what a hostile journal could reach */
	tu_write_str(tu_path(fx.outside, "victim"), "keep me\n");
	assert_int_equal(mkdir(tu_path(fx.outside, "set"), 0700), 0);
	write_container(tu_path(fx.outside, "set/daily.cvd"), 9, "outside\n");
	tu_write_str(tu_path(fx.outside, "set/" DEFS_INDEX_NAME), "outside\n");
	snap_take(dsub("active"), &act);
	snap_take(dsub("previous"), &prev);
	snap_take(fx.outside, &out);

	text = expand(c->text, &len);
	tu_write(jpath(), text, len);
	rc = activation_recover(fx.defs, fx.state, record, &fx, err, sizeof(err));
	if (rc < 0)
		fail_msg("activation_recover: %s", err);
	assert_int_equal(rc, 1);
	if (!tu_exists(badpath()))
		fail_msg("the journal (%s) was not set aside", c->what);
	assert_false(tu_exists(jpath()));
	bad = (char *)tu_read(badpath(), &blen);
	assert_int_equal(blen, len);
	assert_memory_equal(bad, text, len);
	free(bad);
	free(text);

	assert_dir_is(dsub("active"), &act);
	assert_dir_is(dsub("previous"), &prev);
	assert_dir_is(fx.outside, &out);
	assert_true(tu_exists(fx.in_cvd));
	assert_true(tu_exists(fx.in_sign));
	assert_true(dir_is_empty(dsub("staging")));
	assert_int_equal(fx.nev, 1);
	assert_string_equal(fx.ev[0].event, "activation_recovered");
	assert_string_equal(fx.ev[0].file, ACTIVATION_JOURNAL);
	assert_non_null(strstr(fx.ev[0].reason, "set aside as " ACTIVATION_JOURNAL
	    ".bad"));


	/* a second start: nothing more to do, the .bad file is kept */
	fx.nev = 0;
	assert_int_equal(activation_recover(fx.defs, fx.state, record, &fx, err,
	    sizeof(err)), 0);
	assert_true(tu_exists(badpath()));
	assert_dir_is(dsub("active"), &act);
}

/*
 * The reason reported for a journal set aside names what is wrong with it:
 * the line, or the NUL byte (activate.c says "NUL byte" for every journal
 * that fails to parse: journal_parse has cut the text into lines by then).
 */
static void
test_damaged_journal_reasons(void **state)
{
	char err[512], *text, first[1024] = "", names[1024] = "";
	size_t len, off = 0, nwrong = 0;

	for (size_t i = 0; i < NDAMAGED; i++) {
		const struct damaged *c = &damaged_cases[i];

		if (i > 0) {
			teardown(state);
			assert_int_equal(setup(state), 0);
		}
		old_active();
		stage_set();
		text = expand(c->text, &len);
		tu_write(jpath(), text, len);
		free(text);
		assert_int_equal(activation_recover(fx.defs, fx.state, record, &fx,
		    err, sizeof(err)), 1);
		assert_int_equal(fx.nev, 1);
		if (strstr(fx.ev[0].reason, c->why) != NULL)
			continue;
		if (nwrong++ == 0)
			snprintf(first, sizeof(first), "%s: \"%s\", want \"%s\"",
			    c->what, fx.ev[0].reason, c->why);
		if (off < sizeof(names))
			off += (size_t)snprintf(names + off, sizeof(names) - off,
			    "%s%s", off ? ", " : "", c->what);
	}
	if (nwrong > 0)
		fail_msg("%zu of %zu reasons do not say what is wrong (%s): %s",
		    nwrong, NDAMAGED, names, first);
}

/*
 * A journal at step "previous" names a set that is gone (or lacks a file it
 * says to put): nothing was renamed yet, so active/ must stay exactly the
 * old set -- activate.c instead skips every put as "renamed before a crash"
 * and then carries out the del lines, leaving a set without main.cvd and
 * an index that names it.
 */
static void
test_recover_previous_step_without_the_set(void **state)
{
	struct snap act;
	char err[512], *text;
	size_t len;
	int rc;

	(void)state;
	old_active();
	stage_set();
	snap_take(dsub("active"), &act);
	text = expand("ampscan-activation 1\nstep previous\n"
	    "set @D/staging/u-gone/set\nput daily.cvd\nput " DEFS_INDEX_NAME "\n"
	    "del main.cvd\nconsume @D/incoming/daily.cvd\n", &len);
	tu_write(jpath(), text, len);
	free(text);
	rc = activation_recover(fx.defs, fx.state, record, &fx, err, sizeof(err));
	if (rc < 0)
		fail_msg("activation_recover: %s", err);
	assert_int_equal(rc, 1);
	assert_false(tu_exists(jpath()));
	assert_dir_is(dsub("active"), &act);
	assert_true(tu_exists(fx.in_cvd));
}

static void
test_recover_previous_step_incomplete_set(void **state)
{
	struct snap act;
	char err[512], *text;
	size_t len;
	int rc;

	(void)state;
	old_active();
	stage_set();
	snap_take(dsub("active"), &act);
	/* the journal names new.ndb, which the set lacks */
	assert_int_equal(unlink(tu_path(fx.set, "new.ndb")), 0);
	text = expand("ampscan-activation 1\nstep previous\nset @SET\n"
	    "put daily.cvd\nput daily.cvd.sign\nput main.cvd\nput new.ndb\n"
	    "put " DEFS_INDEX_NAME "\ndel extra.hdb\n", &len);
	tu_write(jpath(), text, len);
	free(text);
	rc = activation_recover(fx.defs, fx.state, record, &fx, err, sizeof(err));
	/* the new set cannot be made: active/ must stay the old one */
	assert_dir_is(dsub("active"), &act);
	if (rc >= 0)
		assert_false(tu_exists(jpath()));
}

/*
 * activation_run writes only what recovery accepts: consume paths are files
 * of incoming/ (journal_parse rejects anything else, so a journal written
 * with one is set aside after a crash, and active/ is left a mix).
 */
static void
test_run_refuses_consume_outside_incoming(void **state)
{
	const char *consume[1];
	struct snap act;
	char victim[4200], err[512];

	(void)state;
	old_active();
	stage_set();
	snprintf(victim, sizeof(victim), "%s/victim", fx.outside);
	tu_write_str(victim, "keep me\n");
	consume[0] = victim;
	snap_take(dsub("active"), &act);
	assert_true(activation_run(fx.defs, fx.state, fx.set, consume, 1, NULL,
	    NULL, err, sizeof(err)) < 0);
	assert_true(tu_exists(victim));
	assert_dir_is(dsub("active"), &act);
	assert_false(tu_exists(jpath()));
}

/*
 * activation_run writes only what recovery accepts: a set outside
 * staging/ would be activated, but after a crash its journal is set aside
 * and active/ is left a mix.
 */
static void
test_run_refuses_set_outside_staging(void **state)
{
	struct snap act;
	char set[4200], err[512];

	(void)state;
	old_active();
	snprintf(set, sizeof(set), "%s/set", fx.outside);
	assert_int_equal(mkdir(set, 0700), 0);
	write_container(tu_path(set, "daily.cvd"), 2, "daily v2\n");
	tu_write_str(tu_path(set, DEFS_INDEX_NAME), "new index\n");
	snap_take(dsub("active"), &act);
	assert_true(activation_run(fx.defs, fx.state, set, NULL, 0, NULL, NULL,
	    err, sizeof(err)) < 0);
	assert_dir_is(dsub("active"), &act);
	assert_false(tu_exists(jpath()));
}

/*
 * A name with a newline in the set ("x\ndel main.cvd\nput y.hdb": a plain
 * .hdb file name to store_list) is written into the journal as it is, and
 * reads back as three lines: after a crash, recovery deletes active/main.cvd,
 * which the new set holds.  activation_run must refuse such a name (or
 * write it so that it reads back as one).
 */
static void
test_set_name_with_newline(void **state)
{
	static const char odd[] = "x\ndel main.cvd\nput y.hdb";
	const char *consume[] = { fx.in_cvd, fx.in_sign };
	int point = KP_JOURNAL_ACTIVE, st, rc;
	struct expect x;
	char err[512];
	pid_t pid;

	(void)state;
	old_active();
	stage_set();
	tu_write_str(tu_path(fx.set, odd), hdb);
	expect_take(&x);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rc = activation_run(fx.defs, fx.state, fx.set, consume, 2, kp_die,
		    &point, err, sizeof(err));
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	rc = activation_recover(fx.defs, fx.state, record, &fx, err, sizeof(err));
	if (rc < 0)
		fail_msg("activation_recover: %s", err);
	if (WEXITSTATUS(st) == KILLED) {
		/* the activation was under way: recovery finishes it */
		assert_int_equal(rc, 1);
		assert_true(tu_exists(dpath("active", "main.cvd")));
		assert_dir_is(dsub("active"), &x.new_active);
	} else {
		/* refused before the journal: nothing changed */
		assert_int_equal(WEXITSTATUS(st), 1);
		assert_dir_is(dsub("active"), &x.old_active);
	}
}

/* ---- staging/ cleanup ---- */

static void
test_clear_staging_and_rmtree_do_not_follow_symlinks(void **state)
{
	char keep[4200], err[512];
	struct stat st;

	(void)state;
	snprintf(keep, sizeof(keep), "%s/keep", fx.outside);
	assert_int_equal(mkdir(keep, 0700), 0);
	tu_write_str(tu_path(keep, "file"), "keep me\n");
	assert_int_equal(mkdir(dpath("staging", "a"), 0700), 0);
	assert_int_equal(mkdir(dpath("staging", "a/b"), 0700), 0);
	assert_int_equal(mkdir(dpath("staging", "a/b/c"), 0700), 0);
	assert_int_equal(mkdir(dpath("staging", "empty"), 0700), 0);
	tu_write_str(dpath("staging", "a/b/c/deep"), "x");
	tu_write_str(dpath("staging", "a/f"), "x");
	tu_write_str(dpath("staging", "top"), "x");
	assert_int_equal(symlink(keep, dpath("staging", "link")), 0);
	assert_int_equal(symlink(keep, dpath("staging", "a/b/link")), 0);
	assert_int_equal(symlink(tu_path(keep, "file"),
	    dpath("staging", "a/filelink")), 0);
	assert_int_equal(activation_clear_staging(fx.defs, err, sizeof(err)), 0);
	assert_int_equal(lstat(dsub("staging"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_true(dir_is_empty(dsub("staging")));
	assert_true(tu_exists(tu_path(keep, "file")));

	/* rmtree: the tree goes, what its symlinks point at stays */
	assert_int_equal(mkdir(dpath("staging", "t"), 0700), 0);
	assert_int_equal(symlink(keep, dpath("staging", "t/link")), 0);
	assert_int_equal(activation_rmtree(dpath("staging", "t"), err,
	    sizeof(err)), 0);
	assert_false(tu_exists(dpath("staging", "t")));
	assert_true(tu_exists(tu_path(keep, "file")));
	/* a symlink given as the tree: the link goes, not its target */
	assert_int_equal(symlink(keep, dpath("staging", "l2")), 0);
	assert_int_equal(activation_rmtree(dpath("staging", "l2"), err,
	    sizeof(err)), 0);
	assert_false(tu_exists(dpath("staging", "l2")));
	assert_true(tu_exists(tu_path(keep, "file")));
	/* nothing there: nothing to do */
	assert_int_equal(activation_rmtree(dpath("staging", "none"), err,
	    sizeof(err)), 0);
	/* no staging/ at all */
	assert_int_equal(rmdir(dsub("staging")), 0);
	assert_int_equal(activation_clear_staging(fx.defs, err, sizeof(err)), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
/* one test per damaged journal, named after it */
#define D(i) { .name = damaged_cases[i].what, \
	.test_func = test_damaged_journal, .setup_func = setup, \
	.teardown_func = teardown, .initial_state = &damaged_cases[i] }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_stage_dir_mode_and_name),
		T(test_copy_in),
		T(test_copy_in_grows_while_copied),
		T(test_copy_in_refuses_non_regular),
		T(test_link_others),
		T(test_active_container),
		T(test_run_activates_the_set),
		T(test_run_without_consume_and_unchanged_files),
		T(test_run_without_index_changes_nothing),
		T(test_run_no_index_removes_the_stale_one),
		T(test_run_error_in_previous_step),
		T(test_crash_before_journal),
		T(test_crash_journal),
		T(test_crash_previous),
		T(test_crash_journal_active),
		T(test_crash_first_rename),
		T(test_crash_renamed),
		T(test_crash_committed),
		D(0), D(1), D(2), D(3), D(4), D(5), D(6), D(7), D(8), D(9),
		D(10), D(11), D(12), D(13), D(14), D(15), D(16), D(17), D(18),
		D(19),
		T(test_damaged_journal_reasons),
		T(test_recover_previous_step_without_the_set),
		T(test_recover_previous_step_incomplete_set),
		T(test_run_refuses_consume_outside_incoming),
		T(test_run_refuses_set_outside_staging),
		T(test_set_name_with_newline),
		T(test_clear_staging_and_rmtree_do_not_follow_symlinks),
	};

	return cmocka_run_group_tests_name("activate", tests, NULL, NULL);
}
