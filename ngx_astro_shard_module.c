
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_status.h"


/*
 * A skeleton: shard maps, their shards and the location's shard key are
 * parsed, checked and stored; no request is routed and PostgreSQL is not
 * asked yet.  A configured module says "enforcing": false in its status
 * section.
 */


#define NGX_HTTP_ASTRO_SHARD_USER_ID       0
#define NGX_HTTP_ASTRO_SHARD_DATE_RANGE    1
#define NGX_HTTP_ASTRO_SHARD_CONTENT_TYPE  2
#define NGX_HTTP_ASTRO_SHARD_GEOGRAPHY     3


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    upstream;
    ngx_uint_t                   weight;
    ngx_uint_t                   from;          /* YYYYMMDD, 0: open */
    ngx_uint_t                   to;            /* YYYYMMDD, 0: open */
    ngx_array_t                  values;        /* ngx_str_t */
    ngx_uint_t                   is_default;    /* unsigned :1 */
    u_char                      *file_name;
    ngx_uint_t                   line;
} ngx_http_astro_shard_t;


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   strategy;
    ngx_uint_t                   vnodes;
    ngx_str_t                    postgres;      /* conninfo, never logged */
    ngx_str_t                    table;
    time_t                       refresh;
    ngx_array_t                  shards;        /* ngx_http_astro_shard_t */
    u_char                      *file_name;
    ngx_uint_t                   line;
} ngx_http_astro_shard_map_t;


typedef struct {
    ngx_array_t                  maps;   /* ngx_http_astro_shard_map_t * */
} ngx_http_astro_shard_main_conf_t;


typedef struct {
    ngx_http_astro_shard_map_t  *map;
    ngx_http_complex_value_t    *key;
} ngx_http_astro_shard_key_t;


typedef struct {
    ngx_http_astro_shard_key_t  *key;
} ngx_http_astro_shard_loc_conf_t;


static ngx_http_astro_shard_map_t *ngx_http_astro_shard_find_map(
    ngx_conf_t *cf, ngx_str_t *name);
static ngx_int_t ngx_http_astro_shard_parse_date(ngx_str_t *value,
    ngx_uint_t *date);
static void ngx_http_astro_shard_json(ngx_astro_out_t *out, void *data);
static void ngx_http_astro_shard_prometheus(ngx_astro_out_t *out,
    void *data);
static void *ngx_http_astro_shard_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_astro_shard_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_astro_shard_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_astro_shard_map(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_shard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_astro_shard_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_astro_shard_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_astro_shard_strategies[] = {
    { ngx_string("user_id"), NGX_HTTP_ASTRO_SHARD_USER_ID },
    { ngx_string("date_range"), NGX_HTTP_ASTRO_SHARD_DATE_RANGE },
    { ngx_string("content_type"), NGX_HTTP_ASTRO_SHARD_CONTENT_TYPE },
    { ngx_string("geography"), NGX_HTTP_ASTRO_SHARD_GEOGRAPHY },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_astro_shard_commands[] = {

    { ngx_string("astro_shard_map"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_shard_map,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_astro_shard,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("astro_shard_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_astro_shard_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_shard_module_ctx = {
    NULL,                                  /* preconfiguration */
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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* a map of astro_shard_map, or NULL after logging that it is unknown */

static ngx_http_astro_shard_map_t *
ngx_http_astro_shard_find_map(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_astro_shard_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_shard_module);

    return ngx_astro_conf_find(cf, &smcf->maps, name, "astro_shard_map");
}


/* "YYYY-MM-DD" as the number YYYYMMDD, which orders as the dates do */

static ngx_int_t
ngx_http_astro_shard_parse_date(ngx_str_t *value, ngx_uint_t *date)
{
    u_char     *p;
    ngx_int_t   year, month, day;

    p = value->data;

    if (value->len != 10 || p[4] != '-' || p[7] != '-') {
        return NGX_ERROR;
    }

    year = ngx_atoi(p, 4);
    month = ngx_atoi(p + 5, 2);
    day = ngx_atoi(p + 8, 2);

    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31) {
        return NGX_ERROR;
    }

    *date = year * 10000 + month * 100 + day;

    return NGX_OK;
}


static void
ngx_http_astro_shard_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_shard_main_conf_t *smcf = data;

    ngx_uint_t                    i, j;
    ngx_http_astro_shard_t       *shard;
    ngx_http_astro_shard_map_t  **map;

    ngx_astro_out_literal(out, "{\"enforcing\":false,\"maps\":{");

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, map[i]->name.data, map[i]->name.len);
        ngx_astro_out_printf(out,
                 ":{\"strategy\":\"%V\",\"source\":\"%s\",\"shards\":{",
                 &ngx_http_astro_shard_strategies[map[i]->strategy].name,
                 map[i]->postgres.len ? "postgres" : "static");

        shard = map[i]->shards.elts;

        for (j = 0; j < map[i]->shards.nelts; j++) {
            if (j) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_astro_out_json_str(out, shard[j].name.data,
                                   shard[j].name.len);
            ngx_astro_out_literal(out, ":");
            ngx_astro_out_json_str(out, shard[j].upstream.data,
                                   shard[j].upstream.len);
        }

        ngx_astro_out_literal(out, "}}");
    }

    ngx_astro_out_literal(out, "}}");
}


static void
ngx_http_astro_shard_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_shard_main_conf_t *smcf = data;

    ngx_uint_t                    i, n;
    ngx_http_astro_shard_map_t  **map;

    ngx_astro_status_prom_head(out, "astro_shard_enforcing", "gauge",
                               "Whether requests are routed to shards");
    ngx_astro_out_literal(out, "astro_shard_enforcing 0\n");

    ngx_astro_status_prom_head(out, "astro_shard_maps", "gauge",
                               "Configured shard maps");
    ngx_astro_out_printf(out, "astro_shard_maps %ui\n", smcf->maps.nelts);

    n = 0;
    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        n += map[i]->shards.nelts;
    }

    ngx_astro_status_prom_head(out, "astro_shard_shards", "gauge",
                               "Shards declared in nginx.conf");
    ngx_astro_out_printf(out, "astro_shard_shards %ui\n", n);
}


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
     *     conf->maps = { 0 };
     */

    return conf;
}


