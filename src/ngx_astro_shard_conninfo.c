
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>
#include "ngx_astro_shard.h"


static ngx_uint_t ngx_http_astro_shard_numeric_host(u_char *p, size_t len);


/*
 * The conninfo as libpq parses it, without connecting; it is never
 * logged (its password).  Host names are refused: libpq would resolve
 * them with a blocking getaddrinfo() on the event loop; hostaddr= is the
 * way (host= may then name the server for TLS).
 */

char *
ngx_http_astro_shard_conninfo(ngx_conf_t *cf, ngx_str_t *s)
{
    char              *err;
    u_char            *p, *last, *start;
    size_t             n;
    PQconninfoOption  *options, *o;
    ngx_str_t          host;

    options = PQconninfoParse((char *) s->data, &err);

    if (options == NULL) {
        if (err == NULL) {
            return NGX_CONF_ERROR;
        }

        /* libpq's message ends with a newline */

        for (n = ngx_strlen(err); n && err[n - 1] == '\n'; n--) {
            /* void */
        }

        /*
         * Its messages about a URI end with the URI, or a part of it, in
         * quotes: the password may be in them
         */

        if (ngx_strncmp(s->data, "postgresql://", 13) == 0
            || ngx_strncmp(s->data, "postgres://", 11) == 0)
        {
            for (p = (u_char *) err + n; p > (u_char *) err + 2; p--) {
                if (p[-3] == ':' && p[-2] == ' ' && p[-1] == '"') {
                    n = p - 3 - (u_char *) err;
                    break;
                }
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"postgres\" parameter: %*s", n, err);
        PQfreemem(err);

        return NGX_CONF_ERROR;
    }

    ngx_str_null(&host);

    for (o = options; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            PQconninfoFree(options);
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host.data = (u_char *) o->val;
            host.len = ngx_strlen(o->val);
        }
    }

    /* host= may list several, comma-separated */

    last = host.data + host.len;

    for (start = host.data; start < last; start = p + 1) {

        for (p = start; p < last && *p != ','; p++) { /* void */ }

        if (p > start && *start != '/' && *start != '@'
            && !ngx_http_astro_shard_numeric_host(start, p - start))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"postgres\" parameter: host \"%*s\" "
                               "is not a numeric address (use \"hostaddr\")",
                               p - start, start);
            PQconninfoFree(options);
            return NGX_CONF_ERROR;
        }
    }

    PQconninfoFree(options);

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_astro_shard_numeric_host(u_char *p, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];

    if (ngx_inet6_addr(p, len, addr6) == NGX_OK) {
        return 1;
    }
#endif

    return ngx_inet_addr(p, len) != INADDR_NONE;
}
