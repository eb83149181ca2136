/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine_builder_finish()'s work: apply .ign2, sort and deduplicate the hash
 * tables, compile the body signatures, and lay everything out as the one
 * flat image engine_image.h describes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ampscan/engine.h"
#include "engine_build.h"
#include "engine_image.h"
#include "ndb.h"
#include "util.h"

#define ENGINE_BUCKETS 65536	/* first two digest bytes */

static uint32_t
engine_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
engine_off_of(const struct engine_builder *b, uint32_t idx)
{
	uint32_t off;

	memcpy(&off, b->offs.p + (size_t)idx * sizeof(off), sizeof(off));
	return off;
}

/* ---- .ign2 -------------------------------------------------------------- */

/* A byte per name: 1 if an .ign2 line names it. */
static int
engine_ignored(const struct engine_builder *b, uint8_t **out)
{
	uint8_t *ign = calloc(b->nnames ? b->nnames : 1, 1);

	if (ign == NULL)
		return ENGINE_ENOMEM;
	for (size_t i = 0; i < b->ign.len; i += 1 + (size_t)b->ign.p[i]) {
		int64_t idx = engine_names_find(b, (const char *)b->ign.p + i + 1,
		    b->ign.p[i]);

		if (idx >= 0)
			ign[idx] = 1;
	}
	*out = ign;
	return 0;
}

/* ---- hash tables -------------------------------------------------------- */

static int
engine_cmp_key(const void *a, const void *b, void *arg)
{
	return memcmp(a, b, *(const size_t *)arg);
}

/*
 * Sort entries by their first keylen bytes: a counting pass on the first
 * two bytes (digests are uniform), then a comparison sort of each bucket.
 */
static int
engine_sort(struct engine_vec *v, size_t stride, size_t keylen)
{
	size_t n = v->len / stride, *start;
	uint8_t *tmp;

	if (n < 2)
		return 0;
	start = calloc(ENGINE_BUCKETS + 1, sizeof(*start));
	tmp = malloc(v->len);
	if (start == NULL || tmp == NULL) {
		free(start);
		free(tmp);
		return ENGINE_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = v->p + i * stride;

		start[((size_t)e[0] << 8 | e[1]) + 1]++;
	}
	for (size_t k = 1; k <= ENGINE_BUCKETS; k++)
		start[k] += start[k - 1];
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = v->p + i * stride;
		size_t *at = &start[(size_t)e[0] << 8 | e[1]];

		memcpy(tmp + *at * stride, e, stride);
		(*at)++;
	}
	/* start[k] is now the end of bucket k */
	for (size_t k = 0, lo = 0; k < ENGINE_BUCKETS; lo = start[k++])
		if (start[k] - lo > 1)
			qsort_r(tmp + lo * stride, start[k] - lo, stride,
			    engine_cmp_key, &keylen);
	free(start);
	free(v->p);
	v->p = tmp;
	v->cap = v->len;
	return 0;
}

/*
 * Drop what .ign2 disables (counting it as not loaded), sort, and drop
 * exact duplicates (same digest, size and name).
 */
static int
engine_table_prepare(struct engine_builder *b, struct engine_vec *v,
    enum engine_dig d, const uint8_t *ign)
{
	size_t stride = engine_bentry_size(d), dl = engine_dig_len(d);
	size_t n = v->len / stride, kept = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t *e = v->p + i * stride;

		if (ign[engine_be32(e + dl + 4)]) {
			b->loaded[e[dl + 8]]--;
			b->not_loaded[e[dl + 8]]++;
			continue;
		}
		if (kept != i)
			memcpy(v->p + kept * stride, e, stride);
		kept++;
	}
	v->len = kept * stride;
	if (engine_sort(v, stride, dl + 8) != 0)
		return ENGINE_ENOMEM;
	kept = n = v->len / stride;
	if (n > 1) {
		kept = 1;
		for (size_t i = 1; i < n; i++) {
			const uint8_t *e = v->p + i * stride;

			if (memcmp(e, v->p + (kept - 1) * stride, dl + 8) == 0)
				continue;
			if (kept != i)
				memcpy(v->p + kept * stride, e, stride);
			kept++;
		}
	}
	v->len = kept * stride;
	return 0;
}

