/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The clamd protocol on the scan socket, as a pure layer: split the bytes
 * a client sent into commands, read INSTREAM chunk headers, and format
 * replies.  No sockets, no event loop, no allocation except through the
 * caller's strbuf.  The server (scansock.c) keeps the connection state:
 * the session, its ids, what it reads after INSTREAM and FILDES.
 * What we accept and answer, for users: docs/scan-protocol.md.
 *
 * What Debian's clamd 1.4.6 does, observed by sending raw bytes to it
 * over its LocalSocket (the facts this module follows, and where it
 * chooses to differ):
 *
 * Framing
 *   "zPING\0" -> "PONG\0"   "nPING\n" -> "PONG\n"   "PING" -> "PONG\n"
 *   "PING\n", "PING\r\n", "PING\r", "PING\0", "PING\0junk", "PING\njunk"
 *     (bare, one read each) -> "PONG\n": a bare command ends at the first
 *     '\n' or NUL, else at the end of the read; trailing '\r' dropped.
 *   "PI" then "NG\n" in two reads -> "UNKNOWN COMMAND\n": one read is one
 *     bare command.  z and n commands may arrive split anywhere.
 *   "nPING\r\n", "nPING\r\r\n" -> "PONG\n" (trailing '\r's dropped).  But
 *     clamd then parses the '\n' left behind as another command
 *     ("nSCAN /f\r\n" -> "Error processing command. ERROR\n" and the
 *     scan's reply; inside IDSESSION the '\n' draws the "Only nCMDS"
 *     error below and the session closes).  We take the whole "\r\n"
 *     as the terminator and answer once.
 *   "zPING\r\0", "zPING\n\0", "nPING \n", "nPING\t\n", "nPING\rX\n",
 *     "zPING extra\0", "zPINGX\0", "zping\0", "z\0", "n\n", "zFOO\0",
 *     "zSCAN\0" (no path), "zINSTREAM x\0", "zIDSESSION extra\0"
 *     -> "UNKNOWN COMMAND" + the framing's terminator, then close.  Names
 *     are case-sensitive; no whitespace is trimmed in z framing.
 *   "nPING\0X\n" -> "PONG\n" (clamd cuts the line at the NUL).  We
 *     refuse a NUL inside an n line: CLAMD_EFRAMING.
 *   Bare "INSTREAM\n" and bare "IDSESSION" -> "UNKNOWN COMMAND\n"; bare
 *     FILDES works.  We return CLAMD_EFRAMING for those two.
 *   More than 4104 bytes (PATH_MAX + 8, prefix and terminator included)
 *     without a z/n terminator: clamd closes without a reply (the client
 *     sees a reset).  A bare read is cut to that size.
 *   Pipelined outside a session ("zPING\0zPING\0", "PING\nPING\n"): one
 *     reply, the rest is ignored, the connection closes.
 *   No complete command within CommandReadTimeout (also when nothing at
 *     all was sent, and after FILDES without the fd): "COMMAND READ
 *     TIMED OUT\n" -- always '\n', whatever the framing -- and close.
 *   A client that closes before a complete command gets nothing.
 *
 * Paths (SCAN, CONTSCAN, MULTISCAN, ALLMATCHSCAN)
 *   clamd matches the name as a prefix and skips any one byte after it:
 *   "zSCANX/f\0" and "zCONTSCAN\t/f\0" scan /f.  "zSCAN  /f\0" scans
 *   " /f"; "zSCAN \0" answers ": File path check failure: No such file or
 *   directory. ERROR\0"; a relative path is scanned relative to clamd's
 *   cwd.  "zSCAN /a b/c d\0" and "zSCAN /nl\nname\0" work (the rest of
 *   the line, spaces and newlines included, is the path);
 *   "zSCAN /f\n\0" looks for "/f\n".  We require exactly one space after
 *   the name ("SCANX/f" is CLAMD_EUNKNOWN) and give the rest of the line
 *   as the path, possibly empty; the server judges it.
 *
 * Commands and replies (1.4.6)
 *   VERSION -> "ClamAV 1.4.6" (libclamav's version), plus
 *     "/<version>/<build time>" when a database named daily.cvd or
 *     daily.cld is in DatabaseDirectory ("ClamAV 1.4.6/6/Wed Jun 23
 *     01:34:05 2021": the header's build time in seconds, as ctime()
 *     writes it in local time, day of month padded with a space).  We
 *     name daily, else main, else the first active container by name
 *     (clamd_version_text()).
 *   VERSIONCOMMANDS -> "ClamAV 1.4.6| COMMANDS: SCAN QUIT RELOAD PING
 *     CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS
 *     IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN" (no space
 *     before '|'; the version with its "/db/date" when there is one).
 *     RELOAD -> "RELOADING".
 *   STATS (any framing: '\n' between the lines, the framing's
 *     terminator after END):
 *       "POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live 2  idle 1 max 2
 *       idle-timeout 30\nQUEUE: 0 items\n\tIDLE 0.000323 \n\tSTATS
 *       0.000003 \n\nMEMSTATS: heap N/A mmap N/A used N/A free N/A
 *       releasable N/A pools 1 pools_used 5.922M pools_total 5.999M\nEND"
 *     A thread scanning: "\tSCAN 0.014256 /tmp/cv/big.bin".
 *     One "\t<COMMAND> <seconds, %f> <file>" line per thread (IDLE and
 *     its idle time for an idle one; the space before the empty file is
 *     there, and clamdtop shows no row without it), queued jobs likewise
 *     after them.  Two spaces after "live N".  clamdtop reads "live %u
 *     idle %u max %u", "QUEUE: %u", the tab lines (a number after the
 *     first space, the file after the second) and MEMSTATS either as
 *     eight "%lfM"-style figures or as the N/A form above.
 *   QUIT is an alias of SHUTDOWN: it stops clamd, no reply.  clamd 1.4
 *     has no EnableShutdownCommand: SHUTDOWN always works there;
 *     "COMMAND UNAVAILABLE" is ampdaemon's own reply, to QUIT as well.
 *   DETSTATS, DETSTATSCLEAR (bare too): clamd closes without a reply,
 *     and so do we.  Inside IDSESSION they and QUIT are "Command invalid
 *     inside IDSESSION".  "zDETSTATS x\0",
 *     "nQUIT x\n" -> "UNKNOWN COMMAND".
 *   END outside a session -> "UNKNOWN COMMAND".
 *   Scan replies: "/f: Sig.Name FOUND", "/d: OK", "/f: File path check
 *     failure: No such file or directory. ERROR", "stream: OK",
 *     "fd[11]: Sig.Name FOUND".
 *   INSTREAM: chunk lengths are 4-byte big-endian, split anywhere; a
 *     length past StreamMaxLength -> "INSTREAM size limit exceeded.
 *     ERROR" and close.  End of file inside the stream: no reply.
 *   FILDES then a byte without SCM_RIGHTS -> "No file descriptor
 *     received. ERROR" (the contract's "FILDES: didn't receive file
 *     descriptor. ERROR" is in the binary too, on a rarer path).  The fd
 *     attached to the FILDES command's own bytes -> "PROTOCOL ERROR:
 *     ancillary data sent without FILDES. ERROR" then "Error processing
 *     command. ERROR".  An fd attached to a zPING is ignored ("PONG").
 *
 * IDSESSION
 *   "zIDSESSION\0zPING\0zVERSION\0zEND\0" -> "1: PONG\0" "2: ClamAV
 *     1.4.6\0", then close at END (END itself gets no reply).  Ids count
 *   every command after IDSESSION, refused ones included.  Each reply
 *   ends as its own command was framed ("zIDSESSION\0nPING\nzPING\0" ->
 *   "1: PONG\n2: PONG\0"); an n IDSESSION works the same.
 *   Allowed inside: PING VERSION VERSIONCOMMANDS STATS SCAN INSTREAM
 *     FILDES END.  CONTSCAN, MULTISCAN, ALLMATCHSCAN, RELOAD, SHUTDOWN,
 *     IDSESSION, DETSTATS and unknown or malformed commands ("zFOO\0",
 *     "zPING extra\0") -> "<id>: Command invalid inside IDSESSION.
 *     ERROR" and close.  clamd_cmd_allowed_in_session() follows this.
 *   A bare command inside -> "<id>: Only nCMDS\n and zCMDS\0 are
 *     accepted inside IDSESSION. ERROR" (backslash-n and backslash-0
 *     as literal text), then "<id>: Error processing command. ERROR", close.
 *   Client closes without END: the replies due are sent, then close.
 *   An idle session is closed after IdleTimeout, without a reply.
 */
