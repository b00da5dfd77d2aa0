
/*
 * Copyright (C) astro developers
 */


#include <stdint.h>
#include <math.h>
#include "ngx_astro_fmt.h"


/*
 * Escapes a string for a JSON string literal; with dst NULL only counts.
 * Control characters become \u00XX; bytes >= 0x80 pass as they are, so
 * UTF-8 stays UTF-8.
 */

size_t
ngx_astro_json_escape(u_char *dst, const u_char *src, size_t len)
{
    u_char         c;
    size_t         n;
    const u_char  *end;

    static const u_char  hex[] = "0123456789abcdef";

    n = 0;

    for (end = src + len; src < end; src++) {
        c = *src;

        if (c == '"' || c == '\\') {
            if (dst) {
                *dst++ = '\\';
                *dst++ = c;
            }
            n += 2;

        } else if (c < 0x20 || c == 0x7f) {
            if (dst) {
                *dst++ = '\\';
                *dst++ = 'u';
                *dst++ = '0';
                *dst++ = '0';
                *dst++ = hex[c >> 4];
                *dst++ = hex[c & 0xf];
            }
            n += 6;

        } else {
            if (dst) {
                *dst++ = c;
            }
            n++;
        }
    }

    return n;
}


/*
 * A number for JSON and Prometheus: at most three decimals, trailing
 * zeros dropped, NaN and infinities written as 0 (neither format has a
 * portable spelling for them in the places we use).
 */

u_char *
ngx_astro_fmt_double(u_char *p, double v)
{
    u_char    buf[24], *b;
    uint64_t  ip, fp;

    if (isnan(v) || isinf(v)) {
        *p++ = '0';
        return p;
    }

    if (v < 0) {
        v = -v;
        if (v >= 0.0005) {
            *p++ = '-';
        }
    }

    if (v >= 1e18) {
        v = 1e18;
    }

    /* apart, so that v * 1000 neither overflows nor loses the decimals */

    ip = (uint64_t) v;
    fp = (uint64_t) ((v - (double) ip) * 1000 + 0.5);

    if (fp == 1000) {
        ip++;
        fp = 0;
    }

    b = buf + sizeof(buf);

    do {
        *--b = (u_char) ('0' + ip % 10);
        ip /= 10;
    } while (ip);

    while (b < buf + sizeof(buf)) {
        *p++ = *b++;
    }

    if (fp) {
        *p++ = '.';
        *p++ = (u_char) ('0' + fp / 100);
        fp %= 100;

        if (fp) {
            *p++ = (u_char) ('0' + fp / 10);
            fp %= 10;

            if (fp) {
                *p++ = (u_char) ('0' + fp);
            }
        }
    }

    return p;
}
