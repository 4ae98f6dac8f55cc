/*
 * The HTTP API, transport-free (see fe_http.h): routes, checks, JSON bodies
 * and every error, for the daemon and the CGI alike.
 *
 * Choices made where DESIGN.md is silent (for the README):
 *
 * - Paths are matched byte for byte, case-sensitively and without decoding:
 *   "/EPOCHS", "/epochs/", "/epochs%2F1", "//epochs" and "/epochs/1/x" are
 *   404 for every method. "/epochs/{id}" takes one segment of digits
 *   (leading zeros allowed) up to 9223372036854775807; any other segment is
 *   400 invalid_parameter, id 0 is 404 (ids start at 1).
 * - Checks run in this order: path (404), method (405 + Allow), bearer token
 *   (401), then the route's input. HEAD is allowed wherever GET is; methods
 *   are case-sensitive ("get" is 405).
 * - Query strings: '&' separates parameters, empty segments ("a=1&&b=2", a
 *   trailing '&') are ignored, a parameter without '=' has an empty value,
 *   names and values are percent-decoded ('+' is a space), a malformed
 *   escape or a decoded NUL is 400, an empty name is 400, and so is an
 *   unknown or repeated name. Routes other than the lists take no
 *   parameters at all (POST included); an empty query ("/now?") is fine.
 *   `before` and `after` may be combined (a window of ids).
 * - Bodies: a body that is not one JSON object — malformed, not UTF-8,
 *   duplicate members, a BOM, whitespace only, an array or a scalar — is
 *   400 "invalid_json"; an object with a member other than "tag", or a tag
 *   that is not a string or null, is empty, longer than 128 bytes or holds
 *   control characters, is 400 "invalid_body". A body is checked in this
 *   order: size (413), Content-Type (415), JSON (400), then
 *   Idempotency-Key (400). An empty body registers whatever its
 *   Content-Type. Content-Type is application/json (case-insensitive) with
 *   no parameter but an optional charset=utf-8 (case-insensitive, may be
 *   quoted); anything else, or Content-Type given twice, is 415.
 * - Idempotency-Key and Authorization given twice: 400 and 401. An
 *   Idempotency-Key on a request that registers nothing is ignored.
 * - X-Request-Id given twice, or invalid, is replaced by a generated id.
 * - Location only with 201: a replay (200) carries none. RFC 9110 gives
 *   Location a meaning for 201 and 3xx only, and a CGI server treats a 200
 *   with a local Location as an internal redirect (RFC 3875 6.2.2: Apache
 *   would answer with a GET of that path instead).
 * - Bodies are compact JSON followed by one "\n" (friendlier on a terminal);
 *   Content-Length counts it. Members appear in DESIGN.md's order.
 * - Error codes: invalid_parameter, invalid_json, invalid_body (400);
 *   unauthorized (401); not_found (404); method_not_allowed (405);
 *   payload_too_large (413); unsupported_media_type (415);
 *   idempotency_conflict (422); internal (500); not_supported (501);
 *   unavailable, draining, schema (503); timeout (504, from the
 *   transport). Messages name the parameter or header, never its value.
 * - `next` keeps the path the client used (/getEpoch stays /getEpoch) and
 *   carries, in this order, limit (unless 100), order (when asc), after,
 *   before, since, until and tag, with the cursor (after for asc, before
 *   for desc) set to the last id of the page. since/until are written as
 *   seconds with the shortest exact fraction; the tag is percent-encoded
 *   (every byte but A-Z a-z 0-9 - . _ ~). `next` is null on the last page.
 * - client_ip: the peer, unless the peer is a trusted proxy and the last
 *   element of the last X-Forwarded-For line is a valid IPv4/IPv6 address
 *   (then that address, as inet_ntop writes it). X-Forwarded-Proto (last
 *   element, "http" or "https", any case) is honoured from trusted proxies
 *   only. Trusted addresses compare as addresses (::ffff:10.0.0.1 is
 *   10.0.0.1). A peer that is not a valid address is recorded as no address.
 * - Authorization: "Bearer" (any case), one space, the token; the answer to a
 *   missing or wrong token is the same 401 with "WWW-Authenticate: Bearer".
 * - A request time outside 1..EPOCH_TIME_MAX gives the registration the
 *   store's clock instead; /now answers 500 for a time it cannot format.
 * - Methods other than GET, HEAD and POST (OPTIONS included) are 405. A
 *   body sent with GET or HEAD is ignored. A decoded query value longer
 *   than 1023 bytes is 400 ("... is too long") rather than truncated.
 * - Out of memory: 500 with a fixed body that needs no allocation.
 */
#include "fe_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define US_PER_S INT64_C(1000000)

/* Decoded query names and values: every valid one is far shorter. */
#define QUERY_VALUE_MAX 1024
#define QUERY_NAME_MAX 32

/* The answer when memory runs out: no allocation needed to send it. */
static const char OOM_BODY[] =
    "{\"error\":{\"status\":500,\"code\":\"internal\",\"message\":\"out of memory\"}}\n";

static const char JSON_CONTENT_TYPE[] = "application/json; charset=utf-8";

/* ---- routes ---- */

enum {
    M_GET = 1u << 0, /* GET and HEAD */
    M_POST = 1u << 1
};

typedef struct route_info {
    const char *path; /* also the metrics label */
    unsigned methods;
    fe_op_kind get;  /* what GET/HEAD does */
    fe_op_kind post; /* what POST does */
} route_info;

static const route_info routes[FE_ROUTE_COUNT] = {
    [FE_ROUTE_NONE] = {"none", 0, FE_OP_DONE, FE_OP_DONE},
    [FE_ROUTE_EPOCHS] = {"/epochs", M_GET | M_POST, FE_OP_LIST, FE_OP_REGISTER},
    [FE_ROUTE_EPOCH] = {"/epochs/{id}", M_GET, FE_OP_GET, FE_OP_DONE},
    [FE_ROUTE_NOW] = {"/now", M_GET, FE_OP_DONE, FE_OP_DONE},
    [FE_ROUTE_HEALTHZ] = {"/healthz", M_GET, FE_OP_DONE, FE_OP_DONE},
    [FE_ROUTE_READYZ] = {"/readyz", M_GET, FE_OP_READY, FE_OP_DONE},
    [FE_ROUTE_METRICS] = {"/metrics", M_GET, FE_OP_METRICS, FE_OP_DONE},
    [FE_ROUTE_EPOCH_REGISTER_TIME] = {"/EpochRegisterTime", M_POST, FE_OP_DONE,
                                      FE_OP_REGISTER},
    [FE_ROUTE_STORE_EPOCH_TIME] = {"/storeEpochTime", M_POST, FE_OP_DONE, FE_OP_REGISTER},
    [FE_ROUTE_GET_EPOCH] = {"/getEpoch", M_GET, FE_OP_LIST, FE_OP_DONE},
    [FE_ROUTE_GET_EPOCH_STORE] = {"/getEpochStore", M_GET, FE_OP_LIST, FE_OP_DONE},
    [FE_ROUTE_APP] = {"/app", M_GET | M_POST, FE_OP_LIST, FE_OP_REGISTER},
};