#ifndef AMPSCAN_CLAMDPROTO_H
#define AMPSCAN_CLAMDPROTO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/*
 * The most bytes one command takes, framing prefix and terminator (all
 * of "\r\n") included: "zALLMATCHSCAN " + a path of PATH_MAX - 1 bytes +
 * NUL fits, with room for "\r"s.  A bare command without a terminator
 * may be at most CLAMD_COMMAND_MAX - 1 bytes.  clamd's limit is 4104.
 */
#define CLAMD_COMMAND_MAX (PATH_MAX + 64)
#define CLAMD_CHUNK_HDR 4       /* INSTREAM: u32 big-endian length */

enum clamd_error {
	CLAMD_OK = 0,
	CLAMD_ETOOLONG = -1,    /* no terminator in CLAMD_COMMAND_MAX bytes */
	CLAMD_EUNKNOWN = -2,    /* not a command of ours, trailing garbage,
	                         * a path command without " path" */
	CLAMD_EFRAMING = -3,    /* a NUL inside an n line; INSTREAM or
	                         * IDSESSION without a z/n prefix */
};

/* How a command was framed; its reply ends the same way. */
enum clamd_framing {
	CLAMD_FRAMING_Z,        /* "z...\0", reply ends with '\0' */
	CLAMD_FRAMING_N,        /* "n...\n", reply ends with '\n' */
	CLAMD_FRAMING_BARE,     /* no prefix, reply ends with '\n' */
};

