
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/sha.h>
#include "ngx_astro_redis_internal.h"


static ngx_int_t ngx_astro_redis_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_astro_redis_procs(ngx_astro_redis_t *rd,
    ngx_astro_procs_zone_t *z);
static void ngx_astro_redis_reclaim(void *data, ngx_uint_t slot,
    ngx_uint_t *n);
static void ngx_astro_redis_report(void *data, ngx_pid_t pid, ngx_uint_t *n,
    ngx_log_t *log);


/* the shared zone's tag: the same in every cycle, so a reload keeps it */
static ngx_uint_t  ngx_astro_redis_tag;


ngx_astro_redis_t *
ngx_astro_redis_create(ngx_conf_t *cf, ngx_str_t *tag)
{
    ngx_astro_redis_t  *rd;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_astro_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rd->scripts, cf->pool, 2,
                       sizeof(ngx_astro_redis_script_t *))
        != NGX_OK)
    {
        return NULL;
    }

    rd->tag = *tag;
    rd->db = NGX_CONF_UNSET_UINT;
    rd->pool = NGX_CONF_UNSET_UINT;
    rd->connect_timeout = NGX_CONF_UNSET_MSEC;
    rd->timeout = NGX_CONF_UNSET_MSEC;
    rd->hold_time = NGX_CONF_UNSET_MSEC;
    rd->circuit.failures = NGX_CONF_UNSET_UINT;
    rd->circuit.open = NGX_CONF_UNSET_MSEC;
    rd->circuit.max_open = NGX_CONF_UNSET_MSEC;

    return rd;
}


ngx_int_t
ngx_astro_redis_parse_url(ngx_conf_t *cf, ngx_str_t *url, ngx_url_t *u)
{
    ngx_str_t  *value;

    ngx_memzero(u, sizeof(ngx_url_t));

    u->url = *url;
    u->default_port = 6379;

    if (ngx_parse_url(cf->pool, u) != NGX_OK || u->naddrs == 0) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\"%s%s "
                           "in \"%V\" directive", url, u->err ? ": " : "",
                           u->err ? u->err : "", &value[0]);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_astro_redis_init_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd)
{
    u_char     *p;
    size_t      len, size;
    ngx_str_t   name;
    u_char      buf[NGX_SOCKADDR_STRLEN];

    ngx_conf_init_uint_value(rd->db, 0);
    ngx_conf_init_uint_value(rd->pool, 2);
    ngx_conf_init_msec_value(rd->connect_timeout, 50);
    ngx_conf_init_msec_value(rd->timeout, 50);
    ngx_conf_init_msec_value(rd->hold_time, 5);
    /*
     * max_fails failed commands in a row open the circuit, for backoff,
     * twice as long after a probe fails, at most max_backoff; a probe has
     * the time of a connect and a command to answer
     *
     * set by ngx_pcalloc():
     *
     *     rd->circuit.error_rate = 0;
     *     rd->circuit.min_requests = 0;
     *     rd->circuit.window = 0;
     */

    ngx_conf_init_uint_value(rd->circuit.failures, 5);
    ngx_conf_init_msec_value(rd->circuit.open, 1000);
    ngx_conf_init_msec_value(rd->circuit.max_open, 30000);

    if (rd->circuit.max_open < rd->circuit.open) {
        rd->circuit.max_open = rd->circuit.open;
    }

    rd->circuit.probes = 1;
    rd->circuit.probe_timeout = rd->connect_timeout + rd->timeout;

    /* hiredis takes a numeric address: it resolves nothing in a worker */

    if (rd->addr->sockaddr->sa_family == AF_UNIX) {
        len = rd->addr->socklen - offsetof(struct sockaddr_un, sun_path);
        len = ngx_min(len, sizeof(rd->host) - 1);
        ngx_memcpy(rd->host,
                   ((struct sockaddr_un *) rd->addr->sockaddr)->sun_path,
                   len);
        rd->host[len] = '\0';
        rd->port = 0;

    } else {
        len = ngx_sock_ntop(rd->addr->sockaddr, rd->addr->socklen, buf,
                            NGX_SOCKADDR_STRLEN, 0);
        ngx_memcpy(rd->host, buf, len);
        rd->host[len] = '\0';
        rd->port = ngx_inet_get_port(rd->addr->sockaddr);
    }

    /* a host name, asked again after a failure (_resolve.c) */
    ngx_astro_redis_resolve_conf(cf, rd);

    /*
     * One zone per directive and address, "astro_ratelimit_redis
     * 127.0.0.1:6379": a reload finds its counters and circuit, but a new
     * address starts with a closed circuit, while the old workers still
     * failing against the old address count in the old zone.  nginx leaves
     * the old zone out of the new cycle, and its memory goes with the last
     * old worker that maps it.
     */

    len = ngx_sock_ntop(rd->addr->sockaddr, rd->addr->socklen, buf,
                        NGX_SOCKADDR_STRLEN, 1);

    /* a cluster's: "astro_ratelimit_redis cluster=...", as written */

    name.len = rd->tag.len + 1 + (rd->seeds ? rd->name.len : len);
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(name.data, rd->tag.data, rd->tag.len);
    *p++ = ' ';
    ngx_memcpy(p, rd->seeds ? rd->name.data : buf,
               rd->seeds ? rd->name.len : len);

    /* a cluster's servers' shared parts, made when a worker meets them */

    size = 8 * ngx_pagesize + sizeof(ngx_astro_redis_sh_t);

    if (rd->seeds) {
        size += sizeof(ngx_astro_redis_cluster_sh_t)
                + NGX_ASTRO_REDIS_NODES
                  * ngx_align(sizeof(ngx_astro_redis_sh_t), ngx_pagesize);
    }

    rd->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                         &ngx_astro_redis_tag);
    if (rd->shm_zone == NULL) {
        return NGX_ERROR;
    }

    rd->shm_zone->init = ngx_astro_redis_init_zone;
    rd->shm_zone->data = rd;

    return NGX_OK;
}


