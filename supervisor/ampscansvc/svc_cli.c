/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc's modes for people and tools: --scan (a one-shot scanner
 * printing clamscan's format), --check DIR (a trial load and the
 * canaries) and --build-index DIR.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "svc.h"

/* --scan: every --defs into one engine of the chosen backend. */
static void
svc_load_defs(struct svc *s)
{
	static const char *const dflt[] = { "/var/lib/ampscan/defs/active" };
	const char *const *defs = s->ndefs ? s->defs : dflt;
	size_t n = s->ndefs ? s->ndefs : 1;
	struct seng_opts o = { .lim = s->lim, .dopts = &s->dopts,
	    .max_scan_time_ms = s->max_scan_time_ms ? s->max_scan_time_ms :
	    SENG_DEFAULT_MAX_SCAN_TIME_MS, .pua = s->detect_pua, .heur = s->heur };
	char err[1024];

	if (s->backend == SENG_CLAMAV) {
		if (!s->recursion_set)
			o.lim.max_recursion = SENG_CLAMAV_DEFAULT_MAX_RECURSION;
		svc_make_scratch(s);
		o.scratch = s->scratch;
	}
	if (seng_new(s->backend, &o, &s->seng, err, sizeof(err)) != 0)
		svc_fail(s, "cannot start the %s engine: %s",
		    seng_backend_name(s->backend), err);
	for (size_t i = 0; i < n; i++)
		if (seng_load(s->seng, defs[i], err, sizeof(err)) != 0)
			svc_fail(s, "cannot load definitions: %s", err);
	if (seng_compile(s->seng, err, sizeof(err)) != 0)
		svc_fail(s, "cannot load definitions: %s", err);
	svc_whole_set(s, seng_builtin_engine(s->seng), "", n == 1 ? defs[0] :
	    "the --defs given");
}

static void
svc_print_result(struct svc *s, const char *path, const struct wproto_result *r)
{
	if (r->verdict == WPROTO_ERROR) {
		printf("%s: %s ERROR\n", path, r->note);
		s->errors++;
		return;
	}
	if (r->verdict == WPROTO_FOUND) {
		for (uint32_t i = 0; i < r->nnames; i++)
			printf("%s: %s FOUND\n", path, r->names[i].sig);
		s->found++;
	} else {
		printf("%s: OK\n", path);
	}
	if (r->note[0] != '\0')
		fprintf(stderr, "%s: note: %s\n", path, r->note);
}

static void svc_scan_path(struct svc *s, const char *path, bool top);

static void
svc_scan_dir(struct svc *s, const char *path)
{
	struct dirent **ents;
	char sub[4096];
	int n = scandir(path, &ents, NULL, alphasort);

	if (n < 0) {
		printf("%s: %s ERROR\n", path, strerror(errno));
		s->errors++;
		return;
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") != 0 &&
		    strcmp(ents[i]->d_name, "..") != 0) {
			snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
			svc_scan_path(s, sub, false);
		}
		free(ents[i]);
	}
	free(ents);
}

static void
svc_scan_path(struct svc *s, const char *path, bool top)
{
	struct wproto_result r;
	struct stat st;
	int fd;

	if (lstat(path, &st) != 0) {
		printf("%s: %s ERROR\n", path, strerror(errno));
		s->errors++;
		return;
	}
	if (S_ISLNK(st.st_mode) && !top)
		return;   /* like clamscan: symlinks inside a walk are not followed */
	if (S_ISDIR(st.st_mode) || (S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
	    S_ISDIR(st.st_mode))) {
		if (s->recursive)
			svc_scan_dir(s, path);
		else
			fprintf(stderr, "%s: is a directory (use -r)\n", path);
		return;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		printf("%s: %s ERROR\n", path, strerror(errno));
		s->errors++;
		return;
	}
	seng_scan_fd(s->seng, fd, path, s->allmatch ? WPROTO_SCAN_ALLMATCH : 0, &r);
	close(fd);
	svc_print_result(s, path, &r);
}

