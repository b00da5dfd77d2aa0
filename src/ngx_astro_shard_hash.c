
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_hash.h"


#define ngx_astro_java_unit(h, u)  ((h) * 31 + (uint32_t) (u))


static uint32_t ngx_astro_shard_crc32_table16[] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
    0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c
};


/*
 * The key is decoded as the WHATWG decoder (Node's Buffer.toString(),
 * TextDecoder) does, so that an id that is not UTF-8 lands where the
 * backend put it: an invalid or truncated sequence is one U+FFFD for
 * its longest valid prefix ("maximal subpart"), and the byte that broke
 * it is read again; overlong forms, surrogates (ED A0..BF) and code
 * points above U+10FFFF are invalid.  A code point above U+FFFF is
 * hashed as its surrogate pair.
 */

int32_t
ngx_astro_shard_hash_seed(u_char *key, size_t len)
{
    u_char      c, lower, upper;
    size_t      i;
    uint32_t    h, cp;
    ngx_uint_t  need;

    h = 0;
    cp = 0;
    need = 0;
    lower = 0x80;
    upper = 0xbf;

    for (i = 0; i < len; /* void */) {
        c = key[i];

        if (need == 0) {
            i++;

            if (c < 0x80) {
                h = ngx_astro_java_unit(h, c);

            } else if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
                cp = c & 0x1f;

            } else if (c >= 0xe0 && c <= 0xef) {
                lower = (c == 0xe0) ? 0xa0 : 0x80;
                upper = (c == 0xed) ? 0x9f : 0xbf;
                need = 2;
                cp = c & 0x0f;

            } else if (c >= 0xf0 && c <= 0xf4) {
                lower = (c == 0xf0) ? 0x90 : 0x80;
                upper = (c == 0xf4) ? 0x8f : 0xbf;
                need = 3;
                cp = c & 0x07;

            } else {
                h = ngx_astro_java_unit(h, 0xfffd);
            }

            continue;
        }

        if (c < lower || c > upper) {
            /* the sequence so far is one U+FFFD; c is read again */
            h = ngx_astro_java_unit(h, 0xfffd);
            need = 0;
            lower = 0x80;
            upper = 0xbf;
            continue;
        }

        i++;
        lower = 0x80;
        upper = 0xbf;
        cp = (cp << 6) | (c & 0x3f);

        if (--need) {
            continue;
        }

        if (cp > 0xffff) {
            cp -= 0x10000;
            h = ngx_astro_java_unit(h, 0xd800 + (cp >> 10));
            h = ngx_astro_java_unit(h, 0xdc00 + (cp & 0x3ff));

        } else {
            h = ngx_astro_java_unit(h, cp);
        }
    }

    if (need) {
        h = ngx_astro_java_unit(h, 0xfffd);
    }

    return (int32_t) h;
}


/* nginx's ngx_crc32_short(): its table of half bytes, no initialization */

uint32_t
ngx_astro_shard_hash_crc32(u_char *key, size_t len)
{
    u_char    c;
    uint32_t  crc;

    crc = 0xffffffff;

    while (len--) {
        c = *key++;
        crc = ngx_astro_shard_crc32_table16[(crc ^ (c & 0xf)) & 0xf]
              ^ (crc >> 4);
        crc = ngx_astro_shard_crc32_table16[(crc ^ (c >> 4)) & 0xf]
              ^ (crc >> 4);
    }

    return crc ^ 0xffffffff;
}


#define ngx_astro_rotl32(x, r)  (((x) << (r)) | ((x) >> (32 - (r))))


uint32_t
ngx_astro_shard_hash_murmur3(u_char *key, size_t len)
{
    size_t    i, n;
    uint32_t  h, k;

    h = 0;
    n = len / 4;

    for (i = 0; i < n; i++) {
        k = (uint32_t) key[4 * i]
            | (uint32_t) key[4 * i + 1] << 8
            | (uint32_t) key[4 * i + 2] << 16
            | (uint32_t) key[4 * i + 3] << 24;

        k *= 0xcc9e2d51;
        k = ngx_astro_rotl32(k, 15);
        k *= 0x1b873593;

        h ^= k;
        h = ngx_astro_rotl32(h, 13);
        h = h * 5 + 0xe6546b64;
    }

    k = 0;
    key += 4 * n;

    switch (len & 3) {
    case 3:
        k ^= (uint32_t) key[2] << 16;
        /* fall through */
    case 2:
        k ^= (uint32_t) key[1] << 8;
        /* fall through */
    case 1:
        k ^= key[0];
        k *= 0xcc9e2d51;
        k = ngx_astro_rotl32(k, 15);
        k *= 0x1b873593;
        h ^= k;
    }

    h ^= (uint32_t) len;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;

    return h;
}


ngx_uint_t
ngx_astro_shard_hash_slot(ngx_uint_t hash, u_char *key, size_t len,
    ngx_uint_t nslots)
{
    int64_t   s;
    uint64_t  h;

    switch (hash) {

    case NGX_ASTRO_SHARD_HASH_CRC32:
        h = ngx_astro_shard_hash_crc32(key, len);
        break;

    case NGX_ASTRO_SHARD_HASH_MURMUR3:
        h = ngx_astro_shard_hash_murmur3(key, len);
        break;

    default: /* NGX_ASTRO_SHARD_HASH_SEED */
        s = ngx_astro_shard_hash_seed(key, len);
        h = (uint64_t) (s < 0 ? -s : s);
    }

    return (ngx_uint_t) (h % nslots);
}


/*
 * Weighted rendezvous hashing: the score is -w / ln(u), u in (0, 1) made
 * of the top 53 bits of a 64-bit hash of (name, slot); the shard of the
 * highest score owns the slot, so each shard gets slots in proportion to
 * its weight, and a shard added or removed moves only the slots it takes
 * or leaves.  The 64-bit hash: FNV-1a of the name, the slot mixed in,
 * then splitmix64's finalizer.
 */

double
ngx_astro_shard_hash_score(u_char *name, size_t len, ngx_uint_t slot,
    ngx_uint_t weight)
{
    double    u;
    size_t    i;
    uint64_t  x;

    x = 0xcbf29ce484222325ULL;

    for (i = 0; i < len; i++) {
        x ^= name[i];
        x *= 0x100000001b3ULL;
    }

    x ^= (uint64_t) slot * 0x9e3779b97f4a7c15ULL;

    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;

    u = ((double) (x >> 11) + 0.5) / 9007199254740992.0;   /* 2^53 */

    return -(double) (weight ? weight : 1) / log(u);
}
