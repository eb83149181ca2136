/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of cvd/ndb*.c: .ndb patterns compiled into an image and
 * matched against buffers.  Buffers are copied to allocations of exactly
 * their length, so a read past the end trips AddressSanitizer.  Expected
 * verdicts were checked against clamscan 1.4.6 (tests/integration/
 * ndb_diff.sh does that wholesale).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ampscan/sigs.h"
#include "ndb.h"
#include "ndb_int.h"

#define ERRLEN 256
#define MAX_SIGS 64

/* A compiled set of up to MAX_SIGS lines; name_id = line index. */
struct tset {
	uint8_t *img;
	size_t len;
	struct ndb_set *set;
	size_t n;
};

struct hits {
	uint64_t mask;
	unsigned calls;
	unsigned stop_after;    /* 0: never stop */
};

static int
hits_cb(void *arg, uint32_t id)
{
	struct hits *h = arg;

	assert_true(id < MAX_SIGS);
	if (h->mask & ((uint64_t)1 << id))
		fail_msg("signature %u reported twice", id);
	h->mask |= (uint64_t)1 << id;
	h->calls++;
	return h->stop_after != 0 && h->calls >= h->stop_after;
}

static int
count_cb(void *arg, uint32_t id)
{
	(void)id;
	(*(unsigned long *)arg)++;
	return 0;
}

/* Add one line; returns ndb_builder_add's code. */
static int
add_line(struct ndb_builder *b, const char *line, uint32_t id, char *err)
{
	struct sig s;
	char perr[ERRLEN];
	int rc = sig_parse_line(SIG_TYPE_NDB, line, strlen(line), &s, perr,
	    sizeof(perr));

	if (rc != SIG_OK)
		fail_msg("'%s' does not parse: %s", line, perr);
	return ndb_builder_add(b, &s, id, err, ERRLEN);
}

static void
tset_build(struct tset *t, const char *const *lines, size_t n)
{
	struct ndb_builder *b;
	char err[ERRLEN];
	uint8_t *img;

	memset(t, 0, sizeof(*t));
	assert_int_equal(ndb_builder_new(&b), 0);
	for (size_t k = 0; k < n; k++) {
		int rc = add_line(b, lines[k], (uint32_t)k, err);

		if (rc != 0)
			fail_msg("'%s' not added (%d): %s", lines[k], rc, err);
	}
	assert_int_equal(ndb_builder_finish(b, &img, &t->len), 0);
	ndb_builder_free(b);
	/* A copy of exactly the image's length, for ASan. */
	t->img = malloc(t->len);
	assert_non_null(t->img);
	memcpy(t->img, img, t->len);
	free(img);
	assert_int_equal(ndb_set_open(t->img, t->len, &t->set), 0);
	t->n = n;
}

static void
tset_free(struct tset *t)
{
	ndb_set_close(t->set);
	free(t->img);
}

static uint64_t
tset_scan_st(const struct tset *t, const void *data, size_t len,
    struct ndb_scan_stats *st)
{
	uint8_t *buf = malloc(len > 0 ? len : 1);
	struct hits h = { 0 };

	assert_non_null(buf);
	if (len > 0)
		memcpy(buf, data, len);
	assert_int_equal(ndb_set_scan_stats(t->set, len > 0 ? buf : NULL, len,
	    hits_cb, &h, st), 0);
	free(buf);
	return h.mask;
}

static uint64_t
tset_scan(const struct tset *t, const void *data, size_t len)
{
	return tset_scan_st(t, data, len, NULL);
}

/* One signature "T:0:off:pat" against buf: does it match? */
static bool
one(const char *pat, const char *off, const void *buf, size_t len)
{
	char line[1024];
	const char *lines[1] = { line };
	struct tset t;
	uint64_t m;

	snprintf(line, sizeof(line), "T:0:%s:%s", off, pat);
	tset_build(&t, lines, 1);
	m = tset_scan(&t, buf, len);
	tset_free(&t);
	return m != 0;
}

struct row {
	const char *pat;
	const char *off;
	const char *buf;        /* bytes; \x escapes for the rest */
	size_t len;             /* 0: strlen(buf) */
	bool match;
};

static void
run_rows(const struct row *r, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t len = r[k].len ? r[k].len : strlen(r[k].buf);

		if (one(r[k].pat, r[k].off, r[k].buf, len) != r[k].match)
			fail_msg("row %zu: %s at %s in '%s': want %s", k,
			    r[k].pat, r[k].off, r[k].buf,
			    r[k].match ? "match" : "no match");
	}
}

#define ROWS(r) run_rows(r, sizeof(r) / sizeof(r[0]))

