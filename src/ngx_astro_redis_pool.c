
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/* a failed connection is tried again at once, then after 100 ms, 200... */
#define NGX_ASTRO_REDIS_RETRY_MIN   100


static ngx_int_t ngx_astro_redis_connect(ngx_astro_redis_conn_t *conn);
static void ngx_astro_redis_retry_later(ngx_astro_redis_conn_t *conn);
static ngx_int_t ngx_astro_redis_setup(ngx_astro_redis_conn_t *conn);
static ngx_int_t ngx_astro_redis_internal(ngx_astro_redis_conn_t *conn,
    ngx_uint_t kind, int argc, const char **argv, const size_t *argvlen);
static void ngx_astro_redis_internal_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_astro_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_astro_redis_closed(void *privdata);
static void ngx_astro_redis_arm(ngx_astro_redis_conn_t *conn);
static ngx_int_t ngx_astro_redis_first_deadline(ngx_astro_redis_conn_t *conn,
    ngx_msec_t *deadline);
static void ngx_astro_redis_timer_handler(ngx_event_t *ev);


/* how a connection's end is told in the log, by kind */
static const char  *ngx_astro_redis_closes[] = {
    "connect failed: ", "", "", "bad reply: ", "", "connection lost: "
};


ngx_int_t
ngx_astro_redis_pool_init(ngx_cycle_t *cycle, ngx_astro_redis_t *rd)
{
    ngx_uint_t               i;
    ngx_astro_redis_conn_t  *conn;

    rd->conns = ngx_pcalloc(cycle->pool,
                            rd->pool * sizeof(ngx_astro_redis_conn_t));
    if (rd->conns == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < rd->pool; i++) {
        conn = &rd->conns[i];

        conn->redis = rd;
        ngx_queue_init(&conn->cmds);

        conn->timer.handler = ngx_astro_redis_timer_handler;
        conn->timer.data = conn;
        conn->timer.log = cycle->log;

        /* the first requests find the connections made; a failure waits */
        (void) ngx_astro_redis_connect(conn);
    }

    return NGX_OK;
}


void
ngx_astro_redis_pool_close(ngx_astro_redis_t *rd)
{
    ngx_uint_t  i;

    for (i = 0; i < rd->pool; i++) {
        if (rd->conns[i].ac) {
            ngx_astro_redis_close(&rd->conns[i], NGX_ASTRO_REDIS_ERR_CLOSED,
                                  NULL);
        }
    }
}


/*
 * A ready connection with the fewest commands in flight, else one being
 * made; a closed connection whose backoff is over is made again, so the
 * pool fills back up.
 */

ngx_astro_redis_conn_t *
ngx_astro_redis_pick(ngx_astro_redis_t *rd)
{
    ngx_uint_t               i;
    ngx_astro_redis_conn_t  *conn, *best;

    best = NULL;

    for (i = 0; i < rd->pool; i++) {
        conn = &rd->conns[i];

        if (conn->state == NGX_ASTRO_REDIS_IDLE) {

            if ((ngx_msec_int_t) (ngx_current_msec - conn->retry) < 0
                || ngx_astro_redis_connect(conn) != NGX_OK)
            {
                continue;
            }
        }

        if (best == NULL
            || conn->state > best->state
            || (conn->state == best->state && conn->ncmds < best->ncmds))
        {
            best = conn;
        }
    }

    return best;
}


/*
 * A command on the connection, answered to fn; hiredis copies it into
 * its buffer, written at the turn's end.
 */

ngx_int_t
ngx_astro_redis_send(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, redisCallbackFn *fn, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_msec_t          deadline;
    ngx_astro_redis_t  *rd;

    rd = conn->redis;

    if (redisAsyncCommandArgv(conn->ac, fn, wire, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    wire->conn = conn;
    wire->start = ngx_astro_redis_now_us();

    deadline = ngx_current_msec + rd->timeout;

    if (!wire->capped || (ngx_msec_int_t) (wire->deadline - deadline) > 0) {
        wire->deadline = deadline;
    }

    ngx_queue_insert_tail(&conn->cmds, &wire->queue);
    conn->ncmds++;

    ngx_astro_redis_share(rd)->in_flight += wire->n;

    ngx_astro_redis_arm(conn);

    return NGX_OK;
}


/*
 * The connection's side of a reply, or of a NULL when the connection is
 * gone: the command leaves it, and the decisions held may go out.  The
 * reply to use: NULL when the server sent more than was asked, which
 * closes the connection (which reply answers which command is lost).
 */

redisReply *
ngx_astro_redis_answered(ngx_astro_redis_wire_t *wire, redisReply *reply)
{
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_conn_t  *conn;

    conn = wire->conn;
    rd = conn->redis;

    ngx_queue_remove(&wire->queue);
    conn->ncmds--;

    ngx_astro_redis_kick(rd);

    ngx_astro_redis_share(rd)->in_flight -= wire->n;

    if (reply == NULL) {
        (void) ngx_astro_redis_reason(conn);
        return NULL;
    }

    if (ngx_astro_redis_unasked(conn)) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "astro_redis: connection #%ui: a reply with no "
                       "command waiting", (ngx_uint_t) (conn - rd->conns));

        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                              "a reply with no command waiting");
        return NULL;
    }

    /*
     * the connection works: a failure later is tried again at once (not
     * after an AUTH or SELECT that failed: that one would fail again)
     */

    if (reply->type != REDIS_REPLY_ERROR) {
        conn->backoff = 0;
    }

    return reply;
}


