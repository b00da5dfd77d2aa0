
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/* a script's name in the debug log: the start of its SHA1 */
#define NGX_ASTRO_REDIS_SHA1_SHOWN  8


static void ngx_astro_redis_batch_handler(ngx_event_t *ev);
static void ngx_astro_redis_hold(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script);
static ngx_uint_t ngx_astro_redis_full(ngx_queue_t *pending);
static void ngx_astro_redis_hold_handler(ngx_event_t *ev);
static void ngx_astro_redis_expire(ngx_astro_redis_t *rd,
    ngx_queue_t *pending);


ngx_int_t
ngx_astro_redis_init_worker(ngx_cycle_t *cycle, ngx_astro_redis_t *rd)
{
    ngx_uint_t                  i, n;
    ngx_astro_redis_script_t  **script;

    rd->log = cycle->log;

    if (rd->seeds) {
        return ngx_astro_redis_cluster_init_worker(cycle, rd);
    }

    /* a batch's command: EVALSHA sha n, the keys, at most a run a key */

    n = 3 + NGX_ASTRO_REDIS_BATCH * (2 + NGX_ASTRO_REDIS_ARGS);

    rd->argv = ngx_palloc(cycle->pool, n * sizeof(const char *));
    rd->argvlen = ngx_palloc(cycle->pool, n * sizeof(size_t));
    if (rd->argv == NULL || rd->argvlen == NULL) {
        return NGX_ERROR;
    }

    rd->batch.handler = ngx_astro_redis_batch_handler;
    rd->batch.data = rd;
    rd->batch.log = cycle->log;

    rd->hold.handler = ngx_astro_redis_hold_handler;
    rd->hold.data = rd;
    rd->hold.log = cycle->log;
    rd->hold.cancelable = 1;

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        ngx_queue_init(&script[i]->pending);
    }

    /* before a connection is counted */

    if (ngx_astro_redis_register(rd) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_astro_redis_pool_init(cycle, rd);
}


void
ngx_astro_redis_exit_worker(ngx_astro_redis_t *rd)
{
    if (rd->seeds) {
        ngx_astro_redis_cluster_exit_worker(rd);
        return;
    }

    if (rd->conns == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->hold.timer_set) {
        ngx_del_timer(&rd->hold);
    }

    ngx_astro_redis_pool_close(rd);

    ngx_astro_redis_unregister(rd);
}


/*
 * The decision waits in the script's queue for the end of the event
 * loop's turn: ngx_astro_redis_batch_handler() sends the queue as one
 * command.
 */

ngx_astro_redis_cmd_t *
ngx_astro_redis_eval(ngx_astro_redis_t *rd, ngx_astro_redis_script_t *script,
    ngx_str_t *key, ngx_str_t *args, ngx_astro_redis_handler_pt handler,
    void *data)
{
    ngx_uint_t              probe;
    ngx_astro_redis_cmd_t  *cmd;

    /* a cluster: the master of the key's slot decides */

    if (rd->cluster && rd->cluster->client == rd) {
        return ngx_astro_redis_cluster_eval(rd, script, key, args, handler,
                                            data);
    }

    /*
     * no client in this process: with "master_process off" a reload does
     * not run init_process again
     */

    if (rd->conns == NULL || ngx_astro_redis_allow(rd, &probe) != NGX_OK) {
        ngx_atomic_fetch_add(&rd->sh->skipped, 1);
        return NULL;
    }

    cmd = ngx_astro_redis_cmd(rd, script, key, args, handler, data);
    if (cmd == NULL) {
        if (probe) {
            ngx_astro_redis_release(rd);
        }

        ngx_atomic_fetch_add(&rd->sh->skipped, 1);
        return NULL;
    }

    cmd->probe = probe;

    ngx_astro_redis_queue(rd, script, cmd);

    return cmd;
}


/* a decision, its key and arguments copied; not a probe, no slot */

