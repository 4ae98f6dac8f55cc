/*
 * epochregd internals shared by its files. One event loop thread owns every
 * socket and every evhttp object; store work runs on worker threads (work.c)
 * that hand finished jobs back through an event; replies go out from the
 * loop thread only.
 *
 *   main.c     options, start-up, signals, the evhttp handler, shutdown
 *   conn.c     connections: head guard (fe_head), deadlines, cap, eviction
 *   work.c     jobs, the worker pool with group commit, the store prober
 *   metrics.c  Prometheus counters and histograms
 *   log.c      JSON or text log lines, reopened on SIGHUP
 */
#ifndef EPOCHREGD_DAEMON_H
#define EPOCHREGD_DAEMON_H

#include "fe_head.h"
#include "fe_http.h"

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define D_LISTEN_MAX 16
#define D_PROXIES_MAX 32

/* ---- configuration (main.c) ---- */

typedef struct d_listen {
    char host[256];
    char port[8];
    int tls;
} d_listen;

typedef struct d_config {
    d_listen listens[D_LISTEN_MAX];
    size_t listen_count;
    const char *tls_cert, *tls_key;
    const char *ports_file, *pidfile;
    char db[8193];
    int migrate;
    unsigned workers; /* 0: by backend */
    unsigned batch_max;
    double store_timeout;
    const char *node;
    size_t body_max;
    unsigned max_connections;
    double head_timeout, body_timeout, idle_timeout;
    const char *trusted[D_PROXIES_MAX];
    size_t trusted_count;
    const char *token_file;
    fe_auth_scope auth_scope;
    const char *drain_file;
    int log_json;
    const char *log_file;
} d_config;

/* ---- log.c ---- */

typedef enum d_level { D_INFO, D_WARN, D_ERROR } d_level;

int d_log_open(const char *path, int json);
void d_log_reopen(void);
void d_log_flush(void);
void d_log_close(void);
/* A log line: msg plus key/value pairs given as a jansson object (stolen;
 * NULL for none). Thread-safe. */
void d_log(d_level level, const char *msg, json_t *fields);
/* The access log line of one request (no jansson: the hot path). */
void d_log_access(const char *request_id, const char *method, const char *route,
                  int status, double latency_ms, size_t batch, const char *client_ip);

/* ---- metrics.c ---- */

void d_metrics_request(fe_route route, int status, double seconds);
void d_metrics_batch(size_t size);
void d_metrics_store_error(void);
/* Renders the exposition text; the caller frees it. */
char *d_metrics_render(size_t *len, long open_connections, int store_up);

/* ---- conn.c ---- */

typedef struct d_conn d_conn;
typedef struct d_server d_server;

/* Connection-layer setup for one evhttp (plain or TLS). */
int d_conn_setup(d_server *srv, struct evhttp *http, SSL_CTX *tls);
/* Starts the periodic sweep and sizes the fd table; 0 or -1. */
int d_conn_init(d_server *srv);
void d_conn_shutdown(d_server *srv);
/* The connection a request arrived on (NULL if unknown). */
d_conn *d_conn_of(d_server *srv, struct evhttp_request *req);
/* Request bookkeeping: dispatched (busy) and replied (maybe idle). */
void d_conn_request_begin(d_server *srv, d_conn *c);
void d_conn_request_end(d_server *srv, d_conn *c);
/* 1 when this request is the stand-in for a refused head; fills status etc. */
int d_conn_rejected(d_conn *c, int *status, const char **code, const char **message);
/* Closes every connection with no request under way (idle, or a head not
 * yet complete): used while stopping. */
void d_conn_close_unstarted(d_server *srv);
long d_conn_open_count(const d_server *srv);

/* ---- work.c ---- */

typedef struct d_job d_job;
typedef struct d_pool d_pool;

struct d_job {
    d_job *next;            /* queue / done list */
    d_job *prev_f, *next_f; /* the loop's in-flight list */
    fe_op op;
    fe_response resp;
    struct evhttp_request *req; /* loop thread only */
    d_conn *conn;
    double start;  /* monotonic seconds */
    int state;     /* D_JOB_* (under the pool lock) */
    int abandoned; /* answered by the deadline (under the pool lock) */
    size_t batch;  /* registrations: the size of its transaction */
};

enum { D_JOB_QUEUED = 1, D_JOB_RUNNING, D_JOB_DONE };

/* Starts @p n workers and the prober, each with its own store handle. */
int d_pool_start(d_pool **out, const char *uri, unsigned n, unsigned batch_max,
                 struct event_base *base, void (*done)(d_job *job, void *arg), void *arg,
                 epoch_error *err);
/* Queues a job (loop thread). 0, or -1 when stopping. */
int d_pool_submit(d_pool *pool, d_job *job);
/* Takes a queued job back (deadline): 1 if it was still queued (now removed),
 * 0 if a worker has it (it is marked abandoned and freed by the pool). */
int d_pool_withdraw(d_pool *pool, d_job *job);
/* 1 while the store answers, 0 while it is known down (the prober's and
 * the workers' view). */
int d_pool_store_up(const d_pool *pool);
void d_pool_stop(d_pool *pool);

/* ---- the server (main.c) ---- */

struct d_server {
    d_config cfg;
    struct event_base *base;
    struct evhttp *http[D_LISTEN_MAX];
    size_t http_count;
    struct evhttp_bound_socket *bound[D_LISTEN_MAX];
    struct evconnlistener *listeners[D_LISTEN_MAX];
    size_t bound_count;
    SSL_CTX *tls;
    fe_config fe;
    fe_auth *auth;
    fe_head_limits limits;
    d_pool *pool;
    int stopping;
    d_job *inflight, *inflight_tail; /* jobs not yet answered, oldest first */
    long inflight_count;
    d_job *spare; /* freed jobs kept for reuse (loop thread only) */
    unsigned spare_count;
    /* conn.c state */
    d_conn **by_fd;
    size_t by_fd_size;
    d_conn *all; /* every tracked connection */
    d_conn *idle_head, *idle_tail;
    long open_count;
    struct event *sweep_ev;
    struct event *accept_retry_ev;
    struct evbuffer *scratch; /* the head guard's work buffer */
};

double d_now_mono(void);
int64_t d_now_us(void);

#endif
