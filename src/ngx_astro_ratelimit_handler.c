
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"
#include "ngx_astro_health_api.h"
#include "ngx_astro_wait.h"


/*
 * The preaccess handler: every astro_ratelimit zone of the location
 * decides, then astro_speedlimit may hold the request on a timer, as
 * limit_req delays.  Local zones decide at once; Redis zones send their
 * commands together (pipelined on the worker's connections) and the
 * request waits for the last reply, or for the fail policy.  Hybrid zones
 * decide at once, but for keys near their limit, which ask Redis.
 */


static ngx_int_t ngx_http_astro_ratelimit_finish(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_ctx_t *ctx);
static ngx_int_t ngx_http_astro_ratelimit_zone_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_decision_t *d);
static void ngx_http_astro_ratelimit_count(
    ngx_http_astro_ratelimit_decision_t *d, ngx_uint_t n, ngx_atomic_t *which,
    ngx_http_astro_ratelimit_decision_t *speed);
static ngx_int_t ngx_http_astro_ratelimit_fail_closed(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_ctx_t *ctx,
    ngx_http_astro_ratelimit_zone_t *zone);
static ngx_msec_t ngx_http_astro_ratelimit_speed(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_speed_t *speed,
    ngx_http_astro_ratelimit_decision_t *sd);
static void ngx_http_astro_ratelimit_abandon(void *data);
static void ngx_http_astro_ratelimit_delay(ngx_http_request_t *r);


