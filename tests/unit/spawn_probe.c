/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in worker for test_spawn: started by spawn_worker(), it reports
 * what it was given, one "key value" line each, on fd 3.
 *
 *   spawn_probe report      ids, groups, open fds, rlimits, the status
 *                           lines of /proc/self/status that matter, the
 *                           session, the parent, the environment; exit 0
 *   spawn_probe say TEXT    "out:TEXT" on stdout, "err:TEXT" on stderr
 *   spawn_probe hold        its pid on fd 3, then sleeps until killed
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_FD 3

static void
report_ids(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	dprintf(OUT_FD, "uid %u %u %u\ngid %u %u %u\ngroups %d\n",
	    (unsigned)r, (unsigned)e, (unsigned)s, (unsigned)rg, (unsigned)eg,
	    (unsigned)sg, getgroups(0, NULL));
	dprintf(OUT_FD, "pid %d\nppid %d\nsid %d\npgid %d\n", (int)getpid(),
	    (int)getppid(), (int)getsid(0), (int)getpgid(0));
	dprintf(OUT_FD, "securebits %#x\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
}

static void
report_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char line[1024] = "fds";
	size_t n = 3;

	if (d == NULL) {
		dprintf(OUT_FD, "fds ? %s\n", strerror(errno));
		return;
	}
	/* readdir order is numeric for /proc/self/fd */
	while ((de = readdir(d)) != NULL) {
		int fd;
		char *end;

		if (de->d_name[0] == '.')
			continue;
		fd = (int)strtol(de->d_name, &end, 10);
		if (fd == dirfd(d))
			continue;
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %d", fd);
		if (n >= sizeof(line))
			break;
	}
	closedir(d);
	dprintf(OUT_FD, "%s\n", line);
	for (int fd = 0; fd <= 4; fd++) {
		struct stat st;
		char path[64], target[256];
		ssize_t len;

		if (fstat(fd, &st) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		target[len > 0 ? len : 0] = '\0';
		dprintf(OUT_FD, "fd%d %llu %s\n", fd, (unsigned long long)st.st_ino,
		    target);
	}
}

static void
report_limits(void)
{
	static const struct { int res; const char *name; } lims[] = {
		{ RLIMIT_CORE, "core" }, { RLIMIT_NOFILE, "nofile" },
		{ RLIMIT_AS, "as" }, { RLIMIT_CPU, "cpu" },
	};

	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		struct rlimit rl;

		getrlimit(lims[i].res, &rl);
		dprintf(OUT_FD, "rlimit_%s %llu %llu\n", lims[i].name,
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
	}
}

static void
report_status(void)
{
	static const char *const keys[] = { "NoNewPrivs:", "CapInh:",
		"CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "SigBlk:",
		"SigIgn:" };
	FILE *f = fopen("/proc/self/status", "r");
	char line[512];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strncmp(line, keys[i], strlen(keys[i])) == 0) {
				char *v = line + strlen(keys[i]);

				v += strspn(v, " \t");
				dprintf(OUT_FD, "%.*s %s", (int)strlen(keys[i]) - 1,
				    keys[i], v);
			}
	fclose(f);
}

int
main(int argc, char **argv)
{
	extern char **environ;

	if (argc >= 3 && strcmp(argv[1], "say") == 0) {
		printf("out:%s\n", argv[2]);
		fflush(stdout);
		fprintf(stderr, "err:%s\n", argv[2]);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "hold") == 0) {
		dprintf(OUT_FD, "%d\n", (int)getpid());
		for (;;)
			pause();
	}
	report_fds();             /* first: before anything opens more */
	report_ids();
	report_limits();
	report_status();
	for (char **e = environ; *e != NULL; e++)
		dprintf(OUT_FD, "env %s\n", *e);
	dprintf(OUT_FD, "end\n");
	return 0;
}
