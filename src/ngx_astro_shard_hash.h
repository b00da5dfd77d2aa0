
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SHARD_HASH_H_INCLUDED_
#define _NGX_ASTRO_SHARD_HASH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* to be written (issue 17) */


#endif /* _NGX_ASTRO_SHARD_HASH_H_INCLUDED_ */
