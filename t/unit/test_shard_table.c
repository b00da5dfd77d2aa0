
/*
 * Copyright (C) astro developers
 */


/*
 * The shard map's table (src/ngx_astro_shard_table.c): each strategy
 * built from rows and looked up at its edges, every error of the rows
 * in its words, and tables that the check refuses.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_shard_table.h"
#include "ngx_astro_shard_hash.h"


#define S(s)  { sizeof(s) - 1, (u_char *) s }
#define STR(s)  ((ngx_str_t) S(s))

#define SHARDS_MAX  1100
#define ENTRIES_MAX 70000


static ngx_astro_shard_row_t        shards[SHARDS_MAX];
static ngx_astro_shard_entry_row_t  entries[ENTRIES_MAX];
static ngx_astro_shard_rows_t       rows;
static u_char                       err[256];


static void
reset(ngx_uint_t strategy)
{
    memset(shards, 0, sizeof(shards));
    memset(entries, 0, sizeof(entries));
    memset(&rows, 0, sizeof(rows));
    rows.strategy = strategy;
    rows.shards = shards;
    rows.entries = entries;
    err[0] = '\0';
}


static void
shard(const char *name, const char *upstream)
{
    ngx_astro_shard_row_t  *r;

    r = &shards[rows.nshards++];
    r->name.data = (u_char *) name;
    r->name.len = strlen(name);
    r->upstream.data = (u_char *) upstream;
    r->upstream.len = strlen(upstream);
}


static ngx_str_t
str(const char *s)
{
    ngx_str_t  v;

    v.data = (u_char *) (s ? s : "");
    v.len = s ? strlen(s) : 0;

    return v;
}


static void
entry(const char *from, const char *to, const char *value, const char *owner,
    const char *target, const char *state)
{
    ngx_astro_shard_entry_row_t  *e;

    e = &entries[rows.nentries++];
    e->from = str(from);
    e->to = str(to);
    e->value = str(value);
    e->owner = str(owner);
    e->target = str(target);
    e->state = str(state);
}


/* the table built, checked and returned (free() it) */

static ngx_astro_shard_table_t *
build(void)
{
    size_t                    size;
    u_char                   *buf;
    ngx_astro_shard_table_t  *t;

    size = ngx_astro_shard_table_size(&rows, err, sizeof(err));
    if (size == 0) {
        fail_msg("size: %s", err);
    }

    buf = malloc(size);
    assert_non_null(buf);

    t = ngx_astro_shard_table_build(&rows, buf, size, err, sizeof(err));
    if (t == NULL) {
        fail_msg("build: %s", err);
    }

    assert_int_equal(t->size, size);
    assert_int_equal(ngx_astro_shard_table_check(t, size), NGX_OK);

    return t;
}


/* the rows refused, by the size or by the build, with this message */

static void
refused(const char *msg)
{
    size_t  size;
    u_char  *buf;

    size = ngx_astro_shard_table_size(&rows, err, sizeof(err));

    if (size) {
        buf = malloc(size);
        assert_non_null(buf);
        memset(err, 0, sizeof(err));
        assert_null(ngx_astro_shard_table_build(&rows, buf, size, err,
                                                sizeof(err)));
        free(buf);
    }

    assert_string_equal((char *) err, msg);
}


static const char *
shard_of(ngx_astro_shard_table_t *t, const char *key, ngx_int_t *slot)
{
    static char               name[NGX_ASTRO_SHARD_MAX_NAME + 1];
    ngx_str_t                 s;
    ngx_int_t                 sl;
    ngx_astro_shard_entry_t  *e;
    ngx_astro_shard_shard_t  *sh;

    e = ngx_astro_shard_table_lookup(t, (u_char *) key, strlen(key), &sl);

    if (slot) {
        *slot = sl;
    }

    if (e == NULL) {
        return NULL;
    }

    sh = ngx_astro_shard_table_shards(t);
    ngx_astro_shard_table_string(t, &sh[e->owner].name, &s);
    memcpy(name, s.data, s.len);
    name[s.len] = '\0';

    return name;
}


