
/*
 * Copyright (C) astro developers
 */


/*
 * The hashes of the shard map (src/ngx_astro_shard_hash.c): the seed
 * placement's vectors and a million random ids against a reference
 * written here apart (code points encoded to UTF-8 for the module and to
 * UTF-16 for Java's hash), fill=modulo reproducing |h| % N, and a shard
 * added by the plan of astro-shard-moves moving only its slots' keys.
 * Random ids are short (0 to 12 code points, the empty one too) to reach
 * every case of the decoder; the share of keys moved is measured on ids
 * of a real form, whose hashes spread over the slots.
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


#define KEYS  1000000


typedef struct {
    u_char    utf8[64];
    size_t    len;
    uint16_t  utf16[32];
    size_t    units;
} key_t_;


static int32_t
h(const char *s)
{
    return ngx_astro_shard_hash_seed((u_char *) s, strlen(s));
}


static int32_t
hb(const char *s, size_t len)
{
    return ngx_astro_shard_hash_seed((u_char *) s, len);
}


/* the reference: Java's String.hashCode() */

static int32_t
java_hash(const uint16_t *units, size_t n)
{
    int64_t  x;
    size_t   i;

    x = 0;

    for (i = 0; i < n; i++) {
        x = (int32_t) (uint32_t) ((uint64_t) x * 31 + units[i]);
    }

    return (int32_t) x;
}


static uint64_t  rng = 0x853c49e6748fea9bULL;


static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return (uint32_t) (rng >> 11);
}


/* a random id: ASCII mostly, Latin and CJK, emoji (4-byte UTF-8) */

static void
random_key(key_t_ *k)
{
    uint32_t  cp, n, i, r;

    k->len = 0;
    k->units = 0;
    n = rnd() % 13;

    for (i = 0; i < n; i++) {
        r = rnd() % 10;

        if (r < 5) {
            cp = 0x20 + rnd() % 0x5f;

        } else if (r < 6) {
            cp = rnd() % 0x80;                          /* controls too */

        } else if (r < 7) {
            cp = 0x80 + rnd() % 0x780;                  /* 2 bytes */

        } else if (r < 8) {
            do {
                cp = 0x800 + rnd() % 0xf800;            /* 3 bytes */
            } while (cp >= 0xd800 && cp <= 0xdfff);

        } else {
            cp = 0x10000 + rnd() % 0x100000;            /* 4 bytes */
        }

        if (cp < 0x80) {
            k->utf8[k->len++] = (u_char) cp;

        } else if (cp < 0x800) {
            k->utf8[k->len++] = (u_char) (0xc0 | cp >> 6);
            k->utf8[k->len++] = (u_char) (0x80 | (cp & 0x3f));

        } else if (cp < 0x10000) {
            k->utf8[k->len++] = (u_char) (0xe0 | cp >> 12);
            k->utf8[k->len++] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
            k->utf8[k->len++] = (u_char) (0x80 | (cp & 0x3f));

        } else {
            k->utf8[k->len++] = (u_char) (0xf0 | cp >> 18);
            k->utf8[k->len++] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
            k->utf8[k->len++] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
            k->utf8[k->len++] = (u_char) (0x80 | (cp & 0x3f));
        }

        if (cp < 0x10000) {
            k->utf16[k->units++] = (uint16_t) cp;

        } else {
            k->utf16[k->units++] = (uint16_t) (0xd800 + ((cp - 0x10000) >> 10));
            k->utf16[k->units++] = (uint16_t) (0xdc00
                                               + ((cp - 0x10000) & 0x3ff));
        }
    }
}


