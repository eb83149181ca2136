/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cvdtool: definitions containers by hand.
 *
 *   info, verify, unpack, list-sigs, build, sign, keygen, cdiff
 *
 * Exit status: 0 success, 1 a container failed (or a command failed),
 * 2 usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ampscan/cvd.h"
#include "json.h"
#include "load.h"
#include "statefile.h"

#define CVDTOOL_MAX_KEYS 16
#define CVDTOOL_MAX_CERTS 16
#define CVDTOOL_NAMES_LINE_MAX 65536

static const char cvdtool_usage[] =
"usage: cvdtool COMMAND [OPTIONS] ...\n"
"\n"
"Definitions containers (.cvd, .cld, .cud) by hand.\n"
"\n"
"commands:\n"
"  info FILE              header fields and verdict, as `sigtool --info` prints them\n"
"  verify FILE...         every check, one line per file with the precise reason\n"
"  verify --load [--engine clamav|builtin] [--scansvc PATH] FILE...\n"
"                         then load them as ampdaemon's update trial does:\n"
"                         `ampscansvc --check` (its sandbox, its canaries) on a\n"
"                         private copy in $TMPDIR; prints `load: OK (ENGINE) N\n"
"                         signatures, canaries found` or `load: FAILED: reason`\n"
"  unpack FILE [-C DIR]   verify, then extract the members into DIR (default .)\n"
"  list-sigs FILE         signature names, like `sigtool --list-sigs`\n"
"  build OUT.cvd --from DIR --key KEY.pem [--version N] [--builder B] [--flevel N]\n"
"  build OUT.cud --from DIR --unsigned [--version N]\n"
"                         pack the database files of DIR into a container\n"
"  sign FILE --key KEY.pem --cert CERT.pem [--cert CHAIN.pem]... [-o OUT]\n"
"                         write FILE.sign, a detached PKCS#7 signature\n"
"  keygen PRIVATE.pem PUBLIC.pem [--bits N]\n"
"                         make an RSA key pair for private definitions\n"
"  cdiff verify FILE.cdiff\n"
"                         check an incremental update: signature, script syntax\n"
"  cdiff apply FILE.cdiff BASE.cvd|BASE.cld -o OUT.cld\n"
"                         verify both, apply the update to BASE (version one less),\n"
"                         write the result as OUT.cld and verify it\n"
"\n"
"verification options (info, verify, unpack, list-sigs, cdiff):\n"
"  --trusted-key K.pem    also trust this RSA public key (repeatable)\n"
"  --certs-dir DIR        trust these root certificates for .cvd.sign (.cdiff.sign) files\n"
"  --sign FILE            the .sign to check (default: FILE.sign or NAME-VERSION.cvd.sign;\n"
"                         for cdiff: of the .cdiff, default FILE.cdiff.sign)\n"
"  --no-sign              ignore any .sign file\n"
"  --allow-unsigned       accept .cud, and .cld without a DSIG (sizes and hashes still\n"
"                         checked; a .cld whose .info DSIG verifies needs no option)\n"
"  --json                 one JSON object per file (fields: cvdtool(1));\n"
"                         with --load each has a \"load\" object\n"
"\n"
"load options (verify --load):\n"
"  --engine NAME          clamav (libclamav, the default) or builtin\n"
"  --scansvc PATH         the ampscansvc to run (default: the one beside cvdtool,\n"
"                         else the installed one, ../sbin/ampscansvc from cvdtool)\n"
"  The trust options above are passed on to ampscansvc; it runs as the user\n"
"  who runs cvdtool (root too: its sandbox does not depend on the user).\n"
"\n"
"Exit status: 0 all good, 1 a file failed verification, the load failed\n"
"or a command failed, 2 usage error.\n";

