/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol (supervisor/proto/ctlproto.c): frames round-trip whole
 * and split anywhere, the length cap at and one past the limit, bad
 * types, request payloads, the exit status, the blocking helpers over a
 * socketpair, and what the decoder allocates whatever the peer declares.
 *
 * Linked with -Wl,--wrap=realloc (the decoder's only allocator) to
 * measure and fail allocations.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctlproto.h"
#include "strbuf.h"

/* ---- realloc, measured and failed on demand ---- */

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static size_t realloc_calls;
static size_t realloc_largest;
static bool realloc_fail;

void *
__wrap_realloc(void *p, size_t n)
{
	realloc_calls++;
	if (n > realloc_largest)
		realloc_largest = n;
	if (realloc_fail)
		return NULL;
	return __real_realloc(p, n);
}

static void
realloc_watch(void)
{
	realloc_calls = 0;
	realloc_largest = 0;
	realloc_fail = false;
}

/* ---- helpers ---- */

/* Drain every complete frame, appending its re-encoding to out. */
static int
drain(struct ctl_decoder *d, struct strbuf *out, size_t *nframes)
{
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int rc;

	while ((rc = ctl_decoder_next(d, &type, &p, &len)) == 1) {
		assert_non_null(p);
		assert_int_equal(ctl_frame_encode(out, type, p, len), 0);
		(*nframes)++;
	}
	return rc;
}

/* Feed all n bytes, draining as frames complete; 0 or the error. */
static int
feed_all(struct ctl_decoder *d, const uint8_t *s, size_t n,
    struct strbuf *out, size_t *nframes)
{
	size_t off = 0, used;
	int rc;

	for (;;) {
		used = ctl_decoder_feed(d, s + off, n - off);
		off += used;
		if ((rc = drain(d, out, nframes)) != 0)
			return rc;
		if (off == n)
			return 0;
		/* a frame was drained, so the decoder takes bytes again */
		assert_true(used > 0);
	}
}

/* A stream of every frame type, an empty one and one at the limit. */
static void
sample_stream(struct strbuf *s, bool big)
{
	static char *const argv[] = { "scan", "--json", "", "/tmp/a b" };
	static uint8_t blob[CTL_FRAME_MAX];
	uint8_t one = 1;

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 3);
	strbuf_init(s, 4 * CTL_FRAME_MAX);
	assert_int_equal(ctl_request_encode(s, 4, argv), 0);
	assert_int_equal(ctl_frame_encode(s, CTL_OUT, "x: OK\n", 6), 0);
	assert_int_equal(ctl_frame_encode(s, CTL_ERR, "", 0), 0);
	assert_int_equal(ctl_frame_encode(s, CTL_ERR, "warn\n", 5), 0);
	if (big)
		assert_int_equal(ctl_frame_encode(s, CTL_OUT, blob,
		    sizeof(blob)), 0);
	assert_int_equal(ctl_frame_encode(s, CTL_EXIT, &one, 1), 0);
}

static void
header(uint8_t *h, uint32_t len, uint8_t type)
{
	h[0] = (uint8_t)(len >> 24);
	h[1] = (uint8_t)(len >> 16);
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len;
	h[4] = type;
}

/* ---- frames ---- */

