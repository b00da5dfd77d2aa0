
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include "ngx_astro_cache.h"
#include "ngx_astro_cache_parse.h"
#include "ngx_astro_cache_lua.h"    /* generated from src/lua/ by `config` */


/*
 * Invalidations across nodes, for a zone with redis=.  A class's
 * generation lives in Redis at "astro:cache:<zone>:gen:<class>" and is
 * merged by max: an invalidation raises it past every node's (bump), a
 * poll pushes the node's and reads the others' (src/lua/cache_gen.lua);
 * a value raised is published on "astro:cache:<zone>" as "c <class>
 * <gen>", a key invalidation as "k <h|s> <key>" (cache_publish.lua).
 *
 * One worker of the node holds a lease in the zone and, while it does,
 * the subscription to the channel and the poll: every sync, and each time
 * the subscription is made (again), it pushes and reads the generations
 * of all the zone's classes; so a message lost (pub/sub delivers at most
 * once, and nothing while a node is away) is made up for within sync.  A
 * key invalidation whose publication failed waits in the zone's ring and
 * is published again after the next poll that succeeds.
 */


/* the lease's renewal and the check of the others, at most this apart */
#define NGX_HTTP_ASTRO_CACHE_TICK     1000

/* a lease not renewed for this long (seconds) is taken over */
#define NGX_HTTP_ASTRO_CACHE_LEASE    3

#define NGX_HTTP_ASTRO_CACHE_PREFIX   "astro:cache:"

/* the scripts, in the order they are added to the client */
#define NGX_HTTP_ASTRO_CACHE_GEN      0
#define NGX_HTTP_ASTRO_CACHE_PUBLISH  1


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
    ngx_uint_t                       failed;    /* of the poll */
    ngx_msec_t                       next_poll;
};


/* a publication from any worker */
typedef struct {
    ngx_http_astro_cache_zone_t     *zone;
    ngx_http_astro_cache_class_t    *class;     /* NULL: a key */
    ngx_http_astro_cache_published_pt  handler;
    void                            *data;
    ngx_str_t                        key;       /* a key's, for the ring */
    ngx_uint_t                       hard;
} ngx_http_astro_cache_pub_t;


static ngx_int_t ngx_http_astro_cache_redis_scripts(ngx_conf_t *cf,
    ngx_astro_redis_t *rd);
static void ngx_http_astro_cache_tick(ngx_event_t *ev);
static void ngx_http_astro_cache_hold(ngx_http_astro_cache_zone_t *zone,
    ngx_log_t *log);
static void ngx_http_astro_cache_release(ngx_http_astro_cache_zone_t *zone);
static void ngx_http_astro_cache_sub_handler(void *data, ngx_uint_t event,
    ngx_str_t *message);
static void ngx_http_astro_cache_message(ngx_http_astro_cache_sync_t *sync,
    ngx_str_t *msg);
static void ngx_http_astro_cache_poll(ngx_http_astro_cache_sync_t *sync);
static ngx_int_t ngx_http_astro_cache_poll_reply(void *data,
    redisReply *reply);
static ngx_int_t ngx_http_astro_cache_gen_key(
    ngx_http_astro_cache_zone_t *zone, ngx_http_astro_cache_class_t *class,
    ngx_str_t *key, u_char *buf, size_t size);
static ngx_int_t ngx_http_astro_cache_reply_int(redisReply *reply,
    ngx_atomic_uint_t *v);
static void ngx_http_astro_cache_seen(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class, ngx_atomic_uint_t gen);
static ngx_int_t ngx_http_astro_cache_send_key(
    ngx_http_astro_cache_pub_t *pub);
static ngx_int_t ngx_http_astro_cache_published(void *data,
    redisReply *reply);
static void ngx_http_astro_cache_pend(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *key, ngx_uint_t hard);
static void ngx_http_astro_cache_republish(ngx_http_astro_cache_zone_t *zone);


