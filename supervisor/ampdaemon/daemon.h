/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampdaemon's context: one struct daemon per process, passed explicitly to
 * every part of the supervisor (docs/style.md: no mutable globals).  The parts:
 *
 *   main.c        the process: arguments, start-up sequence, signals, stop
 *   pool.c        the pool: start, stop, rollover, faults 5 and 7, the
 *                 account task; it drives the workers' state machine
 *   worker.c      one worker's lifecycle: a (state x event) action table
 *   loader.c      WorkerLaunch loader: one loaded engine that forks workers
 *   poolmem.c     the pool's memory: MEM reports, WorkerMemoryLimit
 *   launch.c      beneath worker.c and loader.c: a pool process's exec,
 *                 scratch directory, stderr, exit record, MEM request
 *   crashes.c     fault 6: crashes counted in CrashWindow, StableAfter
 *   router.c      scan requests: the clean-file cache, the queue, dispatch
 *                 to idle READY workers, the retry of a crashed request
 *   defstask.c    the definitions check run in a child: re-verify active/,
 *                 delete what is invalid, roll back to previous/, index
 *   killpoint.c   test builds: SIGKILL ampdaemon at a numbered point
 *   ctl.c         the control socket and the commands of ampctl
 *   scansock.c    the scan socket: the clamd protocol
 *   connset.c     what both sockets share: accepting, the cap, the list of
 *                 connections, their output, freeing closed ones
 *   task.c        children run for the loop (definitions, useradd, FaultCommand)
 *   notify.c      events: the log, events.jsonl, ampctl followers, FaultCommand
 *   update.c      definitions updates: incoming/, ampctl update/reload, the
 *                 pipeline child, the rollover of the workers
 */
#ifndef AMPSCAN_DAEMON_H
#define AMPSCAN_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "config.h"
#include "dlog.h"
#include "events.h"
#include "exits.h"
#include "faults.h"
#include "importseen.h"
#include "poison.h"
#include "strbuf.h"
#include "task.h"
#include "wproto.h"
#include "activate.h"
#include "cleancache.h"

#define DAEMON_STOP_GRACE_MS 5000      /* TERM, then KILL after this */
#define DAEMON_DEFS_TIMEOUT_MS (15 * 60 * 1000)  /* the definitions check */
#define DAEMON_ACCOUNT_TIMEOUT_MS 120000   /* create/repair (several tools) */
#define DAEMON_FAULTCMD_TIMEOUT_MS 10000   /* FaultCommand, per event */
#define DAEMON_FAULTCMD_QUEUE 64           /* events waiting for it */
#define DAEMON_UPDATE_TIMEOUT_MS (60 * 60 * 1000)  /* one update's pipeline */
#define UPDATE_QUEUE_MAX 16u               /* updates waiting */
#define POOL_QUEUE_MAX 1024                /* scan requests waiting */
#define POOL_LOG_LINE_MAX 2048             /* a worker's stderr line */
#define POOL_EOF_GRACE_MS 50               /* its socket closed: exit by then */
#define DAEMON_STATE_RETRY_MS 1000         /* unwritten state: try again */
#define POOL_SCAN_NAME_MAX 4096
/* memory (poolmem.c): idle workers and the loaders are asked every
 * POOL_MEM_POLL_MS; a busy worker's SCAN asks for it when its last
 * report is POOL_MEM_REFRESH_MS old (one smaps_rollup walk: ~1 ms for a
 * large engine) */
#define POOL_MEM_POLL_MS 5000
#define POOL_MEM_REFRESH_MS 1000
/* loaders and workers: the OOM killer takes them before ampdaemon */
#define POOL_OOM_SCORE_ADJ 500
#define POOL_CRASH_KINDS_MAX 16            /* crash counters by signal */
/* A suspect's SHA-256 covers at most its first 64 MiB (with device, inode,
 * size and mtime): hashing runs in the loop, so it is bounded (~0.1 s). */
#define POOL_POISON_HASH_MAX (64ull << 20)

/* ---- scan requests (pool.c) ------------------------------------------ */

/* The clean-file cache: cleancache.h (struct clean_key, the leases). */

struct scan_req;
/*
 * The end of a request: res is the worker's result (valid during the call)
 * or NULL with error set ("scan service unavailable ...", "poison file
 * ...").  The pool no longer touches req after calling it; the fd has been
 * closed.
 */
typedef void scan_done_fn(struct scan_req *req, const struct wproto_result *res,
    const char *error);

