/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The poison check's hash, away from the event loop (pool_int.h).
 *
 * poison_lookup() judges a file by its identity alone when the list has
 * confirmed it at that identity; otherwise the file's bytes must be hashed
 * (up to POOL_POISON_HASH_MAX).  That runs in a task child (task.c: fork,
 * no exec), which gets the file as its stdin, hashes it with pread and
 * writes one line back: "ok <sha256 hex> <stable 0|1>" or "err <why>".
 * Why a child and not a thread: ampdaemon has no threads (ARCHITECTURE.md),
 * a child cannot stall the loop on a slow file system's read, the time
 * limit is a SIGKILL, and the hash is needed rarely (a file that matches
 * an entry's metadata but not its confirmed ctime: after a restart, or a
 * chmod), so a fork per distinct file costs little.
 *
 * One job per distinct identity (device, inode, size, mtime, ctime, bytes
 * to hash): requests for a file already being hashed wait on its job, so
 * 60 pipelined SCANs of one file cost one hash.  At most POISONQ_JOBS jobs
 * and POOL_QUEUE_MAX waiting requests; beyond that a request is answered
 * with an error at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "num.h"
#include "pool_int.h"

#define POISONQ_JOBS 8                   /* distinct files hashed at once */
#define POISONQ_TIMEOUT_MS 60000         /* one hash, up to 64 MiB */
#define POISONQ_REPLY_MAX 600            /* the child's line */

struct poisonq_job {
	bool used;
	struct poison_id now;            /* the identity being hashed */
	struct task task;
	struct daemon *d;
	poisonq_done_fn *done;
	struct scan_req *head, *tail;    /* waiting for this hash */
};

struct poisonq {
	struct poisonq_job job[POISONQ_JOBS];
	size_t waiting;
};

static bool
poisonq_same(const struct poison_id *a, const struct poison_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	    a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec &&
	    a->hashed == b->hashed;
}

/* In the child: the file is fd 0. */
static int
poisonq_child(void *arg, int out)
{
	const struct poison_id *now = arg;
	uint8_t sha[POISON_SHA256_LEN];
	char hex[2 * POISON_SHA256_LEN + 1], err[512], line[POISONQ_REPLY_MAX];
	struct stat st;
	bool stable;

	if (poison_sha_fd(STDIN_FILENO, now->hashed, sha, err, sizeof(err)) !=
	    POISON_OK) {
		task_field(line, sizeof(line), err);
		task_write(out, "err ");
		task_write(out, line);
		task_write(out, "\n");
		return 0;
	}
	stable = fstat(STDIN_FILENO, &st) == 0 &&
	    (uint64_t)st.st_size == now->size &&
	    (int64_t)st.st_mtim.tv_sec == now->mtime_sec &&
	    (uint32_t)st.st_mtim.tv_nsec == now->mtime_nsec &&
	    (int64_t)st.st_ctim.tv_sec == now->ctime_sec &&
	    (uint32_t)st.st_ctim.tv_nsec == now->ctime_nsec;
	num_hex(sha, sizeof(sha), hex);
	snprintf(line, sizeof(line), "ok %s %d\n", hex, stable ? 1 : 0);
	task_write(out, line);
	return 0;
}

/* The child's answer: 0 with sha and stable, or -1 with why. */
static int
poisonq_parse(struct task *t, int wstatus, const char *out, size_t len,
    uint8_t sha[POISON_SHA256_LEN], bool *stable, char *why, size_t whylen)
{
	const size_t hexlen = 2 * POISON_SHA256_LEN;

	if (task_timed_out(t)) {
		snprintf(why, whylen, "hashing it took longer than %d s",
		    POISONQ_TIMEOUT_MS / 1000);
		return -1;
	}
	if (len > 4 && memcmp(out, "err ", 4) == 0) {
		snprintf(why, whylen, "%.*s", (int)(len - 5), out + 4);
		return -1;
	}
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0 ||
	    len != 3 + hexlen + 3 || memcmp(out, "ok ", 3) != 0 ||
	    !num_unhex(out + 3, POISON_SHA256_LEN, 0, sha) ||
	    out[3 + hexlen] != ' ' || out[len - 1] != '\n' ||
	    (out[len - 2] != '0' && out[len - 2] != '1')) {
		snprintf(why, whylen, "the hashing child failed (status %d)",
		    wstatus);
		return -1;
	}
	*stable = out[len - 2] == '1';
	return 0;
}

static void
poisonq_release(struct daemon *d, struct poisonq_job *j)
{
	task_release(&j->task);
	j->used = false;
	j->head = j->tail = NULL;
	(void)d;
}

