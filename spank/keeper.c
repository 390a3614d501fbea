/* The plugin's client of the node keeper's unix socket: a few syscalls, bounded in time. */
#define _GNU_SOURCE
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define KB_KEEPER_LINE 4096

int kb_keeper_socket_check(const char *path, uid_t owner, char *why, size_t whylen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct stat st;
    char *slash;

    if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(dir)) {
        snprintf(why, whylen, "keeper socket path \"%s\" is not an absolute path that fits a unix socket", path ? path : "");
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (lstat(dir, &st) != 0) {
        snprintf(why, whylen, "keeper socket directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != owner || (st.st_mode & 022) != 0) {
        snprintf(why, whylen, "keeper socket directory %s is not a directory of uid %lu without group/other write "
                 "(uid %lu, mode %04o)", dir, (unsigned long)owner, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    if (lstat(path, &st) != 0) {
        snprintf(why, whylen, "no keeper socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode) || st.st_uid != owner || (st.st_mode & 022) != 0) {
        snprintf(why, whylen, "%s is not a socket of uid %lu without group/other write (uid %lu, mode %04o)", path,
                 (unsigned long)owner, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for `events` on fd until the deadline; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;

    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r > 0;
    }
}

int kb_keeper_request(const char *path, uid_t owner, const char *request, int timeout_ms, char *out,
                      size_t outlen, char *why, size_t whylen)
{
    struct sockaddr_un addr;
    char line[KB_KEEPER_LINE + 1], req[600];
    long deadline = now_ms() + timeout_ms;
    size_t got = 0, len, sent = 0;
    int fd = -1, rc = KB_KEEPER_UNAVAILABLE, status;
    char *nl, *p, *end;

    out[0] = '\0';
    if (kb_keeper_socket_check(path, owner, why, whylen) != 0)
        return KB_KEEPER_UNAVAILABLE;
    if ((len = (size_t)snprintf(req, sizeof(req), "%s\n", request)) >= sizeof(req)) {
        snprintf(why, whylen, "keeper request too long");
        return KB_KEEPER_UNAVAILABLE;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        goto cleanup;
    }
    /* A unix connect either succeeds, fails (no listener: ECONNREFUSED), or waits on a full backlog. */
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno != EAGAIN && errno != EINPROGRESS) {
            snprintf(why, whylen, "connect %s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (wait_fd(fd, POLLOUT, deadline) != 1) {
            snprintf(why, whylen, "connect %s: no answer within %d ms", path, timeout_ms);
            goto cleanup;
        }
    }
    while (sent < len) {
        ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline) == 1)
            continue;
        snprintf(why, whylen, "send to %s: %s", path, n < 0 ? strerror(errno) : "closed");
        goto cleanup;
    }
    for (;;) {
        ssize_t n;
        if (got >= KB_KEEPER_LINE) {
            snprintf(why, whylen, "keeper answer longer than %d bytes", KB_KEEPER_LINE);
            goto cleanup;
        }
        n = recv(fd, line + got, KB_KEEPER_LINE - got, 0);
        if (n > 0) {
            got += (size_t)n;
            line[got] = '\0';
            if (memchr(line, '\n', got) != NULL)
                break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLIN, deadline) == 1)
                continue;
            snprintf(why, whylen, "the keeper did not answer within %d ms", timeout_ms);
            goto cleanup;
        }
        snprintf(why, whylen, "the keeper closed the connection without an answer%s%s", n < 0 ? ": " : "",
                 n < 0 ? strerror(errno) : "");
        goto cleanup;
    }
    nl = strchr(line, '\n');
    *nl = '\0';
    if (nl[1] != '\0') {
        snprintf(why, whylen, "the keeper sent more than one line");
        goto cleanup;
    }
    if (strncmp(line, "ok ", 3) == 0) {
        snprintf(out, outlen, "%s", line + 3);
        rc = strlen(line + 3) < outlen ? KB_KEEPER_OK : KB_KEEPER_UNAVAILABLE;
        if (rc != KB_KEEPER_OK)
            snprintf(why, whylen, "keeper answer too long");
    } else if (strncmp(line, "error ", 6) == 0) {
        errno = 0;
        status = (int)strtol(line + 6, &end, 10);
        if (errno != 0 || end == line + 6 || *end != ' ' || status < 1 || status > 255) {
            snprintf(why, whylen, "garbled keeper error answer");
            goto cleanup;
        }
        p = end + 1;
        snprintf(out, outlen, "%s", p);
        rc = status;
    } else {
        snprintf(why, whylen, "garbled keeper answer");
    }
cleanup:
    if (fd >= 0)
        close(fd);
    return rc;
}
