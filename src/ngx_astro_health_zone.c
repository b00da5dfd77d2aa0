
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_sysinfo.h"


#define NGX_ASTRO_FILE_STAT     0x01
#define NGX_ASTRO_FILE_MEMINFO  0x02
#define NGX_ASTRO_FILE_LOADAVG  0x04


/* what one sample reads from the files, outside the lock */

typedef struct {
    ngx_uint_t                   ok;            /* files read */
    uint64_t                     busy;
    uint64_t                     total;
    uint64_t                     mem_total;
    uint64_t                     mem_available;
    double                       load[3];
    uint64_t                     cg_quota;
    uint64_t                     cg_period;
    uint64_t                     cg_usage;
    uint64_t                     cg_mem_max;
    uint64_t                     cg_mem_current;
    ngx_uint_t                   cg_cpu;        /* unsigned  :1 */
    ngx_uint_t                   cg_memory;     /* unsigned  :1 */
} ngx_astro_health_reading_t;


static ngx_int_t ngx_astro_health_alloc(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_shctx_t *sh);
static ssize_t ngx_astro_health_read(ngx_astro_health_main_conf_t *hmcf,
    const char *dir, const char *name, char *buf, size_t size);
static void ngx_astro_health_read_files(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_reading_t *rd);
static void ngx_astro_health_read_cgroup(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_reading_t *rd);
static void ngx_astro_health_sample(ngx_astro_health_main_conf_t *hmcf,
    ngx_log_t *log);
static void ngx_astro_health_window(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_metrics_t *m);
static void ngx_astro_health_log_transition(
    ngx_astro_health_main_conf_t *hmcf, ngx_log_t *log, unsigned from,
    unsigned to, ngx_astro_health_figures_t *f);


static ngx_uint_t
ngx_astro_health_slots(ngx_msec_t interval, ngx_msec_t window)
{
    return ngx_max(window / interval, 1);
}


/*
 * The zone holds the shared context, the window and the history ring;
 * the allocations above half a page take whole pages, and the slab pool
 * keeps a page descriptor for each page plus its own header.
 */

size_t
ngx_astro_health_zone_size(ngx_msec_t interval, ngx_msec_t window,
    ngx_uint_t history)
{
    size_t  pages;

    pages = ngx_align(sizeof(ngx_astro_health_shctx_t), ngx_pagesize)
            / ngx_pagesize
            + ngx_align(ngx_astro_health_slots(interval, window)
                        * sizeof(ngx_astro_health_counts_t), ngx_pagesize)
              / ngx_pagesize
            + ngx_align(history * sizeof(ngx_astro_health_sample_t),
                        ngx_pagesize)
              / ngx_pagesize
            + 4;

    return pages * (ngx_pagesize + 64);
}


ngx_int_t
ngx_astro_health_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_astro_health_main_conf_t  *ohmcf = data;

    size_t                         len;
    ngx_int_t                      rc;
    ngx_slab_pool_t               *shpool;
    ngx_astro_health_shctx_t      *sh;
    ngx_astro_health_main_conf_t  *hmcf;

    hmcf = shm_zone->data;

    if (ohmcf) {

        /* a reload: the figures, counters and history carry over */

        hmcf->sh = ohmcf->sh;
        hmcf->shpool = ohmcf->shpool;

        ngx_shmtx_lock(&hmcf->shpool->mutex);
        rc = ngx_astro_health_alloc(hmcf, hmcf->sh);
        ngx_shmtx_unlock(&hmcf->shpool->mutex);

        return rc;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        hmcf->shpool = shpool;
        hmcf->sh = shpool->data;
        return NGX_OK;
    }

    hmcf->shpool = shpool;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_astro_health_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    hmcf->sh = sh;

    sh->started = ngx_time();
    sh->since = sh->started;
    sh->status = NGX_ASTRO_HEALTHY;

    len = sizeof(" in astro_health_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in astro_health_zone \"%V\"%Z",
                &shm_zone->shm.name);

    return ngx_astro_health_alloc(hmcf, sh);
}


/* (re)allocates the window and the ring when their sizes changed */

