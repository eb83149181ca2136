/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampdaemon's configuration file (/etc/ampscan/ampdaemon.conf), clamd.conf
 * style.  Parsing only: no file named in the configuration is opened,
 * no user or group is looked up; ampdaemon does that where it uses them.
 *
 * Syntax, one setting per line:
 *   - `Key Value`: the key, one or more blanks (space, tab), the value.
 *     Leading blanks before the key and trailing blanks after the value
 *     are ignored.  Keys are case-sensitive, as in clamd.conf.
 *   - The value is the rest of the line, so it may contain blanks (a path
 *     with a space, FaultCommand's arguments).  A value that starts and
 *     ends with a double quote loses those two and is taken verbatim in
 *     between (no escapes): how a value ends in blanks or holds " #".
 *     Elsewhere a '"' is an ordinary byte.
 *   - A line whose first non-blank byte is '#' is a comment; blank lines
 *     are ignored.  There are no trailing comments: in an unquoted value a
 *     '#' at its start or after a blank is an error, because clamd would
 *     silently make it part of a path.
 *   - LF or CRLF line endings; the last line needs no newline; a UTF-8
 *     byte order mark at the very start is skipped.  A NUL byte anywhere,
 *     a control byte other than tab outside comments, or a line longer
 *     than CONFIG_LINE_MAX bytes is an error naming the line.
 *   - Every key but TrustedKeys and TCPAddr may appear once; a second one
 *     is an error naming both lines.  TrustedKeys may repeat (one PEM file
 *     a line), and TCPAddr (its addresses are added up, as clamd's lines).
 *   - An unknown key is an error, with a suggestion when a known key is
 *     close (different case, a typo, a clamd.conf name, "Key=Value").
 *
 * Value types:
 *   name      a user or group name: 1 to CONFIG_NAME_MAX bytes of
 *             [A-Za-z0-9_.-], the first a letter or '_'; never "root"
 *   path      absolute (starts with '/'), at most CONFIG_VALUE_MAX bytes;
 *             socket paths at most CONFIG_SOCKET_PATH_MAX (sun_path)
 *   boolean   yes/no, true/false, 1/0, any case (as clamd); printed yes/no
 *   number    decimal digits only
 *   duration  decimal digits and a unit: ms, s, m or h (lower case); a
 *             bare number is seconds (clamd's timeouts are seconds);
 *             printed in s, or ms when not whole seconds, or h when
 *             whole hours (so the defaults print as documented: 120s)
 *   size      decimal digits and an optional K, M or G (either case,
 *             powers of 1024); a bare number is bytes; printed with the
 *             largest unit that is exact
 *   mode      octal digits (660 or 0660), permission bits only (<= 0777)
 *
 * Ranges (an out-of-range value is an error; 0 never means "unlimited",
 * every limit is a limit):
 *   Workers 1..CONFIG_WORKERS_MAX (default: online CPUs, clamped to that)
 *   CrashThreshold, PoisonThreshold 1..CONFIG_THRESHOLD_MAX
 *   MaxRecursion 1..CONFIG_RECURSION_MAX, MaxFiles 1..CONFIG_FILES_MAX
 *   MaxScanTime 1..ScanTimeout - 1 and ..CONFIG_SCAN_TIME_MAX_MS (ms); default ScanTimeout minus a
 *   tenth of it (at least 1 ms, at most 10 s): 120 s -> 110 s, 30 s -> 27 s
 *   MaxFileSize, MaxScanSize, StreamMaxLength 1..CONFIG_SIZE_LIMIT
 *   TrialMemoryLimit CONFIG_TRIAL_MEMORY_MIN..CONFIG_SIZE_LIMIT
 *   StreamMemoryLimit 1..CONFIG_SIZE_LIMIT, MaxConnectionsPerUser
 *   1..CONFIG_CONNS_PER_USER_MAX, MaxSessionTime from
 *   CONFIG_SESSION_TIME_MIN_MS, ReloadInterval from CONFIG_RELOAD_INTERVAL_MIN_MS
 *   durations 1ms..CONFIG_DURATION_MAX_MS, except InterventionAfter,
 *   which may be 0 (needs intervention as soon as fault 6 is raised).
 *   Zero is refused elsewhere because ReadyTimeout/ScanTimeout 0 would
 *   fail every start/scan, a RestartDelayMin of 0 doubles to 0 (a tight
 *   respawn loop), and CrashWindow/StableAfter 0 make fault 6 unraisable
 *   or flapping.
 *
 * Contradictions (errors naming both keys, their values and lines):
 *   - RestartDelayMin > RestartDelayMax: the backoff starts above its cap.
 *   - MaxFileSize > MaxScanSize: such a file could never be scanned whole.
 *   - StreamMaxLength > MaxFileSize: the worker refuses a file bigger than
 *     MaxFileSize, so a longer INSTREAM would be received and not scanned
 *     (this implies StreamMaxLength <= MaxScanSize too).
 *   - StreamMemoryLimit given below StreamMaxLength: a stream of the
 *     longest length allowed could never be held.  Not given, it is
 *     256M or StreamMaxLength, whichever is larger.
 *   - LocalSocket == ControlSocket: one path cannot be both sockets.
 *   - LocalSocketGroup == ScanGroup: the scan account could then ask
 *     ampdaemon (root) to open any file, undoing the privilege separation.
 *   - TCPAddr without TCPSocket: addresses to listen on with no port.
 * Deliberately not errors:
 *   - CrashWindow shorter than the backoff a run of CrashThreshold crashes
 *     needs: with several workers crashes overlap and any window can
 *     fill, so it depends on Workers and on how the pool paces restarts.
 *   - PoisonThreshold > CrashThreshold, StableAfter > CrashWindow: odd
 *     but each still means what it says.
 *   - A LocalSocketMode open to others (e.g. 666): clamd allows it; the
 *     example file warns that anyone who can connect can make a root
 *     process open files by path.
 */
#ifndef AMPSCAN_CONFIG_H
#define AMPSCAN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH "/etc/ampscan/ampdaemon.conf"

/* Caps of the reader; every one is checked. */
#define CONFIG_FILE_MAX (1024 * 1024)  /* bytes in the file */
#define CONFIG_LINE_MAX 8192           /* bytes in a line, without CR/LF */
#define CONFIG_VALUE_MAX 4095          /* bytes in a value (PATH_MAX - 1) */
#define CONFIG_SOCKET_PATH_MAX 107     /* sizeof(sun_path) - 1 */
#define CONFIG_NAME_MAX 32             /* user/group names (useradd) */
#define CONFIG_TRUSTED_KEYS_MAX 16     /* TrustedKeys lines */
#define CONFIG_NAMES_MAX 16            /* names in TrustedScanUsers */
#define CONFIG_TCP_ADDRS_MAX 8         /* TCPAddr addresses, all lines */

/* Ranges. */
#define CONFIG_WORKERS_MAX 64
#define CONFIG_SPARES_MAX 8           /* SpareWorkers */
#define CONFIG_THRESHOLD_MAX 1000
#define CONFIG_RECURSION_MAX 64
#define CONFIG_FILES_MAX 1000000
#define CONFIG_SIZE_LIMIT (4ULL << 30) /* 4G, as clamd's limits */
#define CONFIG_TRIAL_MEMORY_MIN (16ULL << 20) /* below, no process starts */
#define CONFIG_SCAN_TIME_MARGIN_MAX_MS 10000  /* MaxScanTime's default margin */
#define CONFIG_SCAN_TIME_MAX_MS 0x7fffffffULL /* what ampscansvc/libclamav take */
/* 365 days: long enough for any setting, small enough that a duration
 * added to a millisecond timestamp never overflows. */
/* the scan socket's budgets (issue 17) */
#define CONFIG_CONNS_PER_USER_MAX 960  /* the slots not reserved for trusted clients */
#define CONFIG_SESSION_TIME_MIN_MS 1000
#define CONFIG_RELOAD_INTERVAL_MIN_MS 1000
#define CONFIG_DURATION_MAX_MS (365ULL * 24 * 3600 * 1000)

/* Defaults (docs/configuration.md). */
#define CONFIG_DEFAULT_SCAN_USER "cisco-amp-scan-svc"
#define CONFIG_DEFAULT_SCAN_GROUP "cisco-amp-scan-svc"
#define CONFIG_DEFAULT_DEFINITIONS_DIR "/var/lib/ampscan/defs"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/ampscan/state"
#define CONFIG_DEFAULT_LOG_DIR "/var/log/ampscan"
#define CONFIG_DEFAULT_LOCAL_SOCKET "/run/ampscan/clamd.sock"
#define CONFIG_DEFAULT_CONTROL_SOCKET "/run/ampscan/control.sock"
#define CONFIG_DEFAULT_TCP_ADDR "127.0.0.1"   /* TCPSocket without TCPAddr */
#define CONFIG_DEFAULT_CERTS_DIR "/etc/ampscan/certs"
/* On disk, not the /run tmpfs: N workers x MaxScanSize would be RAM. */
#define CONFIG_DEFAULT_SCRATCH_DIR "/var/lib/ampscan/scratch"

/* Engine: the workers' scan engine (ampscansvc --engine). */
enum { CONFIG_ENGINE_BUILTIN = 0, CONFIG_ENGINE_CLAMAV = 1 };

/* WorkerLaunch: exec each worker, or fork them from a loader (docs/loader.md). */
enum { CONFIG_LAUNCH_EXEC = 0, CONFIG_LAUNCH_LOADER = 1 };

/* The keys, in the order config_print() writes them. */
enum config_key {
	CONFIG_SCAN_USER,
	CONFIG_SCAN_GROUP,
	CONFIG_CREATE_SCAN_USER,
	CONFIG_WORKERS,
	CONFIG_READY_TIMEOUT,
	CONFIG_SCAN_TIMEOUT,
	CONFIG_RESTART_DELAY_MIN,
	CONFIG_RESTART_DELAY_MAX,
	CONFIG_STABLE_AFTER,
	CONFIG_CRASH_WINDOW,
	CONFIG_CRASH_THRESHOLD,
	CONFIG_INTERVENTION_AFTER,
	CONFIG_POISON_THRESHOLD,
	CONFIG_DEFINITIONS_DIR,
	CONFIG_STATE_DIR,
	CONFIG_LOG_DIR,
	CONFIG_LOCAL_SOCKET,
	CONFIG_LOCAL_SOCKET_GROUP,
	CONFIG_LOCAL_SOCKET_MODE,
	CONFIG_CONTROL_SOCKET,
	CONFIG_MAX_FILE_SIZE,
	CONFIG_MAX_SCAN_SIZE,
	CONFIG_MAX_RECURSION,
	CONFIG_MAX_FILES,
	CONFIG_STREAM_MAX_LENGTH,
	CONFIG_TRUSTED_KEYS,
	CONFIG_CERTS_DIR,
	CONFIG_ALLOW_UNSIGNED,
	CONFIG_TRIAL_TIMEOUT,
	CONFIG_TRIAL_MEMORY_LIMIT,
	CONFIG_METRICS_FILE,
	CONFIG_FAULT_COMMAND,
	CONFIG_ENGINE,
	CONFIG_SCRATCH_DIR,
	CONFIG_CORE_DUMPS,
	CONFIG_ENABLE_SHUTDOWN_COMMAND,
	CONFIG_DETECT_PUA,
	CONFIG_HEURISTIC_ALERTS,
	CONFIG_HEURISTIC_SCAN_PRECEDENCE,
	CONFIG_ALERT_BROKEN_EXECUTABLES,
	CONFIG_ALERT_ENCRYPTED,
	CONFIG_ALERT_ENCRYPTED_ARCHIVE,
	CONFIG_ALERT_ENCRYPTED_DOC,
	CONFIG_ALERT_EXCEEDS_MAX,
	CONFIG_ALLOW_PARTIAL_ENGINE,
	CONFIG_MAX_SCAN_TIME,
	CONFIG_TRUSTED_SCAN_USERS,
	CONFIG_STREAM_MEMORY_LIMIT,
	CONFIG_MAX_CONNECTIONS_PER_USER,
	CONFIG_MAX_SESSION_TIME,
	CONFIG_RELOAD_INTERVAL,
	CONFIG_WORKER_LAUNCH,
	CONFIG_LOAD_TIMEOUT,
	CONFIG_WORKER_MEMORY_LIMIT,
	CONFIG_LOADER_HUGE_PAGES,
	CONFIG_SPARE_WORKERS,
	CONFIG_LOG_CLEAN,
	CONFIG_LOG_VERBOSE,
	CONFIG_TCP_SOCKET,
	CONFIG_TCP_ADDR,
	CONFIG_TCP_ALLOW_PATH_COMMANDS,
	CONFIG_IMPORT_DIRECTORY,
	CONFIG_KEY_COUNT
};

/*
 * The effective configuration.  Durations are milliseconds, sizes bytes.
 * String fields are never NULL except where noted; they point at string
 * literals (defaults) or at copies owned by the struct (freed by
 * config_free).  The struct may be moved by assignment: ownership moves
 * with it, so free exactly one copy.
 */
struct config {
	const char *scan_user;
	const char *scan_group;
	bool create_scan_user;
	unsigned workers;
	uint64_t ready_timeout_ms;
	uint64_t scan_timeout_ms;
	uint64_t restart_delay_min_ms;
	uint64_t restart_delay_max_ms;
	uint64_t stable_after_ms;
	uint64_t crash_window_ms;
	unsigned crash_threshold;
	uint64_t intervention_after_ms;
	unsigned poison_threshold;
	const char *definitions_dir;
	const char *state_dir;
	const char *log_dir;
	const char *local_socket;
	const char *local_socket_group;  /* NULL: root's primary group */
	unsigned local_socket_mode;      /* permission bits, <= 0777 */
	const char *control_socket;
	uint64_t max_file_size;
	uint64_t max_scan_size;
	unsigned max_recursion;
	unsigned max_files;
	uint64_t stream_max_length;
	/* extra operator keys (PEM), in file order, each with its line */
	const char *trusted_keys[CONFIG_TRUSTED_KEYS_MAX];
	unsigned trusted_keys_line[CONFIG_TRUSTED_KEYS_MAX];
	size_t ntrusted_keys;
	const char *certs_dir;
	bool allow_unsigned;
	uint64_t trial_timeout_ms;       /* the trial load of an update */
	uint64_t trial_memory_limit;     /* its RLIMIT_AS */
	const char *metrics_file;        /* NULL: none */
	/* ImportDirectory: containers another tool (freshclam) writes there
	 * are imported, the directory never modified; NULL: none */
	const char *import_directory;
	const char *fault_command;       /* NULL: none */
	unsigned engine;                 /* CONFIG_ENGINE_* */
	unsigned worker_launch;          /* CONFIG_LAUNCH_* */
	uint64_t load_timeout_ms;        /* a loader's load, to READY */
	/* a worker whose private memory (smaps_rollup's Private_*) passes
	 * this is retired after its request and replaced; 0: never */
	uint64_t worker_memory_limit;
	/* LoaderHugePages: the loader collapses its engine's anonymous
	 * memory into transparent huge pages (docs/loader.md) */
	bool loader_huge_pages;
	/* WorkerLaunch loader: workers forked and READY but given no
	 * request; one takes a slot whose worker died (docs/loader.md) */
	unsigned spare_workers;
	/* Engine builtin: use a set it cannot load all of (issue 15); else
	 * the trial rejects it and a worker does not start on it */
	bool allow_partial_engine;
	/*
	 * MaxScanTime (clamd's key and syntax: milliseconds, a number with an
	 * optional K/M): libclamav's CL_ENGINE_MAX_SCANTIME in the clamav
	 * worker.  Below ScanTimeout, so the worker answers before ampdaemon
	 * kills it: by default ScanTimeout - config_scan_time_margin().
	 */
	uint64_t max_scan_time_ms;
	/*
	 * TrustedScanUsers: users (besides root) whose path commands on the
	 * scan socket are served with ampdaemon's rights, the connector's;
	 * everyone else's with their own (SO_PEERCRED).  NULL: none.  Names
	 * separated by commas or blanks, at most CONFIG_NAMES_MAX.
	 */
	const char *trusted_scan_users;
	/*
	 * The scan socket's budgets for the whole service: INSTREAM bytes
	 * held at once (a quarter kept for root and TrustedScanUsers),
	 * connections per untrusted uid, an IDSESSION's lifetime, and how
	 * often a RELOAD from an untrusted client may run.
	 */
	uint64_t stream_memory_limit;
	unsigned max_connections_per_user;
	uint64_t max_session_time_ms;
	uint64_t reload_interval_ms;
	const char *scratch_dir;         /* the workers' scratch directories */
	bool core_dumps;
	bool enable_shutdown_command;
	/*
	 * The scan log (clamd's keys): every detection is a line of
	 * ampdaemon.log; LogClean adds the clean results, LogVerbose the
	 * command, the worker and the times of each line.
	 */
	bool log_clean;
	bool log_verbose;
	/*
	 * clamd.conf's heuristic and PUA options, its names and defaults
	 * (Engine clamav only: the builtin engine has none and refuses a yes).
	 * AlertEncrypted yes means both AlertEncryptedArchive and ...Doc.
	 */
	bool detect_pua;
	bool heuristic_alerts;           /* default yes */
	bool heuristic_scan_precedence;
	bool alert_broken_executables;
	bool alert_encrypted;
	bool alert_encrypted_archive;
	bool alert_encrypted_doc;
	bool alert_exceeds_max;
	/*
	 * TCPSocket: the scan socket's protocol on TCP too, on this port
	 * (0: off, the default), on each address of TCPAddr: numeric IPv4 or
	 * IPv6 addresses separated by commas or blanks, from one or several
	 * lines (joined with ", "), at most CONFIG_TCP_ADDRS_MAX; NULL:
	 * CONFIG_DEFAULT_TCP_ADDR.  A TCP peer has no uid: path commands
	 * are refused on TCP unless TCPAllowPathCommands.
	 */
	unsigned tcp_socket;
	const char *tcp_addr;
	bool tcp_allow_path_commands;

	/* line of the file each value came from; 0 = default.  For
	 * TrustedKeys: its first line (each entry's is in trusted_keys_line) */
	unsigned line[CONFIG_KEY_COUNT];

	/* private: the copies string fields point into */
	char *mem[CONFIG_KEY_COUNT + CONFIG_TRUSTED_KEYS_MAX + CONFIG_TCP_ADDRS_MAX];
	size_t nmem;
};

enum config_error {
	CONFIG_OK = 0,
	CONFIG_EIO = -1,        /* cannot open or read the file (errno kept) */
	CONFIG_EFILE = -2,      /* not a regular file, unsafe owner or mode, too big */
	CONFIG_ESYNTAX = -3,    /* a line: too long, NUL/control byte, quoting,
	                         * missing value, unknown or repeated key */
	CONFIG_EVALUE = -4,     /* a value of the wrong form or out of range */
	CONFIG_ECONFLICT = -5,  /* two settings contradict each other */
	CONFIG_ENOMEM = -6,
};

/* A short name for a config_error ("syntax", "value", ...). */
const char *config_strerror(int rc);

/* "builtin" or "clamav" for a CONFIG_ENGINE_* value. */
const char *config_engine_name(unsigned engine);
/* "exec" or "loader" for a CONFIG_LAUNCH_* value. */
const char *config_launch_name(unsigned launch);

/* "ScanUser" ... for a key; NULL for a value out of range. */
const char *config_key_name(enum config_key k);

/* Set every key to its default; allocates nothing, frees nothing. */
void config_defaults(struct config *c);

/* MaxScanTime's default for a ScanTimeout: a tenth less (1 ms..10 s less). */
uint64_t config_scan_time_default(uint64_t scan_timeout_ms);

/* Free the copies and leave *c at the defaults; safe to call twice. */
void config_free(struct config *c);

/*
 * Parse a whole configuration held in memory: len bytes at buf (no NUL
 * needed; a NUL byte in it is an error).  name is what messages call the
 * file ("ampdaemon.conf:12: ...").
 * *c need not be initialised and its old content is not freed: it is
 * reset to the defaults on entry and, on success, holds the defaults
 * overridden by the file; on failure it holds the defaults (nothing
 * allocated), so config_free(c) is right in both cases.
 * Returns 0 or a config_error; err (errlen bytes, may be 0) then holds
 * one line saying where, what and why:
 *   ampdaemon.conf:12: RestartDelayMin: '10x' is not a duration (use ms, s, m or h)
 * Only the first error is reported.
 */
int config_parse_buffer(const char *name, const char *buf, size_t len,
    struct config *c, char *err, size_t errlen);

/*
 * Read and parse path, as config_parse_buffer() (messages name path).
 * The file must be a regular file of at most CONFIG_FILE_MAX bytes, owned
 * by root or the caller and not writable by group or others (it decides
 * what a root daemon runs: FaultCommand).  A FIFO never blocks the call.
 */
int config_load(const char *path, struct config *c, char *err,
    size_t errlen);

/*
 * The value of key k as config_print() writes it (quoted when needed);
 * TrustedKeys gives every entry, separated by ", ", and unset values say
 * so in parentheses ("(none)").  Truncated to fit len (len > 0).
 * Returns buf, for use in a printf argument list.
 */
const char *config_value_format(const struct config *c, enum config_key k,
    char *buf, size_t len);

/* Whether a and b hold the same value for k (lines are not compared). */
bool config_value_equal(const struct config *a, const struct config *b,
    enum config_key k);
/* ... for every key. */
bool config_equal(const struct config *a, const struct config *b);

/*
 * Write the effective configuration to f in the file's own syntax, one
 * `Key Value` line per key in enum order (TrustedKeys once per entry),
 * after a comment line; unset optional values are written as comments.
 * Parsing the output gives a config_equal() configuration.
 */
void config_print(FILE *f, const struct config *c);

#endif
