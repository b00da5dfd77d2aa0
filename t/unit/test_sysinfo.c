
/*
 * Copyright (C) astro developers
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_astro_sysinfo.h"


#define EPS  1e-9

#define S(s)  s, sizeof(s) - 1


static const char  proc_stat[] =
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n"
    "cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0\n"
    "cpu1 1335186 28612 531560 13353276 2917 0 3598 0 23981 0\n"
    "intr 1462898 22 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n"
    "ctxt 3129345\n"
    "btime 1700000000\n"
    "processes 12345\n"
    "procs_running 2\n"
    "procs_blocked 0\n"
    "softirq 1171003 0 296453 3 77412 0 0 17 318236 0 478882\n";


static const char  meminfo[] =
    "MemTotal:       16318436 kB\n"
    "MemFree:         1024000 kB\n"
    "MemAvailable:    8159218 kB\n"
    "Buffers:          512000 kB\n"
    "Cached:          4096000 kB\n"
    "SwapCached:        10240 kB\n"
    "Active:          6000000 kB\n"
    "SwapTotal:       2097148 kB\n"
    "SwapFree:        2097148 kB\n";


static const char  meminfo_old[] =
    "MemTotal:        2048000 kB\n"
    "MemFree:          300000 kB\n"
    "Buffers:          100000 kB\n"
    "Cached:           600000 kB\n"
    "SwapCached:        99999 kB\n"
    "Active:          1000000 kB\n";


/* /proc/stat */

static void
test_proc_stat(void **state)
{
    uint64_t  busy, total;

    (void) state;

    assert_int_equal(ngx_astro_parse_proc_stat(S(proc_stat), &busy, &total),
                     0);

    /* user nice system idle iowait irq softirq steal; no guest */
    assert_int_equal(total, 10132153ULL + 290696 + 3084719 + 46828483
                            + 16683 + 0 + 25195 + 0);
    assert_int_equal(busy, 10132153ULL + 290696 + 3084719 + 0 + 25195 + 0);
}


static void
test_proc_stat_short(void **state)
{
    uint64_t  busy, total;

    (void) state;

    /* an old kernel: four fields only */
    assert_int_equal(ngx_astro_parse_proc_stat(S("cpu  100 20 30 850\n"),
                                               &busy, &total), 0);
    assert_int_equal(total, 1000);
    assert_int_equal(busy, 150);

    /* seven fields */
    assert_int_equal(ngx_astro_parse_proc_stat(
                         S("cpu 100 20 30 800 50 5 5\ncpu0 1 2 3 4\n"),
                         &busy, &total), 0);
    assert_int_equal(total, 1010);
    assert_int_equal(busy, 160);
}


static void
test_proc_stat_not_first(void **state)
{
    uint64_t  busy, total;

    (void) state;

    /* "cpu0" is not "cpu "; the aggregate line may follow others */
    assert_int_equal(ngx_astro_parse_proc_stat(
                         S("cpu0 9 9 9 9\ncpu 1 2 3 4 0 0 0 0\n"),
                         &busy, &total), 0);
    assert_int_equal(total, 10);
    assert_int_equal(busy, 6);
}