struct cvdtool {
	const char *keys[CVDTOOL_MAX_KEYS];
	size_t nkeys;
	const char *certs[CVDTOOL_MAX_CERTS];
	size_t ncerts;
	const char *certs_dir, *sign_path, *dir, *from, *key, *out, *builder;
	const char *engine, *scansvc;
	unsigned version, flevel, bits;
	bool no_sign, allow_unsigned, json, unsigned_cud, load;
	struct cvd_trust *trust;
	struct cvd_verify_opts vo;
};

enum {
	OPT_TRUSTED_KEY = 256, OPT_CERTS_DIR, OPT_SIGN, OPT_NO_SIGN,
	OPT_ALLOW_UNSIGNED, OPT_JSON, OPT_FROM, OPT_KEY, OPT_VERSION,
	OPT_BUILDER, OPT_FLEVEL, OPT_UNSIGNED, OPT_CERT, OPT_BITS, OPT_LOAD,
	OPT_ENGINE, OPT_SCANSVC,
};

static const struct option cvdtool_opts[] = {
	{ "trusted-key", required_argument, NULL, OPT_TRUSTED_KEY },
	{ "certs-dir", required_argument, NULL, OPT_CERTS_DIR },
	{ "sign", required_argument, NULL, OPT_SIGN },
	{ "no-sign", no_argument, NULL, OPT_NO_SIGN },
	{ "allow-unsigned", no_argument, NULL, OPT_ALLOW_UNSIGNED },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "builder", required_argument, NULL, OPT_BUILDER },
	{ "flevel", required_argument, NULL, OPT_FLEVEL },
	{ "unsigned", no_argument, NULL, OPT_UNSIGNED },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "bits", required_argument, NULL, OPT_BITS },
	{ "load", no_argument, NULL, OPT_LOAD },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "scansvc", required_argument, NULL, OPT_SCANSVC },
	{ "output", required_argument, NULL, 'o' },
	{ "directory", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("cvdtool: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see cvdtool --help)\n", stderr);
	return 2;
}

static bool
parse_uint(const char *s, unsigned *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 429496729ULL)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > 0xffffffffULL)
		return false;
	*out = (unsigned)v;
	return true;
}

static int
cvdtool_opt(struct cvdtool *c, int ch, const char *arg)
{
	switch (ch) {
	case OPT_TRUSTED_KEY:
		if (c->nkeys == CVDTOOL_MAX_KEYS)
			return usage_error("too many --trusted-key options%s", "");
		c->keys[c->nkeys++] = arg;
		return 0;
	case OPT_CERT:
		if (c->ncerts == CVDTOOL_MAX_CERTS)
			return usage_error("too many --cert options%s", "");
		c->certs[c->ncerts++] = arg;
		return 0;
	case OPT_CERTS_DIR: c->certs_dir = arg; return 0;
	case OPT_SIGN: c->sign_path = arg; return 0;
	case OPT_NO_SIGN: c->no_sign = true; return 0;
	case OPT_ALLOW_UNSIGNED: c->allow_unsigned = true; return 0;
	case OPT_JSON: c->json = true; return 0;
	case OPT_FROM: c->from = arg; return 0;
	case OPT_KEY: c->key = arg; return 0;
	case OPT_BUILDER: c->builder = arg; return 0;
	case OPT_UNSIGNED: c->unsigned_cud = true; return 0;
	case OPT_LOAD: c->load = true; return 0;
	case OPT_SCANSVC: c->scansvc = arg; return 0;
	case OPT_ENGINE:
		if (strcmp(arg, "clamav") != 0 && strcmp(arg, "builtin") != 0)
			return usage_error("--engine %s: clamav or builtin", arg);
		c->engine = arg;
		return 0;
	case 'o': c->out = arg; return 0;
	case 'C': c->dir = arg; return 0;
	case OPT_VERSION:
		return parse_uint(arg, &c->version) ? 0 :
		    usage_error("--version %s: not a number", arg);
	case OPT_FLEVEL:
		return parse_uint(arg, &c->flevel) ? 0 :
		    usage_error("--flevel %s: not a number", arg);
	case OPT_BITS:
		return parse_uint(arg, &c->bits) ? 0 :
		    usage_error("--bits %s: not a number", arg);
	case 'h':
		fputs(cvdtool_usage, stdout);
		exit(0);
	default:
		return 2;
	}
}

