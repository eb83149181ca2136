/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan engine interface (supervisor/ampscansvc/engine_if.h): the
 * clamav backend's reader turns every read error and short read into
 * ERROR, never OK; the canaries fail an engine without the canary
 * signature; a signature count libclamav does not confirm fails the load.
 */
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

#include "engine_if.h"
#include "engine_int.h"
#include "testutil.h"

/* Bytes of clam.exe are not needed: a body signature over a short text. */
#define HIT_TEXT "ampscan engine test: HIT-MARKER-0123456789 here\n"
#define HIT_NDB "Test.Hit:0:*:4849542d4d41524b45522d30313233343536373839\n"

struct fixture {
	char *dir;          /* definitions and files */
	char scratch[4200];
	struct defs_opts dopts;
	struct seng *e;
};

static struct seng *
make_engine(struct fixture *f, enum seng_backend b, bool no_canary,
    const char *defs, char *err, size_t errlen)
{
	struct seng_opts o = { .dopts = &f->dopts, .scratch = f->scratch,
	    .max_scan_time_ms = SENG_DEFAULT_MAX_SCAN_TIME_MS,
	    .no_canary = no_canary };
	struct seng *e = NULL;

	walk_limits_default(&o.lim);
	if (seng_new(b, &o, &e, err, errlen) != 0)
		return NULL;
	if (seng_load(e, defs, err, errlen) != 0 || seng_compile(e, err, errlen) != 0) {
		seng_free(e);
		return NULL;
	}
	return e;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[1024];

	assert_non_null(f);
	f->dir = tu_tmpdir();
	snprintf(f->scratch, sizeof(f->scratch), "%s/scratch", f->dir);
	assert_int_equal(mkdir(f->scratch, 0700), 0);
	assert_int_equal(mkdir(tu_path(f->dir, "defs"), 0700), 0);
	tu_write_str(tu_path(f->dir, "defs/t.ndb"), HIT_NDB);
	tu_write_str(tu_path(f->dir, "hit.txt"), HIT_TEXT);
	f->dopts.allow_unsigned = true;
	f->e = make_engine(f, SENG_CLAMAV, false, tu_path(f->dir, "defs"), err,
	    sizeof(err));
	if (f->e == NULL)
		fail_msg("clamav engine: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	seng_free(f->e);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void
scan_path(struct fixture *f, int flags, struct wproto_result *r)
{
	int fd = open(tu_path(f->dir, "hit.txt"), flags | O_CLOEXEC);

	assert_true(fd >= 0);
	seng_scan_fd(f->e, fd, "hit.txt", 0, r);
	close(fd);
}

static void
test_clamav_finds_the_signature_and_hides_the_canary(void **state)
{
	struct fixture *f = *state;
	struct wproto_result *r = calloc(1, sizeof(*r));

	scan_path(f, O_RDONLY, r);
	assert_int_equal(r->verdict, WPROTO_FOUND);
	assert_int_equal(r->nnames, 1);
	assert_string_equal(r->names[0].sig, "Test.Hit.UNOFFICIAL");
	free(r);
}

static void
test_clamav_write_only_fd_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct wproto_result *r = calloc(1, sizeof(*r));

	scan_path(f, O_WRONLY, r);
	assert_int_equal(r->verdict, WPROTO_ERROR);
	assert_non_null(strstr(r->note, "read error"));
	free(r);
}

static void
test_clamav_o_path_fd_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct wproto_result *r = calloc(1, sizeof(*r));

	scan_path(f, O_PATH, r);
	assert_int_equal(r->verdict, WPROTO_ERROR);
	free(r);
}

/* A clean file that shrank after fstat: ERROR, not the OK a scan of what
 * is left would give. */
