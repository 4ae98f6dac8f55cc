/*
 * The transport-free HTTP API (frontends/common/fe_http.h), driven directly
 * with constructed requests: every route and method, the order of checks,
 * every parameter and body rule of RELIABILITY.md §3.4 that this layer owns
 * (Q1-Q8, J1-J10), authentication (§3.7 X2, X4, X5), request ids, the exact
 * JSON of every response shape, next links, and allocation failures.
 *
 * Every check names the exact status and error code it expects.
 */
#include "httptest.h"

#include "fe_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 2026-11-21T21:55:12.123456Z, the request time of every test request. */
#define T_US INT64_C(1795298112123456)
#define MAX_HEADERS 16

/* ---- building requests ---- */

typedef struct treq {
    fe_request r;
    fe_header h[MAX_HEADERS];
    fe_config cfg;
    fe_op op;
    fe_response resp;
} treq;

static void rq(treq *t, const char *method, const char *target)
{
    memset(t, 0, sizeof(*t));
    const char *q = strchr(target, '?');
    t->r.method = method;
    t->r.path = target;
    t->r.path_len = q ? (size_t)(q - target) : strlen(target);
    if (q) {
        t->r.query = q + 1;
        t->r.query_len = strlen(q + 1);
    }
    t->r.headers = t->h;
    t->r.peer = "192.0.2.1";
    t->r.received_us = T_US;
    fe_response_init(&t->resp);
}

static void rq_header(treq *t, const char *name, const char *value)
{
    ck_assert_uint_lt(t->r.header_count, MAX_HEADERS);
    fe_header *h = &t->h[t->r.header_count++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

/* A body of n bytes with Content-Type @p ct (NULL: no Content-Type). */
static void rq_bodyn(treq *t, const char *ct, const char *body, size_t n)
{
    if (ct)
        rq_header(t, "Content-Type", ct);
    t->r.body = body;
    t->r.body_len = n;
}

static void rq_body(treq *t, const char *body)
{
    rq_bodyn(t, "application/json", body, strlen(body));
}

static void run(treq *t)
{
    fe_http_prepare(&t->op, &t->resp, &t->r, &t->cfg);
}

/* One request with everything else default: prepare it. */
static void req(treq *t, const char *method, const char *target)
{
    rq(t, method, target);
    run(t);
}

/* ---- checking responses ---- */

static const char *hdr(const fe_response *resp, const char *name)
{
    return fe_response_header_get(resp, name);
}

/* The body as a NUL-terminated string (static buffer; tests are forked). */
static const char *body_str(const fe_response *resp)
{
    static char buf[65536];
    ck_assert_ptr_nonnull(resp->body);
    ck_assert_uint_lt(resp->body_len, sizeof(buf));
    memcpy(buf, resp->body, resp->body_len);
    buf[resp->body_len] = '\0';
    return buf;
}

/* What every response carries. */
static void common_headers(int line, const fe_response *resp, const fe_op *op)
{
    ck_assert_msg(hdr(resp, "Cache-Control") &&
                      strcmp(hdr(resp, "Cache-Control"), "no-store") == 0,
                  "line %d: Cache-Control", line);
    if (op)
        ck_assert_msg(hdr(resp, "X-Request-Id") &&
                          strcmp(hdr(resp, "X-Request-Id"), op->request_id) == 0,
                      "line %d: X-Request-Id", line);
    ck_assert_msg(resp->reason && strcmp(resp->reason, fe_http_reason(resp->status)) == 0,
                  "line %d: reason", line);
}

/* An error from step 1: the op is done. */
#define EXPECT_ERROR(resp, op, status, code)                                             \
    expect_error_(__LINE__, (resp), (op), (status), (code), 1)
/* An error rendered in step 3 (or by a transport): the op keeps its kind. */
#define EXPECT_ERROR3(resp, op, status, code)                                            \
    expect_error_(__LINE__, (resp), (op), (status), (code), 0)

static void expect_error_(int line, const fe_response *resp, const fe_op *op, int status,
                          const char *code, int done)
{
    json_error_t jerr;
    ck_assert_msg(resp->status == status, "line %d: status %d, expected %d (body %.*s)",
                  line, resp->status, status, (int)resp->body_len,
                  resp->body ? resp->body : "");
    ck_assert_msg(!done || op == NULL || op->kind == FE_OP_DONE, "line %d: kind %d", line,
                  op ? (int)op->kind : -1);
    ck_assert_msg(
        hdr(resp, "Content-Type") &&
            strcmp(hdr(resp, "Content-Type"), "application/json; charset=utf-8") == 0,
        "line %d: Content-Type", line);
    common_headers(line, resp, op);
    ck_assert_msg(resp->body_len > 0 && resp->body[resp->body_len - 1] == '\n',
                  "line %d: body ends in a newline", line);
    json_t *j = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "line %d: body is JSON: %s", line, jerr.text);
    json_t *e = json_object_get(j, "error");
    ck_assert_msg(json_object_size(j) == 1 && json_object_size(e) == 3,
                  "line %d: error shape", line);
    ck_assert_msg(json_integer_value(json_object_get(e, "status")) == status,
                  "line %d: error.status", line);
    const char *got = json_string_value(json_object_get(e, "code"));
    ck_assert_msg(got && strcmp(got, code) == 0, "line %d: code %s, expected %s", line,
                  got ? got : "(none)", code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    ck_assert_msg(msg && msg[0], "line %d: message", line);
    json_decref(j);
}

/* The request was accepted for work: kind, and a response left untouched. */
#define EXPECT_KIND(t, k) expect_kind_(__LINE__, (t), (k))

static void expect_kind_(int line, const treq *t, fe_op_kind kind)
{
    ck_assert_msg(t->op.kind == kind, "line %d: kind %d, expected %d (status %d, %.*s)",
                  line, (int)t->op.kind, (int)kind, t->resp.status, (int)t->resp.body_len,
                  t->resp.body ? t->resp.body : "");
    ck_assert_msg(t->resp.status == 0 && t->resp.body == NULL &&
                      t->resp.header_count == 0,
                  "line %d: response untouched", line);
}

#define EXPECT_BODY(resp, text) expect_body_(__LINE__, (resp), (text))

static void expect_body_(int line, const fe_response *resp, const char *text)
{
    ck_assert_msg(resp->body_len == strlen(text) &&
                      memcmp(resp->body, text, resp->body_len) == 0,
                  "line %d: body\n  got      %.*s\n  expected %s", line,
                  (int)resp->body_len, resp->body ? resp->body : "", text);
}

/* The message of an error body (static buffer). */
static const char *error_message(const fe_response *resp)
{
    static char buf[1024];
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *m =
        json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    snprintf(buf, sizeof(buf), "%s", m ? m : "");
    json_decref(j);
    return buf;
}

static epoch_record fixed_record(int64_t id)
{
    epoch_record r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.epoch_us = T_US;
    r.protocol = EPOCH_PROTOCOL_HTTP;
    strcpy(r.client_ip, "127.0.0.1");
    strcpy(r.request_id, "req-1");
    strcpy(r.node, "local");
    strcpy(r.idempotency_key, "never-rendered");
    return r;
}

#define RECORD_42_JSON                                                                   \
    "{\"id\":42,\"epoch\":1795298112,\"epoch_us\":1795298112123456,"                     \
    "\"time\":\"2026-11-21T21:55:12.123456Z\",\"tag\":null,\"client_ip\":\"127.0.0.1\"," \
    "\"protocol\":\"http\",\"request_id\":\"req-1\",\"node\":\"local\"}"

/* ---- routes and methods ---- */

typedef struct route_case {
    const char *target;
    fe_route route;
    const char *name;
    const char *allow;
    int get;  /* expected kind for GET/HEAD, or -1 when not allowed */
    int post; /* expected kind for POST, or -1 */
} route_case;

static const route_case route_cases[] = {
    {"/epochs", FE_ROUTE_EPOCHS, "/epochs", "GET, HEAD, POST", FE_OP_LIST,
     FE_OP_REGISTER},
    {"/epochs/42", FE_ROUTE_EPOCH, "/epochs/{id}", "GET, HEAD", FE_OP_GET, -1},
    {"/now", FE_ROUTE_NOW, "/now", "GET, HEAD", FE_OP_DONE, -1},
    {"/healthz", FE_ROUTE_HEALTHZ, "/healthz", "GET, HEAD", FE_OP_DONE, -1},
    {"/readyz", FE_ROUTE_READYZ, "/readyz", "GET, HEAD", FE_OP_READY, -1},
    {"/metrics", FE_ROUTE_METRICS, "/metrics", "GET, HEAD", FE_OP_METRICS, -1},
    {"/EpochRegisterTime", FE_ROUTE_EPOCH_REGISTER_TIME, "/EpochRegisterTime", "POST", -1,
     FE_OP_REGISTER},
    {"/storeEpochTime", FE_ROUTE_STORE_EPOCH_TIME, "/storeEpochTime", "POST", -1,
     FE_OP_REGISTER},
    {"/getEpoch", FE_ROUTE_GET_EPOCH, "/getEpoch", "GET, HEAD", FE_OP_LIST, -1},
    {"/getEpochStore", FE_ROUTE_GET_EPOCH_STORE, "/getEpochStore", "GET, HEAD",
     FE_OP_LIST, -1},
    {"/app", FE_ROUTE_APP, "/app", "GET, HEAD, POST", FE_OP_LIST, FE_OP_REGISTER},
};
#define ROUTE_CASES ((int)(sizeof(route_cases) / sizeof(route_cases[0])))

static const char *const methods[] = {"GET",   "HEAD",    "POST",  "PUT",     "DELETE",
                                      "PATCH", "OPTIONS", "TRACE", "CONNECT", "get",
                                      "Post",  "FOO",     ""};
#define METHODS ((int)(sizeof(methods) / sizeof(methods[0])))

/* Loop index = route * METHODS + method. */
START_TEST(route_method_matrix)
{
    const route_case *c = &route_cases[_i / METHODS];
    const char *m = methods[_i % METHODS];
    treq t;
    req(&t, m, c->target);
    int expected = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? c->get
                   : strcmp(m, "POST") == 0                        ? c->post
                                                                   : -1;
    ck_assert_int_eq(t.op.route, c->route);
    ck_assert_int_eq(t.op.head, strcmp(m, "HEAD") == 0);
    if (expected < 0) {
        EXPECT_ERROR(&t.resp, &t.op, 405, "method_not_allowed");
        ck_assert_str_eq(hdr(&t.resp, "Allow"), c->allow);
        /* The message never repeats the method. */
        ck_assert_ptr_null(strstr(error_message(&t.resp), "FOO"));
    } else if (expected == FE_OP_DONE) {
        ck_assert_int_eq(t.op.kind, FE_OP_DONE);
        ck_assert_int_eq(t.resp.status, 200);
        ck_assert_ptr_null(hdr(&t.resp, "Allow"));
    } else {
        EXPECT_KIND(&t, (fe_op_kind)expected);
    }
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(route_names_and_allow)
{
    for (int i = 0; i < ROUTE_CASES; i++) {
        const route_case *c = &route_cases[i];
        ck_assert_str_eq(fe_route_name(c->route), c->name);
        ck_assert_str_eq(fe_route_allow(c->route), c->allow);
        ck_assert_int_eq(fe_route_find(c->target, strlen(c->target)), c->route);
    }
    ck_assert_str_eq(fe_route_name(FE_ROUTE_NONE), "none");
    ck_assert_str_eq(fe_route_allow(FE_ROUTE_NONE), "");
    ck_assert_str_eq(fe_route_name(FE_ROUTE_COUNT), "none");
    ck_assert_str_eq(fe_route_allow((fe_route)-1), "");
    ck_assert_int_eq(fe_route_find(NULL, 0), FE_ROUTE_NONE);
    /* The length counts, not a NUL. */
    ck_assert_int_eq(fe_route_find("/epochsX", 7), FE_ROUTE_EPOCHS);
    ck_assert_int_eq(fe_route_find("/epochs", 6), FE_ROUTE_NONE);
}
END_TEST

/* Paths that are no route, whatever the method (Q7 and friends). */
static const char *const unknown_paths[] = {
    "/EPOCHS",
    "/Epochs",
    "/epochs/",
    "/epochs//",
    "//epochs",
    "//etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/epochs/../../../etc/passwd",
    "/epochs/../x",
    "/epochs/1/",
    "/epochs/1/x",
    "/epochs%2F1",
    "/%65pochs",
    "/epochs.json",
    "/epochs%00.json",
    "/now/",
    "/healthz/x",
    "/getepoch",
    "/app/",
    "/",
    "",
    "epochs",
    "/cgi-bin/epochreg.cgi/epochs",
};
#define UNKNOWN_PATHS ((int)(sizeof(unknown_paths) / sizeof(unknown_paths[0])))

START_TEST(unknown_path_404)
{
    static const char *const ms[] = {"GET", "HEAD", "POST", "DELETE", "FOO"};
    for (size_t m = 0; m < sizeof(ms) / sizeof(ms[0]); m++) {
        treq t;
        rq(&t, ms[m], unknown_paths[_i]);
        /* Even with auth on for everything, 404 comes first. */
        t.cfg.auth_scope = FE_AUTH_ALL;
        run(&t);
        EXPECT_ERROR(&t.resp, &t.op, 404, "not_found");
        ck_assert_int_eq(t.op.route, FE_ROUTE_NONE);
        ck_assert_ptr_null(hdr(&t.resp, "Allow"));
        fe_response_clear(&t.resp);
    }
}
END_TEST

START_TEST(path_with_nul_404)
{
    treq t;
    rq(&t, "GET", "/epochs");
    t.r.path = "/epochs\0.json";
    t.r.path_len = 13;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 404, "not_found");
    fe_response_clear(&t.resp);
    rq(&t, "GET", "/epochs");
    t.r.path = NULL;
    t.r.path_len = 0;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 404, "not_found");
    fe_response_clear(&t.resp);
}
END_TEST

/* Q6: the id segment. */
static const char *const bad_ids[] = {
    "/epochs/abc",
    "/epochs/-1",
    "/epochs/1.0",
    "/epochs/9223372036854775808",
    "/epochs/1%00",
    "/epochs/+1",
    "/epochs/%201",
    "/epochs/0x10",
    "/epochs/..",
    "/epochs/1a",
    "/epochs/99999999999999999999999",
};

START_TEST(bad_id_400)
{
    treq t;
    req(&t, "GET", bad_ids[_i]);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_int_eq(t.op.route, FE_ROUTE_EPOCH);
    ck_assert_ptr_nonnull(strstr(error_message(&t.resp), "id"));
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(good_ids)
{
    treq t;
    req(&t, "GET", "/epochs/9223372036854775807");
    EXPECT_KIND(&t, FE_OP_GET);
    ck_assert_int_eq(t.op.id, INT64_MAX);
    req(&t, "HEAD", "/epochs/007");
    EXPECT_KIND(&t, FE_OP_GET);
    ck_assert_int_eq(t.op.id, 7);
    ck_assert_int_eq(t.op.head, 1);
    req(&t, "GET", "/epochs/1");
    EXPECT_KIND(&t, FE_OP_GET);
    ck_assert_int_eq(t.op.id, 1);
    /* Ids start at 1: 0 is a well-formed id no record has. */
    req(&t, "GET", "/epochs/0");
    EXPECT_ERROR(&t.resp, &t.op, 404, "not_found");
    fe_response_clear(&t.resp);
}
END_TEST

/* 404, then 405, then 401, then the input: each check hides the later ones. */
START_TEST(order_of_checks)
{
    fe_auth *auth = NULL;
    treq t;
    char path[] = "/tmp/fe_http_order_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "0123456789abcdef\n", 17), 17);
    close(fd);
    ck_assert_int_eq(fe_auth_load(&auth, path, NULL, NULL), 0);
    unlink(path);

    /* 405 before 401: POST /now with everything behind a token. */
    rq(&t, "POST", "/now?bad=1");
    t.cfg.auth = auth;
    t.cfg.auth_scope = FE_AUTH_ALL;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 405, "method_not_allowed");
    ck_assert_str_eq(hdr(&t.resp, "Allow"), "GET, HEAD");
    fe_response_clear(&t.resp);

    /* 401 before 400 (query), 413 (size) and 415 (type). */
    rq(&t, "POST", "/epochs?bad=1");
    t.cfg.auth = auth;
    t.cfg.body_max = 4;
    rq_bodyn(&t, "text/plain", "{\"x\":1}", 7);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 401, "unauthorized");
    fe_response_clear(&t.resp);

    /* 401 before a bad id. */
    rq(&t, "GET", "/epochs/abc");
    t.cfg.auth = auth;
    t.cfg.auth_scope = FE_AUTH_ALL;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 401, "unauthorized");
    fe_response_clear(&t.resp);

    /* With the token: the query (400) before the body size (413). */
    rq(&t, "POST", "/epochs?bad=1");
    t.cfg.auth = auth;
    t.cfg.body_max = 4;
    rq_header(&t, "Authorization", "Bearer 0123456789abcdef");
    rq_bodyn(&t, "text/plain", "{\"x\":1}", 7);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    fe_response_clear(&t.resp);

    /* 413 before 415. */
    rq(&t, "POST", "/epochs");
    t.cfg.body_max = 4;
    rq_bodyn(&t, "text/plain", "{\"x\":1}", 7);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 413, "payload_too_large");
    fe_response_clear(&t.resp);

    /* 415 before a malformed body. */
    rq(&t, "POST", "/epochs");
    rq_bodyn(&t, "text/plain", "{", 1);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 415, "unsupported_media_type");
    fe_response_clear(&t.resp);

    /* A malformed body before a malformed Idempotency-Key. */
    rq(&t, "POST", "/epochs");
    rq_header(&t, "Idempotency-Key", "has space");
    rq_body(&t, "{\"x\":1}");
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_body");
    fe_response_clear(&t.resp);
    fe_auth_free(auth);
}
END_TEST