/* Trust store and verification options from the command line. */
static int
cvdtool_trust(struct cvdtool *c)
{
	char err[CVD_ERRMSG_MAX];

	if (cvd_trust_new(0, &c->trust) != 0) {
		fputs("ERROR: out of memory\n", stderr);
		return 1;
	}
	for (size_t i = 0; i < c->nkeys; i++)
		if (cvd_trust_add_key_file(c->trust, c->keys[i], err, sizeof(err))) {
			fprintf(stderr, "ERROR: %s\n", err);
			return 1;
		}
	if (c->certs_dir &&
	    cvd_trust_set_certs_dir(c->trust, c->certs_dir, err, sizeof(err))) {
		fprintf(stderr, "ERROR: %s\n", err);
		return 1;
	}
	c->vo.trust = c->trust;
	c->vo.sign_path = c->sign_path;
	c->vo.no_sign = c->no_sign;
	c->vo.allow_unsigned = c->allow_unsigned;
	return 0;
}

/* ---- info -------------------------------------------------------------- */

static void
print_header(const char *path, const struct cvd_header *h)
{
	char when[CVD_TIME_MAX];

	cvd_header_display_time(h, when, sizeof(when));
	printf("File: %s\n", path);
	printf("Build time: %s\n", when);
	printf("Version: %u\n", h->version);
	printf("Signatures: %u\n", h->sigs);
	printf("Functionality level: %u\n", h->flevel);
	printf("Builder: %s\n", h->builder);
	/* as sigtool: an unsigned container shows neither */
	if (h->kind == CVD_KIND_CVD) {
		printf("MD5: %s\n", h->md5);
		printf("Digital signature: %s\n", h->dsig);
	}
}

static int
cmd_info(struct cvdtool *c, int argc, char **argv)
{
	struct cvd_result r;
	int rc;

	if (argc != 1)
		return usage_error("info takes one FILE%s", "");
	if (cvdtool_trust(c) != 0)
		return 1;
	/* like sigtool: unsigned containers are shown, marked as such */
	c->vo.allow_unsigned = true;
	rc = cvd_verify_file(argv[0], &c->vo, &r);
	if (c->json) {
		cvd_result_print_json(stdout, argv[0], &r);
		putchar('\n');
	} else {
		if (r.header_ok)
			print_header(argv[0], &r.header);
		if (rc == 0 && r.signer == CVD_SIGNER_NONE)
			puts("Verification: Unsigned container");
		else if (rc == 0)
			puts("Verification OK.");
		fflush(stdout);
		if (rc != 0)
			fprintf(stderr, "ERROR: %s\n", r.message);
	}
	cvd_result_free(&r);
	return rc == 0 ? 0 : 1;
}

/* ---- verify ------------------------------------------------------------ */

static void
print_verdict(const char *path, const struct cvd_result *r)
{
	uint64_t sigs = 0, notl = 0;

	if (r->status != 0) {
		printf("%s: FAILED (%s): %s\n", path, cvd_error_id(r->status),
		    r->message);
		return;
	}
	for (size_t i = 0; i < r->ntypes; i++) {
		sigs += r->types[i].sigs;
		if (!r->types[i].loaded)
			notl += r->types[i].sigs;
		else
			notl += r->types[i].not_loaded;
	}
	printf("%s: OK: version %u, %zu members, %llu signatures (%llu not loadable by the engine), ",
	    path, r->header.version, r->nmembers, (unsigned long long)sigs,
	    (unsigned long long)notl);
	switch (r->signer) {
	case CVD_SIGNER_OFFICIAL:
		printf("signed with the official ClamAV keys%s\n",
		    r->has_sign_file && !r->sign_checked ?
		    " (its .sign not checked: no --certs-dir)" : "");
		break;
	case CVD_SIGNER_KEY: printf("signed with trusted key %s\n", r->signer_name); break;
	case CVD_SIGNER_CERT: printf("signed by certificate %s (%s)\n", r->signer_name, r->sign_path); break;
	case CVD_SIGNER_NONE: default: puts("unsigned (allowed)"); break;
	}
}

