
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_status.h"


/*
 * astro_status ?scope=fleet: the fleet view as the zone keeps it, never
 * Redis itself (docs/status.md).  A node is stale when its last sample
 * is older than NGX_HTTP_ASTRO_FLEET_STALE of this node's intervals:
 * while it reports, this node reads it at most two intervals old.
 */


#define NGX_HTTP_ASTRO_FLEET_STALE  3


/* a copy of the view taken under the lock, written out without it */

typedef struct {
    ngx_http_astro_health_main_conf_t   *hmcf;
    ngx_http_astro_health_fleet_view_t  *view;
    uint64_t                             now;       /* wall ms */
    ngx_uint_t                           calls;
    ngx_uint_t                           failures;
    ngx_uint_t                           skipped;
    ngx_str_t                            error;
} ngx_http_astro_health_fleet_copy_t;


/* a figure of the samples, for the series and Prometheus */

typedef struct {
    const char                  *json;
    const char                  *prom;
    const char                  *help;
    size_t                       offset;    /* of a float in a sample */
    double                       scale;     /* to Prometheus's base unit */
} ngx_http_astro_health_fleet_figure_t;


static ngx_int_t ngx_http_astro_health_fleet_copy(ngx_http_request_t *r,
    ngx_http_astro_health_fleet_copy_t *copy);
static uint64_t ngx_http_astro_health_fleet_age(
    ngx_http_astro_health_fleet_copy_t *copy,
    ngx_http_astro_health_fleet_node_t *node);
static void ngx_http_astro_health_fleet_json_node(ngx_astro_out_t *out,
    ngx_http_astro_health_fleet_copy_t *copy,
    ngx_http_astro_health_fleet_node_t *node);
static void ngx_http_astro_health_fleet_prom_node(ngx_astro_out_t *out,
    const char *name, ngx_http_astro_health_fleet_node_t *node, double v);


#define ngx_http_astro_health_fleet_float(s, f)                              \
    ((double) *(float *) ((u_char *) (s) + (f)->offset))


static ngx_http_astro_health_fleet_figure_t  ngx_http_astro_health_figures[] =
{
    { "cpu", "astro_fleet_node_cpu_usage_ratio",
      "CPU use of the node, 0 to 1.",
      offsetof(ngx_http_astro_health_sample_t, cpu), 0.01 },

    { "memory", "astro_fleet_node_memory_usage_ratio",
      "Memory use of the node, 0 to 1.",
      offsetof(ngx_http_astro_health_sample_t, memory), 0.01 },

    { "load", "astro_fleet_node_load1",
      "Load average over a minute of the node's host.",
      offsetof(ngx_http_astro_health_sample_t, load), 1 },

    { "request_rate", "astro_fleet_node_requests_per_second",
      "Requests a second of the node, over its window.",
      offsetof(ngx_http_astro_health_sample_t, request_rate), 1 },

    { "error_rate", "astro_fleet_node_error_ratio",
      "Share of the node's responses that were errors, 0 to 1.",
      offsetof(ngx_http_astro_health_sample_t, error_rate), 0.01 },

    { "latency_ms", "astro_fleet_node_response_time_seconds",
      "Response time of the node, EWMA.",
      offsetof(ngx_http_astro_health_sample_t, latency), 0.001 },

    { "p95_ms", "astro_fleet_node_response_time_p95_seconds",
      "95th percentile of the node's response time, over its window.",
      offsetof(ngx_http_astro_health_sample_t, p95), 0.001 },

    { NULL, NULL, NULL, 0, 0 }
};


