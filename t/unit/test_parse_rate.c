
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_parse_rate.h"


static void
ok(const char *s, uint32_t count, uint32_t period)
{
    ngx_astro_rate_t  rate;

    memset(&rate, 0xff, sizeof(rate));

    assert_int_equal(ngx_astro_parse_rate((const u_char *) s, strlen(s),
                                          &rate), 0);
    assert_int_equal(rate.count, count);
    assert_int_equal(rate.period, period);
}


static void
bad(const char *s)
{
    ngx_astro_rate_t  rate;

    assert_int_equal(ngx_astro_parse_rate((const u_char *) s, strlen(s),
                                          &rate), -1);
}


static void
test_rate_per_second(void **state)
{
    (void) state;

    ok("1r/s", 1, 1);
    ok("10r/s", 10, 1);
    ok("250r/s", 250, 1);
}


static void
test_rate_per_minute(void **state)
{
    (void) state;

    /* kept as 100 in 60 s, not rounded to a rate per second */
    ok("100r/m", 100, 60);
    ok("1r/m", 1, 60);
    ok("30r/m", 30, 60);
}


static void
test_rate_max(void **state)
{
    (void) state;

    ok("1000000000r/s", NGX_ASTRO_RATE_MAX, 1);
    ok("1000000000r/m", NGX_ASTRO_RATE_MAX, 60);
    ok("999999999r/s", 999999999, 1);

    bad("1000000001r/s");
    bad("4294967296r/s");
    bad("99999999999999999999999r/s");
}


static void
test_rate_leading_zeros(void **state)
{
    (void) state;

    ok("010r/s", 10, 1);
    ok("0000000000001r/m", 1, 60);
}


static void
test_rate_zero(void **state)
{
    (void) state;

    bad("0r/s");
    bad("000r/m");
}


static void
test_rate_syntax(void **state)
{
    (void) state;

    bad("");
    bad("r/s");
    bad("10");
    bad("10r");
    bad("10r/");
    bad("10r/h");
    bad("10r/S");
    bad("10R/s");
    bad("10/s");
    bad("10rs");
    bad("10r/ss");
    bad("10r/s ");
    bad(" 10r/s");
    bad("10 r/s");
    bad("-10r/s");
    bad("+10r/s");
    bad("1.5r/s");
    bad("10x/s");
    bad("10r-s");
}


static void
test_rate_len(void **state)
{
    ngx_astro_rate_t  rate;

    (void) state;

    /* only len bytes count */
    assert_int_equal(ngx_astro_parse_rate((const u_char *) "10r/sXYZ", 5,
                                          &rate), 0);
    assert_int_equal(rate.count, 10);
    assert_int_equal(rate.period, 1);

    assert_int_equal(ngx_astro_parse_rate((const u_char *) "10r/s", 4,
                                          &rate), -1);
    assert_int_equal(ngx_astro_parse_rate((const u_char *) "10r/s", 0,
                                          &rate), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_rate_per_second),
        cmocka_unit_test(test_rate_per_minute),
        cmocka_unit_test(test_rate_max),
        cmocka_unit_test(test_rate_leading_zeros),
        cmocka_unit_test(test_rate_zero),
        cmocka_unit_test(test_rate_syntax),
        cmocka_unit_test(test_rate_len),
    };

    return cmocka_run_group_tests_name("parse_rate", tests, NULL, NULL);
}