enum clamd_cmd {
	CLAMD_CMD_PING,
	CLAMD_CMD_VERSION,
	CLAMD_CMD_VERSIONCOMMANDS,
	CLAMD_CMD_RELOAD,
	CLAMD_CMD_SHUTDOWN,
	CLAMD_CMD_SCAN,
	CLAMD_CMD_CONTSCAN,
	CLAMD_CMD_MULTISCAN,
	CLAMD_CMD_ALLMATCHSCAN,
	CLAMD_CMD_INSTREAM,
	CLAMD_CMD_FILDES,
	CLAMD_CMD_STATS,
	CLAMD_CMD_IDSESSION,
	CLAMD_CMD_END,
	CLAMD_CMD_QUIT,         /* SHUTDOWN's alias */
	CLAMD_CMD_DETSTATS,     /* closed without a reply */
	CLAMD_CMD_DETSTATSCLEAR,
	CLAMD_CMD_UNKNOWN,
};

/*
 * One command.  arg points into the caller's buffer and is NOT
 * NUL-terminated: arglen bytes, never containing a NUL (it cannot: NUL
 * ends a z or bare command and is refused inside an n line).  It may
 * contain spaces, and '\n' or '\r' in z framing.  For the four path
 * commands it is the rest of the line after the one space (possibly
 * empty: the server answers path errors, like a relative path); for the
 * others arg is NULL and arglen 0.  Copy it with clamd_request_path().
 */
struct clamd_request {
	enum clamd_cmd cmd;
	enum clamd_framing framing;
	const char *arg;
	size_t arglen;
};

/* A short text for a clamd_error ("unknown command", ...). */
const char *clamd_strerror(int rc);

