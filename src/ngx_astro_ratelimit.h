
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_RATELIMIT_H_INCLUDED_
#define _NGX_ASTRO_RATELIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_limit.h"
#include "ngx_astro_out.h"
#include "ngx_astro_parse_rate.h"
#include "ngx_astro_redis.h"
#include "ngx_astro_ratelimit_lua.h"
#include "ngx_astro_lease.h"


/* an algorithm is the index of its script */
#define NGX_HTTP_ASTRO_RL_GCRA            NGX_ASTRO_RATELIMIT_LUA_GCRA
#define NGX_HTTP_ASTRO_RL_SLIDING_WINDOW  NGX_ASTRO_RATELIMIT_LUA_SLIDING

#define NGX_HTTP_ASTRO_RL_REDIS           0
#define NGX_HTTP_ASTRO_RL_LOCAL           1
#define NGX_HTTP_ASTRO_RL_HYBRID          2

#define NGX_HTTP_ASTRO_RL_FAIL_OPEN       0
#define NGX_HTTP_ASTRO_RL_FAIL_CLOSED     1

#define NGX_HTTP_ASTRO_RL_HEADERS_OFF     0
#define NGX_HTTP_ASTRO_RL_HEADERS_ON      1
#define NGX_HTTP_ASTRO_RL_HEADERS_DRAFT   2

/* $astro_ratelimit_status; 0 leaves the variable not found */
#define NGX_HTTP_ASTRO_RL_NONE            0
#define NGX_HTTP_ASTRO_RL_PASSED          1
#define NGX_HTTP_ASTRO_RL_DELAYED         2
#define NGX_HTTP_ASTRO_RL_REJECTED        3
#define NGX_HTTP_ASTRO_RL_DRY_RUN         4
#define NGX_HTTP_ASTRO_RL_FAILOPEN        5
#define NGX_HTTP_ASTRO_RL_FAILCLOSED      6


typedef struct ngx_http_astro_ratelimit_main_conf_s
    ngx_http_astro_ratelimit_main_conf_t;


/* a key's state in the zone; the node begins at the rbtree node's color */

typedef struct {
    u_char                       color;
    u_char                       len;
    u_char                       pad[6];
    ngx_queue_t                  queue;
    uint64_t                     expire;    /* us: the state is whole */
    union {
        ngx_astro_limit_gcra_t   gcra;
        ngx_astro_limit_sw_t     sw;
    } st;
    u_char                       data[1];
} ngx_http_astro_ratelimit_node_t;


/*
 * A hybrid zone's key (backend=hybrid), after the key's bytes, aligned:
 * the sliding window's counts of the window "window" and the one before,
 * each in three parts: as Redis had them at the last sync (every node's),
 * pushed and not yet answered (inflight), counted here since (pending);
 * with GCRA, the tokens of a lease Redis granted, valid for a sync period.
 */

typedef struct {
    ngx_queue_t                  dirty;     /* to be pushed; prev NULL:
                                               not queued */
    ngx_http_astro_ratelimit_node_t  *node; /* whose this is */
    uint64_t                     window;
    uint64_t                     refused;   /* us: Redis refused until */
    uint32_t                     count;     /* the rate of the last */
    uint32_t                     period;    /* decision, seconds */
    uint32_t                     gcur;
    uint32_t                     gprev;
    uint32_t                     icur;
    uint32_t                     iprev;
    uint32_t                     pcur;
    uint32_t                     pprev;
    uint32_t                     near;      /* counted in keys_near */
    uint32_t                     tokens;    /* GCRA: of the lease */
    uint32_t                     used;      /* GCRA: of the last lease */
    uint32_t                     dirtied;   /* ms, low 32 bits: queued */
    uint64_t                     lease;     /* GCRA: us, valid until */
} ngx_http_astro_ratelimit_hybrid_t;


