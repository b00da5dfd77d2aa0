
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache_redis.h"
#include "ngx_astro_cache_parse.h"


/* a publication from any worker */
typedef struct {
    ngx_http_astro_cache_zone_t     *zone;
    ngx_http_astro_cache_class_t    *class;     /* NULL: a key */
    ngx_http_astro_cache_published_pt  handler;
    void                            *data;
    ngx_str_t                        key;       /* a key's, for the ring */
    ngx_uint_t                       hard;
} ngx_http_astro_cache_pub_t;


static ngx_int_t ngx_http_astro_cache_send_key(
    ngx_http_astro_cache_pub_t *pub);
static ngx_int_t ngx_http_astro_cache_published(void *data,
    redisReply *reply);
static void ngx_http_astro_cache_pend(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *key, ngx_uint_t hard);


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

void
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
