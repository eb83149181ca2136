/* no_new_privs + a seccomp-BPF deny list for the scan worker. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#else
#error "sandbox: add this architecture's AUDIT_ARCH"
#endif

/* Syscalls that fail with EPERM after READY. */
static const int sandbox_denied[] = {
#ifdef __NR_open
	__NR_open,
#endif
#ifdef __NR_creat
	__NR_creat,
#endif
	__NR_openat,
#ifdef __NR_openat2
	__NR_openat2,
#endif
	__NR_open_by_handle_at, __NR_name_to_handle_at,
	__NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen,
	__NR_accept, __NR_accept4,
	__NR_execve, __NR_execveat,
#ifdef __NR_fork
	__NR_fork,
#endif
#ifdef __NR_vfork
	__NR_vfork,
#endif
	__NR_clone,
#ifdef __NR_clone3
	__NR_clone3,
#endif
	__NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev,
#ifdef __NR_pidfd_open
	__NR_pidfd_open,
#endif
#ifdef __NR_pidfd_getfd
	__NR_pidfd_getfd,
#endif
#ifdef __NR_unlink
	__NR_unlink, __NR_rmdir, __NR_mkdir, __NR_rename, __NR_link,
	__NR_symlink, __NR_chmod, __NR_chown, __NR_lchown, __NR_mknod,
#endif
	__NR_unlinkat, __NR_mkdirat, __NR_renameat, __NR_linkat,
	__NR_symlinkat, __NR_fchmodat, __NR_fchownat, __NR_mknodat,
#ifdef __NR_renameat2
	__NR_renameat2,
#endif
	__NR_truncate, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot,
	__NR_bpf, __NR_userfaultfd, __NR_perf_event_open, __NR_keyctl,
	__NR_add_key, __NR_request_key, __NR_init_module, __NR_finit_module,
	__NR_delete_module, __NR_kexec_load, __NR_io_uring_setup,
	__NR_setns, __NR_unshare,
#ifdef __NR_fsopen
	__NR_fsopen, __NR_fsmount, __NR_open_tree, __NR_move_mount,
#endif
	__NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid,
	__NR_setresuid, __NR_setresgid, __NR_setgroups,
};

#define SANDBOX_NDENIED (sizeof(sandbox_denied) / sizeof(sandbox_denied[0]))
/* arch (4), x32 (2), two per denied call, kill/tgkill (8), allow (1) */
#define SANDBOX_MAXINS (16 + 2 * SANDBOX_NDENIED)

int
sandbox_check_identity(bool allow_root, char *err, size_t errlen)
{
	if ((getuid() == 0 || geteuid() == 0) && !allow_root) {
		snprintf(err, errlen,
		    "running as root (uid %u, euid %u): the worker runs as the scan user; ampdaemon passes --allow-root only in its degraded mode (fault 5)",
		    (unsigned)getuid(), (unsigned)geteuid());
		return -1;
	}
	return 0;
}

static void
sandbox_ins(struct sock_filter *f, size_t *n, struct sock_filter ins)
{
	f[(*n)++] = ins;
}

/* Signals only to ourselves: kill(pid) and tgkill(tgid) must name us. */
static void
sandbox_self_only(struct sock_filter *f, size_t *n, int nr, pid_t self)
{
	sandbox_ins(f, n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    (unsigned)nr, 0, 3));
	sandbox_ins(f, n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, args[0])));
	sandbox_ins(f, n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    (unsigned)self, 1, 0));
	sandbox_ins(f, n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ERRNO | EPERM));
}

int
sandbox_enter(char *err, size_t errlen)
{
	struct sock_filter f[SANDBOX_MAXINS];
	struct sock_fprog prog;
	pid_t self = getpid();
	size_t n = 0;

	sandbox_ins(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch)));
	sandbox_ins(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    SANDBOX_ARCH, 1, 0));
	sandbox_ins(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_KILL_PROCESS));
	sandbox_ins(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
	/* the x32 ABI reaches the same kernel with other numbers: refuse it */
	sandbox_ins(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
	    0x40000000u, 0, 1));
	sandbox_ins(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_KILL_PROCESS));
#endif
	for (size_t i = 0; i < SANDBOX_NDENIED; i++) {
		sandbox_ins(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned)sandbox_denied[i], 0, 1));
		sandbox_ins(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ERRNO | EPERM));
	}
	sandbox_self_only(f, &n, __NR_kill, self);
	sandbox_self_only(f, &n, __NR_tgkill, self);
	sandbox_ins(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW));
	prog.len = (unsigned short)n;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(errno));
		return -1;
	}
	return 0;
}
