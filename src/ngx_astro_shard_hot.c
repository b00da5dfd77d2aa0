
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"
#include "ngx_astro_shard_hot.h"


/*
 * What routed requests did, counted in the log phase: per shard, by
 * name, in the zone (atomic adds; a published table's shards have
 * theirs made by the publish, under the mutex it holds), and per unit of
 * the map, the slot of a hash map or the shard of a range or list map,
 * in the worker, flushed into the zone's window every second (one lock
 * a map a second, not a request).
 *
 * The window: counts of the current NGX_HTTP_ASTRO_SHARD_HOT_WINDOW
 * seconds and of the ones before, read as "the last window" by taking
 * of the previous ones the part the current has not yet covered (as a
 * sliding window rate limit does).  A shard's ratio is its share of
 * these requests over its share of the slots (hash) or of the entries
 * (range, list; a default shard's rest counts as one entry); it is hot
 * from NGX_HTTP_ASTRO_SHARD_HOT_RATIO on, once the map has had
 * NGX_HTTP_ASTRO_SHARD_HOT_MIN requests in the window (the figures:
 * src/ngx_astro_shard_hot_report.c).
 */


/* a worker's counts of a map since its last flush */

typedef struct {
    ngx_uint_t                   nunits;
    uint32_t                    *counts;
    ngx_uint_t                   pending;       /* unsigned :1 */

    /* the table's shard index -> its counts in the zone, by name */
    ngx_http_astro_shard_sh_counts_t  *index[NGX_ASTRO_SHARD_MAX_SHARDS];
} ngx_http_astro_shard_hot_worker_t;


static ngx_http_astro_shard_sh_counts_t *ngx_http_astro_shard_counts(
    ngx_http_astro_shard_map_t *map, ngx_http_astro_shard_ctx_t *ctx,
    ngx_log_t *log);
static ngx_uint_t ngx_http_astro_shard_error_status(ngx_http_request_t *r);
static void ngx_http_astro_shard_hot_count(ngx_http_astro_shard_map_t *map,
    ngx_http_astro_shard_ctx_t *ctx, ngx_log_t *log);
static void ngx_http_astro_shard_hot_timer(ngx_event_t *ev);
static void ngx_http_astro_shard_hot_flush(ngx_http_astro_shard_map_t *map,
    ngx_log_t *log);


ngx_int_t
ngx_http_astro_shard_log_handler(ngx_http_request_t *r)
{
    ngx_http_astro_shard_ctx_t        *ctx;
    ngx_http_astro_shard_map_t        *map;
    ngx_http_astro_shard_sh_counts_t  *c;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_astro_shard_module);

    if (ctx == NULL || ctx->status != 0 || ctx->map == NULL
        || ctx->map->sh == NULL || ctx->shard.len == 0)
    {
        return NGX_OK;
    }

    map = ctx->map;

    c = ngx_http_astro_shard_counts(map, ctx, r->connection->log);

    if (c) {
        (void) ngx_atomic_fetch_add(&c->requests, 1);
        (void) ngx_atomic_fetch_add(ctx->write ? &c->writes : &c->reads, 1);

        if (ngx_http_astro_shard_error_status(r)) {
            (void) ngx_atomic_fetch_add(&c->errors, 1);
        }
    }

    ngx_http_astro_shard_hot_count(map, ctx, r->connection->log);

    return NGX_OK;
}


/*
 * The shard's counts in the zone: the worker's pointer when it still
 * names the shard, else found by name; made here only when the publish
 * found no room for them.
 */

static ngx_http_astro_shard_sh_counts_t *
ngx_http_astro_shard_counts(ngx_http_astro_shard_map_t *map,
    ngx_http_astro_shard_ctx_t *ctx, ngx_log_t *log)
{
    ngx_slab_pool_t                     *shpool;
    ngx_http_astro_shard_sh_counts_t    *c, **cached;
    ngx_http_astro_shard_hot_worker_t   *w;

    w = map->hot;
    cached = NULL;

    if (w && ctx->shard_index < NGX_ASTRO_SHARD_MAX_SHARDS) {
        cached = &w->index[ctx->shard_index];
        c = *cached;

        if (c && c->name.len == ctx->shard.len
            && ngx_strncmp(c->name.data, ctx->shard.data, ctx->shard.len)
               == 0)
        {
            return c;
        }
    }

    c = ngx_http_astro_shard_counts_find(map->sh, &ctx->shard);

    if (c == NULL) {
        shpool = map->zone->shpool;

        ngx_shmtx_lock(&shpool->mutex);
        c = ngx_http_astro_shard_counts_add_locked(shpool, map->sh,
                                                   &ctx->shard);
        ngx_shmtx_unlock(&shpool->mutex);

        if (c == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "astro_shard_map \"%V\": no room to count shard "
                          "\"%V\" in astro_shard_zone \"%V\"",
                          &map->name, &ctx->shard, &map->zone->name);
            return NULL;
        }
    }

    if (cached) {
        *cached = c;
    }

    return c;
}


