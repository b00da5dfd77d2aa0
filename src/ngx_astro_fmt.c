
/*
 * Copyright (C) astro developers
 */


#include <stdint.h>
#include <string.h>
#include <math.h>
#include "ngx_astro_fmt.h"


static size_t ngx_astro_escape(u_char *dst, const u_char *src, size_t len,
    int prom);
static size_t ngx_astro_utf8_len(const u_char *p, const u_char *end);


/*
 * Escapes a string for a JSON string literal; with dst NULL only counts.
 * Control characters become \u00XX; UTF-8 passes as it is.
 */

size_t
ngx_astro_json_escape(u_char *dst, const u_char *src, size_t len)
{
    return ngx_astro_escape(dst, src, len, 0);
}


/*
 * Escapes a string for a Prometheus label value (the text format); with
 * dst NULL only counts.  Only backslash, double quote and line feed have
 * escapes there: \\, \" and \n; other bytes pass as they are.
 */

size_t
ngx_astro_prom_escape(u_char *dst, const u_char *src, size_t len)
{
    return ngx_astro_escape(dst, src, len, 1);
}


/*
 * In both, a byte that does not begin a valid UTF-8 sequence (names are
 * the configuration's bytes, which nginx does not check) becomes U+FFFD,
 * the replacement character, as in Go's encoders: neither format may
 * hold anything but UTF-8, and a parser refuses the whole document.
 */

static size_t
ngx_astro_escape(u_char *dst, const u_char *src, size_t len, int prom)
{
    u_char         c;
    size_t         n, k;
    const u_char  *end;

    static const u_char  hex[] = "0123456789abcdef";

    n = 0;

    for (end = src + len; src < end; src += k) {
        c = *src;
        k = 1;

        if (c == '"' || c == '\\') {
            if (dst) {
                *dst++ = '\\';
                *dst++ = c;
            }
            n += 2;

        } else if (prom && c == '\n') {
            if (dst) {
                *dst++ = '\\';
                *dst++ = 'n';
            }
            n += 2;

        } else if (!prom && (c < 0x20 || c == 0x7f)) {
            if (dst) {
                *dst++ = '\\';
                *dst++ = 'u';
                *dst++ = '0';
                *dst++ = '0';
                *dst++ = hex[c >> 4];
                *dst++ = hex[c & 0xf];
            }
            n += 6;

        } else if (c < 0x80) {
            if (dst) {
                *dst++ = c;
            }
            n++;

        } else {
            k = ngx_astro_utf8_len(src, end);

            if (k == 0) {
                k = 1;

                if (dst) {
                    *dst++ = 0xef;
                    *dst++ = 0xbf;
                    *dst++ = 0xbd;
                }
                n += 3;

            } else {
                if (dst) {
                    memcpy(dst, src, k);
                    dst += k;
                }
                n += k;
            }
        }
    }

    return n;
}


/*
 * The length of the UTF-8 sequence at p (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF), or 0 when there is none
 */

static size_t
ngx_astro_utf8_len(const u_char *p, const u_char *end)
{
    size_t  i, n;
    u_char  lo, hi;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        lo = 0x80;
        hi = 0xbf;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = (p[0] == 0xe0) ? 0xa0 : 0x80;
        hi = (p[0] == 0xed) ? 0x9f : 0xbf;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = (p[0] == 0xf0) ? 0x90 : 0x80;
        hi = (p[0] == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
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
