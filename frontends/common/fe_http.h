/*
 * epochreg HTTP API, transport-free: everything the daemon (epochregd) and the
 * CGI program (epochreg.cgi) mean by a request and a response. Routing,
 * method rules, parameter parsing, body validation, authentication, JSON
 * rendering and every error body live here and nowhere else, so both front
 * ends answer byte for byte alike.
 *
 * A request is handled in three steps, so that a transport can run the store
 * work wherever it likes (the daemon on worker threads, with many
 * registrations in one batch; the CGI inline):
 *
 *   1. fe_http_prepare(): parse and validate. Either the response is complete
 *      (op->kind == FE_OP_DONE: an error, /healthz, /now, ...) or op says
 *      what store work to do (register one entry, list, get by id, ping).
 *   2. the transport does that work with the library (epoch_register_batch(),
 *      epoch_list(), epoch_record_get(), epoch_store_ping()), or decides it
 *      cannot (store down, draining, deadline) and calls fe_http_error().
 *   3. fe_http_render_*(): the result becomes the response.
 *
 * Nothing here does I/O except fe_auth_load(), nothing blocks, and nothing
 * keeps global state. Every function is safe to call from any thread on its
 * own objects.
 */
#ifndef EPOCHREG_FE_HTTP_H
#define EPOCHREG_FE_HTTP_H

#include "fe.h"

#include <stddef.h>
#include <stdint.h>

/* ---- limits and defaults ---- */

/** Default limit on a request body, in bytes. */
#define FE_BODY_MAX_DEFAULT 16384
/** Seconds sent in Retry-After with every 503 and 504. */
#define FE_RETRY_AFTER_SECONDS 1
/** Longest path prefix (the CGI's SCRIPT_NAME) Location and next may carry. */
#define FE_PREFIX_MAX 512
/** Room for one response header value, with its NUL. */
#define FE_HEADER_VALUE_SIZE (FE_PREFIX_MAX + 64)
/** Most headers one response carries. */
#define FE_RESPONSE_HEADERS_MAX 8
/** Content type of /metrics (Prometheus text exposition format 0.0.4). */
#define FE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- authentication ---- */

/**
 * Bearer tokens loaded from a token file: one token per line, 16 to 256
 * printable ASCII characters ('!' to '~'); blank lines and lines starting with
 * '#' are ignored; CRLF line ends are accepted. The memory holding them is
 * wiped when they are freed.
 */
typedef struct fe_auth fe_auth;

/**
 * Reads a token file.
 *
 * @param out  receives the tokens; free with fe_auth_free().
 * @param warning  if not NULL, receives 1 when the file is readable by its
 *                 group or others (the caller should warn; it still loads).
 * @return 0, or EPOCH_EINVAL (unreadable, a malformed line — the message
 *         gives the line number, never the line — or no token at all),
 *         EPOCH_ENOMEM.
 */
int fe_auth_load(fe_auth **out, const char *path, int *warning, epoch_error *err);

/** Frees tokens from fe_auth_load(); NULL is fine. */
void fe_auth_free(fe_auth *auth);

/**
 * Checks an Authorization header value ("Bearer <token>", scheme
 * case-insensitive, exactly one space) against the tokens. The presented
 * token and every stored one are compared as 256 zero-padded bytes plus
 * their lengths, all bytes of all tokens, without an early exit, so the time
 * depends neither on where a token differs nor on which one matched.
 *
 * @param value  the header value, or NULL when the header is absent.
 * @return 1 when the token is one of the stored tokens, else 0.
 */
int fe_auth_check(const fe_auth *auth, const char *value, size_t len);

/* ---- configuration ---- */

/** Which routes need a bearer token when tokens are loaded. */
typedef enum fe_auth_scope {
    /** Writes only (POST /epochs and the legacy write routes). */
    FE_AUTH_WRITES = 0,
    /** Every route except /healthz and /readyz (load balancers probe them). */
    FE_AUTH_ALL = 1
} fe_auth_scope;

