/* The fast "nothing to do" checks; see checks.h. No file is ever followed through a symlink. */
#include "checks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -1)

/* "what (libkrb5's message)" into why; the message is libkrb5's to free. */
static void krb5_why(krb5_context ctx, krb5_error_code kr, const char *what, char *why, size_t whylen)
{
    const char *msg = krb5_get_error_message(ctx, kr);

    snprintf(why, whylen, "%s (%s)", what, msg);
    krb5_free_error_message(ctx, msg);
}

int kb_marker_line_cc(krb5_context ctx, krb5_ccache cc, const char *store, time_t now,
                      char *line, size_t len, struct kb_tgt *tgt, char *why, size_t whylen)
{
    krb5_principal client = NULL, tgs = NULL;
    krb5_creds mcreds, creds;
    char *name = NULL;
    int have_creds = 0, rc = KB_TICKET_KRB5_ERROR, n;
    krb5_error_code kr;

    memset(&mcreds, 0, sizeof(mcreds));
    memset(&creds, 0, sizeof(creds));
    if ((kr = krb5_cc_get_principal(ctx, cc, &client)) != 0) {
        krb5_why(ctx, kr, "no principal in the ccache", why, whylen);
        rc = KB_TICKET_NONE;
        goto cleanup;
    }
    kr = krb5_build_principal_ext(ctx, &tgs, client->realm.length, client->realm.data,
                                  KRB5_TGS_NAME_SIZE, KRB5_TGS_NAME,
                                  client->realm.length, client->realm.data, 0);
    if (kr != 0 || (kr = krb5_unparse_name(ctx, client, &name)) != 0) {
        snprintf(why, whylen, "krb5 error %d", (int)kr);
        goto cleanup;
    }
    mcreds.client = client;
    mcreds.server = tgs;
    if ((kr = krb5_cc_retrieve_cred(ctx, cc, 0, &mcreds, &creds)) != 0) {
        snprintf(why, whylen, "no ticket-granting ticket for %s in the ccache", name);
        rc = KB_TICKET_NO_TGT;
        goto cleanup;
    }
    have_creds = 1;
    if ((int64_t)(uint32_t)creds.times.endtime <= (int64_t)now) {
        snprintf(why, whylen, "the ticket-granting ticket of %s has expired", name);
        rc = KB_TICKET_EXPIRED;
        goto cleanup;
    }
    n = snprintf(line, len, "v1 %s %s %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", store, name,
                 (uint32_t)creds.times.authtime, (uint32_t)creds.times.endtime,
                 (uint32_t)creds.times.renew_till);
    if (n < 0 || (size_t)n >= len) {
        snprintf(why, whylen, "marker line too long");
        goto cleanup;
    }
    if (tgt != NULL) {
        snprintf(tgt->principal, sizeof(tgt->principal), "%s", name);
        tgt->endtime = (time_t)(uint32_t)creds.times.endtime;
        tgt->renew_till = (time_t)(uint32_t)creds.times.renew_till;
        tgt->renewable = (creds.ticket_flags & TKT_FLG_RENEWABLE) != 0;
    }
    rc = KB_TICKET_OK;

cleanup:
    if (have_creds)
        krb5_free_cred_contents(ctx, &creds);
    krb5_free_unparsed_name(ctx, name);
    krb5_free_principal(ctx, tgs);
    krb5_free_principal(ctx, client);
    return rc;
}

int kb_marker_line(const char *store, time_t now, char *line, size_t len, struct kb_tgt *tgt, char *why,
                   size_t whylen)
{
    krb5_context ctx = NULL;
    krb5_ccache cc = NULL;
    krb5_error_code kr;
    int rc;

    if ((kr = krb5_init_context(&ctx)) != 0) {
        snprintf(why, whylen, "krb5_init_context failed (%d)", (int)kr);
        return KB_TICKET_KRB5_ERROR;
    }
    if ((kr = krb5_cc_default(ctx, &cc)) != 0) {
        krb5_why(ctx, kr, "no default ccache", why, whylen);
        rc = KB_TICKET_NONE;
    } else {
        rc = kb_marker_line_cc(ctx, cc, store, now, line, len, tgt, why, whylen);
        krb5_cc_close(ctx, cc);
    }
    krb5_free_context(ctx);
    return rc;
}

