
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_TIER_H_INCLUDED_
#define _NGX_ASTRO_TIER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_out.h"
#include "ngx_astro_circuit.h"
#include "ngx_astro_procs.h"


#define NGX_HTTP_ASTRO_TIER_MAX             32
#define NGX_HTTP_ASTRO_TIER_KEY_MAX         4096
#define NGX_HTTP_ASTRO_TIER_KEY_MIN         32

#define NGX_HTTP_ASTRO_TIER_SOURCE_VAR      0
#define NGX_HTTP_ASTRO_TIER_SOURCE_JWT      1

#define NGX_HTTP_ASTRO_TIER_ROUND_ROBIN     0
#define NGX_HTTP_ASTRO_TIER_LEAST_CONN      1
#define NGX_HTTP_ASTRO_TIER_RESPONSE_TIME   2
#define NGX_HTTP_ASTRO_TIER_IP_HASH         3
#define NGX_HTTP_ASTRO_TIER_ADAPTIVE        4


typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       priority;
} ngx_http_astro_tier_t;


typedef struct {
    ngx_uint_t                       type;
    ngx_http_complex_value_t        *value;
    ngx_str_t                        key;          /* never logged */
    ngx_str_t                        claim;
    ngx_str_t                        user_claim;
    time_t                           leeway;
} ngx_http_astro_tier_source_t;


typedef struct {
    ngx_str_t                        tier;
    ngx_array_t                      list;  /* ngx_uint_t or ngx_str_t */
    u_char                          *file_name;
    ngx_uint_t                       line;
} ngx_http_astro_tier_line_t;


typedef struct {
    ngx_uint_t                       size;
    ngx_msec_t                       timeout;
    ngx_uint_t                       critical_below;
} ngx_http_astro_tier_queue_t;


typedef struct {
    ngx_array_t                      tiers;     /* ngx_http_astro_tier_t */
    ngx_uint_t                       lowest;    /* its index */
    ngx_array_t                      upstreams;
                                     /* ngx_http_upstream_srv_conf_t * */
    ngx_uint_t                       configured;
    ngx_slab_pool_t                 *shpool;    /* the zone */
    ngx_uint_t                       cycle;     /* this configuration's */
} ngx_http_astro_tier_main_conf_t;


/* bitmaps of peers, as nginx's round robin keeps its tried ones */

#define NGX_HTTP_ASTRO_TIER_BITS  (8 * sizeof(uintptr_t))

#define ngx_http_astro_tier_bit_words(n)                                      \
    (((n) + NGX_HTTP_ASTRO_TIER_BITS - 1) / NGX_HTTP_ASTRO_TIER_BITS)

#define ngx_http_astro_tier_bit_test(map, n)                                  \
    ((map)[(n) / NGX_HTTP_ASTRO_TIER_BITS]                                    \
     & ((uintptr_t) 1 << (n) % NGX_HTTP_ASTRO_TIER_BITS))

#define ngx_http_astro_tier_bit_set(map, n)                                   \
    (map)[(n) / NGX_HTTP_ASTRO_TIER_BITS]                                     \
        |= (uintptr_t) 1 << (n) % NGX_HTTP_ASTRO_TIER_BITS


/*
 * A server's state, shared by the workers and kept over a reload.  A
 * reload reuses the zone only for the same loaded module (nginx compares
 * the zone's tag, &ngx_astro_tier_upstream_module): a record is never
 * read by a build with another layout.
 */

typedef struct {
    ngx_queue_t                      queue;         /* the upstream's */
    ngx_uint_t                       cycle;         /* the last one using it */

    ngx_atomic_t                     requests;
    ngx_atomic_t                     failures;
    ngx_atomic_t                     ewma;          /* us */
    ngx_atomic_t                     samples;

    /* changed under the zone's mutex (ngx_astro_tier_circuit.c) */
    ngx_astro_circuit_t              circuit;

    size_t                           name_len;
    u_char                           name[NGX_SOCKADDR_STRLEN];

    /*
     * the requests in flight, a process's by its slot, written only by
     * it (given back when it is gone: ngx_astro_tier_workers.c); the
     * record takes a page
     */
    uint16_t                         active[NGX_MAX_PROCESSES];
} ngx_http_astro_tier_peer_sh_t;


/*
 * a worker's share of an upstream's queue counts, by its process slot:
 * the only count (the totals are the sums), each changed by one store
 */

typedef struct {
    uint32_t                         reserved;
    uint32_t                         waiting;
} ngx_http_astro_tier_slot_t;


