
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"
#include "ngx_astro_health_api.h"
#include "ngx_astro_wait.h"


/*
 * astro_queue: a request whose servers (its tier's route) are all at
 * max_conns waits, before the content phase, in its worker's queue of the
 * upstream, ordered by tier priority and first come first served within
 * one.  A connection freed in the worker admits the best waiter that has
 * room; a timer looks again every NGX_HTTP_ASTRO_TIER_QUEUE_POLL ms for
 * room freed by other workers.  An admitted request holds a place (reserved)
 * until the balancer gives it its server, so that a newcomer cannot take
 * it; one place a request, kept over an internal redirect.  The upstream
 * is the location's proxy_pass one (a literal name).
 *
 * The places and the waiters are counted in the zone by worker slot only
 * (ngx_astro_tier_shm.c), the totals being the slots' sums, so that a
 * worker killed while holding some, or while taking or giving one back
 * (one store), does not keep them: its successor in the slot gives them
 * back when it starts, or another worker when it finds no room, at most
 * once every NGX_HTTP_ASTRO_TIER_QUEUE_SWEEP ms.
 */


#define NGX_HTTP_ASTRO_TIER_QUEUE_POLL   20
#define NGX_HTTP_ASTRO_TIER_QUEUE_SWEEP  1000

/* room without a limit: a usable server without max_conns */
#define NGX_HTTP_ASTRO_TIER_QUEUE_ANY   ((ngx_uint_t) -1)


static ngx_pool_cleanup_t *ngx_http_astro_tier_queue_previous(
    ngx_http_request_t *r, ngx_http_astro_tier_ctx_t *ctx,
    ngx_http_astro_tier_srv_conf_t *tscf);
static ngx_uint_t ngx_http_astro_tier_queue_room(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_uint_t tier);
static ngx_uint_t ngx_http_astro_tier_queue_free(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_upstream_rr_peers_t *peers,
    uintptr_t *mask, ngx_uint_t base, ngx_uint_t *live);
static ngx_uint_t ngx_http_astro_tier_queue_reserve(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_uint_t tier);
static void ngx_http_astro_tier_queue_release(
    ngx_http_astro_tier_srv_conf_t *tscf);
static ngx_uint_t ngx_http_astro_tier_queue_ahead(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_uint_t tier);
static void ngx_http_astro_tier_queue_admit(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_ctx_t *ctx);
static void ngx_http_astro_tier_queue_remove(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_ctx_t *ctx);
static void ngx_http_astro_tier_queue_timeout(ngx_event_t *ev);
static void ngx_http_astro_tier_queue_poll(ngx_event_t *ev);
static void ngx_http_astro_tier_queue_cleanup(void *data);
#if (NGX_DEBUG)
static ngx_uint_t ngx_http_astro_tier_queue_position(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_uint_t tier);
#endif


extern ngx_module_t  ngx_http_proxy_module;


