/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ampdaemon's configuration file: clamd.conf-style `Key Value` lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "config.h"
#include "num.h"

_Static_assert(CONFIG_SOCKET_PATH_MAX + 1 ==
    sizeof(((struct sockaddr_un *)0)->sun_path), "sun_path size");
_Static_assert(CONFIG_VALUE_MAX + 16 < CONFIG_LINE_MAX,
    "a printed value must fit a line");

enum ctype {
	CT_NAME,        /* user or group name */
	CT_PATH,        /* absolute path */
	CT_SOCKET,      /* absolute path that fits sun_path */
	CT_COMMAND,     /* command line starting with an absolute path */
	CT_PATHLIST,    /* TrustedKeys: repeatable absolute paths */
	CT_BOOL,
	CT_UINT,        /* unsigned, decimal */
	CT_DURATION,    /* uint64_t ms */
	CT_SIZE,        /* uint64_t bytes */
	CT_MODE,        /* unsigned, octal */
	CT_ENGINE,      /* unsigned: CONFIG_ENGINE_BUILTIN or _CLAMAV, by name */
	CT_LAUNCH,      /* unsigned: CONFIG_LAUNCH_EXEC or _LOADER, by name */
	CT_NAMES,       /* user names separated by commas or blanks */
	CT_ADDRS,       /* TCPAddr: IP addresses, repeatable, joined */
};

struct keydef {
	const char *name;
	enum ctype type;
	size_t off;             /* of the field in struct config */
	uint64_t min, max;      /* numbers, durations, sizes */
};

#define F(field) offsetof(struct config, field)
#define DMAX CONFIG_DURATION_MAX_MS
#define SMAX CONFIG_SIZE_LIMIT

