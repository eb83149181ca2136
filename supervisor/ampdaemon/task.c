/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Children run on behalf of the loop (task.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "task.h"

/* Hand complete lines (and, at the end, the rest) to t->line. */
static void
task_deliver_lines(struct task *t, bool all)
{
	char line[TASK_LINE_MAX];

	while (t->line != NULL && t->line_off < t->out.len) {
		const char *p = t->out.buf + t->line_off;
		size_t left = t->out.len - t->line_off;
		const char *nl = memchr(p, '\n', left);
		size_t n = nl != NULL ? (size_t)(nl - p) : left;

		if (nl == NULL && !all)
			return;
		str_fmt(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n :
		    sizeof(line) - 1), p);
		t->line_off += n + (nl != NULL);
		t->line(t, line);
	}
}

static void
task_maybe_done(struct task *t)
{
	if (!t->exited || t->fd >= 0)
		return;
	task_deliver_lines(t, true);
	ev_timer_stop(t->loop, &t->timer);
	t->pid = -1;
	if (t->out.failed)
		strbuf_puts(&t->out, "");
	t->done(t, t->wstatus, strbuf_str(&t->out), t->out.len);
	/* done() may have restarted t: only free what a restart did not reuse */
}

static void
task_on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct task *t = (struct task *)((char *)w - offsetof(struct task, child));

	(void)revents;
	ev_child_stop(loop, w);
	t->exited = true;
	t->wstatus = w->rstatus;
	task_maybe_done(t);
}

static void
task_on_output(struct ev_loop *loop, ev_io *w, int revents)
{
	struct task *t = (struct task *)((char *)w - offsetof(struct task, io));
	char buf[8192];
	ssize_t n;

	(void)revents;
	for (;;) {
		n = read(t->fd, buf, sizeof(buf));
		if (n > 0) {
			if (t->out.len + (size_t)n <= t->out.max)
				strbuf_append(&t->out, buf, (size_t)n);
			task_deliver_lines(t, false);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break;   /* EOF or an error: the child's side is gone */
	}
	ev_io_stop(loop, w);
	close(t->fd);
	t->fd = -1;
	task_maybe_done(t);
}

static void
task_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct task *t = (struct task *)((char *)w - offsetof(struct task, timer));

	(void)loop;
	(void)revents;
	t->timed_out = true;
	task_kill(t);
}

static void
task_child(task_fn *fn, void *arg, int fd, int in, pid_t parent)
{
	int fds[3] = { -1, -1, -1 }, keep = fd, bad = -1, nul;

	if (spawn_child_reset_signals() != 0)
		_exit(126);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(126);
	if ((nul = open("/dev/null", O_RDWR)) < 0)
		_exit(126);
	fds[0] = in > STDERR_FILENO ? in : nul;
	fds[1] = nul;
	fds[2] = STDERR_FILENO;
	if (spawn_child_fds(fds, 3, &keep, &bad) != 0)
		_exit(126);
	_exit(fn(arg, keep) & 0xff);
}

int
task_start(struct ev_loop *loop, struct task *t, task_fn *fn, void *arg,
    uint64_t timeout_ms)
{
	int p[2];
	pid_t parent = getpid(), pid;
	sigset_t all, old;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		task_child(fn, arg, p[1], t->child_in, parent);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid < 0) {
		int e = errno;

		close(p[0]);
		errno = e;
		return -1;
	}
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	t->loop = loop;
	t->pid = pid;
	t->fd = p[0];
	t->exited = false;
	t->timed_out = false;
	t->wstatus = 0;
	strbuf_free(&t->out);
	strbuf_init(&t->out, TASK_OUTPUT_MAX);
	t->line_off = 0;
	ev_child_init(&t->child, task_on_child, pid, 0);
	ev_child_start(loop, &t->child);
	ev_io_init(&t->io, task_on_output, t->fd, EV_READ);
	ev_io_start(loop, &t->io);
	ev_timer_init(&t->timer, task_on_timeout, (double)timeout_ms / 1000.0, 0.);
	if (timeout_ms > 0)
		ev_timer_start(loop, &t->timer);
	return 0;
}

bool
task_is_running(const struct task *t)
{
	return t->pid > 0;
}

bool
task_timed_out(const struct task *t)
{
	return t->timed_out;
}

void
task_kill(struct task *t)
{
	if (t->pid > 0 && !t->exited)
		kill(t->pid, SIGKILL);
}

void
task_release(struct task *t)
{
	if (t->loop != NULL) {
		ev_child_stop(t->loop, &t->child);
		ev_io_stop(t->loop, &t->io);
		ev_timer_stop(t->loop, &t->timer);
	}
	if (t->pid > 0 && !t->exited)
		kill(t->pid, SIGKILL);
	t->pid = -1;
	if (t->loop != NULL && t->fd >= 0)   /* never started: fd is 0, not ours */
		close(t->fd);
	t->fd = -1;
	strbuf_free(&t->out);
}

void
task_write(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

void
task_field(char *dst, size_t len, const char *s)
{
	str_fmt(dst, len, "%s", s != NULL ? s : "");
	for (size_t i = 0; dst[i] != '\0'; i++)
		if (dst[i] == '\t' || dst[i] == '\n' || dst[i] == '\r')
			dst[i] = ' ';
}

size_t
task_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (n < max) {
		f[n++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	for (size_t i = n; i < max; i++)
		f[i] = (char *)"";
	return n;
}

void
task_lines(const char *out, size_t len, void (*fn)(void *arg, char *line),
    void *arg)
{
	char *copy, *line, *nl;

	if ((copy = strndup(out, len)) == NULL)
		return;
	for (line = copy; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line) - 1;
		else
			*nl = '\0';
		if (*line != '\0')
			fn(arg, line);
	}
	free(copy);
}