ngx_int_t
ngx_http_astro_tier_queue_init(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf)
{
    ngx_uint_t                     i, j, n, t;
    ngx_http_astro_tier_t         *tier;
    ngx_http_upstream_server_t    *server;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = tscf->upstream;
    server = uscf->servers->elts;

    for (i = 0; i < uscf->servers->nelts; i++) {
        if (server[i].max_conns) {
            break;
        }
    }

    if (i == uscf->servers->nelts) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"astro_queue\" requires \"max_conns\" on a server "
                      "of upstream \"%V\" in %s:%ui",
                      &uscf->host, uscf->file_name, uscf->line);
        return NGX_ERROR;
    }

    n = tmcf->tiers.nelts;
    tier = tmcf->tiers.elts;

    tscf->ntiers = n;
    tscf->waiting = ngx_palloc(cf->pool, n * sizeof(ngx_queue_t));
    tscf->by_priority = ngx_palloc(cf->pool, n * sizeof(ngx_uint_t));
    if (tscf->waiting == NULL || tscf->by_priority == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_queue_init(&tscf->waiting[i]);
        tscf->by_priority[i] = i;
    }

    /* insertion sort, highest priority first */

    for (i = 1; i < n; i++) {
        t = tscf->by_priority[i];

        for (j = i; j > 0
                    && tier[tscf->by_priority[j - 1]].priority
                       < tier[t].priority;
             j--)
        {
            tscf->by_priority[j] = tscf->by_priority[j - 1];
        }

        tscf->by_priority[j] = t;
    }

    tscf->poll.handler = ngx_http_astro_tier_queue_poll;
    tscf->poll.data = tscf;
    tscf->poll.cancelable = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_astro_tier_queue_handler(ngx_http_request_t *r)
{
    ngx_uint_t                        health;
    ngx_pool_cleanup_t               *cln;
    ngx_http_astro_tier_t            *tier;
    ngx_http_astro_tier_wait_t       *w;
    ngx_http_upstream_conf_t         *ucf;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_upstream_srv_conf_t     *uscf;
    ngx_http_astro_tier_srv_conf_t   *tscf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    /* ngx_http_proxy_loc_conf_t begins with its ngx_http_upstream_conf_t */

    ucf = ngx_http_get_module_loc_conf(r, ngx_http_proxy_module);
    uscf = ucf ? ucf->upstream : NULL;

    tscf = (uscf && uscf->srv_conf)
           ? ngx_http_conf_upstream_srv_conf(uscf,
                                             ngx_astro_tier_upstream_module)
           : NULL;

    if (tscf == NULL || tscf->queue == NULL || tscf->waiting == NULL
        || tscf->sh == NULL)
    {
        /* redirected here, where it needs no place */
        (void) ngx_http_astro_tier_queue_previous(r, NULL, NULL);
        return NGX_DECLINED;
    }

    ctx = ngx_http_astro_tier_identify(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = NULL;

    if (ctx->qstate == NGX_HTTP_ASTRO_TIER_QUEUE_NONE) {
        cln = ngx_http_astro_tier_queue_previous(r, ctx, tscf);
    }

    switch (ctx->qstate) {

    case NGX_HTTP_ASTRO_TIER_QUEUE_WAITING:
        return NGX_AGAIN;

    case NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED:
    case NGX_HTTP_ASTRO_TIER_QUEUE_DONE:
        return NGX_DECLINED;

    case NGX_HTTP_ASTRO_TIER_QUEUE_REFUSED:
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default: /* NGX_HTTP_ASTRO_TIER_QUEUE_NONE */
        break;
    }

    if (cln == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_astro_tier_queue_cleanup;
        cln->data = ctx;
    }

    ctx->qscf = tscf;
    tier = &tscf->tiers[ctx->tier];

    /*
     * room: the request holds a place until the balancer gives it its
     * server (reading its body, say), so that nobody takes it meanwhile
     */

    if (!ngx_http_astro_tier_queue_ahead(tscf, ctx->tier)
        && ngx_http_astro_tier_queue_reserve(tscf, ctx->tier))
    {
        ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_queue: upstream \"%V\": tier \"%V\" "
                       "admitted at once", &uscf->host, &tier->name);

        return NGX_DECLINED;
    }

    /* every server is full: wait, unless refused at once */

    health = ngx_http_astro_health_current(r);

    if ((health == NGX_ASTRO_CRITICAL
         && tier->priority < tscf->queue->critical_below)
        || tscf->nwaiting >= tscf->queue->size)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "astro_queue: upstream \"%V\" refuses a request of "
                      "tier \"%V\": %s", &uscf->host, &tier->name,
                      tscf->nwaiting >= tscf->queue->size
                      ? "the queue is full" : "critical");

        ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_REFUSED;
        ngx_http_astro_health_refused(r, NGX_ASTRO_REFUSED_QUEUE);
        ngx_atomic_fetch_add(&tscf->sh->q_refused, 1);
        ngx_atomic_fetch_add(&tscf->sh->refused[ctx->tier], 1);

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_tier_wait_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->ctx = ctx;
    ctx->wait = w;

    ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_WAITING;
    w->since = ngx_current_msec;
    ngx_http_astro_health_hold(r);

    ngx_queue_insert_tail(&tscf->waiting[ctx->tier], &w->queue);
    tscf->nwaiting++;

    tscf->sh->slots[ngx_process_slot].waiting++;
    ngx_atomic_fetch_add(&tscf->sh->q_waits, 1);

    w->timer.handler = ngx_http_astro_tier_queue_timeout;
    w->timer.data = r;
    w->timer.log = r->connection->log;

    w->wake.handler = ngx_astro_http_resume;
    w->wake.data = r;
    w->wake.log = r->connection->log;

    ngx_add_timer(&w->timer, tscf->queue->timeout);

    if (!tscf->poll.timer_set) {
        /* the cycle's log: the one of configuration time is gone */
        tscf->poll.log = ngx_cycle->log;
        ngx_add_timer(&tscf->poll, NGX_HTTP_ASTRO_TIER_QUEUE_POLL);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_queue: upstream \"%V\": tier \"%V\" waits, "
                   "position %ui of %ui", &uscf->host, &tier->name,
                   ngx_http_astro_tier_queue_position(tscf, ctx->tier),
                   tscf->nwaiting);

    return ngx_astro_http_wait(r);
}


