
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_astro_jwt.h"


/* 2023-11-14 22:13:20 */
#define NOW      1700000000LL
#define LEEWAY   30

#define KEY      "0123456789abcdef0123456789abcdef"
#define HS256    "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"


static ngx_astro_jwt_conf_t  conf;
static ngx_astro_jwt_claims_t  claims;


static void
setup_conf(void)
{
    memset(&conf, 0, sizeof(conf));
    memset(&claims, 0, sizeof(claims));

    conf.key = (const u_char *) KEY;
    conf.key_len = sizeof(KEY) - 1;
    conf.now = NOW;
    conf.leeway = LEEWAY;
    conf.claim = "tier";
    conf.claim_len = 4;
    conf.user_claim = "sub";
    conf.user_claim_len = 3;
}


/* base64url without padding, written independently of the decoder */

static char *
b64url(const u_char *src, size_t len)
{
    int          n;
    char  *dst, *p;

    dst = malloc(len * 2 + 8);
    assert_non_null(dst);

    n = EVP_EncodeBlock((u_char *) dst, src, (int) len);

    for (p = dst; p < dst + n; p++) {
        if (*p == '+') {
            *p = '-';

        } else if (*p == '/') {
            *p = '_';

        } else if (*p == '=') {
            *p = '\0';
            break;
        }
    }

    dst[n] = '\0';

    return dst;
}


static char *
b64url_str(const char *s)
{
    return b64url((const u_char *) s, strlen(s));
}


/* "h.p" and its HMAC-SHA256 under key, as a new string "h.p.sig" */

static char *
sign(const char *h, const char *p, const char *key)
{
    char          *signing, *sig, *token;
    size_t         len;
    u_char         md[EVP_MAX_MD_SIZE];
    unsigned int   md_len;

    len = strlen(h) + strlen(p) + 2;
    signing = malloc(len);
    assert_non_null(signing);
    snprintf(signing, len, "%s.%s", h, p);

    assert_non_null(HMAC(EVP_sha256(), key, (int) strlen(key),
                         (u_char *) signing, strlen(signing), md, &md_len));

    sig = b64url(md, md_len);

    len = strlen(signing) + strlen(sig) + 2;
    token = malloc(len);
    assert_non_null(token);
    snprintf(token, len, "%s.%s", signing, sig);

    free(signing);
    free(sig);

    return token;
}


/* a token of the JSON header and payload, signed with KEY */

static char *
mint(const char *header, const char *payload)
{
    char  *h, *p, *token;

    h = b64url_str(header);
    p = b64url_str(payload);
    token = sign(h, p, KEY);
    free(h);
    free(p);

    return token;
}


static int
verify_len(const char *value, size_t len)
{
    int     rc;
    u_char *buf;

    buf = malloc(NGX_ASTRO_JWT_BUF_SIZE(len));
    assert_non_null(buf);

    memset(&claims, 0, sizeof(claims));

    rc = ngx_astro_jwt_verify(&conf, (const u_char *) value, len, buf,
                              &claims);

    /* the claims are copied out: keep them for the caller's checks */

    if (rc == NGX_ASTRO_JWT_OK) {
        static u_char  tier[NGX_ASTRO_JWT_MAX_LEN], user[NGX_ASTRO_JWT_MAX_LEN];

        memcpy(tier, claims.tier, claims.tier_len);
        memcpy(user, claims.user, claims.user_len);
        claims.tier = tier;
        claims.user = user;
    }

    free(buf);

    return rc;
}


static int
verify(const char *value)
{
    return verify_len(value, strlen(value));
}


static int
verify_minted(const char *header, const char *payload)
{
    int    rc;
    char  *token;

    token = mint(header, payload);
    rc = verify(token);
    free(token);

    return rc;
}


static void
expect_claims(const char *tier, const char *user)
{
    assert_int_equal(claims.tier_len, strlen(tier));
    assert_memory_equal(claims.tier, tier, strlen(tier));
    assert_int_equal(claims.user_len, strlen(user));

    if (*user) {
        assert_memory_equal(claims.user, user, strlen(user));
    }
}