/* A verified file's .sign, to stage beside it (none with --no-sign). */
static const char *
verify_sign_file(const struct cvdtool *c, const struct cvd_result *r)
{
	return !c->no_sign && r->has_sign_file ? r->sign_path : NULL;
}

/* --load: the files that verified, as one set; or why it is not run. */
static void
verify_load(struct cvdtool *c, char **files, const struct cvd_result *rs,
    int n, int failed, struct load_result *lr)
{
	struct load_opts o = { .engine = c->engine ? c->engine : "clamav",
	    .scansvc = c->scansvc, .keys = c->keys, .nkeys = c->nkeys,
	    .certs_dir = c->certs_dir, .allow_unsigned = c->allow_unsigned };
	struct load_file *lf;

	memset(lr, 0, sizeof(*lr));
	lr->engine = o.engine;
	if (failed) {
		snprintf(lr->reason, sizeof(lr->reason),
		    "%d of %d files failed verification", failed, n);
		return;
	}
	if ((lf = calloc((size_t)n, sizeof(*lf))) == NULL) {
		lr->status = LOAD_ERROR;
		snprintf(lr->reason, sizeof(lr->reason), "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		lf[i].path = files[i];
		lf[i].sign = verify_sign_file(c, &rs[i]);
	}
	(void)load_run(&o, lf, (size_t)n, lr);
	free(lf);
}

static void
verify_print_json(const char *path, const struct cvd_result *r,
    const struct load_result *lr)
{
	struct jsonw w;

	jsonw_init(&w, jsonw_put_file, stdout);
	jsonw_obj_begin(&w);
	cvd_result_json_members(&w, path, r);
	if (lr != NULL)
		load_json(&w, lr);
	jsonw_obj_end(&w);
	putchar('\n');
}

static int
cmd_verify(struct cvdtool *c, int argc, char **argv)
{
	struct cvd_result *rs;
	struct load_result lr;
	int failed = 0;

	if (argc < 1)
		return usage_error("verify takes one or more FILEs%s", "");
	if (cvdtool_trust(c) != 0)
		return 1;
	if ((rs = calloc((size_t)argc, sizeof(*rs))) == NULL) {
		fputs("ERROR: out of memory\n", stderr);
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		if (cvd_verify_file(argv[i], &c->vo, &rs[i]) != 0)
			failed++;
		if (c->json && !c->load)
			verify_print_json(argv[i], &rs[i], NULL);
		else if (!c->json)
			print_verdict(argv[i], &rs[i]);
	}
	if (c->load) {
		fflush(stdout);
		verify_load(c, argv, rs, argc, failed, &lr);
		for (int i = 0; c->json && i < argc; i++)
			verify_print_json(argv[i], &rs[i], &lr);
		if (!c->json)
			load_print(stdout, &lr);
		if (lr.status != LOAD_OK && !failed)
			failed++;
	}
	for (int i = 0; i < argc; i++)
		cvd_result_free(&rs[i]);
	free(rs);
	return failed ? 1 : 0;
}

static int
cmd_unpack(struct cvdtool *c, int argc, char **argv)
{
	struct cvd_result r;
	int rc;

	if (argc != 1)
		return usage_error("unpack takes one FILE%s", "");
	if (cvdtool_trust(c) != 0)
		return 1;
	rc = cvd_unpack_file(argv[0], c->dir ? c->dir : ".", &c->vo, &r);
	if (rc != 0)
		fprintf(stderr, "ERROR: %s: %s\n", argv[0], r.message);
	else
		printf("%s: unpacked %zu members into %s\n", argv[0], r.nmembers,
		    c->dir ? c->dir : ".");
	cvd_result_free(&r);
	return rc == 0 ? 0 : 1;
}

/* ---- list-sigs ----------------------------------------------------------- */

/* Signature names are collected while streaming, printed once verified. */
struct names {
	int field;             /* 0: not a named type; else the field number */
	char line[CVDTOOL_NAMES_LINE_MAX];
	size_t len;
	bool overflow;
	char *out;
	size_t out_len, out_cap;
};

static int
names_field(const char *member)
{
	static const char *const third[] = { "hdb", "hdu", "hsb", "hsu", "mdb",
	    "mdu", "msb", "msu", NULL };
	static const char *const first[] = { "ndb", "ndu", "ldb", "ldu", "idb",
	    "cdb", NULL };
	const char *dot = strrchr(member, '.');

	if (dot == NULL)
		return 0;
	for (int i = 0; third[i]; i++)
		if (strcmp(dot + 1, third[i]) == 0)
			return 3;
	for (int i = 0; first[i]; i++)
		if (strcmp(dot + 1, first[i]) == 0)
			return 1;
	return 0;
}

static int
names_emit(struct names *n)
{
	const char *p = n->line, *end = n->line + n->len, *s;
	int field = 1;

	if (n->len == 0 || n->line[0] == '#' || n->overflow)
		return 0;
	while (field < n->field && p < end) {
		if (*p++ == ':')
			field++;
	}
	for (s = p; s < end && *s != ':' && *s != ';' && *s != '\r'; s++)
		;
	if (s == p)
		return 0;
	if (n->out_len + (size_t)(s - p) + 2 > n->out_cap) {
		size_t cap = (n->out_cap + (size_t)(s - p) + 2) * 2;
		char *o = realloc(n->out, cap);

		if (o == NULL)
			return -1;
		n->out = o;
		n->out_cap = cap;
	}
	memcpy(n->out + n->out_len, p, (size_t)(s - p));
	n->out_len += (size_t)(s - p);
	n->out[n->out_len++] = '\n';
	return 0;
}

static int
names_begin(void *arg, const char *name, uint64_t size)
{
	struct names *n = arg;

	(void)size;
	n->field = names_field(name);
	n->len = 0;
	n->overflow = false;
	return 0;
}

static int
names_data(void *arg, const uint8_t *p, size_t len)
{
	struct names *n = arg;

	if (n->field == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n') {
			if (names_emit(n) != 0)
				return -1;
			n->len = 0;
			n->overflow = false;
		} else if (n->len < sizeof(n->line)) {
			n->line[n->len++] = (char)p[i];
		} else {
			n->overflow = true;
		}
	}
	return 0;
}

