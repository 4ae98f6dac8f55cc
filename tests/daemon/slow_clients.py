"""daemon.slow_clients: RELIABILITY L1 (slowloris), idle connections, and the
connection cap (DESIGN "Limits": idle connections closed oldest first).

Phase 1, a daemon with --head-timeout 3 --idle-timeout 3:
- 300 connections send a partial request head and one more header line every
  second; each must be closed by the server within head-timeout + 2 s of its
  first byte (measured per socket; the head deadline counts from the first
  byte and is not reset by each byte);
- 300 connections send nothing; each must be closed within idle-timeout + 2 s
  of its connect;
- meanwhile 100 normal requests (fresh connections, GET and POST): all
  succeed, p99 <= 1 s.
Phase 2, a daemon with --max-connections 50: 60 idle connections, then a
normal request is answered; the connections the daemon closed to make room
are the oldest ones; the others still work.
"""

import collections
import errno
import os
import selectors
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FACTOR, Conn, Daemon, HttpError, Test, build, metrics, pct, request,  # noqa: E402
                     sqlite_db)

HEAD_TIMEOUT = 3
IDLE_TIMEOUT = 3
BODY_TIMEOUT = 3
N_KEPT = 20      # idle keep-alive connections after one request
N_BODY = 20      # complete head, then one body byte per second
N_TRICKLE = 300
N_IDLE = 300
N_NORMAL = 100
SLACK = 2.0


class Sock:
    __slots__ = ("kind", "sock", "t0", "closed_at", "got", "lines", "how")

    def __init__(self, kind, sock, t0):
        self.kind = kind
        self.sock = sock
        self.t0 = t0
        self.closed_at = None
        self.got = b""
        self.lines = 0
        self.how = None


