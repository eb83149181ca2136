/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The loader's engine in transparent huge pages (docs/loader.md, "Huge
 * pages"): after the load, collapse the process's private anonymous
 * writable mappings into 2 MiB pages, so that a fork copies (and a
 * worker's exit tears down) one page-table entry per 2 MiB instead of
 * 512.  Best effort: whatever goes wrong, the engine simply stays in
 * 4 KiB pages.
 */
#ifndef AMPSCANSVC_HUGEPAGES_H
#define AMPSCANSVC_HUGEPAGES_H

#include <stddef.h>
#include <stdint.h>

struct hp_range;

enum hugepages_state {
	HUGEPAGES_DONE,          /* tried: the figures say how far it got */
	HUGEPAGES_NEVER,         /* transparent_hugepage/enabled is never */
	HUGEPAGES_UNAVAILABLE,   /* no THP, or no MADV_COLLAPSE (err) */
	HUGEPAGES_ERROR,         /* /proc/self/smaps unreadable (err) */
};

struct hugepages_report {
	enum hugepages_state state;
	int err;                 /* an errno, for UNAVAILABLE and ERROR */
	uint64_t eligible;       /* bytes: the 2 MiB-aligned parts */
	uint64_t sparse;         /* bytes: aligned parts less than half resident, left alone */
	uint64_t collapsed;      /* bytes now in huge pages by our hand */
	unsigned chunks_failed;  /* 2 MiB chunks the kernel would not collapse */
	unsigned ms;             /* time taken (the steps' own, summed) */
	int timed_out;           /* stopped at HUGEPAGES_MAX_MS */
};

/*
 * The collapse in steps (docs/loader.md, "Huge pages"): the loader
 * prepares before its sandbox (THP's setting and /proc/self/smaps are read
 * then, the list of mappings kept), says READY, and runs one step at a
 * time between its requests, so a FORK waits for one step at most.
 */
struct hugepages {
	struct hugepages_report r;
	struct hp_range *ranges;         /* the eligible mappings at prepare */
	size_t n, i;                     /* how many; the one in progress */
	uintptr_t next;                  /* its next aligned address, 0: not begun */
};

/* Before the sandbox: read what is needed.  Never fails the caller: a
 * state other than HUGEPAGES_DONE in h->r says why nothing will be done. */
void hugepages_prepare(struct hugepages *h);
/* One bounded step (HP_STEP bytes at most); 1: more to do, 0: finished
 * (h->r holds the figures).  Calling it again after 0 returns 0. */
int hugepages_step(struct hugepages *h);
/* Release the list. */
void hugepages_free(struct hugepages *h);
/* One line for the log: "954 MiB of 960 MiB in 2 MiB pages ..." */
void hugepages_describe(const struct hugepages_report *r, char *out,
    size_t len);

#endif
