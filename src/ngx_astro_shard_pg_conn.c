
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <poll.h>
#include "ngx_astro_socket.h"
#include "ngx_astro_shard_pg.h"


/*
 * libpq's connection on nginx's events, non-blocking only: the socket in
 * an ngx_connection_t, made again when libpq changes it; PQconnectPoll()
 * each time the socket is ready as it asked; the connect timeout (and the
 * queries', _pg_query.c) as a timer; a failure closes the connection, and
 * the holder's tick (src/ngx_astro_shard_pg.c) connects again after the
 * backoff.  After a (re)connect: LISTEN first, then the version.
 */


static void ngx_http_astro_shard_pg_connect_step(
    ngx_http_astro_shard_pg_t *pg);
static ngx_int_t ngx_http_astro_shard_pg_socket(
    ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_unwrap(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_connected(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_event_handler(ngx_event_t *ev);


/*
 * GSSAPI encryption may ask a KDC, blocking: off unless the conninfo, which
 * comes after it, says otherwise
 */
static const char *const  ngx_http_astro_shard_pg_keywords[] = {
    "gssencmode", "dbname", "fallback_application_name", NULL
};


/* PQconnectStartParams(): no DNS (src/ngx_astro_shard_conninfo.c) */

void
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

    ngx_astro_socket_unwrap(c);

    pg->c = NULL;
}


/* whether the socket is readable (POLLIN) or writable (POLLOUT) now */

ngx_int_t
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

ngx_int_t
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


void
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

void
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


void
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