static const char EPOCH_PREFIX[] = "/epochs/";

const char *fe_route_name(fe_route route)
{
    if ((unsigned)route >= FE_ROUTE_COUNT)
        return routes[FE_ROUTE_NONE].path;
    return routes[route].path;
}

const char *fe_route_allow(fe_route route)
{
    if ((unsigned)route >= FE_ROUTE_COUNT)
        return "";
    switch (routes[route].methods) {
    case M_GET | M_POST:
        return "GET, HEAD, POST";
    case M_GET:
        return "GET, HEAD";
    case M_POST:
        return "POST";
    default:
        return "";
    }
}

fe_route fe_route_find(const char *path, size_t len)
{
    if (!path)
        return FE_ROUTE_NONE;
    for (int r = FE_ROUTE_NONE + 1; r < FE_ROUTE_COUNT; r++) {
        if (r == FE_ROUTE_EPOCH)
            continue;
        const char *p = routes[r].path;
        if (strlen(p) == len && memcmp(p, path, len) == 0)
            return (fe_route)r;
    }
    size_t n = sizeof(EPOCH_PREFIX) - 1;
    if (len > n && memcmp(path, EPOCH_PREFIX, n) == 0 && !memchr(path + n, '/', len - n))
        return FE_ROUTE_EPOCH;
    return FE_ROUTE_NONE;
}

const char *fe_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        break;
    }
    if (status >= 200 && status < 300)
        return "OK";
    if (status >= 400 && status < 500)
        return "Client Error";
    return "Server Error";
}

/* The error code used when the caller of fe_http_error() gives none. */
static const char *default_code(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 411:
        return "length_required";
    case 413:
        return "payload_too_large";
    case 414:
        return "uri_too_long";
    case 415:
        return "unsupported_media_type";
    case 417:
        return "expectation_failed";
    case 422:
        return "unprocessable";
    case 431:
        return "header_too_large";
    case 501:
        return "not_implemented";
    case 503:
        return "unavailable";
    case 504:
        return "timeout";
    case 505:
        return "http_version_not_supported";
    default:
        return status >= 500 ? "internal" : "bad_request";
    }
}

/* ---- small helpers ---- */

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive comparison of s (n bytes) with the NUL-terminated lit. */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s[i]) != ascii_lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs from both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_ows((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_ows((*s)[*n - 1]))
        (*n)--;
}

/* How many times the request has a header, and the last one of them. */
static size_t header_find(const fe_request *req, const char *name, const fe_header **last)
{
    size_t count = 0;
    *last = NULL;
    for (size_t i = 0; req->headers && i < req->header_count; i++) {
        const fe_header *h = &req->headers[i];
        if (h->name && ieq(h->name, h->name_len, name)) {
            count++;
            *last = h;
        }
    }
    return count;
}

static int id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

/* True for the bytes a path may hold unencoded (RFC 3986 pchar and '/'). */
static int path_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

/* RFC 3986 unreserved: what a query value keeps unencoded. */
static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static void sb_str(fe_buf *b, const char *s)
{
    fe_buf_put(b, s, strlen(s));
}

