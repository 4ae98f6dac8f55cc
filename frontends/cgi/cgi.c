/*
 * epochreg.cgi: the HTTP API as a CGI/1.1 program (RFC 3875), one process
 * per request under Apache (mod_cgi or mod_cgid) or any other CGI server.
 *
 * It links the same request layer as epochregd (frontends/common), so both
 * answer the same request with the same status, headers and body. This file
 * only moves bytes: the CGI environment and stdin become an fe_request, the
 * one store call the request needs runs inline, and the response goes out as
 * CGI output — a Status line, the headers, a blank line, the body.
 *
 * - Configuration comes only from EPOCHREG_* variables (SetEnv/PassEnv),
 *   never from HTTP_* ones, which the client controls. The *_PROXY variables
 *   are removed at start, so no library this process loads can be pointed at
 *   a client's proxy (httpoxy); epochreg itself opens no HTTP connection.
 * - The store is opened only for the routes that need it. A PostgreSQL store
 *   is never migrated here: an unmigrated one answers 503 naming `epochreg
 *   migrate`. A SQLite file is created and migrated on first open, as the
 *   library does for every sqlite: URI.
 * - The body: exactly CONTENT_LENGTH bytes (strict decimal; over the limit
 *   413 before reading anything; EOF before the last byte 400). Without
 *   CONTENT_LENGTH (Apache passes a chunked body that way) stdin is read to
 *   EOF within the limit. Reading has a deadline (EPOCHREG_CGI_TIMEOUT
 *   seconds from the start, default 30): then 408. The whole process has an
 *   alarm at the deadline plus the store's time (EPOCHREG_CGI_STORE_TIMEOUT,
 *   default 10 s): a store that hangs gets a prepared 504 and the process
 *   exits. It never waits forever.
 * - Problems of the set-up (an unreadable token file, a malformed
 *   EPOCHREG_DB, a store that cannot be reached) answer with a JSON error and
 *   write one line to stderr, which Apache puts in its error log; the exit
 *   status is 0 whenever a response was written.
 */
#include "fe.h"
#include "fe_head.h"
#include "fe_http.h"

#include <epochreg/epochreg.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where the store is when EPOCHREG_DB is not set: a directory the web
 * server's user (www-data) can write, created by the administrator. */
#define CGI_DEFAULT_DB "sqlite:/var/lib/epochreg/epochreg.db"
#define CGI_READ_TIMEOUT_DEFAULT 30
#define CGI_STORE_TIMEOUT_DEFAULT 10
/* Largest body limit EPOCHREG_BODY_MAX may set (as the daemon's --body-max). */
#define CGI_BODY_MAX_LIMIT (16u << 20)
/* A query longer than this is refused with 414 (Apache's own limit on the
 * request line is 8190 bytes; this only guards against other servers). */
#define CGI_QUERY_MAX 8192
/* After a 413 the program reads (and drops) up to this much of the body,
 * once its answer is out: Apache writes the whole body to the CGI, and a CGI
 * that exits without reading makes that write fail, after which Apache may
 * close the client's connection before the 413 reaches it. */
#define CGI_DRAIN_MAX (1u << 20)
/* Headers the request layer reads, and where they come from. */
#define CGI_HEADERS_MAX 4

typedef struct cgi_config {
    const char *db;
    const char *node;
    const char *token_file;
    const char *drain_file;
    fe_auth_scope auth_scope;
    unsigned body_max;
    unsigned read_timeout;
    unsigned store_timeout;
} cgi_config;

/* ---- output ---- */

/* Set once the first byte of the response went to stdout: from then on
 * the alarm handler must not write its own. */
static volatile sig_atomic_t output_started;
/* The prepared 504 the alarm handler writes (before any output). */
static char alarm_response[1024];
static size_t alarm_response_len;

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * The response as CGI output into @p b: "Status: 201 Created", the
 * response's headers, Content-Length (also for HEAD: the GET's length), a
 * blank line and, unless @p head, the body. Lines end in CRLF.
 */
