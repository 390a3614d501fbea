/*
 * The plugin's push-marker check, alone: what srun's local hook does when the store already holds
 * the user's ticket (read the TGT with libkrb5, build the marker line, check the marker file).
 * Run as the user, with KRB5CCNAME set and a marker written by a push:
 *   marker-bench STORE MARKER_DIR [N]    prints "marker check: <microseconds> us per srun (median of N)"
 * Built and run by bench/keeper-bench.mjs (scripts/bench).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "config.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    char line[KB_LINE_LEN], path[KB_PATH_LEN + 64], why[1024];
    struct kb_tgt tgt;
    int n = argc > 3 ? atoi(argv[3]) : 200;
    double *t;

    if (argc < 3 || n < 1) {
        fprintf(stderr, "usage: marker-bench STORE MARKER_DIR [N]\n");
        return 2;
    }
    t = calloc((size_t)n, sizeof(*t));
    if (t == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        time_t now = time(NULL);
        if (kb_marker_line(argv[1], now, line, sizeof(line), &tgt, why, sizeof(why)) != KB_TICKET_OK
            || kb_marker_path(argv[2], getuid(), path, sizeof(path)) != 0
            || kb_marker_check(path, getuid(), 900, now, line, why, sizeof(why)) != 0) {
            fprintf(stderr, "marker-bench: the check does not pass (push first?): %s\n", why);
            return 1;
        }
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)n, sizeof(*t), cmp);
    printf("%.1f\n", t[n / 2]);
    free(t);
    return 0;
}
