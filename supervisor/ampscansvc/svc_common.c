/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc: what the modes share: exit and error reporting, the private
 * scratch directory, the canary and the READY counts, and the clamav
 * engine's load and sandbox (the worker, the trial and --check).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procmem.h"
#include "sandbox.h"
#include "svc.h"

const char svc_canary[sizeof(SVC_CANARY_TEXT)] = SVC_CANARY_TEXT;

bool svc_sandboxed;   /* see svc.h */

_Noreturn void
svc_exit(int status)
{
	fflush(stdout);
	fflush(stderr);
	if (svc_sandboxed)
		_exit(status);
	exit(status);
}

static _Noreturn void svc_vdie(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static void
svc_vdie(const char *fmt, va_list ap)
{
	fputs("ampscansvc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	svc_exit(2);
}

void
svc_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	svc_vdie(fmt, ap);
}

/* svc_die, after freeing the engine and removing the scratch directory. */
void
svc_fail(struct svc *s, const char *fmt, ...)
{
	va_list ap;

	seng_free(s->seng);
	s->seng = NULL;
	svc_remove_scratch(s);
	va_start(ap, fmt);
	svc_vdie(fmt, ap);
}

/* --scan: a private scratch directory under $TMPDIR (libclamav's files). */
void
svc_make_scratch(struct svc *s)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(s->scratch, sizeof(s->scratch), "%s/ampscansvc.XXXXXX",
	    tmp) >= sizeof(s->scratch) - 64)
		svc_die("TMPDIR %s: too long", tmp);
	if (mkdtemp(s->scratch) == NULL)
		svc_die("cannot make a scratch directory in %s: %s", tmp,
		    strerror(errno));
}

/* Empty and remove the scratch directory (files libclamav left, if any). */
void
svc_remove_scratch(struct svc *s)
{
	char sub[4200];
	static const char *const dirs[] = { "tmp", "stage" };

	if (s->scratch[0] == '\0')
		return;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct dirent **ents;
		int n;

		snprintf(sub, sizeof(sub), "%s/%s", s->scratch, dirs[i]);
		if ((n = scandir(sub, &ents, NULL, NULL)) < 0)
			continue;
		for (int k = 0; k < n; k++) {
			char f[4500];

			snprintf(f, sizeof(f), "%s/%s", sub, ents[k]->d_name);
			if (ents[k]->d_name[0] != '.' || (strcmp(ents[k]->d_name, ".") &&
			    strcmp(ents[k]->d_name, "..")))
				unlink(f);
			free(ents[k]);
		}
		free(ents);
		rmdir(sub);
	}
	rmdir(s->scratch);
	s->scratch[0] = '\0';
}

void
svc_info_ready(const struct engine *e, struct wproto_ready *m)
{
	static const char *const types[] = { "hdb", "hsb", "ndb", "fp", "sfp",
	    "ign2", "other" };
	struct engine_info info;

	memset(m, 0, sizeof(*m));
	engine_info(e, &info);
	m->proto = WPROTO_VERSION;
	snprintf(m->version, sizeof(m->version), "%s", AMPSCAN_VERSION);
	for (size_t i = 0; i < info.ndbs && i < WPROTO_MAX_DBS; i++) {
		snprintf(m->dbs[i].name, sizeof(m->dbs[i].name), "%s", info.dbs[i].name);
		m->dbs[i].version = info.dbs[i].version;
		snprintf(m->dbs[i].kind, sizeof(m->dbs[i].kind), "%s", info.dbs[i].kind);
		m->ndbs++;
	}
	for (int t = 0; t <= SIG_TYPE_OTHER; t++) {
		snprintf(m->types[t].type, sizeof(m->types[t].type), "%s", types[t]);
		m->types[t].loaded = info.loaded[t];
		m->types[t].not_loaded = t == SIG_TYPE_OTHER ? info.other_types :
		    info.not_loaded[t];
		m->ntypes++;
	}
}

