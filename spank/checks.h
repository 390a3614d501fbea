/*
 * The fast "nothing to do" checks: they let a step skip starting Node. Each returns 0 when the
 * fast path is safe, else -1 with `why` saying what failed (for debug logs), never trusting a path
 * a user could have planted (O_NOFOLLOW, lstat, owner and mode checks).
 */
#ifndef KRB5BRIDGE_CHECKS_H
#define KRB5BRIDGE_CHECKS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include <krb5.h>

#define KB_LINE_LEN 1024

/* Why no marker line could be computed; the plugin maps these to the helper's exit statuses. */
enum kb_ticket_state { KB_TICKET_OK = 0, KB_TICKET_NONE, KB_TICKET_NO_TGT, KB_TICKET_EXPIRED, KB_TICKET_KRB5_ERROR };

/* What the submit side knows of the user's TGT (for its warnings). */
struct kb_tgt {
    char principal[KB_LINE_LEN];
    time_t endtime;
    time_t renew_till;
    int renewable; /* the ticket's renewable flag */
};

/*
 * The push marker line for the TGT (krbtgt/REALM@REALM of the principal's realm) in `cc`:
 * "v1 <store> <principal> <authtime> <endtime> <renew_till>\n". Returns KB_TICKET_OK, or
 * KB_TICKET_NONE (no ccache or no principal in it), _NO_TGT, _EXPIRED (endtime <= now), _KRB5_ERROR.
 * With KB_TICKET_OK, `tgt` (if not NULL) describes the ticket.
 */
int kb_marker_line_cc(krb5_context ctx, krb5_ccache cc, const char *store, time_t now,
                      char *line, size_t len, struct kb_tgt *tgt, char *why, size_t whylen);

/* The same for the default ccache (KRB5CCNAME or libkrb5's default), as the calling user. */
int kb_marker_line(const char *store, time_t now, char *line, size_t len, struct kb_tgt *tgt, char *why,
                   size_t whylen);

/* Path of the marker: marker_dir/krb5bridge_pushed_<uid>. -1 if too long. */
int kb_marker_path(const char *marker_dir, uid_t uid, char *path, size_t len);

/*
 * The marker at `path` is a regular file (not followed if a symlink) owned by `uid`, not group-
 * or other-writable, modified less than `ttl` seconds before `now` (and not in the future), and
 * holds exactly `expected`.
 */
int kb_marker_check(const char *path, uid_t uid, int ttl, time_t now, const char *expected,
                    char *why, size_t whylen);

/*
 * With no ticket in the user's ccache: does a marker (same file checks as kb_marker_check, any
 * age) show that `store` was given a ticket that is still valid for more than `margin` seconds?
 * Then the job still gets that stored ticket; its principal and end time are returned.
 */
int kb_marker_stored(const char *path, uid_t uid, const char *store, time_t now, time_t margin,
                     char *principal, size_t plen, time_t *endtime, char *why, size_t whylen);

/*
 * The job's ccache file: `path` is ccache_dir/krb5cc_<uid>_<job>_<suffix> with no other slash,
 * and lstat shows a regular file, owner uid, mode 0600, one link.
 */
int kb_ccache_check(const char *path, const char *ccache_dir, uid_t uid, unsigned long job,
                    char *why, size_t whylen);

/*
 * Only the name of the job's ccache: ccache_dir/krb5cc_<uid>_<job>_<letters and digits>. For a
 * pending ccache (its path reserved, written later by the keeper): nothing may be there yet.
 */
int kb_ccache_name_check(const char *path, const char *ccache_dir, uid_t uid, unsigned long job,
                         char *why, size_t whylen);

/*
 * The ccache a materialise answer names: "KRB5CCNAME=FILE:<path>", as the keeper's "ok" text or
 * the helper's stdout (then ending in one "\n"): nothing before it, nothing after it, one line, an
 * absolute path without control characters that fits in `len`. The path goes to `path`; whoever
 * uses it checks it with kb_ccache_check first.
 */
int kb_parse_ccname(const char *answer, char *path, size_t len, char *why, size_t whylen);

/* What a materialise answer says besides the path (after a TAB). */
enum kb_answer_kind { KB_ANSWER_PLAIN, KB_ANSWER_TICKET, KB_ANSWER_PENDING };

struct kb_materialised {
    char path[KB_LINE_LEN + 64];
    enum kb_answer_kind kind;
    char principal[256];   /* ticket: the ticket's client principal */
    long long endtime;     /* ticket: Unix seconds */
    long long renew_till;  /* ticket: Unix seconds */
    char code[48];         /* pending: the registry code of why (E_...) */
    char message[1024];    /* pending: what happened */
};

/*
 * A materialise answer (docs/internals.md): "KRB5CCNAME=FILE:<path>" (kb_parse_ccname), then
 * optionally a TAB and "ticket <principal> <endtime> <renew_till>" (written now) or
 * "pending <E_CODE> <message>" (path reserved, written by the keeper when it can). One line.
 */
int kb_parse_materialised(const char *answer, struct kb_materialised *m, char *why, size_t whylen);

/*
 * The job record state_dir/jobs/<job>: state_dir and state_dir/jobs are directories owned by
 * `owner` (root) and not group/other-writable; the record is a regular file owned by `owner`,
 * mode 0600, one line "<uid> <path>\n" whose uid is `uid` and whose path passes kb_ccache_check.
 * On success the ccache path is copied to `ccache`.
 */
int kb_record_check(const char *state_dir, const char *ccache_dir, unsigned long job, uid_t uid,
                    uid_t owner, char *ccache, size_t cclen, char *why, size_t whylen);

#endif
