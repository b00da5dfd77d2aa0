
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_jwt.h"
#include "ngx_astro_tier.h"


/*
 * A request's tier: worked out once, when the balancer or a variable
 * first asks, from the astro_tier or astro_tier_jwt of the request's
 * location, and kept in the module's context.  Whatever is not proved
 * gives the lowest tier; $astro_tier_reason says why.  An internal
 * redirect clears the context, so the new location's source decides.
 */


static ngx_int_t ngx_http_astro_tier_from_variable(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx);
static ngx_int_t ngx_http_astro_tier_from_jwt(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_source_t *source, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx);
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


/*
 * $astro_tier_reason: stable words, documented in docs/tier_upstream.md;
 * the JWT ones indexed by NGX_ASTRO_JWT_*.
 */

static ngx_str_t  ngx_http_astro_tier_jwt_reasons[] = {
    ngx_string("jwt"),
    ngx_string("no_token"),
    ngx_string("malformed"),
    ngx_string("bad_alg"),
    ngx_string("bad_signature"),
    ngx_string("expired"),
    ngx_string("not_yet_valid"),
    ngx_string("no_claim"),
    ngx_string("error")
};

static ngx_str_t  ngx_http_astro_tier_why_none =
    ngx_string("none");
static ngx_str_t  ngx_http_astro_tier_why_variable =
    ngx_string("variable");
static ngx_str_t  ngx_http_astro_tier_why_no_tier =
    ngx_string("no_tier");
static ngx_str_t  ngx_http_astro_tier_why_unknown =
    ngx_string("unknown_tier");


ngx_int_t
ngx_http_astro_tier_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_http_astro_tier_vars);
}


ngx_http_astro_tier_ctx_t *
ngx_http_astro_tier_get(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         value;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_astro_tier_source_t     *source;
    ngx_http_astro_tier_loc_conf_t   *tlcf;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_tier_upstream_module);
    if (ctx && ctx->done) {
        return ctx;
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_tier_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        /*
         * set by ngx_pcalloc():
         *
         *     ctx->user = { 0, NULL };
         *     ctx->done = 0;
         */

        ngx_http_set_ctx(r, ctx, ngx_astro_tier_upstream_module);
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_astro_tier_upstream_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_astro_tier_upstream_module);

    ctx->tier = tmcf->lowest;
    ngx_str_null(&ctx->user);

    source = tlcf->source;

    if (source == NULL) {
        ctx->reason = ngx_http_astro_tier_why_none;
        ctx->done = 1;
        return ctx;
    }

    if (ngx_http_complex_value(r, source->value, &value) != NGX_OK) {
        return NULL;
    }

    if (source->type == NGX_HTTP_ASTRO_TIER_SOURCE_JWT) {
        rc = ngx_http_astro_tier_from_jwt(r, tmcf, source, &value, ctx);

    } else {
        rc = ngx_http_astro_tier_from_variable(r, tmcf, &value, ctx);
    }

    if (rc != NGX_OK) {
        return NULL;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro tier: %ui, reason \"%V\", user \"%V\"",
                   ctx->tier, &ctx->reason, &ctx->user);

    ctx->done = 1;

    return ctx;
}


static ngx_int_t
ngx_http_astro_tier_from_variable(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx)
{
    ngx_int_t  n;

    if (value->len == 0) {
        ctx->reason = ngx_http_astro_tier_why_no_tier;
        return NGX_OK;
    }

    n = ngx_http_astro_tier_index(tmcf, value);

    if (n == NGX_ERROR) {
        ctx->reason = ngx_http_astro_tier_why_unknown;
        return NGX_OK;
    }

    ctx->tier = n;
    ctx->reason = ngx_http_astro_tier_why_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_tier_from_jwt(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_source_t *source, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx)
{
    int                     rc;
    u_char                 *buf;
    ngx_int_t               n;
    ngx_str_t               name;
    ngx_uint_t              level;
    ngx_astro_jwt_conf_t    jc;
    ngx_astro_jwt_claims_t  claims;

    /*
     * A longer value is refused before its buffer would be needed: the
     * value less "Bearer " is at most value->len, and above the limit
     * it is malformed at once.
     */

    buf = ngx_pnalloc(r->pool,
                      NGX_ASTRO_JWT_BUF_SIZE(ngx_min(value->len,
                                                     NGX_ASTRO_JWT_MAX_LEN)));
    if (buf == NULL) {
        return NGX_ERROR;
    }

    jc.key = source->key.data;
    jc.key_len = source->key.len;
    jc.now = ngx_time();
    jc.leeway = source->leeway;
    jc.claim = (const char *) source->claim.data;
    jc.claim_len = source->claim.len;
    jc.user_claim = (const char *) source->user_claim.data;
    jc.user_claim_len = source->user_claim.len;

    rc = ngx_astro_jwt_verify(&jc, value->data, value->len, buf, &claims);

    if (rc < 0 || rc >= NGX_ASTRO_JWT_NRESULTS) {
        rc = NGX_ASTRO_JWT_ERROR;
    }

    ctx->reason = ngx_http_astro_tier_jwt_reasons[rc];

    if (rc != NGX_ASTRO_JWT_OK) {

        /* no token is the anonymous user; a bad one is worth a line */

        level = (rc == NGX_ASTRO_JWT_ERROR) ? NGX_LOG_ERR
                : (rc == NGX_ASTRO_JWT_NO_TOKEN) ? NGX_LOG_DEBUG
                : NGX_LOG_INFO;

        ngx_log_error(level, r->connection->log, 0,
                      "astro_tier_jwt: token refused (%V), lowest tier",
                      &ctx->reason);

        return NGX_OK;
    }

    name.data = claims.tier;
    name.len = claims.tier_len;

    n = ngx_http_astro_tier_index(tmcf, &name);

    if (n == NGX_ERROR) {
        ctx->reason = ngx_http_astro_tier_why_unknown;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "astro_tier_jwt: token refused (%V), lowest tier",
                      &ctx->reason);

        return NGX_OK;
    }

    ctx->tier = n;
    ctx->user.data = claims.user;
    ctx->user.len = claims.user_len;

    return NGX_OK;
}


static ngx_http_astro_tier_ctx_t *
ngx_http_astro_tier_var_ctx(ngx_http_request_t *r,
    ngx_http_variable_value_t *v)
{
    ngx_http_astro_tier_ctx_t  *ctx;

    ctx = ngx_http_astro_tier_get(r);
    if (ctx == NULL) {
        return NULL;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return ctx;
}


static ngx_int_t
ngx_http_astro_tier_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_astro_tier_t            *tier;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    ctx = ngx_http_astro_tier_var_ctx(r, v);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_astro_tier_upstream_module);
    tier = tmcf->tiers.elts;

    v->len = tier[ctx->tier].name.len;
    v->data = tier[ctx->tier].name.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_tier_priority_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                           *p;
    ngx_http_astro_tier_t            *tier;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    ctx = ngx_http_astro_tier_var_ctx(r, v);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_astro_tier_upstream_module);
    tier = tmcf->tiers.elts;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%ui", tier[ctx->tier].priority) - p;
    v->data = p;

    return NGX_OK;
}


/* $astro_tier_reason, $astro_user (empty unless a valid token named one) */

static ngx_int_t
ngx_http_astro_tier_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_astro_tier_ctx_t  *ctx;

    ctx = ngx_http_astro_tier_var_ctx(r, v);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    v->len = s->len;
    v->data = s->len ? s->data : (u_char *) "";

    return NGX_OK;
}
