
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_FUZZ_H_INCLUDED_
#define _NGX_ASTRO_FUZZ_H_INCLUDED_


/*
 * What the harnesses t/fuzz/fuzz_*.c share: libFuzzer's entry point, the
 * check of an invariant (a crash that libFuzzer keeps like any other),
 * and the taking of the input piece by piece.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define fuzz_assert(expr)                                                     \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n",                  \
                    __FILE__, __LINE__, #expr);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)


/* the input, taken from the front as the harness needs it */

typedef struct {
    const uint8_t  *p;
    size_t          left;
} fuzz_input_t;


static inline uint64_t
fuzz_take_u64(fuzz_input_t *in, size_t n)
{
    uint64_t  v;

    v = 0;

    while (n-- && in->left) {
        v = (v << 8) | *in->p++;
        in->left--;
    }

    return v;
}


/* up to max bytes, as many as the next byte says */

static inline const uint8_t *
fuzz_take_bytes(fuzz_input_t *in, size_t max, size_t *len)
{
    const uint8_t  *p;

    *len = (size_t) fuzz_take_u64(in, 1) % (max + 1);

    if (*len > in->left) {
        *len = in->left;
    }

    p = in->p;
    in->p += *len;
    in->left -= *len;

    return p;
}


#endif /* _NGX_ASTRO_FUZZ_H_INCLUDED_ */