def phase1(t):
    d = Daemon(t, sqlite_db(t), ["--head-timeout", str(HEAD_TIMEOUT), "--idle-timeout", str(IDLE_TIMEOUT),
                                 "--body-timeout", str(BODY_TIMEOUT)], name="timeouts").start()
    sel = selectors.DefaultSelector()
    socks = []
    start = time.monotonic()
    for i in range(N_TRICKLE + N_IDLE):
        kind = "trickle" if i % 2 == 0 else "idle"
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if kind == "trickle":
            s.sendall(b"GET /epochs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t0 = time.monotonic()
        s.setblocking(False)
        st = Sock(kind, s, t0)
        socks.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    for i in range(N_KEPT + N_BODY):
        c = Conn(d.port)
        if i < N_KEPT:
            kind = "kept"
            c.send(build("GET", "/healthz"))
            r = c.read_response()
            t.check(r.status == 200 and not r.has_token("connection", "close"), "kept-alive connection: first request",
                    r.short())
        else:
            kind = "body"
            c.send(build("POST", "/epochs", [("Content-Type", "application/json"), ("Content-Length", "100")]))
        st = Sock(kind, c.sock, time.monotonic())
        c.sock.setblocking(False)
        socks.append(st)
        sel.register(c.sock, selectors.EVENT_READ, st)
    t.info("opened %d trickling, %d idle, %d kept-alive and %d slow-body connections in %.2f s"
           % (N_TRICKLE, N_IDLE, N_KEPT, N_BODY, time.monotonic() - start))

    # normal requests alongside
    normal = []
    lock = threading.Lock()

    def normal_client(k):
        for j in range(N_NORMAL // 4):
            t0 = time.monotonic()
            try:
                if j % 2:
                    r = request(d.port, "POST", "/epochs", None, {"tag": "normal-%d-%d" % (k, j)}, timeout=10)
                else:
                    r = request(d.port, "GET", "/epochs?limit=5", timeout=10)
                res = (r.status, time.monotonic() - t0)
            except (HttpError, OSError) as e:
                res = (repr(e)[:100], time.monotonic() - t0)
            with lock:
                normal.append(res)
            time.sleep(0.15)
    ths = [threading.Thread(target=normal_client, args=(k,)) for k in range(4)]
    for th in ths:
        th.start()

    def mark_closed(st, how):
        if st.closed_at is None:
            st.closed_at = time.monotonic()
            st.how = how
            try:
                sel.unregister(st.sock)
            except (KeyError, ValueError):
                pass

    deadline = start + (max(HEAD_TIMEOUT, IDLE_TIMEOUT) + SLACK) * FACTOR + 6
    next_line = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(s.closed_at is None for s in socks):
        for key, _ in sel.select(0.05):
            st = key.data
            try:
                data = st.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                mark_closed(st, "reset" if e.errno == errno.ECONNRESET else repr(e))
                continue
            if not data:
                mark_closed(st, "eof")
            else:
                st.got += data
        if time.monotonic() >= next_line:
            next_line += 1.0
            for st in socks:
                if st.kind in ("trickle", "body") and st.closed_at is None:
                    try:
                        st.sock.send(b"X-Trickle-%d: a\r\n" % st.lines if st.kind == "trickle" else b" ")
                        st.lines += 1
                    except BlockingIOError:
                        pass
                    except OSError as e:
                        mark_closed(st, "send: %s" % e.strerror)
    for th in ths:
        th.join()
    since = {"trickle": "the first byte", "idle": "connect", "kept": "the response", "body": "the end of the head"}
    for kind, limit in (("trickle", HEAD_TIMEOUT), ("idle", IDLE_TIMEOUT), ("kept", IDLE_TIMEOUT),
                        ("body", BODY_TIMEOUT)):
        group = [s for s in socks if s.kind == kind]
        open_ = [s for s in group if s.closed_at is None]
        times = [s.closed_at - s.t0 for s in group if s.closed_at is not None]
        late = [round(x, 2) for x in times if x > limit + SLACK * FACTOR]
        answers = collections.Counter(s.got.split(b"\r\n", 1)[0].decode("latin-1")[:40] if s.got else "(nothing)"
                                      for s in group)
        hows = collections.Counter(s.how for s in group)
        if times:
            t.info("%s: %d closed; seconds after %s: min %.2f, p50 %.2f, max %.2f; lines sent before close: max %d; "
                   "what they got: %s; how: %s"
                   % (kind, len(times), since[kind], min(times),
                      pct(times, 50), max(times), max(s.lines for s in group), dict(answers), dict(hows)))
        t.check(not open_, "%s: every connection closed by the server" % kind,
                "%d still open %.0f s after they opened" % (len(open_), time.monotonic() - start))
        t.check(not late, "%s: closed within %d + %.0f s" % (kind, limit, SLACK),
                "%d late: %s" % (len(late), sorted(late)[-10:]))
        bad = [s.got[:100] for s in group if s.got and not s.got.startswith(b"HTTP/1.1 4")]
        t.check(not bad, "%s: anything sent back is a 4xx" % kind, bad[:3])
    statuses = collections.Counter(s for s, _ in normal)
    lat = [x for _, x in normal]
    p99 = pct(lat, 99)
    t.info("normal requests alongside: %d, statuses %s, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
           % (len(normal), dict(statuses), pct(lat, 50) * 1e3, p99 * 1e3, max(lat) * 1e3))
    t.check(len(normal) == N_NORMAL and all(s in (200, 201) for s, _ in normal),
            "L1: all %d normal requests succeed" % N_NORMAL, dict(statuses))
    t.check(p99 <= 1.0 * FACTOR, "L1: normal requests p99 <= 1 s", "%.3f s" % p99)
    for s in socks:
        s.sock.close()
    sel.close()
    r = request(d.port, "GET", "/healthz")
    t.check(r.status == 200, "daemon healthy after phase 1", r.short())
    d.stop()


def phase2(t):
    cap = 50
    d = Daemon(t, sqlite_db(t, "cap.db"), ["--max-connections", str(cap)], name="cap").start()
    idle = []
    for i in range(60):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        idle.append(s)
        time.sleep(0.01)
    time.sleep(0.3)
    t0 = time.monotonic()
    try:
        r = request(d.port, "GET", "/epochs?limit=1", timeout=5)
        secs = time.monotonic() - t0
        t.check(r.status == 200, "cap: a normal request is answered with 60 idle connections open (cap 50)",
                r.short())
        t.check(secs <= 1.0 * FACTOR, "cap: ... within 1 s", "%.2f s" % secs)
    except (HttpError, OSError) as e:
        t.fail("cap: a normal request with 60 idle connections open (cap 50) is answered", repr(e))
    time.sleep(0.2)
    closed = []
    for i, s in enumerate(idle):
        s.setblocking(False)
        try:
            data = s.recv(4096)
            if data == b"":
                closed.append(i)
            else:
                closed.append(i)     # got something (an error response), then presumably closed
        except BlockingIOError:
            pass
        except OSError:
            closed.append(i)
    k = len(closed)
    t.info("cap: %d of 60 idle connections closed by the server: %s" % (k, closed))
    t.check(closed == list(range(k)), "cap: the oldest idle connections are the ones closed", closed)
    t.check(60 + 1 - cap <= k <= 60 + 2 - cap, "cap: %d-%d closed to make room" % (60 + 1 - cap, 60 + 2 - cap), k)
    # the survivors still work: the newest idle connection sends a request
    s = idle[-1]
    s.setblocking(True)
    s.settimeout(5)
    try:
        s.sendall(build("GET", "/healthz"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        t.check(data.startswith(b"HTTP/1.1 200"), "cap: a surviving idle connection still serves a request",
                data[:100])
    except OSError as e:
        t.fail("cap: a surviving idle connection still serves a request", repr(e))
    m = metrics(d.port)
    oc = m.get("epochreg_open_connections")
    t.check(oc is not None and oc <= cap, "cap: epochreg_open_connections <= %d" % cap, oc)
    for s in idle:
        s.close()
    d.stop()


def main(t):
    phase1(t)
    phase2(t)


if __name__ == "__main__":
    Test("daemon.slow_clients").run(main)
