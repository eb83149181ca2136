/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the archive walk: arbitrary bytes as a file to scan, through
 * libarchive's every format and filter, recursively, with small limits so
 * each input stays quick.  A small engine (one hash, one body signature)
 * is built once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ampscan/engine.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fw_hdb[] = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature";
static const char fw_ndb[] = "Fuzz.Body-1:0:*:41424344??45{1-3}46";

static struct engine *
fw_engine(void)
{
	struct engine_builder *b;
	struct engine *e = NULL;
	struct sig s;
	char err[256];

	if (engine_builder_new(&b) != 0)
		abort();
	if (sig_parse_line(SIG_TYPE_HDB, fw_hdb, strlen(fw_hdb), &s, err, sizeof(err)) != SIG_OK ||
	    engine_builder_add(b, "fuzz.hdb", &s, err, sizeof(err)) != 0 ||
	    sig_parse_line(SIG_TYPE_NDB, fw_ndb, strlen(fw_ndb), &s, err, sizeof(err)) != SIG_OK ||
	    engine_builder_add(b, "fuzz.ndb", &s, err, sizeof(err)) != 0 ||
	    engine_builder_finish(b, &e, err, sizeof(err)) != 0)
		abort();
	return e;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct engine *e;
	static struct walk *w;
	static struct wproto_result res;
	struct walk_limits lim = {
		.max_file_size = 1 << 20, .max_scan_size = 8 << 20,
		.max_recursion = 4, .max_files = 64, .max_ratio = 100,
	};

	if (e == NULL) {
		e = fw_engine();
		if (walk_new(e, &lim, &w) != 0)
			abort();
	}
	walk_scan_buffer(w, data, size, "fuzz", WPROTO_SCAN_ALLMATCH, &res);
	return 0;
}
