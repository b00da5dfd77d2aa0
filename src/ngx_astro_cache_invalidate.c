
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"
#include "ngx_astro_cache_parse.h"
#include "ngx_astro_status.h"


/*
 * The endpoint of astro_cache_invalidate: POST or PURGE with ?class=NAME
 * (the class's generation bumped) or ?key=TEXT[&mode=soft|hard] (one
 * entry of the cache= keys zone), then the invalidation published to
 * the other nodes when the zone has Redis; answered in JSON once Redis
 * took it or failed to.  Bad input is a 400 that changes nothing.
 */

#if (NGX_ASTRO_CACHE_KEY_MAX != NGX_HTTP_ASTRO_CACHE_KEY_LEN                  \
     || NGX_ASTRO_CACHE_CLASS_MAX != NGX_HTTP_ASTRO_CACHE_CLASS_LEN)
#error "ngx_astro_cache_parse.h's bounds differ from ngx_astro_cache.h's"
#endif


/* what was done, for the answer */
typedef struct {
    ngx_uint_t                        what;     /* NGX_ASTRO_CACHE_CLASS... */
    ngx_str_t                         value;    /* the class or the key */
    ngx_http_astro_cache_class_t     *class;
    ngx_atomic_uint_t                 gen;
    ngx_uint_t                        hard;
    ngx_http_astro_cache_purged_t     purged;
    ngx_str_t                         cache;    /* the keys zone's name */
    ngx_uint_t                        entries;  /* in it, after */
    off_t                             size;     /* bytes */
} ngx_http_astro_cache_inv_t;


/*
 * Waits for the publication's callback, which may come after the request
 * is gone: allocated apart, freed by whichever of the two ends it.
 */
typedef struct {
    ngx_http_request_t               *request;  /* NULL: gone or answered */
    ngx_pool_cleanup_t               *cln;
    ngx_http_astro_cache_inv_t       *inv;
    unsigned                          waiting:1;
    unsigned                          called:1;
    unsigned                          ok:1;
} ngx_http_astro_cache_waiter_t;


static ngx_uint_t ngx_http_astro_cache_inv_class(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_conf_t *icf, ngx_http_astro_cache_inv_t *inv,
    const char **error);
static ngx_uint_t ngx_http_astro_cache_inv_key(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_conf_t *icf, ngx_http_astro_cache_inv_t *inv,
    const char **error);
static ngx_int_t ngx_http_astro_cache_inv_publish(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_conf_t *icf, ngx_http_astro_cache_inv_t *inv);
static void ngx_http_astro_cache_published(void *data, ngx_uint_t ok);
static void ngx_http_astro_cache_inv_gone(void *data);
static ngx_int_t ngx_http_astro_cache_inv_answer(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_t *inv, const char *broadcast);
static ngx_int_t ngx_http_astro_cache_inv_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);
static ngx_int_t ngx_http_astro_cache_inv_header(ngx_http_request_t *r,
    char *key, char *value);


static ngx_str_t  ngx_http_astro_cache_json_type =
    ngx_string("application/json");


