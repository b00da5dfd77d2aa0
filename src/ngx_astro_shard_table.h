
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_TABLE_H_INCLUDED_
#define _NGX_ASTRO_SHARD_TABLE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A shard map compiled: one block of memory without pointers (offsets
 * from its start), so that the worker holding the PostgreSQL connection
 * can build it, copy it into the shared zone, and every worker copy it
 * out again with one memcpy() and route on its private copy without a
 * lock.  Built from rows, those of nginx.conf's astro_shard lines or
 * those read from PostgreSQL, by the same code (pure C, unit-tested and
 * fuzzed: src/ngx_astro_shard_table.c).
 */


#define NGX_ASTRO_SHARD_HASH        0       /* strategy=hash: key -> slot */
#define NGX_ASTRO_SHARD_RANGE       1       /* [from, to) of dates, numbers */
#define NGX_ASTRO_SHARD_LIST        2       /* value -> shard */

#define NGX_ASTRO_SHARD_HASH_SEED   0       /* the original backend's */
#define NGX_ASTRO_SHARD_HASH_CRC32  1
#define NGX_ASTRO_SHARD_HASH_MURMUR3  2

#define NGX_ASTRO_SHARD_FILL_MODULO      0
#define NGX_ASTRO_SHARD_FILL_RENDEZVOUS  1

/* an entry's migration state */
#define NGX_ASTRO_SHARD_STABLE      0
#define NGX_ASTRO_SHARD_COPYING     1
#define NGX_ASTRO_SHARD_READS_NEW   2
#define NGX_ASTRO_SHARD_FROZEN      3
#define NGX_ASTRO_SHARD_SWITCHED    4

/* a range map's values: dates (YYYY-MM-DD...) or integers */
#define NGX_ASTRO_SHARD_KIND_NONE   0
#define NGX_ASTRO_SHARD_KIND_DATE   1
#define NGX_ASTRO_SHARD_KIND_NUMBER 2

#define NGX_ASTRO_SHARD_NONE        0xffff  /* no shard, no entry */
#define NGX_ASTRO_SHARD_MAX_SHARDS  1024
#define NGX_ASTRO_SHARD_MAX_SLOTS   65536
#define NGX_ASTRO_SHARD_DEFAULT_SLOTS  16384
#define NGX_ASTRO_SHARD_MAX_NAME    255     /* shard, upstream, list value */
#define NGX_ASTRO_SHARD_MAX_ENTRIES 1048576 /* hash: 65535 */

/* lookup's *slot for a range map's key that is not a value of its kind */
#define NGX_ASTRO_SHARD_BAD_KEY     -2

/* "ASD1": a table of another layout is refused by the check */
#define NGX_ASTRO_SHARD_MAGIC       0x31445341


/* the rows a table is built from; strings need not be NUL-terminated */

typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    upstream;
    ngx_str_t                    read;          /* empty: none */
    ngx_uint_t                   weight;        /* 0: 1 */
    ngx_uint_t                   is_default;    /* range, list */
} ngx_astro_shard_row_t;


/*
 * hash: from, to: slots [from, to); range: [from, to), either empty for
 * open; list: value; owner, target: shard names (target empty: none);
 * state: "stable", "copying", "reads_new", "frozen", "switched" (empty:
 * stable).  A state other than stable needs a target.
 */
typedef struct {
    ngx_str_t                    from;
    ngx_str_t                    to;
    ngx_str_t                    value;
    ngx_str_t                    owner;
    ngx_str_t                    target;
    ngx_str_t                    state;
} ngx_astro_shard_entry_row_t;


typedef struct {
    ngx_uint_t                   strategy;
    ngx_uint_t                   hash;          /* hash strategy */
    ngx_uint_t                   fill;          /* hash, without entries */
    ngx_uint_t                   slots;         /* hash; 0: the default */
    uint64_t                     version;

    ngx_astro_shard_row_t       *shards;
    ngx_uint_t                   nshards;
    ngx_astro_shard_entry_row_t *entries;       /* hash: none: fill */
    ngx_uint_t                   nentries;
} ngx_astro_shard_rows_t;


/* the table; offsets are from the table's first byte */

typedef struct {
    uint32_t                     off;
    uint32_t                     len;
} ngx_astro_shard_string_t;


typedef struct {
    ngx_astro_shard_string_t     name;
    ngx_astro_shard_string_t     upstream;
    ngx_astro_shard_string_t     read;          /* len 0: none */
    uint32_t                     weight;
    uint32_t                     slots;         /* hash: slots it owns */
} ngx_astro_shard_shard_t;