typedef struct {
    /* counted without the lock */
    ngx_atomic_t                 passed;
    ngx_atomic_t                 delayed;
    ngx_atomic_t                 rejected;
    ngx_atomic_t                 dry_run;
    ngx_atomic_t                 failopen;    /* decided here for Redis */
    ngx_atomic_t                 failclosed;  /* refused for want of it */

    /* backend=hybrid */
    ngx_atomic_t                 local;       /* decided here */
    ngx_atomic_t                 exact;       /* by Redis, near the limit */
    ngx_atomic_t                 cached;      /* Redis's refusal, kept */
    ngx_atomic_t                 keys_near;   /* in exact mode */
    ngx_atomic_t                 synced;      /* ms, the last good sync */
    ngx_atomic_t                 rounds;
    ngx_atomic_t                 pushed;      /* keys */
    ngx_atomic_t                 sync_failed; /* keys not pushed */
    ngx_astro_lease_t            lease;       /* the worker that syncs */

    /* under the lock */
    ngx_uint_t                   algorithm;
    ngx_uint_t                   backend;     /* hybrid or not: the node */
    ngx_queue_t                  dirty;       /* hybrid keys to push */
    ngx_uint_t                   ndirty;      /* in it */
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
} ngx_http_astro_ratelimit_shctx_t;


typedef struct {
    ngx_str_t                    name;
    ngx_astro_rate_t             rate;
    ngx_uint_t                   burst;
    ngx_str_t                    args[3];   /* the script's: count, period,
                                               burst, written once */
} ngx_http_astro_ratelimit_tier_t;


typedef struct {
    ngx_str_t                    name;
    size_t                       size;
    ngx_http_complex_value_t    *key;
    ngx_http_complex_value_t    *tier;
    ngx_astro_rate_t             rate;
    ngx_uint_t                   burst;
    ngx_str_t                    args[3];
    ngx_uint_t                   algorithm;
    ngx_uint_t                   backend;
    ngx_uint_t                   fail;
    ngx_array_t                  tiers;  /* ngx_http_astro_ratelimit_tier_t */
    ngx_msec_t                   sync;      /* backend=hybrid */
    ngx_uint_t                   exact_at;  /* 1/10000 of the limit */
    ngx_str_t                    sync_arg;  /* as written, for errors */
    ngx_str_t                    exact_arg;
    u_char                      *file_name;
    ngx_uint_t                   line;

    ngx_shm_zone_t              *shm_zone;
    ngx_http_astro_ratelimit_shctx_t  *sh;
    ngx_slab_pool_t             *shpool;

    /* a worker's: the hybrid sync */
    ngx_event_t                  tick;
    void                        *round;     /* out, while replies come */
    ngx_uint_t                   failed;    /* keys of the last batch */
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;
} ngx_http_astro_ratelimit_zone_t;


struct ngx_http_astro_ratelimit_main_conf_s {
    ngx_astro_redis_t                 *redis;
    ngx_str_t                          prefix;    /* of the Redis keys */
    ngx_astro_redis_script_t           scripts[NGX_ASTRO_RATELIMIT_LUA_N];
                                   /* by algorithm */
    ngx_array_t                        zones;
                                   /* ngx_http_astro_ratelimit_zone_t * */
    ngx_uint_t                         used;  /* unsigned  used:1; */
};


typedef struct {
    ngx_http_astro_ratelimit_zone_t  *zone;
    ngx_uint_t                        dry_run;  /* unsigned  dry_run:1; */
} ngx_http_astro_ratelimit_limit_t;


typedef struct {
    ngx_http_astro_ratelimit_zone_t  *zone;
    ngx_uint_t                        after;
    ngx_msec_t                        delay;
    ngx_msec_t                        max_delay;
    ngx_uint_t                        degraded;  /* factors, 1/1000 */
    ngx_uint_t                        critical;
} ngx_http_astro_ratelimit_speed_t;


typedef struct {
    ngx_array_t                        limits;
                                   /* ngx_http_astro_ratelimit_limit_t */
    ngx_http_astro_ratelimit_speed_t  *speed;
    ngx_uint_t                         status_code;
    ngx_uint_t                         headers;
    ngx_uint_t                         redis;  /* unsigned  redis:1; */
} ngx_http_astro_ratelimit_loc_conf_t;


typedef struct ngx_http_astro_ratelimit_ctx_s  ngx_http_astro_ratelimit_ctx_t;


/* the decision of one zone for one request */