int
svc_scan(struct svc *s, int argc, char **argv)
{
	if (argc < 1)
		svc_die("--scan needs at least one PATH");
	svc_load_defs(s);
	for (int i = 0; i < argc; i++)
		svc_scan_path(s, argv[i], true);
	fflush(stdout);
	seng_free(s->seng);
	s->seng = NULL;
	svc_remove_scratch(s);
	return s->errors ? 2 : s->found ? 1 : 0;
}

/*
 * --check --engine clamav, in a child: load DIR with libclamav (counts
 * checked against the verified ones), enter the worker's sandbox with a
 * private scratch directory, run the canaries.  Exits 0 or 2 + reason.
 */
static _Noreturn void
svc_check_clamav_child(struct svc *s)
{
	static char outbuf[8192];
	struct wproto_ready m;
	char err[1024];

	/* stdout's buffer now: stdio would otherwise ask isatty (an ioctl
	 * the sandbox refuses) at the first printf when stdout is a device */
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	signal(SIGXFSZ, SIG_IGN);
	if ((s->scratch_fd = open(s->scratch, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		svc_die("check %s: FAILED: scratch directory %s: %s", s->dir,
		    s->scratch, strerror(errno));
	if ((s->defs_dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		svc_die("check %s: FAILED: %s", s->dir, strerror(errno));
	if (svc_clamav_load(s, err, sizeof(err)) != 0 ||
	    svc_clamav_sandbox(s, err, sizeof(err)) != 0)
		svc_die("check %s: FAILED: %s", s->dir, err);
	memset(&m, 0, sizeof(m));
	seng_info(s->seng, &m);
	printf("check %s: OK (clamav)", s->dir);
	svc_print_loaded(&m, '-', true);
	svc_exit(0);
}

/* The scratch directory is removed by the parent, outside the sandbox. */
static int
svc_check_clamav(struct svc *s)
{
	pid_t pid;
	int ws = 0;

	svc_make_scratch(s);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0)
		svc_fail(s, "check %s: FAILED: fork: %s", s->dir, strerror(errno));
	if (pid == 0)
		svc_check_clamav_child(s);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	svc_remove_scratch(s);
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws) == 0 ? 0 : 2;
	fprintf(stderr, "ampscansvc: check %s: FAILED: the check was killed by signal %d\n",
	    s->dir, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	return 2;
}

int
svc_check(struct svc *s)
{
	struct engine_result er;
	struct wproto_ready m;
	char err[1024];
	bool from_index;

	if (s->backend == SENG_CLAMAV)
		return svc_check_clamav(s);
	if (defs_engine(s->dir, &s->dopts, &s->engine, &from_index, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ampscansvc: check %s: FAILED: %s\n", s->dir, err);
		return 2;
	}
	{
		char prefix[4200];

		snprintf(prefix, sizeof(prefix), "check %s: FAILED: ", s->dir);
		svc_whole_set(s, s->engine, prefix, s->dir);
	}
	if (engine_scan(s->engine, (const uint8_t *)svc_canary,
	    sizeof(svc_canary) - 1, ENGINE_SCAN_ALLMATCH, &er) != 0) {
		fprintf(stderr, "ampscansvc: check %s: FAILED: canary scan\n", s->dir);
		return 2;
	}
	svc_info_ready(s->engine, &m);
	printf("check %s: OK (%s)", s->dir, from_index ? "index" : "built");
	svc_print_loaded(&m, '-', true);
	return 0;
}

int
svc_build(struct svc *s)
{
	char out[4096], err[1024];

	snprintf(out, sizeof(out), "%s/%s", s->dir, DEFS_INDEX_NAME);
	if (defs_build_index(s->dir, s->out ? s->out : out, &s->dopts, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ampscansvc: build-index %s: %s\n", s->dir, err);
		return 2;
	}
	printf("index written: %s\n", s->out ? s->out : out);
	return 0;
}
