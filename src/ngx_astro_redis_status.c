
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_redis_internal.h"


/*
 * The client's names of ngx_astro_circuit's states (its status says
 * "probing" where the circuit is half-open), the numbers of Prometheus's
 * gauge.
 */
static const char  *ngx_astro_redis_circuit_names[] = {
    "closed", "open", "probing"
};


static void ngx_astro_redis_json_counts(ngx_astro_out_t *out,
    ngx_astro_redis_t *rd);
static void ngx_astro_redis_json_cluster(ngx_astro_out_t *out,
    ngx_astro_redis_t *rd);
static void ngx_astro_redis_prometheus_cluster(ngx_astro_out_t *out,
    ngx_astro_redis_t *rd, const char *prefix);
static void ngx_astro_redis_node(ngx_astro_redis_t *rd,
    ngx_astro_redis_node_sh_t *node, ngx_astro_redis_t *client);


/*
 * the client's counts and circuit, read from the zone without the lock;
 * the gauges of processes that are gone given back first
 */

void
ngx_astro_redis_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    ngx_astro_out_literal(out, "{\"address\":");
    ngx_astro_out_json_str(out, rd->name.data, rd->name.len);

    if (rd->sh == NULL) {
        ngx_astro_out_literal(out, "}");
        return;
    }

    if (rd->seeds) {
        ngx_astro_redis_json_cluster(out, rd);
        return;
    }

    ngx_astro_redis_json_counts(out, rd);
}


/* a client's (a cluster's master's) counts, circuit, gauges, and "}" */

static void
ngx_astro_redis_json_counts(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    uint64_t               counts[NGX_ASTRO_HIST_N], calls;
    ngx_uint_t             i, state, connections, in_flight;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    ngx_astro_redis_gauges(rd, &connections, &in_flight);

    state = ngx_min(sh->circuit.state, NGX_ASTRO_CIRCUIT_HALF_OPEN);
    calls = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        counts[i] = sh->rtt[i];
        calls += counts[i];
    }

    ngx_astro_out_printf(out,
                         ",\"circuit\":\"%s\",\"consecutive_failures\":%uA,"
                         "\"circuit_opened\":%uA,\"pool\":%ui,"
                         "\"connections\":%ui,\"in_flight\":%ui,"
                         "\"commands\":%uA,\"failed\":%uA,\"skipped\":%uA,"
                         "\"noscript\":%uA,\"errors\":{",
                         ngx_astro_redis_circuit_names[state],
                         sh->fails,
                         (ngx_atomic_uint_t) sh->circuit.opened, rd->pool,
                         connections, in_flight, sh->commands,
                         sh->failed, sh->skipped, sh->noscript);

    for (i = 0; i < NGX_ASTRO_REDIS_ERR_N; i++) {
        ngx_astro_out_printf(out, "%s\"%s\":%uA", i ? "," : "",
                             ngx_astro_redis_error_names[i], sh->errors[i]);
    }

    ngx_astro_out_printf(out,
                         "},\"rtt_us\":{\"mean\":%uA,\"p50\":%.0f,"
                         "\"p99\":%.0f}",
                         calls ? sh->rtt_us / calls : 0,
                         ngx_astro_hist_quantile(counts, 0.5) * 10,
                         ngx_astro_hist_quantile(counts, 0.99) * 10);

    ngx_astro_redis_resolve_json(out, rd);

    ngx_astro_out_literal(out, "}");
}


/*
 * A cluster: its map's counts, the decisions no master took, then each
 * server, master or seed, with the slots the last map read gave it
 */

