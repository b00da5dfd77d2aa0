
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"


/*
 * A request's route: its key, the worker's copy of the map's table (one
 * atomic load when it is current, no lock), the entry, the migration
 * state applied by access, the primary or the replica upstream.  Made
 * once a request, by the PREACCESS handler or by the first variable.
 */


/*
 * Retry-After of a write to a frozen entry (and of a map without a table
 * yet): a freeze lasts while the last writes are copied, seconds.
 */
#define NGX_HTTP_ASTRO_SHARD_RETRY_AFTER  "1"


static ngx_http_astro_shard_ctx_t *ngx_http_astro_shard_refuse(
    ngx_http_request_t *r, ngx_http_astro_shard_ctx_t *ctx,
    ngx_uint_t reason, ngx_uint_t status);
static ngx_uint_t ngx_http_astro_shard_write(ngx_http_request_t *r,
    ngx_http_astro_shard_loc_conf_t *slcf);


#if (NGX_DEBUG)

static ngx_str_t  ngx_http_astro_shard_reasons[] = {
    ngx_string("empty key"),
    ngx_string("no shard"),
    ngx_string("bad key"),
    ngx_string("frozen write"),
    ngx_string("no table")
};

#endif


ngx_int_t
ngx_http_astro_shard_handler(ngx_http_request_t *r)
{
    ngx_table_elt_t                  *h;
    ngx_http_astro_shard_ctx_t       *ctx;
    ngx_http_astro_shard_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_astro_shard_module);

    if (slcf->map == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_astro_shard_route(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->status == 0) {
        return NGX_DECLINED;
    }

    if (ctx->map->sh) {
        (void) ngx_atomic_fetch_add(&ctx->map->sh->rejects[ctx->reason], 1);
    }

    if (ctx->status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, NGX_HTTP_ASTRO_SHARD_RETRY_AFTER);
    }

    return ctx->status;
}


/*
 * The route, NULL on errors.  Without a key in this location, a route
 * to nowhere (map NULL) that is not kept: the location may change yet.
 */