START_TEST(head_everywhere_get_is)
{
    treq t;
    req(&t, "HEAD", "/epochs?limit=5");
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_int_eq(t.op.head, 1);
    ck_assert_uint_eq(t.op.query.limit, 5);
    /* A complete response is built in full; the transport drops the body. */
    req(&t, "HEAD", "/healthz");
    ck_assert_int_eq(t.op.head, 1);
    ck_assert_int_eq(t.resp.status, 200);
    EXPECT_BODY(&t.resp, "{\"status\":\"ok\"}\n");
    fe_response_clear(&t.resp);
    req(&t, "HEAD", "/storeEpochTime");
    ck_assert_int_eq(t.op.head, 1);
    EXPECT_ERROR(&t.resp, &t.op, 405, "method_not_allowed");
    ck_assert_str_eq(hdr(&t.resp, "Allow"), "POST");
    fe_response_clear(&t.resp);
    req(&t, "GET", "/getEpochStore");
    ck_assert_int_eq(t.op.head, 0);
}
END_TEST

/* ---- query strings (Q1-Q5, and Q8: every list path alike) ---- */

static const char *const list_paths[] = {"/epochs", "/getEpoch", "/getEpochStore",
                                         "/app"};
#define LIST_PATHS 4

static const char *const bad_queries[] = {
    /* Q1 */
    "limit=0",
    "limit=1001",
    "limit=-1",
    "limit=abc",
    "limit=+5",
    "limit=%205",
    "limit=5.0",
    "limit=0x10",
    "limit=10&limit=20",
    "limit=",
    "limit",
    "limit=%2B5",
    "limit=5%20",
    "limit=1e2",
    "limit=18446744073709551617",
    /* Q2 */
    "after=-1",
    "after=9223372036854775808",
    "after=1.5",
    "after=%00",
    "after=1&after=2",
    "before=-1",
    "before=9223372036854775808",
    "before=1.5",
    "before=%00",
    "before=1&before=1",
    "after=",
    /* Q3 */
    "since=nan",
    "since=inf",
    "since=-inf",
    "since=1e400",
    "since=yesterday",
    "since=1.1234567",
    "until=nan",
    "until=1.1234567",
    "since=1.",
    "since=.5",
    "since=-1",
    "until=253402300800",
    "since=2026-11-21T21:55:12Z",
    "since=1&since=1",
    "until=",
    "since=+1",
    /* Q4 */
    "order=",
    "order=sideways",
    "order=asc%00",
    "order=ASC",
    "order=asc&order=desc",
    "order=%20asc",
    "order=asc+",
    /* Q5 */
    "tag="
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "tag=%ff",
    "tag=%c0%af",
    "tag=",
    "tag",
    "tag=%01",
    "tag=%0d%0aSet-Cookie:%20a=b",
    "tag=%7f",
    "tag=%c2%85",
    "tag=a&tag=b",
    "tag=%ed%a0%80",
    "tag=a%00b",
    "tag=%09",
    /* percent-decoding and names */
    "limit=%",
    "limit=%2",
    "limit=%zz",
    "limit=%g0",
    "%=1",
    "=5",
    "=",
    "x=1",
    "LIMIT=5",
    "limit%3D5",
    "foo",
    "%00=1",
    "limit=5&x=1",
    "limit=5&=",
    "cursor=1",
    "page=2",
    "tag=a&%zz",
    "Limit=5",
    "limit =5",
    "%6c%69%6d%69%74%00=5",
};
#define BAD_QUERIES ((int)(sizeof(bad_queries) / sizeof(bad_queries[0])))

START_TEST(bad_query_400)
{
    char target[512];
    for (int p = 0; p < LIST_PATHS; p++) {
        treq t;
        snprintf(target, sizeof(target), "%s?%s", list_paths[p], bad_queries[_i]);
        req(&t, p == 1 ? "HEAD" : "GET", target);
        EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
        /* Nothing from the query reaches a response header. */
        for (size_t h = 0; h < t.resp.header_count; h++)
            ck_assert_ptr_null(strpbrk(t.resp.headers[h].value, "\r\n"));
        ck_assert_ptr_null(strstr(body_str(&t.resp), "Set-Cookie"));
        fe_response_clear(&t.resp);
    }
}
END_TEST

/* The 129-byte tag in Q5, spelled out so the count is certain. */
START_TEST(query_tag_length_boundaries)
{
    char target[2048];
    char tag[1024];
    treq t;

    memset(tag, 'a', 128);
    tag[128] = '\0';
    snprintf(target, sizeof(target), "/epochs?tag=%s", tag);
    req(&t, "GET", target);
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_uint_eq(strlen(t.op.query.tag), 128);

    snprintf(target, sizeof(target), "/epochs?tag=%sa", tag);
    req(&t, "GET", target);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&t.resp), "tag is longer than 128 bytes");
    fe_response_clear(&t.resp);

    /* 64 x "é" = 128 bytes: the limit counts bytes, not characters. */
    tag[0] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(tag, "%C3%A9");
    snprintf(target, sizeof(target), "/getEpoch?tag=%s", tag);
    req(&t, "GET", target);
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_uint_eq(strlen(t.op.query.tag), 128);
    ck_assert_int_eq(memcmp(t.op.query.tag, "\xc3\xa9", 2), 0);

    snprintf(target, sizeof(target), "/getEpoch?tag=%s%%C3%%A9", tag);
    req(&t, "GET", target);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    fe_response_clear(&t.resp);

    /* A decoded value far past any limit is refused, not truncated. */
    strcpy(target, "/epochs?before=");
    for (int i = 0; i < 1100; i++)
        strcat(target, "0");
    strcat(target, "5");
    req(&t, "GET", target);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&t.resp), "before is too long");
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(query_messages_name_the_parameter_only)
{
    treq t;
    req(&t, "GET", "/epochs?limit=SECRETCANARY");
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&t.resp), "limit must be an integer from 1 to 1000");
    fe_response_clear(&t.resp);

    req(&t, "GET", "/epochs?token=SECRETCANARY");
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_ptr_null(strstr(body_str(&t.resp), "SECRETCANARY"));
    ck_assert_ptr_null(strstr(body_str(&t.resp), "token"));
    fe_response_clear(&t.resp);

    req(&t, "GET", "/epochs?tag=SECRETCANARY%01");
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_ptr_null(strstr(body_str(&t.resp), "SECRETCANARY"));
    fe_response_clear(&t.resp);

    req(&t, "GET", "/epochs?order=SECRETCANARY");
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&t.resp), "order must be asc or desc");
    fe_response_clear(&t.resp);

    req(&t, "GET", "/epochs?since=1&since=2");
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&t.resp), "since is given more than once");
    fe_response_clear(&t.resp);

    req(&t, "GET", "/epochs?SECRETCANARY=%zz");
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_ptr_null(strstr(body_str(&t.resp), "SECRETCANARY"));
    fe_response_clear(&t.resp);
}
END_TEST

