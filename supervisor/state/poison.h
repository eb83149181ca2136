/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Suspect and poison files (docs/faults.md "Poison files").
 *
 * When a worker dies, every file it was scanning is noted with
 * poison_note_crash().  A file noted once is a suspect; a file noted
 * PoisonThreshold times is poison: it is refused, never handed to a worker
 * again, until it changes.  After fault 6 needs intervention, suspects are
 * skipped too (the caller's decision: poison_check() says which is which).
 *
 * Identity.  A file is its device, inode, size, mtime (s + ns) and the
 * SHA-256 of its content.  Metadata alone is never trusted: a file's owner
 * can restore size and mtime after changing it, and a file that stays
 * poison is a file that is never scanned.  So a match needs the same
 * SHA-256, computed over the same prefix (the first `hashed` bytes, which
 * is the whole file unless it was larger than the max_bytes given when the
 * entry was made).  Only regular files have an identity.
 *
 * Hashing once.  An entry remembers the change time (ctime) under which
 * its hash was last confirmed (at the crash, or by poison_confirm()).  A
 * file whose device, inode, size, mtime and ctime all match a confirmed
 * entry is judged without reading it: only the kernel sets ctime, and any
 * change to the content or the metadata through a system call moves it.
 * What it does not see (a write through a shared mapping made before the
 * confirmation) can only keep a file refused, never get it scanned as
 * clean.  The confirmation is not saved: after a restart each entry is
 * hashed once more on first use.
 *
 * The list holds at most POISON_MAX entries, one per (device, inode).  When
 * it is full, a new file replaces the entry crashed least recently among
 * the suspects, or among the poison files if there is no suspect.
 *
 * Persistence: poison_save() writes state_dir/poison.state with
 * statefile_write() (atomic, 0600); poison_load() reads it back.  The file,
 * version 1, is text:
 *
 *   ampscan-poison 1
 *   file <dev> <ino> <size> <mtime_s> <mtime_ns> <hashed> <sha256 hex>
 *        <crashes> <first_ms> <last_ms> <poison 0|1> <path>     (one line)
 *   end <number of file lines>
 *
 * numbers in decimal; the path is last, with '%', control bytes, space and
 * DEL written as %XX (other bytes, UTF-8 or not, as they are).  Anything
 * else (no "end", a count that does not match, a bad field, a duplicate
 * device and inode, more than POISON_MAX entries, a file larger than
 * POISON_STATE_MAX) is a damaged file: reported with the line, and the
 * list is left empty.
 *
 * A zeroed struct poison_list is an empty list; poison_free() releases it.
 * Pointers to entries stay valid until the list is next changed.
 */
#ifndef AMPSCAN_POISON_H
#define AMPSCAN_POISON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "json.h"
#include "strbuf.h"

#define POISON_MAX 1024                  /* entries in the list */
#define POISON_PATH_MAX 4096             /* bytes of a path, NUL included */
#define POISON_SHA256_LEN 32
#define POISON_HASH_CHUNK 65536          /* bytes per pread when hashing */
#define POISON_CRASHES_MAX INT32_MAX     /* a count saturates here */
#define POISON_STATE_FILE "poison.state"
#define POISON_STATE_MODE 0600
/* The longest line: "file", 10 numbers of at most 20 characters, the hex,
 * a path of escapes only, a space before each field, the newline. */
#define POISON_LINE_MAX (4 + 10 * 21 + 1 + 2 * POISON_SHA256_LEN + 1 + \
	3 * (POISON_PATH_MAX - 1) + 1)
/* The largest poison.state that can be ours: POISON_MAX full lines. */
#define POISON_STATE_MAX (64 + (size_t)POISON_MAX * POISON_LINE_MAX)

enum poison_err {
	POISON_OK = 0,
	POISON_ERR_IO = -1,          /* a system call failed; errno kept */
	POISON_ERR_NOMEM = -2,
	POISON_ERR_INVAL = -3,       /* not a regular file; an id without SHA */
	POISON_ERR_DAMAGED = -4,     /* load, parse: not a valid poison.state */
};

const char *poison_strerror(int code);

enum poison_verdict {
	POISON_CLEAN = 0,            /* not in the list (or it changed) */
	POISON_SUSPECT = 1,          /* in flight during fewer crashes */
	POISON_POISON = 2,           /* refuse it */
	POISON_NEED_HASH = 3,        /* poison_lookup: hash, then confirm */
};

struct poison_id {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	bool has_sha;                /* sha256 and hashed are set */
	uint64_t hashed;             /* bytes hashed: < size if cut at max_bytes */
	uint8_t sha256[POISON_SHA256_LEN];
	/* set by fstat, never saved nor compared: the confirmation's key */
	int64_t ctime_sec;
	uint32_t ctime_nsec;
};

struct poison_entry {
	struct poison_id id;
	char *path;                  /* malloc'd: the path as given, maybe cut */
	uint32_t crashes;
	int64_t first_ms;            /* first crash with this content */
	int64_t last_ms;
	bool poison;                 /* crashes reached the threshold */
	/* the hash was confirmed with the file at this ctime (id's ctime) */
	bool confirmed;
};

struct poison_list {
	struct poison_entry *e;      /* room for POISON_MAX once one is added */
	size_t n;
	bool dirty;                  /* changed since the last load or save */
};

