
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_HOT_H_INCLUDED_
#define _NGX_ASTRO_SHARD_HOT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"


/*
 * Hot shards (src/ngx_astro_shard_hot.c): a map's recent requests per
 * slot (hash) or per shard (range, list), over a sliding window of
 * NGX_HTTP_ASTRO_SHARD_HOT_WINDOW seconds, against each shard's share
 * of the slots or entries; what the status section shows of them.
 */


#define NGX_HTTP_ASTRO_SHARD_HOT_WINDOW   60      /* seconds */
#define NGX_HTTP_ASTRO_SHARD_HOT_RATIO    2.0     /* hot from this ratio */
#define NGX_HTTP_ASTRO_SHARD_HOT_MIN      50      /* recent requests, map */
#define NGX_HTTP_ASTRO_SHARD_HOT_SLOTS    10
#define NGX_HTTP_ASTRO_SHARD_PLAN_MAX     16      /* moves suggested */


/* a map's window in the zone: cur[nunits], then prev[nunits] */

typedef struct {
    uint32_t                     nunits;
    uint32_t                     strategy;
    uint64_t                     version;       /* range, list: of units */
    time_t                       start;         /* of the current window */
} ngx_http_astro_shard_sh_hot_t;


#define ngx_http_astro_shard_hot_cur(hot)                                    \
    ((uint32_t *) ((ngx_http_astro_shard_sh_hot_t *) (hot) + 1))


typedef struct {
    ngx_str_t                           name;
    ngx_str_t                           upstream;
    ngx_http_astro_shard_sh_counts_t   *counts;    /* NULL: none yet */
    double                              recent;    /* in the window */
    double                              share;     /* of slots, entries */
    double                              request_share;
    double                              ratio;     /* < 0: no share */
    ngx_uint_t                          hot;
} ngx_http_astro_shard_hot_shard_t;


typedef struct {
    uint32_t                            slot;
    uint32_t                            shard;     /* the one serving it */
    uint32_t                            to;        /* a move's */
    double                              recent;
} ngx_http_astro_shard_hot_slot_t;


typedef struct {
    ngx_astro_shard_table_t            *table;     /* the worker's copy */
    double                              total;     /* recent, all shards */
    ngx_uint_t                          nshards;
    ngx_http_astro_shard_hot_shard_t   *shards;    /* by the table's index */
    ngx_uint_t                          nslots;    /* hot slots */
    ngx_http_astro_shard_hot_slot_t     slots[NGX_HTTP_ASTRO_SHARD_HOT_SLOTS];
    ngx_uint_t                          nmoves;    /* the plan */
    ngx_http_astro_shard_hot_slot_t     moves[NGX_HTTP_ASTRO_SHARD_PLAN_MAX];
    double                              imbalance; /* most load / even load */
    double                              imbalance_after;  /* the plan's */
} ngx_http_astro_shard_hot_report_t;


/* src/ngx_astro_shard_hot.c */
/* a shard's counts by name, without a lock; NULL: none yet */
ngx_http_astro_shard_sh_counts_t *ngx_http_astro_shard_counts_find(
    ngx_http_astro_shard_sh_map_t *sh, ngx_str_t *name);
/* made when new, under the zone's mutex; NULL: no room */
ngx_http_astro_shard_sh_counts_t *ngx_http_astro_shard_counts_add_locked(
    ngx_slab_pool_t *shpool, ngx_http_astro_shard_sh_map_t *sh,
    ngx_str_t *name);
void ngx_http_astro_shard_hot_rotate(ngx_http_astro_shard_sh_hot_t *hot,
    time_t now);

/*
 * src/ngx_astro_shard_hot_report.c: the figures of a map now;
 * NGX_DECLINED when it has no table
 */
ngx_int_t ngx_http_astro_shard_hot_report(ngx_http_astro_shard_map_t *map,
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_astro_shard_hot_report_t *rep);


#endif /* _NGX_ASTRO_SHARD_HOT_H_INCLUDED_ */