/* The query is its length, not up to a NUL: bytes after it are not read. */
START_TEST(query_length_is_respected)
{
    treq t;
    rq(&t, "GET", "/epochs?tag=%41");
    t.r.query_len = 6; /* "tag=%4" */
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    fe_response_clear(&t.resp);
    rq(&t, "GET", "/epochs?limit=55");
    t.r.query_len = 7; /* "limit=5" */
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_uint_eq(t.op.query.limit, 5);
    /* A NUL inside the given length is a byte like any other. */
    rq(&t, "GET", "/epochs?limit=5");
    t.r.query = "limit=5\0&x";
    t.r.query_len = 10;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    fe_response_clear(&t.resp);
    rq(&t, "GET", "/epochs");
    t.r.query = "";
    t.r.query_len = 0;
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
}
END_TEST

START_TEST(good_queries)
{
    treq t;
    const epoch_query *q = &t.op.query;

    /* Defaults: no query, an empty one, only separators. */
    static const char *const empty[] = {"/epochs", "/epochs?", "/epochs?&",
                                        "/epochs?&&&"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        req(&t, "GET", empty[i]);
        EXPECT_KIND(&t, FE_OP_LIST);
        ck_assert_uint_eq(q->version, EPOCH_QUERY_VERSION);
        ck_assert_uint_eq(q->limit, 100);
        ck_assert_int_eq(q->order, EPOCH_ORDER_DESC);
        ck_assert_int_eq(q->after, EPOCH_UNSET);
        ck_assert_int_eq(q->before, EPOCH_UNSET);
        ck_assert_int_eq(q->since_us, EPOCH_UNSET);
        ck_assert_int_eq(q->until_us, EPOCH_UNSET);
        ck_assert_ptr_null(q->tag);
    }

    req(&t, "GET",
        "/app?&&limit=1000&order=asc&after=0&before=9223372036854775807"
        "&since=0.000001&until=1795298112.5&tag=a+b%2Bc%C3%A9&");
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_uint_eq(q->limit, 1000);
    ck_assert_int_eq(q->order, EPOCH_ORDER_ASC);
    ck_assert_int_eq(q->after, 0);
    ck_assert_int_eq(q->before, INT64_MAX);
    ck_assert_int_eq(q->since_us, 1);
    ck_assert_int_eq(q->until_us, INT64_C(1795298112500000));
    ck_assert_str_eq(q->tag, "a b+c\xc3\xa9");
    ck_assert_ptr_eq(q->tag, t.op.query_tag_);

    req(&t, "GET", "/epochs?limit=1&order=desc&since=5&until=5");
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_uint_eq(q->limit, 1);
    ck_assert_int_eq(q->order, EPOCH_ORDER_DESC);
    /* since >= until is an empty list, not an error (DESIGN.md). */
    ck_assert_int_eq(q->since_us, 5000000);
    ck_assert_int_eq(q->until_us, 5000000);

    /* Names are decoded too; leading zeros are digits. */
    req(&t, "GET", "/getEpoch?%6cimit=0007&until=253402300799.999999");
    EXPECT_KIND(&t, FE_OP_LIST);
    ck_assert_uint_eq(q->limit, 7);
    ck_assert_int_eq(q->until_us, EPOCH_TIME_MAX);
}
END_TEST

/* Routes that are not lists take no parameter at all. */
START_TEST(no_parameters_elsewhere)
{
    static const struct {
        const char *method, *target;
    } bad[] = {
        {"GET", "/now?x=1"},           {"GET", "/healthz?x"},
        {"GET", "/readyz?limit=5"},    {"HEAD", "/metrics?x="},
        {"GET", "/epochs/1?limit=5"},  {"POST", "/epochs?tag=a"},
        {"POST", "/app?limit=5"},      {"POST", "/EpochRegisterTime?x"},
        {"POST", "/storeEpochTime?="}, {"GET", "/healthz?%zz"},
        {"GET", "/now?%00"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        treq t;
        req(&t, bad[i].method, bad[i].target);
        EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
        fe_response_clear(&t.resp);
    }
    treq t;
    req(&t, "GET", "/now?");
    ck_assert_int_eq(t.resp.status, 200);
    fe_response_clear(&t.resp);
    req(&t, "GET", "/healthz?&");
    ck_assert_int_eq(t.resp.status, 200);
    fe_response_clear(&t.resp);
    req(&t, "GET", "/epochs/5?");
    EXPECT_KIND(&t, FE_OP_GET);
    req(&t, "POST", "/epochs?&&");
    EXPECT_KIND(&t, FE_OP_REGISTER);
    req(&t, "GET", "/readyz?");
    EXPECT_KIND(&t, FE_OP_READY);
    req(&t, "GET", "/metrics?");
    EXPECT_KIND(&t, FE_OP_METRICS);
}
END_TEST

/* ---- bodies (J1-J9) on every registering path ---- */

static const char *const register_paths[] = {"/epochs", "/EpochRegisterTime",
                                             "/storeEpochTime", "/app"};
#define REGISTER_PATHS 4

typedef struct body_case {
    const char *body;
    size_t len; /* 0: strlen */
    const char *code;
} body_case;

static const body_case bad_bodies[] = {
    /* J1: not one object */
    {"{", 0, "invalid_json"},
    {"{} x", 0, "invalid_json"},
    {"[]", 0, "invalid_json"},
    {"1", 0, "invalid_json"},
    {"\"s\"", 0, "invalid_json"},
    {"null", 0, "invalid_json"},
    {"true", 0, "invalid_json"},
    {" ", 0, "invalid_json"},
    {"\r\n\t ", 0, "invalid_json"},
    {"{}{}", 0, "invalid_json"},
    {"[{\"tag\":\"a\"}]", 0, "invalid_json"},
    {"\xef\xbb\xbf{}", 0, "invalid_json"},
    {"{}\0", 3, "invalid_json"},
    {"{\"tag\":\"a\0\"}", 11, "invalid_json"},
    {"{'tag':'a'}", 0, "invalid_json"},
    {"{\"tag\":\"a\",}", 0, "invalid_json"},
    /* J2: not UTF-8 */
    {"{\"tag\":\"\xc3\"}", 0, "invalid_json"},
    {"{\"tag\":\"\xc0\xaf\"}", 0, "invalid_json"},
    {"{\"tag\":\"\xed\xa0\x80\"}", 0, "invalid_json"},
    {"{\"tag\":\"\xff\"}", 0, "invalid_json"},
    {"{\"\xff\":1}", 0, "invalid_json"},
    /* J3: escapes and control characters */
    {"{\"tag\":\"\\ud800\"}", 0, "invalid_json"},
    {"{\"tag\":\"\\udc00x\"}", 0, "invalid_json"},
    {"{\"tag\":\"\\u0000\"}", 0, "invalid_json"},
    {"{\"tag\":\"a\x01\"}", 0, "invalid_json"},
    {"{\"tag\":\"\\u001b[31m\"}", 0, "invalid_body"},
    {"{\"tag\":\"\\u007f\"}", 0, "invalid_body"},
    {"{\"tag\":\"a\x7f\"}", 0, "invalid_body"},
    {"{\"tag\":\"a\\nb\"}", 0, "invalid_body"},
    {"{\"tag\":\"\\u0085\"}", 0, "invalid_body"},
    /* J4: tag values */
    {"{\"tag\":\"\"}", 0, "invalid_body"},
    {"{\"tag\":1}", 0, "invalid_body"},
    {"{\"tag\":1.5}", 0, "invalid_body"},
    {"{\"tag\":true}", 0, "invalid_body"},
    {"{\"tag\":[]}", 0, "invalid_body"},
    {"{\"tag\":{}}", 0, "invalid_body"},
    {"{\"tag\":[\"a\"]}", 0, "invalid_body"},
    /* J5: duplicates */
    {"{\"tag\":\"a\",\"tag\":\"b\"}", 0, "invalid_json"},
    {"{\"tag\":null,\"tag\":null}", 0, "invalid_json"},
    /* members */
    {"{\"x\":1}", 0, "invalid_body"},
    {"{\"tag\":\"a\",\"x\":null}", 0, "invalid_body"},
    {"{\"TAG\":\"a\"}", 0, "invalid_body"},
    {"{\"\":\"a\"}", 0, "invalid_body"},
    {"{\"tag\\u0000\":\"a\"}", 0, "invalid_json"},
};
#define BAD_BODIES ((int)(sizeof(bad_bodies) / sizeof(bad_bodies[0])))

START_TEST(bad_body_400)
{
    const body_case *c = &bad_bodies[_i];
    for (int p = 0; p < REGISTER_PATHS; p++) {
        treq t;
        rq(&t, "POST", register_paths[p]);
        rq_bodyn(&t, "application/json", c->body, c->len ? c->len : strlen(c->body));
        run(&t);
        EXPECT_ERROR(&t.resp, &t.op, 400, c->code);
        fe_response_clear(&t.resp);
    }
}
END_TEST

START_TEST(body_tag_length_boundaries)
{
    char body[1024];
    char tag[512];
    treq t;
    /* J4: 64 x "é" is 128 bytes: accepted. */
    tag[0] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(tag, "\xc3\xa9");
    snprintf(body, sizeof(body), "{\"tag\":\"%s\"}", tag);
    rq(&t, "POST", "/epochs");
    rq_body(&t, body);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.entry.tag, tag);
    ck_assert_ptr_eq(t.op.entry.tag, t.op.tag_);

    /* The same 128 bytes written as \u escapes. */
    body[0] = '\0';
    strcat(body, "{\"tag\":\"");
    for (int i = 0; i < 64; i++)
        strcat(body, "\\u00e9");
    strcat(body, "\"}");
    rq(&t, "POST", "/app");
    rq_body(&t, body);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.entry.tag, tag);

    /* 129 bytes: 64 x "é" and one "a". */
    snprintf(body, sizeof(body), "{\"tag\":\"%sa\"}", tag);
    rq(&t, "POST", "/epochs");
    rq_body(&t, body);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_body");
    ck_assert_str_eq(error_message(&t.resp), "tag is longer than 128 bytes");
    fe_response_clear(&t.resp);

    /* 128 and 129 ASCII bytes. */
    memset(tag, 'x', 128);
    tag[128] = '\0';
    snprintf(body, sizeof(body), "{\"tag\":\"%s\"}", tag);
    rq(&t, "POST", "/storeEpochTime");
    rq_body(&t, body);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_uint_eq(strlen(t.op.entry.tag), 128);
    snprintf(body, sizeof(body), "{\"tag\":\"%sx\"}", tag);
    rq(&t, "POST", "/storeEpochTime");
    rq_body(&t, body);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_body");
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(good_bodies)
{
    static const struct {
        const char *ct, *body, *tag;
    } good[] = {
        {"application/json", "{}", NULL},
        {"application/json", "{\"tag\":null}", NULL},
        {"application/json", "{\"tag\":\"device-7\"}", "device-7"},
        {"application/json", " \r\n{ \"tag\" :\t\"a b\" }\n ", "a b"},
        {"application/json", "{\"tag\":\"\\u00e9\\ud83d\\ude00\"}",
         "\xc3\xa9\xf0\x9f\x98\x80"},
        /* J8 and the charset rules */
        {"application/json; charset=utf-8", "{\"tag\":\"x\"}", "x"},
        {"APPLICATION/JSON; CHARSET=UTF-8", "{\"tag\":\"x\"}", "x"},
        {"Application/Json;charset=\"utf-8\"", "{\"tag\":\"x\"}", "x"},
        {"application/json;", "{}", NULL},
        {" application/json ", "{}", NULL},
        {"application/json ; charset=Utf-8 ", "{}", NULL},
        /* no body: any type, or none */
        {"text/plain", "", NULL},
        {NULL, "", NULL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        for (int p = 0; p < REGISTER_PATHS; p++) {
            treq t;
            rq(&t, "POST", register_paths[p]);
            rq_bodyn(&t, good[i].ct, good[i].body, strlen(good[i].body));
            run(&t);
            EXPECT_KIND(&t, FE_OP_REGISTER);
            if (good[i].tag)
                ck_assert_str_eq(t.op.entry.tag, good[i].tag);
            else
                ck_assert_ptr_null(t.op.entry.tag);
        }
    }
    /* No body at all (curl -X POST): body NULL. */
    treq t;
    req(&t, "POST", "/epochs");
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_ptr_null(t.op.entry.tag);
}
END_TEST

START_TEST(register_entry)
{
    treq t;
    rq(&t, "POST", "/epochs");
    t.cfg.node = "eu-1.b";
    rq_header(&t, "X-Request-Id", "abc.DEF_1:2-3");
    rq_body(&t, "{\"tag\":\"t\"}");
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    const epoch_entry *e = &t.op.entry;
    ck_assert_int_eq(e->epoch_us, T_US);
    ck_assert_int_eq(e->protocol, EPOCH_PROTOCOL_HTTP);
    ck_assert_str_eq(e->tag, "t");
    ck_assert_str_eq(e->client_ip, "192.0.2.1");
    ck_assert_str_eq(e->request_id, "abc.DEF_1:2-3");
    ck_assert_ptr_eq(e->request_id, t.op.request_id);
    ck_assert_str_eq(e->node, "eu-1.b");
    ck_assert_ptr_null(e->idempotency_key);
    ck_assert_int_eq(epoch_entry_check(e, NULL), 0);

    /* HTTPS, no node, no peer. */
    rq(&t, "POST", "/app");
    t.r.https = 1;
    t.r.peer = NULL;
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_int_eq(t.op.entry.protocol, EPOCH_PROTOCOL_HTTPS);
    ck_assert_ptr_null(t.op.entry.client_ip);
    ck_assert_ptr_null(t.op.entry.node);

    /* A request time the store could not hold: the store's clock instead. */
    rq(&t, "POST", "/epochs");
    t.r.received_us = -5;
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_int_eq(t.op.entry.epoch_us, 0);

    /* An invalid node is a configuration bug: 500, not the client's fault. */
    rq(&t, "POST", "/epochs");
    t.cfg.node = "bad node";
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 500, "internal");
    fe_response_clear(&t.resp);
}
END_TEST

