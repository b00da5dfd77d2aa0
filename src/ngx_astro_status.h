
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_STATUS_H_INCLUDED_
#define _NGX_ASTRO_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_out.h"


/*
 * The status registry: every module that is configured adds one section,
 * written into the "modules" object of the JSON output and as metric
 * lines of the Prometheus output of the astro_status location.
 *
 * The JSON writer writes one JSON value (an object), without the key.
 * The Prometheus writer writes complete "# HELP", "# TYPE" and sample
 * lines; its metric names start with "astro_<name>_", but for the health
 * section, whose figures are the suite's own (astro_cpu_usage_percent).
 */

typedef void (*ngx_astro_status_write_pt)(ngx_astro_out_t *out, void *data);


typedef struct {
    ngx_str_t                   name;
    ngx_astro_status_write_pt   json;
    ngx_astro_status_write_pt   prometheus;
    void                       *data;
} ngx_astro_status_section_t;


ngx_int_t ngx_astro_status_add(ngx_conf_t *cf,
    ngx_astro_status_section_t *section);
ngx_array_t *ngx_astro_status_sections(ngx_http_request_t *r);

void ngx_astro_status_prom_head(ngx_astro_out_t *out, const char *name,
    const char *type, const char *help);


extern ngx_module_t  ngx_astro_module;


#endif /* _NGX_ASTRO_STATUS_H_INCLUDED_ */
