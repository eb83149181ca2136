/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz ampdaemon's configuration parser: arbitrary bytes as a file.  An
 * error must say where (the file name first); a success must survive
 * config_print: the printed text parses to an equal configuration and
 * prints the same text again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
print(const struct config *c, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);

	if (f == NULL)
		abort();
	config_print(f, c);
	if (fclose(f) != 0)
		abort();
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, back;
	char err[256], err2[256], *out, *again;
	size_t len, len2;

	if (config_parse_buffer("fuzz.conf", (const char *)data, size, &c, err,
	    sizeof(err)) != 0) {
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		config_free(&c);
		return 0;
	}
	out = print(&c, &len);
	if (config_parse_buffer("printed", out, len, &back, err2,
	    sizeof(err2)) != 0) {
		fprintf(stderr, "printed config does not parse: %s\n%s", err2, out);
		abort();
	}
	if (!config_equal(&c, &back)) {
		fprintf(stderr, "printed config differs:\n%s", out);
		abort();
	}
	again = print(&back, &len2);
	if (len != len2 || memcmp(out, again, len) != 0)
		abort();
	free(again);
	free(out);
	config_free(&back);
	config_free(&c);
	return 0;
}
