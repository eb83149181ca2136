/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscan: the scan engine.
 *
 * Signatures of the loaded types (hdb, hsb, ndb, fp, sfp, ign2) are gathered
 * by a builder, compiled into one flat, position-independent image (the
 * "compiled index"), and scanned from that image whether it lives in memory
 * or in a read-only mapping of an index file shared by every worker.  The
 * engine scans one buffer at a time (a mapped file, an archive member); it
 * knows nothing of files, archives, processes or the supervisor.
 *
 * No global state.  An engine is immutable once built or mapped, so any
 * number of threads or processes may scan with it at once.
 */
#ifndef AMPSCAN_ENGINE_H
#define AMPSCAN_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ampscan/cvd.h"
#include "ampscan/sigs.h"

#define ENGINE_OK 0
#define ENGINE_ENOMEM (-1)
#define ENGINE_EINVAL (-2)   /* bad argument or a signature we refuse */
#define ENGINE_EIO (-3)
#define ENGINE_EINDEX (-4)   /* index file corrupt, truncated, wrong version */
#define ENGINE_ELOAD (-5)    /* a definitions file failed verification */

#define ENGINE_NAME_MAX 255
#define ENGINE_MAX_DBS 64           /* containers/files in one engine */
#define ENGINE_MAX_MATCHES 64       /* ALLMATCH: names reported per buffer */

/* ---- building ---------------------------------------------------------- */

struct engine_builder;

int engine_builder_new(struct engine_builder **out);
void engine_builder_free(struct engine_builder *b);

/*
 * Add one parsed signature (what cvd_sink.signature receives).  db names
 * the member or file it came from ("daily.hdb").  Signatures with
 * s->loadable false are counted as not loaded and otherwise ignored.
 * Returns 0, ENGINE_ENOMEM, or ENGINE_EINVAL with a reason in err.
 */
int engine_builder_add(struct engine_builder *b, const char *db,
    const struct sig *s, char *err, size_t errlen);

/*
 * Load every signature of a verified container (cvd_verify_file with a
 * sink); a container that fails verification adds nothing (ENGINE_ELOAD,
 * the verifier's message in err).  Records the container's name, version
 * and per-type counts for engine_info().
 */
int engine_builder_add_container(struct engine_builder *b, const char *path,
    const struct cvd_verify_opts *opts, char *err, size_t errlen);

/* Load a plain signature file (.hdb, .hsb, .ndb, .fp, .sfp, .ign2). */
int engine_builder_add_file(struct engine_builder *b, const char *path,
    char *err, size_t errlen);

/*
 * The same from an open descriptor (read from its current offset for a
 * plain file, with pread for a container; not closed): name is the file
 * name ("daily.cvd"), which gives the kind and the type.  The trial worker
 * loads a candidate set this way: it may open nothing by path.
 */
int engine_builder_add_container_fd(struct engine_builder *b, int fd,
    const char *name, const struct cvd_verify_opts *opts, char *err,
    size_t errlen);
int engine_builder_add_file_fd(struct engine_builder *b, int fd,
    const char *name, char *err, size_t errlen);

/*
 * Compile: apply .ign2, build the hash tables and the body automaton, and
 * produce the image.  The builder is consumed (freed) whatever the result.
 */
struct engine;
int engine_builder_finish(struct engine_builder *b, struct engine **out,
    char *err, size_t errlen);

/*
 * An opaque 32-byte identity of the sources (the caller computes it, e.g.
 * a digest of the definitions files' names, sizes, times and headers); it
 * is stored in the index so a reader can tell a stale index from a fresh one.
 */
void engine_builder_set_source_id(struct engine_builder *b,
    const uint8_t id[32]);
void engine_source_id(const struct engine *e, uint8_t id[32]);

/* ---- the compiled index ------------------------------------------------ */

/*
 * Write the engine's image to fd (a new file; the caller renames it into
 * place).  The image carries a magic, a format version and a checksum.
 */
int engine_index_write(const struct engine *e, int fd, char *err,
    size_t errlen);

/*
 * Map an index file read-only (MAP_SHARED, so workers share the pages) and
 * check its magic, version, bounds and checksum.  fd may be closed after.
 */
int engine_index_map(int fd, struct engine **out, char *err, size_t errlen);

/*
 * The same with flags.  ENGINE_MAP_CHECKSUM_VERIFIED: whoever hands over fd
 * has checked this file's checksum (ampdaemon, which builds and re-checks
 * the index and passes it to its workers): it is not recomputed, which
 * saves reading the whole file at every worker start.  Every structural
 * check still runs, so a damaged file is refused or, at worst, gives wrong
 * verdicts; it never makes the reader go out of bounds (fuzz_index mutates
 * images with a recomputed checksum to hold this).
 */
#define ENGINE_MAP_CHECKSUM_VERIFIED 0x1u
int engine_index_map_flags(int fd, unsigned flags, struct engine **out,
    char *err, size_t errlen);

void engine_free(struct engine *e);

/* ---- what is loaded ---------------------------------------------------- */

struct engine_db_info {
	char name[64];            /* "daily" (container) or the file name */
	unsigned version;         /* 0 for a plain file */
	char kind[8];             /* "cvd", "cld", "cud", "file" */
};

struct engine_info {
	struct engine_db_info dbs[ENGINE_MAX_DBS];
	size_t ndbs;
	/* per type: loaded signatures, and lines not loaded */
	uint64_t loaded[SIG_TYPE_OTHER + 1];
	uint64_t not_loaded[SIG_TYPE_OTHER + 1];
	uint64_t other_types;     /* lines of types the engine does not load */
	/*
	 * per type: signatures this engine cannot load that libclamav would
	 * (a subset of not_loaded: not those .ign2 drops, not those outside
	 * the functionality level); [SIG_TYPE_OTHER]: lines of the types
	 * clamd loads by default and this engine does not read (ldb, cdb, ...)
	 */
	uint64_t unsupported[SIG_TYPE_OTHER + 1];
	uint64_t image_size;      /* bytes of the compiled image */
};

void engine_info(const struct engine *e, struct engine_info *out);

/* ---- scanning ---------------------------------------------------------- */

#define ENGINE_SCAN_ALLMATCH 0x1   /* report every matching signature */

struct engine_result {
	size_t nmatches;                          /* 0: clean */
	char names[ENGINE_MAX_MATCHES][ENGINE_NAME_MAX + 1];
	bool truncated;                           /* more matched than fit */
};

/*
 * Scan one buffer: the digests some loaded signature needs (MD5, SHA-1,
 * SHA-256, each only if needed), hash lookups by (size, digest), the body
 * automaton with full pattern and offset checks; a match on a .fp/.sfp
 * entry for the buffer suppresses every detection.  Without ALLMATCH it
 * stops at the first match.  Returns 0 (result filled) or ENGINE_ENOMEM.
 */
int engine_scan(const struct engine *e, const uint8_t *buf, size_t len,
    unsigned flags, struct engine_result *res);

const char *engine_strerror(int err);

#endif
