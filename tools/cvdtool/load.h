/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cvdtool verify --load: the daemon's trial load, by hand.
 *
 * The verified containers (and their .sign files) are copied into a
 * private temporary directory ($TMPDIR or /tmp, cvdtool-load.XXXXXX, mode
 * 0700) and `ampscansvc --check DIR --engine E` runs on it with the same
 * trust options: the load and the canaries are the worker's own code and
 * sandbox, never a second implementation here.  ampscansvc's own scratch
 * directory goes into the temporary directory too (its TMPDIR), so that
 * removing that one directory leaves nothing behind, whatever happened.
 *
 * SIGINT, SIGTERM and SIGHUP are held while the directory exists: the
 * check (its whole process group) is killed, every descendant reaped,
 * the directory removed, and then the signal is raised again with its
 * default action, so the shell sees cvdtool die of it.
 */
#ifndef CVDTOOL_LOAD_H
#define CVDTOOL_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct jsonw;

#define LOAD_REASON_MAX 1024
#define LOAD_DBS_MAX 512

enum load_status {
	LOAD_NOT_RUN,   /* a file failed verification: nothing was loaded */
	LOAD_OK,        /* ampscansvc loaded the set and found its canaries */
	LOAD_FAILED,    /* ampscansvc refused the set (its reason) */
	LOAD_ERROR,     /* the check could not run (no ampscansvc, no TMPDIR...) */
};

struct load_opts {
	const char *engine;              /* "clamav" or "builtin" */
	const char *scansvc;             /* NULL: beside cvdtool, then installed */
	const char *const *keys;         /* --trusted-key, passed on */
	size_t nkeys;
	const char *certs_dir;           /* --certs-dir, passed on */
	bool allow_unsigned;             /* --allow-unsigned, passed on */
};

struct load_file {
	const char *path;                /* a container that verified */
	const char *sign;                /* its .sign to stage beside it, or NULL */
};

struct load_result {
	enum load_status status;
	const char *engine;
	uint64_t signatures;             /* loaded, as ampscansvc counts them */
	char dbs[LOAD_DBS_MAX];          /* "name-version ..." as ampscansvc says */
	char reason[LOAD_REASON_MAX];    /* FAILED, ERROR, NOT_RUN: why */
};

/*
 * Stage files[0..n) and run the check.  Returns 0 when r->status is
 * LOAD_OK, -1 otherwise (r->reason says why).  Does not return when a
 * terminating signal arrived meanwhile (see above).
 */
int load_run(const struct load_opts *o, const struct load_file *files,
    size_t n, struct load_result *r);

/* "load: OK (clamav) N signatures, canaries found (...)" or
 * "load: FAILED: reason", and a newline. */
void load_print(FILE *f, const struct load_result *r);

/* The "load" member of a JSON object the caller is writing. */
void load_json(struct jsonw *w, const struct load_result *r);

#endif
