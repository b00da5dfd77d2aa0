
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_ratelimit_lua.h"
#include "ngx_astro_lua_scripts.h"  /* generated from src/lua/ by `config` */


static const char  ngx_astro_ratelimit_lua_gcra[] =
    NGX_ASTRO_LUA_RATELIMIT_GCRA;

static const char  ngx_astro_ratelimit_lua_sliding[] =
    NGX_ASTRO_LUA_RATELIMIT_SLIDING_WINDOW;

static const char  ngx_astro_ratelimit_lua_hybrid[] =
    NGX_ASTRO_LUA_RATELIMIT_HYBRID;


const ngx_astro_ratelimit_lua_t
    ngx_astro_ratelimit_lua[NGX_ASTRO_RATELIMIT_LUA_N] =
{
    /* count, period, burst; du, rem * 2 + allowed */
    { "gcra", ngx_astro_ratelimit_lua_gcra,
      sizeof(ngx_astro_ratelimit_lua_gcra) - 1, 3, 0, 2 },

    /* count, period; now; cur * 2 + allowed, prev */
    { "sliding_window", ngx_astro_ratelimit_lua_sliding,
      sizeof(ngx_astro_ratelimit_lua_sliding) - 1, 2, 1, 2 },

    /* count, period, spec; window, cur * 2 + allowed, prev */
    { "hybrid", ngx_astro_ratelimit_lua_hybrid,
      sizeof(ngx_astro_ratelimit_lua_hybrid) - 1, 3, 0, 3 }
};


int
ngx_astro_ratelimit_lua_result(unsigned script, const uint64_t *v,
    const ngx_astro_rate_t *rate, uint32_t burst,
    ngx_astro_limit_result_t *res)
{
    unsigned  i, n;

    n = ngx_astro_ratelimit_lua[script].nhead
        + ngx_astro_ratelimit_lua[script].nreply;

    for (i = 0; i < n; i++) {
        if (v[i] >= NGX_ASTRO_LIMIT_EXACT) {
            return -1;
        }
    }

    if (script == NGX_ASTRO_RATELIMIT_LUA_GCRA) {
        /* du, rem * 2 + allowed; rem is below count */

        if (v[1] / 2 >= rate->count) {
            return -1;
        }

        ngx_astro_limit_gcra_result(rate, burst, v[1] & 1, v[0], v[1] / 2,
                                    res);
        return 0;
    }

    /*
     * the sliding window: now, cur * 2 + allowed, prev; the script takes
     * counts of 2^32 and more as an empty state
     */

    if (v[1] / 2 >= (uint64_t) 1 << 32 || v[2] >= (uint64_t) 1 << 32) {
        return -1;
    }

    ngx_astro_limit_sliding_result(v[0], rate, v[1] & 1, v[1] / 2, v[2],
                                   res);
    return 0;
}