static void
test_frames_round_trip(void **state)
{
	struct ctl_decoder d;
	struct strbuf s, out;
	const uint8_t *p;
	size_t n = 0, len;
	uint8_t type;

	(void)state;
	sample_stream(&s, true);
	strbuf_init(&out, 4 * CTL_FRAME_MAX);
	ctl_decoder_init(&d);
	assert_int_equal(feed_all(&d, (const uint8_t *)s.buf, s.len, &out,
	    &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(out.len, s.len);
	assert_memory_equal(out.buf, s.buf, s.len);
	assert_true(ctl_decoder_is_idle(&d));
	assert_int_equal(ctl_decoder_want(&d), CTL_HDR);

	/* the exact bytes of one frame: 4-byte big-endian length, type */
	assert_memory_equal(s.buf, "\0\0\0\x16Q" "scan\0--json\0\0/tmp/a b\0",
	    CTL_HDR + 22);

	/* next() clears its outputs when there is nothing */
	type = 'O';
	p = (const uint8_t *)"x";
	len = 9;
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 0);
	assert_int_equal(type, 0);
	assert_null(p);
	assert_int_equal(len, 0);
	ctl_decoder_free(&d);
	strbuf_free(&out);
	strbuf_free(&s);
}

static void
test_frames_split_at_every_byte_boundary(void **state)
{
	struct ctl_decoder d;
	struct strbuf s, out;
	const uint8_t *b;
	size_t n;

	(void)state;
	sample_stream(&s, false);
	b = (const uint8_t *)s.buf;
	for (size_t cut = 0; cut <= s.len; cut++) {
		n = 0;
		strbuf_init(&out, 2 * CTL_FRAME_MAX);
		ctl_decoder_init(&d);
		assert_int_equal(feed_all(&d, b, cut, &out, &n), 0);
		assert_int_equal(feed_all(&d, b + cut, s.len - cut, &out, &n),
		    0);
		assert_int_equal(n, 5);
		assert_int_equal(out.len, s.len);
		assert_memory_equal(out.buf, s.buf, s.len);
		ctl_decoder_free(&d);
		strbuf_free(&out);
	}

	/* and one byte at a time */
	n = 0;
	strbuf_init(&out, 2 * CTL_FRAME_MAX);
	ctl_decoder_init(&d);
	for (size_t i = 0; i < s.len; i++)
		assert_int_equal(feed_all(&d, b + i, 1, &out, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out.buf, s.buf, s.len);
	ctl_decoder_free(&d);
	strbuf_free(&out);
	strbuf_free(&s);
}

static void
test_frames_feed_stops_at_end_of_frame(void **state)
{
	struct ctl_decoder d;
	struct strbuf s;
	const uint8_t *p;
	size_t len;
	uint8_t type;

	(void)state;
	strbuf_init(&s, 1024);
	assert_int_equal(ctl_frame_encode(&s, CTL_OUT, "ab", 2), 0);
	assert_int_equal(ctl_frame_encode(&s, CTL_ERR, "cde", 3), 0);
	ctl_decoder_init(&d);
	/* the first frame only; nothing more while it waits */
	assert_int_equal(ctl_decoder_feed(&d, s.buf, s.len), CTL_HDR + 2);
	assert_int_equal(ctl_decoder_want(&d), 0);
	assert_int_equal(ctl_decoder_feed(&d, s.buf + 7, s.len - 7), 0);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 1);
	assert_int_equal(type, CTL_OUT);
	assert_int_equal(len, 2);
	assert_memory_equal(p, "ab", 2);
	assert_int_equal(ctl_decoder_feed(&d, s.buf + 7, s.len - 7),
	    CTL_HDR + 3);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 1);
	assert_int_equal(type, CTL_ERR);
	assert_memory_equal(p, "cde", 3);
	ctl_decoder_free(&d);
	strbuf_free(&s);
}

static void
test_frames_length_at_limit_accepted(void **state)
{
	static uint8_t frame[CTL_HDR + CTL_FRAME_MAX];
	struct ctl_decoder d;
	const uint8_t *p;
	size_t len;
	uint8_t type;

	(void)state;
	header(frame, CTL_FRAME_MAX, CTL_OUT);
	memset(frame + CTL_HDR, 'a', CTL_FRAME_MAX);
	frame[sizeof(frame) - 1] = 'z';
	realloc_watch();
	ctl_decoder_init(&d);
	assert_int_equal(ctl_decoder_feed(&d, frame, sizeof(frame)),
	    sizeof(frame));
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 1);
	assert_int_equal(len, CTL_FRAME_MAX);
	assert_int_equal(p[CTL_FRAME_MAX - 1], 'z');
	assert_true(realloc_largest <= CTL_FRAME_MAX);
	ctl_decoder_free(&d);
}

