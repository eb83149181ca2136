/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the .ndb compiler and matcher (cvd/ndb*.c).
 *
 * Input: one selector byte, then
 *   even selector: .ndb lines, a NUL, then a buffer.  Each line goes
 *     through sig_parse_line() and ndb_builder_add(); the image is built,
 *     opened and the buffer scanned.  A buffer of at most REF_MAX bytes is
 *     also matched by a naive reference (every placement of every part,
 *     by dynamic programming over the image's records) and the two must
 *     agree, signature by signature.
 *   odd selector: the rest is an image: ndb_set_open() must refuse it or
 *     scan a buffer (the input itself) without harm.
 * Seeds: corpus/fuzz_ndb/, named pat-* and img-*.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ampscan/sigs.h"
#include "ndb.h"
#include "ndb_int.h"

#define FUZZ_ERRLEN 256
#define FUZZ_SIGS_MAX 16
#define REF_MAX 160             /* buffer bytes the reference takes */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint32_t mask;
	unsigned calls;
};

static int
fuzz_cb(void *arg, uint32_t id)
{
	struct seen *s = arg;

	if (id >= FUZZ_SIGS_MAX || (s->mask >> id) & 1)
		abort();        /* unknown, or reported twice */
	s->mask |= (uint32_t)1 << id;
	s->calls++;
	return 0;
}

static int
fuzz_stop_cb(void *arg, uint32_t id)
{
	(void)id;
	(*(unsigned *)arg)++;
	return 1;
}

/* ---- the reference: independent of ndb_match.c ------------------------- */

static bool
ref_eq(const uint8_t *b, const uint8_t *v, const uint8_t *m, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if ((b[j] & m[j]) != (v[j] & m[j]))
			return false;
	return true;
}

static bool
ref_part_at(const struct ndb_set *s, const uint8_t *pr, const uint8_t *buf,
    size_t len, size_t t)
{
	size_t n = ndb_ld32(pr + NDB_PART_LEN);
	const uint8_t *v = s->bytes + ndb_ld32(pr + NDB_PART_BYTES);
	uint32_t a0 = ndb_ld32(pr + NDB_PART_ALT0);
	bool ok;

	if (t + n > len || !ref_eq(buf + t, v, v + n, n))
		return false;
	for (uint32_t k = a0; k < a0 + ndb_ld32(pr + NDB_PART_NALTS); k++) {
		const uint8_t *a = s->alts + (size_t)k * NDB_ALT_SIZE;
		size_t w = ndb_ld32(a + NDB_ALT_WIDTH);
		size_t cnt = ndb_ld32(a + NDB_ALT_COUNT);
		const uint8_t *d = s->bytes + ndb_ld32(a + NDB_ALT_BYTES);
		size_t pos = t + ndb_ld32(a + NDB_ALT_POS);

		ok = false;
		for (size_t j = 0; j < cnt; j++)
			ok = ok || ref_eq(buf + pos, d + j * w, d + (cnt + j) * w,
			    w);
		if (ok == (ndb_ld32(a + NDB_ALT_NEG) != 0))
			return false;
	}
	if (pr[NDB_PART_FLAGS] & NDB_PF_LANCHOR) {
		ok = false;
		for (size_t g = pr[NDB_PART_LLO]; g <= pr[NDB_PART_LHI]; g++)
			ok = ok || (t >= g + 1 &&
			    buf[t - 1 - g] == pr[NDB_PART_LVAL]);
		if (!ok)
			return false;
	}
	if (pr[NDB_PART_FLAGS] & NDB_PF_RANCHOR) {
		ok = false;
		for (size_t g = pr[NDB_PART_RLO]; g <= pr[NDB_PART_RHI]; g++)
			ok = ok || (t + n + g < len &&
			    buf[t + n + g] == pr[NDB_PART_RVAL]);
		if (!ok)
			return false;
	}
	return true;
}

