
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_conf.h"


static ngx_int_t ngx_http_astro_health_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* a variable of a figure that the zone keeps without the lock */

#define ngx_http_astro_health_var(name, field)                               \
    { ngx_string(name), NULL, ngx_http_astro_health_variable,                \
      offsetof(ngx_http_astro_health_shctx_t, field),                        \
      NGX_HTTP_VAR_NOCACHEABLE, 0 }


static ngx_http_variable_t  ngx_http_astro_health_vars[] = {

    ngx_http_astro_health_var("astro_health", status),
    ngx_http_astro_health_var("astro_health_cpu", cpu),
    ngx_http_astro_health_var("astro_health_memory", memory),
    ngx_http_astro_health_var("astro_health_error_rate", error_rate),
    ngx_http_astro_health_var("astro_health_latency", latency),

      ngx_http_null_variable
};


ngx_int_t
ngx_http_astro_health_add_variables(ngx_conf_t *cf)
{
    return ngx_astro_conf_add_variables(cf, ngx_http_astro_health_vars);
}


/*
 * $astro_health is the status's name; the others are a figure with one
 * decimal: "73.5" (percent) or "1250.0" (ms).
 */

static ngx_int_t
ngx_http_astro_health_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                             *p;
    size_t                              len;
    ngx_atomic_uint_t                   n;
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf->sh == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    n = *(ngx_atomic_t *) ((u_char *) hmcf->sh + data);

    if (data == offsetof(ngx_http_astro_health_shctx_t, status)) {
        p = (u_char *) ngx_astro_health_name(n);
        len = ngx_strlen(p);

    } else {
        p = ngx_pnalloc(r->pool, NGX_ATOMIC_T_LEN + 2);
        if (p == NULL) {
            return NGX_ERROR;
        }

        n = (n + 50) / 100;

        len = ngx_sprintf(p, "%uA.%uA", n / 10, n % 10) - p;
    }

    ngx_astro_conf_var_value(v, p, len);

    return NGX_OK;
}
