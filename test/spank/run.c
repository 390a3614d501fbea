/*
 * Tests of spank/run.c. The test program is also the child: run with "--child WHAT" it shows
 * what a started program sees (descriptors, environment, signals, cwd) or misbehaves on purpose.
 */
#define _GNU_SOURCE
#include "run.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char self[4096];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Print the open descriptors (but the one opendir uses). */
static int child_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int me = dirfd(d);

    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != me)
            printf("%s ", e->d_name);
    printf("\n");
    return 0;
}

/* The lines of /proc/self/status for blocked and ignored signals. */
static int child_signals(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0)
            fputs(line, stdout);
    return 0;
}

static int child(const char *what, char **rest)
{
    if (strcmp(what, "fds") == 0)
        return child_fds();
    if (strcmp(what, "env") == 0) {
        for (char **e = environ; *e; e++)
            printf("%s\n", *e);
        return 0;
    }
    if (strcmp(what, "argv") == 0) {
        for (; *rest; rest++)
            printf("[%s]", *rest);
        return 0;
    }
    if (strcmp(what, "stdin") == 0) {
        char c;
        printf("read=%zd\n", read(0, &c, 1));
        return 0;
    }
    if (strcmp(what, "cwd") == 0) {
        char buf[256];
        printf("%s\n", getcwd(buf, sizeof(buf)));
        return 0;
    }
    if (strcmp(what, "signals") == 0)
        return child_signals();
    if (strcmp(what, "exit") == 0) {
        fprintf(stderr, "krb5bridge: E_NOT_FOUND: nothing stored: uid 1\n");
        return atoi(rest[0]);
    }
    if (strcmp(what, "kill") == 0)
        raise(SIGKILL);
    if (strcmp(what, "spew") == 0) {
        static char buf[65536];
        memset(buf, 'x', sizeof(buf));
        for (int i = 0; i < 4; i++)
            if (write(1, buf, sizeof(buf)) < 0 || write(2, buf, sizeof(buf)) < 0)
                return 3;
        return 0;
    }
    if (strcmp(what, "hang") == 0) {
        /* A grandchild that ignores SIGTERM, and a child that ignores it too: needs SIGKILL. */
        pid_t g = fork();
        signal(SIGTERM, SIG_IGN);
        if (g == 0) {
            for (;;)
                pause();
        }
        printf("%d\n", (int)g);
        fflush(stdout);
        for (;;)
            pause();
    }
    if (strcmp(what, "daemon") == 0) {
        /* Exits at once but leaves a grandchild holding the pipes. */
        if (fork() == 0) {
            sleep(30);
            _exit(0);
        }
        printf("parent done\n");
        return 0;
    }
    return 99;
}