ngx_astro_redis_cmd_t *
ngx_astro_redis_cmd(ngx_astro_redis_t *rd, ngx_astro_redis_script_t *script,
    ngx_str_t *key, ngx_str_t *args, ngx_astro_redis_handler_pt handler,
    void *data)
{
    u_char                 *p;
    size_t                  size;
    ngx_uint_t              i;
    ngx_astro_redis_cmd_t  *cmd;

    size = sizeof(ngx_astro_redis_cmd_t) + key->len;

    for (i = 0; i < script->nargs; i++) {
        size += args[i].len;
    }

    cmd = ngx_alloc(size, rd->log);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->deadline = ngx_current_msec + rd->timeout;
    cmd->probe = 0;
    cmd->slot = 0;

    p = (u_char *) (cmd + 1);

    cmd->argv[0].data = p;
    cmd->argv[0].len = key->len;
    p = ngx_cpymem(p, key->data, key->len);

    for (i = 0; i < script->nargs; i++) {
        cmd->argv[i + 1].data = p;
        cmd->argv[i + 1].len = args[i].len;
        p = ngx_cpymem(p, args[i].data, args[i].len);
    }

    return cmd;
}


/* the decision waits in the script's queue for the batch of this turn */

void
ngx_astro_redis_queue(ngx_astro_redis_t *rd, ngx_astro_redis_script_t *script,
    ngx_astro_redis_cmd_t *cmd)
{
    ngx_queue_insert_tail(&script->pending, &cmd->queue);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: key \"%V\" waits for a batch of script %*s",
                   &cmd->argv[0], (size_t) NGX_ASTRO_REDIS_SHA1_SHOWN,
                   script->sha1);

    if (!rd->batch.posted) {
        ngx_post_event(&rd->batch, &ngx_posted_events);
    }
}


void
ngx_astro_redis_cancel(ngx_astro_redis_cmd_t *cmd)
{
    cmd->handler = NULL;
    cmd->data = NULL;
}


/*
 * The end of the loop's turn: the decisions of each script go out as one
 * EVALSHA of up to NGX_ASTRO_REDIS_BATCH keys; the connection writes it
 * with the others when its own posted event runs, after this one.  While
 * a call of the script is in flight, fewer decisions than a whole batch
 * wait for its reply (ngx_astro_redis_kick()), at most "hold" after it
 * left and until their deadline: as Nagle's algorithm, a worker has one
 * call of a script out at a time under load, and each call carries more
 * decisions (15.5 keys at wrk -c32 in bench/, against 10.5 when each
 * connection had its own call out), which costs Redis and the worker
 * less per decision.
 */

static void
ngx_astro_redis_batch_handler(ngx_event_t *ev)
{
    ngx_astro_redis_t *rd = ev->data;

    ngx_uint_t                  i, slot, sent;
    ngx_queue_t                *q, *next, *pending;
    ngx_astro_redis_cmd_t      *cmd;
    ngx_astro_redis_wire_t     *wire;
    ngx_astro_redis_conn_t     *conn;
    ngx_astro_redis_script_t  **script;

    script = rd->scripts.elts;
    slot = 0;

    for (i = 0; i < rd->scripts.nelts; i++) {
        pending = &script[i]->pending;
        sent = 0;

        ngx_astro_redis_expire(rd, pending);

        while (!ngx_queue_empty(pending)) {

            conn = ngx_astro_redis_pick(rd);

            if (conn == NULL) {
                ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                               "astro_redis: no connection, decided "
                               "without Redis");

                /* no connection: decided without Redis, at once */
                ngx_astro_redis_fail(rd, pending, 0);

                if (rd->cluster) {
                    ngx_astro_redis_cluster_failed(rd);
                }

                break;
            }

            /*
             * a cluster's master: the calls of other slots of this turn
             * go out with the first, they are not held for it
             */

            if (conn->state == NGX_ASTRO_REDIS_READY
                && !(rd->cluster && sent)
                && script[i]->inflight
                && (ngx_msec_int_t) (ngx_current_msec - script[i]->sent)
                   < (ngx_msec_int_t) rd->hold_time
                && !ngx_astro_redis_full(pending))
            {
                ngx_astro_redis_hold(rd, script[i]);
                break;
            }

            wire = ngx_calloc(sizeof(ngx_astro_redis_wire_t), rd->log);
            if (wire == NULL) {
                /* no memory: decided without Redis, at once */
                ngx_astro_redis_fail(rd, pending, 0);
                break;
            }

            wire->script = script[i];
            ngx_queue_init(&wire->cmds);

            /* a cluster's master: a call carries the keys of one slot */

            for (q = ngx_queue_head(pending);
                 wire->n < NGX_ASTRO_REDIS_BATCH
                 && q != ngx_queue_sentinel(pending);
                 q = next)
            {
                next = ngx_queue_next(q);
                cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

                if (cmd->handler == NULL && !cmd->probe) {
                    ngx_queue_remove(q);
                    ngx_free(cmd);          /* its request has gone */
                    continue;
                }

                if (rd->cluster) {
                    if (wire->n == 0) {
                        slot = cmd->slot;

                    } else if (cmd->slot != slot) {
                        continue;
                    }
                }

                ngx_queue_remove(q);

                if (wire->n == 0) {
                    /* a decision that waited has no more time than it had */
                    wire->deadline = cmd->deadline;
                    wire->capped = 1;
                }

                ngx_queue_insert_tail(&wire->cmds, q);
                wire->n++;
                wire->probe |= cmd->probe;
            }

            if (wire->n == 0) {
                ngx_free(wire);
                continue;
            }

            if (ngx_astro_redis_send_batch(conn, wire) == NGX_OK) {
                sent = 1;
                continue;
            }

            ngx_astro_redis_fail(rd, &wire->cmds, 0);
            ngx_free(wire);
        }
    }

    /*
     * The calls go out now, not after the requests that their replies woke
     * (posted before this event): Redis works on the next batch while the
     * worker answers the last one.
     */

    ngx_astro_redis_flush(rd);
}


