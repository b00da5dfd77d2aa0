
/*
 * Copyright (C) astro developers
 */


/*
 * The status writers with hostile names and values: the rate limiter's
 * section (src/ngx_astro_ratelimit_status.c, as it is) for zones and
 * tiers of any names and counters of any values, and numbers of any bits
 * through ngx_astro_out_double(), all in one JSON document through the
 * growing buffers of src/ngx_astro_out.c; and Prometheus samples whose
 * labels are those names (ngx_astro_out_prom_str()) and whose values
 * are those numbers.  Checked:
 *
 *   the buffers hold out.size bytes;
 *   the document is valid JSON (jansson, which also rejects invalid
 *   UTF-8), its zones are the zones, each under its name when the name
 *   is UTF-8, with its counters; a number reads back within 0.0005 of
 *   its value (1e18 at most, NaN and infinities as 0);
 *   the Prometheus text is valid (the text format's grammar, checked
 *   here: UTF-8, label values with no escape but \\, \" and \n), and
 *   its label values are the names when they are UTF-8.
 *
 * The section's own Prometheus text is written and checked against the
 * grammar too (its labels are not the names alone: zones == NULL).
 *
 * Then the cache section (status_cache.c) and ?scope=fleet
 * (status_fleet.c) from the rest of the input.
 */

#include <math.h>

#include "status.h"


/* the modules the files linked refer to, and the Redis client they skip */

ngx_module_t  ngx_astro_module;
ngx_module_t  ngx_astro_ratelimit_module;


ngx_int_t
ngx_astro_redis_add_script(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script)
{
    abort();
}


void
ngx_astro_redis_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    abort();
}


void
ngx_astro_redis_prometheus(ngx_astro_out_t *out, ngx_astro_redis_t *rd,
    const char *prefix)
{
    abort();
}


/* the health module's answer, and the clock, as the input says */

ngx_uint_t  fuzz_health;
ngx_time_t  fuzz_time;


ngx_uint_t
ngx_http_astro_health_current(ngx_http_request_t *r)
{
    return fuzz_health;
}


static void fuzz_check_json(u_char *doc, size_t len, fuzz_zone_t *zones,
    ngx_uint_t nzones, double *values, ngx_uint_t nvalues);
static void fuzz_prometheus(ngx_astro_out_t *out, fuzz_zone_t *zones,
    ngx_uint_t nzones, double *values, ngx_uint_t nvalues);
static u_char *fuzz_label_value(u_char *p, u_char *end, u_char *value,
    size_t *len);


