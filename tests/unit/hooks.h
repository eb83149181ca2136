/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Write and sync hooks for a struct lineq (events.jsonl, exits.jsonl):
 * a test makes writes fail with ENOSPC, write half a line (really, so the
 * undo is exercised), or fail the sync, and counts what happened.
 */
#ifndef HOOKS_H
#define HOOKS_H

#include <stddef.h>

#include "lineq.h"

struct hook {
	enum {
		HOOK_OK,             /* write(2) and fdatasync(2), counted */
		HOOK_ENOSPC,         /* every write fails with ENOSPC */
		HOOK_SHORT,          /* every write writes half and stops */
		HOOK_SYNC_EIO,       /* writes pass, the sync fails with EIO */
		HOOK_BUDGET,         /* budget writes pass, then ENOSPC */
	} mode;
	size_t budget;
	size_t writes, syncs;
	size_t shorts, enospc;       /* seen from the real write(2) */
};

/* Route q's writes and syncs through h. */
void set_hooks(struct lineq *q, struct hook *h);

#endif
