/*
 * Tests of spank/checks.c: the push marker (line from a real libkrb5 ccache, file checks) and the
 * job record / job ccache checks. The owner checks chown to other uids, so they need root.
 */
#define _GNU_SOURCE
#include "checks.h"
#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define OTHER_UID 4242
#define ALICE 4343
#define JOB 77UL

static char dir[64];
static char why[1024];

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(2);
    }
    fchmod(fd, mode);
    close(fd);
}

static void set_mtime(const char *path, time_t t)
{
    struct timeval tv[2] = { { t, 0 }, { t, 0 } };
    utimes(path, tv);
}

/* A ccache holding one credential for `server` with the given times (no KDC needed). */
static void make_ccache(krb5_context ctx, const char *name, const char *client, const char *server,
                        time_t auth, time_t end, time_t renew)
{
    krb5_ccache cc;
    krb5_creds cr;
    static krb5_octet key[32], tkt[] = "not-a-real-ticket";

    memset(&cr, 0, sizeof(cr));
    if (krb5_cc_resolve(ctx, name, &cc) || krb5_parse_name(ctx, client, &cr.client)
        || krb5_parse_name(ctx, server, &cr.server) || krb5_cc_initialize(ctx, cc, cr.client)) {
        fprintf(stderr, "cannot make ccache %s\n", name);
        exit(2);
    }
    cr.keyblock.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    cr.keyblock.length = sizeof(key);
    cr.keyblock.contents = key;
    cr.ticket.length = sizeof(tkt) - 1;
    cr.ticket.data = (char *)tkt;
    cr.times.authtime = cr.times.starttime = (krb5_timestamp)auth;
    cr.times.endtime = (krb5_timestamp)end;
    cr.times.renew_till = (krb5_timestamp)renew;
    if (krb5_cc_store_cred(ctx, cc, &cr)) {
        fprintf(stderr, "cannot store cred\n");
        exit(2);
    }
    cr.keyblock.contents = NULL;
    cr.ticket.data = NULL;
    krb5_free_principal(ctx, cr.client);
    krb5_free_principal(ctx, cr.server);
    krb5_cc_close(ctx, cc);
}

static int line_of(krb5_context ctx, const char *name, time_t now, char *line)
{
    krb5_ccache cc;
    int rc;

    krb5_cc_resolve(ctx, name, &cc);
    rc = kb_marker_line_cc(ctx, cc, "127.0.0.1:7386", now, line, KB_LINE_LEN, NULL, why, sizeof(why));
    krb5_cc_close(ctx, cc);
    return rc;
}

static void marker_line_tests(void)
{
    krb5_context ctx;
    char name[128], line[KB_LINE_LEN], want[KB_LINE_LEN];
    time_t now = time(NULL);

    krb5_init_context(&ctx);
    snprintf(name, sizeof(name), "FILE:%s/tgt", dir);
    make_ccache(ctx, name, "alice@EX.TEST", "krbtgt/EX.TEST@EX.TEST", 1000, now + 3600, now + 7200);
    snprintf(want, sizeof(want), "v1 127.0.0.1:7386 alice@EX.TEST 1000 %lld %lld\n", (long long)now + 3600,
             (long long)now + 7200);
    ok(line_of(ctx, name, now, line) == KB_TICKET_OK, "marker line from a ccache with a TGT");
    is_str(line, want, "marker line is v1 <store> <principal> <authtime> <endtime> <renew_till>");

    snprintf(name, sizeof(name), "FILE:%s/expired", dir);
    make_ccache(ctx, name, "alice@EX.TEST", "krbtgt/EX.TEST@EX.TEST", 1000, now - 1, now + 7200);
    ok(line_of(ctx, name, now, line) == KB_TICKET_EXPIRED, "expired TGT -> KB_TICKET_EXPIRED (%s)", why);

    snprintf(name, sizeof(name), "FILE:%s/service", dir);
    make_ccache(ctx, name, "alice@EX.TEST", "host/x.ex.test@EX.TEST", 1000, now + 3600, 0);
    ok(line_of(ctx, name, now, line) == KB_TICKET_NO_TGT, "only a service ticket -> KB_TICKET_NO_TGT (%s)", why);

    snprintf(name, sizeof(name), "FILE:%s/foreign", dir);
    make_ccache(ctx, name, "alice@EX.TEST", "krbtgt/OTHER.TEST@EX.TEST", 1000, now + 3600, 0);
    ok(line_of(ctx, name, now, line) == KB_TICKET_NO_TGT, "a cross-realm TGT is not the user's TGT");

    snprintf(name, sizeof(name), "FILE:%s/none", dir);
    ok(line_of(ctx, name, now, line) == KB_TICKET_NONE, "missing ccache -> KB_TICKET_NONE (%s)", why);

    snprintf(name, sizeof(name), "FILE:%s/tgt", dir);
    setenv("KRB5CCNAME", name, 1);
    {
        struct kb_tgt tgt;
        memset(&tgt, 0, sizeof(tgt));
        ok(kb_marker_line("s:1", now, line, sizeof(line), &tgt, why, sizeof(why)) == KB_TICKET_OK
               && strncmp(line, "v1 s:1 alice@EX.TEST 1000 ", 26) == 0,
           "kb_marker_line reads the default ccache (KRB5CCNAME)");
        is_str(tgt.principal, "alice@EX.TEST", "and describes the TGT: its principal");
        ok(tgt.endtime > now, "its end time");
    }
    unsetenv("KRB5CCNAME");
    krb5_free_context(ctx);
}

