
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_LIMIT_H_INCLUDED_
#define _NGX_ASTRO_LIMIT_H_INCLUDED_


/*
 * pure code: the decisions of the rate and speed limiter, shared by the
 * local (shared memory) backend and, line for line, by the Redis scripts
 * in src/lua/ (ngx_astro_ratelimit_lua.h); no nginx headers, unit tested
 * in t/unit/test_limit.c.
 *
 * Units: times are microseconds (now: since the epoch; durations: from
 * now), counts are requests.  All arithmetic is in integers, so that the
 * local backend and the scripts (Lua numbers are doubles, exact below
 * 2^53) decide alike; ngx_astro_limit_check() says which rates and bursts
 * keep every intermediate value of the scripts below 2^53.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_astro_parse_rate.h"


#define NGX_ASTRO_LIMIT_USEC        1000000

/* the largest integer a double (a Lua number) holds exactly, plus one */
#define NGX_ASTRO_LIMIT_EXACT       ((uint64_t) 1 << 53)

/* a longer key is replaced by the hex SHA-256 of it, of this length */
#define NGX_ASTRO_LIMIT_KEY_MAX     64


/*
 * GCRA state: the theoretical arrival time (TAT) as an exact rational,
 * tat + rem / rate.count microseconds since the epoch, 0 <= rem < count.
 * The emission interval T = period * 10^6 / count microseconds is a
 * fraction for most rates (3r/s: 333333 + 1/3 us); keeping the remainder
 * makes 3r/s pass exactly 3 a second forever, without drift.  All zero is
 * a full bucket.
 */

typedef struct {
    uint64_t    tat;
    uint64_t    rem;
} ngx_astro_limit_gcra_t;


/*
 * Sliding-window state: the index of the current window (start / W, W the
 * rate's period, windows aligned to the epoch) and the requests passed in
 * it and in the window before.  All zero is an empty window.
 */

typedef struct {
    uint64_t    window;
    uint64_t    cur;
    uint64_t    prev;
} ngx_astro_limit_sw_t;


typedef struct {
    unsigned    allowed;            /* 1: passed (and counted), 0: not */
    uint64_t    remaining;          /* how many more would pass now */
    uint64_t    retry_after;        /* us until the next one would pass;
                                       0 when remaining > 0 */
    uint64_t    reset;              /* us until the limit is whole again
                                       (remaining at its maximum); the
                                       state may be dropped then */
} ngx_astro_limit_result_t;


/*
 * 0 when the scripts compute with rate and burst exactly (all values
 * below 2^53: for r/m a count up to about 150,000,000 and a burst up to
 * about 150,000,000 - count), -1 otherwise.  The C functions below are
 * exact for any rate and any uint32 burst.
 */
int ngx_astro_limit_check(const ngx_astro_rate_t *rate, uint32_t burst);

/*
 * GCRA (the generic cell rate algorithm, as nginx's limit_req and
 * redis-cell): from a full bucket, burst + 1 requests pass at once, then
 * one per emission interval T.  A request at now passes when
 * max(TAT, now) - now <= burst * T, and then TAT = max(TAT, now) + T.
 * A rejected request changes nothing.  Returns res->allowed.
 *
 *   remaining    requests that would pass at now after this decision:
 *                floor((burst * T - d) / T) + 1 for d = TAT - now <=
 *                burst * T, else 0
 *   retry_after  TAT - burst * T - now, rounded up to a microsecond
 *   reset        TAT - now, rounded up to a microsecond
 */
unsigned ngx_astro_limit_gcra(uint64_t now, const ngx_astro_rate_t *rate,
    uint32_t burst, ngx_astro_limit_gcra_t *st,
    ngx_astro_limit_result_t *res);

/*
 * The answer of a GCRA decision from what it left: allowed, and d =
 * max(TAT, now) - now as (du, rem), du + rem / count microseconds, after
 * the decision (a rejected one changes nothing).  The Redis script
 * answers these and the worker computes the rest.
 */
void ngx_astro_limit_gcra_result(const ngx_astro_rate_t *rate,
    uint32_t burst, unsigned allowed, uint64_t du, uint64_t rem,
    ngx_astro_limit_result_t *res);

/*
 * The sliding-window counter: W = the rate's period, limit = its count.
 * At e microseconds into window i (0 <= e < W), with p requests passed in
 * window i - 1 and c in window i, the estimate is
 *
 *     p * (W - e) / W + c
 *
 * and a request passes when estimate + 1 <= limit, compared exactly (as
 * p * (W - e) + (c + 1) * W <= limit * W), that is with the weighted
 * previous count rounded up.  Only passed requests are counted.  A
 * rejected request changes nothing.  Returns res->allowed.
 *
 *   remaining    limit - c - ceil(p * (W - e) / W), at least 0
 *   retry_after  the first time the rule above lets one pass (in this
 *                window as p's weight falls, else in the next one with
 *                p = c, c = 0), minus now
 *   reset        when the estimate is 0: the end of the next window when
 *                c > 0, the end of this one when only p > 0, else 0
 *
 * A state from a later window than now (a clock stepped back) is taken
 * as the current window's.
 */
unsigned ngx_astro_limit_sliding(uint64_t now, const ngx_astro_rate_t *rate,
    ngx_astro_limit_sw_t *st, ngx_astro_limit_result_t *res);

/*
 * The answer of a sliding-window decision at now from what it left:
 * allowed, and the counts of the current window and the one before after
 * the decision, as the window of now sees them.
 */
void ngx_astro_limit_sliding_result(uint64_t now,
    const ngx_astro_rate_t *rate, unsigned allowed, uint64_t cur,
    uint64_t prev, ngx_astro_limit_result_t *res);

/*
 * The speed limit (express-slow-down): the delay of the n-th request in
 * the window (n counts this one),
 *
 *     0                                  when n <= after
 *     min((n - after) * delay, max_delay) * factor / 1000, rounded down
 *
 * max_delay 0 is no cap; factor is per mille (1000: as configured), for
 * the health zone's degraded and critical states, and applies after the
 * cap.  Any time unit (the module uses milliseconds); saturates instead
 * of wrapping.
 */
uint64_t ngx_astro_limit_delay(uint64_t n, uint64_t after, uint64_t delay,
    uint64_t max_delay, uint64_t factor);

/*
 * The key as stored: a key of up to NGX_ASTRO_LIMIT_KEY_MAX bytes is
 * itself (binary-safe, not copied); a longer one is replaced by the
 * lowercase hex SHA-256 of its bytes, 64 characters, written to buf
 * (NGX_ASTRO_LIMIT_KEY_MAX bytes, not terminated).  Returns the key to
 * use and its length in *out_len.
 */
const u_char *ngx_astro_limit_key(const u_char *key, size_t len, u_char *buf,
    size_t *out_len);


#endif /* _NGX_ASTRO_LIMIT_H_INCLUDED_ */