static const struct keydef keydefs[CONFIG_KEY_COUNT] = {
	[CONFIG_SCAN_USER] = { "ScanUser", CT_NAME, F(scan_user), 0, 0 },
	[CONFIG_SCAN_GROUP] = { "ScanGroup", CT_NAME, F(scan_group), 0, 0 },
	[CONFIG_CREATE_SCAN_USER] = { "CreateScanUser", CT_BOOL,
	    F(create_scan_user), 0, 0 },
	[CONFIG_WORKERS] = { "Workers", CT_UINT,
	    F(workers), 1, CONFIG_WORKERS_MAX },
	[CONFIG_READY_TIMEOUT] = { "ReadyTimeout", CT_DURATION,
	    F(ready_timeout_ms), 1, DMAX },
	[CONFIG_SCAN_TIMEOUT] = { "ScanTimeout", CT_DURATION,
	    F(scan_timeout_ms), 1, DMAX },
	[CONFIG_RESTART_DELAY_MIN] = { "RestartDelayMin", CT_DURATION,
	    F(restart_delay_min_ms), 1, DMAX },
	[CONFIG_RESTART_DELAY_MAX] = { "RestartDelayMax", CT_DURATION,
	    F(restart_delay_max_ms), 1, DMAX },
	[CONFIG_STABLE_AFTER] = { "StableAfter", CT_DURATION,
	    F(stable_after_ms), 1, DMAX },
	[CONFIG_CRASH_WINDOW] = { "CrashWindow", CT_DURATION,
	    F(crash_window_ms), 1, DMAX },
	[CONFIG_CRASH_THRESHOLD] = { "CrashThreshold", CT_UINT,
	    F(crash_threshold), 1, CONFIG_THRESHOLD_MAX },
	[CONFIG_INTERVENTION_AFTER] = { "InterventionAfter", CT_DURATION,
	    F(intervention_after_ms), 0, DMAX },
	[CONFIG_POISON_THRESHOLD] = { "PoisonThreshold", CT_UINT,
	    F(poison_threshold), 1, CONFIG_THRESHOLD_MAX },
	[CONFIG_DEFINITIONS_DIR] = { "DefinitionsDir", CT_PATH,
	    F(definitions_dir), 0, 0 },
	[CONFIG_STATE_DIR] = { "StateDir", CT_PATH, F(state_dir), 0, 0 },
	[CONFIG_LOG_DIR] = { "LogDir", CT_PATH, F(log_dir), 0, 0 },
	[CONFIG_LOCAL_SOCKET] = { "LocalSocket", CT_SOCKET,
	    F(local_socket), 0, 0 },
	[CONFIG_LOCAL_SOCKET_GROUP] = { "LocalSocketGroup", CT_NAME,
	    F(local_socket_group), 0, 0 },
	[CONFIG_LOCAL_SOCKET_MODE] = { "LocalSocketMode", CT_MODE,
	    F(local_socket_mode), 0, 0777 },
	[CONFIG_CONTROL_SOCKET] = { "ControlSocket", CT_SOCKET,
	    F(control_socket), 0, 0 },
	[CONFIG_MAX_FILE_SIZE] = { "MaxFileSize", CT_SIZE,
	    F(max_file_size), 1, SMAX },
	[CONFIG_MAX_SCAN_SIZE] = { "MaxScanSize", CT_SIZE,
	    F(max_scan_size), 1, SMAX },
	[CONFIG_MAX_RECURSION] = { "MaxRecursion", CT_UINT,
	    F(max_recursion), 1, CONFIG_RECURSION_MAX },
	[CONFIG_MAX_FILES] = { "MaxFiles", CT_UINT,
	    F(max_files), 1, CONFIG_FILES_MAX },
	[CONFIG_STREAM_MAX_LENGTH] = { "StreamMaxLength", CT_SIZE,
	    F(stream_max_length), 1, SMAX },
	[CONFIG_TRUSTED_KEYS] = { "TrustedKeys", CT_PATHLIST,
	    F(trusted_keys), 0, 0 },
	[CONFIG_CERTS_DIR] = { "CertsDir", CT_PATH, F(certs_dir), 0, 0 },
	[CONFIG_ALLOW_UNSIGNED] = { "AllowUnsigned", CT_BOOL,
	    F(allow_unsigned), 0, 0 },
	[CONFIG_TRIAL_TIMEOUT] = { "TrialTimeout", CT_DURATION,
	    F(trial_timeout_ms), 1, DMAX },
	[CONFIG_TRIAL_MEMORY_LIMIT] = { "TrialMemoryLimit", CT_SIZE,
	    F(trial_memory_limit), CONFIG_TRIAL_MEMORY_MIN, SMAX },
	[CONFIG_METRICS_FILE] = { "MetricsFile", CT_PATH, F(metrics_file), 0, 0 },
	[CONFIG_IMPORT_DIRECTORY] = { "ImportDirectory", CT_PATH,
	    F(import_directory), 0, 0 },
	[CONFIG_FAULT_COMMAND] = { "FaultCommand", CT_COMMAND,
	    F(fault_command), 0, 0 },
	[CONFIG_ENGINE] = { "Engine", CT_ENGINE, F(engine), 0, CONFIG_ENGINE_CLAMAV },
	[CONFIG_SCRATCH_DIR] = { "ScratchDir", CT_PATH, F(scratch_dir), 0, 0 },
	[CONFIG_CORE_DUMPS] = { "CoreDumps", CT_BOOL, F(core_dumps), 0, 0 },
	[CONFIG_ENABLE_SHUTDOWN_COMMAND] = { "EnableShutdownCommand", CT_BOOL,
	    F(enable_shutdown_command), 0, 0 },
	[CONFIG_DETECT_PUA] = { "DetectPUA", CT_BOOL, F(detect_pua), 0, 0 },
	[CONFIG_HEURISTIC_ALERTS] = { "HeuristicAlerts", CT_BOOL,
	    F(heuristic_alerts), 0, 0 },
	[CONFIG_HEURISTIC_SCAN_PRECEDENCE] = { "HeuristicScanPrecedence", CT_BOOL,
	    F(heuristic_scan_precedence), 0, 0 },
	[CONFIG_ALERT_BROKEN_EXECUTABLES] = { "AlertBrokenExecutables", CT_BOOL,
	    F(alert_broken_executables), 0, 0 },
	[CONFIG_ALERT_ENCRYPTED] = { "AlertEncrypted", CT_BOOL,
	    F(alert_encrypted), 0, 0 },
	[CONFIG_ALERT_ENCRYPTED_ARCHIVE] = { "AlertEncryptedArchive", CT_BOOL,
	    F(alert_encrypted_archive), 0, 0 },
	[CONFIG_ALERT_ENCRYPTED_DOC] = { "AlertEncryptedDoc", CT_BOOL,
	    F(alert_encrypted_doc), 0, 0 },
	[CONFIG_ALERT_EXCEEDS_MAX] = { "AlertExceedsMax", CT_BOOL,
	    F(alert_exceeds_max), 0, 0 },
	[CONFIG_ALLOW_PARTIAL_ENGINE] = { "AllowPartialEngine", CT_BOOL,
	    F(allow_partial_engine), 0, 0 },
	[CONFIG_MAX_SCAN_TIME] = { "MaxScanTime", CT_SIZE,
	    F(max_scan_time_ms), 1, CONFIG_SCAN_TIME_MAX_MS },
	[CONFIG_TRUSTED_SCAN_USERS] = { "TrustedScanUsers", CT_NAMES,
	    F(trusted_scan_users), 0, 0 },
	[CONFIG_STREAM_MEMORY_LIMIT] = { "StreamMemoryLimit", CT_SIZE,
	    F(stream_memory_limit), 1, SMAX },
	[CONFIG_MAX_CONNECTIONS_PER_USER] = { "MaxConnectionsPerUser", CT_UINT,
	    F(max_connections_per_user), 1, CONFIG_CONNS_PER_USER_MAX },
	[CONFIG_MAX_SESSION_TIME] = { "MaxSessionTime", CT_DURATION,
	    F(max_session_time_ms), CONFIG_SESSION_TIME_MIN_MS, DMAX },
	[CONFIG_RELOAD_INTERVAL] = { "ReloadInterval", CT_DURATION,
	    F(reload_interval_ms), CONFIG_RELOAD_INTERVAL_MIN_MS, DMAX },
	[CONFIG_WORKER_LAUNCH] = { "WorkerLaunch", CT_LAUNCH, F(worker_launch), 0,
	    CONFIG_LAUNCH_LOADER },
	[CONFIG_LOAD_TIMEOUT] = { "LoadTimeout", CT_DURATION, F(load_timeout_ms),
	    1, DMAX },
	[CONFIG_WORKER_MEMORY_LIMIT] = { "WorkerMemoryLimit", CT_SIZE,
	    F(worker_memory_limit), 0, SMAX },
	[CONFIG_LOADER_HUGE_PAGES] = { "LoaderHugePages", CT_BOOL,
	    F(loader_huge_pages), 0, 0 },
	[CONFIG_SPARE_WORKERS] = { "SpareWorkers", CT_UINT, F(spare_workers), 0,
	    CONFIG_SPARES_MAX },
	[CONFIG_LOG_CLEAN] = { "LogClean", CT_BOOL, F(log_clean), 0, 0 },
	[CONFIG_LOG_VERBOSE] = { "LogVerbose", CT_BOOL, F(log_verbose), 0, 0 },
	[CONFIG_TCP_SOCKET] = { "TCPSocket", CT_UINT, F(tcp_socket), 1, 65535 },
	[CONFIG_TCP_ADDR] = { "TCPAddr", CT_ADDRS, F(tcp_addr), 0, 0 },
	[CONFIG_TCP_ALLOW_PATH_COMMANDS] = { "TCPAllowPathCommands", CT_BOOL,
	    F(tcp_allow_path_commands), 0, 0 },
};

/* clamd.conf names an operator may bring along, and ours. */
static const struct {
	const char *clamd, *ours;
} clamd_keys[] = {
	{ "User", "ScanUser" },
	{ "DatabaseDirectory", "DefinitionsDir" },
	{ "LogFile", "LogDir" },
	{ "MaxThreads", "Workers" },
};

/* ---- field access ---- */

static const char **
fstr(struct config *c, enum config_key k)
{
	return (const char **)((char *)c + keydefs[k].off);
}

static const char *
cstr(const struct config *c, enum config_key k)
{
	return *(const char *const *)((const char *)c + keydefs[k].off);
}

static uint64_t
cnum(const struct config *c, enum config_key k)
{
	const char *p = (const char *)c + keydefs[k].off;

	switch (keydefs[k].type) {
	case CT_BOOL: return *(const bool *)p;
	case CT_UINT:
	case CT_ENGINE:
	case CT_LAUNCH:
	case CT_MODE: return *(const unsigned *)p;
	default: return *(const uint64_t *)p;
	}
}

