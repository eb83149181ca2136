/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON writer (json.h) and reader (json_read.h): escaping of every
 * kind of byte, the surrogateescape round trip, the emitters' commas,
 * and the reader's strictness (duplicates, bad UTF-8, trailing text).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "json_read.h"
#include "strbuf.h"

static char *
esc(const char *s, size_t n)
{
	struct strbuf sb;
	char *out;

	strbuf_init(&sb, 1 << 20);
	jsonw_escape(strbuf_sink, &sb, s, n);
	assert_false(sb.failed);
	out = strdup(strbuf_str(&sb));
	strbuf_free(&sb);
	return out;
}

static void
check_esc(const char *in, size_t n, const char *want)
{
	char *got = esc(in, n);

	assert_string_equal(got, want);
	free(got);
}

/* The escaped text of in read back with the reader: in again. */
static void
check_round_trip(const char *in, size_t n)
{
	char *got = esc(in, n), err[256];
	json_t *v = jsonr_loadb(got, strlen(got), err, sizeof(err));

	if (v == NULL)
		fail_msg("%s: %s", got, err);
	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), n);
	assert_memory_equal(json_string_value(v), in, n);
	json_decref(v);
	free(got);
}

static void
test_ascii_and_controls(void **state)
{
	(void)state;
	check_esc("plain", 5, "\"plain\"");
	check_esc("q\"b\\", 4, "\"q\\\"b\\\\\"");
	check_esc("\n\t\r\b\f", 5, "\"\\n\\t\\r\\b\\f\"");
	check_esc("\x01\x1b\x7f", 3, "\"\\u0001\\u001b\\u007f\"");
	check_esc("a\0b", 3, "\"a\\u0000b\"");
	check_esc("/", 1, "\"/\"");
	check_round_trip("a\0b\x01\"\\\n", 7);
}

static void
test_valid_utf8_passes_through(void **state)
{
	static const char *const ok[] = {
		"caf\xc3\xa9",                  /* é, 2 bytes */
		"\xe4\xb8\xad\xe6\x96\x87",      /* 中文, 3 bytes */
		"\xf0\x9f\x98\x80",              /* U+1F600, 4 bytes */
		"\xc2\x80",                      /* U+0080, the first of 2 */
		"\xef\xbf\xbf",                  /* U+FFFF */
		"\xed\x9f\xbf",                  /* U+D7FF, below the surrogates */
		"\xee\x80\x80",                  /* U+E000, above them */
		"\xf4\x8f\xbf\xbf",              /* U+10FFFF, the last */
		"\xe2\x80\xa8",                  /* U+2028: valid, kept */
	};
	char want[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(want, sizeof(want), "\"%s\"", ok[i]);
		check_esc(ok[i], strlen(ok[i]), want);
		check_round_trip(ok[i], strlen(ok[i]));
	}
}

static void
test_invalid_utf8_surrogateescape(void **state)
{
	static const struct { const char *in; const char *out; } bad[] = {
		{ "\x80", "\\udc80" },                          /* lone continuation */
		{ "a\xff" "b", "a\\udcffb" },                   /* never valid */
		{ "\xc3", "\\udcc3" },                          /* cut at the end */
		{ "\xe4\xb8" "a", "\\udce4\\udcb8a" },          /* cut in the middle */
		{ "\xc0\xaf", "\\udcc0\\udcaf" },               /* overlong '/' */
		{ "\xe0\x80\xaf", "\\udce0\\udc80\\udcaf" },    /* overlong, 3 bytes */
		{ "\xf0\x80\x80\xaf", "\\udcf0\\udc80\\udc80\\udcaf" },
		{ "\xed\xa0\x80", "\\udced\\udca0\\udc80" },    /* U+D800 in UTF-8 */
		{ "\xed\xbf\xbf", "\\udced\\udcbf\\udcbf" },    /* U+DFFF */
		{ "\xf4\x90\x80\x80", "\\udcf4\\udc90\\udc80\\udc80" }, /* > U+10FFFF */
		{ "\xf5\x80\x80\x80", "\\udcf5\\udc80\\udc80\\udc80" },
		{ "\xe9" "caf\xc3\xa9", "\\udce9caf\xc3\xa9" }, /* Latin-1 then UTF-8 */
	};
	char want[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "\"%s\"", bad[i].out);
		check_esc(bad[i].in, strlen(bad[i].in), want);
		check_round_trip(bad[i].in, strlen(bad[i].in));
	}
}

