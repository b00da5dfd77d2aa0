
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


/*
 * the client's counts and circuit, read from the zone without the lock;
 * the gauges of processes that are gone given back first
 */

void
ngx_astro_redis_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    uint64_t               counts[NGX_ASTRO_HIST_N], calls;
    ngx_uint_t             i, state, connections, in_flight;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    ngx_astro_out_literal(out, "{\"address\":");
    ngx_astro_out_json_str(out, rd->name.data, rd->name.len);

    if (sh == NULL) {
        ngx_astro_out_literal(out, "}");
        return;
    }

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
