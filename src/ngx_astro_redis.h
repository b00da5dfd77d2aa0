
/*
 * Copyright (C) astro developers
 */


#ifndef _NGX_ASTRO_REDIS_H_INCLUDED_
#define _NGX_ASTRO_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_astro_circuit.h"
#include "ngx_astro_out.h"


/*
 * A Redis client on nginx's event loop: hiredis's asynchronous API with
 * an adapter that maps its read/write/cleanup hooks to nginx events.
 * hiredis 0.14 has no timer hook, so the connect and command deadlines
 * are nginx timers kept here, one per connection, armed for the oldest
 * command: replies come in order, so a connection whose oldest command is
 * late is closed and every command on it fails at once.
 *
 * Each worker keeps "pool" connections to one server and pipelines the
 * commands of concurrent requests on them; AUTH, SELECT and SCRIPT LOAD
 * are pipelined ahead of the first command of a new connection.  A
 * connection that fails is reconnected on demand after a backoff.
 *
 * A circuit breaker shared by the workers (ngx_astro_circuit): after
 * max_fails consecutive failed commands it opens for "backoff", doubling
 * up to max_backoff; then one command probes.  While it is open
 * ngx_astro_redis_eval() answers NULL at once: no request waits on Redis.
 * It lives with the counts in a zone of the directive and the address:
 * a reload to another address starts afresh.
 *
 * hiredis 0.14 aborts on a reply that no command waits for: such replies
 * and data close the connection as a protocol error before it sees them.
 *
 * A Redis Cluster (cluster=, "seeds"): the client reads the slot map
 * with CLUSTER SLOTS and keeps, in each worker, a client of its own for
 * each master (its pool, its circuit in the shared zone); a decision
 * goes to the master of its key's slot, and a call carries keys of one
 * slot only (ngx_astro_redis_cluster*.c).  The callers see one client.
 *
 * The files, from the bottom up: _log.c (errors counted and logged),
 * _adapter.c (hiredis on nginx events), _pool.c (the connections),
 * _resolve.c (a host name asked again after a failure),
 * _circuit.c, _batch.c (the commands of the requests, init_worker),
 * _reply.c (a batch's reply),
 * _sub.c (a subscription to a channel, on a connection of its own),
 * _cluster_node.c (a cluster's servers), _cluster_map.c (its slot map),
 * _cluster.c (a decision to its master), _conf.c (configuration, the
 * shared zone), _status.c (JSON, Prometheus); _slot.c is pure: a key's
 * slot.
 */


/* the kinds of errors counted and logged */
#define NGX_ASTRO_REDIS_ERR_CONNECT   0
#define NGX_ASTRO_REDIS_ERR_TIMEOUT   1
#define NGX_ASTRO_REDIS_ERR_AUTH      2
#define NGX_ASTRO_REDIS_ERR_PROTOCOL  3
#define NGX_ASTRO_REDIS_ERR_REPLY     4
#define NGX_ASTRO_REDIS_ERR_CLOSED    5
#define NGX_ASTRO_REDIS_ERR_N         6


typedef struct ngx_astro_redis_conn_s  ngx_astro_redis_conn_t;
typedef struct ngx_astro_redis_cmd_s   ngx_astro_redis_cmd_t;
typedef struct ngx_astro_redis_sh_s    ngx_astro_redis_sh_t;
typedef struct ngx_astro_redis_sub_s   ngx_astro_redis_sub_t;
typedef struct ngx_astro_redis_cluster_s  ngx_astro_redis_cluster_t;


/*
 * The answer to a command: reply NULL when it failed (the failure is
 * already counted and logged).  A handler that finds a reply it cannot
 * use returns NGX_ERROR: it is counted as a protocol error.
 */
typedef ngx_int_t (*ngx_astro_redis_handler_pt)(void *data,
    redisReply *reply);


/*
 * A script's decisions of one turn of the event loop go out as one call;
 * while a call of the script is in flight, fewer than a batch wait for
 * its reply, so that under load a call carries more of them, but not
 * longer than "hold" after it left: a slow or lost reply does not keep
 * them from another connection.
 */
#define NGX_ASTRO_REDIS_BATCH     32

/* the most arguments a key has, and integers a reply to a key */
#define NGX_ASTRO_REDIS_ARGS   3
#define NGX_ASTRO_REDIS_REPLY  4


/*
 * A script that decides n keys in one call: EVALSHA sha n key... then the
 * keys' arguments in runs, each the number of keys in a row that have
 * the same nargs arguments and those arguments; it answers nhead integers
 * for the call, then nreply integers a key (nargs at most
 * NGX_ASTRO_REDIS_ARGS, nhead + nreply at most NGX_ASTRO_REDIS_REPLY).
 */

typedef struct {
    ngx_str_t                    body;
    u_char                       sha1[40];  /* lowercase hex */
    ngx_uint_t                   nargs;
    ngx_uint_t                   nhead;
    ngx_uint_t                   nreply;
    ngx_queue_t                  pending;   /* a worker's, to be sent */
    ngx_uint_t                   inflight;  /* the worker's calls out */
    ngx_msec_t                   sent;      /* when the last one left */
} ngx_astro_redis_script_t;


