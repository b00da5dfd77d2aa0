
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_redis.h"
#include "ngx_astro_health_lua.h"  /* generated from src/lua/ by `config` */


/*
 * The fleet view (astro_health_zone redis=): the worker that takes a
 * sample appends it to the node's stream and reads every node's latest
 * samples back, in one call of src/lua/health_fleet.lua, on the shared
 * Redis client; the reply becomes the zone's view.  One call a node is
 * in flight at most (a lease in the zone): a sample taken meanwhile, or
 * while Redis is away, is not sent, and the stream has a gap.
 */


#define NGX_HTTP_ASTRO_FLEET_PREFIX  "astro:health:"


struct ngx_http_astro_health_fleet_s {
    ngx_astro_redis_t                   *redis;
    ngx_astro_redis_script_t            *script;
    ngx_str_t                            key;       /* the registry */
    ngx_str_t                            opts;      /* "maxlen count ..." */
    time_t                               period;    /* of the lease */

    /* a worker's */
    ngx_astro_redis_cmd_t               *cmd;       /* in flight */
    ngx_http_astro_health_fleet_view_t  *view;      /* the reply, parsed */
};


static ngx_int_t ngx_http_astro_health_fleet_handler(void *data,
    redisReply *reply);
static ngx_int_t ngx_http_astro_health_fleet_parse(
    ngx_http_astro_health_fleet_view_t *view, redisReply *r);
static ngx_int_t ngx_http_astro_health_fleet_node(
    ngx_http_astro_health_fleet_node_t *node, redisReply *r, int64_t now);
static ngx_int_t ngx_http_astro_health_fleet_sample(
    ngx_http_astro_health_sample_t *s, redisReply *r);
static int ngx_libc_cdecl ngx_http_astro_health_fleet_cmp(const void *one,
    const void *two);
static void ngx_http_astro_health_fleet_failed(
    ngx_http_astro_health_main_conf_t *hmcf, const char *why);
static uint64_t ngx_http_astro_health_fleet_now(void);


static ngx_str_t  ngx_http_astro_health_fleet_tag =
    ngx_string("astro_health_zone");

static const char  ngx_http_astro_health_lua_fleet[] =
    NGX_ASTRO_LUA_HEALTH_FLEET;


/* a sample's figures, as the stream's entries name them */

typedef struct {
    const char                  *name;
    size_t                       offset;    /* of a float in the sample */
} ngx_http_astro_health_fleet_field_t;


static ngx_http_astro_health_fleet_field_t  ngx_http_astro_health_fields[] =
{
    { "cpu", offsetof(ngx_http_astro_health_sample_t, cpu) },
    { "memory", offsetof(ngx_http_astro_health_sample_t, memory) },
    { "load", offsetof(ngx_http_astro_health_sample_t, load) },
    { "request_rate",
      offsetof(ngx_http_astro_health_sample_t, request_rate) },
    { "error_rate", offsetof(ngx_http_astro_health_sample_t, error_rate) },
    { "latency", offsetof(ngx_http_astro_health_sample_t, latency) },
    { "p95", offsetof(ngx_http_astro_health_sample_t, p95) },
    { NULL, 0 }
};


#define ngx_http_astro_health_fleet_figure(s, f)                             \
    ((float *) ((u_char *) (s) + (f)->offset))


/* redis=, node= and keep= are parsed: the client, its script, the keys */

