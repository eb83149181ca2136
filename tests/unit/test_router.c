/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The router (router.c): how scan requests are queued, dispatched to idle
 * READY workers, answered from the clean-file cache, retried after a
 * crash, refused.  Synthetic workers (loopfake.h), no process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "loopfake.h"

/* What a request's done() was told. */
struct answer {
	int calls;
	bool have_res;
	uint32_t verdict;
	char error[512];
};

struct treq {
	struct scan_req req;
	struct answer a;
};

static char file_path[256];

static void
treq_done(struct scan_req *req, const struct wproto_result *res,
    const char *error)
{
	struct answer *a = &((struct treq *)req)->a;

	a->calls++;
	a->have_res = res != NULL;
	a->verdict = res != NULL ? res->verdict : 0;
	snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
}

static struct treq *
submit(struct daemon *d, bool no_cache)
{
	struct treq *t = test_calloc(1, sizeof(*t));

	t->req.fd = open(file_path, O_RDONLY | O_CLOEXEC);
	assert_true(t->req.fd >= 0);
	t->req.no_cache = no_cache;
	snprintf(t->req.name, sizeof(t->req.name), "%s", file_path);
	t->req.done = treq_done;
	pool_submit(d, &t->req);
	return t;
}

static int
setup(void **state)
{
	struct daemon *d = fake_daemon(2);
	FILE *f;
	unsigned i;

	snprintf(file_path, sizeof(file_path), "%s/file.txt", fk.dir);
	f = fopen(file_path, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	pool_check_defs(d, false);
	pool_start(d);
	fake_defs_ok();
	for (i = 0; i < 2; i++)
		assert_int_equal(d->pool.w[i].st, WS_STARTING);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_free();
	return 0;
}

static void
test_queued_until_ready_then_answered(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];
	struct treq *t = submit(d, true);
	char name[512];
	uint64_t id;

	assert_int_equal(d->pool.queued, 1);
	assert_int_equal(t->a.calls, 0);
	fake_ready(w, NULL);
	assert_int_equal(d->pool.queued, 0);
	assert_ptr_equal(w->req, &t->req);
	assert_int_equal(t->req.attempts, 1);
	id = fake_recv_scan(w, name, sizeof(name));
	assert_int_equal(id, t->req.id);
	assert_string_equal(name, file_path);
	fake_result(w, id, WPROTO_FOUND);
	assert_int_equal(t->a.calls, 1);
	assert_true(t->a.have_res);
	assert_int_equal(t->a.verdict, WPROTO_FOUND);
	assert_int_equal(t->req.fd, -1);
	assert_null(w->req);
	assert_int_equal(d->pool.detections_total, 1);
	test_free(t);
}

static void
test_round_robin(void **state)
{
	struct daemon *d = *state;
	struct treq *a, *b;

	fake_ready(&d->pool.w[0], NULL);
	fake_ready(&d->pool.w[1], NULL);
	a = submit(d, true);
	b = submit(d, true);
	assert_ptr_equal(d->pool.w[0].req, &a->req);
	assert_ptr_equal(d->pool.w[1].req, &b->req);
	fake_result(&d->pool.w[0], a->req.id, WPROTO_CLEAN);
	fake_result(&d->pool.w[1], b->req.id, WPROTO_CLEAN);
	assert_int_equal(a->a.calls + b->a.calls, 2);
	test_free(a);
	test_free(b);
}

#define FILE_BYTES 6   /* "hello\n" */

static void
test_clean_file_is_cached(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];
	struct treq *a, *b, *c;

	fake_ready(w, NULL);
	a = submit(d, false);
	assert_int_equal(d->pool.cc.pending, 1);   /* leased before the read */
	fake_result_read(w, a->req.id, WPROTO_CLEAN, WPROTO_RES_WHOLE, FILE_BYTES);
	assert_int_equal(d->pool.cc.n.misses, 1);
	assert_int_equal(d->pool.cc.cached, 1);
	assert_int_equal(d->pool.cc.pending, 0);
	b = submit(d, false);               /* unchanged: from the cache */
	assert_int_equal(b->a.calls, 1);
	assert_int_equal(b->a.verdict, WPROTO_CLEAN);
	assert_null(w->req);
	assert_int_equal(d->pool.cc.n.hits, 1);
	pool_cache_clear(d);                /* new definitions */
	assert_int_equal(d->pool.cc.cached, 0);
	c = submit(d, false);
	assert_int_equal(c->a.calls, 0);
	assert_ptr_equal(w->req, &c->req);
	test_free(a);
	test_free(b);
	test_free(c);
}

/* Scanned and answered clean; a is the first request, still allocated. */
static struct treq *
scanned_clean(struct daemon *d, uint32_t rflags, uint64_t bytes)
{
	struct worker *w = &d->pool.w[0];
	struct treq *a = submit(d, false);

	assert_ptr_equal(w->req, &a->req);
	fake_result_read(w, a->req.id, WPROTO_CLEAN, rflags, bytes);
	assert_int_equal(a->a.calls, 1);
	return a;
}

