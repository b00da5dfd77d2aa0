
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_cache_parse.h"


static u_char  buf[NGX_ASTRO_CACHE_KEY_MAX];


static void
args_ok(const char *q, int what, int mode, const char *value, size_t len)
{
    ngx_astro_cache_args_t  a;

    assert_int_equal(ngx_astro_cache_parse_args((const u_char *) q, strlen(q),
                                                buf, &a), 0);
    assert_null(a.error);
    assert_int_equal(a.what, what);
    assert_int_equal(a.mode, mode);
    assert_int_equal(a.len, len);
    assert_ptr_equal(a.value, buf);
    assert_memory_equal(a.value, value, len);
}


static void
args_bad(const char *q, size_t len, const char *error)
{
    ngx_astro_cache_args_t  a;

    assert_int_equal(ngx_astro_cache_parse_args((const u_char *) q, len, buf,
                                                &a), -1);
    assert_non_null(a.error);
    assert_string_equal(a.error, error);
}


#define bad(q, error)  args_bad(q, strlen(q), error)


static void
test_args_class(void **state)
{
    (void) state;

    args_ok("class=api", NGX_ASTRO_CACHE_CLASS, NGX_ASTRO_CACHE_MODE_CONF,
            "api", 3);
    args_ok("class=a.b:c-d_E9", NGX_ASTRO_CACHE_CLASS,
            NGX_ASTRO_CACHE_MODE_CONF, "a.b:c-d_E9", 10);
    args_ok("class=%61pi", NGX_ASTRO_CACHE_CLASS, NGX_ASTRO_CACHE_MODE_CONF,
            "api", 3);
    args_ok("&&class=api&", NGX_ASTRO_CACHE_CLASS, NGX_ASTRO_CACHE_MODE_CONF,
            "api", 3);

    /* 64 characters, not 65 */
    args_ok("class=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaa", NGX_ASTRO_CACHE_CLASS, NGX_ASTRO_CACHE_MODE_CONF,
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            64);
    bad("class=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaa", "class too long");

    bad("class=", "empty class");
    bad("class", "empty class");
    bad("class=a%20b", "invalid class");
    bad("class=a/b", "invalid class");
    bad("class=a+b", "invalid class");
    bad("class=%00", "invalid class");
    bad("class=\xc3\xa9", "invalid class");
    bad("class=a%2", "bad escape in class");
    bad("class=a%zz", "bad escape in class");
    bad("class=a&class=b", "class given twice");
    bad("class=a&mode=soft", "mode applies to a key only");
}


static void
test_args_key(void **state)
{
    (void) state;

    args_ok("key=httpbackend/a", NGX_ASTRO_CACHE_KEY,
            NGX_ASTRO_CACHE_MODE_CONF, "httpbackend/a", 13);

    /* "+" stays, %XX of any case is decoded, "=" in a value is kept */
    args_ok("key=a+b%2Fc%2fd%3F%3dx=y", NGX_ASTRO_CACHE_KEY,
            NGX_ASTRO_CACHE_MODE_CONF, "a+b/c/d?=x=y", 12);
    args_ok("key=%20%C3%A9%7e", NGX_ASTRO_CACHE_KEY,
            NGX_ASTRO_CACHE_MODE_CONF, " \xc3\xa9~", 4);

    args_ok("key=k&mode=soft", NGX_ASTRO_CACHE_KEY,
            NGX_ASTRO_CACHE_MODE_SOFT, "k", 1);
    args_ok("mode=hard&key=k", NGX_ASTRO_CACHE_KEY,
            NGX_ASTRO_CACHE_MODE_HARD, "k", 1);
    args_ok("mode=%68ard&key=k", NGX_ASTRO_CACHE_KEY,
            NGX_ASTRO_CACHE_MODE_HARD, "k", 1);

    bad("key=", "empty key");
    bad("key=%", "bad escape in key");
    bad("key=%4", "bad escape in key");
    bad("key=%4g", "bad escape in key");
    bad("key=a%0Ab", "control byte in key");
    bad("key=a%7Fb", "control byte in key");
    bad("key=a%00b", "control byte in key");
    bad("key=a\tb", "control byte in key");
    bad("key=k&mode=", "mode must be soft or hard");
    bad("key=k&mode=Soft", "mode must be soft or hard");
    bad("key=k&mode=softer", "mode must be soft or hard");
    bad("key=k&mode=s%", "mode must be soft or hard");
    bad("key=k&mode=soft&mode=hard", "mode given twice");
    bad("key=a&key=b", "key given twice");
}


