/* SPDX-License-Identifier: GPL-2.0-or-later */
/* .cvd.sign: "#clamsign-1.0" then "minfl:maxfl:pkcs7-pem:<base64 DER>" lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "signfile.h"
#include "util.h"

#define SIGN_MAGIC "#clamsign-1.0"

int
signfile_find(const char *cvd_path, unsigned version, char *out, size_t outlen)
{
	const char *slash = strrchr(cvd_path, '/'), *dot;
	size_t dirlen = slash ? (size_t)(slash - cvd_path) + 1 : 0;
	struct stat st;

	if ((size_t)snprintf(out, outlen, "%s.sign", cvd_path) < outlen &&
	    stat(out, &st) == 0)
		return 0;
	/* NAME-VERSION.cvd.sign beside NAME.cvd */
	dot = strrchr(cvd_path + dirlen, '.');
	if (dot == NULL)
		dot = cvd_path + strlen(cvd_path);
	if ((size_t)snprintf(out, outlen, "%.*s-%u%s.sign",
	    (int)(dot - cvd_path), cvd_path, version, dot) < outlen &&
	    stat(out, &st) == 0)
		return 0;
	out[0] = '\0';
	return -1;
}

static int
signfile_read(const char *path, char **buf, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return cvd_seterr(err, errlen, CVD_ESIGNFILE, "%s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CVD_MAX_SIGN_SIZE) {
		close(fd);
		return cvd_seterr(err, errlen, CVD_ESIGNFILE,
		    "%s: not a regular file of at most %u bytes", path,
		    CVD_MAX_SIGN_SIZE);
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return CVD_ENOMEM;
	}
	n = read(fd, *buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		*buf = NULL;
		return cvd_seterr(err, errlen, CVD_ESIGNFILE, "%s: short read",
		    path);
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static PKCS7 *
signfile_decode(const char *b64, size_t len)
{
	unsigned char *der;
	const unsigned char *p;
	PKCS7 *p7 = NULL;
	int n;

	if (len == 0 || len > CVD_MAX_SIGN_SIZE || len % 4 != 0 ||
	    (der = malloc(len / 4 * 3 + 1)) == NULL)
		return NULL;
	n = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)len);
	if (n > 0) {
		/* EVP_DecodeBlock counts '=' padding as zero bytes */
		n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
		p = der;
		p7 = d2i_PKCS7(NULL, &p, n);
	}
	free(der);
	return p7;
}

static void
signfile_signer(PKCS7 *p7, char *signer, size_t signerlen)
{
	STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);

	signer[0] = '\0';
	if (signers != NULL && sk_X509_num(signers) > 0)
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)),
		    signer, (int)signerlen);
	sk_X509_free(signers);
}

/* Verify one PKCS#7 line against the whole file; 0 if good. */
static int
signfile_check_line(X509_STORE *store, const char *b64, size_t len, int fd,
    char *signer, size_t signerlen, char *why, size_t whylen)
{
	PKCS7 *p7;
	BIO *data;
	int ok;

	if ((p7 = signfile_decode(b64, len)) == NULL) {
		cvd_seterr(why, whylen, CVD_ESIGNFILE, "not a base-64 DER PKCS#7");
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    (data = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL) {
		PKCS7_free(p7);
		cvd_seterr(why, whylen, CVD_EIO, "cannot read the container");
		return -1;
	}
	ok = PKCS7_verify(p7, NULL, store, data, NULL, PKCS7_BINARY) == 1;
	if (ok) {
		signfile_signer(p7, signer, signerlen);
	} else {
		unsigned long e = ERR_peek_last_error();

		cvd_seterr(why, whylen, CVD_ESIGNFILE, "%s",
		    e ? ERR_reason_error_string(e) : "verification failed");
	}
	ERR_clear_error();
	BIO_free(data);
	PKCS7_free(p7);
	return ok ? 0 : -1;
}

/* "min:max:pkcs7-pem:data": does the line apply to this engine? */
static int
signfile_line(X509_STORE *store, const char *line, size_t len, int fd,
    char *signer, size_t signerlen, char *why, size_t whylen)
{
	const char *f[4];
	size_t fl[4], start = 0;
	uint64_t minfl = 0, maxfl = UINT64_MAX;
	int n = 0;

	for (size_t i = 0; i <= len && n < 4; i++) {
		if (i < len && (line[i] != ':' || n == 3))
			continue;
		f[n] = line + start;
		fl[n] = (n == 3 ? len : i) - start;
		n++;
		start = i + 1;
	}
	if (n != 4 || (fl[0] && num_u64(f[0], fl[0], 0, &minfl) != NUM_OK) ||
	    (fl[1] && num_u64(f[1], fl[1], 0, &maxfl) != NUM_OK) ||
	    fl[2] != 9 || memcmp(f[2], "pkcs7-pem", 9) != 0) {
		cvd_seterr(why, whylen, CVD_ESIGNFILE,
		    "want minflevel:maxflevel:pkcs7-pem:data");
		return -1;
	}
	if (CVD_ENGINE_FLEVEL < minfl || CVD_ENGINE_FLEVEL > maxfl)
		return 1;
	return signfile_check_line(store, f[3], fl[3], fd, signer, signerlen,
	    why, whylen);
}

int
signfile_verify(const struct cvd_trust *t, const char *sign_path, int fd,
    char *signer, size_t signerlen, char *err, size_t errlen)
{
	char *buf, why[256] = "", *p;
	size_t len = 0, lineno = 0;
	int rc, applicable = 0, verdict = -1;

	if (t == NULL || t->store == NULL)
		return cvd_seterr(err, errlen, CVD_ESIGNFILE,
		    "%s: no certificates directory to check it against", sign_path);
	if ((rc = signfile_read(sign_path, &buf, &len, err, errlen)) != 0)
		return rc;
	if (len < strlen(SIGN_MAGIC) || memcmp(buf, SIGN_MAGIC, strlen(SIGN_MAGIC)) != 0)
		rc = cvd_seterr(err, errlen, CVD_ESIGNFILE,
		    "%s: does not start with " SIGN_MAGIC, sign_path);
	for (p = buf; rc == 0 && verdict != 0 && p < buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(buf + len - p);

		lineno++;
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll > 0 && p[0] != '#') {
			verdict = signfile_line(t->store, p, ll, fd, signer,
			    signerlen, why, sizeof(why));
			if (verdict <= 0)
				applicable++;
			if (verdict < 0 && applicable == 1)
				cvd_seterr(err, errlen, CVD_ESIGNFILE,
				    "%s line %zu: %s", sign_path, lineno, why);
		}
		p = nl ? nl + 1 : buf + len;
	}
	free(buf);
	if (rc != 0)
		return rc;
	if (verdict == 0)
		return 0;
	if (applicable == 0)
		return cvd_seterr(err, errlen, CVD_ESIGNFILE,
		    "%s: no signature line for engine level %d", sign_path,
		    CVD_ENGINE_FLEVEL);
	return CVD_ESIGNFILE;
}
