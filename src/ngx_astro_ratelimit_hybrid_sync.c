
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"


/*
 * The hybrid backend's sync: one worker of the node holds the zone's lease
 * (ngx_astro_lease.c) and pushes each key's pending counts a sync period
 * after the first of them, in batches: as keys fall due, at most every 2
 * milliseconds (the pace), those due, first in the zone's queue, are taken
 * out under the lock (their pending counts become inflight and are copied
 * out), and each is one decision of the hybrid script, ngx_astro_redis_eval()
 * batching and pipelining them.  Its reply is every node's counts, the
 * key's new global ones; a key that failed has its counts back in pending,
 * due again a sync period later.  One batch is out at a time.
 *
 * Paced so, Redis and the worker see the keys as the requests made them
 * due, not thousands at once every period, and Redis a call at a time
 * (ngx_http_astro_ratelimit_hybrid_send()).  A count waits at most a sync
 * period before it is pushed, as it did.
 *
 * A worker killed while its batch is out leaves the counts of the batch
 * in inflight: Redis may have them or not, and they are never pushed
 * again (at most lost once); they count here until the windows move past
 * them.
 */


#define NGX_HTTP_ASTRO_RL_LEASE       3        /* s */
#define NGX_HTTP_ASTRO_RL_TICK        1000     /* ms, the lease's tick */
#define NGX_HTTP_ASTRO_RL_PACE        2        /* ms, the holder's, at most */
#define NGX_HTTP_ASTRO_RL_BATCH_KEYS  4096
#define NGX_HTTP_ASTRO_RL_LOCKED_KEYS 512      /* taken a hold of the lock */
#define NGX_HTTP_ASTRO_RL_OUT         32       /* keys out at a time */
#define NGX_HTTP_ASTRO_RL_OUT_BEHIND  256      /* a batch past half a period */


typedef struct ngx_http_astro_ratelimit_round_s
    ngx_http_astro_ratelimit_round_t;


typedef struct {
    ngx_http_astro_ratelimit_round_t  *round;
    uint64_t                           window;
    uint32_t                           count;
    uint32_t                           period;
    uint32_t                           dcur;
    uint32_t                           dprev;
    u_char                             len;
    u_char                             key[NGX_ASTRO_LIMIT_KEY_MAX];
} ngx_http_astro_ratelimit_push_t;


struct ngx_http_astro_ratelimit_round_s {
    ngx_http_astro_ratelimit_zone_t   *zone;    /* NULL: the worker exits */
    ngx_uint_t                         out;     /* replies to come */
    ngx_uint_t                         busy;    /* sent, not answered */
    ngx_uint_t                         next;    /* to send */
    ngx_uint_t                         failed;
    ngx_uint_t                         n;
    ngx_msec_t                         start;   /* its first keys sent */
    u_char                            *key;     /* prefix, zone name, ':' */
    size_t                             head;    /* their length */
    ngx_http_astro_ratelimit_push_t    push[1];
};


static ngx_msec_t ngx_http_astro_ratelimit_hybrid_ms(void);
static void ngx_http_astro_ratelimit_hybrid_tick(ngx_event_t *ev);
static ngx_msec_t ngx_http_astro_ratelimit_hybrid_pace(
    ngx_http_astro_ratelimit_zone_t *zone);
static ngx_msec_t ngx_http_astro_ratelimit_hybrid_left(
    ngx_http_astro_ratelimit_zone_t *zone, ngx_queue_t *q, ngx_msec_t now);
static ngx_msec_t ngx_http_astro_ratelimit_hybrid_round(
    ngx_http_astro_ratelimit_zone_t *zone);
static void ngx_http_astro_ratelimit_hybrid_send(
    ngx_http_astro_ratelimit_round_t *round);
static ngx_int_t ngx_http_astro_ratelimit_hybrid_reply(void *data,
    redisReply *reply);
static void ngx_http_astro_ratelimit_hybrid_done(
    ngx_http_astro_ratelimit_push_t *p, uint64_t *v);