static ngx_int_t
ngx_astro_health_alloc(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_shctx_t *sh)
{
    void        *window, *ring;
    ngx_uint_t   slots;

    /*
     * The new blocks first: when one does not fit, a reload fails and
     * the running configuration keeps its zone as it was.
     */

    slots = ngx_astro_health_slots(hmcf->interval, hmcf->window);

    window = NULL;
    ring = NULL;

    if (sh->window == NULL || sh->slots != slots) {
        window = ngx_slab_calloc_locked(hmcf->shpool,
                                   slots * sizeof(ngx_astro_health_counts_t));
        if (window == NULL) {
            return NGX_ERROR;
        }
    }

    if (sh->ring == NULL || sh->history != hmcf->history) {
        ring = ngx_slab_calloc_locked(hmcf->shpool,
                           hmcf->history * sizeof(ngx_astro_health_sample_t));
        if (ring == NULL) {
            if (window) {
                ngx_slab_free_locked(hmcf->shpool, window);
            }

            return NGX_ERROR;
        }
    }

    if (window) {
        if (sh->window) {
            ngx_slab_free_locked(hmcf->shpool, sh->window);
        }

        sh->window = window;
        sh->slots = slots;
        sh->slot = 0;
        sh->filled = 0;
    }

    if (ring) {
        if (sh->ring) {
            ngx_slab_free_locked(hmcf->shpool, sh->ring);
        }

        sh->ring = ring;
        sh->history = hmcf->history;
        sh->next = 0;
        sh->count = 0;
    }

    return NGX_OK;
}


void
ngx_astro_health_timer_handler(ngx_event_t *ev)
{
    ngx_astro_health_main_conf_t *hmcf = ev->data;

    ngx_msec_t                 now;
    ngx_atomic_uint_t          next;
    ngx_astro_health_shctx_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = hmcf->sh;
    now = ngx_current_msec;
    next = sh->next_sample;

    if ((ngx_msec_int_t) (now - next) >= 0
        && ngx_atomic_cmp_set(&sh->next_sample, next, now + hmcf->interval))
    {
        ngx_astro_health_sample(hmcf, ev->log);
    }

    ngx_add_timer(ev, hmcf->interval);
}


ngx_int_t
ngx_astro_health_log_handler(ngx_http_request_t *r)
{
    ngx_msec_int_t                 ms;
    ngx_time_t                    *tp;
    ngx_astro_health_shctx_t      *sh;
    ngx_astro_health_loc_conf_t   *hlcf;
    ngx_astro_health_main_conf_t  *hmcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_astro_health_module);

    if (hlcf->status) {
        /* the dashboard's own polling is no traffic */
        return NGX_OK;
    }

    hmcf = ngx_http_get_module_main_conf(r, ngx_astro_health_module);
    sh = hmcf->sh;

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    (void) ngx_atomic_fetch_add(&sh->total.requests, 1);
    (void) ngx_atomic_fetch_add(&sh->total.latency, ms);
    (void) ngx_atomic_fetch_add(&sh->total.hist[ngx_astro_hist_bucket(ms)],
                                1);

    /* a request refused by shedding is not a backend error */

    if (r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        && !ngx_astro_health_shed_refused(r))
    {
        (void) ngx_atomic_fetch_add(&sh->total.errors, 1);
    }

    return NGX_OK;
}


static ssize_t
ngx_astro_health_read(ngx_astro_health_main_conf_t *hmcf, const char *dir,
    const char *name, char *buf, size_t size)
{
    u_char     path[NGX_MAX_PATH], *p;
    ssize_t    n;
    ngx_fd_t   fd;

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V%s/%s",
                     &hmcf->root, dir, name);
    *p = '\0';

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return -1;
    }

    /* procfs files are small, answered from memory, and never block */

    n = ngx_read_fd(fd, buf, size);

    (void) ngx_close_file(fd);

    return n;
}


