/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Activation: moving a verified, trial-loaded candidate set into active/
 * so that a crash at any instant leaves a complete set, old or new, never
 * a mix (docs/updates.md).
 *
 * The candidate set is a directory in staging/ (staging/ID/set) holding
 * the whole new set: hard links of the active files that do not change,
 * the new container and its .sign, and the index built from exactly these
 * files.  Activation, in order:
 *
 *   1. journal: state/activation.journal (written atomically) names the
 *      set, each file to put into active/ (those that differ from
 *      active/), each file to remove from active/ (names the set lacks),
 *      and incoming/ files the update consumes; step "previous";
 *   2. previous/ becomes a copy of active/'s definitions and .sign files
 *      (hard links: files in active/
 *      are only ever replaced by rename, never written in place), extra
 *      names removed, previous/ fsync'd;
 *   3. the journal is rewritten with step "active";
 *   4. each file of the set is renamed over active/NAME (the index last),
 *      the removed names unlinked, active/ fsync'd;
 *   5. the consumed incoming/ files are removed; the journal is removed
 *      and the state directory fsync'd: the activation is done;
 *   6. the staging directory is removed.
 *
 * Recovery (activation_recover, at every start before anything reads
 * active/): a journal at step "previous" means active/ is untouched:
 * redo 2 and go on; at step "active", finish 4 (a file already renamed is
 * no longer in the set: nothing to do for it) and 5.  Then staging/ is
 * emptied: nothing half-made survives a restart.
 *
 * Kill points (test builds): activation_run calls kp(arg, N) at each
 * numbered point; the daemon's test hook kills itself there.
 */
#ifndef AMPSCAN_ACTIVATE_H
#define AMPSCAN_ACTIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "ampscan/cvd.h"

#define ACTIVATION_JOURNAL "activation.journal"
#define ACTIVATION_JOURNAL_MAX (256 * 1024)
#define ACTIVATION_CONSUME_MAX 4

/* Kill points of staging and activation (the daemon adds rollover's). */
enum kill_point {
	KP_STAGED = 1,          /* the update copied into staging/ */
	KP_VERIFIED,            /* verified (a cdiff: applied, .cld built) */
	KP_TRIED,               /* the trial passed */
	KP_SET_READY,           /* candidate set and its index complete */
	KP_JOURNAL,             /* journal written, step previous */
	KP_PREVIOUS,            /* previous/ holds the old set */
	KP_JOURNAL_ACTIVE,      /* journal at step active */
	KP_FIRST_RENAME,        /* one file of the set renamed into active/ */
	KP_RENAMED,             /* all renamed, removals done */
	KP_COMMITTED,           /* journal removed; staging not yet cleaned */
	KP_ROLLOVER_READY,      /* (daemon) first new worker READY */
	KP_ROLLOVER_RETIRED,    /* (daemon) first old worker retired */
	KP_ROLLOVER_DONE,       /* (daemon) all workers on the new set */
	KP_COUNT
};

typedef void activation_kp_fn(void *arg, int point);
typedef void activation_report_fn(void *arg, const char *event,
    const char *file, const char *reason);

/*
 * Make defs_dir/staging/uSTAMP.XXXXXX (mode 0700) and put its path in
 * out.  Returns 0 or a negative STORE_ERR_*.
 */
int activation_stage_dir(const char *defs_dir, char *out, size_t outlen,
    char *err, size_t errlen);

/*
 * Copy the regular file open as srcfd to dir/name with mode, through
 * statefile_open(STATEFILE_NOREPLACE): an existing dir/name is never
 * replaced, and the copy and dir are fsync'd.  At most max_bytes (a bigger
 * source is an error naming it).  Returns 0 or a negative STORE_ERR_*;
 * nothing is left on failure.
 */
int activation_copy_in(int srcfd, const char *src_display, const char *dir,
    const char *name, mode_t mode, unsigned long long max_bytes, char *err,
    size_t errlen);

/*
 * The active container of dbname (NAME.cvd/.cld/.cud, the highest
 * version): *file ("test.cld") and *h.  Returns 1 found, 0 none, or a
 * negative STORE_ERR_*.
 */
int activation_active_container(const char *defs_dir, const char *dbname,
    char *file, size_t filelen, struct cvd_header *h, char *err,
    size_t errlen);

/*
 * Fill set_dir (existing, empty) with hard links of every definitions and
 * .sign file of active/ that does not belong to dbname (NAME.cvd, .cld,
 * .cud, their .sign, NAME-VERSION.cvd.sign).  Returns 0 or STORE_ERR_*.
 */
int activation_link_others(const char *defs_dir, const char *set_dir,
    const char *dbname, char *err, size_t errlen);

/*
 * Activate set_dir (inside defs_dir/staging/) as described above;
 * consume[] are absolute paths of incoming/ files to remove when done.
 * Returns 0 or a negative STORE_ERR_*.  On an error before the journal
 * is written nothing changed; after it, active/ is unchanged until step 4
 * and the journal stays: the next definitions check finishes the
 * activation (activation_recover), as after a crash.  If the journal
 * cannot be rewritten at step "active" (StateDir full), it is withdrawn
 * instead: active/ was not touched, previous/ equals it.  set_dir must be
 * below defs_dir/staging/ and consume[] files of defs_dir/incoming/ (what
 * recovery accepts).
 */
int activation_run(const char *defs_dir, const char *state_dir,
    const char *set_dir, const char *const *consume, size_t nconsume,
    activation_kp_fn *kp, void *kparg, char *err, size_t errlen);

/* Flags of activation_run_flags. */
#define ACTIVATION_NO_INDEX 0x1u   /* the set has no index (Engine clamav
                                    * builds none): active/'s, if any, is
                                    * removed at step 4 instead of replaced */

/* activation_run, with flags (0: as activation_run, which needs the
 * set's index). */
int activation_run_flags(const char *defs_dir, const char *state_dir,
    const char *set_dir, unsigned flags, const char *const *consume,
    size_t nconsume, activation_kp_fn *kp, void *kparg, char *err,
    size_t errlen);

/*
 * Finish or discard an activation interrupted by a crash, then empty
 * staging/.  report gets "activation_recovered" with what was done.  A
 * journal at step "previous" that cannot be rewritten at step "active"
 * (StateDir full) is withdrawn: active/ stays the old set.
 * Returns 1 when a journal was resolved, 0 when there was none, or a
 * negative STORE_ERR_* (the journal is then left in place).
 */
int activation_recover(const char *defs_dir, const char *state_dir,
    activation_report_fn *report, void *arg, char *err, size_t errlen);

/* Remove everything in defs_dir/staging/ (the entries, not staging/). */
int activation_clear_staging(const char *defs_dir, char *err, size_t errlen);

/* Remove dir and everything under it (no symlink is followed). */
int activation_rmtree(const char *dir, char *err, size_t errlen);

#endif
