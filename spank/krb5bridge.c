/*
 * krb5bridge SPANK plugin: thin hooks that decide whether there is work and run the helper.
 *   srun/sbatch/salloc (as the user): push the user's TGT to the store, unless the push marker
 *     shows the store already has this very ticket (checked in C: no Node start).
 *   slurmstepd (root): give the job a private ccache (materialise) and export KRB5CCNAME,
 *     unless the job record shows it already has one (checked in C).
 *   job end (root, every node): destroy the job's ccache.
 * Hooks on a node never fail, not even on bad settings: a failing remote hook or epilog drains the
 * node on batch jobs. Only the submit side refuses (bad settings; policy=fail; --krb5=yes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "checks.h"
#include "config.h"
#include "keeper.h"
#include "run.h"
#include "status.h"
#include "tell.h"
#include "timelimit.h"

#define KB_EXPORT __attribute__((visibility("default")))

KB_EXPORT extern const char plugin_name[];
KB_EXPORT extern const char plugin_type[];
KB_EXPORT extern const unsigned int plugin_version;
KB_EXPORT extern const unsigned int spank_plugin_version;
SPANK_PLUGIN(krb5bridge, 1);

/* The keeper gets this much longer than the store timeout (it is running: no start-up). */
#define KB_GRACE_MS 2000
/* With no local ticket, a stored ticket valid for at least this long still serves the job. */
#define KB_STORED_MARGIN 300
#define KB_ROOT_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define KB_USER_PATH "PATH=/usr/bin:/bin"

static struct kb_conf conf;
static enum kb_mode opt_mode;
static int opt_given;

static int opt_cb(int val, const char *optarg, int remote)
{
    enum kb_mode m;

    (void)val;
    (void)remote;
    /* Runs twice per step in slurmstepd: only ever records the value. */
    if (kb_parse_mode(optarg, &m) != 0) {
        slurm_error("krb5bridge: --krb5 takes yes, no or auto, not \"%s\"", optarg);
        return -1;
    }
    opt_mode = m;
    opt_given = 1;
    return 0;
}

static struct spank_option krb5_option = {
    "krb5", "yes|no|auto",
    "Kerberos credentials for the job: yes = require your ticket (kinit), no = none, "
    "auto = use your ticket if you have one (the site's default)",
    2, 0, opt_cb,
};

static enum kb_mode effective_mode(void)
{
    return opt_given ? opt_mode : conf.mode;
}

static enum { CONF_UNREAD, CONF_OK, CONF_BAD } conf_state;
static char conf_err[1024];

/* Settings from plugstack.conf, then the config file, once per process; -1 (conf_err says why) if bad. */
static int load_conf(int ac, char **av)
{
    if (conf_state == CONF_UNREAD) {
        kb_conf_defaults(&conf);
        conf_state = kb_conf_parse_args(&conf, ac, av, conf_err, sizeof(conf_err)) == 0
                  && kb_conf_read_file(&conf, conf_err, sizeof(conf_err)) == 0 ? CONF_OK : CONF_BAD;
    }
    return conf_state == CONF_OK ? 0 : -1;
}

static int submit_side(void)
{
    spank_context_t ctx = spank_context();
    return ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR;
}

/*
 * A bad setting (conf_err names it and what it takes). On the submit side (srun, sbatch, salloc)
 * the submission is refused (-1) and the user reads why. On a node (slurmstepd, slurmd, the epilog)
 * failing would fail the job and drain the node ("batch job complete failure") over a setting, so
 * the error goes to the node's log and krb5bridge does nothing for the job (`consequence`): 0.
 */
static int bad_settings(spank_t sp, const char *consequence)
{
    uint32_t job;

    if (submit_side()) {
        slurm_error("krb5bridge: %s. The job is not submitted: that setting must be fixed first "
                    "(tell the site's administrators).", conf_err);
        return -1;
    }
    if (spank_get_item(sp, S_JOB_ID, &job) == ESPANK_SUCCESS)
        slurm_error("krb5bridge: %s. krb5bridge does nothing for job %" PRIu32 " on this node until that is fixed: "
                    "%s; the node stays up.", conf_err, job, consequence);
    else
        slurm_error("krb5bridge: %s. krb5bridge does nothing for jobs on this node until that is fixed; "
                    "the node stays up.", conf_err);
    return 0;
}