/* Every request waiting on j gets the verdict (or the error). */
static void
poisonq_answer(struct daemon *d, struct poisonq_job *j, int verdict,
    unsigned crashes, const char *error)
{
	struct scan_req *req = j->head, *next;
	poisonq_done_fn *done = j->done;

	poisonq_release(d, j);    /* done() may start another job in this slot */
	for (; req != NULL; req = next) {
		next = req->next;
		req->next = NULL;
		d->pool.pq->waiting--;
		done(d, req, verdict, crashes, error);
	}
}

static void
poisonq_on_done(struct task *t, int wstatus, const char *out, size_t len)
{
	struct poisonq_job *j = t->data;
	struct daemon *d = j->d;
	const struct poison_entry *pe = NULL;
	uint8_t sha[POISON_SHA256_LEN];
	char why[512], msg[640];
	bool stable = false;
	int verdict;

	if (poisonq_parse(t, wstatus, out, len, sha, &stable, why,
	    sizeof(why)) != 0) {
		dlog(&d->log, DLOG_WARNING, "%s: poison check: %s",
		    j->head != NULL ? j->head->name : "?", why);
		snprintf(msg, sizeof(msg), "cannot check the file against the poison list: %s",
		    why);
		poisonq_answer(d, j, POISON_CLEAN, 0, msg);
		return;
	}
	verdict = poison_confirm(&d->poison, &j->now, sha, stable, &pe);
	if (d->poison.dirty && poison_save(&d->poison, d->cfg.state_dir, why,
	    sizeof(why)) != 0) {   /* a changed file left the list */
		dlog(&d->log, DLOG_ERROR, "%s", why);
		daemon_state_retry(d);
	}
	poisonq_answer(d, j, verdict, pe != NULL ? pe->crashes : 0, NULL);
}

static struct poisonq_job *
poisonq_find(struct poisonq *q, const struct poison_id *now)
{
	struct poisonq_job *free_job = NULL;

	for (size_t i = 0; i < POISONQ_JOBS; i++) {
		if (q->job[i].used && poisonq_same(&q->job[i].now, now))
			return &q->job[i];
		if (!q->job[i].used && free_job == NULL)
			free_job = &q->job[i];
	}
	return free_job;
}

int
poisonq_wait(struct daemon *d, struct scan_req *req,
    const struct poison_id *now, poisonq_done_fn *done, char *why,
    size_t whylen)
{
	struct poisonq_job *j;

	if (d->pool.pq == NULL &&
	    (d->pool.pq = calloc(1, sizeof(*d->pool.pq))) == NULL)
		return str_seterr(why, whylen, -1, "cannot check the file against the poison list: out of memory");
	if (d->pool.pq->waiting >= POOL_QUEUE_MAX ||
	    (j = poisonq_find(d->pool.pq, now)) == NULL)
		return str_seterr(why, whylen, -1, "scan queue full: try again later");
	if (!j->used) {
		memset(j, 0, sizeof(*j));
		j->now = *now;
		j->d = d;
		j->done = done;
		j->task.name = "poison check";
		j->task.done = poisonq_on_done;
		j->task.data = j;
		j->task.child_in = req->fd;
		if (task_start(d->loop, &j->task, poisonq_child, &j->now,
		    POISONQ_TIMEOUT_MS) != 0) {
			str_seterr(why, whylen, -1, "cannot check the file against the poison list: fork: %s",
			    strerror(errno));
			memset(j, 0, sizeof(*j));
			return -1;
		}
		j->used = true;
		dlog(&d->log, DLOG_INFO, "%s: hashing it in a child (pid %ld): its identity is not the one the poison list confirmed",
		    req->name, (long)j->task.pid);
	}
	req->next = NULL;
	if (j->tail != NULL)
		j->tail->next = req;
	else
		j->head = req;
	j->tail = req;
	d->pool.pq->waiting++;
	return 0;
}

void
poisonq_drain(struct daemon *d, const char *why)
{
	struct poisonq *q = d->pool.pq;

	if (q == NULL)
		return;
	for (size_t i = 0; i < POISONQ_JOBS; i++)
		if (q->job[i].used)
			poisonq_answer(d, &q->job[i], POISON_CLEAN, 0, why);
}

void
poisonq_free(struct daemon *d)
{
	struct poisonq *q = d->pool.pq;

	if (q == NULL)
		return;
	for (size_t i = 0; i < POISONQ_JOBS; i++)
		if (q->job[i].used)
			task_release(&q->job[i].task);
	free(q);
	d->pool.pq = NULL;
}

size_t
poisonq_waiting(const struct daemon *d)
{
	return d->pool.pq != NULL ? d->pool.pq->waiting : 0;
}
