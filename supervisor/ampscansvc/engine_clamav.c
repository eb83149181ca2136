/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The clamav backend: libclamav, loaded file by file from a staged
 * directory of verified definitions (engine_stage.h), scanning through our
 * own reader so that no read error or short read can pass as clean.
 */
#include <clamav.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "engine_stage.h"
#include "fdio.h"
#include "util.h"

/*
 * libclamav 1.4 leaks one SHA-256 context (about 500 bytes) per container
 * without a DSIG that it loads: its .info reader frees the context only
 * on the DSIG line.  Every unofficial container is staged as a .cud
 * (engine_stage.c), so sanitizer builds tell LeakSanitizer to ignore what
 * libclamav allocates while loading one (clamav_load_file); nothing else.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CLAM_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLAM_LSAN 1
#endif
#endif
#ifdef CLAM_LSAN
#include <sanitizer/lsan_interface.h>
#define clam_lsan_disable() __lsan_disable()
#define clam_lsan_enable() __lsan_enable()
#else
#define clam_lsan_disable() ((void)0)
#define clam_lsan_enable() ((void)0)
#endif

#define CLAM_MAX_TYPES WPROTO_MAX_TYPES
#define CLAM_PATH_MAX 4096

struct seng_clamav {
	struct cl_engine *cl;
	struct stage st;
	bool compiled;
	bool own_tmpdir;      /* made here (SCRATCH/tmp), removed at free */
	char tmpdir[CLAM_PATH_MAX];
	struct wproto_typecount types[CLAM_MAX_TYPES];
	size_t ntypes;
};

/* One scan's reader: a descriptor or a buffer, and what went wrong. */
struct clam_reader {
	int fd;
	const uint8_t *mem;
	uint64_t size;
	uint64_t bytes;       /* bytes handed to libclamav */
	int err;              /* errno of a failed read */
	bool short_read;      /* the file ended before its size */
	bool alert_limits;    /* AlertExceedsMax: a limit hit is FOUND */
	char limit[64];       /* the limit hit (MaxFileSize, ...), or "" */
	struct wproto_result *res;
#ifdef AMPSCAN_TEST_HOOKS
	bool slow;            /* the slow-read marker: every read sleeps */
#endif
};

/*
 * What libclamav reported since the last clam_errors_reset(): its message
 * callback is process-wide, so this is the one global; the worker scans
 * one file at a time.  A refused load logs a chain, most specific first
 * ("cli_ac_addsig: Can't find a static subpattern of length 2", "Problem
 * parsing database at line 1", "Can't load /proc/self/fd/5/x.ndb:
 * Malformed database"): the first error is the reason, the line number
 * is taken from a later one, the last only repeats cl_strerror().
 */
static struct {
	char first[320];    /* the first error-level message */
	char line[64];      /* "at line N" from one of them, or "" */
	char last[320];     /* the last one (a scan's error) */
	char member[128];   /* the container's member it was loading, or "" */
} clam_errors;

#define CLAM_AT_LINE " at line "
#define CLAM_TGZ_MEMBER "cli_tgzload: Can't load "   /* then the member's name */

static void
clam_errors_reset(void)
{
	memset(&clam_errors, 0, sizeof(clam_errors));
}

/* One message, without its newline, bounded. */
static void
clam_errors_note(const char *msg)
{
	size_t n = strcspn(msg, "\n");
	const char *at = strstr(msg, CLAM_AT_LINE);

	if (clam_errors.first[0] == '\0')
		snprintf(clam_errors.first, sizeof(clam_errors.first), "%.*s",
		    (int)n, msg);
	snprintf(clam_errors.last, sizeof(clam_errors.last), "%.*s", (int)n, msg);
	if (strncmp(msg, CLAM_TGZ_MEMBER, strlen(CLAM_TGZ_MEMBER)) == 0 &&
	    clam_errors.member[0] == '\0')
		snprintf(clam_errors.member, sizeof(clam_errors.member), "%.*s",
		    (int)(n - strlen(CLAM_TGZ_MEMBER)), msg + strlen(CLAM_TGZ_MEMBER));
	if (at != NULL && clam_errors.line[0] == '\0')
		snprintf(clam_errors.line, sizeof(clam_errors.line), "%.*s",
		    (int)strspn(at + strlen(CLAM_AT_LINE), "0123456789"),
		    at + strlen(CLAM_AT_LINE));
}

