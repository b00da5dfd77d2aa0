
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/*
 * The adapter: hiredis's read and write hooks on nginx's level-triggered
 * events, as slact/nchan's redis_nginx_adapter.c does.  The pool sets
 * the connect callback and the cleanup hook, and calls
 * ngx_astro_redis_detach() from the latter.
 */


static void ngx_astro_redis_add_read(void *privdata);
static void ngx_astro_redis_del_read(void *privdata);
static void ngx_astro_redis_add_write(void *privdata);
static void ngx_astro_redis_del_write(void *privdata);
static void ngx_astro_redis_flush_handler(ngx_event_t *ev);
static void ngx_astro_redis_read_handler(ngx_event_t *ev);
static void ngx_astro_redis_write_handler(ngx_event_t *ev);


/*
 * A context connecting to the server, its socket on nginx's events; NULL
 * when it cannot be made (logged and counted, "what" before the error).
 */

redisAsyncContext *
ngx_astro_redis_open(ngx_astro_redis_conn_t *conn, const char *what)
{
    redisAsyncContext  *ac;
    ngx_astro_redis_t  *rd;

    rd = conn->redis;

    /*
     * a numeric address or a path: hiredis 0.14 passes the address through
     * getaddrinfo(), which for a numeric host and port only parses them,
     * with no lookup (there is no connect-by-sockaddr in its async API)
     */

    if (rd->port) {
        ac = redisAsyncConnect(rd->host, rd->port);

    } else {
        ac = redisAsyncConnectUnix(rd->host);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "%V: redis %V: %sno memory for a connection",
                      &rd->tag, &rd->name, what);
        return NULL;
    }

    if (ac->err) {
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_CONNECT,
                              "%sconnect failed: %s", what, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    if (ngx_astro_redis_attach(conn, ac) != NGX_OK) {
        redisAsyncFree(ac);
        return NULL;
    }

    return ac;
}


/* an nginx connection around the context's socket */

ngx_int_t
ngx_astro_redis_attach(ngx_astro_redis_conn_t *conn, redisAsyncContext *ac)
{
    ngx_event_t         *rev, *wev;
    ngx_connection_t    *c;
    ngx_astro_redis_t   *rd;

    rd = conn->redis;

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = conn;

    rev = c->read;
    wev = c->write;

    rev->handler = ngx_astro_redis_read_handler;
    wev->handler = ngx_astro_redis_write_handler;
    rev->log = rd->log;
    wev->log = rd->log;

    conn->c = c;

    conn->flush.handler = ngx_astro_redis_flush_handler;
    conn->flush.data = conn;
    conn->flush.log = rd->log;

    ac->ev.data = conn;
    ac->ev.addRead = ngx_astro_redis_add_read;
    ac->ev.delRead = ngx_astro_redis_del_read;
    ac->ev.addWrite = ngx_astro_redis_add_write;
    ac->ev.delWrite = ngx_astro_redis_del_write;

    return NGX_OK;
}


/*
 * hiredis frees the context, after it answered the pending commands with
 * NULL, and closes the socket next: the events go with it.
 */

void
ngx_astro_redis_detach(ngx_astro_redis_conn_t *conn)
{
    ngx_connection_t  *c;

    c = conn->c;

    if (c == NULL) {
        return;
    }

    if (conn->flush.posted) {
        ngx_delete_posted_event(&conn->flush);
    }

    ngx_astro_socket_unwrap(c);

    conn->c = NULL;
}


/*
 * Frees the connection's context: hiredis answers every command on it
 * with NULL, then calls the cleanup hook.  Inside a hiredis callback the
 * free happens when the callback returns.  The error, when given, is
 * logged; reason NULL errors were logged by the caller.
 */

void
ngx_astro_redis_close(ngx_astro_redis_conn_t *conn, ngx_int_t reason,
    const char *err)
{
    if (conn->ac == NULL || conn->reason >= 0) {
        return;
    }

    conn->reason = reason;

    if (err) {
        ngx_cpystrn(conn->err, (u_char *) err, sizeof(conn->err));

    } else {
        conn->err[0] = '\0';
    }

    redisAsyncFree(conn->ac);
}


/*
 * Why the connection is going away: ours, or what hiredis saw (a reset,
 * the server's EOF, a reply it could not parse).
 */

