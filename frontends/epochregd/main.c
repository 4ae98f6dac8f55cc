/*
 * epochregd: the epochreg HTTP API on libevent's evhttp.
 *
 * The loop thread accepts, guards request heads (conn.c), turns each request
 * into an fe_op with the shared HTTP layer (frontends/common), and either
 * answers at once or queues the store work for the workers (work.c). Every
 * queued request has a deadline (--store-timeout): still queued then → 503,
 * running → 504 (the outcome is unknown; clients resolve it with their
 * Idempotency-Key). Replies go out from the loop thread only.
 */
#include "daemon.h"

#include <epochreg/epochreg.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_START = 1, EXIT_USAGE = 2 };

double d_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t d_now_us(void)
{
    return epoch_clock_system(NULL);
}

/* ---- options ---- */

static const char usage_text[] =
#include "usage.inc"
    ;

/* A usage error: the message (fmt has at most one %s, for @p arg), exit 2. */
static int usage_error(const char *fmt, const char *arg)
{
    char msg[512];
    const char *s = strstr(fmt, "%s");
    if (s)
        snprintf(msg, sizeof(msg), "%.*s%s%s", (int)(s - fmt), fmt, arg ? arg : "",
                 s + 2);
    else
        snprintf(msg, sizeof(msg), "%s", fmt);
    fprintf(stderr, "epochregd: %s\nTry 'epochregd --help'.\n", msg);
    return EXIT_USAGE;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* Copies @p src into @p dst (@p size bytes) whole, or says which value was
 * too long: nothing is ever cut short. */
static int copy_value(char *dst, size_t size, const char *src, const char *what)
{
    size_t n = strlen(src);
    if (n >= size)
        return usage_error("%s is too long", what);
    memcpy(dst, src, n + 1);
    return 0;
}

static int parse_listen(d_config *cfg, const char *spec, int tls)
{
    if (cfg->listen_count >= D_LISTEN_MAX)
        return usage_error("too many listeners (at most 16)", NULL);
    d_listen *l = &cfg->listens[cfg->listen_count];
    const char *colon;
    const char *host = spec;
    size_t host_len;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':')
            return usage_error("bad listen address '%s' (use [ADDR]:PORT)", spec);
        host = spec + 1;
        host_len = (size_t)(end - host);
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            return usage_error("bad listen address '%s' (use ADDR:PORT)", spec);
        host_len = (size_t)(colon - spec);
    }
    uint64_t port;
    if (host_len == 0 || host_len >= sizeof(l->host) ||
        fe_parse_uint(&port, colon + 1, strlen(colon + 1), 0, 65535, "port", NULL) < 0)
        return usage_error("bad listen address '%s'", spec);
    memcpy(l->host, host, host_len);
    l->host[host_len] = '\0';
    snprintf(l->port, sizeof(l->port), "%u", (unsigned)port);
    l->tls = tls;
    cfg->listen_count++;
    return 0;
}

