
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_redis_slot.h"


/* a byte at a time, without a table: a key is short, and read once */

uint16_t
ngx_astro_redis_crc16(const unsigned char *p, size_t len)
{
    size_t    i;
    unsigned  b;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) (p[i] << 8);

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
ngx_astro_redis_slot(const unsigned char *key, size_t len)
{
    size_t  s, e;

    for (s = 0; s < len; s++) {
        if (key[s] == '{') {
            break;
        }
    }

    /* no "{": the whole key */

    if (s == len) {
        return ngx_astro_redis_crc16(key, len) & (NGX_ASTRO_REDIS_SLOTS - 1);
    }

    for (e = s + 1; e < len; e++) {
        if (key[e] == '}') {
            break;
        }
    }

    /* no "}" after it, or "{}": the whole key */

    if (e == len || e == s + 1) {
        return ngx_astro_redis_crc16(key, len) & (NGX_ASTRO_REDIS_SLOTS - 1);
    }

    return ngx_astro_redis_crc16(key + s + 1, e - s - 1)
           & (NGX_ASTRO_REDIS_SLOTS - 1);
}
