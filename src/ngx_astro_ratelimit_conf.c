
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_conf.h"
#include "ngx_astro_parse.h"
#include "ngx_astro_ratelimit.h"


/*
 * What the rate limiter's directives parse with (the directives are in
 * the module file and ngx_astro_ratelimit_zone_conf.c): the names of the
 * zone's choices, a zone or tier by name, a rate and burst checked and
 * written as the scripts' arguments, the parameters of
 * astro_ratelimit_redis, the scripts given to the Redis client, and
 * astro_speedlimit's factors.
 */


ngx_conf_enum_t  ngx_http_astro_ratelimit_algorithms[] = {
    { ngx_string("gcra"), NGX_HTTP_ASTRO_RL_GCRA },
    { ngx_string("sliding_window"), NGX_HTTP_ASTRO_RL_SLIDING_WINDOW },
    { ngx_null_string, 0 }
};


ngx_conf_enum_t  ngx_http_astro_ratelimit_backends[] = {
    { ngx_string("redis"), NGX_HTTP_ASTRO_RL_REDIS },
    { ngx_string("local"), NGX_HTTP_ASTRO_RL_LOCAL },
    { ngx_string("hybrid"), NGX_HTTP_ASTRO_RL_HYBRID },
    { ngx_null_string, 0 }
};


ngx_conf_enum_t  ngx_http_astro_ratelimit_fails[] = {
    { ngx_string("open"), NGX_HTTP_ASTRO_RL_FAIL_OPEN },
    { ngx_string("closed"), NGX_HTTP_ASTRO_RL_FAIL_CLOSED },
    { ngx_null_string, 0 }
};


ngx_http_astro_ratelimit_zone_t *
ngx_http_astro_ratelimit_find_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_ratelimit_module);

    return ngx_astro_conf_lookup(&rmcf->zones, name);
}


/* a zone a directive names, declared before it; NULL: an error logged */

ngx_http_astro_ratelimit_zone_t *
ngx_http_astro_ratelimit_use_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_astro_ratelimit_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_astro_ratelimit_module);

    return ngx_astro_conf_find(cf, &rmcf->zones, name,
                               "astro_ratelimit_zone");
}


/* the zone's line for a tier, or NULL; also per request */

ngx_http_astro_ratelimit_tier_t *
ngx_http_astro_ratelimit_find_tier(ngx_http_astro_ratelimit_zone_t *zone,
    ngx_str_t *name)
{
    ngx_int_t                         i;
    ngx_http_astro_ratelimit_tier_t  *tier;

    i = ngx_astro_conf_index(&zone->tiers, name);

    if (i == NGX_ERROR) {
        return NULL;
    }

    tier = zone->tiers.elts;

    return &tier[i];
}


/* "rate=" and "burst=", of a zone and of its tiers */

ngx_int_t
ngx_http_astro_ratelimit_rate_param(ngx_str_t *arg, ngx_astro_rate_t *rate,
    ngx_uint_t *burst)
{
    ngx_str_t  s;

    if (ngx_astro_conf_param(arg, "rate", &s)) {
        return ngx_astro_parse_rate(s.data, s.len, rate) ? NGX_ERROR : NGX_OK;
    }

    if (ngx_astro_conf_param(arg, "burst", &s)) {
        return ngx_astro_conf_number(&s, 0, NGX_MAX_INT_T_VALUE, burst);
    }

    return NGX_ERROR;
}


/* astro_ratelimit_zone's "algorithm=", "backend=", "fail=" and the rate */

ngx_int_t
ngx_http_astro_ratelimit_zone_param(ngx_str_t *arg,
    ngx_http_astro_ratelimit_zone_t *zone)
{
    ngx_str_t  s;

    if (ngx_astro_conf_param(arg, "algorithm", &s)) {
        return ngx_astro_conf_enum(&s, ngx_http_astro_ratelimit_algorithms,
                                   &zone->algorithm);
    }

    if (ngx_astro_conf_param(arg, "backend", &s)) {
        return ngx_astro_conf_enum(&s, ngx_http_astro_ratelimit_backends,
                                   &zone->backend);
    }

    if (ngx_astro_conf_param(arg, "fail", &s)) {
        return ngx_astro_conf_enum(&s, ngx_http_astro_ratelimit_fails,
                                   &zone->fail);
    }

    return ngx_http_astro_ratelimit_rate_param(arg, &zone->rate,
                                               &zone->burst);
}


