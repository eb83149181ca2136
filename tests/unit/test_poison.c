/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Poison files: identity (SHA-256 by pread, a prefix for big files), the
 * threshold, a changed file no longer poison, eviction when full, forget,
 * poison.state (round trip with hostile paths, damaged files, the cap),
 * JSON and the poison_file event.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
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
#include <openssl/evp.h>

#include "events.h"
#include "poison.h"
#include "statefile.h"
#include "strbuf.h"
#include "testutil.h"

#define T0 1795472225123LL           /* 2026-11-23T22:17:05.123Z */
#define MAXB (100 * 1024 * 1024)     /* max_bytes for ordinary files */
#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

/* ---- helpers ---- */

/* remove the test's directory and free its name */
static void
rmtree(char *dir)
{
	tu_rmtree(dir);
	free(dir);
}

/* Write s to dir/name and open it read-only. */
static int
file_fd(const char *dir, const char *name, const char *s)
{
	int fd;

	tu_write(tu_path(dir, name), s, strlen(s));
	assert_true((fd = open(tu_path(dir, name), O_RDONLY)) >= 0);
	return fd;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void
sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL), 1);
	hex(md, 32, out);
}

static void
crash(struct poison_list *l, int fd, const char *path, int64_t now,
    unsigned threshold, int want)
{
	struct poison_id id;
	char err[256];

	assert_int_equal(poison_id_from_fd(fd, &id, true, MAXB, err,
	    sizeof(err)), 0);
	assert_int_equal(poison_note_crash(l, &id, path, now, threshold, NULL),
	    want);
}

static int
check(struct poison_list *l, int fd)
{
	const struct poison_entry *e;
	char err[256];
	int v = poison_check(l, fd, &e, err, sizeof(err));

	assert_true(v >= 0);
	assert_true((v == POISON_CLEAN) == (e == NULL));
	return v;
}

/* A made-up identity: dev 1, inode ino, a SHA-256 from ino. */
static struct poison_id
fake_id(uint64_t ino)
{
	struct poison_id id;

	memset(&id, 0, sizeof(id));
	id.dev = 1;
	id.ino = ino;
	id.size = 100 + ino;
	id.mtime_sec = 1700000000 + (int64_t)ino;
	id.mtime_nsec = 123456789;
	id.has_sha = true;
	id.hashed = id.size;
	memcpy(id.sha256, &ino, sizeof(ino));
	return id;
}

/* ---- identity ---- */

