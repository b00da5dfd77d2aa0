
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"
#include "ngx_astro_conf.h"


/* the variables of a request's decision */


#define NGX_HTTP_ASTRO_RL_VAR_STATUS     0
#define NGX_HTTP_ASTRO_RL_VAR_REMAINING  1
#define NGX_HTTP_ASTRO_RL_VAR_TIER       2


static ngx_int_t ngx_http_astro_ratelimit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_astro_ratelimit_vars[] = {

    { ngx_string("astro_ratelimit_status"), NULL,
      ngx_http_astro_ratelimit_variable, NGX_HTTP_ASTRO_RL_VAR_STATUS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_ratelimit_remaining"), NULL,
      ngx_http_astro_ratelimit_variable, NGX_HTTP_ASTRO_RL_VAR_REMAINING,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_ratelimit_tier"), NULL,
      ngx_http_astro_ratelimit_variable, NGX_HTTP_ASTRO_RL_VAR_TIER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_astro_ratelimit_status_names[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("DELAYED"),
    ngx_string("REJECTED"),
    ngx_string("DRY_RUN"),
    ngx_string("FAILOPEN"),
    ngx_string("FAILCLOSED")
};


ngx_int_t
ngx_http_astro_ratelimit_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_http_astro_ratelimit_vars);
}


/*
 * Not found before the request was decided; remaining and tier are those
 * of the decision the headers show, not found when none is shown (a dry
 * run, a refusal for want of Redis) or it has no tier.
 */

static ngx_int_t
ngx_http_astro_ratelimit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                               *p;
    ngx_str_t                            *name;
    ngx_http_astro_ratelimit_ctx_t       *ctx;
    ngx_http_astro_ratelimit_decision_t  *d;

    ctx = ngx_http_astro_ratelimit_get_ctx(r);

    if (ctx == NULL || ctx->status == NGX_HTTP_ASTRO_RL_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    d = ctx->shown;

    switch (data) {

    case NGX_HTTP_ASTRO_RL_VAR_STATUS:
        name = &ngx_http_astro_ratelimit_status_names[ctx->status];
        ngx_astro_conf_var_value(v, name->data, name->len);
        break;

    case NGX_HTTP_ASTRO_RL_VAR_REMAINING:
        if (d == NULL) {
            v->not_found = 1;
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_astro_conf_var_value(v, p,
                                 ngx_sprintf(p, "%uL", d->res.remaining) - p);
        break;

    default: /* NGX_HTTP_ASTRO_RL_VAR_TIER */
        if (d == NULL || d->tier.len == 0) {
            v->not_found = 1;
            break;
        }

        ngx_astro_conf_var_value(v, d->tier.data, d->tier.len);
    }

    return NGX_OK;
}
