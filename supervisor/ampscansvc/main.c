/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc: the scan worker.
 *
 *   ampscansvc --worker --defs DIR [--sock-fd N] [--index-fd N] ...
 *       started by ampdaemon only: loads the definitions (the index handed
 *       over as a descriptor, or DIR's index when fresh, else built in
 *       memory), enters its sandbox, sends READY, then answers SCAN
 *       requests (each carrying an open descriptor) until its socket closes.
 *   ampscansvc --check [--engine builtin|clamav] DIR
 *       trial load + canaries (clamav: in the worker's sandbox, with a
 *       private scratch directory); exit 0 = good, 2 = refused + reason
 *   ampscansvc --trial --defs-fd N:NAME... [--trusted-key-fd N]...
 *       the definitions pipeline's trial load: started by ampdaemon's
 *       update task exactly like a worker (scan user, no privilege,
 *       RLIMIT_AS, a time limit), the candidate set handed over as
 *       descriptors; loads it, enters the sandbox, scans the canary.
 *       --engine clamav: libclamav loads the set (--defs-dir-fd) too, in
 *       the clamav worker's sandbox (--scratch-fd), canaries included
 *   ampscansvc --scan [--engine clamav|builtin] [--defs PATH]... [--allmatch]
 *       [--detect-pua] [-r] PATH...
 *       a one-shot scanner printing clamscan's format; the engine is
 *       libclamav unless --engine builtin (engine_if.h)
 *   ampscansvc --build-index DIR [-o FILE]
 *       compile DIR's definitions into its index (ampdaemon runs this)
 *
 * Exit status: 0 success (--scan: nothing found), 1 (--scan) something
 * found, 2 an error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "num.h"
#include "svc.h"

#define SVC_KEY_PEM_MAX 65536   /* a trusted key handed over as an fd */
#define SVC_DEFAULT_SOCK_FD 3

