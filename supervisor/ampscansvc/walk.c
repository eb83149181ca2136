/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scan a file and everything libarchive can open inside it. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "walk.h"

#define WALK_READ_CHUNK (1U << 20)

struct walk {
	const struct engine *e;
	struct walk_limits lim;
	/* per scan */
	unsigned flags;
	struct wproto_result *res;
	unsigned files;
	uint64_t scanned;
	uint64_t held;            /* bytes of member buffers alive */
	bool stop;                /* first match found, or a fatal limit */
	unsigned noted;           /* WALK_N_* already in the note */
};

/* Each kind of note is made once per scan (the first path that hit it). */
enum {
	WALK_N_RECURSION = 1 << 0, WALK_N_FILES = 1 << 1,
	WALK_N_FILESIZE = 1 << 2, WALK_N_SCANSIZE = 1 << 3,
	WALK_N_RATIO = 1 << 4, WALK_N_ENCRYPTED = 1 << 5,
	WALK_N_DAMAGED = 1 << 6, WALK_N_NOMEM = 1 << 7,
};

void
walk_limits_default(struct walk_limits *l)
{
	l->max_file_size = WALK_DEFAULT_MAX_FILE_SIZE;
	l->max_scan_size = WALK_DEFAULT_MAX_SCAN_SIZE;
	l->max_recursion = WALK_DEFAULT_MAX_RECURSION;
	l->max_files = WALK_DEFAULT_MAX_FILES;
	l->max_ratio = WALK_DEFAULT_MAX_RATIO;
}

int
walk_new(const struct engine *e, const struct walk_limits *lim,
    struct walk **out)
{
	struct walk *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return -ENOMEM;
	w->e = e;
	if (lim != NULL)
		w->lim = *lim;
	else
		walk_limits_default(&w->lim);
	*out = w;
	return 0;
}

void
walk_free(struct walk *w)
{
	free(w);
}