static void
test_hash_fill_modulo(void **state)
{
    ngx_int_t                 slot;
    ngx_uint_t                i;
    ngx_astro_shard_table_t  *t;
    ngx_astro_shard_shard_t  *s;
    ngx_astro_shard_entry_t  *e;
    uint16_t                 *se;

    (void) state;

    reset(NGX_ASTRO_SHARD_HASH);
    shard("s0", "u0");
    shard("s1", "u1");
    shard("s2", "u2");
    rows.slots = 12;
    rows.version = 7;

    t = build();
    assert_int_equal(t->magic, NGX_ASTRO_SHARD_MAGIC);
    assert_int_equal(t->version, 7);
    assert_int_equal(t->nslots, 12);
    assert_int_equal(t->nentries, 3);
    assert_int_equal(t->default_shard, NGX_ASTRO_SHARD_NONE);

    se = (uint16_t *) ((u_char *) t + t->slot_entry);
    e = ngx_astro_shard_table_entries(t);
    s = ngx_astro_shard_table_shards(t);

    for (i = 0; i < 12; i++) {
        assert_int_equal(e[se[i]].owner, i % 3);
        assert_int_equal(e[se[i]].state, NGX_ASTRO_SHARD_STABLE);
        assert_int_equal(e[se[i]].target, NGX_ASTRO_SHARD_NONE);
    }

    for (i = 0; i < 3; i++) {
        assert_int_equal(s[i].slots, 4);
        assert_int_equal(s[i].weight, 1);
    }

    /* "user-7": |-836031819| = 836031819, % 12 = 3, shard 0 */
    assert_string_equal(shard_of(t, "user-7", &slot), "s0");
    assert_int_equal(slot, 836031819 % 12);
    /* "1": 49 % 12 = 1 */
    assert_string_equal(shard_of(t, "1", &slot), "s1");
    assert_int_equal(slot, 1);
    /* the empty key: hash 0 (the caller refuses it before) */
    assert_string_equal(shard_of(t, "", &slot), "s0");
    assert_int_equal(slot, 0);
    free(t);

    /* the default slots */
    rows.slots = 0;
    t = build();
    assert_int_equal(t->nslots, NGX_ASTRO_SHARD_DEFAULT_SLOTS);
    assert_string_equal(shard_of(t, "polygenelubricants", &slot), "s0");
    assert_int_equal(slot, 0);              /* 2^31 % 16384 */
    free(t);

    /* the other hashes */
    rows.slots = 1000;
    rows.hash = NGX_ASTRO_SHARD_HASH_CRC32;
    t = build();
    shard_of(t, "123456789", &slot);
    assert_int_equal(slot, 0xcbf43926 % 1000);
    free(t);

    rows.hash = NGX_ASTRO_SHARD_HASH_MURMUR3;
    t = build();
    shard_of(t, "hello", &slot);
    assert_int_equal(slot, 0x248bfa47 % 1000);
    free(t);
}


static void
test_hash_fill_rendezvous(void **state)
{
    ngx_uint_t                i, moved, j;
    uint16_t                 *se, *se2;
    ngx_astro_shard_table_t  *t, *t2;
    ngx_astro_shard_shard_t  *s;
    ngx_astro_shard_entry_t  *e, *e2;

    (void) state;

    reset(NGX_ASTRO_SHARD_HASH);
    rows.fill = NGX_ASTRO_SHARD_FILL_RENDEZVOUS;
    shard("a", "u");
    shard("b", "u");
    shard("c", "u");
    shard("d", "u");
    shards[3].weight = 2;

    t = build();
    s = ngx_astro_shard_table_shards(t);

    /* about 1/5 each, d 2/5 */
    for (i = 0; i < 3; i++) {
        assert_in_range(s[i].slots, 16384 / 5 - 400, 16384 / 5 + 400);
    }

    assert_in_range(s[3].slots, 2 * 16384 / 5 - 500, 2 * 16384 / 5 + 500);
    assert_int_equal(s[0].slots + s[1].slots + s[2].slots + s[3].slots,
                     16384);

    /* a fifth shard takes slots from the others only */
    shard("e", "u");
    t2 = build();

    se = (uint16_t *) ((u_char *) t + t->slot_entry);
    se2 = (uint16_t *) ((u_char *) t2 + t2->slot_entry);
    e = ngx_astro_shard_table_entries(t);
    e2 = ngx_astro_shard_table_entries(t2);
    moved = 0;

    for (i = 0; i < 16384; i++) {
        j = e2[se2[i]].owner;

        if (j != e[se[i]].owner) {
            assert_int_equal(j, 4);
            moved++;
        }
    }

    assert_int_equal(moved, ngx_astro_shard_table_shards(t2)[4].slots);
    assert_in_range(moved, 16384 / 6 - 400, 16384 / 6 + 400);

    free(t);
    free(t2);
}


