/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control protocol: framing, the incremental decoder, requests. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlproto.h"

const char *
ctl_strerror(int rc)
{
	switch (rc) {
	case CTL_OK: return "success";
	case CTL_ETYPE: return "unknown frame type";
	case CTL_ETOOBIG: return "frame longer than 65536 bytes";
	case CTL_EREQUEST: return "malformed request";
	case CTL_EARGC: return "too many arguments";
	case CTL_EEXIT: return "malformed exit status";
	case CTL_ENOMEM: return "out of memory";
	case CTL_EIO: return "input/output error";
	case CTL_EEOF: return "connection closed";
	case CTL_ETRUNC: return "connection closed inside a frame";
	default: return "unknown error";
	}
}

static bool
ctl_type_is_valid(uint8_t t)
{
	return t == CTL_REQUEST || t == CTL_OUT || t == CTL_ERR ||
	    t == CTL_EXIT;
}

static void
ctl_header_put(uint8_t *h, uint32_t len, uint8_t type)
{
	buf_store_be32(h, len);
	h[4] = type;
}

void
ctl_decoder_init(struct ctl_decoder *d)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->payload, CTL_FRAME_MAX);
}

void
ctl_decoder_free(struct ctl_decoder *d)
{
	buf_free(&d->payload);
	ctl_decoder_init(d);
}

/* Forget the frame just returned; keep the buffer for the next one. */
static void
ctl_decoder_reset(struct ctl_decoder *d)
{
	d->hdr_len = 0;
	buf_reset(&d->payload);
	d->want = 0;
	d->taken = false;
}

/* The header is in: check it before a single payload byte is kept. */
static int
ctl_decoder_header(struct ctl_decoder *d)
{
	const uint8_t *h = d->hdr;
	uint32_t n = buf_load_be32(h);

	if (!ctl_type_is_valid(h[4]))
		return CTL_ETYPE;
	if (n > CTL_FRAME_MAX)
		return CTL_ETOOBIG;
	d->want = n;
	return 0;
}

size_t
ctl_decoder_feed(struct ctl_decoder *d, const void *p, size_t len)
{
	const uint8_t *in = p;
	size_t used = 0, n;

	if (d->taken)
		ctl_decoder_reset(d);
	while (used < len && d->error == 0) {
		if (d->hdr_len < CTL_HDR) {
			n = CTL_HDR - d->hdr_len;
			n = n < len - used ? n : len - used;
			memcpy(d->hdr + d->hdr_len, in + used, n);
			d->hdr_len += n;
			used += n;
			if (d->hdr_len == CTL_HDR)
				d->error = ctl_decoder_header(d);
			continue;
		}
		if (d->payload.len == d->want)
			break;          /* a complete frame waits for _next */
		n = d->want - d->payload.len;
		n = n < len - used ? n : len - used;
		if (buf_put(&d->payload, in + used, n) != BUF_OK) {
			d->error = CTL_ENOMEM;
			break;
		}
		used += n;
	}
	return used;
}

size_t
ctl_decoder_want(const struct ctl_decoder *d)
{
	if (d->error != 0)
		return 0;
	if (d->taken)
		return CTL_HDR;
	if (d->hdr_len < CTL_HDR)
		return CTL_HDR - d->hdr_len;
	return d->want - d->payload.len;
}

bool
ctl_decoder_is_idle(const struct ctl_decoder *d)
{
	return d->error == 0 && (d->taken || d->hdr_len == 0);
}

int
ctl_decoder_next(struct ctl_decoder *d, uint8_t *type,
    const uint8_t **payload, size_t *len)
{
	*type = 0;
	*payload = NULL;
	*len = 0;
	if (d->taken)
		ctl_decoder_reset(d);
	if (d->error != 0)
		return d->error;
	if (d->hdr_len < CTL_HDR || d->payload.len < d->want)
		return 0;
	*type = d->hdr[4];
	/* an empty payload still gets a valid pointer (memcpy's contract) */
	*payload = d->payload.d != NULL ? d->payload.d : d->hdr;
	*len = d->payload.len;
	d->taken = true;
	return 1;
}

/* Undo a partial append: out holds what it held, failed stays set. */
static int
ctl_strbuf_undo(struct strbuf *out, size_t old)
{
	out->len = old;
	if (out->buf != NULL)
		out->buf[old] = '\0';
	return CTL_ENOMEM;
}

