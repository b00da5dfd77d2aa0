
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


/*
 * The zone of astro_cache_zone: a record per class, found by name, with
 * its generation and counters.  Records are never freed: a reload keeps
 * them, so that generations survive it (a class removed keeps its record
 * until the zone is renamed or resized), and the workers of the old
 * configuration count into the same records.  Counters and generations
 * change by atomic operations only; the lock guards adding records and
 * the ring of unpublished key invalidations.
 */


static ngx_http_astro_cache_class_sh_t *ngx_http_astro_cache_record(
    ngx_http_astro_cache_zone_t *zone, ngx_str_t *name);


ngx_int_t
ngx_http_astro_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_astro_cache_zone_t *ozone = data;

    size_t                          len;
    ngx_uint_t                      i;
    ngx_http_astro_cache_zone_t    *zone;
    ngx_http_astro_cache_class_t   *class;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

    } else {
        zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            zone->sh = zone->shpool->data;

        } else {
            zone->sh = ngx_slab_calloc(zone->shpool,
                                       sizeof(ngx_http_astro_cache_sh_t));
            if (zone->sh == NULL) {
                return NGX_ERROR;
            }

            zone->shpool->data = zone->sh;

            len = sizeof(" in astro_cache_zone \"\"") + shm_zone->shm.name.len;

            zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
            if (zone->shpool->log_ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(zone->shpool->log_ctx,
                        " in astro_cache_zone \"%V\"%Z",
                        &shm_zone->shm.name);
        }
    }

    /* the master, alone: no worker adds records meanwhile */

    class = zone->classes.elts;

    for (i = 0; i < zone->classes.nelts; i++) {
        class[i].sh = ngx_http_astro_cache_record(zone, &class[i].name);

        if (class[i].sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "no room for class \"%V\" in astro_cache_zone "
                          "\"%V\": its classes of all reloads are kept; "
                          "make it larger or rename it",
                          &class[i].name, &shm_zone->shm.name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_http_astro_cache_class_sh_t *
ngx_http_astro_cache_record(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *name)
{
    ngx_uint_t                        i;
    ngx_http_astro_cache_sh_t        *sh;
    ngx_http_astro_cache_class_sh_t  *rec;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < sh->nclasses; i++) {
        rec = sh->classes[i];

        if (rec->len == name->len
            && ngx_strncmp(rec->name, name->data, name->len) == 0)
        {
            goto done;
        }
    }

    rec = NULL;

    if (sh->nclasses == NGX_HTTP_ASTRO_CACHE_CLASSES) {
        goto done;
    }

    rec = ngx_slab_calloc_locked(zone->shpool,
                                 sizeof(ngx_http_astro_cache_class_sh_t));
    if (rec == NULL) {
        goto done;
    }

    rec->len = name->len;
    ngx_memcpy(rec->name, name->data, name->len);

    sh->classes[sh->nclasses++] = rec;

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rec;
}


/* a class of the zone's configuration by name, or NULL */

ngx_http_astro_cache_class_t *
ngx_http_astro_cache_class(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_astro_cache_class_t  *class;

    class = zone->classes.elts;

    for (i = 0; i < zone->classes.nelts; i++) {
        if (class[i].name.len == name->len
            && ngx_strncmp(class[i].name.data, name->data, name->len) == 0)
        {
            return &class[i];
        }
    }

    return NULL;
}


ngx_http_astro_cache_ctx_t *
ngx_http_astro_cache_ctx(ngx_http_request_t *r)
{
    ngx_http_astro_cache_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_cache_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_cache_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->class = NULL;
     *     ctx->counted = 0;
     */

    ctx->ttl = -1;

    ngx_http_set_ctx(r, ctx, ngx_astro_cache_module);

    return ctx;
}


ngx_http_astro_cache_class_t *
ngx_http_astro_cache_eval_class(ngx_http_request_t *r,
    ngx_http_astro_cache_loc_conf_t *lcf)
{
    ngx_str_t                      name;
    ngx_http_astro_cache_class_t  *class;

    if (lcf->class == NULL) {
        return lcf->zone->classes.elts;
    }

    if (ngx_http_complex_value(r, lcf->class, &name) != NGX_OK) {
        return lcf->zone->classes.elts;
    }

    class = ngx_http_astro_cache_class(lcf->zone, &name);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache: class \"%V\"%s", &name,
                   class ? "" : " unknown, \"default\" taken");

    return class ? class : lcf->zone->classes.elts;
}


void
ngx_http_astro_cache_count(ngx_http_astro_cache_class_t *class,
    ngx_uint_t what)
{
    (void) ngx_atomic_fetch_add(&class->sh->count[what], 1);
}


ngx_atomic_uint_t
ngx_http_astro_cache_bump(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class)
{
    time_t                            now, start;
    ngx_atomic_uint_t                 cur;
    ngx_http_astro_cache_class_sh_t  *sh;

    sh = class->sh;

    (void) ngx_atomic_fetch_add(&sh->count[NGX_HTTP_ASTRO_CACHE_INV_LOCAL],
                                1);

    if (zone->adaptive && zone->adaptive->churn) {

        /*
         * the churn's periods: the one that ended becomes the previous;
         * what it counted is taken off, not zeroed, so that another
         * worker's add to the new period meanwhile is not lost
         */

        now = ngx_time();
        start = sh->churn_start;

        if (now - start >= zone->adaptive->churn_period
            && ngx_atomic_cmp_set(&sh->churn_start, start, now))
        {
            cur = sh->churn_cur;
            (void) ngx_atomic_fetch_add(&sh->churn_cur,
                                        -(ngx_atomic_int_t) cur);

            sh->churn_prev = (now - start < 2 * zone->adaptive->churn_period)
                             ? cur : 0;
        }

        (void) ngx_atomic_fetch_add(&sh->churn_cur, 1);
    }

    return ngx_atomic_fetch_add(&sh->gen, 1) + 1;
}


ngx_uint_t
ngx_http_astro_cache_gen_max(ngx_http_astro_cache_class_t *class,
    ngx_atomic_uint_t gen)
{
    ngx_atomic_uint_t  cur;

    for ( ;; ) {
        cur = class->sh->gen;

        if (cur >= gen) {
            return 0;
        }

        if (ngx_atomic_cmp_set(&class->sh->gen, cur, gen)) {
            return 1;
        }
    }
}


/*
 * The churn shrink, x 100: the class's invalidations in a sliding
 * period (the previous period's weighted by how much of it the window
 * still covers) above "churn" shrink its TTL; 100 when they do not.
 */

ngx_uint_t
ngx_http_astro_cache_churn(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class)
{
    time_t                            now, elapsed, period;
    ngx_uint_t                        cur, prev, rate;
    ngx_http_astro_cache_class_sh_t  *sh;

    if (zone->adaptive == NULL || zone->adaptive->churn == 0) {
        return 100;
    }

    sh = class->sh;
    now = ngx_time();
    period = zone->adaptive->churn_period;
    elapsed = now - (time_t) sh->churn_start;

    /* a period started by a worker whose cached time is a second ahead */

    if (elapsed < 0) {
        elapsed = 0;
    }

    if (elapsed >= 2 * period) {
        return 100;
    }

    if (elapsed >= period) {
        prev = sh->churn_cur;
        cur = 0;
        elapsed -= period;

    } else {
        prev = sh->churn_prev;
        cur = sh->churn_cur;
    }

    rate = cur + prev * (period - elapsed) / period;

    return rate > zone->adaptive->churn ? zone->adaptive->shrink : 100;
}
