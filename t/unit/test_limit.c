
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_limit.h"


#define US       1000000ULL
#define MS       1000ULL

/* a time since the epoch that is no window boundary: 2023-11-14 22:13:20 */
#define T0       (1700000000ULL * US + 123456)

/* the start of a minute */
#define M0       (1700000040ULL * US)


static uint64_t  passes[1000000];


static ngx_astro_rate_t
rate(uint32_t count, uint32_t period)
{
    ngx_astro_rate_t  r;

    r.count = count;
    r.period = period;

    return r;
}


/* the most passes in any half-open interval [t, t + w) */

static size_t
max_in_window(const uint64_t *t, size_t n, uint64_t w)
{
    size_t  i, j, max;

    max = 0;

    for (i = 0, j = 0; i < n; i++) {
        while (j < n && t[j] < t[i] + w) {
            j++;
        }

        if (j - i > max) {
            max = j - i;
        }
    }

    return max;
}


/* "first" requests at "from", then one every "step" until "to" */

static size_t
gcra_run(ngx_astro_rate_t r, uint32_t burst, unsigned first, uint64_t from,
    uint64_t to, uint64_t step)
{
    size_t                    n;
    uint64_t                  t;
    unsigned                  i;
    ngx_astro_limit_gcra_t    st;
    ngx_astro_limit_result_t  res;

    memset(&st, 0, sizeof(st));
    n = 0;

    for (i = 0; i < first; i++) {
        if (ngx_astro_limit_gcra(from, &r, burst, &st, &res)) {
            passes[n++] = from;
        }
    }

    for (t = from + step; t < to; t += step) {
        if (ngx_astro_limit_gcra(t, &r, burst, &st, &res)) {
            passes[n++] = t;
        }
    }

    return n;
}


static size_t
sw_run(ngx_astro_rate_t r, uint64_t from, uint64_t to, uint64_t step)
{
    size_t                    n;
    uint64_t                  t;
    ngx_astro_limit_sw_t      st;
    ngx_astro_limit_result_t  res;

    memset(&st, 0, sizeof(st));
    n = 0;

    for (t = from; t < to; t += step) {
        if (ngx_astro_limit_sliding(t, &r, &st, &res)) {
            passes[n++] = t;
        }
    }

    return n;
}


static void
expect(const ngx_astro_limit_result_t *res, unsigned allowed,
    uint64_t remaining, uint64_t retry_after, uint64_t reset)
{
    assert_int_equal(res->allowed, allowed);
    assert_int_equal(res->remaining, remaining);
    assert_int_equal(res->retry_after, retry_after);
    assert_int_equal(res->reset, reset);
}


/* --- GCRA ------------------------------------------------------------- */


static void
test_gcra_burst(void **state)
{
    unsigned                  i;
    ngx_astro_rate_t          r;
    ngx_astro_limit_gcra_t    st;
    ngx_astro_limit_result_t  res;

    (void) state;

    /* 10r/s burst=5: T = 100 ms; 6 at once */

    r = rate(10, 1);
    memset(&st, 0, sizeof(st));

    for (i = 0; i < 6; i++) {
        assert_int_equal(ngx_astro_limit_gcra(T0, &r, 5, &st, &res), 1);
        expect(&res, 1, 5 - i, i == 5 ? 100 * MS : 0, (i + 1) * 100 * MS);
    }

    ngx_astro_limit_gcra(T0, &r, 5, &st, &res);
    expect(&res, 0, 0, 100 * MS, 600 * MS);

    /* a rejection changes nothing */

    ngx_astro_limit_gcra(T0 + 99999, &r, 5, &st, &res);
    expect(&res, 0, 0, 1, 600 * MS - 99999);

    ngx_astro_limit_gcra(T0 + 100 * MS, &r, 5, &st, &res);
    expect(&res, 1, 0, 100 * MS, 600 * MS);

    ngx_astro_limit_gcra(T0 + 100 * MS, &r, 5, &st, &res);
    expect(&res, 0, 0, 100 * MS, 600 * MS);

    /* idle for the whole bucket: full again */

    ngx_astro_limit_gcra(T0 + 700 * MS, &r, 5, &st, &res);
    expect(&res, 1, 5, 0, 100 * MS);
}


