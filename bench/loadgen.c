/*
 * bench/loadgen.c: a small HTTP/1.1 load generator for bench/run.sh.
 *
 * wrk is closed-loop: each connection sends its next request when the
 * previous answer arrives, so a slow answer delays the requests behind it
 * and they are never counted as late (coordinated omission), and the load
 * cannot be set. This one is open-loop: requests are due on a fixed
 * schedule, request i at start + i / rate, whatever the server does. A due
 * request goes out on a free keep-alive connection at once; when all of
 * them are busy it waits for one. Its latency is counted from the time it
 * was due, not from the time it was written, so waiting for a connection
 * counts too (as wrk2 does).
 *
 *   loadgen -p PORT [-a ADDR] [-P PATH] [-c CONNS] [-d SECONDS]
 *           [-w WARMUP] [-r RATE] [-u USERS] [-s SEED]
 *
 *   -r RATE   requests a second, in total; 0: closed loop, every
 *             connection sends its next request as soon as the answer
 *             has come (the peak, as wrk measures it)
 *   -P PATH   the path; "?u=N" is appended, N from 1 to USERS at random
 *             for each request (-u 0: nothing appended)
 *   -w WARMUP seconds of load before the measurement (not counted)
 *
 * It prints one line of key=value pairs:
 *
 *   rate        the rate asked for (0: closed loop)
 *   duration    the measured seconds
 *   requests    answers received in the measurement (200 or not)
 *   sent        requests written in warmup, measurement and drain
 *   answered    answers received in warmup, measurement and drain: after
 *               the end nothing new is sent and the answers to the
 *               requests in flight are awaited (up to 2 s), so that
 *               "answered" is every request the server decided
 *   rps         requests / duration
 *   non2xx      answers other than 2xx
 *   errors      connections that failed (connect, read, write, closed)
 *   late        requests written 1 ms or more after they were due
 *   p50_us ...  the latency percentiles (p50, p90, p99, p999, max), in
 *               microseconds, from the time the request was due (in the
 *               closed loop: from the time it was written)
 *   svc_p50_us, svc_p99_us   the same from the time it was written
 *
 * The exit status is 0, or 1 on bad arguments and when nothing could be
 * measured. It only connects to the address given (127.0.0.1 by
 * default) and stops by itself.
 *
 * Build: cc -O2 -o build/loadgen bench/loadgen.c (bench/latency.sh does).
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>


#define MAX_CONNS     4096
#define RBUF_SIZE     16384
#define DRAIN_NS      (2 * 1000000000LL)
#define LATE_NS       1000000LL


typedef struct {
    int         fd;
    int         busy;         /* a request is out */
    int64_t     due;          /* when the request out was due, ns */
    int64_t     sent;         /* when it was written */
    int         measured;     /* sent within the measurement */
    char        rbuf[RBUF_SIZE];
    size_t      rlen;
} conn_t;


static struct sockaddr_in  addr;
static const char   *path = "/";
static int           nconns = 32;
static double        duration = 5, warmup = 0, rate = 0;
static int           users = 10000;
static uint64_t      rng = 88172645463325252ULL;

static conn_t       *conns;
static int           epfd, tfd;
static int          *idle;        /* the free connections, a stack */
static int           nidle;

static uint32_t     *lat, *svc;   /* latencies of the measurement, ns */
static size_t        nlat, lat_cap;

static uint64_t      sent, answered, requests, non2xx, errors, late;
static int64_t       t_start, t_measure, t_end;


static int64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}


static uint64_t
xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}


static void
die(const char *msg)
{
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(1);
}


static int
conn_open(int i)
{
    int                 fd, one = 1;
    struct epoll_event  ev;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    /* loopback: the connect completes at once or fails */
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == -1
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.u32 = (uint32_t) i;

    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        close(fd);
        return -1;
    }

    conns[i].fd = fd;
    conns[i].busy = 0;
    conns[i].rlen = 0;

    return 0;
}


/* a failed connection: the request on it is lost; it is opened again */

static void
conn_fail(int i)
{
    conn_t  *c = &conns[i];

    errors++;

    if (c->fd != -1) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }

    if (conn_open(i) == 0) {
        idle[nidle++] = i;
    }
}


/* a connection that failed while waiting: out of the idle stack first */

static void
conn_drop(int i)
{
    int  k;

    if (conns[i].busy) {
        conns[i].busy = 0;

    } else {
        for (k = 0; k < nidle; k++) {
            if (idle[k] == i) {
                idle[k] = idle[--nidle];
                break;
            }
        }
    }

    conn_fail(i);
}


