/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan account: names, the errno and privileged-group rules (tables),
 * missing user / group, a failing name service (simulated: linked with
 * -Wl,--wrap=getpwnam_r,--wrap=getgrnam_r), the tool runner, and, as
 * root, real accounts made with useradd: create, each unusable setting
 * detected with its reason, and repaired.
 *
 * Test accounts are named "ampt-<pid>-<tag>".  Each test registers its
 * names before creating anything and the teardown deletes them, failed
 * test or not; the group teardown sweeps any "ampt-<pid>-" left, and the
 * group setup those of earlier runs whose process is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "account.h"

#define NAMES_MAX 4

struct at {
	char user[64];
	char group[64];
	char group2[64];
};

/* ---- a failing name service, injected ---- */

/* The only way to reach getpwnam_r inside account.c: test-only state. */
static int fail_pw;            /* errno getpwnam_r returns, 0 = real */
static int fail_gr;
static size_t min_buf;         /* ERANGE below this many bytes */

int __real_getpwnam_r(const char *, struct passwd *, char *, size_t,
    struct passwd **);
int __wrap_getpwnam_r(const char *, struct passwd *, char *, size_t,
    struct passwd **);
int __real_getgrnam_r(const char *, struct group *, char *, size_t,
    struct group **);
int __wrap_getgrnam_r(const char *, struct group *, char *, size_t,
    struct group **);

int
__wrap_getpwnam_r(const char *name, struct passwd *pw, char *buf,
    size_t len, struct passwd **res)
{
	*res = NULL;
	if (fail_pw != 0)
		return fail_pw;
	if (len < min_buf)
		return ERANGE;
	return __real_getpwnam_r(name, pw, buf, len, res);
}

int
__wrap_getgrnam_r(const char *name, struct group *gr, char *buf,
    size_t len, struct group **res)
{
	*res = NULL;
	if (fail_gr != 0)
		return fail_gr;
	if (len < min_buf)
		return ERANGE;
	return __real_getgrnam_r(name, gr, buf, len, res);
}

/* ---- helpers ---- */

static bool
need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("[  SKIP    ] not root: creating accounts needs root\n");
	return false;
}