/* Splits a comma-separated list and feeds each item to parse_listen. */
static int parse_listen_list(d_config *cfg, const char *list, int tls)
{
    char buf[4096];
    if (copy_value(buf, sizeof(buf), list, "the listen list"))
        return EXIT_USAGE;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int rc = parse_listen(cfg, tok, tls);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_count(unsigned *out, const char *s, uint64_t min, uint64_t max,
                       const char *name)
{
    uint64_t v;
    if (fe_parse_uint(&v, s, strlen(s), min, max, name, NULL) < 0) {
        fprintf(stderr, "epochregd: %s must be an integer from %llu to %llu\n", name,
                (unsigned long long)min, (unsigned long long)max);
        return EXIT_USAGE;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_seconds(double *out, const char *s, const char *name)
{
    int64_t us;
    if (fe_parse_epoch_seconds(&us, s, strlen(s), name, NULL) < 0 || us <= 0 ||
        us > INT64_C(86400000000)) {
        fprintf(stderr, "epochregd: %s must be seconds (0.000001 to 86400)\n", name);
        return EXIT_USAGE;
    }
    *out = (double)us / 1e6;
    return 0;
}

static int add_proxies(d_config *cfg, char *list)
{
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (cfg->trusted_count >= D_PROXIES_MAX)
            return usage_error("too many trusted proxies (at most 32)", NULL);
        cfg->trusted[cfg->trusted_count++] = tok;
    }
    return 0;
}

/* The default store: as the command-line tool. */
static int default_db(d_config *cfg)
{
    epoch_error err;
    if (fe_default_store_uri(cfg->db, sizeof(cfg->db), &err) < 0) {
        fprintf(stderr, "epochregd: %s\n", err.message);
        return EXIT_USAGE;
    }
    return 0;
}

enum {
    O_LISTEN = 256,
    O_TLS_LISTEN,
    O_TLS_CERT,
    O_TLS_KEY,
    O_PORTS_FILE,
    O_PIDFILE,
    O_DB,
    O_NO_MIGRATE,
    O_WORKERS,
    O_BATCH_MAX,
    O_STORE_TIMEOUT,
    O_NODE,
    O_BODY_MAX,
    O_MAX_CONN,
    O_HEAD_TIMEOUT,
    O_BODY_TIMEOUT,
    O_IDLE_TIMEOUT,
    O_TRUSTED,
    O_TOKEN_FILE,
    O_AUTH,
    O_DRAIN,
    O_LOG_FORMAT,
    O_LOG_FILE,
    O_HELP,
    O_VERSION
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"tls-listen", required_argument, NULL, O_TLS_LISTEN},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"ports-file", required_argument, NULL, O_PORTS_FILE},
    {"pidfile", required_argument, NULL, O_PIDFILE},
    {"db", required_argument, NULL, O_DB},
    {"no-migrate", no_argument, NULL, O_NO_MIGRATE},
    {"workers", required_argument, NULL, O_WORKERS},
    {"batch-max", required_argument, NULL, O_BATCH_MAX},
    {"store-timeout", required_argument, NULL, O_STORE_TIMEOUT},
    {"node", required_argument, NULL, O_NODE},
    {"body-max", required_argument, NULL, O_BODY_MAX},
    {"max-connections", required_argument, NULL, O_MAX_CONN},
    {"head-timeout", required_argument, NULL, O_HEAD_TIMEOUT},
    {"body-timeout", required_argument, NULL, O_BODY_TIMEOUT},
    {"idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT},
    {"trusted-proxy", required_argument, NULL, O_TRUSTED},
    {"token-file", required_argument, NULL, O_TOKEN_FILE},
    {"auth", required_argument, NULL, O_AUTH},
    {"drain-file", required_argument, NULL, O_DRAIN},
    {"log-format", required_argument, NULL, O_LOG_FORMAT},
    {"log-file", required_argument, NULL, O_LOG_FILE},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0}};

static int set_auth(d_config *cfg, const char *v)
{
    if (!strcmp(v, "writes"))
        cfg->auth_scope = FE_AUTH_WRITES;
    else if (!strcmp(v, "all"))
        cfg->auth_scope = FE_AUTH_ALL;
    else
        return usage_error("--auth must be 'writes' or 'all', not '%s'", v);
    return 0;
}

static int set_log_format(d_config *cfg, const char *v)
{
    if (!strcmp(v, "json"))
        cfg->log_json = 1;
    else if (!strcmp(v, "text"))
        cfg->log_json = 0;
    else
        return usage_error("--log-format must be 'json' or 'text', not '%s'", v);
    return 0;
}

/* Copies of environment lists that strtok_r may cut up. */
static char env_proxies[4096];

