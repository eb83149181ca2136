/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the control protocol: the input after its first byte is a byte
 * stream as either side may receive it.  It is decoded twice, in one
 * piece and in chunks whose sizes the first byte seeds; both must yield
 * the same frames, and those frames re-encoded must be the very bytes
 * they came from.  Every request payload is split into argv and encoded
 * again (it must come out the same), every exit payload decoded, and the
 * stream itself is tried as a request payload.  The decoder never holds
 * more than CTL_FRAME_MAX payload bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A request payload split and re-encoded: the same bytes again. */
static void
fuzz_request(const uint8_t *p, size_t len)
{
	static char *argv[CTL_ARGV_MAX + 1];
	struct strbuf sb;
	uint8_t *copy;
	size_t argc;

	if ((copy = malloc(len + 1)) == NULL)
		return;
	memcpy(copy, p, len);
	if (ctl_request_decode(copy, len, argv, CTL_ARGV_MAX + 1, &argc) == 0) {
		if (argc == 0 || argc > CTL_ARGV_MAX || argv[argc] != NULL)
			abort();
		strbuf_init(&sb, CTL_HDR + CTL_FRAME_MAX);
		if (ctl_request_encode(&sb, (int)argc, argv) != 0 ||
		    sb.len != CTL_HDR + len ||
		    memcmp(sb.buf + CTL_HDR, p, len) != 0)
			abort();
		strbuf_free(&sb);
	}
	free(copy);
}

/* Decode s in pieces (chunk 0: all at once); frames re-encoded into out. */
static int
fuzz_decode(const uint8_t *s, size_t n, uint32_t seed, struct strbuf *out)
{
	struct ctl_decoder d;
	const uint8_t *p;
	size_t off = 0, piece, used, len;
	uint8_t type;
	int rc = 0, status;

	ctl_decoder_init(&d);
	while (off < n) {
		piece = n - off;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			piece = 1 + (seed >> 16) % (seed & 0x100 ? 7 : 300);
			piece = piece < n - off ? piece : n - off;
		}
		used = ctl_decoder_feed(&d, s + off, piece);
		off += used;
		while ((rc = ctl_decoder_next(&d, &type, &p, &len)) == 1) {
			if (ctl_frame_encode(out, type, p, len) != 0)
				abort();
			if (type == CTL_REQUEST)
				fuzz_request(p, len);
			if (type == CTL_EXIT)
				ctl_exit_decode(p, len, &status);
		}
		if (d.payload.cap > CTL_FRAME_MAX)
			abort();
		if (rc < 0 || used == 0)
			break;
	}
	if (rc == 0 && !ctl_decoder_is_idle(&d))
		rc = CTL_ETRUNC;
	ctl_decoder_free(&d);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf whole, chunked;
	int rc1, rc2;

	if (size < 1)
		return 0;
	strbuf_init(&whole, size);
	strbuf_init(&chunked, size);
	rc1 = fuzz_decode(data + 1, size - 1, 0, &whole);
	rc2 = fuzz_decode(data + 1, size - 1, 1u + data[0], &chunked);
	if (rc1 != rc2 || whole.len != chunked.len ||
	    (whole.len > 0 && memcmp(whole.buf, chunked.buf, whole.len) != 0) ||
	    (whole.len > 0 && memcmp(whole.buf, data + 1, whole.len) != 0))
		abort();
	strbuf_free(&whole);
	strbuf_free(&chunked);
	fuzz_request(data + 1, size - 1);
	return 0;
}
