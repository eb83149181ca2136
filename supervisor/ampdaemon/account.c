/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scan account: resolve, create, repair (see account.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "spawn.h"

#define LOOKUP_BUF_START 16384
#define TOOL_POLL_MS 5

enum { LK_FOUND, LK_MISSING, LK_FAILED };

static const char *const account_priv_names[] = {
	"root", "sudo", "wheel", "admin", "adm", "disk", "shadow", "kmem",
	"docker", "lxd", "incus-admin", "libvirt", "kvm", "systemd-journal",
};

static const char *const account_nologin_shells[] = {
	"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false",
};

struct lbuf {
	char *p;
	size_t n;
};

/* Both lookups of one resolve, alive together. */
struct look {
	int ust, gst;
	int uerr, gerr;
	struct passwd pw;
	struct group gr;
	struct lbuf ub, gb;
};

const char *
account_strerror(int code)
{
	switch (code) {
	case ACCOUNT_OK: return "success";
	case ACCOUNT_MISSING_USER: return "no such user";
	case ACCOUNT_MISSING_GROUP: return "no such group";
	case ACCOUNT_LOOKUP_FAILED: return "the name service failed";
	case ACCOUNT_INVALID: return "the account is not usable";
	case ACCOUNT_BAD_NAME: return "not a valid user or group name";
	case ACCOUNT_TOOL_FAILED: return "changing the account failed";
	}
	return "unknown account error";
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool
account_name_is_valid(const char *name)
{
	size_t n;

	if (name == NULL || (n = strlen(name)) == 0 || n > ACCOUNT_NAME_MAX ||
	    !(is_alpha(name[0]) || name[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alpha(name[i]) && !(name[i] >= '0' && name[i] <= '9') &&
		    name[i] != '_' && name[i] != '.' && name[i] != '-')
			return false;
	return true;
}

bool
account_errno_is_not_found(int err)
{
	return err == 0 || err == ENOENT || err == ESRCH || err == EBADF ||
	    err == EPERM;
}

bool
account_group_is_privileged(gid_t gid, const char *name)
{
	if (gid < ACCOUNT_PRIV_GID_BELOW)
		return true;
	for (size_t i = 0; name != NULL &&
	    i < sizeof(account_priv_names) / sizeof(account_priv_names[0]); i++)
		if (strcmp(name, account_priv_names[i]) == 0)
			return true;
	return false;
}

static bool
shell_is_nologin(const char *sh)
{
	for (size_t i = 0; i < sizeof(account_nologin_shells) /
	    sizeof(account_nologin_shells[0]); i++)
		if (strcmp(sh, account_nologin_shells[i]) == 0)
			return true;
	return false;
}

/* Append to a one-line reason, "; " between items. */
__attribute__((format(printf, 3, 4)))
static void
reason_add(char *r, size_t len, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (len == 0)
		return;
	used = strnlen(r, len);
	if (used > 0 && used + 2 < len) {
		memcpy(r + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(r + used, len - used, fmt, ap);
	va_end(ap);
}

static void
reason_clear(char *r, size_t len)
{
	if (len > 0)
		r[0] = '\0';
}

/* ---- lookups ---- */

static int
lbuf_grow(struct lbuf *b)
{
	size_t n = b->n == 0 ? LOOKUP_BUF_START : b->n * 2;
	char *p;

	if (n > ACCOUNT_LOOKUP_BUF_MAX)
		return ERANGE;
	if ((p = realloc(b->p, n)) == NULL)
		return ENOMEM;
	b->p = p;
	b->n = n;
	return 0;
}

/* What a get*_r call's return r and result mean: LK_*, *err on failure. */
static int
lookup_result(int r, bool found, int *err)
{
	if (r == 0 && found)
		return LK_FOUND;
	if (account_errno_is_not_found(r))
		return LK_MISSING;
	*err = r;
	return LK_FAILED;
}

/* One name-service query: which get*_r call, its key, where the entry goes. */
enum query_kind { Q_USER_NAME, Q_USER_UID, Q_GROUP_NAME, Q_GROUP_GID };

struct query {
	enum query_kind kind;
	const char *name;       /* Q_*_NAME */
	unsigned id;            /* Q_USER_UID, Q_GROUP_GID */
	struct passwd *pw;      /* Q_USER_* */
	struct group *gr;       /* Q_GROUP_* */
};

/* One get*_r call into b: its return; *found whether an entry came. */
static int
query_once(const struct query *q, struct lbuf *b, bool *found)
{
	struct passwd *pres = NULL;
	struct group *gres = NULL;
	int r;

	switch (q->kind) {
	case Q_USER_NAME:
		r = getpwnam_r(q->name, q->pw, b->p, b->n, &pres);
		break;
	case Q_USER_UID:
		r = getpwuid_r((uid_t)q->id, q->pw, b->p, b->n, &pres);
		break;
	case Q_GROUP_NAME:
		r = getgrnam_r(q->name, q->gr, b->p, b->n, &gres);
		break;
	default:
		r = getgrgid_r((gid_t)q->id, q->gr, b->p, b->n, &gres);
		break;
	}
	*found = pres != NULL || gres != NULL;
	return r;
}

/* q, with b grown on ERANGE up to its cap: the last return, *found. */
static int
query_run(const struct query *q, struct lbuf *b, bool *found)
{
	int r;

	*found = false;
	while ((r = b->n == 0 ? ERANGE : query_once(q, b, found)) == ERANGE)
		if ((r = lbuf_grow(b)) != 0)
			break;
	return r;
}

/* q's LK_* (*err set on LK_FAILED). */
static int
lookup(const struct query *q, struct lbuf *b, int *err)
{
	bool found;
	int r = query_run(q, b, &found);

	return lookup_result(r, found, err);
}

static void
look_free(struct look *l)
{
	free(l->ub.p);
	free(l->gb.p);
	memset(l, 0, sizeof(*l));
}

static void
look_run(const char *user, const char *group, struct look *l)
{
	memset(l, 0, sizeof(*l));
	l->ust = lookup(&(struct query){ .kind = Q_USER_NAME, .name = user,
	    .pw = &l->pw }, &l->ub, &l->uerr);
	l->gst = lookup(&(struct query){ .kind = Q_GROUP_NAME, .name = group,
	    .gr = &l->gr }, &l->gb, &l->gerr);
}

static const char *
lookup_strerror(int e)
{
	return e == ERANGE ? "entry larger than the lookup buffer cap" :
	    strerror(e);
}

/* The status for what look_run found (before any check of the account). */
static int
look_status(const struct look *l, const char *user, const char *group,
    char *reason, size_t len)
{
	if (l->ust == LK_FAILED)
		reason_add(reason, len, "looking up user %s: %s (the name service failed; this is not \"no such user\")",
		    user, lookup_strerror(l->uerr));
	if (l->gst == LK_FAILED)
		reason_add(reason, len, "looking up group %s: %s (the name service failed; this is not \"no such group\")",
		    group, lookup_strerror(l->gerr));
	if (l->ust == LK_FAILED || l->gst == LK_FAILED)
		return ACCOUNT_LOOKUP_FAILED;
	if (l->ust == LK_MISSING)
		reason_add(reason, len, "no such user %s", user);
	if (l->gst == LK_MISSING)
		reason_add(reason, len, "no such group %s", group);
	if (l->ust == LK_MISSING)
		return ACCOUNT_MISSING_USER;
	if (l->gst == LK_MISSING)
		return ACCOUNT_MISSING_GROUP;
	return ACCOUNT_OK;
}

/* A gid's name into name[] ("" when it has none); LK_*. */
static int
gid_name(gid_t gid, char *name, size_t len, struct lbuf *b, int *err)
{
	struct group gr;
	int r = lookup(&(struct query){ .kind = Q_GROUP_GID, .id = gid,
	    .gr = &gr }, b, err);

	snprintf(name, len, "%s", r == LK_FOUND ? gr.gr_name : "");
	return r;
}

/* The supplementary groups of the user; malloc'd list, or NULL + errno. */
static gid_t *
user_groups(const char *user, gid_t primary, int *n)
{
	int ng = 32;
	gid_t *gl = NULL, *p;

	for (;;) {
		int want = ng;

		if ((p = realloc(gl, (size_t)ng * sizeof(*gl))) == NULL) {
			free(gl);
			errno = ENOMEM;
			return NULL;
		}
		gl = p;
		if (getgrouplist(user, primary, gl, &ng) >= 0)
			break;
		ng = ng > want ? ng : want * 2;
		if (ng > ACCOUNT_GROUPS_MAX) {
			free(gl);
			errno = E2BIG;
			return NULL;
		}
	}
	*n = ng;
	return gl;
}

/*
 * Other accounts with the scan user's uid or the scan group's gid: their
 * files would be the workers' files (and the other way round).  The local
 * files are read whole; the name service is asked which name the id maps
 * back to (enumerating a directory service at each worker start would be
 * slow, and many refuse it).
 */
#define ACCOUNT_PASSWD_FILE "/etc/passwd"
#define ACCOUNT_GROUP_FILE "/etc/group"

static void
shared_uid(const struct passwd *pw, struct lbuf *b, char *reason, size_t len)
{
	FILE *f = fopen(ACCOUNT_PASSWD_FILE, "re");
	struct passwd e, *res;
	int r, err = 0;

	while (f != NULL) {
		if (b->n == 0 && lbuf_grow(b) != 0)
			break;
		r = fgetpwent_r(f, &e, b->p, b->n, &res);
		if (r == ERANGE && lbuf_grow(b) == 0)
			continue;   /* glibc rereads the same line */
		if (r != 0 || res == NULL)
			break;
		if (e.pw_uid == pw->pw_uid && strcmp(e.pw_name, pw->pw_name) != 0)
			reason_add(reason, len, "uid %u is also user '%s' (%s)",
			    (unsigned)pw->pw_uid, e.pw_name, ACCOUNT_PASSWD_FILE);
	}
	if (f != NULL)
		fclose(f);
	if (lookup(&(struct query){ .kind = Q_USER_UID, .id = pw->pw_uid,
	    .pw = &e }, b, &err) == LK_FOUND && strcmp(e.pw_name, pw->pw_name) != 0)
		reason_add(reason, len, "uid %u resolves to user '%s'",
		    (unsigned)pw->pw_uid, e.pw_name);
}

static void
shared_gid(const struct group *gr, struct lbuf *b, char *reason, size_t len)
{
	FILE *f = fopen(ACCOUNT_GROUP_FILE, "re");
	struct group e, *res;
	int r, err = 0;

	while (f != NULL) {
		if (b->n == 0 && lbuf_grow(b) != 0)
			break;
		r = fgetgrent_r(f, &e, b->p, b->n, &res);
		if (r == ERANGE && lbuf_grow(b) == 0)
			continue;
		if (r != 0 || res == NULL)
			break;
		if (e.gr_gid == gr->gr_gid && strcmp(e.gr_name, gr->gr_name) != 0)
			reason_add(reason, len, "gid %u is also group '%s' (%s)",
			    (unsigned)gr->gr_gid, e.gr_name, ACCOUNT_GROUP_FILE);
	}
	if (f != NULL)
		fclose(f);
	if (lookup(&(struct query){ .kind = Q_GROUP_GID, .id = gr->gr_gid,
	    .gr = &e }, b, &err) == LK_FOUND && strcmp(e.gr_name, gr->gr_name) != 0)
		reason_add(reason, len, "gid %u resolves to group '%s'",
		    (unsigned)gr->gr_gid, e.gr_name);
}

/* The checks of account.h on a found user and group; 0 or ACCOUNT_*. */
static int
check_account(const struct look *l, char *reason, size_t len)
{
	const struct passwd *pw = &l->pw;
	const struct group *gr = &l->gr;
	struct lbuf nb = { NULL, 0 };
	char name[ACCOUNT_NAME_MAX * 4];
	int rc = ACCOUNT_OK, n = 0, e = 0;
	gid_t *gl = NULL;

	if (pw->pw_uid == 0)
		reason_add(reason, len, "user %s has uid 0", pw->pw_name);
	if (account_group_is_privileged(gr->gr_gid, gr->gr_name))
		reason_add(reason, len, "scan group '%s' (gid %u) is privileged",
		    gr->gr_name, (unsigned)gr->gr_gid);
	if (pw->pw_gid != gr->gr_gid) {
		if (gid_name(pw->pw_gid, name, sizeof(name), &nb, &e) == LK_FAILED)
			snprintf(name, sizeof(name), "?");
		reason_add(reason, len, "primary group is '%s' (gid %u), want '%s' (gid %u)",
		    name, (unsigned)pw->pw_gid, gr->gr_name, (unsigned)gr->gr_gid);
	}
	if (pw->pw_uid != 0)
		shared_uid(pw, &nb, reason, len);
	shared_gid(gr, &nb, reason, len);
	if (!shell_is_nologin(pw->pw_shell))
		reason_add(reason, len, "login shell %s (want %s or /bin/false)",
		    pw->pw_shell[0] != '\0' ? pw->pw_shell : "'' (/bin/sh)",
		    ACCOUNT_SHELL);

	if ((gl = user_groups(pw->pw_name, pw->pw_gid, &n)) == NULL) {
		reason_add(reason, len, "listing the groups of %s: %s",
		    pw->pw_name, strerror(errno));
		rc = ACCOUNT_LOOKUP_FAILED;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int r;

		if (gl[i] == pw->pw_gid)
			continue;
		if ((r = gid_name(gl[i], name, sizeof(name), &nb, &e)) == LK_FAILED &&
		    gl[i] >= ACCOUNT_PRIV_GID_BELOW) {
			reason_add(reason, len, "looking up group %u (a group of %s): %s (the name service failed)",
			    (unsigned)gl[i], pw->pw_name, lookup_strerror(e));
			rc = ACCOUNT_LOOKUP_FAILED;
			goto out;
		}
		if (account_group_is_privileged(gl[i], name[0] != '\0' ? name : NULL))
			reason_add(reason, len, "member of privileged group '%s' (gid %u)",
			    name[0] != '\0' ? name : "?", (unsigned)gl[i]);
	}
	if (len > 0 && reason[0] != '\0')
		rc = ACCOUNT_INVALID;
out:
	free(gl);
	free(nb.p);
	return rc;
}

int
account_resolve(const char *user, const char *group, struct account *out,
    char *reason, size_t len)
{
	struct look l;
	int rc;

	memset(out, 0, sizeof(*out));
	reason_clear(reason, len);
	if (!account_name_is_valid(user) || !account_name_is_valid(group)) {
		reason_add(reason, len, "'%.*s' or '%.*s' is not a valid user or group name",
		    ACCOUNT_NAME_MAX + 8, user != NULL ? user : "",
		    ACCOUNT_NAME_MAX + 8, group != NULL ? group : "");
		return ACCOUNT_BAD_NAME;
	}
	look_run(user, group, &l);
	if ((rc = look_status(&l, user, group, reason, len)) == ACCOUNT_OK &&
	    (rc = check_account(&l, reason, len)) == ACCOUNT_OK) {
		out->uid = l.pw.pw_uid;
		out->gid = l.gr.gr_gid;
		snprintf(out->user, sizeof(out->user), "%s", user);
		snprintf(out->group, sizeof(out->group), "%s", group);
		snprintf(out->home, sizeof(out->home), "%s", l.pw.pw_dir);
		snprintf(out->shell, sizeof(out->shell), "%s", l.pw.pw_shell);
	}
	look_free(&l);
	return rc;
}

/* ---- running the shadow tools ---- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Noreturn void
tool_child(char *const argv[], int null, int out, int st)
{
	char *envp[] = { SPAWN_PATH_ENV, NULL };
	int fds[3] = { null, out, out };
	int bad, e;

	if (spawn_child_reset_signals() != 0 ||
	    spawn_child_fds(fds, 3, &st, &bad) != 0) {
		e = errno;
	} else {
		execve(argv[0], argv, envp);
		e = errno;
	}
	(void)!write(st, &e, sizeof(e));
	_exit(127);
}

/* Read the tool's output until EOF or the deadline; keeps the first bytes. */
static void
tool_read(int fd, long long deadline, char *buf, size_t cap, size_t *got)
{
	char sink[512];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return;
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p.revents == 0)
			continue;
		if (*got + 1 < cap)
			n = read(fd, buf + *got, cap - 1 - *got);
		else
			n = read(fd, sink, sizeof(sink));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		if (*got + 1 < cap)
			*got += (size_t)n;
	}
}

/* Wait for pid until the deadline, then kill it; 0, -1 if killed, 1 if
 * someone else reaped it (status unknown). */
static int
tool_wait(pid_t pid, long long deadline, int *status)
{
	struct timespec ts = { 0, TOOL_POLL_MS * 1000000L };
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return 1;
		if (now_ms() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/* Control bytes to spaces, runs of spaces squeezed, ends trimmed. */
static void
output_clean(char *s)
{
	size_t w = 0;

	for (size_t r = 0; s[r] != '\0'; r++) {
		char c = (unsigned char)s[r] < 0x20 || s[r] == 0x7f ? ' ' : s[r];

		if (c == ' ' && (w == 0 || s[w - 1] == ' '))
			continue;
		s[w++] = c;
	}
	while (w > 0 && s[w - 1] == ' ')
		w--;
	s[w] = '\0';
}

static void
close_keep_errno(int *fd)
{
	if (*fd >= 0) {
		int e = errno;

		close(*fd);
		errno = e;
		*fd = -1;
	}
}

int
account_tool_run(char *const argv[], int timeout_ms, char *reason, size_t len)
{
	char out[ACCOUNT_TOOL_OUTPUT_MAX + 1];
	int op[2] = { -1, -1 }, sp[2] = { -1, -1 }, null = -1;
	int rc = ACCOUNT_TOOL_FAILED, status = 0, e = 0, killed;
	long long deadline = now_ms() + timeout_ms;
	sigset_t all, old;
	size_t got = 0;
	pid_t pid;

	reason_clear(reason, len);
	if (argv == NULL || argv[0] == NULL || argv[0][0] != '/') {
		reason_add(reason, len, "tool: argv[0] must be an absolute path");
		return ACCOUNT_TOOL_FAILED;
	}
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    pipe2(op, O_CLOEXEC) != 0 || pipe2(sp, O_CLOEXEC) != 0) {
		reason_add(reason, len, "%s: setting up: %s", argv[0], strerror(errno));
		goto out;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if ((pid = fork()) == 0)
		tool_child(argv, null, op[1], sp[1]);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		reason_add(reason, len, "%s: fork: %s", argv[0], strerror(e));
		goto out;
	}
	close_keep_errno(&op[1]);
	close_keep_errno(&sp[1]);
	close_keep_errno(&null);

	tool_read(op[0], deadline, out, sizeof(out), &got);
	out[got] = '\0';
	output_clean(out);
	killed = tool_wait(pid, deadline, &status);
	/* the child is gone, so this read cannot block */
	if (read(sp[0], &e, sizeof(e)) == (ssize_t)sizeof(e))
		reason_add(reason, len, "execve %s: %s", argv[0], strerror(e));
	else if (killed < 0)
		reason_add(reason, len, "%s: killed after %d ms%s%s", argv[0],
		    timeout_ms, out[0] != '\0' ? ": " : "", out);
	else if (killed > 0)
		reason_add(reason, len, "%s: its exit status was lost (another waitpid reaped it)",
		    argv[0]);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else if (WIFEXITED(status))
		reason_add(reason, len, "%s exited with status %d%s%s", argv[0],
		    WEXITSTATUS(status), out[0] != '\0' ? ": " : "", out);
	else
		reason_add(reason, len, "%s killed by signal %d%s%s", argv[0],
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0,
		    out[0] != '\0' ? ": " : "", out);
out:
	close_keep_errno(&null);
	close_keep_errno(&op[0]);
	close_keep_errno(&op[1]);
	close_keep_errno(&sp[0]);
	close_keep_errno(&sp[1]);
	return rc;
}

/* ---- create and repair ---- */

/* Pointers to names for a tool's argv (execve wants char *). */
static char *
arg(const char *s)
{
	return (char *)(uintptr_t)s;
}

static int
run_groupadd(const char *group, char *reason, size_t len)
{
	char *const av[] = { arg(ACCOUNT_GROUPADD), arg("--system"), arg("--"),
		arg(group), NULL };

	return account_tool_run(av, ACCOUNT_TOOL_TIMEOUT_MS, reason, len);
}

static int
run_useradd(const char *user, const char *group, char *reason, size_t len)
{
	char *const av[] = { arg(ACCOUNT_USERADD), arg("--system"),
		arg("--gid"), arg(group), arg("--no-create-home"),
		arg("--home-dir"), arg(ACCOUNT_HOME), arg("--shell"),
		arg(ACCOUNT_SHELL), arg("--no-user-group"), arg("--comment"),
		arg(ACCOUNT_GECOS), arg("--"), arg(user), NULL };

	return account_tool_run(av, ACCOUNT_TOOL_TIMEOUT_MS, reason, len);
}

static int
run_usermod(const char *user, const char *group, char *reason, size_t len)
{
	char *const av[] = { arg(ACCOUNT_USERMOD), arg("--gid"), arg(group),
		arg("--shell"), arg(ACCOUNT_SHELL), arg("--groups"), arg(""),
		arg("--home"), arg(ACCOUNT_HOME), arg("--"), arg(user), NULL };

	return account_tool_run(av, ACCOUNT_TOOL_TIMEOUT_MS, reason, len);
}

static int
run_userdel(const char *user, char *reason, size_t len)
{
	char *const av[] = { arg(ACCOUNT_USERDEL), arg("--force"), arg("--"),
		arg(user), NULL };

	return account_tool_run(av, ACCOUNT_TOOL_TIMEOUT_MS, reason, len);
}

/* Create the missing pieces of a looked-up account; 0 or an error. */
static int
create_missing(const char *user, const char *group, const struct look *l,
    char *done, size_t donelen, char *reason, size_t len)
{
	if (l->gst == LK_MISSING) {
		if (run_groupadd(group, reason, len) != 0)
			return ACCOUNT_TOOL_FAILED;
		reason_add(done, donelen, "created group %s", group);
	}
	if (l->ust == LK_MISSING) {
		if (run_useradd(user, group, reason, len) != 0)
			return ACCOUNT_TOOL_FAILED;
		reason_add(done, donelen, "created user %s", user);
	}
	return 0;
}

/* The final word after changes: resolve, and say what was done on OK. */
static int
resolve_after(const char *user, const char *group, const char *done,
    char *reason, size_t len)
{
	struct account a;
	int rc = account_resolve(user, group, &a, reason, len);

	if (rc == ACCOUNT_OK && done[0] != '\0')
		snprintf(reason, len, "%s (uid %u, gid %u)", done,
		    (unsigned)a.uid, (unsigned)a.gid);
	return rc;
}

/* Invalid names: true, *rc account_resolve's verdict (reason says why). */
static bool
names_refused(const char *user, const char *group, char *reason, size_t len,
    int *rc)
{
	struct account a;

	reason_clear(reason, len);
	if (account_name_is_valid(user) && account_name_is_valid(group))
		return false;
	*rc = account_resolve(user, group, &a, reason, len);
	return true;
}

int
account_create(const char *user, const char *group, char *reason, size_t len)
{
	char done[256] = "";
	struct look l;
	int rc;

	if (names_refused(user, group, reason, len, &rc))
		return rc;
	look_run(user, group, &l);
	rc = look_status(&l, user, group, reason, len);
	if ((rc == ACCOUNT_MISSING_USER || rc == ACCOUNT_MISSING_GROUP) &&
	    l.gst == LK_FOUND &&
	    account_group_is_privileged(l.gr.gr_gid, l.gr.gr_name)) {
		/* never make an account whose primary group is privileged */
		reason_clear(reason, len);
		reason_add(reason, len, "scan group '%s' (gid %u) is privileged: set ScanGroup to a group of its own; nothing created",
		    l.gr.gr_name, (unsigned)l.gr.gr_gid);
		rc = ACCOUNT_TOOL_FAILED;
	} else if (rc == ACCOUNT_MISSING_USER || rc == ACCOUNT_MISSING_GROUP) {
		reason_clear(reason, len);
		rc = create_missing(user, group, &l, done, sizeof(done), reason, len);
	}
	look_free(&l);
	if (rc != ACCOUNT_OK)
		return rc;
	return resolve_after(user, group, done, reason, len);
}

/* Delete a uid-0 scan user, unless it is the system's root. */
static int
delete_uid0(const char *user, char *done, size_t donelen, char *reason,
    size_t len)
{
	struct passwd pw;
	struct lbuf b = { NULL, 0 };
	bool found;

	(void)query_run(&(struct query){ .kind = Q_USER_UID, .id = 0,
	    .pw = &pw }, &b, &found);
	if (!found || strcmp(pw.pw_name, user) == 0) {
		reason_add(reason, len, "user %s has uid 0 and %s: refusing to delete it; remove it yourself",
		    user, !found ? "uid 0 could not be looked up" :
		    "is the system's first uid-0 account");
		free(b.p);
		return ACCOUNT_TOOL_FAILED;
	}
	free(b.p);
	if (run_userdel(user, reason, len) != 0)
		return ACCOUNT_TOOL_FAILED;
	reason_add(done, donelen, "deleted user %s (it had uid 0)", user);
	return 0;
}

/* With the group there and not privileged: fix or recreate the user. */
static int
repair_user(const char *user, const char *group, struct look *l, char *done,
    size_t donelen, char *reason, size_t len)
{
	char why[512] = "";
	struct account a;
	int rc;

	if (l->ust == LK_FOUND && l->pw.pw_uid == 0) {
		if ((rc = delete_uid0(user, done, donelen, reason, len)) != 0)
			return rc;
		look_free(l);     /* userdel may have taken the group too */
		look_run(user, group, l);
		if ((rc = look_status(l, user, group, why, sizeof(why))) ==
		    ACCOUNT_LOOKUP_FAILED) {
			snprintf(reason, len, "%s", why);
			return rc;
		}
	}
	if ((rc = create_missing(user, group, l, done, donelen, reason, len)) != 0)
		return rc;
	rc = account_resolve(user, group, &a, why, sizeof(why));
	if (rc != ACCOUNT_INVALID) {
		if (rc != ACCOUNT_OK)
			snprintf(reason, len, "%s", why);
		return rc;
	}
	if (run_usermod(user, group, reason, len) != 0)
		return ACCOUNT_TOOL_FAILED;
	reason_add(done, donelen, "repaired user %s (was: %s)", user, why);
	return 0;
}

int
account_repair(const char *user, const char *group, char *reason, size_t len)
{
	char done[1024] = "";
	struct look l;
	int rc;

	if (names_refused(user, group, reason, len, &rc))
		return rc;
	if (strcmp(user, "root") == 0) {
		reason_add(reason, len, "refusing to repair the user root (ScanUser must be an account of its own)");
		return ACCOUNT_TOOL_FAILED;
	}
	look_run(user, group, &l);
	rc = look_status(&l, user, group, reason, len);
	if (rc == ACCOUNT_LOOKUP_FAILED)
		goto out;
	reason_clear(reason, len);
	if (l.gst == LK_FOUND &&
	    account_group_is_privileged(l.gr.gr_gid, l.gr.gr_name)) {
		reason_add(reason, len, "scan group '%s' (gid %u) is privileged: set ScanGroup to a group of its own; nothing changed",
		    l.gr.gr_name, (unsigned)l.gr.gr_gid);
		rc = ACCOUNT_TOOL_FAILED;
		goto out;
	}
	rc = repair_user(user, group, &l, done, sizeof(done), reason, len);
out:
	look_free(&l);
	if (rc != ACCOUNT_OK)
		return rc;
	return resolve_after(user, group, done, reason, len);
}
