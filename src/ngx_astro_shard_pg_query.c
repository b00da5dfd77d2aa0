
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <poll.h>
#include "ngx_astro_shard_pg.h"


/*
 * A query's round trip on the connection: PQsendQuery(), PQflush() while
 * the socket takes it, PQconsumeInput() until the results are in, and the
 * notifications that came meanwhile; then the next step: after LISTEN the
 * version, after the version the map when it moved (the SQL and the rows:
 * src/ngx_astro_shard_pg_read.c), then the next refresh, sooner on a
 * NOTIFY.
 */


static void ngx_http_astro_shard_pg_notifies(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_done(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_idle(ngx_http_astro_shard_pg_t *pg);


void
ngx_http_astro_shard_pg_refresh(ngx_http_astro_shard_pg_t *pg)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "astro_shard: map \"%V\": version check%s",
                   &pg->map->name, pg->notified ? ", notified" : "");

    pg->notified = 0;

    ngx_http_astro_shard_pg_send(pg, NGX_HTTP_ASTRO_SHARD_PG_VERSION,
                                 pg->version_sql);
}


/* PQsendQuery(), all its results before the timeout */

void
ngx_http_astro_shard_pg_send(ngx_http_astro_shard_pg_t *pg, ngx_uint_t kind,
    char *sql)
{
    if (!PQsendQuery(pg->conn, sql)) {
        ngx_http_astro_shard_pg_fail(pg, "query", PQerrorMessage(pg->conn));
        return;
    }

    pg->state = NGX_HTTP_ASTRO_SHARD_PG_QUERY;
    pg->kind = kind;
    pg->nresults = 0;

    ngx_add_timer(&pg->timeout, pg->map->timeout);

    ngx_http_astro_shard_pg_flush(pg);
}


/* PQflush() until it is done; 1: the rest when the socket is writable */

void
ngx_http_astro_shard_pg_flush(ngx_http_astro_shard_pg_t *pg)
{
    switch (PQflush(pg->conn)) {

    case 0:
        pg->flushing = 0;
        pg->c->write->ready = 1;
        break;

    case 1:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                       "astro_shard: map \"%V\": flush again",
                       &pg->map->name);

        pg->flushing = 1;
        (void) ngx_http_astro_shard_pg_wait(pg, 1);
        break;

    default:
        ngx_http_astro_shard_pg_fail(pg, "query", PQerrorMessage(pg->conn));
    }
}


/*
 * What the server sent: results of the query, notifications; read until
 * the socket has nothing more (PQconsumeInput() may leave some, and an
 * edge-triggered event would not come again for it).
 */

void
ngx_http_astro_shard_pg_receive(ngx_http_astro_shard_pg_t *pg)
{
    ngx_uint_t   n, ssl;
    PGresult    *res;

    ssl = 0;

    for (n = 0; n < 64; n++) {

        if (!PQconsumeInput(pg->conn)) {
            ngx_http_astro_shard_pg_fail(pg, "read", PQerrorMessage(pg->conn));
            return;
        }

        if (pg->flushing) {
            ngx_http_astro_shard_pg_flush(pg);

            if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_IDLE) {
                return;
            }
        }

        ngx_http_astro_shard_pg_notifies(pg);

        if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_IDLE) {
            return;
        }

        while (pg->state == NGX_HTTP_ASTRO_SHARD_PG_QUERY
               && !pg->flushing && !PQisBusy(pg->conn))
        {
            res = PQgetResult(pg->conn);

            if (res == NULL) {
                ngx_http_astro_shard_pg_done(pg);

                if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_IDLE) {
                    return;
                }

                continue;
            }

            if (pg->nresults == NGX_HTTP_ASTRO_SHARD_PG_RESULTS) {
                PQclear(res);
                continue;
            }

            pg->results[pg->nresults++] = res;
        }

        /* as in _pg_conn.c's connect_step(): OpenSSL's, then the socket */

        if (!ngx_http_astro_shard_pg_ready(pg, POLLIN)
            && (!PQsslInUse(pg->conn) || ssl++ == 2))
        {
            (void) ngx_http_astro_shard_pg_wait(pg, pg->flushing);
            return;
        }
    }

    ngx_post_event(pg->c->read, &ngx_posted_events);
}


/* any NOTIFY on the channel asks for the version (the payload: a map) */

