
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis.h"


#define NGX_ASTRO_REDIS_IDLE        0
#define NGX_ASTRO_REDIS_CONNECTING  1
#define NGX_ASTRO_REDIS_READY       2

/* a failed connection is tried again at once, then after 100 ms, 200... */
#define NGX_ASTRO_REDIS_RETRY_MIN   100


struct ngx_astro_redis_conn_s {
    ngx_astro_redis_t           *redis;
    redisAsyncContext           *ac;
    ngx_connection_t            *c;         /* the nginx side of ac's fd */
    ngx_event_t                  timer;     /* connect and command deadline */
    ngx_event_t                  flush;     /* writes at the loop's end */
    ngx_queue_t                  cmds;      /* sent, in the order of replies */
    ngx_uint_t                   ncmds;
    ngx_uint_t                   state;
    ngx_msec_t                   connect_deadline;
    ngx_msec_t                   retry;     /* no connect before */
    ngx_msec_t                   backoff;
    ngx_int_t                    reason;    /* why it is being closed */
    ngx_uint_t                   writing;   /* unsigned  writing:1; */
    u_char                       err[128];
};


/* a decision: one key of a script, waiting to go out, then on the wire */

struct ngx_astro_redis_cmd_s {
    ngx_queue_t                  queue;     /* the script's, the wire's */
    ngx_astro_redis_handler_pt   handler;   /* NULL: cancelled */
    void                        *data;
    ngx_msec_t                   deadline;
    ngx_uint_t                   probe;     /* unsigned  probe:1; */
    ngx_str_t                    argv[NGX_ASTRO_REDIS_ARGS + 1];
                                            /* the key, the arguments */
};


/* a command on the wire: a batch of decisions, or a setup command */

typedef struct {
    ngx_queue_t                  queue;     /* the connection's, in order */
    ngx_astro_redis_conn_t      *conn;
    ngx_astro_redis_script_t    *script;
    ngx_queue_t                  cmds;      /* the decisions */
    ngx_uint_t                   n;
    ngx_uint_t                   kind;
    ngx_msec_t                   deadline;
    uint64_t                     start;     /* us, for the round trip */
    unsigned                     probe:1;
    unsigned                     retried:1;
    unsigned                     capped:1;  /* deadline: its oldest's */
} ngx_astro_redis_wire_t;


/* the kinds of internal commands, pipelined ahead on a new connection */
#define NGX_ASTRO_REDIS_CMD_USER    0
#define NGX_ASTRO_REDIS_CMD_AUTH    1
#define NGX_ASTRO_REDIS_CMD_SELECT  2
#define NGX_ASTRO_REDIS_CMD_LOAD    3


static ngx_int_t ngx_astro_redis_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_astro_redis_conn_t *ngx_astro_redis_pick(ngx_astro_redis_t *rd);
static ngx_int_t ngx_astro_redis_connect(ngx_astro_redis_conn_t *conn);
static void ngx_astro_redis_retry_later(ngx_astro_redis_conn_t *conn);
static ngx_int_t ngx_astro_redis_setup(ngx_astro_redis_conn_t *conn);
static ngx_int_t ngx_astro_redis_internal(ngx_astro_redis_conn_t *conn,
    ngx_uint_t kind, int argc, const char **argv, const size_t *argvlen);
static void ngx_astro_redis_batch_handler(ngx_event_t *ev);
static void ngx_astro_redis_kick(ngx_astro_redis_t *rd);
static void ngx_astro_redis_hold_handler(ngx_event_t *ev);
static void ngx_astro_redis_hold(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script);
static ngx_uint_t ngx_astro_redis_full(ngx_queue_t *pending);
static void ngx_astro_redis_expire(ngx_astro_redis_t *rd,
    ngx_queue_t *pending);
