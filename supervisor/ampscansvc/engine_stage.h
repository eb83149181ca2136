/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Staging definitions for libclamav: each definitions file is verified by
 * ampscan (containers with cvd_verify, keys and .sign as configured), then
 * put into a private directory libclamav loads file by file:
 *   - an officially signed container: a symlink to the descriptor that was
 *     verified (/proc/self/fd/N), under its own name, so libclamav reads the
 *     very file that was verified and keeps the official signature names;
 *   - any other container (operator key, .cld/.cud without DSIG): its
 *     verified signature members, in one uncompressed NAME.cud with a
 *     .info of our own (libclamav reads a container faster than loose
 *     files; the names get its ".UNOFFICIAL" suffix, as clamd's do);
 *   - a plain signature file: copied.
 * With each staged file goes the signature count libclamav must report for
 * it (see stage_expect in engine_stage.c and docs/engine.md).
 */
#ifndef AMPSCAN_ENGINE_STAGE_H
#define AMPSCAN_ENGINE_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defs.h"

#define STAGE_MAX_FILES 512
#define STAGE_MAX_DBS 64
#define STAGE_CANARY_FILE "ampscan-canary.ndb"

struct stage_file {
	char name[256];     /* in the stage directory */
	unsigned db;        /* index into dbs */
	uint64_t lo, hi;    /* libclamav's count for it must lie in lo..hi */
	int order;          /* load order: .cfg, then .ign/.ign2, then the rest */
};
/*
 * A signature an .ign/.ign2 line disables is not counted by libclamav: the
 * lower bound of every file drops by the number of such lines in the set
 * (stage_sort), which are names we verified, not a guess.
 */

struct stage_db {
	char name[64];      /* "daily", or the plain file's name */
	unsigned version;
	char kind[8];       /* "cvd", "cld", "cud", "file" */
	bool official;
	uint64_t sigs;      /* filled by the loader: what libclamav loaded */
};

struct stage {
	int dirfd;                      /* the stage directory, or -1 */
	char path[4096];
	const struct defs_opts *dopts;
	bool pua;
	uint64_t ign_lines;             /* .ign/.ign2 lines staged */
	struct stage_file files[STAGE_MAX_FILES];
	size_t nfiles;
	struct stage_db dbs[STAGE_MAX_DBS];
	size_t ndbs;
	int fds[STAGE_MAX_DBS];         /* verified containers, kept open */
	size_t nfds;
};

/* Create dir (mode 0700, must not exist) as the stage. */
int stage_open(struct stage *st, const char *dir, const struct defs_opts *o,
    bool pua, char *err, size_t errlen);
/* Verify and stage path: a directory, a container or a plain file. */
int stage_add(struct stage *st, const char *path, char *err, size_t errlen);
/* Write a plain file of the stage (the canary signature), count lo = hi. */
int stage_write(struct stage *st, const char *name, const char *text,
    uint64_t count, char *err, size_t errlen);
/* The files in load order, lower bounds lowered by the .ign/.ign2 lines. */
void stage_sort(struct stage *st);
/* Remove the stage's files and directory, close the descriptors. */
void stage_close(struct stage *st);

#endif
