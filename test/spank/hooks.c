/*
 * The plugin's hooks (spank/krb5bridge.c) driven through a fake SPANK host. The helper is a small
 * /bin/sh script (node=/bin/sh helper=SCRIPT) that records its argv and environment; it stands in
 * for the Node helper only, so the plugin's own decisions, fast paths and messages are what is
 * tested. Each scenario runs in a fresh process (the plugin keeps per-process state, like Slurm).
 */
#define _GNU_SOURCE
#include "checks.h"
#include "fake_spank.h"
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int slurm_spank_init(spank_t sp, int ac, char **av);
int slurm_spank_init_post_opt(spank_t sp, int ac, char **av);
int slurm_spank_job_epilog(spank_t sp, int ac, char **av);

#define ALICE 4343
#define JOB 91

static char dir[64], script[128], state[128], ccdir[128], markers[128], calls[128], ksock[96], kgot[128];
static char a_node[160], a_helper[160], a_state[160], a_cc[160], a_mk[160], a_k5[160], a_ks[160];

static const char *SCRIPT =
    "#!/bin/sh\n"
    "d=%s\n"
    "{ printf '%%s\\n' \"$@\"; echo ---; env | grep -v '^PWD=' | sort; } > $d/calls\n"
    "uid= gid= job=\n"
    "while [ $# -gt 0 ]; do case $1 in --uid) uid=$2;; --gid) gid=$2;; --job) job=$2;; esac; shift; done\n"
    "case $(cat $d/helper-mode 2>/dev/null) in\n"
    "  fail) echo 'krb5bridge: E_STORE_UNREACHABLE: cannot reach the credential store; check: 127.0.0.1:1' >&2; exit 21;;\n"
    "  ok) f=$d/cc/krb5cc_${uid}_${job}_Zz9Zz9; : > $f; chown $uid:$gid $f; chmod 600 $f; echo KRB5CCNAME=FILE:$f;;\n"
    "  garbage) echo hello;;\n"
    "esac\n"
    "exit 0\n";

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (f) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return f ? buf : NULL;
}

static void helper_mode(const char *m)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/helper-mode", dir);
    write_text(p, m, 0644);
}

enum hook { INIT_ONLY, POST_OPT, EPILOG };

/*
 * Run one scenario in a child: init (unless epilog), the option callback with `opt` (if not NULL),
 * then the hook. Returns the last hook's rc (or 100+ on a crash). `args` is NULL-terminated.
 */
static int scenario(spank_context_t ctx, enum hook hook, const char *opt, char **args)
{
    int ac = 0, st = 0, rc;
    pid_t pid;

    while (args[ac])
        ac++;
    unlink(calls);
    memset(fake, 0, sizeof(*fake));
    fake->context = ctx;
    fake->uid = ALICE;
    fake->gid = ALICE;
    fake->job = JOB;
    fflush(stdout);
    if ((pid = fork()) == 0) {
        if (hook != EPILOG) {
            rc = slurm_spank_init(NULL, ac, args);
            if (rc != 0 || hook == INIT_ONLY)
                _exit(rc == 0 ? 0 : 1);
            if (opt != NULL && fake->option.cb(0, strcmp(opt, "(bare)") == 0 ? NULL : opt, ctx == S_CTX_REMOTE) != 0)
                _exit(2);
            rc = slurm_spank_init_post_opt(NULL, ac, args);
        } else {
            rc = slurm_spank_job_epilog(NULL, ac, args);
        }
        _exit(rc == 0 ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/*
 * A node keeper that answers one connection on ksock with `reply` (plus "\n") and writes what it was
 * asked to kgot. Returns its pid for keeper_done().
 */
static pid_t fake_keeper(const char *reply)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), c;
    pid_t pid;

    unlink(ksock);
    unlink(kgot);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", ksock);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0) {
        perror("fake keeper");
        exit(2);
    }
    fflush(stdout);
    if ((pid = fork()) == 0) {
        char got[600];
        ssize_t n;
        FILE *f;

        if ((c = accept(fd, NULL, NULL)) < 0)
            _exit(1);
        n = read(c, got, sizeof(got) - 1);
        got[n > 0 ? n : 0] = '\0';
        if ((f = fopen(kgot, "w")) != NULL) {
            fputs(got, f);
            fclose(f);
        }
        if (dprintf(c, "%s\n", reply) < 0)
            _exit(1);
        close(c);
        _exit(0);
    }
    close(fd);
    return pid;
}

