
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_status.h"


static ngx_int_t ngx_http_astro_health_shed_refuse(ngx_http_request_t *r,
    ngx_http_astro_health_shed_conf_t *shed);


/*
 * A judged request's module context: the rewrite phase may run again
 * after "rewrite ... last", and a request is judged once.
 */
static ngx_uint_t  ngx_http_astro_health_judged;


ngx_int_t
ngx_http_astro_health_shed_handler(ngx_http_request_t *r)
{
    ngx_int_t                           prio;
    ngx_str_t                           value;
    ngx_uint_t                          status;
    ngx_atomic_t                       *counter;
    ngx_atomic_uint_t                   seq;
    ngx_http_astro_health_shctx_t      *sh;
    ngx_http_astro_health_loc_conf_t   *hlcf;
    ngx_http_astro_health_shed_conf_t  *shed;
    ngx_http_astro_health_main_conf_t  *hmcf;

    /* a request is judged once, as it comes in */

    if (r != r->main || r->internal
        || ngx_http_get_module_ctx(r, ngx_astro_health_module))
    {
        return NGX_DECLINED;
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_astro_health_module);
    shed = hlcf->shed;

    if (shed == NULL || ngx_http_astro_status_location(r)) {
        return NGX_DECLINED;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);
    sh = hmcf->sh;

    status = sh->status;

    if (status == NGX_ASTRO_HEALTHY) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_shed: status healthy: passed");
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, shed->priority, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, &ngx_http_astro_health_judged,
                     ngx_astro_health_module);

    /* no priority, or not a number: the lowest */

    prio = ngx_atoi(value.data, value.len);
    if (prio == NGX_ERROR) {
        prio = 0;
    }

    counter = NULL;

    if (status == NGX_ASTRO_CRITICAL
        && (ngx_uint_t) prio < shed->critical_below)
    {
        counter = &sh->shed_critical;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_shed: priority %i, status %s: refused, "
                       "below critical_below",
                       prio, ngx_astro_health_name(status));

    } else if ((ngx_uint_t) prio < shed->degraded_below
               && shed->degraded_share)
    {
        /*
         * Refuse exactly degraded_share of these requests over all
         * workers: the n-th is refused when floor(n * share) grows.
         */

        seq = ngx_atomic_fetch_add(&sh->shed_seq, 1);

        if ((seq + 1) * shed->degraded_share / 10000
            > seq * shed->degraded_share / 10000)
        {
            counter = &sh->shed_degraded;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_shed: priority %i, status %s: %s by "
                       "degraded_share",
                       prio, ngx_astro_health_name(status),
                       counter ? "refused" : "passed");

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_shed: priority %i, status %s: passed, "
                       "not below the limits",
                       prio, ngx_astro_health_name(status));
    }

    if (counter == NULL) {
        return NGX_DECLINED;
    }

    (void) ngx_atomic_fetch_add(counter, 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "astro_shed: refused, status %s, priority %i",
                  ngx_astro_health_name(status), prio);

    return ngx_http_astro_health_shed_refuse(r, shed);
}


static ngx_int_t
ngx_http_astro_health_shed_refuse(ngx_http_request_t *r,
    ngx_http_astro_health_shed_conf_t *shed)
{
    ngx_table_elt_t  *h;

    /* a refused request is no backend error for the log phase */

    ngx_http_astro_health_refused(r, NGX_ASTRO_REFUSED_SHED);

    if (shed->retry_after) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%T", shed->retry_after)
                       - h->value.data;
    }

    return shed->status;
}