int
ctl_frame_encode(struct strbuf *out, uint8_t type, const void *p,
    size_t len)
{
	uint8_t h[CTL_HDR];
	size_t old = out->len;

	if (!ctl_type_is_valid(type))
		return CTL_ETYPE;
	if (len > CTL_FRAME_MAX)
		return CTL_ETOOBIG;
	if (out->failed)
		return CTL_ENOMEM;
	ctl_header_put(h, (uint32_t)len, type);
	strbuf_append(out, h, sizeof(h));
	if (len > 0)
		strbuf_append(out, p, len);
	return out->failed ? ctl_strbuf_undo(out, old) : 0;
}

int
ctl_request_encode(struct strbuf *out, int argc, char *const argv[])
{
	uint8_t h[CTL_HDR];
	size_t old = out->len, total = 0, n;
	int i;

	if (argc < 1 || argv == NULL)
		return CTL_EREQUEST;
	if (argc > CTL_ARGV_MAX)
		return CTL_EARGC;
	for (i = 0; i < argc; i++) {
		if (argv[i] == NULL)
			return CTL_EREQUEST;
		/* total + n + 1 <= CTL_FRAME_MAX, without overflow */
		n = strnlen(argv[i], CTL_FRAME_MAX);
		if (n >= CTL_FRAME_MAX - total)
			return CTL_ETOOBIG;
		total += n + 1;
	}
	if (argv[0][0] == '\0')
		return CTL_EREQUEST;
	if (out->failed)
		return CTL_ENOMEM;
	ctl_header_put(h, (uint32_t)total, CTL_REQUEST);
	strbuf_append(out, h, sizeof(h));
	for (i = 0; i < argc; i++)
		strbuf_append(out, argv[i], strlen(argv[i]) + 1);
	return out->failed ? ctl_strbuf_undo(out, old) : 0;
}

int
ctl_request_decode(const uint8_t *p, size_t len, char **argv, size_t max,
    size_t *argc)
{
	const uint8_t *nul;
	size_t off = 0, n = 0;
	int rc = CTL_EREQUEST;

	*argc = 0;
	if (max > 0)
		argv[0] = NULL;
	if (len == 0 || p[len - 1] != '\0' || p[0] == '\0')
		goto out;
	while (off < len) {
		if (n >= CTL_ARGV_MAX || n + 1 >= max) {
			rc = CTL_EARGC;
			goto out;
		}
		/* found: the payload ends with a NUL */
		nul = memchr(p + off, '\0', len - off);
		/* the caller owns p; argv is char ** for getopt's sake */
		argv[n++] = (char *)(uintptr_t)(p + off);
		off = (size_t)(nul - p) + 1;
	}
	argv[n] = NULL;
	*argc = n;
	rc = 0;
out:
	if (rc != 0 && max > 0)
		argv[0] = NULL;
	return rc;
}

int
ctl_exit_decode(const uint8_t *p, size_t len, int *status)
{
	*status = 0;
	if (len != 1 || p[0] > CTL_STATUS_ERROR)
		return CTL_EEXIT;
	*status = p[0];
	return 0;
}

/* Wait until fd is ready for events (a blocking helper on an O_NONBLOCK fd). */
static int
ctl_fd_wait(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
		return CTL_EIO;
	return 0;
}

int
ctl_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (ctl_fd_wait(fd, POLLOUT) != 0)
				return CTL_EIO;
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return CTL_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ctl_read_frame(int fd, struct ctl_decoder *d, uint8_t *type,
    const uint8_t **payload, size_t *len)
{
	uint8_t chunk[CTL_READ_CHUNK];
	size_t want;
	ssize_t n;
	int rc;

	for (;;) {
		if ((rc = ctl_decoder_next(d, type, payload, len)) != 0)
			return rc > 0 ? 0 : rc;
		/* never past the frame: nothing is left over between calls */
		if ((want = ctl_decoder_want(d)) > sizeof(chunk))
			want = sizeof(chunk);
		n = read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (ctl_fd_wait(fd, POLLIN) != 0)
				return CTL_EIO;
			continue;
		}
		if (n < 0)
			return CTL_EIO;
		if (n == 0)
			return ctl_decoder_is_idle(d) ? CTL_EEOF : CTL_ETRUNC;
		ctl_decoder_feed(d, chunk, (size_t)n);
	}
}
