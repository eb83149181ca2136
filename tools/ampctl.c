/*
 * ampctl: the running service, through ampdaemon's control socket.
 *
 * The client checks only what it must (the command, its option spelling,
 * --lang, the number of paths), sends the command line as one request
 * (supervisor/ctlproto.h), copies the daemon's output to stdout and
 * stderr as it arrives, and exits with the status the daemon sends.
 * What it sends: the command, then its options with their values as
 * separate strings (--lang=en becomes "--lang", "en"; -n5 "-n", "5"), and
 * the paths of scan and update made absolute from our working directory
 * (not resolved: ampdaemon opens them itself, as root).
 *
 * Exit status: 0 ok, 1 findings or active faults, 2 errors.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "ctlproto.h"
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
"  update FILE.cvd             verify a definitions container, trial-load it, activate it\n"
"  reload                      reread the configuration and the active definitions\n"
"  repair-account              recreate the scan user and group, restart the workers\n"
"  diag [--json]               crash-loop diagnosis: crashes, signals, suspected files, log lines\n"
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
static const struct ampctl_opt ampctl_opts_none[] = {
	{ NULL, false },
};

static const struct ampctl_command ampctl_commands[] = {
	{ "status", ampctl_opts_json, 0, 0, false },
	{ "faults", ampctl_opts_faults, 0, 0, false },
	{ "events", ampctl_opts_events, 0, 0, false },
	{ "scan", ampctl_opts_scan, 1, CTL_ARGV_MAX, true },
	{ "update", ampctl_opts_none, 1, 1, true },
	{ "reload", ampctl_opts_none, 0, 0, false },
	{ "repair-account", ampctl_opts_none, 0, 0, false },
	{ "diag", ampctl_opts_json, 0, 0, false },
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

/* A connected socket, or -1 after a message naming the socket. */
static int
ampctl_connect(const char *path)
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
	if (saved == EACCES || saved == EPERM)
		ampctl_error("cannot connect to ampdaemon at %s: %s (the control socket is root-only: run ampctl as root)",
		    path, strerror(saved));
	else
		ampctl_error("cannot connect to ampdaemon at %s: %s (is ampdaemon running?)",
		    path, strerror(saved));
	return -1;
}

/* Copy the daemon's output until its exit status; returns the status. */
static int
ampctl_relay(const char *path, int fd)
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

/* Send the request and relay the reply; returns the exit status. */
static int
ampctl_run(struct ampctl *c)
{
	struct strbuf req;
	int fd = -1, rc;

	strbuf_init(&req, CTL_HDR + CTL_FRAME_MAX);
	if ((rc = ctl_request_encode(&req, c->nfwd, c->fwd)) != 0) {
		rc = ampctl_error("%s: cannot send the command: %s (at most %d arguments, %d bytes)",
		    c->fwd[0], ctl_strerror(rc), CTL_ARGV_MAX, CTL_FRAME_MAX);
		goto out;
	}
	if ((fd = ampctl_connect(c->socket_path)) < 0) {
		rc = CTL_STATUS_ERROR;
		goto out;
	}
	if (ctl_write_all(fd, req.buf, req.len) != 0) {
		rc = ampctl_error("%s: cannot send the command: %s",
		    c->socket_path, strerror(errno));
		goto out;
	}
	rc = ampctl_relay(c->socket_path, fd);
out:
	if (fd >= 0)
		close(fd);
	strbuf_free(&req);
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
