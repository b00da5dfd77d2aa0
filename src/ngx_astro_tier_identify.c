
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_jwt.h"
#include "ngx_astro_tier.h"


/*
 * A request's tier: worked out once, when the balancer, the queue or a
 * variable first asks, from the astro_tier or astro_tier_jwt of the
 * request's location, and kept in the module's context.  Whatever is not
 * proved gives the lowest tier; $astro_tier_reason says why.  An
 * internal redirect clears the context, so the new location's source
 * decides.
 */


static ngx_int_t ngx_http_astro_tier_from_variable(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_source_t *source, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx);
static ngx_int_t ngx_http_astro_tier_from_jwt(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_source_t *source, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx);


/*
 * $astro_tier_reason: stable words, documented in docs/tier_upstream.md;
 * the JWT ones indexed by NGX_ASTRO_JWT_*.
 */

static ngx_str_t  ngx_http_astro_tier_jwt_reasons[] = {
    ngx_string("jwt"),
    ngx_string("no_token"),
    ngx_string("malformed"),
    ngx_string("bad_alg"),
    ngx_string("bad_signature"),
    ngx_string("expired"),
    ngx_string("not_yet_valid"),
    ngx_string("no_claim"),
    ngx_string("error")
};

static ngx_str_t  ngx_http_astro_tier_why_none =
    ngx_string("none");
static ngx_str_t  ngx_http_astro_tier_why_variable =
    ngx_string("variable");
static ngx_str_t  ngx_http_astro_tier_why_no_tier =
    ngx_string("no_tier");
static ngx_str_t  ngx_http_astro_tier_why_unknown =
    ngx_string("unknown_tier");


ngx_int_t
ngx_http_astro_tier_index(ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_str_t *name)
{
    return ngx_astro_conf_index(&tmcf->tiers, name);
}


/* "echo secret > file" makes a key file: one trailing newline is dropped */

ngx_int_t
ngx_http_astro_tier_read_key(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *key)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", path);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", path);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_ASTRO_TIER_KEY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is larger than %d bytes",
                           path, NGX_HTTP_ASTRO_TIER_KEY_MAX);
        goto done;
    }

    key->data = ngx_pnalloc(cf->pool, NGX_HTTP_ASTRO_TIER_KEY_MAX);
    if (key->data == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, key->data, NGX_HTTP_ASTRO_TIER_KEY_MAX);
    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", path);
        goto done;
    }

    if (n > 0 && key->data[n - 1] == LF) {
        n--;

        if (n > 0 && key->data[n - 1] == CR) {
            n--;
        }
    }

    /* RFC 7518, 3.2: an HS256 key has at least 256 bits */

    if (n < NGX_HTTP_ASTRO_TIER_KEY_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is shorter than %d bytes",
                           path, NGX_HTTP_ASTRO_TIER_KEY_MIN);
        goto done;
    }

    key->len = n;
    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return rc;
}


ngx_http_astro_tier_ctx_t *
ngx_http_astro_tier_identify(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         value;
    ngx_http_astro_tier_ctx_t        *ctx;
    ngx_http_astro_tier_source_t     *source;
    ngx_http_astro_tier_loc_conf_t   *tlcf;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_astro_tier_upstream_module);
    if (ctx && ctx->done) {
        return ctx;
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_astro_tier_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        /*
         * set by ngx_pcalloc():
         *
         *     ctx->user = { 0, NULL };
         *     ctx->done = 0;
         */

        ngx_http_set_ctx(r, ctx, ngx_astro_tier_upstream_module);
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_astro_tier_upstream_module);
    tlcf = ngx_http_get_module_loc_conf(r, ngx_astro_tier_upstream_module);

    ctx->tier = tmcf->lowest;
    ngx_str_null(&ctx->user);

    source = tlcf->source;

    if (source == NULL) {
        ctx->reason = ngx_http_astro_tier_why_none;

    } else {
        if (ngx_http_complex_value(r, source->value, &value) != NGX_OK) {
            return NULL;
        }

        if (source->type == NGX_HTTP_ASTRO_TIER_SOURCE_JWT) {
            rc = ngx_http_astro_tier_from_jwt(r, tmcf, source, &value, ctx);

        } else {
            rc = ngx_http_astro_tier_from_variable(r, tmcf, source, &value,
                                                   ctx);
        }

        if (rc != NGX_OK) {
            return NULL;
        }
    }

