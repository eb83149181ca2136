/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The diagnosis' insides (diag.h is the API), one file per step:
 *   diag_read.c     the state and log files into struct diag (jansson,
 *                   via json_read.h, for the .jsonl lines)
 *   diag_analyse.c  crashes grouped and counted, the verdict, and the
 *                   helpers both reports share (log lines, timeline)
 *   diag_text.c     the report for a person
 *   diag_json.c     the same report as a JSON document (DIAG_SCHEMA)
 *   diag.c          diag_run: the four in order
 */
#ifndef AMPSCAN_DIAG_INT_H
#define AMPSCAN_DIAG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "dlog.h"
#include "events.h"
#include "exits.h"
#include "faults.h"
#include "json_read.h"
#include "poison.h"
#include "store.h"
#include "walltime.h"

#define DIAG_FILES_PER_EXIT 4        /* files in flight kept per exit */
#define DIAG_SIGS_PER_GROUP 4        /* signals told apart per file */
#define DIAG_TEXT_MAX 512            /* a detail, a reason */
#define DIAG_SIG_MAX 16

/* ---- the model ---------------------------------------------------------- */

struct diag_exit {
	int64_t t;
	char time[WALLTIME_LEN];
	int64_t pid, worker, uid, uptime_ms, delay_ms, exit_code;
	bool has_code, has_worker, has_uid, core, scan_timeout;
	char signal[DIAG_SIG_MAX];
	char kind[16];
	char *files[DIAG_FILES_PER_EXIT];
	size_t nfiles;
	char *defs;
	char *last_stderr;
};

struct diag_problem {
	const char *file;            /* a name of ours: "events.jsonl" */
	int64_t line, offset;        /* -1: unknown */
	char why[256];
};

struct diag_episode {
	int fault;
	int64_t raised, cleared, intervention;   /* -1: not seen */
	char detail[DIAG_TEXT_MAX], cleared_detail[DIAG_TEXT_MAX];
};

struct diag_defs_event {
	int64_t t;
	char time[WALLTIME_LEN];
	char type[40];
	char file[DIAG_TEXT_MAX];
	char reason[DIAG_TEXT_MAX];
	char versions[DIAG_TEXT_MAX];
};

struct diag_group {
	char *key;
	unsigned count;
	struct { char sig[DIAG_SIG_MAX]; unsigned n; } sigs[DIAG_SIGS_PER_GROUP];
};

struct diag_groups {
	struct diag_group g[DIAG_GROUPS_MAX];
	size_t n;
	unsigned other;              /* counted beyond DIAG_GROUPS_MAX keys */
};

struct diag_active {
	int id;
	int64_t since, intervention_ms;
	bool intervention;
	char detail[FAULTS_DETAIL_MAX];
};

struct diag {
	const struct diag_opts *o;
	struct config defcfg;        /* when o->cfg is NULL */
	const struct config *cfg;
	json_t *j;                   /* the line being read (jsonr_object) */
	/* exits: a ring, oldest first from head */
	struct diag_exit *ex;
	size_t exhead, exn;
	bool exits_from_events;
	uint64_t exits_lost;         /* not in exits.jsonl: its events_dropped lines */
	uint64_t events_lost;        /* not in events.jsonl: its events_dropped lines */
	/* events */
	struct diag_episode ep[DIAG_HISTORY_MAX];
	size_t epn;
	struct diag_defs_event dh[DIAG_HISTORY_MAX];
	size_t dhhead, dhn;
	unsigned root_starts;
	int64_t last_root_start;
	/* WorkerLaunch loader: its last loader_* events */
	struct {
		bool seen;
		int64_t pid, started, ready, load_ms, exited, exit_pid;
		int64_t fallback;        /* loader_fallback: workers exec'd since */
		bool candidate;
		char defs[256], exit_kind[32], exit_how[48], fallback_why[256];
	} loader;
	int64_t line_no;             /* lines seen in the file being read */
	bool whole_file;
	const char *reading;
	/* faults */
	struct diag_active act[FAULTS_NDEFS];
	size_t nact;
	bool faults_from_events;
	/* poison */
	struct poison_list poison;
	bool poison_ok;
	/* definitions */
	struct store_container cont[DIAG_CONTAINERS_MAX];
	size_t ncont;
	bool cont_ok;
	/* logs */
	char *svclog, *dlog;
	size_t svclen, dloglen;
	/* problems */
	struct diag_problem pr[DIAG_PROBLEMS_MAX];
	size_t npr, pr_omitted;
	/* derived */
	unsigned crashes, start_failures, timeouts, no_file, cores;
	int64_t first, last, peak;
	struct diag_groups by_sig, by_defs, by_file;
	int verdict;
};

/*
 * For each line of a log buffer: cb(arg, line, len).  Lines are never
 * NUL-terminated here.
 */
struct loglines {
	const char *l[DIAG_LOG_LINES];
	size_t n[DIAG_LOG_LINES];
	size_t count;                /* kept, at most DIAG_LOG_LINES */
	size_t head;                 /* ring start when keeping the last */
};

/* reading (diag_read.c) */
char *diag_dupn(const char *s, size_t max);
struct diag_exit *diag_exit_at(const struct diag *g, size_t i);
void diag_exit_clear(struct diag_exit *e);
void diag_read(struct diag *g);

/* analysis (diag_analyse.c) */
void diag_analyse(struct diag *g);
void diag_crash_sentence(const struct diag *g, struct strbuf *sb);
void diag_daemon_lines(const struct diag *g, const struct diag_exit *e,
    struct loglines *ll);
const struct diag_episode *diag_episodes_of(const struct diag *g, size_t *i, int fault);
void diag_exit_cause(const struct diag_exit *e, char *buf, size_t len);
bool diag_exit_gets_logs(const struct diag *g, size_t i);
bool diag_exit_in_window(const struct diag *g, const struct diag_exit *e);
bool diag_exit_is_crash(const struct diag_exit *e);
void diag_group_sigs_text(struct strbuf *sb, const struct diag_group *gr);
void diag_groups_free(struct diag_groups *gs);
/* the lines for a person, each after indent (diag_json.c has its own) */
void diag_loglines_out(struct strbuf *sb, const struct loglines *ll,
    const char *indent);
void diag_sigs_text(struct strbuf *sb, const struct diag_groups *gs);
void diag_svc_lines(const struct diag *g, const struct diag_exit *e, struct loglines *ll);
void diag_time_str(int64_t ms, char out[WALLTIME_LEN]);
size_t diag_timeline_start(const struct diag *g, size_t *omitted);
const char *diag_verdict_name(int v);
int diag_verdict_of(const struct diag *g);
const char *diag_kind_name(enum cvd_kind k);

/* the text report (diag_text.c) */
void diag_report_text(const struct diag *g, struct strbuf *sb);
void diag_text_fault_explain(const struct diag *g, const struct diag_active *a,
    struct strbuf *sb);
void diag_text_verdict(const struct diag *g, struct strbuf *sb);

/* the JSON report (diag_json.c) */
void diag_report_json(const struct diag *g, struct strbuf *sb);

#endif
