/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parse and check the .info member. */
#include <stdlib.h>
#include <string.h>

#include "info.h"
#include "util.h"

#define INFO_FIELDS 9
static const char *const info_field_names[INFO_FIELDS] = {
	"magic", "time", "version", "sigs", "flevel", "md5", "dsig",
	"builder", "stime",
};

/* Split s[0..len) on ':' into at most max fields; returns the count. */
static int
info_split(const char *s, size_t len, const char *f[], size_t fl[], int max)
{
	size_t start = 0;
	int n = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ':')
			continue;
		if (n == max)
			return max + 1;
		f[n] = s + start;
		fl[n++] = i - start;
		start = i + 1;
	}
	return n;
}

static int
info_check_header(const char *line, size_t len, const struct cvd_header *h,
    char *err, size_t errlen)
{
	const char *f[INFO_FIELDS], *g[INFO_FIELDS];
	size_t fl[INFO_FIELDS], gl[INFO_FIELDS];
	int nf = info_split(line, len, f, fl, INFO_FIELDS);
	int ng = info_split(h->line, strlen(h->line), g, gl, INFO_FIELDS);

	if (nf != ng)
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line 1: %d fields, the header has %d", nf, ng);
	for (int i = 0; i < nf; i++) {
		bool x = i == 5 || i == 6;

		if (x && !(fl[i] == 1 && f[i][0] == 'X'))
			return cvd_seterr(err, errlen, CVD_EINFO,
			    ".info line 1: field %d (%s) is '%.*s', want X", i + 1,
			    info_field_names[i], (int)fl[i], f[i]);
		if (!x && (fl[i] != gl[i] || memcmp(f[i], g[i], fl[i]) != 0))
			return cvd_seterr(err, errlen, CVD_EINFO,
			    ".info line 1: field %d (%s) is '%.*s', the header says '%.*s'",
			    i + 1, info_field_names[i], (int)fl[i], f[i], (int)gl[i],
			    g[i]);
	}
	return 0;
}

static bool
info_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > CVD_MEMBER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
		    c == '+'))
			return false;
	}
	return true;
}

static int
info_entry_parse(struct cvd_info *info, const char *line, size_t len,
    size_t lineno, char *err, size_t errlen)
{
	const char *f[3];
	size_t fl[3];
	struct info_entry *e;

	if (info_split(line, len, f, fl, 3) != 3)
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: want name:size:sha256", lineno);
	if (!info_name_ok(f[0], fl[0]))
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: bad member name '%.*s'", lineno,
		    (int)(fl[0] > 100 ? 100 : fl[0]), f[0]);
	e = &info->entries[info->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, f[0], fl[0]);
	if (info_find(info, e->name) != NULL)
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: member '%s' listed twice", lineno, e->name);
	if (num_u64(f[1], fl[1], 0, &e->size) != NUM_OK)
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: size of '%s' is not a decimal", lineno,
		    e->name);
	if (fl[2] != 64 || !num_unhex(f[2], 32, 0, e->sha256))
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: sha256 of '%s' is not 64 hex digits",
		    lineno, e->name);
	info->n++;
	return 0;
}

static int
info_dsig(struct cvd_info *info, const uint8_t *buf, const char *line,
    size_t len, bool last, size_t lineno, char *err, size_t errlen)
{
	size_t dl = len - 5;

	if (!last)
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: DSIG is not the last line", lineno);
	if (dl == 0 || dl > CVD_DSIG_MAX)
		return cvd_seterr(err, errlen, CVD_EINFO,
		    ".info line %zu: DSIG of %zu characters", lineno, dl);
	memcpy(info->dsig, line + 5, dl);
	info->dsig[dl] = '\0';
	info->has_dsig = true;
	info->signed_len = (size_t)((const uint8_t *)line - buf);
	return 0;
}

struct info_entry *
info_find(struct cvd_info *info, const char *name)
{
	for (size_t i = 0; i < info->n; i++)
		if (strcmp(info->entries[i].name, name) == 0)
			return &info->entries[i];
	return NULL;
}

int
info_parse(const uint8_t *buf, size_t len, const struct cvd_header *h,
    struct cvd_info *out, char *err, size_t errlen)
{
	size_t pos = 0, lineno = 0, maxent = 1;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < len; i++)
		maxent += buf[i] == '\n';
	if (maxent > CVD_MAX_MEMBERS + 2)
		return cvd_seterr(err, errlen, CVD_ELIMIT,
		    ".info: %zu lines, more than the member limit", maxent);
	if ((out->entries = calloc(maxent, sizeof(*out->entries))) == NULL)
		return CVD_ENOMEM;
	while (rc == 0 && pos < len) {
		const char *line = (const char *)buf + pos;
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		bool last = nl == NULL || (size_t)(nl - buf) + 1 == len;

		lineno++;
		if (memchr(line, '\0', ll) != NULL || memchr(line, '\r', ll) != NULL)
			rc = cvd_seterr(err, errlen, CVD_EINFO,
			    ".info line %zu: contains NUL or CR", lineno);
		else if (nl == NULL && !(ll > 5 && memcmp(line, "DSIG:", 5) == 0))
			rc = cvd_seterr(err, errlen, CVD_EINFO,
			    ".info line %zu: no newline at the end", lineno);
		else if (lineno == 1)
			rc = info_check_header(line, ll, h, err, errlen);
		else if (ll >= 5 && memcmp(line, "DSIG:", 5) == 0)
			rc = info_dsig(out, buf, line, ll, last, lineno, err, errlen);
		else
			rc = info_entry_parse(out, line, ll, lineno, err, errlen);
		pos += ll + (nl != NULL);
	}
	if (rc == 0 && lineno == 0)
		rc = cvd_seterr(err, errlen, CVD_EINFO, ".info is empty");
	if (rc != 0)
		info_free(out);
	return rc;
}

void
info_free(struct cvd_info *info)
{
	free(info->entries);
	memset(info, 0, sizeof(*info));
}
