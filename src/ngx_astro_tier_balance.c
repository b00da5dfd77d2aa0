
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"
#include "ngx_astro_health_api.h"


/*
 * The balancer: nginx's round robin builds the peers (with zone,
 * keepalive, weight, max_conns, max_fails, backup and down as usual) and
 * releases them (ngx_http_upstream_free_round_robin_peer()); this file
 * chooses.  A request may use the servers of its tier's group, then
 * those of the tiers it falls back to, in order, then the backup
 * servers; within a group the strategy picks among the servers that are
 * up, not full, not tried yet and whose circuit lets it through.
 */


typedef struct {
    /* first: nginx's round robin releases the peer with it */
    ngx_http_upstream_rr_peer_data_t    rrp;

    ngx_http_request_t                 *request;
    ngx_http_astro_tier_srv_conf_t     *tscf;
    ngx_uint_t                          tier;
    ngx_uint_t                          index;   /* the peer's, in sh */
    ngx_http_upstream_rr_peer_t       **cand;
    ngx_uint_t                         *cand_index;
    unsigned                            picked:1;
    unsigned                            probe:1;
    unsigned                            refused:1;
    unsigned                            fallback:1;
    unsigned                            backup:1;
    unsigned                            full:1;
} ngx_http_astro_tier_peer_data_t;


static void ngx_http_astro_tier_visit(ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_route_t *route,
    ngx_uint_t t);
static ngx_int_t ngx_http_astro_tier_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_astro_tier_get_peer(ngx_peer_connection_t *pc,
    void *data);
static ngx_http_upstream_rr_peer_t *ngx_http_astro_tier_pick(
    ngx_http_astro_tier_peer_data_t *pd, ngx_uint_t strategy,
    uintptr_t *mask);
static ngx_uint_t ngx_http_astro_tier_usable(
    ngx_http_astro_tier_peer_data_t *pd, ngx_http_upstream_rr_peer_t *peer,
    ngx_uint_t n, ngx_uint_t index, time_t now);
static ngx_uint_t ngx_http_astro_tier_choose(
    ngx_http_astro_tier_peer_data_t *pd, ngx_uint_t strategy, ngx_uint_t n);
static void ngx_http_astro_tier_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);


