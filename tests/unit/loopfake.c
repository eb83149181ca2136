/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fakes of loopfake.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loopfake.h"
#include "spawn.h"

struct fake fk;

int __wrap_spawn_worker(const struct spawn_req *req, struct spawn_result *res,
    char *err, size_t errlen);
int __wrap_kill(pid_t pid, int sig);
int __wrap_task_start(struct ev_loop *loop, struct task *t, task_fn *fn,
    void *arg, uint64_t timeout_ms);
uid_t __wrap_geteuid(void);

int
__wrap_spawn_worker(const struct spawn_req *req, struct spawn_result *res,
    char *err, size_t errlen)
{
	int p[2];
	unsigned i = fk.spawns;

	if (fk.spawn_fails || i >= FAKE_PIDS || pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "fake spawn refused");
		return SPAWN_ERR_SYS;
	}
	close(p[1]);                     /* its log: empty */
	fk.peer[i] = dup(req->sock_fd);
	fk.spawns++;
	res->pid = FAKE_PID0 + (pid_t)i;
	res->log_fd = p[0];
	return SPAWN_OK;
}

int
__wrap_kill(pid_t pid, int sig)
{
	if (pid >= FAKE_PID0 && pid < FAKE_PID0 + FAKE_PIDS)
		fk.kills[pid - FAKE_PID0] = sig;
	return 0;
}

int
__wrap_task_start(struct ev_loop *loop, struct task *t, task_fn *fn,
    void *arg, uint64_t timeout_ms)
{
	(void)fn;
	(void)arg;
	(void)timeout_ms;
	t->loop = loop;
	t->pid = 800000 + (pid_t)fk.tasks++;
	t->fd = -1;
	t->exited = false;
	t->timed_out = false;
	t->line_off = 0;
	return 0;
}

uid_t
__wrap_geteuid(void)
{
	return 1000;   /* not root: no scan account to look up */
}

