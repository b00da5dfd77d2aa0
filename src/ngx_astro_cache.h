
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CACHE_H_INCLUDED_
#define _NGX_ASTRO_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_out.h"
#include "ngx_astro_redis.h"
#include "ngx_astro_lease.h"
#include "ngx_astro_cache_policy.h"


/*
 * ngx_astro_cache_module: TTL policies over nginx's proxy_cache.  nginx
 * keeps the file cache and its keys zone; a header filter of this module
 * sets the validity of the response being stored or revalidated
 * (r->cache->valid_sec, updating_sec, error_sec), which nginx reads after
 * the header filters and before proxy_cache_valid.  Nothing can change
 * an entry already stored but its file: policies apply at store and
 * revalidate time.
 *
 * The files: _conf.c (what the directives parse with), _zone.c (the
 * shared zone: classes' generations, counters, churn), _policy.c (pure:
 * the validity of a response), _filter.c (the header filter), _log.c
 * (the log-phase counting), _vars.c, _parse.c (pure: the invalidation
 * endpoint's arguments and the messages between nodes), _invalidate.c
 * (the endpoint), _purge.c (one entry of a keys zone, removed or
 * expired), _redis.c (invalidations across nodes), _status.c.
 */


#define NGX_HTTP_ASTRO_CACHE_DEFAULT_TTL   300

/* a class's name: [A-Za-z0-9_.:-], at most this long */
#define NGX_HTTP_ASTRO_CACHE_CLASS_LEN     64

/* classes a zone holds, over all reloads */
#define NGX_HTTP_ASTRO_CACHE_CLASSES       128

/* a key of the invalidation endpoint, at most this long */
#define NGX_HTTP_ASTRO_CACHE_KEY_LEN       4096


/*
 * What is counted, per class: the first eight are the request's
 * $astro_cache_status (HIT ... REFRESH), counted in the log phase; the
 * others where they happen.
 */
#define NGX_HTTP_ASTRO_CACHE_HIT           0
#define NGX_HTTP_ASTRO_CACHE_MISS          1
#define NGX_HTTP_ASTRO_CACHE_EXPIRED       2
#define NGX_HTTP_ASTRO_CACHE_STALE         3
#define NGX_HTTP_ASTRO_CACHE_UPDATING      4
#define NGX_HTTP_ASTRO_CACHE_REVALIDATED   5
#define NGX_HTTP_ASTRO_CACHE_BYPASS        6
#define NGX_HTTP_ASTRO_CACHE_REFRESH       7
#define NGX_HTTP_ASTRO_CACHE_STATUS_N      8

#define NGX_HTTP_ASTRO_CACHE_STORED        8   /* stores started */
#define NGX_HTTP_ASTRO_CACHE_REFRESHED     9   /* of them, by a refresh */
#define NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED  10  /* admit= said no */
#define NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED_MEMORY  11  /* critical memory */
#define NGX_HTTP_ASTRO_CACHE_NEVER         12  /* Set-Cookie, private, ... */
#define NGX_HTTP_ASTRO_CACHE_INV_LOCAL     13  /* class invalidations */
#define NGX_HTTP_ASTRO_CACHE_INV_RECEIVED  14
#define NGX_HTTP_ASTRO_CACHE_KEY_LOCAL     15  /* key invalidations */
#define NGX_HTTP_ASTRO_CACHE_KEY_RECEIVED  16
#define NGX_HTTP_ASTRO_CACHE_COUNT_N       17

/* the status names, by the numbers above (HIT ... REFRESH) */
extern ngx_str_t  ngx_http_astro_cache_status_names[];


/* origin= */
#define NGX_HTTP_ASTRO_CACHE_RESPECT       NGX_ASTRO_CACHE_ORIGIN_RESPECT
#define NGX_HTTP_ASTRO_CACHE_OVERRIDE      NGX_ASTRO_CACHE_ORIGIN_OVERRIDE
#define NGX_HTTP_ASTRO_CACHE_MIN           NGX_ASTRO_CACHE_ORIGIN_MIN


typedef struct ngx_http_astro_cache_zone_s  ngx_http_astro_cache_zone_t;


/* a class's record in the zone: found by name, kept across reloads */
typedef struct {
    ngx_atomic_t                 gen;
    ngx_atomic_t                 count[NGX_HTTP_ASTRO_CACHE_COUNT_N];

    /* churn: class invalidations in the current and previous period */
    ngx_atomic_t                 churn_start;   /* the period's, seconds */
    ngx_atomic_t                 churn_cur;
    ngx_atomic_t                 churn_prev;

    ngx_atomic_t                 ttl_applied;   /* the last one, seconds */

    size_t                       len;
    u_char                       name[NGX_HTTP_ASTRO_CACHE_CLASS_LEN];
} ngx_http_astro_cache_class_sh_t;


