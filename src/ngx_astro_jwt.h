
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_JWT_H_INCLUDED_
#define _NGX_ASTRO_JWT_H_INCLUDED_


/*
 * pure code: the checks of an HS256 JSON Web Token (RFC 7519, a JWS in
 * compact form, RFC 7515) and the two claims the tier module wants; no
 * nginx headers, unit tested in t/unit/test_jwt.c.  HMAC through OpenSSL,
 * the JSON through jansson.
 */

#include <stddef.h>
#include <time.h>
#include <sys/types.h>


/*
 * The results, in the order the checks are made; the tier module's
 * $astro_tier_reason names them as in the comments.
 */

#define NGX_ASTRO_JWT_OK             0   /* "jwt" */
#define NGX_ASTRO_JWT_NO_TOKEN       1   /* "no_token" */
#define NGX_ASTRO_JWT_MALFORMED      2   /* "malformed" */
#define NGX_ASTRO_JWT_BAD_ALG        3   /* "bad_alg" */
#define NGX_ASTRO_JWT_BAD_SIGNATURE  4   /* "bad_signature" */
#define NGX_ASTRO_JWT_EXPIRED        5   /* "expired" */
#define NGX_ASTRO_JWT_NOT_YET_VALID  6   /* "not_yet_valid" */
#define NGX_ASTRO_JWT_NO_CLAIM       7   /* "no_claim" */
#define NGX_ASTRO_JWT_ERROR          8   /* "error": no memory, OpenSSL */

#define NGX_ASTRO_JWT_NRESULTS       9

/*
 * A longer token is malformed: far more than a few claims need, and
 * what nginx's default large_client_header_buffers (8k) lets through.
 */
#define NGX_ASTRO_JWT_MAX_LEN        8192

/* the bytes of the caller's buffer for a token of len bytes */
#define NGX_ASTRO_JWT_BUF_SIZE(len)  (3 * (len) + 64)


typedef struct {
    const u_char   *key;
    size_t          key_len;
    time_t          now;
    time_t          leeway;        /* >= 0, for exp and nbf */
    const char     *claim;         /* the tier's claim */
    size_t          claim_len;
    const char     *user_claim;
    size_t          user_claim_len;
} ngx_astro_jwt_conf_t;


/*
 * The claims of a valid token, in the caller's buffer: the tier claim
 * (a string), the user claim (a string or an integer in decimal; empty
 * when the token has none).  Not NUL-terminated.
 */

typedef struct {
    u_char         *tier;
    size_t          tier_len;
    u_char         *user;
    size_t          user_len;
} ngx_astro_jwt_claims_t;


/*
 * Checks the token in "value" (an Authorization header's value, whose
 * "Bearer " is dropped, or the token alone, as in a cookie) and, when it
 * is valid, copies its claims into buf, of NGX_ASTRO_JWT_BUF_SIZE(len)
 * bytes.  Returns one of NGX_ASTRO_JWT_*; claims are set only for
 * NGX_ASTRO_JWT_OK.
 */
int ngx_astro_jwt_verify(const ngx_astro_jwt_conf_t *conf,
    const u_char *value, size_t len, u_char *buf,
    ngx_astro_jwt_claims_t *claims);

/*
 * RFC 4648, 5 without padding, strictly: no '=', no other character, no
 * length of 4n + 1, no bits set after the last byte.  Writes at most
 * len * 3 / 4 bytes to dst; returns their number, or -1.
 */
ssize_t ngx_astro_jwt_base64url_decode(u_char *dst, const u_char *src,
    size_t len);


#endif /* _NGX_ASTRO_JWT_H_INCLUDED_ */