typedef struct {
    ngx_queue_t                      queue;
    ngx_uint_t                       cycle;         /* the last one using it */
    size_t                           name_len;
    u_char                          *name;
    ngx_queue_t                      peers;         /* by address */
    ngx_http_astro_tier_slot_t      *slots;         /* with astro_queue:
                                                       NGX_MAX_PROCESSES,
                                                       the queue's places
                                                       and waiters */
    ngx_atomic_t                     requests[NGX_HTTP_ASTRO_TIER_MAX];
    ngx_atomic_t                     fallbacks[NGX_HTTP_ASTRO_TIER_MAX];
    ngx_atomic_t                     refused[NGX_HTTP_ASTRO_TIER_MAX];

    /* the queue, all workers */
    ngx_atomic_t                     q_waits;
    ngx_atomic_t                     q_timeouts;
    ngx_atomic_t                     q_refused;
    ngx_atomic_t                     q_wait_ms;
} ngx_http_astro_tier_upstream_sh_t;


typedef struct {
    ngx_queue_t                      upstreams;
    ngx_uint_t                       cycle;         /* the last configured */
    ngx_astro_procs_t                procs;         /* their configuration */
} ngx_http_astro_tier_sh_t;


/* where a tier's requests may go, in order: its group, then fallbacks */

typedef struct {
    ngx_uint_t                       n;
    ngx_uint_t                      *tiers;
} ngx_http_astro_tier_route_t;


typedef struct ngx_http_astro_tier_srv_conf_s {
    ngx_uint_t                       strategy;
    ngx_array_t                      groups;
                                     /* ngx_http_astro_tier_line_t */
    ngx_array_t                      fallbacks;
                                     /* ngx_http_astro_tier_line_t */
    ngx_astro_circuit_conf_t        *circuit;
    ngx_http_astro_tier_queue_t     *queue;
    u_char                          *file_name;
    ngx_uint_t                       line;

    /* worked out when the upstream is initialized */
    ngx_http_upstream_srv_conf_t    *upstream;
    ngx_http_astro_tier_t           *tiers;         /* tmcf's */
    ngx_uint_t                       npeers;        /* primary */
    ngx_uint_t                       nbackup;
    uintptr_t                      **groups_mask;   /* a tier's servers */
    ngx_http_astro_tier_route_t     *routes;        /* a tier's */
    ngx_uint_t                       top;           /* the highest tier */
    ngx_http_astro_tier_upstream_sh_t  *sh;
    ngx_http_astro_tier_peer_sh_t  **peers;        /* primary, backup */
    ngx_slab_pool_t                 *shpool;
    ngx_uint_t                      *route_peers;   /* a tier's, for tries */
    ngx_http_upstream_rr_peer_t    **cand;          /* a worker's scratch */
    ngx_uint_t                      *cand_index;

    /* the queue: a worker's */
    ngx_uint_t                       ntiers;
    ngx_uint_t                      *by_priority;   /* tiers, highest first */
    ngx_queue_t                     *waiting;       /* a tier's */
    ngx_uint_t                       nwaiting;
    ngx_uint_t                       reserved;      /* the worker's */
    ngx_msec_t                       swept;         /* gone processes */
    ngx_event_t                      poll;
} ngx_http_astro_tier_srv_conf_t;


typedef struct {
    ngx_http_astro_tier_source_t    *source;
} ngx_http_astro_tier_loc_conf_t;


/* a request's tier, worked out once (ngx_astro_tier_identify.c) */

typedef struct {
    ngx_uint_t                       tier;      /* index in tmcf->tiers */
    ngx_str_t                        reason;
    ngx_str_t                        user;
    unsigned                         done:1;

    /* the queue (ngx_astro_tier_queue.c) */
    unsigned                         qstate:3;
    struct ngx_http_astro_tier_srv_conf_s  *qscf;
    struct ngx_http_astro_tier_wait_s      *wait;  /* once it waits */
} ngx_http_astro_tier_ctx_t;


typedef struct ngx_http_astro_tier_wait_s {
    ngx_queue_t                      queue;
    ngx_event_t                      timer;
    ngx_event_t                      wake;
    ngx_msec_t                       since;
    ngx_http_astro_tier_ctx_t       *ctx;
} ngx_http_astro_tier_wait_t;


