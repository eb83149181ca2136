/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pipeline of one definitions update, run in a child of ampdaemon
 * (task.c) as root: stage, verify, apply a cdiff, check the version,
 * build the candidate set, trial-load it as the scan user, check the
 * index (the builtin engine's; Engine clamav builds none), activate.
 * It reports each step on its pipe in the records update.c's header
 * lists; the loop decides what they mean.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "activate.h"
#include "daemon.h"
#include "defs.h"
#include "killpoint.h"
#include "num.h"
#include "scratch.h"
#include "spawn.h"
#include "statefile.h"
#include "store.h"
#include "update_int.h"

#define UPDATE_FILE_MAX (2ULL << 30)      /* a container or cdiff, at most */
#define UPDATE_TRIAL_LINES 4096           /* bytes of the trial's stderr kept */

/* ---- the child ------------------------------------------------------------ */


static void
child_say(struct update_child *c, const char *kind, const char *a,
    const char *b, const char *e, const char *f)
{
	char fa[1400], fb[1400], fc[1400], fd[400], line[UPDATE_LINE_MAX + 16];

	task_field(fa, sizeof(fa), a);
	task_field(fb, sizeof(fb), b);
	task_field(fc, sizeof(fc), e);
	task_field(fd, sizeof(fd), f);
	str_fmt(line, sizeof(line), "%s\t%s\t%s\t%s\t%s\n", kind, fa, fb, fc, fd);
	task_write(c->fd, line);
}

static void
child_step(struct update_child *c, const char *step)
{
	child_say(c, "step", step, NULL, NULL, NULL);
}

static void
child_kp(void *arg, int point)
{
	struct update_child *c = arg;

	daemon_kill_point(c->d, point, true);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static const char *
ext_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot : "";
}

/*
 * Rejected: the staged file goes to quarantine/ with a .reason file (an
 * operator can look at what was refused), the incoming/ original is
 * removed (it would be refused again at every start).
 */
static int
child_reject(struct update_child *c, const char *staged, const char *why)
{
	const struct config *cfg = &c->d->cfg;
	char q[STORE_PATH_MAX], qname[STORE_NAME_MAX + 1], stamp[32];
	char dst[STORE_PATH_MAX + 300], rerr[STORE_PATH_MAX + 64];
	int qfd = -1;

	qname[0] = '\0';
	snprintf(q, sizeof(q), "%s/%s", cfg->definitions_dir, STORE_DIR_QUARANTINE);
	if (staged != NULL && staged[0] != '\0' &&
	    (qfd = open(q, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		store_rb_stamp(stamp, sizeof(stamp));
		for (unsigned i = 0; i < STORE_QUARANTINE_TRIES; i++) {
			if (i == 0)
				str_fmt(qname, sizeof(qname), "%s.%s", base_name(staged), stamp);
			else
				str_fmt(qname, sizeof(qname), "%s.%s.%u", base_name(staged),
				    stamp, i);
			str_fmt(dst, sizeof(dst), "%s/%s", q, qname);
			if (link(staged, dst) == 0)
				break;
			qname[0] = '\0';
			if (errno != EEXIST)
				break;
		}
		if (qname[0] != '\0')
			store_reason_file(qfd, qname, why);
	}
	if (c->job->incoming) {
		unlink(c->job->path);
		if (c->job->sign[0] != '\0')
			unlink(c->job->sign);
	}
	if (c->stage[0] != '\0')
		(void)activation_rmtree(c->stage, rerr, sizeof(rerr));
	if (qfd >= 0) {
		/* the names it was linked from are gone: 0600, ours alone */
		if (qname[0] != '\0' &&
		    store_quarantine_seal(qfd, qname, rerr, sizeof(rerr)) != 0) {
			unlinkat(qfd, qname, 0);   /* never a link others share */
			qname[0] = '\0';
		}
		(void)fsync(qfd);
		close(qfd);
	}
	child_say(c, "rejected", why, qname, NULL, NULL);
	return 0;
}

/*
 * Not the update's fault (no space, an I/O error, a resource): nothing is
 * quarantined and an incoming/ file stays where it is, to be tried again.
 */
static int
child_fail_io(struct update_child *c, const char *why)
{
	char rerr[256];

	if (c->stage[0] != '\0')
		(void)activation_rmtree(c->stage, rerr, sizeof(rerr));
	child_say(c, "rejected", why, "", "io", NULL);
	return 0;
}

/* "daily:27012 main:62": the containers of active/ (headers only). */
static void
versions_of(const char *defs_dir, char *out, size_t len)
{
	struct store_container sc[64];
	size_t n = 0, off = 0;
	char err[256];

	out[0] = '\0';
	if (store_active_summary(defs_dir, sc, 64, &n, err, sizeof(err)) != 0)
		return;
	for (size_t i = 0; i < n && off < len; i++) {
		const char *dot = strrchr(sc[i].name, '.');
		size_t bl = dot ? (size_t)(dot - sc[i].name) : strlen(sc[i].name);

		if (sc[i].header_ok)
			off += (size_t)snprintf(out + off, len - off, "%s%.*s:%u",
			    off ? " " : "", (int)bl, sc[i].name, sc[i].version);
	}
}

/* The db name of a verified container: its NAME.info member. */
static bool
dbname_of(const struct cvd_result *res, char *out, size_t len)
{
	for (size_t i = 0; i < res->nmembers; i++) {
		const char *n = res->members[i].name;
		size_t l = strlen(n);

		if (l > 5 && strcmp(n + l - 5, ".info") == 0 && l - 5 < len) {
			snprintf(out, len, "%.*s", (int)(l - 5), n);
			return true;
		}
	}
	return false;
}

/* ---- the trial ---- */

static bool
sanitizer_build(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#else
	return false;
#endif
}

/*
 * Engine clamav: the set as a directory and a scratch directory
 * (ScratchDir/trial-PID, the scan user's, 0700) for the trial, appended
 * to fds[] / argv[] as --engine clamav --defs-dir-fd N --scratch-fd N.
 * The scratch directory's name goes to sname (the caller removes it).
 * 0, or -1 + why.
 */
static int
child_trial_clamav(struct update_child *c, const char *set,
    const struct spawn_req *req, int *fds, int *nfds, char **argv,
    char (*args)[STORE_NAME_MAX + 32], int *na, int *root, char *sname,
    size_t snamelen, char *why, size_t whylen)
{
	const struct config *cfg = &c->d->cfg;
	char err[512];
	int fd;

	if (*nfds > SPAWN_EXTRA_FDS_MAX - 2) {
		str_fmt(why, whylen, "%s: too many definitions files for the trial", set);
		return -1;
	}
	if ((fd = open(set, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		str_fmt(why, whylen, "%s: %s", set, strerror(errno));
		return -1;
	}
	fds[(*nfds)++] = fd;
	/* the scan user lists it through /proc/self/fd/N, which checks the
	 * directory's own mode: 0755 as active/ (its files are the same) */
	if (fchmod(fd, 0755) != 0) {
		str_fmt(why, whylen, "%s: chmod: %s", set, strerror(errno));
		return -1;
	}
	/* not scratch_root_open: the workers' directories are in use */
	if ((*root = scratch_root_open_only(cfg->scratch_dir, err, sizeof(err))) < 0) {
		str_fmt(why, whylen, "%s", err);
		return -1;
	}
	str_fmt(sname, snamelen, SCRATCH_TRIAL_PREFIX "%ld", (long)getpid());
	if ((fd = scratch_make(*root, sname, geteuid() == 0, req->uid, req->gid,
	    err, sizeof(err))) < 0) {
		sname[0] = '\0';
		str_fmt(why, whylen, "%s", err);
		return -1;
	}
	fds[(*nfds)++] = fd;
	argv[(*na)++] = (char *)"--engine";
	argv[(*na)++] = (char *)"clamav";
	str_fmt(args[*na], sizeof(args[0]), "--defs-dir-fd=%d",
	    SPAWN_INDEX_FD + 1 + *nfds - 2);
	argv[*na] = args[*na];
	(*na)++;
	str_fmt(args[*na], sizeof(args[0]), "--scratch-fd=%d",
	    SPAWN_INDEX_FD + 1 + *nfds - 1);
	argv[*na] = args[*na];
	(*na)++;
	return 0;
}

/*
 * Run `ampscansvc --trial` on the files of set, wait; 0 or why in why.
 * The builtin engine: it writes the index it compiled to index_fd (built
 * for source_hex, the set's source identity): compiling happens once, in
 * the sandbox.  Engine clamav (index_fd -1: no index, the files are not
 * handed over one by one) instead loads the set with libclamav (its
 * containers verified with the keys as they are staged) and runs the
 * canaries in a clamav worker's sandbox (child_trial_clamav): a set
 * libclamav refuses is rejected here, with its reason.
 */
static int
child_trial(struct update_child *c, const char *set, int index_fd,
    char *source_hex, char *why, size_t whylen)
{
	const struct config *cfg = &c->d->cfg;
	char *argv[SPAWN_ARGV_MAX];
	char args[SPAWN_ARGV_MAX][STORE_NAME_MAX + 32];
	int fds[SPAWN_EXTRA_FDS_MAX], nfds = 0, na = 0, sv[2] = { -1, -1 };
	char out[UPDATE_TRIAL_LINES], err[1024], reason[512], how[96];
	size_t outlen = 0;
	struct spawn_req req = { .argv = argv, .index_fd = -1 };
	struct spawn_result res = { .pid = -1, .log_fd = -1 };
	struct account acct;
	struct dirent **names = NULL;
	struct timespec t0, now;
	char sname[SCRATCH_NAME_MAX] = "";
	int null = -1, ws = 0, rc = -1, nnames = 0, root = -1;
	bool done = false, timed_out = false;

	argv[na++] = c->d->scansvc;
	argv[na++] = (char *)"--trial";
	/* the set's files in name order (as defs_build_index loads a directory) */
	if (index_fd >= 0 && (nnames = scandir(set, &names, NULL, alphasort)) < 0) {
		str_fmt(why, whylen, "%s: %s", set, strerror(errno));
		return -1;
	}
	for (int k = 0; k < nnames; k++) {
		const char *dn = names[k]->d_name;
		const char *e = ext_of(dn);
		bool container = strcmp(e, ".cvd") == 0 || strcmp(e, ".cld") == 0 ||
		    strcmp(e, ".cud") == 0;
		char p[STORE_PATH_MAX + 300];

		if (dn[0] == '.' || (!container &&
		    sig_type_from_name(dn) == SIG_TYPE_OTHER))
			continue;
		if ((!container || strcmp(e, ".cud") == 0) && !cfg->allow_unsigned)
			continue;
		if (nfds == SPAWN_EXTRA_FDS_MAX - 3 - (int)CONFIG_TRUSTED_KEYS_MAX ||
		    na >= SPAWN_ARGV_MAX - 28) {
			str_fmt(why, whylen, "%s: too many definitions files for the trial", set);
			goto out;
		}
		str_fmt(p, sizeof(p), "%s/%s", set, dn);
		if ((fds[nfds] = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			str_fmt(why, whylen, "%s: %s", p, strerror(errno));
			goto out;
		}
		str_fmt(args[na], sizeof(args[0]), "--defs-fd=%d:%s",
		    SPAWN_INDEX_FD + 1 + nfds, dn);
		argv[na] = args[na];
		na++;
		nfds++;
	}
	/* the index it compiles, written to a file of ours */
	if (index_fd >= 0) {
		fds[nfds] = index_fd;
		str_fmt(args[na], sizeof(args[0]), "--index-out-fd=%d",
		    SPAWN_INDEX_FD + 1 + nfds);
		argv[na] = args[na];
		na++;
		nfds++;
		argv[na++] = (char *)"--source-id";
		argv[na++] = source_hex;
	}
	for (size_t i = 0; i < cfg->ntrusted_keys; i++) {
		if ((fds[nfds] = open(cfg->trusted_keys[i], O_RDONLY | O_CLOEXEC)) < 0) {
			str_fmt(why, whylen, "%s: %s", cfg->trusted_keys[i], strerror(errno));
			goto out;
		}
		str_fmt(args[na], sizeof(args[0]), "--trusted-key-fd=%d",
		    SPAWN_INDEX_FD + 1 + nfds);
		argv[na] = args[na];
		na++;
		nfds++;
	}
	if (cfg->allow_unsigned)
		argv[na++] = (char *)"--allow-unsigned";
	if (cfg->allow_partial_engine && cfg->engine != CONFIG_ENGINE_CLAMAV)
		argv[na++] = (char *)"--allow-partial";   /* issue 15 */
	if (pool_uses_loader(c->d))   /* not for clamav: child_try_clamav */
		argv[na++] = (char *)"--index-only";   /* the loader is the trial */
	/* the worker's identity, as pool.c chooses it */
	if (geteuid() != 0) {
		req.as_self = true;
		req.uid = geteuid();
		req.gid = getegid();
	} else if (account_resolve(cfg->scan_user, cfg->scan_group, &acct, reason,
	    sizeof(reason)) == ACCOUNT_OK) {
		req.uid = acct.uid;
		req.gid = acct.gid;
	} else {
		req.as_root = true;
		argv[na++] = (char *)"--allow-root";
	}
	if (cfg->engine == CONFIG_ENGINE_CLAMAV &&
	    child_trial_clamav(c, set, &req, fds, &nfds, argv, args, &na, &root,
	    sname, sizeof(sname), why, whylen) != 0)
		goto out;
	argv[na] = NULL;
	if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		str_fmt(why, whylen, "trial: %s", strerror(errno));
		goto out;
	}
	req.sock_fd = sv[1];
	req.index_fd = null;
	req.extra_fds = fds;
	req.nextra_fds = (size_t)nfds;
	req.nofile = 64 + (rlim_t)nfds;
	req.as_bytes = sanitizer_build() ? 0 : (rlim_t)cfg->trial_memory_limit;
	req.cpu_seconds = (rlim_t)(cfg->trial_timeout_ms / 1000 + 1);
	if (spawn_worker(&req, &res, err, sizeof(err)) != SPAWN_OK) {
		str_fmt(why, whylen, "cannot start the trial: %s", err);
		goto out;
	}
	close(sv[1]);
	sv[1] = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* its output, until it exits or its time is up */
	while (!done) {
		struct pollfd pf = { .fd = res.log_fd, .events = POLLIN };
		int64_t ms;
		pid_t p;

		if (poll(&pf, 1, 100) > 0) {
			ssize_t n = read(res.log_fd, out + outlen, sizeof(out) - 1 - outlen);

			if (n > 0) {
				outlen += (size_t)n;
				if (outlen == sizeof(out) - 1) {   /* keep the tail */
					memmove(out, out + outlen / 2, outlen - outlen / 2);
					outlen -= outlen / 2;
				}
			}
		}
		if ((p = waitpid(res.pid, &ws, WNOHANG)) == res.pid) {
			done = true;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (int64_t)(now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (!timed_out && ms > (int64_t)cfg->trial_timeout_ms) {
			timed_out = true;
			kill(res.pid, SIGKILL);
		}
	}
	/* what is left in the pipe */
	for (;;) {
		ssize_t n = read(res.log_fd, out + outlen, sizeof(out) - 1 - outlen);

		if (n <= 0 || outlen + (size_t)n >= sizeof(out) - 1)
			break;
		outlen += (size_t)n;
	}
	out[outlen] = '\0';
	while (outlen > 0 && (out[outlen - 1] == '\n' || out[outlen - 1] == ' '))
		out[--outlen] = '\0';
	{
		char *last = strrchr(out, '\n');

		str_fmt(reason, sizeof(reason), "%s", last ? last + 1 : out);
	}
	if (timed_out) {
		str_fmt(why, whylen, "the trial load did not finish within TrialTimeout (%.1f s)",
		    (double)cfg->trial_timeout_ms / 1000.0);
		goto out;
	}
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		if (reason[0] != '\0')   /* its verdict line, for the log */
			child_say(c, "note", reason, NULL, NULL, NULL);
		rc = 0;
		goto out;
	}
	if (WIFSIGNALED(ws))
		events_signal_name(WTERMSIG(ws), how, sizeof(how));
	else
		snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(ws));
	/* ours, strerror's and libclamav's (mpool_malloc) words for ENOMEM */
	if (strstr(reason, "out of memory") != NULL ||
	    strstr(reason, "Cannot allocate memory") != NULL ||
	    strstr(reason, "Can't allocate memory") != NULL ||
	    (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGXCPU))
		str_fmt(why, whylen, "the trial load exhausted its limits (TrialMemoryLimit %llu MiB, TrialTimeout %.0f s): %s: %s",
		    (unsigned long long)(cfg->trial_memory_limit >> 20),
		    (double)cfg->trial_timeout_ms / 1000.0, how, reason);
	else
		str_fmt(why, whylen, "the trial load failed (%s)%s%s", how,
		    reason[0] ? ": " : "", reason);
out:
	for (int k = 0; k < nnames; k++)
		free(names[k]);
	free(names);
	for (int i = 0; i < nfds; i++)
		if (index_fd < 0 || fds[i] != index_fd)
			close(fds[i]);
	if (null >= 0)
		close(null);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (res.log_fd >= 0)
		close(res.log_fd);
	if (res.pid > 0 && !done) {
		kill(res.pid, SIGKILL);
		waitpid(res.pid, &ws, 0);
	}
	/* the trial is gone: wipe what libclamav left (not the update's
	 * fault if that fails: a leftover trial-* goes at the next start) */
	if (sname[0] != '\0')
		(void)scratch_remove(root, sname);
	if (root >= 0)
		close(root);
	return rc;
}

/*
 * The index the trial wrote: fsync'd, mapped with its whole checksum and
 * structure checked (engine_index_map), built for exactly this set.
 */
static int
child_check_index(int fd, const char *path, const uint8_t source[32],
    char *why, size_t whylen)
{
	struct engine *e = NULL;
	uint8_t have[32];
	char err[512];
	int rc = -1;

	if (fsync(fd) != 0) {
		str_fmt(why, whylen, "%s: fsync: %s", path, strerror(errno));
		return -1;
	}
	if (engine_index_map(fd, &e, err, sizeof(err)) != 0) {
		str_fmt(why, whylen, "the trial's index is not valid: %s", err);
		return -1;
	}
	engine_source_id(e, have);
	if (memcmp(have, source, sizeof(have)) != 0)
		str_fmt(why, whylen, "the trial's index was not built from this set");
	else
		rc = 0;
	engine_free(e);
	return rc;
}

/*
 * WorkerLaunch loader: the set is ready (its index in it); the loop
 * starts the candidate's loader on it (after MemAvailable allows a second
 * engine) and answers on go_fd: "ok" (READY: its canaries passed),
 * "no TAB why" (it could not load the set: rejected), "io TAB why" (not
 * the set's fault).  0 to go on, else the verdict was reported.
 */
static int
child_candidate(struct update_child *c, const char *set, const char *staged,
    int *verdict)
{
	char buf[2048], why[2100];
	size_t len = 0;
	ssize_t n;
	char *tab;

	child_step(c, "loading");
	/* the scan user lists it through /proc/self/fd/N: 0755 as active/ */
	if (chmod(set, 0755) != 0) {
		str_fmt(why, sizeof(why), "%s: chmod: %s", set, strerror(errno));
		*verdict = child_fail_io(c, why);
		return -1;
	}
	child_say(c, "candidate", set, NULL, NULL, NULL);
	while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
		n = read(c->go_fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(buf, "ok") == 0)
		return 0;
	tab = strchr(buf, '\t');
	if (tab != NULL && strncmp(buf, "no\t", 3) == 0) {
		str_fmt(why, sizeof(why), "the candidate's loader could not load it (the trial): %s",
		    tab + 1);
		*verdict = child_reject(c, staged, why);
	} else {
		str_fmt(why, sizeof(why), "%s", tab != NULL ? tab + 1 :
		    "ampdaemon gave no verdict on the candidate's loader");
		*verdict = child_fail_io(c, why);
	}
	return -1;
}

/*
 * Engine clamav: no index is built.  The set's identity (what an index
 * would name) goes to the loop, whose workers check it; WorkerLaunch exec
 * runs the clamav trial, WorkerLaunch loader the candidate's loader (the
 * trial there, as for the builtin).  0 to go on, else the verdict was
 * reported (*verdict).
 */
static int
child_try_clamav(struct update_child *c, const char *set, const char *staged,
    const char *source_hex, int *verdict)
{
	char why[2048];

	child_say(c, "setid", source_hex, NULL, NULL, NULL);
	if (!pool_uses_loader(c->d)) {
		if (child_trial(c, set, -1, NULL, why, sizeof(why)) != 0) {
			*verdict = child_reject(c, staged, why);
			return -1;
		}
	}
	child_kp(c, KP_TRIED);
	child_kp(c, KP_SET_READY);
	if (pool_uses_loader(c->d))
		return child_candidate(c, set, staged, verdict);
	return 0;
}

/* ---- the pipeline ---- */

struct candidate {
	char file[STORE_PATH_MAX];     /* staged container to install */
	char sign[STORE_PATH_MAX];     /* its .sign, or "" */
	char dbname[STORE_NAME_MAX + 1];
	const char *ext;               /* ".cvd", ".cld", ".cud" */
	unsigned version;
	enum cvd_kind kind;
};

static int
child_container(struct update_child *c, const char *staged,
    const char *sign, struct candidate *cand, char *why, size_t whylen)
{
	const struct config *cfg = &c->d->cfg;
	struct cvd_verify_opts vo = { .trust = c->trust, .sign_path = sign,
	    .no_sign = sign == NULL, .allow_unsigned = cfg->allow_unsigned };
	struct cvd_result res;

	if (cvd_verify_file(staged, &vo, &res) != 0) {
		str_fmt(why, whylen, "%s", res.message);
		cvd_result_free(&res);
		return -1;
	}
	if (!dbname_of(&res, cand->dbname, sizeof(cand->dbname))) {
		str_fmt(why, whylen, "%s: no NAME.info member", base_name(staged));
		cvd_result_free(&res);
		return -1;
	}
	cand->version = res.header.version;
	cand->kind = res.header.kind;
	cand->ext = cand->kind == CVD_KIND_CVD ? ".cvd" :
	    cand->kind == CVD_KIND_CLD ? ".cld" : ".cud";
	snprintf(cand->file, sizeof(cand->file), "%s", staged);
	snprintf(cand->sign, sizeof(cand->sign), "%s", sign ? sign : "");
	cvd_result_free(&res);
	return 0;
}

static int
child_cdiff(struct update_child *c, const char *staged, const char *sign,
    struct candidate *cand, char *why, size_t whylen)
{
	const struct config *cfg = &c->d->cfg;
	struct cvd_verify_opts vo = { .trust = c->trust,
	    .allow_unsigned = cfg->allow_unsigned };
	struct cvd_cdiff *cd = NULL;
	struct cvd_header h;
	struct cvd_result res;
	char err[1024], active[STORE_NAME_MAX + 1], apath[STORE_PATH_MAX + 300];
	char scratch[STORE_PATH_MAX + 16], out[STORE_PATH_MAX + 300];
	int rc = -1, found;

	if (cvd_cdiff_open(staged, sign, c->trust, &cd, err, sizeof(err)) != 0) {
		str_fmt(why, whylen, "%s", err);
		return -1;
	}
	snprintf(cand->dbname, sizeof(cand->dbname), "%s", cvd_cdiff_dbname(cd));
	cand->version = cvd_cdiff_version(cd);
	found = activation_active_container(cfg->definitions_dir, cand->dbname,
	    active, sizeof(active), &h, err, sizeof(err));
	if (found < 0) {
		str_fmt(why, whylen, "%s", err);
		goto out;
	}
	if (found == 0) {
		str_fmt(why, whylen, "%s: updates %s to version %u, but no %s is active",
		    base_name(staged), cand->dbname, cand->version, cand->dbname);
		goto out;
	}
	if (h.version + 1 != cand->version) {
		str_fmt(why, whylen, "%s: turns %s version %u into %u, but the active %s is version %u",
		    base_name(staged), cand->dbname, cand->version - 1, cand->version,
		    active, h.version);
		goto out;
	}
	str_fmt(scratch, sizeof(scratch), "%s/scratch", c->stage);
	str_fmt(apath, sizeof(apath), "%s/%s/%s", cfg->definitions_dir,
	    STORE_DIR_ACTIVE, active);
	if (mkdir(scratch, 0700) != 0) {
		str_fmt(why, whylen, "%s: %s", scratch, strerror(errno));
		goto out;
	}
	vo.no_sign = true;   /* the active file was verified with its .sign */
	if (cvd_unpack_file(apath, scratch, &vo, &res) != 0) {
		str_fmt(why, whylen, "the active %s does not verify: %s", active,
		    res.message);
		cvd_result_free(&res);
		goto out;
	}
	cvd_result_free(&res);
	if (cvd_cdiff_apply(cd, scratch, err, sizeof(err)) != 0) {
		str_fmt(why, whylen, "%s: %s", base_name(staged), err);
		goto out;
	}
	str_fmt(out, sizeof(out), "%s/%s.cld", c->stage, cand->dbname);
	if (cvd_build_cld(scratch, cand->dbname, out, err, sizeof(err)) != 0) {
		str_fmt(why, whylen, "%s: cannot build %s.cld: %s", base_name(staged),
		    cand->dbname, err);
		goto out;
	}
	vo.allow_unsigned = false;   /* the .cld must carry a valid DSIG */
	if (cvd_verify_file(out, &vo, &res) != 0) {
		str_fmt(why, whylen, "%s applied to %s gives a container that does not verify: %s",
		    base_name(staged), active, res.message);
		cvd_result_free(&res);
		goto out;
	}
	if (res.header.version != cand->version) {
		str_fmt(why, whylen, "%s: the result says version %u, the cdiff %u",
		    base_name(staged), res.header.version, cand->version);
		cvd_result_free(&res);
		goto out;
	}
	cvd_result_free(&res);
	str_fmt(cand->file, sizeof(cand->file), "%s", out);
	cand->sign[0] = '\0';
	cand->kind = CVD_KIND_CLD;
	cand->ext = ".cld";
	(void)activation_rmtree(scratch, err, sizeof(err));
	rc = 0;
out:
	cvd_cdiff_free(cd);
	return rc;
}

/* The version rule: newer, or the same version as a .cvd replacing a .cld. */
static int
child_version(struct update_child *c, const struct candidate *cand,
    bool *forced, char *why, size_t whylen)
{
	char active[STORE_NAME_MAX + 1], err[512];
	struct cvd_header h;
	int found;

	*forced = false;
	found = activation_active_container(c->d->cfg.definitions_dir,
	    cand->dbname, active, sizeof(active), &h, err, sizeof(err));
	if (found < 0) {
		str_fmt(why, whylen, "%s", err);
		return -1;
	}
	if (found == 0)
		return 0;
	if (cand->version > h.version || (cand->version == h.version &&
	    h.kind == CVD_KIND_CLD && cand->kind == CVD_KIND_CVD))
		return 0;
	if (c->job->force) {
		*forced = true;
		return 0;
	}
	str_fmt(why, whylen, "%s version %u is not newer than the active %s (version %u); `ampctl update --force` installs it anyway",
	    cand->dbname, cand->version, active, h.version);
	return -1;
}

static int
link_into(const char *src, const char *dir, const char *name, char *why,
    size_t whylen)
{
	char dst[STORE_PATH_MAX + 300];

	str_fmt(dst, sizeof(dst), "%s/%s", dir, name);
	if (link(src, dst) != 0) {
		str_fmt(why, whylen, "%s: link to %s: %s", src, dst, strerror(errno));
		return -1;
	}
	return 0;
}

int
update_child_fn(void *arg, int out_fd)
{
	struct update_child *c = arg;
	const struct config *cfg = &c->d->cfg;
	const struct update_job *job = c->job;
	struct store_trust st = { .trusted_keys = cfg->trusted_keys,
	    .ntrusted_keys = cfg->ntrusted_keys, .certs_dir = cfg->certs_dir,
	    .allow_unsigned = cfg->allow_unsigned };
	struct candidate cand = { .version = 0 };
	char why[2048], err[1024], staged[STORE_PATH_MAX + 300];
	char sstaged[STORE_PATH_MAX + 300], set[STORE_PATH_MAX + 16];
	char name[STORE_PATH_MAX + 300], idx[STORE_PATH_MAX + 300];
	uint8_t source[32];
	char source_hex[65];
	char newv[1024], oldset[1024];
	const char *consume[2];
	size_t nconsume = 0;
	bool forced = false, is_cdiff;
	bool clamav = cfg->engine == CONFIG_ENGINE_CLAMAV;
	int fd, rc;

	c->fd = out_fd;
	if (c->go_fd >= 0)
		c->go_fd = STDIN_FILENO;   /* task.c moved it there */
	staged[0] = sstaged[0] = '\0';
	child_step(c, "staging");
	if (store_trust_new(&st, &c->trust, err, sizeof(err)) != 0)
		return child_fail_io(c, err);
	is_cdiff = strcmp(ext_of(job->path), ".cdiff") == 0;
	if (!is_cdiff && strcmp(ext_of(job->path), ".cvd") != 0 &&
	    strcmp(ext_of(job->path), ".cld") != 0 &&
	    strcmp(ext_of(job->path), ".cud") != 0) {
		str_fmt(why, sizeof(why), "%s: not a definitions update (.cvd, .cld, .cud or .cdiff)",
		    base_name(job->path));
		if (job->incoming) {
			/* quarantine it as it is: nothing was staged */
			char q[STORE_PATH_MAX + 300];

			str_fmt(q, sizeof(q), "%s", job->path);
			c->stage[0] = '\0';
			return child_reject(c, q, why);
		}
		return child_reject(c, NULL, why);
	}
	if (activation_stage_dir(cfg->definitions_dir, c->stage, sizeof(c->stage),
	    err, sizeof(err)) != 0)
		return child_fail_io(c, err);
	str_fmt(name, sizeof(name), "%s", base_name(job->path));
	if ((fd = open(job->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
	    (job->incoming ? O_NOFOLLOW : 0))) < 0) {
		str_fmt(why, sizeof(why), "%s: %s", job->path, strerror(errno));
		return child_fail_io(c, why);
	}
	rc = activation_copy_in(fd, job->path, c->stage, name, 0644,
	    UPDATE_FILE_MAX, err, sizeof(err));
	close(fd);
	if (rc != 0)
		return child_fail_io(c, err);
	str_fmt(staged, sizeof(staged), "%s/%s", c->stage, name);
	if (job->sign[0] != '\0') {
		char sname[STORE_NAME_MAX + 32];

		str_fmt(sname, sizeof(sname), "%s.sign", name);
		if ((fd = open(job->sign, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
		    (job->incoming ? O_NOFOLLOW : 0))) < 0) {
			str_fmt(why, sizeof(why), "%s: %s", job->sign, strerror(errno));
			return child_fail_io(c, why);
		}
		rc = activation_copy_in(fd, job->sign, c->stage, sname, 0644,
		    1 << 20, err, sizeof(err));
		close(fd);
		if (rc != 0)
			return child_fail_io(c, err);
		str_fmt(sstaged, sizeof(sstaged), "%s/%s", c->stage, sname);
	}
	child_kp(c, KP_STAGED);
	if (job->reject[0] != '\0')   /* incoming/ judged it (a cdiff's wait) */
		return child_reject(c, staged, job->reject);

	child_step(c, "verifying");
	if (is_cdiff)
		rc = child_cdiff(c, staged, sstaged[0] ? sstaged : NULL, &cand, why,
		    sizeof(why));
	else
		rc = child_container(c, staged, sstaged[0] ? sstaged : NULL, &cand,
		    why, sizeof(why));
	if (rc != 0)
		return child_reject(c, staged, why);
	if (child_version(c, &cand, &forced, why, sizeof(why)) != 0)
		return child_reject(c, staged, why);
	child_kp(c, KP_VERIFIED);

	/* the candidate set: the others as they are, this one new */
	str_fmt(set, sizeof(set), "%s/set", c->stage);
	if (mkdir(set, 0700) != 0) {
		str_fmt(why, sizeof(why), "%s: %s", set, strerror(errno));
		return child_fail_io(c, why);
	}
	if (activation_link_others(cfg->definitions_dir, set, cand.dbname, err,
	    sizeof(err)) != 0)
		return child_fail_io(c, err);
	str_fmt(name, sizeof(name), "%s%s", cand.dbname, cand.ext);
	if (link_into(cand.file, set, name, why, sizeof(why)) != 0)
		return child_fail_io(c, why);
	if (cand.sign[0] != '\0') {
		str_fmt(name, sizeof(name), "%s%s.sign", cand.dbname, cand.ext);
		if (link_into(cand.sign, set, name, why, sizeof(why)) != 0)
			return child_fail_io(c, why);
	}

	child_step(c, "trial");
	err[0] = '\0';
	if (clamav) {
		if (defs_source_id(set, source, err, sizeof(err)) != 0) {
			str_fmt(why, sizeof(why), "%s: %s", set, err);
			return child_fail_io(c, why);
		}
		num_hex(source, sizeof(source), source_hex);
		if (child_try_clamav(c, set, staged, source_hex, &rc) != 0)
			return rc;
		goto activate;
	}
	str_fmt(idx, sizeof(idx), "%s/.%s.trial", c->stage, DEFS_INDEX_NAME);
	if (defs_source_id(set, source, err, sizeof(err)) != 0 ||
	    (fd = open(idx, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644)) < 0) {
		str_fmt(why, sizeof(why), "%s: %s", idx, err[0] ? err : strerror(errno));
		return child_fail_io(c, why);
	}
	for (size_t i = 0; i < sizeof(source); i++)
		snprintf(source_hex + 2 * i, 3, "%02x", source[i]);
	rc = child_trial(c, set, fd, source_hex, why, sizeof(why));
	if (rc != 0) {
		close(fd);
		return child_reject(c, staged, why);
	}
	child_kp(c, KP_TRIED);

	/* the trial's index, checked whole before anything trusts it */
	child_step(c, "index");
	rc = child_check_index(fd, idx, source, why, sizeof(why));
	close(fd);
	if (rc != 0)
		return child_reject(c, staged, why);
	str_fmt(name, sizeof(name), "%s/%s", set, DEFS_INDEX_NAME);
	if (statefile_move(idx, name, why, sizeof(why)) != 0)
		return child_fail_io(c, why);
	child_kp(c, KP_SET_READY);
	if (pool_uses_loader(c->d) &&
	    child_candidate(c, set, staged, &rc) != 0)
		return rc;

activate:
	child_step(c, "activating");
	versions_of(cfg->definitions_dir, oldset, sizeof(oldset));
	if (job->incoming) {
		consume[nconsume++] = job->path;
		if (job->sign[0] != '\0')
			consume[nconsume++] = job->sign;
	}
	if (activation_run_flags(cfg->definitions_dir, cfg->state_dir, set,
	    clamav ? ACTIVATION_NO_INDEX : 0, consume, nconsume, child_kp, c,
	    err, sizeof(err)) != 0) {
		child_say(c, "fail", err, NULL, NULL, NULL);
		return 1;
	}
	versions_of(cfg->definitions_dir, newv, sizeof(newv));
	str_fmt(name, sizeof(name), "%s%s", cand.dbname, cand.ext);
	child_say(c, "activated", name, oldset, newv, forced ? "1" : "0");
	return 0;
}

