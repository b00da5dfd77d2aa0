
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_HIST_H_INCLUDED_
#define _NGX_ASTRO_HIST_H_INCLUDED_


/* pure code: no nginx headers, unit tested in t/unit/test_hist.c */

#include <stdint.h>


/*
 * A fixed histogram of response times in milliseconds: bucket i counts
 * the times t with bounds[i - 1] < t <= bounds[i]; the last bucket has no
 * upper bound.  Fixed buckets make the shared counters plain atomics.
 */

#define NGX_ASTRO_HIST_N  15


extern const uint64_t  ngx_astro_hist_bounds[NGX_ASTRO_HIST_N - 1];


unsigned ngx_astro_hist_bucket(uint64_t ms);
double ngx_astro_hist_quantile(const uint64_t *counts, double q);


#endif /* _NGX_ASTRO_HIST_H_INCLUDED_ */
