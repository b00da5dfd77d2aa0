
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_shard.h"


/*
 * At postconfiguration, when every upstream block is known: each map's
 * rows become its nginx.conf table, built and checked by the pure builder
 * (src/ngx_astro_shard_table.c) as the rows read from PostgreSQL are.
 * Only the upstream names are checked here: the builder does not know
 * nginx's upstream blocks.
 */


#define NGX_HTTP_ASTRO_SHARD_ZONE_SIZE  (8 * 1024 * 1024)


static ngx_int_t ngx_http_astro_shard_upstreams(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf);
static ngx_int_t ngx_http_astro_shard_map_init(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf, ngx_http_astro_shard_map_t *map);


/* the known upstreams listed, the zone made, each map's table built */

ngx_int_t
ngx_http_astro_shard_conf_init(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf)
{
    ngx_str_t                     name;
    ngx_uint_t                    i;
    ngx_http_astro_shard_map_t  **map, **m;
    ngx_http_astro_shard_zone_t  *zone, **zones;

    if (ngx_http_astro_shard_upstreams(cf, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (smcf->zones.nelts == 0) {
        ngx_str_set(&name, "astro_shard");

        if (ngx_http_astro_shard_zone_add(cf, &name,
                                          NGX_HTTP_ASTRO_SHARD_ZONE_SIZE)
            == NULL)
        {
            return NGX_ERROR;
        }
    }

    /* one zone holds every map; the zone's initialization finds them */

    zones = smcf->zones.elts;
    zone = zones[0];

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        if (ngx_http_astro_shard_map_init(cf, smcf, map[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        map[i]->zone = zone;

        m = ngx_array_push(&zone->maps);
        if (m == NULL) {
            return NGX_ERROR;
        }

        *m = map[i];
    }

    return NGX_OK;
}


/* the names of the configuration's upstream blocks (not proxy_pass's) */

static ngx_int_t
ngx_http_astro_shard_upstreams(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf)
{
    ngx_str_t                       *name;
    ngx_uint_t                       i;
    ngx_http_upstream_srv_conf_t   **uscfp;
    ngx_http_upstream_main_conf_t   *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    if (ngx_array_init(&smcf->upstreams, cf->pool,
                       umcf->upstreams.nelts + 1, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        name = ngx_array_push(&smcf->upstreams);
        if (name == NULL) {
            return NGX_ERROR;
        }

        *name = uscfp[i]->host;
    }

    return NGX_OK;
}


/* a map's nginx.conf table: upstreams known, rows built and checked */

static ngx_int_t
ngx_http_astro_shard_map_init(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf, ngx_http_astro_shard_map_t *map)
{
    u_char                  *buf;
    size_t                   size;
    ngx_str_t               *upstream;
    ngx_uint_t               i, j;
    ngx_astro_shard_row_t   *row;
    u_char                   err[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];

    if (map->shards.nelts == 0) {
        if (map->postgres.len) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "map \"%V\" has no shards and no \"postgres\" "
                      "parameter in %s:%ui",
                      &map->name, map->file_name, map->line);
        return NGX_ERROR;
    }

    row = map->shards.elts;

    for (i = 0; i < map->shards.nelts; i++) {
        for (j = 0; j < 2; j++) {
            upstream = j ? &row[i].read : &row[i].upstream;

            if (upstream->len
                && !ngx_http_astro_shard_known_upstream(smcf, upstream))
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "unknown upstream \"%V\" of shard \"%V\" "
                              "in map \"%V\" in %s:%ui",
                              upstream, &row[i].name, &map->name,
                              map->file_name, map->line);
                return NGX_ERROR;
            }
        }
    }

    map->rows.shards = map->shards.elts;
    map->rows.nshards = map->shards.nelts;
    map->rows.entries = map->entries.elts;
    map->rows.nentries = map->entries.nelts;

    size = ngx_astro_shard_table_size(&map->rows, err, sizeof(err));

    if (size) {
        buf = ngx_palloc(cf->pool, size);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        map->conf_table = ngx_astro_shard_table_build(&map->rows, buf, size,
                                                      err, sizeof(err));
        map->conf_size = size;
    }

    if (map->conf_table == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "invalid map \"%V\": %s in %s:%ui",
                      &map->name, err, map->file_name, map->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* of nginx.conf's shards here, of PostgreSQL's in _pg_read.c */

ngx_uint_t
ngx_http_astro_shard_known_upstream(ngx_http_astro_shard_main_conf_t *smcf,
    ngx_str_t *name)
{
    return ngx_astro_conf_index(&smcf->upstreams, name) != NGX_ERROR;
}
