/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A listening unix socket (and, for the scan socket, TCP listeners beside
 * it) and their connections, for the control socket (ctl.c) and the scan
 * socket (scansock.c): accepting (out of descriptors, a pause rather than
 * a spin on a readable backlog), the cap (shared by all the set's
 * listeners), the list, writing each connection's output, lingering after
 * a refusal, and freeing closed connections once nothing refers to them.
 * The protocol reads, times out and answers.
 */
#ifndef AMPSCAN_CONNSET_H
#define AMPSCAN_CONNSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ev.h>

#include "strbuf.h"

struct daemon;
struct conn;

#define CONNSET_LISTEN_MAX 9          /* the unix socket and 8 TCP addresses */
/* a TCP peer as text: "[v6 address]:port" */
#define CONNSET_PEER_MAX (INET6_ADDRSTRLEN + 8)
#define CONNSET_LINGER_BURST 4        /* reads of 64 KiB per wake-up, lingering */

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
	/* the listener's transport: a TCP peer has no uid (SO_PEERCRED); it
	 * is known by its address (peer_addr) and shown as addr:port (peer) */
	bool tcp;
	char peer_addr[INET6_ADDRSTRLEN];
	char peer[CONNSET_PEER_MAX];
	/* conn_linger: reading and dropping until the client stops */
	bool lingering, wr_shut;
	size_t linger_left;
	struct conn *next;
};

/* A listening socket of a set. */
struct connset_listener {
	int fd;
	ev_io io;
	bool tcp;
};

struct connset {
	struct daemon *d;
	const struct connset_ops *ops;
	struct connset_listener lis[CONNSET_LISTEN_MAX];   /* lis[0]: path */
	size_t nlis;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
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
/*
 * Listen on TCP too, on addr (a numeric IPv4 or IPv6 address; an IPv6
 * socket takes IPv6 only) and port, into the set opened by connset_open:
 * its connections are the set's, under its cap.  0, or -1 with err set,
 * naming the address and port ("127.0.0.1:3310: bind: Address already in
 * use"), and nothing left behind.
 */
int connset_listen_tcp(struct connset *s, const char *addr, unsigned port,
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
/*
 * The protocol is done with c, but the client may still be sending (a
 * stream refused at its limit): a close now would make its writes fail
 * (EPIPE, ECONNRESET) before it reads its reply.  So: the replies waiting
 * (and those of work still in flight) are written, then the write side is
 * shut (the client reads its reply, then an end), and what the client
 * still sends is read and dropped, CONNSET_LINGER_BURST reads a wake-up,
 * until it closes, or max_bytes were dropped, or max_s passed; then c is
 * closed.  Replaces conn.rio's and conn.timer's callbacks: the protocol
 * must not restart its own reading or timer on c while c->lingering.
 */
void conn_linger(struct conn *c, size_t max_bytes, double max_s);
/* Write what the socket takes, the rest when it is writable; close c on an
 * error, or once all is written when closing and busy is 0. */
void conn_flush(struct conn *c);
/* Seconds a client may take none of its waiting output before it is reset
 * (clamd drops such a client after SendBufTimeout, 500 ms by default). */
#define CONNSET_STALL_TIMEOUT 30.0

/* busy--: a piece of work that referred to c is over (a dead c is reaped). */
void conn_release(struct conn *c);

#endif