/* Run a program (absolute path), output to /dev/null; its exit status. */
static int
run(const char *prog, ...)
{
	char *argv[32];
	va_list ap;
	int n = 0, st = 0;
	pid_t pid;

	argv[n++] = (char *)(uintptr_t)prog;
	va_start(ap, prog);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execv(prog, argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
name(char *out, size_t len, const char *tag)
{
	snprintf(out, len, "ampt-%d-%s", (int)getpid(), tag);
}

static void
delete_user(const char *u)
{
	if (u[0] != '\0' && getpwnam(u) != NULL)
		run("/usr/sbin/userdel", "--force", "--", u, NULL);
}

static void
delete_group(const char *g)
{
	if (g[0] != '\0' && getgrnam(g) != NULL)
		run("/usr/sbin/groupdel", "--", g, NULL);
}

/* Delete every user and group whose name starts with prefix and, when
 * only_dead, whose "ampt-<pid>-" pid is not a live process. */
static void
sweep(const char *file, bool users, const char *prefix, bool only_dead)
{
	FILE *f = fopen(file, "r");
	char line[1024], names[64][64];
	int n = 0;

	if (f == NULL)
		return;
	while (n < 64 && fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (colon == NULL || strncmp(line, prefix, strlen(prefix)) != 0 ||
		    colon - line >= 64)
			continue;
		*colon = '\0';
		if (only_dead) {
			long pid = strtol(line + 5, NULL, 10);

			if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
				continue;
		}
		snprintf(names[n++], sizeof(names[0]), "%.63s", line);
	}
	fclose(f);
	for (int i = 0; i < n; i++) {
		if (users)
			delete_user(names[i]);
		else
			delete_group(names[i]);
	}
}

static int
group_setup(void **state)
{
	(void)state;
	if (geteuid() == 0) {
		sweep("/etc/passwd", true, "ampt-", true);
		sweep("/etc/group", false, "ampt-", true);
	}
	return 0;
}

static int
group_teardown(void **state)
{
	char prefix[32];

	(void)state;
	if (geteuid() == 0) {
		snprintf(prefix, sizeof(prefix), "ampt-%d-", (int)getpid());
		sweep("/etc/passwd", true, prefix, false);
		sweep("/etc/group", false, prefix, false);
	}
	return 0;
}

/* Names first, so the teardown can delete them whatever happens. */
static int
setup(void **state)
{
	struct at *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return -1;
	name(a->user, sizeof(a->user), "u");
	name(a->group, sizeof(a->group), "g");
	name(a->group2, sizeof(a->group2), "g2");
	fail_pw = fail_gr = 0;
	min_buf = 0;
	*state = a;
	return 0;
}

static int
teardown(void **state)
{
	struct at *a = *state;

	fail_pw = fail_gr = 0;
	min_buf = 0;
	if (geteuid() == 0) {
		delete_user(a->user);
		delete_group(a->group);
		delete_group(a->group2);
		delete_group(a->user);    /* userdel may leave or take it */
	}
	free(a);
	return 0;
}

static gid_t
gid_of(const char *g)
{
	struct group *gr = getgrnam(g);

	assert_non_null(gr);
	return gr->gr_gid;
}

/* useradd with a test's own options (may be invalid on purpose). */
static void
make_user(const char *user, const char *gid, const char *shell,
    const char *groups, bool uid0)
{
	int rc;

	if (uid0)
		rc = run("/usr/sbin/useradd", "--non-unique", "--uid", "0",
		    "--gid", gid, "--no-create-home", "--home-dir",
		    "/nonexistent", "--shell", shell, "--", user, NULL);
	else if (groups != NULL)
		rc = run("/usr/sbin/useradd", "--system", "--gid", gid,
		    "--groups", groups, "--no-create-home", "--home-dir",
		    "/nonexistent", "--shell", shell, "--", user, NULL);
	else
		rc = run("/usr/sbin/useradd", "--system", "--gid", gid,
		    "--no-create-home", "--home-dir", "/nonexistent", "--shell",
		    shell, "--", user, NULL);
	assert_int_equal(rc, 0);
}

static void
make_group(const char *g)
{
	assert_int_equal(run("/usr/sbin/groupadd", "--system", "--", g, NULL), 0);
}

/* The account is exactly what create makes: checked in the files. */
static void
assert_account_clean(const char *user, const char *group)
{
	struct passwd *pw = getpwnam(user);
	gid_t gl[16];
	int n = 16;
	struct stat st;

	assert_non_null(pw);
	assert_true(pw->pw_uid > 0 && pw->pw_uid < 1000);   /* a system uid */
	assert_int_equal(pw->pw_gid, gid_of(group));
	assert_string_equal(pw->pw_shell, "/usr/sbin/nologin");
	assert_string_equal(pw->pw_dir, "/nonexistent");
	assert_int_equal(stat("/nonexistent", &st), -1);
	assert_int_equal(getgrouplist(user, pw->pw_gid, gl, &n), 1);
	assert_int_equal(gl[0], pw->pw_gid);
}

static void
assert_resolve(const struct at *a, const char *group, int want_rc,
    const char *want_reason)
{
	struct account acc;
	char reason[512];
	int rc = account_resolve(a->user, group, &acc, reason, sizeof(reason));

	if (rc != want_rc || strcmp(reason, want_reason) != 0)
		fail_msg("resolve: %d '%s', want %d '%s'", rc, reason, want_rc,
		    want_reason);
}

static void
assert_repair_ok(const struct at *a)
{
	char reason[512];
	int rc = account_repair(a->user, a->group, reason, sizeof(reason));

	if (rc != ACCOUNT_OK)
		fail_msg("repair: %d %s", rc, reason);
	print_message("[          ] repair: %s\n", reason);
	assert_account_clean(a->user, a->group);
	assert_resolve(a, a->group, ACCOUNT_OK, "");
}

/* ---- rules (no root needed) ---- */

static void
test_account_name_rule(void **state)
{
	static const struct { const char *s; bool ok; } cases[] = {
		{ "cisco-amp-scan-svc", true }, { "_svc", true }, { "a.b_c-d", true },
		{ "Svc", true }, { "a", true },
		{ "abcdefghijklmnopqrstuvwxyz012345", true },     /* 32 */
		{ "abcdefghijklmnopqrstuvwxyz0123456", false },   /* 33 */
		{ "", false }, { "-rf", false }, { "1abc", false }, { ".x", false },
		{ "a b", false }, { "a:b", false }, { "a/b", false }, { "a,b", false },
		{ "a\nb", false }, { "caf\xc3\xa9", false }, { "a$", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (account_name_is_valid(cases[i].s) != cases[i].ok)
			fail_msg("'%s': want %d", cases[i].s, cases[i].ok);
	assert_false(account_name_is_valid(NULL));
}

static void
test_account_errno_classification_table(void **state)
{
	static const struct { int e; bool not_found; } cases[] = {
		{ 0, true }, { ENOENT, true }, { ESRCH, true }, { EBADF, true },
		{ EPERM, true },
		{ EIO, false }, { ENOMEM, false }, { EAGAIN, false },
		{ ETIMEDOUT, false }, { ECONNREFUSED, false }, { EMFILE, false },
		{ ENFILE, false }, { EINTR, false }, { ERANGE, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (account_errno_is_not_found(cases[i].e) != cases[i].not_found)
			fail_msg("errno %d (%s): want not_found=%d", cases[i].e,
			    strerror(cases[i].e), cases[i].not_found);
}

static void
test_account_privileged_group_table(void **state)
{
	static const struct { gid_t gid; const char *name; bool priv; } cases[] = {
		{ 0, "root", true }, { 4, "adm", true }, { 6, "disk", true },
		{ 20, "dialout", true }, { 27, "sudo", true }, { 42, "shadow", true },
		{ 99, NULL, true }, { 100, "users", false }, { 101, NULL, false },
		{ 998, "docker", true }, { 997, "lxd", true }, { 10, "wheel", true },
		{ 1000, "wheel", true }, { 996, "systemd-journal", true },
		{ 995, "cisco-amp-scan-svc", false }, { 65534, "nogroup", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (account_group_is_privileged(cases[i].gid, cases[i].name) !=
		    cases[i].priv)
			fail_msg("gid %u '%s': want %d", (unsigned)cases[i].gid,
			    cases[i].name != NULL ? cases[i].name : "(null)",
			    cases[i].priv);
}

static void
test_account_resolve_rejects_bad_names(void **state)
{
	struct at *a = *state;
	struct account acc;
	char reason[256], want[256];

	assert_int_equal(account_resolve("bad user", a->group, &acc, reason,
	    sizeof(reason)), ACCOUNT_BAD_NAME);
	snprintf(want, sizeof(want), "'bad user' or '%s' is not a valid user or group name",
	    a->group);
	assert_string_equal(reason, want);
	assert_int_equal(account_resolve(a->user, "-g", &acc, reason,
	    sizeof(reason)), ACCOUNT_BAD_NAME);
	assert_int_equal(account_create("x:y", "x", reason, sizeof(reason)),
	    ACCOUNT_BAD_NAME);
	assert_int_equal(account_repair("x", "../x", reason, sizeof(reason)),
	    ACCOUNT_BAD_NAME);
}

static void
test_account_resolve_missing_user(void **state)
{
	struct at *a = *state;
	char want[256];

	snprintf(want, sizeof(want), "no such user %s", a->user);
	assert_resolve(a, "root", ACCOUNT_MISSING_USER, want);
	/* both missing: both said, reported as the user */
	snprintf(want, sizeof(want), "no such user %s; no such group %s",
	    a->user, a->group);
	assert_resolve(a, a->group, ACCOUNT_MISSING_USER, want);
}

static void
test_account_resolve_missing_group(void **state)
{
	struct at *a = *state;
	struct account acc;
	char reason[256], want[128];

	snprintf(want, sizeof(want), "no such group %s", a->group);
	assert_int_equal(account_resolve("root", a->group, &acc, reason,
	    sizeof(reason)), ACCOUNT_MISSING_GROUP);
	assert_string_equal(reason, want);
}

static void
test_account_failing_name_service_is_not_missing(void **state)
{
	struct at *a = *state;
	struct account acc;
	char reason[512];

	fail_pw = EIO;
	assert_int_equal(account_resolve(a->user, "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_LOOKUP_FAILED);
	assert_non_null(strstr(reason, "looking up user ampt-"));
	assert_non_null(strstr(reason, ": Input/output error (the name service failed; this is not \"no such user\")"));
	/* create and repair touch nothing when they cannot tell */
	assert_int_equal(account_create(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_LOOKUP_FAILED);
	assert_int_equal(account_repair(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_LOOKUP_FAILED);
	fail_pw = 0;
	assert_null(getpwnam(a->user));
	assert_null(getgrnam(a->group));

	fail_gr = ETIMEDOUT;
	assert_int_equal(account_resolve("root", a->group, &acc, reason,
	    sizeof(reason)), ACCOUNT_LOOKUP_FAILED);
	assert_non_null(strstr(reason, ": Connection timed out (the name service failed; this is not \"no such group\")"));
	fail_gr = ENOMEM;
	assert_int_equal(account_resolve("root", "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_LOOKUP_FAILED);
	fail_gr = 0;

	/* the "not found" errnos of getpwnam_r(3) are "no such user" */
	fail_pw = ENOENT;
	assert_int_equal(account_resolve("root", "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_MISSING_USER);
	fail_pw = EPERM;
	assert_int_equal(account_resolve("root", "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_MISSING_USER);
	fail_pw = 0;
}

static void
test_account_lookup_buffer_grows(void **state)
{
	struct account acc;
	char reason[256];

	(void)state;
	min_buf = 100000;      /* ERANGE until the buffer has doubled thrice */
	assert_int_equal(account_resolve("root", "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_INVALID);
	assert_non_null(strstr(reason, "user root has uid 0"));
	min_buf = 64u << 20;   /* over ACCOUNT_LOOKUP_BUF_MAX: a lookup failure */
	assert_int_equal(account_resolve("root", "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_LOOKUP_FAILED);
	assert_non_null(strstr(reason, "entry larger than the lookup buffer cap"));
	min_buf = 0;
}

static void
test_account_repair_refuses_root(void **state)
{
	char reason[256];
	struct account acc;

	(void)state;
	assert_int_equal(account_repair("root", "root", reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "refusing to repair the user root (ScanUser must be an account of its own)");
	/* and create leaves an existing (unusable) account alone */
	assert_int_equal(account_create("root", "root", reason, sizeof(reason)),
	    ACCOUNT_INVALID);
	assert_int_equal(account_resolve("root", "root", &acc, reason,
	    sizeof(reason)), ACCOUNT_INVALID);
	assert_string_equal(reason, "user root has uid 0; scan group 'root' (gid 0) is privileged; login shell /bin/bash (want /usr/sbin/nologin or /bin/false)");
	assert_int_equal(getpwnam("root")->pw_uid, 0);
}

/* ---- the tool runner (no root needed) ---- */

static void
test_account_tool_run_reports_status_output_and_env(void **state)
{
	char *fails[] = { "/bin/sh", "-c", "echo 'oops:\tbad' >&2; echo more; exit 3", NULL };
	char *env[] = { "/bin/sh", "-c", "/usr/bin/env; readlink /proc/self/fd/0; exit 1", NULL };
	char *ok[] = { "/bin/sh", "-c", "echo fine; exit 0", NULL };
	char *missing[] = { "/nonexistent/useradd", NULL };
	char *relative[] = { "useradd", NULL };
	char *sig[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
	char reason[512];

	(void)state;
	assert_int_equal(account_tool_run(fails, 5000, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "/bin/sh exited with status 3: oops: bad more");
	assert_int_equal(account_tool_run(ok, 5000, reason, sizeof(reason)), 0);
	assert_string_equal(reason, "");

	/* PATH only, stdin /dev/null */
	setenv("AMPT_SECRET", "leaked", 1);
	assert_int_equal(account_tool_run(env, 5000, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	unsetenv("AMPT_SECRET");
	assert_non_null(strstr(reason, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"));
	assert_non_null(strstr(reason, " /dev/null"));
	assert_null(strstr(reason, "AMPT_SECRET"));

	assert_int_equal(account_tool_run(missing, 5000, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "execve /nonexistent/useradd: No such file or directory");
	assert_int_equal(account_tool_run(relative, 5000, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "tool: argv[0] must be an absolute path");
	assert_int_equal(account_tool_run(sig, 5000, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "/bin/sh killed by signal 15");
}

static void
test_account_tool_run_kills_a_hung_tool(void **state)
{
	char *hang[] = { "/bin/sleep", "30", NULL };
	char *flood[] = { "/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\000' a; exit 1", NULL };
	char reason[2048], tiny[8];

	(void)state;
	assert_int_equal(account_tool_run(hang, 200, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "/bin/sleep: killed after 200 ms");
	/* a megabyte of output: the first ACCOUNT_TOOL_OUTPUT_MAX bytes kept */
	assert_int_equal(account_tool_run(flood, 5000, reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_int_equal(strlen(reason), strlen("/bin/sh exited with status 1: ") +
	    ACCOUNT_TOOL_OUTPUT_MAX);
	/* a small reason buffer: cut, terminated */
	assert_int_equal(account_tool_run(flood, 5000, tiny, sizeof(tiny)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(tiny, "/bin/sh");
	assert_true(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

/* ---- real accounts (root) ---- */

static void
test_account_create_makes_a_system_account(void **state)
{
	struct at *a = *state;
	struct account acc;
	char reason[512], want[256];

	if (!need_root())
		skip();
	assert_int_equal(account_create(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_OK);
	snprintf(want, sizeof(want), "created group %s; created user %s (uid %u, gid %u)",
	    a->group, a->user, (unsigned)getpwnam(a->user)->pw_uid,
	    (unsigned)gid_of(a->group));
	assert_string_equal(reason, want);
	assert_account_clean(a->user, a->group);
	assert_true(gid_of(a->group) < 1000);               /* a system group */

	assert_int_equal(account_resolve(a->user, a->group, &acc, reason,
	    sizeof(reason)), ACCOUNT_OK);
	assert_string_equal(reason, "");
	assert_int_equal(acc.uid, getpwnam(a->user)->pw_uid);
	assert_int_equal(acc.gid, gid_of(a->group));
	assert_string_equal(acc.user, a->user);
	assert_string_equal(acc.group, a->group);
	assert_string_equal(acc.shell, "/usr/sbin/nologin");
	assert_string_equal(acc.home, "/nonexistent");

	/* again: nothing to do */
	assert_int_equal(account_create(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_OK);
	assert_string_equal(reason, "");
	assert_int_equal(account_repair(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_OK);
	assert_string_equal(reason, "");
}

static void
test_account_create_same_name_for_user_and_group(void **state)
{
	struct at *a = *state;
	char reason[512];

	if (!need_root())
		skip();
	/* the default: ScanUser and ScanGroup both cisco-amp-scan-svc */
	assert_int_equal(account_create(a->user, a->user, reason,
	    sizeof(reason)), ACCOUNT_OK);
	assert_account_clean(a->user, a->user);
}

static void
test_account_create_uses_an_existing_group(void **state)
{
	struct at *a = *state;
	char reason[512], want[256];
	gid_t g;

	if (!need_root())
		skip();
	make_group(a->group);
	g = gid_of(a->group);
	assert_int_equal(account_create(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_OK);
	snprintf(want, sizeof(want), "created user %s (uid %u, gid %u)",
	    a->user, (unsigned)getpwnam(a->user)->pw_uid, (unsigned)g);
	assert_string_equal(reason, want);
	assert_int_equal(gid_of(a->group), g);
	assert_account_clean(a->user, a->group);
}

static void
test_account_create_refuses_a_privileged_group(void **state)
{
	struct at *a = *state;
	char reason[512];

	if (!need_root())
		skip();
	/* adm exists on Debian (gid 4): a user created in it would hold the
	 * very privilege the scan account must not have */
	if (getgrnam("adm") == NULL)
		skip();
	assert_int_equal(account_create(a->user, "adm", reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_non_null(strstr(reason, "scan group 'adm' (gid 4) is privileged"));
	assert_non_null(strstr(reason, "nothing created"));
	assert_null(getpwnam(a->user));
}

static void
test_account_create_with_only_the_group_missing(void **state)
{
	struct at *a = *state;
	char reason[512], want[256];

	if (!need_root())
		skip();
	make_group(a->group2);
	make_user(a->user, a->group2, "/usr/sbin/nologin", NULL, false);
	/* the group is created, the existing user is left alone: unusable */
	assert_int_equal(account_create(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_INVALID);
	snprintf(want, sizeof(want), "primary group is '%s' (gid %u), want '%s' (gid %u)",
	    a->group2, (unsigned)gid_of(a->group2), a->group,
	    (unsigned)gid_of(a->group));
	assert_string_equal(reason, want);
	assert_repair_ok(a);
}

static void
test_account_uid0_is_detected_and_recreated(void **state)
{
	struct at *a = *state;
	char reason[512], want[128];
	struct passwd *root;

	if (!need_root())
		skip();
	make_group(a->group);
	make_user(a->user, a->group, "/usr/sbin/nologin", NULL, true);
	snprintf(want, sizeof(want), "user %s has uid 0", a->user);
	assert_resolve(a, a->group, ACCOUNT_INVALID, want);
	/* create does not touch an existing account */
	assert_int_equal(account_create(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_INVALID);
	assert_int_equal(getpwnam(a->user)->pw_uid, 0);

	assert_repair_ok(a);
	assert_true(getpwnam(a->user)->pw_uid != 0);
	root = getpwnam("root");
	assert_non_null(root);
	assert_int_equal(root->pw_uid, 0);
	assert_string_equal(getpwuid(0)->pw_name, "root");
}

static void
test_account_uid0_with_its_same_named_group(void **state)
{
	struct at *a = *state;

	if (!need_root())
		skip();
	/* userdel takes the same-named group with the user: recreated */
	snprintf(a->group, sizeof(a->group), "%s", a->user);
	make_group(a->group);
	make_user(a->user, a->group, "/usr/sbin/nologin", NULL, true);
	assert_repair_ok(a);
}

static void
test_account_wrong_primary_group_is_detected_and_repaired(void **state)
{
	struct at *a = *state;
	char want[256];

	if (!need_root())
		skip();
	make_group(a->group);
	make_user(a->user, "users", "/usr/sbin/nologin", NULL, false);
	snprintf(want, sizeof(want), "primary group is 'users' (gid 100), want '%s' (gid %u)",
	    a->group, (unsigned)gid_of(a->group));
	assert_resolve(a, a->group, ACCOUNT_INVALID, want);
	assert_repair_ok(a);
}

static void
test_account_login_shell_is_detected_and_repaired(void **state)
{
	struct at *a = *state;

	if (!need_root())
		skip();
	make_group(a->group);
	make_user(a->user, a->group, "/bin/bash", NULL, false);
	assert_resolve(a, a->group, ACCOUNT_INVALID,
	    "login shell /bin/bash (want /usr/sbin/nologin or /bin/false)");
	assert_repair_ok(a);
	/* /bin/false is a no-login shell too */
	assert_int_equal(run("/usr/sbin/usermod", "--shell", "/bin/false", "--",
	    a->user, NULL), 0);
	assert_resolve(a, a->group, ACCOUNT_OK, "");
}

static void
test_account_privileged_groups_are_detected_and_repaired(void **state)
{
	struct at *a = *state;

	if (!need_root())
		skip();
	make_group(a->group);
	make_user(a->user, a->group, "/usr/sbin/nologin", "sudo,adm", false);
	assert_resolve(a, a->group, ACCOUNT_INVALID,
	    "member of privileged group 'adm' (gid 4); member of privileged group 'sudo' (gid 27)");
	assert_repair_ok(a);
}

static void
test_account_harmless_groups_are_tolerated(void **state)
{
	struct at *a = *state;
	char reason[512];

	if (!need_root())
		skip();
	make_group(a->group);
	make_group(a->group2);
	make_user(a->user, a->group, "/usr/sbin/nologin", a->group2, false);
	assert_resolve(a, a->group, ACCOUNT_OK, "");
	/* repair leaves a usable account as it is */
	assert_int_equal(account_repair(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_OK);
	assert_string_equal(reason, "");
}

static void
test_account_every_problem_is_listed(void **state)
{
	struct at *a = *state;
	char want[512];

	if (!need_root())
		skip();
	make_group(a->group);
	make_user(a->user, "users", "/bin/sh", "disk", false);
	snprintf(want, sizeof(want), "primary group is 'users' (gid 100), want '%s' (gid %u); login shell /bin/sh (want /usr/sbin/nologin or /bin/false); member of privileged group 'disk' (gid 6)",
	    a->group, (unsigned)gid_of(a->group));
	assert_resolve(a, a->group, ACCOUNT_INVALID, want);
	assert_repair_ok(a);
}

static void
test_account_privileged_scan_group_is_refused(void **state)
{
	struct at *a = *state;
	char reason[512], want[256];

	if (!need_root())
		skip();
	make_user(a->user, "adm", "/usr/sbin/nologin", NULL, false);
	snprintf(want, sizeof(want), "scan group 'adm' (gid 4) is privileged");
	assert_resolve(a, "adm", ACCOUNT_INVALID, want);
	assert_int_equal(account_repair(a->user, "adm", reason, sizeof(reason)),
	    ACCOUNT_TOOL_FAILED);
	assert_string_equal(reason, "scan group 'adm' (gid 4) is privileged: set ScanGroup to a group of its own; nothing changed");
	assert_int_equal(getpwnam(a->user)->pw_gid, 4);
}

static void
test_account_repair_creates_what_is_missing(void **state)
{
	struct at *a = *state;

	if (!need_root())
		skip();
	assert_repair_ok(a);
}

static void
test_account_repair_of_a_busy_user_says_so(void **state)
{
	struct at *a = *state;
	char reason[512];
	pid_t pid;

	if (!need_root())
		skip();
	make_group(a->group);
	make_user(a->user, a->group, "/bin/bash", NULL, false);
	assert_int_equal(run("/usr/sbin/usermod", "--home", "/tmp", "--",
	    a->user, NULL), 0);
	/* a process running as the user: usermod refuses to change the home */
	if ((pid = fork()) == 0) {
		struct passwd *pw = getpwnam(a->user);

		if (pw == NULL || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(1);
		/* never outlive the test, even a killed one (after the uid
		 * change, which clears it) */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() == 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_true(pid > 0);
	usleep(100000);
	assert_int_equal(account_repair(a->user, a->group, reason,
	    sizeof(reason)), ACCOUNT_TOOL_FAILED);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	print_message("[          ] %s\n", reason);
	assert_non_null(strstr(reason, "/usr/sbin/usermod exited with status 8: usermod: user ampt-"));
	assert_non_null(strstr(reason, "is currently used by process"));
	assert_repair_ok(a);
}

static void
test_account_strerror_names_every_code(void **state)
{
	(void)state;
	assert_string_equal(account_strerror(ACCOUNT_OK), "success");
	assert_string_equal(account_strerror(ACCOUNT_LOOKUP_FAILED), "the name service failed");
	assert_string_equal(account_strerror(ACCOUNT_MISSING_USER), "no such user");
	assert_string_equal(account_strerror(-99), "unknown account error");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_account_name_rule),
		T(test_account_errno_classification_table),
		T(test_account_privileged_group_table),
		T(test_account_resolve_rejects_bad_names),
		T(test_account_resolve_missing_user),
		T(test_account_resolve_missing_group),
		T(test_account_failing_name_service_is_not_missing),
		T(test_account_lookup_buffer_grows),
		T(test_account_repair_refuses_root),
		T(test_account_tool_run_reports_status_output_and_env),
		T(test_account_tool_run_kills_a_hung_tool),
		T(test_account_create_makes_a_system_account),
		T(test_account_create_same_name_for_user_and_group),
		T(test_account_create_uses_an_existing_group),
		T(test_account_create_refuses_a_privileged_group),
		T(test_account_create_with_only_the_group_missing),
		T(test_account_uid0_is_detected_and_recreated),
		T(test_account_uid0_with_its_same_named_group),
		T(test_account_wrong_primary_group_is_detected_and_repaired),
		T(test_account_login_shell_is_detected_and_repaired),
		T(test_account_privileged_groups_are_detected_and_repaired),
		T(test_account_harmless_groups_are_tolerated),
		T(test_account_every_problem_is_listed),
		T(test_account_privileged_scan_group_is_refused),
		T(test_account_repair_creates_what_is_missing),
		T(test_account_repair_of_a_busy_user_says_so),
		T(test_account_strerror_names_every_code),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
