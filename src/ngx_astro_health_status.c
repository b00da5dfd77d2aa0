
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>
#include "ngx_astro_health.h"
#include "ngx_astro_status.h"


#define NGX_ASTRO_STATUS_VERSION  1


typedef enum {
    ngx_astro_format_json = 0,
    ngx_astro_format_prometheus,
    ngx_astro_format_html
} ngx_astro_format_e;


/* a copy of the zone taken under the lock, written out without it */

typedef struct {
    ngx_astro_health_metrics_t   metrics;
    ngx_uint_t                   status;
    time_t                       since;
    ngx_uint_t                   samples;
    ngx_uint_t                   transitions;
    ngx_uint_t                   count;
    ngx_astro_health_sample_t   *history;
} ngx_astro_health_snapshot_t;


static ngx_int_t ngx_astro_health_snapshot(ngx_http_request_t *r,
    ngx_astro_health_main_conf_t *hmcf, ngx_astro_health_snapshot_t *snap);
static void ngx_astro_status_write_json(ngx_http_request_t *r,
    ngx_astro_out_t *out, ngx_astro_health_snapshot_t *snap);
static void ngx_astro_status_write_limits(ngx_astro_out_t *out,
    const char *name, ngx_astro_health_figures_t *f);
static void ngx_astro_status_write_limit(ngx_astro_out_t *out, double v);
static void ngx_astro_status_write_history(ngx_astro_out_t *out,
    ngx_astro_health_snapshot_t *snap);
static void ngx_astro_status_write_prometheus(ngx_http_request_t *r,
    ngx_astro_out_t *out);
static void ngx_astro_status_gauge(ngx_astro_out_t *out, const char *name,
    const char *help, double v);


ngx_int_t
ngx_astro_health_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      format;
    ngx_uint_t                     fmt;
    ngx_astro_out_t                out;
    ngx_table_elt_t               *h;
    ngx_astro_health_snapshot_t    snap;
    ngx_astro_health_main_conf_t  *hmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    fmt = ngx_astro_format_json;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0) {
            fmt = ngx_astro_format_json;

        } else if (format.len == 10
                   && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            fmt = ngx_astro_format_prometheus;

        } else if (format.len == 4
                   && ngx_strncmp(format.data, "html", 4) == 0)
        {
            fmt = ngx_astro_format_html;

        } else {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    ngx_astro_out_init(&out, r->pool);

    switch (fmt) {

    case ngx_astro_format_json:
        hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

        if (ngx_astro_health_snapshot(r, hmcf, &snap) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_astro_status_write_json(r, &out, &snap);
        ngx_str_set(&r->headers_out.content_type, "application/json");
        break;

    case ngx_astro_format_prometheus:
        ngx_astro_status_write_prometheus(r, &out);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
        break;

    default: /* ngx_astro_format_html */
        ngx_astro_out_str(&out, ngx_astro_health_html.data,
                          ngx_astro_health_html.len);
        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
        break;
    }

    if (out.error) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = out.size;

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

    out.buf->last_buf = (r == r->main) ? 1 : 0;
    out.buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out.first);
}