static void marker_file_tests(int root)
{
    char path[128], link[128], fifo[128];
    const char *line = "v1 s:1 alice@EX.TEST 1 2 3\n";
    time_t now = time(NULL);
    uid_t me = getuid();

    ok(kb_marker_path("/tmp", 1005, path, sizeof(path)) == 0 && strcmp(path, "/tmp/krb5bridge_pushed_1005") == 0,
       "marker path is marker_dir/krb5bridge_pushed_<uid>");
    snprintf(path, sizeof(path), "%s/marker", dir);
    write_file(path, line, 0600);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == 0, "valid marker accepted");
    ok(kb_marker_check(path, me, 900, now, "v1 s:1 alice@EX.TEST 1 2 4\n", why, sizeof(why)) == -1,
       "marker for another ticket refused");
    ok(kb_marker_check(path, me, 900, now, "v1 s:1 alice@EX.TEST 1 2 3", why, sizeof(why)) == -1,
       "marker compare is exact (newline)");
    set_mtime(path, now - 900);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == -1 && strstr(why, "stale"),
       "marker as old as push_ttl refused: %s", why);
    set_mtime(path, now + 3600);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == -1, "marker dated in the future refused");
    set_mtime(path, now);
    chmod(path, 0620);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == -1, "group-writable marker refused: %s", why);
    chmod(path, 0602);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == -1, "other-writable marker refused");
    chmod(path, 0644);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == 0, "world-readable marker is fine");

    snprintf(link, sizeof(link), "%s/marker-link", dir);
    symlink(path, link);
    ok(kb_marker_check(link, me, 900, now, line, why, sizeof(why)) == -1, "symlink to a valid marker refused: %s", why);
    snprintf(fifo, sizeof(fifo), "%s/marker-fifo", dir);
    mkfifo(fifo, 0600);
    ok(kb_marker_check(fifo, me, 900, now, line, why, sizeof(why)) == -1, "fifo refused without blocking");
    ok(kb_marker_check(dir, me, 900, now, line, why, sizeof(why)) == -1, "directory refused");
    ok(kb_marker_check("/nonexistent/m", me, 900, now, line, why, sizeof(why)) == -1, "missing marker refused");
    {
        char big[3000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        write_file(path, big, 0600);
        ok(kb_marker_check(path, me, 900, now, big, why, sizeof(why)) == -1, "oversized marker refused");
        write_file(path, line, 0600);
    }
    if (!root) {
        tap_skip(2, "owner checks need root");
        return;
    }
    chown(path, OTHER_UID, OTHER_UID);
    ok(kb_marker_check(path, me, 900, now, line, why, sizeof(why)) == -1, "marker owned by another uid refused: %s", why);
    ok(kb_marker_check(path, OTHER_UID, 900, now, line, why, sizeof(why)) == 0, "the same marker is valid for its owner");
}

