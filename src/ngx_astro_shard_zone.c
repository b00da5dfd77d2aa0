
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"
#include "ngx_astro_shard_hot.h"


/*
 * The zone of astro_shard_zone: a record per map, found by name, that
 * holds the table in force (slab memory), its version and source, the
 * PostgreSQL holder's lease and the map's counters.  Records are never
 * freed: a reload keeps them (a map removed keeps its record until the
 * zone is renamed or resized, when nginx gives a new zone), so a map
 * read from PostgreSQL and its version survive it, and the workers of
 * the old configuration keep reading and counting into the same ones.
 *
 * The table in force changes under the zone's mutex and its generation
 * moves after; a worker compares the generation with its own once a
 * request and copies the table out under the mutex only when it moved,
 * so routing itself never locks.
 *
 * The caller (src/ngx_astro_shard_conf.c) adds every map to the zone's
 * maps and sets map->zone, at configuration; the records are found and
 * the nginx.conf tables published when nginx initializes the zone.
 */


/* a zone and what its initialization needs of the configuration */

typedef struct {
    ngx_http_astro_shard_zone_t        zone;
    ngx_http_astro_shard_main_conf_t  *smcf;
} ngx_http_astro_shard_zone_conf_t;


static ngx_int_t ngx_http_astro_shard_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_astro_shard_sh_map_t *ngx_http_astro_shard_record(
    ngx_http_astro_shard_zone_t *zone, ngx_str_t *name);
static ngx_int_t ngx_http_astro_shard_init_map(
    ngx_http_astro_shard_main_conf_t *smcf, ngx_http_astro_shard_map_t *map,
    ngx_log_t *log);
static ngx_str_t *ngx_http_astro_shard_unknown(
    ngx_http_astro_shard_main_conf_t *smcf, ngx_astro_shard_table_t *t);


static ngx_str_t  ngx_http_astro_shard_empty = ngx_null_string;