static ngx_str_t  ngx_http_astro_cache_redis_tag =
    ngx_string("astro_cache_zone");

static const char  ngx_http_astro_cache_lua_gen[] = NGX_ASTRO_LUA_CACHE_GEN;
static const char  ngx_http_astro_cache_lua_publish[] =
    NGX_ASTRO_LUA_CACHE_PUBLISH;


/*
 * The zone's client, of redis_url resolved now: the zones on one address
 * share one client (its shared zone is the directive's and the address's).
 */

ngx_int_t
ngx_http_astro_cache_redis_conf(ngx_conf_t *cf,
    ngx_http_astro_cache_zone_t *zone)
{
    ngx_url_t                          u;
    ngx_uint_t                         i;
    ngx_astro_redis_t                 *rd;
    ngx_http_astro_cache_zone_t      **zones;
    ngx_http_astro_cache_main_conf_t  *cmcf;

    if (zone->redis_url.len == 0) {
        return NGX_OK;
    }

    /* the zone's name is in its Redis keys and channel, of fixed buffers */

    if (zone->name.len > NGX_HTTP_ASTRO_CACHE_CLASS_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" is too long for \"redis\": "
                           "at most %d characters",
                           &zone->name, NGX_HTTP_ASTRO_CACHE_CLASS_LEN);
        return NGX_ERROR;
    }

    zone->channel.len = sizeof(NGX_HTTP_ASTRO_CACHE_PREFIX) - 1
                        + zone->name.len;
    zone->channel.data = ngx_pnalloc(cf->pool, zone->channel.len);
    if (zone->channel.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(zone->channel.data, NGX_HTTP_ASTRO_CACHE_PREFIX,
                          sizeof(NGX_HTTP_ASTRO_CACHE_PREFIX) - 1),
               zone->name.data, zone->name.len);

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = zone->redis_url;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\"%s%s",
                           &zone->redis_url, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_cache_module);
    zones = cmcf->zones.elts;

    for (i = 0; i < cmcf->zones.nelts; i++) {
        rd = zones[i]->redis;

        if (zones[i] == zone || rd == NULL
            || ngx_cmp_sockaddr(rd->addr->sockaddr, rd->addr->socklen,
                                u.addrs[0].sockaddr, u.addrs[0].socklen, 1)
               != NGX_OK)
        {
            continue;
        }

        /* a sync shorter than the others' shortens the circuit's backoff */

        if (rd->circuit.max_open > zone->sync
            && zone->sync >= rd->circuit.open)
        {
            rd->circuit.max_open = zone->sync;
        }

        zone->redis = rd;
        return NGX_OK;
    }

    rd = ngx_astro_redis_create(cf, &ngx_http_astro_cache_redis_tag);
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->name = u.url;
    rd->addr = &u.addrs[0];

    /*
     * invalidations are rare: one connection a worker; an open circuit
     * keeps a poll from Redis for at most sync, so a node catches up
     * within about sync once Redis is back
     */

    rd->pool = 1;
    rd->circuit.max_open = zone->sync;

    if (ngx_http_astro_cache_redis_scripts(cf, rd) != NGX_OK
        || ngx_astro_redis_init_conf(cf, rd) != NGX_OK)
    {
        return NGX_ERROR;
    }

    zone->redis = rd;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_cache_redis_scripts(ngx_conf_t *cf, ngx_astro_redis_t *rd)
{
    ngx_uint_t                 i;
    unsigned char              md[SHA_DIGEST_LENGTH];
    ngx_astro_redis_script_t  *script;

    static ngx_str_t  bodies[] = {
        { sizeof(ngx_http_astro_cache_lua_gen) - 1,
          (u_char *) ngx_http_astro_cache_lua_gen },
        { sizeof(ngx_http_astro_cache_lua_publish) - 1,
          (u_char *) ngx_http_astro_cache_lua_publish }
    };

    /* gen: bump, gen; the value.  publish: the message; the receivers */
    static ngx_uint_t  nargs[] = { 2, 1 };

    for (i = 0; i < 2; i++) {
        script = ngx_pcalloc(cf->pool, sizeof(ngx_astro_redis_script_t));
        if (script == NULL) {
            return NGX_ERROR;
        }

        script->body = bodies[i];
        script->nargs = nargs[i];
        script->nhead = 0;
        script->nreply = 1;

        SHA1(script->body.data, script->body.len, md);
        ngx_hex_dump(script->sha1, md, SHA_DIGEST_LENGTH);

        if (ngx_astro_redis_add_script(cf, rd, script) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* every worker: its client, and the timer that holds or watches the lease */

ngx_int_t
ngx_http_astro_cache_init_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i;
    ngx_http_astro_cache_zone_t      **zones, *zone;
    ngx_http_astro_cache_main_conf_t  *cmcf;

    /* not the cache manager nor the loader */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_astro_cache_module);
    if (cmcf == NULL) {
        return NGX_OK;
    }

    zones = cmcf->zones.elts;

    for (i = 0; i < cmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->redis == NULL) {
            continue;
        }

        if (zone->redis->conns == NULL
            && ngx_astro_redis_init_worker(cycle, zone->redis) != NGX_OK)
        {
            return NGX_ERROR;
        }

        zone->sub = NULL;

        zone->timer.handler = ngx_http_astro_cache_tick;
        zone->timer.data = zone;
        zone->timer.log = cycle->log;
        zone->timer.cancelable = 1;

        /* the workers race for the lease at once */
        ngx_add_timer(&zone->timer, 1);
    }

    return NGX_OK;
}