/* With no local ticket: the marker tells whether the store still holds a ticket for the job. */
static void marker_stored_tests(void)
{
    char path[128], link[128], princ[128], line[256];
    time_t now = time(NULL), end = 0;
    uid_t me = getuid();

    snprintf(path, sizeof(path), "%s/stored", dir);
    snprintf(line, sizeof(line), "v1 s:1 alice@EX.TEST %lld %lld %lld\n", (long long)now - 10,
             (long long)now + 3600, (long long)now + 86400);
    write_file(path, line, 0600);
    set_mtime(path, now - 86000); /* any age: what counts is the stored ticket's end time */
    ok(kb_marker_stored(path, me, "s:1", now, 300, princ, sizeof(princ), &end, why, sizeof(why)) == 0
       && strcmp(princ, "alice@EX.TEST") == 0 && end == now + 3600,
       "an old marker of a still valid stored ticket names its principal and end time");
    ok(kb_marker_stored(path, me, "s:2", now, 300, princ, sizeof(princ), &end, why, sizeof(why)) == -1
       && strstr(why, "names store s:1"), "a marker of another store does not count: %s", why);
    ok(kb_marker_stored(path, me, "s:1", now + 3500, 300, princ, sizeof(princ), &end, why, sizeof(why)) == -1
       && strstr(why, "too soon"), "a stored ticket ending within the margin does not count: %s", why);
    write_file(path, "v1 s:1 alice@EX.TEST 1 notanumber 3\n", 0600);
    ok(kb_marker_stored(path, me, "s:1", now, 300, princ, sizeof(princ), &end, why, sizeof(why)) == -1
       && strstr(why, "not a v1 marker line"), "a malformed marker line is refused: %s", why);
    snprintf(line, sizeof(line), "v1 s:1 alice@EX.TEST 1 %lld 3\ntrailing", (long long)now + 3600);
    write_file(path, line, 0600);
    ok(kb_marker_stored(path, me, "s:1", now, 300, princ, sizeof(princ), &end, why, sizeof(why)) == -1,
       "trailing bytes after the line are refused");
    snprintf(line, sizeof(line), "v1 s:1 alice@EX.TEST 1 %lld 3\n", (long long)now + 3600);
    write_file(path, line, 0620);
    chmod(path, 0620);
    ok(kb_marker_stored(path, me, "s:1", now, 300, princ, sizeof(princ), &end, why, sizeof(why)) == -1,
       "a group-writable marker does not count: %s", why);
    chmod(path, 0600);
    snprintf(link, sizeof(link), "%s/stored-link", dir);
    symlink(path, link);
    ok(kb_marker_stored(link, me, "s:1", now, 300, princ, sizeof(princ), &end, why, sizeof(why)) == -1,
       "a symlink to a valid marker does not count: %s", why);
}

/* A fresh state dir (root 0700) with jobs/ and a record for JOB naming `cc`. */
static void setup_record(char *state, char *cc, const char *record_text)
{
    char jobs[256], rec[300];

    snprintf(state, 200, "%s/state", dir);
    snprintf(jobs, sizeof(jobs), "%s/jobs", state);
    snprintf(rec, sizeof(rec), "%s/%lu", jobs, JOB);
    mkdir(state, 0700);
    mkdir(jobs, 0700);
    chmod(state, 0700);
    chmod(jobs, 0700);
    snprintf(cc, 200, "%s/krb5cc_%d_%lu_AbC123", dir, ALICE, JOB);
    if (record_text == NULL) {
        char text[300];
        snprintf(text, sizeof(text), "%d %s\n", ALICE, cc);
        write_file(rec, text, 0600);
    } else {
        write_file(rec, record_text, 0600);
    }
}

static void make_cc(const char *cc, uid_t uid, mode_t mode)
{
    unlink(cc);
    rmdir(cc);
    write_file(cc, "ccache", mode);
    chown(cc, uid, uid);
}

static int record(const char *state, char *out)
{
    return kb_record_check(state, dir, JOB, ALICE, 0, out, 256, why, sizeof(why));
}