ngx_int_t
ngx_http_astro_tier_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_astro_tier_srv_conf_t  *tscf;

    if (ngx_http_upstream_init_round_robin(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    tscf = ngx_http_conf_upstream_srv_conf(us, ngx_astro_tier_upstream_module);
    tscf->upstream = us;

    us->peer.init = ngx_http_astro_tier_init_peer;

    return NGX_OK;
}


/*
 * At the end of the configuration (the tiers are known then): the servers
 * of each tier's group, as a bitmap of the primary peers (a server line
 * may have several addresses), and each tier's route: its group, then,
 * depth first, the tiers it falls back to (astro_tier_fallback, else the
 * next lower tier, then the next higher one).
 */

ngx_int_t
ngx_http_astro_tier_init_routes(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf)
{
    size_t                          words;
    ngx_int_t                       t;
    ngx_uint_t                      i, j, k, p, n, ntiers, *first, *number;
    ngx_http_astro_tier_t          *tier;
    ngx_http_upstream_server_t     *server;
    ngx_http_astro_tier_line_t     *line;
    ngx_http_upstream_rr_peers_t   *peers;
    ngx_http_upstream_srv_conf_t   *us;

    us = tscf->upstream;
    peers = us->peer.data;
    ntiers = tmcf->tiers.nelts;
    tier = tmcf->tiers.elts;

    tscf->ntiers = ntiers;

    tscf->npeers = peers->number;
    tscf->nbackup = peers->next ? peers->next->number : 0;

    tscf->peers = ngx_pcalloc(cf->pool,
                              (tscf->npeers + tscf->nbackup)
                              * sizeof(ngx_http_astro_tier_peer_sh_t *));
    tscf->route_peers = ngx_pcalloc(cf->pool,
                                    2 * ntiers * sizeof(ngx_uint_t));

    n = ngx_max(tscf->npeers, tscf->nbackup);

    tscf->cand = ngx_palloc(cf->pool,
                            n * sizeof(ngx_http_upstream_rr_peer_t *));
    tscf->cand_index = ngx_palloc(cf->pool, n * sizeof(ngx_uint_t));

    if (tscf->peers == NULL || tscf->route_peers == NULL
        || tscf->cand == NULL || tscf->cand_index == NULL)
    {
        return NGX_ERROR;
    }

    tscf->top = 0;

    for (i = 1; i < ntiers; i++) {
        if (tier[i].priority > tier[tscf->top].priority) {
            tscf->top = i;
        }
    }

    /* the first primary peer of each server line */

    server = us->servers->elts;

    first = ngx_palloc(cf->pool, (us->servers->nelts + 1) * sizeof(ngx_uint_t));
    if (first == NULL) {
        return NGX_ERROR;
    }

    p = 0;

    for (i = 0; i < us->servers->nelts; i++) {
        first[i] = p;

        if (!server[i].backup) {
            p += server[i].naddrs;
        }
    }

    words = ngx_http_astro_bit_words(tscf->npeers);

    tscf->groups_mask = ngx_pcalloc(cf->pool, ntiers * sizeof(uintptr_t *));
    if (tscf->groups_mask == NULL) {
        return NGX_ERROR;
    }

    line = tscf->groups.elts;

    for (t = 0; t < (ngx_int_t) ntiers; t++) {
        tscf->groups_mask[t] = ngx_pcalloc(cf->pool,
                                           words * sizeof(uintptr_t));
        if (tscf->groups_mask[t] == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < tscf->groups.nelts; i++) {
            if (ngx_http_astro_tier_index(tmcf, &line[i].tier) == t) {
                break;
            }
        }

        if (i == tscf->groups.nelts) {
            /* a tier without a group: every primary server */

            for (p = 0; p < tscf->npeers; p++) {
                ngx_http_astro_bit_set(tscf->groups_mask[t], p);
            }

            continue;
        }

        number = line[i].list.elts;

        for (j = 0; j < line[i].list.nelts; j++) {
            k = number[j] - 1;

            if (server[k].backup) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "astro_tier_group: server %ui of upstream "
                              "\"%V\" is a backup server in %s:%ui",
                              number[j], &us->host, line[i].file_name,
                              line[i].line);
                return NGX_ERROR;
            }

            for (p = first[k]; p < first[k] + server[k].naddrs; p++) {
                ngx_http_astro_bit_set(tscf->groups_mask[t], p);
            }
        }
    }

    tscf->routes = ngx_pcalloc(cf->pool,
                               ntiers * sizeof(ngx_http_astro_tier_route_t));
    if (tscf->routes == NULL) {
        return NGX_ERROR;
    }

    for (t = 0; t < (ngx_int_t) ntiers; t++) {
        tscf->routes[t].tiers = ngx_palloc(cf->pool,
                                           ntiers * sizeof(ngx_uint_t));
        if (tscf->routes[t].tiers == NULL) {
            return NGX_ERROR;
        }

        ngx_http_astro_tier_visit(tmcf, tscf, &tscf->routes[t], t);

        /*
         * the servers a request of the tier may try (nginx's tries): those
         * of its route, and of its own group alone (adaptive, critical)
         */

        for (p = 0; p < tscf->npeers; p++) {
            for (i = 0; i < tscf->routes[t].n; i++) {
                if (ngx_http_astro_bit_test(
                        tscf->groups_mask[tscf->routes[t].tiers[i]], p))
                {
                    if (i == 0) {
                        tscf->route_peers[ntiers + t]++;
                    }

                    tscf->route_peers[t]++;
                    break;
                }
            }
        }
    }

    return NGX_OK;
}


static void
ngx_http_astro_tier_visit(ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_route_t *route,
    ngx_uint_t t)
{
    ngx_int_t                    next[2];
    ngx_str_t                   *name;
    ngx_uint_t                   i, j, n;
    ngx_http_astro_tier_t       *tier;
    ngx_http_astro_tier_line_t  *line;

    for (i = 0; i < route->n; i++) {
        if (route->tiers[i] == t) {
            return;
        }
    }

    route->tiers[route->n++] = t;

    line = tscf->fallbacks.elts;

    for (i = 0; i < tscf->fallbacks.nelts; i++) {
        if (ngx_http_astro_tier_index(tmcf, &line[i].tier) != (ngx_int_t) t) {
            continue;
        }

        name = line[i].list.elts;

        for (j = 0; j < line[i].list.nelts; j++) {
            ngx_http_astro_tier_visit(tmcf, tscf, route,
                                  ngx_http_astro_tier_index(tmcf, &name[j]));
        }

        return;
    }

    /* by default: the next lower tier, then the next higher */

    tier = tmcf->tiers.elts;
    next[0] = -1;
    next[1] = -1;

    for (n = 0; n < tmcf->tiers.nelts; n++) {
        if (tier[n].priority < tier[t].priority
            && (next[0] == -1 || tier[n].priority > tier[next[0]].priority))
        {
            next[0] = n;
        }

        if (tier[n].priority > tier[t].priority
            && (next[1] == -1 || tier[n].priority < tier[next[1]].priority))
        {
            next[1] = n;
        }
    }

    for (i = 0; i < 2; i++) {
        if (next[i] != -1) {
            ngx_http_astro_tier_visit(tmcf, tscf, route, next[i]);
        }
    }
}


