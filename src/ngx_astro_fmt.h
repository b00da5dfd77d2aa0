
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_FMT_H_INCLUDED_
#define _NGX_ASTRO_FMT_H_INCLUDED_


/* pure code: no nginx headers, unit tested in t/unit/test_fmt.c */

#include <stddef.h>
#include <sys/types.h>


/* "-" 20 digits "." 3 digits */
#define NGX_ASTRO_DOUBLE_LEN  32


size_t ngx_astro_json_escape(u_char *dst, const u_char *src, size_t len);
size_t ngx_astro_prom_escape(u_char *dst, const u_char *src, size_t len);
u_char *ngx_astro_fmt_double(u_char *p, double v);


#endif /* _NGX_ASTRO_FMT_H_INCLUDED_ */
