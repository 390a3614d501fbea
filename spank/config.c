/*
 * Plugin settings: plugstack.conf arguments are parsed strictly so a typo is loud at load time; the
 * config file's keys that the plugin uses are checked as strictly, naming the file and line.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
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

/*
 * HOST:PORT, or several joined by commas (the stores the helper tries in turn), with a sane
 * alphabet and no spaces (the push marker carries the value as one word); the helper validates
 * the details.
 */
static int copy_address(char *dst, size_t len, const char *v)
{
    size_t n = strlen(v);
    const char *item = v;

    if (n == 0 || n >= len)
        return -1;
    if (strspn(v, "0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ.-:[],") != n)
        return -1;
    while (item != NULL) {
        const char *end = strchr(item, ',');
        size_t ilen = end != NULL ? (size_t)(end - item) : strlen(item);
        const char *colon = NULL;

        for (const char *p = item; p < item + ilen; p++)
            if (*p == ':')
                colon = p;
        if (colon == NULL || colon == item || colon == item + ilen - 1)
            return -1;
        item = end != NULL ? end + 1 : NULL;
    }
    snprintf(dst, len, "%s", v);
    return 0;
}

enum kind { K_MODE, K_POLICY, K_PATH, K_ADDRESS, K_SECONDS };

/* One setting: its name, what it takes, where it goes in struct kb_conf. */
struct key {
    const char *name;
    enum kind kind;
    size_t off, size; /* the field (K_PATH, K_ADDRESS: a char array of `size`) */
    int min, max;     /* K_SECONDS */
    int in_file;      /* also read from the config file (the keys the plugin's checks depend on) */
};