ngx_int_t
ngx_http_astro_ratelimit_handler(ngx_http_request_t *r)
{
    ngx_uint_t                             i, n, si, nlimits;
    ngx_pool_cleanup_t                    *cln;
    ngx_http_astro_ratelimit_ctx_t        *ctx;
    ngx_http_astro_ratelimit_limit_t      *limit;
    ngx_http_astro_ratelimit_speed_t      *speed;
    ngx_http_astro_ratelimit_decision_t   *d;
    ngx_http_astro_ratelimit_loc_conf_t   *rlcf;

    ctx = ngx_http_astro_ratelimit_get_ctx(r);

    /*
     * decided once per request, also when a delay runs the phase again
     * and after an internal redirect (error_page), as limit_req
     */

    if (ctx && ctx->done) {

        if (ctx->waiting && ctx->request == r) {
            if (ctx->pending) {
                return NGX_AGAIN;
            }

            ctx->waiting = 0;
            return ngx_http_astro_ratelimit_finish(r, ctx);
        }

        return NGX_DECLINED;
    }

    rlcf = ngx_http_get_module_loc_conf(r, ngx_astro_ratelimit_module);

    speed = rlcf->speed;
    nlimits = rlcf->limits.nelts;

    if (nlimits == 0 && speed == NULL) {
        return NGX_DECLINED;
    }

    /* one decision per limit, and one for a zone that only slows down */

    limit = rlcf->limits.elts;
    n = nlimits;
    si = 0;

    if (speed) {
        for (si = 0; si < nlimits; si++) {
            if (limit[si].zone == speed->zone) {
                break;
            }
        }

        n += (si == nlimits);
    }

    /* no context yet (every context is done) */

    ctx = ngx_http_astro_ratelimit_create_ctx(r, n);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    d = ctx->d;

    /*
     * before any question to Redis: a request that ends early (an error
     * below, a client that leaves) cancels its questions
     */

    if (rlcf->redis) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_astro_ratelimit_abandon;
        cln->data = ctx;

        ctx->wake.handler = ngx_astro_http_resume;
        ctx->wake.data = r;
        ctx->wake.log = r->connection->log;
    }

    ctx->now = ngx_http_astro_ratelimit_now();

    for (i = 0; i < nlimits; i++) {
        d[i].ctx = ctx;

        if (ngx_http_astro_ratelimit_zone_decide(r, limit[i].zone, &d[i])
            == NGX_ERROR)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* a zone that only slows down is asked too */

    if (speed) {
        ctx->sd = &d[si];

        if (si == nlimits) {
            d[nlimits].ctx = ctx;

            if (ngx_http_astro_ratelimit_zone_decide(r, speed->zone,
                                                     &d[nlimits])
                == NGX_ERROR)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    if (ctx->pending == 0) {
        return ngx_http_astro_ratelimit_finish(r, ctx);
    }

    /* Redis answers later: the client may go away meanwhile */

    ctx->waiting = 1;

    return ngx_astro_http_wait(r);
}


/* every zone has decided: the answer, and the speed limit's hold */

static ngx_int_t
ngx_http_astro_ratelimit_finish(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_ctx_t *ctx)
{
    ngx_msec_t                             delay;
    ngx_uint_t                             i, nlimits, rejected, failopen;
    ngx_http_astro_ratelimit_limit_t      *limit;
    ngx_http_astro_ratelimit_speed_t      *speed;
    ngx_http_astro_ratelimit_decision_t   *d, *sd, *shown;
    ngx_http_astro_ratelimit_loc_conf_t   *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_astro_ratelimit_module);

    d = ctx->d;
    limit = rlcf->limits.elts;
    nlimits = rlcf->limits.nelts;
    speed = rlcf->speed;

    shown = NULL;
    sd = ctx->sd;
    rejected = 0;
    failopen = 0;

    for (i = 0; i < nlimits; i++) {

        if (d[i].empty) {
            continue;                   /* an empty key */
        }

        if (d[i].failopen) {
            ngx_atomic_fetch_add(&limit[i].zone->sh->failopen, 1);
            failopen = 1;
        }

        if (d[i].failclosed) {
            ngx_atomic_fetch_add(&limit[i].zone->sh->failclosed, 1);

            if (limit[i].dry_run) {
                ngx_http_astro_ratelimit_debug(r, &d[i], "dry_run, "
                                               "fail-closed");

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "astro_ratelimit: dry run: zone \"%V\" would "
                              "refuse the request: no answer from Redis",
                              &limit[i].zone->name);

                ngx_atomic_fetch_add(&limit[i].zone->sh->dry_run, 1);
                ctx->status = NGX_HTTP_ASTRO_RL_DRY_RUN;

                continue;
            }

            ngx_http_astro_ratelimit_debug(r, &d[i], "fail-closed");

            return ngx_http_astro_ratelimit_fail_closed(r, ctx, limit[i].zone);
        }

        if (d[i].full) {
            /* no room in the zone: refused, as limit_req does */
            d[i].res.allowed = 0;
        }

        if (!d[i].res.allowed && limit[i].dry_run) {
            ngx_http_astro_ratelimit_debug_res(r, &d[i], "dry_run");

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "astro_ratelimit: dry run: zone \"%V\" would "
                          "reject the request, retry after %uLms",
                          &limit[i].zone->name,
                          (d[i].res.retry_after + 999) / 1000);

            ngx_http_astro_ratelimit_count(&d[i], 1,
                                           &limit[i].zone->sh->dry_run,
                                           NULL);
            ctx->status = NGX_HTTP_ASTRO_RL_DRY_RUN;

            continue;
        }

        if (limit[i].dry_run) {
            /* a dry run passes silently: no headers, no status */
            ngx_http_astro_ratelimit_debug_res(r, &d[i], "passed, dry run");
            ngx_http_astro_ratelimit_count(&d[i], 1,
                                           &limit[i].zone->sh->passed, NULL);
            continue;
        }

        if (!d[i].res.allowed) {
            /* the zones after this one are not looked at */
            ngx_http_astro_ratelimit_debug_res(r, &d[i],
                d[i].full ? "rejected, the zone is full"
                          : d[i].failopen ? "rejected, fail-open"
                                          : "rejected");
            rejected = 1;
            shown = &d[i];
            break;
        }

        ngx_http_astro_ratelimit_debug_res(r, &d[i],
                                           d[i].failopen ? "fail-open"
                                                         : "passed");

        if (shown == NULL || d[i].res.remaining < shown->res.remaining) {
            shown = &d[i];
        }
    }

    if (rejected) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "astro_ratelimit: rejected by zone \"%V\"%s",
                      &shown->zone->name,
                      shown->failopen ? " deciding without Redis" : "");

        /* every zone was asked, and counted the request */

        ngx_http_astro_ratelimit_count(d, ctx->n, NULL, NULL);
        ngx_atomic_fetch_add(&shown->zone->sh->rejected, 1);

        ctx->status = NGX_HTTP_ASTRO_RL_REJECTED;
        ctx->shown = shown;

        if (ngx_http_astro_ratelimit_headers(r, shown, rlcf->headers, 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_astro_health_refused(r, NGX_ASTRO_REFUSED_RATELIMIT);

        return rlcf->status_code;
    }

    delay = 0;

    if (sd == &d[nlimits]) {
        /* a zone that only slows down */

        if (sd->failopen) {
            ngx_atomic_fetch_add(&speed->zone->sh->failopen, 1);
            failopen = 1;
        }

        if (sd->failclosed) {
            ngx_atomic_fetch_add(&speed->zone->sh->failclosed, 1);
            ngx_http_astro_ratelimit_debug(r, sd, "fail-closed");

            return ngx_http_astro_ratelimit_fail_closed(r, ctx, speed->zone);
        }
    }

    if (sd) {
        delay = ngx_http_astro_ratelimit_speed(r, speed, sd);
    }

    ngx_http_astro_ratelimit_count(d, ctx->n, NULL,
                                   delay ? sd : NULL);

    if (ctx->status == NGX_HTTP_ASTRO_RL_NONE) {
        ctx->status = failopen ? NGX_HTTP_ASTRO_RL_FAILOPEN
                               : NGX_HTTP_ASTRO_RL_PASSED;
    }

    ctx->shown = shown;

    /* a passed request has nothing to say with headers off */

    if (shown && rlcf->headers != NGX_HTTP_ASTRO_RL_HEADERS_OFF
        && ngx_http_astro_ratelimit_headers(r, shown, rlcf->headers, 0)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (delay == 0) {
        return NGX_DECLINED;
    }

    if (ctx->status == NGX_HTTP_ASTRO_RL_PASSED) {
        ctx->status = NGX_HTTP_ASTRO_RL_DELAYED;
    }

    /* as limit_req: a client that leaves while held is noticed */

    if (ngx_astro_http_wait(r) != NGX_AGAIN) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->write_event_handler = ngx_http_astro_ratelimit_delay;

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, delay);

    ngx_http_astro_health_hold(r);

    return NGX_AGAIN;
}


