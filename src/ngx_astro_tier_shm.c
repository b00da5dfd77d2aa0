
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"


/*
 * One shared zone, "astro_tier_upstream", holds every balanced upstream's
 * per-server state (counts, response time, circuit) and per-tier counts,
 * whether or not the upstream has a zone of its own.  A reload keeps the
 * state of the servers it keeps: an upstream is found by its name and a
 * server by its address.
 */


#define NGX_HTTP_ASTRO_TIER_ZONE_MIN  (256 * 1024)


static ngx_int_t ngx_http_astro_tier_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_astro_tier_upstream_sh_t *ngx_http_astro_tier_sh_upstream(
    ngx_slab_pool_t *shpool, ngx_http_astro_tier_sh_t *sh,
    ngx_http_astro_tier_srv_conf_t *tscf);
static void ngx_http_astro_tier_circuit_open(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_peer_sh_t *ps,
    ngx_msec_t open_for, u_char *why);


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
     * Room for twice the state, so that a reload can build the new one
     * before it frees the old; a size that stays the same over reloads of
     * small configurations, so that the zone is kept.
     */

    size = 8 * ngx_pagesize;
    uscf = tmcf->upstreams.elts;

    for (i = 0; i < tmcf->upstreams.nelts; i++) {
        tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];

        size += 2 * (sizeof(ngx_http_astro_tier_upstream_sh_t)
                     + uscf[i]->host.len + 64
                     + (tscf->npeers + tscf->nbackup)
                       * sizeof(ngx_http_astro_tier_peer_sh_t));
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

    ngx_uint_t                          i;
    ngx_queue_t                        *q, *next;
    ngx_slab_pool_t                    *shpool;
    ngx_http_astro_tier_sh_t           *sh;
    ngx_http_upstream_srv_conf_t      **uscf;
    ngx_http_astro_tier_srv_conf_t     *tscf;
    ngx_http_astro_tier_upstream_sh_t  *us;

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

        shpool->log_nomem = 0;
    }

    sh->cycle++;

    uscf = tmcf->upstreams.elts;

    for (i = 0; i < tmcf->upstreams.nelts; i++) {
        tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];

        tscf->sh = ngx_http_astro_tier_sh_upstream(shpool, sh, tscf);
        if (tscf->sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "astro_tier_balance: no room in zone \"%V\" for "
                          "upstream \"%V\"", &shm_zone->shm.name,
                          &uscf[i]->host);
            return NGX_ERROR;
        }

        tscf->shpool = shpool;
    }

    /*
     * The records that the configuration before the previous one used:
     * those of the previous one may still be in use by its workers while
     * they finish their requests.
     */

    for (q = ngx_queue_head(&sh->upstreams);
         q != ngx_queue_sentinel(&sh->upstreams);
         q = next)
    {
        next = ngx_queue_next(q);
        us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

        if (us->cycle + 1 < sh->cycle) {
            ngx_queue_remove(q);
            ngx_slab_free(shpool, us->peers);
            ngx_slab_free(shpool, us->name);
            ngx_slab_free(shpool, us);
        }
    }

    return NGX_OK;
}


/*
 * The upstream's record: the previous configuration's, when its servers
 * are the same; else a new one, which takes over the state of the
 * servers it keeps.
 */

static ngx_http_astro_tier_upstream_sh_t *
ngx_http_astro_tier_sh_upstream(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_sh_t *sh, ngx_http_astro_tier_srv_conf_t *tscf)
{
    ngx_str_t                           *host;
    ngx_uint_t                           i, j, n;
    ngx_queue_t                         *q;
    ngx_http_upstream_rr_peer_t         *peer;
    ngx_http_upstream_rr_peers_t        *list;
    ngx_http_astro_tier_peer_sh_t       *ps;
    ngx_http_astro_tier_upstream_sh_t   *old, *us;

    host = &tscf->upstream->host;
    n = tscf->npeers + tscf->nbackup;

    old = NULL;

    for (q = ngx_queue_head(&sh->upstreams);
         q != ngx_queue_sentinel(&sh->upstreams);
         q = ngx_queue_next(q))
    {
        us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

        if (us->cycle != sh->cycle
            && us->name_len == host->len
            && ngx_strncmp(us->name, host->data, host->len) == 0
            && (old == NULL || us->cycle > old->cycle))
        {
            old = us;
        }
    }

    if (old && old->npeers == n) {
        i = 0;

        for (list = tscf->upstream->peer.data; list; list = list->next) {
            for (peer = list->peer; peer; peer = peer->next) {
                ps = &old->peers[i++];

                if (ps->name_len != ngx_min(peer->name.len,
                                            NGX_SOCKADDR_STRLEN)
                    || ngx_memcmp(ps->name, peer->name.data, ps->name_len)
                       != 0)
                {
                    goto changed;
                }
            }
        }

        /* the same servers: the old and the new workers share it */

        old->cycle = sh->cycle;

        return old;
    }

changed:

    us = ngx_slab_calloc_locked(shpool,
                                sizeof(ngx_http_astro_tier_upstream_sh_t));
    if (us == NULL) {
        return NULL;
    }

    us->name = ngx_slab_alloc_locked(shpool, host->len + 1);
    us->peers = ngx_slab_calloc_locked(shpool,
                                  n * sizeof(ngx_http_astro_tier_peer_sh_t));
    if (us->name == NULL || us->peers == NULL) {
        return NULL;
    }

    ngx_memcpy(us->name, host->data, host->len);
    us->name_len = host->len;
    us->npeers = n;
    us->cycle = sh->cycle;

    /* primary servers, then backup ones, in the order of the peers */

    i = 0;

    for (list = tscf->upstream->peer.data; list; list = list->next) {
        for (peer = list->peer; peer; peer = peer->next) {
            ps = &us->peers[i++];
            ps->name_len = ngx_min(peer->name.len, NGX_SOCKADDR_STRLEN);
            ngx_memcpy(ps->name, peer->name.data, ps->name_len);
            ps->open_for = tscf->circuit ? tscf->circuit->open : 0;

            for (j = 0; old && j < old->npeers; j++) {
                if (old->peers[j].name_len == ps->name_len
                    && ngx_memcmp(old->peers[j].name, ps->name, ps->name_len)
                       == 0)
                {
                    ngx_memcpy((void *) ps, (void *) &old->peers[j],
                               sizeof(ngx_http_astro_tier_peer_sh_t));
                    ps->active = 0;
                    ps->probes = 0;
                    break;
                }
            }
        }
    }

    for (i = 0; old && i < NGX_HTTP_ASTRO_TIER_MAX; i++) {
        us->requests[i] = old->requests[i];
        us->fallbacks[i] = old->fallbacks[i];
        us->refused[i] = old->refused[i];
    }

    ngx_queue_insert_tail(&sh->upstreams, &us->queue);

    return us;
}