static void cgi_format(fe_buf *b, const fe_response *resp, int head)
{
    fe_buf_put(b, "Status: ", 8);
    fe_buf_int(b, resp->status);
    fe_buf_put(b, " ", 1);
    fe_buf_put(b, resp->reason, strlen(resp->reason));
    fe_buf_put(b, "\r\n", 2);
    for (size_t i = 0; i < resp->header_count; i++) {
        const fe_response_header *h = &resp->headers[i];
        fe_buf_put(b, h->name, strlen(h->name));
        fe_buf_put(b, ": ", 2);
        fe_buf_put(b, h->value, strlen(h->value));
        fe_buf_put(b, "\r\n", 2);
    }
    fe_buf_put(b, "Content-Length: ", 16);
    fe_buf_int(b, (int64_t)resp->body_len);
    fe_buf_put(b, "\r\n\r\n", 4);
    if (!head && resp->body_len)
        fe_buf_put(b, resp->body, resp->body_len);
}

static int cgi_send(const fe_response *resp, int head)
{
    /* Headers are bounded (FE_RESPONSE_HEADERS_MAX values of
     * FE_HEADER_VALUE_SIZE); the body is the response's own size. */
    size_t size = 256 + FE_RESPONSE_HEADERS_MAX * (32 + FE_HEADER_VALUE_SIZE) +
                  (head ? 0 : resp->body_len);
    char *p = malloc(size);
    if (!p)
        return -1;
    fe_buf b = {p, size, 0, 0};
    cgi_format(&b, resp, head);
    int rc = -1;
    if (!b.full) {
        output_started = 1;
        rc = write_all(STDOUT_FILENO, p, b.len);
    }
    free(p);
    return rc;
}

/* One line on stderr: Apache's error log. */
static void log_line(const char *what, const char *detail)
{
    fprintf(stderr, "epochreg.cgi: %s%s%s\n", what, detail && detail[0] ? ": " : "",
            detail ? detail : "");
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "epochreg.cgi: the store did not answer in time; "
                              "answered 504\n";
    if (!output_started && alarm_response_len)
        (void)!write(STDOUT_FILENO, alarm_response, alarm_response_len);
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(0);
}

/* Prepares the 504 the alarm handler writes for this op, and arms it. */
static void arm_alarm(const fe_op *op, unsigned seconds)
{
    fe_response r;
    fe_response_init(&r);
    fe_http_error(&r, op, 504, "timeout",
                  "the store did not answer in time; the outcome is unknown: retry "
                  "with the same Idempotency-Key",
                  0);
    fe_buf b = {alarm_response, sizeof(alarm_response), 0, 0};
    cgi_format(&b, &r, op->head);
    alarm_response_len = b.full ? 0 : b.len;
    fe_response_clear(&r);
    alarm(seconds);
}

/* ---- configuration ---- */

/* A whole-string decimal in [min, max], or -1. */
static int parse_env_uint(unsigned *out, const char *name, unsigned min, unsigned max,
                          char *why, size_t why_size)
{
    const char *v = getenv(name);
    uint64_t u;
    if (!v)
        return 0;
    if (fe_parse_uint(&u, v, strlen(v), min, max, name, NULL) < 0) {
        snprintf(why, why_size, "%s must be an integer from %u to %u", name, min, max);
        return -1;
    }
    *out = (unsigned)u;
    return 0;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static int load_config(cgi_config *cfg, char *why, size_t why_size)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->db = env_nonempty("EPOCHREG_DB");
    if (!cfg->db)
        cfg->db = CGI_DEFAULT_DB;
    cfg->node = env_nonempty("EPOCHREG_NODE");
    cfg->token_file = env_nonempty("EPOCHREG_TOKEN_FILE");
    cfg->drain_file = env_nonempty("EPOCHREG_DRAIN_FILE");
    cfg->body_max = FE_BODY_MAX_DEFAULT;
    cfg->read_timeout = CGI_READ_TIMEOUT_DEFAULT;
    cfg->store_timeout = CGI_STORE_TIMEOUT_DEFAULT;
    const char *auth = env_nonempty("EPOCHREG_AUTH");
    if (!auth || !strcmp(auth, "writes")) {
        cfg->auth_scope = FE_AUTH_WRITES;
    } else if (!strcmp(auth, "all")) {
        cfg->auth_scope = FE_AUTH_ALL;
    } else {
        snprintf(why, why_size, "EPOCHREG_AUTH must be 'writes' or 'all'");
        return -1;
    }
    if (parse_env_uint(&cfg->body_max, "EPOCHREG_BODY_MAX", 1, CGI_BODY_MAX_LIMIT, why,
                       why_size) < 0 ||
        parse_env_uint(&cfg->read_timeout, "EPOCHREG_CGI_TIMEOUT", 1, 3600, why,
                       why_size) < 0 ||
        parse_env_uint(&cfg->store_timeout, "EPOCHREG_CGI_STORE_TIMEOUT", 1, 3600, why,
                       why_size) < 0)
        return -1;
    return 0;
}

