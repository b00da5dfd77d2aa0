
/*
 * Copyright (C) astro developers
 */


/*
 * The directives' value parsers of src/ngx_astro_conf.c, on nginx's own
 * (ngx_atoi(), ngx_parse_size(), ngx_parse_time()), every one on every
 * input:
 *
 *   "name=value"   the value is what follows the "=", within the input
 *   a number       from min to max, the input's digits
 *   "500ms", "2s"  at least min
 *   "name:size"    a name of at least one byte without ":", within the
 *                  input, a size >= 0
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "fuzz.h"
#include "ngx_astro_conf.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy;
    time_t       sec;
    ssize_t      zsize;
    ngx_str_t    arg, value, name;
    ngx_uint_t   n, i, ref;
    ngx_msec_t   ms;

    /* exactly the size: nothing is read past the end */

    copy = malloc(size ? size : 1);
    fuzz_assert(copy != NULL);
    ngx_memcpy(copy, data, size);

    arg.data = copy;
    arg.len = size;

    if (ngx_astro_conf_param(&arg, "zone", &value)) {
        fuzz_assert(size >= 5 && ngx_strncmp(copy, "zone=", 5) == 0);
        fuzz_assert(value.data == copy + 5 && value.len == size - 5);
    }

    if (ngx_astro_conf_number(&arg, 1, 65535, &n) == NGX_OK) {
        fuzz_assert(n >= 1 && n <= 65535);

        ref = 0;

        for (i = 0; i < size; i++) {
            fuzz_assert(copy[i] >= '0' && copy[i] <= '9');

            if (ref <= 65535) {
                ref = ref * 10 + (copy[i] - '0');
            }
        }

        fuzz_assert(ref == n);
    }

    if (ngx_astro_conf_msec(&arg, 10, &ms) == NGX_OK) {
        fuzz_assert(ms >= 10);
    }

    if (ngx_astro_conf_sec(&arg, 1, &sec) == NGX_OK) {
        fuzz_assert(sec >= 1);
    }

    if (ngx_astro_conf_zone(&arg, &name, &zsize) == NGX_OK) {
        fuzz_assert(name.data == copy && name.len >= 1 && name.len < size);
        fuzz_assert(ngx_strlchr(name.data, name.data + name.len, ':')
                    == NULL);
        fuzz_assert(copy[name.len] == ':');
        fuzz_assert(zsize >= 0);
    }

    free(copy);

    return 0;
}
