
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache_redis.h"
#include "ngx_astro_cache_parse.h"


/*
 * One worker of the node holds the zone's lease and, while it does, the
 * subscription and the poll; every worker's tick checks the lease.
 */


/*
 * A poll that the open circuit refused costs nothing on the network: it
 * is tried again this soon, not at the next tick, so that the node reads
 * Redis within about sync of its return (the circuit's backoff is at
 * most sync).
 */
#define NGX_HTTP_ASTRO_CACHE_REFUSED_RETRY  100


typedef struct ngx_http_astro_cache_sync_s  ngx_http_astro_cache_sync_t;


/* a class's part of a poll */
typedef struct {
    ngx_http_astro_cache_sync_t     *sync;
    ngx_http_astro_cache_class_t    *class;
} ngx_http_astro_cache_poll_t;


/* the holder's, in zone->sub while it holds the lease */
struct ngx_http_astro_cache_sync_s {
    ngx_http_astro_cache_zone_t     *zone;
    ngx_astro_redis_sub_t           *sub;
    ngx_http_astro_cache_poll_t     *polls;     /* one a class */
    ngx_uint_t                       inflight;  /* replies of the poll */
    ngx_uint_t                       sent;      /* commands of the poll */
    ngx_uint_t                       answered;  /* of them, answered */
    ngx_msec_t                       next_poll;
    ngx_msec_t                       ring_at;   /* the ring may go then */
    unsigned                         failed:1;  /* the poll */
    unsigned                         refused:1; /* by the circuit */
    unsigned                         again:1;   /* polled again at once */
    unsigned                         subscribed:1;
};


static void ngx_http_astro_cache_hold(ngx_http_astro_cache_zone_t *zone,
    ngx_log_t *log);
static void ngx_http_astro_cache_sub_handler(void *data, ngx_uint_t event,
    ngx_str_t *message);
static void ngx_http_astro_cache_message(ngx_http_astro_cache_sync_t *sync,
    ngx_str_t *msg);
static void ngx_http_astro_cache_poll(ngx_http_astro_cache_sync_t *sync);
static ngx_int_t ngx_http_astro_cache_poll_reply(void *data,
    redisReply *reply);


/*
 * The lease: the holder renews it; another worker takes it when it is
 * free, not renewed in time or its holder is gone (killed); a holder that
 * finds it taken (it was late) lets the subscription go.
 */

void
ngx_http_astro_cache_tick(ngx_event_t *ev)
{
    ngx_http_astro_cache_zone_t *zone = ev->data;

    ngx_pid_t                     pid;
    ngx_msec_t                    tick;
    ngx_msec_int_t                left;
    ngx_http_astro_cache_sh_t    *sh;
    ngx_http_astro_cache_sync_t  *sync;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_astro_cache_release(zone);
        return;
    }

    sh = zone->sh;

    switch (ngx_astro_lease_tick(&sh->lease, NGX_HTTP_ASTRO_CACHE_LEASE,
                                 &pid))
    {
    case NGX_ASTRO_LEASE_HELD:
        ngx_http_astro_cache_hold(zone, ev->log);
        break;

    case NGX_ASTRO_LEASE_TAKEN:
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "astro_cache_zone \"%V\": this worker subscribes "
                      "to redis %V (the lease of %P)",
                      &zone->name, &zone->redis->name, pid);

        /* until this worker's subscription is made */
        sh->connected = 0;

        ngx_http_astro_cache_hold(zone, ev->log);
        break;

    default: /* NGX_ASTRO_LEASE_OTHER */

        if (zone->sub) {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "astro_cache_zone \"%V\": worker %P took the "
                          "subscription over", &zone->name, pid);

            ngx_http_astro_cache_release(zone);
        }
    }

    tick = ngx_min(zone->sync, NGX_HTTP_ASTRO_CACHE_TICK);

    /* the holder wakes for its poll on time */

    sync = zone->sub;

    if (sync && !sync->failed) {
        left = (ngx_msec_int_t) (sync->next_poll - ngx_current_msec);
        tick = ngx_max(ngx_min((ngx_msec_int_t) tick, left), 1);

    } else if (sync && sync->refused) {
        tick = ngx_min(tick, NGX_HTTP_ASTRO_CACHE_REFUSED_RETRY);
    }

    ngx_add_timer(ev, tick);
}


/* the holder: the lease renewed, the subscription made, the poll if due */

