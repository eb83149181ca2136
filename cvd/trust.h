/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The trust store's internals, shared by verification and cdiff. */
#ifndef CVD_TRUST_H
#define CVD_TRUST_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ampscan/cvd.h"

#define TRUST_ROLE_HEADER 0x1   /* legacy header signature */
#define TRUST_ROLE_DSIG 0x2     /* .info DSIG */
#define TRUST_ROLE_CDIFF 0x4    /* .cdiff trailer */
#define TRUST_MAX_KEYS 64

struct trust_key {
	EVP_PKEY *pkey;
	unsigned roles;
	bool official;
	char name[256];          /* "official" or the PEM file's path */
};

struct cvd_trust {
	struct trust_key keys[TRUST_MAX_KEYS];
	size_t nkeys;
	X509_STORE *store;       /* NULL until a certificates dir is set */
	char certs_dir[4096];
};

#endif