struct daemon *
fake_daemon(unsigned n)
{
	struct daemon *d = calloc(1, sizeof(*d));
	char err[256], p[300];
	unsigned i;

	memset(&fk, 0, sizeof(fk));
	for (i = 0; i < FAKE_PIDS; i++)
		fk.peer[i] = -1;
	snprintf(fk.dir, sizeof(fk.dir), "/tmp/loopfake.XXXXXX");
	if (d == NULL || mkdtemp(fk.dir) == NULL)
		abort();
	snprintf(p, sizeof(p), "%s/active", fk.dir);
	mkdir(p, 0700);
	snprintf(fk.log, sizeof(fk.log), "%s/ampdaemon.log", fk.dir);
	config_defaults(&d->cfg);
	d->cfg.workers = n;
	/* the fakes stand in for exec'd workers; WorkerLaunch loader (the
	 * default) is driven by the integration tests (pool_loader*.sh) */
	d->cfg.worker_launch = CONFIG_LAUNCH_EXEC;
	d->cfg.state_dir = fk.dir;
	d->cfg.definitions_dir = fk.dir;
	/* Engine clamav (the default): each spawn makes a scratch directory */
	snprintf(fk.scratch, sizeof(fk.scratch), "%s/scratch", fk.dir);
	d->cfg.scratch_dir = fk.scratch;
	d->log.fd = open(fk.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	d->svclog.fd = -1;
	d->lock_fd = -1;
	d->index_fd = -1;
	d->inc.ino_fd = -1;
	d->loop = ev_default_loop(0);
	d->started_ms = walltime_now_ms();
	faults_init(&d->faults, daemon_faults_emit, d);
	if (pool_init(d, err, sizeof(err)) != 0)
		abort();
	fk.d = d;
	return d;
}

void
fake_free(void)
{
	struct daemon *d = fk.d;
	char cmd[200];
	unsigned i;

	for (i = 0; i < FAKE_PIDS; i++)
		if (fk.peer[i] >= 0)
			close(fk.peer[i]);
	for (i = 0; i < POOL_SLOTS(&d->pool); i++) {
		struct worker *w = &d->pool.w[i];

		ev_timer_stop(d->loop, &w->timer);
		ev_timer_stop(d->loop, &w->scan_timer);
		ev_io_stop(d->loop, &w->sock_io);
		ev_io_stop(d->loop, &w->log.io);
		ev_child_stop(d->loop, &w->child);
		if (w->sock >= 0)
			close(w->sock);
		if (w->log.fd >= 0)
			close(w->log.fd);
	}
	ev_timer_stop(d->loop, &d->pool.stable_timer);
	ev_timer_stop(d->loop, &d->pool.intervention_timer);
	ev_timer_stop(d->loop, &d->upd.roll_timer);
	ev_timer_stop(d->loop, &d->inc.retry);
	ev_timer_stop(d->loop, &d->inc.settle);
	defs_free(d);
	d->defs.task.pid = -1;
	if (d->index_fd >= 0)
		close(d->index_fd);
	poison_free(&d->poison);
	pool_free(d);
	close(d->log.fd);
	free(d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fk.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", fk.dir);
	fk.d = NULL;
}

int
fake_peer(const struct worker *w)
{
	if (w->pid < FAKE_PID0 || w->pid >= FAKE_PID0 + FAKE_PIDS)
		abort();
	return fk.peer[w->pid - FAKE_PID0];
}

static void
fake_send(struct worker *w, struct wbuf *b)
{
	if (wproto_send(fake_peer(w), b, -1) != 0)
		abort();
	ev_invoke(w->d->loop, &w->sock_io, EV_READ);
}

void
fake_ready(struct worker *w, const char *version)
{
	static struct wbuf b;
	struct wproto_ready m;

	memset(&m, 0, sizeof(m));
	m.proto = WPROTO_VERSION;
	snprintf(m.version, sizeof(m.version), "%s", version ? version :
	    AMPSCAN_VERSION);
	m.ndbs = 1;
	snprintf(m.dbs[0].name, sizeof(m.dbs[0].name), "main");
	m.dbs[0].version = 62;
	if (wproto_encode_ready(&b, &m) != 0)
		abort();
	fake_send(w, &b);
}

uint64_t
fake_recv_scan(struct worker *w, char *name, size_t len)
{
	static uint8_t buf[WPROTO_MAX_MSG];
	struct wproto_scan m;
	struct buf r;
	uint16_t type;
	uint64_t id;
	int fd = -1;
	ssize_t n;

	do {   /* MEMQ (poolmem.c) asks for its memory: not answered here */
		n = wproto_recv(fake_peer(w), buf, sizeof(buf), &fd);
		if (fd >= 0)
			close(fd);
	} while (n > 0 && wproto_open(buf, (size_t)n, &type, &id, &r) == 0 &&
	    type == WPROTO_MEMQ);
	if (n <= 0 || wproto_open(buf, (size_t)n, &type, &id, &r) != 0 ||
	    type != WPROTO_SCAN || wproto_decode_scan(&r, id, &m) != 0)
		return 0;
	snprintf(name, len, "%s", m.name);
	return id;
}

void
fake_mem(struct worker *w, uint64_t id, uint64_t priv)
{
	static struct wbuf b;
	struct wproto_mem m = { .rss = priv + (8u << 20), .pss = priv + (1u << 20),
	    .priv = priv };

	if (wproto_encode_mem(&b, id, &m) != 0)
		abort();
	fake_send(w, &b);
}

void
fake_result(struct worker *w, uint64_t id, uint32_t verdict)
{
	fake_result_read(w, id, verdict, 0, 0);
}

void
fake_result_read(struct worker *w, uint64_t id, uint32_t verdict,
    uint32_t rflags, uint64_t read_bytes)
{
	static struct wbuf b;
	static struct wproto_result m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	m.verdict = verdict;
	m.rflags = rflags;
	m.read_bytes = read_bytes;
	if (verdict == WPROTO_FOUND) {
		m.nnames = 1;
		snprintf(m.names[0].sig, sizeof(m.names[0].sig), "Test.Sig");
	}
	if (wproto_encode_result(&b, &m) != 0)
		abort();
	fake_send(w, &b);
}

void
fake_eof(struct worker *w)
{
	int i = w->pid - FAKE_PID0;

	close(fk.peer[i]);
	fk.peer[i] = -1;
	ev_invoke(w->d->loop, &w->sock_io, EV_READ);
}

void
fake_exit(struct worker *w, int ws)
{
	w->child.rstatus = ws;
	ev_invoke(w->d->loop, &w->child, EV_CHILD);
}

void
fake_timer(struct worker *w)
{
	ev_invoke(w->d->loop, &w->timer, EV_TIMER);
}

void
fake_scan_timer(struct worker *w)
{
	ev_invoke(w->d->loop, &w->scan_timer, EV_TIMER);
}

int
fake_signal(const struct worker *w)
{
	if (w->pid < FAKE_PID0 || w->pid >= FAKE_PID0 + FAKE_PIDS)
		return 0;
	return fk.kills[w->pid - FAKE_PID0];
}

void
fake_task_end(struct task *t, int ws, const char *out)
{
	char line[TASK_LINE_MAX];
	const char *p = out, *nl;

	if (t->pid <= 0)
		abort();
	for (; t->line != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		t->line(t, line);
	}
	t->pid = -1;
	t->exited = true;
	t->done(t, ws, out, strlen(out));
}

void
fake_defs_ok(void)
{
	char p[300];
	int fd;

	snprintf(p, sizeof(p), "%s/active/ampscan.idx", fk.dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	fake_task_end(&fk.d->defs.task, 0, "index\tfresh\t\n");
}

void
fake_defs_fail(const char *why)
{
	char out[600];

	snprintf(out, sizeof(out), "fail\t%s\n", why);
	fake_task_end(&fk.d->defs.task, 1 << 8, out);
}

static unsigned
log_grep(const char *s)
{
	char line[8192];
	unsigned n = 0;
	FILE *f = fopen(fk.log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

bool
fake_log_has(const char *s)
{
	return log_grep(s) > 0;
}

unsigned
fake_log_count(const char *s)
{
	return log_grep(s);
}
