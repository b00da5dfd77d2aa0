
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_health.h"


ngx_str_t  ngx_astro_health_html = ngx_string(
"<!DOCTYPE html><html><head><title>astro status</title></head>"
"<body><h1>astro status</h1></body></html>\n"
);
