
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_status.h"
#include "ngx_astro_cache.h"


/*
 * TTL policies over nginx's proxy_cache: the directives, the
 * configuration and postconfiguration.  The rest is in src/: the types
 * and the files' roles in src/ngx_astro_cache.h.
 */


static ngx_int_t ngx_http_astro_cache_ttl_code(ngx_str_t *arg,
    ngx_http_astro_cache_class_t *class);
static ngx_uint_t ngx_http_astro_cache_other_use(ngx_conf_t *cf,
    ngx_str_t *name);
static ngx_http_astro_cache_zone_t *ngx_http_astro_cache_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
static void *ngx_http_astro_cache_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_astro_cache_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_astro_cache_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_astro_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_cache_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_cache_adaptive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_astro_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_cache_invalidate(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_astro_cache_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_astro_cache_init_process(ngx_cycle_t *cycle);
static void ngx_http_astro_cache_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_astro_cache_origins[] = {
    { ngx_string("respect"), NGX_HTTP_ASTRO_CACHE_RESPECT },
    { ngx_string("override"), NGX_HTTP_ASTRO_CACHE_OVERRIDE },
    { ngx_string("min"), NGX_HTTP_ASTRO_CACHE_MIN },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_astro_cache_commands[] = {

    { ngx_string("astro_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_astro_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_cache_ttl,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_cache_adaptive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_astro_cache_adaptive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_astro_cache,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_cache_invalidate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_astro_cache_invalidate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_cache_module_ctx = {
    ngx_http_astro_cache_add_variables,    /* preconfiguration */
    ngx_http_astro_cache_init,             /* postconfiguration */

    ngx_http_astro_cache_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_astro_cache_create_loc_conf,  /* create location configuration */
    ngx_http_astro_cache_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_astro_cache_module = {
    NGX_MODULE_V1,
    &ngx_astro_cache_module_ctx,           /* module context */
    ngx_http_astro_cache_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_astro_cache_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_astro_cache_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};




/* a zone of astro_cache_zone, or NULL after logging that it is unknown */

static ngx_http_astro_cache_zone_t *
ngx_http_astro_cache_find_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_astro_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_cache_module);

    return ngx_astro_conf_find(cf, &cmcf->zones, name, "astro_cache_zone");
}


static void *
ngx_http_astro_cache_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_astro_cache_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_cache_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->zones = { 0 };
     *     conf->redis = 0;
     */

    return conf;
}


static void *
ngx_http_astro_cache_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_astro_cache_loc_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_astro_cache_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->zone = NGX_CONF_UNSET_PTR;
    conf->class = NGX_CONF_UNSET_PTR;
    conf->origin = NGX_CONF_UNSET_UINT;
    conf->admit = NGX_CONF_UNSET_PTR;
    conf->invalidate = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_astro_cache_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_astro_cache_loc_conf_t *prev = parent;
    ngx_http_astro_cache_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    /* an astro_cache line is taken whole, or inherited whole */

    if (conf->zone == NGX_CONF_UNSET_PTR) {
        conf->zone = prev->zone;
        conf->class = prev->class;
        conf->origin = prev->origin;
        conf->admit = prev->admit;
    }

    ngx_conf_merge_ptr_value(conf->zone, NULL, NULL);
    ngx_conf_merge_ptr_value(conf->class, NULL, NULL);
    ngx_conf_merge_uint_value(conf->origin, prev->origin,
                              NGX_HTTP_ASTRO_CACHE_RESPECT);
    ngx_conf_merge_ptr_value(conf->admit, NULL, NULL);

    /*
     * An "if" inside the endpoint's location keeps its handler and takes
     * this configuration: it must hold the endpoint's.  A limit_except
     * block gets the handler too, as proxy_pass gives its own; a nested
     * location has no handler of it, whatever it inherits.
     */

    ngx_conf_merge_ptr_value(conf->invalidate, prev->invalidate, NULL);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->lmt_excpt && clcf->handler == NULL && conf->invalidate) {
        clcf->handler = ngx_http_astro_cache_invalidate_handler;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_cache_main_conf_t *cmcf = conf;

    char                           *rv;
    ssize_t                         size;
    ngx_str_t                      *value, *sync, name, s;
    ngx_uint_t                      i;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_astro_cache_zone_t    *zone;
    ngx_http_astro_cache_class_t   *class;

    value = cf->args->elts;

    /* "name:size", or "zone=name:size" as the skeleton took it */

    if (!ngx_astro_conf_param(&value[1], "zone", &s)) {
        s = value[1];
    }

    if (ngx_astro_conf_zone(&s, &name, &size) != NGX_OK) {
        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    if (size < (ssize_t) NGX_ASTRO_CONF_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_astro_conf_declare(cf, &cmcf->zones, &name,
                                  sizeof(ngx_http_astro_cache_zone_t),
                                  "zone");
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_astro_conf_declare():
     *
     *     zone->adaptive = NULL;
     *     zone->default_set = 0;
     *     zone->redis_url = { 0, NULL };
     *     zone->redis = NULL;
     *     zone->sync = 0;
     *     zone->sh = NULL;
     */

    zone->size = size;
    sync = NULL;

    for (i = 2; i < cf->args->nelts; i++) {
        rv = ngx_http_astro_cache_zone_param(cf, &value[i], zone);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        if (ngx_astro_conf_param(&value[i], "sync", &s)) {
            sync = &value[i];
        }
    }

    if (sync && zone->redis_url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" requires \"redis=\" in \"%V\" directive",
                           sync, &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (zone->sync == 0) {
        zone->sync = 5000;
    }

    if (ngx_array_init(&zone->classes, cf->pool, 4,
                       sizeof(ngx_http_astro_cache_class_t))
        != NGX_OK
        || ngx_array_init(&zone->caches, cf->pool, 1,
                          sizeof(ngx_shm_zone_t *))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the class "default", until an astro_cache_ttl line changes it */

    class = ngx_array_push(&zone->classes);
    if (class == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(class, sizeof(ngx_http_astro_cache_class_t));
    ngx_str_set(&class->name, "default");
    class->ttl = NGX_HTTP_ASTRO_CACHE_DEFAULT_TTL;
    ngx_http_astro_cache_default_status(class);

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_astro_cache_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_astro_cache_init_zone;
    shm_zone->data = zone;
    zone->shm_zone = shm_zone;

    if (zone->redis_url.len) {
        if (ngx_http_astro_cache_redis_conf(cf, zone) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        cmcf->redis = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                          *rv;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i, codes;
    ngx_http_astro_cache_zone_t   *zone;
    ngx_http_astro_cache_class_t  *class;

    value = cf->args->elts;

    if (cf->args->nelts < 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_astro_cache_find_zone(cf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[2].len; i++) {
        if (!(isalnum(value[2].data[i]) || value[2].data[i] == '_'
              || value[2].data[i] == '.' || value[2].data[i] == ':'
              || value[2].data[i] == '-'))
        {
            break;
        }
    }

    if (i < value[2].len || value[2].len > NGX_HTTP_ASTRO_CACHE_CLASS_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid class \"%V\" in \"%V\" directive",
                           &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    class = ngx_http_astro_cache_class(zone, &value[2]);

    if (class) {

        /* only "default", the first, may be set once over its built-in */

        if (class->index || zone->default_set) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate class \"%V\" of zone \"%V\" "
                               "in \"%V\" directive",
                               &value[2], &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }

        zone->default_set = 1;

    } else {
        if (zone->classes.nelts == NGX_HTTP_ASTRO_CACHE_CLASSES) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "class \"%V\" is one too many for zone "
                               "\"%V\" (at most %d) in \"%V\" directive",
                               &value[2], &value[1],
                               NGX_HTTP_ASTRO_CACHE_CLASSES, &cmd->name);
            return NGX_CONF_ERROR;
        }

        class = ngx_array_push(&zone->classes);
        if (class == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(class, sizeof(ngx_http_astro_cache_class_t));
        class->name = value[2];
        class->index = zone->classes.nelts - 1;
    }

    if (ngx_astro_conf_sec(&value[3], 1, &class->ttl) != NGX_OK) {
        return ngx_astro_conf_invalid(cf, &value[3]);
    }

    class->stale = 0;
    class->stale_if_error = 0;
    class->refresh = 0;
    ngx_http_astro_cache_default_status(class);

    codes = 0;

    for (i = 4; i < cf->args->nelts; i++) {

        /* "status=200 301": the codes that follow status= */

        if (codes && ngx_http_astro_cache_ttl_code(&value[i], class)
                     == NGX_OK)
        {
            continue;
        }

        codes = ngx_astro_conf_param(&value[i], "status", &s);

        rv = ngx_http_astro_cache_ttl_param(cf, &value[i], class);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;
}


/* a status code after status=: NGX_DECLINED when arg is no number */

static ngx_int_t
ngx_http_astro_cache_ttl_code(ngx_str_t *arg,
    ngx_http_astro_cache_class_t *class)
{
    ngx_int_t  code;

    code = ngx_atoi(arg->data, arg->len);

    if (code < 100 || code > 599) {
        return NGX_DECLINED;
    }

    class->status[code >> 6] |= (uint64_t) 1 << (code & 63);

    return NGX_OK;
}


static char *
ngx_http_astro_cache_adaptive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                             *rv;
    ngx_str_t                        *value, *shrink, s;
    ngx_uint_t                        i;
    ngx_http_astro_cache_zone_t      *zone;
    ngx_http_astro_cache_adaptive_t  *adaptive;

    value = cf->args->elts;

    zone = ngx_http_astro_cache_find_zone(cf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->adaptive) {
        return "is duplicate";
    }

    adaptive = ngx_pcalloc(cf->pool,
                           sizeof(ngx_http_astro_cache_adaptive_t));
    if (adaptive == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     adaptive->churn = 0;
     *     adaptive->churn_period = 0;
     *     adaptive->shrink = 0;
     */

    adaptive->degraded = 200;
    adaptive->critical = 400;
    adaptive->max_ttl = 3600;

    shrink = NULL;

    for (i = 2; i < cf->args->nelts; i++) {
        rv = ngx_http_astro_cache_adaptive_param(cf, &value[i], adaptive);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        if (ngx_astro_conf_param(&value[i], "shrink", &s)) {
            shrink = &value[i];
        }
    }

    if (shrink && adaptive->churn == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" requires \"churn=\" in \"%V\" directive",
                           shrink, &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (shrink == NULL) {
        adaptive->shrink = 50;
    }

    zone->adaptive = adaptive;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_cache_loc_conf_t *clcf = conf;

    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (clcf->zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    clcf->zone = NULL;
    clcf->class = NULL;
    clcf->origin = NGX_HTTP_ASTRO_CACHE_RESPECT;
    clcf->admit = NULL;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "zone", &s)) {
            clcf->zone = ngx_http_astro_cache_find_zone(cf, &s);
            if (clcf->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "class", &s) && s.len) {
            clcf->class = ngx_astro_conf_complex(cf, &s);
            if (clcf->class == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "origin", &s)) {
            if (ngx_astro_conf_enum(&s, ngx_http_astro_cache_origins,
                                    &clcf->origin)
                != NGX_OK)
            {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "admit", &s) && s.len) {
            if (s.len == 2 && ngx_strncmp(s.data, "on", 2) == 0) {
                continue;
            }

            clcf->admit = ngx_astro_conf_complex(cf, &s);
            if (clcf->admit == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        return ngx_astro_conf_invalid(cf, &value[i]);
    }

    if (clcf->zone == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "zone");
    }

    /* a class without variables is checked now; others at run time */

    if (clcf->class && clcf->class->lengths == NULL
        && ngx_http_astro_cache_class(clcf->zone, &clcf->class->value)
           == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown class \"%V\" of zone \"%V\" "
                           "in \"%V\" directive",
                           &clcf->class->value, &clcf->zone->name,
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_invalidate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_cache_loc_conf_t *clcf = conf;

    ngx_str_t                        *value, s;
    ngx_uint_t                        i;
    ngx_shm_zone_t                  **cache;
    ngx_http_core_loc_conf_t         *core;
    ngx_http_astro_cache_inv_conf_t  *inv;

    if (clcf->invalidate != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    inv = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_cache_inv_conf_t));
    if (inv == NULL) {
        return NGX_CONF_ERROR;
    }

    inv->hard = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "zone", &s)) {
            inv->zone = ngx_http_astro_cache_find_zone(cf, &s);
            if (inv->zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "cache", &s) && s.len) {

            /* proxy_cache's keys zone, as proxy_cache finds it */

            if (ngx_http_astro_cache_other_use(cf, &s)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "the shared memory zone \"%V\" is "
                                   "already declared for a different use "
                                   "in \"%V\" directive", &s, &cmd->name);
                return NGX_CONF_ERROR;
            }

            inv->cache = ngx_shared_memory_add(cf, &s, 0,
                                               &ngx_http_proxy_module);
            if (inv->cache == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "mode", &s)) {
            if (s.len == 4 && ngx_strncmp(s.data, "hard", 4) == 0) {
                inv->hard = 1;

            } else if (s.len == 4 && ngx_strncmp(s.data, "soft", 4) == 0) {
                inv->hard = 0;

            } else {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            continue;
        }

        return ngx_astro_conf_invalid(cf, &value[i]);
    }

    if (inv->zone == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "zone");
    }

    if (inv->cache) {

        /* received key invalidations reach the same keys zones */

        cache = inv->zone->caches.elts;

        for (i = 0; i < inv->zone->caches.nelts; i++) {
            if (cache[i] == inv->cache) {
                break;
            }
        }

        if (i == inv->zone->caches.nelts) {
            cache = ngx_array_push(&inv->zone->caches);
            if (cache == NULL) {
                return NGX_CONF_ERROR;
            }

            *cache = inv->cache;
        }
    }

    clcf->invalidate = inv;

    core = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    core->handler = ngx_http_astro_cache_invalidate_handler;

    return NGX_CONF_OK;
}


/*
 * true when a shared memory zone of the name is not proxy_cache's: the
 * check ngx_shared_memory_add() makes, done first so that the message
 * names the directive
 */

static ngx_uint_t
ngx_http_astro_cache_other_use(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_shm_zone_t   *shm_zone;
    ngx_list_part_t  *part;

    part = &cf->cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (name->len == shm_zone[i].shm.name.len
            && ngx_strncmp(name->data, shm_zone[i].shm.name.data, name->len)
               == 0)
        {
            return shm_zone[i].tag != &ngx_http_proxy_module;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_astro_cache_init(ngx_conf_t *cf)
{
    ngx_uint_t                         i, j;
    ngx_shm_zone_t                   **cache;
    ngx_astro_status_section_t         section;
    ngx_http_astro_cache_zone_t      **zone;
    ngx_http_astro_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_cache_module);

    if (cmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    /* cache= names a keys zone of proxy_cache_path, maybe declared later */

    zone = cmcf->zones.elts;

    for (i = 0; i < cmcf->zones.nelts; i++) {
        cache = zone[i]->caches.elts;

        for (j = 0; j < zone[i]->caches.nelts; j++) {
            if (cache[j]->shm.size == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "astro_cache_invalidate: \"cache=%V\" is no "
                              "keys_zone of a proxy_cache_path",
                              &cache[j]->shm.name);
                return NGX_ERROR;
            }
        }
    }

    ngx_str_set(&section.name, "cache");
    section.json = ngx_http_astro_cache_json;
    section.prometheus = ngx_http_astro_cache_prometheus;
    section.data = cmcf;

    if (ngx_astro_status_add(cf, &section) != NGX_OK
        || ngx_http_astro_cache_filter_init(cf) != NGX_OK
        || ngx_http_astro_cache_log_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_cache_init_process(ngx_cycle_t *cycle)
{
    ngx_http_astro_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_astro_cache_module);

    if (cmcf == NULL || !cmcf->redis) {
        return NGX_OK;
    }

    return ngx_http_astro_cache_init_worker(cycle);
}


static void
ngx_http_astro_cache_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_astro_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_astro_cache_module);

    if (cmcf && cmcf->redis) {
        ngx_http_astro_cache_exit_worker(cycle);
    }
}