static void
test_hash_entries(void **state)
{
    ngx_int_t                 slot;
    ngx_astro_shard_table_t  *t;
    ngx_astro_shard_entry_t  *e;
    ngx_astro_shard_shard_t  *s;

    (void) state;

    reset(NGX_ASTRO_SHARD_HASH);
    rows.slots = 100;
    shard("s1", "u1");
    shard("s2", "u2");
    entry("50", "100", NULL, "s2", NULL, NULL);
    entry("0", "49", NULL, "s1", NULL, "stable");
    entry("49", "50", NULL, "s1", "s2", "frozen");

    t = build();
    assert_int_equal(t->nentries, 3);
    s = ngx_astro_shard_table_shards(t);
    assert_int_equal(s[0].slots, 50);
    assert_int_equal(s[1].slots, 50);

    /* "1": slot 49 */
    e = ngx_astro_shard_table_lookup(t, (u_char *) "1", 1, &slot);
    assert_int_equal(slot, 49);
    assert_int_equal(e->owner, 0);
    assert_int_equal(e->target, 1);
    assert_int_equal(e->state, NGX_ASTRO_SHARD_FROZEN);
    assert_int_equal(e->from, 49);
    assert_int_equal(e->to, 50);
    free(t);

    /* every state by name */
    reset(NGX_ASTRO_SHARD_HASH);
    rows.slots = 5;
    shard("s1", "u1");
    shard("s2", "u2");
    entry("0", "1", NULL, "s1", "s2", "stable");
    entry("1", "2", NULL, "s1", "s2", "copying");
    entry("2", "3", NULL, "s1", "s2", "reads_new");
    entry("3", "4", NULL, "s1", "s2", "frozen");
    entry("4", "5", NULL, "s1", "s2", "switched");
    t = build();
    e = ngx_astro_shard_table_entries(t);

    for (slot = 0; slot < 5; slot++) {
        assert_int_equal(e[slot].state, slot);
    }

    free(t);
}


