/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON reader of the whole tree, for untrusted input (bundles from
 * other machines, damaged state files): jansson's strict parser
 * (RFC 8259, UTF-8 checked, duplicate keys rejected, nesting bounded by
 * jansson at 2048) plus the one extension our writer needs: the
 * surrogateescape escapes \udc80..\udcff of json.h read back as the raw
 * bytes 0x80..0xff they stand for, so that a file name that is not
 * UTF-8 comes back as it was.  Such a string holds bytes that are not
 * UTF-8: use json_string_value/json_string_length, never re-dump it
 * with jansson.  \u0000 is read as a NUL byte (json_string_length
 * counts it; json_string_value stops there).  A key must be UTF-8
 * without NUL (jansson's rule; ours are plain ASCII).
 */
#ifndef AMPSCAN_JSON_READ_H
#define AMPSCAN_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Parse s[0..len) as one JSON value (whitespace around it allowed,
 * nothing else).  Returns a new reference (json_decref it), or NULL
 * with err saying where and why ("line 1 column 7: ...").
 */
json_t *jsonr_loadb(const char *s, size_t len, char *err, size_t errlen);

/* The same, and the value must be an object. */
json_t *jsonr_object(const char *s, size_t len, char *err, size_t errlen);

/* o's member key when it is a string, else NULL. */
const char *jsonr_str(const json_t *o, const char *key);
/* o's member key when it is an integer: *v set, true. */
bool jsonr_int(const json_t *o, const char *key, int64_t *v);
/* true when o's member key is the literal true. */
bool jsonr_true(const json_t *o, const char *key);

#endif
