#define _GNU_SOURCE
#include "vigil_spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

pid_t vigil_spawn(const char *file, char *const argv[], char *const envp[], const char *cwd, int out_fd, int err_fd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        return -e;
    }
    if (pid == 0) {
        int e = 0;
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int s = 1; s < NSIG; s++) {
            if (s == SIGKILL || s == SIGSTOP) continue;
            signal(s, SIG_DFL);
        }
        if (setpgid(0, 0) != 0) { e = errno; goto fail; }
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) { e = errno; goto fail; }
        if (getppid() != parent) _exit(127); /* the parent already died */
        int null = open("/dev/null", O_RDWR);
        if (null < 0) { e = errno; goto fail; }
        dup2(null, 0);
        dup2(out_fd == -2 ? 1 : (out_fd >= 0 ? out_fd : null), 1);
        dup2(err_fd == -2 ? 2 : (err_fd >= 0 ? err_fd : null), 2);
        if (null > 2) close(null);
        /* every other descriptor of vigil (sockets, the WAL, libvirt's) is closed at exec */
        syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
        if (cwd && chdir(cwd) != 0) { e = errno; goto fail; }
        execvpe(file, argv, envp);
        e = errno;
    fail:
        (void)!write(report[1], &e, sizeof e);
        _exit(127);
    }
    close(report[1]);
    int childErr = 0;
    ssize_t n;
    do { n = read(report[0], &childErr, sizeof childErr); } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof childErr) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return -(childErr ? childErr : ECHILD);
    }
    return pid;
}

int vigil_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int vigil_pipe_nonblocking(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0 ? 0 : -errno; }