/* The argv builder: bounded, NULL-terminated, and an overflow is sticky and refused. */
static void argv_tests(void)
{
    static struct kb_argv a;
    char big[KB_ARGV_BUF];
    int i, refused = 0;

    kb_argv_init(&a);
    ok(a.n == 0 && a.v[0] == NULL && !a.overflow, "a new vector is empty and NULL-terminated");
    ok(kb_argv_add(&a, "/usr/bin/node") == 0 && kb_argv_addf(&a, "--uid=%lu", 4343UL) == 0 && a.n == 2
       && a.v[2] == NULL, "add and addf append and keep the NULL at the end");
    is_str(a.v[1], "--uid=4343", "addf keeps its own formatted copy");
    for (i = 2; i < KB_ARGV_MAX; i++)
        refused |= kb_argv_add(&a, "x") != 0;
    ok(!refused && a.n == KB_ARGV_MAX && a.v[KB_ARGV_MAX] == NULL && !a.overflow,
       "exactly KB_ARGV_MAX (%d) entries fit, still NULL-terminated", KB_ARGV_MAX);
    ok(kb_argv_add(&a, "one too many") == -1 && a.overflow && a.n == KB_ARGV_MAX && a.v[KB_ARGV_MAX] == NULL,
       "one more is refused, marks the overflow and writes nothing past the end");
    ok(kb_argv_addf(&a, "%d", 1) == -1 && a.n == KB_ARGV_MAX, "addf on a full vector is refused too");

    kb_argv_init(&a);
    memset(big, 'a', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\0'; /* KB_ARGV_BUF - 2 characters + NUL: fits the buffer exactly once */
    ok(kb_argv_addf(&a, "%s", big) == 0 && a.used == KB_ARGV_BUF - 1, "addf may fill the string buffer");
    ok(kb_argv_addf(&a, "%s", "ab") == -1 && a.overflow && a.n == 1 && a.v[1] == NULL,
       "a formatted string that does not fit is refused and marks the overflow");
    ok(kb_argv_add(&a, "x") == -1 && a.n == 1, "after an overflow every add is refused (the vector stays as it was)");
}

static int run(char **argv, char **envp, int timeout_ms, struct kb_run_result *res)
{
    return kb_run(self, argv, envp, timeout_ms, res);
}

/* Is pid gone or a zombie? */
static int gone(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    int z = 1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "State:", 6) == 0)
            z = strchr(line, 'Z') != NULL || strchr(line, 'X') != NULL;
    fclose(f);
    return z;
}

