/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The types and names of the scan engine interface (engine_if.h), apart
 * from its calls, so that the backends below the interface can use them
 * without reaching up into it.
 */
#ifndef AMPSCAN_ENGINE_TYPES_H
#define AMPSCAN_ENGINE_TYPES_H

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
 * clamscan's and clamd's MaxRecursion default (clamd.conf(5): 17), the
 * builtin walk's too (walk.h) and ampdaemon.conf's; libclamav counts the
 * levels its own way, and with 16 it misses clam_cache_emax.tgz.
 */
#define SENG_CLAMAV_DEFAULT_MAX_RECURSION 17u

/*
 * clamd.conf's heuristic options, with clamd's names and defaults
 * (seng_heur_defaults).  The clamav backend maps them to libclamav's scan
 * options; the builtin engine has no heuristics and refuses any but the
 * defaults (seng_heur_builtin_check).
 */
struct seng_heur {
	bool heuristic_alerts;           /* HeuristicAlerts (yes) */
	bool precedence;                 /* HeuristicScanPrecedence (no) */
	bool alert_broken;               /* AlertBrokenExecutables (no) */
	bool alert_encrypted_archive;    /* AlertEncryptedArchive (no) */
	bool alert_encrypted_doc;        /* AlertEncryptedDoc (no) */
	bool alert_exceeds_max;          /* AlertExceedsMax (no) */
};

#define SENG_HEUR_DEFAULTS { .heuristic_alerts = true }

/* The prefix of the names libclamav gives a file over a limit. */
#define SENG_LIMIT_PREFIX "Heuristics.Limits.Exceeded."

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
	/*
	 * clamav: libclamav's temporary directory as given (the worker: "."
	 * after fchdir into its scratch directory), not created or removed
	 * here; NULL: SCRATCH/tmp, made and removed by the engine.
	 */
	const char *tmpdir;
	/*
	 * seng_compile leaves the canaries to the caller, who runs them with
	 * seng_check_canaries once the sandbox is entered (the worker), so the
	 * temporary files are exercised under it.
	 */
	bool canary_later;
	bool pua;                        /* clamav: load PUA signatures */
	struct seng_heur heur;           /* clamd.conf's heuristic options */
	bool no_canary;                  /* tests: do not add the canary signature */
};

struct seng;

#endif