/* J6: deep nesting answers 400 at once (jansson stops at depth 2048). */
START_TEST(deep_nesting)
{
    static const char *const openers[] = {"[", "{\"a\":", "{\"tag\":["};
    size_t n = 100000;
    char *body = malloc(n * 5 + 1);
    ck_assert_ptr_nonnull(body);
    for (size_t k = 0; k < sizeof(openers) / sizeof(openers[0]); k++) {
        size_t len = 0, w = strlen(openers[k]);
        while (len + w <= n * 5 && len < n)
            for (size_t i = 0; i < w; i++)
                body[len++] = openers[k][i];
        treq t;
        struct timespec a, b;
        rq(&t, "POST", "/epochs");
        t.cfg.body_max = len;
        rq_bodyn(&t, "application/json", body, len);
        clock_gettime(CLOCK_MONOTONIC, &a);
        run(&t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_json");
        double secs =
            (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        ck_assert_msg(secs < 1.0, "deep nesting took %.3f s", secs);
        fe_response_clear(&t.resp);
        /* With the default limit the same body is simply too large. */
        rq(&t, "POST", "/epochs");
        rq_bodyn(&t, "application/json", body, len);
        run(&t);
        EXPECT_ERROR(&t.resp, &t.op, 413, "payload_too_large");
        fe_response_clear(&t.resp);
    }
    /* Nesting under the limit parses, and the tag is then not a string. */
    size_t len = 0;
    len += (size_t)sprintf(body, "{\"tag\":");
    for (int i = 0; i < 2000; i++)
        body[len++] = '[';
    for (int i = 0; i < 2000; i++)
        body[len++] = ']';
    body[len++] = '}';
    treq t;
    rq(&t, "POST", "/epochs");
    rq_bodyn(&t, "application/json", body, len);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_body");
    fe_response_clear(&t.resp);
    free(body);
}
END_TEST

static const char *const bad_content_types[] = {
    "text/plain",
    "application/json; charset=utf-16",
    "application/json; charset=utf8",
    "application/json; charset=\"utf-16\"",
    "application/json; charset=\"utf-8",
    "application/json; charset=utf-8; charset=utf-8",
    "application/json; charset",
    "application/json; charset=",
    "application/json; boundary=x",
    "application/jsonx",
    "application/json, text/plain",
    "application/merge-patch+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/*",
    "*/*",
    "json",
    "",
};
#define BAD_CONTENT_TYPES                                                                \
    ((int)(sizeof(bad_content_types) / sizeof(bad_content_types[0])))

/* J7 */
START_TEST(bad_content_type_415)
{
    for (int p = 0; p < REGISTER_PATHS; p++) {
        treq t;
        rq(&t, "POST", register_paths[p]);
        rq_bodyn(&t, bad_content_types[_i], "{}", 2);
        run(&t);
        EXPECT_ERROR(&t.resp, &t.op, 415, "unsupported_media_type");
        fe_response_clear(&t.resp);
    }
}
END_TEST

START_TEST(content_type_absent_or_twice_415)
{
    treq t;
    rq(&t, "POST", "/epochs");
    rq_bodyn(&t, NULL, "{}", 2);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 415, "unsupported_media_type");
    fe_response_clear(&t.resp);

    rq(&t, "POST", "/epochs");
    rq_header(&t, "Content-Type", "application/json");
    rq_bodyn(&t, "application/json", "{}", 2);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 415, "unsupported_media_type");
    fe_response_clear(&t.resp);

    /* Header names compare case-insensitively. */
    rq(&t, "POST", "/epochs");
    rq_header(&t, "content-TYPE", "application/json");
    t.r.body = "{}";
    t.r.body_len = 2;
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
}
END_TEST

/* J9: the limit is inclusive. */
START_TEST(body_size_limit)
{
    size_t n = FE_BODY_MAX_DEFAULT + 1;
    char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    memset(body, ' ', n);
    memcpy(body, "{\"tag\":\"a\"}", 11);
    treq t;
    rq(&t, "POST", "/epochs");
    rq_bodyn(&t, "application/json", body, FE_BODY_MAX_DEFAULT);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.entry.tag, "a");

    rq(&t, "POST", "/EpochRegisterTime");
    rq_bodyn(&t, "application/json", body, n);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 413, "payload_too_large");
    ck_assert_str_eq(error_message(&t.resp), "body is larger than 16384 bytes");
    fe_response_clear(&t.resp);

    rq(&t, "POST", "/epochs");
    t.cfg.body_max = 11;
    rq_bodyn(&t, "application/json", body, 11);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    rq(&t, "POST", "/epochs");
    t.cfg.body_max = 10;
    rq_bodyn(&t, "application/json", body, 11);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 413, "payload_too_large");
    fe_response_clear(&t.resp);

    /* A GET's body is not looked at. */
    rq(&t, "GET", "/epochs");
    rq_bodyn(&t, "text/plain", body, n);
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
    free(body);
}
END_TEST

/* ---- Idempotency-Key and X-Request-Id (J10) ---- */

START_TEST(idempotency_key)
{
    char key[200];
    treq t;
    memset(key, 'k', 128);
    key[128] = '\0';
    key[0] = '!';
    key[127] = '~';
    rq(&t, "POST", "/epochs");
    rq_header(&t, "Idempotency-Key", key);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.entry.idempotency_key, key);
    ck_assert_ptr_eq(t.op.entry.idempotency_key, t.op.key_);

    rq(&t, "POST", "/app");
    rq_header(&t, "idempotency-key", "x");
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.entry.idempotency_key, "x");

    static const char *const bad[] = {"",      "has space", "tab\there", "caf\xc3\xa9",
                                      "a\x7f", NULL};
    strcat(key, "k"); /* 129 */
    for (int i = 0; i < 6; i++) {
        rq(&t, "POST", "/storeEpochTime");
        rq_header(&t, "Idempotency-Key", bad[i] ? bad[i] : key);
        run(&t);
        EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
        ck_assert_ptr_nonnull(strstr(error_message(&t.resp), "Idempotency-Key"));
        fe_response_clear(&t.resp);
    }

    /* Given twice, even with the same value. */
    rq(&t, "POST", "/epochs");
    rq_header(&t, "Idempotency-Key", "a");
    rq_header(&t, "Idempotency-Key", "a");
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 400, "invalid_parameter");
    fe_response_clear(&t.resp);

    /* Requests that register nothing ignore it. */
    rq(&t, "GET", "/epochs");
    rq_header(&t, "Idempotency-Key", "has space");
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
}
END_TEST

static int is_generated_id(const char *id)
{
    if (strlen(id) != 32)
        return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

START_TEST(request_id)
{
    char id64[65], id65[66];
    treq t;
    memset(id64, 'R', 64);
    id64[64] = '\0';
    memset(id65, 'R', 65);
    id65[65] = '\0';

    rq(&t, "POST", "/epochs");
    rq_header(&t, "X-Request-Id", id64);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.request_id, id64);
    ck_assert_str_eq(t.op.entry.request_id, id64);

    /* Used on error responses too, and on complete ones. */
    rq(&t, "GET", "/nope");
    rq_header(&t, "x-request-id", "trace-1");
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 404, "not_found");
    ck_assert_str_eq(hdr(&t.resp, "X-Request-Id"), "trace-1");
    fe_response_clear(&t.resp);

    static const char *bad[] = {
        "", "a b", "<script>", "a\r\nSet-Cookie: x=1", "caf\xc3\xa9", "a/b", "a,b", NULL};
    for (int i = 0; i < 8; i++) {
        const char *raw = bad[i] ? bad[i] : id65;
        rq(&t, "GET", "/healthz");
        rq_header(&t, "X-Request-Id", raw);
        run(&t);
        ck_assert_int_eq(t.resp.status, 200);
        ck_assert_msg(is_generated_id(t.op.request_id), "generated id for case %d", i);
        ck_assert_str_eq(hdr(&t.resp, "X-Request-Id"), t.op.request_id);
        ck_assert_ptr_null(strstr(body_str(&t.resp), "script"));
        fe_response_clear(&t.resp);
    }

    /* Twice: neither is taken. */
    rq(&t, "GET", "/healthz");
    rq_header(&t, "X-Request-Id", "one");
    rq_header(&t, "X-Request-Id", "two");
    run(&t);
    ck_assert(is_generated_id(t.op.request_id));
    fe_response_clear(&t.resp);

    /* Absent: generated, and different each time. */
    char first[EPOCH_REQUEST_ID_MAX + 1];
    req(&t, "GET", "/epochs");
    ck_assert(is_generated_id(t.op.request_id));
    strcpy(first, t.op.request_id);
    req(&t, "GET", "/epochs");
    ck_assert(is_generated_id(t.op.request_id));
    ck_assert_str_ne(first, t.op.request_id);
}
END_TEST

/* ---- client address and protocol (X5) ---- */