/* A load's reason: ": FIRST (line N)", or "" if libclamav said nothing. */
static void
clam_load_reason(char *out, size_t outlen)
{
	bool line = clam_errors.line[0] != '\0' &&
	    strstr(clam_errors.first, CLAM_AT_LINE) == NULL;

	if (clam_errors.first[0] == '\0') {
		out[0] = '\0';
		return;
	}
	snprintf(out, outlen, ": %s%s%s%s", clam_errors.first,
	    line ? " (at line " : "", line ? clam_errors.line : "", line ? ")" : "");
}

static void
clam_msg(enum cl_msg severity, const char *full, const char *msg, void *ctx)
{
	(void)ctx;
	(void)full;
	if (severity == CL_MSG_INFO_VERBOSE)
		return;
	if (severity == CL_MSG_ERROR)
		clam_errors_note(msg);
	fprintf(stderr, "ampscansvc: libclamav %s: %s%s",
	    severity == CL_MSG_ERROR ? "error" : "warning", msg,
	    msg[0] != '\0' && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

#ifdef AMPSCAN_TEST_HOOKS
/*
 * Test builds: a file whose first read holds this marker is read slowly
 * (20 ms a read), so a MaxScanTime of a few milliseconds trips for sure,
 * however fast the machine (libclamav measures wall time).
 */
static void
clam_test_slow(struct clam_reader *r, const void *buf, size_t n, off_t off)
{
	static const char marker[] = "AMPSCAN-TEST-SLOWREAD-MARKER";
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	if (off == 0 && memmem(buf, n, marker, sizeof(marker) - 1) != NULL)
		r->slow = true;
	if (r->slow)
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
}
#endif

static off_t
clam_pread(void *handle, void *buf, size_t count, off_t off)
{
	struct clam_reader *r = handle;
	size_t got = 0;
	ssize_t n;

	if (r->mem != NULL) {
		if ((uint64_t)off > r->size || count > r->size - (uint64_t)off) {
			r->short_read = true;
			return -1;
		}
		memcpy(buf, r->mem + off, count);
		r->bytes += count;
		return (off_t)count;
	}
	if ((n = fd_pread_full(r->fd, buf, count, off)) < 0) {
		r->err = errno;
		return -1;
	}
	got = (size_t)n;
	r->bytes += got;
	if (got < count) {
		r->short_read = true;   /* truncated while being scanned */
		return -1;
	}
#ifdef AMPSCAN_TEST_HOOKS
	clam_test_slow(r, buf, got, off);
#endif
	return (off_t)got;
}

static void
clam_found(int fd, const char *virname, void *ctx)
{
	struct clam_reader *r = ctx;
	struct wproto_result *res = r->res;

	(void)fd;
	if (virname == NULL)
		return;
	if (strncmp(virname, SENG_LIMIT_PREFIX, strlen(SENG_LIMIT_PREFIX)) == 0) {
		/* asked for always, to know the limit; a name only when wanted */
		snprintf(r->limit, sizeof(r->limit), "%s",
		    virname + strlen(SENG_LIMIT_PREFIX));
		if (!r->alert_limits)
			return;
	}
	/* every match, a name twice too: clamd and clamscan --allmatch
	 * print one line per signature that matched */
	if (res->nnames == WPROTO_MAX_NAMES)
		return;
	snprintf(res->names[res->nnames].sig, sizeof(res->names[0].sig), "%s",
	    virname);
	res->names[res->nnames++].path[0] = '\0';
}

/* clamd.conf's heuristic options (engine_types.h) as libclamav's. */
static void
clam_options(const struct seng *e, unsigned flags, struct cl_scan_options *so)
{
	const struct seng_heur *h = &e->o.heur;

	memset(so, 0, sizeof(*so));
	so->parse = ~0u;
	if (flags & WPROTO_SCAN_ALLMATCH)
		so->general |= CL_SCAN_GENERAL_ALLMATCHES;
	if (h->heuristic_alerts)
		so->general |= CL_SCAN_GENERAL_HEURISTICS;
	if (h->precedence)
		so->general |= CL_SCAN_GENERAL_HEURISTIC_PRECEDENCE;
	if (h->alert_broken)
		so->heuristic |= CL_SCAN_HEURISTIC_BROKEN;
	if (h->alert_encrypted_archive)
		so->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE;
	if (h->alert_encrypted_doc)
		so->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	/*
	 * Asked for even when not wanted as a verdict, so that every limit
	 * hit is known (clam_found drops its name then) -- except under
	 * HeuristicScanPrecedence, where the alert would end the scan early.
	 */
	if (h->alert_exceeds_max || !h->precedence)
		so->heuristic |= CL_SCAN_HEURISTIC_EXCEEDS_MAX;
}

/* One line on stderr (the worker's: ampscansvc.log) and the result's note. */
static void
clam_limit_hit(const struct clam_reader *r, const char *display,
    struct wproto_result *res)
{
	fprintf(stderr, "ampscansvc: %s: limit exceeded: %s (scanned up to the limit; %s)\n",
	    display != NULL ? display : "(stream)", r->limit,
	    r->alert_limits ? "AlertExceedsMax: FOUND" : "answered as clamd does");
	if (res->note[0] == '\0')
		snprintf(res->note, sizeof(res->note), "%s%s", WPROTO_NOTE_LIMIT,
		    r->limit);
}

static void
clam_scan(struct seng *e, struct clam_reader *r, const char *display,
    unsigned flags, struct wproto_result *res)
{
	struct seng_clamav *c = e->impl;
	struct cl_scan_options so;
	const char *virname = NULL;
	unsigned long scanned = 0;
	cl_fmap_t *map;
	cl_error_t ret;

	memset(res, 0, sizeof(*res));
	r->res = res;
	r->alert_limits = e->o.heur.alert_exceeds_max;
	clam_options(e, flags, &so);
	if (r->size == 0)
		return;   /* nothing to read: clean, as clamscan says */
	if ((map = cl_fmap_open_handle(r, 0, r->size, clam_pread, 1)) == NULL) {
		seng_error(res, "libclamav cannot map the file");
		return;
	}
	clam_errors_reset();
	ret = cl_scanmap_callback(map, display, &virname, &scanned, c->cl, &so, r);
	cl_fmap_close(map);
	if (ret == CL_VIRUS && res->nnames == 0)
		clam_found(-1, virname, r);
	if (ret == CL_VIRUS && res->nnames == 0 && r->limit[0] != '\0')
		ret = CL_CLEAN;   /* only the limit, not wanted as a verdict */
	if (ret == CL_VIRUS) {
		res->verdict = WPROTO_FOUND;
		if (r->err != 0 || r->short_read)
			snprintf(res->note, sizeof(res->note), "read %s after a detection",
			    r->err ? strerror(r->err) : "short");
	} else if (r->err != 0) {
		seng_error(res, "read error: %s", strerror(r->err));
	} else if (r->short_read) {
		seng_error(res, "short read: the file changed while being scanned (%llu of %llu bytes)",
		    (unsigned long long)r->bytes, (unsigned long long)r->size);
	} else if (ret != CL_CLEAN) {
		seng_error(res, "%s%s%s", cl_strerror(ret),
		    clam_errors.last[0] ? ": " : "", clam_errors.last);
	} else {
		res->verdict = WPROTO_CLEAN;
		res->nnames = 0;   /* no name without CL_VIRUS */
	}
	if (r->limit[0] != '\0' && res->verdict != WPROTO_ERROR)
		clam_limit_hit(r, display, res);
	else if (res->verdict == WPROTO_CLEAN && r->err == 0 && !r->short_read) {
		/* no limit hit: libclamav went through the whole file */
		res->rflags |= WPROTO_RES_WHOLE;
		res->read_bytes = r->size;
	}
}

static void
clamav_scan_fd(struct seng *e, int fd, const char *display, unsigned flags,
    struct wproto_result *res)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0) {
		memset(res, 0, sizeof(*res));
		seng_error(res, "%s", strerror(errno));
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		memset(res, 0, sizeof(*res));
		seng_error(res, "Not a regular file");
		return;
	}
	seng_clamav_scan_sized(e, fd, (uint64_t)sb.st_size, display, flags, res);
}

