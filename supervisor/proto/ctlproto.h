/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol: ampctl (client) <-> ampdaemon, over the
 * SOCK_STREAM unix socket ControlSocket (root only; the daemon checks the
 * peer with SO_PEERCRED).
 *
 * A frame:  u32 length (big-endian, payload bytes only, <= CTL_FRAME_MAX)
 *           u8  type
 *           length bytes of payload
 *
 * Client -> daemon: exactly one CTL_REQUEST frame, then nothing; the
 *   client keeps its end open until it has the exit status, so end of
 *   file from a client means it has gone.  The payload is the command's
 *   argv as NUL-terminated strings back to back ("status\0--json\0"):
 *   1 to CTL_ARGV_MAX strings, the first (the command name) non-empty,
 *   the others may be empty; the payload ends with a NUL.
 * Daemon -> client: any number of CTL_OUT (bytes for stdout) and CTL_ERR
 *   (bytes for stderr) frames, then one CTL_EXIT whose payload is one
 *   byte, the exit status (CTL_STATUS_OK, _FINDINGS, _ERROR); then the
 *   daemon closes.  A connection that ends before CTL_EXIT is an error.
 *
 * Nothing here trusts a length from the peer to size an allocation: the
 * decoder grows its buffer with the bytes that actually arrived, never
 * past CTL_FRAME_MAX, and refuses a larger length as soon as the header
 * is in.
 */
#ifndef AMPSCAN_CTLPROTO_H
#define AMPSCAN_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "strbuf.h"

#define CTL_FRAME_MAX 65536     /* payload bytes in one frame */
#define CTL_HDR 5               /* u32 length + u8 type */
#define CTL_ARGV_MAX 256        /* strings in a request */
#define CTL_READ_CHUNK 16384    /* bytes ctl_read_frame() reads at once */

/* Frame types (the type byte is an ASCII letter). */
#define CTL_REQUEST 'Q'         /* client -> daemon: argv */
#define CTL_OUT 'O'             /* daemon -> client: for stdout */
#define CTL_ERR 'E'             /* daemon -> client: for stderr */
#define CTL_EXIT 'X'            /* daemon -> client: 1 byte, exit status */

/* The exit statuses CTL_EXIT carries (ampctl's own). */
#define CTL_STATUS_OK 0
#define CTL_STATUS_FINDINGS 1   /* findings, or active faults */
#define CTL_STATUS_ERROR 2

enum ctl_error {
	CTL_OK = 0,
	CTL_ETYPE = -1,         /* a frame type other than Q, O, E, X */
	CTL_ETOOBIG = -2,       /* a length over CTL_FRAME_MAX */
	CTL_EREQUEST = -3,      /* request payload: empty, no final NUL, or
	                         * an empty command name */
	CTL_EARGC = -4,         /* more strings than CTL_ARGV_MAX (or argv) */
	CTL_EEXIT = -5,         /* exit payload not one byte of 0, 1 or 2 */
	CTL_ENOMEM = -6,        /* out of memory, or the strbuf's cap */
	CTL_EIO = -7,           /* read or write failed (errno kept) */
	CTL_EEOF = -8,          /* end of file between frames */
	CTL_ETRUNC = -9,        /* end of file inside a frame */
};

/* A short text for a ctl_error ("unknown frame type", ...). */
const char *ctl_strerror(int rc);

/*
 * The incremental decoder, for blocking and non-blocking readers alike.
 * Fields are private.  At most CTL_FRAME_MAX bytes are allocated (the
 * header lives in the struct), and only as payload bytes arrive.
 */
struct ctl_decoder {
	uint8_t hdr[CTL_HDR];
	size_t hdr_len;         /* header bytes held */
	struct buf payload;     /* grown as bytes arrive, to CTL_FRAME_MAX */
	size_t want;            /* payload length (once hdr_len == CTL_HDR) */
	bool taken;             /* the frame was returned by _next */
	int error;              /* sticky ctl_error */
};

