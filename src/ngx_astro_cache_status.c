
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_cache.h"
#include "ngx_astro_health_api.h"
#include "ngx_astro_status.h"


/*
 * The "cache" section of the status endpoint: per zone its policy, its
 * Redis sync state and, per class, the counts of the zone's records, all
 * read without the lock (atomic words; a count may be one behind).
 */


static void ngx_http_astro_cache_json_class(ngx_astro_out_t *out,
    ngx_http_astro_cache_class_t *class);
static void ngx_http_astro_cache_json_sync(ngx_astro_out_t *out,
    ngx_http_astro_cache_zone_t *zone);
static ngx_atomic_uint_t ngx_http_astro_cache_lag(
    ngx_http_astro_cache_sh_t *sh);
static double ngx_http_astro_cache_factor(ngx_http_astro_cache_zone_t *zone,
    ngx_uint_t health);
static ngx_atomic_uint_t ngx_http_astro_cache_sum(
    ngx_http_astro_cache_zone_t *zone, ngx_uint_t what);
static void ngx_http_astro_cache_prom_labels(ngx_astro_out_t *out,
    const char *name, ngx_http_astro_cache_zone_t *zone,
    ngx_http_astro_cache_class_t *class);


/* the statuses' names in the section: HIT ... REFRESH, lower case */
static const char  *ngx_http_astro_cache_counted[] = {
    "hit", "miss", "expired", "stale", "updating", "revalidated", "bypass",
    "refresh"
};


void
ngx_http_astro_cache_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_cache_main_conf_t *cmcf = data;

    ngx_uint_t                         i, j, health;
    ngx_http_astro_cache_zone_t      **zone;
    ngx_http_astro_cache_class_t      *class;
    ngx_http_astro_cache_adaptive_t   *ad;

    health = ngx_http_astro_health_current(NULL);

    ngx_astro_out_printf(out, "{\"enforcing\":true,\"health\":\"%s\","
                         "\"zones\":{", ngx_astro_health_name(health));

    zone = cmcf->zones.elts;

    for (i = 0; i < cmcf->zones.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, zone[i]->name.data, zone[i]->name.len);
        ngx_astro_out_printf(out, ":{\"size\":%uz,\"redis\":",
                             zone[i]->size);

        if (zone[i]->redis_url.len) {
            ngx_astro_out_json_str(out, zone[i]->redis_url.data,
                                   zone[i]->redis_url.len);
            ngx_astro_out_literal(out, ",\"sync\":");
            ngx_http_astro_cache_json_sync(out, zone[i]);

        } else {
            ngx_astro_out_literal(out, "null,\"sync\":null");
        }

        ngx_astro_out_literal(out, ",\"adaptive\":");

        ad = zone[i]->adaptive;

        if (ad) {
            ngx_astro_out_literal(out, "{\"degraded\":");
            ngx_astro_out_double(out, ad->degraded / 100.0);
            ngx_astro_out_literal(out, ",\"critical\":");
            ngx_astro_out_double(out, ad->critical / 100.0);
            ngx_astro_out_printf(out, ",\"max_ttl\":%T,\"churn\":",
                                 ad->max_ttl);

            if (ad->churn) {
                ngx_astro_out_printf(out, "{\"count\":%ui,\"period\":%T,"
                                     "\"shrink\":", ad->churn,
                                     ad->churn_period);
                ngx_astro_out_double(out, ad->shrink / 100.0);
                ngx_astro_out_literal(out, "}}");

            } else {
                ngx_astro_out_literal(out, "null}");
            }

        } else {
            ngx_astro_out_literal(out, "null");
        }

        ngx_astro_out_literal(out, ",\"factor\":");
        ngx_astro_out_double(out,
                             ngx_http_astro_cache_factor(zone[i], health));

        ngx_astro_out_printf(out,
                 ",\"key_invalidations\":{\"local\":%uA,\"received\":%uA}",
                 ngx_http_astro_cache_sum(zone[i],
                                          NGX_HTTP_ASTRO_CACHE_KEY_LOCAL),
                 ngx_http_astro_cache_sum(zone[i],
                                          NGX_HTTP_ASTRO_CACHE_KEY_RECEIVED));

        ngx_astro_out_literal(out, ",\"classes\":{");

        class = zone[i]->classes.elts;

        for (j = 0; j < zone[i]->classes.nelts; j++) {
            if (j) {
                ngx_astro_out_literal(out, ",");
            }

            ngx_http_astro_cache_json_class(out, &class[j]);
        }

        ngx_astro_out_literal(out, "}}");
    }

    ngx_astro_out_literal(out, "}}");
}