/*
 * cluster=host:port[,host:port...]: the servers asked for the slot map
 * first, resolved here (never in a worker); the first one names the
 * zone's address.  A path is refused: a cluster's servers have ports.
 */

ngx_int_t
ngx_astro_redis_cluster_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_str_t *value)
{
    u_char      *p, *last, *comma;
    ngx_url_t    u;
    ngx_str_t    item;
    ngx_uint_t   i;
    ngx_addr_t  *seed;

    p = value->data + sizeof("cluster=") - 1;
    last = value->data + value->len;

    rd->seeds = ngx_array_create(cf->pool, 4, sizeof(ngx_addr_t));
    if (rd->seeds == NULL) {
        return NGX_ERROR;
    }

    do {
        comma = ngx_strlchr(p, last, ',');

        item.data = p;
        item.len = (comma ? comma : last) - p;

        if (item.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\" "
                               "directive: an empty address", value,
                               &rd->tag);
            return NGX_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = item;
        u.default_port = 6379;
        u.no_resolve = 0;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0
            || u.family == AF_UNIX || u.uri.len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"%V\" of \"%V\" in \"%V\" "
                               "directive",
                               u.err ? u.err
                                     : (u.family == AF_UNIX || u.uri.len)
                                       ? "not a host and port"
                                       : "no address",
                               &item, value, &rd->tag);
            return NGX_ERROR;
        }

        for (i = 0; i < u.naddrs; i++) {
            seed = ngx_array_push(rd->seeds);
            if (seed == NULL) {
                return NGX_ERROR;
            }

            *seed = u.addrs[i];
        }

        if (comma == NULL) {
            break;
        }

        p = comma + 1;

    } while (p <= last);

    rd->name = *value;
    rd->addr = rd->seeds->elts;

    return NGX_OK;
}


ngx_int_t
ngx_astro_redis_add_script(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script)
{
    unsigned char               md[SHA_DIGEST_LENGTH];
    ngx_astro_redis_script_t  **s;

    s = ngx_array_push(&rd->scripts);
    if (s == NULL) {
        return NGX_ERROR;
    }

    /*
     * the SHA1 that SCRIPT LOAD answers and EVALSHA takes, computed once:
     * a new connection pipelines SCRIPT LOAD and its first EVALSHA
     */

    SHA1(script->body.data, script->body.len, md);
    ngx_hex_dump(script->sha1, md, SHA_DIGEST_LENGTH);

    *s = script;

    return NGX_OK;
}


