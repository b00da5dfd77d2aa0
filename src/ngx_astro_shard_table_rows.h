
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_TABLE_ROWS_H_INCLUDED_
#define _NGX_ASTRO_SHARD_TABLE_ROWS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_shard_table.h"


/*
 * Between the builder's two files: src/ngx_astro_shard_table_rows.c
 * checks the rows and lays the table out, src/ngx_astro_shard_table.c
 * builds it.  Nothing else includes this.
 */


/* a value in a message: 64 bytes at most, control bytes as \xNN */
#define NGX_ASTRO_SHARD_QUOTE_MAX   64
#define NGX_ASTRO_SHARD_QUOTE_LEN   (NGX_ASTRO_SHARD_QUOTE_MAX * 4 + 4)


/* offsets of the table's parts, and what the rows make of the map */

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


/* NGX_OK and *l, or NGX_ERROR and err as ngx_astro_shard_table_size() */
ngx_int_t ngx_astro_shard_scan(ngx_astro_shard_rows_t *rows,
    ngx_astro_shard_layout_t *l, u_char *err, size_t errlen);

/* a shard's index by its name, NGX_ERROR if none */
ngx_int_t ngx_astro_shard_find(ngx_astro_shard_rows_t *rows,
    ngx_str_t *name);

/* a slot number 0..max, digits only */
ngx_int_t ngx_astro_shard_slot_number(ngx_str_t *s, ngx_uint_t max,
    int64_t *n);

/* v quoted for a message into buf (NGX_ASTRO_SHARD_QUOTE_LEN bytes) */
char *ngx_astro_shard_quote(char *buf, ngx_str_t *v);

/* the message into err (errlen bytes, NUL-terminated; NULL: none) */
void ngx_astro_shard_error(u_char *err, size_t errlen,
    const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));


#endif /* _NGX_ASTRO_SHARD_TABLE_ROWS_H_INCLUDED_ */
