/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The clamd protocol layer (supervisor/proto/clamdproto.c): every framing, the
 * cases clamd 1.4.6 was observed to answer (see clamdproto.h), pipelined
 * commands, commands split at every byte, the length cap at and one past
 * the limit, bare commands with and without the end of a read, paths
 * with spaces and newlines, chunk headers and the exact reply bytes.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clamdproto.h"
#include "strbuf.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* The replies of one test fit here; the cap itself is tested apart. */
#define TEST_REPLY_MAX 65536

static int
parse(const void *p, size_t len, bool ended, struct clamd_request *req,
    size_t *consumed)
{
	return clamd_parse(p, len, ended, req, consumed);
}

static void
assert_arg(const struct clamd_request *req, const char *want)
{
	if (want == NULL) {
		assert_null(req->arg);
		assert_int_equal(req->arglen, 0);
		return;
	}
	assert_non_null(req->arg);
	assert_int_equal(req->arglen, strlen(want));
	assert_memory_equal(req->arg, want, req->arglen);
}

/* ---- the table of single commands ---- */

struct parse_case {
	const char *in;
	size_t len;
	bool ended;             /* read_ended */
	int rc;
	enum clamd_cmd cmd;
	enum clamd_framing framing;
	const char *arg;        /* NULL: no path */
	size_t consumed;
};

#define OK(lit, ended, cmd, fr, arg, used) \
	{ S(lit), (ended), 1, CLAMD_CMD_##cmd, CLAMD_FRAMING_##fr, (arg), \
	    (used) }
