/*
 * The request-head validator of fe_head.h: a state machine that judges each
 * byte once, in order. Only what needs a whole token or line looks back into
 * the buffer (the method at its SP, the version at its LF, a header's name
 * and value at its LF), and only within that token or line, so the work over
 * a head fed in any number of pieces is linear in its length. No allocation,
 * no globals beyond constant tables, no <ctype.h> (locale-free by
 * construction).
 */
#include "fe_head.h"

#include <string.h>

/* ---- byte classes ---- */

enum {
    C_TCHAR = 0x01,  /* RFC 9110 tchar: header names and methods */
    C_VALUE = 0x02,  /* field-vchar, obs-text, SP, HTAB: header values */
    C_HOST = 0x04,   /* reg-name without '%': unreserved and sub-delims */
    C_HEX = 0x08,    /* HEXDIG */
    C_DIGIT = 0x10,  /* DIGIT */
    C_TARGET = 0x20, /* visible ASCII 0x21-0x7E: the request target */
};

/* Generated from the definitions above; the suite checks every byte. */
/* clang-format off */
static const unsigned char CLASS[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 00-07 ........ */
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 08-0f ........ */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 10-17 ........ */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 18-1f ........ */
    0x02, 0x27, 0x22, 0x23, 0x27, 0x23, 0x27, 0x27, /* 20-27 .!"#$%&' */
    0x26, 0x26, 0x27, 0x27, 0x26, 0x27, 0x27, 0x22, /* 28-2f ()*+,-./ */
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, /* 30-37 01234567 */
    0x3f, 0x3f, 0x22, 0x26, 0x22, 0x26, 0x22, 0x22, /* 38-3f 89:;<=>? */
    0x22, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x27, /* 40-47 @ABCDEFG */
    0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, /* 48-4f HIJKLMNO */
    0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, /* 50-57 PQRSTUVW */
    0x27, 0x27, 0x27, 0x22, 0x22, 0x22, 0x23, 0x27, /* 58-5f XYZ[\]^_ */
    0x23, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x27, /* 60-67 `abcdefg */
    0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, /* 68-6f hijklmno */
    0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, 0x27, /* 70-77 pqrstuvw */
    0x27, 0x27, 0x27, 0x22, 0x23, 0x22, 0x27, 0x00, /* 78-7f xyz{|}~. */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 80-87 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 88-8f ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 90-97 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* 98-9f ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* a0-a7 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* a8-af ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* b0-b7 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* b8-bf ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* c0-c7 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* c8-cf ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* d0-d7 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* d8-df ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* e0-e7 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* e8-ef ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* f0-f7 ........ */
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, /* f8-ff ........ */
};
/* clang-format on */