/*
 * The hybrid backend's "sync=" (10ms to 60s) and "exact_at=" (1% to 100%,
 * kept in 1/10000): NGX_DECLINED when arg is neither, NGX_ERROR with the
 * error logged, naming the directive and the value.
 */

ngx_int_t
ngx_http_astro_ratelimit_hybrid_param(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_astro_ratelimit_zone_t *zone)
{
    double      pct;
    ngx_int_t   ms;
    ngx_str_t   s;

    if (ngx_astro_conf_param(arg, "sync", &s)) {
        ms = ngx_parse_time(&s, 0);

        if (ms == NGX_ERROR || ms < 10 || ms > 60000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "astro_ratelimit_zone: invalid parameter "
                               "\"%V\", it must be from 10ms to 60s", arg);
            return NGX_ERROR;
        }

        zone->sync = (ngx_msec_t) ms;
        zone->sync_arg = *arg;

        return NGX_OK;
    }

    if (ngx_astro_conf_param(arg, "exact_at", &s)) {

        if (ngx_astro_parse_percent(s.data, s.len, &pct) != 0
            || pct < 1 || pct > 100)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "astro_ratelimit_zone: invalid parameter "
                               "\"%V\", it must be from 1%% to 100%%", arg);
            return NGX_ERROR;
        }

        zone->exact_at = (ngx_uint_t) (pct * 100 + 0.5);
        zone->exact_arg = *arg;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The hybrid backend's parameters checked together: sync= and exact_at=
 * only with it, the sliding window its default algorithm, and their
 * defaults.
 */

ngx_int_t
ngx_http_astro_ratelimit_zone_hybrid(ngx_conf_t *cf,
    ngx_http_astro_ratelimit_zone_t *zone)
{
    ngx_str_t  *arg;

    if (zone->backend != NGX_HTTP_ASTRO_RL_HYBRID) {
        arg = (zone->sync != NGX_CONF_UNSET_MSEC) ? &zone->sync_arg
              : (zone->exact_at != NGX_CONF_UNSET_UINT) ? &zone->exact_arg
              : NULL;

        if (arg) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "astro_ratelimit_zone: \"%V\" needs "
                               "backend=hybrid in zone \"%V\"",
                               arg, &zone->name);
            return NGX_ERROR;
        }

        if (zone->algorithm == NGX_CONF_UNSET_UINT) {
            zone->algorithm = NGX_HTTP_ASTRO_RL_GCRA;
        }

        return NGX_OK;
    }

    if (zone->algorithm == NGX_CONF_UNSET_UINT) {
        zone->algorithm = NGX_HTTP_ASTRO_RL_SLIDING_WINDOW;
    }

    /* GCRA takes leases of tokens: no exact mode */

    if (zone->algorithm == NGX_HTTP_ASTRO_RL_GCRA
        && zone->exact_at != NGX_CONF_UNSET_UINT)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "astro_ratelimit_zone: \"%V\" needs "
                           "algorithm=sliding_window in zone \"%V\"",
                           &zone->exact_arg, &zone->name);
        return NGX_ERROR;
    }

    ngx_conf_init_msec_value(zone->sync, 100);
    ngx_conf_init_uint_value(zone->exact_at, 8000);

    return NGX_OK;
}


/*
 * A rate and burst of the zone (its own, or a tier's): one that the
 * zone's algorithm counts exactly, in C and in the Redis scripts' doubles
 * alike (a sliding window has no burst), and the scripts' arguments of
 * it, count, period and burst, written once.
 */

