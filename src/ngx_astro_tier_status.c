
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_status.h"
#include "ngx_astro_tier.h"


static void ngx_http_astro_tier_status_sweep(
    ngx_http_astro_tier_main_conf_t *tmcf);


void
ngx_http_astro_tier_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_tier_main_conf_t *tmcf = data;

    ngx_uint_t                          i, j, reserved, waiting;
    ngx_http_astro_tier_t              *tier;
    ngx_http_upstream_srv_conf_t      **uscf;
    ngx_http_astro_tier_srv_conf_t     *tscf;
    ngx_http_astro_tier_peer_sh_t      *ps;
    ngx_http_astro_tier_upstream_sh_t  *us;

    ngx_http_astro_tier_status_sweep(tmcf);

    ngx_astro_out_literal(out, "{\"tiers\":{");

    tier = tmcf->tiers.elts;

    for (i = 0; i < tmcf->tiers.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, tier[i].name.data, tier[i].name.len);
        ngx_astro_out_printf(out, ":%ui", tier[i].priority);
    }

    ngx_astro_out_literal(out, "},\"upstreams\":{");

    uscf = tmcf->upstreams.elts;

    for (i = 0; i < tmcf->upstreams.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];
        us = tscf->sh;

        ngx_astro_out_json_str(out, uscf[i]->host.data, uscf[i]->host.len);
        ngx_astro_out_printf(out,
                 ":{\"strategy\":\"%V\",\"circuit\":%s,\"servers\":[",
                 &ngx_http_astro_tier_strategies[tscf->strategy].name,
                 tscf->circuit ? "true" : "false");

        for (j = 0; us && j < tscf->npeers + tscf->nbackup; j++) {
            ps = tscf->peers[j];

            if (j) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_astro_out_literal(out, "{\"server\":");
            ngx_astro_out_json_str(out, ps->name, ps->name_len);
            ngx_astro_out_printf(out,
                     ",\"backup\":%s,\"requests\":%uA,\"active\":%ui,"
                     "\"failures\":%uA,\"response_time_ms\":",
                     j >= tscf->npeers ? "true" : "false",
                     ps->requests,
                     ngx_http_astro_tier_active(tmcf->shpool, ps),
                     ps->failures);
            ngx_astro_out_double(out, (double) ps->ewma / 1000);
            ngx_astro_out_printf(out, ",\"circuit\":\"%s\",\"opened\":%uA}",
                     ngx_astro_circuit_name(ps->circuit.state),
                     (ngx_atomic_uint_t) ps->circuit.opened);
        }

        ngx_astro_out_literal(out, "],\"tiers\":{");

        for (j = 0; us && j < tmcf->tiers.nelts; j++) {
            if (j) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_astro_out_json_str(out, tier[j].name.data, tier[j].name.len);
            ngx_astro_out_printf(out,
                     ":{\"requests\":%uA,\"fallbacks\":%uA,\"refused\":%uA}",
                     us->requests[j], us->fallbacks[j], us->refused[j]);
        }

        ngx_astro_out_literal(out, "}");

        if (tscf->queue && us) {
            reserved = ngx_http_astro_tier_places(tmcf->shpool, us,
                                                  &waiting);

            ngx_astro_out_printf(out,
                     ",\"queue\":{\"length\":%ui,\"reserved\":%ui,"
                     "\"waits\":%uA,\"timeouts\":%uA,\"refused\":%uA,"
                     "\"wait_ms\":%uA}",
                     waiting, reserved, us->q_waits,
                     us->q_timeouts, us->q_refused, us->q_wait_ms);
        }

        ngx_astro_out_literal(out, "}");
    }

    ngx_astro_out_literal(out, "}}");
}


