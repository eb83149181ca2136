/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Verification of a container in one streaming pass.
 *
 * Order: header; the .cvd.sign if there is one (hard fail); else the header
 * signature (which names the MD5 the payload must have); a .cld has none
 * and is trusted by its .info DSIG, or not at all; then the payload
 * is read once: MD5 of the raw bytes, inflate, tar walk, SHA-256 of each
 * member, the .info collected, every signature line of a loaded type
 * parsed.  At the end: MD5, the .info against the header and the members,
 * and the .info DSIG.  A structural error met while streaming is reported
 * as an MD5 mismatch when the payload's MD5 is wrong too: the file was
 * altered, and that is the first thing an operator needs to know.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "dsig.h"
#include "info.h"
#include "payload.h"
#include "signfile.h"
#include "tar.h"
#include "trust.h"
#include "util.h"
#include "verify.h"

static const struct cvd_limits verify_default_limits = {
	.max_members = CVD_MAX_MEMBERS,
	.max_member_size = CVD_MAX_MEMBER_SIZE,
	.max_total_size = CVD_MAX_TOTAL_SIZE,
	.max_ratio = CVD_MAX_RATIO,
};

struct verify {
	const struct cvd_verify_opts *o;
	const struct cvd_trust *trust;
	struct cvd_result *res;
	EVP_MD_CTX *sha;
	size_t members_cap, types_cap;
	/* the member streaming by */
	struct cvd_member *cur;
	enum sig_type cur_type;
	struct cvd_type_count *cur_count;
	bool cur_is_info;
	char *line;               /* a line cut by a block boundary */
	size_t line_len;
	uint64_t line_no;
	bool line_started;        /* OTHER types: inside a line */
	uint8_t *info;
	size_t info_len;
	bool info_seen;
};

static int verify_fail(struct verify *v, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
verify_fail(struct verify *v, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->res->message, sizeof(v->res->message), fmt, ap);
	va_end(ap);
	v->res->status = code;
	return code;
}