static void
test_escape_unit_boundaries(void **state)
{
	const unsigned char s[] = "\xe4\xb8\xad" "x\x80";
	char out[JSONW_UNIT_MAX];
	size_t len;

	(void)state;
	assert_int_equal(jsonw_escape_unit(s, 5, 0, out, &len), 3);
	assert_int_equal(len, 3);
	assert_int_equal(jsonw_escape_unit(s, 5, 3, out, &len), 1);
	assert_int_equal(len, 1);
	assert_int_equal(jsonw_escape_unit(s, 5, 4, out, &len), 1);
	assert_memory_equal(out, "\\udc80", 6);
	/* a sequence cut by n is not valid */
	assert_int_equal(jsonw_escape_unit(s, 2, 0, out, &len), 1);
	assert_memory_equal(out, "\\udce4", 6);
}

static void
test_emitters_commas(void **state)
{
	struct strbuf sb;
	struct jsonw w;

	(void)state;
	strbuf_init(&sb, 4096);
	jsonw_init(&w, strbuf_sink, &sb);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, INT64_MIN);
	jsonw_key(&w, "l");
	jsonw_arr_begin(&w);
	jsonw_uint(&w, UINT64_MAX);
	jsonw_bool(&w, true);
	jsonw_null(&w);
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	jsonw_str_or_null(&w, "x");
	jsonw_arr_end(&w);
	jsonw_key(&w, "s");
	jsonw_str_or_null(&w, NULL);
	jsonw_key(&w, "e");
	jsonw_strn(&w, "\xff", 1);
	jsonw_obj_end(&w);
	assert_string_equal(strbuf_str(&sb),
	    "{\"a\":-9223372036854775808,\"l\":[18446744073709551615,true,"
	    "null,{},[],\"x\"],\"s\":null,\"e\":\"\\udcff\"}");
	strbuf_free(&sb);
}

/* jsonw_fixed: "%.*f", clamped decimals, null for what JSON cannot hold */
static void
test_fixed(void **state)
{
	struct strbuf sb;
	struct jsonw w;

	(void)state;
	strbuf_init(&sb, 4096);
	jsonw_init(&w, strbuf_sink, &sb);
	jsonw_arr_begin(&w);
	jsonw_fixed(&w, 4.0, 1);
	jsonw_fixed(&w, 0.25, 1);
	jsonw_fixed(&w, -2.5, 3);
	jsonw_fixed(&w, 7.9, 0);
	jsonw_fixed(&w, 1.0, -4);
	jsonw_fixed(&w, 0.5, 99);
	jsonw_fixed(&w, NAN, 1);
	jsonw_fixed(&w, -INFINITY, 1);
	jsonw_arr_end(&w);
	assert_string_equal(strbuf_str(&sb),
	    "[4.0,0.2,-2.500,8,1,0.50000000000000000,null,null]");
	strbuf_reset(&sb);
	jsonw_init(&w, strbuf_sink, &sb);
	jsonw_fixed(&w, DBL_MAX, JSONW_DECIMALS_MAX);
	assert_false(sb.failed);
	assert_int_equal(sb.len, 309 + 1 + JSONW_DECIMALS_MAX);
	assert_string_equal(strbuf_str(&sb) + 309, ".00000000000000000");
	strbuf_free(&sb);
}

/* the key-and-value calls, and raw values rendered elsewhere */
static void
test_key_pairs_and_raw(void **state)
{
	static const char line[] = "{\"time\":\"t\",\"event\":\"x\"}\n";
	struct strbuf sb;
	struct jsonw w;

	(void)state;
	strbuf_init(&sb, 4096);
	jsonw_init(&w, strbuf_sink, &sb);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "s", "a\"b");
	jsonw_key_str_or_null(&w, "n", NULL);
	jsonw_key_str_or_null(&w, "m", "m");
	jsonw_key_int(&w, "i", -7);
	jsonw_key_uint(&w, "u", UINT64_MAX);
	jsonw_key_bool(&w, "b", false);
	jsonw_key_int_or_null(&w, "h", true, INT64_MIN);
	jsonw_key_int_or_null(&w, "z", false, 5);
	jsonw_key(&w, "ev");
	jsonw_arr_begin(&w);
	jsonw_rawn(&w, line, sizeof(line) - 2);    /* without its newline */
	jsonw_raw(&w, "1e3");
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	assert_string_equal(strbuf_str(&sb),
	    "{\"s\":\"a\\\"b\",\"n\":null,\"m\":\"m\",\"i\":-7,"
	    "\"u\":18446744073709551615,\"b\":false,"
	    "\"h\":-9223372036854775808,\"z\":null,"
	    "\"ev\":[{\"time\":\"t\",\"event\":\"x\"},1e3]}");
	strbuf_free(&sb);
}

