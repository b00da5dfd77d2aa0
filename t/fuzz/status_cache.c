
/*
 * Copyright (C) astro developers
 */


/*
 * The status harness's cache section (src/ngx_astro_cache_status.c, as
 * it is): zones and classes of any names, with or without their shared
 * records, Redis and adaptive settings, any counters, clock and health
 * status; its JSON valid, each zone and class under its name with its
 * counts, and its Prometheus text valid.
 */

#include "status.h"
#include "ngx_astro_cache.h"


#define MAX_CZONES   3
#define MAX_CLASSES  4


typedef struct {
    ngx_http_astro_cache_zone_t        zone;
    ngx_http_astro_cache_sh_t          sh;
    ngx_http_astro_cache_adaptive_t    adaptive;
    ngx_http_astro_cache_class_t       classes[MAX_CLASSES];
    ngx_http_astro_cache_class_sh_t    class_sh[MAX_CLASSES];
} fuzz_cache_zone_t;


static void fuzz_check_cache(u_char *doc, size_t len,
    fuzz_cache_zone_t *zones, ngx_uint_t nzones);


/* the cache section from the rest of the input */

void
fuzz_cache(fuzz_input_t *in, ngx_pool_t *pool)
{
    size_t                             len;
    u_char                            *doc;
    ngx_uint_t                         i, j, k, nzones, flags;
    ngx_astro_out_t                    out;
    fuzz_cache_zone_t                 *zones, *z;
    ngx_http_astro_cache_zone_t       *zp[MAX_CZONES];
    ngx_http_astro_cache_class_sh_t   *csh;
    ngx_http_astro_cache_main_conf_t   cmcf;

    fuzz_health = fuzz_take_u64(in, 1) % 3;
    fuzz_time.sec = (time_t) fuzz_take_u64(in, 8);
    ngx_cached_time = &fuzz_time;

    nzones = fuzz_take_u64(in, 1) % (MAX_CZONES + 1);

    zones = ngx_pcalloc(pool, MAX_CZONES * sizeof(fuzz_cache_zone_t));
    fuzz_assert(zones != NULL);

    for (i = 0; i < nzones; i++) {
        z = &zones[i];
        flags = fuzz_take_u64(in, 1);

        fuzz_take_name(in, pool, 64, 1, &z->zone.name);
        z->zone.size = fuzz_take_u64(in, 8);
        z->zone.sync = fuzz_take_u64(in, 4);

        if (flags & 1) {
            fuzz_take_name(in, pool, 32, 0, &z->zone.redis_url);
        }

        if (flags & 2) {
            z->zone.adaptive = &z->adaptive;
            z->adaptive.degraded = fuzz_take_u64(in, 2);
            z->adaptive.critical = fuzz_take_u64(in, 2);
            z->adaptive.max_ttl = (time_t) fuzz_take_u64(in, 4);
            z->adaptive.churn = (flags & 4) ? fuzz_take_u64(in, 2) : 0;
            z->adaptive.churn_period = (time_t) fuzz_take_u64(in, 4);
            z->adaptive.shrink = fuzz_take_u64(in, 1);
        }

        /* a zone of a configuration not yet running has no records */

        if (!(flags & 8)) {
            z->zone.sh = &z->sh;
            z->sh.connected = flags & 16;
            z->sh.last_gen = fuzz_take_u64(in, 8);
            z->sh.last_sync = fuzz_take_u64(in, 8);
            z->sh.broadcast_failed = fuzz_take_u64(in, 8);
            z->sh.pending_n = fuzz_take_u64(in, 1);
            z->sh.pending_lost = fuzz_take_u64(in, 8);
        }

        z->zone.classes.elts = z->classes;
        z->zone.classes.nelts = 1 + (flags >> 5) % MAX_CLASSES;
        z->zone.classes.size = sizeof(ngx_http_astro_cache_class_t);

        for (j = 0; j < z->zone.classes.nelts; j++) {
            fuzz_take_name(in, pool, NGX_HTTP_ASTRO_CACHE_CLASS_LEN, 1,
                           &z->classes[j].name);
            z->classes[j].ttl = (time_t) fuzz_take_u64(in, 4);
            z->classes[j].stale = (time_t) fuzz_take_u64(in, 4);
            z->classes[j].stale_if_error = (time_t) fuzz_take_u64(in, 4);
            z->classes[j].refresh = fuzz_take_u64(in, 1);

            if (z->zone.sh == NULL) {
                continue;
            }

            csh = &z->class_sh[j];
            z->classes[j].sh = csh;

            csh->gen = fuzz_take_u64(in, 8);
            csh->ttl_applied = fuzz_take_u64(in, 4);

            for (k = 0; k < NGX_HTTP_ASTRO_CACHE_COUNT_N; k++) {
                csh->count[k] = fuzz_take_u64(in, 1 + k % 8);
            }
        }

        zp[i] = &z->zone;
    }

    ngx_memzero(&cmcf, sizeof(cmcf));
    cmcf.zones.elts = zp;
    cmcf.zones.nelts = nzones;
    cmcf.zones.size = sizeof(ngx_http_astro_cache_zone_t *);

    ngx_astro_out_init(&out, pool);
    ngx_astro_out_literal(&out, "{\"cache\":");
    ngx_http_astro_cache_json(&out, &cmcf);
    ngx_astro_out_literal(&out, "}");
    fuzz_assert(!out.error);

    doc = fuzz_flatten(&out, &len);
    fuzz_check_cache(doc, len, zones, nzones);
    free(doc);

    fuzz_section_prometheus(pool, ngx_http_astro_cache_prometheus, &cmcf);
}


