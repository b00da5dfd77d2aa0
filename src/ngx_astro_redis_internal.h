
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
#include "ngx_astro_redis_slot.h"


/*
 * What the files of the Redis client share.  Calls go one way, from the
 * top: _batch.c calls _circuit.c and _pool.c, _pool.c calls _adapter.c
 * and _resolve.c (which closes connections through _adapter.c),
 * every one calls _log.c; _status.c reads the zone, and _resolve.c's
 * part of it.  hiredis calls back _reply.c with a batch's reply, and
 * the file that made the connection.
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
#define NGX_ASTRO_REDIS_CMD_ASKING  4
#define NGX_ASTRO_REDIS_CMD_SLOTS   5

/* a cluster's servers a worker knows (masters and seeds), and slot runs
   a master shows in the status */
#define NGX_ASTRO_REDIS_NODES       32
#define NGX_ASTRO_REDIS_RANGES      8


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

    /* cluster=: the masters' */
    struct ngx_astro_redis_cluster_sh_s  *cluster;
};


/*
 * A cluster's server in the shared zone, found by its address: its
 * counts and circuit, the slots the last map read gave it.
 */

typedef struct {
    u_char                       addr[NGX_SOCKADDR_STRLEN];
    size_t                       len;
    ngx_astro_redis_sh_t        *sh;
    uint32_t                     slots;
    uint32_t                     nranges;   /* more: the last one "..." */
    uint16_t                     ranges[NGX_ASTRO_REDIS_RANGES][2];
} ngx_astro_redis_node_sh_t;


typedef struct ngx_astro_redis_cluster_sh_s {
    ngx_atomic_t                 maps;          /* CLUSTER SLOTS read */
    ngx_atomic_t                 map_failed;
    ngx_atomic_t                 moved;
    ngx_atomic_t                 ask;
    ngx_atomic_t                 tryagain;
    ngx_atomic_t                 clusterdown;
    ngx_atomic_t                 waited;        /* for the first map */
    ngx_atomic_t                 unmapped;      /* no master: fail policy */
    ngx_uint_t                   n;             /* under the mutex */
    ngx_astro_redis_node_sh_t    nodes[NGX_ASTRO_REDIS_NODES];
} ngx_astro_redis_cluster_sh_t;


/* a worker's view of the cluster: its servers and the slot map */

struct ngx_astro_redis_cluster_s {
    ngx_astro_redis_t           *client;    /* the cluster= one */
    ngx_astro_redis_cluster_sh_t *sh;
    ngx_astro_redis_t           *nodes[NGX_ASTRO_REDIS_NODES];
    ngx_astro_redis_node_sh_t   *shared[NGX_ASTRO_REDIS_NODES];
    ngx_uint_t                   n;
    ngx_uint_t                   next;      /* asked for the map next */
    ngx_uint_t                   tries;     /* in a row, no map */
    ngx_msec_t                   asked;     /* the last CLUSTER SLOTS */
    ngx_event_t                  refresh;   /* the next CLUSTER SLOTS */
    ngx_event_t                  wait;      /* for the first map */
    unsigned                     known:1;   /* a map was read */
    unsigned                     asking:1;  /* CLUSTER SLOTS in flight */
    unsigned                     again:1;   /* a MOVED meanwhile */
    u_char                       map[NGX_ASTRO_REDIS_SLOTS];
                                            /* node + 1, 0: none */
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
    ngx_uint_t                   slot;      /* cluster=: the key's */
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
    unsigned                     redirected:1;  /* after MOVED or ASK */
    unsigned                     asking:1;  /* ASKING ahead of it */
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
ngx_int_t ngx_astro_redis_internal(ngx_astro_redis_conn_t *conn,
    ngx_uint_t kind, int argc, const char **argv, const size_t *argvlen);
ngx_int_t ngx_astro_redis_send(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire, redisCallbackFn *fn, int argc,
    const char **argv, const size_t *argvlen);
redisReply *ngx_astro_redis_answered(ngx_astro_redis_wire_t *wire,
    redisReply *reply);
void ngx_astro_redis_kick(ngx_astro_redis_t *rd);
void ngx_astro_redis_flush(ngx_astro_redis_t *rd);

/* _batch.c: a decision made, queued for its batch */
ngx_astro_redis_cmd_t *ngx_astro_redis_cmd(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script, ngx_str_t *key, ngx_str_t *args,
    ngx_astro_redis_handler_pt handler, void *data);
void ngx_astro_redis_queue(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script, ngx_astro_redis_cmd_t *cmd);
ngx_int_t ngx_astro_redis_send_batch(ngx_astro_redis_conn_t *conn,
    ngx_astro_redis_wire_t *wire);

/* _reply.c: a batch's reply, its decisions answered or failed */
void ngx_astro_redis_reply(redisAsyncContext *ac, void *r, void *privdata);
void ngx_astro_redis_fail(ngx_astro_redis_t *rd, ngx_queue_t *cmds,
    ngx_uint_t sent);

/* _cluster.c: the client of cluster= and its masters */
ngx_int_t ngx_astro_redis_cluster_init_worker(ngx_cycle_t *cycle,
    ngx_astro_redis_t *rd);
void ngx_astro_redis_cluster_exit_worker(ngx_astro_redis_t *rd);
ngx_astro_redis_cmd_t *ngx_astro_redis_cluster_eval(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script, ngx_str_t *key, ngx_str_t *args,
    ngx_astro_redis_handler_pt handler, void *data);
ngx_astro_redis_t *ngx_astro_redis_cluster_redirect(ngx_astro_redis_t *rd,
    redisReply *reply, ngx_uint_t *ask);
void ngx_astro_redis_cluster_failed(ngx_astro_redis_t *rd);
ngx_uint_t ngx_astro_redis_cluster_refused(ngx_astro_redis_t *rd,
    redisReply *reply);

/* _cluster_map.c: the worker's slot map */
void ngx_astro_redis_cluster_map_init(ngx_astro_redis_cluster_t *cl,
    ngx_log_t *log);
void ngx_astro_redis_cluster_ask_map(ngx_astro_redis_cluster_t *cl);
void ngx_astro_redis_cluster_stale(ngx_astro_redis_cluster_t *cl);
void ngx_astro_redis_cluster_wait(ngx_astro_redis_cluster_t *cl);

/* _cluster_node.c: the worker's servers of the cluster */
ngx_int_t ngx_astro_redis_cluster_node(ngx_astro_redis_cluster_t *cl,
    u_char *host, size_t len, ngx_uint_t port);
ngx_astro_redis_script_t *ngx_astro_redis_cluster_script(
    ngx_astro_redis_t *from, ngx_astro_redis_script_t *script,
    ngx_astro_redis_t *to);

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
