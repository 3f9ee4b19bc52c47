#ifndef VIGIL_SPAWN_H
#define VIGIL_SPAWN_H
#include <sys/types.h>

/* Starts argv[0] (looked up on the PATH of envp's caller, like execvp) as a child that
   - leads its own process group (setpgid(0, 0)), so the driver can signal the replica and everything it forked;
   - gets SIGKILL when the thread that spawned it dies (PR_SET_PDEATHSIG), so no replica outlives a crashed vigil;
   - has default signal dispositions and an empty signal mask (the Swift runtime ignores SIGPIPE: that would leak);
   - reads /dev/null, writes stdout/stderr to out_fd/err_fd (-1: /dev/null, -2: inherit), runs in cwd (NULL: ours).
   Only async-signal-safe calls run between fork and exec. Returns the pid, or -errno when fork or exec failed
   (an exec failure is reported back through a close-on-exec pipe, so ENOENT is an error here, not an exit 127). */
pid_t vigil_spawn(const char *file, char *const argv[], char *const envp[], const char *cwd, int out_fd, int err_fd);

/* pidfd_open(2): a descriptor that polls readable when the process exits (Linux >= 5.3). -errno on failure. */
int vigil_pidfd_open(pid_t pid);
/* pipe2(fds, O_CLOEXEC | O_NONBLOCK): Swift's Glibc module does not export pipe2. */
int vigil_pipe_nonblocking(int fds[2]);
#endif
