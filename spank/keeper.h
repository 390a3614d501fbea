/*
 * The plugin's client of the node keeper (krb5bridge keeper): one request line over a unix
 * socket, one answer line (docs/internals.md, "Keeper socket"). Used so that the first step of a
 * job on a node gets its ccache without starting Node. The socket is trusted only if it and its
 * directory are root's and not writable by others; anything else means "no keeper": fall back.
 */
#ifndef KRB5BRIDGE_KEEPER_H
#define KRB5BRIDGE_KEEPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Results of kb_keeper_request (besides > 0: the keeper answered an error with that exit status). */
#define KB_KEEPER_OK 0
#define KB_KEEPER_UNAVAILABLE (-1) /* no keeper, untrusted socket, no or garbled answer: fall back */

/*
 * The socket at `path` is safe to talk to: lstat shows a socket owned by `owner` (root), not
 * writable by group/others, in a directory owned by `owner` that group/others cannot write.
 * 0, or -1 with why.
 */
int kb_keeper_socket_check(const char *path, uid_t owner, char *why, size_t whylen);

/*
 * Send `request` (one line, no newline) and read one answer line within timeout_ms. On "ok TEXT"
 * TEXT goes to `out` and 0 is returned; on "error STATUS LINE" LINE goes to `out` and STATUS
 * (1..255) is returned; KB_KEEPER_UNAVAILABLE with why otherwise.
 */
int kb_keeper_request(const char *path, uid_t owner, const char *request, int timeout_ms, char *out,
                      size_t outlen, char *why, size_t whylen);

#endif
