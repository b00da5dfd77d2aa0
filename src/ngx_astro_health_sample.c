
/*
 * Copyright (C) astro developers
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_astro_health.h"
#include "ngx_astro_sysinfo.h"


/* the files of /proc a sample reads, as bits */
#define NGX_HTTP_ASTRO_HEALTH_STAT     0x01
#define NGX_HTTP_ASTRO_HEALTH_MEMINFO  0x02
#define NGX_HTTP_ASTRO_HEALTH_LOADAVG  0x04
#define NGX_HTTP_ASTRO_HEALTH_PROC     0x07


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
} ngx_http_astro_health_reading_t;


static ssize_t ngx_http_astro_health_read(
    ngx_http_astro_health_main_conf_t *hmcf, const char *dir,
    const char *name, char *buf, size_t size);
static void ngx_http_astro_health_read_files(
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_reading_t *rd);
static void ngx_http_astro_health_read_cgroup(
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_reading_t *rd);
static void ngx_http_astro_health_sample(
    ngx_http_astro_health_main_conf_t *hmcf, ngx_log_t *log);
static void ngx_http_astro_health_figures(
    ngx_http_astro_health_shctx_t *sh, ngx_http_astro_health_reading_t *rd,
    ngx_msec_t now);
static void ngx_http_astro_health_window(
    ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_metrics_t *m);
static void ngx_http_astro_health_record(ngx_http_astro_health_shctx_t *sh);
static void ngx_http_astro_health_log_transition(
    ngx_http_astro_health_main_conf_t *hmcf, ngx_log_t *log, unsigned from,
    unsigned to, ngx_astro_health_figures_t *f);


/*
 * Every worker has the timer; the first whose timer fires when a sample
 * is due takes it.
 */

void
ngx_http_astro_health_timer_handler(ngx_event_t *ev)
{
    ngx_http_astro_health_main_conf_t *hmcf = ev->data;

    ngx_msec_t                      now;
    ngx_atomic_uint_t               next;
    ngx_http_astro_health_shctx_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = hmcf->sh;
    now = ngx_current_msec;
    next = sh->next_sample;

    if ((ngx_msec_int_t) (now - next) >= 0
        && ngx_atomic_cmp_set(&sh->next_sample, next, now + hmcf->interval))
    {
        ngx_http_astro_health_sample(hmcf, ev->log);
    }

    ngx_add_timer(ev, hmcf->interval);
}


static ssize_t
ngx_http_astro_health_read(ngx_http_astro_health_main_conf_t *hmcf,
    const char *dir, const char *name, char *buf, size_t size)
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
ngx_http_astro_health_read_files(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_reading_t *rd)
{
    char     buf[4096];
    ssize_t  n;

    ngx_memzero(rd, sizeof(ngx_http_astro_health_reading_t));

    n = ngx_http_astro_health_read(hmcf, "/proc", "stat", buf, sizeof(buf));
    if (n > 0
        && ngx_astro_parse_proc_stat(buf, n, &rd->busy, &rd->total) == 0)
    {
        rd->ok |= NGX_HTTP_ASTRO_HEALTH_STAT;
    }

    n = ngx_http_astro_health_read(hmcf, "/proc", "meminfo", buf,
                                   sizeof(buf));
    if (n > 0
        && ngx_astro_parse_meminfo(buf, n, &rd->mem_total,
                                   &rd->mem_available)
           == 0)
    {
        rd->ok |= NGX_HTTP_ASTRO_HEALTH_MEMINFO;
    }

    n = ngx_http_astro_health_read(hmcf, "/proc", "loadavg", buf,
                                   sizeof(buf));
    if (n > 0 && ngx_astro_parse_loadavg(buf, n, rd->load) == 0) {
        rd->ok |= NGX_HTTP_ASTRO_HEALTH_LOADAVG;
    }

    ngx_http_astro_health_read_cgroup(hmcf, rd);
}


/*
 * Under cgroup v2 limits the container's own share counts: cpu.max and
 * cpu.stat, memory.max and memory.current of nginx's cgroup (from
 * /proc/self/cgroup), else of the cgroup mount's root, as a container
 * with its own cgroup namespace sees it.
 */

static void
ngx_http_astro_health_read_cgroup(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_reading_t *rd)
{
    char        buf[512], self[256], dir[300], *dirs[2];
    ssize_t     n;
    ngx_uint_t  i, ndirs;

    dirs[0] = "/sys/fs/cgroup";
    ndirs = 1;

    n = ngx_http_astro_health_read(hmcf, "/proc/self", "cgroup", buf,
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

        n = ngx_http_astro_health_read(hmcf, dirs[i], "cpu.max", buf,
                                       sizeof(buf));
        if (n <= 0
            || ngx_astro_parse_cpu_max(buf, n, &rd->cg_quota, &rd->cg_period)
               != 0
            || rd->cg_quota == NGX_ASTRO_UNLIMITED)
        {
            continue;
        }

        n = ngx_http_astro_health_read(hmcf, dirs[i], "cpu.stat", buf,
                                       sizeof(buf));
        if (n > 0 && ngx_astro_parse_cpu_stat(buf, n, &rd->cg_usage) == 0) {
            rd->cg_cpu = 1;
            break;
        }
    }

    for (i = 0; i < ndirs; i++) {

        n = ngx_http_astro_health_read(hmcf, dirs[i], "memory.max", buf,
                                       sizeof(buf));
        if (n <= 0
            || ngx_astro_parse_u64(buf, n, &rd->cg_mem_max) != 0
            || rd->cg_mem_max == NGX_ASTRO_UNLIMITED
            || rd->cg_mem_max == 0)
        {
            continue;
        }

        n = ngx_http_astro_health_read(hmcf, dirs[i], "memory.current", buf,
                                       sizeof(buf));
        if (n > 0
            && ngx_astro_parse_u64(buf, n, &rd->cg_mem_current) == 0)
        {
            rd->cg_memory = 1;
            break;
        }
    }
}


