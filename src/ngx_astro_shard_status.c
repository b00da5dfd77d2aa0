
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard.h"
#include "ngx_astro_shard_hot.h"
#include "ngx_astro_status.h"


/*
 * The "shard" section of the status endpoint: per map its table in
 * force (version, age, source), the PostgreSQL state and counts, the
 * requests refused by reason, and per shard its counts and its figures
 * of src/ngx_astro_shard_hot.c (recent share, hot ratio), the hot slots
 * and the suggested plan.  Counters are read without the lock (atomic
 * words); the error text and the window are copied under it.
 */


typedef struct {
    ngx_http_astro_shard_map_t         *map;
    ngx_http_astro_shard_hot_report_t   rep;
    ngx_int_t                           rc;         /* NGX_OK: a table */
    time_t                              error_time;
    size_t                              error_len;
    u_char                              error[NGX_HTTP_ASTRO_SHARD_ERROR_LEN];
} ngx_http_astro_shard_status_map_t;


static ngx_http_astro_shard_status_map_t *ngx_http_astro_shard_status_read(
    ngx_http_astro_shard_main_conf_t *smcf, ngx_pool_t *pool);
static void ngx_http_astro_shard_json(ngx_astro_out_t *out, void *data);
static void ngx_http_astro_shard_json_map(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st);
static void ngx_http_astro_shard_json_shards(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st);
static void ngx_http_astro_shard_json_slots(ngx_astro_out_t *out,
    ngx_http_astro_shard_hot_report_t *rep,
    ngx_http_astro_shard_hot_slot_t *slots, ngx_uint_t n);
static void ngx_http_astro_shard_prometheus(ngx_astro_out_t *out,
    void *data);
static void ngx_http_astro_shard_prom_shards(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st, ngx_uint_t n);
static void ngx_http_astro_shard_prom_slots(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st, ngx_uint_t n);
static void ngx_http_astro_shard_prom_map(ngx_astro_out_t *out,
    const char *name, ngx_http_astro_shard_map_t *map);
static void ngx_http_astro_shard_out_shard(ngx_astro_out_t *out,
    ngx_http_astro_shard_hot_report_t *rep, ngx_uint_t s, ngx_uint_t prom);


static const char  *ngx_http_astro_shard_strategies[] = {
    "hash", "range", "list"
};

static const char  *ngx_http_astro_shard_hashes[] = {
    "seed", "crc32", "murmur3"
};

static const char  *ngx_http_astro_shard_sources[] = {
    "conf", "postgres"
};

/* by NGX_HTTP_ASTRO_SHARD_REJECT_ */
static const char  *ngx_http_astro_shard_reasons[] = {
    "empty", "no_shard", "bad_key", "frozen", "no_map"
};


static ngx_str_t  ngx_http_astro_shard_none = ngx_string("");


ngx_int_t
ngx_http_astro_shard_status_add(ngx_conf_t *cf,
    ngx_http_astro_shard_main_conf_t *smcf)
{
    ngx_astro_status_section_t  section;

    ngx_str_set(&section.name, "shard");
    section.json = ngx_http_astro_shard_json;
    section.prometheus = ngx_http_astro_shard_prometheus;
    section.data = smcf;

    return ngx_astro_status_add(cf, &section);
}


/* every map's figures now, the error text copied under the mutex */

static ngx_http_astro_shard_status_map_t *
ngx_http_astro_shard_status_read(ngx_http_astro_shard_main_conf_t *smcf,
    ngx_pool_t *pool)
{
    ngx_uint_t                           i;
    ngx_slab_pool_t                     *shpool;
    ngx_http_astro_shard_map_t         **map;
    ngx_http_astro_shard_sh_map_t       *sh;
    ngx_http_astro_shard_status_map_t   *st;

    st = ngx_pcalloc(pool, (smcf->maps.nelts + 1)
                           * sizeof(ngx_http_astro_shard_status_map_t));
    if (st == NULL) {
        return NULL;
    }

    map = smcf->maps.elts;

    for (i = 0; i < smcf->maps.nelts; i++) {
        st[i].map = map[i];
        sh = map[i]->sh;

        if (sh == NULL) {
            st[i].rc = NGX_DECLINED;
            continue;
        }

        st[i].rc = ngx_http_astro_shard_hot_report(map[i], pool,
                                                   ngx_cycle->log, &st[i].rep);
        if (st[i].rc == NGX_ERROR) {
            return NULL;
        }

        shpool = map[i]->zone->shpool;

        ngx_shmtx_lock(&shpool->mutex);

        st[i].error_time = sh->error_time;
        st[i].error_len = ngx_min(sh->error_len,
                                  NGX_HTTP_ASTRO_SHARD_ERROR_LEN);
        ngx_memcpy(st[i].error, sh->error, st[i].error_len);

        ngx_shmtx_unlock(&shpool->mutex);
    }

    return st;
}


