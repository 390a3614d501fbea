/* Plugin settings: plugstack.conf arguments are parsed strictly so a typo is loud at load time. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A generated default that does not fit its field fails the build, not the job. */
#define FITS(field, value) _Static_assert(sizeof(value) <= sizeof(((struct kb_conf *)0)->field), #value " is too long")
FITS(store, KB_DEFAULT_STORE);
FITS(munge_socket, KB_DEFAULT_MUNGE_SOCKET);
FITS(ccache_dir, KB_DEFAULT_CCACHE_DIR);
FITS(state_dir, KB_DEFAULT_STATE_DIR);
FITS(marker_dir, KB_DEFAULT_MARKER_DIR);
FITS(keeper_socket, KB_DEFAULT_KEEPER_SOCKET);

void kb_conf_defaults(struct kb_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->mode = KB_MODE_AUTO;
    c->policy = KB_POLICY_WARN;
    snprintf(c->node, sizeof(c->node), "%s", KB_DEFAULT_NODE);
    snprintf(c->helper, sizeof(c->helper), "%s", KB_DEFAULT_HELPER);
    snprintf(c->store, sizeof(c->store), "%s", KB_DEFAULT_STORE);
    snprintf(c->munge_socket, sizeof(c->munge_socket), "%s", KB_DEFAULT_MUNGE_SOCKET);
    snprintf(c->ccache_dir, sizeof(c->ccache_dir), "%s", KB_DEFAULT_CCACHE_DIR);
    snprintf(c->state_dir, sizeof(c->state_dir), "%s", KB_DEFAULT_STATE_DIR);
    snprintf(c->marker_dir, sizeof(c->marker_dir), "%s", KB_DEFAULT_MARKER_DIR);
    snprintf(c->keeper_socket, sizeof(c->keeper_socket), "%s", KB_DEFAULT_KEEPER_SOCKET);
    c->timeout = KB_DEFAULT_TIMEOUT;
    c->push_ttl = KB_DEFAULT_PUSH_TTL;
}

int kb_parse_mode(const char *s, enum kb_mode *out)
{
    if (s == NULL || strcmp(s, "yes") == 0)
        *out = KB_MODE_YES;
    else if (strcmp(s, "no") == 0)
        *out = KB_MODE_NO;
    else if (strcmp(s, "auto") == 0)
        *out = KB_MODE_AUTO;
    else
        return -1;
    return 0;
}

const char *kb_mode_name(enum kb_mode m)
{
    return m == KB_MODE_YES ? "yes" : m == KB_MODE_NO ? "no" : "auto";
}