/* ---- input ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum {
    BODY_OK = 0,
    BODY_BAD_LENGTH,
    BODY_TOO_LARGE,
    BODY_SHORT,
    BODY_TIMEOUT,
    BODY_ERROR
};

/*
 * Reads up to @p want bytes of stdin into @p buf before @p deadline_ms
 * (CLOCK_MONOTONIC). *got receives what was read; returns BODY_OK (want
 * bytes, or EOF first: the caller decides), BODY_TIMEOUT or BODY_ERROR.
 */
static int read_stdin(char *buf, size_t want, size_t *got, int64_t deadline_ms)
{
    *got = 0;
    while (*got < want) {
        int64_t left = deadline_ms - now_ms();
        if (left <= 0)
            return BODY_TIMEOUT;
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int pr = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return BODY_ERROR;
        }
        if (pr == 0)
            continue;
        ssize_t n = read(STDIN_FILENO, buf + *got, want - *got);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return BODY_ERROR;
        }
        if (n == 0)
            break; /* EOF */
        *got += (size_t)n;
    }
    return BODY_OK;
}

/* Reads and drops what the client sends, up to CGI_DRAIN_MAX bytes and
 * the deadline (the response is already out; stdout is closed first so the
 * server can finish it meanwhile). */
static void drain_stdin(int64_t deadline_ms)
{
    char buf[16384];
    size_t total = 0;
    while (total < CGI_DRAIN_MAX) {
        size_t got;
        if (read_stdin(buf, sizeof(buf), &got, deadline_ms) != BODY_OK || got == 0)
            return;
        total += got;
    }
}

/*
 * The request body, by CONTENT_LENGTH when given, else to EOF. *body is
 * malloc'ed (NULL for an empty body).
 */
static int read_body(char **body, size_t *len, size_t limit, int64_t deadline_ms)
{
    *body = NULL;
    *len = 0;
    const char *cl = getenv("CONTENT_LENGTH");
    if (cl) {
        uint64_t n;
        /* Digits only: no sign, no spaces, no hex (RELIABILITY.md §3.4 C5). */
        if (fe_parse_uint(&n, cl, strlen(cl), 0, UINT64_MAX, "CONTENT_LENGTH", NULL) < 0)
            return BODY_BAD_LENGTH;
        if (n > limit)
            return BODY_TOO_LARGE;
        if (n == 0)
            return BODY_OK;
        char *buf = malloc((size_t)n);
        if (!buf)
            return BODY_ERROR;
        size_t got;
        int rc = read_stdin(buf, (size_t)n, &got, deadline_ms);
        if (rc == BODY_OK && got < n)
            rc = BODY_SHORT;
        if (rc != BODY_OK) {
            free(buf);
            return rc;
        }
        *body = buf;
        *len = got;
        return BODY_OK;
    }
    /* No CONTENT_LENGTH: Apache's de-chunked body, or none. One byte more
     * than the limit tells "too large" from "exactly the limit". */
    char *buf = malloc(limit + 1);
    if (!buf)
        return BODY_ERROR;
    size_t got;
    int rc = read_stdin(buf, limit + 1, &got, deadline_ms);
    if (rc == BODY_OK && got > limit)
        rc = BODY_TOO_LARGE;
    if (rc != BODY_OK || got == 0) {
        free(buf);
        return rc;
    }
    *body = buf;
    *len = got;
    return BODY_OK;
}