/* the lease is given back at once: another worker takes it at its tick */

void
ngx_http_astro_cache_exit_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i;
    ngx_http_astro_cache_zone_t      **zones, *zone;
    ngx_http_astro_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_astro_cache_module);
    if (cmcf == NULL) {
        return;
    }

    zones = cmcf->zones.elts;

    for (i = 0; i < cmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->redis == NULL) {
            continue;
        }

        if (zone->timer.timer_set) {
            ngx_del_timer(&zone->timer);
        }

        ngx_http_astro_cache_release(zone);
    }

    for (i = 0; i < cmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->redis && !zone->redis->exiting) {
            ngx_astro_redis_exit_worker(zone->redis);
        }
    }
}


/*
 * The lease: the holder renews it; another worker takes it when it is
 * free, not renewed in time or its holder is gone (killed); a holder that
 * finds it taken (it was late) lets the subscription go.
 */

static void
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
    pid = (ngx_pid_t) sh->lease_pid;

    if (pid == ngx_pid) {
        ngx_http_astro_cache_hold(zone, ev->log);

    } else if (pid == 0
               || (time_t) sh->lease_until < ngx_time()
               || (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        if (ngx_atomic_cmp_set(&sh->lease_pid, (ngx_atomic_uint_t) pid,
                               (ngx_atomic_uint_t) ngx_pid))
        {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "astro_cache_zone \"%V\": this worker subscribes "
                          "to redis %V (the lease of %P)",
                          &zone->name, &zone->redis->name, pid);

            /* until this worker's subscription is made */
            sh->connected = 0;

            ngx_http_astro_cache_hold(zone, ev->log);
        }

    } else if (zone->sub) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "astro_cache_zone \"%V\": worker %P took the "
                      "subscription over", &zone->name, pid);

        ngx_http_astro_cache_release(zone);
    }

    tick = ngx_min(zone->sync, NGX_HTTP_ASTRO_CACHE_TICK);

    /* the holder wakes for its poll on time */

    sync = zone->sub;

    if (sync && !sync->failed) {
        left = (ngx_msec_int_t) (sync->next_poll - ngx_current_msec);
        tick = ngx_max(ngx_min((ngx_msec_int_t) tick, left), 1);
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

    zone->sh->lease_until = ngx_time() + NGX_HTTP_ASTRO_CACHE_LEASE;

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

static void
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

    if (ngx_atomic_cmp_set(&sh->lease_pid, (ngx_atomic_uint_t) ngx_pid, 0)) {
        sh->lease_until = 0;
        sh->connected = 0;
    }
}


