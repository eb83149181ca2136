/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The bounded byte buffer: checked puts and gets, sticky errors. */
#include <stdlib.h>

#include "buf.h"

/* Smallest allocation of a growable buffer; doubled from there. */
#define BUF_MIN_ALLOC 256

void
buf_init(struct buf *b, size_t max)
{
	*b = (struct buf){ .max = max, .owned = true };
}

void
buf_init_fixed(struct buf *b, void *mem, size_t size)
{
	*b = (struct buf){ .d = mem, .cap = size, .max = size };
}

void
buf_init_view(struct buf *b, const void *p, size_t len)
{
	/* never written through: every put fails on rdonly */
	*b = (struct buf){ .d = (uint8_t *)(uintptr_t)p, .len = len,
	    .cap = len, .max = len, .rdonly = true };
}

void
buf_free(struct buf *b)
{
	if (b->owned) {
		free(b->d);
		buf_init(b, b->max);
	} else {
		*b = (struct buf){ 0 };
	}
}

void
buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = b->rdonly ? b->len : 0;
	b->err = BUF_OK;
}

const char *
buf_strerror(int err)
{
	switch (err) {
	case BUF_OK: return "success";
	case BUF_ENOSPC: return "more than the buffer may hold";
	case BUF_ENOMEM: return "out of memory";
	case BUF_ESHORT: return "truncated";
	case BUF_EBAD: return "malformed";
	case BUF_ERDONLY: return "read-only buffer";
	}
	return "unknown buffer error";
}

int
buf_fail(struct buf *b, int err)
{
	if (b->err == BUF_OK)
		b->err = err;
	return b->err;
}

int
buf_done(const struct buf *b)
{
	if (b->err != BUF_OK)
		return b->err;
	return b->off == b->len ? BUF_OK : BUF_EBAD;
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t ncap = b->cap ? b->cap : BUF_MIN_ALLOC;
	uint8_t *p;

	/* need <= max (buf_reserve checked) */
	while (ncap < need)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if ((p = realloc(b->d, ncap)) == NULL)
		return buf_fail(b, BUF_ENOMEM);
	b->d = p;
	b->cap = ncap;
	return BUF_OK;
}

int
buf_reserve(struct buf *b, size_t n)
{
	if (b->err != BUF_OK)
		return b->err;
	if (b->rdonly)
		return buf_fail(b, BUF_ERDONLY);
	if (n > b->max - b->len)
		return buf_fail(b, BUF_ENOSPC);
	if (n <= b->cap - b->len)
		return BUF_OK;
	if (!b->owned)
		return buf_fail(b, BUF_ENOSPC);
	return buf_grow(b, b->len + n);
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc == BUF_OK && n > 0) {
		memcpy(b->d + b->len, p, n);
		b->len += n;
	}
	return rc;
}

int
buf_put_zero(struct buf *b, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc == BUF_OK && n > 0) {
		memset(b->d + b->len, 0, n);
		b->len += n;
	}
	return rc;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, sizeof(v));
}

int
buf_put_le16(struct buf *b, uint16_t v)
{
	v = htole16(v);
	return buf_put(b, &v, sizeof(v));
}

int
buf_put_le32(struct buf *b, uint32_t v)
{
	v = htole32(v);
	return buf_put(b, &v, sizeof(v));
}

int
buf_put_le64(struct buf *b, uint64_t v)
{
	v = htole64(v);
	return buf_put(b, &v, sizeof(v));
}

int
buf_put_be32(struct buf *b, uint32_t v)
{
	v = htobe32(v);
	return buf_put(b, &v, sizeof(v));
}

int
buf_poke(struct buf *b, size_t at, const void *p, size_t n)
{
	if (b->err != BUF_OK)
		return b->err;
	if (b->rdonly)
		return buf_fail(b, BUF_ERDONLY);
	if (at > b->len || n > b->len - at)
		return buf_fail(b, BUF_ESHORT);
	memcpy(b->d + at, p, n);
	return BUF_OK;
}

const uint8_t *
buf_take(struct buf *b, size_t n)
{
	const uint8_t *p;

	if (b->err != BUF_OK)
		return NULL;
	if (n > b->len - b->off) {
		buf_fail(b, BUF_ESHORT);
		return NULL;
	}
	p = b->d + b->off;
	b->off += n;
	return p;
}

int
buf_get(struct buf *b, void *out, size_t n)
{
	const uint8_t *p = buf_take(b, n);

	if (p == NULL) {
		memset(out, 0, n);
		return b->err;
	}
	memcpy(out, p, n);
	return BUF_OK;
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	return buf_get(b, v, sizeof(*v));
}

int
buf_get_le16(struct buf *b, uint16_t *v)
{
	int rc = buf_get(b, v, sizeof(*v));

	*v = le16toh(*v);
	return rc;
}

int
buf_get_le32(struct buf *b, uint32_t *v)
{
	int rc = buf_get(b, v, sizeof(*v));

	*v = le32toh(*v);
	return rc;
}

int
buf_get_le64(struct buf *b, uint64_t *v)
{
	int rc = buf_get(b, v, sizeof(*v));

	*v = le64toh(*v);
	return rc;
}

int
buf_get_be32(struct buf *b, uint32_t *v)
{
	int rc = buf_get(b, v, sizeof(*v));

	*v = be32toh(*v);
	return rc;
}
