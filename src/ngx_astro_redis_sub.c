
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/*
 * A subscription: a connection of its own to the client's server, on the
 * adapter, that sends AUTH, SELECT and SUBSCRIBE pipelined and then only
 * reads.  hiredis 0.14 keeps SUBSCRIBE's callback by channel, not in the
 * queue of replies, and gives it the confirmation and every message (an
 * error reply to SUBSCRIBE it drops: the confirmation never comes and
 * the deadline closes the connection).  Its messages come unasked, so the
 * adapter's guard against unasked replies is not this connection's: it
 * has a read handler of its own.  No command deadline applies once it is
 * subscribed, nor the circuit: it waits for messages as long as they take.
 * A connection lost is made again after a backoff, and the caller told
 * when it is subscribed again, to read again what it may have missed.
 */


/* a subscription lost is made again after 100 ms, 200 ms, ... 5 s */
#define NGX_ASTRO_REDIS_SUB_RETRY_MIN   100
#define NGX_ASTRO_REDIS_SUB_RETRY_MAX   5000


struct ngx_astro_redis_sub_s {
    ngx_astro_redis_conn_t       conn;
    ngx_str_t                    channel;
    ngx_astro_redis_sub_handler_pt  handler;
    void                        *data;
    ngx_event_t                  retry;     /* the next connect */
    ngx_msec_t                   backoff;
    unsigned                     subscribed:1;
    unsigned                     closing:1;
};


static void ngx_astro_redis_sub_connect(ngx_astro_redis_sub_t *sub);
static ngx_int_t ngx_astro_redis_sub_open(ngx_astro_redis_sub_t *sub);
static ngx_int_t ngx_astro_redis_sub_setup(ngx_astro_redis_sub_t *sub);
static void ngx_astro_redis_sub_retry_later(ngx_astro_redis_sub_t *sub);
static void ngx_astro_redis_sub_retry_handler(ngx_event_t *ev);
static void ngx_astro_redis_sub_connected(const redisAsyncContext *ac,
    int status);
static void ngx_astro_redis_sub_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_astro_redis_sub_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_astro_redis_sub_read_handler(ngx_event_t *ev);
static void ngx_astro_redis_sub_timer_handler(ngx_event_t *ev);
static void ngx_astro_redis_sub_closed(void *privdata);


/*
 * The channel is copied; the handler is called with SUBSCRIBED each time
 * the subscription is made (again), MESSAGE for each message, LOST when a
 * subscription made is lost.  NULL: no memory.  Only in a worker whose
 * client was started (ngx_astro_redis_init_worker()).
 */

ngx_astro_redis_sub_t *
ngx_astro_redis_subscribe(ngx_astro_redis_t *rd, ngx_str_t *channel,
    ngx_astro_redis_sub_handler_pt handler, void *data)
{
    ngx_astro_redis_sub_t  *sub;

    sub = ngx_calloc(sizeof(ngx_astro_redis_sub_t) + channel->len, rd->log);
    if (sub == NULL) {
        return NULL;
    }

    sub->channel.data = (u_char *) (sub + 1);
    sub->channel.len = channel->len;
    ngx_memcpy(sub->channel.data, channel->data, channel->len);

    sub->handler = handler;
    sub->data = data;

    sub->conn.redis = rd;
    sub->conn.reason = -1;
    ngx_queue_init(&sub->conn.cmds);

    sub->conn.timer.handler = ngx_astro_redis_sub_timer_handler;
    sub->conn.timer.data = sub;
    sub->conn.timer.log = rd->log;
    sub->conn.timer.cancelable = 1;

    sub->retry.handler = ngx_astro_redis_sub_retry_handler;
    sub->retry.data = sub;
    sub->retry.log = rd->log;
    sub->retry.cancelable = 1;

    ngx_astro_redis_sub_connect(sub);

    return sub;
}


/*
 * The handler is not called again; the memory goes now, or with the
 * context when hiredis is inside one of its callbacks.
 */

void
ngx_astro_redis_unsubscribe(ngx_astro_redis_sub_t *sub)
{
    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, sub->conn.redis->log, 0,
                   "astro_redis: subscription to \"%V\" closed",
                   &sub->channel);

    sub->closing = 1;
    sub->handler = NULL;

    if (sub->retry.timer_set) {
        ngx_del_timer(&sub->retry);
    }

    if (sub->conn.ac) {
        ngx_astro_redis_close(&sub->conn, NGX_ASTRO_REDIS_ERR_CLOSED, NULL);
        return;
    }

    ngx_free(sub);
}


