
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_HEALTH_EVAL_H_INCLUDED_
#define _NGX_ASTRO_HEALTH_EVAL_H_INCLUDED_


/*
 * pure code: health classification and hysteresis, and what a response
 * counts for; no nginx headers, unit tested in t/unit/test_health_eval.c.
 */

#include <stdint.h>


#define NGX_ASTRO_HEALTHY   0
#define NGX_ASTRO_DEGRADED  1
#define NGX_ASTRO_CRITICAL  2

/* a limit that is never exceeded */
#define NGX_ASTRO_LIMIT_OFF  -1.0

/*
 * Who refused a request by policy: its response is no error of what
 * nginx serves, and each is counted apart.  The last two are nginx's own
 * modules, which the log phase finds in the request.
 */
#define NGX_ASTRO_REFUSED_SHED        0   /* astro_shed */
#define NGX_ASTRO_REFUSED_RATELIMIT   1   /* astro_ratelimit, fail=closed */
#define NGX_ASTRO_REFUSED_QUEUE       2   /* astro_queue */
#define NGX_ASTRO_REFUSED_LIMIT_REQ   3
#define NGX_ASTRO_REFUSED_LIMIT_CONN  4
#define NGX_ASTRO_REFUSED_N           5   /* as "by": not refused */

/*
 * The values of r->limit_req_status and r->limit_conn_status that are
 * refusals: NGX_HTTP_LIMIT_REQ_REJECTED and NGX_HTTP_LIMIT_CONN_REJECTED,
 * defined in nginx's ngx_http_limit_req_module.c and
 * ngx_http_limit_conn_module.c since 1.17.6 (their dry runs' values are
 * no refusal).
 */
#define NGX_ASTRO_LIMIT_REQ_REJECTED   3
#define NGX_ASTRO_LIMIT_CONN_REJECTED  2


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

/* the names of the NGX_ASTRO_REFUSED_* in the status: "ratelimit" */
const char *ngx_astro_health_refusal_name(unsigned by);

/*
 * Who refused a response: "by" as the suite marked it, else limit_req or
 * limit_conn by the request's fields; NGX_ASTRO_REFUSED_N: nobody.
 */
unsigned ngx_astro_health_refused_by(unsigned by, unsigned limit_req,
    unsigned limit_conn);

/* the response time health judges: the whole, less the suite's holds */
uint64_t ngx_astro_health_judged_ms(uint64_t ms, uint64_t held);

/*
 * The EWMA after an interval whose n responses took sum ms: unchanged
 * without responses, the interval's mean after a value of 0.
 */
double ngx_astro_health_ewma(double ewma, uint64_t sum, uint64_t n,
    double alpha);

/*
 * part of whole in percent, 0 of nothing; counters read one after the
 * other may show a part above its whole for a moment: 100 at most.
 */
double ngx_astro_health_percent(uint64_t part, uint64_t whole);


#endif /* _NGX_ASTRO_HEALTH_EVAL_H_INCLUDED_ */
