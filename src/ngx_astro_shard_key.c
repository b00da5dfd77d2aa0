
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_key.h"


#define ngx_astro_digit(c)  ((c) >= '0' && (c) <= '9')


static ngx_int_t ngx_astro_shard_key_digits(u_char *p, size_t n,
    int64_t *value);


ngx_int_t
ngx_astro_shard_key_date(u_char *p, size_t len, ngx_uint_t prefix,
    int64_t *value)
{
    int64_t  y, m, d, days;

    if (len < 10 || (len > 10 && (!prefix || ngx_astro_digit(p[10])))) {
        return NGX_DECLINED;
    }

    if (p[4] != '-' || p[7] != '-'
        || ngx_astro_shard_key_digits(p, 4, &y) != NGX_OK
        || ngx_astro_shard_key_digits(p + 5, 2, &m) != NGX_OK
        || ngx_astro_shard_key_digits(p + 8, 2, &d) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (m < 1 || m > 12 || d < 1) {
        return NGX_DECLINED;
    }

    if (m == 2) {
        days = ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : 28;

    } else if (m == 4 || m == 6 || m == 9 || m == 11) {
        days = 30;

    } else {
        days = 31;
    }

    if (d > days) {
        return NGX_DECLINED;
    }

    *value = y * 10000 + m * 100 + d;

    return NGX_OK;
}


ngx_int_t
ngx_astro_shard_key_number(u_char *p, size_t len, int64_t *value)
{
    u_char    *end;
    uint64_t   v, max;
    ngx_int_t  neg;

    end = p + len;
    neg = (len > 0 && *p == '-');

    if (neg) {
        p++;
    }

    if (p == end || end - p > 19) {
        return NGX_DECLINED;
    }

    /* 19 digits may pass INT64_MAX, never 2^64 */
    max = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    v = 0;

    for ( /* void */ ; p < end; p++) {
        if (!ngx_astro_digit(*p)) {
            return NGX_DECLINED;
        }

        v = v * 10 + (*p - '0');
    }

    if (v > max) {
        return NGX_DECLINED;
    }

    *value = neg ? (int64_t) (0 - v) : (int64_t) v;

    return NGX_OK;
}


ngx_int_t
ngx_astro_shard_key_bound(u_char *p, size_t len, ngx_uint_t *kind,
    int64_t *value)
{
    if (ngx_astro_shard_key_date(p, len, 0, value) == NGX_OK) {
        *kind = NGX_ASTRO_SHARD_KIND_DATE;
        return NGX_OK;
    }

    if (ngx_astro_shard_key_number(p, len, value) == NGX_OK) {
        *kind = NGX_ASTRO_SHARD_KIND_NUMBER;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_astro_shard_key_range(ngx_uint_t kind, u_char *p, size_t len,
    int64_t *value)
{
    if (kind == NGX_ASTRO_SHARD_KIND_DATE) {
        return ngx_astro_shard_key_date(p, len, 1, value);
    }

    if (kind == NGX_ASTRO_SHARD_KIND_NUMBER) {
        return ngx_astro_shard_key_number(p, len, value);
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_astro_shard_key_next_value(u_char **pos, u_char *end, ngx_str_t *value)
{
    u_char  *p, *start;

    start = *pos;

    if (start >= end) {
        return NGX_DONE;
    }

    for (p = start; p < end && *p != ','; p++) { /* void */ }

    value->data = start;
    value->len = p - start;

    /*
     * past the comma, but for a last one: left on it, the next call
     * finds the empty value after it ("a,")
     */
    *pos = (p < end && p + 1 < end) ? p + 1 : p;

    if (value->len == 0 || value->len > NGX_ASTRO_SHARD_MAX_NAME) {
        *pos = end;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


size_t
ngx_astro_shard_key_print(ngx_uint_t kind, int64_t value, u_char *buf)
{
    int  n;

    if (kind == NGX_ASTRO_SHARD_KIND_DATE) {
        n = snprintf((char *) buf, 21, "%04d-%02d-%02d",
                     (int) (value / 10000), (int) (value / 100 % 100),
                     (int) (value % 100));

    } else {
        n = snprintf((char *) buf, 21, "%lld", (long long) value);
    }

    return (n > 0 && n < 21) ? (size_t) n : 0;
}


static ngx_int_t
ngx_astro_shard_key_digits(u_char *p, size_t n, int64_t *value)
{
    int64_t  v;

    v = 0;

    while (n--) {
        if (!ngx_astro_digit(*p)) {
            return NGX_DECLINED;
        }

        v = v * 10 + (*p++ - '0');
    }

    *value = v;

    return NGX_OK;
}