static void
test_proc_stat_garbage(void **state)
{
    uint64_t  busy, total;

    (void) state;

    assert_int_equal(ngx_astro_parse_proc_stat(S(""), &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(S("hello world\n"),
                                               &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(S("cpu0 1 2 3 4\n"),
                                               &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(S("cpu  1 2 3\n"),
                                               &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(S("cpu  a b c d\n"),
                                               &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(S("cpu  \n1 2 3 4\n"),
                                               &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(S("xcpu  1 2 3 4\n"),
                                               &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(
                         S("cpu  99999999999999999999999 1 2 3\n"),
                         &busy, &total), -1);
}


static void
test_proc_stat_len(void **state)
{
    uint64_t  busy, total;

    (void) state;

    /* the parser stops at len: "cpu  1 2 3 4" is cut to "cpu  1 2 3" */
    assert_int_equal(ngx_astro_parse_proc_stat("cpu  1 2 3 4\n", 10,
                                               &busy, &total), -1);
}


static void
test_proc_stat_wrap(void **state)
{
    uint64_t  busy, total;

    (void) state;

    /*
     * a sum of jiffies that wraps is refused: it gave busy > total, up
     * to a CPU use of billions of percent (t/fuzz/corpus/sysinfo/)
     */
    assert_int_equal(ngx_astro_parse_proc_stat(
                         S("cpu  18446744073709551609 0 0 10 0\n"),
                         &busy, &total), -1);
    assert_int_equal(ngx_astro_parse_proc_stat(
                         S("cpu  9223372036854775808 0 0 "
                           "9223372036854775808\n"), &busy, &total), -1);

    /* the most that does not wrap */
    assert_int_equal(ngx_astro_parse_proc_stat(
                         S("cpu  18446744073709551609 0 0 6\n"),
                         &busy, &total), 0);
    assert_int_equal(total, UINT64_MAX);
    assert_int_equal(busy, UINT64_MAX - 6);
}


/* /proc/meminfo */

static void
test_meminfo_available(void **state)
{
    uint64_t  total, avail;

    (void) state;

    assert_int_equal(ngx_astro_parse_meminfo(S(meminfo), &total, &avail), 0);
    assert_int_equal(total, 16318436);
    assert_int_equal(avail, 8159218);
}


static void
test_meminfo_old(void **state)
{
    uint64_t  total, avail;

    (void) state;

    /* MemFree + Buffers + Cached, not SwapCached */
    assert_int_equal(ngx_astro_parse_meminfo(S(meminfo_old), &total, &avail),
                     0);
    assert_int_equal(total, 2048000);
    assert_int_equal(avail, 300000 + 100000 + 600000);
}


static void
test_meminfo_free_only(void **state)
{
    uint64_t  total, avail;

    (void) state;

    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: 1000 kB\nMemFree: 250 kB\n"),
                         &total, &avail), 0);
    assert_int_equal(total, 1000);
    assert_int_equal(avail, 250);
}


static void
test_meminfo_over_total(void **state)
{
    uint64_t  total, avail;

    (void) state;

    /*
     * no more available than the total: the sampler's used memory,
     * total - available, wrapped to 100% (t/fuzz/corpus/sysinfo/)
     */
    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: 100 kB\nMemAvailable: 200 kB\n"),
                         &total, &avail), 0);
    assert_int_equal(total, 100);
    assert_int_equal(avail, 100);

    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: 1000 kB\nMemFree: 600 kB\n"
                           "Buffers: 300 kB\nCached: 200 kB\n"),
                         &total, &avail), 0);
    assert_int_equal(avail, 1000);

    /* MemFree + Buffers + Cached that wraps */
    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: 1000 kB\n"
                           "MemFree: 18446744073709551609 kB\n"
                           "Buffers: 10 kB\nCached: 0 kB\n"),
                         &total, &avail), 0);
    assert_int_equal(avail, 1000);
}


static void
test_meminfo_garbage(void **state)
{
    uint64_t  total, avail;

    (void) state;

    assert_int_equal(ngx_astro_parse_meminfo(S(""), &total, &avail), -1);
    assert_int_equal(ngx_astro_parse_meminfo(S("garbage\n"), &total, &avail),
                     -1);

    /* no MemTotal */
    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemFree: 1 kB\nMemAvailable: 2 kB\n"),
                         &total, &avail), -1);

    /* MemTotal without a number */
    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: kB\nMemAvailable: 2 kB\n"),
                         &total, &avail), -1);

    /* neither MemAvailable nor MemFree */
    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: 1000 kB\nBuffers: 2 kB\n"),
                         &total, &avail), -1);
}


/* /proc/loadavg */

