/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helpers: temporary directories, files, the shared test data, and a
 * container crafter that writes any header, .info and tar members (also
 * hostile ones) and signs them with a test key, so a mutation test can
 * change one thing and keep everything else valid.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* ---- files ---- */
/* A new empty directory under $TMPDIR; removed by tu_rmtree(). */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
/* dir/name, in a static rotating buffer (4 slots). */
const char *tu_path(const char *dir, const char *name);
void tu_write(const char *path, const void *data, size_t len);
void tu_write_str(const char *path, const char *s);
/* Whole file into a malloc'd buffer (NUL-terminated); *len set. */
uint8_t *tu_read(const char *path, size_t *len);   /* len may be NULL */
bool tu_exists(const char *path);

/* ---- shared test data ---- */
/* ../shared/testdata/real-cvd/<rel>, or NULL when absent (skip). */
const char *tu_real(const char *rel);
/* Print a visible skip and return 77 from main (CTest SKIP_RETURN_CODE). */
#define TU_SKIP_CODE 77

/* ---- keys ---- */
/* A 2048-bit test key made once per process; PEM files in dir. */
EVP_PKEY *tu_key(void);
void tu_key_files(const char *dir, const char **priv, const char **pub);

/* ---- crafting containers ---- */
enum tu_tartype { TU_REG = '0', TU_HARDLINK = '1', TU_SYMLINK = '2',
	TU_CHAR = '3', TU_DIR = '5', TU_FIFO = '6' };

struct tu_member {
	const char *name;
	const void *data;          /* NULL: empty */
	size_t len;
	char type;                 /* 0 = regular */
	const char *linkname;      /* for links */
	bool bad_checksum;
};

struct tu_craft {
	const struct tu_member *members;
	size_t n;
	/* the .info: NULL = generated from the members (all but COPYING and
	 * the .info itself), signed if key != NULL */
	const char *info;
	const char *info_name;     /* default "test.info" */
	bool info_unsigned;        /* generated .info without DSIG */
	const char *info_extra;    /* lines appended before DSIG */
	const char *info_drop;     /* member name left out of the .info */
	EVP_PKEY *key;             /* NULL: unsigned (.cud, dsig X) */
	bool md5_x;                /* .cld: md5 X too */
	bool plain_tar;            /* no gzip */
	const char *header;        /* NULL: generated; else the whole line */
	unsigned version;          /* default 7 */
	bool end_marker;           /* two zero blocks at the end */
};

/* Write a container to path; members get COPYING first unless given. */
void tu_craft_write(const char *path, const struct tu_craft *c);
/* The default member set: COPYING, test.info (generated), test.hdb, test.ndb */
extern const struct tu_member tu_default_members[];
extern const size_t tu_default_nmembers;

/* ---- running tools ---- */
/* Run a shell command; returns its exit status (or -1). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- lower-level crafting (hostile tars, raw payloads) ---- */
/* The tar tu_craft_write would write for c (before gzip); malloc'd. */
uint8_t *tu_craft_tar(const struct tu_craft *c, size_t *len);
/* A tar of exactly these members (no .info generated, no COPYING added). */
uint8_t *tu_tar(const struct tu_member *ms, size_t n, bool end_marker,
    size_t *len);
/* Recompute the checksum of a 512-byte tar header block in place. */
void tu_tar_checksum(uint8_t *hdr);
/* gzip n bytes in memory; malloc'd. */
uint8_t *tu_gzip_buf(const void *p, size_t n, size_t *outlen);
/*
 * Write a container whose payload is exactly payload[0..len) (a plain tar
 * or gzip, as given); the header is generated from c as tu_craft_write
 * does (version, key signs the payload's MD5, md5_x, or c->header).
 */
void tu_write_container(const char *path, const struct tu_craft *c,
    const uint8_t *payload, size_t len);
/* The generated .info text for c without any DSIG line; malloc'd. */
char *tu_info_body(const struct tu_craft *c);
/* body followed by "DSIG:<PSS signature by key>\n"; malloc'd. */
char *tu_info_sign(EVP_PKEY *key, const char *body);
/*
 * A snapshot of a directory tree: one line per entry (relative path, type,
 * size, SHA-256 of a file's bytes or a link's target), sorted; malloc'd.
 * Two snapshots compare equal with strcmp when nothing changed.
 */
char *tu_snapshot(const char *dir);

#endif