/* Adds a header from an environment variable when it is set. */
static void header_from_env(fe_header *h, size_t *n, const char *name, const char *var)
{
    const char *v = getenv(var);
    if (!v)
        return;
    h[*n] = (fe_header){name, strlen(name), v, strlen(v)};
    (*n)++;
}

/* ---- the store call ---- */

static int draining(const cgi_config *cfg)
{
    struct stat st;
    return cfg->drain_file && stat(cfg->drain_file, &st) == 0;
}

/* Prometheus text for /metrics: what one CGI process can know. Request
 * counters and histograms live in long-running processes (epochregd; for
 * Apache, mod_status); a CGI process has served one request. */
static void render_metrics(fe_response *resp, const fe_op *op, int store_up)
{
    char text[512];
    int n = snprintf(text, sizeof(text),
                     "# HELP epochreg_store_up 1 when the store answered a ping.\n"
                     "# TYPE epochreg_store_up gauge\n"
                     "epochreg_store_up %d\n"
                     "# HELP epochreg_build_info The program answering, as a label.\n"
                     "# TYPE epochreg_build_info gauge\n"
                     "epochreg_build_info{version=\"%s\",frontend=\"cgi\"} 1\n",
                     store_up, epochreg_version(NULL, NULL, NULL));
    fe_http_render_text(resp, op, FE_METRICS_CONTENT_TYPE, text,
                        n > 0 && (size_t)n < sizeof(text) ? (size_t)n : 0);
}

/* Opens the store for a route that needs it; a failure is logged. */
static int open_store(epoch_store **out, const cgi_config *cfg, epoch_error *err)
{
    int rc = epoch_store_open(out, cfg->db, NULL, err);
    if (rc < 0)
        log_line("cannot open the store (EPOCHREG_DB)", err->message);
    return rc;
}

static void run_op(fe_response *resp, fe_op *op, const cgi_config *cfg)
{
    epoch_error err;
    int rc;
    if (op->kind == FE_OP_DONE)
        return;
    if (op->kind == FE_OP_READY && draining(cfg)) {
        fe_http_render_ready(resp, op, 1, 1);
        return;
    }
    /* From here on the store may hang (a connection that never completes,
     * a lock never granted): the alarm answers for it. */
    arm_alarm(op, cfg->store_timeout);
    epoch_store *store = NULL;
    rc = open_store(&store, cfg, &err);
    /* Readiness and metrics report a store that cannot be opened as down;
     * every other route answers with the error. A setting this installation
     * cannot use (a malformed URI, a backend left out of the build, libpq
     * missing) is the server's fault, not the request's: 500, with the
     * reason in the error log. */
    if (rc < 0 && op->kind != FE_OP_READY && op->kind != FE_OP_METRICS) {
        if (rc == EPOCH_EINVAL || rc == EPOCH_ENOTSUPPORTED)
            fe_http_error(resp, op, 500, "configuration",
                          "the server's store setting (EPOCHREG_DB) is not valid; see "
                          "the server's error log",
                          0);
        else
            fe_http_error_from(resp, op, rc, &err);
        return;
    }
    switch (op->kind) {
    case FE_OP_REGISTER: {
        epoch_record rec;
        rc = epoch_register(&rec, store, &op->entry, &err);
        if (rc < 0 && rc != EPOCH_EINVAL && rc != EPOCH_ECONFLICT)
            log_line("the store failed", err.message);
        fe_http_render_register(resp, op, rc, &rec, &err);
        break;
    }
    case FE_OP_LIST: {
        size_t cap = op->query.limit ? op->query.limit : EPOCH_LIST_DEFAULT;
        epoch_record *recs = malloc(cap * sizeof(*recs));
        size_t count = 0;
        int more = 0;
        if (!recs) {
            fe_http_error(resp, op, 503, "unavailable", "out of memory", 0);
            break;
        }
        rc = epoch_list(recs, cap, &count, &more, store, &op->query, &err);
        if (rc < 0 && rc != EPOCH_EINVAL)
            log_line("the store failed", err.message);
        fe_http_render_list(resp, op, rc, recs, count, more, rc < 0 ? &err : NULL);
        free(recs);
        break;
    }
    case FE_OP_GET: {
        epoch_record rec;
        rc = epoch_record_get(&rec, store, op->id, &err);
        if (rc < 0 && rc != EPOCH_ENOTFOUND)
            log_line("the store failed", err.message);
        fe_http_render_get(resp, op, rc, &rec, rc < 0 ? &err : NULL);
        break;
    }
    case FE_OP_READY:
    case FE_OP_METRICS:
        if (store && (rc = epoch_store_ping(store, &err)) < 0)
            log_line("the store does not answer", err.message);
        if (op->kind == FE_OP_READY)
            fe_http_render_ready(resp, op, rc == 0, 0);
        else
            render_metrics(resp, op, rc == 0);
        break;
    default:
        fe_http_error(resp, op, 500, "internal", "unknown operation", 0);
        break;
    }
    epoch_store_close(store);
}

