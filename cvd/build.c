/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Building containers (cvdtool build), detached .sign files (cvdtool sign)
 * and key pairs (cvdtool keygen).
 *
 * A build writes, in a temporary file beside the output: the header
 * placeholder, then a gzip'd old-style tar of COPYING, NAME.info and the
 * database files in name order.  The .info lists every database file with
 * its size and SHA-256 and, when signed, ends with the PSS DSIG.  The header
 * goes in last, with the payload's MD5 and its legacy signature.  The result
 * is verified like any container before it is renamed into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "dsig.h"
#include "tar.h"
#include "trust.h"
#include "statefile.h"
#include "util.h"

#define BUILD_COPYING \
	"This database was built with ampscan's cvdtool.\n" \
	"Its signatures are the property of their authors.\n"
#define BUILD_MAX_FILES 4096
/* The functionality level written when none is asked for (that of ClamAV 0.104, which reads every type we build). */
#define BUILD_FLEVEL_DEFAULT 81

struct build_file {
	char name[CVD_MEMBER_NAME_MAX + 1];
	uint64_t size;
	uint8_t sha256[32];
};

struct build {
	const struct cvd_build_opts *o;
	char *err;
	size_t errlen;
	int fd;                    /* the temporary output */
	z_stream z;
	bool z_live;
	EVP_MD_CTX *md5;
	uint8_t zbuf[1 << 16];
	const char *dir;
	struct build_file *files;
	size_t nfiles;
	uint64_t sigs;
};

static int
build_cmp(const void *a, const void *b)
{
	return strcmp(((const struct build_file *)a)->name,
	    ((const struct build_file *)b)->name);
}

static bool
build_is_db_name(const char *n)
{
	if (n[0] == '.' || strcmp(n, "COPYING") == 0)
		return false;
	return true;
}

/* Hash a file and count its signature lines. */
static int
build_scan_file(struct build *b, struct build_file *f)
{
	char path[4096];
	uint8_t buf[1 << 16];
	EVP_MD_CTX *ctx;
	bool linestart = true;
	ssize_t n;
	unsigned int dl = 32;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", b->dir, f->name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return cvd_seterr(b->err, b->errlen, CVD_EIO, "%s: %s", path,
		    strerror(errno));
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		close(fd);
		EVP_MD_CTX_free(ctx);
		return CVD_ENOMEM;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		f->size += (uint64_t)n;
		for (ssize_t i = 0; i < n; i++) {
			if (linestart && buf[i] != '\n' && buf[i] != '#')
				b->sigs++;
			linestart = buf[i] == '\n';
		}
	}
	EVP_DigestFinal_ex(ctx, f->sha256, &dl);
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (n < 0)
		return cvd_seterr(b->err, b->errlen, CVD_EIO, "%s: %s", path,
		    strerror(errno));
	return 0;
}

static int
build_list(struct build *b)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if ((d = opendir(b->dir)) == NULL)
		return cvd_seterr(b->err, b->errlen, CVD_EIO, "%s: %s", b->dir,
		    strerror(errno));
	if ((b->files = calloc(BUILD_MAX_FILES, sizeof(*b->files))) == NULL) {
		closedir(d);
		return CVD_ENOMEM;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (!build_is_db_name(de->d_name))
			continue;
		if (len > 5 && strcmp(de->d_name + len - 5, ".info") == 0)
			rc = cvd_seterr(b->err, b->errlen, CVD_EARG,
			    "%s/%s: a .info file; the build writes its own",
			    b->dir, de->d_name);
		else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			rc = cvd_seterr(b->err, b->errlen, CVD_EARG,
			    "%s/%s: not a regular file", b->dir, de->d_name);
		else if (len > CVD_MEMBER_NAME_MAX - 1 || b->nfiles == BUILD_MAX_FILES)
			rc = cvd_seterr(b->err, b->errlen, CVD_ELIMIT,
			    "%s/%s: name too long or too many files", b->dir,
			    de->d_name);
		else
			cvd_strlcpy(b->files[b->nfiles++].name, de->d_name,
			    sizeof(b->files[0].name));
	}
	closedir(d);
	if (rc == 0 && b->nfiles == 0)
		rc = cvd_seterr(b->err, b->errlen, CVD_EARG,
		    "%s: no database files", b->dir);
	qsort(b->files, b->nfiles, sizeof(*b->files), build_cmp);
	for (size_t i = 0; rc == 0 && i < b->nfiles; i++)
		rc = build_scan_file(b, &b->files[i]);
	return rc;
}

