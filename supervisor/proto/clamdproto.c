/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The clamd protocol: command framing and parsing, chunk headers, replies. */
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clamdproto.h"

/* What clamd_parse() knows of a command. */
struct clamd_cmd_def {
	const char *name;
	size_t len;
	bool path;              /* takes " <path>" */
	bool session;           /* allowed inside IDSESSION */
	bool bare;              /* allowed without a z/n prefix */
};

#define CLAMD_DEF(n, p, s, b) { (n), sizeof(n) - 1, (p), (s), (b) }

/* Indexed by enum clamd_cmd; every entry below CLAMD_CMD_UNKNOWN is set. */
static const struct clamd_cmd_def clamd_cmds[CLAMD_CMD_UNKNOWN] = {
	[CLAMD_CMD_PING] = CLAMD_DEF("PING", false, true, true),
	[CLAMD_CMD_VERSION] = CLAMD_DEF("VERSION", false, true, true),
	[CLAMD_CMD_VERSIONCOMMANDS] =
	    CLAMD_DEF("VERSIONCOMMANDS", false, true, true),
	[CLAMD_CMD_RELOAD] = CLAMD_DEF("RELOAD", false, false, true),
	[CLAMD_CMD_SHUTDOWN] = CLAMD_DEF("SHUTDOWN", false, false, true),
	[CLAMD_CMD_SCAN] = CLAMD_DEF("SCAN", true, true, true),
	[CLAMD_CMD_CONTSCAN] = CLAMD_DEF("CONTSCAN", true, false, true),
	[CLAMD_CMD_MULTISCAN] = CLAMD_DEF("MULTISCAN", true, false, true),
	[CLAMD_CMD_ALLMATCHSCAN] = CLAMD_DEF("ALLMATCHSCAN", true, false, true),
	/* a bare reader cannot tell the command from the data after it */
	[CLAMD_CMD_INSTREAM] = CLAMD_DEF("INSTREAM", false, true, false),
	[CLAMD_CMD_FILDES] = CLAMD_DEF("FILDES", false, true, true),
	[CLAMD_CMD_STATS] = CLAMD_DEF("STATS", false, true, true),
	[CLAMD_CMD_IDSESSION] = CLAMD_DEF("IDSESSION", false, false, false),
	[CLAMD_CMD_END] = CLAMD_DEF("END", false, true, true),
	[CLAMD_CMD_QUIT] = CLAMD_DEF("QUIT", false, false, true),
	[CLAMD_CMD_DETSTATS] = CLAMD_DEF("DETSTATS", false, false, true),
	[CLAMD_CMD_DETSTATSCLEAR] = CLAMD_DEF("DETSTATSCLEAR", false, false, true),
};

const char *
clamd_strerror(int rc)
{
	switch (rc) {
	case CLAMD_OK: return "success";
	case CLAMD_ETOOLONG: return "command too long";
	case CLAMD_EUNKNOWN: return "unknown command";
	case CLAMD_EFRAMING: return "command not allowed in this framing";
	default: return "unknown error";
	}
}

static enum clamd_framing
clamd_framing_of(uint8_t first)
{
	if (first == 'z')
		return CLAMD_FRAMING_Z;
	if (first == 'n')
		return CLAMD_FRAMING_N;
	return CLAMD_FRAMING_BARE;
}

/*
 * The index of the terminator in p[from..n): 0 and *end, 1 when there is
 * none yet, or CLAMD_EFRAMING for a NUL inside an n line.
 */
static int
clamd_line_find(const uint8_t *p, size_t n, enum clamd_framing f,
    size_t *end)
{
	const uint8_t *t;
	size_t i;

	if (f == CLAMD_FRAMING_Z) {
		if ((t = memchr(p + 1, '\0', n - 1)) == NULL)
			return 1;
		*end = (size_t)(t - p);
		return 0;
	}
	for (i = f == CLAMD_FRAMING_N ? 1 : 0; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\0')
			break;
	}
	if (i == n)
		return 1;
	if (p[i] == '\0' && f == CLAMD_FRAMING_N)
		return CLAMD_EFRAMING;
	*end = i;
	return 0;
}

