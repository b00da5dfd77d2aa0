
/*
 * Copyright (C) astro developers
 */


#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <jansson.h>

#include "ngx_astro_jwt.h"


/*
 * The checks, in order, each giving its result at the first failure:
 *
 *   the token: present (after "Bearer "), at most NGX_ASTRO_JWT_MAX_LEN,
 *       three base64url parts;
 *   the header: a JSON object whose "alg" is the string "HS256" exactly
 *       and which has no "crit" (RFC 7515, 4.1.11: extensions we would
 *       have to understand); "typ", "kid" and the rest are ignored;
 *   the signature: HMAC-SHA256 of "header.payload" under the key,
 *       compared in constant time; checked before the payload is parsed;
 *   the payload: a JSON object; "exp" and "nbf", when present, numbers
 *       (seconds since the epoch, fractions allowed), checked with the
 *       leeway; "iat" and the rest are ignored; the tier claim a string;
 *       the user claim, when present, a string without control characters
 *       or an integer.
 *
 * Duplicate names in a JSON object make the token malformed, so that no
 * claim is read one way here and another way by the token's issuer.
 */


#define NGX_ASTRO_JWT_HS256_LEN  32


static const u_char *ngx_astro_jwt_bearer(const u_char *p, size_t *len);
static json_t *ngx_astro_jwt_object(u_char *buf, const u_char *src,
    size_t len, int *rc);
static int ngx_astro_jwt_header(json_t *header);
static int ngx_astro_jwt_signature(const ngx_astro_jwt_conf_t *conf,
    const u_char *signed_part, size_t signed_len, u_char *buf,
    const u_char *sig, size_t sig_len);
static int ngx_astro_jwt_claims(const ngx_astro_jwt_conf_t *conf,
    json_t *payload, u_char *buf, u_char *last,
    ngx_astro_jwt_claims_t *claims);
static int ngx_astro_jwt_time(json_t *v, long long t);
static json_t *ngx_astro_jwt_get(json_t *object, const char *name,
    size_t len);
static int ngx_astro_jwt_b64(u_char c);


int
ngx_astro_jwt_verify(const ngx_astro_jwt_conf_t *conf, const u_char *value,
    size_t len, u_char *buf, ngx_astro_jwt_claims_t *claims)
{
    int            rc;
    json_t        *header, *payload;
    const u_char  *token, *dot1, *dot2, *end;

    token = ngx_astro_jwt_bearer(value, &len);

    if (len == 0) {
        return NGX_ASTRO_JWT_NO_TOKEN;
    }

    if (len > NGX_ASTRO_JWT_MAX_LEN) {
        return NGX_ASTRO_JWT_MALFORMED;
    }

    end = token + len;

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return NGX_ASTRO_JWT_MALFORMED;
    }

    dot2 = memchr(dot1 + 1, '.', end - (dot1 + 1));
    if (dot2 == NULL || memchr(dot2 + 1, '.', end - (dot2 + 1)) != NULL) {
        return NGX_ASTRO_JWT_MALFORMED;
    }

    header = ngx_astro_jwt_object(buf, token, dot1 - token, &rc);
    if (header == NULL) {
        return rc;
    }

    rc = ngx_astro_jwt_header(header);

    json_decref(header);

    if (rc != NGX_ASTRO_JWT_OK) {
        return rc;
    }

    rc = ngx_astro_jwt_signature(conf, token, dot2 - token, buf, dot2 + 1,
                                 end - (dot2 + 1));
    if (rc != NGX_ASTRO_JWT_OK) {
        return rc;
    }

    payload = ngx_astro_jwt_object(buf, dot1 + 1, dot2 - (dot1 + 1), &rc);
    if (payload == NULL) {
        return rc;
    }

    /*
     * jansson keeps no pointer into its input: the claims may be copied
     * over the decoded payload
     */

    rc = ngx_astro_jwt_claims(conf, payload, buf,
                              buf + NGX_ASTRO_JWT_BUF_SIZE(len), claims);

    json_decref(payload);

    return rc;
}


