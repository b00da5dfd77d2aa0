
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


/* a stub until the status section lands */


void
ngx_http_astro_cache_json(ngx_astro_out_t *out, void *data)
{
    ngx_astro_out_literal(out, "{\"enforcing\":true,\"zones\":{}}");
}


void
ngx_http_astro_cache_prometheus(ngx_astro_out_t *out, void *data)
{
}
