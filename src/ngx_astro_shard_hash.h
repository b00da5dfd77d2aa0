
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_HASH_H_INCLUDED_
#define _NGX_ASTRO_SHARD_HASH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The hashes of a hash map's keys (pure C: unit-tested in
 * t/unit/test_shard_hash.c, fuzzed by t/fuzz/fuzz_shard_key.c).
 */


/*
 * The original backend's: Java's String.hashCode() (hash * 31 + unit,
 * wrapping at 32 bits) over the UTF-16 code units of the key decoded
 * from UTF-8 as Node decodes it (an invalid sequence: U+FFFD).
 */
int32_t ngx_astro_shard_hash_seed(u_char *key, size_t len);

/* CRC-32 as nginx's ngx_crc32_long() (IEEE 802.3, reflected) */
uint32_t ngx_astro_shard_hash_crc32(u_char *key, size_t len);

/* MurmurHash3 x86_32, seed 0 */
uint32_t ngx_astro_shard_hash_murmur3(u_char *key, size_t len);

/*
 * The slot of a key among nslots (> 0) by hash NGX_ASTRO_SHARD_HASH_*:
 * seed: |h| mod nslots with |INT32_MIN| = 2^31 (as the backend's
 * Math.abs() in JavaScript); crc32, murmur3: h mod nslots.
 */
ngx_uint_t ngx_astro_shard_hash_slot(ngx_uint_t hash, u_char *key,
    size_t len, ngx_uint_t nslots);

/*
 * The weighted rendezvous score of a shard (its name, weight >= 1) for
 * a slot: the highest score owns the slot.
 */
double ngx_astro_shard_hash_score(u_char *name, size_t len, ngx_uint_t slot,
    ngx_uint_t weight);


#endif /* _NGX_ASTRO_SHARD_HASH_H_INCLUDED_ */
