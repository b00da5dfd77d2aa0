
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_tier.h"


/*
 * The variables of a request's tier (ngx_astro_tier_identify.c works it
 * out): $astro_tier, $astro_tier_priority, $astro_tier_reason and
 * $astro_user.
 */


static ngx_http_astro_tier_t *ngx_http_astro_tier_of(ngx_http_request_t *r);
static ngx_int_t ngx_http_astro_tier_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_astro_tier_priority_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_astro_tier_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_astro_tier_vars[] = {

    { ngx_string("astro_tier"), NULL,
      ngx_http_astro_tier_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_tier_priority"), NULL,
      ngx_http_astro_tier_priority_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_tier_reason"), NULL,
      ngx_http_astro_tier_str_variable,
      offsetof(ngx_http_astro_tier_ctx_t, reason),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_user"), NULL,
      ngx_http_astro_tier_str_variable,
      offsetof(ngx_http_astro_tier_ctx_t, user),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_astro_tier_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_http_astro_tier_vars);
}


/* the request's tier, as astro_tiers declared it */

static ngx_http_astro_tier_t *
ngx_http_astro_tier_of(ngx_http_request_t *r)
{
    ngx_http_astro_tier_t            *tier;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    ctx = ngx_http_astro_tier_identify(r);
    if (ctx == NULL) {
        return NULL;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_astro_tier_upstream_module);
    tier = tmcf->tiers.elts;

    return &tier[ctx->tier];
}


static ngx_int_t
ngx_http_astro_tier_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_astro_tier_t  *tier;

    tier = ngx_http_astro_tier_of(r);
    if (tier == NULL) {
        return NGX_ERROR;
    }

    ngx_astro_conf_var_value(v, tier->name.data, tier->name.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_tier_priority_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    ngx_http_astro_tier_t  *tier;

    tier = ngx_http_astro_tier_of(r);
    if (tier == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_astro_conf_var_value(v, p, ngx_sprintf(p, "%ui", tier->priority) - p);

    return NGX_OK;
}


/* $astro_tier_reason, $astro_user (empty unless a valid token named one) */

static ngx_int_t
ngx_http_astro_tier_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_astro_tier_ctx_t  *ctx;

    ctx = ngx_http_astro_tier_identify(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    ngx_astro_conf_var_value(v, s->len ? s->data : (u_char *) "", s->len);

    return NGX_OK;
}
