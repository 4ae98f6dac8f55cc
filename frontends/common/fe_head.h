/*
 * Strict HTTP/1.1 request-head validation (RFC 9112), transport-free.
 *
 * epochregd runs every request head through this before evhttp sees a byte
 * of it, because evhttp 2.1.12 lets several smuggling vectors through
 * (two Content-Lengths, whitespace before a colon, NUL in a value, bad
 * versions; ../shared/RELIABILITY.md §3.4). The validator is a pure function
 * of the bytes: it keeps its position in a small state struct so a head that
 * arrives a byte at a time is scanned once, not once per byte.
 *
 * What it accepts (anything else is refused with a status and the
 * connection must be closed after the answer):
 * - optional empty lines (CRLF) before the request line, which are skipped
 *   (RFC 9112 §2.2); they count toward head_max;
 * - request line `METHOD SP origin-form SP HTTP/1.1|HTTP/1.0 CRLF`: METHOD is
 *   one of GET HEAD POST PUT DELETE OPTIONS TRACE PATCH (case-sensitive;
 *   any other token, and CONNECT — no tunnels — is 501; a method with a
 *   non-token byte 400),
 *   the target starts with '/' and holds only visible ASCII (0x21-0x7E) and
 *   is at most target_max bytes (else 414, as soon as the target is one byte
 *   too long); `HTTP/x.y` with another single-digit version is 505, anything
 *   else malformed (absolute-form, '*', authority-form, two spaces, a space
 *   in the target, `HTTP/1.10`, `http/1.1`) is 400;
 * - header lines `name ":" OWS value OWS CRLF`: name a non-empty token, no
 *   whitespace before the colon, value of visible ASCII, SP, HTAB and bytes
 *   0x80-0xFF only (NUL, bare CR, other controls, DEL: 400); obs-fold (a
 *   line starting with SP or HTAB) is 400; every line ends in CRLF (a bare
 *   LF is 400, also among the leading empty lines);
 * - Host: exactly one in HTTP/1.1, at most one in HTTP/1.0, its value (OWS
 *   trimmed) a reg-name (ALPHA DIGIT - . _ ~ sub-delims, '%' only as %HH; no
 *   leading '.', no "..", not empty), an IPv4 address or `[` IPv6 `]` (hex
 *   digits, ':' and '.', at least two ':'), with an optional `:` 1*5DIGIT
 *   port; anything else ('/', '\', '@', controls, spaces) is 400;
 * - Content-Length: at most one (two, even equal, are 400), 1*DIGIT after
 *   OWS trimming (else 400); more than 19 digits, or a value over body_max,
 *   is 413;
 * - Transfer-Encoding: together with Content-Length (either order) 400;
 *   without it 411, whatever its value and count and in HTTP/1.0 too (the
 *   daemon takes no chunked uploads: a JSON body this small is always sent
 *   with a length);
 * - Expect: only "100-continue" (case-insensitive), else 417;
 * - at most lines_max header lines and head_max bytes in all (431).
 *
 * Which violation is reported: the bytes are judged in order and the first
 * violation wins. A byte that can never be right where it stands (a NUL, a
 * bare LF, a space before a colon, the byte that makes the target too long)
 * is refused at once; whole-token rules (method, version) are decided at
 * the byte after the token, header rules (Host, Content-Length, Expect, the
 * TE/CL clash) at the LF that ends their line, and the rules that need the
 * whole head at its final LF: a missing Host (400) before a lone
 * Transfer-Encoding (411). A head that has not ended within its first
 * head_max bytes is refused (431) as soon as head_max bytes are in, so the
 * caller never needs more than head_max bytes of buffer. The verdict never
 * depends on how the bytes were split across calls.
 */
#ifndef EPOCHREG_FE_HEAD_H
#define EPOCHREG_FE_HEAD_H

#include <stddef.h>
#include <stdint.h>

#define FE_HEAD_MAX_DEFAULT 16384
/** The message of the 413 for a Content-Length over the limit (shared with
 *  the CGI, which decides the same from CONTENT_LENGTH). */
