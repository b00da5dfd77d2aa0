
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_shard.h"
#include "ngx_astro_shard_key.h"


/*
 * The directives: astro_shard lines become the rows of their map, checked
 * one line at a time; the maps' tables are built from them at
 * postconfiguration (src/ngx_astro_shard_conf_init.c), and postgres= is
 * checked by libpq's parser (src/ngx_astro_shard_conninfo.c).
 */


#define NGX_HTTP_ASTRO_SHARD_REFRESH    30000
#define NGX_HTTP_ASTRO_SHARD_TIMEOUT    5000

/* PostgreSQL's identifiers: 63 bytes, less the longest suffix, _entries */
#define NGX_HTTP_ASTRO_SHARD_PREFIX_LEN  55
#define NGX_HTTP_ASTRO_SHARD_CHANNEL_LEN 63


static ngx_uint_t ngx_http_astro_shard_identifier(ngx_str_t *s,
    size_t max, ngx_uint_t dots);
static char *ngx_http_astro_shard_values(ngx_conf_t *cf,
    ngx_http_astro_shard_map_t *map, ngx_str_t *arg, ngx_str_t *values,
    ngx_str_t *owner);


static ngx_conf_enum_t  ngx_http_astro_shard_strategies[] = {
    { ngx_string("hash"), NGX_ASTRO_SHARD_HASH },
    { ngx_string("range"), NGX_ASTRO_SHARD_RANGE },
    { ngx_string("list"), NGX_ASTRO_SHARD_LIST },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_astro_shard_hashes[] = {
    { ngx_string("seed"), NGX_ASTRO_SHARD_HASH_SEED },
    { ngx_string("crc32"), NGX_ASTRO_SHARD_HASH_CRC32 },
    { ngx_string("murmur3"), NGX_ASTRO_SHARD_HASH_MURMUR3 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_astro_shard_fills[] = {
    { ngx_string("modulo"), NGX_ASTRO_SHARD_FILL_MODULO },
    { ngx_string("rendezvous"), NGX_ASTRO_SHARD_FILL_RENDEZVOUS },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_astro_shard_accesses[] = {
    { ngx_string("auto"), NGX_HTTP_ASTRO_SHARD_ACCESS_AUTO },
    { ngx_string("read"), NGX_HTTP_ASTRO_SHARD_ACCESS_READ },
    { ngx_string("write"), NGX_HTTP_ASTRO_SHARD_ACCESS_WRITE },
    { ngx_null_string, 0 }
};


/* astro_shard_zone name:size; one zone holds every map */

char *
ngx_http_astro_shard_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_shard_main_conf_t *smcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (smcf->zones.nelts) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_astro_conf_zone(&value[1], &name, &size) != NGX_OK) {
        return ngx_astro_conf_invalid(cf, &value[1]);
    }

    if (size < (ssize_t) NGX_ASTRO_CONF_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* src/ngx_astro_shard_zone.c lists it in smcf->zones */

    if (ngx_http_astro_shard_zone_add(cf, &name, size) == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_astro_shard_map_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_shard_main_conf_t *smcf = conf;

    char                        *rv;
    ngx_int_t                    rc;
    ngx_str_t                   *value, s, *hash_arg;
    ngx_uint_t                   i, hash, fill, slots, pg_only;
    ngx_http_astro_shard_map_t  *map;

    value = cf->args->elts;

    if (value[1].len > NGX_ASTRO_SHARD_MAX_NAME) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid map name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    map = ngx_astro_conf_declare(cf, &smcf->maps, &value[1],
                                 sizeof(ngx_http_astro_shard_map_t), "map");
    if (map == NULL) {
        return NGX_CONF_ERROR;
    }

    /*
     * set by ngx_astro_conf_declare():
     *
     *     map->rows = { 0 };
     *     map->postgres = { 0, NULL };
     *     map->conf_table = NULL;
     *     map->zone = NULL;
     *     map->sh = NULL;
     *     map->table = NULL;
     *     map->gen = 0;
     *     map->pg = NULL;
     *     map->hot = NULL;
     */

    ngx_str_set(&map->prefix, "astro_shard");
    ngx_str_set(&map->listen, "astro_shard");
    map->refresh = NGX_CONF_UNSET_MSEC;
    map->timeout = NGX_CONF_UNSET_MSEC;
    map->file_name = cf->conf_file->file.name.data;
    map->line = cf->conf_file->line;

    if (ngx_array_init(&map->shards, cf->pool, 4,
                       sizeof(ngx_astro_shard_row_t))
        != NGX_OK
        || ngx_array_init(&map->entries, cf->pool, 4,
                          sizeof(ngx_astro_shard_entry_row_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    map->rows.strategy = NGX_CONF_UNSET_UINT;
    hash = NGX_CONF_UNSET_UINT;
    fill = NGX_CONF_UNSET_UINT;
    slots = NGX_CONF_UNSET_UINT;
    hash_arg = NULL;                    /* a parameter of hash maps only */
    pg_only = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "postgres", &map->postgres)) {
            rv = ngx_http_astro_shard_conninfo(cf, &map->postgres);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_astro_conf_param(&value[i], "strategy", &s)) {
            rc = ngx_astro_conf_enum(&s, ngx_http_astro_shard_strategies,
                                     &map->rows.strategy);

        } else if (ngx_astro_conf_param(&value[i], "hash", &s)) {
            rc = ngx_astro_conf_enum(&s, ngx_http_astro_shard_hashes, &hash);
            hash_arg = &value[i];

        } else if (ngx_astro_conf_param(&value[i], "fill", &s)) {
            rc = ngx_astro_conf_enum(&s, ngx_http_astro_shard_fills, &fill);
            hash_arg = &value[i];

        } else if (ngx_astro_conf_param(&value[i], "slots", &s)) {
            rc = ngx_astro_conf_number(&s, 1, NGX_ASTRO_SHARD_MAX_SLOTS,
                                       &slots);
            hash_arg = &value[i];

        } else if (ngx_astro_conf_param(&value[i], "table", &map->prefix)) {
            rc = ngx_http_astro_shard_identifier(&map->prefix,
                                           NGX_HTTP_ASTRO_SHARD_PREFIX_LEN, 1)
                 ? NGX_OK : NGX_ERROR;
            pg_only = i;

        } else if (ngx_astro_conf_param(&value[i], "listen", &map->listen)) {
            if (map->listen.len == 3
                && ngx_strncmp(map->listen.data, "off", 3) == 0)
            {
                map->listen.len = 0;
                rc = NGX_OK;

            } else {
                rc = ngx_http_astro_shard_identifier(&map->listen,
                                          NGX_HTTP_ASTRO_SHARD_CHANNEL_LEN, 0)
                     ? NGX_OK : NGX_ERROR;
            }

            pg_only = i;

        } else if (ngx_astro_conf_param(&value[i], "refresh", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &map->refresh);
            pg_only = i;

        } else if (ngx_astro_conf_param(&value[i], "timeout", &s)) {
            rc = ngx_astro_conf_msec(&s, 1, &map->timeout);
            pg_only = i;

        } else {
            rc = NGX_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, &value[i]);
        }
    }

    if (map->rows.strategy == NGX_CONF_UNSET_UINT) {
        return ngx_astro_conf_missing(cf, cmd, "strategy");
    }

    if (hash_arg && map->rows.strategy != NGX_ASTRO_SHARD_HASH) {
        return ngx_astro_conf_invalid(cf, hash_arg);
    }

    if (pg_only && map->postgres.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" requires \"postgres\" in map \"%V\"",
                           &value[pg_only], &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(hash, NGX_ASTRO_SHARD_HASH_SEED);
    ngx_conf_init_uint_value(fill, NGX_ASTRO_SHARD_FILL_MODULO);
    ngx_conf_init_uint_value(slots, NGX_ASTRO_SHARD_DEFAULT_SLOTS);
    ngx_conf_init_msec_value(map->refresh, NGX_HTTP_ASTRO_SHARD_REFRESH);
    ngx_conf_init_msec_value(map->timeout, NGX_HTTP_ASTRO_SHARD_TIMEOUT);

    map->rows.hash = hash;
    map->rows.fill = fill;
    map->rows.slots = slots;

    return NGX_CONF_OK;
}


/* letters, digits, "_" (and "." between names when dots), not a digit first */

static ngx_uint_t
ngx_http_astro_shard_identifier(ngx_str_t *s, size_t max, ngx_uint_t dots)
{
    u_char      c;
    ngx_uint_t  i;

    if (s->len == 0 || s->len > max
        || (s->data[0] >= '0' && s->data[0] <= '9'))
    {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_')
        {
            continue;
        }

        if (c == '.' && dots && i && i < s->len - 1
            && s->data[i - 1] != '.')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/*
 * astro_shard map name upstream [read=] [weight=] [from=] [to=]
 * [values=] [default]: a shard row, and its entry rows (a range, slots,
 * or list values), all stable: migration states come from PostgreSQL.
 */

char *
ngx_http_astro_shard_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_shard_main_conf_t *smcf = conf;

    char                         *rv;
    ngx_str_t                    *value, s, from, to;
    ngx_uint_t                    i, strategy, set;
    ngx_astro_shard_row_t        *row;
    ngx_astro_shard_entry_row_t  *entry;
    ngx_http_astro_shard_map_t   *map;

    value = cf->args->elts;

    if (cf->args->nelts < 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" directive",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    map = ngx_astro_conf_find(cf, &smcf->maps, &value[1], "astro_shard_map");
    if (map == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the builder finds it too, but here the line is the shard's */

    if (ngx_astro_conf_index(&map->shards, &value[2]) != NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate shard \"%V\" in map \"%V\"",
                           &value[2], &value[1]);
        return NGX_CONF_ERROR;
    }

    row = ngx_array_push(&map->shards);
    if (row == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(row, sizeof(ngx_astro_shard_row_t));

    row->name = value[2];
    row->upstream = value[3];

    strategy = map->rows.strategy;
    ngx_str_null(&from);
    ngx_str_null(&to);
    set = 0;

    for (i = 4; i < cf->args->nelts; i++) {

        if (ngx_astro_conf_param(&value[i], "read", &s)
            && s.len && row->read.len == 0)
        {
            row->read = s;
            continue;
        }

        if (ngx_strcmp(value[i].data, "default") == 0
            && strategy != NGX_ASTRO_SHARD_HASH && !row->is_default)
        {
            row->is_default = 1;
            continue;
        }

        if (strategy == NGX_ASTRO_SHARD_HASH
            && ngx_astro_conf_param(&value[i], "weight", &s)
            && row->weight == 0)
        {
            if (ngx_astro_conf_number(&s, 1, 65535, &row->weight) != NGX_OK) {
                return ngx_astro_conf_invalid(cf, &value[i]);
            }

            continue;
        }

        if (strategy != NGX_ASTRO_SHARD_LIST
            && ngx_astro_conf_param(&value[i], "from", &s)
            && s.len && from.data == NULL)
        {
            from = s;
            set = 1;
            continue;
        }

        if (strategy != NGX_ASTRO_SHARD_LIST
            && ngx_astro_conf_param(&value[i], "to", &s)
            && s.len && to.data == NULL)
        {
            to = s;
            set = 1;
            continue;
        }

        if (strategy == NGX_ASTRO_SHARD_LIST
            && ngx_astro_conf_param(&value[i], "values", &s)
            && s.len && !set)
        {
            rv = ngx_http_astro_shard_values(cf, map, &value[i], &s,
                                             &value[2]);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            set = 1;
            continue;
        }

        return ngx_astro_conf_invalid(cf, &value[i]);
    }

    if (strategy != NGX_ASTRO_SHARD_LIST && set) {
        entry = ngx_array_push(&map->entries);
        if (entry == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(entry, sizeof(ngx_astro_shard_entry_row_t));

        entry->from = from;
        entry->to = to;
        entry->owner = value[2];
    }

    return NGX_CONF_OK;
}


/* values=v1,v2,...: an entry row each */

static char *
ngx_http_astro_shard_values(ngx_conf_t *cf, ngx_http_astro_shard_map_t *map,
    ngx_str_t *arg, ngx_str_t *values, ngx_str_t *owner)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_str_t                     v;
    ngx_astro_shard_entry_row_t  *entry;

    p = values->data;

    for ( ;; ) {
        rc = ngx_astro_shard_key_next_value(&p, values->data + values->len,
                                            &v);
        if (rc == NGX_DONE) {
            return NGX_CONF_OK;
        }

        if (rc != NGX_OK) {
            return ngx_astro_conf_invalid(cf, arg);
        }

        entry = ngx_array_push(&map->entries);
        if (entry == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(entry, sizeof(ngx_astro_shard_entry_row_t));

        entry->value = v;
        entry->owner = *owner;
    }
}


char *
ngx_http_astro_shard_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_astro_shard_loc_conf_t *slcf = conf;

    ngx_str_t                          *value, s;
    ngx_http_astro_shard_main_conf_t   *smcf;

    if (slcf->key_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "off") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                             "invalid number of arguments in \"%V\" directive",
                             &cmd->name);
            return NGX_CONF_ERROR;
        }

        slcf->key_set = 1;
        return NGX_CONF_OK;
    }

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_shard_module);

    slcf->map = ngx_astro_conf_find(cf, &smcf->maps, &value[1],
                                    "astro_shard_map");
    if (slcf->map == NULL) {
        return NGX_CONF_ERROR;
    }

    slcf->key = ngx_astro_conf_complex(cf, &value[2]);
    if (slcf->key == NULL) {
        return NGX_CONF_ERROR;
    }

    slcf->key_set = 1;

    if (cf->args->nelts == 3) {
        return NGX_CONF_OK;
    }

    if (!ngx_astro_conf_param(&value[3], "access", &s)) {
        return ngx_astro_conf_invalid(cf, &value[3]);
    }

    if (s.len > 1 && s.data[0] == '$') {
        slcf->access = NGX_HTTP_ASTRO_SHARD_ACCESS_VAR;
        slcf->access_value = ngx_astro_conf_complex(cf, &s);

        return slcf->access_value ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (ngx_astro_conf_enum(&s, ngx_http_astro_shard_accesses, &slcf->access)
        != NGX_OK)
    {
        return ngx_astro_conf_invalid(cf, &value[3]);
    }

    return NGX_CONF_OK;
}