static void record_tests(void)
{
    char state[200], cc[200], out[256], rec[600], text[1024], other[600];

    setup_record(state, cc, NULL);
    snprintf(rec, sizeof(rec), "%s/jobs/%lu", state, JOB);
    make_cc(cc, ALICE, 0600);
    ok(record(state, out) == 0, "valid record and ccache accepted (%s)", why);
    is_str(out, cc, "the record's ccache path is returned");
    ok(kb_record_check(state, dir, JOB, ALICE + 1, 0, out, 256, why, sizeof(why)) == -1,
       "record of another uid refused: %s", why);
    ok(kb_record_check(state, dir, JOB + 1, ALICE, 0, out, 256, why, sizeof(why)) == -1, "no record for another job");

    /* the ccache the record names */
    make_cc(cc, ALICE, 0644);
    ok(record(state, out) == -1, "ccache mode 0644 refused: %s", why);
    make_cc(cc, OTHER_UID, 0600);
    ok(record(state, out) == -1, "ccache of another owner refused: %s", why);
    make_cc(cc, ALICE, 0600);
    snprintf(other, sizeof(other), "%s/hardlink", dir);
    link(cc, other);
    ok(record(state, out) == -1, "ccache with two links refused: %s", why);
    unlink(other);
    unlink(cc);
    snprintf(other, sizeof(other), "%s/target", dir);
    make_cc(other, ALICE, 0600);
    symlink(other, cc);
    lchown(cc, ALICE, ALICE);
    ok(record(state, out) == -1, "record naming a symlink refused: %s", why);
    unlink(cc);
    mkfifo(cc, 0600);
    chown(cc, ALICE, ALICE);
    ok(record(state, out) == -1, "record naming a fifo refused: %s", why);
    unlink(cc);
    mkdir(cc, 0700);
    chown(cc, ALICE, ALICE);
    ok(record(state, out) == -1, "record naming a directory refused: %s", why);
    rmdir(cc);
    ok(record(state, out) == -1, "record naming a missing file refused");
    make_cc(cc, ALICE, 0600);

    /* the record itself */
    chmod(rec, 0644);
    ok(record(state, out) == -1, "record mode 0644 refused: %s", why);
    chmod(rec, 0600);
    chown(rec, OTHER_UID, 0);
    ok(record(state, out) == -1, "record not owned by root refused: %s", why);
    chown(rec, 0, 0);
    ok(record(state, out) == 0, "restored record accepted again");
    snprintf(other, sizeof(other), "%s/jobs/real", state);
    rename(rec, other);
    symlink(other, rec);
    ok(record(state, out) == -1, "symlink at the record path refused: %s", why);
    unlink(rec);
    rename(other, rec);
    snprintf(text, sizeof(text), "%d /etc/passwd\n", ALICE);
    setup_record(state, cc, text);
    ok(record(state, out) == -1, "record naming a file outside ccache_dir refused: %s", why);
    snprintf(text, sizeof(text), "%d %s/krb5cc_%d_%lu_../../etc/passwd\n", ALICE, dir, ALICE, JOB);
    setup_record(state, cc, text);
    ok(record(state, out) == -1, "record naming a path with ../ refused");
    snprintf(text, sizeof(text), "%d %s/krb5cc_%d_%lu_AbC123\n", ALICE, dir, ALICE, JOB + 1);
    setup_record(state, cc, text);
    ok(record(state, out) == -1, "record naming another job's ccache refused");
    snprintf(text, sizeof(text), "%d %s\n%d %s\n", ALICE, cc, ALICE, cc);
    setup_record(state, cc, text);
    ok(record(state, out) == -1, "two-line record refused");
    snprintf(text, sizeof(text), "%d %s", ALICE, cc);
    setup_record(state, cc, text);
    ok(record(state, out) == -1, "record without its newline refused (incomplete write)");
    snprintf(text, sizeof(text), " %d %s\n", ALICE, cc);
    setup_record(state, cc, text);
    ok(record(state, out) == -1, "record with a leading space refused");
    setup_record(state, cc, NULL);
    ok(record(state, out) == 0, "fresh record accepted");

    /* the directories above it */
    chmod(state, 0770);
    ok(record(state, out) == -1, "group-writable state_dir refused: %s", why);
    chmod(state, 0700);
    snprintf(other, sizeof(other), "%s/jobs", state);
    chmod(other, 0707);
    ok(record(state, out) == -1, "other-writable jobs dir refused");
    chmod(other, 0700);
    chown(state, OTHER_UID, 0);
    ok(record(state, out) == -1, "state_dir not owned by root refused");
    chown(state, 0, 0);
    ok(record(state, out) == 0, "restored state_dir accepted again");
}

