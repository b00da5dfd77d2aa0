
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_hist.h"


#define EPS  1e-9


static void
test_bounds_table(void **state)
{
    unsigned  i;

    static const uint64_t  expect[NGX_ASTRO_HIST_N - 1] = {
        1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
    };

    (void) state;

    for (i = 0; i < NGX_ASTRO_HIST_N - 1; i++) {
        assert_int_equal(ngx_astro_hist_bounds[i], expect[i]);

        if (i > 0) {
            assert_true(ngx_astro_hist_bounds[i]
                        > ngx_astro_hist_bounds[i - 1]);
        }
    }
}


static void
test_bucket_zero(void **state)
{
    (void) state;

    assert_int_equal(ngx_astro_hist_bucket(0), 0);
}


static void
test_bucket_at_bounds(void **state)
{
    unsigned  i;

    (void) state;

    /* t <= bounds[i] is bucket i, bounds[i] + 1 is bucket i + 1 */

    for (i = 0; i < NGX_ASTRO_HIST_N - 1; i++) {
        assert_int_equal(ngx_astro_hist_bucket(ngx_astro_hist_bounds[i]), i);
        assert_int_equal(ngx_astro_hist_bucket(ngx_astro_hist_bounds[i] + 1),
                         i + 1);
    }
}


static void
test_bucket_literal(void **state)
{
    (void) state;

    assert_int_equal(ngx_astro_hist_bucket(1), 0);
    assert_int_equal(ngx_astro_hist_bucket(2), 1);
    assert_int_equal(ngx_astro_hist_bucket(3), 2);
    assert_int_equal(ngx_astro_hist_bucket(5), 2);
    assert_int_equal(ngx_astro_hist_bucket(6), 3);
    assert_int_equal(ngx_astro_hist_bucket(99), 6);
    assert_int_equal(ngx_astro_hist_bucket(100), 6);
    assert_int_equal(ngx_astro_hist_bucket(101), 7);
    assert_int_equal(ngx_astro_hist_bucket(1000), 9);
    assert_int_equal(ngx_astro_hist_bucket(1001), 10);
    assert_int_equal(ngx_astro_hist_bucket(30000), 13);
    assert_int_equal(ngx_astro_hist_bucket(30001), 14);
}


static void
test_bucket_open_last(void **state)
{
    (void) state;

    assert_int_equal(ngx_astro_hist_bucket(1000000), NGX_ASTRO_HIST_N - 1);
    assert_int_equal(ngx_astro_hist_bucket(UINT64_MAX), NGX_ASTRO_HIST_N - 1);
}


static void
test_quantile_empty(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));

    assert_float_equal(ngx_astro_hist_quantile(counts, 0.5), 0, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.99), 0, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 1), 0, EPS);
}


static void
test_quantile_first_bucket(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));
    counts[0] = 10;

    /* (0, 1]: lower bound 0, rank 5 of 10 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.5), 0.5, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.1), 0.1, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 1), 1, EPS);
}


static void
test_quantile_two_buckets(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));
    counts[3] = 4;      /* (5, 10] */
    counts[5] = 4;      /* (25, 50] */

    /* rank 2: 5 + 5 * 2 / 4 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.25), 7.5, EPS);

    /* rank 4: the top of the first bucket */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.5), 10, EPS);

    /* rank 6: 25 + 25 * (6 - 4) / 4; the empty (10, 25] is skipped */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.75), 37.5, EPS);

    /* rank 8: the top of the last used bucket */
    assert_float_equal(ngx_astro_hist_quantile(counts, 1), 50, EPS);
}


static void
test_quantile_spread(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));
    counts[6] = 50;     /* (50, 100] */
    counts[7] = 30;     /* (100, 250] */
    counts[9] = 20;     /* (500, 1000] */

    /* rank 50 of 100: 50 + 50 * 50 / 50 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.5), 100, EPS);

    /* rank 25: 50 + 50 * 25 / 50 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.25), 75, EPS);

    /* rank 65: 100 + 150 * 15 / 30 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.65), 175, 1e-6);

    /* rank 90: 500 + 500 * 10 / 20 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.9), 750, 1e-6);

    /* rank 99: 500 + 500 * 19 / 20 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.99), 975, 1e-6);
}


static void
test_quantile_last_open(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));
    counts[NGX_ASTRO_HIST_N - 1] = 7;

    /* the open bucket answers its lower bound */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.5), 30000, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.99), 30000, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 1), 30000, EPS);
}


static void
test_quantile_into_last_open(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));
    counts[13] = 9;     /* (10000, 30000] */
    counts[14] = 1;

    /* rank 4.5: 10000 + 20000 * 4.5 / 9 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.45), 20000, 1e-6);

    /* rank 9.5: past the closed buckets */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.95), 30000, EPS);
}


static void
test_quantile_single(void **state)
{
    uint64_t  counts[NGX_ASTRO_HIST_N];

    (void) state;

    memset(counts, 0, sizeof(counts));
    counts[ngx_astro_hist_bucket(300)] = 1;     /* (250, 500] */

    /* rank 0.5: 250 + 250 * 0.5 */
    assert_float_equal(ngx_astro_hist_quantile(counts, 0.5), 375, EPS);
    assert_float_equal(ngx_astro_hist_quantile(counts, 1), 500, EPS);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_bounds_table),
        cmocka_unit_test(test_bucket_zero),
        cmocka_unit_test(test_bucket_at_bounds),
        cmocka_unit_test(test_bucket_literal),
        cmocka_unit_test(test_bucket_open_last),
        cmocka_unit_test(test_quantile_empty),
        cmocka_unit_test(test_quantile_first_bucket),
        cmocka_unit_test(test_quantile_two_buckets),
        cmocka_unit_test(test_quantile_spread),
        cmocka_unit_test(test_quantile_last_open),
        cmocka_unit_test(test_quantile_into_last_open),
        cmocka_unit_test(test_quantile_single),
    };

    return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
