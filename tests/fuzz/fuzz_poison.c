/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the parser of poison.state: arbitrary bytes as the file.  An error
 * must name the line and leave the list empty; a success must hold at most
 * POISON_MAX entries and survive poison_format: the text parses to the
 * same list, which formats to the same text again.  The JSON of a parsed
 * list is built too (escaping of hostile paths).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poison.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
same_entry(const struct poison_entry *a, const struct poison_entry *b)
{
	return a->id.dev == b->id.dev && a->id.ino == b->id.ino &&
	    a->id.size == b->id.size && a->id.mtime_sec == b->id.mtime_sec &&
	    a->id.mtime_nsec == b->id.mtime_nsec &&
	    a->id.hashed == b->id.hashed && a->id.has_sha == b->id.has_sha &&
	    memcmp(a->id.sha256, b->id.sha256, POISON_SHA256_LEN) == 0 &&
	    strcmp(a->path, b->path) == 0 && a->crashes == b->crashes &&
	    a->first_ms == b->first_ms && a->last_ms == b->last_ms &&
	    a->poison == b->poison;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct poison_list l = { 0 }, back = { 0 };
	struct strbuf text, again, json;
	char err[256];
	size_t i;

	if (poison_parse((const char *)data, size, &l, err, sizeof(err)) != 0) {
		if (strncmp(err, "line ", 5) != 0 && strcmp(err, "NUL byte") != 0)
			abort();
		if (l.n != 0 || l.e != NULL)
			abort();
		return 0;
	}
	if (l.n > POISON_MAX)
		abort();
	strbuf_init(&text, POISON_STATE_MAX);
	strbuf_init(&again, POISON_STATE_MAX);
	strbuf_init(&json, 2 * POISON_STATE_MAX);   /* 6 bytes per byte */
	poison_format(&l, &text);
	if (text.failed)
		abort();
	if (poison_parse(strbuf_str(&text), text.len, &back, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "formatted list does not parse: %s\n%s", err,
		    strbuf_str(&text));
		abort();
	}
	if (back.n != l.n)
		abort();
	for (i = 0; i < l.n; i++)
		if (!same_entry(&l.e[i], &back.e[i]))
			abort();
	poison_format(&back, &again);
	if (again.len != text.len ||
	    memcmp(strbuf_str(&again), strbuf_str(&text), text.len) != 0)
		abort();
	poison_to_json(&l, &json);
	if (json.failed)
		abort();
	strbuf_free(&json);
	strbuf_free(&again);
	strbuf_free(&text);
	poison_free(&back);
	poison_free(&l);
	return 0;
}
