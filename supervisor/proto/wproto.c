/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The worker protocol: framing, bounded encode/decode, fd passing. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wproto.h"

void
wproto_begin(struct wbuf *w, enum wproto_type type, uint64_t id)
{
	struct buf *b = &w->b;

	buf_init_fixed(b, w->data, sizeof(w->data));
	buf_put_le32(b, WPROTO_MAGIC);
	buf_put_le16(b, (uint16_t)type);
	buf_put_zero(b, 2);
	buf_put_le32(b, 0);             /* body length, set by wproto_end */
	buf_put_zero(b, 4);
	buf_put_le64(b, id);
}

void
wproto_put_str(struct buf *b, const char *s)
{
	size_t n = strnlen(s, WPROTO_STR_MAX + 1);

	if (n > WPROTO_STR_MAX)
		n = WPROTO_STR_MAX;
	buf_put_le16(b, (uint16_t)n);
	buf_put(b, s, n);
}

bool
wproto_end(struct wbuf *w)
{
	uint32_t body = htole32((uint32_t)(w->b.len - WPROTO_HDR));

	return buf_error(&w->b) == BUF_OK &&
	    buf_poke(&w->b, 8, &body, sizeof(body)) == BUF_OK;
}

int
wproto_open(const uint8_t *msg, size_t len, uint16_t *type, uint64_t *id,
    struct buf *r)
{
	uint32_t magic, body;

	if (len < WPROTO_HDR || len > WPROTO_MAX_MSG)
		return -EPROTO;
	buf_init_view(r, msg, len);
	buf_get_le32(r, &magic);
	buf_get_le16(r, type);
	buf_take(r, 2);
	buf_get_le32(r, &body);
	buf_take(r, 4);
	buf_get_le64(r, id);
	if (magic != WPROTO_MAGIC || body != len - WPROTO_HDR)
		return -EPROTO;
	return 0;
}

