/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscan: signature line syntax of the database types the engine loads.
 *
 * A parser, not a matcher: each function checks one line of a signature
 * database against ClamAV's documented syntax (see docs/definitions.md)
 * and returns its fields as views into the caller's line.  No allocation, no
 * global state; safe on hostile input of any length.
 */
#ifndef AMPSCAN_SIGS_H
#define AMPSCAN_SIGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Database types, by member file extension. */
enum sig_type {
	SIG_TYPE_HDB,   /* MD5:Size:Name */
	SIG_TYPE_HSB,   /* Hash:Size:Name[:MinFL[:MaxFL]], MD5/SHA-1/SHA-256 */
	SIG_TYPE_NDB,   /* Name:TargetType:Offset:HexSig[:MinFL[:MaxFL]] */
	SIG_TYPE_FP,    /* as HDB: known clean */
	SIG_TYPE_SFP,   /* as HSB: known clean */
	SIG_TYPE_IGN2,  /* Name or Name:MD5 (or old x:y:Name): disable it */
	SIG_TYPE_OTHER, /* any other extension: counted, not parsed */
};

/* Longest line any parser accepts; longer is an error (a named cap). */
#define SIG_LINE_MAX 65536
/* Longest signature name. */
#define SIG_NAME_MAX 255
/* Size value meaning "any size" (`*` in the Size field). */
#define SIG_SIZE_ANY UINT64_MAX

/* Return codes of sig_parse_line(). */
#define SIG_OK 0     /* a signature, fields in *out */
#define SIG_SKIP 1   /* a comment or blank line: nothing to load */
#define SIG_EINVAL (-1)

enum sig_offset_kind {
	SIG_OFF_ANY,     /* `*` */
	SIG_OFF_ABS,     /* n or n,maxshift */
	SIG_OFF_EOF,     /* EOF-n or EOF-n,maxshift */
	SIG_OFF_OTHER,   /* EP+n, EP-n, Sx+n, SEx, ...: valid syntax, not loaded */
};

/* A view into the line the parser was given. */
struct sig_str {
	const char *p;
	size_t len;
};

struct sig_hash {
	uint8_t digest[32];
	size_t digest_len;       /* 16 (MD5), 20 (SHA-1) or 32 (SHA-256) */
	uint64_t size;           /* SIG_SIZE_ANY for `*` */
};

/* The highest .ndb TargetType ClamAV reads; above it a line is skipped. */
#define SIG_NDB_TARGET_MAX 14

struct sig_ndb {
	unsigned target;         /* TargetType, 0..SIG_NDB_TARGET_MAX */
	enum sig_offset_kind offset_kind;
	uint64_t offset;         /* n for ABS and EOF */
	uint64_t maxshift;       /* 0 when absent */
	bool has_maxshift;
	struct sig_str pattern;  /* HexSig, syntax checked */
};

struct sig {
	enum sig_type type;
	struct sig_str name;
	unsigned min_flevel;     /* 0 when absent */
	unsigned max_flevel;     /* 0 when absent (no upper bound) */
	bool loadable;           /* the engine can honour it exactly */
	bool flevel_skip;        /* CVD_ENGINE_FLEVEL is outside MinFL..MaxFL */
	union {
		struct sig_hash hash;    /* HDB, HSB, FP, SFP; IGN2 Name:MD5 */
		struct sig_ndb ndb;      /* NDB */
	} u;
};

/*
 * The type of a database member from its file name (extension after the
 * last dot): "daily.hdb" -> SIG_TYPE_HDB; unknown -> SIG_TYPE_OTHER.
 */
enum sig_type sig_type_from_name(const char *name);

/* The extension string of a type ("hdb", ...; "other"). */
const char *sig_type_name(enum sig_type t);

/*
 * Parse one line of a database of type t.  line has no trailing newline; a
 * trailing '\r' is accepted and ignored.  Returns SIG_OK with *out filled,
 * SIG_SKIP for a comment or blank line, or SIG_EINVAL with a message in err
 * naming the field and what was wrong ("field 2 (size): empty"; positions
 * count from 1 within the field).  *out is cleared on entry.  Never reads
 * past line[len].
 *
 * A line ClamAV skips unread is SIG_OK with loadable false and only the name
 * and levels checked: flevel_skip set when its MinFL/MaxFL exclude
 * CVD_ENGINE_FLEVEL, or an .ndb TargetType above 14.  .ndb loadable needs
 * offset *, n or EOF-n and a pattern the engine matches exactly (see
 * sig_ndb_pattern_check).  Hash and .ign2 lines are otherwise loadable.
 */
int sig_parse_line(enum sig_type t, const char *line, size_t len,
    struct sig *out, char *err, size_t errlen);

/*
 * Check an .ndb body pattern (HexSig).  Returns 0 if the syntax is valid
 * (what ClamAV would load); otherwise SIG_EINVAL with the position and
 * reason in err.  Valid but not loadable by this engine: a part (between
 * `*`/jumps) without 2 static bytes in a row, (B)/(L)/(W), nested
 * alternatives.
 */
int sig_ndb_pattern_check(const char *pat, size_t len, char *err,
    size_t errlen);

#endif
