
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_RATELIMIT_LUA_H_INCLUDED_
#define _NGX_ASTRO_RATELIMIT_LUA_H_INCLUDED_


/*
 * pure code: the rate limiter's two Redis scripts, each one decision in
 * one atomic call (SCRIPT LOAD once per connection, EVALSHA after), with
 * exactly the semantics of ngx_astro_limit_gcra() and
 * ngx_astro_limit_sliding() in ngx_astro_limit.h, in the same integer
 * arithmetic (exact while ngx_astro_limit_check() accepts the rate and
 * burst).  They are src/lua/ratelimit_gcra.lua and
 * src/lua/ratelimit_sliding_window.lua, built into the module through a
 * header that `config` generates (src/lua/embed.sh).  Tested against a
 * real redis-server by t/unit/test_ratelimit_lua.sh.
 *
 * One key per limited key.  A call decides n keys (a batch: the requests
 * of one turn of nginx's event loop), in order, as n calls would, with one
 * clock; all arguments are checked before anything is written.  The key
 * holds a string, written with SET only when a request passes, expiring
 * when the state no longer matters (the limit is whole again; for GCRA
 * the first whole second at or after); a decision that leaves the expiry
 * where it is writes SET ... KEEPTTL (Redis 7 and later), and a rejected
 * request writes nothing.  (In a Redis cluster the keys of a batch would
 * have to share a slot: not supported.)
 *
 *   GCRA:            EVALSHA sha n key... (run count period burst)...
 *                    [now_us]
 *                    value "tat rem" (TAT = tat + rem / count us)
 *   sliding window:  EVALSHA sha n key... (run count period)... [now_us]
 *                    value "window cur prev"
 *
 * The arguments come in runs: run is how many keys in a row have the rate
 * that follows; the runs cover the n keys.  count: requests per period,
 * >= 1; period: seconds, >= 1 (the module sends 1 or 60); burst: >= 0;
 * all decimal integers below 2^52, else the script fails with "ERR astro:
 * bad argument ..." (or "runs of ... keys for n") and writes nothing.
 *
 * now_us (microseconds since the epoch) is for tests only: without it
 * (or empty) the time is Redis's TIME, one clock for every nginx node
 * (Redis 5+ replicates a script's effects, so TIME is allowed before
 * writes; redis.replicate_commands() is called for 3.2 and 4).
 *
 * Reply: what each decision left, in the order of the keys, from which
 * ngx_astro_limit_gcra_result() and ngx_astro_limit_sliding_result()
 * compute the answer
 *
 *   GCRA:            du, rem * 2 + allowed, a key: max(TAT, now) - now =
 *                    du + rem / count us after the decision
 *   sliding window:  now_us, then cur * 2 + allowed, prev, a key: the
 *                    counts of the window of now and the one before after
 *                    the decision
 *
 * A malformed stored value is taken as an empty state, and so is a key
 * of another type (MGET reads it as nil), which the SET replaces.
 *
 * The hybrid backend's script (src/lua/ratelimit_hybrid.lua) keeps the
 * sliding window's value, "window cur prev", on the node's windows:
 *
 *   hybrid:          EVALSHA sha n key... (run count period spec)...
 *                    spec "win dcur dprev": a node's delta, the requests
 *                    it passed in window win and in the one before, added
 *                    (a delta of the window before the key's goes to its
 *                    prev; an older one is dropped); "win dcur dprev e":
 *                    the same, then one decision e us into window win
 *
 * Reply, a key: window, cur * 2 + allowed, prev after the call (allowed
 * 0 without a decision).  A key is written only when its counts change;
 * the first write of its window sets its expiry 2 periods and 1 s on
 * (past the end of the next window, where it weighs as prev), the later
 * ones in that window keep it (SETRANGE, or SET ... KEEPTTL): SET ... PX
 * is Redis's dearest write.  Redis's CPU a key pushed: bench/README.md
 * (bench/script-cost.sh).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_astro_limit.h"


/* the scripts, by the algorithm they count with */
#define NGX_ASTRO_RATELIMIT_LUA_GCRA      0
#define NGX_ASTRO_RATELIMIT_LUA_SLIDING   1
#define NGX_ASTRO_RATELIMIT_LUA_HYBRID    2
#define NGX_ASTRO_RATELIMIT_LUA_N         3


/*
 * A script and its shape, the one place the module's call and its reply
 * parser read them: a run of keys takes nargs arguments (after the run's
 * length); the reply has nhead integers for the call, then nreply a key
 * (the Redis client takes at most NGX_ASTRO_REDIS_ARGS and
 * NGX_ASTRO_REDIS_REPLY: ngx_astro_redis.h).
 */

typedef struct {
    const char        *name;    /* src/lua/ratelimit_<name>.lua */
    const char        *text;
    size_t             len;
    unsigned           nargs;
    unsigned           nhead;
    unsigned           nreply;
} ngx_astro_ratelimit_lua_t;


extern const ngx_astro_ratelimit_lua_t
    ngx_astro_ratelimit_lua[NGX_ASTRO_RATELIMIT_LUA_N];


/*
 * The answer of a decision from the integers the script replied for its
 * key, v[0 .. nhead + nreply - 1], the call's first: 0, or -1 when they
 * are not the script speaking (a value out of the range it answers).
 * GCRA and sliding window only.
 */
int ngx_astro_ratelimit_lua_result(unsigned script, const uint64_t *v,
    const ngx_astro_rate_t *rate, uint32_t burst,
    ngx_astro_limit_result_t *res);


#endif /* _NGX_ASTRO_RATELIMIT_LUA_H_INCLUDED_ */
