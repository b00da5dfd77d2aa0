
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_H_INCLUDED_
#define _NGX_ASTRO_SHARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_lease.h"
#include "ngx_astro_shard_table.h"


/*
 * ngx_astro_shard_module: a request's key picks a shard of a map, the
 * shard names an upstream block, $astro_shard_upstream names it to
 * proxy_pass.  A map is a table (src/ngx_astro_shard_table.h) built
 * from nginx.conf's astro_shard lines or read from PostgreSQL by one
 * worker of the node; the table in force lives in the shared zone and
 * each worker routes on a private copy, taken again when the zone's
 * generation of the map moves (one atomic load a request).
 *
 * Files:
 *   ngx_astro_shard_module.c   directives, configuration, phase handler
 *   src/ngx_astro_shard_conf.c the directives' parsing and checks
 *   src/ngx_astro_shard_conninfo.c postgres= checked: no host names
 *   src/ngx_astro_shard_conf_init.c the nginx.conf tables built
 *   src/ngx_astro_shard_zone.c the zone: tables, publishing, acquiring
 *   src/ngx_astro_shard_route.c a request's route, migration states
 *   src/ngx_astro_shard_vars.c variables
 *   src/ngx_astro_shard_pg.c   the PostgreSQL connection's lease
 *   src/ngx_astro_shard_pg_conn.c, _pg_query.c libpq on nginx's events
 *   src/ngx_astro_shard_pg_read.c the map's queries and rows
 *   src/ngx_astro_shard_hot.c  per-worker slot counts, hot shards, plan
 *   src/ngx_astro_shard_status.c the status section
 *   src/ngx_astro_shard_table.c, _hash.c, _key.c  pure C
 */


#define NGX_HTTP_ASTRO_SHARD_SOURCE_CONF      0
#define NGX_HTTP_ASTRO_SHARD_SOURCE_POSTGRES  1

/* access= */
#define NGX_HTTP_ASTRO_SHARD_ACCESS_AUTO   0
#define NGX_HTTP_ASTRO_SHARD_ACCESS_READ   1
#define NGX_HTTP_ASTRO_SHARD_ACCESS_WRITE  2
#define NGX_HTTP_ASTRO_SHARD_ACCESS_VAR    3

/* why a request was refused (counted by reason) */
#define NGX_HTTP_ASTRO_SHARD_REJECT_EMPTY     0    /* empty key */
#define NGX_HTTP_ASTRO_SHARD_REJECT_NO_SHARD  1    /* nothing matches */
#define NGX_HTTP_ASTRO_SHARD_REJECT_BAD_KEY   2    /* range: not a value */
#define NGX_HTTP_ASTRO_SHARD_REJECT_FROZEN    3    /* a write, frozen */
#define NGX_HTTP_ASTRO_SHARD_REJECT_NO_MAP    4    /* no table yet */
#define NGX_HTTP_ASTRO_SHARD_REJECTS          5

#define NGX_HTTP_ASTRO_SHARD_ERROR_LEN        256


typedef struct ngx_http_astro_shard_map_s   ngx_http_astro_shard_map_t;
typedef struct ngx_http_astro_shard_zone_s  ngx_http_astro_shard_zone_t;


/* a shard's counters in the zone, by its name: shards come and go */

typedef struct {
    ngx_str_t                    name;          /* slab memory */
    ngx_atomic_t                 requests;
    ngx_atomic_t                 reads;
    ngx_atomic_t                 writes;
    ngx_atomic_t                 errors;        /* 5xx of its upstream */
} ngx_http_astro_shard_sh_counts_t;


#define NGX_HTTP_ASTRO_SHARD_COUNTS_BLOCK     16

/*
 * The counters in blocks that are appended, never copied: an atomic add
 * of another worker never goes to a copy that is being replaced.
 */

typedef struct ngx_http_astro_shard_sh_block_s
    ngx_http_astro_shard_sh_block_t;

struct ngx_http_astro_shard_sh_block_s {
    ngx_http_astro_shard_sh_block_t  *next;
    ngx_atomic_t                      n;        /* set after the entry */
    ngx_http_astro_shard_sh_counts_t  counts[NGX_HTTP_ASTRO_SHARD_COUNTS_BLOCK];
};


