/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loading definitions: directories, containers, plain files, the index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "defs.h"
#include "statefile.h"

struct defs_file {
	char name[256];
	char base[256];          /* name without extension */
	unsigned version;
	bool container;
};

static const char *
defs_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot + 1 : "";
}

static bool
defs_is_container(const char *name)
{
	const char *e = defs_ext(name);

	return strcmp(e, "cvd") == 0 || strcmp(e, "cld") == 0 ||
	    strcmp(e, "cud") == 0;
}

static bool
defs_is_plain(const char *name)
{
	return sig_type_from_name(name) != SIG_TYPE_OTHER;
}

/* The version in a container's header, or 0 if unreadable. */
static unsigned
defs_header_version(const char *path, char *line, size_t linelen)
{
	uint8_t buf[CVD_HEADER_SIZE];
	struct cvd_header h;
	char err[256];
	ssize_t n = -1;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) >= 0) {
		n = pread(fd, buf, sizeof(buf), 0);
		close(fd);
	}
	if (n < 0 || cvd_header_parse(buf, (size_t)n, &h, err, sizeof(err)) != 0)
		return 0;
	if (line != NULL)
		snprintf(line, linelen, "%s", h.line);
	return h.version;
}

static int
defs_cmp(const void *a, const void *b)
{
	return strcmp(((const struct defs_file *)a)->name,
	    ((const struct defs_file *)b)->name);
}

/* List the definitions files of dir, sorted, newest of each base name. */
static int
defs_list(const char *dir, bool allow_unsigned, struct defs_file **out,
    size_t *n, char *err, size_t errlen)
{
	struct defs_file *f = calloc(DEFS_MAX_FILES, sizeof(*f));
	struct dirent *de;
	char path[4096];
	size_t cnt = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (f == NULL)
		return ENGINE_ENOMEM;
	if ((d = opendir(dir)) == NULL) {
		free(f);
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return ENGINE_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		bool c = defs_is_container(de->d_name);
		const char *e = defs_ext(de->d_name);

		if (de->d_name[0] == '.' || (!c && !(allow_unsigned &&
		    defs_is_plain(de->d_name))))
			continue;
		/* a .cld carries a DSIG'd .info (verified like a .cvd); a .cud is unsigned */
		if (c && !allow_unsigned && strcmp(e, "cud") == 0)
			continue;
		if (cnt == DEFS_MAX_FILES || strlen(de->d_name) >= sizeof(f->name))
			break;
		snprintf(f[cnt].name, sizeof(f->name), "%s", de->d_name);
		snprintf(f[cnt].base, sizeof(f->base), "%.*s",
		    (int)(e - de->d_name - 1), de->d_name);
		f[cnt].container = c;
		if (c) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			f[cnt].version = defs_header_version(path, NULL, 0);
		}
		cnt++;
	}
	closedir(d);
	/* of NAME.cvd / NAME.cld / NAME.cud keep the highest version */
	for (size_t i = 0; i < cnt; i++)
		for (size_t j = 0; j < cnt; j++)
			if (i != j && f[i].container && f[j].container &&
			    f[i].name[0] && f[j].name[0] &&
			    strcmp(f[i].base, f[j].base) == 0 &&
			    (f[j].version > f[i].version ||
			    (f[j].version == f[i].version && j < i)))
				f[i].name[0] = '\0';
	qsort(f, cnt, sizeof(*f), defs_cmp);
	*out = f;
	*n = cnt;
	return 0;
}

static int
defs_load_one(struct engine_builder *b, const char *path,
    const struct defs_opts *o, char *err, size_t errlen)
{
	struct cvd_verify_opts vo = { .trust = o->trust,
	    .allow_unsigned = o->allow_unsigned };

	if (defs_is_container(path))
		return engine_builder_add_container(b, path, &vo, err, errlen);
	if (!o->allow_unsigned) {
		snprintf(err, errlen,
		    "%s: a plain signature file is unsigned; allowed only with unsigned definitions enabled",
		    path);
		return ENGINE_ELOAD;
	}
	return engine_builder_add_file(b, path, err, errlen);
}