/* Append to the result's note ("; "-separated, truncated when full). */
static void walk_note(struct walk *w, unsigned kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
walk_note(struct walk *w, unsigned kind, const char *fmt, ...)
{
	char *n = w->res->note;
	size_t len = strlen(n), cap = sizeof(w->res->note);
	va_list ap;

	if ((w->noted & kind) || len + 3 >= cap)
		return;
	w->noted |= kind;
	if (len > 0) {
		memcpy(n + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(n + len, cap - len, fmt, ap);
	va_end(ap);
}

static void
walk_add_match(struct walk *w, const char *sig, const char *path)
{
	struct wproto_result *r = w->res;

	/* every matching signature counts, also two of the same name (an MD5
	 * and a SHA-256 of one file): clamd --allmatch lists both */
	if (r->nnames == WPROTO_MAX_NAMES)
		return;
	snprintf(r->names[r->nnames].sig, sizeof(r->names[0].sig), "%s", sig);
	snprintf(r->names[r->nnames].path, sizeof(r->names[0].path), "%s", path);
	r->nnames++;
	r->verdict = WPROTO_FOUND;
	if (!(w->flags & WPROTO_SCAN_ALLMATCH))
		w->stop = true;
}

static void walk_buffer(struct walk *w, const uint8_t *buf, size_t len,
    const char *path, unsigned depth);

/* Read the current entry into a new buffer, bounded by MaxFileSize. */
static uint8_t *
walk_read_entry(struct walk *w, struct archive *a, const char *path,
    size_t *outlen, size_t *outcap)
{
	size_t cap = 0, len = 0;
	uint8_t *buf = NULL;
	la_ssize_t n;

	*outlen = 0;
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb;

			if (ncap > w->lim.max_file_size + 1)
				ncap = w->lim.max_file_size + 1;
			if (ncap <= cap || w->held + ncap > w->lim.max_scan_size) {
				walk_note(w, ncap <= cap ? WALK_N_FILESIZE : WALK_N_SCANSIZE,
				    "limit exceeded: %s: %s", path,
				    ncap <= cap ? "MaxFileSize" : "MaxScanSize (memory)");
				w->held -= cap;
				free(buf);
				return NULL;
			}
			if ((nb = realloc(buf, ncap)) == NULL) {
				walk_note(w, WALK_N_NOMEM, "%s: out of memory", path);
				w->held -= cap;
				free(buf);
				return NULL;
			}
			w->held += ncap - cap;
			buf = nb;
			cap = ncap;
		}
		n = archive_read_data(a, buf + len, cap - len);
		if (n == 0)
			break;
		if (n < 0) {
			walk_note(w, WALK_N_DAMAGED, "%s: %s", path, archive_error_string(a) ?
			    archive_error_string(a) : "read error");
			break;   /* scan what was read */
		}
		len += (size_t)n;
	}
	*outlen = len;
	*outcap = cap;
	return buf;
}

static bool
walk_entry_skip(struct walk *w, struct archive_entry *ent, const char *path,
    size_t container_len)
{
	if (archive_entry_filetype(ent) != AE_IFREG)
		return true;
	if (archive_entry_is_encrypted(ent)) {
		walk_note(w, WALK_N_ENCRYPTED, "encrypted: %s", path);
		return true;
	}
	if (archive_entry_size_is_set(ent)) {
		uint64_t size = (uint64_t)archive_entry_size(ent);

		if (size > w->lim.max_file_size) {
			walk_note(w, WALK_N_FILESIZE,
			    "limit exceeded: %s: MaxFileSize (%llu bytes)", path, (unsigned long long)size);
			return true;
		}
		if (size > WALK_RATIO_SLACK &&
		    size / (container_len ? container_len : 1) > w->lim.max_ratio) {
			walk_note(w, WALK_N_RATIO, "limit exceeded: %s: compression ratio",
			    path);
			return true;
		}
	}
	return false;
}

/* Walk the members of a container; false if buf is not one. */
static bool
walk_archive(struct walk *w, const uint8_t *buf, size_t len, const char *path,
    unsigned depth)
{
	struct archive *a;
	struct archive_entry *ent;
	char sub[WPROTO_STR_MAX + 1];
	bool opened = false;
	int rc;

	/*
	 * ELF is never a container we open, and no libarchive filter starts
	 * with its magic.  Yet offering it to libarchive is costly: the 7-Zip
	 * (and ZIP) bidders search the whole of every executable for an
	 * embedded self-extracting archive, which was the hottest spot of a
	 * scan of /usr/lib.  The ELF itself is still checked by its digests
	 * and body signatures; an archive hidden inside one is not unpacked.
	 */
	if (len >= 4 && memcmp(buf, "\x7f" "ELF", 4) == 0)
		return false;
	if ((a = archive_read_new()) == NULL)
		return false;
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK)
		goto out;
	while (!w->stop && (rc = archive_read_next_header(a, &ent)) != ARCHIVE_EOF) {
		if (rc == ARCHIVE_FATAL || (rc != ARCHIVE_OK && rc != ARCHIVE_WARN))
			break;
		/* raw format and no filter: a plain file, not a container */
		if (archive_format(a) == ARCHIVE_FORMAT_RAW &&
		    archive_filter_count(a) <= 1)
			break;
		if (!opened && depth + 1 > w->lim.max_recursion) {
			walk_note(w, WALK_N_RECURSION, "limit exceeded: %s: MaxRecursion",
			    path);
			break;
		}
		opened = true;
		if (++w->files > w->lim.max_files) {
			walk_note(w, WALK_N_FILES, "limit exceeded: %s: MaxFiles", path);
			w->stop = true;
			break;
		}
		snprintf(sub, sizeof(sub), "%s/%s", path,
		    archive_entry_pathname(ent) ? archive_entry_pathname(ent) : "data");
		if (walk_entry_skip(w, ent, sub, len))
			continue;
		size_t mlen, mcap;
		uint8_t *m = walk_read_entry(w, a, sub, &mlen, &mcap);

		if (m != NULL) {
			walk_buffer(w, m, mlen, sub, depth + 1);
			w->held -= mcap;
			free(m);
		}
	}
	if (opened && archive_errno(a) != 0 && archive_error_string(a) != NULL &&
	    !w->stop)
		walk_note(w, WALK_N_DAMAGED, "%s: %s", path,
		    archive_error_string(a));
out:
	archive_read_free(a);
	return opened;
}