static void ngx_http_astro_ratelimit_hybrid_end(
    ngx_http_astro_ratelimit_round_t *round);


/* init_process: every worker ticks the lease of each hybrid zone */

ngx_int_t
ngx_http_astro_ratelimit_hybrid_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_ratelimit_main_conf_t *rmcf)
{
    ngx_uint_t                         i;
    ngx_http_astro_ratelimit_zone_t  **zone;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->backend != NGX_HTTP_ASTRO_RL_HYBRID) {
            continue;
        }

        zone[i]->rmcf = rmcf;
        zone[i]->round = NULL;
        zone[i]->failed = 0;

        zone[i]->tick.handler = ngx_http_astro_ratelimit_hybrid_tick;
        zone[i]->tick.data = zone[i];
        zone[i]->tick.log = cycle->log;
        zone[i]->tick.cancelable = 1;

        /* the workers' first ticks spread over the first period */
        ngx_add_timer(&zone[i]->tick,
                      1 + ngx_random() % ngx_min(zone[i]->sync,
                                                 NGX_HTTP_ASTRO_RL_TICK));
    }

    return NGX_OK;
}


/*
 * exit_process: the lease is given back; a round out is let go, the keys
 * it has not sent yet back to pending for the next holder (those sent
 * stay inflight: Redis may have them)
 */

void
ngx_http_astro_ratelimit_hybrid_exit_worker(
    ngx_http_astro_ratelimit_main_conf_t *rmcf)
{
    ngx_uint_t                          i;
    ngx_http_astro_ratelimit_zone_t   **zone;
    ngx_http_astro_ratelimit_round_t   *round;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->backend != NGX_HTTP_ASTRO_RL_HYBRID
            || zone[i]->sh == NULL)
        {
            continue;
        }

        (void) ngx_astro_lease_release(&zone[i]->sh->lease);

        round = zone[i]->round;

        if (round == NULL) {
            continue;
        }

        /* keys are left unsent only behind keys out: the round lives on */

        while (round->next < round->n) {
            round->out++;
            ngx_http_astro_ratelimit_hybrid_done(&round->push[round->next++],
                                                 NULL);
        }

        round->zone = NULL;
        zone[i]->round = NULL;
    }
}


/*
 * Every worker ticks the lease at most a second apart; its holder pushes
 * the keys due when no batch is out, and ticks again when the next key is
 * due, a pace apart at least (after a batch, at its end).  Workers of an
 * old generation (a reload) give it back and stop.
 */

static void
ngx_http_astro_ratelimit_hybrid_tick(ngx_event_t *ev)
{
    ngx_http_astro_ratelimit_zone_t *zone = ev->data;

    ngx_pid_t    pid;
    ngx_msec_t   next, left;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        (void) ngx_astro_lease_release(&zone->sh->lease);
        return;
    }

    next = ngx_min(zone->sync, NGX_HTTP_ASTRO_RL_TICK);

    switch (ngx_astro_lease_tick(&zone->sh->lease, NGX_HTTP_ASTRO_RL_LEASE,
                                 &pid))
    {
    case NGX_ASTRO_LEASE_TAKEN:
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "astro_ratelimit_zone \"%V\": this worker syncs with "
                      "redis %V (the lease of %P)",
                      &zone->name, &zone->rmcf->redis->name, pid);

        /* fall through */

    case NGX_ASTRO_LEASE_HELD:

        if (zone->round) {
            /* still out (Redis slow or gone): its end ticks at the pace */
            break;
        }

        left = ngx_http_astro_ratelimit_hybrid_round(zone);

        if (zone->round == NULL) {
            next = ngx_min(next, ngx_max(left,
                                ngx_http_astro_ratelimit_hybrid_pace(zone)));
        }

        break;

    default: /* NGX_ASTRO_LEASE_OTHER */
        break;
    }

    ngx_add_timer(ev, next);
}


/* the holder's tick: 2ms, or 1ms for a sync period under 20ms */

