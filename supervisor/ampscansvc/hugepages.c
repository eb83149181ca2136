/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Collapse the loader's engine into transparent huge pages (hugepages.h,
 * docs/loader.md "Huge pages").  Every private anonymous writable mapping
 * (the heap, libclamav's large allocations, anonymous names) that is at
 * least half resident (a sparse one, such as a sanitizer's shadow or a
 * reservation, would only grow or cost time in refusals) is marked
 * MADV_HUGEPAGE and collapsed with MADV_COLLAPSE over its 2 MiB-aligned
 * part, HP_STEP at a time; a step the kernel refuses is retried 2 MiB at a
 * time (one madvise stops at its first refused chunk), so one chunk it
 * cannot collapse costs only itself.  Then MADV_NOHUGEPAGE: the huge
 * pages stay, but nothing new is made huge after us (a worker's own
 * allocations stay 4 KiB pages, and khugepaged leaves its memory alone).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hugepages.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HP_SIZE ((uintptr_t)2 << 20)         /* a PMD's worth on x86-64, arm64 4K */
#define HP_STEP ((uintptr_t)64 << 20)        /* one MADV_COLLAPSE at a time */
#define HUGEPAGES_MAX_MS 20000u              /* of steps: then the rest stays 4 KiB */
#define HP_MAPS_MAX ((size_t)32 << 20)       /* /proc/self/smaps read at most */
#define HP_MAPS_CHUNK ((size_t)64 << 10)
#define HP_MAX_RANGES 8192
#define HP_THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"

struct hp_range {
	uintptr_t start, end;
};

static uint64_t
hp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read a whole (small) file; NUL-terminated, or NULL with errno. */
static char *
hp_read(const char *path, size_t max)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;
	ssize_t n = 0;

	if (fd < 0)
		return NULL;
	do {
		if (len + 1 >= cap) {
			char *nb = cap + HP_MAPS_CHUNK <= max ?
			    realloc(buf, cap + HP_MAPS_CHUNK) : NULL;

			if (nb == NULL) {
				n = -1;
				errno = cap + HP_MAPS_CHUNK > max ? EFBIG : ENOMEM;
				break;
			}
			buf = nb;
			cap += HP_MAPS_CHUNK;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n > 0)
			len += (size_t)n;
	} while (n > 0 || (n < 0 && errno == EINTR));
	saved = errno;
	close(fd);
	if (n < 0) {
		free(buf);
		errno = saved;
		return NULL;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return NULL;
	buf[len] = '\0';
	return buf;
}

/*
 * "start-end rw-p offset 00:00 0 [name]": private, read-write, not
 * executable, no file; nameless, the heap or a named anonymous mapping
 * ("[anon:...]").  Not the stack, vvar, vdso, vsyscall or any file.
 */
static int
hp_parse_line(const char *line, struct hp_range *out)
{
	char *p;
	unsigned long long a, b;

	a = strtoull(line, &p, 16);
	if (*p != '-')
		return 0;
	b = strtoull(p + 1, &p, 16);
	if (*p != ' ' || b <= a || strncmp(p + 1, "rw-p ", 5) != 0)
		return 0;
	(void)strtoull(p + 6, &p, 16);   /* the offset */
	if (strncmp(p, " 00:00 ", 7) != 0)
		return 0;
	if (strtoull(p + 7, &p, 10) != 0)
		return 0;
	while (*p == ' ')
		p++;
	if (*p != '\0' && strcmp(p, "[heap]") != 0 && strncmp(p, "[anon:", 6) != 0)
		return 0;
	out->start = (uintptr_t)a;
	out->end = (uintptr_t)b;
	return 1;
}

/* A mapping's 2 MiB-aligned part, [*s, *e); 0 if it has none. */
static int
hp_aligned(const struct hp_range *m, uintptr_t *s, uintptr_t *e)
{
	*s = (m->start + HP_SIZE - 1) & ~(HP_SIZE - 1);
	*e = m->end & ~(HP_SIZE - 1);
	return *e > *s;
}

/*
 * The eligible mappings now (before any madvise changes them), from
 * /proc/self/smaps: a mapping hp_parse_line accepts, and whose "Rss:"
 * covers at least half of its aligned part; the bytes of the aligned
 * parts left alone as sparse go to *sparse.
 */
static int
hp_ranges(struct hp_range *rs, size_t max, size_t *n, uint64_t *sparse)
{
	char *maps = hp_read("/proc/self/smaps", HP_MAPS_MAX), *line, *nl;
	struct hp_range cand;
	int have = 0;
	unsigned long long kb;
	uintptr_t s, e;

	*n = 0;
	*sparse = 0;
	if (maps == NULL)
		return -1;
	for (line = maps; *line != '\0' && *n < max; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line) - 1;   /* the last, unterminated */
		else
			*nl = '\0';
		if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
			/* a mapping's first line: its address range */
			have = hp_parse_line(line, &cand) && hp_aligned(&cand, &s, &e);
			continue;
		}
		if (!have || strncmp(line, "Rss:", 4) != 0)
			continue;
		have = 0;
		kb = strtoull(line + 4, NULL, 10);
		(void)hp_aligned(&cand, &s, &e);
		if (kb >= ((uint64_t)(e - s) >> 10) / 2)
			rs[(*n)++] = cand;
		else
			*sparse += e - s;
	}
	free(maps);
	return 0;
}

