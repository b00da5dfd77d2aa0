
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_cache_policy.h"


/* a stub until the policy lands */

int  ngx_astro_cache_policy_stub;
