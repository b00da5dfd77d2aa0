
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
 * name, in the zone (atomic adds; the array grows under the mutex when
 * a name is new), and per unit of the map, the slot of a hash map or
 * the shard of a range or list map, in the worker, flushed into the
 * zone's window every second (one lock a map a second, not a request).
 *
 * The window: counts of the current NGX_HTTP_ASTRO_SHARD_HOT_WINDOW
 * seconds and of the ones before, read as "the last window" by taking
 * of the previous ones the part the current has not yet covered (as a
 * sliding window rate limit does).  A shard's ratio is its share of
 * these requests over its share of the slots (hash) or of the entries
 * (range, list; a default shard's rest counts as one entry); it is hot
 * from NGX_HTTP_ASTRO_SHARD_HOT_RATIO on, once the map has had
 * NGX_HTTP_ASTRO_SHARD_HOT_MIN requests in the window.
 */


/* a map's window in the zone: cur[nunits], then prev[nunits] */

typedef struct {
    uint32_t                     nunits;
    uint32_t                     strategy;
    uint64_t                     version;       /* range, list: of units */
    time_t                       start;         /* of the current window */
} ngx_http_astro_shard_sh_hot_t;


/* a worker's counts of a map since its last flush */

typedef struct {
    ngx_uint_t                   nunits;
    uint32_t                    *counts;
    ngx_uint_t                   pending;       /* unsigned :1 */

    /* the table's shard index -> its counts in the zone, plus 1 */
    uint32_t                     index[NGX_ASTRO_SHARD_MAX_SHARDS];
} ngx_http_astro_shard_hot_worker_t;


#define ngx_http_astro_shard_hot_cur(hot)                                    \
    ((uint32_t *) ((ngx_http_astro_shard_sh_hot_t *) (hot) + 1))


static ngx_http_astro_shard_sh_counts_t *ngx_http_astro_shard_counts(
    ngx_http_astro_shard_map_t *map, ngx_http_astro_shard_ctx_t *ctx,
    ngx_log_t *log);
static ngx_http_astro_shard_sh_counts_t *ngx_http_astro_shard_counts_add(
    ngx_http_astro_shard_map_t *map, ngx_str_t *name, ngx_log_t *log);
static ngx_uint_t ngx_http_astro_shard_error_status(ngx_http_request_t *r);
static void ngx_http_astro_shard_hot_count(ngx_http_astro_shard_map_t *map,
    ngx_http_astro_shard_ctx_t *ctx, ngx_log_t *log);
static void ngx_http_astro_shard_hot_timer(ngx_event_t *ev);
static void ngx_http_astro_shard_hot_flush(ngx_http_astro_shard_map_t *map,
    ngx_log_t *log);
static void ngx_http_astro_shard_hot_rotate(ngx_http_astro_shard_sh_hot_t *hot,
    time_t now);
static ngx_uint_t ngx_http_astro_shard_serving(ngx_astro_shard_table_t *t,
    ngx_uint_t slot);
static double *ngx_http_astro_shard_hot_recent(
    ngx_http_astro_shard_map_t *map, ngx_uint_t nunits, ngx_pool_t *pool);
static void ngx_http_astro_shard_hot_slots(
    ngx_http_astro_shard_hot_report_t *rep, double *recent);
static ngx_int_t ngx_http_astro_shard_hot_plan(
    ngx_http_astro_shard_hot_report_t *rep, double *recent,
    ngx_pool_t *pool);


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


/* the shard's counts in the zone, by name, made when it is new */

static ngx_http_astro_shard_sh_counts_t *
ngx_http_astro_shard_counts(ngx_http_astro_shard_map_t *map,
    ngx_http_astro_shard_ctx_t *ctx, ngx_log_t *log)
{
    ngx_uint_t                          i, n;
    ngx_http_astro_shard_sh_map_t      *sh;
    ngx_http_astro_shard_sh_counts_t   *counts;
    ngx_http_astro_shard_hot_worker_t  *w;

    sh = map->sh;
    w = map->hot;

    /*
     * The array grows by a new one: its pointer is set before its count,
     * so a count read first is never more than the array read after.
     */

    n = sh->ncounts;
    ngx_memory_barrier();
    counts = sh->counts;

    if (w && ctx->shard_index < NGX_ASTRO_SHARD_MAX_SHARDS) {
        i = w->index[ctx->shard_index];

        if (i && i <= n
            && counts[i - 1].name.len == ctx->shard.len
            && ngx_strncmp(counts[i - 1].name.data, ctx->shard.data,
                           ctx->shard.len)
               == 0)
        {
            return &counts[i - 1];
        }
    }

    for (i = 0; i < n; i++) {
        if (counts[i].name.len == ctx->shard.len
            && ngx_strncmp(counts[i].name.data, ctx->shard.data,
                           ctx->shard.len)
               == 0)
        {
            break;
        }
    }

    if (i == n) {
        counts = ngx_http_astro_shard_counts_add(map, &ctx->shard, log);
        if (counts == NULL) {
            return NULL;
        }

        i = counts - sh->counts;

    } else {
        counts = &counts[i];
    }

    if (w && ctx->shard_index < NGX_ASTRO_SHARD_MAX_SHARDS) {
        w->index[ctx->shard_index] = i + 1;
    }

    return counts;
}


/*
 * Under the mutex: the capacity is the next power of two from 8, so the
 * array is full when its count is one; an array replaced stays (a
 * worker may be adding to it; a few bytes a new shard name).
 */

static ngx_http_astro_shard_sh_counts_t *
ngx_http_astro_shard_counts_add(ngx_http_astro_shard_map_t *map,
    ngx_str_t *name, ngx_log_t *log)
{
    size_t                             size;
    ngx_uint_t                         i, n;
    ngx_slab_pool_t                   *shpool;
    ngx_http_astro_shard_sh_map_t     *sh;
    ngx_http_astro_shard_sh_counts_t  *counts, *c;

    sh = map->sh;
    shpool = map->zone->shpool;
    c = NULL;

    ngx_shmtx_lock(&shpool->mutex);

    n = sh->ncounts;
    counts = sh->counts;

    for (i = 0; i < n; i++) {
        if (counts[i].name.len == name->len
            && ngx_strncmp(counts[i].name.data, name->data, name->len) == 0)
        {
            c = &counts[i];
            goto done;
        }
    }

    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size = (n ? 2 * n : 8) * sizeof(ngx_http_astro_shard_sh_counts_t);

        counts = ngx_slab_calloc_locked(shpool, size);
        if (counts == NULL) {
            goto done;
        }

        if (n) {
            ngx_memcpy(counts, sh->counts,
                       n * sizeof(ngx_http_astro_shard_sh_counts_t));
        }
    }

    counts[n].name.data = ngx_slab_alloc_locked(shpool, name->len);
    if (counts[n].name.data == NULL) {
        goto done;
    }

    ngx_memcpy(counts[n].name.data, name->data, name->len);
    counts[n].name.len = name->len;

    sh->counts = counts;
    ngx_memory_barrier();
    sh->ncounts = n + 1;

    c = &counts[n];

done:

    ngx_shmtx_unlock(&shpool->mutex);

    if (c == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "astro_shard_map \"%V\": no room to count shard "
                      "\"%V\" in astro_shard_zone \"%V\"",
                      &map->name, name, &map->zone->name);
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

static void
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


/* the shard a slot's requests go to: the owner's, or the target's */

static ngx_uint_t
ngx_http_astro_shard_serving(ngx_astro_shard_table_t *t, ngx_uint_t slot)
{
    uint16_t                 *slot_entry;
    ngx_astro_shard_entry_t  *e;

    slot_entry = (uint16_t *) ((u_char *) t + t->slot_entry);

    if (slot_entry[slot] >= t->nentries) {
        return NGX_ASTRO_SHARD_NONE;
    }

    e = &ngx_astro_shard_table_entries(t)[slot_entry[slot]];

    return (e->state == NGX_ASTRO_SHARD_SWITCHED
            && e->target != NGX_ASTRO_SHARD_NONE) ? e->target : e->owner;
}


ngx_int_t
ngx_http_astro_shard_hot_report(ngx_http_astro_shard_map_t *map,
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_astro_shard_hot_report_t *rep)
{
    double                             *recent, units;
    ngx_uint_t                          i, s, nunits, hash;
    ngx_astro_shard_table_t            *t;
    ngx_astro_shard_entry_t            *e;
    ngx_astro_shard_shard_t            *shard;
    ngx_http_astro_shard_sh_map_t      *sh;
    ngx_http_astro_shard_hot_shard_t   *hs;
    ngx_http_astro_shard_sh_counts_t   *counts;

    ngx_memzero(rep, sizeof(ngx_http_astro_shard_hot_report_t));

    if (ngx_http_astro_shard_acquire(map, log) != NGX_OK) {
        return NGX_DECLINED;
    }

    t = map->table;
    sh = map->sh;
    hash = (t->strategy == NGX_ASTRO_SHARD_HASH);
    nunits = hash ? t->nslots : t->nshards;

    rep->table = t;
    rep->nshards = t->nshards;
    rep->shards = ngx_pcalloc(pool, t->nshards
                                    * sizeof(ngx_http_astro_shard_hot_shard_t));
    if (rep->shards == NULL) {
        return NGX_ERROR;
    }

    recent = ngx_http_astro_shard_hot_recent(map, nunits, pool);
    if (recent == NULL) {
        return NGX_ERROR;
    }

    shard = ngx_astro_shard_table_shards(t);
    hs = rep->shards;

    for (s = 0; s < t->nshards; s++) {
        ngx_astro_shard_table_string(t, &shard[s].name, &hs[s].name);
        ngx_astro_shard_table_string(t, &shard[s].upstream, &hs[s].upstream);
    }

    /* the shards' counts in the zone, by name */

    counts = sh->counts;

    for (i = 0; i < sh->ncounts; i++) {
        for (s = 0; s < t->nshards; s++) {
            if (counts[i].name.len == hs[s].name.len
                && ngx_strncmp(counts[i].name.data, hs[s].name.data,
                               hs[s].name.len)
                   == 0)
            {
                hs[s].counts = &counts[i];
                break;
            }
        }
    }

    /* recent requests and the units of each shard */

    units = 0;

    if (hash) {
        for (i = 0; i < t->nslots; i++) {
            s = ngx_http_astro_shard_serving(t, i);

            if (s < t->nshards) {
                hs[s].recent += recent[i];
                hs[s].share++;
                units++;
            }
        }

    } else {
        e = ngx_astro_shard_table_entries(t);

        for (i = 0; i < t->nentries; i++) {
            s = (e[i].state == NGX_ASTRO_SHARD_SWITCHED
                 && e[i].target != NGX_ASTRO_SHARD_NONE)
                ? e[i].target : e[i].owner;

            if (s < t->nshards) {
                hs[s].share++;
                units++;
            }
        }

        if (t->default_shard < t->nshards) {
            hs[t->default_shard].share++;
            units++;
        }

        for (s = 0; s < t->nshards; s++) {
            hs[s].recent = recent[s];
        }
    }

    for (s = 0; s < t->nshards; s++) {
        rep->total += hs[s].recent;
    }

    for (s = 0; s < t->nshards; s++) {
        hs[s].share = units ? hs[s].share / units : 0;
        hs[s].request_share = rep->total ? hs[s].recent / rep->total : 0;
        hs[s].ratio = hs[s].share ? hs[s].request_share / hs[s].share : -1;
        hs[s].hot = rep->total >= NGX_HTTP_ASTRO_SHARD_HOT_MIN
                    && hs[s].share
                    && hs[s].ratio >= NGX_HTTP_ASTRO_SHARD_HOT_RATIO;
    }

    if (!hash) {
        return NGX_OK;
    }

    ngx_http_astro_shard_hot_slots(rep, recent);

    return ngx_http_astro_shard_hot_plan(rep, recent, pool);
}


/* the zone's window of the map read as the last window's requests */

static double *
ngx_http_astro_shard_hot_recent(ngx_http_astro_shard_map_t *map,
    ngx_uint_t nunits, ngx_pool_t *pool)
{
    double                          *recent, part;
    time_t                           now;
    uint32_t                        *cur, *prev;
    ngx_uint_t                       i;
    ngx_slab_pool_t                 *shpool;
    ngx_http_astro_shard_sh_hot_t   *hot;

    recent = ngx_pcalloc(pool, nunits * sizeof(double));
    if (recent == NULL) {
        return NULL;
    }

    shpool = map->zone->shpool;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    hot = map->sh->hot;

    if (hot && hot->nunits == nunits
        && (hot->strategy == NGX_ASTRO_SHARD_HASH
            || hot->version == map->table->version))
    {
        ngx_http_astro_shard_hot_rotate(hot, now);

        cur = ngx_http_astro_shard_hot_cur(hot);
        prev = cur + nunits;
        part = (double) (NGX_HTTP_ASTRO_SHARD_HOT_WINDOW - (now - hot->start))
               / NGX_HTTP_ASTRO_SHARD_HOT_WINDOW;

        for (i = 0; i < nunits; i++) {
            recent[i] = cur[i] + prev[i] * part;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return recent;
}


/* the ten slots with the most recent requests, most first */

static void
ngx_http_astro_shard_hot_slots(ngx_http_astro_shard_hot_report_t *rep,
    double *recent)
{
    ngx_uint_t                        i, j, n;
    ngx_http_astro_shard_hot_slot_t  *slots;

    slots = rep->slots;
    n = 0;

    for (i = 0; i < rep->table->nslots; i++) {
        if (recent[i] <= 0
            || (n == NGX_HTTP_ASTRO_SHARD_HOT_SLOTS
                && recent[i] <= slots[n - 1].recent))
        {
            continue;
        }

        j = (n < NGX_HTTP_ASTRO_SHARD_HOT_SLOTS) ? n++ : n - 1;

        for ( /* void */ ; j && slots[j - 1].recent < recent[i]; j--) {
            slots[j] = slots[j - 1];
        }

        slots[j].slot = i;
        slots[j].shard = ngx_http_astro_shard_serving(rep->table, i);
        slots[j].to = NGX_ASTRO_SHARD_NONE;
        slots[j].recent = recent[i];
    }

    rep->nslots = n;
}


/*
 * The plan, when a shard is hot: even load is each shard's weight's
 * share of the requests; moves, greedy, of the busiest slot of the
 * shard most above it that is smaller than the gap to the shard most
 * below (so that each move narrows it), until the most loaded shard is
 * within 10% of even, no slot fits, or NGX_HTTP_ASTRO_SHARD_PLAN_MAX
 * moves.
 */

static ngx_int_t
ngx_http_astro_shard_hot_plan(ngx_http_astro_shard_hot_report_t *rep,
    double *recent, ngx_pool_t *pool)
{
    double                    *load, *even, weights, gap, best, most;
    uint16_t                  *to;
    ngx_uint_t                 i, s, h, c, any, slot;
    ngx_astro_shard_table_t   *t;
    ngx_astro_shard_shard_t   *shard;

    t = rep->table;
    any = 0;

    for (s = 0; s < t->nshards; s++) {
        any |= rep->shards[s].hot;
    }

    if (t->nshards < 2 || rep->total == 0) {
        return NGX_OK;
    }

    load = ngx_palloc(pool, 2 * t->nshards * sizeof(double));
    to = ngx_palloc(pool, t->nslots * sizeof(uint16_t));

    if (load == NULL || to == NULL) {
        return NGX_ERROR;
    }

    even = load + t->nshards;
    shard = ngx_astro_shard_table_shards(t);
    weights = 0;

    for (s = 0; s < t->nshards; s++) {
        weights += shard[s].weight ? shard[s].weight : 1;
    }

    for (s = 0; s < t->nshards; s++) {
        load[s] = rep->shards[s].recent;
        even[s] = rep->total * (shard[s].weight ? shard[s].weight : 1)
                  / weights;
    }

    for (i = 0; i < t->nslots; i++) {
        to[i] = ngx_http_astro_shard_serving(t, i);
    }

    for ( ;; ) {

        h = 0;
        c = 0;

        for (s = 1; s < t->nshards; s++) {
            if (load[s] - even[s] > load[h] - even[h]) {
                h = s;
            }

            if (load[s] - even[s] < load[c] - even[c]) {
                c = s;
            }
        }

        most = load[h] / even[h];

        if (rep->nmoves == 0) {
            rep->imbalance = most;
        }

        rep->imbalance_after = most;

        if (!any || rep->nmoves == NGX_HTTP_ASTRO_SHARD_PLAN_MAX
            || most <= 1.1)
        {
            break;
        }

        gap = (load[h] - even[h]) - (load[c] - even[c]);
        slot = NGX_ASTRO_SHARD_MAX_SLOTS;
        best = 0;

        for (i = 0; i < t->nslots; i++) {
            if (to[i] == h && recent[i] > best && recent[i] < gap) {
                best = recent[i];
                slot = i;
            }
        }

        if (slot == NGX_ASTRO_SHARD_MAX_SLOTS) {
            break;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "astro_shard: plan: slot %ui from %ui to %ui, "
                       "%.3f requests",
                       slot, h, c, best);

        to[slot] = c;
        load[h] -= best;
        load[c] += best;

        rep->moves[rep->nmoves].slot = slot;
        rep->moves[rep->nmoves].shard = h;
        rep->moves[rep->nmoves].to = c;
        rep->moves[rep->nmoves].recent = best;
        rep->nmoves++;
    }

    return NGX_OK;
}