struct scan_req {
	int fd;                          /* open file, owned by the pool once submitted */
	uint32_t flags;                  /* WPROTO_SCAN_* */
	char name[POOL_SCAN_NAME_MAX];   /* display name (the path) */
	scan_done_fn *done;
	void *data;                      /* the submitter's */
	bool no_cache;                   /* a stream (memfd): never cached */
	/* private */
	uint64_t id;
	int64_t submitted_ms;            /* pool_submit's time (STATS) */
	unsigned attempts;               /* workers it was handed to */
	struct clean_key key;            /* the file's identity at submit */
	bool have_key;
	int cc_slot;                     /* its pending lease, -1: none */
	/* for the scan log (scanlog.h), readable in done(): monotonic us at
	 * submit and when a worker took it (0: none did), the worker's slot
	 * (-1: none), answered by the clean-file cache */
	int64_t t_submit_us, t_start_us;
	int log_slot;
	bool cached;
	struct scan_req *next;
};

/* ---- workers (worker.c) ----------------------------------------------- */

/* What ampctl status and the pool see of a worker (worker_phase). */
enum worker_state {
	WORKER_IDLE,       /* not running, not scheduled (pool paused/stopped) */
	WORKER_WAITING,    /* to start once the definitions or account are ready */
	WORKER_STARTING,   /* spawned, waiting for READY */
	WORKER_READY,      /* serving (busy when req != NULL) */
	WORKER_BACKOFF,    /* exited, restart timer running */
	WORKER_STOPPING,   /* asked to stop, waiting for its exit */
};

/* The states of worker.c's table; each one shows as a phase above. */
enum wstate {
	WS_IDLE,           /* idle */
	WS_WAITING,        /* waiting */
	WS_STARTING,       /* starting: spawned, the READY timer runs */
	WS_START_EOF,      /* starting: its socket closed; killed after a grace */
	WS_START_KILLED,   /* starting: killed, its exit not yet seen */
	WS_READY,          /* ready: serving (busy when req != NULL) */
	WS_RETIRING,       /* ready, busy: a rollover stops it after its request */
	WS_MEM_RETIRING,   /* ready, busy: past WorkerMemoryLimit, replaced after it */
	WS_READY_EOF,      /* ready: its socket closed; killed after a grace */
	WS_KILLED,         /* ready: killed, its exit not yet seen */
	WS_BACKOFF,        /* backoff: exited, restart timer running */
	WS_STOPPING,       /* stopping: asked to exit, SIGKILL after the grace */
	WS_STOPPING_OLD,   /* stopping: a rollover's old worker (a kill point) */
	WS_STOPPING_MEM,   /* stopping: past WorkerMemoryLimit; a fresh one follows */
	WS_NSTATES
};

/* Why a worker was killed (its exit is reported with it). */
enum worker_kill_why {
	WK_NONE,
	WK_READY_TIMEOUT,  /* no READY in time */
	WK_SCAN_TIMEOUT,   /* its scan outlived ScanTimeout */
	WK_OTHER,          /* a protocol error, a refused READY, ... */
};

struct daemon;

/* A worker's or loader's stdout+stderr pipe (launch.c reads it). */
struct pool_log {
	int fd;                          /* the read end, -1: closed */
	ev_io io;
	char buf[POOL_LOG_LINE_MAX];     /* a line not yet ended */
	size_t len;
	char last_line[512];             /* its last line, for faults, exits */
};

struct worker {
	struct daemon *d;
	unsigned slot;                   /* 1..2N: N current, N for rollovers */
	enum wstate st;                  /* set by worker.c's actions only */
	enum worker_kill_why killed;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool as_root;
	int sock;                        /* our end of its socketpair */
	struct pool_log log;             /* its stdout+stderr */
	ev_io sock_io;
	ev_child child;
	ev_timer timer;                  /* READY timeout, backoff, stop grace */
	ev_timer scan_timer;             /* ScanTimeout of the request in flight */
	int64_t started_ms, ready_ms;
	uint64_t delay_ms;               /* the next backoff */
	unsigned restarts;
	uint64_t scans;
	struct scan_req *req;            /* in flight */
	int64_t idle_ms;                 /* its last RESULT (STATS: IDLE since) */
	char bad_ready[128];             /* why its READY was refused */
	char defs[256];                  /* the set its READY named */
	/* Engine clamav: its scratch directory under ScratchDir ("" none) */
	char scratch[48];
	unsigned generation;             /* starts of this slot */
	int64_t defs_changed_ms;         /* first WPROTO_EXIT_DEFS_CHANGED of a row */
	struct wproto_mem mem;           /* its last memory report (MEM) */
	int64_t mem_ms;                  /* when it came; 0: none since its start */
	pid_t loader_pid;                /* the loader it was forked from, or -1 */
	bool pre_collapse;               /* forked before its loader's COLLAPSED */
	const char *retire_reason;       /* WS_STOPPING_MEM: "memory", "huge_pages" */
};

/* ---- the loader (WorkerLaunch loader, loader.c, docs/loader.md) ---------- */

enum loader_state { LS_DOWN, LS_STARTING, LS_READY, LS_BACKOFF, LS_STOPPING };