/*
 * A reply, a connection made or lost: the decisions held may go out.  The
 * batch event runs ngx_astro_redis_batch_handler().
 */

void
ngx_astro_redis_kick(ngx_astro_redis_t *rd)
{
    ngx_uint_t                  i;
    ngx_astro_redis_script_t  **script;

    if (rd->batch.posted || rd->exiting) {
        return;
    }

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        if (!ngx_queue_empty(&script[i]->pending)) {
            ngx_post_event(&rd->batch, &ngx_posted_events);
            return;
        }
    }
}


/* the commands queued in this turn go out now, not at its end */

void
ngx_astro_redis_flush(ngx_astro_redis_t *rd)
{
    ngx_uint_t               i;
    ngx_astro_redis_conn_t  *conn;

    for (i = 0; i < rd->pool; i++) {
        conn = &rd->conns[i];

        if (conn->flush.posted) {
            ngx_delete_posted_event(&conn->flush);
            ngx_astro_redis_write(conn);
        }
    }
}


static ngx_int_t
ngx_astro_redis_connect(ngx_astro_redis_conn_t *conn)
{
    ngx_astro_redis_t   *rd;
    redisAsyncContext   *ac;

    rd = conn->redis;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "astro_redis: connection #%ui to %V: connecting",
                   (ngx_uint_t) (conn - rd->conns), &rd->name);

    /* after a failure, a host name is asked again (_resolve.c) */
    ngx_astro_redis_resolve(conn);

    ac = ngx_astro_redis_open(conn, "");
    if (ac == NULL) {
        goto failed;
    }

    conn->ac = ac;
    conn->state = NGX_ASTRO_REDIS_CONNECTING;
    conn->reason = -1;

    ac->data = conn;
    ac->ev.cleanup = ngx_astro_redis_closed;

    /* also waits for the socket to be writable: the end of connect() */

    redisAsyncSetConnectCallback(ac, ngx_astro_redis_connected);

    conn->connect_deadline = ngx_current_msec + rd->connect_timeout;
    ngx_astro_redis_arm(conn);

    if (ngx_astro_redis_setup(conn) != NGX_OK) {
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CONNECT,
                              "cannot queue the setup commands");
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    ngx_astro_redis_retry_later(conn);

    return NGX_ERROR;
}


/* at once the first time, then after 100ms, 200ms... up to max_backoff */

static void
ngx_astro_redis_retry_later(ngx_astro_redis_conn_t *conn)
{
    ngx_msec_t  max;

    max = conn->redis->circuit.max_open;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, conn->redis->log, 0,
                   "astro_redis: connection #%ui: next connect in %Mms",
                   (ngx_uint_t) (conn - conn->redis->conns), conn->backoff);

    conn->retry = ngx_current_msec + conn->backoff;
    conn->backoff = conn->backoff ? ngx_min(conn->backoff * 2, max)
                                  : ngx_min(NGX_ASTRO_REDIS_RETRY_MIN, max);
}


/*
 * The argv of a setup command, AUTH [user] password or SELECT db (its
 * number written in db): its argc, 0 when the configuration needs none.
 */

int
ngx_astro_redis_setup_argv(ngx_astro_redis_t *rd, ngx_uint_t kind,
    const char **argv, size_t *argvlen, u_char *db)
{
    int  argc;

    argc = 0;

    if (kind == NGX_ASTRO_REDIS_CMD_AUTH && rd->password.len) {
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (rd->user.len) {
            argv[argc] = (const char *) rd->user.data;
            argvlen[argc++] = rd->user.len;
        }

        argv[argc] = (const char *) rd->password.data;
        argvlen[argc++] = rd->password.len;

    } else if (kind == NGX_ASTRO_REDIS_CMD_SELECT && rd->db) {
        argv[argc] = "SELECT";
        argvlen[argc++] = 6;
        argv[argc] = (const char *) db;
        argvlen[argc++] = ngx_sprintf(db, "%ui", rd->db) - db;
    }

    return argc;
}