static void
set_num(struct config *c, enum config_key k, uint64_t v)
{
	char *p = (char *)c + keydefs[k].off;

	switch (keydefs[k].type) {
	case CT_BOOL: *(bool *)p = v != 0; break;
	case CT_UINT:
	case CT_ENGINE:
	case CT_LAUNCH:
	case CT_MODE: *(unsigned *)p = (unsigned)v; break;
	default: *(uint64_t *)p = v; break;
	}
}

static bool
is_string_type(enum ctype t)
{
	return t == CT_NAME || t == CT_PATH || t == CT_SOCKET ||
	    t == CT_COMMAND || t == CT_NAMES || t == CT_ADDRS;
}

/* ---- public small things ---- */

const char *
config_strerror(int rc)
{
	switch (rc) {
	case CONFIG_OK: return "ok";
	case CONFIG_EIO: return "io";
	case CONFIG_EFILE: return "file";
	case CONFIG_ESYNTAX: return "syntax";
	case CONFIG_EVALUE: return "value";
	case CONFIG_ECONFLICT: return "conflict";
	case CONFIG_ENOMEM: return "out of memory";
	default: return "unknown error";
	}
}

const char *
config_engine_name(unsigned engine)
{
	return engine == CONFIG_ENGINE_CLAMAV ? "clamav" : "builtin";
}

const char *
config_launch_name(unsigned launch)
{
	return launch == CONFIG_LAUNCH_LOADER ? "loader" : "exec";
}

const char *
config_key_name(enum config_key k)
{
	if ((unsigned)k >= CONFIG_KEY_COUNT)
		return NULL;
	return keydefs[k].name;
}

uint64_t
config_scan_time_default(uint64_t scan_timeout_ms)
{
	uint64_t margin = scan_timeout_ms / 10;

	if (margin > CONFIG_SCAN_TIME_MARGIN_MAX_MS)
		margin = CONFIG_SCAN_TIME_MARGIN_MAX_MS;
	if (margin < 1)
		margin = 1;
	if (scan_timeout_ms <= margin)
		return 1;
	return scan_timeout_ms - margin > CONFIG_SCAN_TIME_MAX_MS ?
	    CONFIG_SCAN_TIME_MAX_MS : scan_timeout_ms - margin;
}

void
config_defaults(struct config *c)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(c, 0, sizeof(*c));
	c->scan_user = CONFIG_DEFAULT_SCAN_USER;
	c->scan_group = CONFIG_DEFAULT_SCAN_GROUP;
	c->create_scan_user = true;
	if (ncpu < 1)
		ncpu = 1;
	c->workers = ncpu > CONFIG_WORKERS_MAX ? CONFIG_WORKERS_MAX :
	    (unsigned)ncpu;
	c->ready_timeout_ms = 30 * 1000;
	c->scan_timeout_ms = 120 * 1000;
	c->max_scan_time_ms = config_scan_time_default(c->scan_timeout_ms);
	c->restart_delay_min_ms = 100;
	c->restart_delay_max_ms = 30 * 1000;
	c->stable_after_ms = 60 * 1000;
	c->crash_window_ms = 300 * 1000;
	c->crash_threshold = 3;
	c->intervention_after_ms = 600 * 1000;
	c->poison_threshold = 2;
	c->definitions_dir = CONFIG_DEFAULT_DEFINITIONS_DIR;
	c->state_dir = CONFIG_DEFAULT_STATE_DIR;
	c->log_dir = CONFIG_DEFAULT_LOG_DIR;
	c->local_socket = CONFIG_DEFAULT_LOCAL_SOCKET;
	c->local_socket_mode = 0660;
	c->control_socket = CONFIG_DEFAULT_CONTROL_SOCKET;
	c->max_file_size = 100ULL << 20;
	c->trial_timeout_ms = 300 * 1000;
	c->trial_memory_limit = 4ULL << 30;
	c->max_scan_size = 400ULL << 20;
	c->max_recursion = 17;   /* clamd 1.x's default (man clamd.conf) */
	c->max_files = 10000;
	c->stream_max_length = 100ULL << 20;
	c->stream_memory_limit = 256ULL << 20;
	c->max_connections_per_user = 64;
	c->max_session_time_ms = 30 * 60 * 1000;
	c->reload_interval_ms = 60 * 1000;
	c->certs_dir = CONFIG_DEFAULT_CERTS_DIR;
	c->engine = CONFIG_ENGINE_CLAMAV;
	c->worker_launch = CONFIG_LAUNCH_LOADER;
	c->load_timeout_ms = 300 * 1000;
	c->worker_memory_limit = 512ULL << 20;
	c->loader_huge_pages = true;
	c->spare_workers = 0;   /* opt-in: a spare changes the crash backoff */
	c->scratch_dir = CONFIG_DEFAULT_SCRATCH_DIR;
	c->heuristic_alerts = true;   /* clamd's default */
}

void
config_free(struct config *c)
{
	for (size_t i = 0; i < c->nmem; i++)
		free(c->mem[i]);
	config_defaults(c);
}

/* ---- errors ---- */

struct parse {
	const char *name;       /* the file, for messages */
	struct config *c;
	char *err;
	size_t errlen;
	unsigned line;          /* 0: not about one line */
};

