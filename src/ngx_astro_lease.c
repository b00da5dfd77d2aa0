
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_astro_lease.h"


ngx_uint_t
ngx_astro_lease_tick(ngx_astro_lease_t *lease, time_t period,
    ngx_pid_t *pid)
{
    ngx_pid_t  holder;

    holder = (ngx_pid_t) lease->pid;
    ngx_memory_barrier();

    *pid = holder;

    if (holder == ngx_pid) {
        ngx_astro_lease_renew(lease, period);
        return NGX_ASTRO_LEASE_HELD;
    }

    if (holder != 0
        && (time_t) lease->until >= ngx_time()
        && !(kill(holder, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        return NGX_ASTRO_LEASE_OTHER;
    }

    /*
     * The time before the pid: a worker that sees the new pid sees the
     * time too, and does not take a lease just taken for one that was not
     * renewed (a worker that loses the race only lengthens it).
     */

    ngx_astro_lease_renew(lease, period);

    if (ngx_atomic_cmp_set(&lease->pid, (ngx_atomic_uint_t) holder,
                           (ngx_atomic_uint_t) ngx_pid))
    {
        return NGX_ASTRO_LEASE_TAKEN;
    }

    *pid = (ngx_pid_t) lease->pid;

    return NGX_ASTRO_LEASE_OTHER;
}


void
ngx_astro_lease_renew(ngx_astro_lease_t *lease, time_t period)
{
    lease->until = ngx_time() + period;
    ngx_memory_barrier();
}


ngx_uint_t
ngx_astro_lease_release(ngx_astro_lease_t *lease)
{
    if (ngx_atomic_cmp_set(&lease->pid, (ngx_atomic_uint_t) ngx_pid, 0)) {
        lease->until = 0;
        return 1;
    }

    return 0;
}