static void
ngx_http_astro_shard_json(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_shard_main_conf_t *smcf = data;

    ngx_uint_t                           i;
    ngx_http_astro_shard_zone_t        **zone;
    ngx_http_astro_shard_status_map_t   *st;

    st = ngx_http_astro_shard_status_read(smcf, out->pool);
    if (st == NULL) {
        out->error = 1;
        return;
    }

    ngx_astro_out_literal(out, "{\"enforcing\":true,\"zone\":");

    if (smcf->zones.nelts) {
        zone = smcf->zones.elts;
        ngx_astro_out_json_str(out, zone[0]->name.data, zone[0]->name.len);
        ngx_astro_out_printf(out, ",\"size\":%uz",
                             zone[0]->shm_zone->shm.size);

    } else {
        ngx_astro_out_literal(out, "null,\"size\":0");
    }

    ngx_astro_out_literal(out, ",\"window\":");
    ngx_astro_out_printf(out, "%d,\"hot_ratio\":",
                         NGX_HTTP_ASTRO_SHARD_HOT_WINDOW);
    ngx_astro_out_double(out, NGX_HTTP_ASTRO_SHARD_HOT_RATIO);
    ngx_astro_out_printf(out, ",\"hot_min\":%d,\"maps\":{",
                         NGX_HTTP_ASTRO_SHARD_HOT_MIN);

    for (i = 0; i < smcf->maps.nelts; i++) {
        if (i) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_http_astro_shard_json_map(out, &st[i]);
    }

    ngx_astro_out_literal(out, "}}");
}


