/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A daemon's loop modules without processes: the tests that link this
 * (with -Wl,--wrap=spawn_worker,--wrap=kill,--wrap=task_start,
 * --wrap=geteuid) get a struct daemon whose workers and children are
 * fakes.  A "worker" is the test's end of its socketpair; its exit, its
 * timers and its messages are delivered by calling the watchers' callbacks
 * (ev_invoke), never by running the loop, so nothing depends on time.
 * ampdaemon.log goes to a file the tests read (fake_log_has).
 */
#ifndef LOOPFAKE_H
#define LOOPFAKE_H

#include <stdbool.h>
#include <sys/types.h>

#include "pool_int.h"

#define FAKE_PID0 700000                 /* the first fake pid */
#define FAKE_PIDS 64

struct fake {
	struct daemon *d;
	char dir[128];                   /* StateDir and DefinitionsDir */
	char log[160];                   /* ampdaemon.log */
	char scratch[160];               /* ScratchDir (Engine clamav) */
	int peer[FAKE_PIDS];             /* the worker's end, by pid */
	unsigned spawns;
	bool spawn_fails;
	int kills[FAKE_PIDS];            /* the last signal sent, by pid */
	unsigned tasks;                  /* task_start calls */
};

extern struct fake fk;

/* A daemon of n workers with its pool initialised (ready to pool_start). */
struct daemon *fake_daemon(unsigned n);
void fake_free(void);

/* The fake worker's end of w's socket. */
int fake_peer(const struct worker *w);
/* w sends READY (version: NULL for ours); its watcher runs. */
void fake_ready(struct worker *w, const char *version);
/* w's scan request as w received it: the request's id, name in name. */
uint64_t fake_recv_scan(struct worker *w, char *name, size_t len);
/* w answers request id with verdict (WPROTO_CLEAN, WPROTO_FOUND, ...). */
/* Its memory report (MEM): private memory priv bytes. */
void fake_mem(struct worker *w, uint64_t id, uint64_t priv);
void fake_result(struct worker *w, uint64_t id, uint32_t verdict);
/* A RESULT with the worker's read confirmation (WPROTO_RES_*). */
void fake_result_read(struct worker *w, uint64_t id, uint32_t verdict,
    uint32_t rflags, uint64_t read_bytes);
/* w closes its socket. */
void fake_eof(struct worker *w);
/* w exits with wait status ws. */
void fake_exit(struct worker *w, int ws);
void fake_timer(struct worker *w);
void fake_scan_timer(struct worker *w);
/* The last signal w's pid was sent (0: none). */
int fake_signal(const struct worker *w);

/* Finish the task t (it ran): its lines, then done(ws). */
void fake_task_end(struct task *t, int ws, const char *out);
/* The definitions check ends well (an index is there) or fails. */
void fake_defs_ok(void);
void fake_defs_fail(const char *why);
/* Whether ampdaemon.log has a line containing s. */
bool fake_log_has(const char *s);
/* How many lines of ampdaemon.log contain s. */
unsigned fake_log_count(const char *s);

#endif
