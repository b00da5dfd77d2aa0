
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"


/*
 * The hybrid backend's decisions (backend=hybrid, the sliding window): a
 * key's node holds every node's counts as of the last sync (global), what
 * this node pushed and Redis has not answered yet (inflight) and what it
 * counted since (pending); a request is decided here, under the zone's
 * lock, on their sum, and counted as pending, which one worker of the node
 * pushes every sync period (src/ngx_astro_ratelimit_hybrid_sync.c).
 *
 * When the sum reaches exact_at of the limit the key is near it: its
 * requests ask Redis (src/ngx_astro_ratelimit_redis.c), the node's pending
 * counts moved to inflight and pushed with the question, so that Redis
 * decides on every node's counts; a refusal is kept here until the time
 * Redis said the next one would pass.  Without an answer the fail policy
 * decides, here on the local sum (fail=open) or by a refusal.
 */


static ngx_int_t ngx_http_astro_ratelimit_hybrid_gcra(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d,
    ngx_http_astro_ratelimit_node_t *rn,
    ngx_http_astro_ratelimit_hybrid_t *hy, uint64_t now, ngx_uint_t exact);
static ngx_int_t ngx_http_astro_ratelimit_hybrid_kept(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d);
static void ngx_http_astro_ratelimit_hybrid_near(
    ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_hybrid_t *hy, ngx_uint_t near);
static void ngx_http_astro_ratelimit_hybrid_dirty(
    ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_hybrid_t *hy);


/* the node's hybrid counts, after its key */

ngx_http_astro_ratelimit_hybrid_t *
ngx_http_astro_ratelimit_hybrid(ngx_http_astro_ratelimit_node_t *rn)
{
    return (ngx_http_astro_ratelimit_hybrid_t *)
               ngx_align_ptr(rn->data + rn->len, 8);
}


/* with the lock held: the node is freed, its unpushed counts with it */

void
ngx_http_astro_ratelimit_hybrid_free(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_node_t *rn)
{
    ngx_http_astro_ratelimit_hybrid_t  *hy;

    hy = ngx_http_astro_ratelimit_hybrid(rn);

    if (hy->dirty.prev) {
        ngx_queue_remove(&hy->dirty);
        hy->dirty.prev = NULL;
        zone->sh->ndirty--;
    }

    ngx_http_astro_ratelimit_hybrid_near(zone, hy, 0);
}


/*
 * With the lock held: the counts moved to the window of now (on the key's
 * period); a window index of another period (the rate changed on reload)
 * starts afresh, as ngx_astro_limit_sliding() does.
 */

void
ngx_http_astro_ratelimit_hybrid_roll(ngx_http_astro_ratelimit_hybrid_t *hy,
    uint64_t now)
{
    uint64_t  win;

    win = now / ((uint64_t) hy->period * NGX_ASTRO_LIMIT_USEC);

    if (hy->window >= win && hy->window <= win + 1) {
        return;     /* this window, or a later one: the clock stepped back */
    }

    if (hy->window + 1 == win) {
        hy->gprev = hy->gcur;
        hy->iprev = hy->icur;
        hy->pprev = hy->pcur;

    } else {
        hy->gprev = 0;
        hy->iprev = 0;
        hy->pprev = 0;
    }

    hy->gcur = 0;
    hy->icur = 0;
    hy->pcur = 0;
    hy->window = win;
}


/*
 * Decides for d's key: NGX_OK decided here (d->res), NGX_AGAIN to ask
 * Redis (exact mode: d->hwin, hcur, hprev carry the pending counts, now
 * inflight), NGX_ERROR no room in the zone.  Without exact, always here
 * (the fail policy's decision).
 */

