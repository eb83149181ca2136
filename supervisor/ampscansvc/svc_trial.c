/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc --trial: the definitions pipeline's trial load, started by
 * ampdaemon's update task like a worker; the candidate set comes as
 * descriptors, is loaded, compiled (the index written) and the canary
 * scanned in the sandbox.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "svc.h"

/*
 * The candidate set from its descriptors.  Signatures were checked by
 * ampdaemon (as root, with the certificates); here the containers are
 * verified again with the keys (no .sign: nothing is opened by path) and
 * every signature is loaded and compiled: the work, and the memory, a
 * worker's index stands for.
 */
static void
svc_trial_load(struct svc *s)
{
	struct cvd_verify_opts vo = { .trust = s->trust, .no_sign = true,
	    .allow_unsigned = s->allow_unsigned };
	struct engine_builder *b;
	char err[1024];
	int rc;

	if (s->ndefs_fds == 0)
		svc_die("--trial needs at least one --defs-fd N:NAME");
	if (engine_builder_new(&b) != 0)
		svc_die("out of memory");
	for (size_t i = 0; i < s->ndefs_fds; i++) {
		const char *name = s->defs_names[i], *dot = strrchr(name, '.');
		bool container = dot != NULL && (strcmp(dot, ".cvd") == 0 ||
		    strcmp(dot, ".cld") == 0 || strcmp(dot, ".cud") == 0);

		if (!container && !s->allow_unsigned)
			svc_die("%s: a plain signature file needs --allow-unsigned", name);
		rc = container ? engine_builder_add_container_fd(b, s->defs_fds[i],
		    name, &vo, err, sizeof(err)) :
		    engine_builder_add_file_fd(b, s->defs_fds[i], name, err,
		    sizeof(err));
		if (rc != 0) {
			engine_builder_free(b);
			svc_die("trial: %s", err);
		}
		close(s->defs_fds[i]);
	}
	if (s->have_source_id)
		engine_builder_set_source_id(b, s->source_id);
	if (engine_builder_finish(b, &s->engine, err, sizeof(err)) != 0)
		svc_die("trial: cannot compile the definitions: %s", err);
	if (s->index_out_fd >= 0) {
		if (!s->have_source_id)
			svc_die("--index-out-fd needs --source-id");
		if (engine_index_write(s->engine, s->index_out_fd, err,
		    sizeof(err)) != 0)
			svc_die("trial: cannot write the index: %s", err);
		close(s->index_out_fd);
	}
}

/* Test builds' probes: the marker scanned by the trial's engine. */
#ifdef AMPSCAN_TEST_HOOKS
static bool
svc_trial_probe(struct svc *s, const char *marker, const char *name,
    struct wproto_result *r)
{
	if (s->seng != NULL)
		return seng_test_marker(s->seng, marker, name, r);
	walk_scan_buffer(s->walk, (const uint8_t *)marker, strlen(marker),
	    name, 0, r);
	return r->verdict == WPROTO_FOUND;
}

static void
svc_trial_hooks(struct svc *s)
{
	struct wproto_result r;

	/* definitions that detect this marker make the trial take 3 s (a
	 * test sees the step in status) ... */
	if (svc_trial_probe(s, "AMPSCAN-TEST-TRIALSLOW-MARKER", "trial-slow-probe", &r)) {
		struct timespec ts = { 3, 0 };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	/* ... and this one crash it (the rejection tests). */
	if (svc_trial_probe(s, "AMPSCAN-TEST-TRIALCRASH-MARKER", "trial-crash-probe", &r)) {
		fprintf(stderr, "ampscansvc: test hook: the definitions detect the trial crash marker (%s)\n",
		    r.names[0].sig);
		fflush(stderr);
		raise(SIGSEGV);
	}
}
#endif

/* The builtin engine: the canary before and in the sandbox. */
static void
svc_trial_builtin(struct svc *s)
{
	struct wproto_result r;
	char err[512];

	if (walk_new(s->engine, &s->lim, &s->walk) != 0)
		svc_die("out of memory");
	/* every code path of a scan once before the sandbox (svc_warm_up) */
	walk_scan_buffer(s->walk, (const uint8_t *)svc_canary,
	    sizeof(svc_canary) - 1, "canary", WPROTO_SCAN_ALLMATCH, &r);
	if (sandbox_enter(err, sizeof(err)) != 0)
		svc_die("sandbox: %s", err);
	svc_sandboxed = true;
	walk_scan_buffer(s->walk, (const uint8_t *)svc_canary,
	    sizeof(svc_canary) - 1, "canary", WPROTO_SCAN_ALLMATCH, &r);
	if (r.verdict == WPROTO_ERROR)
		svc_die("trial: the canary scan failed: %s", r.note);
}

/*
 * --trial --engine clamav: what a worker will do with the set, the same
 * way.  No builtin engine is compiled (ampdaemon asks for no index: its
 * clamav workers do not use one) unless --index-out-fd asks for one, which
 * is written first and freed, so RLIMIT_AS (TrialMemoryLimit) bounds
 * libclamav's load alone; then the
 * candidate set (--defs-dir-fd) is loaded with libclamav, its counts
 * checked against the verified ones, the sandbox entered with the scratch
 * directory (--scratch-fd) and the canaries run under it.  A refusal
 * exits 2 with libclamav's reason on the last line of stderr.
 */
static void
svc_trial_clamav(struct svc *s)
{
	char err[1024];

	engine_free(s->engine);
	s->engine = NULL;
	signal(SIGXFSZ, SIG_IGN);
	if (svc_clamav_load(s, err, sizeof(err)) != 0)
		svc_die("trial: %s", err);
	if (svc_clamav_sandbox(s, err, sizeof(err)) != 0)
		svc_die("trial: %s", err);
}

int
svc_trial(struct svc *s)
{
	struct wproto_ready m;
	char err[512];

	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	/* clamav: the containers are verified with the keys as they are
	 * staged for libclamav (svc_clamav_load), the builtin is not needed */
	if (s->backend != SENG_CLAMAV || s->index_out_fd >= 0)
		svc_trial_load(s);
	if (s->index_only) {
		/* WorkerLaunch loader: the candidate's loader loads the set,
		 * enters its sandbox and runs the canaries: the trial proper */
		if (s->index_out_fd < 0)
			svc_die("--index-only needs --index-out-fd");
		printf("trial: index written (the candidate's loader loads the set)\n");
		svc_exit(0);
	}
	if (s->backend == SENG_CLAMAV) {
		svc_trial_clamav(s);
	} else {
		svc_whole_set(s, s->engine, "trial: ", "the candidate set");
		svc_trial_builtin(s);
	}
#ifdef AMPSCAN_TEST_HOOKS
	svc_trial_hooks(s);
#endif
	memset(&m, 0, sizeof(m));
	if (s->seng != NULL)
		seng_info(s->seng, &m);
	else
		svc_info_ready(s->engine, &m);
	printf("trial: OK (%s)", seng_backend_name(s->backend));
	svc_print_loaded(&m, ':', false);
	svc_exit(0);
}