#define MORE(lit, ended, fr) \
	{ S(lit), (ended), 0, CLAMD_CMD_UNKNOWN, CLAMD_FRAMING_##fr, NULL, 0 }
#define BAD(lit, ended, err, fr) \
	{ S(lit), (ended), (err), CLAMD_CMD_UNKNOWN, CLAMD_FRAMING_##fr, \
	    NULL, 0 }

static const struct parse_case parse_cases[] = {
	/* framing */
	OK("zPING\0", false, PING, Z, NULL, 6),
	OK("nPING\n", false, PING, N, NULL, 6),
	OK("nPING\r\n", false, PING, N, NULL, 7),
	OK("nPING\r\r\n", false, PING, N, NULL, 8),
	OK("PING", true, PING, BARE, NULL, 4),
	OK("PING\n", false, PING, BARE, NULL, 5),
	OK("PING\r\n", false, PING, BARE, NULL, 6),
	OK("PING\r", true, PING, BARE, NULL, 5),
	OK("PING\0", false, PING, BARE, NULL, 5),
	OK("PING\0junk", true, PING, BARE, NULL, 5),
	OK("PING\njunk", true, PING, BARE, NULL, 5),
	OK("PING\n\n", false, PING, BARE, NULL, 5),
	MORE("PING", false, BARE),
	MORE("PING\r", false, BARE),
	MORE("zPING", false, Z),
	MORE("zPING", true, Z),         /* z and n ignore read_ended */
	MORE("nPING\r", true, N),
	MORE("z", false, Z),
	MORE("n", true, N),
	MORE("", true, BARE),
	/* trailing garbage, case, whitespace: clamd's UNKNOWN COMMAND */
	BAD("zPING\r\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zPING\n\0", false, CLAMD_EUNKNOWN, Z),
	BAD("nPING \n", false, CLAMD_EUNKNOWN, N),
	BAD("nPING\t\n", false, CLAMD_EUNKNOWN, N),
	BAD("nPING\rX\n", false, CLAMD_EUNKNOWN, N),
	BAD("zPINGX\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zPING extra\0", false, CLAMD_EUNKNOWN, Z),
	BAD("PING extra", true, CLAMD_EUNKNOWN, BARE),
	BAD("PING \n", false, CLAMD_EUNKNOWN, BARE),
	BAD("zping\0", false, CLAMD_EUNKNOWN, Z),
	BAD("z\0", false, CLAMD_EUNKNOWN, Z),
	BAD("n\n", false, CLAMD_EUNKNOWN, N),
	BAD("n\r\n", false, CLAMD_EUNKNOWN, N),
	BAD("\n", false, CLAMD_EUNKNOWN, BARE),
	BAD("\0", false, CLAMD_EUNKNOWN, BARE),
	BAD("PI", true, CLAMD_EUNKNOWN, BARE),
	BAD("zFOO\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zINSTREAM x\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zIDSESSION extra\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zEND x\0", false, CLAMD_EUNKNOWN, Z),
	/* clamd 1.4.6: QUIT is SHUTDOWN; DETSTATS* close without a reply */
	OK("zQUIT\0", false, QUIT, Z, NULL, 6),
	OK("QUIT\n", false, QUIT, BARE, NULL, 5),
	OK("zDETSTATS\0", false, DETSTATS, Z, NULL, 10),
	OK("DETSTATS", true, DETSTATS, BARE, NULL, 8),
	OK("nDETSTATSCLEAR\n", false, DETSTATSCLEAR, N, NULL, 15),
	BAD("zDETSTATS x\0", false, CLAMD_EUNKNOWN, Z),
	BAD("nQUIT x\n", false, CLAMD_EUNKNOWN, N),
	BAD("zquit\0", false, CLAMD_EUNKNOWN, Z),
	BAD("Z" "PING\0", false, CLAMD_EUNKNOWN, BARE),
	/* NUL inside an n line; what bare framing cannot carry */
	BAD("nPING\0X\n", false, CLAMD_EFRAMING, N),
	BAD("nPING\0", false, CLAMD_EFRAMING, N),
	BAD("nSCAN /f\0junk\n", false, CLAMD_EFRAMING, N),
	BAD("INSTREAM\n", false, CLAMD_EFRAMING, BARE),
	BAD("INSTREAM", true, CLAMD_EFRAMING, BARE),
	BAD("IDSESSION", true, CLAMD_EFRAMING, BARE),
	OK("FILDES\n", false, FILDES, BARE, NULL, 7),
	/* paths */
	OK("zSCAN /f\0", false, SCAN, Z, "/f", 9),
	OK("zSCAN /a b/c d\0", false, SCAN, Z, "/a b/c d", 15),
	OK("zCONTSCAN /nl\nname\0", false, CONTSCAN, Z, "/nl\nname", 19),
	OK("zSCAN /f\n\0", false, SCAN, Z, "/f\n", 10),
	OK("zSCAN /f\r\0", false, SCAN, Z, "/f\r", 10),
	OK("zSCAN  /f\0", false, SCAN, Z, " /f", 10),
	OK("zSCAN /f \0", false, SCAN, Z, "/f ", 10),
	OK("zSCAN \0", false, SCAN, Z, "", 7),
	OK("zSCAN relative/path\0", false, SCAN, Z, "relative/path", 20),
	OK("zMULTISCAN /d\0", false, MULTISCAN, Z, "/d", 14),
	OK("zALLMATCHSCAN /f\0", false, ALLMATCHSCAN, Z, "/f", 17),
	OK("nSCAN /a b\n", false, SCAN, N, "/a b", 11),
	OK("nSCAN /f\r\n", false, SCAN, N, "/f", 10),
	OK("SCAN /f", true, SCAN, BARE, "/f", 7),
	OK("SCAN /f\r\n", false, SCAN, BARE, "/f", 9),
	OK("SCAN /nl\nname", true, SCAN, BARE, "/nl", 9),
	MORE("SCAN /f", false, BARE),
	BAD("zSCAN\0", false, CLAMD_EUNKNOWN, Z),
	BAD("nSCAN\n", false, CLAMD_EUNKNOWN, N),
	BAD("SCAN", true, CLAMD_EUNKNOWN, BARE),
	BAD("zSCANX/f\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zCONTSCAN\t/f\0", false, CLAMD_EUNKNOWN, Z),
	BAD("zscan /f\0", false, CLAMD_EUNKNOWN, Z),
	/* a command followed by its data */
	OK("zINSTREAM\0\0\0\0\x05hello\0\0\0\0", false, INSTREAM, Z, NULL, 10),
	OK("nINSTREAM\n\0\0\0\0", false, INSTREAM, N, NULL, 10),
	OK("zFILDES\0x", false, FILDES, Z, NULL, 8),
	OK("zIDSESSION\0zPING\0", false, IDSESSION, Z, NULL, 11),
	OK("nIDSESSION\nnPING\n", false, IDSESSION, N, NULL, 11),
	OK("zEND\0", false, END, Z, NULL, 5),
};

static void
test_parse_table(void **state)
{
	struct clamd_request req;
	size_t used, i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];

		memset(&req, 0x5a, sizeof(req));
		used = 12345;
		rc = parse(c->in, c->len, c->ended, &req, &used);
		if (rc != c->rc || req.cmd != c->cmd ||
		    req.framing != c->framing || used != c->consumed)
			fail_msg("case %zu (\"%s\"): rc %d cmd %d framing %d "
			    "used %zu", i, c->in, rc, req.cmd, req.framing,
			    used);
		assert_arg(&req, c->rc == 1 ? c->arg : NULL);
	}
}

/* ---- every command in every framing ---- */

