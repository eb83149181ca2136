/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * StateDir/import.seen: the containers of ImportDirectory already judged
 * (skipped as not newer, activated or rejected), so a restart does not
 * judge an unchanged file again (docs/updates.md, "ImportDirectory").
 * A line each, "NAME DEV INO SIZE MTIME_NS SDEV SINO SSIZE SMTIME_NS":
 * the container's and its .sign's identity (all 0: no .sign), numbers
 * in canonical decimal.  Also the labels of ImportDirectory's status.
 * Pure: no file, no loop (fuzz_importseen).
 */
#ifndef AMPSCAN_IMPORTSEEN_H
#define AMPSCAN_IMPORTSEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMPORT_DBNAME_MAX 63              /* NAME of NAME.cvd */
#define IMPORT_SEEN_FIELDS 8              /* numbers on a line */
#define IMPORT_SEEN_LINE 400              /* at most, a line with its newline */

/*
 * A container of ImportDirectory as it was last looked at (imported,
 * submitted, or skipped as not newer): its and its .sign's identity.
 * seen and final are importdir.c's bookkeeping, not in the file.
 */
struct import_file {
	char name[256];                  /* in ImportDirectory: "main.cvd" */
	uint64_t dev, ino, size;         /* the container */
	int64_t mtime_ns;
	uint64_t sdev, sino, ssize;      /* its .sign (all 0: none) */
	int64_t smtime_ns;
	bool seen;                       /* in the last listing */
	bool final;                      /* judged (skipped, activated, rejected):
	                                  * kept across a restart (import.seen) */
};

/*
 * ImportDirectory's state as status and metrics show it (importdir.c
 * keeps it; ctl.c and metrics.c, which importdir.c sits above, read it):
 * the labels live here, below them all.
 */
/* Why ImportDirectory was last read (status). */
enum import_why {
	IMPORT_WHY_START,                /* ampdaemon started */
	IMPORT_WHY_INOTIFY,              /* a change, after the quiet moment */
	IMPORT_WHY_RELOAD,               /* RELOAD or ampctl reload */
	IMPORT_WHY_RETRY,                /* a minute after an I/O failure */
	IMPORT_WHY_IMPORTED,             /* an import ended: it may have changed meanwhile */
	IMPORT_WHY_COUNT
};

/* How a container of ImportDirectory was judged (counted since the start). */
enum import_result {
	IMPORT_RES_IMPORTED,             /* activated */
	IMPORT_RES_REJECTED,             /* the pipeline rejected it */
	IMPORT_RES_SKIPPED,              /* not newer than the active one */
	IMPORT_RES_IO_ERROR,             /* not the file's fault: looked at again */
	IMPORT_RES_COUNT
};

/* "start", "inotify", "RELOAD", "retry", "after an import" */
const char *importseen_why_name(enum import_why w);
/* "imported", "rejected", "skipped", "io_error" (the metrics' labels) */
const char *importseen_result_name(enum import_result r);

/*
 * name is NAME.cvd, NAME.cld or NAME.cud, NAME at most IMPORT_DBNAME_MAX
 * of [A-Za-z0-9_-] (whether .cud is wanted is the caller's rule): NAME
 * into db (dblen > IMPORT_DBNAME_MAX) and *ext at its extension.  False
 * for anything else (dot-files, .sign files, a writer's temporary names).
 */
bool importseen_name_ok(const char *name, char *db, size_t dblen,
    const char **ext);

/*
 * One line (s[0..n), no newline) into *f (final set, seen clear); false:
 * not such a line (longer than IMPORT_SEEN_LINE, a bad name, not exactly
 * IMPORT_SEEN_FIELDS canonical numbers after it, one space apart).
 */
bool importseen_parse_line(const char *s, size_t n, struct import_file *f);

/* f as a line with its newline into buf; its length, 0 when it does not
 * fit (IMPORT_SEEN_LINE always does). */
size_t importseen_format_line(const struct import_file *f, char *buf,
    size_t len);

/*
 * The whole file, buf[0..len): each complete line that parses and names
 * a file not already in f[0..*n) is added, up to max; the others are
 * ignored (a damaged file costs a second look, never a wrong skip).
 */
void importseen_parse(const char *buf, size_t len, struct import_file *f,
    unsigned max, unsigned *n);

#endif
