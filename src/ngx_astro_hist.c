
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_hist.h"


const uint64_t  ngx_astro_hist_bounds[NGX_ASTRO_HIST_N - 1] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


unsigned
ngx_astro_hist_bucket(uint64_t ms)
{
    unsigned  i;

    for (i = 0; i < NGX_ASTRO_HIST_N - 1; i++) {
        if (ms <= ngx_astro_hist_bounds[i]) {
            return i;
        }
    }

    return NGX_ASTRO_HIST_N - 1;
}


/*
 * The q-quantile (0 < q <= 1), interpolated linearly inside its bucket as
 * Prometheus's histogram_quantile() does; the open last bucket answers
 * its lower bound.  An empty histogram answers 0.
 */

double
ngx_astro_hist_quantile(const uint64_t *counts, double q)
{
    double    rank, lo, hi;
    unsigned  i;
    uint64_t  total, seen;

    total = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        total += counts[i];
    }

    if (total == 0) {
        return 0;
    }

    rank = q * (double) total;
    seen = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {

        if (counts[i] == 0 || (double) (seen + counts[i]) < rank) {
            seen += counts[i];
            continue;
        }

        lo = (i == 0) ? 0 : (double) ngx_astro_hist_bounds[i - 1];

        if (i == NGX_ASTRO_HIST_N - 1) {
            return lo;
        }

        hi = (double) ngx_astro_hist_bounds[i];

        return lo + (hi - lo) * (rank - (double) seen) / (double) counts[i];
    }

    return (double) ngx_astro_hist_bounds[NGX_ASTRO_HIST_N - 2];
}
