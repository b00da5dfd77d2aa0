
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_cache_policy.h"


static ngx_astro_cache_origin_t  none;


/* a class of ttl, no windows, no factor, origin=respect */

static ngx_astro_cache_policy_t
policy(time_t ttl)
{
    ngx_astro_cache_policy_t  p;

    memset(&p, 0, sizeof(p));

    p.ttl = ttl;
    p.origin = NGX_ASTRO_CACHE_ORIGIN_RESPECT;
    p.factor = 100;
    p.shrink = 100;

    return p;
}


static ngx_astro_cache_origin_t
origin(time_t valid, time_t updating, time_t error)
{
    ngx_astro_cache_origin_t  o;

    o.set = valid != 0;
    o.valid = valid;
    o.updating = updating;
    o.error = error;

    return o;
}


static void
expect(ngx_astro_cache_policy_t *p, ngx_astro_cache_origin_t *o,
    time_t valid, time_t updating, time_t error, time_t ttl)
{
    ngx_astro_cache_validity_t  v;

    memset(&v, 0xff, sizeof(v));

    assert_int_equal(ngx_astro_cache_policy_apply(p, o, &v), 0);
    assert_int_equal(v.valid, valid);
    assert_int_equal(v.updating, updating);
    assert_int_equal(v.error, error);
    assert_int_equal(v.ttl, ttl);
}


static void
test_class(void **state)
{
    ngx_astro_cache_policy_t    p;
    ngx_astro_cache_validity_t  v;

    (void) state;

    p = policy(300);
    expect(&p, &none, 300, 0, 0, 300);

    p.stale = 10;
    p.stale_if_error = 60;
    expect(&p, &none, 300, 10, 60, 300);

    assert_int_equal(ngx_astro_cache_policy_apply(&p, &none, &v), 0);
    assert_int_equal(v.refresh, 0);
    assert_int_equal(v.origin, 0);

    /* a TTL of 0 stores nothing */
    p = policy(0);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &none, &v), -1);
}


static void
test_origin_respect(void **state)
{
    ngx_astro_cache_policy_t    p;
    ngx_astro_cache_origin_t    o;
    ngx_astro_cache_validity_t  v;

    (void) state;

    p = policy(300);
    p.stale = 10;
    p.stale_if_error = 60;

    /* longer or shorter, the origin's expiry wins */
    o = origin(1000, 0, 0);
    expect(&p, &o, 1000, 10, 60, 1000);
    o = origin(5, 0, 0);
    expect(&p, &o, 5, 10, 60, 5);

    assert_int_equal(ngx_astro_cache_policy_apply(&p, &o, &v), 0);
    assert_int_equal(v.origin, 1);

    /* and its windows, where it gave them */
    o = origin(5, 30, 0);
    expect(&p, &o, 5, 30, 60, 5);
    o = origin(5, 30, 2);
    expect(&p, &o, 5, 30, 2, 5);

    /* stale-while-revalidate alone: the class's TTL, its window */
    o = origin(0, 1, 1);
    expect(&p, &o, 300, 1, 1, 300);

    /* an expiry already past (Expires: now, X-Accel-Expires: @past) */
    o = origin(-3, 0, 0);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &o, &v), -1);
}


static void
test_origin_override(void **state)
{
    ngx_astro_cache_policy_t    p;
    ngx_astro_cache_origin_t    o;
    ngx_astro_cache_validity_t  v;

    (void) state;

    p = policy(300);
    p.stale = 10;
    p.origin = NGX_ASTRO_CACHE_ORIGIN_OVERRIDE;

    o = origin(1000, 30, 40);
    expect(&p, &o, 300, 10, 0, 300);
    o = origin(5, 0, 0);
    expect(&p, &o, 300, 10, 0, 300);
    o = origin(-3, 0, 0);
    expect(&p, &o, 300, 10, 0, 300);

    assert_int_equal(ngx_astro_cache_policy_apply(&p, &o, &v), 0);
    assert_int_equal(v.origin, 0);
}


static void
test_origin_min(void **state)
{
    ngx_astro_cache_policy_t    p;
    ngx_astro_cache_origin_t    o;
    ngx_astro_cache_validity_t  v;

    (void) state;

    p = policy(300);
    p.stale = 10;
    p.stale_if_error = 60;
    p.origin = NGX_ASTRO_CACHE_ORIGIN_MIN;

    o = origin(1000, 0, 0);
    expect(&p, &o, 300, 10, 60, 300);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &o, &v), 0);
    assert_int_equal(v.origin, 0);

    o = origin(5, 0, 0);
    expect(&p, &o, 5, 10, 60, 5);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &o, &v), 0);
    assert_int_equal(v.origin, 1);

    /* windows: the shorter of those given */
    o = origin(5, 30, 20);
    expect(&p, &o, 5, 10, 20, 5);
    o = origin(5, 3, 0);
    expect(&p, &o, 5, 3, 60, 5);

    o = origin(0, 0, 0);
    expect(&p, &o, 300, 10, 60, 300);

    o = origin(-1, 0, 0);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &o, &v), -1);
}