static ngx_int_t
ngx_astro_redis_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_astro_redis_t  *ord = data;

    ngx_slab_pool_t       *shpool;
    ngx_astro_redis_t     *rd;
    ngx_astro_redis_sh_t  *sh;

    rd = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    rd->shpool = shpool;

    if (ord) {
        rd->sh = ord->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        rd->sh = shpool->data;
        return NGX_OK;
    }

    /* all zero: no counts, a closed circuit */

    sh = ngx_slab_calloc(shpool, sizeof(ngx_astro_redis_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    if (rd->seeds) {
        sh->cluster = ngx_slab_calloc(shpool,
                                      sizeof(ngx_astro_redis_cluster_sh_t));
        if (sh->cluster == NULL) {
            return NGX_ERROR;
        }
    }

    shpool->data = sh;
    rd->sh = sh;

    return NGX_OK;
}


/*
 * The processes that use the zone, of every configuration that has the
 * directive and the address: a process's gauges are counted by its slot,
 * and given back by its successor in the slot, or when another process
 * starts or reads the status and finds it gone.
 */

ngx_int_t
ngx_astro_redis_register(ngx_astro_redis_t *rd)
{
    ngx_astro_procs_zone_t  z;

    ngx_astro_redis_procs(rd, &z);

    if (ngx_astro_procs_register(&z, 0, rd->log) == NULL) {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "%V: redis %V: no process slot", &rd->tag, &rd->name);
        return NGX_ERROR;
    }

    /* an old configuration's process killed does not come back */

    (void) ngx_astro_procs_sweep(&z, rd->log);

    return NGX_OK;
}


void
ngx_astro_redis_unregister(ngx_astro_redis_t *rd)
{
    ngx_astro_procs_zone_t  z;

    ngx_astro_redis_procs(rd, &z);
    ngx_astro_procs_exit(&z);
}


/* the gauges of the processes alive */

void
ngx_astro_redis_gauges(ngx_astro_redis_t *rd, ngx_uint_t *connections,
    ngx_uint_t *in_flight)
{
    ngx_uint_t               s;
    ngx_astro_redis_sh_t    *sh;
    ngx_astro_procs_zone_t   z;

    ngx_astro_redis_procs(rd, &z);
    (void) ngx_astro_procs_sweep(&z, ngx_cycle->log);

    sh = rd->sh;
    *connections = 0;
    *in_flight = 0;

    for (s = 0; s < sh->procs.n; s++) {
        *connections += sh->shares[s].connections;
        *in_flight += sh->shares[s].in_flight;
    }
}


static void
ngx_astro_redis_procs(ngx_astro_redis_t *rd, ngx_astro_procs_zone_t *z)
{
    z->shpool = rd->shpool;
    z->procs = &rd->sh->procs;
    z->reclaim = ngx_astro_redis_reclaim;
    z->report = ngx_astro_redis_report;
    z->data = rd;
}


/* under the mutex: n[0] connections, n[1] decisions in flight */

static void
ngx_astro_redis_reclaim(void *data, ngx_uint_t slot, ngx_uint_t *n)
{
    ngx_astro_redis_t *rd = data;

    ngx_astro_redis_share_t  *share;

    share = &rd->sh->shares[slot];

    n[0] = share->connections;
    n[1] = share->in_flight;

    share->connections = 0;
    share->in_flight = 0;
}


static void
ngx_astro_redis_report(void *data, ngx_pid_t pid, ngx_uint_t *n,
    ngx_log_t *log)
{
    ngx_astro_redis_t *rd = data;

    if (n[0] || n[1]) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "%V: redis %V: process %P is gone: its %ui "
                      "connections and %ui decisions in flight no longer "
                      "counted", &rd->tag, &rd->name, pid, n[0], n[1]);
    }
}
