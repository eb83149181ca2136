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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "defs.h"
#include "engine_if.h"
#include "num.h"
#include "sandbox.h"
#include "walk.h"
#include "wproto.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define SVC_MAX_DEFS 32
#define SVC_KEY_PEM_MAX 65536   /* a trusted key handed over as an fd */
#define SVC_DEFAULT_SOCK_FD 3

static const char svc_usage[] =
"usage: ampscansvc --scan [--engine clamav|builtin] [--defs PATH]... [--allow-unsigned] [--allmatch] [--detect-pua]\n"
"                  [--alert-exceeds-max] [--alert-broken] [--alert-encrypted] ... [-r] PATH...\n"
"       ampscansvc --check DIR [--engine builtin|clamav] [--allow-unsigned] [--trusted-key K] [--certs-dir D]\n"
"       ampscansvc --build-index DIR [-o FILE]\n"
"       ampscansvc --worker --defs DIR [--sock-fd N] [--index-fd N [--index-verified]] [--allow-root]\n"
"       ampscansvc --worker --engine clamav --defs-dir-fd N --scratch-fd N [--sock-fd N] [--allow-root]\n"
"       ampscansvc --trial --defs-fd N:NAME... [--trusted-key-fd N]... [--index-out-fd N --source-id HEX]\n"
"                  [--engine clamav --defs-dir-fd N --scratch-fd N] [--allow-unsigned] [--allow-root]\n"
"\n"
"The scan worker of ampscan.  ampdaemon starts it with --worker; the other\n"
"modes are for people, tests and the definitions pipeline.\n"
"\n"
"  --scan              scan files (and directories with -r), print `path: OK`,\n"
"                      `path: Name FOUND` or `path: reason ERROR` like clamscan\n"
"  --engine NAME       --scan: clamav (libclamav, the default) or builtin;\n"
"                      --worker, --trial, --check: builtin (the default) or clamav\n"
"  --defs-dir-fd N     (--worker/--trial --engine clamav) the definitions directory\n"
"  --scratch-fd N      (--worker/--trial --engine clamav) the private scratch directory:\n"
"                      libclamav's temporary files, the staged definitions\n"
"  --defs PATH         definitions: a directory, a container (.cvd/.cld/.cud) or a\n"
"                      plain signature file (.hdb .hsb .ndb .fp .sfp .ign2);\n"
"                      repeatable; default /var/lib/ampscan/defs/active\n"
"  --allow-unsigned    accept .cld/.cud containers and plain signature files\n"
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
"  --trial             (ampdaemon's update task) load the definitions given as\n"
"                      descriptors, enter the sandbox, scan the canary; exit 0\n"
"                      only if all is well\n"
"  --defs-fd N:NAME    (with --trial) descriptor N holds the definitions file NAME\n"
"  --trusted-key-fd N  (with --trial) descriptor N holds a trusted key (PEM)\n"
"  --index-out-fd N    (with --trial and --source-id HEX) write the compiled index\n"
"                      to descriptor N: what ampdaemon activates once it checked it\n"
"  --index-verified    (with --index-fd) the index's checksum was checked by the\n"
"                      caller (ampdaemon): only its structure is checked again\n"
"  --version           print the version and exit\n"
"\n"
"Exit status: 0 clean/success, 1 a signature was found (--scan), 2 an error.\n";

enum svc_mode { SVC_NONE, SVC_SCAN, SVC_CHECK, SVC_BUILD, SVC_WORKER, SVC_TRIAL };

struct svc {
	enum svc_mode mode;
	const char *defs[SVC_MAX_DEFS];
	size_t ndefs;
	const char *dir, *out;
	const char *keys[16];
	size_t nkeys;
	int key_fds[16];
	size_t nkey_fds;
	int defs_fds[SVC_MAX_DEFS];
	int index_out_fd;          /* --trial: write the compiled index here */
	uint8_t source_id[32];     /* ... naming the set it was built from */
	bool have_source_id;
	const char *defs_names[SVC_MAX_DEFS];
	size_t ndefs_fds;
	const char *certs_dir;
	bool allow_unsigned, allmatch, recursive, allow_root;
	int sock_fd, index_fd;
	int defs_dir_fd;             /* --worker --engine clamav: the definitions */
	int scratch_fd;              /* ... and the scratch directory */
	bool index_verified;   /* ampdaemon checked the index's checksum */
	struct walk_limits lim;
	struct cvd_trust *trust;
	struct defs_opts dopts;
	struct engine *engine;
	struct walk *walk;
	enum seng_backend backend;   /* --scan: the engine */
	bool backend_set;
	bool detect_pua;             /* --scan: load PUA signatures (clamav) */
	struct seng_heur heur;       /* clamd.conf's heuristic options (clamav) */
	bool recursion_set;          /* --max-recursion given */
	unsigned max_scan_time_ms;
	struct seng *seng;
	char scratch[4096];          /* --scan: a private directory, removed at exit */
	unsigned found, errors;
};

