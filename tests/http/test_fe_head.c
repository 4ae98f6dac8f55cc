/*
 * The request-head validator (fe_head.h), driven without sockets.
 *
 * Every case runs through check_case(), which feeds it four ways (all at
 * once, a byte at a time, in chunks of several sizes, and as the prefix just
 * before the deciding byte) and requires the same verdict from each, the
 * verdict at the expected byte, and the same amount of work however the
 * bytes were split (the parser's private work_ counter: a rescan would make
 * the byte-at-a-time count larger). Complete heads are also fed with hostile
 * suffixes, which must not matter. The table rows follow RELIABILITY.md
 * §3.4 (B1-B34, as far as they concern the head) and fe_head.h.
 */
#include "httptest.h"

#include "fe_head.h"
#include "fe_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- cases ---- */

typedef struct head_case {
    int line; /* of the row, for the messages */
    const char *in;
    size_t len;
    fe_head_state state;
    int status;       /* REJECT */
    const char *code; /* REJECT */
    uint64_t cl;      /* COMPLETE */
    int minor;        /* COMPLETE */
    /* The prefix of in whose last byte decides (the head itself for
     * COMPLETE), or NULL: the whole input for COMPLETE, unchecked for
     * REJECT. */
    const char *at;
    size_t at_len;
} head_case;

#define S(lit) lit, sizeof(lit) - 1
#define OK(in, cl, minor)                                                                \
    {                                                                                    \
        __LINE__, S(in), FE_HEAD_COMPLETE, 0, NULL, cl, minor, NULL, 0                   \
    }
#define OK_AT(in, head, cl, minor)                                                       \
    {                                                                                    \
        __LINE__, S(in), FE_HEAD_COMPLETE, 0, NULL, cl, minor, S(head)                   \
    }
#define NO(in, st)                                                                       \
    {                                                                                    \
        __LINE__, S(in), FE_HEAD_REJECT, st, 0, 0, NULL, 0                               \
    }
#define NO_AT(in, at, st)                                                                \
    {                                                                                    \
        __LINE__, S(in), FE_HEAD_REJECT, st, 0, 0, S(at)                                 \
    }
#define MORE(in)                                                                         \
    {                                                                                    \
        __LINE__, S(in), FE_HEAD_INCOMPLETE, 0, NULL, 0, 0, NULL, 0                      \
    }

/* Status and code, as one macro argument pair. */
#define E400 400, "bad_request"
#define E411 411, "length_required"
#define E413 413, "payload_too_large"
#define E414 414, "uri_too_long"
#define E417 417, "expectation_failed"
#define E431 431, "header_too_large"
#define E501 501, "not_implemented"
#define E505 505, "http_version_not_supported"

#define RL "GET / HTTP/1.1\r\n"
#define HOST "Host: a\r\n"
#define GET RL HOST
#define POST "POST /epochs HTTP/1.1\r\nHost: a\r\n"
/* A request that a smuggler hides in a body. */
#define SMUGGLED "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