/* the script's decisions wait until its hold is over or a deadline */

static void
ngx_astro_redis_hold(ngx_astro_redis_t *rd, ngx_astro_redis_script_t *script)
{
    ngx_msec_int_t          left, due;
    ngx_astro_redis_cmd_t  *cmd;

    cmd = ngx_queue_data(ngx_queue_head(&script->pending),
                         ngx_astro_redis_cmd_t, queue);

    left = (ngx_msec_int_t) (script->sent + rd->hold_time - ngx_current_msec);
    due = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    left = ngx_max(ngx_min(left, due), 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: script %*s held for its call in flight, "
                   "%Mms at most", (size_t) NGX_ASTRO_REDIS_SHA1_SHOWN,
                   script->sha1, (ngx_msec_t) left);

    /*
     * ngx_add_timer() keeps a set timer that differs by less than
     * NGX_TIMER_LAZY_DELAY: one due sooner is set anew
     */

    if (rd->hold.timer_set
        && (ngx_msec_int_t) (rd->hold.timer.key - (ngx_current_msec + left))
           > 0)
    {
        ngx_del_timer(&rd->hold);
    }

    if (!rd->hold.timer_set) {
        ngx_add_timer(&rd->hold, (ngx_msec_t) left);
    }
}


/* whether the decisions waiting make a whole batch */

static ngx_uint_t
ngx_astro_redis_full(ngx_queue_t *pending)
{
    ngx_uint_t    n;
    ngx_queue_t  *q;

    n = 0;

    for (q = ngx_queue_head(pending);
         q != ngx_queue_sentinel(pending);
         q = ngx_queue_next(q))
    {
        if (++n == NGX_ASTRO_REDIS_BATCH) {
            return 1;
        }
    }

    return 0;
}


/* the hold is over: what is due fails, the rest may go out */

static void
ngx_astro_redis_hold_handler(ngx_event_t *ev)
{
    ngx_astro_redis_t *rd = ev->data;

    ngx_uint_t                  i;
    ngx_astro_redis_script_t  **script;

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        ngx_astro_redis_expire(rd, &script[i]->pending);
    }

    ngx_astro_redis_kick(rd);
}


/*
 * Held decisions whose time is over (the queue is in the order of their
 * deadlines) fail as a command without a reply in time does.
 */