static void
ngx_http_astro_shard_json_map(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st)
{
    time_t                          now;
    ngx_uint_t                      k;
    ngx_astro_shard_table_t        *t;
    ngx_http_astro_shard_map_t     *map;
    ngx_http_astro_shard_sh_map_t  *sh;

    map = st->map;
    sh = map->sh;
    t = (st->rc == NGX_OK) ? st->rep.table : NULL;
    now = ngx_time();

    ngx_astro_out_json_str(out, map->name.data, map->name.len);
    ngx_astro_out_printf(out, ":{\"strategy\":\"%s\"",
                         ngx_http_astro_shard_strategies[
                             t ? t->strategy : map->rows.strategy]);

    if ((t ? t->strategy : map->rows.strategy) == NGX_ASTRO_SHARD_HASH) {
        ngx_astro_out_printf(out, ",\"hash\":\"%s\",\"slots\":%uD",
                             ngx_http_astro_shard_hashes[
                                 t ? t->hash : map->rows.hash],
                             t ? t->nslots : (uint32_t) map->rows.slots);
    }

    ngx_astro_out_printf(out, ",\"postgres\":%s",
                         map->postgres.len ? "true" : "false");

    if (sh == NULL) {
        ngx_astro_out_literal(out, "}");
        return;
    }

    if (t) {
        ngx_astro_out_printf(out, ",\"version\":%uL,\"source\":\"%s\","
                             "\"published\":%T,\"age\":%T",
                             sh->version,
                             ngx_http_astro_shard_sources[sh->source],
                             sh->published,
                             now > sh->published ? now - sh->published : 0);

    } else {
        ngx_astro_out_literal(out, ",\"version\":null,\"source\":null,"
                              "\"published\":null,\"age\":null");
    }

    ngx_astro_out_printf(out, ",\"stale\":%s,\"error\":",
                         sh->stale ? "true" : "false");

    if (st->error_time) {
        ngx_astro_out_json_str(out, st->error, st->error_len);
        ngx_astro_out_printf(out, ",\"error_time\":%T", st->error_time);

    } else {
        ngx_astro_out_literal(out, "null,\"error_time\":null");
    }

    if (sh->checked) {
        ngx_astro_out_printf(out, ",\"checked\":%T", sh->checked);

    } else {
        ngx_astro_out_literal(out, ",\"checked\":null");
    }

    ngx_astro_out_printf(out,
                         ",\"listening\":%s,\"refreshes\":%uA,"
                         "\"refused\":%uA,\"failures\":%uA,"
                         "\"notifies\":%uA,\"connects\":%uA,\"rejects\":{",
                         sh->listening ? "true" : "false", sh->refreshes,
                         sh->refused, sh->failures, sh->notifies,
                         sh->connects);

    for (k = 0; k < NGX_HTTP_ASTRO_SHARD_REJECTS; k++) {
        ngx_astro_out_printf(out, "%s\"%s\":%uA", k ? "," : "",
                             ngx_http_astro_shard_reasons[k],
                             sh->rejects[k]);
    }

    ngx_astro_out_literal(out, "},\"recent\":");
    ngx_astro_out_double(out, st->rep.total);

    ngx_astro_out_literal(out, ",\"shards\":{");
    ngx_http_astro_shard_json_shards(out, st);
    ngx_astro_out_literal(out, "}");

    if (t && t->strategy == NGX_ASTRO_SHARD_HASH) {
        ngx_astro_out_literal(out, ",\"hot_slots\":[");
        ngx_http_astro_shard_json_slots(out, &st->rep, st->rep.slots,
                                        st->rep.nslots);
        ngx_astro_out_literal(out, "],\"imbalance\":");
        ngx_astro_out_double(out, st->rep.imbalance);
        ngx_astro_out_literal(out, ",\"plan\":{\"imbalance_after\":");
        ngx_astro_out_double(out, st->rep.imbalance_after);
        ngx_astro_out_literal(out, ",\"moves\":[");
        ngx_http_astro_shard_json_slots(out, &st->rep, st->rep.moves,
                                        st->rep.nmoves);
        ngx_astro_out_literal(out, "]}");
    }

    ngx_astro_out_literal(out, "}");
}


static void
ngx_http_astro_shard_json_shards(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st)
{
    ngx_uint_t                           s;
    ngx_atomic_uint_t                    requests, reads, writes, errors;
    ngx_http_astro_shard_hot_shard_t    *hs;
    ngx_http_astro_shard_sh_counts_t    *c;

    hs = st->rep.shards;

    for (s = 0; s < st->rep.nshards; s++) {
        c = hs[s].counts;

        requests = c ? c->requests : 0;
        reads = c ? c->reads : 0;
        writes = c ? c->writes : 0;
        errors = c ? c->errors : 0;

        if (s) {
            ngx_astro_out_literal(out, ",");
        }

        ngx_astro_out_json_str(out, hs[s].name.data, hs[s].name.len);
        ngx_astro_out_literal(out, ":{\"upstream\":");
        ngx_astro_out_json_str(out, hs[s].upstream.data,
                               hs[s].upstream.len);
        ngx_astro_out_printf(out, ",\"requests\":%uA,\"reads\":%uA,"
                             "\"writes\":%uA,\"errors\":%uA,\"recent\":",
                             requests, reads, writes, errors);
        ngx_astro_out_double(out, hs[s].recent);
        ngx_astro_out_printf(out, ",\"%s\":",
                             st->rep.table->strategy == NGX_ASTRO_SHARD_HASH
                             ? "slot_share" : "entry_share");
        ngx_astro_out_double(out, hs[s].share);
        ngx_astro_out_literal(out, ",\"request_share\":");
        ngx_astro_out_double(out, hs[s].request_share);
        ngx_astro_out_literal(out, ",\"hot_ratio\":");

        if (hs[s].ratio >= 0) {
            ngx_astro_out_double(out, hs[s].ratio);

        } else {
            ngx_astro_out_literal(out, "null");
        }

        ngx_astro_out_printf(out, ",\"hot\":%s}",
                             hs[s].hot ? "true" : "false");
    }
}


