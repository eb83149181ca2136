/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scan engine interface: backend selection and dispatch. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "engine_if.h"
#include "engine_int.h"

bool
seng_backend_parse(const char *s, enum seng_backend *out)
{
	if (strcmp(s, "clamav") == 0)
		*out = SENG_CLAMAV;
	else if (strcmp(s, "builtin") == 0)
		*out = SENG_BUILTIN;
	else
		return false;
	return true;
}

const char *
seng_backend_name(enum seng_backend b)
{
	return b == SENG_CLAMAV ? "clamav" : "builtin";
}

static int
seng_make_marker(struct seng *e, char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[16];
	size_t off = (size_t)snprintf(e->marker, sizeof(e->marker),
	    "AMPSCAN-CANARY-");

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		e->marker[off++] = hex[rnd[i] >> 4];
		e->marker[off++] = hex[rnd[i] & 15];
	}
	e->marker[off] = '\0';
	return 0;
}

int
seng_new(enum seng_backend b, const struct seng_opts *o, struct seng **out,
    char *err, size_t errlen)
{
	struct seng *e = calloc(1, sizeof(*e));
	int rc;

	*out = NULL;
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->backend = b;
	e->o = *o;
	e->ops = b == SENG_CLAMAV ? &seng_clamav_ops : &seng_builtin_ops;
	if (seng_make_marker(e, err, errlen) != 0) {
		free(e);
		return -1;
	}
	rc = b == SENG_CLAMAV ? seng_clamav_init(e, err, errlen) :
	    seng_builtin_init(e, err, errlen);
	if (rc != 0) {
		seng_free(e);
		return -1;
	}
	*out = e;
	return 0;
}

int
seng_load(struct seng *e, const char *path, char *err, size_t errlen)
{
	return e->ops->load(e, path, err, errlen);
}

/*
 * The canaries prove the engine works, not that it is fast: a small
 * MaxScanTime (a loaded machine, a test's 1 ms) must not fail them.
 */
static int
seng_canaries(struct seng *e, char *err, size_t errlen)
{
	int rc;

	if (e->ops->canary_time != NULL)
		e->ops->canary_time(e, true);
	rc = seng_canary_check(e, e->ops->ncanaries, err, errlen);
	if (e->ops->canary_time != NULL)
		e->ops->canary_time(e, false);
	return rc;
}

int
seng_compile(struct seng *e, char *err, size_t errlen)
{
	if (e->ops->compile(e, err, errlen) != 0)
		return -1;
	if (e->o.no_canary || e->o.canary_later)
		return 0;
	return seng_canaries(e, err, errlen);
}

int
seng_check_canaries(struct seng *e, char *err, size_t errlen)
{
	if (e->o.no_canary) {
		snprintf(err, errlen, "the engine has no canary signature");
		return -1;
	}
	return seng_canaries(e, err, errlen);
}

#ifdef AMPSCAN_TEST_HOOKS
/*
 * Test builds, the clamav engine: walk.c's markers that make the worker
 * crash or hang, looked for in the file's first SENG_TEST_HOOK_BYTES (the
 * builtin engine's walk looks in every buffer it scans).
 */
#define SENG_TEST_HOOK_BYTES 65536

static void
seng_test_hooks_fd(int fd)
{
	static const char crash[] = "AMPSCAN-TEST-CRASH-MARKER";
	static const char hang[] = "AMPSCAN-TEST-HANG-MARKER";
	uint8_t *buf = malloc(SENG_TEST_HOOK_BYTES);
	ssize_t n = buf != NULL ? pread(fd, buf, SENG_TEST_HOOK_BYTES, 0) : -1;
	bool crashes = n > 0 && memmem(buf, (size_t)n, crash, sizeof(crash) - 1);
	bool hangs = n > 0 && memmem(buf, (size_t)n, hang, sizeof(hang) - 1);

	free(buf);
	if (crashes) {
		/* die by the signal even where a sanitizer catches SIGSEGV */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	}
	if (hangs)
		for (;;)
			pause();
}

bool
seng_test_marker(struct seng *e, const char *marker, const char *display,
    struct wproto_result *r)
{
	seng_scan_mem(e, (const uint8_t *)marker, strlen(marker), display, 0, r);
	return r->verdict == WPROTO_FOUND && r->nnames > 0 &&
	    strncmp(r->names[0].sig, "Heuristics.", 11) != 0;
}

int
seng_test_nostart(struct seng *e, char *err, size_t errlen)
{
	struct wproto_result r;

	if (!seng_test_marker(e, "AMPSCAN-TEST-NOSTART-MARKER", "nostart-probe", &r))
		return 0;
	snprintf(err, errlen, "test hook: the definitions detect the no-start marker (%s); refusing to start",
	    r.names[0].sig);
	return -1;
}
#endif

void
seng_scan_fd(struct seng *e, int fd, const char *display, unsigned flags,
    struct wproto_result *res)
{
#ifdef AMPSCAN_TEST_HOOKS
	if (e->backend == SENG_CLAMAV)
		seng_test_hooks_fd(fd);
#endif
	e->ops->scan_fd(e, fd, display, flags, res);
	seng_drop_canary(res);
}

void
seng_scan_mem(struct seng *e, const uint8_t *buf, size_t len,
    const char *display, unsigned flags, struct wproto_result *res)
{
	e->ops->scan_mem(e, buf, len, display, flags, res);
}

void
seng_info(const struct seng *e, struct wproto_ready *m)
{
	e->ops->info(e, m);
}

void
seng_version(const struct seng *e, char *out, size_t outlen)
{
	e->ops->version(e, out, outlen);
}

void
seng_free(struct seng *e)
{
	if (e == NULL)
		return;
	if (e->impl != NULL)
		e->ops->free(e);
	free(e);
}

void
seng_libclamav_version(char *out, size_t outlen)
{
	seng_clamav_version(out, outlen);
}
