/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Definitions as the worker loads them: a directory of containers (the
 * active set), a single container, or a plain signature file; and the
 * compiled index beside them.
 */
#ifndef AMPSCAN_DEFS_H
#define AMPSCAN_DEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ampscan/cvd.h"
#include "ampscan/engine.h"

#define DEFS_INDEX_NAME "ampscan.idx"
#define DEFS_MAX_FILES 256

struct defs_opts {
	const struct cvd_trust *trust;   /* NULL: official keys */
	bool allow_unsigned;             /* .cld/.cud and plain signature files */
};

/*
 * Add the definitions at path to b: a directory (every container in it; of
 * NAME.cvd/.cld/.cud the one with the highest version; plain signature
 * files too when unsigned definitions are allowed), a container, or a
 * plain signature file.  Any file failing verification fails the load,
 * naming the file and the reason.
 */
int defs_load(struct engine_builder *b, const char *path,
    const struct defs_opts *o, char *err, size_t errlen);

/*
 * The source identity of a definitions directory: a SHA-256 over the sorted
 * names, sizes, modification times and headers of its definitions files.
 */
int defs_source_id(const char *dir, uint8_t id[32], char *err, size_t errlen);

/*
 * The engine for a definitions directory: its index when present and
 * fresh (same source identity), else built in memory.  *from_index says
 * which.  The index is never written here.
 */
int defs_engine(const char *dir, const struct defs_opts *o,
    struct engine **out, bool *from_index, char *err, size_t errlen);

/* Build the engine for dir and write its index atomically (statefile.h). */
int defs_build_index(const char *dir, const char *index_path,
    const struct defs_opts *o, char *err, size_t errlen);

#endif
