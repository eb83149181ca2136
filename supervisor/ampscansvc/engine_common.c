/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the engine backends and the canaries share (engine_int.h): the
 * canary signature's pattern, hiding its matches, an ERROR result.  The
 * lowest of the engine files: it calls none of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"
#include "num.h"

void
seng_canary_hex(const struct seng *e, char *out, size_t outlen)
{
	size_t n = strlen(e->marker);

	if (outlen == 0)
		return;
	if (2 * n + 1 > outlen)
		n = (outlen - 1) / 2;
	num_hex((const uint8_t *)e->marker, n, out);
}

bool
seng_drop_canary(struct wproto_result *res)
{
	size_t len = strlen(SENG_CANARY_NAME);
	uint32_t k = 0;
	bool dropped = false;

	if (res->verdict != WPROTO_FOUND)
		return false;
	for (uint32_t i = 0; i < res->nnames; i++) {
		if (strncmp(res->names[i].sig, SENG_CANARY_NAME, len) == 0) {
			dropped = true;
			continue;
		}
		if (k != i)
			res->names[k] = res->names[i];
		k++;
	}
	res->nnames = k;
	if (k == 0)
		res->verdict = WPROTO_CLEAN;
	return dropped;
}

void
seng_error(struct wproto_result *res, const char *fmt, ...)
{
	va_list ap;

	res->verdict = WPROTO_ERROR;
	res->nnames = 0;
	va_start(ap, fmt);
	vsnprintf(res->note, sizeof(res->note), fmt, ap);
	va_end(ap);
}
