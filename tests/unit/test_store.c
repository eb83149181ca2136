/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The definitions store: the directories, re-verifying active/ (what is
 * kept, what is deleted and why, what is left alone), rollback to
 * previous/ (quarantine, identical files untouched, the index, failures
 * that change nothing), the trust helper and the summary.
 *
 * Containers are built once per run with cvd_build() and signed with the
 * test key, which the store is given as a trusted key; each test gets a
 * fresh DefinitionsDir made by store_dirs_create().
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
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ampscan/cvd.h"
#include "defs.h"
#include "store.h"
#include "testutil.h"

#define EVENTS_MAX 16
#define NOBODY_ID 65534

struct ev {
	char event[64];
	char file[256];
	char reason[STORE_REASON_MAX];
};

static struct {
	char *tmp;                /* the group's directory */
	char src[4096];           /* built containers */
	const char *pub;          /* the test key (public PEM) */
	char *defs;               /* this test's DefinitionsDir */
	struct ev ev[EVENTS_MAX];
	size_t nev;
} fx;

static const char hdb_v1[] =
    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";
static const char hdb_v2[] =
    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
    "aa15bcf478d165efd2065190eb473bcb:544:Test.File-1\n";

/* ---- fixture ---- */

static void
build(const char *name, unsigned version, const char *hdb, const char *out)
{
	struct cvd_build_opts o = { .name = name, .version = version };
	const char *priv, *pub;
	char dir[4096], err[CVD_ERRMSG_MAX], file[300];

	tu_key_files(fx.tmp, &priv, &pub);
	o.key_path = priv;
	snprintf(dir, sizeof(dir), "%s/in-%s-%u", fx.tmp, name, version);
	if (mkdir(dir, 0755) != 0)
		fail_msg("mkdir %s: %s", dir, strerror(errno));
	snprintf(file, sizeof(file), "%s.hdb", name);
	tu_write_str(tu_path(dir, file), hdb);
	if (cvd_build(dir, tu_path(fx.src, out), &o, err, sizeof(err)) != 0)
		fail_msg("cvd_build %s: %s", out, err);
}

