/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Streaming, strict walk of an old-style tar. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tar.h"
#include "util.h"

/* Field offsets and lengths of a tar header block. */
#define TAR_NAME_OFF 0
#define TAR_NAME_LEN 100
#define TAR_MODE_OFF 100
#define TAR_UID_OFF 108
#define TAR_GID_OFF 116
#define TAR_ID_LEN 8
#define TAR_SIZE_OFF 124
#define TAR_SIZE_LEN 12
#define TAR_MTIME_OFF 136
#define TAR_MTIME_LEN 12
#define TAR_CHKSUM_OFF 148
#define TAR_CHKSUM_LEN 8
#define TAR_TYPE_OFF 156
#define TAR_LINK_OFF 157
#define TAR_LINK_LEN 100
#define TAR_MAGIC_OFF 257
#define TAR_PREFIX_OFF 345
#define TAR_PREFIX_LEN 155

enum tar_state {
	TAR_ST_HEADER,     /* collecting a header block */
	TAR_ST_DATA,       /* member data */
	TAR_ST_PAD,        /* padding to the next block */
	TAR_ST_TRAILER,    /* after the first zero block: zeros only */
	TAR_ST_FAILED,
};

struct tar {
	struct tar_cb cb;
	uint64_t max_members, max_member_size;
	enum tar_state state;
	uint8_t hdr[TAR_BLOCK];
	size_t hdr_len;
	uint64_t left;         /* bytes left in DATA or PAD */
	uint64_t offset;       /* stream offset, for messages */
	uint64_t nmembers;
	char name[TAR_NAME_LEN + 1];
	/* duplicate-name set: open addressing over a power-of-two table */
	char **names;
	size_t names_cap;
	char err[CVD_ERRMSG_MAX];
};

static int tar_fail(struct tar *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
tar_fail(struct tar *t, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	t->state = TAR_ST_FAILED;
	return code;
}

int
tar_new(const struct tar_cb *cb, uint64_t max_members,
    uint64_t max_member_size, struct tar **out)
{
	struct tar *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CVD_ENOMEM;
	t->cb = *cb;
	t->max_members = max_members;
	t->max_member_size = max_member_size;
	*out = t;
	return 0;
}

void
tar_free(struct tar *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->names_cap; i++)
		free(t->names[i]);
	free(t->names);
	free(t);
}

const char *
tar_error(const struct tar *t)
{
	return t->err;
}

uint64_t
tar_member_count(const struct tar *t)
{
	return t->nmembers;
}

static uint64_t
tar_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Insert name; false if it is already there (or on allocation failure). */
static int
tar_names_add(struct tar *t, const char *name)
{
	size_t i;

	if (t->nmembers * 2 >= t->names_cap) {
		size_t cap = t->names_cap ? t->names_cap * 2 : 64;
		char **n = calloc(cap, sizeof(*n));

		if (n == NULL)
			return CVD_ENOMEM;
		for (size_t j = 0; j < t->names_cap; j++) {
			if (t->names[j] == NULL)
				continue;
			for (i = tar_hash(t->names[j]) & (cap - 1); n[i];
			    i = (i + 1) & (cap - 1))
				;
			n[i] = t->names[j];
		}
		free(t->names);
		t->names = n;
		t->names_cap = cap;
	}
	for (i = tar_hash(name) & (t->names_cap - 1); t->names[i];
	    i = (i + 1) & (t->names_cap - 1))
		if (strcmp(t->names[i], name) == 0)
			return 1;
	if ((t->names[i] = strdup(name)) == NULL)
		return CVD_ENOMEM;
	return 0;
}

/* An octal field: optional leading spaces, digits, then NULs/spaces. */
static bool
tar_octal(const uint8_t *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	bool digits = false;

	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return false;
		v = v << 3 | (uint64_t)(f[i] - '0');
		digits = true;
	}
	for (; i < len; i++)
		if (f[i] != '\0' && f[i] != ' ')
			return false;
	*out = digits ? v : 0;
	return true;
}

static bool
tar_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static bool
tar_name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	    c == '+';
}