/* a connection was freed, or the poll: the best waiters with room go */

void
ngx_http_astro_tier_queue_kick(ngx_http_astro_tier_srv_conf_t *tscf)
{
    ngx_uint_t                   i, t;
    ngx_http_astro_tier_wait_t  *w;

    i = 0;

    while (tscf->nwaiting && i < tscf->ntiers) {
        t = tscf->by_priority[i];

        /* a lower tier may have room on servers of its own */

        if (ngx_queue_empty(&tscf->waiting[t])
            || !ngx_http_astro_tier_queue_reserve(tscf, t))
        {
            i++;
            continue;
        }

        w = ngx_queue_data(ngx_queue_head(&tscf->waiting[t]),
                           ngx_http_astro_tier_wait_t, queue);

        ngx_http_astro_tier_queue_admit(tscf, w->ctx);
    }
}


/*
 * the balancer gave the request its server: its place is taken (a
 * subrequest's server, never queued, does not take its main request's)
 */

void
ngx_http_astro_tier_queue_got_peer(ngx_http_request_t *r,
    ngx_http_astro_tier_srv_conf_t *tscf)
{
    ngx_http_astro_tier_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_tier_upstream_module);

    if (ctx && ctx->qstate == NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED
        && ctx->qscf == tscf)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_queue: the server is taken, the place freed");

        ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_DONE;
        ngx_http_astro_tier_queue_release(tscf);
    }
}


/*
 * An internal redirect (error_page, try_files, a named location) gives
 * the request a new context: the place of the previous one stays the
 * request's, or is given back when the request now goes to another
 * upstream or to a location without the queue (ctx and tscf NULL).  The
 * cleanup, added once, follows the new context.
 */

static ngx_pool_cleanup_t *
ngx_http_astro_tier_queue_previous(ngx_http_request_t *r,
    ngx_http_astro_tier_ctx_t *ctx, ngx_http_astro_tier_srv_conf_t *tscf)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_astro_tier_ctx_t  *prev;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_astro_tier_queue_cleanup) {
            break;
        }
    }

    if (cln == NULL || cln->data == ctx) {
        return cln;
    }

    prev = cln->data;

    if (prev->qstate == NGX_HTTP_ASTRO_TIER_QUEUE_DONE) {
        goto done;
    }

    if (prev->qstate == NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED) {

        if (prev->qscf == tscf) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_queue: upstream \"%V\": redirected, the "
                           "request keeps its place", &tscf->upstream->host);

            ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED;
            ctx->qscf = tscf;

        } else {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_queue: upstream \"%V\": redirected "
                           "elsewhere, the place freed",
                           &prev->qscf->upstream->host);

            ngx_http_astro_tier_queue_release(prev->qscf);
            ngx_http_astro_tier_queue_kick(prev->qscf);
        }
    }

    prev->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_DONE;

done:

    if (ctx) {
        cln->data = ctx;
    }

    return cln;
}


/*
 * The free places a request of the tier may take, as the balancer would
 * choose: the first group of its route that has a live server (not down,
 * not failed out, circuit not open; the balancer does not fall back from
 * a group that is only full), and the backup servers.  max_conns - conns
 * over them, under the peers' read lock when they are in a zone.
 */

static ngx_uint_t
ngx_http_astro_tier_queue_room(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_uint_t tier)
{
    ngx_uint_t                     k, n, room, live;
    ngx_http_upstream_rr_peers_t  *peers;
    ngx_http_astro_tier_route_t   *route;

    route = &tscf->routes[tier];
    peers = tscf->upstream->peer.data;

    n = route->n;

    if (tscf->strategy == NGX_HTTP_ASTRO_TIER_ADAPTIVE
        && tier != tscf->top
        && ngx_http_astro_health_current(NULL) == NGX_ASTRO_CRITICAL)
    {
        n = 1;
    }

    room = 0;

    for (k = 0; k < n; k++) {
        live = 0;
        room = ngx_http_astro_tier_queue_free(tscf, peers,
                                        tscf->groups_mask[route->tiers[k]],
                                        0, &live);
        if (live) {
            break;
        }
    }

    if (peers->next && room != NGX_HTTP_ASTRO_TIER_QUEUE_ANY) {
        live = 0;
        k = ngx_http_astro_tier_queue_free(tscf, peers->next, NULL,
                                           tscf->npeers, &live);
        room = (k == NGX_HTTP_ASTRO_TIER_QUEUE_ANY) ? k : room + k;
    }

    return room;
}