/* each zone and class whose name is UTF-8, with its counts */

static void
fuzz_check_cache(u_char *doc, size_t len, fuzz_cache_zone_t *zones,
    ngx_uint_t nzones)
{
    json_t                           *json, *jc, *jz, *z, *c, *o;
    ngx_uint_t                        i, j;
    ngx_http_astro_cache_zone_t      *zone;
    ngx_http_astro_cache_class_t     *class;
    ngx_http_astro_cache_class_sh_t  *sh;

    json = fuzz_json(doc, len);

    jc = json_object_get(json, "cache");
    fuzz_assert(json_is_true(json_object_get(jc, "enforcing")));

    jz = json_object_get(jc, "zones");
    fuzz_assert(json_is_object(jz) && json_object_size(jz) <= nzones);

    for (i = 0; i < nzones; i++) {
        zone = &zones[i].zone;

        if (!fuzz_is_utf8(zone->name.data, zone->name.len)
            || !fuzz_last_of(&zone->name, sizeof(fuzz_cache_zone_t),
                             (u_char *) zones, i, nzones))
        {
            continue;
        }

        z = json_object_getn(jz, (char *) zone->name.data, zone->name.len);
        fuzz_assert(json_is_object(z));

        fuzz_assert(json_is_null(json_object_get(z, "sync"))
                    == (zone->redis_url.len == 0 || zone->sh == NULL));
        fuzz_assert(json_is_null(json_object_get(z, "adaptive"))
                    == (zone->adaptive == NULL));

        c = json_object_get(z, "classes");
        fuzz_assert(json_is_object(c));

        class = zone->classes.elts;

        for (j = 0; j < zone->classes.nelts; j++) {
            if (!fuzz_is_utf8(class[j].name.data, class[j].name.len)
                || !fuzz_last_of(&class[j].name,
                                 sizeof(ngx_http_astro_cache_class_t),
                                 (u_char *) class, j, zone->classes.nelts))
            {
                continue;
            }

            o = json_object_getn(c, (char *) class[j].name.data,
                                 class[j].name.len);
            fuzz_assert(json_is_object(o));

            fuzz_assert(json_real_value(json_object_get(
                            json_object_get(o, "policy"), "refresh"))
                        == (double) class[j].refresh);

            sh = class[j].sh;

            if (sh == NULL) {
                fuzz_assert(json_object_get(o, "requests") == NULL);
                continue;
            }

            fuzz_assert(json_real_value(json_object_get(o, "generation"))
                        == (double) sh->gen);
            fuzz_assert(json_real_value(json_object_get(
                            json_object_get(o, "requests"), "refresh"))
                        == (double) sh->count[NGX_HTTP_ASTRO_CACHE_REFRESH]);
            fuzz_assert(json_real_value(json_object_get(o, "stored"))
                        == (double) sh->count[NGX_HTTP_ASTRO_CACHE_STORED]);
            fuzz_assert(json_real_value(json_object_get(
                            json_object_get(o, "invalidations"), "received"))
                   == (double) sh->count[NGX_HTTP_ASTRO_CACHE_INV_RECEIVED]);
        }
    }

    json_decref(json);
}