/* Appends s, percent-encoding every byte for which keep() is false. */
static void sb_encode(fe_buf *b, const char *s, size_t n, int (*keep)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (keep(c)) {
            fe_buf_put(b, (const char *)&s[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            fe_buf_put(b, esc, 3);
        }
    }
}

/* Microseconds as epoch seconds with the shortest exact fraction. */
static void sb_seconds(fe_buf *b, int64_t us)
{
    char text[40];
    int64_t frac = us % US_PER_S;
    if (frac == 0) {
        snprintf(text, sizeof(text), "%lld", (long long)(us / US_PER_S));
    } else {
        int n = snprintf(text, sizeof(text), "%lld.%06lld", (long long)(us / US_PER_S),
                         (long long)frac);
        while (n > 0 && text[n - 1] == '0')
            text[--n] = '\0';
    }
    sb_str(b, text);
}

/* ---- responses ---- */

void fe_response_init(fe_response *resp)
{
    if (resp)
        memset(resp, 0, sizeof(*resp));
}

void fe_response_clear(fe_response *resp)
{
    if (!resp)
        return;
    if (!resp->body_static_)
        free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

char *fe_response_take_body(fe_response *resp)
{
    if (!resp || !resp->body || resp->body_static_)
        return NULL;
    char *body = resp->body;
    resp->body = NULL;
    return body;
}

const char *fe_response_header_get(const fe_response *resp, const char *name)
{
    if (!resp || !name)
        return NULL;
    for (size_t i = 0; i < resp->header_count && i < FE_RESPONSE_HEADERS_MAX; i++)
        if (resp->headers[i].name &&
            ieq(resp->headers[i].name, strlen(resp->headers[i].name), name))
            return resp->headers[i].value;
    return NULL;
}

/* Adds a header; the value is always one of ours (never request bytes). */
static void add_header(fe_response *resp, const char *name, const char *value)
{
    if (resp->header_count >= FE_RESPONSE_HEADERS_MAX)
        return; /* cannot happen: no response needs more than six */
    fe_response_header *h = &resp->headers[resp->header_count++];
    h->name = name;
    snprintf(h->value, sizeof(h->value), "%s", value);
}

/* Status line and the headers every response carries. */
static void start(fe_response *resp, const fe_op *op, int status)
{
    fe_response_clear(resp);
    resp->status = status;
    resp->reason = fe_http_reason(status);
    if (op && op->request_id[0])
        add_header(resp, "X-Request-Id", op->request_id);
    add_header(resp, "Cache-Control", "no-store");
}

/* 500 with the static body: what is left when memory runs out. */
static void out_of_memory(fe_response *resp, const fe_op *op)
{
    int close = resp->close;
    start(resp, op, 500);
    add_header(resp, "Content-Type", JSON_CONTENT_TYPE);
    resp->body = (char *)(uintptr_t)OOM_BODY; /* never freed: body_static_ */
    resp->body_len = sizeof(OOM_BODY) - 1;
    resp->body_static_ = 1;
    resp->close = close;
}

/*
 * Sets the body to the compact JSON of @p json and a newline, with the JSON
 * content type; releases @p json. -1 when memory runs out (or json is NULL:
 * a constructor failed), and the response is then left without a body.
 */
typedef struct dump_buf {
    char *data;
    size_t len, cap;
} dump_buf;

/* json_dump_callback() sink: one pass over the value (json_dumpb() with a
 * NULL buffer would render everything twice just to learn the size). */
static int dump_append(const char *chunk, size_t size, void *arg)
{
    dump_buf *b = arg;
    if (size >= SIZE_MAX / 4 - b->len)
        return -1;
    if (b->len + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + size + 1 > cap) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, chunk, size);
    b->len += size;
    return 0;
}

static int set_json(fe_response *resp, json_t *json)
{
    int rc = -1;
    if (!json)
        return -1;
    dump_buf b = {NULL, 0, 0};
    if (json_dump_callback(json, dump_append, &b, JSON_COMPACT) == 0 && b.data) {
        b.data[b.len] = '\n'; /* dump_append always leaves room for it */
        resp->body = b.data;
        resp->body_len = b.len + 1;
        resp->body_static_ = 0;
        add_header(resp, "Content-Type", JSON_CONTENT_TYPE);
        b.data = NULL;
        rc = 0;
    }
    free(b.data);
    json_decref(json);
    return rc;
}

/* Adds a member, releasing the value; a NULL value is a failure. */
static int add_member(json_t *object, const char *key, json_t *value)
{
    return value ? json_object_set_new(object, key, value) : -1;
}

static json_t *error_json(int status, const char *code, const char *message)
{
    json_t *outer = json_object();
    json_t *inner = json_object();
    json_t *msg = json_string(message);
    int rc;
    if (!msg) /* not UTF-8 (or no memory): say what the status says instead */
        msg = json_string(fe_http_reason(status));
    if (!outer || !inner || !msg ||
        add_member(inner, "status", json_integer(status)) < 0 ||
        add_member(inner, "code", json_string(code)) < 0)
        goto fail;
    rc = json_object_set_new(inner, "message", msg); /* steals msg, also on failure */
    msg = NULL;
    if (rc < 0)
        goto fail;
    rc = json_object_set_new(outer, "error", inner);
    inner = NULL;
    if (rc < 0)
        goto fail;
    return outer;
fail:
    json_decref(msg);
    json_decref(inner);
    json_decref(outer);
    return NULL;
}

void fe_http_error(fe_response *resp, const fe_op *op, int status, const char *code,
                   const char *message, int close)
{
    char retry[16];
    if (!resp)
        return;
    if (status < 100 || status > 599)
        status = 500;
    if (!code || !code[0])
        code = default_code(status);
    if (!message || !message[0])
        message = fe_http_reason(status);
    start(resp, op, status);
    resp->close = close ? 1 : 0;
    if (status == 401)
        add_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 405 && op && fe_route_allow(op->route)[0])
        add_header(resp, "Allow", fe_route_allow(op->route));
    if (status == 503 || status == 504) {
        snprintf(retry, sizeof(retry), "%d", FE_RETRY_AFTER_SECONDS);
        add_header(resp, "Retry-After", retry);
    }
    if (set_json(resp, error_json(status, code, message)) < 0)
        out_of_memory(resp, op);
}

/* fe_http_error() with a formatted message. */
static void errorf(fe_response *resp, const fe_op *op, int status, const char *code,
                   const char *fmt, ...) EPOCHREG_PRINTF(5, 6);

