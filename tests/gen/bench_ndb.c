/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_ndb: build time, image size and scan throughput of cvd/ndb*.c.
 *
 *   bench_ndb DB.ndb [MB [ROUNDS [FILE]]]
 *
 * Loads DB.ndb (e.g. tests/gen/gen_bench_sigs.py --ndb 20000), compiles it,
 * reopens the image, and scans MB (default 256) of random bytes (xorshift,
 * fixed seed) ROUNDS times (default 3), printing the best round.  Also
 * scans the first MB of FILE if given (real binaries hit more anchors), and
 * a buffer of one repeated byte (0x41), the anchor-hostile case.
 * Not part of the test suite: a measuring tool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ampscan/sigs.h"
#include "ndb.h"
#include "ndb_int.h"

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
bench_count(void *arg, uint32_t id)
{
	(void)id;
	(*(unsigned long *)arg)++;
	return 0;
}

static struct ndb_builder *
bench_load(const char *path, unsigned *loaded, unsigned *refused)
{
	struct ndb_builder *b;
	FILE *f = fopen(path, "r");
	char *line = NULL, err[256];
	size_t cap = 0;
	ssize_t n;
	uint32_t id = 0;

	if (f == NULL || ndb_builder_new(&b) != 0)
		exit(2);
	while ((n = getline(&line, &cap, f)) > 0) {
		struct sig s;

		if (line[n - 1] == '\n')
			n--;
		if (sig_parse_line(SIG_TYPE_NDB, line, (size_t)n, &s, err,
		    sizeof(err)) != SIG_OK)
			continue;
		if (ndb_builder_add(b, &s, id++, err, sizeof(err)) == 0)
			(*loaded)++;
		else
			(*refused)++;
	}
	free(line);
	fclose(f);
	return b;
}

static void
bench_scan(const struct ndb_set *set, const uint8_t *buf, size_t len,
    int rounds, const char *what)
{
	double best = 1e9;
	unsigned long hits = 0;
	struct ndb_scan_stats st;

	for (int r = 0; r < rounds; r++) {
		double t0 = bench_now();

		hits = 0;
		ndb_set_scan(set, buf, len, bench_count, &hits);
		t0 = bench_now() - t0;
		if (t0 < best)
			best = t0;
	}
	ndb_set_scan_stats(set, buf, len, bench_count, &hits, &st);
	printf("%s: %zu MB in %.3f s: %.0f MB/s, %lu matches; filter hits %llu, steps %llu, anchor hits %llu, part checks %llu\n",
	    what, len >> 20, best, (double)len / 1048576.0 / best, hits,
	    (unsigned long long)st.filter_hits, (unsigned long long)st.ac_steps,
	    (unsigned long long)st.anchor_hits,
	    (unsigned long long)st.part_checks);
}

int
main(int argc, char **argv)
{
	unsigned loaded = 0, refused = 0;
	size_t mb = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
	int rounds = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 3;
	size_t len = mb << 20, imglen;
	struct ndb_builder *b;
	struct ndb_set *set;
	uint8_t *img, *buf;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	double t0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_ndb DB.ndb [MB [ROUNDS]]\n");
		return 2;
	}
	t0 = bench_now();
	b = bench_load(argv[1], &loaded, &refused);
	if (ndb_builder_finish(b, &img, &imglen) != 0 ||
	    ndb_set_open(img, imglen, &set) != 0)
		return 2;
	printf("%u signatures loaded, %u refused; build %.2f s; image %.1f MB (%u subs, %u trie nodes, filter %u bits)\n",
	    loaded, refused, bench_now() - t0, (double)imglen / 1048576.0,
	    set->nsubs, set->nnodes, set->fbits);
	ndb_builder_free(b);
	if ((buf = malloc(len)) == NULL)
		return 2;
	for (size_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, len - i < 8 ? len - i : 8);
	}
	bench_scan(set, buf, len, rounds, "random");
	if (argc > 4) {
		FILE *f = fopen(argv[4], "rb");
		size_t n = f != NULL ? fread(buf, 1, len, f) : 0;

		if (f != NULL)
			fclose(f);
		bench_scan(set, buf, n, rounds, argv[4]);
	}
	memset(buf, 0x41, len);
	bench_scan(set, buf, len, rounds, "0x41 repeated");
	free(buf);
	ndb_set_close(set);
	free(img);
	return 0;
}