static void
record(int64_t due, int64_t sent_at, int64_t now)
{
    int64_t  l, s;

    if (nlat == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 1 << 20;
        lat = realloc(lat, lat_cap * sizeof(uint32_t));
        svc = realloc(svc, lat_cap * sizeof(uint32_t));
        if (lat == NULL || svc == NULL) {
            die("out of memory");
        }
    }

    l = now - due;
    s = now - sent_at;
    lat[nlat] = l > UINT32_MAX ? UINT32_MAX : (uint32_t) l;
    svc[nlat] = s > UINT32_MAX ? UINT32_MAX : (uint32_t) s;
    nlat++;
}


static int
conn_send(int i, int64_t due, int64_t now)
{
    int       n;
    char      req[512];
    conn_t   *c = &conns[i];
    ssize_t   w;

    if (users > 0) {
        n = snprintf(req, sizeof(req),
                     "GET %s?u=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                     path, (int) (xorshift() % (uint64_t) users) + 1);
    } else {
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    }

    /* a short request on an idle loopback connection is written whole */
    w = write(c->fd, req, (size_t) n);
    if (w != n) {
        return -1;
    }

    c->busy = 1;
    c->due = due;
    c->sent = now;
    c->measured = (due >= t_measure && due < t_end);
    sent++;

    if (c->measured && now - due >= LATE_NS) {
        late++;
    }

    return 0;
}


/*
 * Parses the answers in the connection's buffer: the status line, the
 * headers up to the blank line and Content-Length bytes of body. Returns
 * the number of complete answers, -1 on a malformed one.
 */

static int
conn_parse(int i, int64_t now)
{
    int       done = 0, status;
    char     *p, *end, *hdr_end, *h;
    size_t    clen, total;
    conn_t   *c = &conns[i];

    for ( ;; ) {
        p = c->rbuf;
        end = c->rbuf + c->rlen;

        hdr_end = memmem(p, c->rlen, "\r\n\r\n", 4);
        if (hdr_end == NULL) {
            return c->rlen == RBUF_SIZE ? -1 : done;
        }

        if (c->rlen < 12 || memcmp(p, "HTTP/1.", 7) != 0) {
            return -1;
        }

        status = atoi(p + 9);
        clen = 0;

        for (h = memchr(p, '\n', (size_t) (hdr_end - p));
             h && h < hdr_end;
             h = memchr(h, '\n', (size_t) (hdr_end - h)))
        {
            h++;
            if (hdr_end - h > 15
                && strncasecmp(h, "Content-Length:", 15) == 0)
            {
                clen = strtoul(h + 15, NULL, 10);
            }
        }

        total = (size_t) (hdr_end + 4 - p) + clen;
        if (total > RBUF_SIZE) {
            return -1;
        }

        if ((size_t) (end - p) < total) {
            return done;
        }

        if (!c->busy) {
            return -1;   /* an answer to nothing */
        }

        answered++;

        if (c->measured) {
            requests++;
            if (status < 200 || status > 299) {
                non2xx++;
            }
            record(c->due, c->sent, now);
        }

        c->busy = 0;
        done++;

        memmove(c->rbuf, c->rbuf + total, c->rlen - total);
        c->rlen -= total;
    }
}


static void
arm_timer(int64_t at)
{
    struct itimerspec  its;

    memset(&its, 0, sizeof(its));
    if (at > 0) {
        its.it_value.tv_sec = at / 1000000000LL;
        its.it_value.tv_nsec = at % 1000000000LL;
    }

    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}


static int
cmp_u32(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}


static double
pct(uint32_t *v, size_t n, double q)
{
    size_t  k;

    if (n == 0) {
        return 0;
    }

    k = (size_t) (q * (double) n);
    if (k >= n) {
        k = n - 1;
    }

    return v[k] / 1000.0;
}


static void
usage(void)
{
    fprintf(stderr,
            "usage: loadgen -p PORT [-a ADDR] [-P PATH] [-c CONNS] "
            "[-d SECONDS] [-w WARMUP] [-r RATE] [-u USERS] [-s SEED]\n");
    exit(1);
}


int
main(int argc, char **argv)
{
    int                 opt, i, n, port = 0;
    char               *ip = "127.0.0.1";
    double              period_ns = 0;
    int64_t             now, next_due, drain_end, wake_at, armed_at = -1;
    uint64_t            seq = 0;
    struct epoll_event  evs[256], ev;

    while ((opt = getopt(argc, argv, "a:p:P:c:d:w:r:u:s:")) != -1) {
        switch (opt) {
        case 'a': ip = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'P': path = optarg; break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'u': users = atoi(optarg); break;
        case 's': rng = strtoull(optarg, NULL, 10) | 1; break;
        default: usage();
        }
    }

    if (port <= 0 || port > 65535 || nconns < 1 || nconns > MAX_CONNS
        || duration <= 0 || warmup < 0 || rate < 0 || users < 0
        || path[0] != '/' || strlen(path) > 256)
    {
        usage();
    }

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        usage();
    }

    /* timers fire when asked, not up to 50 us later */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd == -1 || tfd == -1) {
        die("epoll or timerfd");
    }

    ev.events = EPOLLIN;
    ev.data.u32 = UINT32_MAX;
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);

    conns = calloc((size_t) nconns, sizeof(conn_t));
    idle = calloc((size_t) nconns, sizeof(int));
    if (conns == NULL || idle == NULL) {
        die("out of memory");
    }

    for (i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        if (conn_open(i) != 0) {
            die("cannot connect");
        }
        idle[nidle++] = nconns - 1 - i;
    }

    if (rate > 0) {
        period_ns = 1e9 / rate;
    }

    t_start = now_ns();
    t_measure = t_start + (int64_t) (warmup * 1e9);
    t_end = t_measure + (int64_t) (duration * 1e9);
    drain_end = t_end + DRAIN_NS;
    next_due = t_start;

    for ( ;; ) {
        now = now_ns();

        /* send what is due (closed loop: always due) on free connections */

        if (now < t_end) {
            while (nidle > 0) {
                if (rate > 0) {
                    if (next_due > now) {
                        break;
                    }
                } else {
                    next_due = now;
                }

                i = idle[--nidle];

                if (conn_send(i, next_due, now) != 0) {
                    conn_fail(i);
                    continue;
                }

                seq++;
                if (rate > 0) {
                    next_due = t_start + (int64_t) ((double) seq * period_ns);
                }
            }
        }

        if (now >= t_end) {
            if (nidle == nconns || now >= drain_end) {
                break;
            }
        }

        /*
         * Wake for the next due request, unless it waits for a connection
         * anyway (then an answer wakes us), or for the end.
         */

        if (now >= t_end) {
            wake_at = drain_end;

        } else if (rate > 0 && nidle > 0) {
            wake_at = next_due < t_end ? next_due : t_end;

        } else {
            wake_at = t_end;
        }

        if (wake_at != armed_at) {
            arm_timer(wake_at);
            armed_at = wake_at;
        }

        n = epoll_wait(epfd, evs, 256, -1);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            die("epoll_wait");
        }

        now = now_ns();

        for (int k = 0; k < n; k++) {
            uint32_t  id = evs[k].data.u32;
            conn_t   *c;
            ssize_t   r;
            int       got;

            if (id == UINT32_MAX) {
                uint64_t  expirations;

                if (read(tfd, &expirations, sizeof(expirations)) < 0) {
                    /* nothing: the timer was re-armed meanwhile */
                }
                armed_at = -1;
                continue;
            }

            c = &conns[id];

            r = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
            if (r <= 0) {
                if (r == -1 && (errno == EAGAIN || errno == EINTR)) {
                    continue;
                }
                conn_drop((int) id);
                continue;
            }

            c->rlen += (size_t) r;

            got = conn_parse((int) id, now);
            if (got < 0) {
                conn_drop((int) id);
                continue;
            }

            if (got > 0 && !c->busy) {
                idle[nidle++] = (int) id;
            }
        }
    }

    for (i = 0; i < nconns; i++) {
        if (conns[i].fd != -1) {
            close(conns[i].fd);
        }
    }

    if (nlat == 0) {
        fprintf(stderr, "loadgen: no answers measured\n");
        return 1;
    }

    qsort(lat, nlat, sizeof(uint32_t), cmp_u32);
    qsort(svc, nlat, sizeof(uint32_t), cmp_u32);

    printf("rate=%.0f duration=%.2f requests=%llu sent=%llu answered=%llu "
           "rps=%.0f non2xx=%llu errors=%llu late=%llu "
           "p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f "
           "svc_p50_us=%.0f svc_p99_us=%.0f\n",
           rate, duration, (unsigned long long) requests,
           (unsigned long long) sent, (unsigned long long) answered,
           (double) requests / duration,
           (unsigned long long) non2xx, (unsigned long long) errors,
           (unsigned long long) late,
           pct(lat, nlat, 0.50), pct(lat, nlat, 0.90), pct(lat, nlat, 0.99),
           pct(lat, nlat, 0.999), lat[nlat - 1] / 1000.0,
           pct(svc, nlat, 0.50), pct(svc, nlat, 0.99));

    return 0;
}