/*
 * Find the first command at the start of buf (the bytes received so far
 * on a connection, which may hold several pipelined commands, or a
 * command followed by INSTREAM chunks or FILDES's dummy byte).
 *
 * The framing is the first byte: 'z' -> up to the first NUL; 'n' -> up
 * to the first '\n' (trailing '\r's dropped; a NUL before the '\n' is
 * CLAMD_EFRAMING); anything else is bare -> up to the first '\n' or NUL,
 * or, when read_ended (the server's read returned and nothing more is
 * pending: clamd takes one read as one bare command), the whole buffer;
 * trailing '\r's dropped.  z and n ignore read_ended.
 *
 * Returns 1 when a command is complete: *req set, *consumed its bytes
 * (prefix and terminator included, <= CLAMD_COMMAND_MAX), the next
 * command or data starting at buf + *consumed; 0 when more bytes are
 * needed (always while len is 0); or a negative clamd_error, after
 * which the server answers and closes.  The result depends only on the
 * first CLAMD_COMMAND_MAX bytes, and a longer buffer never changes a
 * non-zero result (except a bare command ended by read_ended), so the
 * server can parse after every read.
 *
 * req->framing is set on every return when len > 0, errors included, so
 * that the error reply can be terminated right; the rest of *req and
 * *consumed are cleared, and set only when 1 is returned.
 */
int clamd_parse(const uint8_t *buf, size_t len, bool read_ended,
    struct clamd_request *req, size_t *consumed);

/*
 * Copy req's path into dst (size bytes, e.g. PATH_MAX) with a NUL: 0,
 * CLAMD_ETOOLONG when it does not fit, or CLAMD_EUNKNOWN when req has
 * no path (not one of the four path commands).  On error dst holds ""
 * (when size > 0).
 */
int clamd_request_path(const struct clamd_request *req, char *dst,
    size_t size);

/*
 * An INSTREAM chunk header at the start of buf: 1 and *chunk_len (a
 * length of 0 ends the stream), or 0 when fewer than CLAMD_CHUNK_HDR
 * bytes are there (*chunk_len 0).  The length is the peer's: check it
 * against the quota left before reading a byte of the chunk.
 */
int clamd_chunk_header(const uint8_t *buf, size_t len, uint32_t *chunk_len);

/* The command's name as clamd spells it ("PING"); "UNKNOWN" otherwise. */
const char *clamd_cmd_name(enum clamd_cmd cmd);

/*
 * Whether clamd accepts cmd inside IDSESSION (observed on 1.4.6, see
 * above): PING, VERSION, VERSIONCOMMANDS, STATS, SCAN, INSTREAM, FILDES,
 * END.  Not CONTSCAN, MULTISCAN, ALLMATCHSCAN (clamd refuses them
 * there), RELOAD, SHUTDOWN, QUIT, DETSTATS, DETSTATSCLEAR, IDSESSION or
 * CLAMD_CMD_UNKNOWN.
 */
bool clamd_cmd_allowed_in_session(enum clamd_cmd cmd);

/*
 * Replies.  The exact texts; each goes between clamd_reply_begin() and
 * clamd_reply_end().  CLAMD_REPLY_SESSION_BARE holds a backslash and
 * 'n', a backslash and '0', as clamd sends it.  A reply's text never
 * holds a NUL, so a z reply is unambiguous.
 */
#define CLAMD_REPLY_PONG "PONG"
#define CLAMD_REPLY_UNKNOWN "UNKNOWN COMMAND"
#define CLAMD_REPLY_TIMEOUT "COMMAND READ TIMED OUT"
#define CLAMD_REPLY_STREAM_LIMIT "INSTREAM size limit exceeded. ERROR"
#define CLAMD_REPLY_FILDES_NOFD "FILDES: didn't receive file descriptor. ERROR"
/* What clamd 1.4.6 actually answers to FILDES followed by a plain byte. */
#define CLAMD_REPLY_NOFD "No file descriptor received. ERROR"
#define CLAMD_REPLY_STRAY_FD "PROTOCOL ERROR: ancillary data sent without FILDES. ERROR"
#define CLAMD_REPLY_SESSION_INVALID "Command invalid inside IDSESSION. ERROR"
#define CLAMD_REPLY_SESSION_BARE "Only nCMDS\\n and zCMDS\\0 are accepted inside IDSESSION. ERROR"
#define CLAMD_REPLY_PROCESSING "Error processing command. ERROR"
#define CLAMD_REPLY_UNAVAILABLE "COMMAND UNAVAILABLE"
#define CLAMD_REPLY_RELOADING "RELOADING"
#define CLAMD_REPLY_END "END"   /* the last line of STATS */
#define CLAMD_NAME_STREAM "stream"      /* the name in INSTREAM replies */

