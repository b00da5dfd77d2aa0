
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health_api.h"
#include "ngx_astro_cache.h"


/*
 * The header filter: the validity of a response that proxy_cache is
 * about to store (MISS, EXPIRED, BYPASS) or has revalidated (a 304 to
 * proxy_cache_revalidate).  nginx's upstream code has already parsed the
 * origin's X-Accel-Expires, Cache-Control and Expires into r->cache, and
 * reads valid_sec, updating_sec and error_sec back after the header
 * filters, falling back to proxy_cache_valid only when valid_sec is 0.
 * The filter may clear u->cacheable, never set it: an origin's refusal
 * (no-cache, max-age=0, ...) stands unless proxy_ignore_headers lifts it.
 *
 * An entry stored with a refresh-ahead split carries its refresh% in the
 * file header's valid_msec, which nginx stores and reads back but never
 * uses: the log phase tells REFRESH from STALE by it.
 */


static ngx_int_t ngx_http_astro_cache_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_astro_cache_store(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf, ngx_http_astro_cache_ctx_t *ctx);
static ngx_uint_t ngx_http_astro_cache_never(ngx_http_request_t *r);
static ngx_uint_t ngx_http_astro_cache_admitted(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf,
    ngx_http_astro_cache_class_t *class);
static void ngx_http_astro_cache_policy(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf,
    ngx_http_astro_cache_class_t *class, ngx_astro_cache_policy_t *p);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;

/* a worker warns once of refresh= without proxy_cache_background_update */
static ngx_uint_t  ngx_http_astro_cache_warned;


ngx_int_t
ngx_http_astro_cache_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_astro_cache_header_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_cache_header_filter(ngx_http_request_t *r)
{
    ngx_http_upstream_t              *u;
    ngx_http_astro_cache_ctx_t       *ctx;
    ngx_http_astro_cache_loc_conf_t  *lcf;

    u = r->upstream;

    /*
     * Only proxy_cache's own response: not a response nginx makes after
     * the cache was let go (an error, an intercepted one), not a second
     * header of the same upstream.
     */

    if (u == NULL || u->cache_status == 0 || r->cache == NULL
        || r->cache->updated || u->header_sent)
    {
        return ngx_http_next_header_filter(r);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_astro_cache_module);

    if (lcf->zone == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_astro_cache_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* the class by the response, $upstream_http_content_type included */

    ctx->class = ngx_http_astro_cache_eval_class(r, lcf);

    switch (u->cache_status) {

    case NGX_HTTP_CACHE_MISS:
    case NGX_HTTP_CACHE_EXPIRED:
    case NGX_HTTP_CACHE_BYPASS:

        if (!u->cacheable) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_cache: not cacheable by nginx");
            break;
        }

        /* fall through */

    case NGX_HTTP_CACHE_REVALIDATED:

        if (ngx_http_astro_cache_store(r, lcf, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    default: /* a response served from the cache */

        /*
         * The request that starts a background update keeps its
         * connection until the update ends (the subrequest is on it), so
         * its client's next request there would wait on the origin: the
         * client is told to close and ask on a new connection instead.
         */

        if (r->cache->background && r->keepalive && r == r->main) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_cache: background update, "
                           "connection closed");
            r->keepalive = 0;
        }

        break;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_astro_cache_store(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf, ngx_http_astro_cache_ctx_t *ctx)
{
    time_t                         now;
    ngx_uint_t                     status, revalidated;
    ngx_http_cache_t              *c;
    ngx_http_upstream_t           *u;
    ngx_astro_cache_origin_t       origin;
    ngx_astro_cache_policy_t       policy;
    ngx_astro_cache_validity_t     v;
    ngx_http_astro_cache_class_t  *class;

    u = r->upstream;
    c = r->cache;
    class = ctx->class;
    status = u->headers_in.status_n;
    revalidated = (u->cache_status == NGX_HTTP_CACHE_REVALIDATED);

    /* an entry revalidated was stored once: only its validity is new */

    if (!revalidated) {

        if (ngx_http_astro_cache_never(r)) {
            u->cacheable = 0;
            ngx_http_astro_cache_count(class, NGX_HTTP_ASTRO_CACHE_NEVER);
            return NGX_OK;
        }
    }

    if (!ngx_http_astro_cache_status_in(class, status)) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache: status %ui not of class \"%V\"",
                       status, &class->name);
        return NGX_OK;
    }

    if (!revalidated && !ngx_http_astro_cache_admitted(r, lcf, class)) {
        u->cacheable = 0;
        return NGX_OK;
    }

    /* what nginx parsed of the origin's headers: valid_sec 0 is none */

    now = ngx_time();

    origin.set = (c->valid_sec != 0);
    origin.valid = c->valid_sec - now;
    origin.updating = c->updating_sec;
    origin.error = c->error_sec;

    ngx_http_astro_cache_policy(r, lcf, class, &policy);

    if (ngx_astro_cache_policy_apply(&policy, &origin, &v) != 0) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache: class \"%V\" stores nothing "
                       "(ttl %T or an expiry past)",
                       &class->name, class->ttl);

        if (!revalidated) {
            u->cacheable = 0;
        }

        ctx->ttl = 0;

        return NGX_OK;
    }

    c->valid_sec = now + v.valid;
    c->updating_sec = v.updating;
    c->error_sec = v.error;
    c->valid_msec = v.refresh;

    ctx->ttl = v.ttl;

    class->sh->ttl_applied = v.ttl;

    ngx_log_debug8(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache: class \"%V\" %s ttl %T: valid %T, "
                   "updating %T, error %T, refresh %ui%%, %s",
                   &class->name, revalidated ? "revalidated" : "stored",
                   v.ttl, v.valid, v.updating, v.error,
                   (ngx_uint_t) v.refresh,
                   v.origin ? "the origin's expiry" : "the class's");

    if (v.refresh == 0 && class->refresh && policy.paused) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache: refresh-ahead paused (critical)");
    }

    if (class->refresh && !u->conf->cache_background_update
        && !ngx_http_astro_cache_warned)
    {
        ngx_http_astro_cache_warned = 1;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "astro_cache: class \"%V\" has refresh= but "
                      "proxy_cache_background_update is off: a request "
                      "in the refresh window waits on the origin",
                      &class->name);
    }

    if (!revalidated) {
        ngx_http_astro_cache_count(class, NGX_HTTP_ASTRO_CACHE_STORED);

        if (r->background) {
            ngx_http_astro_cache_count(class,
                                       NGX_HTTP_ASTRO_CACHE_REFRESHED);
        }
    }

    return NGX_OK;
}