static int perr(struct parse *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct parse *p, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errlen == 0)
		return rc;
	if (p->line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* A value as messages show it: at most 60 bytes, then "...". */
#define SHOW_MAX 64

static const char *
show(const char *s, size_t n, char out[SHOW_MAX])
{
	if (n > SHOW_MAX - 4) {
		memcpy(out, s, SHOW_MAX - 4);
		memcpy(out + SHOW_MAX - 4, "...", 4);
	} else {
		memcpy(out, s, n);
		out[n] = '\0';
	}
	return out;
}

/* ---- formatting values ---- */

static void
fmt_duration(uint64_t ms, char *buf, size_t len)
{
	/* seconds, as the documented defaults; whole hours as h */
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
}

static void
fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "GMK";

	for (int i = 0; i < 3; i++) {
		unsigned shift = (unsigned)(30 - 10 * i);

		if (v != 0 && v % (1ULL << shift) == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(v >> shift), units[i]);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void
fmt_number(enum config_key k, uint64_t v, char *buf, size_t len)
{
	switch (keydefs[k].type) {
	case CT_BOOL: snprintf(buf, len, "%s", v ? "yes" : "no"); break;
	case CT_MODE: snprintf(buf, len, "%03llo", (unsigned long long)v); break;
	case CT_DURATION: fmt_duration(v, buf, len); break;
	case CT_SIZE: fmt_size(v, buf, len); break;
	case CT_ENGINE: snprintf(buf, len, "%s", config_engine_name((unsigned)v)); break;
	case CT_LAUNCH: snprintf(buf, len, "%s", config_launch_name((unsigned)v)); break;
	default: snprintf(buf, len, "%llu", (unsigned long long)v); break;
	}
}

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Whether s, unquoted, would read back differently: a '#' that looks
 * like a comment, a leading '=' or '"', blanks at either end. */
static bool
needs_quotes(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || is_blank(s[0]) || is_blank(s[n - 1]) || s[0] == '"' ||
	    s[0] == '=' || s[0] == '#')
		return true;
	for (size_t i = 1; i < n; i++)
		if (s[i] == '#' && is_blank(s[i - 1]))
			return true;
	return false;
}

static void
fmt_string(const char *s, char *buf, size_t len)
{
	if (needs_quotes(s))
		snprintf(buf, len, "\"%s\"", s);
	else
		snprintf(buf, len, "%s", s);
}

const char *
config_value_format(const struct config *c, enum config_key k, char *buf,
    size_t len)
{
	size_t used;

	buf[0] = '\0';
	if ((unsigned)k >= CONFIG_KEY_COUNT)
		return buf;
	if (k == CONFIG_TRUSTED_KEYS) {
		if (c->ntrusted_keys == 0)
			snprintf(buf, len, "(none)");
		for (size_t i = 0; i < c->ntrusted_keys; i++) {
			if (i > 0) {
				used = strlen(buf);
				snprintf(buf + used, len - used, ", ");
			}
			used = strlen(buf);
			fmt_string(c->trusted_keys[i], buf + used, len - used);
		}
	} else if (is_string_type(keydefs[k].type)) {
		const char *s = cstr(c, k);

		if (s != NULL)
			fmt_string(s, buf, len);
		else if (k == CONFIG_LOCAL_SOCKET_GROUP)
			snprintf(buf, len, "(root's primary group)");
		else if (k == CONFIG_TCP_ADDR)
			snprintf(buf, len, "(%s)", CONFIG_DEFAULT_TCP_ADDR);
		else
			snprintf(buf, len, "(none)");
	} else if (k == CONFIG_TCP_SOCKET && c->tcp_socket == 0) {
		snprintf(buf, len, "(off)");
	} else {
		fmt_number(k, cnum(c, k), buf, len);
	}
	return buf;
}

static bool
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool
config_value_equal(const struct config *a, const struct config *b,
    enum config_key k)
{
	if ((unsigned)k >= CONFIG_KEY_COUNT)
		return false;
	if (k == CONFIG_TRUSTED_KEYS) {
		if (a->ntrusted_keys != b->ntrusted_keys)
			return false;
		for (size_t i = 0; i < a->ntrusted_keys; i++)
			if (!str_equal(a->trusted_keys[i], b->trusted_keys[i]))
				return false;
		return true;
	}
	if (is_string_type(keydefs[k].type))
		return str_equal(cstr(a, k), cstr(b, k));
	return cnum(a, k) == cnum(b, k);
}

bool
config_equal(const struct config *a, const struct config *b)
{
	for (int k = 0; k < CONFIG_KEY_COUNT; k++)
		if (!config_value_equal(a, b, (enum config_key)k))
			return false;
	return true;
}

void
config_print(FILE *f, const struct config *c)
{
	char buf[CONFIG_VALUE_MAX + 3];

	fprintf(f, "# ampdaemon configuration: effective values, defaults included\n");
	for (int i = 0; i < CONFIG_KEY_COUNT; i++) {
		enum config_key k = (enum config_key)i;
		const char *name = keydefs[k].name;

		if (k == CONFIG_TRUSTED_KEYS) {
			if (c->ntrusted_keys == 0)
				fprintf(f, "#%s (none)\n", name);
			for (size_t j = 0; j < c->ntrusted_keys; j++) {
				fmt_string(c->trusted_keys[j], buf,
				    sizeof(buf));
				fprintf(f, "%s %s\n", name, buf);
			}
		} else if ((is_string_type(keydefs[k].type) &&
		    cstr(c, k) == NULL) ||
		    (k == CONFIG_TCP_SOCKET && c->tcp_socket == 0)) {
			fprintf(f, "#%s %s\n", name,
			    config_value_format(c, k, buf, sizeof(buf)));
		} else {
			fprintf(f, "%s %s\n", name,
			    config_value_format(c, k, buf, sizeof(buf)));
		}
	}
}

/* ---- parsing values ---- */

/* Numbers, durations and sizes: num.h (num_u64, num_duration_ms, num_size). */

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Octal digits; NUM_RANGE past 0777 (a socket takes permission bits). */
static enum num_rc
parse_mode(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;

	if (n == 0)
		return NUM_SYNTAX;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return NUM_SYNTAX;
		if (!over)
			v = v * 8 + (uint64_t)(s[i] - '0');
		if (v > 0777)
			over = true;
	}
	*out = v;
	return over ? NUM_RANGE : NUM_OK;
}

static enum num_rc
parse_bool(const char *s, uint64_t *out)
{
	static const char *const yes[] = { "yes", "true", "1" };
	static const char *const no[] = { "no", "false", "0" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return NUM_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return NUM_OK;
		}
	}
	return NUM_SYNTAX;
}

/* "builtin" or "clamav", exactly (lower case, as ampscansvc --engine). */
static enum num_rc
parse_engine(const char *s, uint64_t *out)
{
	for (unsigned e = 0; e <= CONFIG_ENGINE_CLAMAV; e++)
		if (strcmp(s, config_engine_name(e)) == 0) {
			*out = e;
			return NUM_OK;
		}
	return NUM_SYNTAX;
}

/* "exec" or "loader", exactly. */
static enum num_rc
parse_launch(const char *s, uint64_t *out)
{
	for (unsigned e = 0; e <= CONFIG_LAUNCH_LOADER; e++)
		if (strcmp(s, config_launch_name(e)) == 0) {
			*out = e;
			return NUM_OK;
		}
	return NUM_SYNTAX;
}

