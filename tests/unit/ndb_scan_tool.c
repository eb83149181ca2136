/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ndb_scan_tool: a test driver for cvd/ndb*.c, shaped like clamscan.
 *
 *   ndb_scan_tool [--allmatch] [--image OUT] DB.ndb FILE...
 *
 * Loads every line of DB.ndb (sig_parse_line, ndb_builder_add), compiles,
 * reopens the image with ndb_set_open, and scans each file whole, printing
 * `FILE: Name FOUND` for each match (the first only, without --allmatch) or
 * `FILE: OK`, as `clamscan --no-summary` does.  Lines not loaded go to
 * stderr as `DB:LINE: not loaded: NAME: reason`.  --image writes the image.
 * Exit status: 0 clean, 1 something found, 2 an error (as clamscan).
 * ndb_diff.sh compares its verdicts with clamscan's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ampscan/sigs.h"
#include "ndb.h"

#define TOOL_ERRLEN 256

struct tool {
	char **names;
	size_t nnames;
	bool allmatch;
	const char *path;       /* the file being scanned */
	unsigned found;
};

static int
tool_print(void *arg, uint32_t id)
{
	struct tool *t = arg;

	printf("%s: %s FOUND\n", t->path, id < t->nnames ? t->names[id] : "?");
	t->found++;
	return t->allmatch ? 0 : 1;
}

static int
tool_add_line(struct tool *t, struct ndb_builder *b, const char *db,
    size_t lineno, const char *line, size_t len)
{
	char err[TOOL_ERRLEN];
	struct sig s;
	char **nn;
	int rc = sig_parse_line(SIG_TYPE_NDB, line, len, &s, err, sizeof(err));

	if (rc == SIG_SKIP)
		return 0;
	if (rc != SIG_OK) {
		fprintf(stderr, "%s:%zu: invalid: %s\n", db, lineno, err);
		return -1;
	}
	if ((nn = realloc(t->names, (t->nnames + 1) * sizeof(*nn))) == NULL)
		return -1;
	t->names = nn;
	if ((nn[t->nnames] = strndup(s.name.p, s.name.len)) == NULL)
		return -1;
	rc = ndb_builder_add(b, &s, (uint32_t)t->nnames, err, sizeof(err));
	if (rc == NDB_ENOTSUP || rc == NDB_EINVAL)
		fprintf(stderr, "%s:%zu: not loaded: %s: %s\n", db, lineno,
		    nn[t->nnames], err);
	else if (rc != 0)
		return -1;
	t->nnames++;
	return 0;
}

static int
tool_load(struct tool *t, struct ndb_builder *b, const char *db)
{
	FILE *f = fopen(db, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", db, strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		rc = tool_add_line(t, b, db, lineno, line, (size_t)n);
	}
	free(line);
	fclose(f);
	return rc;
}

static int
tool_scan_file(struct tool *t, const struct ndb_set *set, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	const uint8_t *p = NULL;
	int rc;

	if (fd < 0 || fstat(fd, &sb) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (sb.st_size > 0) {
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	t->path = path;
	t->found = 0;
	rc = ndb_set_scan(set, p, (size_t)sb.st_size, tool_print, t);
	if (p != NULL)
		munmap((void *)(uintptr_t)p, (size_t)sb.st_size);
	if (rc != 0)
		return -1;
	if (t->found == 0)
		printf("%s: OK\n", path);
	return t->found > 0;
}

static int
tool_write(const char *path, const uint8_t *img, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL && fwrite(img, 1, len, f) == len;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct tool t = { 0 };
	struct ndb_builder *b = NULL;
	struct ndb_set *set = NULL;
	const char *imgout = NULL;
	uint8_t *img = NULL;
	size_t imglen = 0;
	int i = 1, status = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--allmatch") == 0)
			t.allmatch = true;
		else if (strcmp(argv[i], "--image") == 0 && i + 1 < argc)
			imgout = argv[++i];
		else
			break;
	}
	if (argc - i < 1) {
		fprintf(stderr, "usage: ndb_scan_tool [--allmatch] [--image OUT] DB.ndb FILE...\n");
		return 2;
	}
	if (ndb_builder_new(&b) != 0 || tool_load(&t, b, argv[i]) != 0 ||
	    ndb_builder_finish(b, &img, &imglen) != 0 ||
	    ndb_set_open(img, imglen, &set) != 0 ||
	    (imgout != NULL && tool_write(imgout, img, imglen) != 0)) {
		fprintf(stderr, "%s: cannot load\n", argv[i]);
		status = 2;
		goto out;
	}
	for (i++; i < argc; i++) {
		int r = tool_scan_file(&t, set, argv[i]);

		if (r < 0)
			status = 2;
		else if (r > 0 && status == 0)
			status = 1;
	}
out:
	ndb_set_close(set);
	free(img);
	ndb_builder_free(b);
	for (size_t k = 0; k < t.nnames; k++)
		free(t.names[k]);
	free(t.names);
	return status;
}
