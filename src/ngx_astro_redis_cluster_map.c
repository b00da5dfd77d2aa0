
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/*
 * A cluster's slot map in a worker: read with CLUSTER SLOTS from the
 * servers it knows, in turn, when the worker starts, after a MOVED and
 * while a master fails, at most once a second; the decisions made before
 * the first map wait for it, within their timeout.
 */


/* CLUSTER SLOTS at most so often after a MOVED, and again after none */
#define NGX_ASTRO_REDIS_MAP_EVERY  1000


static void ngx_astro_redis_cluster_refresh_handler(ngx_event_t *ev);
static void ngx_astro_redis_cluster_slots(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_astro_redis_cluster_map(ngx_astro_redis_cluster_t *cl,
    ngx_astro_redis_t *from, redisReply *reply);
static void ngx_astro_redis_cluster_publish(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_route(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_wait_handler(ngx_event_t *ev);
static void ngx_astro_redis_cluster_unmapped(ngx_astro_redis_t *rd,
    ngx_astro_redis_cmd_t *cmd);


void
ngx_astro_redis_cluster_map_init(ngx_astro_redis_cluster_t *cl,
    ngx_log_t *log)
{
    cl->refresh.handler = ngx_astro_redis_cluster_refresh_handler;
    cl->refresh.data = cl;
    cl->refresh.log = log;
    cl->refresh.cancelable = 1;

    /* not cancelable: a decision waiting for the map is answered */

    cl->wait.handler = ngx_astro_redis_cluster_wait_handler;
    cl->wait.data = cl;
    cl->wait.log = log;
}


/*
 * CLUSTER SLOTS to the next server whose circuit is not open and that
 * has a connection; none: again in a second.
 */

void
ngx_astro_redis_cluster_ask_map(ngx_astro_redis_cluster_t *cl)
{
    size_t                   argvlen[2];
    ngx_uint_t               k;
    const char              *argv[2];
    ngx_astro_redis_t       *node;
    ngx_astro_redis_conn_t  *conn;
    ngx_astro_redis_wire_t  *wire;

    if (cl->asking || cl->client->exiting) {
        return;
    }

    if (cl->refresh.timer_set) {
        ngx_del_timer(&cl->refresh);
    }

    argv[0] = "CLUSTER";
    argvlen[0] = 7;
    argv[1] = "SLOTS";
    argvlen[1] = 5;

    for (k = 0; k < cl->n; k++) {
        node = cl->nodes[cl->next++ % cl->n];

        if (node->sh->circuit.state == NGX_ASTRO_CIRCUIT_OPEN) {
            continue;
        }

        conn = ngx_astro_redis_pick(node);
        if (conn == NULL) {
            continue;
        }

        wire = ngx_calloc(sizeof(ngx_astro_redis_wire_t), cl->client->log);
        if (wire == NULL) {
            break;
        }

        wire->kind = NGX_ASTRO_REDIS_CMD_SLOTS;
        ngx_queue_init(&wire->cmds);

        if (ngx_astro_redis_send(conn, wire, ngx_astro_redis_cluster_slots,
                                 2, argv, argvlen)
            != NGX_OK)
        {
            ngx_free(wire);
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cl->client->log, 0,
                       "astro_redis: CLUSTER SLOTS to %V", &node->name);

        cl->asking = 1;
        cl->again = 0;
        cl->asked = ngx_current_msec;

        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, cl->client->log, 0,
                   "astro_redis: no cluster server to ask for the map");

    ngx_add_timer(&cl->refresh, NGX_ASTRO_REDIS_MAP_EVERY);
}


/*
 * A MOVED, a master failing: the map is read again now, or a second after
 * it last was
 */

void
ngx_astro_redis_cluster_stale(ngx_astro_redis_cluster_t *cl)
{
    ngx_msec_int_t  left;

    if (cl->asking) {
        cl->again = 1;
        return;
    }

    left = (ngx_msec_int_t) (cl->asked + NGX_ASTRO_REDIS_MAP_EVERY
                             - ngx_current_msec);

    if (left <= 0) {
        ngx_astro_redis_cluster_ask_map(cl);
        return;
    }

    if (!cl->refresh.timer_set) {
        ngx_add_timer(&cl->refresh, (ngx_msec_t) left);
    }
}


static void
ngx_astro_redis_cluster_refresh_handler(ngx_event_t *ev)
{
    ngx_astro_redis_cluster_ask_map(ev->data);
}


/*
 * hiredis's callback of CLUSTER SLOTS: the map; a failure asks the next
 * server, or all have failed in a row: again in a second.
 */

static void
ngx_astro_redis_cluster_slots(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply              *reply = r;
    ngx_astro_redis_wire_t  *wire = privdata;

    ngx_astro_redis_t          *node;
    ngx_astro_redis_cluster_t  *cl;

    node = wire->conn->redis;
    cl = node->cluster;

    reply = ngx_astro_redis_answered(wire, reply);
    ngx_free(wire);

    cl->asking = 0;

    if (cl->client->exiting) {
        return;
    }

    if (reply == NULL || ngx_astro_redis_cluster_map(cl, node, reply)
                         != NGX_OK)
    {
        ngx_atomic_fetch_add(&cl->sh->map_failed, 1);

        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_astro_redis_error(node, NGX_ASTRO_REDIS_ERR_REPLY,
                                  "CLUSTER SLOTS failed: %*s",
                                  (size_t) ngx_min(reply->len, 256),
                                  reply->str);

        } else if (reply) {
            ngx_astro_redis_error(node, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                                  "CLUSTER SLOTS: unexpected reply");
        }

        if (++cl->tries < cl->n) {
            ngx_astro_redis_cluster_ask_map(cl);

        } else {
            cl->tries = 0;

            if (!cl->refresh.timer_set) {
                ngx_add_timer(&cl->refresh, NGX_ASTRO_REDIS_MAP_EVERY);
            }
        }

        return;
    }

    cl->tries = 0;
    ngx_atomic_fetch_add(&cl->sh->maps, 1);

    ngx_astro_redis_cluster_publish(cl);

    if (!cl->known) {
        cl->known = 1;
        ngx_astro_redis_cluster_route(cl);
    }

    if (cl->again) {
        ngx_astro_redis_cluster_stale(cl);
    }
}


/*
 * The map of CLUSTER SLOTS: [start, end, [host, port, ...], replicas...]
 * a range; an empty host (or "?") is the server that answered.
 */

static ngx_int_t
ngx_astro_redis_cluster_map(ngx_astro_redis_cluster_t *cl,
    ngx_astro_redis_t *from, redisReply *reply)
{
    size_t       len;
    u_char      *host;
    ngx_int_t    n;
    ngx_uint_t   i, s, slots;
    redisReply  *range, *master;
    u_char       map[NGX_ASTRO_REDIS_SLOTS];

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    ngx_memzero(map, sizeof(map));
    slots = 0;

    for (i = 0; i < reply->elements; i++) {
        range = reply->element[i];

        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
            || range->element[0]->type != REDIS_REPLY_INTEGER
            || range->element[1]->type != REDIS_REPLY_INTEGER
            || range->element[0]->integer < 0
            || range->element[1]->integer >= NGX_ASTRO_REDIS_SLOTS
            || range->element[0]->integer > range->element[1]->integer)
        {
            return NGX_ERROR;
        }

        master = range->element[2];

        if (master->type != REDIS_REPLY_ARRAY || master->elements < 2
            || master->element[0]->type != REDIS_REPLY_STRING
            || master->element[1]->type != REDIS_REPLY_INTEGER
            || master->element[1]->integer < 1
            || master->element[1]->integer > 65535)
        {
            return NGX_ERROR;
        }

        host = (u_char *) master->element[0]->str;
        len = master->element[0]->len;

        if (len == 0 || (len == 1 && host[0] == '?')) {
            host = (u_char *) from->host;
            len = ngx_strlen(from->host);
        }

        n = ngx_astro_redis_cluster_node(cl, host, len,
                                         (ngx_uint_t)
                                         master->element[1]->integer);
        if (n == NGX_ERROR) {
            continue;               /* its slots have no master */
        }

        for (s = (ngx_uint_t) range->element[0]->integer;
             s <= (ngx_uint_t) range->element[1]->integer;
             s++)
        {
            slots += (map[s] == 0);
            map[s] = (u_char) (n + 1);
        }
    }

    ngx_memcpy(cl->map, map, sizeof(map));

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, cl->client->log, 0,
                   "astro_redis: cluster map from %V: %ui slots, %ui "
                   "servers known", &from->name, slots, cl->n);

    return NGX_OK;
}


