
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"


/*
 * One shared zone, "astro_tier_upstream", holds every balanced upstream's
 * per-tier counts and per-server state (counts, response time, circuit),
 * whether or not the upstream has a zone of its own.  A record is found
 * by its upstream's name and its server's address, and shared by every
 * configuration that has them: a reload keeps the state, and the workers
 * of the previous configurations, still finishing their requests, write
 * to the same records.
 *
 * A record is marked with the last configuration (cycle) that uses it,
 * and freed, when room is needed, only if no process of that
 * configuration or of an older one is alive (the processes that use the
 * zone: ngx_astro_tier_workers.c).  When nothing can be freed, the
 * reload fails.
 */


#define NGX_HTTP_ASTRO_TIER_ZONE_MIN  (256 * 1024)


static ngx_int_t ngx_http_astro_tier_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_astro_tier_sh_records(ngx_slab_pool_t *shpool,
    ngx_http_upstream_srv_conf_t *uscf, ngx_uint_t alloc, ngx_log_t *log);
static ngx_http_astro_tier_upstream_sh_t *ngx_http_astro_tier_sh_upstream(
    ngx_slab_pool_t *shpool, ngx_str_t *name, ngx_uint_t alloc,
    ngx_log_t *log);
static ngx_http_astro_tier_peer_sh_t *ngx_http_astro_tier_sh_peer(
    ngx_slab_pool_t *shpool, ngx_http_astro_tier_upstream_sh_t *us,
    ngx_str_t *name, ngx_uint_t alloc, ngx_log_t *log);
static void *ngx_http_astro_tier_sh_alloc(ngx_slab_pool_t *shpool,
    size_t size, ngx_log_t *log);
static ngx_uint_t ngx_http_astro_tier_sh_free(ngx_slab_pool_t *shpool,
    ngx_log_t *log);


static ngx_str_t  ngx_http_astro_tier_zone_name =
    ngx_string("astro_tier_upstream");


ngx_int_t
ngx_http_astro_tier_add_zone(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf)
{
    size_t                            size;
    ngx_uint_t                        i;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_upstream_srv_conf_t    **uscf;
    ngx_http_astro_tier_srv_conf_t   *tscf;

    /*
     * The slab allocator rounds a record up to a power of two (a
     * server's takes a page, its requests by process slot): room for
     * this configuration's records, twice, so that one with other
     * servers fits while the workers of the previous one finish; a size
     * that stays the same over reloads of small configurations, so that
     * the zone (and its state) is kept.
     */

    size = 8 * ngx_pagesize + sizeof(ngx_http_astro_tier_sh_t);
    uscf = tmcf->upstreams.elts;

    for (i = 0; i < tmcf->upstreams.nelts; i++) {
        tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];

        size += 2 * (2048 + 128
                     + (tscf->npeers + tscf->nbackup) * ngx_pagesize
                     + (tscf->queue ? NGX_MAX_PROCESSES
                                      * sizeof(ngx_http_astro_tier_slot_t)
                                    : 0));
    }

    size = ngx_max(size, NGX_HTTP_ASTRO_TIER_ZONE_MIN);
    size = ngx_align(size, NGX_HTTP_ASTRO_TIER_ZONE_MIN);

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_astro_tier_zone_name, size,
                                     &ngx_astro_tier_upstream_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_astro_tier_init_zone;
    shm_zone->data = tmcf;

    return NGX_OK;
}


/* in the master (or a single process), when a configuration is read */

