/* Tests of spank/config.c: strict plugstack.conf arguments, lenient config file. */
#include "config.h"
#include "tap.h"

static int parse(struct kb_conf *c, const char *a, char *err, size_t len)
{
    char buf[512];
    char *av[1] = { buf };

    snprintf(buf, sizeof(buf), "%s", a);
    kb_conf_defaults(c);
    err[0] = '\0';
    return kb_conf_parse_args(c, 1, av, err, len);
}

int main(void)
{
    struct kb_conf c;
    enum kb_mode m;
    char err[512];
    char *all[] = { "mode=no", "policy=fail", "node=/opt/node", "helper=/opt/h.mjs", "config=/etc/k.conf",
                    "store=store.example:7000", "munge_socket=/run/m.sock", "ccache_dir=/var/cc",
                    "state_dir=/run/kb", "marker_dir=/var/mk", "timeout=7", "push_ttl=0", "krb5_config=/etc/k5" };

    kb_conf_defaults(&c);
    ok(c.mode == KB_MODE_AUTO && c.policy == KB_POLICY_WARN && c.timeout == 10 && c.push_ttl == 900,
       "defaults: mode auto, policy warn, timeout 10, push_ttl 900");
    is_str(c.state_dir, "/run/krb5bridge", "default state_dir");
    is_str(c.store, "127.0.0.1:7386", "default store");

    ok(kb_conf_parse_args(&c, 13, all, err, sizeof(err)) == 0, "every documented key parses");
    ok(c.mode == KB_MODE_NO && c.policy == KB_POLICY_FAIL && c.timeout == 7 && c.push_ttl == 0,
       "mode, policy, timeout, push_ttl taken");
    is_str(c.node, "/opt/node", "node taken");
    is_str(c.krb5_config, "/etc/k5", "krb5_config taken");
    is_str(c.store, "store.example:7000", "store taken");

    ok(parse(&c, "modee=yes", err, sizeof(err)) == -1, "unknown key is refused");
    ok(strstr(err, "unknown plugstack.conf argument \"modee\"") != NULL, "the error names the unknown key: %s", err);
    ok(parse(&c, "mode=maybe", err, sizeof(err)) == -1 && strstr(err, "mode: \"maybe\"") != NULL,
       "bad mode value is refused naming it");
    ok(parse(&c, "mode=", err, sizeof(err)) == -1, "empty mode is refused");
    ok(parse(&c, "policy=ignore", err, sizeof(err)) == -1, "bad policy is refused");
    ok(parse(&c, "timeout=0", err, sizeof(err)) == -1, "timeout=0 is refused");
    ok(parse(&c, "timeout=5s", err, sizeof(err)) == -1, "timeout=5s is refused");
    ok(parse(&c, "timeout=-3", err, sizeof(err)) == -1, "negative timeout is refused");
    ok(parse(&c, "push_ttl=86401", err, sizeof(err)) == -1, "push_ttl above a day is refused");
    ok(parse(&c, "node=node", err, sizeof(err)) == -1, "relative node path is refused");
    ok(parse(&c, "helper=/a/../b", err, sizeof(err)) == -1, "helper path with /../ is refused");
    ok(parse(&c, "store=nocolon", err, sizeof(err)) == -1, "store without a port is refused");
    ok(parse(&c, "store=a b:1", err, sizeof(err)) == -1, "store with a space is refused");
    ok(parse(&c, "justaword", err, sizeof(err)) == -1 && strstr(err, "not key=value") != NULL,
       "an argument without = is refused");
    ok(parse(&c, "=x", err, sizeof(err)) == -1, "an empty key is refused");

    ok(kb_parse_mode(NULL, &m) == 0 && m == KB_MODE_YES, "bare --krb5 means yes");
    ok(kb_parse_mode("no", &m) == 0 && m == KB_MODE_NO, "--krb5=no");
    ok(kb_parse_mode("auto", &m) == 0 && m == KB_MODE_AUTO, "--krb5=auto");
    ok(kb_parse_mode("YES", &m) == -1, "--krb5=YES is refused (exact words only)");

    kb_conf_defaults(&c);
    parse(&c, "store=10.0.0.1:1", err, sizeof(err));
    kb_conf_apply_text(&c, "# comment\n  store = 10.9.9.9:2  \nmarker_dir=/mk # trailing\nstate_dir = /st\n"
                           "ccache_dir=/cc\nmunge_socket = /m.sock\nunknown_key = 1\ntimeout = 99\n");
    is_str(c.store, "10.0.0.1:1", "plugstack store wins over the config file");
    is_str(c.marker_dir, "/mk", "config file marker_dir fills the gap, comment stripped");
    is_str(c.state_dir, "/st", "config file state_dir");
    is_str(c.ccache_dir, "/cc", "config file ccache_dir");
    is_str(c.munge_socket, "/m.sock", "config file munge_socket");
    ok(c.timeout == 10, "config file timeout does not change the plugin's bound");
    kb_conf_defaults(&c);
    kb_conf_apply_text(&c, "marker_dir = relative\n");
    is_str(c.marker_dir, "/tmp", "a bad config file value leaves the default");
    return tap_done();
}