int kb_marker_path(const char *marker_dir, uid_t uid, char *path, size_t len)
{
    int n = snprintf(path, len, "%s/krb5bridge_pushed_%lu", marker_dir, (unsigned long)uid);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Read a whole small file from fd into buf (NUL-terminated); -1 if it is larger than max. */
static ssize_t read_small(int fd, char *buf, size_t max)
{
    size_t len = 0;
    ssize_t n;

    while ((n = read(fd, buf + len, max + 1 - len)) > 0) {
        len += (size_t)n;
        if (len > max)
            return -1;
    }
    if (n < 0)
        return -1;
    buf[len] = '\0';
    return (ssize_t)len;
}

/*
 * Open the marker at `path` without following a link and read it: it must be a regular file owned
 * by `uid`, not group/other-writable, no larger than a line. Its mtime goes to *mtime.
 */
static int marker_read(const char *path, uid_t uid, char *buf, size_t len, time_t *mtime,
                       char *why, size_t whylen)
{
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return WHY("marker %s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        close(fd);
        return WHY("marker %s: fstat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != uid || (st.st_mode & 022) != 0) {
        close(fd);
        return WHY("marker %s: not a regular file of uid %lu without group/other write (uid=%lu perms=%04o)",
                   path, (unsigned long)uid, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
    }
    n = read_small(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return WHY("marker %s: unreadable or too large", path);
    *mtime = st.st_mtime;
    return 0;
}

int kb_marker_check(const char *path, uid_t uid, int ttl, time_t now, const char *expected,
                    char *why, size_t whylen)
{
    char buf[KB_LINE_LEN + 1];
    time_t mtime;

    if (marker_read(path, uid, buf, KB_LINE_LEN, &mtime, why, whylen) != 0)
        return -1;
    if (mtime > now + 60 || now - mtime >= ttl)
        return WHY("marker %s: stale (age %lld s, push_ttl %d s)", path, (long long)(now - mtime), ttl);
    if (strcmp(buf, expected) != 0)
        return WHY("marker %s: names another ticket than the ccache holds", path);
    return 0;
}

int kb_marker_stored(const char *path, uid_t uid, const char *store, time_t now, time_t margin,
                     char *principal, size_t plen, time_t *endtime, char *why, size_t whylen)
{
    char buf[KB_LINE_LEN + 1], mstore[KB_LINE_LEN], mprinc[KB_LINE_LEN];
    long long authtime, end, renew;
    time_t mtime;
    int used = 0;

    if (marker_read(path, uid, buf, KB_LINE_LEN, &mtime, why, whylen) != 0)
        return -1;
    if (sscanf(buf, "v1 %1023s %1023s %lld %lld %lld\n%n", mstore, mprinc, &authtime, &end, &renew, &used) != 5
        || (size_t)used != strlen(buf))
        return WHY("marker %s: not a v1 marker line", path);
    if (strcmp(mstore, store) != 0)
        return WHY("marker %s: names store %s, not %s", path, mstore, store);
    if ((time_t)end <= now + margin)
        return WHY("marker %s: the stored ticket ends at %lld, too soon", path, end);
    if (strlen(mprinc) >= plen)
        return WHY("marker %s: principal too long", path);
    memcpy(principal, mprinc, strlen(mprinc) + 1);
    *endtime = (time_t)end;
    return 0;
}

int kb_ccache_name_check(const char *path, const char *ccache_dir, uid_t uid, unsigned long job,
                         char *why, size_t whylen)
{
    char prefix[1200];
    const char *suffix;
    int n = snprintf(prefix, sizeof(prefix), "%s/krb5cc_%lu_%lu_", ccache_dir, (unsigned long)uid, job);

    if (n < 0 || (size_t)n >= sizeof(prefix) || strncmp(path, prefix, (size_t)n) != 0)
        return WHY("ccache %s: not a name %sXXXXXX", path, prefix);
    suffix = path + n;
    if (suffix[0] == '\0' || strspn(suffix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        != strlen(suffix))
        return WHY("ccache %s: bad suffix", path);
    return 0;
}

int kb_ccache_check(const char *path, const char *ccache_dir, uid_t uid, unsigned long job,
                    char *why, size_t whylen)
{
    struct stat st;

    if (kb_ccache_name_check(path, ccache_dir, uid, job, why, whylen) != 0)
        return -1;
    if (lstat(path, &st) != 0)
        return WHY("ccache %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_uid != uid || (st.st_mode & 07777) != 0600 || st.st_nlink != 1)
        return WHY("ccache %s: not a regular file of uid %lu, mode 0600, one link "
                   "(uid=%lu perms=%04o links=%lu)", path, (unsigned long)uid, (unsigned long)st.st_uid,
                   (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink);
    return 0;
}

int kb_parse_ccname(const char *answer, char *path, size_t len, char *why, size_t whylen)
{
    static const char prefix[] = "KRB5CCNAME=FILE:";
    const char *p = answer + sizeof(prefix) - 1;
    size_t n = strcspn(answer, "\n"); /* for the message: its first line */

    if (strncmp(answer, prefix, sizeof(prefix) - 1) != 0)
        return WHY("the answer \"%.*s\" is not \"%s<path>\"", (int)(n < 80 ? n : 80), answer, prefix);
    for (n = 0; p[n] != '\0' && p[n] != '\n'; n++)
        if ((unsigned char)p[n] < 0x20 || p[n] == 0x7f)
            return WHY("the ccache path in the answer has a control character");
    if (p[n] == '\n' && p[n + 1] != '\0')
        return WHY("the answer has more than one line");
    if (n == 0)
        return WHY("the answer names an empty ccache path");
    if (p[0] != '/')
        return WHY("the ccache path \"%.*s\" is not absolute", (int)(n < 200 ? n : 200), p);
    if (n >= len)
        return WHY("the ccache path is longer than %zu bytes", len - 1);
    memcpy(path, p, n);
    path[n] = '\0';
    return 0;
}

/* A word of the status: up to the next space (or the end), copied; -1 if it does not fit or is empty. */
static int word(const char **p, char *out, size_t len)
{
    size_t n = strcspn(*p, " \n");

    if (n == 0 || n >= len)
        return -1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    if (**p == ' ')
        (*p)++;
    return 0;
}

static int number(const char **p, long long *out)
{
    char buf[24], *end;

    if (word(p, buf, sizeof(buf)) != 0 || buf[0] < '0' || buf[0] > '9')
        return -1;
    *out = strtoll(buf, &end, 10);
    return *end == '\0' ? 0 : -1;
}

int kb_parse_materialised(const char *answer, struct kb_materialised *m, char *why, size_t whylen)
{
    char first[sizeof(m->path) + 32];
    const char *tab = strchr(answer, '\t'), *p;
    size_t n = tab ? (size_t)(tab - answer) : strlen(answer);

    memset(m, 0, sizeof(*m));
    if (n >= sizeof(first))
        return WHY("the answer's first part is longer than %zu bytes", sizeof(first) - 1);
    memcpy(first, answer, n);
    first[n] = '\0';
    if (tab == NULL)
        return kb_parse_ccname(answer, m->path, sizeof(m->path), why, whylen);
    if (kb_parse_ccname(first, m->path, sizeof(m->path), why, whylen) != 0)
        return -1;
    p = tab + 1;
    n = strcspn(p, "\n");
    if (p[n] == '\n' && p[n + 1] != '\0')
        return WHY("the answer has more than one line");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return WHY("the answer's status has a control character");
    if (strncmp(p, "ticket ", 7) == 0) {
        p += 7;
        m->kind = KB_ANSWER_TICKET;
        if (word(&p, m->principal, sizeof(m->principal)) != 0 || number(&p, &m->endtime) != 0
            || number(&p, &m->renew_till) != 0 || (*p != '\0' && *p != '\n'))
            return WHY("the answer's status is not \"ticket <principal> <endtime> <renew_till>\"");
        return 0;
    }
    if (strncmp(p, "pending ", 8) == 0) {
        p += 8;
        m->kind = KB_ANSWER_PENDING;
        if (word(&p, m->code, sizeof(m->code)) != 0 || strncmp(m->code, "E_", 2) != 0)
            return WHY("the answer's status is not \"pending <E_CODE> <message>\"");
        n = strcspn(p, "\n");
        snprintf(m->message, sizeof(m->message), "%.*s", (int)(n < sizeof(m->message) - 1 ? n : sizeof(m->message) - 1), p);
        return 0;
    }
    return WHY("the answer's status \"%.40s\" is neither \"ticket ...\" nor \"pending ...\"", p);
}

/* A directory owned by `owner`, not group/other-writable, not a symlink. */
static int safe_dir(const char *path, uid_t owner, char *why, size_t whylen)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return WHY("%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != owner || (st.st_mode & 022) != 0)
        return WHY("%s: not a directory of uid %lu without group/other write (uid=%lu perms=%04o)",
                   path, (unsigned long)owner, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
    return 0;
}

int kb_record_check(const char *state_dir, const char *ccache_dir, unsigned long job, uid_t uid,
                    uid_t owner, char *ccache, size_t cclen, char *why, size_t whylen)
{
    char jobs[KB_LINE_LEN + 8], rec[KB_LINE_LEN + 40], buf[4096];
    char *end = NULL, *path, *nl;
    struct stat st;
    unsigned long ruid;
    ssize_t n;
    int fd;

    if ((size_t)snprintf(jobs, sizeof(jobs), "%s/jobs", state_dir) >= sizeof(jobs)
        || (size_t)snprintf(rec, sizeof(rec), "%s/%lu", jobs, job) >= sizeof(rec))
        return WHY("state dir path too long: %s", state_dir);
    if (safe_dir(state_dir, owner, why, whylen) != 0 || safe_dir(jobs, owner, why, whylen) != 0)
        return -1;
    if ((fd = open(rec, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
        return WHY("job record %s: %s", rec, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != owner || (st.st_mode & 07777) != 0600) {
        close(fd);
        return WHY("job record %s: not a regular file of uid %lu with mode 0600", rec, (unsigned long)owner);
    }
    n = read_small(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0 || buf[0] < '0' || buf[0] > '9')
        return WHY("job record %s: empty, unreadable or malformed", rec);
    errno = 0;
    ruid = strtoul(buf, &end, 10);
    nl = strchr(buf, '\n');
    if (errno != 0 || *end != ' ' || nl == NULL || nl[1] != '\0')
        return WHY("job record %s: not one line \"<uid> <path>\"", rec);
    if (ruid != (unsigned long)uid)
        return WHY("job record %s: belongs to uid %lu, not %lu", rec, ruid, (unsigned long)uid);
    *nl = '\0';
    path = end + 1;
    if (kb_ccache_check(path, ccache_dir, uid, job, why, whylen) != 0)
        return -1;
    if ((size_t)snprintf(ccache, cclen, "%s", path) >= cclen)
        return WHY("ccache path too long: %s", path);
    return 0;
}
