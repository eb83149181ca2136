/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The detached .cvd.sign: PKCS#7 SignedData over the whole .cvd file. */
#ifndef CVD_SIGNFILE_H
#define CVD_SIGNFILE_H

#include <stddef.h>

#include "trust.h"

/*
 * Verify sign_path against the file open on fd with the trust store's
 * certificates.  Returns 0 with the signer's subject in signer, or
 * CVD_ESIGNFILE / CVD_EKEY with the reason in err.  Lines whose flevel range
 * excludes CVD_ENGINE_FLEVEL are skipped; one valid applicable line accepts.
 */
int signfile_verify(const struct cvd_trust *t, const char *sign_path, int fd,
    char *signer, size_t signerlen, char *err, size_t errlen);

/* Find the .sign for a container path and version; 0 if found. */
int signfile_find(const char *cvd_path, unsigned version, char *out,
    size_t outlen);

#endif
