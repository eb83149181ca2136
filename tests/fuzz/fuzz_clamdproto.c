/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the clamd protocol layer: the input after its first byte is what
 * a client sent on one connection.  It is parsed as pipelined commands
 * twice, in one piece and as it would arrive in pieces whose sizes the
 * first byte seeds; both must yield the same commands and the same
 * final result.  Every command must lie inside the bytes it consumed,
 * never past CLAMD_COMMAND_MAX, with a path that holds no NUL (nor a
 * '\n' outside z framing), and, framed again from its name and path,
 * must parse back to itself.  A server-style pass (read_ended, INSTREAM
 * chunks and FILDES's byte skipped) checks the same, and formats the
 * replies for every path it finds.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clamdproto.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for a re-framed command: prefix, name, " ", path, "\r\n". */
#define FUZZ_FRAME_MAX (CLAMD_COMMAND_MAX + 64)

static bool
fuzz_is_path_cmd(enum clamd_cmd c)
{
	return c == CLAMD_CMD_SCAN || c == CLAMD_CMD_CONTSCAN ||
	    c == CLAMD_CMD_MULTISCAN || c == CLAMD_CMD_ALLMATCHSCAN;
}

/* Frame req again from its name and path: it must parse to itself. */
static void
fuzz_reframe(const struct clamd_request *req)
{
	static const uint8_t pre[] = { 'z', 'n', 0 };
	static const uint8_t term[] = { '\0', '\n', '\n' };
	uint8_t buf[FUZZ_FRAME_MAX];
	struct clamd_request again;
	const char *name = clamd_cmd_name(req->cmd);
	size_t n = 0, used;

	if (pre[req->framing] != 0)
		buf[n++] = pre[req->framing];
	memcpy(buf + n, name, strlen(name));
	n += strlen(name);
	if (req->arg != NULL) {
		buf[n++] = ' ';
		memcpy(buf + n, req->arg, req->arglen);
		n += req->arglen;
	}
	buf[n++] = term[req->framing];
	if (clamd_parse(buf, n, false, &again, &used) != 1 || used != n ||
	    again.cmd != req->cmd || again.framing != req->framing ||
	    again.arglen != req->arglen || (again.arg == NULL) !=
	    (req->arg == NULL) || (req->arglen > 0 &&
	    memcmp(again.arg, req->arg, req->arglen) != 0))
		abort();
}

/* The checks every result of clamd_parse() must pass. */
static void
fuzz_check(const uint8_t *buf, size_t len, int rc,
    const struct clamd_request *req, size_t used)
{
	const uint8_t *arg = (const uint8_t *)req->arg;

	if (len > 0 && req->framing != (buf[0] == 'z' ? CLAMD_FRAMING_Z :
	    buf[0] == 'n' ? CLAMD_FRAMING_N : CLAMD_FRAMING_BARE))
		abort();
	if (clamd_cmd_name(req->cmd) == NULL)
		abort();
	if (rc != 1) {
		if (rc != 0 && rc != CLAMD_ETOOLONG && rc != CLAMD_EUNKNOWN &&
		    rc != CLAMD_EFRAMING)
			abort();
		if (used != 0 || req->arg != NULL || req->arglen != 0 ||
		    req->cmd != CLAMD_CMD_UNKNOWN)
			abort();
		return;
	}
	if (used == 0 || used > len || used > CLAMD_COMMAND_MAX ||
	    req->cmd >= CLAMD_CMD_UNKNOWN ||
	    fuzz_is_path_cmd(req->cmd) != (arg != NULL))
		abort();
	if (arg == NULL) {
		if (req->arglen != 0)
			abort();
	} else {
		if (arg <= buf || arg + req->arglen > buf + used ||
		    memchr(arg, '\0', req->arglen) != NULL ||
		    (req->framing != CLAMD_FRAMING_Z &&
		    memchr(arg, '\n', req->arglen) != NULL))
			abort();
	}
	fuzz_reframe(req);
}

/*
 * Parse s as pipelined commands without read_ended, the bytes arriving
 * in pieces (seed 0: all at once); each result described into out.
 */
static void
fuzz_stream(const uint8_t *s, size_t n, uint32_t seed, struct strbuf *out)
{
	struct clamd_request req;
	size_t off = 0, have = 0, piece, used;
	int rc;

	for (;;) {
		if (seed == 0) {
			have = n;
		} else if (have < n) {
			seed = seed * 1103515245u + 12345u;
			piece = 1 + (seed >> 16) % (seed & 0x100 ? 7 : 600);
			have += piece < n - have ? piece : n - have;
		}
		while ((rc = clamd_parse(s + off, have - off, false, &req,
		    &used)) == 1) {
			fuzz_check(s + off, have - off, rc, &req, used);
			strbuf_printf(out, "%d %d %d %zu|", rc, req.cmd,
			    req.framing, used);
			off += used;
		}
		fuzz_check(s + off, have - off, rc, &req, used);
		if (rc < 0 || have == n) {
			strbuf_printf(out, "%d %d|", rc, req.framing);
			return;
		}
	}
}

/*
 * STATS and VERSION texts with a client's path in them: a task line is
 * one line whatever the name; the path as VERSION's engine never adds a
 * '/' field (clients split the line there).
 */
static void
fuzz_texts(const char *path)
{
	struct clamd_db_version db = { .version = 7, .built = 1624412045 };
	char ver[256];
	struct strbuf sb;
	const char *p;
	unsigned slashes = 0;

	strbuf_init(&sb, 8 * FUZZ_FRAME_MAX);
	clamd_stats_task(&sb, "SCAN", 1.5, path);
	if (sb.failed || sb.len == 0 || sb.buf[0] != '\t' ||
	    memchr(sb.buf, '\n', sb.len) != sb.buf + sb.len - 1 ||
	    memchr(sb.buf, '\0', sb.len) != NULL)
		abort();
	strbuf_free(&sb);
	clamd_version_text(ver, sizeof(ver), path, &db);
	if (strncmp(ver, CLAMD_VERSION_PRODUCT, strlen(CLAMD_VERSION_PRODUCT)) != 0)
		abort();
	for (p = ver; *p != '\0'; p++)
		slashes += *p == '/';
	if (slashes > 2)
		abort();
}

/* The replies a server would write for req, checked for their length. */
static void
fuzz_replies(const struct clamd_request *req, unsigned id)
{
	char path[PATH_MAX];
	struct strbuf sb;
	size_t before;

	if (clamd_request_path(req, path, sizeof(path)) != 0)
		return;
	fuzz_texts(path);
	strbuf_init(&sb, 3 * FUZZ_FRAME_MAX);
	clamd_reply_begin(&sb, id);
	before = sb.len;
	clamd_reply_found(&sb, path, "Fuzz.Sig");
	if (sb.len != before + req->arglen + strlen(": Fuzz.Sig FOUND"))
		abort();
	clamd_reply_end(&sb, req->framing);
	clamd_reply_ok(&sb, path);
	clamd_reply_error(&sb, path, "Fuzz reason");
	clamd_reply_put(&sb, id, req->framing, CLAMD_REPLY_PONG);
	if (sb.failed || (req->framing == CLAMD_FRAMING_Z) !=
	    (sb.buf[before + req->arglen + 16] == '\0'))
		abort();
	strbuf_free(&sb);
}

/* As a server reads: read_ended, chunk data and FILDES's byte skipped. */
static void
fuzz_server(const uint8_t *s, size_t n)
{
	struct clamd_request req;
	size_t off = 0, used;
	uint32_t clen;
	unsigned id = 0;
	int rc;

	while ((rc = clamd_parse(s + off, n - off, true, &req, &used)) == 1) {
		fuzz_check(s + off, n - off, rc, &req, used);
		(void)clamd_cmd_allowed_in_session(req.cmd);
		fuzz_replies(&req, id++);
		off += used;
		if (req.cmd == CLAMD_CMD_FILDES && off < n)
			off++;
		if (req.cmd != CLAMD_CMD_INSTREAM)
			continue;
		while (clamd_chunk_header(s + off, n - off, &clen) == 1) {
			off += CLAMD_CHUNK_HDR;
			if (clen == 0)
				break;
			if (clen > n - off) {
				off = n;
				break;
			}
			off += clen;
		}
	}
	fuzz_check(s + off, n - off, rc, &req, used);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf whole, pieces;

	if (size < 1)
		return 0;
	/* one line per command of at least 2 bytes, the last one longer */
	strbuf_init(&whole, 64 * size + 64);
	strbuf_init(&pieces, 64 * size + 64);
	fuzz_stream(data + 1, size - 1, 0, &whole);
	fuzz_stream(data + 1, size - 1, 1u + data[0], &pieces);
	if (whole.failed || pieces.failed || whole.len != pieces.len ||
	    memcmp(strbuf_str(&whole), strbuf_str(&pieces), whole.len) != 0)
		abort();
	strbuf_free(&whole);
	strbuf_free(&pieces);
	fuzz_server(data + 1, size - 1);
	return 0;
}