/* hot slots, or the plan's moves (with "to") */

static void
ngx_http_astro_shard_json_slots(ngx_astro_out_t *out,
    ngx_http_astro_shard_hot_report_t *rep,
    ngx_http_astro_shard_hot_slot_t *slots, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        ngx_astro_out_printf(out, "%s{\"slot\":%uD,\"%s\":", i ? "," : "",
                             slots[i].slot,
                             slots == rep->moves ? "from" : "shard");
        ngx_http_astro_shard_out_shard(out, rep, slots[i].shard, 0);

        if (slots == rep->moves) {
            ngx_astro_out_literal(out, ",\"to\":");
            ngx_http_astro_shard_out_shard(out, rep, slots[i].to, 0);
        }

        ngx_astro_out_literal(out, ",\"requests\":");
        ngx_astro_out_double(out, slots[i].recent);
        ngx_astro_out_literal(out, ",\"share\":");
        ngx_astro_out_double(out, rep->total ? slots[i].recent / rep->total
                                             : 0);
        ngx_astro_out_literal(out, "}");
    }
}


/* a shard's name by its index, quoted for JSON or for a label */

static void
ngx_http_astro_shard_out_shard(ngx_astro_out_t *out,
    ngx_http_astro_shard_hot_report_t *rep, ngx_uint_t s, ngx_uint_t prom)
{
    ngx_str_t  *name;

    name = s < rep->nshards ? &rep->shards[s].name
                            : &ngx_http_astro_shard_none;

    if (prom) {
        ngx_astro_out_prom_str(out, name->data, name->len);

    } else {
        ngx_astro_out_json_str(out, name->data, name->len);
    }
}


static void
ngx_http_astro_shard_prometheus(ngx_astro_out_t *out, void *data)
{
    ngx_http_astro_shard_main_conf_t *smcf = data;

    time_t                               now;
    ngx_uint_t                           i, k, m, n;
    ngx_atomic_uint_t                    v;
    ngx_http_astro_shard_sh_map_t       *sh;
    ngx_http_astro_shard_status_map_t   *st;

    /* a map's gauges and counters, in the order of the table below */

    static const struct {
        const char   *name;
        const char   *type;
        const char   *help;
    } maps[] = {
        { "astro_shard_map_version", "gauge",
          "Version of the map's table in force" },
        { "astro_shard_map_age_seconds", "gauge",
          "Seconds since the map's table in force was published" },
        { "astro_shard_map_stale", "gauge",
          "1 when the last read of the map from PostgreSQL failed" },
        { "astro_shard_map_listening", "gauge",
          "1 while the map's LISTEN on PostgreSQL is in force" },
        { "astro_shard_refreshes_total", "counter",
          "Tables read from PostgreSQL and taken" },
        { "astro_shard_refused_total", "counter",
          "Tables read from PostgreSQL and refused as wrong" },
        { "astro_shard_failures_total", "counter",
          "Reads of the map from PostgreSQL that failed" },
        { "astro_shard_notifies_total", "counter",
          "NOTIFYs received for the map" },
        { "astro_shard_connects_total", "counter",
          "Connections made to PostgreSQL for the map" }
    };

    st = ngx_http_astro_shard_status_read(smcf, out->pool);
    if (st == NULL) {
        out->error = 1;
        return;
    }

    n = smcf->maps.nelts;
    now = ngx_time();

    ngx_astro_status_prom_head(out, "astro_shard_map_info", "gauge",
                               "A map: its strategy and the source of "
                               "its table in force");

    for (i = 0; i < n; i++) {
        if (st[i].rc != NGX_OK) {
            continue;
        }

        ngx_http_astro_shard_prom_map(out, "astro_shard_map_info",
                                      st[i].map);
        ngx_astro_out_printf(out, ",strategy=\"%s\",source=\"%s\"} 1\n",
                     ngx_http_astro_shard_strategies[st[i].rep.table->strategy],
                     ngx_http_astro_shard_sources[st[i].map->sh->source]);
    }

    for (m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
        ngx_astro_status_prom_head(out, maps[m].name, maps[m].type,
                                   maps[m].help);

        for (i = 0; i < n; i++) {
            sh = st[i].map->sh;

            if (sh == NULL || (m < 2 && st[i].rc != NGX_OK)) {
                continue;
            }

            switch (m) {
            case 0:
                v = sh->version;
                break;
            case 1:
                v = now > sh->published ? now - sh->published : 0;
                break;
            case 2:
                v = sh->stale ? 1 : 0;
                break;
            case 3:
                v = sh->listening ? 1 : 0;
                break;
            case 4:
                v = sh->refreshes;
                break;
            case 5:
                v = sh->refused;
                break;
            case 6:
                v = sh->failures;
                break;
            case 7:
                v = sh->notifies;
                break;
            default: /* 8 */
                v = sh->connects;
                break;
            }

            ngx_http_astro_shard_prom_map(out, maps[m].name, st[i].map);
            ngx_astro_out_printf(out, "} %uA\n", v);
        }
    }

    ngx_astro_status_prom_head(out, "astro_shard_rejected_total", "counter",
                               "Requests refused, by reason");

    for (i = 0; i < n; i++) {
        sh = st[i].map->sh;

        for (k = 0; sh && k < NGX_HTTP_ASTRO_SHARD_REJECTS; k++) {
            ngx_http_astro_shard_prom_map(out, "astro_shard_rejected_total",
                                          st[i].map);
            ngx_astro_out_printf(out, ",reason=\"%s\"} %uA\n",
                                 ngx_http_astro_shard_reasons[k],
                                 sh->rejects[k]);
        }
    }

    ngx_http_astro_shard_prom_shards(out, st, n);
    ngx_http_astro_shard_prom_slots(out, st, n);
}