/* " name-1 name-2 hdb=L/N ...": what a check loaded (sep: '-' or ':'). */
void
svc_print_loaded(const struct wproto_ready *m, char sep, bool types)
{
	for (uint32_t i = 0; i < m->ndbs; i++)
		printf(" %s%c%u", m->dbs[i].name, sep, m->dbs[i].version);
	for (uint32_t i = 0; types && i < m->ntypes; i++)
		if (m->types[i].loaded || m->types[i].not_loaded)
			printf(" %s=%llu/%llu", m->types[i].type,
			    (unsigned long long)m->types[i].loaded,
			    (unsigned long long)m->types[i].not_loaded);
	putchar('\n');
}

/*
 * A worker's set must be the one ampdaemon's index names: an activation
 * moves files into active/ one rename at a time, so a worker started
 * meanwhile could read old and new containers side by side.  active/'s
 * identity (names, sizes, mtimes, headers: defs_source_id) is taken before
 * and after the load; either differing from the index's ends the worker
 * with WPROTO_EXIT_DEFS_CHANGED, and ampdaemon starts it again.
 */
void
svc_defs_unchanged(struct svc *s, const char *defs, const char *when)
{
	uint8_t have[32];
	char e[512];

	if (!s->defs_want_set)
		return;
	if (defs_source_id(defs, have, e, sizeof(e)) != 0)
		svc_die("definitions %s the load: %s", when, e);
	if (memcmp(have, s->defs_want, sizeof(have)) != 0) {
		fprintf(stderr, "ampscansvc: the definitions changed %s the load "
		    "(not the set ampdaemon's index names: an activation in "
		    "progress); exiting to be started again\n", when);
		seng_free(s->seng);
		s->seng = NULL;
		svc_exit(WPROTO_EXIT_DEFS_CHANGED);
	}
}

/*
 * --worker --engine clamav.  Before the sandbox: load the definitions from
 * the directory ampdaemon opened (--defs-dir-fd; staged and verified into
 * SCRATCH/stage, which is removed once compiled) and compile them; fchdir
 * into the scratch directory (--scratch-fd), libclamav's temporary files
 * going to ".".  Then the sandbox (file operations beneath the scratch
 * directory only, /etc/localtime), then the canaries under it, and only
 * then READY.  Any failure: exit 2 with the reason (a start failure).
 */
int
svc_clamav_load(struct svc *s, char *err, size_t errlen)
{
	char scratch[64], defs[64], e[900];
	struct seng_opts o = { .lim = s->lim, .dopts = &s->dopts,
	    .max_scan_time_ms = s->max_scan_time_ms ? s->max_scan_time_ms :
	    SENG_DEFAULT_MAX_SCAN_TIME_MS, .tmpdir = ".", .canary_later = true,
	    .pua = s->detect_pua, .heur = s->heur };

	if (!s->recursion_set)
		o.lim.max_recursion = SENG_CLAMAV_DEFAULT_MAX_RECURSION;
	snprintf(scratch, sizeof(scratch), "/proc/self/fd/%d", s->scratch_fd);
	snprintf(defs, sizeof(defs), "/proc/self/fd/%d", s->defs_dir_fd);
	o.scratch = scratch;
	if (seng_new(SENG_CLAMAV, &o, &s->seng, e, sizeof(e)) != 0) {
		snprintf(err, errlen, "cannot start the clamav engine: %s", e);
		return -1;
	}
	svc_defs_unchanged(s, defs, "before");
	if (seng_load(s->seng, defs, e, sizeof(e)) != 0 ||
	    seng_compile(s->seng, e, sizeof(e)) != 0) {
		snprintf(err, errlen, "cannot load definitions: %s", e);
		seng_free(s->seng);      /* what libclamav loaded before failing */
		s->seng = NULL;
		return -1;
	}
	svc_defs_unchanged(s, defs, "after");
	close(s->defs_dir_fd);
	s->defs_dir_fd = -1;
	return 0;
}

/*
 * Under the sandbox, before the canaries: a file can be made, written and
 * removed in the scratch directory (the cwd).  libclamav does not always
 * fail a scan whose temporary directory it cannot create (the canaries are
 * still found then), so this is checked on its own.
 */