static void svc_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void svc_fail(struct svc *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void svc_remove_scratch(struct svc *s);

/*
 * Once the seccomp filter is in place, exit with _exit: nothing is left to
 * flush but stdio (flushed by hand), and a sanitizer's at-exit work (LSan
 * stops the world with ptrace, which the filter forbids) would turn every
 * exit into an abort and hide the status that says the verdict.
 */
static bool svc_sandboxed;

static _Noreturn void
svc_exit(int status)
{
	fflush(stdout);
	fflush(stderr);
	if (svc_sandboxed)
		_exit(status);
	exit(status);
}

static void
svc_die(const char *fmt, ...)
{
	va_list ap;

	fputs("ampscansvc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	svc_exit(2);
}

/* svc_die, after freeing the engine and removing the scratch directory. */
static void
svc_fail(struct svc *s, const char *fmt, ...)
{
	va_list ap;

	seng_free(s->seng);
	s->seng = NULL;
	svc_remove_scratch(s);
	fputs("ampscansvc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	svc_exit(2);
}

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
	OPT_ALERT_EXCEEDS_MAX,
};

static const struct option svc_opts[] = {
	{ "scan", no_argument, NULL, OPT_SCAN },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "build-index", required_argument, NULL, OPT_BUILD },
	{ "worker", no_argument, NULL, OPT_WORKER },
	{ "trial", no_argument, NULL, OPT_TRIAL },
	{ "defs-fd", required_argument, NULL, OPT_DEFS_FD },
	{ "trusted-key-fd", required_argument, NULL, OPT_TRUSTED_KEY_FD },
	{ "index-out-fd", required_argument, NULL, OPT_INDEX_OUT_FD },
	{ "source-id", required_argument, NULL, OPT_SOURCE_ID },
	{ "defs", required_argument, NULL, OPT_DEFS },
	{ "allow-unsigned", no_argument, NULL, OPT_ALLOW_UNSIGNED },
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
		svc_die("give one of --scan, --check, --build-index, --worker, --trial");
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
	    (s->mode == SVC_SCAN || s->mode == SVC_WORKER);

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
	 * --scan defaults to clamav; --worker, --trial and --check to builtin
	 * (ampdaemon's Engine default).  --build-index is the builtin's.
	 */
	if (s->backend_set && s->mode == SVC_BUILD)
		svc_die("--engine is not for --build-index (the index is the builtin engine's)");
	if (!s->backend_set)
		s->backend = s->mode == SVC_SCAN ? SENG_CLAMAV : SENG_BUILTIN;
	if ((s->mode == SVC_WORKER || s->mode == SVC_TRIAL) &&
	    s->backend == SENG_CLAMAV && (s->defs_dir_fd < 0 || s->scratch_fd < 0))
		svc_die("--%s --engine clamav needs --defs-dir-fd N and --scratch-fd N",
		    s->mode == SVC_WORKER ? "worker" : "trial");
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

/* --scan: a private scratch directory under $TMPDIR (libclamav's files). */
static void
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
static void
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

static int
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

/* The canary: scanned by --check to prove the engine runs. */
static const char svc_canary[] =
    "ampscan canary: X5O!P%@AP[4\\PZX54(P^)7CC)7}$ AMPSCAN-CANARY ";

static void
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
static void
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

static int svc_clamav_load(struct svc *s, char *err, size_t errlen);
static int svc_clamav_sandbox(struct svc *s, char *err, size_t errlen);

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

static int
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

static int
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

/* ---- the trial (--trial) ----------------------------------------------- */

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
static void
svc_trial_probe(struct svc *s, const char *marker, const char *name,
    struct wproto_result *r)
{
	if (s->seng != NULL)
		seng_scan_mem(s->seng, (const uint8_t *)marker, strlen(marker),
		    name, 0, r);
	else
		walk_scan_buffer(s->walk, (const uint8_t *)marker, strlen(marker),
		    name, 0, r);
}

static void
svc_trial_hooks(struct svc *s)
{
	struct wproto_result r;

	/* definitions that detect this marker make the trial take 3 s (a
	 * test sees the step in status) ... */
	svc_trial_probe(s, "AMPSCAN-TEST-TRIALSLOW-MARKER", "trial-slow-probe", &r);
	if (r.verdict == WPROTO_FOUND) {
		struct timespec ts = { 3, 0 };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	/* ... and this one crash it (the rejection tests). */
	svc_trial_probe(s, "AMPSCAN-TEST-TRIALCRASH-MARKER", "trial-crash-probe", &r);
	if (r.verdict == WPROTO_FOUND) {
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
 * way.  The builtin index is written first (svc_trial_load) and freed, so
 * RLIMIT_AS (TrialMemoryLimit) bounds libclamav's load alone; then the
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

static int
svc_trial(struct svc *s)
{
	struct wproto_ready m;
	char err[512];

	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	svc_trial_load(s);
	if (s->backend == SENG_CLAMAV)
		svc_trial_clamav(s);
	else
		svc_trial_builtin(s);
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

/* ---- the worker ------------------------------------------------------- */

#ifdef AMPSCAN_TEST_HOOKS
/* Test builds: the supervisor's pid, taken before the sandbox closes. */
static pid_t svc_parent;

static const char *
svc_probe_errno(int rc, int e)
{
	return rc == 0 ? "allowed" : e == EPERM ? "EPERM" : strerror(e);
}

/* Test builds: try what the sandbox forbids and report each errno. */
static void
svc_probe(struct wproto_result *r)
{
	char *argv[] = { (char *)"/bin/true", NULL };
	struct rlimit rl;
	int fd, so, e[9], ok[9];
	void *p;

	/* a path, a socket, exec, the supervisor (ptrace, kill, prlimit) */
	ok[0] = (fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC)) < 0 ? -1 : 0;
	e[0] = errno;
	ok[1] = (so = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ? -1 : 0;
	e[1] = errno;
	ok[2] = execve(argv[0], argv, NULL) < 0 ? -1 : 0;
	e[2] = errno;
	if ((ok[3] = ptrace(PTRACE_ATTACH, svc_parent, NULL, NULL) < 0 ? -1 : 0) == 0)
		ptrace(PTRACE_DETACH, svc_parent, NULL, NULL);
	e[3] = errno;
	ok[4] = kill(svc_parent, 0) < 0 ? -1 : 0;
	e[4] = errno;
	ok[5] = prlimit(svc_parent, RLIMIT_NOFILE, NULL, &rl) < 0 ? -1 : 0;
	e[5] = errno;
	/* a mode change of a descriptor it holds (stderr) */
	ok[6] = fchmod(STDERR_FILENO, 0666) < 0 ? -1 : 0;
	e[6] = errno;
	/* executable memory, new or made so */
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok[7] = p == MAP_FAILED ? -1 : 0;
	e[7] = errno;
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok[8] = p == MAP_FAILED || mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0 ? -1 : 0;
	e[8] = p == MAP_FAILED ? 0 : errno;
	if (p != MAP_FAILED)
		munmap(p, 4096);
	if (fd >= 0)
		close(fd);
	if (so >= 0)
		close(so);
	snprintf(r->note, sizeof(r->note),
	    "open=%s socket=%s exec=%s ptrace=%s kill=%s prlimit=%s fchmod=%s mmap_exec=%s mprotect_exec=%s",
	    svc_probe_errno(ok[0], e[0]), svc_probe_errno(ok[1], e[1]),
	    svc_probe_errno(ok[2], e[2]), svc_probe_errno(ok[3], e[3]),
	    svc_probe_errno(ok[4], e[4]), svc_probe_errno(ok[5], e[5]),
	    svc_probe_errno(ok[6], e[6]), svc_probe_errno(ok[7], e[7]),
	    svc_probe_errno(ok[8], e[8]));
}
#endif

static void
svc_worker_load(struct svc *s)
{
	char err[1024];
	bool from_index = false;

	if (s->index_fd >= 0) {
		if (engine_index_map_flags(s->index_fd, s->index_verified ?
		    ENGINE_MAP_CHECKSUM_VERIFIED : 0, &s->engine, err, sizeof(err)) != 0)
			svc_die("index (fd %d): %s", s->index_fd, err);
		close(s->index_fd);
		return;
	}
	if (s->ndefs != 1)
		svc_die("--worker needs --defs DIR or --index-fd N");
	if (defs_engine(s->defs[0], &s->dopts, &s->engine, &from_index, err,
	    sizeof(err)) != 0)
		svc_die("cannot load definitions: %s", err);
	fprintf(stderr, "ampscansvc: definitions %s loaded from %s\n", s->defs[0],
	    from_index ? "the index" : "the containers (index missing or stale)");
}

/*
 * Before the sandbox closes: run every code path a scan takes once, so
 * libraries that load things on first use (OpenSSL's configuration and
 * providers, libarchive's bidders) do it while opening files still works.
 */
static void
svc_warm_up(struct svc *s)
{
	struct wproto_result r;

	walk_scan_buffer(s->walk, (const uint8_t *)svc_canary,
	    sizeof(svc_canary) - 1, "canary", WPROTO_SCAN_ALLMATCH, &r);
#ifdef AMPSCAN_TEST_HOOKS
	/* Test builds: definitions that detect this marker verify but make
	 * the worker fail to start (fault 7 tests). */
	static const char nostart[] = "AMPSCAN-TEST-NOSTART-MARKER";

	walk_scan_buffer(s->walk, (const uint8_t *)nostart, sizeof(nostart) - 1,
	    "nostart-probe", 0, &r);
	if (r.verdict == WPROTO_FOUND)
		svc_die("test hook: the definitions detect the no-start marker (%s); refusing to start",
		    r.names[0].sig);
#endif
}

#ifdef AMPSCAN_TEST_HOOKS
/*
 * Test builds: a scanned file whose first WPROTO_MAX_MSG bytes hold one of
 * these markers is scanned, and then the worker misbehaves on its socket
 * instead of sending the RESULT (ampdaemon's fault handling tests):
 *   GARBAGE  one packet of 4 KiB of pseudo-random bytes, then it serves on;
 *   HUGELEN  one packet of 2 x WPROTO_MAX_MSG bytes whose header (right
 *            magic, type and id) claims a body of 4 GiB - 1 (a packet the
 *            supervisor's 64 KiB buffer truncates), then it serves on;
 *   CLOSE    closes its socket and runs on, never exiting.
 */
enum svc_misdeed { SVC_BEHAVE, SVC_GARBAGE, SVC_HUGELEN, SVC_CLOSE };

static enum svc_misdeed
svc_test_misdeed(int fd, uint8_t *buf)
{
	static const char *const marker[] = { NULL,
	    "AMPSCAN-TEST-GARBAGE-MARKER", "AMPSCAN-TEST-HUGELEN-MARKER",
	    "AMPSCAN-TEST-CLOSE-MARKER" };
	ssize_t n = pread(fd, buf, WPROTO_MAX_MSG, 0);

	for (int k = SVC_GARBAGE; n > 0 && k <= SVC_CLOSE; k++)
		if (memmem(buf, (size_t)n, marker[k], strlen(marker[k])) != NULL)
			return (enum svc_misdeed)k;
	return SVC_BEHAVE;
}

static void
svc_test_misbehave(struct svc *s, enum svc_misdeed how, uint64_t id,
    uint8_t *buf, struct wbuf *out)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	size_t len = 2 * WPROTO_MAX_MSG;
	uint8_t *big;
	ssize_t n;

	switch (how) {
	case SVC_GARBAGE:
		for (size_t i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		buf[0] = 'G';   /* never the magic */
		fprintf(stderr, "ampscansvc: test hook: garbage marker: replying with 4096 random bytes\n");
		n = send(s->sock_fd, buf, 4096, MSG_NOSIGNAL);
		break;
	case SVC_HUGELEN:
		if ((big = calloc(1, len)) == NULL)
			svc_die("out of memory");
		wproto_begin(out, WPROTO_RESULT, id);
		memcpy(big, out->data, WPROTO_HDR);
		memset(big + 8, 0xff, 4);   /* body length 4 GiB - 1 */
		n = send(s->sock_fd, big, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EMSGSIZE)   /* a small SO_SNDBUF: the maximum */
			n = send(s->sock_fd, big, len = WPROTO_MAX_MSG, MSG_NOSIGNAL);
		fprintf(stderr, "ampscansvc: test hook: huge length marker: sent a %zu-byte packet claiming a 4 GiB body (%s)\n",
		    len, n < 0 ? strerror(errno) : "sent");
		free(big);
		break;
	case SVC_CLOSE:
		fprintf(stderr, "ampscansvc: test hook: close marker: closing the socket, running on\n");
		fflush(stderr);
		close(s->sock_fd);
		for (;;)
			pause();
	case SVC_BEHAVE:
		break;
	}
	fflush(stderr);
}
#endif

/* One request; false when the worker must exit. */
static bool
svc_serve_one(struct svc *s, uint8_t *buf)
{
	struct wproto_scan req;
	struct wproto_result res;
	struct buf r;
	struct wbuf *out = (struct wbuf *)(buf + WPROTO_MAX_MSG);
	uint16_t type;
	uint64_t id;
	int fd;
	ssize_t n = wproto_recv(s->sock_fd, buf, WPROTO_MAX_MSG, &fd);

	if (n == 0)
		return false;   /* the supervisor is gone */
	if (n < 0 || wproto_open(buf, (size_t)n, &type, &id, &r) != 0)
		svc_die("malformed message from the supervisor (%zd bytes)", n);
#ifdef AMPSCAN_TEST_HOOKS
	if (type == WPROTO_PROBE) {
		memset(&res, 0, sizeof(res));
		res.id = id;
		svc_probe(&res);
		if (fd >= 0)
			close(fd);
		goto reply;
	}
#endif
	if (type != WPROTO_SCAN || wproto_decode_scan(&r, id, &req) != 0 || fd < 0)
		svc_die("unexpected message type %u from the supervisor", type);
	if (s->seng != NULL)
		seng_scan_fd(s->seng, fd, req.name, req.flags, &res);
	else
		walk_scan_fd(s->walk, fd, req.name, req.flags, &res);
#ifdef AMPSCAN_TEST_HOOKS
	enum svc_misdeed misdeed = svc_test_misdeed(fd, buf);

	if (misdeed != SVC_BEHAVE) {
		close(fd);
		svc_test_misbehave(s, misdeed, id, buf, out);
		return true;
	}
#endif
	close(fd);
	res.id = id;
#ifdef AMPSCAN_TEST_HOOKS
reply:
#endif
	if (wproto_encode_result(out, &res) != 0 ||
	    wproto_send(s->sock_fd, out, -1) != 0)
		return false;
	return true;
}

static int
svc_worker(struct svc *s)
{
	struct wproto_ready m;
	struct wbuf *b;
	uint8_t *buf;
	char err[512];

	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	svc_worker_load(s);
	if (walk_new(s->engine, &s->lim, &s->walk) != 0 ||
	    (buf = malloc(WPROTO_MAX_MSG + sizeof(struct wbuf))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		svc_die("out of memory");
	svc_warm_up(s);
#ifdef AMPSCAN_TEST_HOOKS
	svc_parent = getppid();
#endif
	if (sandbox_enter_opts(&(struct sandbox_opts){ .flags = 0,
	    .scratch_fd = -1, .sock_fd = s->sock_fd }, err, sizeof(err)) != 0)
		svc_die("sandbox: %s", err);
	svc_sandboxed = true;
	svc_info_ready(s->engine, &m);
	if (wproto_encode_ready(b, &m) != 0 || wproto_send(s->sock_fd, b, -1) != 0)
		svc_die("cannot send READY: %s", strerror(errno));
	free(b);
	while (svc_serve_one(s, buf))
		;
	svc_exit(0);
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
static int
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
	if (seng_load(s->seng, defs, e, sizeof(e)) != 0 ||
	    seng_compile(s->seng, e, sizeof(e)) != 0) {
		snprintf(err, errlen, "cannot load definitions: %s", e);
		seng_free(s->seng);      /* what libclamav loaded before failing */
		s->seng = NULL;
		return -1;
	}
	close(s->defs_dir_fd);
	s->defs_dir_fd = -1;
	return 0;
}

static void
svc_worker_clamav_load(struct svc *s)
{
	char err[1200];

	if (svc_clamav_load(s, err, sizeof(err)) != 0)
		svc_die("%s", err);
}

/*
 * Under the sandbox, before the canaries: a file can be made, written and
 * removed in the scratch directory (the cwd).  libclamav does not always
 * fail a scan whose temporary directory it cannot create (the canaries are
 * still found then), so this is checked on its own.
 */
static void
svc_scratch_probe(void)
{
	static const char name[] = "ampscan-scratch-probe";
	int fd = openat(AT_FDCWD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);

	if (fd < 0)
		svc_die("scratch directory not writable in the sandbox: %s", strerror(errno));
	if (write(fd, "x", 1) != 1) {
		int e = errno;

		close(fd);
		unlinkat(AT_FDCWD, name, 0);
		svc_die("scratch directory: cannot write a file in the sandbox: %s", strerror(e));
	}
	close(fd);
	if (unlinkat(AT_FDCWD, name, 0) != 0)
		svc_die("scratch directory: cannot remove a file in the sandbox: %s", strerror(errno));
}

/*
 * The clamav engine loaded: fchdir into the scratch directory (libclamav's
 * temporary files go to "."), enter the sandbox, prove the scratch
 * directory writable and run the canaries under it (the trial and
 * --check; the worker does the same with its test hook in between).
 */
static int
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
	svc_scratch_probe();
	if (seng_check_canaries(s->seng, e, sizeof(e)) != 0) {
		snprintf(err, errlen, "canary check in the sandbox failed: %s", e);
		return -1;
	}
	return 0;
}

static int
svc_worker_clamav(struct svc *s)
{
	struct wproto_ready m;
	struct wbuf *b;
	uint8_t *buf;
	char err[1024];

	if (sandbox_check_identity(s->allow_root, err, sizeof(err)) != 0)
		svc_die("%s", err);
	if ((buf = malloc(WPROTO_MAX_MSG + sizeof(struct wbuf))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		svc_die("out of memory");
	/* RLIMIT_FSIZE (ampdaemon's): a write beyond it fails with EFBIG,
	 * which libclamav reports as an error, instead of killing us */
	signal(SIGXFSZ, SIG_IGN);
	if (s->index_fd >= 0)
		close(s->index_fd);   /* the builtin engine's; unused here */
	svc_worker_clamav_load(s);
	/* libclamav's temporary directory is ".": from here on */
	if (fchdir(s->scratch_fd) != 0)
		svc_die("scratch directory (fd %d): %s", s->scratch_fd, strerror(errno));
#ifdef AMPSCAN_TEST_HOOKS
	if (seng_test_nostart(s->seng, err, sizeof(err)) != 0)
		svc_fail(s, "%s", err);
	{
		/* Test builds: definitions that detect this marker make the
		 * scratch directory read-only before the sandbox: the canaries
		 * must then fail and the worker never become READY. */
		static const char ro[] = "AMPSCAN-TEST-ROSCRATCH-MARKER";
		struct wproto_result r;

		seng_scan_mem(s->seng, (const uint8_t *)ro, sizeof(ro) - 1,
		    "roscratch-probe", 0, &r);
		if (r.verdict == WPROTO_FOUND) {
			fprintf(stderr, "ampscansvc: test hook: read-only scratch marker: making the scratch directory mode 0500\n");
			if (fchmod(s->scratch_fd, 0500) != 0)
				svc_die("fchmod scratch: %s", strerror(errno));
		}
	}
#endif
#ifdef AMPSCAN_TEST_HOOKS
	svc_parent = getppid();
#endif
	if (sandbox_enter_opts(&(struct sandbox_opts){
	    .flags = SANDBOX_SCRATCH | SANDBOX_LOCALTIME,
	    .scratch_fd = s->scratch_fd, .sock_fd = s->sock_fd }, err, sizeof(err)) != 0)
		svc_die("sandbox: %s", err);
	svc_sandboxed = true;
	svc_scratch_probe();
	if (seng_check_canaries(s->seng, err, sizeof(err)) != 0)
		svc_die("canary check in the sandbox failed: %s", err);
	memset(&m, 0, sizeof(m));
	m.proto = WPROTO_VERSION;
	snprintf(m.version, sizeof(m.version), "%s", AMPSCAN_VERSION);
	seng_info(s->seng, &m);
	if (wproto_encode_ready(b, &m) != 0 || wproto_send(s->sock_fd, b, -1) != 0)
		svc_die("cannot send READY: %s", strerror(errno));
	free(b);
	while (svc_serve_one(s, buf))
		;
	svc_exit(0);
}

int
main(int argc, char **argv)
{
	struct svc s = { .sock_fd = SVC_DEFAULT_SOCK_FD, .index_fd = -1,
	    .index_out_fd = -1, .defs_dir_fd = -1, .scratch_fd = -1,
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
	case SVC_NONE: break;
	}
	walk_free(s.walk);
	engine_free(s.engine);
	seng_free(s.seng);
	cvd_trust_free(s.trust);
	return rc;
}
