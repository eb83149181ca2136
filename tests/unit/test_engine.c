/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan engine: hash and body detection, known-clean lists, .ign2,
 * first-match and ALLMATCH, containers (crafted and real), counts, and the
 * compiled index (round trip, truncation, damage).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
#include <openssl/evp.h>

#include "ampscan/cvd.h"
#include "ampscan/engine.h"
#include "ampscan/sigs.h"
#include "engine_image.h"
#include "testutil.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#define DATA "some data the tests look for, 44 bytes long."
#define BODY_HEX "626f6479206d61726b6572"	/* "body marker" */
#define ERRLEN 1024

static const char hdb_eicar[] =
    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";

static struct {
	char *tmp;
	struct cvd_trust *tkey;
	unsigned seq;
} fx;

static int
group_setup(void **state)
{
	const char *priv, *pub;
	char err[CVD_ERRMSG_MAX];

	(void)state;
	fx.tmp = tu_tmpdir();
	tu_key_files(fx.tmp, &priv, &pub);
	if (cvd_trust_new(CVD_TRUST_NO_OFFICIAL, &fx.tkey) != 0 ||
	    cvd_trust_add_key_file(fx.tkey, pub, err, sizeof(err)) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	cvd_trust_free(fx.tkey);
	tu_rmtree(fx.tmp);
	free(fx.tmp);
	return 0;
}

/* ---- helpers ---- */

/* Lowercase hex digest of p (md "MD5", "SHA1", "SHA256") in a static slot. */
static const char *
hexdig(const char *md, const void *p, size_t n)
{
	static char bufs[4][65];
	static int slot;
	char *out = bufs[slot++ % 4];
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	assert_true(EVP_Digest(p, n, d, &dl, EVP_get_digestbyname(md), NULL));
	for (unsigned i = 0; i < dl; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return out;
}

/* A new file in the temporary directory, named name in a unique subdir. */
static const char *
put(const char *name, const char *text)
{
	static char bufs[8][4096];
	static int slot;
	char *out = bufs[slot++ % 8];
	char dir[3072];

	snprintf(dir, sizeof(dir), "%s/f%u", fx.tmp, fx.seq++);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(out, sizeof(bufs[0]), "%s/%s", dir, name);
	tu_write_str(out, text);
	return out;
}

struct dbfile {
	const char *name;
	const char *text;
};

static struct engine *
build(const struct dbfile *f, size_t n)
{
	struct engine_builder *b;
	struct engine *e;
	char err[ERRLEN];

	assert_int_equal(engine_builder_new(&b), 0);
	for (size_t i = 0; i < n; i++)
		if (engine_builder_add_file(b, put(f[i].name, f[i].text), err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", f[i].name, err);
	if (engine_builder_finish(b, &e, err, sizeof(err)) != 0)
		fail_msg("finish: %s", err);
	return e;
}

static struct engine *
build1(const char *name, const char *text)
{
	struct dbfile f = { name, text };

	return build(&f, 1);
}

static struct engine_result *
scan(const struct engine *e, const void *p, size_t n, unsigned flags)
{
	static struct engine_result res;

	assert_int_equal(engine_scan(e, p, n, flags, &res), 0);
	return &res;
}

static struct engine_result *
scan_str(const struct engine *e, const char *s, unsigned flags)
{
	return scan(e, s, strlen(s), flags);
}

static bool
has_name(const struct engine_result *r, const char *name)
{
	for (size_t i = 0; i < r->nmatches; i++)
		if (strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

static void
expect_one(const struct engine *e, const char *data, const char *name)
{
	struct engine_result *r = scan_str(e, data, 0);

	if (r->nmatches != 1 || strcmp(r->names[0], name) != 0)
		fail_msg("want one match %s, got %zu (%s)", name, r->nmatches,
		    r->nmatches ? r->names[0] : "");
}

static void
expect_clean(const struct engine *e, const char *data)
{
	struct engine_result *r = scan_str(e, data, ENGINE_SCAN_ALLMATCH);

	if (r->nmatches != 0)
		fail_msg("want clean, got %zu matches (%s)", r->nmatches,
		    r->names[0]);
}

/* "HASH:SIZE:NAME[:TAIL]" for DATA; size 0 means `*` (with MinFL 73). */
static char *
hashline(const char *md, long size, const char *name)
{
	static char bufs[8][512];
	static int slot;
	char *out = bufs[slot++ % 8];

	if (size == 0)
		snprintf(out, sizeof(bufs[0]), "%s:*:%s:73\n",
		    hexdig(md, DATA, strlen(DATA)), name);
	else
		snprintf(out, sizeof(bufs[0]), "%s:%ld:%s\n",
		    hexdig(md, DATA, strlen(DATA)), size, name);
	return out;
}

/* ---- hash signatures ---- */

static const struct {
	const char *md, *ext;
	unsigned digest;
} hash_kinds[] = {
	{ "MD5", "x.hdb", ENGINE_DIGEST_MD5 },
	{ "MD5", "x.hsb", ENGINE_DIGEST_MD5 },
	{ "SHA1", "x.hsb", ENGINE_DIGEST_SHA1 },
	{ "SHA256", "x.hsb", ENGINE_DIGEST_SHA256 },
};

static void
test_engine_detects_hash_with_exact_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hash_kinds) / sizeof(hash_kinds[0]); i++) {
		struct engine *e = build1(hash_kinds[i].ext,
		    hashline(hash_kinds[i].md, (long)strlen(DATA), "T.Exact-1"));

		expect_one(e, DATA, "T.Exact-1");
		expect_clean(e, DATA "x");
		assert_int_equal(engine_digests(e), hash_kinds[i].digest);
		engine_free(e);
	}
}

static void
test_engine_detects_hash_with_any_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hash_kinds) / sizeof(hash_kinds[0]); i++) {
		struct engine *e = build1(hash_kinds[i].ext,
		    hashline(hash_kinds[i].md, 0, "T.Any-1"));

		expect_one(e, DATA, "T.Any-1");
		engine_free(e);
	}
}

