
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache_redis.h"
#include "ngx_astro_cache_lua.h"    /* generated from src/lua/ by `config` */


#define NGX_HTTP_ASTRO_CACHE_PREFIX   "astro:cache:"


static ngx_int_t ngx_http_astro_cache_redis_scripts(ngx_conf_t *cf,
    ngx_astro_redis_t *rd);


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
                           "at most %d characters in "
                           "\"astro_cache_zone\" directive",
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

    if (ngx_astro_redis_parse_url(cf, &zone->redis_url, &u) != NGX_OK) {
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


ngx_int_t
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

ngx_int_t
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

void
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
