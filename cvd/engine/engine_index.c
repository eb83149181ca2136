/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compiled index: check an image and open an engine on it, write it,
 * map it.  A built engine and a mapped one go through the same
 * engine_image_open(), so they scan alike.
 *
 * Checks: magic, format version, total length equal to the image, the
 * checksum (ISA-L's crc64, several GB/s; for a mapped index computed with
 * pread(), not through the mapping, so the pages stay out of RSS), the
 * reserved bytes, every section's id, stride, alignment and bounds (in
 * order, not overlapping), the info section field by field, and the body
 * image through ndb_set_open().  Table order is not checked: the checksum
 * covers accidental damage, and every lookup is bounded whatever the order.
 * An index file is written once and renamed into place, never changed in
 * place: shrinking a mapped file would turn reads into SIGBUS.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc64.h>

#include "ampscan/engine.h"
#include "engine_image.h"
#include "ndb.h"
#include "util.h"

static const char *const engine_sec_names[ENGINE_NSEC] = {
	"names", "md5", "sha1", "sha256", "fp-md5", "fp-sha1", "fp-sha256",
	"ndb", "info", "sizes",
};

static const char *const engine_md_names[ENGINE_NDIG] = {
	"MD5", "SHA1", "SHA256",
};

uint64_t
engine_image_checksum(const uint8_t *img, size_t len)
{
	uint64_t crc = crc64_ecma_refl(0, img, ENGINE_CHECKSUM_OFF);

	return crc64_ecma_refl(crc, img + ENGINE_CHECKSUM_OFF + 8,
	    len - ENGINE_CHECKSUM_OFF - 8);
}

unsigned
engine_digests(const struct engine *e)
{
	return e ? e->digests : 0;
}

/*
 * crc: the checksum of the image already computed by the caller (from the
 * file, so that checking a mapped index does not fault in every page), or
 * NULL to compute it over img.
 */
static int
engine_header_check(const uint8_t *img, size_t len, const uint64_t *crc,
    char *err, size_t errlen)
{
	uint64_t want, have;

	if (len < ENGINE_TABLES_OFF)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: %zu bytes, shorter than the header (%d)", len, ENGINE_TABLES_OFF);
	if (memcmp(img, ENGINE_MAGIC, ENGINE_MAGIC_LEN) != 0)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: bad magic (not an ampscan index)");
	if (engine_le32(img + 8) != ENGINE_FORMAT_VERSION)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: format version %" PRIu32 ", this engine reads %u", engine_le32(img + 8), ENGINE_FORMAT_VERSION);
	if (engine_le32(img + 12) != ENGINE_NSEC)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: %" PRIu32 " sections, want %d", engine_le32(img + 12), ENGINE_NSEC);
	if (engine_le64(img + 16) != len)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: header says %" PRIu64 " bytes, the file has %zu (truncated?)", engine_le64(img + 16), len);
	want = engine_le64(img + ENGINE_CHECKSUM_OFF);
	have = crc != NULL ? *crc : engine_image_checksum(img, len);
	if (have != want)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: checksum mismatch (header %016" PRIx64 ", computed %016" PRIx64 ")", want, have);
	return 0;
}

static uint32_t
engine_sec_stride(int s)
{
	if (s >= ENGINE_SEC_MD5 && s <= ENGINE_SEC_SHA256)
		return (uint32_t)engine_entry_size(s - ENGINE_SEC_MD5);
	if (s >= ENGINE_SEC_FP_MD5 && s <= ENGINE_SEC_FP_SHA256)
		return (uint32_t)engine_entry_size(s - ENGINE_SEC_FP_MD5);
	return 0;
}