static const char svc_usage[] =
"usage: ampscansvc --scan [--engine clamav|builtin] [--defs PATH]... [--allow-unsigned] [--allmatch] [--detect-pua]\n"
"                  [--alert-exceeds-max] [--alert-broken] [--alert-encrypted] ... [-r] PATH...\n"
"       ampscansvc --check DIR [--engine builtin|clamav] [--allow-unsigned] [--allow-partial] [--trusted-key K] [--certs-dir D]\n"
"       ampscansvc --build-index DIR [-o FILE]\n"
"       ampscansvc --worker --defs DIR [--sock-fd N] [--index-fd N [--index-verified]] [--allow-root]\n"
"       ampscansvc --worker --engine clamav --defs-dir-fd N --scratch-fd N [--source-id HEX] [--sock-fd N] [--allow-root]\n"
"       ampscansvc --loader [the options of --worker] [--scratch-root-fd N] [--huge-pages=yes|no]\n"
"       ampscansvc --trial --defs-fd N:NAME... [--trusted-key-fd N]... [--index-out-fd N --source-id HEX [--index-only]]\n"
"                  [--engine clamav --defs-dir-fd N --scratch-fd N] [--allow-unsigned] [--allow-partial] [--allow-root]\n"
"\n"
"The scan worker of ampscan.  ampdaemon starts it with --worker; the other\n"
"modes are for people, tests and the definitions pipeline.\n"
"\n"
"  --scan              scan files (and directories with -r), print `path: OK`,\n"
"                      `path: Name FOUND` or `path: reason ERROR` like clamscan\n"
"  --engine NAME       --scan, --check: clamav (libclamav, the default) or builtin;\n"
"                      --worker, --loader, --trial: builtin (the default) or clamav\n"
"  --defs-dir-fd N     (--worker/--trial --engine clamav) the definitions directory\n"
"  --scratch-fd N      (--worker/--trial --engine clamav) the private scratch directory:\n"
"                      libclamav's temporary files, the staged definitions\n"
"  --defs PATH         definitions: a directory, a container (.cvd/.cld/.cud) or a\n"
"                      plain signature file (.hdb .hsb .ndb .fp .sfp .ign2);\n"
"                      repeatable; default /var/lib/ampscan/defs/active\n"
"  --allow-unsigned    accept .cld/.cud containers and plain signature files\n"
"  --allow-partial     builtin: use a set even if the engine cannot load all of\n"
"                      it (without: exit 2 naming the types and counts it skips)\n"
"  --trusted-key K     also trust this public key (PEM) for signed containers\n"
"  --certs-dir D       check .cvd.sign files against these root certificates\n"
"  --allmatch          report every matching signature, not only the first\n"
"  --detect-pua[=yes|no]  clamav: load the PUA signatures (hdu hsu mdu msu ndu\n"
"                      ldu and the PUA lines of containers), as clamscan --detect-pua=yes\n"
"  --heuristic-alerts[=yes|no]  clamav: heuristic alerts (default yes)\n"
"  --heuristic-scan-precedence[=yes|no]  clamav: stop at the first heuristic match\n"
"  --alert-broken[=yes|no]  clamav: Heuristics.Broken.Executable (PE, ELF)\n"
"  --alert-encrypted[=yes|no], --alert-encrypted-archive, --alert-encrypted-doc\n"
"                      clamav: Heuristics.Encrypted.* for encrypted archives/documents\n"
"  --alert-exceeds-max[=yes|no]  clamav: a file over a limit is\n"
"                      Heuristics.Limits.Exceeded.<Limit> FOUND (default: what\n"
"                      clamd answers: the part within the limits decides)\n"
"  -r, --recursive     descend into directories\n"
"  --max-file-size N, --max-scan-size N, --max-recursion N, --max-files N\n"
"                      (also clamscan's --max-filesize, --max-scansize)\n"
"                      limits (sizes in bytes, K, M or G)\n"
"  --max-scan-time MS  clamav: stop scanning a file after MS milliseconds\n"
"  --check DIR         load DIR, scan the canaries (clamav: in the sandbox);\n"
"                      exit 0 only if all is well, 2 with the reason if not\n"
"  --build-index DIR   write DIR/" DEFS_INDEX_NAME " (or -o FILE)\n"
"  --worker            serve ampdaemon on --sock-fd (default 3)\n"
"  --loader            (ampdaemon's WorkerLaunch loader) the worker's options;\n"
"                      load once, then fork workers on request (docs/loader.md)\n"
"  --scratch-root-fd N (--loader --engine clamav) ScratchDir: its workers' directories\n"
"  --huge-pages[=yes|no]  (--loader) collapse the loaded engine into transparent\n"
"                      huge pages: faster forks and worker exits (default yes)\n"
"  --trial             (ampdaemon's update task) load the definitions given as\n"
"                      descriptors, enter the sandbox, scan the canary; exit 0\n"
"                      only if all is well\n"
"  --defs-fd N:NAME    (with --trial) descriptor N holds the definitions file NAME\n"
"  --trusted-key-fd N  (with --trial) descriptor N holds a trusted key (PEM)\n"
"  --index-out-fd N    (with --trial and --source-id HEX) write the compiled index\n"
"  --index-only        (with --trial) only compile and write the index (the\n"
"                      candidate's loader is the trial: WorkerLaunch loader)\n"
"                      to descriptor N: what ampdaemon activates once it checked it\n"
"  --source-id HEX     (--worker/--loader --engine clamav) the identity of the\n"
"                      set ampdaemon checked: a worker that finds another set\n"
"                      (an activation in progress) exits to be started again\n"
"  --fsize-limit N     (--worker/--loader --engine clamav) once the engine is\n"
"                      loaded, no file may grow beyond N bytes (RLIMIT_FSIZE,\n"
"                      soft and hard; a loader's workers inherit it): the load\n"
"                      itself stages the whole set, which may be bigger\n"
"  --index-verified    (with --index-fd) the index's checksum was checked by the\n"
"                      caller (ampdaemon): only its structure is checked again\n"
"  --version           print the version and exit\n"
"\n"
"Exit status: 0 clean/success, 1 a signature was found (--scan), 2 an error.\n";

static unsigned
svc_uint(const char *opt, const char *s)
{
	uint64_t v;

	if (num_size(s, strlen(s), &v) != NUM_OK || v > 0x7fffffff)
		svc_die("%s %s: not a number", opt, s);
	return (unsigned)v;
}

/* clamscan's --option[=yes|no]: no argument means yes. */
static bool
svc_yesno(const char *opt, const char *arg)
{
	if (arg == NULL || strcmp(arg, "yes") == 0)
		return true;
	if (strcmp(arg, "no") == 0)
		return false;
	svc_die("--%s=%s: give yes or no", opt, arg);
}