static void errorf(fe_response *resp, const fe_op *op, int status, const char *code,
                   const char *fmt, ...)
{
    char message[EPOCH_ERROR_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    fe_http_error(resp, op, status, code, message, 0);
}

void fe_http_error_from(fe_response *resp, const fe_op *op, int rc,
                        const epoch_error *err)
{
    switch (rc) {
    case EPOCH_EINVAL:
        /* The library's argument checks name a field and a rule, never a
         * value; a backend's own words stay in the log. */
        if (err && err->message[0] && strcmp(err->origin, "epochreg") == 0)
            fe_http_error(resp, op, 400, "invalid_parameter", err->message, 0);
        else
            fe_http_error(resp, op, 400, "invalid_parameter", "invalid parameter", 0);
        break;
    case EPOCH_ENOTFOUND:
        fe_http_error(resp, op, 404, "not_found", "no record has this id", 0);
        break;
    case EPOCH_ECONFLICT:
        fe_http_error(resp, op, 422, "idempotency_conflict",
                      "Idempotency-Key was already used with a different tag", 0);
        break;
    case EPOCH_EUNAVAILABLE:
    case EPOCH_ENOMEM:
        fe_http_error(resp, op, 503, "unavailable",
                      "the store is unavailable; retry later", 0);
        break;
    case EPOCH_ESCHEMA:
        fe_http_error(resp, op, 503, "schema",
                      "the store's schema does not match this version of epochreg; "
                      "run `epochreg migrate` (or upgrade epochreg)",
                      0);
        break;
    case EPOCH_ENOTSUPPORTED:
        fe_http_error(resp, op, 501, "not_supported",
                      "the store does not support this operation", 0);
        break;
    default:
        fe_http_error(resp, op, 500, "internal", "internal error", 0);
        break;
    }
}

/* ---- ops ---- */

void fe_op_copy(fe_op *dst, const fe_op *src)
{
    if (!dst || !src || dst == src)
        return;
    memcpy(dst, src, sizeof(*dst));
#define REPOINT(ptr, member)                                                             \
    do {                                                                                 \
        if ((ptr) == src->member)                                                        \
            (ptr) = dst->member;                                                         \
    } while (0)
    REPOINT(dst->entry.tag, tag_);
    REPOINT(dst->entry.client_ip, client_ip_);
    REPOINT(dst->entry.request_id, request_id);
    REPOINT(dst->entry.node, node_);
    REPOINT(dst->entry.idempotency_key, key_);
    REPOINT(dst->query.tag, query_tag_);
#undef REPOINT
}

/* The request id: a valid X-Request-Id (given once), else a fresh one. */
static void take_request_id(fe_op *op, const fe_request *req)
{
    const fe_header *h;
    if (header_find(req, "X-Request-Id", &h) == 1 && h->value && h->value_len > 0 &&
        h->value_len <= EPOCH_REQUEST_ID_MAX) {
        int ok = 1;
        for (size_t i = 0; i < h->value_len; i++)
            ok &= id_char((unsigned char)h->value[i]);
        if (ok) {
            memcpy(op->request_id, h->value, h->value_len);
            op->request_id[h->value_len] = '\0';
            return;
        }
    }
    if (epoch_request_id_generate(op->request_id, sizeof(op->request_id), NULL) < 0) {
        /* The kernel's random source failed: still unique enough to trace
         * in a log, from the request time and where the op lives. */
        snprintf(op->request_id, sizeof(op->request_id), "t%016llx%016llx",
                 (unsigned long long)req->received_us, (unsigned long long)(uintptr_t)op);
    }
}

/* Encodes the prefix into op->prefix_; -1 when it does not fit. */
static int take_prefix(fe_op *op, const fe_config *cfg)
{
    fe_buf b = {op->prefix_, sizeof(op->prefix_), 0, 0};
    op->prefix_[0] = '\0';
    if (cfg && cfg->prefix)
        sb_encode(&b, cfg->prefix, strlen(cfg->prefix), path_char);
    if (b.full) {
        op->prefix_[0] = '\0';
        return -1;
    }
    return 0;
}

/* ---- addresses ---- */

typedef struct ip_addr {
    int family;
    unsigned char bytes[16];
} ip_addr;

/* Parses a numeric IPv4 or IPv6 address (no zone, no brackets, no port). */
static int ip_parse(ip_addr *out, const char *s, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    if (!s || n == 0 || n >= sizeof(text) || memchr(s, '\0', n))
        return -1;
    memcpy(text, s, n);
    text[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->bytes) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->bytes) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        out->family = AF_INET6;
        /* ::ffff:a.b.c.d is a.b.c.d (a dual-stack socket's IPv4 peer). */
        if (memcmp(out->bytes, mapped, sizeof(mapped)) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = AF_INET;
        }
        return 0;
    }
    return -1;
}

static int ip_equal(const ip_addr *a, const ip_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

static int trusted_peer(const fe_config *cfg, const char *peer)
{
    ip_addr p, t;
    if (!cfg || !peer || !cfg->trusted_proxies)
        return 0;
    int parsed = ip_parse(&p, peer, strlen(peer)) == 0;
    for (size_t i = 0; i < cfg->trusted_proxies_count; i++) {
        const char *proxy = cfg->trusted_proxies[i];
        if (!proxy)
            continue;
        if (parsed ? ip_parse(&t, proxy, strlen(proxy)) == 0 && ip_equal(&p, &t)
                   : strcmp(proxy, peer) == 0)
            return 1;
    }
    return 0;
}

/* The last comma-separated element of the last header called @p name. */
static int last_element(const fe_request *req, const char *name, const char **s,
                        size_t *n)
{
    const fe_header *h;
    if (header_find(req, name, &h) == 0 || !h->value)
        return -1;
    const char *v = h->value;
    size_t len = h->value_len;
    size_t start = len;
    while (start > 0 && v[start - 1] != ',')
        start--;
    *s = v + start;
    *n = len - start;
    trim(s, n);
    return 0;
}

/* Sets op->client_ip_ and the entry's protocol (see the top of the file). */
static void take_client(fe_op *op, const fe_request *req, const fe_config *cfg)
{
    const char *s;
    size_t n;
    ip_addr a;
    int https = req->https ? 1 : 0;
    op->client_ip_[0] = '\0';
    if (req->peer && epoch_field_check(EPOCH_FIELD_CLIENT_IP, req->peer, NULL) == 0)
        snprintf(op->client_ip_, sizeof(op->client_ip_), "%s", req->peer);
    if (trusted_peer(cfg, req->peer)) {
        if (last_element(req, "X-Forwarded-For", &s, &n) == 0 && ip_parse(&a, s, n) == 0)
            inet_ntop(a.family, a.bytes, op->client_ip_, sizeof(op->client_ip_));
        if (last_element(req, "X-Forwarded-Proto", &s, &n) == 0) {
            if (ieq(s, n, "https"))
                https = 1;
            else if (ieq(s, n, "http"))
                https = 0;
        }
    }
    op->entry.protocol = https ? EPOCH_PROTOCOL_HTTPS : EPOCH_PROTOCOL_HTTP;
    op->entry.client_ip = op->client_ip_[0] ? op->client_ip_ : NULL;
}

/* Starts every op: what an access log needs is known even for a 404. */
static int begin(fe_op *op, const fe_request *req, const fe_config *cfg)
{
    memset(op, 0, sizeof(*op));
    op->kind = FE_OP_DONE;
    epoch_query_init(&op->query, EPOCH_QUERY_VERSION);
    take_request_id(op, req);
    op->entry.request_id = op->request_id;
    take_client(op, req, cfg);
    op->route = fe_route_find(req->path, req->path ? req->path_len : 0);
    op->head = req->method && strcmp(req->method, "HEAD") == 0;
    return take_prefix(op, cfg);
}

void fe_op_init(fe_op *op, const fe_request *req, const fe_config *cfg)
{
    static const fe_request none = {0};
    if (!op)
        return;
    begin(op, req ? req : &none, cfg);
}

/* ---- query strings ---- */

enum { P_LIMIT, P_ORDER, P_AFTER, P_BEFORE, P_SINCE, P_UNTIL, P_TAG, P_COUNT };

static const char *const param_names[P_COUNT] = {"limit", "order", "after", "before",
                                                 "since", "until", "tag"};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum { DECODE_OK = 0, DECODE_ESCAPE = -1, DECODE_NUL = -2, DECODE_LONG = -3 };

/* Decodes one name or value: %XX, and '+' as a space. */
static int decode(char *dst, size_t cap, size_t *out_len, const char *s, size_t n)
{
    size_t len = 0;
    int rc = DECODE_OK;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
                return DECODE_ESCAPE;
            c = hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0)
            return DECODE_NUL;
        if (len + 1 >= cap) {
            rc = DECODE_LONG; /* keep scanning: a bad escape later is 400 too */
            continue;
        }
        dst[len++] = (char)c;
    }
    dst[len] = '\0';
    *out_len = len;
    return rc;
}

