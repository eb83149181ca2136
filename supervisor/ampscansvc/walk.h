/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The archive walk: scan one file and, recursively, every member of every
 * container libarchive can open in it (zip, 7z, tar, cpio, cab, rar, iso,
 * xar, ar, ... and gzip, bzip2, xz, zstd, lz4, uu streams), each member as
 * a file of its own.  Limits bound the depth, the member count, each
 * member's size, the total scanned and the memory held, and the
 * compression ratio; hitting one is noted in the result, never an error.
 * Encrypted members are noted, not guessed at.
 */
#ifndef AMPSCAN_WALK_H
#define AMPSCAN_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ampscan/engine.h"
#include "wproto.h"

struct walk_limits {
	uint64_t max_file_size;    /* MaxFileSize: bigger files/members are skipped */
	uint64_t max_scan_size;    /* MaxScanSize: bytes scanned in all, per file */
	unsigned max_recursion;    /* MaxRecursion: nesting of containers */
	unsigned max_files;        /* MaxFiles: members per file, all levels */
	unsigned max_ratio;        /* member size / container size */
};

#define WALK_DEFAULT_MAX_FILE_SIZE (100ULL << 20)
#define WALK_DEFAULT_MAX_SCAN_SIZE (400ULL << 20)
#define WALK_DEFAULT_MAX_RECURSION 17   /* clamd's MaxRecursion default */
#define WALK_DEFAULT_MAX_FILES 10000
#define WALK_DEFAULT_MAX_RATIO 250
#define WALK_RATIO_SLACK (1ULL << 20)   /* ratio checked past 1 MiB */

void walk_limits_default(struct walk_limits *l);

struct walk;

int walk_new(const struct engine *e, const struct walk_limits *lim,
    struct walk **out);
void walk_free(struct walk *w);

/*
 * Scan the file open on fd; display is the name results use (matches
 * inside containers get display/member/...).  flags: WPROTO_SCAN_ALLMATCH.
 * Fills res (verdict, matches, note).  Returns 0; an unreadable fd gives
 * verdict WPROTO_ERROR with the reason in res->note.
 */
int walk_scan_fd(struct walk *w, int fd, const char *display, unsigned flags,
    struct wproto_result *res);

/* The same for a buffer in memory (the canary, tests). */
int walk_scan_buffer(struct walk *w, const uint8_t *buf, size_t len,
    const char *display, unsigned flags, struct wproto_result *res);

#endif
