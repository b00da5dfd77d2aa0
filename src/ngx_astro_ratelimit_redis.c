
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
 * A hybrid zone's key near its limit asks the same way, with the hybrid
 * script and the node's pending counts (src/ngx_astro_ratelimit_hybrid.c).
 */


static ngx_int_t ngx_http_astro_ratelimit_redis_reply(void *data,
    redisReply *reply);


ngx_int_t
ngx_http_astro_ratelimit_redis_ask(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d)
{
    u_char                                *p;
    ngx_str_t                              key, *args, hargs[3];
    ngx_uint_t                             script;
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

    script = zone->algorithm;
    args = d->args;

    if (zone->backend == NGX_HTTP_ASTRO_RL_HYBRID
        && zone->algorithm == NGX_HTTP_ASTRO_RL_SLIDING_WINDOW)
    {
        /* count, period, and "window cur prev e": a decision e us in */

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN * 4 + 4);
        if (p == NULL) {
            goto fallback;
        }

        script = NGX_ASTRO_RATELIMIT_LUA_HYBRID;
        hargs[0] = d->args[0];
        hargs[1] = d->args[1];
        hargs[2].data = p;
        hargs[2].len = ngx_sprintf(p, "%uL %uD %uD %uL", d->hwin, d->hcur,
                                   d->hprev,
                                   d->ctx->now
                                   % ((uint64_t) d->rate.period
                                      * NGX_ASTRO_LIMIT_USEC))
                       - p;
        args = hargs;
    }

    d->cmd = ngx_astro_redis_eval(rmcf->redis, &rmcf->scripts[script], &key,
                                  args,
                                  ngx_http_astro_ratelimit_redis_reply, d);
    if (d->cmd) {
        ngx_http_astro_ratelimit_debug(r, d, "asks Redis");
        d->ctx->pending++;

        /* a hybrid GCRA lease: the key's further decisions, its tokens */

        while (d->lease > 1) {
            d->lease--;

            p = ngx_alloc(sizeof(ngx_http_astro_ratelimit_zone_t *) + 1
                          + d->key.len, r->connection->log);
            if (p == NULL) {
                break;
            }

            ngx_memcpy(p, &zone, sizeof(ngx_http_astro_ratelimit_zone_t *));
            p[sizeof(ngx_http_astro_ratelimit_zone_t *)] = (u_char) d->key.len;
            ngx_memcpy(p + sizeof(ngx_http_astro_ratelimit_zone_t *) + 1,
                       d->key.data, d->key.len);

            if (ngx_astro_redis_eval(rmcf->redis, &rmcf->scripts[script],
                                     &key, args,
                                     ngx_http_astro_ratelimit_hybrid_token, p)
                == NULL)
            {
                ngx_free(p);
                break;
            }
        }

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

    if (d->zone->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
        ngx_http_astro_ratelimit_hybrid_give_back(d);
    }

    if (d->zone->fail == NGX_HTTP_ASTRO_RL_FAIL_CLOSED) {
        ngx_http_astro_ratelimit_debug(r, d, "no answer from Redis, "
                                       "fail=closed");
        d->failclosed = 1;
        return;
    }

    ngx_http_astro_ratelimit_debug(r, d, "no answer from Redis, fail=open");

    d->failopen = 1;

    now = ngx_http_astro_ratelimit_now();

    if (ngx_http_astro_ratelimit_decide(r, d->zone, &d->key, now, d)
        != NGX_OK)
    {
        d->full = 1;
    }
}


/*
 * The script's reply: the integers of what the decision left, whose
 * number and meaning ngx_astro_ratelimit_lua.h defines; anything else is
 * not the script speaking and decides by the fail policy.
 */

static ngx_int_t
ngx_http_astro_ratelimit_redis_reply(void *data, redisReply *reply)
{
    ngx_http_astro_ratelimit_decision_t *d = data;

    uint64_t                         v[NGX_ASTRO_REDIS_REPLY];
    ngx_int_t                        rc;
    ngx_uint_t                       i, n, algorithm;
    ngx_http_astro_ratelimit_ctx_t  *ctx;

    ctx = d->ctx;
    d->cmd = NULL;

    rc = NGX_ERROR;
    algorithm = (d->zone->backend == NGX_HTTP_ASTRO_RL_HYBRID
                 && d->zone->algorithm == NGX_HTTP_ASTRO_RL_SLIDING_WINDOW)
                ? NGX_ASTRO_RATELIMIT_LUA_HYBRID : d->zone->algorithm;
    n = ngx_astro_ratelimit_lua[algorithm].nhead
        + ngx_astro_ratelimit_lua[algorithm].nreply;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == n) {

        for (i = 0; i < n; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER
                || reply->element[i]->integer < 0)
            {
                break;
            }

            v[i] = (uint64_t) reply->element[i]->integer;
        }

        if (i < n) {
            /* not the script speaking */

        } else if (algorithm == NGX_ASTRO_RATELIMIT_LUA_HYBRID) {
            if (v[1] / 2 < (uint64_t) 1 << 32 && v[2] < (uint64_t) 1 << 32) {
                ngx_http_astro_ratelimit_hybrid_answer(ctx->request, d, v);
                rc = NGX_OK;
            }

        } else if (ngx_astro_ratelimit_lua_result(algorithm, v, &d->rate,
                                                  (uint32_t) d->burst,
                                                  &d->res)
                   == 0)
        {
            if (d->zone->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
                ngx_http_astro_ratelimit_hybrid_answer(ctx->request, d,
                                                       NULL);
            }

            rc = NGX_OK;
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