static void
test_engine_size_mismatch_not_detected(void **state)
{
	static const long delta[] = { -1, 1, 4096 };

	(void)state;
	for (size_t i = 0; i < sizeof(hash_kinds) / sizeof(hash_kinds[0]); i++)
		for (size_t j = 0; j < sizeof(delta) / sizeof(delta[0]); j++) {
			struct engine *e = build1(hash_kinds[i].ext,
			    hashline(hash_kinds[i].md,
			    (long)strlen(DATA) + delta[j], "T.Size-1"));

			expect_clean(e, DATA);
			engine_free(e);
		}
}

/* Digests only where a signature of that size (or `*`) could use them. */
static void
test_engine_digests_only_for_matching_sizes(void **state)
{
	long len = (long)strlen(DATA);
	struct dbfile f[] = {
		{ "d.hdb", hashline("MD5", len, "T.Md5-1") },
		{ "d.hsb", hashline("SHA256", 5000, "T.Sha256-1") },
	};
	struct engine *e;

	(void)state;
	e = build(f, 2);
	assert_int_equal(engine_digests(e), ENGINE_DIGEST_MD5 | ENGINE_DIGEST_SHA256);
	assert_int_equal(engine_scan_digests(e, (size_t)len), ENGINE_DIGEST_MD5);
	assert_int_equal(engine_scan_digests(e, 5000), ENGINE_DIGEST_SHA256);
	assert_int_equal(engine_scan_digests(e, 7), 0);
	assert_int_equal(engine_scan_digests(e, 0), 0);
	assert_int_equal(engine_scan_digests(e, SIZE_MAX), 0);
	expect_one(e, DATA, "T.Md5-1");
	expect_clean(e, DATA "x");
	engine_free(e);

	/* `*`: that kind for every size; the other kind only for its sizes */
	f[1].text = hashline("SHA256", 0, "T.Sha256-1");
	e = build(f, 2);
	assert_int_equal(engine_scan_digests(e, 7), ENGINE_DIGEST_SHA256);
	assert_int_equal(engine_scan_digests(e, SIZE_MAX), ENGINE_DIGEST_SHA256);
	assert_int_equal(engine_scan_digests(e, (size_t)len),
	    ENGINE_DIGEST_MD5 | ENGINE_DIGEST_SHA256);
	{
		struct engine_result *r = scan_str(e, DATA, ENGINE_SCAN_ALLMATCH);

		assert_int_equal(r->nmatches, 2);
		assert_true(has_name(r, "T.Md5-1") && has_name(r, "T.Sha256-1"));
	}
	engine_free(e);

	/* a known-clean size makes its kind computed, and it suppresses */
	{
		struct dbfile g[] = {
			{ "d.hdb", hashline("MD5", len, "T.Md5-1") },
			{ "c.sfp", hashline("SHA1", len, "T.Clean-1") },
		};

		e = build(g, 2);
		assert_int_equal(engine_scan_digests(e, (size_t)len),
		    ENGINE_DIGEST_MD5 | ENGINE_DIGEST_SHA1);
		assert_int_equal(engine_scan_digests(e, (size_t)len + 1), 0);
		expect_clean(e, DATA);
		engine_free(e);
	}
}

/* ---- known clean ---- */

static void
test_engine_fp_suppresses_detection(void **state)
{
	long len = (long)strlen(DATA);
	struct dbfile f[] = {
		{ "d.hdb", hashline("MD5", len, "T.Det-1") },
		{ "d.ndb", "T.Body-1:0:*:" BODY_HEX "\n" },
		{ "c.fp", hashline("MD5", len, "T.Clean-1") },
	};
	struct engine *e;
	char withbody[128];

	(void)state;
	e = build(f, 3);
	expect_clean(e, DATA);
	/* the fp entry names this buffer only: the body match elsewhere stays */
	snprintf(withbody, sizeof(withbody), "%s", "a body marker here");
	expect_one(e, withbody, "T.Body-1");
	engine_free(e);

	/* an fp entry with another size does not apply */
	f[2].text = hashline("MD5", len + 1, "T.Clean-1");
	e = build(f, 3);
	expect_one(e, DATA, "T.Det-1");
	engine_free(e);
}

static void
test_engine_sfp_suppresses_detection(void **state)
{
	static const char *const mds[] = { "SHA256", "SHA1", "MD5" };
	long len = (long)strlen(DATA);

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct dbfile f[] = {
			{ "d.hsb", hashline("SHA256", len, "T.Det-1") },
			{ "c.sfp", hashline(mds[i], i == 0 ? 0 : len, "T.Clean-1") },
		};
		struct engine *e = build(f, 2);

		expect_clean(e, DATA);
		engine_free(e);
	}
}