void
svc_scratch_probe(struct svc *s)
{
	static const char name[] = "ampscan-scratch-probe";
	int fd = openat(AT_FDCWD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);

	if (fd < 0)
		svc_fail(s, "scratch directory not writable in the sandbox: %s", strerror(errno));
	if (write(fd, "x", 1) != 1) {
		int e = errno;

		close(fd);
		unlinkat(AT_FDCWD, name, 0);
		svc_fail(s, "scratch directory: cannot write a file in the sandbox: %s", strerror(e));
	}
	close(fd);
	if (unlinkat(AT_FDCWD, name, 0) != 0)
		svc_fail(s, "scratch directory: cannot remove a file in the sandbox: %s", strerror(errno));
}

/*
 * The clamav engine loaded: fchdir into the scratch directory (libclamav's
 * temporary files go to "."), enter the sandbox, prove the scratch
 * directory writable and run the canaries under it (the trial and
 * --check; the worker does the same with its test hook in between).
 */
int
svc_clamav_sandbox(struct svc *s, char *err, size_t errlen)
{
	char e[900];

	if (fchdir(s->scratch_fd) != 0) {
		snprintf(err, errlen, "scratch directory (fd %d): %s", s->scratch_fd,
		    strerror(errno));
		return -1;
	}
	if (sandbox_enter_opts(&(struct sandbox_opts){
	    .flags = SANDBOX_SCRATCH | SANDBOX_LOCALTIME,
	    .scratch_fd = s->scratch_fd, .sock_fd = s->sock_fd }, e, sizeof(e)) != 0) {
		snprintf(err, errlen, "sandbox: %s", e);
		return -1;
	}
	svc_sandboxed = true;
	svc_scratch_probe(s);
	if (seng_check_canaries(s->seng, e, sizeof(e)) != 0) {
		snprintf(err, errlen, "canary check in the sandbox failed: %s", e);
		return -1;
	}
	return 0;
}

/*
 * Issue 15: the builtin engine never runs silently partial.  If e (the
 * builtin engine's) leaves out signatures libclamav would load, exit 2
 * naming the types and counts ("PREFIXthe builtin engine cannot load 1
 * ldb ... signatures of WHAT (...)"), unless --allow-partial, which turns
 * it into a note on stderr.  The hint names the daemon's keys for the
 * modes ampdaemon runs, the options for the others.
 */
void
svc_whole_set(const struct svc *s, const struct engine *e, const char *prefix,
    const char *what)
{
	bool daemon = s->mode == SVC_TRIAL || s->mode == SVC_WORKER ||
	    s->mode == SVC_LOADER;
	char gaps[256];
	unsigned long long n;

	if (e == NULL || (n = seng_builtin_gaps(e, gaps, sizeof(gaps))) == 0)
		return;
	if (s->allow_partial) {
		fprintf(stderr, "ampscansvc: note: the builtin engine does not load %llu signatures of %s: %s (%s)\n",
		    n, what, gaps, daemon ? "AllowPartialEngine yes" : "--allow-partial");
		return;
	}
	svc_die("%sthe builtin engine cannot load %llu signatures of %s: %s (use %s)",
	    prefix, n, what, gaps, daemon ? "Engine clamav, or AllowPartialEngine yes" :
	    "--engine clamav, or --allow-partial");
}

void
svc_mem_open(struct svc *s)
{
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	s->mem_fd = procmem_open();
	s->mem_err = s->mem_fd < 0 ? errno : 0;
	if (s->mem_fd < 0)
		fprintf(stderr, "ampscansvc: %s: %s (its memory is not reported)\n",
		    PROCMEM_PATH, strerror(errno));
}

int
svc_mem_send(struct svc *s, uint64_t id, struct wbuf *out)
{
	struct wproto_mem m = { .err = (uint32_t)s->mem_err };
	struct procmem pm;
	int rc;

	if (s->mem_fd >= 0) {
		if ((rc = procmem_read(s->mem_fd, &pm)) == 0) {
			m.rss = pm.rss;
			m.pss = pm.pss;
			m.priv = pm.priv;
		} else {
			m.err = (uint32_t)-rc;
		}
	}
	if (wproto_encode_mem(out, id, &m) != 0)
		return -EMSGSIZE;
	return wproto_send(s->sock_fd, out, -1);
}
