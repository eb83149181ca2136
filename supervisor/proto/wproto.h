/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker protocol: messages between ampdaemon and an ampscansvc worker
 * over a SOCK_SEQPACKET socketpair (one message per packet; an open file
 * descriptor rides along with SCAN as SCM_RIGHTS).
 *
 * Every message: a 24-byte header, then its body.
 *   u32 magic "AMPW"   u16 type   u16 flags   u32 body length   u32 reserved
 *   u64 id             (present in every message; 0 where unused)
 * All integers little-endian, encoded and decoded field by field through a
 * bounded reader (no struct overlays).  A message longer than
 * WPROTO_MAX_MSG, a short one, an unknown type or a field past the end is
 * malformed: the receiver drops the peer (the supervisor kills the worker).
 *
 * READY   worker -> supervisor, once, after the definitions are loaded:
 *         u32 protocol version, str worker version, u32 ndbs,
 *         ndbs x (str name, u32 version, str kind),
 *         u32 ntypes, ntypes x (str type, u64 loaded, u64 not_loaded),
 *         u64 huge_bytes, u32 collapse_ms (0: since protocol 6 a loader
 *         collapses after READY and reports it in COLLAPSED),
 *         str engine (the scan library's version as it reports itself,
 *         cl_retver(): "1.4.6"; empty for the builtin engine; clamd's
 *         VERSION reply names it)
 * SCAN    supervisor -> worker, with one fd: u64 id, u32 flags, str name
 *         (the path shown in results; the worker never opens it)
 * RESULT  worker -> supervisor: u64 id, u32 verdict, u32 nnames,
 *         nnames x (str signature, str path inside the file), str note,
 *         u32 rflags (WPROTO_RES_*), u64 read_bytes
 * MEMQ    supervisor -> worker or loader: no body; answered by MEM
 * MEM     worker or loader -> supervisor: u32 err (0, or the errno of
 *         reading its /proc/self/smaps_rollup), u64 rss, u64 pss, u64 priv
 *         (bytes; procmem.h).  Sent for a MEMQ, and by a worker right
 *         before the RESULT of a SCAN flagged WPROTO_SCAN_MEM (the id of
 *         the SCAN or MEMQ it answers).
 * COLLAPSE  supervisor -> loader, no body: collapse the engine into
 *         transparent huge pages now, in bounded steps between requests
 *         (docs/loader.md, "Huge pages"); answered by COLLAPSED when done
 * COLLAPSED loader -> supervisor: u32 state (WPROTO_HP_*), u32 err (an
 *         errno, or 0), u64 huge_bytes, u64 eligible_bytes, u32
 *         chunks_failed, u32 collapse_ms (the steps' own time), str line
 *         (what the loader logged, for ampdaemon's log)
 * str = u16 length + bytes (no NUL), at most WPROTO_STR_MAX.
 */
#ifndef AMPSCAN_WPROTO_H
#define AMPSCAN_WPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define WPROTO_VERSION 6
#define WPROTO_MAGIC 0x57504d41u        /* "AMPW" little-endian */
#define WPROTO_HDR 24
#define WPROTO_MAX_MSG 65536
#define WPROTO_STR_MAX 4096
#define WPROTO_MAX_NAMES 64
#define WPROTO_MAX_DBS 64
#define WPROTO_MAX_TYPES 16
/*
 * A worker's exit status when the definitions it was loading changed
 * under it (an activation renaming files into active/): not a failure of
 * the set; ampdaemon starts it again once the activation is over.
 */
#define WPROTO_EXIT_DEFS_CHANGED 75

/*
 * A loader's exit status when the kernel has no Landlock (not built, or
 * not in lsm=): a loader has no other sandbox, so it exits before it
 * loads anything and ampdaemon launches that pool's workers by exec
 * (docs/loader.md, "Without Landlock").  Not a failure of the set.
 */
#define WPROTO_EXIT_NO_LANDLOCK 76

enum wproto_type {
	WPROTO_READY = 1,
	WPROTO_SCAN = 2,
	WPROTO_RESULT = 3,
	/* the loader's socket (docs/loader.md): ampdaemon asks for a worker,
	 * the worker's socket, log pipe and scratch directory attached; the
	 * loader answers FORKED: an i32, the worker's pid or -errno */
	WPROTO_FORK = 4,
	WPROTO_FORKED = 5,
	/* memory: the supervisor asks, a worker or loader reports its own */
	WPROTO_MEMQ = 6,
	WPROTO_MEM = 7,
	/* huge pages after READY: the supervisor asks, the loader reports */
	WPROTO_COLLAPSE = 8,
	WPROTO_COLLAPSED = 9,
#ifdef AMPSCAN_TEST_HOOKS
	WPROTO_PROBE = 100,   /* test builds: try forbidden syscalls, report */
#endif
};

#define WPROTO_SCAN_ALLMATCH 0x1
/* SCAN: send MEM (the memory after this scan) right before the RESULT */
#define WPROTO_SCAN_MEM 0x2

enum wproto_verdict {
	WPROTO_CLEAN = 0,
	WPROTO_FOUND = 1,
	WPROTO_ERROR = 2,
};

struct wproto_db {
	char name[64];
	uint32_t version;
	char kind[8];
};

struct wproto_typecount {
	char type[16];
	uint64_t loaded, not_loaded;
};

struct wproto_ready {
	uint32_t proto;
	char version[64];
	uint32_t ndbs;
	struct wproto_db dbs[WPROTO_MAX_DBS];
	uint32_t ntypes;
	struct wproto_typecount types[WPROTO_MAX_TYPES];
	uint64_t huge_bytes;             /* a loader's: in huge pages */
	uint32_t collapse_ms;            /* ... collapsing them took */
	char engine[64];                 /* libclamav's version, "" builtin */
};

struct wproto_scan {
	uint64_t id;
	uint32_t flags;
	char name[WPROTO_STR_MAX + 1];
};

struct wproto_match {
	char sig[256];
	char path[WPROTO_STR_MAX + 1];
};

struct wproto_result {
	uint64_t id;
	uint32_t verdict;
	uint32_t nnames;
	struct wproto_match names[WPROTO_MAX_NAMES];
	char note[WPROTO_STR_MAX + 1];   /* error reason, limits, encryption */
	uint32_t rflags;                 /* WPROTO_RES_* */
	uint64_t read_bytes;             /* with WPROTO_RES_WHOLE */
};

struct wproto_mem {
	uint32_t err;                    /* 0, or why it could not be read */
	uint64_t rss, pss, priv;         /* bytes */
};

/* COLLAPSED's state: what the loader could do (hugepages.h's, in order) */
enum wproto_hp_state {
	WPROTO_HP_DONE = 0,              /* tried: the figures say how far */
	WPROTO_HP_NEVER = 1,             /* THP "never" */
	WPROTO_HP_UNAVAILABLE = 2,       /* no THP or no MADV_COLLAPSE */
	WPROTO_HP_ERROR = 3,             /* its mappings could not be read */
	WPROTO_HP_OFF = 4,               /* LoaderHugePages no */
	WPROTO_HP_MAX = 4,
};

struct wproto_collapsed {
	uint32_t state;                  /* enum wproto_hp_state */
	uint32_t err;
	uint64_t huge_bytes, eligible_bytes;
	uint32_t chunks_failed;
	uint32_t collapse_ms;
	char line[256];
};

/*
 * rflags: the worker read the whole file, read_bytes bytes, the size it
 * had at the scan (builtin: the bytes its reader read; clamav: the size,
 * when libclamav hit no limit and every read succeeded).  Without it the
 * clean-file cache never keeps the verdict.
 */
#define WPROTO_RES_WHOLE 0x1u

/*
 * A RESULT's note starting with this: a scan limit was hit (clamav: the
 * limit's name follows, clamd's: MaxFileSize, MaxScanSize, MaxRecursion,
 * MaxFiles, MaxScanTime; builtin: the path inside the file, then the
 * limit).  ampdaemon counts these (ampscan_limits_exceeded_total).
 */
#define WPROTO_NOTE_LIMIT "limit exceeded: "


/* One message being built: a buf (buf.h) over storage of the largest size. */
struct wbuf {
	struct buf b;
	uint8_t data[WPROTO_MAX_MSG];
};

/* Start a message: the header, its length patched in by wproto_end(). */
void wproto_begin(struct wbuf *w, enum wproto_type type, uint64_t id);
/* A string: u16 length (at most WPROTO_STR_MAX, longer is cut) and bytes. */
void wproto_put_str(struct buf *b, const char *s);
/* Patch the length into the header; false if the message overflowed. */
bool wproto_end(struct wbuf *w);

/*
 * Check a received packet's header; fills type/id and r, a view (buf.h)
 * on the body, for the buf_get_* getters and the decoders below.
 */
int wproto_open(const uint8_t *msg, size_t len, uint16_t *type, uint64_t *id,
    struct buf *r);
/* Copy a string into out (size outlen, NUL-terminated); BUF_EBAD if too long. */
void wproto_get_str(struct buf *r, char *out, size_t outlen);

int wproto_encode_ready(struct wbuf *b, const struct wproto_ready *m);
int wproto_decode_ready(struct buf *r, struct wproto_ready *m);
int wproto_encode_scan(struct wbuf *b, const struct wproto_scan *m);
int wproto_decode_scan(struct buf *r, uint64_t id, struct wproto_scan *m);
int wproto_encode_result(struct wbuf *b, const struct wproto_result *m);
int wproto_decode_result(struct buf *r, uint64_t id,
    struct wproto_result *m);

int wproto_encode_memq(struct wbuf *b, uint64_t id);
int wproto_encode_mem(struct wbuf *b, uint64_t id, const struct wproto_mem *m);
int wproto_decode_mem(struct buf *r, struct wproto_mem *m);

int wproto_encode_collapse(struct wbuf *b, uint64_t id);
int wproto_encode_collapsed(struct wbuf *b, uint64_t id,
    const struct wproto_collapsed *m);
int wproto_decode_collapsed(struct buf *r, struct wproto_collapsed *m);

/*
 * Send one message (with fd >= 0 attached as SCM_RIGHTS); 0 or -errno.
 * Receive one: returns its length, 0 on EOF, -errno on error, -EMSGSIZE for
 * a truncated packet; *fd gets an attached descriptor or -1 (extra
 * descriptors are closed).
 */
int wproto_send(int sock, const struct wbuf *b, int fd);
ssize_t wproto_recv(int sock, uint8_t *buf, size_t cap, int *fd);

/* The same with up to WPROTO_MAX_FDS descriptors (the loader's FORK):
 * the receiver gets them in order in fds[0 .. *nfds); more are closed. */
#define WPROTO_MAX_FDS 4
int wproto_send_fds(int sock, const struct wbuf *b, const int *fds, size_t nfds);
ssize_t wproto_recv_fds(int sock, uint8_t *buf, size_t cap, int *fds,
    size_t *nfds);
/* FORKED: the worker's pid (> 0) or -errno. */
int wproto_encode_forked(struct wbuf *b, uint64_t id, int32_t pid);
int wproto_decode_forked(struct buf *r, int32_t *pid);

#endif