static const head_case CASES[] = {
    /* Typical clients. */
    OK("GET /epochs HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: curl/7.88.1\r\n"
       "Accept: */*\r\n\r\n",
       0, 1),
    OK("POST /epochs HTTP/1.1\r\nHost: localhost:18080\r\nUser-Agent: curl/7.88.1\r\n"
       "Accept: */*\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n",
       13, 1),
    OK("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", 0, 1), /* wrk */
    OK("POST /epochs HTTP/1.1\r\nHost: localhost\r\nUser-Agent: "
       "python-requests/2.28.1\r\n"
       "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n"
       "Content-Length: 15\r\nContent-Type: application/json\r\n\r\n",
       15, 1),
    OK("GET /now HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: [::1]:18080\r\n"
       "User-Agent: Python-urllib/3.11\r\nConnection: close\r\n\r\n",
       0, 1),
    OK("GET /epochs HTTP/1.0\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n", 0,
       0),
    OK("GET / HTTP/1.0\r\n\r\n", 0, 0),
    OK("GET / HTTP/1.0\r\nHost: a\r\n\r\n", 0, 0),
    OK("POST /epochs HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n"
       "Expect: 100-continue\r\n\r\n",
       100, 1),
    OK(POST "Expect: 100-CONTINUE\r\nContent-Length: 1\r\n\r\n", 1, 1),
    OK(POST "Expect: \t100-Continue \r\n\r\n", 0, 1),
    OK("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 2, 0),
    OK(POST "Content-Length: 0\r\n\r\n", 0, 1),
    OK(POST "Content-Length: 16384\r\n\r\n", 16384, 1), /* body_max exactly */
    OK(POST "Content-Length: 007\r\n\r\n", 7, 1),
    OK(POST "Content-Length:42\r\n\r\n", 42, 1),
    OK(POST "Content-Length: \t42 \t\r\n\r\n", 42, 1),
    OK(POST "content-LENGTH: 3\r\n\r\n", 3, 1),
    OK(POST "Content-Length: 0000000000000000001\r\n\r\n", 1, 1), /* 19 digits */
    OK("GET / HTTP/1.1\r\nHOST: a\r\n\r\n", 0, 1),
    OK("GET / HTTP/1.1\r\nhost:a\r\n\r\n", 0, 1),
    /* Leading empty lines are skipped but belong to the head. */
    OK("\r\n" GET "\r\n", 0, 1),
    OK("\r\n\r\n\r\n" GET "\r\n", 0, 1),
    /* Values: obs-text, HTAB, empty, colons. */
    OK(GET "X-Name: caf\xc3\xa9 \xff\x80\r\n\r\n", 0, 1),
    OK(GET "X-Tab: a\tb\r\n\r\n", 0, 1),
    OK(GET "X-Empty:\r\nX-Blank: \t \r\n\r\n", 0, 1),
    OK(GET "X-Url: http://a:1/b\r\n\r\n", 0, 1),
    OK(GET "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", 0, 1),
    /* Names that only look like the framing headers. */
    OK(GET
       "Transfer-Encodings: chunked\r\nX-Content-Length: x\r\nContent-Lengths: 1, 1\r\n"
       "Hosts: a/b\r\nExpect-CT: x\r\n\r\n",
       0, 1),
    /* Every method evhttp knows. */
    OK("GET / HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    OK("HEAD / HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    OK("POST / HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    OK("PUT /epochs HTTP/1.1\r\n" HOST "\r\n", 0, 1),      /* B27: routing's 405 */
    OK("PATCH /epochs HTTP/1.1\r\n" HOST "\r\n", 0, 1),    /* B27 */
    OK("DELETE /epochs/1 HTTP/1.1\r\n" HOST "\r\n", 0, 1), /* B27 */
    OK("OPTIONS / HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    OK("TRACE /epochs HTTP/1.1\r\n" HOST "\r\n", 0, 1), /* B28: routing's 405 */
    NO_AT("CONNECT /x HTTP/1.1\r\n" HOST "\r\n", "CONNECT ", E501), /* no tunnels */
    /* Targets: any visible ASCII; the query layer refuses %0d%0a (B33). */
    OK("GET /epochs?tag=%0d%0aSet-Cookie:x&limit=5 HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    OK("GET /!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~ HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    OK("GET //etc/passwd HTTP/1.1\r\n" HOST "\r\n", 0, 1),
    /* Host forms. */
    OK(RL "Host: example.com\r\n\r\n", 0, 1),
    OK(RL "Host: example.com.\r\n\r\n", 0, 1),
    OK(RL "Host: 192.0.2.1:80\r\n\r\n", 0, 1),
    OK(RL "Host: [::1]\r\n\r\n", 0, 1),
    OK(RL "Host: [::]\r\n\r\n", 0, 1),
    OK(RL "Host: [2001:db8::1]:8443\r\n\r\n", 0, 1),
    OK(RL "Host: [::ffff:192.0.2.1]:1\r\n\r\n", 0, 1),
    OK(RL "Host: a-b_c~d\r\n\r\n", 0, 1),
    OK(RL "Host: xn--bcher-kva.example:65535\r\n\r\n", 0, 1),
    OK(RL "Host: a%41b\r\n\r\n", 0, 1),
    OK(RL "Host: !$&'()*+,;=\r\n\r\n", 0, 1),
    OK(RL "Host: h:0\r\n\r\n", 0, 1),
    OK(RL "Host: \t a \t\r\n\r\n", 0, 1),
    /* What follows the head is never looked at (B31, B32). */
    OK_AT(POST "Content-Length: 5\r\n\r\nhello", POST "Content-Length: 5\r\n\r\n", 5, 1),
    OK_AT(GET "\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", GET "\r\n", 0, 1),
    OK_AT(GET "\r\nFOO /2 HTTP/9.9\r\nHost\t: a/b\r\n\0\n\r\n", GET "\r\n", 0, 1),
    OK_AT(GET "\r\n\0\0\0\n\n\r\r", GET "\r\n", 0, 1),

    /* B1: Content-Length with Transfer-Encoding, either order. */
    NO_AT(POST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" SMUGGLED,
          POST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", E400),
    NO_AT(POST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" SMUGGLED,
          POST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", E400),
    NO("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
       E400),
    /* B2: two Content-Lengths, different or equal. */
    NO_AT(POST "Content-Length: 5\r\nContent-Length: 41\r\n\r\nhelloGET /smuggled",
          POST "Content-Length: 5\r\nContent-Length: 41\r\n", E400),
    NO(POST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", E400),
    NO(POST "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", E400),
    /* B3, B4: list and sign and base and blanks. */
    NO(POST "Content-Length: 5, 5\r\n\r\n", E400),
    NO(POST "Content-Length: 5,5\r\n\r\n", E400),
    NO(POST "Content-Length: +5\r\n\r\n", E400),
    NO(POST "Content-Length: -5\r\n\r\n", E400),
    NO(POST "Content-Length: 0x5\r\n\r\n", E400),
    NO(POST "Content-Length: 5.0\r\n\r\n", E400),
    NO(POST "Content-Length:  5 5\r\n\r\n", E400),
    NO(POST "Content-Length:\r\n\r\n", E400),
    NO(POST "Content-Length: \t \r\n\r\n", E400),
    NO(POST "Content-Length: 5a\r\n\r\n", E400),
    NO(POST "Content-Length: \xd9\xa5\r\n\r\n", E400), /* ARABIC-INDIC DIGIT FIVE */
    /* B5, B29: too large, also with Expect: 100-continue. */
    NO(POST "Content-Length: 99999999999999999999\r\n\r\n", E413),
    NO(POST "Content-Length: 00000000000000000001\r\n\r\n", E413),
    NO(POST "Content-Length: 18446744073709551617\r\n\r\n", E413),
    NO(POST "Content-Length: 9999999999999999999\r\n\r\n", E413),
    NO(POST "Content-Length: 16385\r\n\r\n", E413), /* body_max + 1 */
    NO_AT(POST "Content-Length: 104857600\r\nExpect: 100-continue\r\n\r\n",
          POST "Content-Length: 104857600\r\n", E413),
    NO(POST "Content-Length: 99999999999999999999x\r\n\r\n", E400),
    /* B6, B7, B8, B11, B12, B13: Transfer-Encoding alone is 411, decided at the end of
     * the head; the chunks behind it are never read. */
    NO_AT(POST "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
          POST "Transfer-Encoding: chunked\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: identity\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked, identity\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: gzip, chunked\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: xchunked\r\n\r\n", E411),
    NO(POST "Transfer-Encoding:\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", E411),
    NO("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n", E411),
    NO(POST "Transfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: Bearer x\r\n\r\n",
       E411),
    /* A missing Host is found at the same byte and wins. */
    NO("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", E400),
    /* B9, B16: obs-fold, refused at the folding byte. */
    NO_AT(POST "Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc",
          POST "Transfer-Encoding:\r\n ", E400),
    NO_AT(GET "X-A: a\r\n\tb\r\n\r\n", GET "X-A: a\r\n\t", E400),
    NO_AT(GET "X-A: a\r\n b\r\n\r\n", GET "X-A: a\r\n ", E400),
    NO_AT(RL " Host: a\r\n\r\n", RL " ", E400),
    /* B10, B18: the name, refused at the byte. */
    NO_AT(POST "Content-Length : 5\r\n\r\nhello", POST "Content-Length ", E400),
    NO_AT(POST "Transfer-Encoding\t: chunked\r\n\r\n", POST "Transfer-Encoding\t", E400),
    NO_AT(GET "X Y: z\r\n\r\n", GET "X ", E400),
    NO_AT(GET ": z\r\n\r\n", GET ":", E400),
    NO_AT(GET "X(: z\r\n\r\n", GET "X(", E400),
    NO_AT(GET "X\x7f: z\r\n\r\n", GET "X\x7f", E400),
    NO_AT(GET "X\xc3\xa9: z\r\n\r\n", GET "X\xc3", E400),
    NO_AT(GET "X-No-Colon\r\n\r\n", GET "X-No-Colon\r", E400),
    /* B14: NUL anywhere. */
    NO_AT(GET "X-A: a\0b\r\n\r\n", GET "X-A: a\0", E400),
    NO_AT(RL "Host: a\0.evil\r\n\r\n", RL "Host: a\0", E400),
    NO_AT(GET "X\0: b\r\n\r\n", GET "X\0", E400),
    NO_AT(GET "\0X: b\r\n\r\n", GET "\0", E400),
    NO_AT("GET /a\0b HTTP/1.1\r\n" HOST "\r\n", "GET /a\0", E400),
    NO_AT("G\0T / HTTP/1.1\r\n" HOST "\r\n", "G\0", E400),
    NO_AT("\0GET / HTTP/1.1\r\n" HOST "\r\n", "\0", E400),
    NO_AT("GET / HTTP/1.1\0\r\n" HOST "\r\n", "GET / HTTP/1.1\0", E400),
    /* Other controls and DEL in values. */
    NO_AT(GET "X-A: a\x01\r\n\r\n", GET "X-A: a\x01", E400),
    NO_AT(GET "X-A: a\x1b[0m\r\n\r\n", GET "X-A: a\x1b", E400),
    NO_AT(GET "X-A: a\x7f\r\n\r\n", GET "X-A: a\x7f", E400),
    NO_AT(GET "X-A: a\x0b\r\n\r\n", GET "X-A: a\x0b", E400),
    /* B15: bare CR; and a bare LF anywhere. */
    NO_AT(GET "X-A: a\rb\r\n\r\n", GET "X-A: a\rb", E400),
    NO_AT(GET "X-A: a\r\r\n\r\n", GET "X-A: a\r\r", E400),
    NO_AT(GET "X\r: a\r\n\r\n", GET "X\r", E400),
    NO_AT(GET "\rX: a\r\n\r\n", GET "\rX", E400),
    NO_AT(GET "\r\r\n", GET "\r\r", E400),
    NO_AT("GET / HTTP/1.1\rHost: a\r\n\r\n", "GET / HTTP/1.1\rH", E400),
    NO_AT("\rGET / HTTP/1.1\r\n" HOST "\r\n", "\rG", E400),
    NO_AT("\r\n\r\r\n" GET "\r\n", "\r\n\r\r", E400),
    NO_AT("\nGET / HTTP/1.1\r\n" HOST "\r\n", "\n", E400),
    NO_AT("\r\n\n" GET "\r\n", "\r\n\n", E400),
    NO_AT("GET / HTTP/1.1\n" HOST "\r\n", "GET / HTTP/1.1\n", E400),
    NO_AT(RL "Host: a\n\r\n", RL "Host: a\n", E400),
    NO_AT(GET "\n", GET "\n", E400),
    NO_AT(GET "X\n", GET "X\n", E400),
    NO_AT("GET\n", "GET\n", E400),
    NO_AT("GET /\n", "GET /\n", E400),
    NO_AT("GET \n", "GET \n", E400),
    NO_AT("GET / HTTP/1.\n", "GET / HTTP/1.\n", E400),
    /* B17: Host. */
    NO_AT("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", E400),
    NO_AT("GET / HTTP/1.1\r\nX-Host: a\r\n\r\nHost: a\r\n",
          "GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", E400),
    NO_AT(GET "Host: a\r\n\r\n", GET "Host: a\r\n", E400),
    NO(GET "host: b\r\n\r\n", E400),
    NO("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", E400),
    NO_AT(RL "Host: a/b\r\n\r\n", RL "Host: a/b\r\n", E400),
    NO(RL "Host: a..b\r\n\r\n", E400),
    NO(RL "Host: .a\r\n\r\n", E400),
    NO(RL "Host: .\r\n\r\n", E400),
    NO(RL "Host: a\\b\r\n\r\n", E400),
    NO(RL "Host: user@a\r\n\r\n", E400),
    NO(RL "Host: a b\r\n\r\n", E400),
    NO(RL "Host: a\tb\r\n\r\n", E400),
    NO(RL "Host: a\xc3\xa9\r\n\r\n", E400),
    NO(RL "Host:\r\n\r\n", E400),
    NO(RL "Host: \t \r\n\r\n", E400),
    NO(RL "Host: :80\r\n\r\n", E400),
    NO(RL "Host: a:\r\n\r\n", E400),
    NO(RL "Host: a:123456\r\n\r\n", E400),
    NO(RL "Host: a:8x\r\n\r\n", E400),
    NO(RL "Host: a:-1\r\n\r\n", E400),
    NO(RL "Host: a:1:2\r\n\r\n", E400),
    NO(RL "Host: a%4\r\n\r\n", E400),
    NO(RL "Host: a%zz\r\n\r\n", E400),
    NO(RL "Host: a%\r\n\r\n", E400),
    NO(RL "Host: [::1\r\n\r\n", E400),
    NO(RL "Host: []\r\n\r\n", E400),
    NO(RL "Host: [1]\r\n\r\n", E400),
    NO(RL "Host: [1:2]\r\n\r\n", E400),
    NO(RL "Host: [:]\r\n\r\n", E400),
    NO(RL "Host: [::1]x\r\n\r\n", E400),
    NO(RL "Host: [::1]:\r\n\r\n", E400),
    NO(RL "Host: [::g]\r\n\r\n", E400),
    NO(RL "Host: [::1]]\r\n\r\n", E400),
    NO(RL "Host: a[::1]\r\n\r\n", E400),
    /* 46 bytes between the brackets: longer than any IPv6 address */
    NO(RL "Host: [0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0]\r\n\r\n", E400),
    OK(RL "Host: [0000:0000:0000:0000:0000:ffff:255.255.255.255]\r\n\r\n", 0, 1),
    NO(RL "Host: http://a\r\n\r\n", E400),
    /* B19 (small), B20 (small): see the limit tests for the real sizes. */
    /* B21: versions. */
    NO_AT("GET / HTTP/1.10\r\n" HOST "\r\n", "GET / HTTP/1.10", E400),
    NO_AT("GET / HTTP/-1.1\r\n" HOST "\r\n", "GET / HTTP/-", E400),
    NO_AT("GET / HTTP/2.0\r\n" HOST "\r\n", "GET / HTTP/2.0\r\n", E505),
    NO_AT("GET / HTTP/1.1x\r\n" HOST "\r\n", "GET / HTTP/1.1x", E400),
    NO("GET / HTTP/1.2\r\n" HOST "\r\n", E505),
    NO("GET / HTTP/3.0\r\n" HOST "\r\n", E505),
    NO("GET / HTTP/0.9\r\n" HOST "\r\n", E505),
    NO("GET / HTTP/9.9\r\n" HOST "\r\n", E505),
    NO_AT("GET / HTTP/2.0\rX\r\n" HOST "\r\n", "GET / HTTP/2.0\rX", E400),
    NO_AT("GET / http/1.1\r\n" HOST "\r\n", "GET / h", E400),
    NO("GET / HTTP/1\r\n" HOST "\r\n", E400),
    NO("GET / HTTP/1.\r\n" HOST "\r\n", E400),
    NO("GET / HTTP/11\r\n" HOST "\r\n", E400),
    NO("GET / HTTP/1.1 \r\n" HOST "\r\n", E400),
    NO("GET / HTTP/ 1.1\r\n" HOST "\r\n", E400),
    NO("GET / HTTPS/1.1\r\n" HOST "\r\n", E400),
    NO("GET / HTTP/1.1.1\r\n" HOST "\r\n", E400),
    NO_AT("GET /\r\n" HOST "\r\n", "GET /\r", E400), /* HTTP/0.9 style */
    NO("GET / \r\n" HOST "\r\n", E400),
    NO("GET\r\n" HOST "\r\n", E400),
    NO("GET \r\n" HOST "\r\n", E400),
    /* B22, B23: spaces. */
    NO_AT("GET /epochs x HTTP/1.1\r\n" HOST "\r\n", "GET /epochs x", E400),
    NO_AT("GET  / HTTP/1.1\r\n" HOST "\r\n", "GET  ", E400),
    NO_AT("GET /  HTTP/1.1\r\n" HOST "\r\n", "GET /  ", E400),
    NO_AT("GET\t/ HTTP/1.1\r\n" HOST "\r\n", "GET\t", E400),
    NO_AT("GET /\tHTTP/1.1\r\n" HOST "\r\n", "GET /\t", E400),
    NO_AT(" GET / HTTP/1.1\r\n" HOST "\r\n", " ", E400),
    NO_AT("\r\n GET / HTTP/1.1\r\n" HOST "\r\n", "\r\n ", E400),
    /* B24, B25: only origin-form. */
    NO_AT("GET http://other.example/epochs HTTP/1.1\r\n" HOST "\r\n", "GET h", E400),
    NO_AT("CONNECT x:443 HTTP/1.1\r\n" HOST "\r\n", "CONNECT ", E501), /* no tunnels */
    NO_AT("OPTIONS * HTTP/1.1\r\n" HOST "\r\n", "OPTIONS *", E400),
    NO("GET epochs HTTP/1.1\r\n" HOST "\r\n", E400),
    NO_AT("GET /a\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", "GET /a\xc3", E400),
    NO_AT("GET /a\x7f HTTP/1.1\r\n" HOST "\r\n", "GET /a\x7f", E400),
    /* B26, B28: methods; 501 at the SP after an unknown token. */
    NO_AT("FOO / HTTP/1.1\r\n" HOST "\r\n", "FOO ", E501),
    NO_AT("get / HTTP/1.1\r\n" HOST "\r\n", "get ", E501),
    NO("Get / HTTP/1.1\r\n" HOST "\r\n", E501),
    NO("GETS / HTTP/1.1\r\n" HOST "\r\n", E501),
    NO("GE / HTTP/1.1\r\n" HOST "\r\n", E501),
    NO("PROPFIND / HTTP/1.1\r\n" HOST "\r\n", E501),
    NO("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", E501), /* the HTTP/2 preface */
    NO("FOO http://x HTTP/9.9\r\n\r\n", E501),
    NO_AT("G(T / HTTP/1.1\r\n" HOST "\r\n", "G(", E400),
    NO_AT("GET/ HTTP/1.1\r\n" HOST "\r\n", "GET/", E400),
    NO_AT("G\xc3\xa9T / HTTP/1.1\r\n" HOST "\r\n", "G\xc3", E400),
    NO_AT("\x16\x03\x01\x02\x00\x01", "\x16", E400), /* a TLS ClientHello */
    /* B30: Expect. */
    NO_AT(POST "Expect: something-else\r\nX-A: \0\r\n\r\n",
          POST "Expect: something-else\r\n", E417),
    NO(POST "Expect: 200-ok\r\n\r\n", E417),
    NO(POST "Expect:\r\n\r\n", E417),
    NO(POST "Expect: 100-continue, x\r\n\r\n", E417),
    NO(POST "Expect: 100-continu\r\n\r\n", E417),
    NO(POST "Expect: 100-continue\r\nExpect: x\r\n\r\n", E417),
    /* The first violation in byte order wins. */
    NO_AT(POST "Content-Length: 16385\r\nX-A: \0\r\n\r\n",
          POST "Content-Length: 16385\r\n", E413),
    NO_AT(GET "X-A: \0\r\nContent-Length: 16385\r\n\r\n", GET "X-A: \0", E400),
    NO_AT("GET / HTTP/1.1\r\nExpect: x\r\n\r\n", "GET / HTTP/1.1\r\nExpect: x\r\n", E417),
    /* B34: nothing or only empty lines yet. */
    MORE(""),
    MORE("\r"),
    MORE("\r\n"),
    MORE("\r\n\r\n\r\n"),
    MORE("GET / HTTP/1.1\r\nHost: a\r\n"),
    MORE("GET / HTTP/1.1\r\nHost: a\r\n\r"),
    MORE("POST /epochs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"),
};

#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

/* ---- the check every case goes through ---- */

/* Hostile bytes after a complete head, which must not change anything. */
static const char *const SUFFIXES[] = {
    "\0", "\n", "\r", "\r\n", " x", "\xff", "GET / HTTP/1.1\r\n\r\n", "0\r\n\r\n",
};

static size_t expected_head_len(const head_case *c)
{
    return c->at ? c->at_len : c->len;
}

/* Whether (st, r) is the verdict c expects; how says which feeding it came from. */
static void expect_verdict(const head_case *c, const char *how, fe_head_state st,
                           const fe_head_result *r)
{
    ck_assert_msg(st == c->state, "row %d (%s): state %d, expected %d (%d %s)", c->line,
                  how, (int)st, (int)c->state, st == FE_HEAD_REJECT ? r->status : 0,
                  st == FE_HEAD_REJECT ? r->message : "");
    if (st == FE_HEAD_COMPLETE) {
        ck_assert_msg(r->head_len == expected_head_len(c),
                      "row %d (%s): head_len %zu, expected %zu", c->line, how,
                      r->head_len, expected_head_len(c));
        ck_assert_msg(r->content_length == c->cl,
                      "row %d (%s): content_length %llu, expected %llu", c->line, how,
                      (unsigned long long)r->content_length, (unsigned long long)c->cl);
        ck_assert_msg(r->http_minor == c->minor, "row %d (%s): minor %d, expected %d",
                      c->line, how, r->http_minor, c->minor);
        ck_assert_msg(r->status == 0 && r->code == NULL && r->message == NULL,
                      "row %d (%s): refusal fields set on a complete head", c->line, how);
    } else if (st == FE_HEAD_REJECT) {
        ck_assert_msg(r->status == c->status && r->code && strcmp(r->code, c->code) == 0,
                      "row %d (%s): %d %s (%s), expected %d %s", c->line, how, r->status,
                      r->code ? r->code : "(null)", r->message ? r->message : "(null)",
                      c->status, c->code);
        ck_assert_msg(r->message && r->message[0], "row %d (%s): no message", c->line,
                      how);
        ck_assert_msg(r->head_len == 0 && r->content_length == 0,
                      "row %d (%s): head fields set on a refusal", c->line, how);
    }
}

/* The verdicts of two feedings agree in every field. */
static void same_verdict(const head_case *c, const char *how, fe_head_state a,
                         const fe_head_result *ra, fe_head_state b,
                         const fe_head_result *rb)
{
    ck_assert_msg(a == b, "row %d (%s): state %d vs %d", c->line, how, (int)a, (int)b);
    if (a == FE_HEAD_INCOMPLETE)
        return;
    ck_assert_msg(ra->head_len == rb->head_len &&
                      ra->content_length == rb->content_length &&
                      ra->http_minor == rb->http_minor && ra->status == rb->status &&
                      ra->code == rb->code && ra->message == rb->message,
                  "row %d (%s): results differ", c->line, how);
}

static void check_case(const head_case *c, const fe_head_limits *lim)
{
    fe_head_parser p;
    fe_head_result whole, r;

    if (c->at)
        ck_assert_msg(c->at_len <= c->len && memcmp(c->at, c->in, c->at_len) == 0,
                      "row %d: the deciding prefix is not a prefix of the input",
                      c->line);

    /* All at once. */
    fe_head_init(&p, lim);
    fe_head_state st_whole = fe_head_feed(&p, c->in, c->len, &whole);
    expect_verdict(c, "whole", st_whole, &whole);
    size_t work_whole = p.work_;
    ck_assert_msg(work_whole <= 2 * c->len + 64,
                  "row %d: %zu bytes of work for %zu bytes", c->line, work_whole, c->len);

    /* A byte at a time: INCOMPLETE up to the deciding byte, then the verdict. */
    fe_head_init(&p, lim);
    size_t k;
    fe_head_state st = FE_HEAD_INCOMPLETE;
    for (k = 0; k <= c->len; k++) {
        st = fe_head_feed(&p, c->in, k, &r);
        if (st != FE_HEAD_INCOMPLETE)
            break;
    }
    ck_assert_msg(p.work_ == work_whole,
                  "row %d: %zu bytes of work a byte at a time, %zu all at once", c->line,
                  p.work_, work_whole);
    if (c->state == FE_HEAD_INCOMPLETE) {
        ck_assert_msg(st == FE_HEAD_INCOMPLETE, "row %d: decided at %zu", c->line, k);
        return;
    }
    expect_verdict(c, "byte by byte", st, &r);
    size_t decided = k;
    if (c->state == FE_HEAD_COMPLETE || c->at)
        ck_assert_msg(decided == expected_head_len(c),
                      "row %d: decided at byte %zu, expected %zu", c->line, decided,
                      expected_head_len(c));
    ck_assert_msg(decided >= 1, "row %d: decided on no bytes", c->line);

    /* The verdict stays, whatever comes after (or a shorter len). */
    fe_head_result again;
    same_verdict(c, "again", st, &r, fe_head_feed(&p, c->in, c->len, &again), &again);
    same_verdict(c, "shorter", st, &r, fe_head_feed(&p, c->in, 0, &again), &again);

    /* Fresh, the prefix just before the deciding byte says nothing yet. */
    fe_head_init(&p, lim);
    ck_assert_msg(fe_head_feed(&p, c->in, decided - 1, &again) == FE_HEAD_INCOMPLETE,
                  "row %d: decided before byte %zu when fed at once", c->line, decided);
    fe_head_init(&p, lim);
    same_verdict(c, "prefix", st, &r, fe_head_feed(&p, c->in, decided, &again), &again);

    /* In chunks. */
    static const size_t STEPS[] = {2, 3, 7, 64, 1000};
    for (size_t s = 0; s < sizeof STEPS / sizeof STEPS[0]; s++) {
        size_t pos = 0;
        fe_head_init(&p, lim);
        fe_head_state cs;
        do {
            pos = pos + STEPS[s] < c->len ? pos + STEPS[s] : c->len;
            cs = fe_head_feed(&p, c->in, pos, &again);
        } while (cs == FE_HEAD_INCOMPLETE && pos < c->len);
        same_verdict(c, "chunks", st, &r, cs, &again);
        ck_assert_msg(p.work_ == work_whole, "row %d: work depends on the chunking",
                      c->line);
    }

    /* A complete head followed by anything: the same head. */
    if (c->state == FE_HEAD_COMPLETE) {
        size_t hl = expected_head_len(c);
        char *buf = malloc(hl + 64);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, c->in, hl);
        for (size_t s = 0; s < sizeof SUFFIXES / sizeof SUFFIXES[0]; s++) {
            size_t n = strlen(SUFFIXES[s]);
            if (n == 0)
                n = 1; /* the NUL itself */
            memcpy(buf + hl, SUFFIXES[s], n);
            fe_head_init(&p, lim);
            fe_head_state ss = fe_head_feed(&p, buf, hl + n, &again);
            same_verdict(c, "suffix", st, &r, ss, &again);
        }
        free(buf);
    }
}

START_TEST(table)
{
    check_case(&CASES[_i], NULL);
}
END_TEST

/* ---- every byte in every place ---- */

static int t_in(const char *set, int b)
{
    return b != 0 && strchr(set, b) != NULL;
}

static int t_alnum(int b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

static int t_tchar(int b)
{
    return t_alnum(b) || t_in("!#$%&'*+-.^_`|~", b);
}

static int t_vchar(int b)
{
    return b >= 0x21 && b <= 0x7e;
}

/* A case built at run time; the buffer lives as long as the test. */
typedef struct built {
    head_case c;
    char buf[256];
} built;

static void build(built *b, const char *pre, int byte, const char *post)
{
    size_t n = strlen(pre), m = strlen(post);
    ck_assert_uint_lt(n + 1 + m, sizeof b->buf);
    memcpy(b->buf, pre, n);
    b->buf[n] = (char)byte;
    memcpy(b->buf + n + 1, post, m);
    memset(&b->c, 0, sizeof b->c);
    b->c.line = byte; /* the byte, in the messages */
    b->c.in = b->buf;
    b->c.len = n + 1 + m;
    b->c.minor = 1;
}

static void expect_ok(built *b)
{
    b->c.state = FE_HEAD_COMPLETE;
}

static void expect_no(built *b, int status, const char *code)
{
    b->c.state = FE_HEAD_REJECT;
    b->c.status = status;
    b->c.code = code;
}

static void byte_in_method_one(int byte)
{
    built b;
    build(&b, "G", byte, "T / HTTP/1.1\r\nHost: a\r\n\r\n");
    if (byte == 'E')
        expect_ok(&b);
    else if (t_tchar(byte) || byte == ' ')
        expect_no(&b, E501); /* "GxT", or "G" then SP */
    else
        expect_no(&b, E400);
    check_case(&b.c, NULL);
}

START_TEST(byte_in_method)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_method_one(byte);
}
END_TEST

static void byte_in_target_one(int byte)
{
    built b;
    build(&b, "GET /a", byte, "b HTTP/1.1\r\nHost: a\r\n\r\n");
    if (t_vchar(byte))
        expect_ok(&b);
    else
        expect_no(&b, E400);
    check_case(&b.c, NULL);
}

START_TEST(byte_in_target)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_target_one(byte);
}
END_TEST

static void byte_in_version_one(int byte)
{
    built b;
    build(&b, "GET / HTTP/1.", byte, "\r\nHost: a\r\n\r\n");
    if (byte == '0' || byte == '1') {
        expect_ok(&b);
        b.c.minor = byte - '0';
    } else if (byte >= '2' && byte <= '9') {
        expect_no(&b, E505);
    } else {
        expect_no(&b, E400);
    }
    check_case(&b.c, NULL);
}

START_TEST(byte_in_version)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_version_one(byte);
}
END_TEST

static void byte_in_name_one(int byte)
{
    built b;
    build(&b, "GET / HTTP/1.1\r\nHost: a\r\nX-", byte, "y: z\r\n\r\n");
    if (t_tchar(byte) || byte == ':') /* ':' ends the name "X-"; "y: z" is its value */
        expect_ok(&b);
    else
        expect_no(&b, E400);
    check_case(&b.c, NULL);
}

START_TEST(byte_in_name)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_name_one(byte);
}
END_TEST

static void byte_at_line_start_one(int byte)
{
    built b;
    build(&b, "GET / HTTP/1.1\r\nHost: a\r\n", byte, "X: y\r\n\r\n");
    if (t_tchar(byte))
        expect_ok(&b);
    else
        expect_no(&b, E400); /* obs-fold, bare CR, empty name, ... */
    check_case(&b.c, NULL);
}

START_TEST(byte_at_line_start)
{
    for (int byte = 0; byte < 256; byte++)
        byte_at_line_start_one(byte);
}
END_TEST

static void byte_in_value_one(int byte)
{
    built b;
    build(&b, "GET / HTTP/1.1\r\nHost: a\r\nX: a", byte, "b\r\n\r\n");
    if (byte == '\t' || byte == ' ' || t_vchar(byte) || byte >= 0x80)
        expect_ok(&b);
    else
        expect_no(&b, E400);
    check_case(&b.c, NULL);
}

START_TEST(byte_in_value)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_value_one(byte);
}
END_TEST

static void byte_in_host_one(int byte)
{
    built b;
    build(&b, "GET / HTTP/1.1\r\nHost: a", byte, "1\r\n\r\n");
    if (t_alnum(byte) || t_in("-._~!$&'()*+,;=", byte) || byte == ':')
        expect_ok(&b);
    else
        expect_no(&b, E400); /* '%' is refused here: "%1" is no %HH */
    check_case(&b.c, NULL);
}

START_TEST(byte_in_host)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_host_one(byte);
}
END_TEST

static void byte_in_content_length_one(int byte)
{
    built b;
    build(&b, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1", byte, "2\r\n\r\n");
    if (byte >= '0' && byte <= '9') {
        expect_ok(&b);
        b.c.cl = (uint64_t)(100 + (byte - '0') * 10 + 2);
    } else {
        expect_no(&b, E400);
    }
    check_case(&b.c, NULL);
}

START_TEST(byte_in_content_length)
{
    for (int byte = 0; byte < 256; byte++)
        byte_in_content_length_one(byte);
}
END_TEST

/* ---- limits, at their real sizes ---- */

/* A growable buffer for the large heads. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 64;
        t->p = realloc(t->p, t->cap);
        ck_assert_ptr_nonnull(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void repeat(text *t, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(t, &c, 1);
}

static head_case big_case(const text *t, fe_head_state state, int status,
                          const char *code, size_t at_len)
{
    head_case c = {
        __LINE__, t->p, t->len, state, status, code, 0, 1, at_len ? t->p : NULL, at_len};
    return c;
}

/* "GET /aaa... HTTP/1.1" with a target of n bytes, then Host. */
static void target_of(text *t, size_t n, size_t *target_end)
{
    puts_(t, "GET /");
    repeat(t, 'a', n - 1);
    *target_end = t->len;
    puts_(t, " HTTP/1.1\r\nHost: a\r\n\r\n");
}

START_TEST(target_limit)
{
    fe_head_limits d = fe_head_limits_default();
    text t = {0};
    size_t end;
    target_of(&t, d.target_max, &end);
    head_case c = big_case(&t, FE_HEAD_COMPLETE, 0, NULL, 0);
    check_case(&c, NULL);

    /* One byte more: 414 at that byte, long before the line ends (B20). */
    t.len = 0;
    target_of(&t, d.target_max + 1, &end);
    c = big_case(&t, FE_HEAD_REJECT, E414, end);
    check_case(&c, NULL);

    /* 20 KiB, with a bad version behind it: the length is found first. */
    t.len = 0;
    puts_(&t, "GET /");
    repeat(&t, 'a', 20 * 1024);
    puts_(&t, " HTTP/9.9\r\n\r\n");
    c = big_case(&t, FE_HEAD_REJECT, E414, strlen("GET ") + d.target_max + 1);
    check_case(&c, NULL);
    free(t.p);
}
END_TEST

/* A head of n header lines (Host and X-2 ... X-n). */
static void lines_of(text *t, size_t n, size_t *line_at)
{
    puts_(t, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 2; i <= n; i++) {
        char line[32];
        if (i == 101)
            *line_at = t->len;
        snprintf(line, sizeof line, "X-%zu: v\r\n", i);
        puts_(t, line);
    }
    puts_(t, "\r\n");
}

START_TEST(lines_limit)
{
    text t = {0};
    size_t at = 0;
    lines_of(&t, 100, &at);
    head_case c = big_case(&t, FE_HEAD_COMPLETE, 0, NULL, 0);
    check_case(&c, NULL);

    /* The 101st line is refused at its first byte (B19: also 300 lines). */
    t.len = 0;
    lines_of(&t, 101, &at);
    c = big_case(&t, FE_HEAD_REJECT, E431, at + 1);
    check_case(&c, NULL);
    t.len = 0;
    lines_of(&t, 300, &at);
    c = big_case(&t, FE_HEAD_REJECT, E431, at + 1);
    check_case(&c, NULL);

    /* The final empty line is no header line: 100 lines then a blank one is fine,
     * and so are leading empty lines. */
    text u = {0};
    puts_(&u, "\r\n\r\n");
    t.len = 0;
    lines_of(&t, 100, &at);
    put(&u, t.p, t.len);
    c = big_case(&u, FE_HEAD_COMPLETE, 0, NULL, 0);
    check_case(&c, NULL);
    free(t.p);
    free(u.p);
}
END_TEST

/* A valid head of exactly n bytes: one padding header sized to fit. */
static void head_of(text *t, size_t n, const char *lead)
{
    const char *start = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    size_t fixed = strlen(lead) + strlen(start) + 4;
    ck_assert_uint_gt(n, fixed);
    puts_(t, lead);
    puts_(t, start);
    repeat(t, 'p', n - fixed);
    puts_(t, "\r\n\r\n");
    ck_assert_uint_eq(t->len, n);
}

START_TEST(head_limit)
{
    fe_head_limits d = fe_head_limits_default();
    text t = {0};
    head_of(&t, d.head_max, "");
    head_case c = big_case(&t, FE_HEAD_COMPLETE, 0, NULL, 0);
    check_case(&c, NULL);

    /* One byte more: refused once head_max bytes are in, not one later. */
    t.len = 0;
    head_of(&t, d.head_max + 1, "");
    c = big_case(&t, FE_HEAD_REJECT, E431, d.head_max);
    check_case(&c, NULL);

    /* Leading empty lines count. */
    t.len = 0;
    head_of(&t, d.head_max, "\r\n\r\n");
    c = big_case(&t, FE_HEAD_COMPLETE, 0, NULL, 0);
    check_case(&c, NULL);
    t.len = 0;
    head_of(&t, d.head_max + 2, "\r\n");
    c = big_case(&t, FE_HEAD_REJECT, E431, d.head_max);
    check_case(&c, NULL);

    /* B19: one 70 KiB header. */
    t.len = 0;
    head_of(&t, 70 * 1024, "");
    c = big_case(&t, FE_HEAD_REJECT, E431, d.head_max);
    check_case(&c, NULL);

    /* Only empty lines, forever. */
    t.len = 0;
    for (size_t i = 0; i < d.head_max; i++)
        puts_(&t, "\r\n");
    c = big_case(&t, FE_HEAD_REJECT, E431, d.head_max);
    check_case(&c, NULL);
    free(t.p);
}
END_TEST

#define D32 "01234567890123456789012345678901"
#define CRLF8 "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"

START_TEST(small_limits)
{
    fe_head_limits lim = {
        .head_max = 64, .lines_max = 2, .target_max = 4, .body_max = 10};
    static const head_case cases[] = {
        OK("GET /abc HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", 0, 1),
        NO_AT("GET /abcd HTTP/1.1\r\nHost: a\r\n\r\n", "GET /abcd", E414),
        NO_AT("GET /abc HTTP/1.1\r\nHost: a\r\nX: y\r\nZ: w\r\n\r\n",
              "GET /abc HTTP/1.1\r\nHost: a\r\nX: y\r\nZ", E431),
        OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", 10, 1),
        NO("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", E413),
        /* exactly 64 bytes, and 65 */
        OK("GET / HTTP/1.1\r\nHost: a\r\nX: " D32 "\r\n\r\n", 0, 1),
        NO_AT("GET / HTTP/1.1\r\nHost: a\r\nX: " D32 "0\r\n\r\n",
              "GET / HTTP/1.1\r\nHost: a\r\nX: " D32 "0\r\n\r", E431),
        /* 64 bytes of empty lines */
        NO_AT(CRLF8 CRLF8 CRLF8 CRLF8 "GET", CRLF8 CRLF8 CRLF8 CRLF8, E431),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], &lim);
}
END_TEST

START_TEST(limits_defaults)
{
    fe_head_limits d = fe_head_limits_default();
    ck_assert_uint_eq(d.head_max, 16384);
    ck_assert_uint_eq(d.lines_max, 100);
    ck_assert_uint_eq(d.target_max, 8192);
    ck_assert_uint_eq(d.body_max, 16384);
    ck_assert_uint_eq(d.body_max, FE_BODY_MAX_DEFAULT); /* the daemon's body limit */

    /* NULL and zero members take the defaults; others are kept. */
    fe_head_parser p;
    fe_head_init(&p, NULL);
    ck_assert_mem_eq(&p.limits, &d, sizeof d);
    fe_head_limits zero = {0};
    fe_head_init(&p, &zero);
    ck_assert_mem_eq(&p.limits, &d, sizeof d);
    fe_head_limits some = {.lines_max = 7, .body_max = 3};
    fe_head_init(&p, &some);
    ck_assert_uint_eq(p.limits.head_max, d.head_max);
    ck_assert_uint_eq(p.limits.lines_max, 7);
    ck_assert_uint_eq(p.limits.target_max, d.target_max);
    ck_assert_uint_eq(p.limits.body_max, 3);
}
END_TEST

/* ---- feeding ---- */

START_TEST(pipeline)
{
    /* B31, B32: the daemon starts the next head at head_len. */
    static const char in[] =
        "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        "POST /epochs HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
        "GET /3 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
        "GET /4 HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t len = sizeof in - 1, off = 0;
    fe_head_parser p;
    fe_head_result r;

    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, in, len, &r), FE_HEAD_COMPLETE);
    ck_assert_uint_eq(r.head_len, strlen("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
    ck_assert_uint_eq(r.content_length, 0);
    off += r.head_len;

    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, in + off, len - off, &r), FE_HEAD_COMPLETE);
    ck_assert_uint_eq(r.content_length, 2);
    ck_assert_mem_eq(in + off + r.head_len, "{}", 2);
    off += r.head_len + r.content_length;

    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, in + off, len - off, &r), FE_HEAD_REJECT);
    ck_assert_int_eq(r.status, 400);
}
END_TEST

