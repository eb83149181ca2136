/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine_scan(): the digests the loaded signatures need for a buffer of
 * this size (engine_scan_digests(): none when no hash signature has the
 * size or `*`), in one pass over the buffer; the known-clean lists; the hash tables (binary search); the
 * body automaton.  Reads only the image, through bounded lookups, so a
 * damaged table can give a wrong answer but never a wild read.
 */
#include <string.h>

#include <openssl/evp.h>

#include "ampscan/engine.h"
#include "engine_image.h"
#include "ndb.h"

/* Digests are updated chunk by chunk so the chunk stays in cache. */
#define ENGINE_SCAN_CHUNK (32 * 1024)
/* Reported when a name id does not point at a name (a damaged index). */
#define ENGINE_BAD_NAME "Ampscan.Index.BadName"

struct engine_scan_ctx {
	const struct engine *e;
	struct engine_result *res;
	bool allmatch;
	bool stop;
	uint32_t ids[ENGINE_MAX_MATCHES];
	uint8_t kinds[ENGINE_MAX_MATCHES];   /* which table found it */
};

/* Where a match came from: a hash table (its digest index) or a body
 * signature.  One name is reported once per kind: an MD5 and a SHA-256
 * signature of the same name are two findings, as clamd --allmatch says. */
#define ENGINE_KIND_BODY ENGINE_NDIG

static int
engine_digest_all(const struct engine *e, unsigned want, const uint8_t *buf,
    size_t len, uint8_t dig[ENGINE_NDIG][EVP_MAX_MD_SIZE])
{
	EVP_MD_CTX *ctx[ENGINE_NDIG] = { NULL };
	int rc = ENGINE_ENOMEM;
	int d;

	for (d = 0; d < ENGINE_NDIG; d++)
		if ((want & (1u << d)) &&
		    ((ctx[d] = EVP_MD_CTX_new()) == NULL ||
		    !EVP_DigestInit_ex2(ctx[d], e->md[d], NULL)))
			goto out;
	for (size_t off = 0; off < len; off += ENGINE_SCAN_CHUNK) {
		size_t n = len - off < ENGINE_SCAN_CHUNK ? len - off :
		    ENGINE_SCAN_CHUNK;

		for (d = 0; d < ENGINE_NDIG; d++)
			if (ctx[d] && !EVP_DigestUpdate(ctx[d], buf + off, n))
				goto out;
	}
	for (d = 0; d < ENGINE_NDIG; d++)
		if (ctx[d] && !EVP_DigestFinal_ex(ctx[d], dig[d], NULL))
			goto out;
	rc = 0;
out:
	for (d = 0; d < ENGINE_NDIG; d++)
		EVP_MD_CTX_free(ctx[d]);
	return rc;
}

/* Index of the first entry of t whose digest is >= dig. */
static size_t
engine_table_lower(const struct engine_table *t, size_t dl, size_t es,
    const uint8_t *dig)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(t->p + mid * es, dig, dl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
engine_size_ok(uint32_t want, size_t len)
{
	return want == ENGINE_SIZE_ANY || (len <= ENGINE_HASH_SIZE_MAX &&
	    want == len);
}

static bool
engine_fp_hit(const struct engine *e, unsigned want,
    uint8_t dig[ENGINE_NDIG][EVP_MAX_MD_SIZE], size_t len)
{
	for (int d = 0; d < ENGINE_NDIG; d++) {
		if (!(want & (1u << d)))
			continue;
		const struct engine_table *t = &e->fp[d];
		size_t dl = engine_dig_len(d), es = engine_entry_size(d);

		for (size_t i = engine_table_lower(t, dl, es, dig[d]);
		    i < t->n && memcmp(t->p + i * es, dig[d], dl) == 0; i++)
			if (engine_size_ok(engine_le32(t->p + i * es + dl), len))
				return true;
	}
	return false;
}

/* Record a match by name id; false when the scan should stop. */
static bool
engine_report(struct engine_scan_ctx *c, uint32_t id, uint8_t kind)
{
	struct engine_result *r = c->res;
	const uint8_t *names = c->e->names;
	size_t nl = c->e->names_len;

	for (size_t i = 0; i < r->nmatches; i++)
		if (c->ids[i] == id && c->kinds[i] == kind)
			return true;
	if (r->nmatches == ENGINE_MAX_MATCHES) {
		r->truncated = true;
		c->stop = true;
		return false;
	}
	c->ids[r->nmatches] = id;
	c->kinds[r->nmatches] = kind;
	if (id < nl && names[id] > 0 && names[id] <= nl - id - 1) {
		memcpy(r->names[r->nmatches], names + id + 1, names[id]);
		r->names[r->nmatches][names[id]] = '\0';
	} else {
		memcpy(r->names[r->nmatches], ENGINE_BAD_NAME,
		    sizeof(ENGINE_BAD_NAME));
	}
	r->nmatches++;
	if (!c->allmatch)
		c->stop = true;
	return !c->stop;
}

static void
engine_hash_hits(struct engine_scan_ctx *c, unsigned want,
    uint8_t dig[ENGINE_NDIG][EVP_MAX_MD_SIZE], size_t len)
{
	for (int d = 0; d < ENGINE_NDIG && !c->stop; d++) {
		if (!(want & (1u << d)))
			continue;
		const struct engine_table *t = &c->e->det[d];
		size_t dl = engine_dig_len(d), es = engine_entry_size(d);

		for (size_t i = engine_table_lower(t, dl, es, dig[d]);
		    i < t->n && !c->stop && memcmp(t->p + i * es, dig[d], dl) == 0;
		    i++) {
			const uint8_t *en = t->p + i * es;

			if (engine_size_ok(engine_le32(en + dl), len))
				engine_report(c, engine_le32(en + dl + 4), (uint8_t)d);
		}
	}
}

static int
engine_body_hit(void *arg, uint32_t name_id)
{
	return engine_report(arg, name_id, ENGINE_KIND_BODY) ? 0 : 1;
}

int
engine_scan(const struct engine *e, const uint8_t *buf, size_t len,
    unsigned flags, struct engine_result *res)
{
	static const uint8_t empty[1];
	uint8_t dig[ENGINE_NDIG][EVP_MAX_MD_SIZE];
	unsigned want;
	struct engine_scan_ctx c = { .e = e, .res = res,
	    .allmatch = (flags & ENGINE_SCAN_ALLMATCH) != 0 };

	if (res == NULL)
		return ENGINE_EINVAL;
	memset(res, 0, sizeof(*res));
	if (e == NULL || (buf == NULL && len > 0))
		return ENGINE_EINVAL;
	if (len == 0)
		buf = empty;
	/* only the kinds some signature of this size (or `*`) can use */
	want = engine_scan_digests(e, len);
	if (want != 0) {
		if (engine_digest_all(e, want, buf, len, dig) != 0)
			return ENGINE_ENOMEM;
		if (engine_fp_hit(e, want, dig, len))
			return 0;
		engine_hash_hits(&c, want, dig, len);
	}
	if (!c.stop && e->ndb != NULL &&
	    ndb_set_scan(e->ndb, buf, len, engine_body_hit, &c) != 0) {
		memset(res, 0, sizeof(*res));
		return ENGINE_ENOMEM;
	}
	return 0;
}
