
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_HEALTH_EVAL_H_INCLUDED_
#define _NGX_ASTRO_HEALTH_EVAL_H_INCLUDED_


/*
 * pure code: health classification and hysteresis; no nginx headers,
 * unit tested in t/unit/test_health_eval.c.
 */

#define NGX_ASTRO_HEALTHY   0
#define NGX_ASTRO_DEGRADED  1
#define NGX_ASTRO_CRITICAL  2

/* a limit that is never exceeded */
#define NGX_ASTRO_LIMIT_OFF  -1.0


typedef struct {
    double      cpu;                /* percent */
    double      memory;             /* percent */
    double      error_rate;         /* percent */
    double      latency;            /* milliseconds */
} ngx_astro_health_figures_t;


typedef struct {
    unsigned    status;
    unsigned    pending;            /* the best status seen while held */
    unsigned    held;               /* better samples in a row */
} ngx_astro_health_state_t;


/* which figures exceed limits: a bit per field, in the order above */
unsigned ngx_astro_health_exceeds(const ngx_astro_health_figures_t *f,
    const ngx_astro_health_figures_t *limit);

unsigned ngx_astro_health_classify(const ngx_astro_health_figures_t *f,
    const ngx_astro_health_figures_t *degraded,
    const ngx_astro_health_figures_t *critical);

/*
 * Takes one sample's raw status: a worse status takes effect at once, a
 * better one after "recover" better samples in a row, and then the worst
 * of them.  Returns 1 when the status changed.
 */
int ngx_astro_health_step(ngx_astro_health_state_t *st, unsigned raw,
    unsigned recover);

const char *ngx_astro_health_name(unsigned status);


#endif /* _NGX_ASTRO_HEALTH_EVAL_H_INCLUDED_ */
