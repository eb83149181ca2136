/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The canaries: three small files made in memory around the engine's
 * secret marker, so that loading is proven by scanning, through the
 * parsers (zip, MIME, base 64) and the temporary files they use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

#define CANARY_BUF_MAX 4096
#define CANARY_MEMBER "canary.txt"

struct cbuf {
	uint8_t p[CANARY_BUF_MAX];
	size_t len;
	bool overflow;
};

static void
cb_put(struct cbuf *b, const void *p, size_t n)
{
	if (b->overflow || n > sizeof(b->p) - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
cb_str(struct cbuf *b, const char *s)
{
	cb_put(b, s, strlen(s));
}

static void
cb_le(struct cbuf *b, uint32_t v, unsigned bytes)
{
	uint8_t x[4];

	for (unsigned i = 0; i < bytes; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	cb_put(b, x, bytes);
}

/* CRC-32 (IEEE, reflected), bit by bit: a few hundred bytes, once. */
static uint32_t
canary_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

static void
canary_plain(const struct seng *e, struct cbuf *b)
{
	cb_str(b, "ampscan canary: this text proves the engine scans.\n");
	cb_str(b, e->marker);
	cb_str(b, "\nend of canary\n");
}

/* One member, stored (method 0): local header, data, central directory. */
static void
canary_zip(const struct seng *e, struct cbuf *b)
{
	struct cbuf d = { .len = 0 };
	uint32_t crc, name_len = (uint32_t)strlen(CANARY_MEMBER), cd_off;

	canary_plain(e, &d);
	crc = canary_crc32(d.p, d.len);
	cb_le(b, 0x04034b50u, 4);
	cb_le(b, 10, 2); cb_le(b, 0, 2); cb_le(b, 0, 2);     /* version, flags, stored */
	cb_le(b, 0, 2); cb_le(b, 0x21, 2);                  /* time, date 1980-01-01 */
	cb_le(b, crc, 4); cb_le(b, (uint32_t)d.len, 4); cb_le(b, (uint32_t)d.len, 4);
	cb_le(b, name_len, 2); cb_le(b, 0, 2);
	cb_str(b, CANARY_MEMBER);
	cb_put(b, d.p, d.len);
	cd_off = (uint32_t)b->len;
	cb_le(b, 0x02014b50u, 4);
	cb_le(b, 20, 2); cb_le(b, 10, 2); cb_le(b, 0, 2); cb_le(b, 0, 2);
	cb_le(b, 0, 2); cb_le(b, 0x21, 2);
	cb_le(b, crc, 4); cb_le(b, (uint32_t)d.len, 4); cb_le(b, (uint32_t)d.len, 4);
	cb_le(b, name_len, 2); cb_le(b, 0, 2); cb_le(b, 0, 2);  /* name, extra, comment */
	cb_le(b, 0, 2); cb_le(b, 0, 2); cb_le(b, 0, 4);         /* disk, attributes */
	cb_le(b, 0, 4);                                         /* local header at 0 */
	cb_str(b, CANARY_MEMBER);
	cb_le(b, 0x06054b50u, 4);
	cb_le(b, 0, 2); cb_le(b, 0, 2); cb_le(b, 1, 2); cb_le(b, 1, 2);
	cb_le(b, (uint32_t)b->len - cd_off, 4); cb_le(b, cd_off, 4); cb_le(b, 0, 2);
}

static void
canary_base64(struct cbuf *b, const uint8_t *p, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);
		char q[4] = { a[v >> 18 & 63], a[v >> 12 & 63],
		    i + 1 < n ? a[v >> 6 & 63] : '=', i + 2 < n ? a[v & 63] : '=' };

		cb_put(b, q, 4);
		if ((col += 4) == 76) {
			cb_str(b, "\r\n");
			col = 0;
		}
	}
	cb_str(b, "\r\n");
}

static void
canary_mail(const struct seng *e, struct cbuf *b)
{
	struct cbuf d = { .len = 0 };

	canary_plain(e, &d);
	cb_str(b, "From: ampscan <canary@localhost>\r\n"
	    "To: ampscan <canary@localhost>\r\n"
	    "Subject: canary\r\n"
	    "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"ampscan-canary-boundary\"\r\n"
	    "\r\n"
	    "--ampscan-canary-boundary\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "See the attachment.\r\n"
	    "--ampscan-canary-boundary\r\n"
	    "Content-Type: application/octet-stream; name=\"" CANARY_MEMBER "\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"" CANARY_MEMBER "\"\r\n"
	    "\r\n");
	canary_base64(b, d.p, d.len);
	cb_str(b, "--ampscan-canary-boundary--\r\n");
}

static const struct {
	const char *name;
	void (*make)(const struct seng *e, struct cbuf *b);
} canaries[SENG_CANARIES_ALL] = {
	{ "plain", canary_plain },
	{ "zip", canary_zip },
	{ "mail", canary_mail },
};

static bool
canary_found(const struct wproto_result *r)
{
	size_t len = strlen(SENG_CANARY_NAME);

	for (uint32_t i = 0; r->verdict == WPROTO_FOUND && i < r->nnames; i++)
		if (strncmp(r->names[i].sig, SENG_CANARY_NAME, len) == 0)
			return true;
	return false;
}

int
seng_canary_check(struct seng *e, unsigned n, char *err, size_t errlen)
{
	struct wproto_result *r = malloc(sizeof(*r));
	struct cbuf *b = malloc(sizeof(*b));
	int rc = -1;

	if (r == NULL || b == NULL) {
		snprintf(err, errlen, "canary: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n && i < SENG_CANARIES_ALL; i++) {
		b->len = 0;
		b->overflow = false;
		canaries[i].make(e, b);
		memset(r, 0, sizeof(*r));
		seng_scan_mem(e, b->p, b->len, canaries[i].name,
		    WPROTO_SCAN_ALLMATCH, r);
		if (b->overflow || !canary_found(r)) {
			snprintf(err, errlen, "the %s canary was not found (%s%s%s): the engine does not work",
			    canaries[i].name, r->verdict == WPROTO_ERROR ? "error: " :
			    r->verdict == WPROTO_FOUND ? "found other: " : "clean",
			    r->verdict == WPROTO_ERROR ? r->note : "",
			    r->verdict == WPROTO_FOUND ? r->names[0].sig : "");
			goto out;
		}
	}
	rc = 0;
out:
	free(r);
	free(b);
	return rc;
}
