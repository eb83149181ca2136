/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscansvc's private header: the state of one run (struct svc), shared
 * by main.c (options, dispatch) and the modes (svc_cli.c: --scan, --check,
 * --build-index; svc_trial.c: --trial; svc_worker.c: --worker), and the
 * helpers they share (svc_common.c: exit, errors, the scratch directory,
 * the canary, the clamav load and sandbox).
 */
#ifndef AMPSCANSVC_SVC_H
#define AMPSCANSVC_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defs.h"
#include "engine_if.h"
#include "walk.h"
#include "wproto.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define SVC_MAX_DEFS 32

enum svc_mode { SVC_NONE, SVC_SCAN, SVC_CHECK, SVC_BUILD, SVC_WORKER, SVC_TRIAL,
    SVC_LOADER };

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
	bool index_only;           /* --trial --index-only: nothing but that */
	uint8_t source_id[32];     /* ... naming the set it was built from */
	bool have_source_id;
	/* --fsize-limit: RLIMIT_FSIZE once the engine is loaded (0: none) */
	uint64_t fsize_limit;
	const char *defs_names[SVC_MAX_DEFS];
	size_t ndefs_fds;
	const char *certs_dir;
	bool allow_unsigned, allmatch, recursive, allow_root;
	bool allow_partial;          /* builtin: load what it can of a set */
	int sock_fd, index_fd;
	int defs_dir_fd;             /* --worker --engine clamav: the definitions */
	uint8_t defs_want[32];       /* ... must have this identity (the index's) */
	bool defs_want_set;
	int scratch_fd;              /* ... and the scratch directory */
	int scratch_root_fd;         /* --loader --engine clamav: ScratchDir */
	bool huge_pages;             /* --loader: collapse into huge pages */
	int mem_fd;                  /* its /proc/self/smaps_rollup, or -1 */
	int mem_err;                 /* ... why not (an errno) */
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

/* The canary: scanned by --check to prove the engine runs. */
#define SVC_CANARY_TEXT \
    "ampscan canary: X5O!P%@AP[4\\PZX54(P^)7CC)7}$ AMPSCAN-CANARY "
extern const char svc_canary[sizeof(SVC_CANARY_TEXT)];

/*
 * Once the seccomp filter is in place, exit with _exit: nothing is left to
 * flush but stdio (flushed by hand), and a sanitizer's at-exit work (LSan
 * stops the world with ptrace, which the filter forbids) would turn every
 * exit into an abort and hide the status that says the verdict.
 */
extern bool svc_sandboxed;

/* svc_common.c */
_Noreturn void svc_exit(int status);
void svc_defs_unchanged(struct svc *s, const char *defs, const char *when);
void svc_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void svc_fail(struct svc *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void svc_make_scratch(struct svc *s);
void svc_remove_scratch(struct svc *s);
void svc_info_ready(const struct engine *e, struct wproto_ready *m);
void svc_print_loaded(const struct wproto_ready *m, char sep, bool types);
int svc_clamav_load(struct svc *s, char *err, size_t errlen);
int svc_clamav_sandbox(struct svc *s, char *err, size_t errlen);
void svc_scratch_probe(struct svc *s);
/* Before the sandbox: open this process's smaps_rollup (procmem.h). */
void svc_mem_open(struct svc *s);
/* Send MEM (its memory now) for the request id; 0 or -errno. */
int svc_mem_send(struct svc *s, uint64_t id, struct wbuf *out);
void svc_whole_set(const struct svc *s, const struct engine *e,
    const char *prefix, const char *what);

/* the modes: each returns the exit status or exits */
int svc_scan(struct svc *s, int argc, char **argv);   /* svc_cli.c */
int svc_check(struct svc *s);
int svc_build(struct svc *s);
int svc_trial(struct svc *s);                         /* svc_trial.c */
int svc_worker(struct svc *s);                        /* svc_worker.c */
int svc_worker_clamav(struct svc *s);
/* the halves of a worker: load (exec'd worker, loader), serve (exec'd
 * worker, a worker forked from the loader) */
void svc_worker_builtin_load(struct svc *s);
_Noreturn void svc_worker_builtin_serve(struct svc *s);
void svc_worker_clamav_load(struct svc *s);
_Noreturn void svc_worker_clamav_serve(struct svc *s);
int svc_loader(struct svc *s);                        /* svc_loader.c */

#endif
