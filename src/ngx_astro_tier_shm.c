
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

                if (tscf->peers[j]->open_for == 0 && tscf->circuit) {
                    tscf->peers[j]->open_for = tscf->circuit->open;
                }

                j++;
            }
        }
    }

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "astro_tier_balance: no room in zone \"%V\" for upstream "
                  "\"%V\"", &shm_zone->shm.name, &uscf[i]->host);

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


/*
 * The circuit of one server.  Closed: every request goes.  Open: none,
 * until its time is over; then half-open: at most "probes" requests at a
 * time; a success closes it, a failure opens it again for twice as long
 * (at most max_open).  *probe is set when the request is one of those.
 * A probe that has not answered after the open time (its worker may have
 * died) gives its place back.  The changes are logged after the lock.
 */

ngx_uint_t
ngx_http_astro_tier_circuit_allows(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_uint_t *probe)
{
    ngx_uint_t  allowed, half_open;

    *probe = 0;

    if (ps->state == NGX_HTTP_ASTRO_CIRCUIT_CLOSED) {
        return 1;
    }

    allowed = 0;
    half_open = 0;

    ngx_shmtx_lock(&tscf->shpool->mutex);

    if (ps->state == NGX_HTTP_ASTRO_CIRCUIT_OPEN
        && (ngx_msec_int_t) (ngx_current_msec - ps->until) >= 0)
    {
        ps->state = NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN;
        ps->probes = 0;
        half_open = 1;
    }

    if (ps->state == NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN
        && ps->probes >= tscf->circuit->probes
        && (ngx_msec_int_t) (ngx_current_msec - ps->probe_at)
           >= (ngx_msec_int_t) ps->open_for)
    {
        ps->probes = 0;
    }

    switch (ps->state) {

    case NGX_HTTP_ASTRO_CIRCUIT_CLOSED:
        allowed = 1;
        break;

    case NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN:
        if (ps->probes < tscf->circuit->probes) {
            ps->probes++;
            ps->probe_at = ngx_current_msec;
            *probe = 1;
            allowed = 1;
        }
        break;

    default:
        break;
    }

    ngx_shmtx_unlock(&tscf->shpool->mutex);

    if (half_open) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: "
                      "half-open, up to %ui probes",
                      &tscf->upstream->host, ps->name_len, ps->name,
                      tscf->circuit->probes);
    }

    return allowed;
}


/*
 * The answer of a request the circuit let through: failed, succeeded, or
 * (failed NGX_DECLINED) neither, as a client that left before the server
 * answered: a probe's place is given back, nothing else changes.
 */

void
ngx_http_astro_tier_circuit_report(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_int_t failed, ngx_uint_t probe)
{
    u_char                          why[128];
    ngx_msec_t                      open_for;
    ngx_uint_t                      opened, closed;
    ngx_http_astro_tier_circuit_t  *cc;

    cc = tscf->circuit;
    opened = 0;
    closed = 0;
    open_for = 0;

    ngx_shmtx_lock(&tscf->shpool->mutex);

    if (probe) {
        if (ps->probes) {
            ps->probes--;
        }

        if (ps->state != NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN
            || failed == NGX_DECLINED)
        {
            goto done;
        }

        if (failed) {
            ngx_cpystrn(why, (u_char *) "a probe failed", sizeof(why));
            open_for = ngx_min(ps->open_for * 2, cc->max_open);
            opened = 1;
            goto done;
        }

        ps->state = NGX_HTTP_ASTRO_CIRCUIT_CLOSED;
        ps->open_for = cc->open;
        ps->consecutive = 0;
        ps->win_requests = 0;
        ps->win_failures = 0;
        ps->win_start = ngx_current_msec;
        closed = 1;
        goto done;
    }

    /* answers to requests sent before the circuit opened count for nothing */

    if (ps->state != NGX_HTTP_ASTRO_CIRCUIT_CLOSED || failed == NGX_DECLINED) {
        goto done;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - ps->win_start)
        >= (ngx_msec_int_t) cc->window)
    {
        ps->win_start = ngx_current_msec;
        ps->win_requests = 0;
        ps->win_failures = 0;
    }

    ps->win_requests++;

    if (!failed) {
        ps->consecutive = 0;
        goto done;
    }

    ps->win_failures++;
    ps->consecutive++;

    if (cc->failures && ps->consecutive >= cc->failures) {
        ngx_sprintf(why, "%ui consecutive failures%Z", ps->consecutive);
        open_for = cc->open;
        opened = 1;
        goto done;
    }

    if (cc->error_rate
        && ps->win_requests >= cc->min_requests
        && ps->win_failures * 100 >= cc->error_rate * ps->win_requests)
    {
        ngx_sprintf(why, "%ui of %ui requests failed within %Mms%Z",
                    ps->win_failures, ps->win_requests, cc->window);
        open_for = cc->open;
        opened = 1;
    }

done:

    if (opened) {
        ps->state = NGX_HTTP_ASTRO_CIRCUIT_OPEN;
        ps->open_for = ngx_max(open_for, cc->open);
        ps->until = ngx_current_msec + ps->open_for;
        ps->opened++;
        ps->consecutive = 0;
        ps->win_requests = 0;
        ps->win_failures = 0;
        open_for = ps->open_for;
    }

    ngx_shmtx_unlock(&tscf->shpool->mutex);

    if (opened) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: open for "
                      "%Mms: %s", &tscf->upstream->host, ps->name_len,
                      ps->name, open_for, why);
    }

    if (closed) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: "
                      "closed, a probe succeeded",
                      &tscf->upstream->host, ps->name_len, ps->name);
    }
}