/* ---- tokens ------------------------------------------------------------ */

static void
test_ndb_static_bytes_at_edges(void **state)
{
	static const struct row r[] = {
		{ "41424344", "*", "ABCD", 0, true },       /* whole buffer */
		{ "41424344", "*", "ABCDzz", 0, true },     /* at the start */
		{ "41424344", "*", "zzABCD", 0, true },     /* at the end */
		{ "41424344", "*", "zzABC", 0, false },     /* cut by the end */
		{ "41424344", "*", "BCDzz", 0, false },
		{ "41424344", "*", "ABCCD", 0, false },
		{ "41424344", "*", "", 0, false },
		{ "414243", "*", "zAB", 0, false },
		{ "61626364", "*", "abcd", 0, true },
		{ "6162636465666768696a6b6c6d6e6f707172737475767778797a", "*",
		    "..abcdefghijklmnopqrstuvwxyz..", 0, true },     /* > anchor */
		{ "6162636465666768696a6b6c6d6e6f707172737475767778797a", "*",
		    "..abcdefghijklmnopqrstuvwxyZ..", 0, false },    /* past it */
		{ "00000000", "*", "\0\0\0\0", 4, true },
	};

	(void)state;
	ROWS(r);
}

static void
test_ndb_wildcards_and_nibbles(void **state)
{
	static const struct row r[] = {
		{ "41??4344", "*", "AxCD", 0, true },
		{ "41??4344", "*", "ACD", 0, false },
		{ "??41424344", "*", "ABCD", 0, false },    /* no byte before */
		{ "??41424344", "*", "zABCD", 0, true },
		{ "41424344??", "*", "ABCD", 0, false },    /* no byte after */
		{ "41424344??", "*", "ABCDz", 0, true },
		{ "4?424344", "*", "OBCD", 0, true },       /* 0x4f */
		{ "4?424344", "*", "_BCD", 0, false },      /* 0x5f */
		{ "?1424344", "*", "qBCD", 0, true },       /* 0x71 */
		{ "?1424344", "*", "rBCD", 0, false },
		{ "41424344?5", "*", "ABCDu", 0, true },    /* 0x75 */
		{ "41424344?5", "*", "ABCDv", 0, false },
		{ "41424344a?", "*", "ABCD\xaf", 0, true },
		{ "41424344a?", "*", "ABCD\xbf", 0, false },
		{ "4142{2}4344", "*", "ABxxCD", 0, true },  /* inline `??`s */
		{ "4142{2}4344", "*", "ABxCD", 0, false },
		{ "4142{2}4344", "*", "ABxxxCD", 0, false },
		{ "{2}41424344", "0", "xxABCD", 0, true },
		{ "{2}41424344", "2", "xxABCD", 0, false },
		{ "4142{127}4344", "*", NULL, 0, true },    /* filled below */
	};
	char buf[140];
	struct row big = r[sizeof(r) / sizeof(r[0]) - 1];

	(void)state;
	run_rows(r, sizeof(r) / sizeof(r[0]) - 1);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "AB", 2);
	memcpy(buf + 129, "CD", 2);
	assert_true(one(big.pat, "*", buf, 131));
	assert_false(one(big.pat, "*", buf, 130));
}

static void
test_ndb_jumps(void **state)
{
	static const struct row r[] = {
		{ "4142*4344", "*", "ABCD", 0, true },      /* gap 0 */
		{ "4142*4344", "*", "ABxxxxxxxxxxxxxxCD", 0, true },
		{ "4142*4344", "*", "CDAB", 0, false },     /* order */
		{ "414243*4344", "*", "ABCD", 0, false },   /* no overlap */
		{ "414243*4344", "*", "ABCCD", 0, true },
		{ "4142{2-3}4344", "*", "ABxCD", 0, false },
		{ "4142{2-3}4344", "*", "ABxxCD", 0, true },
		{ "4142{2-3}4344", "*", "ABxxxCD", 0, true },
		{ "4142{2-3}4344", "*", "ABxxxxCD", 0, false },
		{ "4142{-2}4344", "*", "ABCD", 0, true },
		{ "4142{-2}4344", "*", "ABxxCD", 0, true },
		{ "4142{-2}4344", "*", "ABxxxCD", 0, false },
		{ "4142{2-}4344", "*", "ABxCD", 0, false },
		{ "4142{2-}4344", "*", "ABxxCD", 0, true },
		{ "4142{2-}4344", "*", "ABxxxxxxxxxxxxxxxxxxCD", 0, true },
		/* ClamAV reads a maximum of 0 as none: {0}, {0-0}, {-0} are `*` */
		{ "4142{0}4344", "*", "ABxxxxxCD", 0, true },
		{ "4142{0-0}4344", "*", "ABxxxxxCD", 0, true },
		{ "4142{-0}4344", "*", "ABxxxxxCD", 0, true },
		{ "4142{0-0}4344", "*", "CDxxAB", 0, false },
		/* {n} after a brace jump is a jump of exactly n */
		{ "4142{1-2}4344{3}4546", "*", "ABxCDxxxEF", 0, true },
		{ "4142{1-2}4344{3}4546", "*", "ABxCDxxEF", 0, false },
		{ "4142*4344{3}4546", "*", "ABCDxxxEF", 0, true },
		{ "4142{1-1}4344{2-2}4546{0-1}4748", "*", "ABxCDxxEFGH", 0,
		    true },
	};
	char buf[300];

	(void)state;
	ROWS(r);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "AB", 2);
	memcpy(buf + 202, "CD", 2);
	assert_true(one("4142{200}4344", "*", buf, 204));
	memcpy(buf + 201, "CD", 2);
	assert_false(one("4142{200}4344", "*", buf, 203));
	memcpy(buf + 203, "CD", 2);
	buf[202] = 'x';
	assert_false(one("4142{200}4344", "*", buf, 205));
}