static void
test_frames_length_one_past_limit_rejected(void **state)
{
	uint8_t h[CTL_HDR + 4];
	struct ctl_decoder d;
	const uint8_t *p;
	size_t len;
	uint8_t type;

	(void)state;
	header(h, CTL_FRAME_MAX + 1, CTL_OUT);
	memset(h + CTL_HDR, 'a', 4);
	realloc_watch();
	ctl_decoder_init(&d);
	/* refused as soon as the header is in, without the payload */
	assert_int_equal(ctl_decoder_feed(&d, h, sizeof(h)), CTL_HDR);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), CTL_ETOOBIG);
	/* and the error sticks */
	assert_int_equal(ctl_decoder_feed(&d, h, sizeof(h)), 0);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), CTL_ETOOBIG);
	assert_int_equal(ctl_decoder_want(&d), 0);
	assert_false(ctl_decoder_is_idle(&d));
	assert_int_equal(realloc_calls, 0);
	ctl_decoder_free(&d);

	/* the encoder refuses it too */
	{
		static uint8_t big[CTL_FRAME_MAX + 1];
		struct strbuf s;

		strbuf_init(&s, 2 * CTL_FRAME_MAX);
		assert_int_equal(ctl_frame_encode(&s, CTL_OUT, big,
		    sizeof(big)), CTL_ETOOBIG);
		assert_int_equal(s.len, 0);
		strbuf_free(&s);
	}
}

static void
test_frames_bad_type_rejected(void **state)
{
	static const uint8_t bad[] = { 0, 'q', 'o', 'e', 'x', 'Z', 'R', 0x80,
		0xff };
	static const uint8_t good[] = { 'Q', 'O', 'E', 'X' };
	struct ctl_decoder d;
	struct strbuf s;
	const uint8_t *p;
	uint8_t h[CTL_HDR], type;
	size_t len;

	(void)state;
	strbuf_init(&s, 64);
	for (size_t i = 0; i < sizeof(bad); i++) {
		header(h, 0, bad[i]);
		ctl_decoder_init(&d);
		assert_int_equal(ctl_decoder_feed(&d, h, sizeof(h)), CTL_HDR);
		assert_int_equal(ctl_decoder_next(&d, &type, &p, &len),
		    CTL_ETYPE);
		ctl_decoder_free(&d);
		assert_int_equal(ctl_frame_encode(&s, bad[i], "", 0), CTL_ETYPE);
	}
	for (size_t i = 0; i < sizeof(good); i++) {
		header(h, 0, good[i]);
		ctl_decoder_init(&d);
		assert_int_equal(ctl_decoder_feed(&d, h, sizeof(h)), CTL_HDR);
		assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 1);
		assert_int_equal(type, good[i]);
		assert_int_equal(len, 0);
		assert_non_null(p);
		ctl_decoder_free(&d);
	}
	assert_int_equal(s.len, 0);
	strbuf_free(&s);
}

static void
test_decoder_huge_length_never_allocates(void **state)
{
	static const uint32_t lens[] = { 0xffffffffu, 0x80000000u, 0x7fffffffu,
		CTL_FRAME_MAX + 1, 16u << 20 };
	static uint8_t junk[4096];
	struct ctl_decoder d;
	const uint8_t *p;
	uint8_t h[CTL_HDR], type;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		header(h, lens[i], CTL_OUT);
		realloc_watch();
		ctl_decoder_init(&d);
		ctl_decoder_feed(&d, h, sizeof(h));
		ctl_decoder_feed(&d, junk, sizeof(junk));
		assert_int_equal(ctl_decoder_next(&d, &type, &p, &len),
		    CTL_ETOOBIG);
		assert_int_equal(realloc_calls, 0);
		ctl_decoder_free(&d);
	}

	/* a declared length within the cap: memory follows the bytes sent */
	header(h, CTL_FRAME_MAX, CTL_OUT);
	realloc_watch();
	ctl_decoder_init(&d);
	ctl_decoder_feed(&d, h, sizeof(h));
	assert_int_equal(realloc_calls, 0);
	ctl_decoder_feed(&d, junk, 100);
	assert_true(realloc_largest <= 256);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 0);
	assert_int_equal(ctl_decoder_want(&d), CTL_FRAME_MAX - 100);
	ctl_decoder_free(&d);

	/* many frames at the limit: never more than CTL_FRAME_MAX held */
	realloc_watch();
	ctl_decoder_init(&d);
	for (int f = 0; f < 4; f++) {
		ctl_decoder_feed(&d, h, sizeof(h));
		for (size_t got = 0; got < CTL_FRAME_MAX; got += sizeof(junk))
			assert_int_equal(ctl_decoder_feed(&d, junk,
			    sizeof(junk)), sizeof(junk));
		assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 1);
		assert_int_equal(len, CTL_FRAME_MAX);
	}
	assert_true(realloc_largest <= CTL_FRAME_MAX);
	assert_true(d.payload.cap <= CTL_FRAME_MAX);
	ctl_decoder_free(&d);
}

