
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_hash.h"
#include "ngx_astro_shard_key.h"


/*
 * The reading side of a table, what workers and tools do with one built
 * elsewhere: its check once copied, the lookup of a key, the plan for
 * adding a shard, the states' names.
 */


/* the shard that holds an entry's data: the target once switched */
#define ngx_astro_shard_holder(e)                                             \
    ((e)->state == NGX_ASTRO_SHARD_SWITCHED ? (e)->target : (e)->owner)


static ngx_int_t ngx_astro_shard_cmp_key(u_char *a, size_t alen, u_char *b,
    size_t blen);
static ngx_int_t ngx_astro_shard_check_string(ngx_astro_shard_table_t *t,
    ngx_astro_shard_string_t *s, ngx_uint_t empty);
static ngx_int_t ngx_astro_shard_check_entries(ngx_astro_shard_table_t *t);


ngx_str_t  ngx_astro_shard_state_names[] = {
    ngx_string("stable"),
    ngx_string("copying"),
    ngx_string("reads_new"),
    ngx_string("frozen"),
    ngx_string("switched")
};


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


ngx_int_t
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
                || (i > 0
                    && !ngx_astro_shard_range_before(&e[i - 1], &e[i])))
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}