/*
 * One sample: the files are read outside the lock, the figures, the
 * status and the history are updated under it, and logged after it.
 */

static void
ngx_http_astro_health_sample(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_log_t *log)
{
    int                              changed;
    unsigned                         from, to, raw;
    ngx_uint_t                       i, failed;
    ngx_msec_t                       now;
    ngx_astro_health_state_t         state;
    ngx_astro_health_figures_t       f;
    ngx_http_astro_health_shctx_t   *sh;
    ngx_http_astro_health_reading_t  rd;
    ngx_http_astro_health_metrics_t  m;
    ngx_http_astro_health_sample_t   s;

    ngx_http_astro_health_read_files(hmcf, &rd);

    sh = hmcf->sh;
    now = ngx_current_msec;

    ngx_shmtx_lock(&hmcf->shpool->mutex);

    ngx_http_astro_health_figures(sh, &rd, now);
    ngx_http_astro_health_window(hmcf, &sh->metrics);

    sh->last_msec = now;
    sh->samples++;

    m = sh->metrics;

    f.cpu = m.cpu;
    f.memory = m.memory;
    f.error_rate = m.error_rate;
    f.latency = m.latency;

    from = sh->state.status;
    raw = ngx_astro_health_classify(&f, &hmcf->degraded, &hmcf->critical);
    changed = ngx_astro_health_step(&sh->state, raw, hmcf->recover);
    state = sh->state;
    to = state.status;

    if (changed) {
        sh->since = ngx_time();
        sh->transitions++;
    }

    ngx_http_astro_health_record(sh);

    s = sh->ring[(sh->next + sh->history - 1) % sh->history];

    /* a file that starts failing is logged once, not every interval */

    failed = NGX_HTTP_ASTRO_HEALTH_PROC & ~rd.ok & ~sh->failing;
    sh->failing = NGX_HTTP_ASTRO_HEALTH_PROC & ~rd.ok;

    ngx_shmtx_unlock(&hmcf->shpool->mutex);

    ngx_log_debug8(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_health: zone \"%V\" sample: cpu %.1f%%, "
                   "memory %.1f%%, load %.2f, requests %.1f/s, "
                   "error_rate %.1f%%, latency %.1fms, p95 %.1fms",
                   &hmcf->name, m.cpu, m.memory, m.load[0], m.request_rate,
                   m.error_rate, m.latency, m.p95);

    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, log, 0,
                   "astro_health: zone \"%V\" raw %s, status %s (was %s), "
                   "held %ui of %ui",
                   &hmcf->name, ngx_astro_health_name(raw),
                   ngx_astro_health_name(to), ngx_astro_health_name(from),
                   (ngx_uint_t) state.held, hmcf->recover);

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
        ngx_http_astro_health_log_transition(hmcf, log, from, to, &f);
    }

    if (hmcf->fleet && sh->fleet) {
        ngx_http_astro_health_fleet_push(hmcf, &s, log);
    }
}


/* CPU, memory and load from a reading, under the lock */

static void
ngx_http_astro_health_figures(ngx_http_astro_health_shctx_t *sh,
    ngx_http_astro_health_reading_t *rd, ngx_msec_t now)
{
    ngx_http_astro_health_metrics_t  *m;

    m = &sh->metrics;

    /* a CPU figure needs two readings of the same cgroup in a row */

    if (rd->cg_cpu) {
        m->cpu = (m->cgroup_cpu && rd->cg_usage >= sh->cg_usage)
                 ? ngx_astro_cgroup_cpu_percent(rd->cg_usage - sh->cg_usage,
                                                (now - sh->last_msec) * 1000,
                                                rd->cg_quota, rd->cg_period)
                 : 0;
        sh->cg_usage = rd->cg_usage;

    } else if (rd->ok & NGX_HTTP_ASTRO_HEALTH_STAT) {
        m->cpu = ngx_astro_cpu_percent(sh->cpu_busy, sh->cpu_total,
                                       rd->busy, rd->total);
        sh->cpu_busy = rd->busy;
        sh->cpu_total = rd->total;
    }

    if (rd->cg_memory) {
        m->memory = ngx_astro_mem_percent(rd->cg_mem_current,
                                          rd->cg_mem_max);

    } else if (rd->ok & NGX_HTTP_ASTRO_HEALTH_MEMINFO) {
        m->memory = ngx_astro_mem_percent(rd->mem_total - rd->mem_available,
                                          rd->mem_total);
    }

    if (rd->ok & NGX_HTTP_ASTRO_HEALTH_LOADAVG) {
        ngx_memcpy(m->load, rd->load, sizeof(rd->load));
    }

    m->cgroup_cpu = rd->cg_cpu;
    m->cgroup_memory = rd->cg_memory;

#if (NGX_STAT_STUB)
    m->active = *ngx_stat_active;
#endif
}