/* Section s: where it is, checked against the image and the one before. */
static int
engine_sec_check(const uint8_t *img, size_t len, int s, uint64_t *prev_end,
    uint64_t *off, uint64_t *slen, uint64_t *count, char *err, size_t errlen)
{
	const uint8_t *h = img + ENGINE_HEADER_SIZE + s * ENGINE_SECTION_SIZE;
	uint32_t id = engine_le32(h), stride = engine_le32(h + 4);
	const char *nm = engine_sec_names[s];

	*off = engine_le64(h + 8);
	*slen = engine_le64(h + 16);
	*count = engine_le64(h + 24);
	if (id != (uint32_t)s + 1)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section %d has id %" PRIu32 ", want %d", s + 1, id, s + 1);
	if (stride != engine_sec_stride(s))
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section %d (%s): entries of %" PRIu32 " bytes, want %" PRIu32, s + 1, nm, stride, engine_sec_stride(s));
	if (*off % ENGINE_ALIGN != 0)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section %d (%s): offset %" PRIu64 " not %d-byte aligned", s + 1, nm, *off, ENGINE_ALIGN);
	if (*off < *prev_end || *off > len || *slen > len - *off)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section %d (%s) out of bounds (offset %" PRIu64 ", length %" PRIu64 ", image %zu bytes)", s + 1, nm, *off, *slen, len);
	if (stride != 0 && (*count > *slen / stride || *count * stride != *slen))
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section %d (%s): %" PRIu64 " entries of %" PRIu32 " bytes in %" PRIu64 " bytes", s + 1, nm, *count, stride, *slen);
	*prev_end = *off + *slen;
	return 0;
}

static bool
engine_field_ok(const uint8_t *p, size_t n)
{
	return memchr(p, '\0', n) != NULL;
}

static int
engine_info_read(const uint8_t *p, uint64_t len, struct engine_info *info,
    char *err, size_t errlen)
{
	uint32_t ndbs, ntypes;

	if (len < ENGINE_INFO_FIXED)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 9 (info): %" PRIu64 " bytes, want at least %d", len, ENGINE_INFO_FIXED);
	ndbs = engine_le32(p);
	ntypes = engine_le32(p + 4);
	if (ntypes != ENGINE_NTYPES || ndbs > ENGINE_MAX_DBS ||
	    len != ENGINE_INFO_FIXED + (uint64_t)ndbs * ENGINE_INFO_DB_SIZE)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 9 (info): %" PRIu32 " databases, %" PRIu32 " types in %" PRIu64 " bytes", ndbs, ntypes, len);
	p += 8;
	for (int t = 0; t < ENGINE_NTYPES; t++) {
		info->loaded[t] = engine_le64(p + 8 * t);
		info->not_loaded[t] = engine_le64(p + 8 * (ENGINE_NTYPES + t));
	}
	p += 16 * ENGINE_NTYPES;
	info->other_types = engine_le64(p);
	p += 8;
	for (int t = 0; t < ENGINE_NTYPES; t++)
		info->unsupported[t] = engine_le64(p + 8 * t);
	p += 8 * ENGINE_NTYPES;
	for (uint32_t i = 0; i < ndbs; i++, p += ENGINE_INFO_DB_SIZE) {
		struct engine_db_info *d = &info->dbs[i];

		if (!engine_field_ok(p, ENGINE_INFO_NAME_LEN) ||
		    !engine_field_ok(p + ENGINE_INFO_NAME_LEN + 4,
		    ENGINE_INFO_KIND_LEN))
			return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 9 (info): database %" PRIu32 ": name or kind not terminated", i + 1);
		memcpy(d->name, p, ENGINE_INFO_NAME_LEN);
		d->version = engine_le32(p + ENGINE_INFO_NAME_LEN);
		memcpy(d->kind, p + ENGINE_INFO_NAME_LEN + 4, ENGINE_INFO_KIND_LEN);
	}
	info->ndbs = ndbs;
	return 0;
}

/*
 * The SIZES section: bounds, flags, each array strictly ascending.  Small
 * (4 bytes per distinct size), so reading all of it at load is cheap.
 */