static int parse_options(d_config *cfg, int argc, char **argv)
{
    int rc = 0, listens = 0, tls_listens = 0, have_db = 0;
    unsigned body_max = FE_BODY_MAX_DEFAULT;
    const char *v;
    cfg->migrate = 1;
    cfg->batch_max = 1000;
    cfg->store_timeout = 5;
    cfg->max_connections = 4096;
    cfg->head_timeout = 10;
    cfg->body_timeout = 30;
    cfg->idle_timeout = 30;
    cfg->log_json = 1;
    cfg->auth_scope = FE_AUTH_WRITES;
    int seen_auth = 0, seen_format = 0, seen_workers = 0, seen_batch = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case O_LISTEN:
            rc = parse_listen(cfg, optarg, 0);
            listens++;
            break;
        case O_TLS_LISTEN:
            rc = parse_listen(cfg, optarg, 1);
            tls_listens++;
            break;
        case O_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case O_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case O_PORTS_FILE:
            cfg->ports_file = optarg;
            break;
        case O_PIDFILE:
            cfg->pidfile = optarg;
            break;
        case O_DB:
            if (!optarg[0])
                return usage_error("--db is empty", NULL);
            if (copy_value(cfg->db, sizeof(cfg->db), optarg, "--db"))
                return EXIT_USAGE;
            have_db = 1;
            break;
        case O_NO_MIGRATE:
            cfg->migrate = 0;
            break;
        case O_WORKERS:
            rc = parse_count(&cfg->workers, optarg, 1, 64, "--workers");
            seen_workers = 1;
            break;
        case O_BATCH_MAX:
            rc = parse_count(&cfg->batch_max, optarg, 1, EPOCH_BATCH_MAX, "--batch-max");
            seen_batch = 1;
            break;
        case O_STORE_TIMEOUT:
            rc = parse_seconds(&cfg->store_timeout, optarg, "--store-timeout");
            break;
        case O_NODE:
            cfg->node = optarg;
            break;
        case O_BODY_MAX:
            rc = parse_count(&body_max, optarg, 1, 16 << 20, "--body-max");
            break;
        case O_MAX_CONN:
            rc = parse_count(&cfg->max_connections, optarg, 1, 1 << 20,
                             "--max-connections");
            break;
        case O_HEAD_TIMEOUT:
            rc = parse_seconds(&cfg->head_timeout, optarg, "--head-timeout");
            break;
        case O_BODY_TIMEOUT:
            rc = parse_seconds(&cfg->body_timeout, optarg, "--body-timeout");
            break;
        case O_IDLE_TIMEOUT:
            rc = parse_seconds(&cfg->idle_timeout, optarg, "--idle-timeout");
            break;
        case O_TRUSTED:
            rc = add_proxies(cfg, optarg);
            break;
        case O_TOKEN_FILE:
            cfg->token_file = optarg;
            break;
        case O_AUTH:
            rc = set_auth(cfg, optarg);
            seen_auth = 1;
            break;
        case O_DRAIN:
            cfg->drain_file = optarg;
            break;
        case O_LOG_FORMAT:
            rc = set_log_format(cfg, optarg);
            seen_format = 1;
            break;
        case O_LOG_FILE:
            cfg->log_file = optarg;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            exit(0);
        case O_VERSION:
            printf("epochregd %s\n", epochreg_version(NULL, NULL, NULL));
            exit(0);
        default:
            return usage_error("unknown option", NULL);
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    /* Environment variables stand in for options not given. */
    if (!listens && (v = env("EPOCHREG_LISTEN")) && (rc = parse_listen_list(cfg, v, 0)))
        return rc;
    if (!tls_listens && (v = env("EPOCHREG_TLS_LISTEN")) &&
        (rc = parse_listen_list(cfg, v, 1)))
        return rc;
    if (!have_db && (v = env("EPOCHREG_DB"))) {
        if (copy_value(cfg->db, sizeof(cfg->db), v, "EPOCHREG_DB"))
            return EXIT_USAGE;
        have_db = 1;
    }
    if (!cfg->tls_cert)
        cfg->tls_cert = env("EPOCHREG_TLS_CERT");
    if (!cfg->tls_key)
        cfg->tls_key = env("EPOCHREG_TLS_KEY");
    if (!cfg->pidfile)
        cfg->pidfile = env("EPOCHREG_PIDFILE");
    if (!cfg->node)
        cfg->node = env("EPOCHREG_NODE");
    if (!cfg->token_file)
        cfg->token_file = env("EPOCHREG_TOKEN_FILE");
    if (!cfg->drain_file)
        cfg->drain_file = env("EPOCHREG_DRAIN_FILE");
    if (!cfg->log_file)
        cfg->log_file = env("EPOCHREG_LOG_FILE");
    if (!seen_auth && (v = env("EPOCHREG_AUTH")) && (rc = set_auth(cfg, v)))
        return rc;
    if (!seen_format && (v = env("EPOCHREG_LOG_FORMAT")) && (rc = set_log_format(cfg, v)))
        return rc;
    if (!seen_workers && (v = env("EPOCHREG_WORKERS")) &&
        (rc = parse_count(&cfg->workers, v, 1, 64, "EPOCHREG_WORKERS")))
        return rc;
    if (!seen_batch && (v = env("EPOCHREG_BATCH_MAX")) &&
        (rc = parse_count(&cfg->batch_max, v, 1, EPOCH_BATCH_MAX, "EPOCHREG_BATCH_MAX")))
        return rc;
    if (cfg->trusted_count == 0 && (v = env("EPOCHREG_TRUSTED_PROXY"))) {
        if (copy_value(env_proxies, sizeof(env_proxies), v, "EPOCHREG_TRUSTED_PROXY"))
            return EXIT_USAGE;
        if ((rc = add_proxies(cfg, env_proxies)))
            return rc;
    }
    if (cfg->listen_count == 0 && (rc = parse_listen(cfg, "127.0.0.1:8080", 0)))
        return rc;
    int any_tls = 0;
    for (size_t i = 0; i < cfg->listen_count; i++)
        any_tls |= cfg->listens[i].tls;
    if (any_tls && (!cfg->tls_cert || !cfg->tls_key))
        return usage_error("--tls-listen needs --tls-cert and --tls-key", NULL);
    if (!any_tls && (cfg->tls_cert || cfg->tls_key))
        return usage_error("--tls-cert/--tls-key given without --tls-listen", NULL);
    cfg->body_max = body_max;
    if (!have_db && (rc = default_db(cfg)))
        return rc;
    return 0;
}

/* ---- replies ---- */

static d_server server;

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}

