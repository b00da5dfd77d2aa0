
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_status.h"


/*
 * What the health module gives the status endpoint: the JSON document's
 * "health", "metrics" and "history", its section of "modules", and its
 * Prometheus metrics (docs/status.md).
 */


/* a copy of the zone taken under the lock, written out without it */

typedef struct {
    ngx_http_astro_health_metrics_t   metrics;
    ngx_uint_t                        status;
    time_t                            since;
    ngx_uint_t                        samples;
    ngx_uint_t                        transitions;
    ngx_uint_t                        count;
    ngx_http_astro_health_sample_t   *history;
} ngx_http_astro_health_snapshot_t;


static ngx_int_t ngx_http_astro_health_snapshot(ngx_pool_t *pool,
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_snapshot_t *snap);
static void ngx_http_astro_health_write_health(ngx_astro_out_t *out,
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_snapshot_t *snap);
static void ngx_http_astro_health_write_metrics(ngx_astro_out_t *out,
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_metrics_t *m);
static void ngx_http_astro_health_write_history(ngx_astro_out_t *out,
    ngx_http_astro_health_snapshot_t *snap);
static void ngx_http_astro_health_write_limits(ngx_astro_out_t *out,
    const char *name, ngx_astro_health_figures_t *f);
static void ngx_http_astro_health_write_limit(ngx_astro_out_t *out,
    double v);
static void ngx_http_astro_health_gauge(ngx_astro_out_t *out,
    const char *name, const char *help, double v);
static void ngx_http_astro_health_counter(ngx_astro_out_t *out,
    const char *name, const char *help, uint64_t v);
static void ngx_http_astro_health_labelled(ngx_astro_out_t *out,
    const char *name, const char *help, const char *label,
    const char **values, double *v);


/* the document's "health", "metrics" and "history" */

void
ngx_http_astro_health_status_document(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_health_main_conf_t *hmcf = data;

    ngx_http_astro_health_snapshot_t  snap;

    if (ngx_http_astro_health_snapshot(out->pool, hmcf, &snap) != NGX_OK) {
        out->error = 1;
        return;
    }

    ngx_http_astro_health_write_health(out, hmcf, &snap);
    ngx_astro_out_literal(out, ",");
    ngx_http_astro_health_write_metrics(out, hmcf, &snap.metrics);
    ngx_astro_out_literal(out, ",");
    ngx_http_astro_health_write_history(out, &snap);
}