/* One parser for the helper's and the keeper's materialise answers. */
static void ccname_tests(void)
{
    char path[32], big[64];

    ok(kb_parse_ccname("KRB5CCNAME=FILE:/tmp/krb5cc_1_2_Ab9", path, sizeof(path), why, sizeof(why)) == 0,
       "the keeper's answer (no newline) parses");
    is_str(path, "/tmp/krb5cc_1_2_Ab9", "to its path");
    path[0] = '\0';
    ok(kb_parse_ccname("KRB5CCNAME=FILE:/tmp/krb5cc_1_2_Ab9\n", path, sizeof(path), why, sizeof(why)) == 0,
       "the helper's answer (one line with its newline) parses");
    is_str(path, "/tmp/krb5cc_1_2_Ab9", "to the same path");

#define BAD(answer, want, name)                                                                   \
    do {                                                                                          \
        why[0] = '\0';                                                                            \
        path[0] = 'X', path[1] = '\0';                                                            \
        ok(kb_parse_ccname(answer, path, sizeof(path), why, sizeof(why)) == -1 && strcmp(path, "X") == 0, \
           "refused, path untouched: %s", name);                                                  \
        is_str(why, want, "and says why: %s", name);                                              \
    } while (0)
    BAD("/tmp/krb5cc_1_2_Ab9\n", "the answer \"/tmp/krb5cc_1_2_Ab9\" is not \"KRB5CCNAME=FILE:<path>\"", "no prefix");
    BAD("KRB5CCNAME=MEMORY:x\n", "the answer \"KRB5CCNAME=MEMORY:x\" is not \"KRB5CCNAME=FILE:<path>\"",
        "another ccache type");
    BAD("ok KRB5CCNAME=FILE:/tmp/x", "the answer \"ok KRB5CCNAME=FILE:/tmp/x\" is not \"KRB5CCNAME=FILE:<path>\"",
        "something before it");
    BAD("KRB5CCNAME=FILE:", "the answer names an empty ccache path", "empty path");
    BAD("KRB5CCNAME=FILE:\n", "the answer names an empty ccache path", "empty path with a newline");
    BAD("KRB5CCNAME=FILE:/tmp/x\r\n", "the ccache path in the answer has a control character", "trailing CR");
    BAD("KRB5CCNAME=FILE:/tmp/x\ttrailing", "the ccache path in the answer has a control character",
        "a status after a tab (kb_parse_materialised reads those)");
    BAD("KRB5CCNAME=FILE:/tmp/x\n\n", "the answer has more than one line", "an empty second line");
    BAD("KRB5CCNAME=FILE:/tmp/x\nKRB5CCNAME=FILE:/tmp/y\n", "the answer has more than one line", "a second line");
    BAD("KRB5CCNAME=FILE:tmp/x\n", "the ccache path \"tmp/x\" is not absolute", "relative path");
    snprintf(big, sizeof(big), "KRB5CCNAME=FILE:/%031d", 0); /* 32 bytes: no room for the NUL */
    BAD(big, "the ccache path is longer than 31 bytes", "too long for the buffer");
    snprintf(big, sizeof(big), "KRB5CCNAME=FILE:/%030d", 0);
    ok(kb_parse_ccname(big, path, sizeof(path), why, sizeof(why)) == 0 && strlen(path) == 31,
       "a path of exactly 31 bytes fits a 32-byte buffer");
#undef BAD
}