static void
test_seed_vectors(void **state)
{
    (void) state;

    assert_int_equal(h(""), 0);
    assert_int_equal(h("1"), 49);
    assert_int_equal(h("user-7"), -836031819);
    assert_int_equal(h("polygenelubricants"), INT32_MIN);
    assert_int_equal(h("\xc3\xbc"), 252);                   /* ü */
    assert_int_equal(h("\xf0\x9f\x98\x80"), 1772899);       /* U+1F600 */

    /* |INT32_MIN| is 2^31 */
    assert_int_equal(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_SEED,
                         (u_char *) "polygenelubricants", 18, 3),
                     2147483648ULL % 3);
    assert_int_equal(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_SEED,
                         (u_char *) "user-7", 6, 10), 9);
}


/* not UTF-8: as Node's Buffer.toString() (values printed by Node 18) */

static void
test_seed_invalid_utf8(void **state)
{
    (void) state;

    assert_int_equal(hb("\xff", 1), 65533);
    assert_int_equal(hb("\xc3", 1), 65533);                 /* cut short */
    assert_int_equal(hb("\xe0\x80", 2), 2097056);           /* 2 x FFFD */
    assert_int_equal(hb("\xf0\x9f\x98", 3), 65533);         /* one FFFD */
    assert_int_equal(hb("a\xff" "b", 3), 2124838);
    assert_int_equal(hb("\xed\xa0\x80", 3), 65074269);      /* surrogate */
    assert_int_equal(hb("\xc0\xaf", 2), 2097056);           /* overlong */
    assert_int_equal(hb("\xf4\x90\x80\x80", 4), 2017367872); /* > 10FFFF */
    assert_int_equal(hb("\xe2\x82", 2), 65533);
    assert_int_equal(hb("\0", 1), 0);
}


static void
test_crc32_murmur3(void **state)
{
    (void) state;

    assert_int_equal(ngx_astro_shard_hash_crc32((u_char *) "123456789", 9),
                     0xcbf43926);
    assert_int_equal(ngx_astro_shard_hash_crc32((u_char *) "", 0), 0);
    assert_int_equal(ngx_astro_shard_hash_crc32(
                         (u_char *) "The quick brown fox jumps over the lazy "
                         "dog", 43), 0x414fa339);

    assert_int_equal(ngx_astro_shard_hash_murmur3((u_char *) "", 0), 0);
    assert_int_equal(ngx_astro_shard_hash_murmur3((u_char *) "hello", 5),
                     0x248bfa47);
    assert_int_equal(ngx_astro_shard_hash_murmur3((u_char *) "a", 1),
                     0x3c2569b2);
    assert_int_equal(ngx_astro_shard_hash_murmur3((u_char *) "abcd", 4),
                     0x43ed676a);
    assert_int_equal(ngx_astro_shard_hash_murmur3(
                         (u_char *) "The quick brown fox jumps over the lazy "
                         "dog", 43), 0x2e4ff723);

    assert_int_equal(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_CRC32,
                         (u_char *) "123456789", 9, 16384),
                     0xcbf43926 % 16384);
    assert_int_equal(ngx_astro_shard_hash_slot(NGX_ASTRO_SHARD_HASH_MURMUR3,
                         (u_char *) "hello", 5, 16384), 0x248bfa47 % 16384);
}


static void
test_score(void **state)
{
    double  a, b;

    (void) state;

    a = ngx_astro_shard_hash_score((u_char *) "s1", 2, 5, 1);
    b = ngx_astro_shard_hash_score((u_char *) "s1", 2, 5, 1);
    assert_true(a == b && a > 0);
    assert_true(ngx_astro_shard_hash_score((u_char *) "s1", 2, 5, 2)
                == 2 * a);
    assert_true(ngx_astro_shard_hash_score((u_char *) "s1", 2, 5, 0) == a);
    assert_true(ngx_astro_shard_hash_score((u_char *) "s1", 2, 6, 1) != a);
    assert_true(ngx_astro_shard_hash_score((u_char *) "s2", 2, 5, 1) != a);
}


/*
 * A seed map of n shards in s slots, fill=modulo; with moved: entries
 * rows, slot i on shard i % (n - 1) or, when moved[i], on shard n - 1.
 */

