/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON writer of the whole tree: one string escaper and the few
 * emitters our documents need, writing through a sink (a FILE*, or a
 * caller's buffer such as strbuf).  It never fails by itself; a sink
 * that cannot take more records that on its side (strbuf's "failed").
 *
 * Strings (jsonw_escape, and every emitter that writes one):
 *   "  and  \                 written as \" and \\
 *   \n \t \r \b \f            written as those two-character escapes
 *   other bytes < 0x20, 0x7f  written as \u00XX (lower-case hex)
 *   valid UTF-8               passed through unchanged (é, 中, emoji)
 *   any other byte 0xNN       written as the lone surrogate \udcNN
 * The last rule is the "surrogateescape" convention: Linux file names
 * need not be UTF-8, and each byte 0x80..0xff that is not part of a
 * valid UTF-8 sequence (a stray continuation byte, a truncated
 * sequence, an overlong form, a UTF-8-encoded surrogate U+D800..DFFF,
 * a code point above U+10FFFF, the bytes 0xc0 0xc1 0xf5..0xff) becomes
 * \udc80..\udcff, one escape per byte.  A lone low surrogate never
 * stands for valid UTF-8, so the escape is reversible: jsonr_loadb
 * (json_read.h) gives the original bytes back.  Readers that reject
 * lone surrogates (plain jansson, strict parsers) reject such a
 * document; Python's json and browsers accept it.  Output with only
 * valid UTF-8 input is plain RFC 8259 JSON.
 */
#ifndef AMPSCAN_JSON_H
#define AMPSCAN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bytes of one escaped unit at most: \u00XX or \udcNN, or 4 bytes of
 * UTF-8. */
#define JSONW_UNIT_MAX 6
/* Nesting of objects and arrays a writer keeps commas for. */
#define JSONW_DEPTH_MAX 64

/* Where the text goes: put(arg, data, len). */
typedef void (*jsonw_put_fn)(void *arg, const void *data, size_t len);

/*
 * One escaped unit of s[i..n): the text to write into out (outlen
 * bytes, not NUL-terminated), returns how many input bytes it stands
 * for (1..4).  For a caller that must cut a string at a character
 * boundary under a limit of its own.
 */
size_t jsonw_escape_unit(const unsigned char *s, size_t n, size_t i,
    char out[JSONW_UNIT_MAX], size_t *outlen);

/* s[0..n) as a JSON string, quotes included. */
void jsonw_escape(jsonw_put_fn put, void *arg, const char *s, size_t n);

/* The sink for a FILE* (arg is the FILE*). */
void jsonw_put_file(void *arg, const void *data, size_t len);

/*
 * A document being written: the emitters put the commas.  Inside an
 * object, call jsonw_key before each value.  Deeper than
 * JSONW_DEPTH_MAX the commas are still written, but only for the first
 * JSONW_DEPTH_MAX levels correctly (our documents are 4 deep).
 */
struct jsonw {
	jsonw_put_fn put;
	void *arg;
	unsigned depth;
	uint64_t more;               /* bit d: level d has a value already */
	bool after_key;              /* the next value follows a key: no comma */
};

void jsonw_init(struct jsonw *w, jsonw_put_fn put, void *arg);
void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
/* s, or null when s is NULL */
void jsonw_str_or_null(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* v with exactly `decimals` digits after the point ("%.*f": 4.0,
 * 0.25); null when v is not finite (JSON has no NaN or infinity).
 * decimals is clamped to 0..JSONW_DECIMALS_MAX. */
#define JSONW_DECIMALS_MAX 17
void jsonw_fixed(struct jsonw *w, double v, int decimals);
/*
 * Text that is already JSON, written as one value: a number formatted by
 * the caller, or a value rendered elsewhere (an events.jsonl line put
 * into a document).  Not checked: the caller answers for its syntax.
 */
void jsonw_raw(struct jsonw *w, const char *json);
void jsonw_rawn(struct jsonw *w, const char *json, size_t n);

/* A key and its value in one call (object members). */
void jsonw_key_str(struct jsonw *w, const char *key, const char *s);
void jsonw_key_str_or_null(struct jsonw *w, const char *key, const char *s);
void jsonw_key_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_key_uint(struct jsonw *w, const char *key, uint64_t v);
void jsonw_key_bool(struct jsonw *w, const char *key, bool v);
/* v when has, else null */
void jsonw_key_int_or_null(struct jsonw *w, const char *key, bool has,
    int64_t v);

#endif