static const char *
type_hint(enum ctype t)
{
	switch (t) {
	case CT_BOOL: return "is not a boolean (use yes or no)";
	case CT_UINT: return "is not a number (decimal digits only)";
	case CT_DURATION: return "is not a duration (use ms, s, m or h)";
	case CT_SIZE: return "is not a size (use K, M or G)";
	case CT_MODE: return "is not an octal mode (e.g. 660)";
	case CT_ENGINE: return "is not an engine (use clamav or builtin)";
	case CT_LAUNCH: return "is not a way to start workers (use exec or loader)";
	default: return "is not valid";
	}
}

static int
set_number(struct parse *p, enum config_key k, const char *v, size_t n)
{
	const struct keydef *d = &keydefs[k];
	char shown[SHOW_MAX], lo[32], hi[32];
	uint64_t x = 0;
	enum num_rc rc;

	switch (d->type) {
	case CT_BOOL: rc = parse_bool(v, &x); break;
	case CT_UINT: rc = num_u64(v, n, 0, &x); break;
	case CT_DURATION: rc = num_duration_ms(v, n, &x); break;
	case CT_SIZE: rc = num_size(v, n, &x); break;
	case CT_ENGINE: rc = parse_engine(v, &x); break;
	case CT_LAUNCH: rc = parse_launch(v, &x); break;
	default: rc = parse_mode(v, n, &x); break;
	}
	if (rc == NUM_SYNTAX)
		return perr(p, CONFIG_EVALUE, "%s: '%s' %s", d->name,
		    show(v, n, shown), type_hint(d->type));
	if (d->type == CT_MODE && rc == NUM_RANGE)
		return perr(p, CONFIG_EVALUE, "%s: '%s' has bits beyond 0777 (a socket takes permission bits only)",
		    d->name, show(v, n, shown));
	if (d->type != CT_BOOL &&
	    (rc == NUM_RANGE || x < d->min || x > d->max)) {
		fmt_number(k, d->min, lo, sizeof(lo));
		fmt_number(k, d->max, hi, sizeof(hi));
		return perr(p, CONFIG_EVALUE, "%s: '%s' is out of range (%s to %s)",
		    d->name, show(v, n, shown), lo, hi);
	}
	set_num(p->c, k, x);
	return 0;
}

