
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_redis_internal.h"


/* the kinds of errors, by NGX_ASTRO_REDIS_ERR_*, as the status names them */
const char  *ngx_astro_redis_error_names[] = {
    "connect", "timeout", "auth", "protocol", "reply", "closed"
};


/*
 * Counted always, logged at most once a second per kind and worker: a
 * Redis that is down does not fill the log with a line a request.
 */

void
ngx_astro_redis_error(ngx_astro_redis_t *rd, ngx_uint_t kind,
    const char *fmt, ...)
{
    u_char   *p, *last;
    time_t    now;
    va_list   args;
    u_char    buf[512];

    if (rd->exiting) {
        return;
    }

    ngx_atomic_fetch_add(&rd->sh->errors[kind], 1);

    now = ngx_time();

    if (rd->logged[kind] == now) {
        rd->suppressed[kind]++;
        return;
    }

    last = buf + sizeof(buf);

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    if (rd->suppressed[kind]) {
        p = ngx_slprintf(p, last, " (and %ui more since the last report)",
                         rd->suppressed[kind]);
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0, "%V: redis %V: %*s",
                  &rd->tag, &rd->name, p - buf, buf);

    rd->logged[kind] = now;
    rd->suppressed[kind] = 0;
}