static void
test_decoder_allocation_failure_is_an_error(void **state)
{
	struct ctl_decoder d;
	const uint8_t *p;
	uint8_t f[CTL_HDR + 3], type;
	size_t len;

	(void)state;
	header(f, 3, CTL_OUT);
	memcpy(f + CTL_HDR, "abc", 3);
	realloc_watch();
	realloc_fail = true;
	ctl_decoder_init(&d);
	assert_int_equal(ctl_decoder_feed(&d, f, sizeof(f)), CTL_HDR);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), CTL_ENOMEM);
	realloc_fail = false;
	ctl_decoder_free(&d);
}

/* ---- requests ---- */

struct request_case {
	const char *what;
	const char *p;
	size_t len;
	int rc;
	size_t argc;
};

static void
test_request_decode_table(void **state)
{
	static const struct request_case cases[] = {
		{ "empty payload", "", 0, CTL_EREQUEST, 0 },
		{ "no final NUL", "status", 6, CTL_EREQUEST, 0 },
		{ "last string without NUL", "status\0--json", 13,
		  CTL_EREQUEST, 0 },
		{ "empty command", "\0", 1, CTL_EREQUEST, 0 },
		{ "empty command, then more", "\0x\0", 3, CTL_EREQUEST, 0 },
		{ "one string", "status\0", 7, 0, 1 },
		{ "two strings", "status\0--json\0", 14, 0, 2 },
		{ "an empty argument is allowed", "scan\0\0", 6, 0, 2 },
		{ "two empty arguments", "scan\0\0\0", 7, 0, 3 },
	};
	char *argv[CTL_ARGV_MAX + 1];
	size_t argc;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct request_case *c = &cases[i];
		uint8_t copy[32];

		memcpy(copy, c->p, c->len);
		argc = 99;
		argv[0] = (char *)"junk";
		if (ctl_request_decode(copy, c->len, argv, CTL_ARGV_MAX + 1,
		    &argc) != c->rc)
			fail_msg("%s: rc", c->what);
		if (argc != c->argc)
			fail_msg("%s: argc %zu", c->what, argc);
		if (c->rc != 0)
			assert_null(argv[0]);
		else
			assert_null(argv[argc]);
	}
	{
		uint8_t p[] = "scan\0--json\0\0/x\0";
		assert_int_equal(ctl_request_decode(p, sizeof(p) - 1, argv,
		    CTL_ARGV_MAX + 1, &argc), 0);
		assert_int_equal(argc, 4);
		assert_string_equal(argv[0], "scan");
		assert_string_equal(argv[1], "--json");
		assert_string_equal(argv[2], "");
		assert_string_equal(argv[3], "/x");
		/* pointers into the caller's copy, nothing copied */
		assert_ptr_equal(argv[3], (char *)p + 13);
	}
}

static void
test_request_decode_argc_limits(void **state)
{
	static uint8_t p[2 * (CTL_ARGV_MAX + 1)];
	char *argv[CTL_ARGV_MAX + 2];
	size_t argc;

	(void)state;
	for (size_t i = 0; i < CTL_ARGV_MAX + 1; i++) {
		p[2 * i] = 'a';
		p[2 * i + 1] = '\0';
	}
	/* at the limit */
	assert_int_equal(ctl_request_decode(p, 2 * CTL_ARGV_MAX, argv,
	    CTL_ARGV_MAX + 1, &argc), 0);
	assert_int_equal(argc, CTL_ARGV_MAX);
	assert_null(argv[CTL_ARGV_MAX]);
	/* one past it, even with room in argv */
	assert_int_equal(ctl_request_decode(p, 2 * (CTL_ARGV_MAX + 1), argv,
	    CTL_ARGV_MAX + 2, &argc), CTL_EARGC);
	assert_int_equal(argc, 0);
	assert_null(argv[0]);
	/* argv smaller than the request: max counts the NULL */
	assert_int_equal(ctl_request_decode(p, 4, argv, 3, &argc), 0);
	assert_int_equal(argc, 2);
	assert_int_equal(ctl_request_decode(p, 4, argv, 2, &argc), CTL_EARGC);
	assert_int_equal(ctl_request_decode(p, 4, argv, 0, &argc), CTL_EARGC);
}

