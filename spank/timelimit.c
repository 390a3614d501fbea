/* The submitted job's time limit, from the submitting command's options; see timelimit.h. */
#define _GNU_SOURCE
#include "timelimit.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

#define KB_NO_VAL_MINUTES 0x7ffffffe /* time_str2mins's NO_VAL and INFINITE are negative as int */

long kb_submit_time_limit(void)
{
    void *opt = dlsym(RTLD_DEFAULT, "opt");
    bool (*isset)(void *, const char *) = (bool (*)(void *, const char *))dlsym(RTLD_DEFAULT, "slurm_option_isset");
    char *(*get)(void *, const char *) = (char *(*)(void *, const char *))dlsym(RTLD_DEFAULT, "slurm_option_get");
    int (*str2mins)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "slurm_time_str2mins");
    void (*xfree)(void **) = (void (*)(void **))dlsym(RTLD_DEFAULT, "slurm_xfree");
    char *s;
    int m;

    if (opt == NULL || isset == NULL || get == NULL || str2mins == NULL || xfree == NULL || !isset(opt, "time"))
        return -1;
    if ((s = get(opt, "time")) == NULL)
        return -1;
    m = str2mins(s);
    xfree((void **)&s);
    return (m > 0 && m < KB_NO_VAL_MINUTES) ? m : -1;
}