/* RFC 6750, 2.1: "Bearer" 1*SP token, the scheme in any case */

static const u_char *
ngx_astro_jwt_bearer(const u_char *p, size_t *len)
{
    size_t       i;
    const char  *scheme = "bearer";

    if (*len < 6) {
        return p;
    }

    for (i = 0; i < 6; i++) {
        if ((p[i] | 0x20) != scheme[i]) {
            return p;
        }
    }

    if (*len > 6 && p[6] != ' ' && p[6] != '\t') {
        return p;
    }

    p += 6;
    *len -= 6;

    while (*len && (*p == ' ' || *p == '\t')) {
        p++;
        (*len)--;
    }

    return p;
}


/* a base64url part that must decode to a JSON object */

static json_t *
ngx_astro_jwt_object(u_char *buf, const u_char *src, size_t len, int *rc)
{
    ssize_t       n;
    json_t       *json;
    json_error_t  err;

    n = ngx_astro_jwt_base64url_decode(buf, src, len);
    if (n == -1) {
        *rc = NGX_ASTRO_JWT_MALFORMED;
        return NULL;
    }

    json = json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, &err);

    if (json == NULL) {
        *rc = (json_error_code(&err) == json_error_out_of_memory)
              ? NGX_ASTRO_JWT_ERROR : NGX_ASTRO_JWT_MALFORMED;
        return NULL;
    }

    if (!json_is_object(json)) {
        json_decref(json);
        *rc = NGX_ASTRO_JWT_MALFORMED;
        return NULL;
    }

    return json;
}


static int
ngx_astro_jwt_header(json_t *header)
{
    json_t  *alg;

    alg = json_object_get(header, "alg");

    if (!json_is_string(alg)
        || json_string_length(alg) != 5
        || memcmp(json_string_value(alg), "HS256", 5) != 0
        || json_object_get(header, "crit") != NULL)
    {
        return NGX_ASTRO_JWT_BAD_ALG;
    }

    return NGX_ASTRO_JWT_OK;
}


static int
ngx_astro_jwt_signature(const ngx_astro_jwt_conf_t *conf,
    const u_char *signed_part, size_t signed_len, u_char *buf,
    const u_char *sig, size_t sig_len)
{
    u_char        md[EVP_MAX_MD_SIZE];
    ssize_t       n;
    unsigned int  md_len;

    n = ngx_astro_jwt_base64url_decode(buf, sig, sig_len);
    if (n == -1) {
        return NGX_ASTRO_JWT_MALFORMED;
    }

    if (HMAC(EVP_sha256(), conf->key, (int) conf->key_len, signed_part,
             signed_len, md, &md_len)
        == NULL)
    {
        return NGX_ASTRO_JWT_ERROR;
    }

    /* the length is no secret; the bytes are compared in constant time */

    if (md_len != NGX_ASTRO_JWT_HS256_LEN
        || (size_t) n != md_len
        || CRYPTO_memcmp(buf, md, md_len) != 0)
    {
        return NGX_ASTRO_JWT_BAD_SIGNATURE;
    }

    return NGX_ASTRO_JWT_OK;
}


