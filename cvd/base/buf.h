/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bounded byte buffer with checked putters and getters (the design of
 * OpenSSH's sshbuf): data is appended at the end and consumed from the
 * front, nothing is ever written or read past a limit, and a failed call
 * changes nothing.
 *
 * Three kinds, by how the storage is had:
 *   buf_init(b, max)              malloc'd, grown on demand up to max bytes;
 *   buf_init_fixed(b, mem, size)  the caller's storage, never more than size;
 *   buf_init_view(b, p, len)      a read-only view of len bytes to decode.
 *
 * Errors are sticky: the first one is kept in the buffer and every later
 * put or get fails with it without doing anything, so an encoder or a
 * decoder may make its calls in a row and check buf_error() once (the
 * getters then yield zero).  Multi-byte integers are stored in the byte
 * order the name says (le = little-endian, be = big-endian: the wire's,
 * not the host's).
 */
#ifndef AMPSCAN_BUF_H
#define AMPSCAN_BUF_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum buf_err {
	BUF_OK = 0,
	BUF_ENOSPC = -1,   /* a put past the buffer's maximum */
	BUF_ENOMEM = -2,   /* growing failed */
	BUF_ESHORT = -3,   /* a get past the end of the data */
	BUF_EBAD = -4,     /* the data is malformed (set by a decoder) */
	BUF_ERDONLY = -5,  /* a put into a view */
};

struct buf {
	uint8_t *d;        /* storage; NULL until a growable buffer grows */
	size_t off;        /* read position: d[off..len) is unread */
	size_t len;        /* bytes held */
	size_t cap;        /* storage size */
	size_t max;        /* the most it may hold */
	bool owned;        /* d is malloc'd here */
	bool rdonly;
	int err;           /* the first buf_err, sticky */
};

void buf_init(struct buf *b, size_t max);
void buf_init_fixed(struct buf *b, void *mem, size_t size);
void buf_init_view(struct buf *b, const void *p, size_t len);
/* Free what buf_init allocated; the buffer is empty afterwards. */
void buf_free(struct buf *b);
/* Forget the data and the error; keep the storage. */
void buf_reset(struct buf *b);

const char *buf_strerror(int err);
static inline int buf_error(const struct buf *b) { return b->err; }
/* Set the sticky error (a decoder's BUF_EBAD); returns it. */
int buf_fail(struct buf *b, int err);

/* The unread data. */
static inline const uint8_t *buf_ptr(const struct buf *b) { return b->d + b->off; }
static inline size_t buf_avail(const struct buf *b) { return b->len - b->off; }
/* 0 when the whole view was read without error, else an error. */
int buf_done(const struct buf *b);

/* Room for n more bytes (grows a growable buffer); 0 or an error. */
int buf_reserve(struct buf *b, size_t n);
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_zero(struct buf *b, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_le16(struct buf *b, uint16_t v);
int buf_put_le32(struct buf *b, uint32_t v);
int buf_put_le64(struct buf *b, uint64_t v);
int buf_put_be32(struct buf *b, uint32_t v);
/* Overwrite n bytes held at offset at (a length patched in afterwards). */
int buf_poke(struct buf *b, size_t at, const void *p, size_t n);

/* n unread bytes, consumed; NULL (and BUF_ESHORT) if fewer are left. */
const uint8_t *buf_take(struct buf *b, size_t n);
int buf_get(struct buf *b, void *out, size_t n);
int buf_get_u8(struct buf *b, uint8_t *v);
int buf_get_le16(struct buf *b, uint16_t *v);
int buf_get_le32(struct buf *b, uint32_t *v);
int buf_get_le64(struct buf *b, uint64_t *v);
int buf_get_be32(struct buf *b, uint32_t *v);

/* Byte order at a pointer, for fixed headers outside a buffer. */
static inline uint32_t
buf_load_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline void
buf_store_be32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

#endif
