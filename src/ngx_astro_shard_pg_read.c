
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard_pg.h"


/*
 * A map's queries and what their rows make: the version of the map in
 * <prefix>_maps, and when it moved, the whole map read in one
 * REPEATABLE READ transaction (one snapshot of its three tables), turned
 * into rows for the table builder, its upstreams checked against
 * nginx.conf's, published.  A map with a defect is refused, logged once
 * per version, and the table in force stays.
 */


#define NGX_HTTP_ASTRO_SHARD_PG_SHARD_COLS  5
#define NGX_HTTP_ASTRO_SHARD_PG_ENTRY_COLS  6


static ngx_int_t ngx_http_astro_shard_pg_rows(ngx_http_astro_shard_pg_t *pg,
    ngx_astro_shard_rows_t *rows);
static ngx_int_t ngx_http_astro_shard_pg_upstreams(
    ngx_http_astro_shard_pg_t *pg, ngx_astro_shard_rows_t *rows);
static ngx_int_t ngx_http_astro_shard_pg_parse_version(u_char *p, size_t len,
    uint64_t *version);
static void ngx_http_astro_shard_pg_value(PGresult *res, int row, int col,
    ngx_str_t *s);
static ngx_int_t ngx_http_astro_shard_pg_refuse(ngx_http_astro_shard_pg_t *pg,
    uint64_t version);


/*
 * The queries, escaped by libpq for the connection: the map's name a
 * literal, the channel an identifier; the prefix (letters, digits, '_',
 * '.') was checked at configuration.  The shards are read in the order of
 * their names' bytes, whatever the database's collation: fill=modulo gives
 * slot i to the i-th.
 */

ngx_int_t
ngx_http_astro_shard_pg_queries(ngx_http_astro_shard_pg_t *pg)
{
    char                        *name, *channel;
    size_t                       len;
    ngx_str_t                   *prefix;
    ngx_http_astro_shard_map_t  *map;

    map = pg->map;
    prefix = &map->prefix;

    ngx_http_astro_shard_pg_free_queries(pg);

    name = PQescapeLiteral(pg->conn, (char *) map->name.data, map->name.len);
    if (name == NULL) {
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "%s%Z",
                     PQerrorMessage(pg->conn));
        return NGX_ERROR;
    }

    len = ngx_strlen(name);

    pg->version_sql = ngx_alloc(sizeof("SELECT version FROM _maps "
                                       "WHERE name = ")
                                + prefix->len + len, pg->log);

    pg->read_sql = ngx_alloc(sizeof("BEGIN ISOLATION LEVEL REPEATABLE READ "
                                    "READ ONLY; SELECT version FROM _maps "
                                    "WHERE name = ; SELECT name, upstream, "
                                    "read_upstream, weight, is_default "
                                    "FROM _shards WHERE map =  ORDER BY "
                                    "name COLLATE \"C\"; SELECT from_value, "
                                    "to_value, value, owner, target, state "
                                    "FROM _entries WHERE map = ; COMMIT")
                             + 3 * (prefix->len + len), pg->log);

    if (pg->version_sql == NULL || pg->read_sql == NULL) {
        PQfreemem(name);
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "out of memory%Z");
        return NGX_ERROR;
    }

    (void) ngx_sprintf((u_char *) pg->version_sql,
                    "SELECT version FROM %V_maps WHERE name = %s%Z",
                    prefix, name);

    (void) ngx_sprintf((u_char *) pg->read_sql,
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                    "SELECT version FROM %V_maps WHERE name = %s; "
                    "SELECT name, upstream, read_upstream, weight, "
                    "is_default FROM %V_shards WHERE map = %s "
                    "ORDER BY name COLLATE \"C\"; "
                    "SELECT from_value, to_value, value, owner, target, "
                    "state FROM %V_entries WHERE map = %s; COMMIT%Z",
                    prefix, name, prefix, name, prefix, name);

    PQfreemem(name);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pg->log, 0,
                   "astro_shard: map \"%V\": %s", &map->name, pg->read_sql);

    if (map->listen.len == 0) {
        return NGX_OK;
    }

    channel = PQescapeIdentifier(pg->conn, (char *) map->listen.data,
                                 map->listen.len);
    if (channel == NULL) {
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "%s%Z",
                     PQerrorMessage(pg->conn));
        return NGX_ERROR;
    }

    len = ngx_strlen(channel);

    pg->listen_sql = ngx_alloc(sizeof("LISTEN ") + len, pg->log);
    if (pg->listen_sql == NULL) {
        PQfreemem(channel);
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "out of memory%Z");
        return NGX_ERROR;
    }

    (void) ngx_sprintf((u_char *) pg->listen_sql, "LISTEN %s%Z", channel);

    PQfreemem(channel);

    return NGX_OK;
}