static void
test_loadavg(void **state)
{
    double  load[3];

    (void) state;

    assert_int_equal(ngx_astro_parse_loadavg(
                         S("0.52 1.58 12.09 2/389 123456\n"), load), 0);
    assert_float_equal(load[0], 0.52, EPS);
    assert_float_equal(load[1], 1.58, EPS);
    assert_float_equal(load[2], 12.09, EPS);

    assert_int_equal(ngx_astro_parse_loadavg(S("0.00 0.00 0.00 1/1 1\n"),
                                             load), 0);
    assert_float_equal(load[0], 0, EPS);
    assert_float_equal(load[1], 0, EPS);
    assert_float_equal(load[2], 0, EPS);

    /* no fraction at all */
    assert_int_equal(ngx_astro_parse_loadavg(S("3 2 1"), load), 0);
    assert_float_equal(load[0], 3, EPS);
    assert_float_equal(load[1], 2, EPS);
    assert_float_equal(load[2], 1, EPS);
}


static void
test_loadavg_garbage(void **state)
{
    double  load[3];

    (void) state;

    assert_int_equal(ngx_astro_parse_loadavg(S(""), load), -1);
    assert_int_equal(ngx_astro_parse_loadavg(S("abc"), load), -1);
    assert_int_equal(ngx_astro_parse_loadavg(S("0.52 0.58\n"), load), -1);
    assert_int_equal(ngx_astro_parse_loadavg(S("0.52 x 0.59\n"), load), -1);
    assert_int_equal(ngx_astro_parse_loadavg(S("-1.0 0.5 0.5\n"), load), -1);
}


/* /proc/self/cgroup */

static void
test_self_cgroup(void **state)
{
    char  path[256];

    (void) state;

    assert_int_equal(ngx_astro_parse_self_cgroup(
                         S("0::/system.slice/nginx.service\n"),
                         path, sizeof(path)), 0);
    assert_string_equal(path, "/system.slice/nginx.service");

    /* no trailing newline */
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/docker/abc123"),
                                                 path, sizeof(path)), 0);
    assert_string_equal(path, "/docker/abc123");

    /* the root cgroup */
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/\n"),
                                                 path, sizeof(path)), 0);
    assert_string_equal(path, "/");
}


static void
test_self_cgroup_hybrid(void **state)
{
    char  path[256];

    (void) state;

    /* a hybrid hierarchy: v1 lines first, "10::" is not "0::" */
    assert_int_equal(ngx_astro_parse_self_cgroup(
                         S("12:cpu,cpuacct:/user.slice\n"
                           "10::/not/this\n"
                           "1:name=systemd:/user.slice/session-1.scope\n"
                           "0::/user.slice/session-1.scope\n"),
                         path, sizeof(path)), 0);
    assert_string_equal(path, "/user.slice/session-1.scope");
}


static void
test_self_cgroup_reject(void **state)
{
    char  path[256], small[8];

    (void) state;

    assert_int_equal(ngx_astro_parse_self_cgroup(S(""), path, sizeof(path)),
                     -1);

    /* cgroup v1 only */
    assert_int_equal(ngx_astro_parse_self_cgroup(
                         S("12:cpu,cpuacct:/user.slice\n"),
                         path, sizeof(path)), -1);

    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::\n"),
                                                 path, sizeof(path)), -1);
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::relative/path\n"),
                                                 path, sizeof(path)), -1);

    /* ".." could climb out of the cgroup mount */
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/..\n"),
                                                 path, sizeof(path)), -1);
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/a/../../etc\n"),
                                                 path, sizeof(path)), -1);
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/../b\n"),
                                                 path, sizeof(path)), -1);

    /* an embedded NUL */
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/a\0/b\n"),
                                                 path, sizeof(path)), -1);

    /* too long for the buffer: "/1234567" needs 9 bytes */
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/1234567\n"),
                                                 small, sizeof(small)), -1);
    assert_int_equal(ngx_astro_parse_self_cgroup(S("0::/123456\n"),
                                                 small, sizeof(small)), 0);
    assert_string_equal(small, "/123456");
}


