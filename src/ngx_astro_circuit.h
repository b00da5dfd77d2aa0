
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CIRCUIT_H_INCLUDED_
#define _NGX_ASTRO_CIRCUIT_H_INCLUDED_


/*
 * pure code: the circuit breaker of the Redis client and of the tier
 * balancer's servers; no nginx headers, unit tested in
 * t/unit/test_circuit.c.
 *
 * Closed: everything goes; failures open it, either "failures" in a row
 * or an error rate of at least "error_rate" percent over at least
 * "min_requests" requests within "window".  Open: nothing goes for the
 * open time, "open" the first time.  Then half-open: up to "probes"
 * requests at a time; a probe that succeeds closes it, one that fails
 * opens it again for twice as long, at most "max_open".  A probe that has
 * not answered within "probe_timeout" (0: the open time) gives its place
 * back, so a probe whose worker died does not hold the circuit open.
 *
 * Only the answers of a closed circuit's requests and of the current
 * probes count: a request let through before the circuit opened, or a
 * probe answering after another one has decided, changes nothing.
 *
 * Times are milliseconds of a clock that may wrap (ngx_current_msec),
 * compared by their signed difference.  The caller serializes the calls
 * (the zone's mutex); the state may be read without it to answer the
 * common case at once (ngx_astro_circuit_refuses(),
 * ngx_astro_circuit_success_changes(),
 * ngx_astro_circuit_failure_changes()).  Each call says what it changed
 * in *ev, for the caller to log once it has unlocked.
 */

#include <stdint.h>


#define NGX_ASTRO_CIRCUIT_CLOSED        0
#define NGX_ASTRO_CIRCUIT_OPEN          1
#define NGX_ASTRO_CIRCUIT_HALF_OPEN     2

/* ev->event */
#define NGX_ASTRO_CIRCUIT_NO_CHANGE     0
#define NGX_ASTRO_CIRCUIT_OPENED        1
#define NGX_ASTRO_CIRCUIT_HALF_OPENED   2
#define NGX_ASTRO_CIRCUIT_CLOSED_AGAIN  3

/* ev->reason, when it opened */
#define NGX_ASTRO_CIRCUIT_FAILURES      1   /* ev->failures in a row */
#define NGX_ASTRO_CIRCUIT_ERROR_RATE    2   /* failures of requests */
#define NGX_ASTRO_CIRCUIT_PROBE         3   /* a probe failed */


typedef struct {
    uintptr_t           failures;       /* in a row; 0: off */
    uintptr_t           error_rate;     /* percent; 0: off */
    uintptr_t           min_requests;
    uintptr_t           window;         /* ms */
    uintptr_t           open;           /* ms */
    uintptr_t           max_open;       /* ms */
    uintptr_t           probes;         /* at a time, >= 1 */
    uintptr_t           probe_timeout;  /* ms; 0: the open time */
} ngx_astro_circuit_conf_t;


/* all zero is a closed circuit */

typedef struct {
    volatile uintptr_t  state;
    volatile uintptr_t  consecutive;    /* failures in a row, closed */
    volatile uintptr_t  opened;         /* times */
    volatile uintptr_t  probes;         /* in flight */
    uintptr_t           probe_at;       /* the last one's start */
    uintptr_t           until;          /* open until */
    uintptr_t           open_for;       /* the current open time */
    uintptr_t           window_start;
    uintptr_t           requests;       /* within the window, closed */
    uintptr_t           failures;
} ngx_astro_circuit_t;


typedef struct {
    unsigned            event;
    unsigned            reason;
    uintptr_t           failures;
    uintptr_t           requests;
    uintptr_t           open_for;       /* opened, half-opened */
} ngx_astro_circuit_event_t;


/* 1: the request may go (*probe: as a probe); 0: refused */
int ngx_astro_circuit_allow(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, unsigned *probe,
    ngx_astro_circuit_event_t *ev);

/* the answers of requests that allow() let through; n failures at once */
void ngx_astro_circuit_success(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, unsigned probe,
    ngx_astro_circuit_event_t *ev);
void ngx_astro_circuit_failure(const ngx_astro_circuit_conf_t *c,
    ngx_astro_circuit_t *st, uintptr_t now, uintptr_t n, unsigned probe,
    ngx_astro_circuit_event_t *ev);

/* a probe that will not answer (not sent, or its client left) */
void ngx_astro_circuit_abandon(ngx_astro_circuit_t *st);

const char *ngx_astro_circuit_name(uintptr_t state);


/* read without the lock: open, its time not over */

static inline int
ngx_astro_circuit_is_open(const ngx_astro_circuit_t *st, uintptr_t now)
{
    return st->state == NGX_ASTRO_CIRCUIT_OPEN
           && (intptr_t) (now - st->until) < 0;
}


/*
 * Read without the lock: 1 when allow() would surely refuse now (open,
 * or half-open with every probe in flight), so the caller need not lock;
 * 0 when allow() must tell.
 */

static inline int
ngx_astro_circuit_refuses(const ngx_astro_circuit_conf_t *c,
    const ngx_astro_circuit_t *st, uintptr_t now)
{
    uintptr_t  state, timeout;

    state = st->state;

    if (state == NGX_ASTRO_CIRCUIT_OPEN) {
        return (intptr_t) (now - st->until) < 0;
    }

    if (state == NGX_ASTRO_CIRCUIT_HALF_OPEN && st->probes >= c->probes) {
        timeout = c->probe_timeout ? c->probe_timeout : st->open_for;
        return (intptr_t) (now - st->probe_at) < (intptr_t) timeout;
    }

    return 0;
}


/* read without the lock: 0 when success() would change nothing */

static inline int
ngx_astro_circuit_success_changes(const ngx_astro_circuit_conf_t *c,
    const ngx_astro_circuit_t *st, unsigned probe)
{
    return probe
           || (st->state == NGX_ASTRO_CIRCUIT_CLOSED
               && (st->consecutive != 0 || c->error_rate));
}


/* read without the lock: 0 when failure() would change nothing */

static inline int
ngx_astro_circuit_failure_changes(const ngx_astro_circuit_t *st,
    unsigned probe)
{
    return probe || st->state == NGX_ASTRO_CIRCUIT_CLOSED;
}


#endif /* _NGX_ASTRO_CIRCUIT_H_INCLUDED_ */
