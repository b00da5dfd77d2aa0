
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_parse.h"


int
ngx_astro_parse_percent(const u_char *p, size_t len, double *value)
{
    unsigned       ip, fp, scale, digits;
    const u_char  *end;

    if (len < 2 || p[len - 1] != '%') {
        return -1;
    }

    end = p + len - 1;
    ip = 0;
    digits = 0;

    for ( /* void */ ; p < end && *p >= '0' && *p <= '9'; p++) {
        if (++digits > 3) {
            return -1;
        }

        ip = ip * 10 + (unsigned) (*p - '0');
    }

    if (digits == 0) {
        return -1;
    }

    fp = 0;
    scale = 1;

    if (p < end && *p == '.') {
        p++;
        digits = 0;

        for ( /* void */ ; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++digits > 2) {
                return -1;
            }

            fp = fp * 10 + (unsigned) (*p - '0');
            scale *= 10;
        }

        if (digits == 0) {
            return -1;
        }
    }

    if (p != end) {
        return -1;
    }

    *value = (double) ip + (double) fp / scale;

    return *value > 100 ? -1 : 0;
}