static void
test_hash_errors(void **state)
{
    ngx_uint_t  i;
    static char name[SHARDS_MAX][8];

    (void) state;

    reset(NGX_ASTRO_SHARD_HASH);
    refused("no shards");

    shard("s1", "u1");
    shard("s1", "u2");
    refused("duplicate shard \"s1\"");

    reset(NGX_ASTRO_SHARD_HASH);
    shard("", "u1");
    refused("empty shard name");

    reset(NGX_ASTRO_SHARD_HASH);
    shard("s1", "");
    refused("shard \"s1\" has no upstream");

    reset(NGX_ASTRO_SHARD_HASH);
    shard("s1", "u1");
    shards[0].is_default = 1;
    refused("default shard \"s1\" in a hash map");

    reset(NGX_ASTRO_SHARD_HASH);
    shard("s1", "u1");
    rows.slots = 65537;
    refused("invalid slots 65537, at most 65536");
    rows.slots = 65536;
    free(build());
    rows.slots = 4;
    rows.hash = 3;
    refused("invalid hash 3");
    rows.hash = 0;
    rows.fill = 2;
    refused("invalid fill 2");
    rows.fill = 0;
    rows.strategy = 3;
    refused("invalid strategy 3");
    rows.strategy = NGX_ASTRO_SHARD_HASH;

    entry("0", "4", NULL, "x", NULL, NULL);
    refused("unknown shard \"x\"");

    rows.nentries = 0;
    entry("0", "4", NULL, "s1", "x", "copying");
    refused("unknown shard \"x\"");

    rows.nentries = 0;
    entry("0", "4", NULL, "s1", NULL, "copied");
    refused("invalid state \"copied\"");

    rows.nentries = 0;
    entry("0", "4", NULL, "s1", NULL, "copying");
    refused("state \"copying\" without target (owner \"s1\")");

    rows.nentries = 0;
    entry("0", "4", "v", "s1", NULL, NULL);
    refused("value \"v\" in a hash map");

    rows.nentries = 0;
    entry("0", "5", NULL, "s1", NULL, NULL);
    refused("invalid slot \"5\"");

    rows.nentries = 0;
    entry("4", "4", NULL, "s1", NULL, NULL);
    refused("invalid slot \"4\"");

    rows.nentries = 0;
    entry("-1", "4", NULL, "s1", NULL, NULL);
    refused("invalid slot \"-1\"");

    rows.nentries = 0;
    entry("", "4", NULL, "s1", NULL, NULL);
    refused("invalid slot \"\"");

    rows.nentries = 0;
    entry("0", "x", NULL, "s1", NULL, NULL);
    refused("invalid slot \"x\"");

    rows.nentries = 0;
    entry("0", "2", NULL, "s1", NULL, NULL);
    entry("3", "4", NULL, "s1", NULL, NULL);
    refused("slot 2 has no shard");

    rows.nentries = 0;
    entry("0", "3", NULL, "s1", NULL, NULL);
    entry("2", "4", NULL, "s1", NULL, NULL);
    refused("slot 2 in two entries");

    /* a value shown escaped and cut */
    rows.nentries = 0;
    entry("0", "4", NULL, "a\"b\n", NULL, NULL);
    refused("unknown shard \"a\\x22b\\x0a\"");

    rows.nentries = 0;
    entry("0", "4", NULL,
          "0123456789012345678901234567890123456789012345678901234567890123"
          "45", NULL, NULL);
    refused("unknown shard \"0123456789012345678901234567890123456789012345"
            "678901234567890123...\"");

    /* too many */
    reset(NGX_ASTRO_SHARD_HASH);

    for (i = 0; i < 1025; i++) {
        snprintf(name[i], sizeof(name[i]), "s%u", (unsigned) i);
        shard(name[i], "u");
    }

    refused("too many shards (1025), at most 1024");
    rows.nshards = 1024;
    rows.slots = 2048;
    free(build());

    reset(NGX_ASTRO_SHARD_HASH);
    shard("s1", "u1");
    rows.slots = 65536;

    for (i = 0; i < 65535; i++) {
        entry("0", "1", NULL, "s1", NULL, NULL);
    }

    refused("too many entries (65535)");
}