static void
test_parse_every_command_in_every_framing(void **state)
{
	static const char pre[] = { 'z', 'n', 0 };
	static const char term[] = { '\0', '\n', '\n' };
	struct clamd_request req;
	char buf[64];
	size_t n, used;
	int c, f, rc;
	bool path;

	(void)state;
	for (c = 0; c < CLAMD_CMD_UNKNOWN; c++) {
		path = c == CLAMD_CMD_SCAN || c == CLAMD_CMD_CONTSCAN ||
		    c == CLAMD_CMD_MULTISCAN || c == CLAMD_CMD_ALLMATCHSCAN;
		for (f = CLAMD_FRAMING_Z; f <= CLAMD_FRAMING_BARE; f++) {
			n = 0;
			if (pre[f] != 0)
				buf[n++] = pre[f];
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
			    clamd_cmd_name((enum clamd_cmd)c),
			    path ? " /x y" : "");
			buf[n++] = term[f];
			rc = parse(buf, n, false, &req, &used);
			assert_int_equal(req.framing, f);
			if (f == CLAMD_FRAMING_BARE &&
			    (c == CLAMD_CMD_INSTREAM ||
			    c == CLAMD_CMD_IDSESSION)) {
				assert_int_equal(rc, CLAMD_EFRAMING);
				continue;
			}
			assert_int_equal(rc, 1);
			assert_int_equal(req.cmd, c);
			assert_int_equal(used, n);
			assert_arg(&req, path ? "/x y" : NULL);
		}
	}
}

/* ---- pipelining and splitting ---- */

/* What parsing a stream yields, one line per command, for comparison. */
static void
describe(struct strbuf *out, int rc, const struct clamd_request *req,
    size_t used)
{
	strbuf_printf(out, "%d %d %d %zu ", rc, req->cmd, req->framing, used);
	if (req->arg != NULL)
		strbuf_append(out, req->arg, req->arglen);
	strbuf_puts(out, "|");
}

static const char pipelined[] =
    "zIDSESSION\0zPING\0nVERSION\r\nzSCAN /a b/c\0nCONTSCAN /d e\n"
    "zINSTREAM\0\0\0\0\x03" "abc\0\0\0\0"
    "zFILDES\0x" "zSTATS\0nEND\n" "PING\n";

/* Every command of s at once, the way a server drains its buffer. */
static void
parse_whole(const char *s, size_t n, struct strbuf *out)
{
	struct clamd_request req;
	size_t off = 0, used;
	uint32_t clen;
	int rc;

	while ((rc = parse(s + off, n - off, true, &req, &used)) == 1) {
		describe(out, rc, &req, used);
		off += used;
		/* skip what the server would read as data */
		if (req.cmd == CLAMD_CMD_INSTREAM) {
			while (clamd_chunk_header((const uint8_t *)s + off,
			    n - off, &clen) == 1) {
				off += CLAMD_CHUNK_HDR + clen;
				if (clen == 0)
					break;
			}
		} else if (req.cmd == CLAMD_CMD_FILDES) {
			off++;
		}
	}
	describe(out, rc, &req, used);
}

static void
test_parse_pipelined_commands(void **state)
{
	struct strbuf out;

	(void)state;
	strbuf_init(&out, TEST_REPLY_MAX);
	parse_whole(pipelined, sizeof(pipelined) - 1, &out);
	assert_string_equal(strbuf_str(&out),
	    "1 12 0 11 |1 0 0 6 |1 1 1 10 |1 5 0 13 /a b/c|"
	    "1 6 1 15 /d e|1 9 0 10 |1 10 0 8 |1 11 0 7 |1 13 1 5 |"
	    "1 0 2 5 |0 17 2 0 |");   /* 17: CLAMD_CMD_UNKNOWN */
	strbuf_free(&out);
}

/*
 * The same stream arriving one byte at a time: no command is reported
 * before its last byte, and the results are those of the whole buffer
 * (bare commands are terminated here, so read_ended is not needed).
 */
static void
test_parse_split_at_every_byte(void **state)
{
	const char *s = pipelined;
	size_t n = sizeof(pipelined) - 1, off = 0, have, used;
	struct strbuf whole, split;
	struct clamd_request req;
	uint32_t clen;
	int rc;

	(void)state;
	strbuf_init(&whole, TEST_REPLY_MAX);
	strbuf_init(&split, TEST_REPLY_MAX);
	parse_whole(s, n, &whole);
	for (have = 1; have <= n; have++) {
		rc = parse(s + off, have - off, false, &req, &used);
		if (rc == 0)
			continue;
		assert_int_equal(rc, 1);
		assert_int_equal(off + used, have);     /* at its last byte */
		describe(&split, rc, &req, used);
		off += used;
		if (req.cmd == CLAMD_CMD_INSTREAM) {
			while (clamd_chunk_header((const uint8_t *)s + off,
			    n - off, &clen) == 1) {
				off += CLAMD_CHUNK_HDR + clen;
				if (clen == 0)
					break;
			}
			have = off;
		} else if (req.cmd == CLAMD_CMD_FILDES) {
			have = ++off;
		}
	}
	rc = parse(s + off, n - off, true, &req, &used);
	describe(&split, rc, &req, used);
	assert_string_equal(strbuf_str(&split), strbuf_str(&whole));
	strbuf_free(&whole);
	strbuf_free(&split);
}