struct loader {
	struct daemon *d;
	enum loader_state st;
	bool killed;                     /* LoadTimeout, or a bad reply */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool as_root;
	int sock;                        /* our end of its socketpair */
	struct pool_log log;
	ev_io sock_io;
	ev_child child;
	ev_timer timer;                  /* LoadTimeout, backoff, stop grace */
	int64_t started_ms, ready_ms;
	uint64_t delay_ms;               /* the next backoff */
	uint64_t defs_gen;               /* the definitions check it loaded after */
	uint64_t forks;                  /* workers forked */
	char scratch[48];                /* Engine clamav: worker-0-GEN */
	struct wproto_mem mem;           /* its last memory report (MEM) */
	int64_t mem_ms;                  /* when it came; 0: none since its start */
	uint64_t pss_at_ready;           /* its first report: one engine, alone */
	char defs[256];                  /* the set its READY named */
	uint64_t load_ms;                /* started to READY */
	uint64_t huge_bytes;             /* its READY: engine in huge pages */
	uint32_t collapse_ms;            /* ... collapsing took (loader.md) */
	bool collapse_asked;             /* COLLAPSE sent, or decided against */
	bool collapsed;                  /* COLLAPSED with huge pages: re-fork */
	/* started beside the first definitions check (loader_early_start),
	 * on the set as it was then; kept if the check names that set */
	bool early;
	uint8_t early_id[32];
	/* an update's candidate (loader_candidate_start): the trial */
	bool candidate;
	bool adopt;                      /* activated: the next change adopts it */
	char set_dir[4200];              /* where it loads from ("" active/) */
	void (*cand_done)(struct daemon *d, bool ok, const char *why);
};

struct loaders {
	struct loader l[2];              /* the current one, and one retired */
	unsigned cur;
	unsigned generation;             /* of the scratch directory names */
	uint64_t loads;                  /* loaders that became READY */
	uint64_t defs_gen;               /* definitions checks that ended well */
	bool early_tried;                /* loader_early_start ran (once) */
	uint64_t last_load_ms;           /* how long the last load took */
	uint64_t fork_id;
	/* WorkerLaunch loader on a kernel without Landlock: the loader said
	 * so (WPROTO_EXIT_NO_LANDLOCK) and the workers are exec'd instead,
	 * for as long as ampdaemon runs (docs/loader.md) */
	bool exec_fallback;
	char fallback_why[512];          /* the loader's line */
};

/* ---- the pool's shared state (pool.c) --------------------------------- */

struct crash_ring {
	int64_t when[CONFIG_THRESHOLD_MAX];
	char sig[CONFIG_THRESHOLD_MAX][16];
	size_t head, count;
};

/* How a rollover ended (pool_rollover's callback). */
enum { POOL_ROLLED_OVER, POOL_ROLLED_BACK, POOL_ROLL_TIMEOUT };

/* What worker.c, router.c, poolmem.c and loader.c tell the pool
 * (pool_init gives the hooks). */
enum worker_note {
	WN_READY,          /* it became READY */
	WN_STOPPED,        /* it exited after a stop: IDLE */
	WN_GONE,           /* a rollover's old worker crashed: IDLE */
};
struct account;
struct worker_hooks {
	/* May w start now?  false: it waits (WAITING); else *acct and
	 * *as_root are set. */
	bool (*may_start)(struct worker *w, struct account *acct, bool *as_root);
	void (*changed)(struct worker *w, enum worker_note note);
	/* the router could not send w a request: kill it */
	void (*send_failed)(struct worker *w, const char *why);
	/* loader.c: the loader became READY, or a loader exited */
	void (*loader_changed)(struct daemon *d, bool ready);
	/* loader.c: the identity a loader runs as, a worker's (false: wait) */
	bool (*loader_account)(struct daemon *d, struct account *acct,
	    bool *as_root);
	/* loader.c: fault 7 raised; with nobody READY the queue is answered */
	void (*unavailable)(struct daemon *d);
};

