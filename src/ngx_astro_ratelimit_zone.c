
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"


/*
 * The local backend: one shared memory zone per astro_ratelimit_zone, an
 * rbtree of keys and an LRU queue, as limit_req.  The lock is held for
 * the lookup, the arithmetic of ngx_astro_limit.c and the LRU update, and
 * for nothing else: keys are evaluated and hashed before, counters and
 * headers are done after.  A hybrid zone's nodes are the hybrid backend's
 * (src/ngx_astro_ratelimit_hybrid.c): the lookup and the LRU are these.
 */


static void ngx_http_astro_ratelimit_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static void ngx_http_astro_ratelimit_expire(
    ngx_http_astro_ratelimit_zone_t *zone, uint64_t now, ngx_uint_t force);


ngx_int_t
ngx_http_astro_ratelimit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_astro_ratelimit_zone_t *ozone = data;

    size_t                            len;
    ngx_http_astro_ratelimit_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload: the keys' states and the counts carry over */

        if (ozone->sh->algorithm != zone->algorithm) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "astro_ratelimit_zone \"%V\" uses algorithm=%V "
                          "while previously it used algorithm=%V; "
                          "rename the zone to change it",
                          &shm_zone->shm.name,
                          &ngx_http_astro_ratelimit_algorithms[
                              zone->algorithm].name,
                          &ngx_http_astro_ratelimit_algorithms[
                              ozone->sh->algorithm].name);
            return NGX_ERROR;
        }

        /* a hybrid zone's nodes are larger, and queued to be pushed */

        if ((ozone->sh->backend == NGX_HTTP_ASTRO_RL_HYBRID)
            != (zone->backend == NGX_HTTP_ASTRO_RL_HYBRID))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "astro_ratelimit_zone \"%V\" uses backend=%V "
                          "while previously it used backend=%V; "
                          "rename the zone to change it",
                          &shm_zone->shm.name,
                          &ngx_http_astro_ratelimit_backends[
                              zone->backend].name,
                          &ngx_http_astro_ratelimit_backends[
                              ozone->backend].name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_astro_ratelimit_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone->sh, sizeof(ngx_http_astro_ratelimit_shctx_t));

    zone->shpool->data = zone->sh;
    zone->sh->algorithm = zone->algorithm;
    zone->sh->backend = (zone->backend == NGX_HTTP_ASTRO_RL_HYBRID)
                        ? NGX_HTTP_ASTRO_RL_HYBRID : NGX_HTTP_ASTRO_RL_LOCAL;

    ngx_queue_init(&zone->sh->dirty);

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_astro_ratelimit_rbtree_insert_value);

    ngx_queue_init(&zone->sh->queue);

    len = sizeof(" in astro_ratelimit_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in astro_ratelimit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_astro_ratelimit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                **p;
    ngx_http_astro_ratelimit_node_t   *rn, *rnt;

    for ( ;; ) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            rn = (ngx_http_astro_ratelimit_node_t *) &node->color;
            rnt = (ngx_http_astro_ratelimit_node_t *) &temp->color;

            p = (ngx_memn2cmp(rn->data, rnt->data, rn->len, rnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Called with the lock held.  Frees up to two nodes from the LRU tail
 * whose state is whole again (such a node decides exactly as a missing
 * one); with force, the oldest node whatever its state, as limit_req
 * does when the slab is full.
 */

static void
ngx_http_astro_ratelimit_expire(ngx_http_astro_ratelimit_zone_t *zone,
    uint64_t now, ngx_uint_t force)
{
    ngx_uint_t                        n;
    ngx_queue_t                      *q;
    ngx_rbtree_node_t                *node;
    ngx_http_astro_ratelimit_node_t  *rn;

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);

        rn = ngx_queue_data(q, ngx_http_astro_ratelimit_node_t, queue);

        if (!(force && n == 0) && rn->expire > now) {
            return;
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) rn - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&zone->sh->rbtree, node);

        if (zone->sh->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
            ngx_http_astro_ratelimit_hybrid_free(zone, rn);
        }

        ngx_slab_free_locked(zone->shpool, node);
    }
}