static int has(unsigned char c, unsigned cls)
{
    return (CLASS[c] & cls) != 0;
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* ASCII-only lower case, whatever the locale. */
static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Whether s[0..n) equals the lower-case literal lit, ignoring ASCII case. */
static int equals_nocase(const unsigned char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

/* ---- states and reasons ---- */

/* Where the machine stands: the meaning of the byte at pos_. */
enum {
    S_LEAD,     /* start of a leading empty line or of the request line */
    S_LEAD_CR,  /* after a leading empty line's CR */
    S_METHOD,   /* in the method */
    S_TARGET0,  /* the target's first byte */
    S_TARGET,   /* in the target */
    S_VERSION,  /* in the version */
    S_RL_CR,    /* after the request line's CR */
    S_LINE,     /* start of a header line or of the final empty line */
    S_NAME,     /* in a header name */
    S_VALUE,    /* in a header value */
    S_HDR_CR,   /* after a header line's CR */
    S_END_CR,   /* after the final empty line's CR */
    S_COMPLETE, /* done: a valid head of pos_ bytes */
    S_REJECT    /* done: refused for why_ */
};

/* Why a head was refused: an index into REASONS. */
enum {
    W_BARE_LF,
    W_BARE_CR,
    W_METHOD_SYNTAX,
    W_METHOD_UNKNOWN,
    W_TARGET_FORM,
    W_REQUEST_LINE,
    W_TARGET_LONG,
    W_VERSION,
    W_HEAD_LARGE,
    W_LINES,
    W_OBS_FOLD,
    W_NAME,
    W_NAME_SPACE,
    W_VALUE,
    W_HOST_MISSING,
    W_HOST_TWICE,
    W_HOST_BAD,
    W_CL_TWICE,
    W_CL_BAD,
    W_CL_LARGE,
    W_TE_CL,
    W_TE,
    W_EXPECT
};

static const struct reason {
    int status;
    const char *code;
    const char *message;
} REASONS[] = {
    [W_BARE_LF] = {400, "bad_request", "every line of the request head must end in CRLF"},
    [W_BARE_CR] = {400, "bad_request", "a CR in the request head not followed by LF"},
    [W_METHOD_SYNTAX] = {400, "bad_request", "the method is not a token"},
    [W_METHOD_UNKNOWN] = {501, "not_implemented", "the method is not implemented"},
    [W_TARGET_FORM] = {400, "bad_request",
                       "the request target must be a path starting with '/'"},
    [W_REQUEST_LINE] = {400, "bad_request",
                        "malformed request line: expected METHOD SP /path SP "
                        "HTTP/1.1 CRLF"},
    [W_TARGET_LONG] = {414, "uri_too_long", "the request target is too long"},
    [W_VERSION] = {505, "http_version_not_supported",
                   "only HTTP/1.1 and HTTP/1.0 are supported"},
    [W_HEAD_LARGE] = {431, "header_too_large", "the request head is too large"},
    [W_LINES] = {431, "header_too_large", "the request has too many header lines"},
    [W_OBS_FOLD] = {400, "bad_request",
                    "folded header lines (obs-fold) are not accepted"},
    [W_NAME] = {400, "bad_request", "a header name is empty or not a token"},
    [W_NAME_SPACE] = {400, "bad_request",
                      "whitespace between a header name and its colon"},
    [W_VALUE] = {400, "bad_request", "a header value holds a control character"},
    [W_HOST_MISSING] = {400, "bad_request", "an HTTP/1.1 request needs a Host header"},
    [W_HOST_TWICE] = {400, "bad_request", "more than one Host header"},
    [W_HOST_BAD] = {400, "bad_request", "the Host header is not a host name or address"},
    [W_CL_TWICE] = {400, "bad_request", "more than one Content-Length header"},
    [W_CL_BAD] = {400, "bad_request", "Content-Length must be decimal digits only"},
    [W_CL_LARGE] = {413, "payload_too_large", FE_HEAD_MSG_TOO_LARGE},
    [W_TE_CL] = {400, "bad_request", "Transfer-Encoding together with Content-Length"},
    [W_TE] = {411, "length_required",
              "Transfer-Encoding is not accepted; send the body with Content-Length"},
    [W_EXPECT] = {417, "expectation_failed", "only Expect: 100-continue is supported"},
};

/* Headers seen so far (seen_). */
enum { SEEN_HOST = 1u, SEEN_CL = 2u, SEEN_TE = 4u };

/* The longest Content-Length taken: 19 digits always fit in 64 bits. */
#define CL_DIGITS_MAX 19

/* ---- whole-token and whole-line rules ---- */

static int method_known(const unsigned char *s, size_t n)
{
    static const char *const METHODS[] = {"GET",     "HEAD",  "POST",    "PUT",  "DELETE",
                                          "OPTIONS", "TRACE", "CONNECT", "PATCH"};
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (strlen(METHODS[i]) == n && memcmp(METHODS[i], s, n) == 0)
            return 1;
    return 0;
}

/*
 * The version at v, exactly 8 bytes long by construction (the machine only
 * lets "HTTP/" DIGIT "." DIGIT through): its minor number, or -1 for a
 * well-formed version this server does not speak.
 */
static int version_minor(const unsigned char *v)
{
    if (v[5] == '1' && (v[7] == '0' || v[7] == '1'))
        return v[7] - '0';
    return -1;
}

/* A Host value without its OWS: see fe_head.h. */
static int host_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return 0;
    if (s[0] == '[') {
        size_t colons = 0;
        for (i = 1; i < n && s[i] != ']'; i++) {
            if (s[i] == ':')
                colons++;
            else if (!has(s[i], C_HEX) && s[i] != '.')
                return 0;
        }
        /* "[::]" is the shortest; 45 is the longest text form. */
        if (i == n || colons < 2 || i - 1 > 45)
            return 0;
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            if (s[i] == '.') {
                if (i == 0 || s[i - 1] == '.')
                    return 0;
            } else if (s[i] == '%') {
                if (n - i < 3 || !has(s[i + 1], C_HEX) || !has(s[i + 2], C_HEX))
                    return 0;
                i += 2;
            } else if (!has(s[i], C_HOST)) {
                return 0;
            }
        }
        if (i == 0)
            return 0;
    }
    if (i == n)
        return 1;
    if (s[i] != ':')
        return 0;
    size_t digits = n - i - 1;
    if (digits < 1 || digits > 5)
        return 0;
    for (i++; i < n; i++)
        if (!has(s[i], C_DIGIT))
            return 0;
    return 1;
}

