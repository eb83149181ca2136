/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The payload reader: reads a container's payload from a file descriptor,
 * computes its MD5 and inflates it (ISA-L's igzip: several times zlib's
 * speed on this data), handing out the inflated bytes in blocks.  With a
 * helper thread, reading, hashing and inflating overlap with the caller's
 * tar walk on the other core; without one (serial), the same steps run
 * inline.  Limits (total size, compression ratio) are enforced here, so a
 * gzip bomb stops after at most one block past the limit.
 */
#ifndef CVD_PAYLOAD_H
#define CVD_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PAYLOAD_IN_CHUNK (256U << 10)
#define PAYLOAD_BLOCK (256U << 10)
#define PAYLOAD_NBLOCKS 8

struct payload;

struct payload_opts {
	int fd;
	off_t offset;            /* where the payload starts */
	uint64_t length;         /* payload bytes */
	bool gzip;               /* false: a plain tar */
	bool threaded;
	uint64_t max_total;      /* inflated bytes allowed */
	uint64_t max_ratio;      /* inflated / compressed allowed (gzip only) */
	uint64_t ratio_slack;    /* ratio checked once past this many bytes */
};

/* Start reading.  Returns 0 or CVD_ENOMEM (threads, buffers). */
int payload_open(const struct payload_opts *o, struct payload **out);

/*
 * The next block of inflated bytes, valid until the next call.  Returns 1
 * with a block, 0 at the clean end of the stream (MD5 then available), or
 * a negative CVD_E* code with a message in err.
 */
int payload_next(struct payload *p, const uint8_t **data, size_t *len,
    char *err, size_t errlen);

/* The payload's MD5, once payload_next() returned 0. */
void payload_md5(const struct payload *p, uint8_t md5[16]);
/* Bytes inflated so far. */
uint64_t payload_total_out(const struct payload *p);

/* Stop (the helper thread is cancelled and joined) and free. */
void payload_close(struct payload *p);

#endif
