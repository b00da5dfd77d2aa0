
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
 * The status endpoint of the suite, the astro_status location of
 * ngx_astro_module: the registry (src/ngx_astro_module.c), which every
 * configured module adds one section to, and the endpoint that writes
 * them (src/ngx_astro_status.c).
 *
 * A section is written into the "modules" object of the JSON document
 * and as metric lines of the Prometheus output.  The JSON writer writes
 * one JSON value (an object), without the key.  The Prometheus writer
 * writes complete "# HELP", "# TYPE" and sample lines; its metric names
 * start with "astro_<name>_", but for the health section, whose figures
 * are the suite's own (astro_cpu_usage_percent).
 */

typedef void (*ngx_astro_status_write_pt)(ngx_astro_out_t *out, void *data);


typedef struct {
    ngx_str_t                   name;
    ngx_astro_status_write_pt   json;
    ngx_astro_status_write_pt   prometheus;
    void                       *data;
} ngx_astro_status_section_t;


/* ngx_astro_module's configuration: the registry */

typedef struct {
    ngx_array_t                 sections;   /* ngx_astro_status_section_t */

    /* the JSON document's "health", "metrics" and "history"; NULL: unknown */
    ngx_astro_status_write_pt   health;
    void                       *health_data;
} ngx_http_astro_status_main_conf_t;


/* src/ngx_astro_module.c: the registry, called at postconfiguration */

ngx_int_t ngx_astro_status_add(ngx_conf_t *cf,
    ngx_astro_status_section_t *section);

/*
 * The writer of the document's top-level members "health", "metrics"
 * and "history", separated by commas, without a comma before or after
 * (the health module's, when it has a zone).  Without one they say the
 * health is unknown.
 */
void ngx_astro_status_set_health(ngx_conf_t *cf,
    ngx_astro_status_write_pt json, void *data);


/* src/ngx_astro_status.c: the endpoint, and a helper of the writers */

ngx_int_t ngx_http_astro_status_handler(ngx_http_request_t *r);

/* sends out as r's answer with Cache-Control: no-store */
ngx_int_t ngx_http_astro_status_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_astro_out_t *out);

/*
 * Whether r is in an astro_status location (its requests are no
 * traffic): the find-config phase sets r->content_handler anew for each
 * location, before the rewrite phase.
 */
#define ngx_http_astro_status_location(r)                                     \
    ((r)->content_handler == ngx_http_astro_status_handler)

void ngx_astro_status_prom_head(ngx_astro_out_t *out, const char *name,
    const char *type, const char *help);


/* src/ngx_astro_status_html.c: the dashboard of ?format=html */

extern ngx_str_t  ngx_http_astro_status_html;
/* the fleet view of ?scope=fleet&format=html */
extern ngx_str_t  ngx_http_astro_status_fleet_html;


extern ngx_module_t  ngx_astro_module;


#endif /* _NGX_ASTRO_STATUS_H_INCLUDED_ */