static void
test_gcra_one_per_interval(void **state)
{
    size_t            n, i;
    ngx_astro_rate_t  r;

    (void) state;

    /* 10r/s burst=5, a request every ms for 10 s: 6, then one per 100 ms */

    r = rate(10, 1);
    n = gcra_run(r, 5, 20, T0, T0 + 10 * US, MS);

    assert_int_equal(n, 6 + 99);

    for (i = 0; i < 6; i++) {
        assert_true(passes[i] == T0);
    }

    for (i = 6; i < n; i++) {
        assert_true(passes[i] == T0 + (i - 5) * 100 * MS);
    }
}


static void
test_gcra_remaining(void **state)
{
    unsigned                  i;
    ngx_astro_rate_t          r;
    ngx_astro_limit_gcra_t    st;
    ngx_astro_limit_result_t  res;

    (void) state;

    r = rate(10, 1);
    memset(&st, 0, sizeof(st));

    for (i = 0; i < 3; i++) {
        ngx_astro_limit_gcra(T0, &r, 5, &st, &res);
    }

    expect(&res, 1, 3, 0, 300 * MS);

    /*
     * 150 ms later TAT - now = 150 ms <= 500 ms: passes, TAT - now =
     * 250 ms, and 250, 350, 450 ms would pass: 3 more
     */

    ngx_astro_limit_gcra(T0 + 150 * MS, &r, 5, &st, &res);
    expect(&res, 1, 3, 0, 250 * MS);
}


static void
test_gcra_three_per_second(void **state)
{
    size_t                    n, i, k, per[1001];
    ngx_astro_rate_t          r;
    ngx_astro_limit_gcra_t    st;
    ngx_astro_limit_result_t  res;

    (void) state;

    /* T = 333333 + 1/3 us: no drift over 1000 s */

    r = rate(3, 1);
    n = gcra_run(r, 2, 10, M0, M0 + 1000 * US, MS);

    assert_int_equal(n, 3 + 2999);

    for (i = 0; i < 3; i++) {
        assert_true(passes[i] == M0);
    }

    /* the k-th after the burst at ceil(k * T) rounded up to the ms */

    for (i = 3; i < n; i++) {
        k = i - 2;
        assert_true(passes[i] == M0 + (k * 1000 + 2) / 3 * MS);
    }

    /* and every second after the first exactly 3 */

    memset(per, 0, sizeof(per));

    for (i = 0; i < n; i++) {
        per[(passes[i] - M0) / US]++;
    }

    for (i = 1; i < 1000; i++) {
        assert_int_equal(per[i], 3);
    }

    assert_int_equal(max_in_window(passes + 3, n - 3, US), 3);

    /* burst=0: the remainder rounds retry_after and reset up */

    memset(&st, 0, sizeof(st));

    ngx_astro_limit_gcra(T0, &r, 0, &st, &res);
    expect(&res, 1, 0, 333334, 333334);

    ngx_astro_limit_gcra(T0 + 333333, &r, 0, &st, &res);
    expect(&res, 0, 0, 1, 1);

    ngx_astro_limit_gcra(T0 + 333334, &r, 0, &st, &res);
    expect(&res, 1, 0, 333334, 333334);
}


