/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampdaemon's configuration parser (supervisor/common/config.c): every key's
 * default, every value type at and past its limits, each error class
 * with its file:line, contradictions, the reader's caps, config_load's
 * file checks, allocation failure, and config_print round trips.
 * Linked with -Wl,--wrap=malloc so allocation failure can be injected.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "testutil.h"

#define NAME "ampdaemon.conf"
#define DMAX CONFIG_DURATION_MAX_MS
#define G (1ULL << 30)
#define M (1ULL << 20)
#define K 1024ULL

/* ---- allocation failure: fail the Nth malloc after arming ---- */

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

static long malloc_countdown = -1;      /* -1: never fail */

void *
__wrap_malloc(size_t n)
{
	if (malloc_countdown >= 0 && malloc_countdown-- == 0)
		return NULL;
	return __real_malloc(n);
}

/* ---- helpers ---- */

static int
parse(const char *text, struct config *c, char *err, size_t errlen)
{
	return config_parse_buffer(NAME, text, strlen(text), c, err, errlen);
}

/* The typed field behind a non-string key, read the way ampdaemon will. */
static uint64_t
num(const struct config *c, enum config_key k)
{
	switch (k) {
	case CONFIG_CREATE_SCAN_USER: return c->create_scan_user;
	case CONFIG_WORKERS: return c->workers;
	case CONFIG_READY_TIMEOUT: return c->ready_timeout_ms;
	case CONFIG_SCAN_TIMEOUT: return c->scan_timeout_ms;
	case CONFIG_RESTART_DELAY_MIN: return c->restart_delay_min_ms;
	case CONFIG_RESTART_DELAY_MAX: return c->restart_delay_max_ms;
	case CONFIG_STABLE_AFTER: return c->stable_after_ms;
	case CONFIG_CRASH_WINDOW: return c->crash_window_ms;
	case CONFIG_CRASH_THRESHOLD: return c->crash_threshold;
	case CONFIG_INTERVENTION_AFTER: return c->intervention_after_ms;
	case CONFIG_POISON_THRESHOLD: return c->poison_threshold;
	case CONFIG_LOCAL_SOCKET_MODE: return c->local_socket_mode;
	case CONFIG_MAX_FILE_SIZE: return c->max_file_size;
	case CONFIG_MAX_SCAN_SIZE: return c->max_scan_size;
	case CONFIG_MAX_RECURSION: return c->max_recursion;
	case CONFIG_MAX_FILES: return c->max_files;
	case CONFIG_STREAM_MAX_LENGTH: return c->stream_max_length;
	case CONFIG_ALLOW_UNSIGNED: return c->allow_unsigned;
	case CONFIG_ENGINE: return c->engine;
	case CONFIG_CORE_DUMPS: return c->core_dumps;
	case CONFIG_ENABLE_SHUTDOWN_COMMAND: return c->enable_shutdown_command;
	case CONFIG_LOG_CLEAN: return c->log_clean;
	case CONFIG_LOG_VERBOSE: return c->log_verbose;
	default: fail_msg("key %d is not numeric", (int)k);
	}
	return 0;
}

static const char *
str(const struct config *c, enum config_key k)
{
	switch (k) {
	case CONFIG_SCAN_USER: return c->scan_user;
	case CONFIG_SCAN_GROUP: return c->scan_group;
	case CONFIG_DEFINITIONS_DIR: return c->definitions_dir;
	case CONFIG_STATE_DIR: return c->state_dir;
	case CONFIG_LOG_DIR: return c->log_dir;
	case CONFIG_LOCAL_SOCKET: return c->local_socket;
	case CONFIG_LOCAL_SOCKET_GROUP: return c->local_socket_group;
	case CONFIG_CONTROL_SOCKET: return c->control_socket;
	case CONFIG_CERTS_DIR: return c->certs_dir;
	case CONFIG_SCRATCH_DIR: return c->scratch_dir;
	case CONFIG_FAULT_COMMAND: return c->fault_command;
	case CONFIG_TRUSTED_KEYS: return c->ntrusted_keys ? c->trusted_keys[0] : NULL;
	default: fail_msg("key %d is not a string", (int)k);
	}
	return NULL;
}

static bool
is_str_key(enum config_key k)
{
	switch (k) {
	case CONFIG_SCAN_USER: case CONFIG_SCAN_GROUP: case CONFIG_DEFINITIONS_DIR:
	case CONFIG_STATE_DIR: case CONFIG_LOG_DIR: case CONFIG_LOCAL_SOCKET:
	case CONFIG_LOCAL_SOCKET_GROUP: case CONFIG_CONTROL_SOCKET:
	case CONFIG_CERTS_DIR: case CONFIG_FAULT_COMMAND: case CONFIG_TRUSTED_KEYS:
	case CONFIG_SCRATCH_DIR:
		return true;
	default:
		return false;
	}
}

static unsigned
count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A case: prefix (whole lines) then one line "text"; on success key has
 * num or str, on failure err holds "NAME:<line>: " and the substring msg. */
struct vcase {
	const char *text;
	enum config_key key;
	int rc;
	uint64_t num;
	const char *str;        /* rc 0: the string value; else: in err */
};

static void
run_cases(const char *prefix, const struct vcase *cs, size_t n)
{
	unsigned line = count_lines(prefix) + 1;

	for (size_t i = 0; i < n; i++) {
		const struct vcase *t = &cs[i];
		char text[CONFIG_LINE_MAX * 2], err[512] = "", want[64];
		struct config c;
		int rc;

		snprintf(text, sizeof(text), "%s%s\n", prefix, t->text);
		rc = parse(text, &c, err, sizeof(err));
		if (rc != t->rc)
			fail_msg("'%s': rc %d (%s), want %d", t->text, rc, err, t->rc);
		if (rc == 0) {
			if (is_str_key(t->key)) {
				if (strcmp(str(&c, t->key), t->str) != 0)
					fail_msg("'%s': got '%s'", t->text, str(&c, t->key));
			} else if (num(&c, t->key) != t->num) {
				fail_msg("'%s': got %llu, want %llu", t->text,
				    (unsigned long long)num(&c, t->key),
				    (unsigned long long)t->num);
			}
			assert_int_equal(c.line[t->key], line);
		} else {
			snprintf(want, sizeof(want), NAME ":%u: ", line);
			if (strncmp(err, want, strlen(want)) != 0 ||
			    strstr(err, t->str) == NULL)
				fail_msg("'%s': error '%s' lacks '%s%s'", t->text,
				    err, want, t->str);
		}
		config_free(&c);
	}
}

#define RUN(prefix, cases) run_cases(prefix, cases, sizeof(cases) / sizeof(cases[0]))

static char *
print_to_string(const struct config *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	config_print(f, c);
	assert_int_equal(fclose(f), 0);
	return out;
}

static char *
repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* ---- defaults ---- */

static void
test_config_defaults_every_key(void **state)
{
	static const struct {
		enum config_key key;
		const char *name, *value;
	} want[] = {
		{ CONFIG_SCAN_USER, "ScanUser", "cisco-amp-scan-svc" },
		{ CONFIG_SCAN_GROUP, "ScanGroup", "cisco-amp-scan-svc" },
		{ CONFIG_CREATE_SCAN_USER, "CreateScanUser", "yes" },
		{ CONFIG_WORKERS, "Workers", NULL },            /* CPUs */
		{ CONFIG_READY_TIMEOUT, "ReadyTimeout", "30s" },
		{ CONFIG_SCAN_TIMEOUT, "ScanTimeout", "120s" },
		{ CONFIG_RESTART_DELAY_MIN, "RestartDelayMin", "100ms" },
		{ CONFIG_RESTART_DELAY_MAX, "RestartDelayMax", "30s" },
		{ CONFIG_STABLE_AFTER, "StableAfter", "60s" },
		{ CONFIG_CRASH_WINDOW, "CrashWindow", "300s" },
		{ CONFIG_CRASH_THRESHOLD, "CrashThreshold", "3" },
		{ CONFIG_INTERVENTION_AFTER, "InterventionAfter", "600s" },
		{ CONFIG_POISON_THRESHOLD, "PoisonThreshold", "2" },
		{ CONFIG_DEFINITIONS_DIR, "DefinitionsDir", "/var/lib/ampscan/defs" },
		{ CONFIG_STATE_DIR, "StateDir", "/var/lib/ampscan/state" },
		{ CONFIG_LOG_DIR, "LogDir", "/var/log/ampscan" },
		{ CONFIG_LOCAL_SOCKET, "LocalSocket", "/run/ampscan/clamd.sock" },
		{ CONFIG_LOCAL_SOCKET_GROUP, "LocalSocketGroup", "(root's primary group)" },
		{ CONFIG_LOCAL_SOCKET_MODE, "LocalSocketMode", "660" },
		{ CONFIG_CONTROL_SOCKET, "ControlSocket", "/run/ampscan/control.sock" },
		{ CONFIG_MAX_FILE_SIZE, "MaxFileSize", "100M" },
		{ CONFIG_MAX_SCAN_SIZE, "MaxScanSize", "400M" },
		{ CONFIG_MAX_RECURSION, "MaxRecursion", "17" },
		{ CONFIG_MAX_FILES, "MaxFiles", "10000" },
		{ CONFIG_STREAM_MAX_LENGTH, "StreamMaxLength", "100M" },
		{ CONFIG_TRUSTED_KEYS, "TrustedKeys", "(none)" },
		{ CONFIG_CERTS_DIR, "CertsDir", "/etc/ampscan/certs" },
		{ CONFIG_ALLOW_UNSIGNED, "AllowUnsigned", "no" },
		{ CONFIG_TRIAL_TIMEOUT, "TrialTimeout", "300s" },
		{ CONFIG_TRIAL_MEMORY_LIMIT, "TrialMemoryLimit", "4G" },
		{ CONFIG_METRICS_FILE, "MetricsFile", "(none)" },
		{ CONFIG_FAULT_COMMAND, "FaultCommand", "(none)" },
		{ CONFIG_ENGINE, "Engine", "clamav" },
		{ CONFIG_SCRATCH_DIR, "ScratchDir", "/var/lib/ampscan/scratch" },
		{ CONFIG_CORE_DUMPS, "CoreDumps", "no" },
		{ CONFIG_ENABLE_SHUTDOWN_COMMAND, "EnableShutdownCommand", "no" },
		{ CONFIG_DETECT_PUA, "DetectPUA", "no" },
		{ CONFIG_HEURISTIC_ALERTS, "HeuristicAlerts", "yes" },
		{ CONFIG_HEURISTIC_SCAN_PRECEDENCE, "HeuristicScanPrecedence", "no" },
		{ CONFIG_ALERT_BROKEN_EXECUTABLES, "AlertBrokenExecutables", "no" },
		{ CONFIG_ALERT_ENCRYPTED, "AlertEncrypted", "no" },
		{ CONFIG_ALERT_ENCRYPTED_ARCHIVE, "AlertEncryptedArchive", "no" },
		{ CONFIG_ALERT_ENCRYPTED_DOC, "AlertEncryptedDoc", "no" },
		{ CONFIG_ALERT_EXCEEDS_MAX, "AlertExceedsMax", "no" },
		{ CONFIG_ALLOW_PARTIAL_ENGINE, "AllowPartialEngine", "no" },
		{ CONFIG_MAX_SCAN_TIME, "MaxScanTime", "110000" },
		{ CONFIG_TRUSTED_SCAN_USERS, "TrustedScanUsers", "(none)" },
		{ CONFIG_STREAM_MEMORY_LIMIT, "StreamMemoryLimit", "256M" },
		{ CONFIG_MAX_CONNECTIONS_PER_USER, "MaxConnectionsPerUser", "64" },
		{ CONFIG_MAX_SESSION_TIME, "MaxSessionTime", "1800s" },
		{ CONFIG_RELOAD_INTERVAL, "ReloadInterval", "60s" },
		{ CONFIG_WORKER_LAUNCH, "WorkerLaunch", "loader" },
		{ CONFIG_LOAD_TIMEOUT, "LoadTimeout", "300s" },
		{ CONFIG_WORKER_MEMORY_LIMIT, "WorkerMemoryLimit", "512M" },
		{ CONFIG_LOADER_HUGE_PAGES, "LoaderHugePages", "yes" },
		{ CONFIG_SPARE_WORKERS, "SpareWorkers", "0" },
		{ CONFIG_LOG_CLEAN, "LogClean", "no" },
		{ CONFIG_LOG_VERBOSE, "LogVerbose", "no" },
		{ CONFIG_TCP_SOCKET, "TCPSocket", "(off)" },
		{ CONFIG_TCP_ADDR, "TCPAddr", "(127.0.0.1)" },
		{ CONFIG_TCP_ALLOW_PATH_COMMANDS, "TCPAllowPathCommands", "no" },
		{ CONFIG_IMPORT_DIRECTORY, "ImportDirectory", "(none)" },
	};
	struct config c;
	char buf[256];

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), CONFIG_KEY_COUNT);
	config_defaults(&c);
	for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
		assert_int_equal(want[i].key, i);
		assert_string_equal(config_key_name(want[i].key), want[i].name);
		assert_int_equal(c.line[i], 0);
		if (want[i].value != NULL)
			assert_string_equal(config_value_format(&c, want[i].key,
			    buf, sizeof(buf)), want[i].value);
	}
	assert_null(config_key_name(CONFIG_KEY_COUNT));
	assert_int_equal(c.nmem, 0);
}