/* Parses a value into the op; 0, or -1 after writing the 400. */
static int take_param(fe_op *op, fe_response *resp, int param, const char *v, size_t n)
{
    epoch_error err;
    uint64_t u = 0;
    int64_t us = 0;
    int rc = 0;
    switch (param) {
    case P_LIMIT:
        rc = fe_parse_uint(&u, v, n, 1, EPOCH_LIST_MAX, "limit", &err);
        if (rc == 0)
            op->query.limit = (unsigned)u;
        break;
    case P_ORDER:
        rc = fe_parse_order(&op->query.order, v, n, "order", &err);
        break;
    case P_AFTER:
    case P_BEFORE:
        rc = fe_parse_uint(&u, v, n, 0, INT64_MAX, param_names[param], &err);
        if (rc == 0 && param == P_AFTER)
            op->query.after = (int64_t)u;
        else if (rc == 0)
            op->query.before = (int64_t)u;
        break;
    case P_SINCE:
        rc = fe_parse_epoch_seconds(&us, v, n, "since", &err);
        if (rc == 0)
            op->query.since_us = us;
        break;
    case P_UNTIL:
        rc = fe_parse_epoch_seconds(&us, v, n, "until", &err);
        if (rc == 0)
            op->query.until_us = us;
        break;
    case P_TAG:
        rc = epoch_field_check(EPOCH_FIELD_TAG, v, &err);
        if (rc == 0) {
            memcpy(op->query_tag_, v, n + 1);
            op->query.tag = op->query_tag_;
        }
        break;
    default:
        return -1;
    }
    if (rc < 0) {
        fe_http_error(resp, op, 400, "invalid_parameter", err.message, 0);
        return -1;
    }
    return 0;
}

/*
 * Reads the query string: the list parameters when @p list, else none at
 * all. 0, or -1 after writing the 400.
 */
static int parse_query(fe_op *op, fe_response *resp, const fe_request *req, int list)
{
    char name[QUERY_NAME_MAX];
    char value[QUERY_VALUE_MAX];
    size_t name_len, value_len;
    unsigned seen = 0;
    const char *q = req->query;
    size_t n = q ? req->query_len : 0;
    size_t pos = 0;
    while (pos < n) {
        const char *amp = memchr(q + pos, '&', n - pos);
        size_t end = amp ? (size_t)(amp - q) : n;
        const char *seg = q + pos;
        size_t seg_len = end - pos;
        pos = end + 1;
        if (seg_len == 0)
            continue;
        const char *eq = memchr(seg, '=', seg_len);
        size_t raw_name_len = eq ? (size_t)(eq - seg) : seg_len;
        const char *raw_value = eq ? eq + 1 : seg + seg_len;
        size_t raw_value_len = seg_len - raw_name_len - (eq ? 1 : 0);

        int drc = decode(name, sizeof(name), &name_len, seg, raw_name_len);
        int vrc = decode(value, sizeof(value), &value_len, raw_value, raw_value_len);
        if (drc == DECODE_ESCAPE || vrc == DECODE_ESCAPE) {
            fe_http_error(resp, op, 400, "invalid_parameter",
                          "query string has a malformed percent-encoding "
                          "(% must be followed by two hexadecimal digits)",
                          0);
            return -1;
        }
        if (drc == DECODE_NUL || vrc == DECODE_NUL) {
            fe_http_error(resp, op, 400, "invalid_parameter",
                          "query string holds a NUL character (%00)", 0);
            return -1;
        }
        if (name_len == 0 && drc == DECODE_OK) {
            fe_http_error(resp, op, 400, "invalid_parameter",
                          "query string has a parameter without a name", 0);
            return -1;
        }
        int param = -1;
        for (int i = 0; list && drc == DECODE_OK && i < P_COUNT; i++)
            if (strcmp(name, param_names[i]) == 0)
                param = i;
        if (param < 0) {
            if (list)
                fe_http_error(resp, op, 400, "invalid_parameter",
                              "unknown query parameter (this path takes limit, order, "
                              "after, before, since, until and tag)",
                              0);
            else
                fe_http_error(resp, op, 400, "invalid_parameter",
                              "unknown query parameter (this path takes none)", 0);
            return -1;
        }
        const char *pname = param_names[param];
        if (seen & (1u << param)) {
            errorf(resp, op, 400, "invalid_parameter", "%s is given more than once",
                   pname);
            return -1;
        }
        seen |= 1u << param;
        if (vrc == DECODE_LONG) {
            if (param == P_TAG)
                errorf(resp, op, 400, "invalid_parameter", "tag is longer than %d bytes",
                       EPOCH_TAG_MAX);
            else
                errorf(resp, op, 400, "invalid_parameter", "%s is too long", pname);
            return -1;
        }
        if (take_param(op, resp, param, value, value_len) < 0)
            return -1;
    }
    return 0;
}

/* ---- bodies ---- */

/* True when Content-Type is application/json with at most charset=utf-8. */
static int json_content_type(const char *v, size_t n)
{
    const char *semi = memchr(v, ';', n);
    const char *type = v;
    size_t type_len = semi ? (size_t)(semi - v) : n;
    trim(&type, &type_len);
    if (!ieq(type, type_len, "application/json"))
        return 0;
    int charset_seen = 0;
    size_t pos = semi ? (size_t)(semi - v) + 1 : n;
    while (pos < n) {
        const char *next = memchr(v + pos, ';', n - pos);
        size_t end = next ? (size_t)(next - v) : n;
        const char *param = v + pos;
        size_t param_len = end - pos;
        pos = end + 1;
        trim(&param, &param_len);
        if (param_len == 0)
            continue; /* "application/json;" : RFC 9110 allows empty parameters */
        const char *eq = memchr(param, '=', param_len);
        if (!eq || charset_seen || !ieq(param, (size_t)(eq - param), "charset"))
            return 0;
        const char *val = eq + 1;
        size_t val_len = param_len - (size_t)(val - param);
        if (val_len >= 2 && val[0] == '"' && val[val_len - 1] == '"') {
            val++;
            val_len -= 2;
        }
        if (!ieq(val, val_len, "utf-8"))
            return 0;
        charset_seen = 1;
    }
    return 1;
}

