
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CACHE_PARSE_H_INCLUDED_
#define _NGX_ASTRO_CACHE_PARSE_H_INCLUDED_


/* pure code: the invalidation endpoint's arguments, messages of nodes */


#endif /* _NGX_ASTRO_CACHE_PARSE_H_INCLUDED_ */
