/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The canaries: three small files made in memory around the engine's
 * secret marker, so that loading is proven by scanning, through the
 * parsers (zip, MIME, base 64) and the temporary files they use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "engine_int.h"

#define CANARY_BUF_MAX 4096
#define CANARY_MEMBER "canary.txt"

static void
cb_str(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* n little-endian 16-bit fields (the zip headers are made of them). */
static void
cb_le16s(struct buf *b, const uint16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_put_le16(b, v[i]);
}

static void
canary_plain(const struct seng *e, struct buf *b)
{
	cb_str(b, "ampscan canary: this text proves the engine scans.\n");
	cb_str(b, e->marker);
	cb_str(b, "\nend of canary\n");
}

/* One member, stored (method 0): local header, data, central directory. */
static void
canary_zip(const struct seng *e, struct buf *b)
{
	uint8_t mem[CANARY_BUF_MAX];
	struct buf d;
	uint32_t crc, size;
	uint16_t name_len = (uint16_t)strlen(CANARY_MEMBER);
	size_t cd_off;

	buf_init_fixed(&d, mem, sizeof(mem));
	canary_plain(e, &d);
	size = (uint32_t)buf_avail(&d);
	crc = (uint32_t)crc32(0L, buf_ptr(&d), size);
	buf_put_le32(b, 0x04034b50u);   /* version, flags, stored, time, 1980-01-01 */
	cb_le16s(b, (const uint16_t[]){ 10, 0, 0, 0, 0x21 }, 5);
	buf_put_le32(b, crc);
	buf_put_le32(b, size);
	buf_put_le32(b, size);
	cb_le16s(b, (const uint16_t[]){ name_len, 0 }, 2);
	cb_str(b, CANARY_MEMBER);
	buf_put(b, buf_ptr(&d), size);
	cd_off = buf_avail(b);
	buf_put_le32(b, 0x02014b50u);   /* made by, needed, flags, stored, time, date */
	cb_le16s(b, (const uint16_t[]){ 20, 10, 0, 0, 0, 0x21 }, 6);
	buf_put_le32(b, crc);
	buf_put_le32(b, size);
	buf_put_le32(b, size);
	/* name, extra, comment, disk, internal attributes */
	cb_le16s(b, (const uint16_t[]){ name_len, 0, 0, 0, 0 }, 5);
	buf_put_le32(b, 0);             /* external attributes */
	buf_put_le32(b, 0);             /* local header at 0 */
	cb_str(b, CANARY_MEMBER);
	buf_put_le32(b, 0x06054b50u);   /* disk, cd disk, entries here, entries */
	cb_le16s(b, (const uint16_t[]){ 0, 0, 1, 1 }, 4);
	buf_put_le32(b, (uint32_t)(buf_avail(b) - cd_off));
	buf_put_le32(b, (uint32_t)cd_off);
	buf_put_le16(b, 0);             /* comment */
	if (buf_error(&d) != 0)
		buf_fail(b, buf_error(&d));
}

/* p as base 64 in lines of 76 characters (EVP_EncodeBlock, no newlines). */
static void
canary_base64(struct buf *b, const uint8_t *p, size_t n)
{
	unsigned char q[4 * 57 / 3 + 1];

	for (size_t i = 0; i < n; i += 57) {
		int len = EVP_EncodeBlock(q, p + i, (int)(n - i < 57 ? n - i : 57));

		buf_put(b, q, (size_t)len);
		cb_str(b, "\r\n");
	}
}

static void
canary_mail(const struct seng *e, struct buf *b)
{
	uint8_t mem[CANARY_BUF_MAX];
	struct buf d;

	buf_init_fixed(&d, mem, sizeof(mem));
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
	canary_base64(b, buf_ptr(&d), buf_avail(&d));
	cb_str(b, "--ampscan-canary-boundary--\r\n");
}

static const struct {
	const char *name;
	void (*make)(const struct seng *e, struct buf *b);
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
	uint8_t *mem = malloc(CANARY_BUF_MAX);
	struct buf b;
	int rc = -1;

	if (r == NULL || mem == NULL) {
		snprintf(err, errlen, "canary: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n && i < SENG_CANARIES_ALL; i++) {
		buf_init_fixed(&b, mem, CANARY_BUF_MAX);
		canaries[i].make(e, &b);
		memset(r, 0, sizeof(*r));
		/* the backend itself: the interface would hide the canary */
		e->ops->scan_mem(e, buf_ptr(&b), buf_avail(&b), canaries[i].name,
		    WPROTO_SCAN_ALLMATCH, r);
		if (buf_error(&b) != 0 || !canary_found(r)) {
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
	free(mem);
	return rc;
}
