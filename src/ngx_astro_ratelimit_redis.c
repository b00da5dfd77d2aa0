
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"


/*
 * A zone with backend=redis asks Redis: a decision of the zone's script
 * on the key "prefix zone:key", sent with the others of the same turn of
 * the event loop as one EVALSHA.  The request waits for the
 * reply; a failed command (timeout, error, a reply that is not the
 * script's) and a circuit that is open decide by the fail policy at once.
 */


static ngx_int_t ngx_http_astro_ratelimit_redis_reply(void *data,
    redisReply *reply);


ngx_int_t
ngx_http_astro_ratelimit_redis_ask(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d)
{
    u_char                                *p;
    ngx_str_t                              key;
    ngx_astro_redis_script_t              *script;
    ngx_http_astro_ratelimit_zone_t       *zone;
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_astro_ratelimit_module);
    zone = d->zone;

    p = ngx_pnalloc(r->pool, rmcf->prefix.len + zone->name.len + 1
                             + d->key.len);
    if (p == NULL) {
        goto fallback;
    }

    key.data = p;
    p = ngx_cpymem(p, rmcf->prefix.data, rmcf->prefix.len);
    p = ngx_cpymem(p, zone->name.data, zone->name.len);
    *p++ = ':';
    p = ngx_cpymem(p, d->key.data, d->key.len);
    key.len = p - key.data;

    script = (zone->algorithm == NGX_HTTP_ASTRO_RL_GCRA) ? &rmcf->gcra
                                                         : &rmcf->sliding;

    d->cmd = ngx_astro_redis_eval(rmcf->redis, script, &key, d->args,
                                  ngx_http_astro_ratelimit_redis_reply, d);
    if (d->cmd) {
        d->ctx->pending++;
        return NGX_AGAIN;
    }

fallback:

    ngx_http_astro_ratelimit_fallback(r, d);

    return NGX_OK;
}


/* the fail policy: the zone's own shared memory, or a refusal */

void
ngx_http_astro_ratelimit_fallback(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d)
{
    uint64_t     now;
    ngx_time_t  *tp;

    if (d->zone->fail == NGX_HTTP_ASTRO_RL_FAIL_CLOSED) {
        d->failclosed = 1;
        return;
    }

    d->failopen = 1;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * NGX_ASTRO_LIMIT_USEC
          + (uint64_t) tp->msec * 1000;

    if (ngx_http_astro_ratelimit_decide(r, d->zone, &d->key, now, d)
        != NGX_OK)
    {
        d->full = 1;
    }
}


/*
 * The script's reply: what the decision left (ngx_astro_ratelimit_lua.h),
 * from which the limiter's C code computes the answer; integers out of
 * range are not the script speaking and decide by the fail policy.
 */

static ngx_int_t
ngx_http_astro_ratelimit_redis_reply(void *data, redisReply *reply)
{
    ngx_http_astro_ratelimit_decision_t *d = data;

    uint64_t                         v[3];
    ngx_int_t                        rc;
    ngx_uint_t                       i, n;
    ngx_http_astro_ratelimit_ctx_t  *ctx;

    ctx = d->ctx;
    d->cmd = NULL;

    rc = NGX_ERROR;
    n = (d->zone->algorithm == NGX_HTTP_ASTRO_RL_GCRA) ? 2 : 3;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == n) {

        for (i = 0; i < n; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER
                || reply->element[i]->integer < 0
                || (uint64_t) reply->element[i]->integer
                   >= NGX_ASTRO_LIMIT_EXACT)
            {
                break;
            }

            v[i] = (uint64_t) reply->element[i]->integer;
        }

        if (i == n && n == 2) {
            /* GCRA: du, rem * 2 + allowed; rem is below count */

            if (v[1] / 2 < d->rate.count) {
                ngx_astro_limit_gcra_result(&d->rate, (uint32_t) d->burst,
                                            v[1] & 1, v[0], v[1] / 2,
                                            &d->res);
                rc = NGX_OK;
            }

        } else if (i == n) {
            /*
             * the sliding window: now, cur * 2 + allowed, prev; the script
             * takes counts of 2^32 and more as an empty state
             */

            if (v[1] / 2 < (uint64_t) 1 << 32 && v[2] < (uint64_t) 1 << 32) {
                ngx_astro_limit_sliding_result(v[0], &d->rate, v[1] & 1,
                                               v[1] / 2, v[2], &d->res);
                rc = NGX_OK;
            }
        }
    }

    if (rc == NGX_OK) {
        d->decided = 1;

    } else {
        ngx_http_astro_ratelimit_fallback(ctx->request, d);
    }

    if (--ctx->pending == 0 && ctx->waiting) {
        ngx_post_event(&ctx->wake, &ngx_posted_events);
    }

    return reply ? rc : NGX_OK;
}