/* Stop the fake keeper (if nobody asked it) and remove its socket. */
static void keeper_done(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    unlink(ksock);
}

/* A job ccache of alice's in ccdir (a regular file, mode 0600) with this suffix; its path in cc. */
static void make_job_ccache(char *cc, size_t len, const char *suffix)
{
    snprintf(cc, len, "%s/krb5cc_%d_%d_%s", ccdir, ALICE, JOB, suffix);
    write_text(cc, "", 0600);
    if (chown(cc, ALICE, ALICE) != 0)
        perror(cc);
}

static void write_record(const char *cc)
{
    char p[200], text[300];

    mkdir(state, 0700);
    snprintf(p, sizeof(p), "%s/jobs", state);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/jobs/%d", state, JOB);
    snprintf(text, sizeof(text), "%d %s\n", ALICE, cc);
    write_text(p, text, 0600);
}

/* A TGT of alice's for an hour, renewable for a week like a kinit -r 7d one (or not renewable). */
static void make_tgt_ccache(const char *name, int renewable)
{
    krb5_context ctx;
    krb5_ccache cc;
    krb5_creds cr;
    static krb5_octet key[32];
    time_t now = time(NULL);

    memset(&cr, 0, sizeof(cr));
    krb5_init_context(&ctx);
    krb5_cc_resolve(ctx, name, &cc);
    krb5_parse_name(ctx, "alice@EX.TEST", &cr.client);
    krb5_parse_name(ctx, "krbtgt/EX.TEST@EX.TEST", &cr.server);
    krb5_cc_initialize(ctx, cc, cr.client);
    cr.keyblock.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    cr.keyblock.length = sizeof(key);
    cr.keyblock.contents = key;
    cr.ticket.length = 1;
    cr.ticket.data = "t";
    cr.times.authtime = (krb5_timestamp)now;
    cr.times.endtime = (krb5_timestamp)(now + 3600);
    if (renewable) {
        cr.times.renew_till = (krb5_timestamp)(now + 7 * 86400);
        cr.ticket_flags = TKT_FLG_RENEWABLE;
    }
    krb5_cc_store_cred(ctx, cc, &cr);
    cr.keyblock.contents = NULL;
    cr.ticket.data = NULL;
    krb5_free_principal(ctx, cr.client);
    krb5_free_principal(ctx, cr.server);
    krb5_cc_close(ctx, cc);
    krb5_free_context(ctx);
}

#define KNOWN "(known: mode policy node helper config store munge_socket ccache_dir state_dir marker_dir timeout " \
              "push_ttl krb5_config keeper_socket)"
#define NOT_SUBMITTED ". The job is not submitted: that setting must be fixed first (tell the site's administrators).\n"
#define TIMEOUT_ABC "bad value for plugstack.conf argument timeout: \"abc\" (expected whole seconds from 1 to 3600)"

static void init_tests(void)
{
    char *bad[] = { "mode=auto", "bogus=1", NULL }, *good[] = { a_node, NULL }, *typo[] = { a_node, "timeout=abc", NULL };

    ok(scenario(S_CTX_LOCAL, INIT_ONLY, NULL, bad) == 1, "srun: init fails on an unknown plugstack argument");
    is_str(fake->log, "error: krb5bridge: unknown plugstack.conf argument \"bogus\" " KNOWN NOT_SUBMITTED,
           "and the user reads which argument and what to do");
    ok(scenario(S_CTX_ALLOCATOR, INIT_ONLY, NULL, typo) == 1, "sbatch: init fails on a bad plugstack value");
    is_str(fake->log, "error: krb5bridge: " TIMEOUT_ABC NOT_SUBMITTED, "naming the argument and what it takes");
    ok(scenario(S_CTX_ALLOCATOR, INIT_ONLY, NULL, good) == 0 && fake->options == 1, "init registers one option");
    ok(strcmp(fake->option.name, "krb5") == 0 && fake->option.has_arg == 2, "--krb5[=yes|no|auto] (optional argument)");
    ok(scenario(S_CTX_REMOTE, POST_OPT, "maybe", good) == 2, "--krb5=maybe is refused by the option callback");
    ok(scenario(S_CTX_SLURMD, INIT_ONLY, NULL, typo) == 0, "slurmd: a bad plugstack value does not fail init");
    is_str(fake->log, "error: krb5bridge: " TIMEOUT_ABC ". krb5bridge does nothing for jobs on this node until that "
                      "is fixed; the node stays up.\n", "it is logged, naming the argument");
}