/* a map in the zone (kept across reloads, found by name) */

typedef struct {
    ngx_queue_t                  queue;         /* zone's maps */
    u_char                       name[NGX_ASTRO_SHARD_MAX_NAME + 1];

    /* the table in force, slab memory; changed under the zone's mutex */
    ngx_astro_shard_table_t     *table;
    size_t                       size;
    ngx_atomic_t                 gen;           /* moved after a publish */
    uint64_t                     version;
    ngx_uint_t                   source;        /* _SOURCE_ */
    uint32_t                     conf_crc;      /* of the nginx.conf map */

    time_t                       published;     /* the table in force */
    time_t                       checked;       /* last good read */
    ngx_uint_t                   stale;         /* last read failed */
    ngx_uint_t                   listening;     /* LISTEN in force */
    time_t                       error_time;
    size_t                       error_len;
    u_char                       error[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];

    /* the PostgreSQL connection's holder: one worker of the node */
    ngx_astro_lease_t            lease;

    ngx_atomic_t                 refreshes;     /* tables read and taken */
    ngx_atomic_t                 refused;       /* tables read and wrong */
    /*
     * The last version refused, logged once a node, by the workers of
     * the configuration whose conf_gen is refused_gen (0: none): a newer
     * one may know the upstreams it named.
     */
    uint64_t                     refused_version;
    ngx_uint_t                   refused_gen;
    ngx_uint_t                   conf_gen;      /* moved at each (re)load */
    ngx_atomic_t                 failures;      /* reads that failed */
    ngx_atomic_t                 notifies;      /* NOTIFYs received */
    ngx_atomic_t                 connects;
    ngx_atomic_t                 rejects[NGX_HTTP_ASTRO_SHARD_REJECTS];

    /* hot slots: see src/ngx_astro_shard_hot.c */
    void                        *hot;
    ngx_http_astro_shard_sh_block_t  *counts;   /* slab, by name */
} ngx_http_astro_shard_sh_map_t;


typedef struct {
    ngx_queue_t                  maps;
} ngx_http_astro_shard_sh_t;


struct ngx_http_astro_shard_zone_s {
    ngx_str_t                    name;
    ngx_shm_zone_t              *shm_zone;
    ngx_slab_pool_t             *shpool;
    ngx_http_astro_shard_sh_t   *sh;
    ngx_array_t                  maps;  /* ngx_http_astro_shard_map_t * */
};


struct ngx_http_astro_shard_map_s {
    ngx_str_t                    name;
    ngx_astro_shard_rows_t       rows;          /* nginx.conf's */
    ngx_array_t                  shards;        /* ngx_astro_shard_row_t */
    ngx_array_t                  entries;   /* ngx_astro_shard_entry_row_t */

    ngx_str_t                    postgres;      /* conninfo, never logged */
    ngx_str_t                    prefix;        /* table=, of the tables */
    ngx_str_t                    listen;        /* channel, empty: off */
    ngx_msec_t                   refresh;
    ngx_msec_t                   timeout;

    /* built at configuration from rows; NULL if there are none */
    ngx_astro_shard_table_t     *conf_table;
    size_t                       conf_size;

    ngx_http_astro_shard_zone_t *zone;
    ngx_http_astro_shard_sh_map_t  *sh;
    ngx_uint_t                   conf_gen;      /* sh->conf_gen, this one's */

    /* the worker's own copy of the table in force, and its generation */
    ngx_astro_shard_table_t     *table;
    size_t                       table_size;
    ngx_atomic_uint_t            gen;

    void                        *pg;            /* the holder's connection */
    void                        *hot;           /* this worker's counts */

    u_char                      *file_name;
    ngx_uint_t                   line;
};


typedef struct {
    ngx_array_t                  zones;  /* ngx_http_astro_shard_zone_t * */
    ngx_array_t                  maps;   /* ngx_http_astro_shard_map_t * */
    ngx_array_t                  upstreams;     /* ngx_str_t, the known */
} ngx_http_astro_shard_main_conf_t;