void
ngx_http_astro_shard_pg_free_queries(ngx_http_astro_shard_pg_t *pg)
{
    if (pg->listen_sql) {
        ngx_free(pg->listen_sql);
        pg->listen_sql = NULL;
    }

    if (pg->version_sql) {
        ngx_free(pg->version_sql);
        pg->version_sql = NULL;
    }

    if (pg->read_sql) {
        ngx_free(pg->read_sql);
        pg->read_sql = NULL;
    }
}


/* the map's row in <prefix>_maps: its version */

ngx_int_t
ngx_http_astro_shard_pg_version(ngx_http_astro_shard_pg_t *pg, PGresult *res,
    uint64_t *version)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1) {
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "not a version%Z");
        return NGX_ERROR;
    }

    if (PQntuples(res) != 1) {
        ngx_snprintf(pg->err, sizeof(pg->err) - 1,
                     "map \"%V\" is not in %V_maps%Z",
                     &pg->map->name, &pg->map->prefix);
        return NGX_ERROR;
    }

    if (ngx_http_astro_shard_pg_parse_version((u_char *) PQgetvalue(res, 0, 0),
                                              PQgetlength(res, 0, 0), version)
        != NGX_OK)
    {
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "invalid version \"%s\"%Z",
                     PQgetvalue(res, 0, 0));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The results of the whole read: BEGIN, the version, the shards, the
 * entries, COMMIT (all of them without an error: pg.c checked).
 */

ngx_int_t
ngx_http_astro_shard_pg_take(ngx_http_astro_shard_pg_t *pg)
{
    u_char                      *buf;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_astro_shard_rows_t       rows;
    ngx_astro_shard_table_t     *table;
    ngx_http_astro_shard_map_t  *map;

    map = pg->map;

    if (pg->nresults != 5
        || PQnfields(pg->results[2]) != NGX_HTTP_ASTRO_SHARD_PG_SHARD_COLS
        || PQnfields(pg->results[3]) != NGX_HTTP_ASTRO_SHARD_PG_ENTRY_COLS)
    {
        ngx_snprintf(pg->err, sizeof(pg->err) - 1, "read: %ui results%Z",
                     pg->nresults);
        ngx_http_astro_shard_error(map, "%s", pg->err);
        return NGX_ERROR;
    }

    if (ngx_http_astro_shard_pg_version(pg, pg->results[1], &pg->version)
        != NGX_OK)
    {
        ngx_http_astro_shard_error(map, "read: %s", pg->err);
        return NGX_ERROR;
    }

    rc = ngx_http_astro_shard_pg_rows(pg, &rows);

    if (rc == NGX_ERROR) {
        ngx_http_astro_shard_error(map, "read: out of memory");
        return NGX_ERROR;
    }

    table = NULL;
    buf = NULL;

    if (rc == NGX_DECLINED
        || ngx_http_astro_shard_pg_upstreams(pg, &rows) != NGX_OK)
    {
        goto refused;
    }

    size = ngx_astro_shard_table_size(&rows, pg->err, sizeof(pg->err));
    if (size == 0) {
        goto refused;
    }

    buf = ngx_alloc(size, pg->log);
    if (buf == NULL) {
        ngx_free(rows.shards);
        ngx_http_astro_shard_error(map, "read: out of memory");
        return NGX_ERROR;
    }

    table = ngx_astro_shard_table_build(&rows, buf, size, pg->err,
                                        sizeof(pg->err));
    if (table == NULL) {
        goto refused;
    }

    ngx_free(rows.shards);

    rc = ngx_http_astro_shard_publish(map, table, size,
                                      NGX_HTTP_ASTRO_SHARD_SOURCE_POSTGRES,
                                      pg->log);
    ngx_free(buf);

    if (rc != NGX_OK) {
        ngx_http_astro_shard_error(map, "version %uL not published: no "
                                   "memory in the zone", pg->version);
        return NGX_ERROR;
    }

    (void) ngx_atomic_fetch_add(&map->sh->refreshes, 1);
    ngx_http_astro_shard_ok(map);

    return NGX_OK;

refused:

    ngx_free(rows.shards);

    if (buf) {
        ngx_free(buf);
    }

    return ngx_http_astro_shard_pg_refuse(pg, pg->version);
}


/*
 * The result rows as the builder's (the strings stay in the results
 * until they are cleared): NGX_DECLINED with pg->err for a value no
 * row may have.
 */

