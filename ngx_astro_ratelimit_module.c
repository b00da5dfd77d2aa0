
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_status.h"
#include "ngx_astro_ratelimit.h"


/*
 * The module file holds the directives, the configuration and the
 * process hooks; what they parse with is src/ngx_astro_ratelimit_conf.c,
 * the Redis scripts src/lua/ (src/ngx_astro_ratelimit_lua.c).  The local
 * backend's zone, the handler, the headers, the variables and the status
 * section are in src/ngx_astro_ratelimit_*.c.  The Redis client is
 * src/ngx_astro_redis_*.c (its API: ngx_astro_redis.h), the rate
 * limiter's use of it src/ngx_astro_ratelimit_redis.c.
 */


static ngx_int_t ngx_http_astro_ratelimit_preconfiguration(ngx_conf_t *cf);
static void *ngx_http_astro_ratelimit_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_astro_ratelimit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_astro_ratelimit_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_astro_ratelimit_redis(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_astro_ratelimit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_ratelimit_speedlimit(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_astro_ratelimit_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_astro_ratelimit_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_astro_ratelimit_init_process(ngx_cycle_t *cycle);
static void ngx_http_astro_ratelimit_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_astro_ratelimit_header_modes[] = {
    { ngx_string("off"), NGX_HTTP_ASTRO_RL_HEADERS_OFF },
    { ngx_string("on"), NGX_HTTP_ASTRO_RL_HEADERS_ON },
    { ngx_string("draft"), NGX_HTTP_ASTRO_RL_HEADERS_DRAFT },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_astro_ratelimit_commands[] = {

    { ngx_string("astro_ratelimit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_astro_ratelimit_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_ratelimit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_ratelimit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_ratelimit_tier"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_http_astro_ratelimit_tier,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_ratelimit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_astro_ratelimit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_speedlimit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_astro_ratelimit_speedlimit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_ratelimit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_ratelimit_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_ratelimit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_astro_ratelimit_loc_conf_t, headers),
      &ngx_http_astro_ratelimit_header_modes },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_ratelimit_module_ctx = {
    ngx_http_astro_ratelimit_preconfiguration,
                                           /* preconfiguration */
    ngx_http_astro_ratelimit_init,         /* postconfiguration */

    ngx_http_astro_ratelimit_create_main_conf,
                                           /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_astro_ratelimit_create_loc_conf,
                                           /* create location configuration */
    ngx_http_astro_ratelimit_merge_loc_conf
                                           /* merge location configuration */
};


ngx_module_t  ngx_astro_ratelimit_module = {
    NGX_MODULE_V1,
    &ngx_astro_ratelimit_module_ctx,       /* module context */
    ngx_http_astro_ratelimit_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_astro_ratelimit_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_astro_ratelimit_exit_process, /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_astro_ratelimit_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_astro_ratelimit_add_variables(cf);
}


static void *
ngx_http_astro_ratelimit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_astro_ratelimit_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_ratelimit_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->redis = NULL;
     *     conf->zones = { 0 };
     */

    return conf;
}


static void *
ngx_http_astro_ratelimit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_astro_ratelimit_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_ratelimit_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->limits.elts = NULL;
     */

    conf->speed = NGX_CONF_UNSET_PTR;
    conf->status_code = NGX_CONF_UNSET_UINT;
    conf->headers = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_astro_ratelimit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_astro_ratelimit_loc_conf_t *prev = parent;
    ngx_http_astro_ratelimit_loc_conf_t *conf = child;

    ngx_uint_t                         i;
    ngx_http_astro_ratelimit_limit_t  *limit;

    if (conf->limits.elts == NULL) {
        conf->limits = prev->limits;
    }

    ngx_conf_merge_ptr_value(conf->speed, prev->speed, NULL);

    /* only a location that asks Redis needs to watch for early ends */

    limit = conf->limits.elts;

    for (i = 0; i < conf->limits.nelts; i++) {
        if (limit[i].zone->backend != NGX_HTTP_ASTRO_RL_LOCAL) {
            conf->redis = 1;
        }
    }

    if (conf->speed && conf->speed->zone->backend != NGX_HTTP_ASTRO_RL_LOCAL)
    {
        conf->redis = 1;
    }
    ngx_conf_merge_uint_value(conf->status_code, prev->status_code,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->headers, prev->headers,
                              NGX_HTTP_ASTRO_RL_HEADERS_ON);

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_ratelimit_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_ratelimit_main_conf_t *rmcf = conf;

    ngx_str_t          *value;
    ngx_url_t           u;
    ngx_uint_t          i;
    ngx_astro_redis_t  *redis;

    if (rmcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;

    redis = ngx_astro_redis_create(cf, &cmd->name);
    if (redis == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a Redis Cluster: the servers asked for its slot map first */

    if (ngx_strncmp(value[1].data, "cluster=", 8) == 0) {
        if (ngx_astro_redis_cluster_conf(cf, redis, &value[1]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        goto params;
    }

    /* the host name is resolved here, never in a worker */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for \"%V\"", &u.url);
        return NGX_CONF_ERROR;
    }

    redis->name = u.url;
    redis->addr = &u.addrs[0];

params:

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_astro_ratelimit_redis_param(&value[i], rmcf, redis)
            != NGX_OK)
        {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        if (redis->seeds && ngx_strncmp(value[i].data, "db=", 3) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive: a Redis Cluster has database 0 "
                               "only", &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    if (redis->user.len && redis->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"user=%V\" requires \"password\"", &redis->user);
        return NGX_CONF_ERROR;
    }

    if (rmcf->prefix.data == NULL) {
        ngx_str_set(&rmcf->prefix, "astro:rl:");
    }

    if (ngx_http_astro_ratelimit_add_scripts(cf, rmcf, redis) != NGX_OK
        || ngx_astro_redis_init_conf(cf, redis) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rmcf->redis = redis;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_ratelimit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_ratelimit_loc_conf_t *rlcf = conf;

    ngx_str_t                             *value, name;
    ngx_uint_t                             i, dry_run;
    ngx_http_astro_ratelimit_zone_t       *zone;
    ngx_http_astro_ratelimit_limit_t      *limit;
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    value = cf->args->elts;

    zone = NULL;
    dry_run = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "zone", &name)) {
            zone = ngx_http_astro_ratelimit_use_zone(cf, &name);
            if (zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "dry_run") == 0) {
            dry_run = 1;
            continue;
        }

        return ngx_astro_conf_invalid(cf, &value[i]);
    }

    if (zone == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "zone");
    }

    limit = rlcf->limits.elts;

    if (limit == NULL) {
        if (ngx_array_init(&rlcf->limits, cf->pool, 1,
                           sizeof(ngx_http_astro_ratelimit_limit_t))
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < rlcf->limits.nelts; i++) {
        if (zone == limit[i].zone) {
            return "is duplicate";
        }
    }

    limit = ngx_array_push(&rlcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->zone = zone;
    limit->dry_run = dry_run;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_ratelimit_module);
    rmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_ratelimit_speedlimit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_ratelimit_loc_conf_t *rlcf = conf;

    ngx_int_t                              rc;
    ngx_str_t                             *value, s, *delay, *max_delay;
    ngx_uint_t                             i;
    ngx_http_astro_ratelimit_speed_t      *speed;
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    if (rlcf->speed != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    speed = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_ratelimit_speed_t));
    if (speed == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     speed->zone = NULL;
     *     speed->delay = 0;
     *     speed->max_delay = 0;
     */

    speed->after = NGX_CONF_UNSET_UINT;
    speed->degraded = 1000;
    speed->critical = 1000;

    delay = NULL;
    max_delay = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "zone", &s)) {
            speed->zone = ngx_http_astro_ratelimit_use_zone(cf, &s);
            if (speed->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            /* express-slow-down counts requests in a window */

            if (speed->zone->algorithm != NGX_HTTP_ASTRO_RL_SLIDING_WINDOW) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" must use "
                                   "algorithm=sliding_window", &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "after", &s)) {
            rc = ngx_astro_conf_number(&s, 0, NGX_MAX_INT_T_VALUE,
                                       &speed->after);

        } else if (ngx_astro_conf_param(&value[i], "delay", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &speed->delay);
            delay = &value[i];

        } else if (ngx_astro_conf_param(&value[i], "max_delay", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &speed->max_delay);
            max_delay = &value[i];

        } else if (ngx_astro_conf_param(&value[i], "degraded", &s)) {
            rc = ngx_http_astro_ratelimit_factor(&s, &speed->degraded);

        } else if (ngx_astro_conf_param(&value[i], "critical", &s)) {
            rc = ngx_http_astro_ratelimit_factor(&s, &speed->critical);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (speed->zone == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "zone");
    }

    if (speed->after == NGX_CONF_UNSET_UINT) {
        return ngx_astro_conf_missing(cf, cmd, "after");
    }

    if (speed->delay == 0) {
        return ngx_astro_conf_missing(cf, cmd, "delay");
    }

    if (speed->max_delay && speed->max_delay < speed->delay) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is less than \"%V\"", max_delay, delay);
        return NGX_CONF_ERROR;
    }

    rlcf->speed = speed;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_ratelimit_module);
    rmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_ratelimit_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_ratelimit_loc_conf_t *rlcf = conf;

    ngx_str_t  *value;

    if (rlcf->status_code != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_astro_conf_number(&value[1], 400, 599, &rlcf->status_code)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", "
                           "it must be from 400 to 599", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_astro_ratelimit_init(ngx_conf_t *cf)
{
    ngx_uint_t                             i;
    ngx_astro_status_section_t             section;
    ngx_http_handler_pt                   *h;
    ngx_http_core_main_conf_t             *cmcf;
    ngx_http_astro_ratelimit_zone_t      **zone;
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_ratelimit_module);

    if (rmcf->redis == NULL && rmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->backend != NGX_HTTP_ASTRO_RL_LOCAL
            && rmcf->redis == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "zone \"%V\" has backend=%V but no "
                          "\"astro_ratelimit_redis\" is configured in %s:%ui",
                          &zone[i]->name,
                          &ngx_http_astro_ratelimit_backends[
                              zone[i]->backend].name,
                          zone[i]->file_name, zone[i]->line);
            return NGX_ERROR;
        }
    }

    ngx_str_set(&section.name, "ratelimit");
    section.json = ngx_http_astro_ratelimit_json;
    section.prometheus = ngx_http_astro_ratelimit_prometheus;
    section.data = rmcf;

    if (ngx_astro_status_add(cf, &section) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the handler costs nothing where no location limits */

    if (!rmcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_astro_ratelimit_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_ratelimit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_astro_ratelimit_module);

    /* not in the cache manager and loader */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (rmcf == NULL || rmcf->redis == NULL || !rmcf->used) {
        return NGX_OK;
    }

    if (ngx_astro_redis_init_worker(cycle, rmcf->redis) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_astro_ratelimit_hybrid_init_worker(cycle, rmcf);
}


static void
ngx_http_astro_ratelimit_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_astro_ratelimit_module);

    if (rmcf && rmcf->redis) {
        if (rmcf->used) {
            ngx_http_astro_ratelimit_hybrid_exit_worker(rmcf);
        }

        ngx_astro_redis_exit_worker(rmcf->redis);
    }
}