static ngx_int_t ngx_astro_redis_send_batch(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire);
static ngx_int_t ngx_astro_redis_send(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_astro_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_astro_redis_dispatch(ngx_astro_redis_t *rd,
    ngx_astro_redis_wire_t *wire, redisReply *reply);
static void ngx_astro_redis_internal_reply(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, redisReply *reply);
static void ngx_astro_redis_fail(ngx_astro_redis_t *rd, ngx_queue_t *cmds,
    ngx_uint_t sent);
static void ngx_astro_redis_close(ngx_astro_redis_conn_t *conn,
    ngx_int_t reason, const char *err);
static ngx_uint_t ngx_astro_redis_reason(ngx_astro_redis_conn_t *conn);
static void ngx_astro_redis_arm(ngx_astro_redis_conn_t *conn);
static ngx_int_t ngx_astro_redis_first_deadline(ngx_astro_redis_conn_t *conn,
    ngx_msec_t *deadline);
static void ngx_astro_redis_timer_handler(ngx_event_t *ev);
static ngx_int_t ngx_astro_redis_allow(ngx_astro_redis_t *rd,
    ngx_uint_t *probe);
static void ngx_astro_redis_release(ngx_astro_redis_t *rd);
static void ngx_astro_redis_succeeded(ngx_astro_redis_t *rd,
    ngx_uint_t probe);
static void ngx_astro_redis_failed(ngx_astro_redis_t *rd, ngx_uint_t n,
    ngx_uint_t probe);
static void ngx_astro_redis_error(ngx_astro_redis_t *rd, ngx_uint_t kind,
    const char *fmt, ...);
static uint64_t ngx_astro_redis_now_us(void);

static void ngx_astro_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_astro_redis_add_read(void *privdata);
static void ngx_astro_redis_del_read(void *privdata);
static void ngx_astro_redis_add_write(void *privdata);
static void ngx_astro_redis_del_write(void *privdata);
static void ngx_astro_redis_cleanup(void *privdata);
static void ngx_astro_redis_flush_handler(ngx_event_t *ev);
static void ngx_astro_redis_read_handler(ngx_event_t *ev);
static void ngx_astro_redis_write_handler(ngx_event_t *ev);


/* the shared zone's tag: the same in every cycle, so a reload keeps it */
static ngx_uint_t  ngx_astro_redis_tag;


static const char  *ngx_astro_redis_errors[] = {
    "connect", "timeout", "auth", "protocol", "reply", "closed"
};


/* how a connection's end is told in the log, by kind */
static const char  *ngx_astro_redis_closes[] = {
    "connect failed: ", "", "", "bad reply: ", "", "connection lost: "
};


static const char  *ngx_astro_redis_states[] = {
    "closed", "open", "probing"
};


ngx_astro_redis_t *
ngx_astro_redis_create(ngx_conf_t *cf, ngx_str_t *tag)
{
    ngx_astro_redis_t  *rd;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_astro_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rd->scripts, cf->pool, 2,
                       sizeof(ngx_astro_redis_script_t *))
        != NGX_OK)
    {
        return NULL;
    }

    rd->tag = *tag;
    rd->db = NGX_CONF_UNSET_UINT;
    rd->pool = NGX_CONF_UNSET_UINT;
    rd->connect_timeout = NGX_CONF_UNSET_MSEC;
    rd->timeout = NGX_CONF_UNSET_MSEC;
    rd->hold_time = NGX_CONF_UNSET_MSEC;
    rd->max_fails = NGX_CONF_UNSET_UINT;
    rd->backoff = NGX_CONF_UNSET_MSEC;
    rd->max_backoff = NGX_CONF_UNSET_MSEC;

    return rd;
}


ngx_int_t
ngx_astro_redis_init_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd)
{
    size_t      len;
    ngx_str_t   name;
    u_char      buf[NGX_SOCKADDR_STRLEN];

    ngx_conf_init_uint_value(rd->db, 0);
    ngx_conf_init_uint_value(rd->pool, 2);
    ngx_conf_init_msec_value(rd->connect_timeout, 50);
    ngx_conf_init_msec_value(rd->timeout, 50);
    ngx_conf_init_msec_value(rd->hold_time, 5);
    ngx_conf_init_uint_value(rd->max_fails, 5);
    ngx_conf_init_msec_value(rd->backoff, 1000);
    ngx_conf_init_msec_value(rd->max_backoff, 30000);

    if (rd->max_backoff < rd->backoff) {
        rd->max_backoff = rd->backoff;
    }

    /* hiredis takes a numeric address: it resolves nothing in a worker */

    if (rd->addr->sockaddr->sa_family == AF_UNIX) {
        len = rd->addr->socklen - offsetof(struct sockaddr_un, sun_path);
        len = ngx_min(len, sizeof(rd->host) - 1);
        ngx_memcpy(rd->host,
                   ((struct sockaddr_un *) rd->addr->sockaddr)->sun_path,
                   len);
        rd->host[len] = '\0';
        rd->port = 0;

    } else {
        len = ngx_sock_ntop(rd->addr->sockaddr, rd->addr->socklen, buf,
                            NGX_SOCKADDR_STRLEN, 0);
        ngx_memcpy(rd->host, buf, len);
        rd->host[len] = '\0';
        rd->port = ngx_inet_get_port(rd->addr->sockaddr);
    }

    /* one zone per directive: a reload finds its counters and circuit */

    name.len = rd->tag.len;
    name.data = rd->tag.data;

    rd->shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                         &ngx_astro_redis_tag);
    if (rd->shm_zone == NULL) {
        return NGX_ERROR;
    }

    rd->shm_zone->init = ngx_astro_redis_init_zone;
    rd->shm_zone->data = rd;

    return NGX_OK;
}