static void
ngx_http_astro_cache_sub_handler(void *data, ngx_uint_t event,
    ngx_str_t *message)
{
    ngx_http_astro_cache_sync_t *sync = data;

    ngx_http_astro_cache_zone_t  *zone;

    zone = sync->zone;

    switch (event) {

    case NGX_ASTRO_REDIS_SUB_SUBSCRIBED:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": subscribed, polls",
                       &zone->name);

        zone->sh->connected = 1;

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
            found |= res.found;
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                   "astro_cache: zone \"%V\": key \"%V\" invalidated "
                   "elsewhere (%s), %s here", &zone->name, &name,
                   m.hard ? "hard" : "soft", found ? "found" : "not found");

    /* counted with the class "default", the zone's first */

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
    sync->next_poll = ngx_current_msec + zone->sync;

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
            return;
        }

        sync->inflight++;
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

    if (!sync->failed) {
        zone->sh->last_sync = ngx_time();

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": polled", &zone->name);

        ngx_http_astro_cache_republish(zone);
    }

    return reply ? rc : NGX_OK;
}


static ngx_int_t
ngx_http_astro_cache_gen_key(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class, ngx_str_t *key, u_char *buf,
    size_t size)
{
    u_char  *p;

    if (zone->channel.len + sizeof(":gen:") - 1 + class->name.len > size) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, zone->channel.data, zone->channel.len);
    p = ngx_cpymem(p, ":gen:", sizeof(":gen:") - 1);
    p = ngx_cpymem(p, class->name.data, class->name.len);

    key->data = buf;
    key->len = p - buf;

    return NGX_OK;
}


/* the script's one integer for the key, not negative; NULL: no reply */

static ngx_int_t
ngx_http_astro_cache_reply_int(redisReply *reply, ngx_atomic_uint_t *v)
{
    if (reply == NULL
        || reply->type != REDIS_REPLY_ARRAY || reply->elements != 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[0]->integer < 0)
    {
        return NGX_ERROR;
    }

    *v = (ngx_atomic_uint_t) reply->element[0]->integer;

    return NGX_OK;
}


/* a generation of the class from Redis: kept if higher, counted then */

static void
ngx_http_astro_cache_seen(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class, ngx_atomic_uint_t gen)
{
    ngx_atomic_uint_t           last;
    ngx_http_astro_cache_sh_t  *sh;

    sh = zone->sh;

    if (ngx_http_astro_cache_gen_max(class, gen)) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": class \"%V\" invalidated "
                       "elsewhere, generation %uA", &zone->name,
                       &class->name, gen);

        ngx_http_astro_cache_count(class, NGX_HTTP_ASTRO_CACHE_INV_RECEIVED);
    }

    for ( ;; ) {
        last = sh->last_gen;

        if (gen <= last || ngx_atomic_cmp_set(&sh->last_gen, last, gen)) {
            break;
        }
    }
}