/* The command in p[0..n) (framing removed): 0 and req, or an error. */
static int
clamd_line_parse(const uint8_t *p, size_t n, enum clamd_framing f,
    struct clamd_request *req)
{
	const uint8_t *sp = memchr(p, ' ', n);
	size_t namelen = sp != NULL ? (size_t)(sp - p) : n;
	const struct clamd_cmd_def *d;
	int c;

	for (c = 0; c < CLAMD_CMD_UNKNOWN; c++) {
		d = &clamd_cmds[c];
		if (d->len == namelen && memcmp(d->name, p, namelen) == 0)
			break;
	}
	if (c == CLAMD_CMD_UNKNOWN || d->path != (sp != NULL))
		return CLAMD_EUNKNOWN;
	if (f == CLAMD_FRAMING_BARE && !d->bare)
		return CLAMD_EFRAMING;
	req->cmd = (enum clamd_cmd)c;
	if (d->path) {
		req->arg = (const char *)(sp + 1);
		req->arglen = n - namelen - 1;
	}
	return 0;
}

int
clamd_parse(const uint8_t *buf, size_t len, bool read_ended,
    struct clamd_request *req, size_t *consumed)
{
	size_t scan, start, end = 0, next;
	enum clamd_framing f;
	int rc;

	req->cmd = CLAMD_CMD_UNKNOWN;
	req->framing = CLAMD_FRAMING_BARE;
	req->arg = NULL;
	req->arglen = 0;
	*consumed = 0;
	if (len == 0)
		return 0;
	f = clamd_framing_of(buf[0]);
	req->framing = f;
	/* only the first CLAMD_COMMAND_MAX bytes decide */
	scan = len < CLAMD_COMMAND_MAX ? len : CLAMD_COMMAND_MAX;
	if ((rc = clamd_line_find(buf, scan, f, &end)) < 0)
		return rc;
	if (rc == 0)
		next = end + 1;
	else if (len >= CLAMD_COMMAND_MAX)
		return CLAMD_ETOOLONG;
	else if (f == CLAMD_FRAMING_BARE && read_ended)
		end = next = len;
	else
		return 0;
	start = f == CLAMD_FRAMING_BARE ? 0 : 1;
	while (f != CLAMD_FRAMING_Z && end > start && buf[end - 1] == '\r')
		end--;
	if ((rc = clamd_line_parse(buf + start, end - start, f, req)) != 0) {
		req->cmd = CLAMD_CMD_UNKNOWN;
		return rc;
	}
	*consumed = next;
	return 1;
}

int
clamd_request_path(const struct clamd_request *req, char *dst, size_t size)
{
	if (size > 0)
		dst[0] = '\0';
	if (req->arg == NULL)
		return CLAMD_EUNKNOWN;
	if (req->arglen >= size)
		return CLAMD_ETOOLONG;
	memcpy(dst, req->arg, req->arglen);
	dst[req->arglen] = '\0';
	return 0;
}

int
clamd_chunk_header(const uint8_t *buf, size_t len, uint32_t *chunk_len)
{
	*chunk_len = 0;
	if (len < CLAMD_CHUNK_HDR)
		return 0;
	*chunk_len = buf_load_be32(buf);
	return 1;
}

const char *
clamd_cmd_name(enum clamd_cmd cmd)
{
	if ((unsigned)cmd >= CLAMD_CMD_UNKNOWN)
		return "UNKNOWN";
	return clamd_cmds[cmd].name;
}

bool
clamd_cmd_allowed_in_session(enum clamd_cmd cmd)
{
	return (unsigned)cmd < CLAMD_CMD_UNKNOWN && clamd_cmds[cmd].session;
}

void
clamd_reply_begin(struct strbuf *sb, unsigned session_id)
{
	if (session_id > 0)
		strbuf_printf(sb, "%u: ", session_id);
}