/* ---- main ---- */

static void scrub_proxies(void)
{
    /* httpoxy: a client's "Proxy:" header arrives as HTTP_PROXY under some
     * servers; none of these may configure anything in this process. */
    static const char *const vars[] = {"HTTP_PROXY",  "http_proxy", "HTTPS_PROXY",
                                       "https_proxy", "ALL_PROXY",  "all_proxy",
                                       "NO_PROXY",    "no_proxy"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

int main(void)
{
    int64_t start_ms = now_ms();
    int64_t received_us = epoch_clock_system(NULL);
    scrub_proxies();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    cgi_config cfg;
    char why[160] = "";
    int cfg_ok = load_config(&cfg, why, sizeof(why)) == 0;

    const char *method = getenv("REQUEST_METHOD");
    const char *path = getenv("PATH_INFO");
    const char *query = getenv("QUERY_STRING");
    const char *script = getenv("SCRIPT_NAME");
    const char *https = getenv("HTTPS");
    const char *scheme = getenv("REQUEST_SCHEME");
    if (!path || !path[0])
        path = "/";

    fe_header headers[CGI_HEADERS_MAX];
    size_t header_count = 0;
    header_from_env(headers, &header_count, "Content-Type", "CONTENT_TYPE");
    if (getenv("HTTP_X_REQUEST_ID"))
        header_from_env(headers, &header_count, "X-Request-Id", "HTTP_X_REQUEST_ID");
    else
        header_from_env(headers, &header_count, "X-Request-Id", "UNIQUE_ID");
    header_from_env(headers, &header_count, "Idempotency-Key", "HTTP_IDEMPOTENCY_KEY");
    header_from_env(headers, &header_count, "Authorization", "HTTP_AUTHORIZATION");

    fe_request req = {
        .method = method ? method : "",
        .path = path,
        .path_len = strlen(path),
        .query = query && query[0] ? query : NULL,
        .query_len = query ? strlen(query) : 0,
        .headers = headers,
        .header_count = header_count,
        .peer = getenv("REMOTE_ADDR"),
        .https = (https && !strcasecmp(https, "on")) ||
                 (scheme && !strcasecmp(scheme, "https")),
        .received_us = received_us,
    };
    fe_auth *auth = NULL;
    fe_config fc = {.node = cfg_ok ? cfg.node : NULL,
                    .prefix = script ? script : "",
                    .body_max = cfg_ok ? cfg.body_max : FE_BODY_MAX_DEFAULT,
                    .auth_scope = cfg_ok ? cfg.auth_scope : FE_AUTH_WRITES};
    fe_op *op = calloc(1, sizeof(*op));
    fe_response resp;
    fe_response_init(&resp);
    char *body = NULL;
    epoch_error err;
    if (!op) {
        log_line("out of memory", NULL);
        static const char oom[] = "Status: 503 Service Unavailable\r\n"
                                  "Content-Type: application/json; charset=utf-8\r\n"
                                  "Retry-After: 1\r\n\r\n"
                                  "{\"error\":{\"status\":503,\"code\":\"unavailable\","
                                  "\"message\":\"out of memory\"}}\n";
        (void)write_all(STDOUT_FILENO, oom, sizeof(oom) - 1);
        return 0;
    }
    fe_op_init(op, &req, &fc);
    int drain = 0;

    if (!method || !method[0]) {
        log_line("REQUEST_METHOD is not set: not run as a CGI program", NULL);
        fe_http_error(&resp, op, 500, "configuration",
                      "the server did not pass REQUEST_METHOD", 0);
        goto send;
    }
    if (!cfg_ok || fe_config_check(&fc, &err) < 0) {
        log_line("configuration", cfg_ok ? err.message : why);
        fe_http_error(&resp, op, 500, "configuration",
                      "the server's epochreg settings are not valid; see the server's "
                      "error log",
                      0);
        goto send;
    }
    if (req.query_len > CGI_QUERY_MAX) {
        fe_http_error(&resp, op, 414, "uri_too_long", "the query string is too long", 0);
        goto send;
    }
    if (cfg.token_file) {
        int warn = 0;
        if (fe_auth_load(&auth, cfg.token_file, &warn, &err) < 0) {
            log_line("cannot load EPOCHREG_TOKEN_FILE", err.message);
            fe_http_error(&resp, op, 500, "configuration",
                          "the server's token file cannot be read; see the server's "
                          "error log",
                          0);
            goto send;
        }
        fc.auth = auth;
    }

    size_t body_len = 0;
    switch (read_body(&body, &body_len, cfg.body_max,
                      start_ms + (int64_t)cfg.read_timeout * 1000)) {
    case BODY_OK:
        break;
    case BODY_BAD_LENGTH:
        fe_http_error(&resp, op, 400, "bad_request",
                      "CONTENT_LENGTH is not a decimal number of bytes", 0);
        goto send;
    case BODY_TOO_LARGE:
        if (getenv("CONTENT_LENGTH")) {
            /* Refused from the head alone, as epochregd refuses such a head:
             * the same message, and a generated request id (nothing of a
             * refused head is echoed). */
            fe_request bare = req;
            bare.header_count = 0;
            fe_op_init(op, &bare, &fc);
        }
        fe_http_error(&resp, op, 413, "payload_too_large", FE_HEAD_MSG_TOO_LARGE, 0);
        drain = 1;
        goto send;
    case BODY_SHORT:
        fe_http_error(&resp, op, 400, "bad_request",
                      "the body ended before CONTENT_LENGTH bytes", 0);
        goto send;
    case BODY_TIMEOUT:
        log_line("the request body did not arrive in time", NULL);
        fe_http_error(&resp, op, 408, "request_timeout",
                      "the request body did not arrive in time", 0);
        goto send;
    default:
        log_line("cannot read the request body", strerror(errno));
        fe_http_error(&resp, op, 500, "internal", "cannot read the request body", 0);
        goto send;
    }
    req.body = body;
    req.body_len = body_len;

    fe_http_prepare(op, &resp, &req, &fc);
    run_op(&resp, op, &cfg);

send:
    if (cgi_send(&resp, op->head) < 0)
        log_line("cannot write the response", strerror(errno));
    alarm(0);
    if (drain) {
        close(STDOUT_FILENO);
        drain_stdin(start_ms + (int64_t)cfg.read_timeout * 1000);
    }
    fe_response_clear(&resp);
    fe_auth_free(auth);
    free(body);
    free(op);
    return 0;
}
