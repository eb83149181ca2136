/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the 512-byte header parser and the time formatter. */
#include <stddef.h>
#include <stdint.h>

#include "ampscan/cvd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cvd_header h;
	char err[CVD_ERRMSG_MAX], when[CVD_TIME_MAX];

	if (cvd_header_parse(data, size, &h, err, sizeof(err)) == 0)
		cvd_header_display_time(&h, when, sizeof(when));
	return 0;
}
