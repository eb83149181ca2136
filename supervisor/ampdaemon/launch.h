/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A process of the pool, a worker or a loader: what worker.c and loader.c
 * share, beneath both.  Its start by exec after the privilege drop
 * (spawn.h): the arguments, the extra fds and the scratch directory
 * (Engine clamav); its stdout+stderr, line by line into ampscansvc.log;
 * its exit's line in exits.jsonl; the MEM request and reply (poolmem.c
 * keeps the figures); the restart backoff.  Nothing here calls into the
 * pool: the caller keeps the process's state and decides.
 */
#ifndef AMPSCAN_LAUNCH_H
#define AMPSCAN_LAUNCH_H

#include "daemon.h"

struct account;
struct buf;

/* Starting a process of the pool by exec (a worker, a loader). */
struct launch_target {
	struct daemon *d;
	bool loader;                     /* --loader, else --worker */
	unsigned slot;                   /* its scratch directory's name: */
	unsigned *generation;            /* SCRATCH_PREFIX "SLOT-GEN" */
	char *scratch;
	size_t scratchlen;
	/* NULL: active/ and the daemon's index; else an update's candidate
	 * set, and its ampscan.idx as the index (loader_candidate_start) */
	const char *defs_dir;
	/* Engine clamav, active/: the set's identity when the definitions
	 * check has not named it yet (loader_early_start), else NULL */
	const uint8_t *source_id;
};
struct launch_out {
	pid_t pid;
	int sock, log_fd;
	uid_t uid;
	gid_t gid;
};
int launch_exec(const struct launch_target *t, const struct account *acct,
    bool as_root, struct launch_out *o, char *err, size_t errlen);
/* A scratch directory SCRATCH_PREFIX "SLOT-GEN" (name into out), ScratchDir
 * open; its fd, or -1 + err.  The loader's is slot 0. */
int launch_scratch_make(struct daemon *d, unsigned slot, unsigned *gen,
    char *out, size_t outlen, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Wipe a scratch directory (its process exited, or never started). */
void launch_scratch_wipe(struct daemon *d, char *name, size_t namelen);

/* Its stdout+stderr (struct pool_log) is readable: each line into
 * ampscansvc.log, named by pid (and to stderr in the foreground); at EOF
 * the watcher stops and the pipe is closed. */
void launch_log_on_read(struct daemon *d, pid_t pid, struct pool_log *lg);
/* It has exited, so all it wrote is in the pipe: read it, close it. */
void launch_log_drain(struct daemon *d, pid_t pid, struct pool_log *lg);

/* Its exit into exits.jsonl, the crash history; a failed write is logged
 * and queued (daemon_state_retry). */
void launch_exit_append(struct daemon *d, const struct event *ev);

/* The restart delay to use now (*delay_ms); *delay_ms doubles for the
 * next one, within RestartDelayMin and RestartDelayMax. */
uint64_t launch_next_delay(const struct config *c, uint64_t *delay_ms);

/* "daily:27012 main:62": the set a READY message names. */
void launch_defs_text(const struct wproto_ready *r, char *out, size_t len);

/* Send MEMQ on sock: 0 or -errno. */
int launch_mem_ask(struct daemon *d, int sock);
/* A MEM message into *m and *at (now); 0, or -1 when malformed. */
int launch_mem_got(struct buf *r, struct wproto_mem *m, int64_t *at);

#endif