static void
test_poison_id_hashes_by_pread_without_moving_the_offset(void **state)
{
	struct poison_id id;
	struct stat st;
	char err[256], h[65];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "hello");

	(void)state;
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
	assert_int_equal(poison_id_from_fd(fd, &id, true, MAXB, err,
	    sizeof(err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(id.dev == (uint64_t)st.st_dev && id.ino == st.st_ino);
	assert_int_equal(id.size, 5);
	assert_int_equal(id.mtime_sec, st.st_mtim.tv_sec);
	assert_int_equal(id.mtime_nsec, st.st_mtim.tv_nsec);
	assert_true(id.has_sha);
	assert_int_equal(id.hashed, 5);
	hex(id.sha256, 32, h);
	assert_string_equal(h, SHA_HELLO);

	/* without SHA: metadata only */
	assert_int_equal(poison_id_from_fd(fd, &id, false, MAXB, err,
	    sizeof(err)), 0);
	assert_false(id.has_sha);
	assert_int_equal(id.hashed, 0);
	assert_int_equal(id.size, 5);
	close(fd);
	rmtree(dir);
}

static void
test_poison_id_of_file_bigger_than_max_bytes_hashes_the_prefix(void **state)
{
	static const size_t sizes[] = { 0, 1, 999, 1000, 1001,
		POISON_HASH_CHUNK - 1, POISON_HASH_CHUNK, POISON_HASH_CHUNK + 1,
		3 * POISON_HASH_CHUNK + 7 };
	static const uint64_t maxes[] = { 0, 1000, POISON_HASH_CHUNK,
		2 * POISON_HASH_CHUNK + 1, MAXB };
	struct poison_id id;
	char err[256], got[65], want[65];
	char *dir = tu_tmpdir();
	uint8_t *data;
	size_t i, j, k, n;
	int fd;

	(void)state;
	data = malloc(sizes[8]);
	for (k = 0; k < sizes[8]; k++)
		data[k] = (uint8_t)(k * 7 + k / 251);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		tu_write(tu_path(dir, "big"), data, sizes[i]);
		assert_true((fd = open(tu_path(dir, "big"), O_RDONLY)) >= 0);
		for (j = 0; j < sizeof(maxes) / sizeof(maxes[0]); j++) {
			assert_int_equal(poison_id_from_fd(fd, &id, true,
			    maxes[j], err, sizeof(err)), 0);
			n = sizes[i] < maxes[j] ? sizes[i] : (size_t)maxes[j];
			assert_int_equal(id.size, sizes[i]);
			assert_int_equal(id.hashed, n);
			hex(id.sha256, 32, got);
			sha256_hex(data, n, want);
			assert_string_equal(got, want);
		}
		close(fd);
	}
	free(data);
	rmtree(dir);
}

static void
test_poison_id_refuses_what_is_not_a_regular_file(void **state)
{
	struct poison_list l = { 0 };
	struct poison_id id;
	const struct poison_entry *e;
	char err[256];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(poison_id_from_fd(p[0], &id, true, MAXB, err,
	    sizeof(err)), POISON_ERR_INVAL);
	assert_string_equal(err, "not a regular file");
	/* nothing but a regular file is ever recorded: clean */
	assert_int_equal(poison_check(&l, p[0], &e, err, sizeof(err)),
	    POISON_CLEAN);
	assert_null(e);
	assert_int_equal(poison_id_from_fd(-1, &id, true, MAXB, err,
	    sizeof(err)), POISON_ERR_IO);
	assert_non_null(strstr(err, "fstat"));
	/* an identity without SHA cannot be noted */
	memset(&id, 0, sizeof(id));
	assert_int_equal(poison_note_crash(&l, &id, "x", T0, 2, NULL),
	    POISON_ERR_INVAL);
	assert_int_equal(l.n, 0);
	close(p[0]);
	close(p[1]);
	poison_free(&l);
}

/* ---- threshold ---- */

static void
test_poison_one_crash_suspect_threshold_crashes_poison(void **state)
{
	static const unsigned thresholds[] = { 1, 2, 3, 5 };
	struct poison_list l = { 0 };
	const struct poison_entry *e;
	char err[256];
	char *dir = tu_tmpdir();
	size_t t;
	unsigned k;
	int fd = file_fd(dir, "crasher", "boom"), other;

	(void)state;
	other = file_fd(dir, "other", "fine");
	for (t = 0; t < sizeof(thresholds) / sizeof(thresholds[0]); t++) {
		poison_free(&l);
		assert_int_equal(check(&l, fd), POISON_CLEAN);
		for (k = 1; k <= thresholds[t] + 1; k++) {
			crash(&l, fd, "/data/crasher", T0 + k, thresholds[t],
			    (int)k);
			assert_int_equal(check(&l, fd), k < thresholds[t] ?
			    POISON_SUSPECT : POISON_POISON);
		}
		assert_int_equal(l.n, 1);
		assert_int_equal(poison_check(&l, fd, &e, err, sizeof(err)),
		    POISON_POISON);
		assert_string_equal(e->path, "/data/crasher");
		assert_int_equal(e->crashes, thresholds[t] + 1);
		assert_int_equal(e->first_ms, T0 + 1);
		assert_int_equal(e->last_ms, T0 + thresholds[t] + 1);
		assert_int_equal(check(&l, other), POISON_CLEAN);
	}
	/* threshold 0 is taken as 1 */
	poison_free(&l);
	crash(&l, fd, "/data/crasher", T0, 0, 1);
	assert_int_equal(check(&l, fd), POISON_POISON);
	poison_free(&l);
	close(fd);
	close(other);
	rmtree(dir);
}

/* ---- a changed file ---- */

static void
test_poison_written_file_is_no_longer_poison(void **state)
{
	struct poison_list l = { 0 };
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom"), wfd;

	(void)state;
	crash(&l, fd, "f", T0, 2, 1);
	crash(&l, fd, "f", T0 + 1, 2, 2);
	assert_int_equal(check(&l, fd), POISON_POISON);
	assert_true((wfd = open(tu_path(dir, "f"), O_WRONLY | O_APPEND)) >= 0);
	assert_int_equal(write(wfd, "!", 1), 1);
	close(wfd);
	l.dirty = false;
	assert_int_equal(check(&l, fd), POISON_CLEAN);
	assert_int_equal(l.n, 0);            /* the entry is dropped */
	assert_true(l.dirty);
	poison_free(&l);
	close(fd);
	rmtree(dir);
}

static void
test_poison_touched_file_is_no_longer_poison(void **state)
{
	struct poison_list l = { 0 };
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1600000000, 5 } };
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom");

	(void)state;
	crash(&l, fd, "f", T0, 1, 1);
	assert_int_equal(check(&l, fd), POISON_POISON);
	assert_int_equal(futimens(fd, ts), 0);
	assert_int_equal(check(&l, fd), POISON_CLEAN);
	assert_int_equal(l.n, 0);
	poison_free(&l);
	close(fd);
	rmtree(dir);
}

