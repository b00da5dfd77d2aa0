
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_WAIT_H_INCLUDED_
#define _NGX_ASTRO_WAIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * A phase handler's request waits for an event of its own (a Redis reply,
 * a place in a queue): NGX_AGAIN, or an error status.  A client that
 * closes its connection meanwhile is noticed and its request finalized.
 */
ngx_int_t ngx_astro_http_wait(ngx_http_request_t *r);

/* the handler of an event posted for such a request (ev->data is r) */
void ngx_astro_http_resume(ngx_event_t *ev);


#endif /* _NGX_ASTRO_WAIT_H_INCLUDED_ */
