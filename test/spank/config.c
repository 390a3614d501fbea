/*
 * Tests of spank/config.c: strict plugstack.conf arguments; in the config file, the keys the plugin
 * uses are as strict (naming file and line), the others are left to the helper.
 */
#include "config.h"
#include "tap.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_WANT "(expected an absolute path without \"/../\", shorter than 1024 bytes)"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* Defaults, then `text` as the file /etc/k.conf; its return value, err set. */
static int file(struct kb_conf *c, const char *text, char *err, size_t len)
{
    kb_conf_defaults(c);
    err[0] = '\0';
    return kb_conf_apply_text(c, text, "/etc/k.conf", err, len);
}

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
    is_str(err, "unknown plugstack.conf argument \"modee\" (known: mode policy node helper config store munge_socket "
           "ccache_dir state_dir marker_dir timeout push_ttl krb5_config keeper_socket)", "naming it and every known key");
    ok(parse(&c, "mode=maybe", err, sizeof(err)) == -1, "bad mode value is refused");
    is_str(err, "bad value for plugstack.conf argument mode: \"maybe\" (expected yes, no or auto)",
           "naming the argument, the value and what it takes");
    ok(parse(&c, "timeout=abc", err, sizeof(err)) == -1, "timeout=abc is refused");
    is_str(err, "bad value for plugstack.conf argument timeout: \"abc\" (expected whole seconds from 1 to 3600)",
           "saying what timeout takes");
    ok(parse(&c, "ccache_dir=tmp", err, sizeof(err)) == -1, "a relative ccache_dir is refused");
    is_str(err, "bad value for plugstack.conf argument ccache_dir: \"tmp\" " PATH_WANT, "saying what a path must be");
    ok(parse(&c, "policy=ignore", err, sizeof(err)) == -1, "bad policy is refused");
    is_str(err, "bad value for plugstack.conf argument policy: \"ignore\" (expected warn or fail)", "saying what policy takes");
    ok(parse(&c, "store=nocolon", err, sizeof(err)) == -1, "store without a port is refused");
    is_str(err, "bad value for plugstack.conf argument store: \"nocolon\" (expected HOST:PORT, or several joined by commas)", "saying what store takes");
    ok(parse(&c, "mode=", err, sizeof(err)) == -1, "empty mode is refused");
    ok(parse(&c, "timeout=0", err, sizeof(err)) == -1, "timeout=0 is refused");
    ok(parse(&c, "timeout=5s", err, sizeof(err)) == -1, "timeout=5s is refused");
    ok(parse(&c, "timeout=-3", err, sizeof(err)) == -1, "negative timeout is refused");
    ok(parse(&c, "push_ttl=86401", err, sizeof(err)) == -1, "push_ttl above a day is refused");
    ok(parse(&c, "node=node", err, sizeof(err)) == -1, "relative node path is refused");
    ok(parse(&c, "helper=/a/../b", err, sizeof(err)) == -1, "helper path with /../ is refused");
    ok(parse(&c, "store=a b:1", err, sizeof(err)) == -1, "store with a space is refused");
    ok(parse(&c, "store=s1.example:7386,10.0.0.2:7386", err, sizeof(err)) == 0
           && strcmp(c.store, "s1.example:7386,10.0.0.2:7386") == 0, "a list of stores is taken as one word");
    ok(parse(&c, "store=a:1,,b:2", err, sizeof(err)) == -1, "an empty store in the list is refused");
    ok(parse(&c, "store=a:1,b", err, sizeof(err)) == -1, "a store without a port in the list is refused");
    ok(parse(&c, "store=a:1,", err, sizeof(err)) == -1, "a trailing comma is refused");
    ok(parse(&c, "store=a:1, b:2", err, sizeof(err)) == -1, "a space after the comma is refused");
    ok(parse(&c, "justaword", err, sizeof(err)) == -1 && strstr(err, "not key=value") != NULL,
       "an argument without = is refused");
    ok(parse(&c, "=x", err, sizeof(err)) == -1, "an empty key is refused");

    ok(kb_parse_mode(NULL, &m) == 0 && m == KB_MODE_YES, "bare --krb5 means yes");
    ok(kb_parse_mode("no", &m) == 0 && m == KB_MODE_NO, "--krb5=no");
    ok(kb_parse_mode("auto", &m) == 0 && m == KB_MODE_AUTO, "--krb5=auto");
    ok(kb_parse_mode("YES", &m) == -1, "--krb5=YES is refused (exact words only)");

    kb_conf_defaults(&c);
    parse(&c, "store=10.0.0.1:1", err, sizeof(err));
    ok(kb_conf_apply_text(&c, "# comment\n  store = 10.9.9.9:2  \nmarker_dir=/mk # trailing\nstate_dir = /st\n"
                              "ccache_dir=/cc\nmunge_socket = /m.sock\nunknown_key = 1\ntimeout = 99\n",
                          "/etc/k.conf", err, sizeof(err)) == 0, "a good config file applies");
    is_str(c.store, "10.0.0.1:1", "plugstack store wins over the config file");
    is_str(c.marker_dir, "/mk", "config file marker_dir fills the gap, comment stripped");
    is_str(c.state_dir, "/st", "config file state_dir");
    is_str(c.ccache_dir, "/cc", "config file ccache_dir");
    is_str(c.munge_socket, "/m.sock", "config file munge_socket");
    ok(c.timeout == 10, "config file timeout does not change the plugin's bound");

    ok(file(&c, "keeper_socket = /k1\nkeeper_socket = /k2\n", err, sizeof(err)) == 0, "a key given twice");
    is_str(c.keeper_socket, "/k2", "the last line wins, as for the helper");
    ok(file(&c, "store = 1.2.3.4:5\r\nccache_dir =\t/cc \r\n", err, sizeof(err)) == 0 && strcmp(c.ccache_dir, "/cc") == 0
       && strcmp(c.store, "1.2.3.4:5") == 0, "CRLF lines and tabs are trimmed as the helper trims them");
    ok(file(&c, "timeout = abc\nmin_uid = x\nauth = bogus\njust words\nStore = nonsense\nrefresh_command = rel\n",
            err, sizeof(err)) == 0 && err[0] == '\0' && c.timeout == 10,
       "keys the plugin does not use, and lines that are no key = value, are left to the helper");

    ok(file(&c, "marker_dir = relative\n", err, sizeof(err)) == -1, "a bad value of a key the plugin uses is refused");
    is_str(err, "/etc/k.conf:1: bad value for marker_dir: \"relative\" " PATH_WANT, "naming file, line, key and value");
    is_str(c.marker_dir, "/tmp", "and the field keeps its default");
    ok(file(&c, "# krb5bridge\n\nstore = 1.2.3.4:5\n  ccache_dir = tmp  # where the job ccaches go\n", err, sizeof(err))
       == -1, "a bad value after comments and blank lines");
    is_str(err, "/etc/k.conf:4: bad value for ccache_dir: \"tmp\" " PATH_WANT,
           "the line number counts every line (comment stripped, value trimmed)");
    ok(file(&c, "store = a b:1\n", err, sizeof(err)) == -1, "store with a space");
    is_str(err, "/etc/k.conf:1: bad value for store: \"a b:1\" (expected HOST:PORT, or several joined by commas)", "says store takes HOST:PORT");
    ok(file(&c, "state_dir =\n", err, sizeof(err)) == -1, "an empty value");
    is_str(err, "/etc/k.conf:1: bad value for state_dir: \"\" " PATH_WANT, "is a bad value");
    ok(file(&c, "keeper_socket = /run/krb5bridge/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
            err, sizeof(err)) == -1, "a keeper_socket longer than a unix socket path");
    ok(strstr(err, "/etc/k.conf:1: bad value for keeper_socket: ") == err
       && strstr(err, "(expected an absolute path without \"/../\", shorter than 108 bytes)") != NULL,
       "is refused with the limit: %s", err);
    {
        static char text[3000], want[600];
        memcpy(text, "ccache_dir = /", 14);
        memset(text + 14, 'a', 2000);
        snprintf(want, sizeof(want), "/etc/k.conf:1: bad value for ccache_dir: \"/%0199d...\" " PATH_WANT, 0);
        memset(want + strlen("/etc/k.conf:1: bad value for ccache_dir: \"/"), 'a', 199);
        ok(file(&c, text, err, sizeof(err)) == -1, "a 2 KB value is refused (longer than any path)");
        is_str(err, want, "showing its first 200 bytes");
    }
    kb_conf_defaults(&c);
    parse(&c, "ccache_dir=/var/cc", err, sizeof(err));
    ok(kb_conf_apply_text(&c, "ccache_dir = tmp\n", "/etc/k.conf", err, sizeof(err)) == -1
       && strcmp(c.ccache_dir, "/var/cc") == 0,
       "a bad value is refused even where plugstack.conf overrides it (the helper reads the file too)");

    /* kb_conf_read_file: the file itself */
    {
        char dir[] = "/tmp/kbconf.XXXXXX", path[64], arg[80], want[512], *av[1] = { arg };
        static char big[70000];

        if (mkdtemp(dir) == NULL)
            return 2;
        snprintf(path, sizeof(path), "%s/k.conf", dir);
        snprintf(arg, sizeof(arg), "config=%s", path);
        kb_conf_defaults(&c);
        kb_conf_parse_args(&c, 1, av, err, sizeof(err));
        ok(kb_conf_read_file(&c, err, sizeof(err)) == 0 && strcmp(c.state_dir, "/run/krb5bridge") == 0,
           "a missing config file leaves the defaults (the helper reports it if it was named)");
        write_file(path, "store = 127.0.0.1:1\nstate_dir = /st # node\n");
        ok(kb_conf_read_file(&c, err, sizeof(err)) == 0 && strcmp(c.state_dir, "/st") == 0, "the config file is read");
        write_file(path, "store = 127.0.0.1:1\n\nstate_dir = st\n");
        ok(kb_conf_read_file(&c, err, sizeof(err)) == -1, "a bad value in the file is refused");
        snprintf(want, sizeof(want), "%s:3: bad value for state_dir: \"st\" " PATH_WANT, path);
        is_str(err, want, "with the file's path and the line");
        memset(big, '#', sizeof(big) - 1); /* one long comment: larger than 64 KiB */
        write_file(path, big);
        ok(kb_conf_read_file(&c, err, sizeof(err)) == -1, "a file larger than 64 KiB is refused, not half read");
        snprintf(want, sizeof(want), "%s: larger than 65535 bytes, more than a config file can be", path);
        is_str(err, want, "saying so");
        unlink(path);
        mkdir(path, 0700);
        ok(kb_conf_read_file(&c, err, sizeof(err)) == -1, "a directory named as the config file is refused");
        snprintf(want, sizeof(want), "cannot read %s: Is a directory", path);
        is_str(err, want, "saying why");
        rmdir(path);
        rmdir(dir);
    }
    return tap_done();
}