START_TEST(forwarded_headers)
{
    static const char *const proxies[] = {"10.0.0.1", "2001:db8::7"};
    static const struct {
        const char *peer;
        int https;
        const char *xff[2];
        const char *xfp;
        const char *ip;
        epoch_protocol protocol;
    } cases[] = {
        /* an untrusted peer's headers are ignored */
        {"192.0.2.1", 0, {"1.2.3.4", NULL}, "https", "192.0.2.1", EPOCH_PROTOCOL_HTTP},
        {"192.0.2.1", 1, {"1.2.3.4", NULL}, "http", "192.0.2.1", EPOCH_PROTOCOL_HTTPS},
        /* a trusted one: the last element of the last line */
        {"10.0.0.1", 0, {"1.2.3.4", NULL}, NULL, "1.2.3.4", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1",
         0,
         {"9.9.9.9, 5.6.7.8 ,  1.2.3.4 ", NULL},
         "https",
         "1.2.3.4",
         EPOCH_PROTOCOL_HTTPS},
        {"10.0.0.1",
         0,
         {"9.9.9.9", "8.8.8.8,7.7.7.7"},
         "HTTPS",
         "7.7.7.7",
         EPOCH_PROTOCOL_HTTPS},
        {"10.0.0.1",
         1,
         {" 2001:DB8:0:0::1 ", NULL},
         "http",
         "2001:db8::1",
         EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1", 1, {"1.2.3.4", NULL}, "ftp", "1.2.3.4", EPOCH_PROTOCOL_HTTPS},
        {"10.0.0.1",
         0,
         {"1.2.3.4", NULL},
         "http, https",
         "1.2.3.4",
         EPOCH_PROTOCOL_HTTPS},
        /* a last element that is no address: the peer */
        {"10.0.0.1", 0, {"1.2.3.4, bogus", NULL}, NULL, "10.0.0.1", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1", 0, {"1.2.3.4,", NULL}, NULL, "10.0.0.1", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1", 0, {"1.2.3.4:8080", NULL}, NULL, "10.0.0.1", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1", 0, {"[2001:db8::1]", NULL}, NULL, "10.0.0.1", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1", 0, {"", NULL}, NULL, "10.0.0.1", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.1", 0, {"1.2.3.4", "unknown"}, NULL, "10.0.0.1", EPOCH_PROTOCOL_HTTP},
        /* trusted addresses compare as addresses */
        {"::ffff:10.0.0.1", 0, {"1.2.3.4", NULL}, NULL, "1.2.3.4", EPOCH_PROTOCOL_HTTP},
        {"2001:DB8:0::7", 0, {"1.2.3.4", NULL}, NULL, "1.2.3.4", EPOCH_PROTOCOL_HTTP},
        {"10.0.0.2", 0, {"1.2.3.4", NULL}, "https", "10.0.0.2", EPOCH_PROTOCOL_HTTP},
        /* IPv6 peers as they are */
        {"::1", 0, {NULL, NULL}, NULL, "::1", EPOCH_PROTOCOL_HTTP},
        {"not an address", 0, {NULL, NULL}, NULL, NULL, EPOCH_PROTOCOL_HTTP},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        treq t;
        rq(&t, "POST", "/epochs");
        t.cfg.trusted_proxies = proxies;
        t.cfg.trusted_proxies_count = 2;
        t.r.peer = cases[i].peer;
        t.r.https = cases[i].https;
        for (int k = 0; k < 2; k++)
            if (cases[i].xff[k])
                rq_header(&t, k ? "x-forwarded-for" : "X-Forwarded-For", cases[i].xff[k]);
        if (cases[i].xfp)
            rq_header(&t, "X-Forwarded-Proto", cases[i].xfp);
        run(&t);
        EXPECT_KIND(&t, FE_OP_REGISTER);
        if (cases[i].ip)
            ck_assert_msg(
                t.op.entry.client_ip && strcmp(t.op.entry.client_ip, cases[i].ip) == 0,
                "case %zu: client_ip %s, expected %s", i,
                t.op.entry.client_ip ? t.op.entry.client_ip : "(null)", cases[i].ip);
        else
            ck_assert_msg(t.op.entry.client_ip == NULL, "case %zu: no client_ip", i);
        ck_assert_msg(t.op.entry.protocol == cases[i].protocol, "case %zu: protocol", i);
    }
    /* Every op knows its client, for access logs: also a 404 or a list. */
    static const char *const targets[] = {"/nope", "/epochs", "/healthz"};
    for (int i = 0; i < 3; i++) {
        treq t;
        rq(&t, "GET", targets[i]);
        t.cfg.trusted_proxies = proxies;
        t.cfg.trusted_proxies_count = 2;
        t.r.peer = "10.0.0.1";
        rq_header(&t, "X-Forwarded-For", "1.2.3.4");
        rq_header(&t, "X-Forwarded-Proto", "https");
        run(&t);
        ck_assert_str_eq(t.op.entry.client_ip, "1.2.3.4");
        ck_assert_int_eq(t.op.entry.protocol, EPOCH_PROTOCOL_HTTPS);
        ck_assert_ptr_eq(t.op.entry.request_id, t.op.request_id);
        fe_response_clear(&t.resp);
    }
    /* No trusted proxies configured: headers ignored. */
    treq t;
    rq(&t, "POST", "/epochs");
    t.r.peer = "10.0.0.1";
    rq_header(&t, "X-Forwarded-For", "1.2.3.4");
    rq_header(&t, "X-Forwarded-Proto", "https");
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    ck_assert_str_eq(t.op.entry.client_ip, "10.0.0.1");
    ck_assert_int_eq(t.op.entry.protocol, EPOCH_PROTOCOL_HTTP);
}
END_TEST

/* ---- authentication (X2, X4, X8) ---- */

#define TOKEN_A "tok-A-0123456789abcdef"
#define TOKEN_B "tok-B-~!#$%&'*+-.^_`|"

/* Writes a token file with @p mode; the path goes to @p path. */
static void token_file(char *path, const char *text, mode_t mode)
{
    strcpy(path, "/tmp/fe_http_tokens_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

static fe_auth *load_tokens(void)
{
    char path[64];
    fe_auth *auth = NULL;
    int warning = -1;
    epoch_error err;
    token_file(path,
               "# tokens for tests\r\n"
               "\r\n" TOKEN_A "\r\n"
               "   \t\n"
               "  # indented comment\n"
               "#" TOKEN_A "x\n"
               "\t" TOKEN_B "  \n",
               0600);
    ck_assert_int_eq(fe_auth_load(&auth, path, &warning, &err), 0);
    ck_assert_int_eq(err.code, 0);
    ck_assert_int_eq(warning, 0);
    unlink(path);
    ck_assert_ptr_nonnull(auth);
    return auth;
}

START_TEST(auth_load_and_check)
{
    fe_auth *auth = load_tokens();
    const char *v;
#define CHECK(value, expected)                                                           \
    do {                                                                                 \
        v = (value);                                                                     \
        ck_assert_msg(fe_auth_check(auth, v, strlen(v)) == (expected), "check '%s'", v); \
    } while (0)
    CHECK("Bearer " TOKEN_A, 1);
    CHECK("bearer " TOKEN_A, 1);
    CHECK("BEARER " TOKEN_B, 1);
    CHECK("Bearer " TOKEN_A "x", 0);           /* longer */
    CHECK("Bearer tok-A-0123456789abcde", 0);  /* truncated */
    CHECK("Bearer uok-A-0123456789abcdef", 0); /* first byte differs */
    CHECK("Bearer tok-A-0123456789abcdeF", 0); /* last byte differs */
    CHECK("Bearer ", 0);                       /* empty */
    CHECK("Bearer", 0);
    CHECK("", 0);
    CHECK("Bearer  " TOKEN_A, 0); /* two spaces */
    CHECK("Bearer\t" TOKEN_A, 0);
    CHECK("Basic " TOKEN_A, 0);
    CHECK(TOKEN_A, 0);
    CHECK("Bearer " TOKEN_A " ", 0);
    CHECK("Bearer #" TOKEN_A "x", 0); /* a comment line is no token */
#undef CHECK
    ck_assert_int_eq(fe_auth_check(auth, NULL, 0), 0);
    ck_assert_int_eq(fe_auth_check(NULL, "Bearer " TOKEN_A, strlen("Bearer " TOKEN_A)),
                     0);
    /* The length counts: a NUL inside the value is not an end. */
    ck_assert_int_eq(fe_auth_check(auth, "Bearer " TOKEN_A "\0x", strlen(TOKEN_A) + 9),
                     0);
    ck_assert_int_eq(fe_auth_check(auth, "Bearer " TOKEN_A "zzz", strlen(TOKEN_A) + 7),
                     1);
    fe_auth_free(auth);
    fe_auth_free(NULL);
}
END_TEST

START_TEST(auth_load_errors)
{
    char path[64];
    fe_auth *auth = (fe_auth *)&path; /* must be reset to NULL on failure */
    int warning = -1;
    epoch_error err;

    /* Group-readable: loads, with a warning. */
    token_file(path, TOKEN_A "\n", 0640);
    ck_assert_int_eq(fe_auth_load(&auth, path, &warning, &err), 0);
    ck_assert_int_eq(warning, 1);
    fe_auth_free(auth);
    unlink(path);
    token_file(path, TOKEN_A "\n", 0604);
    ck_assert_int_eq(fe_auth_load(&auth, path, &warning, NULL), 0);
    ck_assert_int_eq(warning, 1);
    fe_auth_free(auth);
    unlink(path);
    token_file(path, TOKEN_A, 0400); /* no final newline */
    ck_assert_int_eq(fe_auth_load(&auth, path, &warning, NULL), 0);
    ck_assert_int_eq(warning, 0);
    ck_assert_int_eq(fe_auth_check(auth, "Bearer " TOKEN_A, 7 + strlen(TOKEN_A)), 1);
    fe_auth_free(auth);
    unlink(path);

    /* A bad line: the message gives its number, never its text. */
    static const char *const bad[] = {
        TOKEN_A "\n# c\nshort-SECRET-15\n",               /* 15 characters */
        TOKEN_A "\n# c\nSECRET with space xxxxxxx\n",     /* a space */
        TOKEN_A "\n# c\nSECRET-caf\xc3\xa9-0123456789\n", /* not ASCII */
        TOKEN_A "\n# c\nSECRET-0123456789\r\r\n",         /* a stray CR */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        token_file(path, bad[i], 0600);
        auth = (fe_auth *)&path;
        ck_assert_int_eq(fe_auth_load(&auth, path, &warning, &err), EPOCH_EINVAL);
        ck_assert_ptr_null(auth);
        ck_assert_int_eq(err.code, EPOCH_EINVAL);
        ck_assert_ptr_nonnull(strstr(err.message, "line 3"));
        ck_assert_ptr_null(strstr(err.message, "SECRET"));
        unlink(path);
    }
    /* 257 characters is one too many; 256 is fine. */
    char line[300];
    memset(line, 'x', 256);
    strcpy(line + 256, "\n");
    token_file(path, line, 0600);
    ck_assert_int_eq(fe_auth_load(&auth, path, NULL, NULL), 0);
    /* Tokens are compared as 256 padded bytes plus a length: a full-length
     * token matches, one byte less or a different last byte does not. */
    char value[300] = "Bearer ";
    memset(value + 7, 'x', 256);
    ck_assert_int_eq(fe_auth_check(auth, value, 7 + 256), 1);
    ck_assert_int_eq(fe_auth_check(auth, value, 7 + 255), 0);
    value[7 + 255] = 'y';
    ck_assert_int_eq(fe_auth_check(auth, value, 7 + 256), 0);
    value[7 + 255] = 'x';
    value[7 + 256] = 'x';
    ck_assert_int_eq(fe_auth_check(auth, value, 7 + 257), 0);
    fe_auth_free(auth);
    unlink(path);
    strcpy(line + 256, "x\n");
    token_file(path, line, 0600);
    ck_assert_int_eq(fe_auth_load(&auth, path, NULL, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "line 1"));
    unlink(path);

    /* Only comments, or empty: no token at all. */
    token_file(path, "# nothing\n\n", 0600);
    ck_assert_int_eq(fe_auth_load(&auth, path, NULL, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "no token"));
    unlink(path);
    token_file(path, "", 0600);
    ck_assert_int_eq(fe_auth_load(&auth, path, NULL, &err), EPOCH_EINVAL);
    unlink(path);

    /* Missing file, a directory. */
    ck_assert_int_eq(fe_auth_load(&auth, "/nonexistent/tokens", NULL, &err),
                     EPOCH_EINVAL);
    ck_assert_int_eq(err.code, EPOCH_EINVAL);
    ck_assert_int_eq(fe_auth_load(&auth, "/tmp", NULL, &err), EPOCH_EINVAL);
    ck_assert_int_eq(fe_auth_load(NULL, "/tmp", NULL, &err), EPOCH_EINVAL);
}
END_TEST

/* X4: absent, wrong, truncated, right; writes vs all. */
START_TEST(auth_scopes)
{
    fe_auth *auth = load_tokens();
    static const char *const presented[] = {NULL, "Bearer wrong-token-0123456789",
                                            "Bearer tok-A-0123456789abcde",
                                            "Bearer " TOKEN_A};
    for (int scope = FE_AUTH_WRITES; scope <= FE_AUTH_ALL; scope++) {
        for (int r = 0; r < ROUTE_CASES; r++) {
            for (int m = 0; m < 2; m++) {
                const route_case *c = &route_cases[r];
                int expected = m ? c->post : c->get;
                if (expected < 0)
                    continue;
                int protected =
                    m || (scope == FE_AUTH_ALL && c->route != FE_ROUTE_HEALTHZ &&
                          c->route != FE_ROUTE_READYZ);
                for (int p = 0; p < 4; p++) {
                    treq t;
                    rq(&t, m ? "POST" : "GET", c->target);
                    t.cfg.auth = auth;
                    t.cfg.auth_scope = (fe_auth_scope)scope;
                    if (presented[p])
                        rq_header(&t, "Authorization", presented[p]);
                    run(&t);
                    if (protected && p < 3) {
                        EXPECT_ERROR(&t.resp, &t.op, 401, "unauthorized");
                        ck_assert_str_eq(hdr(&t.resp, "WWW-Authenticate"), "Bearer");
                    } else if (expected == FE_OP_DONE) {
                        ck_assert_int_eq(t.resp.status, 200);
                        ck_assert_ptr_null(hdr(&t.resp, "WWW-Authenticate"));
                    } else {
                        EXPECT_KIND(&t, (fe_op_kind)expected);
                    }
                    fe_response_clear(&t.resp);
                }
            }
        }
    }
    /* Authorization twice, even with a right token: refused. */
    treq t;
    rq(&t, "POST", "/epochs");
    t.cfg.auth = auth;
    rq_header(&t, "Authorization", "Bearer " TOKEN_A);
    rq_header(&t, "authorization", "Bearer " TOKEN_A);
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 401, "unauthorized");
    fe_response_clear(&t.resp);
    /* The second token of the file works too; the header name is any case. */
    rq(&t, "POST", "/app");
    t.cfg.auth = auth;
    rq_header(&t, "AUTHORIZATION", "Bearer " TOKEN_B);
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    /* No tokens loaded: auth is off whatever the scope. */
    rq(&t, "GET", "/metrics");
    t.cfg.auth_scope = FE_AUTH_ALL;
    run(&t);
    EXPECT_KIND(&t, FE_OP_METRICS);
    fe_auth_free(auth);
}
END_TEST

/* ---- rendering ---- */

START_TEST(render_register_statuses)
{
    epoch_record rec = fixed_record(42);
    treq t;
    req(&t, "POST", "/EpochRegisterTime");
    EXPECT_KIND(&t, FE_OP_REGISTER);

    fe_http_render_register(&t.resp, &t.op, 0, &rec, NULL);
    ck_assert_int_eq(t.resp.status, 201);
    ck_assert_str_eq(t.resp.reason, "Created");
    common_headers(__LINE__, &t.resp, &t.op);
    ck_assert_str_eq(hdr(&t.resp, "Location"), "/epochs/42");
    ck_assert_str_eq(hdr(&t.resp, "Content-Type"), "application/json; charset=utf-8");
    EXPECT_BODY(&t.resp, RECORD_42_JSON "\n");
    ck_assert_ptr_null(strstr(body_str(&t.resp), "never-rendered"));
    ck_assert_int_eq(t.resp.close, 0);

    /* A replay: 200, the same record, no Location (a CGI server would take
     * a 200 with a local Location as an internal redirect); rendering again
     * replaces the previous response without leaking it. */
    fe_http_render_register(&t.resp, &t.op, EPOCH_REPLAYED, &rec, NULL);
    ck_assert_int_eq(t.resp.status, 200);
    ck_assert_ptr_null(hdr(&t.resp, "Location"));
    EXPECT_BODY(&t.resp, RECORD_42_JSON "\n");
    ck_assert_uint_eq(t.resp.header_count, 3);

    fe_http_render_register(&t.resp, &t.op, EPOCH_ECONFLICT, &rec, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 422, "idempotency_conflict");
    ck_assert_ptr_null(hdr(&t.resp, "Location"));

    fe_http_render_register(&t.resp, &t.op, EPOCH_EUNAVAILABLE, NULL, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 503, "unavailable");
    ck_assert_str_eq(hdr(&t.resp, "Retry-After"), "1");

    /* A record that cannot be rendered is a bug: 500. */
    rec.epoch_us = -1;
    fe_http_render_register(&t.resp, &t.op, 0, &rec, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 500, "internal");
    fe_http_render_register(&t.resp, &t.op, 0, NULL, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 500, "internal");
    fe_http_render_register(&t.resp, &t.op, 7, NULL, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 500, "internal");
    fe_response_clear(&t.resp);
    ck_assert_ptr_null(t.resp.body);
    ck_assert_uint_eq(t.resp.header_count, 0);
}
END_TEST

START_TEST(render_record_with_tag_and_prefix)
{
    epoch_record rec = fixed_record(9223372036854775807);
    strcpy(rec.tag, "caf\xc3\xa9 \"q\" \\ /");
    rec.client_ip[0] = '\0';
    rec.protocol = EPOCH_PROTOCOL_HTTPS;
    rec.epoch_us = 0;
    treq t;
    rq(&t, "POST", "/app");
    t.cfg.prefix = "/cgi-bin/epochreg.cgi";
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    fe_http_render_register(&t.resp, &t.op, 0, &rec, NULL);
    ck_assert_int_eq(t.resp.status, 201);
    ck_assert_str_eq(hdr(&t.resp, "Location"),
                     "/cgi-bin/epochreg.cgi/epochs/9223372036854775807");
    EXPECT_BODY(&t.resp, "{\"id\":9223372036854775807,\"epoch\":0,\"epoch_us\":0,"
                         "\"time\":\"1970-01-01T00:00:00.000000Z\","
                         "\"tag\":\"caf\xc3\xa9 \\\"q\\\" \\\\ /\",\"client_ip\":null,"
                         "\"protocol\":\"https\",\"request_id\":\"req-1\","
                         "\"node\":\"local\"}\n");
    fe_response_clear(&t.resp);

    /* A prefix with bytes a path may not hold is percent-encoded. */
    rq(&t, "POST", "/epochs");
    t.cfg.prefix = "/cgi bin/%x?\r\n\xc3\xa9";
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    rec.id = 5;
    fe_http_render_register(&t.resp, &t.op, 0, &rec, NULL);
    ck_assert_str_eq(hdr(&t.resp, "Location"), "/cgi%20bin/%25x%3F%0D%0A%C3%A9/epochs/5");
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(render_get)
{
    epoch_record rec = fixed_record(42);
    treq t;
    req(&t, "GET", "/epochs/42");
    EXPECT_KIND(&t, FE_OP_GET);
    fe_http_render_get(&t.resp, &t.op, 0, &rec, NULL);
    ck_assert_int_eq(t.resp.status, 200);
    common_headers(__LINE__, &t.resp, &t.op);
    ck_assert_ptr_null(hdr(&t.resp, "Location"));
    EXPECT_BODY(&t.resp, RECORD_42_JSON "\n");
    fe_http_render_get(&t.resp, &t.op, EPOCH_ENOTFOUND, NULL, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 404, "not_found");
    fe_http_render_get(&t.resp, &t.op, EPOCH_ESCHEMA, NULL, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 503, "schema");
    ck_assert_ptr_nonnull(strstr(error_message(&t.resp), "epochreg migrate"));
    fe_response_clear(&t.resp);
}
END_TEST

/* Renders a page of ids @p from, from-1 ... (desc) or from, from+1 (asc). */
static void render_page(treq *t, int64_t from, size_t count, int more)
{
    epoch_record recs[3];
    int asc = t->op.query.order == EPOCH_ORDER_ASC;
    for (size_t i = 0; i < count; i++)
        recs[i] = fixed_record(asc ? from + (int64_t)i : from - (int64_t)i);
    fe_http_render_list(&t->resp, &t->op, 0, recs, count, more, NULL);
    ck_assert_int_eq(t->resp.status, 200);
    common_headers(__LINE__, &t->resp, &t->op);
}

/* The "next" member of a list body (static buffer), or "null". */
static const char *next_of(const fe_response *resp)
{
    static char buf[4096];
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *n = json_object_get(j, "next");
    ck_assert_ptr_nonnull(n);
    snprintf(buf, sizeof(buf), "%s", json_is_null(n) ? "null" : json_string_value(n));
    json_decref(j);
    return buf;
}

START_TEST(render_list_bodies)
{
    epoch_record recs[2] = {fixed_record(42), fixed_record(41)};
    treq t;
    req(&t, "GET", "/epochs");
    EXPECT_KIND(&t, FE_OP_LIST);
    fe_http_render_list(&t.resp, &t.op, 0, recs, 2, 1, NULL);
    ck_assert_int_eq(t.resp.status, 200);
    EXPECT_BODY(&t.resp, "{\"items\":[" RECORD_42_JSON ","
                         "{\"id\":41,\"epoch\":1795298112,\"epoch_us\":1795298112123456,"
                         "\"time\":\"2026-11-21T21:55:12.123456Z\",\"tag\":null,"
                         "\"client_ip\":\"127.0.0.1\",\"protocol\":\"http\","
                         "\"request_id\":\"req-1\",\"node\":\"local\"}],"
                         "\"next\":\"/epochs?before=41\"}\n");
    fe_http_render_list(&t.resp, &t.op, 0, recs, 2, 0, NULL);
    ck_assert_str_eq(next_of(&t.resp), "null");
    fe_http_render_list(&t.resp, &t.op, 0, NULL, 0, 0, NULL);
    EXPECT_BODY(&t.resp, "{\"items\":[],\"next\":null}\n");
    /* more without a record gives no cursor: null rather than a loop. */
    fe_http_render_list(&t.resp, &t.op, 0, NULL, 0, 1, NULL);
    EXPECT_BODY(&t.resp, "{\"items\":[],\"next\":null}\n");
    fe_http_render_list(&t.resp, &t.op, EPOCH_EUNAVAILABLE, NULL, 0, 0, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 503, "unavailable");
    ck_assert_str_eq(hdr(&t.resp, "Retry-After"), "1");
    fe_http_render_list(&t.resp, &t.op, 0, NULL, 2, 0, NULL);
    EXPECT_ERROR3(&t.resp, &t.op, 500, "internal");
    fe_response_clear(&t.resp);
}
END_TEST

/* A full page of the longest records (every tag byte escaped as \u00XX)
 * outgrows the list body's first buffer: the body still equals jansson's
 * rendering of the same records, byte for byte. */
START_TEST(render_list_grows)
{
    enum { N = EPOCH_LIST_MAX };
    epoch_record *recs = calloc(N, sizeof(*recs));
    ck_assert_ptr_nonnull(recs);
    json_t *items = json_array();
    for (int i = 0; i < N; i++) {
        recs[i] = fixed_record(N - i);
        memset(recs[i].tag, 0x01 + i % 30, EPOCH_TAG_MAX);
        memset(recs[i].request_id, 'r', EPOCH_REQUEST_ID_MAX);
        memset(recs[i].node, 'n', EPOCH_NODE_MAX);
        strcpy(recs[i].client_ip, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
        json_array_append_new(items, fe_record_json(&recs[i]));
    }
    json_t *page = json_pack("{s:o,s:n}", "items", items, "next");
    char *want = json_dumps(page, JSON_COMPACT);
    ck_assert_ptr_nonnull(want);
    treq t;
    req(&t, "GET", "/epochs?limit=1000");
    EXPECT_KIND(&t, FE_OP_LIST);
    fe_http_render_list(&t.resp, &t.op, 0, recs, N, 0, NULL);
    ck_assert_int_eq(t.resp.status, 200);
    ck_assert_uint_gt(t.resp.body_len, (size_t)N * 1000);
    ck_assert_uint_eq(t.resp.body_len, strlen(want) + 1);
    ck_assert(memcmp(t.resp.body, want, strlen(want)) == 0);
    ck_assert_int_eq(t.resp.body[t.resp.body_len - 1], '\n');
    fe_response_clear(&t.resp);
    free(want);
    json_decref(page);
    free(recs);
}
END_TEST

typedef struct next_case {
    const char *prefix;
    const char *target;
    int64_t first;
    size_t count;
    const char *next;
} next_case;

static const next_case next_cases[] = {
    {NULL, "/epochs", 50, 2, "/epochs?before=49"},
    {NULL, "/epochs?order=desc&limit=100", 50, 2, "/epochs?before=49"},
    {NULL, "/epochs?order=asc", 1, 3, "/epochs?order=asc&after=3"},
    {NULL, "/epochs?limit=2&order=asc&after=7", 8, 2,
     "/epochs?limit=2&order=asc&after=9"},
    {NULL, "/epochs?after=5&before=100&limit=3", 99, 3,
     "/epochs?limit=3&after=5&before=97"},
    {NULL, "/epochs?order=asc&after=5&before=100", 6, 2,
     "/epochs?order=asc&after=7&before=100"},
    {NULL, "/epochs?since=0.000001&until=1795298112.120000", 9, 1,
     "/epochs?before=9&since=0.000001&until=1795298112.12"},
    {NULL, "/epochs?since=0&until=253402300799.999999", 9, 1,
     "/epochs?before=9&since=0&until=253402300799.999999"},
    {NULL, "/epochs?tag=a+b%2Fc%26d%3De%2Bf~g.h-i_j%C3%A9%25", 9, 1,
     "/epochs?before=9&tag=a%20b%2Fc%26d%3De%2Bf~g.h-i_j%C3%A9%25"},
    {NULL, "/getEpoch?limit=1", 9, 1, "/getEpoch?limit=1&before=9"},
    {NULL, "/getEpochStore?order=asc", 9, 1, "/getEpochStore?order=asc&after=9"},
    {NULL, "/app?tag=x", 9, 1, "/app?before=9&tag=x"},
    {"/cgi-bin/epochreg.cgi", "/epochs?limit=2", 9, 2,
     "/cgi-bin/epochreg.cgi/epochs?limit=2&before=8"},
    {"/cgi-bin/epochreg.cgi", "/getEpoch?order=asc&since=1.5&tag=%C3%A9", 9, 1,
     "/cgi-bin/epochreg.cgi/getEpoch?order=asc&after=9&since=1.5&tag=%C3%A9"},
    {"", "/app", 3, 1, "/app?before=3"},
};
#define NEXT_CASES ((int)(sizeof(next_cases) / sizeof(next_cases[0])))

START_TEST(next_links)
{
    const next_case *c = &next_cases[_i];
    treq t;
    rq(&t, "GET", c->target);
    t.cfg.prefix = c->prefix;
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
    render_page(&t, c->first, c->count, 1);
    ck_assert_str_eq(next_of(&t.resp), c->next);
    epoch_query was = t.op.query;
    char query_tag[EPOCH_TAG_MAX + 1] = "";
    if (was.tag)
        strcpy(query_tag, was.tag);
    fe_response_clear(&t.resp);

    /* Following next (without the prefix, as the transport strips it) asks
     * for the same filters, with the cursor moved to the last id. */
    char target[4096];
    size_t skip = c->prefix ? strlen(c->prefix) : 0;
    snprintf(target, sizeof(target), "%s", c->next + skip);
    rq(&t, "GET", target);
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
    int asc = was.order == EPOCH_ORDER_ASC;
    int64_t last =
        asc ? c->first + (int64_t)c->count - 1 : c->first - (int64_t)c->count + 1;
    ck_assert_uint_eq(t.op.query.limit, was.limit);
    ck_assert_int_eq(t.op.query.order, was.order);
    ck_assert_int_eq(t.op.query.after, asc ? last : was.after);
    ck_assert_int_eq(t.op.query.before, asc ? was.before : last);
    ck_assert_int_eq(t.op.query.since_us, was.since_us);
    ck_assert_int_eq(t.op.query.until_us, was.until_us);
    if (was.tag)
        ck_assert_str_eq(t.op.query.tag, query_tag);
    else
        ck_assert_ptr_null(t.op.query.tag);
}
END_TEST

START_TEST(next_link_longest)
{
    /* The longest prefix and a tag of 128 bytes that all need encoding. */
    char prefix[FE_PREFIX_MAX + 1];
    char target[1024] = "/epochs?tag=";
    memset(prefix, 'p', FE_PREFIX_MAX);
    prefix[0] = '/';
    prefix[FE_PREFIX_MAX] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(target, "%C3%A9");
    strcat(target, "&limit=1000&order=asc&since=253402300799.999999&until=0.5");
    treq t;
    rq(&t, "GET", target);
    t.cfg.prefix = prefix;
    run(&t);
    EXPECT_KIND(&t, FE_OP_LIST);
    render_page(&t, INT64_MAX - 1, 1, 1);
    const char *next = next_of(&t.resp);
    ck_assert_int_eq(strncmp(next, prefix, FE_PREFIX_MAX), 0);
    ck_assert_ptr_nonnull(strstr(next, "/epochs?limit=1000&order=asc&after="
                                       "9223372036854775806&since=253402300799.999999"
                                       "&until=0.5&tag=%C3%A9%C3%A9"));
    fe_response_clear(&t.resp);

    /* One byte more of prefix does not fit: a 500, not a cut link. */
    char longer[FE_PREFIX_MAX + 2];
    memset(longer, 'p', FE_PREFIX_MAX + 1);
    longer[0] = '/';
    longer[FE_PREFIX_MAX + 1] = '\0';
    rq(&t, "GET", "/epochs");
    t.cfg.prefix = longer;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 500, "internal");
    fe_response_clear(&t.resp);
    /* ... also when encoding makes it longer. */
    memset(prefix, ' ', FE_PREFIX_MAX);
    prefix[0] = '/';
    rq(&t, "GET", "/healthz");
    t.cfg.prefix = prefix;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 500, "internal");
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(now_healthz_ready_text)
{
    treq t;
    req(&t, "GET", "/now");
    ck_assert_int_eq(t.resp.status, 200);
    common_headers(__LINE__, &t.resp, &t.op);
    ck_assert_str_eq(hdr(&t.resp, "Content-Type"), "application/json; charset=utf-8");
    EXPECT_BODY(&t.resp, "{\"epoch\":1795298112,\"epoch_us\":1795298112123456,"
                         "\"time\":\"2026-11-21T21:55:12.123456Z\"}\n");
    fe_response_clear(&t.resp);

    rq(&t, "GET", "/now");
    t.r.received_us = 0;
    run(&t);
    EXPECT_BODY(
        &t.resp,
        "{\"epoch\":0,\"epoch_us\":0,\"time\":\"1970-01-01T00:00:00.000000Z\"}\n");
    fe_response_clear(&t.resp);
    rq(&t, "GET", "/now");
    t.r.received_us = EPOCH_TIME_MAX + 1;
    run(&t);
    EXPECT_ERROR(&t.resp, &t.op, 500, "internal");
    fe_response_clear(&t.resp);

    req(&t, "GET", "/healthz");
    ck_assert_int_eq(t.resp.status, 200);
    common_headers(__LINE__, &t.resp, &t.op);
    EXPECT_BODY(&t.resp, "{\"status\":\"ok\"}\n");
    fe_response_clear(&t.resp);

    req(&t, "GET", "/readyz");
    EXPECT_KIND(&t, FE_OP_READY);
    fe_http_render_ready(&t.resp, &t.op, 1, 0);
    ck_assert_int_eq(t.resp.status, 200);
    common_headers(__LINE__, &t.resp, &t.op);
    EXPECT_BODY(&t.resp, "{\"status\":\"ready\"}\n");
    ck_assert_ptr_null(hdr(&t.resp, "Retry-After"));
    fe_http_render_ready(&t.resp, &t.op, 0, 0);
    EXPECT_ERROR3(&t.resp, &t.op, 503, "unavailable");
    ck_assert_str_eq(hdr(&t.resp, "Retry-After"), "1");
    fe_http_render_ready(&t.resp, &t.op, 1, 1);
    EXPECT_ERROR3(&t.resp, &t.op, 503, "draining");
    ck_assert_str_eq(hdr(&t.resp, "Retry-After"), "1");
    fe_http_render_ready(&t.resp, &t.op, 0, 1);
    EXPECT_ERROR3(&t.resp, &t.op, 503, "draining");
    fe_response_clear(&t.resp);

    req(&t, "GET", "/metrics");
    EXPECT_KIND(&t, FE_OP_METRICS);
    static const char text[] = "# TYPE x counter\nx 1\n";
    fe_http_render_text(&t.resp, &t.op, FE_METRICS_CONTENT_TYPE, text, sizeof(text) - 1);
    ck_assert_int_eq(t.resp.status, 200);
    common_headers(__LINE__, &t.resp, &t.op);
    ck_assert_str_eq(hdr(&t.resp, "Content-Type"),
                     "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_BODY(&t.resp, text);
    fe_http_render_text(&t.resp, &t.op, NULL, NULL, 0);
    ck_assert_int_eq(t.resp.status, 200);
    ck_assert_uint_eq(t.resp.body_len, 0);
    ck_assert_str_eq(hdr(&t.resp, "Content-Type"), "text/plain; charset=utf-8");
    fe_response_clear(&t.resp);
}
END_TEST

/* ---- errors ---- */

typedef struct status_case {
    int status;
    const char *code;
    const char *reason;
    const char *extra_header; /* which status-specific header, or NULL */
    const char *extra_value;
} status_case;

static const status_case status_cases[] = {
    {400, "invalid_parameter", "Bad Request", NULL, NULL},
    {401, "unauthorized", "Unauthorized", "WWW-Authenticate", "Bearer"},
    {404, "not_found", "Not Found", NULL, NULL},
    {405, "method_not_allowed", "Method Not Allowed", "Allow", "GET, HEAD, POST"},
    {413, "payload_too_large", "Content Too Large", NULL, NULL},
    {415, "unsupported_media_type", "Unsupported Media Type", NULL, NULL},
    {422, "idempotency_conflict", "Unprocessable Content", NULL, NULL},
    {500, "internal", "Internal Server Error", NULL, NULL},
    {501, "not_supported", "Not Implemented", NULL, NULL},
    {503, "unavailable", "Service Unavailable", "Retry-After", "1"},
    {504, "timeout", "Gateway Timeout", "Retry-After", "1"},
};
#define STATUS_CASES ((int)(sizeof(status_cases) / sizeof(status_cases[0])))

START_TEST(error_statuses)
{
    static const char *const specific[] = {"WWW-Authenticate", "Allow", "Retry-After",
                                           "Location"};
    const status_case *c = &status_cases[_i];
    char expected[256];
    treq t;
    req(&t, "GET", "/epochs");
    EXPECT_KIND(&t, FE_OP_LIST);
    fe_http_error(&t.resp, &t.op, c->status, c->code, "a \"quoted\" message", 0);
    EXPECT_ERROR3(&t.resp, &t.op, c->status, c->code);
    ck_assert_str_eq(t.resp.reason, c->reason);
    ck_assert_int_eq(t.resp.close, 0);
    snprintf(expected, sizeof(expected),
             "{\"error\":{\"status\":%d,\"code\":\"%s\","
             "\"message\":\"a \\\"quoted\\\" message\"}}\n",
             c->status, c->code);
    EXPECT_BODY(&t.resp, expected);
    for (size_t i = 0; i < sizeof(specific) / sizeof(specific[0]); i++) {
        if (c->extra_header && strcmp(specific[i], c->extra_header) == 0)
            ck_assert_str_eq(hdr(&t.resp, specific[i]), c->extra_value);
        else
            ck_assert_ptr_null(hdr(&t.resp, specific[i]));
    }
    /* Content-Type, X-Request-Id, Cache-Control and at most one more. */
    ck_assert_uint_eq(t.resp.header_count, c->extra_header ? 4 : 3);
    /* The transport can ask for the connection to close. */
    fe_http_error(&t.resp, &t.op, c->status, c->code, "m", 1);
    ck_assert_int_eq(t.resp.close, 1);
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(error_edge_cases)
{
    fe_response resp;
    fe_response_init(&resp);
    /* No op: no X-Request-Id, no Allow; still Cache-Control. */
    fe_http_error(&resp, NULL, 405, NULL, NULL, 1);
    EXPECT_ERROR(&resp, NULL, 405, "method_not_allowed");
    ck_assert_ptr_null(hdr(&resp, "X-Request-Id"));
    ck_assert_ptr_null(hdr(&resp, "Allow"));
    ck_assert_str_eq(error_message(&resp), "Method Not Allowed");
    ck_assert_int_eq(resp.close, 1);
    /* Default codes for statuses the transports produce. */
    fe_http_error(&resp, NULL, 408, NULL, "", 1);
    EXPECT_ERROR(&resp, NULL, 408, "request_timeout");
    fe_http_error(&resp, NULL, 431, NULL, NULL, 1);
    EXPECT_ERROR(&resp, NULL, 431, "header_too_large");
    fe_http_error(&resp, NULL, 504, NULL, NULL, 0);
    EXPECT_ERROR(&resp, NULL, 504, "timeout");
    ck_assert_str_eq(hdr(&resp, "Retry-After"), "1");
    /* A message that is not UTF-8 is replaced by the reason phrase. */
    fe_http_error(&resp, NULL, 400, "invalid_parameter", "bad \xff byte", 0);
    EXPECT_ERROR(&resp, NULL, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&resp), "Bad Request");
    /* A status outside 100-599 is a bug. */
    fe_http_error(&resp, NULL, 42, "x", "m", 0);
    ck_assert_int_eq(resp.status, 500);
    fe_response_clear(&resp);
    fe_response_clear(NULL);
    fe_http_error(NULL, NULL, 400, "x", "m", 0);
    ck_assert_ptr_null(fe_response_header_get(NULL, "X"));
}
END_TEST

START_TEST(error_from_library_codes)
{
    static const struct {
        int rc;
        int status;
        const char *code;
    } map[] = {
        {EPOCH_EINVAL, 400, "invalid_parameter"},
        {EPOCH_ENOTFOUND, 404, "not_found"},
        {EPOCH_ECONFLICT, 422, "idempotency_conflict"},
        {EPOCH_EUNAVAILABLE, 503, "unavailable"},
        {EPOCH_EINTERNAL, 500, "internal"},
        {EPOCH_ENOMEM, 503, "unavailable"},
        {EPOCH_ESCHEMA, 503, "schema"},
        {EPOCH_ENOTSUPPORTED, 501, "not_supported"},
        {-99, 500, "internal"},
        {0, 500, "internal"},
        {EPOCH_REPLAYED, 500, "internal"},
    };
    epoch_error err;
    treq t;
    req(&t, "GET", "/epochs/3");
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        epoch_error_clear(&err);
        epoch_error_set(&err, map[i].rc, "postgresql", "57P01",
                        "SECRET: terminating connection due to administrator command");
        fe_http_error_from(&t.resp, &t.op, map[i].rc, &err);
        EXPECT_ERROR3(&t.resp, &t.op, map[i].status, map[i].code);
        /* A backend's words never reach the client. */
        ck_assert_ptr_null(strstr(body_str(&t.resp), "SECRET"));
        ck_assert_ptr_null(strstr(body_str(&t.resp), "57P01"));
        ck_assert_int_eq(hdr(&t.resp, "Retry-After") != NULL, map[i].status == 503);
        fe_http_error_from(&t.resp, &t.op, map[i].rc, NULL);
        EXPECT_ERROR3(&t.resp, &t.op, map[i].status, map[i].code);
    }
    /* The library's own argument checks are passed on. */
    epoch_field_check(EPOCH_FIELD_TAG, "", &err);
    fe_http_error_from(&t.resp, &t.op, EPOCH_EINVAL, &err);
    EXPECT_ERROR3(&t.resp, &t.op, 400, "invalid_parameter");
    ck_assert_str_eq(error_message(&t.resp), "tag is empty");
    fe_response_clear(&t.resp);
}
END_TEST

START_TEST(reason_phrases)
{
    ck_assert_str_eq(fe_http_reason(200), "OK");
    ck_assert_str_eq(fe_http_reason(201), "Created");
    ck_assert_str_eq(fe_http_reason(400), "Bad Request");
    ck_assert_str_eq(fe_http_reason(413), "Content Too Large");
    ck_assert_str_eq(fe_http_reason(422), "Unprocessable Content");
    ck_assert_str_eq(fe_http_reason(503), "Service Unavailable");
    ck_assert_str_eq(fe_http_reason(504), "Gateway Timeout");
    ck_assert_str_eq(fe_http_reason(599), "Server Error");
    ck_assert_str_eq(fe_http_reason(499), "Client Error");
}
END_TEST

/* ---- allocation failures: jansson's allocator fails after n successes ---- */

static long allocs_left;

static void *failing_malloc(size_t size)
{
    if (allocs_left-- <= 0)
        return NULL;
    return malloc(size);
}

static const char OOM_TEXT[] =
    "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}\n";

/* A response is either what it should be or the complete static 500. */
static int complete_or_oom(const fe_response *resp, int status)
{
    if (resp->status == status)
        return resp->body != NULL && resp->body_len > 0;
    return resp->status == 500 && resp->body_len == sizeof(OOM_TEXT) - 1 &&
           memcmp(resp->body, OOM_TEXT, resp->body_len) == 0 &&
           strcmp(hdr(resp, "Content-Type"), "application/json; charset=utf-8") == 0 &&
           strcmp(hdr(resp, "Cache-Control"), "no-store") == 0;
}

START_TEST(out_of_memory_everywhere)
{
    epoch_record recs[3] = {fixed_record(3), fixed_record(2), fixed_record(1)};
    int saw_oom = 0, saw_ok = 0;
    json_set_alloc_funcs(failing_malloc, free);
    for (long n = 0; n < 200; n++) {
        treq t;
        /* Complete responses built in step 1. */
        static const struct {
            const char *target;
            int status;
        } done[] = {{"/healthz", 200}, {"/now", 200}, {"/nope", 404}, {"/epochs/x", 400}};
        for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++) {
            allocs_left = n;
            req(&t, "GET", done[i].target);
            ck_assert_msg(complete_or_oom(&t.resp, done[i].status), "%s at %ld",
                          done[i].target, n);
            saw_oom |= t.resp.status == 500;
            fe_response_clear(&t.resp);
        }
        /* A body parsed by jansson. */
        allocs_left = n;
        rq(&t, "POST", "/epochs");
        rq_body(&t, "{\"tag\":\"abc\"}");
        run(&t);
        if (t.op.kind == FE_OP_REGISTER) {
            ck_assert_str_eq(t.op.entry.tag, "abc");
            saw_ok = 1;
        } else {
            ck_assert(complete_or_oom(&t.resp, -1));
        }
        fe_response_clear(&t.resp);
        /* Step 3. */
        req(&t, "GET", "/epochs?limit=3");
        allocs_left = n;
        fe_http_render_list(&t.resp, &t.op, 0, recs, 3, 1, NULL);
        ck_assert(complete_or_oom(&t.resp, 200));
        allocs_left = n;
        fe_http_render_register(&t.resp, &t.op, 0, recs, NULL);
        ck_assert(t.resp.status == 201 || complete_or_oom(&t.resp, 201));
        allocs_left = n;
        fe_http_render_ready(&t.resp, &t.op, 1, 0);
        ck_assert(complete_or_oom(&t.resp, 200));
        allocs_left = n;
        fe_http_error_from(&t.resp, &t.op, EPOCH_EUNAVAILABLE, NULL);
        ck_assert(complete_or_oom(&t.resp, 503));
        fe_response_clear(&t.resp);
    }
    json_set_alloc_funcs(malloc, free);
    ck_assert(saw_oom);
    ck_assert(saw_ok);
}
END_TEST

/* ---- ops and configuration ---- */

START_TEST(op_copy_repoints)
{
    treq t;
    rq(&t, "POST", "/epochs");
    t.cfg.node = "n1";
    rq_header(&t, "Idempotency-Key", "key-1");
    rq_body(&t, "{\"tag\":\"t1\"}");
    run(&t);
    EXPECT_KIND(&t, FE_OP_REGISTER);
    fe_op *copy = malloc(sizeof(*copy));
    ck_assert_ptr_nonnull(copy);
    fe_op_copy(copy, &t.op);
    memset(&t.op, 0x55, sizeof(t.op)); /* the original is gone */
    ck_assert_ptr_eq(copy->entry.tag, copy->tag_);
    ck_assert_ptr_eq(copy->entry.client_ip, copy->client_ip_);
    ck_assert_ptr_eq(copy->entry.idempotency_key, copy->key_);
    ck_assert_ptr_eq(copy->entry.node, copy->node_);
    ck_assert_ptr_eq(copy->entry.request_id, copy->request_id);
    ck_assert_str_eq(copy->entry.tag, "t1");
    ck_assert_str_eq(copy->entry.idempotency_key, "key-1");
    ck_assert_str_eq(copy->entry.node, "n1");
    ck_assert_int_eq(epoch_entry_check(&copy->entry, NULL), 0);

    req(&t, "GET", "/epochs?tag=q");
    fe_op_copy(copy, &t.op);
    memset(&t.op, 0, sizeof(t.op));
    ck_assert_ptr_eq(copy->query.tag, copy->query_tag_);
    ck_assert_str_eq(copy->query.tag, "q");
    ck_assert_ptr_null(copy->entry.tag);
    free(copy);
}
END_TEST

START_TEST(op_init_for_early_answers)
{
    treq t;
    fe_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.prefix = "/cgi-bin/x.cgi";
    rq(&t, "HEAD", "/epochs/12");
    rq_header(&t, "X-Request-Id", "early-1");
    fe_op_init(&t.op, &t.r, &cfg);
    ck_assert_int_eq(t.op.kind, FE_OP_DONE);
    ck_assert_int_eq(t.op.route, FE_ROUTE_EPOCH);
    ck_assert_int_eq(t.op.head, 1);
    ck_assert_str_eq(t.op.request_id, "early-1");
    ck_assert_str_eq(t.op.prefix_, "/cgi-bin/x.cgi");
    fe_http_error(&t.resp, &t.op, 413, "payload_too_large", "body is too large", 1);
    EXPECT_ERROR(&t.resp, &t.op, 413, "payload_too_large");
    ck_assert_str_eq(hdr(&t.resp, "X-Request-Id"), "early-1");
    fe_response_clear(&t.resp);
    fe_op_init(&t.op, NULL, NULL);
    ck_assert(is_generated_id(t.op.request_id));
    ck_assert_int_eq(t.op.route, FE_ROUTE_NONE);
}
END_TEST

START_TEST(config_check)
{
    static const char *const good_proxies[] = {"10.0.0.1", "::1", "2001:db8::7"};
    static const char *const bad_proxies[] = {"10.0.0.1", "proxy.example"};
    fe_config cfg;
    epoch_error err;
    memset(&cfg, 0, sizeof(cfg));
    ck_assert_int_eq(fe_config_check(&cfg, &err), 0);
    cfg.node = "eu-1";
    cfg.prefix = "/cgi-bin/epochreg.cgi";
    cfg.trusted_proxies = good_proxies;
    cfg.trusted_proxies_count = 3;
    cfg.auth_scope = FE_AUTH_ALL;
    ck_assert_int_eq(fe_config_check(&cfg, &err), 0);

    cfg.node = "bad node";
    ck_assert_int_eq(fe_config_check(&cfg, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "node"));
    cfg.node = NULL;
    cfg.prefix = "/cgi-bin/";
    ck_assert_int_eq(fe_config_check(&cfg, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "prefix"));
    cfg.prefix = "cgi-bin";
    ck_assert_int_eq(fe_config_check(&cfg, &err), EPOCH_EINVAL);
    cfg.prefix = "";
    cfg.trusted_proxies = bad_proxies;
    cfg.trusted_proxies_count = 2;
    ck_assert_int_eq(fe_config_check(&cfg, &err), EPOCH_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "trusted proxy 2"));
    cfg.trusted_proxies_count = 1;
    cfg.auth_scope = (fe_auth_scope)7;
    ck_assert_int_eq(fe_config_check(&cfg, &err), EPOCH_EINVAL);
    ck_assert_int_eq(fe_config_check(NULL, &err), EPOCH_EINVAL);
}
END_TEST

Suite *fe_http_suite(void)
{
    Suite *s = suite_create("fe_http");
    TCase *tc;

    tc = tcase_create("routes");
    tcase_add_loop_test(tc, route_method_matrix, 0, ROUTE_CASES * METHODS);
    tcase_add_test(tc, route_names_and_allow);
    tcase_add_loop_test(tc, unknown_path_404, 0, UNKNOWN_PATHS);
    tcase_add_test(tc, path_with_nul_404);
    tcase_add_loop_test(tc, bad_id_400, 0, (int)(sizeof(bad_ids) / sizeof(bad_ids[0])));
    tcase_add_test(tc, good_ids);
    tcase_add_test(tc, order_of_checks);
    tcase_add_test(tc, head_everywhere_get_is);
    suite_add_tcase(s, tc);

    tc = tcase_create("query");
    tcase_add_loop_test(tc, bad_query_400, 0, BAD_QUERIES);
    tcase_add_test(tc, query_tag_length_boundaries);
    tcase_add_test(tc, query_messages_name_the_parameter_only);
    tcase_add_test(tc, query_length_is_respected);
    tcase_add_test(tc, good_queries);
    tcase_add_test(tc, no_parameters_elsewhere);
    suite_add_tcase(s, tc);

    tc = tcase_create("body");
    tcase_add_loop_test(tc, bad_body_400, 0, BAD_BODIES);
    tcase_add_test(tc, body_tag_length_boundaries);
    tcase_add_test(tc, good_bodies);
    tcase_add_test(tc, register_entry);
    tcase_add_test(tc, deep_nesting);
    tcase_add_loop_test(tc, bad_content_type_415, 0, BAD_CONTENT_TYPES);
    tcase_add_test(tc, content_type_absent_or_twice_415);
    tcase_add_test(tc, body_size_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("headers");
    tcase_add_test(tc, idempotency_key);
    tcase_add_test(tc, request_id);
    tcase_add_test(tc, forwarded_headers);
    suite_add_tcase(s, tc);

    tc = tcase_create("auth");
    tcase_add_test(tc, auth_load_and_check);
    tcase_add_test(tc, auth_load_errors);
    tcase_add_test(tc, auth_scopes);
    suite_add_tcase(s, tc);

    tc = tcase_create("render");
    tcase_add_test(tc, render_register_statuses);
    tcase_add_test(tc, render_record_with_tag_and_prefix);
    tcase_add_test(tc, render_get);
    tcase_add_test(tc, render_list_bodies);
    tcase_add_test(tc, render_list_grows);
    tcase_add_loop_test(tc, next_links, 0, NEXT_CASES);
    tcase_add_test(tc, next_link_longest);
    tcase_add_test(tc, now_healthz_ready_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, error_statuses, 0, STATUS_CASES);
    tcase_add_test(tc, error_edge_cases);
    tcase_add_test(tc, error_from_library_codes);
    tcase_add_test(tc, reason_phrases);
    tcase_add_test(tc, out_of_memory_everywhere);
    suite_add_tcase(s, tc);

    tc = tcase_create("ops");
    tcase_add_test(tc, op_copy_repoints);
    tcase_add_test(tc, op_init_for_early_answers);
    tcase_add_test(tc, config_check);
    suite_add_tcase(s, tc);
    return s;
}