static void local_tests(void)
{
    char cc[200], ccname[220], mk[200], line[KB_LINE_LEN], why[256], *out;
    char *args[] = { a_node, a_helper, a_mk, "store=st.example:99", "timeout=3", NULL };
    char *fail[] = { a_node, a_helper, a_mk, "store=st.example:99", "policy=fail", NULL };
    char *off[] = { a_node, a_helper, "mode=no", NULL };

    snprintf(cc, sizeof(cc), "%s/user-cc", dir);
    snprintf(ccname, sizeof(ccname), "FILE:%s", cc);
    helper_mode("ok");

    setenv("KRB5CCNAME", "FILE:/nonexistent/cc", 1);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0, "auto without a ticket: the job runs (policy warn)");
    is_str(fake->log, "user: krb5bridge: no Kerberos ticket found; run kinit, then submit again. "
                      "The job runs without Kerberos credentials.\n", "one clear warning line");
    ok(access(calls, F_OK) != 0, "no helper started when there is no ticket");
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, fail) == 1, "policy=fail without a ticket refuses the submission");
    ok(strstr(fake->log, "The job is not submitted (krb5bridge policy=fail).") != NULL, "saying why");
    ok(scenario(S_CTX_ALLOCATOR, POST_OPT, "yes", args) == 1, "--krb5=yes without a ticket refuses sbatch");
    ok(strstr(fake->log, "The job is not submitted (--krb5=yes).") != NULL, "saying why");
    ok(scenario(S_CTX_LOCAL, POST_OPT, "(bare)", args) == 1, "a bare --krb5 means yes");
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, off) == 0 && fake->log[0] == '\0', "mode=no: nothing said, nothing done");
    ok(scenario(S_CTX_LOCAL, POST_OPT, "no", args) == 0 && fake->log[0] == '\0', "--krb5=no: nothing said");
    setenv("SLURM_JOB_ID", "5", 1);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0 && fake->log[0] == '\0', "srun inside a job does not push");
    ok(scenario(S_CTX_LOCAL, POST_OPT, "yes", args) == 1, "unless --krb5=yes (which then needs a ticket)");
    unsetenv("SLURM_JOB_ID");

    /* with a TGT */
    make_tgt_ccache(ccname, 1);
    setenv("KRB5CCNAME", ccname, 1);
    setenv("KRB5_CONFIG", "/etc/krb5-user.conf", 1);
    setenv("HOME", "/home/alice", 1);
    setenv("NODE_OPTIONS", "--require /tmp/evil.js", 1);
    setenv("LD_PRELOAD", "/tmp/evil.so", 1);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0 && fake->log[0] == '\0', "with a ticket and no marker: pushed");
    out = slurp(calls);
    ok(out != NULL, "the helper ran");
    {
        char want[1024];
        snprintf(want, sizeof(want), "push\n--store\nst.example:99\n--timeout\n3\n--marker-dir\n%s\n---\n"
                 "HOME=/home/alice\nKRB5CCNAME=%s\nKRB5_CONFIG=/etc/krb5-user.conf\nPATH=/usr/bin:/bin\n",
                 markers, ccname);
        is_str(out ? out : "", want, "push argv, and env exactly PATH HOME KRB5CCNAME KRB5_CONFIG (no NODE_OPTIONS, LD_*)");
    }

    /* the marker fast path */
    snprintf(mk, sizeof(mk), "%s/krb5bridge_pushed_%d", markers, (int)getuid());
    kb_marker_line("st.example:99", time(NULL), line, sizeof(line), NULL, why, sizeof(why));
    write_text(mk, line, 0600);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0 && access(calls, F_OK) != 0,
       "a valid push marker skips the helper");
    chmod(mk, 0666);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0 && access(calls, F_OK) == 0,
       "a world-writable marker does not");
    chmod(mk, 0600);
    write_text(mk, "v1 st.example:99 alice@EX.TEST 1 2 3\n", 0600);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0 && access(calls, F_OK) == 0,
       "a marker for an older ticket does not");
    unlink(mk);

    /* A ticket that is not renewable: the user is warned at submission, and the job is submitted. */
    make_tgt_ccache(ccname, 0);
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0, "a ticket that is not renewable: submitted");
    ok(strncmp(fake->log, "user: krb5bridge: warning: your Kerberos ticket (alice@EX.TEST) is not renewable: the job "
               "loses it when it expires at ", 110) == 0,
       "with a warning that says so first: %s", fake->log);
    make_tgt_ccache(ccname, 1);

    helper_mode("fail");
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, args) == 0, "store down, policy warn: the job runs");
    is_str(fake->log, "user: krb5bridge: cannot reach the credential store; check: 127.0.0.1:1. "
                      "The job runs without Kerberos credentials.\n", "with the helper's own line relayed");
    ok(scenario(S_CTX_LOCAL, POST_OPT, NULL, fail) == 1, "store down, policy fail: refused");
    helper_mode("ok");
    unsetenv("KRB5_CONFIG");
    unsetenv("NODE_OPTIONS");
    unsetenv("LD_PRELOAD");
}

