
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_md5.h>
#include "ngx_astro_cache.h"


/*
 * One entry of a proxy_cache keys zone, found by the text of its key as
 * nginx finds it: the md5 of the text (ngx_http_file_cache_create_key()
 * with the one key of proxy_cache_key), looked up in the zone's rbtree.
 * nginx's own lookup and delete are static in ngx_http_file_cache.c; the
 * few lines are redone here, under the zone's mutex, on the public node
 * layout of ngx_http_cache.h.  The file's I/O is done outside the mutex,
 * the node pinned meanwhile (count, deleting), as the cache manager does:
 * neither the manager nor another purge touches it then.
 */

#if (nginx_version / 1000 != 1022)
#error "ngx_astro_cache_purge.c: written against nginx 1.22's keys zone"
#endif


static ngx_http_file_cache_node_t *ngx_http_astro_cache_lookup(
    ngx_http_file_cache_t *cache, u_char *md5);
static void ngx_http_astro_cache_hard(ngx_http_file_cache_t *cache,
    ngx_http_file_cache_node_t *fcn, u_char *name, ngx_log_t *log,
    ngx_http_astro_cache_purged_t *res);
static ngx_int_t ngx_http_astro_cache_soft(ngx_http_file_cache_t *cache,
    ngx_http_file_cache_node_t *fcn, u_char *name, ngx_str_t *key,
    uint32_t crc32, ngx_log_t *log, ngx_http_astro_cache_purged_t *res);
static ngx_int_t ngx_http_astro_cache_expire_file(u_char *name,
    ngx_str_t *key, uint32_t crc32, ngx_log_t *log);


static u_char  ngx_http_astro_cache_key_line[] = {
    LF, 'K', 'E', 'Y', ':', ' '
};


/*
 * NGX_OK: res says what was found and done; NGX_DECLINED: not a keys zone
 * in use, or a key of no entry's length; NGX_ERROR: a system call failed
 * (logged).
 */

ngx_int_t
ngx_http_astro_cache_purge(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t hard, ngx_log_t *log, ngx_http_astro_cache_purged_t *res)
{
    u_char                      *name, *p;
    size_t                       len;
    uint32_t                     crc32;
    ngx_int_t                    rc;
    ngx_md5_t                    md5;
    ngx_path_t                  *path;
    ngx_http_file_cache_t       *cache;
    ngx_http_file_cache_node_t  *fcn;
    u_char                       digest[NGX_HTTP_CACHE_KEY_LEN];

    ngx_memzero(res, sizeof(ngx_http_astro_cache_purged_t));

    cache = shm_zone->data;

    if (cache == NULL || cache->sh == NULL || key->len == 0
        || key->len > NGX_HTTP_ASTRO_CACHE_KEY_LEN)
    {
        return NGX_DECLINED;
    }

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, key->data, key->len);
    ngx_md5_final(digest, &md5);

    crc32 = ngx_crc32_long(key->data, key->len);

    /* the file's name, as ngx_http_file_cache_name() makes it */

    path = cache->path;
    len = path->name.len + 1 + path->len + 2 * NGX_HTTP_CACHE_KEY_LEN;

    name = ngx_alloc(len + 1, log);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(name, path->name.data, path->name.len);
    p = name + path->name.len + 1 + path->len;
    p = ngx_hex_dump(p, digest, NGX_HTTP_CACHE_KEY_LEN);
    *p = '\0';

    ngx_create_hashed_filename(path, name, len);

    rc = NGX_OK;

    ngx_shmtx_lock(&cache->shpool->mutex);

    fcn = ngx_http_astro_cache_lookup(cache, digest);

    if (fcn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_cache_invalidate: \"%s\" not in the keys zone",
                       name);
        goto done;
    }

    res->found = 1;

    if (fcn->deleting) {

        /* the cache manager or another purge has it now */

        ngx_shmtx_unlock(&cache->shpool->mutex);

        res->in_use = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_cache_invalidate: \"%s\" being deleted", name);
        goto done;
    }

    if (hard) {
        ngx_http_astro_cache_hard(cache, fcn, name, log, res);
        ngx_shmtx_unlock(&cache->shpool->mutex);
        goto done;
    }

    rc = ngx_http_astro_cache_soft(cache, fcn, name, key, crc32, log, res);