/* Jobs in arrival order: the deadline scan stops at the first job that is
 * not late. */
static void inflight_link(d_server *srv, d_job *j)
{
    j->next_f = NULL;
    j->prev_f = srv->inflight_tail;
    if (srv->inflight_tail)
        srv->inflight_tail->next_f = j;
    else
        srv->inflight = j;
    srv->inflight_tail = j;
    srv->inflight_count++;
}

static void inflight_unlink(d_server *srv, d_job *j)
{
    if (j->prev_f)
        j->prev_f->next_f = j->next_f;
    else
        srv->inflight = j->next_f;
    if (j->next_f)
        j->next_f->prev_f = j->prev_f;
    else
        srv->inflight_tail = j->prev_f;
    j->next_f = j->prev_f = NULL;
    srv->inflight_count--;
}

static void free_body(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* The reply's body as an evbuffer: the body's own bytes, not a copy (a page
 * of records is ~25 KB). NULL when out of memory. */
static struct evbuffer *body_buffer(fe_response *resp)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || !resp->body_len)
        return b;
    char *body = fe_response_take_body(resp);
    int rc = body ? evbuffer_add_reference(b, body, resp->body_len, free_body, NULL)
                  : evbuffer_add(b, resp->body, resp->body_len);
    if (rc < 0) {
        free(body);
        evbuffer_free(b);
        return NULL;
    }
    return b;
}

/* Sends @p resp for @p req, logs it and counts it. */
static void send_response(d_server *srv, struct evhttp_request *req, d_conn *c,
                          const fe_op *op, fe_response *resp, double start, size_t batch)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    for (size_t i = 0; i < resp->header_count; i++)
        evhttp_add_header(h, resp->headers[i].name, resp->headers[i].value);
    const char *method = method_name(evhttp_request_get_command(req));
    int head = !strcmp(method, "HEAD");
    struct evbuffer *b = head ? NULL : body_buffer(resp);
    /* Without memory for the body the reply is cut short: the connection
     * must end with it, so the client sees the failure. */
    int close =
        resp->close || srv->stopping || !strcmp(method, "CONNECT") || (!head && !b);
    /* The status line always says HTTP/1.1 (RFC 9110 §2.5), also to an
     * HTTP/1.0 client; such a client keeps the connection only when it
     * asked for keep-alive. evhttp takes the reply's version from the
     * request's, so the request's is raised. */
    if (req->major == 1 && req->minor == 0) {
        const char *conn =
            evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
        if (!conn || evutil_ascii_strcasecmp(conn, "keep-alive") != 0)
            close = 1;
        req->minor = 1;
    }
    if (close)
        evhttp_add_header(h, "Connection", "close");
    /* Always a Content-Length: evhttp leaves it out for HEAD (where it must
     * be the GET's) and for CONNECT. */
    char len[24];
    fe_buf lb = {len, sizeof(len), 0, 0};
    fe_buf_int(&lb, (int64_t)resp->body_len);
    evhttp_add_header(h, "Content-Length", len);
    evhttp_send_reply(req, resp->status, resp->reason, b);
    if (b)
        evbuffer_free(b);
    double seconds = d_now_mono() - start;
    fe_route route = op ? op->route : FE_ROUTE_NONE;
    d_metrics_request(route, resp->status, seconds);
    d_log_access(op && op->request_id[0] ? op->request_id : "-", method,
                 fe_route_name(route), resp->status, seconds * 1e3, batch,
                 op && op->kind == FE_OP_REGISTER ? op->entry.client_ip : NULL);
    d_conn_request_end(srv, c);
}

/*
 * Jobs are ~6 KB (an op and a response with fixed-size fields), one per
 * request. The loop keeps up to JOB_SPARES freed ones: a fresh allocation of
 * that size (above glibc's fast bins) consolidates malloc's fast bins each
 * time, which showed as ~1.5% of the daemon's CPU under load. Jobs a worker
 * abandons are freed by the pool with free().
 */
#define JOB_SPARES 256

static d_job *job_new(d_server *srv)
{
    d_job *j = srv->spare;
    if (!j)
        return calloc(1, sizeof(*j));
    srv->spare = j->next;
    srv->spare_count--;
    memset(j, 0, sizeof(*j));
    return j;
}

static void job_free(d_server *srv, d_job *j)
{
    if (srv->spare_count >= JOB_SPARES || srv->stopping) {
        free(j);
        return;
    }
    j->next = srv->spare;
    srv->spare = j;
    srv->spare_count++;
}

static void job_spares_free(d_server *srv)
{
    while (srv->spare) {
        d_job *j = srv->spare;
        srv->spare = j->next;
        free(j);
    }
    srv->spare_count = 0;
}