static void
test_config_defaults_typed_fields(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.scan_user, "cisco-amp-scan-svc");
	assert_string_equal(c.scan_group, "cisco-amp-scan-svc");
	assert_true(c.create_scan_user);
	assert_int_equal(c.ready_timeout_ms, 30000);
	assert_int_equal(c.scan_timeout_ms, 120000);
	assert_int_equal(c.restart_delay_min_ms, 100);
	assert_int_equal(c.restart_delay_max_ms, 30000);
	assert_int_equal(c.stable_after_ms, 60000);
	assert_int_equal(c.crash_window_ms, 300000);
	assert_int_equal(c.crash_threshold, 3);
	assert_int_equal(c.intervention_after_ms, 600000);
	assert_int_equal(c.poison_threshold, 2);
	assert_string_equal(c.definitions_dir, "/var/lib/ampscan/defs");
	assert_string_equal(c.state_dir, "/var/lib/ampscan/state");
	assert_string_equal(c.log_dir, "/var/log/ampscan");
	assert_string_equal(c.local_socket, "/run/ampscan/clamd.sock");
	assert_null(c.local_socket_group);
	assert_int_equal(c.local_socket_mode, 0660);
	assert_string_equal(c.control_socket, "/run/ampscan/control.sock");
	assert_int_equal(c.max_file_size, 100 * M);
	assert_int_equal(c.max_scan_size, 400 * M);
	assert_int_equal(c.max_recursion, 17);
	assert_int_equal(c.max_files, 10000);
	assert_int_equal(c.stream_max_length, 100 * M);
	assert_int_equal(c.ntrusted_keys, 0);
	assert_string_equal(c.certs_dir, "/etc/ampscan/certs");
	assert_false(c.allow_unsigned);
	assert_null(c.fault_command);
	assert_false(c.core_dumps);
	assert_false(c.enable_shutdown_command);
	assert_false(c.log_clean);      /* clamd's defaults */
	assert_false(c.log_verbose);
	assert_int_equal(c.spare_workers, 0);   /* opt-in (docs/loader.md) */
}

static void
test_config_workers_default_is_online_cpus(void **state)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	struct config c;

	(void)state;
	config_defaults(&c);
	if (n < 1)
		n = 1;
	if (n > CONFIG_WORKERS_MAX)
		n = CONFIG_WORKERS_MAX;
	assert_int_equal(c.workers, n);
}

static void
test_config_empty_and_comment_only_files_give_defaults(void **state)
{
	static const char *const texts[] = {
		"", "\n", "\n\n\n", "   \n\t\n", "# only a comment",
		"# a\n  # b\n\t#c\n\n", "\r\n\r\n", "\xef\xbb\xbf",
		"\xef\xbb\xbf# bom then comment\n", "#\x01\x7f\xff comment bytes\n",
	};
	struct config c, d;
	char err[256];

	(void)state;
	config_defaults(&d);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (parse(texts[i], &c, err, sizeof(err)) != 0)
			fail_msg("text %zu: %s", i, err);
		assert_true(config_equal(&c, &d));
		for (size_t k = 0; k < CONFIG_KEY_COUNT; k++)
			assert_int_equal(c.line[k], 0);
		config_free(&c);
	}
	assert_int_equal(config_parse_buffer(NAME, NULL, 0, &c, err, sizeof(err)), 0);
}

/* ---- value types ---- */

