/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the .info parser against a fixed container header. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char line[] =
	    "ClamAV-VDB:23 Nov 2026 10-00 +0000:7:3:81:0123456789abcdef0123456789abcdef:X:tester:1795000000";
	uint8_t hdr[CVD_HEADER_SIZE];
	struct cvd_header h;
	struct cvd_info info;
	char err[CVD_ERRMSG_MAX];

	memset(hdr, ' ', sizeof(hdr));
	memcpy(hdr, line, sizeof(line) - 1);
	if (cvd_header_parse(hdr, sizeof(hdr), &h, err, sizeof(err)) != 0)
		__builtin_trap();
	if (info_parse(data, size, &h, &info, err, sizeof(err)) == 0) {
		info_find(&info, "test.hdb");
		info_free(&info);
	}
	return 0;
}
