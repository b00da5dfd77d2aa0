
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_HEALTH_API_H_INCLUDED_
#define _NGX_ASTRO_HEALTH_API_H_INCLUDED_


/*
 * What the other modules ask of the health module: the node's status,
 * NGX_ASTRO_HEALTHY, NGX_ASTRO_DEGRADED or NGX_ASTRO_CRITICAL.  They
 * include this, not the health zone's layout (ngx_astro_health.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health_eval.h"


/*
 * The current status: NGX_ASTRO_HEALTHY when no health zone is
 * configured.  r may be NULL outside a request (the cycle's).
 */
ngx_uint_t ngx_http_astro_health_current(ngx_http_request_t *r);


#endif /* _NGX_ASTRO_HEALTH_API_H_INCLUDED_ */