static void
test_ndb_alternatives(void **state)
{
	static const struct row r[] = {
		{ "4142(43|44)4546", "*", "ABCEF", 0, true },
		{ "4142(43|44)4546", "*", "ABDEF", 0, true },
		{ "4142(43|44)4546", "*", "ABXEF", 0, false },
		{ "4142(4344|45)4647", "*", "ABCDFG", 0, true },  /* lengths */
		{ "4142(4344|45)4647", "*", "ABEFG", 0, true },
		{ "4142(4344|45)4647", "*", "ABCFG", 0, false },
		{ "4142(43??|45)4647", "*", "ABCzFG", 0, true },  /* wildcards */
		{ "4142(43??|45)4647", "*", "ABEFG", 0, true },
		{ "4142(4?44|4546)4748", "*", "ABOD" "GH", 0, true },
		{ "4142(4?44|4546)4748", "*", "AB_DGH", 0, false },
		{ "4142(43{2}|45)4647", "*", "ABCxyFG", 0, true },
		{ "(41|42)434445", "*", "ACDE", 0, true },       /* at start */
		{ "(41|42)434445", "*", "BCDE", 0, true },
		{ "(41|42)434445", "*", "CCDE", 0, false },
		{ "434445(41|42)", "*", "CDEB", 0, true },       /* at end */
		{ "434445(41|42)", "*", "CDE", 0, false },
		{ "4142(4344|45)", "*", "ABE", 0, true },
		{ "4142(4344|45)", "*", "ABC", 0, false },
		{ "(4142|4344)45464748", "0", "CDEFGH", 0, true },
		{ "(4142|4344)45464748", "1", "CDEFGH", 0, false },
	};

	(void)state;
	ROWS(r);
}

static void
test_ndb_negated_alternatives(void **state)
{
	static const struct row r[] = {
		{ "4142!(43|44)4546", "*", "ABXEF", 0, true },
		{ "4142!(43|44)4546", "*", "ABCEF", 0, false },
		{ "4142!(43|44)4546", "*", "ABDEF", 0, false },
		{ "4142!(43|44)4546", "*", "ABEF", 0, false },
		{ "4142!(4344|4546)4748", "*", "ABzzGH", 0, true },
		{ "4142!(4344|4546)4748", "*", "ABCzGH", 0, true },
		{ "4142!(4344|4546)4748", "*", "ABCDGH", 0, false },
		{ "4142!(4344|4546)4748", "*", "ABEFGH", 0, false },
		{ "!(41|42)434445", "0", "zCDE", 0, true },
		{ "!(41|42)434445", "0", "ACDE", 0, false },
		{ "!(41|42)434445", "*", "CDE", 0, false },     /* no byte */
		{ "434445!(41|42)", "*", "CDEC", 0, true },
		{ "434445!(41|42)", "*", "CDEA", 0, false },
		{ "434445!(41|42)", "*", "CDE", 0, false },     /* at the end */
	};

	(void)state;
	ROWS(r);
}

