/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: engine_index_map() on arbitrary bytes (from a memfd, as
 * a worker gets its index), then scans with whatever engine it yields.
 *
 * Input: one mode byte, then the image.  Mode bit 0 set: the checksum field
 * is recomputed over the image first, so mutations get past the checksum
 * and exercise the structural checks and the scan path; clear: the bytes
 * are mapped as they are.  Seeds (corpus/fuzz_index/) are small indexes
 * written by engine_index_write(), hash signatures only (the body image
 * format belongs to cvd/ndb*.c), each prefixed with mode byte 0x01.
 *
 * Besides the sanitizers, it checks what callers rely on: ENGINE_EINDEX
 * (or ENGINE_ENOMEM) with an "index: " message on failure, a bounded and
 * NUL-terminated result, and that an accepted index writes back to the
 * same bytes and maps again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ampscan/engine.h"
#include "engine_image.h"

#define FUZZ_ERRLEN 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_memfd(const uint8_t *p, size_t n)
{
	int fd = memfd_create("fuzz-index", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (n > 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
fuzz_check_result(const struct engine_result *r)
{
	if (r->nmatches > ENGINE_MAX_MATCHES)
		abort();
	for (size_t i = 0; i < r->nmatches; i++)
		if (memchr(r->names[i], '\0', sizeof(r->names[i])) == NULL)
			abort();
}

static void
fuzz_scan(const struct engine *e, const uint8_t *p, size_t n)
{
	struct engine_result *r = malloc(sizeof(*r));

	if (r == NULL)
		return;
	for (unsigned flags = 0; flags <= ENGINE_SCAN_ALLMATCH; flags++)
		if (engine_scan(e, p, n, flags, r) == 0)
			fuzz_check_result(r);
	free(r);
}

/* An accepted index writes back byte for byte and maps again. */
static void
fuzz_round_trip(const struct engine *e, const uint8_t *img, size_t len)
{
	char err[FUZZ_ERRLEN];
	struct engine *again = NULL;
	int fd = memfd_create("fuzz-index-out", MFD_CLOEXEC);
	uint8_t *back;

	if (fd < 0)
		return;
	if (engine_index_write(e, fd, err, sizeof(err)) != 0)
		abort();
	if ((back = malloc(len)) == NULL || pread(fd, back, len, 0) !=
	    (ssize_t)len || memcmp(back, img, len) != 0)
		abort();
	if (engine_index_map(fd, &again, err, sizeof(err)) != 0)
		abort();
	engine_free(again);
	free(back);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
	char err[FUZZ_ERRLEN];
	struct engine *e = NULL;
	struct engine_info info;
	uint8_t *img;
	size_t len;
	int fd, rc;

	if (size == 0)
		return 0;
	len = size - 1;
	if ((img = malloc(len ? len : 1)) == NULL)
		return 0;
	if (len > 0)
		memcpy(img, data + 1, len);
	if ((data[0] & 1) && len >= ENGINE_HEADER_SIZE)
		engine_put64(img + ENGINE_CHECKSUM_OFF,
		    engine_image_checksum(img, len));
	if ((fd = fuzz_memfd(img, len)) < 0) {
		free(img);
		return 0;
	}
	rc = engine_index_map(fd, &e, err, sizeof(err));
	close(fd);
	if (rc != 0) {
		if (e != NULL || (rc != ENGINE_EINDEX && rc != ENGINE_ENOMEM) ||
		    memchr(err, '\0', sizeof(err)) == NULL ||
		    (rc == ENGINE_EINDEX && strncmp(err, "index: ", 7) != 0))
			abort();
		free(img);
		return 0;
	}
	engine_info(e, &info);
	if (info.ndbs > ENGINE_MAX_DBS || info.image_size != len)
		abort();
	fuzz_scan(e, eicar, sizeof(eicar) - 1);
	fuzz_scan(e, data, size < 4096 ? size : 4096);
	fuzz_scan(e, NULL, 0);
	fuzz_round_trip(e, img, len);
	engine_free(e);
	free(img);
	return 0;
}
