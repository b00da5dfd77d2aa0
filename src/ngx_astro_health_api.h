
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_HEALTH_API_H_INCLUDED_
#define _NGX_ASTRO_HEALTH_API_H_INCLUDED_


/*
 * What the other modules ask of the health module, and tell it.  They
 * include this, not the health zone's layout (ngx_astro_health.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health_eval.h"
#include "ngx_astro_out.h"


/*
 * The current status, NGX_ASTRO_HEALTHY, NGX_ASTRO_DEGRADED or
 * NGX_ASTRO_CRITICAL: NGX_ASTRO_HEALTHY when no health zone is
 * configured.  r may be NULL outside a request (the cycle's).
 */
ngx_uint_t ngx_http_astro_health_current(ngx_http_request_t *r);

/*
 * Whether the memory figure of the last sample exceeds the critical
 * limit (astro_health_zone's critical memory=), whatever the status: 0
 * without a health zone, or with that limit off.
 */
ngx_uint_t ngx_http_astro_health_memory_critical(ngx_http_request_t *r);

/*
 * What the suite did to a request, which the health zone leaves out of
 * what it judges: the health of what nginx serves, not its policy.
 *
 * ngx_http_astro_health_refused(): a module refused r by policy ("by",
 * NGX_ASTRO_REFUSED_*): its response, whatever its status, is no error,
 * and is counted apart.
 *
 * ngx_http_astro_health_hold(), ngx_http_astro_health_release(): a
 * module holds r (a speed limit's delay, a queue's wait) and lets it go
 * on; the time between is left out of the response time judged.  A hold
 * still open when r is logged (the client left) ends there; a second
 * hold before the release is part of the first.
 *
 * Each marks r itself, not r->main: the mark lives in r's pool with r's
 * address, so it survives the internal redirect of an error_page, which
 * clears the modules' contexts, and a subrequest's mark is not its main
 * request's.  Without a health zone they do nothing; a mark that finds
 * no memory is lost, and the request counts as unmarked.
 */
void ngx_http_astro_health_refused(ngx_http_request_t *r, ngx_uint_t by);
void ngx_http_astro_health_hold(ngx_http_request_t *r);
void ngx_http_astro_health_release(ngx_http_request_t *r);


/*
 * astro_status ?scope=fleet: the fleet view kept in the health zone
 * (astro_health_zone redis=), as JSON or Prometheus metrics; it never
 * waits on Redis.  Without a zone or redis= the JSON says so in "error".
 */
void ngx_http_astro_health_fleet_json(ngx_http_request_t *r,
    ngx_astro_out_t *out);
void ngx_http_astro_health_fleet_prometheus(ngx_http_request_t *r,
    ngx_astro_out_t *out);


#endif /* _NGX_ASTRO_HEALTH_API_H_INCLUDED_ */