struct pool {
	/*
	 * 2N slots: the N current ones are w[base .. base+N); a rollover
	 * starts workers in the other N and retires each old worker once its
	 * counterpart is READY, then the other half becomes current.
	 */
	struct worker w[2 * CONFIG_WORKERS_MAX + CONFIG_SPARES_MAX];
	unsigned n;                      /* Workers */
	unsigned nspares;                /* SpareWorkers: w[2n .. 2n+nspares) */
	unsigned base;                   /* 0 or n */
	bool rolling;                    /* a rollover is under way */
	unsigned old_base;               /* the half being retired */
	void (*roll_cb)(struct daemon *d, int outcome);   /* not yet called */
	void (*roll_next)(struct daemon *d, int outcome); /* the next rollover */
	bool roll_rolled_back;           /* a rollback happened during it */
	bool paused;                     /* repair-account, stop */
	struct worker_hooks hooks;       /* pool.c's, for the files below it */
	struct loaders loaders;          /* WorkerLaunch loader */
	void (*on_defs)(struct daemon *d, bool ok, const char *error);
	struct scan_req *queue_head, *queue_tail;
	size_t queued;
	uint64_t next_id;
	struct crash_ring crashes;
	ev_timer stable_timer;           /* fault 6: StableAfter without a crash */
	ev_timer intervention_timer;     /* fault 6: InterventionAfter */
	bool recovery_needed;            /* a start failed: check the definitions */
	unsigned rr;                     /* round-robin position of the router */
	struct wproto_ready ready;       /* the last READY: versions, counts */
	struct wproto_ready ready_tmp;
	bool have_ready;
	struct wproto_result *res;       /* decode buffer (large) */
	struct cleancache cc;            /* the clean-file cache, its leases */
	struct poisonq *pq;              /* poisonq.c: hashes under way */
	/* counters since start, for the metrics file */
	uint64_t scans_total, detections_total, scan_errors_total;
	uint64_t limits_exceeded_total;   /* results with a WPROTO_NOTE_LIMIT note */
	uint64_t crashes_total;
	uint64_t retired_memory_total;   /* workers retired by WorkerMemoryLimit */
	ev_timer mem_timer;              /* poolmem.c: POOL_MEM_POLL_MS */
	int mem_fd;                      /* our own smaps_rollup, -1: none */
	struct { char sig[16]; uint64_t count; } crash_kinds[POOL_CRASH_KINDS_MAX];
	size_t ncrash_kinds;
	uint8_t *msg;                    /* receive buffer */
	struct wbuf out;                 /* send buffer */
	void (*all_stopped)(struct daemon *d);
	struct task account_task;        /* create or repair the account */
	bool account_repair;             /* the task is a repair */
	int64_t account_last_ms;         /* the last creation attempt */
	char account_error[512];         /* why it failed ("" if it did not) */
	void (*account_done)(struct daemon *d, int rc, const char *reason);
	void (*repair_cb)(struct daemon *d, int rc, const char *reason);
};

/* ---- definitions updates (update.c) ------------------------------------- */

/* The status an update's done callback gets. */
enum update_done {
	UPDATE_DONE_OK = 0,          /* activated, workers READY on it */
	UPDATE_DONE_FAILED = 1,      /* rejected, rolled back, or failed */
	UPDATE_DONE_STOPPING = 2,    /* ampdaemon stopped first */
	UPDATE_DONE_IO = 3,          /* not the file's fault (I/O): try again later */
};

struct update_job {
	char path[4096];                 /* the file (incoming/ or ampctl's) */
	char sign[4096];                 /* its .sign, or "" */
	bool force;                      /* allow a downgrade */
	bool incoming;                   /* from incoming/: consumed */
	bool reload;                     /* ampctl reload / RELOAD: no file */
	/* incoming/ decided it: staged, then rejected with this reason
	 * (quarantined as any rejection); "" for a normal update */
	char reject[512];
	/* the answer (ampctl, incoming/), or NULL: enum update_done */
	void (*done)(struct daemon *d, void *arg, int status, const char *text);
	void *arg;
	struct update_job *next;
};

struct updates {
	struct update_job *head, *tail;  /* waiting */
	unsigned n;
	struct update_job *cur;          /* in the pipeline or rolling over */
	struct task task;                /* the pipeline child */
	int out_kind;                    /* its verdict: 0 none yet, 1 rejected,
	                                  * 2 activated, 3 failed */
	char out_text[1536];
	bool out_io;                     /* rejected for an I/O reason, not its bytes */
	char step[32];                   /* what cur is doing, for status */
	int64_t step_ms;
	bool rolling;
	ev_timer roll_timer;             /* the rollover's deadline */
	/* WorkerLaunch loader: the candidate set's loader is the trial */
	int go_fd;                       /* to the child: its verdict (-1) */
	char cand_set[4200];             /* the candidate set, for its loader */
	uint8_t cand_id[32];             /* Engine clamav: the set's identity */
	bool have_cand_id;               /* (its "setid" record) */
	bool mem_waiting;                /* MemAvailable cannot hold it yet */
	int64_t mem_wait_ms;             /* since */
	char wait_reason[512];
	ev_timer mem_timer;
	char roll_file[4096], roll_text[1536];
	/*
	 * The reload (ampctl reload, RELOAD): never in the queue above, so a
	 * flood of RELOADs cannot refuse an update.  At most one waits; every
	 * later ask joins it (its waiters: ampctl's answers), whoever sends
	 * it.  An untrusted RELOAD runs ReloadInterval after the last reload
	 * ended at the earliest; root's (and ampctl's) makes it due at once.
	 */
	bool reload_pending, reload_urgent;
	struct update_job *reload_waiters;   /* answered with its verdict */
	int64_t reload_end_ms;               /* the last reload ended (0 none) */
	ev_timer reload_timer;               /* the pending reload is due */
	/* the last verdict, for status */
	bool have_last, last_ok;
	int64_t last_ms;
	char last_file[4096], last_text[1536];
	/* incoming.c: told when the queue is idle (nothing running or
	 * waiting, no check): cdiffs held back may go now; NULL: nobody */
	void (*on_idle)(struct daemon *d);
	/* importdir.c: told of each RELOAD (freshclam's NotifyClamd): its
	 * directory is read again; NULL: no ImportDirectory */
	void (*on_reload)(struct daemon *d);
};