START_TEST(verdict_sticks)
{
    static const char ok[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nxx";
    static const char bad[] = "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n";
    fe_head_parser p;
    fe_head_result r;

    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, ok, sizeof ok - 1, NULL), FE_HEAD_COMPLETE);
    ck_assert_int_eq(fe_head_feed(&p, ok, sizeof ok - 1, &r), FE_HEAD_COMPLETE);
    ck_assert_uint_eq(r.head_len, sizeof ok - 3);
    ck_assert_int_eq(fe_head_feed(&p, bad, sizeof bad - 1, &r), FE_HEAD_COMPLETE);
    ck_assert_uint_eq(r.head_len, sizeof ok - 3);

    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, bad, sizeof bad - 1, NULL), FE_HEAD_REJECT);
    ck_assert_int_eq(fe_head_feed(&p, ok, sizeof ok - 1, &r), FE_HEAD_REJECT);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(r.http_minor, 1);

    /* Re-initialised, the same parser takes a new head. */
    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, ok, sizeof ok - 1, &r), FE_HEAD_COMPLETE);

    /* A refusal before the version says so. */
    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, "FOO ", 4, &r), FE_HEAD_REJECT);
    ck_assert_int_eq(r.http_minor, -1);
}
END_TEST

/*
 * Bytes after the head, and past head_max, are never read: the input ends at
 * an inaccessible page and len claims more, so a look would crash the test.
 */