/*
 * The identity of the open file fd (fstat).  With with_sha, also the
 * SHA-256 of its first min(size, max_bytes) bytes, read with pread() from
 * offset 0 (the fd's offset is not moved); id->hashed < id->size says the
 * file was larger than max_bytes.  Returns 0, POISON_ERR_INVAL (not a
 * regular file), POISON_ERR_IO (a read failed, or the file shrank while
 * being read) or POISON_ERR_NOMEM; err says why (the caller names the
 * file).  id is cleared on entry.
 */
int poison_id_from_fd(int fd, struct poison_id *id, bool with_sha,
    uint64_t max_bytes, char *err, size_t errlen);

/*
 * A worker crashed with the file id (with its SHA-256) at path in flight.
 * The same file (device, inode, size, mtime, hashed, SHA-256) counts one
 * more crash; the same device and inode with anything else is a changed
 * file and starts again from 1.  The entry becomes poison once its count
 * reaches threshold (0 counts as 1); the path is updated to the one given
 * (cut at POISON_PATH_MAX - 1 bytes).  Returns the new count, with *entry
 * (if entry != NULL) pointing at the entry; or POISON_ERR_INVAL (no SHA)
 * or POISON_ERR_NOMEM, the list unchanged.
 */
int poison_note_crash(struct poison_list *list, const struct poison_id *id,
    const char *path, int64_t now_ms, unsigned threshold,
    const struct poison_entry **entry);

/*
 * Whether the open file fd is a suspect or poison.  Cheap first: only when
 * device, inode, size and mtime match an entry, and the entry was not
 * confirmed at fd's ctime, is the SHA-256 computed (of the entry's
 * `hashed` bytes) to confirm it.  An entry whose file changed
 * (same device and inode, anything else different) is dropped, and the
 * file is POISON_CLEAN: it may be scanned again.  Returns a poison_verdict
 * with *entry set for SUSPECT and POISON (NULL otherwise), or a negative
 * poison_err with err set (reading the file failed; the list unchanged).
 * Anything but a regular file is POISON_CLEAN.
 */
int poison_check(struct poison_list *list, int fd,
    const struct poison_entry **entry, char *err, size_t errlen);

/*
 * poison_check() in two halves, so that the hash can be computed away from
 * the event loop.  poison_lookup() only fstats fd: it returns
 * POISON_CLEAN, or POISON_SUSPECT / POISON_POISON with *entry set (a
 * confirmed entry whose identity, ctime included, is fd's), or
 * POISON_NEED_HASH: *now is fd's identity, now->hashed the number of bytes
 * to hash from offset 0; an entry whose file changed is dropped as in
 * poison_check().  Negative: fstat failed.
 */
int poison_lookup(struct poison_list *list, int fd, struct poison_id *now,
    const struct poison_entry **entry, char *err, size_t errlen);

/*
 * The SHA-256 of now->hashed bytes of the file poison_lookup() identified
 * as now (the list may have changed since).  stable: the file's identity
 * was still now once hashed.  Same bytes as the entry: the entry is
 * confirmed at now's ctime (when stable) and the verdict returned with
 * *entry set; other bytes: the entry is dropped, POISON_CLEAN.  No entry
 * for now (any more), or one for other metadata: POISON_CLEAN.
 */
int poison_confirm(struct poison_list *list, const struct poison_id *now,
    const uint8_t sha[POISON_SHA256_LEN], bool stable,
    const struct poison_entry **entry);

/* The SHA-256 of the first n bytes of fd (pread; the offset is kept);
 * returns 0 or POISON_ERR_IO / POISON_ERR_NOMEM with err set. */
int poison_sha_fd(int fd, uint64_t n, uint8_t out[POISON_SHA256_LEN],
    char *err, size_t errlen);

/* Drop the entries whose path is path, or all if path is NULL (an
 * administrator's request); returns how many were dropped. */
size_t poison_forget(struct poison_list *list, const char *path);

/* Free the entries; list is then empty (and may be used again). */
void poison_free(struct poison_list *list);

/*
 * Write list to state_dir/poison.state atomically; clears list->dirty.
 * Returns 0 or a negative poison_err with err naming the file.
 */
int poison_save(struct poison_list *list, const char *state_dir, char *err,
    size_t errlen);

/*
 * Replace list with state_dir/poison.state.  Returns 0 when the file was
 * read or does not exist (empty list).  A damaged file leaves an empty
 * list and returns POISON_ERR_DAMAGED with err naming the file and line;
 * POISON_ERR_IO or POISON_ERR_NOMEM when it could not be read.
 */
int poison_load(struct poison_list *list, const char *state_dir, char *err,
    size_t errlen);

/*
 * The parser of poison_load(): len bytes of buf (need not be NUL-
 * terminated) into list, which is emptied first and stays empty on
 * failure.  err names the line ("line 3: bad sha256").
 */
int poison_parse(const char *buf, size_t len, struct poison_list *list,
    char *err, size_t errlen);

/* The text poison_save() writes, appended to sb (sb->failed if it did not
 * fit under sb's cap). */
void poison_format(const struct poison_list *list, struct strbuf *sb);

/*
 * A JSON array for ampctl status and diag, as the next value of w: objects
 * of path, dev, ino, size, mtime (ISO-8601), sha256 (hex), hashed,
 * crashes, first, last (ISO-8601), poison (bool).
 */
void poison_json(struct jsonw *w, const struct poison_list *list);
/* The same array alone, appended to sb. */
void poison_to_json(const struct poison_list *list, struct strbuf *sb);

/* The poison_file event of events.h for e: path, device, inode, size,
 * mtime, sha256, crashes. */
void poison_event(struct event *ev, const struct poison_entry *e,
    int64_t now_ms);

#endif