static void
ngx_astro_redis_json_cluster(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    ngx_uint_t                     i, r, n, slots;
    ngx_astro_redis_t              node;
    ngx_astro_redis_node_sh_t     *ns;
    ngx_astro_redis_cluster_sh_t  *csh;

    csh = rd->sh->cluster;
    n = csh->n;
    slots = 0;

    for (i = 0; i < n; i++) {
        slots += csh->nodes[i].slots;
    }

    ngx_astro_out_printf(out,
                         ",\"cluster\":{\"slots\":%ui,\"maps\":%uA,"
                         "\"map_failed\":%uA,\"moved\":%uA,\"ask\":%uA,"
                         "\"tryagain\":%uA,\"clusterdown\":%uA,"
                         "\"waited\":%uA,\"unmapped\":%uA,"
                         "\"skipped\":%uA},\"masters\":[",
                         slots, csh->maps, csh->map_failed, csh->moved,
                         csh->ask, csh->tryagain, csh->clusterdown,
                         csh->waited, csh->unmapped, rd->sh->skipped);

    for (i = 0; i < n; i++) {
        ns = &csh->nodes[i];
        ngx_astro_redis_node(&node, ns, rd);

        ngx_astro_out_printf(out, "%s{\"address\":", i ? "," : "");
        ngx_astro_out_json_str(out, ns->addr, ns->len);
        ngx_astro_out_printf(out, ",\"slots\":%uD,\"ranges\":[",
                             ns->slots);

        for (r = 0; r < ngx_min(ns->nranges, NGX_ASTRO_REDIS_RANGES); r++) {
            ngx_astro_out_printf(out, "%s[%uD,%uD]", r ? "," : "",
                                 (uint32_t) ns->ranges[r][0],
                                 (uint32_t) ns->ranges[r][1]);
        }

        ngx_astro_out_printf(out, "],\"more_ranges\":%uD",
                             ns->nranges > NGX_ASTRO_REDIS_RANGES
                             ? ns->nranges - NGX_ASTRO_REDIS_RANGES : 0);

        ngx_astro_redis_json_counts(out, &node);
    }

    ngx_astro_out_literal(out, "]}");
}


/* a cluster's server as a client of its own, for its counts and gauges */

static void
ngx_astro_redis_node(ngx_astro_redis_t *rd, ngx_astro_redis_node_sh_t *node,
    ngx_astro_redis_t *client)
{
    *rd = *client;
    rd->seeds = NULL;
    rd->name.data = node->addr;
    rd->name.len = node->len;
    rd->sh = node->sh;
}


void
ngx_astro_redis_prometheus(ngx_astro_out_t *out, ngx_astro_redis_t *rd,
    const char *prefix)
{
    uint64_t               n;
    ngx_uint_t             i, connections, in_flight;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    if (sh == NULL) {
        return;
    }

    if (rd->seeds) {
        ngx_astro_redis_prometheus_cluster(out, rd, prefix);
        return;
    }

    ngx_astro_redis_gauges(rd, &connections, &in_flight);

    ngx_astro_out_printf(out,
        "# HELP %s_redis_circuit Circuit state: 0 closed, 1 open, "
        "2 probing\n# TYPE %s_redis_circuit gauge\n%s_redis_circuit %uA\n"
        "# HELP %s_redis_circuit_opened_total Times the circuit opened\n"
        "# TYPE %s_redis_circuit_opened_total counter\n"
        "%s_redis_circuit_opened_total %uA\n"
        "# HELP %s_redis_connections Connections to Redis, all workers\n"
        "# TYPE %s_redis_connections gauge\n%s_redis_connections %ui\n"
        "# HELP %s_redis_pool Connections per worker, configured\n"
        "# TYPE %s_redis_pool gauge\n%s_redis_pool %ui\n"
        "# HELP %s_redis_in_flight Decisions sent and not answered\n"
        "# TYPE %s_redis_in_flight gauge\n%s_redis_in_flight %ui\n"
        "# HELP %s_redis_commands_total Decisions asked of Redis by outcome\n"
        "# TYPE %s_redis_commands_total counter\n"
        "%s_redis_commands_total{outcome=\"answered\"} %uA\n"
        "%s_redis_commands_total{outcome=\"failed\"} %uA\n"
        "%s_redis_commands_total{outcome=\"skipped\"} %uA\n"
        "# HELP %s_redis_noscript_total Decisions sent again after NOSCRIPT\n"
        "# TYPE %s_redis_noscript_total counter\n"
        "%s_redis_noscript_total %uA\n"
        "# HELP %s_redis_errors_total Redis errors by kind\n"
        "# TYPE %s_redis_errors_total counter\n",
        prefix, prefix, prefix, (ngx_atomic_uint_t) sh->circuit.state,
        prefix, prefix, prefix, (ngx_atomic_uint_t) sh->circuit.opened,
        prefix, prefix, prefix, connections,
        prefix, prefix, prefix, rd->pool,
        prefix, prefix, prefix, in_flight,
        prefix, prefix,
        prefix, sh->commands, prefix, sh->failed, prefix, sh->skipped,
        prefix, prefix, prefix, sh->noscript,
        prefix, prefix);

    for (i = 0; i < NGX_ASTRO_REDIS_ERR_N; i++) {
        ngx_astro_out_printf(out, "%s_redis_errors_total{kind=\"%s\"} %uA\n",
                             prefix, ngx_astro_redis_error_names[i],
                             sh->errors[i]);
    }

    ngx_astro_out_printf(out,
        "# HELP %s_redis_rtt_seconds Round trip of the script calls\n"
        "# TYPE %s_redis_rtt_seconds histogram\n", prefix, prefix);

    n = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N - 1; i++) {
        n += sh->rtt[i];
        ngx_astro_out_printf(out,
                             "%s_redis_rtt_seconds_bucket{le=\"%.5f\"} %uL\n",
                             prefix, ngx_astro_hist_bounds[i] / 1e5, n);
    }

    n += sh->rtt[i];

    ngx_astro_out_printf(out,
                         "%s_redis_rtt_seconds_bucket{le=\"+Inf\"} %uL\n"
                         "%s_redis_rtt_seconds_sum %.6f\n"
                         "%s_redis_rtt_seconds_count %uL\n",
                         prefix, n, prefix, sh->rtt_us / 1e6, prefix, n);

    ngx_astro_redis_resolve_prometheus(out, rd, prefix);
}