static void finish_job(d_server *srv, d_job *j)
{
    send_response(srv, j->req, j->conn, &j->op, &j->resp, j->start, j->batch);
    fe_response_clear(&j->resp);
    job_free(srv, j);
}

/* Worker results arrive here, on the loop thread. */
static void job_done(d_job *j, void *arg)
{
    d_server *srv = arg;
    inflight_unlink(srv, j);
    finish_job(srv, j);
}

/* Every 100 ms: answers requests whose store work has taken longer than
 * --store-timeout, and flushes the log every other tick. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    d_server *srv = arg;
    double now = d_now_mono();
    static double last_flush;
    if (now - last_flush >= 0.2) {
        last_flush = now;
        d_log_flush();
    }
    while (srv->inflight && now - srv->inflight->start >= srv->cfg.store_timeout) {
        d_job *j = srv->inflight;
        inflight_unlink(srv, j);
        /* Copy what the reply needs first: once withdrawn fails, the worker
         * that holds the job frees it. */
        fe_op *op = malloc(sizeof(*op));
        struct evhttp_request *req = j->req;
        d_conn *c = j->conn;
        double start = j->start;
        if (op)
            fe_op_copy(op, &j->op);
        int withdrawn = d_pool_withdraw(srv->pool, j);
        fe_response resp;
        fe_response_init(&resp);
        if (withdrawn)
            fe_http_error(&resp, op, 503, "unavailable",
                          "the store did not take the request in time; retry later", 0);
        else
            fe_http_error(&resp, op, 504, "timeout",
                          "the store did not answer in time; the outcome is unknown: "
                          "retry with the same Idempotency-Key",
                          0);
        d_metrics_store_error();
        send_response(srv, req, c, op, &resp, start, 0);
        fe_response_clear(&resp);
        free(op);
        if (withdrawn) {
            fe_response_clear(&j->resp);
            job_free(srv, j);
        }
    }
}

static int draining(const d_server *srv)
{
    struct stat st;
    return srv->stopping || (srv->cfg.drain_file && stat(srv->cfg.drain_file, &st) == 0);
}

typedef struct listener_ctx {
    d_server *srv;
    int tls;
} listener_ctx;

static listener_ctx ctx_plain, ctx_tls;

/*
 * The loop's base, with epoll's change list on: evhttp turns a connection's
 * read and write interest on and off around every request (about four
 * epoll_ctl calls per request without it, two and a half with it, measured
 * with strace under wrk), and the change list applies only the net change
 * once per loop iteration. libevent's one caveat for it — file descriptors
 * cloned with dup() — does not apply: the daemon never duplicates one, and
 * OpenSSL's bufferevents use the socket as it is.
 */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    struct event_base *base = NULL;
    if (event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
        base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* The request's headers as fe_headers: in @p local when they fit (the
 * usual case; no allocation), else in a new array the caller frees. */
static fe_header *collect_headers(struct evhttp_request *req, fe_header *local,
                                  size_t local_n, size_t *count)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    size_t n = 0;
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next)
        n++;
    fe_header *h = n <= local_n ? local : calloc(n, sizeof(*h));
    if (!h)
        return NULL;
    size_t i = 0;
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next, i++) {
        h[i].name = kv->key;
        h[i].name_len = strlen(kv->key);
        h[i].value = kv->value;
        h[i].value_len = strlen(kv->value);
    }
    *count = n;
    return h;
}