static int
tar_check_name(struct tar *t, const uint8_t *h)
{
	size_t n = strnlen((const char *)h + TAR_NAME_OFF, TAR_NAME_LEN);

	if (n == 0)
		return tar_fail(t, CVD_ETAR, "tar member %llu: empty name",
		    (unsigned long long)t->nmembers + 1);
	if (n == TAR_NAME_LEN)
		return tar_fail(t, CVD_ETAR,
		    "tar member %llu: name not NUL-terminated in 100 bytes",
		    (unsigned long long)t->nmembers + 1);
	memcpy(t->name, h + TAR_NAME_OFF, n);
	t->name[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->name[i];

		if (c == '/')
			return tar_fail(t, CVD_ETAR,
			    "tar member '%s': name contains '/' (paths are not allowed)",
			    t->name);
		if (!tar_name_char_ok(c))
			return tar_fail(t, CVD_ETAR,
			    "tar member %llu: name has byte 0x%02x at %zu (allowed: letters, digits, . _ - +)",
			    (unsigned long long)t->nmembers + 1, c, i);
	}
	if (strcmp(t->name, ".") == 0)
		return tar_fail(t, CVD_ETAR, "tar member '.': not a file name");
	if (strstr(t->name, "..") != NULL)
		return tar_fail(t, CVD_ETAR, "tar member '%s': name contains '..'",
		    t->name);
	return 0;
}

static const char *
tar_type_name(uint8_t type)
{
	switch (type) {
	case '1': return "hard link";
	case '2': return "symbolic link";
	case '3': return "character device";
	case '4': return "block device";
	case '5': return "directory";
	case '6': return "FIFO";
	case '7': return "contiguous file";
	case 'S': return "sparse file";
	case 'L': case 'K': return "GNU long name";
	case 'x': case 'g': return "pax extended header";
	default: return "unknown type";
	}
}

static int
tar_check_fields(struct tar *t, const uint8_t *h, uint64_t *size)
{
	uint64_t sum = 0, want, v;
	uint8_t type = h[TAR_TYPE_OFF];

	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += (i >= TAR_CHKSUM_OFF && i < TAR_CHKSUM_OFF + TAR_CHKSUM_LEN) ?
		    ' ' : h[i];
	if (!tar_octal(h + TAR_CHKSUM_OFF, TAR_CHKSUM_LEN, &want) || want != sum)
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': header checksum mismatch (at offset %llu)",
		    t->name, (unsigned long long)t->offset);
	if (type != '0' && type != '\0')
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': type '%c' (%s); only regular files are allowed",
		    t->name, type >= 0x20 && type < 0x7f ? type : '?',
		    tar_type_name(type));
	if (!tar_is_zero(h + TAR_LINK_OFF, TAR_LINK_LEN))
		return tar_fail(t, CVD_ETAR, "tar member '%s': has a link name",
		    t->name);
	if (memcmp(h + TAR_MAGIC_OFF, "ustar", 5) == 0 &&
	    !tar_is_zero(h + TAR_PREFIX_OFF, TAR_PREFIX_LEN))
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': ustar prefix makes it a path", t->name);
	if (!tar_octal(h + TAR_MODE_OFF, TAR_ID_LEN, &v) ||
	    !tar_octal(h + TAR_UID_OFF, TAR_ID_LEN, &v) ||
	    !tar_octal(h + TAR_GID_OFF, TAR_ID_LEN, &v) ||
	    !tar_octal(h + TAR_MTIME_OFF, TAR_MTIME_LEN, &v))
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': mode, uid, gid or mtime is not octal", t->name);
	if (!tar_octal(h + TAR_SIZE_OFF, TAR_SIZE_LEN, size))
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': size field is not octal", t->name);
	if (*size > t->max_member_size)
		return tar_fail(t, CVD_ELIMIT,
		    "tar member '%s': %llu bytes, over the limit of %llu",
		    t->name, (unsigned long long)*size,
		    (unsigned long long)t->max_member_size);
	return 0;
}

static int
tar_cbret(struct tar *t, int rc)
{
	if (rc == 0)
		return 0;
	t->state = TAR_ST_FAILED;
	if (rc > 0 || rc < CVD_EVERSION)
		rc = CVD_ECALLBACK;
	if (t->err[0] == '\0')
		snprintf(t->err, sizeof(t->err), "tar member '%s': %s", t->name,
		    cvd_strerror(rc));
	return rc;
}

static int
tar_header(struct tar *t)
{
	uint64_t size = 0;
	int rc;

	if (tar_is_zero(t->hdr, TAR_BLOCK)) {
		t->state = TAR_ST_TRAILER;
		return 0;
	}
	if ((rc = tar_check_name(t, t->hdr)) != 0 ||
	    (rc = tar_check_fields(t, t->hdr, &size)) != 0)
		return rc;
	if (t->nmembers == t->max_members)
		return tar_fail(t, CVD_ELIMIT, "tar: more than %llu members",
		    (unsigned long long)t->max_members);
	if ((rc = tar_names_add(t, t->name)) != 0)
		return rc < 0 ? tar_fail(t, rc, "out of memory") :
		    tar_fail(t, CVD_ETAR, "tar member '%s': name repeated",
		    t->name);
	t->nmembers++;
	if ((rc = tar_cbret(t, t->cb.begin(t->cb.arg, t->name, size))) != 0)
		return rc;
	t->left = size;
	t->state = TAR_ST_DATA;
	if (size == 0)
		return tar_feed(t, NULL, 0);
	return 0;
}