static void
engine_table_write(const struct engine_builder *b, const struct engine_vec *v,
    enum engine_dig d, uint8_t *out)
{
	size_t bs = engine_bentry_size(d), dl = engine_dig_len(d);
	size_t es = engine_entry_size(d), n = v->len / bs;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = v->p + i * bs;
		uint8_t *o = out + i * es;

		memcpy(o, e, dl);
		engine_put32(o + dl, engine_be32(e + dl));
		engine_put32(o + dl + 4, engine_off_of(b, engine_be32(e + dl + 4)));
	}
}

/* ---- size sets ---------------------------------------------------------- */

/* The distinct sizes of one table, for the SIZES section. */
struct engine_sizeset {
	uint32_t *v;
	size_t n;
	bool any;
};

static int
engine_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int
engine_sizes_collect(const struct engine_vec *v, enum engine_dig d,
    struct engine_sizeset *out)
{
	size_t bs = engine_bentry_size(d), dl = engine_dig_len(d);
	size_t n = v->len / bs, kept = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return 0;
	if ((out->v = malloc(n * sizeof(*out->v))) == NULL)
		return ENGINE_ENOMEM;
	for (size_t i = 0; i < n; i++)
		out->v[i] = engine_be32(v->p + i * bs + dl);
	qsort(out->v, n, sizeof(*out->v), engine_cmp_u32);
	for (size_t i = 0; i < n; i++) {
		if (out->v[i] == ENGINE_SIZE_ANY) {
			out->any = true;	/* sorts last */
			break;
		}
		if (kept == 0 || out->v[kept - 1] != out->v[i])
			out->v[kept++] = out->v[i];
	}
	out->n = kept;
	return 0;
}

static uint64_t
engine_sizes_len(const struct engine_sizeset *sz, uint64_t *count)
{
	uint64_t n = 0;

	for (int t = 0; t < ENGINE_SIZES_NTAB; t++)
		n += sz[t].n;
	*count = n;
	return ENGINE_SIZES_FIXED + 4 * n;
}

static void
engine_sizes_write(const struct engine_sizeset *sz, uint8_t *p)
{
	uint8_t *a = p + ENGINE_SIZES_FIXED;

	for (int t = 0; t < ENGINE_SIZES_NTAB; t++) {
		engine_put32(p + 8 * t, (uint32_t)sz[t].n);
		engine_put32(p + 8 * t + 4, sz[t].any ? 1 : 0);
		for (size_t i = 0; i < sz[t].n; i++, a += 4)
			engine_put32(a, sz[t].v[i]);
	}
}

/* ---- body signatures ---------------------------------------------------- */

static int
engine_ndb_add(struct engine_builder *b, struct ndb_builder *nb,
    const struct engine_ndb_rec *r, size_t *added, char *err, size_t errlen)
{
	uint32_t off = engine_off_of(b, r->name);
	const uint8_t *name = b->names.p + off;
	char why[256];
	struct sig s = {
		.type = SIG_TYPE_NDB,
		.name = { (const char *)name + 1, name[0] },
		.min_flevel = r->min_flevel, .max_flevel = r->max_flevel,
		.loadable = true,
	};
	int rc;

	s.u.ndb.target = r->target;
	s.u.ndb.offset_kind = (enum sig_offset_kind)r->offset_kind;
	s.u.ndb.offset = r->offset;
	s.u.ndb.maxshift = r->maxshift;
	s.u.ndb.has_maxshift = r->has_maxshift;
	s.u.ndb.pattern.p = (const char *)b->ndb_text.p + r->pat_off;
	s.u.ndb.pattern.len = r->pat_len;
	rc = ndb_builder_add(nb, &s, off, why, sizeof(why));
	if (rc == 0) {
		(*added)++;
		return 0;
	}
	if (rc == NDB_ENOTSUP) {
		b->loaded[SIG_TYPE_NDB]--;
		b->not_loaded[SIG_TYPE_NDB]++;
		b->unsupported[SIG_TYPE_NDB]++;
		return 0;
	}
	if (rc == NDB_ENOMEM)
		return cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory compiling .ndb signatures");
	return cvd_seterr(err, errlen, ENGINE_EINVAL, "ndb: signature %.*s: %s", (int)name[0], (const char *)name + 1, why);
}