/* ---- the service's budgets (issue 17; docs/scan-protocol.md) ------------ */

/* Each kind of budget hit: an error for that client only, logged
 * (at most one line a second per kind) and counted for the metrics. */
enum budget {
	BUDGET_STREAM_MEMORY,            /* StreamMemoryLimit */
	BUDGET_CONNS_PER_USER,           /* MaxConnectionsPerUser */
	BUDGET_RESERVED_SLOTS,           /* the slots kept for trusted clients */
	BUDGET_SESSION_TIME,             /* MaxSessionTime */
	BUDGET_RELOAD_COALESCED,         /* a RELOAD joined the pending one */
	BUDGET_COUNT
};

struct budgets {
	uint64_t refused[BUDGET_COUNT];
	/* INSTREAM bytes held now (received, or announced by a chunk header
	 * being received, until the scan of their memfd is over): all
	 * clients, and the untrusted ones' share of it */
	uint64_t stream_held, stream_held_untrusted;
	/* the scan socket's directory walks (SCAN_WALK_MEM_MAX): bytes of
	 * listings held now; listings cut by it since the start */
	size_t walk_bytes;
	uint64_t walk_refused;
	int64_t logged_ms[BUDGET_COUNT]; /* the last line in the log */
	uint64_t unlogged[BUDGET_COUNT]; /* hits since, not logged */
};

/* The metrics' label of a budget ("stream_memory", ...). */
const char *budget_name(enum budget b);
/* Count a hit of b and log it (rate-limited): what, with the client's uid. */
void budget_hit(struct daemon *d, enum budget b, uid_t uid, const char *what);

/* ---- incoming/ (incoming.c) ---------------------------------------------- */

/*
 * A .cdiff in incoming/ (NAME-VERSION.cdiff, its header saying VERSION),
 * not yet submitted: in line behind the one applied now, or waiting for
 * a version that has not arrived (docs/updates.md, "Ordering").
 */
#define INCOMING_CDIFF_TRACK 256          /* cdiffs incoming/ keeps in mind */
#define INCOMING_CDIFF_WAIT_MAX 64u       /* of them waiting for a missing base */
#define INCOMING_CDIFF_WAIT_MS (60 * 60 * 1000)  /* then rejected */
struct incoming_cdiff {
	char name[256];                  /* in incoming/ */
	char db[64];                     /* NAME */
	unsigned version;
	unsigned waits_for;              /* the missing version; 0: not waiting */
	int64_t since_ms;                /* waiting since (wall clock, status) */
	int64_t since_mono;              /* the same, monotonic (the bound) */
	bool seen;                       /* in the last listing */
};

struct incoming {
	int ino_fd;                      /* inotify on incoming/, or -1 */
	ev_io ino_io;
	ev_timer settle;                 /* a quiet moment before reading it */
	ev_timer retry;                  /* again after an I/O failure */
	ev_timer wait_timer;             /* the first waiting cdiff's bound */
	struct incoming_cdiff *cd;       /* INCOMING_CDIFF_TRACK of them */
	unsigned ncd, nwaiting;
	int64_t hold_until;              /* monotonic ms: an I/O failure, no cdiff before */
};

/* ---- ImportDirectory (importdir.c) --------------------------------------- */

/* A container's identity (struct import_file) and the lines of
 * IMPORT_SEEN_FILE are importseen.h's (docs/updates.md, "ImportDirectory"). */
#define IMPORT_TRACK_MAX 64               /* containers ImportDirectory keeps in mind */
#define IMPORT_SEEN_FILE "import.seen"    /* in StateDir */

/* The last of a kind of outcome, for status: when, which file, why. */
struct import_last {
	int64_t ms;                      /* wall clock; 0: none yet */
	char file[256];                  /* a name in ImportDirectory, or the directory */
	unsigned version;                /* the container's header (0: unknown) */
	char text[1536];                 /* the verdict, the reason, the error */
};

/*
 * importdir.c's state; ctl.c and metrics.c only read it (importseen.h
 * names its labels).  watch_error: why there is no inotify watch.
 */
struct importdir {
	int ino_fd;                      /* inotify on ImportDirectory, or -1 */
	ev_io ino_io;
	ev_timer settle;                 /* a quiet moment before reading it */
	ev_timer retry;                  /* again after an I/O failure */
	struct import_file *f;           /* IMPORT_TRACK_MAX of them */
	unsigned nf;
	char watch_error[512];           /* "" while watched */
	bool watch_tried;                /* importdir_init tried: retried at reads */
	enum import_why next_why;        /* of the settle timer armed */
	enum import_why read_why;        /* of the last read */
	int64_t read_ms;                 /* the last read (wall clock); 0: none yet */
	/* the retry due (wall clock) while armed, else 0: what ctl.c and
	 * metrics.c read (ev_is_active takes no const watcher) */
	int64_t retry_ms;
	uint64_t results[IMPORT_RES_COUNT];
	struct import_last imported, rejected, io_error;
};
/* ---- the definitions check (defstask.c) --------------------------------- */