/* ---- the compressed output ----------------------------------------- */

static int
build_write_all(struct build *b, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(b->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cvd_seterr(b->err, b->errlen, CVD_EWRITE,
			    "write: %s", w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
build_deflate(struct build *b, const uint8_t *p, size_t n, int flush)
{
	int zr, rc;

	b->z.next_in = (Bytef *)(uintptr_t)p;
	b->z.avail_in = (uInt)n;
	do {
		b->z.next_out = b->zbuf;
		b->z.avail_out = sizeof(b->zbuf);
		zr = deflate(&b->z, flush);
		if (zr == Z_STREAM_ERROR)
			return cvd_seterr(b->err, b->errlen, CVD_EWRITE,
			    "deflate failed");
		size_t out = sizeof(b->zbuf) - b->z.avail_out;

		EVP_DigestUpdate(b->md5, b->zbuf, out);
		if ((rc = build_write_all(b, b->zbuf, out)) != 0)
			return rc;
	} while (b->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static int
build_tar_member(struct build *b, const char *name, const uint8_t *data,
    uint64_t size, int srcfd)
{
	uint8_t h[TAR_BLOCK], buf[1 << 16];
	int rc;

	tar_header_write(h, name, size);
	if ((rc = build_deflate(b, h, TAR_BLOCK, Z_NO_FLUSH)) != 0)
		return rc;
	if (data != NULL) {
		rc = build_deflate(b, data, (size_t)size, Z_NO_FLUSH);
	} else {
		uint64_t left = size;

		while (rc == 0 && left > 0) {
			ssize_t n = read(srcfd, buf, sizeof(buf));

			if (n <= 0 || (uint64_t)n > left)
				return cvd_seterr(b->err, b->errlen, CVD_EIO,
				    "%s: changed while building", name);
			rc = build_deflate(b, buf, (size_t)n, Z_NO_FLUSH);
			left -= (uint64_t)n;
		}
	}
	if (rc == 0 && size % TAR_BLOCK) {
		memset(buf, 0, TAR_BLOCK);
		rc = build_deflate(b, buf, TAR_BLOCK - size % TAR_BLOCK,
		    Z_NO_FLUSH);
	}
	return rc;
}

static int
build_tar_file(struct build *b, const struct build_file *f)
{
	char path[4096];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", b->dir, f->name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return cvd_seterr(b->err, b->errlen, CVD_EIO, "%s: %s", path,
		    strerror(errno));
	rc = build_tar_member(b, f->name, NULL, f->size, fd);
	close(fd);
	return rc;
}

/* ---- header and .info ------------------------------------------------ */

static int
build_load_key(struct build *b, EVP_PKEY **key)
{
	FILE *f;

	*key = NULL;
	if ((f = fopen(b->o->key_path, "re")) == NULL)
		return cvd_seterr(b->err, b->errlen, CVD_EKEY, "%s: %s",
		    b->o->key_path, strerror(errno));
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (*key == NULL || EVP_PKEY_get_base_id(*key) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(*key) < 2048) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return cvd_seterr(b->err, b->errlen, CVD_EKEY,
		    "%s: not a PEM RSA private key of 2048 bits or more",
		    b->o->key_path);
	}
	return 0;
}

/* "ClamAV-VDB:time:version:sigs:flevel:" prefix shared by header and .info */
static void
build_prefix(struct build *b, uint64_t stime, char *out, size_t outlen)
{
	char when[64];
	struct tm tm;
	time_t t = (time_t)stime;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%d %b %Y %H-%M +0000", &tm);
	snprintf(out, outlen, "ClamAV-VDB:%s:%u:%llu:%u:", when, b->o->version,
	    (unsigned long long)b->sigs, b->o->flevel ? b->o->flevel : BUILD_FLEVEL_DEFAULT);
}

static int
build_info(struct build *b, EVP_PKEY *key, const char *prefix,
    const char *builder, uint64_t stime, char **out, size_t *outlen)
{
	size_t cap = 1024 + b->nfiles * 200, len;
	char *s = malloc(cap), hex[65], sig[CVD_DSIG_MAX + 1];
	uint8_t digest[32];

	if (s == NULL)
		return CVD_ENOMEM;
	len = (size_t)snprintf(s, cap, "%sX:X:%s:%llu\n", prefix, builder,
	    (unsigned long long)stime);
	for (size_t i = 0; i < b->nfiles; i++) {
		num_hex(b->files[i].sha256, 32, hex);
		len += (size_t)snprintf(s + len, cap - len, "%s:%llu:%s\n",
		    b->files[i].name, (unsigned long long)b->files[i].size, hex);
	}
	if (key != NULL) {
		SHA256((const uint8_t *)s, len, digest);
		if (!dsig_pss_sign(key, digest, sig, sizeof(sig))) {
			free(s);
			return cvd_seterr(b->err, b->errlen, CVD_EKEY,
			    "signing the .info failed");
		}
		len += (size_t)snprintf(s + len, cap - len, "DSIG:%s\n", sig);
	}
	*out = s;
	*outlen = len;
	return 0;
}

static int
build_header(struct build *b, EVP_PKEY *key, const char *prefix,
    const char *builder, uint64_t stime)
{
	uint8_t md5[16], hdr[CVD_HEADER_SIZE];
	char md5hex[33], sig[CVD_DSIG_MAX + 1] = "X";
	unsigned int dl = 16;
	int n;

	EVP_DigestFinal_ex(b->md5, md5, &dl);
	num_hex(md5, 16, md5hex);
	if (key != NULL && !dsig_legacy_sign(key, md5, sig, sizeof(sig)))
		return cvd_seterr(b->err, b->errlen, CVD_EKEY,
		    "signing the header failed");
	memset(hdr, ' ', sizeof(hdr));
	n = snprintf((char *)hdr, sizeof(hdr), "%s%s:%s:%s:%llu", prefix,
	    md5hex, sig, builder, (unsigned long long)stime);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return cvd_seterr(b->err, b->errlen, CVD_EKEY,
		    "the header does not fit in %d bytes (a key over 2048 bits makes the legacy signature too long)",
		    CVD_HEADER_SIZE);
	hdr[n] = ' ';
	if (pwrite(b->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return cvd_seterr(b->err, b->errlen, CVD_EWRITE,
		    "writing the header: %s", strerror(errno));
	return 0;
}

static int
build_payload(struct build *b, EVP_PKEY *key, const char *builder,
    uint64_t stime)
{
	char prefix[256], *info = NULL, infoname[CVD_MEMBER_NAME_MAX + 1];
	uint8_t zero[2 * TAR_BLOCK] = { 0 };
	size_t infolen = 0;
	int rc;

	build_prefix(b, stime, prefix, sizeof(prefix));
	if ((rc = build_info(b, key, prefix, builder, stime, &info, &infolen)) != 0)
		return rc;
	snprintf(infoname, sizeof(infoname), "%s.info", b->o->name);
	if (lseek(b->fd, CVD_HEADER_SIZE, SEEK_SET) != CVD_HEADER_SIZE)
		rc = cvd_seterr(b->err, b->errlen, CVD_EWRITE, "seek failed");
	if (rc == 0)
		rc = build_tar_member(b, "COPYING", (const uint8_t *)BUILD_COPYING,
		    strlen(BUILD_COPYING), -1);
	if (rc == 0)
		rc = build_tar_member(b, infoname, (const uint8_t *)info,
		    infolen, -1);
	for (size_t i = 0; rc == 0 && i < b->nfiles; i++)
		rc = build_tar_file(b, &b->files[i]);
	if (rc == 0)
		rc = build_deflate(b, zero, sizeof(zero), Z_FINISH);
	if (rc == 0)
		rc = build_header(b, key, prefix, builder, stime);
	free(info);
	return rc;
}

/* Verify the new file as any reader would, trusting the build key. */
static int
build_selfcheck(struct build *b, EVP_PKEY *key, const char *tmp)
{
	struct cvd_verify_opts o = { .no_sign = true, .allow_unsigned = key == NULL };
	struct cvd_result res;
	struct cvd_trust *t;
	int rc;

	if ((rc = cvd_trust_new(CVD_TRUST_NO_OFFICIAL, &t)) != 0)
		return rc;
	if (key != NULL) {
		EVP_PKEY_up_ref(key);
		t->keys[0].pkey = key;
		t->keys[0].roles = TRUST_ROLE_HEADER | TRUST_ROLE_DSIG;
		cvd_strlcpy(t->keys[0].name, b->o->key_path, sizeof(t->keys[0].name));
		t->nkeys = 1;
	}
	o.trust = t;
	rc = cvd_verify_file(tmp, &o, &res);
	if (rc != 0)
		cvd_seterr(b->err, b->errlen, rc, "the built container does not verify: %s",
		    res.message);
	cvd_result_free(&res);
	cvd_trust_free(t);
	return rc;
}

static bool
build_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		    name[i] == '-'))
			return false;
	return true;
}

int
cvd_build(const char *dir, const char *out_path,
    const struct cvd_build_opts *opts, char *err, size_t errlen)
{
	struct build b = { .o = opts, .err = err, .errlen = errlen, .fd = -1,
	    .dir = dir };
	const char *builder = opts->builder ? opts->builder : "ampscan";
	uint64_t stime = opts->stime ? opts->stime : (uint64_t)time(NULL);
	struct statefile_tmp t = { .dirfd = -1, .fd = -1 };
	char tmp[STATEFILE_DIR_MAX + STATEFILE_NAME_MAX + 16];
	EVP_PKEY *key = NULL;
	int rc;

	if (!build_name_ok(opts->name) || strlen(builder) > CVD_BUILDER_MAX ||
	    strchr(builder, ':') || (!opts->unsigned_cud && !opts->key_path))
		return cvd_seterr(err, errlen, CVD_EARG,
		    "build: need a name of letters, digits, - and _, a builder of at most %d characters without ':', and a key unless unsigned",
		    CVD_BUILDER_MAX);
	if ((rc = build_list(&b)) != 0 ||
	    (!opts->unsigned_cud && (rc = build_load_key(&b, &key)) != 0))
		goto out;
	if ((b.md5 = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(b.md5, EVP_md5(), NULL) ||
	    deflateInit2(&b.z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = CVD_ENOMEM;
		goto out;
	}
	b.z_live = true;
	rc = CVD_EWRITE;
	if (statefile_open_path(&t, out_path, 0644, 0, err, errlen) != 0)
		goto out;
	b.fd = t.fd;            /* t's: closed by t */
	snprintf(tmp, sizeof(tmp), "%s/%s", t.dir, t.tmp);
	if ((rc = build_payload(&b, key, builder, stime)) != 0 ||
	    (rc = build_selfcheck(&b, key, tmp)) != 0)
		goto out;
	if (statefile_commit(&t, err, errlen) != 0)
		rc = CVD_EWRITE;
out:
	statefile_abort(&t);
	if (b.z_live)
		deflateEnd(&b.z);
	EVP_MD_CTX_free(b.md5);
	EVP_PKEY_free(key);
	free(b.files);
	return rc;
}

/* ---- .cvd.sign ------------------------------------------------------- */

static int
sign_load(const char *key_path, const char *const *cert_paths, size_t ncerts,
    EVP_PKEY **key, X509 **signer, STACK_OF(X509) **chain, char *err,
    size_t errlen)
{
	FILE *f;

	if ((f = fopen(key_path, "re")) == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY, "%s: %s", key_path,
		    strerror(errno));
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*key == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY,
		    "%s: not a PEM private key", key_path);
	if ((*chain = sk_X509_new_null()) == NULL)
		return CVD_ENOMEM;
	for (size_t i = 0; i < ncerts; i++) {
		X509 *x;

		if ((f = fopen(cert_paths[i], "re")) == NULL)
			return cvd_seterr(err, errlen, CVD_EKEY, "%s: %s",
			    cert_paths[i], strerror(errno));
		while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			if (*signer == NULL)
				*signer = x;
			else
				sk_X509_push(*chain, x);
		}
		fclose(f);
	}
	ERR_clear_error();
	if (*signer == NULL || X509_check_private_key(*signer, *key) != 1)
		return cvd_seterr(err, errlen, CVD_EKEY,
		    "the first certificate given must be the signer's, matching %s",
		    key_path);
	return 0;
}

int
cvd_sign_file(const char *cvd_path, const char *key_path,
    const char *const *cert_paths, size_t ncerts, const char *out_path,
    char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL;
	X509 *signer = NULL;
	EVP_PKEY *key = NULL;
	PKCS7 *p7 = NULL;
	BIO *in = NULL;
	struct statefile_tmp t = { .dirfd = -1, .fd = -1 };
	uint8_t *der = NULL;
	char *b64 = NULL;
	int len, rc;

	if ((rc = sign_load(key_path, cert_paths, ncerts, &key, &signer, &chain,
	    err, errlen)) != 0)
		goto done;
	if ((in = BIO_new_file(cvd_path, "rb")) == NULL) {
		rc = cvd_seterr(err, errlen, CVD_EIO, "%s: cannot open", cvd_path);
		goto done;
	}
	p7 = PKCS7_sign(signer, key, chain, in, PKCS7_BINARY | PKCS7_DETACHED);
	if (p7 == NULL || (len = i2d_PKCS7(p7, &der)) <= 0 ||
	    (b64 = malloc((size_t)len / 3 * 4 + 8)) == NULL) {
		rc = cvd_seterr(err, errlen, CVD_EKEY, "PKCS#7 signing failed");
		goto done;
	}
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	rc = CVD_EWRITE;
	if (statefile_open_path(&t, out_path, 0644, 0, err, errlen) != 0)
		goto done;
	if (dprintf(t.fd, "#clamsign-1.0\n%d::pkcs7-pem:%s\n", 0, b64) < 0) {
		rc = cvd_seterr(err, errlen, CVD_EWRITE, "%s/%s: write: %s",
		    t.dir, t.tmp, strerror(errno));
		goto done;
	}
	if (statefile_commit(&t, err, errlen) == 0)
		rc = 0;
done:
	statefile_abort(&t);
	ERR_clear_error();
	free(b64);
	OPENSSL_free(der);
	PKCS7_free(p7);
	BIO_free(in);
	X509_free(signer);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- keygen ------------------------------------------------------------ */

static int
keygen_write(const char *path, mode_t mode, EVP_PKEY *key, bool priv,
    char *err, size_t errlen)
{
	struct statefile_tmp t;
	BIO *bio = NULL;
	int rc = CVD_EWRITE;

	/* a key file is never replaced */
	if (statefile_open_path(&t, path, mode, STATEFILE_NOREPLACE, err,
	    errlen) != 0)
		goto out;
	if ((bio = BIO_new_fd(t.fd, BIO_NOCLOSE)) == NULL ||
	    !(priv ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_bio_PUBKEY(bio, key)) || BIO_flush(bio) != 1) {
		cvd_seterr(err, errlen, CVD_EWRITE, "%s: write failed", path);
		goto out;
	}
	if (statefile_commit(&t, err, errlen) == 0)
		rc = 0;
out:
	BIO_free(bio);
	statefile_abort(&t);
	ERR_clear_error();
	return rc;
}

int
cvd_keygen(unsigned bits, const char *priv_path, const char *pub_path,
    char *err, size_t errlen)
{
	EVP_PKEY *key;
	int rc;

	if (bits < 2048 || bits > 16384)
		return cvd_seterr(err, errlen, CVD_EARG,
		    "key size %u: want 2048..16384 bits", bits);
	if ((key = EVP_RSA_gen(bits)) == NULL)
		return cvd_seterr(err, errlen, CVD_EKEY, "RSA key generation failed");
	rc = keygen_write(priv_path, 0600, key, true, err, errlen);
	if (rc == 0 && (rc = keygen_write(pub_path, 0644, key, false, err,
	    errlen)) != 0)
		unlink(priv_path);
	EVP_PKEY_free(key);
	return rc;
}
