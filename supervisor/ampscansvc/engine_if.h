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

#include "defs.h"
#include "walk.h"
#include "wproto.h"

enum seng_backend { SENG_BUILTIN, SENG_CLAMAV };

/* The name reserved for the canary signature; never shown to users. */
#define SENG_CANARY_NAME "AmpScan.Canary"
#define SENG_DEFAULT_MAX_SCAN_TIME_MS 120000u   /* clamd's MaxScanTime */
/*
 * clamscan's and clamd's MaxRecursion default.  The builtin walk's default
 * is 16 (walk.h); libclamav counts the levels its own way, and with 16 it
 * misses clam_cache_emax.tgz where clamscan (17) finds it.
 */
#define SENG_CLAMAV_DEFAULT_MAX_RECURSION 17u

struct seng_opts {
	struct walk_limits lim;          /* MaxFileSize, MaxScanSize, ... */
	unsigned max_scan_time_ms;       /* clamav: CL_ENGINE_MAX_SCANTIME */
	const struct defs_opts *dopts;   /* trust, allow_unsigned */
	/*
	 * clamav: a private, empty, writable directory the engine owns while
	 * it lives: the staged definitions go to stage/, libclamav's temporary
	 * files to tmp/.  The caller creates and removes it.
	 */
	const char *scratch;
	bool pua;                        /* clamav: load PUA signatures */
	bool no_canary;                  /* tests: do not add the canary signature */
};

struct seng;

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
void seng_clamav_version(char *out, size_t outlen);

void seng_free(struct seng *e);

/*
 * The canaries, made in memory around a marker only this process knows:
 * a plain buffer, a stored zip holding it, and a MIME message with it
 * attached in base 64.  Each must be FOUND as the canary (fixed options,
 * ALLMATCH).  0, or -1 with the canary and the outcome in err.
 */
int seng_canary_check(struct seng *e, unsigned ncanaries, char *err,
    size_t errlen);
#define SENG_CANARIES_ALL 3   /* plain, zip, mail */

#endif
