
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_procs.h"


ngx_astro_proc_t *
ngx_astro_procs_register(ngx_astro_procs_zone_t *z, ngx_uint_t cycle,
    ngx_log_t *log)
{
    ngx_uint_t         n[NGX_ASTRO_PROCS_COUNTS];
    ngx_pid_t          pid;
    ngx_astro_proc_t  *proc;

    if (ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES) {
        return NULL;
    }

    proc = &z->procs->proc[ngx_process_slot];

    ngx_memzero(n, sizeof(n));

    /* the slot's previous process is gone: the master reaped it */

    ngx_shmtx_lock(&z->shpool->mutex);

    pid = proc->pid;

    if (pid) {
        z->reclaim(z->data, ngx_process_slot, n);
    }

    proc->pid = ngx_pid;
    proc->cycle = cycle;
    proc->exited = 0;

    if ((ngx_uint_t) ngx_process_slot >= z->procs->n) {
        z->procs->n = ngx_process_slot + 1;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (pid) {
        z->report(z->data, pid, n, log);
    }

    return proc;
}


void
ngx_astro_procs_exit(ngx_astro_procs_zone_t *z)
{
    ngx_uint_t         n[NGX_ASTRO_PROCS_COUNTS];
    ngx_astro_proc_t  *proc;

    if (ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES) {
        return;
    }

    proc = &z->procs->proc[ngx_process_slot];

    ngx_memzero(n, sizeof(n));

    /*
     * its work is over (or, stopping, will never be counted again): the
     * entry stays, exited, so that the master knows it is not new
     */

    ngx_shmtx_lock(&z->shpool->mutex);

    if (proc->pid == ngx_pid) {
        z->reclaim(z->data, ngx_process_slot, n);
        proc->exited = 1;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_uint_t
ngx_astro_procs_sweep(ngx_astro_procs_zone_t *z, ngx_log_t *log)
{
    ngx_uint_t         s, total;
    ngx_uint_t         n[NGX_ASTRO_PROCS_COUNTS];
    ngx_pid_t          pid;
    ngx_astro_proc_t  *proc;

    total = 0;

    for (s = 0; s < z->procs->n; s++) {
        proc = &z->procs->proc[s];
        pid = proc->pid;

        /* the checks without the mutex: kill() is a system call */

        if (pid == 0 || proc->exited || ngx_astro_procs_alive(z->procs, s)) {
            continue;
        }

        ngx_memzero(n, sizeof(n));

        ngx_shmtx_lock(&z->shpool->mutex);

        /* not taken over meanwhile by its successor in the slot */

        if (proc->pid != pid || proc->exited) {
            ngx_shmtx_unlock(&z->shpool->mutex);
            continue;
        }

        z->reclaim(z->data, s, n);
        proc->pid = 0;

        ngx_shmtx_unlock(&z->shpool->mutex);

        ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                       "astro: process %P of slot %ui is gone", pid, s);

        z->report(z->data, pid, n, log);
        total += n[0];
    }

    return total;
}


/*
 * The master knows its processes; another process asks the kernel (a
 * pid taken again by another process is thought alive: its entry is
 * only kept longer).
 */

ngx_uint_t
ngx_astro_procs_alive(ngx_astro_procs_t *procs, ngx_uint_t slot)
{
    ngx_pid_t  pid;

    pid = procs->proc[slot].pid;

    if (ngx_process == NGX_PROCESS_MASTER) {
        return (ngx_int_t) slot < ngx_last_process
               && ngx_processes[slot].pid == pid
               && !ngx_processes[slot].exited;
    }

    if (pid == ngx_pid) {
        return 1;
    }

    return kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH;
}