char *
ngx_http_astro_health_fleet_conf(ngx_conf_t *cf,
    ngx_http_astro_health_main_conf_t *hmcf)
{
    u_char                         *p;
    ngx_url_t                       u;
    ngx_uint_t                      maxlen;
    ngx_astro_redis_t              *rd;
    ngx_astro_redis_script_t       *script;
    ngx_http_astro_health_fleet_t  *fl;

    if (ngx_astro_redis_parse_url(cf, &hmcf->redis_url, &u) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fl = ngx_pcalloc(cf->pool, sizeof(ngx_http_astro_health_fleet_t));
    script = ngx_pcalloc(cf->pool, sizeof(ngx_astro_redis_script_t));
    rd = ngx_astro_redis_create(cf, &ngx_http_astro_health_fleet_tag);
    if (fl == NULL || script == NULL || rd == NULL) {
        return NGX_CONF_ERROR;
    }

    rd->name = u.url;
    rd->addr = &u.addrs[0];

    /*
     * one call an interval: one connection a worker, a reply in time for
     * the next sample, and an open circuit that lets a probe through
     * within two intervals once Redis is back
     */

    rd->pool = 1;
    rd->timeout = ngx_min(hmcf->interval, 1000);
    rd->circuit.max_open = ngx_max(2 * hmcf->interval, 1000);

    script->body.data = (u_char *) ngx_http_astro_health_lua_fleet;
    script->body.len = sizeof(ngx_http_astro_health_lua_fleet) - 1;
    script->nargs = 3;
    script->nhead = 0;
    script->nreply = 1;

    if (ngx_astro_redis_add_script(cf, rd, script) != NGX_OK
        || ngx_astro_redis_init_conf(cf, rd) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    fl->redis = rd;
    fl->script = script;

    fl->key.len = sizeof(NGX_HTTP_ASTRO_FLEET_PREFIX ":nodes") - 1
                  + hmcf->name.len;
    fl->key.data = ngx_pnalloc(cf->pool, fl->key.len);
    if (fl->key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(fl->key.data, NGX_HTTP_ASTRO_FLEET_PREFIX,
                   sizeof(NGX_HTTP_ASTRO_FLEET_PREFIX) - 1);
    p = ngx_cpymem(p, hmcf->name.data, hmcf->name.len);
    ngx_memcpy(p, ":nodes", 6);

    /* the stream holds "keep" of samples, a few more (MAXLEN ~) */

    maxlen = ngx_max(hmcf->keep / hmcf->interval, 1);

    fl->opts.data = ngx_pnalloc(cf->pool, 4 * NGX_INT_T_LEN);
    if (fl->opts.data == NULL) {
        return NGX_CONF_ERROR;
    }

    fl->opts.len = ngx_sprintf(fl->opts.data, "%ui %d %M %d", maxlen,
                               NGX_HTTP_ASTRO_FLEET_SAMPLES, hmcf->keep,
                               NGX_HTTP_ASTRO_FLEET_NODES)
                   - fl->opts.data;

    fl->period = (rd->connect_timeout + rd->timeout) / 1000 + 2;

    hmcf->fleet = fl;

    return NGX_CONF_OK;
}


size_t
ngx_http_astro_health_fleet_size(void)
{
    return sizeof(ngx_http_astro_health_fleet_sh_t);
}


/* the view, made once and kept: old workers may still write to it */

ngx_int_t
ngx_http_astro_health_fleet_alloc(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_shctx_t *sh)
{
    if (hmcf->fleet == NULL || sh->fleet) {
        return NGX_OK;
    }

    sh->fleet = ngx_slab_calloc_locked(hmcf->shpool,
                               sizeof(ngx_http_astro_health_fleet_sh_t));
    if (sh->fleet == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_astro_health_fleet_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_health_main_conf_t *hmcf)
{
    ngx_http_astro_health_fleet_t  *fl;

    fl = hmcf->fleet;

    if (fl == NULL) {
        return NGX_OK;
    }

    fl->cmd = NULL;

    fl->view = ngx_palloc(cycle->pool,
                          sizeof(ngx_http_astro_health_fleet_view_t));
    if (fl->view == NULL) {
        return NGX_ERROR;
    }

    return ngx_astro_redis_init_worker(cycle, fl->redis);
}


void
ngx_http_astro_health_fleet_exit_worker(
    ngx_http_astro_health_main_conf_t *hmcf)
{
    ngx_http_astro_health_fleet_t  *fl;

    fl = hmcf->fleet;

    if (fl == NULL) {
        return;
    }

    if (fl->cmd) {
        ngx_astro_redis_cancel(fl->cmd);
        fl->cmd = NULL;
        (void) ngx_astro_lease_release(&hmcf->sh->fleet->lease);
    }

    ngx_astro_redis_exit_worker(fl->redis);
}


/*
 * The sample just taken goes to Redis, unless a call is in flight (this
 * worker's or, after a reload, an old one's): the samples are kept in
 * the zone's history all the same.
 */

void
ngx_http_astro_health_fleet_push(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_sample_t *s, ngx_log_t *log)
{
    u_char                               *p, buf[512];
    ngx_pid_t                             pid;
    ngx_str_t                             args[3];
    ngx_http_astro_health_fleet_t        *fl;
    ngx_http_astro_health_fleet_sh_t     *fsh;
    ngx_http_astro_health_fleet_field_t  *f;

    fl = hmcf->fleet;
    fsh = hmcf->sh->fleet;
    pid = ngx_pid;

    if (fl->cmd
        || ngx_astro_lease_tick(&fsh->lease, fl->period, &pid)
           == NGX_ASTRO_LEASE_OTHER)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_health: zone \"%V\" fleet call of %P in "
                       "flight, sample not sent", &hmcf->name, pid);

        (void) ngx_atomic_fetch_add(&fsh->skipped, 1);
        return;
    }

    args[0] = hmcf->node;

    p = ngx_slprintf(buf, buf + sizeof(buf), "time %T status %s active %uD",
                     s->time, ngx_astro_health_name(s->status), s->active);

    for (f = ngx_http_astro_health_fields; f->name; f++) {
        p = ngx_slprintf(p, buf + sizeof(buf), " %s %.2f", f->name,
                         (double) *ngx_http_astro_health_fleet_figure(s, f));
    }

    args[1].data = buf;
    args[1].len = p - buf;

    args[2] = fl->opts;

    fl->cmd = ngx_astro_redis_eval(fl->redis, fl->script, &fl->key, args,
                                   ngx_http_astro_health_fleet_handler,
                                   hmcf);

    if (fl->cmd == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_health: zone \"%V\" fleet: Redis is away, "
                       "sample not sent", &hmcf->name);

        (void) ngx_astro_lease_release(&fsh->lease);
        (void) ngx_atomic_fetch_add(&fsh->skipped, 1);
        ngx_http_astro_health_fleet_failed(hmcf, "Redis unreachable: "
                                           "circuit open");
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_health: zone \"%V\" fleet: sample sent as "
                   "node \"%V\"", &hmcf->name, &hmcf->node);
}


/*
 * The reply: parsed outside the lock into the worker's view, copied into
 * the zone under it.  NULL: Redis did not answer (the client counted and
 * logged why); the view kept shows its ages growing.
 */

static ngx_int_t
ngx_http_astro_health_fleet_handler(void *data, redisReply *reply)
{
    ngx_http_astro_health_main_conf_t *hmcf = data;

    ngx_http_astro_health_fleet_t     *fl;
    ngx_http_astro_health_fleet_sh_t  *fsh;

    fl = hmcf->fleet;
    fsh = hmcf->sh->fleet;

    fl->cmd = NULL;
    (void) ngx_astro_lease_release(&fsh->lease);

    if (reply == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, fl->redis->log, 0,
                       "astro_health: zone \"%V\" fleet: no reply",
                       &hmcf->name);

        ngx_http_astro_health_fleet_failed(hmcf, "Redis unreachable: "
                                           "no reply");
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1
        || ngx_http_astro_health_fleet_parse(fl->view, reply->element[0])
           != NGX_OK)
    {
        ngx_http_astro_health_fleet_failed(hmcf, "unexpected reply from "
                                           "Redis");
        return NGX_ERROR;
    }

    fl->view->read = ngx_http_astro_health_fleet_now();
    fl->view->failed = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, fl->redis->log, 0,
                   "astro_health: zone \"%V\" fleet: %ui nodes read",
                   &hmcf->name, fl->view->n);

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    ngx_memcpy(&fsh->view, fl->view,
               offsetof(ngx_http_astro_health_fleet_view_t, nodes)
               + fl->view->n * sizeof(ngx_http_astro_health_fleet_node_t));
    fsh->calls++;
    fsh->error_len = 0;

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    return NGX_OK;
}


