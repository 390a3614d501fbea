/* A tiny fake of the SPANK host (pam-krb5's fakepam idea): what the plugin asked of Slurm. */
#ifndef KRB5BRIDGE_FAKE_SPANK_H
#define KRB5BRIDGE_FAKE_SPANK_H

#include <stdint.h>
#include <sys/types.h>
#include <slurm/spank.h>

struct fake_spank {
    /* set by the test */
    spank_context_t context;
    uid_t uid;
    gid_t gid;
    uint32_t job;
    int items_fail;
    /* seen by the test */
    int options;
    struct spank_option option;
    int setenv_calls;
    char setenv_name[64];
    char setenv_value[2048];
    int setenv_overwrite;
    int unsetenv_calls;
    char unsetenv_name[64];
    char log[16384];
};

/* Lives in shared memory so a forked scenario can report back. */
extern struct fake_spank *fake;

#endif
