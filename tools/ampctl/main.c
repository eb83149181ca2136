/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ampctl: the running service, through ampdaemon's control socket.
 *
 * The client checks only what it must (the command, its option spelling,
 * --lang, the number of paths), sends the command line as one request
 * (supervisor/proto/ctlproto.h), copies the daemon's output to stdout and
 * stderr as it arrives, and exits with the status the daemon sends.
 * What it sends: the command, then its options with their values as
 * separate strings (--lang=en becomes "--lang", "en"; -n5 "-n", "5"), and
 * the paths of scan and update made absolute from our working directory
 * (not resolved: ampdaemon opens them itself, as root).
 *
 * Exit status: 0 ok, 1 findings or active faults, 2 errors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "config.h"
#include "ctlproto.h"
#include "diag.h"
#include "events.h"
#include "exits.h"
#include "faults.h"
#include "fdio.h"
#include "poison.h"
#include "strbuf.h"

#ifndef AMPSCAN_VERSION
#define AMPSCAN_VERSION "0.0.0"
#endif

#define AMPCTL_CWD_MAX 4096             /* bytes of getcwd() (PATH_MAX) */
#define AMPCTL_ERR_MAX 1024             /* config_load's message */

static const char ampctl_usage[] =
"usage: ampctl [--config FILE | --socket PATH] COMMAND [OPTIONS]\n"
"\n"
"The running ampscan service, through ampdaemon's control socket (root only).\n"
"\n"
"commands:\n"
"  status [--json]             the service at a glance: workers, definitions, active faults\n"
"  faults [--all] [--lang en|zh-TW] [--json]\n"
"                              active faults with their remediation (--all: the whole catalogue)\n"
"  events [--follow] [-n N] [--json]\n"
"                              the last N events; --follow streams new ones until ^C\n"
"  scan [--json] [--allmatch] PATH...\n"
"                              scan files and directories (ampdaemon opens them, as root)\n"
"  update [--force] FILE [FILE.sign]\n"
"                              install new definitions (.cvd, .cld, .cud, or a .cdiff applied to\n"
"                              the active container of its name): verify, trial-load, activate,\n"
"                              roll the workers over; answers with the verdict once the workers\n"
"                              are READY on it (exit 0) or it was rejected or rolled back (exit 1).\n"
"                              --force: install a version not newer than the active one\n"
"  reload                      re-verify the active definitions, roll the workers over onto them\n"
"  repair-account              recreate the scan user and group, restart the workers\n"
"  diag [--state-dir DIR] [--log-dir DIR] [--since DURATION|TIME] [--json] [--bundle FILE.tar.gz]\n"
"                              crash-loop diagnosis: verdict, crash timeline, signals, suspected\n"
"                              files, definitions, log lines.  Online through the control socket;\n"
"                              offline from the files with --state-dir (logs in DIR/../log unless\n"
"                              --log-dir, definitions in DIR/../defs, configuration DIR/../ampdaemon.conf\n"
"                              unless --config) or when ampdaemon cannot be reached.  Exit status:\n"
"                              0 healthy, 1 degraded, 2 intervention needed (or an error).\n"
"                              --bundle: also write a tar.gz for support (state, log tails,\n"
"                              configuration, the diagnosis); ampctl diag --state-dir X/state on\n"
"                              the unpacked bundle gives the same diagnosis\n"
"\n"
"options before the command:\n"
"  --config FILE    take ControlSocket from FILE (default " CONFIG_DEFAULT_PATH ")\n"
"  --socket PATH    the control socket (default: the configuration's, else\n"
"                   " CONFIG_DEFAULT_CONTROL_SOCKET ")\n"
"  -h, --help       this help\n"
"  --version        print the version and exit\n"
"\n"
"Exit status: 0 ok, 1 findings (scan) or active faults (status, faults),\n"
"2 errors (usage, connection, or the command failed).\n";

static const char ampctl_usage_short[] =
"usage: ampctl [--config FILE | --socket PATH] COMMAND [OPTIONS]\n"
"commands: status faults events scan update reload repair-account diag\n"
"(see ampctl --help)\n";

struct ampctl_opt {
	const char *name;       /* "--json", or "-n" */
	bool arg;               /* takes a value: "--lang en", "--lang=en", "-n5" */
};

struct ampctl_command {
	const char *name;
	const struct ampctl_opt *opts;  /* ends with a NULL name */
	unsigned min_args, max_args;    /* operands */
	bool paths;                     /* operands are paths: made absolute */
};