/*
 * Each command of the table cut short anywhere: 0, or what the whole
 * input gives (an early error, or the same command ending at the same
 * byte, as "PING\0" in "PING\0junk").
 */
static void
test_parse_prefixes_never_complete_early(void **state)
{
	struct clamd_request req;
	size_t i, k, used, full_used;
	int rc, full;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];

		full = parse(c->in, c->len, false, &req, &full_used);
		for (k = 0; k < c->len; k++) {
			rc = parse(c->in, k, false, &req, &used);
			if (rc == 0)
				continue;
			if (rc != full || (rc == 1 && used != full_used))
				fail_msg("case %zu, %zu bytes: rc %d used %zu",
				    i, k, rc, used);
		}
	}
}

/* ---- the length cap ---- */

/* A command of exactly n bytes: pre, name, " /aaa...", term. */
static char *
long_command(const char *pre, const char *term, size_t n)
{
	size_t hl = strlen(pre), tl = strlen(term);
	char *s;

	/* term may be "" for "\0": the caller passes the NUL itself */
	assert_true(n > hl + tl + 1);
	s = malloc(n);
	assert_non_null(s);
	memcpy(s, pre, hl);
	memset(s + hl, 'a', n - hl - tl);
	s[hl] = '/';
	memcpy(s + n - tl, term, tl);
	return s;
}

static void
test_parse_length_at_limit_and_one_past(void **state)
{
	struct clamd_request req;
	size_t used, max = CLAMD_COMMAND_MAX;
	char *s;

	(void)state;
	/* z: exactly CLAMD_COMMAND_MAX bytes with the NUL */
	s = long_command("zSCAN ", "", max);
	s[max - 1] = '\0';
	assert_int_equal(parse(s, max, false, &req, &used), 1);
	assert_int_equal(used, max);
	assert_int_equal(req.arglen, max - 7);
	free(s);
	s = long_command("zSCAN ", "", max + 1);
	s[max] = '\0';
	assert_int_equal(parse(s, max + 1, false, &req, &used),
	    CLAMD_ETOOLONG);
	assert_int_equal(req.framing, CLAMD_FRAMING_Z);
	/* the first max bytes decide: no terminator there yet */
	assert_int_equal(parse(s, max - 1, false, &req, &used), 0);
	assert_int_equal(parse(s, max, false, &req, &used), CLAMD_ETOOLONG);
	free(s);

	/* n: the "\r\n" counts */
	s = long_command("nSCAN ", "\r\n", max);
	assert_int_equal(parse(s, max, false, &req, &used), 1);
	assert_int_equal(req.arglen, max - 8);
	free(s);
	s = long_command("nSCAN ", "\r\n", max + 1);
	assert_int_equal(parse(s, max + 1, false, &req, &used),
	    CLAMD_ETOOLONG);
	free(s);

	/* bare: with '\n' like n; without, at most max - 1 bytes */
	s = long_command("SCAN ", "\n", max);
	assert_int_equal(parse(s, max, false, &req, &used), 1);
	free(s);
	s = long_command("SCAN ", "", max - 1);
	assert_int_equal(parse(s, max - 1, false, &req, &used), 0);
	assert_int_equal(parse(s, max - 1, true, &req, &used), 1);
	assert_int_equal(used, max - 1);
	free(s);
	s = long_command("SCAN ", "", max);
	assert_int_equal(parse(s, max, true, &req, &used), CLAMD_ETOOLONG);
	assert_int_equal(parse(s, max, false, &req, &used), CLAMD_ETOOLONG);
	free(s);
}

static void
test_parse_longest_path_fits(void **state)
{
	struct clamd_request req;
	char path[PATH_MAX], *s;
	size_t used, n;

	(void)state;
	/* the longest path Linux takes, with the longest name, \r\n */
	n = 1 + strlen("ALLMATCHSCAN ") + (PATH_MAX - 1) + 2;
	assert_true(n <= CLAMD_COMMAND_MAX);
	s = long_command("nALLMATCHSCAN ", "\r\n", n);
	assert_int_equal(parse(s, n, false, &req, &used), 1);
	assert_int_equal(req.cmd, CLAMD_CMD_ALLMATCHSCAN);
	assert_int_equal(req.arglen, PATH_MAX - 1);
	assert_int_equal(clamd_request_path(&req, path, sizeof(path)), 0);
	assert_int_equal(strlen(path), PATH_MAX - 1);
	free(s);
}

