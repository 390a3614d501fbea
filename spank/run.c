/* Start a program safely and wait for it with a deadline; see run.h. */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_FAIL_MSG "krb5bridge: cannot execute "

void kb_argv_init(struct kb_argv *a)
{
    memset(a, 0, sizeof(*a));
}

static int argv_push(struct kb_argv *a, char *s)
{
    if (a->overflow || a->n >= KB_ARGV_MAX) {
        a->overflow = 1;
        return -1;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
    return 0;
}

int kb_argv_add(struct kb_argv *a, const char *s)
{
    return argv_push(a, (char *)s);
}

int kb_argv_addf(struct kb_argv *a, const char *fmt, ...)
{
    size_t room = sizeof(a->buf) - a->used;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(a->buf + a->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) { /* a partial copy past `used` is never referenced */
        a->overflow = 1;
        return -1;
    }
    if (argv_push(a, a->buf + a->used) != 0)
        return -1;
    a->used += (size_t)n + 1;
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * The kernel's struct for rt_sigaction(2). glibc's sigaction() refuses the two signals it keeps
 * for itself (32 and 33, below SIGRTMIN), yet an ignored disposition of those survives execve like
 * any other: seen in a CI run whose ancestors ignored signal 32. The raw call resets them too.
 */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

static void default_signal(int sig)
{
    struct kernel_sigaction ksa;

    memset(&ksa, 0, sizeof(ksa));
    ksa.handler = SIG_DFL;
    syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

/* Only async-signal-safe calls from here to execve: slurmstepd is multi-threaded. */
static void child(const char *path, char *const argv[], char *const envp[], int devnull, int outw,
                  int errw, int maxfd)
{
    struct sigaction dfl;
    sigset_t none;
    char num[16];
    int e, i = (int)sizeof(num);

    setpgid(0, 0);
    if (chdir("/") != 0)
        _exit(127);
    /* slurmstepd blocks and ignores signals; execve would pass both on. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &dfl, NULL) != 0)
            default_signal(sig);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (dup2(devnull, 0) < 0 || dup2(outw, 1) < 0 || dup2(errw, 2) < 0)
        _exit(127);
    /* dup2 onto itself keeps O_CLOEXEC: clear it explicitly. */
    for (int fd = 0; fd <= 2; fd++)
        fcntl(fd, F_SETFD, 0);
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
        for (int fd = 3; fd < maxfd; fd++)
            close(fd);

    execve(path, argv, envp);
    e = errno;
    num[--i] = '\n';
    do {
        num[--i] = (char)('0' + e % 10);
        e /= 10;
    } while (e > 0 && i > 0);
    if (write(2, EXEC_FAIL_MSG, sizeof(EXEC_FAIL_MSG) - 1) < 0
        || write(2, path, strlen(path)) < 0 || write(2, " (errno ", 8) < 0
        || write(2, num + i, sizeof(num) - (size_t)i - 1) < 0 || write(2, ")\n", 2) < 0)
        _exit(127);
    _exit(127);
}

/* Append what one read gives to buf (kept up to KB_RUN_OUT_MAX); 0 at EOF or error. */
static int drain(int fd, char *buf, size_t *len, int *trunc)
{
    char tmp[8192];
    ssize_t n = read(fd, tmp, sizeof(tmp));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0;
    size_t room = KB_RUN_OUT_MAX - *len, take = (size_t)n < room ? (size_t)n : room;
    memcpy(buf + *len, tmp, take);
    *len += take;
    buf[*len] = '\0';
    if (take < (size_t)n)
        *trunc = 1;
    return 1;
}

/* Has pid exited? Checked without reaping, so its process group id stays reserved. */
static int exited(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD ? 1 : 0;
    return si.si_pid == pid;
}

static void reap(pid_t pid, struct kb_run_result *res)
{
    int st = 0;
    pid_t r;

    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (r != pid) {
        res->status = -1; /* someone else reaped it (ECHILD) */
        return;
    }
    if (WIFEXITED(st))
        res->status = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        res->signal = WTERMSIG(st);
}

static void kill_group(pid_t pid, int sig)
{
    if (kill(-pid, sig) != 0)
        kill(pid, sig); /* setpgid may not have happened yet */
}

int kb_run(const char *path, char *const argv[], char *const envp[], int timeout_ms,
           struct kb_run_result *res)
{
    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, devnull = -1, pidfd = -1, maxfd = 1024, rc = -1;
    struct sigaction old_chld, dfl_chld;
    int restore_chld = 0, leader_done = 0;
    struct rlimit rl;
    long long deadline;
    pid_t pid;

    memset(res, 0, sizeof(*res));
    res->status = -1;
    if (path == NULL || path[0] != '/') {
        snprintf(res->err, sizeof(res->err), "krb5bridge: refusing to run a relative path: %s", path ? path : "(null)");
        res->err_len = strlen(res->err);
        errno = EINVAL;
        return -1;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        maxfd = rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0
        || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        snprintf(res->err, sizeof(res->err), "krb5bridge: cannot set up pipes: %s", strerror(errno));
        goto cleanup;
    }
    /* With SIGCHLD ignored the kernel reaps children itself and waitpid could not see the status. */
    if (sigaction(SIGCHLD, NULL, &old_chld) == 0
        && (old_chld.sa_handler == SIG_IGN || (old_chld.sa_flags & SA_NOCLDWAIT))) {
        memset(&dfl_chld, 0, sizeof(dfl_chld));
        dfl_chld.sa_handler = SIG_DFL;
        restore_chld = sigaction(SIGCHLD, &dfl_chld, NULL) == 0;
    }

    deadline = now_ms() + timeout_ms;
    if ((pid = fork()) < 0) {
        snprintf(res->err, sizeof(res->err), "krb5bridge: fork failed: %s", strerror(errno));
        goto cleanup;
    }
    if (pid == 0)
        child(path, argv, envp, devnull, outp[1], errp[1], maxfd);
    setpgid(pid, pid); /* also in the parent: no window in which a kill(-pid) misses */
    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    while (outp[0] >= 0 || errp[0] >= 0 || !leader_done) {
        struct pollfd pfd[3];
        int nfds = 0, left = (int)(deadline - now_ms()), i_out = -1, i_err = -1, i_pid = -1;

        if (!leader_done && exited(pid)) {
            leader_done = 1;
            kill(-pid, SIGKILL); /* stragglers would hold the pipes open */
            continue;
        }
        if (left <= 0)
            break;
        if (outp[0] >= 0) { pfd[nfds] = (struct pollfd){ outp[0], POLLIN, 0 }; i_out = nfds++; }
        if (errp[0] >= 0) { pfd[nfds] = (struct pollfd){ errp[0], POLLIN, 0 }; i_err = nfds++; }
        if (!leader_done && pidfd >= 0) { pfd[nfds] = (struct pollfd){ pidfd, POLLIN, 0 }; i_pid = nfds++; }
        /* Without a pidfd, look at the child every 10 ms. */
        if (poll(pfd, (nfds_t)nfds, (!leader_done && pidfd < 0 && left > 10) ? 10 : left) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (i_out >= 0 && pfd[i_out].revents && !drain(outp[0], res->out, &res->out_len, &res->out_truncated)) {
            close(outp[0]);
            outp[0] = -1;
        }
        if (i_err >= 0 && pfd[i_err].revents && !drain(errp[0], res->err, &res->err_len, &res->err_truncated)) {
            close(errp[0]);
            errp[0] = -1;
        }
        (void)i_pid; /* a readable pidfd just wakes the loop; exited() decides */
    }

    if (!leader_done) {
        res->timed_out = 1;
        kill_group(pid, SIGTERM);
        for (int waited = 0; waited < KB_RUN_KILL_GRACE_MS && !exited(pid); waited += 5)
            sleep_ms(5);
        kill_group(pid, SIGKILL);
    }
    reap(pid, res);
    res->exec_failed = res->status == 127 && strncmp(res->err, EXEC_FAIL_MSG, sizeof(EXEC_FAIL_MSG) - 1) == 0;
    rc = 0;

cleanup:
    if (restore_chld)
        sigaction(SIGCHLD, &old_chld, NULL);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (devnull >= 0)
        close(devnull);
    if (pidfd >= 0)
        close(pidfd);
    if (rc != 0)
        res->err_len = strlen(res->err);
    return rc;
}