/** How a front end is set up; the caller owns every pointer. */
typedef struct fe_config {
    /** The node name written into records; NULL or "" for the library's
     *  default ("local"). */
    const char *node;
    /** Path prefix of Location and next, without a trailing '/': "" for the
     *  daemon, SCRIPT_NAME for the CGI. Decoded, as SCRIPT_NAME is: bytes
     *  that may not stand in a path ('%', '?', space, non-ASCII, ...) are
     *  percent-encoded in Location and next, and the encoded prefix must fit
     *  in FE_PREFIX_MAX bytes (else every request answers 500; check it
     *  once with fe_config_check()). NULL means "". */
    const char *prefix;
    /** Body limit in bytes (FE_BODY_MAX_DEFAULT when 0). */
    size_t body_max;
    /** Tokens, or NULL: authentication off. */
    const fe_auth *auth;
    fe_auth_scope auth_scope;
    /** Numeric addresses (IPv4 or IPv6, as inet_ntop writes them) whose
     *  X-Forwarded-For and X-Forwarded-Proto are honoured. */
    const char *const *trusted_proxies;
    size_t trusted_proxies_count;
} fe_config;

/* ---- requests ---- */

/** One request header, as received (names compare case-insensitively). */
typedef struct fe_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} fe_header;

/** A request, as a transport received it. Nothing is copied: the strings
 *  must outlive the fe_http_prepare() call (not longer). */
typedef struct fe_request {
    /** The method exactly as sent (case matters): "GET", "POST", ... */
    const char *method;
    /** The path, still percent-encoded, without the query and without the
     *  prefix (the CGI's PATH_INFO): "/epochs", "/epochs/42". */
    const char *path;
    size_t path_len;
    /** The raw query string without '?', or NULL (no '?') . */
    const char *query;
    size_t query_len;
    const fe_header *headers;
    size_t header_count;
    /** The body (NULL when there is none; may hold NUL bytes). */
    const char *body;
    size_t body_len;
    /** The peer's numeric address, or NULL when unknown. */
    const char *peer;
    /** 1 when the request arrived over TLS. */
    int https;
    /** Microseconds since the epoch when the request head was complete. */
    int64_t received_us;
} fe_request;

/* ---- routes and operations ---- */

/** Routes, also the "route" label of the daemon's metrics. */
typedef enum fe_route {
    FE_ROUTE_NONE = 0, /* no such path: 404 */
    FE_ROUTE_EPOCHS,   /* /epochs */
    FE_ROUTE_EPOCH,    /* /epochs/{id} */
    FE_ROUTE_NOW,
    FE_ROUTE_HEALTHZ,
    FE_ROUTE_READYZ,
    FE_ROUTE_METRICS,
    FE_ROUTE_EPOCH_REGISTER_TIME, /* /EpochRegisterTime (POST) */
    FE_ROUTE_STORE_EPOCH_TIME,    /* /storeEpochTime (POST) */
    FE_ROUTE_GET_EPOCH,           /* /getEpoch (GET) */
    FE_ROUTE_GET_EPOCH_STORE,     /* /getEpochStore (GET) */
    FE_ROUTE_APP,                 /* /app (POST registers, GET lists) */
    FE_ROUTE_COUNT
} fe_route;

/** The route's path as a metrics label ("/epochs/{id}", "none"). */
const char *fe_route_name(fe_route route);

/** What fe_http_prepare() left for the transport to do. */
typedef enum fe_op_kind {
    FE_OP_DONE = 0, /* the response is complete */
    FE_OP_REGISTER, /* register op->entry, then fe_http_render_register() */
    FE_OP_LIST,     /* list op->query, then fe_http_render_list() */
    FE_OP_GET,      /* get op->id, then fe_http_render_get() */
    FE_OP_READY,    /* check the store, then fe_http_render_ready() */
    FE_OP_METRICS   /* render metrics text, then fe_http_render_text() */
} fe_op_kind;

/**
 * One request's operation. Self-contained: every string the entry and the
 * query point to lives inside the struct, so it can be handed to another
 * thread once prepared (do not copy it by value: the pointers point into it;
 * use fe_op_copy() if you must).
 */
