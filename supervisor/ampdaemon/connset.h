/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A listening unix socket and its connections, for the control socket
 * (ctl.c) and the scan socket (scansock.c): accepting (out of descriptors,
 * a pause rather than a spin on a readable backlog), the cap, the list,
 * writing each connection's output, and freeing closed connections once
 * nothing refers to them.  The protocol reads, times out and answers.
 */
#ifndef AMPSCAN_CONNSET_H
#define AMPSCAN_CONNSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

#include <ev.h>

#include "strbuf.h"

struct daemon;
struct conn;

struct connset_ops {
	const char *name;             /* in the log: "control", "scan socket" */
	size_t conn_size;             /* the protocol's struct, a struct conn first */
	size_t conns_max;             /* at once; more are closed unanswered */
	size_t out_max;               /* output waiting for a slow client */
	double timeout;               /* s: conn.timer, started at accept */
	/* conn.rio's and conn.timer's callbacks (w->data: the connection) */
	void (*on_read)(struct ev_loop *loop, ev_io *w, int revents);
	void (*on_timeout)(struct ev_loop *loop, ev_timer *w, int revents);
	void (*accepted)(struct conn *c);     /* listed, reading, timed; may close c */
	/* Free what the protocol's part owns (not c): from the reaper, or from
	 * connset_close, where c may still be busy. */
	void (*release)(struct conn *c);
	/* Optional (NULL: not used).  c was throttled (the protocol set it
	 * when out grew past its high-water mark) and out is now at most
	 * out_low bytes, or c was closed: resume what paused.  Called from
	 * conn_flush and conn_close; it must not flush or close c itself. */
	void (*unthrottled)(struct conn *c);
	size_t out_low;
	double stall_timeout;         /* s; 0: CONNSET_STALL_TIMEOUT */
};

struct conn {
	struct connset *set;
	int fd;                       /* -1 once closed */
	ev_io rio, wio;               /* rio the protocol's to stop and start */
	ev_timer timer;               /* the protocol's; stopped by conn_close */
	/* output waits and none of it was taken for CONNSET_STALL_TIMEOUT:
	 * the client stopped reading; it is reset (a paused walk, its
	 * descriptors and its share of the budgets are let go) */
	ev_timer stall;
	struct strbuf out;            /* written by conn_flush */
	bool closing;                 /* close once out is written and busy is 0 */
	bool dead;                    /* closed; freed once busy is 0 */
	unsigned busy;                /* work in flight that refers to c */
	bool throttled;               /* the protocol waits for out to drain */
	/* bytes of the client's input the protocol left in the socket's
	 * queue: conn_close reads them first (the client sees a clean end),
	 * conn_reset does not (the client's reads fail with ECONNRESET) */
	size_t held;
	struct conn *next;
};

struct connset {
	struct daemon *d;
	const struct connset_ops *ops;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ev_io io;
	ev_timer resume;              /* accepting again after EMFILE */
	/* frees closed connections at every turn of the loop, before it
	 * waits: even a busy loop runs it (an ev_idle would wait for a quiet
	 * moment that may never come), and a quiet one does not keep them
	 * until something else wakes it (an ev_check runs after the wait) */
	ev_prepare reaper;
	struct conn *conns;
	size_t nconns;
	bool starved, full;           /* EMFILE, conns_max: said in the log */
};

/*
 * Listen on path (its directory made; a stale socket file replaced, a live
 * one refused) with mode, owner 0 and group gid (as root), and accept.
 * 0, or -1 with err set and nothing left behind.
 */
int connset_open(struct connset *s, struct daemon *d,
    const struct connset_ops *ops, const char *path, mode_t mode, gid_t gid,
    int backlog, char *err, size_t errlen);
/* Take no more connections (the daemon is stopping); clients stay served. */
void connset_stop_accepting(struct connset *s);
/* Close the socket, remove its file, close and free every connection. */
void connset_close(struct connset *s);

/* Stop watching c and close it; it is freed from the loop once busy is 0,
 * so callers up the stack may still look at c->dead. */
void conn_close(struct conn *c);
/*
 * Close c so that the client sees an error, not a clean end, after what
 * it already received: SO_LINGER 0 (a reset on TCP), and c->held bytes of
 * its input left unread (on a unix socket, the peer's reads then fail
 * with ECONNRESET).  For a client whose replies could not all be kept.
 */
void conn_reset(struct conn *c);
/* Write what the socket takes, the rest when it is writable; close c on an
 * error, or once all is written when closing and busy is 0. */
void conn_flush(struct conn *c);
/* Seconds a client may take none of its waiting output before it is reset
 * (clamd drops such a client after SendBufTimeout, 500 ms by default). */
#define CONNSET_STALL_TIMEOUT 30.0

/* busy--: a piece of work that referred to c is over (a dead c is reaped). */
void conn_release(struct conn *c);

#endif
