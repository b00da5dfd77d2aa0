
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_KEY_H_INCLUDED_
#define _NGX_ASTRO_SHARD_KEY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The values of range maps and the lists of list maps (pure C:
 * unit-tested in t/unit/test_shard_key.c, fuzzed by
 * t/fuzz/fuzz_shard_key.c).  Kinds: NGX_ASTRO_SHARD_KIND_* of
 * ngx_astro_shard_table.h.
 */


/*
 * A date YYYY-MM-DD, a valid one of the proletic Gregorian calendar
 * (years 0000 to 9999), as y * 10000 + m * 100 + d.  A key (prefix 1)
 * may go on after the date with anything but a digit
 * ("2024-03-05T10:00:00Z"); a bound (prefix 0) may not.  NGX_OK or
 * NGX_DECLINED.
 */
ngx_int_t ngx_astro_shard_key_date(u_char *p, size_t len, ngx_uint_t prefix,
    int64_t *value);

/* an integer: an optional '-', 1 to 19 digits, in int64_t; NGX_OK or
   NGX_DECLINED (overflow included) */
ngx_int_t ngx_astro_shard_key_number(u_char *p, size_t len, int64_t *value);

/*
 * A range map's bound: a date or a number, *kind says which; NGX_OK or
 * NGX_DECLINED.
 */
ngx_int_t ngx_astro_shard_key_bound(u_char *p, size_t len, ngx_uint_t *kind,
    int64_t *value);

/* a key of a range map of the kind given; NGX_OK or NGX_DECLINED */
ngx_int_t ngx_astro_shard_key_range(ngx_uint_t kind, u_char *p, size_t len,
    int64_t *value);

/*
 * The next of comma-separated values (values=a,b,c) from *pos to end:
 * NGX_OK with value set and *pos past it and its comma, NGX_DONE at the
 * end, NGX_DECLINED on an empty value ("a,,b", "a,") or one longer than
 * NGX_ASTRO_SHARD_MAX_NAME: value is then the bad one.
 */
ngx_int_t ngx_astro_shard_key_next_value(u_char **pos, u_char *end,
    ngx_str_t *value);

/* a value written back, "YYYY-MM-DD" or a number; buf: 21 bytes; the
   length, no NUL */
size_t ngx_astro_shard_key_print(ngx_uint_t kind, int64_t value,
    u_char *buf);


#endif /* _NGX_ASTRO_SHARD_KEY_H_INCLUDED_ */