START_TEST(never_reads_past_the_head)
{
    long page = sysconf(_SC_PAGESIZE);
    ck_assert_int_gt(page, 0);
    char *m = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    ck_assert_int_eq(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    char *guard = m + page;
    fe_head_parser p;
    fe_head_result r;

    static const char ok[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n";
    char *s = guard - (sizeof ok - 1);
    memcpy(s, ok, sizeof ok - 1);
    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, s, sizeof ok - 1 + 4096, &r), FE_HEAD_COMPLETE);
    ck_assert_uint_eq(r.head_len, sizeof ok - 1);

    static const char bad[] = "GET / HTTP/1.1\r\nX: \x01";
    s = guard - (sizeof bad - 1);
    memcpy(s, bad, sizeof bad - 1);
    fe_head_init(&p, NULL);
    ck_assert_int_eq(fe_head_feed(&p, s, sizeof bad - 1 + 4096, &r), FE_HEAD_REJECT);
    ck_assert_int_eq(r.status, 400);

    /* head_max bytes of an unfinished head end at the guard. */
    fe_head_limits lim = {.head_max = 64};
    s = guard - 64;
    memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
    memset(s + 19, 'v', 64 - 19);
    fe_head_init(&p, &lim);
    ck_assert_int_eq(fe_head_feed(&p, s, 64 + 4096, &r), FE_HEAD_REJECT);
    ck_assert_int_eq(r.status, 431);
    munmap(m, 2 * (size_t)page);
}
END_TEST

