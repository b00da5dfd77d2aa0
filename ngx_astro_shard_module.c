
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"


/*
 * Shard-aware proxying: the directives, the configuration, the phase
 * handlers' registration and the workers' start and exit.  The rest is
 * in src/: the types and the files' roles in src/ngx_astro_shard.h.
 */


static void *ngx_http_astro_shard_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_astro_shard_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_astro_shard_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_astro_shard_reads(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_shard_missing(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_astro_shard_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_astro_shard_init_process(ngx_cycle_t *cycle);
static void ngx_http_astro_shard_exit_process(ngx_cycle_t *cycle);




static ngx_command_t  ngx_http_astro_shard_commands[] = {

    { ngx_string("astro_shard_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_shard_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard_map"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_shard_map_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_shard_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_astro_shard_key_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard_reads"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_shard_reads,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard_missing"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_shard_missing,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_shard_module_ctx = {
    ngx_http_astro_shard_add_variables,    /* preconfiguration */
    ngx_http_astro_shard_init,             /* postconfiguration */

    ngx_http_astro_shard_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_astro_shard_create_loc_conf,  /* create location configuration */
    ngx_http_astro_shard_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_astro_shard_module = {
    NGX_MODULE_V1,
    &ngx_astro_shard_module_ctx,           /* module context */
    ngx_http_astro_shard_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_astro_shard_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_astro_shard_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_astro_shard_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_astro_shard_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_shard_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->zones = { 0 };
     *     conf->maps = { 0 };
     *     conf->upstreams = { 0 };
     */

    return conf;
}


static void *
ngx_http_astro_shard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_astro_shard_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_shard_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->map = NULL;
     *     conf->key = NULL;
     *     conf->access = NGX_HTTP_ASTRO_SHARD_ACCESS_AUTO;
     *     conf->access_value = NULL;
     *     conf->key_set = 0;
     */

    conf->replica = NGX_CONF_UNSET_UINT;
    conf->missing = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_astro_shard_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_astro_shard_loc_conf_t *prev = parent;
    ngx_http_astro_shard_loc_conf_t *conf = child;

    /* an astro_shard_key line is taken whole, or inherited whole */

    if (!conf->key_set) {
        conf->map = prev->map;
        conf->key = prev->key;
        conf->access = prev->access;
        conf->access_value = prev->access_value;
        conf->key_set = prev->key_set;
    }

    ngx_conf_merge_uint_value(conf->replica, prev->replica, 0);
    ngx_conf_merge_uint_value(conf->missing, prev->missing,
                              NGX_HTTP_BAD_REQUEST);

    return NGX_CONF_OK;
}


/* nginx's words for a flag's value, which name the directive */

static char *
ngx_http_astro_shard_reads(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_shard_loc_conf_t *slcf = conf;

    ngx_str_t  *value;

    if (slcf->replica != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "primary") == 0) {
        slcf->replica = 0;

    } else if (ngx_strcmp(value[1].data, "replica") == 0) {
        slcf->replica = 1;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"primary\" or \"replica\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_shard_missing(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_shard_loc_conf_t *slcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (slcf->missing != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);

    if (status < 400 || status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be a status from 400 to 599",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    slcf->missing = status;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_astro_shard_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_astro_shard_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_shard_module);

    if (smcf->maps.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_astro_shard_conf_init(cf, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_astro_shard_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_astro_shard_log_handler;

    return ngx_http_astro_shard_status_add(cf, smcf);
}


static ngx_int_t
ngx_http_astro_shard_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_astro_shard_map_t        **map;
    ngx_http_astro_shard_main_conf_t   *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_astro_shard_module);

    if (smcf == NULL || smcf->maps.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_astro_shard_hot_init_worker(cycle, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        if (map[i]->postgres.len
            && ngx_http_astro_shard_pg_init_worker(cycle, map[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_astro_shard_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i;
    ngx_http_astro_shard_map_t        **map;
    ngx_http_astro_shard_main_conf_t   *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_astro_shard_module);

    if (smcf == NULL) {
        return;
    }

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        if (map[i]->postgres.len) {
            ngx_http_astro_shard_pg_exit_worker(map[i]);
        }
    }
}
