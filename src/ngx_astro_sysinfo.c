
/*
 * Copyright (C) astro developers
 */


#include <string.h>
#include "ngx_astro_sysinfo.h"


static const char *ngx_astro_skip_space(const char *p, const char *end);
static const char *ngx_astro_parse_num(const char *p, const char *end,
    uint64_t *value);
static const char *ngx_astro_find_line(const char *buf, size_t len,
    const char *name);


static const char *
ngx_astro_skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* a decimal number; NULL when there is none or it overflows */

static const char *
ngx_astro_parse_num(const char *p, const char *end, uint64_t *value)
{
    uint64_t  v;

    p = ngx_astro_skip_space(p, end);

    if (p == end || *p < '0' || *p > '9') {
        return NULL;
    }

    v = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10) {
            return NULL;
        }

        v = v * 10 + (uint64_t) (*p++ - '0');
    }

    *value = v;

    return p;
}


/* the text after "name" at the start of a line, or NULL */

static const char *
ngx_astro_find_line(const char *buf, size_t len, const char *name)
{
    size_t       n;
    const char  *p, *end;

    n = strlen(name);
    end = buf + len;

    for (p = buf; p < end; p++) {

        if ((p == buf || p[-1] == '\n')
            && (size_t) (end - p) >= n
            && memcmp(p, name, n) == 0)
        {
            return p + n;
        }
    }

    return NULL;
}


int
ngx_astro_parse_proc_stat(const char *buf, size_t len, uint64_t *busy,
    uint64_t *total)
{
    unsigned     i;
    uint64_t     v[8], sum;
    const char  *p, *end;

    /* user nice system idle iowait irq softirq steal; guest is in user */

    p = ngx_astro_find_line(buf, len, "cpu ");
    if (p == NULL) {
        return -1;
    }

    end = buf + len;
    sum = 0;

    for (i = 0; i < 8; i++) {
        p = ngx_astro_parse_num(p, end, &v[i]);

        if (p == NULL) {
            if (i < 4) {
                return -1;
            }

            /* old kernels have fewer fields */

            for ( /* void */ ; i < 8; i++) {
                v[i] = 0;
            }

            break;
        }

        /* jiffies that wrapped are no count we understand */

        if (v[i] > UINT64_MAX - sum) {
            return -1;
        }

        sum += v[i];
    }

    *total = sum;
    *busy = sum - v[3] - v[4];

    return 0;
}


int
ngx_astro_parse_meminfo(const char *buf, size_t len, uint64_t *total,
    uint64_t *available)
{
    uint64_t     free, buffers, cached;
    const char  *p, *end;

    end = buf + len;

    p = ngx_astro_find_line(buf, len, "MemTotal:");
    if (p == NULL || ngx_astro_parse_num(p, end, total) == NULL) {
        return -1;
    }

    p = ngx_astro_find_line(buf, len, "MemAvailable:");

    if (p == NULL || ngx_astro_parse_num(p, end, available) == NULL) {

        /* kernels before 3.14 */

        p = ngx_astro_find_line(buf, len, "MemFree:");
        if (p == NULL || ngx_astro_parse_num(p, end, &free) == NULL) {
            return -1;
        }

        buffers = 0;
        cached = 0;

        p = ngx_astro_find_line(buf, len, "Buffers:");
        if (p) {
            (void) ngx_astro_parse_num(p, end, &buffers);
        }

        p = ngx_astro_find_line(buf, len, "Cached:");
        if (p) {
            (void) ngx_astro_parse_num(p, end, &cached);
        }

        /* a sum that wrapped would look like little memory available */

        if (buffers > UINT64_MAX - free
            || cached > UINT64_MAX - free - buffers)
        {
            *available = *total;

        } else {
            *available = free + buffers + cached;
        }
    }

    /*
     * no more than the total: the sampler takes total - available as
     * used, which must not wrap
     */

    if (*available > *total) {
        *available = *total;
    }

    return 0;
}