ngx_uint_t
ngx_astro_redis_reason(ngx_astro_redis_conn_t *conn)
{
    redisAsyncContext  *ac;

    if (conn->reason >= 0) {
        return conn->reason;
    }

    ac = conn->ac;

    ngx_cpystrn(conn->err, (u_char *) (ac->errstr[0] ? ac->errstr
                                                      : "connection closed"),
                sizeof(conn->err));

    if (ac->err == REDIS_ERR_PROTOCOL) {
        conn->reason = NGX_ASTRO_REDIS_ERR_PROTOCOL;

    } else if (conn->state != NGX_ASTRO_REDIS_READY) {
        conn->reason = NGX_ASTRO_REDIS_ERR_CONNECT;

    } else {
        conn->reason = NGX_ASTRO_REDIS_ERR_CLOSED;
    }

    return conn->reason;
}


/*
 * hiredis 0.14 aborts the process (an assert in redisProcessCallbacks())
 * on a reply that no command waits for: a server that speaks unasked (a
 * wrong port, a proxy, someone on the path) or answers twice.  The bytes
 * left in hiredis's buffer after the last reply waited for are such a
 * reply; the caller closes the connection before hiredis parses them.
 * Those still in the socket are the read handler's to see.
 */

ngx_uint_t
ngx_astro_redis_unasked(ngx_astro_redis_conn_t *conn)
{
    redisReader  *r;

    r = conn->ac->c.reader;

    return conn->ac->replies.head == NULL && r != NULL && r->pos < r->len;
}


/* hiredis writes what it has; it asks for the write event if it must wait */

void
ngx_astro_redis_write(ngx_astro_redis_conn_t *conn)
{
    conn->writing = 1;
    redisAsyncHandleWrite(conn->ac);
    conn->writing = 0;
}


static void
ngx_astro_redis_add_read(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_event_t  *rev;

    rev = conn->c->read;

    /* hiredis is in the middle of a call: the deadline closes it later */

    if (!rev->active
        && ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, conn->redis->log, 0,
                      "%V: redis %V: cannot add a read event",
                      &conn->redis->tag, &conn->redis->name);
    }
}


static void
ngx_astro_redis_del_read(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_event_t  *rev;

    rev = conn->c->read;

    if (rev->active) {
        (void) ngx_del_event(rev, NGX_READ_EVENT, 0);
    }
}


/*
 * The commands of the requests that one turn of the event loop reads go
 * out together, in one write when the turn ends (a posted event), with
 * no epoll_ctl(); only a write that does not complete, and the connect,
 * wait for the socket to be writable.
 */

static void
ngx_astro_redis_add_write(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_event_t  *wev;

    if (conn->state == NGX_ASTRO_REDIS_READY && !conn->writing) {

        if (!conn->flush.posted) {
            ngx_post_event(&conn->flush, &ngx_posted_events);
        }

        return;
    }

    wev = conn->c->write;

    /* hiredis is in the middle of a call: the deadline closes it later */

    if (!wev->active
        && ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, conn->redis->log, 0,
                      "%V: redis %V: cannot add a write event",
                      &conn->redis->tag, &conn->redis->name);
    }
}


static void
ngx_astro_redis_del_write(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_event_t  *wev;

    if (conn->flush.posted) {
        ngx_delete_posted_event(&conn->flush);
    }

    wev = conn->c->write;

    if (wev->active) {
        (void) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_astro_redis_flush_handler(ngx_event_t *ev)
{
    ngx_astro_redis_write(ev->data);
}


static void
ngx_astro_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_astro_redis_conn_t  *conn = c->data;

    u_char  b;

    /* worker_shutdown_timeout closes every connection through its reader */

    if (c->close) {
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CLOSED, NULL);
        return;
    }

    /*
     * no command waits: data is a reply nobody asked for, which hiredis
     * would abort on; the end of the stream or an error is hiredis's
     */

    if (conn->ac->replies.head == NULL && recv(c->fd, &b, 1, MSG_PEEK) > 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, conn->redis->log, 0,
                       "astro_redis: connection #%ui: data with no command "
                       "waiting", (ngx_uint_t) (conn - conn->redis->conns));

        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                              "data with no command waiting");
        return;
    }

    redisAsyncHandleRead(conn->ac);
}


static void
ngx_astro_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_astro_redis_write(c->data);
}
