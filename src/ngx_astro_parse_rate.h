
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_PARSE_RATE_H_INCLUDED_
#define _NGX_ASTRO_PARSE_RATE_H_INCLUDED_


/* pure code: no nginx headers */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define NGX_ASTRO_RATE_MAX  1000000000


typedef struct {
    uint32_t    count;              /* requests per period, >= 1 */
    uint32_t    period;             /* seconds: 1 (r/s) or 60 (r/m) */
} ngx_astro_rate_t;


int ngx_astro_parse_rate(const u_char *data, size_t len,
    ngx_astro_rate_t *rate);


#endif /* _NGX_ASTRO_PARSE_RATE_H_INCLUDED_ */
