
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_redis_internal.h"


/*
 * The client's circuit: ngx_astro_circuit in the shared zone, changed
 * under the zone's mutex.  The common cases take no lock: a closed
 * circuit lets a command go, an open one refuses it, a success after a
 * success changes nothing, nor do failures while it is open.  The zone's
 * "fails" (the status's consecutive_failures) counts every failure since
 * the last answer, also those of commands sent before it opened, which
 * the circuit does not count.
 */


/*
 * NGX_OK to send, NGX_DECLINED while the circuit is open.  Once the
 * backoff is over one command probes; a probe that got no answer in time
 * lets another one try.
 */

ngx_int_t
ngx_astro_redis_allow(ngx_astro_redis_t *rd, ngx_uint_t *probe)
{
    int                         rc;
    unsigned                    p;
    ngx_astro_circuit_t        *st;
    ngx_astro_circuit_event_t   ev;

    st = &rd->sh->circuit;
    *probe = 0;

    if (st->state == NGX_ASTRO_CIRCUIT_CLOSED) {
        return NGX_OK;
    }

    if (ngx_astro_circuit_refuses(&rd->circuit, st, ngx_current_msec)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "astro_redis: circuit %s, command refused",
                       ngx_astro_circuit_name(st->state));
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);

    rc = ngx_astro_circuit_allow(&rd->circuit, st, ngx_current_msec, &p,
                                 &ev);

    ngx_shmtx_unlock(&rd->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: circuit %s, command %s",
                   ngx_astro_circuit_name(st->state),
                   p ? "probes" : (rc ? "allowed" : "refused"));

    *probe = p;

    return rc ? NGX_OK : NGX_DECLINED;
}


/* a probe that was not sent: the next request probes */

void
ngx_astro_redis_release(ngx_astro_redis_t *rd)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: circuit probe not sent, released");

    ngx_shmtx_lock(&rd->shpool->mutex);
    ngx_astro_circuit_abandon(&rd->sh->circuit);
    ngx_shmtx_unlock(&rd->shpool->mutex);
}


void
ngx_astro_redis_succeeded(ngx_astro_redis_t *rd, ngx_uint_t probe)
{
    ngx_astro_circuit_t        *st;
    ngx_astro_circuit_event_t   ev;

    st = &rd->sh->circuit;

    if (rd->sh->fails) {
        rd->sh->fails = 0;
    }

    if (!ngx_astro_circuit_success_changes(&rd->circuit, st, probe)) {
        return;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);
    ngx_astro_circuit_success(&rd->circuit, st, ngx_current_msec, probe,
                              &ev);
    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (ev.event != NGX_ASTRO_CIRCUIT_CLOSED_AGAIN) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "%V: redis %V: answers again, circuit closed",
                  &rd->tag, &rd->name);
}


/* n commands failed: counted, and they may open the circuit */

void
ngx_astro_redis_failed(ngx_astro_redis_t *rd, ngx_uint_t n, ngx_uint_t probe)
{
    ngx_uint_t                  fails;
    ngx_astro_circuit_t        *st;
    ngx_astro_circuit_event_t   ev;

    st = &rd->sh->circuit;

    ngx_atomic_fetch_add(&rd->sh->failed, n);

    fails = ngx_atomic_fetch_add(&rd->sh->fails, n) + n;

    ev.event = NGX_ASTRO_CIRCUIT_NO_CHANGE;

    if (ngx_astro_circuit_failure_changes(st, probe)) {
        ngx_shmtx_lock(&rd->shpool->mutex);
        ngx_astro_circuit_failure(&rd->circuit, st, ngx_current_msec, n,
                                  probe, &ev);
        ngx_shmtx_unlock(&rd->shpool->mutex);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: circuit %s, %ui failed commands in a row%s",
                   ngx_astro_circuit_name(st->state), fails,
                   probe ? ", the probe among them" : "");

    if (ev.event != NGX_ASTRO_CIRCUIT_OPENED) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "%V: redis %V: circuit open after %ui failed commands, "
                  "Redis is not asked for %Mms", &rd->tag, &rd->name,
                  fails, (ngx_msec_t) ev.open_for);
}