/* cpu.max */

static void
test_cpu_max(void **state)
{
    uint64_t  quota, period;

    (void) state;

    assert_int_equal(ngx_astro_parse_cpu_max(S("max 100000\n"),
                                             &quota, &period), 0);
    assert_true(quota == NGX_ASTRO_UNLIMITED);
    assert_int_equal(period, 100000);

    assert_int_equal(ngx_astro_parse_cpu_max(S("50000 100000\n"),
                                             &quota, &period), 0);
    assert_int_equal(quota, 50000);
    assert_int_equal(period, 100000);

    assert_int_equal(ngx_astro_parse_cpu_max(S("200000 100000"),
                                             &quota, &period), 0);
    assert_int_equal(quota, 200000);
    assert_int_equal(period, 100000);
}


static void
test_cpu_max_garbage(void **state)
{
    uint64_t  quota, period;

    (void) state;

    assert_int_equal(ngx_astro_parse_cpu_max(S(""), &quota, &period), -1);
    assert_int_equal(ngx_astro_parse_cpu_max(S("max\n"), &quota, &period),
                     -1);
    assert_int_equal(ngx_astro_parse_cpu_max(S("50000\n"), &quota, &period),
                     -1);
    assert_int_equal(ngx_astro_parse_cpu_max(S("50000 0\n"),
                                             &quota, &period), -1);
    assert_int_equal(ngx_astro_parse_cpu_max(S("maximum 100000\n"),
                                             &quota, &period), -1);
    assert_int_equal(ngx_astro_parse_cpu_max(S("none 100000\n"),
                                             &quota, &period), -1);
    assert_int_equal(ngx_astro_parse_cpu_max(S("50000\n100000\n"),
                                             &quota, &period), -1);
}


/* cpu.stat */

static void
test_cpu_stat(void **state)
{
    uint64_t  usage;

    (void) state;

    assert_int_equal(ngx_astro_parse_cpu_stat(
                         S("usage_usec 123456789\n"
                           "user_usec 100000000\n"
                           "system_usec 23456789\n"
                           "nr_periods 10\n"
                           "nr_throttled 2\n"
                           "throttled_usec 5000\n"),
                         &usage), 0);
    assert_int_equal(usage, 123456789);

    /* not necessarily the first line */
    assert_int_equal(ngx_astro_parse_cpu_stat(
                         S("user_usec 7\nusage_usec 42\nsystem_usec 35\n"),
                         &usage), 0);
    assert_int_equal(usage, 42);
}


static void
test_cpu_stat_garbage(void **state)
{
    uint64_t  usage;

    (void) state;

    assert_int_equal(ngx_astro_parse_cpu_stat(S(""), &usage), -1);
    assert_int_equal(ngx_astro_parse_cpu_stat(S("user_usec 7\n"), &usage),
                     -1);
    assert_int_equal(ngx_astro_parse_cpu_stat(S("usage_usec\n"), &usage),
                     -1);
    assert_int_equal(ngx_astro_parse_cpu_stat(S("usage_usec abc\n"),
                                              &usage), -1);
    assert_int_equal(ngx_astro_parse_cpu_stat(S("xusage_usec 5\n"), &usage),
                     -1);
}


/* memory.max, memory.current */

static void
test_u64(void **state)
{
    uint64_t  v;

    (void) state;

    assert_int_equal(ngx_astro_parse_u64(S("max\n"), &v), 0);
    assert_true(v == NGX_ASTRO_UNLIMITED);

    assert_int_equal(ngx_astro_parse_u64(S("max"), &v), 0);
    assert_true(v == NGX_ASTRO_UNLIMITED);

    assert_int_equal(ngx_astro_parse_u64(S("536870912\n"), &v), 0);
    assert_int_equal(v, 536870912);

    assert_int_equal(ngx_astro_parse_u64(S("0\n"), &v), 0);
    assert_int_equal(v, 0);

    assert_int_equal(ngx_astro_parse_u64(S("18446744073709551605\n"), &v), 0);
    assert_true(v == 18446744073709551605ULL);
}