static void
test_valid(void **state)
{
    char  *token, *value;

    (void) state;
    setup_conf();

    token = mint(HS256, "{\"sub\":\"alice\",\"tier\":\"premium\"}");

    assert_int_equal(verify(token), NGX_ASTRO_JWT_OK);
    expect_claims("premium", "alice");

    value = malloc(strlen(token) + 16);
    assert_non_null(value);

    sprintf(value, "Bearer %s", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_OK);
    expect_claims("premium", "alice");

    sprintf(value, "bearer %s", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_OK);

    sprintf(value, "BEARER   %s", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_OK);

    sprintf(value, "BeArEr\t%s", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_OK);

    /* no separator: not the scheme, and not a token either */
    sprintf(value, "Bearer%s", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);

    sprintf(value, "Basic %s", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);

    /* only len bytes count */
    sprintf(value, "%s.", token);
    assert_int_equal(verify_len(value, strlen(token)), NGX_ASTRO_JWT_OK);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);

    free(value);
    free(token);

    /* typ, kid and iat are ignored; typ may be anything or absent */

    assert_int_equal(verify_minted("{\"alg\":\"HS256\"}",
                                   "{\"tier\":\"basic\",\"sub\":\"b\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("basic", "b");

    assert_int_equal(verify_minted(
                         "{\"typ\":\"at+jwt\",\"kid\":\"k1\","
                         "\"alg\":\"HS256\"}",
                         "{\"tier\":\"basic\",\"iat\":\"whenever\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("basic", "");

    /* other claims of any type, nested, unicode */

    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"free\",\"sub\":\"\\u00e9l\\u00e8ve\","
                         "\"roles\":[\"a\",{\"b\":null}],\"n\":1.5e3}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("free", "\xc3\xa9l\xc3\xa8ve");

    /* no exp: valid (exp is optional, RFC 7519, 4.1.4) */

    assert_int_equal(verify_minted(HS256, "{\"tier\":\"free\"}"),
                     NGX_ASTRO_JWT_OK);
}


static void
test_no_token(void **state)
{
    (void) state;
    setup_conf();

    assert_int_equal(verify(""), NGX_ASTRO_JWT_NO_TOKEN);
    assert_int_equal(verify("Bearer"), NGX_ASTRO_JWT_NO_TOKEN);
    assert_int_equal(verify("Bearer "), NGX_ASTRO_JWT_NO_TOKEN);
    assert_int_equal(verify("bearer \t "), NGX_ASTRO_JWT_NO_TOKEN);
}


static void
test_bad_alg(void **state)
{
    char  *h, *p, *token;

    (void) state;
    setup_conf();

    p = b64url_str("{\"tier\":\"premium\",\"sub\":\"mallory\"}");

    /* "none" with an empty signature, RFC 7519, 6.1 */

    h = b64url_str("{\"alg\":\"none\"}");
    token = malloc(strlen(h) + strlen(p) + 3);
    assert_non_null(token);
    sprintf(token, "%s.%s.", h, p);
    assert_int_equal(verify(token), NGX_ASTRO_JWT_BAD_ALG);
    free(token);
    free(h);

    /* "none" even with a good HMAC under the key */
    assert_int_equal(verify_minted("{\"alg\":\"none\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);

    assert_int_equal(verify_minted("{\"alg\":\"HS256 \"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":\" HS256\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":\"hs256\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":\"HS2560\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":\"HS256\\u0000\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted("{\"alg\":\"HS384\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":\"RS256\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"typ\":\"JWT\"}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":null}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":256}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);
    assert_int_equal(verify_minted("{\"alg\":[\"HS256\"]}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);

    /* an extension that must be understood */
    assert_int_equal(verify_minted("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                                   "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_BAD_ALG);

    free(p);
}


static void
test_bad_signature(void **state)
{
    char  *h, *p, *q, *token, *dot;

    (void) state;
    setup_conf();

    h = b64url_str(HS256);
    p = b64url_str("{\"tier\":\"premium\",\"sub\":\"alice\"}");

    /* another key */
    token = sign(h, p, "0123456789abcdef0123456789abcdeF");
    assert_int_equal(verify(token), NGX_ASTRO_JWT_BAD_SIGNATURE);
    free(token);

    /* a key that is a prefix of ours */
    token = sign(h, p, "0123456789abcdef0123456789abcde");
    assert_int_equal(verify(token), NGX_ASTRO_JWT_BAD_SIGNATURE);
    free(token);

    /* a changed payload under the old signature */
    token = sign(h, p, KEY);
    q = b64url_str("{\"tier\":\"premium\",\"sub\":\"mallory\"}");
    dot = strrchr(token, '.');
    {
        char  *forged = malloc(strlen(h) + strlen(q) + strlen(dot) + 2);

        assert_non_null(forged);
        sprintf(forged, "%s.%s%s", h, q, dot);
        assert_int_equal(verify(forged), NGX_ASTRO_JWT_BAD_SIGNATURE);
        free(forged);
    }
    free(q);

    /* one character of the signature changed ('A' or 'B' keep it valid) */
    dot[1] = (dot[1] == 'A') ? 'B' : 'A';
    assert_int_equal(verify(token), NGX_ASTRO_JWT_BAD_SIGNATURE);

    /* the signature shortened by 3 characters (to 40: 30 bytes) */
    token[strlen(token) - 3] = '\0';
    assert_int_equal(verify(token), NGX_ASTRO_JWT_BAD_SIGNATURE);
    free(token);

    /* HS256 with an empty signature */
    token = malloc(strlen(h) + strlen(p) + 3);
    assert_non_null(token);
    sprintf(token, "%s.%s.", h, p);
    assert_int_equal(verify(token), NGX_ASTRO_JWT_BAD_SIGNATURE);
    free(token);

    /* a signature that is right, then 3 bytes more */
    token = sign(h, p, KEY);
    {
        char  *longer = malloc(strlen(token) + 8);

        assert_non_null(longer);
        /* 43 + 4 characters: 35 bytes */
        sprintf(longer, "%sAAAA", token);
        assert_int_equal(verify(longer), NGX_ASTRO_JWT_BAD_SIGNATURE);
        /* 43 + 2 = 4n + 1 characters: no base64url */
        longer[strlen(longer) - 2] = '\0';
        assert_int_equal(verify(longer), NGX_ASTRO_JWT_MALFORMED);
        free(longer);
    }
    free(token);

    free(h);
    free(p);
}


static void
test_times(void **state)
{
    char  payload[256];

    (void) state;
    setup_conf();

#define T(fmt, t)                                                            \
    (snprintf(payload, sizeof(payload), "{\"tier\":\"basic\"," fmt "}",      \
              (long long) (t)),                                              \
     verify_minted(HS256, payload))

    /* exp: invalid on or after exp + leeway */
    assert_int_equal(T("\"exp\":%lld", NOW + 3600), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"exp\":%lld", NOW), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"exp\":%lld", NOW - LEEWAY + 1), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"exp\":%lld", NOW - LEEWAY), NGX_ASTRO_JWT_EXPIRED);
    assert_int_equal(T("\"exp\":%lld", NOW - 3600), NGX_ASTRO_JWT_EXPIRED);
    assert_int_equal(T("\"exp\":%lld.5", NOW - LEEWAY), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"exp\":%lld.0", NOW - LEEWAY),
                     NGX_ASTRO_JWT_EXPIRED);
    assert_int_equal(T("\"exp\":%lld", 0), NGX_ASTRO_JWT_EXPIRED);
    assert_int_equal(T("\"exp\":-%lld", 1), NGX_ASTRO_JWT_EXPIRED);
    assert_int_equal(T("\"exp\":1e%lld", 300), NGX_ASTRO_JWT_OK);

    /* nbf: invalid before nbf - leeway */
    assert_int_equal(T("\"nbf\":%lld", NOW - 3600), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"nbf\":%lld", NOW + LEEWAY), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"nbf\":%lld", NOW + LEEWAY + 1),
                     NGX_ASTRO_JWT_NOT_YET_VALID);
    assert_int_equal(T("\"nbf\":%lld.5", NOW + LEEWAY),
                     NGX_ASTRO_JWT_NOT_YET_VALID);
    assert_int_equal(T("\"nbf\":%lld", NOW + 3600),
                     NGX_ASTRO_JWT_NOT_YET_VALID);

    /* not numbers */
    assert_int_equal(T("\"exp\":\"%lld\"", NOW + 3600),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(T("\"nbf\":[%lld]", NOW), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(T("\"exp\":null,\"x\":%lld", 0),
                     NGX_ASTRO_JWT_MALFORMED);

    /* both: exp is checked first */
    assert_int_equal(T("\"exp\":%lld,\"nbf\":9999999999", NOW - 3600),
                     NGX_ASTRO_JWT_EXPIRED);

    /* iat in the future is ignored */
    assert_int_equal(T("\"iat\":%lld", NOW + 3600), NGX_ASTRO_JWT_OK);

    /* without leeway */
    conf.leeway = 0;
    assert_int_equal(T("\"exp\":%lld", NOW + 1), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"exp\":%lld", NOW), NGX_ASTRO_JWT_EXPIRED);
    assert_int_equal(T("\"nbf\":%lld", NOW), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"nbf\":%lld", NOW + 1),
                     NGX_ASTRO_JWT_NOT_YET_VALID);

    /* a huge leeway saturates instead of overflowing */
    conf.leeway = (time_t) INT64_MAX;
    assert_int_equal(T("\"exp\":%lld", 1), NGX_ASTRO_JWT_OK);
    assert_int_equal(T("\"nbf\":%lld", INT64_MAX), NGX_ASTRO_JWT_OK);

#undef T
}


static void
test_malformed(void **state)
{
    char  *h, *p, *token, *value;

    (void) state;
    setup_conf();

    h = b64url_str(HS256);
    p = b64url_str("{\"tier\":\"premium\"}");
    token = sign(h, p, KEY);

    value = malloc(strlen(token) * 2 + 16);
    assert_non_null(value);

    /* 1, 2 and 4 parts */
    assert_int_equal(verify(h), NGX_ASTRO_JWT_MALFORMED);
    sprintf(value, "%s.%s", h, p);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);
    sprintf(value, "%s.", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);
    sprintf(value, "%s.%s", token, p);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify(".."), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify("..."), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify("a.b.c"), NGX_ASTRO_JWT_MALFORMED);

    /* base64 rather than base64url, padding, spaces */
    sprintf(value, "%s=.%s", h, p);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);
    sprintf(value, "%s+.%s", h, p);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);
    sprintf(value, "%s %s", "Bearer  x", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);
    sprintf(value, "%s ", token);
    assert_int_equal(verify(value), NGX_ASTRO_JWT_MALFORMED);

    /* a NUL inside the token */
    strcpy(value, token);
    value[3] = '\0';
    assert_int_equal(verify_len(value, strlen(token)),
                     NGX_ASTRO_JWT_MALFORMED);

    free(value);
    free(token);
    free(h);

    /* not JSON objects */
    assert_int_equal(verify_minted("[\"HS256\"]", "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted("\"HS256\"", "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted("{\"alg\":\"HS256\"", "{}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted("{\"alg\":\"HS256\"}x", "{}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted("", "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(HS256, "[{\"tier\":\"premium\"}]"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(HS256, "\"premium\""),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(HS256, "3"), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(HS256, "null"), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(HS256, ""), NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(HS256, "{\"tier\":\"premium\",}"),
                     NGX_ASTRO_JWT_MALFORMED);

    /* a duplicate claim: read one way here, perhaps another elsewhere */
    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"free\",\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);
    assert_int_equal(verify_minted(
                         "{\"alg\":\"none\",\"alg\":\"HS256\"}",
                         "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);

    /* invalid UTF-8 in a string */
    assert_int_equal(verify_minted(HS256, "{\"tier\":\"pr\xffmium\"}"),
                     NGX_ASTRO_JWT_MALFORMED);

    free(p);
}


static void
test_huge(void **state)
{
    int     n;
    char   *payload, *token;
    size_t  len, pad;

    (void) state;
    setup_conf();

    /* a padding claim sized so that the token is NGX_ASTRO_JWT_MAX_LEN */

    payload = malloc(NGX_ASTRO_JWT_MAX_LEN);
    assert_non_null(payload);

    for (pad = 5000; pad < 7000; pad++) {
        n = snprintf(payload, NGX_ASTRO_JWT_MAX_LEN,
                     "{\"tier\":\"basic\",\"x\":\"%0*d\"}", (int) pad, 0);
        assert_true(n > 0);

        token = mint(HS256, payload);
        len = strlen(token);

        if (len == NGX_ASTRO_JWT_MAX_LEN) {
            assert_int_equal(verify(token), NGX_ASTRO_JWT_OK);
            expect_claims("basic", "");

            /* one more byte ("Bearer " does not count) */
            free(token);
            n = snprintf(payload, NGX_ASTRO_JWT_MAX_LEN,
                         "{\"tier\":\"basic\",\"x\":\"%0*d\" }", (int) pad, 0);
            token = mint(HS256, payload);
            assert_int_equal(strlen(token), NGX_ASTRO_JWT_MAX_LEN + 1);
            assert_int_equal(verify(token), NGX_ASTRO_JWT_MALFORMED);
            free(token);
            break;
        }

        free(token);
    }

    assert_true(pad < 7000);

    /* far larger: refused before any decoding */

    len = 1 << 20;
    token = malloc(len + 1);
    assert_non_null(token);
    memset(token, 'A', len);
    token[100] = '.';
    token[200] = '.';
    token[len] = '\0';
    assert_int_equal(verify(token), NGX_ASTRO_JWT_MALFORMED);
    free(token);

    free(payload);
}


static void
test_claims(void **state)
{
    (void) state;
    setup_conf();

    /* the tier claim: a string, else no_claim */
    assert_int_equal(verify_minted(HS256, "{\"sub\":\"alice\"}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256, "{}"), NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256, "{\"tier\":3}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256, "{\"tier\":null}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256, "{\"tier\":[\"premium\"]}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256, "{\"tier\":true}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256, "{\"Tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_NO_CLAIM);

    /* an empty string is a string: the caller finds no such tier */
    assert_int_equal(verify_minted(HS256, "{\"tier\":\"\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("", "");

    /* the user claim: absent, a string, or an integer */
    assert_int_equal(verify_minted(HS256,
                                   "{\"tier\":\"premium\",\"sub\":12345}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("premium", "12345");

    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"premium\",\"sub\":-9223372036854775808}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("premium", "-9223372036854775808");

    assert_int_equal(verify_minted(HS256,
                                   "{\"tier\":\"premium\",\"sub\":1.5}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256,
                                   "{\"tier\":\"premium\",\"sub\":null}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256,
                                   "{\"tier\":\"premium\",\"sub\":{}}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256,
                                   "{\"tier\":\"premium\",\"sub\":false}"),
                     NGX_ASTRO_JWT_NO_CLAIM);

    /* control characters would reach headers and logs */
    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"premium\",\"sub\":\"a\\r\\nX-A: b\"}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"premium\",\"sub\":\"a\\u007f\"}"),
                     NGX_ASTRO_JWT_NO_CLAIM);
    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"premium\",\"sub\":\"a b\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("premium", "a b");

    /* other claim names */

    conf.claim = "plan";
    conf.claim_len = 4;
    conf.user_claim = "email";
    conf.user_claim_len = 5;

    assert_int_equal(verify_minted(HS256,
                         "{\"tier\":\"premium\",\"plan\":\"basic\","
                         "\"sub\":\"x\",\"email\":\"a@example.com\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("basic", "a@example.com");

    assert_int_equal(verify_minted(HS256, "{\"tier\":\"premium\"}"),
                     NGX_ASTRO_JWT_NO_CLAIM);

    /* only claim_len bytes of the name count */
    conf.claim = "planet";
    assert_int_equal(verify_minted(HS256, "{\"plan\":\"basic\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("basic", "");

    /* one claim for both */
    conf.claim = "sub";
    conf.claim_len = 3;
    conf.user_claim = "sub";
    conf.user_claim_len = 3;
    assert_int_equal(verify_minted(HS256, "{\"sub\":\"basic\"}"),
                     NGX_ASTRO_JWT_OK);
    expect_claims("basic", "basic");
}


static void
test_base64url(void **state)
{
    u_char   out[16];
    char    *token, *p;
    ssize_t  n;

    (void) state;
    setup_conf();

#define D(s)  ngx_astro_jwt_base64url_decode(out, (const u_char *) s,       \
                                             strlen(s))

    assert_int_equal(D(""), 0);
    assert_int_equal(D("QQ"), 1);
    assert_memory_equal(out, "A", 1);
    assert_int_equal(D("QUI"), 2);
    assert_memory_equal(out, "AB", 2);
    assert_int_equal(D("QUJD"), 3);
    assert_memory_equal(out, "ABC", 3);
    assert_int_equal(D("QUJDRA"), 4);
    assert_memory_equal(out, "ABCD", 4);

    /* '-' and '_' are 62 and 63 */
    n = D("-_-_");
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(D("____"), 3);
    assert_memory_equal(out, "\xff\xff\xff", 3);
    assert_int_equal(D("AAAA"), 3);
    assert_memory_equal(out, "\0\0\0", 3);

    /* padding, base64's own characters, 4n + 1, bits after the end */
    assert_int_equal(D("QQ=="), -1);
    assert_int_equal(D("QUI="), -1);
    assert_int_equal(D("+/+/"), -1);
    assert_int_equal(D("Q"), -1);
    assert_int_equal(D("QUJDR"), -1);
    assert_int_equal(D("QR"), -1);
    assert_int_equal(D("QUJ"), -1);
    assert_int_equal(D("QU I"), -1);
    assert_int_equal(ngx_astro_jwt_base64url_decode(out,
                                                    (const u_char *) "Q\0", 2),
                     -1);

#undef D

    /* a token whose parts use '-' and '_' (bytes 0xfb.., 0xff..) */

    token = mint(HS256, "{\"tier\":\"basic\",\"sub\":\"\xef\xbf\xbf?>>?\"}");

    for (p = token; *p; p++) {
        if (*p == '-' || *p == '_') {
            break;
        }
    }

    assert_true(*p != '\0');
    assert_int_equal(verify(token), NGX_ASTRO_JWT_OK);
    expect_claims("basic", "\xef\xbf\xbf?>>?");
    free(token);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_no_token),
        cmocka_unit_test(test_bad_alg),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_base64url),
    };

    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