static void remote_tests(void)
{
    char cc[200], want[600], *out;
    char *args[] = { a_node, a_helper, a_state, a_cc, a_k5, a_ks, NULL };
    char *nonode[] = { "node=/nonexistent/node", a_helper, a_state, a_cc, a_ks, NULL };

    helper_mode("ok");
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0, "remote without a record: materialise");
    out = slurp(calls);
    snprintf(want, sizeof(want), "materialise\n--store\n127.0.0.1:7386\n--timeout\n10\n--uid\n%d\n--gid\n%d\n"
             "--job\n%d\n--state-dir\n%s\n--ccache-dir\n%s\n---\nKRB5_CONFIG=/etc/krb5-site.conf\n"
             "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n", ALICE, ALICE, JOB, state, ccdir);
    is_str(out ? out : "", want, "materialise argv, and env exactly PATH and the plugstack krb5_config");
    snprintf(cc, sizeof(cc), "%s/krb5cc_%d_%d_Zz9Zz9", ccdir, ALICE, JOB);
    snprintf(want, sizeof(want), "FILE:%s", cc);
    ok(fake->setenv_calls == 1 && strcmp(fake->setenv_name, "KRB5CCNAME") == 0 && fake->setenv_overwrite == 1,
       "KRB5CCNAME exported with spank_setenv (overwriting the submitter's)");
    is_str(fake->setenv_value, want, "to the helper's ccache");

    write_record(cc);
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, nonode) == 0 && fake->setenv_calls == 1 && access(calls, F_OK) != 0,
       "a valid job record: KRB5CCNAME exported without starting the helper");
    is_str(fake->setenv_value, want, "from the record");
    chmod(cc, 0644);
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, nonode) == 0 && fake->setenv_calls == 0,
       "a record naming a 0644 ccache is not trusted (helper tried, failed, hook still 0)");
    ok(strstr(fake->log, "error: krb5bridge: cannot start the helper; check node= and helper= in plugstack.conf") != NULL,
       "the failure is logged");
    chmod(cc, 0600);

    ok(scenario(S_CTX_REMOTE, POST_OPT, "no", nonode) == 0 && fake->log[0] == '\0' && fake->setenv_calls == 0,
       "--krb5=no reaches the remote side: nothing done");
    snprintf(want, sizeof(want), "%s/jobs/%d", state, JOB);
    unlink(want);
    helper_mode("fail");
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0 && fake->setenv_calls == 0, "helper failure: hook returns 0");
    ok(strstr(fake->log, "error: krb5bridge: cannot reach the credential store; check: 127.0.0.1:1 (job 91, uid 4343). "
                         "The job runs without Kerberos credentials.") != NULL, "one clear error line");
    helper_mode("garbage");
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0 && fake->setenv_calls == 0,
       "a helper answer that is no KRB5CCNAME line: nothing exported, hook returns 0");
    is_str(fake->log, "error: krb5bridge: the helper's answer is unusable (the answer \"hello\" is not "
                      "\"KRB5CCNAME=FILE:<path>\") (job 91, uid 4343). The job runs without Kerberos credentials.\n",
           "one error line saying what the helper answered");
    helper_mode("ok");
    memset(fake, 0, sizeof(*fake));
}

