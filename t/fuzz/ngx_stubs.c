
/*
 * Copyright (C) astro developers
 */


/*
 * What the harnesses built against nginx's headers need of nginx beyond
 * the few core files they link (FUZZ_NGX in the Makefile: strings,
 * pools, buffers, arrays, parsers, crc32, rbtree): the cycle, the clock,
 * the posted events and the timers, and the logging functions.  A
 * message is formatted as nginx would, into a buffer, so that a format
 * that does not match its arguments is caught, then dropped.  What no
 * parser should reach aborts.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>


volatile ngx_cycle_t  *ngx_cycle;
volatile ngx_time_t   *ngx_cached_time;
volatile ngx_msec_t    ngx_current_msec;

ngx_queue_t            ngx_posted_events = {
                           &ngx_posted_events, &ngx_posted_events
                       };
ngx_rbtree_t           ngx_event_timer_rbtree;


static void
ngx_stub_format(const char *fmt, va_list args)
{
    u_char  errstr[NGX_MAX_ERROR_STR];

    (void) ngx_vslprintf(errstr, errstr + sizeof(errstr), fmt, args);
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_stub_format(fmt, args);
    va_end(args);
}


void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_stub_format(fmt, args);
    va_end(args);
}


ngx_http_variable_t *
ngx_http_add_variable(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t flags)
{
    abort();
}


ngx_int_t
ngx_http_compile_complex_value(ngx_http_compile_complex_value_t *ccv)
{
    abort();
}


void *
ngx_list_push(ngx_list_t *list)
{
    abort();
}


ngx_int_t
ngx_http_arg(ngx_http_request_t *r, u_char *name, size_t len,
    ngx_str_t *value)
{
    abort();
}


ngx_int_t
ngx_http_discard_request_body(ngx_http_request_t *r)
{
    abort();
}


ngx_int_t
ngx_http_send_header(ngx_http_request_t *r)
{
    abort();
}


ngx_int_t
ngx_http_output_filter(ngx_http_request_t *r, ngx_chain_t *chain)
{
    abort();
}