static ngx_msec_t
ngx_http_astro_ratelimit_hybrid_pace(ngx_http_astro_ratelimit_zone_t *zone)
{
    return ngx_max(ngx_min(zone->sync / 10, NGX_HTTP_ASTRO_RL_PACE), 1);
}


/*
 * With the lock held: the time until the key of q is due, its first count
 * not pushed a sync period old less the pace, so that none waits longer
 * than the period; 0: due (or a clock stepped back).  No key (the
 * queue's end): a key counted from now is due no sooner than this.
 */

static ngx_msec_t
ngx_http_astro_ratelimit_hybrid_left(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_queue_t *q, ngx_msec_t now)
{
    int32_t                             age;
    ngx_msec_t                          due;
    ngx_http_astro_ratelimit_hybrid_t  *hy;

    due = zone->sync - ngx_http_astro_ratelimit_hybrid_pace(zone);

    if (q == ngx_queue_sentinel(&zone->sh->dirty)) {
        return due;
    }

    hy = ngx_queue_data(q, ngx_http_astro_ratelimit_hybrid_t, dirty);

    age = (int32_t) ((uint32_t) now - hy->dirtied);

    if (age < 0 || (ngx_msec_t) age >= due) {
        return 0;
    }

    return due - age;
}


/*
 * The holder: the keys due out, a call of the script each.  Returns the
 * time until the next key is due when none is (0 when a batch went).
 */

static ngx_msec_t
ngx_http_astro_ratelimit_hybrid_round(ngx_http_astro_ratelimit_zone_t *zone)
{
    u_char                                *p;
    size_t                                 size, head;
    uint64_t                               now;
    ngx_msec_t                             ms, left;
    ngx_uint_t                             n, max;
    ngx_queue_t                           *q;
    ngx_http_astro_ratelimit_push_t       *push;
    ngx_http_astro_ratelimit_round_t      *round;
    ngx_http_astro_ratelimit_hybrid_t     *hy;
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    now = ngx_http_astro_ratelimit_now();
    ms = (ngx_msec_t) (now / 1000);

    /* how many are due, counted first: a batch's memory is theirs */

    max = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->dirty);
         max < NGX_HTTP_ASTRO_RL_BATCH_KEYS
         && ngx_http_astro_ratelimit_hybrid_left(zone, q, ms) == 0;
         q = ngx_queue_next(q))
    {
        max++;
    }

    left = (max == 0) ? ngx_http_astro_ratelimit_hybrid_left(zone, q, ms) : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* none due: synced, unless the last batch had failures */

    if (max == 0) {
        if (zone->failed == 0) {
            zone->sh->synced = ms;
        }

        return left;
    }

    /* the Redis keys as the requests' questions name them, whole */

    rmcf = zone->rmcf;
    head = rmcf->prefix.len + zone->name.len + 1;

    size = sizeof(ngx_http_astro_ratelimit_round_t)
           + (max - 1) * sizeof(ngx_http_astro_ratelimit_push_t);

    round = ngx_alloc(size + head + NGX_ASTRO_LIMIT_KEY_MAX, zone->tick.log);
    if (round == NULL) {
        return ngx_min(zone->sync, NGX_HTTP_ASTRO_RL_TICK);
    }

    round->key = (u_char *) round + size;
    round->head = head;

    p = ngx_cpymem(round->key, rmcf->prefix.data, rmcf->prefix.len);
    p = ngx_cpymem(p, zone->name.data, zone->name.len);
    *p = ':';

    round->zone = zone;
    round->out = 1;
    round->start = ngx_current_msec;
    round->busy = 0;
    round->next = 0;
    round->failed = 0;

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    while (n < max
           && ngx_http_astro_ratelimit_hybrid_left(zone,
                                      ngx_queue_head(&zone->sh->dirty), ms)
              == 0)
    {

        if (n && n % NGX_HTTP_ASTRO_RL_LOCKED_KEYS == 0) {
            /* the requests' decisions wait for the lock meanwhile */
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_shmtx_lock(&zone->shpool->mutex);
        }

        q = ngx_queue_head(&zone->sh->dirty);
        ngx_queue_remove(q);
        zone->sh->ndirty--;

        hy = ngx_queue_data(q, ngx_http_astro_ratelimit_hybrid_t, dirty);
        hy->dirty.prev = NULL;

        ngx_http_astro_ratelimit_hybrid_roll(hy, now);

        if (hy->pcur == 0 && hy->pprev == 0) {
            continue;
        }

        push = &round->push[n++];

        push->round = round;
        push->window = hy->window;
        push->count = hy->count;
        push->period = hy->period;
        push->dcur = hy->pcur;
        push->dprev = hy->pprev;
        push->len = hy->node->len;
        ngx_memcpy(push->key, hy->node->data, hy->node->len);

        hy->icur += hy->pcur;
        hy->iprev += hy->pprev;
        hy->pcur = 0;
        hy->pprev = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    round->n = n;
    zone->round = round;

    ngx_atomic_fetch_add(&zone->sh->rounds, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, zone->tick.log, 0,
                   "astro_ratelimit: zone \"%V\": sync pushes %ui keys",
                   &zone->name, n);

    ngx_http_astro_ratelimit_hybrid_send(round);

    /* this call's own count: a key that fails at once does not end it */

    if (--round->out == 0) {
        ngx_http_astro_ratelimit_hybrid_end(round);
    }

    return 0;
}


