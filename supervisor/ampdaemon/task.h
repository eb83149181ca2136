/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tasks: work the daemon's loop must not do itself (verifying definitions,
 * building the index, useradd, FaultCommand) runs in a forked child.  The
 * loop watches the child (ev_child), collects what it writes on a pipe
 * (ev_io, capped at TASK_OUTPUT_MAX: more is dropped and noted) and kills
 * it with SIGKILL when it outlives its time limit (ev_timer).  When the
 * child has exited and its pipe is closed, done() is called once, from the
 * loop, with the wait status and the output.
 *
 * The child: signals reset (libev's handlers are not its own), every fd
 * but 0-2 and its pipe closed unless the caller's fn needs them (fds are
 * close-on-exec in the daemon; fn must not use the loop), PR_SET_PDEATHSIG
 * SIGKILL so it never outlives a killed daemon; then fn(arg, fd) runs and
 * its return value is the exit status (_exit: no atexit handlers, no
 * stdio flush of the parent's buffers).  Call task_start from the main
 * thread.
 */
#ifndef AMPSCAN_TASK_H
#define AMPSCAN_TASK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "strbuf.h"

#define TASK_OUTPUT_MAX (256 * 1024)
#define TASK_LINE_MAX 8192                /* a line handed to line() */

struct task;
typedef int task_fn(void *arg, int out_fd);

struct task {
	/* set by the caller before task_start */
	const char *name;                 /* for logs: "verify definitions" */
	void (*done)(struct task *t, int wstatus, const char *out, size_t len);
	void *data;                       /* the caller's */
	void *data2;                      /* the caller's, a second */
	/* optional: each line of output as it arrives (without its '\n'; a
	 * last line without one comes just before done) */
	void (*line)(struct task *t, char *line);
	/* optional: an fd (> 2) the child gets as its stdin, else /dev/null */
	int child_in;
	/* private */
	struct ev_loop *loop;
	ev_child child;
	ev_io io;
	ev_timer timer;
	pid_t pid;
	int fd;
	bool exited, timed_out;
	int wstatus;
	struct strbuf out;
	size_t line_off;                  /* out: delivered to line() up to here */
};

/*
 * Fork and run fn(arg, out_fd) in the child; returns 0, or -1 with errno
 * (nothing started, done() will not be called).  timeout_ms 0: no limit.
 * t must stay valid until done() has run.
 */
int task_start(struct ev_loop *loop, struct task *t, task_fn *fn, void *arg,
    uint64_t timeout_ms);

bool task_is_running(const struct task *t);
/* Whether the last run was killed for outliving its time limit. */
bool task_timed_out(const struct task *t);

/* SIGKILL the child, if running; done() still comes, from the loop. */
void task_kill(struct task *t);

/* Release what t holds (the daemon is stopping): SIGKILL a running child
 * (it is not waited for; done() will not be called), close the pipe, free
 * the output.  t may be started again afterwards. */
void task_release(struct task *t);

/* In a child: write all of s to fd (best effort). */
void task_write(int fd, const char *s);

/*
 * Children report in records: one a line, fields separated by tabs.
 * task_field: s as one field (tabs and line breaks become spaces),
 * truncated to fit dst.  task_fields: split line in place into at most
 * max fields; the missing ones point at "".  Returns how many there were.
 * task_lines: call fn for each non-empty line of out (a copy is split).
 */
void task_field(char *dst, size_t len, const char *s);
size_t task_fields(char *line, char **f, size_t max);
void task_lines(const char *out, size_t len,
    void (*fn)(void *arg, char *line), void *arg);

#endif
