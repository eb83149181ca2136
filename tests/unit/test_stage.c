/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Staging definitions for libclamav (supervisor/ampscansvc/engine_stage.h):
 * an unofficial container is verified and rewritten in one pass as one
 * uncompressed NAME.cud (empty COPYING first, the signature members, our
 * own NAME.info last), which reaches the stage only when the whole
 * container verified; a container whose MD5 or signature fails leaves
 * the stage empty, what was written while it streamed included.  Counts
 * follow the lines, comments and blanks left out; two containers of one
 * stem are staged as STEM.cud and STEM-STEM.cud; libclamav loads what was
 * staged, counts what we counted and detects with it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <clamav.h>
#include <openssl/evp.h>

#include "ampscan/cvd.h"
#if defined(__SANITIZE_ADDRESS__)
#define TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_LSAN 1
#endif
#endif
#ifdef TEST_LSAN
#include <sanitizer/lsan_interface.h>
#define test_lsan_disable() __lsan_disable()
#define test_lsan_enable() __lsan_enable()
#else
#define test_lsan_disable() ((void)0)
#define test_lsan_enable() ((void)0)
#endif
#include "engine_stage.h"
#include "testutil.h"

/* 3 signatures among comments, blanks and leading blanks; no last newline */
static const char x_hdb[] =
    "# a comment\n"
    "\n"
    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
    "  \t\r\n"
    "aa15bcf478d165efd2065190eb473bcb:544:Test.File-1\n"
    "\r\n"
    "bb15bcf478d165efd2065190eb473bcb:545:Test.File-2";
static const char y_ndb[] =
    "Test.Body-1:0:*:414d5053434e2d54455354??00{2-4}ff\n"
    "Test.Body-2:0:EOF-10:6578616d706c65\n";

static struct {
	char *tmp;
	struct cvd_trust *tkey, *official_only;
	unsigned seq;
	struct stage st;
	bool open;
} fx;