static void
test_ndb_anchored_byte(void **state)
{
	static const struct row r[] = {
		{ "41[1-3]424344", "*", "ABCD", 0, false },
		{ "41[1-3]424344", "*", "AxBCD", 0, true },
		{ "41[1-3]424344", "*", "AxxxBCD", 0, true },
		{ "41[1-3]424344", "*", "AxxxxBCD", 0, false },
		{ "41[1-3]424344", "*", "xBCD", 0, false },
		{ "424344[1-3]45", "*", "BCDE", 0, false },
		{ "424344[1-3]45", "*", "BCDxE", 0, true },
		{ "424344[1-3]45", "*", "BCDxxxE", 0, true },
		{ "424344[1-3]45", "*", "BCDxxxxE", 0, false },
		{ "424344[1-3]45", "*", "BCDxx", 0, false },
		{ "424344[0-0]45", "*", "BCDE", 0, true },
		/* offsets and jumps measure from HEXSIG, not from the byte */
		{ "41[1-3]42434445", "2", "AxBCDE", 0, true },
		{ "41[1-3]42434445", "0", "AxBCDE", 0, false },
		{ "4142*41[1-2]4344", "*", "ABCD", 0, true },  /* overlaps */
		{ "4142*41[1-2]4344", "*", "AzCD", 0, false },
		{ "4344[1-2]45{0-3}4142", "*", "CDABE", 0, true },
		{ "4344[1-2]45{0-3}4142", "*", "CDzEzzAB", 0, false },
		{ "4142{0-3}45[1-2]4344", "*", "ABzzEzCD", 0, false },
		{ "4142{0-3}45[1-2]4344", "*", "ABEzCD", 0, true },
	};

	(void)state;
	ROWS(r);
}

/* ---- offsets ----------------------------------------------------------- */

static void
test_ndb_offsets(void **state)
{
	static const struct row r[] = {
		{ "41424344", "0", "ABCDxx", 0, true },
		{ "41424344", "0", "xABCDx", 0, false },
		{ "41424344", "3", "xxxABCDxx", 0, true },
		{ "41424344", "3", "xxABCDxxx", 0, false },
		{ "41424344", "3", "xxxxABCDx", 0, false },
		{ "41424344", "3,2", "xxABCDxxx", 0, false },
		{ "41424344", "3,2", "xxxABCDxxx", 0, true },
		{ "41424344", "3,2", "xxxxxABCD", 0, true },
		{ "41424344", "3,2", "xxxxxxABCD", 0, false },
		{ "41424344", "9", "xxxxxABCD", 0, false },     /* past it */
		{ "41424344", "EOF-4", "xxABCD", 0, true },
		{ "41424344", "EOF-5", "xxABCD", 0, false },
		{ "41424344", "EOF-5", "xABCDx", 0, true },
		{ "41424344", "EOF-6,2", "xABCDxxx", 0, false },
		{ "41424344", "EOF-6,2", "xxABCDxx", 0, true },
		{ "41424344", "EOF-6,2", "xxxxABCD", 0, true },
		{ "41424344", "EOF-6", "ABCDxx", 0, true },      /* EOF-len */
		/* EOF-n beyond the start never matches, maxshift or not */
		{ "41424344", "EOF-7,5", "ABCDxx", 0, false },
		{ "4142*4344", "0", "ABzCD", 0, true },
		{ "4142*4344", "0", "zABzCD", 0, false },
		{ "4142*4344", "1,2", "zzzABzCD", 0, true },
		{ "4142*4344", "1,2", "zzzzABzCD", 0, false },
		{ "4142*4344", "EOF-5", "xxxABzCD", 0, true },
		/* a leading wildcard is part of the pattern: it starts there */
		{ "??41424344", "0", "zABCD", 0, true },
		{ "??41424344", "1", "zABCD", 0, false },
		{ "{3}41424344", "EOF-7", "zzzABCD", 0, true },
	};

	(void)state;
	ROWS(r);
}

/* ---- several signatures ------------------------------------------------ */

static void
test_ndb_shared_anchors(void **state)
{
	static const char *const lines[] = {
		"S0:0:*:41424344",
		"S1:0:*:4142434445",
		"S2:0:*:41424344*4647",
		"S3:0:0:41424344",
		"S4:0:*:41424344",              /* the same pattern again */
		"S5:0:*:4142434446",
		"S6:0:*:424344",                /* a suffix of others */
		"S7:0:1:41424344",
	};
	struct tset t;

	(void)state;
	tset_build(&t, lines, 8);
	assert_int_equal(ndb_set_count(t.set), 8);
	assert_int_equal(tset_scan(&t, "ABCDExFG", 8), 0x5f);
	assert_int_equal(tset_scan(&t, "xABCDF", 6), 0xf1);
	assert_int_equal(tset_scan(&t, "BCD", 3), 0x40);
	tset_free(&t);
}

