
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


/* a stub until invalidations across nodes land */


ngx_int_t
ngx_http_astro_cache_redis_conf(ngx_conf_t *cf,
    ngx_http_astro_cache_zone_t *zone)
{
    return NGX_OK;
}


ngx_int_t
ngx_http_astro_cache_init_worker(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


void
ngx_http_astro_cache_exit_worker(ngx_cycle_t *cycle)
{
}


ngx_int_t
ngx_http_astro_cache_publish_class(ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class,
    ngx_http_astro_cache_published_pt handler, void *data)
{
    return NGX_DECLINED;
}


ngx_int_t
ngx_http_astro_cache_publish_key(ngx_http_astro_cache_zone_t *zone,
    ngx_str_t *key, ngx_uint_t hard,
    ngx_http_astro_cache_published_pt handler, void *data)
{
    return NGX_DECLINED;
}
