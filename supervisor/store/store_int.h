/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of the definitions store shared by store.c and activate.c;
 * not an interface for anything else.
 */
#ifndef AMPSCAN_STORE_INT_H
#define AMPSCAN_STORE_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include "ampscan/cvd.h"
#include "store.h"

/* What a name in a store directory is (see store.h, "Names"). */
enum store_kind {
	STORE_KIND_OTHER,       /* a stray, a temporary file, the index */
	STORE_KIND_CONTAINER,   /* .cvd .cld .cud */
	STORE_KIND_PLAIN,       /* .hdb .hsb .ndb .fp .sfp .ign2 */
	STORE_KIND_SIGN,        /* NAME.sign */
};

#define STORE_KINDS_SET \
	((1u << STORE_KIND_CONTAINER) | (1u << STORE_KIND_PLAIN))
#define STORE_KINDS_ALL (STORE_KINDS_SET | (1u << STORE_KIND_SIGN))

/* Internal verdicts of store_judge(), besides 0 (valid) and STORE_ERR_*. */
#define STORE_INVALID 1         /* wrong bytes: delete, reason says why */
#define STORE_SKIP 2            /* gone, or a directory: nothing to judge */

#define STORE_TMP_MODE 0600      /* until the copy is complete */
#define STORE_OPEN_FILE \
	(O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
#define STORE_OPEN_DIR (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Names listed from one directory, sorted with strcmp. */
struct store_names {
	char (*name)[STORE_NAME_MAX + 1];
	size_t n;
};

struct store_reporter {
	void (*fn)(void *arg, const char *event, const char *file,
	    const char *reason);
	void *arg;
};


int store_join(char *buf, size_t len, const char *a, const char *b, char *err,
    size_t errlen);
void store_report(const struct store_reporter *r, const char *event,
    const char *dir, const char *name, const char *reason);
enum store_kind store_kind_of(const char *name);
/* Open a directory of the store; never through a symlink. */
int store_dir_open(const char *path, int *fd, char *err, size_t errlen);
bool store_names_has(const struct store_names *s, const char *name);
void store_names_free(struct store_names *s);
/* The names of dirfd (path, for messages) of the kinds in the mask. */
int store_list(int dirfd, const char *path, unsigned kinds,
    struct store_names *out, char *err, size_t errlen);
int store_header_read(int dirfd, const char *name, struct cvd_header *h);

#endif
