/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Incremental updates (.cdiff), the .cld they produce, and the .cld trust
 * rule.  The real chain test-1.cvd + test-2..6.cdiff must rebuild every
 * test-N.cvd member for member; synthetic scripts (unsigned, through the
 * private cdiff_from_script) and cdiffs signed with a test key cover each
 * rule and each error with its code and message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "ampscan/cvd.h"
#include "cdiff.h"
#include "dsig.h"
#include "testutil.h"

static struct {
	char *tmp;
	const char *pub;
	struct cvd_trust *tkey;      /* the test key only */
	struct cvd_trust *certs_test, *certs_prod;
	int seq;
} fx;

static struct cvd_trust *
certs_trust(const char *sub, const char *crt)
{
	char dir[4096], err[CVD_ERRMSG_MAX];
	const char *src = tu_real(crt);
	struct cvd_trust *t;
	uint8_t *p;
	size_t len;

	if (src == NULL)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/%s", fx.tmp, sub);
	if (mkdir(dir, 0755) != 0)
		return NULL;
	p = tu_read(src, &len);
	tu_write(tu_path(dir, "root.crt"), p, len);
	free(p);
	if (cvd_trust_new(0, &t) != 0 ||
	    cvd_trust_set_certs_dir(t, dir, err, sizeof(err)) != 0)
		return NULL;
	return t;
}

