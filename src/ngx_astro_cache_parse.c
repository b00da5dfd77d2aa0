
/*
 * Copyright (C) astro developers
 */


#include <string.h>
#include "ngx_astro_cache_parse.h"


#define NGX_ASTRO_CACHE_BAD_ESCAPE  -1
#define NGX_ASTRO_CACHE_TOO_LONG    -2


static int ngx_astro_cache_arg_value(const u_char *p, size_t len, int what,
    u_char *buf, ngx_astro_cache_args_t *args);
static int ngx_astro_cache_unescape(const u_char *p, size_t len, u_char *dst,
    size_t max, size_t *n);
static int ngx_astro_cache_hex(u_char c);


int
ngx_astro_cache_class_valid(const u_char *p, size_t len)
{
    u_char  c;
    size_t  i;

    if (len == 0 || len > NGX_ASTRO_CACHE_CLASS_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '_' || c == '.' || c == ':' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


int
ngx_astro_cache_key_valid(const u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_ASTRO_CACHE_KEY_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


int
ngx_astro_cache_parse_args(const u_char *p, size_t len, u_char *buf,
    ngx_astro_cache_args_t *args)
{
    size_t         n, vlen[3];
    u_char         mode[4];
    const u_char  *end, *part, *amp, *eq, *v[3];
    int            i, rc;

    static const char  *names[3] = { "class", "key", "mode" };
    static const char  *twice[3] = {
        "class given twice", "key given twice", "mode given twice"
    };

    args->what = 0;
    args->mode = NGX_ASTRO_CACHE_MODE_CONF;
    args->value = buf;
    args->len = 0;
    args->error = NULL;

    v[0] = v[1] = v[2] = NULL;
    vlen[0] = vlen[1] = vlen[2] = 0;

    end = p + len;

    while (p < end) {
        part = p;

        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        p = (amp < end) ? amp + 1 : end;

        if (amp == part) {
            continue;
        }

        eq = memchr(part, '=', amp - part);
        if (eq == NULL) {
            eq = amp;
        }

        for (i = 0; i < 3; i++) {
            n = strlen(names[i]);

            if ((size_t) (eq - part) == n && memcmp(part, names[i], n) == 0) {
                break;
            }
        }

        if (i == 3) {
            args->error = "unknown argument";
            return -1;
        }

        if (v[i]) {
            args->error = twice[i];
            return -1;
        }

        v[i] = (eq < amp) ? eq + 1 : eq;
        vlen[i] = amp - v[i];
    }

    if (v[0] && v[1]) {
        args->error = "both class and key";
        return -1;
    }

    if (v[0] == NULL && v[1] == NULL) {
        args->error = "no class or key";
        return -1;
    }

    if (v[2]) {
        if (v[0]) {
            args->error = "mode applies to a key only";
            return -1;
        }

        rc = ngx_astro_cache_unescape(v[2], vlen[2], mode, sizeof(mode), &n);

        if (rc == 0 && n == 4 && memcmp(mode, "soft", 4) == 0) {
            args->mode = NGX_ASTRO_CACHE_MODE_SOFT;

        } else if (rc == 0 && n == 4 && memcmp(mode, "hard", 4) == 0) {
            args->mode = NGX_ASTRO_CACHE_MODE_HARD;

        } else {
            args->error = "mode must be soft or hard";
            return -1;
        }
    }

    if (v[0]) {
        return ngx_astro_cache_arg_value(v[0], vlen[0], NGX_ASTRO_CACHE_CLASS,
                                         buf, args);
    }

    return ngx_astro_cache_arg_value(v[1], vlen[1], NGX_ASTRO_CACHE_KEY, buf,
                                     args);
}


static int
ngx_astro_cache_arg_value(const u_char *p, size_t len, int what,
    u_char *buf, ngx_astro_cache_args_t *args)
{
    int     rc, class;
    size_t  n;

    class = (what == NGX_ASTRO_CACHE_CLASS);

    rc = ngx_astro_cache_unescape(p, len, buf, NGX_ASTRO_CACHE_KEY_MAX, &n);

    if (rc == NGX_ASTRO_CACHE_BAD_ESCAPE) {
        args->error = class ? "bad escape in class" : "bad escape in key";
        return -1;
    }

    if (rc == NGX_ASTRO_CACHE_TOO_LONG
        || (class && n > NGX_ASTRO_CACHE_CLASS_MAX))
    {
        args->error = class ? "class too long" : "key too long";
        return -1;
    }

    if (n == 0) {
        args->error = class ? "empty class" : "empty key";
        return -1;
    }

    if (class && !ngx_astro_cache_class_valid(buf, n)) {
        args->error = "invalid class";
        return -1;
    }

    if (!class && !ngx_astro_cache_key_valid(buf, n)) {
        args->error = "control byte in key";
        return -1;
    }

    args->what = what;
    args->len = n;

    return 0;
}


/* %XX decoded; anything else, "+" included, as it is */

static int
ngx_astro_cache_unescape(const u_char *p, size_t len, u_char *dst,
    size_t max, size_t *n)
{
    int            hi, lo;
    u_char         c;
    const u_char  *end;

    end = p + len;
    *n = 0;

    while (p < end) {
        c = *p++;

        if (c == '%') {
            if (end - p < 2) {
                return NGX_ASTRO_CACHE_BAD_ESCAPE;
            }

            hi = ngx_astro_cache_hex(p[0]);
            lo = ngx_astro_cache_hex(p[1]);

            if (hi < 0 || lo < 0) {
                return NGX_ASTRO_CACHE_BAD_ESCAPE;
            }

            c = (u_char) (hi << 4 | lo);
            p += 2;
        }

        if (*n == max) {
            return NGX_ASTRO_CACHE_TOO_LONG;
        }

        dst[(*n)++] = c;
    }

    return 0;
}


static int
ngx_astro_cache_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
ngx_astro_cache_parse_msg(const u_char *p, size_t len,
    ngx_astro_cache_msg_t *msg)
{
    uint64_t       gen;
    const u_char  *end, *sp, *d;

    if (len < 4 || p[1] != ' ') {
        return -1;
    }

    end = p + len;

    if (p[0] == 'k') {
        if ((p[2] != 'h' && p[2] != 's') || p[3] != ' '
            || !ngx_astro_cache_key_valid(p + 4, len - 4))
        {
            return -1;
        }

        msg->what = NGX_ASTRO_CACHE_KEY;
        msg->hard = (p[2] == 'h');
        msg->gen = 0;
        msg->value = p + 4;
        msg->len = len - 4;

        return 0;
    }

    if (p[0] != 'c') {
        return -1;
    }

    sp = memchr(p + 2, ' ', len - 2);

    if (sp == NULL || !ngx_astro_cache_class_valid(p + 2, sp - (p + 2))) {
        return -1;
    }

    /* 1 to 20 digits, "0" or no leading zero, within 64 bits */

    d = sp + 1;

    if (d == end || end - d > 20 || (*d == '0' && end - d > 1)) {
        return -1;
    }

    gen = 0;

    for ( /* void */ ; d < end; d++) {
        if (*d < '0' || *d > '9') {
            return -1;
        }

        if (gen > (UINT64_MAX - (uint64_t) (*d - '0')) / 10) {
            return -1;
        }

        gen = gen * 10 + (uint64_t) (*d - '0');
    }

    msg->what = NGX_ASTRO_CACHE_CLASS;
    msg->hard = 0;
    msg->gen = gen;
    msg->value = p + 2;
    msg->len = sp - (p + 2);

    return 0;
}


u_char *
ngx_astro_cache_format_msg(u_char *dst, const ngx_astro_cache_msg_t *msg)
{
    u_char    digits[20];
    size_t    n;
    uint64_t  gen;

    if (msg->what == NGX_ASTRO_CACHE_KEY) {
        if (!ngx_astro_cache_key_valid(msg->value, msg->len)) {
            return NULL;
        }

        *dst++ = 'k';
        *dst++ = ' ';
        *dst++ = msg->hard ? 'h' : 's';
        *dst++ = ' ';

        memcpy(dst, msg->value, msg->len);

        return dst + msg->len;
    }

    if (msg->what != NGX_ASTRO_CACHE_CLASS
        || !ngx_astro_cache_class_valid(msg->value, msg->len))
    {
        return NULL;
    }

    *dst++ = 'c';
    *dst++ = ' ';
    memcpy(dst, msg->value, msg->len);
    dst += msg->len;
    *dst++ = ' ';

    n = 0;
    gen = msg->gen;

    do {
        digits[n++] = (u_char) ('0' + gen % 10);
        gen /= 10;
    } while (gen);

    while (n) {
        *dst++ = digits[--n];
    }

    return dst;
}
