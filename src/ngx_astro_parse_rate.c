
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_parse_rate.h"


/*
 * Parses "Nr/s" or "Nr/m", N from 1 to NGX_ASTRO_RATE_MAX, and keeps the
 * count and the period apart, so that "100r/m" stays 100 in 60 seconds
 * instead of becoming a rounded rate per second.  Returns 0 on success,
 * -1 on anything else (no digits, zero, overflow, another unit, trailing
 * characters).
 */

int
ngx_astro_parse_rate(const u_char *data, size_t len, ngx_astro_rate_t *rate)
{
    size_t         n;
    uint64_t       count;
    const u_char  *p, *end;

    p = data;
    end = data + len;
    count = 0;

    for (n = 0; p < end && *p >= '0' && *p <= '9'; p++, n++) {
        count = count * 10 + (*p - '0');

        if (count > NGX_ASTRO_RATE_MAX) {
            return -1;
        }
    }

    if (n == 0 || count == 0 || end - p != 3 || p[0] != 'r' || p[1] != '/') {
        return -1;
    }

    switch (p[2]) {

    case 's':
        rate->period = 1;
        break;

    case 'm':
        rate->period = 60;
        break;

    default:
        return -1;
    }

    rate->count = (uint32_t) count;

    return 0;
}
