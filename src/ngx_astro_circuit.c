
/*
 * Copyright (C) astro developers
 */


#include <stddef.h>

#include "ngx_astro_circuit.h"


static void ngx_astro_circuit_open(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, uintptr_t open_for,
    ngx_astro_circuit_event_t *ev);
static void ngx_astro_circuit_roll(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now);


static const char  *ngx_astro_circuit_names[] = {
    "closed", "open", "half_open"
};


int
ngx_astro_circuit_allow(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, unsigned *probe,
    ngx_astro_circuit_event_t *ev)
{
    uintptr_t  timeout;

    *probe = 0;
    ev->event = NGX_ASTRO_CIRCUIT_NO_CHANGE;

    if (st->state == NGX_ASTRO_CIRCUIT_CLOSED) {
        return 1;
    }

    if (st->state == NGX_ASTRO_CIRCUIT_OPEN) {

        if ((intptr_t) (now - st->until) < 0) {
            return 0;
        }

        st->state = NGX_ASTRO_CIRCUIT_HALF_OPEN;
        st->probes = 0;

        ev->event = NGX_ASTRO_CIRCUIT_HALF_OPENED;
        ev->open_for = st->open_for;
    }

    /* half-open: probes that did not answer in time give their places back */

    timeout = c->probe_timeout ? c->probe_timeout : st->open_for;

    if (st->probes >= c->probes
        && (intptr_t) (now - st->probe_at) >= (intptr_t) timeout)
    {
        st->probes = 0;
    }

    if (st->probes >= c->probes) {
        return 0;
    }

    st->probes++;
    st->probe_at = now;
    *probe = 1;

    return 1;
}


void
ngx_astro_circuit_success(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, unsigned probe,
    ngx_astro_circuit_event_t *ev)
{
    ev->event = NGX_ASTRO_CIRCUIT_NO_CHANGE;

    if (probe) {
        ngx_astro_circuit_abandon(st);

        /* another probe may have closed it, or opened it again */

        if (st->state != NGX_ASTRO_CIRCUIT_HALF_OPEN) {
            return;
        }

        st->state = NGX_ASTRO_CIRCUIT_CLOSED;
        st->open_for = c->open;
        st->consecutive = 0;
        st->window_start = now;
        st->requests = 0;
        st->failures = 0;

        ev->event = NGX_ASTRO_CIRCUIT_CLOSED_AGAIN;
        return;
    }

    if (st->state != NGX_ASTRO_CIRCUIT_CLOSED) {
        return;
    }

    st->consecutive = 0;

    ngx_astro_circuit_roll(c, st, now);
    st->requests++;
}


void
ngx_astro_circuit_failure(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, uintptr_t n, unsigned probe,
    ngx_astro_circuit_event_t *ev)
{
    uintptr_t  open_for;

    ev->event = NGX_ASTRO_CIRCUIT_NO_CHANGE;

    if (probe) {
        ngx_astro_circuit_abandon(st);

        if (st->state != NGX_ASTRO_CIRCUIT_HALF_OPEN) {
            return;
        }

        open_for = st->open_for * 2;

        if (open_for > c->max_open) {
            open_for = c->max_open;
        }

        ev->reason = NGX_ASTRO_CIRCUIT_PROBE;
        ev->failures = n;
        ev->requests = n;
        ngx_astro_circuit_open(c, st, now, open_for, ev);
        return;
    }

    if (st->state != NGX_ASTRO_CIRCUIT_CLOSED) {
        return;
    }

    ngx_astro_circuit_roll(c, st, now);
    st->consecutive += n;
    st->requests += n;
    st->failures += n;

    if (c->failures && st->consecutive >= c->failures) {
        ev->reason = NGX_ASTRO_CIRCUIT_FAILURES;
        ev->failures = st->consecutive;
        ev->requests = st->consecutive;
        ngx_astro_circuit_open(c, st, now, c->open, ev);
        return;
    }

    if (c->error_rate
        && st->requests >= c->min_requests
        && st->failures * 100 >= c->error_rate * st->requests)
    {
        ev->reason = NGX_ASTRO_CIRCUIT_ERROR_RATE;
        ev->failures = st->failures;
        ev->requests = st->requests;
        ngx_astro_circuit_open(c, st, now, c->open, ev);
    }
}


void
ngx_astro_circuit_abandon(ngx_astro_circuit_t *st)
{
    if (st->probes) {
        st->probes--;
    }
}


const char *
ngx_astro_circuit_name(uintptr_t state)
{
    if (state > NGX_ASTRO_CIRCUIT_HALF_OPEN) {
        return "unknown";
    }

    return ngx_astro_circuit_names[state];
}


static void
ngx_astro_circuit_open(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, uintptr_t open_for,
    ngx_astro_circuit_event_t *ev)
{
    if (open_for < c->open) {
        open_for = c->open;
    }

    st->state = NGX_ASTRO_CIRCUIT_OPEN;
    st->open_for = open_for;
    st->until = now + open_for;
    st->opened++;
    st->consecutive = 0;
    st->requests = 0;
    st->failures = 0;

    ev->event = NGX_ASTRO_CIRCUIT_OPENED;
    ev->open_for = open_for;
}


/* the error rate's window: counts start again once it is over */

static void
ngx_astro_circuit_roll(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now)
{
    if ((intptr_t) (now - st->window_start) >= (intptr_t) c->window) {
        st->window_start = now;
        st->requests = 0;
        st->failures = 0;
    }
}