static void
ngx_http_astro_shard_prom_shards(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st, ngx_uint_t n)
{
    double                              d;
    ngx_uint_t                          i, m, s, hash;
    ngx_atomic_uint_t                   v;
    ngx_http_astro_shard_hot_shard_t   *hs;
    ngx_http_astro_shard_sh_counts_t   *c;

    static const struct {
        const char   *name;
        const char   *type;
        const char   *help;
    } shards[] = {
        { "astro_shard_requests_total", "counter",
          "Requests routed to the shard" },
        { "astro_shard_reads_total", "counter",
          "Of them, reads" },
        { "astro_shard_writes_total", "counter",
          "Of them, writes" },
        { "astro_shard_errors_total", "counter",
          "Of them, 5xx of the upstream, or nginx's 502 and 504" },
        { "astro_shard_recent_requests", "gauge",
          "Requests routed to the shard in the last window" },
        { "astro_shard_slot_share", "gauge",
          "Share of the slots of a hash map the shard serves" },
        { "astro_shard_entry_share", "gauge",
          "Share of the entries of a range or list map the shard serves" },
        { "astro_shard_request_share", "gauge",
          "Share of the map's requests in the last window" },
        { "astro_shard_hot_ratio", "gauge",
          "Request share over slot or entry share" },
        { "astro_shard_hot", "gauge",
          "1 when the hot ratio is at the threshold or above" }
    };

    for (m = 0; m < sizeof(shards) / sizeof(shards[0]); m++) {
        ngx_astro_status_prom_head(out, shards[m].name, shards[m].type,
                                   shards[m].help);

        for (i = 0; i < n; i++) {
            if (st[i].rc != NGX_OK) {
                continue;
            }

            hash = (st[i].rep.table->strategy == NGX_ASTRO_SHARD_HASH);

            if ((m == 5 && !hash) || (m == 6 && hash)) {
                continue;
            }

            hs = st[i].rep.shards;

            for (s = 0; s < st[i].rep.nshards; s++) {
                c = hs[s].counts;

                if (m == 8 && hs[s].ratio < 0) {
                    continue;
                }

                ngx_http_astro_shard_prom_map(out, shards[m].name,
                                              st[i].map);
                ngx_astro_out_literal(out, ",shard=");
                ngx_astro_out_prom_str(out, hs[s].name.data,
                                       hs[s].name.len);
                ngx_astro_out_literal(out, "} ");

                if (m < 4) {
                    v = c == NULL ? 0
                        : m == 0 ? c->requests
                        : m == 1 ? c->reads
                        : m == 2 ? c->writes : c->errors;

                    ngx_astro_out_printf(out, "%uA\n", v);
                    continue;
                }

                d = m == 4 ? hs[s].recent
                    : m < 7 ? hs[s].share
                    : m == 7 ? hs[s].request_share
                    : m == 8 ? hs[s].ratio : hs[s].hot;

                ngx_astro_out_double(out, d);
                ngx_astro_out_literal(out, "\n");
            }
        }
    }
}