/* Where the automaton anchors does not change what matches. */
static void
test_ndb_anchor_in_middle_or_end(void **state)
{
	static const char *const lines[] = {
		"M0:0:*:????????41424344",
		"M1:0:*:4?4?4?4?4?4142434445",
		"M2:0:*:4142*434445464748494a4b",
		"M3:0:*:4142{1-3}4344*45464748494a4b4c4d4e",
		"M4:0:EOF-12:4142*434445464748494a4b",
	};
	struct tset t;
	const uint8_t *sub;

	(void)state;
	tset_build(&t, lines, 5);
	/* M2's anchor is in its second part, M3's in its third */
	sub = t.set->subs + 2 * NDB_SUB_SIZE;
	assert_int_equal(ndb_ld32(sub + NDB_SUB_APART), 1);
	sub = t.set->subs + 3 * NDB_SUB_SIZE;
	assert_int_equal(ndb_ld32(sub + NDB_SUB_APART), 2);
	assert_int_equal(tset_scan(&t, "1234ABCD", 8), 0x1);
	assert_int_equal(tset_scan(&t, "123ABCD", 7), 0x0);
	assert_int_equal(tset_scan(&t, "ABABABABABCDE", 13), 0x3);
	assert_int_equal(tset_scan(&t, "ABxCDEFGHIJK", 12), 0x14);
	assert_int_equal(tset_scan(&t, "ABxCDEFGHIJKx", 13), 0x4);
	assert_int_equal(tset_scan(&t, "CDEFGHIJKAB", 11), 0x0);
	assert_int_equal(tset_scan(&t, "ABxxCDyyEFGHIJKLMN", 18), 0x8);
	assert_int_equal(tset_scan(&t, "ABxxxxCDyyEFGHIJKLMN", 20), 0x0);
	tset_free(&t);
}

/* ---- existential matching and its bounds -------------------------------- */

static void
test_ndb_needs_a_later_occurrence(void **state)
{
	static const struct row r[] = {
		/* the first AB is too far from CD; the second is right */
		{ "4142{2-2}4344", "*", "ABxABxxCD", 0, true },
		/* the latest AB is too close; an earlier one fits */
		{ "4142{5-10}4344", "*", "ABxxABxxxxCD", 0, true },
		/* the first CD leads nowhere; the second leads to EF */
		{ "4142{0-10}4344{3-3}4546", "*", "ABxxCDxxxxCDxxxEF", 0, true },
		{ "4142{0-10}4344{3-3}4546", "*", "ABxxCDxxxxCDxxEF", 0, false },
		/* a decoy part 0 before the real match */
		{ "41424142{5-6}4344", "*", "ABABxxxxxxxxABABxxxxxCD", 0, true },
	};

	(void)state;
	ROWS(r);
}

static void
test_ndb_hostile_buffer_is_linear(void **state)
{
	static const char *const lines[] = {
		/* anchors on 41414141 (0041 scores lower: 00 is common) */
		"H0:0:*:41414141*41414141*41414141*0041",
		"H1:0:*:41414141{0-1000000}41414141{0-1000000}0041",
		"H2:0:*:41414141414141414141??42",
		"H3:0:*:41414141{5-7}41414141{5-7}41414141{5-7}0041",
	};
	size_t len = 1 << 20;
	uint8_t *buf = malloc(len);
	struct ndb_scan_stats st;
	struct tset t;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0x41, len);
	tset_build(&t, lines, 4);
	assert_int_equal(tset_scan_st(&t, buf, len, &st), 0);
	/* each multi-part signature is evaluated once, each level's cursor
	 * crosses the buffer at most once; H2 is checked at every hit */
	assert_int_equal(st.chain_evals, 3);
	assert_true(st.part_checks <= 3 * 4 * (uint64_t)len + len);
	assert_true(st.ac_steps <= 2 * (uint64_t)len);
	buf[len - 2] = 0x00;
	buf[len - 4] = 0x42;
	assert_int_equal(tset_scan_st(&t, buf, len, &st), 0xf);
	assert_true(st.part_checks <= 3 * 4 * (uint64_t)len + len);
	tset_free(&t);
	free(buf);
}

static void
test_ndb_first_match_stops(void **state)
{
	static const char *const lines[] = {
		"F0:0:*:41424344", "F1:0:*:45464748", "F2:0:*:494a4b4c",
	};
	struct tset t;
	struct hits h = { 0, 0, 1 };

	(void)state;
	tset_build(&t, lines, 3);
	assert_int_equal(ndb_set_scan(t.set, (const uint8_t *)"ABCDEFGHIJKL",
	    12, hits_cb, &h), 0);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.mask, 1);
	tset_free(&t);
}

