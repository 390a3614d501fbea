/* What the job's user is told; see tell.h. */
#include "tell.h"

#include <stdio.h>
#include <string.h>

void kb_time_str(time_t t, char *out, size_t len)
{
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, len, "%lld", (long long)t);
}

/* A duration in minutes as Slurm writes it: D-HH:MM or HH:MM. */
static void minutes_str(long m, char *out, size_t len)
{
    if (m >= 1440)
        snprintf(out, len, "%ld-%02ld:%02ld", m / 1440, (m / 60) % 24, m % 60);
    else
        snprintf(out, len, "%02ld:%02ld", m / 60, m % 60);
}

void kb_submit_warning(const struct kb_tgt *t, long limit_min, time_t now, char *out, size_t len)
{
    char end[32], until[32], limit[32], jobend[32];

    out[0] = '\0';
    kb_time_str(t->endtime, end, sizeof(end));
    if (!t->renewable || t->renew_till <= t->endtime) {
        snprintf(out, len, "krb5bridge: warning: your Kerberos ticket (%s) is not renewable: the job loses it when "
                 "it expires at %s. For a job that runs longer, get a renewable ticket (kinit -r 7d) and submit "
                 "again.", t->principal, end);
        return;
    }
    if (limit_min > 0 && t->renew_till < now + (time_t)limit_min * 60) {
        kb_time_str(t->renew_till, until, sizeof(until));
        kb_time_str(now + (time_t)limit_min * 60, jobend, sizeof(jobend));
        minutes_str(limit_min, limit, sizeof(limit));
        snprintf(out, len, "krb5bridge: warning: your Kerberos ticket (%s) can be renewed only until %s, but the "
                 "job may run until %s or later (time limit %s): it loses its ticket then. Get a ticket "
                 "renewable for longer (kinit -r) and submit again, or give a shorter --time.",
                 t->principal, until, jobend, limit);
    }
}

void kb_task_line(const struct kb_materialised *m, int mode_auto, char *out, size_t len)
{
    char end[32], until[32];

    out[0] = '\0';
    if (m->kind == KB_ANSWER_TICKET) {
        kb_time_str((time_t)m->endtime, end, sizeof(end));
        kb_time_str((time_t)m->renew_till, until, sizeof(until));
        snprintf(out, len, "krb5bridge: this job uses the Kerberos ticket of %s held by the credential store "
                 "(valid until %s, renewed until %s) in %s", m->principal, end, until, m->path);
    } else if (m->kind == KB_ANSWER_PENDING && !(mode_auto && strcmp(m->code, "E_NOT_FOUND") == 0)) {
        snprintf(out, len, "krb5bridge: no Kerberos ticket for this job yet (%s: %s); it is written to %s "
                 "(KRB5CCNAME) as soon as it can be had", m->code, m->message, m->path);
    }
}

void kb_task_settings_line(const char *conf_err, char *out, size_t len)
{
    snprintf(out, len, "krb5bridge: the krb5bridge settings of this node are broken (%s): this job has no Kerberos "
             "credentials from krb5bridge (KRB5CCNAME is unset). Tell the site's administrators.", conf_err);
}

void kb_task_failed_line(const char *msg, char *out, size_t len)
{
    snprintf(out, len, "%s. This job runs without Kerberos credentials (KRB5CCNAME is unset).", msg);
}