static void
test_gcra_per_minute(void **state)
{
    size_t            n, i;
    ngx_astro_rate_t  r;

    (void) state;

    /* 100r/m burst=0 hammered for 10 minutes: one per 600 ms exactly */

    r = rate(100, 60);
    n = gcra_run(r, 0, 1, T0, T0 + 600 * US, 10 * MS);

    assert_int_equal(n, 1000);
    assert_int_equal(max_in_window(passes, n, 60 * US), 100);

    for (i = 0; i < n; i++) {
        assert_true(passes[i] == T0 + i * 600 * MS);
    }

    /* 100r/m burst=99: 100 at once, then one per 600 ms */

    n = gcra_run(r, 99, 150, T0, T0 + 60 * US, 10 * MS);

    assert_int_equal(n, 100 + 99);
    assert_true(passes[99] == T0);
    assert_true(passes[100] == T0 + 600 * MS);
}


static void
test_gcra_fractional(void **state)
{
    ngx_astro_rate_t          r;
    ngx_astro_limit_gcra_t    st;
    ngx_astro_limit_result_t  res;

    (void) state;

    /* 2000000r/s: T = 1/2 us */

    r = rate(2000000, 1);
    memset(&st, 0, sizeof(st));

    ngx_astro_limit_gcra(T0, &r, 1, &st, &res);
    expect(&res, 1, 1, 0, 1);

    ngx_astro_limit_gcra(T0, &r, 1, &st, &res);
    expect(&res, 1, 0, 1, 1);
    assert_true(st.tat == T0 + 1 && st.rem == 0);

    ngx_astro_limit_gcra(T0, &r, 1, &st, &res);
    expect(&res, 0, 0, 1, 1);

    /* a remainder from a larger count is carried into the microseconds */

    r = rate(10, 1);
    st.tat = T0;
    st.rem = 25;

    ngx_astro_limit_gcra(T0, &r, 0, &st, &res);
    expect(&res, 0, 0, 3, 3);
    assert_true(st.tat == T0 && st.rem == 25);
}


/* --- the sliding window ---------------------------------------------- */


static void
test_sw_burst(void **state)
{
    unsigned                  i;
    ngx_astro_rate_t          r;
    ngx_astro_limit_sw_t      st;
    ngx_astro_limit_result_t  res;

    (void) state;

    r = rate(100, 60);

    /* 150 at the start of a minute: exactly 100 */

    memset(&st, 0, sizeof(st));

    for (i = 0; i < 150; i++) {
        ngx_astro_limit_sliding(M0, &r, &st, &res);

        if (i < 100) {
            expect(&res, 1, 99 - i, i == 99 ? 60600 * MS : 0, 120 * US);

        } else {
            /* next window, once prev = 100 weighs 99: 600 ms into it */
            expect(&res, 0, 0, 60600 * MS, 120 * US);
        }
    }

    /* 150 anywhere else in the minute: exactly 100 */

    assert_int_equal(sw_run(r, M0 + 20 * US, M0 + 20 * US + 150, 1), 100);
    assert_int_equal(sw_run(r, T0, T0 + 150, 1), 100);

    /* 150 at 1 ms steps over a minute's end: still exactly 100 */

    assert_int_equal(sw_run(r, M0 - 60 * MS, M0 + 90 * MS, MS), 100);
    assert_int_equal(sw_run(r, M0 - 1 * MS, M0 + 149 * MS, MS), 100);

    /* 10r/s: 15 at once, 10 pass */

    assert_int_equal(sw_run(rate(10, 1), T0, T0 + 15, 1), 10);
}