/* Same size, mtime put back: only the SHA-256 tells, and it does. */
static void
test_poison_content_changed_behind_same_size_and_mtime_is_clean(void **state)
{
	struct poison_list l = { 0 };
	struct stat st;
	struct timespec ts[2];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom"), wfd;

	(void)state;
	crash(&l, fd, "f", T0, 1, 1);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((wfd = open(tu_path(dir, "f"), O_WRONLY)) >= 0);
	assert_int_equal(pwrite(wfd, "z", 1, 0), 1);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(futimens(wfd, ts), 0);
	close(wfd);
	assert_int_equal(check(&l, fd), POISON_CLEAN);
	assert_int_equal(l.n, 0);

	/* "zoom" crashes; rewritten with the same bytes and mtime, it is
	 * the same file */
	crash(&l, fd, "f", T0, 1, 1);
	assert_true((wfd = open(tu_path(dir, "f"), O_WRONLY)) >= 0);
	assert_int_equal(pwrite(wfd, "z", 1, 0), 1);
	assert_int_equal(futimens(wfd, ts), 0);
	close(wfd);
	assert_int_equal(check(&l, fd), POISON_POISON);
	poison_free(&l);
	close(fd);
	rmtree(dir);
}

/*
 * Hashing once: a file confirmed at its identity (ctime included) is judged
 * by fstat alone.  A write-only descriptor of the same file proves it: it
 * can be fstat'ed but not read, so any hash through it fails.
 */
static void
test_poison_confirmed_identity_is_judged_without_reading(void **state)
{
	struct poison_list l = { 0 };
	const struct poison_entry *e;
	struct poison_id now;
	char err[256];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom"), wfd;

	(void)state;
	assert_true((wfd = open(tu_path(dir, "f"), O_WRONLY)) >= 0);
	crash(&l, fd, "f", T0, 1, 1);   /* hashed at the crash: confirmed */
	assert_int_equal(poison_lookup(&l, wfd, &now, &e, err, sizeof(err)),
	    POISON_POISON);
	assert_non_null(e);
	assert_int_equal(poison_check(&l, wfd, &e, err, sizeof(err)),
	    POISON_POISON);
	/* a chmod moves ctime: hash again (and through wfd it cannot) */
	assert_int_equal(fchmod(fd, 0640), 0);
	assert_int_equal(poison_lookup(&l, wfd, &now, &e, err, sizeof(err)),
	    POISON_NEED_HASH);
	assert_null(e);
	assert_int_equal(now.hashed, 4);
	assert_int_equal(l.n, 1);            /* kept until the hash says */
	assert_int_equal(poison_check(&l, wfd, &e, err, sizeof(err)),
	    POISON_ERR_IO);
	assert_int_equal(l.n, 1);
	/* hashed through a readable fd: confirmed at the new ctime */
	assert_int_equal(check(&l, fd), POISON_POISON);
	assert_int_equal(poison_lookup(&l, wfd, &now, &e, err, sizeof(err)),
	    POISON_POISON);
	poison_free(&l);
	close(wfd);
	close(fd);
	rmtree(dir);
}

/* poison_confirm: what the hash says, for the identity it was asked for. */
static void
test_poison_confirm_follows_the_hash(void **state)
{
	struct poison_list l = { 0 };
	const struct poison_entry *e;
	struct poison_id now, other;
	uint8_t sha[POISON_SHA256_LEN];
	char err[256];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom"), wfd;

	(void)state;
	assert_true((wfd = open(tu_path(dir, "f"), O_WRONLY)) >= 0);
	crash(&l, fd, "f", T0, 2, 1);
	assert_int_equal(fchmod(fd, 0640), 0);
	assert_int_equal(poison_lookup(&l, fd, &now, &e, err, sizeof(err)),
	    POISON_NEED_HASH);
	assert_int_equal(poison_sha_fd(fd, now.hashed, sha, err, sizeof(err)),
	    0);
	/* not stable (the file moved while hashed): the verdict, no confirm */
	assert_int_equal(poison_confirm(&l, &now, sha, false, &e),
	    POISON_SUSPECT);
	assert_non_null(e);
	assert_int_equal(poison_lookup(&l, wfd, &now, &e, err, sizeof(err)),
	    POISON_NEED_HASH);
	/* stable: confirmed, judged by fstat from now on */
	assert_int_equal(poison_confirm(&l, &now, sha, true, &e),
	    POISON_SUSPECT);
	assert_int_equal(poison_lookup(&l, wfd, &other, &e, err, sizeof(err)),
	    POISON_SUSPECT);
	/* an identity the list no longer has, or other metadata: clean */
	other = now;
	other.ino++;
	assert_int_equal(poison_confirm(&l, &other, sha, true, &e),
	    POISON_CLEAN);
	other = now;
	other.size++;
	assert_int_equal(poison_confirm(&l, &other, sha, true, &e),
	    POISON_CLEAN);
	assert_int_equal(l.n, 1);
	/* other bytes: the entry is dropped */
	sha[0] ^= 1;
	assert_int_equal(poison_confirm(&l, &now, sha, true, &e),
	    POISON_CLEAN);
	assert_null(e);
	assert_int_equal(l.n, 0);
	poison_free(&l);
	close(wfd);
	close(fd);
	rmtree(dir);
}