enum {
	OPT_SCAN = 256, OPT_CHECK, OPT_BUILD, OPT_WORKER, OPT_DEFS,
	OPT_ALLOW_UNSIGNED, OPT_ALLMATCH, OPT_SOCK_FD, OPT_INDEX_FD, OPT_INDEX_VERIFIED,
	OPT_ALLOW_ROOT, OPT_TRUSTED_KEY, OPT_CERTS_DIR, OPT_MAX_FILE_SIZE,
	OPT_MAX_SCAN_SIZE, OPT_MAX_RECURSION, OPT_MAX_FILES, OPT_VERSION,
	OPT_TRIAL, OPT_DEFS_FD, OPT_TRUSTED_KEY_FD, OPT_INDEX_OUT_FD, OPT_SOURCE_ID,
	OPT_ENGINE, OPT_MAX_SCAN_TIME, OPT_DEFS_DIR_FD, OPT_SCRATCH_FD,
	OPT_DETECT_PUA, OPT_HEUR_ALERTS, OPT_HEUR_PRECEDENCE, OPT_ALERT_BROKEN,
	OPT_ALERT_ENCRYPTED, OPT_ALERT_ENC_ARCHIVE, OPT_ALERT_ENC_DOC,
	OPT_ALERT_EXCEEDS_MAX, OPT_ALLOW_PARTIAL, OPT_INDEX_ONLY, OPT_LOADER, OPT_SCRATCH_ROOT_FD,
	OPT_HUGE_PAGES, OPT_FSIZE_LIMIT,
};

