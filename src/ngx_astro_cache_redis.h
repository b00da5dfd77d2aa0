
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CACHE_REDIS_H_INCLUDED_
#define _NGX_ASTRO_CACHE_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


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
 * is published again by the first poll that succeeds once the node has
 * been subscribed again long enough for the others to be too (1.5 times
 * the circuit's longest backoff: _sync.c).
 *
 * The files: _redis.c (the zone's client and scripts, the workers, the
 * generations seen), _sync.c (the lease, the subscription, the poll),
 * _publish.c (invalidations published, the ring of those that failed).
 */


/* the lease's renewal and the check of the others, at most this apart */
#define NGX_HTTP_ASTRO_CACHE_TICK     1000

/* a lease not renewed for this long (seconds) is taken over */
#define NGX_HTTP_ASTRO_CACHE_LEASE    3

/* the scripts, in the order they are added to the client */
#define NGX_HTTP_ASTRO_CACHE_GEN      0
#define NGX_HTTP_ASTRO_CACHE_PUBLISH  1


/* src/ngx_astro_cache_redis.c */
ngx_int_t ngx_http_astro_cache_gen_key(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class, ngx_str_t *key, u_char *buf,
    size_t size);
ngx_int_t ngx_http_astro_cache_reply_int(redisReply *reply,
    ngx_atomic_uint_t *v);
void ngx_http_astro_cache_seen(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class, ngx_atomic_uint_t gen);

/* src/ngx_astro_cache_sync.c: the timer of every worker's zone */
void ngx_http_astro_cache_tick(ngx_event_t *ev);
void ngx_http_astro_cache_release(ngx_http_astro_cache_zone_t *zone);

/* src/ngx_astro_cache_publish.c: after a poll that succeeded */
void ngx_http_astro_cache_republish(ngx_http_astro_cache_zone_t *zone);


#endif /* _NGX_ASTRO_CACHE_REDIS_H_INCLUDED_ */
