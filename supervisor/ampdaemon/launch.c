/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A process of the pool (launch.h): its start by exec, its scratch
 * directory, its stderr into ampscansvc.log, its exit's record, MEM.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "account.h"
#include "defs.h"
#include "launch.h"
#include "num.h"
#include "scratch.h"
#include "spawn.h"

/* ---- its start by exec ------------------------------------------------- */

/* RLIMIT_FSIZE of a clamav worker: no file it writes beyond this. */
#define LAUNCH_FSIZE_SLACK (1ull << 20)

int
launch_scratch_make(struct daemon *d, unsigned slot, unsigned *gen, char *out,
    size_t outlen, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (!d->scratch_open) {
		if ((d->scratch_root = scratch_root_open(d->cfg.scratch_dir, err,
		    errlen)) < 0)
			return -1;
		d->scratch_open = true;
	}
	snprintf(out, outlen, SCRATCH_PREFIX "%u-%u", slot, ++*gen);
	return scratch_make(d->scratch_root, out, geteuid() == 0, uid,
	    gid, err, errlen);
}

void
launch_scratch_wipe(struct daemon *d, char *name, size_t namelen)
{
	(void)namelen;
	if (name[0] == '\0' || !d->scratch_open)
		return;
	if (scratch_remove(d->scratch_root, name) != 0)
		dlog(&d->log, DLOG_WARNING, "cannot remove the scratch directory %s/%s: %s",
		    d->cfg.scratch_dir, name, strerror(errno));
	name[0] = '\0';
}

/*
 * Engine clamav: the extra fds (spawn.h: the active definitions directory,
 * the scratch directory, the TrustedKeys) and their arguments; fds[] are
 * the caller's to close.  0, or -1 + err.
 */
struct launch_clamav_args {
	int fds[4 + CONFIG_TRUSTED_KEYS_MAX];
	size_t nfds;
	char num[4 + CONFIG_TRUSTED_KEYS_MAX][24];
};

static int
launch_clamav_fds(const struct launch_target *t, uid_t uid, gid_t gid,
    struct launch_clamav_args *a, char *err, size_t errlen)
{
	struct daemon *d = t->d;
	char active[4200];

