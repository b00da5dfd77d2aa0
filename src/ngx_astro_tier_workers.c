
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_tier.h"


/*
 * The processes that use the zone "astro_tier_upstream": each registers
 * by its slot in the master's table (ngx_process_slot) with its
 * configuration (cycle) when it starts, and says when it exits; one
 * killed never does, and is found gone by its pid (the master reads its
 * own table).  The zone frees only records that no process alive may
 * use (ngx_astro_tier_shm.c).  The queue's places and waiters are
 * counted by slot too (ngx_astro_tier_queue.c): those of a process that
 * is gone are given back, by its successor in the slot when it starts,
 * or by the next process that looks for them.
 */


static ngx_http_astro_tier_proc_t *ngx_http_astro_tier_proc(
    ngx_cycle_t *cycle, ngx_slab_pool_t **shpool, ngx_uint_t *gen);
static ngx_uint_t ngx_http_astro_tier_alive(ngx_http_astro_tier_proc_t *proc,
    ngx_uint_t slot);
static ngx_uint_t ngx_http_astro_tier_reclaim(ngx_http_astro_tier_sh_t *sh,
    ngx_uint_t slot);


/*
 * The oldest configuration that a process alive may run: the current
 * one at most; 0 while a process of the master has not registered yet
 * (its configuration is not known).
 */

ngx_uint_t
ngx_http_astro_tier_oldest(ngx_slab_pool_t *shpool, ngx_log_t *log)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_int_t                    i;
    ngx_uint_t                   s, oldest;
    ngx_http_astro_tier_proc_t  *proc;

    (void) ngx_http_astro_tier_sweep(shpool, log);

    oldest = sh->cycle;

    ngx_shmtx_lock(&shpool->mutex);

    for (s = 0; s < sh->nprocs; s++) {
        proc = &sh->procs[s];

        if (proc->pid && !proc->exited
            && ngx_http_astro_tier_alive(proc, s))
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

            if (sh->procs[i].pid != ngx_processes[i].pid) {
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
    ngx_uint_t                   n, gen;
    ngx_pid_t                    pid;
    ngx_slab_pool_t             *shpool;
    ngx_http_astro_tier_sh_t    *sh;
    ngx_http_astro_tier_proc_t  *proc;

    proc = ngx_http_astro_tier_proc(cycle, &shpool, &gen);
    if (proc == NULL) {
        return NGX_OK;
    }

    sh = shpool->data;

    /* the slot's previous process is gone: the master reaped it */

    ngx_shmtx_lock(&shpool->mutex);

    pid = proc->pid;
    n = pid ? ngx_http_astro_tier_reclaim(sh, ngx_process_slot) : 0;

    proc->pid = ngx_pid;
    proc->cycle = gen;
    proc->exited = 0;

    if ((ngx_uint_t) ngx_process_slot >= sh->nprocs) {
        sh->nprocs = ngx_process_slot + 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "astro_queue: process %P is gone: %ui places given "
                      "back", pid, n);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "astro_tier_upstream: process %P, slot %i, "
                   "configuration %ui", ngx_pid, ngx_process_slot, gen);

    return NGX_OK;
}


void
ngx_http_astro_tier_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   gen;
    ngx_slab_pool_t             *shpool;
    ngx_http_astro_tier_proc_t  *proc;

    proc = ngx_http_astro_tier_proc(cycle, &shpool, &gen);
    if (proc == NULL) {
        return;
    }

    /*
     * its requests are over (or, stopping, will never be counted again):
     * the entry stays, exited, so that the master knows it is not new
     */

    ngx_shmtx_lock(&shpool->mutex);

    if (proc->pid == ngx_pid) {
        (void) ngx_http_astro_tier_reclaim(shpool->data, ngx_process_slot);
        proc->exited = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


ngx_uint_t
ngx_http_astro_tier_sweep(ngx_slab_pool_t *shpool, ngx_log_t *log)
{
    ngx_http_astro_tier_sh_t *sh = shpool->data;

    ngx_uint_t                   s, n, total;
    ngx_pid_t                    pid;
    ngx_http_astro_tier_proc_t  *proc;

    total = 0;

    for (s = 0; s < sh->nprocs; s++) {
        proc = &sh->procs[s];
        pid = proc->pid;

        /* the checks without the mutex: kill() is a system call */

        if (pid == 0 || proc->exited || ngx_http_astro_tier_alive(proc, s)) {
            continue;
        }

        ngx_shmtx_lock(&shpool->mutex);

        /* not taken over meanwhile by its successor in the slot */

        if (proc->pid != pid || proc->exited) {
            ngx_shmtx_unlock(&shpool->mutex);
            continue;
        }

        n = ngx_http_astro_tier_reclaim(sh, s);
        proc->pid = 0;

        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "astro_tier_upstream: process %P of slot %ui is gone",
                       pid, s);

        if (n) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "astro_queue: process %P is gone: %ui places "
                          "given back", pid, n);
            total += n;
        }
    }

    return total;
}


/* the process's entry in the zone, NULL without the zone */

static ngx_http_astro_tier_proc_t *
ngx_http_astro_tier_proc(ngx_cycle_t *cycle, ngx_slab_pool_t **shpool,
    ngx_uint_t *gen)
{
    ngx_http_astro_tier_sh_t         *sh;
    ngx_http_astro_tier_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_astro_tier_upstream_module);

    if (tmcf == NULL || tmcf->shpool == NULL
        || ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES)
    {
        return NULL;
    }

    *shpool = tmcf->shpool;
    *gen = tmcf->cycle;
    sh = tmcf->shpool->data;

    return &sh->procs[ngx_process_slot];
}


/*
 * The master knows its processes; another process asks the kernel (a
 * pid taken again by another process is thought alive: its entry is
 * only kept longer).
 */

static ngx_uint_t
ngx_http_astro_tier_alive(ngx_http_astro_tier_proc_t *proc, ngx_uint_t slot)
{
    if (ngx_process == NGX_PROCESS_MASTER) {
        return (ngx_int_t) slot < ngx_last_process
               && ngx_processes[slot].pid == proc->pid
               && !ngx_processes[slot].exited;
    }

    if (proc->pid == ngx_pid) {
        return 1;
    }

    return kill(proc->pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}


/*
 * Under the mutex: the queue counts of the process of the slot, which
 * is gone, taken off the totals.  How many places.
 */

static ngx_uint_t
ngx_http_astro_tier_reclaim(ngx_http_astro_tier_sh_t *sh, ngx_uint_t slot)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_astro_tier_slot_t         *sl;
    ngx_http_astro_tier_upstream_sh_t  *us;

    n = 0;

    for (q = ngx_queue_head(&sh->upstreams);
         q != ngx_queue_sentinel(&sh->upstreams);
         q = ngx_queue_next(q))
    {
        us = ngx_queue_data(q, ngx_http_astro_tier_upstream_sh_t, queue);

        if (us->slots == NULL) {
            continue;
        }

        sl = &us->slots[slot];

        if (sl->reserved || sl->waiting) {
            ngx_atomic_fetch_add(&us->reserved,
                                 - (ngx_atomic_int_t) sl->reserved);
            ngx_atomic_fetch_add(&us->q_length,
                                 - (ngx_atomic_int_t) sl->waiting);
            n += sl->reserved;
            sl->reserved = 0;
            sl->waiting = 0;
        }
    }

    return n;
}