static void
test_args_key_len(void **state)
{
    char                    *q;
    size_t                   n;
    ngx_astro_cache_args_t   a;

    (void) state;

    n = 4 + (NGX_ASTRO_CACHE_KEY_MAX + 1) * 3;
    q = malloc(n);
    assert_non_null(q);

    /* 4096 bytes, as they are and escaped, then one more */

    memcpy(q, "key=", 4);
    memset(q + 4, 'x', NGX_ASTRO_CACHE_KEY_MAX + 1);

    assert_int_equal(ngx_astro_cache_parse_args((u_char *) q,
                                                4 + NGX_ASTRO_CACHE_KEY_MAX,
                                                buf, &a), 0);
    assert_int_equal(a.len, NGX_ASTRO_CACHE_KEY_MAX);
    args_bad(q, 4 + NGX_ASTRO_CACHE_KEY_MAX + 1, "key too long");

    for (n = 0; n < NGX_ASTRO_CACHE_KEY_MAX + 1; n++) {
        memcpy(q + 4 + n * 3, "%41", 3);
    }

    n = 4 + NGX_ASTRO_CACHE_KEY_MAX * 3;
    assert_int_equal(ngx_astro_cache_parse_args((u_char *) q, n, buf, &a), 0);
    assert_int_equal(a.len, NGX_ASTRO_CACHE_KEY_MAX);
    assert_int_equal(buf[0], 'A');
    assert_int_equal(buf[NGX_ASTRO_CACHE_KEY_MAX - 1], 'A');
    args_bad(q, 4 + (NGX_ASTRO_CACHE_KEY_MAX + 1) * 3, "key too long");

    free(q);
}


static void
test_args_others(void **state)
{
    (void) state;

    bad("", "no class or key");
    bad("&&", "no class or key");
    bad("mode=hard", "no class or key");
    bad("class=a&key=b", "both class and key");
    bad("key=b&class=a", "both class and key");
    bad("Class=a", "unknown argument");
    bad("class=a&x=1", "unknown argument");
    bad("=a", "unknown argument");
    bad("classes=a", "unknown argument");
    bad("cla", "unknown argument");

    /* only len bytes count */
    args_bad("key=abc", 2, "unknown argument");
    args_bad("key=abc", 3, "empty key");
    args_bad("class=abc", 6, "empty class");
}


static void
msg_ok(const char *m, int what, int hard, uint64_t gen, const char *value)
{
    u_char                 out[NGX_ASTRO_CACHE_MSG_MAX], *end;
    ngx_astro_cache_msg_t  msg;

    assert_int_equal(ngx_astro_cache_parse_msg((const u_char *) m, strlen(m),
                                               &msg), 0);
    assert_int_equal(msg.what, what);
    assert_int_equal(msg.hard, hard);
    assert_true(msg.gen == gen);
    assert_int_equal(msg.len, strlen(value));
    assert_memory_equal(msg.value, value, msg.len);

    end = ngx_astro_cache_format_msg(out, &msg);
    assert_non_null(end);
    assert_int_equal(end - out, strlen(m));
    assert_memory_equal(out, m, strlen(m));
}


static void
msg_bad(const char *m)
{
    ngx_astro_cache_msg_t  msg;

    assert_int_equal(ngx_astro_cache_parse_msg((const u_char *) m, strlen(m),
                                               &msg), -1);
}