static void handle(struct evhttp_request *req, void *arg)
{
    listener_ctx *lc = arg;
    d_server *srv = lc->srv;
    double start = d_now_mono();
    int64_t received = d_now_us();
    d_conn *c = d_conn_of(srv, req);
    d_conn_request_begin(srv, c);

    d_job *j = job_new(srv);
    if (!j) {
        /* Out of memory: a fixed JSON answer that needs no allocation of
         * ours (evhttp may still fail to send it; then the client sees the
         * connection close). */
        static const char oom[] = "{\"error\":{\"status\":503,\"code\":\"unavailable\","
                                  "\"message\":\"out of memory\"}}\n";
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Connection", "close");
        evhttp_add_header(h, "Retry-After", "1");
        struct evbuffer *b = evbuffer_new();
        if (b)
            evbuffer_add_reference(b, oom, sizeof(oom) - 1, NULL, NULL);
        evhttp_send_reply(req, 503, "Service Unavailable", b);
        if (b)
            evbuffer_free(b);
        d_conn_request_end(srv, c);
        return;
    }
    j->req = req;
    j->conn = c;
    j->start = start;
    fe_response_init(&j->resp);

    int status;
    const char *code, *message;
    if (d_conn_rejected(c, &status, &code, &message)) {
        /* The stand-in request carries nothing of the refused head: the op
         * gets a fresh request id and the peer. */
        char *rpeer = NULL;
        ev_uint16_t rport = 0;
        evhttp_connection_get_peer(evhttp_request_get_connection(req), &rpeer, &rport);
        fe_request rr = {.method = "GET",
                         .path = "/",
                         .path_len = 1,
                         .peer = rpeer,
                         .https = lc->tls,
                         .received_us = received};
        fe_op_init(&j->op, &rr, &srv->fe);
        j->op.route = FE_ROUTE_NONE;
        fe_http_error(&j->resp, &j->op, status, code, message, 1);
        finish_job(srv, j);
        return;
    }

    const char *uri = evhttp_request_get_uri(req);
    const char *q = strchr(uri, '?');
    size_t header_count = 0;
    fe_header local_headers[32];
    fe_header *headers = collect_headers(req, local_headers, 32, &header_count);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t body_len = evbuffer_get_length(body);
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
    fe_request fr = {
        .method = method_name(evhttp_request_get_command(req)),
        .path = uri,
        .path_len = q ? (size_t)(q - uri) : strlen(uri),
        .query = q ? q + 1 : NULL,
        .query_len = q ? strlen(q + 1) : 0,
        .headers = headers,
        .header_count = header_count,
        .body = body_len ? (const char *)evbuffer_pullup(body, -1) : NULL,
        .body_len = body_len,
        .peer = peer,
        .https = lc->tls,
        .received_us = received,
    };
    if (!headers) {
        fe_http_error(&j->resp, NULL, 503, "unavailable", "out of memory", 1);
        finish_job(srv, j);
        return;
    }
    fe_http_prepare(&j->op, &j->resp, &fr, &srv->fe);
    if (headers != local_headers)
        free(headers);

    switch (j->op.kind) {
    case FE_OP_DONE:
        break;
    case FE_OP_METRICS: {
        size_t len = 0;
        char *text =
            d_metrics_render(&len, d_conn_open_count(srv), d_pool_store_up(srv->pool));
        if (text)
            fe_http_render_text(&j->resp, &j->op, FE_METRICS_CONTENT_TYPE, text, len);
        else
            fe_http_error(&j->resp, &j->op, 503, "unavailable", "out of memory", 0);
        free(text);
        break;
    }
    case FE_OP_READY:
        /* From state, never blocking: the prober pings the store every
         * second and workers report failures as they happen. */
        fe_http_render_ready(&j->resp, &j->op, d_pool_store_up(srv->pool), draining(srv));
        break;
    default:
        if (srv->stopping) {
            fe_http_error(&j->resp, &j->op, 503, "draining",
                          "the server is shutting down; retry on another", 1);
        } else if (!d_pool_store_up(srv->pool)) {
            fe_http_error(&j->resp, &j->op, 503, "unavailable",
                          "the store is unavailable; retry later", 0);
        } else if (d_pool_submit(srv->pool, j) == 0) {
            inflight_link(srv, j);
            return;
        } else {
            fe_http_error(&j->resp, &j->op, 503, "draining",
                          "the server is shutting down", 1);
        }
        break;
    }
    finish_job(srv, j);
}

/* ---- start-up ---- */

static SSL_CTX *tls_context(const d_config *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_get_error();
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "epochregd: cannot load the TLS certificate or key: %s\n", buf);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static struct evhttp *new_http(d_server *srv, int tls)
{
    struct evhttp *http = evhttp_new(srv->base);
    if (!http)
        return NULL;
    evhttp_set_gencb(http, handle, tls ? &ctx_tls : &ctx_plain);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                         EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    struct timeval idle = {
        (time_t)srv->cfg.idle_timeout,
        (suseconds_t)((srv->cfg.idle_timeout - (double)(time_t)srv->cfg.idle_timeout) *
                      1e6)};
    evhttp_set_timeout_tv(http, &idle);
    /* The head guard enforces the real limits; these are a backstop. */
    evhttp_set_max_headers_size(http, (ev_ssize_t)srv->limits.head_max * 2);
    evhttp_set_max_body_size(http, (ev_ssize_t)srv->cfg.body_max);
    evhttp_set_default_content_type(http, "application/json; charset=utf-8");
    d_conn_setup(srv, http, tls ? srv->tls : NULL);
    srv->http[srv->http_count++] = http;
    return http;
}

