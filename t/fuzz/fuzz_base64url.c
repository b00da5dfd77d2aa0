
/*
 * Copyright (C) astro developers
 */


/*
 * ngx_astro_jwt_base64url_decode() against an encoder written apart:
 * what it decodes encodes back to the very input (one encoding a
 * string: a signature cannot be altered and still verify), and the
 * encoding of the input decodes back to the input.  The output buffers
 * are exactly as long as the contract says, so that a write past them
 * is caught.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_astro_jwt.h"


static size_t encode(u_char *dst, const u_char *src, size_t len);


static const char  alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    n;
    u_char   *dst, *enc;
    ssize_t   rc;

    /* the input as a base64url string */

    dst = malloc(size * 3 / 4);
    enc = malloc(size + 4);
    fuzz_assert((dst != NULL || size < 2) && enc != NULL);

    rc = ngx_astro_jwt_base64url_decode(dst, data, size);

    if (rc != -1) {
        fuzz_assert(rc >= 0 && (size_t) rc <= size * 3 / 4);
        n = encode(enc, dst, rc);
        fuzz_assert(n == size && memcmp(enc, data, size) == 0);

    } else {
        /* then it is no encoder's output: a byte, a length or bits */

        for (n = 0; n < size; n++) {
            if (strchr(alphabet, data[n]) == NULL || data[n] == '\0') {
                break;
            }
        }

        fuzz_assert(n < size || size % 4 != 0);
    }

    free(dst);
    free(enc);

    /* the input as the bytes encoded */

    enc = malloc(size * 4 / 3 + 4);
    fuzz_assert(enc != NULL);

    n = encode(enc, data, size);

    dst = malloc(n * 3 / 4);
    fuzz_assert(dst != NULL || n < 2);

    rc = ngx_astro_jwt_base64url_decode(dst, enc, n);

    fuzz_assert(rc == (ssize_t) size && memcmp(dst, data, size) == 0);

    free(dst);
    free(enc);

    return 0;
}


static size_t
encode(u_char *dst, const u_char *src, size_t len)
{
    u_char    *d;
    uint32_t   v;

    d = dst;

    while (len >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];
        *d++ = alphabet[v & 63];
        src += 3;
        len -= 3;
    }

    if (len == 2) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8;
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
        *d++ = alphabet[(v >> 6) & 63];

    } else if (len == 1) {
        v = (uint32_t) src[0] << 16;
        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 63];
    }

    return d - dst;
}