static ngx_int_t
ngx_http_astro_tier_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                        n;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_astro_tier_srv_conf_t   *tscf;
    ngx_http_astro_tier_peer_data_t  *pd;

    tscf = ngx_http_conf_upstream_srv_conf(us, ngx_astro_tier_upstream_module);

    pd = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_tier_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    r->upstream->peer.data = &pd->rrp;

    if (ngx_http_upstream_init_round_robin_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the worker's scratch arrays: a choice is made in one go */

    pd->cand = tscf->cand;
    pd->cand_index = tscf->cand_index;

    ctx = ngx_http_astro_tier_get(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    pd->request = r;
    pd->tscf = tscf;
    pd->tier = ctx->tier;

    /* no more tries than the servers the tier may use */

    n = tscf->route_peers[pd->tier] + tscf->nbackup;

    if (tscf->strategy == NGX_HTTP_ASTRO_TIER_ADAPTIVE
        && pd->tier != tscf->top
        && ngx_http_astro_health_current(r) == NGX_ASTRO_CRITICAL)
    {
        n = tscf->route_peers[tscf->ntiers + pd->tier] + tscf->nbackup;
    }

    if (n && r->upstream->peer.tries > n) {
        r->upstream->peer.tries = n;
    }

    if (tscf->sh) {
        ngx_atomic_fetch_add(&tscf->sh->requests[pd->tier], 1);
    }

    r->upstream->peer.get = ngx_http_astro_tier_get_peer;
    r->upstream->peer.free = ngx_http_astro_tier_free_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_tier_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_astro_tier_peer_data_t  *pd = data;

    ngx_uint_t                        i, strategy, nroute, health;
    ngx_http_astro_tier_route_t      *route;
    ngx_http_upstream_rr_peer_t      *peer;
    ngx_http_upstream_rr_peers_t     *peers;
    ngx_http_astro_tier_srv_conf_t   *tscf;
    ngx_http_upstream_rr_peer_data_t *rrp;

    tscf = pd->tscf;
    rrp = &pd->rrp;

    pc->cached = 0;
    pc->connection = NULL;

    strategy = tscf->strategy;
    route = &tscf->routes[pd->tier];
    nroute = route->n;

    if (strategy == NGX_HTTP_ASTRO_TIER_ADAPTIVE) {
        health = ngx_http_astro_health_current(pd->request);

        strategy = (health == NGX_ASTRO_HEALTHY)
                   ? NGX_HTTP_ASTRO_TIER_ROUND_ROBIN
                   : NGX_HTTP_ASTRO_TIER_RESPONSE_TIME;

        /* critical: below the top tier, a tier keeps to its own group */

        if (health == NGX_ASTRO_CRITICAL && pd->tier != tscf->top) {
            nroute = 1;
        }
    }

    peers = rrp->peers;
    peer = NULL;

    ngx_http_upstream_rr_peers_wlock(peers);

    if (!pd->backup) {
        for (i = 0; i < nroute; i++) {
            pd->full = 0;

            peer = ngx_http_astro_tier_pick(pd, strategy,
                                           tscf->groups_mask[route->tiers[i]]);

            /* a group with live servers that are full is not fallen from */

            if (peer == NULL && pd->full) {
                break;
            }

            if (peer) {
                if (i > 0 && tscf->sh && !pd->fallback) {
                    pd->fallback = 1;
                    ngx_atomic_fetch_add(&tscf->sh->fallbacks[pd->tier], 1);
                }

                break;
            }
        }
    }

    if (peer == NULL && peers->next && tscf->nbackup) {

        /* the backup servers: from now on this request's peers */

        if (!pd->backup) {
            ngx_http_upstream_rr_peers_unlock(peers);

            pd->backup = 1;
            rrp->peers = peers->next;
            peers = rrp->peers;

            for (i = 0; i < ngx_http_astro_bit_words(peers->number); i++) {
                rrp->tried[i] = 0;
            }

            ngx_http_upstream_rr_peers_wlock(peers);
        }

        peer = ngx_http_astro_tier_pick(pd, NGX_HTTP_ASTRO_TIER_ROUND_ROBIN,
                                        NULL);
    }

    if (peer == NULL) {
        ngx_http_upstream_rr_peers_unlock(peers);

        if (tscf->sh && !pd->refused) {
            pd->refused = 1;
            ngx_atomic_fetch_add(&tscf->sh->refused[pd->tier], 1);
        }

        pc->name = peers->name;

        return NGX_BUSY;
    }

    rrp->current = peer;

    if (peer->max_fails
        && ngx_time() - peer->checked > peer->fail_timeout)
    {
        peer->checked = ngx_time();
    }

    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    peer->conns++;

    ngx_http_upstream_rr_peers_unlock(peers);

    pd->picked = 1;

    if (tscf->queue) {
        ngx_http_astro_tier_queue_got_peer(pd->request, tscf);
    }

    if (tscf->sh) {
        ngx_atomic_fetch_add(&tscf->peers[pd->index]->requests, 1);
        ngx_atomic_fetch_add(&tscf->peers[pd->index]->active, 1);
    }

    return NGX_OK;
}


/*
 * The usable servers of a group (mask NULL: every server of the list, the
 * backup ones), then the strategy's choice among them.
 */

static ngx_http_upstream_rr_peer_t *
ngx_http_astro_tier_pick(ngx_http_astro_tier_peer_data_t *pd,
    ngx_uint_t strategy, uintptr_t *mask)
{
    time_t                           now;
    ngx_uint_t                       i, n, c, probe, base;
    ngx_http_upstream_rr_peer_t     *peer;
    ngx_http_astro_tier_srv_conf_t  *tscf;

    tscf = pd->tscf;
    now = ngx_time();
    base = pd->backup ? tscf->npeers : 0;

    for ( ;; ) {
        n = 0;

        for (peer = pd->rrp.peers->peer, i = 0;
             peer;
             peer = peer->next, i++)
        {
            if (mask && !ngx_http_astro_bit_test(mask, i)) {
                continue;
            }

            n = ngx_http_astro_tier_usable(pd, peer, n, i, now);
        }

        if (n == 0) {
            return NULL;
        }

        c = ngx_http_astro_tier_choose(pd, strategy, n);
        peer = pd->cand[c];
        i = pd->cand_index[c];

        ngx_http_astro_bit_set(pd->rrp.tried, i);

        /* a half-open circuit lets a few requests through: one more? */

        probe = 0;

        if (tscf->circuit && tscf->sh
            && !ngx_http_astro_tier_circuit_allows(tscf,
                                                   tscf->peers[base + i],
                                                   &probe))
        {
            /* another request took the last probe: look again without it */
            continue;
        }

        pd->probe = probe;
        pd->index = base + i;

        return peer;
    }
}


/* adds the peer to the candidates when it may be used now */

static ngx_uint_t
ngx_http_astro_tier_usable(ngx_http_astro_tier_peer_data_t *pd,
    ngx_http_upstream_rr_peer_t *peer, ngx_uint_t n, ngx_uint_t index,
    time_t now)
{
    ngx_http_astro_tier_srv_conf_t  *tscf;
    ngx_http_astro_tier_peer_sh_t   *ps;

    if (ngx_http_astro_bit_test(pd->rrp.tried, index)) {
        return n;
    }

    if (peer->down) {
        return n;
    }

    if (peer->max_fails
        && peer->fails >= peer->max_fails
        && now - peer->checked <= peer->fail_timeout)
    {
        return n;
    }

    tscf = pd->tscf;

    if (tscf->circuit && tscf->sh) {
        ps = tscf->peers[pd->backup ? tscf->npeers + index : index];

        if (ps->state != NGX_HTTP_ASTRO_CIRCUIT_CLOSED
            && !(ps->state == NGX_HTTP_ASTRO_CIRCUIT_OPEN
                 && (ngx_msec_int_t) (ngx_current_msec - ps->until) >= 0)
            && !(ps->state == NGX_HTTP_ASTRO_CIRCUIT_HALF_OPEN
                 && (ps->probes < tscf->circuit->probes
                     || (ngx_msec_int_t) (ngx_current_msec - ps->probe_at)
                        >= (ngx_msec_int_t) ps->open_for)))
        {
            return n;
        }
    }

    /* live, but full: the request does not fall back to other groups */

    if (peer->max_conns && peer->conns >= peer->max_conns) {
        pd->full = 1;
        return n;
    }

    pd->cand[n] = peer;
    pd->cand_index[n] = index;

    return n + 1;
}


/*
 * The strategies, over the n candidates: smooth weighted round robin
 * (nginx's), least connections (ties by round robin), response time (the
 * better of two chosen at random, by EWMA of the response header time
 * and the connections in flight, as Envoy's least_request and nginx's
 * least_time), or a hash of the client's address.
 */

static ngx_uint_t
ngx_http_astro_tier_choose(ngx_http_astro_tier_peer_data_t *pd,
    ngx_uint_t strategy, ngx_uint_t n)
{
    u_char                         *p;
    uint64_t                        sa, sb;
    uint32_t                        hash, hbest;
    ngx_int_t                       total;
    ngx_uint_t                      i, best, a, b, len, ties;
    struct sockaddr_in             *sin;
    ngx_http_upstream_rr_peer_t    *peer, *bp;
    ngx_http_astro_tier_peer_sh_t **pp;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6            *sin6;
#endif

    if (n == 1) {
        return 0;
    }

    switch (strategy) {

    case NGX_HTTP_ASTRO_TIER_LEAST_CONN:

        best = 0;
        ties = 1;

        for (i = 1; i < n; i++) {
            peer = pd->cand[i];
            bp = pd->cand[best];

            if (peer->conns * bp->weight < bp->conns * peer->weight) {
                best = i;
                ties = 1;

            } else if (peer->conns * bp->weight == bp->conns * peer->weight) {
                ties++;
            }
        }

        if (ties == 1) {
            return best;
        }

        /* the ties, by round robin */

        bp = pd->cand[best];
        a = 0;

        for (i = 0; i < n; i++) {
            peer = pd->cand[i];

            if (peer->conns * bp->weight == bp->conns * peer->weight) {
                pd->cand[a] = peer;
                pd->cand_index[a] = pd->cand_index[i];
                a++;
            }
        }

        n = a;
        break;

    case NGX_HTTP_ASTRO_TIER_RESPONSE_TIME:

        if (pd->tscf->sh == NULL) {
            break;
        }

        /*
         * two choices: round robin's and one at random; the round robin
         * one unless the other is better, so that servers alike are used
         * in turn (as evenly as round robin, which keeps keepalive
         * connections warm) and a slow or loaded one is avoided
         */

        a = ngx_http_astro_tier_choose(pd, NGX_HTTP_ASTRO_TIER_ROUND_ROBIN, n);
        b = ngx_random() % (n - 1);

        if (b >= a) {
            b++;
        }

        pp = pd->tscf->peers + (pd->backup ? pd->tscf->npeers : 0);

        /* (ewma + 1ms) * (conns + 1) / weight, the lower the better */

        sa = (pp[pd->cand_index[a]]->ewma + 1000)
             * (pd->cand[a]->conns + 1) * pd->cand[b]->weight;
        sb = (pp[pd->cand_index[b]]->ewma + 1000)
             * (pd->cand[b]->conns + 1) * pd->cand[a]->weight;

        return (sb < sa) ? b : a;

    case NGX_HTTP_ASTRO_TIER_IP_HASH:

        /* as nginx's ip_hash: the first three bytes of an IPv4 address */

        switch (pd->request->connection->sockaddr->sa_family) {

        case AF_INET:
            sin = (struct sockaddr_in *) pd->request->connection->sockaddr;
            p = (u_char *) &sin->sin_addr.s_addr;
            len = 3;
            break;

#if (NGX_HAVE_INET6)
        case AF_INET6:
            sin6 = (struct sockaddr_in6 *) pd->request->connection->sockaddr;
            p = sin6->sin6_addr.s6_addr;
            len = 16;
            break;
#endif

        default:
            p = NULL;
            len = 0;
        }

        if (len == 0) {
            break;
        }

        /*
         * rendezvous hashing: the server with the highest hash of the
         * client and the server's place; when a server goes away, only
         * its own clients move
         */

        best = 0;
        hbest = 0;

        for (i = 0; i < n; i++) {
            ngx_crc32_init(hash);
            ngx_crc32_update(&hash, p, len);
            ngx_crc32_update(&hash, (u_char *) &pd->cand_index[i],
                             sizeof(ngx_uint_t));
            ngx_crc32_final(hash);

            if (i == 0 || hash > hbest) {
                hbest = hash;
                best = i;
            }
        }

        return best;

    default: /* NGX_HTTP_ASTRO_TIER_ROUND_ROBIN */
        break;
    }

    /* smooth weighted round robin */

    best = 0;
    total = 0;

    for (i = 0; i < n; i++) {
        peer = pd->cand[i];

        peer->current_weight += peer->effective_weight;
        total += peer->effective_weight;

        if (peer->effective_weight < peer->weight) {
            peer->effective_weight++;
        }

        if (peer->current_weight > pd->cand[best]->current_weight) {
            best = i;
        }
    }

    pd->cand[best]->current_weight -= total;

    return best;
}


static void
ngx_http_astro_tier_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_astro_tier_peer_data_t *pd = data;

    ngx_int_t                       failed;
    ngx_msec_t                      t;
    ngx_atomic_uint_t               ewma, sample;
    ngx_http_upstream_t            *u;
    ngx_http_astro_tier_srv_conf_t *tscf;
    ngx_http_astro_tier_peer_sh_t  *ps;

    ngx_http_upstream_free_round_robin_peer(pc, &pd->rrp, state);

    tscf = pd->tscf;

    if (tscf->queue) {
        ngx_http_astro_tier_queue_kick(tscf);
    }

    if (!pd->picked || tscf->sh == NULL) {
        return;
    }

    pd->picked = 0;
    ps = tscf->peers[pd->index];

    ngx_atomic_fetch_add(&ps->active, -1);

    u = pd->request->upstream;

    /*
     * nginx passes the last server's answer on, and then does not count
     * it as a failure even when proxy_next_upstream names its status; a
     * try that ended without an answer and without a failure (the client
     * left) is neither
     */

    failed = (state & NGX_PEER_FAILED) ? 1 : 0;
    t = (ngx_msec_t) -1;

    if (u && u->state) {
        t = u->state->header_time;

        if (!failed && u->conf) {
            switch (u->state->status) {
            case NGX_HTTP_INTERNAL_SERVER_ERROR:
                failed = u->conf->next_upstream & NGX_HTTP_UPSTREAM_FT_HTTP_500;
                break;
            case NGX_HTTP_BAD_GATEWAY:
                failed = u->conf->next_upstream & NGX_HTTP_UPSTREAM_FT_HTTP_502;
                break;
            case NGX_HTTP_SERVICE_UNAVAILABLE:
                failed = u->conf->next_upstream & NGX_HTTP_UPSTREAM_FT_HTTP_503;
                break;
            case NGX_HTTP_GATEWAY_TIME_OUT:
                failed = u->conf->next_upstream & NGX_HTTP_UPSTREAM_FT_HTTP_504;
                break;
            case NGX_HTTP_TOO_MANY_REQUESTS:
                failed = u->conf->next_upstream & NGX_HTTP_UPSTREAM_FT_HTTP_429;
                break;
            }

            failed = failed ? 1 : 0;
        }

        /* a failure's time counts too: a server that hangs is slow */

        if (t == (ngx_msec_t) -1 && failed) {
            t = u->state->response_time;

            if (t == (ngx_msec_t) -1) {
                t = ngx_current_msec - u->start_time;
            }
        }
    }

    if (!failed && t == (ngx_msec_t) -1) {
        failed = NGX_DECLINED;
    }

    if (failed == 1) {
        ngx_atomic_fetch_add(&ps->failures, 1);
    }

    /* the EWMA (1/8) of the time to the response header, in us */

    if (t != (ngx_msec_t) -1) {
        sample = (ngx_atomic_uint_t) t * 1000;
        ewma = ps->ewma;
        ps->ewma = ps->samples ? ewma - ewma / 8 + sample / 8 : sample;
        ps->samples++;
    }

    if (tscf->circuit) {
        ngx_http_astro_tier_circuit_report(tscf, ps, failed, pd->probe);
        pd->probe = 0;
    }
}