static int bind_all(d_server *srv)
{
    struct evhttp *plain = NULL, *secure = NULL;
    for (size_t i = 0; i < srv->cfg.listen_count; i++) {
        d_listen *l = &srv->cfg.listens[i];
        struct evhttp **hp = l->tls ? &secure : &plain;
        if (!*hp && !(*hp = new_http(srv, l->tls)))
            return -1;
        struct evutil_addrinfo hints = {0}, *ai = NULL;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
        int gai = evutil_getaddrinfo(l->host, l->port, &hints, &ai);
        if (gai != 0 || !ai) {
            fprintf(stderr, "epochregd: cannot resolve %s: %s\n", l->host,
                    evutil_gai_strerror(gai));
            return -1;
        }
        struct evconnlistener *lev = evconnlistener_new_bind(
            srv->base, NULL, NULL,
            LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
            ai->ai_addr, (int)ai->ai_addrlen);
        evutil_freeaddrinfo(ai);
        if (!lev) {
            fprintf(stderr, "epochregd: cannot listen on %s:%s: %s\n", l->host, l->port,
                    strerror(errno));
            return -1;
        }
        struct evhttp_bound_socket *bs = evhttp_bind_listener(*hp, lev);
        if (!bs) {
            evconnlistener_free(lev);
            return -1;
        }
        srv->bound[srv->bound_count] = bs;
        srv->listeners[srv->bound_count] = lev;
        srv->bound_count++;
    }
    return 0;
}

static int write_file_atomically(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return -1;
    FILE *fp = fopen(tmp, "we");
    if (!fp)
        return -1;
    int ok = fputs(text, fp) >= 0;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int write_ports(d_server *srv)
{
    char text[D_LISTEN_MAX * 96] = "";
    size_t len = 0;
    for (size_t i = 0; i < srv->bound_count; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        evutil_socket_t fd = evconnlistener_get_fd(srv->listeners[i]);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
            return -1;
        char host[NI_MAXHOST], port[NI_MAXSERV];
        if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
                        sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            return -1;
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s %s %s\n",
                                srv->cfg.listens[i].tls ? "https" : "http", host, port);
        d_log(D_INFO, "listening",
              json_pack("{s:s, s:s, s:s}", "scheme",
                        srv->cfg.listens[i].tls ? "https" : "http", "address", host,
                        "port", port));
    }
    return srv->cfg.ports_file ? write_file_atomically(srv->cfg.ports_file, text) : 0;
}

static int prepare_store(d_server *srv, const char **backend)
{
    epoch_store *store = NULL;
    epoch_error err;
    int rc = epoch_store_open(&store, srv->cfg.db, NULL, &err);
    if (rc == 0 && srv->cfg.migrate) {
        int version = 0;
        rc = epoch_store_migrate(&version, store, &err);
    }
    if (rc < 0) {
        d_log(D_ERROR, "cannot use the store",
              json_pack("{s:s, s:s}", "error", err.message, "code", epoch_strerror(rc)));
        epoch_store_close(store);
        return -1;
    }
    *backend = !strcmp(epoch_store_backend_name(store), "sqlite") ? "sqlite" : "other";
    epoch_store_close(store);
    return 0;
}

/* ---- signals and shutdown ---- */