static void
test_clamav_truncated_while_scanned_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct wproto_result *r = calloc(1, sizeof(*r));
	const char *p = tu_path(f->dir, "clean.txt");
	char big[8192];
	int fd;

	memset(big, 'a', sizeof(big));
	tu_write(p, big, sizeof(big));
	assert_true((fd = open(p, O_RDWR | O_CLOEXEC)) >= 0);
	seng_scan_fd(f->e, fd, "clean.txt", 0, r);
	assert_int_equal(r->verdict, WPROTO_CLEAN);
	assert_int_equal(ftruncate(fd, 1000), 0);
	seng_clamav_scan_sized(f->e, fd, sizeof(big), "clean.txt", 0, r);
	assert_int_equal(r->verdict, WPROTO_ERROR);
	assert_non_null(strstr(r->note, "short read"));
	close(fd);
	free(r);
}

static void
test_clamav_canaries_fail_without_the_canary_signature(void **state)
{
	struct fixture *f = *state;
	struct seng *e;
	char err[1024];

	seng_free(f->e);
	f->e = NULL;
	e = make_engine(f, SENG_CLAMAV, true, tu_path(f->dir, "defs"), err,
	    sizeof(err));
	assert_non_null(e);
	assert_int_not_equal(seng_canary_check(e, SENG_CANARIES_ALL, err,
	    sizeof(err)), 0);
	assert_non_null(strstr(err, "plain canary was not found"));
	seng_free(e);
}

/* The canaries pass through the builtin engine too (plain and zip). */
static void
test_builtin_canaries_pass(void **state)
{
	struct fixture *f = *state;
	struct wproto_result *r = calloc(1, sizeof(*r));
	struct seng *e;
	char err[1024];
	int fd;

	e = make_engine(f, SENG_BUILTIN, false, tu_path(f->dir, "defs/t.ndb"),
	    err, sizeof(err));
	if (e == NULL)
		fail_msg("builtin: %s", err);
	assert_true((fd = open(tu_path(f->dir, "hit.txt"), O_RDONLY)) >= 0);
	seng_scan_fd(e, fd, "hit.txt", 0, r);
	close(fd);
	assert_int_equal(r->verdict, WPROTO_FOUND);
	assert_string_equal(r->names[0].sig, "Test.Hit");
	seng_free(e);
	free(r);
}

/* The builtin engine: a descriptor it cannot read is ERROR, never OK. */
static void
test_builtin_unreadable_fd_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct wproto_result *r = calloc(1, sizeof(*r));
	const int flags[] = { O_WRONLY, O_PATH };
	struct seng *e;
	char err[1024];
	int fd;

	e = make_engine(f, SENG_BUILTIN, false, tu_path(f->dir, "defs/t.ndb"),
	    err, sizeof(err));
	if (e == NULL)
		fail_msg("builtin: %s", err);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		assert_true((fd = open(tu_path(f->dir, "hit.txt"), flags[i] | O_CLOEXEC)) >= 0);
		memset(r, 0, sizeof(*r));
		seng_scan_fd(e, fd, "hit.txt", 0, r);
		close(fd);
		assert_int_equal(r->verdict, WPROTO_ERROR);
		assert_non_null(strstr(r->note, "Can't read file"));
	}
	seng_free(e);
	free(r);
}

/* A file libclamav loads fewer signatures of than were verified. */
static void
test_clamav_count_mismatch_fails_the_load(void **state)
{
	struct fixture *f = *state;
	char err[1024];
	struct seng *e;

	seng_free(f->e);
	f->e = NULL;
	assert_int_equal(mkdir(tu_path(f->dir, "bad"), 0700), 0);
	/* an unsigned bytecode: libclamav skips it (no CL_DB_BYTECODE_UNSIGNED) */
	tu_write_str(tu_path(f->dir, "bad/x.cbc"), "ClamBCafhaio`lfcf|aa```c``a```|ah`cnbac`cecnb`c``beaacp`clamcoincidencejb:4096\n");
	e = make_engine(f, SENG_CLAMAV, false, tu_path(f->dir, "bad"), err,
	    sizeof(err));
	assert_null(e);
	assert_non_null(strstr(err, "x.cbc"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clamav_finds_the_signature_and_hides_the_canary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_write_only_fd_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_o_path_fd_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_truncated_while_scanned_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_canaries_fail_without_the_canary_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_canaries_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_unreadable_fd_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clamav_count_mismatch_fails_the_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
