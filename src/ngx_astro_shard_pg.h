
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_PG_H_INCLUDED_
#define _NGX_ASTRO_SHARD_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>
#include "ngx_astro_shard.h"


/*
 * What the files of a map's PostgreSQL connection share: its state in
 * one worker, map->pg.  Calls go down: the lease (src/ngx_astro_shard_pg.c)
 * to the connection (_pg_conn.c) and its queries (_pg_query.c), which
 * call each other (connected: the first query; a query: a failure), and
 * those to the SQL and its rows (_pg_read.c).
 */


#define NGX_HTTP_ASTRO_SHARD_PG_TICK       1000    /* ms, lease checks */
#define NGX_HTTP_ASTRO_SHARD_PG_LEASE      3       /* s, not renewed */
#define NGX_HTTP_ASTRO_SHARD_PG_BACKOFF    100     /* ms, first retry */
#define NGX_HTTP_ASTRO_SHARD_PG_BACKOFF_MAX  5000  /* ms */
#define NGX_HTTP_ASTRO_SHARD_PG_RESULTS    8       /* of one query */

/* the connection */
#define NGX_HTTP_ASTRO_SHARD_PG_IDLE       0       /* none */
#define NGX_HTTP_ASTRO_SHARD_PG_CONNECTING 1
#define NGX_HTTP_ASTRO_SHARD_PG_READY      2       /* no query */
#define NGX_HTTP_ASTRO_SHARD_PG_QUERY      3

/* the query in flight */
#define NGX_HTTP_ASTRO_SHARD_PG_LISTEN     0
#define NGX_HTTP_ASTRO_SHARD_PG_VERSION    1
#define NGX_HTTP_ASTRO_SHARD_PG_READ       2


typedef struct {
    ngx_http_astro_shard_map_t        *map;
    ngx_http_astro_shard_main_conf_t  *smcf;
    ngx_log_t                         *log;

    char                              *conninfo;    /* never logged */

    ngx_event_t                        tick;        /* lease, refresh */
    ngx_event_t                        timeout;     /* connect, query */

    PGconn                            *conn;
    ngx_connection_t                  *c;           /* around PQsocket() */
    ino_t                              ino;         /* of c's socket */
    ngx_uint_t                         state;
    ngx_uint_t                         poll;        /* PQconnectPoll()'s */
    ngx_uint_t                         kind;        /* of the query */
    ngx_uint_t                         flushing;    /* PQflush() said 1 */
    ngx_uint_t                         notified;    /* a NOTIFY came */
    ngx_uint_t                         holder;      /* of the lease */

    PGresult                          *results[NGX_HTTP_ASTRO_SHARD_PG_RESULTS];
    ngx_uint_t                         nresults;

    /* the queries, made for the connection (its escaping) */
    char                              *listen_sql;
    char                              *version_sql;
    char                              *read_sql;

    ngx_msec_t                         backoff;
    ngx_msec_t                         next_connect;
    ngx_msec_t                         next_refresh;

    uint64_t                           version;     /* the last read */

    u_char                             err[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];
    u_char                             logged[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];
} ngx_http_astro_shard_pg_t;


/* src/ngx_astro_shard_pg_conn.c */
/* PQconnectStartParams(), then PQconnectPoll() on the socket's events */
void ngx_http_astro_shard_pg_connect(ngx_http_astro_shard_pg_t *pg);
/* the handler of pg->timeout: connecting, or a query */
void ngx_http_astro_shard_pg_timeout(ngx_event_t *ev);
/* 1: the socket is readable (POLLIN) or writable (POLLOUT) now */
ngx_int_t ngx_http_astro_shard_pg_ready(ngx_http_astro_shard_pg_t *pg,
    short events);
/* the socket's events registered: readable, and writable if write */
ngx_int_t ngx_http_astro_shard_pg_wait(ngx_http_astro_shard_pg_t *pg,
    ngx_uint_t write);
/* the connection closed, the map stale with the error, a retry later */
void ngx_http_astro_shard_pg_fail(ngx_http_astro_shard_pg_t *pg,
    const char *what, const char *msg);
void ngx_http_astro_shard_pg_close(ngx_http_astro_shard_pg_t *pg);

/* src/ngx_astro_shard_pg_query.c */
/* the version asked for (notified or refresh= due) */
void ngx_http_astro_shard_pg_refresh(ngx_http_astro_shard_pg_t *pg);
void ngx_http_astro_shard_pg_send(ngx_http_astro_shard_pg_t *pg,
    ngx_uint_t kind, char *sql);
/* the rest of a query written, when the socket is writable */
void ngx_http_astro_shard_pg_flush(ngx_http_astro_shard_pg_t *pg);
/* the socket readable: results, notifications */
void ngx_http_astro_shard_pg_receive(ngx_http_astro_shard_pg_t *pg);
/* the results kept so far freed */
void ngx_http_astro_shard_pg_clear(ngx_http_astro_shard_pg_t *pg);

/* src/ngx_astro_shard_pg_read.c */
ngx_int_t ngx_http_astro_shard_pg_queries(ngx_http_astro_shard_pg_t *pg);
void ngx_http_astro_shard_pg_free_queries(ngx_http_astro_shard_pg_t *pg);
/* the version in the result: NGX_OK, or NGX_ERROR with pg->err set */
ngx_int_t ngx_http_astro_shard_pg_version(ngx_http_astro_shard_pg_t *pg,
    PGresult *res, uint64_t *version);
/*
 * The whole map's results made a table and published: NGX_OK; refused
 * (a defect, logged once per version): NGX_DECLINED; the read failed:
 * NGX_ERROR; pg->err says why.
 */
ngx_int_t ngx_http_astro_shard_pg_take(ngx_http_astro_shard_pg_t *pg);


#endif /* _NGX_ASTRO_SHARD_PG_H_INCLUDED_ */