static int
group_setup(void **state)
{
	const char *priv;
	char err[CVD_ERRMSG_MAX];

	(void)state;
	fx.tmp = tu_tmpdir();
	tu_key_files(fx.tmp, &priv, &fx.pub);
	if (cvd_trust_new(CVD_TRUST_NO_OFFICIAL, &fx.tkey) != 0 ||
	    cvd_trust_add_key_file(fx.tkey, fx.pub, err, sizeof(err)) != 0)
		return -1;
	fx.certs_test = certs_trust("certs-test", "freshclam-tests/clamav-test.crt");
	fx.certs_prod = certs_trust("certs-prod", "freshclam-tests/clamav-prod.crt");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	cvd_trust_free(fx.tkey);
	cvd_trust_free(fx.certs_test);
	cvd_trust_free(fx.certs_prod);
	tu_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

/* ---- helpers ---- */

static const char *
real_or_skip(const char *rel)
{
	const char *p = tu_real(rel);

	if (p == NULL) {
		print_message("real file %s absent: skipped\n", rel);
		skip();
	}
	return p;
}

/* A new directory under the fixture's; returned in a static slot. */
static const char *
new_dir(const char *what)
{
	static char bufs[4][4096];
	static int slot;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s-%d", fx.tmp, what, ++fx.seq);
	if (mkdir(b, 0755) != 0)
		fail_msg("mkdir %s: %s", b, strerror(errno));
	return b;
}

static void
unpack_or_fail(const char *path, const char *dir)
{
	struct cvd_result r;

	if (cvd_unpack_file(path, dir, NULL, &r) != 0)
		fail_msg("unpack %s: %s", path, r.message);
	cvd_result_free(&r);
}

/* Verify with default options plus allow_unsigned / trust; want rc and msg. */
static void
expect_verify(const char *path, const struct cvd_trust *t, bool allow_unsigned,
    int want, const char *msg, enum cvd_signer_kind signer)
{
	struct cvd_verify_opts o = { .trust = t, .no_sign = true,
	    .allow_unsigned = allow_unsigned };
	struct cvd_result r;
	int rc = cvd_verify_file(path, &o, &r);

	if (rc != want || (msg != NULL && strstr(r.message, msg) == NULL) ||
	    (rc == 0 && r.signer != signer))
		fail_msg("%s%s: got %d '%s' signer %d; want %d '%s' signer %d", path,
		    allow_unsigned ? " (allow unsigned)" : "", rc, r.message,
		    r.signer, want, msg ? msg : "", signer);
	cvd_result_free(&r);
}

static void
expect_open(const char *path, const char *sign, const struct cvd_trust *t,
    int want, const char *msg)
{
	struct cvd_cdiff *cd = NULL;
	char err[CVD_ERRMSG_MAX] = "";
	int rc = cvd_cdiff_open(path, sign, t, &cd, err, sizeof(err));

	if (rc != want || (want != 0 && (strstr(err, msg) == NULL ||
	    strstr(err, path) == NULL)))
		fail_msg("%s: got %d (%s) '%s'; want %d (%s) '%s'", path, rc,
		    cvd_error_id(rc), err, want, cvd_error_id(want), msg);
	assert_true(want == 0 ? cd != NULL : cd == NULL);
	cvd_cdiff_free(cd);
}

/* A copy of a real file in the fixture, to mutate. */
static uint8_t *
copy_real(const char *rel, size_t *len)
{
	return tu_read(real_or_skip(rel), len);
}

/* How a test .cdiff is made. */
struct mk {
	const char *script;
	size_t len;                /* 0: strlen(script) */
	unsigned version;          /* 0: 7 */
	long long declared_delta;  /* added to the script length in the header */
	const char *between;       /* bytes between the gzip and the ':' */
	size_t cut_gzip;           /* drop this many bytes of the gzip's end */
	const char *trailer;       /* NULL: a PSS signature by the test key */
	const char *header;        /* NULL: "ClamAV-Diff:V:L:" */
};

static const char *
write_cdiff(const char *name, const struct mk *m)
{
	size_t slen = m->len ? m->len : strlen(m->script), gzlen, n;
	uint8_t *gz = tu_gzip_buf(m->script, slen, &gzlen), *buf, digest[32];
	char hdr[128], sig[CVD_DSIG_MAX + 1];
	const char *path = tu_path(fx.tmp, name);

	if (m->header)
		snprintf(hdr, sizeof(hdr), "%s", m->header);
	else
		snprintf(hdr, sizeof(hdr), "ClamAV-Diff:%u:%lld:",
		    m->version ? m->version : 7, (long long)slen + m->declared_delta);
	gzlen -= m->cut_gzip;
	buf = malloc(strlen(hdr) + gzlen + 64 + 2 * CVD_DSIG_MAX);
	assert_non_null(buf);
	n = strlen(hdr);
	memcpy(buf, hdr, n);
	memcpy(buf + n, gz, gzlen);
	n += gzlen;
	if (m->between) {
		memcpy(buf + n, m->between, strlen(m->between));
		n += strlen(m->between);
	}
	SHA256(buf, n, digest);
	if (m->trailer)
		snprintf(sig, sizeof(sig), "%s", m->trailer);
	else if (!dsig_pss_sign(tu_key(), digest, sig, sizeof(sig)))
		fail_msg("pss sign");
	buf[n++] = ':';
	memcpy(buf + n, sig, strlen(sig));
	n += strlen(sig);
	tu_write(path, buf, n);
	free(buf);
	free(gz);
	return path;
}

#define INFO_LINE1 "ClamAV-VDB:23 Nov 2026 10-00 +0000:7:3:81:X:X:tester:1795000000\n"

/* A directory as unpacking leaves it: test.info (version 7), test.hdb. */
static const char *
scratch(void)
{
	const char *d = new_dir("scratch");

	tu_write_str(tu_path(d, "test.info"), INFO_LINE1 "test.hdb:12:00\n");
	tu_write_str(tu_path(d, "test.hdb"), "l1\nl2\nl3\nl4\n");
	return d;
}

/* Parse script (unsigned, version 7) and apply it to dir. */
static int
run_script(const char *script, size_t len, const char *dir, char *err,
    size_t errlen)
{
	struct cvd_cdiff *cd;
	int rc;

	err[0] = '\0';
	rc = cdiff_from_script((const uint8_t *)script, len ? len : strlen(script),
	    7, "synthetic.cdiff", &cd, err, errlen);
	if (rc != 0 || dir == NULL) {
		if (rc == 0)
			cvd_cdiff_free(cd);
		return rc;
	}
	rc = cvd_cdiff_apply(cd, dir, err, errlen);
	cvd_cdiff_free(cd);
	return rc;
}

static char *
read_str(const char *dir, const char *name)
{
	size_t len;

	return (char *)tu_read(tu_path(dir, name), &len);
}

/* ==== the real files ==== */

static void
test_cdiff_real_chain_rebuilds_every_test_cvd(void **state)
{
	char prev[4096], cvd[64], cdiff[64], cld[4096], err[CVD_ERRMSG_MAX];
	const char *base = real_or_skip("freshclam-tests/test-1.cvd");

	(void)state;
	snprintf(prev, sizeof(prev), "%s", base);
	for (unsigned n = 2; n <= 6; n++) {
		const char *work = new_dir("chain-work"), *ref;
		struct cvd_cdiff *cd;
		char *a, *b;

		snprintf(cvd, sizeof(cvd), "freshclam-tests/test-%u.cvd", n);
		snprintf(cdiff, sizeof(cdiff), "freshclam-tests/test-%u.cdiff", n);
		/* the base: test-1.cvd, then each .cld built, no allow_unsigned */
		unpack_or_fail(prev, work);
		if (cvd_cdiff_open(real_or_skip(cdiff), NULL, NULL, &cd, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", cdiff, err);
		assert_int_equal(cvd_cdiff_version(cd), n);
		assert_string_equal(cvd_cdiff_dbname(cd), "test");
		assert_int_equal(cvd_cdiff_signer(cd), CVD_SIGNER_OFFICIAL);
		if (cvd_cdiff_apply(cd, work, err, sizeof(err)) != 0)
			fail_msg("apply %s: %s", cdiff, err);
		cvd_cdiff_free(cd);
		ref = new_dir("chain-ref");
		unpack_or_fail(real_or_skip(cvd), ref);
		a = tu_snapshot(work);
		b = tu_snapshot(ref);
		if (strcmp(a, b) != 0)
			fail_msg("after %s:\n%s\nwant (test-%u.cvd):\n%s", cdiff, a, n, b);
		free(a);
		free(b);
		snprintf(cld, sizeof(cld), "%s/test-%u.cld", fx.tmp, n);
		if (cvd_build_cld(work, "test", cld, err, sizeof(err)) != 0)
			fail_msg("build %s: %s", cld, err);
		expect_verify(cld, NULL, false, 0, NULL, CVD_SIGNER_OFFICIAL);
		{
			struct cvd_result r;

			assert_int_equal(cvd_verify_file(cld, NULL, &r), 0);
			assert_int_equal(r.header.version, n);
			assert_int_equal(r.header.kind, CVD_KIND_CLD);
			cvd_result_free(&r);
		}
		snprintf(prev, sizeof(prev), "%s", cld);
	}
}

static void
test_cdiff_real_daily_and_main_verify_and_parse(void **state)
{
	static const struct { const char *rel, *db; unsigned version; } t[] = {
		{ "cdiff/daily-25784.cdiff", "daily", 25784 },
		{ "cdiff/main-59.cdiff", "main", 59 },
	};
	char err[CVD_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cvd_cdiff *cd;

		if (cvd_cdiff_open(real_or_skip(t[i].rel), NULL, NULL, &cd, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", t[i].rel, err);
		assert_int_equal(cvd_cdiff_version(cd), t[i].version);
		assert_string_equal(cvd_cdiff_dbname(cd), t[i].db);
		assert_int_equal(cvd_cdiff_signer(cd), CVD_SIGNER_OFFICIAL);
		cvd_cdiff_free(cd);
	}
}

static void
test_cdiff_sign_file_chains_to_test_root_only(void **state)
{
	const char *p3 = real_or_skip("freshclam-tests/test-3.cdiff");
	char s2[4096], s3[4096], err[CVD_ERRMSG_MAX];
	struct cvd_cdiff *cd;

	(void)state;
	if (fx.certs_test == NULL || fx.certs_prod == NULL)
		skip();
	snprintf(s3, sizeof(s3), "%s.sign", p3);
	snprintf(s2, sizeof(s2), "%s", real_or_skip("freshclam-tests/test-2.cdiff.sign"));
	/* auto (FILE.sign) and explicit: the certificate is the signer */
	for (int k = 0; k < 2; k++) {
		if (cvd_cdiff_open(p3, k ? s3 : NULL, fx.certs_test, &cd, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", p3, err);
		assert_int_equal(cvd_cdiff_signer(cd), CVD_SIGNER_CERT);
		assert_non_null(strstr(cvd_cdiff_signer_name(cd), "ClamAV TEST"));
		cvd_cdiff_free(cd);
	}
	/* the production root: the .sign fails and there is no fallback */
	expect_open(p3, NULL, fx.certs_prod, CVD_ESIGNFILE, "certificate verify error");
	/* another file's .sign */
	expect_open(p3, s2, fx.certs_test, CVD_ESIGNFILE, "signature failure");
	/* no certificates dir: the trailer decides, the .sign is not used */
	if (cvd_cdiff_open(p3, NULL, NULL, &cd, err, sizeof(err)) != 0)
		fail_msg("%s: %s", p3, err);
	assert_int_equal(cvd_cdiff_signer(cd), CVD_SIGNER_OFFICIAL);
	cvd_cdiff_free(cd);
}

/* Write a mutated copy of test-3.cdiff (no .sign beside it). */
static const char *
mutated(const uint8_t *buf, size_t len)
{
	const char *p = tu_path(fx.tmp, "mutated-3.cdiff");

	tu_write(p, buf, len);
	return p;
}

static void
test_cdiff_real_tampering_rejected(void **state)
{
	size_t len, hl;
	uint8_t *buf = copy_real("freshclam-tests/test-3.cdiff", &len);
	uint8_t *colon = memrchr(buf, ':', len);
	char *d;

	(void)state;
	expect_open(mutated(buf, len), NULL, NULL, 0, NULL);
	/* a trailer digit */
	buf[len - 5] = buf[len - 5] == 'a' ? 'b' : 'a';
	expect_open(mutated(buf, len), NULL, NULL, CVD_ESIG,
	    "signature does not verify with the official cdiff key");
	buf[len - 5] = buf[len - 5] == 'a' ? 'b' : 'a';
	/* a byte of the gzip stream: the signature fails, gzip is the symptom */
	hl = (size_t)((uint8_t *)memchr(buf + 12, ':', len - 12) - buf);
	hl = (size_t)((uint8_t *)memchr(buf + hl + 1, ':', len - hl - 1) - buf) + 1;
	buf[hl + 200] ^= 0x40;
	expect_open(mutated(buf, len), NULL, NULL, CVD_ESIG,
	    "signature does not verify: the file was altered or cut (first symptom: gzip stream");
	buf[hl + 200] ^= 0x40;
	/* the script length */
	d = memmem(buf, 32, ":3423:", 6);
	assert_non_null(d);
	memcpy(d, ":3424:", 6);
	expect_open(mutated(buf, len), NULL, NULL, CVD_ESIG,
	    "first symptom: the script is 3423 bytes, the header says 3424");
	memcpy(d, ":3423:", 6);
	/* the version */
	buf[12] = '4';
	expect_open(mutated(buf, len), NULL, NULL, CVD_ESIG,
	    "signature does not verify with the official cdiff key");
	buf[12] = '3';
	/* cut anywhere: rejected, and the message names the file */
	for (size_t cut = 0; cut < len; cut += cut < 40 ? 1 : 37) {
		struct cvd_cdiff *cd;
		char err[CVD_ERRMSG_MAX];
		const char *p = mutated(buf, cut);
		int rc = cvd_cdiff_open(p, NULL, NULL, &cd, err, sizeof(err));

		if (rc == 0 || strstr(err, p) == NULL)
			fail_msg("cut at %zu of %zu: %d '%s'", cut, len, rc, err);
	}
	expect_open(mutated(buf, len - 1), NULL, NULL, CVD_ESIG,
	    "signature does not verify");
	expect_open(mutated(buf, (size_t)(colon - buf) + 1), NULL, NULL, CVD_ESIG,
	    "the signature after the last ':' is not 1..700 base-64 digits (0 bytes)");
	expect_open(mutated(buf, (size_t)(colon - buf)), NULL, NULL, CVD_EPAYLOAD,
	    "no ':' and signature after the gzip stream (file cut?)");
	expect_open(mutated(buf, (size_t)(colon - buf) - 10), NULL, NULL, CVD_EPAYLOAD,
	    "gzip stream: truncated");
	expect_open(mutated(buf, 10), NULL, NULL, CVD_EHEADER,
	    "does not start with 'ClamAV-Diff:'");
	free(buf);
}

/* ==== the container layer, signed with a test key ==== */

static void
test_cdiff_operator_key_signs_private_cdiffs(void **state)
{
	struct mk m = { .script = "OPEN priv.info\nXCHG 1 ClamAV-VDB: ClamAV-VDB:x\nCLOSE\n",
	    .version = 12 };
	const char *p = write_cdiff("priv-12.cdiff", &m);
	struct cvd_cdiff *cd;
	char err[CVD_ERRMSG_MAX];

	(void)state;
	if (cvd_cdiff_open(p, NULL, fx.tkey, &cd, err, sizeof(err)) != 0)
		fail_msg("%s: %s", p, err);
	assert_int_equal(cvd_cdiff_signer(cd), CVD_SIGNER_KEY);
	assert_string_equal(cvd_cdiff_signer_name(cd), fx.pub);
	assert_int_equal(cvd_cdiff_version(cd), 12);
	assert_string_equal(cvd_cdiff_dbname(cd), "priv");
	cvd_cdiff_free(cd);
	expect_open(p, NULL, NULL, CVD_ESIG,
	    "signature does not verify with the official cdiff key or any trusted key");
}

static void
test_cdiff_container_structure_errors(void **state)
{
	static const char ok[] = "OPEN test.info\nCLOSE\n";
	static const struct {
		struct mk m;
		int want;
		const char *msg;
	} t[] = {
		{ { .script = ok }, 0, NULL },
		{ { .script = ok, .declared_delta = 1 }, CVD_EPAYLOAD,
		  "the script is 21 bytes, the header says 22" },
		{ { .script = ok, .declared_delta = -1 }, CVD_EPAYLOAD,
		  "the script is 21 bytes, the header says 20" },
		{ { .script = ok, .declared_delta = -5 }, CVD_EPAYLOAD,
		  "the script is longer than the 16 bytes the header says" },
		{ { .script = ok, .between = "xyz" }, CVD_EPAYLOAD,
		  "3 bytes between the end of the gzip stream and the signature" },
		{ { .script = ok, .cut_gzip = 4 }, CVD_EPAYLOAD, "gzip stream: incorrect length check" },
		{ { .script = ok, .trailer = "ab!cd" }, CVD_ESIG,
		  "the signature after the last ':' is not 1..700 base-64 digits" },
		{ { .script = ok, .header = "ClamAV-Dif:7:21:" }, CVD_EHEADER,
		  "does not start with 'ClamAV-Diff:'" },
		{ { .script = ok, .header = "ClamAV-Diff:0:21:" }, CVD_EHEADER,
		  "header field 2 (version)" },
		{ { .script = ok, .header = "ClamAV-Diff:x:21:" }, CVD_EHEADER,
		  "header field 2 (version)" },
		{ { .script = ok, .header = "ClamAV-Diff:7:2x1:" }, CVD_EHEADER,
		  "header field 3 (script length)" },
		{ { .script = ok, .header = "ClamAV-Diff:7:0:" }, CVD_ELIMIT,
		  "header says the script is 0 bytes" },
		{ { .script = ok, .header = "ClamAV-Diff:7:67108865:" }, CVD_ELIMIT,
		  "header says the script is 67108865 bytes; want 1..67108864" },
		{ { .script = "OPEN test.info\nFROB\nCLOSE\n" }, CVD_ECONTENT,
		  "script line 2: unknown command 'FROB'" },
	};
	char name[64];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(name, sizeof(name), "struct-%zu.cdiff", i);
		expect_open(write_cdiff(name, &t[i].m), NULL, fx.tkey, t[i].want,
		    t[i].msg);
	}
}

/* ==== the script: syntax ==== */

static void
test_cdiff_script_syntax_errors_name_the_line(void **state)
{
	static const struct {
		const char *script;
		size_t len;
		int want;
		const char *msg;
	} t[] = {
		{ "OPEN test.info\nCLOSE\n", 0, 0, NULL },
		{ "OPEN test.info\nFROB x\nCLOSE\n", 0, CVD_ECONTENT,
		  "script line 2: unknown command 'FROB'" },
		{ "MOVE test.hdb test.ndb\n", 0, CVD_ECONTENT,
		  "script line 1: unknown command 'MOVE'" },
		{ "open test.info\n", 0, CVD_ECONTENT, "unknown command 'open'" },
		{ "OPEN ../x\n", 0, CVD_ECONTENT, "file name '../x' is not plain (byte 3" },
		{ "OPEN a/b\n", 0, CVD_ECONTENT, "file name 'a/b' is not plain (byte 2" },
		{ "OPEN .hidden\n", 0, CVD_ECONTENT,
		  "file name '.hidden' is not NAME.ext (no leading '.', no '..')" },
		{ "OPEN test..info\n", 0, CVD_ECONTENT, "is not NAME.ext" },
		{ "OPEN test.\n", 0, CVD_ECONTENT, "is not NAME.ext" },
		{ "OPEN COPYING\n", 0, CVD_ECONTENT, "is not NAME.ext" },
		{ "OPEN t+st.info\n", 0, CVD_ECONTENT, "the database name is not" },
		{ "OPEN test.info\r\nCLOSE\n", 0, CVD_ECONTENT,
		  "file name 'test.info?' is not plain" },
		{ "OPEN te\001st.info\n", 0, CVD_ECONTENT, "file name 'te?st.info'" },
		{ "OPEN test.info\n", 0, CVD_ECONTENT,
		  "end of script (line 1): missing CLOSE for test.info (opened at script line 1)" },
		{ "ADD foo\n", 0, CVD_ECONTENT, "script line 1: ADD outside OPEN ... CLOSE" },
		{ "OPEN test.info\nCLOSE\nDEL 1 x\n", 0, CVD_ECONTENT,
		  "script line 3: DEL outside OPEN ... CLOSE" },
		{ "XCHG 1 x y\n", 0, CVD_ECONTENT, "XCHG outside OPEN ... CLOSE" },
		{ "CLOSE\n", 0, CVD_ECONTENT, "script line 1: CLOSE without OPEN" },
		{ "OPEN test.info\nOPEN test.hdb\n", 0, CVD_ECONTENT,
		  "script line 2: OPEN while test.info is open (since script line 1)" },
		{ "OPEN test.info\nUNLINK test.hdb\n", 0, CVD_ECONTENT,
		  "UNLINK while test.info is open" },
		{ "OPEN test.info\nCLOSE\nOPEN other.hdb\nCLOSE\n", 0, CVD_ECONTENT,
		  "script line 3: file 'other.hdb' is not of database 'test'" },
		{ "OPEN test.hdb\nADD x\nCLOSE\n", 0, CVD_ECONTENT,
		  "the script does not edit test.info" },
		{ "", 0, CVD_ECONTENT, "the script edits no file" },
		{ "UNLINK test.info\n", 0, CVD_ECONTENT,
		  "UNLINK of the database's test.info" },
		{ "OPEN test.info\nDEL 0 x\nCLOSE\n", 0, CVD_ECONTENT,
		  "DEL: want a line number (from 1), a space and a prefix" },
		{ "OPEN test.info\nDEL x y\nCLOSE\n", 0, CVD_ECONTENT,
		  "DEL: want a line number" },
		{ "OPEN test.info\nDEL 1\nCLOSE\n", 0, CVD_ECONTENT,
		  "DEL: want a line number" },
		{ "OPEN test.info\nDEL 1 \nCLOSE\n", 0, CVD_ECONTENT, "DEL: empty prefix" },
		{ "OPEN test.info\nDEL 1 x y\nCLOSE\n", 0, CVD_ECONTENT,
		  "found more after the prefix" },
		{ "OPEN test.info\nXCHG 1 x\nCLOSE\n", 0, CVD_ECONTENT,
		  "XCHG: want 'XCHG n prefix new line', the new line is missing" },
		{ "OPEN test.info\nXCHG 1 x \nCLOSE\n", 0, CVD_ECONTENT,
		  "the new line is missing" },
		{ "OPEN test.info\nDEL 2 a\nXCHG 2 b c\nCLOSE\n", 0, CVD_ECONTENT,
		  "script line 3: test.info line 2 is already edited at script line 2" },
		{ "OPEN test.info\nADD\nCLOSE\n", 0, CVD_ECONTENT, "ADD needs a line to add" },
		{ "OPEN\n", 0, CVD_ECONTENT, "OPEN needs a file name" },
		{ "OPEN test.info\nCLOSE x\n", 0, CVD_ECONTENT, "CLOSE takes no argument" },
		{ "OPEN test.info\nCLOSE", 0, CVD_ECONTENT,
		  "script line 2: no newline at the end" },
		{ "OPEN test.info\n\nCLOSE\n", 0, CVD_ECONTENT, "script line 2: empty line" },
		{ "OPEN test.info\nADD a\0b\nCLOSE\n", 29, CVD_ECONTENT,
		  "script line 2: contains a NUL byte" },
		{ "OPEN  test.info\n", 0, CVD_ECONTENT, "is not plain" },
	};
	char err[CVD_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = run_script(t[i].script, t[i].len, NULL, err, sizeof(err));

		if (rc != t[i].want || (t[i].want != 0 &&
		    (strstr(err, t[i].msg) == NULL ||
		    strncmp(err, "synthetic.cdiff: ", 17) != 0)))
			fail_msg("script %zu: got %d '%s'; want %d '%s'", i, rc, err,
			    t[i].want, t[i].msg ? t[i].msg : "");
	}
}

static void
test_cdiff_script_limits(void **state)
{
	size_t n = CVD_CDIFF_MAX_LINE + 64;
	char *s = malloc(n + 64), err[CVD_ERRMSG_MAX], name[CVD_MEMBER_NAME_MAX + 16];
	char script[256];
	size_t len;

	(void)state;
	assert_non_null(s);
	/* one line over the limit */
	len = (size_t)snprintf(s, 64, "OPEN test.info\nADD ");
	memset(s + len, 'a', CVD_CDIFF_MAX_LINE);
	len += CVD_CDIFF_MAX_LINE;
	memcpy(s + len, "\nCLOSE\n", 7);
	assert_int_equal(run_script(s, len + 7, NULL, err, sizeof(err)), CVD_ELIMIT);
	assert_non_null(strstr(err, "script line 2: longer than 1048576 bytes"));
	/* exactly at the limit */
	len = (size_t)snprintf(s, 64, "OPEN test.info\nADD ");
	memset(s + len, 'a', CVD_CDIFF_MAX_LINE - 4);
	len += CVD_CDIFF_MAX_LINE - 4;
	memcpy(s + len, "\nCLOSE\n", 7);
	assert_int_equal(run_script(s, len + 7, NULL, err, sizeof(err)), 0);
	free(s);
	/* a file name at the limit, and one past it */
	memset(name, 'x', sizeof(name));
	memcpy(name, "test.", 5);
	name[CVD_MEMBER_NAME_MAX] = '\0';
	snprintf(script, sizeof(script), "OPEN test.info\nCLOSE\nUNLINK %s\n", name);
	assert_int_equal(run_script(script, 0, NULL, err, sizeof(err)), 0);
	name[CVD_MEMBER_NAME_MAX] = 'x';
	name[CVD_MEMBER_NAME_MAX + 1] = '\0';
	snprintf(script, sizeof(script), "OPEN test.info\nCLOSE\nUNLINK %s\n", name);
	assert_int_equal(run_script(script, 0, NULL, err, sizeof(err)), CVD_ECONTENT);
	assert_non_null(strstr(err, "file name of 100 bytes (at most 99)"));
}

/* ==== the script: applying ==== */

static void
test_cdiff_apply_line_numbers_are_those_at_open(void **state)
{
	const char *d = scratch();
	char err[CVD_ERRMSG_MAX], *got;

	(void)state;
	/* ADD before DEL still appends; DEL/XCHG in any order, original numbers */
	if (run_script("OPEN test.info\nCLOSE\nOPEN test.hdb\nADD a1\nXCHG 3 l3 L3 new\n"
	    "DEL 1 l\nADD a2\nDEL 4 l4\nCLOSE\n", 0, d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	got = read_str(d, "test.hdb");
	assert_string_equal(got, "l2\nL3 new\na1\na2\n");
	free(got);
	/* a new file, then an original whose last line has no newline */
	tu_write_str(tu_path(d, "test.ndb"), "x\ny");
	if (run_script("OPEN test.info\nCLOSE\nOPEN test.fp\nADD f1\nCLOSE\n"
	    "OPEN test.ndb\nADD z\nCLOSE\n", 0, d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	got = read_str(d, "test.fp");
	assert_string_equal(got, "f1\n");
	free(got);
	got = read_str(d, "test.ndb");
	assert_string_equal(got, "x\ny\nz\n");
	free(got);
	/* the last line without a newline, exchanged */
	tu_write_str(tu_path(d, "test.ndb"), "x\ny");
	if (run_script("OPEN test.info\nCLOSE\nOPEN test.ndb\nXCHG 2 y Y\nCLOSE\n",
	    0, d, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	got = read_str(d, "test.ndb");
	assert_string_equal(got, "x\nY\n");
	free(got);
	/* no temporary file left behind */
	assert_false(tu_exists(tu_path(d, ".test.ndb.tmp")));
}

static void
test_cdiff_apply_errors_name_the_command(void **state)
{
	static const struct {
		const char *script;
		int want;
		const char *msg;
	} t[] = {
		{ "OPEN test.info\nCLOSE\nOPEN test.hdb\nDEL 1 l1\nDEL 2 zzz\nCLOSE\n",
		  CVD_ECONTENT, "script line 5: DEL: test.hdb line 2 does not start with 'zzz'" },
		{ "OPEN test.info\nCLOSE\nOPEN test.hdb\nXCHG 2 l2x new\nCLOSE\n",
		  CVD_ECONTENT, "script line 4: XCHG: test.hdb line 2 does not start with 'l2x'" },
		{ "OPEN test.info\nCLOSE\nOPEN test.hdb\nDEL 5 l\nCLOSE\n",
		  CVD_ECONTENT, "script line 4: DEL: line 5 is beyond the end of test.hdb (4 lines)" },
		{ "OPEN test.info\nCLOSE\nOPEN test.new\nXCHG 1 a b\nCLOSE\n",
		  CVD_ECONTENT, "XCHG: line 1 is beyond the end of test.new (0 lines)" },
		{ "OPEN test.info\nCLOSE\nUNLINK test.ndb\n",
		  CVD_ECONTENT, "script line 3: UNLINK test.ndb: no such file" },
		{ "OPEN test.info\nXCHG 1 ClamAV-VDB: ClamAV-VDB:23 Nov 2026 10-00 +0000:8:3:81:X:X:t:1\nCLOSE\n",
		  CVD_EVERSION, "after applying, test.info says version 8, the cdiff is version 7" },
		{ "OPEN test.info\nXCHG 1 ClamAV-VDB: junk\nCLOSE\n",
		  CVD_EINFO, "after applying, test.info line 1 is not a ClamAV-VDB header" },
	};
	char err[CVD_ERRMSG_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = run_script(t[i].script, 0, scratch(), err, sizeof(err));

		if (rc != t[i].want || strstr(err, t[i].msg) == NULL)
			fail_msg("script %zu: got %d '%s'; want %d '%s'", i, rc, err,
			    t[i].want, t[i].msg);
	}
}

static void
test_cdiff_apply_unlink(void **state)
{
	const char *d = scratch();
	char err[CVD_ERRMSG_MAX];

	(void)state;
	if (run_script("UNLINK test.hdb\nOPEN test.info\nCLOSE\n", 0, d, err,
	    sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_false(tu_exists(tu_path(d, "test.hdb")));
	assert_true(tu_exists(tu_path(d, "test.info")));
}

static void
test_cdiff_apply_never_follows_symlinks(void **state)
{
	const char *d = scratch(), *outside = tu_path(fx.tmp, "outside.txt");
	char err[CVD_ERRMSG_MAX], *got;

	(void)state;
	tu_write_str(outside, "precious\n");
	unlink(tu_path(d, "test.hdb"));
	if (symlink(outside, tu_path(d, "test.hdb")) != 0)
		fail_msg("symlink: %s", strerror(errno));
	assert_int_equal(run_script("OPEN test.info\nCLOSE\nOPEN test.hdb\nADD x\nCLOSE\n",
	    0, d, err, sizeof(err)), CVD_EIO);
	assert_non_null(strstr(err, "OPEN test.hdb: a symbolic link"));
	/* UNLINK of a symlink: refused, not a regular file */
	assert_int_equal(run_script("OPEN test.info\nCLOSE\nUNLINK test.hdb\n",
	    0, d, err, sizeof(err)), CVD_ECONTENT);
	assert_non_null(strstr(err, "UNLINK test.hdb: not a regular file"));
	got = read_str(fx.tmp, "outside.txt");
	assert_string_equal(got, "precious\n");
	free(got);
}

/* ==== the .cld ==== */

/* test-6.cvd unpacked, and the .cld built from it. */
static const char *
cld_from_test6(const char *name, const char **dirp)
{
	const char *d = new_dir("cld-src");
	const char *cld = tu_path(fx.tmp, name);
	char err[CVD_ERRMSG_MAX];

	unpack_or_fail(real_or_skip("freshclam-tests/test-6.cvd"), d);
	if (cvd_build_cld(d, "test", cld, err, sizeof(err)) != 0)
		fail_msg("build %s: %s", cld, err);
	if (dirp)
		*dirp = d;
	return cld;
}

static void
flip_in(const char *path, size_t from, const char *needle, size_t at)
{
	size_t len;
	uint8_t *buf = tu_read(path, &len), *p;

	p = memmem(buf + from, len - from, needle, strlen(needle));
	assert_non_null(p);
	p[at] = p[at] == 'a' ? 'b' : 'a';
	tu_write(path, buf, len);
	free(buf);
}

static void
test_cld_with_dsig_trusted_without_allow_unsigned(void **state)
{
	const char *cld = cld_from_test6("t6.cld", NULL);
	struct cvd_result r;
	size_t len;
	uint8_t *buf;

	(void)state;
	expect_verify(cld, NULL, false, 0, NULL, CVD_SIGNER_OFFICIAL);
	expect_verify(cld, NULL, true, 0, NULL, CVD_SIGNER_OFFICIAL);
	/* only the official key for the DSIG: a store without it rejects */
	expect_verify(cld, fx.tkey, false, CVD_EDSIG,
	    ".info DSIG does not verify", CVD_SIGNER_NONE);
	/* the layout: header from .info line 1, plain tar, COPYING first */
	buf = tu_read(cld, &len);
	assert_memory_equal(buf, "ClamAV-VDB:22 Jun 2021 21-34 -0400:6:14:81:X:X:micasnyd:1624412045 ",
	    sizeof("ClamAV-VDB:22 Jun 2021 21-34 -0400:6:14:81:X:X:micasnyd:1624412045 ") - 1);
	assert_memory_equal(buf + CVD_HEADER_SIZE, "COPYING", 8);
	free(buf);
	assert_int_equal(cvd_verify_file(cld, NULL, &r), 0);
	assert_true(r.nmembers == 20);
	assert_string_equal(r.members[0].name, "COPYING");
	assert_string_equal(r.members[1].name, "test.info");
	cvd_result_free(&r);
}

static void
test_cld_tampered_rejected_even_if_unsigned_allowed(void **state)
{
	const char *cld;

	(void)state;
	/* a byte of a member */
	cld = cld_from_test6("t6-member.cld", NULL);
	flip_in(cld, CVD_HEADER_SIZE, "Eicar-Test-Signature", 0);
	for (int allow = 0; allow <= 1; allow++)
		expect_verify(cld, NULL, allow, CVD_EMEMBER,
		    "sha256 mismatch", CVD_SIGNER_NONE);
	/* the DSIG itself */
	cld = cld_from_test6("t6-dsig.cld", NULL);
	flip_in(cld, CVD_HEADER_SIZE, "DSIG:", 9);
	for (int allow = 0; allow <= 1; allow++)
		expect_verify(cld, NULL, allow, CVD_EDSIG,
		    ".info DSIG does not verify", CVD_SIGNER_NONE);
	/* the header: it must equal the .info line 1 (covered by the DSIG) */
	cld = cld_from_test6("t6-header.cld", NULL);
	flip_in(cld, 0, "micasnyd", 7);
	expect_verify(cld, NULL, true, CVD_EINFO, "field 8 (builder)",
	    CVD_SIGNER_NONE);
}

static void
test_cld_without_dsig_needs_allow_unsigned(void **state)
{
	const char *d, *cld;
	char *info, *dsig, err[CVD_ERRMSG_MAX];

	(void)state;
	(void)cld_from_test6("t6-src.cld", &d);
	info = read_str(d, "test.info");
	dsig = strstr(info, "DSIG:");
	assert_non_null(dsig);
	*dsig = '\0';
	tu_write_str(tu_path(d, "test.info"), info);
	free(info);
	cld = tu_path(fx.tmp, "t6-nodsig.cld");
	if (cvd_build_cld(d, "test", cld, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	expect_verify(cld, NULL, false, CVD_EUNSIGNED,
	    "unsigned container (.cld)", CVD_SIGNER_NONE);
	expect_verify(cld, NULL, true, 0, NULL, CVD_SIGNER_NONE);
}

static void
test_cld_signed_by_operator_key(void **state)
{
	struct tu_craft c = { .key = tu_key(), .md5_x = true, .plain_tar = true };
	const char *p = tu_path(fx.tmp, "op.cld");

	(void)state;
	tu_craft_write(p, &c);
	expect_verify(p, fx.tkey, false, 0, NULL, CVD_SIGNER_KEY);
	expect_verify(p, NULL, false, CVD_EDSIG, ".info DSIG does not verify",
	    CVD_SIGNER_NONE);
	expect_verify(p, NULL, true, CVD_EDSIG, ".info DSIG does not verify",
	    CVD_SIGNER_NONE);
}

static void
test_cld_build_checks_the_directory(void **state)
{
	const char *d, *cld = tu_path(fx.tmp, "bad.cld");
	char err[CVD_ERRMSG_MAX], *info;

	(void)state;
	(void)cld_from_test6("t6-b.cld", &d);
	tu_write_str(tu_path(d, "stray.hdb"), "x\n");
	assert_int_equal(cvd_build_cld(d, "test", cld, err, sizeof(err)), CVD_EMEMBER);
	assert_non_null(strstr(err, "stray.hdb: not listed in test.info"));
	unlink(tu_path(d, "stray.hdb"));
	unlink(tu_path(d, "test.ldb"));
	assert_int_equal(cvd_build_cld(d, "test", cld, err, sizeof(err)), CVD_EMEMBER);
	assert_non_null(strstr(err, "test.info lists test.ldb, which is not there"));
	assert_int_equal(cvd_build_cld(d, "no/such", cld, err, sizeof(err)), CVD_EARG);
	assert_int_equal(cvd_build_cld(d, "other", cld, err, sizeof(err)), CVD_EINFO);
	info = read_str(d, "test.info");
	memcpy(strstr(info, ":X:X:"), ":0:X:", 5);
	tu_write_str(tu_path(d, "test.info"), info);
	free(info);
	assert_int_equal(cvd_build_cld(d, "test", cld, err, sizeof(err)), CVD_EINFO);
	assert_false(tu_exists(cld));
}

/* ==== cvdtool ==== */

static void
test_cdiff_cvdtool_verify_and_apply(void **state)
{
	const char *t1 = real_or_skip("freshclam-tests/test-1.cvd");
	const char *c2 = real_or_skip("freshclam-tests/test-2.cdiff");
	const char *c3 = real_or_skip("freshclam-tests/test-3.cdiff");
	char out2[4096], out3[4096];

	(void)state;
	snprintf(out2, sizeof(out2), "%s/tool-2.cld", fx.tmp);
	snprintf(out3, sizeof(out3), "%s/tool-3.cld", fx.tmp);
	assert_int_equal(tu_sh("%s cdiff verify %s >/dev/null", CVDTOOL_PATH, c2), 0);
	assert_int_equal(tu_sh("%s cdiff apply %s %s -o %s >/dev/null", CVDTOOL_PATH,
	    c2, t1, out2), 0);
	assert_int_equal(tu_sh("%s cdiff apply %s %s -o %s >/dev/null", CVDTOOL_PATH,
	    c3, out2, out3), 0);
	expect_verify(out3, NULL, false, 0, NULL, CVD_SIGNER_OFFICIAL);
	/* the wrong base version: refused, nothing written */
	assert_int_equal(tu_sh("%s cdiff apply %s %s -o %s/x.cld 2>/dev/null",
	    CVDTOOL_PATH, c3, t1, fx.tmp), 1);
	assert_false(tu_exists(tu_path(fx.tmp, "x.cld")));
	/* a tampered .cdiff: ERROR, exit 1 */
	{
		size_t len;
		uint8_t *buf = tu_read(c2, &len);

		buf[len - 3] = buf[len - 3] == 'a' ? 'b' : 'a';
		tu_write(tu_path(fx.tmp, "tool-bad.cdiff"), buf, len);
		free(buf);
	}
	assert_int_equal(tu_sh("%s cdiff verify %s/tool-bad.cdiff 2>&1 | grep -q '^ERROR: .*signature does not verify'",
	    CVDTOOL_PATH, fx.tmp), 0);
	assert_int_equal(tu_sh("%s cdiff verify %s/tool-bad.cdiff 2>/dev/null",
	    CVDTOOL_PATH, fx.tmp), 1);
	assert_int_equal(tu_sh("%s cdiff frob 2>/dev/null", CVDTOOL_PATH), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cdiff_real_chain_rebuilds_every_test_cvd),
		cmocka_unit_test(test_cdiff_real_daily_and_main_verify_and_parse),
		cmocka_unit_test(test_cdiff_sign_file_chains_to_test_root_only),
		cmocka_unit_test(test_cdiff_real_tampering_rejected),
		cmocka_unit_test(test_cdiff_operator_key_signs_private_cdiffs),
		cmocka_unit_test(test_cdiff_container_structure_errors),
		cmocka_unit_test(test_cdiff_script_syntax_errors_name_the_line),
		cmocka_unit_test(test_cdiff_script_limits),
		cmocka_unit_test(test_cdiff_apply_line_numbers_are_those_at_open),
		cmocka_unit_test(test_cdiff_apply_errors_name_the_command),
		cmocka_unit_test(test_cdiff_apply_unlink),
		cmocka_unit_test(test_cdiff_apply_never_follows_symlinks),
		cmocka_unit_test(test_cld_with_dsig_trusted_without_allow_unsigned),
		cmocka_unit_test(test_cld_tampered_rejected_even_if_unsigned_allowed),
		cmocka_unit_test(test_cld_without_dsig_needs_allow_unsigned),
		cmocka_unit_test(test_cld_signed_by_operator_key),
		cmocka_unit_test(test_cld_build_checks_the_directory),
		cmocka_unit_test(test_cdiff_cvdtool_verify_and_apply),
	};

	return cmocka_run_group_tests_name("cdiff", tests, group_setup,
	    group_teardown) ? 1 : 0;
}
