/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Faults (docs/faults.md): the catalogue, one table in faults.c, and the state
 * of the faults of one ampdaemon.
 *
 * Catalogue.  Every id of docs/faults.md is there, also those that cannot
 * happen on Linux (their numbers and texts are shared with the other
 * platforms; they are documented and never raised here).  Each has a
 * stable short name (for scripts: "scan_user_unavailable"), and in English
 * and Traditional Chinese: the portal text, the endpoint description, the
 * condition (when it is raised here) and the remedy.  The English portal
 * and endpoint texts are exactly those of docs/faults.md.
 *
 * State.  struct faults records, per fault: raised or not, since when, the
 * latest detail and whether it needs a person ("intervention").  The rules
 * of docs/faults.md are enforced here:
 *   - a raise of a fault not raised is an event (fault_raised);
 *   - a raise of a raised fault only updates its detail: no event;
 *   - a clear of a raised fault is an event (fault_cleared);
 *   - a clear of a fault not raised does nothing: no event;
 *   - marking a raised fault as needing intervention is an event
 *     (intervention_required), once; a clear resets the mark.
 * Events reach the daemon through the emit callback given to
 * faults_init(), called synchronously inside fault_raise(), fault_clear()
 * and fault_mark_intervention(), after the state has changed and before
 * they return.  The callback receives a finished struct event (events.h):
 * the daemon appends it to events.jsonl, logs it and hands it to
 * FaultCommand.  It must not call back into the same struct faults.  With
 * one callback, no transition can go unannounced.
 *
 * Persistence.  faults_save() writes the raised faults to
 * state_dir/faults.state through statefile_write() (atomic, 0600);
 * faults_load() reads it back without emitting events (they were announced
 * before the restart).  The file, version 1, is text:
 *
 *   ampscan-faults 1
 *   fault <id> <since_ms> <intervention 0|1> <intervention_ms> <detail>
 *   end <number of fault lines>
 *
 * times in ms since the epoch; detail, the rest of the line, has '%',
 * control bytes and DEL as %XX.  A missing "end" line (or anything after
 * it) means a damaged file.
 *
 * No globals: the catalogue is const, everything else lives in the struct
 * the caller owns (in the daemon's context).
 */
#ifndef AMPSCAN_FAULTS_H
#define AMPSCAN_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "events.h"

enum fault_id {
	FAULT_KMOD_NOT_AUTHORIZED = 1,
	FAULT_VERSION_MISMATCH = 2,
	FAULT_FULL_DISK_ACCESS = 3,
	FAULT_KMOD_NOT_LOADED = 4,
	FAULT_SCAN_USER_UNAVAILABLE = 5,
	FAULT_SCAN_RESTARTING = 6,
	FAULT_SCAN_START_FAILED = 7,
	FAULT_REBOOT_REQUIRED = 10,
	FAULT_NETWORK_FILTER_NOT_ALLOWED = 12,
	FAULT_TOO_MANY_NETWORK_FILTERS = 13,
	FAULT_TOO_MANY_ES_EXTENSIONS = 14,
	FAULT_SYSEXT_NEEDS_FDA = 15,
	FAULT_ORBITAL_FDA = 17,
};

#define FAULTS_NDEFS 13              /* entries in the catalogue */
#define FAULTS_DETAIL_MAX 512        /* bytes of a detail, NUL included */
#define FAULTS_STATE_FILE "faults.state"
#define FAULTS_STATE_MAX 65536       /* cap on faults.state when loading */
#define FAULTS_STATE_MODE 0600

enum fault_lang {
	FAULT_LANG_EN = 0,
	FAULT_LANG_ZH_TW,
	FAULT_LANG_COUNT
};

enum fault_field {
	FAULT_FIELD_PORTAL = 0,      /* short text of the management portal */
	FAULT_FIELD_ENDPOINT,        /* description shown on the endpoint */
	FAULT_FIELD_CONDITION,       /* when it is raised on Linux (or never) */
	FAULT_FIELD_REMEDY,          /* what to do about it */
	FAULT_FIELD_COUNT
};

struct fault_def {
	int id;
	const char *name;            /* stable short name, [a-z0-9_] */
	bool linux_raised;           /* false: macOS only, never raised here */
	const char *text[FAULT_LANG_COUNT][FAULT_FIELD_COUNT];
};

/* The catalogue entry of id, or NULL. */
const struct fault_def *fault_def_find(int id);
/* The entry with that short name, or NULL. */
const struct fault_def *fault_def_by_name(const char *name);
/* Iteration in id order: i from 0 to fault_def_count() - 1. */
size_t fault_def_count(void);
const struct fault_def *fault_def_at(size_t i);
/* A text of def; never NULL ("" for an out-of-range language or field). */
const char *fault_text(const struct fault_def *def, enum fault_lang lang,
    enum fault_field field);
/* "en", "zh-TW" (also "zh_TW", "zh-Hant", any case); false if unknown. */
bool fault_lang_parse(const char *s, enum fault_lang *lang);

struct fault_state {
	bool raised;
	bool intervention;           /* needs a person (6 after InterventionAfter) */
	int64_t since_ms;            /* raised at, ms since the epoch */
	int64_t intervention_ms;     /* marked at, when intervention */
	char detail[FAULTS_DETAIL_MAX];   /* latest detail; any bytes */
};

struct faults {
	struct fault_state state[FAULTS_NDEFS];   /* in catalogue order */
	void (*emit)(void *arg, const struct event *ev);
	void *emit_arg;
};

/* No fault raised; emit (may be NULL: no events) receives every event. */
void faults_init(struct faults *f, void (*emit)(void *arg,
    const struct event *ev), void *arg);

/*
 * Raise id with detail (NULL: ""; longer than FAULTS_DETAIL_MAX - 1 bytes:
 * cut at a character boundary, ending in "...").  pid > 0 is the process
 * concerned, recorded in the event.  Returns true if the fault was newly
 * raised (a fault_raised event was emitted); false if it was already raised
 * (its detail is updated, no event), and false, changing nothing, for an
 * id that is not in the catalogue or is never raised on Linux (a bug of
 * the caller).
 */
bool fault_raise(struct faults *f, int id, const char *detail, pid_t pid,
    int64_t now_ms);

/*
 * Clear id, saying why in detail.  Returns true if it was raised (a
 * fault_cleared event was emitted, the intervention mark is reset); false
 * if it was not (nothing happens).
 */
bool fault_clear(struct faults *f, int id, const char *detail,
    int64_t now_ms);

/*
 * Mark a raised fault as needing user intervention.  Returns true the
 * first time (an intervention_required event was emitted); false if it
 * was already marked or is not raised.
 */
bool fault_mark_intervention(struct faults *f, int id, int64_t now_ms);

bool fault_is_raised(const struct faults *f, int id);
bool fault_needs_intervention(const struct faults *f, int id);
/* The state of id, or NULL if id is not in the catalogue. */
const struct fault_state *fault_state_of(const struct faults *f, int id);
size_t faults_raised_count(const struct faults *f);

/*
 * Write the raised faults to state_dir/faults.state atomically.  Returns 0
 * or a negative statefile_err with err set.
 */
int faults_save(const struct faults *f, const char *state_dir, char *err,
    size_t errlen);

/*
 * Replace the state of f with state_dir/faults.state (emit is kept; no
 * events).  Returns 0 when the file was read or does not exist (no
 * faults); then err is "" or a note naming ignored lines (an unknown id,
 * an id never raised on Linux).  A damaged file (bad syntax, no "end",
 * a count that does not match, a duplicate, too large) leaves no fault
 * raised and returns a negative value with err saying where and why.
 */
int faults_load(struct faults *f, const char *state_dir, char *err,
    size_t errlen);

#define FAULTS_ERR_DAMAGED (-100)    /* faults_load: the file is not ours */

#endif