static ngx_int_t
ngx_http_astro_shard_pg_rows(ngx_http_astro_shard_pg_t *pg,
    ngx_astro_shard_rows_t *rows)
{
    int                           i, nshards, nentries;
    ngx_str_t                     s;
    ngx_int_t                     weight;
    PGresult                     *res;
    ngx_astro_shard_row_t        *shard;
    ngx_astro_shard_entry_row_t  *entry;

    /* the strategy, hash, fill and slots are nginx.conf's */

    *rows = pg->map->rows;
    rows->version = pg->version;

    nshards = PQntuples(pg->results[2]);
    nentries = PQntuples(pg->results[3]);

    shard = ngx_alloc(nshards * sizeof(ngx_astro_shard_row_t)
                      + nentries * sizeof(ngx_astro_shard_entry_row_t) + 1,
                      pg->log);
    if (shard == NULL) {
        return NGX_ERROR;
    }

    entry = (ngx_astro_shard_entry_row_t *) (shard + nshards);

    rows->shards = shard;
    rows->nshards = nshards;
    rows->entries = entry;
    rows->nentries = nentries;

    res = pg->results[2];

    for (i = 0; i < nshards; i++) {
        ngx_http_astro_shard_pg_value(res, i, 0, &shard[i].name);
        ngx_http_astro_shard_pg_value(res, i, 1, &shard[i].upstream);
        ngx_http_astro_shard_pg_value(res, i, 2, &shard[i].read);
        ngx_http_astro_shard_pg_value(res, i, 3, &s);

        weight = ngx_atoi(s.data, s.len);

        if (weight == NGX_ERROR) {
            ngx_snprintf(pg->err, sizeof(pg->err) - 1,
                         "invalid weight \"%V\" of shard \"%V\"%Z",
                         &s, &shard[i].name);
            return NGX_DECLINED;
        }

        shard[i].weight = weight;

        ngx_http_astro_shard_pg_value(res, i, 4, &s);
        shard[i].is_default = (s.len == 1 && s.data[0] == 't');
    }

    res = pg->results[3];

    for (i = 0; i < nentries; i++) {
        ngx_http_astro_shard_pg_value(res, i, 0, &entry[i].from);
        ngx_http_astro_shard_pg_value(res, i, 1, &entry[i].to);
        ngx_http_astro_shard_pg_value(res, i, 2, &entry[i].value);
        ngx_http_astro_shard_pg_value(res, i, 3, &entry[i].owner);
        ngx_http_astro_shard_pg_value(res, i, 4, &entry[i].target);
        ngx_http_astro_shard_pg_value(res, i, 5, &entry[i].state);
    }

    return NGX_OK;
}


/* a map from PostgreSQL names only upstream blocks of nginx.conf */

static ngx_int_t
ngx_http_astro_shard_pg_upstreams(ngx_http_astro_shard_pg_t *pg,
    ngx_astro_shard_rows_t *rows)
{
    ngx_str_t             *name;
    ngx_uint_t             i, j;
    ngx_astro_shard_row_t  *shard;

    shard = rows->shards;

    for (i = 0; i < rows->nshards; i++) {
        for (j = 0; j < 2; j++) {
            name = j ? &shard[i].read : &shard[i].upstream;

            if ((j == 0 || name->len)
                && !ngx_http_astro_shard_known_upstream(pg->smcf, name))
            {
                ngx_snprintf(pg->err, sizeof(pg->err) - 1,
                             "unknown upstream \"%V\" of shard \"%V\"%Z",
                             name, &shard[i].name);
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


/* a bigint's text: digits only */

static ngx_int_t
ngx_http_astro_shard_pg_parse_version(u_char *p, size_t len,
    uint64_t *version)
{
    uint64_t  v;

    if (len == 0 || len > NGX_INT64_LEN) {
        return NGX_ERROR;
    }

    for (v = 0; len; len--, p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (*p - '0');
    }

    *version = v;

    return NGX_OK;
}


/* a column's text; NULL is the empty string */

static void
ngx_http_astro_shard_pg_value(PGresult *res, int row, int col, ngx_str_t *s)
{
    s->data = (u_char *) PQgetvalue(res, row, col);
    s->len = PQgetisnull(res, row, col) ? 0 : (size_t) PQgetlength(res, row,
                                                                    col);
}


/*
 * A map with a defect: logged and counted once a version on the node (in
 * the zone: a worker of this configuration that takes the lease over
 * does not again), the table stays.
 */

static ngx_int_t
ngx_http_astro_shard_pg_refuse(ngx_http_astro_shard_pg_t *pg,
    uint64_t version)
{
    ngx_uint_t                      first;
    ngx_slab_pool_t                *shpool;
    ngx_http_astro_shard_map_t     *map;
    ngx_http_astro_shard_sh_map_t  *sh;

    map = pg->map;
    sh = map->sh;
    shpool = map->zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    first = (sh->refused_gen != map->conf_gen
             || sh->refused_version != version);

    sh->refused_version = version;
    sh->refused_gen = map->conf_gen;

    ngx_shmtx_unlock(&shpool->mutex);

    if (first) {
        (void) ngx_atomic_fetch_add(&sh->refused, 1);

        ngx_log_error(NGX_LOG_ERR, pg->log, 0,
                      "astro_shard_map \"%V\": version %uL in postgres "
                      "refused: %s; the map in force stays",
                      &map->name, version, pg->err);
    }

    ngx_http_astro_shard_error(map, "version %uL refused: %s", version,
                               pg->err);

    return NGX_DECLINED;
}
