
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


/*
 * The request's $astro_cache_status, and its counting in the log phase:
 * once per main request, an atomic add to its class's record.  A
 * background refresh is a subrequest, not logged: the filter counts its
 * store.
 */


static ngx_int_t ngx_http_astro_cache_log_handler(ngx_http_request_t *r);


ngx_int_t
ngx_http_astro_cache_log_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_astro_cache_log_handler;

    return NGX_OK;
}


/*
 * u->cache_status by our names; STALE served while a refresh-ahead runs
 * in the background, the entry in its refresh window, is REFRESH.
 * NGX_HTTP_ASTRO_CACHE_STATUS_N: proxy_cache did not look.
 */

ngx_uint_t
ngx_http_astro_cache_request_status(ngx_http_request_t *r)
{
    ngx_http_cache_t     *c;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u == NULL) {
        return NGX_HTTP_ASTRO_CACHE_STATUS_N;
    }

    switch (u->cache_status) {

    case NGX_HTTP_CACHE_MISS:
        return NGX_HTTP_ASTRO_CACHE_MISS;

    case NGX_HTTP_CACHE_BYPASS:
        return NGX_HTTP_ASTRO_CACHE_BYPASS;

    case NGX_HTTP_CACHE_EXPIRED:
        return NGX_HTTP_ASTRO_CACHE_EXPIRED;

    case NGX_HTTP_CACHE_STALE:
        c = r->cache;

        /* the entry's date and expiry as read; its split in valid_msec */

        if (c && c->background
            && ngx_astro_cache_policy_refreshing(c->valid_sec, c->date,
                                                 r->start_sec,
                                                 c->valid_msec))
        {
            return NGX_HTTP_ASTRO_CACHE_REFRESH;
        }

        return NGX_HTTP_ASTRO_CACHE_STALE;

    case NGX_HTTP_CACHE_UPDATING:
        return NGX_HTTP_ASTRO_CACHE_UPDATING;

    case NGX_HTTP_CACHE_REVALIDATED:
        return NGX_HTTP_ASTRO_CACHE_REVALIDATED;

    case NGX_HTTP_CACHE_HIT:
        return NGX_HTTP_ASTRO_CACHE_HIT;

    default:
        return NGX_HTTP_ASTRO_CACHE_STATUS_N;
    }
}


static ngx_int_t
ngx_http_astro_cache_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                        status;
    ngx_http_astro_cache_ctx_t       *ctx;
    ngx_http_astro_cache_class_t     *class;
    ngx_http_astro_cache_loc_conf_t  *lcf;

    /* log_subrequest on logs subrequests too: they are not counted */

    if (r != r->main) {
        return NGX_OK;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_astro_cache_module);

    if (lcf->zone == NULL) {
        return NGX_OK;
    }

    status = ngx_http_astro_cache_request_status(r);

    if (status == NGX_HTTP_ASTRO_CACHE_STATUS_N) {
        return NGX_OK;
    }

    ctx = ngx_http_astro_cache_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->counted) {
        return NGX_OK;
    }

    /* the filter's class; a redirect of error_page cleared it */

    class = ctx->class ? ctx->class : ngx_http_astro_cache_eval_class(r, lcf);

    ctx->counted = 1;

    ngx_http_astro_cache_count(class, status);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache: counted %V in class \"%V\"",
                   &ngx_http_astro_cache_status_names[status], &class->name);

    return NGX_OK;
}