/*
 * What follows the version in the VERSIONCOMMANDS reply
 * ("<version>| COMMANDS: ..."): the commands clamd_parse() knows, in
 * clamd 1.4.6's order and words.
 */
#define CLAMD_COMMANDS_LIST "| COMMANDS: SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN"

/* VERSION: what precedes the engine's version; clients require it. */
#define CLAMD_VERSION_PRODUCT "ClamAV "

/* The database VERSION names (clamd_version_text()). */
struct clamd_db_version {
	unsigned version;
	int64_t built;                   /* build time, seconds since the epoch */
};

/*
 * The VERSION text into buf (len bytes, always NUL-terminated):
 * "ClamAV <engine>" and, when db is not NULL, "/<version>/<build time>",
 * the time in local time as ctime() writes it without its newline ("Wed
 * Jun 23 01:34:05 2021").  engine must hold no '/' (clients split the
 * line at the first one): a '/' in it is written as '-'.
 */
void clamd_version_text(char *buf, size_t len, const char *engine,
    const struct clamd_db_version *db);

/*
 * STATS, a thread or queue line: "\t<cmd> <seconds, %f> <file>\n",
 * file NULL or "" giving an empty file after the space (as clamd); a
 * control character in file escaped as in clamd_reply_put_line().
 * Negative seconds are written as 0.
 */
void clamd_stats_task(struct strbuf *sb, const char *cmd, double seconds,
    const char *file);

/* STATS, the memory figures (bytes), or the N/A form when !known. */
struct clamd_memstats {
	bool known;                      /* false: "heap N/A ... releasable N/A" */
	uint64_t heap, mmap, used, free, releasable;
	unsigned pools;
	uint64_t pools_used, pools_total;
};

/*
 * "MEMSTATS: heap 1.500M mmap ... pools_total 3.000M\n": megabytes
 * (2^20 bytes) with three decimals, the layout clamdtop parses.
 */
void clamd_stats_memstats(struct strbuf *sb, const struct clamd_memstats *m);

/*
 * Reply building: the strbuf's cap and failed flag apply as usual (check
 * sb->failed once at the end).  Strings are NUL-terminated C strings.
 */
/* "<id>: " when session_id > 0, else nothing. */
void clamd_reply_begin(struct strbuf *sb, unsigned session_id);
/* '\0' for z framing, '\n' for n and bare. */
void clamd_reply_end(struct strbuf *sb, enum clamd_framing f);
/* begin + text + end: a whole reply, e.g. CLAMD_REPLY_PONG. */
void clamd_reply_put(struct strbuf *sb, unsigned session_id,
    enum clamd_framing f, const char *text);
/*
 * A one-line reply whose text may hold a client's file name: control
 * characters are escaped (\n, \r, \t, \xNN for the others and DEL), so
 * a name can never end the line early and forge another reply in either
 * framing.  Everything but STATS goes this way.
 */
void clamd_reply_put_line(struct strbuf *sb, unsigned session_id,
    enum clamd_framing f, const char *text);
/* "<name>: OK" */
void clamd_reply_ok(struct strbuf *sb, const char *name);
/* "<name>: <sig> FOUND" */
void clamd_reply_found(struct strbuf *sb, const char *name,
    const char *sig);
/* "<name>: <reason> ERROR" */
void clamd_reply_error(struct strbuf *sb, const char *name,
    const char *reason);

#endif
