
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"


/*
 * The circuit of one server (astro_circuit): the state machine is
 * ngx_astro_circuit.c's, its state the server's record in the shared
 * zone.  Some cases are answered without the zone's mutex (a closed
 * circuit lets a request go, one that surely refuses, answers that
 * change nothing: those while it is open); the rest is one pure call
 * under it.  While error_rate counts (by default), every answer of a
 * closed circuit is one.  The changes are logged after the unlock.
 */


static void ngx_http_astro_tier_circuit_log(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_peer_sh_t *ps,
    ngx_astro_circuit_event_t *ev);


ngx_uint_t
ngx_http_astro_tier_circuit_allows(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_uint_t *probe, ngx_log_t *log)
{
    int                        allowed;
    unsigned                   p;
    ngx_astro_circuit_event_t  ev;

    *probe = 0;

    if (ps->circuit.state == NGX_ASTRO_CIRCUIT_CLOSED) {
        return 1;
    }

    if (ngx_astro_circuit_refuses(tscf->circuit, &ps->circuit,
                                  ngx_current_msec))
    {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_tier_balance: circuit of %*s refuses, %s",
                       ps->name_len, ps->name,
                       ngx_astro_circuit_name(ps->circuit.state));
        return 0;
    }

    ngx_shmtx_lock(&tscf->shpool->mutex);

    allowed = ngx_astro_circuit_allow(tscf->circuit, &ps->circuit,
                                      ngx_current_msec, &p, &ev);

    ngx_shmtx_unlock(&tscf->shpool->mutex);

    ngx_http_astro_tier_circuit_log(tscf, ps, &ev);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_tier_balance: circuit of %*s %s%s",
                   ps->name_len, ps->name,
                   allowed ? "allows" : "refuses, every probe in flight",
                   p ? " a probe" : "");

    *probe = p;

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
    ngx_astro_circuit_event_t  ev;

    if (failed == NGX_DECLINED) {
        if (probe) {
            ngx_shmtx_lock(&tscf->shpool->mutex);
            ngx_astro_circuit_abandon(&ps->circuit);
            ngx_shmtx_unlock(&tscf->shpool->mutex);
        }

        return;
    }

    if (failed ? !ngx_astro_circuit_failure_changes(&ps->circuit, probe)
               : !ngx_astro_circuit_success_changes(tscf->circuit,
                                                    &ps->circuit, probe))
    {
        return;
    }

    ngx_shmtx_lock(&tscf->shpool->mutex);

    if (failed) {
        ngx_astro_circuit_failure(tscf->circuit, &ps->circuit,
                                  ngx_current_msec, 1, probe, &ev);

    } else {
        ngx_astro_circuit_success(tscf->circuit, &ps->circuit,
                                  ngx_current_msec, probe, &ev);
    }

    ngx_shmtx_unlock(&tscf->shpool->mutex);

    ngx_http_astro_tier_circuit_log(tscf, ps, &ev);
}


static void
ngx_http_astro_tier_circuit_log(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_astro_circuit_event_t *ev)
{
    u_char  why[128];

    switch (ev->event) {

    case NGX_ASTRO_CIRCUIT_OPENED:

        switch (ev->reason) {

        case NGX_ASTRO_CIRCUIT_FAILURES:
            ngx_sprintf(why, "%ui consecutive failures%Z", ev->failures);
            break;

        case NGX_ASTRO_CIRCUIT_ERROR_RATE:
            ngx_sprintf(why, "%ui of %ui requests failed within %Mms%Z",
                        ev->failures, ev->requests, tscf->circuit->window);
            break;

        default: /* NGX_ASTRO_CIRCUIT_PROBE */
            ngx_cpystrn(why, (u_char *) "a probe failed", sizeof(why));
        }

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: open for "
                      "%Mms: %s", &tscf->upstream->host, ps->name_len,
                      ps->name, (ngx_msec_t) ev->open_for, why);
        break;

    case NGX_ASTRO_CIRCUIT_HALF_OPENED:
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: "
                      "half-open, up to %ui probes",
                      &tscf->upstream->host, ps->name_len, ps->name,
                      tscf->circuit->probes);
        break;

    case NGX_ASTRO_CIRCUIT_CLOSED_AGAIN:
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "astro_circuit: upstream \"%V\" server %*s: "
                      "closed, a probe succeeded",
                      &tscf->upstream->host, ps->name_len, ps->name);
        break;

    default: /* NGX_ASTRO_CIRCUIT_NO_CHANGE */
        break;
    }
}
