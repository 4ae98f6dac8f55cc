"""daemon.framing: RELIABILITY.md §3.4 over raw sockets, one table-driven test.

Every row of the tables B1-B34 (framing and request head), J1-J10 (bodies; each
J row against POST /epochs and every legacy write alias) and Q1-Q8 (query
strings and paths; Q8 = Q1-Q5 against /getEpoch, /getEpochStore and /app,
which must answer exactly like /epochs) is sent as raw bytes on a fresh
connection. A case passes when the response status is one the table allows,
error bodies have DESIGN's shape, and for framing rejections the response
carries `Connection: close`, the server closes the connection and the
pipelined follow-up request behind the bad one is never answered. Afterwards
the daemon must still be up (same PID) and must never have answered a 5xx
other than the 501/505 the table allows.

Prints "rows passed/total" per table. Also covers item 9 of the battery
(body limits): J9.
"""

import collections
import json
import os
import sys
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Conn, Daemon, HttpError, Test, check_basics, check_created,  # noqa: E402
                     check_error, request, sqlite_db)

HOST = "Host: 127.0.0.1"
FOLLOW = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: followup\r\n\r\n"
SMUG = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
JSONCT = "Content-Type: application/json"
ERR4XX = set(range(400, 500))
WRITE_PATHS = ["/epochs", "/EpochRegisterTime", "/storeEpochTime", "/app"]
LIST_ALIASES = ["/getEpoch", "/getEpochStore", "/app"]


def raw(method="GET", target="/epochs", headers=(), body=b"", version="HTTP/1.1", host=True):
    lines = ["%s %s %s" % (method, target, version)]
    if host:
        lines.append(HOST)
    lines += list(headers)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head + body


class Case:
    def __init__(self, row, name, data, expect, close=True, followup=None, check=None, silent=False,
                 daemon="main", timeout=5.0, max_latency=None, head=False, shut=False, connect_only=False,
                 close_on=()):
        self.row = row
        # with close=None: statuses that are framing rejections (must close)
        self.close_on = set(close_on)
        self.name = name
        self.data = data
        self.expect = set(expect) if not isinstance(expect, int) else {expect}
        self.close = close
        # by default a follow-up is pipelined behind every request that must
        # close the connection: it must never be answered
        self.followup = (close is True) if followup is None else followup
        self.check = check
        self.silent = silent
        self.daemon = daemon
        self.timeout = timeout
        self.max_latency = max_latency
        self.head = head
        self.shut = shut
        self.connect_only = connect_only


class Battery:
    def __init__(self, t):
        self.t = t
        self.results = collections.OrderedDict()   # row -> [bool]
        self.statuses = collections.Counter()

    def label(self, c):
        return "%s %s" % (c.row, c.name)

    def run_case(self, c):
        t = self.t
        before = len(t.failures)
        port = self.ports[c.daemon]
        label = self.label(c)
        try:
            self._run_case(c, port, label)
        except Exception as e:  # noqa: BLE001
            import traceback
            t.fail("%s: test error %r" % (label, e), traceback.format_exc())
        ok = len(t.failures) == before
        self.results.setdefault(c.row, []).append(ok)
        return ok

    def _run_case(self, c, port, label):
        t = self.t
        conn = Conn(port)
        try:
            if c.connect_only:
                conn.close()
                return
            data = c.data + (FOLLOW if c.followup else b"")
            t0 = time.monotonic()
            conn.send(data)
            if c.shut:
                conn.shutdown_write()
            if c.silent:
                rest, how = conn.read_rest(c.timeout)
                t.check(rest == b"" and how in ("eof", "reset"),
                        "%s: silently closed (no response bytes)" % label, (rest[:200], how))
                return
            try:
                r = conn.read_response(head=c.head, timeout=c.timeout)
            except HttpError as e:
                t.fail("%s: no complete response (want %s)" % (label, sorted(c.expect)),
                       "%s; send error: %r" % (e, conn.send_error))
                return
            latency = time.monotonic() - t0
            self.statuses[r.status] += 1
            if r.status == 100:
                t.fail("%s: 100 Continue sent (want %s)" % (label, sorted(c.expect)), r.short())
                return
            t.check(r.status in c.expect, "%s: status in %s" % (label, sorted(c.expect)), r.short())
            if r.status >= 500 and r.status not in c.expect:
                t.fail("%s: answered 5xx" % label, r.short())
            check_basics(t, r, label)
            if r.status >= 400 and r.status in c.expect:
                check_error(t, r, r.status, label)
            if c.max_latency is not None:
                t.check(latency <= c.max_latency * FACTOR, "%s: answered within %.1f s" % (label, c.max_latency),
                        "took %.2f s" % latency)
            if c.check:
                c.check(t, label, r)
            must_close = c.close is True or (c.close is None and r.has_token("connection", "close"))
            if c.close is True or (c.close is None and r.status in c.close_on):
                t.check(r.has_token("connection", "close"), "%s: Connection: close" % label, r.short())
                must_close = True
            if must_close:
                rest, how = conn.read_rest(3)
                t.check(rest == b"", "%s: nothing after the rejected request is answered" % label,
                        rest[:300])
                t.check(how in ("eof", "reset"), "%s: the server closes the connection" % label,
                        "connection still open after 3 s" if how == "timeout" else how)
            elif c.close is False:
                t.check(not r.has_token("connection", "close"), "%s: connection kept" % label, r.short())
                conn.send(FOLLOW)
                try:
                    f = conn.read_response()
                    t.check(f.status == 200, "%s: the next request on the connection is answered" % label,
                            f.short())
                except HttpError as e:
                    t.fail("%s: connection kept and usable" % label, e)
        finally:
            conn.close()

    def report(self, prefix):
        rows = [(k, v) for k, v in self.results.items() if k.startswith(prefix)]
        passed = sum(1 for _, v in rows if all(v))
        cases = sum(len(v) for _, v in rows)
        cpass = sum(sum(v) for _, v in rows)
        failed = [k for k, v in rows if not all(v)]
        self.t.info("table %s: %d/%d rows passed (%d/%d cases)%s"
                    % (prefix, passed, len(rows), cpass, cases,
                       ("; failed rows: " + ", ".join(failed)) if failed else ""))


