/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the worker protocol decoders: a packet as either side may receive
 * it (READY, RESULT and MEM from a worker, SCAN from the supervisor), and the
 * re-encoding of whatever decoded, which must give back the packet's
 * bytes (all but the header's reserved ones, which are not read).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "wproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The re-encoding is the packet, but for reserved bytes 6-7 and 12-15 and,
 * for READY (always sent with id 0, whose id is not read), the id.
 */
static void
same_bytes(const uint8_t *data, size_t size, int rc, const struct wbuf *out)
{
	size_t idk = data[4] == WPROTO_READY ? 16 : WPROTO_HDR;

	if (rc != 0 || out->b.len != size)
		abort();
	for (size_t i = 0; i < size; i++)
		if (i != 6 && i != 7 && (i < 12 || i > 15) &&
		    (i < idk || i >= WPROTO_HDR) && out->data[i] != data[i])
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wproto_ready ready;
	static struct wproto_scan scan;
	static struct wproto_result result;
	static struct wproto_mem mem;
	static struct wbuf out;
	struct buf r;
	uint16_t type;
	uint64_t id;

	if (wproto_open(data, size, &type, &id, &r) != 0)
		return 0;
	switch (type) {
	case WPROTO_READY:
		if (wproto_decode_ready(&r, &ready) == 0)
			same_bytes(data, size, wproto_encode_ready(&out, &ready),
			    &out);
		break;
	case WPROTO_SCAN:
		if (wproto_decode_scan(&r, id, &scan) == 0)
			same_bytes(data, size, wproto_encode_scan(&out, &scan),
			    &out);
		break;
	case WPROTO_RESULT:
		if (wproto_decode_result(&r, id, &result) == 0)
			same_bytes(data, size, wproto_encode_result(&out,
			    &result), &out);
		break;
	case WPROTO_MEM:
		if (wproto_decode_mem(&r, &mem) == 0)
			same_bytes(data, size, wproto_encode_mem(&out, id, &mem),
			    &out);
		break;
	default:
		break;
	}
	return 0;
}