static int
engine_sizes_read(struct engine *e, const uint8_t *p, uint64_t len,
    uint64_t count, char *err, size_t errlen)
{
	const uint8_t *a = p + ENGINE_SIZES_FIXED;
	uint64_t total = 0;

	if (len < ENGINE_SIZES_FIXED)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 10 (sizes): %" PRIu64 " bytes, want at least %d", len, ENGINE_SIZES_FIXED);
	for (int t = 0; t < ENGINE_SIZES_NTAB; t++) {
		uint32_t any = engine_le32(p + 8 * t + 4);

		total += engine_le32(p + 8 * t);
		if (any > 1)
			return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 10 (sizes): table %d: bad flag %" PRIu32, t + 1, any);
	}
	if (total != count || total != (len - ENGINE_SIZES_FIXED) / 4 ||
	    (len - ENGINE_SIZES_FIXED) % 4 != 0)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 10 (sizes): %" PRIu64 " sizes in %" PRIu64 " bytes, the table says %" PRIu64, total, len, count);
	for (int t = 0; t < ENGINE_SIZES_NTAB; t++) {
		struct engine_sizes *z = t < ENGINE_NDIG ? &e->det_sizes[t] :
		    &e->fp_sizes[t - ENGINE_NDIG];

		z->p = a;
		z->n = engine_le32(p + 8 * t);
		z->any = engine_le32(p + 8 * t + 4) != 0;
		for (size_t i = 0; i < z->n; i++)
			if (engine_le32(a + 4 * i) == ENGINE_SIZE_ANY ||
			    (i > 0 && engine_le32(a + 4 * i) <=
			    engine_le32(a + 4 * (i - 1))))
				return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 10 (sizes): table %d: sizes not strictly ascending", t + 1);
		a += 4 * z->n;
	}
	return 0;
}