typedef struct {
    int64_t                      from;          /* slot, date, number */
    int64_t                      to;            /* exclusive */
    ngx_astro_shard_string_t     value;         /* list */
    uint16_t                     owner;         /* shard index */
    uint16_t                     target;        /* or NGX_ASTRO_SHARD_NONE */
    uint8_t                      state;
    uint8_t                      from_open;     /* range: no lower bound */
    uint8_t                      to_open;       /* range: no upper bound */
    uint8_t                      reserved;
} ngx_astro_shard_entry_t;


typedef struct {
    uint32_t                     magic;
    uint32_t                     size;          /* bytes, all of it */
    uint64_t                     version;
    uint8_t                      strategy;
    uint8_t                      hash;
    uint8_t                      fill;
    uint8_t                      kind;          /* range: dates or numbers */
    uint32_t                     nslots;        /* hash */
    uint32_t                     nshards;
    uint32_t                     nentries;
    uint32_t                     default_shard; /* or NGX_ASTRO_SHARD_NONE */
    uint32_t                     shards;        /* ngx_astro_shard_shard_t */
    uint32_t                     entries;       /* ngx_astro_shard_entry_t,
                                                   range: sorted by from,
                                                   list: by value */
    uint32_t                     slot_entry;    /* hash: uint16_t[nslots],
                                                   the entry of each slot */
    uint32_t                     strings;
} ngx_astro_shard_table_t;


#define ngx_astro_shard_table_shards(t)                                      \
    ((ngx_astro_shard_shard_t *) ((u_char *) (t) + (t)->shards))
#define ngx_astro_shard_table_entries(t)                                     \
    ((ngx_astro_shard_entry_t *) ((u_char *) (t) + (t)->entries))
#define ngx_astro_shard_table_string(t, s, str)                              \
    (str)->len = (s)->len; (str)->data = (u_char *) (t) + (s)->off


/*
 * The size of the table the rows make, 0 if a row is wrong: then err
 * (NUL-terminated, at most errlen bytes) says what is wrong, naming the
 * value, in nginx's words ("duplicate shard \"s1\"", "unknown shard
 * \"x\"", "invalid state \"foo\"", "invalid slot \"x\"", ...).
 * What needs the rows together (overlapping ranges, slots in two entries
 * or in none, a list value in two entries) is found by the build.
 */
size_t ngx_astro_shard_table_size(ngx_astro_shard_rows_t *rows,
    u_char *err, size_t errlen);

/*
 * The table written into buf (8-byte aligned) of the size given (at
 * least what _size() said; the table's own is t->size); NULL if the
 * rows are wrong, err as above, also "overlapping ranges
 * \"[a, b)\" and \"[c, )\"", "slot 17 has no shard", "slot 17 in two
 * entries", "duplicate value \"v\"".  The bytes of a table depend only
 * on the rows (a crc of them tells a change).  Hash maps without
 * entries rows: one entry per shard, in the shards' order, from and to 0.
 */
ngx_astro_shard_table_t *ngx_astro_shard_table_build(
    ngx_astro_shard_rows_t *rows, u_char *buf, size_t size,
    u_char *err, size_t errlen);

/*
 * NGX_OK if a table copied from elsewhere (8-byte aligned) is whole and
 * safe to route with: magic, size, every offset and length inside,
 * every shard index < nshards, every slot's entry < nentries, states
 * known, range and list entries in order.
 */
ngx_int_t ngx_astro_shard_table_check(ngx_astro_shard_table_t *t,
    size_t size);

/*
 * The entry of a key, NULL if none matches (a range or list map's
 * default shard is then the caller's: t->default_shard); *slot is set
 * for hash maps (else -1, or NGX_ASTRO_SHARD_BAD_KEY when a range map's
 * key is not a value of its kind: no default then, the key is wrong);
 * NGX_ASTRO_SHARD_NONE shards never come back.
 */
ngx_astro_shard_entry_t *ngx_astro_shard_table_lookup(
    ngx_astro_shard_table_t *t, u_char *key, size_t len, ngx_int_t *slot);

/*
 * The slots a shard added to a hash map takes: nslots / (nshards + 1),
 * one at a time from the shard that holds the most (the owner, or the
 * target once switched), its highest slot first, so that each keeps
 * about as many; moved[slot] (nslots bytes, zeroed by the caller) set
 * to 1 for them.  Returns how many (0 for other maps).
 */
ngx_uint_t ngx_astro_shard_table_plan_add(ngx_astro_shard_table_t *t,
    u_char *moved);

/* a state's number by its name (empty: stable), NGX_ERROR if none */
ngx_int_t ngx_astro_shard_state(u_char *name, size_t len);
extern ngx_str_t  ngx_astro_shard_state_names[];    /* by state */


#endif /* _NGX_ASTRO_SHARD_TABLE_H_INCLUDED_ */