enum defs_outcome {
	DEFS_CHECKED,      /* an index is open (d->index_fd); Engine clamav:
	                    * the set's identity is known (d->defs_id) */
	DEFS_FAILED,       /* error says why; the retry timer runs */
	DEFS_RETRY_DUE,    /* the retry timer fired: check again if you will */
};
struct defs_report {
	enum defs_outcome outcome;
	const char *error;
	bool rolled_back;                /* this check rolled back to previous/ */
	uint64_t retry_ms;               /* DEFS_FAILED: the retry comes in */
};
typedef void defs_done_fn(struct daemon *d, void *arg,
    const struct defs_report *r);

struct defs_state {
	struct task task;                /* the check's child */
	bool ready;                      /* the check ran and an index is open
	                                  * (clamav: d->defs_id is set) */
	bool checked;                    /* a check has finished (ok or not) */
	bool rolled_back;                /* this fault-7 episode rolled back */
	bool held;                       /* an activation runs: checks wait */
	bool pending, pending_rollback;  /* a check waits for it */
	defs_done_fn *done;              /* who the check reports to */
	void *arg;
	ev_timer retry;                  /* fault 7: the next recovery */
	uint64_t delay_ms;
	char rollback_why[512];          /* why the last rollback happened */
};

/* ---- the daemon ------------------------------------------------------- */

/* A rendered event line for a subscriber (notify_subscribe). */
typedef void notify_fn(void *arg, const char *line, size_t len);

struct ctl;
struct scansock;

struct daemon {
	const char *config_path;
	bool foreground;
	struct config cfg;
	struct ev_loop *loop;
	ev_signal sig_term, sig_int, sig_hup;
	int lock_fd;
	struct dlog log;
	struct dlog svclog;              /* ampscansvc.log */
	struct events_log events;
	bool events_open;
	/* events or exits queued, state files unsaved (StateDir full): retried */
	ev_timer state_retry;
	bool faults_unsaved;
	struct exits_log exits;
	bool exits_open;
	struct faults faults;
	struct poison_list poison;
	struct pool pool;
	struct ctl *ctl;
	struct scansock *scansock;
	int64_t started_ms;
	bool stopping;
	int exit_code;
	char scansvc[4096];              /* the worker binary */
	/* definitions */
	struct defs_state defs;
	int index_fd;                    /* the builtin's index; -1 for clamav */
	/* Engine clamav, which has no index: the identity (defs_source_id) of
	 * the set the check verified or the update activated, the workers'
	 * --source-id (what the builtin's index names) */
	uint8_t defs_id[32];
	bool defs_id_set;
	/* ScratchDir, open once opened (and its leftovers wiped) */
	bool scratch_open;
	int scratch_root;
	struct updates upd;
	struct budgets budgets;
	struct incoming inc;
	struct importdir imp;
	ev_timer metrics_timer;          /* a metrics write pending */
	int kill_point;                  /* test builds: AMPSCAN_TEST_KILL_POINT */
	/* FaultCommand */
	struct task faultcmd_task;
	char *faultcmd_queue[DAEMON_FAULTCMD_QUEUE];
	size_t faultcmd_n;
	notify_fn *follower;             /* ctl.c's `ampctl events --follow` */
	void *follower_arg;
};

/* notify.c: every event goes through here (log, events.jsonl, followers,
 * FaultCommand for fault events). */
void daemon_event(struct daemon *d, const struct event *ev);
void daemon_faults_emit(void *arg, const struct event *ev);
void daemon_save_faults(struct daemon *d);
void daemon_faultcmd_flush(struct daemon *d);
/* Every event line goes to fn too (one subscriber; NULL: none). */
void notify_subscribe(struct daemon *d, notify_fn *fn, void *arg);
/* Once the loop exists: the timer that writes what could not be written. */
void daemon_state_retry_init(struct daemon *d);
/* Something could not be written (events, exits, faults.state,
 * poison.state): try again every DAEMON_STATE_RETRY_MS until it is. */
void daemon_state_retry(struct daemon *d);
/* At the stop: a last try for queued exits; say what is lost (events and
 * exits still queued). */
void daemon_state_retry_stop(struct daemon *d);

/* metrics.c: the Prometheus text file (MetricsFile) */
void metrics_init(struct daemon *d);
/* Write it now (start, stop). */
void metrics_write(struct daemon *d);
void metrics_stop(struct daemon *d);

/* pool.c */
int pool_init(struct daemon *d, char *err, size_t errlen);
void pool_free(struct daemon *d);
/* Start (or restart) every slot; workers wait for the definitions. */
void pool_start(struct daemon *d);
/* Check the definitions (defstask.c); the pool takes the outcome, then
 * tells the listener of pool_on_defs_checked. */
