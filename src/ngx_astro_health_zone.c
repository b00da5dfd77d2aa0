
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_status.h"


static ngx_uint_t ngx_http_astro_health_slots(ngx_msec_t interval,
    ngx_msec_t window);
static ngx_int_t ngx_http_astro_health_alloc(
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_shctx_t *sh);


static ngx_uint_t
ngx_http_astro_health_slots(ngx_msec_t interval, ngx_msec_t window)
{
    return ngx_max(window / interval, 1);
}


/*
 * The zone holds the shared context, the window and the history ring;
 * the allocations above half a page take whole pages, and the slab pool
 * keeps a page descriptor for each page plus its own header.
 */

size_t
ngx_http_astro_health_zone_size(ngx_msec_t interval, ngx_msec_t window,
    ngx_uint_t history, ngx_uint_t fleet)
{
    size_t  pages;

    pages = ngx_align(sizeof(ngx_http_astro_health_shctx_t), ngx_pagesize)
            / ngx_pagesize
            + ngx_align(ngx_http_astro_health_slots(interval, window)
                        * sizeof(ngx_http_astro_health_counts_t),
                        ngx_pagesize)
              / ngx_pagesize
            + ngx_align(history * sizeof(ngx_http_astro_health_sample_t),
                        ngx_pagesize)
              / ngx_pagesize
            + (fleet ? ngx_align(ngx_http_astro_health_fleet_size(),
                                 ngx_pagesize)
                       / ngx_pagesize
                     : 0)
            + 4;

    return pages * (ngx_pagesize + 64);
}


ngx_int_t
ngx_http_astro_health_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_astro_health_main_conf_t  *ohmcf = data;

    size_t                              len;
    ngx_int_t                           rc;
    ngx_slab_pool_t                    *shpool;
    ngx_http_astro_health_shctx_t      *sh;
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = shm_zone->data;

    if (ohmcf) {

        /* a reload: the figures, counters and history carry over */

        hmcf->sh = ohmcf->sh;
        hmcf->shpool = ohmcf->shpool;

        ngx_shmtx_lock(&hmcf->shpool->mutex);
        rc = ngx_http_astro_health_alloc(hmcf, hmcf->sh);
        ngx_shmtx_unlock(&hmcf->shpool->mutex);

        return rc;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        hmcf->shpool = shpool;
        hmcf->sh = shpool->data;
        return NGX_OK;
    }

    hmcf->shpool = shpool;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_astro_health_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    hmcf->sh = sh;

    sh->started = ngx_time();
    sh->since = sh->started;
    sh->status = NGX_ASTRO_HEALTHY;

    len = sizeof(" in astro_health_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in astro_health_zone \"%V\"%Z",
                &shm_zone->shm.name);

    return ngx_http_astro_health_alloc(hmcf, sh);
}


/* (re)allocates the window and the ring when their sizes changed */

static ngx_int_t
ngx_http_astro_health_alloc(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_shctx_t *sh)
{
    void        *window, *ring;
    ngx_uint_t   slots;

    /*
     * The new blocks first: when one does not fit, a reload fails and
     * the running configuration keeps its zone as it was.
     */

    /* the fleet view is made once and kept (old workers write to it) */

    if (ngx_http_astro_health_fleet_alloc(hmcf, sh) != NGX_OK) {
        return NGX_ERROR;
    }

    slots = ngx_http_astro_health_slots(hmcf->interval, hmcf->window);

    window = NULL;
    ring = NULL;

    if (sh->window == NULL || sh->slots != slots) {
        window = ngx_slab_calloc_locked(hmcf->shpool,
                             slots * sizeof(ngx_http_astro_health_counts_t));
        if (window == NULL) {
            return NGX_ERROR;
        }
    }

    if (sh->ring == NULL || sh->history != hmcf->history) {
        ring = ngx_slab_calloc_locked(hmcf->shpool,
                     hmcf->history * sizeof(ngx_http_astro_health_sample_t));
        if (ring == NULL) {
            if (window) {
                ngx_slab_free_locked(hmcf->shpool, window);
            }

            return NGX_ERROR;
        }
    }

    if (window) {
        if (sh->window) {
            ngx_slab_free_locked(hmcf->shpool, sh->window);
        }

        sh->window = window;
        sh->slots = slots;
        sh->slot = 0;
        sh->filled = 0;
    }

    if (ring) {
        if (sh->ring) {
            ngx_slab_free_locked(hmcf->shpool, sh->ring);
        }

        sh->ring = ring;
        sh->history = hmcf->history;
        sh->next = 0;
        sh->count = 0;
    }

    return NGX_OK;
}