static ngx_astro_shard_table_t *
seed_map(ngx_uint_t n, ngx_uint_t slots, u_char *moved)
{
    size_t                    size;
    u_char                   *buf, err[128];
    ngx_uint_t                i;
    ngx_astro_shard_rows_t    rows;
    ngx_astro_shard_table_t  *t;
    static ngx_astro_shard_row_t        shards[64];
    static ngx_astro_shard_entry_row_t  entries[NGX_ASTRO_SHARD_MAX_SLOTS];
    static char                         names[64][8];
    static char                         nums[NGX_ASTRO_SHARD_MAX_SLOTS + 1][8];

    memset(&rows, 0, sizeof(rows));
    memset(shards, 0, sizeof(shards));
    rows.strategy = NGX_ASTRO_SHARD_HASH;
    rows.slots = slots;
    rows.shards = shards;
    rows.nshards = n;

    for (i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "s%u", (unsigned) i);
        shards[i].name.data = (u_char *) names[i];
        shards[i].name.len = strlen(names[i]);
        shards[i].upstream = shards[i].name;
    }

    if (moved) {
        memset(entries, 0, sizeof(entries));
        rows.entries = entries;
        rows.nentries = slots;

        for (i = 0; i <= slots; i++) {
            snprintf(nums[i], sizeof(nums[i]), "%u", (unsigned) i);
        }

        for (i = 0; i < slots; i++) {
            entries[i].from.data = (u_char *) nums[i];
            entries[i].from.len = strlen(nums[i]);
            entries[i].to.data = (u_char *) nums[i + 1];
            entries[i].to.len = strlen(nums[i + 1]);
            entries[i].owner = shards[moved[i] ? n - 1 : i % (n - 1)].name;
        }
    }

    size = ngx_astro_shard_table_size(&rows, err, sizeof(err));
    assert_true(size > 0);
    buf = malloc(size);
    assert_non_null(buf);
    t = ngx_astro_shard_table_build(&rows, buf, size, err, sizeof(err));
    assert_non_null(t);

    return t;
}


static ngx_uint_t
owner(ngx_astro_shard_table_t *t, u_char *key, size_t len, ngx_int_t *slot)
{
    return ngx_astro_shard_table_lookup(t, key, len, slot)->owner;
}


/*
 * A million random ids: the module's hash equals the reference's, and a
 * seed map of 10 shards in 16380 slots (and of 4 in 16384) puts each on
 * shard |h| % N as the backend did.
 */

static void
test_million(void **state)
{
    key_t_                    k;
    int32_t                   ref;
    uint64_t                  a;
    ngx_int_t                 slot, slot4;
    ngx_uint_t                i;
    ngx_astro_shard_table_t  *t10, *t4;

    (void) state;

    t10 = seed_map(10, 16380, NULL);
    t4 = seed_map(4, 16384, NULL);

    for (i = 0; i < KEYS; i++) {
        random_key(&k);

        ref = java_hash(k.utf16, k.units);

        if (ngx_astro_shard_hash_seed(k.utf8, k.len) != ref) {
            fail_msg("key %lu: %d, the reference %d", (unsigned long) i,
                     ngx_astro_shard_hash_seed(k.utf8, k.len), ref);
        }

        a = (uint64_t) (ref < 0 ? -(int64_t) ref : (int64_t) ref);

        assert_int_equal(owner(t10, k.utf8, k.len, &slot), a % 10);
        assert_int_equal(slot, a % 16380);
        assert_int_equal(owner(t4, k.utf8, k.len, &slot4), a % 4);
        assert_int_equal(slot4, a % 16384);
    }

    free(t10);
    free(t4);
}


/*
 * Ten shards become eleven: the 11th takes the plan's slots (the map
 * astro-shard-moves prints, all moves done), a million ids ("user-N",
 * hex ids) move only if their slot was taken, all of those to the new
 * shard: about 1/11 of them, where the backend's |h| % 11 moves 10/11.
 */