static void
test_request_encode_round_trip_and_limits(void **state)
{
	static char big[CTL_FRAME_MAX + 1];
	char *argv[CTL_ARGV_MAX + 1], *out[CTL_ARGV_MAX + 1];
	char *const two[] = { "status", "--json" };
	char *const empty_cmd[] = { "", "x" };
	char *const with_null[] = { "status", NULL };
	struct ctl_decoder d;
	struct strbuf s;
	const uint8_t *p;
	uint8_t type, *copy;
	size_t len, argc;

	(void)state;
	strbuf_init(&s, 2 * CTL_FRAME_MAX);
	assert_int_equal(ctl_request_encode(&s, 2, two), 0);
	assert_int_equal(s.len, CTL_HDR + 14);
	ctl_decoder_init(&d);
	ctl_decoder_feed(&d, s.buf, s.len);
	assert_int_equal(ctl_decoder_next(&d, &type, &p, &len), 1);
	assert_int_equal(type, CTL_REQUEST);
	assert_non_null(copy = malloc(len));
	memcpy(copy, p, len);
	ctl_decoder_free(&d);   /* the copy outlives the decoder */
	assert_int_equal(ctl_request_decode(copy, len, out, CTL_ARGV_MAX + 1,
	    &argc), 0);
	assert_int_equal(argc, 2);
	assert_string_equal(out[0], "status");
	assert_string_equal(out[1], "--json");
	free(copy);

	strbuf_reset(&s);
	assert_int_equal(ctl_request_encode(&s, 0, two), CTL_EREQUEST);
	assert_int_equal(ctl_request_encode(&s, 2, empty_cmd), CTL_EREQUEST);
	assert_int_equal(ctl_request_encode(&s, 2, with_null), CTL_EREQUEST);
	for (int i = 0; i <= CTL_ARGV_MAX; i++)
		argv[i] = (char *)"a";
	assert_int_equal(ctl_request_encode(&s, CTL_ARGV_MAX, argv), 0);
	strbuf_reset(&s);
	assert_int_equal(ctl_request_encode(&s, CTL_ARGV_MAX + 1, argv),
	    CTL_EARGC);
	assert_int_equal(s.len, 0);

	/* "x\0" + big + "\0": the payload at exactly CTL_FRAME_MAX, then +1 */
	memset(big, 'b', sizeof(big) - 1);
	big[CTL_FRAME_MAX - 3] = '\0';
	argv[0] = (char *)"x";
	argv[1] = big;
	assert_int_equal(ctl_request_encode(&s, 2, argv), 0);
	assert_int_equal(s.len, CTL_HDR + CTL_FRAME_MAX);
	strbuf_reset(&s);
	big[CTL_FRAME_MAX - 3] = 'b';
	big[CTL_FRAME_MAX - 2] = '\0';
	assert_int_equal(ctl_request_encode(&s, 2, argv), CTL_ETOOBIG);
	big[CTL_FRAME_MAX - 2] = 'b';
	big[CTL_FRAME_MAX] = '\0';  /* longer than the cap on its own */
	assert_int_equal(ctl_request_encode(&s, 2, argv), CTL_ETOOBIG);
	assert_int_equal(s.len, 0);
	strbuf_free(&s);

	/* the output buffer's cap: an error, and the buffer as it was */
	strbuf_init(&s, CTL_HDR + 10);
	assert_int_equal(ctl_frame_encode(&s, CTL_OUT, "12345", 5), 0);
	assert_int_equal(ctl_request_encode(&s, 2, two), CTL_ENOMEM);
	assert_int_equal(s.len, CTL_HDR + 5);
	assert_int_equal(s.buf[s.len], '\0');
	assert_int_equal(ctl_frame_encode(&s, CTL_OUT, "1", 1), CTL_ENOMEM);
	strbuf_free(&s);
}