static ngx_int_t
ngx_astro_health_snapshot(ngx_http_request_t *r,
    ngx_astro_health_main_conf_t *hmcf, ngx_astro_health_snapshot_t *snap)
{
    ngx_uint_t                 i, first, size;
    ngx_astro_health_shctx_t  *sh;

    ngx_memzero(snap, sizeof(ngx_astro_health_snapshot_t));

    sh = hmcf->sh;

    if (sh == NULL) {
        return NGX_OK;
    }

    /* a reload may change the ring under us: copy what fits */

    size = hmcf->history;

    snap->history = ngx_palloc(r->pool,
                               size * sizeof(ngx_astro_health_sample_t));
    if (snap->history == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    snap->metrics = sh->metrics;
    snap->status = sh->state.status;
    snap->since = sh->since;
    snap->samples = sh->samples;
    snap->transitions = sh->transitions;
    snap->count = ngx_min(sh->count, size);

    /* oldest first */

    first = (sh->next + sh->history - snap->count) % sh->history;

    for (i = 0; i < snap->count; i++) {
        snap->history[i] = sh->ring[(first + i) % sh->history];
    }

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    return NGX_OK;
}


static void
ngx_astro_status_write_json(ngx_http_request_t *r, ngx_astro_out_t *out,
    ngx_astro_health_snapshot_t *snap)
{
    ngx_uint_t                     i;
    ngx_time_t                    *tp;
    ngx_array_t                   *sections;
    ngx_astro_health_metrics_t    *m;
    ngx_astro_status_section_t    *s;
    ngx_astro_health_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);
    tp = ngx_timeofday();

    ngx_astro_out_printf(out, "{\"version\":%d,\"nginx_version\":\"%s\","
                         "\"time\":%T.%03M,",
                         NGX_ASTRO_STATUS_VERSION, NGINX_VERSION,
                         tp->sec, tp->msec);

    if (hmcf->sh == NULL) {
        ngx_astro_out_literal(out, "\"health\":{\"status\":\"unknown\","
                                   "\"since\":null},\"metrics\":null,"
                                   "\"history\":[],");
        goto modules;
    }

    m = &snap->metrics;

    ngx_astro_out_literal(out, "\"health\":{\"zone\":");
    ngx_astro_out_json_str(out, hmcf->name.data, hmcf->name.len);
    ngx_astro_out_printf(out, ",\"status\":\"%s\",\"since\":%T,"
                         "\"transitions\":%ui,\"samples\":%ui,"
                         "\"interval_ms\":%M,\"window_ms\":%M,"
                         "\"recover\":%ui,\"thresholds\":{",
                         ngx_astro_health_name(snap->status), snap->since,
                         snap->transitions, snap->samples, hmcf->interval,
                         hmcf->sh->slots * hmcf->interval, hmcf->recover);

    ngx_astro_status_write_limits(out, "degraded", &hmcf->degraded);
    ngx_astro_out_literal(out, ",");
    ngx_astro_status_write_limits(out, "critical", &hmcf->critical);

    ngx_astro_out_literal(out, "}},\"metrics\":{\"cpu\":");
    ngx_astro_out_double(out, m->cpu);
    ngx_astro_out_printf(out, ",\"cpu_source\":\"%s\",\"memory\":",
                         m->cgroup_cpu ? "cgroup" : "host");
    ngx_astro_out_double(out, m->memory);
    ngx_astro_out_printf(out, ",\"memory_source\":\"%s\",\"load\":[",
                         m->cgroup_memory ? "cgroup" : "host");

    for (i = 0; i < 3; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_double(out, m->load[i]);
    }

    ngx_astro_out_printf(out, "],\"requests\":%uA,\"request_rate\":",
                         hmcf->sh->total.requests);
    ngx_astro_out_double(out, m->request_rate);
    ngx_astro_out_literal(out, ",\"error_rate\":");
    ngx_astro_out_double(out, m->error_rate);
    ngx_astro_out_literal(out, ",\"response_time_ms\":{\"ewma\":");
    ngx_astro_out_double(out, m->latency);
    ngx_astro_out_literal(out, ",\"p50\":");
    ngx_astro_out_double(out, m->p50);
    ngx_astro_out_literal(out, ",\"p95\":");
    ngx_astro_out_double(out, m->p95);
    ngx_astro_out_literal(out, ",\"p99\":");
    ngx_astro_out_double(out, m->p99);
    ngx_astro_out_printf(out, "},\"active_connections\":%ui},",
                         m->active);

    ngx_astro_status_write_history(out, snap);

modules:

    ngx_astro_out_literal(out, "\"modules\":{");

    sections = ngx_astro_status_sections(r);
    s = sections->elts;

    for (i = 0; i < sections->nelts; i++) {
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
ngx_astro_status_write_limits(ngx_astro_out_t *out, const char *name,
    ngx_astro_health_figures_t *f)
{
    ngx_astro_out_printf(out, "\"%s\":{\"cpu\":", name);
    ngx_astro_status_write_limit(out, f->cpu);
    ngx_astro_out_literal(out, ",\"memory\":");
    ngx_astro_status_write_limit(out, f->memory);
    ngx_astro_out_literal(out, ",\"error_rate\":");
    ngx_astro_status_write_limit(out, f->error_rate);
    ngx_astro_out_literal(out, ",\"latency_ms\":");
    ngx_astro_status_write_limit(out, f->latency);
    ngx_astro_out_literal(out, "}");
}


static void
ngx_astro_status_write_limit(ngx_astro_out_t *out, double v)
{
    if (v < 0) {
        ngx_astro_out_literal(out, "null");

    } else {
        ngx_astro_out_double(out, v);
    }
}


static void
ngx_astro_status_write_history(ngx_astro_out_t *out,
    ngx_astro_health_snapshot_t *snap)
{
    ngx_uint_t                  i;
    ngx_astro_health_sample_t  *s;

    ngx_astro_out_literal(out, "\"history\":[");

    for (i = 0; i < snap->count; i++) {
        s = &snap->history[i];

        ngx_astro_out_printf(out, "%s{\"time\":%T,\"status\":\"%s\",\"cpu\":",
                             i ? "," : "", s->time,
                             ngx_astro_health_name(s->status));
        ngx_astro_out_double(out, s->cpu);
        ngx_astro_out_literal(out, ",\"memory\":");
        ngx_astro_out_double(out, s->memory);
        ngx_astro_out_literal(out, ",\"load\":");
        ngx_astro_out_double(out, s->load);
        ngx_astro_out_literal(out, ",\"request_rate\":");
        ngx_astro_out_double(out, s->request_rate);
        ngx_astro_out_literal(out, ",\"latency_ms\":");
        ngx_astro_out_double(out, s->latency);
        ngx_astro_out_literal(out, ",\"p95_ms\":");
        ngx_astro_out_double(out, s->p95);
        ngx_astro_out_literal(out, ",\"error_rate\":");
        ngx_astro_out_double(out, s->error_rate);
        ngx_astro_out_printf(out, ",\"active_connections\":%uD}", s->active);
    }

    ngx_astro_out_literal(out, "],");
}


/* the health module's own section of "modules" */

void
ngx_astro_health_status_json(ngx_astro_out_t *out, void *data)
{
    ngx_astro_health_main_conf_t *hmcf = data;

    ngx_astro_health_shctx_t  *sh;

    sh = hmcf->sh;

    ngx_astro_out_literal(out, "{\"zone\":");
    ngx_astro_out_json_str(out, hmcf->name.data, hmcf->name.len);
    ngx_astro_out_printf(out, ",\"size\":%uz,\"history\":%ui,"
                         "\"shed\":{\"critical\":%uA,\"degraded\":%uA}}",
                         hmcf->shm_zone->shm.size, hmcf->history,
                         sh->shed_critical, sh->shed_degraded);
}


static void
ngx_astro_status_write_prometheus(ngx_http_request_t *r, ngx_astro_out_t *out)
{
    ngx_uint_t                   i;
    ngx_array_t                 *sections;
    ngx_astro_status_section_t  *s;

    ngx_astro_status_prom_head(out, "astro_info", "gauge",
                               "Versions of nginx and the status schema.");
    ngx_astro_out_printf(out, "astro_info{nginx_version=\"%s\","
                         "schema=\"%d\"} 1\n",
                         NGINX_VERSION, NGX_ASTRO_STATUS_VERSION);

    sections = ngx_astro_status_sections(r);
    s = sections->elts;

    for (i = 0; i < sections->nelts; i++) {
        s[i].prometheus(out, s[i].data);
    }
}


static void
ngx_astro_status_gauge(ngx_astro_out_t *out, const char *name,
    const char *help, double v)
{
    ngx_astro_status_prom_head(out, name, "gauge", help);
    ngx_astro_out_printf(out, "%s ", name);
    ngx_astro_out_double(out, v);
    ngx_astro_out_literal(out, "\n");
}


void
ngx_astro_health_status_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_astro_health_main_conf_t *hmcf = data;

    uint64_t                     cum;
    ngx_uint_t                   i, status;
    ngx_astro_health_shctx_t    *sh;
    ngx_astro_health_metrics_t   m;

    static const char  *quantiles[] = { "0.5", "0.95", "0.99" };

    sh = hmcf->sh;

    ngx_shmtx_lock(&hmcf->shpool->mutex);
    m = sh->metrics;
    status = sh->state.status;
    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    ngx_astro_status_prom_head(out, "astro_health_status", "gauge",
                               "1 for the current health status.");

    for (i = NGX_ASTRO_HEALTHY; i <= NGX_ASTRO_CRITICAL; i++) {
        ngx_astro_out_printf(out, "astro_health_status{status=\"%s\"} %d\n",
                             ngx_astro_health_name(i), i == status);
    }

    ngx_astro_status_gauge(out, "astro_health_level",
                           "Health as a number: 0 healthy, 1 degraded, "
                           "2 critical.", status);

    ngx_astro_status_prom_head(out, "astro_health_transitions_total",
                               "counter", "Changes of the health status.");
    ngx_astro_out_printf(out, "astro_health_transitions_total %ui\n",
                         sh->transitions);

    ngx_astro_status_gauge(out, "astro_cpu_usage_percent",
                           "CPU use of the host or the container.", m.cpu);
    ngx_astro_status_gauge(out, "astro_memory_usage_percent",
                           "Memory use of the host or the container.",
                           m.memory);

    ngx_astro_status_prom_head(out, "astro_load_average", "gauge",
                               "Load average of the host.");

    for (i = 0; i < 3; i++) {
        ngx_astro_out_printf(out, "astro_load_average{period=\"%s\"} ",
                             i == 0 ? "1m" : (i == 1 ? "5m" : "15m"));
        ngx_astro_out_double(out, m.load[i]);
        ngx_astro_out_literal(out, "\n");
    }

    ngx_astro_status_gauge(out, "astro_request_rate",
                           "Requests per second over the window.",
                           m.request_rate);
    ngx_astro_status_gauge(out, "astro_error_rate_percent",
                           "Share of 5xx responses over the window.",
                           m.error_rate);
    ngx_astro_status_gauge(out, "astro_response_time_ewma_ms",
                           "EWMA of the response time.", m.latency);

    ngx_astro_status_prom_head(out, "astro_response_time_window_ms", "gauge",
                               "Response time quantiles over the window.");

    for (i = 0; i < 3; i++) {
        ngx_astro_out_printf(out,
                             "astro_response_time_window_ms{quantile=\"%s\"} ",
                             quantiles[i]);
        ngx_astro_out_double(out, i == 0 ? m.p50 : (i == 1 ? m.p95 : m.p99));
        ngx_astro_out_literal(out, "\n");
    }

    ngx_astro_status_prom_head(out, "astro_response_time_seconds",
                               "histogram", "Response times.");

    cum = 0;

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        cum += sh->total.hist[i];

        if (i < NGX_ASTRO_HIST_N - 1) {
            ngx_astro_out_literal(out,
                                  "astro_response_time_seconds_bucket{le=\"");
            ngx_astro_out_double(out, ngx_astro_hist_bounds[i] / 1000.0);
            ngx_astro_out_printf(out, "\"} %uL\n", cum);

        } else {
            ngx_astro_out_printf(out, "astro_response_time_seconds_bucket"
                                 "{le=\"+Inf\"} %uL\n", cum);
        }
    }

    ngx_astro_out_literal(out, "astro_response_time_seconds_sum ");
    ngx_astro_out_double(out, sh->total.latency / 1000.0);
    ngx_astro_out_printf(out, "\nastro_response_time_seconds_count %uL\n",
                         cum);

    ngx_astro_status_prom_head(out, "astro_requests_total", "counter",
                               "Requests counted by the health zone.");
    ngx_astro_out_printf(out, "astro_requests_total %uA\n",
                         sh->total.requests);

    ngx_astro_status_prom_head(out, "astro_responses_5xx_total", "counter",
                               "5xx responses, without those of shedding.");
    ngx_astro_out_printf(out, "astro_responses_5xx_total %uA\n",
                         sh->total.errors);

    ngx_astro_status_gauge(out, "astro_active_connections",
                           "Active client connections.", m.active);

    ngx_astro_status_prom_head(out, "astro_shed_total", "counter",
                               "Requests refused by load shedding.");
    ngx_astro_out_printf(out, "astro_shed_total{reason=\"critical\"} %uA\n"
                         "astro_shed_total{reason=\"degraded\"} %uA\n",
                         sh->shed_critical, sh->shed_degraded);
}