ngx_int_t
ngx_http_astro_ratelimit_hybrid_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, ngx_uint_t exact)
{
    uint64_t                            now, w, e, cur, prev, weighted;
    ngx_uint_t                          near, allowed;
    ngx_http_astro_ratelimit_zone_t    *zone;
    ngx_http_astro_ratelimit_node_t    *rn;
    ngx_http_astro_ratelimit_hybrid_t  *hy;

    zone = d->zone;

    now = ngx_http_astro_ratelimit_now();

    w = (uint64_t) d->rate.period * NGX_ASTRO_LIMIT_USEC;
    e = now % w;

    ngx_shmtx_lock(&zone->shpool->mutex);

    rn = ngx_http_astro_ratelimit_lookup(zone, &d->key, now, 1,
                                         r->connection->log);
    if (rn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    hy = ngx_http_astro_ratelimit_hybrid(rn);

    if (hy->node == NULL || hy->period != d->rate.period) {
        hy->node = rn;
        hy->window = 0;
        hy->period = d->rate.period;
    }

    hy->count = d->rate.count;

    if (zone->algorithm == NGX_HTTP_ASTRO_RL_GCRA) {
        return ngx_http_astro_ratelimit_hybrid_gcra(r, d, rn, hy, now, exact);
    }

    ngx_http_astro_ratelimit_hybrid_roll(hy, now);

    cur = (uint64_t) hy->gcur + hy->icur + hy->pcur;
    prev = (uint64_t) hy->gprev + hy->iprev + hy->pprev;

    weighted = (prev * (w - e) + w - 1) / w;

    near = ((weighted + cur) * 10000 >= (uint64_t) zone->exact_at
                                        * d->rate.count);

    ngx_http_astro_ratelimit_hybrid_near(zone, hy, near);

    if (exact && near) {

        if (hy->refused > now) {
            ngx_astro_limit_sliding_result(now, &d->rate, 0, cur, prev,
                                           &d->res);
            d->res.remaining = 0;
            d->res.retry_after = ngx_max(d->res.retry_after,
                                         hy->refused - now);

            ngx_http_astro_ratelimit_touch(zone, rn, now + 2 * w);

            return ngx_http_astro_ratelimit_hybrid_kept(r, d);
        }

        /* the pending counts go with the question */

        d->hwin = hy->window;
        d->hcur = hy->pcur;
        d->hprev = hy->pprev;

        hy->icur += hy->pcur;
        hy->iprev += hy->pprev;
        hy->pcur = 0;
        hy->pprev = 0;

        ngx_http_astro_ratelimit_touch(zone, rn, now + 2 * w);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_http_astro_ratelimit_debug(r, d, "hybrid, near the limit, "
                                       "exact");
        return NGX_AGAIN;
    }

    allowed = (weighted + cur + 1 <= d->rate.count);

    if (allowed) {
        hy->pcur++;
        cur++;
        ngx_http_astro_ratelimit_hybrid_dirty(zone, hy);
    }

    ngx_astro_limit_sliding_result(now, &d->rate, allowed, cur, prev,
                                   &d->res);

    ngx_http_astro_ratelimit_touch(zone, rn, now + d->res.reset);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (exact) {
        ngx_atomic_fetch_add(&zone->sh->local, 1);
        ngx_http_astro_ratelimit_debug(r, d, "hybrid, decided here");
    }

    d->decided = 1;

    return NGX_OK;
}


/*
 * GCRA, with the lock held (released here): a token of the key's lease
 * passes the request here; without one (none left, or the lease older
 * than a sync period) the request asks Redis for a new lease, the GCRA
 * script on the key "lease" times in one call (NGX_AGAIN), its own the
 * first decision, the others' passes the lease's tokens
 * (ngx_http_astro_ratelimit_hybrid_token()).  Every request that passes
 * was granted by Redis: the nodes never pass more than the limit, but a
 * token may be used up to a sync period after Redis granted it, and one
 * not used by then is lost.  A refusal is kept as in exact mode.
 * Without exact, the fail policy: this node's own GCRA.
 */

static ngx_int_t
ngx_http_astro_ratelimit_hybrid_gcra(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d,
    ngx_http_astro_ratelimit_node_t *rn,
    ngx_http_astro_ratelimit_hybrid_t *hy, uint64_t now, ngx_uint_t exact)
{
    uint64_t                          t;
    ngx_uint_t                        k;
    ngx_http_astro_ratelimit_zone_t  *zone;

    zone = d->zone;

    if (!exact) {
        (void) ngx_astro_limit_gcra(now, &d->rate, (uint32_t) d->burst,
                                    &rn->st.gcra, &d->res);

        ngx_http_astro_ratelimit_touch(zone, rn, now + d->res.reset);
        ngx_shmtx_unlock(&zone->shpool->mutex);

        d->decided = 1;
        return NGX_OK;
    }

    t = (uint64_t) d->rate.period * NGX_ASTRO_LIMIT_USEC / d->rate.count;

    if (hy->tokens && hy->lease > now) {
        hy->tokens--;
        hy->used++;

        d->res.allowed = 1;
        d->res.remaining = hy->tokens;
        d->res.retry_after = 0;
        d->res.reset = (d->burst + 1) * t;

        ngx_http_astro_ratelimit_touch(zone, rn,
                                       ngx_max(rn->expire, hy->lease));
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_atomic_fetch_add(&zone->sh->local, 1);
        ngx_http_astro_ratelimit_debug(r, d, "hybrid, a token of the lease");

        d->decided = 1;
        return NGX_OK;
    }

    if (hy->refused > now) {
        d->res.allowed = 0;
        d->res.remaining = 0;
        d->res.retry_after = hy->refused - now;
        d->res.reset = d->res.retry_after + d->burst * t;

        ngx_http_astro_ratelimit_touch(zone, rn, hy->refused);

        return ngx_http_astro_ratelimit_hybrid_kept(r, d);
    }

    /*
     * twice the requests the last lease served (its asker and tokens), at
     * most a burst's worth and 16
     */

    k = ngx_max(2 * (ngx_uint_t) hy->used, 1);
    k = ngx_min(k, ngx_min(d->burst + 1, 16));

    hy->tokens = 0;
    hy->used = 1;           /* this request */
    hy->lease = 0;

    d->lease = (uint32_t) k;

    ngx_http_astro_ratelimit_touch(zone, rn,
                                   ngx_max(rn->expire,
                                           now + zone->sync * 1000));
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_ratelimit: zone \"%V\" key %08XD: hybrid, "
                   "asks Redis for a lease of %ui decisions",
                   &zone->name, ngx_crc32_short(d->key.data, d->key.len), k);
    return NGX_AGAIN;
}


