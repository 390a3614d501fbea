/* Plugin settings: plugstack.conf arguments (strict) over the helper's config file (lenient). */
#ifndef KRB5BRIDGE_CONFIG_H
#define KRB5BRIDGE_CONFIG_H

#include <stddef.h>
#include "defaults.h" /* generated from the helper's defaults (helper/src/config/cheader.ts) */

enum kb_mode { KB_MODE_AUTO, KB_MODE_YES, KB_MODE_NO };
enum kb_policy { KB_POLICY_WARN, KB_POLICY_FAIL };

#define KB_PATH_LEN 1024
/* The plugin's own settings; the ones it shares with the helper are in defaults.h. */
#define KB_DEFAULT_NODE "/usr/bin/node"
#define KB_DEFAULT_HELPER "/usr/local/lib/krb5bridge/krb5bridge.cjs"
#define KB_DEFAULT_PUSH_TTL 900

struct kb_conf {
    enum kb_mode mode;
    enum kb_policy policy;
    char node[KB_PATH_LEN];
    char helper[KB_PATH_LEN];
    char config[KB_PATH_LEN];      /* "" = the helper's default file */
    char store[256];
    char munge_socket[KB_PATH_LEN]; /* "" = libmunge's default */
    char ccache_dir[KB_PATH_LEN];
    char state_dir[KB_PATH_LEN];
    char marker_dir[KB_PATH_LEN];
    char krb5_config[KB_PATH_LEN]; /* "" = libkrb5's default */
    char keeper_socket[108];       /* the node keeper's unix socket (sun_path size) */
    int timeout;                   /* seconds */
    int push_ttl;                  /* seconds; 0 disables the push fast path */
    unsigned set;                  /* bit per key given in plugstack.conf (config.c's table order) */
};

void kb_conf_defaults(struct kb_conf *c);

/*
 * Parse plugstack.conf arguments `key=value`; an unknown key or bad value is -1 with err naming
 * the argument and what it takes.
 */
int kb_conf_parse_args(struct kb_conf *c, int ac, char **av, char *err, size_t errlen);

/*
 * Take store, munge_socket, ccache_dir, state_dir, marker_dir and keeper_socket from the helper's
 * config file where plugstack.conf did not set them, so the plugin's fast checks look where the
 * helper writes. One of these keys with a bad value is -1 with err "FILE:LINE: bad value for KEY:
 * \"VALUE\" (expected ...)"; other keys are the helper's to validate; a missing file leaves the
 * defaults (the helper reports a missing explicit file).
 */
int kb_conf_read_file(struct kb_conf *c, char *err, size_t errlen);

/* The pure part of kb_conf_read_file: the text of `file`. */
int kb_conf_apply_text(struct kb_conf *c, const char *text, const char *file, char *err, size_t errlen);

/* "yes"/"no"/"auto" (NULL = yes: a bare --krb5); -1 if anything else. */
int kb_parse_mode(const char *s, enum kb_mode *out);

const char *kb_mode_name(enum kb_mode m);

#endif
