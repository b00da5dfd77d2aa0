
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_PARSE_H_INCLUDED_
#define _NGX_ASTRO_PARSE_H_INCLUDED_


/* pure code: no nginx headers, unit tested in t/unit/test_parse.c */

#include <stddef.h>
#include <sys/types.h>


/* "70%", "70.5%": a percentage 0..100 with at most two decimals */
int ngx_astro_parse_percent(const u_char *p, size_t len, double *value);


#endif /* _NGX_ASTRO_PARSE_H_INCLUDED_ */
