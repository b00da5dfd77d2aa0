
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_conf.h"


static ngx_int_t ngx_astro_health_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_astro_health_figure_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_astro_health_vars[] = {

    { ngx_string("astro_health"), NULL,
      ngx_astro_health_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_health_cpu"), NULL,
      ngx_astro_health_figure_variable,
      offsetof(ngx_astro_health_shctx_t, cpu),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_health_memory"), NULL,
      ngx_astro_health_figure_variable,
      offsetof(ngx_astro_health_shctx_t, memory),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_health_error_rate"), NULL,
      ngx_astro_health_figure_variable,
      offsetof(ngx_astro_health_shctx_t, error_rate),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("astro_health_latency"), NULL,
      ngx_astro_health_figure_variable,
      offsetof(ngx_astro_health_shctx_t, latency),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_astro_health_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_astro_health_vars);
}


static ngx_int_t
ngx_astro_health_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                    *name;
    ngx_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf->sh == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_astro_health_name(hmcf->sh->status);

    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) name;

    return NGX_OK;
}


/* a figure with one decimal: "73.5" (percent) or "1250.0" (ms) */

static ngx_int_t
ngx_astro_health_figure_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                        *p;
    ngx_atomic_uint_t              milli;
    ngx_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf->sh == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    milli = *(ngx_atomic_t *) ((u_char *) hmcf->sh + data);

    p = ngx_pnalloc(r->pool, NGX_ATOMIC_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    milli = (milli + 50) / 100;

    v->len = ngx_sprintf(p, "%uA.%uA", milli / 10, milli % 10) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}
