
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_shard.h"


/*
 * The route's variables.  Each makes the route if the PREACCESS handler
 * has not yet (a variable of the rewrite phase); not found without a
 * route (no key here, or a request refused).  Not cached: a variable
 * read before the location is found must not stick.
 */


#define NGX_HTTP_ASTRO_SHARD_VAR_SHARD     0
#define NGX_HTTP_ASTRO_SHARD_VAR_UPSTREAM  1
#define NGX_HTTP_ASTRO_SHARD_VAR_SLOT      2
#define NGX_HTTP_ASTRO_SHARD_VAR_STATE     3
#define NGX_HTTP_ASTRO_SHARD_VAR_VERSION   4


static ngx_int_t ngx_http_astro_shard_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_astro_shard_vars[] = {

    { ngx_string("astro_shard"), NULL,
      ngx_http_astro_shard_variable, NGX_HTTP_ASTRO_SHARD_VAR_SHARD,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_shard_upstream"), NULL,
      ngx_http_astro_shard_variable, NGX_HTTP_ASTRO_SHARD_VAR_UPSTREAM,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_shard_slot"), NULL,
      ngx_http_astro_shard_variable, NGX_HTTP_ASTRO_SHARD_VAR_SLOT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_shard_state"), NULL,
      ngx_http_astro_shard_variable, NGX_HTTP_ASTRO_SHARD_VAR_STATE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_shard_version"), NULL,
      ngx_http_astro_shard_variable, NGX_HTTP_ASTRO_SHARD_VAR_VERSION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_astro_shard_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_http_astro_shard_vars);
}


static ngx_int_t
ngx_http_astro_shard_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_str_t                   *s;
    ngx_http_astro_shard_ctx_t  *ctx;

    ctx = ngx_http_astro_shard_route(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->map == NULL || ctx->status) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_ASTRO_SHARD_VAR_SHARD:
        ngx_astro_conf_var_value(v, ctx->shard.data, ctx->shard.len);
        return NGX_OK;

    case NGX_HTTP_ASTRO_SHARD_VAR_UPSTREAM:
        ngx_astro_conf_var_value(v, ctx->upstream.data, ctx->upstream.len);
        return NGX_OK;

    case NGX_HTTP_ASTRO_SHARD_VAR_STATE:
        s = &ngx_astro_shard_state_names[ctx->state];
        ngx_astro_conf_var_value(v, s->data, s->len);
        return NGX_OK;
    }

    /* the slot (empty when the map is not hashed), the version */

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (data == NGX_HTTP_ASTRO_SHARD_VAR_SLOT) {
        ngx_astro_conf_var_value(v, p, ctx->slot < 0 ? 0
                                 : ngx_sprintf(p, "%i", ctx->slot) - p);

    } else {
        ngx_astro_conf_var_value(v, p, ngx_sprintf(p, "%uL", ctx->version)
                                       - p);
    }

    return NGX_OK;
}