static void
ngx_astro_health_read_files(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_reading_t *rd)
{
    char     buf[4096];
    ssize_t  n;

    ngx_memzero(rd, sizeof(ngx_astro_health_reading_t));

    n = ngx_astro_health_read(hmcf, "/proc", "stat", buf, sizeof(buf));
    if (n > 0
        && ngx_astro_parse_proc_stat(buf, n, &rd->busy, &rd->total) == 0)
    {
        rd->ok |= NGX_ASTRO_FILE_STAT;
    }

    n = ngx_astro_health_read(hmcf, "/proc", "meminfo", buf, sizeof(buf));
    if (n > 0
        && ngx_astro_parse_meminfo(buf, n, &rd->mem_total,
                                   &rd->mem_available)
           == 0)
    {
        rd->ok |= NGX_ASTRO_FILE_MEMINFO;
    }

    n = ngx_astro_health_read(hmcf, "/proc", "loadavg", buf, sizeof(buf));
    if (n > 0 && ngx_astro_parse_loadavg(buf, n, rd->load) == 0) {
        rd->ok |= NGX_ASTRO_FILE_LOADAVG;
    }

    ngx_astro_health_read_cgroup(hmcf, rd);
}


/*
 * Under cgroup v2 limits the container's own share counts: cpu.max and
 * cpu.stat, memory.max and memory.current of nginx's cgroup (from
 * /proc/self/cgroup), else of the cgroup mount's root, as a container
 * with its own cgroup namespace sees it.
 */

static void
ngx_astro_health_read_cgroup(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_reading_t *rd)
{
    char        buf[512], self[256], dir[300], *dirs[2];
    ssize_t     n;
    ngx_uint_t  i, ndirs;

    dirs[0] = "/sys/fs/cgroup";
    ndirs = 1;

    n = ngx_astro_health_read(hmcf, "/proc/self", "cgroup", buf,
                              sizeof(buf));

    if (n > 0
        && ngx_astro_parse_self_cgroup(buf, n, self, sizeof(self)) == 0
        && ngx_strcmp(self, "/") != 0)
    {
        *ngx_snprintf((u_char *) dir, sizeof(dir) - 1, "/sys/fs/cgroup%s",
                      self) = '\0';
        dirs[1] = dirs[0];
        dirs[0] = dir;
        ndirs = 2;
    }

    for (i = 0; i < ndirs; i++) {

        n = ngx_astro_health_read(hmcf, dirs[i], "cpu.max", buf, sizeof(buf));
        if (n <= 0
            || ngx_astro_parse_cpu_max(buf, n, &rd->cg_quota, &rd->cg_period)
               != 0
            || rd->cg_quota == NGX_ASTRO_UNLIMITED)
        {
            continue;
        }

        n = ngx_astro_health_read(hmcf, dirs[i], "cpu.stat", buf,
                                  sizeof(buf));
        if (n > 0 && ngx_astro_parse_cpu_stat(buf, n, &rd->cg_usage) == 0) {
            rd->cg_cpu = 1;
            break;
        }
    }

    for (i = 0; i < ndirs; i++) {

        n = ngx_astro_health_read(hmcf, dirs[i], "memory.max", buf,
                                  sizeof(buf));
        if (n <= 0
            || ngx_astro_parse_u64(buf, n, &rd->cg_mem_max) != 0
            || rd->cg_mem_max == NGX_ASTRO_UNLIMITED
            || rd->cg_mem_max == 0)
        {
            continue;
        }

        n = ngx_astro_health_read(hmcf, dirs[i], "memory.current", buf,
                                  sizeof(buf));
        if (n > 0
            && ngx_astro_parse_u64(buf, n, &rd->cg_mem_current) == 0)
        {
            rd->cg_memory = 1;
            break;
        }
    }
}


