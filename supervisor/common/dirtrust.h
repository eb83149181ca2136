/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Directories root trusts: the sockets' directory, StateDir, LogDir and
 * DefinitionsDir (with its subdirectories) hold what only root may
 * replace.  Such a directory must be owned by root (or, when the program
 * does not run as root, by its effective uid) and must not be writable by
 * its group or by others: anyone who may write into it may rename, remove
 * or replace the sockets, state files and definitions inside.
 */
#ifndef AMPSCAN_DIRTRUST_H
#define AMPSCAN_DIRTRUST_H

#include <stddef.h>

/*
 * Whether the directory open as fd (named path in messages) is trusted.
 * Returns 0, or -1 with err saying why and what to do ("/run/x: owned by
 * uid 1000, not root: refused (chown root /run/x)"), errno kept for a
 * failed fstat.
 */
int dir_trusted_fd(int fd, const char *path, char *err, size_t errlen);

/* The same for path, opened O_DIRECTORY | O_NOFOLLOW (a symbolic link as
 * the last component is refused). */
int dir_trusted(const char *path, char *err, size_t errlen);

#endif