void
ngx_http_astro_health_fleet_json(ngx_http_request_t *r, ngx_astro_out_t *out)
{
    ngx_uint_t                           i;
    ngx_http_astro_health_fleet_copy_t   copy;
    ngx_http_astro_health_main_conf_t   *hmcf;

    if (ngx_http_astro_health_fleet_copy(r, &copy) != NGX_OK) {
        out->error = 1;
        return;
    }

    hmcf = copy.hmcf;

    ngx_astro_out_printf(out, "{\"time\":%uL.%03uL,\"zone\":",
                         copy.now / 1000, copy.now % 1000);

    if (hmcf == NULL) {
        ngx_astro_out_literal(out, "null,\"node\":null,\"redis\":null,"
                                   "\"read\":null,\"error\":"
                                   "\"no astro_health_zone\",\"nodes\":[]}\n");
        return;
    }

    ngx_astro_out_json_str(out, hmcf->name.data, hmcf->name.len);

    if (copy.view == NULL) {
        ngx_astro_out_literal(out, ",\"node\":null,\"redis\":null,"
                                   "\"read\":null,\"error\":"
                                   "\"the health zone has no redis=\","
                                   "\"nodes\":[]}\n");
        return;
    }

    ngx_astro_out_literal(out, ",\"node\":");
    ngx_astro_out_json_str(out, hmcf->node.data, hmcf->node.len);
    ngx_astro_out_literal(out, ",\"redis\":");
    ngx_astro_out_json_str(out, hmcf->redis_url.data, hmcf->redis_url.len);
    ngx_astro_out_printf(out, ",\"interval_ms\":%M,\"stale_after_ms\":%M,"
                         "\"keep_ms\":%M,\"calls\":%ui,\"failures\":%ui,"
                         "\"skipped\":%ui,\"read\":",
                         hmcf->interval,
                         hmcf->interval * NGX_HTTP_ASTRO_FLEET_STALE,
                         hmcf->keep, copy.calls, copy.failures,
                         copy.skipped);

    if (copy.view->read) {
        ngx_astro_out_printf(out, "%uL.%03uL,\"read_age_ms\":%uL",
                             copy.view->read / 1000, copy.view->read % 1000,
                             copy.now > copy.view->read
                             ? copy.now - copy.view->read : 0);

    } else {
        ngx_astro_out_literal(out, "null,\"read_age_ms\":null");
    }

    ngx_astro_out_literal(out, ",\"error\":");

    if (copy.error.len) {
        ngx_astro_out_json_str(out, copy.error.data, copy.error.len);
        ngx_astro_out_printf(out, ",\"error_since\":%uL.%03uL",
                             copy.view->failed / 1000,
                             copy.view->failed % 1000);

    } else {
        ngx_astro_out_literal(out, "null,\"error_since\":null");
    }

    ngx_astro_out_literal(out, ",\"nodes\":[");

    for (i = 0; i < copy.view->n; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_http_astro_health_fleet_json_node(out, &copy,
                                              &copy.view->nodes[i]);
    }

    ngx_astro_out_literal(out, "]}\n");
}


static void
ngx_http_astro_health_fleet_json_node(ngx_astro_out_t *out,
    ngx_http_astro_health_fleet_copy_t *copy,
    ngx_http_astro_health_fleet_node_t *node)
{
    uint64_t                               age;
    ngx_uint_t                             i;
    ngx_http_astro_health_sample_t        *s;
    ngx_http_astro_health_main_conf_t     *hmcf;
    ngx_http_astro_health_fleet_figure_t  *f;

    hmcf = copy->hmcf;
    age = ngx_http_astro_health_fleet_age(copy, node);

    ngx_astro_out_literal(out, "{\"node\":");
    ngx_astro_out_json_str(out, node->name, node->len);
    ngx_astro_out_printf(out, ",\"self\":%s,\"age_ms\":%uL,\"stale\":%s,",
                         node->len == hmcf->node.len
                         && ngx_memcmp(node->name, hmcf->node.data,
                                       node->len) == 0
                         ? "true" : "false",
                         age,
                         age > hmcf->interval * NGX_HTTP_ASTRO_FLEET_STALE
                         ? "true" : "false");

    if (node->n == 0) {
        ngx_astro_out_literal(out, "\"status\":\"unknown\",\"time\":null,"
                                   "\"series\":null}");
        return;
    }

    s = &node->samples[node->n - 1];

    ngx_astro_out_printf(out, "\"status\":\"%s\",\"time\":%T,"
                         "\"active_connections\":%uD",
                         ngx_astro_health_name(s->status), s->time,
                         s->active);

    for (f = ngx_http_astro_health_figures; f->json; f++) {
        ngx_astro_out_printf(out, ",\"%s\":", f->json);
        ngx_astro_out_double(out, ngx_http_astro_health_fleet_float(s, f));
    }

    /* the series, oldest first, for the sparklines */

    ngx_astro_out_literal(out, ",\"series\":{\"time\":[");

    for (i = 0; i < node->n; i++) {
        ngx_astro_out_printf(out, "%s%T", i ? "," : "",
                             node->samples[i].time);
    }

    ngx_astro_out_literal(out, "],\"status\":[");

    for (i = 0; i < node->n; i++) {
        ngx_astro_out_printf(out, "%s\"%s\"", i ? "," : "",
                       ngx_astro_health_name(node->samples[i].status));
    }

    ngx_astro_out_literal(out, "]");

    for (f = ngx_http_astro_health_figures; f->json; f++) {
        ngx_astro_out_printf(out, ",\"%s\":[", f->json);

        for (i = 0; i < node->n; i++) {
            if (i) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_astro_out_double(out, ngx_http_astro_health_fleet_float(
                                          &node->samples[i], f));
        }

        ngx_astro_out_literal(out, "]");
    }

    ngx_astro_out_literal(out, "}}");
}


