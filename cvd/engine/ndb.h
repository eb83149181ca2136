/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Body signatures (.ndb): compile HexSig patterns into a flat image and
 * match them against a buffer.
 *
 * Build: each pattern is split into parts at its variable-length jumps
 * (`*`, `{n-m}`, `{n-}`, `{-n}`, `[n-m]`); one static run of each
 * signature (its "anchor", >= 2 bytes) goes into an Aho-Corasick
 * automaton.  Scan: the automaton runs once over the buffer; each anchor
 * hit is verified against the whole pattern (nibbles, `??`, alternatives,
 * negated alternatives, every jump, trying every placement a jump allows)
 * and the signature's offset (`*`, `n`, `n,maxshift`, `EOF-n`,
 * `EOF-n,maxshift`) and target type.  Patterns that cannot be honoured
 * exactly are refused at build time (NDB_ENOTSUP: counted as not loaded).
 *
 * The image is position-independent (offsets, no pointers), little-endian,
 * 8-byte aligned, with every offset bounds-checked by ndb_set_open(), so it
 * can be scanned straight from a read-only mapping of the index file.
 */
#ifndef CVD_NDB_H
#define CVD_NDB_H

#include <stddef.h>
#include <stdint.h>

#include "ampscan/sigs.h"

#define NDB_ENOTSUP 1        /* valid, but not loadable: count it */
#define NDB_ENOMEM (-1)
#define NDB_EINVAL (-2)      /* image corrupt, or bad argument */

struct ndb_builder;

int ndb_builder_new(struct ndb_builder **out);
void ndb_builder_free(struct ndb_builder *b);

/*
 * Add one .ndb signature (s->type == SIG_TYPE_NDB, as sig_parse_line()
 * filled it).  name_id is the caller's handle for the signature's name,
 * reported back on a match.  Returns 0, NDB_ENOTSUP (with the reason in
 * err), or NDB_ENOMEM.
 */
int ndb_builder_add(struct ndb_builder *b, const struct sig *s,
    uint32_t name_id, char *err, size_t errlen);

/*
 * Compile everything added into one malloc'd image (*image, *len; the
 * caller frees it).  The builder stays valid (and may be freed).
 */
int ndb_builder_finish(struct ndb_builder *b, uint8_t **image, size_t *len);

/* A read-only view of an image; the image must outlive it. */
struct ndb_set;

/* Check the image (magic, bounds of every offset) and open a view. */
int ndb_set_open(const uint8_t *image, size_t len, struct ndb_set **out);
void ndb_set_close(struct ndb_set *s);

/* Number of signatures in the set. */
uint32_t ndb_set_count(const struct ndb_set *s);

/*
 * Match buf against every signature.  For each signature that matches,
 * cb(arg, name_id) is called once; a non-zero return stops the scan (for a
 * first-match scan).  Returns 0, or NDB_ENOMEM.  Time is linear in len
 * plus the verification of anchor hits, which is bounded per hit.
 */
int ndb_set_scan(const struct ndb_set *s, const uint8_t *buf, size_t len,
    int (*cb)(void *arg, uint32_t name_id), void *arg);

#endif
