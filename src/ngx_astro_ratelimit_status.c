
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"
#include "ngx_astro_status.h"


/*
 * The "ratelimit" section of the status endpoint: the counts of each zone,
 * read without the lock, and the Redis client's.
 */


static ngx_msec_int_t ngx_http_astro_ratelimit_sync_lag(
    ngx_http_astro_ratelimit_shctx_t *sh);
static void ngx_http_astro_ratelimit_hybrid_json(ngx_astro_out_t *out,
    ngx_http_astro_ratelimit_zone_t *zone);
static void ngx_http_astro_ratelimit_hybrid_prometheus(ngx_astro_out_t *out,
    ngx_http_astro_ratelimit_main_conf_t *rmcf);


void
ngx_http_astro_ratelimit_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_ratelimit_main_conf_t *rmcf = data;

    ngx_uint_t                         i, j;
    ngx_http_astro_ratelimit_tier_t   *tier;
    ngx_http_astro_ratelimit_zone_t  **zone;
    ngx_http_astro_ratelimit_shctx_t  *sh;

    ngx_astro_out_literal(out, "{\"redis\":");

    if (rmcf->redis) {
        ngx_astro_redis_json(out, rmcf->redis);

    } else {
        ngx_astro_out_literal(out, "null");
    }

    ngx_astro_out_literal(out, ",\"zones\":{");

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, zone[i]->name.data, zone[i]->name.len);

        ngx_astro_out_printf(out,
                 ":{\"rate\":\"%uDr/%c\",\"burst\":%ui,"
                 "\"algorithm\":\"%V\",\"backend\":\"%V\",\"fail\":\"%V\","
                 "\"tiers\":[",
                 zone[i]->rate.count, zone[i]->rate.period == 1 ? 's' : 'm',
                 zone[i]->burst,
                 &ngx_http_astro_ratelimit_algorithms[zone[i]->algorithm].name,
                 &ngx_http_astro_ratelimit_backends[zone[i]->backend].name,
                 &ngx_http_astro_ratelimit_fails[zone[i]->fail].name);

        tier = zone[i]->tiers.elts;

        for (j = 0; j < zone[i]->tiers.nelts; j++) {
            if (j) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_astro_out_json_str(out, tier[j].name.data, tier[j].name.len);
        }

        ngx_astro_out_literal(out, "]");

        sh = zone[i]->sh;

        if (sh) {
            ngx_astro_out_printf(out,
                                 ",\"passed\":%uA,\"delayed\":%uA,"
                                 "\"rejected\":%uA,\"dry_run\":%uA,"
                                 "\"fail_open\":%uA,\"fail_closed\":%uA",
                                 sh->passed, sh->delayed, sh->rejected,
                                 sh->dry_run, sh->failopen, sh->failclosed);

            if (zone[i]->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
                ngx_http_astro_ratelimit_hybrid_json(out, zone[i]);
            }
        }

        ngx_astro_out_literal(out, "}");
    }

    ngx_astro_out_literal(out, "}}");
}


void
ngx_http_astro_ratelimit_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_ratelimit_main_conf_t *rmcf = data;

    ngx_uint_t                          i, j;
    ngx_atomic_uint_t                   counts[6];
    ngx_http_astro_ratelimit_zone_t   **zone;
    ngx_http_astro_ratelimit_shctx_t   *sh;
    static const char                  *results[] = {
        "passed", "delayed", "rejected", "dry_run", "fail_open",
        "fail_closed"
    };

    zone = rmcf->zones.elts;

    ngx_astro_status_prom_head(out, "astro_ratelimit_zones", "gauge",
                               "Configured rate limit zones");
    ngx_astro_out_printf(out, "astro_ratelimit_zones %ui\n",
                         rmcf->zones.nelts);

    ngx_astro_status_prom_head(out, "astro_ratelimit_requests_total",
                               "counter",
                               "Decisions of a zone by result");

    for (i = 0; i < rmcf->zones.nelts; i++) {
        sh = zone[i]->sh;

        if (sh == NULL) {
            continue;
        }

        counts[0] = sh->passed;
        counts[1] = sh->delayed;
        counts[2] = sh->rejected;
        counts[3] = sh->dry_run;
        counts[4] = sh->failopen;
        counts[5] = sh->failclosed;

        for (j = 0; j < 6; j++) {
            ngx_astro_out_literal(out, "astro_ratelimit_requests_total{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, ",result=\"%s\"} %uA\n", results[j],
                                 counts[j]);
        }
    }

    ngx_http_astro_ratelimit_hybrid_prometheus(out, rmcf);

    if (rmcf->redis) {
        ngx_astro_redis_prometheus(out, rmcf->redis, "astro_ratelimit");
    }
}


/* ms since the last good sync; -1: none yet */

static ngx_msec_int_t
ngx_http_astro_ratelimit_sync_lag(ngx_http_astro_ratelimit_shctx_t *sh)
{
    ngx_msec_t  now, synced;

    synced = (ngx_msec_t) sh->synced;

    if (synced == 0) {
        return -1;
    }

    now = (ngx_msec_t) (ngx_http_astro_ratelimit_now() / 1000);

    return (now > synced) ? (ngx_msec_int_t) (now - synced) : 0;
}