done:

    ngx_free(name);

    return rc;
}


/* ngx_http_file_cache_lookup() */

static ngx_http_file_cache_node_t *
ngx_http_astro_cache_lookup(ngx_http_file_cache_t *cache, u_char *md5)
{
    ngx_int_t                    rc;
    ngx_rbtree_key_t             node_key;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_file_cache_node_t  *fcn;

    ngx_memcpy((u_char *) &node_key, md5, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (node_key < node->key) {
            node = node->left;
            continue;
        }

        if (node_key > node->key) {
            node = node->right;
            continue;
        }

        fcn = (ngx_http_file_cache_node_t *) node;

        rc = ngx_memcmp(&md5[sizeof(ngx_rbtree_key_t)], fcn->key,
                        NGX_HTTP_CACHE_KEY_LEN - sizeof(ngx_rbtree_key_t));

        if (rc == 0) {
            return fcn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * ngx_http_file_cache_delete(), for a node that may be in use: its file
 * is unlinked and its size given back at once (exists 0, fs_size 0, so
 * that a store in flight, ngx_http_file_cache_update(), adds exactly its
 * own size); the node goes when nobody holds it, else it stays to its
 * users, "updating" untouched.  Called and returns with the mutex held.
 */

static void
ngx_http_astro_cache_hard(ngx_http_file_cache_t *cache,
    ngx_http_file_cache_node_t *fcn, u_char *name, ngx_log_t *log,
    ngx_http_astro_cache_purged_t *res)
{
    ngx_err_t   err;
    ngx_uint_t  level;

    if (fcn->exists) {
        cache->sh->size -= fcn->fs_size;
        fcn->fs_size = 0;
        fcn->exists = 0;

        fcn->count++;
        fcn->deleting = 1;
        ngx_shmtx_unlock(&cache->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_cache_invalidate: delete \"%s\"", name);

        if (ngx_delete_file(name) == NGX_FILE_ERROR) {
            err = ngx_errno;

            /* gone already: someone else's work, not an error */

            level = (err == NGX_ENOENT) ? NGX_LOG_INFO : NGX_LOG_ALERT;

            ngx_log_error(level, log, err,
                          ngx_delete_file_n " \"%s\" failed", name);
        }

        ngx_shmtx_lock(&cache->shpool->mutex);
        fcn->count--;
        fcn->deleting = 0;

        /* no request finds it from now on, whoever holds the node */
        res->removed = 1;
    }

    if (fcn->count) {
        res->in_use = 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_cache_invalidate: \"%s\" in use (%d), "
                       "node left", name, fcn->count);
        return;
    }

    ngx_queue_remove(&fcn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &fcn->node);
    ngx_slab_free_locked(cache->shpool, fcn);
    cache->sh->count--;

    res->removed = 1;
}


/*
 * The entry's file made expired: valid_sec in its header set in the
 * past, as ngx_http_file_cache_update_header() writes it, so that the
 * next request finds it STALE (and refreshes it, within its updating
 * window) or EXPIRED.  A cached error lives in the node: valid_sec 0.
 * Called with the mutex held, returns without it.
 */

static ngx_int_t
ngx_http_astro_cache_soft(ngx_http_file_cache_t *cache,
    ngx_http_file_cache_node_t *fcn, u_char *name, ngx_str_t *key,
    uint32_t crc32, ngx_log_t *log, ngx_http_astro_cache_purged_t *res)
{
    ngx_int_t  rc;

    if (fcn->error) {
        fcn->valid_sec = 0;
        res->expired = 1;
    }

    if (!fcn->exists) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_OK;
    }

    fcn->count++;
    fcn->deleting = 1;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    rc = ngx_http_astro_cache_expire_file(name, key, crc32, log);

    ngx_shmtx_lock(&cache->shpool->mutex);
    fcn->count--;
    fcn->deleting = 0;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (rc == NGX_OK || rc == NGX_DONE) {
        res->expired = 1;
        res->already = (rc == NGX_DONE);
    }

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/*
 * NGX_OK: expired; NGX_DONE: it was expired already (a node's own soft
 * invalidation coming back from Redis finds it so); NGX_DECLINED: no such
 * file, or not the key's
 */

static ngx_int_t
ngx_http_astro_cache_expire_file(u_char *name, ngx_str_t *key,
    uint32_t crc32, ngx_log_t *log)
{
    u_char                        *buf, *p;
    size_t                         len;
    time_t                         now;
    ssize_t                        n;
    ngx_err_t                      err;
    ngx_int_t                      rc;
    ngx_file_t                     file;
    ngx_http_file_cache_header_t   h;

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name.data = name;
    file.name.len = ngx_strlen(name);
    file.log = log;

    file.fd = ngx_open_file(name, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                           "astro_cache_invalidate: \"%s\" not found", name);
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ALERT, log, err,
                      ngx_open_file_n " \"%s\" failed", name);
        return NGX_ERROR;
    }

    /* the header, "\nKEY: ", the key and its LF */

    len = sizeof(ngx_http_file_cache_header_t)
          + sizeof(ngx_http_astro_cache_key_line) + key->len + 1;

    rc = NGX_ERROR;

    buf = ngx_alloc(len, log);
    if (buf == NULL) {
        goto close;
    }

    n = ngx_read_file(&file, buf, len, 0);

    if (n == NGX_ERROR) {
        goto close;
    }

    rc = NGX_DECLINED;

    if ((size_t) n != len) {
        goto other;
    }

    ngx_memcpy(&h, buf, sizeof(ngx_http_file_cache_header_t));
    p = buf + sizeof(ngx_http_file_cache_header_t);

    if (h.version != NGX_HTTP_CACHE_VERSION
        || h.crc32 != crc32
        || (size_t) h.header_start != len
        || ngx_memcmp(p, ngx_http_astro_cache_key_line,
                      sizeof(ngx_http_astro_cache_key_line)) != 0
        || ngx_memcmp(p + sizeof(ngx_http_astro_cache_key_line), key->data,
                      key->len) != 0
        || buf[len - 1] != LF)
    {
        goto other;
    }

    rc = NGX_OK;
    now = ngx_time();

    if (h.valid_sec < now) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_cache_invalidate: \"%s\" expired already",
                       name);
        rc = NGX_DONE;
        goto close;
    }

    h.valid_sec = now - 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_cache_invalidate: \"%s\" valid until %T", name,
                   h.valid_sec);

    n = ngx_write_file(&file, (u_char *) &h.valid_sec, sizeof(time_t),
                       offsetof(ngx_http_file_cache_header_t, valid_sec));

    if (n != (ssize_t) sizeof(time_t)) {
        rc = NGX_ERROR;
        goto close;
    }

    /* no refresh-ahead split: its window is no refresh window now */

    h.valid_msec = 0;

    n = ngx_write_file(&file, (u_char *) &h.valid_msec, sizeof(u_short),
                       offsetof(ngx_http_file_cache_header_t, valid_msec));

    if (n != (ssize_t) sizeof(u_short)) {
        rc = NGX_ERROR;
    }

    goto close;

other:

    /* an md5 collision, or a file written meanwhile for another key */

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "astro_cache_invalidate: \"%s\" is not of the key "
                  "\"%V\", left as it is", name, key);

close:

    if (buf) {
        ngx_free(buf);
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name);
    }

    return rc;
}