static void
test_u64_garbage(void **state)
{
    uint64_t  v;

    (void) state;

    assert_int_equal(ngx_astro_parse_u64(S(""), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("\n"), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("abc\n"), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("12a\n"), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("maxi\n"), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("max 5\n"), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("-1\n"), &v), -1);
    assert_int_equal(ngx_astro_parse_u64(S("99999999999999999999999\n"), &v),
                     -1);
}


/* arithmetic */

static void
test_cpu_percent_delta(void **state)
{
    (void) state;

    /* 50 busy of 100 jiffies */
    assert_float_equal(ngx_astro_cpu_percent(100, 1000, 150, 1100), 50, EPS);

    /* 25 of 400 */
    assert_float_equal(ngx_astro_cpu_percent(1000, 4000, 1025, 4400), 6.25,
                       EPS);

    /* idle and fully busy */
    assert_float_equal(ngx_astro_cpu_percent(100, 1000, 100, 1100), 0, EPS);
    assert_float_equal(ngx_astro_cpu_percent(100, 1000, 200, 1100), 100,
                       EPS);
}


static void
test_cpu_percent_fallback(void **state)
{
    (void) state;

    /* no jiffy passed: the cumulative ratio of the last sample */
    assert_float_equal(ngx_astro_cpu_percent(250, 1000, 250, 1000), 25, EPS);

    /* the first sample, from zeros */
    assert_float_equal(ngx_astro_cpu_percent(0, 0, 0, 0), 0, EPS);

    /* total went back (a counter reset): cumulative as well */
    assert_float_equal(ngx_astro_cpu_percent(500, 2000, 30, 40), 75, EPS);

    /* busy went back: cumulative */
    assert_float_equal(ngx_astro_cpu_percent(500, 1000, 400, 1600), 25, EPS);
}


static void
test_cgroup_cpu_percent(void **state)
{
    (void) state;

    /* quota 0.5 CPU: 0.25 s of CPU in 1 s is 50% of it */
    assert_float_equal(ngx_astro_cgroup_cpu_percent(250000, 1000000,
                                                    50000, 100000),
                       50, EPS);

    /* 0.5 s in 1 s uses the quota up */
    assert_float_equal(ngx_astro_cgroup_cpu_percent(500000, 1000000,
                                                    50000, 100000),
                       100, EPS);

    /* more than the quota (bursts) is capped */
    assert_float_equal(ngx_astro_cgroup_cpu_percent(900000, 1000000,
                                                    50000, 100000),
                       100, EPS);

    /* two CPUs: 0.5 s in 1 s is 25% */
    assert_float_equal(ngx_astro_cgroup_cpu_percent(500000, 1000000,
                                                    200000, 100000),
                       25, EPS);

    assert_float_equal(ngx_astro_cgroup_cpu_percent(0, 1000000,
                                                    50000, 100000),
                       0, EPS);
}


static void
test_cgroup_cpu_percent_edges(void **state)
{
    (void) state;

    assert_float_equal(ngx_astro_cgroup_cpu_percent(250000, 0,
                                                    50000, 100000),
                       0, EPS);
    assert_float_equal(ngx_astro_cgroup_cpu_percent(250000, 1000000,
                                                    0, 100000),
                       0, EPS);
    assert_float_equal(ngx_astro_cgroup_cpu_percent(250000, 1000000,
                                                    NGX_ASTRO_UNLIMITED,
                                                    100000),
                       0, EPS);
    assert_float_equal(ngx_astro_cgroup_cpu_percent(250000, 1000000,
                                                    50000, 0),
                       0, EPS);
}