void
clamd_reply_end(struct strbuf *sb, enum clamd_framing f)
{
	/* "" is one NUL byte */
	strbuf_append(sb, f == CLAMD_FRAMING_Z ? "" : "\n", 1);
}

void
clamd_reply_put(struct strbuf *sb, unsigned session_id,
    enum clamd_framing f, const char *text)
{
	clamd_reply_begin(sb, session_id);
	strbuf_puts(sb, text);
	clamd_reply_end(sb, f);
}

/* text with its control characters escaped (\n, \r, \t, \xNN) */
static void
clamd_put_escaped(struct strbuf *sb, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p != '\0') {
		size_t n = 0;

		while (p[n] >= 0x20 && p[n] != 0x7f)
			n++;
		strbuf_append(sb, p, n);
		p += n;
		if (*p == '\0')
			break;
		if (*p == '\n')
			strbuf_puts(sb, "\\n");
		else if (*p == '\r')
			strbuf_puts(sb, "\\r");
		else if (*p == '\t')
			strbuf_puts(sb, "\\t");
		else
			strbuf_printf(sb, "\\x%02x", *p);
		p++;
	}
}

void
clamd_reply_put_line(struct strbuf *sb, unsigned session_id,
    enum clamd_framing f, const char *text)
{
	clamd_reply_begin(sb, session_id);
	clamd_put_escaped(sb, text);
	clamd_reply_end(sb, f);
}

void
clamd_reply_ok(struct strbuf *sb, const char *name)
{
	strbuf_printf(sb, "%s: OK", name);
}

void
clamd_reply_found(struct strbuf *sb, const char *name, const char *sig)
{
	strbuf_printf(sb, "%s: %s FOUND", name, sig);
}

void
clamd_reply_error(struct strbuf *sb, const char *name, const char *reason)
{
	strbuf_printf(sb, "%s: %s ERROR", name, reason);
}

/* ctime()'s layout, local time, no newline: "Wed Jun 23 01:34:05 2021" */
#define CLAMD_TIME_FMT "%a %b %e %H:%M:%S %Y"

void
clamd_version_text(char *buf, size_t len, const char *engine,
    const struct clamd_db_version *db)
{
	char eng[128], when[64] = "";
	struct tm tm;
	time_t t;
	char *p;

	str_fmt(eng, sizeof(eng), "%s", engine);
	while ((p = strchr(eng, '/')) != NULL)
		*p = '-';   /* clients split the line at the first '/' */
	if (db == NULL) {
		str_fmt(buf, len, "%s%s", CLAMD_VERSION_PRODUCT, eng);
		return;
	}
	t = (time_t)db->built;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), CLAMD_TIME_FMT, &tm) == 0)
		str_fmt(when, sizeof(when), "%lld", (long long)db->built);
	str_fmt(buf, len, "%s%s/%u/%s", CLAMD_VERSION_PRODUCT, eng, db->version,
	    when);
}

void
clamd_stats_task(struct strbuf *sb, const char *cmd, double seconds,
    const char *file)
{
	strbuf_printf(sb, "\t%s %f ", cmd, seconds > 0 ? seconds : 0.0);
	if (file != NULL)
		clamd_put_escaped(sb, file);
	strbuf_puts(sb, "\n");
}

/* bytes as clamd's "%.3fM" */
static double
clamd_mb(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

void
clamd_stats_memstats(struct strbuf *sb, const struct clamd_memstats *m)
{
	strbuf_puts(sb, "MEMSTATS: ");
	if (m->known)
		strbuf_printf(sb, "heap %.3fM mmap %.3fM used %.3fM free %.3fM releasable %.3fM ",
		    clamd_mb(m->heap), clamd_mb(m->mmap), clamd_mb(m->used),
		    clamd_mb(m->free), clamd_mb(m->releasable));
	else
		strbuf_puts(sb, "heap N/A mmap N/A used N/A free N/A releasable N/A ");
	strbuf_printf(sb, "pools %u pools_used %.3fM pools_total %.3fM\n",
	    m->pools, clamd_mb(m->pools_used), clamd_mb(m->pools_total));
}