ngx_int_t
ngx_http_astro_cache_publish_class(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class,
    ngx_http_astro_cache_published_pt handler, void *data)
{
    u_char                       buf[NGX_INT64_LEN];
    u_char                       kbuf[NGX_HTTP_ASTRO_CACHE_CLASS_LEN + 128];
    ngx_str_t                    key, args[2];
    ngx_astro_redis_script_t   **script;
    ngx_http_astro_cache_pub_t  *pub;

    if (zone->redis == NULL) {
        return NGX_DECLINED;
    }

    script = zone->redis->scripts.elts;

    pub = ngx_alloc(sizeof(ngx_http_astro_cache_pub_t), zone->redis->log);

    if (pub == NULL
        || ngx_http_astro_cache_gen_key(zone, class, &key, kbuf,
                                        sizeof(kbuf))
           != NGX_OK)
    {
        goto failed;
    }

    pub->zone = zone;
    pub->class = class;
    pub->handler = handler;
    pub->data = data;

    ngx_str_set(&args[0], "1");
    args[1].data = buf;
    args[1].len = ngx_sprintf(buf, "%uA", class->sh->gen) - buf;

    if (ngx_astro_redis_eval(zone->redis, script[NGX_HTTP_ASTRO_CACHE_GEN],
                             &key, args, ngx_http_astro_cache_published, pub)
        != NULL)
    {
        return NGX_OK;
    }

failed:

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                   "astro_cache: zone \"%V\": class \"%V\" not published",
                   &zone->name, &class->name);

    ngx_free(pub);

    ngx_atomic_fetch_add(&zone->sh->broadcast_failed, 1);

    handler(data, 0);

    return NGX_OK;
}


ngx_int_t
ngx_http_astro_cache_publish_key(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *key, ngx_uint_t hard,
    ngx_http_astro_cache_published_pt handler, void *data)
{
    ngx_http_astro_cache_pub_t  *pub;

    if (zone->redis == NULL) {
        return NGX_DECLINED;
    }

    pub = ngx_alloc(sizeof(ngx_http_astro_cache_pub_t) + key->len,
                    zone->redis->log);
    if (pub == NULL) {
        ngx_http_astro_cache_pend(zone, key, hard);
        ngx_atomic_fetch_add(&zone->sh->broadcast_failed, 1);
        handler(data, 0);
        return NGX_OK;
    }

    pub->zone = zone;
    pub->class = NULL;
    pub->handler = handler;
    pub->data = data;
    pub->key.data = (u_char *) (pub + 1);
    pub->key.len = key->len;
    pub->hard = hard;
    ngx_memcpy(pub->key.data, key->data, key->len);

    (void) ngx_http_astro_cache_send_key(pub);

    return NGX_OK;
}


/* "k <h|s> <key>" on the zone's channel; the pub is the reply's */

static ngx_int_t
ngx_http_astro_cache_send_key(ngx_http_astro_cache_pub_t *pub)
{
    u_char                       *p;
    ngx_str_t                     msg;
    ngx_astro_cache_msg_t         m;
    ngx_astro_redis_script_t    **script;
    ngx_http_astro_cache_zone_t  *zone;

    zone = pub->zone;
    script = zone->redis->scripts.elts;

    msg.data = ngx_alloc(NGX_ASTRO_CACHE_MSG_MAX, zone->redis->log);
    if (msg.data == NULL) {
        goto failed;
    }

    m.what = NGX_ASTRO_CACHE_KEY;
    m.hard = pub->hard ? 1 : 0;
    m.gen = 0;
    m.value = pub->key.data;
    m.len = pub->key.len;

    p = ngx_astro_cache_format_msg(msg.data, &m);
    if (p == NULL) {
        goto failed;
    }

    msg.len = p - msg.data;

    if (ngx_astro_redis_eval(zone->redis,
                             script[NGX_HTTP_ASTRO_CACHE_PUBLISH],
                             &zone->channel, &msg,
                             ngx_http_astro_cache_published, pub)
        != NULL)
    {
        ngx_free(msg.data);
        return NGX_OK;
    }

failed:

    if (msg.data) {
        ngx_free(msg.data);
    }

    (void) ngx_http_astro_cache_published(pub, NULL);

    return NGX_ERROR;
}


/*
 * Redis's answer to a publication (NULL: none): a class's generation is
 * kept; a key not published waits in the ring.
 */

