/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ClamAV's base-64, the legacy header signature and the PSS DSIG. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "dsig.h"

static int
b64_value(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

BIGNUM *
dsig_b64_decode(const char *s, size_t len)
{
	BIGNUM *bn = BN_new();

	if (bn == NULL)
		return NULL;
	/* digit i is worth value << 6i: walk from the most significant */
	for (size_t i = len; i-- > 0;) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0 || !BN_lshift(bn, bn, 6) || !BN_add_word(bn, (BN_ULONG)v)) {
			BN_free(bn);
			return NULL;
		}
	}
	return bn;
}

bool
dsig_b64_encode(const BIGNUM *bn, size_t nchars, char *out)
{
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
	int bits = BN_num_bits(bn);

	if ((size_t)bits > nchars * 6)
		return false;
	for (size_t i = 0; i < nchars; i++) {
		unsigned v = 0;

		for (int b = 0; b < 6; b++)
			if (BN_is_bit_set(bn, (int)(6 * i) + b))
				v |= 1U << b;
		out[i] = alpha[v];
	}
	out[nchars] = '\0';
	return true;
}

size_t
dsig_b64_len(int modulus_bits)
{
	return ((size_t)modulus_bits + 5) / 6;
}

static bool
rsa_params(EVP_PKEY *key, BIGNUM **n, BIGNUM **e, BIGNUM **d)
{
	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, e))
		return false;
	if (d != NULL && !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_D, d))
		return false;
	return true;
}

bool
dsig_legacy_verify(EVP_PKEY *key, const char *dsig, size_t len,
    const uint8_t md5[16])
{
	BIGNUM *n = NULL, *e = NULL, *c = NULL, *m = NULL;
	BN_CTX *ctx = NULL;
	uint8_t got[16];
	bool ok = false;

	if (!rsa_params(key, &n, &e, NULL) ||
	    (c = dsig_b64_decode(dsig, len)) == NULL ||
	    (m = BN_new()) == NULL || (ctx = BN_CTX_new()) == NULL)
		goto out;
	if (BN_cmp(c, n) >= 0 || !BN_mod_exp(m, c, e, n, ctx))
		goto out;
	/* left-pad to 16 bytes: an MD5 may start with zero bytes */
	if (BN_bn2binpad(m, got, sizeof(got)) != (int)sizeof(got))
		goto out;
	ok = CRYPTO_memcmp(got, md5, sizeof(got)) == 0;
out:
	BN_free(n);
	BN_free(e);
	BN_free(c);
	BN_free(m);
	BN_CTX_free(ctx);
	return ok;
}

bool
dsig_legacy_sign(EVP_PKEY *key, const uint8_t md5[16], char *out,
    size_t outlen)
{
	BIGNUM *n = NULL, *e = NULL, *d = NULL, *m = NULL, *c = NULL;
	BN_CTX *ctx = NULL;
	size_t nchars;
	bool ok = false;

	if (!rsa_params(key, &n, &e, &d) || (ctx = BN_CTX_new()) == NULL ||
	    (m = BN_bin2bn(md5, 16, NULL)) == NULL || (c = BN_new()) == NULL)
		goto out;
	BN_set_flags(d, BN_FLG_CONSTTIME);
	nchars = dsig_b64_len(BN_num_bits(n));
	if (nchars + 1 > outlen || !BN_mod_exp(c, m, d, n, ctx))
		goto out;
	ok = dsig_b64_encode(c, nchars, out);
out:
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_free(m);
	BN_free(c);
	BN_CTX_free(ctx);
	return ok;
}

static EVP_PKEY_CTX *
pss_ctx(EVP_PKEY *key, bool sign)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(key, NULL);

	if (pctx == NULL)
		return NULL;
	if ((sign ? EVP_PKEY_sign_init(pctx) : EVP_PKEY_verify_init(pctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, DSIG_PSS_SALTLEN) <= 0) {
		EVP_PKEY_CTX_free(pctx);
		return NULL;
	}
	return pctx;
}