ngx_int_t
ngx_astro_redis_add_script(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script)
{
    ngx_astro_redis_script_t  **s;

    s = ngx_array_push(&rd->scripts);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = script;

    return NGX_OK;
}


static ngx_int_t
ngx_astro_redis_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_astro_redis_t  *ord = data;

    ngx_slab_pool_t       *shpool;
    ngx_astro_redis_t     *rd;
    ngx_astro_redis_sh_t  *sh;

    rd = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    rd->shpool = shpool;

    if (ord) {
        rd->sh = ord->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        rd->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_astro_redis_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->backoff = rd->backoff;

    shpool->data = sh;
    rd->sh = sh;

    return NGX_OK;
}


ngx_int_t
ngx_astro_redis_init_worker(ngx_cycle_t *cycle, ngx_astro_redis_t *rd)
{
    ngx_uint_t                  i, n;
    ngx_astro_redis_conn_t     *conn;
    ngx_astro_redis_script_t  **script;

    rd->log = cycle->log;

    rd->conns = ngx_pcalloc(cycle->pool,
                            rd->pool * sizeof(ngx_astro_redis_conn_t));
    if (rd->conns == NULL) {
        return NGX_ERROR;
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

    for (i = 0; i < rd->pool; i++) {
        conn = &rd->conns[i];

        conn->redis = rd;
        ngx_queue_init(&conn->cmds);

        conn->timer.handler = ngx_astro_redis_timer_handler;
        conn->timer.data = conn;
        conn->timer.log = cycle->log;

        conn->flush.handler = ngx_astro_redis_flush_handler;
        conn->flush.data = conn;
        conn->flush.log = cycle->log;

        /* the first requests find the connections made; a failure waits */
        (void) ngx_astro_redis_connect(conn);
    }

    return NGX_OK;
}


void
ngx_astro_redis_exit_worker(ngx_astro_redis_t *rd)
{
    ngx_uint_t  i;

    if (rd->conns == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->hold.timer_set) {
        ngx_del_timer(&rd->hold);
    }

    for (i = 0; i < rd->pool; i++) {
        if (rd->conns[i].ac) {
            ngx_astro_redis_close(&rd->conns[i], NGX_ASTRO_REDIS_ERR_CLOSED,
                                  NULL);
        }
    }
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
    u_char                 *p;
    size_t                  size;
    ngx_uint_t              i, probe;
    ngx_astro_redis_cmd_t  *cmd;

    /*
     * no client in this process: with "master_process off" a reload does
     * not run init_process again
     */

    if (rd->conns == NULL || ngx_astro_redis_allow(rd, &probe) != NGX_OK) {
        ngx_atomic_fetch_add(&rd->sh->skipped, 1);
        return NULL;
    }

    size = sizeof(ngx_astro_redis_cmd_t) + key->len;

    for (i = 0; i < script->nargs; i++) {
        size += args[i].len;
    }

    cmd = ngx_alloc(size, rd->log);
    if (cmd == NULL) {
        if (probe) {
            ngx_astro_redis_release(rd);
        }

        ngx_atomic_fetch_add(&rd->sh->skipped, 1);
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->deadline = ngx_current_msec + rd->timeout;
    cmd->probe = probe;

    p = (u_char *) (cmd + 1);

    cmd->argv[0].data = p;
    cmd->argv[0].len = key->len;
    p = ngx_cpymem(p, key->data, key->len);

    for (i = 0; i < script->nargs; i++) {
        cmd->argv[i + 1].data = p;
        cmd->argv[i + 1].len = args[i].len;
        p = ngx_cpymem(p, args[i].data, args[i].len);
    }

    ngx_queue_insert_tail(&script->pending, &cmd->queue);

    if (!rd->batch.posted) {
        ngx_post_event(&rd->batch, &ngx_posted_events);
    }

    return cmd;
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

    ngx_uint_t                  i;
    ngx_queue_t                *q, *pending;
    ngx_astro_redis_cmd_t      *cmd;
    ngx_astro_redis_wire_t     *wire;
    ngx_astro_redis_conn_t     *conn;
    ngx_astro_redis_script_t  **script;

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        pending = &script[i]->pending;

        ngx_astro_redis_expire(rd, pending);

        while (!ngx_queue_empty(pending)) {

            conn = ngx_astro_redis_pick(rd);

            if (conn == NULL) {
                /* no connection: decided without Redis, at once */
                ngx_astro_redis_fail(rd, pending, 0);
                break;
            }

            if (conn->state == NGX_ASTRO_REDIS_READY
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

            while (wire->n < NGX_ASTRO_REDIS_BATCH
                   && !ngx_queue_empty(pending))
            {
                q = ngx_queue_head(pending);
                ngx_queue_remove(q);
                cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

                if (cmd->handler == NULL && !cmd->probe) {
                    ngx_free(cmd);          /* its request has gone */
                    continue;
                }

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

    for (i = 0; i < rd->pool; i++) {
        conn = &rd->conns[i];

        if (conn->flush.posted) {
            ngx_delete_posted_event(&conn->flush);
            ngx_astro_redis_flush_handler(&conn->flush);
        }
    }
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


/* a reply, a connection made or lost: the decisions held may go out */

static void
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

    ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_TIMEOUT,
                          "%ui commands waited for the call in flight "
                          "past their timeout", n);
    ngx_astro_redis_failed(rd, n, probe);
    ngx_astro_redis_fail(rd, &expired, 1);
}


/*
 * A ready connection with the fewest commands in flight, else one being
 * made; a closed connection whose backoff is over is made again, so the
 * pool fills back up.
 */

static ngx_astro_redis_conn_t *
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


static ngx_int_t
ngx_astro_redis_connect(ngx_astro_redis_conn_t *conn)
{
    ngx_event_t         *rev, *wev;
    ngx_connection_t    *c;
    ngx_astro_redis_t   *rd;
    redisAsyncContext   *ac;

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
                      "%V: redis %V: no memory for a connection",
                      &rd->tag, &rd->name);
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_CONNECT,
                              "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        goto failed;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        goto failed;
    }

    c->data = conn;

    rev = c->read;
    wev = c->write;

    rev->handler = ngx_astro_redis_read_handler;
    wev->handler = ngx_astro_redis_write_handler;
    rev->log = rd->log;
    wev->log = rd->log;

    conn->ac = ac;
    conn->c = c;
    conn->state = NGX_ASTRO_REDIS_CONNECTING;
    conn->reason = -1;

    ac->data = conn;
    ac->ev.data = conn;
    ac->ev.addRead = ngx_astro_redis_add_read;
    ac->ev.delRead = ngx_astro_redis_del_read;
    ac->ev.addWrite = ngx_astro_redis_add_write;
    ac->ev.delWrite = ngx_astro_redis_del_write;
    ac->ev.cleanup = ngx_astro_redis_cleanup;

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

    max = conn->redis->max_backoff;

    conn->retry = ngx_current_msec + conn->backoff;
    conn->backoff = conn->backoff ? ngx_min(conn->backoff * 2, max)
                                  : ngx_min(NGX_ASTRO_REDIS_RETRY_MIN, max);
}


/* AUTH, SELECT and SCRIPT LOAD, pipelined ahead of the first command */

static ngx_int_t
ngx_astro_redis_setup(ngx_astro_redis_conn_t *conn)
{
    int                         argc;
    size_t                      argvlen[3];
    u_char                      db[NGX_INT_T_LEN];
    ngx_uint_t                  i;
    const char                 *argv[3];
    ngx_astro_redis_t          *rd;
    ngx_astro_redis_script_t  **script;

    rd = conn->redis;

    if (rd->password.len) {
        argc = 0;

        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (rd->user.len) {
            argv[argc] = (const char *) rd->user.data;
            argvlen[argc++] = rd->user.len;
        }

        argv[argc] = (const char *) rd->password.data;
        argvlen[argc++] = rd->password.len;

        if (ngx_astro_redis_internal(conn, NGX_ASTRO_REDIS_CMD_AUTH, argc,
                                     argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (rd->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", rd->db) - db;

        if (ngx_astro_redis_internal(conn, NGX_ASTRO_REDIS_CMD_SELECT, 2,
                                     argv, argvlen)
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

    if (ngx_astro_redis_send(conn, wire, argc, argv, argvlen) != NGX_OK) {
        ngx_free(wire);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * EVALSHA sha n key... (run arguments...)..., or EVAL with the script's
 * body once Redis has answered NOSCRIPT; Redis takes the time for all of
 * them.  The keys of a zone (or a tier) in a row share one run: a batch
 * of one rate sends its arguments once.
 */

static ngx_int_t
ngx_astro_redis_send_batch(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire)
{
    u_char                     nkeys[NGX_INT_T_LEN], *p;
    u_char                     runs[NGX_ASTRO_REDIS_BATCH * 3];
    size_t                    *argvlen;
    ngx_uint_t                 i, k, a, r, run, nargs;
    ngx_queue_t               *q;
    const char               **argv;
    ngx_astro_redis_t         *rd;
    ngx_astro_redis_cmd_t     *cmd, *prev;
    ngx_astro_redis_script_t  *script;

    rd = conn->redis;
    script = wire->script;
    nargs = script->nargs;

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

    return ngx_astro_redis_send(conn, wire, (int) a, argv, argvlen);
}


static ngx_int_t
ngx_astro_redis_send(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_msec_t          deadline;
    ngx_astro_redis_t  *rd;

    rd = conn->redis;

    /* hiredis copies the command into its buffer, written at turn's end */

    if (redisAsyncCommandArgv(conn->ac, ngx_astro_redis_reply, wire, argc,
                              argv, argvlen)
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

    if (wire->script) {
        wire->script->inflight++;
        wire->script->sent = ngx_current_msec;
    }

    ngx_atomic_fetch_add(&rd->sh->in_flight, wire->n);

    ngx_astro_redis_arm(conn);

    return NGX_OK;
}


/* hiredis's callback: a reply, or NULL when the connection is gone */

static void
ngx_astro_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply              *reply = r;
    ngx_astro_redis_wire_t  *wire = privdata;

    uint64_t                 rtt;
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_conn_t  *conn;

    conn = wire->conn;
    rd = conn->redis;

    ngx_queue_remove(&wire->queue);
    conn->ncmds--;

    if (wire->script) {
        wire->script->inflight--;
    }

    ngx_astro_redis_kick(rd);

    ngx_atomic_fetch_add(&rd->sh->in_flight, -(ngx_atomic_int_t) wire->n);

    if (reply == NULL) {
        (void) ngx_astro_redis_reason(conn);
        goto failed;
    }

    /*
     * the connection works: a failure later is tried again at once (not
     * after an AUTH or SELECT that failed: that one would fail again)
     */

    if (reply->type != REDIS_REPLY_ERROR) {
        conn->backoff = 0;
    }

    if (wire->script == NULL) {
        ngx_astro_redis_internal_reply(conn, wire, reply);
        ngx_free(wire);
        return;
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

        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_REPLY,
                              "error reply: %*s",
                              (size_t) ngx_min(reply->len, 256), reply->str);
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

    ngx_atomic_fetch_add(&rd->sh->rtt_us, rtt);
    ngx_atomic_fetch_add(&rd->sh->rtt[ngx_astro_hist_bucket((rtt + 9) / 10)],
                         1);

    if (ngx_astro_redis_dispatch(rd, wire, reply) == NGX_OK) {
        ngx_astro_redis_succeeded(rd, wire->probe);
    }

    ngx_free(wire);

    return;

failed:

    if (wire->script) {
        ngx_astro_redis_failed(rd, wire->n, wire->probe);
        ngx_astro_redis_fail(rd, &wire->cmds, 1);
    }

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

static void
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


static void
ngx_astro_redis_internal_reply(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, redisReply *reply)
{
    size_t              len;
    ngx_astro_redis_t  *rd;

    if (reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    rd = conn->redis;
    len = ngx_min(reply->len, 256);

    switch (wire->kind) {

    case NGX_ASTRO_REDIS_CMD_AUTH:
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_AUTH, NULL);
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_AUTH,
                              "AUTH failed: %*s", len, reply->str);
        return;

    case NGX_ASTRO_REDIS_CMD_SELECT:
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_REPLY, NULL);
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_REPLY,
                              "SELECT %ui failed: %*s", rd->db, len,
                              reply->str);
        return;

    default: /* NGX_ASTRO_REDIS_CMD_LOAD: EVALSHA falls back to EVAL */
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_REPLY,
                              "SCRIPT LOAD failed: %*s", len, reply->str);
        return;
    }
}


/*
 * Frees the connection's context: hiredis answers every command on it
 * with NULL, then calls ngx_astro_redis_cleanup().  Inside a hiredis
 * callback the free happens when the callback returns.  The error, when
 * given, is logged; reason NULL errors were logged by the caller.
 */

static void
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

static ngx_uint_t
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

    ngx_msec_t          deadline;
    ngx_astro_redis_t  *rd;

    rd = conn->redis;

    if (conn->ac == NULL) {
        return;
    }

    if (conn->state == NGX_ASTRO_REDIS_CONNECTING) {

        if ((ngx_msec_int_t) (ngx_current_msec - conn->connect_deadline)
            >= 0)
        {
            ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CONNECT,
                                  "timed out");
            return;
        }

    } else if (ngx_astro_redis_first_deadline(conn, &deadline) == NGX_OK
               && (ngx_msec_int_t) (ngx_current_msec - deadline) >= 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "astro redis: %ui commands timed out", conn->ncmds);

        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_TIMEOUT,
                              "no reply in time, connection closed");
        return;
    }

    ngx_astro_redis_arm(conn);
}


/*
 * The circuit: NGX_OK to send, NGX_DECLINED while it is open.  Once the
 * backoff is over one command probes; a probe that got no answer in time
 * lets another one try.
 */

static ngx_int_t
ngx_astro_redis_allow(ngx_astro_redis_t *rd, ngx_uint_t *probe)
{
    ngx_uint_t             state;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;
    *probe = 0;

    if (sh->state == NGX_ASTRO_REDIS_CLOSED) {
        return NGX_OK;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - sh->until) < 0) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);

    state = sh->state;

    if (state != NGX_ASTRO_REDIS_CLOSED
        && (ngx_msec_int_t) (ngx_current_msec - sh->until) >= 0)
    {
        sh->state = NGX_ASTRO_REDIS_PROBING;
        sh->until = ngx_current_msec + rd->connect_timeout + rd->timeout;
        state = NGX_ASTRO_REDIS_CLOSED;
        *probe = 1;
    }

    ngx_shmtx_unlock(&rd->shpool->mutex);

    return state == NGX_ASTRO_REDIS_CLOSED ? NGX_OK : NGX_DECLINED;
}