static const struct option svc_opts[] = {
	{ "scan", no_argument, NULL, OPT_SCAN },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "build-index", required_argument, NULL, OPT_BUILD },
	{ "worker", no_argument, NULL, OPT_WORKER },
	{ "trial", no_argument, NULL, OPT_TRIAL },
	{ "loader", no_argument, NULL, OPT_LOADER },
	{ "scratch-root-fd", required_argument, NULL, OPT_SCRATCH_ROOT_FD },
	{ "huge-pages", optional_argument, NULL, OPT_HUGE_PAGES },
	{ "defs-fd", required_argument, NULL, OPT_DEFS_FD },
	{ "trusted-key-fd", required_argument, NULL, OPT_TRUSTED_KEY_FD },
	{ "index-out-fd", required_argument, NULL, OPT_INDEX_OUT_FD },
	{ "source-id", required_argument, NULL, OPT_SOURCE_ID },
	{ "fsize-limit", required_argument, NULL, OPT_FSIZE_LIMIT },
	{ "defs", required_argument, NULL, OPT_DEFS },
	{ "allow-unsigned", no_argument, NULL, OPT_ALLOW_UNSIGNED },
	{ "allow-partial", no_argument, NULL, OPT_ALLOW_PARTIAL },
	{ "index-only", no_argument, NULL, OPT_INDEX_ONLY },
	{ "allmatch", no_argument, NULL, OPT_ALLMATCH },
	{ "recursive", no_argument, NULL, 'r' },
	{ "sock-fd", required_argument, NULL, OPT_SOCK_FD },
	{ "index-fd", required_argument, NULL, OPT_INDEX_FD },
	{ "index-verified", no_argument, NULL, OPT_INDEX_VERIFIED },
	{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
	{ "trusted-key", required_argument, NULL, OPT_TRUSTED_KEY },
	{ "certs-dir", required_argument, NULL, OPT_CERTS_DIR },
	{ "max-file-size", required_argument, NULL, OPT_MAX_FILE_SIZE },
	{ "max-scan-size", required_argument, NULL, OPT_MAX_SCAN_SIZE },
	{ "max-filesize", required_argument, NULL, OPT_MAX_FILE_SIZE },   /* clamscan's */
	{ "max-scansize", required_argument, NULL, OPT_MAX_SCAN_SIZE },   /* clamscan's */
	{ "max-recursion", required_argument, NULL, OPT_MAX_RECURSION },
	{ "max-files", required_argument, NULL, OPT_MAX_FILES },
	{ "max-scan-time", required_argument, NULL, OPT_MAX_SCAN_TIME },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "defs-dir-fd", required_argument, NULL, OPT_DEFS_DIR_FD },
	{ "scratch-fd", required_argument, NULL, OPT_SCRATCH_FD },
	{ "detect-pua", optional_argument, NULL, OPT_DETECT_PUA },
	{ "heuristic-alerts", optional_argument, NULL, OPT_HEUR_ALERTS },
	{ "heuristic-scan-precedence", optional_argument, NULL, OPT_HEUR_PRECEDENCE },
	{ "alert-broken", optional_argument, NULL, OPT_ALERT_BROKEN },
	{ "alert-encrypted", optional_argument, NULL, OPT_ALERT_ENCRYPTED },
	{ "alert-encrypted-archive", optional_argument, NULL, OPT_ALERT_ENC_ARCHIVE },
	{ "alert-encrypted-doc", optional_argument, NULL, OPT_ALERT_ENC_DOC },
	{ "alert-exceeds-max", optional_argument, NULL, OPT_ALERT_EXCEEDS_MAX },
	{ "output", required_argument, NULL, 'o' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
svc_version(void)
{
	char v[128];

	printf("ampscansvc %s (worker protocol %d)\n", AMPSCAN_VERSION,
	    WPROTO_VERSION);
	seng_libclamav_version(v, sizeof(v));
	printf("engines: builtin, clamav (%s)\n", v);
}

static void
svc_set_mode(struct svc *s, enum svc_mode m, const char *dir)
{
	if (s->mode != SVC_NONE)
		svc_die("give one of --scan, --check, --build-index, --worker, --loader, --trial");
	s->mode = m;
	s->dir = dir;
}

/*
 * The heuristic options need libclamav: the builtin engine has no
 * heuristics and no PUA signatures, so it refuses what would alert
 * (--heuristic-alerts and --heuristic-scan-precedence change nothing
 * there and are accepted).
 */
static void
svc_check_heur(const struct svc *s)
{
	const struct seng_heur *h = &s->heur;
	bool clamav_mode = s->backend == SENG_CLAMAV &&
	    (s->mode == SVC_SCAN || s->mode == SVC_WORKER || s->mode == SVC_LOADER);

	if (clamav_mode)
		return;
	if (s->detect_pua)
		svc_die("--detect-pua needs the clamav engine (--scan or --worker --engine clamav)");
	if (h->alert_broken || h->alert_encrypted_archive || h->alert_encrypted_doc ||
	    h->alert_exceeds_max)
		svc_die("--alert-broken, --alert-encrypted* and --alert-exceeds-max need the clamav engine: the builtin engine has no heuristics");
}

static void
svc_args(struct svc *s, int argc, char **argv)
{
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "ro:h", svc_opts, NULL)) != -1) {
		switch (ch) {
		case OPT_SCAN: svc_set_mode(s, SVC_SCAN, NULL); break;
		case OPT_CHECK: svc_set_mode(s, SVC_CHECK, optarg); break;
		case OPT_BUILD: svc_set_mode(s, SVC_BUILD, optarg); break;
		case OPT_WORKER: svc_set_mode(s, SVC_WORKER, NULL); break;
		case OPT_TRIAL: svc_set_mode(s, SVC_TRIAL, NULL); break;
		case OPT_LOADER: svc_set_mode(s, SVC_LOADER, NULL); break;
		case OPT_SCRATCH_ROOT_FD:
			s->scratch_root_fd = (int)svc_uint("--scratch-root-fd", optarg);
			break;
		case OPT_HUGE_PAGES: s->huge_pages = svc_yesno("huge-pages", optarg); break;
		case OPT_DEFS_FD: {
			char *colon = strchr(optarg, ':');

			if (colon == NULL || colon[1] == '\0' || strchr(colon + 1, '/'))
				svc_die("--defs-fd %s: give N:NAME (a file name)", optarg);
			*colon = '\0';
			if (s->ndefs_fds == SVC_MAX_DEFS)
				svc_die("too many --defs-fd");
			s->defs_fds[s->ndefs_fds] = (int)svc_uint("--defs-fd", optarg);
			s->defs_names[s->ndefs_fds++] = colon + 1;
			break;
		}
		case OPT_INDEX_OUT_FD:
			s->index_out_fd = (int)svc_uint("--index-out-fd", optarg);
			break;
		case OPT_FSIZE_LIMIT:
			if (num_size(optarg, strlen(optarg), &v) != NUM_OK || v == 0)
				svc_die("--fsize-limit %s: not a size", optarg);
			s->fsize_limit = v;
			break;
		case OPT_SOURCE_ID:
			if (strlen(optarg) != 64 || !num_unhex(optarg, 32, NUM_HEX_LOWER, s->source_id))
				svc_die("--source-id %s: 64 hex digits", optarg);
			s->have_source_id = true;
			break;
		case OPT_TRUSTED_KEY_FD:
			if (s->nkey_fds == 16)
				svc_die("too many --trusted-key-fd");
			s->key_fds[s->nkey_fds++] = (int)svc_uint("--trusted-key-fd", optarg);
			break;
		case OPT_DEFS:
			if (s->ndefs == SVC_MAX_DEFS)
				svc_die("too many --defs");
			s->defs[s->ndefs++] = optarg;
			break;
		case OPT_ALLOW_UNSIGNED: s->allow_unsigned = true; break;
		case OPT_ALLOW_PARTIAL: s->allow_partial = true; break;
		case OPT_INDEX_ONLY: s->index_only = true; break;
		case OPT_ALLMATCH: s->allmatch = true; break;
		case 'r': s->recursive = true; break;
		case 'o': s->out = optarg; break;
		case OPT_SOCK_FD: s->sock_fd = (int)svc_uint("--sock-fd", optarg); break;
		case OPT_INDEX_FD: s->index_fd = (int)svc_uint("--index-fd", optarg); break;
		case OPT_INDEX_VERIFIED: s->index_verified = true; break;
		case OPT_DEFS_DIR_FD: s->defs_dir_fd = (int)svc_uint("--defs-dir-fd", optarg); break;
		case OPT_SCRATCH_FD: s->scratch_fd = (int)svc_uint("--scratch-fd", optarg); break;
		case OPT_ALLOW_ROOT: s->allow_root = true; break;
		case OPT_TRUSTED_KEY:
			if (s->nkeys == 16)
				svc_die("too many --trusted-key");
			s->keys[s->nkeys++] = optarg;
			break;
		case OPT_CERTS_DIR: s->certs_dir = optarg; break;
		case OPT_MAX_FILE_SIZE:
		case OPT_MAX_SCAN_SIZE:
			if (num_size(optarg, strlen(optarg), &v) != NUM_OK)
				svc_die("%s: not a size", optarg);
			*(ch == OPT_MAX_FILE_SIZE ? &s->lim.max_file_size :
			    &s->lim.max_scan_size) = v;
			break;
		case OPT_MAX_RECURSION:
			s->lim.max_recursion = svc_uint("--max-recursion", optarg);
			s->recursion_set = true;
			break;
		case OPT_MAX_FILES: s->lim.max_files = svc_uint("--max-files", optarg); break;
		case OPT_MAX_SCAN_TIME: s->max_scan_time_ms = svc_uint("--max-scan-time", optarg); break;
		case OPT_ENGINE:
			if (!seng_backend_parse(optarg, &s->backend))
				svc_die("--engine %s: give clamav or builtin", optarg);
			s->backend_set = true;
			break;
		case OPT_DETECT_PUA: s->detect_pua = svc_yesno("detect-pua", optarg); break;
		case OPT_HEUR_ALERTS:
			s->heur.heuristic_alerts = svc_yesno("heuristic-alerts", optarg);
			break;
		case OPT_HEUR_PRECEDENCE:
			s->heur.precedence = svc_yesno("heuristic-scan-precedence", optarg);
			break;
		case OPT_ALERT_BROKEN:
			s->heur.alert_broken = svc_yesno("alert-broken", optarg);
			break;
		case OPT_ALERT_ENCRYPTED:
			s->heur.alert_encrypted_archive = s->heur.alert_encrypted_doc =
			    svc_yesno("alert-encrypted", optarg);
			break;
		case OPT_ALERT_ENC_ARCHIVE:
			s->heur.alert_encrypted_archive = svc_yesno("alert-encrypted-archive", optarg);
			break;
		case OPT_ALERT_ENC_DOC:
			s->heur.alert_encrypted_doc = svc_yesno("alert-encrypted-doc", optarg);
			break;
		case OPT_ALERT_EXCEEDS_MAX:
			s->heur.alert_exceeds_max = svc_yesno("alert-exceeds-max", optarg);
			break;
		case OPT_VERSION: svc_version(); exit(0);
		case 'h': fputs(svc_usage, stdout); exit(0);
		default: fputs(svc_usage, stderr); exit(2);
		}
	}
	if (s->mode == SVC_NONE) {
		fputs(svc_usage, stderr);
		exit(2);
	}
	/*
	 * --scan and --check default to clamav (ampdaemon's Engine default: an
	 * operator's --check loads a set the way the daemon will); --worker and
	 * --trial to builtin (ampdaemon always names clamav to them).
	 * --build-index is the builtin's.
	 */
	if (s->backend_set && s->mode == SVC_BUILD)
		svc_die("--engine is not for --build-index (the index is the builtin engine's)");
	if (!s->backend_set)
		s->backend = s->mode == SVC_SCAN || s->mode == SVC_CHECK ?
		    SENG_CLAMAV : SENG_BUILTIN;
	if ((s->mode == SVC_WORKER || s->mode == SVC_TRIAL || s->mode == SVC_LOADER) &&
	    s->backend == SENG_CLAMAV && (s->defs_dir_fd < 0 || s->scratch_fd < 0))
		svc_die("--%s --engine clamav needs --defs-dir-fd N and --scratch-fd N",
		    s->mode == SVC_WORKER ? "worker" : s->mode == SVC_LOADER ?
		    "loader" : "trial");
	if (s->mode == SVC_LOADER && s->backend == SENG_CLAMAV && s->scratch_root_fd < 0)
		svc_die("--loader --engine clamav needs --scratch-root-fd N (ScratchDir)");
	svc_check_heur(s);
}