static int
names_end(void *arg)
{
	struct names *n = arg;

	return n->field ? names_emit(n) : 0;
}

static int
cmd_list_sigs(struct cvdtool *c, int argc, char **argv)
{
	struct names *n;
	struct cvd_sink sink = { NULL, names_begin, names_data, names_end, NULL };
	struct cvd_result r;
	int rc;

	if (argc != 1)
		return usage_error("list-sigs takes one FILE%s", "");
	if (cvdtool_trust(c) != 0)
		return 1;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return 1;
	sink.arg = n;
	c->vo.sink = &sink;
	rc = cvd_verify_file(argv[0], &c->vo, &r);
	if (rc != 0)
		fprintf(stderr, "ERROR: %s: %s\n", argv[0], r.message);
	else if (n->out_len > 0)
		fwrite(n->out, 1, n->out_len, stdout);
	cvd_result_free(&r);
	free(n->out);
	free(n);
	return rc == 0 ? 0 : 1;
}

/* ---- build, sign, keygen -------------------------------------------------- */

static int
cmd_build(struct cvdtool *c, int argc, char **argv)
{
	struct cvd_build_opts o = { 0 };
	char name[128], err[CVD_ERRMSG_MAX];
	const char *base, *dot;

	if (argc != 1 || c->from == NULL)
		return usage_error("build takes OUT.cvd and --from DIR%s", "");
	if (!c->unsigned_cud && c->key == NULL)
		return usage_error("build needs --key KEY.pem, or --unsigned%s", "");
	base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	dot = strrchr(base, '.');
	if (dot == NULL || (size_t)(dot - base) >= sizeof(name) ||
	    strcmp(dot, c->unsigned_cud ? ".cud" : ".cvd") != 0)
		return usage_error("build: the output must be named NAME%s",
		    c->unsigned_cud ? ".cud (unsigned)" : ".cvd");
	memcpy(name, base, (size_t)(dot - base));
	name[dot - base] = '\0';
	o.name = name;
	o.version = c->version ? c->version : 1;
	o.flevel = c->flevel;
	o.builder = c->builder;
	o.key_path = c->key;
	o.unsigned_cud = c->unsigned_cud;
	if (cvd_build(c->from, argv[0], &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "ERROR: build %s: %s\n", argv[0], err);
		return 1;
	}
	printf("%s: built, version %u%s\n", argv[0], o.version,
	    c->unsigned_cud ? ", unsigned" : "");
	return 0;
}