/* a probe that was not sent: the next request probes */

static void
ngx_astro_redis_release(ngx_astro_redis_t *rd)
{
    ngx_shmtx_lock(&rd->shpool->mutex);

    /* not if another worker's probe has answered meanwhile */

    if (rd->sh->state == NGX_ASTRO_REDIS_PROBING) {
        rd->sh->state = NGX_ASTRO_REDIS_OPEN;
        rd->sh->until = ngx_current_msec;
    }

    ngx_shmtx_unlock(&rd->shpool->mutex);
}


static void
ngx_astro_redis_succeeded(ngx_astro_redis_t *rd, ngx_uint_t probe)
{
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    if (sh->fails) {
        sh->fails = 0;
    }

    if (!probe) {
        return;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);
    sh->state = NGX_ASTRO_REDIS_CLOSED;
    sh->backoff = rd->backoff;
    ngx_shmtx_unlock(&rd->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "%V: redis %V: answers again, circuit closed",
                  &rd->tag, &rd->name);
}


static void
ngx_astro_redis_failed(ngx_astro_redis_t *rd, ngx_uint_t n, ngx_uint_t probe)
{
    ngx_msec_t             backoff;
    ngx_uint_t             fails, opened;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    ngx_atomic_fetch_add(&sh->failed, n);

    fails = ngx_atomic_fetch_add(&sh->fails, n) + n;

    if (!probe
        && (fails < rd->max_fails || sh->state != NGX_ASTRO_REDIS_CLOSED))
    {
        return;
    }

    opened = 0;

    ngx_shmtx_lock(&rd->shpool->mutex);

    if (probe) {
        /* a late probe: another one may have closed the circuit since */

        if (sh->state == NGX_ASTRO_REDIS_PROBING) {
            sh->backoff = ngx_min(sh->backoff * 2, rd->max_backoff);
            opened = 1;
        }

    } else if (sh->state == NGX_ASTRO_REDIS_CLOSED) {
        sh->backoff = rd->backoff;
        opened = 1;
    }

    if (opened) {
        sh->state = NGX_ASTRO_REDIS_OPEN;
        sh->until = ngx_current_msec + sh->backoff;
        sh->opened++;
    }

    backoff = sh->backoff;

    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (!opened) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "%V: redis %V: circuit open after %ui failed commands, "
                  "Redis is not asked for %Mms", &rd->tag, &rd->name,
                  fails, backoff);
}