static void
test_sw_values(void **state)
{
    uint64_t                  win;
    ngx_astro_rate_t          r;
    ngx_astro_limit_sw_t      st;
    ngx_astro_limit_result_t  res;

    (void) state;

    r = rate(100, 60);
    win = M0 / (60 * US);

    /*
     * prev = 50, cur = 10, 15 s in: 50 * 45 / 60 = 37.5, rounded up 38;
     * 38 + 10 + 1 <= 100 passes, then 100 - 38 - 11 = 51 remain
     */

    st.window = win;
    st.cur = 10;
    st.prev = 50;

    ngx_astro_limit_sliding(M0 + 15 * US, &r, &st, &res);
    expect(&res, 1, 51, 0, 105 * US);
    assert_true(st.window == win && st.cur == 11 && st.prev == 50);

    /*
     * prev = 100, cur = 40, 15 s in: 75 + 40 + 1 > 100; passes when
     * ceil(100 * (60 - e) / 60) <= 59, e >= 24.6 s: 9.6 s from now
     */

    st.window = win;
    st.cur = 40;
    st.prev = 100;

    ngx_astro_limit_sliding(M0 + 15 * US, &r, &st, &res);
    expect(&res, 0, 0, 9600 * MS, 105 * US);
    assert_true(st.cur == 40);

    ngx_astro_limit_sliding(M0 + 24600 * MS - 1, &r, &st, &res);
    assert_int_equal(res.allowed, 0);

    ngx_astro_limit_sliding(M0 + 24600 * MS, &r, &st, &res);
    assert_int_equal(res.allowed, 1);

    /*
     * 10r/m, 30 passed in the window before (a higher limit then), 30 s
     * in: 15 > 9; passes when ceil(30 * (60 - e) / 60) <= 9, e >= 42 s;
     * whole at the end of this window
     */

    r = rate(10, 60);
    st.window = win - 1;
    st.cur = 30;
    st.prev = 7;

    ngx_astro_limit_sliding(M0 + 30 * US, &r, &st, &res);
    expect(&res, 0, 0, 12 * US, 30 * US);

    /* a state two windows old is empty */

    st.window = win - 2;
    st.cur = 10;
    st.prev = 10;

    ngx_astro_limit_sliding(M0 + 30 * US, &r, &st, &res);
    expect(&res, 1, 9, 0, 90 * US);
    assert_true(st.window == win && st.cur == 1 && st.prev == 0);

    /* a state from a later window (the clock stepped back) is current */

    st.window = win + 1;
    st.cur = 10;
    st.prev = 0;

    ngx_astro_limit_sliding(M0 + 30 * US, &r, &st, &res);
    assert_int_equal(res.allowed, 0);
    assert_true(st.window == win + 1 && st.cur == 10);

    /*
     * 1r/m: after one request the next passes at the start of the window
     * after next (the previous window's weight is rounded up)
     */

    r = rate(1, 60);
    memset(&st, 0, sizeof(st));

    ngx_astro_limit_sliding(M0 + 30 * US, &r, &st, &res);
    expect(&res, 1, 0, 90 * US, 90 * US);

    ngx_astro_limit_sliding(M0 + 119 * US, &r, &st, &res);
    expect(&res, 0, 0, 1 * US, 1 * US);

    ngx_astro_limit_sliding(M0 + 120 * US, &r, &st, &res);
    expect(&res, 1, 0, 120 * US, 120 * US);
}


static void
test_sw_steady(void **state)
{
    size_t            n, i, o;
    uint64_t          from;
    ngx_astro_rate_t  r;

    static const uint64_t  offsets[] = {
        0, 1, 300 * MS, 599999, 30 * US, 45 * US, 59999 * MS
    };

    (void) state;

    r = rate(100, 60);

    for (o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
        from = M0 + offsets[o];

        /*
         * exactly at the rate for 10 minutes: never more than 100 in any
         * 60 s; the weight rounded up refuses about one a window (about
         * 991 of 1000 pass)
         */

        n = sw_run(r, from, from + 600 * US, 600 * MS);
        assert_int_equal(max_in_window(passes, n, 60 * US), 100);
        assert_in_range(n, 990, 1000);

        /* a little below it too; at one request a window less, all pass */

        n = sw_run(r, from, from + 600 * US, 601 * MS);
        assert_in_range(n, 990, 999);
        assert_true(max_in_window(passes, n, 60 * US) <= 100);

        n = sw_run(r, from, from + 600 * US, 606061);
        assert_int_equal(n, 990);

        n = sw_run(r, from, from + 600 * US, 700 * MS);
        assert_int_equal(n, 858);

        /*
         * a flood (one a ms): the counter assumes the previous window's
         * passes spread evenly; a flood that starts at a window's start
         * stays within 100 in any 60 s, one that starts later can get up
         * to 2 x 100 (each window passes at most 100) in the minute after
         * its start (measured: 149 from 30 s, 174 from 45 s), and is
         * back to 100 per window after it
         */

        n = sw_run(r, from, from + 600 * US, MS);
        assert_true(max_in_window(passes, n, 60 * US) <= 200);

        for (i = 0; i < n && passes[i] < from + 180 * US; i++) {
            /* void */
        }

        assert_in_range(max_in_window(passes + i, n - i, 60 * US), 99, 100);

        if (offsets[o] == 0) {
            assert_int_equal(max_in_window(passes, n, 60 * US), 100);
        }
    }
}


