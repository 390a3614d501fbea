/* Turning a helper run into one line a person can act on, with the registry in errors.h. */
#ifndef KRB5BRIDGE_STATUS_H
#define KRB5BRIDGE_STATUS_H

#include <stddef.h>
#include "checks.h"
#include "run.h"

/* Time the helper gets beyond the store timeout: Node's start-up, on a busy machine (30 sbatch at once). */
#define KB_STARTUP_S 30

/* The registry code for an exit status ("E_NO_TICKET"), or NULL if unknown. */
const char *kb_status_code(int status);

/* The registry message for an exit status, or NULL if unknown. */
const char *kb_status_message(int status);

/* The helper exit status that means the same as a ticket state (0 for KB_TICKET_OK). */
int kb_ticket_status(enum kb_ticket_state t);

/* 1 if the status means "the user has no usable ticket" (no ticket, no TGT, expired). */
int kb_status_is_no_ticket(int status);

/* 1 if the status means "the store holds nothing for this user". */
int kb_status_is_not_found(int status);

/*
 * The last line of `text` that starts with "krb5bridge: E_" (the helper's stderr, or the line of a
 * keeper's error answer), as "krb5bridge: <message>" without the code, which goes to `code`.
 * -1 if there is no such line.
 */
int kb_error_line(const char *text, char *line, size_t len, char *code, size_t codelen);

/*
 * One line "krb5bridge: <what failed; what to do>" (no trailing newline) for a failed run of
 * `verb`: the helper's own last "krb5bridge: E_CODE: ..." stderr line without the code, or the
 * registry message for its exit status, or what happened (timeout, signal, exec failure).
 * `timeout_s` is the configured store timeout. Sets `code` to the registry code or "" if none.
 */
/* A helper killed by its deadline (timeout_s + KB_STARTUP_S) says it did not finish, not that the store timed out. */
void kb_describe_failure(const struct kb_run_result *res, const char *verb, int timeout_s,
                         char *line, size_t len, char *code, size_t codelen);

/* The same for a status the plugin found itself (no helper run). */
void kb_describe_status(int status, char *line, size_t len);

#endif