static int
cmd_sign(struct cvdtool *c, int argc, char **argv)
{
	char out[4096], err[CVD_ERRMSG_MAX];

	if (argc != 1 || c->key == NULL || c->ncerts == 0)
		return usage_error("sign takes FILE, --key KEY.pem and --cert CERT.pem%s", "");
	snprintf(out, sizeof(out), "%s.sign", argv[0]);
	if (cvd_sign_file(argv[0], c->key, c->certs, c->ncerts,
	    c->out ? c->out : out, err, sizeof(err)) != 0) {
		fprintf(stderr, "ERROR: sign %s: %s\n", argv[0], err);
		return 1;
	}
	printf("%s: signature written to %s\n", argv[0], c->out ? c->out : out);
	return 0;
}

static int
cmd_keygen(struct cvdtool *c, int argc, char **argv)
{
	char err[CVD_ERRMSG_MAX];

	if (argc != 2)
		return usage_error("keygen takes PRIVATE.pem PUBLIC.pem%s", "");
	if (cvd_keygen(c->bits ? c->bits : 2048, argv[0], argv[1], err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ERROR: keygen: %s\n", err);
		return 1;
	}
	printf("private key: %s (keep it secret)\npublic key: %s (give it to TrustedKeys / --trusted-key)\n",
	    argv[0], argv[1]);
	return 0;
}

/* ---- cdiff: verify, apply ------------------------------------------------- */

static void
print_cdiff_signer(const struct cvd_cdiff *cd)
{
	switch (cvd_cdiff_signer(cd)) {
	case CVD_SIGNER_OFFICIAL: puts("Signer: the official ClamAV cdiff key"); break;
	case CVD_SIGNER_KEY: printf("Signer: trusted key %s\n", cvd_cdiff_signer_name(cd)); break;
	case CVD_SIGNER_CERT: printf("Signer: certificate %s\n", cvd_cdiff_signer_name(cd)); break;
	case CVD_SIGNER_NONE: default: puts("Signer: none"); break;
	}
}

static int
cmd_cdiff_verify(struct cvdtool *c, int argc, char **argv)
{
	struct cvd_cdiff *cd;
	char err[CVD_ERRMSG_MAX];

	if (argc != 1)
		return usage_error("cdiff verify takes one FILE.cdiff%s", "");
	if (cvdtool_trust(c) != 0)
		return 1;
	if (cvd_cdiff_open(argv[0], c->sign_path, c->trust, &cd, err,
	    sizeof(err)) != 0) {
		fflush(stdout);
		fprintf(stderr, "ERROR: %s\n", err);
		return 1;
	}
	printf("File: %s\n", argv[0]);
	printf("Version: %u\n", cvd_cdiff_version(cd));
	printf("Database: %s\n", cvd_cdiff_dbname(cd));
	print_cdiff_signer(cd);
	puts("Verification OK.");
	cvd_cdiff_free(cd);
	return 0;
}

/* Remove a flat directory of files (what unpacking leaves). */
static void
rm_flat_dir(const char *dir)
{
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

/* The database name of a verified container: its NAME.info member. */
static bool
result_dbname(const struct cvd_result *r, char *out, size_t outlen)
{
	for (size_t i = 0; i < r->nmembers; i++) {
		const char *n = r->members[i].name;
		size_t len = strlen(n);

		if (len > 5 && strcmp(n + len - 5, ".info") == 0 && len - 5 < outlen) {
			memcpy(out, n, len - 5);
			out[len - 5] = '\0';
			return true;
		}
	}
	return false;
}

struct cdiff_apply {
	const char *cdiff, *base, *out;
	char tmp[4096], members[4096], cld[4096];
	struct cvd_cdiff *cd;
	unsigned version;
	size_t nmembers;
};

/* Verify and unpack BASE; it must be version V-1 of the same database. */
static int
cdiff_apply_base(struct cvdtool *c, struct cdiff_apply *a)
{
	struct cvd_verify_opts vo = c->vo;
	char name[CVD_CDIFF_DBNAME_MAX + 1];
	struct cvd_result r;
	int rc = 1;

	vo.sign_path = CVD_SIGN_AUTO;    /* --sign names the .cdiff's */
	if (cvd_unpack_file(a->base, a->members, &vo, &r) != 0)
		fprintf(stderr, "ERROR: %s: %s\n", a->base, r.message);
	else if (r.header.version != a->version - 1)
		fprintf(stderr, "ERROR: %s is version %u; %s (version %u) applies to version %u\n",
		    a->base, r.header.version, a->cdiff, a->version, a->version - 1);
	else if (!result_dbname(&r, name, sizeof(name)) ||
	    strcmp(name, cvd_cdiff_dbname(a->cd)) != 0)
		fprintf(stderr, "ERROR: %s is not database '%s', which %s updates\n",
		    a->base, cvd_cdiff_dbname(a->cd), a->cdiff);
	else
		rc = 0;
	cvd_result_free(&r);
	return rc;
}

/* Apply, build the .cld beside the output, verify it, move it (durably). */
static int
cdiff_apply_run(struct cvdtool *c, struct cdiff_apply *a)
{
	struct cvd_verify_opts vo = c->vo;
	char err[CVD_ERRMSG_MAX];
	struct cvd_result r;
	int rc = 1;

	if (cvd_cdiff_apply(a->cd, a->members, err, sizeof(err)) != 0) {
		fprintf(stderr, "ERROR: %s\n", err);
		return 1;
	}
	if (cvd_build_cld(a->members, cvd_cdiff_dbname(a->cd), a->cld, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ERROR: %s: %s\n", a->out, err);
		return 1;
	}
	vo.sign_path = NULL;
	vo.no_sign = true;
	if (cvd_verify_file(a->cld, &vo, &r) != 0)
		fprintf(stderr, "ERROR: the result does not verify: %s\n", r.message);
	else if (r.header.version != a->version)
		fprintf(stderr, "ERROR: the result is version %u, not %u\n",
		    r.header.version, a->version);
	else if (statefile_move(a->cld, a->out, err, sizeof(err)) != 0)
		fprintf(stderr, "ERROR: %s\n", err);
	else
		rc = 0;
	a->nmembers = r.nmembers;
	cvd_result_free(&r);
	return rc;
}

static int
cmd_cdiff_apply(struct cvdtool *c, int argc, char **argv)
{
	struct cdiff_apply a = { 0 };
	char err[CVD_ERRMSG_MAX];
	const char *slash;
	size_t olen;
	int rc = 1;

	if (argc != 2 || c->out == NULL)
		return usage_error("cdiff apply takes FILE.cdiff BASE.cvd|BASE.cld and -o OUT.cld%s", "");
	olen = strlen(c->out);
	if (olen < 4 || strcmp(c->out + olen - 4, ".cld") != 0)
		return usage_error("cdiff apply: the output must be named NAME.cld%s", "");
	a.cdiff = argv[0];
	a.base = argv[1];
	a.out = c->out;
	if (cvdtool_trust(c) != 0)
		return 1;
	if (cvd_cdiff_open(a.cdiff, c->sign_path, c->trust, &a.cd, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "ERROR: %s\n", err);
		return 1;
	}
	a.version = cvd_cdiff_version(a.cd);
	/* work beside the output: same file system for the final rename */
	slash = strrchr(a.out, '/');
	if (olen + 64 > sizeof(a.tmp)) {
		fprintf(stderr, "ERROR: %s: path too long\n", a.out);
		cvd_cdiff_free(a.cd);
		return 1;
	}
	snprintf(a.tmp, sizeof(a.tmp), "%.*s.cvdtool-cdiff.XXXXXX",
	    slash ? (int)(slash - a.out + 1) : 0, a.out);
	if (mkdtemp(a.tmp) == NULL) {
		fprintf(stderr, "ERROR: %s: %s\n", a.tmp, strerror(errno));
		cvd_cdiff_free(a.cd);
		return 1;
	}
	if ((size_t)snprintf(a.members, sizeof(a.members), "%s/members",
	    a.tmp) >= sizeof(a.members) ||
	    (size_t)snprintf(a.cld, sizeof(a.cld), "%s/%s.cld", a.tmp,
	    cvd_cdiff_dbname(a.cd)) >= sizeof(a.cld))
		fprintf(stderr, "ERROR: %s: path too long\n", a.tmp);
	else if (mkdir(a.members, 0700) != 0)
		fprintf(stderr, "ERROR: %s: %s\n", a.members, strerror(errno));
	else if (cdiff_apply_base(c, &a) == 0)
		rc = cdiff_apply_run(c, &a);
	if (rc == 0)
		printf("%s: version %u of %s, %zu members (%s + %s)\n", a.out,
		    a.version, cvd_cdiff_dbname(a.cd), a.nmembers, a.base, a.cdiff);
	rm_flat_dir(a.members);
	unlink(a.cld);
	rmdir(a.tmp);
	cvd_cdiff_free(a.cd);
	return rc;
}

static int
cmd_cdiff(struct cvdtool *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "verify") == 0)
		return cmd_cdiff_verify(c, argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "apply") == 0)
		return cmd_cdiff_apply(c, argc - 1, argv + 1);
	return usage_error("cdiff takes verify or apply%s", "");
}

