/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cvdtool verify --load: stage, run ampscansvc --check, report (load.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "activate.h"
#include "fdio.h"
#include "json.h"
#include "load.h"
#include "num.h"
#include "statefile.h"

#ifndef CVDTOOL_SBIN_FROM_BIN
#define CVDTOOL_SBIN_FROM_BIN "../sbin"   /* the installed ampscansvc */
#endif

#define LOAD_PATH_MAX 4096
#define LOAD_OUTPUT_MAX 65536        /* of ampscansvc's stdout and stderr each */
#define LOAD_COPY_CHUNK 65536
#define LOAD_ARGV_MAX 48
#define LOAD_POLL_NS 200000000L      /* a lost SIGCHLD costs this much, no more */

struct load_run {
	const struct load_opts *o;
	struct load_result *r;
	char svc[LOAD_PATH_MAX];
	char tmp[LOAD_PATH_MAX];         /* the private directory ("" none yet) */
	char defs[LOAD_PATH_MAX];        /* tmp/defs: what ampscansvc loads */
	int defs_fd, out_fd, err_fd;     /* -1 when not open */
	sigset_t held, old;
	int sig;                         /* a terminating signal that arrived */
	pid_t pid;
};

static int load_fail(struct load_result *r, enum load_status st,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
load_fail(struct load_result *r, enum load_status st, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* An executable regular file: 0, or an errno value. */
static int
load_is_exe(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? EISDIR : EACCES;
	return access(path, X_OK) == 0 ? 0 : errno;
}

/* --scansvc; else the ampscansvc beside cvdtool (the build tree's bin/);
 * else the installed one (/usr/bin/cvdtool -> /usr/sbin/ampscansvc). */
static int
load_find_scansvc(struct load_run *l)
{
	char self[LOAD_PATH_MAX - 64];
	ssize_t n;
	char *slash;
	int e;

	if (l->o->scansvc != NULL) {
		if ((e = load_is_exe(l->o->scansvc)) != 0)
			return load_fail(l->r, LOAD_ERROR, "--scansvc %s: %s",
			    l->o->scansvc, strerror(e));
		snprintf(l->svc, sizeof(l->svc), "%s", l->o->scansvc);
		return 0;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return load_fail(l->r, LOAD_ERROR, "/proc/self/exe: %s",
		    strerror(errno));
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(l->svc, sizeof(l->svc), "%s/ampscansvc", self);
	if (load_is_exe(l->svc) == 0)
		return 0;
	snprintf(l->svc, sizeof(l->svc), "%s/%s/ampscansvc", self,
	    CVDTOOL_SBIN_FROM_BIN);
	if (load_is_exe(l->svc) == 0)
		return 0;
	return load_fail(l->r, LOAD_ERROR,
	    "ampscansvc not found: neither %s/ampscansvc nor %s (give --scansvc PATH)",
	    self, l->svc);
}

/* $TMPDIR/cvdtool-load.XXXXXX (0700) and its defs/ subdirectory. */
static int
load_make_tmp(struct load_run *l)
{
	const char *t = getenv("TMPDIR");

	if (t == NULL || t[0] == '\0')
		t = "/tmp";
	if ((size_t)snprintf(l->defs, sizeof(l->defs), "%s/cvdtool-load.XXXXXX/defs",
	    t) >= sizeof(l->defs) - NAME_MAX - 8)
		return load_fail(l->r, LOAD_ERROR, "TMPDIR %s: too long", t);
	snprintf(l->tmp, sizeof(l->tmp), "%s/cvdtool-load.XXXXXX", t);
	if (mkdtemp(l->tmp) == NULL) {
		l->tmp[0] = '\0';
		return load_fail(l->r, LOAD_ERROR, "cannot make a directory in %s: %s",
		    t, strerror(errno));
	}
	if ((size_t)snprintf(l->defs, sizeof(l->defs), "%s/defs", l->tmp) >=
	    sizeof(l->defs) || mkdir(l->defs, 0700) != 0 ||
	    (l->defs_fd = open(l->defs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return load_fail(l->r, LOAD_ERROR, "%s: %s", l->defs, strerror(errno));
	return 0;
}

/* Copy src to defs/name (a new file; two inputs of one name collide). */
static int
load_copy(struct load_run *l, const char *src, const char *name)
{
	static uint8_t buf[LOAD_COPY_CHUNK];
	int in = -1, out = -1, rc = -1;
	struct stat st;
	ssize_t n;

	if ((in = open(src, O_RDONLY | O_NOCTTY | O_CLOEXEC)) < 0 ||
	    fstat(in, &st) != 0) {
		load_fail(l->r, LOAD_ERROR, "%s: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		load_fail(l->r, LOAD_ERROR, "%s: not a regular file", src);
		goto out;
	}
	if ((out = openat(l->defs_fd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		load_fail(l->r, LOAD_ERROR, errno == EEXIST ?
		    "%s: another file of the same name (%s) is in the set" :
		    "%s: staging as %s: %s", src, name, strerror(errno));
		goto out;
	}
	do {
		if ((n = fd_read_full(in, buf, sizeof(buf))) < 0 ||
		    statefile_write_all(out, buf, (size_t)n) != 0) {
			load_fail(l->r, LOAD_ERROR, "%s: copying to %s/%s: %s", src,
			    l->defs, name, strerror(errno));
			goto out;
		}
	} while ((size_t)n == sizeof(buf));
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Each container under its own name, its .sign as NAME.sign (the name
 * the loader looks for first). */
static int
load_stage(struct load_run *l, const struct load_file *files, size_t n)
{
	char sign[NAME_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(files[i].path, '/');

		base = base ? base + 1 : files[i].path;
		if (strlen(base) + 5 >= sizeof(sign))
			return load_fail(l->r, LOAD_ERROR, "%s: name too long",
			    files[i].path);
		snprintf(sign, sizeof(sign), "%s.sign", base);
		if (load_copy(l, files[i].path, base) != 0 ||
		    (files[i].sign && load_copy(l, files[i].sign, sign) != 0))
			return -1;
	}
	return 0;
}

/* An unlinked file in tmp for one of ampscansvc's outputs. */
static int
load_output_file(struct load_run *l, const char *name, int *fd)
{
	char path[LOAD_PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", l->tmp, name) >=
	    sizeof(path))
		return load_fail(l->r, LOAD_ERROR, "%s: path too long", l->tmp);
	if ((*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0)
		return load_fail(l->r, LOAD_ERROR, "%s: %s", path, strerror(errno));
	unlink(path);
	return 0;
}

/* A string for argv (execv wants char *; it writes none). */
static char *
load_arg(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* ampscansvc --check DEFS --engine E and the trust options we were given. */
static void
load_argv(struct load_run *l, char *argv[LOAD_ARGV_MAX])
{
	size_t k = 0;

	argv[k++] = l->svc;
	argv[k++] = load_arg("--check");
	argv[k++] = l->defs;
	argv[k++] = load_arg("--engine");
	argv[k++] = load_arg(l->o->engine);
	for (size_t i = 0; i < l->o->nkeys && k + 6 < LOAD_ARGV_MAX; i++) {
		argv[k++] = load_arg("--trusted-key");
		argv[k++] = load_arg(l->o->keys[i]);
	}
	if (l->o->certs_dir != NULL) {
		argv[k++] = load_arg("--certs-dir");
		argv[k++] = load_arg(l->o->certs_dir);
	}
	if (l->o->allow_unsigned)
		argv[k++] = load_arg("--allow-unsigned");
	argv[k] = NULL;
}

/* In the child: its own process group (killed as one), dies with us. */
static _Noreturn void
load_child(struct load_run *l)
{
	char *argv[LOAD_ARGV_MAX];
	int nul;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    dup2(nul, 0) < 0 || dup2(l->out_fd, 1) < 0 || dup2(l->err_fd, 2) < 0)
		_exit(127);
	if (setenv("TMPDIR", l->tmp, 1) != 0)
		_exit(127);
	sigprocmask(SIG_SETMASK, &l->old, NULL);
	load_argv(l, argv);
	execv(l->svc, argv);
	dprintf(2, "ampscansvc: cannot run %s: %s\n", l->svc, strerror(errno));
	_exit(127);
}

/* Wait for the child; a held signal kills its group.  Then every
 * descendant (we are their subreaper) is reaped. */
static void
load_wait(struct load_run *l, int *ws)
{
	const struct timespec poll = { 0, LOAD_POLL_NS };
	pid_t p;
	int s;

	while ((p = waitpid(l->pid, ws, WNOHANG)) != l->pid) {
		if (p < 0 && errno != EINTR) {
			*ws = 0;
			break;
		}
		s = sigtimedwait(&l->held, NULL, &poll);
		if (s > 0 && s != SIGCHLD && l->sig == 0) {
			l->sig = s;
			kill(-l->pid, SIGKILL);
		}
	}
	kill(-l->pid, SIGKILL);          /* anything the check left running */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

/* Up to LOAD_OUTPUT_MAX - 1 bytes of an output file, NUL-terminated. */
static char *
load_slurp(int fd)
{
	char *b = malloc(LOAD_OUTPUT_MAX);
	ssize_t n;

	if (b == NULL)
		return NULL;
	n = fd_pread_full(fd, b, LOAD_OUTPUT_MAX - 1, 0);
	b[n > 0 ? n : 0] = '\0';
	return b;
}

/* " name-1 hdb=L/N cvd=L/N ...": databases, and the loaded counts summed. */
static void
load_parse_loaded(struct load_result *r, const char *p, const char *end)
{
	size_t used, dl = 0;
	uint64_t v;

	r->signatures = 0;
	r->dbs[0] = '\0';
	while (p < end) {
		const char *t = p, *eq;

		while (p < end && *p != ' ')
			p++;
		eq = memchr(t, '=', (size_t)(p - t));
		if (eq != NULL && num_prefix_u64(eq + 1, (size_t)(p - eq - 1), &used,
		    &v) == NUM_OK)
			r->signatures += v;
		else if (eq == NULL && p > t && dl + (size_t)(p - t) + 2 < sizeof(r->dbs))
			dl += (size_t)snprintf(r->dbs + dl, sizeof(r->dbs) - dl, "%s%.*s",
			    dl ? " " : "", (int)(p - t), t);
		while (p < end && *p == ' ')
			p++;
	}
}

/* The last line of text that starts with prefix (*end: its '\n' or NUL),
 * or NULL; prefix "" gives the last line that is not empty. */
static const char *
load_find_line(const char *text, const char *prefix, const char **end)
{
	const char *found = NULL, *p = text, *nl;
	size_t plen = strlen(prefix);

	for (;;) {
		if (strncmp(p, prefix, plen) == 0 && (plen > 0 ||
		    (*p != '\n' && *p != '\0')))
			found = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		p = nl + 1;
	}
	if (found != NULL) {
		nl = strchr(found, '\n');
		*end = nl ? nl : found + strlen(found);
	}
	return found;
}

/* ampscansvc's reason: its FAILED line, else its last line of stderr. */
static void
load_reason(struct load_run *l, const char *err, int ws)
{
	char prefix[LOAD_PATH_MAX + 64];
	const char *line, *end, *last, *last_end = NULL;

	snprintf(prefix, sizeof(prefix), "ampscansvc: check %s: FAILED: ", l->defs);
	if ((line = load_find_line(err, prefix, &end)) != NULL) {
		load_fail(l->r, LOAD_FAILED, "%.*s", (int)(end - line - strlen(prefix)),
		    line + strlen(prefix));
		return;
	}
	last = load_find_line(err, "", &last_end);
	if (last != NULL && strncmp(last, "ampscansvc: ", 12) == 0)
		last += 12;
	if (WIFSIGNALED(ws))
		load_fail(l->r, LOAD_FAILED, "ampscansvc was killed by signal %d%s%.*s",
		    WTERMSIG(ws), last ? ": " : "", last ? (int)(last_end - last) : 0,
		    last ? last : "");
	else if (last != NULL)
		load_fail(l->r, WEXITSTATUS(ws) == 2 ? LOAD_FAILED : LOAD_ERROR,
		    "%.*s", (int)(last_end - last), last);
	else
		load_fail(l->r, LOAD_ERROR, "ampscansvc exited with status %d and said nothing",
		    WEXITSTATUS(ws));
}

/* ampscansvc's verdict: exit 0 and "check DEFS: OK (...) ...", or why not. */
static int
load_verdict(struct load_run *l, int ws)
{
	char prefix[LOAD_PATH_MAX + 64], *out = load_slurp(l->out_fd);
	char *err = load_slurp(l->err_fd);
	const char *line, *end, *close;
	int rc = -1;

	snprintf(prefix, sizeof(prefix), "check %s: OK (", l->defs);
	if (out == NULL || err == NULL)
		load_fail(l->r, LOAD_ERROR, "out of memory");
	else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
	    (line = load_find_line(out, prefix, &end)) != NULL &&
	    (close = memchr(line, ')', (size_t)(end - line))) != NULL) {
		load_parse_loaded(l->r, close + 1, end);
		l->r->status = LOAD_OK;
		rc = 0;
	} else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		load_fail(l->r, LOAD_ERROR, "ampscansvc said OK without its OK line");
	} else {
		load_reason(l, err, ws);
	}
	free(out);
	free(err);
	return rc;
}

static int
load_exec(struct load_run *l)
{
	int ws = 0;

	if (load_output_file(l, "out", &l->out_fd) != 0 ||
	    load_output_file(l, "err", &l->err_fd) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	if ((l->pid = fork()) < 0)
		return load_fail(l->r, LOAD_ERROR, "fork: %s", strerror(errno));
	if (l->pid == 0)
		load_child(l);
	setpgid(l->pid, l->pid);
	load_wait(l, &ws);
	if (l->sig != 0)
		return load_fail(l->r, LOAD_ERROR, "interrupted by signal %d", l->sig);
	return load_verdict(l, ws);
}

/* A signal that arrived while the files were copied: stop before the check. */
static bool
load_signalled(struct load_run *l)
{
	const struct timespec now = { 0, 0 };
	int s;

	while ((s = sigtimedwait(&l->held, NULL, &now)) > 0)
		if (s != SIGCHLD && l->sig == 0)
			l->sig = s;
	return l->sig != 0;
}

/* Everything removed; a held signal then ends us as it would have. */
static void
load_cleanup(struct load_run *l)
{
	char err[512];

	if (l->defs_fd >= 0)
		close(l->defs_fd);
	if (l->out_fd >= 0)
		close(l->out_fd);
	if (l->err_fd >= 0)
		close(l->err_fd);
	if (l->tmp[0] != '\0' && activation_rmtree(l->tmp, err, sizeof(err)) != 0)
		fprintf(stderr, "cvdtool: warning: %s\n", err);
	if (l->sig != 0) {
		sigset_t one;

		fflush(stdout);
		fflush(stderr);
		signal(l->sig, SIG_DFL);
		sigemptyset(&one);
		sigaddset(&one, l->sig);
		sigprocmask(SIG_SETMASK, &l->old, NULL);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(l->sig);
	}
	sigprocmask(SIG_SETMASK, &l->old, NULL);
}

/* Hold SIGINT, SIGTERM, SIGHUP (those not ignored: a background job's
 * SIGINT stays ignored) and SIGCHLD for sigtimedwait. */
static void
load_hold_signals(struct load_run *l)
{
	static const int term[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	sigemptyset(&l->held);
	for (size_t i = 0; i < sizeof(term) / sizeof(term[0]); i++)
		if (sigaction(term[i], NULL, &sa) == 0 && sa.sa_handler != SIG_IGN)
			sigaddset(&l->held, term[i]);
	sigaddset(&l->held, SIGCHLD);
	sigprocmask(SIG_BLOCK, &l->held, &l->old);
}

int
load_run(const struct load_opts *o, const struct load_file *files, size_t n,
    struct load_result *r)
{
	struct load_run l = { .o = o, .r = r, .defs_fd = -1, .out_fd = -1,
	    .err_fd = -1 };
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->engine = o->engine;
	if (load_find_scansvc(&l) != 0)
		return -1;
	load_hold_signals(&l);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (load_make_tmp(&l) == 0 && load_stage(&l, files, n) == 0) {
		if (load_signalled(&l))
			load_fail(r, LOAD_ERROR, "interrupted by signal %d", l.sig);
		else
			rc = load_exec(&l);
	}
	load_cleanup(&l);
	return rc;
}

void
load_print(FILE *f, const struct load_result *r)
{
	switch (r->status) {
	case LOAD_OK:
		fprintf(f, "load: OK (%s) %llu signatures, canaries found (%s)\n",
		    r->engine, (unsigned long long)r->signatures, r->dbs);
		break;
	case LOAD_FAILED: fprintf(f, "load: FAILED: %s\n", r->reason); break;
	case LOAD_ERROR: fprintf(f, "load: ERROR: %s\n", r->reason); break;
	case LOAD_NOT_RUN: default: fprintf(f, "load: not run: %s\n", r->reason); break;
	}
}

void
load_json(struct jsonw *w, const struct load_result *r)
{
	static const char *const st[] = { "not-run", "ok", "failed", "error" };

	jsonw_key(w, "load");
	jsonw_obj_begin(w);
	jsonw_key_str(w, "status", st[r->status]);
	jsonw_key_str(w, "engine", r->engine);
	jsonw_key(w, "signatures");
	if (r->status == LOAD_OK)
		jsonw_uint(w, r->signatures);
	else
		jsonw_null(w);
	jsonw_key(w, "databases");
	jsonw_arr_begin(w);
	for (const char *p = r->dbs, *e; r->status == LOAD_OK && *p; p = *e ? e + 1 : e) {
		e = strchr(p, ' ') ? strchr(p, ' ') : p + strlen(p);
		jsonw_strn(w, p, (size_t)(e - p));
	}
	jsonw_arr_end(w);
	jsonw_key_str_or_null(w, "reason", r->status == LOAD_OK ? NULL : r->reason);
	jsonw_obj_end(w);
}
