
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

    if (rmcf->redis) {
        ngx_astro_redis_prometheus(out, rmcf->redis, "astro_ratelimit");
    }
}
