
/*
 * Copyright (C) astro developers
 */


/*
 * ngx_astro_jwt_verify() on hostile tokens.  The first byte chooses:
 *
 *   bit 0   the rest is the header value as it comes (any bytes: the
 *           token, "Bearer ...", three parts or not); else the harness
 *           signs what the rest holds, so that the payload's checks are
 *           reached: key, header JSON and payload JSON, base64url'd and
 *           signed with HMAC-SHA256
 *   bit 1   "Bearer " before a signed token
 *   bits 2-3  the claim names (tier/sub, t/user_id, tier/"")
 *   bit 4   now and leeway from the input, else fixed
 *
 * Checked: the result is one of NGX_ASTRO_JWT_*; a valid token's claims
 * lie in the buffer, the user claim has no control characters, and for
 * a signed token they are what the payload says.
 */

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <jansson.h>

#include "fuzz.h"
#include "ngx_astro_jwt.h"


#define NOW  1700000000LL


static size_t b64url(char *dst, const uint8_t *src, size_t len);
static void check_claims(const uint8_t *payload, size_t len,
    const ngx_astro_jwt_conf_t *conf, const ngx_astro_jwt_claims_t *claims);


static const char  *names[4][2] = {
    { "tier", "sub" }, { "t", "user_id" }, { "tier", "" }, { "tier", "sub" }
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc;
    char                   *token, *p;
    size_t                  len, key_len, hlen, plen, n;
    u_char                 *buf;
    unsigned                flags;
    unsigned int            md_len;
    fuzz_input_t            in;
    const uint8_t          *key, *header, *payload, *sep;
    ngx_astro_jwt_conf_t    conf;
    ngx_astro_jwt_claims_t  claims;
    u_char                  md[EVP_MAX_MD_SIZE];

    if (size == 0) {
        return 0;
    }

    in.p = data + 1;
    in.left = size - 1;
    flags = data[0];

    memset(&conf, 0, sizeof(conf));

    conf.now = NOW;
    conf.leeway = 30;
    conf.claim = names[(flags >> 2) & 3][0];
    conf.claim_len = strlen(conf.claim);
    conf.user_claim = names[(flags >> 2) & 3][1];
    conf.user_claim_len = strlen(conf.user_claim);

    if (flags & 0x10) {
        conf.now = (time_t) fuzz_take_u64(&in, 8);
        conf.leeway = (time_t) (fuzz_take_u64(&in, 8) & INT64_MAX);
    }

    payload = NULL;
    plen = 0;

    if (flags & 1) {
        key = (const uint8_t *) "k";
        key_len = 1;

        token = malloc(in.left ? in.left : 1);
        fuzz_assert(token != NULL);
        memcpy(token, in.p, in.left);
        len = in.left;

    } else {
        key = fuzz_take_bytes(&in, 64, &key_len);

        /* the header and the payload, apart at the first 0xff */

        sep = memchr(in.p, 0xff, in.left);
        header = in.p;
        hlen = sep ? (size_t) (sep - in.p) : in.left;
        payload = sep ? sep + 1 : (const uint8_t *) "";
        plen = sep ? in.left - hlen - 1 : 0;

        token = malloc(7 + (hlen + plen + EVP_MAX_MD_SIZE) * 2 + 8);
        fuzz_assert(token != NULL);

        p = token;

        if (flags & 2) {
            memcpy(p, "Bearer ", 7);
            p += 7;
        }

        n = p - token;
        p += b64url(p, header, hlen);
        *p++ = '.';
        p += b64url(p, payload, plen);

        fuzz_assert(HMAC(EVP_sha256(), key, (int) key_len,
                         (u_char *) token + n, p - token - n, md, &md_len)
                    != NULL);

        *p++ = '.';
        p += b64url(p, md, md_len);
        len = p - token;
    }

    conf.key = key;
    conf.key_len = key_len;

    buf = malloc(NGX_ASTRO_JWT_BUF_SIZE(len));
    fuzz_assert(buf != NULL);

    rc = ngx_astro_jwt_verify(&conf, (u_char *) token, len, buf, &claims);

    fuzz_assert(rc >= 0 && rc < NGX_ASTRO_JWT_NRESULTS);

    if (rc == NGX_ASTRO_JWT_OK) {
        fuzz_assert(claims.tier >= buf
                    && claims.tier + claims.tier_len
                       <= buf + NGX_ASTRO_JWT_BUF_SIZE(len));
        fuzz_assert(claims.user >= buf
                    && claims.user + claims.user_len
                       <= buf + NGX_ASTRO_JWT_BUF_SIZE(len));

        for (n = 0; n < claims.user_len; n++) {
            fuzz_assert(claims.user[n] >= 0x20 && claims.user[n] != 0x7f);
        }

        if (payload) {
            check_claims(payload, plen, &conf, &claims);
        }
    }

    free(buf);
    free(token);

    return 0;
}


/* base64url without padding, written apart from the decoder */

static size_t
b64url(char *dst, const uint8_t *src, size_t len)
{
    int  i, n;

    n = EVP_EncodeBlock((u_char *) dst, src, (int) len);

    while (n && dst[n - 1] == '=') {
        n--;
    }

    for (i = 0; i < n; i++) {
        if (dst[i] == '+') {
            dst[i] = '-';

        } else if (dst[i] == '/') {
            dst[i] = '_';
        }
    }

    return n;
}


/* a signed token's claims are the payload's, as jansson reads them */

static void
check_claims(const uint8_t *payload, size_t len,
    const ngx_astro_jwt_conf_t *conf, const ngx_astro_jwt_claims_t *claims)
{
    char          num[32];
    json_t       *json, *tier, *user;
    json_error_t  err;

    json = json_loadb((const char *) payload, len, JSON_REJECT_DUPLICATES,
                      &err);
    fuzz_assert(json_is_object(json));

    tier = json_object_getn(json, conf->claim, conf->claim_len);
    fuzz_assert(json_is_string(tier));
    fuzz_assert(json_string_length(tier) == claims->tier_len);
    fuzz_assert(memcmp(json_string_value(tier), claims->tier,
                       claims->tier_len) == 0);

    user = json_object_getn(json, conf->user_claim, conf->user_claim_len);

    if (user == NULL) {
        fuzz_assert(claims->user_len == 0);

    } else if (json_is_string(user)) {
        fuzz_assert(json_string_length(user) == claims->user_len);
        fuzz_assert(memcmp(json_string_value(user), claims->user,
                           claims->user_len) == 0);

    } else {
        fuzz_assert(json_is_integer(user));
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(user));
        fuzz_assert(strlen(num) == claims->user_len);
        fuzz_assert(memcmp(num, claims->user, claims->user_len) == 0);
    }

    json_decref(json);
}