void
ngx_http_astro_tier_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_tier_main_conf_t *tmcf = data;

    ngx_uint_t                          i, j, k, reserved, waiting;
    ngx_http_astro_tier_t              *tier;
    ngx_http_upstream_srv_conf_t      **uscf;
    ngx_http_astro_tier_srv_conf_t     *tscf;
    ngx_http_astro_tier_peer_sh_t      *ps;
    ngx_http_astro_tier_upstream_sh_t  *us;

    static const struct {
        const char  *name;
        const char  *type;
        const char  *help;
    } server_metrics[] = {
        { "astro_tier_upstream_server_requests_total", "counter",
          "Requests sent to the server" },
        { "astro_tier_upstream_server_active", "gauge",
          "Requests in flight to the server" },
        { "astro_tier_upstream_server_failures_total", "counter",
          "Failed attempts (as proxy_next_upstream counts them)" },
        { "astro_tier_upstream_server_response_time_seconds", "gauge",
          "EWMA of the time to the response header" },
        { "astro_tier_upstream_server_circuit_state", "gauge",
          "Circuit: 0 closed, 1 open, 2 half-open" },
        { "astro_tier_upstream_server_circuit_opened_total", "counter",
          "Times the circuit opened" }
    };

    static const struct {
        const char  *name;
        const char  *help;
    } tier_metrics[] = {
        { "astro_tier_upstream_tier_requests_total",
          "Requests balanced, by the tier of the client" },
        { "astro_tier_upstream_tier_fallbacks_total",
          "Requests sent to another tier's servers" },
        { "astro_tier_upstream_tier_refused_total",
          "Requests that found no server" }
    };

    static const struct {
        const char  *name;
        const char  *help;
    } queue_metrics[] = {
        { "astro_tier_upstream_queue_length",
          "Requests waiting in the queue, all workers" },
        { "astro_tier_upstream_queue_reserved",
          "Places held by admitted requests until they get a server" },
        { "astro_tier_upstream_queue_waits_total",
          "Requests that waited in the queue" },
        { "astro_tier_upstream_queue_timeouts_total",
          "Requests that waited past the timeout (503)" },
        { "astro_tier_upstream_queue_refused_total",
          "Requests refused at once: the queue full, or critical (503)" },
        { "astro_tier_upstream_queue_wait_seconds_total",
          "Time the requests waited in the queue" }
    };

    ngx_http_astro_tier_status_sweep(tmcf);

    uscf = tmcf->upstreams.elts;
    tier = tmcf->tiers.elts;

    for (k = 0; k < sizeof(server_metrics) / sizeof(server_metrics[0]); k++) {
        ngx_astro_status_prom_head(out, server_metrics[k].name,
                                   server_metrics[k].type,
                                   server_metrics[k].help);

        for (i = 0; i < tmcf->upstreams.nelts; i++) {
            tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];
            us = tscf->sh;

            for (j = 0; us && j < tscf->npeers + tscf->nbackup; j++) {
                ps = tscf->peers[j];

                ngx_astro_out_printf(out, "%s{upstream=",
                                     server_metrics[k].name);
                ngx_astro_out_prom_str(out, uscf[i]->host.data,
                                       uscf[i]->host.len);
                ngx_astro_out_literal(out, ",server=");
                ngx_astro_out_prom_str(out, ps->name, ps->name_len);
                ngx_astro_out_literal(out, "} ");

                switch (k) {
                case 0:
                    ngx_astro_out_printf(out, "%uA\n", ps->requests);
                    break;
                case 1:
                    ngx_astro_out_printf(out, "%ui\n",
                                 ngx_http_astro_tier_active(tmcf->shpool, ps));
                    break;
                case 2:
                    ngx_astro_out_printf(out, "%uA\n", ps->failures);
                    break;
                case 3:
                    ngx_astro_out_prom_double(out,
                                              (double) ps->ewma / 1000000);
                    ngx_astro_out_literal(out, "\n");
                    break;
                case 4:
                    ngx_astro_out_printf(out, "%uA\n",
                                         (ngx_atomic_uint_t) ps->circuit.state);
                    break;
                default:
                    ngx_astro_out_printf(out, "%uA\n",
                                       (ngx_atomic_uint_t) ps->circuit.opened);
                }
            }
        }
    }

    for (k = 0; k < sizeof(queue_metrics) / sizeof(queue_metrics[0]); k++) {
        ngx_astro_status_prom_head(out, queue_metrics[k].name,
                                   k <= 1 ? "gauge" : "counter",
                                   queue_metrics[k].help);

        for (i = 0; i < tmcf->upstreams.nelts; i++) {
            tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];
            us = tscf->sh;

            if (us == NULL || tscf->queue == NULL) {
                continue;
            }

            ngx_astro_out_printf(out, "%s{upstream=", queue_metrics[k].name);
            ngx_astro_out_prom_str(out, uscf[i]->host.data,
                                   uscf[i]->host.len);
            if (k == 5) {
                ngx_astro_out_literal(out, "} ");
                ngx_astro_out_double(out, (double) us->q_wait_ms / 1000);
                ngx_astro_out_literal(out, "\n");
                continue;
            }

            /* the slots' sums, for the two metrics that are sums */

            reserved = 0;
            waiting = 0;

            if (k < 2) {
                reserved = ngx_http_astro_tier_places(tmcf->shpool, us,
                                                      &waiting);
            }

            ngx_astro_out_printf(out, "} %A\n",
                                 k == 0 ? (ngx_atomic_int_t) waiting
                                 : k == 1 ? (ngx_atomic_int_t) reserved
                                 : k == 2 ? (ngx_atomic_int_t) us->q_waits
                                 : k == 3 ? (ngx_atomic_int_t) us->q_timeouts
                                 : (ngx_atomic_int_t) us->q_refused);
        }
    }

    for (k = 0; k < sizeof(tier_metrics) / sizeof(tier_metrics[0]); k++) {
        ngx_astro_status_prom_head(out, tier_metrics[k].name, "counter",
                                   tier_metrics[k].help);

        for (i = 0; i < tmcf->upstreams.nelts; i++) {
            tscf = uscf[i]->srv_conf[ngx_astro_tier_upstream_module.ctx_index];
            us = tscf->sh;

            for (j = 0; us && j < tmcf->tiers.nelts; j++) {
                ngx_astro_out_printf(out, "%s{upstream=",
                                     tier_metrics[k].name);
                ngx_astro_out_prom_str(out, uscf[i]->host.data,
                                       uscf[i]->host.len);
                ngx_astro_out_literal(out, ",tier=");
                ngx_astro_out_prom_str(out, tier[j].name.data,
                                       tier[j].name.len);
                ngx_astro_out_printf(out, "} %uA\n",
                                     k == 0 ? us->requests[j]
                                     : k == 1 ? us->fallbacks[j]
                                     : us->refused[j]);
            }
        }
    }
}


/* the counts of processes that are gone given back before they are read */

static void
ngx_http_astro_tier_status_sweep(ngx_http_astro_tier_main_conf_t *tmcf)
{
    if (tmcf->shpool) {
        (void) ngx_http_astro_tier_sweep(tmcf->shpool, ngx_cycle->log);
    }
}