/* After a load the confirmation is gone: the first check hashes. */
static void
test_poison_loaded_entries_are_hashed_once_more(void **state)
{
	struct poison_list l = { 0 }, back = { 0 };
	const struct poison_entry *e;
	struct poison_id now;
	char err[256];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom");

	(void)state;
	crash(&l, fd, "f", T0, 1, 1);
	assert_int_equal(poison_save(&l, dir, err, sizeof(err)), 0);
	assert_int_equal(poison_load(&back, dir, err, sizeof(err)), 0);
	assert_int_equal(poison_lookup(&back, fd, &now, &e, err, sizeof(err)),
	    POISON_NEED_HASH);
	assert_int_equal(check(&back, fd), POISON_POISON);
	assert_int_equal(poison_lookup(&back, fd, &now, &e, err, sizeof(err)),
	    POISON_POISON);
	poison_free(&l);
	poison_free(&back);
	close(fd);
	rmtree(dir);
}

/* A crash with the changed file starts the count again. */
static void
test_poison_crash_with_changed_file_resets_the_count(void **state)
{
	struct poison_list l = { 0 };
	const struct poison_entry *e;
	struct poison_id id;
	char err[256];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "boom"), wfd;

	(void)state;
	crash(&l, fd, "f", T0, 3, 1);
	crash(&l, fd, "f", T0 + 1, 3, 2);
	assert_true((wfd = open(tu_path(dir, "f"), O_WRONLY | O_APPEND)) >= 0);
	assert_int_equal(write(wfd, "more", 4), 4);
	close(wfd);
	assert_int_equal(poison_id_from_fd(fd, &id, true, MAXB, err,
	    sizeof(err)), 0);
	assert_int_equal(poison_note_crash(&l, &id, "g", T0 + 5, 3, &e), 1);
	assert_int_equal(l.n, 1);
	assert_int_equal(e->first_ms, T0 + 5);
	assert_string_equal(e->path, "g");
	assert_false(e->poison);
	assert_int_equal(check(&l, fd), POISON_SUSPECT);

	/* the same content hashed to another length is not the same file */
	assert_int_equal(poison_id_from_fd(fd, &id, true, 3, err, sizeof(err)),
	    0);
	assert_int_equal(poison_note_crash(&l, &id, "g", T0 + 6, 3, &e), 1);
	/* and a check hashes what the entry hashed: still a suspect */
	assert_int_equal(check(&l, fd), POISON_SUSPECT);
	poison_free(&l);
	close(fd);
	rmtree(dir);
}

/* ---- eviction, forget ---- */

static void
test_poison_full_list_evicts_oldest_suspect_then_oldest_poison(void **state)
{
	struct poison_list l = { 0 };
	struct poison_id id;
	const struct poison_entry *e;
	size_t i;

	(void)state;
	/* even inodes poison (threshold 1), odd ones suspects (threshold 2);
	 * the crash time decreases with the inode, except for inode 0 */
	for (i = 0; i < POISON_MAX; i++) {
		id = fake_id(i);
		assert_int_equal(poison_note_crash(&l, &id, "p", T0 +
		    (i == 0 ? -100000 : 10000 - (int64_t)i), i % 2 ? 2 : 1,
		    &e), 1);
		assert_int_equal(e->poison, i % 2 == 0);
	}
	assert_int_equal(l.n, POISON_MAX);
	/* the oldest suspect is the last odd inode; inode 0, oldest, stays */
	id = fake_id(5000);
	assert_int_equal(poison_note_crash(&l, &id, "new", T0, 2, NULL), 1);
	assert_int_equal(l.n, POISON_MAX);
	for (i = 0; i < l.n; i++)
		assert_true(l.e[i].id.ino != POISON_MAX - 1);
	assert_int_equal(l.e[0].id.ino, 0);
	assert_int_equal(l.e[POISON_MAX - 1].id.ino, 5000);

	/* all poison: the oldest poison goes (inode 0) */
	for (i = 0; i < l.n; i++)
		l.e[i].poison = true;
	id = fake_id(6000);
	assert_int_equal(poison_note_crash(&l, &id, "newer", T0, 2, NULL), 1);
	assert_int_equal(l.n, POISON_MAX);
	for (i = 0; i < l.n; i++)
		assert_true(l.e[i].id.ino != 0);
	poison_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.e);
}

static void
test_poison_forget_by_path_and_all(void **state)
{
	struct poison_list l = { 0 };
	struct poison_id id;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		id = fake_id(i);
		poison_note_crash(&l, &id, i % 2 ? "/a" : "/b", T0, 1, NULL);
	}
	l.dirty = false;
	assert_int_equal(poison_forget(&l, "/nope"), 0);
	assert_false(l.dirty);
	assert_int_equal(poison_forget(&l, "/a"), 2);
	assert_true(l.dirty);
	assert_int_equal(l.n, 3);
	for (i = 0; i < l.n; i++)
		assert_string_equal(l.e[i].path, "/b");
	assert_int_equal(poison_forget(&l, NULL), 3);
	assert_int_equal(l.n, 0);
	poison_free(&l);
}

/* ---- poison.state ---- */

