
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"


/*
 * A request's context: its decisions, made once on r->main, which the
 * handler fills and the headers and variables read.  An internal redirect
 * clears the modules' contexts; a pool cleanup marks this one, so that it
 * is found again, for the variables and so that the new location does not
 * count the request again.
 */


static void ngx_http_astro_ratelimit_cleanup(void *data);


/* the context and n decisions in one allocation; NULL: no memory */

ngx_http_astro_ratelimit_ctx_t *
ngx_http_astro_ratelimit_create_ctx(ngx_http_request_t *r, ngx_uint_t n)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_astro_ratelimit_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->main->pool,
                      sizeof(ngx_http_astro_ratelimit_ctx_t)
                      + n * sizeof(ngx_http_astro_ratelimit_decision_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->main->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_astro_ratelimit_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r->main, ctx, ngx_astro_ratelimit_module);

    ctx->done = 1;
    ctx->request = r;
    ctx->d = (ngx_http_astro_ratelimit_decision_t *) &ctx[1];
    ctx->n = n;

    return ctx;
}


ngx_http_astro_ratelimit_ctx_t *
ngx_http_astro_ratelimit_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_astro_ratelimit_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_astro_ratelimit_module);
    if (ctx) {
        return ctx;
    }

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_astro_ratelimit_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r->main, ctx, ngx_astro_ratelimit_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_http_astro_ratelimit_cleanup(void *data)
{
    /* nothing to free: a marker that finds the context */
}