typedef struct fe_op {
    fe_op_kind kind;
    fe_route route;
    /** 1 for HEAD: the transport sends the headers only. */
    int head;
    /** The request id: from a valid X-Request-Id, else generated. Always set,
     *  also for FE_OP_DONE; the response carries it as X-Request-Id. */
    char request_id[EPOCH_REQUEST_ID_MAX + 1];
    /** FE_OP_REGISTER: the entry (epoch_us = the request's received_us,
     *  protocol http/https, client_ip, request_id, node, tag, key).
     *  protocol, client_ip (NULL when unknown; after the X-Forwarded-For
     *  rules) and request_id are set for every op, also FE_OP_DONE ones, so
     *  an access log can use them. */
    epoch_entry entry;
    /** FE_OP_LIST: the query. */
    epoch_query query;
    /** FE_OP_GET: the id. */
    int64_t id;
    /* Storage the pointers above point into. */
    char tag_[EPOCH_TAG_MAX + 1];
    char client_ip_[EPOCH_CLIENT_IP_MAX + 1];
    char key_[EPOCH_KEY_MAX + 1];
    char node_[EPOCH_NODE_MAX + 1];
    char query_tag_[EPOCH_TAG_MAX + 1];
    char prefix_[FE_PREFIX_MAX + 1];
} fe_op;

/** Copies an op and re-points its internal pointers into the copy. */
void fe_op_copy(fe_op *dst, const fe_op *src);

/* ---- responses ---- */

typedef struct fe_response_header {
    const char *name; /* a static string: "Location", "Allow", ... */
    char value[FE_HEADER_VALUE_SIZE];
} fe_response_header;

/**
 * A response. Headers: Content-Type always (unless the status has no body),
 * X-Request-Id, Cache-Control: no-store, and as the status needs Location,
 * Allow, Retry-After, WWW-Authenticate. The transport adds Date,
 * Content-Length and Connection itself.
 */
typedef struct fe_response {
    int status;
    /** Static reason phrase ("Created"). */
    const char *reason;
    fe_response_header headers[FE_RESPONSE_HEADERS_MAX];
    size_t header_count;
    /** The body (owned: fe_response_clear() frees it), not NUL-terminated. */
    char *body;
    size_t body_len;
    /** 1 when the transport must close the connection after this response. */
    int close;
    /* private: 1 when body is static text (the out-of-memory answer), which
     * fe_response_clear() must not free. Transports never free body. */
    int body_static_;
} fe_response;

/** A zeroed response. */
void fe_response_init(fe_response *resp);
/** Frees the body and zeroes the response. */
void fe_response_clear(fe_response *resp);
/**
 * Takes the body out of @p resp: returns it (malloc'ed, @p resp->body_len
 * bytes, the caller frees it with free()) and leaves @p resp without one, so
 * a transport can hand the bytes to its output without copying them. NULL
 * when there is no body or it is static text (then the transport copies it).
 */
char *fe_response_take_body(fe_response *resp);
/** The value of a response header (case-insensitive name), or NULL. */
const char *fe_response_header_get(const fe_response *resp, const char *name);

/* ---- the three steps ---- */

/**
 * Step 1: route, check and parse a request. On return either op->kind is
 * FE_OP_DONE and @p resp holds the complete response, or @p resp is untouched
 * (still initialised) and op says what to do.
 *
 * In this order: path (404), method (405 + Allow; HEAD is allowed wherever
 * GET is), auth (401 + WWW-Authenticate: Bearer), then the route's own
 * input: query parameters (400), body size (413), Content-Type (415), JSON
 * body (400), Idempotency-Key (400). X-Request-Id is taken when it is 1-64
 * characters of A-Za-z0-9._:- and otherwise replaced by a generated id.
 * X-Forwarded-For (its last address) and X-Forwarded-Proto are used only
 * when the peer is a trusted proxy.
 *
 * Never fails: out of memory becomes a 500 response.
 */
void fe_http_prepare(fe_op *op, fe_response *resp, const fe_request *req,
                     const fe_config *cfg);

/**
 * Step 3 for FE_OP_REGISTER: @p rc is what the store said for this entry:
 * 0 (created) → 201 + Location; EPOCH_REPLAYED → 200; EPOCH_ECONFLICT → 422;
 * a negative code → the error mapping of fe_http_error_from(). @p record is
 * read only when rc >= 0 or rc == EPOCH_ECONFLICT.
 */
