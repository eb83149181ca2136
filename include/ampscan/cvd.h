/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampscan: the .cvd definitions container (ClamAV format).
 *
 * One streaming pass over a container verifies all of docs/definitions.md: the
 * header, the payload MD5 and header signature, the gzip'd tar (strict
 * rules, size/count/ratio limits), every member's size and SHA-256 against
 * the .info file, the .info DSIG, an optional detached .cvd.sign (PKCS#7),
 * and the syntax of every signature line of the types the engine loads.
 * Nothing is unpacked to disk and the container is never held in memory.
 *
 * The library has no global state.  Functions return 0 or a negative
 * CVD_E* code; cvd_strerror() names the code, and the result structure
 * carries the precise message.
 */
#ifndef AMPSCAN_CVD_H
#define AMPSCAN_CVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ampscan/sigs.h"

#define CVD_HEADER_SIZE 512
#define CVD_BUILDER_MAX 32
#define CVD_TIME_MAX 64
#define CVD_DSIG_MAX 700          /* ClamAV base-64 of a 4096-bit value */
#define CVD_MEMBER_NAME_MAX 99    /* an old-style tar name field, NUL included */
#define CVD_ERRMSG_MAX 512

/* Limits (the defaults of struct cvd_limits). */
#define CVD_MAX_MEMBERS 8192
#define CVD_MAX_MEMBER_SIZE (1024ULL << 20)   /* 1 GiB per member */
#define CVD_MAX_TOTAL_SIZE (2048ULL << 20)    /* 2 GiB inflated in all */
#define CVD_MAX_RATIO 100                     /* inflated / compressed */
#define CVD_RATIO_SLACK (4ULL << 20)          /* ratio checked past this */
#define CVD_MAX_INFO_SIZE (1U << 20)          /* the .info member */
#define CVD_MAX_SIGN_SIZE (1U << 20)          /* a .cvd.sign file */

/* The functionality level this engine implements (for .sign lines). */
#define CVD_ENGINE_FLEVEL 230

enum cvd_error {
	CVD_OK = 0,
	CVD_EIO = -1,         /* the file could not be read */
	CVD_ENOMEM = -2,
	CVD_EARG = -3,        /* a caller error */
	CVD_EHEADER = -4,     /* the 512-byte header is malformed */
	CVD_EMD5 = -5,        /* payload MD5 differs from the header's */
	CVD_ESIG = -6,        /* header signature invalid or untrusted */
	CVD_EUNSIGNED = -7,   /* unsigned container, not allowed */
	CVD_EPAYLOAD = -8,    /* compressed stream corrupt or truncated */
	CVD_ETAR = -9,        /* tar structure breaks the rules */
	CVD_ELIMIT = -10,     /* a size, count or ratio limit was hit */
	CVD_EINFO = -11,      /* .info malformed or disagrees with header */
	CVD_EDSIG = -12,      /* .info DSIG invalid or untrusted */
	CVD_EMEMBER = -13,    /* member missing, unlisted, size/SHA-256 wrong */
	CVD_ECONTENT = -14,   /* a signature line does not parse */
	CVD_ESIGNFILE = -15,  /* .cvd.sign present and not valid */
	CVD_EKEY = -16,       /* a key or certificate could not be used */
	CVD_EWRITE = -17,     /* unpacking or building failed to write */
	CVD_ECALLBACK = -18,  /* a caller's sink asked to stop */
	CVD_EVERSION = -19,   /* version not newer (caller policy) */
};

const char *cvd_strerror(int err);
/* A short stable identifier of a code ("md5", "dsig", ...), for JSON. */
const char *cvd_error_id(int err);

enum cvd_kind {
	CVD_KIND_CVD,   /* signed (header dsig present) */
	CVD_KIND_CLD,   /* local rebuild: md5 and dsig X */
	CVD_KIND_CUD,   /* unsigned: dsig X */
};

struct cvd_header {
	char time[CVD_TIME_MAX];     /* as in the file: "08 Mar 2021 10-21 -0500" */
	unsigned version;
	unsigned sigs;
	unsigned flevel;
	char md5[33];                /* 32 lowercase hex, or "X" */
	char dsig[CVD_DSIG_MAX + 1]; /* ClamAV base-64, or "X" */
	char builder[CVD_BUILDER_MAX + 1];
	uint64_t stime;
	bool has_stime;
	enum cvd_kind kind;
	char line[CVD_HEADER_SIZE + 1];  /* the header line, padding stripped */
};

/*
 * Parse a 512-byte header.  Returns 0 and fills *h, or CVD_EHEADER with the
 * field and the problem in err.  *h is cleared on entry.
 */
int cvd_header_parse(const uint8_t *buf, size_t len, struct cvd_header *h,
    char *err, size_t errlen);

/* Format a header's time for display: "10-21" becomes "10:21". */
void cvd_header_display_time(const struct cvd_header *h, char *out,
    size_t outlen);

/* ---- trust: keys and certificates ---------------------------------- */

struct cvd_trust;

#define CVD_TRUST_NO_OFFICIAL 0x1   /* do not trust the built-in keys */

/* A trust store holding the official keys (unless flags say otherwise). */
int cvd_trust_new(unsigned flags, struct cvd_trust **out);
void cvd_trust_free(struct cvd_trust *t);
/*
 * Trust an operator's RSA public key (PEM, 2048 bits or more) for the
 * header signature, the .info DSIG and the .cdiff trailer.  err names the
 * file and the reason.
 */
int cvd_trust_add_key_file(struct cvd_trust *t, const char *path, char *err,
    size_t errlen);
/* The same from PEM text in memory; name is used in messages. */
int cvd_trust_add_key_pem(struct cvd_trust *t, const void *pem, size_t len,
    const char *name, char *err, size_t errlen);
/* Trust the certificates (*.pem, *.crt) of dir as roots for .cvd.sign. */
int cvd_trust_set_certs_dir(struct cvd_trust *t, const char *dir, char *err,
    size_t errlen);

/* ---- verification --------------------------------------------------- */

struct cvd_limits {
	uint64_t max_members;
	uint64_t max_member_size;
	uint64_t max_total_size;
	uint64_t max_ratio;
};

/*
 * A consumer of the members as they stream by (unpacking, the engine).
 * Data is NOT yet trusted while it streams: the verdict comes at the end,
 * and a consumer must discard what it got when verification fails.  Any
 * callback returning non-zero stops verification with CVD_ECALLBACK.
 */
struct cvd_sink {
	void *arg;
	int (*member_begin)(void *arg, const char *name, uint64_t size);
	int (*member_data)(void *arg, const uint8_t *p, size_t n);
	int (*member_end)(void *arg);
	/* Each parsed signature of a loaded type (hdb, hsb, ndb, fp, sfp, ign2). */
	int (*signature)(void *arg, const char *member, const struct sig *s);
};

#define CVD_SIGN_AUTO NULL          /* look for FILE.sign, NAME-VER.cvd.sign */

struct cvd_verify_opts {
	const struct cvd_trust *trust;   /* NULL: official keys only */
	const char *sign_path;           /* CVD_SIGN_AUTO, or a path */
	bool no_sign;                    /* do not look for a .sign at all */
	/*
	 * Accept containers nobody signed: a .cud, or a .cld whose .info has
	 * no DSIG line (sizes and SHA-256 are still checked).  A .cld whose
	 * .info carries a DSIG is verified like a signed container (DSIG by
	 * the official or a trusted key) and needs no allow_unsigned; a DSIG
	 * that does not verify is rejected even with it.
	 */
	bool allow_unsigned;
	bool serial;                     /* no helper thread (fuzzers, tests) */
	const struct cvd_limits *limits; /* NULL: the defaults above */
	const struct cvd_sink *sink;
};

enum cvd_signer_kind {
	CVD_SIGNER_NONE,        /* unsigned, allowed */
	CVD_SIGNER_OFFICIAL,    /* built-in ClamAV keys */
	CVD_SIGNER_KEY,         /* an operator's trusted key */
	CVD_SIGNER_CERT,        /* a .cvd.sign chained to CertsDir */
};

struct cvd_member {
	char name[CVD_MEMBER_NAME_MAX + 1];
	uint64_t size;
	uint8_t sha256[32];
};

struct cvd_type_count {
	char ext[16];           /* "hdb", "ldb", ... ("" for no extension) */
	uint64_t sigs;          /* signature lines (not comments or blanks) */
	uint64_t not_loaded;    /* lines of a loaded type the engine cannot honour */
	bool loaded;            /* a type the engine loads */
};

struct cvd_result {
	int status;                       /* 0 or a CVD_E* code */
	char message[CVD_ERRMSG_MAX];     /* "" on success */
	bool header_ok;                   /* header parsed: fields valid */
	struct cvd_header header;
	enum cvd_signer_kind signer;
	char signer_name[256];            /* key file, certificate subject */
	bool has_sign_file;               /* a .sign was found ... */
	bool sign_checked;                /* ... and checked (needs a certs dir) */
	char sign_path[4096];
	char md5[33];                     /* computed over the payload */
	uint64_t file_size;
	uint64_t inflated_size;
	struct cvd_member *members;       /* in tar order, COPYING and .info too */
	size_t nmembers;
	struct cvd_type_count *types;     /* per extension */
	size_t ntypes;
};

/*
 * Verify the container at path (or an open fd; display names it in
 * messages).  Returns res->status.  res must be released with
 * cvd_result_free() whatever the outcome.
 */
int cvd_verify_file(const char *path, const struct cvd_verify_opts *opts,
    struct cvd_result *res);
int cvd_verify_fd(int fd, const char *display,
    const struct cvd_verify_opts *opts, struct cvd_result *res);
void cvd_result_free(struct cvd_result *res);

/* Print a result as JSON (one object, no trailing newline). */
void cvd_result_print_json(FILE *f, const char *path,
    const struct cvd_result *res);

/* The members of that object, written into an object the caller opened
 * with the JSON writer (cvd/base/json.h), to add members of its own. */
struct jsonw;
void cvd_result_json_members(struct jsonw *w, const char *path,
    const struct cvd_result *res);

/*
 * Verify, then unpack into dir (which must exist): regular files only,
 * created with O_EXCL|O_NOFOLLOW relative to dir; on any failure the files
 * this call created are removed.
 */
int cvd_unpack_file(const char *path, const char *dir,
    const struct cvd_verify_opts *opts, struct cvd_result *res);

/* ---- building (cvdtool build / sign / keygen) ----------------------- */

struct cvd_build_opts {
	const char *name;          /* database name, e.g. "daily" */
	unsigned version;
	unsigned flevel;           /* 0: CVD_ENGINE_FLEVEL-compatible default */
	const char *builder;       /* NULL: "ampscan" */
	const char *key_path;      /* private key PEM; NULL with unsigned */
	bool unsigned_cud;         /* write a .cud: dsig X, no DSIG line */
	uint64_t stime;            /* 0: now */
};

/*
 * Build a container from the regular files of dir (sorted by name).  The
 * output is written to a temporary file beside out_path and renamed into
 * place only when complete.
 */
int cvd_build(const char *dir, const char *out_path,
    const struct cvd_build_opts *opts, char *err, size_t errlen);

/* Write out_path (a .cvd.sign) for cvd_path, signed by key and cert. */
int cvd_sign_file(const char *cvd_path, const char *key_path,
    const char *const *cert_paths, size_t ncerts, const char *out_path,
    char *err, size_t errlen);

/* Make an RSA key pair (bits >= 2048): private and public PEM files. */
int cvd_keygen(unsigned bits, const char *priv_path, const char *pub_path,
    char *err, size_t errlen);

/* ---- incremental updates (.cdiff) ----------------------------------- */

/*
 * A .cdiff is "ClamAV-Diff:<version>:<script length>:", a gzip'd script,
 * ":" and a PSS signature (ClamAV base-64) over the SHA-256 of every byte
 * before that last ':'.  Version V turns container version V-1 into V.
 * The script edits the unpacked members line by line:
 *
 *   OPEN name                 start editing name (it may not exist yet)
 *   ADD line                  append line (after all deletions/exchanges)
 *   DEL n prefix              delete line n, which must start with prefix
 *   XCHG n prefix new line    replace line n (must start with prefix)
 *   CLOSE                     write the edited file
 *   UNLINK name               delete name (no file open)
 *
 * Line numbers are those of the file as it was at OPEN.  Names are plain
 * ("NAME.ext": no '/', no "..", no leading '.'), all of one database NAME,
 * and NAME.info must be among them.
 */
#define CVD_CDIFF_MAX_SCRIPT (64U << 20)     /* decompressed script */
#define CVD_CDIFF_MAX_FILE_SIZE (CVD_CDIFF_MAX_SCRIPT + (1U << 20)) /* .cdiff */
#define CVD_CDIFF_MAX_LINE (1U << 20)        /* one script line */
#define CVD_CDIFF_MAX_FILES CVD_MAX_MEMBERS  /* OPEN and UNLINK commands */
#define CVD_CDIFF_MAX_EDITS (1U << 22)       /* DEL/XCHG within one OPEN */
#define CVD_CDIFF_MAX_EDITED CVD_MAX_MEMBER_SIZE /* a file before/after edits */
#define CVD_CDIFF_DBNAME_MAX 64

struct cvd_cdiff;   /* opaque: a verified, parsed cdiff */

/*
 * Read and verify the .cdiff at path: the header, the signature, the gzip
 * stream and its length, then the whole script (syntax, names, limits)
 * without touching any file.  The signature is the detached sign_path
 * (PKCS#7 over the whole .cdiff file, as a .cvd.sign) when one is given or,
 * with sign_path NULL, when path + ".sign" exists -- in both cases only if
 * trust has a certificates directory, and then it must verify, with no
 * fallback.  Otherwise the trailer decides: the official cdiff key or an
 * operator key of trust (NULL: official keys only).  Returns 0 with *out
 * (free with cvd_cdiff_free), or a CVD_E* code with err naming the file and,
 * for a script error, the script line: CVD_EHEADER, CVD_ESIG (trailer),
 * CVD_ESIGNFILE, CVD_EPAYLOAD (gzip, length), CVD_ECONTENT (script),
 * CVD_ELIMIT, CVD_EIO, CVD_ENOMEM.
 */
int cvd_cdiff_open(const char *path, const char *sign_path,
    const struct cvd_trust *trust, struct cvd_cdiff **out, char *err,
    size_t errlen);
unsigned cvd_cdiff_version(const struct cvd_cdiff *cd);
/* The database name ("daily" for OPEN daily.info ...). */
const char *cvd_cdiff_dbname(const struct cvd_cdiff *cd);
/* CVD_SIGNER_OFFICIAL, _KEY or _CERT, and the key file or subject. */
enum cvd_signer_kind cvd_cdiff_signer(const struct cvd_cdiff *cd);
const char *cvd_cdiff_signer_name(const struct cvd_cdiff *cd);
void cvd_cdiff_free(struct cvd_cdiff *cd);

/*
 * Apply cd to dir, a directory holding the unpacked members of the
 * container being updated (cvd_unpack_file output).  Writes only inside
 * dir, never following a symlink: each edited file goes to a temporary
 * file in dir, then is renamed over the original.  At the end, NAME.info's
 * first line must carry the cdiff's version.  On failure dir may be partly
 * changed (the caller discards it); err names the script line (the command)
 * and why: CVD_ECONTENT (a line out of range, a prefix that does not match,
 * UNLINK of a missing file), CVD_ELIMIT, CVD_EVERSION, CVD_EIO, CVD_EWRITE.
 */
int cvd_cdiff_apply(const struct cvd_cdiff *cd, const char *dir, char *err,
    size_t errlen);

/*
 * Build NAME.cld at out_path from the members in dir (as cvd_cdiff_apply
 * leaves them): a 512-byte header from the first line of NAME.info (md5 and
 * dsig X, padded with spaces), then a plain old-style tar: COPYING (if in
 * dir), NAME.info, then the members in the order NAME.info lists them.  A
 * file of dir that NAME.info does not list is an error.  Written to a
 * temporary file beside out_path, fsync'd and renamed into place only when
 * complete.  The result is not verified here: see cvd_verify_file (a .cld
 * whose .info has a DSIG verifies without allow_unsigned).
 */
int cvd_build_cld(const char *dir, const char *dbname, const char *out_path,
    char *err, size_t errlen);

#endif
