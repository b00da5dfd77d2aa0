
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_out.h"
#include "ngx_astro_fmt.h"
#include <math.h>


#define NGX_ASTRO_OUT_BUF_SIZE  4096


typedef size_t (*ngx_astro_out_escape_pt)(u_char *dst, const u_char *src,
    size_t len);


static ngx_int_t ngx_astro_out_reserve(ngx_astro_out_t *out, size_t len);
static void ngx_astro_out_quoted(ngx_astro_out_t *out, u_char *data,
    size_t len, ngx_astro_out_escape_pt escape);


void
ngx_astro_out_init(ngx_astro_out_t *out, ngx_pool_t *pool)
{
    ngx_memzero(out, sizeof(ngx_astro_out_t));

    out->pool = pool;
    out->last = &out->first;
}


static ngx_int_t
ngx_astro_out_reserve(ngx_astro_out_t *out, size_t len)
{
    ngx_chain_t  *cl;

    if (out->error) {
        return NGX_ERROR;
    }

    if (out->buf && (size_t) (out->buf->end - out->buf->last) >= len) {
        return NGX_OK;
    }

    cl = ngx_alloc_chain_link(out->pool);
    if (cl == NULL) {
        out->error = 1;
        return NGX_ERROR;
    }

    cl->buf = ngx_create_temp_buf(out->pool,
                                  ngx_max(len, NGX_ASTRO_OUT_BUF_SIZE));
    if (cl->buf == NULL) {
        out->error = 1;
        return NGX_ERROR;
    }

    cl->next = NULL;
    *out->last = cl;
    out->last = &cl->next;
    out->buf = cl->buf;

    return NGX_OK;
}


void
ngx_astro_out_str(ngx_astro_out_t *out, u_char *data, size_t len)
{
    if (ngx_astro_out_reserve(out, len) != NGX_OK) {
        return;
    }

    out->buf->last = ngx_cpymem(out->buf->last, data, len);
    out->size += len;
}


void
ngx_astro_out_printf(ngx_astro_out_t *out, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    /* a formatted piece is a number or a name, never a whole page */

    if (ngx_astro_out_reserve(out, NGX_MAX_ERROR_STR) != NGX_OK) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(out->buf->last, out->buf->end, fmt, args);
    va_end(args);

    out->size += p - out->buf->last;
    out->buf->last = p;
}


void
ngx_astro_out_json_str(ngx_astro_out_t *out, u_char *data, size_t len)
{
    ngx_astro_out_quoted(out, data, len, ngx_astro_json_escape);
}


void
ngx_astro_out_prom_str(ngx_astro_out_t *out, u_char *data, size_t len)
{
    ngx_astro_out_quoted(out, data, len, ngx_astro_prom_escape);
}


static void
ngx_astro_out_quoted(ngx_astro_out_t *out, u_char *data, size_t len,
    ngx_astro_out_escape_pt escape)
{
    size_t  n;

    n = escape(NULL, data, len) + 2;

    if (ngx_astro_out_reserve(out, n) != NGX_OK) {
        return;
    }

    *out->buf->last++ = '"';
    out->buf->last += escape(out->buf->last, data, len);
    *out->buf->last++ = '"';
    out->size += n;
}


void
ngx_astro_out_double(ngx_astro_out_t *out, double v)
{
    u_char  *p;

    if (ngx_astro_out_reserve(out, NGX_ASTRO_DOUBLE_LEN) != NGX_OK) {
        return;
    }

    p = ngx_astro_fmt_double(out->buf->last, v);

    out->size += p - out->buf->last;
    out->buf->last = p;
}


/*
 * Three decimals lose what a base unit needs (0.0004 s, a ratio of
 * 0.78412): six, trailing zeros dropped; NaN and infinities as 0, and
 * no more than 1e18, as in ngx_astro_out_double().
 */

void
ngx_astro_out_prom_double(ngx_astro_out_t *out, double v)
{
    u_char  *p, *last;

    if (isnan(v) || isinf(v)) {
        v = 0;

    } else if (v > 1e18 || v < -1e18) {
        v = (v > 0) ? 1e18 : -1e18;       /* as ngx_astro_fmt_double() */
    }

    if (ngx_astro_out_reserve(out, NGX_ASTRO_DOUBLE_LEN) != NGX_OK) {
        return;
    }

    p = out->buf->last;
    last = ngx_sprintf(p, "%.6f", v);

    while (last[-1] == '0') {
        last--;
    }

    if (last[-1] == '.') {
        last--;
    }

    if (last - p == 2 && p[0] == '-' && p[1] == '0') {
        p[0] = '0';
        last--;
    }

    out->size += last - p;
    out->buf->last = last;
}
