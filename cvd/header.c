/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The 512-byte container header: ClamAV-VDB:time:ver:sigs:flevel:md5:dsig:builder:stime */
#include <string.h>

#include "ampscan/cvd.h"
#include "util.h"

#define HDR_MAGIC "ClamAV-VDB"
#define HDR_FIELDS_MIN 8   /* stime may be missing in very old files */
#define HDR_FIELDS_MAX 9

static const char *const hdr_field_names[HDR_FIELDS_MAX] = {
	"magic", "time", "version", "sigs", "flevel", "md5", "dsig",
	"builder", "stime",
};

static bool
hdr_is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int
hdr_uint(const char *s, size_t len, unsigned *out, int idx, char *err,
    size_t errlen)
{
	uint64_t v;

	if (num_u64(s, len, 0, &v) != NUM_OK || v > UINT32_MAX)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field %d (%s): '%.*s' is not an unsigned decimal",
		    idx + 1, hdr_field_names[idx], (int)len, s);
	*out = (unsigned)v;
	return 0;
}

/* Cut the padded header into its line; the padding must be spaces only. */
static int
hdr_line(const uint8_t *buf, size_t *linelen, char *err, size_t errlen)
{
	size_t end = CVD_HEADER_SIZE;

	while (end > 0 && buf[end - 1] == ' ')
		end--;
	for (size_t i = 0; i < end; i++) {
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return cvd_seterr(err, errlen, CVD_EHEADER,
			    "header byte %zu: 0x%02x is not printable ASCII "
			    "(the header is one line padded with spaces)", i,
			    buf[i]);
	}
	if (end == 0)
		return cvd_seterr(err, errlen, CVD_EHEADER, "header is empty");
	*linelen = end;
	return 0;
}

static int
hdr_fields(struct cvd_header *h, const char *f[], const size_t fl[],
    int nf, char *err, size_t errlen)
{
	int rc;

	if (fl[1] == 0 || fl[1] >= sizeof(h->time))
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 2 (time): length %zu, want 1..%zu", fl[1],
		    sizeof(h->time) - 1);
	memcpy(h->time, f[1], fl[1]);
	if ((rc = hdr_uint(f[2], fl[2], &h->version, 2, err, errlen)) ||
	    (rc = hdr_uint(f[3], fl[3], &h->sigs, 3, err, errlen)) ||
	    (rc = hdr_uint(f[4], fl[4], &h->flevel, 4, err, errlen)))
		return rc;
	if (!(fl[5] == 1 && f[5][0] == 'X') &&
	    !(fl[5] == 32 && hdr_is_lower_hex(f[5], 32)))
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 6 (md5): '%.*s' is neither 32 lowercase hex digits nor X",
		    (int)fl[5], f[5]);
	memcpy(h->md5, f[5], fl[5]);
	if (!(fl[6] == 1 && f[6][0] == 'X') &&
	    (fl[6] == 0 || fl[6] > CVD_DSIG_MAX || !cvd_is_b64(f[6], fl[6])))
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 7 (dsig): not X and not a base-64 signature of 1..%d characters",
		    CVD_DSIG_MAX);
	memcpy(h->dsig, f[6], fl[6]);
	if (fl[7] == 0 || fl[7] > CVD_BUILDER_MAX)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 8 (builder): length %zu, want 1..%d", fl[7],
		    CVD_BUILDER_MAX);
	memcpy(h->builder, f[7], fl[7]);
	if (nf == HDR_FIELDS_MAX) {
		const char *sp = memchr(f[8], ' ', fl[8]);

		if (sp != NULL) {
			while (*sp == ' ')
				sp++;
			return cvd_seterr(err, errlen, CVD_EHEADER,
			    "header padding after the line is not all spaces (byte %zu is '%c')",
			    (size_t)(sp - h->line), *sp);
		}
		if (num_u64(f[8], fl[8], 0, &h->stime) != NUM_OK)
			return cvd_seterr(err, errlen, CVD_EHEADER,
			    "header field 9 (stime): '%.*s' is not an unsigned decimal",
			    (int)fl[8], f[8]);
		h->has_stime = true;
	}
	return 0;
}

static int
hdr_kind(struct cvd_header *h, char *err, size_t errlen)
{
	bool md5x = strcmp(h->md5, "X") == 0, dsigx = strcmp(h->dsig, "X") == 0;

	if (!dsigx && md5x)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header field 6 (md5): X, but the header carries a signature of it");
	h->kind = !dsigx ? CVD_KIND_CVD : md5x ? CVD_KIND_CLD : CVD_KIND_CUD;
	return 0;
}

int
cvd_header_parse(const uint8_t *buf, size_t len, struct cvd_header *h,
    char *err, size_t errlen)
{
	const char *f[HDR_FIELDS_MAX];
	size_t fl[HDR_FIELDS_MAX], linelen = 0, start = 0;
	int nf = 0, rc;

	memset(h, 0, sizeof(*h));
	if (len < CVD_HEADER_SIZE)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "file is %zu bytes, shorter than the %d-byte header", len,
		    CVD_HEADER_SIZE);
	if ((rc = hdr_line(buf, &linelen, err, errlen)) != 0)
		return rc;
	memcpy(h->line, buf, linelen);
	for (size_t i = 0; i <= linelen; i++) {
		if (i < linelen && h->line[i] != ':')
			continue;
		if (nf == HDR_FIELDS_MAX)
			return cvd_seterr(err, errlen, CVD_EHEADER,
			    "header has more than %d ':'-separated fields",
			    HDR_FIELDS_MAX);
		f[nf] = h->line + start;
		fl[nf++] = i - start;
		start = i + 1;
	}
	if (fl[0] != strlen(HDR_MAGIC) || memcmp(f[0], HDR_MAGIC, fl[0]) != 0)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header does not start with '" HDR_MAGIC ":'");
	if (nf < HDR_FIELDS_MIN)
		return cvd_seterr(err, errlen, CVD_EHEADER,
		    "header has %d ':'-separated fields, want %d or %d", nf,
		    HDR_FIELDS_MIN, HDR_FIELDS_MAX);
	if ((rc = hdr_fields(h, f, fl, nf, err, errlen)) != 0 ||
	    (rc = hdr_kind(h, err, errlen)) != 0) {
		memset(h, 0, sizeof(*h));
		return rc;
	}
	return 0;
}

void
cvd_header_display_time(const struct cvd_header *h, char *out, size_t outlen)
{
	bool done = false;
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; h->time[i] != '\0' && i + 1 < outlen; i++) {
		char c = h->time[i];

		/* hour-minute: the first '-' between two digits */
		if (!done && c == '-' && i > 0 && h->time[i - 1] >= '0' &&
		    h->time[i - 1] <= '9' && h->time[i + 1] >= '0' &&
		    h->time[i + 1] <= '9') {
			c = ':';
			done = true;
		}
		out[i] = c;
	}
	out[i] = '\0';
}