void
wproto_get_str(struct buf *r, char *out, size_t outlen)
{
	uint16_t n;
	const uint8_t *s;

	out[0] = '\0';
	if (buf_get_le16(r, &n) != BUF_OK)
		return;
	if (n > WPROTO_STR_MAX || n >= outlen || (s = buf_take(r, n)) == NULL ||
	    memchr(s, '\0', n) != NULL) {
		buf_fail(r, BUF_EBAD);
		return;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static int
wproto_done(const struct buf *r)
{
	return buf_done(r) != BUF_OK ? -EPROTO : 0;
}

int
wproto_encode_ready(struct wbuf *b, const struct wproto_ready *m)
{
	wproto_begin(b, WPROTO_READY, 0);
	buf_put_le32(&b->b, m->proto);
	wproto_put_str(&b->b, m->version);
	buf_put_le32(&b->b, m->ndbs);
	for (uint32_t i = 0; i < m->ndbs && i < WPROTO_MAX_DBS; i++) {
		wproto_put_str(&b->b, m->dbs[i].name);
		buf_put_le32(&b->b, m->dbs[i].version);
		wproto_put_str(&b->b, m->dbs[i].kind);
	}
	buf_put_le32(&b->b, m->ntypes);
	for (uint32_t i = 0; i < m->ntypes && i < WPROTO_MAX_TYPES; i++) {
		wproto_put_str(&b->b, m->types[i].type);
		buf_put_le64(&b->b, m->types[i].loaded);
		buf_put_le64(&b->b, m->types[i].not_loaded);
	}
	buf_put_le64(&b->b, m->huge_bytes);
	buf_put_le32(&b->b, m->collapse_ms);
	wproto_put_str(&b->b, m->engine);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_ready(struct buf *r, struct wproto_ready *m)
{
	memset(m, 0, sizeof(*m));
	buf_get_le32(r, &m->proto);
	wproto_get_str(r, m->version, sizeof(m->version));
	buf_get_le32(r, &m->ndbs);
	if (m->ndbs > WPROTO_MAX_DBS)
		return -EPROTO;
	for (uint32_t i = 0; i < m->ndbs; i++) {
		wproto_get_str(r, m->dbs[i].name, sizeof(m->dbs[i].name));
		buf_get_le32(r, &m->dbs[i].version);
		wproto_get_str(r, m->dbs[i].kind, sizeof(m->dbs[i].kind));
	}
	buf_get_le32(r, &m->ntypes);
	if (m->ntypes > WPROTO_MAX_TYPES)
		return -EPROTO;
	for (uint32_t i = 0; i < m->ntypes; i++) {
		wproto_get_str(r, m->types[i].type, sizeof(m->types[i].type));
		buf_get_le64(r, &m->types[i].loaded);
		buf_get_le64(r, &m->types[i].not_loaded);
	}
	buf_get_le64(r, &m->huge_bytes);
	buf_get_le32(r, &m->collapse_ms);
	wproto_get_str(r, m->engine, sizeof(m->engine));
	return wproto_done(r);
}

int
wproto_encode_scan(struct wbuf *b, const struct wproto_scan *m)
{
	wproto_begin(b, WPROTO_SCAN, m->id);
	buf_put_le32(&b->b, m->flags);
	wproto_put_str(&b->b, m->name);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_scan(struct buf *r, uint64_t id, struct wproto_scan *m)
{
	m->id = id;
	buf_get_le32(r, &m->flags);
	wproto_get_str(r, m->name, sizeof(m->name));
	return wproto_done(r);
}

int
wproto_encode_result(struct wbuf *b, const struct wproto_result *m)
{
	wproto_begin(b, WPROTO_RESULT, m->id);
	buf_put_le32(&b->b, m->verdict);
	buf_put_le32(&b->b, m->nnames);
	for (uint32_t i = 0; i < m->nnames && i < WPROTO_MAX_NAMES; i++) {
		wproto_put_str(&b->b, m->names[i].sig);
		wproto_put_str(&b->b, m->names[i].path);
	}
	wproto_put_str(&b->b, m->note);
	buf_put_le32(&b->b, m->rflags);
	buf_put_le64(&b->b, m->read_bytes);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_result(struct buf *r, uint64_t id, struct wproto_result *m)
{
	m->id = id;
	buf_get_le32(r, &m->verdict);
	buf_get_le32(r, &m->nnames);
	if (m->verdict > WPROTO_ERROR || m->nnames > WPROTO_MAX_NAMES)
		return -EPROTO;
	for (uint32_t i = 0; i < m->nnames; i++) {
		wproto_get_str(r, m->names[i].sig, sizeof(m->names[i].sig));
		wproto_get_str(r, m->names[i].path, sizeof(m->names[i].path));
	}
	wproto_get_str(r, m->note, sizeof(m->note));
	buf_get_le32(r, &m->rflags);
	buf_get_le64(r, &m->read_bytes);
	if (m->rflags & ~WPROTO_RES_WHOLE)
		return -EPROTO;
	return wproto_done(r);
}

int
wproto_encode_memq(struct wbuf *b, uint64_t id)
{
	wproto_begin(b, WPROTO_MEMQ, id);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_encode_mem(struct wbuf *b, uint64_t id, const struct wproto_mem *m)
{
	wproto_begin(b, WPROTO_MEM, id);
	buf_put_le32(&b->b, m->err);
	buf_put_le64(&b->b, m->rss);
	buf_put_le64(&b->b, m->pss);
	buf_put_le64(&b->b, m->priv);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_mem(struct buf *r, struct wproto_mem *m)
{
	memset(m, 0, sizeof(*m));
	buf_get_le32(r, &m->err);
	buf_get_le64(r, &m->rss);
	buf_get_le64(r, &m->pss);
	buf_get_le64(r, &m->priv);
	return wproto_done(r);
}

int
wproto_encode_collapse(struct wbuf *b, uint64_t id)
{
	wproto_begin(b, WPROTO_COLLAPSE, id);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_encode_collapsed(struct wbuf *b, uint64_t id,
    const struct wproto_collapsed *m)
{
	wproto_begin(b, WPROTO_COLLAPSED, id);
	buf_put_le32(&b->b, m->state);
	buf_put_le32(&b->b, m->err);
	buf_put_le64(&b->b, m->huge_bytes);
	buf_put_le64(&b->b, m->eligible_bytes);
	buf_put_le32(&b->b, m->chunks_failed);
	buf_put_le32(&b->b, m->collapse_ms);
	wproto_put_str(&b->b, m->line);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_collapsed(struct buf *r, struct wproto_collapsed *m)
{
	memset(m, 0, sizeof(*m));
	buf_get_le32(r, &m->state);
	buf_get_le32(r, &m->err);
	buf_get_le64(r, &m->huge_bytes);
	buf_get_le64(r, &m->eligible_bytes);
	buf_get_le32(r, &m->chunks_failed);
	buf_get_le32(r, &m->collapse_ms);
	wproto_get_str(r, m->line, sizeof(m->line));
	if (m->state > WPROTO_HP_MAX || m->huge_bytes > m->eligible_bytes)
		return -EPROTO;
	return wproto_done(r);
}

int
wproto_send(int sock, const struct wbuf *b, int fd)
{
	return wproto_send_fds(sock, b, &fd, fd >= 0 ? 1 : 0);
}

int
wproto_send_fds(int sock, const struct wbuf *b, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(WPROTO_MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = { (void *)(uintptr_t)b->data, b->b.len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > WPROTO_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == b->b.len ? 0 : -EMSGSIZE;
}

/* Keep the first max descriptors a control message carries, close the rest. */
static void
wproto_take_fds(struct msghdr *mh, int *fds, size_t max, size_t *nfds)
{
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < max)
				fds[(*nfds)++] = f;
			else
				close(f);
		}
	}
}

ssize_t
wproto_recv_fds(int sock, uint8_t *buf, size_t cap, int *fds, size_t *nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(WPROTO_MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	*nfds = 0;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	wproto_take_fds(&mh, fds, WPROTO_MAX_FDS, nfds);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (size_t i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}

ssize_t
wproto_recv(int sock, uint8_t *buf, size_t cap, int *fd)
{
	int fds[WPROTO_MAX_FDS];
	size_t n = 0;
	ssize_t r = wproto_recv_fds(sock, buf, cap, fds, &n);

	*fd = n > 0 ? fds[0] : -1;
	for (size_t i = 1; i < n; i++)
		close(fds[i]);
	return r;
}

int
wproto_encode_forked(struct wbuf *b, uint64_t id, int32_t pid)
{
	wproto_begin(b, WPROTO_FORKED, id);
	buf_put_le32(&b->b, (uint32_t)pid);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_forked(struct buf *r, int32_t *pid)
{
	uint32_t v = 0;

	buf_get_le32(r, &v);
	*pid = (int32_t)v;
	return wproto_done(r);
}
