
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdarg.h>
#include <stdio.h>
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_hash.h"
#include "ngx_astro_shard_key.h"


/* a value in a message: 64 bytes at most, control bytes as \xNN */
#define NGX_ASTRO_SHARD_QUOTE_MAX   64
#define NGX_ASTRO_SHARD_QUOTE_LEN   (NGX_ASTRO_SHARD_QUOTE_MAX * 4 + 4)

#define ngx_astro_shard_align(n)    (((n) + 7) & ~(size_t) 7)

/* the shard that holds an entry's data: the target once switched */
#define ngx_astro_shard_holder(e)                                             \
    ((e)->state == NGX_ASTRO_SHARD_SWITCHED ? (e)->target : (e)->owner)


typedef struct {
    size_t                       size;
    size_t                       shards;
    size_t                       entries;
    size_t                       slot_entry;
    size_t                       strings;
    ngx_uint_t                   nslots;
    ngx_uint_t                   nentries;
    ngx_uint_t                   kind;
    ngx_uint_t                   default_shard;
} ngx_astro_shard_layout_t;


typedef ngx_int_t (*ngx_astro_shard_cmp_pt)(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *a, ngx_astro_shard_entry_t *b);


static ngx_int_t ngx_astro_shard_scan(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_layout_t *l, u_char *err, size_t errlen);
static ngx_int_t ngx_astro_shard_scan_shards(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_layout_t *l, u_char *err, size_t errlen);
static ngx_int_t ngx_astro_shard_scan_entry(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_entry_row_t *e, ngx_astro_shard_layout_t *l,
    ngx_str_t **first, u_char *err, size_t errlen);
static ngx_int_t ngx_astro_shard_find(ngx_astro_shard_rows_t *rows,
    ngx_str_t *name);
static ngx_int_t ngx_astro_shard_slot_number(ngx_str_t *s, ngx_uint_t max,
    int64_t *n);
static ngx_int_t ngx_astro_shard_build_slots(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_table_t *t, u_char *err, size_t errlen);
static ngx_int_t ngx_astro_shard_build_ranges(ngx_astro_shard_table_t *t,
    u_char *err, size_t errlen);
static ngx_int_t ngx_astro_shard_build_list(ngx_astro_shard_table_t *t,
    u_char *err, size_t errlen);
static void ngx_astro_shard_put(ngx_astro_shard_table_t *t, size_t *pos,
    ngx_str_t *s, ngx_astro_shard_string_t *to);
static ngx_int_t ngx_astro_shard_cmp_range(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *a, ngx_astro_shard_entry_t *b);
static ngx_int_t ngx_astro_shard_cmp_value(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *a, ngx_astro_shard_entry_t *b);
static ngx_int_t ngx_astro_shard_cmp_key(u_char *a, size_t alen, u_char *b,
    size_t blen);
static void ngx_astro_shard_sort(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *e, ngx_uint_t n, ngx_astro_shard_cmp_pt cmp);
static void ngx_astro_shard_sift(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *e, ngx_uint_t i, ngx_uint_t n,
    ngx_astro_shard_cmp_pt cmp);
static ngx_int_t ngx_astro_shard_check_string(ngx_astro_shard_table_t *t,
    ngx_astro_shard_string_t *s, ngx_uint_t empty);
static ngx_int_t ngx_astro_shard_check_entries(ngx_astro_shard_table_t *t);
static char *ngx_astro_shard_quote(char *buf, ngx_str_t *v);
static char *ngx_astro_shard_quote_range(char *buf, ngx_uint_t kind,
    ngx_astro_shard_entry_t *e);
static void ngx_astro_shard_error(u_char *err, size_t errlen,
    const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));


ngx_str_t  ngx_astro_shard_state_names[] = {
    ngx_string("stable"),
    ngx_string("copying"),
    ngx_string("reads_new"),
    ngx_string("frozen"),
    ngx_string("switched")
};


size_t
ngx_astro_shard_table_size(ngx_astro_shard_rows_t *rows, u_char *err,
    size_t errlen)
{
    ngx_astro_shard_layout_t  l;

    if (ngx_astro_shard_scan(rows, &l, err, errlen) != NGX_OK) {
        return 0;
    }

    return l.size;
}