static const struct ampctl_opt ampctl_opts_json[] = {
	{ "--json", false }, { NULL, false },
};
static const struct ampctl_opt ampctl_opts_faults[] = {
	{ "--all", false }, { "--lang", true }, { "--json", false },
	{ NULL, false },
};
static const struct ampctl_opt ampctl_opts_events[] = {
	{ "--follow", false }, { "-n", true }, { "--json", false },
	{ NULL, false },
};
static const struct ampctl_opt ampctl_opts_scan[] = {
	{ "--json", false }, { "--allmatch", false }, { NULL, false },
};
static const struct ampctl_opt ampctl_opts_diag[] = {
	{ "--state-dir", true }, { "--log-dir", true }, { "--since", true },
	{ "--json", false }, { "--bundle", true }, { NULL, false },
};
static const struct ampctl_opt ampctl_opts_update[] = {
	{ "--force", false }, { NULL, false },
};
static const struct ampctl_opt ampctl_opts_none[] = {
	{ NULL, false },
};

static const struct ampctl_command ampctl_commands[] = {
	{ "status", ampctl_opts_json, 0, 0, false },
	{ "faults", ampctl_opts_faults, 0, 0, false },
	{ "events", ampctl_opts_events, 0, 0, false },
	{ "scan", ampctl_opts_scan, 1, CTL_ARGV_MAX, true },
	{ "update", ampctl_opts_update, 1, 2, true },
	{ "reload", ampctl_opts_none, 0, 0, false },
	{ "repair-account", ampctl_opts_none, 0, 0, false },
	{ "diag", ampctl_opts_diag, 0, 0, false },
};

struct ampctl {
	const char *config_path;
	bool config_given;
	const char *socket_path;
	struct config cfg;
	const struct ampctl_command *cmd;
	char *fwd[CTL_ARGV_MAX];        /* the request's argv */
	bool fwd_owned[CTL_ARGV_MAX];   /* fwd[i] was allocated here */
	int nfwd;
	char cwd[AMPCTL_CWD_MAX];       /* "" until a path needs it */
};

static int ampctl_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* "ampctl: ..." on stderr; returns the exit status 2. */
static int
ampctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ampctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CTL_STATUS_ERROR;
}

static int ampctl_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A usage error: the message and the usage on stderr, exit status 2. */
static int
ampctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ampctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(ampctl_usage_short, stderr);
	return CTL_STATUS_ERROR;
}

/*
 * Whether argv[*i] is option o: 1 (with *val for an option that takes a
 * value, the value consumed from the next argument when not inline), 0 not
 * this option, or 2 after a message when the value is missing.
 */
static int
ampctl_opt_match(const struct ampctl_opt *o, int argc, char **argv, int *i,
    const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(o->name);
	bool is_long = o->name[1] == '-';

	*val = NULL;
	if (strncmp(a, o->name, n) != 0)
		return 0;
	if (a[n] != '\0') {
		if (!o->arg)
			return 0;
		if (is_long && a[n] != '=')
			return 0;
		*val = a + n + (is_long ? 1 : 0);
		return 1;
	}
	if (!o->arg)
		return 1;
	if (*i + 1 >= argc)
		return ampctl_usage_error("option %s needs a value", o->name);
	*val = argv[++*i];
	return 1;
}

/* The request is a char *[] (an argv); nothing writes through it. */
static char *
ampctl_unconst(const char *s)
{
	return (char *)(uintptr_t)s;
}

/* Append s to the request (owned: free it with the request). */
static int
ampctl_push(struct ampctl *c, char *s, bool owned)
{
	if (c->nfwd == CTL_ARGV_MAX) {
		if (owned)
			free(s);
		return ampctl_error("too many arguments (at most %d)",
		    CTL_ARGV_MAX);
	}
	c->fwd_owned[c->nfwd] = owned;
	c->fwd[c->nfwd++] = s;
	return 0;
}

/* path made absolute from the working directory, without resolving it. */
static int
ampctl_push_path(struct ampctl *c, char *path)
{
	struct strbuf sb;
	size_t n;
	int rc = 0;

	if (path[0] == '/')
		return ampctl_push(c, path, false);
	if (c->cwd[0] == '\0' && getcwd(c->cwd, sizeof(c->cwd)) == NULL) {
		c->cwd[0] = '\0';
		return ampctl_error("%s: cannot find the working directory: %s",
		    path, strerror(errno));
	}
	strbuf_init(&sb, CTL_FRAME_MAX);
	n = strlen(c->cwd);
	strbuf_append(&sb, c->cwd, n);
	if (n == 0 || c->cwd[n - 1] != '/')
		strbuf_append(&sb, "/", 1);
	strbuf_puts(&sb, path);
	if (sb.failed) {
		rc = ampctl_error("%s: path too long or out of memory", path);
		goto out;
	}
	rc = ampctl_push(c, sb.buf, true);
	sb.buf = NULL;          /* handed over */
out:
	strbuf_free(&sb);
	return rc;
}

