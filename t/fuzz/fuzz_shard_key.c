
/*
 * Copyright (C) astro developers
 */


/*
 * The shard map's key parsers and hashes (src/ngx_astro_shard_key.c,
 * src/ngx_astro_shard_hash.c) on every input, each against a decoder
 * written apart:
 *
 *   seed hash      a UTF-8 decoder that measures each sequence's valid
 *                  prefix first (one U+FFFD for it when it is cut), then
 *                  Java's hash over the UTF-16 units
 *   crc32          bit by bit
 *   murmur3, slot  the same twice, the slot below nslots
 *   date           digits read apart, the calendar by timegm() and back
 *   number         strtoll(), ERANGE
 *   values         the values and their commas make the input again
 *   print          a value printed parses back to itself
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_hash.h"
#include "ngx_astro_shard_key.h"


static void check_seed(u_char *p, size_t len);
static void check_crc32(u_char *p, size_t len);
static void check_slot(u_char *p, size_t len);
static void check_date(u_char *p, size_t len);
static void check_number(u_char *p, size_t len);
static void check_values(u_char *p, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *copy;

    copy = malloc(size ? size : 1);
    fuzz_assert(copy != NULL);
    memcpy(copy, data, size);

    check_seed(copy, size);
    check_crc32(copy, size);
    check_slot(copy, size);
    check_date(copy, size);
    check_number(copy, size);
    check_values(copy, size);

    free(copy);

    return 0;
}


/* the length of a sequence by its lead byte, and its second byte's range */

static size_t
ref_sequence(u_char c, u_char *lo, u_char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        return 2;
    }

    if (c >= 0xe0 && c <= 0xef) {
        *lo = (c == 0xe0) ? 0xa0 : 0x80;
        *hi = (c == 0xed) ? 0x9f : 0xbf;
        return 3;
    }

    if (c >= 0xf0 && c <= 0xf4) {
        *lo = (c == 0xf0) ? 0x90 : 0x80;
        *hi = (c == 0xf4) ? 0x8f : 0xbf;
        return 4;
    }

    return 0;
}


static void
check_seed(u_char *p, size_t len)
{
    u_char    lo, hi;
    size_t    i, n, k;
    uint32_t  h, cp, units[2];
    size_t    nunits, u;

    h = 0;

    for (i = 0; i < len; i += k) {
        if (p[i] < 0x80) {
            units[0] = p[i];
            nunits = 1;
            k = 1;

        } else {
            n = ref_sequence(p[i], &lo, &hi);

            /* the valid prefix: the lead, then continuation bytes */
            k = 1;

            if (n) {
                while (k < n && i + k < len
                       && p[i + k] >= (k == 1 ? lo : 0x80)
                       && p[i + k] <= (k == 1 ? hi : 0xbf))
                {
                    k++;
                }
            }

            if (n == 0 || k < n) {
                units[0] = 0xfffd;
                nunits = 1;

            } else {
                cp = p[i] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);

                for (u = 1; u < n; u++) {
                    cp = (cp << 6) | (p[i + u] & 0x3f);
                }

                if (cp >= 0x10000) {
                    units[0] = 0xd800 | ((cp - 0x10000) >> 10);
                    units[1] = 0xdc00 | ((cp - 0x10000) & 0x3ff);
                    nunits = 2;

                } else {
                    fuzz_assert(cp >= 0x80
                                && (cp < 0xd800 || cp > 0xdfff));
                    units[0] = cp;
                    nunits = 1;
                }
            }
        }

        for (u = 0; u < nunits; u++) {
            h = h * 31 + units[u];
        }
    }

    fuzz_assert(ngx_astro_shard_hash_seed(p, len) == (int32_t) h);
}


static void
check_crc32(u_char *p, size_t len)
{
    size_t    i;
    uint32_t  crc;
    int       b;

    crc = 0xffffffff;

    for (i = 0; i < len; i++) {
        crc ^= p[i];

        for (b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
        }
    }

    fuzz_assert(ngx_astro_shard_hash_crc32(p, len) == ~crc);
}


static void
check_slot(u_char *p, size_t len)
{
    int64_t     s;
    uint64_t    a;
    ngx_uint_t  nslots, hash;

    nslots = 1 + (len ? p[0] * 257 % NGX_ASTRO_SHARD_MAX_SLOTS : 0);

    fuzz_assert(ngx_astro_shard_hash_murmur3(p, len)
                == ngx_astro_shard_hash_murmur3(p, len));

    for (hash = 0; hash <= NGX_ASTRO_SHARD_HASH_MURMUR3; hash++) {
        fuzz_assert(ngx_astro_shard_hash_slot(hash, p, len, nslots)
                    < nslots);
    }

    s = ngx_astro_shard_hash_seed(p, len);
    a = (uint64_t) (s < 0 ? -s : s);
    fuzz_assert(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_SEED, p, len,
                                          nslots) == a % nslots);
    fuzz_assert(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_CRC32, p, len,
                                          nslots)
                == ngx_astro_shard_hash_crc32(p, len) % nslots);
    fuzz_assert(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_MURMUR3, p,
                                          len, nslots)
                == ngx_astro_shard_hash_murmur3(p, len) % nslots);

    fuzz_assert(ngx_astro_shard_hash_score(p, len, nslots, 1) > 0);
}


