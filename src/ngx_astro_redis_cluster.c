
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
 *
 * The files: _cluster.c (the client: a decision to its master, the
 * replies of a cluster), _cluster_map.c (the slot map, the decisions
 * waiting for the first one), _cluster_node.c (the servers).
 */


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

    ngx_astro_redis_cluster_map_init(cl, cycle->log);

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