static const struct ampctl_command *
ampctl_command_find(const char *name)
{
	size_t i, n = sizeof(ampctl_commands) / sizeof(ampctl_commands[0]);

	for (i = 0; i < n; i++)
		if (strcmp(ampctl_commands[i].name, name) == 0)
			return &ampctl_commands[i];
	return NULL;
}

/* One option of the command (argv[*i] starts with '-'). */
static int
ampctl_command_opt(struct ampctl *c, int argc, char **argv, int *i)
{
	const struct ampctl_opt *o;
	const char *val;
	int rc;

	for (o = c->cmd->opts; o->name != NULL; o++) {
		if ((rc = ampctl_opt_match(o, argc, argv, i, &val)) == 0)
			continue;
		if (rc != 1)
			return rc;
		if (strcmp(o->name, "--lang") == 0 && strcmp(val, "en") != 0 &&
		    strcmp(val, "zh-TW") != 0)
			return ampctl_usage_error("%s: --lang %s: use en or zh-TW",
			    argv[0], val);
		if ((rc = ampctl_push(c, ampctl_unconst(o->name), false)) != 0)
			return rc;
		return val != NULL ? ampctl_push(c, ampctl_unconst(val), false) : 0;
	}
	return ampctl_usage_error("%s: unknown option '%s'", argv[0],
	    argv[*i]);
}

/* The command and its arguments (argv[0] is the command) into c->fwd. */
static int
ampctl_command_parse(struct ampctl *c, int argc, char **argv)
{
	unsigned nargs = 0;
	bool operands_only = false;
	int i, rc;

	if ((c->cmd = ampctl_command_find(argv[0])) == NULL)
		return ampctl_usage_error("unknown command '%s'", argv[0]);
	if ((rc = ampctl_push(c, argv[0], false)) != 0)
		return rc;
	for (i = 1; i < argc; i++) {
		if (!operands_only && strcmp(argv[i], "--") == 0) {
			operands_only = true;
			continue;
		}
		if (!operands_only && argv[i][0] == '-' && argv[i][1] != '\0') {
			if ((rc = ampctl_command_opt(c, argc, argv, &i)) != 0)
				return rc;
			continue;
		}
		if (++nargs > c->cmd->max_args)
			return ampctl_usage_error("%s: unexpected argument '%s'",
			    argv[0], argv[i]);
		rc = c->cmd->paths ? ampctl_push_path(c, argv[i]) :
		    ampctl_push(c, argv[i], false);
		if (rc != 0)
			return rc;
	}
	if (nargs < c->cmd->min_args)
		return ampctl_usage_error("%s: no %s given", argv[0],
		    c->cmd->max_args == 1 ? "FILE" : "PATH");
	return 0;
}

/*
 * Options before the command: the command's index (>= 1), or minus the
 * exit status when there is nothing to send (0 after --help, --version).
 */
static int
ampctl_global_parse(struct ampctl *c, int argc, char **argv)
{
	static const struct ampctl_opt o_config = { "--config", true };
	static const struct ampctl_opt o_socket = { "--socket", true };
	const char *val;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(ampctl_usage, stdout);
			return -CTL_STATUS_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("ampctl %s\n", AMPSCAN_VERSION);
			return -CTL_STATUS_OK;
		}
		rc = ampctl_opt_match(&o_config, argc, argv, &i, &val);
		if (rc == 1) {
			c->config_path = val;
			c->config_given = true;
			continue;
		}
		if (rc == 0)
			rc = ampctl_opt_match(&o_socket, argc, argv, &i, &val);
		if (rc == 1) {
			c->socket_path = val;
			continue;
		}
		return rc != 0 ? -rc :
		    -ampctl_usage_error("unknown option '%s'", argv[i]);
	}
	if (i == argc)
		return -ampctl_usage_error("no command given");
	return i;
}

/* c->socket_path: --socket, else ControlSocket of the configuration. */
static int
ampctl_socket_find(struct ampctl *c)
{
	char err[AMPCTL_ERR_MAX];
	int rc;

	if (c->socket_path != NULL)
		return 0;
	rc = config_load(c->config_path, &c->cfg, err, sizeof(err));
	if (rc == CONFIG_EIO && errno == ENOENT && !c->config_given) {
		c->socket_path = CONFIG_DEFAULT_CONTROL_SOCKET;
		return 0;
	}
	if (rc != 0)
		return ampctl_error("%s", err);
	c->socket_path = c->cfg.control_socket;
	return 0;
}

/* A connected socket, or -1 after a message naming the socket (none
 * when quiet: errno says why). */
