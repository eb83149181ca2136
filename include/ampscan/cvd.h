/*
 * ampscan: the .cvd definitions container (ClamAV format).
 *
 * One streaming pass over a container verifies all of CVD-FORMAT.md: the
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
 * Trust an operator's RSA public key (PEM, 2048 bits or more) for both the
 * header signature and the .info DSIG.  err names the file and the reason.
 */
int cvd_trust_add_key_file(struct cvd_trust *t, const char *path, char *err,
    size_t errlen);
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
	bool allow_unsigned;             /* accept .cld/.cud (still hashed) */
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

#endif