ngx_astro_shard_table_t *
ngx_astro_shard_table_build(ngx_astro_shard_rows_t *rows, u_char *buf,
    size_t size, u_char *err, size_t errlen)
{
    size_t                     pos;
    ngx_int_t                  rc, state;
    ngx_uint_t                 i;
    ngx_astro_shard_row_t     *r;
    ngx_astro_shard_shard_t   *s;
    ngx_astro_shard_entry_t   *e;
    ngx_astro_shard_table_t   *t;
    ngx_astro_shard_layout_t   l;
    ngx_astro_shard_entry_row_t  *er;

    if (ngx_astro_shard_scan(rows, &l, err, errlen) != NGX_OK) {
        return NULL;
    }

    if (size < l.size) {
        ngx_astro_shard_error(err, errlen, "table of %lu bytes in %lu",
                              (unsigned long) l.size, (unsigned long) size);
        return NULL;
    }

    ngx_memzero(buf, l.size);

    t = (ngx_astro_shard_table_t *) buf;
    t->magic = NGX_ASTRO_SHARD_MAGIC;
    t->size = (uint32_t) l.size;
    t->version = rows->version;
    t->strategy = (uint8_t) rows->strategy;
    t->hash = (uint8_t) rows->hash;
    t->fill = (uint8_t) rows->fill;
    t->kind = (uint8_t) l.kind;
    t->nslots = (uint32_t) l.nslots;
    t->nshards = (uint32_t) rows->nshards;
    t->nentries = (uint32_t) l.nentries;
    t->default_shard = (uint32_t) l.default_shard;
    t->shards = (uint32_t) l.shards;
    t->entries = (uint32_t) l.entries;
    t->slot_entry = (uint32_t) l.slot_entry;
    t->strings = (uint32_t) l.strings;

    pos = l.strings;
    s = ngx_astro_shard_table_shards(t);

    for (i = 0; i < rows->nshards; i++) {
        r = &rows->shards[i];
        ngx_astro_shard_put(t, &pos, &r->name, &s[i].name);
        ngx_astro_shard_put(t, &pos, &r->upstream, &s[i].upstream);
        ngx_astro_shard_put(t, &pos, &r->read, &s[i].read);
        s[i].weight = (uint32_t) (r->weight ? r->weight : 1);
    }

    e = ngx_astro_shard_table_entries(t);

    if (rows->strategy == NGX_ASTRO_SHARD_HASH && rows->nentries == 0) {
        for (i = 0; i < l.nentries; i++) {
            e[i].owner = (uint16_t) i;
            e[i].target = NGX_ASTRO_SHARD_NONE;
        }

        rc = ngx_astro_shard_build_slots(rows, t, err, errlen);
        return (rc == NGX_OK) ? t : NULL;
    }

    for (i = 0; i < rows->nentries; i++) {
        er = &rows->entries[i];

        /* the scan found them all */
        e[i].owner = (uint16_t) ngx_astro_shard_find(rows, &er->owner);
        e[i].target = (uint16_t) (er->target.len
                                  ? ngx_astro_shard_find(rows, &er->target)
                                  : NGX_ASTRO_SHARD_NONE);
        state = ngx_astro_shard_state(er->state.data, er->state.len);
        e[i].state = (uint8_t) state;

        switch (rows->strategy) {

        case NGX_ASTRO_SHARD_HASH:
            (void) ngx_astro_shard_slot_number(&er->from, l.nslots,
                                               &e[i].from);
            (void) ngx_astro_shard_slot_number(&er->to, l.nslots, &e[i].to);
            break;

        case NGX_ASTRO_SHARD_RANGE:
            e[i].from_open = (er->from.len == 0);
            e[i].to_open = (er->to.len == 0);

            if (er->from.len) {
                (void) ngx_astro_shard_key_range(l.kind, er->from.data,
                                                 er->from.len, &e[i].from);
            }

            if (er->to.len) {
                (void) ngx_astro_shard_key_range(l.kind, er->to.data,
                                                 er->to.len, &e[i].to);
            }

            break;

        default: /* NGX_ASTRO_SHARD_LIST */
            ngx_astro_shard_put(t, &pos, &er->value, &e[i].value);
        }
    }

    switch (rows->strategy) {

    case NGX_ASTRO_SHARD_HASH:
        rc = ngx_astro_shard_build_slots(rows, t, err, errlen);
        break;

    case NGX_ASTRO_SHARD_RANGE:
        rc = ngx_astro_shard_build_ranges(t, err, errlen);
        break;

    default: /* NGX_ASTRO_SHARD_LIST */
        rc = ngx_astro_shard_build_list(t, err, errlen);
    }

    return (rc == NGX_OK) ? t : NULL;
}