void
seng_clamav_scan_sized(struct seng *e, int fd, uint64_t size,
    const char *display, unsigned flags, struct wproto_result *res)
{
	struct clam_reader r = { .fd = fd, .size = size };

	if (r.size == 0) {
		/* an empty file is clean only if it can be read at all */
		uint8_t x;

		if (pread(fd, &x, 1, 0) < 0) {
			memset(res, 0, sizeof(*res));
			seng_error(res, "read error: %s", strerror(errno));
			return;
		}
	}
	clam_scan(e, &r, display, flags, res);
}

static void
clamav_scan_mem(struct seng *e, const uint8_t *buf, size_t len,
    const char *display, unsigned flags, struct wproto_result *res)
{
	struct clam_reader r = { .fd = -1, .mem = buf, .size = len };

	clam_scan(e, &r, display, flags, res);
}

static int
clamav_load(struct seng *e, const char *path, char *err, size_t errlen)
{
	struct seng_clamav *c = e->impl;

	if (c->compiled) {
		snprintf(err, errlen, "%s: the engine is already compiled", path);
		return -1;
	}
	return stage_add(&c->st, path, err, errlen);
}

static void
clamav_count_type(struct seng_clamav *c, const char *name, uint64_t n)
{
	const char *dot = strrchr(name, '.');
	const char *ext = dot ? dot + 1 : "";

	for (size_t i = 0; i < c->ntypes; i++)
		if (strcmp(c->types[i].type, ext) == 0) {
			c->types[i].loaded += n;
			return;
		}
	if (c->ntypes < CLAM_MAX_TYPES) {
		snprintf(c->types[c->ntypes].type, sizeof(c->types[0].type), "%s", ext);
		c->types[c->ntypes++].loaded = n;
	}
}

