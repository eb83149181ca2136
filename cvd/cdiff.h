/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The .cdiff internals, for cdiff.c's tests and fuzzer. */
#ifndef CVD_CDIFF_H
#define CVD_CDIFF_H

#include <stddef.h>
#include <stdint.h>

#include "ampscan/cvd.h"

/* A .cdiff held in memory, as cdiff_decode() finds it. */
struct cdiff_layout {
	unsigned version;
	uint64_t script_len;     /* as the header declares it */
	size_t header_len;       /* "ClamAV-Diff:V:L:" */
	size_t signed_len;       /* bytes before the last ':' */
	const char *sig;         /* the trailer (NULL: none found) */
	size_t siglen;
	uint8_t *script;         /* inflated, malloc'd; NULL on failure */
};

/*
 * Decode buf[0..len): the header, the gzip stream (exactly script_len bytes
 * once inflated, followed at once by the last ':') and the trailer's
 * syntax.  Nothing is verified.  Returns 0, or CVD_EHEADER, CVD_EPAYLOAD,
 * CVD_ESIG (trailer not base-64), CVD_ELIMIT or CVD_ENOMEM with the reason
 * in err (no file name).  l->sig is set as soon as a well-formed trailer is
 * found, even when the rest fails, so a caller can still check it.  Free
 * with cdiff_layout_free() whatever the outcome.
 */
int cdiff_decode(const uint8_t *buf, size_t len, struct cdiff_layout *l,
    char *err, size_t errlen);
void cdiff_layout_free(struct cdiff_layout *l);

/*
 * A cdiff made from a bare script, unsigned (signer NONE): the script is
 * checked exactly as cvd_cdiff_open() checks a verified one.  For tests and
 * the fuzzer only; nothing in the library or the tools calls it.
 */
int cdiff_from_script(const uint8_t *script, size_t len, unsigned version,
    const char *display, struct cvd_cdiff **out, char *err, size_t errlen);

#endif