static int
ngx_astro_jwt_claims(const ngx_astro_jwt_conf_t *conf, json_t *payload,
    u_char *buf, u_char *last, ngx_astro_jwt_claims_t *claims)
{
    int          n;
    size_t       i, len;
    json_t      *v, *tier, *user;
    long long    lo, hi;
    const char  *s;

    /* now -/+ leeway, saturated: the leeway comes from the configuration */

    lo = (conf->now < LLONG_MIN + conf->leeway) ? LLONG_MIN
                                                : conf->now - conf->leeway;
    hi = (conf->now > LLONG_MAX - conf->leeway) ? LLONG_MAX
                                                : conf->now + conf->leeway;

    /* RFC 7519, 4.1.4: invalid on or after exp */

    v = json_object_get(payload, "exp");

    if (v != NULL) {
        if (!json_is_number(v)) {
            return NGX_ASTRO_JWT_MALFORMED;
        }

        if (ngx_astro_jwt_time(v, lo) <= 0) {
            return NGX_ASTRO_JWT_EXPIRED;
        }
    }

    /* RFC 7519, 4.1.5: invalid before nbf */

    v = json_object_get(payload, "nbf");

    if (v != NULL) {
        if (!json_is_number(v)) {
            return NGX_ASTRO_JWT_MALFORMED;
        }

        if (ngx_astro_jwt_time(v, hi) > 0) {
            return NGX_ASTRO_JWT_NOT_YET_VALID;
        }
    }

    tier = ngx_astro_jwt_get(payload, conf->claim, conf->claim_len);

    if (!json_is_string(tier)) {
        return NGX_ASTRO_JWT_NO_CLAIM;
    }

    user = ngx_astro_jwt_get(payload, conf->user_claim, conf->user_claim_len);

    if (user != NULL && !json_is_string(user) && !json_is_integer(user)) {
        return NGX_ASTRO_JWT_NO_CLAIM;
    }

    len = json_string_length(tier);

    if (len > (size_t) (last - buf)) {
        return NGX_ASTRO_JWT_ERROR;
    }

    claims->tier = buf;
    claims->tier_len = len;
    buf = (u_char *) memcpy(buf, json_string_value(tier), len) + len;

    claims->user = buf;
    claims->user_len = 0;

    if (json_is_string(user)) {
        s = json_string_value(user);
        len = json_string_length(user);

        /* it goes into headers and logs: no CR, LF or other controls */

        for (i = 0; i < len; i++) {
            if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
                return NGX_ASTRO_JWT_NO_CLAIM;
            }
        }

        if (len > (size_t) (last - buf)) {
            return NGX_ASTRO_JWT_ERROR;
        }

        memcpy(buf, s, len);
        claims->user_len = len;

    } else if (json_is_integer(user)) {
        n = snprintf((char *) buf, last - buf, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(user));

        if (n < 0 || n >= last - buf) {
            return NGX_ASTRO_JWT_ERROR;
        }

        claims->user_len = n;
    }

    return NGX_ASTRO_JWT_OK;
}


/* a time claim (an integer or a real) against t: -1, 0 or 1 */

static int
ngx_astro_jwt_time(json_t *v, long long t)
{
    double      d;
    json_int_t  i;

    if (json_is_integer(v)) {
        i = json_integer_value(v);
        return (i > t) - (i < t);
    }

    d = json_real_value(v);

    return (d > (double) t) - (d < (double) t);
}


/* the configured claim names are counted strings */

static json_t *
ngx_astro_jwt_get(json_t *object, const char *name, size_t len)
{
#if (JANSSON_VERSION_HEX >= 0x020e00)

    return json_object_getn(object, name, len);

#else

    /* keys hold no NUL: JSON_ALLOW_NUL is not given to json_loadb() */

    json_t      *v;
    const char  *key;

    json_object_foreach(object, key, v) {
        if (strlen(key) == len && memcmp(key, name, len) == 0) {
            return v;
        }
    }

    return NULL;

#endif
}


ssize_t
ngx_astro_jwt_base64url_decode(u_char *dst, const u_char *src, size_t len)
{
    int        v;
    size_t     i;
    u_char    *d;
    uint32_t   acc;
    unsigned   bits;

    /* 4n + 1 characters hold 6 bits too many for a byte and too few for two */

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_astro_jwt_b64(src[i]);
        if (v == -1) {
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /*
     * The 2 or 4 bits after the last byte must be zero, so that a string
     * has one encoding: a signature cannot be altered and still verify.
     */

    if (acc != 0) {
        return -1;
    }

    return d - dst;
}


static int
ngx_astro_jwt_b64(u_char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}