static const char *const hostile_paths[] = {
	"/srv/plain.exe",
	"/srv/with space/and  two",
	"/srv/new\nline",
	"/srv/100%25 percent %",
	"/srv/控制面板/檔案.exe",
	"/srv/ctl\x01\x1f\x7f\t\r",
	"/srv/raw \x80\xff\xc3\x28 bytes",
	" ",
	"",
	"%%%",
	"end 3",
};

static void
fill_hostile(struct poison_list *l)
{
	struct poison_id id;
	size_t i;

	for (i = 0; i < sizeof(hostile_paths) / sizeof(hostile_paths[0]); i++) {
		id = fake_id(i + 1);
		id.dev = UINT64_MAX - i;
		id.mtime_sec = i % 2 ? -1 - (int64_t)i : INT64_MAX - (int64_t)i;
		id.hashed = i;            /* a prefix */
		assert_true(poison_note_crash(l, &id, hostile_paths[i],
		    INT64_MIN + (int64_t)i, 2, NULL) == 1);
		if (i % 3 == 0)
			poison_note_crash(l, &id, hostile_paths[i], T0, 2, NULL);
	}
}

static void
assert_same_list(const struct poison_list *a, const struct poison_list *b)
{
	size_t i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_memory_equal(&a->e[i].id, &b->e[i].id,
		    offsetof(struct poison_id, has_sha));
		assert_int_equal(a->e[i].id.has_sha, b->e[i].id.has_sha);
		assert_int_equal(a->e[i].id.hashed, b->e[i].id.hashed);
		assert_memory_equal(a->e[i].id.sha256, b->e[i].id.sha256, 32);
		assert_string_equal(a->e[i].path, b->e[i].path);
		assert_int_equal(a->e[i].crashes, b->e[i].crashes);
		assert_int_equal(a->e[i].first_ms, b->e[i].first_ms);
		assert_int_equal(a->e[i].last_ms, b->e[i].last_ms);
		assert_int_equal(a->e[i].poison, b->e[i].poison);
	}
}

