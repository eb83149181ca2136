/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz the readers of the state directory: whatever a damaged or hostile
 * StateDir holds, ampdaemon at start (faults_load) and the diagnosis
 * (ampctl diag: events.jsonl, exits.jsonl, faults.state, poison.state,
 * the logs) must neither crash nor hang, and diag must still produce a
 * report.  The input's first byte chooses which file(s) get the rest:
 *
 *   0  faults.state            faults_load
 *   1  events.jsonl            events_read_tail, events_json_check per line
 *   2  exits.jsonl             through diag_run
 *   3  every state file and both logs at once, then diag_run (text, JSON)
 *   0xf8, 0xfa, ...  exits.jsonl and events.jsonl opened (jsonl.c: a torn
 *      line cut, lines counted, cut down) and appended to; whole lines left
 *   0xf9, 0xfb, ...  an event built from the input: its line valid JSON
 *      within EVENTS_LINE_MAX, its FaultCommand environment built
 *
 * The scratch directory is in /dev/shm, made once and rewritten per input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "events.h"
#include "exits.h"
#include "faults.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64], state[96], logs[96];

static void
put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "we")) == NULL)
		abort();
	if (n > 0 && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

static void
clear(void)
{
	static const char *const names[] = { "faults.state", "events.jsonl",
	    "exits.jsonl", "poison.state" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", state, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/ampdaemon.log", logs);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ampscansvc.log", logs);
	unlink(path);
}

static void
teardown(void)
{
	clear();
	rmdir(state);
	rmdir(logs);
	rmdir(root);
}

static void
setup(void)
{
	if (root[0] != '\0')
		return;
	snprintf(root, sizeof(root), "/dev/shm/fuzz_state.%d", (int)getpid());
	snprintf(state, sizeof(state), "%s/state", root);
	snprintf(logs, sizeof(logs), "%s/log", root);
	if (mkdir(root, 0700) != 0 || mkdir(state, 0700) != 0 ||
	    mkdir(logs, 0700) != 0)
		abort();
	atexit(teardown);
}

static void
no_emit(void *arg, const struct event *ev)
{
	(void)arg;
	(void)ev;
}

static int
count_line(void *arg, const struct events_line *line)
{
	(*(size_t *)arg)++;
	(void)line;
	return 0;
}

static void
diagnose(void)
{
	struct diag_opts o = { .state_dir = state, .log_dir = logs,
	    .now_ms = 1795000000000LL };
	struct strbuf out;
	char err[256];

	for (int json = 0; json < 2; json++) {
		o.json = json != 0;
		strbuf_init(&out, 1u << 20);
		if (diag_run(&o, &out, err, sizeof(err)) < 0)
			abort();   /* damaged input is part of the report */
		strbuf_free(&out);
	}
}

/* Open both logs on what the input left there, append, close: the files
 * then hold whole lines only. */
static void
open_and_append(const uint8_t *p, size_t n)
{
	struct events_log el;
	struct exits_log xl;
	struct event ev;
	char err[512], path[256], *buf;
	size_t len;
	FILE *f;

	put(state, "events.jsonl", p, n);
	put(state, "exits.jsonl", p, n);
	events_worker_exited(&ev, 1795000000000LL, 42, 11, 5, NULL, 0);
	(void)exits_open(&xl, state, err, sizeof(err));
	(void)exits_append(&xl, &ev, err, sizeof(err));
	exits_close(&xl);
	(void)events_open(&el, state, err, sizeof(err));
	el.file.trim_at = 512;            /* small: cut down too */
	el.file.keep = 256;
	(void)events_append(&el, &ev, err, sizeof(err));
	events_close(&el);
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s", state,
		    k ? "events.jsonl" : "exits.jsonl");
		if ((f = fopen(path, "re")) == NULL)
			abort();
		buf = malloc(n + 2 * EVENTS_LINE_MAX);
		len = fread(buf, 1, n + 2 * EVENTS_LINE_MAX, f);
		fclose(f);
		if (len == 0 || buf[len - 1] != '\n')
			abort();          /* our line, last and whole */
		free(buf);
	}
}

/* An event from the input's bytes: ops of a kind byte, then a length
 * byte and that many bytes. */
static void
build_event(const uint8_t *p, size_t n)
{
	static char env[EVENTS_ENV_MAX];
	char line[EVENTS_LINE_MAX + 1], s[256], items[8][32];
	const char *list[8];
	struct event ev;
	size_t i = 0, len, k;

	events_begin_type(&ev, EVENT_T_FAULT_RAISED, 1795000000000LL);
	while (i + 2 <= n) {
		uint8_t op = p[i], l = p[i + 1];

		i += 2;
		len = l < n - i ? l : n - i;
		memcpy(s, p + i, len);
		s[len] = '\0';
		i += len;
		switch (op % 5) {
		case 0: events_add_strn(&ev, "detail", s, len); break;
		case 1: events_add_int(&ev, "fault", (int64_t)l << (op % 56)); break;
		case 2: events_add_bool(&ev, "core_dumped", op & 1); break;
		case 3: events_add_str(&ev, "name", s); break;
		default:
			for (k = 0; k < 8; k++) {
				snprintf(items[k], sizeof(items[k]), "%.*s",
				    (int)(len > k ? len - k : 0), s + (len > k ? k : 0));
				list[k] = items[k];
			}
			events_add_strlist(&ev, "files", list, op % 9);
			break;
		}
	}
	len = events_render(&ev, line, sizeof(line));
	if (len == 0 || len > EVENTS_LINE_MAX || line[len - 1] != '\n' ||
	    !events_json_check(line, len - 1, NULL, 0))
		abort();
	if (events_fault_env(&ev, env, sizeof(env)) == 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct faults f;
	char err[256], type[64];
	size_t n = 0;

	if (size < 1)
		return 0;
	setup();
	clear();
	if (data[0] >= 0xf8) {
		if (data[0] & 1)
			build_event(data + 1, size - 1);
		else
			open_and_append(data + 1, size - 1);
		return 0;
	}
	switch (data[0] % 4) {
	case 0:
		put(state, "faults.state", data + 1, size - 1);
		faults_init(&f, no_emit, NULL);
		(void)faults_load(&f, state, err, sizeof(err));
		break;
	case 1: {
		const char *p = (const char *)data + 1, *end = p + size - 1;

		char path[256];

		put(state, "events.jsonl", data + 1, size - 1);
		snprintf(path, sizeof(path), "%s/events.jsonl", state);
		(void)events_read_tail(path, 1000, count_line, &n, err, sizeof(err));
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

			(void)events_json_check(p, len, type, sizeof(type));
			p += len + 1;
		}
		break;
	}
	case 2:
		put(state, "exits.jsonl", data + 1, size - 1);
		diagnose();
		break;
	default:
		put(state, "faults.state", data + 1, size - 1);
		put(state, "events.jsonl", data + 1, size - 1);
		put(state, "exits.jsonl", data + 1, size - 1);
		put(state, "poison.state", data + 1, size - 1);
		put(logs, "ampdaemon.log", data + 1, size - 1);
		put(logs, "ampscansvc.log", data + 1, size - 1);
		diagnose();
		break;
	}
	return 0;
}
