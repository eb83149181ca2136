/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A process's Rss, Pss and private memory from /proc/self/smaps_rollup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "num.h"
#include "procmem.h"

/* "Name:   1234 kB": the value in bytes, or -1. */
static int
procmem_value(const char *line, size_t len, size_t namelen, uint64_t *out)
{
	size_t i = namelen, used = 0;
	uint64_t kb;

	while (i < len && line[i] == ' ')
		i++;
	if (num_prefix_u64(line + i, len - i, &used, &kb) != NUM_OK)
		return -1;
	i += used;
	if (len - i != 3 || memcmp(line + i, " kB", 3) != 0 ||
	    kb > UINT64_MAX / 1024)
		return -1;
	*out = kb * 1024;
	return 0;
}

int
procmem_parse(const char *text, size_t len, struct procmem *m)
{
	static const char *const names[] = { "Rss:", "Pss:", "Private_Clean:",
	    "Private_Dirty:" };
	uint64_t v[4] = { 0 };
	unsigned seen = 0;
	size_t off = 0;

	while (off < len) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - off;

		off += n + (nl != NULL);
		for (unsigned k = 0; k < 4; k++) {
			size_t nn = strlen(names[k]);

			if (n < nn || memcmp(line, names[k], nn) != 0)
				continue;
			if ((seen & (1u << k)) || procmem_value(line, n, nn, &v[k]) != 0)
				return -1;
			seen |= 1u << k;
		}
	}
	if (seen != 0xfu || v[2] > UINT64_MAX - v[3])
		return -1;
	m->rss = v[0];
	m->pss = v[1];
	m->priv = v[2] + v[3];
	return 0;
}

int
procmem_open(void)
{
	return open(PROCMEM_PATH, O_RDONLY | O_CLOEXEC);
}

int
procmem_read(int fd, struct procmem *m)
{
	char buf[PROCMEM_READ_MAX];
	ssize_t n;

	if (fd < 0)
		return -EBADF;
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == sizeof(buf))
		return -EPROTO;   /* longer than it ever is: not the file we know */
	return procmem_parse(buf, (size_t)n, m) == 0 ? 0 : -EPROTO;
}

/* MemAvailable in bytes; -1 unknown.  Test builds: a file may fake it. */
int64_t
procmem_available(void)
{
	char line[256];
	int64_t v = -1;
	FILE *f;

#ifdef AMPSCAN_TEST_HOOKS
	const char *fake = getenv("AMPSCAN_TEST_MEMAVAILABLE_FILE");

	if (fake != NULL && (f = fopen(fake, "re")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			v = (int64_t)strtoll(line, NULL, 10) * 1024;
		fclose(f);
		return v;
	}
#endif
	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "MemAvailable:", 13) == 0) {
			v = (int64_t)strtoll(line + 13, NULL, 10) * 1024;
			break;
		}
	fclose(f);
	return v;
}
