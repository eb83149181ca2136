/* The worker protocol: framing, bounded encode/decode, fd passing. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wproto.h"

static void
wbuf_put(struct wbuf *b, const void *p, size_t n)
{
	if (b->overflow || n > sizeof(b->data) - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void
wproto_begin(struct wbuf *b, enum wproto_type type, uint64_t id)
{
	uint8_t h[WPROTO_HDR] = { 0 };

	b->len = 0;
	b->overflow = false;
	le32(h, WPROTO_MAGIC);
	h[4] = (uint8_t)type;
	h[5] = (uint8_t)(type >> 8);
	le64(h + 16, id);
	wbuf_put(b, h, sizeof(h));
}

void
wproto_put_u32(struct wbuf *b, uint32_t v)
{
	uint8_t p[4];

	le32(p, v);
	wbuf_put(b, p, sizeof(p));
}

void
wproto_put_u64(struct wbuf *b, uint64_t v)
{
	uint8_t p[8];

	le64(p, v);
	wbuf_put(b, p, sizeof(p));
}

void
wproto_put_str(struct wbuf *b, const char *s)
{
	size_t n = strnlen(s, WPROTO_STR_MAX + 1);
	uint8_t p[2];

	if (n > WPROTO_STR_MAX)
		n = WPROTO_STR_MAX;
	p[0] = (uint8_t)n;
	p[1] = (uint8_t)(n >> 8);
	wbuf_put(b, p, sizeof(p));
	wbuf_put(b, s, n);
}

bool
wproto_end(struct wbuf *b)
{
	if (b->overflow)
		return false;
	le32(b->data + 8, (uint32_t)(b->len - WPROTO_HDR));
	return true;
}

int
wproto_open(const uint8_t *msg, size_t len, uint16_t *type, uint64_t *id,
    struct wreader *r)
{
	if (len < WPROTO_HDR || len > WPROTO_MAX_MSG || rd32(msg) != WPROTO_MAGIC ||
	    rd32(msg + 8) != len - WPROTO_HDR)
		return -EPROTO;
	*type = (uint16_t)(msg[4] | msg[5] << 8);
	*id = rd64(msg + 16);
	r->p = msg + WPROTO_HDR;
	r->left = len - WPROTO_HDR;
	r->bad = false;
	return 0;
}

static const uint8_t *
wreader_take(struct wreader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

uint32_t
wproto_get_u32(struct wreader *r)
{
	const uint8_t *p = wreader_take(r, 4);

	return p ? rd32(p) : 0;
}

uint64_t
wproto_get_u64(struct wreader *r)
{
	const uint8_t *p = wreader_take(r, 8);

	return p ? rd64(p) : 0;
}

void
wproto_get_str(struct wreader *r, char *out, size_t outlen)
{
	const uint8_t *lp = wreader_take(r, 2), *s;
	size_t n = lp ? (size_t)(lp[0] | lp[1] << 8) : 0;

	out[0] = '\0';
	if (lp == NULL)
		return;
	if (n > WPROTO_STR_MAX || n >= outlen || (s = wreader_take(r, n)) == NULL ||
	    memchr(s, '\0', n) != NULL) {
		r->bad = true;
		return;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static int
wreader_done(const struct wreader *r)
{
	return r->bad || r->left != 0 ? -EPROTO : 0;
}

int
wproto_encode_ready(struct wbuf *b, const struct wproto_ready *m)
{
	wproto_begin(b, WPROTO_READY, 0);
	wproto_put_u32(b, m->proto);
	wproto_put_str(b, m->version);
	wproto_put_u32(b, m->ndbs);
	for (uint32_t i = 0; i < m->ndbs && i < WPROTO_MAX_DBS; i++) {
		wproto_put_str(b, m->dbs[i].name);
		wproto_put_u32(b, m->dbs[i].version);
		wproto_put_str(b, m->dbs[i].kind);
	}
	wproto_put_u32(b, m->ntypes);
	for (uint32_t i = 0; i < m->ntypes && i < WPROTO_MAX_TYPES; i++) {
		wproto_put_str(b, m->types[i].type);
		wproto_put_u64(b, m->types[i].loaded);
		wproto_put_u64(b, m->types[i].not_loaded);
	}
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_ready(struct wreader *r, struct wproto_ready *m)
{
	memset(m, 0, sizeof(*m));
	m->proto = wproto_get_u32(r);
	wproto_get_str(r, m->version, sizeof(m->version));
	m->ndbs = wproto_get_u32(r);
	if (m->ndbs > WPROTO_MAX_DBS)
		return -EPROTO;
	for (uint32_t i = 0; i < m->ndbs; i++) {
		wproto_get_str(r, m->dbs[i].name, sizeof(m->dbs[i].name));
		m->dbs[i].version = wproto_get_u32(r);
		wproto_get_str(r, m->dbs[i].kind, sizeof(m->dbs[i].kind));
	}
	m->ntypes = wproto_get_u32(r);
	if (m->ntypes > WPROTO_MAX_TYPES)
		return -EPROTO;
	for (uint32_t i = 0; i < m->ntypes; i++) {
		wproto_get_str(r, m->types[i].type, sizeof(m->types[i].type));
		m->types[i].loaded = wproto_get_u64(r);
		m->types[i].not_loaded = wproto_get_u64(r);
	}
	return wreader_done(r);
}

int
wproto_encode_scan(struct wbuf *b, const struct wproto_scan *m)
{
	wproto_begin(b, WPROTO_SCAN, m->id);
	wproto_put_u32(b, m->flags);
	wproto_put_str(b, m->name);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_scan(struct wreader *r, uint64_t id, struct wproto_scan *m)
{
	m->id = id;
	m->flags = wproto_get_u32(r);
	wproto_get_str(r, m->name, sizeof(m->name));
	return wreader_done(r);
}

int
wproto_encode_result(struct wbuf *b, const struct wproto_result *m)
{
	wproto_begin(b, WPROTO_RESULT, m->id);
	wproto_put_u32(b, m->verdict);
	wproto_put_u32(b, m->nnames);
	for (uint32_t i = 0; i < m->nnames && i < WPROTO_MAX_NAMES; i++) {
		wproto_put_str(b, m->names[i].sig);
		wproto_put_str(b, m->names[i].path);
	}
	wproto_put_str(b, m->note);
	return wproto_end(b) ? 0 : -EMSGSIZE;
}

int
wproto_decode_result(struct wreader *r, uint64_t id, struct wproto_result *m)
{
	m->id = id;
	m->verdict = wproto_get_u32(r);
	m->nnames = wproto_get_u32(r);
	if (m->verdict > WPROTO_ERROR || m->nnames > WPROTO_MAX_NAMES)
		return -EPROTO;
	for (uint32_t i = 0; i < m->nnames; i++) {
		wproto_get_str(r, m->names[i].sig, sizeof(m->names[i].sig));
		wproto_get_str(r, m->names[i].path, sizeof(m->names[i].path));
	}
	wproto_get_str(r, m->note, sizeof(m->note));
	return wreader_done(r);
}

int
wproto_send(int sock, const struct wbuf *b, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { (void *)(uintptr_t)b->data, b->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == b->len ? 0 : -EMSGSIZE;
}

/* Close every descriptor a control message carries except the first. */
static void
wproto_take_fds(struct msghdr *mh, int *fd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < n; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
}

ssize_t
wproto_recv(int sock, uint8_t *buf, size_t cap, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	*fd = -1;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	wproto_take_fds(&mh, fd);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EMSGSIZE;
	}
	return n;
}