/* Variants (alternatives of several lengths) are reported once. */
static void
test_ndb_variants_report_once(void **state)
{
	static const char *const lines[] = {
		"V0:0:*:4142(4344|45)(46|4748)494a",
	};
	struct tset t;

	(void)state;
	tset_build(&t, lines, 1);
	assert_int_equal(t.set->nsubs, 4);
	assert_int_equal(tset_scan(&t, "ABCDFIJ ABEGHIJ ABEFIJ ABCDGHIJ", 31),
	    1);
	assert_int_equal(tset_scan(&t, "ABEGHI", 6), 0);
	tset_free(&t);
}

/* ---- what is refused ----------------------------------------------------- */

struct refusal {
	const char *line;
	int rc;
	const char *msg;
};

static void
test_ndb_refuses_what_it_cannot_honour(void **state)
{
	static const struct refusal r[] = {
		{ "R:1:*:41424344", NDB_ENOTSUP, "TargetType 1" },
		{ "R:0:*:41424344:999", NDB_ENOTSUP, "MinFL" },
		{ "R:0:2147483648:41424344", NDB_ENOTSUP, "offset" },
		{ "R:0:1,2147483648:41424344", NDB_ENOTSUP, "offset" },
		{ "R:0:EOF-4294967297:41424344", NDB_ENOTSUP, "offset" },
		{ "R:0:*:4142(B)4344", NDB_ENOTSUP, "not loadable" },
		{ "R:0:*:4142((43|44)|45)4647", NDB_ENOTSUP, "not loadable" },
		{ "R:0:*:??[1-2]434445", NDB_ENOTSUP, "wildcard byte" },
		{ "R:0:*:4?[1-2]434445", NDB_ENOTSUP, "wildcard byte" },
		{ "R:0:*:434445[1-2]4?", NDB_ENOTSUP, "wildcard byte" },
		{ "R:0:*:4142(????43|44)4546", NDB_ENOTSUP, "two wildcard" },
		{ "R:0:*:4142(85|8579)4546", NDB_ENOTSUP, "start of" },
		{ "R:0:*:4142(85|??79)4546", NDB_ENOTSUP, "start of" },
		{ "R:0:*:41(42|4343)(44|4545)(46|4747)(48|4949)(4a|4b4b)"
		    "(4c|4d4d)(4e|4f4f)5051", NDB_ENOTSUP, "variants" },
	};
	struct ndb_builder *b;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(ndb_builder_new(&b), 0);
	for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++) {
		struct sig s;
		int rc;

		if (sig_parse_line(SIG_TYPE_NDB, r[k].line, strlen(r[k].line),
		    &s, err, sizeof(err)) != SIG_OK)
			fail_msg("'%s' does not parse: %s", r[k].line, err);
		rc = ndb_builder_add(b, &s, 0, err, sizeof(err));
		if (rc != r[k].rc || strstr(err, r[k].msg) == NULL)
			fail_msg("'%s': want %d '%s', got %d '%s'", r[k].line,
			    r[k].rc, r[k].msg, rc, err);
	}
	ndb_builder_free(b);
}

static void
test_ndb_too_many_parts(void **state)
{
	char line[NDB_PARTS_MAX * 6 + 64];
	struct ndb_builder *b;
	char err[ERRLEN];
	size_t n;

	(void)state;
	n = (size_t)snprintf(line, sizeof(line), "P:0:*:4142");
	for (int k = 0; k < NDB_PARTS_MAX; k++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "*4142");
	assert_int_equal(ndb_builder_new(&b), 0);
	assert_int_equal(add_line(b, line, 0, err), NDB_ENOTSUP);
	assert_non_null(strstr(err, "parts"));
	/* a refused line leaves nothing behind */
	assert_int_equal(add_line(b, "OK:0:*:41424344", 1, err), 0);
	ndb_builder_free(b);
}

/* ---- the image ----------------------------------------------------------- */

static const char *const image_lines[] = {
	"I0:0:*:41424344",
	"I1:0:*:4142{2-4}(4344|45)4647*!(00|ff)4849[1-2]4a",
	"I2:0:EOF-8,2:4?4243??44",
	"I3:0:3:4b4c(4d|4e)4f",
	"I4:0:*:4c4d20",
};
static const char image_buf[] = "ABCDxxABxxEFGzzHIyJ KLNO LM OBCxDxxx";

