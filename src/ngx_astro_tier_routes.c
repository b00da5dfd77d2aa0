
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"


/*
 * Where a tier's requests may go in an upstream: its group of servers
 * (astro_tier_group), then the groups of the tiers it falls back to
 * (astro_tier_fallback), checked and worked out at the end of the
 * configuration, when the upstream's servers and the declared tiers are
 * known.
 */


static ngx_int_t ngx_http_astro_tier_known(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_str_t *name,
    ngx_http_astro_tier_line_t *line);
static ngx_uint_t ngx_http_astro_tier_cycle(
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_array_t *fallbacks,
    ngx_uint_t tier, u_char *state);
static void ngx_http_astro_tier_visit(ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_route_t *route,
    ngx_uint_t t);


/*
 * The checks that need the whole upstream block (its servers come in any
 * order with our directives) and the declared tiers (astro_tiers may come
 * after the block).
 */

ngx_int_t
ngx_http_astro_tier_check_upstream(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_http_upstream_srv_conf_t *uscf,
    ngx_http_astro_tier_srv_conf_t *tscf)
{
    u_char                        state[NGX_HTTP_ASTRO_TIER_MAX];
    ngx_int_t                     n;
    ngx_str_t                    *next;
    ngx_uint_t                    i, j, nservers, *number;
    ngx_http_astro_tier_line_t   *line;

    nservers = uscf->servers ? uscf->servers->nelts : 0;

    line = tscf->groups.elts;

    for (i = 0; i < tscf->groups.nelts; i++) {

        if (ngx_http_astro_tier_known(cf, tmcf, &line[i].tier, &line[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        number = line[i].list.elts;

        for (j = 0; j < line[i].list.nelts; j++) {
            if (number[j] > nservers) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "server number \"%ui\" is outside upstream "
                              "\"%V\" of %ui servers in %s:%ui",
                              number[j], &uscf->host, nservers,
                              line[i].file_name, line[i].line);
                return NGX_ERROR;
            }
        }
    }

    line = tscf->fallbacks.elts;

    for (i = 0; i < tscf->fallbacks.nelts; i++) {

        if (ngx_http_astro_tier_known(cf, tmcf, &line[i].tier, &line[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        next = line[i].list.elts;

        for (j = 0; j < line[i].list.nelts; j++) {
            if (ngx_http_astro_tier_known(cf, tmcf, &next[j], &line[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    ngx_memzero(state, NGX_HTTP_ASTRO_TIER_MAX);

    for (i = 0; i < tscf->fallbacks.nelts; i++) {
        n = ngx_http_astro_tier_index(tmcf, &line[i].tier);

        if (state[n] == 0
            && ngx_http_astro_tier_cycle(tmcf, &tscf->fallbacks, n, state))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "fallback cycle from tier \"%V\" in upstream "
                          "\"%V\" in %s:%ui", &line[i].tier, &uscf->host,
                          line[i].file_name, line[i].line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a tier named on a line of astro_tier_group or astro_tier_fallback */

static ngx_int_t
ngx_http_astro_tier_known(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_str_t *name,
    ngx_http_astro_tier_line_t *line)
{
    if (ngx_http_astro_tier_index(tmcf, name) != NGX_ERROR) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "unknown tier \"%V\" in %s:%ui",
                  name, line->file_name, line->line);

    return NGX_ERROR;
}


/*
 * A fallback list is followed on: when the next tier's group has no live
 * server either, that tier's own astro_tier_fallback applies.  A depth
 * first search: state 1 is on the path, 2 is done.
 */

static ngx_uint_t
ngx_http_astro_tier_cycle(ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_array_t *fallbacks, ngx_uint_t tier, u_char *state)
{
    ngx_int_t                    n;
    ngx_str_t                   *next;
    ngx_uint_t                   i, j;
    ngx_http_astro_tier_line_t  *line;

    state[tier] = 1;

    line = fallbacks->elts;

    for (i = 0; i < fallbacks->nelts; i++) {
        if (ngx_http_astro_tier_index(tmcf, &line[i].tier) != (ngx_int_t) tier)
        {
            continue;
        }

        next = line[i].list.elts;

        for (j = 0; j < line[i].list.nelts; j++) {
            n = ngx_http_astro_tier_index(tmcf, &next[j]);

            if (state[n] == 1) {
                return 1;
            }

            if (state[n] == 0
                && ngx_http_astro_tier_cycle(tmcf, fallbacks, n, state))
            {
                return 1;
            }
        }
    }

    state[tier] = 2;

    return 0;
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
    tscf->tiers = tier;

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

    words = ngx_http_astro_tier_bit_words(tscf->npeers);

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
                ngx_http_astro_tier_bit_set(tscf->groups_mask[t], p);
            }

            continue;
        }

        number = line[i].list.elts;

        for (j = 0; j < line[i].list.nelts; j++) {
            k = number[j] - 1;

            if (server[k].backup) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "server %ui of upstream \"%V\" is a backup "
                              "server in %s:%ui",
                              number[j], &us->host, line[i].file_name,
                              line[i].line);
                return NGX_ERROR;
            }

            for (p = first[k]; p < first[k] + server[k].naddrs; p++) {
                ngx_http_astro_tier_bit_set(tscf->groups_mask[t], p);
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
                if (ngx_http_astro_tier_bit_test(
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

