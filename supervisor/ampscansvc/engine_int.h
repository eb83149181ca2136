/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine interface's insides: what each backend provides, and what
 * the backends share (engine_common.c).  engine_if.c dispatches to the
 * backends; they never call it.
 */
#ifndef AMPSCAN_ENGINE_INT_H
#define AMPSCAN_ENGINE_INT_H

#include "engine_types.h"

#define SENG_MARKER_MAX 64

struct seng_ops {
	int (*load)(struct seng *e, const char *path, char *err, size_t errlen);
	int (*compile)(struct seng *e, char *err, size_t errlen);
	void (*scan_fd)(struct seng *e, int fd, const char *display,
	    unsigned flags, struct wproto_result *res);
	void (*scan_mem)(struct seng *e, const uint8_t *buf, size_t len,
	    const char *display, unsigned flags, struct wproto_result *res);
	void (*info)(const struct seng *e, struct wproto_ready *m);
	void (*version)(const struct seng *e, char *out, size_t outlen);
	void (*free)(struct seng *e);
	/* optional: the canaries start (true) and end: a time limit to lift */
	void (*canary_time)(struct seng *e, bool canaries);
	unsigned ncanaries;   /* canaries this backend must find */
};

struct seng {
	const struct seng_ops *ops;
	enum seng_backend backend;
	struct seng_opts o;
	/* "AMPSCAN-CANARY-" and 32 random hex digits: no file holds it */
	char marker[SENG_MARKER_MAX];
	void *impl;
};

extern const struct seng_ops seng_builtin_ops;
extern const struct seng_ops seng_clamav_ops;
int seng_builtin_init(struct seng *e, char *err, size_t errlen);
int seng_clamav_init(struct seng *e, char *err, size_t errlen);

/*
 * clamav: scan fd as a file of `size` bytes, the size fstat gave before
 * the file changed (seng_scan_fd calls it with fstat's size; tests call
 * it with a size the file no longer has, as when it is truncated while
 * being scanned).
 */
void seng_clamav_scan_sized(struct seng *e, int fd, uint64_t size,
    const char *display, unsigned flags, struct wproto_result *res);

/*
 * The canaries, made in memory around a marker only this process knows:
 * a plain buffer, a stored zip holding it, and a MIME message with it
 * attached in base 64.  Each must be FOUND as the canary (fixed options,
 * ALLMATCH).  0, or -1 with the canary and the outcome in err.
 */
int seng_canary_check(struct seng *e, unsigned ncanaries, char *err,
    size_t errlen);
#define SENG_CANARIES_ALL 3   /* plain, zip, mail */

/* engine_clamav.c: seng_libclamav_version's answer. */
void seng_clamav_version(char *out, size_t outlen);

/* The canary signature's body pattern (hex of the marker) into out. */
void seng_canary_hex(const struct seng *e, char *out, size_t outlen);
/* Remove the canary's matches from res; true if one was there. */
bool seng_drop_canary(struct wproto_result *res);
/* Fill res as an ERROR with a formatted reason. */
void seng_error(struct wproto_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