/* cl_load one staged file through the stage's descriptor; check its count. */
static int
clamav_load_file(struct seng *e, const struct stage_file *f, unsigned dbopts,
    char *err, size_t errlen)
{
	struct seng_clamav *c = e->impl;
	char path[CLAM_PATH_MAX], why[400];
	unsigned int signo = 0;
	size_t nl = strlen(f->name);
	bool cud = nl > 4 && strcmp(f->name + nl - 4, ".cud") == 0;
	cl_error_t ret;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", c->st.dirfd, f->name);
	clam_errors_reset();
	if (cud)
		clam_lsan_disable();
	ret = cl_load(path, c->cl, &signo, dbopts);
	if (cud)
		clam_lsan_enable();
	if (ret != CL_SUCCESS) {
		clam_load_reason(why, sizeof(why));
		/* a staged .cud: which of its members */
		snprintf(err, errlen, "%s%s%s: libclamav refuses it: %s%s", f->name,
		    clam_errors.member[0] ? ", member " : "", clam_errors.member,
		    cl_strerror(ret), why);
		return -1;
	}
	if (signo < f->lo || signo > f->hi) {
		char want[64];

		if (f->lo == f->hi)
			snprintf(want, sizeof(want), "%llu", (unsigned long long)f->lo);
		else
			snprintf(want, sizeof(want), "%llu..%llu",
			    (unsigned long long)f->lo, (unsigned long long)f->hi);
		snprintf(err, errlen, "%s: libclamav loaded %u signatures where %s were verified: refused (never silently partial)",
		    f->name, signo, want);
		return -1;
	}
	c->st.dbs[f->db].sigs += signo;
	clamav_count_type(c, f->name, signo);
	return 0;
}

static int
clamav_compile(struct seng *e, char *err, size_t errlen)
{
	struct seng_clamav *c = e->impl;
	unsigned dbopts = CL_DB_STDOPT | (e->o.pua ? CL_DB_PUA : 0);
	char hex[2 * SENG_MARKER_MAX + 1], line[3 * SENG_MARKER_MAX], why[400];
	cl_error_t ret;

	if (!e->o.no_canary) {
		seng_canary_hex(e, hex, sizeof(hex));
		snprintf(line, sizeof(line), "%s:0:*:%s\n", SENG_CANARY_NAME, hex);
		if (stage_write(&c->st, STAGE_CANARY_FILE, line, 1, err, errlen) != 0)
			return -1;
	}
	stage_sort(&c->st);
	for (size_t i = 0; i < c->st.nfiles; i++)
		if (clamav_load_file(e, &c->st.files[i], dbopts, err, errlen) != 0)
			return -1;
	clam_errors_reset();
	if ((ret = cl_engine_compile(c->cl)) != CL_SUCCESS) {
		clam_load_reason(why, sizeof(why));
		snprintf(err, errlen, "libclamav cannot compile the definitions: %s%s",
		    cl_strerror(ret), why);
		return -1;
	}
	c->compiled = true;
	stage_close(&c->st);   /* loaded: the staged copies are not needed */
	return 0;
}

static void
clamav_info(const struct seng *e, struct wproto_ready *m)
{
	const struct seng_clamav *c = e->impl;

	snprintf(m->engine, sizeof(m->engine), "%s", cl_retver());
	for (size_t i = 0; i < c->st.ndbs && m->ndbs < WPROTO_MAX_DBS; i++) {
		const struct stage_db *d = &c->st.dbs[i];

		if (strcmp(d->name, STAGE_CANARY_FILE) == 0)
			continue;
		snprintf(m->dbs[m->ndbs].name, sizeof(m->dbs[0].name), "%s", d->name);
		m->dbs[m->ndbs].version = d->version;
		snprintf(m->dbs[m->ndbs].kind, sizeof(m->dbs[0].kind), "%s", d->kind);
		m->ndbs++;
	}
	for (size_t i = 0; i < c->ntypes && m->ntypes < WPROTO_MAX_TYPES; i++) {
		uint64_t n = c->types[i].loaded;

		if (strcmp(c->types[i].type, "ndb") == 0 && !e->o.no_canary)
			n--;   /* the canary is no signature of the set */
		if (n == 0)
			continue;
		m->types[m->ntypes] = c->types[i];
		m->types[m->ntypes++].loaded = n;
	}
}