static void
test_parse_huge_buffer_without_terminator(void **state)
{
	struct clamd_request req;
	size_t n = 1 << 20, used;
	char *s = malloc(n);

	(void)state;
	assert_non_null(s);
	memset(s, 'A', n);
	s[0] = 'z';
	assert_int_equal(parse(s, n, false, &req, &used), CLAMD_ETOOLONG);
	s[0] = 'n';
	assert_int_equal(parse(s, n, false, &req, &used), CLAMD_ETOOLONG);
	s[0] = 'S';
	assert_int_equal(parse(s, n, true, &req, &used), CLAMD_ETOOLONG);
	/* a terminator past the cap changes nothing */
	s[n - 1] = '\0';
	s[0] = 'z';
	assert_int_equal(parse(s, n, false, &req, &used), CLAMD_ETOOLONG);
	free(s);
}

/* ---- outputs ---- */

static void
test_parse_clears_outputs_except_framing(void **state)
{
	struct clamd_request req;
	size_t used;

	(void)state;
	memset(&req, 0x5a, sizeof(req));
	used = 99;
	assert_int_equal(parse(S("nFOO\n"), false, &req, &used),
	    CLAMD_EUNKNOWN);
	assert_int_equal(req.cmd, CLAMD_CMD_UNKNOWN);
	assert_int_equal(req.framing, CLAMD_FRAMING_N);
	assert_null(req.arg);
	assert_int_equal(req.arglen, 0);
	assert_int_equal(used, 0);

	memset(&req, 0x5a, sizeof(req));
	assert_int_equal(parse("", 0, true, &req, &used), 0);
	assert_int_equal(req.cmd, CLAMD_CMD_UNKNOWN);
	assert_int_equal(req.framing, CLAMD_FRAMING_BARE);
	assert_null(req.arg);
}