static void
test_file_sink(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jsonw w;

	(void)state;
	assert_non_null(f);
	jsonw_init(&w, jsonw_put_file, f);
	jsonw_arr_begin(&w);
	jsonw_str(&w, "a\xc3\xa9");
	jsonw_int(&w, 1);
	jsonw_arr_end(&w);
	fclose(f);
	assert_string_equal(buf, "[\"a\xc3\xa9\",1]");
	free(buf);
}

static void
test_strbuf_sink(void **state)
{
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb, 4096);
	jsonw_escape(strbuf_sink, &sb, "n\xe9\n", 3);
	assert_string_equal(strbuf_str(&sb), "\"n\\udce9\\n\"");
	strbuf_free(&sb);
}

static json_t *
load(const char *s, char *err, size_t errlen)
{
	return jsonr_loadb(s, strlen(s), err, errlen);
}

static void
test_reader_strict(void **state)
{
	static const char *const bad[] = {
		"{\"a\":1,\"a\":2}",            /* duplicate key */
		"{\"a\":\"\xff\"}",             /* raw invalid UTF-8 */
		"{\"a\":1} x",                  /* trailing text */
		"{\"a\":1,}",                   /* trailing comma */
		"{\"a\":\"\\ud800\"}",          /* lone high surrogate */
		"{\"a\":\"\\udc7f\"}",          /* a low one we never write */
		"{\"a\":\"\\ud800\\u0041\"}",   /* a pair broken */
		"{\"\\udc80\":1}",              /* escaped byte in a key */
		"{\"a\":\"x\ny\"}",             /* raw control character */
		"",
	};
	char err[256];
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		v = load(bad[i], err, sizeof(err));
		if (v != NULL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
	v = jsonr_object("[1]", 3, err, sizeof(err));
	assert_null(v);
	assert_string_equal(err, "not a JSON object");
}

static void
test_reader_fields(void **state)
{
	const char *s = " {\"s\":\"a\\udc80\\u0000\\u00e9\\ud83d\\ude00\","
	    "\"i\":-5,\"t\":true,\"f\":false,\"r\":1.5,"
	    "\"l\":[\"\\udcff\",{\"k\":\"\\udcfe\"}]} ";
	char err[256];
	json_t *v = jsonr_object(s, strlen(s), err, sizeof(err));
	const json_t *m;
	int64_t i;

	(void)state;
	if (v == NULL)
		fail_msg("%s", err);
	m = json_object_get(v, "s");
	assert_int_equal(json_string_length(m), 9);
	assert_memory_equal(json_string_value(m),
	    "a\x80\0\xc3\xa9\xf0\x9f\x98\x80", 9);
	assert_true(jsonr_int(v, "i", &i));
	assert_int_equal(i, -5);
	assert_false(jsonr_int(v, "r", &i));
	assert_false(jsonr_int(v, "s", &i));
	assert_true(jsonr_true(v, "t"));
	assert_false(jsonr_true(v, "f"));
	assert_false(jsonr_true(v, "nope"));
	assert_null(jsonr_str(v, "i"));
	m = json_object_get(v, "l");
	assert_string_equal(json_string_value(json_array_get(m, 0)), "\xff");
	assert_string_equal(jsonr_str(json_array_get(m, 1), "k"), "\xfe");
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_and_controls),
		cmocka_unit_test(test_valid_utf8_passes_through),
		cmocka_unit_test(test_invalid_utf8_surrogateescape),
		cmocka_unit_test(test_escape_unit_boundaries),
		cmocka_unit_test(test_emitters_commas),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_key_pairs_and_raw),
		cmocka_unit_test(test_file_sink),
		cmocka_unit_test(test_strbuf_sink),
		cmocka_unit_test(test_reader_strict),
		cmocka_unit_test(test_reader_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