static int
group_setup(void **state)
{
	const char *priv;
	struct tu_craft cld = { .md5_x = true };

	(void)state;
	fx.tmp = tu_tmpdir();
	chmod(fx.tmp, 0755);
	tu_key_files(fx.tmp, &priv, &fx.pub);
	chmod(fx.pub, 0644);
	snprintf(fx.src, sizeof(fx.src), "%s/src", fx.tmp);
	if (mkdir(fx.src, 0755) != 0)
		return -1;
	build("daily", 1, hdb_v1, "daily-1.cvd");
	build("daily", 2, hdb_v2, "daily-2.cvd");
	build("main", 5, hdb_v1, "main-5.cvd");
	build("bytecode", 7, hdb_v1, "bytecode-7.cvd");
	tu_craft_write(tu_path(fx.src, "local.cld"), &cld);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	tu_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

static int
setup(void **state)
{
	char err[256];

	(void)state;
	fx.defs = tu_tmpdir();
	chmod(fx.defs, 0755);
	fx.nev = 0;
	memset(fx.ev, 0, sizeof(fx.ev));
	if (store_dirs_create(fx.defs, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_dirs_create: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tu_rmtree(fx.defs);
	free(fx.defs);
	fx.defs = NULL;
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
	static char bufs[4][4096];
	static int slot;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s/%s", fx.defs, sub, name);
	return b;
}

/* DefinitionsDir/sub, in a rotating buffer. */
static const char *
dsub(const char *sub)
{
	static char bufs[4][4096];
	static int slot;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", fx.defs, sub);
	return b;
}

static void
put(const char *src_name, const char *sub, const char *name)
{
	size_t len;
	uint8_t *p = tu_read(tu_path(fx.src, src_name), &len);

	tu_write(dpath(sub, name), p, len);
	free(p);
}

static bool
same_bytes(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *pa = tu_read(a, &la), *pb = tu_read(b, &lb);
	bool same = la == lb && memcmp(pa, pb, la) == 0;

	free(pa);
	free(pb);
	return same;
}

static struct store_trust
key_trust(bool allow_unsigned)
{
	static const char *keys[1];
	struct store_trust t = { .trusted_keys = keys, .ntrusted_keys = 1,
	    .allow_unsigned = allow_unsigned };

	keys[0] = fx.pub;
	return t;
}

static int
verify(const struct store_trust *t, unsigned *kept, unsigned *deleted,
    char *err, size_t errlen)
{
	return store_verify_active(fx.defs, t, record, &fx, kept, deleted, err,
	    errlen);
}

/* How many names of dir start with prefix; the first one (sorted) in first. */
static int
count_prefixed(const char *dir, const char *prefix, char *first, size_t len)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (first != NULL && (n++ == 0 || strcmp(de->d_name, first) < 0))
			snprintf(first, len, "%s", de->d_name);
		else if (first == NULL)
			n++;
	}
	closedir(d);
	return n;
}

/* "daily.cvd.20260102T030405Z": the suffix after prefix is a UTC stamp. */
static bool
is_stamped(const char *name, const char *prefix)
{
	const char *s = name + strlen(prefix);

	if (strncmp(name, prefix, strlen(prefix)) != 0 ||
	    strlen(s) != STORE_STAMP_LEN)
		return false;
	for (int i = 0; i < STORE_STAMP_LEN; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';

		if ((i == 8 && s[i] != 'T') || (i == 15 && s[i] != 'Z') ||
		    (i != 8 && i != 15 && !digit))
			return false;
	}
	return true;
}

static void
flip_byte(const char *path, size_t off)
{
	size_t len;
	uint8_t *p = tu_read(path, &len);

	assert_true(off < len);
	p[off] ^= 0x5a;
	tu_write(path, p, len);
	free(p);
}

/* ---- verify active/ ---- */

static void
test_store_verify_keeps_valid_set(void **state)
{
	struct store_trust t = key_trust(false);
	unsigned kept, deleted;
	char err[512], *before, *after;

	(void)state;
	put("daily-2.cvd", "active", "daily.cvd");
	put("main-5.cvd", "active", "main.cvd");
	/* not ours to judge: an unchecked .sign, the index, a stray file */
	tu_write_str(dpath("active", "daily.cvd.sign"), "#clamsign-1.0\n");
	tu_write_str(dpath("active", DEFS_INDEX_NAME), "not an index");
	tu_write_str(dpath("active", "README"), "hello\n");
	before = tu_snapshot(fx.defs);
	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 2);
	assert_int_equal(deleted, 0);
	assert_int_equal(fx.nev, 0);
	after = tu_snapshot(fx.defs);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_store_verify_deletes_corrupt_cvd_and_its_sign(void **state)
{
	struct store_trust t = key_trust(false);
	unsigned kept, deleted;
	size_t len;
	char err[512];

	(void)state;
	put("daily-2.cvd", "active", "daily.cvd");
	put("main-5.cvd", "active", "main.cvd");
	tu_write_str(dpath("active", "daily.cvd.sign"), "#clamsign-1.0\n");
	tu_write_str(dpath("active", "main.cvd.sign"), "#clamsign-1.0\n");
	free(tu_read(dpath("active", "daily.cvd"), &len));
	flip_byte(dpath("active", "daily.cvd"), CVD_HEADER_SIZE + (len - CVD_HEADER_SIZE) / 2);

	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(deleted, 1);
	assert_false(tu_exists(dpath("active", "daily.cvd")));
	assert_false(tu_exists(dpath("active", "daily.cvd.sign")));
	assert_true(tu_exists(dpath("active", "main.cvd")));
	assert_true(tu_exists(dpath("active", "main.cvd.sign")));
	assert_int_equal(fx.nev, 1);
	assert_string_equal(fx.ev[0].event, STORE_EVENT_DELETED);
	assert_string_equal(fx.ev[0].file, "active/daily.cvd");
	assert_non_null(strstr(fx.ev[0].reason, "payload MD5 mismatch"));
}

static void
test_store_verify_deletes_versioned_sign_the_verifier_used(void **state)
{
	struct store_trust t = key_trust(false);
	unsigned kept, deleted;
	char err[512];

	(void)state;
	put("daily-2.cvd", "active", "daily.cvd");
	tu_write_str(dpath("active", "daily-2.cvd.sign"), "#clamsign-1.0\n");
	flip_byte(dpath("active", "daily.cvd"), CVD_HEADER_SIZE + 20);
	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(deleted, 1);
	assert_false(tu_exists(dpath("active", "daily.cvd")));
	assert_false(tu_exists(dpath("active", "daily-2.cvd.sign")));
}

static void
test_store_verify_deletes_untrusted_signer(void **state)
{
	struct store_trust t = { .allow_unsigned = false };   /* official only */
	unsigned kept, deleted;
	char err[512];

	(void)state;
	put("daily-2.cvd", "active", "daily.cvd");
	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(fx.nev, 1);
	assert_non_null(strstr(fx.ev[0].reason, "header signature does not verify"));
}

static void
test_store_verify_cld_needs_allow_unsigned(void **state)
{
	struct store_trust off = key_trust(false), on = key_trust(true);
	unsigned kept, deleted;
	char err[512];

	(void)state;
	put("local.cld", "active", "local.cld");
	assert_int_equal(verify(&on, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(deleted, 0);
	assert_true(tu_exists(dpath("active", "local.cld")));

	assert_int_equal(verify(&off, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(deleted, 1);
	assert_false(tu_exists(dpath("active", "local.cld")));
	assert_int_equal(fx.nev, 1);
	assert_string_equal(fx.ev[0].file, "active/local.cld");
	assert_non_null(strstr(fx.ev[0].reason, "unsigned container (.cld)"));
}

static void
test_store_verify_plain_files(void **state)
{
	struct store_trust off = key_trust(false), on = key_trust(true);
	unsigned kept, deleted;
	char err[512];

	(void)state;
	tu_write_str(dpath("active", "good.hdb"), hdb_v2);
	tu_write_str(dpath("active", "bad.hdb"),
	    "# fine\n44d88612fea8a8f36de82e1278abb02f::Empty.Size\n");
	tu_write_str(dpath("active", "last.ndb"), "Test.Body:0:*:41424344");
	assert_int_equal(verify(&on, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 2);
	assert_int_equal(deleted, 1);
	assert_false(tu_exists(dpath("active", "bad.hdb")));
	assert_string_equal(fx.ev[0].file, "active/bad.hdb");
	assert_non_null(strstr(fx.ev[0].reason, "line 2: "));

	fx.nev = 0;
	assert_int_equal(verify(&off, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(deleted, 2);
	assert_false(tu_exists(dpath("active", "good.hdb")));
	assert_non_null(strstr(fx.ev[0].reason, "plain signature file is unsigned"));
}

static void
test_store_verify_plain_line_over_the_cap(void **state)
{
	struct store_trust on = key_trust(true);
	size_t len = SIG_LINE_MAX + 10;
	char *big = malloc(len + 1);
	unsigned kept, deleted;
	char err[512];

	(void)state;
	assert_non_null(big);
	memset(big, 'a', len);
	big[len] = '\0';
	tu_write_str(dpath("active", "big.hdb"), big);
	free(big);
	assert_int_equal(verify(&on, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(deleted, 1);
	assert_non_null(strstr(fx.ev[0].reason, "line 1: longer than"));
}

static void
test_store_verify_symlink_named_cvd_is_deleted_not_followed(void **state)
{
	struct store_trust t = key_trust(false);
	unsigned kept, deleted;
	char err[512];

	(void)state;
	put("daily-2.cvd", "previous", "daily.cvd");
	assert_int_equal(symlink(dpath("previous", "daily.cvd"),
	    dpath("active", "daily.cvd")), 0);
	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)), 0);
	assert_int_equal(deleted, 1);
	assert_false(tu_exists(dpath("active", "daily.cvd")));
	assert_true(tu_exists(dpath("previous", "daily.cvd")));
	assert_non_null(strstr(fx.ev[0].reason, "symbolic link"));
}

static void
test_store_verify_active_unreadable_is_an_error(void **state)
{
	struct store_trust t = key_trust(false);
	unsigned kept = 9, deleted = 9;
	char err[512];

	(void)state;
	assert_int_equal(rmdir(dsub("active")), 0);
	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)),
	    STORE_ERR_IO);
	assert_non_null(strstr(err, "/active: No such file or directory"));
	assert_int_equal(kept, 0);
	assert_int_equal(deleted, 0);

	/* a symlink to a directory full of bad files: not followed */
	assert_int_equal(symlink(fx.src, dsub("active")), 0);
	assert_int_equal(verify(&t, &kept, &deleted, err, sizeof(err)),
	    STORE_ERR_TYPE);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(fx.nev, 0);
}

/* In a child as nobody when root, so that EACCES is real. */
static void
as_unprivileged(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
		    setresgid(NOBODY_ID, NOBODY_ID, NOBODY_ID) != 0 ||
		    setresuid(NOBODY_ID, NOBODY_ID, NOBODY_ID) != 0))
			_exit(99);
		/* a directory above the fixture closed to others (a chroot
		 * root of mode 0700): nothing to learn here */
		if (access(fx.tmp, X_OK) != 0)
			_exit(77);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		fprintf(stderr, "SKIPPED: the unprivileged user cannot reach %s (a directory above it is closed to others)\n",
		    fx.tmp);
		skip();
	}
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int
unreadable_active_child(void)
{
	struct store_trust t = key_trust(false);
	unsigned kept, deleted;
	char err[512];

	return verify(&t, &kept, &deleted, err, sizeof(err)) == STORE_ERR_IO &&
	    strstr(err, "Permission denied") != NULL ? 0 : 1;
}

static void
test_store_verify_active_without_permission_is_an_error(void **state)
{
	(void)state;
	chmod(dsub("active"), 0);
	as_unprivileged(unreadable_active_child);
	chmod(dsub("active"), 0750);
}

static int
unreadable_file_child(void)
{
	struct store_trust t = key_trust(false);
	unsigned kept, deleted;
	char err[512];
	int rc = verify(&t, &kept, &deleted, err, sizeof(err));

	if (rc != STORE_ERR_IO || strstr(err, "daily.cvd: Permission denied") == NULL) {
		fprintf(stderr, "rc %d err %s\n", rc, err);
		return 1;
	}
	/* the other file was still judged; nothing deleted, nothing reported */
	return kept == 1 && deleted == 0 && fx.nev == 0 ? 0 : 2;
}

static void
test_store_verify_unreadable_file_is_left_in_place(void **state)
{
	(void)state;
	/* the child could delete it: only the store's judgement keeps it */
	chmod(fx.defs, 0755);
	chmod(dsub("active"), 0755);
	if (geteuid() == 0)
		assert_int_equal(chown(dsub("active"), NOBODY_ID, NOBODY_ID), 0);
	put("daily-2.cvd", "active", "daily.cvd");
	put("main-5.cvd", "active", "main.cvd");
	chmod(dpath("active", "daily.cvd"), 0);
	chmod(dpath("active", "main.cvd"), 0644);
	as_unprivileged(unreadable_file_child);
	assert_true(tu_exists(dpath("active", "daily.cvd")));
}

/* ---- rollback ---- */

static void
test_store_rollback_restores_previous_and_quarantines(void **state)
{
	struct stat main_before, main_after;
	char err[512], q[4096], first[512];
	size_t len;
	uint8_t *v2 = tu_read(tu_path(fx.src, "daily-2.cvd"), &len);

	(void)state;
	put("daily-1.cvd", "previous", "daily.cvd");
	tu_write_str(dpath("previous", "daily.cvd.sign"), "#clamsign-1.0\nv1\n");
	put("main-5.cvd", "previous", "main.cvd");
	put("daily-2.cvd", "active", "daily.cvd");
	tu_write_str(dpath("active", "daily.cvd.sign"), "#clamsign-1.0\nv2\n");
	put("main-5.cvd", "active", "main.cvd");
	put("bytecode-7.cvd", "active", "bytecode.cvd");
	tu_write_str(dpath("active", DEFS_INDEX_NAME), "index");
	tu_write_str(dpath("active", "README"), "stray\n");
	assert_int_equal(stat(dpath("active", "main.cvd"), &main_before), 0);

	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 1);

	/* active/ is previous/'s set, the identical file untouched */
	assert_true(same_bytes(dpath("active", "daily.cvd"),
	    dpath("previous", "daily.cvd")));
	assert_true(same_bytes(dpath("active", "daily.cvd.sign"),
	    dpath("previous", "daily.cvd.sign")));
	assert_int_equal(stat(dpath("active", "main.cvd"), &main_after), 0);
	assert_int_equal(main_before.st_ino, main_after.st_ino);
	assert_int_equal(main_before.st_mtim.tv_nsec, main_after.st_mtim.tv_nsec);
	assert_false(tu_exists(dpath("active", "bytecode.cvd")));
	assert_false(tu_exists(dpath("active", DEFS_INDEX_NAME)));
	assert_true(tu_exists(dpath("active", "README")));
	assert_int_equal(count_prefixed(dsub("active"), ".", NULL, 0), 0);
	assert_int_equal(store_dir_has_set(dsub("previous"), err,
	    sizeof(err)), 1);

	/* v2 in quarantine/ with the timestamp suffix, its .sign beside it */
	snprintf(q, sizeof(q), "%s/quarantine", fx.defs);
	assert_int_equal(count_prefixed(q, "daily.cvd.", first, sizeof(first)), 2);
	assert_true(is_stamped(first, "daily.cvd."));
	{
		size_t qlen;
		uint8_t *qp = tu_read(tu_path(q, first), &qlen);

		assert_int_equal(qlen, len);
		assert_memory_equal(qp, v2, len);
		free(qp);
	}
	assert_int_equal(count_prefixed(q, "daily.cvd.sign.", first,
	    sizeof(first)), 1);
	assert_true(is_stamped(first, "daily.cvd.sign."));
	assert_int_equal(count_prefixed(q, "bytecode.cvd.", first,
	    sizeof(first)), 1);
	assert_true(is_stamped(first, "bytecode.cvd."));
	assert_int_equal(count_prefixed(q, "main.cvd", NULL, 0), 0);

	/* three files quarantined, then one rolled_back naming the versions */
	assert_int_equal(fx.nev, 4);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(fx.ev[i].event, STORE_EVENT_QUARANTINED);
		assert_non_null(strstr(fx.ev[i].reason, "quarantine/"));
	}
	assert_string_equal(fx.ev[0].file, "active/daily.cvd");
	assert_string_equal(fx.ev[2].file, "active/bytecode.cvd");
	assert_string_equal(fx.ev[3].event, STORE_EVENT_ROLLED_BACK);
	assert_string_equal(fx.ev[3].file, "active");
	assert_non_null(strstr(fx.ev[3].reason, "daily:1"));
	assert_non_null(strstr(fx.ev[3].reason, "main:5"));
	free(v2);
}

