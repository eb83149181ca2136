/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the .cdiff.  Byte 0 chooses the layer: even, the rest is a .cdiff
 * file for cdiff_decode (header, gzip, trailer) whose script, if any, goes
 * on as below; odd, the rest is a script, checked by cdiff_from_script and,
 * when it passes, applied to a scratch directory (on tmpfs when there is
 * one) holding a small test.info and test.hdb, reset before each apply.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdiff.h"

#define FUZZ_INFO "ClamAV-VDB:23 Nov 2026 10-00 +0000:7:3:81:X:X:fuzz:1795000000\ntest.hdb:12:00\n"
#define FUZZ_HDB "l1\nl2\nl3\nl4\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's own state (the library keeps none). */
static char fuzz_dir[256];
static int fuzz_dirfd = -1;

static void
fuzz_empty(void)
{
	struct dirent *de;
	int fd = dup(fuzz_dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL)
		__builtin_trap();
	rewinddir(d);    /* the dup shares fuzz_dirfd's offset, at the end */
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(fuzz_dirfd, de->d_name, 0);
	closedir(d);
}

static void
fuzz_cleanup(void)
{
	fuzz_empty();
	close(fuzz_dirfd);
	rmdir(fuzz_dir);
}

static void
fuzz_put(const char *name, const char *text)
{
	int fd = openat(fuzz_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		__builtin_trap();
	close(fd);
}

static const char *
fuzz_reset(void)
{
	if (fuzz_dirfd < 0) {
		snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz_cdiff.XXXXXX",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(fuzz_dir) == NULL ||
		    (fuzz_dirfd = open(fuzz_dir, O_RDONLY | O_DIRECTORY)) < 0)
			__builtin_trap();
		atexit(fuzz_cleanup);
	} else {
		fuzz_empty();
	}
	fuzz_put("test.info", FUZZ_INFO);
	fuzz_put("test.hdb", FUZZ_HDB);
	return fuzz_dir;
}

static void
fuzz_script(const uint8_t *p, size_t n)
{
	char err[CVD_ERRMSG_MAX];
	struct cvd_cdiff *cd;

	if (cdiff_from_script(p, n, 7, "fuzz.cdiff", &cd, err, sizeof(err)) != 0)
		return;
	(void)cvd_cdiff_apply(cd, fuzz_reset(), err, sizeof(err));
	cvd_cdiff_free(cd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdiff_layout l;
	char err[CVD_ERRMSG_MAX];

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		fuzz_script(data + 1, size - 1);
		return 0;
	}
	if (cdiff_decode(data + 1, size - 1, &l, err, sizeof(err)) == 0) {
		if (l.script == NULL || l.sig == NULL ||
		    l.signed_len + 1 + l.siglen != size - 1)
			__builtin_trap();
		fuzz_script(l.script, (size_t)l.script_len);
	}
	cdiff_layout_free(&l);
	return 0;
}
