
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <poll.h>
#include "ngx_astro_shard_pg.h"


/*
 * A map's PostgreSQL connection, held by one worker of the node through
 * the lease in the map's record of the zone (as the cache's Redis sync,
 * src/ngx_astro_cache_sync.c): every worker's tick checks the lease, the
 * holder renews it, another takes it over when the holder is gone or
 * late.  libpq's non-blocking API only, on nginx's events: the socket in
 * an ngx_connection_t, connect and query timeouts as timers.  After a
 * (re)connect: LISTEN first, then the version, then the map when the
 * version moved; a NOTIFY or refresh= asks the version again.
 */


static void ngx_http_astro_shard_pg_tick(ngx_event_t *ev);
static void ngx_http_astro_shard_pg_hold(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_schedule(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_release(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_connect(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_connect_step(
    ngx_http_astro_shard_pg_t *pg);
static ngx_int_t ngx_http_astro_shard_pg_socket(
    ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_unwrap(ngx_http_astro_shard_pg_t *pg);
static ngx_int_t ngx_http_astro_shard_pg_ready(ngx_http_astro_shard_pg_t *pg,
    short events);
static ngx_int_t ngx_http_astro_shard_pg_wait(ngx_http_astro_shard_pg_t *pg,
    ngx_uint_t write);
static void ngx_http_astro_shard_pg_connected(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_refresh(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_send(ngx_http_astro_shard_pg_t *pg,
    ngx_uint_t kind, char *sql);
static void ngx_http_astro_shard_pg_flush(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_event_handler(ngx_event_t *ev);
static void ngx_http_astro_shard_pg_receive(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_notifies(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_done(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_idle(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_timeout(ngx_event_t *ev);
static void ngx_http_astro_shard_pg_fail(ngx_http_astro_shard_pg_t *pg,
    const char *what, const char *msg);
static void ngx_http_astro_shard_pg_close(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_clear(ngx_http_astro_shard_pg_t *pg);


/*
 * GSSAPI encryption may ask a KDC, blocking: off unless the conninfo, which
 * comes after it, says otherwise
 */
static const char *const  ngx_http_astro_shard_pg_keywords[] = {
    "gssencmode", "dbname", "fallback_application_name", NULL
};


ngx_int_t
ngx_http_astro_shard_pg_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_shard_map_t *map)
{
    ngx_http_astro_shard_pg_t  *pg;

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || map->postgres.len == 0 || map->sh == NULL)
    {
        return NGX_OK;
    }

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_astro_shard_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    /* libpq wants the conninfo NUL-terminated */

    pg->conninfo = ngx_pnalloc(cycle->pool, map->postgres.len + 1);
    if (pg->conninfo == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(pg->conninfo, map->postgres.data, map->postgres.len);
    pg->conninfo[map->postgres.len] = '\0';

    pg->map = map;
    pg->smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                   ngx_astro_shard_module);
    pg->log = cycle->log;
    pg->backoff = NGX_HTTP_ASTRO_SHARD_PG_BACKOFF;

    pg->tick.handler = ngx_http_astro_shard_pg_tick;
    pg->tick.data = pg;
    pg->tick.log = cycle->log;
    pg->tick.cancelable = 1;

    pg->timeout.handler = ngx_http_astro_shard_pg_timeout;
    pg->timeout.data = pg;
    pg->timeout.log = cycle->log;
    pg->timeout.cancelable = 1;

    map->pg = pg;

    /* the workers race for the lease at once */
    ngx_add_timer(&pg->tick, 1);

    return NGX_OK;
}


/* the lease is given back at once: another worker takes it at its tick */

void
ngx_http_astro_shard_pg_exit_worker(ngx_http_astro_shard_map_t *map)
{
    ngx_http_astro_shard_pg_t  *pg;

    pg = map->pg;

    if (pg == NULL) {
        return;
    }

    if (pg->tick.timer_set) {
        ngx_del_timer(&pg->tick);
    }

    ngx_http_astro_shard_pg_release(pg);
}


/*
 * The lease: the holder renews it; another worker takes it when it is
 * free, not renewed in time or its holder is gone (killed); a holder that
 * finds it taken (it was late) lets the connection go.
 */

static void
ngx_http_astro_shard_pg_tick(ngx_event_t *ev)
{
    ngx_http_astro_shard_pg_t *pg = ev->data;

    ngx_pid_t                       pid;
    ngx_http_astro_shard_sh_map_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_astro_shard_pg_release(pg);
        return;
    }

    sh = pg->map->sh;
    pid = (ngx_pid_t) sh->lease_pid;
    ngx_memory_barrier();

    if (pid == ngx_pid) {
        pg->holder = 1;
        ngx_http_astro_shard_pg_hold(pg);

    } else if (pid == 0
               || (time_t) sh->lease_until < ngx_time()
               || (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        /*
         * The lease's time before its pid: a worker that sees the new
         * pid sees the time too, and does not take a lease just taken
         * as one that was not renewed (a loser only lengthens it).
         */

        sh->lease_until = ngx_time() + NGX_HTTP_ASTRO_SHARD_PG_LEASE;
        ngx_memory_barrier();

        if (ngx_atomic_cmp_set(&sh->lease_pid, (ngx_atomic_uint_t) pid,
                               (ngx_atomic_uint_t) ngx_pid))
        {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "astro_shard_map \"%V\": this worker reads "
                          "postgres (the lease of %P)", &pg->map->name, pid);

            pg->holder = 1;
            ngx_http_astro_shard_pg_hold(pg);
        }

    } else if (pg->holder) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "astro_shard_map \"%V\": worker %P took postgres over",
                      &pg->map->name, pid);

        pg->holder = 0;
        ngx_http_astro_shard_pg_close(pg);
    }

    ngx_http_astro_shard_pg_schedule(pg);
}


/* the holder: the lease renewed, a connection made, the refresh if due */

static void
ngx_http_astro_shard_pg_hold(ngx_http_astro_shard_pg_t *pg)
{
    pg->map->sh->lease_until = ngx_time() + NGX_HTTP_ASTRO_SHARD_PG_LEASE;

    switch (pg->state) {

    case NGX_HTTP_ASTRO_SHARD_PG_IDLE:
        if ((ngx_msec_int_t) (ngx_current_msec - pg->next_connect) >= 0) {
            ngx_http_astro_shard_pg_connect(pg);
        }

        break;

    case NGX_HTTP_ASTRO_SHARD_PG_READY:
        if (pg->notified
            || (ngx_msec_int_t) (ngx_current_msec - pg->next_refresh) >= 0)
        {
            ngx_http_astro_shard_pg_refresh(pg);
        }

        break;

    default:
        /* connecting or a query in flight: its own timer */
        break;
    }
}


/* the next tick: at most a second, sooner for the holder's next step */

static void
ngx_http_astro_shard_pg_schedule(ngx_http_astro_shard_pg_t *pg)
{
    ngx_msec_int_t  tick, left;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    tick = NGX_HTTP_ASTRO_SHARD_PG_TICK;

    if (pg->holder) {
        left = tick;

        if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_IDLE) {
            left = (ngx_msec_int_t) (pg->next_connect - ngx_current_msec);

        } else if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_READY) {
            left = (ngx_msec_int_t) (pg->next_refresh - ngx_current_msec);
        }

        tick = ngx_max(ngx_min(tick, left), 1);
    }

    ngx_add_timer(&pg->tick, (ngx_msec_t) tick);
}


/* by the holder that exits or lost the lease */

static void
ngx_http_astro_shard_pg_release(ngx_http_astro_shard_pg_t *pg)
{
    ngx_http_astro_shard_sh_map_t  *sh;

    ngx_http_astro_shard_pg_close(pg);

    sh = pg->map->sh;
    pg->holder = 0;

    if (ngx_atomic_cmp_set(&sh->lease_pid, (ngx_atomic_uint_t) ngx_pid, 0)) {
        sh->lease_until = 0;
        sh->listening = 0;
    }
}


/* PQconnectStartParams(): no DNS (hostaddr only, checked at nginx -t) */

static void
ngx_http_astro_shard_pg_connect(ngx_http_astro_shard_pg_t *pg)
{
    const char  *values[4];

    values[0] = "disable";
    values[1] = pg->conninfo;
    values[2] = "nginx astro_shard";
    values[3] = NULL;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "astro_shard: map \"%V\": connecting to postgres",
                   &pg->map->name);

    pg->conn = PQconnectStartParams(ngx_http_astro_shard_pg_keywords,
                                    values, 1);

    if (pg->conn == NULL) {
        ngx_http_astro_shard_pg_fail(pg, "connect", "out of memory");
        return;
    }

    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        ngx_http_astro_shard_pg_fail(pg, "connect",
                                     PQerrorMessage(pg->conn));
        return;
    }

    pg->state = NGX_HTTP_ASTRO_SHARD_PG_CONNECTING;

    /* as if PQconnectPoll() had said PGRES_POLLING_WRITING */
    pg->poll = PGRES_POLLING_WRITING;

    ngx_add_timer(&pg->timeout, pg->map->timeout);

    ngx_http_astro_shard_pg_connect_step(pg);
}


/*
 * PQconnectPoll() each time the socket is ready the way it asked for; its
 * readiness is asked of poll() too, as edge-triggered events do not come
 * again for a socket that was ready before it was asked about.
 */

static void
ngx_http_astro_shard_pg_connect_step(ngx_http_astro_shard_pg_t *pg)
{
    ngx_uint_t                 n, write, ssl;
    PostgresPollingStatusType  rc;

    ssl = 0;

    for (n = 0; n < 16; n++) {

        if (ngx_http_astro_shard_pg_socket(pg) != NGX_OK) {
            return;
        }

        write = (pg->poll == PGRES_POLLING_WRITING);

        /*
         * OpenSSL may hold the rest of a record the socket no longer has:
         * a read that finds nothing only says PGRES_POLLING_READING again
         */

        if (!ngx_http_astro_shard_pg_ready(pg, write ? POLLOUT : POLLIN)
            && (write || !PQsslInUse(pg->conn) || ssl++ == 2))
        {
            (void) ngx_http_astro_shard_pg_wait(pg, write);
            return;
        }

        rc = PQconnectPoll(pg->conn);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                       "astro_shard: map \"%V\": PQconnectPoll: %d",
                       &pg->map->name, (int) rc);

        switch (rc) {

        case PGRES_POLLING_FAILED:
            ngx_http_astro_shard_pg_fail(pg, "connect",
                                         PQerrorMessage(pg->conn));
            return;

        case PGRES_POLLING_OK:
            ngx_http_astro_shard_pg_connected(pg);
            return;

        default:
            pg->poll = rc;
        }
    }

    /* another turn of the event loop first */
    ngx_post_event(pg->c->write, &ngx_posted_events);
}


/*
 * The nginx connection around PQsocket(), made again when libpq changed
 * its socket (another address, a retry without SSL): the old one was
 * closed, and epoll forgot it, maybe under the same number, hence the
 * inode.
 */

static ngx_int_t
ngx_http_astro_shard_pg_socket(ngx_http_astro_shard_pg_t *pg)
{
    int                fd;
    struct stat        st;
    ngx_connection_t  *c;

    fd = PQsocket(pg->conn);

    if (fd == -1) {
        ngx_http_astro_shard_pg_fail(pg, "connect", "no socket");
        return NGX_ERROR;
    }

    if (fstat(fd, &st) == -1) {
        ngx_http_astro_shard_pg_fail(pg, "connect", strerror(ngx_errno));
        return NGX_ERROR;
    }

    if (pg->c && pg->c->fd == fd && pg->ino == st.st_ino) {
        return NGX_OK;
    }

    ngx_http_astro_shard_pg_unwrap(pg);

    c = ngx_get_connection(fd, pg->log);
    if (c == NULL) {
        ngx_http_astro_shard_pg_fail(pg, "connect", "no free connection");
        return NGX_ERROR;
    }

    c->data = pg;
    c->log = pg->log;
    c->read->log = pg->log;
    c->write->log = pg->log;
    c->read->handler = ngx_http_astro_shard_pg_event_handler;
    c->write->handler = ngx_http_astro_shard_pg_event_handler;

    pg->c = c;
    pg->ino = st.st_ino;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "astro_shard: map \"%V\": postgres socket %d",
                   &pg->map->name, fd);

    return ngx_http_astro_shard_pg_wait(pg, 1);
}


/* the nginx connection let go; the socket is libpq's to close */

static void
ngx_http_astro_shard_pg_unwrap(ngx_http_astro_shard_pg_t *pg)
{
    ngx_connection_t  *c;

    c = pg->c;

    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    pg->c = NULL;
}


/* whether the socket is readable (POLLIN) or writable (POLLOUT) now */

static ngx_int_t
ngx_http_astro_shard_pg_ready(ngx_http_astro_shard_pg_t *pg, short events)
{
    struct pollfd  pfd;

    pfd.fd = pg->c->fd;
    pfd.events = events;
    pfd.revents = 0;

    if (poll(&pfd, 1, 0) <= 0) {
        return 0;
    }

    /* an error or a hang-up: libpq reads or writes, and says so */
    return pfd.revents != 0;
}


/* the events wanted, registered (edge-triggered with epoll) */

static ngx_int_t
ngx_http_astro_shard_pg_wait(ngx_http_astro_shard_pg_t *pg, ngx_uint_t write)
{
    ngx_connection_t  *c;

    c = pg->c;

    c->read->ready = 0;
    c->write->ready = write ? 0 : 1;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK
        || ngx_handle_write_event(c->write, 0) != NGX_OK)
    {
        ngx_http_astro_shard_pg_fail(pg, "connect", "events not added");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_astro_shard_pg_connected(ngx_http_astro_shard_pg_t *pg)
{
    ngx_http_astro_shard_map_t  *map;

    map = pg->map;

    if (pg->timeout.timer_set) {
        ngx_del_timer(&pg->timeout);
    }

    if (PQsetnonblocking(pg->conn, 1) == -1) {
        ngx_http_astro_shard_pg_fail(pg, "connect", PQerrorMessage(pg->conn));
        return;
    }

    if (ngx_http_astro_shard_pg_queries(pg) != NGX_OK) {
        ngx_http_astro_shard_pg_fail(pg, "connect", (char *) pg->err);
        return;
    }

    (void) ngx_atomic_fetch_add(&map->sh->connects, 1);

    pg->state = NGX_HTTP_ASTRO_SHARD_PG_READY;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "astro_shard: map \"%V\": connected, listen \"%V\"",
                   &map->name, &map->listen);

    /* notifications were lost while disconnected: LISTEN, then read */

    pg->notified = 0;

    if (pg->listen_sql) {
        ngx_http_astro_shard_pg_send(pg, NGX_HTTP_ASTRO_SHARD_PG_LISTEN,
                                     pg->listen_sql);
        return;
    }

    ngx_http_astro_shard_pg_refresh(pg);
}


static void
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

static void
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

static void
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


/* either way, connecting: PQconnectPoll() says what it waits for */

static void
ngx_http_astro_shard_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_astro_shard_pg_t  *pg;

    c = ev->data;
    pg = c->data;

    if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_CONNECTING) {
        ngx_http_astro_shard_pg_connect_step(pg);
        return;
    }

    if (!ev->write) {
        ngx_http_astro_shard_pg_receive(pg);
        return;
    }

    if (pg->flushing) {
        ngx_http_astro_shard_pg_flush(pg);
    }
}