ngx_int_t
ngx_http_astro_cache_invalidate_handler(ngx_http_request_t *r)
{
    u_char                           *buf;
    ngx_int_t                         rc;
    ngx_uint_t                        status;
    const char                       *error;
    ngx_astro_cache_args_t            args;
    ngx_http_astro_cache_inv_t       *inv;
    ngx_http_astro_cache_loc_conf_t  *lcf;
    ngx_http_astro_cache_inv_conf_t  *icf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_astro_cache_module);
    icf = lcf->invalidate;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method != NGX_HTTP_POST
        && !(r->method == NGX_HTTP_UNKNOWN
             && r->method_name.len == 5
             && ngx_strncmp(r->method_name.data, "PURGE", 5) == 0))
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache_invalidate: method %V not allowed",
                       &r->method_name);

        if (ngx_http_astro_cache_inv_header(r, "Allow", "POST, PURGE")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_astro_cache_inv_error(r, NGX_HTTP_NOT_ALLOWED,
                                              "method not allowed");
    }

    buf = ngx_pnalloc(r->pool, NGX_ASTRO_CACHE_KEY_MAX);
    inv = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_cache_inv_t));

    if (buf == NULL || inv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_astro_cache_parse_args(r->args.data, r->args.len, buf, &args)
        != 0)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache_invalidate: \"%V\": %s", &r->args,
                       args.error);

        return ngx_http_astro_cache_inv_error(r, NGX_HTTP_BAD_REQUEST,
                                              args.error);
    }

    inv->what = args.what;
    inv->value.data = args.value;
    inv->value.len = args.len;

    if (args.what == NGX_ASTRO_CACHE_CLASS) {
        status = ngx_http_astro_cache_inv_class(r, icf, inv, &error);

    } else {
        inv->hard = (args.mode == NGX_ASTRO_CACHE_MODE_CONF)
                    ? icf->hard : (args.mode == NGX_ASTRO_CACHE_MODE_HARD);

        status = ngx_http_astro_cache_inv_key(r, icf, inv, &error);
    }

    if (status != NGX_HTTP_OK) {
        return ngx_http_astro_cache_inv_error(r, status, error);
    }

    return ngx_http_astro_cache_inv_publish(r, icf, inv);
}


/* NGX_HTTP_OK, or the status of the error */

static ngx_uint_t
ngx_http_astro_cache_inv_class(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_conf_t *icf, ngx_http_astro_cache_inv_t *inv,
    const char **error)
{
    inv->class = ngx_http_astro_cache_class(icf->zone, &inv->value);

    if (inv->class == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "astro_cache_invalidate: unknown class \"%V\"",
                       &inv->value);

        *error = "unknown class";
        return NGX_HTTP_BAD_REQUEST;
    }

    inv->gen = ngx_http_astro_cache_bump(icf->zone, inv->class);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache_invalidate: class \"%V\" generation %uA",
                   &inv->value, inv->gen);

    return NGX_HTTP_OK;
}


