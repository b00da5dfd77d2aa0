
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_cache_policy.h"


static time_t ngx_astro_cache_scale(time_t v, unsigned factor,
    time_t max_ttl);
static time_t ngx_astro_cache_window(time_t fresh, unsigned refresh);


int
ngx_astro_cache_policy_apply(const ngx_astro_cache_policy_t *p,
    const ngx_astro_cache_origin_t *o, ngx_astro_cache_validity_t *v)
{
    time_t  ttl, stale, stale_if_error, fresh, window;

    /*
     * The class's windows grow with the health factor, up to max_ttl but
     * never below the class's own; churn shortens the TTL alone.
     */

    ttl = ngx_astro_cache_scale(p->ttl, p->factor, p->max_ttl);
    stale = ngx_astro_cache_scale(p->stale, p->factor, p->max_ttl);
    stale_if_error = ngx_astro_cache_scale(p->stale_if_error, p->factor,
                                           p->max_ttl);

    if (p->shrink != NGX_ASTRO_CACHE_FACTOR_ONE && ttl > 0) {
        ttl = ttl * p->shrink / NGX_ASTRO_CACHE_FACTOR_ONE;

        if (ttl == 0) {
            ttl = 1;
        }
    }

    v->origin = 0;

    if (p->origin != NGX_ASTRO_CACHE_ORIGIN_OVERRIDE) {

        if (o->set
            && (p->origin == NGX_ASTRO_CACHE_ORIGIN_RESPECT || o->valid < ttl))
        {
            ttl = o->valid;
            v->origin = 1;
        }

        /* a window the origin did not give is the class's */

        if (o->updating
            && (p->origin == NGX_ASTRO_CACHE_ORIGIN_RESPECT
                || o->updating < stale))
        {
            stale = o->updating;
        }

        if (o->error
            && (p->origin == NGX_ASTRO_CACHE_ORIGIN_RESPECT
                || o->error < stale_if_error))
        {
            stale_if_error = o->error;
        }
    }

    if (ttl <= 0) {
        return -1;
    }

    v->refresh = 0;

    /*
     * Refresh-ahead: the entry is fresh for refresh% of its TTL, and the
     * rest is an updating window in which one background request
     * refreshes it; a TTL too short to split in whole seconds is not.
     */

    fresh = ttl * p->refresh / 100;

    if (p->refresh && p->refresh < 100 && !p->paused && fresh > 0) {
        window = ngx_astro_cache_window(fresh, p->refresh);

        v->valid = fresh;
        v->updating = window + stale;
        v->error = window + stale_if_error;
        v->ttl = fresh + window;
        v->refresh = p->refresh;

        return 0;
    }

    v->valid = ttl;
    v->updating = stale;
    v->error = stale_if_error;
    v->ttl = ttl;

    return 0;
}


int
ngx_astro_cache_policy_refreshing(time_t valid_sec, time_t date, time_t now,
    unsigned refresh)
{
    if (refresh == 0 || refresh >= 100 || now <= valid_sec
        || valid_sec <= date)
    {
        return 0;
    }

    return now - valid_sec
           <= ngx_astro_cache_window(valid_sec - date, refresh);
}


static time_t
ngx_astro_cache_scale(time_t v, unsigned factor, time_t max_ttl)
{
    time_t  s;

    if (v <= 0 || factor == NGX_ASTRO_CACHE_FACTOR_ONE) {
        return v;
    }

    s = v * factor / NGX_ASTRO_CACHE_FACTOR_ONE;

    if (max_ttl && s > max_ttl && factor > NGX_ASTRO_CACHE_FACTOR_ONE) {
        s = max_ttl > v ? max_ttl : v;
    }

    return s;
}


/*
 * The window after "fresh" seconds, rounded up: with fresh the TTL's
 * refresh% rounded down, fresh + window is the TTL or a little less
 * (by under 100/refresh seconds), and both sides compute it alike.
 */

static time_t
ngx_astro_cache_window(time_t fresh, unsigned refresh)
{
    return (fresh * (100 - refresh) + refresh - 1) / refresh;
}