/* A message for a body jansson refused, by jansson's error code. */
static const char *json_problem(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8:
        return "body is not valid UTF-8";
    case json_error_duplicate_key:
        return "body has a duplicate member";
    case json_error_null_character:
        return "body has a \\u0000 escape, which no member may hold";
    case json_error_stack_overflow:
        return "body is nested too deeply";
    case json_error_end_of_input_expected:
        return "body has more after the JSON object";
    case json_error_premature_end_of_input:
        return "body ends before the JSON object does";
    default:
        return "body is not a JSON object";
    }
}

/*
 * Reads a POST body into the op: its tag. 0, -1 after writing the
 * response (413, 415, 400), or -2 when memory ran out.
 */
static int parse_body(fe_op *op, fe_response *resp, const fe_request *req,
                      const fe_config *cfg)
{
    const fe_header *ct;
    json_error_t jerr;
    epoch_error err;
    size_t body_max = cfg && cfg->body_max ? cfg->body_max : FE_BODY_MAX_DEFAULT;
    int rc = -1;
    if (!req->body || req->body_len == 0)
        return 0;
    if (req->body_len > body_max) {
        errorf(resp, op, 413, "payload_too_large", "body is larger than %zu bytes",
               body_max);
        return -1;
    }
    if (header_find(req, "Content-Type", &ct) != 1 || !ct->value ||
        !json_content_type(ct->value, ct->value_len)) {
        fe_http_error(resp, op, 415, "unsupported_media_type",
                      "a body must have Content-Type: application/json "
                      "(charset, if given, utf-8)",
                      0);
        return -1;
    }
    /* No JSON_DECODE_ANY: the top level must be an array or object (and
     * arrays are refused below); no JSON_ALLOW_NUL. jansson refuses input
     * nested more than 2048 levels deep before it recurses further. */
    memset(&jerr, 0, sizeof(jerr));
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson fails some allocations without filling jerr at all. */
        if (json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0])
            return -2;
        fe_http_error(resp, op, 400, "invalid_json", json_problem(&jerr), 0);
        return -1;
    }
    if (!json_is_object(root)) {
        fe_http_error(resp, op, 400, "invalid_json", "body is not a JSON object", 0);
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, "tag") != 0) {
            fe_http_error(resp, op, 400, "invalid_body",
                          "body has an unknown member (only \"tag\" is allowed)", 0);
            goto out;
        }
        if (json_is_null(value))
            continue;
        if (!json_is_string(value)) {
            fe_http_error(resp, op, 400, "invalid_body", "tag must be a string or null",
                          0);
            goto out;
        }
        /* Without JSON_ALLOW_NUL a string holds no NUL: strlen is its length. */
        if (epoch_field_check(EPOCH_FIELD_TAG, json_string_value(value), &err) < 0) {
            fe_http_error(resp, op, 400, "invalid_body", err.message, 0);
            goto out;
        }
        memcpy(op->tag_, json_string_value(value), json_string_length(value) + 1);
        op->entry.tag = op->tag_;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The Idempotency-Key, if any, into the op. 0 or -1 after writing the 400. */
static int take_key(fe_op *op, fe_response *resp, const fe_request *req)
{
    const fe_header *h;
    size_t count = header_find(req, "Idempotency-Key", &h);
    if (count == 0)
        return 0;
    if (count > 1) {
        fe_http_error(resp, op, 400, "invalid_parameter",
                      "Idempotency-Key is given more than once", 0);
        return -1;
    }
    int ok = h->value && h->value_len >= 1 && h->value_len <= EPOCH_KEY_MAX;
    for (size_t i = 0; ok && i < h->value_len; i++)
        ok = h->value[i] >= '!' && h->value[i] <= '~';
    if (!ok) {
        fe_http_error(resp, op, 400, "invalid_parameter",
                      "Idempotency-Key must be 1-128 printable ASCII characters "
                      "without spaces",
                      0);
        return -1;
    }
    memcpy(op->key_, h->value, h->value_len);
    op->key_[h->value_len] = '\0';
    op->entry.idempotency_key = op->key_;
    return 0;
}

/* ---- step 1 ---- */

static int needs_token(const fe_config *cfg, fe_route route, int post)
{
    if (!cfg || !cfg->auth)
        return 0;
    if (cfg->auth_scope == FE_AUTH_ALL)
        return route != FE_ROUTE_HEALTHZ && route != FE_ROUTE_READYZ;
    return post;
}

static int authorized(const fe_config *cfg, const fe_request *req)
{
    const fe_header *h;
    if (header_find(req, "Authorization", &h) != 1)
        return 0;
    return fe_auth_check(cfg->auth, h->value, h->value ? h->value_len : 0);
}

/* GET /now: the request's time, nothing stored. */
static void render_now(fe_response *resp, const fe_op *op, int64_t us)
{
    char time[EPOCH_TIME_BUFSIZE];
    if (epoch_time_format(time, sizeof(time), us) < 0) {
        fe_http_error(resp, op, 500, "internal", "the request time is out of range", 0);
        return;
    }
    json_t *o = json_object();
    start(resp, op, 200);
    if (!o || add_member(o, "epoch", json_integer(us / US_PER_S)) < 0 ||
        add_member(o, "epoch_us", json_integer(us)) < 0 ||
        add_member(o, "time", json_string(time)) < 0) {
        json_decref(o);
        out_of_memory(resp, op);
        return;
    }
    if (set_json(resp, o) < 0)
        out_of_memory(resp, op);
}

static void render_status(fe_response *resp, const fe_op *op, int status,
                          const char *text)
{
    json_t *o = json_object();
    start(resp, op, status);
    if (!o || add_member(o, "status", json_string(text)) < 0) {
        json_decref(o);
        out_of_memory(resp, op);
        return;
    }
    if (set_json(resp, o) < 0)
        out_of_memory(resp, op);
}