void
ngx_http_astro_health_fleet_prometheus(ngx_http_request_t *r,
    ngx_astro_out_t *out)
{
    ngx_uint_t                             i, st;
    ngx_http_astro_health_sample_t        *s;
    ngx_http_astro_health_fleet_node_t    *node;
    ngx_http_astro_health_fleet_copy_t     copy;
    ngx_http_astro_health_fleet_figure_t  *f;

    if (ngx_http_astro_health_fleet_copy(r, &copy) != NGX_OK) {
        out->error = 1;
        return;
    }

    ngx_astro_status_prom_head(out, "astro_fleet_up", "gauge",
                               "1 when the fleet view was read from Redis "
                               "by the last call, 0 when it failed or "
                               "there is none.");
    ngx_astro_out_printf(out, "astro_fleet_up %d\n",
                         copy.view && copy.view->read
                         && copy.error.len == 0);

    if (copy.view == NULL) {
        return;
    }

    ngx_astro_status_prom_head(out, "astro_fleet_read_timestamp_seconds",
                               "gauge", "When the fleet view was read from "
                               "Redis last, 0: never.");
    ngx_astro_out_printf(out, "astro_fleet_read_timestamp_seconds "
                         "%uL.%03uL\n", copy.view->read / 1000,
                         copy.view->read % 1000);

    ngx_astro_status_prom_head(out, "astro_fleet_calls_failed_total",
                               "counter", "Calls to Redis of the fleet "
                               "view that failed or were not sent.");
    ngx_astro_out_printf(out, "astro_fleet_calls_failed_total %ui\n",
                         copy.failures);

    ngx_astro_status_prom_head(out, "astro_fleet_nodes", "gauge",
                               "Nodes in the fleet view.");
    ngx_astro_out_printf(out, "astro_fleet_nodes %ui\n", copy.view->n);

    ngx_astro_status_prom_head(out, "astro_fleet_node_status", "gauge",
                               "1 for the node's health status in its "
                               "last sample.");

    for (i = 0; i < copy.view->n; i++) {
        node = &copy.view->nodes[i];

        for (st = NGX_ASTRO_HEALTHY; st <= NGX_ASTRO_CRITICAL; st++) {
            ngx_astro_out_literal(out, "astro_fleet_node_status{node=");
            ngx_astro_out_prom_str(out, node->name, node->len);
            ngx_astro_out_printf(out, ",status=\"%s\"} %d\n",
                                 ngx_astro_health_name(st),
                                 node->n
                                 && node->samples[node->n - 1].status == st);
        }
    }

    ngx_astro_status_prom_head(out, "astro_fleet_node_age_seconds", "gauge",
                               "Age of the node's last sample.");

    for (i = 0; i < copy.view->n; i++) {
        node = &copy.view->nodes[i];
        ngx_http_astro_health_fleet_prom_node(out,
            "astro_fleet_node_age_seconds", node,
            (double) ngx_http_astro_health_fleet_age(&copy, node) / 1000);
    }

    ngx_astro_status_prom_head(out, "astro_fleet_node_stale", "gauge",
                               "1 when the node's last sample is older "
                               "than three intervals.");

    for (i = 0; i < copy.view->n; i++) {
        node = &copy.view->nodes[i];
        ngx_http_astro_health_fleet_prom_node(out, "astro_fleet_node_stale",
            node, ngx_http_astro_health_fleet_age(&copy, node)
                  > copy.hmcf->interval * NGX_HTTP_ASTRO_FLEET_STALE);
    }

    for (f = ngx_http_astro_health_figures; f->json; f++) {
        ngx_astro_status_prom_head(out, f->prom, "gauge", f->help);

        for (i = 0; i < copy.view->n; i++) {
            node = &copy.view->nodes[i];

            if (node->n) {
                s = &node->samples[node->n - 1];
                ngx_http_astro_health_fleet_prom_node(out, f->prom, node,
                    ngx_http_astro_health_fleet_float(s, f) * f->scale);
            }
        }
    }

    ngx_astro_status_prom_head(out, "astro_fleet_node_active_connections",
                               "gauge", "Active connections of the node.");

    for (i = 0; i < copy.view->n; i++) {
        node = &copy.view->nodes[i];

        if (node->n) {
            ngx_http_astro_health_fleet_prom_node(out,
                "astro_fleet_node_active_connections", node,
                node->samples[node->n - 1].active);
        }
    }
}


