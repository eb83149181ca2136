/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine builder's state, shared by engine_build.c (gathering
 * signatures) and engine_layout.c (compiling them into an image).
 */
#ifndef CVD_ENGINE_BUILD_H
#define CVD_ENGINE_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ampscan/engine.h"
#include "engine_image.h"

/* Caps on what one engine may hold (named, checked before allocating). */
#define ENGINE_NAMES_MAX (1ULL << 31)		/* bytes of the name table */
#define ENGINE_ENTRIES_MAX (1ULL << 28)		/* entries per hash table */
#define ENGINE_NDB_TEXT_MAX (1ULL << 31)	/* bytes of .ndb patterns */

/* A growable byte array. */
struct engine_vec {
	uint8_t *p;
	size_t len, cap;
};

int engine_vec_grow(struct engine_vec *v, size_t more);

/*
 * A hash entry while building: digest, size and name index big-endian so
 * that one memcmp over the first dlen + 8 bytes orders (digest, size,
 * name); then the signature's type (for the counts) and padding.
 */
static inline size_t
engine_bentry_size(enum engine_dig d)
{
	return engine_dig_len(d) + 12;
}

/* An .ndb signature held until finish, when .ign2 is known. */
struct engine_ndb_rec {
	uint32_t name;		/* name index */
	uint32_t target;
	uint64_t offset, maxshift;
	uint64_t pat_off;	/* into ndb_text */
	uint32_t pat_len;
	uint32_t min_flevel, max_flevel;
	uint8_t offset_kind;
	bool has_maxshift;
};

struct engine_builder {
	/* names, stored once: [u8 len][bytes] in names; offs[i] locates name i */
	struct engine_vec names;
	struct engine_vec offs;		/* uint32_t per name */
	uint32_t *slots;		/* open addressing: name index + 1 */
	size_t nslots;
	size_t nnames;

	struct engine_vec det[ENGINE_NDIG];	/* builder entries */
	struct engine_vec fp[ENGINE_NDIG];
	struct engine_vec ign;		/* .ign2 names, [u8 len][bytes] */
	struct engine_vec ndb;		/* struct engine_ndb_rec */
	struct engine_vec ndb_text;	/* their patterns */

	uint64_t loaded[ENGINE_NTYPES];
	uint64_t not_loaded[ENGINE_NTYPES];
	uint64_t other_types;
	uint64_t unsupported[ENGINE_NTYPES];	/* engine_info's */
	struct engine_db_info dbs[ENGINE_MAX_DBS];
	size_t ndbs;
	uint8_t source_id[32];		/* engine_builder_set_source_id() */
};

/* Name index of a name in the table, or -1. */
int64_t engine_names_find(const struct engine_builder *b, const char *p,
    size_t len);

/* Compile b into an image (malloc'd, checksummed) of *len bytes. */
int engine_layout(struct engine_builder *b, uint8_t **img, size_t *len,
    char *err, size_t errlen);

#endif
