/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ClamAV's signature encodings: its base-64 (little-endian 6-bit digits) of
 * a big integer, the legacy raw-RSA header signature over an MD5, and the
 * RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) signature over a SHA-256.
 */
#ifndef CVD_DSIG_H
#define CVD_DSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

#define DSIG_PSS_SALTLEN 32

/* Decode ClamAV base-64 into a new BIGNUM; NULL on a bad character. */
BIGNUM *dsig_b64_decode(const char *s, size_t len);
/*
 * Encode bn as exactly nchars ClamAV base-64 digits into out (nchars+1
 * bytes).  Returns false if bn does not fit.
 */
bool dsig_b64_encode(const BIGNUM *bn, size_t nchars, char *out);
/* Number of digits a signature under an n-bit modulus takes. */
size_t dsig_b64_len(int modulus_bits);

/* The legacy check: dsig^e mod n, left-padded to 16 bytes, equals md5. */
bool dsig_legacy_verify(EVP_PKEY *key, const char *dsig, size_t len,
    const uint8_t md5[16]);
/* The legacy signature: md5^d mod n, encoded; false on failure. */
bool dsig_legacy_sign(EVP_PKEY *key, const uint8_t md5[16], char *out,
    size_t outlen);

/* PSS over a SHA-256 digest, the signature in ClamAV base-64. */
bool dsig_pss_verify(EVP_PKEY *key, const uint8_t digest[32],
    const char *b64, size_t len);
bool dsig_pss_sign(EVP_PKEY *key, const uint8_t digest[32], char *out,
    size_t outlen);

/* An RSA public key from decimal modulus and exponent; NULL on failure. */
EVP_PKEY *dsig_rsa_from_dec(const char *n_dec, const char *e_dec);

#endif