#define FE_HEAD_MSG_TOO_LARGE "the request body is too large"
#define FE_HEAD_LINES_MAX_DEFAULT 100
#define FE_TARGET_MAX_DEFAULT 8192
/** Default largest Content-Length; equal to fe_http.h's FE_BODY_MAX_DEFAULT
 *  (the test suite checks that they agree). */
#define FE_HEAD_BODY_MAX_DEFAULT 16384

/** Limits of one head; a member that is 0 takes its default. */
typedef struct fe_head_limits {
    size_t head_max;   /* bytes of the whole head, CRLFs included */
    size_t lines_max;  /* header lines, the request line not counted */
    size_t target_max; /* bytes of the request target */
    size_t body_max;   /* largest Content-Length accepted */
} fe_head_limits;

/** What fe_head_feed() found. */
typedef enum fe_head_state {
    FE_HEAD_INCOMPLETE = 0, /* no violation so far; feed more bytes */
    FE_HEAD_COMPLETE = 1,   /* a valid head: see head_len, content_length */
    FE_HEAD_REJECT = 2      /* refuse: see status, code, message; then close */
} fe_head_state;

/** Parser state; initialise with fe_head_init() before each head. The
 *  members ending in '_' are private. */
typedef struct fe_head_parser {
    fe_head_limits limits; /* with the defaults filled in */
    /* private: position and what has been seen so far */
    size_t pos_;   /* next byte to look at; every byte before it is judged */
    size_t line_;  /* first byte of the current line */
    size_t mark_;  /* start of the target or version; a header's colon */
    size_t lines_; /* header lines begun */
    size_t work_;  /* bytes looked at, in all calls (the tests' O(n) check) */
    int version_minor_;
    unsigned state_; /* where in the grammar pos_ stands */
    unsigned seen_;  /* Host, Content-Length, Transfer-Encoding seen */
    unsigned why_;   /* the violation, once refused */
    uint64_t content_length_;
} fe_head_parser;

/** The outcome of a complete or refused head. */
typedef struct fe_head_result {
    /* FE_HEAD_COMPLETE */
    size_t head_len;         /* bytes up to and including the final CRLF CRLF,
                                leading empty lines included */
    uint64_t content_length; /* 0 when absent */
    int http_minor;          /* 0 or 1 (on REJECT: -1 if the version was not
                                reached yet) */
    /* FE_HEAD_REJECT */
    int status;          /* 400, 411, 413, 414, 417, 431, 501 or 505 */
    const char *code;    /* a static error code, e.g. "bad_request" */
    const char *message; /* a static message; never quotes the input */
} fe_head_result;

/** Limits with every member at its default. */
fe_head_limits fe_head_limits_default(void);

/** Starts a new head; @p limits may be NULL (every default). */
void fe_head_init(fe_head_parser *p, const fe_head_limits *limits);

/**
 * Looks at the head so far. @p buf holds every byte received for this head,
 * from its first byte (each call passes the same bytes again, plus any new
 * ones); bytes already checked are not checked again, so feeding a head a
 * byte at a time costs O(length) in all. Bytes after the end of the head (a
 * body, a pipelined request) are never looked at, nor are bytes past the
 * first head_max. @p buf may hold NUL bytes
 * (they are refused, never taken for an end); a @p len shorter than in an
 * earlier call brings nothing new.
 *
 * @param out  if not NULL, filled for COMPLETE (head_len, content_length,
 *             http_minor; status 0, code and message NULL) and for REJECT
 *             (status, code, message; head_len and content_length 0).
 * @return FE_HEAD_INCOMPLETE, FE_HEAD_COMPLETE or FE_HEAD_REJECT. After
 *         COMPLETE or REJECT, further calls return the same verdict; call
 *         fe_head_init() before the next head (a pipelined next request
 *         starts head_len + content_length bytes in).
 */
fe_head_state fe_head_feed(fe_head_parser *p, const char *buf, size_t len,
                           fe_head_result *out);

#endif /* EPOCHREG_FE_HEAD_H */