/* the servers' slots as this worker's map has them, for the status */

static void
ngx_astro_redis_cluster_publish(ngx_astro_redis_cluster_t *cl)
{
    ngx_uint_t                  i, s, start;
    ngx_astro_redis_node_sh_t  *node;

    ngx_shmtx_lock(&cl->client->shpool->mutex);

    for (i = 0; i < cl->n; i++) {
        cl->shared[i]->slots = 0;
        cl->shared[i]->nranges = 0;
    }

    for (s = 0; s < NGX_ASTRO_REDIS_SLOTS; s = i) {

        for (i = s + 1;
             i < NGX_ASTRO_REDIS_SLOTS && cl->map[i] == cl->map[s];
             i++)
        { /* void */ }

        if (cl->map[s] == 0) {
            continue;
        }

        node = cl->shared[cl->map[s] - 1];
        node->slots += i - s;
        start = node->nranges++;

        if (start < NGX_ASTRO_REDIS_RANGES) {
            node->ranges[start][0] = (uint16_t) s;
            node->ranges[start][1] = (uint16_t) (i - 1);
        }
    }

    ngx_shmtx_unlock(&cl->client->shpool->mutex);
}


/* the first map: the decisions that waited go to their masters */

static void
ngx_astro_redis_cluster_route(ngx_astro_redis_cluster_t *cl)
{
    ngx_uint_t                  i, n, probe;
    ngx_queue_t                *q;
    ngx_astro_redis_t          *rd, *node;
    ngx_astro_redis_cmd_t      *cmd;
    ngx_astro_redis_script_t  **script;

    rd = cl->client;
    script = rd->scripts.elts;

    if (cl->wait.timer_set) {
        ngx_del_timer(&cl->wait);
    }

    for (i = 0; i < rd->scripts.nelts; i++) {

        while (!ngx_queue_empty(&script[i]->pending)) {
            q = ngx_queue_head(&script[i]->pending);
            ngx_queue_remove(q);
            cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

            if (cmd->handler == NULL) {
                ngx_free(cmd);          /* its request has gone */
                continue;
            }

            n = cl->map[cmd->slot];

            if (n == 0) {
                ngx_atomic_fetch_add(&cl->sh->unmapped, 1);
                ngx_astro_redis_cluster_unmapped(rd, cmd);
                continue;
            }

            node = cl->nodes[n - 1];

            if (node->conns == NULL
                || ngx_astro_redis_allow(node, &probe) != NGX_OK)
            {
                ngx_astro_redis_cluster_unmapped(node, cmd);
                continue;
            }

            cmd->probe = probe;

            ngx_astro_redis_queue(node,
                                  ngx_astro_redis_cluster_script(rd,
                                                                 script[i],
                                                                 node),
                                  cmd);
        }
    }
}


