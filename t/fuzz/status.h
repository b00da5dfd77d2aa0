
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_FUZZ_STATUS_H_INCLUDED_
#define _NGX_ASTRO_FUZZ_STATUS_H_INCLUDED_


/*
 * What the parts of the status harness share: fuzz_status.c (the rate
 * limiter's section, the numbers, the checks of a document),
 * status_cache.c (the cache section) and status_fleet.c
 * (?scope=fleet).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "fuzz.h"
#include "ngx_astro_ratelimit.h"
#include "ngx_astro_status.h"


#define MAX_ZONES   4
#define MAX_TIERS   3
#define MAX_VALUES  8


typedef struct {
    ngx_http_astro_ratelimit_zone_t    zone;
    ngx_http_astro_ratelimit_shctx_t   sh;
    ngx_http_astro_ratelimit_tier_t    tiers[MAX_TIERS];
} fuzz_zone_t;


extern ngx_log_t   fuzz_log;
extern ngx_uint_t  fuzz_health;     /* the health module's answer */
extern ngx_time_t  fuzz_time;       /* the clock */


void fuzz_take_name(fuzz_input_t *in, ngx_pool_t *pool, size_t max,
    ngx_uint_t key, ngx_str_t *name);
void fuzz_section_prometheus(ngx_pool_t *pool,
    ngx_astro_status_write_pt write, void *data);
ngx_uint_t fuzz_last_of(ngx_str_t *name, size_t size, u_char *base,
    ngx_uint_t i, ngx_uint_t n);
u_char *fuzz_flatten(ngx_astro_out_t *out, size_t *len);
json_t *fuzz_json(u_char *doc, size_t len);
void fuzz_check_prometheus(u_char *p, size_t len, fuzz_zone_t *zones,
    ngx_uint_t nzones);
int fuzz_is_utf8(u_char *p, size_t len);

void fuzz_cache(fuzz_input_t *in, ngx_pool_t *pool);
void fuzz_fleet(fuzz_input_t *in, ngx_pool_t *pool);


#endif /* _NGX_ASTRO_FUZZ_STATUS_H_INCLUDED_ */
