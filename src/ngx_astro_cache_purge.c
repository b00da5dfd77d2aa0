
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


/* a stub until the keys zone surgery lands */


ngx_int_t
ngx_http_astro_cache_purge(ngx_shm_zone_t *cache, ngx_str_t *key,
    ngx_uint_t hard, ngx_log_t *log, ngx_http_astro_cache_purged_t *res)
{
    ngx_memzero(res, sizeof(ngx_http_astro_cache_purged_t));

    return NGX_DECLINED;
}