void pool_check_defs(struct daemon *d, bool allow_rollback);
/* Who hears of every definitions check's end (update.c, through main.c). */
void pool_on_defs_checked(struct daemon *d,
    void (*fn)(struct daemon *d, bool ok, const char *error));
/* Stop every worker (TERM, KILL after the grace); cb once all are gone. */
void pool_stop(struct daemon *d, void (*cb)(struct daemon *d));
/* ampctl repair-account: stop, repair in a child, restart; cb with the outcome. */
int pool_repair_account(struct daemon *d,
    void (*cb)(struct daemon *d, int rc, const char *reason));

/* router.c */
/* Hand a request to a worker (or queue it, or answer it at once). */
void pool_submit(struct daemon *d, struct scan_req *req);
/* Forget every file found clean (new definitions). */
void pool_cache_clear(struct daemon *d);

/* poolmem.c: the pool's memory (ampdaemon, loaders, workers). */
struct pool_mem {
	uint64_t pss;                    /* the sum of the Pss below */
	uint64_t ampdaemon_pss, ampdaemon_rss, ampdaemon_priv;
	uint64_t loaders_pss, workers_pss, workers_priv;
	unsigned processes;              /* running ones, ampdaemon included */
	unsigned unknown;                /* ... of which no figure is known */
	int64_t oldest_ms;               /* the oldest figure summed (0: none) */
};
void poolmem_totals(struct daemon *d, struct pool_mem *m);
/* Whether a request would be answered at once with "unavailable". */
bool pool_is_unavailable(const struct daemon *d);
/* Answer every queued request with why (the daemon is stopping). */
void pool_drain(struct daemon *d, const char *why);

/* worker.c */
const char *worker_state_name(enum worker_state s);

/* What ampctl status (and the pool) see of w's state. */
static inline enum worker_state
worker_phase(const struct worker *w)
{
	switch (w->st) {
	case WS_IDLE: return WORKER_IDLE;
	case WS_WAITING: return WORKER_WAITING;
	case WS_STARTING: case WS_START_EOF: case WS_START_KILLED:
		return WORKER_STARTING;
	case WS_READY: case WS_RETIRING: case WS_MEM_RETIRING: case WS_READY_EOF:
	case WS_KILLED:
		return WORKER_READY;
	case WS_BACKOFF: return WORKER_BACKOFF;
	case WS_STOPPING: case WS_STOPPING_OLD: case WS_STOPPING_MEM:
	case WS_NSTATES:
		break;
	}
	return WORKER_STOPPING;
}

/*
 * Roll the workers over to d->index_fd (clamav: d->defs_id): start N in
 * the spare half, retire
 * each old one when its counterpart is READY; cb once all current workers
 * are READY (POOL_ROLLED_OVER) or after a rollback to previous/ made them
 * READY (POOL_ROLLED_BACK).
 */
void pool_rollover(struct daemon *d, void (*cb)(struct daemon *d, int outcome));
/* update.c opened a checked index (an activation): workers may start on
 * it even if the last definitions check had failed. */
void pool_defs_installed(struct daemon *d);
/* The slots in use: current, and those of a rollover. */
#define POOL_SLOTS(p) (2 * (p)->n)
/* and the spares after them (SpareWorkers, spares.c) */
#define POOL_ALL(p) (2 * (p)->n + (p)->nspares)

/* update.c */
void update_init(struct daemon *d);
void update_free(struct daemon *d);
/* Queue an update (path, sign) or a reload; done answers it, always
 * (ctl.c keeps the connection, counted busy, until it has). */
int update_submit(struct daemon *d, const char *path, const char *sign,
    bool force, bool incoming, bool reload,
    void (*done)(struct daemon *d, void *arg, int status, const char *text),
    void *arg, char *err, size_t errlen);
/*
 * incoming/ judged path already (a cdiff that waited too long for its
 * base, or one a newer container made obsolete): it is staged and
 * rejected with why, quarantined like any rejection.
 */
int update_submit_rejected(struct daemon *d, const char *path,
    const char *sign, const char *why,
    void (*done)(struct daemon *d, void *arg, int status, const char *text),
    void *arg, char *err, size_t errlen);
/* Nothing runs or waits in the queue, no definitions check runs. */
bool update_idle(const struct daemon *d);
/*
 * Ask for a reload: the active set re-verified and the workers rolled over.
 * It joins the pending one if there is one (BUDGET_RELOAD_COALESCED is
 * counted for an untrusted one); urgent (root, TrustedScanUsers, ampctl)
 * makes it due at once, else it waits for ReloadInterval.  done, when not
 * NULL, gets the verdict of the reload that serves it.  0, or -1 (out of
 * memory) with err set.
 */
int update_reload(struct daemon *d, bool urgent, uid_t uid,
    void (*done)(struct daemon *d, void *arg, int status, const char *text),
    void *arg, char *err, size_t errlen);
