/*
 * What the job's user is told, in one line each: at submission, a warning when the ticket will not
 * last the job; at task start (in the job's own stderr), whether the job has its credential, which
 * one, or why not yet. Pure functions: the hooks print what these return.
 */
#ifndef KRB5BRIDGE_TELL_H
#define KRB5BRIDGE_TELL_H

#include <stddef.h>
#include <time.h>
#include "checks.h"

/*
 * The submission warning for ticket `t`, for a job whose time limit is `limit_min` minutes
 * (-1: none given), submitted at `now`; "" when the ticket will do. Not renewable: it is lost when
 * it expires. Renewable only until before the time limit's end: lost then.
 */
void kb_submit_warning(const struct kb_tgt *t, long limit_min, time_t now, char *out, size_t len);

/*
 * The line at task start for what materialise answered, or "" to say nothing (a ccache reused from
 * an earlier step; a user without a ticket in mode auto, who was told at submission).
 */
void kb_task_line(const struct kb_materialised *m, int mode_auto, char *out, size_t len);

/* The line at task start when the job could get no ccache path at all (msg: the failure). */
void kb_task_failed_line(const char *msg, char *out, size_t len);

/*
 * The line at task start when this node's settings are broken (conf_err: which and what it takes):
 * krb5bridge does nothing for the job, says so, and the job's KRB5CCNAME is unset.
 */
void kb_task_settings_line(const char *conf_err, char *out, size_t len);

/* "2026-12-01 10:00:00" (local time). */
void kb_time_str(time_t t, char *out, size_t len);

#endif
