/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test helpers (see testutil.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "ampscan/cvd.h"
#include "dsig.h"
#include "testutil.h"

static void
tu_die(const char *what)
{
	fprintf(stderr, "testutil: %s: %s\n", what, strerror(errno));
	abort();
}

char *
tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *p;

	if (asprintf(&p, "%s/ampscan-test.XXXXXX", base) < 0 || mkdtemp(p) == NULL)
		tu_die("mkdtemp");
	return p;
}

static int
tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
tu_rmtree(const char *dir)
{
	if (dir != NULL)
		nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
tu_path(const char *dir, const char *name)
{
	static char bufs[4][4096];
	static int slot;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

void
tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		tu_die(path);
}

void
tu_write_str(const char *path, const char *s)
{
	tu_write(path, s, strlen(s));
}

uint8_t *
tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		tu_die(path);
	do {
		if (n + 65536 + 1 > cap) {
			cap = (n + 65536 + 1) * 2;
			if ((buf = realloc(buf, cap)) == NULL)
				tu_die("realloc");
		}
		r = fread(buf + n, 1, 65536, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = 0;
	if (len != NULL)
		*len = n;
	return buf;
}

bool
tu_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

const char *
tu_real(const char *rel)
{
	static char bufs[4][4096];
	static int slot;
	const char *base = getenv("AMPSCAN_SHARED_DIR") ?
	    getenv("AMPSCAN_SHARED_DIR") : AMPSCAN_SHARED_DIR;
	char *b = bufs[slot++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/testdata/real-cvd/%s", base, rel);
	return tu_exists(b) ? b : NULL;
}

EVP_PKEY *
tu_key(void)
{
	static EVP_PKEY *key;

	if (key == NULL && (key = EVP_RSA_gen(2048)) == NULL)
		tu_die("EVP_RSA_gen");
	return key;
}

void
tu_key_files(const char *dir, const char **priv, const char **pub)
{
	static char p1[4096], p2[4096];
	FILE *f;

	snprintf(p1, sizeof(p1), "%s/test.key", dir);
	snprintf(p2, sizeof(p2), "%s/test.pub", dir);
	if ((f = fopen(p1, "w")) == NULL ||
	    !PEM_write_PrivateKey(f, tu_key(), NULL, NULL, 0, NULL, NULL))
		tu_die(p1);
	fclose(f);
	if ((f = fopen(p2, "w")) == NULL || !PEM_write_PUBKEY(f, tu_key()))
		tu_die(p2);
	fclose(f);
	*priv = p1;
	*pub = p2;
}

/* ---- crafting ---- */

static const char tu_hdb[] =
    "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
    "# a comment\n"
    "aa15bcf478d165efd2065190eb473bcb:544:Test.File-1\n";
static const char tu_ndb[] =
    "Test.Body-1:0:*:414d5053434e2d54455354??00{2-4}ff\n"
    "Test.Body-2:0:EOF-10:6578616d706c65\n";

const struct tu_member tu_default_members[] = {
	{ .name = "COPYING", .data = "test data\n", .len = 10 },
	{ .name = "test.info" },
	{ .name = "test.hdb", .data = tu_hdb, .len = sizeof(tu_hdb) - 1 },
	{ .name = "test.ndb", .data = tu_ndb, .len = sizeof(tu_ndb) - 1 },
};
const size_t tu_default_nmembers = 4;

struct tu_buf {
	uint8_t *p;
	size_t len, cap;
};

static void
tu_buf_add(struct tu_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 1024;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			tu_die("realloc");
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
tu_tar_header(struct tu_buf *tar, const struct tu_member *m, size_t len)
{
	uint8_t h[512] = { 0 };
	unsigned sum = 0;

	memcpy(h, m->name, strlen(m->name) > 100 ? 100 : strlen(m->name));
	snprintf((char *)h + 100, 8, "%07o", 0);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)len);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (uint8_t)(m->type ? m->type : '0');
	if (m->linkname)
		memcpy(h + 157, m->linkname, strlen(m->linkname));
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	if (m->bad_checksum)
		sum++;
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	tu_buf_add(tar, h, 512);
}

static void
tu_tar_member(struct tu_buf *tar, const struct tu_member *m, const void *data,
    size_t len)
{
	static const uint8_t zero[512];

	tu_tar_header(tar, m, len);
	tu_buf_add(tar, data, len);
	if (len % 512)
		tu_buf_add(tar, zero, 512 - len % 512);
}

static const char *
tu_time(void)
{
	return "23 Nov 2026 10-00 +0000";
}

static void
tu_make_info(const struct tu_craft *c, struct tu_buf *info, unsigned version,
    unsigned sigs)
{
	char line[1024], hex[65];
	uint8_t d[32];

	snprintf(line, sizeof(line), "ClamAV-VDB:%s:%u:%u:81:X:X:tester:1795000000\n",
	    tu_time(), version, sigs);
	tu_buf_add(info, line, strlen(line));
	for (size_t i = 0; i < c->n; i++) {
		const struct tu_member *m = &c->members[i];
		size_t nl = strlen(m->name);

		if (strcmp(m->name, "COPYING") == 0 ||
		    (nl > 5 && strcmp(m->name + nl - 5, ".info") == 0) ||
		    (c->info_drop && strcmp(m->name, c->info_drop) == 0) ||
		    (m->type && m->type != '0'))
			continue;
		SHA256(m->data ? m->data : (const void *)"", m->len, d);
		for (int j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		snprintf(line, sizeof(line), "%s:%zu:%s\n", m->name, m->len, hex);
		tu_buf_add(info, line, strlen(line));
	}
	if (c->info_extra)
		tu_buf_add(info, c->info_extra, strlen(c->info_extra));
	if (c->key != NULL && !c->info_unsigned) {
		char sig[CVD_DSIG_MAX + 1];

		SHA256(info->p, info->len, d);
		if (!dsig_pss_sign(c->key, d, sig, sizeof(sig)))
			tu_die("pss sign");
		snprintf(line, sizeof(line), "DSIG:%s\n", sig);
		tu_buf_add(info, line, strlen(line));
	}
}

static void
tu_gzip(const struct tu_buf *in, struct tu_buf *out)
{
	uLongf cap = compressBound(in->len) + 64;
	z_stream z = { 0 };

	out->p = malloc(cap);
	if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		tu_die("deflateInit2");
	z.next_in = in->p;
	z.avail_in = (uInt)in->len;
	z.next_out = out->p;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		tu_die("deflate");
	out->len = z.total_out;
	deflateEnd(&z);
}

void
tu_craft_write(const char *path, const struct tu_craft *c)
{
	const struct tu_member *ms = c->members ? c->members : tu_default_members;
	struct tu_craft cc = *c;
	struct tu_buf tar = { 0 }, info = { 0 }, gz = { 0 }, *payload;
	unsigned version = c->version ? c->version : 7;
	uint8_t header[512], md5[16];
	char md5hex[33] = "X", dsig[CVD_DSIG_MAX + 1] = "X";
	unsigned int dl = 16;
	int n;

	cc.members = ms;
	cc.n = c->members ? c->n : tu_default_nmembers;
	if (c->info)
		tu_buf_add(&info, c->info, strlen(c->info));
	else
		tu_make_info(&cc, &info, version, 3);
	for (size_t i = 0; i < cc.n; i++) {
		size_t nl = strlen(ms[i].name);
		bool is_info = nl > 5 && strcmp(ms[i].name + nl - 5, ".info") == 0 &&
		    ms[i].data == NULL;

		if (is_info)
			tu_tar_member(&tar, &ms[i], info.p, info.len);
		else
			tu_tar_member(&tar, &ms[i], ms[i].data, ms[i].len);
	}
	if (c->end_marker) {
		static const uint8_t zero[1024];

		tu_buf_add(&tar, zero, sizeof(zero));
	}
	if (c->plain_tar) {
		payload = &tar;
	} else {
		tu_gzip(&tar, &gz);
		payload = &gz;
	}
	if (!c->md5_x) {
		EVP_Digest(payload->p, payload->len, md5, &dl, EVP_md5(), NULL);
		for (int i = 0; i < 16; i++)
			snprintf(md5hex + 2 * i, 3, "%02x", md5[i]);
		if (c->key && !dsig_legacy_sign(c->key, md5, dsig, sizeof(dsig)))
			tu_die("legacy sign");
	}
	memset(header, ' ', sizeof(header));
	if (c->header)
		n = snprintf((char *)header, sizeof(header), "%s", c->header);
	else
		n = snprintf((char *)header, sizeof(header),
		    "ClamAV-VDB:%s:%u:3:81:%s:%s:tester:1795000000", tu_time(),
		    version, md5hex, dsig);
	if (n < 0 || n >= (int)sizeof(header))
		tu_die("header too long");
	header[n] = ' ';
	{
		FILE *f = fopen(path, "wb");

		if (f == NULL || fwrite(header, 1, 512, f) != 512 ||
		    fwrite(payload->p, 1, payload->len, f) != payload->len ||
		    fclose(f) != 0)
			tu_die(path);
	}
	free(tar.p);
	free(info.p);
	free(gz.p);
}

int
tu_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- lower-level crafting ---- */

uint8_t *
tu_craft_tar(const struct tu_craft *c, size_t *len)
{
	const struct tu_member *ms = c->members ? c->members : tu_default_members;
	struct tu_craft cc = *c;
	struct tu_buf tar = { 0 }, info = { 0 };

	cc.members = ms;
	cc.n = c->members ? c->n : tu_default_nmembers;
	if (c->info)
		tu_buf_add(&info, c->info, strlen(c->info));
	else
		tu_make_info(&cc, &info, c->version ? c->version : 7, 3);
	for (size_t i = 0; i < cc.n; i++) {
		size_t nl = strlen(ms[i].name);
		bool is_info = nl > 5 && strcmp(ms[i].name + nl - 5, ".info") == 0 &&
		    ms[i].data == NULL;

		if (is_info)
			tu_tar_member(&tar, &ms[i], info.p, info.len);
		else
			tu_tar_member(&tar, &ms[i], ms[i].data, ms[i].len);
	}
	if (c->end_marker) {
		static const uint8_t zero[1024];

		tu_buf_add(&tar, zero, sizeof(zero));
	}
	free(info.p);
	*len = tar.len;
	return tar.p ? tar.p : calloc(1, 1);
}

uint8_t *
tu_tar(const struct tu_member *ms, size_t n, bool end_marker, size_t *len)
{
	static const uint8_t zero[1024];
	struct tu_buf tar = { 0 };

	for (size_t i = 0; i < n; i++)
		tu_tar_member(&tar, &ms[i], ms[i].data, ms[i].len);
	if (end_marker)
		tu_buf_add(&tar, zero, sizeof(zero));
	*len = tar.len;
	return tar.p ? tar.p : calloc(1, 1);
}

void
tu_tar_checksum(uint8_t *hdr)
{
	unsigned sum = 0;

	memset(hdr + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += hdr[i];
	snprintf((char *)hdr + 148, 8, "%06o", sum);
	hdr[155] = ' ';
}

uint8_t *
tu_gzip_buf(const void *p, size_t n, size_t *outlen)
{
	struct tu_buf in = { (uint8_t *)(uintptr_t)p, n, n }, out = { 0 };

	tu_gzip(&in, &out);
	*outlen = out.len;
	return out.p;
}

void
tu_write_container(const char *path, const struct tu_craft *c,
    const uint8_t *payload, size_t len)
{
	unsigned version = c->version ? c->version : 7;
	uint8_t header[512], md5[16];
	char md5hex[33] = "X", dsig[CVD_DSIG_MAX + 1] = "X";
	unsigned int dl = 16;
	FILE *f;
	int n;

	if (!c->md5_x) {
		EVP_Digest(payload, len, md5, &dl, EVP_md5(), NULL);
		for (int i = 0; i < 16; i++)
			snprintf(md5hex + 2 * i, 3, "%02x", md5[i]);
		if (c->key && !dsig_legacy_sign(c->key, md5, dsig, sizeof(dsig)))
			tu_die("legacy sign");
	}
	memset(header, ' ', sizeof(header));
	if (c->header)
		n = snprintf((char *)header, sizeof(header), "%s", c->header);
	else
		n = snprintf((char *)header, sizeof(header),
		    "ClamAV-VDB:%s:%u:3:81:%s:%s:tester:1795000000", tu_time(),
		    version, md5hex, dsig);
	if (n < 0 || n >= (int)sizeof(header))
		tu_die("header too long");
	header[n] = ' ';
	if ((f = fopen(path, "wb")) == NULL || fwrite(header, 1, 512, f) != 512 ||
	    (len && fwrite(payload, 1, len, f) != len) || fclose(f) != 0)
		tu_die(path);
}

char *
tu_info_body(const struct tu_craft *c)
{
	struct tu_craft cc = *c;
	struct tu_buf info = { 0 };

	cc.members = c->members ? c->members : tu_default_members;
	cc.n = c->members ? c->n : tu_default_nmembers;
	cc.key = NULL;
	tu_make_info(&cc, &info, c->version ? c->version : 7, 3);
	tu_buf_add(&info, "", 1);
	return (char *)info.p;
}

char *
tu_info_sign(EVP_PKEY *key, const char *body)
{
	char sig[CVD_DSIG_MAX + 1], *out;
	uint8_t d[32];

	SHA256((const uint8_t *)body, strlen(body), d);
	if (!dsig_pss_sign(key, d, sig, sizeof(sig)))
		tu_die("pss sign");
	if (asprintf(&out, "%sDSIG:%s\n", body, sig) < 0)
		tu_die("asprintf");
	return out;
}

static struct tu_buf tu_snap_lines;
static size_t tu_snap_root;

static int
tu_snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[8192], what[4200] = "";

	(void)flag;
	if (ftw->level == 0)
		return 0;
	if (S_ISREG(st->st_mode)) {
		size_t len;
		uint8_t *p = tu_read(path, &len), d[32];

		SHA256(p, len, d);
		free(p);
		for (int i = 0; i < 32; i++)
			snprintf(what + 2 * i, 3, "%02x", d[i]);
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlink(path, what, sizeof(what) - 1);

		what[n > 0 ? n : 0] = '\0';
	}
	snprintf(line, sizeof(line), "%s %o %lld %s\n", path + tu_snap_root,
	    (unsigned)st->st_mode,
	    S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size, what);
	tu_buf_add(&tu_snap_lines, line, strlen(line) + 1);
	return 0;
}

static int
tu_snap_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
tu_snapshot(const char *dir)
{
	struct tu_buf out = { 0 };
	char **lines = NULL;
	size_t n = 0;

	memset(&tu_snap_lines, 0, sizeof(tu_snap_lines));
	tu_snap_root = strlen(dir);
	if (nftw(dir, tu_snap_one, 16, FTW_PHYS) != 0)
		tu_die(dir);
	for (size_t off = 0; off < tu_snap_lines.len;
	    off += strlen((char *)tu_snap_lines.p + off) + 1) {
		if ((lines = realloc(lines, (n + 1) * sizeof(*lines))) == NULL)
			tu_die("realloc");
		lines[n++] = (char *)tu_snap_lines.p + off;
	}
	if (n > 0)
		qsort(lines, n, sizeof(*lines), tu_snap_cmp);
	for (size_t i = 0; i < n; i++)
		tu_buf_add(&out, lines[i], strlen(lines[i]));
	tu_buf_add(&out, "", 1);
	free(lines);
	free(tu_snap_lines.p);
	memset(&tu_snap_lines, 0, sizeof(tu_snap_lines));
	return (char *)out.p;
}