static void
test_factor(void **state)
{
    ngx_astro_cache_policy_t  p;
    ngx_astro_cache_origin_t  o;

    (void) state;

    p = policy(100);
    p.stale = 10;
    p.stale_if_error = 20;
    p.factor = 200;
    expect(&p, &none, 200, 20, 40, 200);

    p.factor = 250;
    expect(&p, &none, 250, 25, 50, 250);

    /* capped by max_ttl */
    p.max_ttl = 120;
    expect(&p, &none, 120, 25, 50, 120);

    /* the cap never takes a class below its own TTL */
    p.max_ttl = 60;
    expect(&p, &none, 100, 25, 50, 100);

    p.max_ttl = 0;
    p.factor = 10000;
    expect(&p, &none, 10000, 1000, 2000, 10000);

    /* respect: the origin's expiry is not scaled */
    p.factor = 200;
    o = origin(30, 0, 0);
    expect(&p, &o, 30, 20, 40, 30);

    /* min: the scaled class against the origin */
    p.origin = NGX_ASTRO_CACHE_ORIGIN_MIN;
    o = origin(150, 0, 0);
    expect(&p, &o, 150, 20, 40, 150);
    o = origin(250, 0, 0);
    expect(&p, &o, 200, 20, 40, 200);
}


static void
test_shrink(void **state)
{
    ngx_astro_cache_policy_t  p;

    (void) state;

    p = policy(100);
    p.stale = 10;
    p.shrink = 50;
    expect(&p, &none, 50, 10, 0, 50);

    /* after the factor */
    p.factor = 300;
    expect(&p, &none, 150, 30, 0, 150);

    /* never to nothing */
    p = policy(1);
    p.shrink = 10;
    expect(&p, &none, 1, 0, 0, 1);
}


static void
test_refresh(void **state)
{
    ngx_astro_cache_policy_t    p;
    ngx_astro_cache_origin_t    o;
    ngx_astro_cache_validity_t  v;

    (void) state;

    p = policy(4);
    p.stale = 10;
    p.stale_if_error = 20;
    p.refresh = 50;
    expect(&p, &none, 2, 12, 22, 4);

    assert_int_equal(ngx_astro_cache_policy_apply(&p, &none, &v), 0);
    assert_int_equal(v.refresh, 50);

    p.ttl = 100;
    p.refresh = 80;
    expect(&p, &none, 80, 30, 40, 100);

    /* rounding: fresh down, the window up, the sum never over the TTL */
    p.ttl = 10;
    p.refresh = 33;
    expect(&p, &none, 3, 17, 27, 10);
    p.ttl = 5;
    p.refresh = 50;
    expect(&p, &none, 2, 12, 22, 4);
    p.ttl = 10;
    p.refresh = 99;
    expect(&p, &none, 9, 11, 21, 10);

    /* too short to split: stored whole */
    p.ttl = 3;
    p.refresh = 10;
    expect(&p, &none, 3, 10, 20, 3);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &none, &v), 0);
    assert_int_equal(v.refresh, 0);

    /* paused (critical): stored whole, expiring into its stale window */
    p.ttl = 4;
    p.refresh = 50;
    p.paused = 1;
    expect(&p, &none, 4, 10, 20, 4);
    assert_int_equal(ngx_astro_cache_policy_apply(&p, &none, &v), 0);
    assert_int_equal(v.refresh, 0);

    /* the origin's TTL is split too, after the factor */
    p.paused = 0;
    p.factor = 200;
    o = origin(60, 0, 0);
    expect(&p, &o, 30, 50, 70, 60);
}


static void
test_refresh_sum(void **state)
{
    time_t                      ttl;
    unsigned                    n;
    ngx_astro_cache_policy_t    p;
    ngx_astro_cache_validity_t  v;

    (void) state;

    for (n = 1; n < 100; n++) {
        for (ttl = 1; ttl < 500; ttl++) {
            p = policy(ttl);
            p.refresh = n;

            assert_int_equal(ngx_astro_cache_policy_apply(&p, &none, &v), 0);
            assert_true(v.ttl <= ttl);
            assert_true(v.valid >= 1);

            if (v.refresh == 0) {
                assert_int_equal(v.valid, ttl);
                assert_true(ttl * n < 100);
                continue;
            }

            assert_true(v.updating >= 1);
            assert_int_equal(v.valid + v.updating, v.ttl);
            assert_true(v.ttl * 100 > ttl * 100 - 100 * 100 / n);

            /* the log phase finds the same window again */
            assert_true(ngx_astro_cache_policy_refreshing(1000 + v.valid,
                            1000, 1000 + v.ttl, n));
            assert_false(ngx_astro_cache_policy_refreshing(1000 + v.valid,
                             1000, 1000 + v.ttl + 1, n));
        }
    }
}


static void
test_refreshing(void **state)
{
    (void) state;

    /* stored at 1000 fresh for 2s of 4 (50%): refreshing in 1003, 1004 */
    assert_false(ngx_astro_cache_policy_refreshing(1002, 1000, 1001, 50));
    assert_false(ngx_astro_cache_policy_refreshing(1002, 1000, 1002, 50));
    assert_true(ngx_astro_cache_policy_refreshing(1002, 1000, 1003, 50));
    assert_true(ngx_astro_cache_policy_refreshing(1002, 1000, 1004, 50));
    assert_false(ngx_astro_cache_policy_refreshing(1002, 1000, 1005, 50));

    /* not split: never */
    assert_false(ngx_astro_cache_policy_refreshing(1002, 1000, 1003, 0));

    /* a date at or after the expiry (a clock moved): never */
    assert_false(ngx_astro_cache_policy_refreshing(1002, 1002, 1003, 50));
    assert_false(ngx_astro_cache_policy_refreshing(1002, 1005, 1003, 50));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_class),
        cmocka_unit_test(test_origin_respect),
        cmocka_unit_test(test_origin_override),
        cmocka_unit_test(test_origin_min),
        cmocka_unit_test(test_factor),
        cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_refresh_sum),
        cmocka_unit_test(test_refreshing),
    };

    return cmocka_run_group_tests_name("cache_policy", tests, NULL, NULL);
}