/* The id segment of /epochs/{id}: 0, or -1 after writing the response. */
static int take_id(fe_op *op, fe_response *resp, const fe_request *req)
{
    epoch_error err;
    uint64_t id = 0;
    size_t n = sizeof(EPOCH_PREFIX) - 1;
    if (fe_parse_uint(&id, req->path + n, req->path_len - n, 0, INT64_MAX, "id", &err) <
        0) {
        fe_http_error(resp, op, 400, "invalid_parameter", err.message, 0);
        return -1;
    }
    if (id == 0) {
        fe_http_error(resp, op, 404, "not_found", "no record has this id", 0);
        return -1;
    }
    op->id = (int64_t)id;
    return 0;
}

void fe_http_prepare(fe_op *op, fe_response *resp, const fe_request *req,
                     const fe_config *cfg)
{
    static const fe_request none = {0};
    if (!op || !resp)
        return;
    if (!req)
        req = &none;
    int prefix_ok = begin(op, req, cfg) == 0;
    const route_info *ri = &routes[op->route];
    const char *method = req->method ? req->method : "";
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    int body_rc;

    if (op->route == FE_ROUTE_NONE) {
        fe_http_error(resp, op, 404, "not_found", "no such path", 0);
        return;
    }
    if (!((get && (ri->methods & M_GET)) || (post && (ri->methods & M_POST)))) {
        errorf(resp, op, 405, "method_not_allowed", "method not allowed; allowed: %s",
               fe_route_allow(op->route));
        return;
    }
    if (needs_token(cfg, op->route, post) && !authorized(cfg, req)) {
        fe_http_error(resp, op, 401, "unauthorized", "a valid bearer token is required",
                      0);
        return;
    }
    if (!prefix_ok) {
        fe_http_error(resp, op, 500, "internal", "the configured path prefix is too long",
                      0);
        return;
    }
    if (op->route == FE_ROUTE_EPOCH && take_id(op, resp, req) < 0)
        return;
    fe_op_kind kind = post ? ri->post : ri->get;
    if (parse_query(op, resp, req, kind == FE_OP_LIST) < 0)
        return;

    switch (kind) {
    case FE_OP_REGISTER:
        body_rc = parse_body(op, resp, req, cfg);
        if (body_rc == -2)
            out_of_memory(resp, op);
        if (body_rc < 0 || take_key(op, resp, req) < 0)
            return;
        if (cfg && cfg->node && cfg->node[0]) {
            if (epoch_field_check(EPOCH_FIELD_NODE, cfg->node, NULL) < 0) {
                fe_http_error(resp, op, 500, "internal",
                              "the configured node name is invalid", 0);
                return;
            }
            snprintf(op->node_, sizeof(op->node_), "%s", cfg->node);
            op->entry.node = op->node_;
        }
        op->entry.epoch_us = req->received_us > 0 && req->received_us <= EPOCH_TIME_MAX
                                 ? req->received_us
                                 : 0;
        break;
    case FE_OP_DONE:
        if (op->route == FE_ROUTE_NOW)
            render_now(resp, op, req->received_us);
        else
            render_status(resp, op, 200, "ok"); /* /healthz */
        break;
    default:
        break;
    }
    op->kind = kind;
}

/* ---- step 3 ---- */

/* 200/201 with a record; Location for registrations. */
/* Takes a malloc'ed JSON body of @p len bytes (room for one more byte: the
 * final newline is written here). */
static void set_body(fe_response *resp, char *body, size_t len)
{
    body[len] = '\n';
    resp->body = body;
    resp->body_len = len + 1;
    resp->body_static_ = 0;
    add_header(resp, "Content-Type", JSON_CONTENT_TYPE);
}

/* 200/201 with a record; Location for registrations. Records are written by
 * fe_record_json_write(), which is byte for byte fe_record_json() through
 * jansson, only faster. */
static void render_record(fe_response *resp, const fe_op *op, int status,
                          const epoch_record *record, int location)
{
    char value[FE_HEADER_VALUE_SIZE];
    size_t len = 0;
    char *body = malloc(FE_RECORD_JSON_SIZE + 1);
    if (!body) {
        out_of_memory(resp, op);
        return;
    }
    if (!record || fe_record_json_write(body, FE_RECORD_JSON_SIZE, &len, record) < 0) {
        /* A record that cannot be rendered (a corrupt time or protocol). */
        free(body);
        fe_http_error(resp, op, 500, "internal", "the record cannot be rendered", 0);
        return;
    }
    start(resp, op, status);
    if (location) {
        snprintf(value, sizeof(value), "%s/epochs/%lld", op ? op->prefix_ : "",
                 (long long)record->id);
        add_header(resp, "Location", value);
    }
    set_body(resp, body, len);
}

void fe_http_render_register(fe_response *resp, const fe_op *op, int rc,
                             const epoch_record *record, const epoch_error *err)
{
    if (!resp)
        return;
    if (rc == 0)
        render_record(resp, op, 201, record, 1);
    else if (rc == EPOCH_REPLAYED)
        render_record(resp, op, 200, record, 0);
    else if (rc > 0)
        fe_http_error(resp, op, 500, "internal", "internal error", 0);
    else
        fe_http_error_from(resp, op, rc, err);
}

void fe_http_render_get(fe_response *resp, const fe_op *op, int rc,
                        const epoch_record *record, const epoch_error *err)
{
    if (!resp)
        return;
    if (rc == 0)
        render_record(resp, op, 200, record, 0);
    else
        fe_http_error_from(resp, op, rc, err);
}

/* The path and query of the page after @p last_id; -1 if it does not fit. */
static int next_link(char *buf, size_t size, const fe_op *op, int64_t last_id)
{
    fe_buf b = {buf, size, 0, 0};
    const epoch_query *q = &op->query;
    int asc = q->order == EPOCH_ORDER_ASC;
    int64_t after = asc ? last_id : q->after;
    int64_t before = asc ? q->before : last_id;
    const char *sep = "?";
    buf[0] = '\0';
    sb_str(&b, op->prefix_);
    sb_str(&b, fe_route_name(op->route));
#define PARAM(name)                                                                      \
    do {                                                                                 \
        sb_str(&b, sep);                                                                 \
        sb_str(&b, name "=");                                                            \
        sep = "&";                                                                       \
    } while (0)
    if (q->limit != EPOCH_LIST_DEFAULT) {
        PARAM("limit");
        fe_buf_int(&b, q->limit);
    }
    if (asc) {
        PARAM("order");
        sb_str(&b, "asc");
    }
    if (after != EPOCH_UNSET) {
        PARAM("after");
        fe_buf_int(&b, after);
    }
    if (before != EPOCH_UNSET) {
        PARAM("before");
        fe_buf_int(&b, before);
    }
    if (q->since_us != EPOCH_UNSET) {
        PARAM("since");
        sb_seconds(&b, q->since_us);
    }
    if (q->until_us != EPOCH_UNSET) {
        PARAM("until");
        sb_seconds(&b, q->until_us);
    }
    if (q->tag) {
        PARAM("tag");
        sb_encode(&b, q->tag, strlen(q->tag), unreserved);
    }
#undef PARAM
    return b.full ? -1 : 0;
}

