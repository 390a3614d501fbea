/* Exit status -> message, with the one registry (errors.h is generated from helper/src/errors.ts). */
#include "status.h"

#include <stdio.h>
#include <string.h>
#include "errors.h"

static const struct krb5bridge_error *lookup(int status)
{
    for (const struct krb5bridge_error *e = krb5bridge_errors; e->code != NULL; e++)
        if (e->status == status)
            return e;
    return NULL;
}

const char *kb_status_code(int status)
{
    const struct krb5bridge_error *e = lookup(status);
    return e ? e->code : NULL;
}

const char *kb_status_message(int status)
{
    const struct krb5bridge_error *e = lookup(status);
    return e ? e->message : NULL;
}

int kb_ticket_status(enum kb_ticket_state t)
{
    switch (t) {
    case KB_TICKET_OK:
        return 0;
    case KB_TICKET_NONE:
        return KRB5BRIDGE_E_NO_TICKET;
    case KB_TICKET_NO_TGT:
        return KRB5BRIDGE_E_NO_TGT;
    case KB_TICKET_EXPIRED:
        return KRB5BRIDGE_E_TICKET_EXPIRED;
    default:
        return KRB5BRIDGE_E_KRB5;
    }
}

int kb_status_is_no_ticket(int status)
{
    return status == KRB5BRIDGE_E_NO_TICKET || status == KRB5BRIDGE_E_NO_TGT
        || status == KRB5BRIDGE_E_TICKET_EXPIRED;
}

int kb_status_is_not_found(int status)
{
    return status == KRB5BRIDGE_E_NOT_FOUND;
}

void kb_describe_status(int status, char *line, size_t len)
{
    const char *msg = kb_status_message(status);

    if (msg != NULL)
        snprintf(line, len, "krb5bridge: %s", msg);
    else
        snprintf(line, len, "krb5bridge: the helper failed with exit status %d", status);
}

int kb_error_line(const char *text, char *line, size_t len, char *code, size_t codelen)
{
    const char *p = text, *found = NULL;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, "krb5bridge: E_", 14) == 0)
            found = p;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    if (found == NULL)
        return -1;
    const char *end = strchr(found, '\n'), *colon = strchr(found + 12, ':');
    size_t n = end ? (size_t)(end - found) : strlen(found);
    if (colon != NULL && colon < found + n && colon[1] == ' ') {
        snprintf(code, codelen, "%.*s", (int)(colon - (found + 12)), found + 12);
        snprintf(line, len, "krb5bridge: %.*s", (int)(found + n - (colon + 2)), colon + 2);
    } else {
        snprintf(line, len, "%.*s", (int)n, found);
    }
    return 0;
}

void kb_describe_failure(const struct kb_run_result *res, const char *verb, int timeout_s,
                         char *line, size_t len, char *code, size_t codelen)
{
    code[0] = '\0';
    if (res->timed_out) {
        /* The helper bounds the store exchange itself (timeout_s) and says so when the store is slow;
         * being killed means it did not even finish within that plus Node's start-up. */
        snprintf(line, len, "krb5bridge: the helper (%s) did not finish within %d s: the store exchange has %d s "
                 "of that, the rest is for starting Node; the machine may be overloaded, try again",
                 verb, timeout_s + KB_STARTUP_S, timeout_s);
    } else if (res->exec_failed) {
        snprintf(line, len, "krb5bridge: cannot start the helper; check node= and helper= in plugstack.conf (%.*s)",
                 (int)strcspn(res->err, "\n"), res->err);
    } else if (res->signal != 0) {
        snprintf(line, len, "krb5bridge: helper %s was killed by signal %d", verb, res->signal);
    } else if (kb_error_line(res->err, line, len, code, codelen) == 0) {
        /* the helper said it best */
    } else if (res->status > 0) {
        const char *c = kb_status_code(res->status);
        snprintf(code, codelen, "%s", c ? c : "");
        kb_describe_status(res->status, line, len);
    } else {
        snprintf(line, len, "krb5bridge: helper %s failed (%.*s)", verb, (int)strcspn(res->err, "\n"), res->err);
    }
}