/* MGF1 with SHA-256: out[0..len) ^= mask(seed) */
static void
pss_mgf1_xor(const uint8_t *seed, size_t seedlen, uint8_t *out, size_t len)
{
	uint8_t buf[64 + 4], h[32];

	memcpy(buf, seed, seedlen);
	for (uint32_t ctr = 0, done = 0; done < len; ctr++) {
		buf[seedlen] = (uint8_t)(ctr >> 24);
		buf[seedlen + 1] = (uint8_t)(ctr >> 16);
		buf[seedlen + 2] = (uint8_t)(ctr >> 8);
		buf[seedlen + 3] = (uint8_t)ctr;
		SHA256(buf, seedlen + 4, h);
		for (size_t i = 0; i < sizeof(h) && done < len; i++)
			out[done++] ^= h[i];
	}
}

/*
 * EMSA-PSS verification (RFC 8017 9.1.2), SHA-256, MGF1-SHA-256, 32-byte
 * salt, done by hand because ClamAV's signer encodes with emBits = modBits
 * rather than modBits - 1: on its 2047-bit key about half the real .info
 * DSIGs have the second-highest bit of EM set, which OpenSSL's strict
 * check rejects.  We allow that one bit and check everything else.
 */
static bool
pss_check_em(uint8_t *em, size_t emlen, int modbits, const uint8_t mhash[32])
{
	const size_t hlen = 32, slen = DSIG_PSS_SALTLEN;
	size_t dblen = emlen - hlen - 1, zeros = (size_t)emlen * 8 - (size_t)modbits;
	uint8_t mprime[8 + 32 + DSIG_PSS_SALTLEN], h[32];

	if (emlen < hlen + slen + 2 || em[emlen - 1] != 0xbc || zeros > 7)
		return false;
	if (zeros > 0 && (em[0] >> (8 - zeros)) != 0)
		return false;
	pss_mgf1_xor(em + dblen, hlen, em, dblen);
	em[0] &= (uint8_t)(0xff >> (zeros + 1 > 8 ? 8 : zeros + 1));
	for (size_t i = 0; i < dblen - slen - 1; i++)
		if (em[i] != 0)
			return false;
	if (em[dblen - slen - 1] != 0x01)
		return false;
	memset(mprime, 0, 8);
	memcpy(mprime + 8, mhash, 32);
	memcpy(mprime + 40, em + dblen - slen, slen);
	SHA256(mprime, sizeof(mprime), h);
	return CRYPTO_memcmp(h, em + dblen, hlen) == 0;
}

bool
dsig_pss_verify(EVP_PKEY *key, const uint8_t digest[32], const char *b64,
    size_t len)
{
	BIGNUM *n = NULL, *e = NULL, *s = NULL, *m = NULL;
	BN_CTX *ctx = NULL;
	uint8_t em[1024];
	int emlen, modbits;
	bool ok = false;

	if (!rsa_params(key, &n, &e, NULL) ||
	    (s = dsig_b64_decode(b64, len)) == NULL ||
	    (m = BN_new()) == NULL || (ctx = BN_CTX_new()) == NULL)
		goto out;
	modbits = BN_num_bits(n);
	emlen = (modbits + 7) / 8;
	if (emlen > (int)sizeof(em) || BN_cmp(s, n) >= 0 ||
	    !BN_mod_exp(m, s, e, n, ctx) || BN_bn2binpad(m, em, emlen) != emlen)
		goto out;
	ok = pss_check_em(em, (size_t)emlen, modbits, digest);
out:
	BN_free(n);
	BN_free(e);
	BN_free(s);
	BN_free(m);
	BN_CTX_free(ctx);
	return ok;
}

bool
dsig_pss_sign(EVP_PKEY *key, const uint8_t digest[32], char *out,
    size_t outlen)
{
	EVP_PKEY_CTX *pctx = NULL;
	BIGNUM *s = NULL;
	uint8_t sig[1024];
	size_t siglen = sizeof(sig);
	bool ok = false;

	if ((pctx = pss_ctx(key, true)) == NULL ||
	    EVP_PKEY_sign(pctx, sig, &siglen, digest, 32) <= 0 ||
	    (s = BN_bin2bn(sig, (int)siglen, NULL)) == NULL)
		goto out;
	if (dsig_b64_len(EVP_PKEY_get_bits(key)) + 1 > outlen)
		goto out;
	ok = dsig_b64_encode(s, dsig_b64_len(EVP_PKEY_get_bits(key)), out);
out:
	BN_free(s);
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

EVP_PKEY *
dsig_rsa_from_dec(const char *n_dec, const char *e_dec)
{
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key = NULL;

	if (!BN_dec2bn(&n, n_dec) || !BN_dec2bn(&e, e_dec) ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		key = NULL;
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(pctx);
	return key;
}
