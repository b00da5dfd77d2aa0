
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_HEALTH_H_INCLUDED_
#define _NGX_ASTRO_HEALTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_hist.h"
#include "ngx_astro_health_eval.h"
#include "ngx_astro_health_api.h"
#include "ngx_astro_lease.h"
#include "ngx_astro_out.h"


/* figures kept lock-free in the zone are in thousandths */
#define NGX_HTTP_ASTRO_HEALTH_MILLI  1000


/*
 * Response counts: cumulative in the zone, per interval in the window.
 * Every response counts in requests, latency and hist; one refused by
 * policy counts in refused, the others (served) in errors and judged.
 */

typedef struct {
    uint64_t                     requests;
    uint64_t                     errors;
    uint64_t                     latency;       /* sum, ms */
    uint64_t                     refused;
    uint64_t                     judged;        /* sum, ms, less holds */
    uint64_t                     hist[NGX_ASTRO_HIST_N];
} ngx_http_astro_health_counts_t;


typedef struct {
    ngx_atomic_t                 requests;
    ngx_atomic_t                 errors;
    ngx_atomic_t                 latency;
    ngx_atomic_t                 refused;
    ngx_atomic_t                 judged;
    ngx_atomic_t                 hist[NGX_ASTRO_HIST_N];
} ngx_http_astro_health_counters_t;


/* one entry of the history ring */

typedef struct {
    time_t                       time;
    uint32_t                     status;
    uint32_t                     active;
    float                        cpu;
    float                        memory;
    float                        load;
    float                        request_rate;
    float                        latency;
    float                        p95;
    float                        error_rate;
    float                        latency_raw;
} ngx_http_astro_health_sample_t;


/*
 * The fleet view (astro_health_zone redis=): every node's latest samples
 * as the sampling worker read them from Redis last, kept in the zone so
 * that ?scope=fleet answers without Redis.
 */

#define NGX_HTTP_ASTRO_FLEET_NODES     32
#define NGX_HTTP_ASTRO_FLEET_SAMPLES   60
#define NGX_HTTP_ASTRO_FLEET_NODE_LEN  64
#define NGX_HTTP_ASTRO_FLEET_ERR_LEN   128

typedef struct {
    u_char                          name[NGX_HTTP_ASTRO_FLEET_NODE_LEN];
    size_t                          len;
    uint64_t                        age;       /* ms at the read, Redis's */
    ngx_uint_t                      n;
    ngx_http_astro_health_sample_t  samples[NGX_HTTP_ASTRO_FLEET_SAMPLES];
                                               /* oldest first */
} ngx_http_astro_health_fleet_node_t;


typedef struct {
    uint64_t                            read;      /* wall ms, 0: never */
    uint64_t                            failed;    /* wall ms, 0: ok */
    ngx_uint_t                          n;
    ngx_http_astro_health_fleet_node_t  nodes[NGX_HTTP_ASTRO_FLEET_NODES];
} ngx_http_astro_health_fleet_view_t;


typedef struct {
    ngx_astro_lease_t                   lease;     /* the call in flight */
    ngx_atomic_t                        calls;
    ngx_atomic_t                        failures;
    ngx_atomic_t                        skipped;   /* samples not sent */
    size_t                              error_len;
    u_char                              error[NGX_HTTP_ASTRO_FLEET_ERR_LEN];
    ngx_http_astro_health_fleet_view_t  view;
} ngx_http_astro_health_fleet_sh_t;


typedef struct ngx_http_astro_health_fleet_s  ngx_http_astro_health_fleet_t;


/* the figures of the last sample */

typedef struct {
    double                       cpu;
    double                       memory;
    double                       load[3];
    double                       request_rate;
    double                       error_rate;
    double                       latency;       /* EWMA, ms, judged */
    double                       latency_raw;   /* EWMA, ms, of all */
    double                       p50;
    double                       p95;
    double                       p99;
    ngx_uint_t                   active;
    ngx_uint_t                   cgroup_cpu;    /* unsigned  :1 */
    ngx_uint_t                   cgroup_memory; /* unsigned  :1 */
} ngx_http_astro_health_metrics_t;


