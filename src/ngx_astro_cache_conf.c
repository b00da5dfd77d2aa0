
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_cache.h"


/*
 * The parameters of the cache module's directives: each parser takes one
 * argument and answers NGX_CONF_OK, or NGX_CONF_ERROR after logging it in
 * nginx's words, naming the value and the directive (cf->args' first).
 */


static ngx_int_t ngx_http_astro_cache_factor(ngx_str_t *s, ngx_uint_t min,
    ngx_uint_t max, ngx_uint_t *factor);


/* proxy_cache_valid's "any", less what may be private to one client */

static ngx_uint_t  ngx_http_astro_cache_default_codes[] = {
    200, 203, 204, 206, 301, 404, 410, 0
};


void
ngx_http_astro_cache_default_status(ngx_http_astro_cache_class_t *class)
{
    ngx_uint_t  i, code;

    ngx_memzero(class->status, sizeof(class->status));

    for (i = 0; ngx_http_astro_cache_default_codes[i]; i++) {
        code = ngx_http_astro_cache_default_codes[i];
        class->status[code >> 6] |= (uint64_t) 1 << (code & 63);
    }
}


/* astro_cache_zone's redis= and sync= */

char *
ngx_http_astro_cache_zone_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_cache_zone_t *zone)
{
    ngx_str_t  s;

    if (ngx_astro_conf_param(arg, "redis", &s) && s.len) {
        zone->redis_url = s;
        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "sync", &s)
        && ngx_astro_conf_msec(&s, 100, &zone->sync) == NGX_OK)
    {
        return NGX_CONF_OK;
    }

    return ngx_astro_conf_invalid(cf, arg);
}


/* astro_cache_ttl's stale=, stale_if_error=, refresh= and status= */

char *
ngx_http_astro_cache_ttl_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_cache_class_t *class)
{
    u_char      *p, *last, *next;
    ngx_int_t    code;
    ngx_str_t    s, *value;
    ngx_uint_t   n;

    if (ngx_astro_conf_param(arg, "stale", &s)) {
        if (ngx_astro_conf_sec(&s, 0, &class->stale) != NGX_OK) {
            return ngx_astro_conf_invalid(cf, arg);
        }

        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "stale_if_error", &s)) {
        if (ngx_astro_conf_sec(&s, 0, &class->stale_if_error) != NGX_OK) {
            return ngx_astro_conf_invalid(cf, arg);
        }

        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "refresh", &s)) {

        /* "N%": the share of the TTL stored fresh, 1% to 99% */

        if (s.len < 2 || s.data[s.len - 1] != '%') {
            return ngx_astro_conf_invalid(cf, arg);
        }

        s.len--;

        if (ngx_astro_conf_number(&s, 1, 99, &n) != NGX_OK) {
            return ngx_astro_conf_invalid(cf, arg);
        }

        class->refresh = n;

        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "status", &s) && s.len) {

        /* "status=200,301" or the codes in the arguments that follow */

        ngx_memzero(class->status, sizeof(class->status));

        p = s.data;
        last = s.data + s.len;

        while (p < last) {
            next = ngx_strlchr(p, last, ',');
            if (next == NULL) {
                next = last;
            }

            code = ngx_atoi(p, next - p);

            if (code < 100 || code > 599) {
                value = cf->args->elts;

                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid status code \"%*s\" of \"%V\" "
                                   "in \"%V\" directive",
                                   next - p, p, arg, &value[0]);
                return NGX_CONF_ERROR;
            }

            class->status[code >> 6] |= (uint64_t) 1 << (code & 63);

            p = next + 1;
        }

        return NGX_CONF_OK;
    }

    return ngx_astro_conf_invalid(cf, arg);
}


/* astro_cache_adaptive's parameters */

char *
ngx_http_astro_cache_adaptive_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_cache_adaptive_t *adaptive)
{
    u_char      *slash;
    ngx_str_t    s, n, t;
    ngx_uint_t  *fp;

    if (ngx_astro_conf_param(arg, "max_ttl", &s)) {
        if (ngx_astro_conf_sec(&s, 1, &adaptive->max_ttl) != NGX_OK) {
            return ngx_astro_conf_invalid(cf, arg);
        }

        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "churn", &s)) {

        /* "N/time": more than N class invalidations in time */

        slash = ngx_strlchr(s.data, s.data + s.len, '/');
        if (slash == NULL) {
            return ngx_astro_conf_invalid(cf, arg);
        }

        n.data = s.data;
        n.len = slash - s.data;
        t.data = slash + 1;
        t.len = s.data + s.len - t.data;

        if (ngx_astro_conf_number(&n, 1, 1000000, &adaptive->churn) != NGX_OK
            || ngx_astro_conf_sec(&t, 1, &adaptive->churn_period) != NGX_OK)
        {
            return ngx_astro_conf_invalid(cf, arg);
        }

        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "shrink", &s)) {

        /* a factor below 1, two decimals */

        if (ngx_http_astro_cache_factor(&s, 1, 99, &adaptive->shrink)
            != NGX_OK)
        {
            return ngx_astro_conf_invalid(cf, arg);
        }

        return NGX_CONF_OK;
    }

    if (ngx_astro_conf_param(arg, "degraded", &s)) {
        fp = &adaptive->degraded;

    } else if (ngx_astro_conf_param(arg, "critical", &s)) {
        fp = &adaptive->critical;

    } else {
        return ngx_astro_conf_invalid(cf, arg);
    }

    /* a factor from 1 to 100, two decimals */

    if (ngx_http_astro_cache_factor(&s, 100, 10000, fp) != NGX_OK) {
        return ngx_astro_conf_invalid(cf, arg);
    }

    return NGX_CONF_OK;
}


/* a factor with at most two decimals, x 100, within min and max */

static ngx_int_t
ngx_http_astro_cache_factor(ngx_str_t *s, ngx_uint_t min, ngx_uint_t max,
    ngx_uint_t *factor)
{
    ngx_int_t  n;

    n = ngx_atofp(s->data, s->len, 2);

    if (n == NGX_ERROR || (ngx_uint_t) n < min || (ngx_uint_t) n > max) {
        return NGX_ERROR;
    }

    *factor = n;

    return NGX_OK;
}
