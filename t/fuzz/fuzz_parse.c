
/*
 * Copyright (C) astro developers
 */


/*
 * The parameters' parsers of the pure files: ngx_astro_parse_percent()
 * ("70%", "70.5%") and ngx_astro_parse_rate() ("100r/s", "5r/m"), both
 * on every input, against what the text says read apart (strtod(),
 * digit by digit): a value they accept is the text's value, in its range.
 */

#include <string.h>

#include "fuzz.h"
#include "ngx_astro_parse.h"
#include "ngx_astro_parse_rate.h"


static void check_percent(const u_char *p, size_t len);
static void check_rate(const u_char *p, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *copy;

    /* a copy of exactly the size: nothing is read past the end */

    copy = malloc(size ? size : 1);
    fuzz_assert(copy != NULL);
    memcpy(copy, data, size);

    check_percent(copy, size);
    check_rate(copy, size);

    free(copy);

    return 0;
}


static void
check_percent(const u_char *p, size_t len)
{
    char    text[16], *end;
    size_t  i, dot;
    double  v, ref;

    v = -1;

    if (ngx_astro_parse_percent(p, len, &v) != 0) {
        return;
    }

    /* 1 to 3 digits, maybe "." and 1 or 2 digits, then "%" */

    fuzz_assert(len >= 2 && len <= 7 && p[len - 1] == '%');

    dot = len;

    for (i = 0; i < len - 1; i++) {
        if (p[i] == '.') {
            fuzz_assert(dot == len && i > 0 && i <= 3);
            dot = i;
            continue;
        }

        fuzz_assert(p[i] >= '0' && p[i] <= '9');
    }

    fuzz_assert(dot == len || (len - 2 - dot >= 1 && len - 2 - dot <= 2));
    fuzz_assert(dot != len || len - 1 <= 3);

    memcpy(text, p, len - 1);
    text[len - 1] = '\0';
    ref = strtod(text, &end);

    fuzz_assert(*end == '\0');
    fuzz_assert(v >= 0 && v <= 100);
    fuzz_assert(v - ref < 1e-9 && ref - v < 1e-9);
}


static void
check_rate(const u_char *p, size_t len)
{
    size_t               i;
    ngx_astro_rate_t     rate;
    unsigned long long   ref;

    if (ngx_astro_parse_rate(p, len, &rate) != 0) {
        return;
    }

    fuzz_assert(len >= 4);
    fuzz_assert(memcmp(p + len - 3, "r/s", 3) == 0
                || memcmp(p + len - 3, "r/m", 3) == 0);

    /* leading zeros are allowed, as nginx's own parsers allow them */

    ref = 0;

    for (i = 0; i < len - 3; i++) {
        fuzz_assert(p[i] >= '0' && p[i] <= '9');

        if (ref <= NGX_ASTRO_RATE_MAX) {
            ref = ref * 10 + (p[i] - '0');
        }
    }

    fuzz_assert(ref >= 1 && ref <= NGX_ASTRO_RATE_MAX);
    fuzz_assert(rate.count == ref);
    fuzz_assert(rate.period == (p[len - 1] == 's' ? 1 : 60));
}