static ngx_int_t
ngx_http_astro_health_snapshot(ngx_pool_t *pool,
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_snapshot_t *snap)
{
    ngx_uint_t                      i, first, size;
    ngx_http_astro_health_shctx_t  *sh;

    sh = hmcf->sh;

    /* a reload may change the ring under us: copy what fits */

    size = hmcf->history;

    snap->history = ngx_palloc(pool,
                               size * sizeof(ngx_http_astro_health_sample_t));
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
ngx_http_astro_health_write_health(ngx_astro_out_t *out,
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_snapshot_t *snap)
{
    ngx_astro_out_literal(out, "\"health\":{\"zone\":");
    ngx_astro_out_json_str(out, hmcf->name.data, hmcf->name.len);
    ngx_astro_out_printf(out, ",\"status\":\"%s\",\"since\":%T,"
                         "\"transitions\":%ui,\"samples\":%ui,"
                         "\"interval_ms\":%M,\"window_ms\":%M,"
                         "\"recover\":%ui,\"thresholds\":{",
                         ngx_astro_health_name(snap->status), snap->since,
                         snap->transitions, snap->samples, hmcf->interval,
                         hmcf->sh->slots * hmcf->interval, hmcf->recover);

    ngx_http_astro_health_write_limits(out, "degraded", &hmcf->degraded);
    ngx_astro_out_literal(out, ",");
    ngx_http_astro_health_write_limits(out, "critical", &hmcf->critical);
    ngx_astro_out_literal(out, "}}");
}


static void
ngx_http_astro_health_write_limits(ngx_astro_out_t *out, const char *name,
    ngx_astro_health_figures_t *f)
{
    ngx_astro_out_printf(out, "\"%s\":{\"cpu\":", name);
    ngx_http_astro_health_write_limit(out, f->cpu);
    ngx_astro_out_literal(out, ",\"memory\":");
    ngx_http_astro_health_write_limit(out, f->memory);
    ngx_astro_out_literal(out, ",\"error_rate\":");
    ngx_http_astro_health_write_limit(out, f->error_rate);
    ngx_astro_out_literal(out, ",\"latency_ms\":");
    ngx_http_astro_health_write_limit(out, f->latency);
    ngx_astro_out_literal(out, "}");
}


/* a limit that is off is null */

static void
ngx_http_astro_health_write_limit(ngx_astro_out_t *out, double v)
{
    if (v < 0) {
        ngx_astro_out_literal(out, "null");

    } else {
        ngx_astro_out_double(out, v);
    }
}


static void
ngx_http_astro_health_write_metrics(ngx_astro_out_t *out,
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_metrics_t *m)
{
    ngx_uint_t                      i;
    ngx_http_astro_health_shctx_t  *sh;

    sh = hmcf->sh;

    ngx_astro_out_literal(out, "\"metrics\":{\"cpu\":");
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
                         sh->total.requests);
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
    ngx_astro_out_literal(out, ",\"ewma_raw\":");
    ngx_astro_out_double(out, m->latency_raw);
    ngx_astro_out_printf(out, "},\"active_connections\":%ui,"
                         "\"errors\":%uA,\"refused\":{",
                         m->active, sh->total.errors);

    for (i = 0; i < NGX_ASTRO_REFUSED_N; i++) {
        ngx_astro_out_printf(out, "%s\"%s\":%uA", i ? "," : "",
                             ngx_astro_health_refusal_name(i),
                             sh->refused_by[i]);
    }

    ngx_astro_out_printf(out, "},\"held_ms\":%uA}", sh->held);
}


static void
ngx_http_astro_health_write_history(ngx_astro_out_t *out,
    ngx_http_astro_health_snapshot_t *snap)
{
    ngx_uint_t                       i;
    ngx_http_astro_health_sample_t  *s;

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
        ngx_astro_out_printf(out, ",\"active_connections\":%uD,"
                             "\"latency_raw_ms\":", s->active);
        ngx_astro_out_double(out, s->latency_raw);
        ngx_astro_out_literal(out, "}");
    }

    ngx_astro_out_literal(out, "]");
}


/* the health module's own section of "modules" */

void
ngx_http_astro_health_status_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_health_main_conf_t *hmcf = data;

    ngx_http_astro_health_shctx_t  *sh;

    sh = hmcf->sh;

    ngx_astro_out_literal(out, "{\"zone\":");
    ngx_astro_out_json_str(out, hmcf->name.data, hmcf->name.len);
    ngx_astro_out_printf(out, ",\"size\":%uz,\"history\":%ui,"
                         "\"shed\":{\"critical\":%uA,\"degraded\":%uA}}",
                         hmcf->shm_zone->shm.size, hmcf->history,
                         sh->shed_critical, sh->shed_degraded);
}