/*
 * The log phase: every response counts into the zone, without the lock.
 * One refused by policy, by a module of the suite (its mark) or by
 * limit_req or limit_conn, is no error and has no response time judged;
 * the others are judged without the time the suite held them.
 */

ngx_int_t
ngx_http_astro_health_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                          by, error;
    ngx_msec_t                          held;
    ngx_msec_int_t                      ms;
    ngx_time_t                         *tp;
    ngx_http_astro_health_mark_t       *mark;
    ngx_http_astro_health_shctx_t      *sh;
    ngx_http_astro_health_main_conf_t  *hmcf;

    if (ngx_http_astro_status_location(r)) {
        /* the dashboard's own polling is no traffic */
        return NGX_OK;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);
    sh = hmcf->sh;

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    mark = ngx_http_astro_health_mark(r, 0);

    held = mark ? ngx_http_astro_health_held(mark) : 0;

    by = ngx_astro_health_refused_by(mark ? mark->refused
                                          : NGX_ASTRO_REFUSED_N,
                                     r->limit_req_status,
                                     r->limit_conn_status);

    (void) ngx_atomic_fetch_add(&sh->total.requests, 1);
    (void) ngx_atomic_fetch_add(&sh->total.latency, ms);
    (void) ngx_atomic_fetch_add(&sh->total.hist[ngx_astro_hist_bucket(ms)],
                                1);

    if (held) {
        (void) ngx_atomic_fetch_add(&sh->held, held);
    }

    error = 0;

    if (by < NGX_ASTRO_REFUSED_N) {
        (void) ngx_atomic_fetch_add(&sh->refused_by[by], 1);
        (void) ngx_atomic_fetch_add(&sh->total.refused, 1);

    } else {
        (void) ngx_atomic_fetch_add(&sh->total.judged, (ngx_atomic_int_t)
                                    ngx_astro_health_judged_ms(ms, held));

        error = r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR;

        if (error) {
            (void) ngx_atomic_fetch_add(&sh->total.errors, 1);
        }
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_health: counted %Mms, held %Mms, status %ui, "
                   "error %ui, refused by %s",
                   (ngx_msec_t) ms, held, r->headers_out.status, error,
                   ngx_astro_health_refusal_name(by));

    return NGX_OK;
}


ngx_uint_t
ngx_http_astro_health_current(ngx_http_request_t *r)
{
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = r ? ngx_http_get_module_main_conf(r, ngx_astro_health_module)
             : ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                   ngx_astro_health_module);

    if (hmcf == NULL || hmcf->sh == NULL) {
        return NGX_ASTRO_HEALTHY;
    }

    return hmcf->sh->status;
}


ngx_uint_t
ngx_http_astro_health_memory_critical(ngx_http_request_t *r)
{
    ngx_astro_health_figures_t          f;
    ngx_http_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf == NULL || hmcf->sh == NULL) {
        return 0;
    }

    ngx_memzero(&f, sizeof(ngx_astro_health_figures_t));

    f.memory = (double) hmcf->sh->memory / NGX_HTTP_ASTRO_HEALTH_MILLI;

    return (ngx_astro_health_exceeds(&f, &hmcf->critical) & 2) != 0;
}
