
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_shard_pg.h"


/*
 * A map's PostgreSQL connection is held by one worker of the node through
 * the lease in the map's record of the zone (as the cache's Redis sync,
 * src/ngx_astro_cache_sync.c): every worker's tick checks the lease, the
 * holder renews it, another takes it over when the holder is gone or
 * late.  The holder's tick connects (src/ngx_astro_shard_pg_conn.c) and
 * asks for the version when refresh= is due (_pg_query.c).
 */


static void ngx_http_astro_shard_pg_tick(ngx_event_t *ev);
static void ngx_http_astro_shard_pg_hold(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_schedule(ngx_http_astro_shard_pg_t *pg);
static void ngx_http_astro_shard_pg_release(ngx_http_astro_shard_pg_t *pg);


ngx_int_t
ngx_http_astro_shard_pg_init_worker(ngx_cycle_t *cycle,
    ngx_http_astro_shard_map_t *map)
{
    ngx_http_astro_shard_pg_t  *pg;

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || map->postgres.len == 0 || map->sh == NULL)
    {
        return NGX_OK;
    }

    pg = ngx_pcalloc(cycle->pool, sizeof(ngx_http_astro_shard_pg_t));
    if (pg == NULL) {
        return NGX_ERROR;
    }

    /* libpq wants the conninfo NUL-terminated */

    pg->conninfo = ngx_pnalloc(cycle->pool, map->postgres.len + 1);
    if (pg->conninfo == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(pg->conninfo, map->postgres.data, map->postgres.len);
    pg->conninfo[map->postgres.len] = '\0';

    pg->map = map;
    pg->smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                   ngx_astro_shard_module);
    pg->log = cycle->log;
    pg->backoff = NGX_HTTP_ASTRO_SHARD_PG_BACKOFF;

    pg->tick.handler = ngx_http_astro_shard_pg_tick;
    pg->tick.data = pg;
    pg->tick.log = cycle->log;
    pg->tick.cancelable = 1;

    pg->timeout.handler = ngx_http_astro_shard_pg_timeout;
    pg->timeout.data = pg;
    pg->timeout.log = cycle->log;
    pg->timeout.cancelable = 1;

    map->pg = pg;

    /* the workers race for the lease at once */
    ngx_add_timer(&pg->tick, 1);

    return NGX_OK;
}


/* the lease is given back at once: another worker takes it at its tick */

void
ngx_http_astro_shard_pg_exit_worker(ngx_http_astro_shard_map_t *map)
{
    ngx_http_astro_shard_pg_t  *pg;

    pg = map->pg;

    if (pg == NULL) {
        return;
    }

    if (pg->tick.timer_set) {
        ngx_del_timer(&pg->tick);
    }

    ngx_http_astro_shard_pg_release(pg);
}


/*
 * The lease: the holder renews it; another worker takes it when it is
 * free, not renewed in time or its holder is gone (killed); a holder that
 * finds it taken (it was late) lets the connection go.
 */

static void
ngx_http_astro_shard_pg_tick(ngx_event_t *ev)
{
    ngx_http_astro_shard_pg_t *pg = ev->data;

    ngx_pid_t                       pid;
    ngx_http_astro_shard_sh_map_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_astro_shard_pg_release(pg);
        return;
    }

    sh = pg->map->sh;

    switch (ngx_astro_lease_tick(&sh->lease, NGX_HTTP_ASTRO_SHARD_PG_LEASE,
                                 &pid))
    {
    case NGX_ASTRO_LEASE_TAKEN:
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "astro_shard_map \"%V\": this worker reads "
                      "postgres (the lease of %P)", &pg->map->name, pid);

        /* fall through */

    case NGX_ASTRO_LEASE_HELD:
        pg->holder = 1;
        ngx_http_astro_shard_pg_hold(pg);
        break;

    default: /* NGX_ASTRO_LEASE_OTHER */

        if (pg->holder) {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "astro_shard_map \"%V\": worker %P took "
                          "postgres over", &pg->map->name, pid);

            pg->holder = 0;
            ngx_http_astro_shard_pg_close(pg);
        }
    }

    ngx_http_astro_shard_pg_schedule(pg);
}


/* the holder: the lease renewed, a connection made, the refresh if due */

static void
ngx_http_astro_shard_pg_hold(ngx_http_astro_shard_pg_t *pg)
{
    ngx_astro_lease_renew(&pg->map->sh->lease, NGX_HTTP_ASTRO_SHARD_PG_LEASE);

    switch (pg->state) {

    case NGX_HTTP_ASTRO_SHARD_PG_IDLE:
        if ((ngx_msec_int_t) (ngx_current_msec - pg->next_connect) >= 0) {
            ngx_http_astro_shard_pg_connect(pg);
        }

        break;

    case NGX_HTTP_ASTRO_SHARD_PG_READY:
        if (pg->notified
            || (ngx_msec_int_t) (ngx_current_msec - pg->next_refresh) >= 0)
        {
            ngx_http_astro_shard_pg_refresh(pg);
        }

        break;

    default:
        /* connecting or a query in flight: its own timer */
        break;
    }
}


/* the next tick: at most a second, sooner for the holder's next step */

static void
ngx_http_astro_shard_pg_schedule(ngx_http_astro_shard_pg_t *pg)
{
    ngx_msec_int_t  tick, left;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    tick = NGX_HTTP_ASTRO_SHARD_PG_TICK;

    if (pg->holder) {
        left = tick;

        if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_IDLE) {
            left = (ngx_msec_int_t) (pg->next_connect - ngx_current_msec);

        } else if (pg->state == NGX_HTTP_ASTRO_SHARD_PG_READY) {
            left = (ngx_msec_int_t) (pg->next_refresh - ngx_current_msec);
        }

        tick = ngx_max(ngx_min(tick, left), 1);
    }

    ngx_add_timer(&pg->tick, (ngx_msec_t) tick);
}


/* by the holder that exits or lost the lease */

static void
ngx_http_astro_shard_pg_release(ngx_http_astro_shard_pg_t *pg)
{
    ngx_http_astro_shard_sh_map_t  *sh;

    ngx_http_astro_shard_pg_close(pg);

    sh = pg->map->sh;
    pg->holder = 0;

    if (ngx_astro_lease_release(&sh->lease)) {
        sh->listening = 0;
    }
}