static bool
verify_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The per-extension counter for a member name (created on first use). */
static struct cvd_type_count *
verify_type_count(struct verify *v, const char *name)
{
	const char *dot = strrchr(name, '.');
	const char *ext = dot ? dot + 1 : "";
	struct cvd_result *r = v->res;

	for (size_t i = 0; i < r->ntypes; i++)
		if (strcmp(r->types[i].ext, ext) == 0)
			return &r->types[i];
	if (r->ntypes == v->types_cap) {
		size_t cap = v->types_cap ? v->types_cap * 2 : 16;
		struct cvd_type_count *n = realloc(r->types, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		r->types = n;
		v->types_cap = cap;
	}
	memset(&r->types[r->ntypes], 0, sizeof(r->types[0]));
	cvd_strlcpy(r->types[r->ntypes].ext, ext, sizeof(r->types[0].ext));
	r->types[r->ntypes].loaded = sig_type_from_name(name) != SIG_TYPE_OTHER;
	return &r->types[r->ntypes++];
}

static int
verify_member_begin(void *arg, const char *name, uint64_t size)
{
	struct verify *v = arg;
	struct cvd_result *r = v->res;
	const struct cvd_sink *sink = v->o->sink;

	if (r->nmembers == v->members_cap) {
		size_t cap = v->members_cap ? v->members_cap * 2 : 32;
		struct cvd_member *n = realloc(r->members, cap * sizeof(*n));

		if (n == NULL)
			return verify_fail(v, CVD_ENOMEM, "out of memory");
		r->members = n;
		v->members_cap = cap;
	}
	v->cur = &r->members[r->nmembers++];
	memset(v->cur, 0, sizeof(*v->cur));
	cvd_strlcpy(v->cur->name, name, sizeof(v->cur->name));
	v->cur->size = size;
	v->cur_is_info = verify_ends_with(name, ".info");
	v->cur_type = SIG_TYPE_OTHER;
	v->cur_count = NULL;
	v->line_len = 0;
	v->line_no = 0;
	v->line_started = false;
	if (v->cur_is_info) {
		if (v->info_seen)
			return verify_fail(v, CVD_ETAR,
			    "tar member '%s': a second .info member", name);
		if (size > CVD_MAX_INFO_SIZE)
			return verify_fail(v, CVD_ELIMIT,
			    "tar member '%s': %llu bytes, over the .info limit of %u",
			    name, (unsigned long long)size, CVD_MAX_INFO_SIZE);
		if ((v->info = malloc(size ? size : 1)) == NULL)
			return verify_fail(v, CVD_ENOMEM, "out of memory");
		v->info_seen = true;
	} else if (strcmp(name, "COPYING") != 0) {
		v->cur_type = sig_type_from_name(name);
		if ((v->cur_count = verify_type_count(v, name)) == NULL)
			return verify_fail(v, CVD_ENOMEM, "out of memory");
	}
	if (!EVP_DigestInit_ex(v->sha, EVP_sha256(), NULL))
		return verify_fail(v, CVD_ENOMEM, "sha256 init failed");
	if (sink && sink->member_begin && sink->member_begin(sink->arg, name, size))
		return verify_fail(v, CVD_ECALLBACK,
		    "tar member '%s': stopped by the consumer", name);
	return 0;
}

/* One complete line of a loaded type. */
static int
verify_sig_line(struct verify *v, const char *line, size_t len)
{
	const struct cvd_sink *sink = v->o->sink;
	char why[256];
	struct sig s;
	int rc;

	v->line_no++;
	rc = sig_parse_line(v->cur_type, line, len, &s, why, sizeof(why));
	if (rc == SIG_SKIP)
		return 0;
	if (rc != SIG_OK)
		return verify_fail(v, CVD_ECONTENT, "member %s line %llu: %s",
		    v->cur->name, (unsigned long long)v->line_no, why);
	v->cur_count->sigs++;
	if (!s.loadable)
		v->cur_count->not_loaded++;
	if (sink && sink->signature && sink->signature(sink->arg, v->cur->name, &s))
		return verify_fail(v, CVD_ECALLBACK,
		    "member %s line %llu: stopped by the consumer",
		    v->cur->name, (unsigned long long)v->line_no);
	return 0;
}

static int
verify_line_append(struct verify *v, const uint8_t *p, size_t n)
{
	if (v->line_len + n > SIG_LINE_MAX)
		return verify_fail(v, CVD_ECONTENT,
		    "member %s line %llu: longer than %d bytes", v->cur->name,
		    (unsigned long long)v->line_no + 1, SIG_LINE_MAX);
	memcpy(v->line + v->line_len, p, n);
	v->line_len += n;
	return 0;
}

/* Split data of a loaded type into lines; parse each. */
static int
verify_loaded_data(struct verify *v, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *nl;
	int rc;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return verify_line_append(v, p, (size_t)(end - p));
		if (v->line_len > 0) {
			if ((rc = verify_line_append(v, p, (size_t)(nl - p))) != 0 ||
			    (rc = verify_sig_line(v, v->line, v->line_len)) != 0)
				return rc;
			v->line_len = 0;
		} else if ((size_t)(nl - p) > SIG_LINE_MAX) {
			return verify_line_append(v, p, (size_t)(nl - p));
		} else if ((rc = verify_sig_line(v, (const char *)p,
		    (size_t)(nl - p))) != 0) {
			return rc;
		}
		p = nl + 1;
	}
	return 0;
}

/* Types not loaded: count signature lines (not comments, not blank). */
static void
verify_other_data(struct verify *v, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;

	while (p < end) {
		if (!v->line_started) {
			if (*p != '\n' && *p != '#' && *p != '\r' && *p != ' ' &&
			    *p != '\t')
				v->cur_count->sigs++;
			v->line_started = true;
		}
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return;
		v->line_started = false;
		p = nl + 1;
	}
}

static int
verify_member_data(void *arg, const uint8_t *p, size_t n)
{
	struct verify *v = arg;
	const struct cvd_sink *sink = v->o->sink;
	int rc;

	if (!EVP_DigestUpdate(v->sha, p, n))
		return verify_fail(v, CVD_ENOMEM, "sha256 failed");
	if (v->cur_is_info) {
		memcpy(v->info + v->info_len, p, n);
		v->info_len += n;
	} else if (v->cur_type != SIG_TYPE_OTHER) {
		if ((rc = verify_loaded_data(v, p, n)) != 0)
			return rc;
	} else if (v->cur_count != NULL) {
		verify_other_data(v, p, n);
	}
	if (sink && sink->member_data && sink->member_data(sink->arg, p, n))
		return verify_fail(v, CVD_ECALLBACK,
		    "tar member '%s': stopped by the consumer", v->cur->name);
	return 0;
}

static int
verify_member_end(void *arg)
{
	struct verify *v = arg;
	const struct cvd_sink *sink = v->o->sink;
	unsigned int n = 32;
	int rc;

	if (!EVP_DigestFinal_ex(v->sha, v->cur->sha256, &n))
		return verify_fail(v, CVD_ENOMEM, "sha256 failed");
	/* a last line with no newline */
	if (v->cur_type != SIG_TYPE_OTHER && v->line_len > 0) {
		if ((rc = verify_sig_line(v, v->line, v->line_len)) != 0)
			return rc;
		v->line_len = 0;
	}
	if (sink && sink->member_end && sink->member_end(sink->arg))
		return verify_fail(v, CVD_ECALLBACK,
		    "tar member '%s': stopped by the consumer", v->cur->name);
	return 0;
}