static ngx_int_t
ngx_http_astro_tier_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_astro_tier_main_conf_t  *tmcf = shm_zone->data;

    size_t                            len;
    ngx_uint_t                        i, alloc;
    ngx_slab_pool_t                  *shpool;
    ngx_http_astro_tier_sh_t         *sh;
    ngx_http_upstream_srv_conf_t    **uscf;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data) {
        /* a reload: the state is there */
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_astro_tier_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_init(&sh->upstreams);
        shpool->data = sh;

        len = sizeof(" in astro_tier_upstream zone \"\"")
              + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in astro_tier_upstream zone \"%V\"%Z",
                    &shm_zone->shm.name);

        shpool->log_nomem = 0;
    }

    sh->cycle++;

    tmcf->shpool = shpool;
    tmcf->cycle = sh->cycle;

    /*
     * first the records the configuration has already, marked as its
     * own, so that none of them is freed to make room for a new one
     */

    uscf = tmcf->upstreams.elts;

    for (alloc = 0; alloc < 2; alloc++) {
        for (i = 0; i < tmcf->upstreams.nelts; i++) {
            if (ngx_http_astro_tier_sh_records(shpool, uscf[i], alloc,
                                               shm_zone->shm.log)
                != NGX_OK)
            {
                goto nomem;
            }
        }
    }

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "no room in zone \"%V\" for upstream \"%V\": the "
                  "records of previous configurations are in use by their "
                  "workers; reload again once they have exited",
                  &shm_zone->shm.name, &uscf[i]->host);

    return NGX_ERROR;
}


/* an upstream's records: found only, or found or made */

static ngx_int_t
ngx_http_astro_tier_sh_records(ngx_slab_pool_t *shpool,
    ngx_http_upstream_srv_conf_t *uscf, ngx_uint_t alloc, ngx_log_t *log)
{
    size_t                             size;
    ngx_uint_t                         j;
    ngx_http_upstream_rr_peer_t       *peer;
    ngx_http_upstream_rr_peers_t      *list;
    ngx_http_astro_tier_slot_t        *slots;
    ngx_http_astro_tier_srv_conf_t    *tscf;
    ngx_http_astro_tier_upstream_sh_t *us;

    tscf = uscf->srv_conf[ngx_astro_tier_upstream_module.ctx_index];
    tscf->shpool = shpool;

    if (tscf->sh == NULL) {
        tscf->sh = ngx_http_astro_tier_sh_upstream(shpool, &uscf->host,
                                                   alloc, log);
        if (tscf->sh == NULL) {
            return alloc ? NGX_ERROR : NGX_OK;
        }
    }

    us = tscf->sh;

    if (alloc && tscf->queue && us->slots == NULL) {
        size = NGX_MAX_PROCESSES * sizeof(ngx_http_astro_tier_slot_t);

        slots = ngx_http_astro_tier_sh_alloc(shpool, size, log);
        if (slots == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(slots, size);

        /* the workers read the list of upstreams under the mutex */

        ngx_shmtx_lock(&shpool->mutex);
        us->slots = slots;
        ngx_shmtx_unlock(&shpool->mutex);
    }

    /* primary servers, then backup ones, in the order of the peers */

    j = 0;

    for (list = uscf->peer.data; list; list = list->next) {
        for (peer = list->peer; peer; peer = peer->next) {
            if (tscf->peers[j] == NULL) {
                tscf->peers[j] = ngx_http_astro_tier_sh_peer(shpool, us,
                                                             &peer->name,
                                                             alloc, log);
                if (tscf->peers[j] == NULL && alloc) {
                    return NGX_ERROR;
                }
            }

            j++;
        }
    }

    return NGX_OK;
}


static ngx_http_astro_tier_upstream_sh_t *
ngx_http_astro_tier_sh_upstream(ngx_slab_pool_t *shpool, ngx_str_t *name,
    ngx_uint_t alloc, ngx_log_t *log)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_queue_t                        *q;
    ngx_http_astro_tier_upstream_sh_t  *us;

    /*
     * only the master changes the lists, under the mutex: it reads them
     * without it
     */

    for (q = ngx_queue_head(&sh->upstreams);
         q != ngx_queue_sentinel(&sh->upstreams);
         q = ngx_queue_next(q))
    {
        us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

        if (us->name_len == name->len
            && ngx_strncmp(us->name, name->data, name->len) == 0)
        {
            us->cycle = sh->cycle;
            return us;
        }
    }

    if (!alloc) {
        return NULL;
    }

    us = ngx_http_astro_tier_sh_alloc(shpool,
                             sizeof(ngx_http_astro_tier_upstream_sh_t)
                             + name->len, log);
    if (us == NULL) {
        return NULL;
    }

    ngx_memzero(us, sizeof(ngx_http_astro_tier_upstream_sh_t));

    us->name = (u_char *) (us + 1);
    us->name_len = name->len;
    ngx_memcpy(us->name, name->data, name->len);
    ngx_queue_init(&us->peers);
    us->cycle = sh->cycle;

    ngx_shmtx_lock(&shpool->mutex);
    ngx_queue_insert_tail(&sh->upstreams, &us->queue);
    ngx_shmtx_unlock(&shpool->mutex);

    return us;
}


