
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_status.h"


/*
 * A skeleton: TTL policies, adaptive TTLs and invalidation on top of
 * proxy_cache are parsed, checked and stored; nothing is applied yet.
 * A configured module says "enforcing": false in its status section.
 */


#define NGX_HTTP_ASTRO_CACHE_DEFAULT_TTL  300


typedef struct {
    ngx_str_t                    name;
    time_t                       ttl;
    time_t                       stale;
} ngx_http_astro_cache_class_t;


typedef struct {
    ngx_uint_t                   degraded;     /* factor x 100 */
    ngx_uint_t                   critical;     /* factor x 100 */
    time_t                       max_ttl;
} ngx_http_astro_cache_adaptive_t;


typedef struct {
    ngx_str_t                         name;
    size_t                            size;
    ngx_array_t                       classes;
                                      /* ngx_http_astro_cache_class_t */
    ngx_http_astro_cache_adaptive_t  *adaptive;
    ngx_uint_t                        default_set;  /* unsigned :1 */
} ngx_http_astro_cache_zone_t;


typedef struct {
    ngx_array_t                  zones;  /* ngx_http_astro_cache_zone_t * */
} ngx_http_astro_cache_main_conf_t;


typedef struct {
    ngx_http_astro_cache_zone_t  *zone;
    ngx_http_complex_value_t     *class;
    ngx_http_astro_cache_zone_t  *invalidate;
} ngx_http_astro_cache_loc_conf_t;


static ngx_http_astro_cache_zone_t *ngx_http_astro_cache_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
static void ngx_http_astro_cache_json(ngx_astro_out_t *out, void *data);
static void ngx_http_astro_cache_prometheus(ngx_astro_out_t *out,
    void *data);
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