static void *
ngx_http_astro_shard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_astro_shard_loc_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_astro_shard_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->key = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_astro_shard_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_astro_shard_loc_conf_t *prev = parent;
    ngx_http_astro_shard_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->key, prev->key, NULL);

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_shard_map(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_shard_main_conf_t *smcf = conf;

    char                         *err;
    u_char                        c;
    size_t                        n;
    ngx_int_t                     rc;
    ngx_str_t                    *value, s;
    ngx_uint_t                    i, j;
    PQconninfoOption             *options;
    ngx_http_astro_shard_map_t   *map;

    value = cf->args->elts;

    map = ngx_astro_conf_declare(cf, &smcf->maps, &value[1],
                                 sizeof(ngx_http_astro_shard_map_t), "map");
    if (map == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     map->postgres = { 0, NULL };
     */

    map->strategy = NGX_CONF_UNSET_UINT;
    map->vnodes = 160;
    map->refresh = 30;
    ngx_str_set(&map->table, "astro_shards");
    map->file_name = cf->conf_file->file.name.data;
    map->line = cf->conf_file->line;

    if (ngx_array_init(&map->shards, cf->pool, 4,
                       sizeof(ngx_http_astro_shard_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "table", &map->table)) {

            /* an SQL identifier, optionally schema qualified */

            for (j = 0; j < map->table.len; j++) {
                c = map->table.data[j];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                      || (c >= '0' && c <= '9') || c == '_' || c == '.'))
                {
                    break;
                }
            }

            if (map->table.len == 0 || j < map->table.len) {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "postgres", &map->postgres)) {

            /* parsed by libpq without connecting; the value is not logged */

            options = PQconninfoParse((char *) map->postgres.data, &err);
            if (options == NULL) {
                if (err == NULL) {
                    return NGX_CONF_ERROR;
                }

                /* libpq's message ends with a newline */

                for (n = ngx_strlen(err); n && err[n - 1] == '\n'; n--) {
                    /* void */
                }

                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"postgres\" parameter: %*s",
                                   n, err);
                PQfreemem(err);

                return NGX_CONF_ERROR;
            }

            PQconninfoFree(options);
            continue;
        }

        if (ngx_astro_conf_param(&value[i], "strategy", &s)) {
            rc = ngx_astro_conf_enum(&s, ngx_http_astro_shard_strategies,
                                     &map->strategy);

        } else if (ngx_astro_conf_param(&value[i], "vnodes", &s)) {
            rc = ngx_astro_conf_number(&s, 1, 1000, &map->vnodes);

        } else if (ngx_astro_conf_param(&value[i], "refresh", &s)) {
            rc = ngx_astro_conf_sec(&s, 1, &map->refresh);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (map->strategy == NGX_CONF_UNSET_UINT) {
        return ngx_astro_conf_missing(cf, cmd, "strategy");
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_shard(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                      *p, *last, *start;
    ngx_int_t                    rc;
    ngx_str_t                   *value, *v, *w, s;
    ngx_uint_t                   i, j, k, strategy;
    ngx_http_astro_shard_t      *shard, *other;
    ngx_http_astro_shard_map_t  *map;

    value = cf->args->elts;

    if (cf->args->nelts < 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    map = ngx_http_astro_shard_find_map(cf, &value[1]);
    if (map == NULL) {
        return NGX_CONF_ERROR;
    }

    other = map->shards.elts;

    for (i = 0; i < map->shards.nelts; i++) {
        if (other[i].name.len == value[2].len
            && ngx_strncmp(other[i].name.data, value[2].data, value[2].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate shard \"%V\" in map \"%V\"",
                               &value[2], &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    shard = ngx_array_push(&map->shards);
    if (shard == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(shard, sizeof(ngx_http_astro_shard_t));

    other = map->shards.elts;           /* the push may have moved them */

    shard->name = value[2];
    shard->upstream = value[3];
    shard->weight = 1;
    shard->file_name = cf->conf_file->file.name.data;
    shard->line = cf->conf_file->line;

    strategy = map->strategy;

    for (i = 4; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "values", &s)
            && (strategy == NGX_HTTP_ASTRO_SHARD_CONTENT_TYPE
                || strategy == NGX_HTTP_ASTRO_SHARD_GEOGRAPHY)
            && shard->values.elts == NULL)
        {
            if (ngx_array_init(&shard->values, cf->pool, 4, sizeof(ngx_str_t))
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            last = s.data + s.len;

            for (start = s.data; start <= last; start = p + 1) {

                for (p = start; p < last && *p != ','; p++) { /* void */ }

                if (p == start) {
                    return ngx_astro_conf_invalid(cf, &value[i]);
                }

                /* a value belongs to one shard of a map */

                for (j = 0; j < map->shards.nelts - 1; j++) {
                    w = other[j].values.elts;

                    for (k = 0; k < other[j].values.nelts; k++) {
                        if (w[k].len == (size_t) (p - start)
                            && ngx_strncmp(w[k].data, start, p - start) == 0)
                        {
                            return ngx_astro_conf_invalid(cf, &value[i]);
                        }
                    }
                }

                v = ngx_array_push(&shard->values);
                if (v == NULL) {
                    return NGX_CONF_ERROR;
                }

                v->len = p - start;
                v->data = start;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "default") == 0
            && strategy != NGX_HTTP_ASTRO_SHARD_USER_ID)
        {
            for (j = 0; j < map->shards.nelts - 1; j++) {
                if (other[j].is_default) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "duplicate default shard in map "
                                       "\"%V\"", &value[1]);
                    return NGX_CONF_ERROR;
                }
            }

            shard->is_default = 1;
            continue;
        }

        if (strategy == NGX_HTTP_ASTRO_SHARD_USER_ID
            && ngx_astro_conf_param(&value[i], "weight", &s))
        {
            rc = ngx_astro_conf_number(&s, 1, 100, &shard->weight);

        } else if (strategy == NGX_HTTP_ASTRO_SHARD_DATE_RANGE
                   && ngx_astro_conf_param(&value[i], "from", &s))
        {
            rc = ngx_http_astro_shard_parse_date(&s, &shard->from);

        } else if (strategy == NGX_HTTP_ASTRO_SHARD_DATE_RANGE
                   && ngx_astro_conf_param(&value[i], "to", &s))
        {
            rc = ngx_http_astro_shard_parse_date(&s, &shard->to);

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (shard->from && shard->to && shard->from >= shard->to) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"from\" is not before \"to\" in shard \"%V\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_astro_shard_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_astro_shard_loc_conf_t *slcf = conf;

    ngx_str_t                   *value;
    ngx_http_astro_shard_key_t  *key;

    if (slcf->key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "off") == 0) {
            slcf->key = NULL;
            return NGX_CONF_OK;
        }

        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    key = ngx_palloc(cf->pool, sizeof(ngx_http_astro_shard_key_t));
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    key->map = ngx_http_astro_shard_find_map(cf, &value[1]);
    if (key->map == NULL) {
        return NGX_CONF_ERROR;
    }

    key->key = ngx_astro_conf_complex(cf, &value[2]);
    if (key->key == NULL) {
        return NGX_CONF_ERROR;
    }

    slcf->key = key;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_astro_shard_init(ngx_conf_t *cf)
{
    ngx_uint_t                          i, j, k;
    ngx_astro_status_section_t          section;
    ngx_http_astro_shard_t             *shard;
    ngx_http_astro_shard_map_t        **map;
    ngx_http_upstream_srv_conf_t      **uscfp;
    ngx_http_upstream_main_conf_t      *umcf;
    ngx_http_astro_shard_main_conf_t   *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_shard_module);

    if (smcf->maps.nelts == 0) {
        return NGX_OK;
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {

        if (map[i]->shards.nelts == 0 && map[i]->postgres.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "map \"%V\" has no shards and no \"postgres\" "
                          "parameter in %s:%ui",
                          &map[i]->name, map[i]->file_name, map[i]->line);
            return NGX_ERROR;
        }

        /* upstream blocks may come after the map: checked here */

        shard = map[i]->shards.elts;

        for (j = 0; j < map[i]->shards.nelts; j++) {

            for (k = 0; k < umcf->upstreams.nelts; k++) {
                if (uscfp[k]->srv_conf
                    && uscfp[k]->host.len == shard[j].upstream.len
                    && ngx_strncmp(uscfp[k]->host.data,
                                   shard[j].upstream.data,
                                   shard[j].upstream.len)
                       == 0)
                {
                    break;
                }
            }

            if (k == umcf->upstreams.nelts) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "unknown upstream \"%V\" in %s:%ui",
                              &shard[j].upstream, shard[j].file_name,
                              shard[j].line);
                return NGX_ERROR;
            }
        }
    }

    ngx_str_set(&section.name, "shard");
    section.json = ngx_http_astro_shard_json;
    section.prometheus = ngx_http_astro_shard_prometheus;
    section.data = smcf;

    return ngx_astro_status_add(cf, &section);
}