/* A body match in a buffer whose digest is on the fp list is suppressed too. */
static void
test_engine_fp_suppresses_body_match(void **state)
{
	const char *data = "a body marker in a known clean file";
	char fp[256];
	struct dbfile f[] = {
		{ "d.ndb", "T.Body-1:0:*:" BODY_HEX "\n" },
		{ "c.fp", fp },
	};
	struct engine *e;

	(void)state;
	snprintf(fp, sizeof(fp), "%s:%zu:T.Clean-1\n",
	    hexdig("MD5", data, strlen(data)), strlen(data));
	e = build(f, 2);
	expect_clean(e, data);
	expect_one(e, "another body marker", "T.Body-1");
	engine_free(e);
}

/* ---- .ign2 ---- */

static void
test_engine_ign2_disables_one_signature(void **state)
{
	static const char *const forms[] = {
		"T.Md5-1\n",
		"T.Md5-1:0123456789abcdef0123456789abcdef\n",	/* by name */
		"x:y:T.Md5-1\n",
	};
	long len = (long)strlen(DATA);
	char hdb[1024];

	(void)state;
	snprintf(hdb, sizeof(hdb), "%s%s", hashline("MD5", len, "T.Md5-1"),
	    hashline("MD5", 0, "T.Md5-2"));
	for (size_t i = 0; i < 3; i++) {
		/* ign2 before and after the signatures it names */
		struct dbfile f[] = {
			{ "a.ign2", forms[i] },
			{ "d.hdb", hdb },
			{ "d.hsb", hashline("SHA256", len, "T.Sha-1") },
			{ "d.ndb", "T.Body-1:0:*:" BODY_HEX "\nT.Body-2:0:*:" BODY_HEX "\n" },
			{ "z.ign2", "T.Body-1\nNo.Such.Signature\n" },
		};
		struct engine *e = build(f, 5);
		struct engine_result *r = scan_str(e, DATA, ENGINE_SCAN_ALLMATCH);
		struct engine_info info;

		assert_int_equal(r->nmatches, 2);
		assert_true(has_name(r, "T.Md5-2"));
		assert_true(has_name(r, "T.Sha-1"));
		expect_one(e, "the body marker", "T.Body-2");
		engine_info(e, &info);
		assert_int_equal(info.loaded[SIG_TYPE_HDB], 1);
		assert_int_equal(info.not_loaded[SIG_TYPE_HDB], 1);
		assert_int_equal(info.loaded[SIG_TYPE_NDB], 1);
		assert_int_equal(info.not_loaded[SIG_TYPE_NDB], 1);
		assert_int_equal(info.loaded[SIG_TYPE_IGN2], 3);
		engine_free(e);
	}
}

/* ---- first match and ALLMATCH ---- */

static void
test_engine_allmatch_reports_every_name(void **state)
{
	long len = (long)strlen(DATA);
	char hdb[1024], ndb[256];
	struct dbfile f[] = {
		{ "d.hdb", hdb },
		{ "d.hsb", hashline("SHA256", 0, "T.Sha-1") },
		{ "d.ndb", ndb },
	};
	struct engine *e;
	struct engine_result *r;

	(void)state;
	/* T.Md5-1 twice (two digests' worth of lines): reported once */
	snprintf(hdb, sizeof(hdb), "%s%s%s", hashline("MD5", len, "T.Md5-1"),
	    hashline("MD5", 0, "T.Md5-1"), hashline("MD5", len, "T.Md5-2"));
	snprintf(ndb, sizeof(ndb), "T.Body-1:0:*:%s\n", "6461746120746865");	/* "data the" */
	e = build(f, 3);
	r = scan_str(e, DATA, ENGINE_SCAN_ALLMATCH);
	assert_int_equal(r->nmatches, 4);
	assert_false(r->truncated);
	assert_true(has_name(r, "T.Md5-1"));
	assert_true(has_name(r, "T.Md5-2"));
	assert_true(has_name(r, "T.Sha-1"));
	assert_true(has_name(r, "T.Body-1"));
	r = scan_str(e, DATA, 0);
	assert_int_equal(r->nmatches, 1);
	assert_false(r->truncated);
	engine_free(e);
}

static void
test_engine_allmatch_truncates_at_the_limit(void **state)
{
	size_t n = ENGINE_MAX_MATCHES + 6, cap = n * 128, at = 0;
	char *hdb = malloc(cap), name[64];
	struct engine *e;
	struct engine_result *r;

	(void)state;
	assert_non_null(hdb);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "T.Many-%zu", i);
		at += (size_t)snprintf(hdb + at, cap - at, "%s",
		    hashline("MD5", (long)strlen(DATA), name));
	}
	e = build1("d.hdb", hdb);
	r = scan_str(e, DATA, ENGINE_SCAN_ALLMATCH);
	assert_int_equal(r->nmatches, ENGINE_MAX_MATCHES);
	assert_true(r->truncated);
	r = scan_str(e, DATA, 0);
	assert_int_equal(r->nmatches, 1);
	assert_false(r->truncated);
	engine_free(e);
	free(hdb);
}

/* ---- digests ---- */