/* ---- before the payload: header, .sign, header signature ---------- */

static int
verify_header_signature(struct verify *v, const struct cvd_header *h)
{
	uint8_t md5[16];

	if (!num_unhex(h->md5, 16, 0, md5))
		return verify_fail(v, CVD_EHEADER, "header md5 is not hex");
	for (size_t i = 0; i < v->trust->nkeys; i++) {
		const struct trust_key *k = &v->trust->keys[i];

		if (!(k->roles & TRUST_ROLE_HEADER))
			continue;
		if (dsig_legacy_verify(k->pkey, h->dsig, strlen(h->dsig), md5)) {
			v->res->signer = k->official ? CVD_SIGNER_OFFICIAL :
			    CVD_SIGNER_KEY;
			cvd_strlcpy(v->res->signer_name, k->name,
			    sizeof(v->res->signer_name));
			return 0;
		}
	}
	return verify_fail(v, CVD_ESIG,
	    "header signature does not verify with the official key or any trusted key");
}

static int
verify_sign_file(struct verify *v, const char *path, int fd)
{
	struct cvd_result *r = v->res;
	const char *sp = v->o->sign_path;
	char err[CVD_ERRMSG_MAX] = "";
	int rc;

	if (v->o->no_sign || path == NULL)
		return 0;
	if (sp != NULL)
		cvd_strlcpy(r->sign_path, sp, sizeof(r->sign_path));
	else if (signfile_find(path, r->header.version, r->sign_path,
	    sizeof(r->sign_path)) != 0)
		return 0;
	r->has_sign_file = true;
	/* without a certificates directory, .sign files are not in use */
	if (v->trust->store == NULL)
		return 0;
	r->sign_checked = true;
	rc = signfile_verify(v->trust, r->sign_path, fd, r->signer_name,
	    sizeof(r->signer_name), err, sizeof(err));
	if (rc != 0)
		return verify_fail(v, rc, "%s", err);
	r->signer = CVD_SIGNER_CERT;
	return 0;
}

static int
verify_prelude(struct verify *v, int fd, const char *path, const char *display,
    struct cvd_header *h)
{
	uint8_t buf[CVD_HEADER_SIZE];
	char err[CVD_ERRMSG_MAX];
	struct stat st;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) != 0)
		return verify_fail(v, CVD_EIO, "%s: %s", display, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return verify_fail(v, CVD_EIO, "%s: not a regular file", display);
	v->res->file_size = (uint64_t)st.st_size;
	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return verify_fail(v, CVD_EIO, "%s: %s", display, strerror(errno));
	if ((rc = cvd_header_parse(buf, (size_t)n, h, err, sizeof(err))) != 0)
		return verify_fail(v, rc, "%s", err);
	v->res->header = *h;
	v->res->header_ok = true;
	if ((uint64_t)st.st_size == CVD_HEADER_SIZE)
		return verify_fail(v, CVD_EPAYLOAD, "no payload after the header");
	if ((rc = verify_sign_file(v, path, fd)) != 0)
		return rc;
	if (v->res->signer == CVD_SIGNER_CERT)
		return 0;
	/* a .cld: signed by its .info DSIG or unsigned, known after the payload */
	if (h->kind == CVD_KIND_CLD) {
		v->res->signer = CVD_SIGNER_NONE;
		return 0;
	}
	if (h->kind == CVD_KIND_CUD) {
		if (!v->o->allow_unsigned)
			return verify_fail(v, CVD_EUNSIGNED,
			    "unsigned container (.cud); allowed only with unsigned definitions enabled");
		v->res->signer = CVD_SIGNER_NONE;
		return 0;
	}
	return verify_header_signature(v, h);
}

/* ---- the payload ---------------------------------------------------- */

static bool
verify_payload_is_gzip(int fd)
{
	uint8_t magic[7];

	return !(pread(fd, magic, sizeof(magic), CVD_HEADER_SIZE) ==
	    (ssize_t)sizeof(magic) && memcmp(magic, "COPYING", 7) == 0);
}

