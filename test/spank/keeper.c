/*
 * Tests of spank/keeper.c, the plugin's client of the node keeper: the socket is trusted only when
 * it and its directory are root's and not writable by others; answers are parsed strictly and
 * anything odd means "no keeper" (fall back to the helper). A forked child plays the keeper.
 */
#define _GNU_SOURCE
#include "keeper.h"
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[32], sock[64], why[1024], out[4200];

static int got_fd = -1;

/* What the fake keeper read (call after the request). */
static void read_got(char *got, size_t gotlen)
{
    ssize_t n = read(got_fd, got, gotlen - 1);
    got[n > 0 ? n : 0] = '\0';
}

/* Listen on `sock`; the child answers one connection with `reply` (NULL: say nothing, hold 2 s). */
static pid_t fake_keeper(const char *reply)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), c, p[2];
    pid_t pid;

    unlink(sock);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0 || pipe(p) != 0) {
        perror("fake keeper");
        exit(2);
    }
    chmod(sock, 0600);
    if ((pid = fork()) == 0) {
        char buf[600];
        ssize_t n;
        close(p[0]);
        c = accept(fd, NULL, NULL);
        n = read(c, buf, sizeof(buf) - 1);
        if (n > 0 && write(p[1], buf, (size_t)n) < 0)
            _exit(3);
        close(p[1]);
        if (reply != NULL && write(c, reply, strlen(reply)) < 0)
            _exit(3);
        if (reply == NULL)
            sleep(2);
        _exit(0);
    }
    close(fd);
    close(p[1]);
    if (got_fd >= 0)
        close(got_fd);
    got_fd = p[0];
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void socket_checks(void)
{
    char sub[160];

    ok(kb_keeper_socket_check(sock, 0, why, sizeof(why)) == -1 && strstr(why, "no keeper socket") != NULL,
       "missing socket: refused (%s)", why);
    reap(fake_keeper("ok x\n"));
    ok(kb_keeper_socket_check(sock, 0, why, sizeof(why)) == 0, "root's 0600 socket in root's 0700 directory: trusted");
    chown(sock, 4242, 4242);
    ok(kb_keeper_socket_check(sock, 0, why, sizeof(why)) == -1, "socket owned by uid 4242: refused");
    ok(strstr(why, "is not a socket of uid 0 without group/other write (uid 4242, mode 0600)") != NULL, "(%s)", why);
    chown(sock, 0, 0);
    chmod(sock, 0666);
    ok(kb_keeper_socket_check(sock, 0, why, sizeof(why)) == -1 && strstr(why, "mode 0666") != NULL,
       "world-writable socket: refused (%s)", why);
    chmod(sock, 0600);
    chmod(dir, 0777);
    ok(kb_keeper_socket_check(sock, 0, why, sizeof(why)) == -1 && strstr(why, "keeper socket directory") != NULL,
       "socket in a world-writable directory: refused (%s)", why);
    chmod(dir, 0700);
    unlink(sock);
    close(open(sock, O_CREAT | O_WRONLY, 0600));
    ok(kb_keeper_socket_check(sock, 0, why, sizeof(why)) == -1 && strstr(why, "is not a socket") != NULL,
       "a regular file at the path: refused (%s)", why);
    unlink(sock);
    snprintf(sub, sizeof(sub), "%s/link.sock", dir);
    symlink("/run/nothing.sock", sub);
    ok(kb_keeper_socket_check(sub, 0, why, sizeof(why)) == -1, "a symbolic link: refused (%s)", why);
    ok(kb_keeper_socket_check("relative.sock", 0, why, sizeof(why)) == -1, "a relative path: refused");
}

static void answers(void)
{
    char got[600];
    pid_t pid;
    int rc;

    pid = fake_keeper("ok KRB5CCNAME=FILE:/tmp/krb5cc_4343_7_AbCdEf\n");
    rc = kb_keeper_request(sock, 0, "materialise 4343 4343 7", 2000, out, sizeof(out), why, sizeof(why));
    read_got(got, sizeof(got));
    reap(pid);
    ok(rc == KB_KEEPER_OK, "ok answer: 0 (rc %d, %s)", rc, why);
    is_str(out, "KRB5CCNAME=FILE:/tmp/krb5cc_4343_7_AbCdEf", "the answer's text");
    is_str(got, "materialise 4343 4343 7\n", "the request line the keeper got");

    pid = fake_keeper("error 33 krb5bridge: E_NOT_FOUND: the store holds no credential for this user\n");
    rc = kb_keeper_request(sock, 0, "materialise 4343 4343 7", 2000, out, sizeof(out), why, sizeof(why));
    reap(pid);
    ok(rc == 33, "error answer: its exit status (rc %d)", rc);
    is_str(out, "krb5bridge: E_NOT_FOUND: the store holds no credential for this user", "the helper's error line");

    pid = fake_keeper("error 0 krb5bridge: E_X: y\n");
    rc = kb_keeper_request(sock, 0, "ping", 2000, out, sizeof(out), why, sizeof(why));
    reap(pid);
    ok(rc == KB_KEEPER_UNAVAILABLE, "error status 0: garbled, fall back (%s)", why);

    pid = fake_keeper("hello\n");
    rc = kb_keeper_request(sock, 0, "ping", 2000, out, sizeof(out), why, sizeof(why));
    reap(pid);
    ok(rc == KB_KEEPER_UNAVAILABLE && strcmp(why, "garbled keeper answer") == 0, "garbage: fall back (%s)", why);

    pid = fake_keeper("ok a\nok b\n");
    rc = kb_keeper_request(sock, 0, "ping", 2000, out, sizeof(out), why, sizeof(why));
    reap(pid);
    ok(rc == KB_KEEPER_UNAVAILABLE, "two lines: fall back (%s)", why);

    pid = fake_keeper("");
    rc = kb_keeper_request(sock, 0, "ping", 2000, out, sizeof(out), why, sizeof(why));
    reap(pid);
    ok(rc == KB_KEEPER_UNAVAILABLE && strstr(why, "closed the connection without an answer") != NULL,
       "closed without answer: fall back (%s)", why);

    pid = fake_keeper(NULL);
    rc = kb_keeper_request(sock, 0, "ping", 300, out, sizeof(out), why, sizeof(why));
    reap(pid);
    ok(rc == KB_KEEPER_UNAVAILABLE && strstr(why, "did not answer within 300 ms") != NULL,
       "silent keeper: fall back after the timeout (%s)", why);

    /* A stale socket (no listener): connection refused, fall back at once. */
    rc = kb_keeper_request(sock, 0, "ping", 2000, out, sizeof(out), why, sizeof(why));
    ok(rc == KB_KEEPER_UNAVAILABLE && strstr(why, "Connection refused") != NULL, "stale socket: fall back (%s)", why);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kb-keeper-c.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 2;
    snprintf(sock, sizeof(sock), "%s/keeper.sock", dir);
    if (geteuid() == 0) {
        socket_checks();
        answers();
    } else {
        tap_skip(1, "keeper socket checks need root (chown, owner 0)");
    }
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir); /* test clean-up only */
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", dir);
    }
    return tap_done();
}