ngx_http_astro_shard_ctx_t *
ngx_http_astro_shard_route(ngx_http_request_t *r)
{
    ngx_str_t                         key;
    ngx_uint_t                        index, write;
    ngx_astro_shard_table_t          *t;
    ngx_astro_shard_entry_t          *e;
    ngx_astro_shard_shard_t          *shard;
    ngx_http_astro_shard_map_t       *map;
    ngx_http_astro_shard_ctx_t       *ctx;
    ngx_http_astro_shard_loc_conf_t  *slcf;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_shard_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_shard_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->shard = { 0, NULL };
     *     ctx->upstream = { 0, NULL };
     *     ctx->state = NGX_ASTRO_SHARD_STABLE;
     *     ctx->version = 0;
     *     ctx->status = 0;
     */

    ctx->slot = -1;

    slcf = ngx_http_get_module_loc_conf(r, ngx_astro_shard_module);
    map = slcf->map;

    if (map == NULL) {
        return ctx;
    }

    ngx_http_set_ctx(r, ctx, ngx_astro_shard_module);

    ctx->map = map;
    ctx->write = ngx_http_astro_shard_write(r, slcf);

    if (ngx_http_complex_value(r, slcf->key, &key) != NGX_OK) {
        return NULL;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_shard: map \"%V\" key \"%V\" %s",
                   &map->name, &key, ctx->write ? "write" : "read");

    if (key.len == 0) {
        return ngx_http_astro_shard_refuse(r, ctx,
                                           NGX_HTTP_ASTRO_SHARD_REJECT_EMPTY,
                                           slcf->missing);
    }

    if (ngx_http_astro_shard_acquire(map, r->connection->log) != NGX_OK) {
        return ngx_http_astro_shard_refuse(r, ctx,
                                          NGX_HTTP_ASTRO_SHARD_REJECT_NO_MAP,
                                          NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    t = map->table;
    ctx->version = t->version;

    e = ngx_astro_shard_table_lookup(t, key.data, key.len, &ctx->slot);

    if (ctx->slot == NGX_ASTRO_SHARD_BAD_KEY) {
        ctx->slot = -1;

        return ngx_http_astro_shard_refuse(r, ctx,
                                          NGX_HTTP_ASTRO_SHARD_REJECT_BAD_KEY,
                                          slcf->missing);
    }

    if (e == NULL) {
        if (t->default_shard == NGX_ASTRO_SHARD_NONE) {
            return ngx_http_astro_shard_refuse(r, ctx,
                                        NGX_HTTP_ASTRO_SHARD_REJECT_NO_SHARD,
                                        slcf->missing);
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_shard: no entry, the default shard");

        index = t->default_shard;

    } else {
        ctx->state = e->state;
        write = ctx->write;

        /* the builder gives every state but stable a target */

        switch (e->state) {

        case NGX_ASTRO_SHARD_READS_NEW:
            index = write ? e->owner : e->target;
            break;

        case NGX_ASTRO_SHARD_FROZEN:
            if (write) {
                return ngx_http_astro_shard_refuse(r, ctx,
                                          NGX_HTTP_ASTRO_SHARD_REJECT_FROZEN,
                                          NGX_HTTP_SERVICE_UNAVAILABLE);
            }

            index = e->target;
            break;

        case NGX_ASTRO_SHARD_SWITCHED:
            index = e->target;
            break;

        default: /* stable, copying */
            index = e->owner;
        }

        if (index == NGX_ASTRO_SHARD_NONE) {
            index = e->owner;
        }
    }

    shard = &ngx_astro_shard_table_shards(t)[index];
    ctx->shard_index = index;

    /*
     * Copies: the worker's table may be replaced by another request
     * while this one still logs or proxies.
     */

    ngx_astro_shard_table_string(t, &shard->name, &key);

    ctx->shard.len = key.len;
    ctx->shard.data = ngx_pstrdup(r->pool, &key);

    if (!ctx->write && slcf->replica && shard->read.len) {
        ngx_astro_shard_table_string(t, &shard->read, &key);

    } else {
        ngx_astro_shard_table_string(t, &shard->upstream, &key);
    }

    ctx->upstream.len = key.len;
    ctx->upstream.data = ngx_pstrdup(r->pool, &key);

    if (ctx->shard.data == NULL || ctx->upstream.data == NULL) {
        return NULL;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_shard: slot %i state %V shard \"%V\" "
                   "upstream \"%V\" version %uL",
                   ctx->slot, &ngx_astro_shard_state_names[ctx->state],
                   &ctx->shard, &ctx->upstream, ctx->version);

    return ctx;
}


static ngx_http_astro_shard_ctx_t *
ngx_http_astro_shard_refuse(ngx_http_request_t *r,
    ngx_http_astro_shard_ctx_t *ctx, ngx_uint_t reason, ngx_uint_t status)
{
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_shard: refused, %V: %ui",
                   &ngx_http_astro_shard_reasons[reason], status);

    ctx->reason = reason;
    ctx->status = status;

    return ctx;
}


/* access=: auto (GET, HEAD read), read, write, or $var saying which */

static ngx_uint_t
ngx_http_astro_shard_write(ngx_http_request_t *r,
    ngx_http_astro_shard_loc_conf_t *slcf)
{
    ngx_str_t   s;
    ngx_uint_t  access;

    access = slcf->access;

    if (access == NGX_HTTP_ASTRO_SHARD_ACCESS_VAR) {
        access = NGX_HTTP_ASTRO_SHARD_ACCESS_AUTO;

        if (ngx_http_complex_value(r, slcf->access_value, &s) == NGX_OK) {
            if (s.len == 4 && ngx_strncmp(s.data, "read", 4) == 0) {
                access = NGX_HTTP_ASTRO_SHARD_ACCESS_READ;

            } else if (s.len == 5 && ngx_strncmp(s.data, "write", 5) == 0) {
                access = NGX_HTTP_ASTRO_SHARD_ACCESS_WRITE;
            }
        }
    }

    switch (access) {

    case NGX_HTTP_ASTRO_SHARD_ACCESS_READ:
        return 0;

    case NGX_HTTP_ASTRO_SHARD_ACCESS_WRITE:
        return 1;

    default:
        return !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));
    }
}