/* Whole-string decimal integer in [min, max]. */
static int parse_int(const char *s, long min, long max, int *out)
{
    char *end = NULL;
    long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int copy_path(char *dst, size_t len, const char *v)
{
    if (v[0] != '/' || strlen(v) >= len || strstr(v, "/../") != NULL)
        return -1;
    snprintf(dst, len, "%s", v);
    return 0;
}

/* HOST:PORT with a sane alphabet; the helper validates the details. */
static int copy_address(char *dst, size_t len, const char *v)
{
    size_t n = strlen(v);
    const char *colon = strrchr(v, ':');

    if (n == 0 || n >= len || colon == NULL || colon == v || colon[1] == '\0')
        return -1;
    if (strspn(v, "0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ.-:[]") != n)
        return -1;
    snprintf(dst, len, "%s", v);
    return 0;
}

static int set_key(struct kb_conf *c, const char *key, const char *v, char *err, size_t errlen)
{
    int bad = 0;

    if (strcmp(key, "mode") == 0) {
        bad = v[0] == '\0' || kb_parse_mode(v, &c->mode) != 0;
    } else if (strcmp(key, "policy") == 0) {
        if (strcmp(v, "warn") == 0)
            c->policy = KB_POLICY_WARN;
        else if (strcmp(v, "fail") == 0)
            c->policy = KB_POLICY_FAIL;
        else
            bad = 1;
    } else if (strcmp(key, "node") == 0) {
        bad = copy_path(c->node, sizeof(c->node), v);
    } else if (strcmp(key, "helper") == 0) {
        bad = copy_path(c->helper, sizeof(c->helper), v);
    } else if (strcmp(key, "config") == 0) {
        bad = copy_path(c->config, sizeof(c->config), v);
    } else if (strcmp(key, "store") == 0) {
        bad = copy_address(c->store, sizeof(c->store), v);
        c->set |= KB_SET_STORE;
    } else if (strcmp(key, "munge_socket") == 0) {
        bad = copy_path(c->munge_socket, sizeof(c->munge_socket), v);
        c->set |= KB_SET_MUNGE_SOCKET;
    } else if (strcmp(key, "ccache_dir") == 0) {
        bad = copy_path(c->ccache_dir, sizeof(c->ccache_dir), v);
        c->set |= KB_SET_CCACHE_DIR;
    } else if (strcmp(key, "state_dir") == 0) {
        bad = copy_path(c->state_dir, sizeof(c->state_dir), v);
        c->set |= KB_SET_STATE_DIR;
    } else if (strcmp(key, "marker_dir") == 0) {
        bad = copy_path(c->marker_dir, sizeof(c->marker_dir), v);
        c->set |= KB_SET_MARKER_DIR;
    } else if (strcmp(key, "keeper_socket") == 0) {
        bad = copy_path(c->keeper_socket, sizeof(c->keeper_socket), v);
        c->set |= KB_SET_KEEPER_SOCKET;
    } else if (strcmp(key, "krb5_config") == 0) {
        bad = copy_path(c->krb5_config, sizeof(c->krb5_config), v);
    } else if (strcmp(key, "timeout") == 0) {
        bad = parse_int(v, 1, 3600, &c->timeout);
        c->set |= KB_SET_TIMEOUT;
    } else if (strcmp(key, "push_ttl") == 0) {
        bad = parse_int(v, 0, 86400, &c->push_ttl);
    } else {
        snprintf(err, errlen, "unknown plugstack.conf argument \"%s\" (known: mode policy node helper "
                 "config store munge_socket ccache_dir state_dir marker_dir timeout push_ttl krb5_config keeper_socket)", key);
        return -1;
    }
    if (bad) {
        snprintf(err, errlen, "bad value for plugstack.conf argument %s: \"%s\"", key, v);
        return -1;
    }
    return 0;
}

int kb_conf_parse_args(struct kb_conf *c, int ac, char **av, char *err, size_t errlen)
{
    for (int i = 0; i < ac; i++) {
        char key[64];
        const char *eq = strchr(av[i], '=');
        size_t klen;

        if (eq == NULL) {
            snprintf(err, errlen, "plugstack.conf argument \"%s\" is not key=value", av[i]);
            return -1;
        }
        klen = (size_t)(eq - av[i]);
        if (klen == 0 || klen >= sizeof(key)) {
            snprintf(err, errlen, "plugstack.conf argument \"%s\" has a bad key", av[i]);
            return -1;
        }
        memcpy(key, av[i], klen);
        key[klen] = '\0';
        if (set_key(c, key, eq + 1, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Trim spaces and tabs at both ends, in place. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

void kb_conf_apply_text(struct kb_conf *c, const char *text)
{
    char line[2048];
    const char *p = text;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *key, *val, *eq, *hash;

        if (n < sizeof(line)) {
            memcpy(line, p, n);
            line[n] = '\0';
            if ((hash = strchr(line, '#')) != NULL)
                *hash = '\0';
            if ((eq = strchr(line, '=')) != NULL) {
                char err[8];
                *eq = '\0';
                key = trim(line);
                val = trim(eq + 1);
                /* Only the keys the plugin's own checks depend on; plugstack.conf wins. */
                if ((strcmp(key, "store") == 0 && !(c->set & KB_SET_STORE))
                    || (strcmp(key, "munge_socket") == 0 && !(c->set & KB_SET_MUNGE_SOCKET))
                    || (strcmp(key, "ccache_dir") == 0 && !(c->set & KB_SET_CCACHE_DIR))
                    || (strcmp(key, "state_dir") == 0 && !(c->set & KB_SET_STATE_DIR))
                    || (strcmp(key, "marker_dir") == 0 && !(c->set & KB_SET_MARKER_DIR))
                    || (strcmp(key, "keeper_socket") == 0 && !(c->set & KB_SET_KEEPER_SOCKET)))
                    (void)set_key(c, key, val, err, sizeof(err));
                /* set_key marks these as set; that is harmless: the file only fills the gaps. */
            }
        }
        p += n;
        if (*p == '\n')
            p++;
    }
}

void kb_conf_read_file(struct kb_conf *c)
{
    const char *path = c->config[0] ? c->config : KB_DEFAULT_CONFIG_FILE;
    char buf[65536];
    ssize_t n;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return; /* the helper reports a missing explicit file with E_CONFIG */
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    kb_conf_apply_text(c, buf);
}
