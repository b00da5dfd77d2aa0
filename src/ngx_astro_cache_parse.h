
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CACHE_PARSE_H_INCLUDED_
#define _NGX_ASTRO_CACHE_PARSE_H_INCLUDED_


/*
 * pure code: no nginx headers, unit tested in t/unit/test_cache_parse.c:
 * the invalidation endpoint's arguments and the messages of nodes
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* the bounds (ngx_astro_cache.h's NGX_HTTP_ASTRO_CACHE_CLASS_LEN, _KEY_LEN) */
#define NGX_ASTRO_CACHE_CLASS_MAX   64
#define NGX_ASTRO_CACHE_KEY_MAX     4096

#define NGX_ASTRO_CACHE_CLASS       1
#define NGX_ASTRO_CACHE_KEY         2

/* mode= of a key: not given (the directive's), soft or hard */
#define NGX_ASTRO_CACHE_MODE_CONF   0
#define NGX_ASTRO_CACHE_MODE_SOFT   1
#define NGX_ASTRO_CACHE_MODE_HARD   2


/* a class's name: 1 to 64 of [A-Za-z0-9_.:-]; 1 if it is one */
int ngx_astro_cache_class_valid(const u_char *p, size_t len);

/* a key: 1 to 4096 bytes, none a control byte (< 0x20, 0x7f); 1 if so */
int ngx_astro_cache_key_valid(const u_char *p, size_t len);


typedef struct {
    int            what;        /* NGX_ASTRO_CACHE_CLASS or _KEY */
    int            mode;        /* NGX_ASTRO_CACHE_MODE_*, a key's */
    u_char        *value;       /* the class or the key, unescaped */
    size_t         len;
    const char    *error;       /* on failure: why, for a 400 */
} ngx_astro_cache_args_t;


/*
 * The query of the invalidation endpoint (r->args, without the "?"):
 * "class=NAME", or "key=TEXT" and maybe "mode=soft" or "mode=hard", in
 * any order, separated by "&" (empty parts are skipped).  Values are
 * URL-unescaped (%XX; "+" stays "+") into buf, which must hold
 * NGX_ASTRO_CACHE_KEY_MAX bytes; args->value points there.  Fails (-1,
 * args->error a short reason without quotes) on: no class or key, both,
 * an argument given twice, an unknown one, a bad escape, an empty or
 * invalid class, an empty key, a key too long or with a control byte, a
 * mode other than soft or hard, or a mode with a class.  0 on success.
 */
int ngx_astro_cache_parse_args(const u_char *p, size_t len, u_char *buf,
    ngx_astro_cache_args_t *args);


/*
 * A message between nodes (the payload published through Redis):
 *
 *     c <class> <generation>      a class's generation, decimal, no
 *                                 leading zero (uint64)
 *     k <h|s> <key>               a key invalidated, hard or soft; the
 *                                 key is the rest of the message
 *
 * single spaces, nothing else.  What the formatter writes the parser
 * reads back as it was, and the reverse.
 */

typedef struct {
    int            what;        /* NGX_ASTRO_CACHE_CLASS or _KEY */
    int            hard;        /* a key's: 1 hard, 0 soft */
    uint64_t       gen;         /* a class's */
    const u_char  *value;       /* the class or the key, in the message */
    size_t         len;
} ngx_astro_cache_msg_t;


/* the longest message: "k h " and a key */
#define NGX_ASTRO_CACHE_MSG_MAX     (4 + NGX_ASTRO_CACHE_KEY_MAX)


/* 0 and msg set (msg->value points into p), or -1 */
int ngx_astro_cache_parse_msg(const u_char *p, size_t len,
    ngx_astro_cache_msg_t *msg);

/*
 * Writes msg at dst (NGX_ASTRO_CACHE_MSG_MAX bytes at most, no NUL) and
 * returns the end, or NULL when msg is not one the parser would accept
 * (an invalid class or key): nothing is written then.
 */
u_char *ngx_astro_cache_format_msg(u_char *dst,
    const ngx_astro_cache_msg_t *msg);


#endif /* _NGX_ASTRO_CACHE_PARSE_H_INCLUDED_ */