int main(int argc, char **argv)
{
    static struct kb_run_result res;
    char *envp[] = { "PATH=/usr/bin:/bin", "KRB5CCNAME=FILE:/tmp/x", NULL };
    long long t0;
    int keep;

    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return child(argv[2], argv + 3);
    if (readlink("/proc/self/exe", self, sizeof(self) - 1) < 0)
        return 2;

    argv_tests();

    {
        char *a[] = { "run.t", NULL };
        errno = 0;
        ok(kb_run("run.t", a, envp, 1000, &res) == -1 && errno == EINVAL, "a relative path is refused");
        ok(strstr(res.err, "relative path") != NULL, "and the reason is said: %s", res.err);
    }
    {
        char *a[] = { "/nonexistent/node", NULL };
        ok(kb_run("/nonexistent/node", a, envp, 1000, &res) == 0 && res.status == 127 && res.exec_failed,
           "a missing program gives status 127 and exec_failed");
        ok(strstr(res.err, "cannot execute /nonexistent/node (errno 2)") != NULL, "exec error reported: %s", res.err);
    }
    {
        char *a[] = { self, "--child", "env", NULL };
        setenv("NODE_OPTIONS", "--require /tmp/evil.js", 1);
        setenv("LD_PRELOAD", "/tmp/evil.so", 1);
        ok(run(a, envp, 5000, &res) == 0 && res.status == 0, "child ran");
        is_str(res.out, "PATH=/usr/bin:/bin\nKRB5CCNAME=FILE:/tmp/x\n", "the environment is exactly envp");
    }
    {
        char *a[] = { self, "--child", "argv", "a b", "", "$(x)", NULL };
        ok(run(a, envp, 5000, &res) == 0, "child with awkward arguments ran");
        is_str(res.out, "[a b][][$(x)]", "arguments reach the program unchanged (no shell)");
    }
    {
        char *a[] = { self, "--child", "fds", NULL };
        keep = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: must still not leak */
        dup2(keep, 40);
        ok(run(a, envp, 5000, &res) == 0, "child ran");
        is_str(res.out, "0 1 2 \n", "only descriptors 0, 1, 2 are open in the child");
        close(40);
        close(keep);
    }
    {
        char *a[] = { self, "--child", "stdin", NULL };
        ok(run(a, envp, 5000, &res) == 0, "child ran");
        is_str(res.out, "read=0\n", "stdin is /dev/null");
    }
    {
        char *a[] = { self, "--child", "cwd", NULL };
        ok(run(a, envp, 5000, &res) == 0, "child ran");
        is_str(res.out, "/\n", "the child runs in /");
    }
    {
        char *a[] = { self, "--child", "signals", NULL };
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        struct { void (*h)(int); unsigned long flags; void (*restorer)(void); unsigned long mask; } ign32 = { SIG_IGN, 0, 0, 0 };
        sigprocmask(SIG_BLOCK, &set, NULL);
        signal(SIGHUP, SIG_IGN);
        /* glibc's sigaction() cannot set signal 32, but an ancestor may have: see spank/run.c */
        syscall(SYS_rt_sigaction, 32, &ign32, NULL, sizeof(ign32.mask));
        ok(run(a, envp, 5000, &res) == 0, "child ran");
        is_str(res.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
               "blocked and ignored signals of the caller are reset (glibc-reserved 32 too)");
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        signal(SIGHUP, SIG_DFL);
        ign32.h = SIG_DFL;
        syscall(SYS_rt_sigaction, 32, &ign32, NULL, sizeof(ign32.mask));
    }
    {
        char *a[] = { self, "--child", "exit", "33", NULL };
        ok(run(a, envp, 5000, &res) == 0 && res.status == 33 && !res.timed_out && res.signal == 0,
           "exit status 33 is reported");
        is_str(res.err, "krb5bridge: E_NOT_FOUND: nothing stored: uid 1\n", "stderr is captured");
    }
    {
        char *a[] = { self, "--child", "kill", NULL };
        ok(run(a, envp, 5000, &res) == 0 && res.status == -1 && res.signal == SIGKILL, "death by signal is reported");
    }
    {
        char *a[] = { self, "--child", "spew", NULL };
        ok(run(a, envp, 5000, &res) == 0 && res.status == 0, "a child writing 256 KiB to each stream is not blocked");
        ok(res.out_len == KB_RUN_OUT_MAX && res.out_truncated && res.err_len == KB_RUN_OUT_MAX && res.err_truncated,
           "output is kept up to 64 KiB per stream and marked truncated");
    }
    {
        char *a[] = { self, "--child", "hang", NULL };
        pid_t g;
        t0 = now_ms();
        ok(run(a, envp, 400, &res) == 0 && res.timed_out && res.signal == SIGKILL,
           "a hanging child that ignores SIGTERM is killed at the deadline");
        /* The child hangs forever: any finite return proves the kill. The bound is generous (valgrind
           on a loaded 2-core machine), yet far below what a grace period misread as seconds would take. */
        ok(now_ms() - t0 < 400 + KB_RUN_KILL_GRACE_MS + 10000, "kb_run returned within the bound (%lld ms)", now_ms() - t0);
        g = (pid_t)atoi(res.out);
        usleep(50000);
        ok(g > 0 && gone(g), "its grandchild (pid %d) was killed with the process group", (int)g);
    }
    {
        char *a[] = { self, "--child", "daemon", NULL };
        t0 = now_ms();
        ok(run(a, envp, 5000, &res) == 0 && res.status == 0 && !res.timed_out, "a child leaving a straggler succeeds");
        /* The straggler holds the pipes for 30 s: returning in under half of that proves kb_run did
           not wait for it, with room for valgrind on a loaded machine. */
        ok(now_ms() - t0 < 15000, "and does not wait for the straggler (%lld ms)", now_ms() - t0);
    }
    {
        char *a[] = { self, "--child", "exit", "7", NULL };
        signal(SIGCHLD, SIG_IGN); /* as a daemon might have it */
        ok(run(a, envp, 5000, &res) == 0 && res.status == 7, "exit status is seen even when SIGCHLD is ignored");
        struct sigaction sa;
        sigaction(SIGCHLD, NULL, &sa);
        ok(sa.sa_handler == SIG_IGN, "the caller's SIGCHLD disposition is restored");
        signal(SIGCHLD, SIG_DFL);
    }
    return tap_done();
}
