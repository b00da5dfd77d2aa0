
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"


/* the response headers of a request's decision: RateLimit-*, Retry-After */


static ngx_int_t ngx_http_astro_ratelimit_header(ngx_http_request_t *r,
    const char *name, const char *fmt, ...);


/*
 * RateLimit-Limit is what may pass at once from a whole limit: the rate's
 * count in its window for the sliding window, burst + 1 for GCRA, whose
 * window (for the draft's "w") is the time those take to come back.
 * Seconds are rounded up, so that a client waiting them is let through.
 */

ngx_int_t
ngx_http_astro_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, ngx_uint_t headers,
    ngx_uint_t rejected)
{
    uint64_t  limit, window, reset, retry;

    if (d->zone->algorithm == NGX_HTTP_ASTRO_RL_GCRA) {
        limit = (uint64_t) d->burst + 1;
        window = (limit * d->rate.period + d->rate.count - 1) / d->rate.count;

    } else {
        limit = d->rate.count;
        window = d->rate.period;
    }

    reset = (d->res.reset + NGX_ASTRO_LIMIT_USEC - 1) / NGX_ASTRO_LIMIT_USEC;

    if (rejected) {
        retry = (d->res.retry_after + NGX_ASTRO_LIMIT_USEC - 1)
                / NGX_ASTRO_LIMIT_USEC;

        if (ngx_http_astro_ratelimit_header(r, "Retry-After", "%uL",
                                            ngx_max(retry, 1))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    switch (headers) {

    case NGX_HTTP_ASTRO_RL_HEADERS_ON:
        if (ngx_http_astro_ratelimit_header(r, "RateLimit-Limit", "%uL",
                                            limit)
            != NGX_OK
            || ngx_http_astro_ratelimit_header(r, "RateLimit-Remaining",
                                               "%uL", d->res.remaining)
               != NGX_OK
            || ngx_http_astro_ratelimit_header(r, "RateLimit-Reset", "%uL",
                                               reset)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_ASTRO_RL_HEADERS_DRAFT:
        /* draft-ietf-httpapi-ratelimit-headers-07: structured fields */

        if (ngx_http_astro_ratelimit_header(r, "RateLimit-Policy",
                                            "%uL;w=%uL", limit, window)
            != NGX_OK
            || ngx_http_astro_ratelimit_header(r, "RateLimit",
                                        "limit=%uL, remaining=%uL, reset=%uL",
                                        limit, d->res.remaining, reset)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    default: /* NGX_HTTP_ASTRO_RL_HEADERS_OFF */
        break;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_ratelimit_header(ngx_http_request_t *r, const char *name,
    const char *fmt, ...)
{
    u_char           *p;
    va_list           args;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    /* three numbers of at most 20 digits and the words between them */

    p = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN + 32);
    if (p == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    va_start(args, fmt);
    h->value.len = ngx_vslprintf(p, p + 3 * NGX_INT64_LEN + 32, fmt, args)
                   - p;
    va_end(args);

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = p;

    return NGX_OK;
}
