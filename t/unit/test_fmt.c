
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <math.h>
#include <float.h>
#include <cmocka.h>

#include "ngx_astro_fmt.h"


static void
check_escaped(size_t (*escape)(u_char *, const u_char *, size_t),
    const char *in, size_t len, const char *expect)
{
    u_char  buf[256];
    size_t  n, count;

    memset(buf, 'X', sizeof(buf));

    count = escape(NULL, (const u_char *) in, len);
    n = escape(buf, (const u_char *) in, len);

    assert_int_equal(n, strlen(expect));
    assert_int_equal(count, n);
    assert_memory_equal(buf, expect, n);

    /* nothing written past the counted length */
    assert_int_equal(buf[n], 'X');
}


#define check_escape(in, len, expect)                                         \
    check_escaped(ngx_astro_json_escape, in, len, expect)

#define check_prom(in, len, expect)                                           \
    check_escaped(ngx_astro_prom_escape, in, len, expect)


static void
check_double(double v, const char *expect)
{
    u_char  buf[NGX_ASTRO_DOUBLE_LEN + 8], *p;

    memset(buf, 'X', sizeof(buf));

    p = ngx_astro_fmt_double(buf, v);

    assert_true(p >= buf);
    assert_true((size_t) (p - buf) <= NGX_ASTRO_DOUBLE_LEN);
    *p = '\0';

    assert_string_equal((char *) buf, expect);
}


static void
test_escape_empty(void **state)
{
    (void) state;

    check_escape("", 0, "");
}


static void
test_escape_plain(void **state)
{
    (void) state;

    check_escape("hello world /path?a=1&b=2", 25,
                 "hello world /path?a=1&b=2");
}


static void
test_escape_quote_backslash(void **state)
{
    (void) state;

    check_escape("\"", 1, "\\\"");
    check_escape("\\", 1, "\\\\");
    check_escape("a\"b\\c", 5, "a\\\"b\\\\c");
    check_escape("\\\"\\\"", 4, "\\\\\\\"\\\\\\\"");
}


static void
test_escape_control(void **state)
{
    (void) state;

    check_escape("\n", 1, "\\u000a");
    check_escape("\r", 1, "\\u000d");
    check_escape("\t", 1, "\\u0009");
    check_escape("\b\f", 2, "\\u0008\\u000c");
    check_escape("\x1f", 1, "\\u001f");
    check_escape("\x1b[0m", 4, "\\u001b[0m");
    check_escape("\x7f", 1, "\\u007f");
    check_escape(" ", 1, " ");
    check_escape("~", 1, "~");
    check_escape("a\nb", 3, "a\\u000ab");
}


static void
test_escape_nul(void **state)
{
    (void) state;

    /* an embedded NUL is escaped, not a terminator */
    check_escape("a\0b", 3, "a\\u0000b");
}


static void
test_escape_utf8(void **state)
{
    (void) state;

    /* "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x9a\x80" passes byte for byte */
    check_escape("h\xc3\xa9llo", 6, "h\xc3\xa9llo");
    check_escape("\xe2\x82\xac", 3, "\xe2\x82\xac");
    check_escape("\xf0\x9f\x9a\x80", 4, "\xf0\x9f\x9a\x80");
    check_escape("\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf");
    check_escape("\xed\x9f\xbf", 3, "\xed\x9f\xbf");
}


#define FFFD  "\xef\xbf\xbd"