static ngx_uint_t
ngx_http_astro_cache_inv_key(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_conf_t *icf, ngx_http_astro_cache_inv_t *inv,
    const char **error)
{
    ngx_int_t               rc;
    ngx_http_file_cache_t  *cache;

    if (icf->cache == NULL) {
        *error = "no cache= for keys here";
        return NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_http_astro_cache_purge(icf->cache, &inv->value, inv->hard,
                                    r->connection->log, &inv->purged);

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache_invalidate: key \"%V\" %s: %i, found %d, "
                   "in use %d, done %d", &inv->value,
                   inv->hard ? "hard" : "soft", rc, inv->purged.found,
                   inv->purged.in_use,
                   inv->purged.removed || inv->purged.expired);

    if (rc == NGX_ERROR) {
        *error = "failed, see the error log";
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *error = "keys zone not in use";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /* counted under "default": a key has no class */

    ngx_http_astro_cache_count(icf->zone->classes.elts,
                               NGX_HTTP_ASTRO_CACHE_KEY_LOCAL);

    /* the keys zone after it, for the operator */

    cache = icf->cache->data;
    inv->cache = icf->cache->shm.name;

    ngx_shmtx_lock(&cache->shpool->mutex);
    inv->entries = cache->sh->count;
    inv->size = cache->sh->size;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    inv->size *= cache->bsize;

    return NGX_HTTP_OK;
}


/* published to the other nodes: answered now, or when Redis answers */

static ngx_int_t
ngx_http_astro_cache_inv_publish(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_conf_t *icf, ngx_http_astro_cache_inv_t *inv)
{
    ngx_int_t                       rc;
    const char                     *broadcast;
    ngx_pool_cleanup_t             *cln;
    ngx_http_astro_cache_waiter_t  *w;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w = ngx_calloc(sizeof(ngx_http_astro_cache_waiter_t), r->connection->log);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->request = r;
    w->cln = cln;
    w->inv = inv;

    cln->handler = ngx_http_astro_cache_inv_gone;
    cln->data = w;

    if (inv->what == NGX_ASTRO_CACHE_CLASS) {
        rc = ngx_http_astro_cache_publish_class(icf->zone, inv->class,
                                                ngx_http_astro_cache_published,
                                                w);

    } else {
        rc = ngx_http_astro_cache_publish_key(icf->zone, &inv->value,
                                              inv->hard,
                                              ngx_http_astro_cache_published,
                                              w);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_cache_invalidate: publish: %i, answered %d",
                   rc, w->called);

    if (rc != NGX_DECLINED && !w->called && rc != NGX_ERROR) {

        /* the callback ends the request */

        w->waiting = 1;
        r->main->count++;

        return NGX_DONE;
    }

    if (rc == NGX_DECLINED) {
        broadcast = "off";

    } else if (w->called) {
        broadcast = w->ok ? "ok" : "failed";

    } else {

        /* an error, the callback may still come: it frees w then */

        w->request = NULL;
        cln->handler = NULL;

        return ngx_http_astro_cache_inv_answer(r, inv, "failed");
    }

    cln->handler = NULL;
    ngx_free(w);

    return ngx_http_astro_cache_inv_answer(r, inv, broadcast);
}


static void
ngx_http_astro_cache_published(void *data, ngx_uint_t ok)
{
    ngx_http_astro_cache_waiter_t  *w = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->request;

    if (r == NULL) {
        ngx_free(w);
        return;
    }

    w->called = 1;
    w->ok = ok ? 1 : 0;

    if (!w->waiting) {

        /* before publish_*() returned: the handler answers */
        return;
    }

    c = r->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "astro_cache_invalidate: published: %ui", ok);

    w->cln->handler = NULL;

    rc = ngx_http_astro_cache_inv_answer(r, w->inv, ok ? "ok" : "failed");

    ngx_free(w);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the request ends before the callback: the callback frees w */

static void
ngx_http_astro_cache_inv_gone(void *data)
{
    ngx_http_astro_cache_waiter_t  *w = data;

    w->request = NULL;
}


static ngx_int_t
ngx_http_astro_cache_inv_answer(ngx_http_request_t *r,
    ngx_http_astro_cache_inv_t *inv, const char *broadcast)
{
    ngx_astro_out_t                 out;
    ngx_http_astro_cache_purged_t  *p;

    ngx_astro_out_init(&out, r->pool);

    if (inv->what == NGX_ASTRO_CACHE_CLASS) {
        ngx_astro_out_literal(&out, "{\"invalidated\":\"class\",\"class\":");
        ngx_astro_out_json_str(&out, inv->value.data, inv->value.len);
        ngx_astro_out_printf(&out, ",\"generation\":%uA", inv->gen);

    } else {
        p = &inv->purged;

        ngx_astro_out_literal(&out, "{\"invalidated\":\"key\",\"key\":");
        ngx_astro_out_json_str(&out, inv->value.data, inv->value.len);
        ngx_astro_out_printf(&out, ",\"mode\":\"%s\",\"found\":%s,"
                             "\"in_use\":%s,\"%s\":%s,\"cache\":",
                             inv->hard ? "hard" : "soft",
                             p->found ? "true" : "false",
                             p->in_use ? "true" : "false",
                             inv->hard ? "removed" : "expired",
                             (inv->hard ? p->removed : p->expired)
                             ? "true" : "false");
        ngx_astro_out_json_str(&out, inv->cache.data, inv->cache.len);
        ngx_astro_out_printf(&out, ",\"entries\":%ui,\"size\":%O",
                             inv->entries, inv->size);
    }

    ngx_astro_out_printf(&out, ",\"broadcast\":\"%s\"}\n", broadcast);

    return ngx_http_astro_status_send(r, NGX_HTTP_OK,
                                      &ngx_http_astro_cache_json_type, &out);
}


static ngx_int_t
ngx_http_astro_cache_inv_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    ngx_astro_out_t  out;

    ngx_astro_out_init(&out, r->pool);

    ngx_astro_out_literal(&out, "{\"error\":");
    ngx_astro_out_json_str(&out, (u_char *) error, ngx_strlen(error));
    ngx_astro_out_literal(&out, "}\n");

    return ngx_http_astro_status_send(r, status,
                                      &ngx_http_astro_cache_json_type, &out);
}


static ngx_int_t
ngx_http_astro_cache_inv_header(ngx_http_request_t *r, char *key,
    char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}