	if (t->defs_dir != NULL)
		snprintf(active, sizeof(active), "%s", t->defs_dir);
	else
		snprintf(active, sizeof(active), "%s/active", d->cfg.definitions_dir);
	if ((a->fds[a->nfds] = open(active, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		str_fmt(err, errlen, "%s: %s", active, strerror(errno));
		return -1;
	}
	a->nfds++;
	if ((a->fds[a->nfds] = launch_scratch_make(d, t->slot, t->generation,
	    t->scratch, t->scratchlen, uid, gid, err, errlen)) < 0)
		return -1;
	a->nfds++;
	for (size_t i = 0; i < d->cfg.ntrusted_keys; i++) {
		if ((a->fds[a->nfds] = open(d->cfg.trusted_keys[i],
		    O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "%s: %s", d->cfg.trusted_keys[i],
			    strerror(errno));
			return -1;
		}
		a->nfds++;
	}
	/* the loader: ScratchDir, for its Landlock rule (its workers' too) */
	if (t->loader) {
		if ((a->fds[a->nfds] = fcntl(d->scratch_root, F_DUPFD_CLOEXEC, 0)) < 0) {
			snprintf(err, errlen, "ScratchDir: dup: %s", strerror(errno));
			return -1;
		}
		a->nfds++;
	}
	for (size_t i = 0; i < a->nfds; i++)
		snprintf(a->num[i], sizeof(a->num[i]), "%zu", SPAWN_DEFS_DIR_FD + i);
	return 0;
}

/* clamd.conf's heuristic options (Engine clamav) as clamscan's options. */
#define LAUNCH_HEUR_ARGS 7
static int
launch_heur_argv(const struct config *c, char **argv, int n)
{
	bool enc_archive = c->alert_encrypted || c->alert_encrypted_archive;
	bool enc_doc = c->alert_encrypted || c->alert_encrypted_doc;

	argv[n++] = (char *)(c->detect_pua ? "--detect-pua=yes" : "--detect-pua=no");
	argv[n++] = (char *)(c->heuristic_alerts ? "--heuristic-alerts=yes" :
	    "--heuristic-alerts=no");
	argv[n++] = (char *)(c->heuristic_scan_precedence ?
	    "--heuristic-scan-precedence=yes" : "--heuristic-scan-precedence=no");
	argv[n++] = (char *)(c->alert_broken_executables ? "--alert-broken=yes" :
	    "--alert-broken=no");
	argv[n++] = (char *)(enc_archive ? "--alert-encrypted-archive=yes" :
	    "--alert-encrypted-archive=no");
	argv[n++] = (char *)(enc_doc ? "--alert-encrypted-doc=yes" :
	    "--alert-encrypted-doc=no");
	argv[n++] = (char *)(c->alert_exceeds_max ? "--alert-exceeds-max=yes" :
	    "--alert-exceeds-max=no");
	return n;
}

/*
 * Engine clamav has no index: fd 4 is /dev/null (spawn's extra fds follow
 * it) and the set's identity goes as --source-id: the one the definitions
 * check or the update named (d->defs_id), a candidate set's own (it is
 * the update's, which waits, unchanged, for this loader's verdict), or
 * the one an early loader was started on (t->source_id).
 */
static int
launch_clamav_id(const struct launch_target *t, char *hex, int *null_fd,
    char *err, size_t errlen)
{
	struct daemon *d = t->d;
	uint8_t id[32];
	char e[512];

	if (t->defs_dir != NULL) {
		if (defs_source_id(t->defs_dir, id, e, sizeof(e)) != 0) {
			snprintf(err, errlen, "%s: %s", t->defs_dir, e);
			return -1;
		}
	} else if (t->source_id != NULL) {
		memcpy(id, t->source_id, sizeof(id));
	} else if (d->defs_id_set) {
		memcpy(id, d->defs_id, sizeof(id));
	} else {
		snprintf(err, errlen, "the definitions were not checked yet");
		return -1;
	}
	num_hex(id, sizeof(id), hex);
	if ((*null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "/dev/null: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
launch_exec(const struct launch_target *t, const struct account *acct,
    bool as_root, struct launch_out *o, char *err, size_t errlen)
{
	struct daemon *d = t->d;
	char fsz[32], ssz[32], rec[16], files[16], idx[8], sockfd[8], mst[32];
	char setid[65], fsz_lim[32];
	char *argv[SPAWN_ARGV_MAX];
	struct spawn_req req = { .argv = argv, .as_root = as_root,
	    .as_self = geteuid() != 0,
	    .uid = as_root ? 0 : acct->uid, .gid = as_root ? 0 : acct->gid,
	    .index_fd = d->index_fd, .core_dumps = d->cfg.core_dumps,
	    /* the OOM killer takes a worker or loader before ampdaemon; a
	     * worker forked from the loader inherits the loader's */
	    .oom_score_adj = POOL_OOM_SCORE_ADJ };
	struct launch_clamav_args ca = { .nfds = 0 };
	bool clamav = d->cfg.engine == CONFIG_ENGINE_CLAMAV;
	struct spawn_result res;
	int sv[2] = { -1, -1 }, n = 0, rc = -1, own_index = -1;

	snprintf(fsz, sizeof(fsz), "%llu", (unsigned long long)d->cfg.max_file_size);
	snprintf(ssz, sizeof(ssz), "%llu", (unsigned long long)d->cfg.max_scan_size);
	snprintf(rec, sizeof(rec), "%u", d->cfg.max_recursion);
	snprintf(files, sizeof(files), "%u", d->cfg.max_files);
	snprintf(idx, sizeof(idx), "%d", SPAWN_INDEX_FD);
	snprintf(sockfd, sizeof(sockfd), "%d", SPAWN_SOCK_FD);
	argv[n++] = d->scansvc;
	argv[n++] = (char *)(t->loader ? "--loader" : "--worker");
	if (clamav) {
		if (launch_clamav_id(t, setid, &own_index, err, errlen) != 0)
			goto out;
		req.index_fd = own_index;   /* /dev/null */
		argv[n++] = (char *)"--source-id";
		argv[n++] = setid;
	} else {
		argv[n++] = (char *)"--index-fd";
		argv[n++] = idx;
		argv[n++] = (char *)"--index-verified";   /* defstask.c checked it */
	}
	argv[n++] = (char *)"--sock-fd";
	argv[n++] = sockfd;
	argv[n++] = (char *)"--max-file-size";
	argv[n++] = fsz;
	argv[n++] = (char *)"--max-scan-size";
	argv[n++] = ssz;
	argv[n++] = (char *)"--max-recursion";
	argv[n++] = rec;
	argv[n++] = (char *)"--max-files";
	argv[n++] = files;
	if (as_root)
		argv[n++] = (char *)"--allow-root";
	if (!clamav && d->cfg.allow_partial_engine)
		argv[n++] = (char *)"--allow-partial";   /* issue 15 */
	if (t->loader)   /* LoaderHugePages (docs/loader.md) */
		argv[n++] = (char *)(d->cfg.loader_huge_pages ? "--huge-pages=yes" :
		    "--huge-pages=no");
	if (clamav) {
		if (launch_clamav_fds(t, req.uid, req.gid, &ca, err, errlen) != 0)
			goto out;
		argv[n++] = (char *)"--engine";
		argv[n++] = (char *)"clamav";
		argv[n++] = (char *)"--defs-dir-fd";
		argv[n++] = ca.num[0];
		argv[n++] = (char *)"--scratch-fd";
		argv[n++] = ca.num[1];
		if (t->loader) {
			argv[n++] = (char *)"--scratch-root-fd";
			argv[n++] = ca.num[ca.nfds - 1];
		}
		for (size_t i = 2; i < ca.nfds - (t->loader ? 1 : 0); i++) {
			/* what follows: 1 + 2 + the heuristics' + 2 + NULL */
			if (n + 2 > SPAWN_ARGV_MAX - 6 - LAUNCH_HEUR_ARGS) {
				snprintf(err, errlen, "too many trusted keys for a worker's command line");
				goto out;
			}
			argv[n++] = (char *)"--trusted-key-fd";
			argv[n++] = ca.num[i];
		}
		if (d->cfg.allow_unsigned)
			argv[n++] = (char *)"--allow-unsigned";
		/* MaxScanTime: below ScanTimeout (config.c), libclamav's own */
		snprintf(mst, sizeof(mst), "%llu",
		    (unsigned long long)d->cfg.max_scan_time_ms);
		argv[n++] = (char *)"--max-scan-time";
		argv[n++] = mst;
		n = launch_heur_argv(&d->cfg, argv, n);
		req.extra_fds = ca.fds;
		req.nextra_fds = ca.nfds;
		/* not while it loads: staging unpacks the whole set, which may
		 * exceed MaxScanSize (the bench's main.cvd-sized set is 530 MB
		 * unpacked); ampscansvc sets it itself once loaded */
		snprintf(fsz_lim, sizeof(fsz_lim), "%llu",
		    (unsigned long long)(d->cfg.max_scan_size + LAUNCH_FSIZE_SLACK));
		argv[n++] = (char *)"--fsize-limit";
		argv[n++] = fsz_lim;
	}
	argv[n] = NULL;
	if (t->defs_dir != NULL && !clamav) {   /* a candidate set: its own index */
		char ip[4300];

		snprintf(ip, sizeof(ip), "%s/%s", t->defs_dir, DEFS_INDEX_NAME);
		if ((own_index = open(ip, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "%s: %s", ip, strerror(errno));
			goto out;
		}
		req.index_fd = own_index;
	}

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto out;
	}
	req.sock_fd = sv[1];
	if (spawn_worker(&req, &res, err, errlen) != SPAWN_OK)
		goto out;
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	o->sock = sv[0];
	sv[0] = -1;
	o->log_fd = res.log_fd;
	o->pid = res.pid;
	o->uid = req.uid;
	o->gid = req.gid;
	rc = 0;
out:
	for (size_t i = 0; i < ca.nfds; i++)
		close(ca.fds[i]);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (own_index >= 0)
		close(own_index);
	if (rc != 0)
		launch_scratch_wipe(d, t->scratch, t->scratchlen);
	return rc;
}

/* ---- its stdout+stderr -> ampscansvc.log ----------------------------- */

static void
launch_log_line(struct daemon *d, pid_t pid, struct pool_log *lg,
    const char *s, size_t len)
{
	char line[POOL_LOG_LINE_MAX + 128], when[WALLTIME_LEN];
	int n;

	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (len == 0)
		return;
	walltime_format(walltime_now_ms(), when);
	n = snprintf(line, sizeof(line), "%s ampscansvc[%d]: %.*s\n", when,
	    (int)pid, (int)len, s);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (d->svclog.fd >= 0 && write(d->svclog.fd, line, (size_t)n) != n)
		d->svclog.failures++;
	if (d->foreground) {
		ssize_t r = write(STDERR_FILENO, line, (size_t)n);

		(void)r;
	}
	snprintf(lg->last_line, sizeof(lg->last_line), "%.*s", (int)len, s);
}

/* Read what it wrote; returns false at EOF or error. */
static bool
launch_log_read(struct daemon *d, pid_t pid, struct pool_log *lg)
{
	char buf[4096];
	ssize_t n;
	size_t i, start;

	for (;;) {
		n = read(lg->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			break;
		for (i = 0, start = 0; i < (size_t)n; i++) {
			if (buf[i] != '\n' && lg->len + (i - start) < sizeof(lg->buf))
				continue;
			memcpy(lg->buf + lg->len, buf + start, i - start);
			lg->len += i - start;
			launch_log_line(d, pid, lg, lg->buf, lg->len);
			lg->len = 0;
			start = buf[i] == '\n' ? i + 1 : i;
		}
		memcpy(lg->buf + lg->len, buf + start, (size_t)n - start);
		lg->len += (size_t)n - start;
	}
	if (lg->len > 0)
		launch_log_line(d, pid, lg, lg->buf, lg->len);
	lg->len = 0;
	return false;
}

void
launch_log_on_read(struct daemon *d, pid_t pid, struct pool_log *lg)
{
	if (!launch_log_read(d, pid, lg)) {
		ev_io_stop(d->loop, &lg->io);
		close(lg->fd);
		lg->fd = -1;
	}
}

void
launch_log_drain(struct daemon *d, pid_t pid, struct pool_log *lg)
{
	if (lg->fd < 0)
		return;
	ev_io_stop(d->loop, &lg->io);
	launch_log_read(d, pid, lg);
	close(lg->fd);
	lg->fd = -1;
}

/* ---- its exit, its restart, its READY, its memory ------------------------ */

void
launch_exit_append(struct daemon *d, const struct event *ev)
{
	char err[512];

	if (d->exits_open && exits_append(&d->exits, ev, err, sizeof(err)) != 0) {
		dlog(&d->log, DLOG_ERROR, "%s", err);
		daemon_state_retry(d);   /* queued (or lost): written when there is room */
	}
}

uint64_t
launch_next_delay(const struct config *c, uint64_t *delay_ms)
{
	uint64_t cur = *delay_ms, max = c->restart_delay_max_ms;

	*delay_ms = cur > max / 2 ? max : cur * 2;
	if (*delay_ms < c->restart_delay_min_ms)
		*delay_ms = c->restart_delay_min_ms;
	return cur;
}

void
launch_defs_text(const struct wproto_ready *r, char *out, size_t len)
{
	size_t off = 0, k;

	out[0] = '\0';
	for (k = 0; k < r->ndbs && off < len; k++)
		off += (size_t)snprintf(out + off, len - off, "%s%s:%u",
		    k ? " " : "", r->dbs[k].name, r->dbs[k].version);
}

int
launch_mem_ask(struct daemon *d, int sock)
{
	if (sock < 0)
		return -EBADF;
	if (wproto_encode_memq(&d->pool.out, 0) != 0)
		return -EMSGSIZE;
	return wproto_send(sock, &d->pool.out, -1);
}

int
launch_mem_got(struct buf *r, struct wproto_mem *m, int64_t *at)
{
	struct wproto_mem got;

	if (wproto_decode_mem(r, &got) != 0)
		return -1;
	*m = got;
	*at = walltime_now_ms();
	return 0;
}
