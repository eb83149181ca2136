/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compiled index: the layout of the engine's one flat image, and the
 * engine object, shared by engine_layout.c (which writes an image),
 * engine_index.c (which checks one and opens it) and engine_scan.c.
 *
 * Everything is little-endian, position-independent (offsets, never
 * pointers) and 8-byte aligned:
 *
 *   header    64 bytes: magic "AMPIDX\0\0", u32 format version,
 *             u32 section count, u64 total length, u64 checksum
 *             (ISA-L crc64_ecma_refl over the image, the checksum field
 *             left out), the 32-byte source id (engine.h)
 *   sections  ENGINE_NSEC entries of 32 bytes: u32 id, u32 stride,
 *             u64 offset, u64 length, u64 count; in id order, ascending,
 *             not overlapping
 *   NAMES     the signature names, each [u8 len][len bytes], stored once;
 *             a name id is the offset of its length byte
 *   MD5, SHA1, SHA256, FP_MD5, FP_SHA1, FP_SHA256
 *             hash tables: entries [digest][u32 size][u32 name id], sorted
 *             by (digest, size); size ENGINE_SIZE_ANY is `*` and sorts
 *             after the exact sizes of the same digest
 *   NDB       the body-signature image of cvd/engine/ndb.h (may be empty)
 *   INFO      u32 ndbs, u32 ntypes, u64 loaded[ntypes],
 *             u64 not_loaded[ntypes], u64 other_types,
 *             u64 unsupported[ntypes] (format 3: engine_info), then ndbs records
 *             of 80 bytes: name[64] (NUL-terminated), u32 version,
 *             kind[8] (NUL-terminated), u32 zero
 *   SIZES     which sizes each hash table can match, so that a scan computes
 *             a digest only when some signature could use it (ClamAV's
 *             cli_hm_have_size / cli_hm_have_wild): ENGINE_SIZES_NTAB
 *             records of 8 bytes, one per table in section order (MD5 ..
 *             FP_SHA256): u32 n, u32 any (1: the table has a `*` entry,
 *             else 0); then, in the same order, each table's n distinct
 *             exact sizes as u32, strictly ascending (never
 *             ENGINE_SIZE_ANY).  The section's count is the sum of the n.
 */
#ifndef CVD_ENGINE_IMAGE_H
#define CVD_ENGINE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ampscan/engine.h"
#include "ndb.h"

#define ENGINE_MAGIC "AMPIDX\0\0"
#define ENGINE_MAGIC_LEN 8
#define ENGINE_FORMAT_VERSION 3u	/* 3: INFO's unsupported[] */
#define ENGINE_HEADER_SIZE 64
#define ENGINE_SECTION_SIZE 32
#define ENGINE_ALIGN 8
#define ENGINE_CHECKSUM_OFF 24	/* the u64 the checksum leaves out */
#define ENGINE_SOURCE_OFF 32	/* the caller's source id */
#define ENGINE_SOURCE_LEN 32

enum engine_sec {
	ENGINE_SEC_NAMES,
	ENGINE_SEC_MD5,
	ENGINE_SEC_SHA1,
	ENGINE_SEC_SHA256,
	ENGINE_SEC_FP_MD5,
	ENGINE_SEC_FP_SHA1,
	ENGINE_SEC_FP_SHA256,
	ENGINE_SEC_NDB,
	ENGINE_SEC_INFO,
	ENGINE_SEC_SIZES,
	ENGINE_NSEC
};
/* Section ids in the file are enum engine_sec + 1. */

#define ENGINE_TABLES_OFF \
	(ENGINE_HEADER_SIZE + ENGINE_NSEC * ENGINE_SECTION_SIZE)

/* Digest kinds: index into the table arrays, and bits for engine_digests(). */
enum engine_dig { ENGINE_DIG_MD5, ENGINE_DIG_SHA1, ENGINE_DIG_SHA256,
	ENGINE_NDIG };
