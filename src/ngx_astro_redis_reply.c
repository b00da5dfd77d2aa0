
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/*
 * A batch's reply (_batch.c sends it): the decisions' handlers called
 * with their keys' integers, a cluster's redirect followed once, and the
 * fail policy's answer, NULL, for what failed.
 */


static void ngx_astro_redis_redirect(ngx_astro_redis_t *rd,
    ngx_astro_redis_wire_t *wire, ngx_astro_redis_t *to, ngx_uint_t ask);
static ngx_int_t ngx_astro_redis_dispatch(ngx_astro_redis_t *rd,
    ngx_astro_redis_wire_t *wire, redisReply *reply);


/* hiredis's callback of a batch: a reply, or NULL when the connection went */

void
ngx_astro_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply              *reply = r;
    ngx_astro_redis_wire_t  *wire = privdata;

    uint64_t                 rtt;
    ngx_uint_t               ask;
    ngx_astro_redis_t       *rd, *to;
    ngx_astro_redis_conn_t  *conn;

    conn = wire->conn;
    rd = conn->redis;

    wire->script->inflight--;

    reply = ngx_astro_redis_answered(wire, reply);

    if (reply == NULL) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "astro_redis: no reply of %ui keys on connection "
                       "#%ui (%s)", wire->n, (ngx_uint_t) (conn - rd->conns),
                       ngx_astro_redis_error_names[conn->reason]);
        goto failed;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        /* Redis lost the script (SCRIPT FLUSH): EVAL loads it again */

        if (!wire->retried && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            ngx_atomic_fetch_add(&rd->sh->noscript, wire->n);

            wire->retried = 1;

            if (conn->ac && ngx_astro_redis_send_batch(conn, wire) == NGX_OK)
            {
                return;
            }
        }

        /*
         * A cluster's master answers: MOVED or ASK, sent once to the
         * master named; TRYAGAIN, CLUSTERDOWN or a second MOVED or ASK,
         * the fail policy for these decisions, without counting against
         * the master's circuit.
         */

        to = NULL;

        if (rd->cluster) {
            to = ngx_astro_redis_cluster_redirect(rd, reply, &ask);

            if (to && !wire->redirected) {
                ngx_astro_redis_succeeded(rd, wire->probe);
                ngx_astro_redis_redirect(rd, wire, to, ask);
                return;
            }
        }

        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_REPLY,
                              "error reply: %*s",
                              (size_t) ngx_min(reply->len, 256), reply->str);

        if (to || (rd->cluster && ngx_astro_redis_cluster_refused(rd, reply)))
        {
            ngx_atomic_fetch_add(&rd->sh->failed, wire->n);
            ngx_astro_redis_succeeded(rd, wire->probe);
            ngx_astro_redis_fail(rd, &wire->cmds, 1);
            ngx_free(wire);
            return;
        }

        goto failed;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != wire->script->nhead
                              + wire->script->nreply * wire->n)
    {
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                              "unexpected reply of type %d", reply->type);
        goto failed;
    }

    rtt = ngx_astro_redis_now_us() - wire->start;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: reply of %ui keys in %uLus on "
                   "connection #%ui", wire->n, rtt,
                   (ngx_uint_t) (conn - rd->conns));

    ngx_atomic_fetch_add(&rd->sh->rtt_us, rtt);
    ngx_atomic_fetch_add(&rd->sh->rtt[ngx_astro_hist_bucket((rtt + 9) / 10)],
                         1);

    if (ngx_astro_redis_dispatch(rd, wire, reply) == NGX_OK) {
        ngx_astro_redis_succeeded(rd, wire->probe);
    }

    ngx_free(wire);

    return;

failed:

    ngx_astro_redis_failed(rd, wire->n, wire->probe);
    ngx_astro_redis_fail(rd, &wire->cmds, 1);

    ngx_free(wire);

    if (rd->cluster) {
        ngx_astro_redis_cluster_failed(rd);
    }
}