#ifdef AMPSCAN_TEST_HOOKS
/* Test builds only: markers that make the worker crash or hang. */
static void
walk_test_hooks(const uint8_t *buf, size_t len)
{
	static const char crash[] = "AMPSCAN-TEST-CRASH-MARKER";
	static const char hang[] = "AMPSCAN-TEST-HANG-MARKER";

	if (memmem(buf, len, crash, sizeof(crash) - 1) != NULL) {
		/* die by the signal even where a sanitizer catches SIGSEGV */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	}
	if (memmem(buf, len, hang, sizeof(hang) - 1) != NULL)
		for (;;)
			pause();
}
#endif

static void
walk_buffer(struct walk *w, const uint8_t *buf, size_t len, const char *path,
    unsigned depth)
{
	struct engine_result er;

#ifdef AMPSCAN_TEST_HOOKS
	walk_test_hooks(buf, len);
#endif
	unsigned flags = (w->flags & WPROTO_SCAN_ALLMATCH) ? ENGINE_SCAN_ALLMATCH : 0;

	if (w->scanned + len > w->lim.max_scan_size) {
		walk_note(w, WALK_N_SCANSIZE, "limit exceeded: %s: MaxScanSize",
		    path);
		w->stop = true;
		return;
	}
	w->scanned += len;
	if (engine_scan(w->e, buf, len, flags, &er) != 0) {
		walk_note(w, WALK_N_NOMEM, "%s: out of memory while scanning",
		    path);
		return;
	}
	for (size_t i = 0; i < er.nmatches && !w->stop; i++)
		walk_add_match(w, er.names[i], path);
	if (!w->stop)
		walk_archive(w, buf, len, path, depth);
}

/*
 * Read a whole file descriptor (a regular file or a memfd) of size bytes.
 * A read error or a file that ends early is a failure with its reason
 * (why): a verdict is only as good as the bytes read, so a descriptor that
 * cannot be read must never pass for a short, clean file.
 */
static uint8_t *
walk_read_fd(int fd, size_t size, size_t *outlen, char *why, size_t whylen)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t len = 0;

	if (buf == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	while (len < size) {
		ssize_t n = pread(fd, buf + len, size - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen, "Can't read file: %s", strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0) {
			snprintf(why, whylen, "Can't read file: it ended at byte %zu of %zu "
			    "(changed while scanned)", len, size);
			free(buf);
			return NULL;
		}
		len += (size_t)n;
	}
	*outlen = len;
	return buf;
}

static void
walk_reset(struct walk *w, unsigned flags, struct wproto_result *res)
{
	memset(res, 0, sizeof(*res));
	w->flags = flags;
	w->res = res;
	w->files = 0;
	w->scanned = 0;
	w->held = 0;
	w->stop = false;
	w->noted = 0;
}

int
walk_scan_buffer(struct walk *w, const uint8_t *buf, size_t len,
    const char *display, unsigned flags, struct wproto_result *res)
{
	walk_reset(w, flags, res);
	walk_buffer(w, buf, len, display, 0);
	return 0;
}

int
walk_scan_fd(struct walk *w, int fd, const char *display, unsigned flags,
    struct wproto_result *res)
{
	struct stat st;
	uint8_t *buf;
	size_t len;

	walk_reset(w, flags, res);
	if (fstat(fd, &st) != 0) {
		res->verdict = WPROTO_ERROR;
		snprintf(res->note, sizeof(res->note), "%s", strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		res->verdict = WPROTO_ERROR;
		snprintf(res->note, sizeof(res->note), "Not a regular file");
		return 0;
	}
	if ((uint64_t)st.st_size > w->lim.max_file_size) {
		walk_note(w, WALK_N_FILESIZE,
		    "limit exceeded: %s: MaxFileSize (%llu bytes)", display,
		    (unsigned long long)st.st_size);
		return 0;
	}
	if ((buf = walk_read_fd(fd, (size_t)st.st_size, &len, res->note,
	    sizeof(res->note))) == NULL) {
		res->verdict = WPROTO_ERROR;
		return 0;
	}
	walk_buffer(w, buf, len, display, 0);
	free(buf);
	if (len == (size_t)st.st_size) {   /* every byte of it was read */
		res->rflags |= WPROTO_RES_WHOLE;
		res->read_bytes = len;
	}
	return 0;
}
