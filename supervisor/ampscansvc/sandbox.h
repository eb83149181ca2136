/*
 * The worker's sandbox, applied in the worker itself once its definitions
 * are loaded and before its first scan (the supervisor has already dropped
 * its uid/gid, groups and capabilities and set rlimits before exec).
 */
#ifndef AMPSCAN_SANDBOX_H
#define AMPSCAN_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* Refuse to run as root (real or effective) unless allowed; 0 or -1 + err. */
int sandbox_check_identity(bool allow_root, char *err, size_t errlen);

/*
 * PR_SET_NO_NEW_PRIVS, then a seccomp filter: opening files by path,
 * creating sockets, exec, fork/clone, ptrace, signalling other processes,
 * changing the filesystem and a list of kernel attack surface (bpf,
 * io_uring, userfaultfd, keyctl, mount, ...) fail with EPERM; syscalls of a
 * foreign ABI kill the process.  Returns 0 or -1 with the reason in err.
 */
int sandbox_enter(char *err, size_t errlen);

#endif