static ngx_command_t  ngx_http_astro_cache_commands[] = {

    { ngx_string("astro_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
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
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_astro_cache,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_cache_invalidate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_astro_cache_invalidate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_cache_module_ctx = {
    NULL,                                  /* preconfiguration */
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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
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


static void
ngx_http_astro_cache_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_cache_main_conf_t *cmcf = data;

    ngx_uint_t                      i, j;
    ngx_http_astro_cache_zone_t   **zone;
    ngx_http_astro_cache_class_t   *class;

    ngx_astro_out_literal(out, "{\"enforcing\":false,\"zones\":{");

    zone = cmcf->zones.elts;

    for (i = 0; i < cmcf->zones.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, zone[i]->name.data, zone[i]->name.len);
        ngx_astro_out_literal(out, ":{\"ttl\":{");

        class = zone[i]->classes.elts;

        for (j = 0; j < zone[i]->classes.nelts; j++) {
            if (j) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_astro_out_json_str(out, class[j].name.data,
                                   class[j].name.len);
            ngx_astro_out_printf(out, ":%T", class[j].ttl);
        }

        ngx_astro_out_literal(out, "},\"adaptive\":");

        if (zone[i]->adaptive) {
            ngx_astro_out_literal(out, "{\"degraded\":");
            ngx_astro_out_double(out, zone[i]->adaptive->degraded / 100.0);
            ngx_astro_out_literal(out, ",\"critical\":");
            ngx_astro_out_double(out, zone[i]->adaptive->critical / 100.0);
            ngx_astro_out_printf(out, ",\"max_ttl\":%T}}",
                                 zone[i]->adaptive->max_ttl);

        } else {
            ngx_astro_out_literal(out, "null}");
        }
    }

    ngx_astro_out_literal(out, "}}");
}


static void
ngx_http_astro_cache_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_cache_main_conf_t *cmcf = data;

    ngx_astro_status_prom_head(out, "astro_cache_enforcing", "gauge",
                               "Whether the cache policies are applied");
    ngx_astro_out_literal(out, "astro_cache_enforcing 0\n");

    ngx_astro_status_prom_head(out, "astro_cache_zones", "gauge",
                               "Configured cache policy zones");
    ngx_astro_out_printf(out, "astro_cache_zones %ui\n", cmcf->zones.nelts);
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
    conf->invalidate = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_astro_cache_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_astro_cache_loc_conf_t *prev = parent;
    ngx_http_astro_cache_loc_conf_t *conf = child;

    if (conf->zone == NGX_CONF_UNSET_PTR) {
        conf->zone = prev->zone;
        conf->class = prev->class;
    }

    ngx_conf_merge_ptr_value(conf->zone, NULL, NULL);
    ngx_conf_merge_ptr_value(conf->class, NULL, NULL);

    /* an invalidation endpoint is a location of its own: not inherited */

    ngx_conf_merge_ptr_value(conf->invalidate, NULL, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_cache_main_conf_t *cmcf = conf;

    ssize_t                         size;
    ngx_str_t                      *value, name, s;
    ngx_http_astro_cache_zone_t    *zone;
    ngx_http_astro_cache_class_t   *class;

    value = cf->args->elts;

    if (!ngx_astro_conf_param(&value[1], "zone", &s)
        || ngx_astro_conf_zone(&s, &name, &size) != NGX_OK)
    {
        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    if (size < (ssize_t) NGX_ASTRO_CONF_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    zone = ngx_astro_conf_declare(cf, &cmcf->zones, &name,
                                  sizeof(ngx_http_astro_cache_zone_t),
                                  "zone");
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     zone->adaptive = NULL;
     *     zone->default_set = 0;
     */

    zone->size = size;

    if (ngx_array_init(&zone->classes, cf->pool, 4,
                       sizeof(ngx_http_astro_cache_class_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the class "default", until an astro_cache_ttl line changes it */

    class = ngx_array_push(&zone->classes);
    if (class == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&class->name, "default");
    class->ttl = NGX_HTTP_ASTRO_CACHE_DEFAULT_TTL;
    class->stale = 0;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    time_t                         ttl, stale;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i;
    ngx_http_astro_cache_zone_t   *zone;
    ngx_http_astro_cache_class_t  *class;

    value = cf->args->elts;

    zone = ngx_http_astro_cache_find_zone(cf, &value[1]);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_astro_conf_sec(&value[3], 0, &ttl) != NGX_OK) {
        return ngx_astro_conf_invalid(cf, &value[3]);
    }

    stale = 0;

    if (cf->args->nelts == 5
        && (!ngx_astro_conf_param(&value[4], "stale", &s)
            || ngx_astro_conf_sec(&s, 0, &stale) != NGX_OK))
    {
        return ngx_astro_conf_invalid(cf, &value[4]);
    }

    class = zone->classes.elts;

    for (i = 0; i < zone->classes.nelts; i++) {
        if (class[i].name.len == value[2].len
            && ngx_strncmp(class[i].name.data, value[2].data, value[2].len)
               == 0)
        {
            break;
        }
    }

    if (i < zone->classes.nelts) {

        /* only "default", the first, may be set once over its built-in */

        if (i || zone->default_set) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate class \"%V\" in zone \"%V\"",
                               &value[2], &value[1]);
            return NGX_CONF_ERROR;
        }

        zone->default_set = 1;
        class = &class[0];

    } else {
        class = ngx_array_push(&zone->classes);
        if (class == NULL) {
            return NGX_CONF_ERROR;
        }

        class->name = value[2];
    }

    class->ttl = ttl;
    class->stale = stale;

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_adaptive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t                         n;
    ngx_str_t                        *value, s;
    ngx_uint_t                        i, *fp;
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

    adaptive = ngx_palloc(cf->pool, sizeof(ngx_http_astro_cache_adaptive_t));
    if (adaptive == NULL) {
        return NGX_CONF_ERROR;
    }

    adaptive->degraded = 200;
    adaptive->critical = 400;
    adaptive->max_ttl = 3600;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "max_ttl", &s)) {
            if (ngx_astro_conf_sec(&s, 1, &adaptive->max_ttl) != NGX_OK) {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "degraded", &s)) {
            fp = &adaptive->degraded;

        } else if (ngx_astro_conf_param(&value[i], "critical", &s)) {
            fp = &adaptive->critical;

        } else {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        /* a factor from 1 to 100, two decimals */

        n = ngx_atofp(s.data, s.len, 2);
        if (n < 100 || n > 10000) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }

        *fp = n;
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

        return ngx_astro_conf_invalid(cf, &value[i]);
    }

    if (clcf->zone == NULL) {
        return ngx_astro_conf_missing(cf, cmd, "zone");
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_cache_invalidate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_cache_loc_conf_t *clcf = conf;

    ngx_str_t  *value, s;

    if (clcf->invalidate != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!ngx_astro_conf_param(&value[1], "zone", &s)) {
        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    clcf->invalidate = ngx_http_astro_cache_find_zone(cf, &s);
    if (clcf->invalidate == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_astro_cache_init(ngx_conf_t *cf)
{
    ngx_astro_status_section_t         section;
    ngx_http_astro_cache_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_cache_module);

    if (cmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    ngx_str_set(&section.name, "cache");
    section.json = ngx_http_astro_cache_json;
    section.prometheus = ngx_http_astro_cache_prometheus;
    section.data = cmcf;

    return ngx_astro_status_add(cf, &section);
}