static void
test_msg(void **state)
{
    (void) state;

    msg_ok("c api 4", NGX_ASTRO_CACHE_CLASS, 0, 4, "api");
    msg_ok("c default 0", NGX_ASTRO_CACHE_CLASS, 0, 0, "default");
    msg_ok("c a.b:c-d_E 18446744073709551615", NGX_ASTRO_CACHE_CLASS, 0,
           UINT64_MAX, "a.b:c-d_E");
    msg_ok("k h httpbackend/a?b=c d", NGX_ASTRO_CACHE_KEY, 1, 0,
           "httpbackend/a?b=c d");
    msg_ok("k s x", NGX_ASTRO_CACHE_KEY, 0, 0, "x");
    msg_ok("k h  lead", NGX_ASTRO_CACHE_KEY, 1, 0, " lead");

    msg_bad("");
    msg_bad("c");
    msg_bad("c api");
    msg_bad("c api ");
    msg_bad("c  4");
    msg_bad("c api 04");
    msg_bad("c api 4 ");
    msg_bad("c api  4");
    msg_bad("c api -4");
    msg_bad("c api 18446744073709551616");
    msg_bad("c api 100000000000000000000");
    msg_bad("c a/b 4");
    msg_bad("C api 4");
    msg_bad("capi 4");
    msg_bad("k h ");
    msg_bad("k x key");
    msg_bad("k hkey");
    msg_bad("kh key");
    msg_bad("k h a\nb");
    msg_bad("x h key");
}


static void
test_msg_format(void **state)
{
    u_char                 out[NGX_ASTRO_CACHE_MSG_MAX + 1], *end;
    ngx_astro_cache_msg_t  msg;

    (void) state;

    /* what the parser refuses is not written */

    msg.what = NGX_ASTRO_CACHE_CLASS;
    msg.hard = 0;
    msg.gen = 1;
    msg.value = (const u_char *) "a b";
    msg.len = 3;
    assert_null(ngx_astro_cache_format_msg(out, &msg));

    msg.len = 0;
    assert_null(ngx_astro_cache_format_msg(out, &msg));

    msg.what = NGX_ASTRO_CACHE_KEY;
    msg.value = (const u_char *) "a\rb";
    msg.len = 3;
    assert_null(ngx_astro_cache_format_msg(out, &msg));

    msg.what = 0;
    msg.value = (const u_char *) "ab";
    msg.len = 2;
    assert_null(ngx_astro_cache_format_msg(out, &msg));

    /* the longest */

    msg.what = NGX_ASTRO_CACHE_KEY;
    msg.hard = 1;
    memset(buf, 'k', NGX_ASTRO_CACHE_KEY_MAX);
    msg.value = buf;
    msg.len = NGX_ASTRO_CACHE_KEY_MAX;
    end = ngx_astro_cache_format_msg(out, &msg);
    assert_int_equal(end - out, NGX_ASTRO_CACHE_MSG_MAX);
    assert_int_equal(ngx_astro_cache_parse_msg(out, end - out, &msg), 0);
    assert_int_equal(msg.len, NGX_ASTRO_CACHE_KEY_MAX);

    *end = 'k';
    assert_int_equal(ngx_astro_cache_parse_msg(out, end - out + 1, &msg), -1);
}


static void
test_valid(void **state)
{
    (void) state;

    assert_true(ngx_astro_cache_class_valid((const u_char *) "default", 7));
    assert_false(ngx_astro_cache_class_valid((const u_char *) "", 0));
    assert_false(ngx_astro_cache_class_valid((const u_char *) "a*", 2));
    assert_true(ngx_astro_cache_key_valid((const u_char *) "a b\x80", 4));
    assert_false(ngx_astro_cache_key_valid((const u_char *) "a\x1f", 2));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_args_class),
        cmocka_unit_test(test_args_key),
        cmocka_unit_test(test_args_key_len),
        cmocka_unit_test(test_args_others),
        cmocka_unit_test(test_msg),
        cmocka_unit_test(test_msg_format),
        cmocka_unit_test(test_valid),
    };

    return cmocka_run_group_tests_name("cache_parse", tests, NULL, NULL);
}