/* ok[t]: a valid placement of parts 0..i ends with part i at t. */
static bool
ref_sub(const struct ndb_set *s, uint32_t sub, const uint8_t *buf,
    size_t len)
{
	const uint8_t *r = s->subs + (size_t)sub * NDB_SUB_SIZE;
	uint32_t p0 = ndb_ld32(r + NDB_SUB_PART0);
	uint32_t np = ndb_ld32(r + NDB_SUB_NPARTS);
	uint32_t kind = ndb_ld32(r + NDB_SUB_OKIND);
	uint64_t off = ndb_ld64(r + NDB_SUB_OFF);
	uint64_t shift = ndb_ld64(r + NDB_SUB_SHIFT);
	bool prev[REF_MAX + 1], cur[REF_MAX + 1];
	size_t plen = 0;

	for (size_t t = 0; t <= len; t++) {
		int64_t base = kind == NDB_OFF_ABS ? (int64_t)off :
		    (int64_t)len - (int64_t)off;
		bool in = kind == NDB_OFF_ANY || (off <= len &&
		    (int64_t)t >= base && (uint64_t)((int64_t)t - base) <= shift);

		prev[t] = in && ref_part_at(s, s->parts + (size_t)p0 *
		    NDB_PART_SIZE, buf, len, t);
	}
	for (uint32_t i = 1; i < np; i++) {
		const uint8_t *pr = s->parts + (size_t)(p0 + i) * NDB_PART_SIZE;
		uint64_t lo = ndb_ld32(pr + NDB_PART_JLO);
		uint64_t hi = ndb_ld32(pr + NDB_PART_JHI);

		plen = ndb_ld32(s->parts + (size_t)(p0 + i - 1) *
		    NDB_PART_SIZE + NDB_PART_LEN);
		for (size_t t = 0; t <= len; t++) {
			cur[t] = false;
			for (size_t u = 0; u <= len && !cur[t]; u++)
				cur[t] = prev[u] && u + plen + lo <= t &&
				    (hi == NDB_JUMP_INF || t - u - plen <= hi);
			cur[t] = cur[t] && ref_part_at(s, pr, buf, len, t);
		}
		memcpy(prev, cur, sizeof(prev));
	}
	for (size_t t = 0; t <= len; t++)
		if (prev[t])
			return true;
	return false;
}

static uint32_t
ref_scan(const struct ndb_set *s, const uint8_t *buf, size_t len)
{
	uint32_t mask = 0;

	for (uint32_t k = 0; k < s->nsubs; k++) {
		uint32_t sig = ndb_ld32(s->subs + (size_t)k * NDB_SUB_SIZE);
		uint32_t id = ndb_ld32(s->sigs + 4 * (size_t)sig);

		if (!((mask >> id) & 1) && ref_sub(s, k, buf, len))
			mask |= (uint32_t)1 << id;
	}
	return mask;
}

/* ---- the two modes ------------------------------------------------------ */

static void
fuzz_patterns(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul != NULL ? (size_t)(nul - data) : size;
	const uint8_t *buf = nul != NULL ? nul + 1 : data + size;
	size_t blen = size - tlen - (nul != NULL);
	struct ndb_builder *b;
	struct ndb_set *set;
	struct seen all = { 0 };
	uint8_t *img;
	size_t ilen, pos = 0;
	uint32_t id = 0;
	unsigned first = 0;

	if (ndb_builder_new(&b) != 0)
		abort();
	while (pos < tlen && id < FUZZ_SIGS_MAX) {
		const uint8_t *e = memchr(data + pos, '\n', tlen - pos);
		size_t n = e != NULL ? (size_t)(e - data) - pos : tlen - pos;
		char err[FUZZ_ERRLEN];
		struct sig s;

		if (sig_parse_line(SIG_TYPE_NDB, (const char *)data + pos, n, &s,
		    err, sizeof(err)) == SIG_OK) {
			int rc = ndb_builder_add(b, &s, id, err, sizeof(err));

			if (rc != 0 && rc != NDB_ENOTSUP && rc != NDB_EINVAL)
				abort();
			if (rc != 0 && memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			id += rc == 0;
		}
		pos += n + 1;
	}
	if (ndb_builder_finish(b, &img, &ilen) != 0)
		abort();
	ndb_builder_free(b);
	if (ndb_set_open(img, ilen, &set) != 0 || ndb_set_count(set) != id)
		abort();
	if (ndb_set_scan(set, buf, blen, fuzz_cb, &all) != 0 ||
	    ndb_set_scan(set, buf, blen, fuzz_stop_cb, &first) != 0 ||
	    first != (all.calls > 0))
		abort();
	if (blen <= REF_MAX && ref_scan(set, buf, blen) != all.mask)
		abort();
	ndb_set_close(set);
	free(img);
}

static void
fuzz_image(const uint8_t *data, size_t size)
{
	uint8_t *img = malloc(size > 0 ? size : 1);
	struct ndb_set *set;
	unsigned calls = 0;

	if (img == NULL)
		abort();
	if (size > 0)
		memcpy(img, data, size);
	if (ndb_set_open(img, size, &set) == 0) {
		if (ndb_set_scan(set, data, size, fuzz_stop_cb, &calls) != 0)
			abort();
		ndb_set_close(set);
	}
	free(img);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_image(data + 1, size - 1);
	else
		fuzz_patterns(data + 1, size - 1);
	return 0;
}