static void
test_config_durations_every_unit_and_limit(void **state)
{
	static const struct vcase cases[] = {
		{ "ReadyTimeout 100ms", CONFIG_READY_TIMEOUT, 0, 100, NULL },
		{ "ReadyTimeout 1ms", CONFIG_READY_TIMEOUT, 0, 1, NULL },
		{ "ScanTimeout 5", CONFIG_SCAN_TIMEOUT, 0, 5000, NULL },
		{ "ScanTimeout 2s", CONFIG_SCAN_TIMEOUT, 0, 2000, NULL },
		{ "ScanTimeout 3m", CONFIG_SCAN_TIMEOUT, 0, 180000, NULL },
		{ "ScanTimeout 4h", CONFIG_SCAN_TIMEOUT, 0, 14400000, NULL },
		{ "ScanTimeout 007s", CONFIG_SCAN_TIMEOUT, 0, 7000, NULL },
		{ "CrashWindow 8760h", CONFIG_CRASH_WINDOW, 0, DMAX, NULL },
		{ "CrashWindow 525600m", CONFIG_CRASH_WINDOW, 0, DMAX, NULL },
		{ "CrashWindow 31536000", CONFIG_CRASH_WINDOW, 0, DMAX, NULL },
		{ "CrashWindow 31536000s", CONFIG_CRASH_WINDOW, 0, DMAX, NULL },
		{ "CrashWindow 31536000000ms", CONFIG_CRASH_WINDOW, 0, DMAX, NULL },
		{ "CrashWindow 31536000001ms", CONFIG_CRASH_WINDOW, CONFIG_EVALUE, 0, "out of range (1ms to 8760h)" },
		{ "CrashWindow 8761h", CONFIG_CRASH_WINDOW, CONFIG_EVALUE, 0, "CrashWindow: '8761h' is out of range" },
		{ "CrashWindow 31536001", CONFIG_CRASH_WINDOW, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 18446744073709551615ms", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 18446744073709551616ms", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 5124095576030432h", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 307445734561825861m", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 18446744073709552s", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 99999999999999999999999999999h", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "ReadyTimeout 0", CONFIG_READY_TIMEOUT, CONFIG_EVALUE, 0, "ReadyTimeout: '0' is out of range (1ms to 8760h)" },
		{ "ScanTimeout 0ms", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "ScanTimeout: '0ms' is out of range" },
		{ "RestartDelayMin 0s", CONFIG_RESTART_DELAY_MIN, CONFIG_EVALUE, 0, "out of range" },
		{ "CrashWindow 0h", CONFIG_CRASH_WINDOW, CONFIG_EVALUE, 0, "out of range" },
		{ "StableAfter 0m", CONFIG_STABLE_AFTER, CONFIG_EVALUE, 0, "out of range" },
		{ "InterventionAfter 0", CONFIG_INTERVENTION_AFTER, 0, 0, NULL },
		{ "InterventionAfter 0ms", CONFIG_INTERVENTION_AFTER, 0, 0, NULL },
		{ "InterventionAfter 8761h", CONFIG_INTERVENTION_AFTER, CONFIG_EVALUE, 0, "out of range (0s to 8760h)" },
		{ "RestartDelayMin 10x", CONFIG_RESTART_DELAY_MIN, CONFIG_EVALUE, 0, "RestartDelayMin: '10x' is not a duration (use ms, s, m or h)" },
		{ "ScanTimeout 1.5s", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout -1s", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout +1s", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout s", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1 s", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1S", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1H", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1sec", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1ms5", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1d", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 0x10", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 1us", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
		{ "ScanTimeout 99999999999999999999999x", CONFIG_SCAN_TIMEOUT, CONFIG_EVALUE, 0, "is not a duration" },
	};

	(void)state;
	RUN("", cases);
}

static void
test_config_sizes_every_unit_and_limit(void **state)
{
	static const struct vcase cases[] = {
		{ "StreamMaxLength 1", CONFIG_STREAM_MAX_LENGTH, 0, 1, NULL },
		{ "StreamMaxLength 1024", CONFIG_STREAM_MAX_LENGTH, 0, 1024, NULL },
		{ "StreamMaxLength 1K", CONFIG_STREAM_MAX_LENGTH, 0, K, NULL },
		{ "StreamMaxLength 3k", CONFIG_STREAM_MAX_LENGTH, 0, 3 * K, NULL },
		{ "StreamMaxLength 1M", CONFIG_STREAM_MAX_LENGTH, 0, M, NULL },
		{ "StreamMaxLength 25m", CONFIG_STREAM_MAX_LENGTH, 0, 25 * M, NULL },
		{ "StreamMaxLength 1G", CONFIG_STREAM_MAX_LENGTH, 0, G, NULL },
		{ "StreamMaxLength 2g", CONFIG_STREAM_MAX_LENGTH, 0, 2 * G, NULL },
		{ "StreamMaxLength 4G", CONFIG_STREAM_MAX_LENGTH, 0, 4 * G, NULL },
		{ "StreamMaxLength 4096M", CONFIG_STREAM_MAX_LENGTH, 0, 4 * G, NULL },
		{ "StreamMaxLength 4194304K", CONFIG_STREAM_MAX_LENGTH, 0, 4 * G, NULL },
		{ "StreamMaxLength 4294967296", CONFIG_STREAM_MAX_LENGTH, 0, 4 * G, NULL },
		{ "StreamMaxLength 4294967297", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "StreamMaxLength: '4294967297' is out of range (1 to 4G)" },
		{ "StreamMaxLength 4194305K", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 5G", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 0", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range (1 to 4G)" },
		{ "StreamMaxLength 0K", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 18446744073709551615", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 18446744073709551616", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 17179869184G", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 18014398509481984K", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		/* these would wrap around to 1G and 1K without the overflow check */
		{ "StreamMaxLength 17179869185G", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 18014398509481985K", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 17592186044417M", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "out of range" },
		{ "StreamMaxLength 10X", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "StreamMaxLength: '10X' is not a size (use K, M or G)" },
		{ "StreamMaxLength 1KB", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "is not a size" },
		{ "StreamMaxLength 1T", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "is not a size" },
		{ "StreamMaxLength 1.5M", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "is not a size" },
		{ "StreamMaxLength -1", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "is not a size" },
		{ "StreamMaxLength K", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "is not a size" },
		{ "StreamMaxLength 1 K", CONFIG_STREAM_MAX_LENGTH, CONFIG_EVALUE, 0, "is not a size" },
	};
	static const struct vcase others[] = {
		{ "MaxFileSize 4G", CONFIG_MAX_FILE_SIZE, 0, 4 * G, NULL },
		{ "MaxFileSize 0", CONFIG_MAX_FILE_SIZE, CONFIG_EVALUE, 0, "MaxFileSize: '0' is out of range (1 to 4G)" },
		{ "MaxScanSize 4G", CONFIG_MAX_SCAN_SIZE, CONFIG_ESYNTAX, 0, "MaxScanSize: given twice (first on line 1)" },
	};

	(void)state;
	/* the other two sizes at their maximum, so only the value is tested */
	RUN("MaxScanSize 4G\nMaxFileSize 4G\n", cases);
	RUN("MaxScanSize 4G\n", others);
}

static void
test_config_booleans(void **state)
{
	static const struct vcase cases[] = {
		{ "CoreDumps yes", CONFIG_CORE_DUMPS, 0, 1, NULL },
		{ "CoreDumps no", CONFIG_CORE_DUMPS, 0, 0, NULL },
		{ "CoreDumps true", CONFIG_CORE_DUMPS, 0, 1, NULL },
		{ "CoreDumps false", CONFIG_CORE_DUMPS, 0, 0, NULL },
		{ "CoreDumps 1", CONFIG_CORE_DUMPS, 0, 1, NULL },
		{ "CoreDumps 0", CONFIG_CORE_DUMPS, 0, 0, NULL },
		{ "CoreDumps YES", CONFIG_CORE_DUMPS, 0, 1, NULL },
		{ "CoreDumps True", CONFIG_CORE_DUMPS, 0, 1, NULL },
		{ "CoreDumps FALSE", CONFIG_CORE_DUMPS, 0, 0, NULL },
		{ "CreateScanUser no", CONFIG_CREATE_SCAN_USER, 0, 0, NULL },
		{ "AllowUnsigned yes", CONFIG_ALLOW_UNSIGNED, 0, 1, NULL },
		{ "EnableShutdownCommand true", CONFIG_ENABLE_SHUTDOWN_COMMAND, 0, 1, NULL },
		{ "LogClean yes", CONFIG_LOG_CLEAN, 0, 1, NULL },
		{ "LogVerbose 1", CONFIG_LOG_VERBOSE, 0, 1, NULL },
		{ "CoreDumps maybe", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "CoreDumps: 'maybe' is not a boolean (use yes or no)" },
		{ "CoreDumps 2", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "is not a boolean" },
		{ "CoreDumps on", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "is not a boolean" },
		{ "CoreDumps y", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "is not a boolean" },
		{ "CoreDumps 01", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "is not a boolean" },
		{ "CoreDumps yes please", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "is not a boolean" },
		{ "CoreDumps yess", CONFIG_CORE_DUMPS, CONFIG_EVALUE, 0, "is not a boolean" },
		{ "Engine clamav", CONFIG_ENGINE, 0, CONFIG_ENGINE_CLAMAV, NULL },
		{ "Engine builtin", CONFIG_ENGINE, 0, CONFIG_ENGINE_BUILTIN, NULL },
		{ "Engine \"clamav\"", CONFIG_ENGINE, 0, CONFIG_ENGINE_CLAMAV, NULL },
		{ "Engine ClamAV", CONFIG_ENGINE, CONFIG_EVALUE, 0, "Engine: 'ClamAV' is not an engine (use clamav or builtin)" },
		{ "Engine libclamav", CONFIG_ENGINE, CONFIG_EVALUE, 0, "is not an engine" },
		{ "Engine 1", CONFIG_ENGINE, CONFIG_EVALUE, 0, "is not an engine" },
		{ "Engine clamav builtin", CONFIG_ENGINE, CONFIG_EVALUE, 0, "is not an engine" },
	};

	(void)state;
	RUN("", cases);
}

static void
test_config_numbers_at_and_past_limits(void **state)
{
	static const struct vcase cases[] = {
		{ "Workers 1", CONFIG_WORKERS, 0, 1, NULL },
		{ "Workers 64", CONFIG_WORKERS, 0, 64, NULL },
		{ "Workers 007", CONFIG_WORKERS, 0, 7, NULL },
		{ "Workers 0", CONFIG_WORKERS, CONFIG_EVALUE, 0, "Workers: '0' is out of range (1 to 64)" },
		{ "Workers 65", CONFIG_WORKERS, CONFIG_EVALUE, 0, "Workers: '65' is out of range (1 to 64)" },
		{ "Workers 4294967297", CONFIG_WORKERS, CONFIG_EVALUE, 0, "out of range" },
		{ "Workers 18446744073709551617", CONFIG_WORKERS, CONFIG_EVALUE, 0, "out of range" },
		{ "Workers +1", CONFIG_WORKERS, CONFIG_EVALUE, 0, "Workers: '+1' is not a number" },
		{ "Workers -1", CONFIG_WORKERS, CONFIG_EVALUE, 0, "is not a number" },
		{ "Workers 0x10", CONFIG_WORKERS, CONFIG_EVALUE, 0, "is not a number" },
		{ "Workers 1e3", CONFIG_WORKERS, CONFIG_EVALUE, 0, "is not a number" },
		{ "Workers 4.0", CONFIG_WORKERS, CONFIG_EVALUE, 0, "is not a number" },
		{ "Workers 4 workers", CONFIG_WORKERS, CONFIG_EVALUE, 0, "is not a number" },
		{ "Workers four", CONFIG_WORKERS, CONFIG_EVALUE, 0, "is not a number" },
		{ "CrashThreshold 1", CONFIG_CRASH_THRESHOLD, 0, 1, NULL },
		{ "CrashThreshold 1000", CONFIG_CRASH_THRESHOLD, 0, 1000, NULL },
		{ "CrashThreshold 0", CONFIG_CRASH_THRESHOLD, CONFIG_EVALUE, 0, "CrashThreshold: '0' is out of range (1 to 1000)" },
		{ "CrashThreshold 1001", CONFIG_CRASH_THRESHOLD, CONFIG_EVALUE, 0, "out of range" },
		{ "PoisonThreshold 1", CONFIG_POISON_THRESHOLD, 0, 1, NULL },
		{ "PoisonThreshold 1000", CONFIG_POISON_THRESHOLD, 0, 1000, NULL },
		{ "PoisonThreshold 0", CONFIG_POISON_THRESHOLD, CONFIG_EVALUE, 0, "out of range (1 to 1000)" },
		{ "MaxRecursion 1", CONFIG_MAX_RECURSION, 0, 1, NULL },
		{ "MaxRecursion 64", CONFIG_MAX_RECURSION, 0, 64, NULL },
		{ "MaxRecursion 65", CONFIG_MAX_RECURSION, CONFIG_EVALUE, 0, "out of range (1 to 64)" },
		{ "MaxRecursion 0", CONFIG_MAX_RECURSION, CONFIG_EVALUE, 0, "out of range" },
		{ "MaxFiles 1", CONFIG_MAX_FILES, 0, 1, NULL },
		{ "MaxFiles 1000000", CONFIG_MAX_FILES, 0, 1000000, NULL },
		{ "MaxFiles 1000001", CONFIG_MAX_FILES, CONFIG_EVALUE, 0, "out of range (1 to 1000000)" },
		{ "MaxFiles 0", CONFIG_MAX_FILES, CONFIG_EVALUE, 0, "out of range" },
	};

	(void)state;
	RUN("", cases);
}

static void
test_config_octal_mode(void **state)
{
	static const struct vcase cases[] = {
		{ "LocalSocketMode 660", CONFIG_LOCAL_SOCKET_MODE, 0, 0660, NULL },
		{ "LocalSocketMode 0660", CONFIG_LOCAL_SOCKET_MODE, 0, 0660, NULL },
		{ "LocalSocketMode 600", CONFIG_LOCAL_SOCKET_MODE, 0, 0600, NULL },
		{ "LocalSocketMode 0", CONFIG_LOCAL_SOCKET_MODE, 0, 0, NULL },
		{ "LocalSocketMode 000", CONFIG_LOCAL_SOCKET_MODE, 0, 0, NULL },
		{ "LocalSocketMode 777", CONFIG_LOCAL_SOCKET_MODE, 0, 0777, NULL },
		{ "LocalSocketMode 0777", CONFIG_LOCAL_SOCKET_MODE, 0, 0777, NULL },
		{ "LocalSocketMode 0000000000000000000000000000660", CONFIG_LOCAL_SOCKET_MODE, 0, 0660, NULL },
		{ "LocalSocketMode 1777", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "LocalSocketMode: '1777' has bits beyond 0777" },
		{ "LocalSocketMode 4660", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "has bits beyond 0777" },
		{ "LocalSocketMode 1000", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "has bits beyond 0777" },
		{ "LocalSocketMode 7777777777777777777777777", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "has bits beyond 0777" },
		{ "LocalSocketMode 678", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "LocalSocketMode: '678' is not an octal mode (e.g. 660)" },
		{ "LocalSocketMode 99999999999999999999999", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "is not an octal mode" },
		{ "LocalSocketMode 0x1b6", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "is not an octal mode" },
		{ "LocalSocketMode 0o660", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "is not an octal mode" },
		{ "LocalSocketMode -660", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "is not an octal mode" },
		{ "LocalSocketMode u+rw", CONFIG_LOCAL_SOCKET_MODE, CONFIG_EVALUE, 0, "is not an octal mode" },
	};

	(void)state;
	RUN("", cases);
}

static void
test_config_names_paths_and_commands(void **state)
{
	static const struct vcase cases[] = {
		{ "ScanUser amp", CONFIG_SCAN_USER, 0, 0, "amp" },
		{ "ScanUser _amp.scan-1", CONFIG_SCAN_USER, 0, 0, "_amp.scan-1" },
		{ "ScanUser abcdefghijklmnopqrstuvwxyz012345", CONFIG_SCAN_USER, 0, 0, "abcdefghijklmnopqrstuvwxyz012345" },
		{ "ScanUser abcdefghijklmnopqrstuvwxyz0123456", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "is not a valid name" },
		{ "ScanUser 1amp", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "ScanUser: '1amp' is not a valid name" },
		{ "ScanUser -amp", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "is not a valid name" },
		{ "ScanUser amp scan", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "is not a valid name" },
		{ "ScanUser amp$", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "is not a valid name" },
		{ "ScanUser \xc3\xa9t\xc3\xa9", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "is not a valid name" },
		{ "ScanUser root", CONFIG_SCAN_USER, CONFIG_EVALUE, 0, "ScanUser: must not be root" },
		{ "ScanGroup root", CONFIG_SCAN_GROUP, CONFIG_EVALUE, 0, "ScanGroup: must not be root" },
		{ "ScanGroup amp", CONFIG_SCAN_GROUP, 0, 0, "amp" },
		{ "LocalSocketGroup root", CONFIG_LOCAL_SOCKET_GROUP, 0, 0, "root" },
		{ "LocalSocketGroup clamav", CONFIG_LOCAL_SOCKET_GROUP, 0, 0, "clamav" },
		{ "LocalSocketGroup 0", CONFIG_LOCAL_SOCKET_GROUP, CONFIG_EVALUE, 0, "is not a valid name" },
		{ "DefinitionsDir /srv/defs", CONFIG_DEFINITIONS_DIR, 0, 0, "/srv/defs" },
		{ "DefinitionsDir /srv/my defs/x", CONFIG_DEFINITIONS_DIR, 0, 0, "/srv/my defs/x" },
		{ "DefinitionsDir /srv/a\tb", CONFIG_DEFINITIONS_DIR, 0, 0, "/srv/a\tb" },
		{ "DefinitionsDir /srv/\xc3\xa9", CONFIG_DEFINITIONS_DIR, 0, 0, "/srv/\xc3\xa9" },
		{ "DefinitionsDir defs", CONFIG_DEFINITIONS_DIR, CONFIG_EVALUE, 0, "DefinitionsDir: 'defs' is not an absolute path" },
		{ "StateDir ./state", CONFIG_STATE_DIR, CONFIG_EVALUE, 0, "is not an absolute path" },
		{ "LogDir ~/log", CONFIG_LOG_DIR, CONFIG_EVALUE, 0, "is not an absolute path" },
		{ "CertsDir /etc/ampscan/other-certs", CONFIG_CERTS_DIR, 0, 0, "/etc/ampscan/other-certs" },
		{ "CertsDir certs", CONFIG_CERTS_DIR, CONFIG_EVALUE, 0, "is not an absolute path" },
		{ "ScratchDir /srv/scratch", CONFIG_SCRATCH_DIR, 0, 0, "/srv/scratch" },
		{ "ScratchDir scratch", CONFIG_SCRATCH_DIR, CONFIG_EVALUE, 0, "ScratchDir: 'scratch' is not an absolute path" },
		{ "ControlSocket run/c.sock", CONFIG_CONTROL_SOCKET, CONFIG_EVALUE, 0, "is not an absolute path" },
		{ "LocalSocket /tmp/x.sock", CONFIG_LOCAL_SOCKET, 0, 0, "/tmp/x.sock" },
		{ "FaultCommand /usr/bin/logger -t amp-fault", CONFIG_FAULT_COMMAND, 0, 0, "/usr/bin/logger -t amp-fault" },
		{ "FaultCommand logger -t amp", CONFIG_FAULT_COMMAND, CONFIG_EVALUE, 0, "FaultCommand: 'logger -t amp' does not start with an absolute path" },
		{ "TrustedKeys /etc/ampscan/keys/ops.pem", CONFIG_TRUSTED_KEYS, 0, 0, "/etc/ampscan/keys/ops.pem" },
		{ "TrustedKeys ops.pem", CONFIG_TRUSTED_KEYS, CONFIG_EVALUE, 0, "TrustedKeys: 'ops.pem' is not an absolute path" },
	};

	(void)state;
	RUN("", cases);
}

static void
test_config_long_values_and_socket_paths(void **state)
{
	char *v107 = repeat('s', CONFIG_SOCKET_PATH_MAX - 1);
	char *v4095 = repeat('d', CONFIG_VALUE_MAX - 1);
	char *text = malloc(CONFIG_LINE_MAX + 64);
	struct config c;
	char err[512];

	(void)state;
	assert_non_null(text);
	/* a socket path of 107 bytes fits sun_path; 108 does not */
	snprintf(text, CONFIG_LINE_MAX + 64, "LocalSocket /%s\n", v107);
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(strlen(c.local_socket), CONFIG_SOCKET_PATH_MAX);
	config_free(&c);
	snprintf(text, CONFIG_LINE_MAX + 64, "ControlSocket /%ss\n", v107);
	assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, NAME ":1: ControlSocket: '/sss"));
	assert_non_null(strstr(err, "...' is too long for a unix socket (108 bytes, at most 107)"));
	/* a value of CONFIG_VALUE_MAX bytes is kept; one more is too long */
	snprintf(text, CONFIG_LINE_MAX + 64, "StateDir /%s\n", v4095);
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(strlen(c.state_dir), CONFIG_VALUE_MAX);
	config_free(&c);
	snprintf(text, CONFIG_LINE_MAX + 64, "StateDir \"/%sd\"\n", v4095);
	assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_string_equal(err, NAME ":1: StateDir: value too long (4096 bytes, at most 4095)");
	free(v107);
	free(v4095);
	free(text);
}

static void
test_config_quoting_and_separators(void **state)
{
	static const struct vcase cases[] = {
		{ "LogDir \"/var/log/amp \"", CONFIG_LOG_DIR, 0, 0, "/var/log/amp " },
		{ "LogDir \"/var/log/a #1\"", CONFIG_LOG_DIR, 0, 0, "/var/log/a #1" },
		{ "LogDir \"/a\"b\"", CONFIG_LOG_DIR, 0, 0, "/a\"b" },
		{ "LogDir /a\"b\"", CONFIG_LOG_DIR, 0, 0, "/a\"b\"" },
		{ "LogDir /var/log/a#1", CONFIG_LOG_DIR, 0, 0, "/var/log/a#1" },
		{ "LogDir \"/var/log/x\"   ", CONFIG_LOG_DIR, 0, 0, "/var/log/x" },
		{ "LogDir /var/log/a #1", CONFIG_LOG_DIR, CONFIG_ESYNTAX, 0, "LogDir: '#' starts a comment only at the start of a line" },
		{ "LogDir /var/log/a\t#1", CONFIG_LOG_DIR, CONFIG_ESYNTAX, 0, "'#' starts a comment" },
		{ "LogDir \"/var/log", CONFIG_LOG_DIR, CONFIG_ESYNTAX, 0, "LogDir: missing closing quote" },
		{ "LogDir \"", CONFIG_LOG_DIR, CONFIG_ESYNTAX, 0, "missing closing quote" },
		{ "LogDir \"\"", CONFIG_LOG_DIR, CONFIG_ESYNTAX, 0, "LogDir: empty value" },
		{ "LogDir \"var/log\"", CONFIG_LOG_DIR, CONFIG_EVALUE, 0, "is not an absolute path" },
		{ "Workers \"4\"", CONFIG_WORKERS, 0, 4, NULL },
		{ "Workers\t8", CONFIG_WORKERS, 0, 8, NULL },
		{ "  Workers 8  ", CONFIG_WORKERS, 0, 8, NULL },
		{ "\tWorkers\t \t8\t ", CONFIG_WORKERS, 0, 8, NULL },
		{ "Workers = 4", CONFIG_WORKERS, CONFIG_ESYNTAX, 0, "Workers: no '=' between key and value (write 'Workers VALUE')" },
		{ "Workers # 4", CONFIG_WORKERS, CONFIG_ESYNTAX, 0, "'#' starts a comment" },
		{ "Workers", CONFIG_WORKERS, CONFIG_ESYNTAX, 0, "Workers: missing value" },
		{ "Workers  \t ", CONFIG_WORKERS, CONFIG_ESYNTAX, 0, "Workers: missing value" },
	};

	(void)state;
	RUN("", cases);
}

/* ---- errors and where they are ---- */

static void
test_config_error_messages_name_file_and_line(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *err;
	} cases[] = {
		{ "Workers 4\n\n# c\nRestartDelayMin 10x\n", CONFIG_EVALUE,
		  NAME ":4: RestartDelayMin: '10x' is not a duration (use ms, s, m or h)" },
		{ "Workers 4\nScanTimeout 5s\nWorkers 8\n", CONFIG_ESYNTAX,
		  NAME ":3: Workers: given twice (first on line 1)" },
		{ "Workers 4\nScanTimeout 5s\nWorkers 4\n", CONFIG_ESYNTAX,
		  NAME ":3: Workers: given twice (first on line 1)" },
		{ "\n\nScanTimout 5s\n", CONFIG_ESYNTAX,
		  NAME ":3: unknown key 'ScanTimout' (did you mean ScanTimeout?)" },
		{ "RestartDelayMin 10s\nRestartDelayMax 5s\n", CONFIG_ECONFLICT,
		  NAME ":2: RestartDelayMin 10s (line 1) is greater than RestartDelayMax 5s (line 2): the backoff would start above its ceiling" },
		{ "RestartDelayMax 5s\nRestartDelayMin 10s\n", CONFIG_ECONFLICT,
		  NAME ":2: RestartDelayMin 10s (line 2) is greater than RestartDelayMax 5s (line 1): the backoff would start above its ceiling" },
		{ "RestartDelayMin 1m\n", CONFIG_ECONFLICT,
		  NAME ":1: RestartDelayMin 60s (line 1) is greater than RestartDelayMax 30s (default): the backoff would start above its ceiling" },
		{ "\nMaxScanTime 120000\n", CONFIG_ECONFLICT,
		  NAME ":2: MaxScanTime 120000 (line 2) is not below ScanTimeout 120s (default): ampdaemon would kill the worker before libclamav stops the scan (MaxScanTime is in milliseconds)" },
		{ "MaxScanTime 200000\nScanTimeout 5s\n", CONFIG_ECONFLICT,
		  NAME ":2: MaxScanTime 200000 (line 1) is not below ScanTimeout 5s (line 2): ampdaemon would kill the worker before libclamav stops the scan (MaxScanTime is in milliseconds)" },
		{ "\nStreamMemoryLimit 50M\n", CONFIG_ECONFLICT,
		  NAME ":2: StreamMemoryLimit 50M (line 2) is less than StreamMaxLength 100M (default): a stream of the longest length allowed could never be held" },
		{ "MaxConnectionsPerUser 961\n", CONFIG_EVALUE,
		  NAME ":1: MaxConnectionsPerUser: '961' is out of range (1 to 960)" },
		{ "MaxSessionTime 999ms\n", CONFIG_EVALUE,
		  NAME ":1: MaxSessionTime: '999ms' is out of range (1s to 8760h)" },
		{ "ReloadInterval 0\n", CONFIG_EVALUE,
		  NAME ":1: ReloadInterval: '0' is out of range (1s to 8760h)" },
		{ "MaxScanTime 0\n", CONFIG_EVALUE,
		  NAME ":1: MaxScanTime: '0' is out of range (1 to 2147483647)" },
		{ "ScanUser aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", CONFIG_EVALUE,
		  NAME ":1: ScanUser: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is not a valid name (letters, digits, '_', '.', '-', starting with a letter or '_'; at most 32 bytes)" },
		{ "ImportDirectory /var/lib/ampscan/defs/incoming\n", CONFIG_ECONFLICT,
		  NAME ":1: ImportDirectory /var/lib/ampscan/defs/incoming (line 1) overlaps DefinitionsDir /var/lib/ampscan/defs (default): ampdaemon would import its own files (use incoming/ for drops)" },
		{ "DefinitionsDir /srv/clamav/defs/\nImportDirectory /srv/clamav\n", CONFIG_ECONFLICT,
		  NAME ":2: ImportDirectory /srv/clamav (line 2) overlaps DefinitionsDir /srv/clamav/defs/ (line 1): ampdaemon would import its own files (use incoming/ for drops)" },
		{ "Workers 4\r\nCoreDumps perhaps\r\n", CONFIG_EVALUE,
		  NAME ":2: CoreDumps: 'perhaps' is not a boolean (use yes or no)" },
	};
	struct config c;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].text, &c, err, sizeof(err)), cases[i].rc);
		assert_string_equal(err, cases[i].err);
		config_free(&c);
	}
}