/* A Content-Length value without its OWS: 0 or a W_ code. */
static int content_length(const unsigned char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return W_CL_BAD;
    for (size_t i = 0; i < n; i++)
        if (!has(s[i], C_DIGIT))
            return W_CL_BAD;
    if (n > CL_DIGITS_MAX)
        return W_CL_LARGE;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > max)
        return W_CL_LARGE;
    *out = v;
    return 0;
}

/*
 * The header line whose name starts at name, whose colon is at colon and
 * whose CR is at cr, all bytes already judged one by one. Returns -1 when
 * the line is fine, else a W_ code.
 */
static int header_line(fe_head_parser *p, const unsigned char *b, size_t name,
                       size_t colon, size_t cr)
{
    const unsigned char *n = b + name;
    size_t nlen = colon - name;
    enum { OTHER, HOST, CL, TE, EXPECT } kind = OTHER;
    if (equals_nocase(n, nlen, "host"))
        kind = HOST;
    else if (equals_nocase(n, nlen, "content-length"))
        kind = CL;
    else if (equals_nocase(n, nlen, "transfer-encoding"))
        kind = TE;
    else if (equals_nocase(n, nlen, "expect"))
        kind = EXPECT;
    if (kind == OTHER)
        return -1;
    p->work_ += nlen;

    size_t v = colon + 1, e = cr;
    while (v < e && is_ows(b[v]))
        v++;
    while (e > v && is_ows(b[e - 1]))
        e--;
    p->work_ += cr - colon;

    switch (kind) {
    case HOST:
        if (p->seen_ & SEEN_HOST)
            return W_HOST_TWICE;
        p->seen_ |= SEEN_HOST;
        return host_valid(b + v, e - v) ? -1 : W_HOST_BAD;
    case CL: {
        if (p->seen_ & SEEN_CL)
            return W_CL_TWICE;
        if (p->seen_ & SEEN_TE)
            return W_TE_CL;
        p->seen_ |= SEEN_CL;
        int w = content_length(b + v, e - v, p->limits.body_max, &p->content_length_);
        return w ? w : -1;
    }
    case TE:
        if (p->seen_ & SEEN_CL)
            return W_TE_CL;
        p->seen_ |= SEEN_TE;
        return -1;
    case EXPECT:
        return equals_nocase(b + v, e - v, "100-continue") ? -1 : W_EXPECT;
    case OTHER:
        break;
    }
    return -1;
}

/* ---- the machine ---- */