/*
 * A further decision of a GCRA lease: a pass is a token of the key's
 * lease, valid a sync period from now.  data: the zone, then the key's
 * length and bytes (ngx_alloc()ed by the asker, freed here).
 */

ngx_int_t
ngx_http_astro_ratelimit_hybrid_token(void *data, redisReply *reply)
{
    u_char                             *p = data;

    uint64_t                            now;
    ngx_str_t                           key;
    ngx_http_astro_ratelimit_zone_t    *zone;
    ngx_http_astro_ratelimit_node_t    *rn;
    ngx_http_astro_ratelimit_hybrid_t  *hy;

    ngx_memcpy(&zone, p, sizeof(ngx_http_astro_ratelimit_zone_t *));
    key.len = p[sizeof(ngx_http_astro_ratelimit_zone_t *)];
    key.data = p + sizeof(ngx_http_astro_ratelimit_zone_t *) + 1;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[1]->type == REDIS_REPLY_INTEGER
        && (reply->element[1]->integer & 1))
    {
        now = ngx_http_astro_ratelimit_now();

        ngx_shmtx_lock(&zone->shpool->mutex);

        rn = ngx_http_astro_ratelimit_lookup(zone, &key, now, 0,
                                             ngx_cycle->log);
        if (rn) {
            hy = ngx_http_astro_ratelimit_hybrid(rn);

            hy->tokens++;
            hy->lease = now + zone->sync * 1000;

            ngx_http_astro_ratelimit_touch(zone, rn,
                                           ngx_max(rn->expire, hy->lease));
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    ngx_free(p);

    return NGX_OK;
}


/*
 * Redis decided for d exactly: v is its reply for the key, the window,
 * cur * 2 + allowed, prev, which becomes the node's global counts (NULL
 * for GCRA: d->res is the answer); a refusal is kept until the next
 * request would pass.
 */

void
ngx_http_astro_ratelimit_hybrid_answer(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, uint64_t *v)
{
    uint64_t                            now;
    ngx_http_astro_ratelimit_zone_t    *zone;
    ngx_http_astro_ratelimit_node_t    *rn;
    ngx_http_astro_ratelimit_hybrid_t  *hy;

    zone = d->zone;

    now = ngx_http_astro_ratelimit_now();

    if (v) {
        ngx_astro_limit_sliding_result(now, &d->rate, v[1] & 1, v[1] / 2,
                                       v[2], &d->res);
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    rn = ngx_http_astro_ratelimit_lookup(zone, &d->key, now, 0,
                                         r->connection->log);
    if (rn) {
        hy = ngx_http_astro_ratelimit_hybrid(rn);

        if (v) {
            ngx_http_astro_ratelimit_hybrid_settle(zone, hy, d->hwin,
                                                   d->hcur, d->hprev, v);
        }

        if (!d->res.allowed) {
            hy->refused = now + d->res.retry_after;
        }

        ngx_http_astro_ratelimit_touch(zone, rn,
                                       now + 2 * (uint64_t) d->rate.period
                                             * NGX_ASTRO_LIMIT_USEC);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_atomic_fetch_add(&zone->sh->exact, 1);

    d->hcur = 0;
    d->hprev = 0;
    d->decided = 1;
}


/* Redis did not answer d's question: its pending counts are back */

void
ngx_http_astro_ratelimit_hybrid_give_back(
    ngx_http_astro_ratelimit_decision_t *d)
{
    uint64_t                            now;
    ngx_http_astro_ratelimit_zone_t    *zone;
    ngx_http_astro_ratelimit_node_t    *rn;
    ngx_http_astro_ratelimit_hybrid_t  *hy;

    if (d->hcur == 0 && d->hprev == 0) {
        return;     /* GCRA's too: a lease gives nothing back */
    }

    zone = d->zone;

    now = ngx_http_astro_ratelimit_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    rn = ngx_http_astro_ratelimit_lookup(zone, &d->key, now, 0,
                                         ngx_cycle->log);
    if (rn) {
        hy = ngx_http_astro_ratelimit_hybrid(rn);

        ngx_http_astro_ratelimit_hybrid_settle(zone, hy, d->hwin, d->hcur,
                                               d->hprev, NULL);

        ngx_http_astro_ratelimit_touch(zone, rn, ngx_max(rn->expire, now));
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    d->hcur = 0;
    d->hprev = 0;
}


/*
 * With the lock held: a push of dcur and dprev counts of window "window"
 * is over; they leave inflight (no more than is there: a worker killed
 * while its push was out leaves its counts in inflight, which only the
 * windows' moving clears, never pushed again).  With v, Redis's reply
 * (window, cur * 2 + allowed, prev): the global counts; without, the
 * counts go back to pending, to be pushed at the next sync.
 */

void
ngx_http_astro_ratelimit_hybrid_settle(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_hybrid_t *hy, uint64_t window, uint32_t dcur,
    uint32_t dprev, uint64_t *v)
{
    if (hy->window == window) {
        dcur = ngx_min(dcur, hy->icur);
        dprev = ngx_min(dprev, hy->iprev);

        hy->icur -= dcur;
        hy->iprev -= dprev;

    } else if (hy->window == window + 1) {
        /* the window moved meanwhile: the push's current is the previous */
        dprev = ngx_min(dcur, hy->iprev);
        dcur = 0;

        hy->iprev -= dprev;

    } else {
        dcur = 0;
        dprev = 0;
    }

    if (v == NULL) {
        if (dcur || dprev) {
            hy->pcur += dcur;
            hy->pprev += dprev;
            ngx_http_astro_ratelimit_hybrid_dirty(zone, hy);
        }

        return;
    }

    /*
     * a window's counts in Redis only grow: a reply overtaken by a later
     * one (answered on another connection) does not take them back
     */

    if (hy->window == v[0]) {
        hy->gcur = ngx_max(hy->gcur, (uint32_t) (v[1] / 2));
        hy->gprev = ngx_max(hy->gprev, (uint32_t) v[2]);

    } else if (hy->window == v[0] + 1) {
        hy->gprev = ngx_max(hy->gprev, (uint32_t) (v[1] / 2));
    }
}


/* with the lock held (released here): a refusal of Redis, kept, answers */

static ngx_int_t
ngx_http_astro_ratelimit_hybrid_kept(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d)
{
    ngx_shmtx_unlock(&d->zone->shpool->mutex);

    ngx_atomic_fetch_add(&d->zone->sh->cached, 1);
    ngx_http_astro_ratelimit_debug(r, d, "hybrid, refused by Redis before, "
                                   "kept");
    d->decided = 1;

    return NGX_OK;
}


/*
 * With the lock held: the key is to be pushed, a sync period after its
 * first count not pushed (the queue is in that order)
 */

static void
ngx_http_astro_ratelimit_hybrid_dirty(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_hybrid_t *hy)
{
    if (hy->dirty.prev == NULL) {
        ngx_queue_insert_tail(&zone->sh->dirty, &hy->dirty);
        zone->sh->ndirty++;
        hy->dirtied = (uint32_t) (ngx_http_astro_ratelimit_now() / 1000);
    }
}


/* the gauge of the keys whose last decision found them near the limit */

static void
ngx_http_astro_ratelimit_hybrid_near(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_http_astro_ratelimit_hybrid_t *hy, ngx_uint_t near)
{
    if (hy->near == near) {
        return;
    }

    hy->near = (uint32_t) near;

    ngx_atomic_fetch_add(&zone->sh->keys_near,
                         near ? 1 : (ngx_atomic_int_t) -1);
}
