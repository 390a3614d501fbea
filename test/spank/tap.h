/* Minimal TAP output for the C tests: one "ok N - name" line per check, a plan at the end. */
#ifndef KRB5BRIDGE_TAP_H
#define KRB5BRIDGE_TAP_H

#include <stdio.h>
#include <stdarg.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 4, 5), unused))
static int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return pass;
}

/* Strings equal, showing both on failure. */
/* Print a string on one diagnostic line, newlines and tabs escaped, so a failure shows all of it. */
__attribute__((unused))
static void tap_diag_str(const char *label, const char *s)
{
    printf("#   %s \"", label);
    for (; s && *s; s++) {
        if (*s == '\n')
            fputs("\\n", stdout);
        else if (*s == '\t')
            fputs("\\t", stdout);
        else
            putchar(*s);
    }
    printf("\"\n");
}

#define is_str(got, want, ...)                                                                   \
    do {                                                                                         \
        const char *g_ = (got), *w_ = (want);                                                    \
        if (!ok(g_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__)) {                               \
            tap_diag_str("got: ", g_ ? g_ : "(null)");                                           \
            tap_diag_str("want:", w_);                                                           \
        }                                                                                        \
    } while (0)

__attribute__((unused))
static void tap_skip(int n, const char *why)
{
    for (int i = 0; i < n; i++)
        printf("ok %d - # SKIP %s\n", ++tap_n, why);
}

__attribute__((unused))
static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