/* --- speed limit -------------------------------------------------------- */


static void
test_delay(void **state)
{
    (void) state;

    /* after=5 delay=100ms */

    assert_int_equal(ngx_astro_limit_delay(1, 5, 100, 0, 1000), 0);
    assert_int_equal(ngx_astro_limit_delay(5, 5, 100, 0, 1000), 0);
    assert_int_equal(ngx_astro_limit_delay(6, 5, 100, 0, 1000), 100);
    assert_int_equal(ngx_astro_limit_delay(10, 5, 100, 0, 1000), 500);
    assert_int_equal(ngx_astro_limit_delay(1000, 5, 100, 0, 1000), 99500);

    /* max_delay=300ms */

    assert_int_equal(ngx_astro_limit_delay(7, 5, 100, 300, 1000), 200);
    assert_int_equal(ngx_astro_limit_delay(8, 5, 100, 300, 1000), 300);
    assert_int_equal(ngx_astro_limit_delay(10, 5, 100, 300, 1000), 300);

    /* factors per mille, after the cap, rounded down */

    assert_int_equal(ngx_astro_limit_delay(6, 5, 100, 300, 1500), 150);
    assert_int_equal(ngx_astro_limit_delay(10, 5, 100, 300, 1500), 450);
    assert_int_equal(ngx_astro_limit_delay(10, 5, 100, 300, 2000), 600);
    assert_int_equal(ngx_astro_limit_delay(6, 5, 101, 0, 500), 50);
    assert_int_equal(ngx_astro_limit_delay(6, 5, 100, 0, 0), 0);
    assert_int_equal(ngx_astro_limit_delay(5, 5, 100, 0, 3000), 0);

    /* after=0: from the first request */

    assert_int_equal(ngx_astro_limit_delay(1, 0, 250, 0, 1000), 250);

    /* saturates */

    assert_true(ngx_astro_limit_delay(UINT64_MAX, 0, 1000, 0, 1000)
                == UINT64_MAX);
    assert_true(ngx_astro_limit_delay(UINT64_MAX, 0, 1000, 0, 2000)
                == UINT64_MAX);
    assert_true(ngx_astro_limit_delay(UINT64_MAX, 0, 1000, 5000, 2000)
                == 10000);
}


/* --- keys --------------------------------------------------------------- */


