
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_parse.h"


#define EPS  1e-9


static void
ok(const char *s, double expect)
{
    double  v;

    v = -1;

    assert_int_equal(ngx_astro_parse_percent((const u_char *) s, strlen(s),
                                             &v), 0);
    assert_float_equal(v, expect, EPS);
}


static void
bad(const char *s)
{
    double  v;

    assert_int_equal(ngx_astro_parse_percent((const u_char *) s, strlen(s),
                                             &v), -1);
}


static void
test_percent_integers(void **state)
{
    (void) state;

    ok("70%", 70);
    ok("100%", 100);
    ok("0%", 0);
    ok("1%", 1);
    ok("99%", 99);
    ok("007%", 7);
}


static void
test_percent_decimals(void **state)
{
    (void) state;

    ok("70.5%", 70.5);
    ok("70.55%", 70.55);
    ok("70.05%", 70.05);
    ok("0.5%", 0.5);
    ok("0.01%", 0.01);
    ok("99.99%", 99.99);
    ok("100.0%", 100);
    ok("100.00%", 100);
    ok("50.50%", 50.5);
}


static void
test_percent_range(void **state)
{
    (void) state;

    bad("101%");
    bad("100.01%");
    bad("100.1%");
    bad("999%");
    bad("1000%");
    bad("-1%");
    bad("-0%");
}


static void
test_percent_syntax(void **state)
{
    (void) state;

    bad("");
    bad("%");
    bad("70");
    bad("70.5");
    bad("7a%");
    bad("a7%");
    bad("70.555%");
    bad("70.%");
    bad(".5%");
    bad("70..5%");
    bad("70.5.5%");
    bad(" 70%");
    bad("70 %");
    bad("70%%");
    bad("+70%");
    bad("0007%");
    bad("7e1%");
}


static void
test_percent_len(void **state)
{
    double  v;

    (void) state;

    /* only len bytes count: "70%" out of "70%x" */
    v = -1;
    assert_int_equal(ngx_astro_parse_percent((const u_char *) "70%x", 3, &v),
                     0);
    assert_float_equal(v, 70, EPS);

    /* "70" out of "70%" */
    assert_int_equal(ngx_astro_parse_percent((const u_char *) "70%", 2, &v),
                     -1);

    assert_int_equal(ngx_astro_parse_percent((const u_char *) "%", 0, &v),
                     -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_percent_integers),
        cmocka_unit_test(test_percent_decimals),
        cmocka_unit_test(test_percent_range),
        cmocka_unit_test(test_percent_syntax),
        cmocka_unit_test(test_percent_len),
    };

    return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
