/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the streaming tar walker.  The first byte picks how the input is cut
 * into pieces, so block-boundary handling is exercised too.
 */
#include <stddef.h>
#include <stdint.h>

#include "tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_tar_count {
	uint64_t bytes;
	int open;
};

static int
ft_begin(void *arg, const char *name, uint64_t size)
{
	struct fuzz_tar_count *c = arg;

	(void)name;
	(void)size;
	if (c->open)
		__builtin_trap();   /* begin inside a member: a walker bug */
	c->open = 1;
	return 0;
}

static int
ft_data(void *arg, const uint8_t *p, size_t n)
{
	struct fuzz_tar_count *c = arg;

	(void)p;
	if (!c->open)
		__builtin_trap();
	c->bytes += n;
	return 0;
}

static int
ft_end(void *arg)
{
	struct fuzz_tar_count *c = arg;

	c->open = 0;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_tar_count count = { 0, 0 };
	struct tar_cb cb = { &count, ft_begin, ft_data, ft_end };
	struct tar *t;
	size_t piece;

	if (size < 1)
		return 0;
	piece = (size_t)data[0] * 7 + 1;
	data++;
	size--;
	if (tar_new(&cb, 64, 1 << 20, &t) != 0)
		return 0;
	for (size_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		if (tar_feed(t, data + off, n) != 0)
			break;
	}
	tar_finish(t);
	tar_free(t);
	return 0;
}