/*
 * The daemon's pattern at its worst: a 16 KiB head arriving a byte at a time,
 * the whole buffer passed each time. The parser's work counter must grow
 * with the bytes, not with the calls times the bytes; a quadratic rescan
 * would also take minutes here instead of milliseconds.
 */
START_TEST(trickle_is_linear)
{
    fe_head_limits d = fe_head_limits_default();
    text t = {0};
    head_of(&t, d.head_max, "");
    text one = {0}; /* one unfinished line, to head_max */
    puts_(&one, "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
    repeat(&one, 's', d.head_max);
    text target = {0}; /* one unfinished target, with a larger target_max */
    puts_(&target, "GET /");
    repeat(&target, 't', d.head_max);
    fe_head_limits wide = {.target_max = 1u << 20};

    for (int round = 0; round < 100; round++) {
        fe_head_parser p;
        fe_head_result r;
        fe_head_state st = FE_HEAD_INCOMPLETE;
        size_t k;
        fe_head_init(&p, NULL);
        for (k = 1; k <= t.len && st == FE_HEAD_INCOMPLETE; k++)
            st = fe_head_feed(&p, t.p, k, &r);
        ck_assert_int_eq(st, FE_HEAD_COMPLETE);
        ck_assert_uint_eq(r.head_len, t.len);
        ck_assert_uint_le(p.work_, t.len + 64);

        fe_head_init(&p, NULL);
        st = FE_HEAD_INCOMPLETE;
        for (k = 1; k <= one.len && st == FE_HEAD_INCOMPLETE; k++)
            st = fe_head_feed(&p, one.p, k, &r);
        ck_assert_int_eq(st, FE_HEAD_REJECT);
        ck_assert_int_eq(r.status, 431);
        ck_assert_uint_eq(k - 1, d.head_max);
        ck_assert_uint_le(p.work_, d.head_max + 16);

        fe_head_init(&p, &wide);
        st = FE_HEAD_INCOMPLETE;
        for (k = 1; k <= target.len && st == FE_HEAD_INCOMPLETE; k++)
            st = fe_head_feed(&p, target.p, k, &r);
        ck_assert_int_eq(st, FE_HEAD_REJECT);
        ck_assert_int_eq(r.status, 431);
        ck_assert_uint_le(p.work_, d.head_max + 8);
    }
    free(t.p);
    free(one.p);
    free(target.p);
}
END_TEST

/* ---- random mutations: the verdict never depends on the split ---- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: deterministic, no global state */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static int status_known(const fe_head_result *r)
{
    static const struct {
        int status;
        const char *code;
    } KNOWN[] = {{E400}, {E411}, {E413}, {E414}, {E417}, {E431}, {E501}, {E505}};
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (r->status == KNOWN[i].status && strcmp(r->code, KNOWN[i].code) == 0)
            return 1;
    return 0;
}

START_TEST(mutations)
{
    static const char ALPHABET[] = "\r\n \t:/\0\x01\x7f\x80\xff"
                                   "0159aAzZ-.%[]@,;HTTP";
    uint64_t seed = UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)_i;
    fe_head_limits lim = {
        .head_max = 200, .lines_max = 6, .target_max = 24, .body_max = 50};
    char buf[256];

    for (int n = 0; n < 400; n++) {
        const head_case *base = &CASES[rng_next(&seed) % (uint64_t)NCASES];
        size_t len = base->len < 200 ? base->len : 200;
        memcpy(buf, base->in, len);
        int edits = 1 + (int)(rng_next(&seed) % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = (size_t)(rng_next(&seed) % len);
            char c = ALPHABET[rng_next(&seed) % (sizeof ALPHABET - 1)];
            switch (rng_next(&seed) % 3) {
            case 0: /* replace */
                buf[at] = c;
                break;
            case 1: /* insert */
                if (len < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            default: /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            }
        }

        fe_head_parser p;
        fe_head_result whole, r;
        fe_head_init(&p, &lim);
        fe_head_state st = fe_head_feed(&p, buf, len, &whole);
        size_t work = p.work_;
        head_case c = {n, buf, len, st, 0, NULL, 0, 0, NULL, 0};
        if (st == FE_HEAD_COMPLETE) {
            ck_assert_uint_ge(whole.head_len, 18);
            ck_assert_uint_le(whole.head_len, len);
            ck_assert_mem_eq(buf + whole.head_len - 4, "\r\n\r\n", 4);
            ck_assert_uint_le(whole.content_length, lim.body_max);
            ck_assert_ptr_null(memchr(buf, '\0', whole.head_len));
        } else if (st == FE_HEAD_REJECT) {
            ck_assert_msg(status_known(&whole), "unknown status %d", whole.status);
        }

        fe_head_init(&p, &lim);
        fe_head_state bs = FE_HEAD_INCOMPLETE;
        for (size_t k = 0; k <= len && bs == FE_HEAD_INCOMPLETE; k++)
            bs = fe_head_feed(&p, buf, k, &r);
        same_verdict(&c, "mutation, byte by byte", st, &whole, bs, &r);
        ck_assert_uint_eq(p.work_, work);

        fe_head_init(&p, &lim);
        size_t pos = 0;
        do {
            pos += 1 + (size_t)(rng_next(&seed) % 16);
            if (pos > len)
                pos = len;
            bs = fe_head_feed(&p, buf, pos, &r);
        } while (bs == FE_HEAD_INCOMPLETE && pos < len);
        same_verdict(&c, "mutation, random chunks", st, &whole, bs, &r);
    }
}
END_TEST

Suite *fe_head_suite(void)
{
    Suite *s = suite_create("fe_head");

    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, table, 0, NCASES);
    suite_add_tcase(s, tc);

    tc = tcase_create("bytes");
    tcase_add_test(tc, byte_in_method);
    tcase_add_test(tc, byte_in_target);
    tcase_add_test(tc, byte_in_version);
    tcase_add_test(tc, byte_in_name);
    tcase_add_test(tc, byte_at_line_start);
    tcase_add_test(tc, byte_in_value);
    tcase_add_test(tc, byte_in_host);
    tcase_add_test(tc, byte_in_content_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, target_limit);
    tcase_add_test(tc, lines_limit);
    tcase_add_test(tc, head_limit);
    tcase_add_test(tc, small_limits);
    tcase_add_test(tc, limits_defaults);
    suite_add_tcase(s, tc);

    tc = tcase_create("feeding");
    tcase_add_test(tc, pipeline);
    tcase_add_test(tc, verdict_sticks);
    tcase_add_test(tc, never_reads_past_the_head);
    tcase_add_test(tc, trickle_is_linear);
    tcase_add_loop_test(tc, mutations, 0, 8);
    suite_add_tcase(s, tc);
    return s;
}