static void
ngx_astro_health_sample(ngx_astro_health_main_conf_t *hmcf, ngx_log_t *log)
{
    int                          changed;
    unsigned                     from, to;
    ngx_uint_t                   i, failed;
    ngx_msec_t                   now;
    ngx_astro_health_shctx_t    *sh;
    ngx_astro_health_sample_t   *s;
    ngx_astro_health_metrics_t  *m;
    ngx_astro_health_reading_t   rd;
    ngx_astro_health_figures_t   f;

    ngx_astro_health_read_files(hmcf, &rd);

    sh = hmcf->sh;
    now = ngx_current_msec;

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    m = &sh->metrics;

    /* a CPU figure needs two readings of the same cgroup in a row */

    if (rd.cg_cpu) {
        m->cpu = (m->cgroup_cpu && rd.cg_usage >= sh->cg_usage)
                 ? ngx_astro_cgroup_cpu_percent(rd.cg_usage - sh->cg_usage,
                                                (now - sh->last_msec) * 1000,
                                                rd.cg_quota, rd.cg_period)
                 : 0;
        sh->cg_usage = rd.cg_usage;

    } else if (rd.ok & NGX_ASTRO_FILE_STAT) {
        m->cpu = ngx_astro_cpu_percent(sh->cpu_busy, sh->cpu_total,
                                       rd.busy, rd.total);
        sh->cpu_busy = rd.busy;
        sh->cpu_total = rd.total;
    }

    if (rd.cg_memory) {
        m->memory = ngx_astro_mem_percent(rd.cg_mem_current, rd.cg_mem_max);

    } else if (rd.ok & NGX_ASTRO_FILE_MEMINFO) {
        m->memory = ngx_astro_mem_percent(rd.mem_total - rd.mem_available,
                                          rd.mem_total);
    }

    if (rd.ok & NGX_ASTRO_FILE_LOADAVG) {
        ngx_memcpy(m->load, rd.load, sizeof(rd.load));
    }

    m->cgroup_cpu = rd.cg_cpu;
    m->cgroup_memory = rd.cg_memory;

#if (NGX_STAT_STUB)
    m->active = *ngx_stat_active;
#endif

    ngx_astro_health_window(hmcf, m);

    sh->last_msec = now;
    sh->samples++;

    f.cpu = m->cpu;
    f.memory = m->memory;
    f.error_rate = m->error_rate;
    f.latency = m->latency;

    from = sh->state.status;

    changed = ngx_astro_health_step(&sh->state,
                                    ngx_astro_health_classify(&f,
                                                          &hmcf->degraded,
                                                          &hmcf->critical),
                                    hmcf->recover);
    to = sh->state.status;

    if (changed) {
        sh->since = ngx_time();
        sh->transitions++;
    }

    s = &sh->ring[sh->next];
    sh->next = (sh->next + 1) % sh->history;
    sh->count = ngx_min(sh->count + 1, sh->history);

    s->time = ngx_time();
    s->status = to;
    s->active = m->active;
    s->cpu = m->cpu;
    s->memory = m->memory;
    s->load = m->load[0];
    s->request_rate = m->request_rate;
    s->latency = m->latency;
    s->p95 = m->p95;
    s->error_rate = m->error_rate;

    sh->status = to;
    sh->cpu = (ngx_atomic_uint_t) (m->cpu * NGX_ASTRO_MILLI);
    sh->memory = (ngx_atomic_uint_t) (m->memory * NGX_ASTRO_MILLI);
    sh->error_rate = (ngx_atomic_uint_t) (m->error_rate * NGX_ASTRO_MILLI);
    sh->latency = (ngx_atomic_uint_t) (m->latency * NGX_ASTRO_MILLI);

    /* a file that starts failing is logged once, not every interval */

    failed = (NGX_ASTRO_FILE_STAT|NGX_ASTRO_FILE_MEMINFO
              |NGX_ASTRO_FILE_LOADAVG) & ~rd.ok & ~sh->failing;
    sh->failing = (NGX_ASTRO_FILE_STAT|NGX_ASTRO_FILE_MEMINFO
                   |NGX_ASTRO_FILE_LOADAVG) & ~rd.ok;

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    for (i = 0; failed; i++, failed >>= 1) {
        if (failed & 1) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "astro_health_zone \"%V\": "
                          "cannot read \"%V/proc/%s\"",
                          &hmcf->name, &hmcf->root,
                          i == 0 ? "stat" : (i == 1 ? "meminfo" : "loadavg"));
        }
    }

    if (changed) {
        ngx_astro_health_log_transition(hmcf, log, from, to, &f);
    }
}


/*
 * Moves this interval's counts into the window and derives the rates,
 * the percentiles and the EWMA of the response time from it.
 */