static bool
engine_sizes_has(const struct engine_sizes *z, size_t len)
{
	size_t lo = 0, hi = z->n;

	if (z->any)
		return true;
	if (len > ENGINE_HASH_SIZE_MAX)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v = engine_le32(z->p + 4 * mid);

		if (v == len)
			return true;
		if (v < len)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

unsigned
engine_scan_digests(const struct engine *e, size_t len)
{
	unsigned want = 0;

	if (e == NULL)
		return 0;
	for (int d = 0; d < ENGINE_NDIG; d++)
		if ((e->digests & (1u << d)) &&
		    (engine_sizes_has(&e->det_sizes[d], len) ||
		    engine_sizes_has(&e->fp_sizes[d], len)))
			want |= 1u << d;
	return want;
}

static int
engine_md_fetch(struct engine *e, char *err, size_t errlen)
{
	for (int d = 0; d < ENGINE_NDIG; d++) {
		if (!(e->digests & (1u << d)))
			continue;
		if ((e->md[d] = EVP_MD_fetch(NULL, engine_md_names[d], NULL)) == NULL)
			return cvd_seterr(err, errlen, ENGINE_EINVAL, "engine: OpenSSL offers no %s (FIPS mode?)", engine_md_names[d]);
	}
	return 0;
}

/* Views into a checked image; the body image opened. */
static int
engine_views(struct engine *e, char *err, size_t errlen)
{
	uint64_t prev = ENGINE_TABLES_OFF, off[ENGINE_NSEC], len[ENGINE_NSEC];
	uint64_t count[ENGINE_NSEC];
	int rc;

	for (int s = 0; s < ENGINE_NSEC; s++)
		if ((rc = engine_sec_check(e->img, e->len, s, &prev, &off[s],
		    &len[s], &count[s], err, errlen)) != 0)
			return rc;
	if ((rc = engine_info_read(e->img + off[ENGINE_SEC_INFO],
	    len[ENGINE_SEC_INFO], &e->info, err, errlen)) != 0)
		return rc;
	if ((rc = engine_sizes_read(e, e->img + off[ENGINE_SEC_SIZES],
	    len[ENGINE_SEC_SIZES], count[ENGINE_SEC_SIZES], err, errlen)) != 0)
		return rc;
	e->names = e->img + off[ENGINE_SEC_NAMES];
	e->names_len = len[ENGINE_SEC_NAMES];
	for (int d = 0; d < ENGINE_NDIG; d++) {
		e->det[d].p = e->img + off[ENGINE_SEC_MD5 + d];
		e->det[d].n = count[ENGINE_SEC_MD5 + d];
		e->fp[d].p = e->img + off[ENGINE_SEC_FP_MD5 + d];
		e->fp[d].n = count[ENGINE_SEC_FP_MD5 + d];
		if (e->det[d].n > 0 || e->fp[d].n > 0)
			e->digests |= 1u << d;
	}
	if (len[ENGINE_SEC_NDB] > 0) {
		rc = ndb_set_open(e->img + off[ENGINE_SEC_NDB],
		    len[ENGINE_SEC_NDB], &e->ndb);
		if (rc == NDB_ENOMEM)
			return cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory");
		if (rc != 0)
			return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 8 (ndb): the body-signature image is corrupt");
		if (ndb_set_count(e->ndb) != count[ENGINE_SEC_NDB])
			return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: section 8 (ndb): %" PRIu32 " signatures, the table says %" PRIu64, ndb_set_count(e->ndb), count[ENGINE_SEC_NDB]);
	}
	e->info.image_size = e->len;
	return engine_md_fetch(e, err, errlen);
}

static void
engine_release(struct engine *e)
{
	ndb_set_close(e->ndb);
	for (int d = 0; d < ENGINE_NDIG; d++)
		EVP_MD_free(e->md[d]);
	free(e);
}

static int
engine_image_open_crc(const uint8_t *img, size_t len, bool mapped,
    const uint64_t *crc, struct engine **out, char *err, size_t errlen)
{
	struct engine *e;
	int rc;

	*out = NULL;
	if ((rc = engine_header_check(img, len, crc, err, errlen)) != 0)
		return rc;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory");
	e->img = img;
	e->len = len;
	e->mapped = mapped;
	if ((rc = engine_views(e, err, errlen)) != 0) {
		engine_release(e);
		return rc;
	}
	*out = e;
	return 0;
}

int
engine_image_open(const uint8_t *img, size_t len, bool mapped,
    struct engine **out, char *err, size_t errlen)
{
	return engine_image_open_crc(img, len, mapped, NULL, out, err, errlen);
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	if (e->mapped)
		munmap((void *)(uintptr_t)e->img, e->len);
	else
		free((void *)(uintptr_t)e->img);
	engine_release(e);
}

int
engine_index_write(const struct engine *e, int fd, char *err, size_t errlen)
{
	const uint8_t *p;
	size_t left;
	ssize_t n;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (e == NULL || fd < 0)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "index: no engine or no file");
	for (p = e->img, left = e->len; left > 0; p += n, left -= (size_t)n) {
		n = write(fd, p, left);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			return cvd_seterr(err, errlen, ENGINE_EIO, "index: write: %s", n < 0 ? strerror(errno) : "no progress");
	}
	return 0;
}

/*
 * The checksum of the len-byte index in fd, read with pread() in chunks
 * rather than through the mapping: reading through it would make every page
 * of the index resident in the worker (its RSS), where a scan touches only
 * the pages its lookups need.  The chunk is on the heap (1 MiB is too much
 * for a worker thread's stack).
 */
#define ENGINE_CRC_CHUNK (1024 * 1024)

