/*
 * The time limit of the job being submitted, as srun, sbatch or salloc parsed it (command line,
 * #SBATCH lines, environment). SPANK gives no item for it in these contexts, so it is read the way
 * cli_filter plugins read options: slurm_option_get() on the command's own `opt` (both found with
 * dlsym in the running command; absent anywhere else).
 */
#ifndef KRB5BRIDGE_TIMELIMIT_H
#define KRB5BRIDGE_TIMELIMIT_H

/* Minutes, or -1 when no time limit was given (the partition's default then applies) or unknown. */
long kb_submit_time_limit(void);

#endif
