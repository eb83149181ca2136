/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The lines of StateDir/import.seen (importseen.h): parse and format,
 * nothing else; importdir.c reads and writes the file.
 */
#include <stdio.h>
#include <string.h>

#include "importseen.h"
#include "num.h"
#include "strbuf.h"

const char *
importseen_why_name(enum import_why w)
{
	static const char *const names[IMPORT_WHY_COUNT] = {
		[IMPORT_WHY_START] = "start",
		[IMPORT_WHY_INOTIFY] = "inotify",
		[IMPORT_WHY_RELOAD] = "RELOAD",
		[IMPORT_WHY_RETRY] = "retry",
		[IMPORT_WHY_IMPORTED] = "after an import",
	};

	return (unsigned)w < IMPORT_WHY_COUNT ? names[w] : "?";
}

const char *
importseen_result_name(enum import_result r)
{
	static const char *const names[IMPORT_RES_COUNT] = {
		[IMPORT_RES_IMPORTED] = "imported",
		[IMPORT_RES_REJECTED] = "rejected",
		[IMPORT_RES_SKIPPED] = "skipped",
		[IMPORT_RES_IO_ERROR] = "io_error",
	};

	return (unsigned)r < IMPORT_RES_COUNT ? names[r] : "?";
}

static bool
dbname_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

bool
importseen_name_ok(const char *name, char *db, size_t dblen, const char **ext)
{
	size_t l = strlen(name);

	if (name[0] == '.' || l <= 4 || l - 4 > IMPORT_DBNAME_MAX || l - 4 >= dblen)
		return false;
	*ext = name + l - 4;
	if (strcmp(*ext, ".cvd") != 0 && strcmp(*ext, ".cld") != 0 &&
	    strcmp(*ext, ".cud") != 0)
		return false;
	for (size_t i = 0; i < l - 4; i++)
		if (!dbname_char(name[i]))
			return false;
	str_fmt(db, dblen, "%.*s", (int)(l - 4), name);
	return true;
}

/* The name before the first space of s[0..n) into f->name; false: bad. */
static bool
parse_name(const char *s, size_t n, struct import_file *f, const char **sp)
{
	char db[IMPORT_DBNAME_MAX + 1];
	const char *ext;

	*sp = memchr(s, ' ', n);
	if (*sp == NULL || (size_t)(*sp - s) >= sizeof(f->name) ||
	    memchr(s, '\0', (size_t)(*sp - s)) != NULL)
		return false;
	memcpy(f->name, s, (size_t)(*sp - s));
	f->name[*sp - s] = '\0';
	return importseen_name_ok(f->name, db, sizeof(db), &ext);
}

bool
importseen_parse_line(const char *s, size_t n, struct import_file *f)
{
	uint64_t v[IMPORT_SEEN_FIELDS];
	const char *sp, *end = s + n;

	memset(f, 0, sizeof(*f));
	if (n >= IMPORT_SEEN_LINE || !parse_name(s, n, f, &sp))
		return false;
	for (unsigned i = 0; i < IMPORT_SEEN_FIELDS; i++) {
		const char *p = sp + 1, *q;

		if (p >= end)
			return false;
		q = memchr(p, ' ', (size_t)(end - p));
		if (q == NULL)
			q = end;
		if ((q == end) != (i == IMPORT_SEEN_FIELDS - 1) ||
		    num_u64(p, (size_t)(q - p), NUM_CANONICAL, &v[i]) != NUM_OK)
			return false;
		sp = q;
	}
	f->dev = v[0];
	f->ino = v[1];
	f->size = v[2];
	f->mtime_ns = (int64_t)v[3];
	f->sdev = v[4];
	f->sino = v[5];
	f->ssize = v[6];
	f->smtime_ns = (int64_t)v[7];
	f->final = true;
	return true;
}

size_t
importseen_format_line(const struct import_file *f, char *buf, size_t len)
{
	char db[IMPORT_DBNAME_MAX + 1];
	const char *ext;
	int n;

	if (memchr(f->name, '\0', sizeof(f->name)) == NULL ||
	    !importseen_name_ok(f->name, db, sizeof(db), &ext))
		return 0;
	/* the times as unsigned: what parse_line reads back, bit for bit */
	n = snprintf(buf, len, "%s %llu %llu %llu %llu %llu %llu %llu %llu\n",
	    f->name, (unsigned long long)f->dev, (unsigned long long)f->ino,
	    (unsigned long long)f->size, (unsigned long long)f->mtime_ns,
	    (unsigned long long)f->sdev, (unsigned long long)f->sino,
	    (unsigned long long)f->ssize, (unsigned long long)f->smtime_ns);
	if (n < 0 || (size_t)n >= len)
		return 0;
	return (size_t)n;
}

static bool
known(const struct import_file *f, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return true;
	return false;
}

void
importseen_parse(const char *buf, size_t len, struct import_file *f,
    unsigned max, unsigned *n)
{
	for (size_t at = 0; at < len && *n < max; ) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t l = nl != NULL ? (size_t)(nl - (buf + at)) : len - at;

		if (nl != NULL && importseen_parse_line(buf + at, l, &f[*n]) &&
		    !known(f, *n, f[*n].name))
			(*n)++;
		at += l + 1;
	}
	if (*n < max)
		memset(&f[*n], 0, sizeof(f[*n]));   /* no half-parsed leftover */
}