/*
 * The batch's next keys, while few are out: a batch of thousands of keys
 * does not queue them all on the worker's connections at once, where the
 * last would wait past the client's timeout (and open its circuit for the
 * requests' questions too), and Redis, which shares the node's CPUs, runs
 * a call at a time rather than bursts of milliseconds that hold the
 * requests of the CPU it takes (bench/README.md); a batch still out after
 * half a sync period, Redis or the worker behind, sends more at a time.
 * The caller holds a count of the batch's out, so that it does not end
 * here.
 */

static void
ngx_http_astro_ratelimit_hybrid_send(ngx_http_astro_ratelimit_round_t *round)
{
    ngx_str_t                              key, args[3];
    ngx_uint_t                             max;
    ngx_http_astro_ratelimit_zone_t       *zone;
    ngx_astro_redis_script_t              *script;
    ngx_http_astro_ratelimit_push_t       *push;
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;
    u_char                                 abuf[3][NGX_INT64_LEN * 4 + 4];

    zone = round->zone;
    rmcf = zone->rmcf;
    script = &rmcf->scripts[NGX_ASTRO_RATELIMIT_LUA_HYBRID];

    max = (ngx_current_msec - round->start > zone->sync / 2)
          ? NGX_HTTP_ASTRO_RL_OUT_BEHIND : NGX_HTTP_ASTRO_RL_OUT;

    while (round->next < round->n && round->busy < max) {
        push = &round->push[round->next++];

        ngx_memcpy(round->key + round->head, push->key, push->len);

        key.data = round->key;
        key.len = round->head + push->len;

        args[0].data = abuf[0];
        args[0].len = ngx_sprintf(abuf[0], "%uD", push->count) - abuf[0];
        args[1].data = abuf[1];
        args[1].len = ngx_sprintf(abuf[1], "%uD", push->period) - abuf[1];
        args[2].data = abuf[2];
        args[2].len = ngx_sprintf(abuf[2], "%uL %uD %uD", push->window,
                                  push->dcur, push->dprev)
                      - abuf[2];

        round->out++;

        if (ngx_astro_redis_eval(rmcf->redis, script, &key, args,
                                 ngx_http_astro_ratelimit_hybrid_reply, push)
            == NULL)
        {
            /* the circuit is open: back to pending, at once */
            ngx_http_astro_ratelimit_hybrid_done(push, NULL);
            continue;
        }

        round->busy++;
    }
}


