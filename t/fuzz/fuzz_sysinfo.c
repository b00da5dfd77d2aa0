
/*
 * Copyright (C) astro developers
 */


/*
 * The /proc and cgroup v2 parsers of the health sampler, every one on
 * every input (a file another process, a container's runtime or a
 * kernel of another version writes), and the arithmetic on what they
 * read, with what the sampler relies on:
 *
 *   /proc/stat       busy <= total (no sum that wrapped)
 *   /proc/meminfo    available <= total (total - available is "used")
 *   /proc/loadavg    finite and >= 0
 *   /proc/self/cgroup  the path: "/...", terminated, within its buffer,
 *                    without ".." or a newline
 *   cpu.max          period >= 1
 *   percentages      finite, 0 to 100 (to rounding) where they are
 */

#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_astro_sysinfo.h"


/* 100 * a / b for a <= b may round to a hair above 100 */
#define MAX_PCT  (100 + 1e-9)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char      *buf, path[64];
    double     load[3], pct;
    size_t     n;
    unsigned   i;
    uint64_t   busy, total, avail, quota, period, usage, v, w[4];

    /* exactly the size: the files are read into buffers not terminated */

    buf = malloc(size ? size : 1);
    fuzz_assert(buf != NULL);
    memcpy(buf, data, size);

    if (ngx_astro_parse_proc_stat(buf, size, &busy, &total) == 0) {
        fuzz_assert(busy <= total);

        pct = ngx_astro_cpu_percent(0, 0, busy, total);
        fuzz_assert(pct >= 0 && pct <= MAX_PCT);
    }

    if (ngx_astro_parse_meminfo(buf, size, &total, &avail) == 0) {
        fuzz_assert(avail <= total);

        pct = ngx_astro_mem_percent(total - avail, total);
        fuzz_assert(pct >= 0 && pct <= MAX_PCT);
    }

    if (ngx_astro_parse_loadavg(buf, size, load) == 0) {
        for (i = 0; i < 3; i++) {
            fuzz_assert(isfinite(load[i]) && load[i] >= 0);
        }
    }

    memset(path, 'x', sizeof(path));

    if (ngx_astro_parse_self_cgroup(buf, size, path, sizeof(path)) == 0) {
        n = strnlen(path, sizeof(path));
        fuzz_assert(n > 0 && n < sizeof(path));
        fuzz_assert(path[0] == '/');
        fuzz_assert(strstr(path, "..") == NULL);
        fuzz_assert(strchr(path, '\n') == NULL);
    }

    if (ngx_astro_parse_cpu_max(buf, size, &quota, &period) == 0) {
        fuzz_assert(period >= 1);

        if (ngx_astro_parse_cpu_stat(buf, size, &usage) == 0) {
            pct = ngx_astro_cgroup_cpu_percent(usage, 1000000, quota,
                                               period);
            fuzz_assert(isfinite(pct) && pct >= 0 && pct <= MAX_PCT);
        }
    }

    (void) ngx_astro_parse_cpu_stat(buf, size, &usage);
    (void) ngx_astro_parse_u64(buf, size, &v);

    /* the arithmetic on any figures: samples of files that changed */

    if (size >= 32) {
        for (i = 0; i < 4; i++) {
            memcpy(&w[i], data + 8 * i, 8);
        }

        pct = ngx_astro_cpu_percent(w[0], w[1], w[2], w[3]);
        fuzz_assert(isfinite(pct) && pct >= 0);

        pct = ngx_astro_cgroup_cpu_percent(w[0], w[1], w[2], w[3]);
        fuzz_assert(isfinite(pct) && pct >= 0 && pct <= MAX_PCT);

        pct = ngx_astro_mem_percent(w[0], w[1]);
        fuzz_assert(isfinite(pct) && pct >= 0 && pct <= MAX_PCT);
    }

    free(buf);

    return 0;
}