static void
test_mem_percent(void **state)
{
    (void) state;

    assert_float_equal(ngx_astro_mem_percent(0, 100), 0, EPS);
    assert_float_equal(ngx_astro_mem_percent(50, 200), 25, EPS);
    assert_float_equal(ngx_astro_mem_percent(100, 100), 100, EPS);
    assert_float_equal(ngx_astro_mem_percent(1, 3), 100.0 / 3, 1e-9);

    /* more than the total is capped */
    assert_float_equal(ngx_astro_mem_percent(300, 100), 100, EPS);

    /* no total or no limit */
    assert_float_equal(ngx_astro_mem_percent(0, 0), 0, EPS);
    assert_float_equal(ngx_astro_mem_percent(50, 0), 0, EPS);
    assert_float_equal(ngx_astro_mem_percent(50, NGX_ASTRO_UNLIMITED), 0,
                       EPS);
}


static void
test_meminfo_to_percent(void **state)
{
    uint64_t  total, avail;

    (void) state;

    assert_int_equal(ngx_astro_parse_meminfo(
                         S("MemTotal: 1000 kB\nMemAvailable: 250 kB\n"),
                         &total, &avail), 0);
    assert_float_equal(ngx_astro_mem_percent(total - avail, total), 75, EPS);
}


/* the files of the machine the tests run on, when there are any */

static size_t
read_file(const char *name, char *buf, size_t size)
{
    size_t   n;
    FILE    *f;

    f = fopen(name, "r");
    if (f == NULL) {
        return 0;
    }

    n = fread(buf, 1, size, f);
    fclose(f);

    return n;
}


static void
test_real_proc(void **state)
{
    char      buf[65536];
    double    load[3];
    size_t    n;
    uint64_t  busy, total, mem, avail;

    (void) state;

    n = read_file("/proc/stat", buf, sizeof(buf));
    if (n == 0) {
        skip();
    }

    assert_int_equal(ngx_astro_parse_proc_stat(buf, n, &busy, &total), 0);
    assert_true(total > 0);
    assert_true(busy <= total);

    n = read_file("/proc/meminfo", buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(ngx_astro_parse_meminfo(buf, n, &mem, &avail), 0);
    assert_true(mem > 0);
    assert_true(avail <= mem);

    n = read_file("/proc/loadavg", buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(ngx_astro_parse_loadavg(buf, n, load), 0);
    assert_true(load[0] >= 0 && load[1] >= 0 && load[2] >= 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_proc_stat),
        cmocka_unit_test(test_proc_stat_short),
        cmocka_unit_test(test_proc_stat_not_first),
        cmocka_unit_test(test_proc_stat_garbage),
        cmocka_unit_test(test_proc_stat_len),
        cmocka_unit_test(test_proc_stat_wrap),
        cmocka_unit_test(test_meminfo_available),
        cmocka_unit_test(test_meminfo_old),
        cmocka_unit_test(test_meminfo_free_only),
        cmocka_unit_test(test_meminfo_over_total),
        cmocka_unit_test(test_meminfo_garbage),
        cmocka_unit_test(test_loadavg),
        cmocka_unit_test(test_loadavg_garbage),
        cmocka_unit_test(test_self_cgroup),
        cmocka_unit_test(test_self_cgroup_hybrid),
        cmocka_unit_test(test_self_cgroup_reject),
        cmocka_unit_test(test_cpu_max),
        cmocka_unit_test(test_cpu_max_garbage),
        cmocka_unit_test(test_cpu_stat),
        cmocka_unit_test(test_cpu_stat_garbage),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_u64_garbage),
        cmocka_unit_test(test_cpu_percent_delta),
        cmocka_unit_test(test_cpu_percent_fallback),
        cmocka_unit_test(test_cgroup_cpu_percent),
        cmocka_unit_test(test_cgroup_cpu_percent_edges),
        cmocka_unit_test(test_mem_percent),
        cmocka_unit_test(test_meminfo_to_percent),
        cmocka_unit_test(test_real_proc),
    };

    return cmocka_run_group_tests_name("sysinfo", tests, NULL, NULL);
}