/* AUTH, SELECT and SCRIPT LOAD, pipelined ahead of the first command */

static ngx_int_t
ngx_astro_redis_setup(ngx_astro_redis_conn_t *conn)
{
    int                         argc;
    size_t                      argvlen[3];
    u_char                      db[NGX_INT_T_LEN];
    ngx_uint_t                  i, kind;
    const char                 *argv[3];
    ngx_astro_redis_t          *rd;
    ngx_astro_redis_script_t  **script;

    rd = conn->redis;

    for (kind = NGX_ASTRO_REDIS_CMD_AUTH;
         kind <= NGX_ASTRO_REDIS_CMD_SELECT;
         kind++)
    {
        argc = ngx_astro_redis_setup_argv(rd, kind, argv, argvlen, db);

        if (argc
            && ngx_astro_redis_internal(conn, kind, argc, argv, argvlen)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        argv[0] = "SCRIPT";
        argvlen[0] = 6;
        argv[1] = "LOAD";
        argvlen[1] = 4;
        argv[2] = (const char *) script[i]->body.data;
        argvlen[2] = script[i]->body.len;

        if (ngx_astro_redis_internal(conn, NGX_ASTRO_REDIS_CMD_LOAD, 3,
                                     argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_astro_redis_internal(ngx_astro_redis_conn_t *conn, ngx_uint_t kind,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_astro_redis_wire_t  *wire;

    wire = ngx_calloc(sizeof(ngx_astro_redis_wire_t), conn->redis->log);
    if (wire == NULL) {
        return NGX_ERROR;
    }

    wire->kind = kind;
    ngx_queue_init(&wire->cmds);

    if (ngx_astro_redis_send(conn, wire, ngx_astro_redis_internal_reply,
                             argc, argv, argvlen)
        != NGX_OK)
    {
        ngx_free(wire);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, conn->redis->log, 0,
                   "astro_redis: connection #%ui: %s queued ahead",
                   (ngx_uint_t) (conn - conn->redis->conns), argv[0]);

    return NGX_OK;
}


/* hiredis's callback of a setup command */

static void
ngx_astro_redis_internal_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply              *reply = r;
    ngx_astro_redis_wire_t  *wire = privdata;

    size_t                   len;
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_conn_t  *conn;

    conn = wire->conn;
    rd = conn->redis;

    reply = ngx_astro_redis_answered(wire, reply);

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        ngx_free(wire);
        return;
    }

    len = ngx_min(reply->len, 256);

    switch (wire->kind) {

    case NGX_ASTRO_REDIS_CMD_AUTH:
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_AUTH, NULL);
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_AUTH,
                              "AUTH failed: %*s", len, reply->str);
        break;

    case NGX_ASTRO_REDIS_CMD_SELECT:
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_REPLY, NULL);
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_REPLY,
                              "SELECT %ui failed: %*s", rd->db, len,
                              reply->str);
        break;

    default: /* NGX_ASTRO_REDIS_CMD_LOAD: EVALSHA falls back to EVAL */
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_REPLY,
                              "SCRIPT LOAD failed: %*s", len, reply->str);
        break;
    }

    ngx_free(wire);
}


static void
ngx_astro_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_astro_redis_conn_t  *conn = ac->data;

    ngx_msec_t               deadline;
    ngx_queue_t             *q;
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_wire_t  *wire;

    rd = conn->redis;

    if (status != REDIS_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "astro_redis: connection #%ui: connect failed: %s",
                       (ngx_uint_t) (conn - rd->conns), ac->errstr);

        /* hiredis frees the context next: the commands fail */
        if (conn->reason < 0) {
            conn->reason = NGX_ASTRO_REDIS_ERR_CONNECT;
            ngx_cpystrn(conn->err, (u_char *) ac->errstr, sizeof(conn->err));
        }

        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "astro_redis: connection #%ui: connected, %ui commands "
                   "waiting", (ngx_uint_t) (conn - rd->conns), conn->ncmds);

    conn->state = NGX_ASTRO_REDIS_READY;

    ngx_astro_redis_share(rd)->connections++;

    /*
     * the commands queued meanwhile have their timeout from now; a batch
     * of decisions, at most connect_timeout more than it had
     */

    deadline = ngx_current_msec + rd->timeout;

    for (q = ngx_queue_head(&conn->cmds);
         q != ngx_queue_sentinel(&conn->cmds);
         q = ngx_queue_next(q))
    {
        wire = ngx_queue_data(q, ngx_astro_redis_wire_t, queue);

        if (wire->capped
            && (ngx_msec_int_t) (wire->deadline + rd->connect_timeout
                                 - deadline) < 0)
        {
            wire->deadline += rd->connect_timeout;

        } else {
            wire->deadline = deadline;
        }
    }

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    ngx_astro_redis_arm(conn);
    ngx_astro_redis_kick(rd);
}


