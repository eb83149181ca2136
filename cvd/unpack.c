/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unpacking: verify the whole container first, then stream it again (and
 * verify again: the file may have changed) writing each member through
 * statefile_open_at() inside the target directory: a temporary file,
 * fsync'd, published with renameat2(RENAME_NOREPLACE), so nothing already
 * there (a file, a symbolic link) is ever replaced or followed, and a
 * crash leaves whole members or none.  Names were checked by the tar
 * walker (no '/', no "..").  On failure every file this call created is
 * removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statefile.h"
#include "util.h"
#include "verify.h"

struct unpack {
	int dirfd;
	const char *dir;
	struct statefile_tmp t; /* the member being written (t.fd, or -1) */
	char (*created)[CVD_MEMBER_NAME_MAX + 1];
	size_t ncreated, cap;
	char err[CVD_ERRMSG_MAX];
};

static int
unpack_begin(void *arg, const char *name, uint64_t size)
{
	struct unpack *u = arg;

	(void)size;
	if (u->ncreated == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 32;
		void *n = realloc(u->created, cap * sizeof(*u->created));

		if (n == NULL)
			return -1;
		u->created = n;
		u->cap = cap;
	}
	if (statefile_open_at(&u->t, u->dirfd, u->dir, name, 0644,
	    STATEFILE_NOREPLACE, u->err, sizeof(u->err)) != 0)
		return -1;
	return 0;
}

static int
unpack_data(void *arg, const uint8_t *p, size_t n)
{
	struct unpack *u = arg;

	if (statefile_write_all(u->t.fd, p, n) != 0) {
		snprintf(u->err, sizeof(u->err), "%s/%s: write: %s", u->dir,
		    u->t.name, strerror(errno));
		return -1;
	}
	return 0;
}

static int
unpack_end(void *arg)
{
	struct unpack *u = arg;
	char name[CVD_MEMBER_NAME_MAX + 1];

	cvd_strlcpy(name, u->t.name, sizeof(name));
	if (statefile_commit(&u->t, u->err, sizeof(u->err)) != 0)
		return -1;
	cvd_strlcpy(u->created[u->ncreated++], name, sizeof(u->created[0]));
	return 0;
}
int
cvd_unpack_file(const char *path, const char *dir,
    const struct cvd_verify_opts *opts, struct cvd_result *res)
{
	struct unpack u = { .dirfd = -1, .dir = dir,
	    .t = { .dirfd = -1, .fd = -1 } };
	struct cvd_sink sink = { &u, unpack_begin, unpack_data, unpack_end, NULL };
	struct cvd_verify_opts o = opts ? *opts : (struct cvd_verify_opts){ 0 };
	int rc, fd;

	o.sink = NULL;
	if ((rc = cvd_verify_file(path, &o, res)) != 0)
		return rc;
	cvd_result_free(res);
	u.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u.dirfd < 0) {
		snprintf(res->message, sizeof(res->message), "%s: %s", dir,
		    strerror(errno));
		return res->status = CVD_EWRITE;
	}
	o.sink = &sink;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(res->message, sizeof(res->message), "%s: %s", path,
		    strerror(errno));
		rc = res->status = CVD_EIO;
	} else {
		rc = verify_run(fd, path, path, &o, res);
		close(fd);
	}
	statefile_abort(&u.t);
	if (rc == CVD_ECALLBACK && u.err[0] != '\0') {
		cvd_strlcpy(res->message, u.err, sizeof(res->message));
		rc = res->status = CVD_EWRITE;
	}
	/* each member is durable once its commit returned */
	if (rc != 0)
		for (size_t i = 0; i < u.ncreated; i++)
			unlinkat(u.dirfd, u.created[i], 0);
	close(u.dirfd);
	free(u.created);
	return rc;
}
