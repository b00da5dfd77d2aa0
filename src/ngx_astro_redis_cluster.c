
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/*
 * A Redis Cluster behind one client.  Each worker reads the slot map with
 * CLUSTER SLOTS from a server it knows (the seeds first) when it starts,
 * and again after a MOVED, at most once a second.  Each server the map
 * names is a client of its own in the worker (a "node": its pool of
 * connections, its batches, its counts and circuit in the shared zone,
 * found there by its address), made when first named.  A decision goes to
 * the node of its key's slot, where a call carries the keys of one slot
 * (_batch.c); MOVED and ASK are followed there once.  Decisions made
 * before the worker's first map wait for it, within their timeout.
 */


/* CLUSTER SLOTS at most so often after a MOVED, and again after none */
#define NGX_ASTRO_REDIS_MAP_EVERY  1000


static ngx_int_t ngx_astro_redis_cluster_node(ngx_astro_redis_cluster_t *cl,
    u_char *host, size_t len, ngx_uint_t port);
static ngx_astro_redis_node_sh_t *ngx_astro_redis_cluster_shared(
    ngx_astro_redis_cluster_t *cl, ngx_str_t *name);
static void ngx_astro_redis_cluster_stale(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_ask_map(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_refresh_handler(ngx_event_t *ev);
static void ngx_astro_redis_cluster_slots(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_astro_redis_cluster_map(ngx_astro_redis_cluster_t *cl,
    ngx_astro_redis_t *from, redisReply *reply);
static void ngx_astro_redis_cluster_publish(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_route(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_wait(ngx_astro_redis_cluster_t *cl);
static void ngx_astro_redis_cluster_wait_handler(ngx_event_t *ev);
static void ngx_astro_redis_cluster_unmapped(ngx_astro_redis_t *rd,
    ngx_astro_redis_cmd_t *cmd);


ngx_int_t
ngx_astro_redis_cluster_init_worker(ngx_cycle_t *cycle,
    ngx_astro_redis_t *rd)
{
    u_char                      host[NGX_SOCKADDR_STRLEN];
    size_t                      len;
    ngx_uint_t                  i;
    ngx_addr_t                 *seed;
    ngx_astro_redis_cluster_t  *cl;
    ngx_astro_redis_script_t  **script;

    cl = ngx_pcalloc(cycle->pool, sizeof(ngx_astro_redis_cluster_t));
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->client = rd;
    cl->sh = rd->sh->cluster;

    cl->refresh.handler = ngx_astro_redis_cluster_refresh_handler;
    cl->refresh.data = cl;
    cl->refresh.log = cycle->log;
    cl->refresh.cancelable = 1;

    /* not cancelable: a decision waiting for the map is answered */

    cl->wait.handler = ngx_astro_redis_cluster_wait_handler;
    cl->wait.data = cl;
    cl->wait.log = cycle->log;

    /* the client's own queues: the decisions waiting for the first map */

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        ngx_queue_init(&script[i]->pending);
    }

    rd->cluster = cl;

    seed = rd->seeds->elts;

    for (i = 0; i < rd->seeds->nelts; i++) {
        len = ngx_sock_ntop(seed[i].sockaddr, seed[i].socklen, host,
                            NGX_SOCKADDR_STRLEN, 0);

        if (ngx_astro_redis_cluster_node(cl, host, len,
                                         ngx_inet_get_port(seed[i].sockaddr))
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    ngx_astro_redis_cluster_ask_map(cl);

    return NGX_OK;
}


void
ngx_astro_redis_cluster_exit_worker(ngx_astro_redis_t *rd)
{
    ngx_uint_t                  i;
    ngx_astro_redis_cluster_t  *cl;

    cl = rd->cluster;

    if (cl == NULL) {
        return;
    }

    rd->exiting = 1;

    if (cl->refresh.timer_set) {
        ngx_del_timer(&cl->refresh);
    }

    for (i = 0; i < cl->n; i++) {
        ngx_astro_redis_exit_worker(cl->nodes[i]);
    }
}


/*
 * The key's slot names its master: the decision is that master's (NULL
 * when its circuit is open).  Before the worker's first map it waits
 * for the map in the client's queue of the script.
 */

ngx_astro_redis_cmd_t *
ngx_astro_redis_cluster_eval(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script, ngx_str_t *key, ngx_str_t *args,
    ngx_astro_redis_handler_pt handler, void *data)
{
    ngx_uint_t                  slot, n;
    ngx_astro_redis_t          *node;
    ngx_astro_redis_cmd_t      *cmd;
    ngx_astro_redis_cluster_t  *cl;

    cl = rd->cluster;

    slot = ngx_astro_redis_slot(key->data, key->len);
    n = cl->map[slot];

    if (n) {
        node = cl->nodes[n - 1];

        cmd = ngx_astro_redis_eval(node,
                                   ngx_astro_redis_cluster_script(rd, script,
                                                                  node),
                                   key, args, handler, data);
        if (cmd == NULL) {
            ngx_astro_redis_cluster_stale(cl);
            return NULL;
        }

        cmd->slot = slot;

        return cmd;
    }

    if (cl->known || rd->exiting) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "astro_redis: slot %ui of key \"%V\" has no master",
                       slot, key);

        ngx_atomic_fetch_add(&cl->sh->unmapped, 1);
        ngx_atomic_fetch_add(&rd->sh->skipped, 1);
        return NULL;
    }

    cmd = ngx_astro_redis_cmd(rd, script, key, args, handler, data);
    if (cmd == NULL) {
        ngx_atomic_fetch_add(&rd->sh->skipped, 1);
        return NULL;
    }

    cmd->slot = slot;

    ngx_queue_insert_tail(&script->pending, &cmd->queue);

    ngx_atomic_fetch_add(&cl->sh->waited, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: key \"%V\" of slot %ui waits for the "
                   "cluster's map", key, slot);

    ngx_astro_redis_cluster_wait(cl);

    return cmd;
}


/*
 * "MOVED slot host:port" or "ASK slot host:port": the master named (made
 * when new), ask set for ASK; after MOVED the slot is that master's and
 * the map is read again.  NULL for another reply.
 */

ngx_astro_redis_t *
ngx_astro_redis_cluster_redirect(ngx_astro_redis_t *rd, redisReply *reply,
    ngx_uint_t *ask)
{
    u_char                     *p, *last, *colon;
    ngx_int_t                   slot, port, n;
    ngx_astro_redis_cluster_t  *cl;

    cl = rd->cluster;
    p = (u_char *) reply->str;
    last = p + reply->len;

    if (reply->len > 6 && ngx_strncmp(p, "MOVED ", 6) == 0) {
        *ask = 0;
        p += 6;

    } else if (reply->len > 4 && ngx_strncmp(p, "ASK ", 4) == 0) {
        *ask = 1;
        p += 4;

    } else {
        return NULL;
    }

    n = 0;

    while (p + n < last && p[n] != ' ') {
        n++;
    }

    slot = ngx_atoi(p, n);

    if (slot == NGX_ERROR || slot >= NGX_ASTRO_REDIS_SLOTS || p + n == last) {
        return NULL;
    }

    p += n + 1;

    for (colon = last - 1; colon > p && *colon != ':'; colon--) {
        /* void */
    }

    if (colon == p) {
        return NULL;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);
    if (port < 1 || port > 65535) {
        return NULL;
    }

    ngx_atomic_fetch_add(*ask ? &cl->sh->ask : &cl->sh->moved, 1);

    n = ngx_astro_redis_cluster_node(cl, p, colon - p, port);
    if (n == NGX_ERROR) {
        return NULL;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "astro_redis: %s slot %i to %V, from %V",
                   *ask ? "ASK: for a call," : "MOVED:", slot,
                   &cl->nodes[n]->name, &rd->name);

    if (!*ask) {
        cl->map[slot] = (u_char) (n + 1);
        ngx_astro_redis_cluster_stale(cl);
    }

    return cl->nodes[n];
}


/*
 * A master's decisions failed (no connection, no reply in time): the map
 * is read again, a replica may have taken its slots.
 */

void
ngx_astro_redis_cluster_failed(ngx_astro_redis_t *rd)
{
    if (!rd->exiting) {
        ngx_astro_redis_cluster_stale(rd->cluster);
    }
}


/* TRYAGAIN, CLUSTERDOWN: counted, 1 */

ngx_uint_t
ngx_astro_redis_cluster_refused(ngx_astro_redis_t *rd, redisReply *reply)
{
    ngx_astro_redis_cluster_sh_t  *sh;

    sh = rd->cluster->sh;

    if (reply->len >= 8 && ngx_strncmp(reply->str, "TRYAGAIN", 8) == 0) {
        ngx_atomic_fetch_add(&sh->tryagain, 1);
        return 1;
    }

    if (reply->len >= 11 && ngx_strncmp(reply->str, "CLUSTERDOWN", 11) == 0)
    {
        ngx_atomic_fetch_add(&sh->clusterdown, 1);
        return 1;
    }

    return 0;
}


/* a script of one of the cluster's clients, as another one has it */

ngx_astro_redis_script_t *
ngx_astro_redis_cluster_script(ngx_astro_redis_t *from,
    ngx_astro_redis_script_t *script, ngx_astro_redis_t *to)
{
    ngx_uint_t                  i;
    ngx_astro_redis_script_t  **s, **t;

    s = from->scripts.elts;
    t = to->scripts.elts;

    for (i = 0; s[i] != script; i++) { /* void */ }

    return t[i];
}


/*
 * The worker's node of the address, made when new: a client with the
 * cluster= one's settings, database 0, its shared part found or made by
 * the address.  Its index, NGX_ERROR when there is no room or the address
 * is not numeric (hiredis would resolve a name in the worker).
 */

static ngx_int_t
ngx_astro_redis_cluster_node(ngx_astro_redis_cluster_t *cl, u_char *host,
    size_t len, ngx_uint_t port)
{
    u_char                     *p;
    ngx_str_t                   name;
    ngx_uint_t                  i;
    ngx_astro_redis_t          *rd, *node;
    ngx_astro_redis_node_sh_t  *shared;
    ngx_astro_redis_script_t  **script, **copy;
    u_char                      buf[NGX_SOCKADDR_STRLEN + 8];

    rd = cl->client;

    if (len > 1 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }

    if (len == 0 || len >= NGX_INET6_ADDRSTRLEN
        || (ngx_inet_addr(host, len) == INADDR_NONE
#if (NGX_HAVE_INET6)
            && ngx_inet6_addr(host, len, buf) != NGX_OK
#endif
           ))
    {
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                              "cluster: not a numeric address: \"%*s\"",
                              len, host);
        return NGX_ERROR;
    }

    p = ngx_strlchr(host, host + len, ':')
        ? ngx_sprintf(buf, "[%*s]:%ui", len, host, port)
        : ngx_sprintf(buf, "%*s:%ui", len, host, port);

    name.data = buf;
    name.len = p - buf;

    for (i = 0; i < cl->n; i++) {
        if (cl->nodes[i]->name.len == name.len
            && ngx_strncmp(cl->nodes[i]->name.data, buf, name.len) == 0)
        {
            return i;
        }
    }

    if (cl->n == NGX_ASTRO_REDIS_NODES) {
        ngx_astro_redis_error(rd, NGX_ASTRO_REDIS_ERR_PROTOCOL,
                              "cluster: more than %d servers, %V left out",
                              NGX_ASTRO_REDIS_NODES, &name);
        return NGX_ERROR;
    }

    shared = ngx_astro_redis_cluster_shared(cl, &name);
    if (shared == NULL) {
        return NGX_ERROR;
    }

    node = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_astro_redis_t));
    if (node == NULL) {
        return NGX_ERROR;
    }

    node->name.data = ngx_pnalloc(ngx_cycle->pool, name.len);
    if (node->name.data == NULL) {
        return NGX_ERROR;
    }

    node->name.len = ngx_cpymem(node->name.data, buf, name.len)
                     - node->name.data;

    if (ngx_array_init(&node->scripts, ngx_cycle->pool, rd->scripts.nelts,
                       sizeof(ngx_astro_redis_script_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    script = rd->scripts.elts;

    for (i = 0; i < rd->scripts.nelts; i++) {
        copy = ngx_array_push(&node->scripts);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = ngx_pcalloc(ngx_cycle->pool,
                            sizeof(ngx_astro_redis_script_t));
        if (*copy == NULL) {
            return NGX_ERROR;
        }

        (*copy)->body = script[i]->body;
        ngx_memcpy((*copy)->sha1, script[i]->sha1, 40);
        (*copy)->nargs = script[i]->nargs;
        (*copy)->nhead = script[i]->nhead;
        (*copy)->nreply = script[i]->nreply;
    }

    node->tag = rd->tag;
    node->addr = rd->addr;
    node->user = rd->user;
    node->password = rd->password;
    node->db = 0;
    node->pool = rd->pool;
    node->connect_timeout = rd->connect_timeout;
    node->hold_time = rd->hold_time;
    node->timeout = rd->timeout;
    node->circuit = rd->circuit;
    node->shm_zone = rd->shm_zone;
    node->sh = shared->sh;
    node->shpool = rd->shpool;
    node->cluster = cl;

    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';
    node->port = (int) port;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "astro_redis: cluster server %V, #%ui", &node->name,
                   cl->n);

    cl->nodes[cl->n] = node;
    cl->shared[cl->n] = shared;

    /* its connections are made now */

    if (ngx_astro_redis_init_worker((ngx_cycle_t *) ngx_cycle, node)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return cl->n++;
}


/* the server's shared part, by its address: found, or made */

static ngx_astro_redis_node_sh_t *
ngx_astro_redis_cluster_shared(ngx_astro_redis_cluster_t *cl,
    ngx_str_t *name)
{
    ngx_uint_t                      i;
    ngx_slab_pool_t                *shpool;
    ngx_astro_redis_sh_t           *sh;
    ngx_astro_redis_node_sh_t      *node;
    ngx_astro_redis_cluster_sh_t   *csh;

    shpool = cl->client->shpool;
    csh = cl->sh;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < csh->n; i++) {
        node = &csh->nodes[i];

        if (node->len == name->len
            && ngx_strncmp(node->addr, name->data, name->len) == 0)
        {
            ngx_shmtx_unlock(&shpool->mutex);
            return node;
        }
    }

    node = NULL;

    if (csh->n < NGX_ASTRO_REDIS_NODES) {
        sh = ngx_slab_calloc_locked(shpool, sizeof(ngx_astro_redis_sh_t));

        if (sh) {
            node = &csh->nodes[csh->n++];
            node->sh = sh;
            node->len = name->len;
            ngx_memcpy(node->addr, name->data, name->len);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (node == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cl->client->log, 0,
                      "%V: redis %V: no room in the zone for server %V",
                      &cl->client->tag, &cl->client->name, name);
    }

    return node;
}


/*
 * A MOVED, a master failing: the map is read again now, or a second after
 * it last was
 */

static void
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


/*
 * CLUSTER SLOTS to the next server whose circuit is not open and that
 * has a connection; none: again in a second.
 */

static void
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

static void
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
