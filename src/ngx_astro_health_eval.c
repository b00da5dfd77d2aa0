
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_health_eval.h"


#define ngx_astro_over(v, limit)  ((limit) >= 0 && (v) > (limit))


unsigned
ngx_astro_health_exceeds(const ngx_astro_health_figures_t *f,
    const ngx_astro_health_figures_t *limit)
{
    unsigned  bits;

    bits = 0;

    if (ngx_astro_over(f->cpu, limit->cpu)) {
        bits |= 1;
    }

    if (ngx_astro_over(f->memory, limit->memory)) {
        bits |= 2;
    }

    if (ngx_astro_over(f->error_rate, limit->error_rate)) {
        bits |= 4;
    }

    if (ngx_astro_over(f->latency, limit->latency)) {
        bits |= 8;
    }

    return bits;
}


unsigned
ngx_astro_health_classify(const ngx_astro_health_figures_t *f,
    const ngx_astro_health_figures_t *degraded,
    const ngx_astro_health_figures_t *critical)
{
    if (ngx_astro_health_exceeds(f, critical)) {
        return NGX_ASTRO_CRITICAL;
    }

    if (ngx_astro_health_exceeds(f, degraded)) {
        return NGX_ASTRO_DEGRADED;
    }

    return NGX_ASTRO_HEALTHY;
}


int
ngx_astro_health_step(ngx_astro_health_state_t *st, unsigned raw,
    unsigned recover)
{
    if (raw > st->status) {
        st->status = raw;
        st->held = 0;
        return 1;
    }

    if (raw == st->status) {
        st->held = 0;
        return 0;
    }

    if (st->held == 0 || raw > st->pending) {
        st->pending = raw;
    }

    if (++st->held < recover) {
        return 0;
    }

    st->status = st->pending;
    st->held = 0;

    return 1;
}


const char *
ngx_astro_health_name(unsigned status)
{
    static const char  *names[] = { "healthy", "degraded", "critical" };

    return status <= NGX_ASTRO_CRITICAL ? names[status] : "unknown";
}


const char *
ngx_astro_health_refusal_name(unsigned by)
{
    static const char  *names[] = {
        "shed", "ratelimit", "queue", "limit_req", "limit_conn"
    };

    return by < NGX_ASTRO_REFUSED_N ? names[by] : "none";
}


unsigned
ngx_astro_health_refused_by(unsigned by, unsigned limit_req,
    unsigned limit_conn)
{
    if (by < NGX_ASTRO_REFUSED_N) {
        return by;
    }

    if (limit_req == NGX_ASTRO_LIMIT_REQ_REJECTED) {
        return NGX_ASTRO_REFUSED_LIMIT_REQ;
    }

    if (limit_conn == NGX_ASTRO_LIMIT_CONN_REJECTED) {
        return NGX_ASTRO_REFUSED_LIMIT_CONN;
    }

    return NGX_ASTRO_REFUSED_N;
}


uint64_t
ngx_astro_health_judged_ms(uint64_t ms, uint64_t held)
{
    return ms > held ? ms - held : 0;
}


double
ngx_astro_health_ewma(double ewma, uint64_t sum, uint64_t n, double alpha)
{
    double  mean;

    if (n == 0) {
        return ewma;
    }

    mean = (double) sum / n;

    return ewma == 0 ? mean : alpha * mean + (1 - alpha) * ewma;
}


double
ngx_astro_health_percent(uint64_t part, uint64_t whole)
{
    if (whole == 0) {
        return 0;
    }

    if (part >= whole) {
        return 100;
    }

    return 100.0 * part / whole;
}
