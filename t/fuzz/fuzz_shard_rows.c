
/*
 * Copyright (C) astro developers
 */


/*
 * The shard map's builder (src/ngx_astro_shard_table.c) on rows made of
 * the input, as PostgreSQL could send them: any strategy, hash, fill and
 * slots, shards and entries whose names, states and bounds are mostly
 * of the map (so that good tables are built too) and sometimes any
 * bytes.  Checked:
 *
 *   the size and the build agree: size 0 or build NULL with a message;
 *   a table built is of the size said, passes the check, and the same
 *   rows build the same bytes;
 *   lookups of keys from the input: a hash map's slot below nslots with
 *   its entry; a range map's entry holds the key; a list map's entry is
 *   the key;
 *   the table with one byte changed: refused by the check, or routed
 *   with (in a buffer of its exact size: ASan sees any read past it).
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <string.h>

#include "fuzz.h"
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_key.h"


#define SHARDS   8
#define ENTRIES  24
#define KEYS     4


static const char  *states[] = {
    "", "stable", "copying", "reads_new", "frozen", "switched", "x"
};

static const char  *names[] = { "s0", "s1", "s2", "s3", "s4", "s5", "s6",
                                "s7" };

static const char  *bounds[] = { "", "2024-01-01", "2024-02-29",
                                 "2024-03-01", "2025-01-01", "0", "-5",
                                 "100", "2023-02-29", "1x" };


typedef struct {
    fuzz_input_t                 in;
    char                         text[(SHARDS * 3 + ENTRIES * 6 + KEYS)][24];
    ngx_uint_t                   ntext;
} ctx_t;


static void make_rows(ctx_t *c, ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_row_t *shards, ngx_astro_shard_entry_row_t *entries);
static ngx_str_t take_name(ctx_t *c, ngx_uint_t nshards);
static ngx_str_t take_bound(ctx_t *c, ngx_uint_t strategy, ngx_uint_t slots);
static ngx_str_t take_text(ctx_t *c, const char *fixed);
static void check_lookup(ngx_astro_shard_table_t *t, ngx_str_t *key);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                        tsize, pos;
    u_char                        err[128], *buf, *again, *copy;
    ngx_str_t                     keys[KEYS];
    ngx_uint_t                    i;
    ngx_astro_shard_rows_t        rows;
    ngx_astro_shard_table_t      *t;
    ngx_astro_shard_row_t         shards[SHARDS];
    ngx_astro_shard_entry_row_t   entries[ENTRIES];
    static ctx_t                  c;

    c.in.p = data;
    c.in.left = size;
    c.ntext = 0;

    make_rows(&c, &rows, shards, entries);

    for (i = 0; i < KEYS; i++) {
        keys[i] = (fuzz_take_u64(&c.in, 1) & 1)
                  ? take_bound(&c, rows.strategy, 1000)
                  : take_text(&c, NULL);
    }

    err[0] = '\0';
    tsize = ngx_astro_shard_table_size(&rows, err, sizeof(err));

    if (tsize == 0) {
        fuzz_assert(err[0] != '\0');
        fuzz_assert(ngx_astro_shard_table_build(&rows, NULL, 0, err,
                                                sizeof(err)) == NULL);
        return 0;
    }

    fuzz_assert(tsize % 8 == 0);

    buf = malloc(tsize);
    fuzz_assert(buf != NULL);

    err[0] = '\0';
    t = ngx_astro_shard_table_build(&rows, buf, tsize, err, sizeof(err));

    if (t == NULL) {
        fuzz_assert(err[0] != '\0');
        free(buf);
        return 0;
    }

    fuzz_assert(t->size == tsize);
    fuzz_assert(ngx_astro_shard_table_check(t, tsize) == NGX_OK);

    again = malloc(tsize);
    fuzz_assert(again != NULL);
    fuzz_assert(ngx_astro_shard_table_build(&rows, again, tsize, err,
                                            sizeof(err)) != NULL);
    fuzz_assert(memcmp(buf, again, tsize) == 0);
    free(again);

    for (i = 0; i < KEYS; i++) {
        check_lookup(t, &keys[i]);
    }

    /* one byte changed: refused, or safe */

    pos = (size_t) fuzz_take_u64(&c.in, 3) % tsize;
    copy = malloc(tsize);
    fuzz_assert(copy != NULL);
    memcpy(copy, buf, tsize);
    copy[pos] ^= (u_char) (fuzz_take_u64(&c.in, 1) | 1);

    if (ngx_astro_shard_table_check((ngx_astro_shard_table_t *) copy, tsize)
        == NGX_OK)
    {
        for (i = 0; i < KEYS; i++) {
            ngx_int_t  slot;

            (void) ngx_astro_shard_table_lookup(
                (ngx_astro_shard_table_t *) copy, keys[i].data, keys[i].len,
                &slot);
        }
    }

    free(copy);
    free(buf);

    return 0;
}