KB_EXPORT int slurm_spank_init(spank_t sp, int ac, char **av)
{
    spank_err_t rc;

    /* Registered even with bad settings, so that slurmstepd still knows the option srun passes on. */
    if (submit_side() || spank_context() == S_CTX_REMOTE) {
        if ((rc = spank_option_register(sp, &krb5_option)) != ESPANK_SUCCESS) {
            slurm_error("krb5bridge: cannot register --krb5: %s", spank_strerror(rc));
            if (submit_side())
                return -1;
        }
    }
    if (load_conf(ac, av) != 0)
        return bad_settings(sp, "the job runs without Kerberos credentials from krb5bridge");
    return 0;
}

/* An option and its value. */
static void add_opt(struct kb_argv *a, const char *name, const char *value)
{
    kb_argv_add(a, name);
    kb_argv_add(a, value);
}

/* argv: NODE HELPER VERB, then the settings every verb shares. */
static void helper_argv(struct kb_argv *a, const char *verb)
{
    kb_argv_init(a);
    kb_argv_add(a, conf.node);
    kb_argv_add(a, conf.helper);
    kb_argv_add(a, verb);
    if (conf.config[0])
        add_opt(a, "--config", conf.config);
    add_opt(a, "--store", conf.store);
    if (conf.munge_socket[0])
        add_opt(a, "--munge-socket", conf.munge_socket);
    kb_argv_add(a, "--timeout");
    kb_argv_addf(a, "%d", conf.timeout);
}

/* Copy with truncation (snprintf "%s" would make -Wformat-truncation complain). */
static void copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Run the helper; on failure describe it in `line`. Returns the exit status (0 = success). */
static int run_helper(const struct kb_argv *argv, const struct kb_argv *envp, const char *verb, char *out,
                      size_t outlen, char *line, size_t len, char *code, size_t codelen)
{
    struct kb_run_result *res;
    int status;

    code[0] = '\0';
    if (argv->overflow || envp->overflow) {
        snprintf(line, len, "krb5bridge: internal error: the helper %s command does not fit in %d arguments "
                 "of %d bytes; please report it", verb, KB_ARGV_MAX, KB_ARGV_BUF);
        return -1;
    }
    if ((res = calloc(1, sizeof(*res))) == NULL) {
        snprintf(line, len, "krb5bridge: out of memory");
        return -1;
    }
    /* The helper bounds the store exchange itself; this deadline also covers Node's start-up. */
    if (kb_run(conf.node, argv->v, envp->v, (conf.timeout + KB_STARTUP_S) * 1000, res) != 0) {
        copy_str(line, len, res->err);
        free(res);
        return -1;
    }
    status = (res->status == 0 && !res->timed_out) ? 0 : (res->status > 0 ? res->status : -1);
    if (status != 0)
        kb_describe_failure(res, verb, conf.timeout, line, len, code, codelen);
    else if (out != NULL)
        copy_str(out, outlen, res->out_len < outlen ? res->out : ""); /* too long: not our line */
    free(res);
    return status;
}

/* ---- srun / sbatch / salloc: push, as the user ---- */

/*
 * Tell the user about a push failure. Returns the hook's result: -1 refuses the submission
 * (policy=fail, or --krb5=yes without a ticket), 0 lets the job run without credentials.
 */
static int push_failed(int status, const char *line)
{
    int fatal = conf.policy == KB_POLICY_FAIL
        || (effective_mode() == KB_MODE_YES && kb_status_is_no_ticket(status));

    if (fatal) {
        slurm_spank_log("%s. The job is not submitted (%s).", line,
                        conf.policy == KB_POLICY_FAIL ? "krb5bridge policy=fail" : "--krb5=yes");
        return -1;
    }
    slurm_spank_log("%s. The job runs without Kerberos credentials.", line);
    return 0;
}

/* What the user's push may see of the user's environment (besides PATH=KB_USER_PATH). */
static const char *const user_env[] = { "HOME", "KRB5CCNAME", "KRB5_CONFIG" };