static const struct {
	const char *name;
	int (*fn)(struct cvdtool *, int, char **);
} cvdtool_cmds[] = {
	{ "info", cmd_info }, { "verify", cmd_verify }, { "unpack", cmd_unpack },
	{ "list-sigs", cmd_list_sigs }, { "build", cmd_build },
	{ "sign", cmd_sign }, { "keygen", cmd_keygen }, { "cdiff", cmd_cdiff },
};

int
main(int argc, char **argv)
{
	struct cvdtool c = { 0 };
	int ch, rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(cvdtool_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(cvdtool_cmds) / sizeof(cvdtool_cmds[0]); i++) {
		if (strcmp(argv[1], cvdtool_cmds[i].name) != 0)
			continue;
		optind = 2;
		while ((ch = getopt_long(argc, argv, "o:C:h", cvdtool_opts, NULL)) != -1)
			if ((rc = cvdtool_opt(&c, ch, optarg)) != 0)
				return rc;
		if (cvdtool_cmds[i].fn != cmd_verify && (c.load || c.engine || c.scansvc))
			return usage_error("--load, --engine and --scansvc are for verify%s", "");
		if (!c.load && (c.engine || c.scansvc))
			return usage_error("--engine and --scansvc need --load%s", "");
		rc = cvdtool_cmds[i].fn(&c, argc - optind, argv + optind);
		cvd_trust_free(c.trust);
		return rc;
	}
	return usage_error("unknown command '%s'", argv[1]);
}