static void
test_ndb_image_round_trip(void **state)
{
	struct tset t;
	struct ndb_set *again;
	uint8_t *copy;
	uint64_t want;

	(void)state;
	tset_build(&t, image_lines, 5);
	want = tset_scan(&t, image_buf, sizeof(image_buf) - 1);
	assert_int_equal(want, 0x17);
	/* another copy, another view: the same answers */
	copy = malloc(t.len);
	assert_non_null(copy);
	memcpy(copy, t.img, t.len);
	assert_int_equal(ndb_set_open(copy, t.len, &again), 0);
	assert_int_equal(ndb_set_count(again), 5);
	{
		struct hits h = { 0 };

		assert_int_equal(ndb_set_scan(again,
		    (const uint8_t *)image_buf, sizeof(image_buf) - 1,
		    hits_cb, &h), 0);
		assert_int_equal(h.mask, want);
	}
	ndb_set_close(again);
	free(copy);
	tset_free(&t);
}

static void
test_ndb_empty_set(void **state)
{
	struct tset t;

	(void)state;
	tset_build(&t, NULL, 0);
	assert_int_equal(ndb_set_count(t.set), 0);
	assert_int_equal(tset_scan(&t, "ABCD", 4), 0);
	assert_int_equal(tset_scan(&t, "", 0), 0);
	tset_free(&t);
}

static void
test_ndb_open_rejects_truncation(void **state)
{
	struct tset t;
	struct ndb_set *s;

	(void)state;
	tset_build(&t, image_lines, 5);
	for (size_t k = 0; k < t.len; k += 8) {
		uint8_t *cut = malloc(k > 0 ? k : 1);

		assert_non_null(cut);
		memcpy(cut, t.img, k);
		assert_int_equal(ndb_set_open(cut, k, &s), NDB_EINVAL);
		assert_null(s);
		free(cut);
	}
	assert_int_equal(ndb_set_open(t.img, t.len - 1, &s), NDB_EINVAL);
	assert_int_equal(ndb_set_open(NULL, 0, &s), NDB_EINVAL);
	tset_free(&t);
}

/* Write v at off of a copy of the image; ndb_set_open must refuse it. */
static void
expect_rejected(const struct tset *t, size_t off, size_t width, uint64_t v)
{
	uint8_t *c = malloc(t->len);
	struct ndb_set *s;

	assert_non_null(c);
	memcpy(c, t->img, t->len);
	if (width == 8)
		ndb_st64(c + off, v);
	else if (width == 4)
		ndb_st32(c + off, (uint32_t)v);
	else
		c[off] = (uint8_t)v;
	if (ndb_set_open(c, t->len, &s) != NDB_EINVAL)
		fail_msg("image with %#llx at %zu accepted",
		    (unsigned long long)v, off);
	free(c);
}

static size_t
sec_off(const struct tset *t, int k)
{
	return (size_t)ndb_ld64(t->img + 72 + 8 * k);
}

static void
test_ndb_open_rejects_bad_offsets(void **state)
{
	struct tset t;

	(void)state;
	tset_build(&t, image_lines, 5);
	expect_rejected(&t, 0, 1, 'X');                 /* magic */
	expect_rejected(&t, 8, 4, NDB_VERSION + 1);
	expect_rejected(&t, 16, 8, t.len + 8);          /* length */
	for (int k = 0; k < NDB_SEC_COUNT; k++) {
		size_t at = 72 + 8 * (size_t)k;

		expect_rejected(&t, at, 8, t.len);
		expect_rejected(&t, at, 8, t.len - 8);
		expect_rejected(&t, at, 8, sec_off(&t, k) + 1);
		expect_rejected(&t, at, 8, 0);
		expect_rejected(&t, at, 8, UINT64_MAX - 7);
	}
	/* counts that outgrow their sections */
	for (size_t at = 24; at <= 52; at += 4)
		expect_rejected(&t, at, 4, 0x7fffffff);
	expect_rejected(&t, 56, 4, NDB_FILTER_BITS_MAX + 1);
	expect_rejected(&t, 60, 4, NDB_PARTS_MAX + 1);
	expect_rejected(&t, 64, 8, t.len);              /* bytes */
	/* records pointing outside */
	expect_rejected(&t, sec_off(&t, NDB_SEC_SUBS) + NDB_SUB_SIG, 4, 99);
	expect_rejected(&t, sec_off(&t, NDB_SEC_SUBS) + NDB_SUB_AOFF, 4, 1000);
	expect_rejected(&t, sec_off(&t, NDB_SEC_PARTS) + NDB_PART_BYTES, 4,
	    0xfffffff0);
	expect_rejected(&t, sec_off(&t, NDB_SEC_PARTS) + NDB_PART_LEN, 4,
	    0x80000000);
	expect_rejected(&t, sec_off(&t, NDB_SEC_ALTS) + NDB_ALT_WIDTH, 4, 1000);
	expect_rejected(&t, sec_off(&t, NDB_SEC_NODES) + NDB_NODE_SIZE +
	    NDB_NODE_FAIL, 4, 1);                       /* fail to itself */
	expect_rejected(&t, sec_off(&t, NDB_SEC_ETARGETS), 4, 0x7fffffff);
	expect_rejected(&t, sec_off(&t, NDB_SEC_ETARGETS), 4, 0);
	expect_rejected(&t, sec_off(&t, NDB_SEC_OUTS), 4, 5000);
	expect_rejected(&t, sec_off(&t, NDB_SEC_DENSE), 4, 0x7fffffff);
	tset_free(&t);
}

