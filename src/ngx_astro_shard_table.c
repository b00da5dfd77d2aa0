
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_table_rows.h"
#include "ngx_astro_shard_hash.h"
#include "ngx_astro_shard_key.h"


/*
 * The builder: the table the rows make, once ngx_astro_shard_scan()
 * (src/ngx_astro_shard_table_rows.c) has checked them one at a time and
 * laid the table out; what needs the rows together (slots in two entries
 * or in none, overlapping ranges, a list value twice) is found here.
 */


typedef ngx_int_t (*ngx_astro_shard_cmp_pt)(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *a, ngx_astro_shard_entry_t *b);


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
static void ngx_astro_shard_sort(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *e, ngx_uint_t n, ngx_astro_shard_cmp_pt cmp);
static void ngx_astro_shard_sift(ngx_astro_shard_table_t *t,
    ngx_astro_shard_entry_t *e, ngx_uint_t i, ngx_uint_t n,
    ngx_astro_shard_cmp_pt cmp);
static char *ngx_astro_shard_quote_range(char *buf, ngx_uint_t kind,
    ngx_astro_shard_entry_t *e);


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
        if (!ngx_astro_shard_range_before(&e[i - 1], &e[i])) {
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
