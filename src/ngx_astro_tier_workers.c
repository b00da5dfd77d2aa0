
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"


/*
 * The processes that use the zone "astro_tier_upstream" (ngx_astro_procs.c)
 * with the configuration (cycle) each runs.  The zone frees only records
 * that no process alive may use (ngx_astro_tier_shm.c).  The queue's
 * places and waiters (ngx_astro_tier_queue.c) and the servers' requests
 * in flight are counted by slot: those of a process that is gone are
 * given back, by its successor in the slot when it starts, or by the
 * next process that looks for them (the master at a reload, a worker that
 * finds no room in a queue, the status).
 */


static void ngx_http_astro_tier_procs(ngx_slab_pool_t *shpool,
    ngx_astro_procs_zone_t *z);
static ngx_int_t ngx_http_astro_tier_zone(ngx_cycle_t *cycle,
    ngx_astro_procs_zone_t *z, ngx_uint_t *gen);
static void ngx_http_astro_tier_reclaim(void *data, ngx_uint_t slot,
    ngx_uint_t *n);
static void ngx_http_astro_tier_report(void *data, ngx_pid_t pid,
    ngx_uint_t *n, ngx_log_t *log);


/*
 * The oldest configuration that a process alive may run: the current
 * one at most; 0 while a process of the master has not registered yet
 * (its configuration is not known).
 */

ngx_uint_t
ngx_http_astro_tier_oldest(ngx_slab_pool_t *shpool, ngx_log_t *log)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_int_t          i;
    ngx_uint_t         s, oldest;
    ngx_astro_proc_t  *proc;

    (void) ngx_http_astro_tier_sweep(shpool, log);

    oldest = sh->cycle;

    ngx_shmtx_lock(&shpool->mutex);

    for (s = 0; s < sh->procs.n; s++) {
        proc = &sh->procs.proc[s];

        if (proc->pid && !proc->exited
            && ngx_astro_procs_alive(&sh->procs, s))
        {
            oldest = ngx_min(oldest, proc->cycle);
        }
    }

    if (ngx_process == NGX_PROCESS_MASTER) {
        for (i = 0; i < ngx_last_process; i++) {
            if (ngx_processes[i].pid == -1 || ngx_processes[i].exited
                || ngx_processes[i].detached)
            {
                continue;
            }

            if (sh->procs.proc[i].pid != ngx_processes[i].pid) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                               "astro_tier_upstream: process %P has not "
                               "registered yet", ngx_processes[i].pid);
                oldest = 0;
                break;
            }
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return oldest;
}


ngx_int_t
ngx_http_astro_tier_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              gen;
    ngx_astro_procs_zone_t  z;

    if (ngx_http_astro_tier_zone(cycle, &z, &gen) != NGX_OK) {
        return NGX_OK;
    }

    (void) ngx_astro_procs_register(&z, gen, cycle->log);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "astro_tier_upstream: process %P, slot %i, "
                   "configuration %ui", ngx_pid, ngx_process_slot, gen);

    return NGX_OK;
}


void
ngx_http_astro_tier_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              gen;
    ngx_astro_procs_zone_t  z;

    if (ngx_http_astro_tier_zone(cycle, &z, &gen) == NGX_OK) {
        ngx_astro_procs_exit(&z);
    }
}


ngx_uint_t
ngx_http_astro_tier_sweep(ngx_slab_pool_t *shpool, ngx_log_t *log)
{
    ngx_astro_procs_zone_t  z;

    ngx_http_astro_tier_procs(shpool, &z);

    return ngx_astro_procs_sweep(&z, log);
}


ngx_uint_t
ngx_http_astro_tier_places(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_upstream_sh_t *us, ngx_uint_t *waiting)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_uint_t  s, n, w;

    n = 0;
    w = 0;

    /* a process counts only once registered: in a slot below procs.n */

    for (s = 0; us->slots && s < sh->procs.n; s++) {
        n += us->slots[s].reserved;
        w += us->slots[s].waiting;
    }

    if (waiting) {
        *waiting = w;
    }

    return n;
}


ngx_uint_t
ngx_http_astro_tier_active(ngx_slab_pool_t *shpool,
    ngx_http_astro_tier_peer_sh_t *ps)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_uint_t  s, n;

    n = 0;

    for (s = 0; s < sh->procs.n; s++) {
        n += ps->active[s];
    }

    return n;
}


static void
ngx_http_astro_tier_procs(ngx_slab_pool_t *shpool, ngx_astro_procs_zone_t *z)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    z->shpool = shpool;
    z->procs = &sh->procs;
    z->reclaim = ngx_http_astro_tier_reclaim;
    z->report = ngx_http_astro_tier_report;
    z->data = sh;
}


/* the process's zone, NGX_DECLINED without one */

static ngx_int_t
ngx_http_astro_tier_zone(ngx_cycle_t *cycle, ngx_astro_procs_zone_t *z,
    ngx_uint_t *gen)
{
    ngx_http_astro_tier_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_astro_tier_upstream_module);

    if (tmcf == NULL || tmcf->shpool == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_astro_tier_procs(tmcf->shpool, z);
    *gen = tmcf->cycle;

    return NGX_OK;
}


/*
 * Under the mutex: the queue counts and the requests in flight of the
 * process of the slot, which is gone, taken off.  n[0]: places, n[1]:
 * requests.  The master adds and removes records under the mutex too.
 */

static void
ngx_http_astro_tier_reclaim(void *data, ngx_uint_t slot, ngx_uint_t *n)
{
    ngx_http_astro_tier_sh_t *sh = data;

    ngx_queue_t                        *q, *pq;
    ngx_http_astro_tier_slot_t         *sl;
    ngx_http_astro_tier_peer_sh_t      *ps;
    ngx_http_astro_tier_upstream_sh_t  *us;

    for (q = ngx_queue_head(&sh->upstreams);
         q != ngx_queue_sentinel(&sh->upstreams);
         q = ngx_queue_next(q))
    {
        us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

        for (pq = ngx_queue_head(&us->peers);
             pq != ngx_queue_sentinel(&us->peers);
             pq = ngx_queue_next(pq))
        {
            ps = ngx_queue_data(pq, ngx_http_astro_tier_peer_sh_t, queue);

            n[1] += ps->active[slot];
            ps->active[slot] = 0;
        }

        if (us->slots == NULL) {
            continue;
        }

        /* zeroed, not taken off a total: given back once, however often */

        sl = &us->slots[slot];

        n[0] += sl->reserved;
        sl->reserved = 0;
        sl->waiting = 0;
    }
}


static void
ngx_http_astro_tier_report(void *data, ngx_pid_t pid, ngx_uint_t *n,
    ngx_log_t *log)
{
    if (n[0]) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "astro_queue: process %P is gone: %ui places given "
                      "back", pid, n[0]);
    }

    if (n[1]) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "astro_tier_upstream: process %P is gone: %ui "
                      "requests in flight no longer counted", pid, n[1]);
    }
}