void fe_http_render_register(fe_response *resp, const fe_op *op, int rc,
                             const epoch_record *record, const epoch_error *err);

/**
 * Step 3 for FE_OP_LIST: 200 {"items":[...],"next":...}. @p more says a
 * next page exists; next then continues after the last item with the same
 * filters and limit, as a path under the configured prefix.
 */
void fe_http_render_list(fe_response *resp, const fe_op *op, int rc,
                         const epoch_record *records, size_t count, int more,
                         const epoch_error *err);

/** Step 3 for FE_OP_GET: 200 with the record, 404 for EPOCH_ENOTFOUND. */
void fe_http_render_get(fe_response *resp, const fe_op *op, int rc,
                        const epoch_record *record, const epoch_error *err);

/**
 * Step 3 for FE_OP_READY: 200 {"status":"ready"} when the store answered
 * and the front end is not draining; else 503 {"error":...} with code
 * "unavailable" or "draining" and Retry-After.
 */
void fe_http_render_ready(fe_response *resp, const fe_op *op, int store_ok, int draining);

/** Step 3 for FE_OP_METRICS (or any text): 200 with this content type. */
void fe_http_render_text(fe_response *resp, const fe_op *op, const char *content_type,
                         const char *text, size_t len);

/**
 * An error response in the one shape:
 * {"error":{"status":400,"code":"invalid_parameter","message":"..."}}.
 * Adds Retry-After to 503 and 504, WWW-Authenticate: Bearer to 401, Allow
 * (from the op's route) to 405, and sets close for 400-class framing errors
 * the transport asks for (@p close). @p op may be NULL (no X-Request-Id then
 * unless the transport adds one).
 */
void fe_http_error(fe_response *resp, const fe_op *op, int status, const char *code,
                   const char *message, int close);

/**
 * Maps a library error to its response: EINVAL 400 invalid_parameter,
 * ENOTFOUND 404 not_found, ECONFLICT 422 idempotency_conflict, EUNAVAILABLE
 * 503 unavailable, ESCHEMA 503 schema (the message names `epochreg
 * migrate`), ENOMEM 503 unavailable, ENOTSUPPORTED 501 not_supported,
 * anything else (EINTERNAL, unknown codes, a code >= 0) 500 internal.
 * Only EINVAL's message (a field name and a rule) is passed on; the others
 * get fixed messages, so store details never reach a client.
 */
void fe_http_error_from(fe_response *resp, const fe_op *op, int rc,
                        const epoch_error *err);

/** The standard reason phrase of a status ("Unprocessable Content"). */
const char *fe_http_reason(int status);

/** The Allow header value of a route ("GET, HEAD, POST"), "" for none. */
const char *fe_route_allow(fe_route route);

/* ---- additions for transports ---- */

/**
 * The route of a raw path (exact, case-sensitive bytes, no decoding):
 * FE_ROUTE_EPOCH for "/epochs/" followed by one non-empty segment without
 * '/' (whether it is a valid id is fe_http_prepare()'s business: 400),
 * FE_ROUTE_NONE for anything unknown.
 */
fe_route fe_route_find(const char *path, size_t len);

/**
 * Starts an op without preparing it: kind FE_OP_DONE, route from the path,
 * head from the method, the request id (X-Request-Id or generated) and the
 * prefix. For a transport that must answer before fe_http_prepare() can run
 * (a Content-Length over the limit, a full queue, a body that timed out), so
 * that its fe_http_error() answer carries X-Request-Id like every other.
 * @p cfg may be NULL (no prefix).
 */
void fe_op_init(fe_op *op, const fe_request *req, const fe_config *cfg);

/**
 * Checks a configuration once at start: node (epoch_field_check() rules),
 * prefix ("" or starting with '/', no trailing '/', fits FE_PREFIX_MAX once
 * encoded), trusted proxies (numeric IPv4/IPv6 addresses), auth scope.
 * fe_http_prepare() answers 500 to a registration when the node is invalid
 * and to every request when the prefix does not fit.
 *
 * @return 0 or EPOCH_EINVAL (the message names the setting).
 */
int fe_config_check(const fe_config *cfg, epoch_error *err);

#endif /* EPOCHREG_FE_HTTP_H */