static ngx_uint_t
ngx_http_astro_tier_queue_free(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_upstream_rr_peers_t *peers, uintptr_t *mask, ngx_uint_t base,
    ngx_uint_t *live)
{
    time_t                          now;
    ngx_uint_t                      i, room;
    ngx_http_upstream_rr_peer_t    *peer;
    ngx_http_astro_tier_peer_sh_t  *ps;

    now = ngx_time();
    room = 0;

    for (peer = peers->peer, i = 0; peer; peer = peer->next, i++) {

        if (mask && !ngx_http_astro_tier_bit_test(mask, i)) {
            continue;
        }

        if (peer->down
            || (peer->max_fails && peer->fails >= peer->max_fails
                && now - peer->checked <= peer->fail_timeout))
        {
            continue;
        }

        ps = tscf->peers[base + i];

        if (tscf->circuit
            && ngx_astro_circuit_is_open(&ps->circuit, ngx_current_msec))
        {
            continue;
        }

        *live = 1;

        if (peer->max_conns == 0) {
            return NGX_HTTP_ASTRO_TIER_QUEUE_ANY;
        }

        if (peer->conns < peer->max_conns) {
            room += peer->max_conns - peer->conns;
        }
    }

    return room;
}


/*
 * A place among the tier's room: shared by the workers when the block
 * has a zone (its connection counts are shared too), else the worker's
 * own; counted in the zone in both cases, in the worker's slot only.
 *
 * With a zone, the room is read and the place taken under the peers'
 * read lock: the balancer turns a place into a connection (conns + 1,
 * reserved - 1) under the write lock, so that no other worker's room is
 * read before that connection and its place counted after it is given
 * back, which admits one request too many (a 502, "no live upstreams").
 * The places taken (the slots' sum) are read and one taken under the
 * zone's mutex, so that no two workers take the last one; taking it is
 * one store in the slot, so that a worker killed at any point has taken
 * it (and its successor gives it back) or not: a total kept beside the
 * slots stayed one too high for good when a worker was killed between
 * the two (t/053).
 */

static ngx_uint_t
ngx_http_astro_tier_queue_reserve(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_uint_t tier)
{
    ngx_uint_t                     room, shared, fits;
    ngx_http_astro_tier_slot_t    *slot;
    ngx_http_upstream_rr_peers_t  *peers;

    slot = &tscf->sh->slots[ngx_process_slot];
    peers = tscf->upstream->peer.data;
    shared = 0;

#if (NGX_HTTP_UPSTREAM_ZONE)
    shared = (peers->shpool != NULL);
#endif

    if (shared) {
        ngx_http_upstream_rr_peers_rlock(peers);

        if (peers->next) {
            ngx_http_upstream_rr_peers_rlock(peers->next);
        }

        room = ngx_http_astro_tier_queue_room(tscf, tier);

        ngx_shmtx_lock(&tscf->shpool->mutex);

        fits = (room == NGX_HTTP_ASTRO_TIER_QUEUE_ANY
                || ngx_http_astro_tier_places(tscf->shpool, tscf->sh, NULL)
                   < room);

        if (fits) {
            slot->reserved++;
        }

        ngx_shmtx_unlock(&tscf->shpool->mutex);

        if (peers->next) {
            ngx_http_upstream_rr_peers_unlock(peers->next);
        }

        ngx_http_upstream_rr_peers_unlock(peers);

        if (!fits) {

            /* places a killed worker held? */

            if (ngx_current_msec - tscf->swept
                >= NGX_HTTP_ASTRO_TIER_QUEUE_SWEEP)
            {
                tscf->swept = ngx_current_msec;
                (void) ngx_http_astro_tier_sweep(tscf->shpool,
                                                 ngx_cycle->log);
            }

            return 0;
        }

    } else {
        room = ngx_http_astro_tier_queue_room(tscf, tier);

        if (room != NGX_HTTP_ASTRO_TIER_QUEUE_ANY && tscf->reserved >= room) {
            return 0;
        }

        slot->reserved++;
    }

    tscf->reserved++;

    return 1;
}


static void
ngx_http_astro_tier_queue_release(ngx_http_astro_tier_srv_conf_t *tscf)
{
    ngx_http_astro_tier_slot_t  *slot;

    tscf->reserved--;

    /* no wrap should the slot have been given back while the worker lives */

    slot = &tscf->sh->slots[ngx_process_slot];

    if (slot->reserved) {
        slot->reserved--;
    }
}


/* waiters of this tier or of a higher one come first */

static ngx_uint_t
ngx_http_astro_tier_queue_ahead(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_uint_t tier)
{
    ngx_uint_t  i, t;

    if (tscf->nwaiting == 0) {
        return 0;
    }

    for (i = 0; i < tscf->ntiers; i++) {
        t = tscf->by_priority[i];

        if (!ngx_queue_empty(&tscf->waiting[t])) {
            return 1;
        }

        if (t == tier) {
            break;
        }
    }

    return 0;
}