ngx_int_t
ngx_http_astro_ratelimit_set_rate(ngx_conf_t *cf,
    ngx_http_astro_ratelimit_zone_t *zone, ngx_astro_rate_t *rate,
    ngx_uint_t burst, ngx_str_t *args)
{
    u_char  *p;

    if (burst && zone->algorithm == NGX_HTTP_ASTRO_RL_SLIDING_WINDOW) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"burst=%ui\" needs algorithm=gcra in zone \"%V\"",
                           burst, &zone->name);
        return NGX_ERROR;
    }

    if (burst > NGX_MAX_UINT32_VALUE
        || ngx_astro_limit_check(rate, (uint32_t) burst) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"rate=%uDr/%c burst=%ui\" is too large to "
                           "count exactly in zone \"%V\"",
                           rate->count, rate->period == 1 ? 's' : 'm', burst,
                           &zone->name);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, 3 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args[0].data = p;
    p = ngx_sprintf(p, "%uD", rate->count);
    args[0].len = p - args[0].data;

    args[1].data = p;
    p = ngx_sprintf(p, "%uD", rate->period);
    args[1].len = p - args[1].data;

    args[2].data = p;
    p = ngx_sprintf(p, "%ui", burst);
    args[2].len = p - args[2].data;

    return NGX_OK;
}


/* a parameter of astro_ratelimit_redis after the address */

ngx_int_t
ngx_http_astro_ratelimit_redis_param(ngx_str_t *arg,
    ngx_http_astro_ratelimit_main_conf_t *rmcf, ngx_astro_redis_t *redis)
{
    ngx_str_t  s;

    if (ngx_astro_conf_param(arg, "password", &redis->password)) {
        return redis->password.len ? NGX_OK : NGX_ERROR;
    }

    if (ngx_astro_conf_param(arg, "user", &redis->user)) {
        return redis->user.len ? NGX_OK : NGX_ERROR;
    }

    if (ngx_astro_conf_param(arg, "prefix", &rmcf->prefix)) {
        return NGX_OK;
    }

    if (ngx_astro_conf_param(arg, "db", &s)) {
        return ngx_astro_conf_number(&s, 0, NGX_MAX_INT_T_VALUE, &redis->db);
    }

    if (ngx_astro_conf_param(arg, "pool", &s)) {
        return ngx_astro_conf_number(&s, 1, 64, &redis->pool);
    }

    if (ngx_astro_conf_param(arg, "connect_timeout", &s)) {
        return ngx_astro_conf_msec(&s, 1, &redis->connect_timeout);
    }

    if (ngx_astro_conf_param(arg, "timeout", &s)) {
        return ngx_astro_conf_msec(&s, 1, &redis->timeout);
    }

    if (ngx_astro_conf_param(arg, "hold", &s)) {
        return ngx_astro_conf_msec(&s, 0, &redis->hold_time);
    }

    if (ngx_astro_conf_param(arg, "max_fails", &s)) {
        return ngx_astro_conf_number(&s, 1, 1000000, &redis->circuit.failures);
    }

    if (ngx_astro_conf_param(arg, "backoff", &s)) {
        return ngx_astro_conf_msec(&s, 1, &redis->circuit.open);
    }

    if (ngx_astro_conf_param(arg, "max_backoff", &s)) {
        return ngx_astro_conf_msec(&s, 1, &redis->circuit.max_open);
    }

    return NGX_ERROR;
}


/*
 * The scripts, with their shapes, as ngx_astro_ratelimit_lua[] defines
 * them: each connection loads both; a decision is one EVALSHA.
 */

ngx_int_t
ngx_http_astro_ratelimit_add_scripts(ngx_conf_t *cf,
    ngx_http_astro_ratelimit_main_conf_t *rmcf, ngx_astro_redis_t *redis)
{
    ngx_uint_t                        i;
    ngx_astro_redis_script_t         *script;
    const ngx_astro_ratelimit_lua_t  *lua;

    for (i = 0; i < NGX_ASTRO_RATELIMIT_LUA_N; i++) {
        lua = &ngx_astro_ratelimit_lua[i];
        script = &rmcf->scripts[i];

        script->body.data = (u_char *) lua->text;
        script->body.len = lua->len;
        script->nargs = lua->nargs;
        script->nhead = lua->nhead;
        script->nreply = lua->nreply;

        if (ngx_astro_redis_add_script(cf, redis, script) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a factor of astro_speedlimit's hold, 1 to 100, in thousandths */

ngx_int_t
ngx_http_astro_ratelimit_factor(ngx_str_t *value, ngx_uint_t *factor)
{
    ngx_int_t  n;

    n = ngx_atofp(value->data, value->len, 3);

    if (n < 1000 || n > 100000) {
        return NGX_ERROR;
    }

    *factor = (ngx_uint_t) n;

    return NGX_OK;
}
