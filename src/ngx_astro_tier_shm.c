
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
 * of the previous configuration, still finishing their requests, write
 * to the same records.  Records no configuration has used for a while
 * are freed only when room is needed, the oldest first.
 */


#define NGX_HTTP_ASTRO_TIER_ZONE_MIN  (256 * 1024)


static ngx_int_t ngx_http_astro_tier_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_astro_tier_upstream_sh_t *ngx_http_astro_tier_sh_upstream(
    ngx_slab_pool_t *shpool, ngx_http_astro_tier_sh_t *sh, ngx_str_t *name);
static ngx_http_astro_tier_peer_sh_t *ngx_http_astro_tier_sh_peer(
    ngx_slab_pool_t *shpool, ngx_http_astro_tier_sh_t *sh,
    ngx_http_astro_tier_upstream_sh_t *us, ngx_str_t *name);
static void *ngx_http_astro_tier_sh_alloc(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_sh_t *sh, size_t size);


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
     * The slab allocator rounds a record up to a power of two: room for
     * this configuration's records, twice, so that one with other
     * servers fits before the old records are freed; a size that stays
     * the same over reloads of small configurations, so that the zone
     * (and its state) is kept.
     */

    size = 8 * ngx_pagesize;
    uscf = tmcf->upstreams.elts;

    for (i = 0; i < tmcf->upstreams.nelts; i++) {
        tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];

        size += 2 * (2048 + 128
                     + (tscf->npeers + tscf->nbackup) * 512);
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


static ngx_int_t
ngx_http_astro_tier_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_astro_tier_main_conf_t  *tmcf = shm_zone->data;

    size_t                            len;
    ngx_uint_t                        i, j;
    ngx_slab_pool_t                  *shpool;
    ngx_http_astro_tier_sh_t         *sh;
    ngx_http_upstream_rr_peer_t      *peer;
    ngx_http_upstream_rr_peers_t     *list;
    ngx_http_upstream_srv_conf_t    **uscf;
    ngx_http_astro_tier_srv_conf_t   *tscf;

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

    uscf = tmcf->upstreams.elts;

    for (i = 0; i < tmcf->upstreams.nelts; i++) {
        tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];

        tscf->shpool = shpool;

        tscf->sh = ngx_http_astro_tier_sh_upstream(shpool, sh,
                                                   &uscf[i]->host);
        if (tscf->sh == NULL) {
            goto nomem;
        }

        /* primary servers, then backup ones, in the order of the peers */

        j = 0;

        for (list = uscf[i]->peer.data; list; list = list->next) {
            for (peer = list->peer; peer; peer = peer->next) {
                tscf->peers[j] = ngx_http_astro_tier_sh_peer(shpool, sh,
                                                             tscf->sh,
                                                             &peer->name);
                if (tscf->peers[j] == NULL) {
                    goto nomem;
                }

                j++;
            }
        }
    }

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "no room in zone \"%V\" for upstream \"%V\"",
                  &shm_zone->shm.name, &uscf[i]->host);

    return NGX_ERROR;
}


static ngx_http_astro_tier_upstream_sh_t *
ngx_http_astro_tier_sh_upstream(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_sh_t *sh, ngx_str_t *name)
{
    ngx_queue_t                        *q;
    ngx_http_astro_tier_upstream_sh_t  *us;

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

    us = ngx_http_astro_tier_sh_alloc(shpool, sh,
                             sizeof(ngx_http_astro_tier_upstream_sh_t)
                             + name->len);
    if (us == NULL) {
        return NULL;
    }

    ngx_memzero(us, sizeof(ngx_http_astro_tier_upstream_sh_t));

    us->name = (u_char *) (us + 1);
    us->name_len = name->len;
    ngx_memcpy(us->name, name->data, name->len);
    ngx_queue_init(&us->peers);
    us->cycle = sh->cycle;

    ngx_queue_insert_tail(&sh->upstreams, &us->queue);

    return us;
}


static ngx_http_astro_tier_peer_sh_t *
ngx_http_astro_tier_sh_peer(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_sh_t *sh, ngx_http_astro_tier_upstream_sh_t *us,
    ngx_str_t *name)
{
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

    ps = ngx_http_astro_tier_sh_alloc(shpool, sh,
                                      sizeof(ngx_http_astro_tier_peer_sh_t));
    if (ps == NULL) {
        return NULL;
    }

    ngx_memzero((void *) ps, sizeof(ngx_http_astro_tier_peer_sh_t));

    ps->name_len = len;
    ngx_memcpy(ps->name, name->data, len);
    ps->cycle = sh->cycle;

    ngx_queue_insert_tail(&us->peers, &ps->queue);

    return ps;
}


/*
 * When the zone is full: the servers (then the upstreams) that no
 * configuration has used for the longest time are freed first, never one
 * of the current or of the previous configuration, whose workers may
 * still be finishing requests.
 */

static void *
ngx_http_astro_tier_sh_alloc(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_sh_t *sh, size_t size)
{
    void                               *p;
    ngx_uint_t                          oldest;
    ngx_queue_t                        *q, *pq, *next;
    ngx_http_astro_tier_peer_sh_t      *ps;
    ngx_http_astro_tier_upstream_sh_t  *us;

    for ( ;; ) {
        p = ngx_slab_alloc(shpool, size);
        if (p) {
            return p;
        }

        oldest = sh->cycle;

        for (q = ngx_queue_head(&sh->upstreams);
             q != ngx_queue_sentinel(&sh->upstreams);
             q = ngx_queue_next(q))
        {
            us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

            oldest = ngx_min(oldest, us->cycle);

            for (pq = ngx_queue_head(&us->peers);
                 pq != ngx_queue_sentinel(&us->peers);
                 pq = ngx_queue_next(pq))
            {
                ps = ngx_queue_data(pq, ngx_http_astro_tier_peer_sh_t, queue);
                oldest = ngx_min(oldest, ps->cycle);
            }
        }

        if (oldest + 1 >= sh->cycle) {
            return NULL;
        }

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

                if (ps->cycle == oldest) {
                    ngx_queue_remove(&ps->queue);
                    ngx_slab_free(shpool, ps);
                }
            }

            if (us->cycle == oldest && ngx_queue_empty(&us->peers)) {
                ngx_queue_remove(q);
                ngx_slab_free(shpool, us);
            }
        }
    }
}

