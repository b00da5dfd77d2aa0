
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_status.h"


/*
 * ngx_astro_module has no directives: it holds what the astro modules
 * share within one configuration cycle, the status registry.
 */

typedef struct {
    ngx_array_t   sections;         /* of ngx_astro_status_section_t */
} ngx_astro_main_conf_t;


static void *ngx_astro_create_main_conf(ngx_conf_t *cf);


static ngx_http_module_t  ngx_astro_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_astro_create_main_conf,            /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_astro_module = {
    NGX_MODULE_V1,
    &ngx_astro_module_ctx,                 /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_astro_create_main_conf(ngx_conf_t *cf)
{
    ngx_astro_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_astro_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->sections, cf->pool, 4,
                       sizeof(ngx_astro_status_section_t))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


ngx_int_t
ngx_astro_status_add(ngx_conf_t *cf, ngx_astro_status_section_t *section)
{
    ngx_uint_t                   i;
    ngx_astro_main_conf_t       *amcf;
    ngx_astro_status_section_t  *s;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_module);

    s = amcf->sections.elts;
    for (i = 0; i < amcf->sections.nelts; i++) {
        if (s[i].name.len == section->name.len
            && ngx_strncmp(s[i].name.data, section->name.data,
                           section->name.len)
               == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(&amcf->sections);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *section;

    return NGX_OK;
}


ngx_array_t *
ngx_astro_status_sections(ngx_http_request_t *r)
{
    ngx_astro_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_astro_module);

    return &amcf->sections;
}


void
ngx_astro_status_prom_head(ngx_astro_out_t *out, const char *name,
    const char *type, const char *help)
{
    ngx_astro_out_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
                         name, help, name, type);
}
