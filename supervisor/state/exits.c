/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exits.jsonl: worker_exited lines in a .jsonl file bounded by lines. */
#include "events.h"
#include "exits.h"

const char *
exits_strerror(int code)
{
	switch (code) {
	case EXITS_OK: return "success";
	case EXITS_ERR_IO: return "I/O error";
	case EXITS_ERR_INVAL: return "invalid argument";
	case EXITS_ERR_TRIM: return "written, but the file could not be trimmed";
	case EXITS_ERR_NOMEM: return "out of memory";
	case EXITS_ERR_QUEUED: return "not written yet, kept in memory";
	case EXITS_ERR_DROPPED: return "not written, queue full: exit lost";
	}
	return "unknown error";
}

static int
exits_code(int events_rc)
{
	switch (events_rc) {
	case EVENTS_OK: return EXITS_OK;
	case EVENTS_ERR_QUEUED: return EXITS_ERR_QUEUED;
	case EVENTS_ERR_DROPPED: return EXITS_ERR_DROPPED;
	case EVENTS_ERR_INVAL: return EXITS_ERR_INVAL;
	case EVENTS_ERR_TRIM: return EXITS_ERR_TRIM;
	}
	return EXITS_ERR_IO;
}

int
exits_open(struct exits_log *log, const char *state_dir, char *err,
    size_t errlen)
{
	struct jsonl *j = &log->file;
	int rc;

	if (jsonl_prepare(j, state_dir, EXITS_FILE_NAME, EXITS_FILE_MODE, err,
	    errlen) != JSONL_OK)
		return EXITS_ERR_INVAL;
	j->trim_lines = EXITS_TRIM_AT;
	j->keep_lines = EXITS_KEEP;
	j->trim_at = EXITS_TRIM_BYTES;
	j->keep = (off_t)EXITS_REWRITE_MAX;
	rc = jsonl_open(j, err, errlen);
	return rc == JSONL_OK ? EXITS_OK : rc == JSONL_ERR_TRIM ?
	    EXITS_ERR_TRIM : EXITS_ERR_IO;
}

#define EXITS_LOST "worker exits lost while exits.jsonl could not be written"

int
exits_flush(struct exits_log *log, char *err, size_t errlen)
{
	return exits_code(events_write_queued(&log->file, "exits",
	    EXITS_LOST, err, errlen));
}

int
exits_append(struct exits_log *log, const struct event *ev, char *err,
    size_t errlen)
{
	return exits_code(events_write(&log->file, ev, "exits", EXITS_LOST,
	    err, errlen));
}

size_t
exits_pending(const struct exits_log *log)
{
	return lineq_pending(&log->file.queue);
}

uint64_t
exits_lost(const struct exits_log *log)
{
	return log->file.queue.dropped;
}

void
exits_close(struct exits_log *log)
{
	jsonl_close(&log->file);
}