ngx_http_astro_shard_zone_t *
ngx_http_astro_shard_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_astro_shard_zone_t      **zp;
    ngx_http_astro_shard_zone_conf_t  *zc;
    ngx_http_astro_shard_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_shard_module);

    shm_zone = ngx_shared_memory_add(cf, name, size, &ngx_astro_shard_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        return shm_zone->data;
    }

    zc = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_shard_zone_conf_t));
    if (zc == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     zc->zone.shpool = NULL;
     *     zc->zone.sh = NULL;
     */

    zc->smcf = smcf;
    zc->zone.name = *name;
    zc->zone.shm_zone = shm_zone;

    if (ngx_array_init(&zc->zone.maps, cf->pool, 4,
                       sizeof(ngx_http_astro_shard_map_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (smcf->zones.elts == NULL
        && ngx_array_init(&smcf->zones, cf->pool, 1,
                          sizeof(ngx_http_astro_shard_zone_t *))
           != NGX_OK)
    {
        return NULL;
    }

    zp = ngx_array_push(&smcf->zones);
    if (zp == NULL) {
        return NULL;
    }

    *zp = &zc->zone;

    shm_zone->init = ngx_http_astro_shard_init_zone;
    shm_zone->data = &zc->zone;

    return &zc->zone;
}


/*
 * The master, alone, at each (re)load: nginx gives the old zone's data
 * when the zone keeps its name and size, and a new empty zone otherwise
 * (whose records then start afresh).
 */

static ngx_int_t
ngx_http_astro_shard_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_astro_shard_zone_t *ozone = data;

    size_t                             len;
    ngx_uint_t                         i;
    ngx_http_astro_shard_map_t       **map;
    ngx_http_astro_shard_zone_t       *zone;
    ngx_http_astro_shard_zone_conf_t  *zc;

    zone = shm_zone->data;
    zc = (ngx_http_astro_shard_zone_conf_t *) zone;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

    } else {
        zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            zone->sh = zone->shpool->data;

        } else {
            zone->sh = ngx_slab_calloc(zone->shpool,
                                       sizeof(ngx_http_astro_shard_sh_t));
            if (zone->sh == NULL) {
                return NGX_ERROR;
            }

            ngx_queue_init(&zone->sh->maps);
            zone->shpool->data = zone->sh;

            len = sizeof(" in astro_shard_zone \"\"") + shm_zone->shm.name.len;

            zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
            if (zone->shpool->log_ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(zone->shpool->log_ctx,
                        " in astro_shard_zone \"%V\"%Z",
                        &shm_zone->shm.name);
        }
    }

    map = zone->maps.elts;

    for (i = 0; i < zone->maps.nelts; i++) {
        map[i]->zone = zone;
        map[i]->sh = ngx_http_astro_shard_record(zone, &map[i]->name);

        if (map[i]->sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "no room for map \"%V\" in astro_shard_zone "
                          "\"%V\": the maps of all reloads are kept; "
                          "make it larger or rename it",
                          &map[i]->name, &shm_zone->shm.name);
            return NGX_ERROR;
        }

        if (ngx_http_astro_shard_init_map(zc->smcf, map[i],
                                          shm_zone->shm.log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_http_astro_shard_sh_map_t *
ngx_http_astro_shard_record(ngx_http_astro_shard_zone_t *zone,
    ngx_str_t *name)
{
    size_t                          len;
    ngx_queue_t                    *q;
    ngx_http_astro_shard_sh_map_t  *rec;

    len = ngx_min(name->len, NGX_ASTRO_SHARD_MAX_NAME);

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->maps);
         q != ngx_queue_sentinel(&zone->sh->maps);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_http_astro_shard_sh_map_t, queue);

        if (ngx_strlen(rec->name) == len
            && ngx_strncmp(rec->name, name->data, len) == 0)
        {
            goto done;
        }
    }

    rec = ngx_slab_calloc_locked(zone->shpool,
                                 sizeof(ngx_http_astro_shard_sh_map_t));
    if (rec == NULL) {
        goto done;
    }

    ngx_memcpy(rec->name, name->data, len);
    ngx_queue_insert_tail(&zone->sh->maps, &rec->queue);

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rec;
}


/*
 * A map's table at (re)load: one read from PostgreSQL stays while the
 * map still has postgres= and names only upstream blocks of this
 * configuration; else nginx.conf's is published when it is not the one
 * in force already.  A map with neither has none until its first read.
 */

static ngx_int_t
ngx_http_astro_shard_init_map(ngx_http_astro_shard_main_conf_t *smcf,
    ngx_http_astro_shard_map_t *map, ngx_log_t *log)
{
    uint32_t                        crc;
    ngx_str_t                      *unknown;
    ngx_http_astro_shard_sh_map_t  *sh;

    sh = map->sh;

    /*
     * This configuration's generation: a version refused by the workers
     * of another (an older one may still run) is read again by these.
     */
    map->conf_gen = ++sh->conf_gen;

    if (sh->table && sh->source == NGX_HTTP_ASTRO_SHARD_SOURCE_POSTGRES
        && map->postgres.len)
    {
        unknown = ngx_http_astro_shard_unknown(smcf, sh->table);

        if (unknown == NULL) {
            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "astro_shard_map \"%V\": version %uL from "
                          "postgres kept", &map->name, sh->version);
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "astro_shard_map \"%V\": version %uL from postgres "
                      "names unknown upstream \"%V\", not kept",
                      &map->name, sh->version, unknown);
    }

    if (map->conf_table == NULL) {
        return NGX_OK;
    }

    crc = ngx_crc32_long((u_char *) map->conf_table, map->conf_size);

    if (sh->table && sh->source == NGX_HTTP_ASTRO_SHARD_SOURCE_CONF
        && sh->conf_crc == crc)
    {
        return NGX_OK;
    }

    return ngx_http_astro_shard_publish(map, map->conf_table, map->conf_size,
                                        NGX_HTTP_ASTRO_SHARD_SOURCE_CONF, log);
}


/* the first upstream of t that is no upstream block here, or NULL */