/* without a lock: a block's count is set after its entry is written */

ngx_http_astro_shard_sh_counts_t *
ngx_http_astro_shard_counts_find(ngx_http_astro_shard_sh_map_t *sh,
    ngx_str_t *name)
{
    ngx_uint_t                          i, n;
    ngx_http_astro_shard_sh_block_t    *b;
    ngx_http_astro_shard_sh_counts_t   *c;

    for (b = sh->counts; b; b = b->next) {
        n = b->n;
        ngx_memory_barrier();

        for (i = 0; i < n; i++) {
            c = &b->counts[i];

            if (c->name.len == name->len
                && ngx_strncmp(c->name.data, name->data, name->len) == 0)
            {
                return c;
            }
        }
    }

    return NULL;
}


/*
 * Under the mutex: a name new to the map gets the next entry of the last
 * block, or a new block linked after it is filled in.
 */

ngx_http_astro_shard_sh_counts_t *
ngx_http_astro_shard_counts_add_locked(ngx_slab_pool_t *shpool,
    ngx_http_astro_shard_sh_map_t *sh, ngx_str_t *name)
{
    u_char                             *data;
    ngx_http_astro_shard_sh_block_t    *b, **last;
    ngx_http_astro_shard_sh_counts_t   *c;

    c = ngx_http_astro_shard_counts_find(sh, name);
    if (c) {
        return c;
    }

    last = &sh->counts;

    for (b = sh->counts; b; b = b->next) {
        if (b->n < NGX_HTTP_ASTRO_SHARD_COUNTS_BLOCK) {
            break;
        }

        last = &b->next;
    }

    data = ngx_slab_alloc_locked(shpool, ngx_max(name->len, 1));
    if (data == NULL) {
        return NULL;
    }

    if (b == NULL) {
        b = ngx_slab_calloc_locked(shpool,
                                   sizeof(ngx_http_astro_shard_sh_block_t));
        if (b == NULL) {
            ngx_slab_free_locked(shpool, data);
            return NULL;
        }
    }

    c = &b->counts[b->n];

    ngx_memcpy(data, name->data, name->len);
    c->name.data = data;
    c->name.len = name->len;

    ngx_memory_barrier();
    b->n++;

    if (*last != b) {
        ngx_memory_barrier();
        *last = b;
    }

    return c;
}


/* an upstream's 5xx, or nginx's own 502 or 504 for it */

static ngx_uint_t
ngx_http_astro_shard_error_status(ngx_http_request_t *r)
{
    ngx_http_upstream_state_t  *state;

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        state = &state[r->upstream_states->nelts - 1];

        if (state->status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
            return 1;
        }
    }

    return r->headers_out.status == NGX_HTTP_BAD_GATEWAY
           || r->headers_out.status == NGX_HTTP_GATEWAY_TIME_OUT;
}


/* the worker's count of the request's unit: slot, or shard */

static void
ngx_http_astro_shard_hot_count(ngx_http_astro_shard_map_t *map,
    ngx_http_astro_shard_ctx_t *ctx, ngx_log_t *log)
{
    ngx_uint_t                          unit, nunits;
    ngx_astro_shard_table_t            *t;
    ngx_http_astro_shard_hot_worker_t  *w;

    w = map->hot;
    t = map->table;

    if (w == NULL || t == NULL) {
        return;
    }

    if (t->strategy == NGX_ASTRO_SHARD_HASH) {
        nunits = t->nslots;
        unit = ctx->slot;

    } else {
        nunits = t->nshards;
        unit = ctx->shard_index;
    }

    if (w->nunits != nunits) {

        /* a new table of another size: what was counted is dropped */

        if (w->counts) {
            ngx_free(w->counts);
        }

        w->counts = ngx_calloc(nunits * sizeof(uint32_t), log);
        w->nunits = w->counts ? nunits : 0;
        w->pending = 0;
    }

    if (unit >= w->nunits) {
        return;
    }

    w->counts[unit]++;
    w->pending = 1;
}