static void
test_request_path_copies_with_a_nul(void **state)
{
	struct clamd_request req;
	char dst[8];
	size_t used;

	(void)state;
	assert_int_equal(parse(S("zSCAN /a b c\0"), false, &req, &used), 1);
	assert_int_equal(clamd_request_path(&req, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "/a b c");
	/* 7 bytes and the NUL fit in 8; 8 do not */
	assert_int_equal(parse(S("zSCAN /abcdef\0"), false, &req, &used), 1);
	assert_int_equal(clamd_request_path(&req, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "/abcdef");
	assert_int_equal(parse(S("zSCAN /abcdefg\0"), false, &req, &used), 1);
	assert_int_equal(clamd_request_path(&req, dst, sizeof(dst)),
	    CLAMD_ETOOLONG);
	assert_string_equal(dst, "");
	assert_int_equal(parse(S("zSCAN \0"), false, &req, &used), 1);
	assert_int_equal(clamd_request_path(&req, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "");
	assert_int_equal(parse(S("zPING\0"), false, &req, &used), 1);
	assert_int_equal(clamd_request_path(&req, dst, sizeof(dst)),
	    CLAMD_EUNKNOWN);
	assert_string_equal(dst, "");
}

/* ---- INSTREAM chunk headers ---- */

static void
test_chunk_header_table(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		int rc;
		uint32_t want;
	} cases[] = {
		{ S(""), 0, 0 },
		{ S("\0"), 0, 0 },
		{ S("\0\0\0"), 0, 0 },
		{ S("\0\0\0\0"), 1, 0 },
		{ S("\0\0\0\x05hello"), 1, 5 },
		{ S("\0\0\x04\0"), 1, 1024 },
		{ S("\x7f\0\0\0"), 1, 0x7f000000u },
		{ S("\xff\xff\xff\xff"), 1, 0xffffffffu },
		{ S("\x01\x02\x03\x04\x05"), 1, 0x01020304u },
	};
	uint32_t got;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = 77;
		assert_int_equal(clamd_chunk_header((const uint8_t *)
		    cases[i].in, cases[i].len, &got), cases[i].rc);
		assert_int_equal(got, cases[i].want);
	}
}

/* ---- replies ---- */

static void
assert_bytes(const struct strbuf *sb, const char *want, size_t len)
{
	assert_false(sb->failed);
	assert_int_equal(sb->len, len);
	assert_memory_equal(sb->buf, want, len);
}

static void
test_reply_exact_bytes(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, TEST_REPLY_MAX);
	clamd_reply_put(&sb, 0, CLAMD_FRAMING_Z, CLAMD_REPLY_PONG);
	assert_bytes(&sb, S("PONG\0"));
	strbuf_reset(&sb);
	clamd_reply_put(&sb, 0, CLAMD_FRAMING_N, CLAMD_REPLY_PONG);
	assert_bytes(&sb, S("PONG\n"));
	strbuf_reset(&sb);
	clamd_reply_put(&sb, 0, CLAMD_FRAMING_BARE, CLAMD_REPLY_UNKNOWN);
	assert_bytes(&sb, S("UNKNOWN COMMAND\n"));
	strbuf_reset(&sb);

	/* a session: ids prefix each reply, each ends as its command */
	clamd_reply_put(&sb, 1, CLAMD_FRAMING_Z, CLAMD_REPLY_PONG);
	clamd_reply_put(&sb, 2, CLAMD_FRAMING_N, CLAMD_REPLY_PONG);
	clamd_reply_begin(&sb, 3);
	clamd_reply_found(&sb, "/tmp/a b.txt", "Eicar-Test-Signature");
	clamd_reply_end(&sb, CLAMD_FRAMING_Z);
	clamd_reply_begin(&sb, 4294967295u);
	clamd_reply_ok(&sb, CLAMD_NAME_STREAM);
	clamd_reply_end(&sb, CLAMD_FRAMING_Z);
	clamd_reply_begin(&sb, 5);
	clamd_reply_error(&sb, "fd[11]", "Can't open file");
	clamd_reply_end(&sb, CLAMD_FRAMING_N);
	assert_bytes(&sb, S("1: PONG\0" "2: PONG\n"
	    "3: /tmp/a b.txt: Eicar-Test-Signature FOUND\0"
	    "4294967295: stream: OK\0" "5: fd[11]: Can't open file ERROR\n"));
	strbuf_reset(&sb);

	/* a z reply to a path holding a newline is still one reply */
	clamd_reply_begin(&sb, 0);
	clamd_reply_ok(&sb, "/nl\nname");
	clamd_reply_end(&sb, CLAMD_FRAMING_Z);
	assert_bytes(&sb, S("/nl\nname: OK\0"));
	strbuf_reset(&sb);

	/* put_line: a name's control characters cannot end the line early
	 * (in n framing "\n/x: Eicar FOUND" would be a forged second reply) */
	clamd_reply_put_line(&sb, 0, CLAMD_FRAMING_N,
	    "/d/a\n/d/b: Eicar FOUND\r\t\x01\x7f\xc3\xa9: OK");
	assert_bytes(&sb, S("/d/a\\n/d/b: Eicar FOUND\\r\\t\\x01\\x7f\xc3\xa9: OK\n"));
	strbuf_reset(&sb);
	clamd_reply_put_line(&sb, 7, CLAMD_FRAMING_Z, "plain: OK");
	assert_bytes(&sb, S("7: plain: OK\0"));
	strbuf_reset(&sb);
	/* every framing, a session id too: the same escapes, one reply */
	clamd_reply_put_line(&sb, 3, CLAMD_FRAMING_BARE,
	    "/d/x\neicar.com: Eicar-Test-Signature FOUND\x1b[2K: OK");
	assert_bytes(&sb, S("3: /d/x\\neicar.com: Eicar-Test-Signature FOUND\\x1b[2K: OK\n"));
	strbuf_reset(&sb);
	clamd_reply_put_line(&sb, 12, CLAMD_FRAMING_Z, "/d/y\r\n1: /d/z: OK: OK");
	assert_bytes(&sb, S("12: /d/y\\r\\n1: /d/z: OK: OK\0"));
	strbuf_reset(&sb);
	clamd_reply_put_line(&sb, 0, CLAMD_FRAMING_N, "\x1f\x7f\x80\xff");
	assert_bytes(&sb, S("\\x1f\\x7f\x80\xff\n"));
	strbuf_free(&sb);
}

static void
test_reply_constants_are_clamds_texts(void **state)
{
	struct strbuf sb;

	(void)state;
	/* as clamd 1.4.6 sent them, byte for byte */
	assert_string_equal(CLAMD_REPLY_SESSION_BARE,
	    "Only nCMDS\x5cn and zCMDS\x5c" "0 are accepted inside "
	    "IDSESSION. ERROR");
	assert_int_equal(strlen(CLAMD_REPLY_SESSION_BARE), 61);
	assert_string_equal(CLAMD_REPLY_TIMEOUT, "COMMAND READ TIMED OUT");
	assert_string_equal(CLAMD_REPLY_STREAM_LIMIT,
	    "INSTREAM size limit exceeded. ERROR");
	assert_string_equal(CLAMD_REPLY_STRAY_FD, "PROTOCOL ERROR: ancillary "
	    "data sent without FILDES. ERROR");
	assert_string_equal(CLAMD_REPLY_SESSION_INVALID,
	    "Command invalid inside IDSESSION. ERROR");
	strbuf_init(&sb, TEST_REPLY_MAX);
	clamd_reply_put(&sb, 7, CLAMD_FRAMING_Z, CLAMD_REPLY_SESSION_BARE);
	assert_bytes(&sb, S("7: Only nCMDS\\n and zCMDS\\0 are accepted "
	    "inside IDSESSION. ERROR\0"));
	strbuf_free(&sb);
}