/* fail=closed and no answer from Redis: 503, the others counted */

static ngx_int_t
ngx_http_astro_ratelimit_fail_closed(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_ctx_t *ctx, ngx_http_astro_ratelimit_zone_t *zone)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "astro_ratelimit: zone \"%V\" refuses the request: no "
                  "answer from Redis (fail=closed)", &zone->name);

    ngx_http_astro_ratelimit_count(ctx->d, ctx->n, NULL, NULL);
    ctx->status = NGX_HTTP_ASTRO_RL_FAILCLOSED;

    ngx_http_astro_health_refused(r, NGX_ASTRO_REFUSED_RATELIMIT);

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


/*
 * The hold of the n-th request of the window, this one counted; one the
 * window refused counts as its rate + 1.  Health that is degraded or
 * critical multiplies the hold by the directive's factor.
 */

static ngx_msec_t
ngx_http_astro_ratelimit_speed(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_speed_t *speed,
    ngx_http_astro_ratelimit_decision_t *sd)
{
    uint64_t    n;
    ngx_msec_t  delay;
    ngx_uint_t  factor;

    if (sd->empty || sd->full || sd->failclosed) {
        return 0;
    }

    n = sd->res.allowed ? sd->rate.count - sd->res.remaining
                        : (uint64_t) sd->rate.count + 1;

    switch (ngx_http_astro_health_current(r)) {

    case NGX_ASTRO_DEGRADED:
        factor = speed->degraded;
        break;

    case NGX_ASTRO_CRITICAL:
        factor = speed->critical;
        break;

    default:
        factor = 1000;
    }

    delay = (ngx_msec_t) ngx_astro_limit_delay(n, speed->after, speed->delay,
                                               speed->max_delay, factor);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_speedlimit: zone \"%V\" key %08XD: request %uL "
                   "of the window, delayed %Mms", &sd->zone->name,
                   ngx_crc32_short(sd->key.data, sd->key.len), n, delay);

    return delay;
}


