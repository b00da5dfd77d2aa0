
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_REDIS_INTERNAL_H_INCLUDED_
#define _NGX_ASTRO_REDIS_INTERNAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_astro_circuit.h"
#include "ngx_astro_hist.h"
#include "ngx_astro_procs.h"
#include "ngx_astro_socket.h"
#include "ngx_astro_redis.h"


/*
 * What the files of the Redis client share.  Calls go one way, from the
 * top: _batch.c calls _circuit.c and _pool.c, _pool.c calls _adapter.c
 * and _resolve.c (which closes connections through _adapter.c),
 * every one calls _log.c; _status.c reads the zone, and _resolve.c's
 * part of it.  hiredis calls back the file that sent a command (a reply)
 * or made the connection.
 */


/* a connection's state */
#define NGX_ASTRO_REDIS_IDLE        0
#define NGX_ASTRO_REDIS_CONNECTING  1
#define NGX_ASTRO_REDIS_READY       2

/* the kinds of commands on the wire; setup's are pipelined ahead */
#define NGX_ASTRO_REDIS_CMD_USER    0
#define NGX_ASTRO_REDIS_CMD_AUTH    1
#define NGX_ASTRO_REDIS_CMD_SELECT  2
#define NGX_ASTRO_REDIS_CMD_LOAD    3


/*
 * A process's gauges, by its slot, written only by it: given back when
 * it is gone (ngx_astro_redis_conf.c), summed when read.
 */

typedef struct {
    uint32_t                     connections;   /* connected */
    uint32_t                     in_flight;     /* decisions */
} ngx_astro_redis_share_t;


/* shared by the workers; counted without the lock */

struct ngx_astro_redis_sh_s {
    ngx_atomic_t                 rtt[NGX_ASTRO_HIST_N];  /* 10 us units */
    ngx_atomic_t                 rtt_us;        /* the sum */
    ngx_atomic_t                 commands;      /* answered */
    ngx_atomic_t                 failed;        /* commands that failed */
    ngx_atomic_t                 skipped;       /* not sent: no Redis */
    ngx_atomic_t                 errors[NGX_ASTRO_REDIS_ERR_N];
    ngx_atomic_t                 noscript;
    ngx_atomic_t                 fails;         /* since the last answer */

    /* changed under the zone's mutex, its state read without it */
    ngx_astro_circuit_t          circuit;

    /* the processes that use the zone, of any configuration */
    ngx_astro_procs_t            procs;
    ngx_astro_redis_share_t      shares[NGX_MAX_PROCESSES];

    /* a host name asked again (_resolve.c) */
    ngx_atomic_t                 resolved;      /* answered */
    ngx_atomic_t                 resolve_failed;
    ngx_atomic_t                 moved;         /* to another address */
};


struct ngx_astro_redis_conn_s {
    ngx_astro_redis_t           *redis;
    redisAsyncContext           *ac;
    ngx_connection_t            *c;         /* the nginx side of ac's fd */
    ngx_event_t                  timer;     /* connect and command deadline */
    ngx_event_t                  flush;     /* writes at the loop's end */
    ngx_queue_t                  cmds;      /* sent, in the order of replies */
    ngx_uint_t                   ncmds;
    ngx_uint_t                   state;
    ngx_msec_t                   connect_deadline;
    ngx_msec_t                   retry;     /* no connect before */
    ngx_msec_t                   backoff;
    ngx_int_t                    reason;    /* why it is being closed */
    ngx_uint_t                   writing;   /* unsigned  writing:1; */
    u_char                       err[128];
};


/* a decision: one key of a script, waiting to go out, then on the wire */

struct ngx_astro_redis_cmd_s {
    ngx_queue_t                  queue;     /* the script's, the wire's */
    ngx_astro_redis_handler_pt   handler;   /* NULL: cancelled */
    void                        *data;
    ngx_msec_t                   deadline;
    ngx_uint_t                   probe;     /* unsigned  probe:1; */
    ngx_str_t                    argv[NGX_ASTRO_REDIS_ARGS + 1];
                                            /* the key, the arguments */
};


/* a command on the wire: a batch of decisions, or a setup command */