#define ENGINE_DIGEST_MD5 (1u << ENGINE_DIG_MD5)
#define ENGINE_DIGEST_SHA1 (1u << ENGINE_DIG_SHA1)
#define ENGINE_DIGEST_SHA256 (1u << ENGINE_DIG_SHA256)

#define ENGINE_SIZE_ANY UINT32_MAX	/* `*` in a table entry */
#define ENGINE_HASH_SIZE_MAX (UINT32_MAX - 1)
#define ENGINE_INFO_DB_SIZE 80
#define ENGINE_INFO_NAME_LEN 64
#define ENGINE_INFO_KIND_LEN 8
#define ENGINE_NTYPES (SIG_TYPE_OTHER + 1)
#define ENGINE_INFO_FIXED (8 + 16 * ENGINE_NTYPES + 8 + 8 * ENGINE_NTYPES)
#define ENGINE_SIZES_NTAB (2 * ENGINE_NDIG)	/* det[], then fp[] */
#define ENGINE_SIZES_FIXED (8 * ENGINE_SIZES_NTAB)

/* A table entry: the digest, then the two u32. */
static inline size_t
engine_dig_len(enum engine_dig d)
{
	return d == ENGINE_DIG_MD5 ? 16 : d == ENGINE_DIG_SHA1 ? 20 : 32;
}

static inline size_t
engine_entry_size(enum engine_dig d)
{
	return engine_dig_len(d) + 8;
}

static inline uint32_t
engine_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
engine_le64(const uint8_t *p)
{
	return (uint64_t)engine_le32(p) | (uint64_t)engine_le32(p + 4) << 32;
}

static inline void
engine_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
engine_put64(uint8_t *p, uint64_t v)
{
	engine_put32(p, (uint32_t)v);
	engine_put32(p + 4, (uint32_t)(v >> 32));
}

/* A hash table inside the image. */
struct engine_table {
	const uint8_t *p;
	size_t n;
};

/* The sizes one hash table can match (the SIZES section). */
struct engine_sizes {
	const uint8_t *p;	/* n u32, strictly ascending */
	size_t n;
	bool any;		/* a `*` entry: every size */
};

/*
 * An engine: the image (malloc'd or mapped) plus views into it.  Immutable
 * after engine_image_open(), so scans may run concurrently.
 */
struct engine {
	const uint8_t *img;
	size_t len;
	bool mapped;			/* munmap, not free */
	const uint8_t *names;
	size_t names_len;
	struct engine_table det[ENGINE_NDIG];
	struct engine_table fp[ENGINE_NDIG];
	struct engine_sizes det_sizes[ENGINE_NDIG];
	struct engine_sizes fp_sizes[ENGINE_NDIG];
	struct ndb_set *ndb;		/* NULL: no body signatures */
	unsigned digests;		/* ENGINE_DIGEST_* the scan computes */
	EVP_MD *md[ENGINE_NDIG];	/* fetched once; NULL if not needed */
	struct engine_info info;
};

/* The checksum of an image of len >= ENGINE_HEADER_SIZE bytes. */
uint64_t engine_image_checksum(const uint8_t *img, size_t len);

/*
 * Check an image (magic, version, length, checksum, every section's bounds
 * and alignment, the info section, the ndb image) and make an engine of
 * it.  On success the engine owns img (free() or munmap() per mapped); on
 * failure the caller keeps it.  ENGINE_EINDEX with "index: ..."
 * in err, or ENGINE_ENOMEM.
 */
int engine_image_open(const uint8_t *img, size_t len, bool mapped,
    struct engine **out, char *err, size_t errlen);

/* ENGINE_DIGEST_* bits: the digests a scan with e computes. */
unsigned engine_digests(const struct engine *e);

/*
 * ENGINE_DIGEST_* bits: the digests a scan of a len-byte buffer computes,
 * a subset of engine_digests(): a kind only if one of its tables (detection
 * or known-clean) has an entry of size len or of size `*`.
 */
unsigned engine_scan_digests(const struct engine *e, size_t len);

#endif