static void
ngx_astro_redis_sub_connect(ngx_astro_redis_sub_t *sub)
{
    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, sub->conn.redis->log, 0,
                   "astro_redis: subscribing to \"%V\"", &sub->channel);

    if (ngx_astro_redis_sub_open(sub) != NGX_OK) {
        ngx_astro_redis_sub_retry_later(sub);
    }
}


static ngx_int_t
ngx_astro_redis_sub_open(ngx_astro_redis_sub_t *sub)
{
    redisAsyncContext       *ac;
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_conn_t  *conn;

    conn = &sub->conn;
    rd = conn->redis;

    ac = ngx_astro_redis_open(conn, "subscription: ");
    if (ac == NULL) {
        return NGX_ERROR;
    }

    conn->c->read->handler = ngx_astro_redis_sub_read_handler;

    conn->ac = ac;
    conn->state = NGX_ASTRO_REDIS_CONNECTING;
    conn->reason = -1;
    conn->err[0] = '\0';

    ac->data = sub;
    ac->ev.cleanup = ngx_astro_redis_sub_closed;

    redisAsyncSetConnectCallback(ac, ngx_astro_redis_sub_connected);

    /* the confirmation of SUBSCRIBE has the time of a connect and a reply */

    ngx_add_timer(&conn->timer, rd->connect_timeout + rd->timeout);

    if (ngx_astro_redis_sub_setup(sub) != NGX_OK) {
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CONNECT,
                              "subscription: cannot queue its commands");
    }

    /* a failure from here on is the cleanup hook's to retry */

    return NGX_OK;
}


/* AUTH and SELECT answered as commands, then SUBSCRIBE */

static ngx_int_t
ngx_astro_redis_sub_setup(ngx_astro_redis_sub_t *sub)
{
    int                 argc;
    size_t              argvlen[3];
    u_char              db[NGX_INT_T_LEN];
    uintptr_t           kind;
    const char         *argv[3];
    redisAsyncContext  *ac;

    ac = sub->conn.ac;

    for (kind = NGX_ASTRO_REDIS_CMD_AUTH;
         kind <= NGX_ASTRO_REDIS_CMD_SELECT;
         kind++)
    {
        argc = ngx_astro_redis_setup_argv(sub->conn.redis, kind, argv,
                                          argvlen, db);

        if (argc
            && redisAsyncCommandArgv(ac, ngx_astro_redis_sub_setup_reply,
                                     (void *) kind, argc, argv, argvlen)
               != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = (const char *) sub->channel.data;
    argvlen[1] = sub->channel.len;

    if (redisAsyncCommandArgv(ac, ngx_astro_redis_sub_reply, sub, 2, argv,
                              argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_astro_redis_sub_retry_later(ngx_astro_redis_sub_t *sub)
{
    ngx_msec_t  max;

    if (sub->closing || sub->conn.redis->exiting || ngx_exiting) {
        return;
    }

    max = ngx_min(sub->conn.redis->circuit.max_open,
                  NGX_ASTRO_REDIS_SUB_RETRY_MAX);

    sub->backoff = sub->backoff ? ngx_min(sub->backoff * 2, max)
                                : ngx_min(NGX_ASTRO_REDIS_SUB_RETRY_MIN, max);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, sub->conn.redis->log, 0,
                   "astro_redis: subscription to \"%V\" again in %Mms",
                   &sub->channel, sub->backoff);

    ngx_add_timer(&sub->retry, sub->backoff);
}


static void
ngx_astro_redis_sub_retry_handler(ngx_event_t *ev)
{
    ngx_astro_redis_sub_t  *sub = ev->data;

    if (sub->conn.ac == NULL && !sub->closing) {
        ngx_astro_redis_sub_connect(sub);
    }
}


static void
ngx_astro_redis_sub_connected(const redisAsyncContext *ac, int status)
{
    ngx_astro_redis_sub_t  *sub = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context next */
        if (sub->conn.reason < 0) {
            sub->conn.reason = NGX_ASTRO_REDIS_ERR_CONNECT;
            ngx_cpystrn(sub->conn.err, (u_char *) ac->errstr,
                        sizeof(sub->conn.err));
        }

        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, sub->conn.redis->log, 0,
                   "astro_redis: subscription to \"%V\": connected",
                   &sub->channel);

    sub->conn.state = NGX_ASTRO_REDIS_READY;
}


static void
ngx_astro_redis_sub_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply  *reply = r;

    size_t                  len;
    ngx_uint_t              kind;
    ngx_astro_redis_t      *rd;
    ngx_astro_redis_sub_t  *sub;

    sub = ac->data;
    rd = sub->conn.redis;
    kind = (ngx_uint_t) (uintptr_t) privdata;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    len = ngx_min(reply->len, 256);

    ngx_astro_redis_close(&sub->conn, kind == NGX_ASTRO_REDIS_CMD_AUTH
                                      ? NGX_ASTRO_REDIS_ERR_AUTH
                                      : NGX_ASTRO_REDIS_ERR_REPLY, NULL);

    ngx_astro_redis_error(rd, kind == NGX_ASTRO_REDIS_CMD_AUTH
                              ? NGX_ASTRO_REDIS_ERR_AUTH
                              : NGX_ASTRO_REDIS_ERR_REPLY,
                          "subscription: %s failed: %*s",
                          kind == NGX_ASTRO_REDIS_CMD_AUTH ? "AUTH" : "SELECT",
                          len, reply->str);
}


/*
 * SUBSCRIBE's callback: ["subscribe", channel, n] once, then ["message",
 * channel, payload]; NULL when the context goes.
 */

static void
ngx_astro_redis_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply             *reply = r;
    ngx_astro_redis_sub_t  *sub = privdata;

    ngx_str_t    msg;
    redisReply  *kind;

    if (reply == NULL || sub->closing) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_astro_redis_close(&sub->conn, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                              "subscription: unexpected reply");
        return;
    }

    kind = reply->element[0];

    if (kind->len == 7 && ngx_strncasecmp((u_char *) kind->str,
                                          (u_char *) "message", 7) == 0)
    {
        if (reply->element[2]->type != REDIS_REPLY_STRING) {
            return;
        }

        msg.data = (u_char *) reply->element[2]->str;
        msg.len = reply->element[2]->len;

        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, sub->conn.redis->log, 0,
                       "astro_redis: \"%V\": message \"%V\"",
                       &sub->channel, &msg);

        sub->handler(sub->data, NGX_ASTRO_REDIS_SUB_MESSAGE, &msg);
        return;
    }

    if (kind->len != 9 || ngx_strncasecmp((u_char *) kind->str,
                                          (u_char *) "subscribe", 9) != 0)
    {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, sub->conn.redis->log, 0,
                   "astro_redis: subscribed to \"%V\"", &sub->channel);

    /* from now on it waits for messages as long as they take */

    if (sub->conn.timer.timer_set) {
        ngx_del_timer(&sub->conn.timer);
    }

    sub->subscribed = 1;
    sub->backoff = 0;

    sub->handler(sub->data, NGX_ASTRO_REDIS_SUB_SUBSCRIBED, NULL);
}


