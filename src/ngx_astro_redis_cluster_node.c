
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_redis_internal.h"


/*
 * A cluster's servers in a worker: each a client of its own ("node"),
 * made when the map or a redirect first names it, with the cluster=
 * client's settings and scripts, its counts and circuit in the shared
 * zone, found there by its address.
 */


static ngx_astro_redis_node_sh_t *ngx_astro_redis_cluster_shared(
    ngx_astro_redis_cluster_t *cl, ngx_str_t *name);


/*
 * The worker's node of the address, made when new: a client with the
 * cluster= one's settings, database 0, its shared part found or made by
 * the address.  Its index, NGX_ERROR when there is no room or the address
 * is not numeric (hiredis would resolve a name in the worker).
 */

ngx_int_t
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
