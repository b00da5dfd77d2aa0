
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_ratelimit.h"
#include "ngx_astro_status.h"


/*
 * The "ratelimit" section of the status endpoint.  Only zones with
 * backend=local enforce in this release; the counts are read from the
 * zones without the lock.
 */


static ngx_uint_t ngx_http_astro_ratelimit_enforcing(
    ngx_http_astro_ratelimit_main_conf_t *rmcf);


static ngx_uint_t
ngx_http_astro_ratelimit_enforcing(ngx_http_astro_ratelimit_main_conf_t *rmcf)
{
    ngx_uint_t                         i;
    ngx_http_astro_ratelimit_zone_t  **zone;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i]->backend == NGX_HTTP_ASTRO_RL_LOCAL) {
            return 1;
        }
    }

    return 0;
}


void
ngx_http_astro_ratelimit_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_ratelimit_main_conf_t *rmcf = data;

    ngx_uint_t                         i, j;
    ngx_http_astro_ratelimit_tier_t   *tier;
    ngx_http_astro_ratelimit_zone_t  **zone;
    ngx_http_astro_ratelimit_shctx_t  *sh;

    ngx_astro_out_printf(out, "{\"enforcing\":%s,\"redis\":",
                         ngx_http_astro_ratelimit_enforcing(rmcf)
                         ? "true" : "false");

    if (rmcf->redis) {
        ngx_astro_out_json_str(out, rmcf->redis->name.data,
                               rmcf->redis->name.len);

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
                 ":{\"enforcing\":%s,\"rate\":\"%uDr/%c\",\"burst\":%ui,"
                 "\"algorithm\":\"%V\",\"backend\":\"%V\",\"fail\":\"%V\","
                 "\"tiers\":[",
                 zone[i]->backend == NGX_HTTP_ASTRO_RL_LOCAL
                 ? "true" : "false",
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
                                 "\"rejected\":%uA,\"dry_run\":%uA",
                                 sh->passed, sh->delayed, sh->rejected,
                                 sh->dry_run);
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
    ngx_atomic_uint_t                   n;
    ngx_http_astro_ratelimit_zone_t   **zone;
    ngx_http_astro_ratelimit_shctx_t   *sh;
    static const char                  *results[] = {
        "passed", "delayed", "rejected", "dry_run"
    };

    zone = rmcf->zones.elts;

    ngx_astro_status_prom_head(out, "astro_ratelimit_enforcing", "gauge",
                               "Whether the rate limiter enforces a zone");
    ngx_astro_out_printf(out, "astro_ratelimit_enforcing %ui\n",
                         ngx_http_astro_ratelimit_enforcing(rmcf));

    ngx_astro_status_prom_head(out, "astro_ratelimit_zones", "gauge",
                               "Configured rate limit zones");
    ngx_astro_out_printf(out, "astro_ratelimit_zones %ui\n",
                         rmcf->zones.nelts);

    ngx_astro_status_prom_head(out, "astro_ratelimit_zone_enforcing",
                               "gauge",
                               "Whether a zone enforces (backend=local)");

    for (i = 0; i < rmcf->zones.nelts; i++) {
        ngx_astro_out_literal(out, "astro_ratelimit_zone_enforcing{zone=");
        ngx_astro_out_json_str(out, zone[i]->name.data, zone[i]->name.len);
        ngx_astro_out_printf(out, "} %d\n",
                             zone[i]->backend == NGX_HTTP_ASTRO_RL_LOCAL);
    }

    ngx_astro_status_prom_head(out, "astro_ratelimit_requests_total",
                               "counter",
                               "Decisions of a zone by result");

    for (i = 0; i < rmcf->zones.nelts; i++) {
        sh = zone[i]->sh;

        if (sh == NULL) {
            continue;
        }

        for (j = 0; j < 4; j++) {
            n = (j == 0) ? sh->passed
                         : (j == 1) ? sh->delayed
                                    : (j == 2) ? sh->rejected : sh->dry_run;

            ngx_astro_out_literal(out, "astro_ratelimit_requests_total{zone=");
            ngx_astro_out_json_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, ",result=\"%s\"} %uA\n", results[j], n);
        }
    }
}