/*
 * hiredis's cleanup hook: the context is being freed, its commands were
 * answered NULL; the connection is made again on demand.
 */

static void
ngx_astro_redis_closed(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_uint_t          reason;
    ngx_astro_redis_t  *rd;

    rd = conn->redis;

    reason = ngx_astro_redis_reason(conn);

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "astro_redis: connection #%ui closed (%s)%s%s",
                   (ngx_uint_t) (conn - rd->conns),
                   ngx_astro_redis_error_names[reason],
                   conn->err[0] ? ": " : "", conn->err);

    if (conn->err[0]) {
        ngx_astro_redis_error(rd, reason, "%s%s",
                              ngx_astro_redis_closes[reason], conn->err);
    }

    ngx_astro_redis_detach(conn);

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    if (conn->state == NGX_ASTRO_REDIS_READY) {
        ngx_astro_redis_share(rd)->connections--;
    }

    conn->ac = NULL;
    conn->state = NGX_ASTRO_REDIS_IDLE;

    ngx_astro_redis_retry_later(conn);
    ngx_astro_redis_kick(rd);
}


/*
 * One timer per connection, for the earliest deadline: the end of the
 * connect, or the first of its commands' (a command that waited for the
 * connection may have less time than those sent before it).  It may fire
 * early (it is moved only forward, when it fires): the handler looks
 * again.
 */

static void
ngx_astro_redis_arm(ngx_astro_redis_conn_t *conn)
{
    ngx_msec_t      deadline;
    ngx_msec_int_t  left;

    if (conn->state == NGX_ASTRO_REDIS_CONNECTING) {
        deadline = conn->connect_deadline;

    } else if (ngx_astro_redis_first_deadline(conn, &deadline) != NGX_OK) {
        return;
    }

    if (conn->timer.timer_set) {

        if ((ngx_msec_int_t) (conn->timer.timer.key - deadline) <= 0) {
            return;
        }

        ngx_del_timer(&conn->timer);
    }

    left = (ngx_msec_int_t) (deadline - ngx_current_msec);

    ngx_add_timer(&conn->timer, left > 0 ? (ngx_msec_t) left : 1);
}


static ngx_int_t
ngx_astro_redis_first_deadline(ngx_astro_redis_conn_t *conn,
    ngx_msec_t *deadline)
{
    ngx_int_t                rc;
    ngx_queue_t             *q;
    ngx_astro_redis_wire_t  *wire;

    rc = NGX_DECLINED;

    for (q = ngx_queue_head(&conn->cmds);
         q != ngx_queue_sentinel(&conn->cmds);
         q = ngx_queue_next(q))
    {
        wire = ngx_queue_data(q, ngx_astro_redis_wire_t, queue);

        if (rc != NGX_OK
            || (ngx_msec_int_t) (wire->deadline - *deadline) < 0)
        {
            *deadline = wire->deadline;
            rc = NGX_OK;
        }
    }

    return rc;
}


static void
ngx_astro_redis_timer_handler(ngx_event_t *ev)
{
    ngx_astro_redis_conn_t  *conn = ev->data;

    ngx_msec_t  deadline;

    if (conn->ac == NULL) {
        return;
    }

    if (conn->state == NGX_ASTRO_REDIS_CONNECTING) {

        if ((ngx_msec_int_t) (ngx_current_msec - conn->connect_deadline)
            >= 0)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_EVENT, conn->redis->log, 0,
                           "astro_redis: connection #%ui: connect timed out",
                           (ngx_uint_t) (conn - conn->redis->conns));

            ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CONNECT,
                                  "timed out");
            return;
        }

    } else if (ngx_astro_redis_first_deadline(conn, &deadline) == NGX_OK
               && (ngx_msec_int_t) (ngx_current_msec - deadline) >= 0)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, conn->redis->log, 0,
                       "astro_redis: connection #%ui: %ui commands timed out",
                       (ngx_uint_t) (conn - conn->redis->conns), conn->ncmds);

        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_TIMEOUT,
                              "no reply in time, connection closed");
        return;
    }

    ngx_astro_redis_arm(conn);
}