typedef struct {
    /* read and updated without the lock */
    ngx_atomic_t                      status;
    ngx_atomic_t                      cpu;         /* milli-percent */
    ngx_atomic_t                      memory;
    ngx_atomic_t                      error_rate;
    ngx_atomic_t                      latency;     /* microseconds */
    ngx_atomic_t                      next_sample; /* ngx_current_msec */
    ngx_atomic_t                      shed_critical;
    ngx_atomic_t                      shed_degraded;
    ngx_atomic_t                      shed_seq;
    ngx_atomic_t                      held;        /* ms, all holds */
    ngx_atomic_t                      refused_by[NGX_ASTRO_REFUSED_N];
    ngx_http_astro_health_counters_t  total;

    /* under the lock: the sampler's state */
    ngx_astro_health_state_t          state;
    time_t                            since;
    time_t                            started;
    ngx_uint_t                        samples;
    ngx_uint_t                        transitions;
    ngx_uint_t                        failing;     /* files that fail */
    ngx_msec_t                        last_msec;
    uint64_t                          cpu_busy;
    uint64_t                          cpu_total;
    uint64_t                          cg_usage;
    ngx_http_astro_health_metrics_t   metrics;
    ngx_http_astro_health_counts_t    last;        /* total at last sample */

    ngx_uint_t                        slots;
    ngx_uint_t                        slot;
    ngx_uint_t                        filled;
    ngx_http_astro_health_counts_t   *window;      /* [slots] */

    ngx_uint_t                        history;
    ngx_uint_t                        next;
    ngx_uint_t                        count;
    ngx_http_astro_health_sample_t   *ring;        /* [history] */

    ngx_http_astro_health_fleet_sh_t *fleet;       /* redis=, kept after */
} ngx_http_astro_health_shctx_t;


typedef struct {
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_astro_health_shctx_t  *sh;
    ngx_slab_pool_t                *shpool;

    ngx_str_t                       name;
    ngx_msec_t                      interval;
    ngx_msec_t                      window;
    ngx_uint_t                      history;
    ngx_uint_t                      recover;
    ngx_str_t                       root;
    ngx_astro_health_figures_t      degraded;
    ngx_astro_health_figures_t      critical;

    /* redis=: the fleet view */
    ngx_str_t                       redis_url;
    ngx_str_t                       node;
    ngx_msec_t                      keep;
    ngx_http_astro_health_fleet_t  *fleet;

    ngx_event_t                     timer;
    ngx_uint_t                      shed;       /* unsigned  shed:1; */
} ngx_http_astro_health_main_conf_t;


typedef struct {
    ngx_http_complex_value_t    *priority;
    ngx_uint_t                   critical_below;
    ngx_uint_t                   degraded_below;
    ngx_uint_t                   degraded_share; /* hundredths of a % */
    ngx_uint_t                   status;
    time_t                       retry_after;
} ngx_http_astro_health_shed_conf_t;


typedef struct {
    ngx_http_astro_health_shed_conf_t  *shed;   /* NULL: astro_shed off */
} ngx_http_astro_health_loc_conf_t;


/*
 * What the suite told of a request (ngx_http_astro_health_refused(),
 * _hold()): a pool cleanup's data, found by the request's address.
 */

typedef struct {
    ngx_http_request_t          *request;
    ngx_msec_t                   held;      /* ms, of the holds ended */
    ngx_msec_t                   since;     /* the open hold's start */
    unsigned                     refused:3; /* NGX_ASTRO_REFUSED_* */
    unsigned                     holding:1;
} ngx_http_astro_health_mark_t;


extern ngx_module_t  ngx_astro_health_module;


/* src/ngx_astro_health_zone.c: the zone and the counting of requests */
size_t ngx_http_astro_health_zone_size(ngx_msec_t interval,
    ngx_msec_t window, ngx_uint_t history, ngx_uint_t fleet);
ngx_int_t ngx_http_astro_health_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_astro_health_log_handler(ngx_http_request_t *r);

/* src/ngx_astro_health_mark.c: what the suite told of a request */
ngx_http_astro_health_mark_t *ngx_http_astro_health_mark(
    ngx_http_request_t *r, ngx_uint_t create);
ngx_msec_t ngx_http_astro_health_held(ngx_http_astro_health_mark_t *mark);

/* src/ngx_astro_health_sample.c: the sampler */
void ngx_http_astro_health_timer_handler(ngx_event_t *ev);

/* src/ngx_astro_health_fleet.c: the fleet view's Redis calls */
char *ngx_http_astro_health_fleet_conf(ngx_conf_t *cf,
    ngx_http_astro_health_main_conf_t *hmcf);
size_t ngx_http_astro_health_fleet_size(void);
ngx_int_t ngx_http_astro_health_fleet_alloc(
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_shctx_t *sh);
ngx_int_t ngx_http_astro_health_fleet_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_health_main_conf_t *hmcf);
void ngx_http_astro_health_fleet_exit_worker(
    ngx_http_astro_health_main_conf_t *hmcf);
void ngx_http_astro_health_fleet_push(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_sample_t *s, ngx_log_t *log);

/* src/ngx_astro_health_shed.c */
ngx_int_t ngx_http_astro_health_shed_handler(ngx_http_request_t *r);

/* src/ngx_astro_health_vars.c */
ngx_int_t ngx_http_astro_health_add_variables(ngx_conf_t *cf);

/* src/ngx_astro_health_status.c: the sections of the status endpoint */
void ngx_http_astro_health_status_document(ngx_astro_out_t *out,
    void *data);
void ngx_http_astro_health_status_json(ngx_astro_out_t *out, void *data);
void ngx_http_astro_health_status_prometheus(ngx_astro_out_t *out,
    void *data);


#endif /* _NGX_ASTRO_HEALTH_H_INCLUDED_ */