void
ngx_http_astro_health_status_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_health_main_conf_t *hmcf = data;

    double                            v[3];
    uint64_t                          cum;
    ngx_uint_t                        i, status;
    ngx_http_astro_health_shctx_t    *sh;
    ngx_http_astro_health_metrics_t   m;

    static const char  *periods[] = { "1m", "5m", "15m" };
    static const char  *percentiles[] = { "50", "95", "99" };

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

    ngx_http_astro_health_gauge(out, "astro_health_level",
                                "Health as a number: 0 healthy, 1 degraded, "
                                "2 critical.", status);
    ngx_http_astro_health_counter(out, "astro_health_transitions_total",
                                  "Changes of the health status.",
                                  sh->transitions);
    /* base units: ratios 0-1 and seconds (docs/status.md, issue 19) */

    ngx_http_astro_health_gauge(out, "astro_cpu_usage_ratio",
                                "CPU use of the host or the container, "
                                "0-1.", m.cpu / 100);
    ngx_http_astro_health_gauge(out, "astro_memory_usage_ratio",
                                "Memory use of the host or the container, "
                                "0-1.", m.memory / 100);
    ngx_http_astro_health_labelled(out, "astro_load_average",
                                   "Load average of the host.", "period",
                                   periods, m.load);
    ngx_http_astro_health_gauge(out, "astro_request_rate",
                                "Requests per second over the window.",
                                m.request_rate);
    ngx_http_astro_health_gauge(out, "astro_error_ratio",
                                "Share of 5xx responses among the requests "
                                "served over the window, 0-1.",
                                m.error_rate / 100);
    ngx_http_astro_health_gauge(out, "astro_response_time_ewma_seconds",
                                "EWMA of the response time judged: "
                                "refusals and the suite's holds left out.",
                                m.latency / 1000);
    ngx_http_astro_health_gauge(out, "astro_response_time_raw_ewma_seconds",
                                "EWMA of the whole response time of every "
                                "request.", m.latency_raw / 1000);

    /*
     * estimated from the window's buckets, not a summary (whose _sum and
     * _count, counters, would be the histogram's again): a gauge, so not
     * the label "quantile"
     */

    v[0] = m.p50 / 1000;
    v[1] = m.p95 / 1000;
    v[2] = m.p99 / 1000;

    ngx_http_astro_health_labelled(out, "astro_response_time_window_seconds",
                                   "Response time percentiles over the "
                                   "window, from its buckets.",
                                   "percentile", percentiles, v);

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

    ngx_http_astro_health_counter(out, "astro_requests_total",
                                  "Requests counted by the health zone.",
                                  sh->total.requests);
    ngx_http_astro_health_counter(out, "astro_responses_5xx_total",
                                  "5xx responses, without refusals.",
                                  sh->total.errors);

    ngx_astro_status_prom_head(out, "astro_refused_total", "counter",
                               "Requests refused by policy, no errors.");

    for (i = 0; i < NGX_ASTRO_REFUSED_N; i++) {
        ngx_astro_out_printf(out, "astro_refused_total{by=\"%s\"} %uA\n",
                             ngx_astro_health_refusal_name(i),
                             sh->refused_by[i]);
    }

    ngx_astro_status_prom_head(out, "astro_held_seconds_total", "counter",
                               "Time the suite held requests: speed "
                               "limits, queues.");
    ngx_astro_out_literal(out, "astro_held_seconds_total ");
    ngx_astro_out_double(out, sh->held / 1000.0);
    ngx_astro_out_literal(out, "\n");
    ngx_http_astro_health_gauge(out, "astro_active_connections",
                                "Active client connections.", m.active);

    ngx_astro_status_prom_head(out, "astro_shed_total", "counter",
                               "Requests refused by load shedding.");
    ngx_astro_out_printf(out, "astro_shed_total{reason=\"critical\"} %uA\n"
                         "astro_shed_total{reason=\"degraded\"} %uA\n",
                         sh->shed_critical, sh->shed_degraded);
}


static void
ngx_http_astro_health_gauge(ngx_astro_out_t *out, const char *name,
    const char *help, double v)
{
    ngx_astro_status_prom_head(out, name, "gauge", help);
    ngx_astro_out_printf(out, "%s ", name);
    ngx_astro_out_prom_double(out, v);
    ngx_astro_out_literal(out, "\n");
}


static void
ngx_http_astro_health_counter(ngx_astro_out_t *out, const char *name,
    const char *help, uint64_t v)
{
    ngx_astro_status_prom_head(out, name, "counter", help);
    ngx_astro_out_printf(out, "%s %uL\n", name, v);
}


/* a gauge of three samples, one for each value of its label */

static void
ngx_http_astro_health_labelled(ngx_astro_out_t *out, const char *name,
    const char *help, const char *label, const char **values, double *v)
{
    ngx_uint_t  i;

    ngx_astro_status_prom_head(out, name, "gauge", help);

    for (i = 0; i < 3; i++) {
        ngx_astro_out_printf(out, "%s{%s=\"%s\"} ", name, label, values[i]);
        ngx_astro_out_prom_double(out, v[i]);
        ngx_astro_out_literal(out, "\n");
    }
}