/*
 * Never stored, whatever proxy_ignore_headers says: Set-Cookie,
 * Cache-Control private or no-store, Vary: *.  nginx keeps these headers
 * in u->headers_in even when it ignores them.
 */

static ngx_uint_t
ngx_http_astro_cache_never(ngx_http_request_t *r)
{
    u_char               *p, *last;
    ngx_uint_t            i;
    ngx_table_elt_t     **h;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u->headers_in.cookies.nelts) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache: never stored: Set-Cookie");
        return 1;
    }

    h = u->headers_in.cache_control.elts;

    for (i = 0; i < u->headers_in.cache_control.nelts; i++) {
        p = h[i]->value.data;
        last = p + h[i]->value.len;

        if (ngx_strlcasestrn(p, last, (u_char *) "private", 7 - 1) != NULL
            || ngx_strlcasestrn(p, last, (u_char *) "no-store", 8 - 1)
               != NULL)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_cache: never stored: Cache-Control: %V",
                           &h[i]->value);
            return 1;
        }
    }

    if (u->headers_in.vary
        && ngx_strlchr(u->headers_in.vary->value.data,
                       u->headers_in.vary->value.data
                       + u->headers_in.vary->value.len, '*')
           != NULL)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache: never stored: Vary: *");
        return 1;
    }

    return 0;
}


/*
 * admit=: "off", "0" or empty refuse a store; an adaptive zone refuses
 * new entries while memory is over the health zone's critical limit.
 */

static ngx_uint_t
ngx_http_astro_cache_admitted(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf, ngx_http_astro_cache_class_t *class)
{
    ngx_str_t  s;

    if (lcf->admit) {
        if (ngx_http_complex_value(r, lcf->admit, &s) != NGX_OK) {
            s.len = 0;
        }

        if (s.len == 0
            || (s.len == 1 && s.data[0] == '0')
            || (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0))
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_cache: not admitted: admit \"%V\"", &s);

            ngx_http_astro_cache_count(class,
                                       NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED);
            return 0;
        }
    }

    if (lcf->zone->adaptive
        && r->upstream->cache_status != NGX_HTTP_CACHE_EXPIRED
        && ngx_http_astro_health_memory_critical(r))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache: not admitted: memory critical");

        ngx_http_astro_cache_count(class,
                                   NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED_MEMORY);
        return 0;
    }

    return 1;
}


/* the class's policy as things are now: health, churn */

static void
ngx_http_astro_cache_policy(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf,
    ngx_http_astro_cache_class_t *class, ngx_astro_cache_policy_t *p)
{
    ngx_uint_t                        health;
    ngx_http_astro_cache_adaptive_t  *adaptive;

    health = ngx_http_astro_health_current(r);
    adaptive = lcf->zone->adaptive;

    p->ttl = class->ttl;
    p->stale = class->stale;
    p->stale_if_error = class->stale_if_error;
    p->refresh = class->refresh;
    p->origin = lcf->origin;
    p->factor = NGX_ASTRO_CACHE_FACTOR_ONE;
    p->max_ttl = 0;
    p->shrink = NGX_ASTRO_CACHE_FACTOR_ONE;

    /* refresh-ahead pauses while critical, adaptive or not */

    p->paused = (health == NGX_ASTRO_CRITICAL);

    if (adaptive) {
        if (health == NGX_ASTRO_DEGRADED) {
            p->factor = adaptive->degraded;

        } else if (health == NGX_ASTRO_CRITICAL) {
            p->factor = adaptive->critical;
        }

        p->max_ttl = adaptive->max_ttl;
        p->shrink = ngx_http_astro_cache_churn(lcf->zone, class);
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache: health %ui, factor %ui, max_ttl %T, "
                   "shrink %ui, origin %ui",
                   health, (ngx_uint_t) p->factor, p->max_ttl,
                   (ngx_uint_t) p->shrink, (ngx_uint_t) p->origin);
}
