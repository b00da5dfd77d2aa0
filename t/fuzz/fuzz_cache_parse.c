
/*
 * Copyright (C) astro developers
 */


/*
 * The cache module's parsers (src/ngx_astro_cache_parse.c) on every
 * input: the invalidation endpoint's query, ngx_astro_cache_parse_args(),
 * and a message between nodes, ngx_astro_cache_parse_msg(), each against
 * a decoder written apart (split first, decode after, no bound while
 * decoding; strtoull() and printf() for the generation): both accept the
 * same inputs with the same values, what is accepted is within the
 * bounds, a message formatted from what was accepted parses back to it,
 * and a message accepted formats back to its very bytes.  The input and
 * the buffers are of their exact sizes: nothing is read or written past
 * them.
 */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_astro_cache_parse.h"


typedef struct {
    int       ok;
    int       what;
    int       mode;
    u_char   *value;
    size_t    len;
} ref_args_t;


static void check_args(const u_char *p, size_t len, uint64_t gen);
static void ref_args(const u_char *p, size_t len, ref_args_t *ref);
static int ref_decode(const u_char *p, size_t len, u_char *dst, size_t *n);
static int ref_class(const u_char *p, size_t len);
static int ref_key(const u_char *p, size_t len);
static void check_msg(const u_char *p, size_t len);
static int ref_msg(const u_char *p, size_t len, ngx_astro_cache_msg_t *msg);
static void round_trip(int what, int hard, uint64_t gen, const u_char *value,
    size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *copy;
    uint64_t       gen;
    fuzz_input_t   in;

    copy = malloc(size ? size : 1);
    fuzz_assert(copy != NULL);
    memcpy(copy, data, size);

    /* a generation for the messages formatted from the query */

    in.p = data;
    in.left = size;
    gen = fuzz_take_u64(&in, 8);

    check_args(copy, size, gen);
    check_msg(copy, size);

    free(copy);

    return 0;
}


static void
check_args(const u_char *p, size_t len, uint64_t gen)
{
    int                      rc;
    u_char                  *buf;
    ref_args_t               ref;
    ngx_astro_cache_args_t   args;

    buf = malloc(NGX_ASTRO_CACHE_KEY_MAX);
    fuzz_assert(buf != NULL);

    rc = ngx_astro_cache_parse_args(p, len, buf, &args);

    ref_args(p, len, &ref);

    fuzz_assert(rc == 0 || rc == -1);
    fuzz_assert((rc == 0) == ref.ok);

    if (rc == -1) {
        /* a reason, that goes into JSON as it is */
        fuzz_assert(args.error != NULL && args.error[0] != '\0');
        fuzz_assert(strpbrk(args.error, "\"\\") == NULL);
        goto done;
    }

    fuzz_assert(args.error == NULL);
    fuzz_assert(args.value == buf);
    fuzz_assert(args.what == ref.what);
    fuzz_assert(args.mode == ref.mode);
    fuzz_assert(args.len == ref.len);
    fuzz_assert(memcmp(args.value, ref.value, ref.len) == 0);

    if (args.what == NGX_ASTRO_CACHE_CLASS) {
        fuzz_assert(args.len >= 1 && args.len <= NGX_ASTRO_CACHE_CLASS_MAX);
        fuzz_assert(args.mode == NGX_ASTRO_CACHE_MODE_CONF);
        fuzz_assert(ref_class(args.value, args.len));

    } else {
        fuzz_assert(args.what == NGX_ASTRO_CACHE_KEY);
        fuzz_assert(args.len >= 1 && args.len <= NGX_ASTRO_CACHE_KEY_MAX);
        fuzz_assert(ref_key(args.value, args.len));
    }

    round_trip(args.what, args.mode == NGX_ASTRO_CACHE_MODE_HARD, gen,
               args.value, args.len);

done:

    free(ref.value);
    free(buf);
}


/* the query read apart: every part first, then the values decoded */

static void
ref_args(const u_char *p, size_t len, ref_args_t *ref)
{
    size_t         i, start, eq, n;
    u_char         mode[16];
    const u_char  *val[3];
    size_t         vlen[3];
    int            k;

    static const char  *names[] = { "class", "key", "mode" };

    ref->ok = 0;
    ref->what = 0;
    ref->mode = NGX_ASTRO_CACHE_MODE_CONF;
    ref->value = malloc(len ? len : 1);
    ref->len = 0;
    fuzz_assert(ref->value != NULL);

    val[0] = val[1] = val[2] = NULL;
    vlen[0] = vlen[1] = vlen[2] = 0;

    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && p[i] != '&') {
            continue;
        }

        if (i > start) {
            for (eq = start; eq < i && p[eq] != '='; eq++) { /* void */ }

            for (k = 0; k < 3; k++) {
                if (strlen(names[k]) == eq - start
                    && strncmp((const char *) p + start, names[k], eq - start)
                       == 0)
                {
                    break;
                }
            }

            if (k == 3 || val[k] != NULL) {
                return;
            }

            val[k] = (eq < i) ? p + eq + 1 : p + eq;
            vlen[k] = (eq < i) ? i - eq - 1 : 0;
        }

        start = i + 1;
    }

    if ((val[0] == NULL) == (val[1] == NULL)) {
        return;
    }

    if (val[2] != NULL) {
        if (val[0] != NULL || vlen[2] > 3 * 4) {
            return;
        }

        if (ref_decode(val[2], vlen[2], mode, &n) != 0) {
            return;
        }

        if (n == 4 && memcmp(mode, "soft", 4) == 0) {
            ref->mode = NGX_ASTRO_CACHE_MODE_SOFT;

        } else if (n == 4 && memcmp(mode, "hard", 4) == 0) {
            ref->mode = NGX_ASTRO_CACHE_MODE_HARD;

        } else {
            return;
        }
    }

    k = val[0] ? 0 : 1;

    if (ref_decode(val[k], vlen[k], ref->value, &ref->len) != 0) {
        return;
    }

    ref->what = k ? NGX_ASTRO_CACHE_KEY : NGX_ASTRO_CACHE_CLASS;
    ref->ok = k ? ref_key(ref->value, ref->len)
                : ref_class(ref->value, ref->len);
}