void fe_http_render_list(fe_response *resp, const fe_op *op, int rc,
                         const epoch_record *records, size_t count, int more,
                         const epoch_error *err)
{
    /* Prefix 512 + path 14 + parameters (the tag at most 384 encoded). */
    char next[FE_PREFIX_MAX + 1024];
    if (!resp)
        return;
    if (rc < 0) {
        fe_http_error_from(resp, op, rc, err);
        return;
    }
    if (!op || rc > 0 || (count > 0 && !records)) {
        fe_http_error(resp, op, 500, "internal", "internal error", 0);
        return;
    }
    int has_next = more && count > 0;
    if (has_next && next_link(next, sizeof(next), op, records[count - 1].id) < 0) {
        fe_http_error(resp, op, 500, "internal", "the next link does not fit", 0);
        return;
    }
    /* {"items":[r1,r2,...],"next":"..."|null}. Room for typical records
     * (~250 bytes; the loop grows the buffer for longer ones): a buffer
     * past 64 KiB would make every free() consolidate malloc's fast bins. */
    size_t cap = 32 + count * 320 + sizeof(next) * 6, len = 0;
    char *body = malloc(cap);
    if (!body) {
        out_of_memory(resp, op);
        return;
    }
    memcpy(body, "{\"items\":[", 10);
    len = 10;
    for (size_t i = 0; i < count; i++) {
        if (cap - len < FE_RECORD_JSON_SIZE + 2) {
            size_t ncap = cap * 2 + FE_RECORD_JSON_SIZE;
            char *p = realloc(body, ncap);
            if (!p) {
                free(body);
                out_of_memory(resp, op);
                return;
            }
            body = p;
            cap = ncap;
        }
        if (i)
            body[len++] = ',';
        size_t n = 0;
        if (fe_record_json_write(body + len, cap - len, &n, &records[i]) < 0) {
            free(body);
            fe_http_error(resp, op, 500, "internal", "a record cannot be rendered", 0);
            return;
        }
        len += n;
    }
    /* The tail: "],\"next\":" + null or the link as a JSON string + "}" and
     * the newline set_body() adds. */
    if (cap - len < sizeof(next) * 6 + 32) {
        char *p = realloc(body, len + sizeof(next) * 6 + 32);
        if (!p) {
            free(body);
            out_of_memory(resp, op);
            return;
        }
        body = p;
        cap = len + sizeof(next) * 6 + 32;
    }
    memcpy(body + len, "],\"next\":", 9);
    len += 9;
    if (has_next) {
        size_t n = 0;
        if (fe_json_string_write(body + len, cap - len, &n, next, sizeof(next)) < 0) {
            free(body);
            fe_http_error(resp, op, 500, "internal", "the next link cannot be rendered",
                          0);
            return;
        }
        len += n;
    } else {
        memcpy(body + len, "null", 4);
        len += 4;
    }
    body[len++] = '}';
    start(resp, op, 200);
    set_body(resp, body, len);
}

void fe_http_render_ready(fe_response *resp, const fe_op *op, int store_ok, int draining)
{
    if (!resp)
        return;
    if (draining)
        fe_http_error(resp, op, 503, "draining",
                      "this node is draining; send requests elsewhere", 0);
    else if (!store_ok)
        fe_http_error(resp, op, 503, "unavailable", "the store is unavailable", 0);
    else
        render_status(resp, op, 200, "ready");
}

void fe_http_render_text(fe_response *resp, const fe_op *op, const char *content_type,
                         const char *text, size_t len)
{
    if (!resp)
        return;
    if (!text)
        len = 0;
    start(resp, op, 200);
    char *body = malloc(len ? len : 1);
    if (!body) {
        out_of_memory(resp, op);
        return;
    }
    if (len)
        memcpy(body, text, len);
    resp->body = body;
    resp->body_len = len;
    add_header(resp, "Content-Type",
               content_type && content_type[0] ? content_type
                                               : "text/plain; charset=utf-8");
}

/* ---- configuration ---- */

int fe_config_check(const fe_config *cfg, epoch_error *err)
{
    epoch_error_clear(err);
    if (!cfg)
        return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL, "config is NULL");
    if (cfg->node && cfg->node[0] &&
        epoch_field_check(EPOCH_FIELD_NODE, cfg->node, err) < 0)
        return EPOCH_EINVAL;
    if (cfg->prefix && cfg->prefix[0]) {
        size_t n = strlen(cfg->prefix);
        if (cfg->prefix[0] != '/' || cfg->prefix[n - 1] == '/')
            return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                                   "prefix must start with '/' and not end with '/'");
        char encoded[FE_PREFIX_MAX + 1];
        fe_buf b = {encoded, sizeof(encoded), 0, 0};
        sb_encode(&b, cfg->prefix, n, path_char);
        if (b.full)
            return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                                   "prefix is longer than %d bytes (percent-encoded)",
                                   FE_PREFIX_MAX);
    }
    for (size_t i = 0; i < cfg->trusted_proxies_count; i++) {
        ip_addr a;
        const char *p = cfg->trusted_proxies ? cfg->trusted_proxies[i] : NULL;
        if (!p || ip_parse(&a, p, strlen(p)) < 0)
            return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                                   "trusted proxy %zu is not a numeric IPv4 or IPv6 "
                                   "address",
                                   i + 1);
    }
    if (cfg->auth_scope != FE_AUTH_WRITES && cfg->auth_scope != FE_AUTH_ALL)
        return epoch_error_set(err, EPOCH_EINVAL, "epochreg", NULL,
                               "auth scope is neither writes nor all");
    return 0;
}