static void
test_add_shard(void **state)
{
    char                      id[32];
    u_char                   *moved;
    int32_t                   hash;
    uint64_t                  a;
    ngx_int_t                 slot, slot11;
    ngx_uint_t                i, taken, o10, o11, nmoved, modulo_moved;
    ngx_astro_shard_table_t  *t10, *t11;

    (void) state;

    t10 = seed_map(10, 16380, NULL);

    moved = calloc(16380, 1);
    assert_non_null(moved);
    taken = ngx_astro_shard_table_plan_add(t10, moved);
    assert_int_equal(taken, 16380 / 11);

    for (i = 0, nmoved = 0; i < 16380; i++) {
        nmoved += moved[i];
    }

    assert_int_equal(nmoved, taken);

    t11 = seed_map(11, 16380, moved);

    nmoved = 0;
    modulo_moved = 0;

    for (i = 0; i < KEYS; i++) {
        if (i & 1) {
            snprintf(id, sizeof(id), "user-%u", rnd() % 100000000);

        } else {
            snprintf(id, sizeof(id), "%08x%08x", rnd(), rnd());
        }

        o10 = owner(t10, (u_char *) id, strlen(id), &slot);
        o11 = owner(t11, (u_char *) id, strlen(id), &slot11);
        assert_int_equal(slot, slot11);

        if (moved[slot]) {
            assert_int_equal(o11, 10);
            nmoved++;

        } else {
            assert_int_equal(o11, o10);
        }

        hash = h(id);
        a = (uint64_t) (hash < 0 ? -(int64_t) hash : (int64_t) hash);
        modulo_moved += (a % 10 != a % 11);
    }

    /* 1489/16380 = 9.09% of the slots; the keys within 0.3% of that */
    assert_in_range(nmoved, KEYS * 0.0879, KEYS * 0.0939);
    assert_in_range(modulo_moved, KEYS * 0.90, KEYS * 0.92);

    print_message("11th shard: %lu of %d keys move (modulo: %lu)\n",
                  (unsigned long) nmoved, KEYS,
                  (unsigned long) modulo_moved);

    free(moved);
    free(t10);
    free(t11);
}


/* the plan takes evenly: each old shard gives S/(N+1)/N slots, +-1 */

static void
test_plan_even(void **state)
{
    u_char                   *moved;
    uint16_t                 *se;
    ngx_uint_t                i, n, given[8], kept, lo, hi;
    ngx_astro_shard_table_t  *t;
    ngx_astro_shard_entry_t  *e;

    (void) state;

    for (n = 1; n <= 8; n++) {
        t = seed_map(n, 16384, NULL);
        moved = calloc(16384, 1);
        assert_non_null(moved);
        assert_int_equal(ngx_astro_shard_table_plan_add(t, moved),
                         16384 / (n + 1));

        se = (uint16_t *) ((u_char *) t + t->slot_entry);
        e = ngx_astro_shard_table_entries(t);
        memset(given, 0, sizeof(given));

        for (i = 0; i < 16384; i++) {
            if (moved[i]) {
                given[e[se[i]].owner]++;
            }
        }

        /* each gives S/(N+1)/N, +-1; what they keep differs by 1 */
        lo = 16384;
        hi = 0;

        for (i = 0; i < n; i++) {
            assert_in_range(given[i], 16384 / (n + 1) / n - 1,
                            16384 / (n + 1) / n + 1);
            kept = 16384 / n + (i < 16384 % n) - given[i];
            lo = ngx_min(lo, kept);
            hi = ngx_max(hi, kept);
        }

        assert_in_range(hi - lo, 0, 1);

        free(moved);
        free(t);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_seed_vectors),
        cmocka_unit_test(test_seed_invalid_utf8),
        cmocka_unit_test(test_crc32_murmur3),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_million),
        cmocka_unit_test(test_add_shard),
        cmocka_unit_test(test_plan_even),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