static void
ngx_http_astro_ratelimit_hybrid_json(ngx_astro_out_t *out,
    ngx_http_astro_ratelimit_zone_t *zone)
{
    ngx_msec_int_t                     lag;
    ngx_http_astro_ratelimit_shctx_t  *sh;

    sh = zone->sh;
    lag = ngx_http_astro_ratelimit_sync_lag(sh);

    ngx_astro_out_printf(out,
             ",\"hybrid\":{\"sync_ms\":%M,\"exact_at\":%ui.%02ui,"
             "\"decisions\":{\"local\":%uA,\"exact\":%uA,"
             "\"cached\":%uA,\"fail\":%uA},"
             "\"keys_near_limit\":%uA,",
             zone->sync, zone->exact_at / 100, zone->exact_at % 100,
             sh->local, sh->exact, sh->cached,
             sh->failopen + sh->failclosed,
             sh->keys_near);

    if (lag < 0) {
        ngx_astro_out_literal(out, "\"sync_lag_ms\":null,");

    } else {
        ngx_astro_out_printf(out, "\"sync_lag_ms\":%M,", (ngx_msec_t) lag);
    }

    ngx_astro_out_printf(out,
             "\"sync_rounds\":%uA,\"keys_pushed\":%uA,"
             "\"keys_failed\":%uA,\"sync_worker\":%uA}",
             sh->rounds, sh->pushed, sh->sync_failed, sh->lease.pid);
}


static void
ngx_http_astro_ratelimit_hybrid_prometheus(ngx_astro_out_t *out,
    ngx_http_astro_ratelimit_main_conf_t *rmcf)
{
    ngx_uint_t                          i, j, any;
    ngx_msec_int_t                      lag;
    ngx_atomic_uint_t                   counts[4];
    ngx_http_astro_ratelimit_zone_t   **zone;
    ngx_http_astro_ratelimit_shctx_t   *sh;
    static const char                  *paths[] = {
        "local", "exact", "cached", "fail"
    };

    zone = rmcf->zones.elts;
    any = 0;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        sh = zone[i]->sh;

        if (sh == NULL || zone[i]->backend != NGX_HTTP_ASTRO_RL_HYBRID) {
            continue;
        }

        if (!any) {
            ngx_astro_status_prom_head(out,
                "astro_ratelimit_hybrid_decisions_total", "counter",
                "Decisions of a hybrid zone: here, by Redis near the limit, "
                "Redis's refusal kept, by the fail policy");
            any = 1;
        }

        counts[0] = sh->local;
        counts[1] = sh->exact;
        counts[2] = sh->cached;
        counts[3] = sh->failopen + sh->failclosed;

        for (j = 0; j < 4; j++) {
            ngx_astro_out_literal(out,
                                  "astro_ratelimit_hybrid_decisions_total"
                                  "{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, ",path=\"%s\"} %uA\n", paths[j],
                                 counts[j]);
        }
    }

    if (!any) {
        return;
    }

    ngx_astro_status_prom_head(out, "astro_ratelimit_hybrid_keys_near_limit",
                               "gauge", "Keys of a hybrid zone in exact mode");

    for (i = 0; i < rmcf->zones.nelts; i++) {
        sh = zone[i]->sh;

        if (sh && zone[i]->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
            ngx_astro_out_literal(out,
                                  "astro_ratelimit_hybrid_keys_near_limit"
                                  "{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, "} %uA\n", sh->keys_near);
        }
    }

    ngx_astro_status_prom_head(out, "astro_ratelimit_hybrid_sync_lag_ms",
                               "gauge",
                               "Milliseconds since the last good sync "
                               "(-1: none yet)");

    for (i = 0; i < rmcf->zones.nelts; i++) {
        sh = zone[i]->sh;

        if (sh && zone[i]->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
            lag = ngx_http_astro_ratelimit_sync_lag(sh);

            ngx_astro_out_literal(out,
                                  "astro_ratelimit_hybrid_sync_lag_ms"
                                  "{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, "} %i\n", (ngx_int_t) lag);
        }
    }

    ngx_astro_status_prom_head(out, "astro_ratelimit_hybrid_sync_keys_total",
                               "counter",
                               "Keys a hybrid zone pushed to Redis, "
                               "by result");

    for (i = 0; i < rmcf->zones.nelts; i++) {
        sh = zone[i]->sh;

        if (sh && zone[i]->backend == NGX_HTTP_ASTRO_RL_HYBRID) {
            ngx_astro_out_literal(out,
                                  "astro_ratelimit_hybrid_sync_keys_total"
                                  "{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, ",result=\"ok\"} %uA\n", sh->pushed);

            ngx_astro_out_literal(out,
                                  "astro_ratelimit_hybrid_sync_keys_total"
                                  "{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, ",result=\"failed\"} %uA\n",
                                 sh->sync_failed);
        }
    }
}