static void
ngx_astro_redis_expire(ngx_astro_redis_t *rd, ngx_queue_t *pending)
{
    ngx_uint_t              n, probe;
    ngx_queue_t             expired, *q;
    ngx_astro_redis_cmd_t  *cmd;

    n = 0;
    probe = 0;
    ngx_queue_init(&expired);

    while (!ngx_queue_empty(pending)) {
        q = ngx_queue_head(pending);
        cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (ngx_current_msec - cmd->deadline) < 0) {
            break;
        }

        ngx_queue_remove(q);

        if (cmd->handler == NULL && !cmd->probe) {
            ngx_free(cmd);          /* its request has gone */
            continue;
        }

        ngx_queue_insert_tail(&expired, q);
        n++;
        probe |= cmd->probe;
    }

    if (n == 0) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: %ui held keys timed out", n);

    ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_TIMEOUT,
                          "%ui commands waited for the call in flight "
                          "past their timeout", n);
    ngx_astro_redis_failed(rd, n, probe);
    ngx_astro_redis_fail(rd, &expired, 1);
}


/*
 * EVALSHA sha n key... (run arguments...)..., or EVAL with the script's
 * body once Redis has answered NOSCRIPT; Redis takes the time for all of
 * them.  The keys of a zone (or a tier) in a row share one run: a batch
 * of one rate sends its arguments once.
 */

ngx_int_t
ngx_astro_redis_send_batch(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire)
{
    u_char                     nkeys[NGX_INT_T_LEN], *p;
    u_char                     runs[NGX_ASTRO_REDIS_BATCH * 3];
    size_t                    *argvlen, asking_len;
    ngx_uint_t                 i, k, a, r, run, nargs;
    ngx_queue_t               *q;
    const char               **argv, *asking;
    ngx_astro_redis_t         *rd;
    ngx_astro_redis_cmd_t     *cmd, *prev;
    ngx_astro_redis_script_t  *script;

    rd = conn->redis;
    script = wire->script;
    nargs = script->nargs;

    /*
     * the slot is being imported by this master, as ASK said: ASKING lets
     * the call that follows it on the connection in
     */

    if (wire->asking) {
        asking = "ASKING";
        asking_len = 6;

        if (ngx_astro_redis_internal(conn, NGX_ASTRO_REDIS_CMD_ASKING, 1,
                                     &asking, &asking_len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    argv = rd->argv;
    argvlen = rd->argvlen;

    if (wire->retried) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = (const char *) script->body.data;
        argvlen[1] = script->body.len;

    } else {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) script->sha1;
        argvlen[1] = 40;
    }

    argv[2] = (const char *) nkeys;
    argvlen[2] = ngx_sprintf(nkeys, "%ui", wire->n) - nkeys;

    k = 3;
    a = 3 + wire->n;
    run = 0;
    r = 0;
    p = runs;
    prev = NULL;

    for (q = ngx_queue_head(&wire->cmds);
         q != ngx_queue_sentinel(&wire->cmds);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

        argv[k] = (const char *) cmd->argv[0].data;
        argvlen[k++] = cmd->argv[0].len;

        if (prev) {
            for (i = 1; i <= nargs; i++) {
                if (cmd->argv[i].len != prev->argv[i].len
                    || ngx_memcmp(cmd->argv[i].data, prev->argv[i].data,
                                  cmd->argv[i].len)
                       != 0)
                {
                    break;
                }
            }

            if (i > nargs) {
                r++;
                continue;
            }

            argv[run] = (const char *) p;
            argvlen[run] = ngx_sprintf(p, "%ui", r) - p;
            p += argvlen[run];
        }

        /* a new run: its length (written when it ends), its arguments */

        run = a++;
        r = 1;

        for (i = 1; i <= nargs; i++) {
            argv[a] = (const char *) cmd->argv[i].data;
            argvlen[a++] = cmd->argv[i].len;
        }

        prev = cmd;
    }

    argv[run] = (const char *) p;
    argvlen[run] = ngx_sprintf(p, "%ui", r) - p;

    if (ngx_astro_redis_send(conn, wire, ngx_astro_redis_reply, (int) a,
                             argv, argvlen)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    script->inflight++;
    script->sent = ngx_current_msec;

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: %s of %ui keys, script %*s, sent on "
                   "connection #%ui%s", argv[0], wire->n,
                   (size_t) NGX_ASTRO_REDIS_SHA1_SHOWN, script->sha1,
                   (ngx_uint_t) (conn - rd->conns),
                   wire->probe ? ", a probe" : "");

    return NGX_OK;
}