static void
ngx_http_astro_shard_pg_notifies(ngx_http_astro_shard_pg_t *pg)
{
    PGnotify  *notify;

    while ((notify = PQnotifies(pg->conn)) != NULL) {

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                       "astro_shard: map \"%V\": notified on \"%s\": \"%s\"",
                       &pg->map->name, notify->relname, notify->extra);

        PQfreemem(notify);

        (void) ngx_atomic_fetch_add(&pg->map->sh->notifies, 1);
        pg->notified = 1;
    }

    if (pg->notified && pg->state == NGX_HTTP_ASTRO_SHARD_PG_READY) {
        ngx_http_astro_shard_pg_refresh(pg);
    }
}


/* a query's results all in: the next step */

static void
ngx_http_astro_shard_pg_done(ngx_http_astro_shard_pg_t *pg)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    uint64_t                        version;
    ExecStatusType                  status;
    ngx_http_astro_shard_sh_map_t  *sh;

    if (pg->timeout.timer_set) {
        ngx_del_timer(&pg->timeout);
    }

    pg->state = NGX_HTTP_ASTRO_SHARD_PG_READY;
    sh = pg->map->sh;

    for (i = 0; i < pg->nresults; i++) {
        status = PQresultStatus(pg->results[i]);

        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            /* an error in a transaction: the connection is made again */
            ngx_http_astro_shard_pg_fail(pg, "query",
                                   PQresultErrorMessage(pg->results[i]));
            return;
        }
    }

    switch (pg->kind) {

    case NGX_HTTP_ASTRO_SHARD_PG_LISTEN:
        sh->listening = 1;
        ngx_http_astro_shard_pg_clear(pg);
        ngx_http_astro_shard_pg_refresh(pg);
        return;

    case NGX_HTTP_ASTRO_SHARD_PG_VERSION:
        /* set only on NGX_OK; clang's -Wconditional-uninitialized */
        version = 0;

        rc = pg->nresults == 1
             ? ngx_http_astro_shard_pg_version(pg, pg->results[0], &version)
             : NGX_ERROR;

        ngx_http_astro_shard_pg_clear(pg);

        if (rc != NGX_OK) {
            ngx_http_astro_shard_pg_fail(pg, "read", (char *) pg->err);
            return;
        }

        pg->backoff = NGX_HTTP_ASTRO_SHARD_PG_BACKOFF;

        if (sh->source == NGX_HTTP_ASTRO_SHARD_SOURCE_POSTGRES
            && sh->version == version)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                           "astro_shard: map \"%V\": version %uL in force",
                           &pg->map->name, version);

            ngx_http_astro_shard_ok(pg->map);
            break;
        }

        if (sh->refused_gen == pg->map->conf_gen
            && sh->refused_version == version)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                           "astro_shard: map \"%V\": version %uL refused "
                           "before", &pg->map->name, version);
            break;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                       "astro_shard: map \"%V\": version %uL, %uL in force, "
                       "reads the map", &pg->map->name, version, sh->version);

        ngx_http_astro_shard_pg_send(pg, NGX_HTTP_ASTRO_SHARD_PG_READ,
                                     pg->read_sql);
        return;

    default: /* NGX_HTTP_ASTRO_SHARD_PG_READ */
        rc = ngx_http_astro_shard_pg_take(pg);

        ngx_http_astro_shard_pg_clear(pg);

        if (rc == NGX_ERROR) {
            (void) ngx_atomic_fetch_add(&sh->failures, 1);
        }
    }

    ngx_http_astro_shard_pg_idle(pg);
}


/* no query in flight: the next refresh, at once when notified meanwhile */

static void
ngx_http_astro_shard_pg_idle(ngx_http_astro_shard_pg_t *pg)
{
    ngx_msec_t  refresh;

    refresh = pg->map->refresh;
    pg->next_refresh = ngx_current_msec + refresh;

    if (pg->notified) {
        ngx_http_astro_shard_pg_refresh(pg);
        return;
    }

    if (pg->tick.timer_set
        && (ngx_msec_int_t) (pg->tick.timer.key - pg->next_refresh) > 0)
    {
        ngx_add_timer(&pg->tick, refresh);
    }
}


void
ngx_http_astro_shard_pg_clear(ngx_http_astro_shard_pg_t *pg)
{
    ngx_uint_t  i;

    for (i = 0; i < pg->nresults; i++) {
        PQclear(pg->results[i]);
    }

    pg->nresults = 0;
}