ngx_log_t  fuzz_log;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                                 len;
    double                                 values[MAX_VALUES];
    u_char                                *doc;
    uint64_t                               bits;
    ngx_uint_t                             i, j, nzones, nvalues, flags;
    ngx_pool_t                            *pool;
    fuzz_zone_t                            zones[MAX_ZONES];
    fuzz_input_t                           in;
    ngx_astro_out_t                        out;
    ngx_http_astro_ratelimit_zone_t       *zp[MAX_ZONES];
    ngx_http_astro_ratelimit_main_conf_t   rmcf;

    in.p = data;
    in.left = size;

    pool = ngx_create_pool(1024, &fuzz_log);
    fuzz_assert(pool != NULL);

    ngx_memzero(&rmcf, sizeof(rmcf));
    ngx_memzero(zones, sizeof(zones));

    nzones = 1 + fuzz_take_u64(&in, 1) % MAX_ZONES;

    for (i = 0; i < nzones; i++) {
        flags = fuzz_take_u64(&in, 1);

        fuzz_take_name(&in, pool, 64, 1, &zones[i].zone.name);

        zones[i].zone.rate.count = (uint32_t) fuzz_take_u64(&in, 4);
        zones[i].zone.rate.period = (flags & 1) ? 60 : 1;
        zones[i].zone.burst = fuzz_take_u64(&in, 8);
        zones[i].zone.algorithm = (flags >> 1) & 1;
        zones[i].zone.backend = (flags >> 2) & 1;
        zones[i].zone.fail = (flags >> 3) & 1;

        zones[i].zone.tiers.elts = zones[i].tiers;
        zones[i].zone.tiers.nelts = (flags >> 4) % (MAX_TIERS + 1);
        zones[i].zone.tiers.size = sizeof(ngx_http_astro_ratelimit_tier_t);

        for (j = 0; j < zones[i].zone.tiers.nelts; j++) {
            fuzz_take_name(&in, pool, 32, 0, &zones[i].tiers[j].name);
        }

        /* a zone of a configuration not yet running has no counters */

        if (!(flags & 0x80)) {
            zones[i].zone.sh = &zones[i].sh;
            zones[i].sh.passed = fuzz_take_u64(&in, 8);
            zones[i].sh.delayed = fuzz_take_u64(&in, 8);
            zones[i].sh.rejected = fuzz_take_u64(&in, 8);
            zones[i].sh.dry_run = fuzz_take_u64(&in, 8);
            zones[i].sh.failopen = fuzz_take_u64(&in, 8);
            zones[i].sh.failclosed = fuzz_take_u64(&in, 8);
        }

        zp[i] = &zones[i].zone;
    }

    rmcf.zones.elts = zp;
    rmcf.zones.nelts = nzones;
    rmcf.zones.size = sizeof(ngx_http_astro_ratelimit_zone_t *);

    for (nvalues = 0; nvalues < MAX_VALUES && in.left >= 8; nvalues++) {
        bits = fuzz_take_u64(&in, 8);
        ngx_memcpy(&values[nvalues], &bits, sizeof(double));
    }

    /* the document */

    ngx_astro_out_init(&out, pool);
    ngx_astro_out_literal(&out, "{\"ratelimit\":");
    ngx_http_astro_ratelimit_json(&out, &rmcf);
    ngx_astro_out_literal(&out, ",\"values\":[");

    for (i = 0; i < nvalues; i++) {
        if (i) {
            ngx_astro_out_literal(&out, ",");
        }

        ngx_astro_out_double(&out, values[i]);
    }

    ngx_astro_out_literal(&out, "]}");

    fuzz_assert(!out.error);

    doc = fuzz_flatten(&out, &len);
    fuzz_check_json(doc, len, zones, nzones, values, nvalues);
    free(doc);

    /* samples labelled with the names */

    ngx_astro_out_init(&out, pool);
    fuzz_prometheus(&out, zones, nzones, values, nvalues);
    fuzz_assert(!out.error);

    doc = fuzz_flatten(&out, &len);
    fuzz_check_prometheus(doc, len, zones, nzones);
    free(doc);

    fuzz_section_prometheus(pool, ngx_http_astro_ratelimit_prometheus, &rmcf);

    fuzz_cache(&in, pool);

    fuzz_fleet(&in, pool);

    ngx_destroy_pool(pool);

    return 0;
}


/*
 * A name copied from the input (a read past it is caught); a key of a
 * JSON object gets no NUL, which jansson does not take in a key (JSON
 * does: "\u0000").
 */

void
fuzz_take_name(fuzz_input_t *in, ngx_pool_t *pool, size_t max,
    ngx_uint_t key, ngx_str_t *name)
{
    size_t          i, len;
    const uint8_t  *p;

    p = fuzz_take_bytes(in, max, &len);

    name->data = ngx_pnalloc(pool, len);
    fuzz_assert(name->data != NULL || len == 0);
    name->len = len;
    ngx_memcpy(name->data, p, len);

    for (i = 0; key && i < len; i++) {
        if (name->data[i] == '\0') {
            name->data[i] = 1;
        }
    }
}


/*
 * A section's own Prometheus text, checked against the grammar (its
 * labels are not the names alone: zones == NULL).
 */

void
fuzz_section_prometheus(ngx_pool_t *pool, ngx_astro_status_write_pt write,
    void *data)
{
    size_t            len;
    u_char           *doc;
    ngx_astro_out_t   out;

    ngx_astro_out_init(&out, pool);
    write(&out, data);
    fuzz_assert(!out.error);

    doc = fuzz_flatten(&out, &len);
    fuzz_check_prometheus(doc, len, NULL, 0);
    free(doc);
}


/*
 * Whether the i-th of n named things (each "size" bytes from base, the
 * name first) is the last of its name: a JSON object keeps the last of
 * a name given twice (nginx refuses it).
 */