static int
ampctl_connect(const char *path, bool quiet)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	int fd, saved;

	if (n >= sizeof(sa.sun_path)) {
		ampctl_error("cannot connect to ampdaemon at %s: socket path too long (at most %zu bytes)",
		    path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, n + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		ampctl_error("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	if (quiet)
		return -1;
	if (saved == EACCES || saved == EPERM)
		ampctl_error("cannot connect to ampdaemon at %s: %s (the control socket is root-only: run ampctl as root)",
		    path, strerror(saved));
	else
		ampctl_error("cannot connect to ampdaemon at %s: %s (is ampdaemon running?)",
		    path, strerror(saved));
	return -1;
}

/* Copy the daemon's output until its exit status; returns the status.
 * With capture, stdout bytes go there instead. */
static int
ampctl_relay(const char *path, int fd, struct strbuf *capture)
{
	struct ctl_decoder dec;
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int rc, status = CTL_STATUS_ERROR;

	ctl_decoder_init(&dec);
	for (;;) {
		rc = ctl_read_frame(fd, &dec, &type, &p, &len);
		if (rc == CTL_EEOF || rc == CTL_ETRUNC) {
			ampctl_error("%s: ampdaemon closed the connection before the command finished",
			    path);
			goto out;
		}
		if (rc == CTL_EIO) {
			ampctl_error("%s: %s", path, strerror(errno));
			goto out;
		}
		if (rc != 0) {
			ampctl_error("%s: bad reply from ampdaemon: %s", path,
			    ctl_strerror(rc));
			goto out;
		}
		if (type == CTL_EXIT) {
			if (ctl_exit_decode(p, len, &status) != 0) {
				status = CTL_STATUS_ERROR;
				ampctl_error("%s: bad reply from ampdaemon: %s",
				    path, ctl_strerror(CTL_EEXIT));
			}
			goto out;
		}
		if (type != CTL_OUT && type != CTL_ERR) {
			ampctl_error("%s: bad reply from ampdaemon: frame type '%c'",
			    path, type);
			goto out;
		}
		if (type == CTL_OUT && capture != NULL) {
			strbuf_append(capture, p, len);
			continue;
		}
		if (ctl_write_all(type == CTL_OUT ? STDOUT_FILENO :
		    STDERR_FILENO, p, len) != 0) {
			/* a closed pipe (events --follow | head) is not news */
			if (errno != EPIPE)
				ampctl_error("%s: %s", type == CTL_OUT ? "stdout" :
				    "stderr", strerror(errno));
			goto out;
		}
	}
out:
	ctl_decoder_free(&dec);
	return status;
}

/* Send argv[0..argc) on the connected fd (or connect when fd < 0) and
 * relay the reply; returns the exit status. */
static int
ampctl_send(struct ampctl *c, int fd, int argc, char **argv,
    struct strbuf *capture)
{
	struct strbuf req;
	int rc;

	strbuf_init(&req, CTL_HDR + CTL_FRAME_MAX);
	if ((rc = ctl_request_encode(&req, argc, argv)) != 0) {
		rc = ampctl_error("%s: cannot send the command: %s (at most %d arguments, %d bytes)",
		    argv[0], ctl_strerror(rc), CTL_ARGV_MAX, CTL_FRAME_MAX);
		goto out;
	}
	if (fd < 0 && (fd = ampctl_connect(c->socket_path, false)) < 0) {
		rc = CTL_STATUS_ERROR;
		goto out;
	}
	if (ctl_write_all(fd, req.buf, req.len) != 0) {
		rc = ampctl_error("%s: cannot send the command: %s",
		    c->socket_path, strerror(errno));
		goto out;
	}
	rc = ampctl_relay(c->socket_path, fd, capture);
out:
	if (fd >= 0)
		close(fd);
	strbuf_free(&req);
	return rc;
}

static int
ampctl_run(struct ampctl *c)
{
	return ampctl_send(c, -1, c->nfwd, c->fwd, NULL);
}

/* ---- diag ------------------------------------------------------------------- */

#define AMPCTL_BUNDLE_EVENTS_MAX (16u << 20)   /* bytes of events.jsonl kept */
#define AMPCTL_BUNDLE_HEADER 512               /* bytes of each container kept */
#define AMPCTL_CORE_PATTERN "/proc/sys/kernel/core_pattern"

struct ampctl_diag {
	const char *state_arg, *log_arg, *since, *bundle;
	bool json;
	/* offline: the directories and values diag_run uses */
	char state[PATH_MAX], log[PATH_MAX + 8], defs[PATH_MAX + 8];
	char conf[PATH_MAX + 32];       /* the configuration file used, or "" */
	char core_pattern[256];
	bool have_log, have_defs, have_core;
	struct config cfg;
	bool have_cfg;
};

/* The diag options: local ones kept, --since and --json left in c->fwd. */
static void
ampctl_diag_opts(struct ampctl *c, struct ampctl_diag *dg)
{
	int i, n = 1;

	for (i = 1; i < c->nfwd; i++) {
		const char *o = c->fwd[i];

		if (strcmp(o, "--state-dir") == 0 && i + 1 < c->nfwd)
			dg->state_arg = c->fwd[++i];
		else if (strcmp(o, "--log-dir") == 0 && i + 1 < c->nfwd)
			dg->log_arg = c->fwd[++i];
		else if (strcmp(o, "--bundle") == 0 && i + 1 < c->nfwd)
			dg->bundle = c->fwd[++i];
		else {
			if (strcmp(o, "--json") == 0)
				dg->json = true;
			else if (strcmp(o, "--since") == 0 && i + 1 < c->nfwd) {
				dg->since = c->fwd[i + 1];
				c->fwd[n++] = c->fwd[i++];
			}
			c->fwd[n++] = c->fwd[i];
		}
	}
	c->nfwd = n;          /* nothing dropped here was owned */
}

static bool
ampctl_is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* DIR/.. textually ("/a/b/state" -> "/a/b"), into out. */
static void
ampctl_parent(const char *dir, char *out, size_t len)
{
	size_t n = strlen(dir);
	const char *slash;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	slash = memrchr(dir, '/', n);
	if (slash == NULL)
		str_fmt(out, len, ".");
	else if (slash == dir)
		str_fmt(out, len, "/");
	else
		str_fmt(out, len, "%.*s", (int)(slash - dir), dir);
}

/*
 * The offline sources.  With --state-dir: logs in DIR/../log (or
 * --log-dir), definitions in DIR/../defs, the configuration from --config
 * or DIR/../ampdaemon.conf, kernel.core_pattern from DIR/../core_pattern
 * (a bundle) or the kernel.  Without: the configuration's directories.
 */
static int
ampctl_diag_sources(struct ampctl *c, struct ampctl_diag *dg)
{
	char parent[PATH_MAX], err[AMPCTL_ERR_MAX], cp[PATH_MAX + 16];
	int rc;

	config_defaults(&dg->cfg);
	if (dg->state_arg == NULL) {
		rc = config_load(c->config_path, &dg->cfg, err, sizeof(err));
		if (rc != 0 && !(rc == CONFIG_EIO && errno == ENOENT && !c->config_given))
			return ampctl_error("%s", err);
		dg->have_cfg = true;
		str_fmt(dg->conf, sizeof(dg->conf), "%s", rc == 0 ? c->config_path : "");
		str_fmt(dg->state, sizeof(dg->state), "%s", dg->cfg.state_dir);
		str_fmt(dg->log, sizeof(dg->log), "%s", dg->log_arg ? dg->log_arg :
		    dg->cfg.log_dir);
		str_fmt(dg->defs, sizeof(dg->defs), "%s", dg->cfg.definitions_dir);
		dg->have_log = dg->have_defs = true;
		dg->have_core = diag_read_core_pattern(AMPCTL_CORE_PATTERN,
		    dg->core_pattern, sizeof(dg->core_pattern));
		return 0;
	}
	if (realpath(dg->state_arg, dg->state) == NULL || !ampctl_is_dir(dg->state))
		return ampctl_error("diag: --state-dir %s: %s", dg->state_arg,
		    errno ? strerror(errno) : "not a directory");
	ampctl_parent(dg->state, parent, sizeof(parent));
	if (dg->log_arg != NULL)
		str_fmt(dg->log, sizeof(dg->log), "%s", dg->log_arg);
	else
		str_fmt(dg->log, sizeof(dg->log), "%s/log", strcmp(parent, "/") ?
		    parent : "");
	dg->have_log = ampctl_is_dir(dg->log);
	str_fmt(dg->defs, sizeof(dg->defs), "%s/defs", strcmp(parent, "/") ? parent : "");
	dg->have_defs = ampctl_is_dir(dg->defs);
	if (c->config_given)
		str_fmt(dg->conf, sizeof(dg->conf), "%s", c->config_path);
	else
		str_fmt(dg->conf, sizeof(dg->conf), "%s/ampdaemon.conf",
		    strcmp(parent, "/") ? parent : "");
	rc = config_load(dg->conf, &dg->cfg, err, sizeof(err));
	if (rc == 0) {
		dg->have_cfg = true;
	} else if (c->config_given) {
		return ampctl_error("%s", err);
	} else {
		if (!(rc == CONFIG_EIO && errno == ENOENT))
			fprintf(stderr, "ampctl: diag: %s (the defaults are used)\n", err);
		dg->conf[0] = '\0';
	}
	str_fmt(cp, sizeof(cp), "%s/core_pattern", parent);
	dg->have_core = diag_read_core_pattern(cp, dg->core_pattern,
	    sizeof(dg->core_pattern)) || diag_read_core_pattern(
	    AMPCTL_CORE_PATTERN, dg->core_pattern, sizeof(dg->core_pattern));
	return 0;
}

/* diag_run on the offline sources into out; returns the verdict or 2. */
static int
ampctl_diag_offline(struct ampctl_diag *dg, bool json, struct strbuf *out)
{
	struct diag_opts o;
	char err[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.state_dir = dg->state;
	o.log_dir = dg->have_log ? dg->log : NULL;
	o.definitions_dir = dg->have_defs ? dg->defs : NULL;
	o.cfg = dg->have_cfg ? &dg->cfg : NULL;
	o.core_pattern = dg->have_core ? dg->core_pattern : NULL;
	o.now_ms = walltime_now_ms();
	o.json = json;
	if (dg->since != NULL && diag_parse_since(dg->since, o.now_ms,
	    &o.since_ms, err, sizeof(err)) != 0)
		return ampctl_usage_error("diag: %s", err);
	rc = diag_run(&o, out, err, sizeof(err));
	if (rc < 0)
		return ampctl_error("diag: %s", err);
	if (err[0])
		fprintf(stderr, "ampctl: diag: %s\n", err);
	return rc;
}

/* ---- the bundle ---- */

static int
ampctl_tar_add(struct archive *a, const char *name, const void *data,
    size_t len, bool dir, time_t now)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	if (e == NULL)
		return -1;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0700 : 0600);
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)len);
	archive_entry_set_mtime(e, now, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (!dir && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len))
		rc = -1;
	archive_entry_free(e);
	return rc;
}