/* the request ends while it waits: its commands lose their requester */

static void
ngx_http_astro_ratelimit_abandon(void *data)
{
    ngx_http_astro_ratelimit_ctx_t  *ctx = data;

    ngx_uint_t  i;

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }

    if (ctx->pending == 0) {
        return;
    }

    for (i = 0; i < ctx->n; i++) {
        if (ctx->d[i].cmd) {
            ngx_astro_redis_cancel(ctx->d[i].cmd);
            ctx->d[i].cmd = NULL;
        }
    }

    ctx->pending = 0;
    ctx->waiting = 0;
}


/*
 * Sets up d for the zone and decides, or asks Redis (ctx->pending counts
 * the commands); an empty key is not limited.  NGX_ERROR: no memory.
 */

static ngx_int_t
ngx_http_astro_ratelimit_zone_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_decision_t *d)
{
    u_char                           *p;
    size_t                            len;
    u_char                            buf[NGX_ASTRO_LIMIT_KEY_MAX];
    ngx_str_t                         key, tier;
    ngx_http_astro_ratelimit_tier_t  *t;

    d->zone = zone;
    d->rate = zone->rate;
    d->burst = zone->burst;
    d->args = zone->args;

    if (ngx_http_complex_value(r, zone->key, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key.len == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_ratelimit: zone \"%V\": an empty key, "
                       "not limited", &zone->name);
        d->empty = 1;
        return NGX_OK;
    }

    if (zone->tier) {
        if (ngx_http_complex_value(r, zone->tier, &tier) != NGX_OK) {
            return NGX_ERROR;
        }

        t = ngx_http_astro_ratelimit_find_tier(zone, &tier);

        if (t) {
            d->rate = t->rate;
            d->burst = t->burst;
            d->args = t->args;
            d->tier = t->name;
        }
    }

    /* ngx_astro_limit_gcra() takes a 32-bit burst; beyond is no limit */

    if (d->burst > NGX_MAX_UINT32_VALUE) {
        d->burst = NGX_MAX_UINT32_VALUE;
    }

    /* a long key becomes its hash: a client cannot grow the zone's keys */

    p = (u_char *) ngx_astro_limit_key(key.data, key.len, buf, &len);

    if (p == buf) {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, buf, len);
    }

    d->key.data = p;
    d->key.len = len;

    if (zone->backend == NGX_HTTP_ASTRO_RL_REDIS) {
        (void) ngx_http_astro_ratelimit_redis_ask(r, d);
        return NGX_OK;
    }

    if (zone->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
        /* here, or Redis near the limit (exact mode) */

        switch (ngx_http_astro_ratelimit_hybrid_decide(r, d, 1)) {

        case NGX_AGAIN:
            (void) ngx_http_astro_ratelimit_redis_ask(r, d);
            break;

        case NGX_ERROR:
            d->full = 1;
            break;
        }

        return NGX_OK;
    }

    if (ngx_http_astro_ratelimit_decide(r, zone, &d->key, d->ctx->now, d)
        != NGX_OK)
    {
        d->full = 1;
    }

    return NGX_OK;
}


/*
 * Counts the first n decisions that were made: in "which" when given,
 * else as passed, or as delayed for the speed limit's zone.
 */

static void
ngx_http_astro_ratelimit_count(ngx_http_astro_ratelimit_decision_t *d,
    ngx_uint_t n, ngx_atomic_t *which,
    ngx_http_astro_ratelimit_decision_t *speed)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {

        if (!d[i].decided) {
            continue;
        }

        if (which) {
            ngx_atomic_fetch_add(which, 1);

        } else if (&d[i] == speed) {
            ngx_atomic_fetch_add(&d[i].zone->sh->delayed, 1);

        } else if (d[i].res.allowed) {
            ngx_atomic_fetch_add(&d[i].zone->sh->passed, 1);
        }

        d[i].decided = 0;
    }
}


static void
ngx_http_astro_ratelimit_delay(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_speedlimit delay");

    wev = r->connection->write;

    if (wev->delayed) {

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    ngx_http_astro_health_release(r);

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}