static ngx_str_t *
ngx_http_astro_shard_unknown(ngx_http_astro_shard_main_conf_t *smcf,
    ngx_astro_shard_table_t *t)
{
    ngx_uint_t                i;
    ngx_astro_shard_shard_t  *shard;

    static ngx_str_t          name;

    shard = ngx_astro_shard_table_shards(t);

    for (i = 0; i < t->nshards; i++) {
        ngx_astro_shard_table_string(t, &shard[i].upstream, &name);

        if (!ngx_http_astro_shard_known_upstream(smcf, &name)) {
            return &name;
        }

        if (shard[i].read.len == 0) {
            continue;
        }

        ngx_astro_shard_table_string(t, &shard[i].read, &name);

        if (!ngx_http_astro_shard_known_upstream(smcf, &name)) {
            return &name;
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_astro_shard_acquire(ngx_http_astro_shard_map_t *map,
    ngx_log_t *log)
{
    char                           *err;
    size_t                          size;
    ngx_str_t                      *unknown;
    ngx_uint_t                      none;
    ngx_atomic_uint_t               gen;
    ngx_slab_pool_t                *shpool;
    ngx_astro_shard_table_t        *t;
    ngx_http_astro_shard_sh_map_t  *sh;

    sh = map->sh;

    if (sh == NULL) {
        return NGX_DECLINED;
    }

    gen = sh->gen;

    if (gen == map->gen) {
        return map->table ? NGX_OK : NGX_DECLINED;
    }

    shpool = map->zone->shpool;

    /*
     * Allocated before the lock, at the size read without it (malloc()
     * may take long, and the mutex is on every worker's request path);
     * a publish that changed the size meanwhile: the next request.
     */

    size = sh->size;
    t = NULL;

    if (size) {
        t = ngx_alloc(size, log);
        if (t == NULL) {
            return map->table ? NGX_OK : NGX_DECLINED;
        }
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* the generation of what is copied: a publish may have come since */

    gen = sh->gen;
    none = (sh->table == NULL);

    if (!none && sh->size != size) {
        ngx_shmtx_unlock(&shpool->mutex);

        if (t) {
            ngx_free(t);
        }

        return map->table ? NGX_OK : NGX_DECLINED;
    }

    if (!none) {
        ngx_memcpy(t, sh->table, size);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (none && t) {
        ngx_free(t);
        t = NULL;
    }

    if (t) {
        err = NULL;
        unknown = NULL;

        if (ngx_astro_shard_table_check(t, size) != NGX_OK) {
            err = "is damaged";

        } else {
            /* a worker of an older configuration may not know upstreams */

            unknown = ngx_http_astro_shard_unknown(
                          ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                     ngx_astro_shard_module),
                          t);
            if (unknown) {
                err = "names an unknown upstream";
            }
        }

        if (err) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "astro_shard_map \"%V\": table of generation %uA "
                          "%s%s%V%s, not taken", &map->name, gen, err,
                          unknown ? " \"" : "",
                          unknown ? unknown : &ngx_http_astro_shard_empty,
                          unknown ? "\"" : "");
            ngx_free(t);

            /* the previous copy stays, until the next publish */
            map->gen = gen;

            return map->table ? NGX_OK : NGX_DECLINED;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_shard: map \"%V\" generation %uA, %uz bytes",
                   &map->name, gen, t ? size : 0);

    if (map->table) {
        ngx_free(map->table);
    }

    map->table = t;
    map->table_size = t ? size : 0;
    map->gen = gen;

    return t ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_astro_shard_publish(ngx_http_astro_shard_map_t *map,
    ngx_astro_shard_table_t *table, size_t size, ngx_uint_t source,
    ngx_log_t *log)
{
    void                           *old;
    ngx_str_t                       name;
    ngx_uint_t                      i;
    ngx_slab_pool_t                *shpool;
    ngx_astro_shard_table_t        *t;
    ngx_astro_shard_shard_t        *shard;
    ngx_http_astro_shard_sh_map_t  *sh;

    sh = map->sh;
    shpool = map->zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    t = ngx_slab_alloc_locked(shpool, size);

    if (t == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "astro_shard_map \"%V\": no room for a table of %uz "
                      "bytes in astro_shard_zone \"%V\"",
                      &map->name, size, &map->zone->name);
        return NGX_ERROR;
    }

    ngx_memcpy(t, table, size);

    old = sh->table;

    sh->table = t;
    sh->size = size;
    sh->version = table->version;
    sh->source = source;
    sh->published = ngx_time();

    if (source == NGX_HTTP_ASTRO_SHARD_SOURCE_CONF) {
        sh->conf_crc = ngx_crc32_long((u_char *) table, size);
    }

    if (old) {
        ngx_slab_free_locked(shpool, old);
    }

    /*
     * The shards' counts made now, under the mutex held anyway, so that
     * the log phase only adds; short of room, it tries again.
     */

    shard = ngx_astro_shard_table_shards(table);

    for (i = 0; i < table->nshards; i++) {
        ngx_astro_shard_table_string(table, &shard[i].name, &name);
        (void) ngx_http_astro_shard_counts_add_locked(shpool, sh, &name);
    }

    (void) ngx_atomic_fetch_add(&sh->gen, 1);

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "astro_shard_map \"%V\": version %uL from %s in force",
                  &map->name, table->version,
                  source == NGX_HTTP_ASTRO_SHARD_SOURCE_POSTGRES
                  ? "postgres" : "nginx.conf");

    return NGX_OK;
}


void
ngx_http_astro_shard_error(ngx_http_astro_shard_map_t *map,
    const char *fmt, ...)
{
    u_char                         *p;
    va_list                         args;
    ngx_slab_pool_t                *shpool;
    ngx_http_astro_shard_sh_map_t  *sh;
    u_char                          text[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    sh = map->sh;
    shpool = map->zone->shpool;

    /* under the mutex: the status copies the text out under it too */

    ngx_shmtx_lock(&shpool->mutex);

    sh->error_len = p - text;
    ngx_memcpy(sh->error, text, sh->error_len);
    sh->error_time = ngx_time();
    sh->stale = 1;

    ngx_shmtx_unlock(&shpool->mutex);
}


/* a good read: not stale; the last error stays, with its time */

void
ngx_http_astro_shard_ok(ngx_http_astro_shard_map_t *map)
{
    map->sh->checked = ngx_time();
    map->sh->stale = 0;
}
