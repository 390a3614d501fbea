/* The fake SPANK host: records what the plugin asks, answers from `fake`. */
#include "fake_spank.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct fake_spank *fake;

static void logv(const char *level, const char *fmt, va_list ap)
{
    size_t len = strlen(fake->log);

    if (len + 1 >= sizeof(fake->log))
        return;
    len += (size_t)snprintf(fake->log + len, sizeof(fake->log) - len, "%s: ", level);
    if (len + 1 >= sizeof(fake->log))
        return;
    len += (size_t)vsnprintf(fake->log + len, sizeof(fake->log) - len, fmt, ap);
    if (len + 1 < sizeof(fake->log))
        strcat(fake->log, "\n");
}

#define LOGGER(fn, level)                 \
    void fn(const char *fmt, ...)         \
    {                                     \
        va_list ap;                       \
        va_start(ap, fmt);                \
        logv(level, fmt, ap);             \
        va_end(ap);                       \
    }
LOGGER(slurm_error, "error")
LOGGER(slurm_info, "info")
/* Debug levels are for the logs, not part of what a person is told: not recorded. */
#define QUIET(fn) \
    void fn(const char *fmt, ...) { (void)fmt; }
QUIET(slurm_verbose)
QUIET(slurm_debug)
QUIET(slurm_debug2)
QUIET(slurm_debug3)
LOGGER(slurm_spank_log, "user")

spank_context_t spank_context(void)
{
    return fake->context;
}

spank_err_t spank_option_register(spank_t sp, struct spank_option *opt)
{
    (void)sp;
    fake->options++;
    fake->option = *opt;
    return ESPANK_SUCCESS;
}

spank_err_t spank_get_item(spank_t sp, spank_item_t item, ...)
{
    va_list ap;
    spank_err_t rc = ESPANK_SUCCESS;

    (void)sp;
    if (fake->items_fail || fake->context == S_CTX_SLURMD) /* slurmd context has no job items */
        return ESPANK_NOT_AVAIL;
    va_start(ap, item);
    switch (item) {
    case S_JOB_UID:
        *va_arg(ap, uid_t *) = fake->uid;
        break;
    case S_JOB_GID:
        *va_arg(ap, gid_t *) = fake->gid;
        break;
    case S_JOB_ID:
        *va_arg(ap, uint32_t *) = fake->job;
        break;
    default:
        rc = ESPANK_BAD_ARG;
    }
    va_end(ap);
    return rc;
}

spank_err_t spank_setenv(spank_t sp, const char *var, const char *val, int overwrite)
{
    (void)sp;
    if (fake->context != S_CTX_REMOTE)
        return ESPANK_NOT_REMOTE;
    fake->setenv_calls++;
    snprintf(fake->setenv_name, sizeof(fake->setenv_name), "%s", var);
    snprintf(fake->setenv_value, sizeof(fake->setenv_value), "%s", val);
    fake->setenv_overwrite = overwrite;
    return ESPANK_SUCCESS;
}

spank_err_t spank_unsetenv(spank_t sp, const char *var)
{
    (void)sp;
    if (fake->context != S_CTX_REMOTE)
        return ESPANK_NOT_REMOTE;
    fake->unsetenv_calls++;
    snprintf(fake->unsetenv_name, sizeof(fake->unsetenv_name), "%s", var);
    return ESPANK_SUCCESS;
}

const char *spank_strerror(spank_err_t err)
{
    return err == ESPANK_SUCCESS ? "Success" : "fake spank error";
}
