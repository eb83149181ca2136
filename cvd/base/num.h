/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Numbers and hex from text: the one set of parsers every program uses
 * (container headers, cdiff scripts, state files, ampscan.conf, command
 * lines).  Each reads exactly s[0..n) (no NUL needed, nothing skipped:
 * no sign, space or "0x" unless said) and says what was wrong.
 */
#ifndef AMPSCAN_NUM_H
#define AMPSCAN_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum num_rc {
	NUM_OK = 0,
	NUM_SYNTAX,     /* empty, or a byte that does not belong */
	NUM_RANGE,      /* well formed, but too large for the type */
};

/* Flags for num_u64/num_i64. */
#define NUM_CANONICAL 0x1u   /* no leading zero (but "0"), no "-0": what we write */

/*
 * Decimal digits at the start of s[0..n): *used says how many (0 is
 * NUM_SYNTAX); past UINT64_MAX is NUM_RANGE, the digits still consumed.
 */
enum num_rc num_prefix_u64(const char *s, size_t n, size_t *used,
    uint64_t *out);

/* All of s[0..n) a decimal number; *out is set only on NUM_OK. */
enum num_rc num_u64(const char *s, size_t n, unsigned flags, uint64_t *out);

/* The same with an optional leading '-'. */
enum num_rc num_i64(const char *s, size_t n, unsigned flags, int64_t *out);

/* A duration: digits and a unit of "" (seconds), ms, s, m or h; in ms. */
enum num_rc num_duration_ms(const char *s, size_t n, uint64_t *out);

/* A size: digits and an optional K, M or G (either case; powers of 1024). */
enum num_rc num_size(const char *s, size_t n, uint64_t *out);

/* A hex digit's value, 0..15, or -1. */
int num_hexval(int c);

/* All of s[0..n) hex digits (either case, no "0x"): a number. */
enum num_rc num_hex_u64(const char *s, size_t n, uint64_t *out);

/* Flags for num_unhex. */
#define NUM_HEX_LOWER 0x1u   /* refuse A-F: what we write */

/* 2*nbytes hex digits into nbytes bytes; false on a non-digit. */
bool num_unhex(const char *s, size_t nbytes, unsigned flags, uint8_t *out);

/* nbytes bytes as lower-case hex into out (2*nbytes + 1 bytes, NUL-ended). */
void num_hex(const uint8_t *p, size_t nbytes, char *out);

#endif