/*
 * The last max bytes of path (all of it when smaller; else cut after the
 * first newline, as diag reads a log), or the first max bytes when head.
 * NULL when it cannot be read (*missing when it does not exist).
 */
static char *
ampctl_read_part(const char *path, size_t max, bool head, size_t *lenp,
    bool *missing)
{
	struct stat st;
	char *buf = NULL, *nl;
	off_t from;
	size_t want, got = 0;
	ssize_t n;
	int fd;

	*lenp = 0;
	*missing = false;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		*missing = errno == ENOENT;
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	from = head || st.st_size <= (off_t)max ? 0 : st.st_size - (off_t)max;
	want = (size_t)(st.st_size - from) > max ? max : (size_t)(st.st_size - from);
	if ((buf = malloc(want + 1)) == NULL)
		goto out;
	n = fd_pread_full(fd, buf, want, from);
	got = n > 0 ? (size_t)n : 0;
	if (from > 0 && (nl = memchr(buf, '\n', got)) != NULL) {
		got -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, got);
	}
	*lenp = got;
out:
	close(fd);
	return buf;
}

static int
ampctl_tar_file(struct archive *a, const char *top, const char *dir,
    const char *name, size_t max, bool head, time_t now)
{
	char path[PATH_MAX + 256], member[PATH_MAX + 256];
	size_t len;
	bool missing;
	char *buf;
	int rc;

	str_fmt(path, sizeof(path), "%s/%s", dir, name);
	if ((buf = ampctl_read_part(path, max, head, &len, &missing)) == NULL) {
		if (!missing)
			fprintf(stderr, "ampctl: diag --bundle: %s: cannot be read; left out\n", path);
		return 0;
	}
	str_fmt(member, sizeof(member), "%s/%s", top, name);
	rc = ampctl_tar_add(a, member, buf, len, false, now);
	free(buf);
	return rc;
}