static int
group_setup(void **state)
{
	const char *priv, *pub;
	char err[CVD_ERRMSG_MAX];

	(void)state;
	fx.tmp = tu_tmpdir();
	tu_key_files(fx.tmp, &priv, &pub);
	if (cvd_trust_new(CVD_TRUST_NO_OFFICIAL, &fx.tkey) != 0 ||
	    cvd_trust_add_key_file(fx.tkey, pub, err, sizeof(err)) != 0 ||
	    cvd_trust_new(0, &fx.official_only) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	cvd_trust_free(fx.tkey);
	cvd_trust_free(fx.official_only);
	tu_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (fx.open)
		stage_close(&fx.st);
	fx.open = false;
	return 0;
}

/* A new stage directory of its own for each test. */
static void
open_stage(const struct defs_opts *o)
{
	char dir[4200], err[1024];

	snprintf(dir, sizeof(dir), "%s/stage-%u", fx.tmp, fx.seq++);
	if (stage_open(&fx.st, dir, o, false, err, sizeof(err)) != 0)
		fail_msg("stage_open: %s", err);
	fx.open = true;
}

/* The stage directory's entries, sorted, one per line ("" when empty). */
static char *
listing(void)
{
	struct dirent **ents = NULL;
	size_t len = 0;
	char *out = calloc(1, 8192);
	int n = scandir(fx.st.path, &ents, NULL, alphasort);

	assert_non_null(out);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") != 0 &&
		    strcmp(ents[i]->d_name, "..") != 0)
			len += (size_t)snprintf(out + len, 8192 - len, "%s\n",
			    ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return out;
}

static const char *
craft(const char *name, const struct tu_member *ms, size_t n, bool cld)
{
	struct tu_craft c = { .members = ms, .n = n, .key = tu_key(),
	    .md5_x = cld };
	const char *path = tu_path(fx.tmp, name);

	tu_craft_write(path, &c);
	return path;
}

static const char *
craft_default(const char *name, bool cld, bool plain_tar)
{
	const struct tu_member ms[] = {
		{ .name = "COPYING", .data = "test data\n", .len = 10 },
		{ .name = "test.info" },
		{ .name = "x.hdb", .data = x_hdb, .len = sizeof(x_hdb) - 1 },
		{ .name = "y.ndb", .data = y_ndb, .len = sizeof(y_ndb) - 1 },
	};
	struct tu_craft c = { .members = ms, .n = 4, .key = tu_key(),
	    .md5_x = cld, .plain_tar = plain_tar };
	const char *path = tu_path(fx.tmp, name);

	tu_craft_write(path, &c);
	return path;
}

static const struct stage_file *
staged(const char *name)
{
	for (size_t i = 0; i < fx.st.nfiles; i++)
		if (strcmp(fx.st.files[i].name, name) == 0)
			return &fx.st.files[i];
	fail_msg("%s: not staged", name);
	return NULL;
}

static void
expect_count(const char *name, uint64_t n)
{
	const struct stage_file *f = staged(name);

	assert_int_equal(f->lo, n);
	assert_int_equal(f->hi, n);
}

/* ---- tests ---- */

/* One member of a tar: its name, its data and where the next begins. */
struct tar_entry {
	char name[101];
	const uint8_t *data;
	size_t size;
};

static size_t
tar_next(const uint8_t *p, size_t len, size_t off, struct tar_entry *e)
{
	char osize[13];

	assert_true(off + 512 <= len);
	if (p[off] == 0)
		return 0;   /* the end blocks */
	memcpy(e->name, p + off, 100);
	e->name[100] = '\0';
	memcpy(osize, p + off + 124, 12);
	osize[12] = '\0';
	e->size = (size_t)strtoull(osize, NULL, 8);
	assert_int_equal(p[off + 156], '0');
	e->data = p + off + 512;
	assert_true(off + 512 + e->size <= len);
	return off + 512 + (e->size + 511) / 512 * 512;
}

static void
sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned int l = 32;

	assert_int_equal(EVP_Digest(p, n, md, &l, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
test_operator_signed_cvd_stages_one_cud_counted(void **state)
{
	struct defs_opts o = { .trust = fx.tkey };
	char err[1024] = "", *l, hx[65], hy[65], want[2048], head[513];
	struct tar_entry e;
	uint8_t *p, *orig;
	size_t len, olen, off;
	const char *path;

	(void)state;
	open_stage(&o);
	path = craft_default("main.cvd", false, false);
	if (stage_add(&fx.st, path, err, sizeof(err)) != 0)
		fail_msg("stage_add: %s", err);
	l = listing();
	/* no unpack directory left */
	assert_string_equal(l, "main.cud\n");
	free(l);
	assert_int_equal(fx.st.nfiles, 1);
	expect_count("main.cud", 5);
	assert_int_equal(fx.st.ndbs, 1);
	assert_string_equal(fx.st.dbs[0].name, "main");
	assert_false(fx.st.dbs[0].official);

	p = tu_read(tu_path(fx.st.path, "main.cud"), &len);
	orig = tu_read(path, &olen);
	/* the container's own header */
	assert_true(len > 512 && olen > 512);
	assert_memory_equal(p, orig, 512);
	memcpy(head, orig, 512);
	head[512] = '\0';
	for (int i = 511; i >= 0 && (head[i] == ' ' || head[i] == '\n'); i--)
		head[i] = '\0';
	/* COPYING first and empty: libclamav's mark of an uncompressed tar */
	off = tar_next(p, len, 512, &e);
	assert_string_equal(e.name, "COPYING");
	assert_int_equal(e.size, 0);
	/* the members' bytes, the original COPYING and .info left out */
	off = tar_next(p, len, off, &e);
	assert_string_equal(e.name, "x.hdb");
	assert_int_equal(e.size, sizeof(x_hdb) - 1);
	assert_memory_equal(e.data, x_hdb, e.size);
	off = tar_next(p, len, off, &e);
	assert_string_equal(e.name, "y.ndb");
	assert_memory_equal(e.data, y_ndb, e.size);
	/* ours: the header line, then each member's size and SHA-256 */
	off = tar_next(p, len, off, &e);
	assert_string_equal(e.name, "main.info");
	sha256_hex(x_hdb, sizeof(x_hdb) - 1, hx);
	sha256_hex(y_ndb, sizeof(y_ndb) - 1, hy);
	snprintf(want, sizeof(want), "%s\nx.hdb:%zu:%s\ny.ndb:%zu:%s\n", head,
	    sizeof(x_hdb) - 1, hx, sizeof(y_ndb) - 1, hy);
	assert_int_equal(e.size, strlen(want));
	assert_memory_equal(e.data, want, e.size);
	assert_int_equal(tar_next(p, len, off, &e), 0);
	assert_int_equal(len, off + 1024);
	free(p);
	free(orig);
}

/* libclamav takes the staged .cud: the count we expect, and detects. */
static void
test_libclamav_loads_the_staged_cud(void **state)
{
	static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
	/* libclamav refuses blank lines in a .hdb, so x_hdb will not do */
	static const char e_hdb[] = "# EICAR\n"
	    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";
	static const char z_ndb[] =
	    "Test.Body-1:0:*:414d5053434e2d54455354??00{2-4}ff4142434445\n"
	    "Test.Body-2:0:EOF-10:6578616d706c65\n";
	const struct tu_member ms[] = {
		{ .name = "COPYING", .data = "c\n", .len = 2 },
		{ .name = "test.info" },
		{ .name = "e.hdb", .data = e_hdb, .len = sizeof(e_hdb) - 1 },
		{ .name = "z.ndb", .data = z_ndb, .len = sizeof(z_ndb) - 1 },
	};
	struct defs_opts o = { .trust = fx.tkey };
	struct cl_scan_options so = { .general = 0 };
	struct cl_engine *cl;
	char err[1024] = "", path[4400];
	const char *virname = NULL, *sample;
	unsigned int signo = 0;

	(void)state;
	assert_int_equal(strlen(eicar), 68);
	open_stage(&o);
	if (stage_add(&fx.st, craft("load.cvd", ms, 4, false), err,
	    sizeof(err)) != 0)
		fail_msg("stage_add: %s", err);
	expect_count("load.cud", 3);
	assert_int_equal(cl_init(CL_INIT_DEFAULT), CL_SUCCESS);
	assert_non_null(cl = cl_engine_new());
	snprintf(path, sizeof(path), "%s/load.cud", fx.st.path);
	/* libclamav leaks a hash context per .cud (engine_clamav.c) */
	test_lsan_disable();
	assert_int_equal(cl_load(path, cl, &signo, CL_DB_STDOPT), CL_SUCCESS);
	test_lsan_enable();
	assert_int_equal(signo, 3);
	assert_int_equal(cl_engine_compile(cl), CL_SUCCESS);
	sample = tu_path(fx.tmp, "eicar.txt");
	tu_write(sample, eicar, 68);
	assert_int_equal(cl_scanfile(sample, &virname, NULL, cl, &so), CL_VIRUS);
	assert_string_equal(virname, "Eicar-Test-Signature.UNOFFICIAL");
	cl_engine_free(cl);
}

/* The last byte of name changed; staging it fails naming the MD5. */
static void
expect_altered_fails_empty(const char *name, bool plain_tar)
{
	struct defs_opts o = { .trust = fx.tkey };
	const char *path = craft_default(name, false, plain_tar);
	char err[1024] = "", *l;
	struct stat sb;
	uint8_t b;
	int fd;

	assert_int_equal(stat(path, &sb), 0);
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pread(fd, &b, 1, sb.st_size - 1), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, sb.st_size - 1), 1);
	close(fd);
	open_stage(&o);
	assert_int_not_equal(stage_add(&fx.st, path, err, sizeof(err)), 0);
	if (strstr(err, name) == NULL || strstr(err, "MD5") == NULL)
		fail_msg("%s: %s", name, err);
	l = listing();
	assert_string_equal(l, "");
	free(l);
	assert_int_equal(fx.st.nfiles, 0);
}

/* The gzip trailer changed: the inflate fails. */
static void
test_corrupt_last_byte_leaves_the_stage_empty(void **state)
{
	(void)state;
	expect_altered_fails_empty("bad.cvd", false);
}

/* The plain tar's last padding byte: every member streams, then the MD5. */
static void
test_md5_checked_after_members_leaves_the_stage_empty(void **state)
{
	(void)state;
	expect_altered_fails_empty("padded.cvd", true);
}

/* A .cld's DSIG is checked after its payload: nobody trusts this key. */
static void
test_untrusted_cld_dsig_leaves_the_stage_empty(void **state)
{
	struct defs_opts o = { .trust = fx.official_only };
	char err[1024] = "", *l;

	(void)state;
	open_stage(&o);
	assert_int_not_equal(stage_add(&fx.st, craft_default("main.cld", true, true),
	    err, sizeof(err)), 0);
	assert_non_null(strstr(err, "main.cld"));
	if (strstr(err, "DSIG") == NULL)
		fail_msg("%s", err);
	l = listing();
	assert_string_equal(l, "");
	free(l);
}

/* A .cud per container; a second of one stem is STEM-STEM.cud. */
static void
test_each_container_is_one_cud(void **state)
{
	struct defs_opts o = { .trust = fx.tkey };
	const struct tu_member ms[] = {
		{ .name = "COPYING", .data = "c\n", .len = 2 },
		{ .name = "test.info" },
		{ .name = "y.ndb", .data = y_ndb, .len = sizeof(y_ndb) - 1 },
	};
	char err[1024] = "", *l;

	(void)state;
	open_stage(&o);
	if (stage_add(&fx.st, craft_default("main.cvd", false, false), err,
	    sizeof(err)) != 0 ||
	    stage_add(&fx.st, craft("daily.cvd", ms, 3, false), err,
	    sizeof(err)) != 0)
		fail_msg("stage_add: %s", err);
	l = listing();
	assert_string_equal(l, "daily.cud\nmain.cud\n");
	free(l);
	expect_count("daily.cud", 2);
	assert_int_equal(staged("daily.cud")->db, 1);
	/* a second main: staged under its stem */
	assert_int_equal(mkdir(tu_path(fx.tmp, "other"), 0700), 0);
	if (stage_add(&fx.st, craft("other/main.cvd", ms, 3, false), err,
	    sizeof(err)) != 0)
		fail_msg("stage_add: %s", err);
	l = listing();
	assert_string_equal(l, "daily.cud\nmain-main.cud\nmain.cud\n");
	free(l);
	expect_count("main-main.cud", 2);
	assert_int_equal(staged("main-main.cud")->db, 2);
}

/* A member of many blocks: lines cut by the stream's blocks count once. */
static void
test_big_member_counts_every_line(void **state)
{
	struct defs_opts o = { .trust = fx.tkey };
	enum { LINES = 60000 };
	size_t cap = (size_t)LINES * 80, len = 0;
	char *big = malloc(cap), err[1024] = "";
	struct tu_member ms[] = {
		{ .name = "COPYING", .data = "c\n", .len = 2 },
		{ .name = "test.info" },
		{ .name = "big.hdb" },
	};

	(void)state;
	assert_non_null(big);
	for (unsigned i = 0; i < LINES; i++) {
		if (i % 7 == 0)
			len += (size_t)snprintf(big + len, cap - len, "# comment %u\n", i);
		if (i % 11 == 0)
			len += (size_t)snprintf(big + len, cap - len, " \t\r\n");
		len += (size_t)snprintf(big + len, cap - len, "%032x:%u:Test.Big-%u\n",
		    i, 100 + i, i);
	}
	ms[2].data = big;
	ms[2].len = len;
	open_stage(&o);
	if (stage_add(&fx.st, craft("big.cvd", ms, 3, false), err,
	    sizeof(err)) != 0)
		fail_msg("stage_add: %s", err);
	expect_count("big.cud", LINES);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_operator_signed_cvd_stages_one_cud_counted, teardown),
		cmocka_unit_test_teardown(test_libclamav_loads_the_staged_cud, teardown),
		cmocka_unit_test_teardown(test_corrupt_last_byte_leaves_the_stage_empty, teardown),
		cmocka_unit_test_teardown(test_md5_checked_after_members_leaves_the_stage_empty, teardown),
		cmocka_unit_test_teardown(test_untrusted_cld_dsig_leaves_the_stage_empty, teardown),
		cmocka_unit_test_teardown(test_each_container_is_one_cud, teardown),
		cmocka_unit_test_teardown(test_big_member_counts_every_line, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