/* Bad settings on a node: logged, nothing done for the job, and the hooks succeed (no drain). */
static void node_settings_tests(void)
{
    char cc[200], conf[160], a_conf[180], want[1200];
    char *typo[] = { a_node, a_helper, a_state, a_cc, a_ks, "timeout=abc", NULL };
    char *badfile[] = { a_node, a_helper, a_state, a_cc, a_ks, a_conf, NULL };

    helper_mode("ok");
    make_job_ccache(cc, sizeof(cc), "Zz9Zz9");
    write_record(cc);

    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, typo) == 0, "slurmstepd: a bad plugstack value: init and post_opt return 0");
    ok(fake->options == 1, "--krb5 is still registered (srun passes it on)");
    ok(fake->setenv_calls == 0 && access(calls, F_OK) != 0, "nothing is done for the job, not even the record fast path");
    ok(fake->unsetenv_calls == 1 && strcmp(fake->unsetenv_name, "KRB5CCNAME") == 0,
       "but the submit host's KRB5CCNAME is unset: it never names a file on this node");
    is_str(fake->log, "error: krb5bridge: " TIMEOUT_ABC ". krb5bridge does nothing for job 91 on this node until that is "
                      "fixed: the job runs without Kerberos credentials from krb5bridge; the node stays up.\n",
           "one error line naming krb5bridge, the argument, what it takes and the job");

    snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
    snprintf(a_conf, sizeof(a_conf), "config=%s", conf);
    write_text(conf, "# site settings\nstore = 127.0.0.1:7386\nccache_dir = tmp\n", 0644);
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, badfile) == 0 && fake->setenv_calls == 0 && access(calls, F_OK) != 0,
       "slurmstepd: a bad config file value: hooks return 0, nothing done");
    snprintf(want, sizeof(want), "error: krb5bridge: %s:3: bad value for ccache_dir: \"tmp\" (expected an absolute path "
             "without \"/../\", shorter than 1024 bytes). krb5bridge does nothing for job 91 on this node until that is "
             "fixed: the job runs without Kerberos credentials from krb5bridge; the node stays up.\n", conf);
    is_str(fake->log, want, "the error names the file, the line, the key and the value");

    ok(scenario(S_CTX_JOB_SCRIPT, EPILOG, NULL, typo) == 0 && access(calls, F_OK) != 0 && access(cc, F_OK) == 0,
       "epilog: a bad plugstack value: returns 0, destroys nothing");
    is_str(fake->log, "error: krb5bridge: " TIMEOUT_ABC ". krb5bridge does nothing for job 91 on this node until that is "
                      "fixed: its credential cache, if any, is not destroyed; the node stays up.\n",
           "and says what is left undone");
    ok(scenario(S_CTX_LOCAL, INIT_ONLY, NULL, badfile) == 1, "srun: the same config file value refuses the submission");
    snprintf(want, sizeof(want), "error: krb5bridge: %s:3: bad value for ccache_dir: \"tmp\" (expected an absolute path "
             "without \"/../\", shorter than 1024 bytes)" NOT_SUBMITTED, conf);
    is_str(fake->log, want, "naming the file and line");
    unlink(conf);
    unlink(cc);
    snprintf(want, sizeof(want), "%s/jobs/%d", state, JOB);
    unlink(want);
    memset(fake, 0, sizeof(*fake));
}

