/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the reader of StateDir/import.seen (importseen.h): arbitrary bytes
 * as the file.  At most max files come out, each with a name
 * importseen_name_ok accepts, no two alike; each formats to a line that
 * parses back to the same file and formats to the same text again.  The
 * input's first line is also parsed alone, as importdir.c would.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "importseen.h"

#define FUZZ_MAX 64                  /* importdir.c's IMPORT_TRACK_MAX */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
same(const struct import_file *a, const struct import_file *b)
{
	return strcmp(a->name, b->name) == 0 && a->dev == b->dev &&
	    a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->sdev == b->sdev &&
	    a->sino == b->sino && a->ssize == b->ssize &&
	    a->smtime_ns == b->smtime_ns && a->final == b->final;
}

static void
check_one(const struct import_file *f)
{
	char line[IMPORT_SEEN_LINE], again[IMPORT_SEEN_LINE], db[IMPORT_DBNAME_MAX + 1];
	struct import_file back;
	const char *ext;
	size_t n, m;

	if (!f->final || f->seen || !importseen_name_ok(f->name, db, sizeof(db), &ext))
		abort();
	n = importseen_format_line(f, line, sizeof(line));
	if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1) != NULL)
		abort();
	if (!importseen_parse_line(line, n - 1, &back) || !same(f, &back))
		abort();
	m = importseen_format_line(&back, again, sizeof(again));
	if (m != n || memcmp(line, again, n) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct import_file *f, one;
	const char *nl = memchr(data, '\n', size);
	unsigned n = 0;

	if ((f = calloc(FUZZ_MAX, sizeof(*f))) == NULL)
		return 0;
	importseen_parse((const char *)data, size, f, FUZZ_MAX, &n);
	if (n > FUZZ_MAX)
		abort();
	for (unsigned i = 0; i < n; i++) {
		check_one(&f[i]);
		for (unsigned j = 0; j < i; j++)
			if (strcmp(f[i].name, f[j].name) == 0)
				abort();
	}
	if (importseen_parse_line((const char *)data,
	    nl != NULL ? (size_t)((const uint8_t *)nl - data) : size, &one))
		check_one(&one);
	free(f);
	return 0;
}