static void
test_engine_computes_only_needed_digests(void **state)
{
	long len = (long)strlen(DATA);
	static const struct {
		const char *hdb, *hsb_md, *sfp_md;
		unsigned want;
	} cases[] = {
		{ NULL, NULL, NULL, 0 },
		{ "MD5", NULL, NULL, ENGINE_DIGEST_MD5 },
		{ NULL, "SHA256", NULL, ENGINE_DIGEST_SHA256 },
		{ NULL, "SHA1", NULL, ENGINE_DIGEST_SHA1 },
		{ "MD5", NULL, "SHA1", ENGINE_DIGEST_MD5 | ENGINE_DIGEST_SHA1 },
		{ NULL, "SHA1", "SHA256", ENGINE_DIGEST_SHA1 | ENGINE_DIGEST_SHA256 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dbfile f[4];
		size_t n = 0;
		struct engine *e;

		f[n++] = (struct dbfile){ "d.ndb", "T.Body-1:0:*:" BODY_HEX "\n" };
		if (cases[i].hdb)
			f[n++] = (struct dbfile){ "d.hdb",
			    hashline(cases[i].hdb, len + 1, "T.H-1") };
		if (cases[i].hsb_md)
			f[n++] = (struct dbfile){ "d.hsb",
			    hashline(cases[i].hsb_md, len + 1, "T.S-1") };
		if (cases[i].sfp_md)
			f[n++] = (struct dbfile){ "d.sfp",
			    hashline(cases[i].sfp_md, len + 1, "T.C-1") };
		e = build(f, n);
		assert_int_equal(engine_digests(e), cases[i].want);
		expect_one(e, "body marker", "T.Body-1");
		expect_clean(e, DATA);
		engine_free(e);
	}
}

/* ---- files, counts ---- */

static void
test_engine_file_error_names_file_and_line(void **state)
{
	const char *path = put("bad.hdb", "# comment\n"
	    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
	    "44d88612fea8a8f36de82e1278abb02f::Broken\n");
	struct engine_builder *b;
	struct engine *e;
	struct engine_info info;
	struct engine_result *r;
	char err[ERRLEN], want[4200];

	(void)state;
	assert_int_equal(engine_builder_new(&b), 0);
	assert_int_equal(engine_builder_add_file(b, path, err, sizeof(err)),
	    ENGINE_EINVAL);
	snprintf(want, sizeof(want), "%s line 3: field 2 (size): empty", path);
	assert_string_equal(err, want);
	assert_int_equal(engine_builder_add_file(b, "/nonexistent/x.hdb", err,
	    sizeof(err)), ENGINE_EIO);
	assert_non_null(strstr(err, "/nonexistent/x.hdb"));
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	/* the good line before the bad one was rolled back */
	expect_clean(e, EICAR);
	engine_info(e, &info);
	assert_int_equal(info.ndbs, 0);
	assert_int_equal(info.loaded[SIG_TYPE_HDB], 0);
	engine_free(e);

	/* after a rollback the same names load again, once */
	assert_int_equal(engine_builder_new(&b), 0);
	assert_int_equal(engine_builder_add_file(b, path, err, sizeof(err)),
	    ENGINE_EINVAL);
	assert_int_equal(engine_builder_add_file(b, put("good.hdb", hdb_eicar),
	    err, sizeof(err)), 0);
	assert_int_equal(engine_builder_add_file(b, put("good.hsb",
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Eicar-Test-Signature\n"),
	    err, sizeof(err)), 0);
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	r = scan_str(e, EICAR, ENGINE_SCAN_ALLMATCH);
	/* an MD5 and a SHA-256 signature of one name: two findings, as
	 * clamd --allmatch reports them (scan_clamdscan compares) */
	assert_int_equal(r->nmatches, 2);
	assert_string_equal(r->names[0], "Eicar-Test-Signature");
	assert_string_equal(r->names[1], "Eicar-Test-Signature");
	engine_info(e, &info);
	assert_int_equal(info.ndbs, 2);
	engine_free(e);
}

static void
test_engine_info_counts_loaded_and_not(void **state)
{
	struct dbfile f[] = {
		{ "a.hdb",
		  "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
		  "44d88612fea8a8f36de82e1278abb02f:68:Future-Sig:999\n"
		  "\n# comment\n" },
		{ "a.ndb",
		  "T.Body-1:0:*:" BODY_HEX "\n"
		  "T.Ep-1:1:EP+10:" BODY_HEX "\n"
		  "T.Old-1:0:*:" BODY_HEX ":0:38\n" },
		{ "a.ldb", "Sig.Ldb-1;Engine:51-255,Target:0;0;414243\n# c\n\nx\n" },
	};
	struct engine *e = build(f, 3);
	struct engine_info info;

	(void)state;
	engine_info(e, &info);
	assert_int_equal(info.ndbs, 3);
	assert_string_equal(info.dbs[0].name, "a.hdb");
	assert_string_equal(info.dbs[0].kind, "file");
	assert_int_equal(info.dbs[0].version, 0);
	assert_int_equal(info.loaded[SIG_TYPE_HDB], 1);
	assert_int_equal(info.not_loaded[SIG_TYPE_HDB], 1);
	assert_int_equal(info.loaded[SIG_TYPE_NDB], 1);
	assert_int_equal(info.not_loaded[SIG_TYPE_NDB], 2);
	assert_int_equal(info.other_types, 2);
	assert_int_equal(info.not_loaded[SIG_TYPE_OTHER], 2);
	assert_true(info.image_size > 0);
	expect_one(e, EICAR, "Eicar-Test-Signature");
	engine_free(e);
}

/* ---- containers ---- */

static const char *
craft(const char *name, const struct tu_member *ms, size_t n)
{
	static char path[4096];
	struct tu_craft c = { .members = ms, .n = n, .key = tu_key() };

	snprintf(path, sizeof(path), "%s/%s", fx.tmp, name);
	tu_craft_write(path, &c);
	return path;
}

static void
test_engine_container_loads_and_detects(void **state)
{
	static const char hsb[] =
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Eicar-Sha256\n";
	static const char ndb[] = "T.Body-1:0:*:" BODY_HEX "\n";
	const struct tu_member ms[] = {
		{ .name = "COPYING", .data = "c\n", .len = 2 },
		{ .name = "test.info" },
		{ .name = "test.hdb", .data = hdb_eicar, .len = sizeof(hdb_eicar) - 1 },
		{ .name = "test.hsb", .data = hsb, .len = sizeof(hsb) - 1 },
		{ .name = "test.ldb", .data = "A;B;C\nD;E;F\n", .len = 12 },
		{ .name = "test.ndb", .data = ndb, .len = sizeof(ndb) - 1 },
	};
	const char *path = craft("daily.cvd", ms, 6);
	struct cvd_verify_opts o = { .trust = fx.tkey, .no_sign = true };
	struct engine_builder *b;
	struct engine *e;
	struct engine_info info;
	struct engine_result *r;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(engine_builder_new(&b), 0);
	if (engine_builder_add_container(b, path, &o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	r = scan_str(e, EICAR, ENGINE_SCAN_ALLMATCH);
	assert_int_equal(r->nmatches, 2);
	assert_true(has_name(r, "Eicar-Test-Signature"));
	assert_true(has_name(r, "Eicar-Sha256"));
	expect_one(e, "a body marker", "T.Body-1");
	engine_info(e, &info);
	assert_int_equal(info.ndbs, 1);
	assert_string_equal(info.dbs[0].name, "daily");
	assert_int_equal(info.dbs[0].version, 7);
	assert_string_equal(info.dbs[0].kind, "cvd");
	assert_int_equal(info.loaded[SIG_TYPE_HDB], 1);
	assert_int_equal(info.loaded[SIG_TYPE_HSB], 1);
	assert_int_equal(info.loaded[SIG_TYPE_NDB], 1);
	assert_int_equal(info.other_types, 2);
	engine_free(e);
}

static void
test_engine_container_failing_verification_adds_nothing(void **state)
{
	/* the .hdb streams (and reaches the sink) before the bad .ndb line */
	const struct tu_member bad[] = {
		{ .name = "COPYING", .data = "c\n", .len = 2 },
		{ .name = "test.info" },
		{ .name = "test.hdb", .data = hdb_eicar, .len = sizeof(hdb_eicar) - 1 },
		{ .name = "test.ndb", .data = "Broken:0:*:zz\n", .len = sizeof("Broken:0:*:zz\n") - 1 },
	};
	const char *path = craft("bad.cvd", bad, 4);
	struct cvd_verify_opts o = { .trust = fx.tkey, .no_sign = true };
	struct cvd_verify_opts untrusted = { .no_sign = true };
	struct engine_builder *b;
	struct engine *e;
	struct engine_info info;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(engine_builder_new(&b), 0);
	assert_int_equal(engine_builder_add_container(b, path, &o, err,
	    sizeof(err)), ENGINE_ELOAD);
	assert_non_null(strstr(err, "test.ndb line 1"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	/* a good container signed by a key the options do not trust */
	path = craft("good.cvd", tu_default_members, tu_default_nmembers);
	assert_int_equal(engine_builder_add_container(b, path, &untrusted, err,
	    sizeof(err)), ENGINE_ELOAD);
	assert_true(err[0] != '\0');
	assert_int_equal(engine_builder_add_container(b, "/nonexistent.cvd", &o,
	    err, sizeof(err)), ENGINE_EIO);
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	expect_clean(e, EICAR);
	engine_info(e, &info);
	assert_int_equal(info.ndbs, 0);
	for (int t = 0; t <= SIG_TYPE_OTHER; t++) {
		assert_int_equal(info.loaded[t], 0);
		assert_int_equal(info.not_loaded[t], 0);
	}
	engine_free(e);
}

static void
test_engine_real_test6_cvd(void **state)
{
	const char *path = tu_real("freshclam-tests/test-6.cvd");
	const char *clam = "/usr/share/clamav-testfiles/clam.exe";
	struct cvd_verify_opts o = { 0 };
	struct engine_builder *b;
	struct engine *e;
	struct engine_info info;
	struct engine_result *r;
	char err[ERRLEN];

	(void)state;
	if (path == NULL) {
		print_message("real container test-6.cvd absent: skipped\n");
		skip();
	}
	assert_int_equal(engine_builder_new(&b), 0);
	if (engine_builder_add_container(b, path, &o, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	r = scan_str(e, EICAR, ENGINE_SCAN_ALLMATCH);
	/* test-6 holds EICAR's MD5 (.hdb) and SHA-256 (.hsb): clamd
	 * --allmatch prints both */
	assert_int_equal(r->nmatches, 2);
	assert_string_equal(r->names[0], "Eicar-Test-Signature");
	assert_string_equal(r->names[1], "Eicar-Test-Signature");
	expect_clean(e, "X5O!P%@AP");
	engine_info(e, &info);
	assert_int_equal(info.ndbs, 1);
	assert_string_equal(info.dbs[0].name, "test-6");
	assert_int_equal(info.dbs[0].version, 6);
	assert_string_equal(info.dbs[0].kind, "cvd");
	assert_int_equal(info.loaded[SIG_TYPE_HDB], 2);
	assert_int_equal(info.loaded[SIG_TYPE_HSB], 1);
	assert_int_equal(info.loaded[SIG_TYPE_FP], 1);
	assert_int_equal(info.loaded[SIG_TYPE_SFP], 1);
	assert_int_equal(info.loaded[SIG_TYPE_NDB] + info.not_loaded[SIG_TYPE_NDB], 3);
	assert_true(info.not_loaded[SIG_TYPE_NDB] >= 1);	/* the EOL line */
	assert_true(info.other_types > 0);
	assert_int_equal(engine_digests(e), ENGINE_DIGEST_MD5 | ENGINE_DIGEST_SHA256);
	if (tu_exists(clam)) {
		size_t len;
		uint8_t *p = tu_read(clam, &len);

		r = scan(e, p, len, 0);
		assert_int_equal(r->nmatches, 1);
		assert_string_equal(r->names[0], "Clamav.Test.File-6");
		free(p);
	} else {
		print_message("%s absent: that part skipped\n", clam);
	}
	engine_free(e);
}

/* ---- the compiled index ---- */

/* An engine of n MD5 signatures and a few of every other kind. */
static struct engine *
build_big(size_t n)
{
	size_t cap = n * 80 + 4096, at = 0;
	char *hdb = malloc(cap), *fp;
	struct engine *e;

	assert_non_null(hdb);
	for (size_t i = 0; i < n; i++) {
		char data[32];

		snprintf(data, sizeof(data), "buffer %zu", i);
		at += (size_t)snprintf(hdb + at, cap - at, "%s:%zu:T.Big-%zu\n",
		    hexdig("MD5", data, strlen(data)), strlen(data), i);
	}
	fp = hashline("MD5", (long)strlen(DATA), "T.Clean-1");
	{
		struct dbfile f[] = {
			{ "big.hdb", hdb },
			{ "d.hsb", hashline("SHA256", 0, "T.Sha-1") },
			{ "d.hsb", hashline("SHA1", (long)strlen(DATA) + 1, "T.Sha1-1") },
			{ "d.ndb", "T.Body-1:0:*:" BODY_HEX "\n" },
			{ "c.fp", fp },
			{ "x.ldb", "L;1;2\n" },
		};

		e = build(f, 6);
	}
	free(hdb);
	return e;
}

static const char *
index_file(const struct engine *e, const char *name)
{
	static char path[4096];
	char err[ERRLEN];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx.tmp, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	if (engine_index_write(e, fd, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	close(fd);
	return path;
}

static int
map_bytes(const uint8_t *p, size_t len, struct engine **e, char *err,
    size_t errlen)
{
	char path[4096];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/mapped.idx", fx.tmp);
	tu_write(path, p, len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	rc = engine_index_map(fd, e, err, errlen);
	close(fd);
	return rc;
}

static void
same_result(const struct engine *a, const struct engine *b, const void *p,
    size_t n, unsigned flags)
{
	struct engine_result ra, rb;

	assert_int_equal(engine_scan(a, p, n, flags, &ra), 0);
	assert_int_equal(engine_scan(b, p, n, flags, &rb), 0);
	assert_int_equal(ra.nmatches, rb.nmatches);
	assert_int_equal(ra.truncated, rb.truncated);
	for (size_t i = 0; i < ra.nmatches; i++)
		assert_string_equal(ra.names[i], rb.names[i]);
}

static void
test_engine_index_round_trip(void **state)
{
	struct engine *e = build_big(3000), *m;
	struct engine_info ia, ib;
	size_t la, lb;
	uint8_t *a, *b;
	char err[ERRLEN], data[64];
	int fd;

	(void)state;
	a = tu_read(index_file(e, "a.idx"), &la);
	fd = open(tu_path(fx.tmp, "a.idx"), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	if (engine_index_map(fd, &m, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	close(fd);
	for (size_t i = 0; i < 3000; i += 97) {
		char name[32];

		snprintf(data, sizeof(data), "buffer %zu", i);
		snprintf(name, sizeof(name), "T.Big-%zu", i);
		expect_one(m, data, name);
		same_result(e, m, data, strlen(data), 0);
	}
	for (unsigned flags = 0; flags <= ENGINE_SCAN_ALLMATCH; flags++) {
		same_result(e, m, DATA, strlen(DATA), flags);
		same_result(e, m, "a body marker", 13, flags);
		same_result(e, m, EICAR, strlen(EICAR), flags);
		same_result(e, m, "", 0, flags);
	}
	expect_clean(m, DATA);	/* the fp entry */
	expect_one(m, "with a body marker", "T.Body-1");
	engine_info(e, &ia);
	engine_info(m, &ib);
	assert_int_equal(ia.ndbs, ib.ndbs);
	for (size_t i = 0; i < ia.ndbs; i++) {
		assert_string_equal(ia.dbs[i].name, ib.dbs[i].name);
		assert_string_equal(ia.dbs[i].kind, ib.dbs[i].kind);
		assert_int_equal(ia.dbs[i].version, ib.dbs[i].version);
	}
	assert_memory_equal(ia.loaded, ib.loaded, sizeof(ia.loaded));
	assert_memory_equal(ia.not_loaded, ib.not_loaded, sizeof(ia.not_loaded));
	assert_int_equal(ia.other_types, ib.other_types);
	assert_int_equal(ia.image_size, la);
	assert_int_equal(ib.image_size, la);
	assert_int_equal(engine_digests(e), engine_digests(m));
	/* a mapped engine writes the same bytes */
	b = tu_read(index_file(m, "b.idx"), &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	engine_free(m);
	engine_free(e);
}

static void
expect_eindex(const uint8_t *p, size_t len, const char *msg, const char *what)
{
	struct engine *e = NULL;
	char err[ERRLEN];
	int rc = map_bytes(p, len, &e, err, sizeof(err));

	if (rc != ENGINE_EINDEX || e != NULL || strncmp(err, "index: ", 7) != 0 ||
	    (msg != NULL && strstr(err, msg) == NULL))
		fail_msg("%s: got %d '%s', want ENGINE_EINDEX '%s'", what, rc, err,
		    msg ? msg : "index: ");
}

static void
test_engine_index_truncated_is_rejected(void **state)
{
	struct engine *e = build_big(3000);
	size_t len;
	uint8_t *p = tu_read(index_file(e, "t.idx"), &len);
	static const size_t small[] = { 0, 1, 8, 63, ENGINE_TABLES_OFF - 1,
		ENGINE_TABLES_OFF };
	char what[64];

	(void)state;
	assert_true(len > 16 * 4096);
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		snprintf(what, sizeof(what), "truncated to %zu", small[i]);
		expect_eindex(p, small[i], NULL, what);
	}
	for (size_t at = 4096; at < len; at += 4096) {
		snprintf(what, sizeof(what), "truncated to %zu", at);
		expect_eindex(p, at, "truncated", what);
	}
	expect_eindex(p, len - 1, "truncated", "one byte short");
	engine_free(e);
	free(p);
}

static void
test_engine_index_damage_is_rejected(void **state)
{
	struct engine *e = build_big(3000);
	size_t len;
	uint8_t *p = tu_read(index_file(e, "d.idx"), &len);
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	char what[64];

	(void)state;
	/* every byte of the header and section table, then a sample */
	for (size_t at = 0; at < len; ) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			p[at] ^= (uint8_t)(1u << bit);
			snprintf(what, sizeof(what), "bit %u of byte %zu", bit, at);
			expect_eindex(p, len, NULL, what);
			p[at] ^= (uint8_t)(1u << bit);
		}
		if (at < ENGINE_TABLES_OFF) {
			at++;
		} else {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			at += 1 + rng % 997;
		}
	}
	/* the same image, undamaged, still maps */
	{
		struct engine *m;
		char err[ERRLEN];

		assert_int_equal(map_bytes(p, len, &m, err, sizeof(err)), 0);
		engine_free(m);
	}
	engine_free(e);
	free(p);
}

/* Damage that keeps a valid checksum: the structural checks catch it. */
static void
reseal(uint8_t *p, size_t len)
{
	engine_put64(p + ENGINE_CHECKSUM_OFF, engine_image_checksum(p, len));
}

static void
test_engine_index_structure_checked_past_checksum(void **state)
{
	struct engine *e = build_big(100);
	size_t len;
	uint8_t *p = tu_read(index_file(e, "s.idx"), &len);
	uint8_t *q = malloc(len);
	uint8_t *sec = NULL;
	static const struct {
		int sec;
		int field;	/* byte offset in the section entry */
		uint64_t value;
		const char *msg;
	} cases[] = {
		{ ENGINE_SEC_MD5, 8, 3, "not 8-byte aligned" },
		{ ENGINE_SEC_MD5, 8, 1ULL << 40, "section 2 (md5) out of bounds" },
		{ ENGINE_SEC_MD5, 16, 1ULL << 40, "section 2 (md5) out of bounds" },
		{ ENGINE_SEC_MD5, 24, 5, "entries of 24 bytes" },
		{ ENGINE_SEC_MD5, 4, 32, "entries of 32 bytes, want 24" },
		{ ENGINE_SEC_NAMES, 0, 7, "section 1 has id 7" },
		{ ENGINE_SEC_INFO, 16, 8, "section 9 (info)" },
		{ ENGINE_SEC_SHA1, 8, 0, "section 3 (sha1) out of bounds" },
	};

	(void)state;
	assert_non_null(q);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(q, p, len);
		sec = q + ENGINE_HEADER_SIZE + cases[i].sec * ENGINE_SECTION_SIZE;
		if (cases[i].field == 0 || cases[i].field == 4)
			engine_put32(sec + cases[i].field, (uint32_t)cases[i].value);
		else
			engine_put64(sec + cases[i].field, cases[i].value);
		reseal(q, len);
		expect_eindex(q, len, cases[i].msg, cases[i].msg);
	}
	memcpy(q, p, len);
	engine_put32(q + 8, ENGINE_FORMAT_VERSION + 1);
	reseal(q, len);
	{
		char want[32];

		snprintf(want, sizeof(want), "format version %u", ENGINE_FORMAT_VERSION + 1);
		expect_eindex(q, len, want, "version");
	}
	/* the size sets: bounds, flags, order */
	{
		const uint8_t *h = p + ENGINE_HEADER_SIZE +
		    ENGINE_SEC_SIZES * ENGINE_SECTION_SIZE;
		size_t zoff = (size_t)engine_le64(h + 8);
		size_t zlen = (size_t)engine_le64(h + 16);

		assert_true(zlen >= ENGINE_SIZES_FIXED + 8);
		assert_true(engine_le32(p + zoff) >= 2);	/* md5 sizes */
		memcpy(q, p, len);
		engine_put32(q + zoff, engine_le32(p + zoff) + 1);
		reseal(q, len);
		expect_eindex(q, len, "section 10 (sizes)", "sizes count");
		memcpy(q, p, len);
		engine_put32(q + zoff + 4, 2);
		reseal(q, len);
		expect_eindex(q, len, "bad flag", "sizes flag");
		memcpy(q, p, len);
		memcpy(q + zoff + ENGINE_SIZES_FIXED,
		    p + zoff + ENGINE_SIZES_FIXED + 4, 4);
		reseal(q, len);
		expect_eindex(q, len, "not strictly ascending", "sizes order");
	}
	memcpy(q, p, len);
	q[0] = 'X';
	expect_eindex(q, len, "bad magic", "magic");
	/* bytes 32..63 are the source id: any value, covered by the checksum */
	memcpy(q, p, len);
	q[40] = 1;
	expect_eindex(q, len, "checksum", "source id changed");
	free(q);
	free(p);
	engine_free(e);
}

/* One engine, several threads scanning at once (run under TSan by hand). */
struct scan_job {
	const struct engine *e;
	size_t hits;
};

static void *
scan_thread(void *arg)
{
	struct scan_job *j = arg;
	struct engine_result *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < 3000; i++) {
		char data[32];

		snprintf(data, sizeof(data), "buffer %zu", i);
		if (engine_scan(j->e, (const uint8_t *)data, strlen(data),
		    ENGINE_SCAN_ALLMATCH, r) == 0 && r->nmatches == 1)
			j->hits++;
	}
	free(r);
	return NULL;
}

static void
test_engine_scans_concurrently(void **state)
{
	struct engine *e = build_big(3000);
	struct scan_job jobs[4];
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct scan_job){ .e = e };
		assert_int_equal(pthread_create(&t[i], NULL, scan_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].hits, 3000);
	}
	engine_free(e);
}

static void
test_engine_empty_engine_scans_clean(void **state)
{
	struct engine_builder *b;
	struct engine *e, *m;
	char err[ERRLEN];
	size_t len;
	uint8_t *p;

	(void)state;
	assert_int_equal(engine_builder_new(&b), 0);
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	assert_int_equal(engine_digests(e), 0);
	expect_clean(e, EICAR);
	expect_clean(e, "");
	p = tu_read(index_file(e, "empty.idx"), &len);
	assert_int_equal(map_bytes(p, len, &m, err, sizeof(err)), 0);
	expect_clean(m, EICAR);
	engine_free(m);
	engine_free(e);
	free(p);
}

static void
test_engine_builder_add_counts_unloadable(void **state)
{
	struct engine_builder *b;
	struct engine *e;
	struct engine_info info;
	struct sig s = { .type = SIG_TYPE_HDB, .name = { "X", 1 } };
	char err[ERRLEN];

	(void)state;
	assert_int_equal(engine_builder_new(&b), 0);
	assert_int_equal(engine_builder_add(b, "m.hdb", &s, err, sizeof(err)), 0);
	s.loadable = true;
	s.flevel_skip = true;
	assert_int_equal(engine_builder_add(b, "m.hdb", &s, err, sizeof(err)), 0);
	s.flevel_skip = false;
	s.u.hash.digest_len = 20;	/* SHA-1 in an .hdb: refused */
	s.u.hash.size = 10;
	assert_int_equal(engine_builder_add(b, "m.hdb", &s, err, sizeof(err)),
	    ENGINE_EINVAL);
	assert_non_null(strstr(err, "m.hdb: "));
	s.u.hash.digest_len = 16;
	s.u.hash.size = 0;
	assert_int_equal(engine_builder_add(b, "m.hdb", &s, err, sizeof(err)),
	    ENGINE_EINVAL);
	assert_int_equal(engine_builder_finish(b, &e, err, sizeof(err)), 0);
	engine_info(e, &info);
	assert_int_equal(info.not_loaded[SIG_TYPE_HDB], 2);
	assert_int_equal(info.loaded[SIG_TYPE_HDB], 0);
	engine_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_detects_hash_with_exact_size),
		cmocka_unit_test(test_engine_detects_hash_with_any_size),
		cmocka_unit_test(test_engine_size_mismatch_not_detected),
		cmocka_unit_test(test_engine_digests_only_for_matching_sizes),
		cmocka_unit_test(test_engine_fp_suppresses_detection),
		cmocka_unit_test(test_engine_sfp_suppresses_detection),
		cmocka_unit_test(test_engine_fp_suppresses_body_match),
		cmocka_unit_test(test_engine_ign2_disables_one_signature),
		cmocka_unit_test(test_engine_allmatch_reports_every_name),
		cmocka_unit_test(test_engine_allmatch_truncates_at_the_limit),
		cmocka_unit_test(test_engine_computes_only_needed_digests),
		cmocka_unit_test(test_engine_file_error_names_file_and_line),
		cmocka_unit_test(test_engine_info_counts_loaded_and_not),
		cmocka_unit_test(test_engine_container_loads_and_detects),
		cmocka_unit_test(test_engine_container_failing_verification_adds_nothing),
		cmocka_unit_test(test_engine_real_test6_cvd),
		cmocka_unit_test(test_engine_index_round_trip),
		cmocka_unit_test(test_engine_index_truncated_is_rejected),
		cmocka_unit_test(test_engine_index_damage_is_rejected),
		cmocka_unit_test(test_engine_index_structure_checked_past_checksum),
		cmocka_unit_test(test_engine_scans_concurrently),
		cmocka_unit_test(test_engine_empty_engine_scans_clean),
		cmocka_unit_test(test_engine_builder_add_counts_unloadable),
	};

	return cmocka_run_group_tests_name("engine", tests, group_setup,
	    group_teardown) ? 1 : 0;
}