static int push_hook(void)
{
    char line[KB_LINE_LEN], msg[1024], why[1024], path[KB_PATH_LEN + 64], code[64];
    char principal[KB_LINE_LEN], until[32], warning[1024];
    struct kb_argv argv, envp;
    struct kb_tgt tgt;
    time_t now = time(NULL), end;
    uid_t uid = getuid();
    int t, status;

    if (effective_mode() == KB_MODE_NO)
        return 0;
    /* srun inside a job already runs with the job's credentials; push again only if asked. */
    if (getenv("SLURM_JOB_ID") != NULL && !(opt_given && opt_mode == KB_MODE_YES))
        return 0;

    t = kb_marker_line(conf.store, now, line, sizeof(line), &tgt, why, sizeof(why));
    if (t == KB_TICKET_OK) {
        /* Said whether or not the store already holds this ticket: the job outliving it is the point. */
        kb_submit_warning(&tgt, kb_submit_time_limit(), now, warning, sizeof(warning));
        if (warning[0] != '\0')
            slurm_spank_log("%s", warning);
    }
    if (t == KB_TICKET_NONE || t == KB_TICKET_NO_TGT || t == KB_TICKET_EXPIRED) {
        slurm_debug("krb5bridge: %s", why);
        if (kb_marker_path(conf.marker_dir, uid, path, sizeof(path)) == 0
            && kb_marker_stored(path, uid, conf.store, now, KB_STORED_MARGIN, principal, sizeof(principal),
                                &end, why, sizeof(why)) == 0) {
            /* kdestroy after an earlier submission: the store still holds that ticket for the job. */
            strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S", localtime(&end));
            slurm_spank_log("krb5bridge: no Kerberos ticket here; the job uses the ticket of %s that the "
                            "credential store already holds (valid until %s).", principal, until);
            return 0;
        }
        slurm_debug("krb5bridge: %s", why);
        kb_describe_status(kb_ticket_status((enum kb_ticket_state)t), msg, sizeof(msg));
        return push_failed(kb_ticket_status((enum kb_ticket_state)t), msg);
    }
    if (t == KB_TICKET_OK && conf.push_ttl > 0
        && kb_marker_path(conf.marker_dir, uid, path, sizeof(path)) == 0) {
        if (kb_marker_check(path, uid, conf.push_ttl, now, line, why, sizeof(why)) == 0) {
            slurm_debug("krb5bridge: the store already holds this ticket (%s)", path);
            return 0;
        }
        slurm_debug("krb5bridge: pushing: %s", why);
    }

    /* The user's own program with the user's privileges, but nothing that changes what runs. */
    kb_argv_init(&envp);
    kb_argv_add(&envp, KB_USER_PATH);
    for (size_t k = 0; k < sizeof(user_env) / sizeof(user_env[0]); k++) {
        const char *v = getenv(user_env[k]);
        if (v != NULL && strlen(v) < KB_PATH_LEN)
            kb_argv_addf(&envp, "%s=%s", user_env[k], v);
    }
    helper_argv(&argv, "push");
    add_opt(&argv, "--marker-dir", conf.marker_dir);

    status = run_helper(&argv, &envp, "push", NULL, 0, msg, sizeof(msg), code, sizeof(code));
    if (status == 0) {
        slurm_debug("krb5bridge: pushed the ticket to %s", conf.store);
        return 0;
    }
    slurm_debug("krb5bridge: push failed (status %d, %s)", status, code);
    return push_failed(status, msg);
}

/* ---- slurmstepd: materialise, as root ---- */

/* An explicit minimal environment: nothing from the job reaches root's helper. */
static void root_envp(struct kb_argv *envp)
{
    kb_argv_init(envp);
    kb_argv_add(envp, KB_ROOT_PATH);
    if (conf.krb5_config[0])
        kb_argv_addf(envp, "KRB5_CONFIG=%s", conf.krb5_config);
}