/* The whole materialise answer: path, then a TAB and "ticket ..." or "pending ...". */
static void materialised_tests(void)
{
    struct kb_materialised m;

    ok(kb_parse_materialised("KRB5CCNAME=FILE:/tmp/krb5cc_1_2_Ab9\n", &m, why, sizeof(why)) == 0
           && m.kind == KB_ANSWER_PLAIN && strcmp(m.path, "/tmp/krb5cc_1_2_Ab9") == 0,
       "a plain answer (a reused ccache)");
    ok(kb_parse_materialised("KRB5CCNAME=FILE:/tmp/krb5cc_1_2_Ab9\tticket alice@EX.TEST 2000000000 2000600000\n", &m, why,
                             sizeof(why)) == 0
           && m.kind == KB_ANSWER_TICKET && strcmp(m.path, "/tmp/krb5cc_1_2_Ab9") == 0
           && strcmp(m.principal, "alice@EX.TEST") == 0 && m.endtime == 2000000000LL && m.renew_till == 2000600000LL,
       "a ticket answer: path, principal and times");
    ok(kb_parse_materialised("KRB5CCNAME=FILE:/tmp/krb5cc_1_2_Ab9\tpending E_STORE_UNREACHABLE cannot connect to s:1: "
                             "ECONNREFUSED", &m, why, sizeof(why)) == 0
           && m.kind == KB_ANSWER_PENDING && strcmp(m.code, "E_STORE_UNREACHABLE") == 0
           && strcmp(m.message, "cannot connect to s:1: ECONNREFUSED") == 0,
       "a pending answer (the keeper's, no newline): code and message");
#define BADM(answer, want, name)                                                                  \
    do {                                                                                          \
        why[0] = '\0';                                                                            \
        ok(kb_parse_materialised(answer, &m, why, sizeof(why)) == -1, "refused: %s", name);        \
        is_str(why, want, "and says why: %s", name);                                              \
    } while (0)
    BADM("KRB5CCNAME=FILE:/tmp/x\tticket alice@EX 12x 5", "the answer's status is not \"ticket <principal> <endtime> "
         "<renew_till>\"", "a ticket with a bad time");
    BADM("KRB5CCNAME=FILE:/tmp/x\tticket alice@EX", "the answer's status is not \"ticket <principal> <endtime> "
         "<renew_till>\"", "a ticket without times");
    BADM("KRB5CCNAME=FILE:/tmp/x\tpending NOPE message", "the answer's status is not \"pending <E_CODE> <message>\"",
         "pending without an error code");
    BADM("KRB5CCNAME=FILE:/tmp/x\tsomething else", "the answer's status \"something else\" is neither \"ticket ...\" "
         "nor \"pending ...\"", "an unknown status");
    BADM("KRB5CCNAME=FILE:/tmp/x\tpending E_X a\x01b", "the answer's status has a control character",
         "a control character in the message");
    BADM("KRB5CCNAME=FILE:/tmp/x\tpending E_X a\nKRB5CCNAME=FILE:/tmp/y\n", "the answer has more than one line",
         "a second line after the status");
    BADM("KRB5CCNAME=FILE:tmp/x\tpending E_X y", "the ccache path \"tmp/x\" is not absolute", "the path is checked too");
#undef BADM
    ok(kb_ccache_name_check("/tmp/krb5cc_7_9_Ab9", "/tmp", 7, 9, why, sizeof(why)) == 0,
       "a pending ccache: its name alone is checked (nothing is there yet)");
    ok(kb_ccache_name_check("/tmp/krb5cc_7_9_Ab9", "/tmp", 8, 9, why, sizeof(why)) == -1
           && strcmp(why, "ccache /tmp/krb5cc_7_9_Ab9: not a name /tmp/krb5cc_8_9_XXXXXX") == 0,
       "another uid's name is refused: %s", why);
    ok(kb_ccache_name_check("/tmp/krb5cc_7_9_../x", "/tmp", 7, 9, why, sizeof(why)) == -1
           && strcmp(why, "ccache /tmp/krb5cc_7_9_../x: bad suffix") == 0,
       "a name leaving the directory is refused: %s", why);
}

int main(void)
{
    int root = geteuid() == 0;

    snprintf(dir, sizeof(dir), "/tmp/kbchecks.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 2;
    marker_line_tests();
    marker_file_tests(root);
    marker_stored_tests();
    ccname_tests();
    materialised_tests();
    if (root)
        record_tests();
    else
        tap_skip(1, "job record checks need root (chown)");
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir); /* test clean-up only */
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", dir);
    }
    return tap_done();
}