/*
 * The circuit of one server.  Closed: every request goes.  Open: none,
 * until its time is over; then half-open: at most "probes" requests at a
 * time; a success closes it, a failure opens it again for twice as long
 * (at most max_open).  *probe is set when the request is one of those.
 */

ngx_uint_t
ngx_http_astro_tier_circuit_allows(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_uint_t *probe)
{
    ngx_uint_t  allowed;

    *probe = 0;

    if (ps->state == NGX_HTTP_ASTRO_CIRCUIT_CLOSED) {
        return 1;
    }

    allowed = 0;

    ngx_shmtx_lock(&tscf->shpool->mutex);

    if (ps->state == NGX_HTTP_ASTRO_CIRCUIT_OPEN
        && (ngx_msec_int_t) (ngx_current_msec - ps->until) >= 0)
    {
        ps->state = NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN;
        ps->probes = 0;

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: "
                      "half-open, up to %ui probes",
                      &tscf->upstream->host, ps->name_len, ps->name,
                      tscf->circuit->probes);
    }

    switch (ps->state) {

    case NGX_HTTP_ASTRO_CIRCUIT_CLOSED:
        allowed = 1;
        break;

    case NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN:
        if (ps->probes < tscf->circuit->probes) {
            ps->probes++;
            *probe = 1;
            allowed = 1;
        }
        break;

    default:
        break;
    }

    ngx_shmtx_unlock(&tscf->shpool->mutex);

    return allowed;
}


void
ngx_http_astro_tier_circuit_report(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_uint_t failed, ngx_uint_t probe)
{
    u_char                          why[128];
    ngx_http_astro_tier_circuit_t  *cc;

    cc = tscf->circuit;

    ngx_shmtx_lock(&tscf->shpool->mutex);

    if (probe) {
        if (ps->probes) {
            ps->probes--;
        }

        if (ps->state != NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN) {
            goto done;
        }

        if (failed) {
            ngx_http_astro_tier_circuit_open(tscf, ps,
                                     ngx_min(ps->open_for * 2, cc->max_open),
                                     (u_char *) "a probe failed");
            goto done;
        }

        ps->state = NGX_HTTP_ASTRO_CIRCUIT_CLOSED;
        ps->open_for = cc->open;
        ps->consecutive = 0;
        ps->win_requests = 0;
        ps->win_failures = 0;
        ps->win_start = ngx_current_msec;

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: "
                      "closed, a probe succeeded",
                      &tscf->upstream->host, ps->name_len, ps->name);
        goto done;
    }

    /* answers to requests sent before the circuit opened count for nothing */

    if (ps->state != NGX_HTTP_ASTRO_CIRCUIT_CLOSED) {
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
        ngx_http_astro_tier_circuit_open(tscf, ps, cc->open, why);
        goto done;
    }

    if (cc->error_rate
        && ps->win_requests >= cc->min_requests
        && ps->win_failures * 100 >= cc->error_rate * ps->win_requests)
    {
        ngx_sprintf(why, "%ui of %ui requests failed within %Mms%Z",
                    ps->win_failures, ps->win_requests, cc->window);
        ngx_http_astro_tier_circuit_open(tscf, ps, cc->open, why);
    }

done:

    ngx_shmtx_unlock(&tscf->shpool->mutex);
}


/* under the zone's mutex */

static void
ngx_http_astro_tier_circuit_open(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_msec_t open_for, u_char *why)
{
    ps->state = NGX_HTTP_ASTRO_CIRCUIT_OPEN;
    ps->open_for = ngx_max(open_for, tscf->circuit->open);
    ps->until = ngx_current_msec + ps->open_for;
    ps->opened++;
    ps->consecutive = 0;
    ps->win_requests = 0;
    ps->win_failures = 0;

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "astro_circuit: upstream \"%V\" server %*s: open for "
                  "%Mms: %s", &tscf->upstream->host, ps->name_len, ps->name,
                  ps->open_for, why);
}