static int export_ccache(spank_t sp, uint32_t job, const char *path)
{
    char value[KB_PATH_LEN + 16];
    spank_err_t rc;

    snprintf(value, sizeof(value), "FILE:%s", path);
    if ((rc = spank_setenv(sp, "KRB5CCNAME", value, 1)) != ESPANK_SUCCESS) {
        slurm_error("krb5bridge: job %" PRIu32 ": cannot set KRB5CCNAME: %s", job, spank_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- compute node, as root: ask the node keeper, else run the helper ---- */

/* What a verb done on the node gave, whoever did it. */
struct kb_answer {
    int status;                  /* 0 = done; > 0 = exit status (E_*); -1 = could not be done */
    char out[KB_PATH_LEN + 128]; /* status 0: the answer (keeper's "ok" text, or the helper's stdout) */
    char msg[1024];              /* status != 0: one line "krb5bridge: <what failed; what to do>" */
    char code[64];               /* the registry code of a failure, "" if none */
};

/* Decides whether an answer can be used: 0, or -1 with why. */
typedef int (*kb_answer_check)(const char *out, void *arg, char *why, size_t whylen);

/*
 * Do `verb` for `job`: ask the node keeper `request` (no Node start: a few ms); when no usable
 * keeper answers (none, an untrusted socket, a timeout, a garbled answer, or an answer `check`
 * refuses) run the helper with argv/envp instead, which does the same. An error the keeper answers
 * is the verb's failure, as the helper's would be. `check` (NULL: any answer) verifies a success.
 */
static void keeper_else_helper(const char *verb, uint32_t job, const char *request, const struct kb_argv *argv,
                               const struct kb_argv *envp, kb_answer_check check, void *arg, struct kb_answer *a)
{
    char why[1024];
    int k = kb_keeper_request(conf.keeper_socket, 0, request, conf.timeout * 1000 + KB_GRACE_MS, a->out,
                              sizeof(a->out), why, sizeof(why));

    a->code[0] = a->msg[0] = '\0';
    if (k > 0) {
        a->status = k;
        if (kb_error_line(a->out, a->msg, sizeof(a->msg), a->code, sizeof(a->code)) != 0)
            kb_describe_status(k, a->msg, sizeof(a->msg));
        return;
    }
    if (k == KB_KEEPER_OK) {
        if (check == NULL || check(a->out, arg, why, sizeof(why)) == 0) {
            a->status = 0;
            return;
        }
        slurm_error("krb5bridge: job %" PRIu32 ": the keeper's answer is unusable (%s); running the helper", job, why);
    } else {
        slurm_debug("krb5bridge: job %" PRIu32 ": no keeper (%s); running the helper", job, why);
    }
    a->status = run_helper(argv, envp, verb, a->out, sizeof(a->out), a->msg, sizeof(a->msg), a->code,
                           sizeof(a->code));
    if (a->status == 0 && check != NULL && check(a->out, arg, why, sizeof(why)) != 0) {
        a->status = -1;
        snprintf(a->msg, sizeof(a->msg), "krb5bridge: the helper's answer is unusable (%.900s)", why);
    }
}

/* The job whose ccache a materialise answer must name, and what the answer said. */
struct ccache_want {
    uid_t uid;
    uint32_t job;
    struct kb_materialised m;
};

/*
 * Trust but verify: a materialise answer's ccache must pass the same checks as the fast path's;
 * a pending one (reserved, written later) only the name checks.
 */
static int answer_ccache(const char *out, void *arg, char *why, size_t whylen)
{
    struct ccache_want *w = arg;

    if (kb_parse_materialised(out, &w->m, why, whylen) != 0)
        return -1;
    if (w->m.kind == KB_ANSWER_PENDING)
        return kb_ccache_name_check(w->m.path, conf.ccache_dir, w->uid, w->job, why, whylen);
    return kb_ccache_check(w->m.path, conf.ccache_dir, w->uid, w->job, why, whylen);
}

/* The line the job's first task prints at its start (tell.c), set by materialise in slurmstepd. */
static char task_line[2048];

/* The job runs without credentials; a user the store does not know is no error in mode auto. */
static void materialise_failed(int status, const char *msg, uint32_t job, uid_t uid)
{
    if (effective_mode() == KB_MODE_AUTO && kb_status_is_not_found(status))
        slurm_info("%s (job %" PRIu32 ", uid %lu). The job runs without Kerberos credentials.", msg, job,
                   (unsigned long)uid);
    else
        slurm_error("%s (job %" PRIu32 ", uid %lu). The job runs without Kerberos credentials.", msg, job,
                    (unsigned long)uid);
}

static int materialise_hook(spank_t sp)
{
    char why[1024], req[128];
    struct kb_argv argv, envp;
    struct ccache_want want;
    struct kb_answer a;
    gid_t gid;

    if (effective_mode() == KB_MODE_NO)
        return 0;
    if (spank_get_item(sp, S_JOB_UID, &want.uid) != ESPANK_SUCCESS
        || spank_get_item(sp, S_JOB_GID, &gid) != ESPANK_SUCCESS
        || spank_get_item(sp, S_JOB_ID, &want.job) != ESPANK_SUCCESS) {
        slurm_error("krb5bridge: cannot read the job's uid, gid or id; the job runs without Kerberos credentials");
        return 0;
    }
    if (want.uid == 0)
        return 0; /* the store never holds root's credentials */

    if (kb_record_check(conf.state_dir, conf.ccache_dir, want.job, want.uid, 0, want.m.path, sizeof(want.m.path),
                        why, sizeof(why)) == 0) {
        export_ccache(sp, want.job, want.m.path);
        return 0;
    }
    slurm_debug("krb5bridge: job %" PRIu32 ": materialising: %s", want.job, why);

    snprintf(req, sizeof(req), "materialise %lu %lu %" PRIu32, (unsigned long)want.uid, (unsigned long)gid,
             want.job);
    helper_argv(&argv, "materialise");
    kb_argv_add(&argv, "--uid");
    kb_argv_addf(&argv, "%lu", (unsigned long)want.uid);
    kb_argv_add(&argv, "--gid");
    kb_argv_addf(&argv, "%lu", (unsigned long)gid);
    kb_argv_add(&argv, "--job");
    kb_argv_addf(&argv, "%" PRIu32, want.job);
    add_opt(&argv, "--state-dir", conf.state_dir);
    add_opt(&argv, "--ccache-dir", conf.ccache_dir);
    root_envp(&envp);

    keeper_else_helper("materialise", want.job, req, &argv, &envp, answer_ccache, &want, &a);
    if (a.status != 0) {
        materialise_failed(a.status, a.msg, want.job, want.uid);
        /* Never the submit host's ccache (srun passes its KRB5CCNAME on): no path at all is better. */
        spank_unsetenv(sp, "KRB5CCNAME");
        kb_task_failed_line(a.msg, task_line, sizeof(task_line));
        return 0;
    }
    if (want.m.kind == KB_ANSWER_PENDING)
        slurm_info("krb5bridge: job %" PRIu32 ", uid %lu: no ticket yet (%s: %s); %s is written as soon as it can be",
                   want.job, (unsigned long)want.uid, want.m.code, want.m.message, want.m.path);
    export_ccache(sp, want.job, want.m.path);
    kb_task_line(&want.m, effective_mode() == KB_MODE_AUTO, task_line, sizeof(task_line));
    return 0;
}

/*
 * In the job's first task, as the user, before the program starts: the one line materialise left,
 * on the job's own stderr (srun's terminal, or the batch job's error file).
 */
KB_EXPORT int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    uint32_t task = 0;

    (void)ac;
    (void)av;
    if (task_line[0] == '\0' || spank_context() != S_CTX_REMOTE)
        return 0;
    if (spank_get_item(sp, S_TASK_GLOBAL_ID, &task) == ESPANK_SUCCESS && task == 0)
        fprintf(stderr, "%s\n", task_line);
    return 0;
}

KB_EXPORT int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
    if (conf_state != CONF_OK) {
        /* Bad settings: init refused the submission, or logged them on the node. There the job runs,
         * without the submit host's KRB5CCNAME (meaningless here), and its user is told at task start. */
        if (spank_context() == S_CTX_REMOTE && !(opt_given && opt_mode == KB_MODE_NO)) {
            spank_unsetenv(sp, "KRB5CCNAME");
            kb_task_settings_line(conf_err, task_line, sizeof(task_line));
        }
        return 0;
    }
    switch (spank_context()) {
    case S_CTX_LOCAL:
    case S_CTX_ALLOCATOR:
        return push_hook();
    case S_CTX_REMOTE:
        return materialise_hook(sp);
    default:
        return 0;
    }
}

/* ---- job end: destroy, as root ---- */

static int destroy(spank_t sp)
{
    char rec[KB_PATH_LEN + 40], req[128];
    struct kb_argv argv, envp;
    struct kb_answer a;
    struct stat st;
    uid_t uid;
    uint32_t job;

    if (spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS
        || spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS) {
        slurm_error("krb5bridge: epilog: cannot read the job's uid or id; its ccache (if any) stays until reboot");
        return 0;
    }
    /* No record, nothing to destroy: no Node start for the jobs that never had credentials. */
    snprintf(rec, sizeof(rec), "%s/jobs/%" PRIu32, conf.state_dir, job);
    if (lstat(rec, &st) != 0 && errno == ENOENT)
        return 0;

    /* The keeper, if it runs, destroys without a Node start and forgets the job at once. */
    snprintf(req, sizeof(req), "destroy %lu %" PRIu32, (unsigned long)uid, job);
    helper_argv(&argv, "destroy");
    kb_argv_add(&argv, "--uid");
    kb_argv_addf(&argv, "%lu", (unsigned long)uid);
    kb_argv_add(&argv, "--job");
    kb_argv_addf(&argv, "%" PRIu32, job);
    add_opt(&argv, "--state-dir", conf.state_dir);
    root_envp(&envp);

    keeper_else_helper("destroy", job, req, &argv, &envp, NULL, NULL, &a);
    if (a.status != 0)
        slurm_error("%s (job %" PRIu32 ", uid %lu)", a.msg, job, (unsigned long)uid);
    return 0;
}

/*
 * Observed on Slurm 22.05 (see docs/hooks.md): slurmd runs `slurmstepd spank epilog` at the end of
 * every job on every node it ran on, even with no Epilog= script, as root, with S_JOB_UID and
 * S_JOB_ID available; slurm_spank_init is NOT called there, so the arguments are parsed here.
 */
KB_EXPORT int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    /* A failing epilog drains the node: always 0. */
    if (load_conf(ac, av) != 0)
        (void)bad_settings(sp, "its credential cache, if any, is not destroyed");
    else
        (void)destroy(sp);
    return 0;
}