ngx_int_t
ngx_http_astro_shard_hot_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_shard_main_conf_t *smcf)
{
    ngx_uint_t                   i, n;
    ngx_event_t                 *ev;
    ngx_http_astro_shard_map_t **map;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    n = 0;
    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        if (map[i]->sh == NULL) {
            continue;
        }

        map[i]->hot = ngx_pcalloc(cycle->pool,
                                  sizeof(ngx_http_astro_shard_hot_worker_t));
        if (map[i]->hot == NULL) {
            return NGX_ERROR;
        }

        n++;
    }

    if (n == 0) {
        return NGX_OK;
    }

    ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    ev->handler = ngx_http_astro_shard_hot_timer;
    ev->data = smcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, 1000);

    return NGX_OK;
}


static void
ngx_http_astro_shard_hot_timer(ngx_event_t *ev)
{
    ngx_http_astro_shard_main_conf_t *smcf = ev->data;

    ngx_uint_t                   i;
    ngx_http_astro_shard_map_t **map;

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        ngx_http_astro_shard_hot_flush(map[i], ev->log);
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, 1000);
    }
}


static void
ngx_http_astro_shard_hot_flush(ngx_http_astro_shard_map_t *map,
    ngx_log_t *log)
{
    size_t                              size;
    time_t                              now;
    uint32_t                           *cur;
    ngx_uint_t                          i, strategy;
    ngx_slab_pool_t                    *shpool;
    ngx_http_astro_shard_sh_hot_t      *hot;
    ngx_http_astro_shard_sh_map_t      *sh;
    ngx_http_astro_shard_hot_worker_t  *w;

    w = map->hot;

    if (w == NULL || !w->pending || map->table == NULL) {
        return;
    }

    sh = map->sh;
    shpool = map->zone->shpool;
    strategy = map->table->strategy;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    hot = sh->hot;

    /*
     * Slots stay what they are when a hash map changes; a range or list
     * map's units are its shards, by index, and start afresh with a new
     * version.
     */

    if (hot == NULL || hot->nunits != w->nunits
        || hot->strategy != strategy
        || (strategy != NGX_ASTRO_SHARD_HASH
            && hot->version != map->table->version))
    {
        size = sizeof(ngx_http_astro_shard_sh_hot_t)
               + 2 * w->nunits * sizeof(uint32_t);

        hot = ngx_slab_calloc_locked(shpool, size);

        if (hot == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "astro_shard_map \"%V\": no room for %ui slot "
                          "counts in astro_shard_zone \"%V\"",
                          &map->name, w->nunits, &map->zone->name);
            goto done;
        }

        hot->nunits = w->nunits;
        hot->strategy = strategy;
        hot->version = map->table->version;
        hot->start = now;

        if (sh->hot) {
            ngx_slab_free_locked(shpool, sh->hot);
        }

        sh->hot = hot;
    }

    ngx_http_astro_shard_hot_rotate(hot, now);

    cur = ngx_http_astro_shard_hot_cur(hot);

    for (i = 0; i < w->nunits; i++) {
        cur[i] += w->counts[i];
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_shard: map \"%V\" %ui units flushed",
                   &map->name, w->nunits);

done:

    ngx_memzero(w->counts, w->nunits * sizeof(uint32_t));
    w->pending = 0;
}


/* the current window made the one now is in, under the mutex */

void
ngx_http_astro_shard_hot_rotate(ngx_http_astro_shard_sh_hot_t *hot,
    time_t now)
{
    time_t     d;
    uint32_t  *cur, *prev;

    d = now - hot->start;

    if (d < NGX_HTTP_ASTRO_SHARD_HOT_WINDOW) {
        if (d < 0) {
            hot->start = now;           /* the clock went back */
        }

        return;
    }

    cur = ngx_http_astro_shard_hot_cur(hot);
    prev = cur + hot->nunits;

    if (d < 2 * NGX_HTTP_ASTRO_SHARD_HOT_WINDOW) {
        ngx_memcpy(prev, cur, hot->nunits * sizeof(uint32_t));

    } else {
        ngx_memzero(prev, hot->nunits * sizeof(uint32_t));
    }

    ngx_memzero(cur, hot->nunits * sizeof(uint32_t));

    hot->start += d - d % NGX_HTTP_ASTRO_SHARD_HOT_WINDOW;
}