/* counted always, logged at most once a second per kind and worker */

static void
ngx_astro_redis_error(ngx_astro_redis_t *rd, ngx_uint_t kind,
    const char *fmt, ...)
{
    u_char   *p, *last;
    time_t    now;
    va_list   args;
    u_char    buf[512];

    if (rd->exiting) {
        return;
    }

    ngx_atomic_fetch_add(&rd->sh->errors[kind], 1);

    now = ngx_time();

    if (rd->logged[kind] == now) {
        rd->suppressed[kind]++;
        return;
    }

    last = buf + sizeof(buf);

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    if (rd->suppressed[kind]) {
        p = ngx_slprintf(p, last, " (and %ui more since the last report)",
                         rd->suppressed[kind]);
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0, "%V: redis %V: %*s",
                  &rd->tag, &rd->name, p - buf, buf);

    rd->logged[kind] = now;
    rd->suppressed[kind] = 0;
}


static uint64_t
ngx_astro_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


/* the adapter: hiredis's hooks on nginx's level-triggered events */

static void
ngx_astro_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_astro_redis_conn_t  *conn = ac->data;

    ngx_msec_t               deadline;
    ngx_queue_t             *q;
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_wire_t  *wire;

    if (status != REDIS_OK) {
        /* hiredis frees the context next: the commands fail */
        if (conn->reason < 0) {
            conn->reason = NGX_ASTRO_REDIS_ERR_CONNECT;
            ngx_cpystrn(conn->err, (u_char *) ac->errstr, sizeof(conn->err));
        }

        return;
    }

    conn->state = NGX_ASTRO_REDIS_READY;

    ngx_atomic_fetch_add(&conn->redis->sh->connections, 1);

    /*
     * the commands queued meanwhile have their timeout from now; a batch
     * of decisions, at most connect_timeout more than it had
     */

    rd = conn->redis;
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