typedef struct {
    ngx_queue_t                  queue;     /* the connection's, in order */
    ngx_astro_redis_conn_t      *conn;
    ngx_astro_redis_script_t    *script;
    ngx_queue_t                  cmds;      /* the decisions */
    ngx_uint_t                   n;
    ngx_uint_t                   kind;
    ngx_msec_t                   deadline;
    uint64_t                     start;     /* us, for the round trip */
    unsigned                     probe:1;
    unsigned                     retried:1;
    unsigned                     capped:1;  /* deadline: its oldest's */
} ngx_astro_redis_wire_t;


/* _log.c: counted always, logged at most once a second per kind */
void ngx_astro_redis_error(ngx_astro_redis_t *rd, ngx_uint_t kind,
    const char *fmt, ...);
extern const char  *ngx_astro_redis_error_names[];

/* _adapter.c: the nginx side of a hiredis context */
redisAsyncContext *ngx_astro_redis_open(ngx_astro_redis_conn_t *conn,
    const char *what);
ngx_int_t ngx_astro_redis_attach(ngx_astro_redis_conn_t *conn,
    redisAsyncContext *ac);
void ngx_astro_redis_detach(ngx_astro_redis_conn_t *conn);
void ngx_astro_redis_close(ngx_astro_redis_conn_t *conn, ngx_int_t reason,
    const char *err);
ngx_uint_t ngx_astro_redis_reason(ngx_astro_redis_conn_t *conn);
void ngx_astro_redis_write(ngx_astro_redis_conn_t *conn);
ngx_uint_t ngx_astro_redis_unasked(ngx_astro_redis_conn_t *conn);

/* _pool.c: the worker's connections */
ngx_int_t ngx_astro_redis_pool_init(ngx_cycle_t *cycle,
    ngx_astro_redis_t *rd);
void ngx_astro_redis_pool_close(ngx_astro_redis_t *rd);
ngx_astro_redis_conn_t *ngx_astro_redis_pick(ngx_astro_redis_t *rd);
int ngx_astro_redis_setup_argv(ngx_astro_redis_t *rd, ngx_uint_t kind,
    const char **argv, size_t *argvlen, u_char *db);
ngx_int_t ngx_astro_redis_send(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, redisCallbackFn *fn, int argc,
    const char **argv, const size_t *argvlen);
redisReply *ngx_astro_redis_answered(ngx_astro_redis_wire_t *wire,
    redisReply *reply);
void ngx_astro_redis_kick(ngx_astro_redis_t *rd);
void ngx_astro_redis_flush(ngx_astro_redis_t *rd);

/* _conf.c: the processes that use the zone, their gauges */
ngx_int_t ngx_astro_redis_register(ngx_astro_redis_t *rd);
void ngx_astro_redis_unregister(ngx_astro_redis_t *rd);
void ngx_astro_redis_gauges(ngx_astro_redis_t *rd, ngx_uint_t *connections,
    ngx_uint_t *in_flight);

/* _resolve.c: a host name asked again of the http{} resolver, its status */
void ngx_astro_redis_resolve_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd);
void ngx_astro_redis_resolve(ngx_astro_redis_conn_t *conn);
void ngx_astro_redis_resolve_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd);
void ngx_astro_redis_resolve_prometheus(ngx_astro_out_t *out,
    ngx_astro_redis_t *rd, const char *prefix);

/* a process's own gauges */
#define ngx_astro_redis_share(rd)  (&(rd)->sh->shares[ngx_process_slot])

/* _circuit.c: the zone's ngx_astro_circuit, for the commands */
ngx_int_t ngx_astro_redis_allow(ngx_astro_redis_t *rd, ngx_uint_t *probe);
void ngx_astro_redis_release(ngx_astro_redis_t *rd);
void ngx_astro_redis_succeeded(ngx_astro_redis_t *rd, ngx_uint_t probe);
void ngx_astro_redis_failed(ngx_astro_redis_t *rd, ngx_uint_t n,
    ngx_uint_t probe);


/* a command's round trip: the microseconds of the monotonic clock */

static ngx_inline uint64_t
ngx_astro_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


#endif /* _NGX_ASTRO_REDIS_INTERNAL_H_INCLUDED_ */