/* The configuration, FaultCommand's value left out (it may hold a token). */
static int
ampctl_tar_config(struct archive *a, const char *top, const char *conf,
    time_t now)
{
	struct strbuf sb;
	char member[PATH_MAX], *buf;
	const char *p, *nl, *end;
	size_t len;
	bool missing;
	int rc;

	if (conf[0] == '\0' || (buf = ampctl_read_part(conf, CONFIG_FILE_MAX,
	    true, &len, &missing)) == NULL)
		return 0;
	strbuf_init(&sb, CONFIG_FILE_MAX + 4096);
	for (p = buf, end = buf + len; p < end; p = nl + 1) {
		const char *k = p;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		while (k < nl && (*k == ' ' || *k == '\t'))
			k++;
		if ((size_t)(nl - k) > 12 && memcmp(k, "FaultCommand", 12) == 0 &&
		    (k[12] == ' ' || k[12] == '\t'))
			strbuf_puts(&sb, "FaultCommand \"(left out by ampctl diag --bundle)\"\n");
		else {
			strbuf_append(&sb, p, (size_t)(nl - p));
			strbuf_puts(&sb, "\n");
		}
	}
	str_fmt(member, sizeof(member), "%s/ampdaemon.conf", top);
	rc = sb.failed ? -1 : ampctl_tar_add(a, member, sb.buf, sb.len, false, now);
	strbuf_free(&sb);
	free(buf);
	return rc;
}