/*
 * The call again, to the master that MOVED or ASK named, the first time:
 * its decisions are no probe of that master's circuit (the one that
 * answered had its probe), and fail at once when that circuit is open or
 * no connection takes them.
 */

static void
ngx_astro_redis_redirect(ngx_astro_redis_t *rd, ngx_astro_redis_wire_t *wire,
    ngx_astro_redis_t *to, ngx_uint_t ask)
{
    ngx_queue_t             *q;
    ngx_astro_redis_cmd_t   *cmd;
    ngx_astro_redis_conn_t  *conn;

    for (q = ngx_queue_head(&wire->cmds);
         q != ngx_queue_sentinel(&wire->cmds);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);
        cmd->probe = 0;
    }

    wire->probe = 0;
    wire->redirected = 1;
    wire->asking = ask;
    wire->script = ngx_astro_redis_cluster_script(rd, wire->script, to);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: %ui keys %s from %V to %V", wire->n,
                   ask ? "asked" : "moved", &rd->name, &to->name);

    if (to->sh->circuit.state == NGX_ASTRO_CIRCUIT_CLOSED) {
        conn = ngx_astro_redis_pick(to);

        if (conn && ngx_astro_redis_send_batch(conn, wire) == NGX_OK) {
            return;
        }
    }

    ngx_astro_redis_fail(to, &wire->cmds, 0);
    ngx_free(wire);
}


/*
 * The call's head and a decision's own integers, to each its handler as
 * an array of its own
 */

static ngx_int_t
ngx_astro_redis_dispatch(ngx_astro_redis_t *rd, ngx_astro_redis_wire_t *wire,
    redisReply *reply)
{
    ngx_uint_t                 i, h, m, bad;
    redisReply                 one, *elts[NGX_ASTRO_REDIS_REPLY];
    ngx_queue_t               *q;
    ngx_astro_redis_cmd_t     *cmd;
    ngx_astro_redis_script_t  *script;

    script = wire->script;
    h = script->nhead;
    m = script->nreply;

    ngx_memzero(&one, sizeof(redisReply));
    one.type = REDIS_REPLY_ARRAY;
    one.elements = h + m;
    one.element = elts;

    for (i = 0; i < h; i++) {
        elts[i] = reply->element[i];
    }

    i = 0;
    bad = 0;

    while (!ngx_queue_empty(&wire->cmds)) {
        q = ngx_queue_head(&wire->cmds);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

        ngx_memcpy(&elts[h], &reply->element[h + m * i++],
                   m * sizeof(redisReply *));

        if (cmd->handler && cmd->handler(cmd->data, &one) != NGX_OK) {
            bad++;
        }

        ngx_free(cmd);
    }

    ngx_atomic_fetch_add(&rd->sh->commands, wire->n - bad);

    if (bad == 0) {
        return NGX_OK;
    }

    ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                          "unexpected reply for %ui of %ui keys", bad,
                          wire->n);
    ngx_astro_redis_failed(rd, bad, wire->probe);

    return NGX_ERROR;
}


/*
 * Decisions that Redis will not answer: each decides by its fail policy.
 * Those never sent count as skipped, and a probe among them lets the next
 * request probe.
 */

void
ngx_astro_redis_fail(ngx_astro_redis_t *rd, ngx_queue_t *cmds,
    ngx_uint_t sent)
{
    ngx_queue_t            *q;
    ngx_astro_redis_cmd_t  *cmd;

    while (!ngx_queue_empty(cmds)) {
        q = ngx_queue_head(cmds);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

        if (!sent) {
            ngx_atomic_fetch_add(&rd->sh->skipped, 1);

            if (cmd->probe) {
                ngx_astro_redis_release(rd);
            }
        }

        if (cmd->handler) {
            (void) cmd->handler(cmd->data, NULL);
        }

        ngx_free(cmd);
    }
}