static void
ngx_http_astro_shard_prom_slots(ngx_astro_out_t *out,
    ngx_http_astro_shard_status_map_t *st, ngx_uint_t n)
{
    ngx_uint_t                          i, j;
    ngx_http_astro_shard_hot_report_t  *rep;

    ngx_astro_status_prom_head(out, "astro_shard_hot_slot_requests",
                               "gauge",
                               "The ten busiest slots of a hash map: their "
                               "requests in the last window");

    for (i = 0; i < n; i++) {
        rep = &st[i].rep;

        for (j = 0; j < rep->nslots; j++) {
            ngx_http_astro_shard_prom_map(out,
                                          "astro_shard_hot_slot_requests",
                                          st[i].map);
            ngx_astro_out_printf(out, ",slot=\"%uD\",shard=",
                                 rep->slots[j].slot);
            ngx_http_astro_shard_out_shard(out, rep, rep->slots[j].shard, 1);
            ngx_astro_out_literal(out, "} ");
            ngx_astro_out_double(out, rep->slots[j].recent);
            ngx_astro_out_literal(out, "\n");
        }
    }

    ngx_astro_status_prom_head(out, "astro_shard_imbalance", "gauge",
                               "Most loaded shard's recent requests over "
                               "its even share, now and after the plan");

    for (i = 0; i < n; i++) {
        rep = &st[i].rep;

        if (st[i].rc != NGX_OK || rep->table->strategy != NGX_ASTRO_SHARD_HASH)
        {
            continue;
        }

        for (j = 0; j < 2; j++) {
            ngx_http_astro_shard_prom_map(out, "astro_shard_imbalance",
                                          st[i].map);
            ngx_astro_out_printf(out, ",when=\"%s\"} ", j ? "plan" : "now");
            ngx_astro_out_double(out, j ? rep->imbalance_after
                                        : rep->imbalance);
            ngx_astro_out_literal(out, "\n");
        }
    }

    ngx_astro_status_prom_head(out, "astro_shard_plan_move_requests",
                               "gauge",
                               "A move of the suggested plan: the slot's "
                               "requests in the last window");

    for (i = 0; i < n; i++) {
        rep = &st[i].rep;

        for (j = 0; j < rep->nmoves; j++) {
            ngx_http_astro_shard_prom_map(out,
                                          "astro_shard_plan_move_requests",
                                          st[i].map);
            ngx_astro_out_printf(out, ",slot=\"%uD\",from=",
                                 rep->moves[j].slot);
            ngx_http_astro_shard_out_shard(out, rep, rep->moves[j].shard, 1);
            ngx_astro_out_literal(out, ",to=");
            ngx_http_astro_shard_out_shard(out, rep, rep->moves[j].to, 1);
            ngx_astro_out_literal(out, "} ");
            ngx_astro_out_double(out, rep->moves[j].recent);
            ngx_astro_out_literal(out, "\n");
        }
    }
}


/* "name{map=\"m\"", the rest of the labels and the value the caller's */

static void
ngx_http_astro_shard_prom_map(ngx_astro_out_t *out, const char *name,
    ngx_http_astro_shard_map_t *map)
{
    ngx_astro_out_printf(out, "%s{map=", name);
    ngx_astro_out_prom_str(out, map->name.data, map->name.len);
}