#if (NGX_DEBUG)
    {
    ngx_http_astro_tier_t  *tier;

    tier = tmcf->tiers.elts;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_tier: tier \"%V\", reason \"%V\", user \"%V\"",
                   &tier[ctx->tier].name, &ctx->reason, &ctx->user);
    }
#endif

    ctx->done = 1;

    return ctx;
}


static ngx_int_t
ngx_http_astro_tier_from_variable(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_source_t *source, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx)
{
    ngx_int_t  n;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_tier: \"%V\" is \"%V\"",
                   &source->value->value, value);

    if (value->len == 0) {
        ctx->reason = ngx_http_astro_tier_why_no_tier;
        return NGX_OK;
    }

    n = ngx_http_astro_tier_index(tmcf, value);

    if (n == NGX_ERROR) {
        ctx->reason = ngx_http_astro_tier_why_unknown;
        return NGX_OK;
    }

    ctx->tier = n;
    ctx->reason = ngx_http_astro_tier_why_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_tier_from_jwt(ngx_http_request_t *r,
    ngx_http_astro_tier_main_conf_t *tmcf,
    ngx_http_astro_tier_source_t *source, ngx_str_t *value,
    ngx_http_astro_tier_ctx_t *ctx)
{
    int                     rc;
    u_char                 *buf;
    ngx_int_t               n;
    ngx_str_t               name;
    ngx_uint_t              level;
    ngx_astro_jwt_conf_t    jc;
    ngx_astro_jwt_claims_t  claims;

    /*
     * A longer value is refused before its buffer would be needed: the
     * value less "Bearer " is at most value->len, and above the limit
     * it is malformed at once.
     */

    buf = ngx_pnalloc(r->pool,
                      NGX_ASTRO_JWT_BUF_SIZE(ngx_min(value->len,
                                                     NGX_ASTRO_JWT_MAX_LEN)));
    if (buf == NULL) {
        return NGX_ERROR;
    }

    jc.key = source->key.data;
    jc.key_len = source->key.len;
    jc.now = ngx_time();
    jc.leeway = source->leeway;
    jc.claim = (const char *) source->claim.data;
    jc.claim_len = source->claim.len;
    jc.user_claim = (const char *) source->user_claim.data;
    jc.user_claim_len = source->user_claim.len;

    rc = ngx_astro_jwt_verify(&jc, value->data, value->len, buf, &claims);

    if (rc < 0 || rc >= NGX_ASTRO_JWT_NRESULTS) {
        rc = NGX_ASTRO_JWT_ERROR;
    }

    ctx->reason = ngx_http_astro_tier_jwt_reasons[rc];

    if (rc != NGX_ASTRO_JWT_OK) {

        /* no token is the anonymous user; a bad one is worth a line */

        level = (rc == NGX_ASTRO_JWT_ERROR) ? NGX_LOG_ERR
                : (rc == NGX_ASTRO_JWT_NO_TOKEN) ? NGX_LOG_DEBUG
                : NGX_LOG_INFO;

        ngx_log_error(level, r->connection->log, 0,
                      "astro_tier_jwt: token refused (%V), lowest tier",
                      &ctx->reason);

        return NGX_OK;
    }

    name.data = claims.tier;
    name.len = claims.tier_len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_tier: token valid, claim \"%V\" is \"%V\"",
                   &source->claim, &name);

    n = ngx_http_astro_tier_index(tmcf, &name);

    if (n == NGX_ERROR) {
        ctx->reason = ngx_http_astro_tier_why_unknown;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "astro_tier_jwt: token refused (%V), lowest tier",
                      &ctx->reason);

        return NGX_OK;
    }

    ctx->tier = n;
    ctx->user.data = claims.user;
    ctx->user.len = claims.user_len;

    return NGX_OK;
}