/* An empty decoder; allocates nothing.  Pair with ctl_decoder_free(). */
void ctl_decoder_init(struct ctl_decoder *d);
/* Free the buffer; the decoder is then as after init. */
void ctl_decoder_free(struct ctl_decoder *d);

/*
 * Give the decoder up to len bytes.  It takes bytes only up to the end of
 * the current frame and none while a complete frame waits for
 * ctl_decoder_next(), nor after an error; it returns how many it took.
 * Call ctl_decoder_next() after every feed and feed the rest afterwards,
 * or read no more than ctl_decoder_want() bytes at a time so that
 * nothing is ever left over.  A bad header or an allocation failure is
 * reported by the next ctl_decoder_next().
 */
size_t ctl_decoder_feed(struct ctl_decoder *d, const void *p, size_t len);

/*
 * How many more bytes complete the current header or frame (> 0, unless
 * a complete frame or an error waits for ctl_decoder_next()).
 */
size_t ctl_decoder_want(const struct ctl_decoder *d);

/* True when no byte of a next frame has arrived (a clean place to EOF). */
bool ctl_decoder_is_idle(const struct ctl_decoder *d);

/*
 * The next complete frame: 1 and *type, *payload, *len set; 0 when more
 * bytes are needed; a negative ctl_error (CTL_ETYPE, CTL_ETOOBIG,
 * CTL_ENOMEM) once the stream is bad, and from then on: drop the peer.
 * *payload points into the decoder (never NULL, even for len 0) and
 * stays valid until the next ctl_decoder_feed/next/free on it.
 * Outputs are cleared on entry.
 */
int ctl_decoder_next(struct ctl_decoder *d, uint8_t *type,
    const uint8_t **payload, size_t *len);

/*
 * Append one frame to out: 0, CTL_ETYPE, CTL_ETOOBIG, or CTL_ENOMEM when
 * out's cap or memory ran out (out then holds what it held before, and
 * its failed flag is set).
 */
int ctl_frame_encode(struct strbuf *out, uint8_t type, const void *p,
    size_t len);

/*
 * Append a CTL_REQUEST frame carrying argv[0..argc-1] to out: 0,
 * CTL_EREQUEST (argc < 1, an argv[i] NULL or argv[0] empty), CTL_EARGC
 * (argc > CTL_ARGV_MAX), CTL_ETOOBIG (the strings with their NULs exceed
 * CTL_FRAME_MAX), or CTL_ENOMEM as ctl_frame_encode().
 */
int ctl_request_encode(struct strbuf *out, int argc, char *const argv[]);

/*
 * Split a request payload into argv.  p must be the caller's own copy of
 * the payload (the decoder reuses its buffer), writable or not: the
 * argv[i] point into it, nothing is copied or allocated, so p must
 * outlive argv.  argv has room for max pointers and is NULL-terminated,
 * so it takes at most max - 1 strings (pass CTL_ARGV_MAX + 1).
 * Returns 0 and *argc, CTL_EREQUEST or CTL_EARGC; on error *argc is 0
 * and argv[0] NULL (when max > 0).
 */
int ctl_request_decode(const uint8_t *p, size_t len, char **argv,
    size_t max, size_t *argc);

/* The status a CTL_EXIT payload carries: 0 and *status, or CTL_EEXIT. */
int ctl_exit_decode(const uint8_t *p, size_t len, int *status);

/*
 * Blocking helpers (the client).  ctl_write_all writes all len bytes
 * (retrying EINTR, waiting out EAGAIN): 0 or CTL_EIO with errno set.
 * ctl_read_frame reads until d yields a frame (never reading past it):
 * 0 with the frame as ctl_decoder_next() gives it, CTL_EEOF at end of
 * file between frames, CTL_ETRUNC inside one, CTL_EIO (errno set), or a
 * decoder error.
 */
int ctl_write_all(int fd, const void *buf, size_t len);
int ctl_read_frame(int fd, struct ctl_decoder *d, uint8_t *type,
    const uint8_t **payload, size_t *len);

#endif