/* After a structural error: is the payload's MD5 wrong too? */
static bool
verify_md5_mismatch(int fd, const struct cvd_header *h, uint64_t size)
{
	uint8_t buf[1 << 16], md5[16], want[16];
	EVP_MD_CTX *ctx;
	uint64_t off = CVD_HEADER_SIZE;
	unsigned int n = 16;
	bool bad = false;

	if (h->kind == CVD_KIND_CLD || !num_unhex(h->md5, 16, 0, want) ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		return false;
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	while (off < size) {
		ssize_t r = pread(fd, buf, sizeof(buf), (off_t)off);

		if (r <= 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		off += (uint64_t)r;
	}
	if (off == size && EVP_DigestFinal_ex(ctx, md5, &n))
		bad = memcmp(md5, want, 16) != 0;
	EVP_MD_CTX_free(ctx);
	return bad;
}

static int
verify_stream(struct verify *v, int fd, const struct cvd_limits *lim)
{
	struct payload_opts po = {
		.fd = fd, .offset = CVD_HEADER_SIZE,
		.length = v->res->file_size - CVD_HEADER_SIZE,
		.gzip = verify_payload_is_gzip(fd), .threaded = !v->o->serial,
		.max_total = lim->max_total_size, .max_ratio = lim->max_ratio,
		.ratio_slack = CVD_RATIO_SLACK,
	};
	struct tar_cb cb = { v, verify_member_begin, verify_member_data,
	    verify_member_end };
	char err[CVD_ERRMSG_MAX];
	struct payload *pl = NULL;
	struct tar *tar = NULL;
	const uint8_t *data;
	uint8_t md5[16];
	size_t len;
	int rc;

	if ((rc = payload_open(&po, &pl)) != 0 ||
	    (rc = tar_new(&cb, lim->max_members, lim->max_member_size, &tar)) != 0) {
		payload_close(pl);
		return verify_fail(v, rc, "out of memory");
	}
	while ((rc = payload_next(pl, &data, &len, err, sizeof(err))) == 1) {
		if ((rc = tar_feed(tar, data, len)) != 0) {
			if (v->res->status == 0)
				verify_fail(v, rc, "%s", tar_error(tar));
			break;
		}
	}
	if (rc < 0 && v->res->status == 0)
		verify_fail(v, rc, "%s", err);
	if (rc == 0 && (rc = tar_finish(tar)) != 0)
		verify_fail(v, rc, "%s", tar_error(tar));
	v->res->inflated_size = payload_total_out(pl);
	if (rc == 0) {
		payload_md5(pl, md5);
		num_hex(md5, 16, v->res->md5);
	}
	payload_close(pl);
	tar_free(tar);
	return rc;
}

/* ---- after the payload: MD5, .info, DSIG ----------------------------- */

static int
verify_members(struct verify *v, struct cvd_info *info)
{
	struct cvd_result *r = v->res;

	for (size_t i = 0; i < r->nmembers; i++) {
		struct cvd_member *m = &r->members[i];
		struct info_entry *e;
		char want[65], have[65];

		if (verify_ends_with(m->name, ".info"))
			continue;
		/* COPYING need not be listed; when it is, it is checked */
		if ((e = info_find(info, m->name)) == NULL &&
		    strcmp(m->name, "COPYING") == 0)
			continue;
		if (e == NULL)
			return verify_fail(v, CVD_EMEMBER,
			    "member %s: not listed in .info", m->name);
		e->seen = true;
		if (e->size != m->size)
			return verify_fail(v, CVD_EMEMBER,
			    "member %s: size mismatch (.info says %llu, have %llu)",
			    m->name, (unsigned long long)e->size,
			    (unsigned long long)m->size);
		if (memcmp(e->sha256, m->sha256, 32) != 0) {
			num_hex(e->sha256, 32, want);
			num_hex(m->sha256, 32, have);
			return verify_fail(v, CVD_EMEMBER,
			    "member %s: sha256 mismatch (want %s, have %s)",
			    m->name, want, have);
		}
	}
	for (size_t i = 0; i < info->n; i++)
		if (!info->entries[i].seen)
			return verify_fail(v, CVD_EMEMBER,
			    "member %s: listed in .info but missing from the archive",
			    info->entries[i].name);
	return 0;
}

static int
verify_dsig(struct verify *v, const struct cvd_info *info)
{
	struct cvd_result *r = v->res;
	uint8_t digest[32];

	/* a .sign covers every byte; a .cud carries no DSIG */
	if (r->signer == CVD_SIGNER_CERT || r->header.kind == CVD_KIND_CUD)
		return 0;
	/*
	 * A .cld's header is its .info line 1 (checked field by field), so a
	 * DSIG over the .info covers the whole container; without one it is
	 * unsigned.  A DSIG that fails is a failure, allowed unsigned or not.
	 */
	if (r->header.kind == CVD_KIND_CLD && !info->has_dsig) {
		if (!v->o->allow_unsigned)
			return verify_fail(v, CVD_EUNSIGNED,
			    "unsigned container (.cld): its .info has no DSIG; allowed only with unsigned definitions enabled");
		return 0;
	}
	if (!info->has_dsig)
		return verify_fail(v, CVD_EDSIG,
		    ".info has no DSIG line (a signed container must have one)");
	SHA256(v->info, info->signed_len, digest);
	for (size_t i = 0; i < v->trust->nkeys; i++) {
		const struct trust_key *k = &v->trust->keys[i];

		if (!(k->roles & TRUST_ROLE_DSIG) ||
		    !dsig_pss_verify(k->pkey, digest, info->dsig,
		    strlen(info->dsig)))
			continue;
		if (!k->official || r->signer == CVD_SIGNER_NONE) {
			r->signer = k->official ? CVD_SIGNER_OFFICIAL :
			    CVD_SIGNER_KEY;
			cvd_strlcpy(r->signer_name, k->name,
			    sizeof(r->signer_name));
		}
		return 0;
	}
	return verify_fail(v, CVD_EDSIG,
	    ".info DSIG does not verify with the official key or any trusted key");
}

static int
verify_after(struct verify *v)
{
	struct cvd_result *r = v->res;
	struct cvd_info info;
	char err[CVD_ERRMSG_MAX];
	int rc;

	if (r->header.kind != CVD_KIND_CLD && strcmp(r->md5, r->header.md5) != 0)
		return verify_fail(v, CVD_EMD5,
		    "payload MD5 mismatch (header says %s, payload has %s)",
		    r->header.md5, r->md5);
	if (!v->info_seen)
		return verify_fail(v, CVD_EINFO, "no .info member in the archive");
	if ((rc = info_parse(v->info, v->info_len, &r->header, &info, err,
	    sizeof(err))) != 0)
		return verify_fail(v, rc, "%s", err);
	if ((rc = verify_members(v, &info)) == 0)
		rc = verify_dsig(v, &info);
	info_free(&info);
	return rc;
}

int
cvd_verify_fd(int fd, const char *display, const struct cvd_verify_opts *opts,
    struct cvd_result *res)
{
	return verify_run(fd, NULL, display, opts, res);
}

int
verify_run(int fd, const char *path, const char *display,
    const struct cvd_verify_opts *opts, struct cvd_result *res)
{
	static const struct cvd_verify_opts defaults;
	struct cvd_trust *own = NULL;
	struct verify v = { .res = res };
	struct cvd_header h;
	int rc;

	memset(res, 0, sizeof(*res));
	v.o = opts ? opts : &defaults;
	if ((v.trust = v.o->trust) == NULL) {
		if ((rc = cvd_trust_new(0, &own)) != 0)
			return verify_fail(&v, rc, "out of memory");
		v.trust = own;
	}
	if ((v.sha = EVP_MD_CTX_new()) == NULL ||
	    (v.line = malloc(SIG_LINE_MAX)) == NULL) {
		rc = verify_fail(&v, CVD_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = verify_prelude(&v, fd, path, display, &h)) != 0)
		goto out;
	rc = verify_stream(&v, fd, v.o->limits ? v.o->limits :
	    &verify_default_limits);
	if (rc != 0 && rc != CVD_ENOMEM && rc != CVD_EIO &&
	    verify_md5_mismatch(fd, &h, res->file_size)) {
		char was[CVD_ERRMSG_MAX];

		cvd_strlcpy(was, res->message, sizeof(was));
		rc = verify_fail(&v, CVD_EMD5,
		    "payload MD5 mismatch: the file was altered after signing (first symptom: %s)",
		    was);
	}
	if (rc == 0)
		rc = verify_after(&v);
out:
	res->status = rc;
	EVP_MD_CTX_free(v.sha);
	free(v.line);
	free(v.info);
	cvd_trust_free(own);
	return rc;
}

int
cvd_verify_file(const char *path, const struct cvd_verify_opts *opts,
    struct cvd_result *res)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		memset(res, 0, sizeof(*res));
		snprintf(res->message, sizeof(res->message), "%s: %s", path,
		    strerror(errno));
		return res->status = CVD_EIO;
	}
	rc = verify_run(fd, path, path, opts, res);
	close(fd);
	return rc;
}

void
cvd_result_free(struct cvd_result *res)
{
	if (res == NULL)
		return;
	free(res->members);
	free(res->types);
	res->members = NULL;
	res->types = NULL;
	res->nmembers = res->ntypes = 0;
}