/* key invalidations not yet published, republished on reconnect */
#define NGX_HTTP_ASTRO_CACHE_RING          64

typedef struct {
    ngx_uint_t                   hard;
    size_t                       len;
    u_char                      *key;           /* slab */
} ngx_http_astro_cache_pending_t;


typedef struct {
    ngx_uint_t                   nclasses;
    ngx_http_astro_cache_class_sh_t  *classes[NGX_HTTP_ASTRO_CACHE_CLASSES];

    /* Redis: the worker that holds the subscription, and its state */
    ngx_astro_lease_t            lease;
    ngx_atomic_t                 connected;
    ngx_atomic_t                 last_gen;      /* the highest seen */
    ngx_atomic_t                 last_sync;     /* ngx_time() of a poll */
    ngx_atomic_t                 broadcast_failed;

    /* under the lock */
    ngx_uint_t                   pending_next;
    ngx_uint_t                   pending_n;
    ngx_uint_t                   pending_lost;
    ngx_http_astro_cache_pending_t  pending[NGX_HTTP_ASTRO_CACHE_RING];
} ngx_http_astro_cache_sh_t;


typedef struct {
    ngx_str_t                    name;
    time_t                       ttl;
    time_t                       stale;
    time_t                       stale_if_error;
    ngx_uint_t                   refresh;       /* % stored fresh, 0: off */
    uint64_t                     status[10];    /* bits of 0..639 */
    ngx_uint_t                   index;         /* in the zone's classes */
    ngx_http_astro_cache_class_sh_t  *sh;       /* set by init_zone */
} ngx_http_astro_cache_class_t;


typedef struct {
    ngx_uint_t                   degraded;      /* factor x 100 */
    ngx_uint_t                   critical;      /* factor x 100 */
    time_t                       max_ttl;
    ngx_uint_t                   churn;         /* invalidations, 0: off */
    time_t                       churn_period;  /* seconds */
    ngx_uint_t                   shrink;        /* factor x 100 */
} ngx_http_astro_cache_adaptive_t;


struct ngx_http_astro_cache_zone_s {
    ngx_str_t                          name;
    size_t                             size;
    ngx_array_t                        classes;
                                       /* ngx_http_astro_cache_class_t */
    ngx_http_astro_cache_adaptive_t   *adaptive;
    ngx_uint_t                         default_set;  /* unsigned :1 */

    /* the keys zones of its astro_cache_invalidate cache= */
    ngx_array_t                        caches;       /* ngx_shm_zone_t * */

    ngx_str_t                          redis_url;    /* redis= */
    ngx_astro_redis_t                 *redis;        /* NULL: local only */
    ngx_str_t                          channel;      /* "astro:cache:<name>" */
    ngx_msec_t                         sync;

    ngx_shm_zone_t                    *shm_zone;
    ngx_http_astro_cache_sh_t         *sh;
    ngx_slab_pool_t                   *shpool;

    /* a worker's: the subscription and the poll, while it holds them */
    void                              *sub;
    ngx_event_t                        timer;
};


typedef struct {
    ngx_array_t                  zones;  /* ngx_http_astro_cache_zone_t * */
    ngx_uint_t                   redis;  /* unsigned  redis:1; */
} ngx_http_astro_cache_main_conf_t;


/* astro_cache_invalidate */
typedef struct {
    ngx_http_astro_cache_zone_t  *zone;
    ngx_shm_zone_t               *cache;        /* keys zone, or NULL */
    ngx_uint_t                    hard;         /* mode=hard, the default */
} ngx_http_astro_cache_inv_conf_t;


typedef struct {
    ngx_http_astro_cache_zone_t      *zone;     /* NULL: astro_cache off */
    ngx_http_complex_value_t         *class;    /* NULL: "default" */
    ngx_uint_t                        origin;
    ngx_http_complex_value_t         *admit;    /* NULL: on */
    ngx_http_astro_cache_inv_conf_t  *invalidate;
} ngx_http_astro_cache_loc_conf_t;


/* a request's: set by the filter, counted by the log phase */
typedef struct {
    ngx_http_astro_cache_class_t *class;
    time_t                        ttl;          /* applied; -1: none */
    unsigned                      counted:1;
} ngx_http_astro_cache_ctx_t;


extern ngx_module_t  ngx_astro_cache_module;

/* whose keys zones astro_cache_invalidate's cache= names */
extern ngx_module_t  ngx_http_proxy_module;


