
/*
 * Copyright (C) astro developers
 */


#include <string.h>

#include <openssl/sha.h>

#include "ngx_astro_limit.h"


/*
 * Exact times and durations are pairs (us, rem): us + rem / count
 * microseconds, 0 <= rem < count.  They are added and compared without
 * ever multiplying a time since the epoch by count, so nothing overflows
 * and the scripts' doubles stay below 2^53.
 */


static uint64_t ngx_astro_limit_sw_first(uint64_t w, uint64_t c, uint64_t a);


int
ngx_astro_limit_check(const ngx_astro_rate_t *rate, uint32_t burst)
{
    uint64_t  p, max;

    /*
     * Half of 2^53, so that a time since the epoch (2^52 us is the year
     * 2112) plus any of these stays exact too.
     */

    max = NGX_ASTRO_LIMIT_EXACT / 2;

    if (rate->count == 0 || (rate->period != 1 && rate->period != 60)) {
        return -1;
    }

    p = (uint64_t) rate->period * NGX_ASTRO_LIMIT_USEC;

    /* GCRA: (burst + 1) * P + count bounds d * count + rem */

    if (((uint64_t) burst + 1) * p + rate->count > max) {
        return -1;
    }

    /* the sliding window: (count + 1) * W bounds p * (W - e) + c * W */

    if (((uint64_t) rate->count + 1) * p > max) {
        return -1;
    }

    return 0;
}


unsigned
ngx_astro_limit_gcra(uint64_t now, const ngx_astro_rate_t *rate,
    uint32_t burst, ngx_astro_limit_gcra_t *st, ngx_astro_limit_result_t *res)
{
    uint64_t  count, p, tq, tr, bp, bq, br, tat, rem, du;

    count = rate->count;
    p = (uint64_t) rate->period * NGX_ASTRO_LIMIT_USEC;

    /* the emission interval T = P / count = tq + tr / count us */

    tq = p / count;
    tr = p % count;

    /* the tolerance burst * T = bq + br / count us */

    bp = (uint64_t) burst * p;
    bq = bp / count;
    br = bp % count;

    tat = st->tat;
    rem = st->rem;

    if (rem >= count) {
        /* a state written under a larger count: keep it whole */
        tat += rem / count;
        rem %= count;
    }

    /* max(TAT, now) */

    if (tat < now) {
        tat = now;
        rem = 0;
    }

    du = tat - now;

    /* allowed when max(TAT, now) - now <= burst * T */

    if (du < bq || (du == bq && rem <= br)) {
        tat += tq;
        rem += tr;

        if (rem >= count) {
            rem -= count;
            tat++;
        }

        st->tat = tat;
        st->rem = rem;

        du = tat - now;
        res->allowed = 1;

    } else {
        res->allowed = 0;
    }

    ngx_astro_limit_gcra_result(rate, burst, res->allowed, du, rem, res);

    return res->allowed;
}


void
ngx_astro_limit_gcra_result(const ngx_astro_rate_t *rate, uint32_t burst,
    unsigned allowed, uint64_t du, uint64_t rem,
    ngx_astro_limit_result_t *res)
{
    uint64_t  count, p, bp, bq, br, units, ru, rr;
    unsigned  room;

    count = rate->count;
    p = (uint64_t) rate->period * NGX_ASTRO_LIMIT_USEC;

    bp = (uint64_t) burst * p;
    bq = bp / count;
    br = bp % count;

    res->allowed = allowed;
    res->remaining = 0;
    res->retry_after = 0;

    /*
     * d <= burst * T, that is du * count + rem <= burst * P, compared
     * without the product, which wraps for a du that no decision leaves
     * (a reply that is not the script's)
     */

    room = (du < bq || (du == bq && rem <= br));

    if (room && allowed) {
        /*
         * d = TAT - now <= (burst + 1) * T after a request passed, so d
         * in units of 1 / count us is at most (burst + 1) * P
         */

        units = du * count + rem;
        res->remaining = (bp - units) / p + 1;

    } else if (!room) {
        /* d - burst * T > 0, rounded up */

        ru = du - bq;

        if (rem < br) {
            ru--;
            rr = rem + count - br;

        } else {
            rr = rem - br;
        }

        res->retry_after = ru + (rr > 0);
    }

    /*
     * else a request refused with room left, which no decision leaves: no
     * wait, where d - burst * T wrapped to some 2^64 us
     */

    res->reset = du + (rem > 0);
}