/*
 * hiredis frees the context, after it answered the pending commands with
 * NULL, and closes the socket next: the events go with it.
 */

static void
ngx_astro_redis_cleanup(void *privdata)
{
    ngx_astro_redis_conn_t  *conn = privdata;

    ngx_uint_t          reason;
    ngx_connection_t   *c;
    ngx_astro_redis_t  *rd;

    rd = conn->redis;
    c = conn->c;

    reason = ngx_astro_redis_reason(conn);

    if (conn->err[0]) {
        ngx_astro_redis_error(rd, reason, "%s%s",
                              ngx_astro_redis_closes[reason], conn->err);
    }

    if (c) {
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

        if (conn->flush.posted) {
            ngx_delete_posted_event(&conn->flush);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    if (conn->timer.timer_set) {
        ngx_del_timer(&conn->timer);
    }

    if (conn->state == NGX_ASTRO_REDIS_READY) {
        ngx_atomic_fetch_add(&rd->sh->connections, -1);
    }

    conn->ac = NULL;
    conn->c = NULL;
    conn->state = NGX_ASTRO_REDIS_IDLE;

    ngx_astro_redis_retry_later(conn);
    ngx_astro_redis_kick(rd);
}


static void
ngx_astro_redis_flush_handler(ngx_event_t *ev)
{
    ngx_astro_redis_conn_t  *conn = ev->data;

    /* hiredis asks for the write event when the socket is full */

    conn->writing = 1;
    redisAsyncHandleWrite(conn->ac);
    conn->writing = 0;
}


static void
ngx_astro_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_astro_redis_conn_t  *conn = c->data;

    /* worker_shutdown_timeout closes every connection through its reader */

    if (c->close) {
        ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CLOSED, NULL);
        return;
    }

    redisAsyncHandleRead(conn->ac);
}