ngx_int_t
ngx_astro_shard_table_check(ngx_astro_shard_table_t *t, size_t size)
{
    uint16_t                 *se;
    uint64_t                  end;
    ngx_uint_t                i;
    ngx_astro_shard_shard_t  *s;

    if (size < sizeof(ngx_astro_shard_table_t)
        || ((uintptr_t) t & 7)
        || t->magic != NGX_ASTRO_SHARD_MAGIC
        || t->size != size
        || t->strategy > NGX_ASTRO_SHARD_LIST
        || t->hash > NGX_ASTRO_SHARD_HASH_MURMUR3
        || t->fill > NGX_ASTRO_SHARD_FILL_RENDEZVOUS
        || t->kind > NGX_ASTRO_SHARD_KIND_NUMBER
        || t->nshards == 0 || t->nshards > NGX_ASTRO_SHARD_MAX_SHARDS
        || t->nentries > NGX_ASTRO_SHARD_MAX_ENTRIES
        || (t->default_shard != NGX_ASTRO_SHARD_NONE
            && t->default_shard >= t->nshards)
        || (t->shards & 7) || (t->entries & 7) || (t->slot_entry & 1))
    {
        return NGX_ERROR;
    }

    end = (uint64_t) t->shards
          + (uint64_t) t->nshards * sizeof(ngx_astro_shard_shard_t);

    if (t->shards < sizeof(ngx_astro_shard_table_t) || end > size) {
        return NGX_ERROR;
    }

    end = (uint64_t) t->entries
          + (uint64_t) t->nentries * sizeof(ngx_astro_shard_entry_t);

    if (t->entries < sizeof(ngx_astro_shard_table_t) || end > size) {
        return NGX_ERROR;
    }

    s = ngx_astro_shard_table_shards(t);

    for (i = 0; i < t->nshards; i++) {
        if (ngx_astro_shard_check_string(t, &s[i].name, 0) != NGX_OK
            || ngx_astro_shard_check_string(t, &s[i].upstream, 0) != NGX_OK
            || ngx_astro_shard_check_string(t, &s[i].read, 1) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (t->strategy == NGX_ASTRO_SHARD_HASH) {
        end = (uint64_t) t->slot_entry + (uint64_t) t->nslots * 2;

        if (t->nslots == 0 || t->nslots > NGX_ASTRO_SHARD_MAX_SLOTS
            || t->nentries == 0 || t->nentries >= NGX_ASTRO_SHARD_NONE
            || t->slot_entry < sizeof(ngx_astro_shard_table_t)
            || end > size)
        {
            return NGX_ERROR;
        }

        se = (uint16_t *) ((u_char *) t + t->slot_entry);

        for (i = 0; i < t->nslots; i++) {
            if (se[i] >= t->nentries) {
                return NGX_ERROR;
            }
        }
    }

    return ngx_astro_shard_check_entries(t);
}


ngx_astro_shard_entry_t *
ngx_astro_shard_table_lookup(ngx_astro_shard_table_t *t, u_char *key,
    size_t len, ngx_int_t *slot)
{
    int64_t                   v;
    uint16_t                 *se;
    ngx_int_t                 rc;
    ngx_uint_t                lo, hi, mid, n;
    ngx_astro_shard_entry_t  *e;

    e = ngx_astro_shard_table_entries(t);
    n = t->nentries;
    *slot = -1;

    if (t->strategy == NGX_ASTRO_SHARD_HASH) {
        *slot = ngx_astro_shard_hash_slot(t->hash, key, len, t->nslots);
        se = (uint16_t *) ((u_char *) t + t->slot_entry);
        return &e[se[*slot]];
    }

    if (t->strategy == NGX_ASTRO_SHARD_RANGE) {
        if (ngx_astro_shard_key_range(t->kind, key, len, &v) != NGX_OK) {
            *slot = NGX_ASTRO_SHARD_BAD_KEY;
            return NULL;
        }

        /* the last entry starting at or before v */

        lo = 0;
        hi = n;

        while (lo < hi) {
            mid = lo + (hi - lo) / 2;

            if (e[mid].from_open || e[mid].from <= v) {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }

        if (lo == 0) {
            return NULL;
        }

        e = &e[lo - 1];

        return (e->to_open || v < e->to) ? e : NULL;
    }

    /* NGX_ASTRO_SHARD_LIST */

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        rc = ngx_astro_shard_cmp_key(key, len,
                                     (u_char *) t + e[mid].value.off,
                                     e[mid].value.len);
        if (rc == 0) {
            return &e[mid];
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


ngx_uint_t
ngx_astro_shard_table_plan_add(ngx_astro_shard_table_t *t, u_char *moved)
{
    uint16_t                 *se;
    uint32_t                  held[NGX_ASTRO_SHARD_MAX_SHARDS];
    uint32_t                  next[NGX_ASTRO_SHARD_MAX_SHARDS];
    ngx_uint_t                i, j, k, n, best;
    ngx_astro_shard_entry_t  *e, *en;

    if (t->strategy != NGX_ASTRO_SHARD_HASH) {
        return 0;
    }

    se = (uint16_t *) ((u_char *) t + t->slot_entry);
    en = ngx_astro_shard_table_entries(t);

    for (j = 0; j < t->nshards; j++) {
        held[j] = 0;
        next[j] = t->nslots;
    }

    for (i = 0; i < t->nslots; i++) {
        held[ngx_astro_shard_holder(&en[se[i]])]++;
    }

    n = t->nslots / (t->nshards + 1);

    for (k = 0; k < n; k++) {
        best = 0;

        for (j = 1; j < t->nshards; j++) {
            if (held[j] > held[best]) {
                best = j;
            }
        }

        /* its highest slot not yet taken: a cursor per shard */

        for (i = next[best]; i > 0; i--) {
            e = &en[se[i - 1]];

            if (ngx_astro_shard_holder(e) == best && !moved[i - 1]) {
                break;
            }
        }

        if (i-- == 0) {
            return k;       /* cannot be: the shard holds held[best] */
        }

        moved[i] = 1;
        next[best] = (uint32_t) i;
        held[best]--;
    }

    return n;
}


ngx_int_t
ngx_astro_shard_state(u_char *name, size_t len)
{
    ngx_uint_t  i;

    if (len == 0) {
        return NGX_ASTRO_SHARD_STABLE;
    }

    for (i = 0; i <= NGX_ASTRO_SHARD_SWITCHED; i++) {
        if (len == ngx_astro_shard_state_names[i].len
            && ngx_memcmp(name, ngx_astro_shard_state_names[i].data, len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* every check of the rows one at a time, and the table's layout */

static ngx_int_t
ngx_astro_shard_scan(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_layout_t *l, u_char *err, size_t errlen)
{
    ngx_str_t   *first;
    ngx_uint_t   i;

    ngx_memzero(l, sizeof(ngx_astro_shard_layout_t));

    if (rows->strategy > NGX_ASTRO_SHARD_LIST) {
        ngx_astro_shard_error(err, errlen, "invalid strategy %lu",
                              (unsigned long) rows->strategy);
        return NGX_ERROR;
    }

    if (rows->strategy == NGX_ASTRO_SHARD_HASH) {
        if (rows->hash > NGX_ASTRO_SHARD_HASH_MURMUR3) {
            ngx_astro_shard_error(err, errlen, "invalid hash %lu",
                                  (unsigned long) rows->hash);
            return NGX_ERROR;
        }

        if (rows->fill > NGX_ASTRO_SHARD_FILL_RENDEZVOUS) {
            ngx_astro_shard_error(err, errlen, "invalid fill %lu",
                                  (unsigned long) rows->fill);
            return NGX_ERROR;
        }

        if (rows->slots > NGX_ASTRO_SHARD_MAX_SLOTS) {
            ngx_astro_shard_error(err, errlen,
                                  "invalid slots %lu, at most %d",
                                  (unsigned long) rows->slots,
                                  NGX_ASTRO_SHARD_MAX_SLOTS);
            return NGX_ERROR;
        }

        l->nslots = rows->slots ? rows->slots : NGX_ASTRO_SHARD_DEFAULT_SLOTS;
    }

    if (rows->nshards == 0) {
        ngx_astro_shard_error(err, errlen, "no shards");
        return NGX_ERROR;
    }

    if (rows->nshards > NGX_ASTRO_SHARD_MAX_SHARDS) {
        ngx_astro_shard_error(err, errlen,
                              "too many shards (%lu), at most %d",
                              (unsigned long) rows->nshards,
                              NGX_ASTRO_SHARD_MAX_SHARDS);
        return NGX_ERROR;
    }

    if (rows->nentries > NGX_ASTRO_SHARD_MAX_ENTRIES
        || (rows->strategy == NGX_ASTRO_SHARD_HASH
            && rows->nentries >= NGX_ASTRO_SHARD_NONE))
    {
        ngx_astro_shard_error(err, errlen, "too many entries (%lu)",
                              (unsigned long) rows->nentries);
        return NGX_ERROR;
    }

    if (ngx_astro_shard_scan_shards(rows, l, err, errlen) != NGX_OK) {
        return NGX_ERROR;
    }

    first = NULL;

    for (i = 0; i < rows->nentries; i++) {
        if (ngx_astro_shard_scan_entry(rows, &rows->entries[i], l, &first,
                                       err, errlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    l->nentries = rows->nentries;

    if (rows->strategy == NGX_ASTRO_SHARD_HASH && rows->nentries == 0) {
        l->nentries = rows->nshards;      /* fill: one entry a shard */
    }

    l->shards = ngx_astro_shard_align(sizeof(ngx_astro_shard_table_t));
    l->entries = l->shards + rows->nshards * sizeof(ngx_astro_shard_shard_t);
    l->slot_entry = l->entries
                    + l->nentries * sizeof(ngx_astro_shard_entry_t);
    l->strings = l->slot_entry + l->nslots * sizeof(uint16_t);
    l->size = ngx_astro_shard_align(l->strings + l->size);

    if (l->size > 0xffffffff) {
        ngx_astro_shard_error(err, errlen, "table too large");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* l->size: the bytes of the strings so far */

static ngx_int_t
ngx_astro_shard_scan_shards(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_layout_t *l, u_char *err, size_t errlen)
{
    char                    q1[NGX_ASTRO_SHARD_QUOTE_LEN];
    char                    q2[NGX_ASTRO_SHARD_QUOTE_LEN];
    ngx_uint_t              i, j;
    ngx_astro_shard_row_t  *r;

    l->default_shard = NGX_ASTRO_SHARD_NONE;

    for (i = 0; i < rows->nshards; i++) {
        r = &rows->shards[i];

        if (r->name.len == 0) {
            ngx_astro_shard_error(err, errlen, "empty shard name");
            return NGX_ERROR;
        }

        if (r->name.len > NGX_ASTRO_SHARD_MAX_NAME) {
            ngx_astro_shard_error(err, errlen, "too long shard name \"%s\"",
                                  ngx_astro_shard_quote(q1, &r->name));
            return NGX_ERROR;
        }

        for (j = 0; j < i; j++) {
            if (r->name.len == rows->shards[j].name.len
                && ngx_memcmp(r->name.data, rows->shards[j].name.data,
                              r->name.len) == 0)
            {
                ngx_astro_shard_error(err, errlen, "duplicate shard \"%s\"",
                                      ngx_astro_shard_quote(q1, &r->name));
                return NGX_ERROR;
            }
        }

        if (r->upstream.len == 0) {
            ngx_astro_shard_error(err, errlen, "shard \"%s\" has no upstream",
                                  ngx_astro_shard_quote(q1, &r->name));
            return NGX_ERROR;
        }

        if (r->upstream.len > NGX_ASTRO_SHARD_MAX_NAME) {
            ngx_astro_shard_error(err, errlen, "too long upstream \"%s\"",
                                  ngx_astro_shard_quote(q1, &r->upstream));
            return NGX_ERROR;
        }

        if (r->read.len > NGX_ASTRO_SHARD_MAX_NAME) {
            ngx_astro_shard_error(err, errlen, "too long upstream \"%s\"",
                                  ngx_astro_shard_quote(q1, &r->read));
            return NGX_ERROR;
        }

        if (r->weight > 0xffffffff) {
            ngx_astro_shard_error(err, errlen,
                                  "invalid weight %lu of shard \"%s\"",
                                  (unsigned long) r->weight,
                                  ngx_astro_shard_quote(q1, &r->name));
            return NGX_ERROR;
        }

        if (r->is_default) {
            if (rows->strategy == NGX_ASTRO_SHARD_HASH) {
                ngx_astro_shard_error(err, errlen,
                                      "default shard \"%s\" in a hash map",
                                      ngx_astro_shard_quote(q1, &r->name));
                return NGX_ERROR;
            }

            if (l->default_shard != NGX_ASTRO_SHARD_NONE) {
                ngx_astro_shard_error(err, errlen,
                              "two default shards \"%s\" and \"%s\"",
                              ngx_astro_shard_quote(q1,
                                  &rows->shards[l->default_shard].name),
                              ngx_astro_shard_quote(q2, &r->name));
                return NGX_ERROR;
            }

            l->default_shard = i;
        }

        l->size += r->name.len + r->upstream.len + r->read.len;
    }

    return NGX_OK;
}


/* *first: the first range value, its kind the map's */

static ngx_int_t
ngx_astro_shard_scan_entry(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_entry_row_t *e, ngx_astro_shard_layout_t *l,
    ngx_str_t **first, u_char *err, size_t errlen)
{
    char        q1[NGX_ASTRO_SHARD_QUOTE_LEN];
    char        q2[NGX_ASTRO_SHARD_QUOTE_LEN];
    int64_t     from, to;
    ngx_int_t   state;
    ngx_str_t  *v;
    ngx_uint_t  i, kind;

    if (ngx_astro_shard_find(rows, &e->owner) == NGX_ERROR) {
        ngx_astro_shard_error(err, errlen, "unknown shard \"%s\"",
                              ngx_astro_shard_quote(q1, &e->owner));
        return NGX_ERROR;
    }

    if (e->target.len && ngx_astro_shard_find(rows, &e->target) == NGX_ERROR)
    {
        ngx_astro_shard_error(err, errlen, "unknown shard \"%s\"",
                              ngx_astro_shard_quote(q1, &e->target));
        return NGX_ERROR;
    }

    state = ngx_astro_shard_state(e->state.data, e->state.len);

    if (state == NGX_ERROR) {
        ngx_astro_shard_error(err, errlen, "invalid state \"%s\"",
                              ngx_astro_shard_quote(q1, &e->state));
        return NGX_ERROR;
    }

    if (state != NGX_ASTRO_SHARD_STABLE && e->target.len == 0) {
        ngx_astro_shard_error(err, errlen,
                              "state \"%s\" without target (owner \"%s\")",
                              ngx_astro_shard_quote(q1, &e->state),
                              ngx_astro_shard_quote(q2, &e->owner));
        return NGX_ERROR;
    }

    if (rows->strategy == NGX_ASTRO_SHARD_LIST) {
        if (e->from.len || e->to.len) {
            ngx_astro_shard_error(err, errlen, "range \"%s\" in a list map",
                                  ngx_astro_shard_quote(q1, e->from.len
                                                        ? &e->from : &e->to));
            return NGX_ERROR;
        }

        if (e->value.len == 0) {
            ngx_astro_shard_error(err, errlen, "empty value (shard \"%s\")",
                                  ngx_astro_shard_quote(q1, &e->owner));
            return NGX_ERROR;
        }

        if (e->value.len > NGX_ASTRO_SHARD_MAX_NAME) {
            ngx_astro_shard_error(err, errlen, "too long value \"%s\"",
                                  ngx_astro_shard_quote(q1, &e->value));
            return NGX_ERROR;
        }

        l->size += e->value.len;
        return NGX_OK;
    }

    if (e->value.len) {
        ngx_astro_shard_error(err, errlen, "value \"%s\" in a %s map",
                              ngx_astro_shard_quote(q1, &e->value),
                              rows->strategy == NGX_ASTRO_SHARD_HASH
                              ? "hash" : "range");
        return NGX_ERROR;
    }

    if (rows->strategy == NGX_ASTRO_SHARD_HASH) {
        if (ngx_astro_shard_slot_number(&e->from, l->nslots - 1, &from)
            != NGX_OK)
        {
            ngx_astro_shard_error(err, errlen, "invalid slot \"%s\"",
                                  ngx_astro_shard_quote(q1, &e->from));
            return NGX_ERROR;
        }

        if (ngx_astro_shard_slot_number(&e->to, l->nslots, &to) != NGX_OK
            || to <= from)
        {
            ngx_astro_shard_error(err, errlen, "invalid slot \"%s\"",
                                  ngx_astro_shard_quote(q1, &e->to));
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /* NGX_ASTRO_SHARD_RANGE */

    from = 0;

    for (i = 0; i < 2; i++) {
        v = i ? &e->to : &e->from;

        if (v->len == 0) {
            continue;
        }

        if (ngx_astro_shard_key_bound(v->data, v->len, &kind, &to) != NGX_OK)
        {
            ngx_astro_shard_error(err, errlen, "invalid range value \"%s\"",
                                  ngx_astro_shard_quote(q1, v));
            return NGX_ERROR;
        }

        if (*first == NULL) {
            *first = v;
            l->kind = kind;

        } else if (kind != l->kind) {
            ngx_astro_shard_error(err, errlen,
                                  "range values of two kinds \"%s\" and \"%s\"",
                                  ngx_astro_shard_quote(q1, *first),
                                  ngx_astro_shard_quote(q2, v));
            return NGX_ERROR;
        }

        if (i == 0) {
            from = to;

        } else if (e->from.len && to <= from) {
            ngx_astro_shard_error(err, errlen,
                                  "invalid range \"[%s, %s)\"",
                                  ngx_astro_shard_quote(q1, &e->from),
                                  ngx_astro_shard_quote(q2, &e->to));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_astro_shard_find(ngx_astro_shard_rows_t *rows, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < rows->nshards; i++) {
        if (name->len == rows->shards[i].name.len
            && ngx_memcmp(name->data, rows->shards[i].name.data, name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* a slot number 0..max, digits only */

static ngx_int_t
ngx_astro_shard_slot_number(ngx_str_t *s, ngx_uint_t max, int64_t *n)
{
    if (s->len == 0 || s->data[0] == '-'
        || ngx_astro_shard_key_number(s->data, s->len, n) != NGX_OK
        || *n > (int64_t) max)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_astro_shard_build_slots(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_table_t *t, u_char *err, size_t errlen)
{
    double                    score, best;
    int64_t                   i;
    uint16_t                 *se;
    ngx_str_t                 name;
    ngx_uint_t                j, n, slot;
    ngx_astro_shard_shard_t  *s;
    ngx_astro_shard_entry_t  *e;

    se = (uint16_t *) ((u_char *) t + t->slot_entry);
    s = ngx_astro_shard_table_shards(t);
    e = ngx_astro_shard_table_entries(t);

    if (rows->nentries == 0) {
        for (slot = 0; slot < t->nslots; slot++) {

            if (t->fill == NGX_ASTRO_SHARD_FILL_MODULO) {
                se[slot] = (uint16_t) (slot % t->nshards);

            } else {
                best = -1;

                for (j = 0; j < t->nshards; j++) {
                    ngx_astro_shard_table_string(t, &s[j].name, &name);
                    score = ngx_astro_shard_hash_score(name.data, name.len,
                                                       slot, s[j].weight);
                    if (score > best) {
                        best = score;
                        se[slot] = (uint16_t) j;
                    }
                }
            }

            s[se[slot]].slots++;
        }

        return NGX_OK;
    }

    for (slot = 0; slot < t->nslots; slot++) {
        se[slot] = NGX_ASTRO_SHARD_NONE;
    }

    for (j = 0; j < t->nentries; j++) {
        for (i = e[j].from; i < e[j].to; i++) {
            if (se[i] != NGX_ASTRO_SHARD_NONE) {
                ngx_astro_shard_error(err, errlen, "slot %lld in two entries",
                                      (long long) i);
                return NGX_ERROR;
            }

            se[i] = (uint16_t) j;
        }

        s[e[j].owner].slots += e[j].to - e[j].from;
    }

    for (n = 0; n < t->nslots; n++) {
        if (se[n] == NGX_ASTRO_SHARD_NONE) {
            ngx_astro_shard_error(err, errlen, "slot %lu has no shard",
                                  (unsigned long) n);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_astro_shard_build_ranges(ngx_astro_shard_table_t *t, u_char *err,
    size_t errlen)
{
    char                      q1[NGX_ASTRO_SHARD_QUOTE_LEN];
    char                      q2[NGX_ASTRO_SHARD_QUOTE_LEN];
    ngx_uint_t                i;
    ngx_astro_shard_entry_t  *e;

    e = ngx_astro_shard_table_entries(t);

    ngx_astro_shard_sort(t, e, t->nentries, ngx_astro_shard_cmp_range);

    for (i = 1; i < t->nentries; i++) {
        if (e[i - 1].to_open || e[i].from_open || e[i - 1].to > e[i].from) {
            ngx_astro_shard_error(err, errlen,
                                  "overlapping ranges \"%s\" and \"%s\"",
                                  ngx_astro_shard_quote_range(q1, t->kind,
                                                              &e[i - 1]),
                                  ngx_astro_shard_quote_range(q2, t->kind,
                                                              &e[i]));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_astro_shard_build_list(ngx_astro_shard_table_t *t, u_char *err,
    size_t errlen)
{
    char                      q1[NGX_ASTRO_SHARD_QUOTE_LEN];
    ngx_str_t                 v;
    ngx_uint_t                i;
    ngx_astro_shard_entry_t  *e;

    e = ngx_astro_shard_table_entries(t);

    ngx_astro_shard_sort(t, e, t->nentries, ngx_astro_shard_cmp_value);

    for (i = 1; i < t->nentries; i++) {
        if (ngx_astro_shard_cmp_value(t, &e[i - 1], &e[i]) == 0) {
            ngx_astro_shard_table_string(t, &e[i].value, &v);
            ngx_astro_shard_error(err, errlen, "duplicate value \"%s\"",
                                  ngx_astro_shard_quote(q1, &v));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_astro_shard_put(ngx_astro_shard_table_t *t, size_t *pos, ngx_str_t *s,
    ngx_astro_shard_string_t *to)
{
    to->off = (uint32_t) *pos;
    to->len = (uint32_t) s->len;

    if (s->len) {
        ngx_memcpy((u_char *) t + *pos, s->data, s->len);
    }

    *pos += s->len;
}


/* ranges by their start, the open one first, then by their end */

static ngx_int_t
ngx_astro_shard_cmp_range(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *a, ngx_astro_shard_entry_t *b)
{
    (void) t;

    if (a->from_open != b->from_open) {
        return (ngx_int_t) b->from_open - (ngx_int_t) a->from_open;
    }

    if (!a->from_open && a->from != b->from) {
        return (a->from > b->from) - (a->from < b->from);
    }

    if (a->to_open != b->to_open) {
        return (ngx_int_t) a->to_open - (ngx_int_t) b->to_open;
    }

    return a->to_open ? 0 : (a->to > b->to) - (a->to < b->to);
}


static ngx_int_t
ngx_astro_shard_cmp_value(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *a, ngx_astro_shard_entry_t *b)
{
    return ngx_astro_shard_cmp_key((u_char *) t + a->value.off, a->value.len,
                                   (u_char *) t + b->value.off, b->value.len);
}


/* bytes as unsigned, a prefix first */

static ngx_int_t
ngx_astro_shard_cmp_key(u_char *a, size_t alen, u_char *b, size_t blen)
{
    int  rc;

    rc = (alen && blen) ? ngx_memcmp(a, b, ngx_min(alen, blen)) : 0;

    if (rc) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


/* heapsort: no memory, no recursion, a comparison that needs the table */

static void
ngx_astro_shard_sort(ngx_astro_shard_table_t *t, ngx_astro_shard_entry_t *e,
    ngx_uint_t n, ngx_astro_shard_cmp_pt cmp)
{
    ngx_uint_t               i;
    ngx_astro_shard_entry_t  tmp;

    if (n < 2) {
        return;
    }

    for (i = n / 2; i-- > 0; /* void */) {
        ngx_astro_shard_sift(t, e, i, n, cmp);
    }

    for (i = n - 1; i > 0; i--) {
        tmp = e[0];
        e[0] = e[i];
        e[i] = tmp;
        ngx_astro_shard_sift(t, e, 0, i, cmp);
    }
}


static void
ngx_astro_shard_sift(ngx_astro_shard_table_t *t, ngx_astro_shard_entry_t *e,
    ngx_uint_t i, ngx_uint_t n, ngx_astro_shard_cmp_pt cmp)
{
    ngx_uint_t               c;
    ngx_astro_shard_entry_t  tmp;

    for ( ;; ) {
        c = 2 * i + 1;

        if (c >= n) {
            return;
        }

        if (c + 1 < n && cmp(t, &e[c], &e[c + 1]) < 0) {
            c++;
        }

        if (cmp(t, &e[i], &e[c]) >= 0) {
            return;
        }

        tmp = e[i];
        e[i] = e[c];
        e[c] = tmp;
        i = c;
    }
}


static ngx_int_t
ngx_astro_shard_check_string(ngx_astro_shard_table_t *t,
    ngx_astro_shard_string_t *s, ngx_uint_t empty)
{
    if ((s->len == 0 && !empty)
        || s->len > NGX_ASTRO_SHARD_MAX_NAME
        || s->off < t->strings
        || (uint64_t) s->off + s->len > t->size)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_astro_shard_check_entries(ngx_astro_shard_table_t *t)
{
    ngx_uint_t                i;
    ngx_astro_shard_entry_t  *e;

    e = ngx_astro_shard_table_entries(t);

    for (i = 0; i < t->nentries; i++) {
        if (e[i].owner >= t->nshards
            || (e[i].target != NGX_ASTRO_SHARD_NONE
                && e[i].target >= t->nshards)
            || e[i].state > NGX_ASTRO_SHARD_SWITCHED
            || (e[i].state != NGX_ASTRO_SHARD_STABLE
                && e[i].target == NGX_ASTRO_SHARD_NONE))
        {
            return NGX_ERROR;
        }

        if (t->strategy == NGX_ASTRO_SHARD_LIST) {
            if (ngx_astro_shard_check_string(t, &e[i].value, 0) != NGX_OK
                || (i > 0
                    && ngx_astro_shard_cmp_value(t, &e[i - 1], &e[i]) >= 0))
            {
                return NGX_ERROR;
            }

        } else if (t->strategy == NGX_ASTRO_SHARD_RANGE) {
            if ((!e[i].from_open && !e[i].to_open && e[i].from >= e[i].to)
                || (i > 0 && (e[i - 1].to_open || e[i].from_open
                              || e[i - 1].to > e[i].from)))
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static char *
ngx_astro_shard_quote(char *buf, ngx_str_t *v)
{
    char        *p;
    size_t       i, n;
    static char  hex[] = "0123456789abcdef";

    p = buf;
    n = ngx_min(v->len, NGX_ASTRO_SHARD_QUOTE_MAX);

    for (i = 0; i < n; i++) {
        if (v->data[i] < 0x20 || v->data[i] == 0x7f || v->data[i] == '"'
            || v->data[i] == '\\')
        {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[v->data[i] >> 4];
            *p++ = hex[v->data[i] & 0xf];

        } else {
            *p++ = v->data[i];
        }
    }

    if (n < v->len) {
        *p++ = '.';
        *p++ = '.';
        *p++ = '.';
    }

    *p = '\0';

    return buf;
}


static char *
ngx_astro_shard_quote_range(char *buf, ngx_uint_t kind,
    ngx_astro_shard_entry_t *e)
{
    u_char  *p;

    p = (u_char *) buf;
    *p++ = '[';

    if (!e->from_open) {
        p += ngx_astro_shard_key_print(kind, e->from, p);
    }

    *p++ = ',';
    *p++ = ' ';

    if (!e->to_open) {
        p += ngx_astro_shard_key_print(kind, e->to, p);
    }

    *p++ = ')';
    *p = '\0';

    return buf;
}


static void
ngx_astro_shard_error(u_char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf((char *) err, errlen, fmt, args);
    va_end(args);
}