/* Any single byte changed: refused, or scanned without harm. */
static void
test_ndb_open_survives_byte_flips(void **state)
{
	struct tset t;
	uint8_t *c;

	(void)state;
	tset_build(&t, image_lines, 5);
	c = malloc(t.len);
	assert_non_null(c);
	for (size_t k = 0; k < t.len; k++) {
		static const uint8_t flips[] = { 0x01, 0x80, 0xff };

		for (size_t f = 0; f < sizeof(flips); f++) {
			struct ndb_set *s;
			unsigned long calls = 0;

			memcpy(c, t.img, t.len);
			c[k] ^= flips[f];
			if (ndb_set_open(c, t.len, &s) != 0)
				continue;
			/* a changed name_id may repeat: count, do not check */
			assert_int_equal(ndb_set_scan(s,
			    (const uint8_t *)image_buf, sizeof(image_buf) - 1,
			    count_cb, &calls), 0);
			assert_true(calls <= 5 * NDB_VARIANTS_MAX);
			ndb_set_close(s);
		}
	}
	free(c);
	tset_free(&t);
}

/* ---- threads ------------------------------------------------------------ */

struct worker {
	const struct tset *t;
	const uint8_t *buf;
	size_t len;
	uint64_t mask;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (int k = 0; k < 50; k++) {
		struct hits h = { 0 };

		if (ndb_set_scan(w->t->set, w->buf, w->len, hits_cb, &h) != 0 ||
		    (k > 0 && h.mask != w->mask))
			return (void *)1;
		w->mask = h.mask;
	}
	return NULL;
}

static void
test_ndb_shared_set_scans_in_threads(void **state)
{
	struct tset t;
	pthread_t th[4];
	struct worker w[4];
	size_t len = 1 << 16;
	uint8_t *buf = malloc(len);

	(void)state;
	assert_non_null(buf);
	for (size_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(k * 2654435761u >> 13);
	memcpy(buf + 1000, image_buf, sizeof(image_buf) - 1);
	tset_build(&t, image_lines, 5);
	for (int k = 0; k < 4; k++) {
		w[k] = (struct worker){ &t, buf, len, 0 };
		assert_int_equal(pthread_create(&th[k], NULL, worker_run,
		    &w[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		void *rv;

		assert_int_equal(pthread_join(th[k], &rv), 0);
		assert_null(rv);
		assert_int_equal(w[k].mask, w[0].mask);
	}
	assert_int_not_equal(w[0].mask, 0);
	tset_free(&t);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ndb_static_bytes_at_edges),
		cmocka_unit_test(test_ndb_wildcards_and_nibbles),
		cmocka_unit_test(test_ndb_jumps),
		cmocka_unit_test(test_ndb_alternatives),
		cmocka_unit_test(test_ndb_negated_alternatives),
		cmocka_unit_test(test_ndb_anchored_byte),
		cmocka_unit_test(test_ndb_offsets),
		cmocka_unit_test(test_ndb_shared_anchors),
		cmocka_unit_test(test_ndb_anchor_in_middle_or_end),
		cmocka_unit_test(test_ndb_needs_a_later_occurrence),
		cmocka_unit_test(test_ndb_hostile_buffer_is_linear),
		cmocka_unit_test(test_ndb_first_match_stops),
		cmocka_unit_test(test_ndb_variants_report_once),
		cmocka_unit_test(test_ndb_refuses_what_it_cannot_honour),
		cmocka_unit_test(test_ndb_too_many_parts),
		cmocka_unit_test(test_ndb_image_round_trip),
		cmocka_unit_test(test_ndb_empty_set),
		cmocka_unit_test(test_ndb_open_rejects_truncation),
		cmocka_unit_test(test_ndb_open_rejects_bad_offsets),
		cmocka_unit_test(test_ndb_open_survives_byte_flips),
		cmocka_unit_test(test_ndb_shared_set_scans_in_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