int
ngx_astro_parse_loadavg(const char *buf, size_t len, double load[3])
{
    unsigned     i, digits;
    uint64_t     ip, fp, scale;
    const char  *p, *end;

    p = buf;
    end = buf + len;

    for (i = 0; i < 3; i++) {
        p = ngx_astro_parse_num(p, end, &ip);
        if (p == NULL) {
            return -1;
        }

        fp = 0;
        scale = 1;

        if (p < end && *p == '.') {
            p++;

            for (digits = 0; p < end && *p >= '0' && *p <= '9'; p++) {
                if (digits++ < 6) {
                    fp = fp * 10 + (uint64_t) (*p - '0');
                    scale *= 10;
                }
            }
        }

        load[i] = (double) ip + (double) fp / (double) scale;
    }

    return 0;
}


int
ngx_astro_parse_self_cgroup(const char *buf, size_t len, char *path,
    size_t size)
{
    size_t       n;
    const char  *p, *end, *eol;

    p = ngx_astro_find_line(buf, len, "0::");
    if (p == NULL) {
        return -1;
    }

    end = buf + len;

    for (eol = p; eol < end && *eol != '\n'; eol++) { /* void */ }

    n = (size_t) (eol - p);

    if (n == 0 || *p != '/' || n >= size) {
        return -1;
    }

    memcpy(path, p, n);
    path[n] = '\0';

    /* no ".." may climb out of the cgroup mount */

    if (strlen(path) != n || strstr(path, "..")) {
        return -1;
    }

    return 0;
}


int
ngx_astro_parse_cpu_max(const char *buf, size_t len, uint64_t *quota,
    uint64_t *period)
{
    const char  *p, *end;

    p = buf;
    end = buf + len;

    if (len >= 3 && memcmp(buf, "max", 3) == 0) {
        *quota = NGX_ASTRO_UNLIMITED;
        p += 3;

    } else {
        p = ngx_astro_parse_num(p, end, quota);
        if (p == NULL) {
            return -1;
        }
    }

    p = ngx_astro_parse_num(p, end, period);
    if (p == NULL || *period == 0) {
        return -1;
    }

    return 0;
}


int
ngx_astro_parse_cpu_stat(const char *buf, size_t len, uint64_t *usage)
{
    const char  *p;

    p = ngx_astro_find_line(buf, len, "usage_usec");
    if (p == NULL || ngx_astro_parse_num(p, buf + len, usage) == NULL) {
        return -1;
    }

    return 0;
}


int
ngx_astro_parse_u64(const char *buf, size_t len, uint64_t *value)
{
    const char  *p, *end;

    end = buf + len;

    if (len >= 3 && memcmp(buf, "max", 3) == 0) {
        *value = NGX_ASTRO_UNLIMITED;
        p = buf + 3;

    } else {
        p = ngx_astro_parse_num(buf, end, value);
        if (p == NULL) {
            return -1;
        }
    }

    p = ngx_astro_skip_space(p, end);

    if (p < end && *p != '\n') {
        return -1;
    }

    return 0;
}


double
ngx_astro_cpu_percent(uint64_t busy0, uint64_t total0, uint64_t busy,
    uint64_t total)
{
    if (total > total0 && busy >= busy0) {
        return 100.0 * (double) (busy - busy0) / (double) (total - total0);
    }

    if (total == 0) {
        return 0;
    }

    return 100.0 * (double) busy / (double) total;
}


double
ngx_astro_cgroup_cpu_percent(uint64_t usage_usec, uint64_t wall_usec,
    uint64_t quota, uint64_t period)
{
    double  cpus, pct;

    if (wall_usec == 0 || quota == 0 || quota == NGX_ASTRO_UNLIMITED
        || period == 0)
    {
        return 0;
    }

    cpus = (double) quota / (double) period;
    pct = 100.0 * (double) usage_usec / ((double) wall_usec * cpus);

    return pct > 100 ? 100 : pct;
}


double
ngx_astro_mem_percent(uint64_t used, uint64_t total)
{
    if (total == 0 || total == NGX_ASTRO_UNLIMITED) {
        return 0;
    }

    if (used > total) {
        return 100;
    }

    return 100.0 * (double) used / (double) total;
}