/* An update (or reload) in the pipeline or rolling over.  Inline: the
 * pool's workers ask too, and they sit below update.c. */
/*
 * metrics.c's file: something counted changed, so it is rewritten within
 * METRICS_DELAY_S (the timer's callback is metrics.c's).  Inline, so that
 * the low modules that count (notify, router, scansock, poolmem) do not
 * call up into metrics.c, which reads them.
 */
#define METRICS_DELAY_S 5.0
static inline void
metrics_touch(struct daemon *d)
{
	if (d->cfg.metrics_file == NULL || d->loop == NULL ||
	    ev_is_active(&d->metrics_timer))
		return;
	ev_timer_set(&d->metrics_timer, METRICS_DELAY_S, 0.);
	ev_timer_start(d->loop, &d->metrics_timer);
}

static inline bool
update_busy(const struct daemon *d)
{
	return d->upd.cur != NULL || task_is_running(&d->upd.task);
}
/*
 * Workers are forked from a loader: WorkerLaunch loader, unless the loader
 * found no Landlock (then they are exec'd: loaders.exec_fallback).
 */
static inline bool
pool_uses_loader(const struct daemon *d)
{
	return d->cfg.worker_launch == CONFIG_LAUNCH_LOADER &&
	    !d->pool.loaders.exec_fallback;
}
/* A definitions check finished (main.c makes it the pool's listener). */
void update_defs_done(struct daemon *d, bool ok, const char *error);

/*
 * WorkerLaunch loader, an update's candidate (loader.c): start a loader
 * on the set in set_dir (its ampscan.idx, its files) beside the serving
 * one; done(d, true, NULL) at its READY (its canaries passed: the
 * trial), done(d, false, why) if it exits or times out first.  0, or -1
 * + err (it could not be started; done is not called).
 */
int loader_candidate_start(struct daemon *d, const char *set_dir,
    void (*done)(struct daemon *d, bool ok, const char *why), char *err,
    size_t errlen);
/* The candidate's set was activated: the rollover adopts it. */
void loader_candidate_activated(struct daemon *d);
/* The update ended otherwise: the candidate (if any) is retired. */
void loader_candidate_drop(struct daemon *d);
/* The serving loader's resident engine, in bytes (0: unknown). */
uint64_t loader_engine_bytes(const struct daemon *d);
/* path is the update running or waiting in the queue. */
bool update_is_queued(const struct daemon *d, const char *path);

/* incoming.c: files dropped into incoming/ are submitted as updates */
int incoming_init(struct daemon *d, char *err, size_t errlen);
void incoming_free(struct daemon *d);

/*
 * importdir.c: ImportDirectory's new or changed containers are submitted
 * as updates (a copy is staged; the directory is never modified).
 * importdir_init: nothing to do without ImportDirectory; -1 + err when
 * it cannot be watched.  importdir_rescan: read it again soon (RELOAD).
 */
int importdir_init(struct daemon *d, char *err, size_t errlen);
void importdir_free(struct daemon *d);
void importdir_rescan(struct daemon *d);
/* Files known (in the last listing or judged before) and judged. */
unsigned importdir_judged(const struct daemon *d);

/* defstask.c */
void defs_init(struct daemon *d);
void defs_free(struct daemon *d);
/*
 * Re-verify active/, delete what is invalid, roll back when allowed and
 * previous/ differs, make the index fresh; then done(arg) with the report.
 * Ignored while a check runs; deferred while held (defs_hold).  After a
 * failure the retry timer (backing off) calls done with DEFS_RETRY_DUE.
 */
void defs_check_start(struct daemon *d, bool allow_rollback,
    defs_done_fn *done, void *arg);
bool defs_ready(const struct daemon *d);
bool defs_checked(const struct daemon *d);
bool defs_rolled_back(const struct daemon *d);
bool defs_running(const struct daemon *d);
const char *defs_rollback_why(const struct daemon *d);
void defs_unready(struct daemon *d);
/* A checked index is open (an activation): ready, no retry pending. */
void defs_installed(struct daemon *d);
/* A worker was READY, or a new set came: a rollback is allowed again. */
void defs_forget_rollback(struct daemon *d);
void defs_retry_reset(struct daemon *d);
void defs_retry_cancel(struct daemon *d);
/* An activation runs: a check asked for meanwhile waits ... */
void defs_hold(struct daemon *d, bool hold);
/* ... until this (the update's verdict) starts it. */
void defs_run_pending(struct daemon *d);

/* scansock.c: the clamd protocol on LocalSocket */
int scansock_open(struct daemon *d, char *err, size_t errlen);
void scansock_stop_accepting(struct daemon *d);
void scansock_close(struct daemon *d);

/* ctl.c */
int ctl_open(struct daemon *d, char *err, size_t errlen);
void ctl_close(struct daemon *d);
void ctl_stop_accepting(struct daemon *d);

#endif