/* One step the kernel refused as a whole: 2 MiB at a time. */
static void
hp_chunks(struct hugepages_report *r, uintptr_t x, uintptr_t len)
{
	for (uintptr_t c = x; c < x + len; c += HP_SIZE) {
		if (madvise((void *)c, HP_SIZE, MADV_COLLAPSE) == 0)
			r->collapsed += HP_SIZE;
		else
			r->chunks_failed++;
	}
}

/* "always [madvise] never": the administrator's never is respected. */
static int
hp_thp_never(int *err)
{
	char *s = hp_read(HP_THP_ENABLED, HP_MAPS_CHUNK);
	int never;

	if (s == NULL) {
		*err = errno;
		return -1;
	}
	never = strstr(s, "[never]") != NULL;
	free(s);
	return never;
}

void
hugepages_prepare(struct hugepages *h)
{
	struct hugepages_report *r = &h->r;
	uint64_t t0 = hp_now_ms();
	uintptr_t s, e;
	int never;

	memset(h, 0, sizeof(*h));
	r->state = HUGEPAGES_DONE;
	if ((never = hp_thp_never(&r->err)) != 0) {
		r->state = never > 0 ? HUGEPAGES_NEVER : HUGEPAGES_UNAVAILABLE;
		goto out;
	}
	if ((h->ranges = calloc(HP_MAX_RANGES, sizeof(*h->ranges))) == NULL ||
	    hp_ranges(h->ranges, HP_MAX_RANGES, &h->n, &r->sparse) != 0) {
		r->state = HUGEPAGES_ERROR;
		r->err = errno;
		goto out;
	}
	/* length 0: the kernel only checks that it knows MADV_COLLAPSE */
	if (h->n > 0 && madvise((void *)h->ranges[0].start, 0, MADV_COLLAPSE) != 0) {
		r->state = HUGEPAGES_UNAVAILABLE;
		r->err = errno;
		goto out;
	}
	for (size_t i = 0; i < h->n; i++)
		if (hp_aligned(&h->ranges[i], &s, &e))
			r->eligible += e - s;
out:
	if (r->state != HUGEPAGES_DONE)
		h->n = 0;   /* nothing to step through */
	r->ms = (unsigned)(hp_now_ms() - t0);
}

/* The current mapping is done: no new huge pages in it from now on. */
static void
hp_range_end(struct hugepages *h)
{
	const struct hp_range *m = &h->ranges[h->i];

	if (h->next != 0)
		(void)madvise((void *)m->start, m->end - m->start, MADV_NOHUGEPAGE);
	h->next = 0;
	h->i++;
}

int
hugepages_step(struct hugepages *h)
{
	struct hugepages_report *r = &h->r;
	uint64_t t = hp_now_ms();
	const struct hp_range *m;
	uintptr_t s, e, len;

	while (h->i < h->n) {
		m = &h->ranges[h->i];
		if (!hp_aligned(m, &s, &e) || r->timed_out) {
			hp_range_end(h);
			continue;
		}
		if (h->next == 0) {
			/* the whole mapping, so its VMA is not split around the
			 * aligned part */
			if (madvise((void *)m->start, m->end - m->start, MADV_HUGEPAGE) != 0) {
				r->chunks_failed += (unsigned)((e - s) / HP_SIZE);
				h->i++;
				continue;
			}
			h->next = s;
		}
		if (r->ms >= HUGEPAGES_MAX_MS) {
			r->timed_out = 1;
			hp_range_end(h);
			continue;
		}
		len = e - h->next < HP_STEP ? e - h->next : HP_STEP;
		if (madvise((void *)h->next, len, MADV_COLLAPSE) == 0)
			r->collapsed += len;
		else
			hp_chunks(r, h->next, len);
		h->next += len;
		if (h->next >= e)
			hp_range_end(h);
		r->ms += (unsigned)(hp_now_ms() - t);
		return h->i < h->n;
	}
	r->ms += (unsigned)(hp_now_ms() - t);
	return 0;
}

void
hugepages_free(struct hugepages *h)
{
	free(h->ranges);
	h->ranges = NULL;
	h->n = h->i = 0;
}

void
hugepages_describe(const struct hugepages_report *r, char *out, size_t len)
{
	switch (r->state) {
	case HUGEPAGES_NEVER:
		snprintf(out, len, "off: %s is never; the engine stays in 4 KiB pages",
		    HP_THP_ENABLED);
		return;
	case HUGEPAGES_UNAVAILABLE:
		snprintf(out, len, "not available (%s: %s); the engine stays in 4 KiB pages",
		    r->err == ENOENT ? HP_THP_ENABLED : "MADV_COLLAPSE",
		    strerror(r->err));
		return;
	case HUGEPAGES_ERROR:
		snprintf(out, len, "not tried: /proc/self/smaps: %s", strerror(r->err));
		return;
	case HUGEPAGES_DONE:
		break;
	}
	snprintf(out, len, "%llu MiB of %llu MiB collapsed into 2 MiB pages, %u chunks failed, in %.3f s%s; %llu MiB in mappings less than half resident left alone",
	    (unsigned long long)(r->collapsed >> 20),
	    (unsigned long long)(r->eligible >> 20), r->chunks_failed,
	    (double)r->ms / 1000.0,
	    r->timed_out ? " (stopped at its time bound: the rest stays in 4 KiB pages)" : "",
	    (unsigned long long)(r->sparse >> 20));
}