/* The same materialise and destroy through the node keeper: one path, the helper only as fallback. */
static void keeper_tests(void)
{
    char cc[200], reply[300], want[400], *got;
    char *args[] = { a_node, a_helper, a_state, a_cc, a_ks, NULL };
    pid_t k;

    helper_mode("ok");
    make_job_ccache(cc, sizeof(cc), "Kp1Kp1");
    snprintf(want, sizeof(want), "%s/jobs/%d", state, JOB);
    unlink(want);

    snprintf(reply, sizeof(reply), "ok KRB5CCNAME=FILE:%s", cc);
    k = fake_keeper(reply);
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0 && access(calls, F_OK) != 0 && fake->log[0] == '\0',
       "the keeper's ccache: no helper started, nothing logged");
    keeper_done(k);
    snprintf(want, sizeof(want), "FILE:%s", cc);
    ok(fake->setenv_calls == 1, "KRB5CCNAME exported once");
    is_str(fake->setenv_value, want, "to the keeper's ccache");
    got = slurp(kgot);
    snprintf(want, sizeof(want), "materialise %d %d %d\n", ALICE, ALICE, JOB);
    is_str(got ? got : "", want, "the keeper was asked for this job's uid, gid and id");

    k = fake_keeper("error 33 krb5bridge: E_NOT_FOUND: the store holds no credential for this user; the user must "
                    "submit with a valid ticket (kinit): uid 4343");
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0 && access(calls, F_OK) != 0 && fake->setenv_calls == 0,
       "an error the keeper answers is the verb's failure: no helper started, nothing exported");
    keeper_done(k);
    is_str(fake->log, "info: krb5bridge: the store holds no credential for this user; the user must submit with a "
                      "valid ticket (kinit): uid 4343 (job 91, uid 4343). The job runs without Kerberos credentials.\n",
           "reported like the helper's failure (code left out, info in mode auto for a user the store does not know)");

    k = fake_keeper("ok KRB5CCNAME=FILE:/etc/passwd");
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0 && access(calls, F_OK) == 0 && fake->setenv_calls == 1,
       "a keeper answer naming a file that is not the job's ccache: the helper is run instead");
    keeper_done(k);
    snprintf(want, sizeof(want), "error: krb5bridge: job 91: the keeper's answer is unusable (ccache /etc/passwd: not a "
             "name %s/krb5cc_4343_91_XXXXXX); running the helper\n", ccdir);
    is_str(fake->log, want, "saying why");
    snprintf(want, sizeof(want), "FILE:%s/krb5cc_%d_%d_Zz9Zz9", ccdir, ALICE, JOB);
    is_str(fake->setenv_value, want, "and the helper's ccache is exported");

    k = fake_keeper("what?");
    ok(scenario(S_CTX_REMOTE, POST_OPT, NULL, args) == 0 && access(calls, F_OK) == 0 && fake->log[0] == '\0'
       && fake->setenv_calls == 1, "a garbled keeper answer: the helper is run, quietly (debug only)");
    keeper_done(k);

    /* destroy through the keeper */
    write_record(cc);
    k = fake_keeper("ok destroyed /tmp/x");
    ok(scenario(S_CTX_JOB_SCRIPT, EPILOG, NULL, args) == 0 && access(calls, F_OK) != 0 && fake->log[0] == '\0',
       "epilog: the keeper destroys, no helper started, nothing logged");
    keeper_done(k);
    got = slurp(kgot);
    snprintf(want, sizeof(want), "destroy %d %d\n", ALICE, JOB);
    is_str(got ? got : "", want, "the keeper was asked to destroy this job's ccache");
    k = fake_keeper("error 40 krb5bridge: E_UNSAFE_PATH: refusing an unsafe path: /tmp/x is a symlink");
    ok(scenario(S_CTX_JOB_SCRIPT, EPILOG, NULL, args) == 0 && access(calls, F_OK) != 0,
       "epilog: an error the keeper answers is not retried with the helper");
    keeper_done(k);
    is_str(fake->log, "error: krb5bridge: refusing an unsafe path: /tmp/x is a symlink (job 91, uid 4343)\n",
           "it is logged like the helper's");
    snprintf(want, sizeof(want), "%s/jobs/%d", state, JOB);
    unlink(want);
    unlink(cc);
    memset(fake, 0, sizeof(*fake));
}

