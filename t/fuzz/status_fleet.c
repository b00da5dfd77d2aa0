
/*
 * Copyright (C) astro developers
 */


/*
 * The status harness's ?scope=fleet (src/ngx_astro_health_fleet_status.c,
 * as it is): a fleet view of the input in a zone of the harness (node
 * names of any bytes, as Redis gives them, any ages, figures and
 * counters; or no zone, or no redis=); its JSON valid with each node
 * under its name, in order, and its Prometheus text valid.
 */

#include "status.h"
#include "ngx_astro_health.h"


/* the health zone's fleet view is read under its mutex: the harness's */

ngx_module_t  ngx_astro_health_module;


void
ngx_shmtx_lock(ngx_shmtx_t *mtx)
{
}


void
ngx_shmtx_unlock(ngx_shmtx_t *mtx)
{
}


/*
 * The fleet view (as Redis's reply made it: names of any bytes, which
 * Redis does not check, ages and figures of any value) as JSON and as
 * Prometheus text: valid, a node each under its name when it is UTF-8.
 */

void
fuzz_fleet(fuzz_input_t *in, ngx_pool_t *pool)
{
    size_t                               len;
    u_char                              *doc;
    float                               *figures[7];
    uint32_t                             f32;
    json_t                              *json, *jn, *n;
    ngx_str_t                            name;
    ngx_uint_t                           i, j, k, flags;
    ngx_connection_t                     c;
    ngx_astro_out_t                      out;
    ngx_slab_pool_t                      shpool;
    ngx_http_request_t                   r;
    ngx_http_astro_health_shctx_t        sh;
    ngx_http_astro_health_sample_t      *s;
    ngx_http_astro_health_fleet_sh_t    *fsh;
    ngx_http_astro_health_fleet_node_t  *node;
    ngx_http_astro_health_main_conf_t    hmcf;
    void                                *main_conf[1];

    flags = fuzz_take_u64(in, 1);

    fsh = ngx_pcalloc(pool, sizeof(ngx_http_astro_health_fleet_sh_t));
    fuzz_assert(fsh != NULL);

    ngx_memzero(&hmcf, sizeof(hmcf));
    ngx_memzero(&sh, sizeof(sh));
    ngx_memzero(&shpool, sizeof(shpool));
    ngx_memzero(&r, sizeof(r));
    ngx_memzero(&c, sizeof(c));

    c.log = &fuzz_log;
    r.connection = &c;
    r.pool = pool;
    r.main_conf = main_conf;
    main_conf[ngx_astro_health_module.ctx_index] = &hmcf;

    ngx_str_set(&hmcf.name, "hz");
    ngx_str_set(&hmcf.node, "alpha");
    ngx_str_set(&hmcf.redis_url, "127.0.0.1:6379");
    hmcf.interval = 1 + fuzz_take_u64(in, 4) % 3600000;
    hmcf.keep = fuzz_take_u64(in, 4);
    hmcf.shpool = &shpool;

    /* no zone, a zone without redis=, a zone with the view */

    if (flags % 3) {
        hmcf.shm_zone = (ngx_shm_zone_t *) &sh;
        hmcf.sh = &sh;
    }

    if (flags % 3 == 2) {
        hmcf.fleet = (ngx_http_astro_health_fleet_t *) fsh;
        sh.fleet = fsh;
    }

    fsh->calls = fuzz_take_u64(in, 8);
    fsh->failures = fuzz_take_u64(in, 8);
    fsh->skipped = fuzz_take_u64(in, 8);
    fsh->view.read = fuzz_take_u64(in, 8);
    fsh->view.failed = fuzz_take_u64(in, 8);

    fuzz_take_name(in, pool, NGX_HTTP_ASTRO_FLEET_ERR_LEN, 0, &name);
    ngx_memcpy(fsh->error, name.data, name.len);
    fsh->error_len = name.len;

    fuzz_time.sec = (time_t) (fuzz_take_u64(in, 8) >> 1);
    fuzz_time.msec = fuzz_take_u64(in, 2) % 1000;

    fsh->view.n = fuzz_take_u64(in, 1) % (NGX_HTTP_ASTRO_FLEET_NODES + 1);

    for (i = 0; i < fsh->view.n; i++) {
        node = &fsh->view.nodes[i];

        fuzz_take_name(in, pool, NGX_HTTP_ASTRO_FLEET_NODE_LEN, 1, &name);
        ngx_memcpy(node->name, name.data, name.len);
        node->len = name.len;
        node->age = fuzz_take_u64(in, 8);
        node->n = fuzz_take_u64(in, 1) % (NGX_HTTP_ASTRO_FLEET_SAMPLES + 1);

        for (j = 0; j < node->n; j++) {
            s = &node->samples[j];
            figures[0] = &s->cpu;
            figures[1] = &s->memory;
            figures[2] = &s->load;
            figures[3] = &s->request_rate;
            figures[4] = &s->latency;
            figures[5] = &s->p95;
            figures[6] = &s->error_rate;
            /* as the reply's parser leaves them: 0 to 1e15, a status */
            s->time = (time_t) (fuzz_take_u64(in, 8) % 1000000000000001);
            s->status = fuzz_take_u64(in, 1) % 3;
            s->active = (uint32_t) fuzz_take_u64(in, 4);

            for (k = 0; k < 7; k++) {
                f32 = (uint32_t) fuzz_take_u64(in, 4);
                ngx_memcpy(figures[k], &f32, sizeof(float));
            }
        }
    }

    /* JSON */

    ngx_astro_out_init(&out, pool);
    ngx_http_astro_health_fleet_json(&r, &out);
    fuzz_assert(!out.error);

    doc = fuzz_flatten(&out, &len);
    json = fuzz_json(doc, len);

    jn = json_object_get(json, "nodes");
    fuzz_assert(json_is_array(jn));
    fuzz_assert(json_array_size(jn) == (hmcf.fleet ? fsh->view.n : 0));

    for (i = 0; hmcf.fleet && i < fsh->view.n; i++) {
        node = &fsh->view.nodes[i];
        n = json_object_get(json_array_get(jn, i), "node");
        fuzz_assert(json_is_string(n));

        if (fuzz_is_utf8(node->name, node->len)) {
            fuzz_assert(json_string_length(n) == node->len
                        && ngx_memcmp(json_string_value(n), node->name,
                                      node->len) == 0);
        }
    }

    json_decref(json);
    free(doc);

    /* Prometheus */

    ngx_astro_out_init(&out, pool);
    ngx_http_astro_health_fleet_prometheus(&r, &out);
    fuzz_assert(!out.error);

    doc = fuzz_flatten(&out, &len);
    fuzz_check_prometheus(doc, len, NULL, 0);
    free(doc);
}