static void
test_key(void **state)
{
    size_t         len;
    u_char         key[200], buf[NGX_ASTRO_LIMIT_KEY_MAX], buf2[64];
    unsigned       i;
    const u_char  *k;

    (void) state;

    /* up to 64 bytes: the key itself */

    memset(key, 'a', sizeof(key));

    k = ngx_astro_limit_key(key, 64, buf, &len);
    assert_ptr_equal(k, key);
    assert_int_equal(len, 64);

    k = ngx_astro_limit_key(key, 0, buf, &len);
    assert_ptr_equal(k, key);
    assert_int_equal(len, 0);

    /* 65 bytes: the hex SHA-256 */

    k = ngx_astro_limit_key(key, 65, buf, &len);
    assert_ptr_equal(k, buf);
    assert_int_equal(len, 64);
    assert_memory_equal(k, "635361c48bb9eab14198e76ea8ab7f1a"
                           "41685d6ad62aa9146d301d4f17eb0ae0", 64);

    /* binary: NUL bytes are bytes */

    memcpy(key, "ab\0cd\0\0\xff\x80z", 10);

    k = ngx_astro_limit_key(key, 10, buf, &len);
    assert_ptr_equal(k, key);
    assert_int_equal(len, 10);

    for (i = 0; i < 100; i += 5) {
        memcpy(key + i, "\0\1\2\0\377", 5);
    }

    k = ngx_astro_limit_key(key, 100, buf, &len);
    assert_int_equal(len, 64);
    assert_memory_equal(k, "a73a2642ba4a356562e292cd5f75db68"
                           "3ca49ae206ac6c53e670cdab17ef7275", 64);

    /* the last byte, after NULs, counts */

    key[99] = 0376;

    k = ngx_astro_limit_key(key, 100, buf2, &len);
    assert_int_equal(len, 64);
    assert_memory_equal(k, "a5331e346785060a3128fb6ef4b59bdc"
                           "a3a054297476801635be8138eb5d420a", 64);
    assert_memory_not_equal(buf, buf2, 64);
}


/* --- ranges ------------------------------------------------------------- */


static void
test_check(void **state)
{
    ngx_astro_rate_t  r;

    (void) state;

    r = rate(100, 60);
    assert_int_equal(ngx_astro_limit_check(&r, 0), 0);
    assert_int_equal(ngx_astro_limit_check(&r, 1000000), 0);

    r = rate(NGX_ASTRO_RATE_MAX, 1);
    assert_int_equal(ngx_astro_limit_check(&r, 1000), 0);

    /* (count + 1) * 6 * 10^7 over 2^52 */

    r = rate(75000000, 60);
    assert_int_equal(ngx_astro_limit_check(&r, 0), 0);

    r = rate(76000000, 60);
    assert_int_equal(ngx_astro_limit_check(&r, 0), -1);

    r = rate(1, 60);
    assert_int_equal(ngx_astro_limit_check(&r, 75000000), 0);
    assert_int_equal(ngx_astro_limit_check(&r, 76000000), -1);
    assert_int_equal(ngx_astro_limit_check(&r, UINT32_MAX), -1);

    r = rate(0, 60);
    assert_int_equal(ngx_astro_limit_check(&r, 0), -1);

    r = rate(1, 2);
    assert_int_equal(ngx_astro_limit_check(&r, 0), -1);
}


/* a key counted at 1r/s, then at 1r/m (a reload): not locked out */

static void
test_sw_period_changed(void **state)
{
    unsigned                  i;
    ngx_astro_rate_t          r;
    ngx_astro_limit_sw_t      st;
    ngx_astro_limit_result_t  res;

    (void) state;

    memset(&st, 0, sizeof(st));

    r = rate(1, 1);
    ngx_astro_limit_sliding(M0, &r, &st, &res);
    assert_int_equal(res.allowed, 1);

    /* the index of a 1 s window is far ahead of a 60 s one's */

    r = rate(2, 60);

    for (i = 0; i < 3; i++) {
        ngx_astro_limit_sliding(M0 + 1 * MS, &r, &st, &res);
        assert_int_equal(res.allowed, i < 2);
    }

    assert_int_equal(st.window, (M0 + 1 * MS) / (60 * US));
    assert_int_equal(st.cur, 2);
    assert_true(res.reset <= 120 * US);
}


/*
 * The answers from what a decision left, as the Redis scripts reply:
 * figures computed by hand.
 */