/*
 * What the server sent: results of the query, notifications; read until
 * the socket has nothing more (PQconsumeInput() may leave some, and an
 * edge-triggered event would not come again for it).
 */

static void
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

        /* as in connect_step(): OpenSSL's buffer, then the socket */

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


static void
ngx_http_astro_shard_pg_timeout(ngx_event_t *ev)
{
    ngx_http_astro_shard_pg_t *pg = ev->data;

    ngx_http_astro_shard_pg_fail(pg,
             pg->state == NGX_HTTP_ASTRO_SHARD_PG_CONNECTING
             ? "connect" : "query", "timed out");
}


/*
 * A failure: the connection closed, the map stale with the error (libpq's
 * messages name the server, never the password), logged when it is not
 * the last one logged, another try after the backoff.
 */

static void
ngx_http_astro_shard_pg_fail(ngx_http_astro_shard_pg_t *pg, const char *what,
    const char *msg)
{
    u_char                      *p, *q, *last;
    u_char                       buf[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];
    ngx_http_astro_shard_map_t  *map;

    map = pg->map;

    /*
     * libpq's message (maybe in pg->err, or the connection's: copied
     * before the connection goes) on one line, its white space runs one
     * space
     */

    last = ngx_snprintf(buf, sizeof(buf) - 1, "%s: %s", what, msg);

    for (p = buf, q = buf; p < last; p++) {
        if (*p == '\n' || *p == '\t' || *p == ' ') {
            if (q > buf && q[-1] == ' ') {
                continue;
            }

            *q++ = ' ';
            continue;
        }

        *q++ = *p;
    }

    if (q > buf && q[-1] == ' ') {
        q--;
    }

    *q = '\0';

    ngx_http_astro_shard_pg_close(pg);

    (void) ngx_atomic_fetch_add(&map->sh->failures, 1);
    ngx_http_astro_shard_error(map, "%s", buf);

    if (ngx_strcmp(buf, pg->logged) != 0) {
        ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                      "astro_shard_map \"%V\": postgres %s, the map in "
                      "force stays", &map->name, buf);
        ngx_cpystrn(pg->logged, buf, sizeof(pg->logged));

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                       "astro_shard: map \"%V\": postgres %s",
                       &map->name, buf);
    }

    pg->next_connect = ngx_current_msec + pg->backoff;

    if (pg->holder && pg->tick.timer_set) {
        ngx_add_timer(&pg->tick, pg->backoff);
    }

    pg->backoff = ngx_min(pg->backoff * 2, NGX_HTTP_ASTRO_SHARD_PG_BACKOFF_MAX);
}


static void
ngx_http_astro_shard_pg_close(ngx_http_astro_shard_pg_t *pg)
{
    if (pg->timeout.timer_set) {
        ngx_del_timer(&pg->timeout);
    }

    ngx_http_astro_shard_pg_clear(pg);
    ngx_http_astro_shard_pg_unwrap(pg);

    if (pg->conn) {
        PQfinish(pg->conn);
        pg->conn = NULL;

        if (pg->holder) {
            pg->map->sh->listening = 0;
        }
    }

    ngx_http_astro_shard_pg_free_queries(pg);

    pg->state = NGX_HTTP_ASTRO_SHARD_PG_IDLE;
    pg->flushing = 0;
}


static void
ngx_http_astro_shard_pg_clear(ngx_http_astro_shard_pg_t *pg)
{
    ngx_uint_t  i;

    for (i = 0; i < pg->nresults; i++) {
        PQclear(pg->results[i]);
    }

    pg->nresults = 0;
}
