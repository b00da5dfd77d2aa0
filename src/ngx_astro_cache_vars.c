
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"


/* a stub until the variables land */


ngx_int_t
ngx_http_astro_cache_add_variables(ngx_conf_t *cf)
{
    return NGX_OK;
}
