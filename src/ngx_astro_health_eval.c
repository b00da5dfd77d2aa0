
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
