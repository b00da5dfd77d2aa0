
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>
#include "ngx_astro_status.h"
#include "ngx_astro_health_api.h"


/* the schema of the JSON document and of astro_info (docs/status.md) */
#define NGX_HTTP_ASTRO_STATUS_VERSION  1


typedef void (*ngx_http_astro_status_write_pt)(ngx_http_request_t *r,
    ngx_astro_out_t *out);


typedef struct {
    ngx_str_t                        name;    /* of ?format= */
    ngx_str_t                        content_type;
    ngx_http_astro_status_write_pt   write;
    ngx_http_astro_status_write_pt   fleet;   /* ?scope=fleet */
} ngx_http_astro_status_format_t;


static ngx_http_astro_status_format_t *ngx_http_astro_status_format(
    ngx_http_request_t *r);
static void ngx_http_astro_status_json(ngx_http_request_t *r,
    ngx_astro_out_t *out);
static void ngx_http_astro_status_prometheus(ngx_http_request_t *r,
    ngx_astro_out_t *out);
static void ngx_http_astro_status_html_page(ngx_http_request_t *r,
    ngx_astro_out_t *out);
static void ngx_http_astro_status_fleet_page(ngx_http_request_t *r,
    ngx_astro_out_t *out);


/* the first is the default */

static ngx_http_astro_status_format_t  ngx_http_astro_status_formats[] = {

    { ngx_string("json"),
      ngx_string("application/json"),
      ngx_http_astro_status_json,
      ngx_http_astro_health_fleet_json },

    { ngx_string("prometheus"),
      ngx_string("text/plain; version=0.0.4; charset=utf-8"),
      ngx_http_astro_status_prometheus,
      ngx_http_astro_health_fleet_prometheus },

    { ngx_string("html"),
      ngx_string("text/html; charset=utf-8"),
      ngx_http_astro_status_html_page,
      ngx_http_astro_status_fleet_page },

    { ngx_null_string, ngx_null_string, NULL, NULL }
};


ngx_int_t
ngx_http_astro_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        scope;
    ngx_astro_out_t                  out;
    ngx_http_astro_status_write_pt   write;
    ngx_http_astro_status_format_t  *format;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    format = ngx_http_astro_status_format(r);
    if (format == NULL) {
        return NGX_HTTP_BAD_REQUEST;
    }

    write = format->write;

    /* ?scope=fleet: every node's health, from the zone's fleet view */

    if (ngx_http_arg(r, (u_char *) "scope", 5, &scope) == NGX_OK) {

        if (scope.len != 5 || ngx_strncmp(scope.data, "fleet", 5) != 0) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "astro_status: unknown scope \"%V\"", &scope);
            return NGX_HTTP_BAD_REQUEST;
        }

        write = format->fleet;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_status: format %V%s", &format->name,
                   write == format->fleet ? ", scope fleet" : "");

    ngx_astro_out_init(&out, r->pool);

    write(r, &out);

    return ngx_http_astro_status_send(r, NGX_HTTP_OK, &format->content_type,
                                      &out);
}


/* an answer of the suite's own, never cached by anyone */

ngx_int_t
ngx_http_astro_status_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_astro_out_t *out)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    if (out->error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.status = status;
    r->headers_out.content_length_n = out->size;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out->buf->last_buf = (r == r->main) ? 1 : 0;
    out->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out->first);
}


/* the format of ?format=, NULL for one that is not known */

static ngx_http_astro_status_format_t *
ngx_http_astro_status_format(ngx_http_request_t *r)
{
    ngx_str_t                        arg;
    ngx_http_astro_status_format_t  *f;

    f = ngx_http_astro_status_formats;

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) != NGX_OK) {
        return f;
    }

    for ( /* void */ ; f->name.len; f++) {
        if (f->name.len == arg.len
            && ngx_strncmp(f->name.data, arg.data, arg.len) == 0)
        {
            return f;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_status: unknown format \"%V\"", &arg);

    return NULL;
}


static void
ngx_http_astro_status_json(ngx_http_request_t *r, ngx_astro_out_t *out)
{
    ngx_uint_t                          i;
    ngx_time_t                         *tp;
    ngx_astro_status_section_t         *s;
    ngx_http_astro_status_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_astro_module);
    tp = ngx_timeofday();

    ngx_astro_out_printf(out, "{\"version\":%d,\"nginx_version\":\"%s\","
                         "\"time\":%T.%03M,",
                         NGX_HTTP_ASTRO_STATUS_VERSION, NGINX_VERSION,
                         tp->sec, tp->msec);

    if (smcf->health) {
        smcf->health(out, smcf->health_data);

    } else {
        ngx_astro_out_literal(out, "\"health\":{\"status\":\"unknown\","
                                   "\"since\":null},\"metrics\":null,"
                                   "\"history\":[]");
    }

    ngx_astro_out_literal(out, ",\"modules\":{");

    s = smcf->sections.elts;

    for (i = 0; i < smcf->sections.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, s[i].name.data, s[i].name.len);
        ngx_astro_out_literal(out, ":");
        s[i].json(out, s[i].data);
    }

    ngx_astro_out_literal(out, "}}\n");
}


static void
ngx_http_astro_status_prometheus(ngx_http_request_t *r, ngx_astro_out_t *out)
{
    ngx_uint_t                          i;
    ngx_astro_status_section_t         *s;
    ngx_http_astro_status_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_astro_module);

    ngx_astro_status_prom_head(out, "astro_info", "gauge",
                               "Versions of nginx and the status schema.");
    ngx_astro_out_printf(out, "astro_info{nginx_version=\"%s\","
                         "schema=\"%d\"} 1\n",
                         NGINX_VERSION, NGX_HTTP_ASTRO_STATUS_VERSION);

    s = smcf->sections.elts;

    for (i = 0; i < smcf->sections.nelts; i++) {
        s[i].prometheus(out, s[i].data);
    }
}


static void
ngx_http_astro_status_html_page(ngx_http_request_t *r, ngx_astro_out_t *out)
{
    ngx_astro_out_str(out, ngx_http_astro_status_html.data,
                      ngx_http_astro_status_html.len);
}


static void
ngx_http_astro_status_fleet_page(ngx_http_request_t *r, ngx_astro_out_t *out)
{
    ngx_astro_out_str(out, ngx_http_astro_status_fleet_html.data,
                      ngx_http_astro_status_fleet_html.len);
}


void
ngx_astro_status_prom_head(ngx_astro_out_t *out, const char *name,
    const char *type, const char *help)
{
    ngx_astro_out_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
                         name, help, name, type);
}
