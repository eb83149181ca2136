/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The crash-loop diagnosis (`ampctl diag`, issue 7): one function that
 * reads the state and log directories and says what happened, why, and
 * what to do.  The same code runs online (in a child of ampdaemon, on the
 * daemon's own directories) and offline (in ampctl, from the directories
 * of a stopped daemon or an unpacked bundle), so both give the same
 * diagnosis for the same files.  Nothing live is consulted: no account
 * lookup, no process table; only the files named in struct diag_opts and
 * the values given there.
 *
 * What is read (all bounded, whatever the files hold):
 *   state_dir/faults.state    the active faults (faults_load)
 *   state_dir/events.jsonl    the last DIAG_EVENTS_MAX lines: fault
 *                             episodes, definitions history, worker starts
 *   state_dir/exits.jsonl     the last DIAG_EXITS_MAX exits (the crash
 *                             timeline); worker_exited events stand in
 *                             when it holds none; its events_dropped lines
 *                             (exits.h) count exits it could not record
 *   state_dir/poison.state    suspected and poison files (poison_load)
 *   log_dir/ampscansvc.log    the last DIAG_LOG_TAIL bytes: a worker's
 *   log_dir/ampdaemon.log     lines by pid, the daemon's around a crash
 *   definitions_dir/active/   the headers of the active containers
 * A file that is missing, damaged or torn never stops the diagnosis: each
 * problem is listed under "could not read" (file, line or offset, why).
 *
 * Verdict (the return value and ampctl's exit status):
 *   DIAG_HEALTHY (0)       no active fault
 *   DIAG_DEGRADED (1)      active faults, none of them needing a person
 *   DIAG_INTERVENTION (2)  a fault marked as needing intervention (6 after
 *                          InterventionAfter), fault 7 (scanning is off),
 *                          or fault 2 (the install is damaged: reinstall)
 * The active faults are those of faults.state; when that file cannot be
 * read, those the events leave raised (said so in the output).
 */
#ifndef AMPSCAN_DIAG_H
#define AMPSCAN_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "strbuf.h"

#define DIAG_HEALTHY 0
#define DIAG_DEGRADED 1
#define DIAG_INTERVENTION 2

#define DIAG_SCHEMA "ampscan-diag/1"
#define DIAG_EXITS_MAX 2000          /* exits kept from exits.jsonl */
#define DIAG_EVENTS_MAX 20000        /* lines read from events.jsonl */
#define DIAG_LOG_TAIL (4u << 20)     /* bytes read from the end of each log */
#define DIAG_TIMELINE_MAX 100        /* exits shown in the timeline */
#define DIAG_LOG_CRASHES 10          /* the last crashes shown with log lines */
#define DIAG_LOG_LINES 10            /* lines of each log per crash */
#define DIAG_LOG_LINE_MAX 400        /* bytes of a log line shown */
#define DIAG_PROBLEMS_MAX 50         /* "could not read" entries kept */
#define DIAG_POISON_SHOWN 100        /* poison.state entries shown */
#define DIAG_GROUPS_MAX 256          /* distinct keys per grouping */
#define DIAG_HISTORY_MAX 64          /* definitions events, fault episodes */
#define DIAG_CONTAINERS_MAX 64       /* containers of active/ listed */
/* The whole output: under task.h's TASK_OUTPUT_MAX, so that the daemon's
 * child can hand all of it over. */
#define DIAG_OUT_MAX (240u * 1024)

struct diag_opts {
	const char *state_dir;       /* required */
	const char *log_dir;         /* NULL: logs not available */
	const char *definitions_dir; /* NULL: definitions not available */
	const struct config *cfg;    /* NULL: not available (defaults used) */
	const char *core_pattern;    /* kernel.core_pattern; NULL: unknown */
	int64_t since_ms;            /* only records from then on; 0: all */
	int64_t now_ms;              /* "generated"; nothing else depends on it */
	bool json;                   /* the JSON document instead of text */
};

/*
 * Diagnose and append the report to out (text or JSON, per o->json).
 * Returns the verdict (DIAG_HEALTHY, DIAG_DEGRADED, DIAG_INTERVENTION),
 * or -1 with err set when nothing could be diagnosed (no state_dir, out
 * of memory).  err (may be NULL) is otherwise "" or a note (the output
 * was cut at out's cap).  Damaged input is part of the report, never an
 * error.
 */
int diag_run(const struct diag_opts *o, struct strbuf *out, char *err,
    size_t errlen);

/*
 * --since: a duration back from now_ms ("90s", "10m", "2h", "3d", "500ms")
 * or a UTC time ("2026-11-24T02:35:36Z", "2026-11-24T02:35", "2026-11-24
 * 02:35:36.5", "2026-11-24").  Returns 0 with *since_ms set, or -1 with
 * err saying why.
 */
int diag_parse_since(const char *s, int64_t now_ms, int64_t *since_ms,
    char *err, size_t errlen);

/* "2026-11-24T02:35:36.123Z" (seconds and fraction optional, Z optional,
 * ' ' for 'T') to ms since the epoch; false if it is not one. */
bool diag_parse_time(const char *s, int64_t *ms);

/* kernel.core_pattern read from path (normally
 * /proc/sys/kernel/core_pattern) into buf, newline cut; false if it
 * cannot be read. */
bool diag_read_core_pattern(const char *path, char *buf, size_t len);

#endif