static void
svc_trust(struct svc *s)
{
	char err[512];

	if (cvd_trust_new(0, &s->trust) != 0)
		svc_die("out of memory");
	for (size_t i = 0; i < s->nkeys; i++)
		if (cvd_trust_add_key_file(s->trust, s->keys[i], err, sizeof(err)))
			svc_die("%s", err);
	for (size_t i = 0; i < s->nkey_fds; i++) {
		char *pem = malloc(SVC_KEY_PEM_MAX), name[32];
		size_t len = 0;
		ssize_t n;

		if (pem == NULL)
			svc_die("out of memory");
		while (len < SVC_KEY_PEM_MAX && ((n = read(s->key_fds[i], pem + len,
		    SVC_KEY_PEM_MAX - len)) > 0 || (n < 0 && errno == EINTR)))
			len += n > 0 ? (size_t)n : 0;
		snprintf(name, sizeof(name), "trusted key (fd %d)", s->key_fds[i]);
		if (cvd_trust_add_key_pem(s->trust, pem, len, name, err, sizeof(err)))
			svc_die("%s", err);
		free(pem);
		close(s->key_fds[i]);
	}
	if (s->certs_dir && cvd_trust_set_certs_dir(s->trust, s->certs_dir, err,
	    sizeof(err)))
		svc_die("%s", err);
	s->dopts.trust = s->trust;
	s->dopts.allow_unsigned = s->allow_unsigned;
}

int
main(int argc, char **argv)
{
	struct svc s = { .sock_fd = SVC_DEFAULT_SOCK_FD, .index_fd = -1,
	    .index_out_fd = -1, .defs_dir_fd = -1, .scratch_fd = -1,
	    .scratch_root_fd = -1, .mem_fd = -1, .huge_pages = true,
	    .heur = SENG_HEUR_DEFAULTS };
	int rc = 2;

	walk_limits_default(&s.lim);
	svc_args(&s, argc, argv);
	svc_trust(&s);
	switch (s.mode) {
	case SVC_SCAN: rc = svc_scan(&s, argc - optind, argv + optind); break;
	case SVC_CHECK: rc = svc_check(&s); break;
	case SVC_BUILD: rc = svc_build(&s); break;
	case SVC_WORKER:
		rc = s.backend == SENG_CLAMAV ? svc_worker_clamav(&s) :
		    svc_worker(&s);
		break;
	case SVC_TRIAL: rc = svc_trial(&s); break;
	case SVC_LOADER: rc = svc_loader(&s); break;
	case SVC_NONE: break;
	}
	walk_free(s.walk);
	engine_free(s.engine);
	seng_free(s.seng);
	cvd_trust_free(s.trust);
	return rc;
}