static void
ngx_http_astro_health_fleet_prom_node(ngx_astro_out_t *out,
    const char *name, ngx_http_astro_health_fleet_node_t *node, double v)
{
    ngx_astro_out_printf(out, "%s{node=", name);
    ngx_astro_out_prom_str(out, node->name, node->len);
    ngx_astro_out_literal(out, "} ");

    /* base units: three decimals would write 0.4 ms as 0 s */
    ngx_astro_out_prom_double(out, v);
    ngx_astro_out_literal(out, "\n");
}


/* the zone's view copied; copy->view NULL: no redis=, hmcf NULL: no zone */

static ngx_int_t
ngx_http_astro_health_fleet_copy(ngx_http_request_t *r,
    ngx_http_astro_health_fleet_copy_t *copy)
{
    ngx_time_t                         *tp;
    ngx_http_astro_health_fleet_sh_t   *fsh;
    ngx_http_astro_health_main_conf_t  *hmcf;

    ngx_memzero(copy, sizeof(ngx_http_astro_health_fleet_copy_t));

    tp = ngx_timeofday();
    copy->now = (uint64_t) tp->sec * 1000 + tp->msec;

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);

    if (hmcf == NULL || hmcf->shm_zone == NULL || hmcf->sh == NULL) {
        return NGX_OK;
    }

    copy->hmcf = hmcf;
    fsh = hmcf->sh->fleet;

    if (hmcf->fleet == NULL || fsh == NULL) {
        return NGX_OK;
    }

    copy->view = ngx_palloc(r->pool,
                            sizeof(ngx_http_astro_health_fleet_view_t));
    copy->error.data = ngx_pnalloc(r->pool, NGX_HTTP_ASTRO_FLEET_ERR_LEN);
    if (copy->view == NULL || copy->error.data == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    ngx_memcpy(copy->view, &fsh->view,
               offsetof(ngx_http_astro_health_fleet_view_t, nodes)
               + fsh->view.n * sizeof(ngx_http_astro_health_fleet_node_t));
    copy->calls = fsh->calls;
    copy->failures = fsh->failures;
    copy->skipped = fsh->skipped;
    copy->error.len = fsh->error_len;
    ngx_memcpy(copy->error.data, fsh->error, fsh->error_len);

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "astro_status: fleet of %ui nodes, read %uL, error "
                   "\"%V\"", copy->view->n, copy->view->read, &copy->error);

    return NGX_OK;
}


/* the age at the read, and the time since: a view not read again ages */

static uint64_t
ngx_http_astro_health_fleet_age(ngx_http_astro_health_fleet_copy_t *copy,
    ngx_http_astro_health_fleet_node_t *node)
{
    return node->age
           + (copy->now > copy->view->read ? copy->now - copy->view->read
                                           : 0);
}
