
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_status.h"


/*
 * ngx_astro_module is the suite's own: the status registry that the
 * astro modules add their sections to within one configuration cycle,
 * and the astro_status location that writes them
 * (ngx_http_astro_status_handler(), src/ngx_astro_status.c).
 */


static void *ngx_http_astro_status_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_astro_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_astro_status_commands[] = {

    { ngx_string("astro_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_astro_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_astro_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_astro_status_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_astro_module = {
    NGX_MODULE_V1,
    &ngx_astro_module_ctx,                 /* module context */
    ngx_http_astro_status_commands,        /* module directives */
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
ngx_http_astro_status_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_astro_status_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_status_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->health = NULL;
     *     smcf->health_data = NULL;
     */

    if (ngx_array_init(&smcf->sections, cf->pool, 4,
                       sizeof(ngx_astro_status_section_t))
        != NGX_OK)
    {
        return NULL;
    }

    return smcf;
}


static char *
ngx_http_astro_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_astro_status_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_astro_status_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_astro_status_add(ngx_conf_t *cf, ngx_astro_status_section_t *section)
{
    ngx_uint_t                          i;
    ngx_astro_status_section_t         *s;
    ngx_http_astro_status_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_module);

    s = smcf->sections.elts;
    for (i = 0; i < smcf->sections.nelts; i++) {
        if (s[i].name.len == section->name.len
            && ngx_strncmp(s[i].name.data, section->name.data,
                           section->name.len)
               == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(&smcf->sections);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *section;

    return NGX_OK;
}


void
ngx_astro_status_set_health(ngx_conf_t *cf, ngx_astro_status_write_pt json,
    void *data)
{
    ngx_http_astro_status_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_module);

    smcf->health = json;
    smcf->health_data = data;
}