/*
 * Moves this interval's counts into the window and derives the rates,
 * the percentiles and the EWMAs of the response time from it.  The
 * error rate and the EWMA judged are over the responses served (not
 * refused), the raw EWMA over them all.
 */

static void
ngx_http_astro_health_window(ngx_http_astro_health_main_conf_t *hmcf,
    ngx_http_astro_health_metrics_t *m)
{
    double                           alpha, secs;
    uint64_t                         served;
    ngx_uint_t                       i, j;
    ngx_http_astro_health_shctx_t   *sh;
    ngx_http_astro_health_counts_t   cur, *d, sum;

    sh = hmcf->sh;

    cur.requests = sh->total.requests;
    cur.errors = sh->total.errors;
    cur.latency = sh->total.latency;
    cur.refused = sh->total.refused;
    cur.judged = sh->total.judged;

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
    d->refused = (ngx_atomic_uint_t) (cur.refused - sh->last.refused);
    d->judged = (ngx_atomic_uint_t) (cur.judged - sh->last.judged);

    for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
        d->hist[i] = (ngx_atomic_uint_t) (cur.hist[i] - sh->last.hist[i]);
    }

    sh->last = cur;

    /*
     * The EWMAs move in intervals with responses; a window without any
     * forgets them, so that an idle server is not held slow.  The
     * counters are read one after the other: a refusal may be seen
     * before its request.
     */

    alpha = 2.0 / (sh->slots + 1);
    served = d->requests > d->refused ? d->requests - d->refused : 0;

    m->latency = ngx_astro_health_ewma(m->latency, d->judged, served, alpha);
    m->latency_raw = ngx_astro_health_ewma(m->latency_raw, d->latency,
                                           d->requests, alpha);

    ngx_memzero(&sum, sizeof(ngx_http_astro_health_counts_t));

    for (j = 0; j < sh->filled; j++) {
        d = &sh->window[j];

        sum.requests += d->requests;
        sum.errors += d->errors;
        sum.refused += d->refused;

        for (i = 0; i < NGX_ASTRO_HIST_N; i++) {
            sum.hist[i] += d->hist[i];
        }
    }

    served = sum.requests > sum.refused ? sum.requests - sum.refused : 0;

    if (served == 0) {
        m->latency = 0;
    }

    if (sum.requests == 0) {
        m->latency_raw = 0;
    }

    secs = (double) (sh->filled * hmcf->interval) / 1000;

    m->request_rate = sum.requests / secs;
    m->error_rate = ngx_astro_health_percent(sum.errors, served);
    m->p50 = ngx_astro_hist_quantile(sum.hist, 0.50);
    m->p95 = ngx_astro_hist_quantile(sum.hist, 0.95);
    m->p99 = ngx_astro_hist_quantile(sum.hist, 0.99);
}


/*
 * The sample into the history ring, and the figures that are read
 * without the lock (shedding, the variables, the other modules).
 */

static void
ngx_http_astro_health_record(ngx_http_astro_health_shctx_t *sh)
{
    ngx_http_astro_health_sample_t   *s;
    ngx_http_astro_health_metrics_t  *m;

    m = &sh->metrics;

    s = &sh->ring[sh->next];
    sh->next = (sh->next + 1) % sh->history;
    sh->count = ngx_min(sh->count + 1, sh->history);

    s->time = ngx_time();
    s->status = sh->state.status;
    s->active = m->active;
    s->cpu = m->cpu;
    s->memory = m->memory;
    s->load = m->load[0];
    s->request_rate = m->request_rate;
    s->latency = m->latency;
    s->p95 = m->p95;
    s->error_rate = m->error_rate;
    s->latency_raw = m->latency_raw;

    sh->status = sh->state.status;
    sh->cpu = (ngx_atomic_uint_t) (m->cpu * NGX_HTTP_ASTRO_HEALTH_MILLI);
    sh->memory = (ngx_atomic_uint_t) (m->memory
                                      * NGX_HTTP_ASTRO_HEALTH_MILLI);
    sh->error_rate = (ngx_atomic_uint_t) (m->error_rate
                                          * NGX_HTTP_ASTRO_HEALTH_MILLI);
    sh->latency = (ngx_atomic_uint_t) (m->latency
                                       * NGX_HTTP_ASTRO_HEALTH_MILLI);
}


static void
ngx_http_astro_health_log_transition(ngx_http_astro_health_main_conf_t *hmcf,
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
