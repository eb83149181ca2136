/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Keys and certificates the operator trusts, and the official ClamAV keys. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "dsig.h"
#include "trust.h"
#include "util.h"

#define TRUST_MIN_BITS 2048

/* The official keys (docs/definitions.md): header, .info DSIG, .cdiff. */
static const struct {
	const char *n, *e;
	unsigned roles;
} trust_official[] = {
	{ "118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037",
	  "100001027", TRUST_ROLE_HEADER },
	{ "11088894983048545473659556106627194923928941791795047620591658697413581043322715912172496806525381055880964520618400224333320534660299233983755341740679502866829909679955734391392668378361221524205396631090105151641270857277080310734320951653700508941717419168723942507890702904702707587451621691050754307850383399865346487203798464178537392211402786481359824461197231102895415093770394216666324484593935762408468516826633192140826667923494822045805347809932848454845886971706424360558667862775876072059437703365380209101697738577515476935085469455279994113145977994084618328482151013142393373316337519977244732747977",
	  "100002049", TRUST_ROLE_DSIG },
	{ "14783905874077467090262228516557917570254599638376203532031989214105552847269687489771975792123442185817287694951949800908791527542017115600501303394778618535864845235700041590056318230102449612217458549016089313306591388590790796515819654102320725712300822356348724011232654837503241736177907784198700834440681124727060540035754699658105895050096576226753008596881698828185652424901921668758326578462003247906470982092298106789657211905488986281078346361469524484829559560886227198091995498440676639639830463593211386055065360288422394053998134458623712540683294034953818412458362198117811990006021989844180721010947",
	  "100002053", TRUST_ROLE_CDIFF },
};

int
cvd_trust_new(unsigned flags, struct cvd_trust **out)
{
	struct cvd_trust *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CVD_ENOMEM;
	if (!(flags & CVD_TRUST_NO_OFFICIAL)) {
		for (size_t i = 0; i < sizeof(trust_official) / sizeof(trust_official[0]); i++) {
			struct trust_key *k = &t->keys[t->nkeys];

			k->pkey = dsig_rsa_from_dec(trust_official[i].n,
			    trust_official[i].e);
			if (k->pkey == NULL) {
				cvd_trust_free(t);
				return CVD_ENOMEM;
			}
			k->roles = trust_official[i].roles;
			k->official = true;
			cvd_strlcpy(k->name, "official", sizeof(k->name));
			t->nkeys++;
		}
	}
	*out = t;
	return 0;
}

void
cvd_trust_free(struct cvd_trust *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nkeys; i++)
		EVP_PKEY_free(t->keys[i].pkey);
	X509_STORE_free(t->store);
	free(t);
}

/* Check pkey (NULL: it did not parse) and trust it under name. */
static int
trust_take_key(struct cvd_trust *t, EVP_PKEY *pkey, const char *name,
    char *err, size_t errlen)
{
	if (pkey == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY,
		    "%s: not a PEM public key (BEGIN PUBLIC KEY)", name);
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(pkey) < TRUST_MIN_BITS) {
		int bits = EVP_PKEY_get_bits(pkey);

		EVP_PKEY_free(pkey);
		return cvd_seterr(err, errlen, CVD_EKEY,
		    "%s: %d-bit key; trusted keys must be RSA of at least %d bits",
		    name, bits, TRUST_MIN_BITS);
	}
	t->keys[t->nkeys].pkey = pkey;
	t->keys[t->nkeys].roles = TRUST_ROLE_HEADER | TRUST_ROLE_DSIG |
	    TRUST_ROLE_CDIFF;
	cvd_strlcpy(t->keys[t->nkeys].name, name, sizeof(t->keys[0].name));
	t->nkeys++;
	return 0;
}

int
cvd_trust_add_key_file(struct cvd_trust *t, const char *path, char *err,
    size_t errlen)
{
	EVP_PKEY *pkey;
	FILE *f;

	if (t->nkeys == TRUST_MAX_KEYS)
		return cvd_seterr(err, errlen, CVD_EKEY,
		    "%s: more than %d trusted keys", path, TRUST_MAX_KEYS);
	if ((f = fopen(path, "re")) == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY, "%s: %s", path,
		    strerror(errno));
	pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	return trust_take_key(t, pkey, path, err, errlen);
}

static bool
trust_is_cert_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && name[0] != '.' && (strcmp(name + n - 4, ".pem") == 0 ||
	    strcmp(name + n - 4, ".crt") == 0);
}

static int
trust_load_cert(X509_STORE *store, const char *dir, const char *name,
    int *count, char *err, size_t errlen)
{
	char path[4096];
	X509 *x;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return cvd_seterr(err, errlen, CVD_EKEY, "%s/%s: path too long",
		    dir, name);
	if ((f = fopen(path, "re")) == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY, "%s: %s", path,
		    strerror(errno));
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(store, x);

		X509_free(x);
		if (!ok) {
			fclose(f);
			ERR_clear_error();
			return cvd_seterr(err, errlen, CVD_EKEY,
			    "%s: cannot add certificate", path);
		}
		(*count)++;
	}
	fclose(f);
	ERR_clear_error();
	return 0;
}

int
cvd_trust_set_certs_dir(struct cvd_trust *t, const char *dir, char *err,
    size_t errlen)
{
	struct dirent *de;
	X509_STORE *store;
	int count = 0, rc = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY, "%s: %s", dir,
		    strerror(errno));
	if ((store = X509_STORE_new()) == NULL) {
		closedir(d);
		return CVD_ENOMEM;
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (trust_is_cert_name(de->d_name))
			rc = trust_load_cert(store, dir, de->d_name, &count,
			    err, errlen);
	closedir(d);
	if (rc != 0) {
		X509_STORE_free(store);
		return rc;
	}
	X509_STORE_free(t->store);
	t->store = store;
	cvd_strlcpy(t->certs_dir, dir, sizeof(t->certs_dir));
	return 0;
}

int
cvd_trust_add_key_pem(struct cvd_trust *t, const void *pem, size_t len,
    const char *name, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	BIO *bio;

	if (t->nkeys == TRUST_MAX_KEYS)
		return cvd_seterr(err, errlen, CVD_EKEY,
		    "%s: more than %d trusted keys", name, TRUST_MAX_KEYS);
	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return cvd_seterr(err, errlen, CVD_ENOMEM, "%s: out of memory", name);
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return trust_take_key(t, pkey, name, err, errlen);
}