typedef struct {
    /* configuration */
    ngx_str_t                    name;          /* as written, for logs */
    ngx_str_t                    tag;           /* the directive */
    ngx_addr_t                  *addr;
    ngx_array_t                 *seeds;     /* cluster=: ngx_addr_t */
    ngx_str_t                    user;
    ngx_str_t                    password;
    ngx_uint_t                   db;
    ngx_uint_t                   pool;
    ngx_msec_t                   connect_timeout;
    ngx_msec_t                   hold_time;
    ngx_msec_t                   timeout;
    ngx_array_t                  scripts;    /* ngx_astro_redis_script_t * */
    ngx_astro_circuit_conf_t     circuit;    /* failures: max_fails,
                                                open: backoff,
                                                max_open: max_backoff */

    ngx_shm_zone_t              *shm_zone;
    ngx_astro_redis_sh_t        *sh;
    ngx_slab_pool_t             *shpool;

    /* a worker's */
    ngx_astro_redis_cluster_t   *cluster;  /* the slot map and masters, of
                                              the client and each master */
    ngx_astro_redis_conn_t      *conns;
    ngx_log_t                   *log;
    ngx_event_t                  batch;    /* posted: the batches go out */
    ngx_event_t                  hold;     /* held decisions' deadline */
    const char                 **argv;     /* of a batch's command */
    size_t                      *argvlen;
    ngx_uint_t                   exiting;  /* unsigned  exiting:1; */
    time_t                       logged[NGX_ASTRO_REDIS_ERR_N];
    ngx_uint_t                   suppressed[NGX_ASTRO_REDIS_ERR_N];
    char                         host[NGX_SOCKADDR_STRLEN + 1];
    int                          port;

    /* a host name, asked again after a failure (_resolve.c) */
    ngx_str_t                    resolve_name;  /* empty: an address */
    ngx_resolver_ctx_t          *resolving;     /* a worker's question */
    ngx_event_t                  follow;        /* the pool moves */
} ngx_astro_redis_t;


/*
 * Configuration: the caller resolves the address (never in a worker) and
 * sets the fields it has read; init_conf sets the others' defaults and
 * adds the shared zone.
 */
ngx_astro_redis_t *ngx_astro_redis_create(ngx_conf_t *cf, ngx_str_t *tag);
ngx_int_t ngx_astro_redis_init_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd);
/* one server's host:port or unix:path, resolved; its error names the
   directive being read */
ngx_int_t ngx_astro_redis_parse_url(ngx_conf_t *cf, ngx_str_t *url,
    ngx_url_t *u);
/* cluster=host:port[,host:port...]: the seeds, resolved; logs its error */
ngx_int_t ngx_astro_redis_cluster_conf(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_str_t *value);
/* the script's body and shape set; its SHA1 is computed here */
ngx_int_t ngx_astro_redis_add_script(ngx_conf_t *cf, ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script);

/* init_process, exit_process */
ngx_int_t ngx_astro_redis_init_worker(ngx_cycle_t *cycle,
    ngx_astro_redis_t *rd);
void ngx_astro_redis_exit_worker(ngx_astro_redis_t *rd);

/*
 * A decision of the script for the key, with its script->nargs arguments
 * (copied), sent with the others of this turn of the event loop as one
 * EVALSHA (EVAL when Redis lost the script: NOSCRIPT).  The handler gets
 * the call's nhead integers and the key's nreply as an array.  NULL when
 * nothing will be sent: the circuit is open; the caller decides without
 * Redis, without waiting.
 */
ngx_astro_redis_cmd_t *ngx_astro_redis_eval(ngx_astro_redis_t *rd,
    ngx_astro_redis_script_t *script, ngx_str_t *key, ngx_str_t *args,
    ngx_astro_redis_handler_pt handler, void *data);

/* the requester is gone: its handler will not be called */
void ngx_astro_redis_cancel(ngx_astro_redis_cmd_t *cmd);

/*
 * A subscription to a channel on a connection of its own (no command
 * deadline, no circuit), made again after a backoff when it is lost: the
 * handler hears SUBSCRIBED each time it is made (what was published
 * meanwhile is lost: the caller reads again what it keeps), MESSAGE with
 * each message (valid during the call), LOST when one made is lost.  A
 * worker's, after ngx_astro_redis_init_worker(); closed by unsubscribe,
 * which the handler may call.
 */

#define NGX_ASTRO_REDIS_SUB_SUBSCRIBED  0
#define NGX_ASTRO_REDIS_SUB_MESSAGE     1
#define NGX_ASTRO_REDIS_SUB_LOST        2

typedef void (*ngx_astro_redis_sub_handler_pt)(void *data, ngx_uint_t event,
    ngx_str_t *message);

ngx_astro_redis_sub_t *ngx_astro_redis_subscribe(ngx_astro_redis_t *rd,
    ngx_str_t *channel, ngx_astro_redis_sub_handler_pt handler, void *data);
void ngx_astro_redis_unsubscribe(ngx_astro_redis_sub_t *sub);

void ngx_astro_redis_json(ngx_astro_out_t *out, ngx_astro_redis_t *rd);
void ngx_astro_redis_prometheus(ngx_astro_out_t *out, ngx_astro_redis_t *rd,
    const char *prefix);


#endif /* _NGX_ASTRO_REDIS_H_INCLUDED_ */
