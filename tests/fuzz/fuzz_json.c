/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON writer and reader (json.h, json_read.h): any bytes, escaped,
 * must read back (jsonr_loadb) as exactly those bytes; when no \udcNN
 * escape was needed the text must also be plain JSON to jansson itself.
 * The input is also read as JSON text, which must never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_read.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_round_trip(const uint8_t *data, size_t size)
{
	struct strbuf sb;
	json_error_t je;
	char err[256];
	json_t *v;

	strbuf_init(&sb, 16 * size + 64);
	jsonw_escape(strbuf_sink, &sb, (const char *)data, size);
	if (sb.failed)
		abort();
	v = jsonr_loadb(sb.buf, sb.len, err, sizeof(err));
	if (v == NULL || !json_is_string(v) || json_string_length(v) != size ||
	    memcmp(json_string_value(v), data, size) != 0)
		abort();
	json_decref(v);
	if (strstr(sb.buf, "\\udc") == NULL) {
		v = json_loadb(sb.buf, sb.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (v == NULL)
			abort();
		json_decref(v);
	}
	strbuf_free(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *v;

	if (size > 65536)
		return 0;
	check_round_trip(data, size);
	v = jsonr_loadb((const char *)data, size, err, sizeof(err));
	json_decref(v);
	return 0;
}
