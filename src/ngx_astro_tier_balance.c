
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
#if (NGX_DEBUG)
    ngx_uint_t                          ncand;   /* the last pick's */
    const char                         *how;     /* the choice's */
#endif
    unsigned                            picked:1;
    unsigned                            probe:1;
    unsigned                            refused:1;
    unsigned                            fallback:1;
    unsigned                            backup:1;
    unsigned                            full:1;
    unsigned                            active:1;  /* counted in flight */
} ngx_http_astro_tier_peer_data_t;


/* what only the debug lines read is kept only where they are built */

#if (NGX_DEBUG)
#define ngx_http_astro_tier_ncand(pd, n)  (pd)->ncand = (n)
#define ngx_http_astro_tier_how(pd, s)    (pd)->how = (s)
#else
#define ngx_http_astro_tier_ncand(pd, n)
#define ngx_http_astro_tier_how(pd, s)
#endif


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


ngx_conf_enum_t  ngx_http_astro_tier_strategies[] = {
    { ngx_string("round_robin"), NGX_HTTP_ASTRO_TIER_ROUND_ROBIN },
    { ngx_string("least_conn"), NGX_HTTP_ASTRO_TIER_LEAST_CONN },
    { ngx_string("response_time"), NGX_HTTP_ASTRO_TIER_RESPONSE_TIME },
    { ngx_string("ip_hash"), NGX_HTTP_ASTRO_TIER_IP_HASH },
    { ngx_string("adaptive"), NGX_HTTP_ASTRO_TIER_ADAPTIVE },
    { ngx_null_string, 0 }
};


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

    ctx = ngx_http_astro_tier_identify(r);
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

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_tier_balance: upstream \"%V\", tier \"%V\", "
                   "strategy %V, tries %ui", &us->host,
                   &tscf->tiers[pd->tier].name,
                   &ngx_http_astro_tier_strategies[tscf->strategy].name,
                   r->upstream->peer.tries);

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

    uint16_t                         *active;
    ngx_uint_t                        i, strategy, nroute, health;
    ngx_http_astro_tier_route_t      *route;
    ngx_http_astro_tier_peer_sh_t    *ps;
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

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "astro_tier_balance: adaptive, %s: %V, %s",
                       ngx_astro_health_name(health),
                       &ngx_http_astro_tier_strategies[strategy].name,
                       nroute == 1 ? "its own group only" : "fallbacks too");
    }

    peers = rrp->peers;
    peer = NULL;

    ngx_http_upstream_rr_peers_wlock(peers);

    if (!pd->backup) {
        for (i = 0; i < nroute; i++) {
            pd->full = 0;

            peer = ngx_http_astro_tier_pick(pd, strategy,
                                           tscf->groups_mask[route->tiers[i]]);

            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                           "astro_tier_balance: group of tier \"%V\", "
                           "%ui usable%s",
                           &tscf->tiers[route->tiers[i]].name, pd->ncand,
                           pd->full ? ", some full" : "");

            /* a group with live servers that are full is not fallen from */

            if (peer == NULL && pd->full) {
                break;
            }

            if (peer) {
                if (i > 0) {
                    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                                   "astro_tier_balance: tier \"%V\" falls "
                                   "back to the group of tier \"%V\"",
                                   &tscf->tiers[pd->tier].name,
                                   &tscf->tiers[route->tiers[i]].name);

                    if (tscf->sh && !pd->fallback) {
                        pd->fallback = 1;
                        ngx_atomic_fetch_add(&tscf->sh->fallbacks[pd->tier],
                                             1);
                    }
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

            for (i = 0; i < ngx_http_astro_tier_bit_words(peers->number); i++) {
                rrp->tried[i] = 0;
            }

            ngx_http_upstream_rr_peers_wlock(peers);
        }

        peer = ngx_http_astro_tier_pick(pd, NGX_HTTP_ASTRO_TIER_ROUND_ROBIN,
                                        NULL);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "astro_tier_balance: backup servers, %ui usable",
                       pd->ncand);
    }

    if (peer == NULL) {
        ngx_http_upstream_rr_peers_unlock(peers);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "astro_tier_balance: no server for tier \"%V\"",
                       &tscf->tiers[pd->tier].name);

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

    /*
     * the request's place in the queue becomes its connection under the
     * lock that the queue's room is read under (ngx_astro_tier_queue.c)
     */

    if (tscf->queue) {
        ngx_http_astro_tier_queue_got_peer(pd->request, tscf);
    }

    ngx_http_upstream_rr_peers_unlock(peers);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "astro_tier_balance: peer %V, %s", &peer->name, pd->how);

    pd->picked = 1;

    if (tscf->sh) {
        ps = tscf->peers[pd->index];

        ngx_atomic_fetch_add(&ps->requests, 1);

        /* the process's own count, given back if it is killed */

        active = &ps->active[ngx_process_slot];

        if (*active < 0xffff) {
            (*active)++;
            pd->active = 1;
        }
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
    ngx_log_t                       *log;
    ngx_uint_t                       i, n, c, probe, base;
    ngx_http_upstream_rr_peer_t     *peer;
    ngx_http_astro_tier_srv_conf_t  *tscf;

    tscf = pd->tscf;
    log = pd->request->connection->log;
    now = ngx_time();
    base = pd->backup ? tscf->npeers : 0;

    for ( ;; ) {
        n = 0;
        ngx_http_astro_tier_ncand(pd, 0);

        for (peer = pd->rrp.peers->peer, i = 0;
             peer;
             peer = peer->next, i++)
        {
            if (mask && !ngx_http_astro_tier_bit_test(mask, i)) {
                continue;
            }

            n = ngx_http_astro_tier_usable(pd, peer, n, i, now);
        }

        if (n == 0) {
            return NULL;
        }

        ngx_http_astro_tier_ncand(pd, n);

        c = ngx_http_astro_tier_choose(pd, strategy, n);
        peer = pd->cand[c];
        i = pd->cand_index[c];

        ngx_http_astro_tier_bit_set(pd->rrp.tried, i);

        /* a half-open circuit lets a few requests through: one more? */

        probe = 0;

        if (tscf->circuit && tscf->sh
            && !ngx_http_astro_tier_circuit_allows(tscf,
                                                   tscf->peers[base + i],
                                                   &probe, log))
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

    if (ngx_http_astro_tier_bit_test(pd->rrp.tried, index)) {
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

        if (ngx_astro_circuit_refuses(tscf->circuit, &ps->circuit,
                                      ngx_current_msec))
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pd->request->connection->log,
                           0, "astro_tier_balance: circuit of %V refuses, %s",
                           &peer->name,
                           ngx_astro_circuit_name(ps->circuit.state));
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
        ngx_http_astro_tier_how(pd, "the only candidate");
        return 0;
    }

    switch (strategy) {

    case NGX_HTTP_ASTRO_TIER_LEAST_CONN:

        ngx_http_astro_tier_how(pd, "least connections");

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

        ngx_http_astro_tier_how(pd, "least connections, ties by round robin");

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

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, pd->request->connection->log, 0,
                       "astro_tier_balance: response time: %V %uL, %V %uL",
                       &pd->cand[a]->name, sa, &pd->cand[b]->name, sb);

        ngx_http_astro_tier_how(pd, (sb < sa)
                                    ? "response time, better than round "
                                      "robin's"
                                    : "response time, round robin's");

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

        ngx_http_astro_tier_how(pd, "client address hash");

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

    if (strategy != NGX_HTTP_ASTRO_TIER_LEAST_CONN) {
        ngx_http_astro_tier_how(pd, "round robin");
    }

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

    if (pd->active) {
        pd->active = 0;
        ps->active[ngx_process_slot]--;
    }

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

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "astro_tier_balance: free peer %*s: %s%s",
                   ps->name_len, ps->name,
                   failed == NGX_DECLINED ? "no answer"
                   : failed ? "failed" : "answered",
                   pd->probe ? ", a probe" : "");

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