static void
ngx_http_astro_cache_hold(ngx_http_astro_cache_zone_t *zone, ngx_log_t *log)
{
    ngx_uint_t                    i, n;
    ngx_http_astro_cache_sync_t  *sync;
    ngx_http_astro_cache_class_t *class;

    ngx_astro_lease_renew(&zone->sh->lease, NGX_HTTP_ASTRO_CACHE_LEASE);

    sync = zone->sub;

    if (sync == NULL) {
        n = zone->classes.nelts;

        sync = ngx_calloc(sizeof(ngx_http_astro_cache_sync_t)
                          + n * sizeof(ngx_http_astro_cache_poll_t), log);
        if (sync == NULL) {
            return;
        }

        sync->zone = zone;
        sync->polls = (ngx_http_astro_cache_poll_t *) (sync + 1);

        class = zone->classes.elts;

        for (i = 0; i < n; i++) {
            sync->polls[i].sync = sync;
            sync->polls[i].class = &class[i];
        }

        sync->sub = ngx_astro_redis_subscribe(zone->redis, &zone->channel,
                                              ngx_http_astro_cache_sub_handler,
                                              sync);
        if (sync->sub == NULL) {
            ngx_free(sync);
            return;
        }

        zone->sub = sync;

        /* the first poll when the subscription is made, or at the sync */
        sync->next_poll = ngx_current_msec + zone->sync;

        return;
    }

    if (sync->inflight == 0
        && (sync->failed
            || (ngx_msec_int_t) (ngx_current_msec - sync->next_poll) >= 0))
    {
        ngx_http_astro_cache_poll(sync);
    }
}


/* by the holder that exits or lost the lease */

void
ngx_http_astro_cache_release(ngx_http_astro_cache_zone_t *zone)
{
    ngx_http_astro_cache_sh_t    *sh;
    ngx_http_astro_cache_sync_t  *sync;

    sh = zone->sh;
    sync = zone->sub;

    if (sync) {
        ngx_astro_redis_unsubscribe(sync->sub);

        if (sync->inflight == 0) {
            ngx_free(sync);

        } else {
            sync->zone = NULL;   /* the poll's last reply frees it */
        }

        zone->sub = NULL;
    }

    if (ngx_astro_lease_release(&sh->lease)) {
        sh->connected = 0;
    }
}


static void
ngx_http_astro_cache_sub_handler(void *data, ngx_uint_t event,
    ngx_str_t *message)
{
    ngx_http_astro_cache_sync_t *sync = data;

    ngx_msec_t                    back;
    ngx_http_astro_cache_zone_t  *zone;

    zone = sync->zone;

    switch (event) {

    case NGX_ASTRO_REDIS_SUB_SUBSCRIBED:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": subscribed, polls",
                       &zone->name);

        zone->sh->connected = 1;
        sync->subscribed = 1;

        /*
         * A message reaches only the nodes subscribed when it is sent.
         * After Redis was away, each node subscribes again within its
         * backoff, at most the circuit's max_open (sync=, or 1 s): this
         * node may be the first; the ring waits that long and half again
         * for the others, then goes after a poll.
         */

        back = zone->redis->circuit.max_open;
        sync->ring_at = ngx_current_msec + back + back / 2;

        if (sync->inflight == 0) {
            ngx_http_astro_cache_poll(sync);

        } else {
            sync->failed = 1;   /* polled again at the next tick */
        }

        break;

    case NGX_ASTRO_REDIS_SUB_LOST:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": subscription lost",
                       &zone->name);

        zone->sh->connected = 0;
        sync->subscribed = 0;
        break;

    default: /* NGX_ASTRO_REDIS_SUB_MESSAGE */
        ngx_http_astro_cache_message(sync, message);
    }
}


/* another node's invalidation (or this one's, which changes nothing) */

static void
ngx_http_astro_cache_message(ngx_http_astro_cache_sync_t *sync,
    ngx_str_t *msg)
{
    ngx_str_t                       name;
    ngx_uint_t                      i, found;
    ngx_shm_zone_t                **cache;
    ngx_astro_cache_msg_t           m;
    ngx_http_astro_cache_zone_t    *zone;
    ngx_http_astro_cache_class_t   *class;
    ngx_http_astro_cache_purged_t   res;

    zone = sync->zone;

    if (ngx_astro_cache_parse_msg(msg->data, msg->len, &m) != 0) {
        ngx_log_error(NGX_LOG_WARN, zone->redis->log, 0,
                      "astro_cache_zone \"%V\": a message that is not an "
                      "invalidation on %V: \"%V\"", &zone->name,
                      &zone->channel, msg);
        return;
    }

    name.data = (u_char *) m.value;
    name.len = m.len;

    if (m.what == NGX_ASTRO_CACHE_CLASS) {
        class = ngx_http_astro_cache_class(zone, &name);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": class \"%V\" at "
                       "generation %uL elsewhere", &zone->name, &name, m.gen);

        if (class) {
            ngx_http_astro_cache_seen(zone, class,
                                      (ngx_atomic_uint_t) m.gen);
        }

        return;
    }

    found = 0;
    cache = zone->caches.elts;

    for (i = 0; i < zone->caches.nelts; i++) {
        ngx_memzero(&res, sizeof(ngx_http_astro_cache_purged_t));

        if (ngx_http_astro_cache_purge(cache[i], &name, m.hard,
                                       zone->redis->log, &res)
            == NGX_OK)
        {
            found |= res.found && !res.already;
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                   "astro_cache: zone \"%V\": key \"%V\" invalidated "
                   "elsewhere (%s), %s here", &zone->name, &name,
                   m.hard ? "hard" : "soft", found ? "found" : "not found");

    /*
     * counted with the class "default", the zone's first; not an entry
     * expired already, as the node's own soft invalidation leaves it
     */

    if (found) {
        ngx_http_astro_cache_count(zone->classes.elts,
                                   NGX_HTTP_ASTRO_CACHE_KEY_RECEIVED);
    }
}