int
defs_load(struct engine_builder *b, const char *path,
    const struct defs_opts *o, char *err, size_t errlen)
{
	struct defs_file *f;
	char p[4096];
	struct stat st;
	size_t n, loaded = 0;
	int rc = 0;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ENGINE_EIO;
	}
	if (!S_ISDIR(st.st_mode))
		return defs_load_one(b, path, o, err, errlen);
	if ((rc = defs_list(path, o->allow_unsigned, &f, &n, err, errlen)) != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (f[i].name[0] == '\0')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, f[i].name);
		rc = defs_load_one(b, p, o, err, errlen);
		loaded++;
	}
	free(f);
	if (rc == 0 && loaded == 0) {
		snprintf(err, errlen, "%s: no definitions files", path);
		rc = ENGINE_ELOAD;
	}
	return rc;
}

int
defs_source_id(const char *dir, uint8_t id[32], char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct defs_file *f;
	char p[4096], line[CVD_HEADER_SIZE + 1], rec[8192];
	struct stat st;
	unsigned int dl = 32;
	size_t n;
	int rc;

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return ENGINE_ENOMEM;
	}
	/* every file either way: the identity must change if any does */
	if ((rc = defs_list(dir, true, &f, &n, err, errlen)) != 0) {
		EVP_MD_CTX_free(ctx);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (f[i].name[0] == '\0')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, f[i].name);
		line[0] = '\0';
		if (stat(p, &st) != 0)
			continue;
		if (f[i].container)
			defs_header_version(p, line, sizeof(line));
		int len = snprintf(rec, sizeof(rec), "%s%c%lld%c%lld.%09ld%c%s\n",
		    f[i].name, 0, (long long)st.st_size, 0,
		    (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, 0, line);

		EVP_DigestUpdate(ctx, rec, (size_t)len);
	}
	EVP_DigestFinal_ex(ctx, id, &dl);
	EVP_MD_CTX_free(ctx);
	free(f);
	return 0;
}

static int
defs_build(const char *dir, const struct defs_opts *o, struct engine **out,
    char *err, size_t errlen)
{
	struct engine_builder *b;
	uint8_t id[32];
	int rc;

	*out = NULL;
	if ((rc = defs_source_id(dir, id, err, errlen)) != 0 ||
	    (rc = engine_builder_new(&b)) != 0)
		return rc;
	engine_builder_set_source_id(b, id);
	if ((rc = defs_load(b, dir, o, err, errlen)) != 0) {
		engine_builder_free(b);
		return rc;
	}
	return engine_builder_finish(b, out, err, errlen);
}

int
defs_engine(const char *dir, const struct defs_opts *o, struct engine **out,
    bool *from_index, char *err, size_t errlen)
{
	uint8_t want[32], have[32];
	char p[4096], ierr[256];
	int fd, rc;

	*out = NULL;
	*from_index = false;
	snprintf(p, sizeof(p), "%s/%s", dir, DEFS_INDEX_NAME);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		rc = engine_index_map(fd, out, ierr, sizeof(ierr));
		close(fd);
		if (rc == 0 && defs_source_id(dir, want, err, errlen) == 0) {
			engine_source_id(*out, have);
			if (memcmp(want, have, sizeof(want)) == 0) {
				*from_index = true;
				return 0;
			}
		}
		engine_free(*out);
		*out = NULL;
	}
	return defs_build(dir, o, out, err, errlen);
}

int
defs_build_index(const char *dir, const char *index_path,
    const struct defs_opts *o, char *err, size_t errlen)
{
	struct statefile_tmp t = { .dirfd = -1, .fd = -1 };
	struct engine *e = NULL;
	int rc;

	if ((rc = defs_build(dir, o, &e, err, errlen)) != 0)
		goto out;
	rc = ENGINE_EIO;
	if (statefile_open_path(&t, index_path, 0644, 0, err, errlen) != 0)
		goto out;
	if ((rc = engine_index_write(e, t.fd, err, errlen)) != 0)
		goto out;
	if (statefile_commit(&t, err, errlen) != 0)
		rc = ENGINE_EIO;
out:
	statefile_abort(&t);
	engine_free(e);
	return rc;
}