/* src/ngx_astro_cache_conf.c */
char *ngx_http_astro_cache_zone_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_cache_zone_t *zone);
char *ngx_http_astro_cache_ttl_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_cache_class_t *class);
char *ngx_http_astro_cache_adaptive_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_cache_adaptive_t *adaptive);
void ngx_http_astro_cache_default_status(ngx_http_astro_cache_class_t *class);

#define ngx_http_astro_cache_status_in(class, code)                           \
    ((code) < 640 && ((class)->status[(code) >> 6] >> ((code) & 63) & 1))

/* src/ngx_astro_cache_zone.c */
ngx_int_t ngx_http_astro_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_http_astro_cache_class_t *ngx_http_astro_cache_class(
    ngx_http_astro_cache_zone_t *zone, ngx_str_t *name);
/* r's context, created empty: class NULL, ttl -1 */
ngx_http_astro_cache_ctx_t *ngx_http_astro_cache_ctx(ngx_http_request_t *r);
/*
 * The class that r's astro_cache names now (a class of $upstream_http_*
 * is empty before the response): "default" when the value names none.
 */
ngx_http_astro_cache_class_t *ngx_http_astro_cache_eval_class(
    ngx_http_request_t *r, ngx_http_astro_cache_loc_conf_t *lcf);
void ngx_http_astro_cache_count(ngx_http_astro_cache_class_t *class,
    ngx_uint_t what);
/* a class invalidation here: the generation after it */
ngx_atomic_uint_t ngx_http_astro_cache_bump(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class);
/* a generation seen elsewhere: kept if higher; 1 if it was */
ngx_uint_t ngx_http_astro_cache_gen_max(ngx_http_astro_cache_class_t *class,
    ngx_atomic_uint_t gen);
/* the churn shrink factor x 100 now (100: none) */
ngx_uint_t ngx_http_astro_cache_churn(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class);

/* src/ngx_astro_cache_filter.c, _log.c, _vars.c */
ngx_int_t ngx_http_astro_cache_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_astro_cache_log_init(ngx_conf_t *cf);
/* r's $astro_cache_status, a STATUS; _STATUS_N: proxy_cache did not look */
ngx_uint_t ngx_http_astro_cache_request_status(ngx_http_request_t *r);
ngx_int_t ngx_http_astro_cache_add_variables(ngx_conf_t *cf);

/* src/ngx_astro_cache_invalidate.c: the content handler */
ngx_int_t ngx_http_astro_cache_invalidate_handler(ngx_http_request_t *r);

/* src/ngx_astro_cache_purge.c: one entry of a proxy keys zone */
typedef struct {
    unsigned                      found:1;
    unsigned                      in_use:1;     /* left to its users */
    unsigned                      removed:1;    /* hard: found no more */
    unsigned                      expired:1;    /* soft: file rewritten */
    unsigned                      already:1;    /* soft: it was expired */
} ngx_http_astro_cache_purged_t;

ngx_int_t ngx_http_astro_cache_purge(ngx_shm_zone_t *cache, ngx_str_t *key,
    ngx_uint_t hard, ngx_log_t *log, ngx_http_astro_cache_purged_t *res);

/* src/ngx_astro_cache_redis.c; _conf() creates zone->redis of redis_url */
ngx_int_t ngx_http_astro_cache_redis_conf(ngx_conf_t *cf,
    ngx_http_astro_cache_zone_t *zone);
ngx_int_t ngx_http_astro_cache_init_worker(ngx_cycle_t *cycle);
void ngx_http_astro_cache_exit_worker(ngx_cycle_t *cycle);
/*
 * Publishes an invalidation done here (a class, or a key with its mode).
 * NGX_DECLINED: the zone has no Redis, the handler is not called;
 * otherwise handler(data, ok) is called exactly once, maybe before the
 * return (ok 0 at once when the circuit is open): ok 1 when Redis
 * took it.
 */
typedef void (*ngx_http_astro_cache_published_pt)(void *data, ngx_uint_t ok);
ngx_int_t ngx_http_astro_cache_publish_class(
    ngx_http_astro_cache_zone_t *zone, ngx_http_astro_cache_class_t *class,
    ngx_http_astro_cache_published_pt handler, void *data);
ngx_int_t ngx_http_astro_cache_publish_key(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *key, ngx_uint_t hard,
    ngx_http_astro_cache_published_pt handler, void *data);

/* src/ngx_astro_cache_status.c */
void ngx_http_astro_cache_json(ngx_astro_out_t *out, void *data);
void ngx_http_astro_cache_prometheus(ngx_astro_out_t *out, void *data);


#endif /* _NGX_ASTRO_CACHE_H_INCLUDED_ */