static void
test_reply_over_the_cap_sets_failed(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 8);
	clamd_reply_put(&sb, 0, CLAMD_FRAMING_Z, CLAMD_REPLY_PONG);
	assert_bytes(&sb, S("PONG\0"));
	clamd_reply_found(&sb, "/f", "Sig");
	assert_true(sb.failed);
	assert_int_equal(sb.len, 5);
	strbuf_free(&sb);
}

/* ---- names, the session table, VERSIONCOMMANDS ---- */

static void
test_cmd_names_and_session_table(void **state)
{
	static const struct {
		enum clamd_cmd cmd;
		const char *name;
		bool session;
	} cases[] = {
		{ CLAMD_CMD_PING, "PING", true },
		{ CLAMD_CMD_VERSION, "VERSION", true },
		{ CLAMD_CMD_VERSIONCOMMANDS, "VERSIONCOMMANDS", true },
		{ CLAMD_CMD_RELOAD, "RELOAD", false },
		{ CLAMD_CMD_SHUTDOWN, "SHUTDOWN", false },
		{ CLAMD_CMD_SCAN, "SCAN", true },
		{ CLAMD_CMD_CONTSCAN, "CONTSCAN", false },
		{ CLAMD_CMD_MULTISCAN, "MULTISCAN", false },
		{ CLAMD_CMD_ALLMATCHSCAN, "ALLMATCHSCAN", false },
		{ CLAMD_CMD_INSTREAM, "INSTREAM", true },
		{ CLAMD_CMD_FILDES, "FILDES", true },
		{ CLAMD_CMD_STATS, "STATS", true },
		{ CLAMD_CMD_IDSESSION, "IDSESSION", false },
		{ CLAMD_CMD_END, "END", true },
		{ CLAMD_CMD_QUIT, "QUIT", false },
		{ CLAMD_CMD_DETSTATS, "DETSTATS", false },
		{ CLAMD_CMD_DETSTATSCLEAR, "DETSTATSCLEAR", false },
		{ CLAMD_CMD_UNKNOWN, "UNKNOWN", false },
		{ (enum clamd_cmd)99, "UNKNOWN", false },
		{ (enum clamd_cmd)-1, "UNKNOWN", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(clamd_cmd_name(cases[i].cmd),
		    cases[i].name);
		assert_int_equal(clamd_cmd_allowed_in_session(cases[i].cmd),
		    cases[i].session);
	}
}

/* The list names every command the parser knows, each once, no more. */
static void
test_commands_list_matches_the_parser(void **state)
{
	static const char head[] = "| COMMANDS: ";
	const char *p = CLAMD_COMMANDS_LIST, *end, *sp;
	bool seen[CLAMD_CMD_UNKNOWN] = { false };
	struct clamd_request req;
	char buf[64];
	size_t n, used;
	int c;

	(void)state;
	assert_memory_equal(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	end = p + strlen(p);
	while (p < end) {
		sp = memchr(p, ' ', (size_t)(end - p));
		n = (size_t)((sp != NULL ? sp : end) - p);
		assert_true(n > 0 && n + 5 < sizeof(buf));
		buf[0] = 'z';
		memcpy(buf + 1, p, n);
		buf[n + 1] = '\0';
		if (parse(buf, n + 2, false, &req, &used) != 1) {
			memcpy(buf + n + 1, " /\0", 3);
			assert_int_equal(parse(buf, n + 4, false, &req, &used),
			    1);
		}
		assert_false(seen[req.cmd]);
		seen[req.cmd] = true;
		p += n + (sp != NULL);
	}
	for (c = 0; c < CLAMD_CMD_UNKNOWN; c++)
		assert_true(seen[c]);
}

/* clamd 1.4.6's VERSIONCOMMANDS tail, byte for byte */
static void
test_commands_list_is_clamds(void **state)
{
	(void)state;
	assert_string_equal(CLAMD_COMMANDS_LIST, "| COMMANDS: SCAN QUIT RELOAD "
	    "PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN "
	    "FILDES STATS IDSESSION INSTREAM DETSTATSCLEAR DETSTATS "
	    "ALLMATCHSCAN");
}

/* ---- VERSION and STATS texts ---- */

static void
test_version_text(void **state)
{
	/* test-6.cvd's build time: 22 Jun 2021 21:34:05 -0400 */
	struct clamd_db_version db = { .version = 6, .built = 1624412045 };
	char buf[128], small[12];
	const char *s;
	char *end;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	clamd_version_text(buf, sizeof(buf), "1.4.6", &db);
	assert_string_equal(buf, "ClamAV 1.4.6/6/Wed Jun 23 01:34:05 2021");
	db.built = 1749288783;   /* a single-digit day: padded with a space */
	clamd_version_text(buf, sizeof(buf), "1.4.6", &db);
	assert_string_equal(buf, "ClamAV 1.4.6/6/Sat Jun  7 09:33:03 2025");
	clamd_version_text(buf, sizeof(buf), "1.4.6", NULL);
	assert_string_equal(buf, "ClamAV 1.4.6");
	/* a '/' in the engine would shift the fields clients split */
	clamd_version_text(buf, sizeof(buf), "0.1.0-x/y", &db);
	assert_memory_equal(buf, "ClamAV 0.1.0-x-y/6/", 19);
	/* c-icap's reading: "ClamAV", %d.%d.%d after it, strtol after '/' */
	clamd_version_text(buf, sizeof(buf), "0.1.0-ampscan-builtin", &db);
	assert_int_equal(strncmp(buf, "ClamAV ", 7), 0);
	assert_int_equal(strtol(buf + 7, &end, 10), 0);   /* "0.1.0": 3 numbers */
	assert_true(end > buf + 7 && *end == '.');
	assert_int_equal(strtol(end + 1, &end, 10), 1);
	assert_true(*end == '.');
	s = strchr(buf, '/');
	assert_non_null(s);
	assert_int_equal(strtol(s + 1, NULL, 10), 6);
	/* cut, always terminated */
	clamd_version_text(small, sizeof(small), "1.4.6", &db);
	assert_string_equal(small, "ClamAV 1.4.");
}

static void
test_stats_lines(void **state)
{
	struct clamd_memstats m = { .known = false, .pools = 1,
	    .pools_used = 6209863, .pools_total = 6290407 };
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	clamd_stats_task(&sb, "IDLE", 0.000323, NULL);
	clamd_stats_task(&sb, "SCAN", 1.5, "/tmp/a b");
	clamd_stats_task(&sb, "SCAN", -2.0, "/x\ny\t");
	clamd_stats_task(&sb, "INSTREAM", 0.25, "");
	assert_string_equal(strbuf_str(&sb), "\tIDLE 0.000323 \n"
	    "\tSCAN 1.500000 /tmp/a b\n"
	    "\tSCAN 0.000000 /x\\ny\\t\n"
	    "\tINSTREAM 0.250000 \n");
	strbuf_reset(&sb);
	clamd_stats_memstats(&sb, &m);
	assert_string_equal(strbuf_str(&sb), "MEMSTATS: heap N/A mmap N/A used "
	    "N/A free N/A releasable N/A pools 1 pools_used 5.922M "
	    "pools_total 5.999M\n");
	strbuf_reset(&sb);
	m = (struct clamd_memstats){ .known = true, .heap = 3u << 20,
	    .mmap = 1u << 19, .used = (7u << 19), .pools = 4,
	    .pools_used = 10u << 20, .pools_total = 10u << 20 };
	clamd_stats_memstats(&sb, &m);
	assert_string_equal(strbuf_str(&sb), "MEMSTATS: heap 3.000M mmap 0.500M "
	    "used 3.500M free 0.000M releasable 0.000M pools 4 pools_used "
	    "10.000M pools_total 10.000M\n");
	assert_false(sb.failed);
	strbuf_free(&sb);
}

static void
test_strerror_names_every_error(void **state)
{
	(void)state;
	for (int rc = CLAMD_EFRAMING; rc <= CLAMD_OK; rc++)
		assert_string_not_equal(clamd_strerror(rc), "unknown error");
	assert_string_equal(clamd_strerror(-100), "unknown error");
	assert_string_equal(clamd_strerror(CLAMD_EUNKNOWN), "unknown command");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_every_command_in_every_framing),
		cmocka_unit_test(test_parse_pipelined_commands),
		cmocka_unit_test(test_parse_split_at_every_byte),
		cmocka_unit_test(test_parse_prefixes_never_complete_early),
		cmocka_unit_test(test_parse_length_at_limit_and_one_past),
		cmocka_unit_test(test_parse_longest_path_fits),
		cmocka_unit_test(test_parse_huge_buffer_without_terminator),
		cmocka_unit_test(test_parse_clears_outputs_except_framing),
		cmocka_unit_test(test_request_path_copies_with_a_nul),
		cmocka_unit_test(test_chunk_header_table),
		cmocka_unit_test(test_reply_exact_bytes),
		cmocka_unit_test(test_reply_constants_are_clamds_texts),
		cmocka_unit_test(test_reply_over_the_cap_sets_failed),
		cmocka_unit_test(test_cmd_names_and_session_table),
		cmocka_unit_test(test_commands_list_matches_the_parser),
		cmocka_unit_test(test_commands_list_is_clamds),
		cmocka_unit_test(test_version_text),
		cmocka_unit_test(test_stats_lines),
		cmocka_unit_test(test_strerror_names_every_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
