/* What the job's user is told (spank/tell.c): the exact lines, at submission and at task start. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "tell.h"

int main(void)
{
    char out[2048];
    struct kb_tgt t;
    struct kb_materialised m;
    time_t now = 1800000000; /* 2027-01-15 08:00:00 UTC */

    setenv("TZ", "UTC", 1);
    tzset();
    memset(&t, 0, sizeof(t));
    snprintf(t.principal, sizeof(t.principal), "alice@EX.TEST");
    t.endtime = now + 3600;
    t.renew_till = now + 7 * 86400;
    t.renewable = 1;

    kb_submit_warning(&t, 60, now, out, sizeof(out));
    is_str(out, "", "a renewable ticket that outlasts the time limit: nothing to say");
    kb_submit_warning(&t, -1, now, out, sizeof(out));
    is_str(out, "", "no time limit given: nothing to say about it");

    kb_submit_warning(&t, 8 * 1440, now, out, sizeof(out));
    is_str(out, "krb5bridge: warning: your Kerberos ticket (alice@EX.TEST) can be renewed only until 2027-01-22 08:00:00, "
                "but the job may run until 2027-01-23 08:00:00 or later (time limit 8-00:00): it loses its ticket then. "
                "Get a ticket renewable for longer (kinit -r) and submit again, or give a shorter --time.",
           "renew-until before the end of the time limit: said, with both times");

    t.renewable = 0;
    t.renew_till = 0;
    kb_submit_warning(&t, 30, now, out, sizeof(out));
    is_str(out, "krb5bridge: warning: your Kerberos ticket (alice@EX.TEST) is not renewable: the job loses it when it "
                "expires at 2027-01-15 09:00:00. For a job that runs longer, get a renewable ticket (kinit -r 7d) and "
                "submit again.",
           "a ticket that is not renewable: said whatever the time limit");
    t.renewable = 1;
    t.renew_till = t.endtime;
    kb_submit_warning(&t, -1, now, out, sizeof(out));
    ok(strstr(out, "is not renewable") != NULL, "renewable but already at its renew-until: not renewable either");

    memset(&m, 0, sizeof(m));
    snprintf(m.path, sizeof(m.path), "/tmp/krb5cc_1000_7_Ab9xYz");
    m.kind = KB_ANSWER_TICKET;
    snprintf(m.principal, sizeof(m.principal), "alice@EX.TEST");
    m.endtime = now + 3600;
    m.renew_till = now + 86400;
    kb_task_line(&m, 1, out, sizeof(out));
    is_str(out, "krb5bridge: this job uses the Kerberos ticket of alice@EX.TEST held by the credential store (valid until "
                "2027-01-15 09:00:00, renewed until 2027-01-16 08:00:00) in /tmp/krb5cc_1000_7_Ab9xYz",
           "task start: which stored ticket the job uses");

    m.kind = KB_ANSWER_PENDING;
    snprintf(m.code, sizeof(m.code), "E_STORE_UNREACHABLE");
    snprintf(m.message, sizeof(m.message), "cannot connect to 127.0.0.1:7386: ECONNREFUSED");
    kb_task_line(&m, 1, out, sizeof(out));
    is_str(out, "krb5bridge: no Kerberos ticket for this job yet (E_STORE_UNREACHABLE: cannot connect to 127.0.0.1:7386: "
                "ECONNREFUSED); it is written to /tmp/krb5cc_1000_7_Ab9xYz (KRB5CCNAME) as soon as it can be had",
           "task start: no credential yet, and why");

    snprintf(m.code, sizeof(m.code), "E_NOT_FOUND");
    kb_task_line(&m, 1, out, sizeof(out));
    is_str(out, "", "mode auto, the store holds nothing for the user: said at submission, not again");
    kb_task_line(&m, 0, out, sizeof(out));
    ok(strncmp(out, "krb5bridge: no Kerberos ticket for this job yet (E_NOT_FOUND: ", 62) == 0, "mode yes: said");

    m.kind = KB_ANSWER_PLAIN;
    kb_task_line(&m, 0, out, sizeof(out));
    is_str(out, "", "a ccache reused from an earlier step: nothing");

    kb_task_failed_line("krb5bridge: ccache directory /tmp is writable by others but not sticky (mode 0777)", out, sizeof(out));
    is_str(out, "krb5bridge: ccache directory /tmp is writable by others but not sticky (mode 0777). This job runs without "
                "Kerberos credentials (KRB5CCNAME is unset).",
           "no path at all: the failure, and that KRB5CCNAME is unset");

    kb_task_settings_line("bad value for plugstack.conf argument timeout: \"abc\" (expected whole seconds from 1 to 3600)", out, sizeof(out));
    is_str(out, "krb5bridge: the krb5bridge settings of this node are broken (bad value for plugstack.conf argument timeout: "
                "\"abc\" (expected whole seconds from 1 to 3600)): this job has no Kerberos credentials from krb5bridge "
                "(KRB5CCNAME is unset). Tell the site's administrators.",
           "broken settings on the node: which, that KRB5CCNAME is unset, whom to tell");
    return tap_done();
}