static int
ref_decode(const u_char *p, size_t len, u_char *dst, size_t *n)
{
    size_t       i;
    const char  *hi, *lo;

    static const char  digits[] = "0123456789abcdef0123456789ABCDEF";

    *n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] != '%') {
            dst[(*n)++] = p[i];
            continue;
        }

        if (i + 2 >= len) {
            return -1;
        }

        /* the NUL that ends digits is past the 32 bytes searched */

        hi = memchr(digits, p[i + 1], 32);
        lo = memchr(digits, p[i + 2], 32);

        if (hi == NULL || lo == NULL) {
            return -1;
        }

        dst[(*n)++] = (u_char) (((hi - digits) % 16) * 16
                                + (lo - digits) % 16);
        i += 2;
    }

    return 0;
}


static int
ref_class(const u_char *p, size_t len)
{
    size_t  i;

    static const char  set[] = "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";

    if (len < 1 || len > 64) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (memchr(set, p[i], sizeof(set) - 1) == NULL) {
            return 0;
        }
    }

    return 1;
}


static int
ref_key(const u_char *p, size_t len)
{
    size_t  i;

    if (len < 1 || len > 4096) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= 31 || p[i] == 127) {
            return 0;
        }
    }

    return 1;
}


static void
check_msg(const u_char *p, size_t len)
{
    int                     rc;
    u_char                 *out, *end;
    ngx_astro_cache_msg_t   msg, ref;

    rc = ngx_astro_cache_parse_msg(p, len, &msg);

    fuzz_assert(rc == 0 || rc == -1);
    fuzz_assert((rc == 0) == (ref_msg(p, len, &ref) == 0));

    if (rc != 0) {
        return;
    }

    fuzz_assert(msg.what == ref.what);
    fuzz_assert(msg.hard == ref.hard);
    fuzz_assert(msg.gen == ref.gen);
    fuzz_assert(msg.len == ref.len);
    fuzz_assert(msg.value == ref.value);

    fuzz_assert(len <= NGX_ASTRO_CACHE_MSG_MAX);
    fuzz_assert(msg.value >= p && msg.value + msg.len <= p + len);

    /* formatted back: the very bytes */

    out = malloc(NGX_ASTRO_CACHE_MSG_MAX);
    fuzz_assert(out != NULL);

    end = ngx_astro_cache_format_msg(out, &msg);

    fuzz_assert(end != NULL);
    fuzz_assert((size_t) (end - out) == len);
    fuzz_assert(memcmp(out, p, len) == 0);

    free(out);
}


static int
ref_msg(const u_char *p, size_t len, ngx_astro_cache_msg_t *msg)
{
    char                *text, *sp, *endp;
    char                 again[32];
    unsigned long long   v;

    memset(msg, 0, sizeof(ngx_astro_cache_msg_t));

    if (len >= 4 && p[0] == 'k' && p[1] == ' ' && p[3] == ' '
        && (p[2] == 'h' || p[2] == 's'))
    {
        msg->what = NGX_ASTRO_CACHE_KEY;
        msg->hard = (p[2] == 'h');
        msg->value = p + 4;
        msg->len = len - 4;

        return ref_key(p + 4, len - 4) ? 0 : -1;
    }

    if (len < 2 || p[0] != 'c' || p[1] != ' ' || memchr(p, '\0', len)) {
        return -1;
    }

    text = malloc(len + 1);
    fuzz_assert(text != NULL);
    memcpy(text, p, len);
    text[len] = '\0';

    sp = strrchr(text, ' ');

    if (sp == text + 1 || !ref_class((u_char *) text + 2, sp - text - 2)
        || sp[1] < '0' || sp[1] > '9')
    {
        free(text);
        return -1;
    }

    errno = 0;
    v = strtoull(sp + 1, &endp, 10);
    snprintf(again, sizeof(again), "%llu", v);

    if (errno != 0 || *endp != '\0' || strcmp(again, sp + 1) != 0) {
        free(text);
        return -1;
    }

    msg->what = NGX_ASTRO_CACHE_CLASS;
    msg->gen = v;
    msg->value = p + 2;
    msg->len = sp - text - 2;

    free(text);

    return 0;
}


static void
round_trip(int what, int hard, uint64_t gen, const u_char *value, size_t len)
{
    u_char                 *out, *end;
    ngx_astro_cache_msg_t   msg, back;

    msg.what = what;
    msg.hard = hard;
    msg.gen = (what == NGX_ASTRO_CACHE_CLASS) ? gen : 0;
    msg.value = value;
    msg.len = len;

    out = malloc(NGX_ASTRO_CACHE_MSG_MAX);
    fuzz_assert(out != NULL);

    end = ngx_astro_cache_format_msg(out, &msg);

    fuzz_assert(end != NULL);
    fuzz_assert(end - out <= NGX_ASTRO_CACHE_MSG_MAX);
    fuzz_assert(ngx_astro_cache_parse_msg(out, end - out, &back) == 0);

    fuzz_assert(back.what == msg.what);
    fuzz_assert(back.hard == msg.hard);
    fuzz_assert(back.gen == msg.gen);
    fuzz_assert(back.len == msg.len);
    fuzz_assert(memcmp(back.value, value, len) == 0);

    free(out);
}
