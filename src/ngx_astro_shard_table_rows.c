
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdarg.h>
#include <stdio.h>
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_table_rows.h"
#include "ngx_astro_shard_key.h"


/*
 * The checks of the rows, one at a time, in nginx's words naming the
 * value, and the layout of the table they make (for
 * src/ngx_astro_shard_table.c, the builder).
 */


#define ngx_astro_shard_align(n)    (((n) + 7) & ~(size_t) 7)


static ngx_int_t ngx_astro_shard_scan_shards(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_layout_t *l, u_char *err, size_t errlen);
static ngx_int_t ngx_astro_shard_scan_entry(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_entry_row_t *e, ngx_astro_shard_layout_t *l,
    ngx_str_t **first, u_char *err, size_t errlen);


/* every check of the rows one at a time, and the table's layout */

ngx_int_t
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


ngx_int_t
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

ngx_int_t
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


char *
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


void
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