#define FIELD(f) offsetof(struct kb_conf, f), sizeof(((struct kb_conf *)0)->f)
static const struct key keys[] = {
    { "mode", K_MODE, FIELD(mode), 0, 0, 0 },
    { "policy", K_POLICY, FIELD(policy), 0, 0, 0 },
    { "node", K_PATH, FIELD(node), 0, 0, 0 },
    { "helper", K_PATH, FIELD(helper), 0, 0, 0 },
    { "config", K_PATH, FIELD(config), 0, 0, 0 },
    { "store", K_ADDRESS, FIELD(store), 0, 0, 1 },
    { "munge_socket", K_PATH, FIELD(munge_socket), 0, 0, 1 },
    { "ccache_dir", K_PATH, FIELD(ccache_dir), 0, 0, 1 },
    { "state_dir", K_PATH, FIELD(state_dir), 0, 0, 1 },
    { "marker_dir", K_PATH, FIELD(marker_dir), 0, 0, 1 },
    { "timeout", K_SECONDS, FIELD(timeout), 1, 3600, 0 }, /* the file's timeout is the helper's only */
    { "push_ttl", K_SECONDS, FIELD(push_ttl), 0, 86400, 0 },
    { "krb5_config", K_PATH, FIELD(krb5_config), 0, 0, 0 },
    { "keeper_socket", K_PATH, FIELD(keeper_socket), 0, 0, 1 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= sizeof(unsigned) * 8, "one bit of kb_conf.set per key");

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Parse `v` for `k` into c; -1 if it is not a value `k` takes. */
static int set_value(struct kb_conf *c, const struct key *k, const char *v)
{
    char *field = (char *)c + k->off;

    switch (k->kind) {
    case K_MODE:
        return v[0] == '\0' ? -1 : kb_parse_mode(v, (enum kb_mode *)(void *)field);
    case K_POLICY:
        if (strcmp(v, "warn") != 0 && strcmp(v, "fail") != 0)
            return -1;
        *(enum kb_policy *)(void *)field = strcmp(v, "fail") == 0 ? KB_POLICY_FAIL : KB_POLICY_WARN;
        return 0;
    case K_PATH:
        return copy_path(field, k->size, v);
    case K_ADDRESS:
        return copy_address(field, k->size, v);
    case K_SECONDS:
        return parse_int(v, k->min, k->max, (int *)(void *)field);
    }
    return -1;
}

/* What `k` takes, for a message: "expected ...". */
static void expected(const struct key *k, char *buf, size_t len)
{
    switch (k->kind) {
    case K_MODE:
        snprintf(buf, len, "yes, no or auto");
        break;
    case K_POLICY:
        snprintf(buf, len, "warn or fail");
        break;
    case K_PATH:
        snprintf(buf, len, "an absolute path without \"/../\", shorter than %zu bytes", k->size);
        break;
    case K_ADDRESS:
        snprintf(buf, len, "HOST:PORT, or several joined by commas");
        break;
    case K_SECONDS:
        snprintf(buf, len, "whole seconds from %d to %d", k->min, k->max);
        break;
    }
}

/* `value` for a message: at most 200 bytes of it. */
#define SHOWN(value) (strlen(value) > 200 ? 200 : (int)strlen(value)), (value), (strlen(value) > 200 ? "..." : "")

static int set_arg(struct kb_conf *c, const char *name, const char *v, char *err, size_t errlen)
{
    const struct key *k = find_key(name);
    char want[128];
    int n = 0;

    if (k == NULL) {
        n = snprintf(err, errlen, "unknown plugstack.conf argument \"%s\" (known:", name);
        for (size_t i = 0; i < NKEYS && n >= 0 && (size_t)n < errlen; i++)
            n += snprintf(err + n, errlen - (size_t)n, " %s", keys[i].name);
        if (n >= 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, ")");
        return -1;
    }
    if (set_value(c, k, v) != 0) {
        expected(k, want, sizeof(want));
        snprintf(err, errlen, "bad value for plugstack.conf argument %s: \"%.*s%s\" (expected %s)", name, SHOWN(v), want);
        return -1;
    }
    c->set |= 1u << (k - keys);
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
        if (set_arg(c, key, eq + 1, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* [*s, *e) without the blanks at both ends (the helper's String.trim()). */
static void trim(const char **s, const char **e)
{
    static const char blanks[] = " \t\r\v\f";

    while (*s < *e && strchr(blanks, **s) != NULL)
        (*s)++;
    while (*e > *s && strchr(blanks, (*e)[-1]) != NULL)
        (*e)--;
}

int kb_conf_apply_text(struct kb_conf *c, const char *text, const char *file, char *err, size_t errlen)
{
    const unsigned from_plugstack = c->set;
    const char *p = text;
    struct kb_conf scratch; /* where a value plugstack.conf overrides is checked */

    for (int line = 1; *p != '\0'; line++) {
        const char *end = p + strcspn(p, "\n"), *hash = memchr(p, '#', (size_t)(end - p));
        const char *stop = hash ? hash : end, *eq = memchr(p, '=', (size_t)(stop - p));
        const char *ks = p, *ke = eq, *vs = eq + 1, *ve = stop;
        const struct key *k = NULL;
        char name[64], value[KB_PATH_LEN + 1], want[128];

        if (eq != NULL) {
            trim(&ks, &ke);
            trim(&vs, &ve);
            if ((size_t)(ke - ks) < sizeof(name)) {
                memcpy(name, ks, (size_t)(ke - ks));
                name[ke - ks] = '\0';
                k = find_key(name);
            }
        }
        /* Only the keys the plugin's checks depend on; the others are the helper's to validate. */
        if (k != NULL && k->in_file) {
            size_t vlen = (size_t)(ve - vs) < sizeof(value) ? (size_t)(ve - vs) : sizeof(value) - 1;
            /* plugstack.conf wins, but a bad value is an error all the same: the helper reads it too. */
            struct kb_conf *into = (from_plugstack & (1u << (k - keys))) ? &scratch : c;

            memcpy(value, vs, vlen);
            value[vlen] = '\0';
            /* A value too long for the buffer is too long for any field. Within the file the last line
               wins, as for the helper; a refused value leaves the field as it was. */
            if ((size_t)(ve - vs) >= sizeof(value) || set_value(into, k, value) != 0) {
                expected(k, want, sizeof(want));
                snprintf(err, errlen, "%s:%d: bad value for %s: \"%.*s%s\" (expected %s)", file, line, name,
                         SHOWN(value), want);
                return -1;
            }
        }
        p = *end == '\n' ? end + 1 : end;
    }
    return 0;
}

int kb_conf_read_file(struct kb_conf *c, char *err, size_t errlen)
{
    const char *path = c->config[0] ? c->config : KB_DEFAULT_CONFIG_FILE;
    char buf[65536];
    ssize_t n = 0;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return 0; /* the helper reports a missing explicit file with E_CONFIG */
    while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (len == sizeof(buf)) {
        snprintf(err, errlen, "%s: larger than %zu bytes, more than a config file can be", path, sizeof(buf) - 1);
        return -1;
    }
    buf[len] = '\0';
    return kb_conf_apply_text(c, buf, path, err, errlen);
}