static void
test_store_rollback_without_previous_set_changes_nothing(void **state)
{
	char err[512], *before, *after;

	(void)state;
	put("daily-2.cvd", "active", "daily.cvd");
	tu_write_str(dpath("active", DEFS_INDEX_NAME), "index");
	/* a .sign or a stray file alone is not a set */
	tu_write_str(dpath("previous", "daily.cvd.sign"), "#clamsign-1.0\n");
	tu_write_str(dpath("previous", "notes.txt"), "x\n");
	before = tu_snapshot(fx.defs);
	assert_int_equal(store_dir_has_set(dsub("previous"), err,
	    sizeof(err)), 0);
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 0);
	after = tu_snapshot(fx.defs);
	assert_string_equal(before, after);
	free(after);

	/* no previous/ at all */
	tu_rmtree(dsub("previous"));
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 0);
	assert_int_equal(fx.nev, 0);
	free(before);
}

static void
test_store_rollback_identical_set_touches_nothing(void **state)
{
	struct stat before, after;
	char err[512], *snap1, *snap2;

	(void)state;
	put("daily-1.cvd", "previous", "daily.cvd");
	put("daily-1.cvd", "active", "daily.cvd");
	tu_write_str(dpath("active", DEFS_INDEX_NAME), "fresh index");
	assert_int_equal(stat(dpath("active", "daily.cvd"), &before), 0);
	snap1 = tu_snapshot(fx.defs);
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 0);
	snap2 = tu_snapshot(fx.defs);
	assert_string_equal(snap1, snap2);
	assert_int_equal(stat(dpath("active", "daily.cvd"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(fx.nev, 0);
	free(snap1);
	free(snap2);
}

static void
test_store_rollback_into_empty_active_and_leftover_temp(void **state)
{
	char err[512];

	(void)state;
	put("daily-1.cvd", "previous", "daily.cvd");
	tu_write_str(dpath("active", ".daily.cvd" STORE_TMP_SUFFIX), "crash");
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 1);
	assert_true(same_bytes(dpath("active", "daily.cvd"),
	    dpath("previous", "daily.cvd")));
	assert_false(tu_exists(dpath("active", ".daily.cvd" STORE_TMP_SUFFIX)));
	assert_int_equal(fx.nev, 1);
	assert_string_equal(fx.ev[0].event, STORE_EVENT_ROLLED_BACK);
}

static void
test_store_rollback_twice_never_overwrites_quarantine(void **state)
{
	char err[512], q[300];

	(void)state;
	put("daily-1.cvd", "previous", "daily.cvd");
	put("daily-2.cvd", "active", "daily.cvd");
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 1);
	put("daily-2.cvd", "active", "daily.cvd");
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)), 1);
	snprintf(q, sizeof(q), "%s/quarantine", fx.defs);
	assert_int_equal(count_prefixed(q, "daily.cvd.", NULL, 0), 2);
}

