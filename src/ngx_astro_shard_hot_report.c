
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"
#include "ngx_astro_shard_hot.h"


/*
 * A map's figures for the status: per shard its recent requests, its
 * share of the slots or entries and of the requests, its ratio and
 * whether it is hot; of a hash map the ten busiest slots and the plan
 * that would even the load (see src/ngx_astro_shard_hot.c for the
 * window, docs/status.md for the figures).
 */


static ngx_uint_t ngx_http_astro_shard_serving(ngx_astro_shard_table_t *t,
    ngx_uint_t slot);
static double *ngx_http_astro_shard_hot_recent(
    ngx_http_astro_shard_map_t *map, ngx_uint_t nunits, ngx_pool_t *pool);
static void ngx_http_astro_shard_hot_slots(
    ngx_http_astro_shard_hot_report_t *rep, double *recent);
static ngx_int_t ngx_http_astro_shard_hot_plan(
    ngx_http_astro_shard_hot_report_t *rep, double *recent,
    ngx_pool_t *pool);


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

        /* its counts in the zone, by name */
        hs[s].counts = ngx_http_astro_shard_counts_find(sh, &hs[s].name);
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