static void
test_config_duplicate_keys_name_both_lines(void **state)
{
	struct config c;
	char err[256], text[256];

	(void)state;
	/* every key but TrustedKeys and TCPAddr, with a valid value twice */
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		char v[64];
		struct config d;

		if (k == CONFIG_TRUSTED_KEYS || k == CONFIG_TCP_ADDR)
			continue;
		config_defaults(&d);
		config_value_format(&d, (enum config_key)k, v, sizeof(v));
		if (k == CONFIG_TCP_SOCKET)
			snprintf(v, sizeof(v), "3310");
		if (k == CONFIG_LOCAL_SOCKET_GROUP || k == CONFIG_FAULT_COMMAND ||
		    k == CONFIG_METRICS_FILE || k == CONFIG_TRUSTED_SCAN_USERS ||
		    k == CONFIG_IMPORT_DIRECTORY)
			snprintf(v, sizeof(v), "%s", k == CONFIG_FAULT_COMMAND ?
			    "/bin/true" : k == CONFIG_METRICS_FILE ? "/m/a.prom" :
			    k == CONFIG_IMPORT_DIRECTORY ? "/var/lib/clamav" :
			    "staff");
		snprintf(text, sizeof(text), "%s %s\n# between\n\n%s %s\n",
		    config_key_name((enum config_key)k), v,
		    config_key_name((enum config_key)k), v);
		assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_ESYNTAX);
		snprintf(text, sizeof(text), NAME ":4: %s: given twice (first on line 1)",
		    config_key_name((enum config_key)k));
		assert_string_equal(err, text);
	}
}