static void
make_rows(ctx_t *c, ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_row_t *shards, ngx_astro_shard_entry_row_t *entries)
{
    uint64_t                      b;
    ngx_uint_t                    i, slots;
    ngx_astro_shard_row_t        *r;
    ngx_astro_shard_entry_row_t  *e;

    memset(rows, 0, sizeof(ngx_astro_shard_rows_t));
    memset(shards, 0, SHARDS * sizeof(ngx_astro_shard_row_t));
    memset(entries, 0, ENTRIES * sizeof(ngx_astro_shard_entry_row_t));

    b = fuzz_take_u64(&c->in, 1);
    rows->strategy = b % 3 + (b == 255);        /* 3: refused */
    rows->hash = (b >> 2) % 3;
    rows->fill = (b >> 4) & 1;
    rows->version = fuzz_take_u64(&c->in, 1);

    /* few slots mostly: rendezvous scores every shard for every slot */
    slots = (ngx_uint_t) fuzz_take_u64(&c->in, 1);
    rows->slots = (slots == 255) ? 0 : (slots == 254) ? 65537 : slots % 200;

    slots = rows->slots ? rows->slots : NGX_ASTRO_SHARD_DEFAULT_SLOTS;
    rows->shards = shards;
    rows->nshards = fuzz_take_u64(&c->in, 1) % (SHARDS + 1);
    rows->entries = entries;
    rows->nentries = fuzz_take_u64(&c->in, 1) % (ENTRIES + 1);

    for (i = 0; i < rows->nshards; i++) {
        r = &shards[i];
        b = fuzz_take_u64(&c->in, 1);
        r->name = (b & 1) ? take_text(c, NULL) : take_text(c, names[i]);
        r->upstream = (b & 2) ? take_text(c, NULL) : take_text(c, "up");
        r->read = (b & 4) ? take_text(c, "ro") : take_text(c, "");
        r->weight = (b >> 3) & 3;
        r->is_default = (b >> 5) == 1;
    }

    for (i = 0; i < rows->nentries; i++) {
        e = &entries[i];
        b = fuzz_take_u64(&c->in, 1);
        e->owner = take_name(c, rows->nshards);
        e->target = (b & 1) ? take_name(c, rows->nshards) : take_text(c, "");
        e->state = take_text(c, states[(b >> 1) % 7]);

        if (rows->strategy == NGX_ASTRO_SHARD_LIST || (b & 0x80)) {
            e->value = (b & 0x10) ? take_text(c, NULL)
                                  : take_text(c, bounds[(b >> 4) % 10]);
        }

        if (rows->strategy != NGX_ASTRO_SHARD_LIST || (b & 0x40)) {
            e->from = take_bound(c, rows->strategy, slots);
            e->to = take_bound(c, rows->strategy, slots);
        }
    }
}


static ngx_str_t
take_name(ctx_t *c, ngx_uint_t nshards)
{
    uint64_t  b;

    b = fuzz_take_u64(&c->in, 1);

    if (b == 255 || nshards == 0) {
        return take_text(c, NULL);
    }

    return take_text(c, names[b % nshards]);
}


static ngx_str_t
take_bound(ctx_t *c, ngx_uint_t strategy, ngx_uint_t slots)
{
    char      num[24];
    uint64_t  b;

    b = fuzz_take_u64(&c->in, 1);

    if (strategy == NGX_ASTRO_SHARD_HASH && b < 200) {
        snprintf(num, sizeof(num), "%u",
                 (unsigned) (fuzz_take_u64(&c->in, 2) % (slots + 2)));
        return take_text(c, num);
    }

    if (b < 240) {
        return take_text(c, bounds[b % 10]);
    }

    return take_text(c, NULL);
}


/* a fixed text, or (NULL) up to 20 bytes of the input */

static ngx_str_t
take_text(ctx_t *c, const char *fixed)
{
    char           *t;
    size_t          len;
    ngx_str_t       s;
    const uint8_t  *p;

    if (c->ntext == sizeof(c->text) / sizeof(c->text[0])) {
        s.data = (u_char *) "";
        s.len = 0;
        return s;
    }

    t = c->text[c->ntext++];

    if (fixed) {
        len = strlen(fixed);
        memcpy(t, fixed, len);

    } else {
        p = fuzz_take_bytes(&c->in, 20, &len);
        memcpy(t, p, len);
    }

    s.data = (u_char *) t;
    s.len = len;

    return s;
}


static void
check_lookup(ngx_astro_shard_table_t *t, ngx_str_t *key)
{
    int64_t                   v;
    uint16_t                 *se;
    ngx_int_t                 slot;
    ngx_astro_shard_entry_t  *e, *first;

    e = ngx_astro_shard_table_lookup(t, key->data, key->len, &slot);
    first = ngx_astro_shard_table_entries(t);

    if (t->strategy == NGX_ASTRO_SHARD_HASH) {
        fuzz_assert(slot >= 0 && (ngx_uint_t) slot < t->nslots);
        se = (uint16_t *) ((u_char *) t + t->slot_entry);
        fuzz_assert(e == &first[se[slot]]);
        fuzz_assert(e->owner < t->nshards);
        return;
    }

    if (e) {
        fuzz_assert(e >= first && e < first + t->nentries);
        fuzz_assert(e->owner < t->nshards);
    }

    if (t->strategy == NGX_ASTRO_SHARD_RANGE) {
        if (ngx_astro_shard_key_range(t->kind, key->data, key->len, &v)
            != NGX_OK)
        {
            fuzz_assert(e == NULL && slot == NGX_ASTRO_SHARD_BAD_KEY);
            return;
        }

        fuzz_assert(slot == -1);

        if (e) {
            fuzz_assert(e->from_open || e->from <= v);
            fuzz_assert(e->to_open || v < e->to);

        } else {
            /* no entry holds it */
            for (e = first; e < first + t->nentries; e++) {
                fuzz_assert(!((e->from_open || e->from <= v)
                              && (e->to_open || v < e->to)));
            }
        }

        return;
    }

    /* NGX_ASTRO_SHARD_LIST */

    fuzz_assert(slot == -1);

    if (e) {
        fuzz_assert(e->value.len == key->len
                    && memcmp((u_char *) t + e->value.off, key->data,
                              key->len) == 0);

    } else {
        for (e = first; e < first + t->nentries; e++) {
            fuzz_assert(!(e->value.len == key->len
                          && memcmp((u_char *) t + e->value.off, key->data,
                                    key->len) == 0));
        }
    }
}
