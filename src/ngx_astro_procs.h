
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_PROCS_H_INCLUDED_
#define _NGX_ASTRO_PROCS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The processes that use a shared zone, by their slot in the master's
 * table (ngx_process_slot).  A process registers when it starts and says
 * when it exits; one killed never does, and is found gone by its pid (the
 * master reads its own table, another process asks the kernel).  What a
 * process counts in the zone is counted by its slot, written only by it:
 * a process gone is given back by its successor in the slot when it
 * starts, or by the next sweep that finds it gone.
 */


#define NGX_ASTRO_PROCS_COUNTS  2


typedef struct {
    ngx_uint_t                   cycle;     /* the configuration it runs */
    ngx_pid_t                    pid;       /* 0: none */
    uint32_t                     exited;
} ngx_astro_proc_t;


/* in the zone */

typedef struct {
    ngx_uint_t                   n;         /* the highest slot + 1 */
    ngx_astro_proc_t             proc[NGX_MAX_PROCESSES];
} ngx_astro_procs_t;


/*
 * Under the zone's mutex: the counts of the process of the slot, which
 * is gone, given back; how much, in the user's terms (n[], zeroed), for
 * report(), called without the mutex.
 */
typedef void (*ngx_astro_procs_reclaim_pt)(void *data, ngx_uint_t slot,
    ngx_uint_t *n);
typedef void (*ngx_astro_procs_report_pt)(void *data, ngx_pid_t pid,
    ngx_uint_t *n, ngx_log_t *log);


/* a zone's processes and what is given back of them: a process's own */

typedef struct {
    ngx_slab_pool_t             *shpool;
    ngx_astro_procs_t           *procs;
    ngx_astro_procs_reclaim_pt   reclaim;
    ngx_astro_procs_report_pt    report;
    void                        *data;
} ngx_astro_procs_zone_t;


/*
 * The process takes its slot over (what its predecessor held is given
 * back) with its configuration; NULL if it has no slot.
 */
ngx_astro_proc_t *ngx_astro_procs_register(ngx_astro_procs_zone_t *z,
    ngx_uint_t cycle, ngx_log_t *log);

/* it exits: what it still counts is given back, its entry kept, exited */
void ngx_astro_procs_exit(ngx_astro_procs_zone_t *z);

/* the processes found gone given back: the sum of their n[0] */
ngx_uint_t ngx_astro_procs_sweep(ngx_astro_procs_zone_t *z, ngx_log_t *log);

/* 1: the process of the slot may be alive (a pid reused looks alive) */
ngx_uint_t ngx_astro_procs_alive(ngx_astro_procs_t *procs, ngx_uint_t slot);


#endif /* _NGX_ASTRO_PROCS_H_INCLUDED_ */