/* Another scan of the file goes to a worker (not from the cache). */
static void
assert_scanned_again(struct daemon *d)
{
	struct worker *w = &d->pool.w[0];
	struct treq *b = submit(d, false);

	assert_int_equal(b->a.calls, 0);
	assert_ptr_equal(w->req, &b->req);
	fake_result(w, b->req.id, WPROTO_FOUND);
	test_free(b);
}

static void
test_short_read_not_cached(void **state)
{
	struct daemon *d = *state;
	struct treq *a, *b;

	fake_ready(&d->pool.w[0], NULL);
	a = scanned_clean(d, 0, FILE_BYTES);          /* not confirmed whole */
	b = scanned_clean(d, WPROTO_RES_WHOLE, 3);    /* fewer bytes */
	assert_int_equal(d->pool.cc.n.short_read, 2);
	assert_int_equal(d->pool.cc.cached, 0);
	assert_int_equal(d->pool.cc.pending, 0);
	assert_scanned_again(d);
	test_free(a);
	test_free(b);
}

static void
test_writer_breaks_the_lease(void **state)
{
	struct daemon *d = *state;
	struct treq *a;
	int fd;

	fake_ready(&d->pool.w[0], NULL);
	a = scanned_clean(d, WPROTO_RES_WHOLE, FILE_BYTES);
	assert_int_equal(d->pool.cc.cached, 1);
	/* a writer: the kernel holds its open back and signals the break */
	fd = open(file_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_scanned_again(d);          /* no hit while the lease breaks */
	assert_int_equal(d->pool.cc.n.hits, 0);
	/* the signal releases the file at once: the writer's open succeeds */
	ev_run(d->loop, EVRUN_NOWAIT);
	fd = open(file_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	test_free(a);
}

static void
test_writable_mapping_not_cached(void **state)
{
	struct daemon *d = *state;
	struct treq *a;
	int fd = open(file_path, O_RDWR | O_CLOEXEC);
	char *m;

	assert_true(fd >= 0);
	m = mmap(NULL, FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	close(fd);                        /* the mapping alone keeps it writable */
	fake_ready(&d->pool.w[0], NULL);
	a = scanned_clean(d, WPROTO_RES_WHOLE, FILE_BYTES);
	assert_int_equal(d->pool.cc.n.no_lease, 1);
	assert_int_equal(d->pool.cc.cached, 0);
	m[0] = 'J';                       /* same size, maybe the same mtime */
	assert_scanned_again(d);
	munmap(m, FILE_BYTES);
	test_free(a);
}

static void
test_lease_broken_in_flight_not_cached(void **state)
{
	struct daemon *d = *state;
	struct worker *w = &d->pool.w[0];
	struct treq *a;
	int fd;

	fake_ready(w, NULL);
	a = submit(d, false);
	fd = open(file_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_int_equal(fd, -1);          /* breaks the pending lease */
	ev_run(d->loop, EVRUN_NOWAIT);     /* released at once */
	fd = open(file_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	fake_result_read(w, a->req.id, WPROTO_CLEAN, WPROTO_RES_WHOLE, FILE_BYTES);
	assert_int_equal(d->pool.cc.n.broke, 1);
	assert_int_equal(d->pool.cc.cached, 0);
	assert_int_equal(d->pool.cc.pending, 0);
	assert_scanned_again(d);
	test_free(a);
}

static void
test_unlinked_entry_swept(void **state)
{
	struct daemon *d = *state;
	struct treq *a;

	fake_ready(&d->pool.w[0], NULL);
	a = scanned_clean(d, WPROTO_RES_WHOLE, FILE_BYTES);
	assert_int_equal(d->pool.cc.cached, 1);
	cc_sweep(&d->pool.cc, 0);
	assert_int_equal(d->pool.cc.cached, 1);   /* still linked, young */
	assert_int_equal(unlink(file_path), 0);
	cc_sweep(&d->pool.cc, 0);
	assert_int_equal(d->pool.cc.cached, 0);   /* deleted: let go */
	test_free(a);
}

static void
test_crash_in_flight_retried_once(void **state)
{
	struct daemon *d = *state;
	struct worker *w0 = &d->pool.w[0], *w1 = &d->pool.w[1];
	struct treq *t;

	d->cfg.poison_threshold = 3;
	fake_ready(w0, NULL);
	t = submit(d, true);
	assert_ptr_equal(w0->req, &t->req);
	fake_exit(w0, SIGSEGV);
	assert_int_equal(t->a.calls, 0);      /* retried ... */
	assert_true(fake_log_has("retrying once on another worker"));
	assert_int_equal(d->pool.queued, 1);  /* ... when a worker is READY */
	fake_ready(w1, NULL);
	assert_ptr_equal(w1->req, &t->req);
	assert_int_equal(t->req.attempts, 2);
	fake_exit(w1, SIGSEGV);               /* the second crash answers it */
	assert_int_equal(t->a.calls, 1);
	assert_false(t->a.have_res);
	assert_string_equal(t->a.error, "the scan service crashed while scanning this file");
	assert_int_equal(d->poison.n, 1);
	test_free(t);
}

static void
test_poison_after_threshold(void **state)
{
	struct daemon *d = *state;
	struct worker *w0 = &d->pool.w[0];
	struct treq *t, *u;

	d->cfg.poison_threshold = 1;
	fake_ready(w0, NULL);
	t = submit(d, true);
	fake_exit(w0, SIGSEGV);
	assert_int_equal(t->a.calls, 1);
	assert_non_null(strstr(t->a.error, "poison file: the scanner crashed 1 times"));
	assert_true(fake_log_has("\"event\":\"poison_file\""));
	u = submit(d, true);                  /* refused at once now */
	assert_int_equal(u->a.calls, 1);
	assert_non_null(strstr(u->a.error, "poison file"));
	test_free(t);
	test_free(u);
}

static void
test_scan_timeout_kills_and_answers(void **state)
{
	struct daemon *d = *state;
	struct worker *w0 = &d->pool.w[0];
	struct treq *t;

	d->cfg.poison_threshold = 3;
	fake_ready(w0, NULL);
	t = submit(d, true);
	t->req.attempts = 2;                  /* no retry left */
	fake_scan_timer(w0);
	assert_int_equal(w0->st, WS_KILLED);
	assert_int_equal(fake_signal(w0), SIGKILL);
	assert_true(fake_log_has("outlived ScanTimeout"));
	fake_exit(w0, SIGKILL);
	assert_int_equal(t->a.calls, 1);
	assert_true(fake_log_has("\"scan_timeout\":true"));
	assert_int_equal(d->pool.ncrash_kinds, 1);
	assert_string_equal(d->pool.crash_kinds[0].sig, "timeout");
	test_free(t);
}

static void
test_unavailable_with_fault_7(void **state)
{
	struct daemon *d = *state;
	struct treq *q, *t;

	q = submit(d, true);                  /* waits: workers are starting */
	fake_timer(&d->pool.w[0]);            /* no READY in time ... */
	fake_exit(&d->pool.w[0], SIGKILL);    /* ... fault 7, nobody READY */
	assert_int_equal(q->a.calls, 1);
	assert_non_null(strstr(q->a.error, "scan service unavailable (fault 7: worker 1: no READY within"));
	t = submit(d, true);
	assert_int_equal(t->a.calls, 1);
	assert_non_null(strstr(t->a.error, "scan service unavailable"));
	test_free(q);
	test_free(t);
}

static void
test_queue_full(void **state)
{
	struct daemon *d = *state;
	struct treq **t = test_calloc(POOL_QUEUE_MAX + 1, sizeof(*t));
	size_t i;

	for (i = 0; i <= POOL_QUEUE_MAX; i++)
		t[i] = submit(d, true);
	assert_int_equal(d->pool.queued, POOL_QUEUE_MAX);
	assert_int_equal(t[POOL_QUEUE_MAX]->a.calls, 1);
	assert_string_equal(t[POOL_QUEUE_MAX]->a.error, "scan queue full: try again later");
	pool_drain(d, "ampdaemon is stopping");
	for (i = 0; i < POOL_QUEUE_MAX; i++) {
		assert_int_equal(t[i]->a.calls, 1);
		assert_string_equal(t[i]->a.error, "ampdaemon is stopping");
	}
	for (i = 0; i <= POOL_QUEUE_MAX; i++)
		test_free(t[i]);
	test_free(t);
}

static void
test_send_failure_kills_and_requeues(void **state)
{
	struct daemon *d = *state;
	struct worker *w0 = &d->pool.w[0];
	struct treq *t;

	fake_ready(w0, NULL);
	close(w0->sock);                      /* the send fails */
	w0->sock = -1;
	t = submit(d, true);
	assert_int_equal(w0->st, WS_KILLED);
	assert_true(fake_log_has("cannot send a request: killing it"));
	assert_int_equal(d->pool.queued, 1);
	assert_int_equal(t->a.calls, 0);
	fake_ready(&d->pool.w[1], NULL);
	assert_ptr_equal(d->pool.w[1].req, &t->req);
	test_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queued_until_ready_then_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_file_is_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_read_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_breaks_the_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_mapping_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_broken_in_flight_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlinked_entry_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_in_flight_retried_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poison_after_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_timeout_kills_and_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_with_fault_7, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_failure_kills_and_requeues, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