static void
test_escape_not_utf8(void **state)
{
    (void) state;

    /*
     * each byte that begins no valid sequence is U+FFFD, so that any name
     * makes valid JSON: it passed as it was, and the document did not
     * parse (t/fuzz/corpus/status/regress-invalid-utf8)
     */
    check_escape("\x80\xff", 2, FFFD FFFD);
    check_escape("zo\xb5" "e", 4, "zo" FFFD "e");

    /* overlong, surrogate, above U+10FFFF, cut short */
    check_escape("\xc0\x80", 2, FFFD FFFD);
    check_escape("\xe0\x80\x80", 3, FFFD FFFD FFFD);
    check_escape("\xed\xa0\x80", 3, FFFD FFFD FFFD);
    check_escape("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    check_escape("\xf5\x80", 2, FFFD FFFD);
    check_escape("\xe2\x82", 2, FFFD FFFD);
    check_escape("a\xe2\x82\xac", 3, "a" FFFD FFFD);
    check_escape("\xc3\x28", 2, FFFD "(");
}


static void
test_prom_escape(void **state)
{
    (void) state;

    /* only \\, \" and \n are escapes in a label value */
    check_prom("plain", 5, "plain");
    check_prom("a\"b\\c\nd", 7, "a\\\"b\\\\c\\nd");
    check_prom("\t\r\x01", 3, "\t\r\x01");
    check_prom("h\xc3\xa9", 3, "h\xc3\xa9");
    check_prom("\xff\n", 2, FFFD "\\n");
    check_prom("ab\ncd", 2, "ab");
}


static void
test_escape_len_bound(void **state)
{
    (void) state;

    /* only len bytes are read */
    check_escape("ab\"cd", 2, "ab");
}


static void
test_escape_count_only(void **state)
{
    size_t       n;
    const char  *in;

    (void) state;

    in = "x\"y\\z\n\x01\xc3\xa9";

    n = ngx_astro_json_escape(NULL, (const u_char *) in, strlen(in));

    /* x \" y \\ z \u000a \u0001 c3 a9 */
    assert_int_equal(n, 1 + 2 + 1 + 2 + 1 + 6 + 6 + 2);

    check_escape(in, strlen(in),
                 "x\\\"y\\\\z\\u000a\\u0001\xc3\xa9");
}


static void
test_double_integers(void **state)
{
    (void) state;

    check_double(0, "0");
    check_double(1, "1");
    check_double(42, "42");
    check_double(100, "100");
    check_double(1234567, "1234567");
    check_double(-7, "-7");
    check_double(-0.0, "0");
}


static void
test_double_decimals(void **state)
{
    (void) state;

    check_double(0.5, "0.5");
    check_double(2.5, "2.5");
    check_double(1.25, "1.25");
    check_double(0.125, "0.125");
    check_double(0.1, "0.1");
    check_double(0.3, "0.3");
    check_double(123.456, "123.456");
    check_double(99.99, "99.99");
    check_double(0.01, "0.01");
    check_double(0.001, "0.001");
    check_double(1.05, "1.05");
}


static void
test_double_rounding(void **state)
{
    (void) state;

    check_double(0.0625, "0.063");
    check_double(1.23449, "1.234");
    check_double(1.23451, "1.235");
    check_double(2.0004, "2");
    check_double(2.9996, "3");
    check_double(9.9999, "10");
    check_double(0.0004, "0");
    check_double(0.0006, "0.001");
    check_double(1.0 / 3, "0.333");
    check_double(2.0 / 3, "0.667");
}


static void
test_double_trailing_zeros(void **state)
{
    (void) state;

    check_double(1.5, "1.5");
    check_double(1.50001, "1.5");
    check_double(1.2, "1.2");
    check_double(1.020, "1.02");
    check_double(10.100, "10.1");
    check_double(3.000001, "3");
}


static void
test_double_negative(void **state)
{
    (void) state;

    check_double(-1.5, "-1.5");
    check_double(-0.5, "-0.5");
    check_double(-123.456, "-123.456");
    check_double(-0.001, "-0.001");
    check_double(-0.0006, "-0.001");
    check_double(-2.9996, "-3");
}


static void
test_double_tiny_negative(void **state)
{
    (void) state;

    /* rounds to zero: no "-0" */
    check_double(-0.0004, "0");
    check_double(-0.00049, "0");
    check_double(-1e-9, "0");
    check_double(-1e-300, "0");
}


static void
test_double_nan_inf(void **state)
{
    (void) state;

    check_double(NAN, "0");
    check_double(-NAN, "0");
    check_double(INFINITY, "0");
    check_double(-INFINITY, "0");
}


static void
test_double_large(void **state)
{
    (void) state;

    check_double(1e15, "1000000000000000");
    check_double(1e16, "10000000000000000");
    check_double(-1e16, "-10000000000000000");
}


static void
test_double_large_fraction(void **state)
{
    (void) state;

    /*
     * Exactly representable values whose fraction is misprinted: v * 1000
     * exceeds 2^53 above about 9e12, so the three decimals are taken
     * from a rounded product ("100000000000000.496").
     */

    check_double(9000000000000.125, "9000000000000.125");
    check_double(100000000000000.5, "100000000000000.5");
    check_double(1000000000000000.5, "1000000000000000.5");
}


static void
test_double_huge(void **state)
{
    (void) state;

    /*
     * The code clamps to 1e18, but v * 1000 does not fit in uint64_t
     * above about 1.8e16: the conversion is undefined behaviour and
     * prints "0" (-O0) or "18446744073709551.615" (-O2).
     */

    check_double(2e16, "20000000000000000");
    check_double(1e17, "100000000000000000");
    check_double(-1e17, "-100000000000000000");
    check_double(1e18, "1000000000000000000");
    check_double(1e19, "1000000000000000000");
    check_double(1e300, "1000000000000000000");
    check_double(DBL_MAX, "1000000000000000000");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_escape_empty),
        cmocka_unit_test(test_escape_plain),
        cmocka_unit_test(test_escape_quote_backslash),
        cmocka_unit_test(test_escape_control),
        cmocka_unit_test(test_escape_nul),
        cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_escape_not_utf8),
        cmocka_unit_test(test_prom_escape),
        cmocka_unit_test(test_escape_len_bound),
        cmocka_unit_test(test_escape_count_only),
        cmocka_unit_test(test_double_integers),
        cmocka_unit_test(test_double_decimals),
        cmocka_unit_test(test_double_rounding),
        cmocka_unit_test(test_double_trailing_zeros),
        cmocka_unit_test(test_double_negative),
        cmocka_unit_test(test_double_tiny_negative),
        cmocka_unit_test(test_double_nan_inf),
        cmocka_unit_test(test_double_large),
        cmocka_unit_test(test_double_large_fraction),
        cmocka_unit_test(test_double_huge),
    };

    return cmocka_run_group_tests_name("fmt", tests, NULL, NULL);
}
