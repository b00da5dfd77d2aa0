
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_SYSINFO_H_INCLUDED_
#define _NGX_ASTRO_SYSINFO_H_INCLUDED_


/*
 * pure code: parsers of the /proc and cgroup v2 files the health zone
 * samples, and the arithmetic on two samples; no nginx headers, unit
 * tested in t/unit/test_sysinfo.c.  Every parser returns 0 on success
 * and -1 on a text it does not understand.
 */

#include <stddef.h>
#include <stdint.h>


#define NGX_ASTRO_UNLIMITED  UINT64_MAX


/* the aggregate "cpu" line: busy and total jiffies */
int ngx_astro_parse_proc_stat(const char *buf, size_t len, uint64_t *busy,
    uint64_t *total);

/*
 * MemTotal and MemAvailable (or MemFree + Buffers + Cached), in kB;
 * available at most total
 */
int ngx_astro_parse_meminfo(const char *buf, size_t len, uint64_t *total,
    uint64_t *available);

int ngx_astro_parse_loadavg(const char *buf, size_t len, double load[3]);

/* "0::/path" of /proc/self/cgroup: the cgroup v2 path, into path */
int ngx_astro_parse_self_cgroup(const char *buf, size_t len, char *path,
    size_t size);

/* cpu.max: "max 100000" or "50000 100000"; quota NGX_ASTRO_UNLIMITED */
int ngx_astro_parse_cpu_max(const char *buf, size_t len, uint64_t *quota,
    uint64_t *period);

/* cpu.stat: usage_usec */
int ngx_astro_parse_cpu_stat(const char *buf, size_t len, uint64_t *usage);

/* memory.max, memory.current: a number, or "max" (NGX_ASTRO_UNLIMITED) */
int ngx_astro_parse_u64(const char *buf, size_t len, uint64_t *value);

/*
 * CPU use in percent from two /proc/stat samples; when no jiffy passed
 * between them (a file that did not change), from the last one alone.
 */
double ngx_astro_cpu_percent(uint64_t busy0, uint64_t total0, uint64_t busy,
    uint64_t total);

/* a cgroup's CPU use in percent of its quota over a wall time */
double ngx_astro_cgroup_cpu_percent(uint64_t usage_usec, uint64_t wall_usec,
    uint64_t quota, uint64_t period);

double ngx_astro_mem_percent(uint64_t used, uint64_t total);


#endif /* _NGX_ASTRO_SYSINFO_H_INCLUDED_ */