fe_head_limits fe_head_limits_default(void)
{
    fe_head_limits l = {
        .head_max = FE_HEAD_MAX_DEFAULT,
        .lines_max = FE_HEAD_LINES_MAX_DEFAULT,
        .target_max = FE_TARGET_MAX_DEFAULT,
        .body_max = FE_HEAD_BODY_MAX_DEFAULT,
    };
    return l;
}

void fe_head_init(fe_head_parser *p, const fe_head_limits *limits)
{
    fe_head_limits d = fe_head_limits_default();
    memset(p, 0, sizeof *p);
    p->limits = limits ? *limits : d;
    if (p->limits.head_max == 0)
        p->limits.head_max = d.head_max;
    if (p->limits.lines_max == 0)
        p->limits.lines_max = d.lines_max;
    if (p->limits.target_max == 0)
        p->limits.target_max = d.target_max;
    if (p->limits.body_max == 0)
        p->limits.body_max = d.body_max;
    p->version_minor_ = -1;
    p->state_ = S_LEAD;
}

static fe_head_state verdict(const fe_head_parser *p, fe_head_result *out)
{
    if (p->state_ != S_COMPLETE && p->state_ != S_REJECT)
        return FE_HEAD_INCOMPLETE;
    if (out) {
        memset(out, 0, sizeof *out);
        out->http_minor = p->version_minor_;
        if (p->state_ == S_COMPLETE) {
            out->head_len = p->pos_;
            out->content_length = p->content_length_;
        } else {
            out->status = REASONS[p->why_].status;
            out->code = REASONS[p->why_].code;
            out->message = REASONS[p->why_].message;
        }
    }
    return p->state_ == S_COMPLETE ? FE_HEAD_COMPLETE : FE_HEAD_REJECT;
}

/*
 * Judges the bytes [p->pos_, end) one at a time. Returns -1 while nothing is
 * wrong, else the W_ code of the first violation; on return p->pos_ is the
 * first byte not yet judged (one past the final LF when the head is
 * complete).
 */
