/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The clean-file cache: a file a worker found clean is not scanned again
 * while ampdaemon holds a read lease on it (F_SETLEASE F_RDLCK) and its
 * identity is unchanged.  The kernel grants a read lease only while nobody
 * has the file open for writing (a writable shared mapping included), and
 * breaks it, signalling ampdaemon, before anyone opens it for writing or
 * truncates it: a cached verdict can never outlive a change, whatever the
 * timestamps say (a write within one timer tick keeps mtime).
 *
 * A request that may be cached takes a lease before a worker reads the
 * file (cc_acquire: a pending slot); the verdict is kept (cc_settle) only
 * when the worker read exactly the file's size, found it clean with
 * nothing noted, and the lease never broke meanwhile.  What cannot be
 * leased (someone holds it writable, a filesystem without leases, no
 * CAP_LEASE) is never cached.  Bounded: CC_ENTRIES_MAX slots (pending and
 * cached; a full table evicts the oldest cached entry), entries older than
 * CC_MAX_AGE_MS or whose file was unlinked are dropped by a sweep every
 * CC_SWEEP_MS, so a deleted file is not kept on disk and umount is not
 * blocked for long.
 */
#ifndef AMPSCAN_CLEANCACHE_H
#define AMPSCAN_CLEANCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#define CC_ENTRIES_MAX 1024              /* lease descriptors held at most */
#define CC_SWEEP_MS 30000                /* unlinked / old / broken entries */
#define CC_MAX_AGE_MS (10 * 60 * 1000)   /* an entry lives at most this long */

/* A file's identity: device, inode, size, mtime and ctime (ns). */
struct clean_key {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

struct cc_entry;

/* Why a verdict was not cached, counted for status and metrics. */
struct cc_counters {
	uint64_t hits, misses;
	uint64_t no_lease;      /* the lease was refused (writer, fs, CAP_LEASE) */
	uint64_t short_read;    /* the worker did not confirm the whole file */
	uint64_t broke;         /* the lease broke before the verdict came */
	uint64_t full;          /* every slot pending */
	uint64_t dropped;       /* entries dropped: break, unlink, age, change */
};

struct cleancache {
	struct cc_entry *e;              /* cap slots, NULL until first use */
	unsigned cap, cached, pending;
	uint32_t epoch;                  /* bumped by cc_clear */
	int sfd;                         /* signalfd of the break signals */
	struct ev_loop *loop;
	ev_io sio;
	ev_timer sweep;
	int64_t sweep_ms, max_age_ms;
	struct cc_counters n;
	char lease_error[160];           /* the last refusal, "" if none */
};

/* cap 0: nothing is ever cached.  No descriptors are taken until used. */
void cc_init(struct cleancache *c, unsigned cap);
/* Watch the break signals and run the sweep in loop (NULL: no watcher;
 * breaks are still seen at each lookup).  0, or -1 (nothing is cached). */
int cc_attach(struct cleancache *c, struct ev_loop *loop);
/* The identity of an open regular file still linked; false otherwise. */
bool cc_key_of(int fd, struct clean_key *k);
/* Whether k (of an open file) is cached with its lease intact. */
bool cc_lookup(struct cleancache *c, const struct clean_key *k);
/* Lease the file open as fd (k its identity) before a worker reads it:
 * a pending slot, or -1 (not cacheable; counted). */
int cc_acquire(struct cleancache *c, int fd, const struct clean_key *k);
/* The verdict of the pending slot: keep it only if clean, read whole
 * (read_bytes == the key's size) and the lease held throughout. */
void cc_settle(struct cleancache *c, int slot, bool clean, bool whole,
    uint64_t read_bytes);
/* A lease broke (fd from the signal): release it at once. */
void cc_broken_fd(struct cleancache *c, int fd);
/* Drop unlinked, old, changed and broken entries (now: monotonic ms). */
void cc_sweep(struct cleancache *c, int64_t now_ms);
/* New definitions: every cached entry goes, pending ones are not kept. */
void cc_clear(struct cleancache *c);
/* Release everything (pending slots too). */
void cc_free(struct cleancache *c);

#endif
