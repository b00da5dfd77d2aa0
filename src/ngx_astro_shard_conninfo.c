
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>
#include "ngx_astro_shard.h"


/*
 * postgres=: the conninfo as libpq parses it, without connecting; it is
 * never logged (its password).  Nothing in it may make libpq resolve a
 * name, with a getaddrinfo() that blocks the event loop:
 *
 * - a host= lists numeric addresses or Unix-socket directories, unless
 *   hostaddr= is given (host= then only names the server, for TLS);
 * - service= is refused: pg_service.conf may give a host name.
 *
 * Without host= and hostaddr=, libpq takes PGHOST, PGHOSTADDR or
 * PGSERVICE from the environment, else its default Unix socket.  nginx
 * leaves a worker no environment but TZ and what "env" directives pass
 * (ngx_set_environment() in ngx_worker_process_init()): such a conninfo
 * is allowed, and docs/shard.md says what "env" must not pass.
 */


static char *ngx_http_astro_shard_conninfo_error(ngx_conf_t *cf,
    ngx_str_t *s, char *err);
static char *ngx_http_astro_shard_conninfo_hosts(ngx_conf_t *cf,
    ngx_str_t *host);
static ngx_uint_t ngx_http_astro_shard_numeric_host(u_char *p, size_t len);


char *
ngx_http_astro_shard_conninfo(ngx_conf_t *cf, ngx_str_t *s)
{
    char              *err, *service, *rv;
    ngx_str_t          host;
    ngx_uint_t         hostaddr;
    PQconninfoOption  *options, *o;

    options = PQconninfoParse((char *) s->data, &err);

    if (options == NULL) {
        return ngx_http_astro_shard_conninfo_error(cf, s, err);
    }

    service = NULL;
    hostaddr = 0;
    ngx_str_null(&host);

    for (o = options; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        /* even empty: libpq looks "" up in pg_service.conf too */

        if (ngx_strcmp(o->keyword, "service") == 0) {
            service = o->val;

        } else if (o->val[0] == '\0') {
            continue;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = 1;

        } else if (ngx_strcmp(o->keyword, "host") == 0) {
            host.data = (u_char *) o->val;
            host.len = ngx_strlen(o->val);
        }
    }

    if (service) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"postgres\" parameter: service \"%s\" "
                           "may name a host (use \"hostaddr\")", service);
        rv = NGX_CONF_ERROR;

    } else if (hostaddr) {
        rv = NGX_CONF_OK;

    } else {
        rv = ngx_http_astro_shard_conninfo_hosts(cf, &host);
    }

    PQconninfoFree(options);

    return rv;
}


/* libpq's message, without the URI (and its password) that it quotes */

static char *
ngx_http_astro_shard_conninfo_error(ngx_conf_t *cf, ngx_str_t *s, char *err)
{
    u_char  *p;
    size_t   n;

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


/* host= may list several, comma-separated: each an address or a socket */

static char *
ngx_http_astro_shard_conninfo_hosts(ngx_conf_t *cf, ngx_str_t *host)
{
    u_char  *p, *last, *start;

    if (host->len == 0) {
        /* "host=": libpq's default, as without it */
        return NGX_CONF_OK;
    }

    last = host->data + host->len;

    for (start = host->data; start < last; start = p + 1) {

        for (p = start; p < last && *p != ','; p++) { /* void */ }

        if (p > start && *start != '/' && *start != '@'
            && !ngx_http_astro_shard_numeric_host(start, p - start))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"postgres\" parameter: host \"%*s\" "
                               "is not a numeric address (use \"hostaddr\")",
                               p - start, start);
            return NGX_CONF_ERROR;
        }
    }

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