typedef struct {
    ngx_http_astro_ratelimit_zone_t  *zone;
    ngx_http_astro_ratelimit_ctx_t   *ctx;
    ngx_astro_rate_t                  rate;
    ngx_uint_t                        burst;
    ngx_str_t                         tier;     /* the line that applied */
    ngx_str_t                        *args;     /* its rate for Redis */
    ngx_str_t                         key;      /* hashed when long */
    ngx_astro_limit_result_t          res;
    ngx_astro_redis_cmd_t            *cmd;      /* waited for */
    uint64_t                          hwin;     /* hybrid, exact: the */
    uint32_t                          hcur;     /* pending pushed with */
    uint32_t                          hprev;    /* the question */
    uint32_t                          lease;    /* GCRA: decisions asked */
    unsigned                          decided:1;
    unsigned                          empty:1;  /* not limited */
    unsigned                          full:1;   /* no room in the zone */
    unsigned                          failopen:1;
    unsigned                          failclosed:1;
} ngx_http_astro_ratelimit_decision_t;


/* per request, on r->main */

struct ngx_http_astro_ratelimit_ctx_s {
    ngx_uint_t                        status;
    ngx_http_astro_ratelimit_decision_t  *shown;  /* headers, variables */
    ngx_http_astro_ratelimit_decision_t  *d;      /* limits, then speed */
    ngx_uint_t                        n;        /* decisions in d */
    ngx_http_astro_ratelimit_decision_t  *sd;     /* the speed limit's */
    ngx_http_request_t               *request;
    ngx_event_t                       wake;     /* Redis answered */
    ngx_uint_t                        pending;  /* commands waited for */
    uint64_t                          now;
    unsigned                          done:1;   /* decisions begun */
    unsigned                          waiting:1;
};


/*
 * Debug tracing of a zone's answer for a key, the key named by its crc32,
 * the hash the local zone files it under (a key may be personal: an
 * address, a user); as every ngx_log_debug, nothing is evaluated unless
 * the log's level has debug_http.
 */

#define ngx_http_astro_ratelimit_debug(r, d, what)                            \
    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, (r)->connection->log, 0,               \
                   "astro_ratelimit: zone \"%V\" key %08XD: %s",              \
                   &(d)->zone->name,                                          \
                   ngx_crc32_short((d)->key.data, (d)->key.len), what)

#define ngx_http_astro_ratelimit_debug_res(r, d, what)                        \
    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, (r)->connection->log, 0,               \
                   "astro_ratelimit: zone \"%V\" key %08XD: %s, "             \
                   "remaining %uL, retry after %uLms", &(d)->zone->name,      \
                   ngx_crc32_short((d)->key.data, (d)->key.len), what,        \
                   (d)->res.remaining, ((d)->res.retry_after + 999) / 1000)


/* now, in microseconds since the epoch: the windows' clock */

static ngx_inline uint64_t
ngx_http_astro_ratelimit_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * NGX_ASTRO_LIMIT_USEC
           + (uint64_t) tp->msec * 1000;
}


extern ngx_module_t  ngx_astro_ratelimit_module;

/* ngx_astro_ratelimit_conf.c: the names of the zone's choices */
extern ngx_conf_enum_t  ngx_http_astro_ratelimit_algorithms[];
extern ngx_conf_enum_t  ngx_http_astro_ratelimit_backends[];
extern ngx_conf_enum_t  ngx_http_astro_ratelimit_fails[];


