
/*
 * Copyright (C) astro developers
 */


/*
 * The range and list parsers of the shard map (src/ngx_astro_shard_key.c):
 * dates of the calendar, integers to their bounds, bounds and keys of a
 * kind, comma-separated values, and values written back.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_key.h"


static ngx_int_t
date(const char *s, ngx_uint_t prefix, int64_t *v)
{
    return ngx_astro_shard_key_date((u_char *) s, strlen(s), prefix, v);
}


static ngx_int_t
number(const char *s, int64_t *v)
{
    return ngx_astro_shard_key_number((u_char *) s, strlen(s), v);
}


static void
test_date(void **state)
{
    int64_t  v;

    (void) state;

    assert_int_equal(date("2024-03-05", 0, &v), NGX_OK);
    assert_int_equal(v, 20240305);
    assert_int_equal(date("0000-01-01", 0, &v), NGX_OK);
    assert_int_equal(v, 101);
    assert_int_equal(date("9999-12-31", 0, &v), NGX_OK);
    assert_int_equal(v, 99991231);

    /* the calendar */
    assert_int_equal(date("2024-02-29", 0, &v), NGX_OK);
    assert_int_equal(date("2000-02-29", 0, &v), NGX_OK);
    assert_int_equal(date("2023-02-29", 0, &v), NGX_DECLINED);
    assert_int_equal(date("1900-02-29", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-02-30", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-04-30", 0, &v), NGX_OK);
    assert_int_equal(date("2024-04-31", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-06-31", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-09-31", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-11-31", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-12-31", 0, &v), NGX_OK);
    assert_int_equal(date("2024-01-32", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-00-10", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-13-10", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-01-00", 0, &v), NGX_DECLINED);

    /* the form */
    assert_int_equal(date("2024-1-05", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024/01/05", 0, &v), NGX_DECLINED);
    assert_int_equal(date("20240105", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-01-0", 0, &v), NGX_DECLINED);
    assert_int_equal(date("+024-01-05", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-0a-05", 0, &v), NGX_DECLINED);
    assert_int_equal(date(" 2024-01-05", 0, &v), NGX_DECLINED);
    assert_int_equal(date("", 0, &v), NGX_DECLINED);

    /* a key may go on, not with a digit; a bound may not */
    assert_int_equal(date("2024-03-05T10:00:00Z", 1, &v), NGX_OK);
    assert_int_equal(v, 20240305);
    assert_int_equal(date("2024-03-05 x", 1, &v), NGX_OK);
    assert_int_equal(date("2024-03-051", 1, &v), NGX_DECLINED);
    assert_int_equal(date("2024-03-05T10:00:00Z", 0, &v), NGX_DECLINED);
    assert_int_equal(date("2024-03-05", 1, &v), NGX_OK);
}


static void
test_number(void **state)
{
    int64_t  v;

    (void) state;

    assert_int_equal(number("0", &v), NGX_OK);
    assert_int_equal(v, 0);
    assert_int_equal(number("-0", &v), NGX_OK);
    assert_int_equal(v, 0);
    assert_int_equal(number("007", &v), NGX_OK);
    assert_int_equal(v, 7);
    assert_int_equal(number("-42", &v), NGX_OK);
    assert_int_equal(v, -42);
    assert_int_equal(number("9223372036854775807", &v), NGX_OK);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(number("-9223372036854775808", &v), NGX_OK);
    assert_int_equal(v, INT64_MIN);

    assert_int_equal(number("9223372036854775808", &v), NGX_DECLINED);
    assert_int_equal(number("-9223372036854775809", &v), NGX_DECLINED);
    assert_int_equal(number("9999999999999999999", &v), NGX_DECLINED);
    assert_int_equal(number("18446744073709551616", &v), NGX_DECLINED);
    assert_int_equal(number("00000000000000000001", &v), NGX_DECLINED);
    assert_int_equal(number("", &v), NGX_DECLINED);
    assert_int_equal(number("-", &v), NGX_DECLINED);
    assert_int_equal(number("+1", &v), NGX_DECLINED);
    assert_int_equal(number("1.5", &v), NGX_DECLINED);
    assert_int_equal(number("1 ", &v), NGX_DECLINED);
    assert_int_equal(number("--1", &v), NGX_DECLINED);
    assert_int_equal(number("0x10", &v), NGX_DECLINED);
}


static void
test_bound_and_range(void **state)
{
    int64_t     v;
    ngx_uint_t  kind;

    (void) state;

    assert_int_equal(ngx_astro_shard_key_bound((u_char *) "2024-01-01", 10,
                                               &kind, &v), NGX_OK);
    assert_int_equal(kind, NGX_ASTRO_SHARD_KIND_DATE);
    assert_int_equal(v, 20240101);
    assert_int_equal(ngx_astro_shard_key_bound((u_char *) "-5", 2, &kind,
                                               &v), NGX_OK);
    assert_int_equal(kind, NGX_ASTRO_SHARD_KIND_NUMBER);
    assert_int_equal(v, -5);
    assert_int_equal(ngx_astro_shard_key_bound((u_char *) "x", 1, &kind, &v),
                     NGX_DECLINED);
    assert_int_equal(ngx_astro_shard_key_bound((u_char *) "2024-01-01Z",
                                               11, &kind, &v), NGX_DECLINED);

    assert_int_equal(ngx_astro_shard_key_range(NGX_ASTRO_SHARD_KIND_DATE,
                         (u_char *) "2024-01-01Z", 11, &v), NGX_OK);
    assert_int_equal(v, 20240101);
    assert_int_equal(ngx_astro_shard_key_range(NGX_ASTRO_SHARD_KIND_DATE,
                         (u_char *) "17", 2, &v), NGX_DECLINED);
    assert_int_equal(ngx_astro_shard_key_range(NGX_ASTRO_SHARD_KIND_NUMBER,
                         (u_char *) "17", 2, &v), NGX_OK);
    assert_int_equal(v, 17);
    assert_int_equal(ngx_astro_shard_key_range(NGX_ASTRO_SHARD_KIND_NUMBER,
                         (u_char *) "2024-01-01", 10, &v), NGX_DECLINED);
    assert_int_equal(ngx_astro_shard_key_range(NGX_ASTRO_SHARD_KIND_NONE,
                         (u_char *) "17", 2, &v), NGX_DECLINED);
}


static void
values(const char *list, ngx_int_t last, ...)
{
    u_char     *pos, *end;
    va_list     args;
    ngx_int_t   rc;
    ngx_str_t   v;
    const char *want;

    pos = (u_char *) list;
    end = pos + strlen(list);

    va_start(args, last);

    for ( ;; ) {
        want = va_arg(args, const char *);
        rc = ngx_astro_shard_key_next_value(&pos, end, &v);

        if (want == NULL) {
            break;
        }

        assert_int_equal(rc, NGX_OK);
        assert_int_equal(v.len, strlen(want));
        assert_memory_equal(v.data, want, v.len);
    }

    va_end(args);

    assert_int_equal(rc, last);

    if (rc == NGX_DECLINED) {
        /* no loop: the next call ends */
        assert_int_equal(ngx_astro_shard_key_next_value(&pos, end, &v),
                         NGX_DONE);
    }
}


static void
test_next_value(void **state)
{
    char  long_value[300];

    (void) state;

    values("a", NGX_DONE, "a", NULL);
    values("FR,DE,US", NGX_DONE, "FR", "DE", "US", NULL);
    values("text/html", NGX_DONE, "text/html", NULL);
    values(" a ,b", NGX_DONE, " a ", "b", NULL);
    values("", NGX_DONE, NULL);
    values("a,", NGX_DECLINED, "a", NULL);
    values(",a", NGX_DECLINED, NULL);
    values("a,,b", NGX_DECLINED, "a", NULL);
    values(",", NGX_DECLINED, NULL);

    memset(long_value, 'x', 256);
    long_value[256] = '\0';
    values(long_value, NGX_DECLINED, NULL);
    long_value[255] = '\0';
    values(long_value, NGX_DONE, long_value, NULL);
}


static void
test_print(void **state)
{
    u_char  buf[21];
    size_t  n;

    (void) state;

    n = ngx_astro_shard_key_print(NGX_ASTRO_SHARD_KIND_DATE, 20240305, buf);
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "2024-03-05", 10);
    n = ngx_astro_shard_key_print(NGX_ASTRO_SHARD_KIND_DATE, 101, buf);
    assert_memory_equal(buf, "0000-01-01", n);
    n = ngx_astro_shard_key_print(NGX_ASTRO_SHARD_KIND_NUMBER, INT64_MIN,
                                  buf);
    assert_int_equal(n, 20);
    assert_memory_equal(buf, "-9223372036854775808", 20);
    n = ngx_astro_shard_key_print(NGX_ASTRO_SHARD_KIND_NUMBER, 7, buf);
    assert_int_equal(n, 1);
    assert_memory_equal(buf, "7", 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_bound_and_range),
        cmocka_unit_test(test_next_value),
        cmocka_unit_test(test_print),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