/*
 * The first e in [0, W] at which ceil(c * (W - e) / W) <= a, a >= 0:
 * c * (W - e) <= a * W, that is e >= W - floor(a * W / c).  W itself is
 * the start of the next window.
 */

static uint64_t
ngx_astro_limit_sw_first(uint64_t w, uint64_t c, uint64_t a)
{
    uint64_t  q;

    if (c == 0) {
        return 0;
    }

    q = a * w / c;

    return (q >= w) ? 0 : w - q;
}


unsigned
ngx_astro_limit_sliding(uint64_t now, const ngx_astro_rate_t *rate,
    ngx_astro_limit_sw_t *st, ngx_astro_limit_result_t *res)
{
    uint64_t  w, limit, win, e, cur, prev, weighted;

    w = (uint64_t) rate->period * NGX_ASTRO_LIMIT_USEC;
    limit = rate->count;

    win = now / w;
    e = now - win * w;

    if (st->window > win + 1) {
        /*
         * a window index of another period (the rate changed on reload):
         * kept, it would stay "this window" for ages; counted afresh
         */
        st->window = 0;
        st->cur = 0;
        st->prev = 0;
    }

    if (st->window >= win) {
        /* this window, or a later one after the clock stepped back */
        cur = st->cur;
        prev = st->prev;

    } else if (st->window + 1 == win) {
        cur = 0;
        prev = st->cur;

    } else {
        cur = 0;
        prev = 0;
    }

    /* ceil(prev * (W - e) / W) */

    weighted = (prev * (w - e) + w - 1) / w;

    /* estimate + 1 <= limit, exactly */

    if (weighted + cur + 1 <= limit) {
        cur++;

        st->window = (st->window > win) ? st->window : win;
        st->cur = cur;
        st->prev = prev;

        res->allowed = 1;

    } else {
        res->allowed = 0;
    }

    ngx_astro_limit_sliding_result(now, rate, res->allowed, cur, prev, res);

    return res->allowed;
}


void
ngx_astro_limit_sliding_result(uint64_t now, const ngx_astro_rate_t *rate,
    unsigned allowed, uint64_t cur, uint64_t prev,
    ngx_astro_limit_result_t *res)
{
    uint64_t  w, limit, e, weighted;

    w = (uint64_t) rate->period * NGX_ASTRO_LIMIT_USEC;
    limit = rate->count;
    e = now % w;

    weighted = (prev * (w - e) + w - 1) / w;

    res->allowed = allowed;
    res->remaining = (weighted + cur < limit) ? limit - weighted - cur : 0;

    if (res->remaining) {
        res->retry_after = 0;

    } else if (cur < limit) {
        /* in this window, as the previous one's weight falls */
        res->retry_after = ngx_astro_limit_sw_first(w, prev, limit - cur - 1)
                           - e;

    } else {
        /* in the next window, where prev = cur and cur = 0 */
        res->retry_after = w - e + ngx_astro_limit_sw_first(w, cur, limit - 1);
    }

    if (cur) {
        res->reset = 2 * w - e;

    } else if (prev) {
        res->reset = w - e;

    } else {
        res->reset = 0;
    }
}


uint64_t
ngx_astro_limit_delay(uint64_t n, uint64_t after, uint64_t delay,
    uint64_t max_delay, uint64_t factor)
{
    uint64_t  over, d;

    if (n <= after) {
        return 0;
    }

    over = n - after;

    if (delay && over > UINT64_MAX / delay) {
        d = UINT64_MAX;

    } else {
        d = over * delay;
    }

    if (max_delay && d > max_delay) {
        d = max_delay;
    }

    if (factor != 1000) {
        if (factor && d > UINT64_MAX / factor) {
            d = (d / 1000 > UINT64_MAX / factor) ? UINT64_MAX
                                                 : d / 1000 * factor;

        } else {
            d = d * factor / 1000;
        }
    }

    return d;
}


const u_char *
ngx_astro_limit_key(const u_char *key, size_t len, u_char *buf,
    size_t *out_len)
{
    size_t          i;
    unsigned char   md[SHA256_DIGEST_LENGTH];
    static u_char   hex[] = "0123456789abcdef";

    if (len <= NGX_ASTRO_LIMIT_KEY_MAX) {
        *out_len = len;
        return key;
    }

    SHA256(key, len, md);

    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        buf[2 * i] = hex[md[i] >> 4];
        buf[2 * i + 1] = hex[md[i] & 0xf];
    }

    *out_len = 2 * SHA256_DIGEST_LENGTH;

    return buf;
}
