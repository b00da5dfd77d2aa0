
/*
 * Copyright (C) astro developers
 */


/*
 * Redis replies to the rate limiter's scripts, as the worker reads them:
 * the reply trees hiredis's own reader makes of the input's bytes, given
 * to the Redis client's batch (src/ngx_astro_redis_batch.c, as it is:
 * NOSCRIPT and a new EVAL, the check of the reply's shape, its split to
 * the keys) and then to the rate limiter's reading of its keys' integers
 * (src/ngx_astro_ratelimit_redis.c and ngx_astro_ratelimit_lua_result()).
 *
 * The first bytes choose the script, the number of keys (1 to 8, one
 * request each), their rate and burst, the fail policy and whether the
 * circuit lets them ask; the rest is the byte stream from Redis.  Each
 * call the client sends gets the next reply the reader makes of it, or
 * none (a connection lost) when there is no more.  What the rest of the
 * client does (connections, the circuit, hiredis's context) is faked
 * here; its error log is formatted, then dropped.
 *
 * Checked: every decision is answered once, by Redis or by the fail
 * policy; a call whose reply is not an array of the script's shape
 * decides nothing; an answer taken from Redis is one the script can give
 * (retry_after <= reset, remaining within the burst or the count, reset
 * within two windows); nothing leaks.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <hiredis/hiredis.h>

#include "fuzz.h"
#include "ngx_astro_ratelimit.h"
#include "ngx_astro_redis_internal.h"


#define MAX_KEYS   8
#define MAX_WIRES  16


ngx_module_t  ngx_astro_ratelimit_module;


/* the calls sent, in the order of their replies */

static struct {
    ngx_astro_redis_t       *rd;
    ngx_astro_redis_conn_t   conn;
    redisCallbackFn         *fn[MAX_WIRES];
    void                    *wire[MAX_WIRES];
    ngx_uint_t               head, tail;
    ngx_uint_t               closed;    /* the circuit refuses */
} fuzz;


static void fuzz_drain_posted(void);
static void fuzz_check(ngx_http_astro_ratelimit_decision_t *d,
    ngx_uint_t algorithm);
static ngx_uint_t fuzz_plausible(const uint8_t *data, size_t size);