#define NGX_HTTP_ASTRO_TIER_QUEUE_NONE      0
#define NGX_HTTP_ASTRO_TIER_QUEUE_WAITING   1
#define NGX_HTTP_ASTRO_TIER_QUEUE_ADMITTED  2   /* holds a reserved place */
#define NGX_HTTP_ASTRO_TIER_QUEUE_DONE      3
#define NGX_HTTP_ASTRO_TIER_QUEUE_REFUSED   4


extern ngx_module_t  ngx_astro_tier_upstream_module;


/*
 * The files of the module, each calling only those below it: the module
 * file (directives, configuration, hooks) calls them all.
 */

/* ngx_astro_tier_routes.c: the groups and fallbacks of an upstream */
ngx_int_t ngx_http_astro_tier_check_upstream(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf, ngx_http_upstream_srv_conf_t *uscf,
    ngx_http_astro_tier_srv_conf_t *tscf);
ngx_int_t ngx_http_astro_tier_init_routes(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf);

/* ngx_astro_tier_vars.c: the variables, added in preconfiguration */
ngx_int_t ngx_http_astro_tier_add_variables(ngx_conf_t *cf);

/* ngx_astro_tier_status.c */
void ngx_http_astro_tier_json(ngx_astro_out_t *out, void *data);
void ngx_http_astro_tier_prometheus(ngx_astro_out_t *out, void *data);

/* ngx_astro_tier_balance.c: the balancer */
extern ngx_conf_enum_t  ngx_http_astro_tier_strategies[];

ngx_int_t ngx_http_astro_tier_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);

/* ngx_astro_tier_queue.c */
ngx_int_t ngx_http_astro_tier_queue_init(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_srv_conf_t *tscf);
ngx_int_t ngx_http_astro_tier_queue_handler(ngx_http_request_t *r);
void ngx_http_astro_tier_queue_kick(ngx_http_astro_tier_srv_conf_t *tscf);
void ngx_http_astro_tier_queue_got_peer(ngx_http_request_t *r,
    ngx_http_astro_tier_srv_conf_t *tscf);

/* ngx_astro_tier_identify.c: the tier of a request */

/* a declared tier's index, NGX_ERROR if it is not one */
ngx_int_t ngx_http_astro_tier_index(ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_str_t *name);

/* astro_tier_jwt's key, read at configuration */
ngx_int_t ngx_http_astro_tier_read_key(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *key);

/* the request's tier, worked out once; NULL on error */
ngx_http_astro_tier_ctx_t *ngx_http_astro_tier_identify(
    ngx_http_request_t *r);

/* ngx_astro_tier_circuit.c: a server's circuit, under the zone's mutex */

/* 1: the request may go to the server (*probe: as a probe); 0: refused */
ngx_uint_t ngx_http_astro_tier_circuit_allows(
    ngx_http_astro_tier_srv_conf_t *tscf, ngx_http_astro_tier_peer_sh_t *ps,
    ngx_uint_t *probe, ngx_log_t *log);

/* the answer: failed 1, succeeded 0, neither NGX_DECLINED */
void ngx_http_astro_tier_circuit_report(ngx_http_astro_tier_srv_conf_t *tscf,
    ngx_http_astro_tier_peer_sh_t *ps, ngx_int_t failed, ngx_uint_t probe);

/* ngx_astro_tier_shm.c: the shared zone */
ngx_int_t ngx_http_astro_tier_add_zone(ngx_conf_t *cf,
    ngx_http_astro_tier_main_conf_t *tmcf);

/* ngx_astro_tier_workers.c: the processes that use the zone */

/* a process registers, and says when it exits */
ngx_int_t ngx_http_astro_tier_init_process(ngx_cycle_t *cycle);
void ngx_http_astro_tier_exit_process(ngx_cycle_t *cycle);

/* the oldest configuration a process alive may run; 0: not known */
ngx_uint_t ngx_http_astro_tier_oldest(ngx_slab_pool_t *shpool,
    ngx_log_t *log);

/*
 * gives back the queue counts and requests in flight of processes that
 * are gone: how many places
 */
ngx_uint_t ngx_http_astro_tier_sweep(ngx_slab_pool_t *shpool, ngx_log_t *log);

/*
 * an upstream's queue places taken and (waiting not NULL) requests
 * waiting, all processes: the sums of the slots
 */
ngx_uint_t ngx_http_astro_tier_places(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_upstream_sh_t *us, ngx_uint_t *waiting);

/* a server's requests in flight, all processes */
ngx_uint_t ngx_http_astro_tier_active(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_peer_sh_t *ps);


#endif /* _NGX_ASTRO_TIER_H_INCLUDED_ */
