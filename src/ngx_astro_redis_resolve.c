
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
#include "ngx_astro_redis_internal.h"


/*
 * A Redis given by host name: nginx -t resolved it once (ngx_parse_url),
 * and that address is used until a connection fails.  The next connect
 * after a failure asks the resolver of the http{} level again, without
 * waiting for its answer: it goes to the address known, and when the
 * answer names another one the worker takes it (the connections closed
 * meanwhile connect there, those left on the old address are closed to
 * follow when they are idle).  Without a resolver, or when it fails, the
 * address known is kept.  An answer of the resolver's cache comes at
 * once (its valid=), before the connect.
 */


static ngx_resolver_t *ngx_astro_redis_resolver(ngx_msec_t *timeout);
static void ngx_astro_redis_resolved(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_astro_redis_answer_has(ngx_resolver_ctx_t *ctx,
    ngx_astro_redis_t *rd);
static void ngx_astro_redis_follow(ngx_event_t *ev);


/* rd->name "host:port" whose host is no address: the name to ask again */

void
ngx_astro_redis_resolve_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd)
{
    u_char  *p, *last;

    if (rd->addr->sockaddr->sa_family != AF_INET
        || rd->name.len == 0 || rd->name.data[0] == '[')
    {
        return;
    }

    p = rd->name.data;
    last = p + rd->name.len;

    /* a name as ngx_parse_url takes it, of one server */

    if (ngx_strlchr(p, last, ',') || ngx_strlchr(p, last, '=')
        || ngx_strlchr(p, last, '/'))
    {
        return;
    }

    last = ngx_strlchr(p, last, ':');
    if (last == NULL) {
        last = p + rd->name.len;
    }

    if (last == p || ngx_inet_addr(p, last - p) != INADDR_NONE) {
        return;
    }

    rd->resolve_name.data = p;
    rd->resolve_name.len = last - p;
}


/*
 * A connection about to be made again after a failure (its backoff
 * started): the name is asked again, one question at a time a worker.
 */

void
ngx_astro_redis_resolve(ngx_astro_redis_conn_t *conn)
{
    ngx_msec_t           timeout;
    ngx_resolver_t      *r;
    ngx_astro_redis_t   *rd;
    ngx_resolver_ctx_t  *ctx;

    rd = conn->redis;

    if (rd->resolve_name.len == 0 || conn->backoff == 0 || rd->resolving
        || rd->exiting)
    {
        return;
    }

    r = ngx_astro_redis_resolver(&timeout);

    if (r == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "astro_redis: %V: no resolver, the address is kept",
                       &rd->name);
        return;
    }

    ctx = ngx_resolve_start(r, NULL);

    if (ctx == NGX_NO_RESOLVER) {
        return;
    }

    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "%V: redis %V: no memory to resolve \"%V\"",
                      &rd->tag, &rd->name, &rd->resolve_name);
        return;
    }

    ctx->name = rd->resolve_name;
    ctx->handler = ngx_astro_redis_resolved;
    ctx->data = rd;
    ctx->timeout = timeout;

    /* a worker that exits does not wait for the answer */
    ctx->cancelable = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "astro_redis: connection #%ui: resolving \"%V\"",
                   (ngx_uint_t) (conn - rd->conns), &rd->resolve_name);

    rd->resolving = ctx;

    /* a cached answer calls ngx_astro_redis_resolved() before this returns */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* ctx is freed */
        rd->resolving = NULL;
        ngx_atomic_fetch_add(&rd->sh->resolve_failed, 1);
    }
}


static ngx_resolver_t *
ngx_astro_redis_resolver(ngx_msec_t *timeout)
{
    ngx_http_conf_ctx_t       *hctx;
    ngx_http_core_loc_conf_t  *clcf;

    hctx = (ngx_http_conf_ctx_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                                ngx_http_module);
    if (hctx == NULL) {
        return NULL;
    }

    /* the http{} level's: a server's own resolver is not the client's */

    clcf = hctx->loc_conf[ngx_http_core_module.ctx_index];

    if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0) {
        return NULL;
    }

    *timeout = (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
               ? 30000 : clcf->resolver_timeout;

    return clcf->resolver;
}