static void
test_poison_save_load_round_trip_with_hostile_paths(void **state)
{
	struct poison_list l = { 0 }, back = { 0 };
	struct poison_id id;
	struct stat st;
	char err[512], *buf, *line, longpath[POISON_PATH_MAX + 10];
	char *dir = tu_tmpdir();
	size_t len, n = 0;

	(void)state;
	fill_hostile(&l);
	/* the longest path, all escapes; and a longer one, cut */
	memset(longpath, ' ', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	id = fake_id(999);
	assert_int_equal(poison_note_crash(&l, &id, longpath, T0, 1, NULL), 1);
	assert_int_equal(strlen(l.e[l.n - 1].path), POISON_PATH_MAX - 1);

	assert_true(l.dirty);
	assert_int_equal(poison_save(&l, dir, err, sizeof(err)), 0);
	assert_false(l.dirty);
	assert_int_equal(stat(tu_path(dir, POISON_STATE_FILE), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* every line: no raw control byte or DEL; path last */
	buf = (char *)tu_read(tu_path(dir, POISON_STATE_FILE), &len);
	assert_int_equal(strncmp(buf, "ampscan-poison 1\n", 17), 0);
	for (line = buf; *line != '\0'; line = strchr(line, '\n') + 1) {
		for (char *c = line; *c != '\n'; c++)
			assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
		n++;
	}
	assert_int_equal(n, l.n + 2);
	assert_non_null(strstr(buf, "%0A"));
	assert_non_null(strstr(buf, "/srv/with%20space/and%20%20two\n"));
	assert_non_null(strstr(buf, "/srv/100%2525%20percent%20%25\n"));
	assert_non_null(strstr(buf, "/srv/控制面板/檔案.exe\n"));
	assert_non_null(strstr(buf, "\nend 12\n"));
	free(buf);

	back.dirty = true;
	assert_int_equal(poison_load(&back, dir, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_false(back.dirty);
	assert_same_list(&l, &back);

	/* loading replaces what was there */
	assert_int_equal(poison_load(&back, dir, err, sizeof(err)), 0);
	assert_same_list(&l, &back);
	poison_free(&back);
	poison_free(&l);

	/* an empty list round-trips too */
	assert_int_equal(poison_save(&l, dir, err, sizeof(err)), 0);
	buf = (char *)tu_read(tu_path(dir, POISON_STATE_FILE), NULL);
	assert_string_equal(buf, "ampscan-poison 1\nend 0\n");
	free(buf);
	assert_int_equal(poison_load(&back, dir, err, sizeof(err)), 0);
	assert_int_equal(back.n, 0);
	assert_null(back.e);                 /* empty: nothing allocated */
	poison_free(&back);
	rmtree(dir);
}

static void
test_poison_load_missing_file_is_an_empty_list(void **state)
{
	struct poison_list l = { 0 };
	struct poison_id id = fake_id(1);
	char err[512];
	char *dir = tu_tmpdir();

	(void)state;
	poison_note_crash(&l, &id, "x", T0, 1, NULL);
	assert_int_equal(poison_load(&l, dir, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(l.n, 0);
	poison_free(&l);
	rmtree(dir);
}

#define SHA64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define GOOD "file 1 2 10 1700000000 5 10 " SHA64 " 1 100 200 0 /a\n"
#define GOOD2 "file 1 3 10 1700000000 5 10 " SHA64 " 2 100 200 1 /b\n"
#define HEAD "ampscan-poison 1\n"

static void
test_poison_load_damaged_files_leave_an_empty_list(void **state)
{
	static const struct {
		const char *text;
		const char *want;       /* in err */
	} cases[] = {
		{ HEAD GOOD, "line 3: no end line" },
		{ HEAD GOOD "end 2\n", "line 3: bad end count" },
		{ HEAD GOOD "end\n", "line 3: not a file line" },
		{ HEAD GOOD "end -1\n", "line 3: bad end count" },
		{ HEAD GOOD "end 01\n", "line 3: bad end count" },
		{ HEAD GOOD "end 1", "line 3: no newline" },
		{ HEAD GOOD "end 1\n\n", "line 3: data after the end line" },
		{ HEAD GOOD "end 1\nend 1\n", "line 3: data after the end line" },
		{ HEAD "garbage\n" GOOD "end 2\n", "line 2: not a file line" },
		{ HEAD "\n" GOOD "end 1\n", "line 2: not a file line" },
		{ "ampscan-poison 2\nend 0\n", "line 1: not \"ampscan-poison 1\"" },
		{ "ampscan-faults 1\nend 0\n", "line 1: not" },
		{ "", "line 1: no end line" },
		{ "\xef\xbb\xbf" HEAD "end 0\n", "line 1: not" },
		{ HEAD GOOD GOOD "end 2\n", "line 3: device and inode listed twice" },
		{ HEAD "file 1 2 10 1700000000 5 10 " SHA64 " 1 100 200 0\n" "end 1\n", "line 2: bad poison flag" },
		{ HEAD "file 1 2 10 1700000000 5 10 " SHA64 " 1 100 200 2 /a\n" "end 1\n", "line 2: bad poison flag" },
		{ HEAD "file 1 2 10 1700000000 5 10 " SHA64 " 0 100 200 0 /a\n" "end 1\n", "line 2: bad crash count" },
		{ HEAD "file 1 2 10 1700000000 5 11 " SHA64 " 1 100 200 0 /a\n" "end 1\n", "line 2: bad hashed byte count" },
		{ HEAD "file 1 2 10 1700000000 1000000000 10 " SHA64 " 1 100 200 0 /a\n" "end 1\n", "line 2: bad mtime nanoseconds" },
		{ HEAD "file 18446744073709551616 2 10 1 5 10 " SHA64 " 1 100 200 0 /a\n" "end 1\n", "line 2: bad device" },
		{ HEAD "file -1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a\n" "end 1\n", "line 2: bad device" },
		{ HEAD "file 1 2 10 9223372036854775808 5 10 " SHA64 " 1 100 200 0 /a\n" "end 1\n", "line 2: bad mtime seconds" },
		{ HEAD "file 1  2 10 1 5 10 " SHA64 " 1 100 200 0 /a\n" "end 1\n", "line 2: bad inode" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 "0 1 100 200 0 /a\n" "end 1\n", "line 2: bad sha256" },
		{ HEAD "file 1 2 10 1 5 10 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff 1 100 200 0 /a\n" "end 1\n", "line 2: bad sha256" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a b\n" "end 1\n", "line 2: bad path (a byte that must be escaped)" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a\tb\n" "end 1\n", "line 2: bad path (a byte that must be escaped)" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a\rb\n" "end 1\n", "line 2: bad path" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a%2\n" "end 1\n", "line 2: bad path (a bad %XX escape)" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a%zz\n" "end 1\n", "line 2: bad path (a bad %XX escape)" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a%00\n" "end 1\n", "line 2: bad path (a bad %XX escape)" },
		{ HEAD "file 1 2 10 1 5 10 " SHA64 " 1 100 200 0 /a\x7f\n" "end 1\n", "line 2: bad path" },
		{ HEAD "file 1 2 10 1 5 10\n" "end 1\n", "line 2: bad hashed byte count" },
		{ HEAD "fault 6 1 0 0 x\n" "end 1\n", "line 2: not a file line" },
	};
	struct poison_list l = { 0 };
	struct poison_id id;
	char err[512], want[256];
	char *dir = tu_tmpdir();
	size_t i;

	(void)state;
	/* the good lines are good */
	tu_write(tu_path(dir, POISON_STATE_FILE), HEAD GOOD GOOD2 "end 2\n",
	    strlen(HEAD GOOD GOOD2 "end 2\n"));
	assert_int_equal(poison_load(&l, dir, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.e[1].poison);
	assert_string_equal(l.e[1].path, "/b");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		id = fake_id(77);
		poison_note_crash(&l, &id, "before", T0, 1, NULL);
		tu_write(tu_path(dir, POISON_STATE_FILE), cases[i].text,
		    strlen(cases[i].text));
		if (poison_load(&l, dir, err, sizeof(err)) != POISON_ERR_DAMAGED ||
		    strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: %s", i, err);
		snprintf(want, sizeof(want), "/%s: ", POISON_STATE_FILE);
		assert_non_null(strstr(err, want));
		assert_non_null(strstr(err, "; damaged, no entry loaded"));
		assert_int_equal(l.n, 0);
	}
	/* a NUL byte */
	tu_write(tu_path(dir, POISON_STATE_FILE), HEAD "\0end 0\n", 24);
	assert_int_equal(poison_load(&l, dir, err, sizeof(err)),
	    POISON_ERR_DAMAGED);
	assert_non_null(strstr(err, "NUL byte"));
	poison_free(&l);
	rmtree(dir);
}

static void
test_poison_load_truncated_at_every_byte_is_damaged(void **state)
{
	struct poison_list l = { 0 };
	char err[512], *buf;
	char *dir = tu_tmpdir();
	size_t len, cut;

	(void)state;
	fill_hostile(&l);
	assert_int_equal(poison_save(&l, dir, err, sizeof(err)), 0);
	poison_free(&l);
	buf = (char *)tu_read(tu_path(dir, POISON_STATE_FILE), &len);
	for (cut = 0; cut < len; cut++) {
		assert_int_equal(poison_parse(buf, cut, &l, err, sizeof(err)),
		    POISON_ERR_DAMAGED);
		assert_int_equal(l.n, 0);
		assert_int_equal(strncmp(err, "line ", 5), 0);
	}
	assert_int_equal(poison_parse(buf, len, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 11);
	poison_free(&l);
	free(buf);
	rmtree(dir);
}

static void
test_poison_load_more_than_poison_max_entries_is_damaged(void **state)
{
	struct strbuf sb;
	struct poison_list l = { 0 };
	char err[512];
	size_t i;

	(void)state;
	strbuf_init(&sb, POISON_STATE_MAX);
	strbuf_puts(&sb, HEAD);
	for (i = 0; i <= POISON_MAX; i++)
		strbuf_printf(&sb, "file 1 %zu 10 1 5 10 " SHA64 " 1 100 200 0 /a\n", i);
	strbuf_printf(&sb, "end %d\n", POISON_MAX + 1);
	assert_false(sb.failed);
	assert_int_equal(poison_parse(strbuf_str(&sb), sb.len, &l, err,
	    sizeof(err)), POISON_ERR_DAMAGED);
	assert_string_equal(err, "line 1026: more than 1024 entries");
	assert_int_equal(l.n, 0);
	strbuf_free(&sb);
}

/* Too large to be ours: refused unread; 10 MB of junk: refused at line 1. */
static void
test_poison_load_big_files_are_capped(void **state)
{
	struct poison_list l = { 0 };
	char err[512], *big;
	char *dir = tu_tmpdir();
	size_t n = POISON_STATE_MAX + 1;

	(void)state;
	big = malloc(n);
	memset(big, 'x', n);
	tu_write(tu_path(dir, POISON_STATE_FILE), big, n);
	assert_int_equal(poison_load(&l, dir, err, sizeof(err)),
	    POISON_ERR_DAMAGED);
	assert_non_null(strstr(err, "poison.state: "));
	assert_non_null(strstr(err, "more than"));
	assert_non_null(strstr(err, "damaged, no entry loaded"));
	assert_int_equal(l.n, 0);

	tu_write(tu_path(dir, POISON_STATE_FILE), big, 10 * 1024 * 1024);
	assert_int_equal(poison_load(&l, dir, err, sizeof(err)),
	    POISON_ERR_DAMAGED);
	assert_non_null(strstr(err, "poison.state: line 1: "));
	assert_int_equal(l.n, 0);
	free(big);
	rmtree(dir);
}

static void
test_poison_save_error_names_the_file(void **state)
{
	struct poison_list l = { 0 };
	char err[512], missing[4096];
	char *dir = tu_tmpdir();

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	l.dirty = true;
	assert_int_equal(poison_save(&l, missing, err, sizeof(err)),
	    POISON_ERR_IO);
	assert_non_null(strstr(err, "missing/poison.state: "));
	assert_true(l.dirty);
	/* a directory in its place: not readable as a state file */
	assert_int_equal(mkdir(tu_path(dir, POISON_STATE_FILE), 0700), 0);
	assert_true(poison_load(&l, dir, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "poison.state: "));
	rmtree(dir);
}

/* ---- JSON, event ---- */

static void
python_json_check(const char *json, size_t n)
{
	char *dir = tu_tmpdir(), cmd[8192];
	int st;

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		print_message("[  NOTE    ] python3 missing: JSON cross-check skipped\n");
		rmtree(dir);
		return;
	}
	tu_write(tu_path(dir, "j"), json, n);
	snprintf(cmd, sizeof(cmd),
	    "python3 -c 'import json,sys\n"
	    "a = json.loads(open(sys.argv[1], \"rb\").read().decode(\"utf-8\", \"strict\"))\n"
	    "assert isinstance(a, list) and len(a) == 11, a\n"
	    "keys = [\"path\",\"dev\",\"ino\",\"size\",\"mtime\",\"sha256\",\"hashed\",\"crashes\",\"first\",\"last\",\"poison\"]\n"
	    "for o in a: assert list(o) == keys, o\n"
	    "assert a[0][\"path\"] == \"/srv/plain.exe\"\n"
	    "assert a[2][\"path\"] == \"/srv/new\\nline\"\n"
	    "assert a[4][\"path\"] == \"/srv/\\u63a7\\u5236\\u9762\\u677f/\\u6a94\\u6848.exe\"\n"
	    "assert a[0][\"dev\"] == 2**64 - 1 and a[0][\"crashes\"] == 2 and a[0][\"poison\"] is True\n"
	    "assert a[1][\"poison\"] is False and a[1][\"first\"] == \"1970-01-01T00:00:00.000Z\"\n"
	    "assert a[3][\"last\"] == \"2026-11-23T22:17:05.123Z\"\n"
	    "' '%s'", tu_path(dir, "j"));
	st = system(cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	rmtree(dir);
}

static void
test_poison_to_json_lists_every_entry(void **state)
{
	struct poison_list l = { 0 };
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 1 << 20);
	poison_to_json(&l, &sb);
	assert_string_equal(strbuf_str(&sb), "[]");
	strbuf_reset(&sb);
	fill_hostile(&l);
	poison_to_json(&l, &sb);
	assert_false(sb.failed);
	assert_non_null(strstr(strbuf_str(&sb),
	    "{\"path\":\"/srv/plain.exe\",\"dev\":18446744073709551615,\"ino\":1,\"size\":101,"));
	python_json_check(strbuf_str(&sb), sb.len);
	strbuf_free(&sb);
	poison_free(&l);
}

static void
test_poison_event_has_the_events_h_fields(void **state)
{
	struct poison_list l = { 0 };
	const struct poison_entry *e;
	struct event ev;
	char line[EVENTS_LINE_MAX + 1], type[32];
	char *dir = tu_tmpdir();
	int fd = file_fd(dir, "f", "hello");

	(void)state;
	crash(&l, fd, "/x/f", T0, 1, 1);
	assert_int_equal(check(&l, fd), POISON_POISON);
	assert_int_equal(poison_check(&l, fd, &e, NULL, 0), POISON_POISON);
	poison_event(&ev, e, T0);
	assert_true(events_render(&ev, line, sizeof(line)) > 0);
	assert_true(events_json_check(line, strlen(line) - 1, type,
	    sizeof(type)));
	assert_string_equal(type, EVENT_POISON_FILE);
	assert_non_null(strstr(line, "\"path\":\"/x/f\",\"device\":"));
	assert_non_null(strstr(line, ",\"size\":5,\"mtime\":\""));
	assert_non_null(strstr(line, ",\"sha256\":\"" SHA_HELLO "\",\"crashes\":1}\n"));
	poison_free(&l);
	close(fd);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poison_id_hashes_by_pread_without_moving_the_offset),
		cmocka_unit_test(test_poison_id_of_file_bigger_than_max_bytes_hashes_the_prefix),
		cmocka_unit_test(test_poison_id_refuses_what_is_not_a_regular_file),
		cmocka_unit_test(test_poison_one_crash_suspect_threshold_crashes_poison),
		cmocka_unit_test(test_poison_written_file_is_no_longer_poison),
		cmocka_unit_test(test_poison_touched_file_is_no_longer_poison),
		cmocka_unit_test(test_poison_content_changed_behind_same_size_and_mtime_is_clean),
		cmocka_unit_test(test_poison_confirmed_identity_is_judged_without_reading),
		cmocka_unit_test(test_poison_confirm_follows_the_hash),
		cmocka_unit_test(test_poison_loaded_entries_are_hashed_once_more),
		cmocka_unit_test(test_poison_crash_with_changed_file_resets_the_count),
		cmocka_unit_test(test_poison_full_list_evicts_oldest_suspect_then_oldest_poison),
		cmocka_unit_test(test_poison_forget_by_path_and_all),
		cmocka_unit_test(test_poison_save_load_round_trip_with_hostile_paths),
		cmocka_unit_test(test_poison_load_missing_file_is_an_empty_list),
		cmocka_unit_test(test_poison_load_damaged_files_leave_an_empty_list),
		cmocka_unit_test(test_poison_load_truncated_at_every_byte_is_damaged),
		cmocka_unit_test(test_poison_load_more_than_poison_max_entries_is_damaged),
		cmocka_unit_test(test_poison_load_big_files_are_capped),
		cmocka_unit_test(test_poison_save_error_names_the_file),
		cmocka_unit_test(test_poison_to_json_lists_every_entry),
		cmocka_unit_test(test_poison_event_has_the_events_h_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