static void
test_results_from_state(void **state)
{
    ngx_astro_rate_t          r;
    ngx_astro_limit_result_t  res;

    (void) state;

    /* 10r/s burst=5: T = 100 ms, burst * T = 500 ms */

    r = rate(10, 1);

    ngx_astro_limit_gcra_result(&r, 5, 1, 100 * MS, 0, &res);
    assert_int_equal(res.allowed, 1);
    assert_int_equal(res.remaining, 5);
    assert_int_equal(res.retry_after, 0);
    assert_int_equal(res.reset, 100 * MS);

    ngx_astro_limit_gcra_result(&r, 5, 1, 600 * MS, 0, &res);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, 100 * MS);
    assert_int_equal(res.reset, 600 * MS);

    ngx_astro_limit_gcra_result(&r, 5, 0, 600 * MS - 1, 0, &res);
    assert_int_equal(res.allowed, 0);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, 100 * MS - 1);
    assert_int_equal(res.reset, 600 * MS - 1);

    /* 3r/s burst=0: T = 333333 + 1/3 us, rounded up */

    r = rate(3, 1);

    ngx_astro_limit_gcra_result(&r, 0, 1, 333333, 1, &res);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, 333334);
    assert_int_equal(res.reset, 333334);

    /* 100r/m, 30 s into a minute: 100 before weigh 50 */

    r = rate(100, 60);

    ngx_astro_limit_sliding_result(M0 + 30 * US, &r, 1, 50, 100, &res);
    assert_int_equal(res.allowed, 1);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, 600 * MS);
    assert_int_equal(res.reset, 90 * US);

    ngx_astro_limit_sliding_result(M0, &r, 1, 1, 0, &res);
    assert_int_equal(res.remaining, 99);
    assert_int_equal(res.retry_after, 0);
    assert_int_equal(res.reset, 120 * US);

    /* full at 59 s: next minute, once 100 weigh 99 (0.6 s into it) */

    ngx_astro_limit_sliding_result(M0 + 59 * US, &r, 0, 100, 0, &res);
    assert_int_equal(res.allowed, 0);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, 1600 * MS);
    assert_int_equal(res.reset, 61 * US);
}


/*
 * States that no decision leaves, as a reply that is not the script's may
 * say (t/fuzz/corpus/redis_reply/regress-gcra-rejected-with-room): no
 * wrapped figure
 */

static void
test_gcra_result_impossible(void **state)
{
    ngx_astro_rate_t          r;
    ngx_astro_limit_result_t  res;

    (void) state;

    /* refused with room left: d - burst * T wrapped to 2^64 - 500 ms */

    r = rate(10, 1);

    ngx_astro_limit_gcra_result(&r, 5, 0, 0, 0, &res);
    assert_int_equal(res.allowed, 0);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, 0);
    assert_int_equal(res.reset, 0);

    ngx_astro_limit_gcra_result(&r, 5, 0, 500 * MS, 0, &res);
    assert_int_equal(res.retry_after, 0);
    assert_int_equal(res.reset, 500 * MS);

    /* a d whose product with the count wrapped to 0: no room at all */

    r = rate(1000000000, 1);

    ngx_astro_limit_gcra_result(&r, 0, 1, (uint64_t) 1 << 55, 0, &res);
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after, (uint64_t) 1 << 55);
    assert_int_equal(res.reset, (uint64_t) 1 << 55);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_gcra_burst),
        cmocka_unit_test(test_gcra_one_per_interval),
        cmocka_unit_test(test_gcra_remaining),
        cmocka_unit_test(test_gcra_three_per_second),
        cmocka_unit_test(test_gcra_per_minute),
        cmocka_unit_test(test_gcra_fractional),
        cmocka_unit_test(test_sw_burst),
        cmocka_unit_test(test_sw_values),
        cmocka_unit_test(test_sw_steady),
        cmocka_unit_test(test_sw_period_changed),
        cmocka_unit_test(test_results_from_state),
        cmocka_unit_test(test_gcra_result_impossible),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