static void
ngx_astro_health_window(ngx_astro_health_main_conf_t *hmcf,
    ngx_astro_health_metrics_t *m)
{
    double                      alpha, secs;
    ngx_uint_t                  i, j;
    ngx_astro_health_shctx_t   *sh;
    ngx_astro_health_counts_t   cur, *d, sum;

    sh = hmcf->sh;

    cur.requests = sh->total.requests;
    cur.errors = sh->total.errors;
    cur.latency = sh->total.latency;

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        cur.hist[i] = sh->total.hist[i];
    }

    d = &sh->window[sh->slot];
    sh->slot = (sh->slot + 1) % sh->slots;
    sh->filled = ngx_min(sh->filled + 1, sh->slots);

    /* modulo the counters' width: ngx_atomic_t has 32 bits on 32-bit */

    d->requests = (ngx_atomic_uint_t) (cur.requests - sh->last.requests);
    d->errors = (ngx_atomic_uint_t) (cur.errors - sh->last.errors);
    d->latency = (ngx_atomic_uint_t) (cur.latency - sh->last.latency);

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        d->hist[i] = (ngx_atomic_uint_t) (cur.hist[i] - sh->last.hist[i]);
    }

    sh->last = cur;

    /*
     * The EWMA moves in intervals with responses; a window without any
     * forgets it, so that an idle server is not held slow.
     */

    if (d->requests) {
        alpha = 2.0 / (sh->slots + 1);

        m->latency = (sh->samples == 0 || m->latency == 0)
                     ? (double) d->latency / d->requests
                     : alpha * d->latency / d->requests
                       + (1 - alpha) * m->latency;
    }

    ngx_memzero(&sum, sizeof(ngx_astro_health_counts_t));

    for (j = 0; j < sh->filled; j++) {
        d = &sh->window[j];

        sum.requests += d->requests;
        sum.errors += d->errors;

        for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
            sum.hist[i] += d->hist[i];
        }
    }

    if (sum.requests == 0) {
        m->latency = 0;
    }

    secs = (double) (sh->filled * hmcf->interval) / 1000;

    m->request_rate = sum.requests / secs;
    m->error_rate = sum.requests ? 100.0 * sum.errors / sum.requests : 0;
    m->p50 = ngx_astro_hist_quantile(sum.hist, 0.50);
    m->p95 = ngx_astro_hist_quantile(sum.hist, 0.95);
    m->p99 = ngx_astro_hist_quantile(sum.hist, 0.99);
}


static void
ngx_astro_health_log_transition(ngx_astro_health_main_conf_t *hmcf,
    ngx_log_t *log, unsigned from, unsigned to, ngx_astro_health_figures_t *f)
{
    u_char                       over[160], *p;
    double                       fv[4], lv[4];
    unsigned                     bits;
    ngx_uint_t                   i, level;
    ngx_astro_health_figures_t  *limit;

    static const char  *names[] = { "cpu", "memory", "error_rate", "latency" };

    if (to == NGX_ASTRO_CRITICAL) {
        level = NGX_LOG_ALERT;
        limit = &hmcf->critical;

    } else if (to == NGX_ASTRO_DEGRADED) {
        level = NGX_LOG_WARN;
        limit = &hmcf->degraded;

    } else {
        level = NGX_LOG_NOTICE;
        limit = NULL;
    }

    p = over;

    if (limit) {
        bits = ngx_astro_health_exceeds(f, limit);

        fv[0] = f->cpu;
        fv[1] = f->memory;
        fv[2] = f->error_rate;
        fv[3] = f->latency;

        lv[0] = limit->cpu;
        lv[1] = limit->memory;
        lv[2] = limit->error_rate;
        lv[3] = limit->latency;

        for (i = 0; i < 4; i++) {
            if (bits & (1 << i)) {
                p = ngx_slprintf(p, over + sizeof(over), "%s%s %.1f > %.1f",
                                 p == over ? "; over the limit: " : ", ",
                                 names[i], fv[i], lv[i]);
            }
        }
    }

    ngx_log_error(level, log, 0,
                  "astro_health_zone \"%V\": status %s (was %s): "
                  "cpu %.1f%%, memory %.1f%%, error_rate %.1f%%, "
                  "latency %.0fms%*s",
                  &hmcf->name, ngx_astro_health_name(to),
                  ngx_astro_health_name(from), f->cpu, f->memory,
                  f->error_rate, f->latency, p - over, over);
}