static void
ngx_http_astro_cache_json_class(ngx_astro_out_t *out,
    ngx_http_astro_cache_class_t *class)
{
    ngx_uint_t                        k;
    ngx_http_astro_cache_class_sh_t  *sh;

    ngx_astro_out_json_str(out, class->name.data, class->name.len);
    ngx_astro_out_printf(out,
                         ":{\"policy\":{\"ttl\":%T,\"stale\":%T,"
                         "\"stale_if_error\":%T,\"refresh\":%ui}",
                         class->ttl, class->stale, class->stale_if_error,
                         class->refresh);

    sh = class->sh;

    if (sh == NULL) {
        ngx_astro_out_literal(out, "}");
        return;
    }

    ngx_astro_out_printf(out, ",\"ttl_applied\":%uA,\"generation\":%uA,"
                         "\"requests\":{", sh->ttl_applied, sh->gen);

    for (k = 0; k < NGX_HTTP_ASTRO_CACHE_STATUS_N; k++) {
        ngx_astro_out_printf(out, "%s\"%s\":%uA", k ? "," : "",
                             ngx_http_astro_cache_counted[k], sh->count[k]);
    }

    ngx_astro_out_printf(out,
             "},\"stored\":%uA,\"refreshed\":%uA,"
             "\"not_admitted\":{\"admit\":%uA,\"memory\":%uA},"
             "\"never_cacheable\":%uA,"
             "\"invalidations\":{\"local\":%uA,\"received\":%uA}}",
             sh->count[NGX_HTTP_ASTRO_CACHE_STORED],
             sh->count[NGX_HTTP_ASTRO_CACHE_REFRESHED],
             sh->count[NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED],
             sh->count[NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED_MEMORY],
             sh->count[NGX_HTTP_ASTRO_CACHE_NEVER],
             sh->count[NGX_HTTP_ASTRO_CACHE_INV_LOCAL],
             sh->count[NGX_HTTP_ASTRO_CACHE_INV_RECEIVED]);
}


static void
ngx_http_astro_cache_json_sync(ngx_astro_out_t *out,
    ngx_http_astro_cache_zone_t *zone)
{
    ngx_http_astro_cache_sh_t  *sh;

    sh = zone->sh;

    if (sh == NULL) {
        ngx_astro_out_literal(out, "null");
        return;
    }

    ngx_astro_out_printf(out,
                         "{\"interval_ms\":%M,\"connected\":%s,"
                         "\"generation\":%uA,\"last_sync\":",
                         zone->sync, sh->connected ? "true" : "false",
                         sh->last_gen);

    if (sh->last_sync) {
        ngx_astro_out_printf(out, "%uA,\"lag\":%uA", sh->last_sync,
                             ngx_http_astro_cache_lag(sh));

    } else {
        ngx_astro_out_literal(out, "null,\"lag\":null");
    }

    ngx_astro_out_printf(out,
                         ",\"broadcast_failed\":%uA,\"pending\":%ui,"
                         "\"pending_lost\":%ui}",
                         sh->broadcast_failed, sh->pending_n,
                         sh->pending_lost);
}


/* seconds since the last read of Redis: 0 for a clock set back */

static ngx_atomic_uint_t
ngx_http_astro_cache_lag(ngx_http_astro_cache_sh_t *sh)
{
    ngx_atomic_uint_t  now, last;

    now = (ngx_atomic_uint_t) ngx_time();
    last = sh->last_sync;

    return now > last ? now - last : 0;
}


