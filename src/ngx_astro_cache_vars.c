
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_cache.h"


/*
 * $astro_cache_class, $astro_cache_ttl, $astro_cache_gen and
 * $astro_cache_status.  None is cached: each may change between the key
 * and the response ($upstream_http_* in a class, a store, a status).
 */


static ngx_int_t ngx_http_astro_cache_class_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_astro_cache_ttl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_astro_cache_gen_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_astro_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_http_astro_cache_class_t *ngx_http_astro_cache_var_class(
    ngx_http_request_t *r);


ngx_str_t  ngx_http_astro_cache_status_names[] = {
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("EXPIRED"),
    ngx_string("STALE"),
    ngx_string("UPDATING"),
    ngx_string("REVALIDATED"),
    ngx_string("BYPASS"),
    ngx_string("REFRESH"),
    ngx_null_string
};


static ngx_http_variable_t  ngx_http_astro_cache_vars[] = {

    { ngx_string("astro_cache_class"), NULL,
      ngx_http_astro_cache_class_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_cache_ttl"), NULL,
      ngx_http_astro_cache_ttl_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_cache_gen"), NULL,
      ngx_http_astro_cache_gen_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_cache_status"), NULL,
      ngx_http_astro_cache_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_astro_cache_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_http_astro_cache_vars);
}


/*
 * The class: the filter's, taken by the response; else what the class
 * names now.  NULL where no astro_cache applies.
 */

static ngx_http_astro_cache_class_t *
ngx_http_astro_cache_var_class(ngx_http_request_t *r)
{
    ngx_http_astro_cache_ctx_t       *ctx;
    ngx_http_astro_cache_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_astro_cache_module);

    if (lcf == NULL || lcf->zone == NULL) {
        return NULL;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_astro_cache_module);

    if (ctx && ctx->class) {
        return ctx->class;
    }

    return ngx_http_astro_cache_eval_class(r, lcf);
}


static ngx_int_t
ngx_http_astro_cache_class_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_astro_cache_class_t  *class;

    class = ngx_http_astro_cache_var_class(r);

    if (class == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_astro_conf_var_value(v, class->name.data, class->name.len);

    return NGX_OK;
}


/* the TTL this request's store or revalidation applied, in seconds */

static ngx_int_t
ngx_http_astro_cache_ttl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_http_astro_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_cache_module);

    if (ctx == NULL || ctx->ttl < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_astro_conf_var_value(v, p, ngx_sprintf(p, "%T", ctx->ttl) - p);

    return NGX_OK;
}


/*
 * The generation of the class that astro_cache names at key time, for
 * proxy_cache_key: a class of $upstream_http_* is empty then, and its
 * generation is "default"'s.
 */

static ngx_int_t
ngx_http_astro_cache_gen_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                           *p;
    ngx_http_astro_cache_class_t     *class;
    ngx_http_astro_cache_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_astro_cache_module);

    if (lcf == NULL || lcf->zone == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    class = ngx_http_astro_cache_eval_class(r, lcf);

    p = ngx_pnalloc(r->pool, NGX_ATOMIC_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_astro_conf_var_value(v, p,
                             ngx_sprintf(p, "%uA", class->sh->gen) - p);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache: class \"%V\" generation %v",
                   &class->name, v);

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t                        status;
    ngx_http_astro_cache_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_astro_cache_module);

    if (lcf == NULL || lcf->zone == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    status = ngx_http_astro_cache_request_status(r);

    if (status == NGX_HTTP_ASTRO_CACHE_STATUS_N) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_astro_conf_var_value(v, ngx_http_astro_cache_status_names[status].data,
                             ngx_http_astro_cache_status_names[status].len);

    return NGX_OK;
}