static int run(fe_head_parser *p, const unsigned char *b, size_t end)
{
    size_t i = p->pos_;
    int w = -1;
    for (; i < end && p->state_ != S_COMPLETE; i++) {
        unsigned char c = b[i];
        p->work_++;
        switch (p->state_) {
        case S_LEAD:
            if (c == '\r') {
                p->state_ = S_LEAD_CR;
            } else if (c == '\n') {
                w = W_BARE_LF;
            } else if (has(c, C_TCHAR)) {
                p->line_ = i;
                p->state_ = S_METHOD;
            } else {
                w = W_METHOD_SYNTAX;
            }
            break;
        case S_LEAD_CR:
            if (c != '\n') {
                w = W_BARE_CR;
                break;
            }
            p->state_ = S_LEAD;
            break;
        case S_METHOD:
            if (has(c, C_TCHAR))
                break;
            if (c != ' ') {
                w = c == '\n'                ? W_BARE_LF
                    : c == '\r' || c == '\t' ? W_REQUEST_LINE
                                             : W_METHOD_SYNTAX;
                break;
            }
            p->work_ += i - p->line_;
            /* CONNECT asks for a tunnel, which this server never makes (and
             * evhttp would keep such a connection open whatever the reply
             * says): refused like a method it does not know. */
            if (!method_known(b + p->line_, i - p->line_) ||
                (i - p->line_ == 7 && memcmp(b + p->line_, "CONNECT", 7) == 0)) {
                w = W_METHOD_UNKNOWN;
                break;
            }
            p->state_ = S_TARGET0;
            break;
        case S_TARGET0:
            if (c != '/') {
                w = c == '\n' ? W_BARE_LF : c == ' ' ? W_REQUEST_LINE : W_TARGET_FORM;
                break;
            }
            p->mark_ = i; /* target_max is at least 1 */
            p->state_ = S_TARGET;
            break;
        case S_TARGET:
            if (has(c, C_TARGET)) {
                if (i - p->mark_ + 1 > p->limits.target_max)
                    w = W_TARGET_LONG;
                break;
            }
            if (c != ' ') {
                w = c == '\n' ? W_BARE_LF : W_REQUEST_LINE;
                break;
            }
            p->mark_ = i + 1;
            p->state_ = S_VERSION;
            break;
        case S_VERSION: {
            /* "HTTP/" DIGIT "." DIGIT, then CR; the digits are judged at LF. */
            size_t k = i - p->mark_;
            int ok;
            if (k < 5)
                ok = c == (unsigned char)"HTTP/"[k];
            else if (k == 5 || k == 7)
                ok = has(c, C_DIGIT);
            else if (k == 6)
                ok = c == '.';
            else
                ok = c == '\r';
            if (!ok) {
                w = c == '\n' ? W_BARE_LF : W_REQUEST_LINE;
                break;
            }
            if (k == 8)
                p->state_ = S_RL_CR;
            break;
        }
        case S_RL_CR:
            if (c != '\n') {
                w = W_BARE_CR;
                break;
            }
            p->version_minor_ = version_minor(b + p->mark_);
            if (p->version_minor_ < 0) {
                w = W_VERSION;
                break;
            }
            p->state_ = S_LINE;
            break;
        case S_LINE:
            if (c == '\r') {
                p->state_ = S_END_CR;
                break;
            }
            if (c == '\n') {
                w = W_BARE_LF;
                break;
            }
            if (is_ows(c)) {
                w = W_OBS_FOLD;
                break;
            }
            if (p->lines_ >= p->limits.lines_max) {
                w = W_LINES;
                break;
            }
            p->lines_++;
            p->line_ = i;
            if (!has(c, C_TCHAR)) {
                w = W_NAME;
                break;
            }
            p->state_ = S_NAME;
            break;
        case S_NAME:
            if (has(c, C_TCHAR))
                break;
            if (c == ':') {
                p->mark_ = i;
                p->state_ = S_VALUE;
            } else {
                w = is_ows(c) ? W_NAME_SPACE : c == '\n' ? W_BARE_LF : W_NAME;
            }
            break;
        case S_VALUE:
            if (has(c, C_VALUE))
                break;
            if (c == '\r')
                p->state_ = S_HDR_CR;
            else
                w = c == '\n' ? W_BARE_LF : W_VALUE;
            break;
        case S_HDR_CR:
            if (c != '\n') {
                w = W_BARE_CR;
                break;
            }
            w = header_line(p, b, p->line_, p->mark_, i - 1);
            p->state_ = S_LINE;
            break;
        case S_END_CR:
            if (c != '\n')
                w = W_BARE_CR;
            else if (p->version_minor_ == 1 && !(p->seen_ & SEEN_HOST))
                w = W_HOST_MISSING;
            else if (p->seen_ & SEEN_TE)
                w = W_TE;
            else
                p->state_ = S_COMPLETE;
            break;
        default:
            break;
        }
        if (w >= 0)
            break;
    }
    p->pos_ = i;
    return w;
}

fe_head_state fe_head_feed(fe_head_parser *p, const char *buf, size_t len,
                           fe_head_result *out)
{
    if (p->state_ == S_COMPLETE || p->state_ == S_REJECT || len <= p->pos_)
        return verdict(p, out);
    /* Nothing past head_max is ever looked at: a head still open there is
     * refused below. */
    size_t end = len < p->limits.head_max ? len : p->limits.head_max;
    int w = run(p, (const unsigned char *)buf, end);
    if (w < 0 && p->state_ != S_COMPLETE && p->pos_ >= p->limits.head_max)
        w = W_HEAD_LARGE;
    if (w >= 0) {
        p->state_ = S_REJECT;
        p->why_ = (unsigned)w;
    }
    return verdict(p, out);
}