static void
ngx_http_astro_tier_queue_admit(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_ctx_t *ctx)
{
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ctx->wait->timer.log, 0,
                   "astro_queue: upstream \"%V\": tier \"%V\" admitted "
                   "after %Mms", &tscf->upstream->host,
                   &tscf->tiers[ctx->tier].name,
                   ngx_current_msec - ctx->wait->since);

    ngx_http_astro_tier_queue_remove(tscf, ctx);

    ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED;

    ngx_post_event(&ctx->wait->wake, &ngx_posted_events);
}


static void
ngx_http_astro_tier_queue_remove(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_ctx_t *ctx)
{
    ngx_queue_remove(&ctx->wait->queue);
    tscf->nwaiting--;
    ngx_http_astro_health_release(ctx->wait->wake.data);

    if (tscf->sh->slots[ngx_process_slot].waiting) {
        tscf->sh->slots[ngx_process_slot].waiting--;
    }

    ngx_atomic_fetch_add(&tscf->sh->q_wait_ms,
                         (ngx_atomic_int_t) (ngx_current_msec
                                             - ctx->wait->since));

    if (ctx->wait->timer.timer_set) {
        ngx_del_timer(&ctx->wait->timer);
    }

    if (tscf->nwaiting == 0 && tscf->poll.timer_set) {
        ngx_del_timer(&tscf->poll);
    }
}


static void
ngx_http_astro_tier_queue_timeout(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_http_astro_tier_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_tier_upstream_module);

    if (ctx == NULL || ctx->qstate != NGX_HTTP_ASTRO_TIER_QUEUE_WAITING) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "astro_queue: upstream \"%V\": a request of tier \"%V\" "
                  "waited %Mms for a server, 503",
                  &ctx->qscf->upstream->host,
                  &ctx->qscf->tiers[ctx->tier].name,
                  ctx->qscf->queue->timeout);

    ngx_http_astro_tier_queue_remove(ctx->qscf, ctx);

    ngx_atomic_fetch_add(&ctx->qscf->sh->q_timeouts, 1);
    ngx_atomic_fetch_add(&ctx->qscf->sh->refused[ctx->tier], 1);

    ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_REFUSED;
    ngx_http_astro_health_refused(r, NGX_ASTRO_REFUSED_QUEUE);

    ngx_astro_http_resume(&ctx->wait->wake);
}


static void
ngx_http_astro_tier_queue_poll(ngx_event_t *ev)
{
    ngx_http_astro_tier_srv_conf_t *tscf = ev->data;

    ngx_http_astro_tier_queue_kick(tscf);

    if (tscf->nwaiting && !tscf->poll.timer_set) {
        ngx_add_timer(&tscf->poll, NGX_HTTP_ASTRO_TIER_QUEUE_POLL);
    }
}


/* the request ends: out of the queue, its place given back */

static void
ngx_http_astro_tier_queue_cleanup(void *data)
{
    ngx_http_astro_tier_ctx_t *ctx = data;

    ngx_http_astro_tier_srv_conf_t  *tscf;

    tscf = ctx->qscf;

    if (ctx->wait && ctx->wait->wake.posted) {
        ngx_delete_posted_event(&ctx->wait->wake);
    }

    switch (ctx->qstate) {

    case NGX_HTTP_ASTRO_TIER_QUEUE_WAITING:
        ngx_http_astro_tier_queue_remove(tscf, ctx);
        break;

    case NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED:
        ngx_http_astro_tier_queue_release(tscf);
        ngx_http_astro_tier_queue_kick(tscf);
        break;

    default:
        break;
    }

    ctx->qstate = NGX_HTTP_ASTRO_TIER_QUEUE_DONE;

    if (ctx->wait && ctx->wait->timer.timer_set) {
        ngx_del_timer(&ctx->wait->timer);
    }
}


#if (NGX_DEBUG)

/* where a waiter of the tier that came last stands in its worker's queue */

static ngx_uint_t
ngx_http_astro_tier_queue_position(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_uint_t tier)
{
    ngx_uint_t    i, t, n;
    ngx_queue_t  *q;

    n = 0;

    for (i = 0; i < tscf->ntiers; i++) {
        t = tscf->by_priority[i];

        for (q = ngx_queue_head(&tscf->waiting[t]);
             q != ngx_queue_sentinel(&tscf->waiting[t]);
             q = ngx_queue_next(q))
        {
            n++;
        }

        if (t == tier) {
            break;
        }
    }

    return n;
}

#endif