/*
 * Each class's generation pushed to Redis and read back: the highest of
 * the nodes', as one call of the script.
 */

static void
ngx_http_astro_cache_poll(ngx_http_astro_cache_sync_t *sync)
{
    u_char                         buf[NGX_INT64_LEN];
    u_char                         kbuf[NGX_HTTP_ASTRO_CACHE_CLASS_LEN + 128];
    ngx_str_t                      key, args[2];
    ngx_uint_t                     i;
    ngx_http_astro_cache_zone_t   *zone;
    ngx_http_astro_cache_poll_t   *poll;
    ngx_astro_redis_script_t     **script;

    zone = sync->zone;
    script = zone->redis->scripts.elts;

    sync->failed = 0;
    sync->refused = 0;
    sync->sent = 0;
    sync->answered = 0;
    sync->next_poll = ngx_current_msec + zone->sync;

    /* the ring's keys wait for ring_at: a poll then, not up to sync later */

    if (sync->subscribed && zone->sh->pending_n
        && (ngx_msec_int_t) (sync->ring_at - ngx_current_msec) > 0
        && (ngx_msec_int_t) (sync->ring_at - sync->next_poll) < 0)
    {
        sync->next_poll = sync->ring_at;
    }

    ngx_str_set(&args[0], "0");
    args[1].data = buf;

    for (i = 0; i < zone->classes.nelts; i++) {
        poll = &sync->polls[i];

        if (ngx_http_astro_cache_gen_key(zone, poll->class, &key, kbuf,
                                         sizeof(kbuf))
            != NGX_OK)
        {
            continue;
        }

        args[1].len = ngx_sprintf(buf, "%uA", poll->class->sh->gen) - buf;

        if (ngx_astro_redis_eval(zone->redis,
                                 script[NGX_HTTP_ASTRO_CACHE_GEN], &key,
                                 args, ngx_http_astro_cache_poll_reply, poll)
            == NULL)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                           "astro_cache: zone \"%V\": no poll, Redis is "
                           "not asked", &zone->name);
            sync->failed = 1;
            sync->refused = 1;
            return;
        }

        sync->inflight++;
        sync->sent++;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                   "astro_cache: zone \"%V\": polls %ui classes",
                   &zone->name, sync->inflight);
}


static ngx_int_t
ngx_http_astro_cache_poll_reply(void *data, redisReply *reply)
{
    ngx_http_astro_cache_poll_t *poll = data;

    ngx_int_t                     rc;
    ngx_atomic_uint_t             gen;
    ngx_http_astro_cache_zone_t  *zone;
    ngx_http_astro_cache_sync_t  *sync;

    sync = poll->sync;
    zone = sync->zone;     /* NULL: the lease went meanwhile */

    rc = ngx_http_astro_cache_reply_int(reply, &gen);

    if (rc == NGX_OK && zone) {
        ngx_http_astro_cache_seen(zone, poll->class, gen);
        sync->answered++;

    } else {
        sync->failed = 1;
    }

    if (--sync->inflight) {
        return reply ? rc : NGX_OK;
    }

    if (zone == NULL) {
        ngx_free(sync);
        return reply ? rc : NGX_OK;
    }

    if (sync->failed) {

        /*
         * the circuit's probe was answered, the rest refused while it was
         * out: the circuit is closed now, the poll is made again at once
         * (once)
         */

        if (sync->refused && sync->answered == sync->sent && !sync->again) {
            sync->again = 1;
            ngx_http_astro_cache_poll(sync);

        } else {
            sync->again = 0;
        }

        return reply ? rc : NGX_OK;
    }

    sync->again = 0;
    zone->sh->last_sync = ngx_time();

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                   "astro_cache: zone \"%V\": polled", &zone->name);

    if (sync->subscribed
        && (ngx_msec_int_t) (ngx_current_msec - sync->ring_at) >= 0)
    {
        ngx_http_astro_cache_republish(zone);
    }

    return reply ? rc : NGX_OK;
}