/* The headers of active/'s containers: enough for diag's active set. */
static int
ampctl_tar_defs(struct archive *a, const char *top, const char *defs,
    time_t now)
{
	char dir[PATH_MAX + 16], member[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	str_fmt(dir, sizeof(dir), "%s/active", defs);
	if ((d = opendir(dir)) == NULL)
		return 0;
	str_fmt(member, sizeof(member), "%s/defs/active", top);
	rc = ampctl_tar_add(a, member, NULL, 0, true, now);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 5 ||
		    (strcasecmp(de->d_name + n - 4, ".cvd") != 0 &&
		    strcasecmp(de->d_name + n - 4, ".cld") != 0 &&
		    strcasecmp(de->d_name + n - 4, ".cud") != 0))
			continue;
		str_fmt(member, sizeof(member), "%s/defs/active", top);
		rc = ampctl_tar_file(a, member, dir, de->d_name,
		    AMPCTL_BUNDLE_HEADER, true, now);
	}
	closedir(d);
	return rc;
}

static int
ampctl_bundle_write(struct ampctl_diag *dg, const char *state,
    const char *log, const char *defs, const struct strbuf *txt,
    const struct strbuf *json)
{
	char top[64], tmp[PATH_MAX], m[128], stamp[32];
	struct archive *a = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1, rc = -1;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	str_fmt(top, sizeof(top), "ampscan-diag-%s", stamp);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", dg->bundle) >= sizeof(tmp))
		return ampctl_error("diag --bundle %s: path too long", dg->bundle);
	if ((fd = mkstemp(tmp)) < 0)
		return ampctl_error("diag --bundle %s: %s", tmp, strerror(errno));
	if (fchmod(fd, 0600) != 0 || (a = archive_write_new()) == NULL ||
	    archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK)
		goto out;
	if (ampctl_tar_add(a, top, NULL, 0, true, now) != 0)
		goto out;
	str_fmt(m, sizeof(m), "%s/state", top);
	if (ampctl_tar_add(a, m, NULL, 0, true, now) != 0 ||
	    ampctl_tar_file(a, m, state, FAULTS_STATE_FILE, FAULTS_STATE_MAX, true, now) != 0 ||
	    ampctl_tar_file(a, m, state, POISON_STATE_FILE, POISON_STATE_MAX, true, now) != 0 ||
	    ampctl_tar_file(a, m, state, EXITS_FILE_NAME, EXITS_TRIM_AT * (size_t)EVENTS_LINE_MAX, false, now) != 0 ||
	    ampctl_tar_file(a, m, state, EVENTS_FILE_NAME, AMPCTL_BUNDLE_EVENTS_MAX, false, now) != 0)
		goto out;
	str_fmt(m, sizeof(m), "%s/log", top);
	if (ampctl_tar_add(a, m, NULL, 0, true, now) != 0 ||
	    (log != NULL && (ampctl_tar_file(a, m, log, "ampdaemon.log", DIAG_LOG_TAIL, false, now) != 0 ||
	    ampctl_tar_file(a, m, log, "ampscansvc.log", DIAG_LOG_TAIL, false, now) != 0)))
		goto out;
	str_fmt(m, sizeof(m), "%s/defs", top);
	if (ampctl_tar_add(a, m, NULL, 0, true, now) != 0 ||
	    (defs != NULL && ampctl_tar_defs(a, top, defs, now) != 0) ||
	    ampctl_tar_config(a, top, dg->conf, now) != 0)
		goto out;
	str_fmt(m, sizeof(m), "%s/core_pattern", top);
	if (dg->have_core && ampctl_tar_add(a, m, dg->core_pattern,
	    strlen(dg->core_pattern), false, now) != 0)
		goto out;
	str_fmt(m, sizeof(m), "%s/diag.txt", top);
	if (ampctl_tar_add(a, m, txt->buf, txt->len, false, now) != 0)
		goto out;
	str_fmt(m, sizeof(m), "%s/diag.json", top);
	if (ampctl_tar_add(a, m, json->buf, json->len, false, now) != 0 ||
	    archive_write_close(a) != ARCHIVE_OK)
		goto out;
	if (fsync(fd) != 0 || rename(tmp, dg->bundle) != 0)
		goto out;
	rc = 0;
	fprintf(stderr, "ampctl: diag: bundle written to %s (%s/)\n", dg->bundle, top);
out:
	if (rc != 0)
		ampctl_error("diag --bundle %s: %s", dg->bundle, a != NULL &&
		    archive_error_string(a) ? archive_error_string(a) : strerror(errno));
	if (a != NULL)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc == 0 ? 0 : CTL_STATUS_ERROR;
}

