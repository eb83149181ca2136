/*
 * Fuzz the worker protocol decoders: a packet as either side may receive
 * it (READY and RESULT from a worker, SCAN from the supervisor), and the
 * re-encoding of whatever decoded.
 */
#include <stddef.h>
#include <stdint.h>

#include "wproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wproto_ready ready;
	static struct wproto_scan scan;
	static struct wproto_result result;
	static struct wbuf out;
	struct buf r;
	uint16_t type;
	uint64_t id;

	if (wproto_open(data, size, &type, &id, &r) != 0)
		return 0;
	switch (type) {
	case WPROTO_READY:
		if (wproto_decode_ready(&r, &ready) == 0)
			wproto_encode_ready(&out, &ready);
		break;
	case WPROTO_SCAN:
		if (wproto_decode_scan(&r, id, &scan) == 0)
			wproto_encode_scan(&out, &scan);
		break;
	case WPROTO_RESULT:
		if (wproto_decode_result(&r, id, &result) == 0)
			wproto_encode_result(&out, &result);
		break;
	default:
		break;
	}
	return 0;
}