static void
ngx_astro_redis_sub_read_handler(ngx_event_t *ev)
{
    ngx_connection_t       *c = ev->data;
    ngx_astro_redis_conn_t *conn = c->data;

    /* worker_shutdown_timeout closes every connection through its reader */

    if (c->close) {
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CLOSED, NULL);
        return;
    }

    redisAsyncHandleRead(conn->ac);
}


/* no confirmation of SUBSCRIBE in time */

static void
ngx_astro_redis_sub_timer_handler(ngx_event_t *ev)
{
    ngx_astro_redis_sub_t  *sub = ev->data;

    if (sub->conn.ac == NULL || sub->subscribed) {
        return;
    }

    ngx_astro_redis_close(&sub->conn, sub->conn.state
                                      == NGX_ASTRO_REDIS_CONNECTING
                                      ? NGX_ASTRO_REDIS_ERR_CONNECT
                                      : NGX_ASTRO_REDIS_ERR_TIMEOUT,
                          "subscription: not confirmed in time");
}


/* hiredis's cleanup hook: the context is being freed */

static void
ngx_astro_redis_sub_closed(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_uint_t              reason, lost;
    ngx_astro_redis_t      *rd;
    ngx_astro_redis_sub_t  *sub;

    sub = (ngx_astro_redis_sub_t *) conn;
    rd = conn->redis;

    reason = ngx_astro_redis_reason(conn);

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "astro_redis: subscription to \"%V\" closed (%s): %s",
                   &sub->channel, ngx_astro_redis_error_names[reason],
                   conn->err);

    if (conn->err[0] && !sub->closing) {
        ngx_astro_redis_error(rd, reason, "subscription %s: %s",
                              sub->subscribed ? "lost" : "failed",
                              conn->err);
    }

    ngx_astro_redis_detach(conn);

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    conn->ac = NULL;
    conn->state = NGX_ASTRO_REDIS_IDLE;

    lost = sub->subscribed;
    sub->subscribed = 0;

    if (sub->closing) {
        ngx_free(sub);
        return;
    }

    ngx_astro_redis_sub_retry_later(sub);

    /* last: the handler may unsubscribe */

    if (lost) {
        sub->handler(sub->data, NGX_ASTRO_REDIS_SUB_LOST, NULL);
    }
}
