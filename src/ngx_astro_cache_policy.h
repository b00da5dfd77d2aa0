
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_CACHE_POLICY_H_INCLUDED_
#define _NGX_ASTRO_CACHE_POLICY_H_INCLUDED_


/*
 * pure code: the validity of a response from its class's policy, the
 * origin's headers, the health factor and the churn; no nginx headers,
 * unit tested in t/unit/test_cache_policy.c.
 */


#include <stdint.h>


/* astro_cache origin= */
#define NGX_ASTRO_CACHE_ORIGIN_RESPECT   0
#define NGX_ASTRO_CACHE_ORIGIN_OVERRIDE  1
#define NGX_ASTRO_CACHE_ORIGIN_MIN       2


#endif /* _NGX_ASTRO_CACHE_POLICY_H_INCLUDED_ */