static int
ref_digits(u_char *p, size_t n, int *v)
{
    *v = 0;

    while (n--) {
        if (*p < '0' || *p > '9') {
            return 0;
        }

        *v = *v * 10 + (*p++ - '0');
    }

    return 1;
}


static int
ref_date(u_char *p, size_t len, int prefix, int64_t *v)
{
    int        y, m, d;
    time_t     t;
    struct tm  tm;

    if (len < 10 || p[4] != '-' || p[7] != '-'
        || !ref_digits(p, 4, &y) || !ref_digits(p + 5, 2, &m)
        || !ref_digits(p + 8, 2, &d))
    {
        return 0;
    }

    if (len > 10 && (!prefix || (p[10] >= '0' && p[10] <= '9'))) {
        return 0;
    }

    if (m < 1 || m > 12 || d < 1 || d > 31) {
        return 0;
    }

    /* a day that is not in the month moves to the next one */
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    t = timegm(&tm);
    fuzz_assert(gmtime_r(&t, &tm) != NULL);

    if (tm.tm_mday != d) {
        return 0;
    }

    *v = (int64_t) y * 10000 + m * 100 + d;

    return 1;
}


static void
check_date(u_char *p, size_t len)
{
    u_char      buf[21];
    size_t      n;
    int64_t     v, ref = 0;
    ngx_int_t   rc;
    ngx_uint_t  prefix;

    for (prefix = 0; prefix < 2; prefix++) {
        v = -1;
        rc = ngx_astro_shard_key_date(p, len, prefix, &v);
        fuzz_assert((rc == NGX_OK) == ref_date(p, len, (int) prefix, &ref));

        if (rc == NGX_OK) {
            fuzz_assert(v == ref);
            n = ngx_astro_shard_key_print(NGX_ASTRO_SHARD_KIND_DATE, v, buf);
            fuzz_assert(n == 10 && memcmp(buf, p, 10) == 0);
        }
    }

    rc = ngx_astro_shard_key_range(NGX_ASTRO_SHARD_KIND_DATE, p, len, &v);
    fuzz_assert((rc == NGX_OK) == ref_date(p, len, 1, &ref));
}


static void
check_number(u_char *p, size_t len)
{
    char        text[32], *end;
    u_char      buf[21];
    size_t      n, i, digits;
    int64_t     v, back;
    ngx_int_t   rc;
    ngx_uint_t  kind;
    long long   ref = 0;
    int         ok;

    rc = ngx_astro_shard_key_number(p, len, &v);

    /* '-'?, 1 to 19 digits, in range: strtoll() with nothing left over */
    ok = 0;
    digits = len - (len && p[0] == '-');

    if (len > 0 && len < sizeof(text) && digits >= 1 && digits <= 19) {
        for (i = len - digits; i < len; i++) {
            if (p[i] < '0' || p[i] > '9') {
                break;
            }
        }

        if (i == len) {
            memcpy(text, p, len);
            text[len] = '\0';
            errno = 0;
            ref = strtoll(text, &end, 10);
            ok = (errno == 0 && *end == '\0');
        }
    }

    fuzz_assert((rc == NGX_OK) == ok);

    if (rc == NGX_OK) {
        fuzz_assert(v == ref);
        n = ngx_astro_shard_key_print(NGX_ASTRO_SHARD_KIND_NUMBER, v, buf);
        fuzz_assert(ngx_astro_shard_key_number(buf, n, &back) == NGX_OK);
        fuzz_assert(back == v);
    }

    rc = ngx_astro_shard_key_bound(p, len, &kind, &v);

    if (rc == NGX_OK) {
        fuzz_assert(kind == NGX_ASTRO_SHARD_KIND_DATE
                    || kind == NGX_ASTRO_SHARD_KIND_NUMBER);
        fuzz_assert(ngx_astro_shard_key_range(kind, p, len, &back) == NGX_OK);
        fuzz_assert(back == v);
    }
}


static void
check_values(u_char *p, size_t len)
{
    u_char     *pos, *end, *expect;
    ngx_int_t   rc;
    ngx_str_t   v;
    ngx_uint_t  n;

    pos = p;
    end = p + len;
    expect = p;

    for (n = 0; n <= len + 1; n++) {
        rc = ngx_astro_shard_key_next_value(&pos, end, &v);

        if (rc != NGX_OK) {
            break;
        }

        /* the value where the last one ended, then a comma or the end */
        fuzz_assert(v.data == expect);
        fuzz_assert(v.len >= 1 && v.len <= NGX_ASTRO_SHARD_MAX_NAME);
        fuzz_assert(memchr(v.data, ',', v.len) == NULL);
        fuzz_assert(v.data + v.len == end || v.data[v.len] == ',');
        expect = v.data + v.len + 1;
    }

    fuzz_assert(n <= len);
    fuzz_assert(rc == NGX_DONE || rc == NGX_DECLINED);

    if (rc == NGX_DONE) {
        /* every value taken: the input is them and their commas */
        fuzz_assert(len == 0 || (expect == end + 1 && end[-1] != ','));
    }

    fuzz_assert(ngx_astro_shard_key_next_value(&pos, end, &v) == NGX_DONE);
}
