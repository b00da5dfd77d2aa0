
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_OUT_H_INCLUDED_
#define _NGX_ASTRO_OUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A growing chain of buffers for status output whose size is not known
 * in advance (the sections of other modules).
 */

typedef struct {
    ngx_pool_t   *pool;
    ngx_chain_t  *first;
    ngx_chain_t **last;
    ngx_buf_t    *buf;
    off_t         size;
    ngx_uint_t    error;            /* unsigned  error:1; */
} ngx_astro_out_t;


void ngx_astro_out_init(ngx_astro_out_t *out, ngx_pool_t *pool);
void ngx_astro_out_printf(ngx_astro_out_t *out, const char *fmt, ...);
void ngx_astro_out_str(ngx_astro_out_t *out, u_char *data, size_t len);
void ngx_astro_out_json_str(ngx_astro_out_t *out, u_char *data, size_t len);

/* a Prometheus label value, quoted: names in the sections' metrics */
void ngx_astro_out_prom_str(ngx_astro_out_t *out, u_char *data, size_t len);

void ngx_astro_out_double(ngx_astro_out_t *out, double v);

/* a Prometheus value in base units (seconds, ratios): six decimals */
void ngx_astro_out_prom_double(ngx_astro_out_t *out, double v);

#define ngx_astro_out_literal(out, s)                                      \
    ngx_astro_out_str(out, (u_char *) s, sizeof(s) - 1)


#endif /* _NGX_ASTRO_OUT_H_INCLUDED_ */
