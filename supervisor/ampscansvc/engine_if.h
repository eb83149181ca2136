/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan engine interface: the one way the worker scans.  Two backends:
 *   builtin  ampscan's own engine (cvd/engine) with the libarchive walk
 *   clamav   libclamav, loaded from a private staging directory
 * Life of an engine: seng_new, seng_load (any number of paths), seng_compile
 * (which for clamav also runs the canaries), then seng_scan_fd as often as
 * needed, seng_free.  An engine is used by one thread.
 */
#ifndef AMPSCAN_ENGINE_IF_H
#define AMPSCAN_ENGINE_IF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine_types.h"


/* Parse "clamav" / "builtin"; false if neither. */
bool seng_backend_parse(const char *s, enum seng_backend *out);
const char *seng_backend_name(enum seng_backend b);

int seng_new(enum seng_backend b, const struct seng_opts *o,
    struct seng **out, char *err, size_t errlen);

/*
 * Add the definitions at path: a directory (its containers and, with
 * allow_unsigned, plain signature files), a container, or a plain file.
 * Everything is verified first; a failure names the file and the reason.
 */
int seng_load(struct seng *e, const char *path, char *err, size_t errlen);

/*
 * Finish loading.  clamav: each staged file's signature count is checked
 * against the count verified, the engine compiled, and the canaries
 * (seng_canary_check) must all be found.  Any failure fails the load.
 */
int seng_compile(struct seng *e, char *err, size_t errlen);

/*
 * The canaries, for an engine made with canary_later: each must be FOUND.
 * 0, or -1 with the canary and the outcome in err.
 */
int seng_check_canaries(struct seng *e, char *err, size_t errlen);

/*
 * Scan the file open on fd; display names it in results.  flags:
 * WPROTO_SCAN_ALLMATCH.  Fills res: FOUND with the names, CLEAN, or ERROR
 * with the reason (any engine error, read error or short read).
 */
void seng_scan_fd(struct seng *e, int fd, const char *display,
    unsigned flags, struct wproto_result *res);

/* The same over a buffer in memory (the canaries, tests). */
void seng_scan_mem(struct seng *e, const uint8_t *buf, size_t len,
    const char *display, unsigned flags, struct wproto_result *res);

/* What is loaded: databases, per-type counts, versions. */
void seng_info(const struct seng *e, struct wproto_ready *m);
/* "builtin" or "libclamav 1.4.6 (flevel 220)". */
void seng_version(const struct seng *e, char *out, size_t outlen);
/* libclamav's version and functionality level, without an engine. */
void seng_libclamav_version(char *out, size_t outlen);

void seng_free(struct seng *e);

struct engine;
/*
 * The builtin engine's gaps: the signatures e (its index) cannot load
 * that libclamav would, per type, as "1 ndb, 2 of other types" in out;
 * returns their number, 0 when it loads the whole set.
 */
uint64_t seng_builtin_gaps(const struct engine *e, char *out, size_t outlen);
/* The builtin backend's engine once compiled; NULL for clamav. */
const struct engine *seng_builtin_engine(const struct seng *e);
#ifdef AMPSCAN_TEST_HOOKS
/*
 * Test builds: 0, or -1 with why in err when the loaded definitions detect
 * AMPSCAN-TEST-NOSTART-MARKER (the worker must then fail to start: fault
 * 7's tests).  seng_scan_fd also crashes or hangs on walk.c's markers.
 */
int seng_test_nostart(struct seng *e, char *err, size_t errlen);
/* Scan a test hook's marker: whether the definitions detect it by a
 * signature of their own (a limit's Heuristics.Limits.Exceeded name, as
 * MaxScanTime 1 gives a freshly forked worker, is not a detection). */
bool seng_test_marker(struct seng *e, const char *marker, const char *display,
    struct wproto_result *r);
#endif


#endif
