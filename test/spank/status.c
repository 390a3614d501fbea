/* Tests of spank/status.c: exit status -> code/message, one line a person can act on. */
#include "status.h"
#include "tap.h"

static struct kb_run_result res;

static void describe(const char *err, int status, char *line, char *code)
{
    memset(&res, 0, sizeof(res));
    snprintf(res.err, sizeof(res.err), "%s", err);
    res.status = status;
    kb_describe_failure(&res, "push", 5, line, 512, code, 64);
}

int main(void)
{
    char line[512], code[64];

    is_str(kb_status_code(10), "E_NO_TICKET", "status 10 is E_NO_TICKET (registry in errors.h)");
    is_str(kb_status_code(33), "E_NOT_FOUND", "status 33 is E_NOT_FOUND");
    ok(kb_status_code(99) == NULL && kb_status_message(99) == NULL, "unknown status has no code");
    ok(kb_ticket_status(KB_TICKET_OK) == 0 && kb_ticket_status(KB_TICKET_NONE) == 10
           && kb_ticket_status(KB_TICKET_NO_TGT) == 12 && kb_ticket_status(KB_TICKET_EXPIRED) == 11
           && kb_ticket_status(KB_TICKET_KRB5_ERROR) == 13,
       "ticket states map to E_NO_TICKET, E_NO_TGT, E_TICKET_EXPIRED, E_KRB5");
    ok(kb_status_is_no_ticket(10) && kb_status_is_no_ticket(11) && kb_status_is_no_ticket(12)
           && !kb_status_is_no_ticket(21), "no-ticket statuses");
    ok(kb_status_is_not_found(33) && !kb_status_is_not_found(10), "not-found status");

    kb_describe_status(10, line, sizeof(line));
    is_str(line, "krb5bridge: no Kerberos ticket found; run kinit, then submit again", "status line from the registry");

    describe("node: warning\nkrb5bridge: E_STORE_UNREACHABLE: cannot reach the credential store; check it: "
             "127.0.0.1:1 ECONNREFUSED\n", 21, line, code);
    is_str(line, "krb5bridge: cannot reach the credential store; check it: 127.0.0.1:1 ECONNREFUSED",
           "the helper's own line is relayed without its code");
    is_str(code, "E_STORE_UNREACHABLE", "and the code is kept for the logs");

    describe("krb5bridge: E_IO: first\nkrb5bridge: E_AUTH: second\n", 24, line, code);
    is_str(line, "krb5bridge: second", "the last helper line wins");

    describe("Segmentation fault\n", 33, line, code);
    is_str(line, "krb5bridge: the store holds no credential for this user; the user must submit with a valid "
                 "ticket (kinit)", "without a helper line the registry message is used");
    is_str(code, "E_NOT_FOUND", "with its code");

    describe("", 200, line, code);
    is_str(line, "krb5bridge: the helper failed with exit status 200", "unknown status is said as a number");

    memset(&res, 0, sizeof(res));
    res.timed_out = 1;
    res.signal = 9;
    kb_describe_failure(&res, "materialise", 5, line, sizeof(line), code, sizeof(code));
    is_str(line, "krb5bridge: the helper (materialise) did not finish within 35 s: the store exchange has 5 s of that, "
           "the rest is for starting Node; the machine may be overloaded, try again",
           "a helper killed at its deadline: it did not finish (its own store timeout would have said the store)");
    is_str(code, "", "no registry code: the store may well have answered");

    memset(&res, 0, sizeof(res));
    res.status = 127;
    res.exec_failed = 1;
    snprintf(res.err, sizeof(res.err), "krb5bridge: cannot execute /usr/bin/nodee (errno 2)\n");
    kb_describe_failure(&res, "push", 5, line, sizeof(line), code, sizeof(code));
    is_str(line, "krb5bridge: cannot start the helper; check node= and helper= in plugstack.conf "
                 "(krb5bridge: cannot execute /usr/bin/nodee (errno 2))", "exec failure names plugstack.conf");

    memset(&res, 0, sizeof(res));
    res.status = -1;
    res.signal = 11;
    kb_describe_failure(&res, "push", 5, line, sizeof(line), code, sizeof(code));
    is_str(line, "krb5bridge: helper push was killed by signal 11", "signal death");
    return tap_done();
}