static void
test_exit_decode_table(void **state)
{
	static const struct {
		const char *p;
		size_t len;
		int rc, status;
	} cases[] = {
		{ "\0", 1, 0, 0 },
		{ "\1", 1, 0, 1 },
		{ "\2", 1, 0, 2 },
		{ "\3", 1, CTL_EEXIT, 0 },
		{ "\xff", 1, CTL_EEXIT, 0 },
		{ "", 0, CTL_EEXIT, 0 },
		{ "\0\0", 2, CTL_EEXIT, 0 },
	};
	int status;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		status = 42;
		assert_int_equal(ctl_exit_decode((const uint8_t *)cases[i].p,
		    cases[i].len, &status), cases[i].rc);
		assert_int_equal(status, cases[i].status);
	}
}

/* ---- blocking helpers ---- */

static void
test_read_frame_over_a_socket(void **state)
{
	struct ctl_decoder d;
	struct strbuf s;
	const uint8_t *p;
	uint8_t type, rest[64];
	size_t len;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	strbuf_init(&s, 1024);
	assert_int_equal(ctl_frame_encode(&s, CTL_OUT, "hello\n", 6), 0);
	assert_int_equal(ctl_frame_encode(&s, CTL_EXIT, "\1", 1), 0);
	assert_int_equal(ctl_write_all(sv[0], s.buf, s.len), 0);
	ctl_decoder_init(&d);
	assert_int_equal(ctl_read_frame(sv[1], &d, &type, &p, &len), 0);
	assert_int_equal(type, CTL_OUT);
	assert_int_equal(len, 6);
	assert_memory_equal(p, "hello\n", 6);
	/* it did not read past the frame: the rest is still in the socket */
	assert_int_equal(recv(sv[1], rest, sizeof(rest), MSG_PEEK),
	    CTL_HDR + 1);
	assert_int_equal(ctl_read_frame(sv[1], &d, &type, &p, &len), 0);
	assert_int_equal(type, CTL_EXIT);
	close(sv[0]);
	assert_int_equal(ctl_read_frame(sv[1], &d, &type, &p, &len),
	    CTL_EEOF);
	ctl_decoder_free(&d);
	close(sv[1]);

	/* end of file inside a header, inside a payload */
	for (size_t cut = 1; cut < s.len - CTL_HDR - 1; cut++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(ctl_write_all(sv[0], s.buf, cut), 0);
		close(sv[0]);
		ctl_decoder_init(&d);
		assert_int_equal(ctl_read_frame(sv[1], &d, &type, &p, &len),
		    CTL_ETRUNC);
		ctl_decoder_free(&d);
		close(sv[1]);
	}
	strbuf_free(&s);

	/* a write to a closed peer is an error, errno kept */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(ctl_write_all(sv[0], "x", 1), CTL_EIO);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
}

static void
test_strerror_names_every_error(void **state)
{
	(void)state;
	for (int rc = CTL_ETRUNC; rc <= CTL_OK; rc++)
		assert_string_not_equal(ctl_strerror(rc), "unknown error");
	assert_string_equal(ctl_strerror(-100), "unknown error");
	assert_string_equal(ctl_strerror(CTL_ETOOBIG),
	    "frame longer than 65536 bytes");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_round_trip),
		cmocka_unit_test(test_frames_split_at_every_byte_boundary),
		cmocka_unit_test(test_frames_feed_stops_at_end_of_frame),
		cmocka_unit_test(test_frames_length_at_limit_accepted),
		cmocka_unit_test(test_frames_length_one_past_limit_rejected),
		cmocka_unit_test(test_frames_bad_type_rejected),
		cmocka_unit_test(test_decoder_huge_length_never_allocates),
		cmocka_unit_test(test_decoder_allocation_failure_is_an_error),
		cmocka_unit_test(test_request_decode_table),
		cmocka_unit_test(test_request_decode_argc_limits),
		cmocka_unit_test(test_request_encode_round_trip_and_limits),
		cmocka_unit_test(test_exit_decode_table),
		cmocka_unit_test(test_read_frame_over_a_socket),
		cmocka_unit_test(test_strerror_names_every_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