static void
test_config_trusted_keys_repeat_in_order(void **state)
{
	const char *text =
	    "TrustedKeys /etc/ampscan/keys/a.pem\n"
	    "Workers 2\n"
	    "TrustedKeys /etc/ampscan/keys/b.pem\n"
	    "# c\n"
	    "TrustedKeys \"/etc/ampscan/keys/with space.pem\"\n";
	struct config c;
	char err[256], buf[512];

	(void)state;
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.ntrusted_keys, 3);
	assert_string_equal(c.trusted_keys[0], "/etc/ampscan/keys/a.pem");
	assert_string_equal(c.trusted_keys[1], "/etc/ampscan/keys/b.pem");
	assert_string_equal(c.trusted_keys[2], "/etc/ampscan/keys/with space.pem");
	assert_int_equal(c.trusted_keys_line[0], 1);
	assert_int_equal(c.trusted_keys_line[1], 3);
	assert_int_equal(c.trusted_keys_line[2], 5);
	assert_int_equal(c.line[CONFIG_TRUSTED_KEYS], 1);
	assert_string_equal(config_value_format(&c, CONFIG_TRUSTED_KEYS, buf, sizeof(buf)),
	    "/etc/ampscan/keys/a.pem, /etc/ampscan/keys/b.pem, /etc/ampscan/keys/with space.pem");
	config_free(&c);
	assert_int_equal(c.ntrusted_keys, 0);
	assert_int_equal(c.nmem, 0);
}

static void
test_config_trusted_keys_limit_and_repeats(void **state)
{
	char text[4096], err[256];
	size_t used = 0;
	struct config c;

	(void)state;
	for (int i = 0; i < CONFIG_TRUSTED_KEYS_MAX; i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used,
		    "TrustedKeys /k/%d.pem\n", i);
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.ntrusted_keys, CONFIG_TRUSTED_KEYS_MAX);
	assert_int_equal(c.trusted_keys_line[CONFIG_TRUSTED_KEYS_MAX - 1], CONFIG_TRUSTED_KEYS_MAX);
	config_free(&c);
	snprintf(text + used, sizeof(text) - used, "TrustedKeys /k/one-more.pem\n");
	assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_string_equal(err, NAME ":17: TrustedKeys: more than 16 keys");
	assert_int_equal(parse("TrustedKeys /k/a.pem\nTrustedKeys /k/b.pem\nTrustedKeys /k/a.pem\n",
	    &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_string_equal(err, NAME ":3: TrustedKeys: '/k/a.pem' listed twice (first on line 1)");
}

static void
test_config_comments_blanks_trailing_spaces_and_crlf(void **state)
{
	const char *text =
	    "\xef\xbb\xbf# ampdaemon.conf\r\n"
	    "\r\n"
	    "   \r\n"
	    "\t# indented comment \x01 with bytes \xff\r\n"
	    "Workers 3  \r\n"
	    "ScanUser amp\t\r\n"
	    "#Workers 9\r\n"
	    "LogDir /var/log/x";        /* no final newline */
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 3);
	assert_string_equal(c.scan_user, "amp");
	assert_string_equal(c.log_dir, "/var/log/x");
	assert_int_equal(c.line[CONFIG_WORKERS], 5);
	assert_int_equal(c.line[CONFIG_SCAN_USER], 6);
	assert_int_equal(c.line[CONFIG_LOG_DIR], 8);
	config_free(&c);
	/* a BOM is skipped at the start only */
	assert_int_equal(parse("Workers 3\n\xef\xbb\xbfScanUser amp\n", &c, err, sizeof(err)),
	    CONFIG_ESYNTAX);
	assert_non_null(strstr(err, NAME ":2: unknown key"));
}

static void
test_config_control_characters_and_nul_bytes(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		const char *err;
	} cases[] = {
		{ "Workers 4\nScanUser a\0b\n", 22, NAME ":2: NUL byte in the line (not a text file?)" },
		{ "# a\0\n", 5, NAME ":1: NUL byte in the line (not a text file?)" },
		{ "Workers 4\n\0", 11, NAME ":2: NUL byte in the line (not a text file?)" },
		{ "\0Workers 4\n", 11, NAME ":1: NUL byte in the line (not a text file?)" },
		{ "Workers 3\r\r\n", 12, NAME ":1: control character 0x0d in the line" },
		{ "Workers 3\rScanUser amp\r", 23, NAME ":1: control character 0x0d in the line" },
		{ "Workers\x0b" "3\n", 10, NAME ":1: control character 0x0b in the line" },
		{ "LogDir /var/\x1b[31m\n", 18, NAME ":1: control character 0x1b in the line" },
		{ "\n\nLogDir /var/log\x7f\n", 19, NAME ":3: control character 0x7f in the line" },
	};
	struct config c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(config_parse_buffer(NAME, cases[i].text, cases[i].len,
		    &c, err, sizeof(err)), CONFIG_ESYNTAX);
		assert_string_equal(err, cases[i].err);
	}
}