static void
ngx_astro_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_astro_redis_conn_t  *conn = c->data;

    conn->writing = 1;
    redisAsyncHandleWrite(conn->ac);
    conn->writing = 0;
}


void
ngx_astro_redis_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    uint64_t               counts[NGX_ASTRO_HIST_N], calls;
    ngx_uint_t             i;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    ngx_astro_out_literal(out, "{\"address\":");
    ngx_astro_out_json_str(out, rd->name.data, rd->name.len);

    if (sh == NULL) {
        ngx_astro_out_literal(out, "}");
        return;
    }

    calls = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        counts[i] = sh->rtt[i];
        calls += counts[i];
    }

    ngx_astro_out_printf(out,
                         ",\"circuit\":\"%s\",\"consecutive_failures\":%uA,"
                         "\"circuit_opened\":%uA,\"pool\":%ui,"
                         "\"connections\":%A,\"in_flight\":%A,"
                         "\"commands\":%uA,\"failed\":%uA,\"skipped\":%uA,"
                         "\"noscript\":%uA,\"errors\":{",
                         ngx_astro_redis_states[sh->state], sh->fails,
                         sh->opened, rd->pool, sh->connections,
                         sh->in_flight, sh->commands, sh->failed, sh->skipped,
                         sh->noscript);

    for (i = 0; i < NGX_ASTRO_REDIS_ERR_N; i++) {
        ngx_astro_out_printf(out, "%s\"%s\":%uA", i ? "," : "",
                             ngx_astro_redis_errors[i], sh->errors[i]);
    }

    ngx_astro_out_printf(out,
                         "},\"rtt_us\":{\"mean\":%uA,\"p50\":%.0f,"
                         "\"p99\":%.0f}}",
                         calls ? sh->rtt_us / calls : 0,
                         ngx_astro_hist_quantile(counts, 0.5) * 10,
                         ngx_astro_hist_quantile(counts, 0.99) * 10);
}


