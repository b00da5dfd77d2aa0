
/*
 * Copyright (C) astro developers
 */


#include "ngx_astro_cache_parse.h"


/* a stub until the parsers land */

int  ngx_astro_cache_parse_stub;
