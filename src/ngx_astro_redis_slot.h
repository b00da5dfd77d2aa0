
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_REDIS_SLOT_H_INCLUDED_
#define _NGX_ASTRO_REDIS_SLOT_H_INCLUDED_


/* pure code: no nginx headers, unit tested in t/unit/test_redis_slot.c */

#include <stddef.h>
#include <stdint.h>


/* the slots of a Redis Cluster */
#define NGX_ASTRO_REDIS_SLOTS  16384


/* CRC-16/XMODEM (polynomial 0x1021, initial 0), as Redis's crc16.c */
uint16_t ngx_astro_redis_crc16(const unsigned char *p, size_t len);

/*
 * A key's slot: the CRC16 of the key modulo 16384, or of its hash tag,
 * what is between its first "{" and the first "}" after it when that is
 * not empty, as Redis's keyHashSlot().
 */
unsigned ngx_astro_redis_slot(const unsigned char *key, size_t len);


#endif /* _NGX_ASTRO_REDIS_SLOT_H_INCLUDED_ */