static int
engine_ndb_compile(struct engine_builder *b, const uint8_t *ign,
    uint8_t **img, size_t *len, uint64_t *count, char *err, size_t errlen)
{
	const struct engine_ndb_rec *recs = (const void *)b->ndb.p;
	size_t n = b->ndb.len / sizeof(*recs), added = 0;
	struct ndb_builder *nb = NULL;
	int rc = 0;

	*img = NULL;
	*len = 0;
	*count = 0;
	if (n == 0)
		return 0;
	if (ndb_builder_new(&nb) != 0)
		return cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory compiling .ndb signatures");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (ign[recs[i].name]) {
			b->loaded[SIG_TYPE_NDB]--;
			b->not_loaded[SIG_TYPE_NDB]++;
			continue;
		}
		rc = engine_ndb_add(b, nb, &recs[i], &added, err, errlen);
	}
	if (rc == 0 && added > 0 && ndb_builder_finish(nb, img, len) != 0)
		rc = cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory compiling .ndb signatures");
	ndb_builder_free(nb);
	*count = added;
	return rc;
}

/* ---- the image ---------------------------------------------------------- */

struct engine_plan {
	uint64_t off[ENGINE_NSEC], len[ENGINE_NSEC], count[ENGINE_NSEC];
	uint32_t stride[ENGINE_NSEC];
	uint64_t total;
};

static void
engine_info_write(const struct engine_builder *b, uint8_t *p)
{
	engine_put32(p, (uint32_t)b->ndbs);
	engine_put32(p + 4, ENGINE_NTYPES);
	p += 8;
	for (int t = 0; t < ENGINE_NTYPES; t++)
		engine_put64(p + 8 * t, b->loaded[t]);
	p += 8 * ENGINE_NTYPES;
	for (int t = 0; t < ENGINE_NTYPES; t++)
		engine_put64(p + 8 * t, t == SIG_TYPE_OTHER ? b->other_types :
		    b->not_loaded[t]);
	p += 8 * ENGINE_NTYPES;
	engine_put64(p, b->other_types);
	p += 8;
	for (int t = 0; t < ENGINE_NTYPES; t++)
		engine_put64(p + 8 * t, b->unsupported[t]);
	p += 8 * ENGINE_NTYPES;
	for (size_t i = 0; i < b->ndbs; i++, p += ENGINE_INFO_DB_SIZE) {
		const struct engine_db_info *d = &b->dbs[i];

		memcpy(p, d->name, strnlen(d->name, ENGINE_INFO_NAME_LEN - 1));
		engine_put32(p + ENGINE_INFO_NAME_LEN, d->version);
		memcpy(p + ENGINE_INFO_NAME_LEN + 4, d->kind,
		    strnlen(d->kind, ENGINE_INFO_KIND_LEN - 1));
	}
}

static void
engine_plan_make(const struct engine_builder *b, size_t ndb_len,
    uint64_t ndb_count, const struct engine_sizeset *sz,
    struct engine_plan *pl)
{
	uint64_t at = ENGINE_TABLES_OFF;

	memset(pl, 0, sizeof(*pl));
	pl->len[ENGINE_SEC_NAMES] = b->names.len;
	pl->count[ENGINE_SEC_NAMES] = b->nnames;
	for (int d = 0; d < ENGINE_NDIG; d++) {
		size_t bs = engine_bentry_size(d), es = engine_entry_size(d);

		pl->stride[ENGINE_SEC_MD5 + d] = (uint32_t)es;
		pl->stride[ENGINE_SEC_FP_MD5 + d] = (uint32_t)es;
		pl->count[ENGINE_SEC_MD5 + d] = b->det[d].len / bs;
		pl->count[ENGINE_SEC_FP_MD5 + d] = b->fp[d].len / bs;
		pl->len[ENGINE_SEC_MD5 + d] = b->det[d].len / bs * es;
		pl->len[ENGINE_SEC_FP_MD5 + d] = b->fp[d].len / bs * es;
	}
	pl->len[ENGINE_SEC_NDB] = ndb_len;
	pl->count[ENGINE_SEC_NDB] = ndb_count;
	pl->len[ENGINE_SEC_INFO] = ENGINE_INFO_FIXED +
	    (uint64_t)b->ndbs * ENGINE_INFO_DB_SIZE;
	pl->count[ENGINE_SEC_INFO] = b->ndbs;
	pl->len[ENGINE_SEC_SIZES] = engine_sizes_len(sz,
	    &pl->count[ENGINE_SEC_SIZES]);
	for (int s = 0; s < ENGINE_NSEC; s++) {
		pl->off[s] = at;
		at += (pl->len[s] + ENGINE_ALIGN - 1) & ~(uint64_t)(ENGINE_ALIGN - 1);
	}
	pl->total = at;
}

