/*
 * Start a program safely: fork, setpgid, every other descriptor closed, stdin /dev/null,
 * stdout/stderr to pipes, execve of an absolute path with an explicit environment. The parent
 * reads both pipes (bounded) and waits with a deadline; on timeout the whole process group is
 * killed (SIGTERM, then SIGKILL) and reaped. No shell, no PATH search.
 */
#ifndef KRB5BRIDGE_RUN_H
#define KRB5BRIDGE_RUN_H

#include <stddef.h>

/*
 * A bounded argument (or environment) vector for kb_run: fixed capacity, always NULL-terminated.
 * An add that does not fit is refused and marks the vector `overflow`; a caller must not run an
 * overflowed vector (it would be a different command than the one asked for).
 */
#define KB_ARGV_MAX 32   /* entries, without the NULL */
#define KB_ARGV_BUF 4096 /* bytes for the strings kb_argv_addf formats */

struct kb_argv {
    char *v[KB_ARGV_MAX + 1];
    size_t n;
    char buf[KB_ARGV_BUF];
    size_t used;
    int overflow;
};

void kb_argv_init(struct kb_argv *a);

/* Append `s` itself (not a copy: it must outlive the vector). 0, or -1 (and overflow) if full. */
int kb_argv_add(struct kb_argv *a, const char *s);

/* Append a formatted copy kept in the vector's own buffer. 0, or -1 (and overflow) if it does not fit. */
__attribute__((format(printf, 2, 3)))
int kb_argv_addf(struct kb_argv *a, const char *fmt, ...);

#define KB_RUN_OUT_MAX 65536 /* bytes kept per stream; the rest is read and dropped */

struct kb_run_result {
    int status;      /* exit status 0..255 if exited, else -1 */
    int signal;      /* terminating signal, or 0 */
    int timed_out;   /* 1 if the deadline passed and the group was killed */
    int exec_failed; /* 1 if the child reported it could not exec (status 127) */
    char out[KB_RUN_OUT_MAX + 1];
    size_t out_len;
    int out_truncated;
    char err[KB_RUN_OUT_MAX + 1];
    size_t err_len;
    int err_truncated;
};

/*
 * Run `path` (must be absolute) with argv/envp (NULL-terminated), bounded by timeout_ms.
 * Returns 0 when the program ran (see res for its status), -1 if it could not be started or
 * waited for (errno set; res->err explains).
 */
int kb_run(const char *path, char *const argv[], char *const envp[], int timeout_ms,
           struct kb_run_result *res);

/* Grace between SIGTERM and SIGKILL of a timed-out group. */
#define KB_RUN_KILL_GRACE_MS 300

#endif