ngx_uint_t
fuzz_last_of(ngx_str_t *name, size_t size, u_char *base, ngx_uint_t i,
    ngx_uint_t n)
{
    ngx_str_t  *other;

    for (i++; i < n; i++) {
        other = (ngx_str_t *) (base + i * size);

        if (other->len == name->len
            && ngx_memcmp(other->data, name->data, name->len) == 0)
        {
            return 0;
        }
    }

    return 1;
}


/* the document, which must be valid JSON */

json_t *
fuzz_json(u_char *doc, size_t len)
{
    json_t        *json;
    json_error_t   err;

    /* big counters as reals: jansson's integers stop at 2^63 */

    json = json_loadb((char *) doc, len,
                      JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);

    if (json == NULL) {
        fprintf(stderr, "invalid JSON: %s at %d: %.*s\n", err.text,
                err.position, (int) len, doc);
    }

    fuzz_assert(json != NULL);

    return json;
}


/* the chain in one buffer of its own, exactly out.size long */

u_char *
fuzz_flatten(ngx_astro_out_t *out, size_t *len)
{
    u_char       *doc, *p;
    size_t        n;
    ngx_chain_t  *cl;

    n = 0;

    for (cl = out->first; cl; cl = cl->next) {
        fuzz_assert(cl->buf->last >= cl->buf->pos
                    && cl->buf->last <= cl->buf->end);
        n += cl->buf->last - cl->buf->pos;
    }

    fuzz_assert((off_t) n == out->size);

    doc = malloc(n ? n : 1);
    fuzz_assert(doc != NULL);

    p = doc;

    for (cl = out->first; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *len = n;

    return doc;
}


static void
fuzz_check_json(u_char *doc, size_t len, fuzz_zone_t *zones,
    ngx_uint_t nzones, double *values, ngx_uint_t nvalues)
{
    double                             v, d, tol;
    json_t                            *json, *jz, *z, *jv;
    ngx_uint_t                         i;
    ngx_http_astro_ratelimit_shctx_t  *sh;

    json = fuzz_json(doc, len);

    jz = json_object_get(json_object_get(json, "ratelimit"), "zones");
    fuzz_assert(json_is_object(jz));
    fuzz_assert(json_object_size(jz) <= nzones);

    for (i = 0; i < nzones; i++) {
        if (!fuzz_is_utf8(zones[i].zone.name.data, zones[i].zone.name.len)) {
            continue;
        }

        z = json_object_getn(jz, (char *) zones[i].zone.name.data,
                             zones[i].zone.name.len);
        fuzz_assert(json_is_object(z));

        sh = zones[i].zone.sh;

        if (sh == NULL
            || !fuzz_last_of(&zones[i].zone.name, sizeof(fuzz_zone_t),
                             (u_char *) zones, i, nzones))
        {
            continue;
        }

        fuzz_assert(json_real_value(json_object_get(z, "passed"))
                    == (double) sh->passed);
        fuzz_assert(json_real_value(json_object_get(z, "fail_closed"))
                    == (double) sh->failclosed);
    }

    jv = json_object_get(json, "values");
    fuzz_assert(json_is_array(jv) && json_array_size(jv) == nvalues);

    for (i = 0; i < nvalues; i++) {
        v = values[i];
        d = json_real_value(json_array_get(jv, i));

        if (isnan(v) || isinf(v)) {
            fuzz_assert(d == 0);
            continue;
        }

        v = (v > 1e18) ? 1e18 : (v < -1e18) ? -1e18 : v;

        /* three decimals, and the double's own precision when it is big */

        tol = 0.0005 + fabs(v) * 1e-15;
        fuzz_assert(fabs(d - v) <= tol);
    }

    json_decref(json);
}


/* a sample a zone and a tier, as the sections write them */

static void
fuzz_prometheus(ngx_astro_out_t *out, fuzz_zone_t *zones, ngx_uint_t nzones,
    double *values, ngx_uint_t nvalues)
{
    ngx_uint_t                        i, j;
    ngx_http_astro_ratelimit_tier_t  *tier;

    ngx_astro_status_prom_head(out, "astro_fuzz_total", "counter",
                               "Samples of the fuzzer.");

    for (i = 0; i < nzones; i++) {
        tier = zones[i].zone.tiers.elts;

        for (j = 0; j <= zones[i].zone.tiers.nelts; j++) {
            ngx_astro_out_literal(out, "astro_fuzz_total{zone=");
            ngx_astro_out_prom_str(out, zones[i].zone.name.data,
                                   zones[i].zone.name.len);

            if (j < zones[i].zone.tiers.nelts) {
                ngx_astro_out_literal(out, ",tier=");
                ngx_astro_out_prom_str(out, tier[j].name.data,
                                       tier[j].name.len);
            }

            ngx_astro_out_literal(out, "} ");
            ngx_astro_out_double(out, nvalues ? values[(i + j) % nvalues]
                                              : (double) i);
            ngx_astro_out_literal(out, "\n");
        }
    }
}


/*
 * The text format: lines ended by "\n", comments, or samples
 *   name [ "{" label "=" "\"" value "\"" ( "," ... )* "}" ] " " number
 * and, with zones, the first label of each sample the zone's name.
 */

void
fuzz_check_prometheus(u_char *p, size_t len, fuzz_zone_t *zones,
    ngx_uint_t nzones)
{
    char        *e;
    u_char      *end, *eol, *q, *value;
    size_t       vlen, k;
    ngx_uint_t   zone, line;

    end = p + len;

    fuzz_assert(fuzz_is_utf8(p, len));

    value = malloc(len ? len : 1);
    fuzz_assert(value != NULL);

    zone = 0;
    line = 0;

    while (p < end) {
        eol = memchr(p, '\n', end - p);
        fuzz_assert(eol != NULL);

        if (*p == '#') {
            fuzz_assert(eol - p > 7
                        && (ngx_strncmp(p, "# HELP ", 7) == 0
                            || ngx_strncmp(p, "# TYPE ", 7) == 0));
            p = eol + 1;
            continue;
        }

        /* the metric's name */

        fuzz_assert(p < eol && (isalpha(*p) || *p == '_' || *p == ':'));

        while (p < eol && (isalnum(*p) || *p == '_' || *p == ':')) {
            p++;
        }

        if (*p == '{') {
            p++;

            for (k = 0; p < eol && *p != '}'; k++) {
                q = p;

                while (p < eol && (isalnum(*p) || *p == '_')) {
                    p++;
                }

                fuzz_assert(p > q && !isdigit(*q));
                fuzz_assert(p < eol && *p++ == '=');

                p = fuzz_label_value(p, eol, value, &vlen);

                /* the first label: the zone's name, as it was */

                if (zones != NULL && k == 0) {
                    fuzz_assert(zone < nzones);

                    if (fuzz_is_utf8(zones[zone].zone.name.data,
                                     zones[zone].zone.name.len))
                    {
                        fuzz_assert(vlen == zones[zone].zone.name.len
                                    && ngx_memcmp(value,
                                                  zones[zone].zone.name.data,
                                                  vlen) == 0);
                    }
                }

                if (p < eol && *p == ',') {
                    p++;
                }
            }

            fuzz_assert(p < eol && *p++ == '}');

            /* a zone's lines: one a tier, then one without */

            if (zones != NULL && ++line > zones[zone].zone.tiers.nelts) {
                line = 0;
                zone++;
            }
        }

        fuzz_assert(p < eol && *p++ == ' ');

        /* the value: a number, nothing after it */

        fuzz_assert(p < eol && (isdigit(*p) || *p == '-'));

        (void) strtod((char *) p, &e);
        fuzz_assert((u_char *) e == eol);

        p = eol + 1;
    }

    fuzz_assert(zone == nzones);

    free(value);
}


/* a quoted label value, unescaped into value */

static u_char *
fuzz_label_value(u_char *p, u_char *end, u_char *value, size_t *len)
{
    u_char  *v;

    fuzz_assert(p < end && *p++ == '"');

    v = value;

    while (p < end && *p != '"') {
        if (*p == '\\') {
            fuzz_assert(p + 1 < end);
            p++;
            fuzz_assert(*p == '\\' || *p == '"' || *p == 'n');
            *v++ = (*p == 'n') ? '\n' : *p;
            p++;
            continue;
        }

        *v++ = *p++;
    }

    fuzz_assert(p < end && *p++ == '"');

    *len = v - value;

    return p;
}


/* jansson's check: it takes no string that is not UTF-8 */

int
fuzz_is_utf8(u_char *p, size_t len)
{
    json_t  *s;

    s = json_stringn((char *) p, len);

    if (s == NULL) {
        return 0;
    }

    json_decref(s);

    return 1;
}
