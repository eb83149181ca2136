/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State files, written atomically: a power cut or kill -9 at any instant
 * leaves either the old or the new content of the file, never a torn one.
 *
 * Write: create ".NAME.tmp" in the same directory (O_EXCL, O_NOFOLLOW, the
 * mode given, set exactly with fchmod so the umask does not matter), write
 * it all, fsync it, rename it over NAME, fsync the directory.  A ".NAME.tmp"
 * left by a crash is removed by the next write of NAME: ampdaemon is the
 * only writer of its state directory, so nobody else can own that name.
 * On failure the temporary file is removed and NAME is untouched.
 *
 * Read: NAME must be a regular file (not followed if a symlink) no larger
 * than the cap given; the content is returned in a malloc'd buffer with a
 * NUL after the last byte (not counted in the length), so text parsers may
 * treat it as a string once they have checked for embedded NULs.
 */
#ifndef AMPSCAN_STATEFILE_H
#define AMPSCAN_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "num.h"

/* Longest file name accepted (the temporary name adds 5 bytes). */
#define STATEFILE_NAME_MAX 200
/* Longest directory name a write accepts. */
#define STATEFILE_DIR_MAX 4096

enum statefile_err {
	STATEFILE_OK = 0,
	STATEFILE_ERR_IO = -1,        /* a system call failed; errno kept */
	STATEFILE_ERR_NOENT = -2,     /* read: NAME does not exist */
	STATEFILE_ERR_TOOBIG = -3,    /* read: larger than the cap */
	STATEFILE_ERR_NAME = -4,      /* empty, ".", "..", a '/', a leading '.', too long */
	STATEFILE_ERR_NOMEM = -5,
	STATEFILE_ERR_TYPE = -6,      /* read: not a regular file */
};

/*
 * Replace dir/name with len bytes of data, atomically and durably (see
 * above).  mode is the new file's mode (0600 for anything private, 0644
 * for what unprivileged tools may read).  Returns STATEFILE_OK or a
 * negative statefile_err, with err saying what, where and why.
 */
int statefile_write(const char *dir, const char *name, const void *data,
    size_t len, mode_t mode, char *err, size_t errlen);

/*
 * The same write with flags: STATEFILE_NOREPLACE publishes NAME with
 * renameat2(RENAME_NOREPLACE): if NAME exists (a file, a symbolic link,
 * anything) the write fails with EEXIST at the rename step, NAME is left
 * as it was and the temporary file is removed.
 */
#define STATEFILE_NOREPLACE 0x1u
int statefile_write_flags(const char *dir, const char *name, const void *data,
    size_t len, mode_t mode, unsigned flags, char *err, size_t errlen);

/*
 * The streaming form, for a file too big to hold in memory or written by
 * code that takes an fd: statefile_open() creates the temporary file
 * (as statefile_write does), the caller writes t.fd (and may read it
 * back, by fd or by the path t.dir/t.tmp), then statefile_commit()
 * fsyncs, closes, renames (NOREPLACE honoured) and fsyncs the directory,
 * or statefile_abort() removes the temporary file.  Either ends the
 * write: all fds closed, nothing left to free; abort is harmless after
 * commit or a failed open, so a caller's one `out:` may always call it.
 * Errors name the step that failed: "DIR/NAME: fsync directory: ...".
 */
struct statefile_tmp {
	int dirfd;                            /* -1 once ended */
	int fd;                               /* the temporary file, or -1 */
	unsigned flags;
	char dir[STATEFILE_DIR_MAX];
	char name[STATEFILE_NAME_MAX + 1];
	char tmp[STATEFILE_NAME_MAX + 8];     /* "" once renamed or removed */
};
int statefile_open(struct statefile_tmp *t, const char *dir, const char *name,
    mode_t mode, unsigned flags, char *err, size_t errlen);
/* The same in the directory open as dirfd (duplicated; dir is for messages). */
int statefile_open_at(struct statefile_tmp *t, int dirfd, const char *dir,
    const char *name, mode_t mode, unsigned flags, char *err, size_t errlen);
/* The same for a path: its directory ("." if none) and last component. */
int statefile_open_path(struct statefile_tmp *t, const char *path, mode_t mode,
    unsigned flags, char *err, size_t errlen);
int statefile_commit(struct statefile_tmp *t, char *err, size_t errlen);
void statefile_abort(struct statefile_tmp *t);

/*
 * Publish a file written and fsync'd elsewhere on the same file system:
 * rename from over to, then fsync to's directory.  And that fsync alone,
 * for a caller that renamed or unlinked in dir itself.
 */
int statefile_move(const char *from, const char *to, char *err,
    size_t errlen);
int statefile_sync_dir(const char *dir, char *err, size_t errlen);

/*
 * False when path no longer names the file open on fd (a statefile_write()
 * that failed after its rename: the directory's fsync) or names nothing:
 * an append-only log open on fd must then be reopened.
 */
bool statefile_same_file(int fd, const char *path);

/*
 * Read dir/name whole, if it is at most max_len bytes.  On success *buf
 * (malloc'd, NUL-terminated, the caller frees it) and *len are set; on
 * failure they are NULL and 0.  STATEFILE_ERR_NOENT lets a caller tell
 * "never written" from a damaged directory.
 */
int statefile_read(const char *dir, const char *name, size_t max_len,
    char **buf, size_t *len, char *err, size_t errlen);

const char *statefile_strerror(int code);

/* Write all of data to fd (EINTR retried; a zero-length write is EIO):
 * 0, or -1 with errno. */
int statefile_write_all(int fd, const void *data, size_t len);

/*
 * Fields of the line-based state files (faults.state, poison.state), read
 * strictly: what we write and nothing else.
 *
 * Numbers: num_u64/num_i64 with NUM_CANONICAL (num.h).
 * statefile_unescape: s[0..len) with
 * every %XX (hex, either case; %00 refused) decoded into out, NUL-
 * terminated; a raw byte for which the writer's needs_escape is true is
 * refused.  It returns STATEFILE_UNESCAPE_OK or what was wrong.
 */
enum statefile_unescape_err {
	STATEFILE_UNESCAPE_OK = 0,
	STATEFILE_UNESCAPE_RAW,       /* a byte that must be escaped */
	STATEFILE_UNESCAPE_BAD,       /* a bad %XX escape */
	STATEFILE_UNESCAPE_LONG,      /* longer than out */
};
int statefile_unescape(const char *s, size_t len,
    bool (*needs_escape)(unsigned char), char *out, size_t outlen);

#endif
