
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_LEASE_H_INCLUDED_
#define _NGX_ASTRO_LEASE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A lease in shared memory: which one worker of the node does a job (a
 * Redis subscription, a PostgreSQL connection).  Every worker ticks it:
 * the holder renews it; another takes it when it is free, not renewed in
 * time, or its holder is gone (killed).
 */


#define NGX_ASTRO_LEASE_OTHER   0       /* another worker holds it */
#define NGX_ASTRO_LEASE_HELD    1       /* this worker, renewed */
#define NGX_ASTRO_LEASE_TAKEN   2       /* this worker, just taken */


typedef struct {
    ngx_atomic_t                 pid;       /* 0: free */
    ngx_atomic_t                 until;     /* ngx_time() */
} ngx_astro_lease_t;


/* which of the three; *pid: the holder before (TAKEN) or now (OTHER) */
ngx_uint_t ngx_astro_lease_tick(ngx_astro_lease_t *lease, time_t period,
    ngx_pid_t *pid);
void ngx_astro_lease_renew(ngx_astro_lease_t *lease, time_t period);
/* given back if this worker holds it; 1 if it did */
ngx_uint_t ngx_astro_lease_release(ngx_astro_lease_t *lease);


#endif /* _NGX_ASTRO_LEASE_H_INCLUDED_ */