void
ngx_astro_redis_prometheus(ngx_astro_out_t *out, ngx_astro_redis_t *rd,
    const char *prefix)
{
    uint64_t               n;
    ngx_uint_t             i;
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    if (sh == NULL) {
        return;
    }

    ngx_astro_out_printf(out,
        "# HELP %s_redis_circuit Circuit state: 0 closed, 1 open, "
        "2 probing\n# TYPE %s_redis_circuit gauge\n%s_redis_circuit %uA\n"
        "# HELP %s_redis_circuit_opened_total Times the circuit opened\n"
        "# TYPE %s_redis_circuit_opened_total counter\n"
        "%s_redis_circuit_opened_total %uA\n"
        "# HELP %s_redis_connections Connections to Redis, all workers\n"
        "# TYPE %s_redis_connections gauge\n%s_redis_connections %A\n"
        "# HELP %s_redis_pool Connections per worker, configured\n"
        "# TYPE %s_redis_pool gauge\n%s_redis_pool %ui\n"
        "# HELP %s_redis_in_flight Decisions sent and not answered\n"
        "# TYPE %s_redis_in_flight gauge\n%s_redis_in_flight %A\n"
        "# HELP %s_redis_commands_total Decisions asked of Redis by outcome\n"
        "# TYPE %s_redis_commands_total counter\n"
        "%s_redis_commands_total{outcome=\"answered\"} %uA\n"
        "%s_redis_commands_total{outcome=\"failed\"} %uA\n"
        "%s_redis_commands_total{outcome=\"skipped\"} %uA\n"
        "# HELP %s_redis_noscript_total Decisions sent again after NOSCRIPT\n"
        "# TYPE %s_redis_noscript_total counter\n"
        "%s_redis_noscript_total %uA\n"
        "# HELP %s_redis_errors_total Redis errors by kind\n"
        "# TYPE %s_redis_errors_total counter\n",
        prefix, prefix, prefix, sh->state,
        prefix, prefix, prefix, sh->opened,
        prefix, prefix, prefix, sh->connections,
        prefix, prefix, prefix, rd->pool,
        prefix, prefix, prefix, sh->in_flight,
        prefix, prefix,
        prefix, sh->commands, prefix, sh->failed, prefix, sh->skipped,
        prefix, prefix, prefix, sh->noscript,
        prefix, prefix);

    for (i = 0; i < NGX_ASTRO_REDIS_ERR_N; i++) {
        ngx_astro_out_printf(out, "%s_redis_errors_total{kind=\"%s\"} %uA\n",
                             prefix, ngx_astro_redis_errors[i],
                             sh->errors[i]);
    }

    ngx_astro_out_printf(out,
        "# HELP %s_redis_rtt_seconds Round trip of the script calls\n"
        "# TYPE %s_redis_rtt_seconds histogram\n", prefix, prefix);

    n = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N - 1; i++) {
        n += sh->rtt[i];
        ngx_astro_out_printf(out,
                             "%s_redis_rtt_seconds_bucket{le=\"%.5f\"} %uL\n",
                             prefix, ngx_astro_hist_bounds[i] / 1e5, n);
    }

    n += sh->rtt[i];

    ngx_astro_out_printf(out,
                         "%s_redis_rtt_seconds_bucket{le=\"+Inf\"} %uL\n"
                         "%s_redis_rtt_seconds_sum %.6f\n"
                         "%s_redis_rtt_seconds_count %uL\n",
                         prefix, n, prefix, sh->rtt_us / 1e6, prefix, n);
}