typedef struct {
    ngx_http_astro_shard_map_t  *map;           /* NULL: off */
    ngx_http_complex_value_t    *key;
    ngx_uint_t                   access;
    ngx_http_complex_value_t    *access_value;  /* access=$var */
    ngx_uint_t                   replica;       /* astro_shard_reads */
    ngx_uint_t                   missing;       /* astro_shard_missing */
    ngx_uint_t                   key_set;       /* unsigned :1 */
} ngx_http_astro_shard_loc_conf_t;


/* a request's route, made once (phase handler or first variable) */

typedef struct {
    ngx_http_astro_shard_map_t  *map;
    ngx_str_t                    shard;
    ngx_str_t                    upstream;      /* replica or primary */
    ngx_int_t                    slot;          /* -1: none */
    ngx_uint_t                   state;
    uint64_t                     version;
    ngx_uint_t                   shard_index;
    ngx_uint_t                   status;        /* 0: routed, else refused */
    ngx_uint_t                   reason;        /* _REJECT_ when refused */
    unsigned                     write:1;
} ngx_http_astro_shard_ctx_t;


extern ngx_module_t  ngx_astro_shard_module;


/* src/ngx_astro_shard_conf.c: the directives */
char *ngx_http_astro_shard_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_astro_shard_map_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_astro_shard_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_astro_shard_key_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* src/ngx_astro_shard_conninfo.c: postgres= checked, never logged */
char *ngx_http_astro_shard_conninfo(ngx_conf_t *cf, ngx_str_t *s);

/* src/ngx_astro_shard_conf_init.c: tables built, upstreams checked */
ngx_int_t ngx_http_astro_shard_conf_init(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf);
/* whether name is an upstream block of this configuration */
ngx_uint_t ngx_http_astro_shard_known_upstream(
    ngx_http_astro_shard_main_conf_t *smcf, ngx_str_t *name);

/* src/ngx_astro_shard_zone.c */
ngx_http_astro_shard_zone_t *ngx_http_astro_shard_zone_add(ngx_conf_t *cf,
    ngx_str_t *name, size_t size);
/*
 * The worker's copy made current: one atomic load when it is; NGX_OK
 * with map->table set, NGX_DECLINED when the zone holds no table.
 */
ngx_int_t ngx_http_astro_shard_acquire(ngx_http_astro_shard_map_t *map,
    ngx_log_t *log);
/* a table (checked, upstreams known) made the one in force */
ngx_int_t ngx_http_astro_shard_publish(ngx_http_astro_shard_map_t *map,
    ngx_astro_shard_table_t *table, size_t size, ngx_uint_t source,
    ngx_log_t *log);
/* a failed read or a refused table: stale with the error, or not stale */
void ngx_http_astro_shard_error(ngx_http_astro_shard_map_t *map,
    const char *fmt, ...);
void ngx_http_astro_shard_ok(ngx_http_astro_shard_map_t *map);

/* src/ngx_astro_shard_route.c */
ngx_int_t ngx_http_astro_shard_handler(ngx_http_request_t *r);
ngx_http_astro_shard_ctx_t *ngx_http_astro_shard_route(
    ngx_http_request_t *r);

/* src/ngx_astro_shard_vars.c */
ngx_int_t ngx_http_astro_shard_add_variables(ngx_conf_t *cf);

/* src/ngx_astro_shard_pg.c: the holder's timer, one per map with postgres */
ngx_int_t ngx_http_astro_shard_pg_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_shard_map_t *map);
void ngx_http_astro_shard_pg_exit_worker(ngx_http_astro_shard_map_t *map);

/* src/ngx_astro_shard_hot.c */
ngx_int_t ngx_http_astro_shard_hot_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_shard_main_conf_t *smcf);
/* a routed request counted (log phase: its upstream's status known) */
ngx_int_t ngx_http_astro_shard_log_handler(ngx_http_request_t *r);

/* src/ngx_astro_shard_status.c */
ngx_int_t ngx_http_astro_shard_status_add(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf);


#endif /* _NGX_ASTRO_SHARD_H_INCLUDED_ */