static struct event *drain_ev;

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    d_server *srv = arg;
    static double began;
    if (began == 0)
        began = d_now_mono();
    d_conn_close_unstarted(srv);
    if ((srv->inflight_count == 0 && d_conn_open_count(srv) == 0) ||
        d_now_mono() - began > 15) {
        event_base_loopexit(srv->base, NULL);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(drain_ev, &tv);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    d_server *srv = arg;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    d_log(D_INFO, "stopping: finishing requests in flight",
          json_pack("{s:i, s:I}", "signal", (int)sig, "in_flight",
                    (json_int_t)srv->inflight_count));
    for (size_t i = 0; i < srv->bound_count; i++) {
        evconnlistener_disable(srv->listeners[i]);
    }
    drain_ev = evtimer_new(srv->base, drain_check, srv);
    if (drain_ev)
        drain_check(-1, 0, srv);
    else
        event_base_loopexit(srv->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    d_log_reopen();
    d_log(D_INFO, "log reopened", NULL);
}

int main(int argc, char **argv)
{
    d_server *srv = &server;
    int rc = parse_options(&srv->cfg, argc, argv);
    if (rc)
        return rc;
    if (d_log_open(srv->cfg.log_file, srv->cfg.log_json) < 0) {
        fprintf(stderr, "epochregd: cannot open the log file %s: %s\n", srv->cfg.log_file,
                strerror(errno));
        return EXIT_START;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Pages of records (~75 KB buffers) are allocated on the workers and
     * freed on the loop thread many thousand times a second. glibc's
     * defaults would hand memory back to the kernel and take it again each
     * time (madvise/munmap, TLB shootdowns across CPUs: ~4% of the daemon's
     * CPU under GET load). Memory is kept instead, up to these sizes. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    int exit_code = EXIT_START;
    struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL, *deadline_ev = NULL;

    srv->limits = fe_head_limits_default();
    srv->limits.body_max = srv->cfg.body_max;
    srv->fe.node = srv->cfg.node;
    srv->fe.prefix = "";
    srv->fe.body_max = srv->cfg.body_max;
    srv->fe.auth_scope = srv->cfg.auth_scope;
    srv->fe.trusted_proxies = srv->cfg.trusted;
    srv->fe.trusted_proxies_count = srv->cfg.trusted_count;
    ctx_plain.srv = ctx_tls.srv = srv;
    ctx_tls.tls = 1;

    epoch_error cerr;
    if (fe_config_check(&srv->fe, &cerr) < 0) {
        fprintf(stderr, "epochregd: %s\n", cerr.message);
        d_log_close();
        return EXIT_USAGE;
    }
    if (srv->cfg.token_file) {
        epoch_error err;
        int warn = 0;
        if (fe_auth_load(&srv->auth, srv->cfg.token_file, &warn, &err) < 0) {
            fprintf(stderr, "epochregd: %s\n", err.message);
            goto out;
        }
        if (warn)
            d_log(D_WARN, "the token file is readable by group or others; chmod 600 it",
                  NULL);
        srv->fe.auth = srv->auth;
    }
    const char *backend = NULL;
    if (prepare_store(srv, &backend) < 0)
        goto out;
    if (srv->cfg.workers == 0) {
        /* One per CPU (at least 2): writes go one batch at a time anyway, and
         * more threads than CPUs only add switching to the reads. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        srv->cfg.workers = ncpu < 2 ? 2 : ncpu > 64 ? 64 : (unsigned)ncpu;
    }
    for (size_t i = 0; i < srv->cfg.listen_count; i++)
        if (srv->cfg.listens[i].tls && !srv->tls && !(srv->tls = tls_context(&srv->cfg)))
            goto out;

    if (evthread_use_pthreads() != 0 || !(srv->base = new_base())) {
        fprintf(stderr, "epochregd: cannot create the event loop\n");
        goto out;
    }
    if (bind_all(srv) < 0 || d_conn_init(srv) < 0)
        goto out;
    epoch_error err;
    if (d_pool_start(&srv->pool, srv->cfg.db, srv->cfg.workers, srv->cfg.batch_max,
                     srv->base, job_done, srv, &err) < 0) {
        d_log(D_ERROR, "cannot start the workers",
              json_pack("{s:s}", "error", err.message));
        goto out;
    }
    sig_term = evsignal_new(srv->base, SIGTERM, on_stop, srv);
    sig_int = evsignal_new(srv->base, SIGINT, on_stop, srv);
    sig_hup = evsignal_new(srv->base, SIGHUP, on_hup, srv);
    deadline_ev = event_new(srv->base, -1, EV_PERSIST, deadline_cb, srv);
    struct timeval tick = {0, 100000};
    if (!sig_term || !sig_int || !sig_hup || !deadline_ev || event_add(sig_term, NULL) ||
        event_add(sig_int, NULL) || event_add(sig_hup, NULL) ||
        event_add(deadline_ev, &tick)) {
        fprintf(stderr, "epochregd: cannot set up signal handling\n");
        goto out;
    }
    if (write_ports(srv) < 0) {
        fprintf(stderr, "epochregd: cannot write the ports file\n");
        goto out;
    }
    if (srv->cfg.pidfile) {
        char pid[32];
        snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (write_file_atomically(srv->cfg.pidfile, pid) < 0) {
            fprintf(stderr, "epochregd: cannot write the pidfile %s\n", srv->cfg.pidfile);
            goto out;
        }
    }
    d_log(D_INFO, "started",
          json_pack("{s:s, s:i, s:i, s:s}", "version", epochreg_version(NULL, NULL, NULL),
                    "workers", (int)srv->cfg.workers, "batch_max",
                    (int)srv->cfg.batch_max, "backend", backend));
    event_base_dispatch(srv->base);
    exit_code = 0;
    d_log(D_INFO, "stopped", NULL);

out:
    d_pool_stop(srv->pool);
    for (size_t i = 0; i < srv->http_count; i++)
        evhttp_free(srv->http[i]);
    while (srv->inflight) {
        d_job *j = srv->inflight;
        inflight_unlink(srv, j);
        fe_response_clear(&j->resp);
        free(j);
    }
    job_spares_free(srv);
    if (srv->base)
        d_conn_shutdown(srv);
    if (sig_term)
        event_free(sig_term);
    if (sig_int)
        event_free(sig_int);
    if (sig_hup)
        event_free(sig_hup);
    if (deadline_ev)
        event_free(deadline_ev);
    if (drain_ev)
        event_free(drain_ev);
    if (srv->base)
        event_base_free(srv->base);
    SSL_CTX_free(srv->tls);
    fe_auth_free(srv->auth);
    if (srv->cfg.pidfile && exit_code == 0)
        unlink(srv->cfg.pidfile);
    d_log_close();
    libevent_global_shutdown();
    return exit_code;
}