static ngx_int_t
ngx_http_astro_cache_published(void *data, redisReply *reply)
{
    ngx_http_astro_cache_pub_t *pub = data;

    ngx_int_t                     rc;
    ngx_atomic_uint_t             v;
    ngx_http_astro_cache_zone_t  *zone;

    zone = pub->zone;

    rc = ngx_http_astro_cache_reply_int(reply, &v);

    if (rc == NGX_OK) {
        if (pub->class) {
            ngx_http_astro_cache_seen(zone, pub->class, v);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": invalidation published",
                       &zone->name);

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                       "astro_cache: zone \"%V\": invalidation not "
                       "published", &zone->name);

        ngx_atomic_fetch_add(&zone->sh->broadcast_failed, 1);

        if (pub->class == NULL) {
            ngx_http_astro_cache_pend(zone, &pub->key, pub->hard);
        }
    }

    if (pub->handler) {
        pub->handler(pub->data, rc == NGX_OK);
    }

    ngx_free(pub);

    return reply ? rc : NGX_OK;
}


/* a key not published, into the ring; the oldest goes when it is full */

static void
ngx_http_astro_cache_pend(ngx_http_astro_cache_zone_t *zone, ngx_str_t *key,
    ngx_uint_t hard)
{
    u_char                          *p;
    ngx_slab_pool_t                 *shpool;
    ngx_http_astro_cache_sh_t       *sh;
    ngx_http_astro_cache_pending_t  *pd;

    sh = zone->sh;
    shpool = zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    p = ngx_slab_alloc_locked(shpool, key->len ? key->len : 1);
    if (p == NULL) {
        sh->pending_lost++;
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    pd = &sh->pending[sh->pending_next];

    if (sh->pending_n == NGX_HTTP_ASTRO_CACHE_RING) {
        ngx_slab_free_locked(shpool, pd->key);
        sh->pending_lost++;

    } else {
        sh->pending_n++;
    }

    ngx_memcpy(p, key->data, key->len);
    pd->key = p;
    pd->len = key->len;
    pd->hard = hard;

    sh->pending_next = (sh->pending_next + 1) % NGX_HTTP_ASTRO_CACHE_RING;

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the ring's keys published again, oldest first; a failure puts one back */

static void
ngx_http_astro_cache_republish(ngx_http_astro_cache_zone_t *zone)
{
    ngx_uint_t                       i, n, first;
    ngx_slab_pool_t                 *shpool;
    ngx_http_astro_cache_sh_t       *sh;
    ngx_http_astro_cache_pub_t      *pub[NGX_HTTP_ASTRO_CACHE_RING];
    ngx_http_astro_cache_pending_t  *pd;

    sh = zone->sh;
    shpool = zone->shpool;

    if (sh->pending_n == 0) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    n = sh->pending_n;
    first = (sh->pending_next + NGX_HTTP_ASTRO_CACHE_RING - n)
            % NGX_HTTP_ASTRO_CACHE_RING;

    for (i = 0; i < n; i++) {
        pd = &sh->pending[(first + i) % NGX_HTTP_ASTRO_CACHE_RING];

        pub[i] = ngx_alloc(sizeof(ngx_http_astro_cache_pub_t) + pd->len,
                           zone->redis->log);

        if (pub[i]) {
            pub[i]->zone = zone;
            pub[i]->class = NULL;
            pub[i]->handler = NULL;
            pub[i]->data = NULL;
            pub[i]->key.data = (u_char *) (pub[i] + 1);
            pub[i]->key.len = pd->len;
            pub[i]->hard = pd->hard;
            ngx_memcpy(pub[i]->key.data, pd->key, pd->len);

        } else {
            sh->pending_lost++;
        }

        ngx_slab_free_locked(shpool, pd->key);
        pd->key = NULL;
    }

    sh->pending_n = 0;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, zone->redis->log, 0,
                   "astro_cache: zone \"%V\": %ui keys published again",
                   &zone->name, n);

    for (i = 0; i < n; i++) {
        if (pub[i]) {
            (void) ngx_http_astro_cache_send_key(pub[i]);
        }
    }
}

