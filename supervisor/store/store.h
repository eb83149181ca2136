/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The definitions store: DefinitionsDir and its five subdirectories, and
 * the synchronous work done on them (fault 7 recovery, docs/faults.md
 * and docs/updates.md).
 *
 *   active/      the definitions in use, their .sign files, the index
 *   incoming/    dropped .cvd files
 *   staging/     being verified
 *   previous/    the last known good set
 *   quarantine/  files taken out of active/ by a rollback
 *
 * Everything here blocks (verifying a container reads all of it): ampdaemon
 * runs it in a forked child (task.h), never in its loop.  No globals; the
 * functions may be called from any single thread.
 *
 * Names.  In a definitions directory a "definitions file" is NAME.cvd,
 * NAME.cld, NAME.cud (containers, case as written) or a plain signature
 * file (.hdb .hsb .ndb .fp .sfp .ign2, as sig_type_from_name()).  A
 * NAME.sign belongs to its container; ampscan.idx (DEFS_INDEX_NAME) is the
 * compiled index; names starting with '.' are temporary files (ours or a
 * crashed writer's) and are never judged.  Anything else is a stray file:
 * left alone.
 *
 * Reports.  Every change to active/ is told through report(arg, event,
 * file, reason), called synchronously, before the function returns, never
 * after; report may be NULL.  file is relative to defs_dir
 * ("active/daily.cvd"); reason is one line.  The strings are valid only
 * during the call.
 *
 * Errors.  Functions return 0 (or a documented positive value) or a
 * negative STORE_ERR_*, with err saying what, where and why (err may be
 * NULL).  On STORE_ERR_IO errno is kept.
 */
#ifndef AMPSCAN_STORE_H
#define AMPSCAN_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "ampscan/cvd.h"

#define STORE_DIR_ACTIVE "active"
#define STORE_DIR_INCOMING "incoming"
#define STORE_DIR_STAGING "staging"
#define STORE_DIR_PREVIOUS "previous"
#define STORE_DIR_QUARANTINE "quarantine"
#define STORE_DIR_MODE 0750
/*
 * active/ alone is 0755: clamav workers read the set through the
 * descriptor ampdaemon hands them (/proc/self/fd/N/NAME), which needs
 * search and read on active/ itself.  Nobody reaches it by path: defs/
 * above it stays 0750 root's, so the descriptor is the only way in.
 */
#define STORE_ACTIVE_MODE 0755

#define STORE_PATH_MAX 4096          /* any path built here */
#define STORE_NAME_MAX 255           /* a file name in a store directory */
#define STORE_DIR_FILES_MAX 1024     /* definitions + .sign files per dir */
#define STORE_REASON_MAX CVD_ERRMSG_MAX
#define STORE_COPY_CHUNK 65536       /* read size when copying or comparing */
#define STORE_STAMP_LEN 16           /* "20260102T030405Z" */
#define STORE_QUARANTINE_TRIES 100   /* NAME.STAMP, NAME.STAMP.1, ... */
#define STORE_TMP_SUFFIX ".rollback" /* active/.NAME.rollback while copying */

/* Events (events.h names; file is relative to defs_dir). */
#define STORE_EVENT_DELETED "definitions_deleted"
#define STORE_EVENT_ROLLED_BACK "definitions_rolled_back"
#define STORE_EVENT_QUARANTINED "definitions_quarantined"

enum store_err {
	STORE_OK = 0,
	STORE_ERR_IO = -1,      /* a system call failed, or a file could not
	                         * be read; errno kept */
	STORE_ERR_NOMEM = -2,
	STORE_ERR_TYPE = -3,    /* a symlink or a non-directory where a
	                         * directory must be */
	STORE_ERR_TRUST = -4,   /* a trusted key or the certs dir is unusable */
	STORE_ERR_LIMIT = -5,   /* a path or name too long, too many files */
	STORE_ERR_UNSAFE = -6,  /* a directory not root's, or writable by its
	                         * group or others (dirtrust.h) */
};

const char *store_strerror(int code);

/* What to trust: TrustedKeys, CertsDir, AllowUnsigned. */
struct store_trust {
	const char *const *trusted_keys;  /* PEM public keys, besides the official */
	size_t ntrusted_keys;
	const char *certs_dir;            /* NULL or "": no .sign checking */
	bool allow_unsigned;              /* .cld, .cud and plain files */
};

/*
 * A cvd trust store from t: the official keys, each trusted key, and the
 * certificates of certs_dir.  A certs_dir that does not exist (ENOENT; the
 * default /etc/ampscan/certs on a host without one) means no .sign
 * checking, as when none is configured; one that exists but cannot be
 * used (not a directory, unreadable, a bad certificate) is
 * STORE_ERR_TRUST, as is a trusted key that cannot be used: the store
 * must not verify with less trust than configured.  *out is NULL on
 * entry and on failure; release it with cvd_trust_free().
 */
int store_trust_new(const struct store_trust *t, struct cvd_trust **out,
    char *err, size_t errlen);

/*
 * Create defs_dir (its parent must exist) and its five subdirectories
 * when missing, mode STORE_DIR_MODE (exactly, whatever the umask), active/
 * STORE_ACTIVE_MODE.  Existing ones are kept as they are (their mode too),
 * but active/, which is set to STORE_ACTIVE_MODE.  A symlink or a
 * non-directory at any of the six paths is STORE_ERR_TYPE naming the
 * path: nothing is followed, nothing is replaced.  One that is not root's
 * or is writable by its group or others is STORE_ERR_UNSAFE.
 */
int store_dirs_create(const char *defs_dir, char *err, size_t errlen);

/*
 * Verify every definitions file of defs_dir/active with the trust of t:
 *   NAME.cvd              cvd_verify_file(), the .sign beside it checked
 *                         when a certificates directory is in use;
 *   NAME.cld, NAME.cud    the same; invalid unless t->allow_unsigned;
 *   plain files           invalid unless t->allow_unsigned; then every
 *                         line must parse with sig_parse_line() (at most
 *                         SIG_LINE_MAX bytes a line).
 * A symlink or special file with such a name is invalid too; a
 * subdirectory is left alone.  Each invalid file is deleted (unlink),
 * then its NAME.sign and the NAME-VERSION.cvd.sign the verifier used, and
 * reported as STORE_EVENT_DELETED with the verifier's message as the
 * reason ("payload MD5 mismatch: ...").  active/ is fsync'd before
 * returning when anything was deleted.  The index is not touched (its
 * source identity no longer matches, so it is rebuilt before use).
 *
 * A file is deleted only for what is wrong with its bytes.  When it cannot
 * be judged -- open or read fails (EACCES, EIO, ...), out of memory --
 * it is left in place, the others are still verified, and the function
 * returns STORE_ERR_IO (STORE_ERR_NOMEM) naming the first such file.  A
 * deletion that fails (unlink) is also STORE_ERR_IO; the file is not
 * reported as deleted.
 *
 * *kept (files that verified) and *deleted (definitions files deleted,
 * .sign files not counted) are cleared on entry and, unlike most outputs,
 * set on every return: deletions cannot be undone and were reported.
 * Returns 0 -- also when files were deleted -- or a negative STORE_ERR_*;
 * when active/ itself cannot be opened or listed, or t cannot be made into
 * a trust store, nothing was judged or changed.
 */
int store_verify_active(const char *defs_dir, const struct store_trust *t,
    void (*report)(void *arg, const char *event, const char *file,
    const char *reason), void *arg, unsigned *kept, unsigned *deleted,
    char *err, size_t errlen);

/*
 * Whether dir holds a set: at least one definitions file (container or
 * plain, whatever the trust; not verified).  Returns 1, 0 (none, or dir
 * does not exist), or a negative STORE_ERR_* (dir unreadable, a symlink).
 */
int store_dir_has_set(const char *dir, char *err, size_t errlen);

/*
 * Roll active/ back to the set in previous/, when there is one.
 *
 *   1. Each definitions or .sign file of previous/ that is not byte-
 *      identical to the same name in active/ is copied to
 *      active/.NAME.rollback (O_EXCL, NOFOLLOW, the source's permission
 *      bits, fsync; a leftover from a crash is replaced).  Nothing else
 *      has changed yet: a failure here removes the copies and leaves
 *      active/ as it was.
 *   2. For each copy, the active/NAME it replaces (if any) is hard-linked
 *      into quarantine/ as NAME.<UTC YYYYmmddTHHMMSSZ> (".1", ".2", ...
 *      appended if taken; never replaced; with why, a NAME.STAMP.reason
 *      file beside it holds why), then the copy is renamed over
 *      active/NAME: NAME is never missing from active/ and the move to
 *      quarantine/ is, in effect, a rename(2) that cannot clobber.
 *   3. Every definitions or .sign file of active/ whose name previous/
 *      lacks is moved to quarantine/ the same way (link, unlink).
 *   4. When anything changed, active/ampscan.idx is removed (stale), and
 *      active/ and quarantine/ are fsync'd.
 * Each file moved to quarantine/ is reported as STORE_EVENT_QUARANTINED
 * (file: "active/NAME", reason naming the quarantine name); at the end, if
 * anything changed, one STORE_EVENT_ROLLED_BACK (file: "active", reason:
 * what was restored, "daily:27432 main:62").  store_active_summary() gives
 * the versions in a structured form.  Identical files are not touched.
 *
 * Returns 1 when active/ was changed to previous/'s set, 0 when nothing
 * changed (previous/ holds no set, or active/ already holds exactly its
 * files: nothing is reported then), or a negative STORE_ERR_*.  Failing in
 * step 2 or 3 leaves every name in active/ holding either its old or its
 * restored bytes, never a torn or missing file (copies are renamed in
 * before anything is removed), and the remaining copies are removed;
 * calling again finishes the job.  The definitions in previous/ are not
 * verified here: they were when they were activated.
 */
int store_rollback(const char *defs_dir, const char *why,
    void (*report)(void *arg, const char *event, const char *file,
    const char *reason), void *arg, char *err, size_t errlen);

/* Write qfd/QNAME.reason holding why (nothing when why is NULL). */
void store_reason_file(int qfd, const char *qname, const char *why);

/*
 * Make quarantine/QNAME (qfd) a file of its own, mode STORE_QUARANTINE_MODE,
 * root's, once the name it was hard-linked from is gone: an inode that is
 * ours alone (root's, one link) is chmod'ed; one linked elsewhere too, or
 * another user's (a file dropped into incoming/), is replaced by a copy,
 * never changed.  Anything but a regular file is removed from quarantine/.
 * Returns 0 or a negative STORE_ERR_* with err naming the file.
 */
#define STORE_QUARANTINE_MODE 0600
int store_quarantine_seal(int qfd, const char *qname, char *err,
    size_t errlen);
/* "20260102T030405Z": now, UTC (quarantine names). */
void store_rb_stamp(char *buf, size_t len);

/* One container of active/, from its header (not verified: for display). */
struct store_container {
	char name[STORE_NAME_MAX + 1];
	bool header_ok;                  /* false: the fields below are unset */
	enum cvd_kind kind;
	unsigned version;
	unsigned sigs;
	char time[CVD_TIME_MAX];         /* as in the header */
	uint64_t stime;                  /* build time, seconds since the epoch */
	bool has_stime;
};

/*
 * The containers of defs_dir/active, sorted by name, into out[0..max).
 * *n is cleared on entry and set on success.  More than max containers is
 * STORE_ERR_LIMIT.  A container whose header cannot be read or parsed is
 * listed with header_ok false.
 */
int store_active_summary(const char *defs_dir, struct store_container *out,
    size_t max, size_t *n, char *err, size_t errlen);

#endif