/*
 * A cluster's: its counts, and each server's slots, circuit, pool and
 * connections and decisions, labelled with its address
 */

static void
ngx_astro_redis_prometheus_cluster(ngx_astro_out_t *out,
    ngx_astro_redis_t *rd, const char *prefix)
{
    ngx_uint_t                     i, k, connections, in_flight;
    ngx_atomic_uint_t              counts[8];
    ngx_astro_redis_t              node;
    ngx_astro_redis_sh_t          *sh;
    ngx_astro_redis_node_sh_t     *ns;
    ngx_astro_redis_cluster_sh_t  *csh;

    static const char  *events[] = {
        "map", "map_failed", "moved", "ask", "tryagain", "clusterdown",
        "waited", "unmapped"
    };

    static const char  *gauges[] = {
        "slots", "Slots of the master in the last map read",
        "circuit", "Circuit state: 0 closed, 1 open, 2 probing",
        "pool", "Connections per worker, configured",
        "connections", "Connections to the master, all workers",
        "in_flight", "Decisions sent and not answered"
    };

    csh = rd->sh->cluster;

    counts[0] = csh->maps;
    counts[1] = csh->map_failed;
    counts[2] = csh->moved;
    counts[3] = csh->ask;
    counts[4] = csh->tryagain;
    counts[5] = csh->clusterdown;
    counts[6] = csh->waited;
    counts[7] = csh->unmapped;

    ngx_astro_out_printf(out,
        "# HELP %s_redis_cluster_events_total Slot maps read, redirections "
        "and refusals of the cluster\n"
        "# TYPE %s_redis_cluster_events_total counter\n", prefix, prefix);

    for (i = 0; i < 8; i++) {
        ngx_astro_out_printf(out,
                             "%s_redis_cluster_events_total{event=\"%s\"} "
                             "%uA\n", prefix, events[i], counts[i]);
    }

    for (k = 0; k < 5; k++) {
        ngx_astro_out_printf(out,
                             "# HELP %s_redis_master_%s %s\n"
                             "# TYPE %s_redis_master_%s gauge\n",
                             prefix, gauges[2 * k], gauges[2 * k + 1],
                             prefix, gauges[2 * k]);

        for (i = 0; i < csh->n; i++) {
            ns = &csh->nodes[i];
            ngx_astro_redis_node(&node, ns, rd);
            ngx_astro_redis_gauges(&node, &connections, &in_flight);

            ngx_astro_out_printf(out, "%s_redis_master_%s{address=", prefix,
                                 gauges[2 * k]);
            ngx_astro_out_prom_str(out, ns->addr, ns->len);
            ngx_astro_out_printf(out, "} %ui\n",
                                 k == 0 ? (ngx_uint_t) ns->slots
                                 : k == 1 ? (ngx_uint_t)
                                            ns->sh->circuit.state
                                 : k == 2 ? rd->pool
                                 : k == 3 ? connections : in_flight);
        }
    }

    ngx_astro_out_printf(out,
        "# HELP %s_redis_master_commands_total Decisions asked of the "
        "master by outcome\n"
        "# TYPE %s_redis_master_commands_total counter\n", prefix, prefix);

    for (i = 0; i < csh->n; i++) {
        ns = &csh->nodes[i];
        sh = ns->sh;

        for (k = 0; k < 3; k++) {
            ngx_astro_out_printf(out, "%s_redis_master_commands_total"
                                 "{address=", prefix);
            ngx_astro_out_prom_str(out, ns->addr, ns->len);
            ngx_astro_out_printf(out, ",outcome=\"%s\"} %uA\n",
                                 k == 0 ? "answered"
                                 : k == 1 ? "failed" : "skipped",
                                 k == 0 ? sh->commands
                                 : k == 1 ? sh->failed : sh->skipped);
        }
    }
}