/* {now, {node, seen, {field, value...}...}...}: nodes by name */

static ngx_int_t
ngx_http_astro_health_fleet_parse(ngx_http_astro_health_fleet_view_t *view,
    redisReply *r)
{
    ngx_uint_t  i;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->elements > NGX_HTTP_ASTRO_FLEET_NODES + 1)
    {
        return NGX_ERROR;
    }

    view->n = 0;

    /*
     * the registry is anyone's who can write to Redis: an entry not of
     * a node (a name too long, a score not a time) is left out, and the
     * other nodes are still seen
     */

    for (i = 1; i < r->elements; i++) {
        if (ngx_http_astro_health_fleet_node(&view->nodes[view->n],
                                             r->element[i],
                                             r->element[0]->integer)
            != NGX_OK)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "astro_health: fleet: entry %ui is not a node, "
                           "left out", i);
            continue;
        }

        view->n++;
    }

    ngx_qsort(view->nodes, view->n, sizeof(ngx_http_astro_health_fleet_node_t),
              ngx_http_astro_health_fleet_cmp);

    return NGX_OK;
}


static ngx_int_t
ngx_http_astro_health_fleet_node(ngx_http_astro_health_fleet_node_t *node,
    redisReply *r, int64_t now)
{
    ngx_uint_t   i, n;
    redisReply  *name, *seen;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->elements > NGX_HTTP_ASTRO_FLEET_SAMPLES + 2)
    {
        return NGX_ERROR;
    }

    name = r->element[0];
    seen = r->element[1];

    /* a score of +inf or 1e300 comes as LLONG_MIN: now - seen overflows */

    if (name->type != REDIS_REPLY_STRING
        || name->len == 0 || name->len > NGX_HTTP_ASTRO_FLEET_NODE_LEN
        || seen->type != REDIS_REPLY_INTEGER
        || seen->integer < 0)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(node->name, name->str, name->len);
    node->len = name->len;
    node->age = now > seen->integer ? (uint64_t) (now - seen->integer) : 0;

    /* newest first in the reply, oldest first in the view */

    n = r->elements - 2;
    node->n = n;

    for (i = 0; i < n; i++) {
        if (ngx_http_astro_health_fleet_sample(&node->samples[n - 1 - i],
                                               r->element[2 + i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "field value ..." as the sample was sent; fields not known are left */

static ngx_int_t
ngx_http_astro_health_fleet_sample(ngx_http_astro_health_sample_t *s,
    redisReply *r)
{
    char                                 *f, *v;
    double                                d;
    ngx_uint_t                            i, st;
    ngx_http_astro_health_fleet_field_t  *fd;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        return NGX_ERROR;
    }

    ngx_memzero(s, sizeof(ngx_http_astro_health_sample_t));

    for (i = 0; i < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING
            || r->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            return NGX_ERROR;
        }

        /* hiredis ends a bulk string with a NUL */

        f = r->element[i]->str;
        v = r->element[i + 1]->str;

        if (ngx_strcmp(f, "status") == 0) {
            for (st = NGX_ASTRO_HEALTHY; st <= NGX_ASTRO_CRITICAL; st++) {
                if (ngx_strcmp(v, ngx_astro_health_name(st)) == 0) {
                    s->status = st;
                }
            }

            continue;
        }

        d = strtod(v, NULL);

        if (d != d || d < 0 || d > 1e15) {
            d = 0;
        }

        if (ngx_strcmp(f, "time") == 0) {
            s->time = (time_t) d;
            continue;
        }

        if (ngx_strcmp(f, "active") == 0) {
            /* a double beyond uint32_t converted is undefined */
            s->active = d <= NGX_MAX_UINT32_VALUE ? (uint32_t) d : 0;
            continue;
        }

        for (fd = ngx_http_astro_health_fields; fd->name; fd++) {
            if (ngx_strcmp(f, fd->name) == 0) {
                *ngx_http_astro_health_fleet_figure(s, fd) = d;
                break;
            }
        }
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_astro_health_fleet_cmp(const void *one, const void *two)
{
    const ngx_http_astro_health_fleet_node_t  *a = one, *b = two;

    int  rc;

    rc = ngx_memcmp(a->name, b->name, ngx_min(a->len, b->len));

    if (rc == 0) {
        return (int) a->len - (int) b->len;
    }

    return rc;
}


/* the view stays as it was read; the error says why it is not newer */

static void
ngx_http_astro_health_fleet_failed(ngx_http_astro_health_main_conf_t *hmcf,
    const char *why)
{
    size_t                             len;
    ngx_http_astro_health_fleet_sh_t  *fsh;

    fsh = hmcf->sh->fleet;
    len = ngx_min(ngx_strlen(why), NGX_HTTP_ASTRO_FLEET_ERR_LEN);

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    ngx_memcpy(fsh->error, why, len);
    fsh->error_len = len;
    fsh->failures++;

    if (fsh->view.failed == 0) {
        fsh->view.failed = ngx_http_astro_health_fleet_now();
    }

    ngx_shmtx_unlock(&hmcf->shpool->mutex);
}


static uint64_t
ngx_http_astro_health_fleet_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