static ngx_int_t
ngx_http_astro_ratelimit_hybrid_reply(void *data, redisReply *reply)
{
    ngx_http_astro_ratelimit_push_t *push = data;

    uint64_t                           v[3];
    ngx_int_t                          rc;
    ngx_uint_t                         i;
    ngx_http_astro_ratelimit_round_t  *round;

    rc = NGX_ERROR;

    /* window, cur * 2 + allowed, prev: the counts are kept in 32 bits */

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
        for (i = 0; i < 3; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER
                || reply->element[i]->integer < 0
                || (i && (uint64_t) reply->element[i]->integer
                         >= (uint64_t) 1 << (i == 1 ? 33 : 32)))
            {
                break;
            }

            v[i] = (uint64_t) reply->element[i]->integer;
        }

        rc = (i == 3) ? NGX_OK : NGX_ERROR;
    }

    round = push->round;

    round->out++;               /* ended below, after the next keys */
    round->busy--;

    ngx_http_astro_ratelimit_hybrid_done(push, rc == NGX_OK ? v : NULL);

    if (round->zone) {
        ngx_http_astro_ratelimit_hybrid_send(round);
    }

    if (--round->out == 0) {
        ngx_http_astro_ratelimit_hybrid_end(round);
    }

    return reply ? rc : NGX_OK;
}


/* a key's push is over: v the reply, NULL when it failed */

static void
ngx_http_astro_ratelimit_hybrid_done(ngx_http_astro_ratelimit_push_t *p,
    uint64_t *v)
{
    uint64_t                            now;
    ngx_str_t                           key;
    ngx_http_astro_ratelimit_zone_t    *zone;
    ngx_http_astro_ratelimit_node_t    *rn;
    ngx_http_astro_ratelimit_round_t   *round;

    round = p->round;
    zone = round->zone;

    if (v == NULL) {
        round->failed++;
    }

    if (zone) {
        now = ngx_http_astro_ratelimit_now();

        key.data = p->key;
        key.len = p->len;

        ngx_shmtx_lock(&zone->shpool->mutex);

        rn = ngx_http_astro_ratelimit_lookup(zone, &key, now, 0,
                                             zone->tick.log);
        if (rn) {
            ngx_http_astro_ratelimit_hybrid_settle(zone,
                ngx_http_astro_ratelimit_hybrid(rn), p->window, p->dcur,
                p->dprev, v);

            ngx_http_astro_ratelimit_touch(zone, rn,
                                           ngx_max(rn->expire, now));
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (v) {
            ngx_atomic_fetch_add(&zone->sh->pushed, 1);

        } else {
            ngx_atomic_fetch_add(&zone->sh->sync_failed, 1);
        }
    }

    if (--round->out == 0) {
        ngx_http_astro_ratelimit_hybrid_end(round);
    }
}


/* the batch's last reply: the sync is good when every key's was */

static void
ngx_http_astro_ratelimit_hybrid_end(ngx_http_astro_ratelimit_round_t *round)
{
    ngx_msec_t                        pace;
    ngx_http_astro_ratelimit_zone_t  *zone;

    zone = round->zone;

    if (zone) {
        if (round->failed == 0) {
            zone->sh->synced = ngx_http_astro_ratelimit_hybrid_ms();
        }

        zone->failed = round->failed;

        /* while a batch was out the tick slowed down: the next one now */

        pace = ngx_http_astro_ratelimit_hybrid_pace(zone);

        if (zone->tick.timer_set
            && (ngx_msec_int_t) (zone->tick.timer.key - ngx_current_msec)
               > (ngx_msec_int_t) pace)
        {
            ngx_add_timer(&zone->tick, pace);
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, zone->tick.log, 0,
                       "astro_ratelimit: zone \"%V\": sync of %ui keys "
                       "over, %ui failed", &zone->name, round->n,
                       round->failed);

        zone->round = NULL;
    }

    ngx_free(round);
}


/* the time in ms since the epoch, the same in every worker */

static ngx_msec_t
ngx_http_astro_ratelimit_hybrid_ms(void)
{
    return (ngx_msec_t) (ngx_http_astro_ratelimit_now() / 1000);
}
