
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"


/*
 * What the suite tells the health zone of a request (the functions of
 * ngx_astro_health_api.h): a refusal by policy and the time the request
 * was held.  A mark is a pool cleanup's data, as the module context does
 * not survive the internal redirect of an error_page; subrequests share
 * their main request's pool, so the mark names its request.
 */


static ngx_http_astro_health_mark_t *ngx_http_astro_health_new_mark(
    ngx_http_request_t *r);
static void ngx_http_astro_health_mark_cleanup(void *data);


void
ngx_http_astro_health_refused(ngx_http_request_t *r, ngx_uint_t by)
{
    ngx_http_astro_health_mark_t  *mark;

    mark = ngx_http_astro_health_new_mark(r);
    if (mark == NULL) {
        return;
    }

    /* the first refusal is the one the client got */

    if (mark->refused == NGX_ASTRO_REFUSED_N) {
        mark->refused = by;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_health: refused by %s, no error",
                   ngx_astro_health_refusal_name(mark->refused));
}


void
ngx_http_astro_health_hold(ngx_http_request_t *r)
{
    ngx_http_astro_health_mark_t  *mark;

    mark = ngx_http_astro_health_new_mark(r);
    if (mark == NULL || mark->holding) {
        return;
    }

    mark->holding = 1;
    mark->since = ngx_current_msec;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_health: the request is held");
}


void
ngx_http_astro_health_release(ngx_http_request_t *r)
{
    ngx_msec_t                          ms;
    ngx_http_astro_health_mark_t       *mark;
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf->shm_zone == NULL) {
        return;
    }

    mark = ngx_http_astro_health_mark(r, 0);
    if (mark == NULL || !mark->holding) {
        return;
    }

    ms = ngx_current_msec - mark->since;

    mark->held += ms;
    mark->holding = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_health: the request goes on after %Mms held, "
                   "%Mms in all", ms, mark->held);
}


/* the time held, an open hold until now */

ngx_msec_t
ngx_http_astro_health_held(ngx_http_astro_health_mark_t *mark)
{
    return mark->held + (mark->holding ? ngx_current_msec - mark->since : 0);
}


/*
 * r's mark, or NULL; with create, a new one if there is none (NULL: no
 * memory).  The pool's cleanups are few, and walked.
 */

ngx_http_astro_health_mark_t *
ngx_http_astro_health_mark(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_astro_health_mark_t  *mark;

    /*
     * ngx_http_free_request() clears r->pool before it destroys the
     * pool, whose cleanups may end a hold (a queue's): the request was
     * logged, and its holds ended there
     */

    if (r->pool == NULL) {
        return NULL;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_http_astro_health_mark_cleanup) {
            continue;
        }

        mark = cln->data;

        if (mark->request == r) {
            return mark;
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_astro_health_mark_t));
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_astro_health_mark_cleanup;

    mark = cln->data;

    mark->request = r;
    mark->held = 0;
    mark->since = 0;
    mark->refused = NGX_ASTRO_REFUSED_N;
    mark->holding = 0;

    return mark;
}


/* r's mark, made if need be; NULL without a health zone */

static ngx_http_astro_health_mark_t *
ngx_http_astro_health_new_mark(ngx_http_request_t *r)
{
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf->shm_zone == NULL) {
        return NULL;
    }

    return ngx_http_astro_health_mark(r, 1);
}


static void
ngx_http_astro_health_mark_cleanup(void *data)
{
    /* only a mark */
}
