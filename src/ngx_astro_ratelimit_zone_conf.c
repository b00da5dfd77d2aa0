
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_ratelimit.h"


/*
 * The zones' directives: astro_ratelimit_zone (a zone, its memory and its
 * backend) and astro_ratelimit_tier (a tier's rate in a zone); what they
 * parse with is in ngx_astro_ratelimit_conf.c.
 */


char *
ngx_http_astro_ratelimit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_ratelimit_main_conf_t *rmcf = conf;

    ssize_t                           size;
    ngx_int_t                         rc;
    ngx_str_t                        *value, s;
    ngx_uint_t                        i;
    ngx_http_astro_ratelimit_zone_t  *zone, **zp;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_ratelimit_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     zone->name = { 0, NULL };
     *     zone->key = NULL;
     *     zone->tier = NULL;
     *     zone->rate = { 0, 0 };
     *     zone->burst = 0;
     *     zone->backend = NGX_HTTP_ASTRO_RL_REDIS;
     *     zone->fail = NGX_HTTP_ASTRO_RL_FAIL_OPEN;
     */

    zone->algorithm = NGX_CONF_UNSET_UINT;
    zone->sync = NGX_CONF_UNSET_MSEC;
    zone->exact_at = NGX_CONF_UNSET_UINT;

    zone->file_name = cf->conf_file->file.name.data;
    zone->line = cf->conf_file->line;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "zone", &s)) {
            if (ngx_astro_conf_zone(&s, &zone->name, &size) != NGX_OK) {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            if (size < (ssize_t) NGX_ASTRO_CONF_ZONE_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->size = size;
            continue;
        }

        if (ngx_astro_conf_param(&value[i], "key", &s) && s.len) {
            zone->key = ngx_astro_conf_complex(cf, &s);
            if (zone->key == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "tier", &s) && s.len) {
            zone->tier = ngx_astro_conf_complex(cf, &s);
            if (zone->tier == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_http_astro_ratelimit_hybrid_param(cf, &value[i], zone);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (ngx_http_astro_ratelimit_zone_param(&value[i], zone) != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (zone->name.len == 0) {
        return ngx_astro_conf_missing(cf, cmd, "zone");
    }

    if (ngx_http_astro_ratelimit_zone_hybrid(cf, zone) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (zone->key == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "key");
    }

    if (zone->rate.count == 0) {
        return ngx_astro_conf_missing(cf, cmd, "rate");
    }

    if (ngx_http_astro_ratelimit_set_rate(cf, zone, &zone->rate, zone->burst,
                                          zone->args)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (rmcf->zones.elts == NULL
        && ngx_array_init(&rmcf->zones, cf->pool, 4,
                          sizeof(ngx_http_astro_ratelimit_zone_t *))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_astro_ratelimit_find_zone(cf, &zone->name)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &zone->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&zone->tiers, cf->pool, 2,
                       sizeof(ngx_http_astro_ratelimit_tier_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /*
     * every zone has its memory: the local backend's, and the fail-open
     * fallback's of a Redis zone
     */

    zone->shm_zone = ngx_shared_memory_add(cf, &zone->name, zone->size,
                                           &ngx_astro_ratelimit_module);
    if (zone->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &zone->name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone->init = ngx_http_astro_ratelimit_init_zone;
    zone->shm_zone->data = zone;

    zp = ngx_array_push(&rmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    return NGX_CONF_OK;
}


char *
ngx_http_astro_ratelimit_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                        *value;
    ngx_uint_t                        i;
    ngx_http_astro_ratelimit_tier_t  *tier;
    ngx_http_astro_ratelimit_zone_t  *zone;

    value = cf->args->elts;

    zone = ngx_http_astro_ratelimit_use_zone(cf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->tier == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" has no \"tier\" parameter",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_astro_ratelimit_find_tier(zone, &value[2])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate tier \"%V\" in zone \"%V\"",
                           &value[2], &value[1]);
        return NGX_CONF_ERROR;
    }

    tier = ngx_array_push(&zone->tiers);
    if (tier == NULL) {
        return NGX_CONF_ERROR;
    }

    tier->name = value[2];
    tier->rate.count = 0;
    tier->burst = 0;

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_http_astro_ratelimit_rate_param(&value[i], &tier->rate,
                                                &tier->burst)
            != NGX_OK)
        {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (tier->rate.count == 0) {
        return ngx_astro_conf_missing(cf, cmd, "rate");
    }

    if (ngx_http_astro_ratelimit_set_rate(cf, zone, &tier->rate, tier->burst,
                                          tier->args)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