static void
test_store_rollback_failing_copy_leaves_active_as_it_was(void **state)
{
	char err[512], *before, *after;

	(void)state;
	put("daily-1.cvd", "previous", "daily.cvd");
	assert_int_equal(symlink("/etc/passwd", dpath("previous", "main.cvd")), 0);
	put("daily-2.cvd", "active", "daily.cvd");
	put("main-5.cvd", "active", "main.cvd");
	before = tu_snapshot(fx.defs);
	assert_int_equal(store_rollback(fx.defs, NULL, record, &fx, err, sizeof(err)),
	    STORE_ERR_TYPE);
	assert_non_null(strstr(err, "previous/main.cvd"));
	after = tu_snapshot(fx.defs);
	assert_string_equal(before, after);
	assert_int_equal(fx.nev, 0);
	free(before);
	free(after);
}

/* ---- directories, trust, summary ---- */

static void
test_store_dirs_create_makes_all_with_mode(void **state)
{
	static const char *const subs[] = { "active", "incoming", "staging",
	    "previous", "quarantine" };
	char dir[4096], err[512];
	mode_t old = umask(077);
	struct stat st;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/fresh", fx.defs);
	assert_int_equal(store_dirs_create(dir, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(lstat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, STORE_DIR_MODE);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(lstat(tu_path(dir, subs[i]), &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, i == 0 ? STORE_ACTIVE_MODE :
		    STORE_DIR_MODE);
	}
	/* again: nothing to do; an active/ of another mode is set right */
	assert_int_equal(chmod(tu_path(dir, "active"), 0700), 0);
	assert_int_equal(store_dirs_create(dir, err, sizeof(err)), 0);
	assert_int_equal(lstat(tu_path(dir, "active"), &st), 0);
	assert_int_equal(st.st_mode & 07777, STORE_ACTIVE_MODE);
}

static void
test_store_dirs_create_refuses_symlink_and_file(void **state)
{
	char err[512], want[4200];

	(void)state;
	assert_int_equal(rmdir(dsub("staging")), 0);
	assert_int_equal(symlink(fx.src, dsub("staging")), 0);
	assert_int_equal(store_dirs_create(fx.defs, err, sizeof(err)),
	    STORE_ERR_TYPE);
	snprintf(want, sizeof(want), "%s/staging: a symbolic link", fx.defs);
	assert_non_null(strstr(err, want));

	assert_int_equal(unlink(dsub("staging")), 0);
	tu_write_str(dsub("staging"), "file");
	assert_int_equal(store_dirs_create(fx.defs, err, sizeof(err)),
	    STORE_ERR_TYPE);
	snprintf(want, sizeof(want), "%s/staging: not a directory", fx.defs);
	assert_non_null(strstr(err, want));
}

static void
test_store_dir_has_set(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(store_dir_has_set(dsub("incoming"), err,
	    sizeof(err)), 0);
	assert_int_equal(store_dir_has_set(dsub("nonexistent"), err,
	    sizeof(err)), 0);
	tu_write_str(dpath("incoming", "x.ndb"), "");
	assert_int_equal(store_dir_has_set(dsub("incoming"), err,
	    sizeof(err)), 1);
}

static void
test_store_trust_new(void **state)
{
	static const char *const missing[] = { "/nonexistent/key.pem" };
	struct store_trust t = key_trust(false);
	struct cvd_trust *tr = (struct cvd_trust *)1;
	char err[512];

	(void)state;
	/* a certificates directory that does not exist: no .sign checking */
	t.certs_dir = "/nonexistent/certs";
	assert_int_equal(store_trust_new(&t, &tr, err, sizeof(err)), 0);
	assert_non_null(tr);
	cvd_trust_free(tr);
	/* one that is not a directory, a key that cannot be read: errors */
	t.certs_dir = fx.pub;
	assert_int_equal(store_trust_new(&t, &tr, err, sizeof(err)),
	    STORE_ERR_TRUST);
	assert_null(tr);
	t.certs_dir = NULL;
	t.trusted_keys = missing;
	assert_int_equal(store_trust_new(&t, &tr, err, sizeof(err)),
	    STORE_ERR_TRUST);
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
	assert_null(tr);
}

static void
test_store_active_summary(void **state)
{
	struct store_container c[4];
	char err[512];
	size_t n = 9;

	(void)state;
	put("main-5.cvd", "active", "main.cvd");
	put("daily-2.cvd", "active", "daily.cvd");
	tu_write_str(dpath("active", "junk.cud"), "not a header");
	tu_write_str(dpath("active", "daily.cvd.sign"), "x");
	assert_int_equal(store_active_summary(fx.defs, c, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].name, "daily.cvd");
	assert_true(c[0].header_ok);
	assert_int_equal(c[0].version, 2);
	assert_string_equal(c[1].name, "junk.cud");
	assert_false(c[1].header_ok);
	assert_string_equal(c[2].name, "main.cvd");
	assert_int_equal(c[2].version, 5);
	assert_int_equal(store_active_summary(fx.defs, c, 2, &n, err,
	    sizeof(err)), STORE_ERR_LIMIT);
	assert_int_equal(n, 0);
}

/* With a reason, each file moved to quarantine/ gets NAME.STAMP.reason. */
static void
test_store_rollback_writes_reason_files(void **state)
{
	char err[512], q[4096], first[512], rname[600];
	size_t len;
	uint8_t *text;

	(void)state;
	put("daily-1.cvd", "previous", "daily.cvd");
	put("daily-2.cvd", "active", "daily.cvd");
	assert_int_equal(store_rollback(fx.defs, "workers could not start: test",
	    record, &fx, err, sizeof(err)), 1);
	snprintf(q, sizeof(q), "%s/quarantine", fx.defs);
	assert_int_equal(count_prefixed(q, "daily.cvd.", NULL, 0), 2);
	assert_int_equal(count_prefixed(q, "daily.cvd.2", first, sizeof(first)), 2);
	if (strstr(first, ".reason") == NULL)
		snprintf(rname, sizeof(rname), "%s.reason", first);
	else
		snprintf(rname, sizeof(rname), "%s", first);
	text = tu_read(tu_path(q, rname), &len);
	assert_int_equal(len, strlen("workers could not start: test\n"));
	assert_memory_equal(text, "workers could not start: test\n", len);
	free(text);
}

/* Quarantined files are 0600 and their own: an inode that is ours alone
 * is chmod'ed, one with another name is copied, never changed. */
static void
test_store_quarantine_seal_chmods_ours_copies_shared(void **state)
{
	char q[512], other[512], err[256];
	struct stat st, before;
	size_t len;
	uint8_t *text;
	int qfd;

	(void)state;
	snprintf(q, sizeof(q), "%s/%s", fx.defs, STORE_DIR_QUARANTINE);
	assert_true((qfd = open(q, O_RDONLY | O_DIRECTORY)) >= 0);
	tu_write_str(tu_path(q, "own"), "own bytes");
	assert_int_equal(chmod(tu_path(q, "own"), 0644), 0);
	assert_int_equal(stat(tu_path(q, "own"), &before), 0);
	assert_int_equal(store_quarantine_seal(qfd, "own", err, sizeof(err)), 0);
	assert_int_equal(stat(tu_path(q, "own"), &st), 0);
	assert_int_equal(st.st_mode & 07777, STORE_QUARANTINE_MODE);
	if (geteuid() == 0)
		assert_true(st.st_ino == before.st_ino);   /* chmod'ed */

	snprintf(other, sizeof(other), "%s/elsewhere", fx.defs);
	tu_write_str(other, "shared bytes");
	assert_int_equal(chmod(other, 0644), 0);
	assert_int_equal(link(other, tu_path(q, "shared")), 0);
	assert_int_equal(store_quarantine_seal(qfd, "shared", err,
	    sizeof(err)), 0);
	assert_int_equal(stat(tu_path(q, "shared"), &st), 0);
	assert_int_equal(st.st_mode & 07777, STORE_QUARANTINE_MODE);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(stat(other, &before), 0);
	assert_int_equal(before.st_mode & 07777, 0644);   /* left alone */
	assert_int_equal(before.st_nlink, 1);
	assert_true(st.st_ino != before.st_ino);
	text = tu_read(tu_path(q, "shared"), &len);
	assert_int_equal(len, strlen("shared bytes"));
	assert_memory_equal(text, "shared bytes", len);
	free(text);

	assert_int_equal(mkfifo(tu_path(q, "fifo"), 0644), 0);
	assert_int_equal(store_quarantine_seal(qfd, "fifo", err, sizeof(err)),
	    STORE_ERR_TYPE);
	assert_int_equal(lstat(tu_path(q, "fifo"), &st), -1);
	close(qfd);
}

/* A definitions directory writable by its group or others is refused. */
static void
test_store_dirs_create_refuses_unsafe_dirs(void **state)
{
	char err[512], path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", fx.defs, STORE_DIR_INCOMING);
	assert_int_equal(chmod(path, 0770), 0);
	assert_int_equal(store_dirs_create(fx.defs, err, sizeof(err)),
	    STORE_ERR_UNSAFE);
	assert_non_null(strstr(err, "incoming: writable by its group (mode 0770)"));
	assert_int_equal(chmod(path, 0750), 0);
	assert_int_equal(chmod(fx.defs, 0757), 0);
	assert_int_equal(store_dirs_create(fx.defs, err, sizeof(err)),
	    STORE_ERR_UNSAFE);
	assert_non_null(strstr(err, "writable by others (mode 0757)"));
	assert_int_equal(chmod(fx.defs, 0755), 0);
	assert_int_equal(store_dirs_create(fx.defs, err, sizeof(err)), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_verify_keeps_valid_set),
		T(test_store_verify_deletes_corrupt_cvd_and_its_sign),
		T(test_store_verify_deletes_versioned_sign_the_verifier_used),
		T(test_store_verify_deletes_untrusted_signer),
		T(test_store_verify_cld_needs_allow_unsigned),
		T(test_store_verify_plain_files),
		T(test_store_verify_plain_line_over_the_cap),
		T(test_store_verify_symlink_named_cvd_is_deleted_not_followed),
		T(test_store_verify_active_unreadable_is_an_error),
		T(test_store_verify_active_without_permission_is_an_error),
		T(test_store_verify_unreadable_file_is_left_in_place),
		T(test_store_rollback_restores_previous_and_quarantines),
		T(test_store_rollback_without_previous_set_changes_nothing),
		T(test_store_rollback_identical_set_touches_nothing),
		T(test_store_rollback_into_empty_active_and_leftover_temp),
		T(test_store_rollback_twice_never_overwrites_quarantine),
		T(test_store_rollback_failing_copy_leaves_active_as_it_was),
		T(test_store_rollback_writes_reason_files),
		T(test_store_dirs_create_makes_all_with_mode),
		T(test_store_dirs_create_refuses_symlink_and_file),
		T(test_store_dirs_create_refuses_unsafe_dirs),
		T(test_store_quarantine_seal_chmods_ours_copies_shared),
		T(test_store_dir_has_set),
		T(test_store_trust_new),
		T(test_store_active_summary),
	};

	return cmocka_run_group_tests_name("store", tests, group_setup,
	    group_teardown);
}