static int
engine_file_checksum(int fd, size_t len, uint64_t *crc, char *err,
    size_t errlen)
{
	uint8_t *buf = malloc(ENGINE_CRC_CHUNK);
	uint64_t c = 0;
	size_t off = 0;
	int rc = 0;

	if (buf == NULL)
		return cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory");
	while (off < len && rc == 0) {
		size_t want = len - off < ENGINE_CRC_CHUNK ? len - off :
		    ENGINE_CRC_CHUNK, got = 0;

		while (got < want) {
			ssize_t n = pread(fd, buf + got, want - got,
			    (off_t)(off + got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = n < 0 ? cvd_seterr(err, errlen, ENGINE_EIO, "index: read: %s", strerror(errno)) :
				    cvd_seterr(err, errlen, ENGINE_EINDEX, "index: the file shrank while being read");
				break;
			}
			got += (size_t)n;
		}
		if (rc != 0)
			break;
		if (off == 0) {
			/* len >= ENGINE_TABLES_OFF, so the field is all here */
			c = crc64_ecma_refl(0, buf, ENGINE_CHECKSUM_OFF);
			c = crc64_ecma_refl(c, buf + ENGINE_CHECKSUM_OFF + 8,
			    want - ENGINE_CHECKSUM_OFF - 8);
		} else {
			c = crc64_ecma_refl(c, buf, want);
		}
		off += want;
	}
	free(buf);
	*crc = c;
	return rc;
}

int
engine_index_map(int fd, struct engine **out, char *err, size_t errlen)
{
	return engine_index_map_flags(fd, 0, out, err, errlen);
}

int
engine_index_map_flags(int fd, unsigned flags, struct engine **out,
    char *err, size_t errlen)
{
	struct stat st;
	uint64_t crc = 0;
	void *p;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return cvd_seterr(err, errlen, ENGINE_EINVAL, "index: no place for the engine");
	*out = NULL;
	if (fstat(fd, &st) != 0)
		return cvd_seterr(err, errlen, ENGINE_EIO, "index: fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: not a regular file");
	if (st.st_size < ENGINE_TABLES_OFF)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: %jd bytes, shorter than the header (%d)", (intmax_t)st.st_size, ENGINE_TABLES_OFF);
	if ((uint64_t)st.st_size > SIZE_MAX)
		return cvd_seterr(err, errlen, ENGINE_EINDEX, "index: too large to map");
	/*
	 * No MAP_POPULATE: the pages come in as scans touch them.  The checksum
	 * is computed from the file before the engine exists, and checked by
	 * engine_image_open_crc() before any section is trusted.
	 */
	if ((flags & ENGINE_MAP_CHECKSUM_VERIFIED) == 0 &&
	    (rc = engine_file_checksum(fd, (size_t)st.st_size, &crc, err,
	    errlen)) != 0)
		return rc;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return cvd_seterr(err, errlen, ENGINE_EIO, "index: mmap: %s", strerror(errno));
	if (flags & ENGINE_MAP_CHECKSUM_VERIFIED)   /* the caller's word for it */
		crc = engine_le64((const uint8_t *)p + ENGINE_CHECKSUM_OFF);
	if ((rc = engine_image_open_crc(p, (size_t)st.st_size, true, &crc, out,
	    err, errlen)) != 0)
		munmap(p, (size_t)st.st_size);
	return rc;
}

void
engine_info(const struct engine *e, struct engine_info *out)
{
	if (out == NULL)
		return;
	if (e == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = e->info;
}

const char *
engine_strerror(int err)
{
	switch (err) {
	case ENGINE_OK:
		return "success";
	case ENGINE_ENOMEM:
		return "out of memory";
	case ENGINE_EINVAL:
		return "invalid argument or signature";
	case ENGINE_EIO:
		return "input/output error";
	case ENGINE_EINDEX:
		return "index corrupt, truncated or of another version";
	case ENGINE_ELOAD:
		return "definitions failed verification";
	default:
		return "unknown error";
	}
}

void
engine_source_id(const struct engine *e, uint8_t id[32])
{
	memcpy(id, e->img + ENGINE_SOURCE_OFF, ENGINE_SOURCE_LEN);
}