static int
tar_data(struct tar *t, const uint8_t **p, size_t *n)
{
	size_t take = *n < t->left ? *n : (size_t)t->left;
	int rc;

	if (take > 0 &&
	    (rc = tar_cbret(t, t->cb.data(t->cb.arg, *p, take))) != 0)
		return rc;
	*p += take;
	*n -= take;
	t->left -= take;
	t->offset += take;
	if (t->left == 0) {
		if ((rc = tar_cbret(t, t->cb.end(t->cb.arg))) != 0)
			return rc;
		t->left = (TAR_BLOCK - (t->offset % TAR_BLOCK)) % TAR_BLOCK;
		t->state = t->left ? TAR_ST_PAD : TAR_ST_HEADER;
	}
	return 0;
}

static int
tar_step(struct tar *t, const uint8_t **p, size_t *n)
{
	size_t take;

	switch (t->state) {
	case TAR_ST_HEADER:
		take = TAR_BLOCK - t->hdr_len < *n ? TAR_BLOCK - t->hdr_len : *n;
		memcpy(t->hdr + t->hdr_len, *p, take);
		t->hdr_len += take;
		*p += take;
		*n -= take;
		if (t->hdr_len < TAR_BLOCK)
			return 0;
		t->hdr_len = 0;
		t->offset += TAR_BLOCK;
		return tar_header(t);
	case TAR_ST_DATA:
		return tar_data(t, p, n);
	case TAR_ST_PAD:
		take = *n < t->left ? *n : (size_t)t->left;
		if (!tar_is_zero(*p, take))
			return tar_fail(t, CVD_ETAR,
			    "tar member '%s': padding after the data is not zero",
			    t->name);
		*p += take;
		*n -= take;
		t->left -= take;
		t->offset += take;
		if (t->left == 0)
			t->state = TAR_ST_HEADER;
		return 0;
	case TAR_ST_TRAILER:
		if (!tar_is_zero(*p, *n))
			return tar_fail(t, CVD_ETAR,
			    "tar: data after the end-of-archive marker (offset %llu)",
			    (unsigned long long)t->offset);
		t->offset += *n;
		*n = 0;
		return 0;
	case TAR_ST_FAILED:
	default:
		return CVD_ETAR;
	}
}

int
tar_feed(struct tar *t, const uint8_t *p, size_t n)
{
	int rc;

	/* a zero-size member completes with no bytes */
	if (t->state == TAR_ST_DATA && t->left == 0)
		if ((rc = tar_data(t, &p, &n)) != 0)
			return rc;
	while (n > 0)
		if ((rc = tar_step(t, &p, &n)) != 0)
			return rc;
	return 0;
}

int
tar_finish(struct tar *t)
{
	if (t->state == TAR_ST_FAILED)
		return CVD_ETAR;
	/* ClamAV's writer ends the archive after the last member, no marker */
	if (t->state == TAR_ST_TRAILER ||
	    (t->state == TAR_ST_HEADER && t->hdr_len == 0 && t->nmembers > 0))
		return 0;
	if (t->state == TAR_ST_DATA)
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': truncated, %llu bytes missing", t->name,
		    (unsigned long long)t->left);
	if (t->state == TAR_ST_PAD)
		return tar_fail(t, CVD_ETAR,
		    "tar member '%s': truncated in its padding", t->name);
	if (t->nmembers == 0 && t->hdr_len == 0)
		return tar_fail(t, CVD_ETAR, "tar: empty archive");
	return tar_fail(t, CVD_ETAR,
	    "tar: truncated inside a header block at offset %llu",
	    (unsigned long long)t->offset);
}

static void
tar_octal_write(uint8_t *f, size_t len, uint64_t v)
{
	/* len-1 zero-padded octal digits, then NUL */
	f[len - 1] = '\0';
	for (size_t i = len - 1; i-- > 0;) {
		f[i] = (uint8_t)('0' + (v & 7));
		v >>= 3;
	}
}

void
tar_header_write(uint8_t h[TAR_BLOCK], const char *name, uint64_t size)
{
	unsigned sum = 0;

	memset(h, 0, TAR_BLOCK);
	memcpy(h, name, strnlen(name, 99));
	tar_octal_write(h + 100, 8, 0);
	tar_octal_write(h + 108, 8, 0);
	tar_octal_write(h + 116, 8, 0);
	tar_octal_write(h + 124, 12, size);
	tar_octal_write(h + 136, 12, 0);
	h[156] = '0';
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	tar_octal_write(h + 148, 7, sum);
	h[155] = ' ';
}