static ngx_log_t   fuzz_log;
static ngx_time_t  fuzz_time = { 1700000000, 0, 0 };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                                  *reply;
    u_char                                 digits[MAX_KEYS][3][NGX_INT_T_LEN];
    u_char                                 keys[MAX_KEYS][8];
    ngx_uint_t                             i, j, n, flags, algorithm, shaped;
    ngx_conf_t                             cf;
    ngx_pool_t                            *pool;
    ngx_cycle_t                            cycle;
    redisReader                           *reader;
    ngx_astro_redis_wire_t                *wire;
    fuzz_input_t                           in;
    ngx_str_t                              args[MAX_KEYS][3];
    ngx_astro_redis_t                      rd;
    ngx_astro_redis_sh_t                   sh;
    ngx_connection_t                       c;
    ngx_http_request_t                     r[MAX_KEYS];
    ngx_http_astro_ratelimit_ctx_t         ctx[MAX_KEYS];
    ngx_http_astro_ratelimit_zone_t        zone;
    ngx_http_astro_ratelimit_decision_t    d[MAX_KEYS];
    ngx_http_astro_ratelimit_main_conf_t   rmcf;
    void                                  *main_conf[1];

    if (size < 1 || !fuzz_plausible(data, size)) {
        return 0;
    }

    in.p = data;
    in.left = size;

    flags = fuzz_take_u64(&in, 1);
    algorithm = flags & 1;
    n = 1 + ((flags >> 1) & 7);

    /* every line of the log is formatted: its arguments are checked */

    fuzz_log.log_level = NGX_LOG_DEBUG_ALL | NGX_LOG_DEBUG;
    ngx_cached_time = &fuzz_time;

    pool = ngx_create_pool(4096, &fuzz_log);
    fuzz_assert(pool != NULL);

    ngx_memzero(&cycle, sizeof(ngx_cycle_t));
    cycle.pool = pool;
    cycle.log = &fuzz_log;

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.log = &fuzz_log;

    /* the client, as its configuration and init_worker leave it */

    ngx_memzero(&rd, sizeof(ngx_astro_redis_t));
    ngx_memzero(&sh, sizeof(ngx_astro_redis_sh_t));
    ngx_str_set(&rd.name, "127.0.0.1:6379");
    ngx_str_set(&rd.tag, "astro_ratelimit_redis");
    rd.sh = &sh;
    rd.timeout = 1000;
    rd.hold_time = 0;

    fuzz_assert(ngx_array_init(&rd.scripts, pool, 2,
                               sizeof(ngx_astro_redis_script_t *))
                == NGX_OK);

    ngx_memzero(&rmcf, sizeof(rmcf));
    rmcf.redis = &rd;
    ngx_str_set(&rmcf.prefix, "astro:");

    fuzz_assert(ngx_http_astro_ratelimit_add_scripts(&cf, &rmcf, &rd)
                == NGX_OK);

    ngx_memzero(&fuzz, sizeof(fuzz));
    fuzz.rd = &rd;
    fuzz.closed = (flags >> 4) & 1;

    fuzz_assert(ngx_astro_redis_init_worker(&cycle, &rd) == NGX_OK);

    /* the zone and a request a key */

    ngx_memzero(&zone, sizeof(zone));
    ngx_str_set(&zone.name, "api");
    zone.algorithm = algorithm;
    zone.backend = NGX_HTTP_ASTRO_RL_REDIS;
    zone.fail = (flags >> 5) & 1;

    main_conf[0] = &rmcf;

    ngx_memzero(&c, sizeof(ngx_connection_t));
    c.log = &fuzz_log;

    for (i = 0; i < n; i++) {
        ngx_memzero(&r[i], sizeof(ngx_http_request_t));
        ngx_memzero(&ctx[i], sizeof(ngx_http_astro_ratelimit_ctx_t));
        ngx_memzero(&d[i], sizeof(ngx_http_astro_ratelimit_decision_t));

        r[i].main_conf = main_conf;
        r[i].pool = pool;
        r[i].connection = &c;
        ctx[i].request = &r[i];

        d[i].zone = &zone;
        d[i].ctx = &ctx[i];
        d[i].rate.count = 1 + fuzz_take_u64(&in, 4) % NGX_ASTRO_RATE_MAX;
        d[i].rate.period = (fuzz_take_u64(&in, 1) & 1) ? 60 : 1;
        d[i].burst = fuzz_take_u64(&in, 2);

        d[i].args = args[i];
        args[i][0].data = digits[i][0];
        args[i][0].len = ngx_sprintf(digits[i][0], "%uD", d[i].rate.count)
                         - digits[i][0];
        args[i][1].data = digits[i][1];
        args[i][1].len = ngx_sprintf(digits[i][1], "%uD", d[i].rate.period)
                         - digits[i][1];
        args[i][2].data = digits[i][2];
        args[i][2].len = ngx_sprintf(digits[i][2], "%ui", d[i].burst)
                         - digits[i][2];

        d[i].key.data = keys[i];
        d[i].key.len = ngx_sprintf(keys[i], "k%ui", i) - keys[i];

        (void) ngx_http_astro_ratelimit_redis_ask(&r[i], &d[i]);
    }

    /* the end of the loop's turn: the batch goes out */

    fuzz_drain_posted();

    /* the rest of the input is what Redis says */

    reader = redisReaderCreate();
    fuzz_assert(reader != NULL);
    fuzz_assert(redisReaderFeed(reader, (const char *) in.p, in.left)
                == REDIS_OK);

    shaped = 0;

    while (fuzz.head != fuzz.tail) {
        reply = NULL;

        if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
            reply = NULL;
        }

        j = fuzz.head++ % MAX_WIRES;
        wire = fuzz.wire[j];

        if (reply && ((redisReply *) reply)->type == REDIS_REPLY_ARRAY
            && ((redisReply *) reply)->elements
               == wire->script->nhead + wire->script->nreply * wire->n)
        {
            shaped = 1;
        }

        /* hiredis's callback; it frees the reply after */

        fuzz.fn[j](NULL, reply, fuzz.wire[j]);

        if (reply) {
            freeReplyObject(reply);
        }

        fuzz_drain_posted();
    }

    redisReaderFree(reader);

    for (i = 0; i < n; i++) {
        fuzz_check(&d[i], algorithm);
        fuzz_assert(ctx[i].pending == 0);
        fuzz_assert(shaped || !d[i].decided);
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
fuzz_drain_posted(void)
{
    ngx_queue_t  *q;
    ngx_event_t  *ev;

    while (!ngx_queue_empty(&ngx_posted_events)) {
        q = ngx_queue_head(&ngx_posted_events);
        ev = ngx_queue_data(q, ngx_event_t, queue);

        ngx_delete_posted_event(ev);
        ev->handler(ev);
    }
}


/* an answer, once, and from Redis only one the script can give */

static void
fuzz_check(ngx_http_astro_ratelimit_decision_t *d, ngx_uint_t algorithm)
{
    uint64_t  w;

    fuzz_assert(d->cmd == NULL);
    fuzz_assert(d->decided + d->failopen + d->failclosed == 1);
    fuzz_assert(d->failclosed == (d->zone->fail == NGX_HTTP_ASTRO_RL_FAIL_CLOSED
                                  && !d->decided));

    if (!d->decided) {
        return;
    }

    fuzz_assert(d->res.allowed <= 1);
    fuzz_assert(d->res.retry_after <= d->res.reset);
    fuzz_assert(d->res.remaining == 0 || d->res.retry_after == 0);

    w = (uint64_t) d->rate.period * NGX_ASTRO_LIMIT_USEC;

    if (algorithm == NGX_HTTP_ASTRO_RL_GCRA) {
        /*
         * TAT - now may exceed (burst + 1) * T: a state left by a rate
         * or burst before a reload
         */
        fuzz_assert(d->res.remaining <= d->burst + 1);

    } else {
        fuzz_assert(d->res.reset <= 2 * w);
        fuzz_assert(d->res.remaining <= d->rate.count);
    }
}


/*
 * hiredis 0.14 allocates an array's elements before they come: a count
 * of billions is an allocation the fuzzer reports, not our bug
 */

static ngx_uint_t
fuzz_plausible(const uint8_t *data, size_t size)
{
    size_t    i, digits;
    uint64_t  v;

    for (i = 0; i < size; i++) {
        if (data[i] != '*') {
            continue;
        }

        v = 0;

        for (digits = 0; i + 1 < size && data[i + 1] >= '0'
                         && data[i + 1] <= '9'; i++, digits++)
        {
            v = v * 10 + (data[i + 1] - '0');

            if (digits > 6 || v > 4096) {
                return 0;
            }
        }
    }

    return 1;
}


/* the client's other files: connections, circuit */

ngx_int_t
ngx_astro_redis_pool_init(ngx_cycle_t *cycle, ngx_astro_redis_t *rd)
{
    fuzz.conn.redis = rd;
    fuzz.conn.state = NGX_ASTRO_REDIS_READY;
    rd->conns = &fuzz.conn;

    return NGX_OK;
}


void
ngx_astro_redis_pool_close(ngx_astro_redis_t *rd)
{
}


ngx_astro_redis_conn_t *
ngx_astro_redis_pick(ngx_astro_redis_t *rd)
{
    return &fuzz.conn;
}


ngx_int_t
ngx_astro_redis_send(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, redisCallbackFn *fn, int argc,
    const char **argv, const size_t *argvlen)
{
    int         i;
    ngx_uint_t  j;

    /* EVALSHA sha n key... then runs: the keys as the requests gave them */

    fuzz_assert(argc >= 3 + (int) wire->n + 1 + (int) wire->script->nargs);

    for (i = 0; i < argc; i++) {
        fuzz_assert(argv[i] != NULL);
    }

    if (fuzz.tail - fuzz.head == MAX_WIRES) {
        return NGX_ERROR;
    }

    wire->conn = conn;

    j = fuzz.tail++ % MAX_WIRES;
    fuzz.fn[j] = fn;
    fuzz.wire[j] = wire;

    return NGX_OK;
}


redisReply *
ngx_astro_redis_answered(ngx_astro_redis_wire_t *wire, redisReply *reply)
{
    return reply;
}


void
ngx_astro_redis_kick(ngx_astro_redis_t *rd)
{
}


ngx_int_t
ngx_astro_redis_register(ngx_astro_redis_t *rd)
{
    return NGX_OK;
}


void
ngx_astro_redis_unregister(ngx_astro_redis_t *rd)
{
}


void
ngx_astro_redis_flush(ngx_astro_redis_t *rd)
{
}


ngx_int_t
ngx_astro_redis_allow(ngx_astro_redis_t *rd, ngx_uint_t *probe)
{
    *probe = 0;

    return fuzz.closed ? NGX_DECLINED : NGX_OK;
}


void
ngx_astro_redis_release(ngx_astro_redis_t *rd)
{
}


void
ngx_astro_redis_succeeded(ngx_astro_redis_t *rd, ngx_uint_t probe)
{
}


void
ngx_astro_redis_failed(ngx_astro_redis_t *rd, ngx_uint_t n,
    ngx_uint_t probe)
{
}


/* the hybrid backend's (backend=hybrid): not configured here */

void
ngx_http_astro_ratelimit_hybrid_answer(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_decision_t *d, uint64_t *v)
{
    abort();
}


void
ngx_http_astro_ratelimit_hybrid_give_back(
    ngx_http_astro_ratelimit_decision_t *d)
{
    abort();
}


ngx_int_t
ngx_http_astro_ratelimit_hybrid_token(void *data, redisReply *reply)
{
    abort();
}


/* a cluster's (cluster=): never configured here, never reached */

ngx_int_t
ngx_astro_redis_internal(ngx_astro_redis_conn_t *conn, ngx_uint_t kind,
    int argc, const char **argv, const size_t *argvlen)
{
    abort();
}


ngx_int_t
ngx_astro_redis_cluster_init_worker(ngx_cycle_t *cycle,
    ngx_astro_redis_t *rd)
{
    abort();
}


void
ngx_astro_redis_cluster_exit_worker(ngx_astro_redis_t *rd)
{
    abort();
}


ngx_astro_redis_cmd_t *
ngx_astro_redis_cluster_eval(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script, ngx_str_t *key, ngx_str_t *args,
    ngx_astro_redis_handler_pt handler, void *data)
{
    abort();
}


ngx_astro_redis_t *
ngx_astro_redis_cluster_redirect(ngx_astro_redis_t *rd, redisReply *reply,
    ngx_uint_t *ask)
{
    abort();
}


void
ngx_astro_redis_cluster_failed(ngx_astro_redis_t *rd)
{
    abort();
}


ngx_uint_t
ngx_astro_redis_cluster_refused(ngx_astro_redis_t *rd, redisReply *reply)
{
    abort();
}


ngx_astro_redis_script_t *
ngx_astro_redis_cluster_script(ngx_astro_redis_t *from,
    ngx_astro_redis_script_t *script, ngx_astro_redis_t *to)
{
    abort();
}


/* the client's configuration: the scripts of the rate limiter */

ngx_int_t
ngx_astro_redis_add_script(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script)
{
    ngx_astro_redis_script_t  **p;

    p = ngx_array_push(&rd->scripts);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p = script;

    return NGX_OK;
}


/* the local zone, for fail=open */

ngx_int_t
ngx_http_astro_ratelimit_decide(ngx_http_request_t *r,
    ngx_http_astro_ratelimit_zone_t *zone, ngx_str_t *key, uint64_t now,
    ngx_http_astro_ratelimit_decision_t *d)
{
    return NGX_OK;
}