/* One online diag request, its stdout into out. */
static int
ampctl_diag_online(struct ampctl *c, bool json, struct strbuf *out)
{
	char *argv[4];
	int argc = 0;
	int fd;

	argv[argc++] = ampctl_unconst("diag");
	if (json)
		argv[argc++] = ampctl_unconst("--json");
	if (c->fwd[0] != NULL && c->nfwd > 1) {
		int i;

		for (i = 1; i + 1 < c->nfwd; i++)
			if (strcmp(c->fwd[i], "--since") == 0) {
				argv[argc++] = c->fwd[i];
				argv[argc++] = c->fwd[i + 1];
				break;
			}
	}
	if ((fd = ampctl_connect(c->socket_path, false)) < 0)
		return CTL_STATUS_ERROR;
	return ampctl_send(c, fd, argc, argv, out);
}

static int
ampctl_diag(struct ampctl *c)
{
	struct ampctl_diag dg;
	struct strbuf txt, json;
	bool online = false;
	int fd, rc, rc2;

	memset(&dg, 0, sizeof(dg));
	ampctl_diag_opts(c, &dg);
	strbuf_init(&txt, DIAG_OUT_MAX + 1024);
	strbuf_init(&json, DIAG_OUT_MAX + 1024);
	if (dg.state_arg == NULL && ampctl_socket_find(c) == 0) {
		if ((fd = ampctl_connect(c->socket_path, true)) >= 0) {
			online = true;
			fprintf(stderr, "ampctl: diag: online, through %s\n", c->socket_path);
			if (dg.bundle == NULL) {
				rc = ampctl_send(c, fd, c->nfwd, c->fwd, NULL);
				goto out;
			}
			close(fd);
		} else {
			fprintf(stderr, "ampctl: diag: ampdaemon cannot be reached at %s (%s); diagnosing offline from the files\n",
			    c->socket_path, strerror(errno));
		}
	}
	if (!online || dg.bundle != NULL) {
		if ((rc = ampctl_diag_sources(c, &dg)) != 0)
			goto out;
	}
	if (!online)
		fprintf(stderr, "ampctl: diag: offline, from %s (logs: %s)\n", dg.state,
		    dg.have_log ? dg.log : "not available");
	if (online) {
		rc = ampctl_diag_online(c, false, &txt);
		rc2 = ampctl_diag_online(c, true, &json);
	} else {
		rc = ampctl_diag_offline(&dg, false, &txt);
		rc2 = ampctl_diag_offline(&dg, true, &json);
	}
	if (dg.json)
		rc = rc2;
	if (dg.json ? json.len : txt.len)
		ctl_write_all(STDOUT_FILENO, dg.json ? json.buf : txt.buf,
		    dg.json ? json.len : txt.len);
	if (dg.bundle != NULL && (txt.len == 0 || json.len == 0))
		rc = ampctl_error("diag --bundle: no diagnosis to bundle");
	else if (dg.bundle != NULL && ampctl_bundle_write(&dg, dg.state,
	    dg.have_log ? dg.log : NULL, dg.have_defs ? dg.defs : NULL, &txt,
	    &json) != 0)
		rc = CTL_STATUS_ERROR;
out:
	strbuf_free(&txt);
	strbuf_free(&json);
	config_free(&dg.cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct ampctl c = { .config_path = CONFIG_DEFAULT_PATH };
	int i, rc;

	signal(SIGPIPE, SIG_IGN);
	config_defaults(&c.cfg);
	if ((i = ampctl_global_parse(&c, argc, argv)) <= 0) {
		rc = -i;
		goto out;
	}
	if ((rc = ampctl_command_parse(&c, argc - i, argv + i)) != 0)
		goto out;
	if (strcmp(c.cmd->name, "diag") == 0) {
		rc = ampctl_diag(&c);
		goto out;
	}
	if ((rc = ampctl_socket_find(&c)) != 0)
		goto out;
	rc = ampctl_run(&c);
out:
	for (i = 0; i < c.nfwd; i++)
		if (c.fwd_owned[i])
			free(c.fwd[i]);
	config_free(&c.cfg);
	return rc;
}