static void
test_config_line_length_at_and_past_cap(void **state)
{
	size_t cap = CONFIG_LINE_MAX;
	char *buf = malloc(cap + 200000);
	struct config c;
	char err[256];

	(void)state;
	assert_non_null(buf);
	/* line 2 is a comment of exactly CONFIG_LINE_MAX bytes (LF, CRLF, EOF) */
	memcpy(buf, "Workers 2\n#", 11);
	memset(buf + 11, 'x', cap - 1);
	memcpy(buf + 10 + cap, "\nWorkers2 1\n", 12);
	assert_int_equal(config_parse_buffer(NAME, buf, 10 + cap, &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 2);
	memcpy(buf + 10 + cap, "\r\n", 2);
	assert_int_equal(config_parse_buffer(NAME, buf, 12 + cap, &c, err, sizeof(err)), 0);
	memcpy(buf + 10 + cap, "\n", 1);
	assert_int_equal(config_parse_buffer(NAME, buf, 11 + cap, &c, err, sizeof(err)), 0);
	/* the line after it is parsed as line 3 */
	memcpy(buf + 10 + cap, "\nWorkers2 1\n", 12);
	assert_int_equal(config_parse_buffer(NAME, buf, 22 + cap, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_non_null(strstr(err, NAME ":3: unknown key 'Workers2'"));
	/* one byte more: too long, at EOF, before LF, before CRLF */
	buf[10 + cap] = 'x';
	assert_int_equal(config_parse_buffer(NAME, buf, 11 + cap, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_string_equal(err, NAME ":2: line too long (more than 8192 bytes)");
	memcpy(buf + 11 + cap, "\n", 1);
	assert_int_equal(config_parse_buffer(NAME, buf, 12 + cap, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_string_equal(err, NAME ":2: line too long (more than 8192 bytes)");
	memcpy(buf + 11 + cap, "\r\n", 2);
	assert_int_equal(config_parse_buffer(NAME, buf, 13 + cap, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_string_equal(err, NAME ":2: line too long (more than 8192 bytes)");
	/* a very long line (200 KB) of a setting */
	memcpy(buf, "Workers 2\nLogDir /", 18);
	memset(buf + 18, 'y', cap + 200000 - 18);
	assert_int_equal(config_parse_buffer(NAME, buf, cap + 200000, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_string_equal(err, NAME ":2: line too long (more than 8192 bytes)");
	free(buf);
}

static void
test_config_buffer_over_file_cap(void **state)
{
	char *buf = malloc(CONFIG_FILE_MAX + 1);
	struct config c;
	char err[256];

	(void)state;
	assert_non_null(buf);
	memset(buf, '\n', CONFIG_FILE_MAX + 1);
	assert_int_equal(config_parse_buffer(NAME, buf, CONFIG_FILE_MAX, &c, err, sizeof(err)), 0);
	assert_int_equal(config_parse_buffer(NAME, buf, CONFIG_FILE_MAX + 1, &c, err, sizeof(err)), CONFIG_EFILE);
	assert_string_equal(err, NAME ": too large (1048577 bytes, at most 1048576)");
	free(buf);
}

static void
test_config_unknown_keys_suggest_close_ones(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "ScanTimout 5s", "unknown key 'ScanTimout' (did you mean ScanTimeout?)" },
		{ "scantimeout 5s", "unknown key 'scantimeout' (keys are case-sensitive: did you mean ScanTimeout?)" },
		{ "SCANUSER amp", "(keys are case-sensitive: did you mean ScanUser?)" },
		{ "Worker 4", "unknown key 'Worker' (did you mean Workers?)" },
		{ "MaxFileSizes 1M", "(did you mean MaxFileSize?)" },
		{ "TrustedKey /k.pem", "(did you mean TrustedKeys?)" },
		{ "LogFile /var/log/clamd.log", "unknown key 'LogFile' (clamd.conf's LogFile is LogDir here)" },
		{ "DatabaseDirectory /var/lib/clamav", "(clamd.conf's DatabaseDirectory is DefinitionsDir here)" },
		{ "User clamav", "(clamd.conf's User is ScanUser here)" },
		{ "MaxThreads 4", "(clamd.conf's MaxThreads is Workers here)" },
		{ "Frobnicate 1", "unknown key 'Frobnicate'" },
		{ "Workers=4", "'Workers=4': write 'Workers VALUE' (the key, a blank, the value; no '=')" },
		{ "Foo=bar", "unknown key 'Foo=bar'" },
		{ "Example", "unknown key 'Example'" },
	};
	struct config c;
	char err[512], text[256], *longkey;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "# x\n%s\n", cases[i].text);
		assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_ESYNTAX);
		if (strncmp(err, NAME ":2: ", strlen(NAME ":2: ")) != 0 ||
		    strstr(err, cases[i].err) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", cases[i].text, err, cases[i].err);
	}
	assert_int_equal(parse("Frobnicate 1\n", &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_null(strstr(err, "did you mean"));
	/* a huge key: no suggestion, a shortened echo */
	longkey = repeat('K', 5000);
	assert_int_equal(parse(longkey, &c, err, sizeof(err)), CONFIG_ESYNTAX);
	assert_non_null(strstr(err, "KKK...'"));
	free(longkey);
}

static void
test_config_contradictions_name_both_keys(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *err;
	} cases[] = {
		{ "RestartDelayMin 30s\n", 0, NULL },
		{ "RestartDelayMin 1s\nRestartDelayMax 1s\n", 0, NULL },
		{ "RestartDelayMax 50ms\n", CONFIG_ECONFLICT,
		  NAME ":1: RestartDelayMin 100ms (default) is greater than RestartDelayMax 50ms (line 1): the backoff would start above its ceiling" },
		{ "MaxFileSize 500M\n", CONFIG_ECONFLICT,
		  NAME ":1: MaxFileSize 500M (line 1) is greater than MaxScanSize 400M (default): a file that large could never be scanned whole" },
		{ "# x\nMaxScanSize 50M\n", CONFIG_ECONFLICT,
		  NAME ":2: MaxFileSize 100M (default) is greater than MaxScanSize 50M (line 2): a file that large could never be scanned whole" },
		{ "MaxFileSize 400M\nMaxScanSize 400M\n", 0, NULL },
		{ "StreamMaxLength 200M\n", CONFIG_ECONFLICT,
		  NAME ":1: StreamMaxLength 200M (line 1) is greater than MaxFileSize 100M (default): a stream that long would be received and then not scanned" },
		{ "StreamMaxLength 200M\nMaxFileSize 200M\n", 0, NULL },
		{ "MaxFileSize 50M\n", CONFIG_ECONFLICT,
		  NAME ":1: StreamMaxLength 100M (default) is greater than MaxFileSize 50M (line 1)" },
		{ "MaxFileSize 50M\nStreamMaxLength 50M\n", 0, NULL },
		{ "LocalSocket /run/ampscan/control.sock\n", CONFIG_ECONFLICT,
		  NAME ":1: LocalSocket /run/ampscan/control.sock (line 1) is the same path as ControlSocket /run/ampscan/control.sock (default): the scan and control sockets must differ" },
		{ "\nControlSocket /run/ampscan/clamd.sock\n", CONFIG_ECONFLICT,
		  NAME ":2: LocalSocket /run/ampscan/clamd.sock (default) is the same path as ControlSocket /run/ampscan/clamd.sock (line 2)" },
		{ "LocalSocketGroup cisco-amp-scan-svc\n", CONFIG_ECONFLICT,
		  NAME ":1: LocalSocketGroup cisco-amp-scan-svc (line 1) is the same group as ScanGroup cisco-amp-scan-svc (default): the scan account could make ampdaemon open any file as root" },
		{ "LocalSocketGroup amp\nScanGroup amp\n", CONFIG_ECONFLICT,
		  NAME ":2: LocalSocketGroup amp (line 1) is the same group as ScanGroup amp (line 2)" },
		{ "LocalSocketGroup amp\n", 0, NULL },
		/* deliberately allowed (config.h says why) */
		{ "CrashWindow 1ms\nCrashThreshold 1000\n", 0, NULL },
		{ "PoisonThreshold 10\nCrashThreshold 2\n", 0, NULL },
		{ "LocalSocketMode 666\n", 0, NULL },
	};
	struct config c;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(cases[i].text, &c, err, sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d (%s)", cases[i].text, rc, err);
		if (rc != 0 && strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("'%s': '%s'", cases[i].text, err);
		config_free(&c);
	}
}

static void
test_config_records_the_line_of_each_value(void **state)
{
	const char *text =
	    "# header\n"
	    "Workers 2\n"
	    "\n"
	    "ScanTimeout 10s\n"
	    "LogDir /tmp/log\n";
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		unsigned want = k == CONFIG_WORKERS ? 2 : k == CONFIG_SCAN_TIMEOUT ? 4 :
		    k == CONFIG_LOG_DIR ? 5 : 0;

		assert_int_equal(c.line[k], want);
	}
	config_free(&c);
}

static void
test_config_failure_leaves_defaults(void **state)
{
	const char *text =
	    "ScanUser amp\nLogDir /x\nTrustedKeys /k.pem\nWorkers 0\n";
	struct config c, d;
	char err[256];

	(void)state;
	config_defaults(&d);
	memset(&c, 0xa5, sizeof(c));   /* *c need not be initialised */
	assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_true(config_equal(&c, &d));
	assert_int_equal(c.nmem, 0);
	assert_int_equal(c.ntrusted_keys, 0);
	for (int k = 0; k < CONFIG_KEY_COUNT; k++)
		assert_int_equal(c.line[k], 0);
	config_free(&c);
	config_free(&c);
}

static void
test_config_error_buffer_small_or_absent(void **state)
{
	struct config c;
	char err[8];

	(void)state;
	assert_int_equal(parse("Workers 0\n", &c, NULL, 0), CONFIG_EVALUE);
	assert_int_equal(parse("Workers 0\n", &c, err, 1), CONFIG_EVALUE);
	assert_string_equal(err, "");
	assert_int_equal(parse("Workers 0\n", &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_string_equal(err, "ampdaem");
	assert_int_equal(parse("Workers 1\n", &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(config_strerror(CONFIG_ESYNTAX), "syntax");
	assert_string_equal(config_strerror(CONFIG_ECONFLICT), "conflict");
	assert_string_equal(config_strerror(42), "unknown error");
}

/* ---- printing ---- */

static void
check_round_trip(const struct config *c)
{
	char *out = print_to_string(c), err[512];
	struct config back;

	if (config_parse_buffer("printed", out, strlen(out), &back, err, sizeof(err)) != 0)
		fail_msg("%s\n--- printed:\n%s", err, out);
	for (int k = 0; k < CONFIG_KEY_COUNT; k++)
		if (!config_value_equal(c, &back, (enum config_key)k))
			fail_msg("%s differs after the round trip:\n%s",
			    config_key_name((enum config_key)k), out);
	assert_true(config_equal(c, &back));
	config_free(&back);
	free(out);
}

static void
test_config_print_defaults_round_trip(void **state)
{
	struct config c;
	char *out, want[64];

	(void)state;
	config_defaults(&c);
	out = print_to_string(&c);
	snprintf(want, sizeof(want), "\nWorkers %u\n", c.workers);
	assert_non_null(strstr(out, want));
	assert_true(strncmp(out, "# ", 2) == 0);
	assert_non_null(strstr(out, "\nScanUser cisco-amp-scan-svc\n"));
	assert_non_null(strstr(out, "\nCreateScanUser yes\n"));
	assert_non_null(strstr(out, "\nRestartDelayMin 100ms\n"));
	assert_non_null(strstr(out, "\nScanTimeout 120s\n"));
	assert_non_null(strstr(out, "\nLocalSocketMode 660\n"));
	assert_non_null(strstr(out, "\nMaxScanSize 400M\n"));
	assert_non_null(strstr(out, "\n#LocalSocketGroup (root's primary group)\n"));
	assert_non_null(strstr(out, "\n#TrustedKeys (none)\n"));
	assert_non_null(strstr(out, "\n#FaultCommand (none)\n"));
	assert_non_null(strstr(out, "\nEnableShutdownCommand no\n"));
	/* one line per key plus the heading */
	assert_int_equal(count_lines(out), CONFIG_KEY_COUNT + 1);
	free(out);
	check_round_trip(&c);
}

/* MaxScanTime: clamd's syntax (ms, K/M), a default below ScanTimeout. */
static void
test_config_trusted_scan_users(void **state)
{
	struct config c;
	char err[512];

	(void)state;
	assert_int_equal(parse("TrustedScanUsers amp,\tbackup  ops\n", &c, err,
	    sizeof(err)), 0);
	assert_string_equal(c.trusted_scan_users, "amp,\tbackup  ops");
	config_free(&c);
	assert_int_equal(parse("TrustedScanUsers amp 9lives\n", &c, err,
	    sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, "'9lives' is not a valid user name"));
	assert_int_equal(parse("TrustedScanUsers , ,\n", &c, err, sizeof(err)),
	    CONFIG_EVALUE);
	assert_non_null(strstr(err, "no user name given"));
	assert_int_equal(parse("TrustedScanUsers a b c d e f g h i j k l m n o p q\n",
	    &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, "more than 16 names"));
}

static void
test_config_tcp_socket_and_addresses(void **state)
{
	struct config c;
	char err[512];

	(void)state;
	assert_int_equal(parse("TCPSocket 3310\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.tcp_socket, 3310);
	assert_null(c.tcp_addr);
	assert_false(c.tcp_allow_path_commands);
	config_free(&c);
	/* several addresses on a line and several lines add up */
	assert_int_equal(parse("TCPSocket 65535\nTCPAddr 127.0.0.1, ::1\n"
	    "TCPAllowPathCommands yes\nTCPAddr 10.1.2.3\n", &c, err,
	    sizeof(err)), 0);
	assert_string_equal(c.tcp_addr, "127.0.0.1, ::1, 10.1.2.3");
	assert_true(c.tcp_allow_path_commands);
	assert_int_equal(c.line[CONFIG_TCP_ADDR], 2);
	config_free(&c);
	assert_int_equal(parse("TCPSocket 0\n", &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, "out of range (1 to 65535)"));
	assert_int_equal(parse("TCPSocket 65536\n", &c, err, sizeof(err)),
	    CONFIG_EVALUE);
	assert_int_equal(parse("TCPSocket 3310\nTCPAddr localhost\n", &c, err,
	    sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, "'localhost' is not a numeric IPv4 or IPv6 address"));
	assert_int_equal(parse("TCPSocket 3310\nTCPAddr 127.0.0.1:3310\n", &c, err,
	    sizeof(err)), CONFIG_EVALUE);
	/* the same address twice, also written differently, on two lines */
	assert_int_equal(parse("TCPSocket 1\nTCPAddr ::1\nTCPAddr 0::1\n", &c, err,
	    sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, "ampdaemon.conf:3: TCPAddr: '::1' given twice"));
	assert_int_equal(parse("TCPSocket 1\nTCPAddr 10.0.0.1 10.0.0.2 10.0.0.3 "
	    "10.0.0.4 10.0.0.5\nTCPAddr 10.0.0.6 10.0.0.7 10.0.0.8 10.0.0.9\n",
	    &c, err, sizeof(err)), CONFIG_EVALUE);
	assert_non_null(strstr(err, "more than 8 addresses"));
	/* addresses and no port: a contradiction naming both */
	assert_int_equal(parse("TCPAddr 127.0.0.1\n", &c, err, sizeof(err)),
	    CONFIG_ECONFLICT);
	assert_non_null(strstr(err, "TCPAddr 127.0.0.1 (line 1) is given without TCPSocket (off) (default)"));
}

static void
test_config_max_scan_time(void **state)
{
	struct config c;
	char err[512];

	(void)state;
	assert_int_equal(parse("ScanTimeout 30s\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_scan_time_ms, 27000);
	config_free(&c);
	assert_int_equal(parse("ScanTimeout 10m\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_scan_time_ms, 600000 - 10000);
	config_free(&c);
	assert_int_equal(parse("ScanTimeout 1ms\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_scan_time_ms, 1);
	config_free(&c);
	assert_int_equal(parse("MaxScanTime 60000\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_scan_time_ms, 60000);
	config_free(&c);
	assert_int_equal(parse("MaxScanTime 100K\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_scan_time_ms, 102400);
	config_free(&c);
	assert_int_equal(config_scan_time_default(120000), 110000);
}

static void
test_config_print_everything_set_round_trip(void **state)
{
	const char *text =
	    "ScanUser amp\n"
	    "ScanGroup ampgrp\n"
	    "CreateScanUser no\n"
	    "Workers 7\n"
	    "ReadyTimeout 1500ms\n"
	    "ScanTimeout 90\n"
	    "RestartDelayMin 1ms\n"
	    "RestartDelayMax 120m\n"
	    "StableAfter 8760h\n"
	    "CrashWindow 61s\n"
	    "CrashThreshold 1000\n"
	    "InterventionAfter 0\n"
	    "PoisonThreshold 1\n"
	    "DefinitionsDir \"/srv/defs with trailing blank \"\n"
	    "StateDir \"/srv/state #1\"\n"
	    "LogDir \"/srv/log\t#x\\\"\"\n"
	    "LocalSocket /tmp/a b.sock\n"
	    "LocalSocketGroup staff\n"
	    "LocalSocketMode 7\n"
	    "ControlSocket /tmp/\"c\".sock\n"
	    "MaxFileSize 1536\n"
	    "MaxScanSize 1536K\n"
	    "MaxRecursion 64\n"
	    "MaxFiles 1\n"
	    "StreamMaxLength 1\n"
	    "TrustedKeys /k/1.pem\n"
	    "TrustedKeys \"/k/2 #.pem\"\n"
	    "CertsDir /c\n"
	    "AllowUnsigned yes\n"
	    "TrialTimeout 2m\n"
	    "TrialMemoryLimit 16M\n"
	    "MetricsFile /m/ampscan.prom\n"
	    "FaultCommand /usr/bin/logger -t \"amp fault\" \n"
	    "Engine clamav\n"
	    "ScratchDir \"/srv/scratch #2\"\n"
	    "CoreDumps true\n"
	    "EnableShutdownCommand 1\n"
	    "DetectPUA yes\n"
	    "HeuristicAlerts no\n"
	    "HeuristicScanPrecedence yes\n"
	    "AlertBrokenExecutables yes\n"
	    "AlertEncrypted yes\n"
	    "AlertEncryptedArchive yes\n"
	    "AlertEncryptedDoc yes\n"
	    "AlertExceedsMax yes\n"
	    "AllowPartialEngine yes\n"
	    "MaxScanTime 60000\n"
	    "TrustedScanUsers connector, backup\n"
	    "StreamMemoryLimit 2K\n"
	    "MaxConnectionsPerUser 3\n"
	    "MaxSessionTime 5m\n"
	    "ReloadInterval 2s\n"
	    "WorkerLaunch exec\n"
	    "LoadTimeout 2m\n"
	    "WorkerMemoryLimit 0\n"
	    "LoaderHugePages no\n"
	    "SpareWorkers 2\n"
	    "LogClean yes\n"
	    "LogVerbose yes\n"
	    "TCPSocket 3310\n"
	    "TCPAddr 127.0.0.1, ::1\n"
	    "TCPAllowPathCommands yes\n"
	    "ImportDirectory /var/lib/clamav\n";
	struct config c;
	char err[512];

	(void)state;
	assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
	assert_string_equal(c.definitions_dir, "/srv/defs with trailing blank ");
	assert_false(c.loader_huge_pages);
	assert_int_equal(c.spare_workers, 2);
	assert_string_equal(c.state_dir, "/srv/state #1");
	assert_string_equal(c.log_dir, "/srv/log\t#x\\\"");
	assert_string_equal(c.local_socket, "/tmp/a b.sock");
	assert_string_equal(c.control_socket, "/tmp/\"c\".sock");
	assert_string_equal(c.fault_command, "/usr/bin/logger -t \"amp fault\"");
	assert_int_equal(c.ready_timeout_ms, 1500);
	assert_int_equal(c.scan_timeout_ms, 90000);
	assert_int_equal(c.max_scan_size, 1536 * K);
	assert_int_equal(c.local_socket_mode, 07);
	assert_int_equal(c.ntrusted_keys, 2);
	assert_string_equal(c.import_directory, "/var/lib/clamav");
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		struct config d;

		config_defaults(&d);
		/* Engine clamav is the default, and the heuristics above need it */
		if ((k != CONFIG_WORKERS || d.workers != 7) && k != CONFIG_ENGINE)
			assert_false(config_value_equal(&c, &d, (enum config_key)k));
		assert_int_not_equal(c.line[k], 0);
	}
	check_round_trip(&c);
	config_free(&c);
}

/* StreamMemoryLimit not given follows a StreamMaxLength above 256M. */
static void
test_config_stream_memory_follows_stream_max_length(void **state)
{
	struct config c;
	char err[512];

	(void)state;
	assert_int_equal(parse("MaxFileSize 1G\nMaxScanSize 1G\nStreamMaxLength 300M\n",
	    &c, err, sizeof(err)), 0);
	assert_int_equal(c.stream_memory_limit, 300 * M);
	config_free(&c);
	assert_int_equal(parse("StreamMaxLength 10M\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.stream_memory_limit, 256 * M);
	config_free(&c);
	assert_int_equal(parse("StreamMemoryLimit 10M\nStreamMaxLength 10M\n", &c,
	    err, sizeof(err)), 0);
	assert_int_equal(c.stream_memory_limit, 10 * M);
	config_free(&c);
}

static void
test_config_value_format_and_equal(void **state)
{
	struct config a, b;
	char buf[64], err[256];

	(void)state;
	config_defaults(&a);
	assert_int_equal(parse("ScanTimeout 120s\nMaxFiles 10000\nLocalSocketMode 0660\n",
	    &b, err, sizeof(err)), 0);
	assert_true(config_equal(&a, &b));
	config_free(&b);
	assert_int_equal(parse("ScanTimeout 121s\n", &b, err, sizeof(err)), 0);
	assert_false(config_equal(&a, &b));
	for (int k = 0; k < CONFIG_KEY_COUNT; k++)
		assert_int_equal(config_value_equal(&a, &b, (enum config_key)k),
		    k != CONFIG_SCAN_TIMEOUT && k != CONFIG_MAX_SCAN_TIME);
	/* MaxScanTime follows ScanTimeout when not given */
	assert_int_equal(b.max_scan_time_ms, 121000 - 10000);
	assert_false(config_value_equal(&a, &b, CONFIG_KEY_COUNT));
	assert_string_equal(config_value_format(&b, CONFIG_SCAN_TIMEOUT, buf, sizeof(buf)), "121s");
	assert_string_equal(config_value_format(&b, CONFIG_SCAN_USER, buf, 4), "cis");
	assert_string_equal(config_value_format(&b, CONFIG_KEY_COUNT, buf, sizeof(buf)), "");
	config_free(&b);
	assert_int_equal(parse("TrustedKeys /a\nTrustedKeys /b\n", &a, err, sizeof(err)), 0);
	assert_int_equal(parse("TrustedKeys /a\n", &b, err, sizeof(err)), 0);
	assert_false(config_value_equal(&a, &b, CONFIG_TRUSTED_KEYS));
	assert_string_equal(config_value_format(&a, CONFIG_TRUSTED_KEYS, buf, 6), "/a, /");
	config_free(&b);
	assert_int_equal(parse("TrustedKeys /a\nTrustedKeys /c\n", &b, err, sizeof(err)), 0);
	assert_false(config_value_equal(&a, &b, CONFIG_TRUSTED_KEYS));
	config_free(&a);
	config_free(&b);
	assert_int_equal(parse("FaultCommand /x\nLocalSocketGroup g\n", &a, err, sizeof(err)), 0);
	config_defaults(&b);
	assert_false(config_value_equal(&a, &b, CONFIG_FAULT_COMMAND));
	assert_false(config_value_equal(&b, &a, CONFIG_LOCAL_SOCKET_GROUP));
	config_free(&a);
}

/* ---- config_load ---- */

static void
write_mode(const char *path, const char *text, mode_t mode)
{
	tu_write_str(path, text);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_config_load_reads_a_file(void **state)
{
	char *dir = tu_tmpdir(), err[512], want[1024];
	const char *path = tu_path(dir, "ampdaemon.conf");
	struct config c;

	(void)state;
	write_mode(path, "# test\nWorkers 5\nTrustedKeys /k.pem\n", 0600);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 5);
	assert_int_equal(c.line[CONFIG_WORKERS], 2);
	assert_string_equal(c.trusted_keys[0], "/k.pem");
	config_free(&c);
	write_mode(path, "Workers 5\n\nScanTimeout 10x\n", 0644);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), CONFIG_EVALUE);
	snprintf(want, sizeof(want), "%s:3: ScanTimeout: '10x' is not a duration (use ms, s, m or h)", path);
	assert_string_equal(err, want);
	tu_rmtree(dir);
	free(dir);
}

static void
test_config_load_refuses_unsafe_or_odd_files(void **state)
{
	char *dir = tu_tmpdir(), err[512], want[1024], *big;
	const char *path = tu_path(dir, "ampdaemon.conf");
	const char *fifo = tu_path(dir, "fifo");
	struct config c;

	(void)state;
	assert_int_equal(config_load(tu_path(dir, "missing.conf"), &c, err, sizeof(err)), CONFIG_EIO);
	assert_int_equal(errno, ENOENT);
	snprintf(want, sizeof(want), "%s/missing.conf: cannot open: No such file or directory", dir);
	assert_string_equal(err, want);

	assert_int_equal(config_load(dir, &c, err, sizeof(err)), CONFIG_EFILE);
	assert_non_null(strstr(err, ": not a regular file"));

	assert_int_equal(mkfifo(fifo, 0600), 0);   /* must not block */
	assert_int_equal(config_load(fifo, &c, err, sizeof(err)), CONFIG_EFILE);
	assert_non_null(strstr(err, ": not a regular file"));

	write_mode(path, "Workers 5\n", 0664);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), CONFIG_EFILE);
	snprintf(want, sizeof(want), "%s: writable by group or others (mode 0664)", path);
	assert_true(strncmp(err, want, strlen(want)) == 0);
	write_mode(path, "Workers 5\n", 0602);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), CONFIG_EFILE);

	write_mode(path, "Workers 5\n", 0644);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(config_load(path, &c, err, sizeof(err)), CONFIG_EFILE);
		snprintf(want, sizeof(want), "%s: owned by uid 65534, not root", path);
		assert_true(strncmp(err, want, strlen(want)) == 0);
		assert_int_equal(chown(path, 0, 0), 0);
	}

	/* exactly CONFIG_FILE_MAX bytes is read; one more is refused */
	big = repeat('\n', CONFIG_FILE_MAX + 1);
	tu_write(path, big, CONFIG_FILE_MAX);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	tu_write(path, big, CONFIG_FILE_MAX + 1);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), CONFIG_EFILE);
	snprintf(want, sizeof(want), "%s: too large (more than 1048576 bytes)", path);
	assert_string_equal(err, want);
	free(big);
	tu_rmtree(dir);
	free(dir);
}

/* ---- allocation failure ---- */

static void
test_config_allocation_failure_at_every_step(void **state)
{
	const char *text = "ScanUser amp\nLogDir /l\nTrustedKeys /a\nTrustedKeys /b\nFaultCommand /f\n";
	char *dir = tu_tmpdir(), err[256];
	const char *path = tu_path(dir, "ampdaemon.conf");
	struct config c, d;
	long n;
	int rc;

	(void)state;
	config_defaults(&d);
	for (n = 0;; n++) {
		malloc_countdown = n;
		rc = parse(text, &c, err, sizeof(err));
		malloc_countdown = -1;
		if (rc == 0)
			break;
		assert_int_equal(rc, CONFIG_ENOMEM);
		assert_non_null(strstr(err, ": out of memory"));
		assert_true(config_equal(&c, &d));
		assert_int_equal(c.nmem, 0);
	}
	assert_int_equal(n, 5);         /* one copy per string value */
	config_free(&c);

	write_mode(path, text, 0600);
	malloc_countdown = 0;
	rc = config_load(path, &c, err, sizeof(err));
	malloc_countdown = -1;
	assert_int_equal(rc, CONFIG_ENOMEM);
	assert_true(strstr(err, ": out of memory") != NULL);
	tu_rmtree(dir);
	free(dir);
}

/* A heuristic or PUA option needs Engine clamav; the builtin refuses it. */
static void
test_config_heuristics_need_clamav(void **state)
{
	static const char *const keys[] = { "DetectPUA", "AlertBrokenExecutables",
	    "AlertEncrypted", "AlertEncryptedArchive", "AlertEncryptedDoc",
	    "AlertExceedsMax" };
	char text[256], err[512];
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text), "Engine builtin\n%s yes\n", keys[i]);
		assert_int_equal(parse(text, &c, err, sizeof(err)), CONFIG_ECONFLICT);
		assert_non_null(strstr(err, keys[i]));
		assert_non_null(strstr(err, "builtin engine has no heuristics"));
		snprintf(text, sizeof(text), "Engine clamav\n%s yes\n", keys[i]);
		assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
		config_free(&c);
		/* Engine clamav is the default */
		snprintf(text, sizeof(text), "%s yes\n", keys[i]);
		assert_int_equal(parse(text, &c, err, sizeof(err)), 0);
		config_free(&c);
	}
	/* a no, and HeuristicAlerts/HeuristicScanPrecedence, change nothing there */
	assert_int_equal(parse("AlertExceedsMax no\nHeuristicAlerts no\n"
	    "HeuristicScanPrecedence yes\n", &c, err, sizeof(err)), 0);
	assert_false(c.heuristic_alerts);
	config_free(&c);
}

/* ---- the example file ---- */

static void
test_config_example_lists_every_key_with_its_default(void **state)
{
	char path[4096], err[512], find[64];
	uint8_t *raw;
	char *text, *out, *line;
	size_t len, used = 0;
	struct config c, d;

	(void)state;
	snprintf(path, sizeof(path), "%s/etc/ampdaemon.conf.example", AMPSCAN_SOURCE_DIR);
	raw = tu_read(path, &len);
	text = (char *)raw;
	config_defaults(&d);
	/* as shipped, everything is commented out */
	assert_int_equal(config_parse_buffer("example", text, len, &c, err, sizeof(err)), 0);
	assert_true(config_equal(&c, &d));
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		snprintf(find, sizeof(find), "\n#%s ", config_key_name((enum config_key)k));
		if (strstr(text, find) == NULL)
			fail_msg("the example lacks a '#%s <default>' line",
			    config_key_name((enum config_key)k));
	}
	/* uncommenting every '#Key value' line (but '<placeholders>') gives
	 * the defaults again */
	out = malloc(len + 1);
	assert_non_null(out);
	for (line = text; *line; ) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
		bool setting = false;

		for (int k = 0; line[0] == '#' && k < CONFIG_KEY_COUNT; k++) {
			const char *name = config_key_name((enum config_key)k);
			size_t kl = strlen(name);

			if (strncmp(line + 1, name, kl) == 0 && line[1 + kl] == ' ' &&
			    line[2 + kl] != '<')
				setting = true;
		}
		memcpy(out + used, line + setting, n - setting);
		used += n - setting;
		line += n;
	}
	if (config_parse_buffer("example", out, used, &c, err, sizeof(err)) != 0)
		fail_msg("uncommented example: %s", err);
	for (int k = 0; k < CONFIG_KEY_COUNT; k++)
		if (!config_value_equal(&c, &d, (enum config_key)k))
			fail_msg("the example's %s is not the default",
			    config_key_name((enum config_key)k));
	config_free(&c);
	free(out);
	free(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults_every_key),
		cmocka_unit_test(test_config_defaults_typed_fields),
		cmocka_unit_test(test_config_workers_default_is_online_cpus),
		cmocka_unit_test(test_config_empty_and_comment_only_files_give_defaults),
		cmocka_unit_test(test_config_durations_every_unit_and_limit),
		cmocka_unit_test(test_config_sizes_every_unit_and_limit),
		cmocka_unit_test(test_config_booleans),
		cmocka_unit_test(test_config_numbers_at_and_past_limits),
		cmocka_unit_test(test_config_octal_mode),
		cmocka_unit_test(test_config_names_paths_and_commands),
		cmocka_unit_test(test_config_long_values_and_socket_paths),
		cmocka_unit_test(test_config_quoting_and_separators),
		cmocka_unit_test(test_config_error_messages_name_file_and_line),
		cmocka_unit_test(test_config_duplicate_keys_name_both_lines),
		cmocka_unit_test(test_config_trusted_keys_repeat_in_order),
		cmocka_unit_test(test_config_trusted_keys_limit_and_repeats),
		cmocka_unit_test(test_config_comments_blanks_trailing_spaces_and_crlf),
		cmocka_unit_test(test_config_control_characters_and_nul_bytes),
		cmocka_unit_test(test_config_line_length_at_and_past_cap),
		cmocka_unit_test(test_config_buffer_over_file_cap),
		cmocka_unit_test(test_config_unknown_keys_suggest_close_ones),
		cmocka_unit_test(test_config_contradictions_name_both_keys),
		cmocka_unit_test(test_config_records_the_line_of_each_value),
		cmocka_unit_test(test_config_failure_leaves_defaults),
		cmocka_unit_test(test_config_error_buffer_small_or_absent),
		cmocka_unit_test(test_config_print_defaults_round_trip),
		cmocka_unit_test(test_config_print_everything_set_round_trip),
		cmocka_unit_test(test_config_max_scan_time),
		cmocka_unit_test(test_config_trusted_scan_users),
		cmocka_unit_test(test_config_tcp_socket_and_addresses),
		cmocka_unit_test(test_config_value_format_and_equal),
		cmocka_unit_test(test_config_stream_memory_follows_stream_max_length),
		cmocka_unit_test(test_config_load_reads_a_file),
		cmocka_unit_test(test_config_load_refuses_unsafe_or_odd_files),
		cmocka_unit_test(test_config_allocation_failure_at_every_step),
		cmocka_unit_test(test_config_heuristics_need_clamav),
		cmocka_unit_test(test_config_example_lists_every_key_with_its_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
