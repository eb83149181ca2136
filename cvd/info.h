/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The .info member: header copy, one line per member, DSIG. */
#ifndef CVD_INFO_H
#define CVD_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ampscan/cvd.h"

struct info_entry {
	char name[CVD_MEMBER_NAME_MAX + 1];
	uint64_t size;
	uint8_t sha256[32];
	bool seen;               /* matched a tar member */
};

struct cvd_info {
	struct info_entry *entries;
	size_t n;
	bool has_dsig;
	size_t signed_len;       /* bytes before "DSIG:" */
	char dsig[CVD_DSIG_MAX + 1];
};

/*
 * Parse .info bytes and check its first line against the container's
 * header (every field but md5 and dsig, which are X here).  Returns 0 or
 * CVD_EINFO / CVD_ELIMIT / CVD_ENOMEM with the line and reason in err.
 */
int info_parse(const uint8_t *buf, size_t len, const struct cvd_header *h,
    struct cvd_info *out, char *err, size_t errlen);
void info_free(struct cvd_info *info);
/* The entry for name, or NULL. */
struct info_entry *info_find(struct cvd_info *info, const char *name);

#endif