static ngx_http_astro_tier_peer_sh_t *
ngx_http_astro_tier_sh_peer(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_upstream_sh_t *us, ngx_str_t *name, ngx_uint_t alloc,
    ngx_log_t *log)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    size_t                          len;
    ngx_queue_t                    *q;
    ngx_http_astro_tier_peer_sh_t  *ps;

    len = ngx_min(name->len, NGX_SOCKADDR_STRLEN);

    for (q = ngx_queue_head(&us->peers);
         q != ngx_queue_sentinel(&us->peers);
         q = ngx_queue_next(q))
    {
        ps = ngx_queue_data(q, ngx_http_astro_tier_peer_sh_t, queue);

        if (ps->name_len == len && ngx_memcmp(ps->name, name->data, len) == 0)
        {
            ps->cycle = sh->cycle;
            return ps;
        }
    }

    if (!alloc) {
        return NULL;
    }

    ps = ngx_http_astro_tier_sh_alloc(shpool,
                                      sizeof(ngx_http_astro_tier_peer_sh_t),
                                      log);
    if (ps == NULL) {
        return NULL;
    }

    ngx_memzero((void *) ps, sizeof(ngx_http_astro_tier_peer_sh_t));

    ps->name_len = len;
    ngx_memcpy(ps->name, name->data, len);
    ps->cycle = sh->cycle;

    /* the master walks the lists without the mutex, a worker with it */

    ngx_shmtx_lock(&shpool->mutex);
    ngx_queue_insert_tail(&us->peers, &ps->queue);
    ngx_shmtx_unlock(&shpool->mutex);

    return ps;
}


static void *
ngx_http_astro_tier_sh_alloc(ngx_slab_pool_t *shpool, size_t size,
    ngx_log_t *log)
{
    void  *p;

    p = ngx_slab_alloc(shpool, size);

    if (p == NULL && ngx_http_astro_tier_sh_free(shpool, log)) {
        p = ngx_slab_alloc(shpool, size);
    }

    return p;
}


/*
 * The zone is full: the records that no process alive may use are
 * freed, those of configurations older than the oldest one running.
 * How many.
 */

static ngx_uint_t
ngx_http_astro_tier_sh_free(ngx_slab_pool_t *shpool, ngx_log_t *log)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_uint_t                          n, oldest;
    ngx_queue_t                        *q, *pq, *next;
    ngx_http_astro_tier_peer_sh_t      *ps;
    ngx_http_astro_tier_upstream_sh_t  *us;

    oldest = ngx_http_astro_tier_oldest(shpool, log);
    n = 0;

    for (q = ngx_queue_head(&sh->upstreams);
         q != ngx_queue_sentinel(&sh->upstreams);
         q = next)
    {
        next = ngx_queue_next(q);
        us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

        for (pq = ngx_queue_head(&us->peers);
             pq != ngx_queue_sentinel(&us->peers);
             /* void */)
        {
            ps = ngx_queue_data(pq, ngx_http_astro_tier_peer_sh_t, queue);
            pq = ngx_queue_next(pq);

            if (ps->cycle < oldest) {
                ngx_shmtx_lock(&shpool->mutex);
                ngx_queue_remove(&ps->queue);
                ngx_shmtx_unlock(&shpool->mutex);

                ngx_slab_free(shpool, ps);
                n++;
            }
        }

        /* a configuration that uses a server uses its upstream */

        if (us->cycle < oldest && ngx_queue_empty(&us->peers)) {
            ngx_shmtx_lock(&shpool->mutex);
            ngx_queue_remove(q);
            ngx_shmtx_unlock(&shpool->mutex);

            if (us->slots) {
                ngx_slab_free(shpool, us->slots);
            }

            ngx_slab_free(shpool, us);
            n++;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_tier_upstream: zone full at configuration %ui: "
                   "%ui records of those before %ui freed",
                   sh->cycle, n, oldest);

    return n;
}