static void
engine_header_write(const struct engine_plan *pl, uint8_t *img)
{
	memcpy(img, ENGINE_MAGIC, ENGINE_MAGIC_LEN);
	engine_put32(img + 8, ENGINE_FORMAT_VERSION);
	engine_put32(img + 12, ENGINE_NSEC);
	engine_put64(img + 16, pl->total);
	for (int s = 0; s < ENGINE_NSEC; s++) {
		uint8_t *h = img + ENGINE_HEADER_SIZE + s * ENGINE_SECTION_SIZE;

		engine_put32(h, (uint32_t)s + 1);
		engine_put32(h + 4, pl->stride[s]);
		engine_put64(h + 8, pl->off[s]);
		engine_put64(h + 16, pl->len[s]);
		engine_put64(h + 24, pl->count[s]);
	}
}

static int
engine_assemble(const struct engine_builder *b, const uint8_t *ndb_img,
    size_t ndb_len, uint64_t ndb_count, const struct engine_sizeset *sz,
    uint8_t **img, size_t *len, char *err, size_t errlen)
{
	struct engine_plan pl;
	uint8_t *p;

	engine_plan_make(b, ndb_len, ndb_count, sz, &pl);
	if (pl.total > SIZE_MAX || (p = calloc(1, (size_t)pl.total)) == NULL)
		return cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory for an image of %" PRIu64 " bytes", pl.total);
	engine_header_write(&pl, p);
	if (b->names.len > 0)
		memcpy(p + pl.off[ENGINE_SEC_NAMES], b->names.p, b->names.len);
	for (int d = 0; d < ENGINE_NDIG; d++) {
		engine_table_write(b, &b->det[d], d, p + pl.off[ENGINE_SEC_MD5 + d]);
		engine_table_write(b, &b->fp[d], d, p + pl.off[ENGINE_SEC_FP_MD5 + d]);
	}
	if (ndb_len > 0)
		memcpy(p + pl.off[ENGINE_SEC_NDB], ndb_img, ndb_len);
	engine_info_write(b, p + pl.off[ENGINE_SEC_INFO]);
	engine_sizes_write(sz, p + pl.off[ENGINE_SEC_SIZES]);
	memcpy(p + ENGINE_SOURCE_OFF, b->source_id, ENGINE_SOURCE_LEN);
	engine_put64(p + ENGINE_CHECKSUM_OFF,
	    engine_image_checksum(p, (size_t)pl.total));
	*img = p;
	*len = (size_t)pl.total;
	return 0;
}

int
engine_layout(struct engine_builder *b, uint8_t **img, size_t *len,
    char *err, size_t errlen)
{
	uint8_t *ign = NULL, *ndb_img = NULL;
	size_t ndb_len = 0;
	uint64_t ndb_count = 0;
	struct engine_sizeset sz[ENGINE_SIZES_NTAB] = { 0 };
	int rc;

	if ((rc = engine_ignored(b, &ign)) != 0)
		return cvd_seterr(err, errlen, rc, "engine: out of memory");
	for (int d = 0; d < ENGINE_NDIG && rc == 0; d++)
		if (engine_table_prepare(b, &b->det[d], d, ign) != 0 ||
		    engine_table_prepare(b, &b->fp[d], d, ign) != 0)
			rc = cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory sorting hash signatures");
	for (int d = 0; d < ENGINE_NDIG && rc == 0; d++)
		if (engine_sizes_collect(&b->det[d], d, &sz[d]) != 0 ||
		    engine_sizes_collect(&b->fp[d], d, &sz[ENGINE_NDIG + d]) != 0)
			rc = cvd_seterr(err, errlen, ENGINE_ENOMEM, "engine: out of memory");
	if (rc == 0)
		rc = engine_ndb_compile(b, ign, &ndb_img, &ndb_len, &ndb_count,
		    err, errlen);
	if (rc == 0)
		rc = engine_assemble(b, ndb_img, ndb_len, ndb_count, sz, img,
		    len, err, errlen);
	for (int t = 0; t < ENGINE_SIZES_NTAB; t++)
		free(sz[t].v);
	free(ign);
	free(ndb_img);
	return rc;
}