/* the factor of astro_cache_adaptive for the health now: 1 without it */

static double
ngx_http_astro_cache_factor(ngx_http_astro_cache_zone_t *zone,
    ngx_uint_t health)
{
    if (zone->adaptive == NULL || health == NGX_ASTRO_HEALTHY) {
        return 1;
    }

    return (health == NGX_ASTRO_CRITICAL ? zone->adaptive->critical
                                         : zone->adaptive->degraded)
           / 100.0;
}


/* a count over the zone's classes: key invalidations belong to none */

static ngx_atomic_uint_t
ngx_http_astro_cache_sum(ngx_http_astro_cache_zone_t *zone, ngx_uint_t what)
{
    ngx_uint_t                     i;
    ngx_atomic_uint_t              n;
    ngx_http_astro_cache_class_t  *class;

    n = 0;
    class = zone->classes.elts;

    for (i = 0; i < zone->classes.nelts; i++) {
        if (class[i].sh) {
            n += class[i].sh->count[what];
        }
    }

    return n;
}


void
ngx_http_astro_cache_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_cache_main_conf_t *cmcf = data;

    ngx_uint_t                         i, j, k, m;
    ngx_atomic_uint_t                  v;
    ngx_http_astro_cache_sh_t         *zsh;
    ngx_http_astro_cache_zone_t      **zone;
    ngx_http_astro_cache_class_t      *class;
    ngx_http_astro_cache_class_sh_t   *sh;

    static const char  *reasons[] = { "admit", "memory" };
    static const char  *origins[] = { "local", "received" };

    /* a class's counts: n of them from "first", one per label value */

    static const struct {
        const char   *name;
        const char   *help;
        const char   *label;
        const char  **values;
        ngx_uint_t    first;
        ngx_uint_t    n;
    } counters[] = {
        { "astro_cache_requests_total",
          "Requests of a class by $astro_cache_status",
          "status", ngx_http_astro_cache_counted,
          NGX_HTTP_ASTRO_CACHE_HIT, NGX_HTTP_ASTRO_CACHE_STATUS_N },
        { "astro_cache_stored_total",
          "Stores begun with the class's validity",
          NULL, NULL, NGX_HTTP_ASTRO_CACHE_STORED, 1 },
        { "astro_cache_refreshed_total",
          "Of the stores, those of a background refresh",
          NULL, NULL, NGX_HTTP_ASTRO_CACHE_REFRESHED, 1 },
        { "astro_cache_not_admitted_total",
          "Responses not stored: admit= said no, or memory was critical",
          "reason", reasons, NGX_HTTP_ASTRO_CACHE_NOT_ADMITTED, 2 },
        { "astro_cache_never_cacheable_total",
          "Responses never stored: Set-Cookie, private, no-store, Vary: *",
          NULL, NULL, NGX_HTTP_ASTRO_CACHE_NEVER, 1 },
        { "astro_cache_invalidations_total",
          "Class invalidations, made here or received through Redis",
          "origin", origins, NGX_HTTP_ASTRO_CACHE_INV_LOCAL, 2 }
    };

    static const struct {
        const char   *name;
        const char   *help;
    } gauges[] = {
        { "astro_cache_ttl_seconds", "The class's configured TTL" },
        { "astro_cache_ttl_applied_seconds",
          "The TTL of the class's last store, after the factors" },
        { "astro_cache_generation",
          "The class's generation, for $astro_cache_gen" }
    };

    static const struct {
        const char   *name;
        const char   *type;
        const char   *help;
    } syncs[] = {
        { "astro_cache_redis_connected", "gauge",
          "Whether the zone's subscription to Redis is up" },
        { "astro_cache_sync_lag_seconds", "gauge",
          "Seconds since the generations were last read from Redis" },
        { "astro_cache_broadcast_failed_total", "counter",
          "Invalidations made here that Redis did not take" },
        { "astro_cache_pending_lost_total", "counter",
          "Key invalidations lost from the ring of those to publish" }
    };

    zone = cmcf->zones.elts;

    for (m = 0; m < sizeof(counters) / sizeof(counters[0]); m++) {
        ngx_astro_status_prom_head(out, counters[m].name, "counter",
                                   counters[m].help);

        for (i = 0; i < cmcf->zones.nelts; i++) {
            class = zone[i]->classes.elts;

            for (j = 0; j < zone[i]->classes.nelts; j++) {
                sh = class[j].sh;

                for (k = 0; sh && k < counters[m].n; k++) {
                    ngx_http_astro_cache_prom_labels(out, counters[m].name,
                                                     zone[i], &class[j]);
                    if (counters[m].label) {
                        ngx_astro_out_printf(out, ",%s=\"%s\"",
                                             counters[m].label,
                                             counters[m].values[k]);
                    }

                    ngx_astro_out_printf(out, "} %uA\n",
                                         sh->count[counters[m].first + k]);
                }
            }
        }
    }

    ngx_astro_status_prom_head(out, "astro_cache_key_invalidations_total",
                               "counter",
                               "Key invalidations, made here or received "
                               "through Redis");

    for (i = 0; i < cmcf->zones.nelts; i++) {
        for (k = 0; k < 2; k++) {
            ngx_astro_out_literal(out,
                                  "astro_cache_key_invalidations_total{zone=");
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, ",origin=\"%s\"} %uA\n", origins[k],
                                 ngx_http_astro_cache_sum(zone[i],
                                         NGX_HTTP_ASTRO_CACHE_KEY_LOCAL + k));
        }
    }

    for (m = 0; m < sizeof(gauges) / sizeof(gauges[0]); m++) {
        ngx_astro_status_prom_head(out, gauges[m].name, "gauge",
                                   gauges[m].help);

        for (i = 0; i < cmcf->zones.nelts; i++) {
            class = zone[i]->classes.elts;

            for (j = 0; j < zone[i]->classes.nelts; j++) {
                sh = class[j].sh;

                if (m == 0) {
                    v = (ngx_atomic_uint_t) class[j].ttl;

                } else if (sh == NULL) {
                    continue;

                } else {
                    v = (m == 1) ? sh->ttl_applied : sh->gen;
                }

                ngx_http_astro_cache_prom_labels(out, gauges[m].name,
                                                 zone[i], &class[j]);
                ngx_astro_out_printf(out, "} %uA\n", v);
            }
        }
    }

    /* the zones with Redis: their sync state */

    for (m = 0; m < sizeof(syncs) / sizeof(syncs[0]); m++) {
        ngx_astro_status_prom_head(out, syncs[m].name, syncs[m].type,
                                   syncs[m].help);

        for (i = 0; i < cmcf->zones.nelts; i++) {
            zsh = zone[i]->sh;

            if (zsh == NULL || zone[i]->redis_url.len == 0) {
                continue;
            }

            switch (m) {

            case 0:
                v = zsh->connected ? 1 : 0;
                break;

            case 1:

                /* no lag before the first read: no sample */

                if (zsh->last_sync == 0) {
                    continue;
                }

                v = ngx_http_astro_cache_lag(zsh);
                break;

            case 2:
                v = zsh->broadcast_failed;
                break;

            default:
                v = zsh->pending_lost;
            }

            ngx_astro_out_printf(out, "%s{zone=", syncs[m].name);
            ngx_astro_out_prom_str(out, zone[i]->name.data,
                                   zone[i]->name.len);
            ngx_astro_out_printf(out, "} %uA\n", v);
        }
    }
}


/* "name{zone=...,class=..." without the closing brace */

static void
ngx_http_astro_cache_prom_labels(ngx_astro_out_t *out, const char *name,
    ngx_http_astro_cache_zone_t *zone, ngx_http_astro_cache_class_t *class)
{
    ngx_astro_out_printf(out, "%s{zone=", name);
    ngx_astro_out_prom_str(out, zone->name.data, zone->name.len);
    ngx_astro_out_literal(out, ",class=");
    ngx_astro_out_prom_str(out, class->name.data, class->name.len);
}