# ---------------------------------------------------------------- B table

def b_cases(token):
    C = []
    post_json = [JSONCT]
    # B1 CL + TE (either order), smuggled request in the body
    C.append(Case("B1", "CL 5 then TE chunked, smuggled GET",
                  raw("POST", "/epochs", ["Content-Length: 5", "Transfer-Encoding: chunked"] + post_json,
                      b"0\r\n\r\n" + SMUG), 400))
    C.append(Case("B1", "TE chunked then CL 5, smuggled GET",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked", "Content-Length: 5"] + post_json,
                      b"0\r\n\r\n" + SMUG), 400))
    C.append(Case("B1", "TE chunked + CL 3, chunk of 8",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked", "Content-Length: 3"] + post_json,
                      b"8\r\n{}      \r\n0\r\n\r\n"), 400))
    # B2 two Content-Lengths
    C.append(Case("B2", "CL 2 and CL 47 (different)",
                  raw("POST", "/epochs", ["Content-Length: 2", "Content-Length: 47"] + post_json, b"{}" + SMUG),
                  400))
    C.append(Case("B2", "CL 2 twice (equal)",
                  raw("POST", "/epochs", ["Content-Length: 2", "Content-Length: 2"] + post_json, b"{}"), 400))
    C.append(Case("B3", "Content-Length: 2, 2",
                  raw("POST", "/epochs", ["Content-Length: 2, 2"] + post_json, b"{}"), 400))
    for v in ("+2", "-2", "0x2", "2.0", " 2 2", ""):
        C.append(Case("B4", "Content-Length: %r" % v,
                      raw("POST", "/epochs", ["Content-Length: " + v] + post_json, b"{}"), 400))
    C.append(Case("B5", "Content-Length of 20 digits",
                  raw("POST", "/epochs", ["Content-Length: 99999999999999999999"] + post_json, b"{}"),
                  {400, 413}))
    for te in ("identity", "chunked, identity", "gzip, chunked"):
        C.append(Case("B6", "Transfer-Encoding: %s" % te,
                      raw("POST", "/epochs", ["Transfer-Encoding: " + te] + post_json, b"2\r\n{}\r\n0\r\n\r\n"),
                      {501, 411}))
    C.append(Case("B7", "Transfer-Encoding twice",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"] + post_json,
                      b"2\r\n{}\r\n0\r\n\r\n"), {400, 411, 501}))
    C.append(Case("B8", "Transfer-Encoding in HTTP/1.0",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked"] + post_json, b"2\r\n{}\r\n0\r\n\r\n",
                      version="HTTP/1.0"), {400, 411, 501}))
    C.append(Case("B9", "TE via obs-fold, with CL",
                  raw("POST", "/epochs", ["Transfer-Encoding:", " chunked", "Content-Length: 2"] + post_json,
                      b"{}"), 400))
    C.append(Case("B9", "TE via obs-fold, alone",
                  raw("POST", "/epochs", ["Transfer-Encoding:", " chunked"] + post_json,
                      b"2\r\n{}\r\n0\r\n\r\n"), 400))
    C.append(Case("B10", "'Content-Length : 2'",
                  raw("POST", "/epochs", ["Content-Length : 2"] + post_json, b"{}" + SMUG), 400))
    C.append(Case("B10", "'Transfer-Encoding\\t: chunked' + CL",
                  raw("POST", "/epochs", ["Transfer-Encoding\t: chunked", "Content-Length: 2"] + post_json, b"{}"),
                  400))
    C.append(Case("B10", "'Host :' (space before colon)",
                  raw("GET", "/epochs", ["Host : 127.0.0.1"], host=False), 400))
    for size in ("0x2", "+2", " 2"):
        C.append(Case("B11", "chunk size %r" % size,
                      raw("POST", "/epochs", ["Transfer-Encoding: chunked"] + post_json,
                          ("%s\r\n{}\r\n0\r\n\r\n" % size).encode()), {400, 411}))
    C.append(Case("B11", "runaway chunk (data longer than its size)",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked"] + post_json,
                      b"2\r\n{}xxxxxxxx\r\n0\r\n\r\n"), {400, 411}))
    C.append(Case("B12", "chunk extension 2;a=b",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked"] + post_json, b"2;a=b\r\n{}\r\n0\r\n\r\n"),
                  {201} | ERR4XX, close=None, close_on={400, 411}))
    # B13: trailers never authenticate, never become the key or the request id
    key = "b13-" + uuid.uuid4().hex

    def b13_check(t, label, r):
        t.check(r.header("x-request-id") != "b13trailerid", "%s: trailer X-Request-Id not used" % label,
                r.short())
        if r.status == 201:
            rec = r.json()
            t.check(rec.get("request_id") != "b13trailerid", "%s: record's request_id is not the trailer's"
                    % label, rec)
            r2 = request(B13_PORT[0], "POST", "/epochs", [("Idempotency-Key", key)], {})
            t.check(r2.status == 201, "%s: the trailer's Idempotency-Key was not stored as the key" % label,
                    r2.short())
    C.append(Case("B13", "trailers Idempotency-Key and X-Request-Id",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked"] + post_json,
                      ("2\r\n{}\r\n0\r\nIdempotency-Key: %s\r\nX-Request-Id: b13trailerid\r\n\r\n" % key).encode()),
                  {201} | ERR4XX, close=None, check=b13_check))
    C.append(Case("B13", "trailer Authorization with a valid token (auth on)",
                  raw("POST", "/epochs", ["Transfer-Encoding: chunked"] + post_json,
                      ("2\r\n{}\r\n0\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode()),
                  ERR4XX, close=None, daemon="auth"))
    C.append(Case("B14", "NUL in X-Request-Id", raw("GET", "/epochs", ["X-Request-Id: ab\x00cd"]), 400))
    C.append(Case("B14", "NUL in an unknown header", raw("GET", "/epochs", ["X-Foo: a\x00b"]), 400))
    C.append(Case("B14", "NUL in Content-Length",
                  raw("POST", "/epochs", ["Content-Length: 2\x00"] + post_json, b"{}"), 400))
    C.append(Case("B15", "bare CR in a header value", raw("GET", "/epochs", ["X-Foo: a\rb"]), 400))
    C.append(Case("B15", "bare CR ending a header line", raw("GET", "/epochs", ["X-Foo: a\r", "X-Bar: b"]), 400))

    def b16_check(t, label, r):
        if r.status == 200:
            t.check(r.header("x-request-id") not in ("abc", "abcdef", "def"),
                    "%s: folded value not merged into X-Request-Id" % label, r.short())
    C.append(Case("B16", "obs-fold in X-Request-Id", raw("GET", "/epochs?limit=1", ["X-Request-Id: abc", " def"]),
                  {400, 200}, close=None, check=b16_check, close_on={400}))
    C.append(Case("B17", "no Host in HTTP/1.1", raw("GET", "/epochs", host=False), 400))
    C.append(Case("B17", "two Host headers", raw("GET", "/epochs", ["Host: 127.0.0.1"]), 400))
    for h, what in (("a/b", "a path"), ("a..b", "'..'"), ("a\x01b", "a control character"),
                    ("a b", "a space (extra)")):
        C.append(Case("B17", "Host with %s" % what, raw("GET", "/epochs", ["Host: " + h], host=False), 400))
    for name, what in (("X Y: z", "a space"), (": z", "empty"), ("X(: z", "'('"), ("X\x7f: z", "DEL (extra)")):
        C.append(Case("B18", "header name with %s" % what, raw("GET", "/epochs", [name]), 400))
    C.append(Case("B19", "one 70 KiB header", raw("GET", "/epochs", ["X-Big: " + "a" * (70 * 1024)]),
                  {431, 400}))
    C.append(Case("B19", "300 header lines", raw("GET", "/epochs", ["X-H-%d: v" % i for i in range(300)]),
                  {431, 400}))
    C.append(Case("B20", "request target of 8300 bytes", raw("GET", "/epochs?tag=" + "a" * 8300),
                  {414, 431, 400}))
    for v in ("HTTP/1.10", "HTTP/-1.1", "HTTP/2.0", "HTTP/1.1x", "HTTP/1", "http/1.1"):
        C.append(Case("B21", "version %s%s" % (v, " (extra)" if v in ("HTTP/1", "http/1.1") else ""), raw("GET", "/epochs", version=v), {400, 505}))
    C.append(Case("B22", "space inside the target", raw("GET", "/epochs x"), 400))

    def list_body(t, label, r):
        if r.status == 200:
            j = r.json()
            t.check(isinstance(j, dict) and "items" in j, "%s: served as GET /epochs" % label, r.short())
    C.append(Case("B23", "two spaces between method and target",
                  b"GET  /epochs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {400, 200}, close=None, check=list_body,
                  close_on={400}))
    C.append(Case("B24", "absolute-form target",
                  raw("GET", "http://other.example/epochs", ["Host: other.example"], host=False),
                  {400, 200}, close=None, check=list_body, close_on={400}))
    C.append(Case("B25", "CONNECT x:443", raw("CONNECT", "x:443", ["Host: x:443"], host=False), {405, 501},
                  close=None))
    # CONNECT is refused whatever its target: no tunnels, and evhttp would keep
    # a CONNECT connection open whatever the reply says.
    C.append(Case("B25", "CONNECT /epochs", raw("CONNECT", "/epochs"), {501}, close=True))
    C.append(Case("B26", "unknown method FOO", raw("FOO", "/epochs"), {501, 405}, close=None))
    C.append(Case("B26", "lower-case get", raw("get", "/epochs"), {501, 405}, close=None))
    for m, p in (("PUT", "/epochs"), ("PATCH", "/epochs"), ("DELETE", "/epochs"), ("DELETE", "/epochs/1"),
                 ("POST", "/now"), ("POST", "/healthz"), ("OPTIONS", "/epochs")):
        C.append(Case("B27", "%s %s" % (m, p), raw(m, p, ["Content-Length: 0"] if m in ("PUT", "PATCH", "POST")
                                                    else []), 405, close=None))

    def trace_check(t, label, r):
        t.check(b"trace-canary" not in r.body and b"TRACE /epochs" not in r.body,
                "%s: the request is not echoed" % label, r.body[:300])
    C.append(Case("B28", "TRACE /epochs", raw("TRACE", "/epochs", ["X-Canary: trace-canary-123"]), {405, 501},
                  close=None, check=trace_check))
    C.append(Case("B29", "Expect: 100-continue with CL over the limit",
                  raw("POST", "/epochs", ["Expect: 100-continue", "Content-Length: 100000"] + post_json), 413,
                  max_latency=1.0))
    C.append(Case("B30", "Expect: something-else", raw("GET", "/epochs", ["Expect: something-else"]), 417))
    C.append(Case("B30", "Expect: something-else on POST",
                  raw("POST", "/epochs", ["Expect: 200-ok", "Content-Length: 2"] + post_json, b"{}"), 417))

    def no_injection(t, label, r):
        names = {k for k, _ in r.headers}
        t.check("set-cookie" not in names and "x-injected" not in names,
                "%s: nothing injected into the response headers" % label, r.short())
    for q in ("tag=a%0d%0aSet-Cookie:%20evil=1", "limit=1%0d%0aX-Injected:%201", "order=asc%0d%0a",
              "after=1%0d%0a", "since=1%0a", "tag=%0d%0a"):
        for p in ["/epochs"] + LIST_ALIASES:
            C.append(Case("B33", "%s?%s" % (p, q), raw("GET", "%s?%s" % (p, q)), 400, close=None,
                          check=no_injection))
    C.append(Case("B34", "empty connection closed at once", b"", set(), connect_only=True))
    C.append(Case("B34", "lone CRLF then EOF", b"\r\n", set(), silent=True, shut=True, followup=False))
    C.append(Case("B34", "EOF without a byte", b"", set(), silent=True, shut=True, followup=False))
    return C


B13_PORT = [None]


def pipeline_rows(t, bat):
    """B31 and B32: pipelines."""
    port = bat.ports["main"]
    # B31
    before = len(t.failures)
    c = Conn(port)
    try:
        data = b"".join(raw("GET", "/epochs?limit=1", ["X-Request-Id: pipe-%02d" % i]) for i in range(20))
        data += raw("POST", "/epochs", ["X-Request-Id: pipe-post", JSONCT, "Content-Length: 2"], b"{}")
        c.send(data)
        got = []
        for i in range(21):
            try:
                r = c.read_response()
            except HttpError as e:
                t.fail("B31: answer %d missing" % (i + 1), e)
                break
            got.append((r.header("x-request-id"), r.status))
        want = [("pipe-%02d" % i, 200) for i in range(20)] + [("pipe-post", 201)]
        t.check(got == want, "B31: 20 pipelined GETs + 1 POST: 21 answers in order", got)
        c.send(FOLLOW)
        try:
            r = c.read_response()
            t.check(r.status == 200, "B31: connection kept after the pipeline", r.short())
        except HttpError as e:
            t.fail("B31: connection kept after the pipeline", e)
    finally:
        c.close()
    bat.results["B31"] = [len(t.failures) == before]
    # B32: a malformed request in the middle of a pipeline
    before = len(t.failures)
    for bad_name, bad in (("two Content-Lengths", raw("POST", "/epochs", ["Content-Length: 2", "Content-Length: 3",
                                                                          JSONCT], b"{}")),
                          ("space before colon", raw("GET", "/epochs", ["X-A : b"])),
                          ("bad version", raw("GET", "/epochs", version="HTTP/1.7x"))):
        c = Conn(port)
        try:
            c.send(raw("GET", "/healthz", ["X-Request-Id: b32-first"]) + bad + FOLLOW + FOLLOW)
            r1 = c.read_response()
            t.check(r1.status == 200 and r1.header("x-request-id") == "b32-first",
                    "B32 (%s): the request before the bad one is answered" % bad_name, r1.short())
            r2 = c.read_response()
            t.check(r2.status == 400 and r2.has_token("connection", "close"),
                    "B32 (%s): the bad one gets 400 + Connection: close" % bad_name, r2.short())
            rest, how = c.read_rest(3)
            t.check(rest == b"" and how in ("eof", "reset"),
                    "B32 (%s): nothing after it is answered; connection closed" % bad_name, (rest[:200], how))
        except HttpError as e:
            t.fail("B32 (%s): responses" % bad_name, e)
        finally:
            c.close()
    bat.results["B32"] = [len(t.failures) == before]


def extra_rows(t, bat):
    """Cases beyond the table (reported as row "X"): a GET whose body holds a
    request, a POST in the middle of a pipeline, a request sent one byte at a
    time, the end of a head split across writes, bare LF line ends, and
    Expect: 100-continue done right."""
    port = bat.ports["main"]

    def row(name, fn):
        before = len(t.failures)
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            import traceback
            t.fail("X %s: test error %r" % (name, e), traceback.format_exc())
        n = len([k for k in bat.results if k.startswith("X")]) + 1
        bat.results["X%d" % n] = [len(t.failures) == before]
        t.info("X%d = %s" % (n, name))

    def get_with_body():
        c = Conn(port)
        try:
            c.send(raw("GET", "/epochs?limit=1", ["Content-Length: %d" % len(SMUG)], SMUG) + FOLLOW)
            r = c.read_response()
            t.check(r.status in (200, 400, 413), "X GET with a body holding a request: 200 (body ignored) or 4xx",
                    r.short())
            if r.has_token("connection", "close"):
                rest, how = c.read_rest(3)
                t.check(rest == b"" and how in ("eof", "reset"), "X GET with a body: closed, nothing more", rest[:200])
            else:
                f = c.read_response()
                t.check(f.header("x-request-id") == "followup" and f.status == 200,
                        "X GET with a body: the body is not run as a request; the next answer is the follow-up",
                        f.short())
        finally:
            c.close()
    row("GET with a body holding a request", get_with_body)

    def post_mid_pipeline():
        c = Conn(port)
        try:
            c.send(raw("GET", "/healthz", ["X-Request-Id: mid-1"])
                   + raw("POST", "/epochs", ["X-Request-Id: mid-2", JSONCT, "Content-Length: 14"], b'{"tag":"mid"} ')
                   + raw("GET", "/epochs?limit=1", ["X-Request-Id: mid-3"]))
            got = []
            for _ in range(3):
                r = c.read_response()
                got.append((r.header("x-request-id"), r.status))
            t.check(got == [("mid-1", 200), ("mid-2", 201), ("mid-3", 200)],
                    "X GET, POST with a body, GET pipelined: answered in order", got)
        except HttpError as e:
            t.fail("X GET, POST with a body, GET pipelined", e)
        finally:
            c.close()
    row("POST with a body in the middle of a pipeline", post_mid_pipeline)

    def byte_by_byte():
        c = Conn(port)
        try:
            data = raw("POST", "/epochs", ["X-Request-Id: bytewise", JSONCT, "Content-Length: 15"], b'{"tag":"bytes"}')
            for i in range(len(data)):
                c.send(data[i:i + 1])
                time.sleep(0.003)
            r = c.read_response()
            t.check(r.status == 201 and r.header("x-request-id") == "bytewise",
                    "X a request sent one byte per write: 201", r.short())
            if r.status == 201:
                t.check(r.json().get("tag") == "bytes", "X byte-wise request: the body arrived whole", r.body[:200])
        except HttpError as e:
            t.fail("X a request sent one byte per write", e)
        finally:
            c.close()
    row("request sent one byte per write", byte_by_byte)

    def split_end():
        for cut in (b"\r", b"\r\n", b"\r\n\r"):
            c = Conn(port)
            try:
                data = raw("GET", "/healthz", ["X-Request-Id: split"])
                k = data.rindex(b"\r\n\r\n") + len(cut)
                c.send(data[:k])
                time.sleep(0.05)
                c.send(data[k:])
                r = c.read_response()
                t.check(r.status == 200, "X head split after %r of its end: answered" % cut, r.short())
            except HttpError as e:
                t.fail("X head split after %r of its end" % cut, e)
            finally:
                c.close()
    row("head end split across writes", split_end)

    def bare_lf():
        c = Conn(port)
        try:
            c.send(b"GET /epochs HTTP/1.1\nHost: 127.0.0.1\n\n" + FOLLOW)
            r = c.read_response()
            t.check(r.status == 400 and r.has_token("connection", "close"),
                    "X bare LF line ends: 400 + close (fe_head.h: a bare LF is 400)", r.short())
            rest, how = c.read_rest(3)
            t.check(rest == b"" and how in ("eof", "reset"), "X bare LF: nothing more answered, closed", rest[:200])
        except HttpError as e:
            t.fail("X bare LF line ends", e)
        finally:
            c.close()
    row("bare LF line ends", bare_lf)

    def expect_continue():
        c = Conn(port)
        try:
            c.send(raw("POST", "/epochs", ["Expect: 100-continue", JSONCT, "Content-Length: 16"]))
            r = c.read_response(timeout=2)
            t.check(r.status == 100, "X Expect: 100-continue within the limit: 100 Continue first", r.short())
            c.send(b'{"tag":"expect"}')
            r = c.read_response()
            t.check(r.status == 201, "X Expect: 100-continue: then 201", r.short())
        except HttpError as e:
            t.fail("X Expect: 100-continue done right", e)
        finally:
            c.close()
    row("Expect: 100-continue within the limit", expect_continue)


# ---------------------------------------------------------------- J table

def j_cases():
    C = []
    ct = [JSONCT]

    def body_case(row, name, body, expect, headers=None, check=None, max_latency=None, close=None):
        for p in WRITE_PATHS:
            hdrs = ct if headers is None else headers
            b = body.encode("utf-8") if isinstance(body, str) else body
            C.append(Case(row, "%s: %s" % (p, name),
                          raw("POST", p, hdrs + ["Content-Length: %d" % len(b)], b),
                          expect, close=close, check=check, max_latency=max_latency))
    for b in ("{", "{} x", "[]", "1", '"s"', "null", "true", "   ", '{"tag":"a","x":1}', "{}{}"):
        body_case("J1", "body %r" % b, b, 400)
    for b, what in ((b'{"tag":"a\xc3"}', "lone C3"), (b'{"tag":"\xc0\xaf"}', "overlong C0 AF"),
                    (b'{"tag":"\xed\xa0\x80"}', "encoded surrogate"), (b'{"tag":"\xff"}', "FF"),
                    (b'{\xff"tag":"a"}', "FF outside a string"), (b'{"tag":"ok"} \xc3', "trailing C3")):
        body_case("J2", "invalid UTF-8 (%s)" % what, b, 400)
    for b in (rb'{"tag":"\ud800"}', rb'{"tag":"a\u0000b"}', rb'{"tag":"\u001b"}', rb'{"tag":"\u007f"}',
              b'{"tag":"a\x01b"}', rb'{"tag":"\u0085"}'):
        body_case("J3", "tag %r" % b, b, 400)
    for b, what in ('{"tag":""}', "empty"), ('{"tag":"%s"}' % ("a" * 129), "129 ASCII bytes"), \
                   ('{"tag":"a%s"}' % ("\u00e9" * 64), "129 bytes with multi-byte characters"), \
                   ('{"tag":5}', "a number"), ('{"tag":["a"]}', "an array"), ('{"tag":true}', "true"), \
                   ('{"tag":{}}', "an object"):
        body_case("J4", "tag %s" % what, b, 400)
    e64 = "\u00e9" * 64

    def tag_e64(t, label, r):
        if r.status == 201:
            check_created(t, r, label, tag=e64)
    body_case("J4", "tag of 64 x U+00E9 (128 bytes)", json.dumps({"tag": e64}, ensure_ascii=False), 201,
              check=tag_e64)
    body_case("J4", "tag of 128 ASCII bytes", '{"tag":"%s"}' % ("b" * 128), 201)
    body_case("J5", "duplicate member", '{"tag":"a","tag":"b"}', 400)
    body_case("J5", "duplicate member with null", '{"tag":null,"tag":null}', 400)
    body_case("J6", "100 000 '['", "[" * 100000, {400, 413}, max_latency=1.0)
    body_case("J6", "16 000 '[' (under the size limit)", "[" * 16000, 400, max_latency=1.0)
    body_case("J6", "2000 nested objects in the tag (under the size limit)",
              '{"tag":' + '{"a":' * 2000 + "1" + "}" * 2000 + "}", 400, max_latency=1.0)
    body_case("J7", "Content-Type: text/plain", "{}", 415, headers=["Content-Type: text/plain"])
    body_case("J7", "no Content-Type with a body", "{}", 415, headers=[])
    body_case("J7", "charset=utf-16", "{}", {415, 400}, headers=["Content-Type: application/json; charset=utf-16"])
    body_case("J7", "Content-Type: application/xml", "{}", 415, headers=["Content-Type: application/xml"])
    body_case("J8", "charset=utf-8", '{"tag":"j8"}', 201, headers=["Content-Type: application/json; charset=utf-8"])
    body_case("J8", "charset=UTF-8 without a space (extra)", '{"tag":"j8"}', 201,
              headers=["Content-Type: application/json;charset=UTF-8"])
    body_case("J8", "empty body with CL 0, no Content-Type", "", 201, headers=[])
    body_case("J8", "empty body with CL 0 and Content-Type", "", 201)
    body_case("J8", '{"tag":null}', '{"tag":null}', 201)
    for p in WRITE_PATHS:
        C.append(Case("J8", "%s: no Content-Length, no body (curl -X POST)" % p, raw("POST", p), 201, close=None))
    pad = '{"tag":"j9"}'
    body_case("J9", "body of exactly 16384 bytes", pad + " " * (16384 - len(pad)), 201)
    body_case("J9", "body of 16385 bytes", pad + " " * (16385 - len(pad)), 413)
    for p in WRITE_PATHS:
        C.append(Case("J9", "%s: 100 MiB announced, nothing sent" % p,
                      raw("POST", p, ct + ["Content-Length: %d" % (100 << 20)]), 413, close=True,
                      followup=False, max_latency=1.0))
    for p in WRITE_PATHS:
        C.append(Case("J10", "%s: Idempotency-Key of 129 characters" % p,
                      raw("POST", p, ["Idempotency-Key: " + "k" * 129, "Content-Length: 0"]), 400, close=None))

        def rid_check(bad):
            def f(t, label, r):
                if r.status == 201:
                    rec = r.json()
                    hdr = r.header("x-request-id")
                    t.check(hdr != bad and rec.get("request_id") == hdr,
                            "%s: a generated request id, in the record and the header" % label, r.short())
                    t.check(bad.encode() not in r.raw_head + r.body, "%s: the raw value is never echoed" % label,
                            r.short())
            return f
        for bad in ("bad<id>!", "r" * 65):
            C.append(Case("J10", "%s: X-Request-Id %r" % (p, bad[:12]),
                          raw("POST", p, ["X-Request-Id: " + bad, "Content-Length: 0"]), 201, close=None,
                          check=rid_check(bad)))
    return C


# ---------------------------------------------------------------- Q table

Q_QUERIES = {
    "Q1": ["limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=+5", "limit=%205", "limit=5.0", "limit=0x10",
           "limit=10&limit=20", "limit=", "limit"],
    "Q2": [p + "=" + v for p in ("after", "before")
           for v in ("-1", "9223372036854775808", "1.5", "%00", "1&%s=2" % p, "", "1e3")],
    "Q3": [p + "=" + v for p in ("since", "until")
           for v in ("nan", "inf", "-inf", "1e400", "yesterday", "1700000000.1234567", "-1", "", "1.")],
    "Q4": ["order=", "order=sideways", "order=asc%00", "order=ASC%20", "order=asc&order=asc"],
    "Q5": ["tag=" + "a" * 129, "tag=%ff", "tag=%c0%af", "tag=", "tag=%01", "tag=a&tag=b", "tag=%zz"],
}


def q_cases():
    C = []
    for row, qs in Q_QUERIES.items():
        for q in qs:
            C.append(Case(row, "/epochs?" + q, raw("GET", "/epochs?" + q), 400, close=None))
    for p in ("abc", "-1", "1.0", "9223372036854775808", "1%00", "0x1", "+1"):
        C.append(Case("Q6", "/epochs/" + p, raw("GET", "/epochs/" + p), {400, 404}, close=None))

    def no_file(t, label, r):
        t.check(b"root:" not in r.body, "%s: no file content" % label, r.body[:200])
    for p in ("/%2e%2e/%2e%2e/etc/passwd", "/epochs/../../../etc/passwd", "/epochs%00.json", "//etc/passwd",
              "/EPOCHS", "/epochs/..%2f..%2fetc%2fpasswd", "/./epochs/../etc/passwd"):
        C.append(Case("Q7", p, raw("GET", p), {404, 400}, close=None, check=no_file))
    return C


def q8(t, bat):
    """Q1-Q5 against the list aliases: the same status as /epochs."""
    before = len(t.failures)
    port = bat.ports["main"]
    n = 0
    for row, qs in Q_QUERIES.items():
        for q in qs:
            e = request(port, "GET", "/epochs?" + q)
            for alias in LIST_ALIASES:
                a = request(port, "GET", "%s?%s" % (alias, q))
                n += 1
                t.check(a.status == e.status and a.status == 400,
                        "Q8 %s?%s: %d, as /epochs (%d)" % (alias, q, a.status, e.status), a.short())
                if a.status >= 400:
                    check_error(t, a, a.status, "Q8 %s?%s" % (alias, q))
    bat.results["Q8"] = [len(t.failures) == before]
    t.info("Q8: %d alias requests compared" % n)


def main(t):
    token = "tok-" + uuid.uuid4().hex
    tf = t.path("tokens")
    with open(tf, "w") as f:
        f.write(token + "\n")
    os.chmod(tf, 0o600)
    d = Daemon(t, sqlite_db(t), name="main").start()
    da = Daemon(t, sqlite_db(t, "auth.db"), ["--token-file", tf], name="auth").start()
    B13_PORT[0] = d.port
    bat = Battery(t)
    bat.ports = {"main": d.port, "auth": da.port}
    t0 = time.monotonic()
    for c in b_cases(token):
        bat.run_case(c)
    pipeline_rows(t, bat)
    extra_rows(t, bat)
    for c in j_cases():
        bat.run_case(c)
    for c in q_cases():
        bat.run_case(c)
    q8(t, bat)
    t.info("battery ran in %.1f s" % (time.monotonic() - t0))
    # order the B rows numerically for the report
    bat.results = collections.OrderedDict(sorted(bat.results.items(),
                                                 key=lambda kv: (kv[0][0], int(kv[0][1:] or 0))))
    for prefix in ("B", "J", "Q", "X"):
        bat.report(prefix)
    t.info("statuses seen: %s" % dict(sorted(bat.statuses.items())))
    # the daemon is still up, same PID, and never answered 5xx (but 501/505)
    for dd in (d, da):
        t.check(dd.alive(), "%s: still running after the battery" % dd.name, dd.diagnostics())
        r = request(dd.port, "GET", "/healthz")
        t.check(r.status == 200, "%s: /healthz 200 after the battery" % dd.name, r.short())
        t.check(int(open(dd.pidfile).read().strip()) == dd.proc.pid, "%s: same PID" % dd.name)
    fives = [o for dd in (d, da) for o in dd.access_lines()
             if isinstance(o.get("status"), int) and o["status"] >= 500 and o["status"] not in (501, 505)]
    t.check(not fives, "no 5xx other than 501/505 in the access logs", fives[:5])
    five_seen = {s: n for s, n in bat.statuses.items() if s >= 500 and s not in (501, 505)}
    t.check(not five_seen, "no 5xx other than 501/505 answered", five_seen)
    d.stop()
    da.stop()


if __name__ == "__main__":
    Test("daemon.framing").run(main)