/*
 * Called with the lock held: the key's node (already hashed to at most 64
 * bytes), taken out of the LRU queue (ngx_http_astro_ratelimit_touch()
 * puts it back); with create, a new one when there is none, NULL when the
 * zone has no room even after dropping its oldest key.  A hybrid zone's
 * node has its counts after the key (ngx_http_astro_ratelimit_hybrid()).
 */

ngx_http_astro_ratelimit_node_t *
ngx_http_astro_ratelimit_lookup(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_str_t *key, uint64_t now, ngx_uint_t create, ngx_log_t *log)
{
    size_t                            size;
    uint32_t                          hash;
    ngx_int_t                         rc;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_astro_ratelimit_node_t  *rn;

    hash = ngx_crc32_short(key->data, key->len);

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        rn = (ngx_http_astro_ratelimit_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, rn->data, key->len, (size_t) rn->len);

        if (rc == 0) {
            ngx_queue_remove(&rn->queue);
            return rn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    if (!create) {
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_astro_ratelimit_node_t, data)
           + key->len;

    if (zone->sh->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
        size = ngx_align(size, 8) + sizeof(ngx_http_astro_ratelimit_hybrid_t);
    }

    ngx_http_astro_ratelimit_expire(zone, now, 0);

    node = ngx_slab_alloc_locked(zone->shpool, size);

    if (node == NULL) {
        ngx_http_astro_ratelimit_expire(zone, now, 1);

        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node == NULL) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "astro_ratelimit: could not allocate node%s",
                          zone->shpool->log_ctx);
            return NULL;
        }
    }

    node->key = hash;

    rn = (ngx_http_astro_ratelimit_node_t *) &node->color;

    ngx_memzero(&rn->st, sizeof(rn->st));
    rn->len = (u_char) key->len;
    ngx_memcpy(rn->data, key->data, key->len);

    if (zone->sh->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
        ngx_memzero(ngx_http_astro_ratelimit_hybrid(rn),
                    sizeof(ngx_http_astro_ratelimit_hybrid_t));
    }

    ngx_rbtree_insert(&zone->sh->rbtree, node);

    return rn;
}


/* with the lock held: the node back at the LRU queue's head */

void
ngx_http_astro_ratelimit_touch(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_node_t *rn, uint64_t expire)
{
    rn->expire = expire;
    ngx_queue_insert_head(&zone->sh->queue, &rn->queue);
}


/*
 * Decides for one key (already hashed to at most 64 bytes) at now (us):
 * NGX_OK with d->res filled, or NGX_ERROR when the zone has no room even
 * after dropping its oldest key.  A hybrid zone decides locally (its
 * fail policy's decision when Redis did not answer).
 */

ngx_int_t
ngx_http_astro_ratelimit_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_zone_t *zone, ngx_str_t *key, uint64_t now,
    ngx_http_astro_ratelimit_decision_t *d)
{
    ngx_http_astro_ratelimit_node_t  *rn;

    if (zone->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
        return ngx_http_astro_ratelimit_hybrid_decide(r, d, 0);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    rn = ngx_http_astro_ratelimit_lookup(zone, key, now, 1,
                                         r->connection->log);
    if (rn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    if (zone->algorithm == NGX_HTTP_ASTRO_RL_GCRA) {
        (void) ngx_astro_limit_gcra(now, &d->rate, (uint32_t) d->burst,
                                    &rn->st.gcra, &d->res);

    } else {
        (void) ngx_astro_limit_sliding(now, &d->rate, &rn->st.sw, &d->res);
    }

    ngx_http_astro_ratelimit_touch(zone, rn, now + d->res.reset);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    d->decided = 1;

    return NGX_OK;
}