static void
test_range(void **state)
{
    ngx_int_t                 slot;
    ngx_astro_shard_table_t  *t;
    ngx_astro_shard_entry_t  *e;

    (void) state;

    reset(NGX_ASTRO_SHARD_RANGE);
    shard("old", "u1");
    shard("y2024", "u2");
    shard("y2025", "u3");
    shard("rest", "u4");
    shards[3].is_default = 1;
    entry("2025-01-01", "", NULL, "y2025", NULL, NULL);
    entry("", "2024-01-01", NULL, "old", NULL, NULL);
    entry("2024-01-01", "2024-07-01", NULL, "y2024", NULL, NULL);
    entry("2024-07-01", "2024-12-31", NULL, "y2024", "y2025", "reads_new");

    t = build();
    assert_int_equal(t->kind, NGX_ASTRO_SHARD_KIND_DATE);
    assert_int_equal(t->default_shard, 3);
    e = ngx_astro_shard_table_entries(t);
    assert_true(e[0].from_open);
    assert_int_equal(e[0].to, 20240101);
    assert_int_equal(e[1].from, 20240101);
    assert_int_equal(e[3].from, 20250101);
    assert_true(e[3].to_open);

    assert_string_equal(shard_of(t, "0001-01-01", &slot), "old");
    assert_int_equal(slot, -1);
    assert_string_equal(shard_of(t, "2023-12-31", NULL), "old");
    assert_string_equal(shard_of(t, "2024-01-01", NULL), "y2024");
    assert_string_equal(shard_of(t, "2024-06-30T23:59:59Z", NULL), "y2024");
    assert_string_equal(shard_of(t, "2024-07-01", NULL), "y2024");
    assert_int_equal(ngx_astro_shard_table_lookup(t, (u_char *) "2024-07-01",
                                                  10, &slot)->state,
                     NGX_ASTRO_SHARD_READS_NEW);
    assert_string_equal(shard_of(t, "2024-12-30", NULL), "y2024");
    /* the gap: no entry, the default is the caller's */
    assert_null(shard_of(t, "2024-12-31", &slot));
    assert_int_equal(slot, -1);
    assert_string_equal(shard_of(t, "2025-01-01", NULL), "y2025");
    assert_string_equal(shard_of(t, "9999-12-31", NULL), "y2025");

    /* not a date */
    assert_null(shard_of(t, "2024-02-30", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    assert_null(shard_of(t, "20240101", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    assert_null(shard_of(t, "", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    free(t);

    /* numbers, open both ways */
    reset(NGX_ASTRO_SHARD_RANGE);
    shard("neg", "u1");
    shard("low", "u2");
    shard("high", "u3");
    entry("", "0", NULL, "neg", NULL, NULL);
    entry("1000", "", NULL, "high", NULL, NULL);
    entry("0", "1000", NULL, "low", NULL, NULL);

    t = build();
    assert_int_equal(t->kind, NGX_ASTRO_SHARD_KIND_NUMBER);
    assert_int_equal(t->default_shard, NGX_ASTRO_SHARD_NONE);
    assert_string_equal(shard_of(t, "-9223372036854775808", NULL), "neg");
    assert_string_equal(shard_of(t, "-1", NULL), "neg");
    assert_string_equal(shard_of(t, "0", NULL), "low");
    assert_string_equal(shard_of(t, "-0", NULL), "low");
    assert_string_equal(shard_of(t, "999", NULL), "low");
    assert_string_equal(shard_of(t, "1000", NULL), "high");
    assert_string_equal(shard_of(t, "9223372036854775807", NULL), "high");
    assert_null(shard_of(t, "9223372036854775808", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    assert_null(shard_of(t, "12a", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    assert_null(shard_of(t, "2024-01-01", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    free(t);

    /* one range open both ways; no entries but a default */
    reset(NGX_ASTRO_SHARD_RANGE);
    shard("all", "u1");
    entry(NULL, NULL, NULL, "all", NULL, NULL);
    t = build();
    assert_int_equal(t->kind, NGX_ASTRO_SHARD_KIND_NONE);
    assert_null(shard_of(t, "5", &slot));
    assert_int_equal(slot, NGX_ASTRO_SHARD_BAD_KEY);
    free(t);

    rows.nentries = 0;
    shards[0].is_default = 1;
    t = build();
    assert_int_equal(t->default_shard, 0);
    assert_null(shard_of(t, "5", &slot));
    free(t);
}


static void
test_range_errors(void **state)
{
    (void) state;

    reset(NGX_ASTRO_SHARD_RANGE);
    shard("a", "u1");
    shard("b", "u2");
    entry("2024-01-01", "2024-02-01", NULL, "a", NULL, NULL);
    entry("2024-01-15", "2024-03-01", NULL, "b", NULL, NULL);
    refused("overlapping ranges \"[2024-01-01, 2024-02-01)\" and "
            "\"[2024-01-15, 2024-03-01)\"");

    rows.nentries = 0;
    entry("", "5", NULL, "a", NULL, NULL);
    entry("", "10", NULL, "b", NULL, NULL);
    refused("overlapping ranges \"[, 5)\" and \"[, 10)\"");

    rows.nentries = 0;
    entry("5", "", NULL, "a", NULL, NULL);
    entry("-3", "7", NULL, "b", NULL, NULL);
    refused("overlapping ranges \"[-3, 7)\" and \"[5, )\"");

    /* touching is not overlapping */
    rows.nentries = 0;
    entry("5", "", NULL, "a", NULL, NULL);
    entry("-3", "5", NULL, "b", NULL, NULL);
    free(build());

    rows.nentries = 0;
    entry("2024-01-01", "100", NULL, "a", NULL, NULL);
    refused("range values of two kinds \"2024-01-01\" and \"100\"");

    rows.nentries = 0;
    entry("2024-01-01", "2024-02-01", NULL, "a", NULL, NULL);
    entry("100", "200", NULL, "b", NULL, NULL);
    refused("range values of two kinds \"2024-01-01\" and \"100\"");

    rows.nentries = 0;
    entry("2024-02-30", "", NULL, "a", NULL, NULL);
    refused("invalid range value \"2024-02-30\"");

    rows.nentries = 0;
    entry("2024-02-01T00:00", "", NULL, "a", NULL, NULL);
    refused("invalid range value \"2024-02-01T00:00\"");

    rows.nentries = 0;
    entry("9223372036854775808", "", NULL, "a", NULL, NULL);
    refused("invalid range value \"9223372036854775808\"");

    rows.nentries = 0;
    entry("7", "7", NULL, "a", NULL, NULL);
    refused("invalid range \"[7, 7)\"");

    rows.nentries = 0;
    entry("2024-03-01", "2024-02-01", NULL, "a", NULL, NULL);
    refused("invalid range \"[2024-03-01, 2024-02-01)\"");

    rows.nentries = 0;
    entry("1", "2", "x", "a", NULL, NULL);
    refused("value \"x\" in a range map");

    rows.nentries = 0;
    shards[0].is_default = 1;
    shards[1].is_default = 1;
    refused("two default shards \"a\" and \"b\"");
}


static void
test_list(void **state)
{
    ngx_int_t                 slot;
    ngx_astro_shard_table_t  *t;
    ngx_astro_shard_entry_t  *e;
    ngx_str_t                 v;
    ngx_uint_t                i;
    static char               values[500][8];

    (void) state;

    reset(NGX_ASTRO_SHARD_LIST);
    shard("eu", "u1");
    shard("us", "u2");
    shard("world", "u3");
    shards[2].is_default = 1;
    entry(NULL, NULL, "FR", "eu", NULL, NULL);
    entry(NULL, NULL, "DE", "eu", NULL, NULL);
    entry(NULL, NULL, "US", "us", NULL, NULL);
    entry(NULL, NULL, "U", "us", "eu", "switched");
    entry(NULL, NULL, "USA", "us", NULL, NULL);

    t = build();
    assert_int_equal(t->default_shard, 2);
    e = ngx_astro_shard_table_entries(t);
    ngx_astro_shard_table_string(t, &e[0].value, &v);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.data, "DE", 2);

    assert_string_equal(shard_of(t, "FR", &slot), "eu");
    assert_int_equal(slot, -1);
    assert_string_equal(shard_of(t, "DE", NULL), "eu");
    assert_string_equal(shard_of(t, "US", NULL), "us");
    assert_string_equal(shard_of(t, "USA", NULL), "us");
    assert_string_equal(shard_of(t, "U", NULL), "us");
    assert_int_equal(ngx_astro_shard_table_lookup(t, (u_char *) "U", 1,
                                                  &slot)->state,
                     NGX_ASTRO_SHARD_SWITCHED);
    assert_null(shard_of(t, "fr", NULL));      /* case-sensitive */
    assert_null(shard_of(t, "US ", NULL));
    assert_null(shard_of(t, "", NULL));
    assert_null(shard_of(t, "A", NULL));
    assert_null(shard_of(t, "ZZ", NULL));
    free(t);

    /* many values: each found by the binary search */
    reset(NGX_ASTRO_SHARD_LIST);
    shard("a", "u1");
    shard("b", "u2");

    for (i = 0; i < 500; i++) {
        snprintf(values[i], sizeof(values[i]), "v%u", (unsigned) (i * 7919
                                                                % 100003));
        entry(NULL, NULL, values[i], (i & 1) ? "b" : "a", NULL, NULL);
    }

    t = build();

    for (i = 0; i < 500; i++) {
        assert_string_equal(shard_of(t, values[i], NULL),
                            (i & 1) ? "b" : "a");
    }

    assert_null(shard_of(t, "v", NULL));
    free(t);
}


static void
test_list_errors(void **state)
{
    (void) state;

    reset(NGX_ASTRO_SHARD_LIST);
    shard("a", "u1");
    shard("b", "u2");
    entry(NULL, NULL, "x", "a", NULL, NULL);
    entry(NULL, NULL, "y", "b", NULL, NULL);
    entry(NULL, NULL, "x", "b", NULL, NULL);
    refused("duplicate value \"x\"");

    rows.nentries = 0;
    entry(NULL, NULL, "", "a", NULL, NULL);
    refused("empty value (shard \"a\")");

    rows.nentries = 0;
    entry("1", NULL, "x", "a", NULL, NULL);
    refused("range \"1\" in a list map");

    rows.nentries = 0;
    entry(NULL, NULL,
          "0123456789012345678901234567890123456789012345678901234567890123"
          "0123456789012345678901234567890123456789012345678901234567890123"
          "0123456789012345678901234567890123456789012345678901234567890123"
          "0123456789012345678901234567890123456789012345678901234567890123",
          "a", NULL, NULL);
    refused("too long value \"01234567890123456789012345678901234567890123456"
            "78901234567890123...\"");
}


/* a table that the check must refuse, made from a good one */

static void
test_check(void **state)
{
    size_t                    size;
    u_char                   *copy;
    uint16_t                 *se;
    ngx_uint_t                i;
    ngx_astro_shard_table_t  *t, *c;
    ngx_astro_shard_entry_t  *e;
    ngx_astro_shard_shard_t  *s;

    (void) state;

    reset(NGX_ASTRO_SHARD_HASH);
    rows.slots = 8;
    shard("s1", "u1");
    shard("s2", "u2");
    entry("0", "4", NULL, "s1", NULL, NULL);
    entry("4", "8", NULL, "s2", "s1", "copying");
    t = build();
    size = t->size;
    copy = malloc(size + 8);
    assert_non_null(copy);
    c = (ngx_astro_shard_table_t *) copy;

#define CORRUPT(what)                                                         \
    memcpy(copy, t, size);                                                    \
    se = (uint16_t *) (copy + c->slot_entry);                                 \
    e = ngx_astro_shard_table_entries(c);                                     \
    s = ngx_astro_shard_table_shards(c);                                      \
    what;                                                                     \
    assert_int_equal(ngx_astro_shard_table_check(c, size), NGX_ERROR)

    memcpy(copy, t, size);
    assert_int_equal(ngx_astro_shard_table_check(c, size), NGX_OK);
    assert_int_equal(ngx_astro_shard_table_check(c, size - 1), NGX_ERROR);
    assert_int_equal(ngx_astro_shard_table_check(c, 8), NGX_ERROR);
    assert_int_equal(ngx_astro_shard_table_check((void *) (copy + 1),
                                                 size), NGX_ERROR);

    CORRUPT(c->magic++);
    CORRUPT(c->size++);
    CORRUPT(c->strategy = 3);
    CORRUPT(c->hash = 3);
    CORRUPT(c->fill = 2);
    CORRUPT(c->kind = 3);
    CORRUPT(c->nshards = 0);
    CORRUPT(c->nshards = 3);
    CORRUPT(c->nshards = 100000);
    CORRUPT(c->nentries = 3);
    CORRUPT(c->nentries = 0);
    CORRUPT(c->nentries = 0xffffffff);
    CORRUPT(c->nslots = 0);
    CORRUPT(c->nslots = 65537);
    CORRUPT(c->nslots = 100000);
    CORRUPT(c->default_shard = 2);
    CORRUPT(c->shards = 4);
    CORRUPT(c->shards = size);
    CORRUPT(c->shards = 0xfffffff8);
    CORRUPT(c->entries = 0xfffffff8);
    CORRUPT(c->entries++);
    CORRUPT(c->slot_entry = size - 2);
    CORRUPT(c->slot_entry = 0xfffffffe);
    CORRUPT(c->slot_entry++);
    CORRUPT(se[3] = 2);
    CORRUPT(se[7] = 0xffff);
    CORRUPT(e[0].owner = 2);
    CORRUPT(e[1].target = 2);
    CORRUPT(e[1].target = NGX_ASTRO_SHARD_NONE);
    CORRUPT(e[0].state = 5);
    CORRUPT(s[0].name.len = 0);
    CORRUPT(s[0].name.off = size);
    CORRUPT(s[0].name.off = 0);
    CORRUPT(s[1].upstream.len = 256);
    CORRUPT(s[1].upstream.off = 0xffffffff);
    CORRUPT(s[1].read.off = 0xfffffff0; s[1].read.len = 0x20);
    CORRUPT(s[1].read.off = size - 1; s[1].read.len = 2);

    /* a range map out of order */
    free(t);
    reset(NGX_ASTRO_SHARD_RANGE);
    shard("a", "u1");
    entry("1", "2", NULL, "a", NULL, NULL);
    entry("2", "3", NULL, "a", NULL, NULL);
    t = build();
    size = t->size;
    free(copy);
    copy = malloc(size);
    c = (ngx_astro_shard_table_t *) copy;
    memcpy(copy, t, size);
    assert_int_equal(ngx_astro_shard_table_check(c, size), NGX_OK);
    CORRUPT(e[0].to = 3);
    CORRUPT(e[1].from_open = 1);
    CORRUPT(e[0].to_open = 1);
    CORRUPT(e[1].to = 2);

    /* a list map out of order */
    free(t);
    reset(NGX_ASTRO_SHARD_LIST);
    shard("a", "u1");
    entry(NULL, NULL, "x", "a", NULL, NULL);
    entry(NULL, NULL, "y", "a", NULL, NULL);
    t = build();
    size = t->size;
    free(copy);
    copy = malloc(size);
    c = (ngx_astro_shard_table_t *) copy;
    memcpy(copy, t, size);
    assert_int_equal(ngx_astro_shard_table_check(c, size), NGX_OK);
    CORRUPT(e[1].value = e[0].value);
    CORRUPT(e[0].value.len = 0);
    CORRUPT(e[0].value.off = size);

    /* every single byte changed: refused or still safe to route with */
    for (i = 0; i < size; i++) {
        memcpy(copy, t, size);
        copy[i] ^= 0xa5;

        if (ngx_astro_shard_table_check(c, size) == NGX_OK) {
            ngx_int_t  slot;
            (void) ngx_astro_shard_table_lookup(c, (u_char *) "x", 1, &slot);
        }
    }

    free(copy);
    free(t);
}


static void
test_size_too_small(void **state)
{
    size_t  size;
    u_char  *buf;

    (void) state;

    reset(NGX_ASTRO_SHARD_LIST);
    shard("a", "u1");
    size = ngx_astro_shard_table_size(&rows, err, sizeof(err));
    assert_true(size > 0);
    assert_int_equal(size % 8, 0);
    buf = malloc(size);
    assert_null(ngx_astro_shard_table_build(&rows, buf, size - 8, err,
                                            sizeof(err)));
    free(buf);

    /* a message cut to the buffer, NUL-terminated */
    reset(NGX_ASTRO_SHARD_HASH);
    shard("abcdefgh", "u");
    shard("abcdefgh", "u");
    assert_int_equal(ngx_astro_shard_table_size(&rows, err, 8), 0);
    assert_string_equal((char *) err, "duplica");
    assert_int_equal(ngx_astro_shard_table_size(&rows, NULL, 0), 0);
}


static void
test_state_names(void **state)
{
    ngx_uint_t  i;

    (void) state;

    for (i = 0; i <= NGX_ASTRO_SHARD_SWITCHED; i++) {
        assert_int_equal(ngx_astro_shard_state(
                             ngx_astro_shard_state_names[i].data,
                             ngx_astro_shard_state_names[i].len), i);
    }

    assert_int_equal(ngx_astro_shard_state((u_char *) "", 0),
                     NGX_ASTRO_SHARD_STABLE);
    assert_int_equal(ngx_astro_shard_state((u_char *) "Stable", 6),
                     NGX_ERROR);
    assert_int_equal(ngx_astro_shard_state((u_char *) "stable", 5),
                     NGX_ERROR);
}


/* the same rows make the same bytes: the zone compares crcs of them */

static void
test_deterministic(void **state)
{
    ngx_astro_shard_table_t  *t1, *t2;

    (void) state;

    reset(NGX_ASTRO_SHARD_LIST);
    shard("a", "u1");
    shard("b", "u2");
    entry(NULL, NULL, "x", "a", NULL, NULL);
    entry(NULL, NULL, "y", "b", NULL, NULL);
    t1 = build();
    t2 = build();
    assert_int_equal(t1->size, t2->size);
    assert_memory_equal(t1, t2, t1->size);
    free(t1);
    free(t2);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_hash_fill_modulo),
        cmocka_unit_test(test_hash_fill_rendezvous),
        cmocka_unit_test(test_hash_entries),
        cmocka_unit_test(test_hash_errors),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_errors),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_size_too_small),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_deterministic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