static void epilog_tests(void)
{
    char cc[200], want[600], *out;
    char *args[] = { a_node, a_helper, a_state, a_cc, a_ks, NULL };
    char *bad[] = { a_node, "bogus=1", NULL };

    snprintf(cc, sizeof(cc), "%s/krb5cc_%d_%d_Zz9Zz9", ccdir, ALICE, JOB);
    snprintf(want, sizeof(want), "%s/jobs/%d", state, JOB);
    unlink(want);
    ok(scenario(S_CTX_JOB_SCRIPT, EPILOG, NULL, args) == 0 && access(calls, F_OK) != 0,
       "epilog without a job record: no helper started");
    write_record(cc);
    ok(scenario(S_CTX_JOB_SCRIPT, EPILOG, NULL, args) == 0, "epilog with a record (init not called before it)");
    out = slurp(calls);
    snprintf(want, sizeof(want), "destroy\n--store\n127.0.0.1:7386\n--timeout\n10\n--uid\n%d\n--job\n%d\n"
             "--state-dir\n%s\n---\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n", ALICE, JOB, state);
    is_str(out ? out : "", want, "destroy argv and minimal env");
    ok(scenario(S_CTX_JOB_SCRIPT, EPILOG, NULL, bad) == 0, "epilog with a bad argument still returns 0 (no drain)");
    is_str(fake->log, "error: krb5bridge: unknown plugstack.conf argument \"bogus\" " KNOWN ". krb5bridge does nothing "
                      "for job 91 on this node until that is fixed: its credential cache, if any, is not destroyed; the "
                      "node stays up.\n", "but logs it");
}

int main(void)
{
    int root = geteuid() == 0;

    fake = mmap(NULL, sizeof(*fake), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    snprintf(dir, sizeof(dir), "/tmp/kbhooks.XXXXXX");
    if (fake == MAP_FAILED || mkdtemp(dir) == NULL)
        return 2;
    snprintf(script, sizeof(script), "%s/helper.sh", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(ccdir, sizeof(ccdir), "%s/cc", dir);
    snprintf(markers, sizeof(markers), "%s/markers", dir);
    snprintf(calls, sizeof(calls), "%s/calls", dir);
    snprintf(ksock, sizeof(ksock), "%s/keeper.sock", dir);
    snprintf(kgot, sizeof(kgot), "%s/keeper-got", dir);
    mkdir(ccdir, 0755);
    mkdir(markers, 0755);
    {
        char text[2048];
        snprintf(text, sizeof(text), SCRIPT, dir);
        write_text(script, text, 0755);
    }
    snprintf(a_node, sizeof(a_node), "node=/bin/sh");
    snprintf(a_helper, sizeof(a_helper), "helper=%s", script);
    snprintf(a_state, sizeof(a_state), "state_dir=%s", state);
    snprintf(a_cc, sizeof(a_cc), "ccache_dir=%s", ccdir);
    snprintf(a_mk, sizeof(a_mk), "marker_dir=%s", markers);
    snprintf(a_k5, sizeof(a_k5), "krb5_config=/etc/krb5-site.conf");
    snprintf(a_ks, sizeof(a_ks), "keeper_socket=%s", ksock); /* no keeper there unless a test starts one */
    setenv("KRB5BRIDGE_CONFIG", "/nonexistent", 1); /* the plugin never reads this */

    init_tests();
    local_tests();
    if (root) {
        remote_tests();
        node_settings_tests();
        keeper_tests();
        epilog_tests();
    } else {
        tap_skip(1, "remote and epilog scenarios need root (chown of the job ccache)");
    }
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir); /* test clean-up only */
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", dir);
    }
    munmap(fake, sizeof(*fake));
    return tap_done();
}
