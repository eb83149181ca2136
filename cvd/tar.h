/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A streaming walker over the old-style tar inside a container, with the
 * strict rules of docs/definitions.md (the tar): regular files only, plain names
 * (no '/', no "..", no NUL, not empty, not repeated, from a small charset),
 * valid header checksums, no links, devices, directories or sparse files,
 * a member count and size limit, and nothing but zeros after the end marker.
 * Bytes are pushed in with tar_feed() in pieces of any size.
 */
#ifndef CVD_TAR_H
#define CVD_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ampscan/cvd.h"

#define TAR_BLOCK 512

struct tar_cb {
	void *arg;
	/* name is NUL-terminated, valid during the call */
	int (*begin)(void *arg, const char *name, uint64_t size);
	int (*data)(void *arg, const uint8_t *p, size_t n);
	int (*end)(void *arg);
};

struct tar;

int tar_new(const struct tar_cb *cb, uint64_t max_members,
    uint64_t max_member_size, struct tar **out);
void tar_free(struct tar *t);

/*
 * Feed the next n bytes.  Returns 0, a negative CVD_E* code with the reason
 * in tar_error(), or the non-zero value a callback returned (as
 * CVD_ECALLBACK unless it is itself a CVD_E* code).
 */
int tar_feed(struct tar *t, const uint8_t *p, size_t n);
/* The stream has ended: it must have ended with the end marker. */
int tar_finish(struct tar *t);

/*
 * An old-style header for a regular file (what the strict walk accepts and
 * ClamAV writes): name, mode/uid/gid/mtime zero, size, type '0', checksum.
 * name must fit the 100-byte field with its NUL.
 */
void tar_header_write(uint8_t h[TAR_BLOCK], const char *name, uint64_t size);
const char *tar_error(const struct tar *t);
uint64_t tar_member_count(const struct tar *t);

#endif
