
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SOCKET_H_INCLUDED_
#define _NGX_ASTRO_SOCKET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/*
 * A client library's socket (hiredis, libpq) in an nginx connection for
 * its events: the connection let go, its events deleted, the socket left
 * open for the library to close.
 */
void ngx_astro_socket_unwrap(ngx_connection_t *c);


#endif /* _NGX_ASTRO_SOCKET_H_INCLUDED_ */