void
seng_clamav_version(char *out, size_t outlen)
{
	snprintf(out, outlen, "libclamav %s, flevel %u", cl_retver(),
	    cl_retflevel());
}

static void
clamav_version(const struct seng *e, char *out, size_t outlen)
{
	(void)e;
	seng_clamav_version(out, outlen);
}

static void
clamav_free(struct seng *e)
{
	struct seng_clamav *c = e->impl;

	if (c->cl != NULL)
		cl_engine_free(c->cl);
	stage_close(&c->st);
	if (c->own_tmpdir)
		rmdir(c->tmpdir);
	free(c);
	e->impl = NULL;
}

/* The canaries run under the default time limit, at least; then MaxScanTime. */
static void
clamav_canary_time(struct seng *e, bool canaries)
{
	struct seng_clamav *c = e->impl;
	unsigned ms = e->o.max_scan_time_ms;

	if (canaries && ms < SENG_DEFAULT_MAX_SCAN_TIME_MS)
		ms = SENG_DEFAULT_MAX_SCAN_TIME_MS;
	cl_engine_set_num(c->cl, CL_ENGINE_MAX_SCANTIME, ms);
}

const struct seng_ops seng_clamav_ops = {
	.load = clamav_load,
	.compile = clamav_compile,
	.scan_fd = clamav_scan_fd,
	.scan_mem = clamav_scan_mem,
	.info = clamav_info,
	.version = clamav_version,
	.free = clamav_free,
	.canary_time = clamav_canary_time,
	.ncanaries = SENG_CANARIES_ALL,
};

static int
clamav_limits(struct seng *e, struct cl_engine *cl, char *err, size_t errlen)
{
	const struct walk_limits *l = &e->o.lim;

	if (cl_engine_set_num(cl, CL_ENGINE_MAX_FILESIZE, (long long)l->max_file_size) ||
	    cl_engine_set_num(cl, CL_ENGINE_MAX_SCANSIZE, (long long)l->max_scan_size) ||
	    cl_engine_set_num(cl, CL_ENGINE_MAX_RECURSION, l->max_recursion) ||
	    cl_engine_set_num(cl, CL_ENGINE_MAX_FILES, l->max_files) ||
	    cl_engine_set_num(cl, CL_ENGINE_MAX_SCANTIME, e->o.max_scan_time_ms)) {
		snprintf(err, errlen, "libclamav refuses the limits");
		return -1;
	}
	return 0;
}

int
seng_clamav_init(struct seng *e, char *err, size_t errlen)
{
	static bool initialised;
	struct seng_clamav *c = calloc(1, sizeof(*c));
	char stage[CLAM_PATH_MAX];
	cl_error_t ret;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->st.dirfd = -1;
	e->impl = c;
	if (e->o.scratch == NULL) {
		snprintf(err, errlen, "the clamav engine needs a scratch directory");
		return -1;
	}
	if (!initialised) {
		cl_set_clcb_msg(clam_msg);
		if ((ret = cl_init(CL_INIT_DEFAULT)) != CL_SUCCESS) {
			snprintf(err, errlen, "cl_init: %s", cl_strerror(ret));
			return -1;
		}
		initialised = true;
	}
	snprintf(stage, sizeof(stage), "%s/stage", e->o.scratch);
	if (e->o.tmpdir != NULL) {
		snprintf(c->tmpdir, sizeof(c->tmpdir), "%s", e->o.tmpdir);
	} else {
		snprintf(c->tmpdir, sizeof(c->tmpdir), "%s/tmp", e->o.scratch);
		if (mkdir(c->tmpdir, 0700) != 0) {
			snprintf(err, errlen, "%s: %s", c->tmpdir, strerror(errno));
			return -1;
		}
		c->own_tmpdir = true;
	}
	if ((c->cl = cl_engine_new()) == NULL) {
		snprintf(err, errlen, "cl_engine_new: out of memory");
		return -1;
	}
	cl_engine_set_clcb_virus_found(c->cl, clam_found);
	if (cl_engine_set_str(c->cl, CL_ENGINE_TMPDIR, c->tmpdir) != CL_SUCCESS ||
	    clamav_limits(e, c->cl, err, errlen) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "libclamav refuses the temporary directory");
		return -1;
	}
	return stage_open(&c->st, stage, e->o.dopts, e->o.pua, err, errlen);
}