static bool
is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool
name_is_valid(const char *s, size_t n)
{
	if (n == 0 || n > CONFIG_NAME_MAX || !(is_alpha(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* The next item of a list separated by commas and blanks: [*start, *i). */
static bool
list_next(const char *v, size_t n, size_t *i, size_t *start)
{
	while (*i < n && (v[*i] == ',' || is_blank(v[*i])))
		(*i)++;
	if (*i == n)
		return false;
	*start = *i;
	while (*i < n && v[*i] != ',' && !is_blank(v[*i]))
		(*i)++;
	return true;
}

/* A list of user names: each valid, at most CONFIG_NAMES_MAX of them. */
static int
check_names(struct parse *p, enum config_key k, const char *v, size_t n)
{
	char shown[SHOW_MAX];
	size_t i = 0, start, count = 0;

	while (list_next(v, n, &i, &start)) {
		if (!name_is_valid(v + start, i - start)) {
			char one[CONFIG_NAME_MAX + 1];
			size_t len = i - start < CONFIG_NAME_MAX ? i - start :
			    CONFIG_NAME_MAX;

			memcpy(one, v + start, len);
			one[len] = '\0';
			return perr(p, CONFIG_EVALUE, "%s: '%s' is not a valid user name",
			    keydefs[k].name, show(one, len, shown));
		}
		if (++count > CONFIG_NAMES_MAX)
			return perr(p, CONFIG_EVALUE, "%s: more than %d names",
			    keydefs[k].name, CONFIG_NAMES_MAX);
	}
	if (count == 0)
		return perr(p, CONFIG_EVALUE, "%s: no user name given", keydefs[k].name);
	return 0;
}

/* TCPAddr: numeric IPv4 or IPv6 addresses, each once, at most
 * CONFIG_TCP_ADDRS_MAX (hostnames are not looked up: no DNS at start). */
static int
check_addrs(struct parse *p, enum config_key k, const char *v, size_t n)
{
	char shown[SHOW_MAX], one[INET6_ADDRSTRLEN + 1], seen[CONFIG_TCP_ADDRS_MAX][INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t i = 0, start, len, count = 0;
	int fam;

	while (list_next(v, n, &i, &start)) {
		len = i - start < INET6_ADDRSTRLEN ? i - start : INET6_ADDRSTRLEN;
		memcpy(one, v + start, len);
		one[len] = '\0';
		fam = inet_pton(AF_INET, one, bin) == 1 ? AF_INET :
		    inet_pton(AF_INET6, one, bin) == 1 ? AF_INET6 : 0;
		if (i - start > len || fam == 0)
			return perr(p, CONFIG_EVALUE, "%s: '%s' is not a numeric IPv4 or IPv6 address (names are not looked up)",
			    keydefs[k].name, show(v + start, i - start, shown));
		/* compared in canonical form: ::1 and 0::1 are one address */
		if (inet_ntop(fam, bin, one, sizeof(one)) == NULL)
			return perr(p, CONFIG_EVALUE, "%s: inet_ntop failed", keydefs[k].name);
		len = strlen(one);
		for (size_t j = 0; j < count; j++)
			if (strcmp(seen[j], one) == 0)
				return perr(p, CONFIG_EVALUE, "%s: '%s' given twice",
				    keydefs[k].name, show(one, len, shown));
		if (count == CONFIG_TCP_ADDRS_MAX)
			return perr(p, CONFIG_EVALUE, "%s: more than %d addresses",
			    keydefs[k].name, CONFIG_TCP_ADDRS_MAX);
		memcpy(seen[count++], one, len + 1);
	}
	if (count == 0)
		return perr(p, CONFIG_EVALUE, "%s: no address given", keydefs[k].name);
	return 0;
}

/* A string value's own rules; 0 or an error. */
static int
check_string(struct parse *p, enum config_key k, const char *v, size_t n)
{
	const struct keydef *d = &keydefs[k];
	char shown[SHOW_MAX];

	show(v, n, shown);
	if (d->type == CT_NAMES)
		return check_names(p, k, v, n);
	if (d->type == CT_ADDRS)
		return check_addrs(p, k, v, n);
	if (d->type == CT_NAME) {
		if (!name_is_valid(v, n))
			return perr(p, CONFIG_EVALUE, "%s: '%s' is not a valid name (letters, digits, '_', '.', '-', starting with a letter or '_'; at most %d bytes)",
			    d->name, shown, CONFIG_NAME_MAX);
		if (k != CONFIG_LOCAL_SOCKET_GROUP && strcmp(v, "root") == 0)
			return perr(p, CONFIG_EVALUE, "%s: must not be root (the scan service runs unprivileged; running it as root is fault 5's degraded mode, not a setting)",
			    d->name);
		return 0;
	}
	if (v[0] != '/')
		return perr(p, CONFIG_EVALUE, d->type == CT_COMMAND ?
		    "%s: '%s' does not start with an absolute path" :
		    "%s: '%s' is not an absolute path", d->name, shown);
	if (d->type == CT_SOCKET && n > CONFIG_SOCKET_PATH_MAX)
		return perr(p, CONFIG_EVALUE, "%s: '%s' is too long for a unix socket (%zu bytes, at most %d)",
		    d->name, shown, n, CONFIG_SOCKET_PATH_MAX);
	return 0;
}

static int
keep_string(struct parse *p, const char *v, size_t n, const char **out)
{
	struct config *c = p->c;
	char *s;

	if (c->nmem == sizeof(c->mem) / sizeof(c->mem[0]))
		return perr(p, CONFIG_ENOMEM, "too many strings");
	if ((s = malloc(n + 1)) == NULL)
		return perr(p, CONFIG_ENOMEM, "out of memory");
	memcpy(s, v, n + 1);
	c->mem[c->nmem++] = s;
	*out = s;
	return 0;
}

static int
add_trusted_key(struct parse *p, const char *v, size_t n)
{
	struct config *c = p->c;
	char shown[SHOW_MAX];
	size_t i = c->ntrusted_keys;
	int rc;

	for (size_t j = 0; j < i; j++)
		if (strcmp(c->trusted_keys[j], v) == 0)
			return perr(p, CONFIG_ESYNTAX, "TrustedKeys: '%s' listed twice (first on line %u)",
			    show(v, n, shown), c->trusted_keys_line[j]);
	if (i == CONFIG_TRUSTED_KEYS_MAX)
		return perr(p, CONFIG_EVALUE, "TrustedKeys: more than %d keys",
		    CONFIG_TRUSTED_KEYS_MAX);
	if ((rc = keep_string(p, v, n, &c->trusted_keys[i])) != 0)
		return rc;
	c->trusted_keys_line[i] = p->line;
	c->ntrusted_keys++;
	return 0;
}

/* A TCPAddr line after the first: its addresses added to the others. */
static int
add_addrs(struct parse *p, enum config_key k, const char *v, size_t n)
{
	const char *old = *fstr(p->c, k);
	size_t olen = strlen(old), len = olen + 2 + n;
	char *joined;
	int rc;

	if (len > CONFIG_VALUE_MAX)
		return perr(p, CONFIG_EVALUE, "%s: the addresses of all lines are too long",
		    keydefs[k].name);
	if ((joined = malloc(len + 1)) == NULL)
		return perr(p, CONFIG_ENOMEM, "out of memory");
	memcpy(joined, old, olen);
	memcpy(joined + olen, ", ", 2);
	memcpy(joined + olen + 2, v, n + 1);
	rc = check_addrs(p, k, joined, len);
	if (rc == 0)
		rc = keep_string(p, joined, len, fstr(p->c, k));
	free(joined);
	return rc;
}

/* v is NUL-terminated, n bytes, already unquoted. */
static int
set_value(struct parse *p, enum config_key k, const char *v, size_t n)
{
	const struct keydef *d = &keydefs[k];
	int rc;

	if (!is_string_type(d->type) && d->type != CT_PATHLIST)
		return set_number(p, k, v, n);
	if (d->type == CT_ADDRS && *fstr(p->c, k) != NULL) {
		if ((rc = check_string(p, k, v, n)) != 0)
			return rc;
		return add_addrs(p, k, v, n);
	}
	if ((rc = check_string(p, k, v, n)) != 0)
		return rc;
	if (d->type == CT_PATHLIST)
		return add_trusted_key(p, v, n);
	return keep_string(p, v, n, fstr(p->c, k));
}

/* ---- lines ---- */

static int
key_find(const char *s, size_t n)
{
	for (int k = 0; k < CONFIG_KEY_COUNT; k++)
		if (strlen(keydefs[k].name) == n &&
		    memcmp(keydefs[k].name, s, n) == 0)
			return k;
	return -1;
}

static char
lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Levenshtein distance, ignoring case; a and b at most 64 bytes. */
static size_t
distance(const char *a, size_t an, const char *b, size_t bn)
{
	size_t row[65], prev, tmp;

	for (size_t j = 0; j <= bn; j++)
		row[j] = j;
	for (size_t i = 1; i <= an; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= bn; j++) {
			size_t best = prev +
			    (lower(a[i - 1]) != lower(b[j - 1]));

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[bn];
}

static int
unknown_key(struct parse *p, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n), *best = NULL;
	size_t bestd = 3;
	char shown[SHOW_MAX];
	int k;

	show(s, n, shown);
	if (eq != NULL && (k = key_find(s, (size_t)(eq - s))) >= 0)
		return perr(p, CONFIG_ESYNTAX, "'%s': write '%s VALUE' (the key, a blank, the value; no '=')",
		    shown, keydefs[k].name);
	for (size_t i = 0; i < sizeof(clamd_keys) / sizeof(clamd_keys[0]); i++)
		if (strlen(clamd_keys[i].clamd) == n &&
		    memcmp(clamd_keys[i].clamd, s, n) == 0)
			return perr(p, CONFIG_ESYNTAX, "unknown key '%s' (clamd.conf's %s is %s here)",
			    shown, clamd_keys[i].clamd, clamd_keys[i].ours);
	for (k = 0; n <= 64 && k < CONFIG_KEY_COUNT; k++) {
		const char *name = keydefs[k].name;
		size_t d = distance(s, n, name, strlen(name));

		if (d == 0)
			return perr(p, CONFIG_ESYNTAX, "unknown key '%s' (keys are case-sensitive: did you mean %s?)",
			    shown, name);
		if (d < bestd) {
			bestd = d;
			best = name;
		}
	}
	if (best != NULL)
		return perr(p, CONFIG_ESYNTAX, "unknown key '%s' (did you mean %s?)",
		    shown, best);
	return perr(p, CONFIG_ESYNTAX, "unknown key '%s'", shown);
}

/* The value as written (after the key's blanks, before trailing ones):
 * unquote it, refuse what would be misread, copy it to buf. */
static int
take_value(struct parse *p, enum config_key k, const char *v, size_t n,
    char buf[CONFIG_VALUE_MAX + 1])
{
	const char *name = keydefs[k].name;

	if (n == 0)
		return perr(p, CONFIG_ESYNTAX, "%s: missing value", name);
	if (v[0] == '"') {
		if (n < 2 || v[n - 1] != '"')
			return perr(p, CONFIG_ESYNTAX, "%s: missing closing quote", name);
		v++;
		n -= 2;
	} else if (v[0] == '=') {
		return perr(p, CONFIG_ESYNTAX, "%s: no '=' between key and value (write '%s VALUE')",
		    name, name);
	} else {
		for (size_t i = 0; i < n; i++)
			if (v[i] == '#' && (i == 0 || is_blank(v[i - 1])))
				return perr(p, CONFIG_ESYNTAX, "%s: '#' starts a comment only at the start of a line (quote the value if the '#' belongs to it)",
				    name);
	}
	if (n == 0)
		return perr(p, CONFIG_ESYNTAX, "%s: empty value", name);
	if (n > CONFIG_VALUE_MAX)
		return perr(p, CONFIG_ESYNTAX, "%s: value too long (%zu bytes, at most %d)",
		    name, n, CONFIG_VALUE_MAX);
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 0;
}

static int
parse_setting(struct parse *p, const char *s, size_t n)
{
	char buf[CONFIG_VALUE_MAX + 1];
	size_t klen = 0;
	int k, rc;

	while (klen < n && !is_blank(s[klen]))
		klen++;
	if ((k = key_find(s, klen)) < 0)
		return unknown_key(p, s, klen);
	if (k != CONFIG_TRUSTED_KEYS && k != CONFIG_TCP_ADDR && p->c->line[k] != 0)
		return perr(p, CONFIG_ESYNTAX, "%s: given twice (first on line %u)",
		    keydefs[k].name, p->c->line[k]);
	s += klen;
	n -= klen;
	while (n > 0 && is_blank(*s))
		s++, n--;
	while (n > 0 && is_blank(s[n - 1]))
		n--;
	if ((rc = take_value(p, (enum config_key)k, s, n, buf)) != 0 ||
	    (rc = set_value(p, (enum config_key)k, buf, strlen(buf))) != 0)
		return rc;
	if (p->c->line[k] == 0)
		p->c->line[k] = p->line;
	return 0;
}

/* One line without its LF. */
static int
parse_line(struct parse *p, const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\0', n) != NULL)
		return perr(p, CONFIG_ESYNTAX, "NUL byte in the line (not a text file?)");
	while (n > 0 && is_blank(*s))
		s++, n--;
	if (n == 0 || s[0] == '#')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return perr(p, CONFIG_ESYNTAX, "control character 0x%02x in the line",
			    ch);
	}
	return parse_setting(p, s, n);
}

/* ---- contradictions ---- */

static int
conflict(struct parse *p, enum config_key a, const char *rel,
    enum config_key b, const char *why)
{
	const struct config *c = p->c;
	char va[CONFIG_VALUE_MAX + 3], vb[CONFIG_VALUE_MAX + 3];
	char wa[32] = "default", wb[32] = "default";

	if (c->line[a])
		snprintf(wa, sizeof(wa), "line %u", c->line[a]);
	if (c->line[b])
		snprintf(wb, sizeof(wb), "line %u", c->line[b]);
	p->line = c->line[a] > c->line[b] ? c->line[a] : c->line[b];
	return perr(p, CONFIG_ECONFLICT, "%s %s (%s) %s %s %s (%s): %s",
	    keydefs[a].name, config_value_format(c, a, va, sizeof(va)), wa,
	    rel, keydefs[b].name, config_value_format(c, b, vb, sizeof(vb)),
	    wb, why);
}

/* Path a is b or lies beneath it (trailing slashes of b ignored). */
static bool
path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	while (n > 1 && b[n - 1] == '/')
		n--;
	if (strncmp(a, b, n) != 0)
		return false;
	return a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/');
}

/* A heuristic or PUA option set to yes needs Engine clamav. */
static int
check_heuristics(struct parse *p)
{
	static const enum config_key alerting[] = { CONFIG_DETECT_PUA,
	    CONFIG_ALERT_BROKEN_EXECUTABLES, CONFIG_ALERT_ENCRYPTED,
	    CONFIG_ALERT_ENCRYPTED_ARCHIVE, CONFIG_ALERT_ENCRYPTED_DOC,
	    CONFIG_ALERT_EXCEEDS_MAX };
	const struct config *c = p->c;

	if (c->engine == CONFIG_ENGINE_CLAMAV)
		return 0;
	for (size_t i = 0; i < sizeof(alerting) / sizeof(alerting[0]); i++) {
		const bool *v = (const bool *)((const char *)c +
		    keydefs[alerting[i]].off);

		if (*v)
			return conflict(p, alerting[i], "is not available with",
			    CONFIG_ENGINE, "the builtin engine has no heuristics and no PUA signatures (set Engine clamav)");
	}
	return 0;
}

/*
 * MaxScanTime: when not given, ScanTimeout minus a margin (a tenth, 1 ms to
 * 10 s), so libclamav stops and the worker answers (as clamd does) before
 * ampdaemon's ScanTimeout kills it; given, it must be below ScanTimeout.
 */
static int
check_scan_time(struct parse *p)
{
	struct config *c = p->c;

	if (c->line[CONFIG_MAX_SCAN_TIME] == 0)
		c->max_scan_time_ms = config_scan_time_default(c->scan_timeout_ms);
	else if (c->max_scan_time_ms >= c->scan_timeout_ms)
		return conflict(p, CONFIG_MAX_SCAN_TIME, "is not below",
		    CONFIG_SCAN_TIMEOUT, "ampdaemon would kill the worker before libclamav stops the scan (MaxScanTime is in milliseconds)");
	return 0;
}

static int
check_conflicts(struct parse *p)
{
	struct config *c = p->c;
	int rc;

	if ((rc = check_scan_time(p)) != 0)
		return rc;

	if (c->restart_delay_min_ms > c->restart_delay_max_ms)
		return conflict(p, CONFIG_RESTART_DELAY_MIN, "is greater than",
		    CONFIG_RESTART_DELAY_MAX, "the backoff would start above its ceiling");
	if (c->max_file_size > c->max_scan_size)
		return conflict(p, CONFIG_MAX_FILE_SIZE, "is greater than",
		    CONFIG_MAX_SCAN_SIZE, "a file that large could never be scanned whole");
	if (c->stream_max_length > c->max_file_size)
		return conflict(p, CONFIG_STREAM_MAX_LENGTH, "is greater than",
		    CONFIG_MAX_FILE_SIZE, "a stream that long would be received and then not scanned");
	if (c->line[CONFIG_STREAM_MEMORY_LIMIT] == 0 &&
	    c->stream_memory_limit < c->stream_max_length)
		c->stream_memory_limit = c->stream_max_length;   /* follows it */
	else if (c->stream_memory_limit < c->stream_max_length)
		return conflict(p, CONFIG_STREAM_MEMORY_LIMIT, "is less than",
		    CONFIG_STREAM_MAX_LENGTH, "a stream of the longest length allowed could never be held");
	if (strcmp(c->local_socket, c->control_socket) == 0)
		return conflict(p, CONFIG_LOCAL_SOCKET, "is the same path as",
		    CONFIG_CONTROL_SOCKET, "the scan and control sockets must differ");
	if (c->local_socket_group != NULL &&
	    strcmp(c->local_socket_group, c->scan_group) == 0)
		return conflict(p, CONFIG_LOCAL_SOCKET_GROUP, "is the same group as",
		    CONFIG_SCAN_GROUP, "the scan account could make ampdaemon open any file as root");
	if (c->tcp_addr != NULL && c->tcp_socket == 0)
		return conflict(p, CONFIG_TCP_ADDR, "is given without",
		    CONFIG_TCP_SOCKET, "addresses to listen on need a port (TCPSocket PORT)");
	if (c->import_directory != NULL &&
	    (path_within(c->import_directory, c->definitions_dir) ||
	    path_within(c->definitions_dir, c->import_directory)))
		return conflict(p, CONFIG_IMPORT_DIRECTORY, "overlaps",
		    CONFIG_DEFINITIONS_DIR, "ampdaemon would import its own files (use incoming/ for drops)");
	return check_heuristics(p);
}

/* ---- the whole file ---- */

static int
parse_lines(struct parse *p, const char *buf, size_t len)
{
	const char *end;
	int rc;

	if (len == 0)
		return 0;
	end = buf + len;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		buf += 3;
	while (buf < end) {
		size_t room = (size_t)(end - buf);
		size_t scan = room > CONFIG_LINE_MAX + 2 ?
		    CONFIG_LINE_MAX + 2 : room;
		const char *nl = memchr(buf, '\n', scan);
		size_t n = nl != NULL ? (size_t)(nl - buf) : scan;

		p->line++;
		if (nl == NULL && scan < room)
			return perr(p, CONFIG_ESYNTAX, "line too long (more than %d bytes)",
			    CONFIG_LINE_MAX);
		/* the cap counts the line without its CR */
		if (n > CONFIG_LINE_MAX &&
		    !(n == CONFIG_LINE_MAX + 1 && buf[n - 1] == '\r'))
			return perr(p, CONFIG_ESYNTAX, "line too long (more than %d bytes)",
			    CONFIG_LINE_MAX);
		if ((rc = parse_line(p, buf, n)) != 0)
			return rc;
		buf += n + (nl != NULL);
	}
	return 0;
}

int
config_parse_buffer(const char *name, const char *buf, size_t len,
    struct config *c, char *err, size_t errlen)
{
	struct config t;
	struct parse p = { name, &t, err, errlen, 0 };
	int rc;

	config_defaults(c);
	config_defaults(&t);
	if (errlen > 0)
		err[0] = '\0';
	if (len > CONFIG_FILE_MAX)
		return perr(&p, CONFIG_EFILE, "too large (%zu bytes, at most %d)",
		    len, CONFIG_FILE_MAX);
	if ((rc = parse_lines(&p, buf, len)) == 0 &&
	    (rc = check_conflicts(&p)) == 0) {
		*c = t;
		return 0;
	}
	config_free(&t);
	return rc;
}

/* Read at most CONFIG_FILE_MAX + 1 bytes (one more says "too big"). */
static int
read_all(struct parse *p, int fd, char *buf, size_t *len)
{
	size_t n = 0;
	ssize_t r;

	while (n < CONFIG_FILE_MAX + 1) {
		r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return perr(p, CONFIG_EIO, "cannot read: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_FILE_MAX)
		return perr(p, CONFIG_EFILE, "too large (more than %d bytes)",
		    CONFIG_FILE_MAX);
	*len = n;
	return 0;
}

static int
check_file(struct parse *p, int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return perr(p, CONFIG_EIO, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return perr(p, CONFIG_EFILE, "not a regular file");
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return perr(p, CONFIG_EFILE, "owned by uid %u, not root (whoever owns it decides what a root daemon runs)",
		    (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return perr(p, CONFIG_EFILE, "writable by group or others (mode %04o): whoever can write it decides what a root daemon runs (chmod go-w)",
		    (unsigned)(st.st_mode & 07777));
	return 0;
}

int
config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	struct parse p = { path, c, err, errlen, 0 };
	char *buf = NULL;
	size_t len = 0;
	int fd, rc, saved;

	config_defaults(c);
	if (errlen > 0)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		saved = errno;
		rc = perr(&p, CONFIG_EIO, "cannot open: %s", strerror(errno));
		errno = saved;
		return rc;
	}
	if ((rc = check_file(&p, fd)) != 0)
		goto out;
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		rc = perr(&p, CONFIG_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = read_all(&p, fd, buf, &len)) != 0)
		goto out;
	rc = config_parse_buffer(path, buf, len, c, err, errlen);
out:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}