/* ngx_astro_ratelimit_conf.c */
ngx_http_astro_ratelimit_zone_t *ngx_http_astro_ratelimit_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_http_astro_ratelimit_zone_t *ngx_http_astro_ratelimit_use_zone(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_http_astro_ratelimit_tier_t *ngx_http_astro_ratelimit_find_tier(
    ngx_http_astro_ratelimit_zone_t *zone, ngx_str_t *name);
ngx_int_t ngx_http_astro_ratelimit_rate_param(ngx_str_t *arg,
    ngx_astro_rate_t *rate, ngx_uint_t *burst);
ngx_int_t ngx_http_astro_ratelimit_zone_param(ngx_str_t *arg,
    ngx_http_astro_ratelimit_zone_t *zone);
ngx_int_t ngx_http_astro_ratelimit_set_rate(ngx_conf_t *cf,
    ngx_http_astro_ratelimit_zone_t *zone, ngx_astro_rate_t *rate,
    ngx_uint_t burst, ngx_str_t *args);
ngx_int_t ngx_http_astro_ratelimit_redis_param(ngx_str_t *arg,
    ngx_http_astro_ratelimit_main_conf_t *rmcf, ngx_astro_redis_t *redis);
ngx_int_t ngx_http_astro_ratelimit_add_scripts(ngx_conf_t *cf,
    ngx_http_astro_ratelimit_main_conf_t *rmcf, ngx_astro_redis_t *redis);
ngx_int_t ngx_http_astro_ratelimit_factor(ngx_str_t *value,
    ngx_uint_t *factor);
ngx_int_t ngx_http_astro_ratelimit_hybrid_param(ngx_conf_t *cf,
    ngx_str_t *arg, ngx_http_astro_ratelimit_zone_t *zone);
ngx_int_t ngx_http_astro_ratelimit_zone_hybrid(ngx_conf_t *cf,
    ngx_http_astro_ratelimit_zone_t *zone);

/* ngx_astro_ratelimit_zone_conf.c */
char *ngx_http_astro_ratelimit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_astro_ratelimit_tier(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_astro_ratelimit_zone.c */
ngx_int_t ngx_http_astro_ratelimit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_astro_ratelimit_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_zone_t *zone, ngx_str_t *key, uint64_t now,
    ngx_http_astro_ratelimit_decision_t *d);
ngx_http_astro_ratelimit_node_t *ngx_http_astro_ratelimit_lookup(
    ngx_http_astro_ratelimit_zone_t *zone, ngx_str_t *key, uint64_t now,
    ngx_uint_t create, ngx_log_t *log);
void ngx_http_astro_ratelimit_touch(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_node_t *rn, uint64_t expire);

/* ngx_astro_ratelimit_hybrid.c */
ngx_http_astro_ratelimit_hybrid_t *ngx_http_astro_ratelimit_hybrid(
    ngx_http_astro_ratelimit_node_t *rn);
void ngx_http_astro_ratelimit_hybrid_free(
    ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_node_t *rn);
ngx_int_t ngx_http_astro_ratelimit_hybrid_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, ngx_uint_t exact);
void ngx_http_astro_ratelimit_hybrid_answer(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, uint64_t *v);
void ngx_http_astro_ratelimit_hybrid_give_back(
    ngx_http_astro_ratelimit_decision_t *d);
ngx_int_t ngx_http_astro_ratelimit_hybrid_token(void *data,
    redisReply *reply);
void ngx_http_astro_ratelimit_hybrid_settle(
    ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_hybrid_t *hy, uint64_t window, uint32_t dcur,
    uint32_t dprev, uint64_t *v);
void ngx_http_astro_ratelimit_hybrid_roll(
    ngx_http_astro_ratelimit_hybrid_t *hy, uint64_t now);

/* ngx_astro_ratelimit_hybrid_sync.c */
ngx_int_t ngx_http_astro_ratelimit_hybrid_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_ratelimit_main_conf_t *rmcf);
void ngx_http_astro_ratelimit_hybrid_exit_worker(
    ngx_http_astro_ratelimit_main_conf_t *rmcf);

/* ngx_astro_ratelimit_redis.c */
ngx_int_t ngx_http_astro_ratelimit_redis_ask(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d);
void ngx_http_astro_ratelimit_fallback(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d);

/* ngx_astro_ratelimit_ctx.c */
ngx_http_astro_ratelimit_ctx_t *ngx_http_astro_ratelimit_create_ctx(
    ngx_http_request_t *r, ngx_uint_t n);
ngx_http_astro_ratelimit_ctx_t *ngx_http_astro_ratelimit_get_ctx(
    ngx_http_request_t *r);

/* ngx_astro_ratelimit_handler.c */
ngx_int_t ngx_http_astro_ratelimit_handler(ngx_http_request_t *r);

/* ngx_astro_ratelimit_headers.c */
ngx_int_t ngx_http_astro_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, ngx_uint_t headers,
    ngx_uint_t rejected);

/* ngx_astro_ratelimit_vars.c */
ngx_int_t ngx_http_astro_ratelimit_add_variables(ngx_conf_t *cf);

/* ngx_astro_ratelimit_status.c */
void ngx_http_astro_ratelimit_json(ngx_astro_out_t *out, void *data);
void ngx_http_astro_ratelimit_prometheus(ngx_astro_out_t *out, void *data);


#endif /* _NGX_ASTRO_RATELIMIT_H_INCLUDED_ */
