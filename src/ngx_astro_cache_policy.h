
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CACHE_POLICY_H_INCLUDED_
#define _NGX_ASTRO_CACHE_POLICY_H_INCLUDED_


/*
 * pure code: the validity of a response from its class's policy, the
 * origin's headers, the health factor and the churn; no nginx headers,
 * unit tested in t/unit/test_cache_policy.c.
 */


#include <stdint.h>
#include <sys/types.h>


/* astro_cache origin= */
#define NGX_ASTRO_CACHE_ORIGIN_RESPECT   0
#define NGX_ASTRO_CACHE_ORIGIN_OVERRIDE  1
#define NGX_ASTRO_CACHE_ORIGIN_MIN       2

/* factors are x 100 */
#define NGX_ASTRO_CACHE_FACTOR_ONE       100


/* what applies to a response: its class's policy, as things are now */
typedef struct {
    time_t      ttl;
    time_t      stale;              /* nginx's updating window */
    time_t      stale_if_error;
    unsigned    refresh;            /* % of the TTL stored fresh, 0: off */
    unsigned    origin;             /* NGX_ASTRO_CACHE_ORIGIN_* */
    unsigned    factor;             /* health, x 100; 100: none */
    time_t      max_ttl;            /* what the factor may reach, 0: none */
    unsigned    shrink;             /* churn, x 100; 100: none */
    unsigned    paused;             /* refresh-ahead paused (critical) */
} ngx_astro_cache_policy_t;


/*
 * What the origin's headers said, as nginx parsed them (X-Accel-Expires,
 * Cache-Control, Expires): 0 in a window is "not said".
 */
typedef struct {
    unsigned    set;                /* it gave an expiry */
    time_t      valid;              /* seconds from now, maybe <= 0 */
    time_t      updating;           /* stale-while-revalidate */
    time_t      error;              /* stale-if-error */
} ngx_astro_cache_origin_t;


/* the validity to store, in seconds from now */
typedef struct {
    time_t      valid;              /* fresh */
    time_t      updating;           /* then servable while one refreshes */
    time_t      error;              /* then servable if the origin fails */
    time_t      ttl;                /* applied: fresh and refresh window */
    unsigned    refresh;            /* the % stored fresh; 0: no split */
    unsigned    origin;             /* 1: the origin's expiry won */
} ngx_astro_cache_validity_t;


/*
 * The validity of a response: 0, or -1 when nothing is to be stored (a
 * TTL of 0, or an origin's expiry already past that wins).
 */
int ngx_astro_cache_policy_apply(const ngx_astro_cache_policy_t *policy,
    const ngx_astro_cache_origin_t *origin, ngx_astro_cache_validity_t *v);

/*
 * Whether an entry stored fresh until valid_sec at date, split at
 * "refresh"% (0: not split), is in its refresh window at now: expired,
 * but not yet past the window that followed its fresh part.
 */
int ngx_astro_cache_policy_refreshing(time_t valid_sec, time_t date,
    time_t now, unsigned refresh);


#endif /* _NGX_ASTRO_CACHE_POLICY_H_INCLUDED_ */