static void
ngx_astro_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_astro_redis_t *rd = ctx->data;

    size_t      len;
    ngx_uint_t  i;
    u_char      old[NGX_SOCKADDR_STRLEN + 1];

    rd->resolving = NULL;

    if (ctx->state) {
        ngx_atomic_fetch_add(&rd->sh->resolve_failed, 1);

        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "%V: redis %V: \"%V\" could not be resolved (%i: %s), "
                      "%s is kept", &rd->tag, &rd->name, &ctx->name,
                      ctx->state, ngx_resolver_strerror(ctx->state),
                      rd->host);
        goto done;
    }

    ngx_atomic_fetch_add(&rd->sh->resolved, 1);

    if (rd->exiting || ngx_astro_redis_answer_has(ctx, rd)) {
        goto done;
    }

    /* IPv4 only: the port of the configuration is kept */

    for (i = 0; i < ctx->naddrs; i++) {
        if (ctx->addrs[i].sockaddr->sa_family == AF_INET) {
            break;
        }
    }

    if (i == ctx->naddrs) {
        goto done;
    }

    ngx_memcpy(old, rd->host, sizeof(old));

    len = ngx_sock_ntop(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen,
                        (u_char *) rd->host, NGX_SOCKADDR_STRLEN, 0);
    rd->host[len] = '\0';

    ngx_atomic_fetch_add(&rd->sh->moved, 1);

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "%V: redis %V: \"%V\" is now %s (was %s)",
                  &rd->tag, &rd->name, &ctx->name, rd->host, old);

    /* not now: this may be inside ngx_astro_redis_pick()'s walk */

    rd->follow.handler = ngx_astro_redis_follow;
    rd->follow.data = rd;
    rd->follow.log = rd->log;
    rd->follow.cancelable = 1;

    if (rd->follow.timer_set) {
        ngx_del_timer(&rd->follow);
    }

    ngx_add_timer(&rd->follow, 1);

done:

    ngx_resolve_name_done(ctx);
}


/* the address known is among the answer's: no move */

static ngx_int_t
ngx_astro_redis_answer_has(ngx_resolver_ctx_t *ctx, ngx_astro_redis_t *rd)
{
    size_t      len;
    ngx_uint_t  i;
    u_char      buf[NGX_SOCKADDR_STRLEN];

    for (i = 0; i < ctx->naddrs; i++) {
        len = ngx_sock_ntop(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen,
                            buf, NGX_SOCKADDR_STRLEN, 0);

        if (len == ngx_strlen(rd->host)
            && ngx_strncmp(buf, rd->host, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The pool follows the new address: a connection closed connects there
 * at once, an idle one on the old address is closed for it; one with
 * commands out, or still connecting, is looked at again every 100ms.
 */

static void
ngx_astro_redis_follow(ngx_event_t *ev)
{
    ngx_astro_redis_t *rd = ev->data;

    ngx_uint_t               i, wait;
    ngx_astro_redis_conn_t  *conn;

    if (rd->exiting) {
        return;
    }

    wait = 0;

    for (i = 0; i < rd->pool; i++) {
        conn = &rd->conns[i];

        if (conn->ac && conn->ac->c.tcp.host
            && ngx_strcmp(conn->ac->c.tcp.host, rd->host) != 0)
        {
            if (conn->state != NGX_ASTRO_REDIS_READY || conn->ncmds) {
                wait = 1;
                continue;
            }

            ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                           "astro_redis: connection #%ui: closed to follow "
                           "the new address", i);

            ngx_astro_redis_close(conn, NGX_ASTRO_REDIS_ERR_CLOSED, NULL);

            /* no failure: made again at once, without a question */
            conn->backoff = 0;
        }

        if (conn->state == NGX_ASTRO_REDIS_IDLE) {
            conn->retry = ngx_current_msec;
        }
    }

    if (wait) {
        ngx_add_timer(&rd->follow, 100);
    }
}


/* the status: the address a worker uses, the answers counted */

void
ngx_astro_redis_resolve_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd)
{
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    if (rd->resolve_name.len == 0 || sh == NULL) {
        return;
    }

    ngx_astro_out_literal(out, ",\"resolve\":{\"name\":");
    ngx_astro_out_json_str(out, rd->resolve_name.data, rd->resolve_name.len);
    ngx_astro_out_printf(out,
                         ",\"current\":\"%s:%d\",\"resolved\":%uA,"
                         "\"failed\":%uA,\"moved\":%uA}",
                         rd->host, rd->port, sh->resolved, sh->resolve_failed,
                         sh->moved);
}


void
ngx_astro_redis_resolve_prometheus(ngx_astro_out_t *out,
    ngx_astro_redis_t *rd, const char *prefix)
{
    ngx_astro_redis_sh_t  *sh;

    sh = rd->sh;

    if (rd->resolve_name.len == 0 || sh == NULL) {
        return;
    }

    ngx_astro_out_printf(out,
        "# HELP %s_redis_resolutions_total Host name asked again after a "
        "failure, by outcome\n"
        "# TYPE %s_redis_resolutions_total counter\n"
        "%s_redis_resolutions_total{outcome=\"answered\"} %uA\n"
        "%s_redis_resolutions_total{outcome=\"failed\"} %uA\n"
        "# HELP %s_redis_address_changes_total Answers that moved a worker "
        "to another address\n"
        "# TYPE %s_redis_address_changes_total counter\n"
        "%s_redis_address_changes_total %uA\n",
        prefix, prefix, prefix, sh->resolved, prefix, sh->resolve_failed,
        prefix, prefix, prefix, sh->moved);
}