/* the wait for the first map ends with the first decision's deadline */

void
ngx_astro_redis_cluster_wait(ngx_astro_redis_cluster_t *cl)
{
    ngx_uint_t                  i;
    ngx_msec_t                  deadline;
    ngx_msec_int_t              left;
    ngx_astro_redis_t          *rd;
    ngx_astro_redis_cmd_t      *cmd;
    ngx_astro_redis_script_t  **script;

    rd = cl->client;
    script = rd->scripts.elts;
    deadline = ngx_current_msec + rd->timeout;

    for (i = 0; i < rd->scripts.nelts; i++) {
        if (ngx_queue_empty(&script[i]->pending)) {
            continue;
        }

        cmd = ngx_queue_data(ngx_queue_head(&script[i]->pending),
                             ngx_astro_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (cmd->deadline - deadline) < 0) {
            deadline = cmd->deadline;
        }
    }

    left = (ngx_msec_int_t) (deadline - ngx_current_msec);

    if (cl->wait.timer_set
        && (ngx_msec_int_t) (cl->wait.timer.key - deadline) <= 0)
    {
        return;
    }

    if (cl->wait.timer_set) {
        ngx_del_timer(&cl->wait);
    }

    ngx_add_timer(&cl->wait, left > 0 ? (ngx_msec_t) left : 1);
}


/* no map in time: the decisions due take the fail policy */

static void
ngx_astro_redis_cluster_wait_handler(ngx_event_t *ev)
{
    ngx_astro_redis_cluster_t *cl = ev->data;

    ngx_uint_t                  i, more;
    ngx_queue_t                *q;
    ngx_astro_redis_t          *rd;
    ngx_astro_redis_cmd_t      *cmd;
    ngx_astro_redis_script_t  **script;

    rd = cl->client;
    script = rd->scripts.elts;
    more = 0;

    for (i = 0; i < rd->scripts.nelts; i++) {

        while (!ngx_queue_empty(&script[i]->pending)) {
            q = ngx_queue_head(&script[i]->pending);
            cmd = ngx_queue_data(q, ngx_astro_redis_cmd_t, queue);

            if ((ngx_msec_int_t) (ngx_current_msec - cmd->deadline) < 0) {
                more = 1;
                break;
            }

            ngx_queue_remove(q);

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                           "astro_redis: key \"%V\": no cluster map in "
                           "time", &cmd->argv[0]);

            ngx_astro_redis_cluster_unmapped(rd, cmd);
        }
    }

    if (more) {
        ngx_astro_redis_cluster_wait(cl);
    }
}


/* a decision that no master takes: the fail policy, at once */

static void
ngx_astro_redis_cluster_unmapped(ngx_astro_redis_t *rd,
    ngx_astro_redis_cmd_t *cmd)
{
    ngx_atomic_fetch_add(&rd->sh->skipped, 1);

    if (cmd->handler) {
        (void) cmd->handler(cmd->data, NULL);
    }

    ngx_free(cmd);
}
